"""policy/loader.py: strict YAML → `Policy`, every error at once with file, line and key path."""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from riskwall.model import Venue
from riskwall.policy.loader import Policy, PolicyError, load_policy
from riskwall.policy.model import (
    AccountSpec,
    AllowedSymbols,
    DuplicateOrders,
    MarginModeRule,
    MaxDailyLoss,
    MaxDailyNotional,
    MaxGrossExposure,
    MaxLeverage,
    MaxOrderNotional,
    MaxOrderQty,
    MaxPosition,
    OrderRate,
    OrderTypes,
    PolicyMode,
    PositionLimit,
    PriceCollar,
    RejectStorm,
    Rule,
    SymbolLimitRule,
    SymbolTable,
    TradingStateRule,
    lookup_by_symbol,
)

from .factories import ACCOUNT, OTHER_ACCOUNT, make_policy

REPO = Path(__file__).resolve().parents[2]
INVALID = REPO / "tests" / "fixtures" / "policies" / "invalid"
SHIPPED = REPO / "policies"

SYMBOL_PATTERN_MSG = r"String should match pattern '^[A-Za-z0-9*?\[\]/:_.-]{1,64}$'"
RULE_ID_MSG = r"String should match pattern '^[a-z0-9][a-z0-9_.-]{0,63}$'"
VENUES_MSG = "Input should be 'binanceusdm', 'binancecoinm', 'bybit', 'okx', 'bitmex', 'bitget' or 'bingx'"
RATE_MSG = "rate 'ten per second' does not parse; write COUNT/WINDOW such as 10/1s, 300/10s, 1200/1m"

BUG_MERGE_NO_LINE = (
    "BUG: policy/loader.py _merge() builds folder-level errors (duplicate rule id, mode contradiction, unknown "
    "account label) as '{file}: {path}: ...' without a line number, although the loader promises every error "
    "names file, LINE and key path ('policies/main.yaml:12: rules[2].limits[0]: ...'); _merge has no access to "
    "the per-file line index built by _load_yaml"
)


def fixture(name: str) -> Path:
    return INVALID / name


def load_errors(path: Path) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return caught.value.errors


# One row per kind of invalid policy: (fixture, [exact error lines]); "{F}" is the fixture folder.
INVALID_CASES = [
    pytest.param("unknown_top_level_key.yaml", ["{F}/unknown_top_level_key.yaml:3: limits: unknown key"],
                 id="unknown-top-level-key"),
    pytest.param("unknown_rule_key.yaml", ["{F}/unknown_rule_key.yaml:5: rules[0].max_qty: unknown key"],
                 id="unknown-rule-key"),
    pytest.param("unknown_rule_type.yaml",
                 ["{F}/unknown_rule_type.yaml:2: rules[0]: unknown rule type 'max_order_size'; "
                  "did you mean 'max_order_qty'?"],
                 id="unknown-rule-type"),
    pytest.param("wrong_type_string_for_number.yaml",
                 ["{F}/wrong_type_string_for_number.yaml:4: rules[0].default: Input should be a valid decimal"],
                 id="string-for-number"),
    pytest.param("non_positive_limit.yaml", [
        "{F}/non_positive_limit.yaml:4: rules[0].default: Input should be greater than 0",
        "{F}/non_positive_limit.yaml:6: rules[0].symbols.BTCUSDT: Input should be greater than 0",
    ], id="negative-and-zero-limit"),
    pytest.param("nan_and_inf_limit.yaml", [
        "{F}/nan_and_inf_limit.yaml:4: rules[0].default: Input should be a finite number",
        "{F}/nan_and_inf_limit.yaml:7: rules[1].default: Input should be a finite number",
    ], id="nan-and-inf-limit"),
    pytest.param("rate_does_not_parse.yaml", [f"{{F}}/rate_does_not_parse.yaml:4: rules[0].limits[1]: {RATE_MSG}"],
                 id="rate-does-not-parse"),
    pytest.param("duplicate_rule_id.yaml", [
        "{F}/duplicate_rule_id.yaml:5: rules[1].id: duplicate rule id 'order-qty' "
        "(first in {F}/duplicate_rule_id.yaml)",
    ], id="duplicate-rule-id-one-file"),
    pytest.param("duplicate_rule_id_across_files", [
        "{F}/duplicate_rule_id_across_files/b.yaml:5: rules[1].id: duplicate rule id 'order-qty' "
        "(first in {F}/duplicate_rule_id_across_files/a.yaml)",
    ], id="duplicate-rule-id-two-files"),
    pytest.param("duplicate_yaml_key.yaml", ["{F}/duplicate_yaml_key.yaml:5: rules[0].default: duplicate key"],
                 id="duplicate-yaml-key"),
    pytest.param("unknown_account_label.yaml", [
        "{F}/unknown_account_label.yaml:9: rules[0].scope.accounts[1]: unknown account label 'mian'",
    ], id="unknown-account-label"),
    pytest.param("unknown_venue_in_scope.yaml",
                 [f"{{F}}/unknown_venue_in_scope.yaml:6: rules[0].scope.venues[0]: {VENUES_MSG}"],
                 id="unknown-venue-in-scope"),
    pytest.param("bad_symbol_pattern.yaml",
                 [f"{{F}}/bad_symbol_pattern.yaml:4: rules[0].allow[1]: {SYMBOL_PATTERN_MSG}"],
                 id="bad-symbol-pattern"),
    pytest.param("bad_symbol_pattern_as_key.yaml",
                 [f"{{F}}/bad_symbol_pattern_as_key.yaml:5: rules[0].symbols.ETH USDT: {SYMBOL_PATTERN_MSG}"],
                 id="bad-symbol-pattern-as-key"),
    pytest.param("allowed_symbols_without_allow_or_deny.yaml",
                 ["{F}/allowed_symbols_without_allow_or_deny.yaml:2: rules[0]: give `allow`, `deny` or both"],
                 id="allowed-symbols-without-allow-or-deny"),
    pytest.param("max_position_without_qty_or_notional.yaml", [
        "{F}/max_position_without_qty_or_notional.yaml:4: rules[0].default: give `qty`, `notional` or both",
    ], id="max-position-without-qty-or-notional"),
    pytest.param("price_collar_without_limit.yaml", [
        "{F}/price_collar_without_limit.yaml:2: rules[0]: give `max_deviation_pct`, per-symbol limits under "
        "`symbols`, or both",
    ], id="price-collar-without-limit"),
    pytest.param("price_collar_non_positive.yaml", [
        "{F}/price_collar_non_positive.yaml:4: rules[0].max_deviation_pct: Input should be greater than 0",
        "{F}/price_collar_non_positive.yaml:6: rules[0].symbols.BTCUSDT: Input should be greater than 0",
    ], id="price-collar-zero-and-negative-percent"),
    pytest.param("margin_mode_without_allow_or_allow_hedge.yaml", [
        "{F}/margin_mode_without_allow_or_allow_hedge.yaml:2: rules[0]: give `allow`, `allow_hedge` or both",
    ], id="margin-mode-without-allow-or-allow-hedge"),
    pytest.param("margin_mode_bad_values.yaml", [
        "{F}/margin_mode_bad_values.yaml:4: rules[0].allow[1]: Input should be 'ISOLATED', 'CROSSED' or 'PORTFOLIO'",
        "{F}/margin_mode_bad_values.yaml:7: rules[1].allow: Tuple should have at least 1 item after validation, not 0",
        "{F}/margin_mode_bad_values.yaml:8: rules[1].allow_hedge: Input should be a valid boolean, unable to "
        "interpret input",
    ], id="margin-mode-unknown-mode-empty-list-and-not-a-boolean"),
    pytest.param("duplicate_orders_bad_window.yaml", [
        "{F}/duplicate_orders_bad_window.yaml:4: rules[0].window: window '2' does not parse; write an amount and "
        "a unit, such as 500ms, 2s or 1m",
        "{F}/duplicate_orders_bad_window.yaml:7: rules[1].window: window '2h' must be at least 1ms and at most 1h",
        "{F}/duplicate_orders_bad_window.yaml:8: rules[2].window: Field required",
    ], id="duplicate-orders-window-without-unit-too-long-and-missing"),
    pytest.param("reject_storm_bad_values.yaml", [
        "{F}/reject_storm_bad_values.yaml:4: rules[0].limit: rate '0/1m' must have a count and a window of at least 1",
        "{F}/reject_storm_bad_values.yaml:5: rules[0].cool_down: cool-down '300' does not parse; write an amount and "
        "a unit, such as 30s, 5m or 1h",
        "{F}/reject_storm_bad_values.yaml:6: rules[0].state: Input should be 'REDUCING' or 'HALTED'",
        "{F}/reject_storm_bad_values.yaml:10: rules[1].cool_down: cool-down '25h' must be at least 1s and at most 24h",
        "{F}/reject_storm_bad_values.yaml:11: rules[2]: a reject storm counts an account's refused orders and changes "
        "the account's state: scope it by venues and accounts, not by symbols or position sides",
    ], id="reject-storm-zero-limit-bare-cool-down-active-state-too-long-and-symbol-scope"),
    pytest.param("max_open_orders_bad_values.yaml", [
        "{F}/max_open_orders_bad_values.yaml:2: rules[0]: give `per_symbol`, `per_account` or both",
        "{F}/max_open_orders_bad_values.yaml:6: rules[1].per_symbol: Input should be greater than or equal to 1",
        "{F}/max_open_orders_bad_values.yaml:9: rules[2].per_account: Input should be a valid integer",
    ], id="max-open-orders-without-limit-zero-and-text"),
    pytest.param("max_daily_notional_bad_values.yaml", [
        "{F}/max_daily_notional_bad_values.yaml:4: rules[0].notional: Input should be greater than 0",
        "{F}/max_daily_notional_bad_values.yaml:8: rules[1].per: Input should be 'account' or 'symbol'",
        "{F}/max_daily_notional_bad_values.yaml:9: rules[2].notional: Field required",
        "{F}/max_daily_notional_bad_values.yaml:11: rules[2].on_price_unknown: Input should be 'block' or 'allow'",
    ], id="max-daily-notional-zero-bogus-per-missing-notional-and-bogus-on-price-unknown"),
    pytest.param("max_gross_exposure_bad_values.yaml", [
        "{F}/max_gross_exposure_bad_values.yaml:4: rules[0].notional: Input should be greater than 0",
        "{F}/max_gross_exposure_bad_values.yaml:7: rules[1].notional: Input should be greater than 0",
        "{F}/max_gross_exposure_bad_values.yaml:11: rules[2].per: Input should be 'account' or 'venue'",
        "{F}/max_gross_exposure_bad_values.yaml:12: rules[3]: gross exposure sums every position of an account: "
        "scope it by venues and accounts, not by symbols or position sides",
        "{F}/max_gross_exposure_bad_values.yaml:16: rules[4].notional: Field required",
        "{F}/max_gross_exposure_bad_values.yaml:21: rules[5].on_price_unknown: Input should be 'block' or 'allow'",
    ], id="max-gross-exposure-zero-negative-per-symbol-symbol-scope-missing-and-bad-price-unknown"),
    pytest.param("mode_contradiction", [
        "{F}/mode_contradiction/b.yaml:2: mode: monitor contradicts enforce in {F}/mode_contradiction/a.yaml",
    ], id="mode-contradiction"),
    pytest.param("invalid_yaml_syntax.yaml", [
        "{F}/invalid_yaml_syntax.yaml:4: invalid YAML: expected <block end>, but found '<block mapping start>'",
    ], id="invalid-yaml-syntax"),
    pytest.param("empty_folder", ["{F}/empty_folder: no policy files (*.yaml, *.yml) found"], id="empty-folder"),
]


@pytest.mark.parametrize(("name", "expected"), INVALID_CASES)
def test_load_policy_when_policy_is_invalid_then_error_names_file_line_and_key_path(
    name: str, expected: list[str]
) -> None:
    errors = load_errors(fixture(name))

    assert errors == [line.replace("{F}", str(INVALID)) for line in expected]


def test_load_policy_when_folder_has_many_problems_then_every_error_is_reported_at_once() -> None:
    folder = fixture("several_errors")

    with pytest.raises(PolicyError) as caught:
        load_policy(folder)

    expected = {
        f"{folder}/a.yaml:2: colour: unknown key",
        f"{folder}/a.yaml:4: rules[0].id: {RULE_ID_MSG}",
        f"{folder}/a.yaml:6: rules[0].default: Input should be greater than 0",
        f"{folder}/b.yaml:2: rules[0]: unknown rule type 'max_leveraged'; did you mean 'max_leverage'?",
        f"{folder}/c.yaml:2: invalid YAML: found character '\\t' that cannot start any token",
    }
    assert len(caught.value.errors) == len(expected)
    assert set(caught.value.errors) == expected
    assert str(caught.value) == "\n".join(caught.value.errors)


def test_load_policy_when_path_does_not_exist_then_error_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"

    assert load_errors(missing) == [f"{missing}: no such file or folder"]


@pytest.mark.parametrize("text", ["", "\n  \n", "# being written\n", "---\n"],
                         ids=["zero-bytes", "blank", "comments-only", "empty-document"])
def test_load_policy_when_a_file_holds_nothing_then_refused_not_loaded_as_a_policy_without_rules(
    tmp_path: Path, text: str
) -> None:
    # a file rewritten in place reads empty for a moment; loaded, no rule would hold
    path = tmp_path / "policy.yaml"
    path.write_text(text)

    [error] = load_errors(path)
    assert error.startswith(f"{path}: the file holds nothing")


def test_load_policy_when_top_level_is_a_list_then_error_asks_for_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- id: qty\n")

    assert load_errors(path) == [f"{path}:1: the top level must be a mapping with `rules`"]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("0.1", Decimal("0.1")),
        ("0.30000000000000004", Decimal("0.30000000000000004")),
        ("100000.00000001", Decimal("100000.00000001")),
        ("1_000.5", Decimal("1000.5")),
        ("25000", Decimal("25000")),
    ],
)
def test_load_policy_when_limit_is_written_as_decimal_text_then_value_is_exact(written: str, expected: Decimal) -> None:
    policy = make_policy(f"""
        rules:
          - id: order-qty
            type: max_order_qty
            default: {written}
            symbols:
              BTCUSDT: {written}
    """)

    rule = policy.rules[0]
    assert isinstance(rule, MaxOrderQty)
    assert rule.default == expected
    assert rule.default.as_tuple() == expected.as_tuple()  # exact digits, not a binary float rounded back
    assert rule.symbols == {"BTCUSDT": expected}


def test_load_policy_when_position_and_leverage_limits_are_decimals_then_they_are_exact() -> None:
    policy = make_policy("""
        rules:
          - {id: position, type: max_position, default: {qty: 0.1, notional: 1234.56}}
          - {id: leverage, type: max_leverage, default: 2.5}
    """)

    position, leverage = policy.rules
    assert isinstance(position, MaxPosition) and isinstance(leverage, MaxLeverage)
    assert position.default is not None
    assert (position.default.qty, position.default.notional) == (Decimal("0.1"), Decimal("1234.56"))
    assert leverage.default == Decimal("2.5")


# each per-symbol limit rule type: how a limit of n is written, and what it loads as
PER_SYMBOL_LIMITS: dict[str, tuple[str, Callable[[int], object]]] = {
    "max_leverage": ("{n}", Decimal),
    "max_order_qty": ("0.{n}", lambda n: Decimal(f"0.{n}")),
    "max_order_notional": ("{n}000", lambda n: Decimal(n * 1000)),
    "max_position": ("{{qty: {n}}}", lambda n: PositionLimit(qty=Decimal(n))),
}


@pytest.mark.parametrize("rule_type", PER_SYMBOL_LIMITS)
def test_load_policy_when_per_symbol_limit_rule_has_neither_default_nor_symbols_then_error_asks_for_one(
    rule_type: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        make_policy(f"rules:\n  - {{id: limit, type: {rule_type}}}\n")

    (error,) = caught.value.errors
    assert error.endswith("rules[0]: give a `default` limit, per-symbol limits under `symbols`, or both")


@pytest.mark.parametrize("rule_type", PER_SYMBOL_LIMITS)
@pytest.mark.parametrize(
    ("default", "symbol", "found"),
    [
        (False, "BTCUSDT", 2),                      # an exact name beats a pattern written before it
        (False, "btcusdt", 2),                      # names match whatever their case
        (False, "ethusdt", 1),                      # else the first pattern that matches
        (False, ("XBTUSD", "BTC/USDT:USDT"), 3),    # the unified symbol when the native id is not named
        (False, "XRPUSD", None),                    # no default: a symbol nothing names has no limit
        (True, "XRPUSD", 4),
    ],
)
def test_limit_for_when_per_symbol_limit_rule_is_asked_then_exact_name_then_pattern_then_default(
    rule_type: str, default: bool, symbol: str | tuple[str, ...], found: int | None
) -> None:
    written, loaded = PER_SYMBOL_LIMITS[rule_type]
    policy = make_policy(f"""
        rules:
          - id: limit
            type: {rule_type}
            {"default: " + written.format(n=4) if default else ""}
            symbols:
              "*USDT": {written.format(n=1)}
              BTCUSDT: {written.format(n=2)}
              BTC/USDT:USDT: {written.format(n=3)}
    """)

    (rule,) = policy.rules
    assert isinstance(rule, SymbolLimitRule)
    assert rule.limit_for(symbol) == (None if found is None else loaded(found))


@pytest.mark.parametrize("seed", range(4))
def test_symbol_table_when_tables_are_random_then_it_finds_what_lookup_by_symbol_finds(seed: int) -> None:
    rng = random.Random(seed)
    keys = ("BTCUSDT", "btcusdt", "BTC*", "*USDT", "ETH?USDT", "[EB]TC*", "BTC/USDT:USDT", "eth*")
    names = (None, "BTCUSDT", "btcusdt", "ETHXUSDT", "XRPUSD", ("XBTUSD", "BTC/USDT:USDT"), ("ETHUSDT", ""), ())
    for _ in range(200):
        table = {key: number for number, key in enumerate(rng.sample(keys, rng.randint(0, len(keys))))}
        for symbol in names:
            assert SymbolTable(table).lookup(symbol) == lookup_by_symbol(table, symbol), (table, symbol)


@pytest.mark.parametrize(
    ("rules", "prepared"),
    [
        ((), {"has_daily_losses": False, "has_reject_storms": False, "equity_waiting_rules": (),
              "has_daily_notional": False, "has_gross_exposure": False, "gross_spans_venues": False}),
        ((MaxDailyLoss(id="loss-wait", type="max_daily_loss", quote=Decimal(1)),
          MaxDailyLoss(id="loss-allow", type="max_daily_loss", quote=Decimal(1), on_equity_unknown="allow"),
          RejectStorm(id="storm", type="reject_storm", limit="20/1m", cool_down="5m"),
          MaxDailyNotional(id="daily", type="max_daily_notional", notional=Decimal(1)),
          MaxGrossExposure(id="gross", type="max_gross_exposure", notional=Decimal(1), per="venue")),
         {"has_daily_losses": True, "has_reject_storms": True, "equity_waiting_rules": ("loss-wait",),
          "has_daily_notional": True, "has_gross_exposure": True, "gross_spans_venues": False}),
        ((MaxGrossExposure(id="gross", type="max_gross_exposure", notional=Decimal(1)),),
         {"has_gross_exposure": True, "gross_spans_venues": True}),
    ],
    ids=["no-rules", "every-kind", "gross-per-account"],
)
def test_policy_when_built_then_what_orders_ask_of_it_is_prepared(rules: tuple[Rule, ...],
                                                                  prepared: dict[str, object]) -> None:
    # built as the tests and the fuzzers build one, without the loader
    policy = Policy(rules=rules, accounts={}, mode=PolicyMode.ENFORCE, revision="r", sources=())

    assert {name: getattr(policy, name) for name in prepared} == prepared


def test_policy_when_keys_are_listed_by_labels_then_labels_follow_each_label_venue() -> None:
    accounts = {"desk": AccountSpec(fingerprints=(ACCOUNT,)),
                "ops": AccountSpec(fingerprints=(ACCOUNT, OTHER_ACCOUNT), venue=Venue.BYBIT, proxy_users=("bot",))}
    policy = Policy(rules=(), accounts=accounts, mode=PolicyMode.ENFORCE, revision="r", sources=())

    assert policy.labels_for(Venue.BINANCEUSDM, ACCOUNT) == frozenset({"desk"})
    assert policy.labels_for(Venue.BYBIT, ACCOUNT) == frozenset({"desk", "ops"})
    assert policy.labels_for(Venue.BYBIT, OTHER_ACCOUNT) == frozenset({"ops"})
    assert policy.labels_for(Venue.BINANCEUSDM, OTHER_ACCOUNT) == frozenset()
    assert policy.binds_clients and policy.client_may_use("bot", Venue.BYBIT, OTHER_ACCOUNT)
    assert policy.holder(Venue.BYBIT, ACCOUNT) == "label:desk"


def write_folder(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip("\n"))
    return folder


def test_load_policy_when_folder_has_several_files_then_rules_merge_in_file_name_order(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "policies", {
        "b.yaml": "rules:\n  - {id: from-b, type: max_order_qty, default: 1}\n",
        "a.yml": "rules:\n  - {id: from-a-yml, type: max_leverage, default: 3}\n",
        "a.yaml": "mode: monitor\nrules:\n  - {id: from-a-yaml, type: order_types, allow: [limit]}\n",
        "notes.txt": "rules: [this is not read]\n",
    })

    policy = load_policy(folder)

    assert [r.id for r in policy.rules] == ["from-a-yaml", "from-a-yml", "from-b"]
    assert policy.sources == tuple(str(folder / n) for n in ("a.yaml", "a.yml", "b.yaml"))
    assert policy.mode is PolicyMode.MONITOR
    order_types = policy.rules[0]
    assert isinstance(order_types, OrderTypes) and order_types.allow == ("LIMIT",)


def test_load_policy_when_account_is_defined_in_another_file_then_scope_label_resolves(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "policies", {
        "accounts.yaml": f"""
            accounts:
              main: {{fingerprints: ["{ACCOUNT}"], venue: binanceusdm}}
        """,
        "rules.yaml": """
            rules:
              - {id: qty, type: max_order_qty, default: 1, scope: {accounts: [main]}}
        """,
    })

    policy = load_policy(folder)

    assert policy.labels_for(Venue.BINANCEUSDM, ACCOUNT) == frozenset({"main"})
    assert policy.labels_for(Venue.BYBIT, ACCOUNT) == frozenset()
    assert policy.labels_for(Venue.BINANCEUSDM, "ffffffffffff") == frozenset()
    assert policy.labels_for(Venue.BINANCEUSDM, None) == frozenset()


def test_load_policy_when_no_file_sets_mode_then_mode_is_enforce(tmp_path: Path) -> None:
    policy = make_policy("rules: []\n")

    assert policy.mode is PolicyMode.ENFORCE
    assert policy.rules == ()


def test_load_policy_when_content_changes_then_revision_changes(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - {id: qty, type: max_order_qty, default: 1}\n")
    first = load_policy(path).revision
    again = load_policy(path).revision

    path.write_text("rules:\n  - {id: qty, type: max_order_qty, default: 2}\n")
    changed = load_policy(path).revision

    assert len(first) == 12 and all(c in "0123456789abcdef" for c in first)
    assert first == again
    assert changed != first


def test_load_policy_when_a_folder_gains_a_file_then_revision_changes(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "policies", {"a.yaml": "rules: []\n"})
    before = load_policy(folder).revision

    write_folder(folder, {"b.yaml": "rules: []\n"})

    assert load_policy(folder).revision != before


def test_load_policy_when_shipped_policies_folder_is_loaded_then_it_is_valid() -> None:
    policy = load_policy(SHIPPED)

    assert policy.sources  # at least default.yaml
    assert policy.mode is PolicyMode.ENFORCE
    by_id = {r.id: r for r in policy.rules}
    assert len(by_id) == len(policy.rules)
    # the shipped default.yaml: one rule of every kind
    kinds = {type(r) for r in policy.rules}
    assert {AllowedSymbols, OrderTypes, MaxLeverage, MaxOrderQty, MaxOrderNotional, MaxPosition, OrderRate,
            TradingStateRule, PriceCollar, MarginModeRule, DuplicateOrders} <= kinds
    qty = by_id["order-qty"]
    assert isinstance(qty, MaxOrderQty)
    assert qty.limit_for("BTCUSDT") == Decimal("0.5")
    assert qty.limit_for("XRPUSDT") == Decimal("10")


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("allowed_symbol", "did you mean 'allowed_symbols'?"),
        ("order_type", "did you mean 'order_types'?"),
        ("max_pos", "did you mean 'max_position'?"),
        ("kill_switch", "one of: allowed_symbols, order_types, max_leverage"),
    ],
)
def test_load_policy_when_rule_type_misspelled_then_error_suggests_the_nearest_type(
    tmp_path: Path, written: str, hint: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f"rules:\n  - id: r\n    type: {written}\n")

    with pytest.raises(PolicyError) as raised:
        load_policy(path)

    [error] = raised.value.errors
    assert error.startswith(f"{path}:2: rules[0]: unknown rule type {written!r}; ")
    assert hint in error
