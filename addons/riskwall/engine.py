"""Pure decisions: given a parsed request, a policy and a state view, which rules fail and what to reserve.

No I/O, no clock, no logging. A decision is made in two steps because the stateful limits (rate, position)
must be checked atomically by the store, which may be shared by many sidecars:

    plan = engine.plan(request, policy, view, decision_id)      # static rules + what the store must check
    outcome = await store.reserve(plan.reservation)             # only when the plan is not already blocked
    decision = engine.conclude(plan, policy, outcome)

Order of checks (as in the README): trading state → forbidden action → symbol → order type → leverage → margin and
position mode → per-order size and notional → price collar → equity read today → duplicate → open orders → daily
notional → position/exposure → gross exposure → rate.
All enforced violations are collected in that order and the first decides; shadowed ones are evaluated and
reported beside them.

Orders that only reduce a position (reduce-only, close-position, hedge-mode closes) are exempt from every
limit, so no limit can trap a position; only HALTED stops them. The exemption reaches as far as the position
they reduce, net of the orders already pending against it (`model.reducible`), checked atomically by the store
like any limit: beyond that an order is checked like any other, so a reduce-only flag the venue reads
differently is harmless. Under REDUCING only such bounded reductions pass, so REDUCING never opens or flips a
position.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext

from riskwall.model import (
    LOSS_REASON_PREFIX,
    MEASURED,
    Action,
    CheckResult,
    Decision,
    DuplicateCheck,
    EquityUpdate,
    ExposureCheck,
    GrossCheck,
    Known,
    LossCheck,
    NotionalCheck,
    OpenOrdersCheck,
    OrderIntent,
    ParsedRequest,
    PendingEntry,
    PositionKey,
    PositionSide,
    RateCheck,
    Reason,
    ReductionCheck,
    RejectCount,
    Reservation,
    ReserveOutcome,
    Side,
    StateScope,
    StateView,
    TradingState,
    Venue,
    Verdict,
    ViewQuery,
    Violation,
    context_text,
    gross_quantity,
    order_fingerprint,
)
from riskwall.policy.index import RuleSet
from riskwall.policy.loader import Policy
from riskwall.policy.model import (
    AllowedSymbols,
    DuplicateOrders,
    MarginModeRule,
    MaxDailyLoss,
    MaxDailyNotional,
    MaxGrossExposure,
    MaxLeverage,
    MaxOpenOrders,
    MaxOrderNotional,
    MaxOrderQty,
    MaxPosition,
    Mode,
    OnPriceUnknown,
    OrderRate,
    OrderTypes,
    PolicyMode,
    PriceCollar,
    RateKey,
    RejectStorm,
    RuleBase,
    SymbolLimitRule,
    TradingStateRule,
)
from riskwall.records import quick_init, replace

# rule ids for verdicts that no policy rule owns
RULE_PARSE = "riskwall.parse"
RULE_UNKNOWN_ENDPOINT = "riskwall.unknown-endpoint"
RULE_FORBIDDEN = "riskwall.forbidden-endpoint"
RULE_KILL_SWITCH = "riskwall.kill-switch"
RULE_KNOWN_ACCOUNTS = "riskwall.known-accounts"
RULE_STATE = "riskwall.state-store"
RULE_POLICY = "riskwall.policy"
RULE_INTERNAL = "riskwall.internal"
RULE_VENUE = "riskwall.venue"
RULE_REDUCTION = "riskwall.reduction"

_ZERO = Decimal(0)  # a Decimal is immutable: one zero serves every sum


@quick_init
@dataclass(frozen=True, slots=True)
class Plan:
    decision_id: str
    request: ParsedRequest
    violations: tuple[Violation, ...] = ()
    shadowed: tuple[Violation, ...] = ()
    reservation: Reservation | None = None

    @property
    def needs_store(self) -> bool:
        return not self.violations and self.reservation is not None and not self.reservation.empty

    def exemption_refused(self, outcome: ReserveOutcome | None) -> bool:
        """True when the store found a reduction this plan exempted no longer covered (another order took the
        position first): the request must then be planned again with every limit applied."""
        return outcome is not None and not outcome.committed and any(
            not r.passed and isinstance(r.check, ReductionCheck) and r.check.reason is None for r in outcome.results
        )


# Rules are told apart by their exact type (`RuleSet.of`), not isinstance: pydantic models'
# isinstance goes through the ABC machinery (rule types are final: never subclassed).
def applicable_rules(policy: Policy, venue: Venue, labels: frozenset[str],
                     intent: OrderIntent, names: tuple[str, ...] | None = None) -> RuleSet:
    """The rules that decide this intent, in policy order.

    Of the enforced rules of one kind whose scope matches, the most specific scope wins (symbol > account >
    position side > venue > everywhere), and among equally specific ones the later wins (files in name
    order, rules in written order): a desk's file can loosen or tighten a default. Rate rules are one kind per
    `per`. Shadow rules are experiments: every matching one is evaluated. Read off the index the policy
    prepared when it was built (`Policy.rule_index`): nothing is written. `names` is `intent.names`, where the
    caller has it already. `RuleSet.of(kind)` gives those of one type, in policy order.
    """
    return policy.rule_index.select(venue, labels, names if names is not None else intent.names,
                                    intent.position_side)


def light_view_suffices(request: ParsedRequest, policy: Policy | None = None) -> bool:
    """Whether `request`'s plan reads no more of the view than the trading states and prices: new orders that
    reduce nothing (no reduction to bound against a position, no amended order to look up), under a policy that
    values no other position (no gross exposure rule). A plan that needs positions anyway (a REDUCING state's
    budget) finds none in a light view and blocks, which the decider then plans again on a full one."""
    if policy is not None and policy.has_gross_exposure:
        return False
    if request.action is not Action.NEW or not request.intents or request.mode_keys:
        return False
    for intent in request.intents:  # a loop, not a generator: asked on every order
        if intent.only_reduces or intent.action is not Action.NEW:
            return False
    return True


def view_query(request: ParsedRequest, policy: Policy | None = None) -> ViewQuery:
    intents = request.intents
    amended: tuple[str, ...]
    named: tuple[str, ...] = ()
    if len(intents) == 1 and intents[0].action is not Action.AMEND:  # the common case, without the generators
        amended = ()
    else:
        amended = tuple(i.order_id for i in intents if i.action is Action.AMEND and i.order_id)
        # an amend that names its order only by the bot's id (Bybit orderLinkId, BitMEX origClOrdID)
        named = tuple(i.client_order_id for i in intents
                      if i.action is Action.AMEND and not i.order_id and i.client_order_id)
    adds = policy is not None and request.action.adds_orders
    gross = adds and policy is not None and policy.has_gross_exposure
    # a close that names no instrument closes every position of the account on the venue: it reads them all
    whole = gross or (adds and _closes_everything(intents))
    others = policy.gross_venues(request.venue, request.state_account) if gross and policy is not None else ()
    loss_keys: tuple[str, ...] = ()
    if adds and policy is not None and request.state_account is not None and policy.equity_waiting_rules:
        # every daily-loss rule that waits for an equity reading: the few the policy has, whichever applies
        loss_keys = tuple(f"{rule_id}|{request.venue}|{request.state_account}"
                          for rule_id in policy.equity_waiting_rules)
    return ViewQuery(request.venue, request.state_account, request.symbols, amended, whole,
                     other_venues=others, loss_keys=loss_keys, client_ids=named, mode_keys=request.mode_keys,
                     environment=request.environment)


def _closes_everything(intents: Sequence[OrderIntent]) -> bool:
    """Whether a leg closes every position of the account on its venue (a close naming no instrument)."""
    for intent in intents:  # a loop, not a generator: asked on every order
        if intent.close_position and intent.symbol is None:
            return True
    return False


def wider_query(query: ViewQuery, view: StateView) -> ViewQuery | None:
    """`query` with the symbols of the orders its amends name that it did not read (a BitMEX amend names only the
    order: its symbol is the store's), for a second read; None when it read them all (every other request)."""
    if not view.orders and not view.by_client:
        return None
    extra = tuple(dict.fromkeys(order.symbol for order in (*view.orders.values(), *view.by_client.values())
                                if order.symbol not in query.symbols))
    return replace(query, symbols=query.symbols + extra) if extra else None


def resolve(request: ParsedRequest, view: StateView) -> ParsedRequest:
    """`request` completed with what the store knows (`view`) of what it leaves out: each intent's own
    `resolve` (the adapter's: contracts priced, an amended order's symbol), then, for an amend that names only its
    order (OKX, Bitget, Bybit by orderLinkId), the order's id, side and position side. An intent the adapter
    cannot complete makes the request unreadable (`error`), as a field that does not parse does. Nothing to do
    (the common case) returns `request` itself; a resolved request returns itself too."""
    intents = request.intents
    if request.known is not None or not intents:
        return request
    if not view.orders and not view.by_client:
        # asked on every order: the one-leg case without a generator
        if intents[0].resolve is None if len(intents) == 1 else all(i.resolve is None for i in intents):
            return request
    known = Known({symbol: price for (venue, symbol), price in view.prices.items() if venue is request.venue},
                  view.orders, view.by_client, view.modes)
    completed = []
    for intent in intents:
        if intent.resolve is not None:
            try:
                intent = intent.resolve(intent, known)
            except (ValueError, ArithmeticError) as error:  # venues' FieldError is a ValueError
                return replace(request, intents=(), error=str(error), known=known)
        if intent.action is Action.AMEND and intent.side is None:
            order = known.order(intent.order_id, intent.client_order_id)
            if order is not None and (intent.symbol is None or intent.symbol == order.symbol):
                intent = replace(intent, side=order.side, position_side=order.position_side,
                                 order_id=order.order_id)
        if (intent.action is Action.AMEND and intent.quantity is None and not intent.close_position
                and intent.order_id in view.remaining):
            # an amend of the price alone (OKX newPx, Bybit price): the order's open part rests at the new price,
            # and is measured so by every rule (the order's notional), not only by the store's
            intent = replace(intent, quantity=view.remaining[intent.order_id])
        completed.append(intent)
    return replace(request, intents=tuple(completed), known=known)


def plan(request: ParsedRequest, policy: Policy, view: StateView, decision_id: str, *,
         exempt_reductions: bool = True) -> Plan:
    """The static rules' verdict and what the store must check. `exempt_reductions` False plans every order
    as an ordinary one (after the store found a reduction it exempted no longer covered)."""
    request = resolve(request, view)
    acc = _Collector(policy)
    action = request.action
    if request.error is not None:
        if not action.never_blocked:
            acc.add(None, Violation.of(RULE_PARSE, Reason.PARSE_FAILED, error=request.error))
        return acc.finish(decision_id, request, None)
    if action.never_blocked:
        return acc.finish(decision_id, request, None)
    if action is Action.UNKNOWN:
        acc.add(None, Violation.of(RULE_UNKNOWN_ENDPOINT, Reason.UNKNOWN_ENDPOINT, endpoint=request.endpoint))
        return acc.finish(decision_id, request, None)
    if action is Action.FORBIDDEN:
        if request.endpoint not in policy.allowed_endpoints:  # the policy may name one to let through
            acc.add(None, Violation.of(RULE_FORBIDDEN, Reason.ACTION_FORBIDDEN, endpoint=request.endpoint))
        return acc.finish(decision_id, request, None)
    if request.account is None:
        # no key the firewall can read, yet the venue will only act on a signed request: the key travels where
        # the adapter does not look, so no account-scoped limit (rate, position, state) would hold
        acc.add(None, Violation.of(RULE_KNOWN_ACCOUNTS, Reason.UNKNOWN_ACCOUNT, account="none",
                                   error="the API key cannot be identified"))
        return acc.finish(decision_id, request, None)
    if request.client is not None and policy.binds_clients and not policy.client_may_use(
        request.client, request.venue, request.account
    ):
        # a bot signing with a key the policy gives to another bot: a leaked key, or a bot misconfigured
        acc.add(None, Violation.of(RULE_KNOWN_ACCOUNTS, Reason.UNKNOWN_ACCOUNT, account=request.account or "none",
                                   client=request.client))
        return acc.finish(decision_id, request, None)
    if policy.known_accounts_only and not policy.knows(request.venue, request.account):
        # a key the policy does not list: stolen, leaked, or a bot nobody registered
        acc.add(None, Violation.of(RULE_KNOWN_ACCOUNTS, Reason.UNKNOWN_ACCOUNT, account=request.account or "none"))
        return acc.finish(decision_id, request, None)

    labels = policy.labels_for(request.venue, request.account)
    # a setting with nothing to parse (Binance positionMargin, multiAssetsMargin) still answers to the trading
    # state: it is checked as an intent that names no instrument, which every scope of its account covers
    intents = request.intents or (OrderIntent(request.venue, action, request.endpoint, request.account),)
    budget = _Reducible(view, request.state_account)
    waits_for_equity = bool(policy.equity_waiting_rules)
    legs: list[_Leg] = []
    for number, intent in enumerate(intents):
        leg_no = number if len(intents) > 1 else None
        names = intent.names  # read by most rules below: built once a leg
        rules = applicable_rules(policy, request.venue, labels, intent, names)
        guard = _check_trading_state(acc, rules, view, intent, leg_no, budget, request.state_account)
        exempt = exempt_reductions and budget.covers(intent) if intent.only_reduces else False
        legs.append(_Leg(intent, rules, leg_no, exempt, guard, names))
        if exempt or guard is not None:
            budget.take(intent)
        if exempt:
            continue
        if intent.symbol:
            for symbols in rules.of(AllowedSymbols):
                if not symbols.permits(names):
                    acc.add(symbols, Violation.of(symbols.id, Reason.SYMBOL_NOT_ALLOWED, leg_no, symbol=intent.symbol))
        if action.adds_orders and intent.order_type:
            for types in rules.of(OrderTypes):
                if intent.order_type.upper() not in types.allow:
                    acc.add(
                        types,
                        Violation.of(types.id, Reason.ORDER_TYPE_NOT_ALLOWED, leg_no, order_type=intent.order_type),
                    )
        if action is Action.SET_LEVERAGE and intent.leverage is not None:
            for leverage in rules.of(MaxLeverage):
                _check_symbol_limit(acc, leverage, leverage.limit_for(names), intent, leg_no,
                                    Reason.LEVERAGE_EXCEEDS_MAX, intent.leverage)
        if intent.margin_mode is not None or intent.hedge_mode is not None:
            _check_margin_mode(acc, rules, intent, leg_no)
        if action.adds_orders:
            if intent.action is Action.AMEND:
                _check_amend_measurable(acc, rules, view, intent, leg_no, names)
            _check_order_size(acc, rules, view, intent, leg_no, names)
            _check_price_collar(acc, rules, view, intent, leg_no, names)
            if guard is None and waits_for_equity:
                _check_equity_known(acc, rules, view, intent, leg_no, request.state_account)

    reservation = _reservation(acc, request, view, legs, decision_id)
    return acc.finish(decision_id, request, reservation)


def conclude(plan: Plan, policy: Policy, outcome: ReserveOutcome | None) -> Decision:
    """Turn a plan and the store's answer into the verdict, applying shadow and monitor modes last."""
    violations = list(plan.violations)
    shadowed = list(plan.shadowed)
    monitoring = policy.mode is PolicyMode.MONITOR
    # stores answer rate checks first; the documented order puts a state's reduction bound first, then the
    # position, then the rate (only the failed are sorted: a stable sort keeps their order the same)
    failed = sorted((r for r in outcome.results if not r.passed), key=_check_order) if outcome else ()
    for result in failed:
        violation = _violation_from(result)
        # under monitor the store was told not to enforce; an enforce-mode rule's failure is still a
        # violation, which decide() turns into a logged would_block
        enforced = result.check.enforced or (monitoring and policy.rule_mode(violation.rule_id) is Mode.ENFORCE)
        (violations if enforced else shadowed).append(violation)
    return decide(plan.decision_id, policy, violations, shadowed)


# reasons a client library treats as worth retrying (ccxt's RateLimitExceeded and network errors): when an order
# breaks a rule that retrying cannot mend as well, that rule must be the one it is answered with
RETRYABLE = frozenset({Reason.ORDER_RATE_EXCEEDED, Reason.STATE_UNAVAILABLE})


def decide(
    decision_id: str, policy: Policy | None, violations: list[Violation], shadowed: list[Violation] | None = None
) -> Decision:
    revision = policy.revision if policy else "none"
    shadowed = shadowed or []
    violations = sorted(violations, key=lambda v: v.reason in RETRYABLE)  # stable: the documented order stays
    if violations and policy is not None and policy.mode is PolicyMode.MONITOR:
        # monitor rolls out the policy's own rules; the kill switch, forbidden endpoints, unknown keys and
        # unparseable orders are not the policy's to relax, so they still block
        relaxed = [v for v in violations if v.rule_id in policy.rule_modes]
        kept = [v for v in violations if v.rule_id not in policy.rule_modes]
        if not kept:
            return Decision(Verdict.ALLOW, decision_id, revision, (), tuple(relaxed + shadowed), monitored=True)
        return Decision(Verdict.BLOCK, decision_id, revision, tuple(kept), tuple(relaxed + shadowed))
    verdict = Verdict.BLOCK if violations else Verdict.ALLOW
    return Decision(verdict, decision_id, revision, tuple(violations), tuple(shadowed))


def reject_counts(request: ParsedRequest, policy: Policy, refused: Sequence[int], decision_id: str) -> tuple[
        RejectCount, ...]:
    """What the store must count for the legs of `request` the venue refused (`refused`: leg numbers): one count
    per reject-storm rule that applies to the account (the most specific enforced one, and every shadow one)."""
    holder = request.state_account
    if not refused or holder is None or not policy.has_reject_storms or not request.action.adds_orders:
        return ()
    labels = policy.labels_for(request.venue, request.account)
    # a storm is the account's: its rules are scoped by venue and account only, so any leg finds them
    intent = request.intents[0] if request.intents else OrderIntent(request.venue, request.action, request.endpoint,
                                                                     request.account)
    members = tuple(f"{decision_id}:{leg}" for leg in dict.fromkeys(refused))
    counts: list[RejectCount] = []
    for rule in applicable_rules(policy, request.venue, labels, intent).of(RejectStorm):
        window = rule.window
        enforced = rule.mode is Mode.ENFORCE and policy.mode is not PolicyMode.MONITOR
        counts.append(RejectCount(
            rule.id, StateScope(str(request.venue), holder), f"{rule.id}|{request.venue}|{holder}", window.limit,
            window.window_ms, rule.cool_down_ms, rule.trading_state, enforced, members, window.text))
    return tuple(counts)


def loss_checks(policy: Policy, venue: Venue, key_account: str | None,
                equities: Sequence[EquityUpdate]) -> tuple[LossCheck, ...]:
    """What the store must measure of the equity an answer or stream event reported (already under the account
    its state is held under): one check per daily-loss rule that applies to the key's account (the most specific
    enforced one, and every shadow one), for the last equity reported per account."""
    if not equities or not policy.has_daily_losses:
        return ()
    labels = policy.labels_for(venue, key_account)
    last = {equity.account: equity for equity in equities}
    checks: list[LossCheck] = []
    for holder, equity in last.items():
        # a daily loss is the account's: its rules are scoped by venue and account only
        intent = OrderIntent(venue, Action.READ, "", key_account)
        for rule in applicable_rules(policy, venue, labels, intent).of(MaxDailyLoss):
            enforced = rule.mode is Mode.ENFORCE and policy.mode is not PolicyMode.MONITOR
            checks.append(LossCheck(rule.id, StateScope(str(venue), holder), f"{rule.id}|{venue}|{holder}",
                                    equity.equity, equity.currency, rule.quote, rule.trading_state, enforced))
    return tuple(checks)


def utc_text(ms: int | None) -> str:
    """A store timestamp (ms) as UTC ISO 8601 to the second, for decision lines and answers."""
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def position_key(intent: OrderIntent, holder: str | None) -> PositionKey | None:
    """The position an intent moves, kept under `holder` (the account's label where the policy names one, so
    every key of one account moves one position)."""
    if holder is None or intent.symbol is None:
        return None
    return PositionKey(intent.venue, holder, intent.symbol, intent.position_side)


_CHECK_ORDER = {ReductionCheck: 0, DuplicateCheck: 1, OpenOrdersCheck: 2, NotionalCheck: 3, ExposureCheck: 4,
                GrossCheck: 5, RateCheck: 6}


def _check_order(result: CheckResult) -> int:
    return _CHECK_ORDER[type(result.check)]


def reference_price(intent: OrderIntent, view: StateView) -> Decimal | None:
    """The price a notional is measured at: the most the order can trade at, as far as the request and the store
    tell. A buy's limit price bounds it (a buy fills at or below it). A sell fills at or above its limit, and a
    sell limit below the market fills at the market, so it is the highest of its limit, the mark (or last) price
    seen and its trigger; so is an order without a price of its own (a stop-market order fills about its
    trigger). None when none is known. An amend of an order whose type is not known (`type_unknown`: it may be a
    market-type order, which ignores the price) is measured so on both sides, and only with the mark known: its
    price may bound nothing."""
    price = intent.price
    if price is not None and intent.side is Side.BUY and not intent.type_unknown:
        return price
    seen = view.price(intent.venue, intent.symbol) if intent.symbol is not None else None
    if intent.type_unknown and seen is None:
        return None
    highest = price
    for known in (seen, intent.trigger_price):
        if known is not None and (highest is None or known > highest):
            highest = known
    return highest


class _Collector:
    """Sorts violations into enforced and shadowed as the rules are walked."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.violations: list[Violation] = []
        self.shadowed: list[Violation] = []

    def add(self, rule: RuleBase | None, violation: Violation) -> None:
        enforced = rule is None or rule.mode is Mode.ENFORCE
        (self.violations if enforced else self.shadowed).append(violation)

    def enforced(self, rule: RuleBase) -> bool:
        return rule.mode is Mode.ENFORCE and self.policy.mode is not PolicyMode.MONITOR

    def finish(self, decision_id: str, request: ParsedRequest, reservation: Reservation | None) -> Plan:
        return Plan(decision_id, request, tuple(self.violations), tuple(self.shadowed), reservation)


@quick_init
@dataclass(frozen=True, slots=True)
class _Guard:
    """A REDUCING state that lets a leg through only as a reduction the store confirms is still covered."""

    rule_id: str
    context: tuple[tuple[str, str], ...]


@quick_init
@dataclass(frozen=True, slots=True)
class _Leg:
    intent: OrderIntent
    rules: RuleSet
    number: int | None
    exempt: bool  # a reduction within what it reduces: no limit applies, the store confirms the bound
    guard: _Guard | None
    names: tuple[str, ...]  # intent.names, built once


class _Reducible:
    """What each position can still be reduced by, as the view saw it, less what earlier legs of this request
    already take."""

    def __init__(self, view: StateView, holder: str | None) -> None:
        self._view, self._holder = view, holder
        self._taken: dict[tuple[PositionKey, Side], Decimal] = defaultdict(Decimal)

    def _slot(self, intent: OrderIntent) -> tuple[PositionKey, Side] | None:
        key = position_key(intent, self._holder)
        return (key, intent.side) if key is not None and intent.side is not None else None

    def covers(self, intent: OrderIntent) -> bool:
        if intent.quantity is None:
            # a close-position order has no size of its own: the venue closes what there is, never more
            return intent.close_position
        slot = self._slot(intent)
        if slot is None:
            return False
        allowance = self._view.reducible(*slot) - self._taken[slot] + self._replaced(intent, slot)
        return intent.quantity <= allowance

    def _replaced(self, intent: OrderIntent, slot: tuple[PositionKey, Side]) -> Decimal:
        # an amend frees what the order it replaces still had open, when that order pends in the same place
        if intent.action is not Action.AMEND or intent.order_id is None:
            return Decimal(0)
        known = self._view.orders.get(intent.order_id)
        key, side = slot
        if known is None or (known.symbol, known.side, known.position_side) != (key.symbol, side, key.position_side):
            return Decimal(0)
        return self._view.remaining.get(intent.order_id, Decimal(0))

    def take(self, intent: OrderIntent) -> None:
        slot = self._slot(intent)
        if slot is not None and intent.quantity is not None:
            self._taken[slot] += intent.quantity


def _check_trading_state(
    acc: _Collector, rules: RuleSet, view: StateView, intent: OrderIntent, leg: int | None,
    budget: _Reducible, holder: str | None,
) -> _Guard | None:
    """Violations of the trading states that cover `intent`; a REDUCING state that permits it returns the guard
    the store must confirm (a reduction still covered when it is reserved)."""
    candidates: list[tuple[RuleBase | None, str, TradingState, dict[str, str]]] = []
    for rule in rules.of(TradingStateRule):
        if rule.state is not TradingState.ACTIVE:
            candidates.append((rule, rule.id, rule.state, {"source": "policy"}))
    for record in view.trading_states:
        covers = record.scope.covers(intent.venue, intent.account, intent.symbol, holder)
        if record.state is not TradingState.ACTIVE and covers:
            context = {"scope": record.scope.text, "reason": record.reason}
            if record.rule_id is not None:
                # a state a rule set by itself (a reject storm, a daily loss): the rule answers for it, until it ends
                source = "daily_loss" if record.reason.startswith(LOSS_REASON_PREFIX) else "reject_storm"
                context = {"source": source, **context, "until": utc_text(record.until_ms)}
            candidates.append((None, record.rule_id or RULE_KILL_SWITCH, record.state, context))
    guard: _Guard | None = None
    for owner, rule_id, state, context in candidates:
        if intent.action in (Action.CANCEL, Action.CANCEL_ALL, Action.READ):
            continue
        if state is TradingState.REDUCING and _reduction_candidate(intent) and budget.covers(intent):
            if intent.quantity is not None and guard is None:
                guard = _Guard(rule_id, tuple((k, str(v)) for k, v in {"state": state, **context}.items()))
            continue
        reason = Reason.TRADING_HALTED if state is TradingState.HALTED else Reason.TRADING_REDUCING
        acc.add(owner, Violation.of(rule_id, reason, leg, state=state, action=intent.action, **context))
    return guard


def _reduction_candidate(intent: OrderIntent) -> bool:
    """REDUCING lets through only orders that shrink a position: flagged reductions, and one-way orders against
    the position held (their size is then bounded by it); never a new position, never a setting."""
    if not intent.action.adds_orders:
        return False
    return intent.only_reduces or intent.position_side is PositionSide.BOTH


def _check_order_size(
    acc: _Collector, rules: RuleSet, view: StateView, intent: OrderIntent, leg: int | None,
    names: tuple[str, ...],
) -> None:
    if intent.quantity is None:
        return
    for size in rules.of(MaxOrderQty):
        _check_symbol_limit(acc, size, size.limit_for(names), intent, leg, Reason.ORDER_QTY_EXCEEDS_MAX,
                            intent.quantity)
    for rule in rules.of(MaxOrderNotional):
        if (limit := rule.limit_for(names)) is None:
            continue
        price = reference_price(intent, view)
        if price is None:
            if rule.on_price_unknown is OnPriceUnknown.BLOCK:
                acc.add(rule, Violation.of(rule.id, Reason.PRICE_UNKNOWN, leg, symbol=intent.symbol))
            continue
        _check_symbol_limit(acc, rule, limit, intent, leg, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, intent.quantity * price,
                            qty=intent.quantity, price=price)


def _check_amend_measurable(acc: _Collector, rules: RuleSet, view: StateView, intent: OrderIntent,
                            leg: int | None, names: tuple[str, ...]) -> None:
    """An amend the rules cannot measure is refused rather than waved on. The store does not keep a resting
    order's prices (its limit, its trigger), so what the amend leaves out of them is not known:
    - one of an order whose side is unknown (OKX amends carry none; Bybit's and Bitget's of an order this store never
      saw) that resizes it, under a rule that measures positions or notional over time (max position, daily
      notional, gross exposure): neither direction nor exposure is known, and the store skips such a leg;
    - under a rule that measures notional (order notional, daily notional, gross exposure): one that grows an order's
      open part (or of an order whose open part the store does not know) without restating its limit price (a sell
      rests above the market, a conditional buy triggers above it: at the mark, a sell resting at 95,000 resized
      would be measured short; a trigger restated alone leaves the limit where it was), and one that moves the
      price of an order whose size the store does not know. An amend that shrinks an order holds no more notional
      than it was admitted with."""
    order = intent.order_id or "unknown"
    if intent.side is None and intent.quantity is not None and (
            _budgets_or_gross(rules) or any(rule.limit_for(names) is not None for rule in rules.of(MaxPosition))):
        acc.add(None, Violation.of(RULE_PARSE, Reason.PARSE_FAILED, leg,
                                   error="side of the amended order is unknown; its exposure cannot be checked",
                                   order_id=order))
        return
    if intent.quantity is None:
        if intent.price is None and intent.trigger_price is None:
            return  # neither size nor price moves: nothing a notional rule measures
        error = ("the amended order's size is not known to the firewall, so its notional at the new price cannot "
                 "be checked: list the account's open orders through it first")
    elif (intent.price is None or _trigger_unsaid(intent)) and not (
            (open_part := view.remaining.get(intent.order_id or "")) is not None and intent.quantity <= open_part):
        error = ("an amend that grows an order must restate its limit price (and, where the firewall does not know "
                 "the order's type, its trigger): the firewall does not keep a resting order's prices to measure "
                 "its notional at")
    else:
        return
    if _budgets_or_gross(rules) or any(rule.limit_for(names) is not None for rule in rules.of(MaxOrderNotional)):
        acc.add(None, Violation.of(RULE_PARSE, Reason.PARSE_FAILED, leg, error=error, order_id=order))


def _trigger_unsaid(intent: OrderIntent) -> bool:
    """An amend of a buy (or of an order of unknown side) whose type is not known that names no trigger: the order
    may be a stop, resting above the market and trading about a trigger the store does not keep, whatever price the
    amend names (a sell is measured no lower than the mark, above any stop it has)."""
    return intent.type_unknown and intent.side is not Side.SELL and intent.trigger_price is None


def _budgets_or_gross(rules: RuleSet) -> bool:
    """Whether a daily-notional budget or a gross exposure limit applies: rules the store measures an order by."""
    return bool(rules.of(MaxDailyNotional)) or bool(rules.of(MaxGrossExposure))


def _check_symbol_limit(acc: _Collector, rule: SymbolLimitRule[Decimal], limit: Decimal | None, intent: OrderIntent,
                        leg: int | None, reason: Reason, observed: Decimal, **detail: object) -> None:
    """A per-symbol limit checked in the engine (leverage, order size and notional): `observed` over `limit`, the
    rule's limit for the intent's symbol. The violation names both as its reason's measured pair (`MEASURED`:
    e.g. qty=, max_qty=), then `detail`, then the symbol."""
    if limit is not None and observed > limit:
        observed_key, limit_key = MEASURED[reason]
        acc.add(rule, Violation.of(rule.id, reason, leg, **{observed_key: observed, limit_key: limit}, **detail,
                                   symbol=intent.symbol))


def _check_margin_mode(acc: _Collector, rules: RuleSet, intent: OrderIntent, leg: int | None) -> None:
    """A margin mode or position mode the policy does not allow: switched to by a setting (or a leverage call that
    switches too), or named by an order that trades in it (OKX `tdMode`, Bitget `marginMode`)."""
    for rule in rules.of(MarginModeRule):
        if rule.allow is not None and intent.margin_mode is not None and intent.margin_mode not in rule.allow:
            acc.add(rule, Violation.of(rule.id, Reason.MARGIN_MODE_NOT_ALLOWED, leg, margin_mode=intent.margin_mode,
                                       allowed="|".join(rule.allow), action=intent.action, symbol=intent.symbol))
        if rule.allow_hedge is False and intent.hedge_mode is True:
            acc.add(rule, Violation.of(rule.id, Reason.MARGIN_MODE_NOT_ALLOWED, leg, position_mode="hedge",
                                       allow_hedge="false", action=intent.action, symbol=intent.symbol))


_PERCENT = Decimal(100)


def _check_equity_known(acc: _Collector, rules: RuleSet, view: StateView, intent: OrderIntent,
                        leg: int | None, holder: str | None) -> None:
    """An order that adds risk under a daily-loss rule that has no equity reading for the account this UTC day:
    with `on_equity_unknown: block` there is no loss to measure it against, so it waits for one."""
    for rule in rules.of(MaxDailyLoss):
        if rule.on_equity_unknown is not OnPriceUnknown.BLOCK:
            continue
        if f"{rule.id}|{intent.venue}|{holder}" not in view.equity_seen:
            acc.add(rule, Violation.of(rule.id, Reason.EQUITY_UNKNOWN, leg, account=holder or "none",
                                       error="no equity read today: read the balance through the sidecar"))


def _check_price_collar(
    acc: _Collector, rules: RuleSet, view: StateView, intent: OrderIntent, leg: int | None,
    names: tuple[str, ...],
) -> None:
    """A limit price (or, for a conditional order without one, its trigger price) further than the rule's percent
    from the reference price, on the side that trades through it: a buy above, a sell below. A buy below or a
    sell above the market cannot trade through it and is not collared; an amend whose side is unknown is held to
    both bounds. An order whose legs can trade at several prices (`price_span`: an oco's take-profit and
    stop-loss) is measured at its highest as a buy and its lowest as a sell. The reference is the venue's mark
    price seen (else its last price): never the order's own."""
    if intent.price is not None:
        checked, kind = intent.price, "limit"
    elif intent.trigger_price is not None:
        checked, kind = intent.trigger_price, "trigger"
    else:
        return  # a market order (or an amend of the size alone): no price of its own to collar
    lowest, highest = intent.price_span or (checked, checked)
    if intent.type_unknown and intent.price is not None and intent.trigger_price is not None:
        # an amend of an order of unknown type: a stop trades about its trigger whatever price the amend names
        lowest, highest = min(lowest, intent.trigger_price), max(highest, intent.trigger_price)
    for rule in rules.of(PriceCollar):
        limit = rule.limit_for(names)
        if limit is None:
            continue
        reference = view.price(intent.venue, intent.symbol) if intent.symbol is not None else None
        if reference is None or reference <= 0:
            if rule.on_price_unknown is OnPriceUnknown.BLOCK:
                acc.add(rule, Violation.of(rule.id, Reason.PRICE_UNKNOWN, leg, symbol=intent.symbol, price=checked))
            continue
        ceiling = reference * (1 + limit / _PERCENT)
        floor = reference * (1 - limit / _PERCENT)
        bounds: dict[str, Decimal] = {}
        if intent.side is not Side.SELL and highest > ceiling:
            bounds["max_price"], checked = _round(ceiling), highest
        if intent.side is not Side.BUY and lowest < floor:
            bounds["min_price"], checked = _round(floor), lowest
        if not bounds:
            continue
        deviation = (abs(checked - reference) * _PERCENT / reference).quantize(Decimal("0.0001"), ROUND_CEILING)
        acc.add(rule, Violation.of(
            rule.id, Reason.PRICE_OUTSIDE_COLLAR, leg, price=checked, reference=reference, deviation_pct=deviation,
            max_deviation_pct=limit, **bounds, side=intent.side or "unknown", price_kind=kind, symbol=intent.symbol,
        ))


def _listing_kind(intent: OrderIntent, view: StateView) -> str:
    """The kind of open-orders listing that shows the order a leg places or amends: an amend's is its order's, as
    the store knows it (OKX's algo amends do not name the algo type that decides it), else what the adapter read."""
    if intent.action is Action.AMEND:
        known = view.orders.get(intent.order_id or "") or view.by_client.get(intent.client_order_id or "")
        if known is not None:
            return known.kind
    return intent.kind


def _reservation(acc: _Collector, request: ParsedRequest, view: StateView, legs: Sequence[_Leg],
                 decision_id: str) -> Reservation:
    """What the store must check and count, atomically, for the orders that passed the static rules."""
    holder = request.state_account
    if not request.action.adds_orders or holder is None:
        return Reservation(decision_id)
    rate_costs: dict[tuple[str, str], int] = defaultdict(int)
    duplicates: dict[tuple[str, str], DuplicateCheck] = {}
    open_orders: dict[tuple[str, str | None], OpenOrdersCheck] = {}
    budgets: dict[str, NotionalCheck] = {}
    gross: dict[str, tuple[MaxGrossExposure, int | None, dict[str, Decimal]]] = {}
    rate_rules: dict[str, OrderRate] = {}
    exposure: dict[tuple[str, PositionKey, Side], tuple[MaxPosition, Decimal, Decimal, str | None]] = {}
    reductions: dict[tuple[str, PositionKey, Side], tuple[Decimal, str | None, _Guard | None]] = {}
    pending: list[PendingEntry] = []
    closed: set[tuple[PositionKey, Side]] = set()  # the positions sizeless closes hold already
    replaces = request.action is Action.AMEND
    charges_budgets, values_gross = acc.policy.has_daily_notional, acc.policy.has_gross_exposure
    own_reductions = _own_reductions(legs, holder) if len(legs) > 1 else {}
    for index, leg in enumerate(legs):
        intent, rules, leg_no, names = leg.intent, leg.rules, leg.number, leg.names
        key = position_key(intent, holder)
        bounded = leg.exempt or leg.guard is not None
        if bounded and key is not None and intent.side is not None and intent.quantity is not None:
            # the store confirms the reduction is still covered when it commits (several sidecars may race)
            rule_id = leg.guard.rule_id if leg.guard else RULE_REDUCTION
            slot = (rule_id, key, intent.side)
            previous = reductions.get(slot)
            total = intent.quantity + (previous[0] if previous else _ZERO)
            reductions[slot] = (total, intent.order_id if replaces else None, leg.guard)
        if leg.exempt:
            # exempt from every limit, the rate included: a bot can always flatten
            if key is not None and intent.side is not None and intent.quantity is not None:
                pending.append(PendingEntry(f"{decision_id}:{index}", key, intent.side, intent.quantity,
                                            intent.order_id, reducing=True, opens=intent.action is Action.NEW,
                                            kind=_listing_kind(intent, view), triggers_into=intent.triggers_into))
            elif intent.close_position and intent.quantity is None and intent.action is Action.NEW:
                closing = [e for e in _closing_entries(view, intent, holder, f"{decision_id}:{index}")
                           if (e.position, e.side) not in closed]  # (BingX reads a close as two legs)
                closed.update((e.position, e.side) for e in closing)
                pending.extend(closing)
            continue
        for rate_rule in rules.of(OrderRate):
            # one counter per rule: two rules over the same account must not count each order twice
            scope_key = f"{rate_rule.id}|{request.venue}|{holder}"
            if rate_rule.per is RateKey.SYMBOL:
                scope_key += f"|{intent.symbol}"
            rate_costs[(rate_rule.id, scope_key)] += 1
            rate_rules[rate_rule.id] = rate_rule
        if intent.action is Action.NEW:
            _check_duplicates(acc, duplicates, rules, intent, leg_no, holder)
            _count_open_orders(acc, open_orders, rules, intent, leg_no, holder)
        if key is None or intent.side is None or intent.quantity is None:
            # (an amend of an order of unknown side that a stateful rule would measure is refused already:
            # `_check_amend_measurable`)
            continue
        charged: tuple[str, ...] = ()
        unit_price: Decimal | None = None
        if charges_budgets:
            charged, unit_price = _charge_budgets(acc, budgets, rules, intent, leg_no, holder, view,
                                                  intent.order_id if replaces else None)
        if values_gross:
            for gross_rule in rules.of(MaxGrossExposure):
                own = gross.setdefault(gross_rule.id, (gross_rule, leg_no, {}))[2]
                price = _mark_or_order_price(intent, view)
                if price is not None and price > 0 and intent.symbol is not None:
                    own.setdefault(intent.symbol, price)
        pending.append(PendingEntry(f"{decision_id}:{index}", key, intent.side, intent.quantity, intent.order_id,
                                    opens=intent.action is Action.NEW, budgets=charged, price=unit_price,
                                    kind=_listing_kind(intent, view), triggers_into=intent.triggers_into))
        # the batch's own reduce-only legs take the position toward zero first (the store confirms they fit it):
        # counted with what the batch adds, so the check measures where the batch leaves the position
        reduced = own_reductions.get((key, intent.side), _ZERO) if own_reductions else _ZERO
        for rule in rules.of(MaxPosition):
            limit = _position_limit(acc, rule, intent, view, leg_no, names)
            if limit is None:
                continue
            exposure_slot = (rule.id, key, intent.side)
            prior = exposure.get(exposure_slot)
            added = intent.quantity + (prior[1] if prior else reduced)
            bound = min(limit, prior[2]) if prior else limit
            exposure[exposure_slot] = (rule, added, bound, intent.order_id if replaces else None)
    rate_checks: list[RateCheck] = []
    for (rule_id, scope_key), cost in rate_costs.items():
        rate_rule = rate_rules[rule_id]
        enforced = acc.enforced(rate_rule)
        rate_checks.extend(RateCheck(rule_id, scope_key, window.limit, window.window_ms, cost, enforced)
                           for window in rate_rule.windows)
    rate = tuple(rate_checks)
    # (each empty kind below skips its generator: most policies have few of them)
    checks = tuple(
        ExposureCheck(rule.id, key, side, total, bound, acc.enforced(rule), replaced)
        for (_, key, side), (rule, total, bound, replaced) in exposure.items()
    ) if exposure else ()
    bounds = tuple(
        ReductionCheck(rule_id, key, side, total, replaced, Reason.TRADING_REDUCING if guard else None,
                       guard.context if guard else ())
        for (rule_id, key, side), (total, replaced, guard) in reductions.items()
    ) if reductions else ()
    gross_checks = tuple(check for rule, leg_no, own in gross.values()
                         if (check := _gross_check(acc, rule, leg_no, own, request, view, holder)) is not None
                         ) if gross else ()
    return Reservation(decision_id, rate, checks, tuple(pending), bounds, tuple(duplicates.values()),
                       tuple(open_orders.values()), tuple(budgets.values()), gross_checks)


def _closing_entries(view: StateView, intent: OrderIntent, holder: str, leg_id: str) -> list[PendingEntry]:
    """A close that names no size (BingX closeAllPositions, OKX close-position, Bitget close-positions, BitMEX
    closePosition): the venue closes what there is. Each position the view holds that it may close (of its symbol,
    or the account's on the venue when it names none) is held as a pending reduction of its whole size, like a
    reduce-only order of that size: until the venue's answer shows what it did, or (an answer that shows no order)
    a position read after it, the other way is measured from flat. Else a close the store never learns of leaves
    the old position under-counting every order the other way. Every position of the symbol, whatever side the
    close names: the side a venue reads depends on the account's mode (Bitget ignores `holdSide` in one-way mode),
    and holding one it does not close only measures that one more strictly meanwhile."""
    entries: list[PendingEntry] = []
    for key, position in view.positions.items():
        if position == 0 or key.venue is not intent.venue or key.account != holder:
            continue
        if intent.symbol is not None and key.symbol != intent.symbol:
            continue
        side = Side.SELL if position > 0 else Side.BUY
        entries.append(PendingEntry(leg_id if not entries else f"{leg_id}.{len(entries)}", key, side, abs(position),
                                    reducing=True, kind=intent.kind))
    return entries


def _own_reductions(legs: Sequence[_Leg], holder: str) -> dict[tuple[PositionKey, Side], Decimal]:
    """What a batch's exempt new legs (reduce-only orders) take off each position, by position and the side they
    trade: a plain leg trading the same way on the same position is measured from where they leave it
    (reduce-only SELL 4 and SELL 8 against a long 4 end short 8, not 4). The store counts pending reductions that
    way already; these legs are not pending until the reservation commits."""
    own: dict[tuple[PositionKey, Side], Decimal] = {}
    for leg in legs:
        intent = leg.intent
        if not leg.exempt or intent.action is not Action.NEW or intent.quantity is None or intent.side is None:
            continue
        key = position_key(intent, holder)
        if key is not None:
            own[(key, intent.side)] = own.get((key, intent.side), _ZERO) + intent.quantity
    return own


def _gross_check(acc: _Collector, rule: MaxGrossExposure, leg: int | None, own: dict[str, Decimal],
                 request: ParsedRequest, view: StateView, holder: str) -> GrossCheck | None:
    """What the store must check of the account's gross exposure under `rule`: every position the view saw
    (the whole account's: `ViewQuery.whole_account`) valued at its symbol's mark price, and the request's own
    symbols at the mark price or, without one, the order's price. A position held or pending in a symbol with no
    price is PRICE_UNKNOWN (or, with `on_price_unknown: allow`, the rule is skipped)."""
    prices = dict(own)
    others = acc.policy.gross_venues(request.venue, holder) if rule.per == "account" else ()
    # a symbol counts where it has exposure (a flat one with only reduce-only orders resting has none)
    keys = set(view.positions) | {key for key, _ in view.pending}
    held = {(key.venue, key.symbol) for key in keys
            if (key.venue == request.venue or key.venue in others) and key.account == holder
            and gross_quantity(view.position(key), view.pending_in(key, Side.BUY), view.pending_in(key, Side.SELL))}
    other_prices: list[tuple[Venue, str, Decimal]] = []
    for venue, symbol in sorted(held):
        if venue == request.venue and symbol in prices:
            continue
        price = view.price(venue, symbol)
        if price is None or price <= 0:
            if rule.on_price_unknown is OnPriceUnknown.BLOCK:
                named = symbol if venue == request.venue else f"{venue}:{symbol}"
                acc.add(rule, Violation.of(rule.id, Reason.PRICE_UNKNOWN, None, symbol=named))
            return None
        if venue == request.venue:
            prices[symbol] = price
        else:
            other_prices.append((venue, symbol, price))
    for number, intent in enumerate(request.intents):
        if intent.symbol is not None and intent.symbol not in prices:
            if rule.on_price_unknown is OnPriceUnknown.BLOCK:
                acc.add(rule, Violation.of(rule.id, Reason.PRICE_UNKNOWN, number if len(request.intents) > 1 else None,
                                           symbol=intent.symbol))
            return None
    symbols = ",".join(intent.symbol for intent in request.intents if intent.symbol)
    return GrossCheck(rule.id, request.venue, holder, rule.notional, tuple(sorted(prices.items())),
                      acc.enforced(rule), leg, (("symbol", symbols),) if symbols else (), others,
                      tuple(other_prices))


# digits enough for any quantity × price exactly (each at most 18 fraction and 20 integer digits)
_PRODUCT_DIGITS = 80


def notional_of(quantity: Decimal, price: Decimal) -> Decimal:
    """quantity × price, exact (the default context's 28 digits would round a large product)."""
    with localcontext(prec=_PRODUCT_DIGITS):
        return quantity * price


def _charge_budgets(acc: _Collector, budgets: dict[str, NotionalCheck], rules: RuleSet,
                    intent: OrderIntent, leg: int | None, holder: str, view: StateView,
                    replaced: str | None) -> tuple[tuple[str, ...], Decimal | None]:
    """The daily-notional budgets a leg is charged to and the price a unit it is charged at (`reference_price`:
    the most it can trade at as far as is known), adding its notional to each budget's
    check. Legs of one batch add up in one check per budget; an amend names the order it replaces, whose open
    part the store does not count against it."""
    keys: list[str] = []
    price: Decimal | None = None
    for rule in rules.of(MaxDailyNotional):
        price = price if price is not None else reference_price(intent, view)
        if price is None or price <= 0 or intent.quantity is None:
            price = None
            if rule.on_price_unknown is OnPriceUnknown.BLOCK:
                acc.add(rule, Violation.of(rule.id, Reason.PRICE_UNKNOWN, leg, symbol=intent.symbol))
            continue
        per_symbol = rule.per is RateKey.SYMBOL
        key = f"{rule.id}|{intent.venue}|{holder}" + (f"|{intent.symbol}" if per_symbol else "")
        earlier = budgets.get(key)
        adding = notional_of(intent.quantity, price) + (earlier.adding if earlier is not None else _ZERO)
        replaces = earlier.replaces if earlier is not None else ()
        if replaced is not None and replaced not in replaces:
            replaces += (replaced,)
        context = (("scope", "symbol" if per_symbol else "account"), ("symbol", intent.symbol or ""))
        budgets[key] = NotionalCheck(rule.id, intent.venue, holder, key, rule.notional, adding, acc.enforced(rule),
                                     replaces, earlier.leg if earlier is not None else leg,
                                     earlier.context if earlier is not None else context)
        keys.append(key)
    return tuple(keys), price if keys else None


def _count_open_orders(acc: _Collector, open_orders: dict[tuple[str, str | None], OpenOrdersCheck],
                       rules: RuleSet, intent: OrderIntent, leg: int | None, holder: str) -> None:
    """What the store must check of a new order under each open-orders rule: that the account's open orders on
    its symbol, and on the account, stay within the limits with it. Each leg of a batch adds one to its scopes'
    checks; the store compares its counters plus what the request adds with the limit."""
    for rule in rules.of(MaxOpenOrders):
        context = (("symbol", intent.symbol),) if intent.symbol is not None else ()
        scopes = ((None, rule.per_account),) if intent.symbol is None else (
            (intent.symbol, rule.per_symbol), (None, rule.per_account))
        for symbol, limit in scopes:
            if limit is None:
                continue
            slot = (rule.id, symbol)
            earlier = open_orders.get(slot)
            adding = 1 + (earlier.adding if earlier is not None else 0)
            open_orders[slot] = OpenOrdersCheck(rule.id, intent.venue, holder, symbol, limit, adding,
                                                acc.enforced(rule), leg, context)


def _check_duplicates(acc: _Collector, duplicates: dict[tuple[str, str], DuplicateCheck], rules: RuleSet,
                      intent: OrderIntent, leg: int | None, holder: str) -> None:
    """What the store must check of a new order under each duplicate rule: that no identical order was admitted
    within the window. A second identical leg of the same batch is a duplicate at once (the batch is blocked
    whole); the store checks each fingerprint once."""
    fingerprint: str | None = None
    context: dict[str, object] = {}
    for rule in rules.of(DuplicateOrders):
        if fingerprint is None:
            fingerprint, context = order_fingerprint(intent, holder), _order_context(intent)
        earlier = duplicates.get((rule.id, fingerprint))
        if earlier is not None:
            acc.add(rule, Violation.of(rule.id, Reason.DUPLICATE_ORDER, leg, orders=2, limit=1,
                                       window_ms=rule.window_ms, ago_ms=0, duplicate_of_leg=earlier.leg, **context))
            continue
        duplicates[(rule.id, fingerprint)] = DuplicateCheck(
            rule.id, intent.venue, holder, fingerprint, rule.window_ms, acc.enforced(rule), leg,
            context_text(context))


def _order_context(intent: OrderIntent) -> dict[str, object]:
    """A duplicate's decision-line description of the order it repeats."""
    context = {"symbol": intent.symbol, "side": intent.side, "position_side": intent.position_side,
               "order_type": intent.order_type, "qty": intent.quantity, "price": intent.price,
               "trigger_price": intent.trigger_price}
    return {key: value for key, value in context.items() if value is not None}


def _position_limit(
    acc: _Collector, rule: MaxPosition, intent: OrderIntent, view: StateView, leg: int | None, names: tuple[str, ...]
) -> Decimal | None:
    """The rule's limit for this symbol in base units: the tighter of `qty` and `notional` ÷ price."""
    limit = rule.limit_for(names)
    if limit is None:
        return None
    bounds = [limit.qty] if limit.qty is not None else []
    if limit.notional is not None:
        price = _mark_or_order_price(intent, view)
        if price is not None and price > 0:
            bounds.append(limit.notional / price)
        elif rule.on_price_unknown is OnPriceUnknown.BLOCK:
            acc.add(rule, Violation.of(rule.id, Reason.PRICE_UNKNOWN, leg, symbol=intent.symbol))
    return min(bounds) if bounds else None


def _mark_or_order_price(intent: OrderIntent, view: StateView) -> Decimal | None:
    # a position is valued at the market, not at one order's limit price
    if intent.symbol is not None:
        seen = view.price(intent.venue, intent.symbol)
        if seen is not None:
            return seen
    return intent.price if intent.price is not None else intent.trigger_price


def _violation_from(result: CheckResult) -> Violation:
    check = result.check
    if isinstance(check, ReductionCheck):
        reason = check.reason or Reason.POSITION_EXCEEDS_MAX
        return Violation.of(check.rule_id, reason, None, qty=check.quantity, reducible=max(result.observed, Decimal(0)),
                            symbol=check.position.symbol, side=check.side, **dict(check.context))
    if isinstance(check, DuplicateCheck):
        return Violation.of(check.rule_id, Reason.DUPLICATE_ORDER, check.leg, orders=result.observed, limit=1,
                            window_ms=check.window_ms, **dict(result.detail), **dict(check.context))
    if isinstance(check, OpenOrdersCheck):
        return Violation.of(check.rule_id, Reason.OPEN_ORDERS_EXCEED_MAX, check.leg, open_orders=result.observed,
                            max_open_orders=check.limit, scope=check.scope, **dict(check.context))
    if isinstance(check, GrossCheck):
        return Violation.of(check.rule_id, Reason.GROSS_EXPOSURE_EXCEEDS_MAX, check.leg,
                            gross_exposure=_round(result.observed), max_gross_exposure=check.limit,
                            **dict(result.detail), **dict(check.context))
    if isinstance(check, NotionalCheck):
        return Violation.of(check.rule_id, Reason.DAILY_NOTIONAL_EXCEEDS_MAX, check.leg, daily_notional=result.observed,
                            max_daily_notional=check.limit, notional=_round(check.adding), **dict(check.context))
    if isinstance(check, RateCheck):
        return Violation.of(
            check.rule_id, Reason.ORDER_RATE_EXCEEDED, orders=result.observed, limit=check.limit,
            window_ms=check.window_ms,
        )
    return Violation.of(
        check.rule_id, Reason.POSITION_EXCEEDS_MAX, position=result.observed, max_position=_round(check.limit),
        symbol=check.position.symbol, side=check.side, position_side=check.position.position_side,
    )


def _round(value: Decimal) -> Decimal:
    # a notional ÷ price limit can have many digits; eight decimals are plenty for a log line
    return value.quantize(Decimal("0.00000001")) if value.as_tuple().exponent < -8 else value  # type: ignore[operator]


__all__ = ["Plan", "Venue", "conclude", "decide", "light_view_suffices", "plan", "position_key", "reference_price",
           "view_query"]
