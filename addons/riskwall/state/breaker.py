"""Fail fast while the shared store is down: a short per-call timeout and a circuit breaker around a store.

    closed ──`failures` consecutive failures──▶ open ──after `cooldown_ms`──▶ half-open: one probe call
      ▲                                           ▲                                   │
      └────────────── the probe succeeds ─────────┼───────── the probe fails ─────────┘

A failure is a call that raised `StateUnavailable` or ran past its timeout. While the breaker is open every
call raises `CircuitOpen` (a `StateUnavailable`) at once, so the addon blocks what adds risk, lets cancels
and reductions through, and never queues behind a dead server; when the store answers again the breaker
closes by itself. The outage is logged once when the breaker opens (`state_store_down`) and once when it
closes (`state_store_recovered`, with the outage's duration), never per call.

Calls get `timeout_ms` (default 50 ms). A probe, and every call before the store first answered, gets
`probe_timeout_ms` (default 1 s): those may have to open a connection (TCP, TLS, AUTH, a Sentinel lookup),
which must not be cut short forever by a budget sized for commands. Other exceptions (a bug, bad input)
pass through unchanged and say nothing about the store's health.

A `reserve` that failed after being sent may have committed anyway (the answer was lost); since the order
is then blocked, its reservation is released in the background, best effort. No redis import here.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from riskwall import metrics
from riskwall.logs import get_logger
from riskwall.model import LossCheck, LossTrip, RejectCount, ResponseFacts, StormTrip, TradingState, Venue
from riskwall.records import quick_init
from riskwall.state.base import (
    HolderMove,
    Reservation,
    ReserveOutcome,
    StateLost,
    StateScope,
    StateStore,
    StateUnavailable,
    StateView,
    TradingStateRecord,
    ViewQuery,
)

type Clock = Callable[[], int]


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


class CircuitOpen(StateUnavailable):
    """The breaker is open: the store was not asked."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    timeout_ms: int = 50
    failures: int = 3
    cooldown_ms: int = 500
    probe_timeout_ms: int = 1000

    def __post_init__(self) -> None:
        if self.timeout_ms < 1 or self.probe_timeout_ms < 1 or self.failures < 1 or self.cooldown_ms < 0:
            raise ValueError(f"invalid breaker settings: {self}")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@quick_init
@dataclass(frozen=True, slots=True)
class Ticket:
    """Permission for one call: whether it is the probe, and its time budget."""

    probe: bool
    timeout_ms: int


class CircuitBreaker:
    """The state machine alone: no I/O, no sleeping, an injected millisecond clock."""

    def __init__(
        self,
        config: BreakerConfig,
        clock: Clock = monotonic_ms,
        on_open: Callable[[int, str], None] | None = None,
        on_close: Callable[[int], None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._on_open = on_open
        self._on_close = on_close
        self.state = BreakerState.CLOSED
        self.failures = 0  # consecutive, while closed
        self._answered = False  # has the store answered at least once?
        self._streak_started_ms = 0
        self._outage_started_ms = 0
        self._opened_ms = 0

    def admit(self) -> Ticket:
        """A ticket for one call, or `CircuitOpen` while the breaker is open and cooling down."""
        if self.state is BreakerState.CLOSED:
            budget = self.config.timeout_ms if self._answered else self.config.probe_timeout_ms
            return Ticket(False, max(budget, self.config.timeout_ms))
        if self.state is BreakerState.OPEN and self._clock() - self._opened_ms >= self.config.cooldown_ms:
            self.state = BreakerState.HALF_OPEN
            return Ticket(True, max(self.config.probe_timeout_ms, self.config.timeout_ms))
        raise CircuitOpen("state store unavailable (circuit open)")

    def succeeded(self, ticket: Ticket) -> None:
        self._answered = True
        if ticket.probe:
            self.state = BreakerState.CLOSED
            self.failures = 0
            if self._on_close is not None:
                self._on_close(self._clock() - self._outage_started_ms)
        elif self.state is BreakerState.CLOSED:
            self.failures = 0
        # a straggler that succeeds while open says little: the probe decides

    def failed(self, ticket: Ticket, error: str) -> None:
        now = self._clock()
        if ticket.probe:
            self.state = BreakerState.OPEN
            self._opened_ms = now
            return
        if self.state is not BreakerState.CLOSED:
            return  # a straggler started before the breaker opened
        if self.failures == 0:
            self._streak_started_ms = now
        self.failures += 1
        if self.failures >= self.config.failures:
            self.state = BreakerState.OPEN
            self._opened_ms = now
            self._outage_started_ms = self._streak_started_ms
            if self._on_open is not None:
                self._on_open(self.failures, error)

    def abandoned(self, ticket: Ticket) -> None:
        """The call ended without a verdict on the store (cancelled, or a bug): let the next call probe."""
        if ticket.probe and self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.OPEN
            self._opened_ms = self._clock() - self.config.cooldown_ms


# when a reservation whose call failed is released again, after the first attempt (seconds): see
# `GuardedStore._release_in_background`
RELEASE_RETRIES_S = (1.0, 5.0, 30.0)


class GuardedStore(StateStore):
    """Any `StateStore` behind a per-call timeout and a circuit breaker."""

    def __init__(
        self,
        inner: StateStore,
        config: BreakerConfig | None = None,
        clock: Clock = monotonic_ms,
        log: Any = None,
    ) -> None:
        self.inner = inner
        self.url = inner.url
        self.config = config or BreakerConfig()
        self._log = log if log is not None else get_logger("riskwall.state")
        self.breaker = CircuitBreaker(self.config, clock, self._opened, self._closed)
        self._background: set[asyncio.Task[None]] = set()

    async def view(self, query: ViewQuery) -> StateView:
        return await self._call(lambda: self.inner.view(query))

    async def reserve(self, reservation: Reservation) -> ReserveOutcome:
        try:
            return await self._call(lambda: self.inner.reserve(reservation))
        except CircuitOpen:
            raise
        except StateUnavailable:
            if reservation.pending:
                self._release_in_background(reservation.id)
            raise

    async def release(self, reservation_id: str, after_ms: int = 0) -> None:
        await self._call(lambda: self.inner.release(reservation_id, after_ms))

    def cached_view(self, query: ViewQuery) -> StateView | None:
        return self.inner.cached_view(query)

    async def reserve_seen(self, reservation: Reservation, seen: StateView) -> tuple[ReserveOutcome, bool]:
        try:
            return await self._call(lambda: self.inner.reserve_seen(reservation, seen))
        except CircuitOpen:
            raise
        except StateUnavailable:
            if reservation.pending:
                self._release_in_background(reservation.id)
            raise

    async def settle(self, facts: ResponseFacts, reservation_id: str | None, after_ms: int = 0,
                     rejections: tuple[RejectCount, ...] = (),
                     losses: tuple[LossCheck, ...] = ()) -> tuple[StormTrip | LossTrip, ...]:
        return await self._call(lambda: self.inner.settle(facts, reservation_id, after_ms, rejections, losses))

    async def measure_losses(self, checks: tuple[LossCheck, ...]) -> tuple[LossTrip, ...]:
        return await self._call(lambda: self.inner.measure_losses(checks))

    async def count_rejections(self, counts: tuple[RejectCount, ...]) -> tuple[StormTrip, ...]:
        return await self._call(lambda: self.inner.count_rejections(counts))

    async def learn(self, facts: ResponseFacts) -> None:
        await self._call(lambda: self.inner.learn(facts))

    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None:
        await self._call(lambda: self.inner.set_trading_state(scope, state, reason, actor))

    async def trading_states(self) -> tuple[TradingStateRecord, ...]:
        return await self._call(self.inner.trading_states)

    async def holder_moves(self, holders: Mapping[str, str]) -> tuple[HolderMove, ...]:
        return await self._call(lambda: self.inner.holder_moves(holders))

    async def record_holders(self, holders: Mapping[str, str]) -> None:
        await self._call(lambda: self.inner.record_holders(holders))

    async def exposure(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        return await self._call(lambda: self.inner.exposure(venue, account))

    async def usage(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        return await self._call(lambda: self.inner.usage(venue, account))

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.inner.close()

    async def _call[T](self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            ticket = self.breaker.admit()
        except CircuitOpen:
            metrics.store_error("circuit_open")
            raise
        try:
            async with asyncio.timeout(ticket.timeout_ms / 1000):
                result = await operation()
        except TimeoutError as exc:
            metrics.store_error("timeout")
            self.breaker.failed(ticket, "timeout")
            raise StateUnavailable(f"state store did not answer within {ticket.timeout_ms} ms") from exc
        except StateLost:
            # the store answered: nothing for the breaker to count, the fleet's REDUCING state guards from here
            metrics.store_error("lost")
            self.breaker.succeeded(ticket)
            raise
        except StateUnavailable as exc:
            metrics.store_error("unavailable")
            self.breaker.failed(ticket, str(exc))
            raise
        except BaseException:
            self.breaker.abandoned(ticket)
            raise
        self.breaker.succeeded(ticket)
        return result

    def _release_in_background(self, reservation_id: str) -> None:
        """A reservation whose call failed once sent (a timeout, a broken connection) may commit after the sidecar
        gave up: a stalled server runs the commands it received when it wakes. Its order was refused, so the
        reservation is released now, and again after each of `RELEASE_RETRIES_S` (an attempt that found nothing may
        have come before the stalled script ran; one that failed with the connection is tried again), rather than
        left to hold its exposure, an open-order slot and its daily notional until it lapses."""
        async def release() -> None:
            for delay in (0.0, *RELEASE_RETRIES_S):
                if delay:
                    await asyncio.sleep(delay)
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(self.config.probe_timeout_ms / 1000):
                        await self.inner.release(reservation_id)

        task = asyncio.get_running_loop().create_task(release())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _opened(self, failures: int, error: str) -> None:
        metrics.breaker_state(True)
        self._log.warning("state_store_down", store=without_password(self.url), failures=failures, error=error,
                          cooldown_ms=self.config.cooldown_ms)

    def _closed(self, outage_ms: int) -> None:
        metrics.breaker_state(False)
        self._log.info("state_store_recovered", store=without_password(self.url), outage_ms=outage_ms)


def without_password(url: str) -> str:
    """A store URL fit for a log line: the password (if any) masked, also in a URL too broken to split."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket: everything before the last "@" may be a secret
        scheme, sep, rest = url.partition("://")
        return f"{scheme}{sep}***@{rest.rpartition('@')[2]}" if "@" in rest else url
    shown = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2])) if "@" in parts.netloc \
        else url
    if parts.query:
        # redis-py takes `?password=` (and `sentinel_password`, ...) from the query as well
        masked = "&".join(f"{name}=***" if _SECRET_OPTION.search(name) else f"{name}{sep}{value}"
                          for name, sep, value in (item.partition("=") for item in parts.query.split("&")))
        shown = shown.replace("?" + parts.query, "?" + masked, 1)
    return shown


# query options of a store URL whose values are credentials (matched in the option's name, any case or escape)
_SECRET_OPTION = re.compile(r"pass|secret|token|auth|cred|key|user", re.IGNORECASE)


__all__ = [
    "BreakerConfig", "BreakerState", "CircuitBreaker", "CircuitOpen", "GuardedStore", "Ticket", "without_password",
]
