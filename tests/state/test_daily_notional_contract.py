"""The daily-notional budgets: the same contract on MemoryStore (fake clock) and RedisStore (real Redis).

A budget holds, for the store's current UTC day, the notional of every leg and order charged to it: a leg its
quantity × price until the venue answers for it, then its order (filled + remaining) × price, giving back what
is left unfilled when it ends. These tests follow an order down every path (admitted, acknowledged, filled,
cancelled, listed, missing from a listing (its charge then stays whole), released, lapsed, amended, replayed) and check
the total after each.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import redis

from riskwall.model import ClosedOrder, NotionalCheck, ResponseFacts, Side
from riskwall.state import StateStore, open_store
from riskwall.state.base import PendingEntry, Reservation, ReserveOutcome
from riskwall.state.breaker import GuardedStore
from riskwall.state.memory import DAY_MS, MemoryStore
from riskwall.state.redis import KeyLayout, RedisStore
from unit.factories import ACCOUNT, SYMBOL, VENUE, FakeClock, facts, open_orders, order_update, position_key

from .conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, Advance, Backend, redis_url

BUDGET = f"daily-notional|{VENUE}|{ACCOUNT}"
ETH = "ETHUSDT"
BIG = "1000000000"
_ids = itertools.count()


def rid() -> str:
    return f"dn{next(_ids)}"


def inner(store: StateStore) -> MemoryStore | RedisStore:
    found = store.inner if isinstance(store, GuardedStore) else store
    assert isinstance(found, MemoryStore | RedisStore)
    return found


async def charged(store: StateStore) -> Decimal:
    return await inner(store).daily_notional(VENUE, ACCOUNT, BUDGET)


async def admit(store: StateStore, qty: str, price: str, *, limit: str = "1000000", reservation_id: str | None = None,
                replaces: str | None = None) -> tuple[str, ReserveOutcome]:
    reservation_id = reservation_id or rid()
    quantity, unit = Decimal(qty), Decimal(price)
    leg = PendingEntry(f"{reservation_id}:0", position_key(), Side.BUY, quantity, replaces,
                       opens=replaces is None, budgets=(BUDGET,), price=unit)
    check = NotionalCheck("daily-notional", VENUE, ACCOUNT, BUDGET, Decimal(limit), quantity * unit, True,
                          (replaces,) if replaces else ())
    return reservation_id, await store.reserve(Reservation(reservation_id, pending=(leg,), notional=(check,)))


async def test_charge_when_order_moves_through_its_life_then_budget_holds_filled_plus_open(store: StateStore) -> None:
    reservation_id, outcome = await admit(store, "2", "100")
    assert outcome.committed and outcome.results[0].observed == Decimal(200)
    assert await charged(store) == Decimal(200)
    await store.learn(facts(order_update("o1", "2", "0", reservation_id=f"{reservation_id}:0")))
    assert await charged(store) == Decimal(200)
    await store.release(reservation_id)
    assert await charged(store) == Decimal(200)
    await store.learn(facts(order_update("o1", "2", "0.5")))
    assert await charged(store) == Decimal(200)
    await store.learn(facts(order_update("o1", "2", "0.5", final=True)))  # cancelled: 1.5 unfilled given back
    assert await charged(store) == Decimal(50)
    await store.learn(facts(order_update("o1", "2", "0.5", final=True)))  # replayed: nothing more
    assert await charged(store) == Decimal(50)


@pytest.mark.parametrize("ending", ["release", "refused", "closed"])
async def test_give_back_when_order_ends_unfilled_then_budget_empty(store: StateStore, ending: str) -> None:
    reservation_id, _ = await admit(store, "3", "10.5")
    assert await charged(store) == Decimal("31.5")
    if ending == "release":
        await store.release(reservation_id)
    elif ending == "refused":
        await store.learn(facts(order_update("o2", "3", "0", final=True, reservation_id=f"{reservation_id}:0")))
    else:
        await store.learn(facts(order_update("o2", "3", "0", reservation_id=f"{reservation_id}:0")))
        await store.learn(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "o2"),)))
    assert await charged(store) == Decimal(0)


@pytest.mark.parametrize(("final_executed", "expected"), [
    pytest.param("0.5", "5.25", id="its-final-word-says-part-filled-first"),
    pytest.param("0", "0", id="its-final-word-says-nothing-filled"),
])
async def test_closed_when_confirmed_by_id_then_a_fill_its_final_word_reveals_is_charged(
    store: StateStore, final_executed: str, expected: str
) -> None:
    # a cancel answered with the id only (Bybit, OKX, Bitget) gives the open part back at once; the order's own final
    # word (a stream's cancel event, an order query) then says what filled before the cancel reached the venue
    reservation_id, _ = await admit(store, "3", "10.5")
    await store.learn(facts(order_update("o2", "3", "0", reservation_id=f"{reservation_id}:0")))
    await store.learn(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "o2"),)))
    await store.learn(facts(order_update("o2", "3", final_executed, final=True)))
    await store.learn(facts(order_update("o2", "3", final_executed, final=True)))  # replayed: nothing more
    assert await charged(store) == Decimal(expected)


async def test_listing_when_an_order_is_gone_from_it_then_its_charge_stays_whole(store: StateStore) -> None:
    # a listing cannot say whether the order filled unseen or was cancelled elsewhere, and no later report would
    # charge a fill the sidecar never saw: the order keeps what it held
    reservation_id, _ = await admit(store, "3", "10.5")
    await store.learn(facts(order_update("o2", "3", "0", reservation_id=f"{reservation_id}:0")))
    await store.learn(facts(open_orders()))
    assert await charged(store) == Decimal("31.5")


async def test_reserve_when_budget_would_be_exceeded_then_refused_and_nothing_charged(store: StateStore) -> None:
    await admit(store, "9", "100", limit="1000")
    _, outcome = await admit(store, "2", "100", limit="1000")
    assert not outcome.committed and outcome.results[0].observed == Decimal(1100)
    assert await charged(store) == Decimal(900)
    _, outcome = await admit(store, "1", "100", limit="1000")
    assert outcome.committed and await charged(store) == Decimal(1000)


async def test_amend_when_order_resized_then_charged_at_new_size_in_place_of_open_part(store: StateStore) -> None:
    first, _ = await admit(store, "2", "100", limit="500")
    await store.learn(facts(order_update("o3", "2", "0", reservation_id=f"{first}:0")))
    await store.release(first)
    amend, outcome = await admit(store, "4", "100", limit="500", replaces="o3")
    assert outcome.committed and outcome.results[0].observed == Decimal(400)
    await store.learn(facts(order_update("o3", "4", "0", reservation_id=f"{amend}:0")))
    await store.release(amend)
    assert await charged(store) == Decimal(400)


async def test_reserve_when_same_id_again_then_legs_replaced_not_added(store: StateStore) -> None:
    reservation_id, _ = await admit(store, "5", "100", limit="600")
    _, outcome = await admit(store, "5", "100", limit="600", reservation_id=reservation_id)
    assert outcome.committed and await charged(store) == Decimal(500)


def symbol_budget(symbol: str) -> str:
    return f"{BUDGET}|{symbol}"


async def charged_to(store: StateStore, key: str) -> Decimal:
    return await inner(store).daily_notional(VENUE, ACCOUNT, key)


@dataclass(frozen=True)
class Leg:
    """One leg of a reservation: quantity × price charged to `budgets` (the account budget by default)."""

    qty: str
    price: str
    symbol: str = SYMBOL
    budgets: tuple[str, ...] = (BUDGET,)
    replaces: str | None = None


async def reserve_legs(store: StateStore, *legs: Leg, limits: dict[str, str] | None = None,
                       reservation_id: str | None = None, enforced: bool = True) -> tuple[str, ReserveOutcome]:
    """Reserve `legs` the way the engine does: one check per budget, adding up the notional of the legs charged
    to it (and naming the orders they amend)."""
    reservation_id = reservation_id or rid()
    pending = tuple(
        PendingEntry(f"{reservation_id}:{i}", position_key(leg.symbol), Side.BUY, Decimal(leg.qty), leg.replaces,
                     opens=leg.replaces is None, budgets=leg.budgets, price=Decimal(leg.price))
        for i, leg in enumerate(legs)
    )
    adding: dict[str, Decimal] = {}
    replaces: dict[str, tuple[str, ...]] = {}
    for leg in legs:
        for key in leg.budgets:
            adding[key] = adding.get(key, Decimal(0)) + Decimal(leg.qty) * Decimal(leg.price)
            replaces[key] = replaces.get(key, ()) + ((leg.replaces,) if leg.replaces else ())
    checks = tuple(
        NotionalCheck("daily-notional", VENUE, ACCOUNT, key, Decimal((limits or {}).get(key, BIG)), total, enforced,
                      replaces[key])
        for key, total in adding.items()
    )
    return reservation_id, await store.reserve(Reservation(reservation_id, pending=pending, notional=checks))


def seen(outcome: ReserveOutcome) -> list[tuple[Decimal, bool]]:
    return [(r.observed, r.passed) for r in outcome.results]


# ---- batches and per-symbol budgets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "after"),
    [
        pytest.param(("ack", "ack"), "350", id="both-acknowledged"),
        pytest.param(("ack", "refused"), "200", id="second-refused-gives-its-charge-back"),
        pytest.param(("filled", "release"), "200", id="first-filled-second-unanswered-released"),
        pytest.param(("release",), "0", id="no-answer-released"),
    ],
)
async def test_charge_when_batch_has_two_legs_then_each_leg_charges_and_gives_back_on_its_own(
    store: StateStore, answers: tuple[str, ...], after: str
) -> None:
    reservation_id, outcome = await reserve_legs(store, Leg("2", "100"), Leg("1.5", "100", symbol=ETH))
    assert outcome.committed and seen(outcome) == [(Decimal(350), True)]
    assert await charged(store) == Decimal(350)

    for index, answer in enumerate(answers):
        leg_id = f"{reservation_id}:{index}"
        qty, symbol = ("2", SYMBOL) if index == 0 else ("1.5", ETH)
        if answer == "ack":
            await store.learn(facts(order_update(f"b{index}", qty, "0", symbol=symbol, reservation_id=leg_id)))
        elif answer == "filled":
            await store.learn(facts(order_update(f"b{index}", qty, qty, final=True, symbol=symbol,
                                                 reservation_id=leg_id)))
        elif answer == "refused":
            await store.learn(facts(order_update(f"b{index}", qty, "0", final=True, symbol=symbol,
                                                 reservation_id=leg_id)))
    await store.release(reservation_id)

    assert await charged(store) == Decimal(after)


async def test_reserve_when_batch_legs_together_exceed_the_budget_then_the_whole_batch_is_refused(
    store: StateStore,
) -> None:
    await reserve_legs(store, Leg("3", "100"), limits={BUDGET: "1000"})

    # each leg alone would fit (700); together they would take the day to 1100
    _, refused = await reserve_legs(store, Leg("4", "100"), Leg("4", "100", symbol=ETH), limits={BUDGET: "1000"})
    after_refused = await charged(store)
    _, fits = await reserve_legs(store, Leg("3", "100"), Leg("4", "100", symbol=ETH), limits={BUDGET: "1000"})

    assert (refused.committed, seen(refused)) == (False, [(Decimal(1100), False)])
    assert after_refused == Decimal(300)
    assert (fits.committed, seen(fits)) == (True, [(Decimal(1000), True)])
    assert await charged(store) == Decimal(1000)


@pytest.mark.parametrize(
    ("legs", "committed", "results", "after"),
    [
        pytest.param((Leg("1", "400", SYMBOL),), True, [("900", True)], {SYMBOL: "900", ETH: "200"},
                     id="btc-fits-its-own-budget"),
        pytest.param((Leg("1.5", "400", SYMBOL),), False, [("1100", False)], {SYMBOL: "500", ETH: "200"},
                     id="btc-over-its-own-budget"),
        pytest.param((Leg("8", "100", ETH),), True, [("1000", True)], {SYMBOL: "500", ETH: "1000"},
                     id="eth-has-its-own-room-although-btc-and-eth-together-exceed-one-budget"),
        pytest.param((Leg("4", "100", SYMBOL), Leg("4", "100", ETH)), True, [("900", True), ("600", True)],
                     {SYMBOL: "900", ETH: "600"}, id="batch-within-each-symbol"),
        pytest.param((Leg("6", "100", SYMBOL), Leg("4", "100", ETH)), False, [("1100", False), ("600", True)],
                     {SYMBOL: "500", ETH: "200"}, id="batch-over-one-symbol-refused-whole"),
    ],
)
async def test_reserve_when_budgets_are_per_symbol_then_each_symbol_has_its_own(
    store: StateStore, legs: tuple[Leg, ...], committed: bool, results: list[tuple[str, bool]],
    after: dict[str, str]
) -> None:
    per_symbol = {symbol_budget(SYMBOL): "1000", symbol_budget(ETH): "1000"}
    await reserve_legs(store, Leg("5", "100", SYMBOL, (symbol_budget(SYMBOL),)),
                       Leg("2", "100", ETH, (symbol_budget(ETH),)), limits=per_symbol)

    _, outcome = await reserve_legs(
        store, *(Leg(leg.qty, leg.price, leg.symbol, (symbol_budget(leg.symbol),)) for leg in legs),
        limits=per_symbol)

    assert (outcome.committed, seen(outcome)) == (committed, [(Decimal(v), ok) for v, ok in results])
    assert {s: await charged_to(store, symbol_budget(s)) for s in (SYMBOL, ETH)} == {
        s: Decimal(v) for s, v in after.items()}
    assert await charged(store) == Decimal(0)  # nothing was charged to the account's budget


async def test_charge_when_leg_carries_account_and_symbol_budgets_then_both_hold_it_and_both_give_it_back(
    store: StateStore,
) -> None:
    both = (BUDGET, symbol_budget(SYMBOL))
    reservation_id, outcome = await reserve_legs(store, Leg("2", "250", budgets=both))
    await store.learn(facts(order_update("o9", "2", "0.5", reservation_id=f"{reservation_id}:0")))
    held = [await charged(store), await charged_to(store, symbol_budget(SYMBOL))]
    await store.learn(facts(order_update("o9", "2", "0.5", final=True)))

    assert outcome.committed and held == [Decimal(500), Decimal(500)]
    assert [await charged(store), await charged_to(store, symbol_budget(SYMBOL))] == [Decimal(125), Decimal(125)]


# ---- lapse -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hold_ms", [0, 200], ids=["refused-released-now", "fate-unknown-lapsed-after-the-hold"])
async def test_release_when_admitted_legs_got_no_answer_then_a_refusal_gives_the_charge_back_and_a_hold_keeps_it(
    store: StateStore, advance: Advance, hold_ms: int
) -> None:
    # released at once: the venue refused it. Held: whether the venue took it, and what it filled, is not known
    # (a read or a listing that ends the hold shows a fill, never charges one): its charge stays for the day
    reservation_id, _ = await reserve_legs(store, Leg("2", "100"), Leg("1", "50", symbol=ETH))

    await store.release(reservation_id, hold_ms)
    held = await charged(store)
    await advance(hold_ms + 150)
    await reserve_legs(store, Leg("1", "1", symbol=ETH))  # a script touches the account: lapses run
    await store.release(reservation_id, 0)  # nothing left to give back: nothing given twice

    assert held == (Decimal(0) if hold_ms == 0 else Decimal(250))
    assert await charged(store) == (Decimal(1) if hold_ms == 0 else Decimal(251))


@pytest.mark.redis
async def test_reserve_when_redis_reservation_is_never_released_then_its_charge_lapses_after_the_ttl(
    redis_prefix: str,
) -> None:
    store = open_store(redis_url(redis_prefix, reservation_ttl_ms=200, timeout_ms=2000, probe_timeout_ms=5000))
    try:
        _, first = await reserve_legs(store, Leg("6", "100"), limits={BUDGET: "1000"})  # its sidecar died
        _, blocked = await reserve_legs(store, Leg("5", "100"), limits={BUDGET: "1000"})
        await asyncio.sleep(0.35)
        _, after_lapse = await reserve_legs(store, Leg("5", "100"), limits={BUDGET: "1000"})
        total = await charged(store)
    finally:
        await store.close()

    assert first.committed and (blocked.committed, seen(blocked)) == (False, [(Decimal(1100), False)])
    assert (after_lapse.committed, seen(after_lapse)) == (True, [(Decimal(500), True)])
    assert total == Decimal(500)


# ---- amends -----------------------------------------------------------------------------------------------


async def resting(store: StateStore, order_id: str, qty: str, price: str, executed: str = "0") -> None:
    """An order admitted at `price` and acknowledged by the venue (with `executed` filled)."""
    reservation_id, outcome = await reserve_legs(store, Leg(qty, price))
    assert outcome.committed
    await store.learn(facts(order_update(order_id, qty, "0", reservation_id=f"{reservation_id}:0")))
    await store.release(reservation_id)
    if executed != "0":
        await store.learn(facts(order_update(order_id, qty, executed)))


async def test_amend_when_venue_refuses_it_then_the_order_keeps_its_old_charge(store: StateStore) -> None:
    await resting(store, "o5", "2", "100")

    amend, outcome = await reserve_legs(store, Leg("4", "150", replaces="o5"), limits={BUDGET: "700"})
    while_pending = await charged(store)
    await store.release(amend)  # the venue refused the amend: no order update, the leg is released
    after_refusal = await charged(store)
    await store.learn(facts(order_update("o5", "2", "0", final=True)))  # then the order is cancelled

    assert (outcome.committed, seen(outcome)) == (True, [(Decimal(600), True)])  # 200 - 200 open + 600
    assert (while_pending, after_refusal) == (Decimal(800), Decimal(200))
    assert await charged(store) == Decimal(0)


@pytest.mark.parametrize(
    ("amend_qty", "amend_price", "checked", "acknowledged", "cancelled"),
    [
        # filled 0.5 @ 100 = 50 stays; open 1.5 @ 100 = 150 is replaced by the amend's notional
        pytest.param("3", "100", "350", "300", "100", id="grown-at-the-same-price"),
        pytest.param("2", "120", "290", "230", "110", id="repriced"),
        pytest.param("1", "100", "150", "100", "100", id="shrunk-to-what-fills-next"),
    ],
)
async def test_amend_when_order_partly_filled_then_filled_part_stays_and_open_part_moves_to_the_new_price(
    store: StateStore, amend_qty: str, amend_price: str, checked: str, acknowledged: str, cancelled: str
) -> None:
    await resting(store, "o6", "2", "100", executed="0.5")
    assert await charged(store) == Decimal(200)

    amend, outcome = await reserve_legs(store, Leg(amend_qty, amend_price, replaces="o6"))
    await store.learn(facts(order_update("o6", amend_qty, "0.5", reservation_id=f"{amend}:0")))
    await store.release(amend)
    after_ack = await charged(store)
    await store.learn(facts(order_update("o6", amend_qty, "1", final=amend_qty == "1")))  # 0.5 more fills
    await store.learn(facts(order_update("o6", amend_qty, "1", final=True)))  # the rest is cancelled

    assert (outcome.committed, seen(outcome)) == (True, [(Decimal(checked), True)])
    assert after_ack == Decimal(acknowledged)
    assert await charged(store) == Decimal(cancelled)


async def test_amend_when_it_would_exceed_the_budget_then_refused_and_the_order_keeps_its_charge(
    store: StateStore,
) -> None:
    await resting(store, "o7", "2", "100")
    await reserve_legs(store, Leg("5", "100"))

    _, over = await reserve_legs(store, Leg("6", "100", replaces="o7"), limits={BUDGET: "1000"})
    _, fits = await reserve_legs(store, Leg("5", "100", replaces="o7"), limits={BUDGET: "1000"})

    assert (over.committed, seen(over)) == (False, [(Decimal(1100), False)])
    assert (fits.committed, seen(fits)) == (True, [(Decimal(1000), True)])
    assert await charged(store) == Decimal(1200)  # the amend's leg holds 500 until the venue answers for it


async def test_reserve_when_shadow_check_fails_then_committed_and_charged(store: StateStore) -> None:
    await reserve_legs(store, Leg("9", "100"))

    _, outcome = await reserve_legs(store, Leg("2", "100"), limits={BUDGET: "1000"}, enforced=False)

    assert (outcome.committed, seen(outcome)) == (True, [(Decimal(1100), False)])
    assert await charged(store) == Decimal(1100)


# ---- the UTC day ------------------------------------------------------------------------------------------


async def test_day_when_utc_midnight_passes_then_budget_starts_empty() -> None:
    # memory only: the Redis clock cannot be moved (the Redis day arithmetic is checked on a value written for
    # yesterday below)
    clock = FakeClock(3 * DAY_MS - 1000)  # one second before midnight
    store = MemoryStore(clock=clock)
    reservation_id, _ = await admit(store, "2", "100")
    await store.learn(facts(order_update("o4", "2", "0", reservation_id=f"{reservation_id}:0")))
    unanswered, _ = await admit(store, "1", "100")
    assert await charged(store) == Decimal(300)

    clock.advance(1000)
    today = await charged(store)
    await store.learn(facts(order_update("o4", "2", "1")))  # yesterday's order fills today: not charged today
    await store.learn(facts(order_update("o4", "2", "1", final=True)))  # nor is anything given back
    await store.release(unanswered)  # yesterday's unanswered leg gives nothing back either
    _, outcome = await admit(store, "10", "100", limit="1000")

    assert today == Decimal(0)
    assert (outcome.committed, outcome.results[0].observed) == (True, Decimal(1000))
    assert await charged(store) == Decimal(1000)


async def test_amend_when_order_was_charged_yesterday_then_today_charges_the_amend_in_full() -> None:
    clock = FakeClock(3 * DAY_MS - 1000)
    store = MemoryStore(clock=clock)
    reservation_id, _ = await admit(store, "2", "100")
    await store.learn(facts(order_update("o8", "2", "0", reservation_id=f"{reservation_id}:0")))
    await store.release(reservation_id)

    clock.advance(1000)
    amend, outcome = await admit(store, "3", "100", replaces="o8", limit="300")
    await store.learn(facts(order_update("o8", "3", "0", reservation_id=f"{amend}:0")))
    await store.release(amend)
    acknowledged = await charged(store)
    await store.learn(facts(order_update("o8", "3", "0", final=True)))

    assert (outcome.committed, outcome.results[0].observed) == (True, Decimal(300))
    assert acknowledged == Decimal(300)
    assert await charged(store) == Decimal(0)


@pytest.mark.redis
async def test_day_when_redis_budget_was_written_yesterday_then_it_counts_as_empty(redis_prefix: str) -> None:
    store = open_store(redis_url(redis_prefix, timeout_ms=2000, probe_timeout_ms=5000))
    day_key = KeyLayout(redis_prefix).account(VENUE, ACCOUNT)[KeyLayout.ACCOUNT_KEYS.index("day")]
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, decode_responses=True)
    try:
        seconds, _ = client.time()
        client.hset(day_key, BUDGET, f"{seconds * 1000 // DAY_MS - 1}|999")  # as yesterday left it
        before = await charged(store)

        _, outcome = await admit(store, "10", "100", limit="1000")
        written = client.hget(day_key, BUDGET)
    finally:
        client.close()
        await store.close()

    assert before == Decimal(0)
    assert (outcome.committed, outcome.results[0].observed) == (True, Decimal(1000))
    assert written is not None and written.split("|")[1] == "1000"


# ---- consistency under a random sequence -----------------------------------------------------------------


@dataclass
class _Order:
    symbol: str
    original: Decimal
    executed: Decimal
    price: Decimal
    filled_value: Decimal  # what its fills hold: each fill at the price the order had when it was applied


@dataclass
class _World:
    """What the sequence has done so far, and what the budget must therefore hold: unanswered legs their
    quantity × price, orders their filled value plus what is open at their price, ended orders their fills."""

    legs: dict[str, dict[str, tuple[str, Decimal, Decimal, str | None]]] = field(default_factory=dict)
    open: dict[str, _Order] = field(default_factory=dict)
    final: dict[str, _Order] = field(default_factory=dict)
    ended_value: Decimal = Decimal(0)
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def expected(self) -> Decimal:
        legs = sum((q * p for legs in self.legs.values() for _, q, p, _ in legs.values()), Decimal(0))
        orders = sum((o.filled_value + (o.original - o.executed) * o.price for o in self.open.values()), Decimal(0))
        return legs + orders + self.ended_value

    def end(self, order_id: str, *, unfilled_known: bool = True) -> None:
        """The order ended; left off a listing (`unfilled_known` False), its open part stays charged too."""
        order = self.open.pop(order_id)
        self.ended_value += order.filled_value
        if not unfilled_known:
            self.ended_value += (order.original - order.executed) * order.price
        self.final[order_id] = order


PRICES = ("100", "99.5", "0.25", "12345.678")
QUANTITIES = ("1", "0.5", "2.25", "0.001")


async def _random_step(store: StateStore, advance: Advance, world: _World, rng: random.Random) -> None:
    op = rng.choice(("admit", "admit", "ack", "ack", "fill", "cancel", "closed", "listing", "release", "hold",
                     "amend", "replay", "again"))
    if op in ("ack", "release", "hold", "again") and not world.legs:
        op = "admit"
    if op in ("fill", "cancel", "closed", "amend") and not world.open:
        op = "admit"
    if op in ("admit", "again"):
        reservation_id = rng.choice(sorted(world.legs)) if op == "again" else None
        legs = [Leg(rng.choice(QUANTITIES), rng.choice(PRICES), rng.choice((SYMBOL, ETH)))
                for _ in range(rng.randint(1, 2))]
        replaced = world.legs.get(reservation_id or "", {})
        before = world.expected() - sum((q * p for _, q, p, _ in replaced.values()), Decimal(0))
        reservation_id, outcome = await reserve_legs(store, *legs, reservation_id=reservation_id)
        assert seen(outcome) == [(before + sum((Decimal(leg.qty) * Decimal(leg.price) for leg in legs), Decimal(0)),
                                  True)]
        world.legs[reservation_id] = {f"{reservation_id}:{i}": (leg.symbol, Decimal(leg.qty), Decimal(leg.price), None)
                                      for i, leg in enumerate(legs)}
    elif op == "amend":
        order_id = rng.choice(sorted(world.open))
        order = world.open[order_id]
        qty = order.executed + Decimal(rng.choice(QUANTITIES))
        price = Decimal(rng.choice(PRICES))
        before = world.expected() - (order.original - order.executed) * order.price  # less its open part
        reservation_id, outcome = await reserve_legs(store, Leg(str(qty), str(price), order.symbol,
                                                                replaces=order_id))
        assert seen(outcome) == [(before + qty * price, True)]
        world.legs[reservation_id] = {f"{reservation_id}:0": (order.symbol, qty, price, order_id)}
    elif op == "ack":
        reservation_id = rng.choice(sorted(world.legs))
        leg_id = rng.choice(sorted(world.legs[reservation_id]))
        symbol, qty, price, replaces = world.legs[reservation_id].pop(leg_id)
        if replaces is None:
            order_id = f"x{next(world.ids)}"
            executed = rng.choice((Decimal(0), Decimal(0), qty / 2, qty))
            final = executed == qty or rng.random() < 0.2
            await store.learn(facts(order_update(order_id, str(qty), str(executed), final=final, symbol=symbol,
                                                 reservation_id=leg_id)))
            world.open[order_id] = _Order(symbol, qty, executed, price, executed * price)
            if final:
                world.end(order_id)
        elif replaces in world.open:
            order = world.open[replaces]
            executed = order.executed + rng.choice((Decimal(0), (qty - order.executed) / 2))
            await store.learn(facts(order_update(replaces, str(qty), str(executed), symbol=symbol,
                                                 reservation_id=leg_id)))
            order.filled_value += (executed - order.executed) * order.price  # filled before the amend applied
            order.original, order.executed, order.price = qty, executed, price
        else:  # the amended order ended before the venue answered for the amend: the answer changes nothing
            await store.learn(facts(order_update(replaces, str(qty), str(world.final[replaces].executed),
                                                 symbol=symbol, reservation_id=leg_id)))
        if not world.legs[reservation_id]:
            await store.release(reservation_id, 0)
            del world.legs[reservation_id]
    elif op in ("fill", "cancel", "closed"):
        order_id = rng.choice(sorted(world.open))
        order = world.open[order_id]
        if op == "closed":
            await store.learn(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, order_id),)))
            world.end(order_id)
        else:
            executed = order.executed + (order.original - order.executed) / (1 if op == "fill" else 2)
            final = op == "cancel" or rng.random() < 0.5
            await store.learn(facts(order_update(order_id, str(order.original), str(executed), final=final,
                                                 symbol=order.symbol)))
            order.filled_value += (executed - order.executed) * order.price
            order.executed = executed
            if final or executed == order.original:
                if not final:
                    await store.learn(facts(order_update(order_id, str(order.original), str(executed), final=True,
                                                         symbol=order.symbol)))
                world.end(order_id)
    elif op == "listing":
        scope = rng.choice((None, SYMBOL, ETH))
        kept = [o for o, order in world.open.items() if (scope is None or order.symbol == scope)
                and rng.random() < 0.6]
        listed = tuple(order_update(o, str(world.open[o].original), str(world.open[o].executed),
                                    symbol=world.open[o].symbol) for o in kept)
        await store.learn(facts(open_orders(*listed, symbol=scope)))
        for order_id in [o for o, order in world.open.items() if (scope is None or order.symbol == scope)
                         and o not in kept]:
            world.end(order_id, unfilled_known=False)
    elif op in ("release", "hold"):
        reservation_id = rng.choice(sorted(world.legs))
        if op == "release":
            await store.release(reservation_id, 0)
        else:  # its fate unknown: what it may have filled stays charged when the hold lapses
            await store.release(reservation_id, 30)
            await advance(60)
            await reserve_legs(store, Leg("1", "1"), reservation_id="toucher")  # touches the account: it lapses
            await store.release("toucher", 0)
            world.ended_value += sum((q * p for _, q, p, _ in world.legs[reservation_id].values()), Decimal(0))
        del world.legs[reservation_id]
    elif op == "replay" and world.final:
        order_id = rng.choice(sorted(world.final))
        order = world.final[order_id]
        await store.learn(facts(order_update(order_id, str(order.original), str(order.executed),
                                             symbol=order.symbol)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
async def test_learn_when_a_random_sequence_of_operations_runs_then_the_budget_equals_what_the_orders_hold(
    backend: Backend, seed: int
) -> None:
    # the same sequence on both stores: each must hold exactly what the model says, after every step
    rng, world = random.Random(seed), _World()
    for step in range(50):
        await _random_step(backend.store, backend.advance, world, rng)
        assert await charged(backend.store) == world.expected(), f"step {step}"


# ---- fleet exactness ------------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize(
    ("sidecars", "attempts", "limit", "qty", "price"),
    [(3, 5, "1000", "1", "75"), (6, 4, "1000", "0.3", "250"), (8, 3, "99999.99", "1", "4761.9")],
)
async def test_reserve_when_sidecars_share_one_redis_then_exactly_floor_of_limit_over_notional_are_admitted(
    redis_prefix: str, sidecars: int, attempts: int, limit: str, qty: str, price: str
) -> None:
    stores = [open_store(redis_url(redis_prefix, timeout_ms=2000, probe_timeout_ms=5000)) for _ in range(sidecars)]
    notional = Decimal(qty) * Decimal(price)
    fit = int(Decimal(limit) // notional)
    assert fit < sidecars * attempts  # more are sent than can fit
    try:
        async def attempt(store: StateStore) -> bool:
            return (await reserve_legs(store, Leg(qty, price), limits={BUDGET: limit}))[1].committed

        results = await asyncio.gather(*(attempt(store) for store in stores for _ in range(attempts)))
        total = await charged(stores[0])
    finally:
        for store in stores:
            await store.close()

    assert sum(results) == fit
    assert total == fit * notional <= Decimal(limit)
