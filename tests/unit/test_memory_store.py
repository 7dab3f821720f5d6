"""state/memory.py: MemoryStore on an injected clock (no sleeps). Each test runs its coroutine with asyncio.run."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from riskwall import engine
from riskwall.model import Pending, PositionSide, Side, TradingState
from riskwall.state.base import (
    CheckResult,
    ExposureCheck,
    PositionKey,
    RateCheck,
    Reservation,
    StateScope,
    ViewQuery,
)
from riskwall.state.memory import FINAL_ORDER_MEMORY_MS, UNANSWERED_HOLD_MS, MemoryStore, final_key

from .factories import (
    ACCOUNT,
    OTHER_ACCOUNT,
    VENUE,
    FakeClock,
    exposure_check,
    facts,
    make_intent,
    make_request,
    make_reservation,
    make_rules,
    make_view,
    open_orders,
    order_update,
    pending_entry,
    position_key,
    positions_report,
    price_update,
    rate_check,
)

_ids = iter(range(1, 1_000_000))


def new_store() -> tuple[MemoryStore, FakeClock]:
    clock = FakeClock()
    return MemoryStore(clock=clock), clock


async def admit_rate(store: MemoryStore, *checks: RateCheck) -> tuple[bool, list[CheckResult]]:
    outcome = await store.reserve(make_reservation(f"r{next(_ids)}", rate=checks))
    return outcome.committed, list(outcome.results)


async def worst_case(store: MemoryStore, side: Side = Side.BUY, key: PositionKey | None = None,
                     quantity: str = "0", replaces_order: str | None = None) -> Decimal:
    """What the store counts in `side`'s direction (position + pending + orders), probed with a check that
    never fails and never commits anything."""
    check = exposure_check(quantity=quantity, limit="1000000", side=side, position=key, replaces_order=replaces_order)
    outcome = await store.reserve(make_reservation(f"probe{next(_ids)}", exposure=(check,)))
    (result,) = outcome.results
    return result.observed


async def position_of(store: MemoryStore, symbol: str = "BTCUSDT",
                      side: PositionSide = PositionSide.BOTH, account: str = ACCOUNT) -> Decimal:
    view = await store.view(ViewQuery(VENUE, account, (symbol,)))
    return view.position(position_key(symbol, side, account))


async def placed(store: MemoryStore, order_id: str, quantity: str = "1", side: Side = Side.BUY) -> str:
    """An order placed through the sidecar: its leg reserved under `order_id`; the leg id its answer names."""
    await store.reserve(make_reservation(order_id, pending=(pending_entry(f"{order_id}:0", quantity, side),)))
    return f"{order_id}:0"


async def reserve_pending(store: MemoryStore, reservation_id: str = "d1", quantity: str = "1",
                          side: Side = Side.BUY, symbol: str = "BTCUSDT") -> None:
    entry = pending_entry(f"{reservation_id}:0", quantity, side, position_key(symbol))
    outcome = await store.reserve(make_reservation(reservation_id, pending=(entry,)))
    assert outcome.committed


# --- rate: sliding window -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elapsed_ms", "observed"),
    [
        pytest.param(200, 4, id="right-after-the-third"),
        pytest.param(999, 4, id="first-still-inside-window"),
        pytest.param(1000, 3, id="first-slid-out"),
        pytest.param(1100, 2, id="two-slid-out"),
    ],
)
async def test_reserve_when_window_holds_limit_orders_then_next_is_refused_until_one_slides_out(
    elapsed_ms: int, observed: int
) -> None:
    store, clock = new_store()
    start = clock()
    check = rate_check(limit=3, window_ms=1000)
    for step in range(3):  # orders at t0, t0+100, t0+200
        clock.set(start + 100 * step)
        committed, (result,) = await admit_rate(store, check)
        assert committed and result.passed and result.observed == step + 1

    clock.set(start + elapsed_ms)
    committed, (result,) = await admit_rate(store, check)

    admitted = observed <= 3
    assert committed is admitted
    assert result.passed is admitted
    assert result.observed == observed


async def test_reserve_when_refused_then_the_refused_order_does_not_count() -> None:
    store, clock = new_store()
    check = rate_check(limit=1, window_ms=1000)
    assert (await admit_rate(store, check))[0]
    for _ in range(5):
        clock.advance(100)
        assert not (await admit_rate(store, check))[0]

    clock.advance(500)  # t0 + 1000: only the one admitted order was ever in the window

    committed, (result,) = await admit_rate(store, check)
    assert committed and result.observed == 1


async def test_reserve_when_several_windows_apply_then_every_window_must_admit() -> None:
    store, clock = new_store()
    short, long = rate_check(limit=3, window_ms=1000), rate_check(limit=5, window_ms=10_000)
    for _ in range(3):
        assert (await admit_rate(store, short, long))[0]

    clock.advance(500)
    committed, results = await admit_rate(store, short, long)
    assert not committed
    assert [(r.passed, r.observed) for r in results] == [(False, Decimal(4)), (True, Decimal(4))]

    clock.advance(500)  # the 1s window is clear; the 10s window holds 3
    assert (await admit_rate(store, short, long))[0]
    assert (await admit_rate(store, short, long))[0]

    clock.advance(1000)  # 1s window holds 0, 10s window holds 5
    committed, results = await admit_rate(store, short, long)
    assert not committed
    assert [(r.passed, r.observed) for r in results] == [(True, Decimal(1)), (False, Decimal(6))]


async def test_reserve_when_cost_is_more_than_one_then_the_window_counts_every_leg() -> None:
    store, _ = new_store()

    first = await admit_rate(store, rate_check(limit=5, cost=3))
    refused = await admit_rate(store, rate_check(limit=5, cost=3))
    fits = await admit_rate(store, rate_check(limit=5, cost=2))
    full = await admit_rate(store, rate_check(limit=5, cost=1))

    assert [(c, r[0].observed) for c, r in (first, refused, fits, full)] == [
        (True, 3), (False, 6), (True, 5), (False, 6),
    ]


async def test_reserve_when_keys_differ_then_windows_are_independent() -> None:
    store, _ = new_store()
    assert (await admit_rate(store, rate_check(limit=1, key="binanceusdm|a|BTCUSDT")))[0]

    committed, (result,) = await admit_rate(store, rate_check(limit=1, key="binanceusdm|a|ETHUSDT"))

    assert committed and result.observed == 1


async def test_reserve_when_two_rate_rules_share_a_scope_then_each_counts_an_admitted_order_once() -> None:
    store, _ = new_store()
    # one rule per account and one per symbol: different kinds, so both apply (rules of one kind and one
    # scope would override each other, engine.applicable_rules)
    policy = make_rules(
        "{id: burst, type: order_rate, limits: ['10/1s']}",
        "{id: burst-strict, type: order_rate, limits: ['3/1s'], per: symbol}",
    )

    verdicts = []
    for n in range(3):
        planned = engine.plan(make_request(make_intent()), policy, make_view(), f"d{n}")
        assert planned.reservation is not None
        outcome = await store.reserve(planned.reservation)
        verdicts.append((outcome.committed, [r.observed for r in outcome.results]))

    assert verdicts == [(True, [1, 1]), (True, [2, 2]), (True, [3, 3])]


# --- exposure -------------------------------------------------------------------------------------------------


async def test_reserve_when_exposure_is_checked_then_position_plus_pending_plus_orders_plus_order_count() -> None:
    store, _ = new_store()
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "1"))))
    await reserve_pending(store, "d1", "2")
    await store.learn(facts(order_update("o1", original="1", executed="0.25")))  # +0.25 filled, 0.75 open

    observed = await worst_case(store, Side.BUY, quantity="0.1")

    assert observed == Decimal("1") + Decimal("0.25") + Decimal("2") + Decimal("0.75") + Decimal("0.1")


async def test_reserve_when_pending_and_orders_are_buys_then_sell_direction_does_not_count_them() -> None:
    store, _ = new_store()
    await reserve_pending(store, "d1", "2", Side.BUY)
    await store.learn(facts(order_update("o1", original="3", side=Side.BUY)))
    await reserve_pending(store, "d2", "0.5", Side.SELL)

    assert await worst_case(store, Side.SELL, quantity="0.1") == Decimal("0.6")
    assert await worst_case(store, Side.BUY, quantity="0.1") == Decimal("5.1")


async def test_reserve_when_exposure_is_for_another_symbol_or_account_then_it_does_not_count() -> None:
    store, _ = new_store()
    await reserve_pending(store, "d1", "2", symbol="ETHUSDT")
    await store.learn(facts(order_update("o1", original="3", account=OTHER_ACCOUNT)))

    assert await worst_case(store, Side.BUY) == 0


async def test_reserve_when_short_position_then_it_counts_in_the_sell_direction() -> None:
    store, _ = new_store()
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "-2"))))

    assert await worst_case(store, Side.SELL, quantity="1") == 3


async def test_reserve_when_plain_order_closes_an_opposite_position_then_exposure_passes() -> None:
    store, _ = new_store()
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "5"))))

    outcome = await store.reserve(make_reservation("d1", exposure=(exposure_check("5", "1", Side.SELL),)))

    (result,) = outcome.results
    assert outcome.committed and result.passed
    assert result.observed == 0


@pytest.mark.parametrize(
    ("limit", "passed"),
    [pytest.param("3", True, id="at-limit"), pytest.param("2.99", False, id="over-limit")],
)
async def test_reserve_when_worst_case_is_compared_to_limit_then_equal_passes(limit: str, passed: bool) -> None:
    store, _ = new_store()
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "2"))))

    outcome = await store.reserve(make_reservation("d1", exposure=(exposure_check("1", limit),)))

    assert outcome.committed is passed
    assert [(r.observed, r.passed) for r in outcome.results] == [(Decimal(3), passed)]


async def test_reserve_when_an_enforced_check_fails_then_nothing_is_committed() -> None:
    store, _ = new_store()
    rate = rate_check(limit=10)
    failing = exposure_check("5", "1")
    entry = pending_entry("d1:0", "5")

    outcome = await store.reserve(make_reservation("d1", rate=(rate,), exposure=(failing,), pending=(entry,)))

    assert not outcome.committed
    assert [r.passed for r in outcome.results] == [True, False]
    assert await worst_case(store, Side.BUY) == 0  # no pending
    committed, (result,) = await admit_rate(store, rate)
    assert committed and result.observed == 1  # the refused order was not counted


async def test_reserve_when_only_a_shadow_check_fails_then_everything_is_committed() -> None:
    store, _ = new_store()
    rate = rate_check(limit=10)
    shadow = exposure_check("5", "1", enforced=False)
    entry = pending_entry("d1:0", "5")

    outcome = await store.reserve(make_reservation("d1", rate=(rate,), exposure=(shadow,), pending=(entry,)))

    assert outcome.committed
    assert [r.passed for r in outcome.results] == [True, False]
    assert await worst_case(store, Side.BUY) == 5
    committed, (result,) = await admit_rate(store, rate)
    assert committed and result.observed == 2


async def test_reserve_when_a_shadow_rate_check_fails_then_the_order_is_still_counted() -> None:
    store, _ = new_store()
    shadow = rate_check(limit=1, enforced=False)

    results = [await admit_rate(store, shadow) for _ in range(3)]

    assert [(c, r[0].passed, r[0].observed) for c, r in results] == [(True, True, 1), (True, False, 2),
                                                                     (True, False, 3)]


async def test_reserve_when_check_replaces_an_order_then_that_orders_remaining_is_not_counted() -> None:
    store, _ = new_store()
    await store.learn(facts(order_update("o1", original="3"), order_update("o2", original="1")))

    assert await worst_case(store, Side.BUY, quantity="2") == 6
    assert await worst_case(store, Side.BUY, quantity="2", replaces_order="o1") == 3


# --- learn: orders --------------------------------------------------------------------------------------------


async def test_learn_when_order_update_names_a_reservation_leg_then_pending_moves_to_the_order() -> None:
    store, _ = new_store()
    await reserve_pending(store, "d1", "2")

    await store.learn(facts(order_update("o1", original="2", reservation_id="d1:0")))

    assert await worst_case(store) == 2  # not 4: the leg became the order
    await store.release("d1")
    assert await worst_case(store) == 2  # the order still counts after the reservation is released


async def test_learn_when_same_fill_is_reported_twice_then_it_is_applied_once() -> None:
    store, _ = new_store()
    update = order_update("o1", original="2", executed="0.5", reservation_id=await placed(store, "o1", "2"))

    await store.learn(facts(update))
    await store.learn(facts(update))

    assert await position_of(store) == Decimal("0.5")
    assert await worst_case(store) == 2  # 0.5 filled + 1.5 open


async def test_learn_when_fills_progress_then_only_the_new_part_is_applied() -> None:
    store, _ = new_store()
    leg = await placed(store, "o1", "2", Side.SELL)

    await store.learn(facts(order_update("o1", original="2", executed="0.5", side=Side.SELL, reservation_id=leg)))
    await store.learn(facts(order_update("o1", original="2", executed="1.25", side=Side.SELL)))
    await store.learn(facts(order_update("o1", original="2", executed="1.25", side=Side.SELL)))

    assert await position_of(store) == Decimal("-1.25")
    assert await worst_case(store, Side.SELL) == 2


async def test_learn_when_an_older_update_is_replayed_after_a_newer_one_then_nothing_changes() -> None:
    store, _ = new_store()
    older = order_update("o1", original="2", executed="0.5", reservation_id=await placed(store, "o1", "2"))
    newer = order_update("o1", original="2", executed="1.5")
    await store.learn(facts(older))
    await store.learn(facts(newer))

    await store.learn(facts(older))

    assert await position_of(store) == Decimal("1.5")
    assert await worst_case(store) == 2  # 1.5 filled + 0.5 open, not 1.5 + 1.5


@pytest.mark.parametrize(
    ("executed", "position", "exposure"),
    [
        pytest.param("0", "0", "0", id="cancelled-unfilled"),
        pytest.param("0.4", "0.4", "0.4", id="cancelled-partly-filled"),
        pytest.param("2", "2", "2", id="fully-filled"),
    ],
)
async def test_learn_when_order_is_final_then_its_pending_is_released(
    executed: str, position: str, exposure: str
) -> None:
    store, _ = new_store()
    await reserve_pending(store, "d1", "2")

    await store.learn(facts(order_update("o1", original="2", executed=executed, final=True, reservation_id="d1:0")))

    assert await position_of(store) == Decimal(position)
    assert await worst_case(store) == Decimal(exposure)


async def test_learn_when_final_order_is_reported_again_then_nothing_changes() -> None:
    store, _ = new_store()
    final = order_update("o1", original="2", executed="2", final=True, reservation_id=await placed(store, "o1", "2"))
    await store.learn(facts(final))

    await store.learn(facts(final))
    await store.learn(facts(order_update("o1", original="2", executed="1")))  # a stale non-final update

    assert await position_of(store) == 2
    assert await worst_case(store) == 2


@pytest.mark.parametrize(("held_as", "after_hold"), [
    # a fill a read may hold already: it happened, only a read can say whether the position has it
    pytest.param("fill", Decimal(5), id="a-held-fill-never-lapses"),
    # an order gone from a listing: it may never have filled, so its hold ends after UNANSWERED_HOLD_MS
    pytest.param("vanished", Decimal(0), id="a-vanished-order-lapses"),
])
async def test_learn_when_nothing_ends_a_hold_then_only_a_held_fill_outlives_the_hold_time(
    held_as: str, after_hold: Decimal
) -> None:
    store, clock = new_store()
    await store.learn(replace(facts(order_update("o1", original="5")), asked_ms=clock() - 60_000))
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "0"), symbol="BTCUSDT")))
    if held_as == "fill":
        await store.learn(facts(order_update("o1", original="5", executed="5", final=True)))
    else:
        await store.learn(facts(open_orders(symbol="BTCUSDT")))
    held = await worst_case(store)

    clock.advance(UNANSWERED_HOLD_MS + 1)

    assert (held, await worst_case(store)) == (Decimal(5), after_hold)


async def test_learn_when_order_is_reduce_only_then_fills_count_but_open_quantity_does_not() -> None:
    store, _ = new_store()
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "3"))))
    await store.learn(facts(order_update("o1", original="2", side=Side.SELL, reduce_only=True)))  # after the read

    await store.learn(facts(order_update("o1", original="2", executed="0.5", side=Side.SELL, reduce_only=True)))

    assert await position_of(store) == Decimal("2.5")
    # the open 1.5 adds nothing in the end: at worst it takes the long 2.5 down to 1, which then still counts
    # against a short (a plain sell could otherwise count the same long twice)
    assert await worst_case(store, Side.SELL) == Decimal("-1")


# --- learn: positions and open orders -------------------------------------------------------------------------


async def test_learn_when_account_wide_positions_report_arrives_then_it_replaces_and_flattens_unlisted() -> None:
    store, _ = new_store()
    await store.learn(facts(order_update("o1", original="1", executed="1", final=True)))  # fill: BTC +1
    await store.learn(facts(positions_report(("ETHUSDT", PositionSide.BOTH, "4"),
                                             ("SOLUSDT", PositionSide.LONG, "7"))))

    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "0.3"))))

    assert await position_of(store, "BTCUSDT") == Decimal("0.3")  # replaced, not added to
    assert await position_of(store, "ETHUSDT") == 0
    assert await position_of(store, "SOLUSDT", PositionSide.LONG) == 0


async def test_learn_when_symbol_positions_report_arrives_then_other_symbols_are_kept() -> None:
    store, _ = new_store()
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "1"),
                                             ("ETHUSDT", PositionSide.BOTH, "4"))))

    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "-2"), symbol="BTCUSDT")))

    assert await position_of(store, "BTCUSDT") == -2
    assert await position_of(store, "ETHUSDT") == 4


async def test_learn_when_positions_report_is_for_another_account_then_this_account_is_untouched() -> None:
    store, _ = new_store()
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "1"))))

    await store.learn(facts(positions_report(account=OTHER_ACCOUNT)))

    assert await position_of(store) == 1


async def test_learn_when_open_orders_snapshot_omits_an_order_then_it_is_final() -> None:
    store, _ = new_store()
    await store.learn(facts(order_update("o1", original="1"), order_update("o2", original="2", symbol="ETHUSDT"),
                            order_update("o3", original="4", account=OTHER_ACCOUNT)))

    await store.learn(facts(open_orders(order_update("o1", original="1"))))

    assert await worst_case(store) == 1
    # o2 left the book, filled or cancelled: its 2 stay held until a position read shows which
    assert await worst_case(store, key=position_key("ETHUSDT")) == 2
    assert await worst_case(store, key=position_key(account=OTHER_ACCOUNT)) == 4  # other account untouched


async def test_learn_when_an_order_gone_from_a_snapshot_is_replayed_as_open_then_it_stays_gone() -> None:
    store, _ = new_store()
    stale = order_update("o1", original="2")
    await store.learn(facts(stale))
    await store.learn(facts(replace(open_orders(), cancelled=True)))

    await store.learn(facts(stale))  # the earlier response applied again

    view = await store.view(ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",), ("o1",)))
    assert "o1" not in view.orders
    assert await worst_case(store) == 2  # held as possibly filled until a read or its own final word, no more


async def test_learn_when_cancel_all_succeeds_then_only_that_symbols_orders_are_gone() -> None:
    store, _ = new_store()
    await store.learn(facts(order_update("o1", original="1"), order_update("o2", original="2"),
                            order_update("o3", original="3", symbol="ETHUSDT")))

    await store.learn(facts(replace(open_orders(symbol="BTCUSDT"), cancelled=True)))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, ("BTCUSDT", "ETHUSDT"), ("o1", "o2", "o3")))
    assert sorted(view.orders) == ["o3"]
    assert await worst_case(store, key=position_key("ETHUSDT")) == 3


async def test_learn_when_snapshot_lists_a_new_order_then_it_is_counted() -> None:
    store, _ = new_store()

    await store.learn(facts(open_orders(order_update("o9", original="2", executed="0.5"))))

    assert await worst_case(store) == 2
    # filled before the store heard of it: whether a position the store holds has that fill cannot be told, so
    # it is held in its direction (a read shows it), never moved into the position
    assert await position_of(store) == Decimal("0")


# --- learn: prices --------------------------------------------------------------------------------------------


async def test_learn_when_mark_and_last_prices_arrive_then_mark_is_preferred() -> None:
    store, _ = new_store()
    query = ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",))

    async def price() -> Decimal | None:
        return (await store.view(query)).price(VENUE, "BTCUSDT")

    assert await price() is None
    await store.learn(facts(price_update("100", "last")))
    assert await price() == 100  # a last price fills in
    await store.learn(facts(price_update("101", "mark")))
    assert await price() == 101
    await store.learn(facts(price_update("102", "last")))
    assert await price() == 101  # a last price never overrides a mark
    await store.learn(facts(price_update("99.5", "mark")))
    assert await price() == Decimal("99.5")


async def test_view_when_queried_then_only_the_requested_symbols_and_account_are_returned() -> None:
    store, _ = new_store()
    await store.learn(facts(
        positions_report(("BTCUSDT", PositionSide.BOTH, "1"), ("ETHUSDT", PositionSide.LONG, "2")),
        price_update("100", symbol="ETHUSDT"),
    ))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, ("ETHUSDT",)))
    anonymous = await store.view(ViewQuery(VENUE, None, ("ETHUSDT",)))

    assert view.positions == {position_key("ETHUSDT", PositionSide.LONG): Decimal(2)}
    assert view.prices == {(VENUE, "ETHUSDT"): Decimal(100)}
    assert anonymous.positions == {}


# --- release --------------------------------------------------------------------------------------------------


async def test_release_when_called_without_delay_then_pending_is_dropped_at_once() -> None:
    store, _ = new_store()
    await reserve_pending(store, "d1", "2")
    await reserve_pending(store, "d2", "1")

    await store.release("d1")

    assert await worst_case(store) == 1


@pytest.mark.parametrize(
    ("elapsed_ms", "still_pending"),
    [pytest.param(4999, True, id="before"), pytest.param(5000, False, id="at-deadline")],
)
async def test_release_when_delayed_then_pending_lapses_on_the_clock(elapsed_ms: int, still_pending: bool) -> None:
    store, clock = new_store()
    await reserve_pending(store, "d1", "2")

    await store.release("d1", after_ms=5000)
    assert await worst_case(store) == 2  # still held right after the call
    clock.advance(elapsed_ms)

    assert await worst_case(store) == (2 if still_pending else 0)


async def test_release_when_delayed_release_is_followed_by_immediate_release_then_pending_is_gone() -> None:
    store, _ = new_store()
    await reserve_pending(store, "d1", "2")

    await store.release("d1", after_ms=60_000)
    await store.release("d1")

    assert await worst_case(store) == 0


async def test_exposure_when_a_delayed_release_has_lapsed_then_status_shows_no_pending() -> None:
    store, clock = new_store()
    await reserve_pending(store, "d1", "2")
    await store.release("d1", after_ms=5000)
    clock.advance(5000)

    status = await store.exposure(VENUE, ACCOUNT)

    # a lapsed reservation leaves nothing to show: the symbol is absent or shows zero pending
    assert status.get("BTCUSDT|both", {}).get("pending_buy", "0") == "0"


async def test_exposure_when_account_has_positions_pending_and_orders_then_status_lists_them() -> None:
    store, _ = new_store()
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.BOTH, "1.5"))))
    await reserve_pending(store, "d1", "2", Side.SELL)
    await store.learn(facts(order_update("o1", original="3", symbol="ETHUSDT")))

    status = await store.exposure(VENUE, ACCOUNT)

    assert status == {
        "BTCUSDT|both": {"position": "1.5", "pending_buy": "0", "pending_sell": "2"},
        "ETHUSDT|both": {"position": "0", "pending_buy": "3", "pending_sell": "0"},
    }


# --- trading states -------------------------------------------------------------------------------------------


async def test_set_trading_state_when_halted_then_record_is_stored_with_actor_reason_and_clock_time() -> None:
    store, clock = new_store()
    scope = StateScope(venue="binanceusdm", symbol="BTCUSDT")

    await store.set_trading_state(scope, TradingState.HALTED, "runaway bot", "alice")

    (record,) = await store.trading_states()
    assert (record.scope, record.state, record.reason, record.actor, record.at_ms) == (
        scope, TradingState.HALTED, "runaway bot", "alice", clock(),
    )
    view = await store.view(ViewQuery(VENUE, ACCOUNT, ()))
    assert view.trading_states == (record,)


async def test_set_trading_state_when_scope_is_set_again_then_the_record_is_replaced() -> None:
    store, clock = new_store()
    await store.set_trading_state(StateScope(), TradingState.HALTED, "first", "alice")
    clock.advance(10)

    await store.set_trading_state(StateScope(), TradingState.REDUCING, "second", "bob")

    (record,) = await store.trading_states()
    assert (record.state, record.reason, record.actor, record.at_ms) == (TradingState.REDUCING, "second", "bob",
                                                                         clock())


async def test_set_trading_state_when_active_then_that_scope_is_cleared_and_others_stay() -> None:
    store, _ = new_store()
    venue_scope = StateScope(venue="binanceusdm")
    account_scope = StateScope(venue="binanceusdm", account=ACCOUNT)
    await store.set_trading_state(venue_scope, TradingState.HALTED, "incident", "alice")
    await store.set_trading_state(account_scope, TradingState.REDUCING, "drawdown", "alice")

    await store.set_trading_state(venue_scope, TradingState.ACTIVE, "resolved", "alice")

    assert [(r.scope, r.state) for r in await store.trading_states()] == [(account_scope, TradingState.REDUCING)]


async def test_reserve_when_reservation_is_empty_then_it_commits_trivially() -> None:
    store, _ = new_store()

    outcome = await store.reserve(Reservation("d1"))

    assert outcome.committed and outcome.results == ()


def test_exposure_check_factory_builds_the_store_type() -> None:
    # guards the helpers above: a probe that silently built the wrong type would make every test vacuous
    check = exposure_check("1", "2")
    assert isinstance(check, ExposureCheck) and check.quantity == Decimal(1) and check.enforced


async def test_learn_when_final_orders_exceed_the_count_bound_then_oldest_forgotten_and_replays_still_count_once(
) -> None:
    store, _ = new_store()
    store.final_order_limit = 10
    for number in range(25):
        leg = await placed(store, f"o{number}")
        await store.learn(facts(order_update(f"o{number}", original="1", executed="1", final=True, reservation_id=leg)))

    for number in range(25):  # every answer again, the forgotten ones too
        await store.learn(facts(order_update(f"o{number}", original="1", executed="1", final=True)))

    assert len(store._done) == 10
    assert await position_of(store) == 25


async def test_learn_when_final_orders_are_older_than_a_day_then_forgotten_and_replays_still_count_once() -> None:
    store, clock = new_store()
    leg = await placed(store, "old")
    await store.learn(facts(order_update("old", original="1", executed="1", final=True, reservation_id=leg)))
    clock.advance(FINAL_ORDER_MEMORY_MS + 1)
    leg = await placed(store, "new")
    await store.learn(facts(order_update("new", original="1", executed="1", final=True, reservation_id=leg)))

    await store.learn(facts(order_update("old", original="1", executed="1", final=True)))

    assert list(store._done) == [final_key((VENUE, ACCOUNT, "new"))]
    assert await position_of(store) == 2


# --- the view reads only positions that ever had something pending (issue 12: fewer lookups per order) ----------


@pytest.mark.parametrize(("held", "reserved_side"), [
    (PositionSide.BOTH, Side.BUY),
    (PositionSide.LONG, Side.BUY),
    (PositionSide.SHORT, Side.SELL),
])
async def test_view_when_one_position_side_has_pending_then_only_that_side_is_read(
    held: PositionSide, reserved_side: Side,
) -> None:
    store, _ = new_store()
    key = position_key(position_side=held)
    await store.reserve(make_reservation("d1", pending=(pending_entry("d1:0", "2", reserved_side, key),)))
    await store.learn(facts(positions_report(("BTCUSDT", PositionSide.SHORT, "-1"))))
    view = await store.view(ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",)))
    assert view.pending == {(key, reserved_side): Pending(Decimal(2), Decimal(0))}
    assert view.positions == {position_key(position_side=PositionSide.SHORT): Decimal(-1)}


async def test_view_when_pending_went_back_to_zero_then_the_position_reads_none() -> None:
    store, _ = new_store()
    await store.reserve(make_reservation("d1", pending=(pending_entry("d1:0", "2"),)))
    await store.release("d1")
    view = await store.view(ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",)))
    assert view.pending == {}
    assert view.pending_in(position_key(), Side.BUY) == Pending()
