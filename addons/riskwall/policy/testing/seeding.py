"""A case's `state:` put into a fresh in-memory store through the store's public methods, as the sidecar's
answers and operators would put it there."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from riskwall import engine
from riskwall.decider import held_by, with_holder
from riskwall.instruments import CATALOG
from riskwall.model import (
    Action,
    EquityUpdate,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    ResponseFacts,
    Side,
    Venue,
)
from riskwall.policy.loader import Policy
from riskwall.policy.model import MaxDailyNotional, RateKey
from riskwall.policy.testing.context import ORDER_ACTIONS, START_MS, CaseContext, CaseError, ManualClock
from riskwall.policy.testing.spec import AllowedOrderSpec, DailyNotionalSpec, ScopeSpec, StateSpec
from riskwall.state.base import PendingEntry, PositionKey, Reservation, StateScope, StateStore
from riskwall.state.memory import MemoryStore


async def seed_state(store: MemoryStore, state: StateSpec, context: CaseContext, clock: ManualClock,
                     parsed: ParsedRequest) -> None:
    """Put `state` into a fresh store through its public methods, as responses and operators would."""
    venue = context.venue
    default_symbol = next((i.symbol for i in parsed.intents if i.symbol), None)
    for number, spent in enumerate(state.daily_notional):  # before the positions: its fill is reported flat
        await _charge_daily_notional(store, context, spent, default_symbol, f"policy-test-notional-{number}")
    prices = tuple(PriceUpdate(venue, symbol, price, "mark") for symbol, price in state.prices.items())
    positions = tuple(
        PositionsReport(
            p.venue or venue, context.holder(p.account, p.venue or venue), p.symbol,
            ((p.symbol, p.position_side, p.qty),),
        )
        for p in state.positions
    )
    orders = tuple(
        OrderUpdate(
            venue=o.venue or venue,
            account=context.holder(o.account, o.venue or venue),
            symbol=o.symbol,
            order_id=o.order_id or f"policy-test-open-{number}-{copy}",
            side=o.side,
            position_side=o.position_side,
            original=o.qty or Decimal(0),
            executed=Decimal(0),
            final=False,
            reduce_only=o.reduce_only or _closes(o.side, o.position_side),
        )
        for number, o in enumerate(state.open_orders)
        for copy in range(o.count)
    )
    await store.learn(ResponseFacts(prices=prices, orders=orders, positions=positions))
    for entry in state.trading_states:
        await store.set_trading_state(_scope(entry.scope, context), entry.state, entry.reason, "policy-test")
    for number, recent in enumerate(sorted(state.recent_orders, key=lambda r: -r.ago)):  # oldest first
        recent_venue = recent.venue or venue
        account = context.account(recent.account, recent_venue)
        clock.now_ms = START_MS - recent.ago
        await _prefill_rate(store, context.policy, recent_venue, account, recent.symbol or default_symbol,
                            recent.count, f"policy-test-recent-{number}")
    template = next((i for i in parsed.intents if i.action in ORDER_ACTIONS), None)
    for number, allowed in enumerate(sorted(state.allowed_orders, key=lambda a: -a.ago)):  # oldest first
        clock.now_ms = START_MS - allowed.ago
        await _record_allowed(store, context, allowed, template, f"policy-test-allowed-{number}")
    for number, rejected in enumerate(sorted(state.rejected_orders, key=lambda r: -r.ago)):  # oldest first
        clock.now_ms = START_MS - rejected.ago
        rejected_venue = rejected.venue or venue
        await _count_rejected(store, context.policy, rejected_venue, context.account(rejected.account, rejected_venue),
                              rejected.count, f"policy-test-rejected-{number}")
    clock.now_ms = START_MS
    for report in state.equity_reports:  # in the order written: the first is the day's baseline
        report_venue = report.venue or venue
        await _report_equity(store, context.policy, report_venue, context.account(report.account, report_venue),
                             report.equity)


def _closes(side: Side, position_side: PositionSide) -> bool:
    return (position_side is PositionSide.LONG and side is Side.SELL) or (
        position_side is PositionSide.SHORT and side is Side.BUY
    )


def _scope(scope: ScopeSpec | None, context: CaseContext) -> StateScope:
    if scope is None:
        return StateScope()
    venue = scope.venue or context.venue
    account = context.account(scope.account, venue) if scope.account is not None else None
    return StateScope(venue, account, scope.symbol)


async def _prefill_rate(store: StateStore, policy: Policy, venue: Venue, account: str, symbol: str | None,
                        count: int, decision_id: str) -> None:
    """Count `count` orders as admitted now, in every rate window the engine would count such an order in."""
    intent = OrderIntent(venue, Action.NEW, "policy-test recent", account, symbol,
                         CATALOG.unified(venue, symbol) if symbol else None, Side.BUY)
    request = with_holder(ParsedRequest(venue, Action.NEW, intent.endpoint, account, (intent,)), policy)
    plan = engine.plan(request, policy, await store.view(engine.view_query(request, policy)), decision_id)
    if plan.reservation is None or not plan.reservation.rate:
        return
    # not enforced, so the store commits them even past a limit: the state says they were admitted
    rate = tuple(dataclasses.replace(check, cost=count, enforced=False) for check in plan.reservation.rate)
    await store.reserve(Reservation(decision_id, rate))


async def _count_rejected(store: StateStore, policy: Policy, venue: Venue, account: str, count: int,
                          decision_id: str) -> None:
    """Count `count` orders of `account` as refused by the venue now, under every reject-storm rule that counts
    them: a storm that reaches its limit trips and sets the account's state, as in the sidecar."""
    intent = OrderIntent(venue, Action.NEW, "policy-test rejected", account)
    request = with_holder(ParsedRequest(venue, Action.NEW, intent.endpoint, account, (intent,)), policy)
    counts = engine.reject_counts(request, policy, tuple(range(count)), decision_id)
    if counts:
        await store.count_rejections(counts)


async def _report_equity(store: StateStore, policy: Policy, venue: Venue, account: str, equity: Decimal) -> None:
    """Measure `equity` of `account` under every daily-loss rule, as the sidecar measures an account answer's:
    the first of the day is the baseline, a loss beyond a rule's limit trips it and sets the account's state."""
    parsed = with_holder(ParsedRequest(venue, Action.READ, "policy-test equity", account), policy)
    facts = held_by(ResponseFacts(equity=(EquityUpdate(venue, account, equity, "USD"),)), parsed)
    checks = engine.loss_checks(policy, venue, account, facts.equity)
    if checks:
        await store.measure_losses(checks)


async def _charge_daily_notional(store: StateStore, context: CaseContext, spent: DailyNotionalSpec,
                                 default_symbol: str | None, decision_id: str) -> None:
    """Charge `spent.notional` to the budget of the daily-notional rule `spent.rule` as the sidecar charges an
    order it admitted: a leg of one unit at price `notional`, which the venue answers filled; the position the
    fill opened is then reported flat, so only the day's notional is left behind."""
    rule = next((r for r in context.policy.rules if r.id == spent.rule), None)
    if type(rule) is not MaxDailyNotional:
        known = ", ".join(r.id for r in context.policy.rules if type(r) is MaxDailyNotional) or "none"
        raise CaseError(f"state.daily_notional: {spent.rule!r} is not a max_daily_notional rule of the policy "
                        f"(those: {known})")
    venue = spent.venue or context.venue
    holder = context.holder(spent.account, venue)
    symbol = spent.symbol or default_symbol
    if symbol is None:
        raise CaseError("state.daily_notional: give `symbol` (the request has none to lend it)")
    budget = f"{rule.id}|{venue}|{holder}" + (f"|{symbol}" if rule.per is RateKey.SYMBOL else "")
    position = PositionKey(venue, holder, symbol, PositionSide.BOTH)
    unit = Decimal(1)
    leg = PendingEntry(f"{decision_id}:0", position, Side.BUY, unit, opens=True, budgets=(budget,),
                       price=spent.notional)
    await store.reserve(Reservation(decision_id, pending=(leg,)))
    filled = OrderUpdate(venue, holder, symbol, decision_id, Side.BUY, PositionSide.BOTH, unit, unit, True,
                         reservation_id=leg.leg_id)
    await store.settle(ResponseFacts(orders=(filled,)), decision_id)
    await store.learn(ResponseFacts(positions=(PositionsReport(venue, holder, symbol,
                                                               ((symbol, PositionSide.BOTH, Decimal(0)),)),)))


async def _record_allowed(store: StateStore, context: CaseContext, allowed: AllowedOrderSpec,
                          template: OrderIntent | None, decision_id: str) -> None:
    """Record `allowed` as admitted now, under every duplicate rule the engine would check such an order with."""
    given = allowed.model_fields_set
    venue = allowed.venue or (template.venue if template else context.venue)
    if allowed.account is not None or template is None or template.account is None:
        account = context.account(allowed.account, venue)
    else:
        account = template.account
    fields: dict[str, Any] = {
        "symbol": template.symbol if template else None, "side": template.side if template else None,
        "qty": template.quantity if template else None, "price": template.price if template else None,
        "trigger_price": template.trigger_price if template else None,
        "type": template.order_type if template else None,
        "position_side": template.position_side if template else PositionSide.BOTH,
    }
    fields |= {name: getattr(allowed, name) for name in given if name in fields}
    if "type" not in given and (fields["type"] is None or ("price" in given and fields["type"] == "MARKET")):
        fields["type"] = "LIMIT" if fields["price"] is not None else "MARKET"  # as a request's order defaults
    missing = [name for name in ("symbol", "side", "qty") if fields[name] is None]
    if missing:
        raise CaseError(f"state.allowed_orders: an allowed order needs {', '.join(missing)} (the request has none "
                        "to lend it)")
    symbol = fields["symbol"]
    intent = OrderIntent(venue, Action.NEW, "policy-test allowed", account, symbol, CATALOG.unified(venue, symbol),
                         fields["side"], fields["position_side"], fields["qty"], fields["price"],
                         fields["trigger_price"], fields["type"])
    request = with_holder(ParsedRequest(venue, Action.NEW, intent.endpoint, account, (intent,)), context.policy)
    view = await store.view(engine.view_query(request, context.policy))
    plan = engine.plan(request, context.policy, view, decision_id)
    if plan.reservation is None or not plan.reservation.duplicates:
        return
    # not enforced, so the store records them even where one repeats another: the state says they were admitted
    duplicates = tuple(dataclasses.replace(check, enforced=False) for check in plan.reservation.duplicates)
    await store.reserve(Reservation(decision_id, duplicates=duplicates))

