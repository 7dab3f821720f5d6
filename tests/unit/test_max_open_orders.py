"""max_open_orders: what the engine asks the store to count, and how it turns the store's answer into a decision.

The counting itself (open orders plus unanswered legs, O(1) counters) is the stores' contract
(tests/state/test_open_orders_contract.py); here the plan is checked on its own, and plan → MemoryStore → conclude
end to end for the decisions a bot sees.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from riskwall import engine
from riskwall.model import (
    Action,
    OpenOrdersCheck,
    OrderIntent,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    Reason,
    Side,
    Verdict,
)
from riskwall.policy.loader import Policy
from riskwall.state.base import CheckResult, ReserveOutcome, StateView
from riskwall.state.memory import MemoryStore

from .factories import (
    ACCOUNT,
    OTHER_ACCOUNT,
    VENUE,
    FakeClock,
    facts,
    make_cancel,
    make_intent,
    make_leverage,
    make_limit,
    make_request,
    make_rules,
    make_view,
    order_update,
)

DECISION_ID = "d1"
BOTH_LIMITS = make_rules("{id: open-orders, type: max_open_orders, per_symbol: 2, per_account: 3}")
BID = make_limit("50000")
ETH_BID = make_limit("3000", symbol="ETHUSDT")


def planned_checks(request: ParsedRequest, policy: Policy = BOTH_LIMITS,
                   view: StateView | None = None) -> list[tuple[str, str | None, int, int, bool]]:
    planned = engine.plan(request, policy, view or make_view(), DECISION_ID)
    checks = planned.reservation.open_orders if planned.reservation else ()
    return sorted(((c.rule_id, c.symbol, c.limit, c.adding, c.enforced) for c in checks),
                  key=lambda c: (c[0], c[1] or ""))


# --- what is checked -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "view", "expected"),
    [
        pytest.param(make_request(BID), None,
                     [("open-orders", None, 3, 1, True), ("open-orders", "BTCUSDT", 2, 1, True)], id="new-order"),
        pytest.param(make_request(make_intent()), None,
                     [("open-orders", None, 3, 1, True), ("open-orders", "BTCUSDT", 2, 1, True)],
                     id="market-order-counts-too"),
        pytest.param(make_request(make_intent(order_type="STOP_MARKET", trigger_price="51000")), None,
                     [("open-orders", None, 3, 1, True), ("open-orders", "BTCUSDT", 2, 1, True)],
                     id="conditional-order-counts-too"),
        pytest.param(make_request(BID, BID, ETH_BID), None,
                     [("open-orders", None, 3, 3, True), ("open-orders", "BTCUSDT", 2, 2, True),
                      ("open-orders", "ETHUSDT", 2, 1, True)], id="batch-counts-each-leg"),
        pytest.param(make_request(make_intent(action=Action.AMEND, price="50000", order_id="7")), None, [],
                     id="amend-adds-no-order"),
        pytest.param(make_request(make_cancel()), None, [], id="cancel"),
        pytest.param(make_request(make_leverage("5")), None, [], id="setting"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, reduce_only=True)), make_view({"BTCUSDT": "1"}),
                     [], id="reduction-within-the-position-is-exempt"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, position_side=PositionSide.LONG)),
                     make_view({("BTCUSDT", PositionSide.LONG): "1"}), [], id="hedge-close-is-exempt"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, reduce_only=True)), None,
                     [("open-orders", None, 3, 1, True), ("open-orders", "BTCUSDT", 2, 1, True)],
                     id="reduce-only-with-nothing-to-reduce-is-checked"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, reduce_only=True), BID),
                     make_view({"BTCUSDT": "1"}),
                     [("open-orders", None, 3, 1, True), ("open-orders", "BTCUSDT", 2, 1, True)],
                     id="batch-checks-only-what-is-not-exempt"),
    ],
)
def test_plan_when_request_is_planned_then_open_orders_checks_count_its_new_orders(
    request_: ParsedRequest, view: StateView | None, expected: list[tuple[str, str | None, int, int, bool]]
) -> None:
    assert planned_checks(request_, view=view) == expected


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("{id: oo, type: max_open_orders, per_symbol: 5}", [("oo", "BTCUSDT", 5, 1, True)],
                     id="per-symbol-only"),
        pytest.param("{id: oo, type: max_open_orders, per_account: 7}", [("oo", None, 7, 1, True)],
                     id="per-account-only"),
        pytest.param("{id: oo, type: max_open_orders, per_symbol: 5, mode: shadow}", [("oo", "BTCUSDT", 5, 1, False)],
                     id="shadow-rule-is-not-enforced"),
        pytest.param("{id: oo, type: max_open_orders, per_symbol: 5, scope: {symbols: [ETHUSDT]}}", [],
                     id="symbol-out-of-scope"),
        pytest.param("{id: oo, type: max_open_orders, per_symbol: 5, scope: {accounts: [main]}}",
                     [("oo", "BTCUSDT", 5, 1, True)], id="account-in-scope"),
        pytest.param("{id: oo, type: max_open_orders, per_symbol: 5, scope: {venues: [bybit]}}", [],
                     id="venue-out-of-scope"),
    ],
)
def test_plan_when_rule_has_one_limit_or_a_scope_then_only_those_checks_are_planned(
    rule: str, expected: list[tuple[str, str | None, int, int, bool]]
) -> None:
    assert planned_checks(make_request(BID), make_rules(rule)) == expected


def test_plan_when_policy_monitors_then_open_orders_checks_are_not_enforced() -> None:
    policy = make_rules("{id: oo, type: max_open_orders, per_account: 2}", mode="monitor")

    assert planned_checks(make_request(BID), policy) == [("oo", None, 2, 1, False)]


def test_plan_when_order_is_on_another_account_then_the_check_counts_that_account() -> None:
    planned = engine.plan(make_request(make_limit("50000", account=OTHER_ACCOUNT)), BOTH_LIMITS, make_view(),
                          DECISION_ID)

    assert planned.reservation is not None
    assert {c.account for c in planned.reservation.open_orders} == {OTHER_ACCOUNT}


@pytest.mark.parametrize(
    ("intent", "opens"),
    [
        pytest.param(BID, True, id="new-order-opens"),
        pytest.param(make_intent(action=Action.AMEND, price="50000", order_id="7", side=Side.BUY), False,
                     id="amend-does-not"),
    ],
)
def test_plan_when_order_is_admitted_then_its_pending_leg_says_whether_it_opens_an_order(
    intent: OrderIntent, opens: bool
) -> None:
    planned = engine.plan(make_request(intent), BOTH_LIMITS, make_view(), DECISION_ID)

    assert planned.reservation is not None
    assert [p.opens for p in planned.reservation.pending] == [opens]


def test_plan_when_exempt_reduction_is_admitted_then_it_still_counts_as_a_resting_order() -> None:
    request = make_request(make_limit("50000", side=Side.SELL, reduce_only=True))
    planned = engine.plan(request, BOTH_LIMITS, make_view({"BTCUSDT": "1"}), DECISION_ID)

    assert planned.reservation is not None
    assert [(p.reducing, p.opens) for p in planned.reservation.pending] == [(True, True)]


# --- the store's answer --------------------------------------------------------------------------------------


def failing(check: OpenOrdersCheck, observed: int) -> CheckResult:
    return CheckResult(check, Decimal(observed), observed <= check.limit)


@pytest.mark.parametrize(
    ("symbol_count", "account_count", "detail"),
    [
        pytest.param(3, 3, "OPEN_ORDERS_EXCEED_MAX: open_orders=3, max_open_orders=2, scope=symbol, symbol=BTCUSDT",
                     id="symbol-limit"),
        pytest.param(2, 4, "OPEN_ORDERS_EXCEED_MAX: open_orders=4, max_open_orders=3, scope=account, symbol=BTCUSDT",
                     id="account-limit"),
    ],
)
def test_conclude_when_store_counts_too_many_open_orders_then_block_with_count_limit_and_scope(
    symbol_count: int, account_count: int, detail: str
) -> None:
    planned = engine.plan(make_request(BID), BOTH_LIMITS, make_view(), DECISION_ID)
    assert planned.reservation is not None
    checks = {c.scope: c for c in planned.reservation.open_orders}
    outcome = ReserveOutcome(False, (failing(checks["account"], account_count),
                                     failing(checks["symbol"], symbol_count)))

    decision = engine.conclude(planned, BOTH_LIMITS, outcome)

    assert decision.verdict is Verdict.BLOCK
    assert decision.deciding is not None and decision.deciding.reason is Reason.OPEN_ORDERS_EXCEED_MAX
    assert decision.deciding.detail == detail


def test_conclude_when_duplicate_open_orders_position_and_rate_all_fail_then_they_follow_the_check_order() -> None:
    policy = make_rules("{id: rate, type: order_rate, limits: ['1/1s']}",
                        "{id: position, type: max_position, default: {qty: 0.05}}",
                        "{id: oo, type: max_open_orders, per_account: 1}",
                        "{id: dup, type: duplicate_orders, window: 2s}")
    planned = engine.plan(make_request(BID), policy, make_view(), DECISION_ID)
    assert planned.reservation is not None
    reservation = planned.reservation
    outcome = ReserveOutcome(False, (
        CheckResult(reservation.rate[0], Decimal(2), False),
        CheckResult(reservation.exposure[0], Decimal("0.1"), False),
        CheckResult(reservation.duplicates[0], Decimal(2), False), failing(reservation.open_orders[0], 2)))

    decision = engine.conclude(planned, policy, outcome)

    assert [v.reason for v in decision.violations] == [
        Reason.DUPLICATE_ORDER, Reason.OPEN_ORDERS_EXCEED_MAX, Reason.POSITION_EXCEEDS_MAX, Reason.ORDER_RATE_EXCEEDED]


# --- plan → MemoryStore → conclude -------------------------------------------------------------------------


async def decide(store: MemoryStore, request: ParsedRequest, policy: Policy, decision_id: str) -> Verdict:
    planned = engine.plan(request, policy, make_view(), decision_id)
    outcome = await store.reserve(planned.reservation) if planned.reservation else None
    return engine.conclude(planned, policy, outcome).verdict


@pytest.mark.parametrize(
    ("resting", "request_", "verdict"),
    [
        pytest.param({"BTCUSDT": 1}, make_request(BID), Verdict.ALLOW, id="second-on-the-symbol-fits"),
        pytest.param({"BTCUSDT": 2}, make_request(BID), Verdict.BLOCK, id="third-on-the-symbol-blocks"),
        pytest.param({"BTCUSDT": 2}, make_request(ETH_BID), Verdict.ALLOW, id="other-symbol-fits"),
        pytest.param({"BTCUSDT": 2, "ETHUSDT": 1}, make_request(ETH_BID), Verdict.BLOCK,
                     id="fourth-on-the-account-blocks"),
        pytest.param({"BTCUSDT": 1}, make_request(BID, BID), Verdict.BLOCK, id="batch-over-the-symbol-limit"),
        pytest.param({"BTCUSDT": 2}, make_request(make_intent(action=Action.AMEND, price="1", order_id="r0")),
                     Verdict.ALLOW, id="amend-at-the-limit-passes"),
        pytest.param({"BTCUSDT": 2}, make_request(make_cancel(order_id="r0")), Verdict.ALLOW,
                     id="cancel-at-the-limit-passes"),
    ],
)
async def test_decide_when_account_has_resting_orders_then_only_orders_within_the_limits_pass(
    resting: dict[str, int], request_: ParsedRequest, verdict: Verdict
) -> None:
    store = MemoryStore(clock=FakeClock())
    await store.learn(facts(*(order_update(f"r{symbol}{i}", symbol=symbol)
                              for symbol, n in resting.items() for i in range(n))))

    assert await decide(store, request_, BOTH_LIMITS, "d-new") is verdict


async def test_decide_when_reduce_only_order_closes_at_the_limit_then_it_passes_and_is_counted() -> None:
    store = MemoryStore(clock=FakeClock())
    await store.learn(facts(order_update("r0"), order_update("r1"), order_update("r2", symbol="ETHUSDT")))
    await store.learn(facts(PositionsReport(VENUE, ACCOUNT, None, (("BTCUSDT", PositionSide.BOTH, Decimal(1)),))))
    request = make_request(make_limit("50000", side=Side.SELL, reduce_only=True))
    planned = engine.plan(request, BOTH_LIMITS, await store.view(engine.view_query(request)), "d-close")
    assert planned.reservation is not None

    outcome = await store.reserve(planned.reservation)

    assert engine.conclude(planned, BOTH_LIMITS, outcome).verdict is Verdict.ALLOW
    assert await store.open_order_count(VENUE, ACCOUNT) == 4


async def test_decide_when_limit_is_reached_then_cancel_and_fill_each_free_a_slot() -> None:
    store = MemoryStore(clock=FakeClock())
    policy = make_rules("{id: oo, type: max_open_orders, per_symbol: 2}")
    for n in range(2):
        assert await decide(store, make_request(BID), policy, f"d{n}") is Verdict.ALLOW
        await store.settle(facts(order_update(f"o{n}", reservation_id=f"d{n}:0")), f"d{n}")

    blocked = await decide(store, make_request(BID), policy, "d2")
    await store.learn(facts(order_update("o0", final=True)))
    after_cancel = await decide(store, make_request(BID), policy, "d3")
    blocked_again = await decide(store, make_request(BID), policy, "d4")
    await store.learn(facts(order_update("o1", executed="1", final=True)))
    after_fill = await decide(store, make_request(BID), policy, "d5")

    assert (blocked, after_cancel, blocked_again, after_fill) == (
        Verdict.BLOCK, Verdict.ALLOW, Verdict.BLOCK, Verdict.ALLOW)
