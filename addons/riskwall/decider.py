"""One decision, the same way everywhere: the sidecar, `riskwall policy test` and `riskwall replay`.

    view → engine.plan → store.reserve (only when the plan is not already blocked) → engine.conclude

and what to do with a reservation once the venue has (or has not) answered.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from riskwall import engine, logs, metrics
from riskwall.instruments import CATALOG, facts_of
from riskwall.model import (
    Action,
    AmendAccepted,
    Decision,
    LossCheck,
    LossTrip,
    ParsedRequest,
    Reason,
    RejectCount,
    ResponseFacts,
    StormTrip,
    Venue,
    Verdict,
    Violation,
    priced_symbol,
)
from riskwall.policy.loader import Policy
from riskwall.records import quick_init, replace
from riskwall.state.base import ReserveOutcome, StateStore, StateUnavailable, StateView
from riskwall.state.memory import UNANSWERED_HOLD_MS as UNANSWERED_HOLD_MS  # kept beside the holds
from riskwall.venues.base import HttpRequest, VenueAdapter, sound_facts
from riskwall.venues.refusals import authentication_refused, fate_unknown, refused_legs

# reasons decided without reading the store: they stand even while it cannot be read
STATELESS = frozenset({
    Reason.PARSE_FAILED, Reason.UNKNOWN_ENDPOINT, Reason.ACTION_FORBIDDEN, Reason.UNKNOWN_ACCOUNT,
    Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_TYPE_NOT_ALLOWED, Reason.LEVERAGE_EXCEEDS_MAX,
    Reason.ORDER_QTY_EXCEEDS_MAX,
    # planned without a store, a duplicate can only be a second identical leg of one batch
    Reason.DUPLICATE_ORDER,
})

_log = logs.get_logger("riskwall.storm")


@quick_init
@dataclass(frozen=True, slots=True)
class Evaluation:
    decision: Decision
    # True when the store holds pending exposure for this decision until the venue answers (release it then)
    reserved: bool
    # the store's answer to the reservation: every counter's value, passed or not (for limit-usage metrics)
    outcome: ReserveOutcome | None = None
    # the request as decided: with its holder, which learning from the answer needs too
    parsed: ParsedRequest | None = None


def new_decision_id() -> str:
    """A fresh decision id: 128 random bits as 32 hex digits, the shape `uuid4().hex` has, without building a UUID
    on every request. A store several sidecars share keys reservations by it, so it is random, not counted."""
    return os.urandom(16).hex()


def with_holder(parsed: ParsedRequest, policy: Policy) -> ParsedRequest:
    """`parsed` with the account its state is kept under: the key's label where the policy names one (of the
    request's environment)."""
    holder = policy.holder(parsed.venue, parsed.account, parsed.environment)
    return parsed if holder == parsed.holder else replace(parsed, holder=holder)


async def decide_request(parsed: ParsedRequest, policy: Policy, store: StateStore, decision_id: str,
                         settled: Callable[[str, str | None], Awaitable[None]] | None = None) -> Evaluation:
    """The decision on `parsed`; `Evaluation.parsed` is the request as decided (with its holder), which is what
    `learn_answer` must be given. `settled(venue, account)`, where answers are settled in the background, waits
    until what earlier answers taught that account is in the store. Contract sizes completed on the store's
    prices are those of the book the request reaches (`facts_of`)."""
    with facts_of(parsed.environment):
        return await _decided(parsed, policy, store, decision_id, settled)


async def _decided(parsed: ParsedRequest, policy: Policy, store: StateStore, decision_id: str,
                   settled: Callable[[str, str | None], Awaitable[None]] | None) -> Evaluation:
    parsed = with_holder(parsed, policy)
    if parsed.action is Action.READ:
        return Evaluation(engine.decide(decision_id, policy, []), False, parsed=parsed)
    if settled is not None:
        await settled(parsed.venue, parsed.state_account)
    query = engine.view_query(parsed, policy)
    light = store.cached_view(query) if engine.light_view_suffices(parsed, policy) else None
    if light is not None:
        # one step with a shared store: planned on the trading states and prices it last read, reserved with
        # both read again; only if they changed (or the plan blocks on them) is the request planned again below
        plan = engine.plan(parsed, policy, light, decision_id)
        if plan.needs_store and plan.reservation is not None:
            seen, current = await store.reserve_seen(plan.reservation, light)
            if current:
                return await _concluded(store, plan, policy, seen)
            if seen.committed and plan.reservation.pending:
                await store.release(decision_id)
    try:
        view = await store.view(query)
        wider = engine.wider_query(query, view)
        if wider is not None:
            view = await store.view(wider)
    except StateUnavailable:
        # the store cannot answer, but a rule that needs no state may already refuse the order: answer with
        # that rule, which a client will not retry, rather than with the outage, which it would (orders that only
        # reduce are the caller's to let through)
        if parsed.intents and all(i.only_reduces for i in parsed.intents):
            raise
        plan = engine.plan(parsed, policy, StateView(), decision_id)
        if plan.request.error is not None and parsed.error is None:
            # what the request left out was the store's to tell (`engine.resolve`): the outage decides it, not a
            # parse failure its message would misname
            raise
        decision = engine.conclude(plan, policy, None)
        if decision.verdict is Verdict.BLOCK and decision.deciding and decision.deciding.reason in STATELESS:
            return Evaluation(decision, False, None, parsed)
        raise
    plan = engine.plan(parsed, policy, view, decision_id)
    outcome = await store.reserve(plan.reservation) if plan.needs_store and plan.reservation else None
    if plan.exemption_refused(outcome):
        # a reduction the view saw covered was not when the store checked (another order reduced first): decide
        # the request again as an ordinary order, every limit applied
        plan = engine.plan(parsed, policy, view, decision_id, exempt_reductions=False)
        outcome = await store.reserve(plan.reservation) if plan.needs_store and plan.reservation else None
    return await _concluded(store, plan, policy, outcome)


async def _concluded(store: StateStore, plan: engine.Plan, policy: Policy,
                     outcome: ReserveOutcome | None) -> Evaluation:
    decision = engine.conclude(plan, policy, outcome)
    reserved = bool(outcome and outcome.committed and plan.reservation and plan.reservation.pending)
    if reserved and decision.verdict is Verdict.BLOCK:  # pragma: no cover - conclude never blocks a commit
        await store.release(plan.decision_id)
        reserved = False
    # the request as planned: completed with what the store knew (`engine.resolve`), which its answer is read by
    return Evaluation(decision, reserved, outcome, plan.request)


def held_by(facts: ResponseFacts, parsed: ParsedRequest) -> ResponseFacts:
    """The facts an adapter read (under the key's fingerprint) as the state of the request's holder, without
    those that name no symbol a venue could have (`sound_facts`): every answer and stream event passes here."""
    facts = sound_facts(facts)
    if parsed.environment and facts.prices:
        # a testnet's or demo's prices are that book's, kept apart from production's (`priced_symbol`)
        facts = replace(facts, prices=tuple(replace(price, symbol=priced_symbol(price.symbol, parsed.environment))
                                            for price in facts.prices))
    holder, key = parsed.holder, parsed.account
    if holder is None or holder == key:
        return facts

    def move(items: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(replace(item, account=holder) if getattr(item, "account", None) == key else item
                     for item in items)

    return replace(facts, orders=move(facts.orders), positions=move(facts.positions),
                   open_orders=tuple(replace(s, account=holder, orders=move(s.orders))
                                     if s.account == key else s for s in facts.open_orders),
                   closed=move(facts.closed), equity=move(facts.equity), modes=move(facts.modes),
                   amended=move(facts.amended))


def release_delay_ms(venue: Venue, status: int | None, body: bytes = b"") -> int:
    """After the venue's answer: release what is left of a reservation now, or hold it while the order's fate
    is unknown (`refusals.fate_unknown`: no answer, 408, 5xx, or a code such as OKX's 50004 "does not indicate
    success or failure", whatever the status)."""
    return UNANSWERED_HOLD_MS if fate_unknown(venue, status, body) else 0


async def learn_answer(store: StateStore, adapter: VenueAdapter, parsed: ParsedRequest, request: HttpRequest,
                       status: int | None, body: bytes, decision_id: str, reserved: bool,
                       policy: Policy | None = None, report: bool = True,
                       asked_ms: int | None = None) -> tuple[StormTrip | LossTrip, ...]:
    """What the venue's answer teaches (instruments, fills, positions, prices), then the reservation's end, and
    (given the policy) the orders it refused, counted by the policy's reject-storm rules, and the account equity
    it reported, measured by the policy's daily-loss rules.

    `status` None means no answer came. Legs the venue accepted moved to their orders in `learn`; whatever is
    left of the reservation is released now, or held while the order's fate is unknown. Storms that tripped are
    answered, and (with `report`) logged and counted in the metrics.
    """
    facts = answer_facts(adapter, parsed, request, status, body, decision_id, asked_ms)
    counts = storm_counts(policy, parsed, status, body, decision_id)
    hold_ms = release_delay_ms(parsed.venue, status, body) if reserved else 0
    if reserved and not hold_ms and says_nothing(parsed, status, body, facts, decision_id):
        hold_ms = UNANSWERED_HOLD_MS
    trips = await store.settle(facts, decision_id if reserved else None, hold_ms, counts,
                               daily_losses(policy, parsed, facts))
    if report:
        report_storms(trips)
    return trips


def says_nothing(parsed: ParsedRequest, status: int | None, body: bytes, facts: ResponseFacts,
                 decision_id: str) -> bool:
    """A success answer to a new order that neither shows nor refuses one of its legs: JSON cut short (a
    connection closed early), too deep or too long to read, `{}`, a size that does not read, a batch answer that
    lists fewer legs than were sent. It tells nothing of that order's fate: the venue may have taken it and filled
    it, so what is left of the reservation is held as an unanswered order's is."""
    if status is None or not 200 <= status < 300 or parsed.action is not Action.NEW:
        return False
    if len(parsed.intents) <= 1 and facts.orders:
        return False
    shown = {update.reservation_id for update in facts.orders}
    refused = refused_legs(parsed.venue, parsed, status, body)
    return any(f"{decision_id}:{leg}" not in shown and leg not in refused
               for leg in range(max(len(parsed.intents), 1)))


def with_accepted_amends(facts: ResponseFacts, parsed: ParsedRequest, status: int | None, body: bytes,
                         decision_id: str) -> ResponseFacts:
    """`facts` and, for an amend, the legs the venue accepted: a 2xx answer, less the legs it refused
    (`venues.refusals`). An answer whose fate is unknown (none, 408, 5xx) confirms nothing: its reservation is held
    instead. A leg the answer's own order updates took already is gone from the store, which then changes nothing."""
    if parsed.action is not Action.AMEND or status is None or not 200 <= status < 300 or parsed.state_account is None:
        return facts
    refused = set(refused_legs(parsed.venue, parsed, status, body))
    accepted = tuple(AmendAccepted(parsed.venue, parsed.state_account, f"{decision_id}:{index}")
                     for index in range(len(parsed.intents)) if index not in refused)
    return replace(facts, amended=facts.amended + accepted) if accepted else facts


def daily_losses(policy: Policy | None, parsed: ParsedRequest, facts: ResponseFacts) -> tuple[LossCheck, ...]:
    """What the store must measure of the equity an answer (or stream event) reported, already `held_by` the
    request's holder, for the policy's daily-loss rules. Nothing without such a rule."""
    if policy is None or not facts.equity or not policy.has_daily_losses:
        return ()
    return engine.loss_checks(policy, parsed.venue, parsed.account, facts.equity)


def storm_counts(policy: Policy | None, parsed: ParsedRequest, status: int | None, body: bytes,
                 decision_id: str) -> tuple[RejectCount, ...]:
    """What the store must count of this answer for the policy's reject-storm rules: the legs of a forwarded new
    order or amend the venue refused (`venues.refusals`). Nothing without such a rule, so the answer is not read
    twice for a policy that has none."""
    if policy is None or not parsed.action.adds_orders or not policy.has_reject_storms:
        return ()
    refused = refused_legs(parsed.venue, parsed, status, body)
    if refused and authentication_refused(parsed.venue, status, body):
        return ()  # anyone who knows the key can have it refused so: not the key holder's storm
    return engine.reject_counts(parsed, policy, refused, decision_id)


def report_storms(trips: tuple[StormTrip | LossTrip, ...]) -> None:
    """One `reject_storm` (or `daily_loss`) line and one metric increment per storm (or daily loss) that tripped
    (or, in shadow, would have)."""
    for trip in trips:
        if isinstance(trip, LossTrip):
            _report_loss(trip)
            continue
        count = trip.count
        with contextlib.suppress(Exception):
            metrics.reject_storm(count.rule_id, count.scope.venue, str(count.state), count.enforced)
        with contextlib.suppress(Exception):
            _log.warning("reject_storm", rule_id=count.rule_id, venue=count.scope.venue, account=count.scope.account,
                         state=str(count.state), mode="enforce" if count.enforced else "shadow",
                         applied=count.enforced, rejections=trip.rejections, limit=count.limit,
                         window=count.window_text, cool_down_ms=count.cool_down_ms,
                         at=engine.utc_text(trip.at_ms), until=engine.utc_text(trip.until_ms),
                         until_ms=trip.until_ms)


def _report_loss(trip: LossTrip) -> None:
    check = trip.check
    with contextlib.suppress(Exception):
        metrics.daily_loss(check.rule_id, check.scope.venue, str(check.state), check.enforced)
    with contextlib.suppress(Exception):
        _log.warning("daily_loss", rule_id=check.rule_id, venue=check.scope.venue, account=check.scope.account,
                     state=str(check.state), mode="enforce" if check.enforced else "shadow",
                     applied=check.enforced, baseline=str(trip.baseline), equity=str(check.equity),
                     loss=str(trip.loss), limit=str(check.limit), currency=check.currency,
                     at=engine.utc_text(trip.at_ms), until=engine.utc_text(trip.until_ms), until_ms=trip.until_ms)


def answer_facts(adapter: VenueAdapter, parsed: ParsedRequest, request: HttpRequest, status: int | None,
                 body: bytes, decision_id: str, asked_ms: int | None = None) -> ResponseFacts:
    """What an answer teaches, as the state of the request's holder (instrument sizes are learned at once:
    they live in the process, not in the store). `asked_ms`, the wall-clock time the request came in, stamps the
    positions and open-order listings it reports: the store does not let them undo what it learned since."""
    if status is None:
        return ResponseFacts()
    with facts_of(parsed.environment):  # a testnet's or demo book's listing is that book's
        facts = adapter.parse_response(parsed, request, status, body, decision_id)
    if facts.instruments:
        CATALOG.learn(facts.instruments, parsed.environment)
    if parsed.action is Action.CANCEL_ALL and facts.open_orders:
        facts = replace(facts, open_orders=tuple(replace(s, cancelled=True) for s in facts.open_orders))
    return with_accepted_amends(held_by(stamped(facts, asked_ms), parsed), parsed, status, body, decision_id)


def stamped(facts: ResponseFacts, asked_ms: int | None) -> ResponseFacts:
    """`facts` stamped with when they were asked (a REST read's arrival; a stream's push, when it came): a store
    does not let the positions and listings they report undo what it learned since, ends the holds of orders of
    unknown fate with a position read asked long enough after, and tells whether a position read it learned could
    already hold an order's fill."""
    if asked_ms is None or not (facts.orders or facts.positions or facts.open_orders):
        return facts
    if not (facts.positions or facts.open_orders):
        return replace(facts, asked_ms=asked_ms)
    return replace(
        facts, asked_ms=asked_ms,
        positions=tuple(replace(p, asked_ms=asked_ms) for p in facts.positions),
        open_orders=tuple(replace(s, asked_ms=asked_ms) for s in facts.open_orders))


def fail_decision(
    parsed: ParsedRequest | None, method: str, decision_id: str, policy: Policy | None, reason: Reason,
    rule_id: str, **context: object,
) -> Decision:
    """When the firewall cannot decide: pass only what cannot add risk, block everything else."""
    harmless = cannot_add_risk(parsed) if parsed is not None else method.upper() in ("GET", "HEAD", "OPTIONS")
    if harmless:
        return engine.decide(decision_id, policy, [])
    violation = Violation(rule_id, reason, tuple((k, str(v)) for k, v in context.items()))
    # monitor mode must not turn a broken firewall into an open door: failures always block
    revision = policy.revision if policy else "none"
    return Decision(Verdict.BLOCK, decision_id, revision, (violation,))


def cannot_add_risk(parsed: ParsedRequest) -> bool:
    if parsed.action.never_blocked:
        return True
    if parsed.error is not None or not parsed.action.adds_orders:
        return False
    return bool(parsed.intents) and all(i.only_reduces for i in parsed.intents)
