"""max_daily_notional: the policy keys, what the engine asks the store to charge, and plan → MemoryStore → conclude
through the decider for the decisions a bot sees.

The budgets themselves (legs and orders charging and giving back, amends, lapses, the UTC day, a fleet sharing
Redis) are the stores' contract (tests/state/test_daily_notional_contract.py).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from riskwall import engine
from riskwall.decider import decide_request
from riskwall.model import (
    Action,
    CheckResult,
    Decision,
    NotionalCheck,
    OrderIntent,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    Reason,
    ReserveOutcome,
    Side,
    Verdict,
)
from riskwall.policy.loader import Policy, PolicyError
from riskwall.state.base import StateView
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
    price_update,
)

DECISION_ID = "d1"
# the account's key is labelled `main` (make_rules): the decider keeps its state, budgets included, under the label
HOLDER = "label:main"
DAILY = "{id: daily, type: max_daily_notional, notional: 100000}"
PER_SYMBOL = "{id: daily, type: max_daily_notional, notional: 100000, per: symbol}"
BID = make_limit("50000", quantity="1")  # 50,000 of notional
ETH_BID = make_limit("3000", quantity="10", symbol="ETHUSDT")  # 30,000


def budget(symbol: str | None = None, holder: str = ACCOUNT) -> str:
    """A budget's key; the engine alone plans under the key's fingerprint, the decider under the label."""
    return f"daily|{VENUE}|{holder}" + (f"|{symbol}" if symbol else "")


def planned(request: ParsedRequest, policy: Policy, view: StateView | None = None) -> engine.Plan:
    return engine.plan(request, policy, view or make_view(), DECISION_ID)


def budget_checks(request: ParsedRequest, policy: Policy,
                  view: StateView | None = None) -> list[tuple[str, Decimal, Decimal, bool, tuple[str, ...]]]:
    plan = planned(request, policy, view)
    checks = plan.reservation.notional if plan.reservation else ()
    return [(c.key, c.limit, c.adding, c.enforced, c.replaces) for c in checks]


# ---- the policy ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "error"), [
    ({"notional": 1000000}, None),
    ({"notional": "2500.5", "per": "symbol", "on_price_unknown": "allow"}, None),
    ({"notional": 1000, "scope": {"symbols": ["BTCUSDT"], "accounts": []}}, None),
    ({"notional": 0}, "greater than 0"),
    ({"notional": -5}, "greater than 0"),
    ({"notional": "NaN"}, "finite number"),
    ({}, "Field required"),
    ({"notional": 1000, "per": "bogus"}, "Input should be 'account' or 'symbol'"),
    ({"notional": 1000, "on_price_unknown": "skip"}, "Input should be 'block' or 'allow'"),
    ({"notional": 1000, "limit": 5}, "unknown key"),
], ids=["notional", "per-symbol-allow", "symbol-scope", "zero", "negative", "nan", "missing", "per-bogus",
        "on-price-unknown-bogus", "unknown-key"])
def test_policy_when_daily_notional_rule_given_then_valid_or_refused_with_reason(
        rule: dict[str, Any], error: str | None) -> None:
    text = json.dumps({"id": "daily", "type": "max_daily_notional", **rule})
    if error is None:
        policy = make_rules(text)
        assert [r.id for r in policy.rules] == ["daily"]
        return
    with pytest.raises(PolicyError, match=error):
        make_rules(text)


# ---- what the engine asks the store to charge ------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "policy", "view", "expected"),
    [
        pytest.param(make_request(BID), DAILY, None,
                     [(budget(), Decimal(100000), Decimal(50000), True, ())], id="limit-order-at-its-price"),
        pytest.param(make_request(make_intent(quantity="0.5")), DAILY, make_view(prices={"BTCUSDT": "60000"}),
                     [(budget(), Decimal(100000), Decimal(30000), True, ())], id="market-order-at-the-mark-price"),
        pytest.param(make_request(make_intent(order_type="STOP_MARKET", trigger_price="51000")), DAILY, None,
                     [(budget(), Decimal(100000), Decimal(5100), True, ())], id="stop-market-at-its-trigger"),
        pytest.param(make_request(make_intent(order_type="STOP", price="49000", quantity="0.3",
                                              trigger_price="51000")),
                     DAILY, make_view(prices={"BTCUSDT": "60000"}),
                     [(budget(), Decimal(100000), Decimal(14700), True, ())], id="stop-limit-at-its-limit-price"),
        pytest.param(make_request(BID, ETH_BID), DAILY, None,
                     [(budget(), Decimal(100000), Decimal(80000), True, ())], id="batch-legs-add-up-per-account"),
        pytest.param(make_request(BID, ETH_BID, BID), PER_SYMBOL, None,
                     [(budget("BTCUSDT"), Decimal(100000), Decimal(100000), True, ()),
                      (budget("ETHUSDT"), Decimal(100000), Decimal(30000), True, ())],
                     id="batch-legs-add-up-per-symbol"),
        pytest.param(make_request(make_intent(action=Action.AMEND, price="50000", quantity="2", order_id="7")),
                     DAILY, None, [(budget(), Decimal(100000), Decimal(100000), True, ("7",))],
                     id="amend-names-the-order-it-replaces"),
        pytest.param(make_request(make_cancel()), DAILY, None, [], id="cancel-charges-nothing"),
        pytest.param(make_request(make_leverage("5")), DAILY, None, [], id="setting-charges-nothing"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, reduce_only=True)),
                     DAILY, make_view({"BTCUSDT": "1"}), [], id="reduction-within-the-position-is-exempt"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, position_side=PositionSide.LONG)),
                     DAILY, make_view({("BTCUSDT", PositionSide.LONG): "1"}), [], id="hedge-close-is-exempt"),
        pytest.param(make_request(make_limit("50000", side=Side.SELL, reduce_only=True)), DAILY, None,
                     [(budget(), Decimal(100000), Decimal(5000), True, ())],
                     id="reduce-only-with-nothing-to-reduce-is-charged"),
        pytest.param(make_request(BID), "{id: daily, type: max_daily_notional, notional: 9, mode: shadow}", None,
                     [(budget(), Decimal(9), Decimal(50000), False, ())], id="shadow-rule-is-not-enforced"),
        pytest.param(make_request(BID),
                     "{id: daily, type: max_daily_notional, notional: 9, scope: {symbols: [ETHUSDT]}}", None, [],
                     id="symbol-out-of-scope"),
    ],
)
def test_plan_when_order_adds_notional_then_each_budget_check_charges_quantity_times_price(
    request_: ParsedRequest, policy: str, view: StateView | None,
    expected: list[tuple[str, Decimal, Decimal, bool, tuple[str, ...]]],
) -> None:
    assert budget_checks(request_, make_rules(policy), view) == expected


def test_plan_when_order_is_charged_then_its_pending_leg_carries_the_budgets_and_the_price() -> None:
    # per account and per symbol are two kinds of the rule: both apply
    policy = make_rules(DAILY, "{id: sym, type: max_daily_notional, notional: 20000, per: symbol}")
    plan = planned(make_request(make_intent(quantity="0.5")), policy, make_view(prices={"BTCUSDT": "60000"}))

    assert plan.reservation is not None
    assert [(p.budgets, p.price) for p in plan.reservation.pending] == [
        ((budget(), f"sym|{VENUE}|{ACCOUNT}|BTCUSDT"), Decimal(60000))]
    assert [(c.key, c.limit) for c in plan.reservation.notional] == [
        (budget(), Decimal(100000)), (f"sym|{VENUE}|{ACCOUNT}|BTCUSDT", Decimal(20000))]


def test_plan_when_policy_monitors_then_budget_checks_are_not_enforced() -> None:
    policy = make_rules(DAILY, mode="monitor")

    assert [c[3] for c in budget_checks(make_request(BID), policy)] == [False]


@pytest.mark.parametrize(
    ("rule", "verdict", "reason", "charged"),
    [
        pytest.param(DAILY, Verdict.BLOCK, Reason.PRICE_UNKNOWN, False, id="block-by-default"),
        pytest.param("{id: daily, type: max_daily_notional, notional: 100000, on_price_unknown: allow}",
                     Verdict.ALLOW, None, False, id="allow-uncharged"),
    ],
)
def test_plan_when_market_order_has_no_price_then_price_unknown_blocks_or_passes_uncharged(
    rule: str, verdict: Verdict, reason: Reason | None, charged: bool
) -> None:
    policy = make_rules(rule)
    plan = planned(make_request(make_intent()), policy)
    decision = engine.conclude(plan, policy, None)

    assert decision.verdict is verdict
    assert (decision.deciding.reason if decision.deciding else None) is reason
    if decision.deciding is not None:
        assert (decision.deciding.rule_id, decision.deciding.get("symbol")) == ("daily", "BTCUSDT")
    assert plan.reservation is not None and not plan.reservation.notional
    assert [(p.budgets, p.price) for p in plan.reservation.pending] == [((), None)]


def test_plan_when_order_is_on_another_account_then_its_budget_is_that_accounts() -> None:
    plan = planned(make_request(make_limit("50000", account=OTHER_ACCOUNT)), make_rules(DAILY))

    assert plan.reservation is not None
    assert [(c.account, c.key) for c in plan.reservation.notional] == [
        (OTHER_ACCOUNT, f"daily|{VENUE}|{OTHER_ACCOUNT}")]


# ---- the store's answer ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "request_", "observed", "detail"),
    [
        pytest.param(DAILY, make_request(BID), "100000.5",
                     "DAILY_NOTIONAL_EXCEEDS_MAX: daily_notional=100000.5, max_daily_notional=100000, "
                     "notional=50000, scope=account, symbol=BTCUSDT", id="account-budget"),
        pytest.param(PER_SYMBOL, make_request(ETH_BID), "130000",
                     "DAILY_NOTIONAL_EXCEEDS_MAX: daily_notional=130000, max_daily_notional=100000, "
                     "notional=30000, scope=symbol, symbol=ETHUSDT", id="symbol-budget"),
    ],
)
def test_conclude_when_store_finds_the_budget_exceeded_then_block_with_day_total_limit_and_scope(
    policy: str, request_: ParsedRequest, observed: str, detail: str
) -> None:
    rules = make_rules(policy)
    plan = planned(request_, rules)
    assert plan.reservation is not None
    (check,) = plan.reservation.notional

    decision = engine.conclude(plan, rules, ReserveOutcome(False, (CheckResult(check, Decimal(observed), False),)))

    assert decision.verdict is Verdict.BLOCK
    assert decision.deciding is not None and decision.deciding.rule_id == "daily"
    assert decision.deciding.detail == detail


def test_conclude_when_every_store_check_fails_then_daily_notional_follows_open_orders_and_precedes_position(
) -> None:
    policy = make_rules("{id: rate, type: order_rate, limits: ['1/1s']}",
                        "{id: position, type: max_position, default: {qty: 0.05}}",
                        DAILY,
                        "{id: oo, type: max_open_orders, per_account: 1}",
                        "{id: dup, type: duplicate_orders, window: 2s}")
    plan = planned(make_request(BID), policy)
    assert plan.reservation is not None
    r = plan.reservation
    outcome = ReserveOutcome(False, (  # stores answer in their own order; conclude sorts by the documented one
        CheckResult(r.rate[0], Decimal(2), False), CheckResult(r.notional[0], Decimal(150000), False),
        CheckResult(r.exposure[0], Decimal("1"), False), CheckResult(r.duplicates[0], Decimal(2), False),
        CheckResult(r.open_orders[0], Decimal(2), False)))

    decision = engine.conclude(plan, policy, outcome)

    assert [v.reason for v in decision.violations] == [
        Reason.DUPLICATE_ORDER, Reason.OPEN_ORDERS_EXCEED_MAX, Reason.DAILY_NOTIONAL_EXCEEDS_MAX,
        Reason.POSITION_EXCEEDS_MAX, Reason.ORDER_RATE_EXCEEDED]
    assert isinstance(r.notional[0], NotionalCheck)


# ---- plan → MemoryStore → conclude, through the decider -----------------------------------------------------


class Desk:
    """A MemoryStore on a fake clock and a policy, deciding requests as the sidecar does, and answering for the
    venue (acknowledging, filling, cancelling) when told."""

    def __init__(self, *rules: str, mode: str | None = None) -> None:
        self.policy = make_rules(*rules, mode=mode)
        self.clock = FakeClock()
        self.store = MemoryStore(clock=self.clock)
        self.decisions = 0

    async def decide(self, *intents: OrderIntent) -> Decision:
        self.decisions += 1
        decision_id = f"d{self.decisions}"
        evaluation = await decide_request(make_request(*intents), self.policy, self.store, decision_id)
        return evaluation.decision

    async def place(self, intent: OrderIntent, order_id: str) -> Decision:
        """Decide a new order; once allowed, the venue acknowledges it as `order_id` (resting, nothing filled)."""
        decision = await self.decide(intent)
        if decision.verdict is Verdict.ALLOW:
            quantity = str(intent.quantity)
            await self.store.settle(facts(order_update(order_id, quantity, "0", symbol=intent.symbol or "",
                                                       reservation_id=f"{decision.decision_id}:0",
                                                       account=HOLDER)),
                                    decision.decision_id)
        return decision

    async def venue_says(self, order_id: str, original: str, executed: str, final: bool = False) -> None:
        await self.store.learn(facts(order_update(order_id, original, executed, final, account=HOLDER)))

    async def charged(self, symbol: str | None = None) -> Decimal:
        return await self.store.daily_notional(VENUE, HOLDER, budget(symbol, HOLDER))


def context(decision: Decision, *keys: str) -> dict[str, str | None]:
    assert decision.deciding is not None
    return {key: decision.deciding.get(key) for key in keys}


CONTEXT_KEYS = ("daily_notional", "max_daily_notional", "notional", "scope", "symbol")


@pytest.mark.parametrize(
    ("request_", "verdict", "seen"),
    [
        pytest.param(make_limit("40000", quantity="1"), Verdict.ALLOW, None, id="up-to-the-budget"),
        pytest.param(make_limit("40000.01", quantity="1"), Verdict.BLOCK,
                     {"daily_notional": "100000.01", "max_daily_notional": "100000", "notional": "40000.01",
                      "scope": "account", "symbol": "BTCUSDT"}, id="a-cent-over-the-budget"),
        pytest.param(make_limit("3000", quantity="14", symbol="ETHUSDT"), Verdict.BLOCK,
                     {"daily_notional": "102000", "max_daily_notional": "100000", "notional": "42000",
                      "scope": "account", "symbol": "ETHUSDT"}, id="another-symbol-shares-the-account-budget"),
    ],
)
async def test_decide_when_day_has_traded_60000_then_orders_pass_up_to_the_budget_and_block_beyond(
    request_: OrderIntent, verdict: Verdict, seen: dict[str, str] | None
) -> None:
    desk = Desk(DAILY)
    assert (await desk.place(make_limit("30000", quantity="2"), "o1")).verdict is Verdict.ALLOW

    decision = await desk.decide(request_)

    assert decision.verdict is verdict
    if seen is not None:
        assert decision.deciding is not None and (decision.deciding.rule_id, decision.deciding.reason) == (
            "daily", Reason.DAILY_NOTIONAL_EXCEEDS_MAX)
        assert context(decision, *CONTEXT_KEYS) == seen
    assert await desk.charged() == (Decimal(100000) if verdict is Verdict.ALLOW else Decimal(60000))


@pytest.mark.parametrize(
    ("request_", "verdict", "seen"),
    [
        pytest.param(make_limit("3000", quantity="30", symbol="ETHUSDT"), Verdict.ALLOW, None,
                     id="eth-has-its-own-budget"),
        pytest.param(make_limit("50000", quantity="0.9"), Verdict.BLOCK,
                     {"daily_notional": "105000", "max_daily_notional": "100000", "notional": "45000",
                      "scope": "symbol", "symbol": "BTCUSDT"}, id="btc-over-its-own-budget"),
    ],
)
async def test_decide_when_budget_is_per_symbol_then_each_symbol_is_charged_on_its_own(
    request_: OrderIntent, verdict: Verdict, seen: dict[str, str] | None
) -> None:
    desk = Desk(PER_SYMBOL)
    assert (await desk.place(make_limit("50000", quantity="1.2"), "o1")).verdict is Verdict.ALLOW

    decision = await desk.decide(request_)

    assert decision.verdict is verdict
    if seen is not None:
        assert context(decision, *CONTEXT_KEYS) == seen
    assert (await desk.charged("BTCUSDT"), await desk.charged("ETHUSDT"), await desk.charged()) == (
        Decimal(60000), Decimal(90000) if verdict is Verdict.ALLOW else Decimal(0), Decimal(0))


async def test_decide_when_batch_legs_together_exceed_the_budget_then_the_batch_is_blocked_whole() -> None:
    desk = Desk(DAILY)

    blocked = await desk.decide(make_limit("50000", quantity="1"), make_limit("3000", quantity="17",
                                                                                 symbol="ETHUSDT"))
    charged_after_block = await desk.charged()
    fits = await desk.decide(make_limit("50000", quantity="1"), make_limit("3000", quantity="16", symbol="ETHUSDT"))

    assert blocked.verdict is Verdict.BLOCK
    assert context(blocked, "daily_notional", "notional", "max_daily_notional") == {
        "daily_notional": "101000", "notional": "101000", "max_daily_notional": "100000"}
    assert charged_after_block == Decimal(0)
    assert fits.verdict is Verdict.ALLOW and await desk.charged() == Decimal(98000)


async def test_decide_when_market_order_and_mark_price_seen_then_charged_at_the_mark_price() -> None:
    desk = Desk(DAILY)
    await desk.store.learn(facts(price_update("62000.5")))

    first = await desk.decide(make_intent(quantity="1"))
    second = await desk.decide(make_intent(quantity="0.7"))

    assert first.verdict is Verdict.ALLOW and await desk.charged() == Decimal("62000.5")
    assert second.verdict is Verdict.BLOCK
    assert context(second, "daily_notional", "notional") == {"daily_notional": "105400.85", "notional": "43400.35"}


@pytest.mark.parametrize(
    ("rule", "verdict", "reason"),
    [
        pytest.param(DAILY, Verdict.BLOCK, Reason.PRICE_UNKNOWN, id="block"),
        pytest.param("{id: daily, type: max_daily_notional, notional: 100000, on_price_unknown: allow}",
                     Verdict.ALLOW, None, id="allow"),
    ],
)
async def test_decide_when_market_order_and_no_price_seen_then_on_price_unknown_decides_and_nothing_is_charged(
    rule: str, verdict: Verdict, reason: Reason | None
) -> None:
    desk = Desk(rule)

    decision = await desk.decide(make_intent(quantity="5"))

    assert decision.verdict is verdict
    assert (decision.deciding.reason if decision.deciding else None) is reason
    assert await desk.charged() == Decimal(0)


@pytest.mark.parametrize(
    ("position", "verdict", "charged"),
    [
        pytest.param("1", Verdict.ALLOW, "100000", id="within-the-position-exempt-and-uncharged"),
        pytest.param("0", Verdict.BLOCK, "100000", id="nothing-to-reduce-checked-like-any-order"),
    ],
)
async def test_decide_when_budget_is_spent_then_reductions_within_the_position_still_pass_uncharged(
    position: str, verdict: Verdict, charged: str
) -> None:
    desk = Desk(DAILY)
    assert (await desk.place(make_limit("50000", quantity="2"), "o1")).verdict is Verdict.ALLOW
    await desk.store.learn(facts(PositionsReport(VENUE, HOLDER, None, (("BTCUSDT", PositionSide.BOTH,
                                                                        Decimal(position)),))))

    decision = await desk.decide(make_limit("50000", quantity="0.5", side=Side.SELL, reduce_only=True))

    assert decision.verdict is verdict
    assert await desk.charged() == Decimal(charged)


async def test_decide_when_shadow_rule_is_exceeded_then_allowed_with_would_block_and_charged() -> None:
    desk = Desk("{id: daily, type: max_daily_notional, notional: 100000, mode: shadow}")
    assert (await desk.place(make_limit("50000", quantity="1.5"), "o1")).verdict is Verdict.ALLOW

    decision = await desk.decide(make_limit("50000", quantity="1"))

    assert decision.verdict is Verdict.ALLOW and not decision.violations
    assert [(v.rule_id, v.reason, v.get("daily_notional")) for v in decision.shadowed] == [
        ("daily", Reason.DAILY_NOTIONAL_EXCEEDS_MAX, "125000")]
    assert await desk.charged() == Decimal(125000)


async def test_decide_when_policy_monitors_then_over_budget_is_allowed_as_would_block() -> None:
    desk = Desk(DAILY, mode="monitor")
    assert (await desk.place(make_limit("50000", quantity="1.5"), "o1")).verdict is Verdict.ALLOW

    decision = await desk.decide(make_limit("50000", quantity="1"))

    assert (decision.verdict, decision.monitored) == (Verdict.ALLOW, True)
    assert [(v.rule_id, v.reason) for v in decision.shadowed] == [("daily", Reason.DAILY_NOTIONAL_EXCEEDS_MAX)]


async def test_decide_when_budget_is_spent_then_a_cancel_passes_and_gives_back_what_did_not_fill() -> None:
    desk = Desk(DAILY)
    assert (await desk.place(make_limit("50000", quantity="1"), "o1")).verdict is Verdict.ALLOW
    assert (await desk.place(make_limit("50000", quantity="1"), "o2")).verdict is Verdict.ALLOW

    blocked = await desk.decide(make_limit("50000", quantity="0.5"))
    cancel = await desk.decide(make_cancel(order_id="o1"))
    await desk.venue_says("o1", "1", "0.4", final=True)  # cancelled, 0.4 had filled
    after_cancel = await desk.decide(make_limit("50000", quantity="0.6"))
    blocked_again = await desk.decide(make_limit("50000", quantity="0.01"))

    assert (blocked.verdict, cancel.verdict, after_cancel.verdict, blocked_again.verdict) == (
        Verdict.BLOCK, Verdict.ALLOW, Verdict.ALLOW, Verdict.BLOCK)
    assert await desk.charged() == Decimal(100000)  # 20,000 filled + 50,000 resting + 30,000 just admitted


async def test_decide_when_amend_grows_an_order_then_only_its_new_notional_replaces_the_open_part() -> None:
    desk = Desk(DAILY)
    assert (await desk.place(make_limit("50000", quantity="1"), "o1")).verdict is Verdict.ALLOW
    assert (await desk.place(make_limit("30000", quantity="1"), "o2")).verdict is Verdict.ALLOW

    over = await desk.decide(make_intent(action=Action.AMEND, order_type="LIMIT", price="50000", quantity="1.41",
                                         order_id="o1"))
    fits = await desk.decide(make_intent(action=Action.AMEND, order_type="LIMIT", price="50000", quantity="1.4",
                                         order_id="o1"))

    assert over.verdict is Verdict.BLOCK
    assert context(over, "daily_notional", "notional") == {"daily_notional": "100500", "notional": "70500"}
    assert fits.verdict is Verdict.ALLOW


async def test_decide_when_daily_notional_and_position_both_fail_then_daily_notional_decides() -> None:
    desk = Desk("{id: position, type: max_position, default: {qty: 1}}", DAILY,
                "{id: oo, type: max_open_orders, per_account: 5}")

    decision = await desk.decide(make_limit("60000", quantity="2"))

    assert [(v.rule_id, v.reason) for v in decision.violations] == [
        ("daily", Reason.DAILY_NOTIONAL_EXCEEDS_MAX), ("position", Reason.POSITION_EXCEEDS_MAX)]


async def test_decide_when_open_orders_and_daily_notional_both_fail_then_open_orders_decides() -> None:
    desk = Desk(DAILY, "{id: oo, type: max_open_orders, per_account: 1}")
    assert (await desk.place(make_limit("50000", quantity="1"), "o1")).verdict is Verdict.ALLOW

    decision = await desk.decide(make_limit("50000", quantity="2"))

    assert [(v.rule_id, v.reason) for v in decision.violations] == [
        ("oo", Reason.OPEN_ORDERS_EXCEED_MAX), ("daily", Reason.DAILY_NOTIONAL_EXCEEDS_MAX)]


async def test_decide_when_utc_day_ends_then_the_budget_starts_empty() -> None:
    desk = Desk(DAILY)
    desk.clock.set(1_767_225_600_000 - 1)  # a millisecond before 2026-01-01T00:00:00Z
    assert (await desk.place(make_limit("50000", quantity="2"), "o1")).verdict is Verdict.ALLOW
    blocked = await desk.decide(make_limit("50000", quantity="0.1"))

    desk.clock.advance(1)
    allowed = await desk.decide(make_limit("50000", quantity="2"))

    assert (blocked.verdict, allowed.verdict) == (Verdict.BLOCK, Verdict.ALLOW)
    assert await desk.charged() == Decimal(100000)
