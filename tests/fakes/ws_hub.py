"""What every fake venue's WebSocket hub shares: its open sessions, and pushes queued under the fake's lock and
sent after it (so a slow reader never stalls the REST side), with an op's own answer able to go out before the
pushes it caused.

Lock order: the fake's lock, then the hub's. A venue's hub (tests/fakes/*_ws.py) subclasses `PushHub` with its
sessions, its protocol and what its fake's state changes push.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from tests.fakes.server import WsPeer


class HubSession(Protocol):
    peer: WsPeer | None


class PushHub[S: HubSession, R]:
    """Sessions of type S; scripted replies of type R (see each hub's `script_reply`)."""

    def __init__(self, fake: Any) -> None:
        self.fake = fake
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._sessions: list[S] = []
        self._pending: list[tuple[WsPeer, str]] = []
        self._capture = threading.local()
        self._scripted: deque[R] = deque()

    def disconnect_all(self, code: int = 1000) -> int:
        """Close every open socket (as a venue restart would); returns how many were open."""
        with self._lock:
            sessions = list(self._sessions)
        peers = [p for p in (self._peer_of(s) for s in sessions) if p is not None and not p.closed]
        for peer in peers:
            peer.close(code)
        return len(peers)

    def _peer_of(self, session: S) -> WsPeer | None:
        return session.peer

    def forget(self, session: S) -> None:
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)

    def queue(self, peer: WsPeer, payload: Any) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"), default=str)
        captured: list[tuple[WsPeer, str]] | None = getattr(self._capture, "frames", None)
        if captured is not None:
            captured.append((peer, text))
            return
        with self._lock:
            self._pending.append((peer, text))

    @contextmanager
    def capturing(self) -> Iterator[list[tuple[WsPeer, str]]]:
        """Hold back the pushes this thread causes, so an op's answer can go out before them."""
        frames: list[tuple[WsPeer, str]] = []
        self._capture.frames = frames
        try:
            yield frames
        finally:
            self._capture.frames = None

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            for peer, text in batch:
                peer.send(text)
