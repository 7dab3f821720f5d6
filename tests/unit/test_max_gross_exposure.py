"""max_gross_exposure: the account's Σ |worst-case position| × mark price, through the real decision path.

Every decision here goes through `decider.decide_request` on a MemoryStore (view → plan → reserve → conclude),
with positions, resting orders and mark prices learned the way the sidecar learns them (`store.learn` of facts
moved to the request's holder by `decider.held_by`). The stores' own sums (Memory and Redis alike) are
tests/state/test_gross_exposure_contract.py; the policy's refusals of bad values are tests/unit/test_policy_loader.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from riskwall import decider, engine
from riskwall.model import (
    Action,
    GrossCheck,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    Reason,
    ResponseFacts,
    Side,
    Venue,
    Verdict,
)
from riskwall.policy.loader import Policy
from riskwall.policy.model import MaxGrossExposure
from riskwall.state.memory import MemoryStore

from .factories import (
    ACCOUNT,
    OTHER_ACCOUNT,
    FakeClock,
    facts,
    make_cancel,
    make_intent,
    make_limit,
    make_policy,
    make_request,
    make_rules,
    order_update,
    positions_report,
    price_update,
)

BTC, ETH, SOL = "BTCUSDT", "ETHUSDT", "SOLUSDT"
BOTH, LONG, SHORT = PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT
MARKS = {BTC: "50000", ETH: "2000"}
GROSS = "{id: gross, type: max_gross_exposure, notional: 100000}"
POLICY = make_rules(GROSS)

type Holding = tuple[str, PositionSide, str]
type Fact = OrderUpdate | PositionsReport | PriceUpdate


def buy(quantity: str, symbol: str = BTC, price: str = "50000", **overrides: object) -> OrderIntent:
    return make_limit(price, symbol=symbol, quantity=quantity, **overrides)


def sell(quantity: str, symbol: str = BTC, price: str = "50000", **overrides: object) -> OrderIntent:
    return make_limit(price, symbol=symbol, quantity=quantity, side=Side.SELL, **overrides)


def resting(order_id: str, quantity: str, symbol: str = BTC, side: Side = Side.BUY,
            position_side: PositionSide = BOTH, reduce_only: bool = False) -> OrderUpdate:
    return order_update(order_id, quantity, symbol=symbol, side=side, position_side=position_side,
                        reduce_only=reduce_only)


async def learn(store: MemoryStore, policy: Policy, *items: Fact) -> None:
    """What the venue told the sidecar, kept under the account's holder as `decider.learn_answer` keeps it."""
    holder = decider.with_holder(make_request(), policy)
    await store.learn(decider.held_by(facts(*items), holder))


async def account(policy: Policy = POLICY, holdings: tuple[Holding, ...] = (), orders: tuple[OrderUpdate, ...] = (),
                  marks: dict[str, str] | None = None) -> MemoryStore:
    store = MemoryStore(clock=FakeClock())
    marks = MARKS if marks is None else marks
    await learn(store, policy, *(price_update(price, symbol=symbol) for symbol, price in marks.items()))
    if holdings:
        await learn(store, policy, positions_report(*holdings))
    if orders:
        await learn(store, policy, *orders)
    return store


async def decide(store: MemoryStore, request: ParsedRequest, policy: Policy = POLICY,
                 decision_id: str = "d1") -> decider.Evaluation:
    return await decider.decide_request(request, policy, store, decision_id)


def gross_observed(evaluation: decider.Evaluation) -> Decimal | None:
    """The gross exposure the store observed (had the request been admitted), None when no gross check ran."""
    found = [r.observed for r in (evaluation.outcome.results if evaluation.outcome else ())
             if isinstance(r.check, GrossCheck)]
    assert len(found) <= 1
    return found[0] if found else None


def reasons(evaluation: decider.Evaluation) -> list[Reason]:
    return [v.reason for v in evaluation.decision.violations]


# --- what counts -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holdings", "orders", "request_", "verdict", "gross"),
    [
        pytest.param((), (), make_request(buy("1")), Verdict.ALLOW, "50000", id="flat-the-order-alone"),
        pytest.param((), (), make_request(buy("2")), Verdict.ALLOW, "100000", id="exactly-at-the-limit-passes"),
        pytest.param((), (), make_request(buy("2.00001")), Verdict.BLOCK, "100000.5", id="a-hair-over-blocks"),
        pytest.param(((BTC, BOTH, "1"), (ETH, BOTH, "-10")), (), make_request(buy("0.6")), Verdict.ALLOW, "100000",
                     id="long-and-short-on-two-symbols-sum-in-absolute-value"),
        pytest.param(((BTC, BOTH, "1"), (ETH, BOTH, "-10")), (), make_request(buy("0.7")), Verdict.BLOCK, "105000",
                     id="positions-on-two-symbols-take-it-over"),
        pytest.param(((ETH, BOTH, "-10"),), (), make_request(sell("20", ETH, "2000")), Verdict.ALLOW, "60000",
                     id="a-short-grows"),
        pytest.param(((ETH, BOTH, "-10"),), (), make_request(buy("1.7")), Verdict.BLOCK, "105000",
                     id="a-short-on-another-symbol-counts"),
        pytest.param((), (resting("r1", "30", ETH),), make_request(buy("0.8")), Verdict.ALLOW, "100000",
                     id="a-resting-order-counts-as-pending"),
        pytest.param((), (resting("r1", "30", ETH),), make_request(buy("0.81")), Verdict.BLOCK, "100500",
                     id="a-resting-order-takes-it-over"),
        pytest.param(((ETH, BOTH, "10"),), (resting("r1", "10", ETH, Side.SELL),), make_request(buy("1.6")),
                     Verdict.ALLOW, "100000", id="a-resting-close-leaves-the-long-as-the-worst-case"),
        pytest.param(((ETH, BOTH, "10"),), (resting("r1", "25", ETH, Side.SELL),), make_request(buy("1.5")),
                     Verdict.BLOCK, "105000", id="a-resting-order-that-would-flip-counts-its-worst-case"),
        pytest.param(((BTC, BOTH, "1"), (ETH, BOTH, "10")), (resting("r1", "1", BTC, Side.BUY),),
                     make_request(buy("10", SOL, "1")), Verdict.BLOCK, "120010",
                     id="already-over-with-pending-any-symbol-blocks"),
    ],
)
async def test_decide_when_account_holds_positions_and_orders_then_gross_is_their_sum_against_the_limit(
    holdings: tuple[Holding, ...], orders: tuple[OrderUpdate, ...], request_: ParsedRequest, verdict: Verdict,
    gross: str,
) -> None:
    store = await account(holdings=holdings, orders=orders)

    evaluation = await decide(store, request_)

    assert evaluation.decision.verdict is verdict
    assert gross_observed(evaluation) == Decimal(gross)
    assert reasons(evaluation) == ([Reason.GROSS_EXPOSURE_EXCEEDS_MAX] if verdict is Verdict.BLOCK else [])


async def test_decide_when_gross_would_exceed_the_limit_then_block_names_the_exposure_the_limit_and_the_symbol(
) -> None:
    store = await account(holdings=((ETH, BOTH, "-10"),))

    evaluation = await decide(store, make_request(buy("1.7")))

    deciding = evaluation.decision.deciding
    assert evaluation.decision.verdict is Verdict.BLOCK and not evaluation.reserved
    assert deciding is not None and deciding.rule_id == "gross" and deciding.leg is None
    assert deciding.detail == ("GROSS_EXPOSURE_EXCEEDS_MAX: gross_exposure=105000, max_gross_exposure=100000, "
                               "symbol=BTCUSDT")


async def test_decide_when_reservations_are_admitted_unanswered_then_their_legs_count_until_released() -> None:
    store = await account()

    first = await decide(store, make_request(buy("1")), decision_id="d1")
    second = await decide(store, make_request(buy("1.1")), decision_id="d2")
    await store.release("d1")
    third = await decide(store, make_request(buy("1.1")), decision_id="d3")

    assert [e.decision.verdict for e in (first, second, third)] == [Verdict.ALLOW, Verdict.BLOCK, Verdict.ALLOW]
    assert [gross_observed(e) for e in (first, second, third)] == [Decimal(50000), Decimal(105000), Decimal(55000)]


async def test_decide_when_a_resting_order_fills_and_another_is_cancelled_then_the_position_replaces_the_pending(
) -> None:
    store = await account(orders=(resting("r1", "1"), resting("r2", "0.5")))
    blocked = await decide(store, make_request(buy("0.6")), decision_id="d1")  # 1.5 + 0.6 pending: 105000

    await learn(store, POLICY, order_update("r1", "1", executed="1", final=True),
                positions_report((BTC, BOTH, "1")), order_update("r2", "0.5", final=True))
    allowed = await decide(store, make_request(buy("0.6")), decision_id="d2")  # 1 held + 0.6: 80000

    assert (blocked.decision.verdict, allowed.decision.verdict) == (Verdict.BLOCK, Verdict.ALLOW)
    assert gross_observed(allowed) == Decimal(80000)


# --- hedge mode: each position side is its own position ------------------------------------------------------


@pytest.mark.parametrize(
    ("holdings", "request_", "verdict", "gross"),
    [
        pytest.param(((BTC, LONG, "1"), (BTC, SHORT, "-0.9")), make_request(buy("0.1", position_side=LONG)),
                     Verdict.ALLOW, "100000", id="long-and-short-of-one-symbol-are-not-netted"),
        pytest.param(((BTC, LONG, "1"), (BTC, SHORT, "-0.9")), make_request(buy("0.2", position_side=LONG)),
                     Verdict.BLOCK, "105000", id="growing-the-long-over-the-limit"),
        pytest.param(((BTC, LONG, "1"), (BTC, SHORT, "-0.9")), make_request(sell("0.2", position_side=SHORT)),
                     Verdict.BLOCK, "105000", id="growing-the-short-over-the-limit"),
        pytest.param(((BTC, LONG, "1"), (BTC, SHORT, "-0.9")), make_request(sell("0.5", position_side=LONG)),
                     Verdict.ALLOW, None, id="closing-the-long-is-exempt"),
        pytest.param(((BTC, LONG, "1.5"), (BTC, SHORT, "-1.5")), make_request(buy("0.5", position_side=SHORT)),
                     Verdict.ALLOW, None, id="closing-the-short-is-exempt-even-over-the-limit"),
    ],
)
async def test_decide_when_account_is_in_hedge_mode_then_long_and_short_count_separately(
    holdings: tuple[Holding, ...], request_: ParsedRequest, verdict: Verdict, gross: str | None
) -> None:
    store = await account(holdings=holdings)

    evaluation = await decide(store, request_)

    assert evaluation.decision.verdict is verdict
    assert gross_observed(evaluation) == (None if gross is None else Decimal(gross))


async def test_decide_when_hedge_mode_orders_rest_on_both_sides_then_each_side_counts_its_own() -> None:
    store = await account(orders=(resting("r1", "1", side=Side.BUY, position_side=LONG),
                                  resting("r2", "0.9", side=Side.SELL, position_side=SHORT)))

    evaluation = await decide(store, make_request(buy("0.2", position_side=LONG)))

    assert evaluation.decision.verdict is Verdict.BLOCK and gross_observed(evaluation) == Decimal(105000)


# --- reductions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "verdict", "gross"),
    [
        pytest.param(make_request(sell("1", reduce_only=True)), Verdict.ALLOW, None,
                     id="reduce-only-close-is-exempt-over-the-limit"),
        pytest.param(make_request(sell("3", reduce_only=True)), Verdict.ALLOW, None,
                     id="reduce-only-of-the-whole-position-is-exempt"),
        pytest.param(make_request(make_intent(side=Side.SELL, quantity="3", close_position=True)), Verdict.ALLOW,
                     None, id="close-position-is-exempt"),
        pytest.param(make_request(sell("4", reduce_only=True)), Verdict.ALLOW, "150000",
                     id="reduce-only-beyond-the-position-is-checked-and-adds-nothing"),
        pytest.param(make_request(sell("1")), Verdict.ALLOW, "150000", id="plain-close-adds-nothing"),
        pytest.param(make_request(sell("6")), Verdict.ALLOW, "150000", id="plain-flip-to-an-equal-short"),
        pytest.param(make_request(sell("6.1")), Verdict.BLOCK, "155000", id="plain-flip-to-a-bigger-short"),
        pytest.param(make_request(buy("0.1")), Verdict.BLOCK, "155000", id="an-order-that-adds-is-blocked"),
        pytest.param(make_request(buy("1", ETH, "2000")), Verdict.BLOCK, "152000",
                     id="an-order-on-another-symbol-is-blocked"),
    ],
)
async def test_decide_when_account_is_over_the_limit_then_only_orders_that_add_no_exposure_pass(
    request_: ParsedRequest, verdict: Verdict, gross: str | None
) -> None:
    store = await account(holdings=((BTC, BOTH, "3"),))  # 150000 against 100000: the limit was lowered, or prices rose

    evaluation = await decide(store, request_)

    assert evaluation.decision.verdict is verdict
    assert gross_observed(evaluation) == (None if gross is None else Decimal(gross))


@pytest.mark.parametrize(
    ("request_", "verdict", "gross"),
    [
        pytest.param(make_request(sell("1")), Verdict.ALLOW, "90000", id="plain-close-keeps-the-long-the-worst-case"),
        pytest.param(make_request(sell("1.8")), Verdict.ALLOW, "90000", id="plain-close-to-flat"),
        pytest.param(make_request(sell("3.6")), Verdict.ALLOW, "90000", id="flip-to-an-equal-short"),
        pytest.param(make_request(sell("3.7")), Verdict.BLOCK, "95000", id="flip-to-a-bigger-short-grows-gross"),
    ],
)
async def test_decide_when_a_plain_order_closes_or_flips_the_position_then_its_worst_case_is_counted(
    request_: ParsedRequest, verdict: Verdict, gross: str
) -> None:
    store = await account(policy=make_rules("{id: gross, type: max_gross_exposure, notional: 90000}"),
                          holdings=((BTC, BOTH, "1.8"),))

    evaluation = await decide(store, request_, make_rules("{id: gross, type: max_gross_exposure, notional: 90000}"))

    assert evaluation.decision.verdict is verdict
    assert gross_observed(evaluation) == Decimal(gross)


# --- prices ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marks", "request_", "verdict", "gross"),
    [
        pytest.param({BTC: "50000"}, make_request(make_intent(quantity="2")), Verdict.ALLOW, "100000",
                     id="market-order-at-the-mark"),
        pytest.param({BTC: "60000"}, make_request(make_intent(quantity="1.7")), Verdict.BLOCK, "102000",
                     id="market-order-over-at-the-mark"),
        pytest.param({BTC: "60000"}, make_request(buy("1.7", price="50000")), Verdict.BLOCK, "102000",
                     id="limit-order-is-valued-at-the-mark-not-its-price"),
        pytest.param({BTC: "40000"}, make_request(buy("2.4", price="45000")), Verdict.ALLOW, "96000",
                     id="limit-order-above-the-mark-is-valued-at-the-mark"),
        pytest.param({}, make_request(buy("2", price="50000")), Verdict.ALLOW, "100000",
                     id="no-mark-a-limit-order-is-valued-at-its-own-price"),
        pytest.param({}, make_request(make_intent(order_type="STOP_MARKET", trigger_price="60000", quantity="1.7")),
                     Verdict.BLOCK, "102000", id="no-mark-a-stop-is-valued-at-its-trigger"),
    ],
)
async def test_decide_when_orders_are_priced_then_they_are_valued_at_the_mark_else_their_own_price(
    marks: dict[str, str], request_: ParsedRequest, verdict: Verdict, gross: str
) -> None:
    store = await account(marks=marks)

    evaluation = await decide(store, request_)

    assert evaluation.decision.verdict is verdict
    assert gross_observed(evaluation) == Decimal(gross)


@pytest.mark.parametrize(
    ("on_price_unknown", "holdings", "request_", "verdict", "reason", "symbol"),
    [
        pytest.param("block", ((SOL, BOTH, "3"),), make_request(buy("1")), Verdict.BLOCK, Reason.PRICE_UNKNOWN,
                     SOL, id="a-held-symbol-without-mark-blocks"),
        pytest.param("block", ((SOL, SHORT, "-3"),), make_request(buy("1")), Verdict.BLOCK, Reason.PRICE_UNKNOWN,
                     SOL, id="a-hedge-short-without-mark-blocks"),
        pytest.param("block", (), make_request(make_intent(symbol=SOL, quantity="1")), Verdict.BLOCK,
                     Reason.PRICE_UNKNOWN, SOL, id="a-market-order-without-mark-blocks"),
        pytest.param("allow", ((SOL, BOTH, "3"),), make_request(buy("3")), Verdict.ALLOW, None, None,
                     id="allow-skips-the-rule-for-a-held-symbol-without-mark"),
        pytest.param("allow", (), make_request(make_intent(symbol=SOL, quantity="1")), Verdict.ALLOW, None, None,
                     id="allow-skips-the-rule-for-a-market-order-without-mark"),
    ],
)
async def test_decide_when_a_symbol_with_exposure_has_no_price_then_price_unknown_or_the_rule_is_skipped(
    on_price_unknown: str, holdings: tuple[Holding, ...], request_: ParsedRequest, verdict: Verdict,
    reason: Reason | None, symbol: str | None,
) -> None:
    policy = make_rules(f"{{id: gross, type: max_gross_exposure, notional: 100000, "
                        f"on_price_unknown: {on_price_unknown}}}")
    store = await account(policy, holdings=holdings)

    evaluation = await decide(store, request_, policy)

    assert evaluation.decision.verdict is verdict
    assert reasons(evaluation) == ([reason] if reason else [])
    if symbol is not None:
        assert evaluation.decision.deciding is not None and evaluation.decision.deciding.get("symbol") == symbol
    else:
        assert gross_observed(evaluation) is None  # skipped: no gross check reserved


async def test_decide_when_a_flat_symbol_has_no_mark_then_it_does_not_block() -> None:
    store = await account(holdings=((SOL, BOTH, "0"),))

    evaluation = await decide(store, make_request(buy("1")))

    assert evaluation.decision.verdict is Verdict.ALLOW and gross_observed(evaluation) == Decimal(50000)


async def test_conclude_when_the_store_finds_a_position_opened_after_the_view_then_block_names_it_unpriced() -> None:
    store = await account()
    request = decider.with_holder(make_request(buy("1")), POLICY)
    planned = engine.plan(request, POLICY, await store.view(engine.view_query(request, POLICY)), "d1")
    await learn(store, POLICY, positions_report((SOL, BOTH, "3")))  # another sidecar's answer, after the view
    assert planned.reservation is not None

    outcome = await store.reserve(planned.reservation)
    decision = engine.conclude(planned, POLICY, outcome)

    assert not outcome.committed
    assert decision.verdict is Verdict.BLOCK and decision.deciding is not None
    assert decision.deciding.reason is Reason.GROSS_EXPOSURE_EXCEEDS_MAX
    assert decision.deciding.get("unpriced") == SOL and decision.deciding.get("symbol") == BTC


# --- batches ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "verdict", "gross"),
    [
        pytest.param(make_request(buy("1"), buy("0.5")), Verdict.ALLOW, "75000", id="two-legs-that-fit"),
        pytest.param(make_request(buy("1"), buy("1.1")), Verdict.BLOCK, "105000",
                     id="two-legs-each-fitting-alone-over-together"),
        pytest.param(make_request(buy("1"), buy("30", ETH, "2000")), Verdict.BLOCK, "110000",
                     id="legs-on-two-symbols-add-up"),
        pytest.param(make_request(buy("1"), sell("1")), Verdict.ALLOW, "50000",
                     id="opposite-legs-of-one-symbol-the-larger-worst-case"),
    ],
)
async def test_decide_when_a_batch_is_checked_then_its_legs_count_together(
    request_: ParsedRequest, verdict: Verdict, gross: str
) -> None:
    store = await account()

    evaluation = await decide(store, request_)

    assert evaluation.decision.verdict is verdict
    assert gross_observed(evaluation) == Decimal(gross)
    if verdict is Verdict.BLOCK:
        deciding = evaluation.decision.deciding
        assert deciding is not None and deciding.reason is Reason.GROSS_EXPOSURE_EXCEEDS_MAX and deciding.leg == 0


async def test_decide_when_a_batch_mixes_a_covered_reduction_and_an_order_then_only_the_order_is_valued() -> None:
    store = await account(holdings=((BTC, BOTH, "1"),))

    evaluation = await decide(store, make_request(sell("1", reduce_only=True), buy("20", ETH, "2000")))

    # the long stays at its worst case (the reduce-only sell can only bring it to zero): 50000 + 40000
    assert evaluation.decision.verdict is Verdict.ALLOW and gross_observed(evaluation) == Decimal(90000)


# --- amends ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "verdict", "gross"),
    [
        pytest.param("1.8", Verdict.ALLOW, "100000", id="amend-up-within-the-limit"),
        pytest.param("1.9", Verdict.BLOCK, "105000", id="amend-up-over-the-limit"),
        pytest.param("0.5", Verdict.ALLOW, "35000", id="amend-down"),
    ],
)
async def test_decide_when_a_resting_order_is_amended_then_its_new_size_replaces_its_open_part(
    quantity: str, verdict: Verdict, gross: str
) -> None:
    store = await account(holdings=((ETH, BOTH, "-5"),), orders=(resting("r1", "1"),))  # 10000 + 50000 pending

    amend = make_limit("50000", action=Action.AMEND, order_id="r1", quantity=quantity, side=Side.BUY)
    evaluation = await decide(store, make_request(amend))

    assert evaluation.decision.verdict is verdict
    assert gross_observed(evaluation) == Decimal(gross)


# --- batches and flat symbols ----------------------------------------------------------------------------------


async def test_decide_when_one_leg_of_a_batch_has_no_price_then_price_unknown_names_that_leg() -> None:
    store = await account()

    evaluation = await decide(store, make_request(buy("0.1"), make_intent(symbol=SOL, quantity="1")))

    deciding = evaluation.decision.deciding
    assert deciding is not None and deciding.reason is Reason.PRICE_UNKNOWN and deciding.get("symbol") == SOL
    assert deciding.leg == 1


async def test_decide_when_a_flat_symbol_without_mark_has_only_a_reduce_only_order_then_it_does_not_block() -> None:
    store = await account(orders=(resting("tp", "2", SOL, Side.SELL, reduce_only=True),))

    evaluation = await decide(store, make_request(buy("0.1")))

    assert evaluation.decision.verdict is Verdict.ALLOW and gross_observed(evaluation) == Decimal(5000)


# --- modes and scope -------------------------------------------------------------------------------------------


async def test_decide_when_rule_is_shadow_then_the_order_passes_and_the_violation_is_reported() -> None:
    policy = make_rules("{id: gross, type: max_gross_exposure, notional: 100000, mode: shadow}")
    store = await account(policy)

    evaluation = await decide(store, make_request(buy("3")), policy)

    assert evaluation.decision.verdict is Verdict.ALLOW and evaluation.reserved
    assert evaluation.decision.violations == ()
    assert [v.reason for v in evaluation.decision.shadowed] == [Reason.GROSS_EXPOSURE_EXCEEDS_MAX]
    assert evaluation.decision.shadowed[0].get("gross_exposure") == "150000"


async def test_decide_when_policy_monitors_then_the_order_passes_monitored_and_its_exposure_is_held() -> None:
    policy = make_rules(GROSS, mode="monitor")
    store = await account(policy)

    first = await decide(store, make_request(buy("3")), policy, "d1")
    second = await decide(store, make_request(buy("0.1")), policy, "d2")

    assert first.decision.verdict is Verdict.ALLOW and first.decision.monitored and first.reserved
    assert [v.reason for v in first.decision.shadowed] == [Reason.GROSS_EXPOSURE_EXCEEDS_MAX]
    assert gross_observed(second) == Decimal(155000)  # the first order's legs are held like any admitted order


@pytest.mark.parametrize(
    ("scope", "account_", "checked"),
    [
        pytest.param("", ACCOUNT, True, id="no-scope"),
        pytest.param(", scope: {venues: [binanceusdm]}", ACCOUNT, True, id="venue-in-scope"),
        pytest.param(", scope: {venues: [bybit]}", ACCOUNT, False, id="venue-out-of-scope"),
        pytest.param(", scope: {accounts: [main]}", ACCOUNT, True, id="account-in-scope"),
        pytest.param(", scope: {accounts: [main]}", OTHER_ACCOUNT, False, id="other-account-out-of-scope"),
    ],
)
async def test_decide_when_rule_is_scoped_by_venue_or_account_then_only_those_orders_are_checked(
    scope: str, account_: str, checked: bool
) -> None:
    policy = make_policy(f"""
        accounts:
          main: {{fingerprints: ['{ACCOUNT}']}}
          other: {{fingerprints: ['{OTHER_ACCOUNT}']}}
        rules:
          - {{id: gross, type: max_gross_exposure, notional: 100000{scope}}}
    """)
    store = await account(policy)

    evaluation = await decide(store, make_request(buy("3", account=account_)), policy)

    assert evaluation.decision.verdict is (Verdict.BLOCK if checked else Verdict.ALLOW)
    assert (gross_observed(evaluation) is not None) is checked


async def test_decide_when_two_accounts_hold_positions_then_each_is_summed_alone() -> None:
    policy = make_policy(f"""
        accounts:
          main: {{fingerprints: ['{ACCOUNT}']}}
          other: {{fingerprints: ['{OTHER_ACCOUNT}']}}
        rules:
          - {GROSS}
    """)
    store = await account(policy)
    other = decider.with_holder(make_request(buy("1", account=OTHER_ACCOUNT)), policy)
    await store.learn(decider.held_by(facts(positions_report((BTC, BOTH, "1.9"), account=OTHER_ACCOUNT)), other))

    evaluation = await decide(store, make_request(buy("1.9")), policy)

    assert evaluation.decision.verdict is Verdict.ALLOW and gross_observed(evaluation) == Decimal(95000)


def test_load_policy_when_rule_is_written_in_full_then_its_values_are_kept() -> None:
    policy = make_rules("{id: gross, type: max_gross_exposure, notional: '250000.5', per: account, "
                        "on_price_unknown: allow, scope: {venues: [binanceusdm], accounts: [main]}}")

    (rule,) = policy.rules
    assert isinstance(rule, MaxGrossExposure)
    assert (rule.notional, rule.per, str(rule.on_price_unknown)) == (Decimal("250000.5"), "account", "allow")
    assert policy.has_gross_exposure and not make_rules().has_gross_exposure


# --- what the view reads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "request_", "whole", "light"),
    [
        pytest.param(POLICY, make_request(buy("1")), True, False, id="gross-rule-new-order"),
        pytest.param(POLICY, make_request(make_intent(action=Action.AMEND, side=Side.BUY, price="50000",
                                                      order_id="7")), True, False, id="gross-rule-amend"),
        pytest.param(POLICY, make_request(make_cancel()), False, False, id="gross-rule-cancel-reads-no-account"),
        pytest.param(make_rules("{id: qty, type: max_order_qty, default: 5}"), make_request(buy("1")), False, True,
                     id="other-rules-only"),
        pytest.param(make_rules("{id: oo, type: max_open_orders, per_account: 3}"), make_request(buy("1")), False,
                     True, id="open-orders-rule-only"),
        pytest.param(None, make_request(buy("1")), False, True, id="no-policy"),
    ],
)
def test_view_query_when_policy_has_a_gross_exposure_rule_then_the_whole_account_is_asked_for(
    policy: Policy | None, request_: ParsedRequest, whole: bool, light: bool
) -> None:
    query = engine.view_query(request_, policy)

    assert query.whole_account is whole
    assert query.symbols == request_.symbols
    assert engine.light_view_suffices(request_, policy) is light


async def test_view_when_whole_account_is_asked_for_then_every_held_or_pending_symbol_and_its_price_is_read() -> None:
    store = await account(holdings=((ETH, BOTH, "-10"),), orders=(resting("r1", "2", SOL),),
                          marks={**MARKS, SOL: "100"})
    request = decider.with_holder(make_request(buy("1")), POLICY)

    whole = await store.view(engine.view_query(request, POLICY))
    narrow = await store.view(engine.view_query(request, make_rules()))

    assert {key.symbol for key in whole.positions} == {ETH}
    assert {key.symbol for key, _ in whole.pending} == {SOL}
    assert {symbol for _, symbol in whole.prices} == {BTC, ETH, SOL}
    assert ({key.symbol for key in narrow.positions}, {symbol for _, symbol in narrow.prices}) == (set(), {BTC})


# --- an account that trades several venues ----------------------------------------------------------------------


@pytest.mark.parametrize(("label_venue", "per", "verdict", "observed"), [
    pytest.param("", "account", Verdict.BLOCK, Decimal(105000), id="label-on-every-venue-sums-the-other-venue"),
    pytest.param("", "venue", Verdict.ALLOW, Decimal(55000), id="per-venue-sums-the-order-venue-alone"),
    pytest.param(", venue: binanceusdm", "account", Verdict.ALLOW, Decimal(55000),
                 id="label-bound-to-one-venue-has-no-other"),
])
async def test_decide_when_the_account_holds_a_position_on_another_venue_then_per_decides_whether_it_counts(
    label_venue: str, per: str, verdict: Verdict, observed: Decimal
) -> None:
    policy = make_policy(f"""
        accounts:
          desk: {{fingerprints: ['{ACCOUNT}']{label_venue}}}
        rules:
          - {{id: gross, type: max_gross_exposure, notional: 100000, per: {per}}}
    """)
    store = await account(policy)
    holder = "label:desk"
    # a short of 1 BTC on Bybit, at Bybit's mark of 50000: under the same label, the same account
    await store.learn(ResponseFacts(prices=(PriceUpdate(Venue.BYBIT, BTC, Decimal(50000), "mark"),),
                                    positions=(PositionsReport(Venue.BYBIT, holder, None,
                                                               ((BTC, BOTH, Decimal(-1)),)),)))

    evaluation = await decide(store, make_request(buy("1.1")), policy)

    assert evaluation.decision.verdict is verdict and gross_observed(evaluation) == observed


async def test_decide_when_the_other_venue_has_no_mark_then_price_unknown_names_it() -> None:
    policy = make_policy(f"""
        accounts:
          desk: {{fingerprints: ['{ACCOUNT}']}}
        rules:
          - {GROSS}
    """)
    store = await account(policy)
    await store.learn(ResponseFacts(positions=(PositionsReport(Venue.BYBIT, "label:desk", None,
                                                               ((ETH, BOTH, Decimal(3)),)),)))

    evaluation = await decide(store, make_request(buy("0.1")), policy)

    deciding = evaluation.decision.deciding
    assert deciding is not None and deciding.reason is Reason.PRICE_UNKNOWN
    assert deciding.get("symbol") == "bybit:ETHUSDT"
