"""What the WebSocket end-to-end suites share: running a client coroutine under a bound, the sidecar's view of
an account (admin `/v1/status`), decision lines written since a point, and bounded waiting."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from tests.state.conftest import delete_prefix, redis_url, require_redis, unique_prefix
from tests.support.sidecar import Sidecar, start_sidecar

from riskwall.model import fingerprint

TIMEOUT_S = 15
FLAT = {"position": Decimal(0), "pending_buy": Decimal(0), "pending_sell": Decimal(0)}


def run[T](coroutine: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
    """Run a client coroutine on a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))


def status(sidecar: Sidecar) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.admin_port}/v1/status", timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def exposure(sidecar: Sidecar, venue: str, account: str, symbol: str,
             position_side: str = "both") -> dict[str, Decimal]:
    """The sidecar's position and pending exposure of `account` in `symbol` (nothing known: all zero)."""
    rows = status(sidecar)["exposure"].get(f"{venue}|{account}", {})
    row = rows.get(f"{symbol}|{position_side}")
    return {name: Decimal(value) for name, value in row.items()} if row else dict(FLAT)


def since(sidecar: Sidecar, lines_before: int, **match: Any) -> list[dict[str, Any]]:
    """Decision lines written after the first `lines_before` lines of output, matching `match`."""
    sidecar.decisions()  # waits briefly for stragglers
    return [line for line in sidecar.log_lines()[lines_before:]
            if line.get("event") == "decision" and all(line.get(k) == v for k, v in match.items())]


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def sidecar_on(store: str, workdir: Path, policy: Path, upstreams: dict[str, str], upstream_ca: Path,
               extra_args: tuple[str, ...] = ()) -> Iterator[Sidecar]:
    """A `riskwall run` on the in-memory store or on the local Redis (its keys under a prefix of their own,
    deleted afterwards; without Redis the test skips, under CI=true it fails)."""
    args = list(extra_args)
    prefix = unique_prefix()
    if store == "redis":
        require_redis()
        args += ["--state", redis_url(prefix)]
    running = start_sidecar(workdir, policy, upstreams=upstreams, upstream_ca=upstream_ca, extra_args=args)
    try:
        yield running
    finally:
        running.stop()
        if store == "redis":
            delete_prefix(prefix)


@dataclass
class BotOnSidecar:
    """One bot on its own fresh account of a fake venue, wired to a sidecar one way or the other: what each
    WebSocket suite's trader shares (a subclass adds its venue's clients and names `venue`, `symbol` and the
    fake's `order_frames`). `frames_before` and `lines_before` mark where this bot's test began, so order
    frames and decision lines are this test's (tests run one at a time)."""

    venue: ClassVar[str]
    symbol: ClassVar[str]
    order_frames: ClassVar[Callable[[Any], list[dict[str, Any]]]]

    api_key: str
    secret: str
    wiring: str
    fake: Any
    sidecar: Sidecar
    frames_before: int = 0
    lines_before: int = 0

    def __post_init__(self) -> None:
        self.frames_before = len(type(self).order_frames(self.fake))
        self.lines_before = len(self.sidecar.log_lines())

    @property
    def account(self) -> str:
        return fingerprint(self.api_key)

    def frames(self) -> list[dict[str, Any]]:
        """Order frames the fake received since this bot was made."""
        return type(self).order_frames(self.fake)[self.frames_before:]

    def decisions(self, **match: Any) -> list[dict[str, Any]]:
        """This bot's WebSocket decision lines since it was made."""
        return since(self.sidecar, self.lines_before, account=self.account, transport="ws", **match)

    def exposure(self, symbol: str | None = None) -> dict[str, Decimal]:
        return exposure(self.sidecar, self.venue, self.account, symbol or self.symbol)
