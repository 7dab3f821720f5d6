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

A settlement the store could not take (it is down, or did not answer in time: `StateUnavailable`) is not dropped:
it is kept, with every later one of its account behind it, and tried again until it lands (each is idempotent:
the store recognises an answer learned twice). Until then the account's state in the store lacks what its
answers taught (a fill, most of all, which would go uncounted once the order's reservation lapses), so `wait`
first tries them again and, while the store still cannot take them, refuses the account's next orders as
`StateUnavailable` rather than deciding them on it: cancels and orders that only reduce still pass
(`decider.fail_decision`), as in any outage. One whose commands were written before it failed (a reply later than
the timeout) is tried again too but refuses nothing: the store applies them ahead of anything sent after them.

The addon is the only user; the sidecar waits for what is in flight when it stops, and tries once more what it
kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from riskwall import logs
from riskwall.state.base import SETTLEMENT_WRITTEN, StateUnavailable

log = logs.get_logger("riskwall.settling")

# settlements a stopping sidecar waits for at most this long (each has the store's own timeouts)
DRAIN_S = 5.0

# a settlement the store could not take is tried again after this long, doubling up to the most while none lands
RETRY_FIRST_S = 0.2
RETRY_MOST_S = 5.0
# settlements kept for another try at most (past it, the account's oldest is dropped, with an error line)
KEPT_MOST = 10_000

type Key = tuple[str, str | None]  # (venue, account its state is kept under; None: prices and the like)
type Attempt = Callable[[], Awaitable[object]]  # writes one settlement; called again to try it again


@dataclass(slots=True)
class _Kept:
    attempt: Attempt
    what: str
    # whether the account waits for it: not when its commands were on the store's connection before it failed
    # (a reply later than the timeout), as Redis applies them ahead of anything sent after them all the same
    blocks: bool = True
    tries: int = 1


class Settling:
    def __init__(self) -> None:
        # each settlement in flight, and the future that is done once it is written (or has ended)
        self._inflight: dict[Key, dict[asyncio.Task[None], asyncio.Future[None]]] = {}
        # settlements the store could not take, per key in the order they failed; the task trying them again
        # after a while, and the one try of them under way (shared by whoever asks for one meanwhile)
        self._kept: dict[Key, deque[_Kept]] = {}
        self._retrying: asyncio.Task[None] | None = None
        self._trying: asyncio.Future[bool] | None = None

    def start(self, key: Key, attempt: Attempt, what: str) -> None:
        """Run `attempt()` in the background, as in flight for `key`; `what` names it in a failure's log line.

        It starts on the loop's next turn, never inside the caller (mitmproxy's loop starts tasks eagerly): the
        caller is the response hook, and the answer goes to the bot when it returns, not after the settlement has
        been built and written. It is in flight (waited for) from now on all the same."""
        loop = asyncio.get_running_loop()
        written: asyncio.Future[None] = loop.create_future()
        task = asyncio.Task(self._logged(key, attempt, what, written), loop=loop)
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
        if self._kept and account is not None and self._blocked((venue, account)):  # (asked on every order)
            await self._try_now()  # the store may be back: then the order is decided now, on the whole state
            if self._blocked((venue, account)):
                raise StateUnavailable("answers of this account are not in the store yet")

    def keep(self, key: Key, attempt: Attempt, what: str, *, blocks: bool = True) -> None:
        """Try `attempt` again later, behind what `key` has kept already: the store could not take it (an answer
        learned in place, on a socket, that failed; `start`'s own that fail come here too). `blocks`: the key's
        orders are refused until it lands (`_Kept.blocks`)."""
        kept = self._kept.setdefault(key, deque())
        kept.append(_Kept(attempt, what, blocks))
        if self.kept > KEPT_MOST:
            dropped = kept.popleft()
            log.error("learn_dropped", decision_id=dropped.what, kept=KEPT_MOST,
                      consequence="what this answer taught is not in the store")
            if not kept:
                del self._kept[key]
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._retry())

    def _blocked(self, key: Key) -> bool:
        return any(kept.blocks for kept in self._kept.get(key, ()))

    @property
    def kept(self) -> int:
        return sum(len(kept) for kept in self._kept.values())

    async def _retry(self) -> None:
        delay = RETRY_FIRST_S
        while self._kept:
            await asyncio.sleep(delay)
            landed = await self._try_now()
            delay = RETRY_FIRST_S if landed else min(delay * 2, RETRY_MOST_S)

    async def _try_now(self) -> bool:
        """One try of everything kept, or the one under way: never two at once (each key's in its order)."""
        if self._trying is None or self._trying.done():
            self._trying = asyncio.ensure_future(self._try_kept())
        return await asyncio.shield(self._trying)

    async def _try_kept(self) -> bool:
        """Each key's kept settlements, oldest first, until one the store still cannot take; whether any landed."""
        landed = False
        for key in list(self._kept):
            kept = self._kept.get(key)
            while kept:
                oldest = kept[0]
                try:
                    await oldest.attempt()
                except StateUnavailable:
                    oldest.tries += 1
                    break
                except Exception as exc:  # not the store's absence: trying again would not mend it
                    with contextlib.suppress(Exception):
                        log.warning("learn_failed", decision_id=oldest.what, error=type(exc).__name__,
                                    tries=oldest.tries)
                else:
                    log.info("learn_retried", decision_id=oldest.what, tries=oldest.tries + 1)
                    landed = True
                if kept and kept[0] is oldest:
                    kept.popleft()
            if not kept:
                self._kept.pop(key, None)
        return landed

    async def drain(self, timeout_s: float = DRAIN_S) -> None:
        """Before the sidecar stops: let what is in flight land (a reservation left behind would hold exposure
        on a shared store until it lapses)."""
        tasks = [task for tasks in self._inflight.values() for task in tasks]
        if tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout_s)
        retrying, self._retrying = self._retrying, None
        if retrying is not None:
            retrying.cancel()
            with contextlib.suppress(BaseException):
                await retrying
        if self._kept:  # once more, then what is left is lost with the process
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._try_now(), timeout_s)
            if self._kept:
                log.error("learn_lost", kept=self.kept, consequence="what these answers taught is not in the store")

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

    async def _logged(self, key: Key, attempt: Attempt, what: str, written: asyncio.Future[None]) -> None:
        # in the task's own context (a copy of its starter's): the store it calls says when it is written
        SETTLEMENT_WRITTEN.set(functools.partial(_resolve, written))
        try:
            if self._kept and self._blocked(key):
                raise StateUnavailable("behind this key's settlements kept for another try")  # in their order
            await attempt()
        except StateUnavailable as exc:
            # kept before the task ends, so a waiter woken by its end finds the account short of it
            self.keep(key, attempt, what, blocks=not written.done())
            with contextlib.suppress(Exception):
                log.warning("learn_failed", decision_id=what, error=type(exc).__name__, kept=True)
        except Exception as exc:
            with contextlib.suppress(Exception):
                log.warning("learn_failed", decision_id=what, error=type(exc).__name__)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
