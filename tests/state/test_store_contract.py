"""The store contract: every test runs unchanged against MemoryStore (fake clock) and RedisStore (real Redis).

`store` and `advance` come from conftest.py, parametrized over both backends. Time-dependent tests use short
windows (a few hundred ms) because the Redis store reads Redis's own clock, so `advance` really waits there.
Amounts are compared as Decimals: the stores may spell one value differently ("1.50" and "1.5").
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import replace
from decimal import Decimal

import pytest
import redis

from riskwall.decider import UNANSWERED_HOLD_MS, held_by
from riskwall.model import (
    Action,
    ClosedOrder,
    KnownOrder,
    ParsedRequest,
    Pending,
    PositionSide,
    ResponseFacts,
    Side,
    TradingState,
    priced_symbol,
)
from riskwall.state import StateStore
from riskwall.state.base import (
    DuplicateCheck,
    ExposureCheck,
    PendingEntry,
    PositionKey,
    RateCheck,
    ReductionCheck,
    Reservation,
    ReserveOutcome,
    StateScope,
    ViewQuery,
)
from riskwall.state.memory import UNANSWERED_SETTLE_MS, MemoryStore
from unit.factories import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SYMBOL,
    VENUE,
    FakeClock,
    exposure_check,
    facts,
    learn_placed,
    make_reservation,
    open_orders,
    order_update,
    pending_entry,
    position_key,
    positions_report,
    price_update,
    rate_check,
    reduction_check,
)

from .conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, Advance, Backend, store_now

ETH = "ETHUSDT"
LONG_WINDOW_MS = 60_000  # a window no test outlives
BOTH, LONG, SHORT = PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT
BUY, SELL = Side.BUY, Side.SELL

_ids = itertools.count()


def rid() -> str:
    return f"d{next(_ids)}"


def plain(value: Decimal) -> str:
    """Decimal text without trailing zeros or exponent (no normalize(): it rounds to the context's 28 digits)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def seen(outcome: ReserveOutcome) -> list[tuple[str, bool]]:
    """Each check's observed value (plain text) and verdict, in the order checked."""
    return [(plain(r.observed), r.passed) for r in outcome.results]


async def reserve(
    store: StateStore,
    reservation_id: str | None = None,
    rate: tuple[RateCheck, ...] = (),
    exposure: tuple[ExposureCheck, ...] = (),
    pending: tuple[PendingEntry, ...] = (),
    reductions: tuple[ReductionCheck, ...] = (),
) -> ReserveOutcome:
    return await store.reserve(make_reservation(reservation_id or rid(), rate, exposure, pending, reductions))


async def reduction(store: StateStore, quantity: str, side: Side = SELL, key: PositionKey | None = None,
                    replaces: str | None = None) -> ReserveOutcome:
    """Reserve one exempt reduction the way the engine does: its bound, and a leg held as a reduction."""
    reservation_id = rid()
    key = key or position_key()
    return await reserve(store, reservation_id, reductions=(reduction_check(quantity, side, key, replaces),),
                         pending=(pending_entry(f"{reservation_id}:0", quantity, side, key, reducing=True),))


async def order(
    store: StateStore,
    quantity: str,
    side: Side = BUY,
    key: PositionKey | None = None,
    limit: str = "1000000",
) -> ReserveOutcome:
    """Reserve one order's exposure the way the engine does: a check and a pending leg of the same size."""
    reservation_id = rid()
    key = key or position_key()
    return await reserve(
        store,
        reservation_id,
        exposure=(exposure_check(quantity, limit, side, key),),
        pending=(pending_entry(f"{reservation_id}:0", quantity, side, key),),
    )


async def worst(
    store: StateStore, side: Side = BUY, key: PositionKey | None = None, replaces: str | None = None
) -> str:
    """The worst case in `side`'s direction right now: a zero-quantity check commits nothing."""
    check = exposure_check("0", "1000000000", side, key or position_key(), replaces_order=replaces)
    outcome = await reserve(store, exposure=(check,))
    return seen(outcome)[0][0]


def amounts(exposure: dict[str, dict[str, str]]) -> dict[str, dict[str, Decimal]]:
    return {key: {name: Decimal(value) for name, value in row.items()} for key, row in exposure.items()}


# ---- rate -------------------------------------------------------------------------------------------------


async def test_reserve_when_rate_limit_reached_then_next_order_refused(store: StateStore) -> None:
    check = rate_check(limit=3, window_ms=LONG_WINDOW_MS)
    outcomes = [await reserve(store, rate=(check,)) for _ in range(5)]

    assert [o.committed for o in outcomes] == [True, True, True, False, False]
    assert [seen(o) for o in outcomes] == [
        [("1", True)], [("2", True)], [("3", True)], [("4", False)], [("4", False)],
    ]


async def test_reserve_when_window_slides_then_expired_orders_free_budget(store: StateStore, advance: Advance) -> None:
    check = rate_check(limit=2, window_ms=400)
    assert (await reserve(store, rate=(check,))).committed  # A at 0
    await advance(200)
    assert (await reserve(store, rate=(check,))).committed  # B at 200
    refused = await reserve(store, rate=(check,))
    await advance(250)  # 450: A has left the window, B has not
    admitted = await reserve(store, rate=(check,))
    refused_again = await reserve(store, rate=(check,))

    assert seen(refused) == [("3", False)] and not refused.committed
    assert seen(admitted) == [("2", True)] and admitted.committed
    assert seen(refused_again) == [("3", False)] and not refused_again.committed


async def test_reserve_when_rule_has_several_windows_then_every_window_must_pass(
    store: StateStore, advance: Advance
) -> None:
    short = rate_check(limit=2, window_ms=300)
    long = rate_check(limit=3, window_ms=LONG_WINDOW_MS)
    first = [await reserve(store, rate=(short, long)) for _ in range(3)]
    await advance(350)
    third = await reserve(store, rate=(short, long))
    fourth = await reserve(store, rate=(short, long))

    assert [o.committed for o in first] == [True, True, False]
    assert seen(first[2]) == [("3", False), ("3", True)]
    assert third.committed and seen(third) == [("1", True), ("3", True)]
    assert not fourth.committed and seen(fourth) == [("2", True), ("4", False)]


async def test_reserve_when_cost_above_one_then_every_order_of_the_batch_counts(store: StateStore) -> None:
    def batch(cost: int) -> RateCheck:
        return rate_check(limit=5, window_ms=LONG_WINDOW_MS, cost=cost)

    outcomes = [await reserve(store, rate=(batch(cost),)) for cost in (3, 3, 2, 1)]

    assert [(o.committed, seen(o)) for o in outcomes] == [
        (True, [("3", True)]), (False, [("6", False)]), (True, [("5", True)]), (False, [("6", False)]),
    ]


async def test_reserve_when_rate_keys_differ_then_each_key_has_its_own_window(store: StateStore) -> None:
    btc = rate_check(limit=1, key=f"{VENUE}|{ACCOUNT}|{SYMBOL}")
    eth = rate_check(limit=1, key=f"{VENUE}|{ACCOUNT}|{ETH}")
    other = rate_check(limit=1, key=f"{VENUE}|{OTHER_ACCOUNT}")

    assert [(await reserve(store, rate=(c,))).committed for c in (btc, eth, other, btc)] == [True, True, True, False]


async def test_reserve_when_two_rules_cover_one_scope_then_each_counts_an_order_once(store: StateStore) -> None:
    # the engine's rate keys carry the rule id: "<rule id>|<venue>|<account>[|<symbol>]"
    checks = tuple(rate_check(limit=2, rule_id=rule, key=f"{rule}|{VENUE}|{ACCOUNT}") for rule in ("burst", "steady"))
    outcomes = [await reserve(store, rate=checks) for _ in range(3)]

    assert [seen(o) for o in outcomes] == [
        [("1", True), ("1", True)], [("2", True), ("2", True)], [("3", False), ("3", False)],
    ]


async def test_reserve_when_enforced_check_fails_then_nothing_is_committed(store: StateStore) -> None:
    reservation_id = rid()
    refused = await reserve(
        store,
        reservation_id,
        rate=(rate_check(limit=10),),
        exposure=(exposure_check("3", "2"),),
        pending=(pending_entry(f"{reservation_id}:0", "3"),),
    )
    after = await reserve(store, rate=(rate_check(limit=10),), exposure=(exposure_check("1", "2"),))

    assert not refused.committed
    assert seen(refused) == [("1", True), ("3", False)]
    assert seen(after) == [("1", True), ("1", True)]  # neither the order nor its exposure was counted
    assert await store.exposure(VENUE, ACCOUNT) == {}


async def test_reserve_when_only_shadow_checks_fail_then_everything_is_committed(store: StateStore) -> None:
    reservation_id = rid()
    shadowed = await reserve(
        store,
        reservation_id,
        rate=(rate_check(limit=1, enforced=False), rate_check(limit=1, key=f"{VENUE}|{ACCOUNT}|{SYMBOL}")),
        exposure=(exposure_check("3", "2", enforced=False),),
        pending=(pending_entry(f"{reservation_id}:0", "3"),),
    )
    again = await reserve(store, rate=(rate_check(limit=1, enforced=False),))

    assert shadowed.committed
    assert seen(shadowed) == [("1", True), ("1", True), ("3", False)]
    assert again.committed and seen(again) == [("2", False)]
    assert await worst(store) == "3"


async def test_reserve_when_same_reservation_id_repeats_then_its_legs_are_replaced(store: StateStore) -> None:
    for quantity in ("2", "3"):
        await reserve(store, "same", exposure=(exposure_check(quantity),), pending=(pending_entry("same:0", quantity),))

    assert await worst(store) == "3"


async def test_reserve_when_amounts_need_34_digits_then_limits_compare_exactly(
    request: pytest.FixtureRequest, backend: Backend, store: StateStore
) -> None:
    await store.learn(facts(order_update("o1", original="1000000000000000", executed="1000000000000000")))
    tiny = "0.000000000000000001"
    over = await reserve(store, exposure=(exposure_check(tiny, "1000000000000000"),))
    at = await reserve(store, exposure=(exposure_check(tiny, "1000000000000000.000000000000000001"),))
    sell = await reserve(store, exposure=(exposure_check(tiny, tiny, SELL),))

    assert (over.committed, seen(over)) == (False, [("1000000000000000.000000000000000001", False)])
    assert at.committed and sell.committed


# ---- exposure ---------------------------------------------------------------------------------------------


async def test_reserve_when_position_pending_and_order_add_up_then_limit_applies_to_the_sum(
    store: StateStore,
) -> None:
    await store.learn(facts(positions_report((SYMBOL, BOTH, "2"))))
    first = await order(store, "3", limit="6")
    second = await order(store, "1", limit="6")
    third = await order(store, "0.5", limit="6")

    assert (first.committed, seen(first)) == (True, [("5", True)])
    assert (second.committed, seen(second)) == (True, [("6", True)])
    assert (third.committed, seen(third)) == (False, [("6.5", False)])


@pytest.mark.parametrize(
    ("position", "buy_worst", "sell_worst"),
    [
        ("2", "5", "2"),  # long 2: buys add to it; a sell first flattens it, so the long counts negative
        ("-2", "1", "6"),  # short 2: the mirror image
        ("0", "3", "4"),
    ],
)
async def test_reserve_when_directions_differ_then_each_direction_has_its_own_worst_case(
    store: StateStore, position: str, buy_worst: str, sell_worst: str
) -> None:
    await store.learn(facts(positions_report((SYMBOL, BOTH, position))))
    await order(store, "3", BUY)
    await order(store, "4", SELL)

    assert (await worst(store, BUY), await worst(store, SELL)) == (buy_worst, sell_worst)


async def test_reserve_when_hedge_sides_differ_then_long_and_short_positions_are_independent(
    store: StateStore,
) -> None:
    long, short = position_key(position_side=LONG), position_key(position_side=SHORT)
    await store.learn(facts(positions_report((SYMBOL, LONG, "5"), (SYMBOL, SHORT, "-3"))))
    await order(store, "1", BUY, long)
    await order(store, "2", SELL, short)

    assert await worst(store, BUY, long) == "6"
    assert await worst(store, SELL, short) == "5"
    assert await worst(store, BUY, position_key()) == "0"  # the one-way key is another position


async def test_reserve_when_accounts_differ_then_their_exposure_is_separate(store: StateStore) -> None:
    mine, theirs = position_key(), position_key(account=OTHER_ACCOUNT)
    await store.learn(facts(positions_report((SYMBOL, BOTH, "4"), account=OTHER_ACCOUNT)))
    await order(store, "2", BUY, mine)

    assert await worst(store, BUY, mine) == "2"
    assert await worst(store, BUY, theirs) == "4"


async def test_reserve_when_amending_an_open_order_then_its_remaining_is_replaced(store: StateStore) -> None:
    await learn_placed(store, order_update("o1", original="3", executed="1"))  # position 1, remaining 2
    amend = exposure_check("5", "100", replaces_order="o1")

    assert seen(await reserve(store, exposure=(amend,))) == [("6", True)]  # 1 + (2 - 2) + 5
    assert await worst(store, BUY, replaces="o1") == "1"
    assert await worst(store, BUY) == "3"  # without the amend the order counts
    assert await worst(store, SELL, replaces="o1") == "-1"  # an order on the other side is not replaced
    assert await worst(store, BUY, replaces="unknown") == "3"


async def test_learn_when_order_is_reduce_only_then_it_adds_nothing_and_pends_as_a_reduction(
    store: StateStore,
) -> None:
    await store.learn(facts(order_update("o1", original="2", side=SELL, reduce_only=True)))

    assert await worst(store, SELL) == "0"  # flat: a reduce-only sell has nothing to reduce, so nothing to fill
    assert amounts(await store.exposure(VENUE, ACCOUNT)) == {
        f"{SYMBOL}|both": {"position": Decimal(0), "pending_buy": Decimal(0), "pending_sell": Decimal(0),
                           "reducing_sell": Decimal(2)},
    }


async def test_exposure_when_positions_legs_and_orders_are_on_different_symbols_then_every_one_is_listed(
    store: StateStore,
) -> None:
    await store.learn(facts(positions_report(("SOLUSDT", BOTH, "3"))))  # a position, nothing pending
    await order(store, "0.4", key=position_key("ETHUSDT"))  # a reservation leg, no answer yet
    await store.learn(facts(order_update("o1", original="2", side=SELL, symbol="XRPUSDT")))  # a resting order
    await store.learn(facts(order_update("o2", original="1", side=SELL, symbol="ADAUSDT", reduce_only=True)))

    assert amounts(await store.exposure(VENUE, ACCOUNT)) == {
        "SOLUSDT|both": {"position": Decimal(3), "pending_buy": Decimal(0), "pending_sell": Decimal(0)},
        "ETHUSDT|both": {"position": Decimal(0), "pending_buy": Decimal("0.4"), "pending_sell": Decimal(0)},
        "XRPUSDT|both": {"position": Decimal(0), "pending_buy": Decimal(0), "pending_sell": Decimal(2)},
        "ADAUSDT|both": {"position": Decimal(0), "pending_buy": Decimal(0), "pending_sell": Decimal(0),
                         "reducing_sell": Decimal(1)},
    }


# ---- reductions: exempt only as far as the position they reduce ------------------------------------------


async def test_reserve_when_reductions_race_for_one_long_then_only_what_it_covers_is_admitted(
    store: StateStore,
) -> None:
    await store.learn(facts(positions_report((SYMBOL, BOTH, "0.7"))))

    first, second = await reduction(store, "0.7"), await reduction(store, "0.7")

    assert (first.committed, seen(first)) == (True, [("0.7", True)])
    assert (second.committed, seen(second)) == (False, [("0", False)])
    assert amounts(await store.exposure(VENUE, ACCOUNT))[f"{SYMBOL}|both"]["reducing_sell"] == Decimal("0.7")


@pytest.mark.parametrize(("pending", "quantity", "admitted", "observed"), [
    ("plain", "0.5", False, "0.2"),  # a plain sell pending takes the long first
    ("reducing", "0.5", False, "0.2"),
    ("plain", "0.2", True, "0.2"),
    ("none", "0.71", False, "0.7"),
])
async def test_reserve_when_orders_already_pend_against_a_position_then_reduction_bound_is_net_of_them(
    store: StateStore, pending: str, quantity: str, admitted: bool, observed: str
) -> None:
    await store.learn(facts(positions_report((SYMBOL, BOTH, "0.7"))))
    if pending != "none":
        await store.learn(facts(order_update("o1", original="0.5", side=SELL, reduce_only=pending == "reducing")))

    outcome = await reduction(store, quantity)

    assert (outcome.committed, seen(outcome)) == (admitted, [(observed, admitted)])


async def test_reserve_when_reduce_only_order_pends_then_a_plain_order_cannot_count_the_same_long_twice(
    store: StateStore,
) -> None:
    # long 0.7 with a reduce-only sell of 0.7 open: were it to fill first, a plain sell of 1 would make a short of
    # 1, not 0.3
    await store.learn(facts(positions_report((SYMBOL, BOTH, "0.7"))))
    await store.learn(facts(order_update("o1", original="0.7", side=SELL, reduce_only=True)))

    assert await worst(store, SELL) == "0"
    outcome = await order(store, "1", SELL, limit="0.5")
    assert (outcome.committed, seen(outcome)) == (False, [("1", False)])


async def test_reserve_when_amend_replaces_a_reduction_then_its_own_pending_is_not_counted_against_it(
    store: StateStore,
) -> None:
    await store.learn(facts(positions_report((SYMBOL, BOTH, "1"))))
    await store.learn(facts(order_update("o1", original="1", side=SELL, reduce_only=True)))

    unrelated = await reduction(store, "1")
    amended = await reduction(store, "1", replaces="o1")

    assert (unrelated.committed, amended.committed) == (False, True)


async def test_view_when_orders_pend_then_it_tells_what_adds_what_reduces_and_what_amended_orders_have_left(
    store: StateStore,
) -> None:
    await learn_placed(store, order_update("o1", original="2", executed="0.5", side=SELL, reduce_only=True),
                       order_update("o2", original="3", side=SELL))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1", "missing")))

    assert view.pending_in(position_key(), SELL) == Pending(Decimal(3), Decimal("1.5"))
    assert view.pending_in(position_key(), BUY) == Pending()
    assert (view.remaining, view.orders) == (
        {"o1": Decimal("1.5")}, {"o1": KnownOrder("o1", SYMBOL, SELL, BOTH, Decimal("0.5"), reduce_only=True)})


# ---- learning ---------------------------------------------------------------------------------------------


async def test_learn_when_update_names_a_reservation_leg_then_exposure_moves_to_the_order(
    store: StateStore,
) -> None:
    await reserve(store, "r1", exposure=(exposure_check("2"),), pending=(pending_entry("r1:0", "2"),))
    await store.learn(facts(order_update("o1", original="2", reservation_id="r1:0")))
    moved = await worst(store)
    await store.release("r1")  # the venue answered: what is left of the reservation goes, the order stays

    assert moved == "2"
    assert await worst(store) == "2"
    await store.learn(facts(order_update("o1", original="2", executed="2", final=True)))
    assert await worst(store) == "2"  # now as position, no longer pending
    assert amounts(await store.exposure(VENUE, ACCOUNT))[f"{SYMBOL}|both"] == {
        "position": Decimal(2), "pending_buy": Decimal(0), "pending_sell": Decimal(0),
    }


async def test_learn_when_batch_reservation_has_several_legs_then_each_leg_moves_alone(store: StateStore) -> None:
    eth = position_key(ETH)
    await reserve(
        store, "b1",
        exposure=(exposure_check("1"), exposure_check("2", side=SELL, position=eth)),
        pending=(pending_entry("b1:0", "1"), pending_entry("b1:1", "2", SELL, eth)),
    )
    await store.learn(facts(order_update("o1", original="1", reservation_id="b1:0")))
    await store.release("b1")  # the second leg was refused by the venue

    assert (await worst(store, BUY), await worst(store, SELL, eth)) == ("1", "0")


async def test_learn_when_same_response_applied_twice_then_nothing_changes_the_second_time(
    store: StateStore,
) -> None:
    await reserve(store, "r1", exposure=(exposure_check("2"),), pending=(pending_entry("r1:0", "2"),))
    await reserve(store, "r2", pending=(pending_entry("r2:0", "1", SELL),))
    response = facts(
        order_update("o1", original="2", executed="0.5", reservation_id="r1:0"),
        order_update("o2", original="1", executed="1", side=SELL, final=True, reservation_id="r2:0"),
        price_update("60000"),
    )
    await store.learn(response)
    once = await store.exposure(VENUE, ACCOUNT)
    await store.learn(response)
    twice = await store.exposure(VENUE, ACCOUNT)
    await store.learn(facts(order_update("o1", original="2", executed="1.25")))

    assert amounts(once) == amounts(twice) == {
        f"{SYMBOL}|both": {"position": Decimal("-0.5"), "pending_buy": Decimal("1.5"), "pending_sell": Decimal(0)},
    }
    assert amounts(await store.exposure(VENUE, ACCOUNT))[f"{SYMBOL}|both"]["position"] == Decimal("0.25")


async def test_learn_when_older_answer_replayed_after_newer_one_then_nothing_changes(store: StateStore) -> None:
    await store.learn(facts(order_update("o1", original="3", executed="0")))
    await store.learn(facts(order_update("o1", original="3", executed="2")))
    await store.learn(facts(order_update("o1", original="3", executed="1")))  # arrives late

    assert amounts(await store.exposure(VENUE, ACCOUNT))[f"{SYMBOL}|both"] == {
        "position": Decimal(2), "pending_buy": Decimal(1), "pending_sell": Decimal(0),
    }


async def test_learn_when_order_confirmed_closed_then_it_is_no_longer_open_and_fills_stay(store: StateStore) -> None:
    await learn_placed(store, order_update("o1", original="3", executed="1"), order_update("o2", original="2"))
    await store.learn(ResponseFacts(closed=(
        ClosedOrder(VENUE, ACCOUNT, "o1"),
        ClosedOrder(VENUE, ACCOUNT, "unknown"),
        ClosedOrder(VENUE, OTHER_ACCOUNT, "o2"),  # another account's o2 is another order
    )))
    await store.learn(facts(order_update("o1", original="3", executed="1")))  # replayed: still gone

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1", "o2")))
    assert sorted(view.orders) == ["o2"]
    # o1's 2 still open when it was cancelled are held (below): o2's 2 and o1's 2
    assert amounts(await store.exposure(VENUE, ACCOUNT))[f"{SYMBOL}|both"] == {
        "position": Decimal(1), "pending_buy": Decimal(4), "pending_sell": Decimal(0),
    }


@pytest.mark.parametrize(("unfilled", "then", "worst_buy"), [
    # the cancel's answer carries the id only (Bybit, OKX, Bitget): o1 may have filled before the cancel reached it,
    # so what it had open is held...
    pytest.param(False, None, "3", id="held-until-the-venue-says"),
    # ...until a position read asked after the cancel's answer shows the position...
    pytest.param(False, "read", "1.5", id="a-read-asked-after-settles-it"),
    # ...but not a read asked before it (the fill may have come between the read and the cancel)...
    pytest.param(False, "early-read", "4.5", id="a-read-asked-before-does-not"),
    # ...or its own final word (a stream's cancel event, an order query) says what it filled first
    pytest.param(False, "filled-half", "1.5", id="its-cancel-event-says-it-filled-half-first"),
    pytest.param(False, "filled-none", "0", id="its-cancel-event-says-nothing-filled"),
    # a conditional order cancelled before it triggered (the venue cancels no other): nothing filled, nothing held
    pytest.param(True, None, "0", id="unfilled-conditional-holds-nothing"),
    pytest.param(True, "filled-none", "0", id="unfilled-conditional-then-its-final-word"),
])
async def test_learn_when_a_single_cancel_is_confirmed_by_id_then_what_it_had_open_waits_for_the_venue(
    backend: Backend, unfilled: bool, then: str | None, worst_buy: str
) -> None:
    store = backend.store
    await store.learn(facts(order_update("o1", original="3")))
    await store.learn(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "o1", unfilled),)))
    if then in ("read", "early-read"):
        asked = store_now(backend) + (AFTER if then == "read" else BEFORE)
        await store.learn(facts(positions_report((SYMBOL, BOTH, "1.5"), symbol=SYMBOL, asked_ms=asked)))
    elif then is not None:
        executed = "1.5" if then == "filled-half" else "0"
        await store.learn(facts(order_update("o1", original="3", executed=executed, final=True)))
        await store.learn(facts(order_update("o1", original="3", executed=executed, final=True)))  # replayed

    assert (await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1",)))).orders == {}
    assert await worst(store) == worst_buy


@pytest.mark.parametrize(("then", "commits"), [
    # it may have filled in part before the cancel reached the venue: long 1 may be long 0.5 already, so a sell of
    # 2 could leave short 1.5 against a limit of 1: refused, as while the close rested...
    pytest.param("a-sell-of-2", False, id="a-sell-past-the-other-sides-limit-is-refused"),
    # ...and the same close placed again is not taken for covered until a read (REDUCING refuses it)
    pytest.param("the-same-close", False, id="the-same-close-waits-for-a-read"),
    pytest.param("a-read-then-the-same-close", True, id="after-a-read-the-same-close-is-a-reduction"),
])
async def test_learn_when_a_reduce_only_order_is_cancelled_by_id_then_what_it_had_open_is_held_as_a_reduction(
    backend: Backend, then: str, commits: bool
) -> None:
    store = backend.store
    await store.learn(facts(positions_report((SYMBOL, BOTH, "1"), symbol=SYMBOL)))
    await store.learn(facts(order_update("c1", original="1", side=SELL, reduce_only=True)))
    await store.learn(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "c1"),)))
    if then == "a-read-then-the-same-close":
        await store.learn(facts(positions_report((SYMBOL, BOTH, "1"), symbol=SYMBOL,
                                                 asked_ms=store_now(backend) + AFTER)))

    if then == "a-sell-of-2":
        outcome = await store.reserve(make_reservation("r2", exposure=(exposure_check("2", "1", SELL),)))
    else:
        outcome = await store.reserve(make_reservation("r2", reductions=(reduction_check("1"),)))
    assert outcome.committed is commits, outcome.results


async def test_learn_when_snapshot_lists_one_kind_of_order_then_other_kinds_are_kept(store: StateStore) -> None:
    algo = replace(order_update("a1", original="4"), kind="algo")
    await store.learn(facts(order_update("o1", original="1"), algo))
    query = ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1", "a1"))
    # the regular book is empty; algo orders are listed apart
    await store.learn(facts(replace(open_orders(symbol=SYMBOL), cancelled=True)))
    regular_listed = sorted((await store.view(query)).orders)
    await store.learn(facts(replace(open_orders(symbol=SYMBOL), kind="algo", cancelled=True)))

    assert (regular_listed, sorted((await store.view(query)).orders)) == (["a1"], [])


async def test_learn_when_order_becomes_final_then_pending_is_released_and_fills_kept(store: StateStore) -> None:
    await learn_placed(store, order_update("o1", original="2", executed="0.5"))
    partly = await worst(store)
    await store.learn(facts(order_update("o1", original="2", executed="1.5", final=True)))
    # a stale non-final update after the final one changes nothing
    await store.learn(facts(order_update("o1", original="2", executed="0.5")))

    assert partly == "2"
    assert amounts(await store.exposure(VENUE, ACCOUNT)) == {
        f"{SYMBOL}|both": {"position": Decimal("1.5"), "pending_buy": Decimal(0), "pending_sell": Decimal(0)},
    }


async def test_learn_when_a_close_of_the_whole_position_is_reported_without_a_size_then_it_holds_its_leg(
    store: StateStore,
) -> None:
    # a stop that closes whatever the position is (Binance closePosition, OKX closeFraction): the venue reports it
    # with no size. Released at its answer, the stop would fire unseen and leave the old long under-counting sells
    await store.learn(facts(order_update("o0", original="0.04")))
    await store.learn(facts(order_update("o0", original="0.04", executed="0.04", final=True)))
    await reserve(store, "d1", pending=(pending_entry("d1:0", "0.04", SELL, reducing=True),))

    await store.learn(facts(order_update("o1", original="0", side=SELL, reservation_id="d1:0", reduce_only=True)))
    answered = await worst(store, SELL)
    await store.learn(facts(order_update("o1", original="0", side=SELL, reduce_only=True)))  # a listing shows it
    listed = await worst(store, SELL)
    await store.learn(facts(order_update("o1", original="0", side=SELL, reduce_only=True, final=True)))

    assert (answered, listed) == ("0", "0")  # the long may be gone: sells are measured from flat
    assert await worst(store, SELL) == "-0.04"


async def test_learn_when_symbol_positions_reported_then_they_replace_only_that_symbol(store: StateStore) -> None:
    await store.learn(facts(order_update("o1", original="1", executed="1", final=True)))
    await store.learn(facts(positions_report((ETH, BOTH, "7"), symbol=ETH)))
    await store.learn(facts(positions_report((SYMBOL, BOTH, "-0.25"), symbol=SYMBOL)))
    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL, ETH)))

    assert view.positions == {position_key(): Decimal("-0.25"), position_key(ETH): Decimal(7)}


async def test_learn_when_account_wide_positions_reported_then_unlisted_positions_are_flat(store: StateStore) -> None:
    await store.learn(facts(positions_report((SYMBOL, BOTH, "1"), (ETH, BOTH, "3"))))
    await store.learn(facts(positions_report((SYMBOL, LONG, "2"))))  # account-wide: ETH and BTC one-way are gone
    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL, ETH)))

    assert view.positions == {
        position_key(): Decimal(0), position_key(ETH): Decimal(0), position_key(position_side=LONG): Decimal(2),
    }
    assert view.position(position_key(position_side=SHORT)) == 0


async def test_learn_when_positions_of_another_account_reported_then_this_account_keeps_its_own(
    store: StateStore,
) -> None:
    await store.learn(facts(positions_report((SYMBOL, BOTH, "1"))))
    await store.learn(facts(positions_report(account=OTHER_ACCOUNT)))

    assert (await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))).positions == {position_key(): Decimal(1)}


async def test_learn_when_open_orders_snapshot_omits_an_order_then_that_order_is_final(store: StateStore) -> None:
    eth = position_key(ETH)
    await store.learn(facts(
        order_update("o1", original="1"),
        order_update("o2", original="2"),
        order_update("o3", original="4", symbol=ETH),
    ))
    await store.learn(facts(open_orders(order_update("o2", original="2", executed="0.5"), symbol=SYMBOL)))

    # o1 gone, though it may have filled unseen: its 1 held; o2 half filled: position 0.5 + remaining 1.5
    assert await worst(store) == "3"
    assert await worst(store, BUY, eth) == "4"  # another symbol's order is not touched
    await store.learn(facts(order_update("o1", original="1")))  # a late update of a finished order
    assert await worst(store) == "3"


@pytest.mark.parametrize(("read_says", "asked", "position", "pending"), [
    # o1 (1 open) left the listing: filled or cancelled? A position read asked 10 s later tells
    pytest.param("1", UNANSWERED_SETTLE_MS + 5_000, "1", "0", id="read-shows-it-filled"),
    pytest.param("0", UNANSWERED_SETTLE_MS + 5_000, "0", "0", id="read-shows-it-cancelled"),
    pytest.param("0", 1_000, "0", "1", id="read-asked-too-soon-keeps-it-held"),
])
async def test_learn_when_an_order_leaves_a_listing_then_it_is_held_until_a_position_read_shows_what_it_did(
    backend: Backend, read_says: str, asked: int, position: str, pending: str
) -> None:
    # a bot that polls open orders to see its fills: a fill seen only as the order leaving the book is not lost
    store = backend.store
    await store.learn(facts(order_update("o1", original="1")))
    left = store_now(backend)
    await store.learn(facts(open_orders(symbol=SYMBOL)))
    held = amounts(await store.exposure(VENUE, ACCOUNT))[f"{SYMBOL}|both"]
    report = positions_report((SYMBOL, BOTH, read_says), symbol=SYMBOL)

    await store.learn(facts(replace(report, asked_ms=left + asked)))

    row = amounts(await store.exposure(VENUE, ACCOUNT)).get(f"{SYMBOL}|both", {})
    assert held["pending_buy"] == 1
    assert (row.get("position", Decimal(0)), row.get("pending_buy", Decimal(0))) == (Decimal(position),
                                                                                     Decimal(pending))


# a read asked a minute before (or after) what the store learned: far outside the clocks' margin
BEFORE, AFTER = -60_000, 60_000


@pytest.mark.parametrize(("asked", "expected"), [
    pytest.param(BEFORE, {SYMBOL: "1", ETH: "7"}, id="asked-before-the-fill-keeps-the-filled-position"),
    pytest.param(AFTER, {SYMBOL: "0", ETH: "7"}, id="asked-after-the-fill-replaces-it"),
    pytest.param(None, {SYMBOL: "0", ETH: "7"}, id="of-unknown-age-replaces-it"),
])
@pytest.mark.parametrize("scope", [SYMBOL, None], ids=["symbol-report", "account-wide-report"])
async def test_learn_when_position_read_was_asked_before_a_fill_was_learned_then_it_does_not_undo_the_fill(
    backend: Backend, asked: int | None, expected: dict[str, str], scope: str | None
) -> None:
    # a read answered late (another connection, another sidecar) would roll the position back past the fill
    store = backend.store
    await reserve(store, "r1", pending=(pending_entry("r1:0", "1"),))  # placed through the sidecar, then filled
    await store.learn(facts(order_update("o1", original="1", executed="1", final=True, reservation_id="r1:0")))
    rows = ((ETH, BOTH, "7"),) if scope is None else ((SYMBOL, BOTH, "0"),)
    report = positions_report(*rows, symbol=scope)
    eth = positions_report((ETH, BOTH, "7"), symbol=ETH)
    stamped = None if asked is None else store_now(backend) + asked

    await store.learn(facts(eth, dataclasses.replace(report, asked_ms=stamped)))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL, ETH)))
    assert {s: plain(view.position(position_key(s))) for s in (SYMBOL, ETH)} == expected


FILLED_AT = 1_767_225_600_000  # when the venue made the fill, by its clock (ms)


@pytest.mark.parametrize(("made", "expected"), [
    # the bot held its stream back: a push the venue made before the fill comes after the store learned it
    pytest.param(FILLED_AT - 6_600, {SYMBOL: "1", ETH: "7"}, id="made-before-the-fill-leaves-it"),
    pytest.param(FILLED_AT, {SYMBOL: "0", ETH: "7"}, id="made-with-the-fill-replaces-it"),
    pytest.param(FILLED_AT + 1, {SYMBOL: "0", ETH: "7"}, id="made-after-the-fill-replaces-it"),
    pytest.param(None, {SYMBOL: "0", ETH: "7"}, id="undated-replaces-it-as-before"),
])
@pytest.mark.parametrize("scope", [SYMBOL, None], ids=["symbol-push", "account-wide-push"])
@pytest.mark.parametrize("held", [False, True], ids=["fill-moved-the-position", "fill-held-for-an-earlier-read"])
async def test_learn_when_a_push_the_venue_made_before_a_fill_comes_after_it_then_it_does_not_undo_the_fill(
    backend: Backend, made: int | None, expected: dict[str, str], scope: str | None, held: bool
) -> None:
    store = backend.store
    if held:  # the store knew o1 before a read (which may hold its fill): the fill is held, not moved in
        await store.learn(dataclasses.replace(facts(order_update("o1", original="1")),
                                              asked_ms=store_now(backend) + BEFORE))
        await store.learn(facts(positions_report((SYMBOL, BOTH, "0"), symbol=SYMBOL)))
        expected = {**expected, SYMBOL: "0"}  # (the held fill counts on top until a read shows it)
    else:
        await reserve(store, "r1", pending=(pending_entry("r1:0", "1"),))
    await store.learn(facts(order_update("o1", original="1", executed="1", final=True,
                                         reservation_id=None if held else "r1:0", venue_ms=FILLED_AT)))
    rows = ((ETH, BOTH, "7"),) if scope is None else ((SYMBOL, BOTH, "0"),)
    eth = positions_report((ETH, BOTH, "7"), symbol=ETH)
    # stamped with when it came: after the store learned the fill
    push = dataclasses.replace(positions_report(*rows, symbol=scope), asked_ms=store_now(backend) + AFTER,
                               venue_ms=made)

    await store.learn(facts(eth, push))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL, ETH)))
    assert {s: plain(view.position(position_key(s))) for s in (SYMBOL, ETH)} == expected
    if held:  # a stale push is no read that shows the held fill: it stays held
        assert await worst(store) == ("1" if made is not None and made < FILLED_AT else "0")


@pytest.mark.parametrize(("side", "start", "known", "read_says", "position", "worst_buy", "worst_sell"), [
    # the store knew o1 (1, nothing filled) a minute before a position read: the read may hold o1's fill, which
    # the venue reports after it. A buy: the position stays as read, the fill is held as pending in its direction
    pytest.param(BUY, "0", BEFORE, "1", "1", "2", "-1", id="buy-known-before-the-read-is-held"),
    # a sell from long 1 (the unsafe one: moved again it leaves the store short 1, and a buy of 2 would fit a
    # limit of 1 while the venue goes long 2); held, the worst case of a buy stays the flat position read
    pytest.param(SELL, "1", BEFORE, "0", "0", "0", "1", id="sell-known-before-the-read-is-held"),
    # the store knew o1 after the read was learned: the read cannot hold a fill the venue made later
    pytest.param(BUY, "0", AFTER, "0", "1", "1", "-1", id="buy-known-after-the-read-moves-the-position"),
    pytest.param(SELL, "1", AFTER, "1", "0", "0", "0", id="sell-known-after-the-read-moves-the-position"),
])
@pytest.mark.parametrize("known_by", ["placed", "listed"])
async def test_learn_when_a_read_came_after_the_store_last_knew_an_order_then_its_fill_is_held_not_counted_twice(
    backend: Backend, side: Side, start: str, known: int, read_says: str, position: str, worst_buy: str,
    worst_sell: str, known_by: str,
) -> None:
    # a bot that reads its position and then asks after its order (or gets a late answer to placing it): the read
    # already had the fill, and the order's answer reports it again
    store = backend.store
    await store.learn(facts(positions_report((SYMBOL, BOTH, start), symbol=SYMBOL)))
    known_at = store_now(backend) + known
    if known_by == "listed":  # the store learned o1 from an answer asked at known_at; the fill comes in a later one
        await store.learn(dataclasses.replace(facts(order_update("o1", side=side)), asked_ms=known_at))
        filled = dataclasses.replace(facts(order_update("o1", executed="1", final=True, side=side)),
                                     asked_ms=store_now(backend) + AFTER)
    else:  # the bot placed o1 through the sidecar at known_at; the answer to that request reports the fill
        await reserve(store, "r1", exposure=(exposure_check("1", "1000000", side),),
                      pending=(pending_entry("r1:0", "1", side),))
        answer = order_update("o1", executed="1", final=True, side=side, reservation_id="r1:0")
        filled = dataclasses.replace(facts(answer), asked_ms=known_at)
    await store.learn(facts(positions_report((SYMBOL, BOTH, read_says), symbol=SYMBOL)))

    await store.learn(filled)

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))
    assert (plain(view.position(position_key())), await worst(store, BUY), await worst(store, SELL)) == (
        position, worst_buy, worst_sell)


@pytest.mark.parametrize(("asked", "worst_buy"), [
    pytest.param(AFTER, "1", id="read-asked-after-the-fill-was-learned-ends-the-hold"),
    pytest.param(BEFORE, "2", id="read-asked-before-keeps-it"),
])
async def test_learn_when_a_fill_is_held_for_an_earlier_read_then_a_read_asked_after_it_ends_the_hold(
    backend: Backend, asked: int, worst_buy: str
) -> None:
    store = backend.store
    await store.learn(dataclasses.replace(facts(order_update("o1")), asked_ms=store_now(backend) + BEFORE))
    await store.learn(facts(positions_report((SYMBOL, BOTH, "1"), symbol=SYMBOL)))
    await store.learn(facts(order_update("o1", executed="1", final=True)))
    held = await worst(store)
    report = positions_report((SYMBOL, BOTH, "1"), symbol=SYMBOL)

    await store.learn(facts(dataclasses.replace(report, asked_ms=store_now(backend) + asked)))

    assert (held, await worst(store)) == ("2", worst_buy)


async def test_learn_when_a_read_crosses_another_fill_then_it_does_not_end_a_held_fill_it_left_out(
    backend: Backend,
) -> None:
    # A's fill is held (a read came after the store last knew A); B fills after the next read was asked, so that
    # read leaves the position as the store has it: it holds A's fill or not, the store cannot tell, so A stays held
    store = backend.store
    await store.learn(dataclasses.replace(facts(order_update("a", original="5")), asked_ms=store_now(backend) + BEFORE))
    await store.learn(facts(positions_report((SYMBOL, BOTH, "0"), symbol=SYMBOL)))
    await store.learn(facts(order_update("a", original="5", executed="5", final=True)))
    crossing = store_now(backend) + 300  # asked after A's fill was learned, before B's
    await backend.advance(600)
    await reserve(store, "rb", exposure=(exposure_check("3"),), pending=(pending_entry("rb:0", "3"),))
    await store.learn(dataclasses.replace(facts(order_update("b", original="3", executed="3", final=True,
                                                             reservation_id="rb:0")), asked_ms=store_now(backend)))

    await store.learn(facts(positions_report((SYMBOL, BOTH, "5"), symbol=SYMBOL, asked_ms=crossing)))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))
    assert (plain(view.position(position_key())), await worst(store)) == ("3", "8")


async def test_learn_when_two_accounts_hold_fills_of_one_order_id_then_each_read_ends_its_own(
    backend: Backend,
) -> None:
    store = backend.store
    # order ids are the venue's: two accounts (or one reached through two keys) may report the same one
    for account in (ACCOUNT, OTHER_ACCOUNT):
        await store.learn(dataclasses.replace(facts(order_update("123", original="5", account=account)),
                                              asked_ms=0))
        await store.learn(facts(positions_report((SYMBOL, BOTH, "0"), symbol=SYMBOL, account=account)))
        await store.learn(facts(order_update("123", original="5", executed="5", final=True, account=account)))
    asked = store_now(backend) + AFTER

    for account in (ACCOUNT, OTHER_ACCOUNT):
        await store.learn(facts(positions_report((SYMBOL, BOTH, "5"), symbol=SYMBOL, account=account,
                                                 asked_ms=asked)))

    for account in (ACCOUNT, OTHER_ACCOUNT):
        key = position_key(account=account)
        assert await worst(store, BUY, key) == "5", account


@pytest.mark.parametrize(("asked", "kept"), [
    pytest.param(BEFORE, True, id="asked-before-the-order-was-learned-keeps-it"),
    pytest.param(AFTER, False, id="asked-after-ends-it"),
    pytest.param(None, False, id="of-unknown-age-ends-it"),
])
async def test_learn_when_open_orders_listing_was_asked_before_an_order_was_learned_then_the_order_stays(
    backend: Backend, asked: int | None, kept: bool
) -> None:
    # a listing answered late would end orders placed after it was taken (their exposure and count gone)
    store = backend.store
    await store.learn(facts(order_update("o1", original="1")))
    listing = open_orders(symbol=SYMBOL)
    stamped = None if asked is None else store_now(backend) + asked

    await store.learn(facts(dataclasses.replace(listing, asked_ms=stamped)))

    # an order the listing ended is no longer open, but what it had open stays held: it may have filled unseen
    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1",)))
    assert ("o1" in view.orders) is kept
    assert await worst(store) == "1"


async def test_learn_when_snapshot_lists_unknown_order_then_it_counts(store: StateStore) -> None:
    await store.learn(facts(open_orders(order_update("o9", original="3", side=SELL))))

    assert await worst(store, SELL) == "3"


@pytest.mark.parametrize(("then", "worst_buy"), [
    # the venue may have filled o1 before the cancel-all reached it: what o1 had open is held...
    pytest.param(None, "1", id="held-until-the-venue-says"),
    # ...until a position read asked after the cancel-all's answer (the venue ended o1 before answering)
    pytest.param("read", "0.25", id="a-read-asked-after-settles-it"),
    # ...or o1's own final word (a stream's cancel event, an order query) says what it filled
    pytest.param("final", "0.25", id="its-own-cancel-event-settles-it"),
])
@pytest.mark.parametrize("symbol", [SYMBOL, None], ids=["symbol", "account-wide"])
async def test_learn_when_cancel_all_answered_then_its_orders_end_and_what_they_had_open_waits_for_the_venue(
    backend: Backend, symbol: str | None, then: str | None, worst_buy: str
) -> None:
    store = backend.store
    eth = position_key(ETH)
    query = ViewQuery(VENUE, ACCOUNT, (SYMBOL, ETH), ("o1", "o2"))
    await store.learn(facts(order_update("o1", original="1"), order_update("o2", original="2", symbol=ETH)))
    asked = store_now(backend) + 1_000  # after the orders were learned, clocks' margin included
    await store.learn(facts(replace(open_orders(symbol=symbol), cancelled=True, asked_ms=asked)))
    if then == "read":
        rows = ((SYMBOL, BOTH, "0.25"),) if symbol else ((SYMBOL, BOTH, "0.25"), (ETH, BOTH, "0"))
        await store.learn(facts(positions_report(*rows, symbol=symbol, asked_ms=store_now(backend) + AFTER)))
    elif then == "final":
        await store.learn(facts(order_update("o1", original="1", executed="0.25", final=True)))
        if symbol is None:
            await store.learn(facts(order_update("o2", original="2", symbol=ETH, final=True)))

    assert sorted((await store.view(query)).orders) == (["o2"] if symbol else [])
    assert await worst(store) == worst_buy
    assert await worst(store, BUY, eth) == ("2" if symbol or then is None else "0")


async def test_learn_when_prices_seen_then_mark_beats_last(store: StateStore) -> None:
    query = ViewQuery(VENUE, ACCOUNT, (SYMBOL, ETH))
    steps = [
        (price_update("100", "last"), "100"),
        (price_update("101", "mark"), "101"),
        (price_update("102", "last"), "101"),  # a last price never replaces a mark price
        (price_update("103.50", "mark"), "103.5"),
    ]
    observed = []
    for update, _ in steps:
        await store.learn(facts(update))
        observed.append((await store.view(query)).price(VENUE, SYMBOL))

    assert observed == [Decimal(expected) for _, expected in steps]
    assert (await store.view(query)).price(VENUE, ETH) is None


async def test_view_when_queried_then_only_the_account_and_symbols_asked_for_are_returned(store: StateStore) -> None:
    await store.learn(facts(
        positions_report((SYMBOL, BOTH, "1"), (ETH, BOTH, "2"), ("SOLUSDT", BOTH, "3")),
        positions_report((SYMBOL, BOTH, "9"), account=OTHER_ACCOUNT),
        price_update("60000"), price_update("3000", symbol=ETH),
    ))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL, ETH)))
    anonymous = await store.view(ViewQuery(VENUE, None, (SYMBOL,)))

    assert view.positions == {position_key(): Decimal(1), position_key(ETH): Decimal(2)}
    assert view.prices == {(VENUE, SYMBOL): Decimal(60000), (VENUE, ETH): Decimal(3000)}
    assert anonymous.positions == {} and anonymous.prices == {(VENUE, SYMBOL): Decimal(60000)}


# ---- release ----------------------------------------------------------------------------------------------


async def test_release_when_answered_then_pending_goes_at_once(store: StateStore) -> None:
    await order(store, "2")
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(pending_entry("r1:0", "3"),))
    before = await worst(store)
    await store.release("r1")
    await store.release("r1")  # twice is harmless
    await store.release("never-reserved")

    assert (before, await worst(store)) == ("5", "2")


async def test_release_when_held_then_pending_lapses_after_the_hold(store: StateStore, advance: Advance) -> None:
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(pending_entry("r1:0", "3"),))
    await store.release("r1", after_ms=300)
    held = await worst(store)
    await advance(400)

    assert (held, await worst(store)) == ("3", "0")


async def test_release_when_hold_ran_out_then_exposure_report_shows_no_pending(
    store: StateStore, advance: Advance
) -> None:
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(pending_entry("r1:0", "3"),))
    await store.release("r1", after_ms=200)
    await advance(300)

    assert await store.exposure(VENUE, ACCOUNT) == {}


LATE = UNANSWERED_SETTLE_MS + 5_000  # asked long enough after the hold began: the order had reached the venue
EARLY = UNANSWERED_SETTLE_MS - 5_000
# a read asked after the listing; one asked in the listing's own millisecond may have been taken before it
AFTER_LISTING = LATE + 1
PLACED_BOOK = "mix:USDT-FUTURES"  # where conditional orders place theirs when they trigger (not "order")


@pytest.mark.parametrize(("read", "listing", "rests", "worst_buy", "pending"), [
    # the hold began at 0; the read says long 3 (the order filled): once the hold ends the worst case is that 3;
    # while it lasts, 3 more are held on top
    pytest.param((AFTER_LISTING, SYMBOL), (LATE, SYMBOL), False, "3", "0", id="read-and-listing-of-its-symbol-settle"),
    pytest.param((LATE, SYMBOL), (LATE, SYMBOL), False, "6", "3", id="a-read-in-the-listings-millisecond-does-not"),
    pytest.param((AFTER_LISTING, None), (LATE, None), False, "3", "0", id="account-wide-read-and-listing-settle"),
    pytest.param((LATE, SYMBOL), None, False, "6", "3", id="a-read-alone-does-not"),
    pytest.param(None, (LATE, SYMBOL), False, "3", "3", id="a-listing-alone-does-not"),  # (no read: flat)
    pytest.param((EARLY, SYMBOL), (LATE, SYMBOL), False, "6", "3", id="a-read-asked-too-soon-does-not"),
    pytest.param((LATE, SYMBOL), (EARLY, SYMBOL), False, "6", "3", id="a-listing-asked-too-soon-does-not"),
    pytest.param((None, SYMBOL), (LATE, SYMBOL), False, "6", "3", id="a-read-of-unknown-age-does-not"),
    # a read of ETH says nothing of the BTC order: its 3 stay held on the flat BTC position
    pytest.param((AFTER_LISTING, ETH), (LATE, SYMBOL), False, "3", "3", id="a-read-of-another-symbol-does-not"),
    pytest.param((AFTER_LISTING, SYMBOL), (LATE, ETH), False, "6", "3", id="a-listing-of-another-symbol-does-not"),
    # the order rests, half filled: the read has the 1.5 filled, the listing the 1.5 open, which counts from then on;
    # the fill the listing reports is held too until the next read (the read before it may hold it, and did)
    pytest.param((AFTER_LISTING, SYMBOL), (LATE, SYMBOL), True, "4.5", "3", id="a-resting-order-counts-as-listed"),
])
async def test_release_when_held_then_a_position_read_and_a_listing_asked_long_enough_after_end_the_hold(
    backend: Backend, read: tuple[int | None, str | None] | None, listing: tuple[int, str | None] | None,
    rests: bool, worst_buy: str, pending: str,
) -> None:
    # an order whose answer never came (the bot dropped its connection): held until a read shows what it filled
    # and a listing shows whether it rests, not released on a timer (nor by a read alone) while it goes unseen
    store = backend.store
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(pending_entry("r1:0", "3"),))
    began = store_now(backend)
    await store.release("r1", after_ms=UNANSWERED_HOLD_MS)
    learned = []
    if read is not None:
        asked, scope = read
        report = positions_report((scope or SYMBOL, BOTH, "1.5" if rests else "3"), symbol=scope)
        learned.append(dataclasses.replace(report, asked_ms=None if asked is None else began + asked))
    if listing is not None:
        asked, scope = listing
        shown = (order_update("o1", original="3", executed="1.5"),) if rests else ()
        learned.append(dataclasses.replace(open_orders(*shown, symbol=scope), asked_ms=began + asked))

    for taught in learned:
        await store.learn(facts(taught))

    assert await worst(store) == worst_buy
    assert Decimal((await store.exposure(VENUE, ACCOUNT)).get(f"{SYMBOL}|both", {}).get("pending_buy", "0")) == (
        Decimal(pending))


@pytest.mark.parametrize(("leg_kind", "listing_kind", "settles"), [
    ("order", "order", True),
    ("algo", "algo", True),
    ("linear:USDT", "linear:USDT", True),
    # Binance lists algo orders apart from regular ones (OKX likewise; Bybit per settle coin): a listing of the other
    # kind does not show the order, which may rest on its own book unfilled
    ("order", "algo", False),
    ("algo", "order", False),
    ("linear:USDT", "linear:USDC", False),
])
async def test_release_when_held_then_only_a_listing_of_the_kind_that_shows_its_order_ends_the_hold(
    backend: Backend, leg_kind: str, listing_kind: str, settles: bool,
) -> None:
    store = backend.store
    leg = dataclasses.replace(pending_entry("r1:0", "3"), kind=leg_kind)
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(leg,))
    began = store_now(backend)
    await store.release("r1", after_ms=UNANSWERED_HOLD_MS)
    read = dataclasses.replace(positions_report((SYMBOL, BOTH, "3"), symbol=SYMBOL), asked_ms=began + AFTER_LISTING)
    listing = dataclasses.replace(open_orders(symbol=SYMBOL), kind=listing_kind, asked_ms=began + LATE)

    await store.learn(facts(read))
    await store.learn(facts(listing))

    # the read has the 3 filled; the 3 the order held stay held on top until a listing of its kind is learned
    assert await worst(store) == ("3" if settles else "6")


@pytest.mark.parametrize(("listings", "settles"), [
    # a conditional order whose answer was lost may rest untriggered (its own book shows it) or have triggered,
    # and the order the venue placed for it may rest in the regular book: both must be listed, the regular book no
    # earlier than its own (it may have triggered between the two). Each listing: (kind, asked ms after LATE)
    pytest.param((("plan", 0),), False, id="its-own-book-alone"),
    pytest.param(((PLACED_BOOK, 0),), False, id="the-placed-book-alone"),
    pytest.param((("plan", 0), (PLACED_BOOK, 1)), True, id="its-own-book-then-the-placed-book"),
    # asked in the same millisecond: the venue may have read the placed book first
    pytest.param((("plan", 0), (PLACED_BOOK, 0)), False, id="the-placed-book-asked-in-the-same-millisecond"),
    pytest.param((("plan", 0), (PLACED_BOOK, 1_000)), True, id="the-placed-book-asked-later"),
    pytest.param(((PLACED_BOOK, 0), ("plan", 1_000)), False, id="the-placed-book-asked-before-its-own"),
    pytest.param(((PLACED_BOOK, 0), ("plan", 1_000), (PLACED_BOOK, 2_000)), True,
                 id="the-placed-book-again-after-its-own"),
    pytest.param((("plan", 1_000), (PLACED_BOOK, 0)), False, id="the-placed-book-learned-after-but-asked-before"),
    pytest.param((("plan", 0), ("order", 0)), False, id="its-own-book-and-another"),
])
async def test_release_when_a_conditional_orders_answer_was_lost_then_the_hold_waits_for_the_book_it_places_in(
    backend: Backend, listings: tuple[tuple[str, int], ...], settles: bool
) -> None:
    store = backend.store
    leg = dataclasses.replace(pending_entry("r1:0", "3"), kind="plan", triggers_into=PLACED_BOOK)
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(leg,))
    began = store_now(backend)
    await store.release("r1", after_ms=UNANSWERED_HOLD_MS)

    for kind, later in listings:
        await store.learn(facts(dataclasses.replace(open_orders(symbol=SYMBOL), kind=kind,
                                                    asked_ms=began + LATE + later)))
    # the read after them all: one asked before a listing does not hold what the order filled since
    await store.learn(facts(positions_report((SYMBOL, BOTH, "0"), symbol=SYMBOL, asked_ms=began + LATE + 3_000)))

    assert await worst(store) == ("0" if settles else "3")


@pytest.mark.parametrize(("conditional", "read_asked", "settles"), [
    # the order rested at the read, then filled before the listing showed it gone: only a read asked no earlier
    # than the listing holds that fill
    (False, -500, False),
    # asked in the same millisecond: the venue may have taken either first
    (False, 0, False),
    (False, 1, True),
    (False, 500, True),
    # a conditional order: no earlier than the listing of the book it places its order in, either
    (True, 500, False),
    (True, 1_500, True),
])
async def test_release_when_the_read_was_asked_before_the_listing_then_the_hold_waits_for_a_later_read(
    backend: Backend, conditional: bool, read_asked: int, settles: bool
) -> None:
    store = backend.store
    leg = dataclasses.replace(pending_entry("r1:0", "3"), kind="plan", triggers_into=PLACED_BOOK) if conditional \
        else pending_entry("r1:0", "3")
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(leg,))
    began = store_now(backend)
    await store.release("r1", after_ms=UNANSWERED_HOLD_MS)
    read = positions_report((SYMBOL, BOTH, "0"), symbol=SYMBOL, asked_ms=began + LATE + read_asked)

    await store.learn(facts(read))  # learned first, asked when it says
    for kind, later in ((("plan", 0), (PLACED_BOOK, 1_000)) if conditional else (("order", 0),)):
        await store.learn(facts(dataclasses.replace(open_orders(symbol=SYMBOL), kind=kind,
                                                    asked_ms=began + LATE + later)))

    assert await worst(store) == ("0" if settles else "3")


async def test_release_when_held_then_released_at_once_then_pending_goes_at_once(store: StateStore) -> None:
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(pending_entry("r1:0", "3"),))
    await store.release("r1", after_ms=60_000)
    await store.release("r1")

    assert await worst(store) == "0"


async def test_release_when_held_order_was_acknowledged_then_its_order_still_counts(
    store: StateStore, advance: Advance
) -> None:
    await reserve(store, "r1", exposure=(exposure_check("3"),), pending=(pending_entry("r1:0", "3"),))
    await store.learn(facts(order_update("o1", original="3", reservation_id="r1:0")))
    await store.release("r1", after_ms=200)
    await advance(300)

    assert await worst(store) == "3"


# ---- trading states ---------------------------------------------------------------------------------------


async def test_set_trading_state_when_set_and_cleared_then_listing_follows(store: StateStore) -> None:
    everywhere = StateScope()
    account = StateScope(str(VENUE), ACCOUNT)
    symbol = StateScope(str(VENUE), None, SYMBOL)
    await store.set_trading_state(everywhere, TradingState.HALTED, "exchange incident", "oncall")
    await store.set_trading_state(account, TradingState.REDUCING, "drawdown", "risk-bot")
    await store.set_trading_state(symbol, TradingState.HALTED, 'delisting "soon" — ✓/ü', "ops")
    await store.set_trading_state(everywhere, TradingState.ACTIVE, "resolved", "oncall")
    await store.set_trading_state(symbol, TradingState.REDUCING, "delisting soon", "ops")
    await store.set_trading_state(StateScope(str(VENUE), OTHER_ACCOUNT), TradingState.ACTIVE, "never set", "ops")

    records = await store.trading_states()
    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))

    assert {r.scope: (r.state, r.reason, r.actor) for r in records} == {
        account: (TradingState.REDUCING, "drawdown", "risk-bot"),
        symbol: (TradingState.REDUCING, "delisting soon", "ops"),
    }
    assert all(r.at_ms > 0 for r in records)
    assert set(view.trading_states) == set(records)


# ---- status -----------------------------------------------------------------------------------------------


async def test_exposure_when_account_has_positions_orders_and_reservations_then_all_are_listed(
    store: StateStore,
) -> None:
    await learn_placed(
        store,
        order_update("o1", original="2", side=SELL, symbol="SOLUSDT"),
        order_update("o2", original="1", executed="0.25", position_side=LONG),
    )
    await store.learn(facts(positions_report((SYMBOL, BOTH, "1.5"), (SYMBOL, LONG, "0.25"), (ETH, BOTH, "0"))))
    await reserve(store, "r1", exposure=(exposure_check("0.75"),), pending=(pending_entry("r1:0", "0.75"),))
    await store.learn(facts(positions_report((SYMBOL, BOTH, "5"), account=OTHER_ACCOUNT)))

    report = await store.exposure(VENUE, ACCOUNT)

    assert list(report) == [f"{SYMBOL}|both", f"{SYMBOL}|long", f"{ETH}|both", "SOLUSDT|both"]
    assert amounts(report) == {
        f"{SYMBOL}|both": {"position": Decimal("1.5"), "pending_buy": Decimal("0.75"), "pending_sell": Decimal(0)},
        f"{SYMBOL}|long": {"position": Decimal("0.25"), "pending_buy": Decimal("0.75"), "pending_sell": Decimal(0)},
        f"{ETH}|both": {"position": Decimal(0), "pending_buy": Decimal(0), "pending_sell": Decimal(0)},
        "SOLUSDT|both": {"position": Decimal(0), "pending_buy": Decimal(0), "pending_sell": Decimal(2)},
    }
    assert await store.exposure(VENUE, "nobody") == {}


async def test_view_when_orders_named_then_open_ones_come_with_symbol_side_and_position_side(
    store: StateStore,
) -> None:
    from riskwall.state.base import ViewQuery

    await store.learn(facts(
        order_update("open-sell", original="2", side=Side.SELL, position_side=PositionSide.SHORT),
        order_update("done", original="1", executed="1", final=True),
    ))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("open-sell", "done", "never-seen")))

    assert view.orders == {"open-sell": KnownOrder("open-sell", SYMBOL, Side.SELL, PositionSide.SHORT)}


# ---- duplicate orders -------------------------------------------------------------------------------------

SHORT_WINDOW_MS = 300


def duplicate_check(fingerprint: str = "f00d", window_ms: int = LONG_WINDOW_MS, rule_id: str = "dup",
                    account: str = ACCOUNT, enforced: bool = True) -> DuplicateCheck:
    return DuplicateCheck(rule_id, VENUE, account, fingerprint, window_ms, enforced)


async def admit(store: StateStore, *checks: DuplicateCheck, reservation_id: str | None = None,
                rate: tuple[RateCheck, ...] = ()) -> ReserveOutcome:
    return await store.reserve(Reservation(reservation_id or rid(), rate, duplicates=checks))


def duplicate_seen(outcome: ReserveOutcome) -> list[tuple[str, bool, str | None]]:
    """Each duplicate check's identical-order count, verdict and the decision it repeats."""
    return [(plain(r.observed), r.passed, dict(r.detail).get("duplicate_of")) for r in outcome.results
            if isinstance(r.check, DuplicateCheck)]


async def test_reserve_when_same_fingerprint_admitted_within_window_then_refused_naming_the_first(
    store: StateStore,
) -> None:
    first = await admit(store, duplicate_check(), reservation_id="first")
    second = await admit(store, duplicate_check(), reservation_id="second")
    third = await admit(store, duplicate_check(), reservation_id="third")

    assert [o.committed for o in (first, second, third)] == [True, False, False]
    assert duplicate_seen(first) == [("1", True, None)]
    assert duplicate_seen(second) == duplicate_seen(third) == [("2", False, "first")]  # refused ones record nothing
    ago = int(dict(second.results[0].detail)["ago_ms"])
    assert 0 <= ago < LONG_WINDOW_MS


async def test_reserve_when_window_has_passed_then_same_fingerprint_admitted_again(
    store: StateStore, advance: Advance
) -> None:
    check = duplicate_check(window_ms=SHORT_WINDOW_MS)
    assert (await admit(store, check)).committed
    await advance(SHORT_WINDOW_MS + 50)

    again = await admit(store, check, reservation_id="again")
    right_after = await admit(store, check)

    assert again.committed and not right_after.committed
    assert duplicate_seen(right_after) == [("2", False, "again")]  # the window starts again at each admission


@pytest.mark.parametrize(
    ("other", "committed"),
    [
        pytest.param(duplicate_check(), False, id="same-rule-account-and-fingerprint"),
        pytest.param(duplicate_check(fingerprint="beef"), True, id="other-fingerprint"),
        pytest.param(duplicate_check(rule_id="dup-2"), True, id="other-rule"),
        pytest.param(duplicate_check(account=OTHER_ACCOUNT), True, id="other-account"),
    ],
)
async def test_reserve_when_another_fingerprint_rule_or_account_then_independent(
    store: StateStore, other: DuplicateCheck, committed: bool
) -> None:
    assert (await admit(store, duplicate_check())).committed

    assert (await admit(store, other)).committed is committed


async def test_reserve_when_another_check_refuses_then_fingerprint_is_not_recorded(store: StateStore) -> None:
    full = rate_check(limit=1, window_ms=LONG_WINDOW_MS)
    assert (await reserve(store, rate=(full,))).committed

    refused = await admit(store, duplicate_check(), rate=(full,))
    alone = await admit(store, duplicate_check())

    assert not refused.committed and duplicate_seen(refused) == [("1", True, None)]
    assert alone.committed  # the refused order never reached the venue: its twin is no duplicate


async def test_reserve_when_same_reservation_reserved_again_then_not_a_duplicate_of_itself(store: StateStore) -> None:
    assert (await admit(store, duplicate_check(), reservation_id="same")).committed

    again = await admit(store, duplicate_check(), reservation_id="same")

    assert again.committed and duplicate_seen(again) == [("1", True, None)]


async def test_reserve_when_duplicate_check_not_enforced_then_admitted_and_recorded_as_the_latest(
    store: StateStore,
) -> None:
    shadow = duplicate_check(enforced=False)
    assert (await admit(store, shadow, reservation_id="one")).committed

    repeated = await admit(store, shadow, reservation_id="two")
    enforced = await admit(store, duplicate_check())

    assert repeated.committed and duplicate_seen(repeated) == [("2", False, "one")]
    assert duplicate_seen(enforced) == [("2", False, "two")]


async def test_reserve_when_batch_checks_several_fingerprints_then_all_or_nothing(store: StateStore) -> None:
    assert (await admit(store, duplicate_check("b"))).committed

    batch = await admit(store, duplicate_check("a"), duplicate_check("b"), duplicate_check("c"))
    after = await admit(store, duplicate_check("a"), duplicate_check("c"))

    assert not batch.committed
    assert [passed for _, passed, _ in duplicate_seen(batch)] == [True, False, True]
    assert after.committed  # nothing of the refused batch was recorded


async def test_reserve_when_windows_have_passed_then_no_fingerprint_is_kept(
    store: StateStore, advance: Advance, backend: Backend
) -> None:
    for number in range(5):
        assert (await admit(store, duplicate_check(f"f{number}", window_ms=SHORT_WINDOW_MS))).committed
    await advance(SHORT_WINDOW_MS + 50)
    assert (await admit(store, duplicate_check("late", window_ms=SHORT_WINDOW_MS))).committed  # prunes on the way

    if backend.kind == "memory":
        assert isinstance(store, MemoryStore)
        assert list(store._seen) == [("dup", VENUE, ACCOUNT, "late")]
    else:
        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB)
        try:
            keys = sorted(k.decode() for k in client.scan_iter(match=f"{backend.prefix}:*:dup:*"))
            assert [k.rsplit("|", 1)[1] for k in keys] == ["late"]
            assert 0 < client.pttl(keys[0]) <= SHORT_WINDOW_MS
        finally:
            client.close()


async def test_reserve_when_memory_holds_more_fingerprints_than_its_bound_then_the_soonest_to_expire_go() -> None:
    store = MemoryStore(clock=FakeClock())
    store.duplicate_limit = 3
    for number in range(5):
        assert (await admit(store, duplicate_check(f"f{number}", window_ms=LONG_WINDOW_MS + number))).committed

    assert sorted(key[3] for key in store._seen) == ["f2", "f3", "f4"]
    assert len(store._seen_expiry) <= 3


@pytest.mark.parametrize(("vanished_first", "read", "listing", "worst_buy"), [
    # the algo order triggered: its own answer says nothing of what the order it placed filled: 10 held
    pytest.param(False, False, None, "10", id="held-on-the-trigger"),
    # the read says long 10, but the placed order might rest: the 10 stay held on top until a listing of the book
    # it was placed in (the one its report names)
    pytest.param(False, True, None, "20", id="a-read-alone-does-not-settle-it"),
    pytest.param(False, True, PLACED_BOOK, "10", id="a-read-and-a-listing-show-it-filled"),
    pytest.param(False, True, "order", "20", id="a-listing-of-another-book-does-not"),
    # it left an algo listing first (held as vanished); its trigger report must not end that hold with a fill of 0
    pytest.param(True, False, None, "10", id="its-trigger-report-does-not-end-a-vanished-hold"),
])
async def test_learn_when_a_conditional_order_triggered_then_what_it_had_open_waits_for_a_read_and_a_listing(
    backend: Backend, vanished_first: bool, read: bool, listing: str | None, worst_buy: str
) -> None:
    store = backend.store
    algo = replace(order_update("a1", original="10"), kind="algo")
    await store.learn(facts(algo))
    if vanished_first:
        await store.learn(facts(replace(open_orders(symbol=SYMBOL), kind="algo",
                                        asked_ms=store_now(backend) + 1_000)))
    await store.learn(facts(replace(algo, final=True, fills_elsewhere=PLACED_BOOK)))
    later = store_now(backend) + AFTER
    if read:  # asked after the listing: it holds what that showed
        await store.learn(facts(positions_report((SYMBOL, BOTH, "10"), symbol=SYMBOL, asked_ms=later + 1)))
    if listing is not None:
        await store.learn(facts(replace(open_orders(symbol=SYMBOL), kind=listing, asked_ms=later)))

    assert await worst(store) == worst_buy


@pytest.mark.parametrize(("triggers_into", "then", "worst_buy"), [
    # gone from a listing of conditional orders: it may have triggered, and the order it placed may rest unknown
    pytest.param(PLACED_BOOK, (), "10", id="held"),
    pytest.param(PLACED_BOOK, ("read",), "10", id="a-read-alone-does-not-settle-it"),
    pytest.param(PLACED_BOOK, ("read", "placed-book-empty"), "0", id="a-read-and-its-book-show-nothing-rests"),
    pytest.param(PLACED_BOOK, ("read", "placed-book-lists-it"), "10", id="the-placed-order-rests-and-counts-once"),
    pytest.param(PLACED_BOOK, ("read", "another-book-empty"), "10", id="a-listing-of-another-book-does-not"),
    # a listing of orders that place none (the regular book): a read alone settles it
    pytest.param(None, ("read",), "0", id="a-plain-listing-waits-for-a-read-only"),
])
async def test_learn_when_a_conditional_order_leaves_its_listing_then_what_it_had_open_waits_for_the_book_it_places_in(
    backend: Backend, triggers_into: str | None, then: tuple[str, ...], worst_buy: str
) -> None:
    store = backend.store
    await store.learn(facts(replace(order_update("a1", original="10"), kind="plan")))
    await store.learn(facts(replace(open_orders(symbol=SYMBOL), kind="plan", triggers_into=triggers_into,
                                    asked_ms=store_now(backend) + 1_000)))
    later = store_now(backend) + AFTER  # past the 10 s a listing may lag
    placed = replace(order_update("o9", original="10"), kind=PLACED_BOOK)
    for step in then:
        if step == "read":  # asked after the listings
            await store.learn(facts(positions_report((SYMBOL, BOTH, "0"), symbol=SYMBOL, asked_ms=later + 1)))
        elif step == "placed-book-empty":
            await store.learn(facts(replace(open_orders(symbol=SYMBOL), kind=PLACED_BOOK, asked_ms=later)))
        elif step == "placed-book-lists-it":
            await store.learn(facts(replace(open_orders(placed, symbol=SYMBOL), kind=PLACED_BOOK, asked_ms=later)))
        else:
            await store.learn(facts(replace(open_orders(symbol=SYMBOL), asked_ms=later)))

    assert await worst(store) == worst_buy


@pytest.mark.parametrize(("rows", "scope", "worst_short"), [
    # a push of the LONG row alone (Binance ACCOUNT_UPDATE lists what changed) says nothing of the SHORT side
    pytest.param(((SYMBOL, LONG, "1"),), SYMBOL, "5", id="a-report-of-the-other-side-does-not-settle"),
    pytest.param(((SYMBOL, LONG, "1"), (SYMBOL, SHORT, "0")), SYMBOL, "0", id="a-report-of-its-side-settles"),
    pytest.param(((SYMBOL, LONG, "1"),), None, "0", id="an-account-wide-report-settles"),  # unlisted: flat
])
async def test_learn_when_hedge_mode_positions_are_reported_one_side_then_only_that_sides_holds_settle(
    backend: Backend, rows: tuple[tuple[str, PositionSide, str], ...], scope: str | None, worst_short: str
) -> None:
    store = backend.store
    short = position_key(position_side=SHORT)
    await reserve(store, "r1", exposure=(exposure_check("5", side=SELL, position=short),),
                  pending=(pending_entry("r1:0", "5", SELL, short),))
    began = store_now(backend)
    await store.release("r1", after_ms=UNANSWERED_HOLD_MS)  # its answer was lost
    await store.learn(facts(replace(open_orders(symbol=SYMBOL), asked_ms=began + LATE)))

    await store.learn(facts(positions_report(*rows, symbol=scope, asked_ms=began + AFTER_LISTING)))

    assert await worst(store, SELL, short) == worst_short


@pytest.mark.parametrize(("relisted_asked", "worst_after_read"), [
    # the next listing, asked after A vanished, shows A resting: A is open again and counts after the read
    pytest.param(AFTER, "5", id="a-later-listing-showing-it-reopens-it"),
    # an older answer replayed (asked before A vanished) says nothing new: the read ends the hold
    pytest.param(BEFORE, "0", id="an-older-answer-replayed-does-not"),
])
async def test_learn_when_an_order_that_vanished_from_a_listing_is_listed_again_then_it_counts_as_open(
    backend: Backend, relisted_asked: int, worst_after_read: str
) -> None:
    # a listing that lagged omitted A (held as vanished); the next one shows it resting
    store = backend.store
    await store.learn(facts(order_update("a", original="5")))
    await store.learn(facts(replace(open_orders(symbol=SYMBOL), asked_ms=store_now(backend) + 1_000)))
    await backend.advance(300)
    relisted = open_orders(order_update("a", original="5"), symbol=SYMBOL)
    await store.learn(facts(replace(relisted, asked_ms=store_now(backend) + relisted_asked)))

    await store.learn(facts(positions_report((SYMBOL, BOTH, "0"), symbol=SYMBOL,
                                             asked_ms=store_now(backend) + UNANSWERED_SETTLE_MS + AFTER)))

    assert await worst(store) == worst_after_read


# ---- prices of a venue's testnet or demo book are that book's ---------------------------------------------


@pytest.mark.parametrize(("environment", "price"), [("", "50000"), ("testnet", "5"), ("demo", None)])
async def test_view_when_prices_were_learned_in_several_environments_then_each_reads_only_its_own(
    store: StateStore, environment: str, price: str | None
) -> None:
    live = ParsedRequest(VENUE, Action.READ, "GET /fapi/v1/premiumIndex")
    await store.learn(held_by(facts(price_update("50000")), live))
    await store.learn(held_by(facts(price_update("5")), dataclasses.replace(live, environment="testnet")))
    query = ViewQuery(VENUE, ACCOUNT, (SYMBOL,), environment=environment)

    view = await store.view(query)
    cached = store.cached_view(query)  # the Redis store's copy of what it read last

    expected = None if price is None else Decimal(price)
    assert view.prices.get((VENUE, SYMBOL)) == expected and view.environment == environment
    assert cached is None or cached.prices.get((VENUE, SYMBOL)) == expected
    assert priced_symbol(SYMBOL, "testnet") == f"{SYMBOL}@testnet"


# ---- an order first heard of once it ended: when it filled is not known ---------------------------------------


@pytest.mark.parametrize(("side", "worst_buy", "worst_sell"), [
    # long 1 from the fill the store saw: an old sell a bot queries after a restart, moved into the position,
    # would leave it flat, and a buy of 1 would pass a limit of 1 while the venue goes long 2 (its position
    # never held the old order's buy either); held, it only makes a sell look bigger
    (SELL, "1", "0"),
    (BUY, "2", "-1"),
])
@pytest.mark.parametrize("final", [True, False], ids=["ended", "open-part-filled"])
async def test_learn_when_an_order_is_first_heard_of_with_a_fill_then_its_fill_is_held_never_moved(
    backend: Backend, side: Side, worst_buy: str, worst_sell: str, final: bool
) -> None:
    store = backend.store
    await reserve(store, "r1", pending=(pending_entry("r1:0", "1"),))
    await store.learn(facts(order_update("mine", original="1", executed="1", final=True, reservation_id="r1:0")))

    # ended, or resting part filled (then cancelled, so that only the fill is left to count)
    await store.learn(facts(order_update("old", original="1" if final else "2", executed="1", side=side,
                                         final=final)))
    if not final:
        await store.learn(facts(order_update("old", original="2", executed="1", side=side, final=True)))

    assert (await worst(store, BUY), await worst(store, SELL)) == (worst_buy, worst_sell)
    # a position read asked after it shows where the position is
    await store.learn(facts(positions_report((SYMBOL, BOTH, "1"), asked_ms=store_now(backend) + AFTER)))
    assert (await worst(store, BUY), await worst(store, SELL)) == ("1", "-1")


# ---- an answer asked before the store last knew an order never shrinks it ------------------------------------


@pytest.mark.parametrize(("listing_asked", "worst_buy"), [
    # asked before the amend went out, answered after its answer was learned: it shows the size the order had
    pytest.param(BEFORE // 2, "5", id="listing-asked-before-the-amend-keeps-its-size"),
    # asked in the amend's own millisecond: the venue may have listed it first
    pytest.param(0, "5", id="listing-asked-in-the-amends-millisecond-keeps-its-size"),
    # asked after it: the venue's word on the order now (amended down again, say)
    pytest.param(AFTER, "1", id="listing-asked-after-the-amend-sets-it"),
])
async def test_learn_when_a_listing_asked_before_an_amend_comes_after_it_then_the_order_keeps_its_new_size(
    backend: Backend, listing_asked: int, worst_buy: str
) -> None:
    store = backend.store
    placed_at = store_now(backend)
    await reserve(store, "r1", pending=(pending_entry("r1:0", "1"),))
    await store.learn(replace(facts(order_update("o1", original="1", reservation_id="r1:0")),
                              asked_ms=placed_at + BEFORE))
    await store.learn(replace(facts(order_update("o1", original="5")), asked_ms=placed_at))  # the amend's answer

    listing = replace(open_orders(order_update("o1", original="1"), symbol=SYMBOL),
                      asked_ms=placed_at + listing_asked)
    await store.learn(facts(listing))

    assert await worst(store, BUY) == worst_buy
