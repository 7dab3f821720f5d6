"""engine.plan / engine.conclude: pure decisions over a StateView built in the test (no store)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from decimal import Decimal
from typing import Any

import pytest

from riskwall import engine
from riskwall.model import (
    MEASURED,
    Action,
    Decision,
    Known,
    KnownOrder,
    MarginMode,
    OrderIntent,
    ParsedRequest,
    Pending,
    PositionSide,
    Reason,
    Side,
    TradingState,
    Venue,
    Verdict,
    ViewQuery,
    Violation,
)
from riskwall.policy.index import rule_kind
from riskwall.policy.loader import Policy
from riskwall.policy.model import MaxOrderQty, MaxPosition, Mode, OrderRate, PolicyMode, RuleBase, TradingStateRule
from riskwall.state.base import (
    CheckResult,
    DuplicateCheck,
    ExposureCheck,
    RateCheck,
    ReserveOutcome,
    StateScope,
    StateView,
)

from .factories import (
    ACCOUNT,
    OTHER_ACCOUNT,
    VENUE,
    make_bare_request,
    make_cancel,
    make_intent,
    make_leverage,
    make_limit,
    make_policy,
    make_request,
    make_rules,
    make_state_record,
    make_view,
    position_key,
)

DECISION_ID = "d1"


def run(request: ParsedRequest, policy: Policy, view: StateView | None = None) -> Decision:
    """plan + conclude without a store: the static verdict."""
    planned = engine.plan(request, policy, view or make_view(), DECISION_ID)
    return engine.conclude(planned, policy, None)


def run_intent(intent: OrderIntent, policy: Policy, view: StateView | None = None) -> Decision:
    return run(make_request(intent), policy, view)


def deciding(decision: Decision) -> tuple[Verdict, Reason | None, str | None]:
    v = decision.deciding
    return decision.verdict, v.reason if v else None, v.rule_id if v else None


ALLOWED = (Verdict.ALLOW, None, None)


# --- actions decided without rules ---------------------------------------------------------------------------

NO_RULES = make_rules()


@pytest.mark.parametrize(
    ("request_", "expected", "context"),
    [
        pytest.param(make_request(make_intent(), error="quantity"),
                     (Verdict.BLOCK, Reason.PARSE_FAILED, engine.RULE_PARSE), {"error": "quantity"},
                     id="new-parse-error"),
        pytest.param(make_request(make_leverage("5"), error="leverage"),
                     (Verdict.BLOCK, Reason.PARSE_FAILED, engine.RULE_PARSE), {"error": "leverage"},
                     id="set-leverage-parse-error"),
        pytest.param(make_bare_request(Action.UNKNOWN, error="body"),
                     (Verdict.BLOCK, Reason.PARSE_FAILED, engine.RULE_PARSE), {"error": "body"},
                     id="unknown-with-parse-error"),
        pytest.param(make_request(make_cancel(), error="orderId"), ALLOWED, {}, id="cancel-parse-error-passes"),
        pytest.param(make_request(make_intent(action=Action.CANCEL_ALL), error="symbol"), ALLOWED, {},
                     id="cancel-all-parse-error-passes"),
        pytest.param(make_bare_request(Action.READ, error="x"), ALLOWED, {}, id="read-parse-error-passes"),
        pytest.param(make_bare_request(Action.UNKNOWN),
                     (Verdict.BLOCK, Reason.UNKNOWN_ENDPOINT, engine.RULE_UNKNOWN_ENDPOINT),
                     {"endpoint": "POST /fapi/v1/somethingNew"}, id="unknown-endpoint"),
        pytest.param(make_bare_request(Action.FORBIDDEN),
                     (Verdict.BLOCK, Reason.ACTION_FORBIDDEN, engine.RULE_FORBIDDEN),
                     {"endpoint": "POST /sapi/v1/capital/withdraw/apply"}, id="forbidden-withdrawal"),
        pytest.param(make_bare_request(Action.READ), ALLOWED, {}, id="read"),
        pytest.param(make_request(make_intent()), ALLOWED, {}, id="new-without-rules"),
    ],
)
def test_plan_when_request_is_decided_by_its_action_then_verdict_and_reason(
    request_: ParsedRequest, expected: tuple[Verdict, Reason | None, str | None], context: dict[str, str]
) -> None:
    decision = run(request_, NO_RULES)

    assert deciding(decision) == expected
    if context:
        assert decision.deciding is not None
        assert dict(decision.deciding.context) == context
    else:
        assert decision.violations == ()


# --- symbols --------------------------------------------------------------------------------------------------

SYMBOLS = make_rules("{id: symbols, type: allowed_symbols, allow: ['BTC*', ETHUSDT], deny: ['*DOWN*']}")
DENY_ONLY = make_rules("{id: no-tokens, type: allowed_symbols, deny: ['*UP', '*DOWN']}")


@pytest.mark.parametrize(
    ("policy", "symbol", "allowed"),
    [
        pytest.param(SYMBOLS, "BTCUSDT", True, id="glob-allow"),
        pytest.param(SYMBOLS, "BTCDOMUSDT", True, id="glob-allow-prefix"),
        pytest.param(SYMBOLS, "ETHUSDT", True, id="exact-allow"),
        pytest.param(SYMBOLS, "ethusdt", True, id="case-insensitive"),
        pytest.param(SYMBOLS, "ETHBTC", False, id="not-in-allow"),
        pytest.param(SYMBOLS, "SOLUSDT", False, id="not-in-allow-2"),
        pytest.param(SYMBOLS, "BTCDOWNUSDT", False, id="deny-beats-allow"),
        pytest.param(DENY_ONLY, "XRPUSDT", True, id="deny-only-allows-rest"),
        pytest.param(DENY_ONLY, "BTCUP", False, id="deny-only-suffix"),
        pytest.param(DENY_ONLY, "BTCUPUSDT", True, id="deny-glob-is-anchored"),
    ],
)
def test_plan_when_symbol_is_checked_against_allow_and_deny_globs_then_verdict_follows(
    policy: Policy, symbol: str, allowed: bool
) -> None:
    decision = run_intent(make_intent(symbol=symbol), policy)

    if allowed:
        assert deciding(decision) == ALLOWED
    else:
        rule_id = policy.rules[0].id
        assert deciding(decision) == (Verdict.BLOCK, Reason.SYMBOL_NOT_ALLOWED, rule_id)
        assert decision.deciding is not None and decision.deciding.get("symbol") == symbol


def test_plan_when_leverage_is_set_on_a_denied_symbol_then_symbol_not_allowed() -> None:
    decision = run_intent(make_leverage("2", symbol="SOLUSDT"), SYMBOLS)

    assert deciding(decision) == (Verdict.BLOCK, Reason.SYMBOL_NOT_ALLOWED, "symbols")


def test_plan_when_symbol_rule_is_scoped_to_another_venue_then_it_does_not_apply() -> None:
    policy = make_rules("{id: symbols, type: allowed_symbols, allow: [ETHUSDT], scope: {venues: [bybit]}}")

    assert deciding(run_intent(make_intent(symbol="BTCUSDT"), policy)) == ALLOWED
    bybit = make_intent(symbol="BTCUSDT", venue=Venue.BYBIT)
    assert deciding(run_intent(bybit, policy)) == (Verdict.BLOCK, Reason.SYMBOL_NOT_ALLOWED, "symbols")


def test_plan_when_rule_is_scoped_to_an_account_label_then_only_that_account_is_checked() -> None:
    policy = make_rules("{id: symbols, type: allowed_symbols, allow: [ETHUSDT], scope: {accounts: [main]}}")

    main = make_intent(symbol="BTCUSDT", account=ACCOUNT)
    other = make_intent(symbol="BTCUSDT", account=OTHER_ACCOUNT)
    assert deciding(run_intent(main, policy))[1] is Reason.SYMBOL_NOT_ALLOWED
    assert deciding(run_intent(other, policy)) == ALLOWED


# --- order types ----------------------------------------------------------------------------------------------

ORDER_TYPES = make_rules("{id: order-types, type: order_types, allow: [limit, MARKET]}")


@pytest.mark.parametrize(
    ("intent", "blocked_type"),
    [
        pytest.param(make_intent(order_type="MARKET"), None, id="market"),
        pytest.param(make_limit("60000"), None, id="limit-written-lowercase-in-policy"),
        pytest.param(make_intent(order_type="STOP_MARKET", trigger_price="59000"), "STOP_MARKET", id="stop-market"),
        pytest.param(make_intent(action=Action.AMEND, order_type="TAKE_PROFIT", price="1", order_id="7"),
                     "TAKE_PROFIT", id="amend-checked-too"),
        pytest.param(make_leverage("3"), None, id="set-leverage-has-no-type"),
    ],
)
def test_plan_when_order_type_is_checked_then_only_allowed_types_pass(
    intent: OrderIntent, blocked_type: str | None
) -> None:
    decision = run_intent(intent, ORDER_TYPES)

    if blocked_type is None:
        assert deciding(decision) == ALLOWED
    else:
        assert deciding(decision) == (Verdict.BLOCK, Reason.ORDER_TYPE_NOT_ALLOWED, "order-types")
        assert decision.deciding is not None and decision.deciding.get("order_type") == blocked_type


def test_plan_when_order_type_differs_only_in_case_then_it_is_allowed() -> None:
    assert deciding(run_intent(make_intent(order_type="Limit", price="1"), ORDER_TYPES)) == ALLOWED


# --- leverage -------------------------------------------------------------------------------------------------

LEVERAGE = make_rules("{id: leverage, type: max_leverage, default: 5, symbols: {'BTC*': 3, BTCUSDT: 20, 'ETH*': 10}}")


@pytest.mark.parametrize(
    ("symbol", "leverage", "limit"),
    [
        pytest.param("BTCUSDT", "20", None, id="exact-symbol-at-limit"),
        pytest.param("BTCUSDT", "21", "20", id="exact-symbol-beats-earlier-pattern"),
        pytest.param("BTCDOMUSDT", "3", None, id="pattern-at-limit"),
        pytest.param("BTCDOMUSDT", "4", "3", id="pattern-over-limit"),
        pytest.param("ETHUSDT", "10", None, id="second-pattern"),
        pytest.param("ETHUSDT", "10.5", "10", id="second-pattern-over-by-a-fraction"),
        pytest.param("SOLUSDT", "5", None, id="default-at-limit"),
        pytest.param("SOLUSDT", "6", "5", id="default-over-limit"),
    ],
)
def test_plan_when_leverage_is_set_then_per_symbol_limit_beats_default(
    symbol: str, leverage: str, limit: str | None
) -> None:
    decision = run_intent(make_leverage(leverage, symbol=symbol), LEVERAGE)

    if limit is None:
        assert deciding(decision) == ALLOWED
    else:
        assert deciding(decision) == (Verdict.BLOCK, Reason.LEVERAGE_EXCEEDS_MAX, "leverage")
        assert decision.deciding is not None
        assert decision.deciding.get("leverage") == leverage
        assert decision.deciding.get("max_leverage") == limit
        assert decision.deciding.get("symbol") == symbol
        assert decision.deciding.detail.startswith(f"LEVERAGE_EXCEEDS_MAX: leverage={leverage}, max_leverage={limit}")


def test_plan_when_leverage_rule_exists_then_new_orders_are_not_checked_against_it() -> None:
    assert deciding(run_intent(make_intent(leverage="50"), LEVERAGE)) == ALLOWED


# --- order size and notional ----------------------------------------------------------------------------------

QTY = make_rules("{id: order-qty, type: max_order_qty, default: 10, symbols: {BTCUSDT: 0.5}}")


@pytest.mark.parametrize(
    ("symbol", "qty", "limit"),
    [
        pytest.param("BTCUSDT", "0.5", None, id="at-symbol-limit"),
        pytest.param("BTCUSDT", "0.50000001", "0.5", id="over-by-one-satoshi"),
        pytest.param("ETHUSDT", "10", None, id="at-default"),
        pytest.param("ETHUSDT", "10.1", "10", id="over-default"),
    ],
)
def test_plan_when_order_qty_is_checked_then_symbol_limit_or_default_applies(
    symbol: str, qty: str, limit: str | None
) -> None:
    decision = run_intent(make_intent(symbol=symbol, quantity=qty), QTY)

    if limit is None:
        assert deciding(decision) == ALLOWED
    else:
        assert deciding(decision) == (Verdict.BLOCK, Reason.ORDER_QTY_EXCEEDS_MAX, "order-qty")
        assert decision.deciding is not None
        assert (decision.deciding.get("qty"), decision.deciding.get("max_qty")) == (qty, limit)


NOTIONAL = make_rules("{id: notional, type: max_order_notional, default: 1000}")
NOTIONAL_LENIENT = make_rules("{id: notional, type: max_order_notional, default: 1000, on_price_unknown: allow}")


@pytest.mark.parametrize(
    ("intent", "prices", "expected", "notional", "price"),
    [
        pytest.param(make_limit("100000", quantity="0.01"), {}, ALLOWED, None, None, id="limit-at-limit"),
        pytest.param(make_limit("100000", quantity="0.011"), {},
                     (Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, "notional"), "1100", "100000",
                     id="limit-over"),
        pytest.param(make_limit("200000", quantity="0.01"), {"BTCUSDT": "50000"},
                     (Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, "notional"), "2000", "200000",
                     id="limit-uses-own-price-not-market"),
        pytest.param(make_intent(quantity="0.02"), {"BTCUSDT": "50000"}, ALLOWED, None, None,
                     id="market-at-limit-with-view-price"),
        pytest.param(make_intent(quantity="0.03"), {"BTCUSDT": "50000"},
                     (Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, "notional"), "1500", "50000",
                     id="market-over-with-view-price"),
        pytest.param(make_intent(quantity="0.001"), {},
                     (Verdict.BLOCK, Reason.PRICE_UNKNOWN, "notional"), None, None, id="market-without-price"),
        pytest.param(make_intent(quantity="0.001"), {"ETHUSDT": "3000"},
                     (Verdict.BLOCK, Reason.PRICE_UNKNOWN, "notional"), None, None,
                     id="market-with-price-of-other-symbol-only"),
        pytest.param(make_intent(order_type="STOP_MARKET", trigger_price="40000", quantity="0.03"), {},
                     (Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, "notional"), "1200", "40000",
                     id="stop-market-falls-back-to-trigger-price"),
        # a sell limit below the market fills at the market: measured at the higher of the two
        pytest.param(make_limit("1000", side=Side.SELL, quantity="0.021"), {"BTCUSDT": "50000"},
                     (Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, "notional"), "1050", "50000",
                     id="sell-limit-below-the-market-at-the-market"),
        pytest.param(make_limit("60000", side=Side.SELL, quantity="0.02"), {"BTCUSDT": "50000"},
                     (Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, "notional"), "1200", "60000",
                     id="sell-limit-above-the-market-at-its-own-price"),
        pytest.param(make_limit("1000", side=Side.SELL, quantity="0.02"), {}, ALLOWED, None, None,
                     id="sell-limit-without-a-mark-at-its-own-price"),
        # a stop-market buy above the market fills about its trigger
        pytest.param(make_intent(order_type="STOP_MARKET", trigger_price="60000", quantity="0.02"),
                     {"BTCUSDT": "50000"}, (Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, "notional"), "1200",
                     "60000", id="stop-market-buy-above-the-market-at-its-trigger"),
    ],
)
def test_plan_when_order_notional_is_checked_then_limit_orders_use_own_price_and_market_orders_view_price(
    intent: OrderIntent,
    prices: dict[str, str],
    expected: tuple[Verdict, Reason | None, str | None],
    notional: str | None,
    price: str | None,
) -> None:
    decision = run_intent(intent, NOTIONAL, make_view(prices=prices))

    assert deciding(decision) == expected
    if notional is not None:
        assert decision.deciding is not None
        assert decision.deciding.get("notional") == notional
        assert decision.deciding.get("max_notional") == "1000"
        assert decision.deciding.get("price") == price


def test_plan_when_price_unknown_and_rule_says_allow_then_order_passes() -> None:
    assert deciding(run_intent(make_intent(quantity="100"), NOTIONAL_LENIENT)) == ALLOWED


# --- orders that only reduce ----------------------------------------------------------------------------------

EVERY_STATIC_LIMIT = make_rules(
    "{id: symbols, type: allowed_symbols, allow: [ETHUSDT]}",
    "{id: order-types, type: order_types, allow: [LIMIT]}",
    "{id: order-qty, type: max_order_qty, default: 0.001}",
    "{id: notional, type: max_order_notional, default: 1}",
    "{id: position, type: max_position, default: {qty: 0.001, notional: 1}}",
)

# (intent, the position it reduces): a reduction is exempt only as far as the position it reduces
REDUCING_INTENTS = [
    pytest.param(make_intent(side=Side.SELL, quantity="5", reduce_only=True), {"BTCUSDT": "5"}, id="reduce-only"),
    pytest.param(make_intent(side=Side.SELL, quantity=None, close_position=True, order_type="STOP_MARKET",
                             trigger_price="1"), {}, id="close-position"),
    pytest.param(make_intent(side=Side.SELL, position_side=PositionSide.LONG, quantity="5"),
                 {("BTCUSDT", PositionSide.LONG): "5"}, id="hedge-sell-long"),
    pytest.param(make_intent(side=Side.BUY, position_side=PositionSide.SHORT, quantity="5"),
                 {("BTCUSDT", PositionSide.SHORT): "-5"}, id="hedge-buy-short"),
]


@pytest.mark.parametrize(("intent", "positions"), REDUCING_INTENTS)
def test_plan_when_order_only_reduces_within_position_then_it_is_exempt_from_every_limit(
    intent: OrderIntent, positions: dict[Any, str]
) -> None:
    decision = run_intent(intent, EVERY_STATIC_LIMIT, make_view(positions=positions))  # no price known either

    assert deciding(decision) == ALLOWED
    assert decision.shadowed == ()


def test_plan_when_same_order_does_not_reduce_then_the_limits_do_block() -> None:
    # the control for the exemption test: the policy really blocks a plain order of the same shape
    decision = run_intent(make_intent(side=Side.SELL, quantity="5"), EVERY_STATIC_LIMIT)

    assert [v.reason for v in decision.violations] == [
        Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_TYPE_NOT_ALLOWED, Reason.ORDER_QTY_EXCEEDS_MAX,
        Reason.PRICE_UNKNOWN, Reason.PRICE_UNKNOWN,
    ]


@pytest.mark.parametrize(
    ("intent", "positions"),
    [
        pytest.param(make_intent(side=Side.SELL, quantity="5", reduce_only=True), {}, id="reduce-only-flat"),
        pytest.param(make_intent(side=Side.SELL, quantity="5", reduce_only=True), {"BTCUSDT": "4.9"},
                     id="reduce-only-larger-than-long"),
        pytest.param(make_intent(side=Side.SELL, quantity="5", reduce_only=True), {"BTCUSDT": "-5"},
                     id="reduce-only-on-the-wrong-side"),
        pytest.param(make_intent(side=Side.SELL, position_side=PositionSide.LONG, quantity="5"),
                     {("BTCUSDT", PositionSide.LONG): "1"}, id="hedge-close-larger-than-long"),
    ],
)
def test_plan_when_reduction_exceeds_what_it_reduces_then_checked_like_any_order(
    intent: OrderIntent, positions: dict[Any, str]
) -> None:
    # a reduce-only flag the venue reads differently is harmless: beyond the position every limit applies
    decision = run_intent(intent, EVERY_STATIC_LIMIT, make_view(positions=positions))

    assert {v.reason for v in decision.violations} >= {Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_QTY_EXCEEDS_MAX}


def test_plan_when_reductions_are_already_pending_then_exemption_reaches_only_what_is_left() -> None:
    key = position_key()
    view = dataclasses.replace(make_view(positions={"BTCUSDT": "5"}),
                               pending={(key, Side.SELL): Pending(adding=Decimal("1"), reducing=Decimal("3"))})

    within = run_intent(make_intent(side=Side.SELL, quantity="1", reduce_only=True), EVERY_STATIC_LIMIT, view)
    beyond = run_intent(make_intent(side=Side.SELL, quantity="1.1", reduce_only=True), EVERY_STATIC_LIMIT, view)

    assert deciding(within) == ALLOWED
    assert deciding(beyond)[0] is Verdict.BLOCK


def test_plan_when_batch_legs_reduce_one_position_then_they_share_its_bound() -> None:
    request = make_request(make_intent(side=Side.SELL, quantity="3", reduce_only=True),
                           make_intent(side=Side.SELL, quantity="3", reduce_only=True))

    decision = run(request, EVERY_STATIC_LIMIT, make_view(positions={"BTCUSDT": "5"}))

    assert decision.verdict is Verdict.BLOCK
    assert {v.leg for v in decision.violations} == {1}


@pytest.mark.parametrize(("intent", "positions"), [p for p in REDUCING_INTENTS if p.id != "close-position"])
def test_plan_when_order_only_reduces_then_store_confirms_the_bound_and_holds_it_as_a_reduction(
    intent: OrderIntent, positions: dict[Any, str]
) -> None:
    policy = make_rules("{id: position, type: max_position, default: {qty: 0.001}}",
                        "{id: order-rate, type: order_rate, limits: ['1/1s']}")

    planned = engine.plan(make_request(intent), policy, make_view(positions=positions), DECISION_ID)

    assert planned.violations == ()
    assert planned.reservation is not None
    assert planned.reservation.exposure == () and planned.reservation.rate == ()
    [bound] = planned.reservation.reductions
    assert (bound.rule_id, bound.side, bound.quantity, bound.reason) == (engine.RULE_REDUCTION, intent.side,
                                                                          Decimal("5"), None)
    [held] = planned.reservation.pending
    assert (held.reducing, held.quantity) == (True, Decimal("5"))


def test_plan_when_close_position_has_no_size_then_nothing_is_reserved() -> None:
    policy = make_rules("{id: order-rate, type: order_rate, limits: ['1/1s']}")
    close = make_intent(side=Side.SELL, quantity=None, close_position=True, order_type="STOP_MARKET")

    planned = engine.plan(make_request(close), policy, make_view(), DECISION_ID)

    assert planned.reservation is not None and planned.reservation.empty
    assert not planned.needs_store


@pytest.mark.parametrize(("exempted", "replanned_reasons"), [(True, None), (False, {Reason.ORDER_QTY_EXCEEDS_MAX})])
def test_plan_when_store_refuses_an_exempt_reduction_then_it_is_planned_again_as_an_ordinary_order(
    exempted: bool, replanned_reasons: set[Reason] | None
) -> None:
    intent = make_intent(side=Side.SELL, quantity="5", reduce_only=True)
    view = make_view(positions={"BTCUSDT": "5"})

    planned = engine.plan(make_request(intent), EVERY_STATIC_LIMIT, view, DECISION_ID, exempt_reductions=exempted)

    if exempted:
        assert planned.violations == ()
        [bound] = planned.reservation.reductions if planned.reservation else ()
        refused = ReserveOutcome(False, (CheckResult(bound, Decimal("0"), False),))
        assert planned.exemption_refused(refused)
    else:
        assert {v.reason for v in planned.violations} >= (replanned_reasons or set())


# --- trading state (policy rule) ------------------------------------------------------------------------------

HALTED = make_rules(
    "{id: halt, type: trading_state, state: HALTED}", "{id: leverage, type: max_leverage, default: 100}"
)


@pytest.mark.parametrize(
    ("intent", "blocked"),
    [
        pytest.param(make_intent(), True, id="new-order"),
        pytest.param(make_limit("1", action=Action.AMEND, order_id="7"), True, id="amend"),
        pytest.param(make_intent(side=Side.SELL, reduce_only=True), True, id="reduce-only-too"),
        pytest.param(make_intent(side=Side.SELL, position_side=PositionSide.LONG), True, id="hedge-close-too"),
        pytest.param(make_leverage("2"), True, id="leverage-change"),
        pytest.param(make_intent(action=Action.SET_MARGIN_MODE, margin_mode="ISOLATED"), True, id="margin-mode"),
        pytest.param(make_cancel(), False, id="cancel"),
        pytest.param(make_intent(action=Action.CANCEL_ALL), False, id="cancel-all"),
    ],
)
def test_plan_when_policy_state_is_halted_then_only_cancels_pass(intent: OrderIntent, blocked: bool) -> None:
    decision = run_intent(intent, HALTED, make_view(positions={"BTCUSDT": "1"}))

    if not blocked:
        assert deciding(decision) == ALLOWED
        return
    assert deciding(decision) == (Verdict.BLOCK, Reason.TRADING_HALTED, "halt")
    assert decision.deciding is not None
    assert decision.deciding.get("state") == "HALTED"
    assert decision.deciding.get("action") == str(intent.action)
    assert decision.deciding.get("source") == "policy"


REDUCING = make_rules("{id: reduce, type: trading_state, state: REDUCING}")


@pytest.mark.parametrize(
    ("intent", "positions", "allowed"),
    [
        pytest.param(make_intent(side=Side.BUY, quantity="1"), {}, False, id="flat-buy-opens"),
        pytest.param(make_intent(side=Side.SELL, quantity="1"), {}, False, id="flat-sell-opens"),
        pytest.param(make_intent(side=Side.SELL, quantity="1"), {"BTCUSDT": "2"}, True, id="long-partial-sell"),
        pytest.param(make_intent(side=Side.SELL, quantity="2"), {"BTCUSDT": "2"}, True, id="long-full-sell"),
        pytest.param(make_intent(side=Side.SELL, quantity="2.001"), {"BTCUSDT": "2"}, False, id="long-sell-flips"),
        pytest.param(make_intent(side=Side.BUY, quantity="1"), {"BTCUSDT": "2"}, False, id="long-buy-grows"),
        pytest.param(make_intent(side=Side.BUY, quantity="2"), {"BTCUSDT": "-2"}, True, id="short-buy-closes"),
        pytest.param(make_intent(side=Side.SELL, quantity="1"), {"BTCUSDT": "-2"}, False, id="short-sell-grows"),
        pytest.param(make_intent(side=Side.SELL, quantity="1"), {"ETHUSDT": "2"}, False,
                     id="position-in-other-symbol-does-not-count"),
        pytest.param(make_intent(side=Side.SELL, quantity="1"),
                     {position_key(account=OTHER_ACCOUNT): "2"}, False,
                     id="position-of-other-account-does-not-count"),
        pytest.param(make_intent(side=Side.BUY, position_side=PositionSide.LONG, quantity="1"),
                     {("BTCUSDT", PositionSide.LONG): "2"}, False, id="hedge-long-buy-grows"),
        pytest.param(make_intent(side=Side.SELL, position_side=PositionSide.LONG, quantity="1"),
                     {("BTCUSDT", PositionSide.LONG): "2"}, True, id="hedge-long-sell-closes"),
        pytest.param(make_intent(side=Side.SELL, reduce_only=True, quantity="1"), {}, False,
                     id="reduce-only-flag-alone-does-not-reduce"),
        pytest.param(make_intent(side=Side.SELL, reduce_only=True, quantity="2"), {"BTCUSDT": "2"}, True,
                     id="reduce-only-within-long"),
        pytest.param(make_intent(side=Side.SELL, reduce_only=True, quantity="3"), {"BTCUSDT": "2"}, False,
                     id="reduce-only-beyond-long"),
        pytest.param(make_intent(side=Side.SELL, position_side=PositionSide.LONG, quantity="3"),
                     {("BTCUSDT", PositionSide.LONG): "2"}, False, id="hedge-close-beyond-long"),
        pytest.param(make_leverage("2"), {"BTCUSDT": "2"}, False, id="leverage-change"),
        pytest.param(make_cancel(), {}, True, id="cancel"),
    ],
)
def test_plan_when_policy_state_is_reducing_then_only_reductions_of_an_existing_position_pass(
    intent: OrderIntent, positions: dict[str, str], allowed: bool
) -> None:
    decision = run_intent(intent, REDUCING, make_view(positions=positions))

    if allowed:
        assert deciding(decision) == ALLOWED
    else:
        assert deciding(decision) == (Verdict.BLOCK, Reason.TRADING_REDUCING, "reduce")
        assert decision.deciding is not None and decision.deciding.get("state") == "REDUCING"


def test_plan_when_trading_state_rule_is_scoped_to_a_symbol_then_other_symbols_trade() -> None:
    policy = make_rules("{id: halt-sol, type: trading_state, state: HALTED, scope: {symbols: ['SOL*']}}")

    assert deciding(run_intent(make_intent(symbol="SOLUSDT"), policy))[1] is Reason.TRADING_HALTED
    assert deciding(run_intent(make_intent(symbol="BTCUSDT"), policy)) == ALLOWED


def test_plan_when_policy_state_is_active_then_nothing_is_blocked() -> None:
    policy = make_rules("{id: active, type: trading_state, state: ACTIVE}")

    assert deciding(run_intent(make_intent(), policy)) == ALLOWED


# --- trading state (store records, the runtime kill switch) ---------------------------------------------------

COVERING_SCOPES = [
    pytest.param(StateScope(), "global", id="global"),
    pytest.param(StateScope(venue="binanceusdm"), "venue=binanceusdm", id="venue"),
    pytest.param(StateScope(venue="binanceusdm", account=ACCOUNT), f"venue=binanceusdm,account={ACCOUNT}",
                 id="account"),
    pytest.param(StateScope(venue="binanceusdm", symbol="BTCUSDT"), "venue=binanceusdm,symbol=BTCUSDT", id="symbol"),
]


@pytest.mark.parametrize(("scope", "scope_text"), COVERING_SCOPES)
def test_plan_when_store_halts_a_covering_scope_then_new_orders_are_blocked_by_the_kill_switch(
    scope: StateScope, scope_text: str
) -> None:
    record = make_state_record(scope, TradingState.HALTED, reason="exchange incident")
    view = make_view(states=(record,))

    decision = run_intent(make_intent(), NO_RULES, view)

    assert deciding(decision) == (Verdict.BLOCK, Reason.TRADING_HALTED, engine.RULE_KILL_SWITCH)
    assert decision.deciding is not None
    assert decision.deciding.get("scope") == scope_text
    assert decision.deciding.get("state") == "HALTED"
    assert "exchange incident" in dict(decision.deciding.context).values()


def test_plan_when_store_says_reducing_and_order_opens_from_flat_then_trading_reducing() -> None:
    view = make_view(states=(make_state_record(StateScope(venue="binanceusdm"), TradingState.REDUCING),))

    decision = run_intent(make_intent(), NO_RULES, view)

    assert deciding(decision) == (Verdict.BLOCK, Reason.TRADING_REDUCING, engine.RULE_KILL_SWITCH)


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(StateScope(venue="bybit"), id="other-venue"),
        pytest.param(StateScope(venue="binanceusdm", account=OTHER_ACCOUNT), id="other-account"),
        pytest.param(StateScope(venue="binanceusdm", symbol="ETHUSDT"), id="other-symbol"),
    ],
)
def test_plan_when_store_halts_a_scope_that_does_not_cover_the_order_then_it_passes(scope: StateScope) -> None:
    view = make_view(states=(make_state_record(scope, TradingState.HALTED),))

    assert deciding(run_intent(make_intent(), NO_RULES, view)) == ALLOWED


@pytest.mark.parametrize(("scope_account", "holder", "covered"), [
    ("label:main", "label:main", True),
    ("label:main", "label:main@demo", True),  # the label's keys on the venue's demo book: its halt covers them
    ("label:main@demo", "label:main", False),  # a state of the demo book (a reject storm there) is not the live one's
    ("label:main", "label:mainx@demo", False),
])
def test_covers_when_a_label_scope_meets_the_labels_testnet_holder_then_the_label_covers_it(
    scope_account: str, holder: str, covered: bool
) -> None:
    scope = StateScope(venue="binanceusdm", account=scope_account)

    assert scope.covers("binanceusdm", ACCOUNT, "BTCUSDT", holder) is covered


@pytest.mark.parametrize("scope", [scope for scope, _ in (p.values for p in COVERING_SCOPES)])
def test_plan_when_store_halts_then_cancels_still_pass(scope: StateScope) -> None:
    view = make_view(states=(make_state_record(scope, TradingState.HALTED),))

    assert deciding(run_intent(make_cancel(), NO_RULES, view)) == ALLOWED
    assert deciding(run_intent(make_intent(action=Action.CANCEL_ALL), NO_RULES, view)) == ALLOWED


def test_plan_when_store_says_reducing_and_order_reduces_then_it_passes() -> None:
    view = make_view(
        positions={"BTCUSDT": "3"},
        states=(make_state_record(StateScope(venue="binanceusdm", account=ACCOUNT), TradingState.REDUCING),),
    )

    assert deciding(run_intent(make_intent(side=Side.SELL, quantity="3"), NO_RULES, view)) == ALLOWED


# --- shadow rules and monitor mode ----------------------------------------------------------------------------


def test_plan_when_only_shadow_rules_fail_then_allow_with_every_shadowed_violation() -> None:
    policy = make_rules(
        "{id: qty-shadow, type: max_order_qty, default: 1, mode: shadow}",
        "{id: symbols-shadow, type: allowed_symbols, allow: [ETHUSDT], mode: shadow}",
    )

    decision = run_intent(make_intent(quantity="2"), policy)

    assert decision.verdict is Verdict.ALLOW
    assert decision.violations == ()
    assert [(v.rule_id, v.reason) for v in decision.shadowed] == [
        ("symbols-shadow", Reason.SYMBOL_NOT_ALLOWED),
        ("qty-shadow", Reason.ORDER_QTY_EXCEEDS_MAX),
    ]
    assert decision.monitored is False


def test_plan_when_enforced_and_shadow_rules_both_fail_then_enforced_decides_and_shadow_is_reported() -> None:
    policy = make_rules(
        "{id: qty-shadow, type: max_order_qty, default: 1, mode: shadow}",
        "{id: qty, type: max_order_qty, default: 5}",
    )

    decision = run_intent(make_intent(quantity="6"), policy)

    assert deciding(decision) == (Verdict.BLOCK, Reason.ORDER_QTY_EXCEEDS_MAX, "qty")
    assert [v.rule_id for v in decision.violations] == ["qty"]
    assert [v.rule_id for v in decision.shadowed] == ["qty-shadow"]


def test_plan_when_shadow_trading_state_halts_then_order_passes_with_shadowed_halt() -> None:
    policy = make_rules("{id: halt, type: trading_state, state: HALTED, mode: shadow}")

    decision = run_intent(make_intent(), policy)

    assert decision.verdict is Verdict.ALLOW
    assert [(v.rule_id, v.reason) for v in decision.shadowed] == [("halt", Reason.TRADING_HALTED)]


@pytest.mark.parametrize(
    ("intent", "shadowed_reasons"),
    [
        pytest.param(make_intent(quantity="2"), [Reason.ORDER_QTY_EXCEEDS_MAX], id="violating"),
        pytest.param(make_intent(quantity="0.5"), [], id="clean"),
    ],
)
def test_plan_when_policy_mode_is_monitor_then_allow_and_monitored_only_if_something_failed(
    intent: OrderIntent, shadowed_reasons: list[Reason]
) -> None:
    policy = make_rules("{id: qty, type: max_order_qty, default: 1}", mode="monitor")

    decision = run_intent(intent, policy)

    assert decision.verdict is Verdict.ALLOW
    assert decision.violations == ()
    assert [v.reason for v in decision.shadowed] == shadowed_reasons
    assert decision.monitored is bool(shadowed_reasons)
    assert decision.policy_revision == policy.revision
    assert decision.decision_id == DECISION_ID


# --- batches --------------------------------------------------------------------------------------------------


def test_plan_when_one_leg_of_a_batch_is_bad_then_the_whole_batch_is_blocked_naming_the_leg() -> None:
    request = make_request(
        make_intent(symbol="BTCUSDT"),
        make_intent(symbol="SOLUSDT"),
        make_intent(symbol="ETHUSDT"),
        endpoint="POST /fapi/v1/batchOrders",
    )

    decision = run(request, SYMBOLS)

    assert deciding(decision) == (Verdict.BLOCK, Reason.SYMBOL_NOT_ALLOWED, "symbols")
    assert decision.deciding is not None
    assert decision.deciding.leg == 1
    assert decision.deciding.get("symbol") == "SOLUSDT"
    assert len(decision.violations) == 1


def test_plan_when_single_order_is_blocked_then_violation_names_no_leg() -> None:
    decision = run_intent(make_intent(symbol="SOLUSDT"), SYMBOLS)

    assert decision.deciding is not None and decision.deciding.leg is None


def test_plan_when_every_leg_of_a_batch_is_good_then_allow() -> None:
    request = make_request(make_intent(symbol="BTCUSDT"), make_intent(symbol="ETHUSDT"))

    assert deciding(run(request, SYMBOLS)) == ALLOWED


# --- order of checks ------------------------------------------------------------------------------------------

# rules written in the reverse of the check order: the engine must still check in the README's order of checks
EVERYTHING_REVERSED = make_rules(
    "{id: position, type: max_position, default: {notional: 10}}",
    "{id: notional, type: max_order_notional, default: 10}",
    "{id: order-qty, type: max_order_qty, default: 1}",
    "{id: leverage, type: max_leverage, default: 2}",
    "{id: order-types, type: order_types, allow: [LIMIT]}",
    "{id: symbols, type: allowed_symbols, allow: [ETHUSDT]}",
    "{id: halt, type: trading_state, state: HALTED}",
)


@pytest.mark.parametrize(
    ("intent", "reasons"),
    [
        pytest.param(
            make_intent(symbol="SOLUSDT", order_type="MARKET", quantity="2"),
            [Reason.TRADING_HALTED, Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_TYPE_NOT_ALLOWED,
             Reason.ORDER_QTY_EXCEEDS_MAX, Reason.PRICE_UNKNOWN, Reason.PRICE_UNKNOWN],
            id="market-order",
        ),
        pytest.param(
            make_intent(symbol="SOLUSDT", order_type="STOP", price="100", quantity="2"),
            [Reason.TRADING_HALTED, Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_TYPE_NOT_ALLOWED,
             Reason.ORDER_QTY_EXCEEDS_MAX, Reason.ORDER_NOTIONAL_EXCEEDS_MAX],
            id="priced-order",
        ),
        pytest.param(
            make_leverage("3", symbol="SOLUSDT"),
            [Reason.TRADING_HALTED, Reason.SYMBOL_NOT_ALLOWED, Reason.LEVERAGE_EXCEEDS_MAX],
            id="leverage",
        ),
    ],
)
def test_plan_when_several_rules_fail_then_violations_follow_check_order_and_the_first_decides(
    intent: OrderIntent, reasons: list[Reason]
) -> None:
    decision = run_intent(intent, EVERYTHING_REVERSED)

    assert [v.reason for v in decision.violations] == reasons
    assert deciding(decision) == (Verdict.BLOCK, Reason.TRADING_HALTED, "halt")


def test_plan_when_static_rules_fail_then_store_is_not_needed() -> None:
    policy = make_rules("{id: qty, type: max_order_qty, default: 1}", "{id: rate, type: order_rate, limits: ['5/1s']}")

    planned = engine.plan(make_request(make_intent(quantity="2")), policy, make_view(), DECISION_ID)

    assert planned.violations and not planned.needs_store


# --- the reservation a plan asks for --------------------------------------------------------------------------

RATE = make_rules("{id: order-rate, type: order_rate, limits: ['10/1s', '100/1m']}")


def test_plan_when_batch_is_rate_limited_then_each_window_costs_the_number_of_legs() -> None:
    request = make_request(make_intent(), make_intent(symbol="ETHUSDT"), make_intent(symbol="SOLUSDT"))

    planned = engine.plan(request, RATE, make_view(), DECISION_ID)

    assert planned.needs_store
    assert planned.reservation is not None
    rate = planned.reservation.rate
    assert [(c.rule_id, c.limit, c.window_ms, c.cost, c.enforced) for c in rate] == [
        ("order-rate", 10, 1000, 3, True),
        ("order-rate", 100, 60_000, 3, True),
    ]
    assert len({c.key for c in rate}) == 1  # one account budget, two windows over it


@pytest.mark.parametrize(
    ("per", "expected_costs"),
    [
        pytest.param("symbol", {"BTCUSDT": 2, "ETHUSDT": 1}, id="per-symbol"),
        pytest.param("account", {None: 3}, id="per-account"),
    ],
)
def test_plan_when_rate_is_keyed_per_symbol_or_account_then_legs_share_keys_accordingly(
    per: str, expected_costs: dict[str | None, int]
) -> None:
    policy = make_rules(f"{{id: rate, type: order_rate, limits: ['5/1s'], per: {per}}}")
    request = make_request(make_intent(), make_intent(), make_intent(symbol="ETHUSDT"))

    planned = engine.plan(request, policy, make_view(), DECISION_ID)

    assert planned.reservation is not None
    rate = planned.reservation.rate
    assert sorted(c.cost for c in rate) == sorted(expected_costs.values())
    assert len({c.key for c in rate}) == len(expected_costs)
    for check in rate:
        for symbol, cost in expected_costs.items():
            if symbol is not None and symbol in check.key:
                assert check.cost == cost


def test_plan_when_rate_is_per_symbol_then_keys_differ_by_symbol_but_not_by_other_account_state() -> None:
    policy = make_rules("{id: rate, type: order_rate, limits: ['5/1s'], per: symbol}")

    def key(intent: OrderIntent) -> str:
        planned = engine.plan(make_request(intent), policy, make_view(), DECISION_ID)
        assert planned.reservation is not None
        (check,) = planned.reservation.rate
        return check.key

    assert key(make_intent(symbol="BTCUSDT")) == key(make_intent(symbol="BTCUSDT", side=Side.SELL))
    assert key(make_intent(symbol="BTCUSDT")) != key(make_intent(symbol="ETHUSDT"))
    assert key(make_intent(account=ACCOUNT)) != key(make_intent(account=OTHER_ACCOUNT))


@pytest.mark.parametrize(
    ("rule_mode", "policy_mode", "enforced"),
    [
        pytest.param("enforce", "enforce", True, id="enforce"),
        pytest.param("shadow", "enforce", False, id="shadow-rule"),
        pytest.param("enforce", "monitor", False, id="monitor-policy"),
    ],
)
def test_plan_when_rate_rule_is_shadow_or_policy_monitors_then_store_check_is_not_enforced(
    rule_mode: str, policy_mode: str, enforced: bool
) -> None:
    policy = make_rules(f"{{id: rate, type: order_rate, limits: ['5/1s'], mode: {rule_mode}}}", mode=policy_mode)

    planned = engine.plan(make_request(make_intent()), policy, make_view(), DECISION_ID)

    assert planned.reservation is not None
    assert [c.enforced for c in planned.reservation.rate] == [enforced]


@pytest.mark.parametrize(
    "intent",
    [
        pytest.param(make_cancel(), id="cancel"),
        pytest.param(make_intent(action=Action.CANCEL_ALL), id="cancel-all"),
        pytest.param(make_leverage("2"), id="set-leverage"),
    ],
)
def test_plan_when_action_adds_no_orders_then_no_store_work(intent: OrderIntent) -> None:
    policy = make_rules(
        "{id: rate, type: order_rate, limits: ['1/1s']}", "{id: pos, type: max_position, default: {qty: 1}}"
    )

    planned = engine.plan(make_request(intent), policy, make_view(), DECISION_ID)

    assert not planned.needs_store
    assert planned.reservation is None or planned.reservation.empty


def test_plan_when_request_has_no_account_then_no_store_work() -> None:
    planned = engine.plan(make_request(make_intent(account=None)), RATE, make_view(), DECISION_ID)

    assert not planned.needs_store


@pytest.mark.parametrize(
    ("limit_yaml", "intent", "prices", "expected_limit"),
    [
        pytest.param("{qty: 2}", make_intent(quantity="1"), {}, Decimal("2"), id="qty-only-needs-no-price"),
        pytest.param("{notional: 100000}", make_intent(quantity="1"), {"BTCUSDT": "50000"}, Decimal("2"),
                     id="notional-at-view-price"),
        pytest.param("{qty: 1.5, notional: 100000}", make_intent(quantity="1"), {"BTCUSDT": "50000"},
                     Decimal("1.5"), id="qty-tighter"),
        pytest.param("{qty: 3, notional: 100000}", make_intent(quantity="1"), {"BTCUSDT": "50000"},
                     Decimal("2"), id="notional-tighter"),
        pytest.param("{notional: 100000}", make_limit("40000", quantity="1"), {}, Decimal("2.5"),
                     id="notional-at-own-price-when-no-market-price"),
        pytest.param("{notional: 100000}", make_limit("40000", quantity="1"), {"BTCUSDT": "50000"}, Decimal("2"),
                     id="position-valued-at-market-not-limit-price"),
    ],
)
def test_plan_when_max_position_applies_then_exposure_check_uses_tighter_of_qty_and_notional_over_price(
    limit_yaml: str, intent: OrderIntent, prices: dict[str, str], expected_limit: Decimal
) -> None:
    policy = make_rules(f"{{id: position, type: max_position, default: {limit_yaml}}}")

    planned = engine.plan(make_request(intent), policy, make_view(prices=prices), DECISION_ID)

    assert planned.violations == ()
    assert planned.reservation is not None
    assert planned.reservation.exposure == (
        ExposureCheck("position", position_key(), Side.BUY, Decimal("1"), expected_limit, True, None),
    )


def test_plan_when_batch_legs_share_position_and_side_then_one_exposure_check_sums_them() -> None:
    policy = make_rules("{id: position, type: max_position, default: {qty: 5}}")
    request = make_request(
        make_intent(quantity="1"),
        make_intent(quantity="2", side=Side.SELL),
        make_intent(quantity="0.5"),
        make_intent(quantity="0.25", symbol="ETHUSDT"),
    )

    planned = engine.plan(request, policy, make_view(), DECISION_ID)

    assert planned.reservation is not None
    checks = {(c.position.symbol, c.side): c.quantity for c in planned.reservation.exposure}
    assert checks == {
        ("BTCUSDT", Side.BUY): Decimal("1.5"),
        ("BTCUSDT", Side.SELL): Decimal("2"),
        ("ETHUSDT", Side.BUY): Decimal("0.25"),
    }


def test_plan_when_orders_are_admitted_then_pending_entries_are_keyed_decision_and_leg_reductions_marked() -> None:
    request = make_request(
        make_intent(quantity="1"),
        make_intent(quantity="3", side=Side.SELL, reduce_only=True),
        make_intent(quantity="2", side=Side.SELL, symbol="ETHUSDT", position_side=PositionSide.SHORT),
    )

    planned = engine.plan(request, NO_RULES, make_view(positions={"BTCUSDT": "3"}), "dec-42")

    assert planned.reservation is not None
    assert [(p.leg_id, p.position, p.side, p.quantity, p.reducing) for p in planned.reservation.pending] == [
        ("dec-42:0", position_key(), Side.BUY, Decimal("1"), False),
        ("dec-42:1", position_key(), Side.SELL, Decimal("3"), True),
        ("dec-42:2", position_key("ETHUSDT", PositionSide.SHORT), Side.SELL, Decimal("2"), False),
    ]
    assert planned.reservation.id == "dec-42"


def test_plan_when_order_is_amended_then_exposure_check_replaces_the_amended_order() -> None:
    policy = make_rules("{id: position, type: max_position, default: {qty: 5}}")
    amend = make_limit("50000", action=Action.AMEND, quantity="2", order_id="777")

    planned = engine.plan(make_request(amend), policy, make_view(), DECISION_ID)

    assert planned.reservation is not None
    (check,) = planned.reservation.exposure
    assert check.replaces_order == "777"
    (entry,) = planned.reservation.pending
    assert entry.replaces_order == "777"


@pytest.mark.parametrize(("intent", "known", "kind"), [
    # an amend's order is listed where the store saw it: OKX's algo amend names no algo type, the order does
    pytest.param(make_limit("50000", action=Action.AMEND, quantity="2", order_id="777"), "algo:conditional",
                 "algo:conditional", id="amend-of-a-known-order-its-kind"),
    pytest.param(make_limit("50000", action=Action.AMEND, quantity="2", order_id="778"), "algo:conditional",
                 "order", id="amend-of-an-unknown-order-its-own-kind"),
    pytest.param(make_limit("50000", kind="algo"), None, "algo", id="new-order-its-own-kind"),
])
def test_plan_when_an_order_is_reserved_then_its_leg_names_the_listing_that_shows_it(
    intent: OrderIntent, known: str | None, kind: str,
) -> None:
    policy = make_rules("{id: position, type: max_position, default: {qty: 5}}")
    view = make_view()
    if known is not None:
        view = dataclasses.replace(view, orders={"777": KnownOrder("777", "BTCUSDT", Side.BUY, PositionSide.BOTH,
                                                                   kind=known)})

    planned = engine.plan(make_request(intent), policy, view, DECISION_ID)

    assert planned.reservation is not None
    assert [entry.kind for entry in planned.reservation.pending] == [kind]


def test_plan_when_new_order_carries_an_order_id_then_exposure_check_replaces_nothing() -> None:
    policy = make_rules("{id: position, type: max_position, default: {qty: 5}}")

    planned = engine.plan(make_request(make_intent(order_id="777")), policy, make_view(), DECISION_ID)

    assert planned.reservation is not None
    assert [c.replaces_order for c in planned.reservation.exposure] == [None]


@pytest.mark.parametrize(
    ("on_price_unknown", "expected"),
    [
        pytest.param("block", (Verdict.BLOCK, Reason.PRICE_UNKNOWN, "position"), id="block"),
        pytest.param("allow", ALLOWED, id="allow"),
    ],
)
def test_plan_when_position_notional_needs_an_unknown_price_then_on_price_unknown_decides(
    on_price_unknown: str, expected: tuple[Verdict, Reason | None, str | None]
) -> None:
    policy = make_rules(
        f"{{id: position, type: max_position, default: {{notional: 1000}}, on_price_unknown: {on_price_unknown}}}"
    )

    planned = engine.plan(make_request(make_intent()), policy, make_view(), DECISION_ID)
    decision = engine.conclude(planned, policy, None)

    assert deciding(decision) == expected
    assert planned.reservation is not None and planned.reservation.exposure == ()


def test_plan_when_position_rule_is_shadow_then_exposure_check_is_not_enforced() -> None:
    policy = make_rules("{id: position, type: max_position, default: {qty: 1}, mode: shadow}")

    planned = engine.plan(make_request(make_intent()), policy, make_view(), DECISION_ID)

    assert planned.reservation is not None
    assert [c.enforced for c in planned.reservation.exposure] == [False]


# --- conclude: the store's answer -----------------------------------------------------------------------------

STATEFUL = make_rules(
    "{id: order-rate, type: order_rate, limits: ['10/1s']}",
    "{id: position, type: max_position, default: {qty: 2}, symbols: {ETHUSDT: {notional: 5000}}}",
)


def planned_for(policy: Policy, intent: OrderIntent | None = None, prices: dict[str, str] | None = None) -> engine.Plan:
    planned = engine.plan(make_request(intent or make_intent()), policy, make_view(prices=prices), DECISION_ID)
    assert planned.needs_store and planned.reservation is not None
    return planned


def outcome_with(planned: engine.Plan, failing: dict[type, str]) -> ReserveOutcome:
    """A store answer where checks of the given types fail with the given observed value."""
    assert planned.reservation is not None
    results = []
    for check in (*planned.reservation.rate, *planned.reservation.exposure):
        observed = failing.get(type(check))
        results.append(CheckResult(check, Decimal(observed or "1"), observed is None))
    enforced_failed = any(not r.passed and r.check.enforced for r in results)
    return ReserveOutcome(not enforced_failed, tuple(results))


def test_conclude_when_every_check_passes_then_allow() -> None:
    planned = planned_for(STATEFUL)

    decision = engine.conclude(planned, STATEFUL, outcome_with(planned, {}))

    assert deciding(decision) == ALLOWED
    assert decision.shadowed == ()


def test_conclude_when_rate_check_fails_then_order_rate_exceeded_with_limit_and_count() -> None:
    planned = planned_for(STATEFUL)

    decision = engine.conclude(planned, STATEFUL, outcome_with(planned, {RateCheck: "11"}))

    assert deciding(decision) == (Verdict.BLOCK, Reason.ORDER_RATE_EXCEEDED, "order-rate")
    assert decision.deciding is not None
    assert dict(decision.deciding.context) == {"orders": "11", "limit": "10", "window_ms": "1000"}


def test_conclude_when_exposure_check_fails_then_position_exceeds_max_with_limit_and_position() -> None:
    planned = planned_for(STATEFUL, make_intent(side=Side.SELL, quantity="1"))

    decision = engine.conclude(planned, STATEFUL, outcome_with(planned, {ExposureCheck: "2.5"}))

    assert deciding(decision) == (Verdict.BLOCK, Reason.POSITION_EXCEEDS_MAX, "position")
    assert decision.deciding is not None
    assert dict(decision.deciding.context) == {
        "position": "2.5", "max_position": "2", "symbol": "BTCUSDT", "side": "sell", "position_side": "both",
    }
    assert decision.deciding.detail == (
        "POSITION_EXCEEDS_MAX: position=2.5, max_position=2, symbol=BTCUSDT, side=sell, position_side=both"
    )


def test_conclude_when_notional_position_limit_has_many_digits_then_context_rounds_to_eight_decimals() -> None:
    planned = planned_for(STATEFUL, make_intent(symbol="ETHUSDT"), prices={"ETHUSDT": "3000"})

    decision = engine.conclude(planned, STATEFUL, outcome_with(planned, {ExposureCheck: "1.7"}))

    assert decision.deciding is not None
    assert decision.deciding.get("max_position") == "1.66666667"  # 5000 / 3000


@pytest.mark.parametrize(
    ("rule", "intent", "observed", "limit"),
    [
        ("{id: r, type: max_leverage, default: 5, symbols: {BTCUSDT: 10}}", make_leverage("20"), "20", "10"),
        ("{id: r, type: max_order_qty, default: 1, symbols: {BTC*: 0.05}}", make_intent(quantity=Decimal("0.1")),
         "0.1", "0.05"),
        ("{id: r, type: max_order_notional, default: 1000}", make_limit("50000", quantity=Decimal("0.1")),
         "5000.0", "1000"),
        ("{id: r, type: price_collar, max_deviation_pct: 5}", make_limit("60000"), "20.0000", "5"),
    ],
    ids=["leverage", "order-qty", "order-notional", "price-collar"],
)
def test_plan_when_a_limit_is_exceeded_then_violation_carries_observed_and_limit_as_numbers(
    rule: str, intent: OrderIntent, observed: str, limit: str
) -> None:
    decision = run_intent(intent, make_rules(rule), make_view(prices={"BTCUSDT": "50000"}))

    violation = decision.deciding
    assert violation is not None
    assert (violation.observed, violation.limit) == (Decimal(observed), Decimal(limit))
    assert type(violation.observed) is Decimal and type(violation.limit) is Decimal
    observed_key, limit_key = MEASURED[violation.reason]  # the numbers are the ones the context shows
    assert (Decimal(violation.get(observed_key) or "nan"), Decimal(violation.get(limit_key) or "nan")) == (
        violation.observed, violation.limit)


@pytest.mark.parametrize(
    ("failing", "observed", "limit"),
    [({RateCheck: "11"}, "11", "10"), ({ExposureCheck: "2.5"}, "2.5", "2")],
    ids=["order-rate", "position"],
)
def test_conclude_when_store_check_fails_then_violation_carries_observed_and_limit_as_numbers(
    failing: dict[type, str], observed: str, limit: str
) -> None:
    planned = planned_for(STATEFUL, make_intent(side=Side.SELL, quantity="1"))

    decision = engine.conclude(planned, STATEFUL, outcome_with(planned, failing))

    assert decision.deciding is not None
    assert (decision.deciding.observed, decision.deciding.limit) == (Decimal(observed), Decimal(limit))


def test_plan_when_rule_measures_nothing_then_violation_has_no_observed_or_limit() -> None:
    decision = run_intent(make_intent(symbol="DOGEUSDT"), make_rules("{id: s, type: allowed_symbols, allow: [BTC*]}"))

    assert decision.deciding is not None and decision.deciding.reason is Reason.SYMBOL_NOT_ALLOWED
    assert (decision.deciding.observed, decision.deciding.limit) == (None, None)


def test_conclude_when_both_store_checks_fail_then_position_decides_and_rate_follows() -> None:
    # the documented order puts the position before the rate; a rate answer would read as "retry" to a bot
    planned = planned_for(STATEFUL)

    decision = engine.conclude(planned, STATEFUL, outcome_with(planned, {RateCheck: "11", ExposureCheck: "3"}))

    assert [v.reason for v in decision.violations] == [Reason.POSITION_EXCEEDS_MAX, Reason.ORDER_RATE_EXCEEDED]


@pytest.mark.parametrize(
    ("given", "deciding_reason"),
    [
        ([Reason.ORDER_RATE_EXCEEDED, Reason.ORDER_QTY_EXCEEDS_MAX], Reason.ORDER_QTY_EXCEEDS_MAX),
        ([Reason.STATE_UNAVAILABLE, Reason.SYMBOL_NOT_ALLOWED], Reason.SYMBOL_NOT_ALLOWED),
        ([Reason.ORDER_RATE_EXCEEDED, Reason.STATE_UNAVAILABLE], Reason.ORDER_RATE_EXCEEDED),
        ([Reason.SYMBOL_NOT_ALLOWED, Reason.POSITION_EXCEEDS_MAX], Reason.SYMBOL_NOT_ALLOWED),
    ],
)
def test_decide_when_retryable_and_final_reasons_both_apply_then_final_one_decides(
    given: list[Reason], deciding_reason: Reason
) -> None:
    violations = [Violation.of(f"rule-{i}", reason) for i, reason in enumerate(given)]

    decision = engine.decide("d", STATEFUL, violations)

    assert decision.deciding is not None and decision.deciding.reason is deciding_reason
    assert {v.reason for v in decision.violations} == set(given)


def test_conclude_when_failing_check_is_not_enforced_then_allow_with_shadowed_violation() -> None:
    policy = make_rules("{id: order-rate, type: order_rate, limits: ['10/1s'], mode: shadow}")
    planned = planned_for(policy)

    decision = engine.conclude(planned, policy, outcome_with(planned, {RateCheck: "11"}))

    assert deciding(decision) == ALLOWED
    assert [(v.rule_id, v.reason) for v in decision.shadowed] == [("order-rate", Reason.ORDER_RATE_EXCEEDED)]


def test_conclude_when_policy_monitors_and_store_check_fails_then_allow_and_monitored() -> None:
    policy = make_rules("{id: order-rate, type: order_rate, limits: ['10/1s']}", mode="monitor")
    planned = planned_for(policy)

    decision = engine.conclude(planned, policy, outcome_with(planned, {RateCheck: "11"}))

    assert decision.verdict is Verdict.ALLOW
    assert decision.monitored is True
    assert [v.reason for v in decision.shadowed] == [Reason.ORDER_RATE_EXCEEDED]


def test_conclude_when_plan_is_already_blocked_then_store_outcome_is_not_needed() -> None:
    planned = engine.plan(make_request(make_intent(symbol="SOLUSDT")), SYMBOLS, make_view(), DECISION_ID)

    decision = engine.conclude(planned, SYMBOLS, None)

    assert deciding(decision) == (Verdict.BLOCK, Reason.SYMBOL_NOT_ALLOWED, "symbols")
    assert decision.policy_revision == SYMBOLS.revision


def test_decide_when_policy_is_missing_then_revision_is_none_and_violations_block() -> None:
    violation = Violation.of(engine.RULE_POLICY, Reason.POLICY_UNAVAILABLE)

    decision = engine.decide("d9", None, [violation])

    assert (decision.verdict, decision.policy_revision, decision.deciding) == (Verdict.BLOCK, "none", violation)


@pytest.mark.parametrize(
    ("rules", "blocked"),
    [
        ("  - id: position\n    type: max_position\n    default: {qty: 1}\n", True),
        # the store skips a leg of unknown side: a daily budget or gross exposure would not see it either
        ("  - {id: daily, type: max_daily_notional, notional: 1000}\n", True),
        ("  - {id: gross, type: max_gross_exposure, notional: 1000}\n", True),
        ("  - id: order-qty\n    type: max_order_qty\n    default: 5\n", False),
        # measured in the engine, at the most a sell of either side could fetch
        ("  - {id: notional, type: max_order_notional, default: 100000}\n", False),
    ],
    ids=["position-rule-applies", "daily-notional", "gross-exposure", "no-position-rule", "order-notional"],
)
def test_plan_when_amend_carries_no_side_then_blocked_only_where_a_position_limit_applies(
    rules: str, blocked: bool
) -> None:
    policy = make_policy("rules:\n" + rules)
    amend = make_intent(action=Action.AMEND, side=None, quantity=Decimal("0.5"), price=Decimal("50000"),
                        order_id="123")

    plan = engine.plan(make_request(amend), policy, make_view(prices={"BTCUSDT": "50000"}), "d1")

    reasons = [v.reason for v in plan.violations]
    assert reasons == ([Reason.PARSE_FAILED] if blocked else [])
    if blocked:
        assert plan.violations[0].get("order_id") == "123"


OVERRIDE_RULES = """
accounts:
  desk: {fingerprints: ["%s"]}
rules:
  - {id: qty-default, type: max_order_qty, default: 1}
  - {id: qty-desk, type: max_order_qty, default: 5, scope: {accounts: [desk]}}
  - {id: qty-btc, type: max_order_qty, default: 0.5, scope: {symbols: [BTC*]}}
  - {id: qty-later, type: max_order_qty, default: 2, scope: {accounts: [desk]}}
  - {id: qty-shorts, type: max_order_qty, default: 0.1, scope: {position_sides: [short]}}
  - {id: qty-shadow, type: max_order_qty, default: 0.01, mode: shadow}
"""


@pytest.mark.parametrize(
    ("account", "symbol", "position_side", "deciding"),
    [
        ("other", "ETHUSDT", PositionSide.BOTH, "qty-default"),     # nothing narrower matches
        ("desk", "ETHUSDT", PositionSide.BOTH, "qty-later"),        # account beats everywhere; later beats earlier
        ("desk", "BTCUSDT", PositionSide.BOTH, "qty-btc"),          # symbol beats account
        ("other", "ETHUSDT", PositionSide.SHORT, "qty-shorts"),     # position side beats everywhere
        ("desk", "ETHUSDT", PositionSide.SHORT, "qty-later"),       # account beats position side
    ],
)
def test_applicable_rules_when_scopes_overlap_then_most_specific_then_latest_decides_and_shadows_all_run(
    account: str, symbol: str, position_side: PositionSide, deciding: str
) -> None:
    policy = make_policy(OVERRIDE_RULES % ACCOUNT)
    intent = make_intent(symbol=symbol, position_side=position_side,
                         account=ACCOUNT if account == "desk" else OTHER_ACCOUNT)

    rules = engine.applicable_rules(policy, intent.venue, policy.labels_for(intent.venue, intent.account), intent)

    assert [r.id for r in rules if r.mode.value == "enforce"] == [deciding]
    assert "qty-shadow" in [r.id for r in rules]


def reference_rules(policy: Policy, venue: str, labels: frozenset[str], intent: OrderIntent) -> list[str]:
    """applicable_rules' documented selection, written out plainly over `Scope.matches` (no index): the ids."""
    matching = [r for r in policy.rules if r.scope.matches(venue, labels, intent.names, intent.position_side)]
    chosen: dict[tuple[str, str], RuleBase] = {}
    for rule in matching:
        best = chosen.get(rule_kind(rule))
        if rule.mode is Mode.ENFORCE and (best is None or rule.scope.specificity >= best.scope.specificity):
            chosen[rule_kind(rule)] = rule
    return [r.id for r in matching if r.mode is Mode.SHADOW or chosen.get(rule_kind(r)) is r]


RANDOM_SYMBOLS = ("BTCUSDT", "btc*", "ETHUSDT", "BTC/USDT:USDT", "*USDT", "SOL?USDT", "[BE]*")
RANDOM_NAMES = ((), ("BTCUSDT",), ("BTCUSDT", "BTC/USDT:USDT"), ("ethusdt",), ("SOLXUSDT",), ("XRPUSD",))
RANDOM_RULES = ("{type: max_order_qty, default: 1}", "{type: order_rate, limits: [10/1s], per: account}",
                "{type: order_rate, limits: [10/1s], per: symbol}", "{type: trading_state, state: ACTIVE}")


def random_policy(rng: random.Random) -> Policy:
    def some(items: tuple[str, ...]) -> list[str]:
        return rng.sample(items, rng.choice((0, 0, 1, 2)))

    rules = []
    for number in range(rng.randint(0, 9)):
        scope = {"venues": some(("binanceusdm", "bybit")), "accounts": some(("desk", "ops")),
                 "symbols": some(RANDOM_SYMBOLS), "position_sides": some(("both", "long", "short"))}
        mode = "shadow" if rng.random() < 0.2 else "enforce"
        written = rng.choice(RANDOM_RULES)[1:-1]
        rules.append(f"  - {{id: r{number}, {written}, mode: {mode}, scope: {json.dumps(scope)}}}\n")
    return make_policy(f"""accounts:
  desk: {{fingerprints: ["{ACCOUNT}"]}}
  ops: {{fingerprints: ["{ACCOUNT}", "{OTHER_ACCOUNT}"], venue: bybit}}
rules:
{"".join(rules) or "  []"}
""")


# the types RANDOM_RULES writes, and one it never does (whose rules must then be none)
RANDOM_RULE_TYPES = (MaxOrderQty, OrderRate, TradingStateRule, MaxPosition)


@pytest.mark.parametrize("seed", range(8))
def test_applicable_rules_when_policy_is_random_then_prepared_index_selects_as_documented(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        policy = random_policy(rng)
        for venue, account, names, side in itertools.product(
                (Venue.BINANCEUSDM, Venue.BYBIT, Venue.OKX), (ACCOUNT, OTHER_ACCOUNT), RANDOM_NAMES,
                (PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT)):
            intent = make_intent(venue=venue, account=account, symbol=names[0] if names else None,
                                 unified_symbol=names[1] if len(names) > 1 else None, position_side=side)
            labels = policy.labels_for(venue, account)

            rules = engine.applicable_rules(policy, venue, labels, intent)

            assert [r.id for r in rules] == reference_rules(policy, venue, labels, intent), (policy.rules, intent)
            # what the engine reads one type at a time: the same rules, in the same order
            for kind in RANDOM_RULE_TYPES:
                assert rules.of(kind) == tuple(r for r in rules if type(r) is kind), (kind, policy.rules, intent)


def test_plan_when_orders_are_decided_then_the_policy_is_never_written() -> None:
    policy = make_policy(OVERRIDE_RULES % ACCOUNT)
    before = {slot: getattr(policy, slot) for slot in Policy.__slots__}

    for symbol, account in itertools.product(("BTCUSDT", "ETHUSDT", "SOLUSDT"), (ACCOUNT, OTHER_ACCOUNT)):
        run_intent(make_intent(symbol=symbol, account=account), policy)

    assert not hasattr(policy, "__dict__")  # no attribute can be added to it, as the old rule memo was
    assert all(getattr(policy, slot) is value for slot, value in before.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.mode = PolicyMode.MONITOR  # type: ignore[misc]


@pytest.mark.parametrize(
    ("allow", "verdict"),
    [([], Verdict.BLOCK), (["POST /SAPI/v1/futures/transfer/"], Verdict.ALLOW),
     (["POST /sapi/v1/other"], Verdict.BLOCK)],
    ids=["forbidden-by-default", "named-in-policy", "another-endpoint-named"],
)
def test_plan_when_forbidden_endpoint_named_in_allow_endpoints_then_only_that_one_passes(
    allow: list[str], verdict: Verdict
) -> None:
    policy = make_policy(f"allow_endpoints: {allow!r}\nrules: []\n")
    request = make_bare_request(Action.FORBIDDEN, endpoint="POST /sapi/v1/futures/transfer")

    decision = engine.conclude(engine.plan(request, policy, make_view(), "d1"), policy, None)

    assert decision.verdict is verdict


BOUND_ACCOUNTS = """
accounts:
  desk: {fingerprints: ["%s"], proxy_users: [bot-a]}
rules: []
"""


@pytest.mark.parametrize(
    ("client", "account", "verdict"),
    [
        ("bot-a", ACCOUNT, Verdict.ALLOW),          # its own key
        ("bot-b", ACCOUNT, Verdict.BLOCK),          # another bot with the desk's key
        ("bot-a", OTHER_ACCOUNT, Verdict.BLOCK),    # the desk's bot with a key the policy does not give it
        (None, OTHER_ACCOUNT, Verdict.ALLOW),       # not through the authenticated proxy: no binding to check
    ],
)
def test_plan_when_policy_binds_proxy_users_to_keys_then_only_matching_pairs_pass(
    client: str | None, account: str, verdict: Verdict
) -> None:
    import dataclasses

    policy = make_policy(BOUND_ACCOUNTS % ACCOUNT)
    request = dataclasses.replace(make_request(make_intent(account=account)), account=account, client=client)

    decision = engine.conclude(engine.plan(request, policy, make_view(), "d1"), policy, None)

    assert decision.verdict is verdict
    if verdict is Verdict.BLOCK:
        assert decision.deciding is not None and decision.deciding.reason is Reason.UNKNOWN_ACCOUNT


@pytest.mark.parametrize(
    ("halted_symbol", "verdict"),
    [(None, Verdict.ALLOW), ("ETHUSDT", Verdict.BLOCK)],
    ids=["no-halt", "one-symbol-halted"],
)
def test_plan_when_close_names_no_instrument_then_every_symbol_halt_of_the_account_covers_it(
    halted_symbol: str | None, verdict: Verdict
) -> None:
    policy = make_policy("rules: []\n")
    close_all = make_intent(symbol=None, side=None, quantity=None, close_position=True, reduce_only=True)
    states = (make_state_record(StateScope(str(close_all.venue), ACCOUNT, halted_symbol), TradingState.HALTED),) \
        if halted_symbol else ()

    decision = engine.conclude(engine.plan(make_request(close_all), policy, make_view(states=states), "d1"),
                               policy, None)

    assert decision.verdict is verdict


@pytest.mark.parametrize(("state", "verdict"), [(None, Verdict.ALLOW), (TradingState.HALTED, Verdict.BLOCK),
                                                (TradingState.REDUCING, Verdict.BLOCK)])
def test_plan_when_setting_has_no_intent_then_trading_state_still_applies(
    state: TradingState | None, verdict: Verdict
) -> None:
    policy = make_policy("rules: []\n")
    request = make_bare_request(Action.SET_MARGIN_MODE, endpoint="POST /fapi/v1/positionmargin")
    states = (make_state_record(StateScope(str(request.venue), ACCOUNT), state),) if state else ()

    decision = engine.conclude(engine.plan(request, policy, make_view(states=states), "d1"), policy, None)

    assert decision.verdict is verdict


def test_plan_when_amend_names_an_order_the_store_knows_then_its_side_is_used_for_the_position_check() -> None:
    policy = make_policy("rules:\n  - id: position\n    type: max_position\n    default: {qty: 1}\n")
    amend = make_intent(action=Action.AMEND, side=None, quantity=Decimal("0.5"), price=Decimal("50000"),
                        order_id="123")
    view = dataclasses.replace(make_view(prices={"BTCUSDT": "50000"}),
                               orders={"123": KnownOrder("123", "BTCUSDT", Side.BUY, PositionSide.BOTH)})

    plan = engine.plan(make_request(amend), policy, view, "d1")

    assert plan.violations == ()
    assert plan.reservation is not None
    [check] = plan.reservation.exposure
    assert (check.side, check.replaces_order, check.quantity) == (Side.BUY, "123", Decimal("0.5"))


# a sell resting at 95,000 for 0.01 (mark 50,000), amended; under a notional limit of 1,000
NOTIONAL_RULES = {
    "order-notional": "  - {id: notional, type: max_order_notional, default: 1000}\n",
    "daily-notional": "  - {id: daily, type: max_daily_notional, notional: 1000}\n",
    "gross-exposure": "  - {id: gross, type: max_gross_exposure, notional: 1000}\n",
}
RESTING_SELL = KnownOrder("123", "BTCUSDT", Side.SELL, PositionSide.BOTH)


@pytest.mark.parametrize("rules", sorted(NOTIONAL_RULES))
@pytest.mark.parametrize(("amend", "blocked"), [
    ({"quantity": Decimal("0.02")}, True),  # grows the sell: the mark would measure it at 1,000, it rests at 1,900
    ({"quantity": Decimal("0.01")}, False),  # the open part it was admitted with, or less
    ({"quantity": Decimal("0.005")}, False),
    ({"quantity": Decimal("0.02"), "order_id": "999"}, True),  # an order the store does not know
    ({"quantity": Decimal("0.02"), "price": Decimal("45000")}, False),  # restated: measured at it (or the mark)
    # the trigger alone leaves the limit (95,000) where it was: measured at the trigger, 900
    ({"quantity": Decimal("0.02"), "trigger_price": Decimal("45000")}, True),
    # a conditional buy rests above the market (triggered at 95,000): the mark measures it short too
    ({"quantity": Decimal("0.02"), "side": Side.BUY}, True),
    ({"quantity": Decimal("0.02"), "side": Side.BUY, "price": Decimal("45000")}, False),
    # the price alone of an order whose size the store does not know: its notional at 95,000 cannot be measured
    ({"quantity": None, "price": Decimal("95000"), "order_id": "999"}, True),
    ({"quantity": None, "trigger_price": Decimal("95000"), "order_id": "999"}, True),
], ids=["grows", "same", "shrinks", "unknown-order", "price-restated", "trigger-restated", "buy", "buy-priced",
        "price-alone-of-unknown-size", "trigger-alone-of-unknown-size"])
def test_plan_when_amend_grows_an_order_without_its_price_then_blocked_under_a_notional_rule(
    rules: str, amend: dict[str, Any], blocked: bool,
) -> None:
    policy = make_policy("rules:\n" + NOTIONAL_RULES[rules])
    intent = make_intent(**{"action": Action.AMEND, "side": Side.SELL, "order_id": "123", **amend})
    view = dataclasses.replace(make_view(prices={"BTCUSDT": "50000"}), orders={"123": RESTING_SELL},
                               remaining={"123": Decimal("0.01")})

    plan = engine.plan(make_request(intent), policy, view, "d1")

    reasons = [v.reason for v in plan.violations]
    assert reasons == ([Reason.PARSE_FAILED] if blocked else [])


@pytest.mark.parametrize(("side", "price", "trigger", "mark", "reasons"), [
    # a stop buy's decoy price: 0.02 at the 50,000 mark (or its 48,000 trigger) is 1,000; at 1 it would look like 0.02
    (Side.BUY, Decimal("1"), Decimal("48000"), "50000", []),
    (Side.BUY, Decimal("1"), Decimal("48000"), "60000", [Reason.ORDER_NOTIONAL_EXCEEDS_MAX]),  # 1,200 at the mark
    (Side.BUY, Decimal("1"), Decimal("75000"), "50000", [Reason.ORDER_NOTIONAL_EXCEEDS_MAX]),  # its trigger, above
    (Side.BUY, Decimal("70000"), Decimal("48000"), "50000", [Reason.ORDER_NOTIONAL_EXCEEDS_MAX]),  # its own price
    (Side.BUY, Decimal("1"), Decimal("48000"), None, [Reason.PRICE_UNKNOWN]),  # no mark: nothing bounds it
    # a stop buy rests above the market at a trigger the store does not keep: growing it must name the trigger
    (Side.BUY, Decimal("1"), None, "50000", [Reason.PARSE_FAILED]),
    (Side.SELL, Decimal("1"), None, "60000", [Reason.ORDER_NOTIONAL_EXCEEDS_MAX]),  # a sell: no lower than the mark
])
def test_plan_when_amend_of_an_order_of_unknown_type_restates_a_price_then_measured_no_lower_than_the_mark(
    side: Side, price: Decimal, trigger: Decimal | None, mark: str | None, reasons: list[Reason],
) -> None:
    # BitMEX, BingX, Bitget plan amends: the amended order may be a market-type one, which ignores the price
    policy = make_policy("rules:\n"
                         "  - {id: notional, type: max_order_notional, default: 1000, on_price_unknown: block}\n")
    intent = make_intent(action=Action.AMEND, side=side, quantity=Decimal("0.02"), price=price, trigger_price=trigger,
                         order_id="123", type_unknown=True)
    view = dataclasses.replace(make_view(prices={"BTCUSDT": mark} if mark else {}),
                               orders={"123": KnownOrder("123", "BTCUSDT", side, PositionSide.BOTH)},
                               remaining={"123": Decimal("0.01")})

    plan = engine.plan(make_request(intent), policy, view, "d1")

    assert [v.reason for v in plan.violations] == reasons


@pytest.mark.parametrize(("side", "price", "trigger", "collared"), [
    (Side.BUY, Decimal("1"), Decimal("150000"), True),  # a stop buy moved to three times the mark, a decoy price
    (Side.BUY, Decimal("1"), Decimal("52000"), False),
    (Side.SELL, Decimal("60000"), Decimal("1000"), True),  # a stop sell moved far below it
])
def test_plan_when_amend_of_an_order_of_unknown_type_moves_its_trigger_then_the_trigger_is_collared(
    side: Side, price: Decimal, trigger: Decimal, collared: bool,
) -> None:
    policy = make_policy("rules:\n  - {id: collar, type: price_collar, max_deviation_pct: 10}\n")
    intent = make_intent(action=Action.AMEND, side=side, quantity=None, price=price, trigger_price=trigger,
                         order_id="123", type_unknown=True)
    view = dataclasses.replace(make_view(prices={"BTCUSDT": "50000"}),
                               orders={"123": KnownOrder("123", "BTCUSDT", side, PositionSide.BOTH)},
                               remaining={"123": Decimal("0.01")})

    plan = engine.plan(make_request(intent), policy, view, "d1")

    assert [v.reason for v in plan.violations] == ([Reason.PRICE_OUTSIDE_COLLAR] if collared else [])


@pytest.mark.parametrize(("price", "blocked"), [
    (Decimal("95000"), True),  # 0.02 open at 95,000: 1,900 over the order-notional limit of 1,000
    (Decimal("45000"), False),
])
def test_plan_when_amend_moves_only_the_price_then_the_open_part_is_measured_at_the_new_price(
    price: Decimal, blocked: bool,
) -> None:
    policy = make_policy("rules:\n" + NOTIONAL_RULES["order-notional"])
    intent = make_intent(action=Action.AMEND, side=None, quantity=None, price=price, order_id="123")
    view = dataclasses.replace(make_view(prices={"BTCUSDT": "50000"}), orders={"123": RESTING_SELL},
                               remaining={"123": Decimal("0.02")})

    plan = engine.plan(make_request(intent), policy, view, "d1")

    assert [v.reason for v in plan.violations] == ([Reason.ORDER_NOTIONAL_EXCEEDS_MAX] if blocked else [])
    if blocked:
        assert (plan.violations[0].get("qty"), plan.violations[0].get("notional")) == ("0.02", "1900")


KNOWN_BUY = KnownOrder("123", "BTCUSDT", Side.BUY, PositionSide.LONG, Decimal("0.1"))


@pytest.mark.parametrize(("name", "amend", "view", "expected"), [
    ("by order id", {"order_id": "123"}, {"orders": {"123": KNOWN_BUY}}, (Side.BUY, PositionSide.LONG, "123")),
    ("by client id alone", {"client_order_id": "bot-1"}, {"by_client": {"bot-1": KNOWN_BUY}},
     (Side.BUY, PositionSide.LONG, "123")),
    ("order id wins over client id", {"order_id": "999", "client_order_id": "bot-1"},
     {"by_client": {"bot-1": KNOWN_BUY}}, (None, PositionSide.BOTH, "999")),
    ("another symbol", {"order_id": "123", "symbol": "ETHUSDT"}, {"orders": {"123": KNOWN_BUY}},
     (None, PositionSide.BOTH, "123")),
    ("unknown to the store", {"client_order_id": "bot-2"}, {"by_client": {"bot-1": KNOWN_BUY}},
     (None, PositionSide.BOTH, None)),
])
def test_resolve_when_amend_names_its_order_then_side_and_id_come_from_the_store_where_they_agree(
    name: str, amend: dict[str, Any], view: dict[str, Any], expected: tuple[Any, ...],
) -> None:
    intent = make_intent(action=Action.AMEND, side=None, quantity=Decimal("0.5"), **amend)

    resolved = engine.resolve(make_request(intent), dataclasses.replace(make_view(), **view))

    [leg] = resolved.intents
    assert (leg.side, leg.position_side, leg.order_id) == expected


def test_resolve_when_intent_has_a_hook_then_it_gets_this_venues_prices_orders_and_modes() -> None:
    seen: list[Known] = []

    def hook(intent: OrderIntent, known: Known) -> OrderIntent:
        seen.append(known)
        return dataclasses.replace(intent, quantity=Decimal(100) / (known.price("BTCUSDT") or 1), resolve=None)

    request = dataclasses.replace(make_request(make_intent(quantity=None, resolve=hook)), mode_keys=("USDT-FUTURES",))
    view = dataclasses.replace(make_view(prices={"BTCUSDT": "50"}), modes={"USDT-FUTURES": "hedge"},
                               prices={(Venue.BINANCEUSDM, "BTCUSDT"): Decimal(50),
                                       (Venue.BYBIT, "BTCUSDT"): Decimal(70)})

    resolved = engine.resolve(request, view)

    assert [leg.quantity for leg in resolved.intents] == [Decimal(2)]
    assert (dict(seen[0].prices), dict(seen[0].modes)) == ({"BTCUSDT": Decimal(50)}, {"USDT-FUTURES": "hedge"})
    assert resolved.known is seen[0]
    assert engine.resolve(resolved, make_view()) is resolved  # resolved once: a second view changes nothing


def test_plan_when_a_hook_cannot_complete_the_intent_then_the_request_is_refused_as_unreadable() -> None:
    def hook(intent: OrderIntent, known: Known) -> OrderIntent:
        raise ValueError("qty: no price is known to convert it")

    policy = make_policy("rules: []\n")  # an unreadable order is refused whatever the policy says
    plan = engine.plan(make_request(make_intent(resolve=hook)), policy, make_view(), "d1")

    assert engine.conclude(plan, policy, None).verdict is Verdict.BLOCK
    [violation] = plan.violations
    assert violation.reason is Reason.PARSE_FAILED and "no price is known" in dict(violation.context)["error"]


def test_view_query_when_amends_name_orders_then_it_asks_for_their_ids_client_ids_and_modes() -> None:
    legs = (make_intent(action=Action.AMEND, side=None, order_id="1"),
            make_intent(action=Action.AMEND, side=None, client_order_id="bot-2"),
            make_intent(action=Action.AMEND, side=None, order_id="3", client_order_id="bot-3"))
    request = dataclasses.replace(make_request(*legs, action=Action.AMEND), mode_keys=("USDT-FUTURES",))

    query = engine.view_query(request)

    assert (query.order_ids, query.client_ids, query.mode_keys) == (("1", "3"), ("bot-2",), ("USDT-FUTURES",))
    assert not engine.light_view_suffices(dataclasses.replace(make_request(make_intent()), mode_keys=("X",)))


@pytest.mark.parametrize(("known_symbols", "wider"), [
    ((), None),
    (("BTCUSDT",), None),  # read already
    (("XBTUSD", "ETHUSD", "XBTUSD"), ("BTCUSDT", "XBTUSD", "ETHUSD")),
])
def test_wider_query_when_known_orders_hold_unread_symbols_then_they_are_added_once(
    known_symbols: tuple[str, ...], wider: tuple[str, ...] | None,
) -> None:
    query = ViewQuery(Venue.BINANCEUSDM, ACCOUNT, ("BTCUSDT",), ("o0",))
    orders = {f"o{i}": KnownOrder(f"o{i}", symbol, Side.BUY, PositionSide.BOTH)
              for i, symbol in enumerate(known_symbols)}

    widened = engine.wider_query(query, dataclasses.replace(make_view(), orders=orders))

    assert (None if widened is None else widened.symbols) == wider


def test_plan_when_request_has_a_holder_then_state_is_read_and_counted_under_it() -> None:
    # two keys of one account (a label): positions, pending, rates and states are the account's, not the key's
    holder = "label:desk"
    policy = make_rules("{id: position, type: max_position, default: {qty: 1}}",
                        "{id: order-rate, type: order_rate, limits: ['5/1s']}")
    request = dataclasses.replace(make_request(make_intent(quantity="0.5")), holder=holder)
    view = make_view(positions={position_key(account=holder): "0.7"},
                     states=(make_state_record(StateScope(VENUE, holder), TradingState.REDUCING),))

    planned = engine.plan(request, policy, view, DECISION_ID)

    assert [v.reason for v in planned.violations] == [Reason.TRADING_REDUCING]
    calm = engine.plan(request, policy, make_view(positions={position_key(account=holder): "0.7"}), DECISION_ID)
    assert calm.reservation is not None
    [exposure] = calm.reservation.exposure
    assert exposure.position.account == holder
    assert {check.key for check in calm.reservation.rate} == {f"order-rate|{VENUE}|{holder}"}
    assert engine.view_query(request).account == holder


# --- price collar ---------------------------------------------------------------------------------------------

COLLAR = make_rules("{id: collar, type: price_collar, max_deviation_pct: 10, symbols: {ETHUSDT: 2, 'SOL*': 5}}")
COLLAR_LENIENT = make_rules("{id: collar, type: price_collar, max_deviation_pct: 10, on_price_unknown: allow}")
MARKS = {"BTCUSDT": "50000", "ETHUSDT": "3000", "SOLUSDT": "200"}


def span(lowest: str, highest: str) -> tuple[Decimal, Decimal]:
    return Decimal(lowest), Decimal(highest)

COLLAR_BLOCK = (Verdict.BLOCK, Reason.PRICE_OUTSIDE_COLLAR, "collar")


@pytest.mark.parametrize(
    ("intent", "expected", "bound"),
    [
        pytest.param(make_limit("55000"), ALLOWED, None, id="buy-at-the-ceiling"),
        pytest.param(make_limit("55000.01"), COLLAR_BLOCK, ("max_price", "55000"), id="buy-a-cent-through"),
        pytest.param(make_limit("5000"), ALLOWED, None, id="buy-far-below-cannot-trade-through"),
        pytest.param(make_limit("45000", side=Side.SELL), ALLOWED, None, id="sell-at-the-floor"),
        pytest.param(make_limit("44999.99", side=Side.SELL), COLLAR_BLOCK, ("min_price", "45000"),
                     id="sell-a-cent-through"),
        pytest.param(make_limit("500000", side=Side.SELL), ALLOWED, None, id="sell-far-above-cannot-trade-through"),
        pytest.param(make_intent(), ALLOWED, None, id="market-order-has-no-price"),
        pytest.param(make_intent(order_type="STOP_MARKET", trigger_price="56000"), COLLAR_BLOCK,
                     ("max_price", "55000"), id="stop-market-trigger-through"),
        pytest.param(make_intent(order_type="STOP_MARKET", trigger_price="40000", side=Side.SELL), COLLAR_BLOCK,
                     ("min_price", "45000"), id="sell-stop-trigger-through"),
        pytest.param(make_intent(order_type="STOP", price="54000", trigger_price="70000"), ALLOWED, None,
                     id="stop-limit-checked-at-its-limit-price"),
        pytest.param(make_limit("3061", symbol="ETHUSDT"), COLLAR_BLOCK, ("max_price", "3060"),
                     id="symbol-override-beats-default"),
        pytest.param(make_limit("211", symbol="SOLUSDT"), COLLAR_BLOCK, ("max_price", "210"), id="glob-override"),
        pytest.param(make_limit("210", symbol="SOLUSDT"), ALLOWED, None, id="glob-override-at-ceiling"),
        pytest.param(make_intent(action=Action.AMEND, price="60000", order_type="LIMIT", order_id="7"),
                     COLLAR_BLOCK, ("max_price", "55000"), id="amend-collars-the-new-price"),
        pytest.param(make_intent(action=Action.AMEND, price=None, quantity="0.2", order_type="LIMIT", order_id="7"),
                     ALLOWED, None, id="amend-of-size-alone"),
        pytest.param(make_intent(action=Action.AMEND, side=None, price="40000", order_id="7"), COLLAR_BLOCK,
                     ("min_price", "45000"), id="amend-side-unknown-held-to-the-floor"),
        pytest.param(make_intent(action=Action.AMEND, side=None, price="60000", order_id="7"), COLLAR_BLOCK,
                     ("max_price", "55000"), id="amend-side-unknown-held-to-the-ceiling"),
        pytest.param(make_leverage("5"), ALLOWED, None, id="set-leverage-has-no-price"),
        # an oco whose take-profit and stop-loss legs trade at market: either may execute
        pytest.param(make_intent(order_type="OCO", side=Side.SELL, trigger_price="60000",
                                 price_span=span("30000", "60000")), COLLAR_BLOCK, ("min_price", "45000"),
                     id="oco-sell-measured-at-its-lowest-leg"),
        pytest.param(make_intent(order_type="OCO", trigger_price="54000", price_span=span("30000", "60000")),
                     COLLAR_BLOCK, ("max_price", "55000"), id="oco-buy-measured-at-its-highest-leg"),
        pytest.param(make_intent(order_type="OCO", side=Side.SELL, trigger_price="60000",
                                 price_span=span("46000", "60000")), ALLOWED, None, id="oco-sell-legs-above-the-floor"),
        pytest.param(make_intent(order_type="OCO", trigger_price="54000", price_span=span("30000", "54000")),
                     ALLOWED, None, id="oco-buy-legs-below-the-ceiling"),
        pytest.param(make_intent(action=Action.AMEND, side=None, price="54000", order_id="7",
                                 price_span=span("30000", "54000")), COLLAR_BLOCK, ("min_price", "45000"),
                     id="oco-amend-side-unknown-held-to-both-ends"),
    ],
)
def test_plan_when_price_is_collared_then_only_prices_through_the_mark_on_the_aggressive_side_block(
    intent: OrderIntent, expected: tuple[Verdict, Reason | None, str | None], bound: tuple[str, str] | None
) -> None:
    decision = run_intent(intent, COLLAR, make_view(prices=MARKS))

    assert deciding(decision) == expected
    if bound is not None:
        violation = decision.deciding
        assert violation is not None
        assert violation.get(bound[0]) == bound[1]
        assert violation.get("reference") == MARKS[intent.symbol or ""]
        own = intent.price or intent.trigger_price
        lowest, highest = intent.price_span or (own, own)  # a sell is measured at its lowest, a buy its highest
        assert violation.get("price") == str(highest if bound[0] == "max_price" else lowest)
        assert {"deviation_pct", "max_deviation_pct", "side", "price_kind", "symbol"} <= dict(violation.context).keys()


def test_plan_when_price_breaks_the_collar_then_context_carries_observed_and_limit_values() -> None:
    decision = run_intent(make_limit("55000.01"), COLLAR, make_view(prices=MARKS))

    assert decision.deciding is not None
    assert dict(decision.deciding.context) == {
        "price": "55000.01", "reference": "50000", "deviation_pct": "10.0001", "max_deviation_pct": "10",
        "max_price": "55000", "side": "buy", "price_kind": "limit", "symbol": "BTCUSDT",
    }
    assert decision.deciding.detail.startswith("PRICE_OUTSIDE_COLLAR: price=55000.01, reference=50000, ")


@pytest.mark.parametrize(
    ("policy", "prices", "expected"),
    [
        pytest.param(COLLAR, {}, (Verdict.BLOCK, Reason.PRICE_UNKNOWN, "collar"), id="no-price-blocks-by-default"),
        pytest.param(COLLAR, {"ETHUSDT": "3000"}, (Verdict.BLOCK, Reason.PRICE_UNKNOWN, "collar"),
                     id="price-of-another-symbol-only"),
        pytest.param(COLLAR_LENIENT, {}, ALLOWED, id="no-price-with-on-price-unknown-allow"),
    ],
)
def test_plan_when_reference_price_is_unknown_then_on_price_unknown_decides(
    policy: Policy, prices: dict[str, str], expected: tuple[Verdict, Reason | None, str | None]
) -> None:
    # the order's own price is never its reference: a limit at 100000 says nothing of where the market is
    decision = run_intent(make_limit("100000"), policy, make_view(prices=prices))

    assert deciding(decision) == expected


def test_plan_when_market_order_and_no_price_known_then_collar_has_nothing_to_check() -> None:
    assert deciding(run_intent(make_intent(), COLLAR, make_view())) == ALLOWED


@pytest.mark.parametrize(
    ("intent", "positions", "expected"),
    [
        pytest.param(make_limit("1000", side=Side.SELL, reduce_only=True), {"BTCUSDT": "0.1"}, ALLOWED,
                     id="reduce-only-within-the-long-is-exempt"),
        pytest.param(make_limit("1000", side=Side.SELL, position_side=PositionSide.LONG),
                     {("BTCUSDT", PositionSide.LONG): "0.1"}, ALLOWED, id="hedge-close-is-exempt"),
        pytest.param(make_limit("1000", side=Side.SELL, reduce_only=True), {}, COLLAR_BLOCK,
                     id="reduce-only-with-nothing-to-reduce-is-collared"),
        pytest.param(make_limit("1000", side=Side.SELL), {"BTCUSDT": "0.1"}, COLLAR_BLOCK,
                     id="plain-sell-against-a-long-is-collared"),
    ],
)
def test_plan_when_order_only_reduces_then_collar_exempts_it_as_every_limit_does(
    intent: OrderIntent, positions: dict[Any, str], expected: tuple[Verdict, Reason | None, str | None]
) -> None:
    decision = run_intent(intent, COLLAR, make_view(positions=positions, prices=MARKS))

    assert deciding(decision) == expected


def test_plan_when_collar_is_scoped_then_it_applies_only_inside_its_scope() -> None:
    policy = make_rules("{id: collar, type: price_collar, max_deviation_pct: 1, scope: {venues: [bybit]}}",
                        "{id: hedge-collar, type: price_collar, max_deviation_pct: 1, "
                        "scope: {position_sides: [long]}}")

    one_way = run_intent(make_limit("60000"), policy, make_view(prices=MARKS))
    long_side = run_intent(make_limit("60000", position_side=PositionSide.LONG), policy, make_view(prices=MARKS))

    assert deciding(one_way) == ALLOWED
    assert deciding(long_side) == (Verdict.BLOCK, Reason.PRICE_OUTSIDE_COLLAR, "hedge-collar")


@pytest.mark.parametrize(
    ("mode", "rule_mode", "verdict", "monitored"),
    [
        pytest.param(None, "shadow", Verdict.ALLOW, False, id="shadow-rule"),
        pytest.param("monitor", "enforce", Verdict.ALLOW, True, id="monitor-policy"),
        pytest.param(None, "enforce", Verdict.BLOCK, False, id="enforced"),
    ],
)
def test_plan_when_collar_is_shadowed_or_policy_monitors_then_would_block_is_reported_and_order_passes(
    mode: str | None, rule_mode: str, verdict: Verdict, monitored: bool
) -> None:
    policy = make_rules(f"{{id: collar, type: price_collar, max_deviation_pct: 10, mode: {rule_mode}}}", mode=mode)

    decision = run_intent(make_limit("60000"), policy, make_view(prices=MARKS))

    assert decision.verdict is verdict and decision.monitored is monitored
    reported = decision.violations if verdict is Verdict.BLOCK else decision.shadowed
    assert [(v.rule_id, v.reason) for v in reported] == [("collar", Reason.PRICE_OUTSIDE_COLLAR)]


def test_plan_when_order_breaks_size_and_collar_then_size_decides_and_collar_is_also_violated() -> None:
    policy = make_rules("{id: collar, type: price_collar, max_deviation_pct: 10}",
                        "{id: qty, type: max_order_qty, default: 0.01}")

    decision = run_intent(make_limit("60000"), policy, make_view(prices=MARKS))

    assert [v.reason for v in decision.violations] == [Reason.ORDER_QTY_EXCEEDS_MAX, Reason.PRICE_OUTSIDE_COLLAR]


def test_plan_when_one_batch_leg_is_outside_the_collar_then_the_batch_is_blocked_naming_it() -> None:
    request = make_request(make_limit("50000"), make_limit("3100", symbol="ETHUSDT"),
                           endpoint="POST /fapi/v1/batchOrders")

    decision = run(request, COLLAR, make_view(prices=MARKS))

    assert deciding(decision) == COLLAR_BLOCK
    assert decision.deciding is not None and decision.deciding.leg == 1


# --- margin and position modes --------------------------------------------------------------------------------

ISOLATED_ONE_WAY = make_rules("{id: margin, type: margin_mode, allow: [ISOLATED], allow_hedge: false}")
MARGIN_BLOCK = (Verdict.BLOCK, Reason.MARGIN_MODE_NOT_ALLOWED, "margin")


def set_margin(mode: MarginMode, **overrides: Any) -> OrderIntent:
    return make_intent(action=Action.SET_MARGIN_MODE, margin_mode=mode, **overrides)


def set_position_mode(hedge: bool) -> OrderIntent:
    return make_intent(action=Action.SET_POSITION_MODE, symbol=None, hedge_mode=hedge)


@pytest.mark.parametrize(
    ("intent", "expected", "context"),
    [
        pytest.param(set_margin(MarginMode.ISOLATED), ALLOWED, None, id="switch-to-an-allowed-mode"),
        pytest.param(set_margin(MarginMode.CROSSED), MARGIN_BLOCK,
                     {"margin_mode": "CROSSED", "allowed": "ISOLATED", "action": "set_margin_mode",
                      "symbol": "BTCUSDT"}, id="switch-to-cross"),
        pytest.param(set_margin(MarginMode.PORTFOLIO, symbol=None), MARGIN_BLOCK,
                     {"margin_mode": "PORTFOLIO", "allowed": "ISOLATED", "action": "set_margin_mode",
                      "symbol": "None"}, id="account-wide-portfolio-margin"),
        pytest.param(set_position_mode(True), MARGIN_BLOCK,
                     {"position_mode": "hedge", "allow_hedge": "false", "action": "set_position_mode",
                      "symbol": "None"}, id="switch-to-hedge"),
        pytest.param(set_position_mode(False), ALLOWED, None, id="switch-to-one-way"),
        pytest.param(make_leverage("5", margin_mode=MarginMode.CROSSED), MARGIN_BLOCK,
                     {"margin_mode": "CROSSED", "action": "set_leverage"}, id="leverage-call-that-switches-to-cross"),
        pytest.param(make_leverage("5"), ALLOWED, None, id="leverage-call-naming-no-mode"),
        pytest.param(make_limit("50000", margin_mode=MarginMode.CROSSED), MARGIN_BLOCK,
                     {"margin_mode": "CROSSED", "action": "new"}, id="order-trading-in-cross"),
        pytest.param(make_limit("50000", margin_mode=MarginMode.ISOLATED), ALLOWED, None,
                     id="order-trading-in-isolated"),
        pytest.param(make_intent(action=Action.SET_MARGIN_MODE), ALLOWED, None, id="margin-setting-naming-no-mode"),
    ],
)
def test_plan_when_margin_or_position_mode_is_requested_then_only_allowed_modes_pass(
    intent: OrderIntent, expected: tuple[Verdict, Reason | None, str | None], context: dict[str, str] | None
) -> None:
    decision = run_intent(intent, ISOLATED_ONE_WAY)

    assert deciding(decision) == expected
    if context is not None:
        assert decision.deciding is not None
        assert context.items() <= dict(decision.deciding.context).items()


@pytest.mark.parametrize(
    ("rule", "intent", "allowed"),
    [
        pytest.param("{id: margin, type: margin_mode, allow: [ISOLATED, CROSSED]}", set_position_mode(True), True,
                     id="allow-alone-leaves-position-mode-free"),
        pytest.param("{id: margin, type: margin_mode, allow_hedge: false}", set_margin(MarginMode.PORTFOLIO), True,
                     id="allow-hedge-alone-leaves-margin-mode-free"),
        pytest.param("{id: margin, type: margin_mode, allow_hedge: true}", set_position_mode(True), True,
                     id="hedge-allowed"),
        pytest.param("{id: margin, type: margin_mode, allow: [ISOLATED, CROSSED]}", set_margin(MarginMode.PORTFOLIO),
                     False, id="portfolio-needs-naming"),
    ],
)
def test_plan_when_margin_rule_names_one_key_then_the_other_is_not_checked(
    rule: str, intent: OrderIntent, allowed: bool
) -> None:
    decision = run_intent(intent, make_rules(rule))

    assert deciding(decision) == (ALLOWED if allowed else MARGIN_BLOCK)


def test_plan_when_order_in_a_refused_mode_only_reduces_then_it_is_exempt() -> None:
    close = make_limit("50000", side=Side.SELL, reduce_only=True, margin_mode=MarginMode.CROSSED)

    exempt = run_intent(close, ISOLATED_ONE_WAY, make_view(positions={"BTCUSDT": "0.1"}))
    nothing_to_reduce = run_intent(close, ISOLATED_ONE_WAY, make_view())

    assert deciding(exempt) == ALLOWED
    assert deciding(nothing_to_reduce) == MARGIN_BLOCK


def test_plan_when_margin_rule_is_scoped_to_a_symbol_then_other_symbols_switch_freely() -> None:
    policy = make_rules("{id: margin, type: margin_mode, allow: [ISOLATED], scope: {symbols: [BTCUSDT]}}")

    assert deciding(run_intent(set_margin(MarginMode.CROSSED, symbol="ETHUSDT"), policy)) == ALLOWED
    assert deciding(run_intent(set_margin(MarginMode.CROSSED), policy)) == MARGIN_BLOCK
    # a switch that names no instrument touches every one: the symbol-scoped rule covers it
    assert deciding(run_intent(set_margin(MarginMode.CROSSED, symbol=None), policy)) == MARGIN_BLOCK


@pytest.mark.parametrize(
    ("mode", "rule_mode", "verdict", "monitored"),
    [
        pytest.param(None, "shadow", Verdict.ALLOW, False, id="shadow-rule"),
        pytest.param("monitor", "enforce", Verdict.ALLOW, True, id="monitor-policy"),
    ],
)
def test_plan_when_margin_rule_is_shadowed_or_policy_monitors_then_switch_passes_with_would_block(
    mode: str | None, rule_mode: str, verdict: Verdict, monitored: bool
) -> None:
    policy = make_rules(f"{{id: margin, type: margin_mode, allow_hedge: false, mode: {rule_mode}}}", mode=mode)

    decision = run_intent(set_position_mode(True), policy)

    assert decision.verdict is verdict and decision.monitored is monitored
    assert [(v.rule_id, v.reason) for v in decision.shadowed] == [("margin", Reason.MARGIN_MODE_NOT_ALLOWED)]


def test_plan_when_account_is_reducing_then_mode_switch_is_refused_by_the_state_first() -> None:
    view = make_view(states=(make_state_record(state=TradingState.REDUCING),))

    decision = run_intent(set_margin(MarginMode.CROSSED), ISOLATED_ONE_WAY, view)

    assert [v.reason for v in decision.violations] == [Reason.TRADING_REDUCING, Reason.MARGIN_MODE_NOT_ALLOWED]


# --- duplicate orders ----------------------------------------------------------------------------------------

DUPLICATES = make_rules("{id: dup, type: duplicate_orders, window: 2s}")
DUPLICATE_BLOCK = (Verdict.BLOCK, Reason.DUPLICATE_ORDER, "dup")
ORIGINAL = make_limit("50000")


def planned_duplicates(request: ParsedRequest, policy: Policy = DUPLICATES,
                       view: StateView | None = None) -> tuple[DuplicateCheck, ...]:
    planned = engine.plan(request, policy, view or make_view(), DECISION_ID)
    return planned.reservation.duplicates if planned.reservation else ()


def one_fingerprint(intent: OrderIntent) -> str:
    (check,) = planned_duplicates(make_request(intent))
    return check.fingerprint


@pytest.mark.parametrize(
    ("other", "same"),
    [
        pytest.param(make_limit("50000.00", quantity="0.10"), True, id="trailing-zeros-are-one-amount"),
        pytest.param(make_limit("5E+4"), True, id="exponent-is-one-amount"),
        pytest.param(make_limit("50000", client_order_id="fresh-id"), True, id="client-order-id-is-not-part"),
        pytest.param(make_intent(order_type="LIMIT", price="50000", time_in_force="IOC"), True,
                     id="time-in-force-is-not-part"),
        pytest.param(make_intent(order_type="limit", price="50000"), True, id="order-type-case-is-not-part"),
        pytest.param(make_limit("50000.01"), False, id="other-price"),
        pytest.param(make_limit("50000", quantity="0.2"), False, id="other-quantity"),
        pytest.param(make_limit("50000", side=Side.SELL), False, id="other-side"),
        pytest.param(make_limit("50000", position_side=PositionSide.LONG), False, id="other-position-side"),
        pytest.param(make_limit("50000", symbol="ETHUSDT"), False, id="other-symbol"),
        pytest.param(make_intent(order_type="STOP", price="50000", trigger_price="50500"), False,
                     id="other-type-trigger"),
        pytest.param(make_limit("50000", trigger_price="50500"), False, id="other-trigger-price"),
        pytest.param(make_limit("50000", account=OTHER_ACCOUNT), False, id="other-account"),
        pytest.param(make_limit("50000", venue=Venue.BYBIT), False, id="other-venue"),
        pytest.param(make_intent(), False, id="market-order-of-the-same-size"),
    ],
)
def test_plan_when_order_is_compared_with_another_then_fingerprints_match_only_for_the_same_order(
    other: OrderIntent, same: bool
) -> None:
    assert (one_fingerprint(other) == one_fingerprint(ORIGINAL)) is same


@pytest.mark.parametrize(
    ("other", "same"),
    [
        # the same 100 contracts converted at a mark that moved: the same order sent again
        pytest.param(make_intent(quantity="0.00199", contracts=Decimal("100")), True, id="same-contracts-other-mark"),
        pytest.param(make_intent(quantity="0.002", contracts=Decimal("101")), False, id="other-contracts"),
        pytest.param(make_intent(quantity="0.002"), False, id="a-base-size-is-not-a-count-of-contracts"),
    ],
)
def test_plan_when_inverse_orders_are_compared_then_their_contracts_decide_not_the_converted_size(
    other: OrderIntent, same: bool
) -> None:
    inverse = make_intent(quantity="0.002", contracts=Decimal("100"))

    assert (one_fingerprint(other) == one_fingerprint(inverse)) is same


@pytest.mark.parametrize(
    ("request_", "view", "checked"),
    [
        pytest.param(make_request(ORIGINAL), None, True, id="new-order"),
        pytest.param(make_request(make_intent(action=Action.AMEND, price="50000", order_id="7")), None, False,
                     id="amend-is-not-a-new-order"),
        pytest.param(make_request(make_cancel()), None, False, id="cancel"),
        pytest.param(make_request(make_leverage("5")), None, False, id="setting"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, reduce_only=True)), make_view({"BTCUSDT": "1"}),
                     False, id="reduction-within-the-position-is-exempt"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, reduce_only=True)), None, True,
                     id="reduce-only-with-nothing-to-reduce-is-checked"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, position_side=PositionSide.LONG)),
                     make_view({("BTCUSDT", PositionSide.LONG): "1"}), False, id="hedge-close-is-exempt"),
    ],
)
def test_plan_when_request_is_not_a_new_order_that_adds_then_no_duplicate_check(
    request_: ParsedRequest, view: StateView | None, checked: bool
) -> None:
    checks = planned_duplicates(request_, view=view)

    assert len(checks) == (1 if checked else 0)
    if checked:
        assert (checks[0].rule_id, checks[0].window_ms, checks[0].enforced) == ("dup", 2000, True)
        assert (checks[0].venue, checks[0].account) == (VENUE, ACCOUNT)


@pytest.mark.parametrize(
    ("legs", "expected", "leg", "checks"),
    [
        pytest.param((ORIGINAL, make_limit("50000.0")), DUPLICATE_BLOCK, 1, 1, id="second-identical-leg"),
        pytest.param((ORIGINAL, make_limit("49000"), ORIGINAL), DUPLICATE_BLOCK, 2, 2, id="third-repeats-first"),
        pytest.param((ORIGINAL, make_limit("49000")), ALLOWED, None, 2, id="two-different-legs"),
        pytest.param((ORIGINAL, make_limit("50000", side=Side.SELL)), ALLOWED, None, 2, id="both-sides"),
    ],
)
def test_plan_when_batch_repeats_a_leg_then_the_whole_batch_blocks_on_the_repeat(
    legs: tuple[OrderIntent, ...], expected: tuple[Verdict, Reason | None, str | None], leg: int | None,
    checks: int,
) -> None:
    request = make_request(*legs)
    planned = engine.plan(request, DUPLICATES, make_view(), DECISION_ID)
    decision = engine.conclude(planned, DUPLICATES, None)

    assert deciding(decision) == expected
    assert planned.reservation is not None and len(planned.reservation.duplicates) == checks
    if leg is not None:
        assert decision.deciding is not None and decision.deciding.leg == leg
        assert decision.deciding.get("duplicate_of_leg") == "0"
        assert not planned.needs_store  # blocked whole before the store is asked


def duplicate_result(check: DuplicateCheck, *, passed: bool) -> CheckResult:
    detail = () if passed else (("ago_ms", "340"), ("duplicate_of", "d0"))
    return CheckResult(check, Decimal(1 if passed else 2), passed, detail)


def test_conclude_when_store_finds_a_duplicate_then_block_with_window_age_and_first_decision() -> None:
    planned = engine.plan(make_request(ORIGINAL), DUPLICATES, make_view(), DECISION_ID)
    assert planned.reservation is not None
    (check,) = planned.reservation.duplicates

    decision = engine.conclude(planned, DUPLICATES, ReserveOutcome(False, (duplicate_result(check, passed=False),)))

    assert deciding(decision) == DUPLICATE_BLOCK
    assert decision.deciding is not None
    assert decision.deciding.detail == (
        "DUPLICATE_ORDER: orders=2, limit=1, window_ms=2000, ago_ms=340, duplicate_of=d0, symbol=BTCUSDT, "
        "side=buy, position_side=both, order_type=LIMIT, qty=0.1, price=50000")


def test_conclude_when_duplicate_and_position_and_rate_all_fail_then_duplicate_decides() -> None:
    policy = make_rules("{id: rate, type: order_rate, limits: ['1/1s']}",
                        "{id: position, type: max_position, default: {qty: 0.05}}",
                        "{id: dup, type: duplicate_orders, window: 2s}")
    planned = engine.plan(make_request(ORIGINAL), policy, make_view(), DECISION_ID)
    assert planned.reservation is not None
    rate, exposure, duplicate = (planned.reservation.rate[0], planned.reservation.exposure[0],
                                 planned.reservation.duplicates[0])
    outcome = ReserveOutcome(False, (CheckResult(rate, Decimal(2), False), CheckResult(exposure, Decimal("0.1"), False),
                                     duplicate_result(duplicate, passed=False)))

    decision = engine.conclude(planned, policy, outcome)

    assert [v.reason for v in decision.violations] == [
        Reason.DUPLICATE_ORDER, Reason.POSITION_EXCEEDS_MAX, Reason.ORDER_RATE_EXCEEDED]


@pytest.mark.parametrize(
    ("rule_mode", "policy_mode", "enforced", "verdict", "shadowed"),
    [
        pytest.param("enforce", None, True, Verdict.BLOCK, [], id="enforced"),
        pytest.param("shadow", None, False, Verdict.ALLOW, [Reason.DUPLICATE_ORDER], id="shadow-rule"),
        pytest.param("enforce", "monitor", False, Verdict.ALLOW, [Reason.DUPLICATE_ORDER], id="monitor-policy"),
    ],
)
def test_conclude_when_duplicate_rule_is_shadowed_or_monitored_then_store_records_and_only_would_block(
    rule_mode: str, policy_mode: str | None, enforced: bool, verdict: Verdict, shadowed: list[Reason]
) -> None:
    policy = make_rules(f"{{id: dup, type: duplicate_orders, window: 2s, mode: {rule_mode}}}", mode=policy_mode)
    planned = engine.plan(make_request(ORIGINAL), policy, make_view(), DECISION_ID)
    assert planned.reservation is not None
    (check,) = planned.reservation.duplicates

    decision = engine.conclude(planned, policy, ReserveOutcome(not enforced, (duplicate_result(check, passed=False),)))

    assert check.enforced is enforced
    assert decision.verdict is verdict
    assert [v.reason for v in decision.shadowed] == shadowed


def test_plan_when_batch_repeats_a_leg_under_a_shadow_rule_then_it_would_block_and_passes() -> None:
    policy = make_rules("{id: dup, type: duplicate_orders, window: 2s, mode: shadow}")

    decision = run(make_request(ORIGINAL, ORIGINAL), policy)

    assert decision.verdict is Verdict.ALLOW
    assert [(v.rule_id, v.reason, v.leg) for v in decision.shadowed] == [("dup", Reason.DUPLICATE_ORDER, 1)]


@pytest.mark.parametrize(
    ("scope", "intent", "checked"),
    [
        pytest.param("{symbols: [BTCUSDT]}", ORIGINAL, True, id="symbol-in-scope"),
        pytest.param("{symbols: [BTCUSDT]}", make_limit("3000", symbol="ETHUSDT"), False, id="symbol-out-of-scope"),
        pytest.param("{accounts: [main]}", ORIGINAL, True, id="account-in-scope"),
        pytest.param("{accounts: [main]}", make_limit("50000", account=OTHER_ACCOUNT), False,
                     id="account-out-of-scope"),
        pytest.param("{venues: [bybit]}", ORIGINAL, False, id="venue-out-of-scope"),
        pytest.param("{position_sides: [long]}", ORIGINAL, False, id="position-side-out-of-scope"),
        pytest.param("{position_sides: [long]}", make_limit("50000", position_side=PositionSide.LONG), True,
                     id="position-side-in-scope"),
    ],
)
def test_plan_when_duplicate_rule_is_scoped_then_only_orders_inside_its_scope_are_checked(
    scope: str, intent: OrderIntent, checked: bool
) -> None:
    policy = make_rules(f"{{id: dup, type: duplicate_orders, window: 2s, scope: {scope}}}")

    assert len(planned_duplicates(make_request(intent), policy)) == (1 if checked else 0)


def test_plan_when_two_duplicate_rules_apply_then_the_more_specific_one_decides_and_shadows_are_added() -> None:
    policy = make_rules("{id: dup-all, type: duplicate_orders, window: 5s}",
                        "{id: dup-btc, type: duplicate_orders, window: 1s, scope: {symbols: [BTCUSDT]}}",
                        "{id: dup-try, type: duplicate_orders, window: 10s, mode: shadow}")

    checks = planned_duplicates(make_request(ORIGINAL), policy)

    assert sorted((c.rule_id, c.window_ms, c.enforced) for c in checks) == [
        ("dup-btc", 1000, True), ("dup-try", 10000, False)]


# --- what the engine prepares once instead of on every order (issue 12) must answer as the definitions do --------


@pytest.mark.parametrize(("allow", "deny", "symbol"), [
    (("BTCUSDT",), (), "BTCUSDT"),
    (("BTCUSDT",), (), "btcusdt"),
    (("BTCUSDT",), (), "ETHUSDT"),
    (("BTC*",), (), "BTCUSDT"),
    (("BTC*", "ETHUSDT"), ("BTCDOM*",), "BTCDOMUSDT"),
    (("*USDT",), ("ETHUSDT",), "ETHUSDT"),
    (("*USDT",), ("ETHUSDT",), ("XRP-USDT-SWAP", "XRP/USDT:USDT")),
    (("XRP/USDT:USDT",), (), ("XRP-USDT-SWAP", "XRP/USDT:USDT")),
    (("BTC?USDT", "[AB]TCUSDT"), (), "ATCUSDT"),
    (None, ("DOGE*",), "DOGEUSDT"),
    (None, ("DOGE*",), "BTCUSDT"),
    (("BTCUSDT",), (), None),
])
def test_permits_when_patterns_are_literal_or_globs_then_it_answers_as_symbol_matches(
    allow: tuple[str, ...] | None, deny: tuple[str, ...], symbol: str | tuple[str, ...] | None,
) -> None:
    from riskwall.policy.model import AllowedSymbols, _names, symbol_matches

    rule = AllowedSymbols.model_validate({"id": "s", "type": "allowed_symbols", "allow": allow, "deny": deny})
    names = _names(symbol)
    expected = not any(symbol_matches(p, n) for p in deny for n in names) and (
        allow is None or any(symbol_matches(p, n) for p in allow for n in names))
    assert rule.permits(symbol) is expected


@pytest.mark.parametrize(("symbols", "names", "expected"), [
    ({}, ("BTCUSDT",), Decimal(7)),
    ({}, (), Decimal(7)),
    ({"BTCUSDT": 1}, ("BTCUSDT",), Decimal(1)),
    ({"ETH*": 2}, ("BTCUSDT",), Decimal(7)),
    ({"ETH*": 2}, ("ETHUSDT",), Decimal(2)),
])
def test_limit_for_when_the_rule_has_or_lacks_symbols_then_the_default_fills_in(
    symbols: dict[str, int], names: tuple[str, ...], expected: Decimal,
) -> None:
    from riskwall.policy.model import MaxOrderQty, lookup_by_symbol

    rule = MaxOrderQty.model_validate({"id": "q", "type": "max_order_qty", "default": 7, "symbols": symbols})
    assert rule.limit_for(names) == expected
    assert rule.symbol_table.lookup(names) == lookup_by_symbol(rule.symbols, names)


@pytest.mark.parametrize(("symbol", "unified", "names"), [
    ("BTCUSDT", "BTC/USDT:USDT", ("BTCUSDT", "BTC/USDT:USDT")),
    ("BTCUSDT", None, ("BTCUSDT",)),
    (None, "BTC/USDT:USDT", ("BTC/USDT:USDT",)),
    (None, None, ()),
    ("", "", ()),
])
def test_names_when_either_name_is_missing_then_only_the_known_ones_in_order(
    symbol: str | None, unified: str | None, names: tuple[str, ...],
) -> None:
    assert make_intent(symbol=symbol, unified_symbol=unified).names == names


@pytest.mark.parametrize(("symbols", "expected"), [
    ((), ()),
    (("BTCUSDT",), ("BTCUSDT",)),
    ((None,), ()),
    (("BTCUSDT", "ETHUSDT", "BTCUSDT", None), ("BTCUSDT", "ETHUSDT")),
])
def test_symbols_when_legs_repeat_or_name_none_then_each_symbol_once_in_order(
    symbols: tuple[str | None, ...], expected: tuple[str, ...],
) -> None:
    request = make_request(*(make_intent(symbol=s) for s in symbols)) if symbols else make_bare_request(Action.NEW)
    assert request.symbols == expected


def test_windows_when_read_on_every_order_then_parsed_once_and_equal_to_the_texts() -> None:
    from riskwall.policy.model import OrderRate, parse_rate

    rule = OrderRate.model_validate({"id": "r", "type": "order_rate", "limits": ["10/1s", "300/1m"]})
    assert rule.windows == (parse_rate("10/1s"), parse_rate("300/1m"))
    assert rule.windows is rule.windows


@pytest.mark.parametrize("path", [
    "/fapi/v1/order?symbol=BTCUSDT", "/FAPI/v1//Order/", "/v5/public/../order/create", "/%77s-fapi/v1",
    "/ws/v5/./private;x", "\\fapi\\v1\\order", "/api/v5/trade/order#frag", "", "/",
])
def test_normalize_path_when_asked_again_then_the_kept_answer_is_the_computed_one(path: str) -> None:
    from riskwall import paths

    first = paths.normalize_path(path)
    assert paths.normalize_path(path) == first == paths._normalized_uncached(path.split("?")[0].split("#")[0])


def test_normalize_path_when_more_paths_than_its_memory_then_memory_stays_bounded() -> None:
    from riskwall import paths

    for n in range(paths.NORMALIZED_MEMORY_COUNT * 2 + 5):
        assert paths.normalize_path(f"/made/up/{n}/") == f"/made/up/{n}"
        assert len(paths._normalized) <= paths.NORMALIZED_MEMORY_COUNT
    long_path = "/x" * paths.NORMALIZED_MEMORY_LENGTH
    assert paths.normalize_path(long_path) == long_path
    assert long_path not in paths._normalized


# (the close: its symbol, side and position side; the view's positions; the pending reductions it holds: symbol,
# position side, side, size)
CLOSES = [
    # OKX close-position of a long: the whole long may be gone once the venue answers
    (("BTCUSDT", Side.SELL, PositionSide.BOTH), {"BTCUSDT": "0.8"}, [("BTCUSDT", PositionSide.BOTH, Side.SELL, "0.8")]),
    (("BTCUSDT", Side.BUY, PositionSide.BOTH), {"BTCUSDT": "-0.5"}, [("BTCUSDT", PositionSide.BOTH, Side.BUY, "0.5")]),
    # whatever side the close names: Bitget ignores holdSide in one-way mode, and closes the one-way long
    (("BTCUSDT", Side.SELL, PositionSide.LONG), {"BTCUSDT": "0.004"}, [("BTCUSDT", PositionSide.BOTH, Side.SELL,
                                                                         "0.004")]),
    (("BTCUSDT", Side.BUY, PositionSide.BOTH), {"BTCUSDT": "0.8"}, [("BTCUSDT", PositionSide.BOTH, Side.SELL, "0.8")]),
    (("BTCUSDT", Side.SELL, PositionSide.LONG), {("BTCUSDT", PositionSide.LONG): "2",
                                                 ("BTCUSDT", PositionSide.SHORT): "-1"},
     [("BTCUSDT", PositionSide.LONG, Side.SELL, "2"), ("BTCUSDT", PositionSide.SHORT, Side.BUY, "1")]),
    # no side (BitMEX closePosition): whichever way the position goes
    (("BTCUSDT", None, PositionSide.BOTH), {"BTCUSDT": "-0.3", "ETHUSDT": "4"},
     [("BTCUSDT", PositionSide.BOTH, Side.BUY, "0.3")]),
    # no symbol (BingX closeAllPositions): every position of the account on the venue
    ((None, None, PositionSide.BOTH), {"BTCUSDT": "-0.3", "ETHUSDT": "4", "SOLUSDT": "0"},
     [("BTCUSDT", PositionSide.BOTH, Side.BUY, "0.3"), ("ETHUSDT", PositionSide.BOTH, Side.SELL, "4")]),
    (("BTCUSDT", Side.SELL, PositionSide.BOTH), {}, []),  # nothing held: nothing to hold
]


@pytest.mark.parametrize(("close", "positions", "held"), CLOSES)
def test_plan_when_a_close_names_no_size_then_what_it_may_close_is_held_as_a_pending_reduction(
    close: tuple[str | None, Side | None, PositionSide], positions: dict[Any, str],
    held: list[tuple[str, PositionSide, Side, str]],
) -> None:
    # the venue closes what there is: a close the store never learns of would leave the old position
    # under-counting every order the other way (a long of 0.8 closed, then a sell of 1.8 through a limit of 1)
    symbol, side, position_side = close
    intent = make_intent(symbol=symbol, side=side, position_side=position_side, quantity=None, order_type="MARKET",
                         reduce_only=True, close_position=True)
    policy = make_policy("rules:\n  - id: position\n    type: max_position\n    default: {qty: 1}\n")

    plan = engine.plan(make_request(intent), policy, make_view(positions), "d1")

    assert plan.violations == ()
    assert plan.reservation is not None
    assert sorted((e.position.symbol, e.position.position_side, e.side, str(e.quantity), e.reducing)
                  for e in plan.reservation.pending) == sorted((*row, True) for row in held)
    assert len({e.leg_id for e in plan.reservation.pending}) == len(held)


@pytest.mark.parametrize(("symbol", "whole"), [(None, True), ("BTCUSDT", False)])
def test_view_query_when_a_close_names_no_instrument_then_the_whole_account_is_read(
    symbol: str | None, whole: bool
) -> None:
    intent = make_intent(symbol=symbol, side=None, quantity=None, reduce_only=True, close_position=True)
    policy = make_policy("rules:\n  - id: position\n    type: max_position\n    default: {qty: 1}\n")

    assert engine.view_query(make_request(intent), policy).whole_account is whole


def test_plan_when_a_close_is_read_as_two_legs_then_each_position_is_held_once() -> None:
    # BingX closePosition of a symbol: a SELL leg and a BUY leg, both closing whatever the symbol holds
    legs = [make_intent(side=side, quantity=None, order_type="MARKET", reduce_only=True, close_position=True)
            for side in (Side.SELL, Side.BUY)]
    policy = make_policy("rules:\n  - id: position\n    type: max_position\n    default: {qty: 1}\n")

    plan = engine.plan(make_request(*legs), policy, make_view({"BTCUSDT": "0.8"}), "d1")

    assert plan.reservation is not None
    assert [(e.side, e.quantity) for e in plan.reservation.pending] == [(Side.SELL, Decimal("0.8"))]
