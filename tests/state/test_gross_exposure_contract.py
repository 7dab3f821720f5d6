"""The gross exposure check: the same contract on MemoryStore and RedisStore (real Redis).

A `GrossCheck` sums, inside the one reserve step, every position the store holds for the account at its worst
case either way (position plus orders pending the same way) × its symbol's price in the check, with the
reservation's own legs pending. These tests build positions and pending orders on several symbols and check the
sum the store observed and whether it admitted the reservation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from riskwall.model import (
    GrossCheck,
    OrderUpdate,
    Pending,
    PositionKey,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    ResponseFacts,
    Side,
    Venue,
    ViewQuery,
    gross_quantity,
)
from riskwall.state import StateStore, open_store
from riskwall.state.base import PendingEntry, Reservation, ReserveOutcome
from riskwall.state.memory import MemoryStore
from unit.factories import ACCOUNT, SYMBOL, VENUE, FakeClock, facts, order_update, position_key, price_update

from .conftest import redis_url

ETH = "ETHUSDT"
PRICES = ((SYMBOL, Decimal(50000)), (ETH, Decimal(2000)))
_ids = itertools.count()


async def reserve(store: StateStore, side: Side, qty: str, symbol: str = SYMBOL, *, limit: str = "1000000",
                  prices: tuple[tuple[str, Decimal], ...] = PRICES, reducing: bool = False,
                  replaces: str | None = None) -> tuple[str, ReserveOutcome]:
    reservation_id = f"gx{next(_ids)}"
    leg = PendingEntry(f"{reservation_id}:0", position_key(symbol), side, Decimal(qty), replaces, reducing=reducing)
    check = GrossCheck("gross", VENUE, ACCOUNT, Decimal(limit), prices, True)
    return reservation_id, await store.reserve(Reservation(reservation_id, pending=(leg,), gross=(check,)))


async def hold(store: StateStore, *positions: tuple[str, str]) -> None:
    await store.learn(ResponseFacts(positions=(PositionsReport(
        VENUE, ACCOUNT, None, tuple((symbol, PositionSide.BOTH, Decimal(qty)) for symbol, qty in positions)),)))


@pytest.mark.parametrize(("positions", "side", "qty", "symbol", "expected"), [
    pytest.param((), Side.BUY, "1", SYMBOL, "50000", id="flat: the order alone"),
    pytest.param(((SYMBOL, "1"), (ETH, "-10")), Side.BUY, "1", SYMBOL, "120000", id="long grows, short counts abs"),
    pytest.param(((SYMBOL, "1"), (ETH, "-10")), Side.SELL, "0.5", SYMBOL, "70000",
                 id="a sell against a long: the long is still the worst case"),
    pytest.param(((SYMBOL, "1"), (ETH, "-10")), Side.SELL, "3", SYMBOL, "120000", id="a sell that flips: 2 short"),
    pytest.param(((ETH, "-10"),), Side.SELL, "5", ETH, "30000", id="a short grows"),
])
async def test_gross_when_positions_on_several_symbols_then_sum_of_worst_cases_times_price(
        store: StateStore, positions: tuple[tuple[str, str], ...], side: Side, qty: str, symbol: str,
        expected: str) -> None:
    await hold(store, *positions)
    _, outcome = await reserve(store, side, qty, symbol)
    assert outcome.committed and outcome.results[0].observed == Decimal(expected)


async def test_gross_when_limit_would_be_exceeded_then_refused_and_pending_counts(store: StateStore) -> None:
    await hold(store, (ETH, "-10"))
    _, outcome = await reserve(store, Side.BUY, "1", limit="100000")  # 20000 + 50000
    assert outcome.committed
    _, outcome = await reserve(store, Side.BUY, "0.7", limit="100000")  # + 35000 pending: 105000
    assert not outcome.committed and outcome.results[0].observed == Decimal(105000)
    _, outcome = await reserve(store, Side.BUY, "0.6", limit="100000")
    assert outcome.committed and outcome.results[0].observed == Decimal(100000)


async def test_gross_when_an_open_order_is_amended_then_its_open_part_is_replaced(store: StateStore) -> None:
    first, _ = await reserve(store, Side.BUY, "1")
    await store.learn(facts(order_update("g1", "1", "0", reservation_id=f"{first}:0")))
    await store.release(first)
    _, outcome = await reserve(store, Side.BUY, "1.5", replaces="g1")
    assert outcome.committed and outcome.results[0].observed == Decimal(75000)


async def test_gross_when_a_position_has_no_price_then_refused_naming_the_symbol(store: StateStore) -> None:
    await hold(store, ("SOLUSDT", "3"))
    _, outcome = await reserve(store, Side.BUY, "1")
    assert not outcome.committed and dict(outcome.results[0].detail) == {"unpriced": "SOLUSDT"}


# ---- legs of any position side, reduce-only or not ------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    side: Side
    qty: str
    symbol: str = SYMBOL
    position_side: PositionSide = PositionSide.BOTH
    reducing: bool = False


def gross_check(limit: str = "1000000", prices: tuple[tuple[str, Decimal], ...] = PRICES,
                enforced: bool = True) -> GrossCheck:
    return GrossCheck("gross", VENUE, ACCOUNT, Decimal(limit), prices, enforced)


async def reserve_legs(store: StateStore, *legs: Leg, limit: str = "1000000",
                       prices: tuple[tuple[str, Decimal], ...] = PRICES, reservation_id: str | None = None,
                       enforced: bool = True) -> tuple[str, ReserveOutcome]:
    reservation_id = reservation_id or f"gx{next(_ids)}"
    pending = tuple(PendingEntry(f"{reservation_id}:{i}", position_key(leg.symbol, leg.position_side), leg.side,
                                 Decimal(leg.qty), reducing=leg.reducing, opens=True) for i, leg in enumerate(legs))
    return reservation_id, await store.reserve(Reservation(reservation_id, pending=pending,
                                                           gross=(gross_check(limit, prices, enforced),)))


async def hold_sides(store: StateStore, *positions: tuple[str, PositionSide, str]) -> None:
    await store.learn(ResponseFacts(positions=(PositionsReport(
        VENUE, ACCOUNT, None, tuple((symbol, side, Decimal(qty)) for symbol, side, qty in positions)),)))


LONG, SHORT = PositionSide.LONG, PositionSide.SHORT


@pytest.mark.parametrize(("positions", "legs", "expected"), [
    pytest.param(((SYMBOL, LONG, "1"), (SYMBOL, SHORT, "-1")), (Leg(Side.BUY, "0.1", position_side=LONG),),
                 "105000", id="long and short of one symbol are two positions, never netted"),
    pytest.param(((SYMBOL, LONG, "1"), (SYMBOL, SHORT, "-1")), (Leg(Side.SELL, "0.5", position_side=SHORT),),
                 "125000", id="a sell on the short side grows the short"),
    pytest.param(((SYMBOL, LONG, "1"), (SYMBOL, SHORT, "-1")),
                 (Leg(Side.SELL, "0.4", position_side=LONG, reducing=True),), "100000",
                 id="a hedge close pends reducing: the long's worst case stays the long"),
    pytest.param(((SYMBOL, LONG, "1"),), (Leg(Side.SELL, "2", position_side=SHORT),), "150000",
                 id="opening the short beside a long adds it"),
    pytest.param(((ETH, LONG, "10"), (ETH, SHORT, "-5")),
                 (Leg(Side.BUY, "1", position_side=LONG), Leg(Side.SELL, "1", position_side=SHORT)), "130000",
                 id="legs on both sides of another symbol each add"),
])
async def test_gross_when_account_is_in_hedge_mode_then_each_position_side_counts_on_its_own(
        store: StateStore, positions: tuple[tuple[str, PositionSide, str], ...], legs: tuple[Leg, ...],
        expected: str) -> None:
    await hold_sides(store, *positions)

    _, outcome = await reserve_legs(store, *legs)

    assert outcome.committed and outcome.results[0].observed == Decimal(expected)


async def test_gross_when_hedge_positions_rest_orders_on_both_sides_then_each_key_has_its_own_worst_case(
        store: StateStore) -> None:
    await store.learn(facts(order_update("l1", "1", position_side=LONG),
                            order_update("s1", "2", side=Side.SELL, position_side=SHORT)))

    _, outcome = await reserve_legs(store, Leg(Side.BUY, "1", ETH, LONG))

    assert outcome.results[0].observed == Decimal(152000)  # 1 long + 2 short of BTC, 1 long of ETH


@pytest.mark.parametrize(("position", "resting", "leg", "expected"), [
    pytest.param("1", (), Leg(Side.SELL, "0.5", reducing=True), "50000",
                 id="reduce-only sell against a long: the long stays the worst case"),
    pytest.param("1", (), Leg(Side.SELL, "3", reducing=True), "50000",
                 id="reduce-only beyond the long brings it to zero, never past"),
    pytest.param("1", (), Leg(Side.SELL, "3"), "100000", id="the same sell not reduce-only can flip: 2 short"),
    pytest.param("-2", (), Leg(Side.BUY, "5", reducing=True), "100000", id="reduce-only buy against a short"),
    pytest.param("0", (), Leg(Side.SELL, "1", reducing=True), "0", id="reduce-only on a flat position adds nothing"),
    pytest.param("1", (), Leg(Side.BUY, "1", reducing=True), "50000",
                 id="reduce-only the same way as the position adds nothing"),
    pytest.param("1", (("r1", Side.SELL, "4", True),), Leg(Side.BUY, "0.1"), "55000",
                 id="a resting reduce-only order pends reducing"),
    pytest.param("1", (("r1", Side.SELL, "4", False),), Leg(Side.BUY, "0.1"), "150000",
                 id="a resting plain order of the same size could flip: 3 short"),
    pytest.param("1", (("r1", Side.SELL, "0.5", True), ("r2", Side.SELL, "3", True)), Leg(Side.SELL, "1"), "50000",
                 id="reducing orders spend the long first, then a plain sell can only reach its own size"),
])
async def test_gross_when_reduce_only_orders_pend_then_they_count_at_their_worst_case(
        store: StateStore, position: str, resting: tuple[tuple[str, Side, str, bool], ...], leg: Leg,
        expected: str) -> None:
    await hold(store, (SYMBOL, position))
    if resting:
        await store.learn(facts(*(order_update(order_id, qty, side=side, reduce_only=reducing)
                                  for order_id, side, qty, reducing in resting)))

    _, outcome = await reserve_legs(store, leg)

    assert outcome.committed and outcome.results[0].observed == Decimal(expected)


async def test_gross_when_same_reservation_is_reserved_again_then_its_held_legs_are_not_counted_twice(
        store: StateStore) -> None:
    first, outcome = await reserve_legs(store, Leg(Side.BUY, "1.5"), limit="100000")
    assert outcome.committed and outcome.results[0].observed == Decimal(75000)

    _, again = await reserve_legs(store, Leg(Side.BUY, "2"), limit="100000", reservation_id=first)
    _, other = await reserve_legs(store, Leg(Side.BUY, "0.1"), limit="100000")
    _, smaller = await reserve_legs(store, Leg(Side.BUY, "0.5"), Leg(Side.SELL, "0.1", ETH), limit="100000",
                                    reservation_id=first)
    _, after = await reserve_legs(store, Leg(Side.BUY, "1.4"), limit="100000")

    assert (again.committed, again.results[0].observed) == (True, Decimal(100000))  # 2, not 1.5 + 2
    assert (other.committed, other.results[0].observed) == (False, Decimal(105000))  # the 2 replaced the 1.5
    assert (smaller.committed, smaller.results[0].observed) == (True, Decimal(25200))
    assert (after.committed, after.results[0].observed) == (True, Decimal(95200))  # 0.5 + 1.4 BTC, 0.1 ETH


async def test_gross_when_reservation_is_released_then_its_legs_no_longer_count(store: StateStore) -> None:
    first, _ = await reserve_legs(store, Leg(Side.BUY, "1.5"), limit="100000")
    await store.release(first)

    _, outcome = await reserve_legs(store, Leg(Side.BUY, "2"), limit="100000")

    assert outcome.committed and outcome.results[0].observed == Decimal(100000)


async def test_gross_when_check_is_shadow_then_a_failing_reservation_commits_and_its_legs_count(
        store: StateStore) -> None:
    _, shadow = await reserve_legs(store, Leg(Side.BUY, "3"), limit="100000", enforced=False)
    _, after = await reserve_legs(store, Leg(Side.BUY, "0.1"), limit="1000000")

    assert shadow.committed and not shadow.results[0].passed and shadow.results[0].observed == Decimal(150000)
    assert after.results[0].observed == Decimal(155000)


@pytest.mark.parametrize(("leg", "committed", "expected"), [
    pytest.param(Leg(Side.SELL, "1"), True, "150000", id="a plain close over the limit adds nothing: admitted"),
    pytest.param(Leg(Side.SELL, "6"), True, "150000", id="a flip to an equal short: admitted"),
    pytest.param(Leg(Side.SELL, "6.2"), False, "160000", id="a flip to a larger short: refused"),
    pytest.param(Leg(Side.BUY, "0.1", ETH), False, "150200", id="anything that adds: refused"),
])
async def test_gross_when_account_is_already_over_the_limit_then_only_what_adds_nothing_is_admitted(
        store: StateStore, leg: Leg, committed: bool, expected: str) -> None:
    await hold(store, (SYMBOL, "3"))

    _, outcome = await reserve_legs(store, leg, limit="100000")

    assert (outcome.committed, outcome.results[0].observed) == (committed, Decimal(expected))


async def test_gross_when_only_a_pending_order_has_no_price_then_refused_naming_its_symbol(store: StateStore) -> None:
    await store.learn(facts(order_update("p1", "2", symbol="SOLUSDT")))

    _, outcome = await reserve_legs(store, Leg(Side.BUY, "0.1"))

    assert not outcome.committed and dict(outcome.results[0].detail) == {"unpriced": "SOLUSDT"}
    assert outcome.results[0].observed == Decimal(5000)  # the sum over the positions priced


# ---- Memory and Redis agree under a random sequence -----------------------------------------------------------


SOL = "SOLUSDT"
RANDOM_PRICES = ((SYMBOL, Decimal(50000)), (ETH, Decimal("2000.5")), (SOL, Decimal("100.25")))
# BTC and ETH one-way, SOL in hedge mode
RANDOM_KEYS = ((SYMBOL, PositionSide.BOTH), (ETH, PositionSide.BOTH), (SOL, LONG), (SOL, SHORT))
QUANTITIES = ("0.1", "0.25", "0.5", "1", "1.5", "2", "3.125")


@dataclass
class _Order:
    symbol: str
    position_side: PositionSide
    side: Side
    original: Decimal
    executed: Decimal
    reducing: bool


@dataclass
class _World:
    """The sequence so far, kept the plain way: positions, unanswered legs, orders open at the venue."""

    positions: dict[tuple[str, PositionSide], Decimal] = field(default_factory=dict)
    legs: dict[str, list[tuple[str, Leg]]] = field(default_factory=dict)  # reservation id -> [(leg id, leg)]
    open: dict[str, _Order] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def gross(self, prices: tuple[tuple[str, Decimal], ...], extra: tuple[Leg, ...] = (),
              without: str | None = None) -> tuple[Decimal, str]:
        """Σ gross_quantity × price with `extra` pending (and `without`'s legs not), and the first unpriced."""
        sums: dict[tuple[tuple[str, PositionSide], Side], list[Decimal]] = {}

        def add(key: tuple[str, PositionSide], side: Side, qty: Decimal, reducing: bool) -> None:
            found = sums.setdefault((key, side), [Decimal(0), Decimal(0)])
            found[1 if reducing else 0] += qty

        for reservation_id, legs in self.legs.items():
            if reservation_id != without:
                for _, leg in legs:
                    add((leg.symbol, leg.position_side), leg.side, Decimal(leg.qty), leg.reducing)
        for leg in extra:
            add((leg.symbol, leg.position_side), leg.side, Decimal(leg.qty), leg.reducing)
        for order in self.open.values():
            add((order.symbol, order.position_side), order.side, order.original - order.executed, order.reducing)
        priced, total, unpriced = dict(prices), Decimal(0), ""
        for key in {k for k, _ in sums} | set(self.positions):
            buying, selling = (Pending(*sums.get((key, side), (Decimal(0), Decimal(0)))) for side in Side)
            quantity = gross_quantity(self.positions.get(key, Decimal(0)), buying, selling)
            if not quantity:
                continue
            if key[0] not in priced:
                unpriced = min(unpriced, key[0]) if unpriced else key[0]
                continue
            total += quantity * priced[key[0]]
        return total, unpriced


def _random_leg(rng: random.Random) -> Leg:
    symbol, position_side = rng.choice(RANDOM_KEYS)
    side = rng.choice(tuple(Side))
    # in hedge mode a sell on the long side (a buy on the short side) closes: venues make it reduce-only
    reducing = (position_side is LONG and side is Side.SELL) or (position_side is SHORT and side is Side.BUY)
    return Leg(side, rng.choice(QUANTITIES), symbol, position_side, reducing or rng.random() < 0.2)


Observed = tuple[Decimal, bool, tuple[tuple[str, str], ...]]


def _seen(outcome: ReserveOutcome) -> Observed:
    result = outcome.results[0]
    return result.observed, result.passed, result.detail


def _answered(store: StateStore, *updates: OrderUpdate) -> ResponseFacts:
    """Order updates in an answer asked a minute ahead of the store's clock, after any position read of the sequence:
    every fill moves its position, as the world model has it (which read may hold which fill: test_store_contract)."""
    now = store._clock() if isinstance(store, MemoryStore) else time.time_ns() // 1_000_000
    return dataclasses.replace(facts(*updates), asked_ms=now + 60_000)


async def _both[T](stores: tuple[StateStore, StateStore], call: Callable[[StateStore], Awaitable[T]]) -> tuple[T, T]:
    return await call(stores[0]), await call(stores[1])


async def _random_step(stores: tuple[StateStore, StateStore], world: _World, rng: random.Random) -> str:
    op = rng.choice(("reserve", "reserve", "reserve", "again", "ack", "ack", "fill", "cancel", "positions",
                     "release", "stream"))
    if op == "again" and world.legs:
        reservation_id = rng.choice(sorted(world.legs))
        legs = tuple(_random_leg(rng) for _ in range(rng.randint(1, 3)))
        expected = world.gross(RANDOM_PRICES, legs, without=reservation_id)
        memory, redis_ = await _both(stores, lambda s: reserve_legs(s, *legs, prices=RANDOM_PRICES,
                                                                     reservation_id=reservation_id))
        assert _seen(memory[1]) == _seen(redis_[1]) and memory[1].results[0].observed == expected[0]
        world.legs[reservation_id] = [(f"{reservation_id}:{i}", leg) for i, leg in enumerate(legs)]
    elif op in ("reserve", "again"):
        reservation_id = f"rs{next(world.ids)}"
        legs = tuple(_random_leg(rng) for _ in range(rng.randint(1, 3)))
        expected = world.gross(RANDOM_PRICES, legs)
        memory, redis_ = await _both(stores, lambda s: reserve_legs(s, *legs, prices=RANDOM_PRICES,
                                                                     reservation_id=reservation_id))
        assert _seen(memory[1]) == _seen(redis_[1]) and memory[1].results[0].observed == expected[0]
        world.legs[reservation_id] = [(f"{reservation_id}:{i}", leg) for i, leg in enumerate(legs)]
    elif op in ("ack", "release") and world.legs:
        reservation_id = rng.choice(sorted(world.legs))
        if op == "ack":
            leg_id, leg = world.legs[reservation_id].pop(0)
            order_id, qty = f"x{next(world.ids)}", Decimal(leg.qty)
            executed = rng.choice((Decimal(0), Decimal(0), qty / 2, qty))
            final = executed == qty or rng.random() < 0.2
            await _both(stores, lambda s: s.learn(_answered(s, order_update(
                order_id, qty, executed, final, leg.side, leg.symbol, leg.position_side, leg_id, leg.reducing))))
            _fill(world, leg.symbol, leg.position_side, leg.side, executed)
            if not final:
                world.open[order_id] = _Order(leg.symbol, leg.position_side, leg.side, qty, executed, leg.reducing)
        if op == "release" or not world.legs[reservation_id]:
            await _both(stores, lambda s: s.release(reservation_id, 0))
            del world.legs[reservation_id]
    elif op in ("fill", "cancel") and world.open:
        order_id = rng.choice(sorted(world.open))
        order = world.open[order_id]
        executed = order.original if op == "fill" and rng.random() < 0.5 else (
            order.executed + (order.original - order.executed) / 4 if op == "fill" else order.executed)
        final = op == "cancel" or executed == order.original
        await _both(stores, lambda s: s.learn(_answered(s, order_update(
            order_id, order.original, executed, final, order.side, order.symbol, order.position_side,
            reduce_only=order.reducing))))
        _fill(world, order.symbol, order.position_side, order.side, executed - order.executed)
        order.executed = executed
        if final:
            del world.open[order_id]
    elif op == "stream":
        leg = _random_leg(rng)
        order_id = f"x{next(world.ids)}"
        await _both(stores, lambda s: s.learn(_answered(s, order_update(
            order_id, leg.qty, "0", False, leg.side, leg.symbol, leg.position_side, reduce_only=leg.reducing))))
        world.open[order_id] = _Order(leg.symbol, leg.position_side, leg.side, Decimal(leg.qty), Decimal(0),
                                      leg.reducing)
    else:  # positions: an account-wide report (or the op drawn had nothing to act on)
        listed = tuple((symbol, side, (Decimal(-1) if side is SHORT else Decimal(1)) * Decimal(rng.choice(
            ("0", *QUANTITIES))) * (rng.choice((1, -1)) if side is PositionSide.BOTH else 1))
            for symbol, side in RANDOM_KEYS)
        report = ResponseFacts(positions=(PositionsReport(VENUE, ACCOUNT, None, listed),))
        await _both(stores, lambda s: s.learn(report))
        world.positions = {(symbol, side): qty for symbol, side, qty in listed}
        op = "positions"
    return op


def _fill(world: _World, symbol: str, position_side: PositionSide, side: Side, fill: Decimal) -> None:
    if fill:
        key = (symbol, position_side)
        world.positions[key] = world.positions.get(key, Decimal(0)) + side.sign * fill


@pytest.mark.redis
@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
async def test_gross_when_a_random_sequence_runs_on_both_stores_then_they_observe_the_same_sums(
        redis_prefix: str, seed: int) -> None:
    rng, world = random.Random(seed), _World()
    stores = (MemoryStore(clock=FakeClock()), open_store(redis_url(redis_prefix, timeout_ms=2000,
                                                                   probe_timeout_ms=5000)))
    try:
        for step in range(60):
            op = await _random_step(stores, world, rng)
            # after each step, probe without legs: with every price, and without SOL's (unpriced when it has any)
            for prices in (RANDOM_PRICES, RANDOM_PRICES[:2]):
                memory, redis_ = await _both(stores, lambda s, p=prices: reserve_legs(s, prices=p))  # type: ignore[misc]
                expected, unpriced = world.gross(prices)
                assert _seen(memory[1]) == _seen(redis_[1]), f"step {step} ({op})"
                assert memory[1].results[0].observed == expected, f"step {step} ({op})"
                assert dict(memory[1].results[0].detail).get("unpriced", "") == unpriced, f"step {step} ({op})"
    finally:
        await stores[1].close()


# ---- fleet exactness ------------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize(
    ("sidecars", "attempts", "held", "limit", "leg"),
    [
        pytest.param(3, 5, (), "100000", Leg(Side.BUY, "0.3"), id="3x5 orders of 15000 against 100000"),
        pytest.param(6, 4, ((ETH, "-10"),), "100000", Leg(Side.SELL, "5", ETH), id="a short grows: 10000 each"),
        pytest.param(8, 3, ((SYMBOL, "1"),), "99999.99", Leg(Side.BUY, "0.07"),
                     id="a long grows: 3500 each, a limit with cents"),
    ],
)
async def test_gross_when_sidecars_share_one_redis_then_exactly_floor_of_headroom_over_exposure_are_admitted(
        redis_prefix: str, sidecars: int, attempts: int, held: tuple[tuple[str, str], ...], limit: str,
        leg: Leg) -> None:
    stores = [open_store(redis_url(redis_prefix, timeout_ms=2000, probe_timeout_ms=5000)) for _ in range(sidecars)]
    prices = dict(PRICES)
    start = sum((abs(Decimal(qty)) * prices[symbol] for symbol, qty in held), Decimal(0))
    adding = Decimal(leg.qty) * prices[leg.symbol]
    fit = int((Decimal(limit) - start) // adding)
    assert 0 < fit < sidecars * attempts  # more are sent than can fit
    try:
        await hold(stores[0], *held)

        async def attempt(store: StateStore) -> bool:
            return (await reserve_legs(store, leg, limit=limit))[1].committed

        results = await asyncio.gather(*(attempt(store) for store in stores for _ in range(attempts)))
        _, probe = await reserve_legs(stores[-1], limit=limit)
    finally:
        for store in stores:
            await store.close()

    assert sum(results) == fit
    assert probe.results[0].observed == start + fit * adding <= Decimal(limit)


# ---- the view a gross exposure rule reads ---------------------------------------------------------------------


async def test_view_when_whole_account_is_asked_then_every_held_or_pending_symbol_is_read_with_its_price(
        store: StateStore) -> None:
    marks = {SYMBOL: "50000", ETH: "2000", SOL: "100.25", "XRPUSDT": "0.5"}
    await store.learn(facts(*(price_update(price, symbol=symbol) for symbol, price in marks.items())))
    await hold_sides(store, (ETH, PositionSide.BOTH, "-10"), ("ADAUSDT", LONG, "7"),
                     ("DOGEUSDT", PositionSide.BOTH, "0"))
    await store.learn(facts(order_update("s1", "2", symbol=SOL, side=Side.SELL, reduce_only=True)))
    leg = PendingEntry("v1:0", position_key("XRPUSDT", SHORT), Side.BUY, Decimal(1), reducing=True, opens=True)
    assert (await store.reserve(Reservation("v1", pending=(leg,)))).committed  # a leg pending, no order yet

    whole = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), (), True))
    narrow = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))

    held = {(key.symbol, key.position_side): qty for key, qty in whole.positions.items() if qty}
    assert held == {(ETH, PositionSide.BOTH): Decimal(-10), ("ADAUSDT", LONG): Decimal(7)}
    assert {(key.symbol, side): pending for (key, side), pending in whole.pending.items()
            if pending.adding or pending.reducing} == {
        (SOL, Side.SELL): Pending(Decimal(0), Decimal(2)), ("XRPUSDT", Side.BUY): Pending(Decimal(0), Decimal(1))}
    assert {symbol: price for (_, symbol), price in whole.prices.items()} == {
        symbol: Decimal(price) for symbol, price in marks.items()}
    assert not any(narrow.positions.values()) and set(narrow.prices) == {(VENUE, SYMBOL)}


# ---- an account that trades several venues (per: account) -----------------------------------------------------

OTHER = Venue.BYBIT


@pytest.mark.parametrize(("elsewhere", "counted", "limit", "committed", "observed"), [
    pytest.param("-2", True, "1000000", True, "150000", id="a short on the other venue counts, at that venue's price"),
    pytest.param("-2", False, "1000000", True, "50000", id="per venue: the other venue is not summed"),
    pytest.param("-2", True, "149999", False, "150000", id="the other venue's position takes it over the limit"),
    pytest.param("0", True, "50000", True, "50000", id="flat elsewhere: nothing more"),
])
async def test_gross_when_the_account_holds_positions_on_another_venue_then_they_count_when_asked(
        store: StateStore, elsewhere: str, counted: bool, limit: str, committed: bool, observed: str) -> None:
    await store.learn(ResponseFacts(positions=(PositionsReport(
        OTHER, ACCOUNT, None, ((SYMBOL, PositionSide.BOTH, Decimal(elsewhere)),)),)))
    reservation_id = f"gx{next(_ids)}"
    leg = PendingEntry(f"{reservation_id}:0", position_key(SYMBOL), Side.BUY, Decimal(1))
    check = GrossCheck("gross", VENUE, ACCOUNT, Decimal(limit), PRICES, True,
                       others=(OTHER,) if counted else (), other_prices=((OTHER, SYMBOL, Decimal(50000)),))
    outcome = await store.reserve(Reservation(reservation_id, pending=(leg,), gross=(check,)))

    assert (outcome.committed, outcome.results[0].observed) == (committed, Decimal(observed))


async def test_view_when_other_venues_asked_then_their_positions_and_prices_come_too(store: StateStore) -> None:
    await store.learn(ResponseFacts(
        positions=(PositionsReport(OTHER, ACCOUNT, None, ((SYMBOL, PositionSide.BOTH, Decimal("-2")),)),),
        prices=(PriceUpdate(OTHER, SYMBOL, Decimal(49000), "mark"),)))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (ETH,), whole_account=True, other_venues=(OTHER,)))
    alone = await store.view(ViewQuery(VENUE, ACCOUNT, (ETH,), whole_account=True))

    assert view.position(PositionKey(OTHER, ACCOUNT, SYMBOL, PositionSide.BOTH)) == Decimal(-2)
    assert view.price(OTHER, SYMBOL) == Decimal(49000)
    assert PositionKey(OTHER, ACCOUNT, SYMBOL, PositionSide.BOTH) not in alone.positions
