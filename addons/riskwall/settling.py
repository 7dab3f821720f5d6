"""Answers settled after they are forwarded: the bot gets the venue's answer without waiting for the store.

What an answer teaches (fills, positions, the reservation's end) is written to the store in the background,
so a shared store's round trip is not on the bot's path; an order's answer (one that ends a reservation) is
also read there, on either store, so reading it is not on the bot's path either. Causality is kept where it
matters: before a request is decided, every settlement still in flight for its account (and every price-only
one of its venue) is awaited, so whatever a bot saw in an answer is in the store before its next order is
judged, and an answer learned at once (a read's, on the in-process store) waits for its account's earlier ones,
so answers land in the order they came. Until a settlement lands, its reservation still holds the order's
exposure: the window can only overcount.

"Awaited" means written, where the store orders what it is sent: the Redis store sends its own commands on one
connection, and Redis applies a connection's commands in the order they came, so once a settlement's commands
are on that connection, anything sent after them is applied after them. Its reply need not be waited for: the
store says when they are written (`SETTLEMENT_WRITTEN`), unless a script among them has not answered on that
connection yet (the server may refuse it, and it goes again after what was sent meanwhile), and a settlement that
never says so is awaited until it has landed (or failed). That keeps a second round trip off the path of a bot
that places orders back to back.

The addon is the only user; the sidecar waits for what is in flight when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Coroutine
from typing import Any

from riskwall import logs
from riskwall.state.base import SETTLEMENT_WRITTEN

log = logs.get_logger("riskwall.settling")

# settlements a stopping sidecar waits for at most this long (each has the store's own timeouts)
DRAIN_S = 5.0

type Key = tuple[str, str | None]  # (venue, account its state is kept under; None: prices and the like)


class Settling:
    def __init__(self) -> None:
        # each settlement in flight, and the future that is done once it is written (or has ended)
        self._inflight: dict[Key, dict[asyncio.Task[None], asyncio.Future[None]]] = {}

    def start(self, key: Key, settle: Coroutine[Any, Any, None], what: str) -> None:
        """Run `settle` in the background, as in flight for `key`; `what` names it in a failure's log line.

        It starts on the loop's next turn, never inside the caller (mitmproxy's loop starts tasks eagerly): the
        caller is the response hook, and the answer goes to the bot when it returns, not after the settlement has
        been built and written. It is in flight (waited for) from now on all the same."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        task = asyncio.Task(self._logged(settle, what, written), loop=loop)
        self._inflight.setdefault(key, {})[task] = written
        task.add_done_callback(functools.partial(self._ended, key, written))

    async def wait(self, venue: str, account: str | None) -> None:
        """Until every settlement in flight for `account` of `venue`, and for its venue's prices, has landed, or
        is written to a store that applies it before anything sent after it (module docstring).

        A waiter that gives up (a frame's deadline, `asyncio.wait_for`) leaves the settlements running: they are
        waited for with `asyncio.wait`, which cancels nothing it waits for, not `gather`, which would cancel them."""
        keys = [(venue, None)] if account is None else [(venue, None), (venue, account)]
        waiting = [written for key in keys for written in self._inflight.get(key, {}).values() if not written.done()]
        if waiting:
            await asyncio.wait(waiting)

    async def drain(self, timeout_s: float = DRAIN_S) -> None:
        """Before the sidecar stops: let what is in flight land (a reservation left behind would hold exposure
        on a shared store until it lapses)."""
        tasks = [task for tasks in self._inflight.values() for task in tasks]
        if tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout_s)

    @property
    def in_flight(self) -> int:
        return sum(len(tasks) for tasks in self._inflight.values())

    def _finished(self, key: Key, task: asyncio.Task[None]) -> None:
        tasks = self._inflight.get(key)
        if tasks is not None:
            tasks.pop(task, None)
            if not tasks:
                del self._inflight[key]

    def _ended(self, key: Key, written: asyncio.Future[None], task: asyncio.Task[None]) -> None:
        _resolve(written)  # landed or failed: nothing of it is left to wait for
        self._finished(key, task)

    @staticmethod
    async def _logged(settle: Coroutine[Any, Any, None], what: str, written: asyncio.Future[None]) -> None:
        # in the task's own context (a copy of its starter's): the store it calls says when it is written
        SETTLEMENT_WRITTEN.set(functools.partial(_resolve, written))
        try:
            await settle
        except Exception as exc:
            with contextlib.suppress(Exception):
                log.warning("learn_failed", decision_id=what, error=type(exc).__name__)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
