"""The open-orders counters: the same contract on MemoryStore (fake clock) and RedisStore (real Redis).

The max_open_orders rule reads, inside the one reserve step, a counter per account and per account and symbol:
the orders the store holds as open plus the reservation legs that open an order and are not yet answered for.
These tests check that the counters follow every path an order takes (admitted, acknowledged, learned from a
stream, filled, cancelled, listed, missing from a listing, released, lapsed, replayed), that a reservation is
refused at the limit, and that sidecars sharing one Redis never admit more than the limit together.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import redis

from riskwall.model import ClosedOrder, OpenOrdersCheck, PositionSide, ResponseFacts, Side
from riskwall.state import StateStore, open_store
from riskwall.state.base import PendingEntry, Reservation, ReserveOutcome
from riskwall.state.breaker import GuardedStore
from riskwall.state.memory import MemoryStore
from riskwall.state.redis import KeyLayout, RedisStore
from unit.factories import ACCOUNT, SYMBOL, VENUE, facts, open_orders, order_update, position_key

from .conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, Advance, Backend, redis_url

ETH = "ETHUSDT"
SYMBOLS = (SYMBOL, ETH)
BIG = 100_000

_ids = itertools.count()


def rid() -> str:
    return f"oo{next(_ids)}"


def inner(store: StateStore) -> MemoryStore | RedisStore:
    found = store.inner if isinstance(store, GuardedStore) else store
    assert isinstance(found, MemoryStore | RedisStore)
    return found


async def count(store: StateStore, symbol: str | None = None) -> int:
    found: int = await inner(store).open_order_count(VENUE, ACCOUNT, symbol)
    return found


async def counts(store: StateStore) -> tuple[int, dict[str, int]]:
    return await count(store), {symbol: await count(store, symbol) for symbol in SYMBOLS}


def check(limit: int, adding: int = 1, symbol: str | None = None, enforced: bool = True) -> OpenOrdersCheck:
    return OpenOrdersCheck("open-orders", VENUE, ACCOUNT, symbol, limit, adding, enforced)


def leg(reservation_id: str, index: int, symbol: str = SYMBOL, *, opens: bool = True,
        reducing: bool = False) -> PendingEntry:
    return PendingEntry(f"{reservation_id}:{index}", position_key(symbol), Side.SELL if reducing else Side.BUY,
                        Decimal("1"), reducing=reducing, opens=opens)


async def admit(store: StateStore, symbols: tuple[str, ...] = (SYMBOL,), *, limit: int = BIG,
                per_symbol: int | None = None, reservation_id: str | None = None,
                opens: bool = True) -> tuple[str, ReserveOutcome]:
    """Reserve one new order per symbol the way the engine does: its legs, the account check and, when
    `per_symbol` is given, one check per symbol."""
    reservation_id = reservation_id or rid()
    legs = tuple(leg(reservation_id, i, symbol, opens=opens) for i, symbol in enumerate(symbols))
    checks = [check(limit, len(symbols))]
    if per_symbol is not None:
        checks += [check(per_symbol, symbols.count(s), s) for s in dict.fromkeys(symbols)]
    outcome = await store.reserve(Reservation(reservation_id, pending=legs, open_orders=tuple(checks)))
    return reservation_id, outcome


def observed(outcome: ReserveOutcome) -> list[tuple[int, bool]]:
    return [(int(r.observed), r.passed) for r in outcome.results]


# ---- the ground truth: what the store actually holds ------------------------------------------------------


def redis_truth(prefix: str) -> tuple[int, dict[str, int]]:
    """Open orders plus unanswered legs that open one, read off Redis's own hashes (tests only: O(n))."""
    keys = dict(zip(KeyLayout.ACCOUNT_KEYS, KeyLayout(prefix).account(VENUE, ACCOUNT), strict=True))
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, decode_responses=True)
    try:
        symbols = [json.loads(raw)["sym"] for raw in client.hvals(keys["open"])]
        for raw in client.hvals(keys["resv"]):
            legs = json.loads(raw) or {}
            symbols += [entry["k"].rsplit("|", 1)[0] for entry in legs.values() if entry.get("n") == 1]
    finally:
        client.close()
    return len(symbols), {s: symbols.count(s) for s in SYMBOLS}


def memory_truth(store: MemoryStore) -> tuple[int, dict[str, int]]:
    symbols = [order.position.symbol for order in store._open.values()]
    symbols += [entry.position.symbol for legs in store._legs.values() for entry in legs.values() if entry.opens]
    return len(symbols), {s: symbols.count(s) for s in SYMBOLS}


def truth(backend: Backend) -> tuple[int, dict[str, int]]:
    store = inner(backend.store)
    return memory_truth(store) if isinstance(store, MemoryStore) else redis_truth(backend.prefix)


# ---- each learn path ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "after"),
    [
        pytest.param(lambda r: facts(order_update("o1", reservation_id=f"{r}:0")), 1, id="acknowledged-moves-the-leg"),
        pytest.param(lambda r: facts(order_update("o1", executed="0.4", reservation_id=f"{r}:0")), 1,
                     id="partly-filled-still-rests"),
        pytest.param(lambda r: facts(order_update("o1", executed="1", final=True, reservation_id=f"{r}:0")), 0,
                     id="filled-at-once"),
        pytest.param(lambda r: facts(order_update("o1", final=True, reservation_id=f"{r}:0")), 0,
                     id="refused-or-expired-at-once"),
        pytest.param(lambda r: ResponseFacts(), 1, id="no-answer-yet"),
    ],
)
async def test_learn_when_admitted_order_is_answered_then_the_count_follows_the_order(
    store: StateStore, answer: object, after: int
) -> None:
    reservation_id, outcome = await admit(store)
    assert outcome.committed and await count(store) == 1

    await store.learn(answer(reservation_id))  # type: ignore[operator]

    assert await counts(store) == (after, {SYMBOL: after, ETH: 0})


@pytest.mark.parametrize(
    ("later", "after"),
    [
        pytest.param(facts(order_update("o1", executed="1", final=True)), 0, id="fill-frees-a-slot"),
        pytest.param(facts(order_update("o1", final=True)), 0, id="cancel-frees-a-slot"),
        pytest.param(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "o1"),)), 0, id="closed-by-id-frees-a-slot"),
        pytest.param(facts(open_orders(symbol=SYMBOL)), 0, id="listing-without-it-frees-a-slot"),
        pytest.param(facts(open_orders()), 0, id="account-listing-without-it-frees-a-slot"),
        pytest.param(facts(open_orders(symbol=ETH)), 1, id="listing-of-another-symbol-keeps-it"),
        pytest.param(facts(open_orders(order_update("o1"), symbol=SYMBOL)), 1, id="listing-with-it-keeps-it"),
        pytest.param(facts(order_update("o1", executed="0.5")), 1, id="partial-fill-keeps-it"),
        pytest.param(facts(order_update("o1")), 1, id="replayed-ack-counts-once"),
    ],
)
async def test_learn_when_resting_order_changes_then_the_count_follows_it(
    store: StateStore, later: ResponseFacts, after: int
) -> None:
    reservation_id, _ = await admit(store)
    await store.learn(facts(order_update("o1", reservation_id=f"{reservation_id}:0")))

    await store.learn(later)

    assert await counts(store) == (after, {SYMBOL: after, ETH: 0})


async def test_learn_when_final_order_is_replayed_then_it_is_not_counted_again(store: StateStore) -> None:
    await store.learn(facts(order_update("o1"), order_update("o2", symbol=ETH)))
    await store.learn(facts(order_update("o1", final=True)))

    await store.learn(facts(order_update("o1"), open_orders(order_update("o1"), symbol=SYMBOL)))

    assert await counts(store) == (1, {SYMBOL: 0, ETH: 1})


@pytest.mark.parametrize(
    ("listed", "after"),
    [
        pytest.param((), (0, {SYMBOL: 0, ETH: 0}), id="empty-account-listing"),
        pytest.param(("o2",), (1, {SYMBOL: 0, ETH: 1}), id="one-left"),
        pytest.param(("o1", "o2", "o3", "o4"), (4, {SYMBOL: 3, ETH: 1}), id="two-learned-from-the-listing"),
    ],
)
async def test_learn_when_account_listing_arrives_then_the_count_is_the_listing(
    store: StateStore, listed: tuple[str, ...], after: tuple[int, dict[str, int]]
) -> None:
    await store.learn(facts(order_update("o1"), order_update("o2", symbol=ETH)))
    symbols = {"o1": SYMBOL, "o2": ETH, "o3": SYMBOL, "o4": SYMBOL}

    await store.learn(facts(open_orders(*(order_update(o, symbol=symbols[o]) for o in listed))))

    assert await counts(store) == after


@pytest.mark.parametrize("hold_ms", [0, 200], ids=["released-now", "lapsed-after-the-hold"])
async def test_release_when_admitted_order_got_no_answer_then_its_slot_frees_now_or_after_the_hold(
    store: StateStore, advance: Advance, hold_ms: int
) -> None:
    reservation_id, _ = await admit(store, (SYMBOL, ETH))

    await store.release(reservation_id, hold_ms)
    held = await count(store)
    await advance(hold_ms + 150)
    await admit(store, (ETH,), opens=False, limit=BIG)  # a script touches the account: lapses run
    await store.release(reservation_id, 0)

    assert held == (0 if hold_ms == 0 else 2)
    assert await counts(store) == (0, {SYMBOL: 0, ETH: 0})


async def test_reserve_when_same_reservation_is_reserved_again_then_its_legs_are_not_counted_twice(
    store: StateStore,
) -> None:
    reservation_id, first = await admit(store, (SYMBOL, SYMBOL), limit=2, per_symbol=2)

    _, again = await admit(store, (SYMBOL, SYMBOL), limit=2, per_symbol=2, reservation_id=reservation_id)

    assert first.committed and again.committed
    assert observed(again) == [(2, True), (2, True)]
    assert await counts(store) == (2, {SYMBOL: 2, ETH: 0})


async def test_reserve_when_amend_leg_is_admitted_then_it_adds_no_open_order(store: StateStore) -> None:
    await store.learn(facts(order_update("o1")))

    await admit(store, opens=False)

    assert await count(store) == 1


# ---- the check --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resting", "symbols", "limit", "per_symbol", "committed", "seen"),
    [
        pytest.param(2, (SYMBOL,), 3, None, True, [(3, True)], id="up-to-the-account-limit"),
        pytest.param(3, (SYMBOL,), 3, None, False, [(4, False)], id="one-over-the-account-limit"),
        pytest.param(1, (SYMBOL, ETH), 3, None, True, [(3, True)], id="batch-fits"),
        pytest.param(2, (SYMBOL, ETH), 3, None, False, [(4, False)], id="batch-counts-each-leg"),
        pytest.param(2, (SYMBOL,), BIG, 2, False, [(3, True), (3, False)], id="one-over-the-symbol-limit"),
        pytest.param(2, (ETH,), BIG, 2, True, [(3, True), (1, True)], id="other-symbol-has-room"),
    ],
)
async def test_reserve_when_open_orders_are_counted_then_only_orders_within_the_limits_commit(
    store: StateStore, resting: int, symbols: tuple[str, ...], limit: int, per_symbol: int | None, committed: bool,
    seen: list[tuple[int, bool]],
) -> None:
    await store.learn(facts(*(order_update(f"r{i}") for i in range(resting))))

    _, outcome = await admit(store, symbols, limit=limit, per_symbol=per_symbol)

    assert (outcome.committed, observed(outcome)) == (committed, seen)
    assert await count(store) == resting + (len(symbols) if committed else 0)


async def test_reserve_when_shadow_check_fails_then_the_order_commits_and_is_counted(store: StateStore) -> None:
    await store.learn(facts(order_update("r0")))
    reservation_id = rid()

    outcome = await store.reserve(Reservation(reservation_id, pending=(leg(reservation_id, 0),),
                                              open_orders=(check(1, enforced=False),)))

    assert outcome.committed and observed(outcome) == [(2, False)]
    assert await count(store) == 2


async def test_reserve_when_limit_is_reached_then_a_cancel_and_a_fill_each_free_one_slot(store: StateStore) -> None:
    placed = []
    for index in range(3):
        reservation_id, outcome = await admit(store, limit=3)
        assert outcome.committed
        await store.settle(facts(order_update(f"o{index}", reservation_id=f"{reservation_id}:0")), reservation_id)
        placed.append(outcome.committed)

    blocked = (await admit(store, limit=3))[1].committed
    await store.learn(facts(order_update("o0", final=True)))  # cancelled
    after_cancel = (await admit(store, limit=3))[1].committed
    blocked_again = (await admit(store, limit=3))[1].committed
    await store.learn(facts(order_update("o1", executed="1", final=True)))  # filled
    after_fill = (await admit(store, limit=3))[1].committed

    assert (placed, blocked, after_cancel, blocked_again, after_fill) == ([True] * 3, False, True, False, True)


# ---- consistency under a random sequence -----------------------------------------------------------------


@dataclass
class _World:
    """What the sequence has done so far: reservations with unanswered legs, orders the venue has open."""

    legs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # reservation id -> [(leg id, symbol)]
    open: dict[str, str] = field(default_factory=dict)  # order id -> symbol
    final: list[tuple[str, str]] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=itertools.count)


async def _step(store: StateStore, advance: Advance, world: _World, rng: random.Random) -> None:
    op = rng.choice(("admit", "admit", "ack", "ack", "stream", "fill", "cancel", "closed", "listing",
                     "release", "hold", "replay", "again"))
    if op == "admit" or (op in ("ack", "release", "hold", "again") and not world.legs):
        symbols = tuple(rng.choice(SYMBOLS) for _ in range(rng.randint(1, 3)))
        reservation_id, _ = await admit(store, symbols)
        world.legs[reservation_id] = [(f"{reservation_id}:{i}", s) for i, s in enumerate(symbols)]
    elif op == "ack":
        reservation_id = rng.choice(sorted(world.legs))
        leg_id, symbol = world.legs[reservation_id].pop(0)
        order_id = f"x{next(world.ids)}"
        done = rng.random() < 0.25
        await store.learn(facts(order_update(order_id, executed="1" if done else "0", final=done, symbol=symbol,
                                             reservation_id=leg_id)))
        if not done:
            world.open[order_id] = symbol
        if not world.legs[reservation_id]:
            await store.release(reservation_id, 0)
            del world.legs[reservation_id]
    elif op == "stream":
        order_id, symbol = f"x{next(world.ids)}", rng.choice(SYMBOLS)
        await store.learn(facts(order_update(order_id, symbol=symbol)))
        world.open[order_id] = symbol
    elif op in ("fill", "cancel", "closed") and world.open:
        order_id = rng.choice(sorted(world.open))
        symbol = world.open.pop(order_id)
        world.final.append((order_id, symbol))
        if op == "closed":
            await store.learn(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, order_id),)))
        else:
            await store.learn(facts(order_update(order_id, executed="1" if op == "fill" else "0.3", final=True,
                                                 symbol=symbol)))
    elif op == "listing":
        scope = rng.choice((None, *SYMBOLS))
        kept = {o: s for o, s in world.open.items() if (scope is None or s == scope) and rng.random() < 0.6}
        fresh = {f"x{next(world.ids)}": scope or rng.choice(SYMBOLS) for _ in range(rng.randint(0, 2))}
        listed = tuple(order_update(o, symbol=s) for o, s in {**kept, **fresh}.items())
        await store.learn(facts(open_orders(*listed, symbol=scope)))
        world.open = {o: s for o, s in world.open.items() if not (scope is None or s == scope)} | kept | fresh
    elif op in ("release", "hold"):
        reservation_id = rng.choice(sorted(world.legs))
        if op == "release":
            await store.release(reservation_id, 0)
            del world.legs[reservation_id]
        else:
            await store.release(reservation_id, 30)
            await advance(60)
            await admit(store, opens=False)  # touches the account: the hold lapses
            del world.legs[reservation_id]
    elif op == "replay" and world.final:
        order_id, symbol = rng.choice(world.final)
        await store.learn(facts(order_update(order_id, symbol=symbol)))
    elif op == "again" and world.legs:
        reservation_id = rng.choice(sorted(world.legs))
        symbols = tuple(rng.choice(SYMBOLS) for _ in range(rng.randint(1, 3)))
        await admit(store, symbols, reservation_id=reservation_id)
        world.legs[reservation_id] = [(f"{reservation_id}:{i}", s) for i, s in enumerate(symbols)]


def _expected(world: _World) -> tuple[int, dict[str, int]]:
    symbols = list(world.open.values()) + [s for legs in world.legs.values() for _, s in legs]
    return len(symbols), {s: symbols.count(s) for s in SYMBOLS}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_learn_when_a_random_sequence_of_operations_runs_then_counters_equal_the_open_orders(
    backend: Backend, seed: int
) -> None:
    rng, world = random.Random(seed), _World()
    for step in range(40):
        await _step(backend.store, backend.advance, world, rng)
        assert await counts(backend.store) == truth(backend) == _expected(world), f"step {step}"


# ---- fleet exactness ------------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize(("sidecars", "limit"), [(3, 5), (8, 4)])
async def test_reserve_when_sidecars_share_one_redis_then_together_they_never_exceed_the_limit(
    redis_prefix: str, sidecars: int, limit: int
) -> None:
    stores = [open_store(redis_url(redis_prefix, timeout_ms=2000, probe_timeout_ms=5000)) for _ in range(sidecars)]
    try:
        async def attempts(store: StateStore) -> list[bool]:
            return [(await admit(store, (SYMBOL,), limit=BIG, per_symbol=limit))[1].committed for _ in range(limit)]

        results = await asyncio.gather(*(attempts(store) for store in stores))

        assert sum(map(sum, results)) == limit
        assert await count(stores[0]) == await count(stores[0], SYMBOL) == limit
    finally:
        for store in stores:
            await store.close()


async def test_reserve_when_hedge_legs_differ_in_position_side_then_both_count_on_their_symbol(
    store: StateStore,
) -> None:
    legs = (PendingEntry("h1:0", position_key(SYMBOL, PositionSide.LONG), Side.BUY, Decimal(1), opens=True),
            PendingEntry("h1:1", position_key(SYMBOL, PositionSide.SHORT), Side.SELL, Decimal(1), opens=True))

    await store.reserve(Reservation("h1", pending=legs, open_orders=(check(BIG, 2, SYMBOL),)))
    await store.learn(facts(order_update("o1", position_side=PositionSide.LONG, reservation_id="h1:0")))

    assert await counts(store) == (2, {SYMBOL: 2, ETH: 0})


@pytest.mark.redis
async def test_reserve_when_redis_account_predates_the_counters_then_they_are_counted_once_from_its_orders(
    redis_prefix: str,
) -> None:
    store = open_store(redis_url(redis_prefix, timeout_ms=2000, probe_timeout_ms=5000))
    try:
        await store.learn(facts(order_update("o1"), order_update("o2", symbol=ETH), order_update("o3")))
        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB)
        try:  # as an older riskwall left it: the orders, no counters
            client.delete(KeyLayout(redis_prefix).account(VENUE, ACCOUNT)[KeyLayout.ACCOUNT_KEYS.index("cnt")])
        finally:
            client.close()

        _, outcome = await admit(store, (SYMBOL,), limit=BIG, per_symbol=2)

        assert not outcome.committed and observed(outcome) == [(4, True), (3, False)]
        assert await counts(store) == redis_truth(redis_prefix) == (3, {SYMBOL: 2, ETH: 1})
    finally:
        await store.close()
