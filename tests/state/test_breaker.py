"""The circuit breaker and GuardedStore, with a fake store and an injected clock: no Redis, no sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest

from riskwall.model import ResponseFacts, TradingState, Venue
from riskwall.state import breaker
from riskwall.state.base import (
    HolderMove,
    Reservation,
    ReserveOutcome,
    StateScope,
    StateStore,
    StateUnavailable,
    StateView,
    TradingStateRecord,
    ViewQuery,
)
from riskwall.state.breaker import BreakerConfig, BreakerState, CircuitBreaker, CircuitOpen, GuardedStore, Ticket
from unit.factories import ACCOUNT, VENUE, FakeClock, make_reservation, pending_entry, rate_check

CONFIG = BreakerConfig(timeout_ms=50, failures=3, cooldown_ms=500, probe_timeout_ms=1000)
RESERVATION = make_reservation("d1", rate=(rate_check(),), pending=(pending_entry("d1:0"),))


class FakeStore(StateStore):
    """Answers, fails, hangs or crashes as told, and records what it was asked."""

    url = "redis://:hunter2@redis.internal:6379/0"

    def __init__(self) -> None:
        self.mode = "ok"  # ok | down | hang | bug
        self.overrides: dict[str, str] = {}  # per operation
        self.calls: list[tuple[str, Any]] = []
        self.closed = False
        self.gate = asyncio.Event()  # what a hanging call waits for

    async def _answer(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        mode = self.overrides.get(name, self.mode)
        if mode == "down":
            raise StateUnavailable("redis: ConnectionError")
        if mode == "bug":
            raise ValueError("bad input")
        if mode == "hang":
            await self.gate.wait()

    async def view(self, query: ViewQuery) -> StateView:
        await self._answer("view", query)
        return StateView(prices={(VENUE, "BTCUSDT"): Decimal(1)})

    async def reserve(self, reservation: Reservation) -> ReserveOutcome:
        await self._answer("reserve", reservation.id)
        return ReserveOutcome(True, ())

    async def release(self, reservation_id: str, after_ms: int = 0) -> None:
        await self._answer("release", (reservation_id, after_ms))

    async def learn(self, facts: ResponseFacts) -> None:
        await self._answer("learn", facts)

    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None:
        await self._answer("set_trading_state", (scope, state))

    async def trading_states(self) -> tuple[TradingStateRecord, ...]:
        await self._answer("trading_states")
        return (TradingStateRecord(StateScope(), TradingState.HALTED, "r", "a", 1),)

    async def holder_moves(self, holders: Mapping[str, str]) -> tuple[HolderMove, ...]:
        await self._answer("holder_moves")
        return ()

    async def record_holders(self, holders: Mapping[str, str]) -> None:
        await self._answer("record_holders")

    async def exposure(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        await self._answer("exposure", (venue, account))
        return {"BTCUSDT|both": {"position": "1"}}

    async def close(self) -> None:
        self.closed = True


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append(("warning", event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.events.append(("info", event, fields))

    def names(self) -> list[str]:
        return [event for _, event, _ in self.events]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(0)


@pytest.fixture
def inner() -> FakeStore:
    return FakeStore()


@pytest.fixture
def log() -> RecordingLog:
    return RecordingLog()


@pytest.fixture
def guarded(inner: FakeStore, clock: FakeClock, log: RecordingLog) -> GuardedStore:
    return GuardedStore(inner, CONFIG, clock=clock, log=log)


async def fail(guarded: GuardedStore, times: int) -> None:
    for _ in range(times):
        with pytest.raises(StateUnavailable):
            await guarded.trading_states()


async def open_breaker(guarded: GuardedStore, inner: FakeStore) -> None:
    inner.mode = "down"
    await fail(guarded, CONFIG.failures)
    assert guarded.breaker.state is BreakerState.OPEN


OPERATIONS: list[tuple[str, Callable[[StateStore], Awaitable[Any]], Any]] = [
    ("view", lambda s: s.view(ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",))),
     StateView(prices={(VENUE, "BTCUSDT"): Decimal(1)})),
    ("reserve", lambda s: s.reserve(RESERVATION), ReserveOutcome(True, ())),
    ("release", lambda s: s.release("d1", after_ms=5), None),
    ("learn", lambda s: s.learn(ResponseFacts()), None),
    ("set_trading_state", lambda s: s.set_trading_state(StateScope(), TradingState.HALTED, "r", "a"), None),
    ("trading_states", lambda s: s.trading_states(),
     (TradingStateRecord(StateScope(), TradingState.HALTED, "r", "a", 1),)),
    ("exposure", lambda s: s.exposure(VENUE, ACCOUNT), {"BTCUSDT|both": {"position": "1"}}),
]


@pytest.mark.parametrize(("name", "call", "expected"), OPERATIONS, ids=[o[0] for o in OPERATIONS])
async def test_call_when_store_answers_then_answer_passes_through(
    guarded: GuardedStore, inner: FakeStore, name: str, call: Callable[[StateStore], Awaitable[Any]], expected: Any
) -> None:
    assert await call(guarded) == expected
    assert [c[0] for c in inner.calls] == [name]
    assert guarded.url == inner.url


@pytest.mark.parametrize(("name", "call", "expected"), OPERATIONS, ids=[o[0] for o in OPERATIONS])
async def test_call_when_breaker_open_then_every_operation_fails_fast_without_asking_the_store(
    guarded: GuardedStore, inner: FakeStore, name: str, call: Callable[[StateStore], Awaitable[Any]], expected: Any
) -> None:
    await open_breaker(guarded, inner)
    asked = len(inner.calls)

    with pytest.raises(CircuitOpen):
        await call(guarded)
    assert len(inner.calls) == asked


async def test_call_when_failures_reach_threshold_then_breaker_opens(guarded: GuardedStore, inner: FakeStore) -> None:
    inner.mode = "down"
    states = []
    for _ in range(CONFIG.failures):
        with pytest.raises(StateUnavailable) as raised:
            await guarded.trading_states()
        assert not isinstance(raised.value, CircuitOpen)  # the store was asked and failed
        states.append(guarded.breaker.state)

    assert states == [BreakerState.CLOSED, BreakerState.CLOSED, BreakerState.OPEN]
    assert len(inner.calls) == CONFIG.failures


async def test_call_when_a_success_interrupts_failures_then_the_count_restarts(
    guarded: GuardedStore, inner: FakeStore
) -> None:
    inner.mode = "down"
    await fail(guarded, CONFIG.failures - 1)
    inner.mode = "ok"
    await guarded.trading_states()
    inner.mode = "down"
    await fail(guarded, CONFIG.failures - 1)

    assert guarded.breaker.state is BreakerState.CLOSED


async def test_call_when_cooldown_not_over_then_still_fails_fast(
    guarded: GuardedStore, inner: FakeStore, clock: FakeClock
) -> None:
    await open_breaker(guarded, inner)
    inner.mode = "ok"
    clock.advance(CONFIG.cooldown_ms - 1)

    with pytest.raises(CircuitOpen):
        await guarded.trading_states()


async def test_probe_when_store_is_back_then_breaker_closes_and_calls_flow(
    guarded: GuardedStore, inner: FakeStore, clock: FakeClock
) -> None:
    await open_breaker(guarded, inner)
    inner.mode = "ok"
    clock.advance(CONFIG.cooldown_ms)

    assert await guarded.trading_states()
    assert guarded.breaker.state is BreakerState.CLOSED
    assert await guarded.exposure(VENUE, ACCOUNT)


async def test_probe_when_store_still_down_then_breaker_reopens_for_another_cooldown(
    guarded: GuardedStore, inner: FakeStore, clock: FakeClock
) -> None:
    await open_breaker(guarded, inner)
    clock.advance(CONFIG.cooldown_ms)
    await fail(guarded, 1)  # the probe
    asked = len(inner.calls)
    clock.advance(CONFIG.cooldown_ms - 1)

    with pytest.raises(CircuitOpen):
        await guarded.trading_states()
    assert len(inner.calls) == asked and guarded.breaker.state is BreakerState.OPEN
    clock.advance(1)
    inner.mode = "ok"
    assert await guarded.trading_states()


async def test_probe_when_in_flight_then_other_calls_fail_fast(
    guarded: GuardedStore, inner: FakeStore, clock: FakeClock
) -> None:
    await open_breaker(guarded, inner)
    inner.mode = "hang"
    clock.advance(CONFIG.cooldown_ms)
    probe = asyncio.ensure_future(guarded.trading_states())
    await asyncio.sleep(0)  # let the probe reach the store

    with pytest.raises(CircuitOpen):
        await guarded.view(ViewQuery(VENUE, ACCOUNT, ()))
    assert guarded.breaker.state is BreakerState.HALF_OPEN
    inner.gate.set()
    assert await probe
    assert guarded.breaker.state is BreakerState.CLOSED


async def test_probe_when_cancelled_then_next_call_probes_at_once(
    guarded: GuardedStore, inner: FakeStore, clock: FakeClock
) -> None:
    await open_breaker(guarded, inner)
    inner.mode = "hang"
    clock.advance(CONFIG.cooldown_ms)
    probe = asyncio.ensure_future(guarded.trading_states())
    await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    inner.mode = "ok"

    assert await guarded.trading_states()  # no new cool-down
    assert guarded.breaker.state is BreakerState.CLOSED


async def test_outage_when_many_calls_fail_then_down_and_recovered_are_logged_once_each(
    guarded: GuardedStore, inner: FakeStore, clock: FakeClock, log: RecordingLog
) -> None:
    clock.set(10_000)
    inner.mode = "down"
    await fail(guarded, 1)
    clock.advance(100)
    await fail(guarded, CONFIG.failures - 1 + 50)  # opens, then fails fast
    for _ in range(3):  # failed probes
        clock.advance(CONFIG.cooldown_ms)
        await fail(guarded, 10)
    clock.advance(CONFIG.cooldown_ms)
    inner.mode = "ok"
    await guarded.trading_states()
    await guarded.trading_states()

    assert log.names() == ["state_store_down", "state_store_recovered"]
    (_, _, down), (_, _, recovered) = log.events
    assert down["failures"] == CONFIG.failures and "ConnectionError" in down["error"]
    assert "hunter2" not in down["store"] and "redis.internal" in down["store"]
    assert recovered["outage_ms"] == 100 + 4 * CONFIG.cooldown_ms  # from the first failure of the streak


async def test_call_when_store_hangs_then_timeout_becomes_state_unavailable(
    inner: FakeStore, clock: FakeClock, log: RecordingLog
) -> None:
    guarded = GuardedStore(inner, BreakerConfig(timeout_ms=1, failures=2, probe_timeout_ms=1), clock=clock, log=log)
    inner.mode = "hang"

    for _ in range(2):
        with pytest.raises(StateUnavailable, match="within 1 ms") as raised:
            await guarded.trading_states()
        assert isinstance(raised.value.__cause__, TimeoutError)
    assert guarded.breaker.state is BreakerState.OPEN
    assert log.names() == ["state_store_down"]


async def test_call_when_inner_raises_a_bug_then_it_passes_through_and_breaker_ignores_it(
    guarded: GuardedStore, inner: FakeStore
) -> None:
    inner.mode = "bug"
    for _ in range(CONFIG.failures + 1):
        with pytest.raises(ValueError, match="bad input"):
            await guarded.trading_states()

    assert guarded.breaker.state is BreakerState.CLOSED and guarded.breaker.failures == 0


@pytest.mark.parametrize(
    ("pending", "expected_releases"),
    [((pending_entry("d1:0"),), [("release", ("d1", 0))]), ((), [])],
    ids=["with-legs", "rate-only"],
)
async def test_reserve_when_it_fails_after_sending_then_reservation_is_released_in_background(
    guarded: GuardedStore, inner: FakeStore, pending: tuple[Any, ...], expected_releases: list[Any]
) -> None:
    inner.mode = "down"
    with pytest.raises(StateUnavailable):
        await guarded.reserve(make_reservation("d1", rate=(rate_check(),), pending=pending))
    await asyncio.sleep(0)  # let the background release run

    assert [c for c in inner.calls if c[0] == "release"] == expected_releases


async def test_reserve_when_it_fails_after_sending_then_released_again_after_a_stalled_server_could_have_run_it(
    guarded: GuardedStore, inner: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the first release fails with the connection, the second finds nothing yet: a stalled server may run the
    # reservation after both, so the last attempts still release it
    monkeypatch.setattr(breaker, "RELEASE_RETRIES_S", (0.01, 0.01, 0.01))
    inner.mode = "down"
    with pytest.raises(StateUnavailable):
        await guarded.reserve(make_reservation("d1", pending=(pending_entry("d1:0"),)))
    inner.mode = "ok"

    for _ in range(100):  # bounded: the attempts are 10 ms apart
        await asyncio.sleep(0.01)
        if len([c for c in inner.calls if c[0] == "release"]) == 4:
            break

    assert [c for c in inner.calls if c[0] == "release"] == [("release", ("d1", 0))] * 4


async def test_reserve_when_breaker_open_then_nothing_is_released(guarded: GuardedStore, inner: FakeStore) -> None:
    await open_breaker(guarded, inner)
    with pytest.raises(CircuitOpen):
        await guarded.reserve(RESERVATION)
    await asyncio.sleep(0)

    assert [c for c in inner.calls if c[0] == "release"] == []


async def test_close_when_background_release_pending_then_it_is_cancelled_and_store_closed(
    guarded: GuardedStore, inner: FakeStore
) -> None:
    inner.mode = "down"
    inner.overrides["release"] = "hang"
    with pytest.raises(StateUnavailable):
        await guarded.reserve(RESERVATION)
    await asyncio.sleep(0)
    assert [c[0] for c in inner.calls] == ["reserve", "release"]  # hanging in the background

    await asyncio.wait_for(guarded.close(), timeout=5)

    assert inner.closed
    assert not inner.gate.is_set()  # the release never finished: it was cancelled, not awaited to the end


async def test_reserve_when_cancelled_by_caller_then_breaker_counts_no_failure(
    guarded: GuardedStore, inner: FakeStore
) -> None:
    inner.mode = "hang"
    reserve = asyncio.ensure_future(guarded.reserve(RESERVATION))
    await asyncio.sleep(0)
    reserve.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reserve

    assert guarded.breaker.failures == 0 and [c[0] for c in inner.calls] == ["reserve"]


def test_admit_when_store_never_answered_then_call_gets_the_probe_budget(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONFIG, clock)
    first = breaker.admit()
    breaker.succeeded(first)

    assert first == Ticket(False, CONFIG.probe_timeout_ms)
    assert breaker.admit() == Ticket(False, CONFIG.timeout_ms)


def test_admit_when_cooldown_over_then_exactly_one_probe_is_admitted(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONFIG, clock)
    for _ in range(CONFIG.failures):
        breaker.failed(breaker.admit(), "down")
    clock.advance(CONFIG.cooldown_ms)

    assert breaker.admit() == Ticket(True, CONFIG.probe_timeout_ms)
    with pytest.raises(CircuitOpen):
        breaker.admit()


def test_failed_when_straggler_fails_after_opening_then_breaker_state_is_unchanged(clock: FakeClock) -> None:
    breaker = CircuitBreaker(CONFIG, clock)
    stragglers = [breaker.admit() for _ in range(CONFIG.failures + 1)]
    for ticket in stragglers[:-1]:
        breaker.failed(ticket, "down")
    clock.advance(CONFIG.cooldown_ms)
    breaker.failed(stragglers[-1], "down")  # started before the breaker opened; must not restart the cool-down

    assert breaker.admit().probe


@pytest.mark.parametrize(
    "settings",
    [{"timeout_ms": 0}, {"failures": 0}, {"cooldown_ms": -1}, {"probe_timeout_ms": 0}],
    ids=["timeout", "failures", "cooldown", "probe-timeout"],
)
def test_config_when_setting_impossible_then_value_error(settings: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="invalid breaker settings"):
        BreakerConfig(**settings)


def test_config_when_defaults_then_short_timeout_and_quick_recovery() -> None:
    assert BreakerConfig() == BreakerConfig(timeout_ms=50, failures=3, cooldown_ms=500, probe_timeout_ms=1000)
