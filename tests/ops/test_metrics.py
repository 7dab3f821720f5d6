"""riskwall.metrics: counters match the calls made, the exposition text parses with Prometheus' own parser,
and no label can carry a secret or grow without bound."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY, Counter
from prometheus_client.parser import text_string_to_metric_families

from riskwall import metrics
from riskwall.model import PositionSide, Reason, Side, Venue, Violation, fingerprint
from riskwall.state.base import CheckResult, DuplicateCheck, ExposureCheck, PositionKey, RateCheck

REVISION = "5f7d0969a702"
RULES = ["order-qty", "order-rate", "position", "leverage"]
ACCOUNT = fingerprint("bench-key")
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"  # Binance-shaped
OKX_KEY = "3f5e2b1c-9a7d-4e8f-b6c5-1d2e3f4a5b6c"  # lower-case, would pass a rule-id pattern
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
REDIS_URL = "redis://:hunter2-password@10.0.0.5:6379/0"
SECRETS = (API_KEY, OKX_KEY, SIGNATURE, REDIS_URL, "hunter2-password")

FAMILIES = {
    "riskwall_decisions", "riskwall_decision_latency_seconds", "riskwall_proxied_requests", "riskwall_egress_refused",
    "riskwall_state_store_errors", "riskwall_state_store_circuit_open", "riskwall_policy_reloads",
    "riskwall_policy_last_reload_ok", "riskwall_policy_last_reload_timestamp_seconds", "riskwall_policy_info",
    "riskwall_limit_usage_ratio", "riskwall_limit_usage_timestamp_seconds", "riskwall_trading_state",
    "riskwall_reject_storms", "riskwall_daily_losses",
}


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    metrics.reset(process_collectors=False)
    yield
    metrics.reset()


def families() -> dict[str, object]:
    text, _ = metrics.render()
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def value(name: str, **labels: str) -> float | None:
    """The value of the one sample called `name` whose labels equal `labels`; None when there is none."""
    text, _ = metrics.render()
    found = [
        s.value for f in text_string_to_metric_families(text.decode()) for s in f.samples
        if s.name == name and s.labels == labels
    ]
    assert len(found) <= 1
    return found[0] if found else None


def riskwall_samples() -> list[tuple[str, dict[str, str], float]]:
    text, _ = metrics.render()
    return [
        (s.name, dict(s.labels), s.value)
        for f in text_string_to_metric_families(text.decode()) if f.name.startswith("riskwall_")
        for s in f.samples
    ]


def record_everything() -> None:
    metrics.policy_loaded(REVISION, RULES)
    metrics.proxied("binanceusdm")
    metrics.egress_refused()
    metrics.decision("binanceusdm", "new", "allow", None, None, 0.0004)
    metrics.decision("binanceusdm", "new", "block", "order-qty", "ORDER_QTY_EXCEEDS_MAX", 0.0007)
    metrics.store_error("timeout")
    metrics.breaker_state(True)
    metrics.policy_reload(False, REVISION)
    metrics.limit_usage("order-rate", "binanceusdm", ACCOUNT, 0.85)
    metrics.trading_states([("global", "HALTED"), (f"venue=binanceusdm,account={ACCOUNT}", "REDUCING")])
    metrics.reject_storm("order-qty", "binanceusdm", "REDUCING", True)
    metrics.daily_loss("order-qty", "binanceusdm", "REDUCING", True)


@pytest.mark.parametrize(("rule", "venue", "state", "enforced", "labels"), [
    ("order-qty", "binanceusdm", "HALTED", True, ("order-qty", "binanceusdm", "HALTED", "enforce")),
    ("order-qty", "okx", "REDUCING", False, ("order-qty", "okx", "REDUCING", "shadow")),
    ("not-a-policy-rule", "nowhere", "SIDEWAYS", True, ("other", "other", "other", "enforce")),
], ids=["enforced", "shadow", "unknown-labels"])
def test_reject_storm_when_recorded_then_counted_under_bounded_labels(
    rule: str, venue: str, state: str, enforced: bool, labels: tuple[str, ...]
) -> None:
    metrics.policy_loaded(REVISION, RULES)

    metrics.reject_storm(rule, venue, state, enforced)

    assert value("riskwall_reject_storms_total", rule=labels[0], venue=labels[1], state=labels[2],
                 mode=labels[3]) == 1


@pytest.mark.parametrize(("rule", "venue", "state", "enforced", "labels"), [
    ("order-qty", "bybit", "REDUCING", True, ("order-qty", "bybit", "REDUCING", "enforce")),
    ("order-qty", "okx", "HALTED", False, ("order-qty", "okx", "HALTED", "shadow")),
    ("not-a-policy-rule", "nowhere", "SIDEWAYS", True, ("other", "other", "other", "enforce")),
], ids=["enforced", "shadow", "unknown-labels"])
def test_daily_loss_when_recorded_then_counted_under_bounded_labels(
    rule: str, venue: str, state: str, enforced: bool, labels: tuple[str, ...]
) -> None:
    metrics.policy_loaded(REVISION, RULES)

    metrics.daily_loss(rule, venue, state, enforced)

    assert value("riskwall_daily_losses_total", rule=labels[0], venue=labels[1], state=labels[2],
                 mode=labels[3]) == 1


def test_decision_when_recorded_then_counter_and_histogram_match_calls() -> None:
    metrics.policy_loaded(REVISION, RULES)
    for _ in range(3):
        metrics.decision("binanceusdm", "new", "allow", None, None, 0.0002)
    metrics.decision("binanceusdm", "new", "block", "order-qty", "ORDER_QTY_EXCEEDS_MAX", 0.003)
    metrics.decision("binanceusdm", "new", "block", "order-qty", "ORDER_QTY_EXCEEDS_MAX", 0.004)
    metrics.decision("binanceusdm", "cancel", "allow", None, None, 0.0001)
    metrics.decision("binanceusdm", "set_leverage", "would_block", "leverage", "LEVERAGE_EXCEEDS_MAX", 0.001)

    allow = dict(venue="binanceusdm", action="new", verdict="allow", rule="none", reason="none")
    block = dict(venue="binanceusdm", action="new", verdict="block", rule="order-qty", reason="ORDER_QTY_EXCEEDS_MAX")
    assert value("riskwall_decisions_total", **allow) == 3
    assert value("riskwall_decisions_total", **block) == 2
    assert value("riskwall_decisions_total", venue="binanceusdm", action="cancel", verdict="allow", rule="none",
                 reason="none") == 1
    assert value("riskwall_decisions_total", venue="binanceusdm", action="set_leverage", verdict="would_block",
                 rule="leverage", reason="LEVERAGE_EXCEEDS_MAX") == 1
    assert value("riskwall_decision_latency_seconds_count", venue="binanceusdm") == 7
    assert value("riskwall_decision_latency_seconds_sum", venue="binanceusdm") == pytest.approx(0.0087)
    assert value("riskwall_decision_latency_seconds_bucket", venue="binanceusdm", le="0.00025") == 4
    assert value("riskwall_decision_latency_seconds_bucket", venue="binanceusdm", le="0.0025") == 5
    assert value("riskwall_decision_latency_seconds_bucket", venue="binanceusdm", le="+Inf") == 7


def test_proxied_when_counted_then_per_venue_totals_match() -> None:
    for _ in range(5):
        metrics.proxied("binanceusdm")
    metrics.proxied("bybit")
    metrics.proxied("example.com")

    assert value("riskwall_proxied_requests_total", venue="binanceusdm") == 5
    assert value("riskwall_proxied_requests_total", venue="bybit") == 1
    assert value("riskwall_proxied_requests_total", venue="other") == 1


def test_egress_refused_when_counted_then_total_matches_and_carries_no_host_label() -> None:
    for _ in range(3):
        metrics.egress_refused()

    assert value("riskwall_egress_refused_total") == 3


def test_render_when_every_metric_set_then_text_parses_with_prometheus_parser() -> None:
    record_everything()

    text, content_type = metrics.render()
    parsed = {f.name: f for f in text_string_to_metric_families(text.decode())}

    assert content_type.startswith("text/plain; version=0.0.4")
    assert set(parsed) == FAMILIES
    assert parsed["riskwall_decisions"].type == "counter"
    assert parsed["riskwall_decision_latency_seconds"].type == "histogram"
    assert parsed["riskwall_limit_usage_ratio"].type == "gauge"
    assert value("riskwall_policy_info", revision=REVISION) == 1


def test_render_when_process_collectors_on_then_process_and_python_metrics_exported() -> None:
    metrics.reset()

    names = set(families())

    assert "python_info" in names
    assert "process_resident_memory_bytes" in names  # Linux: read from /proc


def test_render_when_global_registry_has_metrics_then_only_riskwall_registry_exported() -> None:
    stray = Counter("riskwall_test_global_stray_total", "registered on prometheus_client's global registry")
    try:
        stray.inc()
        text, _ = metrics.render()
    finally:
        REGISTRY.unregister(stray)

    assert b"riskwall_test_global_stray" not in text


def test_labels_when_callers_pass_secrets_then_no_label_carries_them() -> None:
    metrics.policy_loaded(REVISION, RULES)
    for secret in SECRETS:
        metrics.decision(secret, secret, secret, secret, secret, 0.001)
        metrics.decision("binanceusdm", "new", "block", secret, "ORDER_QTY_EXCEEDS_MAX", 0.001)
        metrics.proxied(secret)
        metrics.store_error(secret)
        metrics.limit_usage("order-rate", secret, secret, 0.5)
        metrics.limit_usage(secret, "binanceusdm", ACCOUNT, 0.5)
        metrics.policy_reload(False, secret)
        metrics.trading_states([(secret, secret), (f"venue=binanceusdm,account={secret}", "HALTED")])

    text, _ = metrics.render()

    for secret in SECRETS:
        assert secret.encode() not in text
    assert b"hunter2" not in text


LABEL_VALUES = {
    "venue": {v.value for v in Venue} | {"other", "none"},
    "action": {"new", "amend", "cancel", "cancel_all", "set_leverage", "set_margin_mode", "set_position_mode",
               "read", "forbidden", "unknown", "other", "none"},
    "verdict": {"allow", "block", "would_block", "other"},
    "reason": {r.value for r in Reason} | {"other", "none"},
    "kind": {"timeout", "unavailable", "circuit_open", "lost", "other"},
    "result": {"ok", "failed"},
    "state": {"ACTIVE", "REDUCING", "HALTED", "other"},
}
LABEL_PATTERNS = {
    "account": re.compile(r"^([0-9a-f]{12}|unknown|other)$"),
    "rule": re.compile(r"^([a-z0-9][a-z0-9_.-]{0,63}|none|other)$"),
    "revision": re.compile(r"^([0-9a-f]{6,64}(\+[0-9a-f]{6,64})?|none|other)$"),
    "scope": re.compile(r"^(global|other|venue=[a-z]+(,account=[0-9a-f]{12})?(,symbol=[A-Z0-9_./:-]+)?)$"),
    "le": re.compile(r"^([0-9.e+-]+|\+Inf)$"),
}


@pytest.mark.parametrize("junk", [*SECRETS, "", "x" * 500, "a=b,c=d", "venue=binanceusdm,symbol=btc usdt", "\n"])
def test_labels_when_callers_pass_junk_then_every_label_value_is_from_its_closed_set_or_pattern(junk: str) -> None:
    metrics.policy_loaded(REVISION, RULES)
    metrics.decision(junk, junk, junk, junk, junk, 0.001)
    metrics.proxied(junk)
    metrics.store_error(junk)
    metrics.limit_usage("order-rate", junk, junk, 0.5)
    metrics.policy_reload(False, junk)
    metrics.trading_states([(junk, junk)])

    samples = riskwall_samples()

    assert samples
    for name, labels, _ in samples:
        for key, label in labels.items():
            if key in LABEL_VALUES:
                assert label in LABEL_VALUES[key], (name, key, label)
            else:
                assert LABEL_PATTERNS[key].match(label), (name, key, label)


def test_rule_label_when_reload_names_ids_the_policy_loader_refuses_then_they_never_become_labels() -> None:
    bad_ids = ["Not A Rule", API_KEY, "x" * 65, "-leading-dash"]
    metrics.policy_reload(True, REVISION, [*RULES, *bad_ids])

    for rule in bad_ids:
        metrics.decision("binanceusdm", "new", "block", rule, "SYMBOL_NOT_ALLOWED", 0.001)
        metrics.limit_usage(rule, "binanceusdm", ACCOUNT, 0.5)

    text, _ = metrics.render()
    assert all(rule.encode() not in text for rule in bad_ids)
    assert value("riskwall_decisions_total", venue="binanceusdm", action="new", verdict="block", rule="other",
                 reason="SYMBOL_NOT_ALLOWED") == len(bad_ids)


def test_rule_label_when_rule_not_in_a_loaded_policy_then_other_but_builtin_rules_kept() -> None:
    metrics.policy_loaded(REVISION, RULES)

    metrics.decision("binanceusdm", "new", "block", "not-in-policy", "SYMBOL_NOT_ALLOWED", 0.001)
    metrics.decision("binanceusdm", "new", "block", "riskwall.state-store", "STATE_UNAVAILABLE", 0.001)
    metrics.decision("binanceusdm", "new", "block", "riskwall.known-accounts", "UNKNOWN_ACCOUNT", 0.001)

    assert value("riskwall_decisions_total", venue="binanceusdm", action="new", verdict="block", rule="other",
                 reason="SYMBOL_NOT_ALLOWED") == 1
    assert value("riskwall_decisions_total", venue="binanceusdm", action="new", verdict="block",
                 rule="riskwall.state-store", reason="STATE_UNAVAILABLE") == 1
    assert value("riskwall_decisions_total", venue="binanceusdm", action="new", verdict="block",
                 rule="riskwall.known-accounts", reason="UNKNOWN_ACCOUNT") == 1


def test_account_label_when_more_accounts_than_the_cap_then_extra_accounts_share_other() -> None:
    metrics.policy_loaded(REVISION, RULES)
    accounts = [fingerprint(f"key-{i}") for i in range(metrics.MAX_ACCOUNTS + 10)]

    for account in accounts:
        metrics.limit_usage("order-rate", "binanceusdm", account, 0.1)

    labels = {s[1]["account"] for s in riskwall_samples() if s[0] == "riskwall_limit_usage_ratio"}
    assert len(labels) == metrics.MAX_ACCOUNTS + 1
    assert "other" in labels
    assert set(accounts[: metrics.MAX_ACCOUNTS]) <= labels


def test_policy_reload_when_failed_then_failed_counted_last_ok_zero_and_kept_revision_shown() -> None:
    metrics.policy_loaded(REVISION, RULES)
    assert value("riskwall_policy_reloads_total", result="failed") == 0  # exists before the first failure
    assert value("riskwall_policy_last_reload_ok") == 1

    metrics.policy_reload(False, REVISION)

    assert value("riskwall_policy_reloads_total", result="failed") == 1
    assert value("riskwall_policy_reloads_total", result="ok") == 0
    assert value("riskwall_policy_last_reload_ok") == 0
    assert value("riskwall_policy_info", revision=REVISION) == 1

    metrics.policy_reload(True, "aaaaaaaaaaaa", RULES)

    assert value("riskwall_policy_reloads_total", result="ok") == 1
    assert value("riskwall_policy_last_reload_ok") == 1
    assert value("riskwall_policy_info", revision="aaaaaaaaaaaa") == 1
    assert value("riskwall_policy_info", revision=REVISION) is None


@pytest.mark.parametrize("revision", ["4b742d15da93", "dde01f190c8b", "dde01f190c8b+4b742d15da93"])
def test_policy_loaded_when_revision_is_commit_hash_or_both_then_info_shows_it(revision: str) -> None:
    metrics.policy_loaded(revision, RULES)

    assert value("riskwall_policy_info", revision=revision) == 1


def test_policy_reload_when_rule_removed_then_its_usage_series_dropped() -> None:
    metrics.policy_loaded(REVISION, RULES)
    metrics.limit_usage("order-rate", "binanceusdm", ACCOUNT, 0.5)
    metrics.limit_usage("position", "binanceusdm", ACCOUNT, 0.25)

    metrics.policy_reload(True, "bbbbbbbbbbbb", ["position"])

    assert value("riskwall_limit_usage_ratio", rule="order-rate", venue="binanceusdm", account=ACCOUNT) is None
    assert value("riskwall_limit_usage_ratio", rule="position", venue="binanceusdm", account=ACCOUNT) == 0.25


def test_limit_usage_when_rule_dropped_and_back_then_its_usage_exported_again_and_dropped_again() -> None:
    metrics.policy_loaded(REVISION, RULES)
    metrics.limit_usage("order-rate", "binanceusdm", ACCOUNT, 0.5)
    metrics.policy_reload(True, "bbbbbbbbbbbb", ["position"])
    metrics.policy_reload(True, "cccccccccccc", RULES)

    metrics.limit_usage("order-rate", "binanceusdm", ACCOUNT, 0.25)

    assert value("riskwall_limit_usage_ratio", rule="order-rate", venue="binanceusdm", account=ACCOUNT) == 0.25
    metrics.policy_reload(True, "dddddddddddd", ["position"])
    assert value("riskwall_limit_usage_ratio", rule="order-rate", venue="binanceusdm", account=ACCOUNT) is None


def test_breaker_state_when_opened_then_closed_then_gauge_follows() -> None:
    assert value("riskwall_state_store_circuit_open") == 0

    metrics.breaker_state(True)
    assert value("riskwall_state_store_circuit_open") == 1

    metrics.breaker_state(False)
    assert value("riskwall_state_store_circuit_open") == 0


def test_store_error_when_counted_then_each_kind_totals_and_unknown_kinds_are_other() -> None:
    for _ in range(4):
        metrics.store_error("timeout")
    metrics.store_error("circuit_open")
    metrics.store_error("ConnectionError: Error 111 connecting to 10.0.0.5:6379")

    assert value("riskwall_state_store_errors_total", kind="timeout") == 4
    assert value("riskwall_state_store_errors_total", kind="circuit_open") == 1
    assert value("riskwall_state_store_errors_total", kind="unavailable") == 0
    assert value("riskwall_state_store_errors_total", kind="other") == 1


def test_limit_usage_when_set_then_ratio_and_timestamp_exported_and_unusable_values_ignored() -> None:
    metrics.policy_loaded(REVISION, RULES)

    metrics.limit_usage("order-rate", "binanceusdm", ACCOUNT, Decimal("0.85"))
    metrics.limit_usage("order-rate", "binanceusdm", ACCOUNT, float("nan"))
    metrics.limit_usage("order-rate", "binanceusdm", ACCOUNT, -1)

    assert value("riskwall_limit_usage_ratio", rule="order-rate", venue="binanceusdm", account=ACCOUNT) == 0.85
    stamp = value("riskwall_limit_usage_timestamp_seconds", rule="order-rate", venue="binanceusdm", account=ACCOUNT)
    assert stamp is not None and stamp > 1_600_000_000


def test_limit_usage_from_results_when_duplicate_check_passed_or_failed_then_no_usage_from_it() -> None:
    # every order is one of a kind until it repeats: a duplicate's usage (2 of 1) comes with its violation only
    metrics.policy_loaded(REVISION, [*RULES, "duplicates"])
    check = DuplicateCheck("duplicates", Venue.BINANCEUSDM, ACCOUNT, "f00d", 1000, True)

    metrics.limit_usage_from_results("binanceusdm", ACCOUNT, [CheckResult(check, Decimal(1), True),
                                                              CheckResult(check, Decimal(2), False)])

    assert value("riskwall_limit_usage_ratio", rule="duplicates", venue="binanceusdm", account=ACCOUNT) is None


def test_limit_usage_from_results_when_several_windows_and_sides_then_highest_ratio_per_rule() -> None:
    metrics.policy_loaded(REVISION, RULES)
    key = PositionKey(Venue.BINANCEUSDM, ACCOUNT, "BTCUSDT", PositionSide.BOTH)
    results = [
        CheckResult(RateCheck("order-rate", "k", 10, 1000, 1, True), Decimal(9), True),
        CheckResult(RateCheck("order-rate", "k", 300, 10_000, 1, True), Decimal(30), True),
        CheckResult(ExposureCheck("position", key, Side.BUY, Decimal("0.2"), Decimal("1"), True), Decimal("0.4"),
                    True),
        CheckResult(ExposureCheck("position", key, Side.SELL, Decimal("0.2"), Decimal("1"), True), Decimal("1.5"),
                    False),
    ]

    metrics.limit_usage_from_results("binanceusdm", ACCOUNT, results)

    assert value("riskwall_limit_usage_ratio", rule="order-rate", venue="binanceusdm", account=ACCOUNT) == 0.9
    assert value("riskwall_limit_usage_ratio", rule="position", venue="binanceusdm", account=ACCOUNT) == 1.5


@pytest.mark.parametrize(
    ("violation", "expected"),
    [
        (Violation.of("order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, qty=Decimal(5), max_qty=Decimal("0.5")),
         Decimal(10)),
        (Violation.of("leverage", Reason.LEVERAGE_EXCEEDS_MAX, leverage=50, max_leverage=20), Decimal("2.5")),
        (Violation.of("order-rate", Reason.ORDER_RATE_EXCEEDED, orders=11, limit=10, window_ms=1000),
         Decimal("1.1")),
        (Violation.of("symbols", Reason.SYMBOL_NOT_ALLOWED, symbol="DOGEUSDT"), None),
        (Violation.of("order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, qty=Decimal(5)), None),
        (Violation.of("duplicates", Reason.DUPLICATE_ORDER, orders=2, limit=1, window_ms=1000, ago_ms=40,
                      duplicate_of="d1"), Decimal(2)),
        (Violation.of("open-orders", Reason.OPEN_ORDERS_EXCEED_MAX, open_orders=51, max_open_orders=50,
                      scope="symbol", symbol="BTCUSDT"), Decimal("1.02")),
        # numbers are read from the violation, never from its text: a context alone measures nothing
        (Violation("order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, (("qty", "5"), ("max_qty", "0.5"))), None),
        (Violation("order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, (), None, Decimal(1), Decimal(0)), None),
        (Violation("order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, (), None, Decimal("NaN"), Decimal(1)), None),
    ],
)
def test_violation_usage_when_violation_carries_observed_and_limit_then_their_ratio(
    violation: Violation, expected: Decimal | None
) -> None:
    assert metrics.violation_usage(violation) == expected


def test_trading_states_when_replaced_then_listed_scopes_exported_and_others_dropped() -> None:
    scope = f"venue=binanceusdm,account={ACCOUNT}"
    metrics.trading_states([("global", "HALTED"), (scope, "REDUCING")])
    assert value("riskwall_trading_state", scope="global", state="HALTED") == 1
    assert value("riskwall_trading_state", scope=scope, state="REDUCING") == 1

    metrics.trading_states([(scope, "REDUCING")])

    assert value("riskwall_trading_state", scope="global", state="HALTED") is None
    assert value("riskwall_trading_state", scope=scope, state="REDUCING") == 1
