"""`StateStore.usage` (what the counting rules hold for an account, as `/v1/status` shows it), and what an accepted
amend and an open-orders listing do to it, on both stores."""

from __future__ import annotations

from decimal import Decimal

import pytest

from riskwall.model import AmendAccepted, NotionalCheck, ResponseFacts, Side
from riskwall.state import StateStore
from riskwall.state.base import PendingEntry, Reservation
from unit.factories import ACCOUNT, SYMBOL, VENUE, facts, open_orders, order_update, position_key

BUDGET = f"daily-notional|{VENUE}|{ACCOUNT}"


async def test_usage_when_orders_rest_and_budget_charged_then_counts_and_notional_shown(store: StateStore) -> None:
    assert await store.usage(VENUE, ACCOUNT) == {"open_orders": {}, "daily_notional": {}}
    leg = PendingEntry("u1:0", position_key(), Side.BUY, Decimal("2"), opens=True, budgets=(BUDGET,),
                       price=Decimal("100.5"))
    check = NotionalCheck("daily-notional", VENUE, ACCOUNT, BUDGET, Decimal(1000), Decimal(201), True)
    assert (await store.reserve(Reservation("u1", pending=(leg,), notional=(check,)))).committed
    await store.learn(facts(order_update("o9", "2", "0", reservation_id="u1:0"), order_update("o8", "1", "0")))

    assert await store.usage(VENUE, ACCOUNT) == {"open_orders": {"*": "2", SYMBOL: "2"},
                                                 "daily_notional": {BUDGET: "201"}}
    assert await store.usage(VENUE, "someone-else") == {"open_orders": {}, "daily_notional": {}}


async def _resting_order(store: StateStore, order_id: str, qty: str, price: str) -> None:
    leg = PendingEntry(f"{order_id}-r:0", position_key(), Side.BUY, Decimal(qty), opens=True, budgets=(BUDGET,),
                       price=Decimal(price))
    assert (await store.reserve(Reservation(f"{order_id}-r", pending=(leg,)))).committed
    await store.learn(facts(order_update(order_id, qty, "0", reservation_id=f"{order_id}-r:0")))
    await store.release(f"{order_id}-r")


@pytest.mark.parametrize(("new_qty", "new_price", "pending_buy", "notional"), [
    pytest.param("3", "100", "3", "300", id="upsized: the new size counts at once"),
    pytest.param("1", "100", "2", "200", id="downsized: the old size still counts until the venue reports it"),
    pytest.param("2", "50", "2", "200", id="cheaper: the old price still counts until the venue reports it"),
    pytest.param("2", "150", "2", "300", id="dearer: the new price counts at once"),
])
async def test_amend_when_venue_accepts_without_details_then_order_holds_the_larger(
        store: StateStore, new_qty: str, new_price: str, pending_buy: str, notional: str) -> None:
    await _resting_order(store, "a1", "2", "100")
    leg = PendingEntry("am:0", position_key(), Side.BUY, Decimal(new_qty), "a1", budgets=(BUDGET,),
                       price=Decimal(new_price))
    assert (await store.reserve(Reservation("am", pending=(leg,)))).committed
    await store.learn(ResponseFacts(amended=(AmendAccepted(VENUE, ACCOUNT, "am:0"),)))
    await store.release("am")

    exposure = await store.exposure(VENUE, ACCOUNT)
    assert Decimal(exposure[f"{SYMBOL}|both"]["pending_buy"]) == Decimal(pending_buy)
    assert (await store.usage(VENUE, ACCOUNT))["daily_notional"] == {BUDGET: notional}
    await store.learn(facts(order_update("a1", new_qty, "0", final=True)))  # then cancelled: all given back
    assert (await store.usage(VENUE, ACCOUNT))["daily_notional"] == {}


async def test_listing_when_an_order_is_gone_then_its_charge_stays_whole(store: StateStore) -> None:
    await _resting_order(store, "l1", "2", "100")
    await store.learn(facts(open_orders()))  # gone: filled unseen, or cancelled elsewhere; the listing cannot say

    assert (await store.usage(VENUE, ACCOUNT)) == {"open_orders": {}, "daily_notional": {BUDGET: "200"}}
