"""Prometheus metrics: every metric the sidecar exports, on its own registry, behind plain functions.

The addon, the store guard and the admin endpoint call the functions below; nothing else touches
prometheus_client. The registry is this module's own (not prometheus_client's global one), so importing a
library that registers metrics globally adds nothing to `/metrics`, and tests can start from zero with
`reset()`.

Metric                                        type       labels
riskwall_decisions_total                      counter    venue, action, verdict, rule, reason
riskwall_decision_latency_seconds             histogram  venue
riskwall_proxied_requests_total               counter    venue
riskwall_egress_refused_total                 counter    -
riskwall_state_store_errors_total             counter    kind (timeout | unavailable | circuit_open | other)
riskwall_state_store_circuit_open             gauge      -
riskwall_policy_reloads_total                 counter    result (ok | failed)
riskwall_policy_last_reload_ok                gauge      -
riskwall_policy_last_reload_timestamp_seconds gauge      -
riskwall_policy_info                          info       revision
riskwall_limit_usage_ratio                    gauge      rule, venue, account
riskwall_limit_usage_timestamp_seconds        gauge      rule, venue, account
riskwall_trading_state                        gauge      scope, state
riskwall_reject_storms_total                  counter    rule, venue, state, mode (enforce | shadow)
riskwall_daily_losses_total                   counter    rule, venue, state, mode (enforce | shadow)
plus process_* and python_* (CPU, memory, file descriptors, GC) from prometheus_client's own collectors.

Labels never carry what a caller passes unchecked: every value is matched against the closed set or the
strict pattern it belongs to (venue ids, actions, verdicts, reason codes, rule ids that a loaded policy
defined or riskwall's own `riskwall.*` ids, 12-hex-digit account fingerprints, state-scope texts) and is
replaced by `other` (or `none`/`unknown`) when it does not fit. An API key, a signature or a free-form error
message therefore cannot become a label, and label cardinality stays bounded: accounts and trading-state
scopes are capped in number too.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

from riskwall.model import Action, DuplicateCheck, Reason, ReductionCheck, Venue, Violation, is_fingerprint

if TYPE_CHECKING:  # the store guard imports this module: no import of riskwall.state at run time
    from riskwall.state.base import CheckResult

OTHER = "other"
NONE = "none"
UNKNOWN = "unknown"

VERDICTS = frozenset({"allow", "block", "would_block"})
STORE_ERROR_KINDS = ("timeout", "unavailable", "circuit_open", "lost", OTHER)
# Decisions take tens to hundreds of microseconds in memory, a few milliseconds against Redis; the breaker's
# per-call budget is 50 ms, so the top buckets show a store that is slow but not yet down.
LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

# the classic text format every scraper reads (Prometheus 2 and 3, the OpenTelemetry collector, Vector, ...);
# prometheus_client's CONTENT_TYPE_LATEST says version=1.0.0, which older scrapers do not know
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

MAX_ACCOUNTS = 100
# label sets a metric function remembers with their series (past this, further ones are looked up each time)
MAX_CACHED_SERIES = 4096
MAX_SCOPES = 256
MAX_RULES = 1024

# `*_created` series double the output and no dashboard or alert here reads them. prometheus_client keeps
# this switch process-wide; this module owns every metric in the process, so it may flip it.
disable_created_metrics()

_VENUES = frozenset(v.value for v in Venue)
_ACTIONS = frozenset(a.value for a in Action)
_REASONS = frozenset(r.value for r in Reason)
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")  # policy/model.py RULE_ID
# rules riskwall itself owns (engine.RULE_*, the egress refusal): code constants, so a pattern is enough
_BUILTIN_RULE = re.compile(r"^riskwall\.[a-z][a-z-]{0,39}$")
# policy/loader.py policy_revision: a git commit, a content hash, or `<commit>+<content hash>`
_REVISION = re.compile(r"^[0-9a-f]{6,64}(\+[0-9a-f]{6,64})?$|^none$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9_./:-]{0,31}$")
_STATES = frozenset({"ACTIVE", "REDUCING", "HALTED"})


class Metrics:
    """One registry and its metrics. The module keeps one instance; `reset()` swaps in a fresh one."""

    def __init__(self, *, process_collectors: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "riskwall_decisions_total", "Order-related requests decided, by outcome and deciding rule.",
            ("venue", "action", "verdict", "rule", "reason"), registry=r,
        )
        self.latency = Histogram(
            "riskwall_decision_latency_seconds", "Time from a request reaching the firewall to its verdict.",
            ("venue",), buckets=LATENCY_BUCKETS_S, registry=r,
        )
        self.proxied_requests = Counter(
            "riskwall_proxied_requests_total", "Requests to a venue seen by the firewall (reads included).",
            ("venue",), registry=r,
        )
        self.egress_refused = Counter(
            "riskwall_egress_refused_total",
            "Requests and tunnels refused because their host is no venue (egress allowlist).", registry=r,
        )
        self.store_errors = Counter(
            "riskwall_state_store_errors_total", "State-store calls that failed, by kind.", ("kind",), registry=r,
        )
        self.circuit_open = Gauge(
            "riskwall_state_store_circuit_open",
            "1 while the state store's circuit breaker is open (risk-adding orders are blocked), else 0.",
            registry=r,
        )
        self.reloads = Counter(
            "riskwall_policy_reloads_total", "Policy reloads after startup, by result.", ("result",), registry=r,
        )
        self.last_reload_ok = Gauge(
            "riskwall_policy_last_reload_ok",
            "1 when the last policy load or reload succeeded; 0 when it failed and the previous policy stays.",
            registry=r,
        )
        self.last_reload_ts = Gauge(
            "riskwall_policy_last_reload_timestamp_seconds", "Unix time of the last policy load or reload attempt.",
            registry=r,
        )
        self.policy_info = Info("riskwall_policy", "The policy in force.", registry=r)
        self.limit_usage = Gauge(
            "riskwall_limit_usage_ratio",
            "Observed value over the limit (1 = at the limit) at the account's last checked order.",
            ("rule", "venue", "account"), registry=r,
        )
        self.limit_usage_ts = Gauge(
            "riskwall_limit_usage_timestamp_seconds", "Unix time riskwall_limit_usage_ratio was last set.",
            ("rule", "venue", "account"), registry=r,
        )
        self.trading_state = Gauge(
            "riskwall_trading_state", "Trading states set through the kill switch (1 per scope in that state).",
            ("scope", "state"), registry=r,
        )
        self.reject_storms = Counter(
            "riskwall_reject_storms_total",
            "Reject storms tripped: the venue refused a reject_storm rule's limit of an account's orders within its "
            "window, so the account went REDUCING or HALTED for the cool-down (mode shadow: it would have).",
            ("rule", "venue", "state", "mode"), registry=r,
        )
        self.daily_losses = Counter(
            "riskwall_daily_losses_total",
            "Daily-loss trips: an account's equity fell more than a max_daily_loss rule's limit below the day's "
            "first, so the account went REDUCING or HALTED until the next UTC day (mode shadow: it would have).",
            ("rule", "venue", "state", "mode"), registry=r,
        )
        if process_collectors:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        # counters alerts take increase() of must exist before their first increment
        for result in ("ok", "failed"):
            self.reloads.labels(result)
        for kind in STORE_ERROR_KINDS:
            self.store_errors.labels(kind)
        self.circuit_open.set(0)
        self.policy_info.info({"revision": NONE})

        self._lock = threading.Lock()
        self.known_rules: set[str] = set()
        self.current_rules: frozenset[str] | None = None
        self.accounts: set[str] = set()
        self.usage_series: set[tuple[str, str, str]] = set()
        self.state_series: set[tuple[str, str]] = set()
        # the labelled series each decision and usage updates, found once per set of label values (prometheus_client
        # checks and looks up the labels on every `labels()` call): decision() by its arguments as given, emptied
        # when the known rules change (a rule id's label depends on them); limit_usage() by its labels, an entry
        # dropped with the series it holds
        self.decision_series: dict[tuple[object, ...], tuple[Any, Any]] = {}
        self.usage_gauges: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        # limit_usage()'s gauges by its arguments as given, emptied whenever the known rules change (as
        # decision_series is): the labels they map to depend on them
        self.usage_by_args: dict[tuple[str, str | None, str | None], tuple[Any, Any]] = {}
        self.proxied_series: dict[str | None, Any] = {}  # proxied() by its argument


_metrics = Metrics()


def reset(*, process_collectors: bool = True) -> Metrics:
    """Start over with a fresh registry (tests; never while serving)."""
    global _metrics
    _metrics = Metrics(process_collectors=process_collectors)
    return _metrics


def current() -> Metrics:
    return _metrics


# ---- what the firewall reports --------------------------------------------------------------------------


def decision(venue: str | None, action: str | None, verdict: str, rule: str | None, reason: str | None,
             latency_s: float) -> None:
    """One decided order-related request. `rule`/`reason` are the deciding violation's (None on allow)."""
    m = _metrics
    key = (venue, action, verdict, rule, reason)
    series = m.decision_series.get(key)
    if series is None:
        v = _venue(venue)
        series = (m.decisions.labels(v, _action(action), _verdict(verdict), _rule(m, rule), _reason(reason)),
                  m.latency.labels(v))
        if len(m.decision_series) < MAX_CACHED_SERIES:
            m.decision_series[key] = series
    series[0].inc()
    if latency_s >= 0:
        series[1].observe(latency_s)


def proxied(venue: str | None) -> None:
    m = _metrics
    counter = m.proxied_series.get(venue)
    if counter is None:
        counter = m.proxied_requests.labels(_venue(venue))
        if len(m.proxied_series) < MAX_CACHED_SERIES:
            m.proxied_series[venue] = counter
    counter.inc()


def egress_refused() -> None:
    """A request or CONNECT to a host that is no venue, refused by the egress allowlist. The host is logged,
    not a label: it is whatever the client asked for."""
    _metrics.egress_refused.inc()


def store_error(kind: str) -> None:
    """A failed store call: `timeout`, `unavailable` (the store raised), `circuit_open` (not even asked) or
    `lost` (the store answered without state it held before: `StateLost`)."""
    _metrics.store_errors.labels(kind if kind in STORE_ERROR_KINDS else OTHER).inc()


def breaker_state(open: bool) -> None:
    _metrics.circuit_open.set(1 if open else 0)


def policy_loaded(revision: str, rule_ids: Iterable[str] = ()) -> None:
    """The policy loaded at startup (not counted as a reload)."""
    m = _metrics
    _set_rules(m, rule_ids)
    m.policy_info.info({"revision": _revision(revision)})
    m.last_reload_ok.set(1)
    m.last_reload_ts.set(time.time())


def policy_reload(ok: bool, revision: str, rule_ids: Iterable[str] | None = None) -> None:
    """A reload attempt. `revision` is the policy in force afterwards: the new one, or the kept one on failure.

    On success give the new policy's rule ids: only ids a loaded policy defined can become a `rule` label,
    and usage series of rules that no longer exist are dropped.
    """
    m = _metrics
    m.reloads.labels("ok" if ok else "failed").inc()
    m.last_reload_ok.set(1 if ok else 0)
    m.last_reload_ts.set(time.time())
    m.policy_info.info({"revision": _revision(revision)})
    if ok and rule_ids is not None:
        _set_rules(m, rule_ids)


def limit_usage(rule_id: str, venue: str | None, account: str | None, ratio: float | Decimal) -> None:
    """How close an account is to one limit: observed ÷ limit (0.8 = 80 % used, above 1 = over)."""
    m = _metrics
    try:
        value = float(ratio)
    except (TypeError, ValueError, InvalidOperation):
        return
    if value != value or value < 0:  # NaN or negative: not a usage
        return
    given = (rule_id, venue, account)
    gauges = m.usage_by_args.get(given)
    if gauges is None:
        rule = _rule(m, rule_id)
        if rule in (OTHER, NONE):
            return  # a usage that cannot be attributed to a rule is of no use to an alert
        labels = (rule, _venue(venue), _account(m, account))
        with m._lock:
            m.usage_series.add(labels)
            gauges = m.usage_gauges.get(labels)
            if gauges is None:
                gauges = (m.limit_usage.labels(*labels), m.limit_usage_ts.labels(*labels))
                m.usage_gauges[labels] = gauges  # bounded as usage_series is (rules, venues, accounts are capped)
            if len(m.usage_by_args) < MAX_CACHED_SERIES:
                m.usage_by_args[given] = gauges
    gauges[0].set(value)
    gauges[1].set(time.time())


def limit_usage_from_results(venue: str | None, account: str | None, results: Iterable[CheckResult]) -> None:
    """Usage from a store's reserve outcome (rate and position checks, passed or not): the highest ratio
    per rule, since one rule can check several windows or position sides."""
    highest: dict[str, Decimal] = {}
    for result in results:
        if isinstance(result.check, ReductionCheck):
            continue  # a reduction's bound is the position itself, not a limit of the policy's
        if isinstance(result.check, DuplicateCheck):
            continue  # every order is one of its kind until it repeats: a duplicate's usage comes with its violation
        limit = Decimal(result.check.limit)
        if limit <= 0:
            continue
        ratio = result.observed / limit
        rule_id = result.check.rule_id
        if rule_id not in highest or ratio > highest[rule_id]:
            highest[rule_id] = ratio
    for rule_id, ratio in highest.items():
        limit_usage(rule_id, venue, account, ratio)


def violation_usage(violation: Violation) -> Decimal | None:
    """observed ÷ limit of a limit's violation (`Violation.observed`, `Violation.limit`), when it has both."""
    return _ratio(violation.observed, violation.limit)


def _ratio(observed: Decimal | None, limit: Decimal | None) -> Decimal | None:
    if observed is None or limit is None or not limit.is_finite() or not observed.is_finite() or limit <= 0:
        return None
    return observed / limit


def trading_states(records: Iterable[tuple[str, str]]) -> None:
    """Replace the exported trading states with `records`: (scope text, state) pairs, e.g. from
    `store.trading_states()` as `(r.scope.text, r.state)`. Scopes no longer listed are dropped."""
    m = _metrics
    wanted: set[tuple[str, str]] = set()
    for scope, state in records:
        if len(wanted) >= MAX_SCOPES:
            break
        wanted.add((_scope(scope), str(state) if str(state) in _STATES else OTHER))
    with m._lock:
        stale = m.state_series - wanted
        m.state_series = wanted
    for labels in stale:
        m.trading_state.remove(*labels)
    for labels in wanted:
        m.trading_state.labels(*labels).set(1)


def reject_storm(rule_id: str, venue: str | None, state: str, enforced: bool) -> None:
    """A reject storm tripped (enforced: the account's state changed) or would have (a shadow rule)."""
    m = _metrics
    m.reject_storms.labels(_rule(m, rule_id), _venue(venue), state if state in _STATES else OTHER,
                           "enforce" if enforced else "shadow").inc()


def daily_loss(rule_id: str, venue: str | None, state: str, enforced: bool) -> None:
    """A daily-loss rule tripped (enforced: the account's state changed) or would have (a shadow rule)."""
    m = _metrics
    m.daily_losses.labels(_rule(m, rule_id), _venue(venue), state if state in _STATES else OTHER,
                          "enforce" if enforced else "shadow").inc()


def render() -> tuple[bytes, str]:
    """The exposition text for `GET /metrics` and its content type."""
    return generate_latest(_metrics.registry), CONTENT_TYPE


# ---- label values ---------------------------------------------------------------------------------------


def _venue(venue: str | None) -> str:
    if venue is None:
        return NONE
    return str(venue) if str(venue) in _VENUES else OTHER


def _action(action: str | None) -> str:
    if action is None:
        return NONE
    return str(action) if str(action) in _ACTIONS else OTHER


def _verdict(verdict: str) -> str:
    return str(verdict) if str(verdict) in VERDICTS else OTHER


def _reason(reason: str | None) -> str:
    if reason is None:
        return NONE
    return str(reason) if str(reason) in _REASONS else OTHER


def _rule(m: Metrics, rule: str | None) -> str:
    if rule is None or rule == "":
        return NONE
    if rule in m.known_rules or _BUILTIN_RULE.match(rule):
        return rule
    return OTHER


def _revision(revision: str) -> str:
    return revision if _REVISION.match(revision or "") else OTHER


def _account(m: Metrics, account: str | None) -> str:
    if not is_fingerprint(account):
        return UNKNOWN
    with m._lock:
        if account in m.accounts:
            return account
        if len(m.accounts) >= MAX_ACCOUNTS:
            return OTHER
        m.accounts.add(account)
    return account


def _scope(text: str) -> str:
    """A StateScope text (`global`, `venue=binanceusdm,account=0123456789ab,symbol=BTCUSDT`) or `other`."""
    if text == "global":
        return text
    try:
        fields = dict(part.split("=", 1) for part in text.split(","))
    except ValueError:
        return OTHER
    if set(fields) - {"venue", "account", "symbol"} or fields.get("venue") not in _VENUES:
        return OTHER
    if "account" in fields and not is_fingerprint(fields["account"]):
        return OTHER
    if "symbol" in fields and not _SYMBOL.match(fields["symbol"]):
        return OTHER
    return text


def _set_rules(m: Metrics, rule_ids: Iterable[str]) -> None:
    current = frozenset(r for r in rule_ids if _RULE_ID.match(r))
    with m._lock:
        room = MAX_RULES - len(m.known_rules)
        m.known_rules.update(sorted(current - m.known_rules)[: max(room, 0)])
        m.current_rules = current
        stale = {s for s in m.usage_series if s[0] not in current}
        m.usage_series -= stale
        for labels in stale:
            m.usage_gauges.pop(labels, None)
        m.decision_series.clear()  # a rule id's label may have changed with the known rules
        m.usage_by_args.clear()  # and a usage's series may be gone
    for labels in stale:
        m.limit_usage.remove(*labels)
        m.limit_usage_ts.remove(*labels)


__all__ = [
    "Metrics", "breaker_state", "current", "daily_loss", "decision", "egress_refused", "limit_usage",
    "limit_usage_from_results", "policy_loaded", "policy_reload", "proxied", "reject_storm", "render", "reset",
    "store_error", "trading_states", "violation_usage",
]
