"""`riskwall policy test` (riskwall.policy.testing): YAML test cases decided by the real adapter and engine.

The shipped tests for policies/default.yaml must pass and cover every rule; a deliberately failing fixture
pins the exact report; a table of one-case files pins each part of the format (accounts, state, requests,
expectations) to what the engine really decides.
"""

from __future__ import annotations

import argparse
import io
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from riskwall.model import TradingState
from riskwall.policy import load_policy, testing
from riskwall.policy.model import TradingStateRule
from riskwall.policy.testing import add_arguments, load_test_file, main, run_policy_tests

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "policies"
SHIPPED_TESTS = SHIPPED / "tests"
FIXTURES = ROOT / "tests" / "fixtures" / "policy_tests"
MAIN_POLICY = FIXTURES / "policies" / "main.yaml"
MONITOR_POLICY = FIXTURES / "policies" / "monitor.yaml"


def run(*paths: Path | str, policy: Path | None = None) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = run_policy_tests(list(paths), out, policy=policy)
    return code, out.getvalue().splitlines()


def one_case(tmp_path: Path, case: str, *, policy: Path = MAIN_POLICY, head: str = "") -> tuple[int, list[str]]:
    """Run a test file holding `head` and the one case `case` (YAML, dedented) against `policy`."""
    file = tmp_path / "case.test.yaml"
    body = textwrap.indent(textwrap.dedent(case).strip("\n"), "    ")
    file.write_text(f"policy: {policy}\n{textwrap.dedent(head)}cases:\n  - name: the case\n{body}\n")
    return run(file)


# ---- the shipped tests ----------------------------------------------------------------------------------


def test_run_when_shipped_policy_tests_then_every_case_passes() -> None:
    code, lines = run(SHIPPED)

    cases = sum(len(load_test_file(f).cases) for f in SHIPPED_TESTS.glob("*.test.yaml"))
    assert cases >= 25
    assert [line for line in lines if not line.startswith("PASS ")] == [f"{cases} passed, 0 failed"]
    assert code == 0


def test_shipped_tests_when_read_then_every_blocking_rule_of_the_default_policy_is_expected_to_block() -> None:
    policy = load_policy(SHIPPED / "default.yaml")
    specs = [load_test_file(f) for f in sorted(SHIPPED_TESTS.glob("*.test.yaml"))]
    cases = [case for spec in specs for case in spec.cases]
    expected_rules = {case.expect.rule for case in cases if case.expect.verdict == "block"}
    # a standing ACTIVE state cannot block: the runtime kill switch stands in for it
    can_block = {
        rule.id for rule in policy.rules
        if not (isinstance(rule, TradingStateRule) and rule.state is TradingState.ACTIVE)
    }

    assert can_block - expected_rules == set()
    assert {"riskwall.kill-switch", "riskwall.forbidden-endpoint", "riskwall.parse"} <= expected_rules
    assert any(case.request.http is not None for case in cases)
    assert any(case.request.order is not None and case.request.order.legs for case in cases)
    assert any(case.request.http is not None and "batchOrders" in (case.request.http.form or {}) for case in cases)
    assert all(spec.policy == "../default.yaml" for spec in specs)


# ---- the report -----------------------------------------------------------------------------------------


def test_run_when_cases_fail_then_report_names_expected_and_actual_and_exit_is_1() -> None:
    file = FIXTURES / "failing.test.yaml"

    code, lines = run(file)

    f = str(file)
    assert lines == [
        f"PASS {f}::passes",
        f"FAIL {f}::wrong verdict",
        "  expected: allow",
        "  actual:   block order-qty ORDER_QTY_EXCEEDS_MAX: qty=0.6, max_qty=0.5, symbol=BTCUSDT; "
        "would_block qty-next ORDER_QTY_EXCEEDS_MAX: qty=0.6, max_qty=0.3, symbol=BTCUSDT",
        "  - verdict is block, not allow",
        f"FAIL {f}::wrong rule and context",
        "  expected: block position ORDER_QTY_EXCEEDS_MAX with max_qty=2",
        "  actual:   block order-qty ORDER_QTY_EXCEEDS_MAX: qty=1.5, max_qty=1, symbol=ETHUSDT; "
        "would_block qty-next ORDER_QTY_EXCEEDS_MAX: qty=1.5, max_qty=0.3, symbol=ETHUSDT",
        "  - the deciding violation is rule order-qty, not position",
        "  - the deciding violation has max_qty=1, not 2",
        f"FAIL {f}::missing would_block",
        "  expected: allow; would_block qty-next",
        "  actual:   allow",
        "  - nothing would block",
        f"FAIL {f}::unexpected would_block",
        "  expected: allow; nothing would block",
        "  actual:   allow; would_block qty-next ORDER_QTY_EXCEEDS_MAX: qty=0.5, max_qty=0.3, symbol=ETHUSDT",
        "  - something would block: qty-next ORDER_QTY_EXCEEDS_MAX: qty=0.5, max_qty=0.3, symbol=ETHUSDT",
        f"FAIL {f}::wrong leg",
        "  expected: block order-qty on leg 0",
        "  actual:   block order-qty ORDER_QTY_EXCEEDS_MAX: qty=2, max_qty=1, symbol=SOLUSDT (leg 1); "
        "would_block qty-next ORDER_QTY_EXCEEDS_MAX: qty=2, max_qty=0.3, symbol=SOLUSDT (leg 1)",
        "  - the deciding violation is on leg 1, not on leg 0",
        f"ERROR {f}::unknown account label",
        "  account 'nobody' is neither a 12-hex-digit fingerprint nor a label of the policy "
        "(labels: desk, desk-two, elsewhere)",
        "1 passed, 5 failed, 1 error",
    ]
    assert code == 1


def test_run_when_test_file_is_invalid_then_every_problem_has_line_and_key_path_and_exit_is_1() -> None:
    file = FIXTURES / "invalid.test.yaml"

    code, lines = run(file)

    f = str(file)
    assert lines == [
        f"ERROR {f}: not a usable test file",
        f"  {f}:5: cases[0].request.order.sides: unknown key",
        f"  {f}:8: cases[1].request: give exactly one of `order` and `http`",
        f"  {f}:14: cases[2].expect: rule, reason, context and leg describe a block; for a shadow rule use "
        "would_block",
        f"  {f}:16: cases[3].request.order.side: Input should be 'buy' or 'sell'",
        "0 passed, 0 failed, 1 error",
    ]
    assert code == 1


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("policy: policies/main.yaml\ncases:\n  - name: a\n    request: {order: {action: cancel}}\n"
                     "    expect: allow\n  - name: a\n    request: {order: {action: cancel}}\n    expect: allow\n",
                     ["{F}:6: cases[1].name: 'a' is also the name of cases[0]; names must be unique in a file"],
                     id="duplicate-name"),
        pytest.param("policy: policies/main.yaml\ncases: []\n",
                     ["{F}:2: cases: a test file needs at least one case"], id="no-cases"),
        pytest.param("policy: policies/main.yaml\npolicy: other.yaml\ncases: []\n",
                     ["{F}:2: policy: duplicate key"], id="duplicate-yaml-key"),
        pytest.param("policy: [unclosed\n", ["{F}:2: invalid YAML: expected ',' or ']', but got '<stream end>'"],
                     id="yaml-syntax"),
        pytest.param("- just a list\n", ["{F}:1: the top level must be a mapping with `policy` and `cases`"],
                     id="not-a-mapping"),
        pytest.param("policy: policies/main.yaml\ncases:\n  - name: a\n    state:\n      open_orders:\n"
                     "        - {symbol: BTCUSDT, count: 2, order_id: '7'}\n"
                     "    request: {order: {action: cancel}}\n    expect: allow\n",
                     ["{F}:6: cases[0].state.open_orders[0]: order_id names one order: give it with "
                      "count 1"], id="order-id-of-two-orders"),
    ],
)
def test_run_when_test_file_is_malformed_then_error_names_line_and_exit_is_1(
    tmp_path: Path, content: str, expected: list[str]
) -> None:
    file = tmp_path / "bad.test.yaml"
    file.write_text(content)

    code, lines = run(file)

    assert lines == [f"ERROR {file}: not a usable test file", *(f"  {e.format(F=file)}" for e in expected),
                     "0 passed, 0 failed, 1 error"]
    assert code == 1


def test_run_when_named_policy_is_invalid_then_error_lists_policy_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("rules:\n  - {id: x, type: max_order_qty}\n")
    file = tmp_path / "t.test.yaml"
    file.write_text("policy: bad.yaml\ncases:\n  - {name: a, request: {order: {action: cancel}}, expect: allow}\n")

    code, lines = run(file)

    assert lines == [
        f"ERROR {file}: policy {tmp_path / 'bad.yaml'} is invalid",
        f"  {tmp_path / 'bad.yaml'}:2: rules[0]: give a `default` limit, per-symbol limits under `symbols`, or both",
        "0 passed, 0 failed, 1 error",
    ]
    assert code == 1


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda t: t / "missing", "no such file or folder", id="missing-path"),
        pytest.param(lambda t: t, "no *.test.yaml files found", id="folder-without-tests"),
    ],
)
def test_run_when_path_holds_no_tests_then_error_and_exit_1(tmp_path: Path, make, expected: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)

    code, lines = run(path)

    assert lines == [f"ERROR {path}: {expected}", "0 passed, 0 failed, 1 error"]
    assert code == 1


def test_run_when_policy_is_overridden_then_shipped_tests_judge_the_candidate_policy() -> None:
    # the candidate: monitor mode and a single qty limit of 1, so the shipped expectations of blocks by the
    # default policy's rules fail, while what no policy may relax still blocks
    code, lines = run(SHIPPED_TESTS, policy=MONITOR_POLICY)

    shipped = SHIPPED_TESTS / "default.test.yaml"
    for expected in (
        f"FAIL {shipped}::BTC above its own max qty of 0.5 is blocked",
        f"FAIL {shipped}::a symbol outside the allow list is blocked",
        f"PASS {shipped}::a BTC limit order inside every limit is allowed",
        f"PASS {shipped}::a global halt blocks a new order",
        f"PASS {shipped}::a withdrawal is always blocked",
    ):
        assert expected in lines
    assert code == 1


def test_main_when_called_with_parsed_cli_arguments_then_runs_the_paths(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    code = main(parser.parse_args([str(SHIPPED), "--policy", str(SHIPPED / "default.yaml")]))

    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(" passed, 0 failed")


# ---- the format, one case at a time ---------------------------------------------------------------------

ETH_09 = "{symbol: ETHUSDT, side: buy, qty: 0.9, price: 3000"

# (id, file head, case YAML, first output line's status, further lines or None when not checked)
FORMAT_CASES = [
    # accounts
    ("label-account-scopes-a-rule", "",
     f"request: {{order: {ETH_09}, account: desk}}}}\nexpect: {{verdict: block, rule: desk-qty}}", "PASS"),
    ("fingerprint-account", "",
     f"request: {{order: {ETH_09}, account: '0123456789ab'}}}}\nexpect: {{verdict: block, rule: desk-qty}}", "PASS"),
    ("file-default-account", "account: desk\n",
     f"request: {{order: {ETH_09}}}}}\nexpect: {{verdict: block, rule: desk-qty}}", "PASS"),
    ("default-account-is-no-label", "",
     f"request: {{order: {ETH_09}}}}}\nexpect: {{verdict: allow, would_block: {{rule: qty-next}}}}", "PASS"),
    # an order whose key cannot be identified holds no account-scoped limit: refused, as the sidecar refuses it
    ("explicit-null-account-has-no-account", "account: desk\n",
     f"request: {{order: {ETH_09}, account: null}}}}\nexpect: {{verdict: block, reason: UNKNOWN_ACCOUNT}}", "PASS"),
    ("http-api-key-header-is-fingerprinted", "",
     """
     request:
       http:
         method: POST
         path: /fapi/v1/order
         headers: {X-MBX-APIKEY: desk-two-key}
         query: {symbol: ETHUSDT, side: BUY, type: LIMIT, timeInForce: GTC, quantity: "0.75", price: "3000"}
     expect: {verdict: block, rule: desk-two-qty, context: {max_qty: 0.7}}
     """, "PASS"),
    ("http-account-key-wins-over-header", "",
     """
     request:
       http:
         method: POST
         path: /fapi/v1/order
         account: desk
         headers: {X-MBX-APIKEY: desk-two-key}
         query: {symbol: ETHUSDT, side: BUY, type: LIMIT, timeInForce: GTC, quantity: "0.75", price: "3000"}
     expect: {verdict: allow, would_block: {rule: qty-next}}
     """, "PASS"),
    ("label-of-another-venue", "",
     f"request: {{order: {ETH_09}, account: elsewhere}}}}\nexpect: allow", "ERROR",
     ["  account label 'elsewhere' belongs to venue bybit, not binanceusdm"]),
    # expectations
    ("shadow-rule-would-block-with-context", "",
     "request: {order: {symbol: ETHUSDT, side: buy, qty: 0.5, price: 3000}}\n"
     "expect: {verdict: allow, would_block: {rule: qty-next, reason: order_qty_exceeds_max, context: {max_qty: 0.3}}}",
     "PASS"),
    ("context-compares-numbers-by-value", "",
     "request: {order: {symbol: BTCUSDT, side: buy, qty: 0.6, price: 100}}\n"
     "expect: {verdict: block, rule: order-qty, context: {max_qty: '0.50', qty: 0.6, symbol: BTCUSDT}}", "PASS"),
    ("context-key-absent", "",
     "request: {order: {symbol: BTCUSDT, side: buy, qty: 0.6, price: 100}}\n"
     "expect: {verdict: block, rule: order-qty, context: {limit: 1}}", "FAIL",
     ["  expected: block order-qty with limit=1",
      "  actual:   block order-qty ORDER_QTY_EXCEEDS_MAX: qty=0.6, max_qty=0.5, symbol=BTCUSDT; "
      "would_block qty-next ORDER_QTY_EXCEEDS_MAX: qty=0.6, max_qty=0.3, symbol=BTCUSDT",
      "  - the deciding violation has no limit in its context"]),
    ("wrong-reason", "",
     "request: {order: {symbol: BTCUSDT, side: buy, qty: 0.6, price: 100}}\n"
     "expect: {verdict: block, reason: POSITION_EXCEEDS_MAX}", "FAIL", None),
    # state: positions, hedge mode, open orders
    ("position-limit-counts-the-seeded-position", "",
     """
     state: {positions: [{symbol: ETHUSDT, qty: 1.9}]}
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.2, price: 3000}}
     expect: {verdict: block, rule: position, context: {position: 2.1, max_position: 2}}
     """, "PASS"),
    ("hedge-sides-are-separate-positions", "",
     """
     state: {positions: [{symbol: ETHUSDT, qty: 1.9, position_side: LONG}]}
     request: {order: {symbol: ETHUSDT, side: sell, qty: 0.2, price: 3000, position_side: short}}
     expect: allow
     """, "PASS"),
    ("hedge-close-is-exempt-from-limits", "",
     """
     state: {positions: [{symbol: ETHUSDT, qty: 1.9, position_side: long}]}
     request: {order: {symbol: ETHUSDT, side: sell, qty: 1.9, price: 3000, position_side: long}}
     expect: {verdict: allow, would_block: false}
     """, "PASS"),
    ("open-orders-are-pending-exposure", "",
     """
     state:
       positions: [{symbol: ETHUSDT, qty: 1.5}]
       open_orders: [{symbol: ETHUSDT, side: buy, qty: 0.4}]
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.2, price: 3000}}
     expect: {verdict: block, rule: position, context: {position: 2.1}}
     """, "PASS"),
    ("reduce-only-open-orders-add-no-exposure", "",
     """
     state:
       positions: [{symbol: ETHUSDT, qty: 1.5}]
       open_orders: [{symbol: ETHUSDT, side: buy, qty: 0.4, reduce_only: true}]
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.2, price: 3000}}
     expect: allow
     """, "PASS"),
    # state: trading states
    ("halt-scoped-to-a-label-stops-that-account", "",
     """
     state: {trading_states: [{scope: {account: desk}, state: halted, reason: desk review}]}
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000, account: desk}}
     expect: {verdict: block, rule: riskwall.kill-switch, reason: TRADING_HALTED,
              context: {scope: "venue=binanceusdm,account=0123456789ab", reason: desk review}}
     """, "PASS"),
    ("halt-scoped-to-a-label-spares-other-accounts", "",
     """
     state: {trading_states: [{scope: {account: desk}, state: HALTED}]}
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000, account: desk-two}}
     expect: allow
     """, "PASS"),
    # state: rate windows
    ("recent-orders-fill-the-request-symbols-window", "",
     """
     state: {recent_orders: [{count: 2, ago: 100ms}]}
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000}}
     expect: {verdict: block, rule: symbol-rate, reason: ORDER_RATE_EXCEEDED, context: {orders: 3, limit: 2}}
     """, "PASS"),
    ("recent-orders-of-another-symbol-do-not-count-per-symbol", "",
     """
     state: {recent_orders: [{count: 2, ago: 100, symbol: BTCUSDT}]}
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000}}
     expect: allow
     """, "PASS"),
    ("recent-orders-of-another-account-do-not-count", "",
     """
     state: {recent_orders: [{count: 5, ago: 10ms, account: desk}]}
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000, account: desk-two}}
     expect: allow
     """, "PASS"),
    ("recent-orders-leave-the-window-after-it", "",
     """
     state: {recent_orders: [{count: 2, ago: 1s}]}
     request: {order: {symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000}}
     expect: allow
     """, "PASS"),
    # requests
    ("batch-legs-inherit-order-keys", "",
     """
     request:
       order:
         side: buy
         price: 3000
         legs: [{symbol: ETHUSDT, qty: 0.1}, {symbol: SOLUSDT, qty: 1.5}]
     expect: {verdict: block, rule: order-qty, leg: 1, context: {symbol: SOLUSDT}}
     """, "PASS"),
    ("http-query-repeats-a-key-with-two-values", "",
     """
     request:
       http:
         method: POST
         path: /fapi/v1/order?symbol=BTCUSDT
         query: [[symbol, ETHUSDT], [side, BUY], [type, MARKET], [quantity, "0.1"]]
     expect: {verdict: block, rule: riskwall.parse, reason: PARSE_FAILED,
              context: {error: symbol is given twice with different values}}
     """, "PASS"),
    ("http-raw-body", "",
     """
     request:
       http:
         method: POST
         path: /fapi/v1/order
         headers: {Content-Type: application/x-www-form-urlencoded}
         body: symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1.5&price=3000
     expect: {verdict: block, rule: order-qty}
     """, "PASS"),
    ("order-without-side", "",
     "request: {order: {symbol: ETHUSDT, qty: 1}}\nexpect: allow", "ERROR",
     ["  order: an order of action new needs side"]),
    ("set-leverage-without-leverage", "",
     "request: {order: {action: set_leverage, symbol: ETHUSDT}}\nexpect: allow", "ERROR",
     ["  order: a set_leverage request needs symbol and leverage"]),
]


@pytest.mark.parametrize(
    ("head", "case", "status", "detail"),
    [pytest.param(row[1], row[2], row[3], row[4] if len(row) > 4 else [], id=str(row[0])) for row in FORMAT_CASES],
)
def test_case_when_written_in_the_format_then_runner_reports_the_engines_decision(
    tmp_path: Path, head: str, case: str, status: str, detail: list[str] | None
) -> None:
    code, lines = one_case(tmp_path, case, head=head)

    assert lines[0] == f"{status} {tmp_path / 'case.test.yaml'}::the case"
    if detail is not None:
        assert lines[1:-1] == detail
    assert code == (0 if status == "PASS" else 1)


DUPLICATES_POLICY = """
accounts:
  desk: {fingerprints: ["0123456789ab"]}
rules:
  - {id: duplicates, type: duplicate_orders, window: 2s}
  - {id: duplicates-desk, type: duplicate_orders, window: 10s, scope: {accounts: [desk]}}
"""
ETH_ORDER = "{symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000"


@pytest.mark.parametrize(
    ("case", "status", "detail"),
    [
        pytest.param(f"state: {{allowed_orders: [{{ago: 500ms}}]}}\nrequest: {{order: {ETH_ORDER}}}}}\n"
                     "expect: {verdict: block, rule: duplicates, context: {ago_ms: 500, window_ms: 2000}}", "PASS",
                     [], id="keys-default-to-the-request"),
        pytest.param(f"state: {{allowed_orders: [{{ago: 2s}}]}}\nrequest: {{order: {ETH_ORDER}}}}}\nexpect: allow",
                     "PASS", [], id="window-passed"),
        pytest.param(f"state: {{allowed_orders: [{{price: 3000.5, ago: 1}}, {{qty: 1, ago: 1}}]}}\n"
                     f"request: {{order: {ETH_ORDER}}}}}\nexpect: allow", "PASS", [], id="other-price-or-qty"),
        pytest.param(f"state: {{allowed_orders: [{{ago: 5s, account: desk}}]}}\n"
                     f"request: {{order: {ETH_ORDER}, account: desk}}}}\n"
                     "expect: {verdict: block, rule: duplicates-desk, context: {ago_ms: 5000}}", "PASS", [],
                     id="account-scoped-rule-with-a-longer-window"),
        pytest.param(f"state: {{allowed_orders: [{{ago: 100ms, account: desk}}]}}\n"
                     f"request: {{order: {ETH_ORDER}}}}}\nexpect: allow", "PASS", [], id="another-account"),
        pytest.param("state: {allowed_orders: [{ago: 100ms}]}\n"
                     "request: {order: {action: cancel, symbol: ETHUSDT, order_id: '7'}}\nexpect: allow", "ERROR",
                     ["  state.allowed_orders: an allowed order needs symbol, side, qty (the request has none to "
                      "lend it)"], id="nothing-to-lend"),
    ],
)
def test_case_when_state_lists_allowed_orders_then_duplicate_rules_see_them(
    tmp_path: Path, case: str, status: str, detail: list[str]
) -> None:
    policy = tmp_path / "duplicates.yaml"
    policy.write_text(DUPLICATES_POLICY)

    code, lines = one_case(tmp_path, case, policy=policy)

    assert lines[0] == f"{status} {tmp_path / 'case.test.yaml'}::the case"
    assert lines[1:-1] == detail
    assert code == (0 if status == "PASS" else 1)


DAILY_LOSS_POLICY = """
accounts:
  desk: {fingerprints: ["0123456789ab"]}
rules:
  - {id: daily-loss, type: max_daily_loss, quote: 1000}
  - {id: desk-loss, type: max_daily_loss, quote: 200, state: HALTED, scope: {accounts: [desk]}}
"""


@pytest.mark.parametrize(
    ("case", "status"),
    [
        pytest.param("state: {equity_reports: [{equity: 10000}, {equity: 8999}]}\n"
                     f"request: {{order: {ETH_ORDER}}}}}\n"
                     "expect: {verdict: block, rule: daily-loss, reason: TRADING_REDUCING, "
                     "context: {source: daily_loss, until: '2026-01-02T00:00:00Z'}}", "PASS", id="beyond-the-limit"),
        pytest.param("state: {equity_reports: [{equity: 10000}, {equity: 9000}]}\n"
                     f"request: {{order: {ETH_ORDER}}}}}\nexpect: allow", "PASS", id="at-the-limit"),
        pytest.param("state: {equity_reports: [{equity: 10000}, {equity: 9799, account: desk}]}\n"
                     f"request: {{order: {ETH_ORDER}, account: desk}}}}\nexpect: allow", "PASS",
                     id="each-account-its-own-baseline"),
        pytest.param("state: {equity_reports: [{equity: 1000, account: desk}, {equity: 799, account: desk}]}\n"
                     f"request: {{order: {ETH_ORDER}, account: desk}}}}\n"
                     "expect: {verdict: block, rule: desk-loss, reason: TRADING_HALTED}", "PASS",
                     id="account-scoped-rule"),
        pytest.param("state: {equity_reports: [{equity: 10000}, {equity: 5000}]}\n"
                     f"request: {{order: {ETH_ORDER}}}}}\nexpect: allow", "FAIL", id="a-wrong-expectation-fails"),
    ],
)
def test_case_when_state_lists_equity_reports_then_daily_loss_rules_measure_them(
    tmp_path: Path, case: str, status: str
) -> None:
    policy = tmp_path / "daily-loss.yaml"
    policy.write_text(DAILY_LOSS_POLICY)

    code, lines = one_case(tmp_path, case, policy=policy)

    assert lines[0] == f"{status} {tmp_path / 'case.test.yaml'}::the case", lines
    assert code == (0 if status == "PASS" else 1)


DAILY_NOTIONAL_POLICY = """
accounts:
  desk: {fingerprints: ["0123456789ab"]}
rules:
  - {id: daily, type: max_daily_notional, notional: 10000}
  - {id: daily-symbol, type: max_daily_notional, notional: 5000, per: symbol}
  - {id: position, type: max_position, default: {qty: 1}}
  - {id: qty, type: max_order_qty, default: 100}
"""
ETH_300 = "request: {order: {symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000}}\n"  # 300 of notional


@pytest.mark.parametrize(
    ("case", "status", "detail"),
    [
        pytest.param("state: {daily_notional: [{rule: daily, notional: 9700}]}\n" + ETH_300 +
                     "expect: {verdict: allow, would_block: false}", "PASS", [], id="up-to-the-budget"),
        pytest.param("state: {daily_notional: [{rule: daily, notional: 9700.01}]}\n" + ETH_300 +
                     "expect: {verdict: block, rule: daily, reason: DAILY_NOTIONAL_EXCEEDS_MAX, context: "
                     "{daily_notional: 10000.01, max_daily_notional: 10000, notional: 300, scope: account, "
                     "symbol: ETHUSDT}}", "PASS", [], id="over-the-budget-with-its-context"),
        pytest.param("state: {daily_notional: [{rule: daily, notional: 5000}, "
                     "{rule: daily, notional: 4700.01, symbol: BTCUSDT}]}\n" + ETH_300 +
                     "expect: {verdict: block, rule: daily, context: {daily_notional: 10000.01}}", "PASS", [],
                     id="entries-add-up-whatever-their-symbol"),
        pytest.param("state: {daily_notional: [{rule: daily-symbol, notional: 4800}]}\n" + ETH_300 +
                     "expect: {verdict: block, rule: daily-symbol, context: {daily_notional: 5100, scope: symbol, "
                     "symbol: ETHUSDT}}", "PASS", [], id="symbol-defaults-to-the-requests"),
        pytest.param("state: {daily_notional: [{rule: daily-symbol, notional: 4800, symbol: BTCUSDT}]}\n" +
                     ETH_300 + "expect: allow", "PASS", [], id="another-symbols-budget"),
        pytest.param("state: {daily_notional: [{rule: daily, notional: 9999, account: desk}]}\n" + ETH_300 +
                     "expect: allow", "PASS", [], id="another-accounts-budget"),
        pytest.param("state: {daily_notional: [{rule: daily, notional: 9999, account: desk}]}\n"
                     "request: {order: {symbol: ETHUSDT, side: buy, qty: 0.1, price: 3000, account: desk}}\n"
                     "expect: {verdict: block, rule: daily}", "PASS", [], id="a-labelled-accounts-budget"),
        pytest.param("state: {daily_notional: [{rule: daily, notional: 100, symbol: ETHUSDT}]}\n"
                     "request: {order: {symbol: ETHUSDT, side: buy, qty: 1, price: 3000}}\n"
                     "expect: {verdict: allow, would_block: false}", "PASS", [],
                     id="the-seeded-notional-moves-no-position"),
        pytest.param("state: {daily_notional: [{rule: daily, notional: 9700.01}]}\n" + ETH_300 + "expect: allow",
                     "FAIL", ["  expected: allow",
                              "  actual:   block daily DAILY_NOTIONAL_EXCEEDS_MAX: daily_notional=10000.01, "
                              "max_daily_notional=10000, notional=300, scope=account, symbol=ETHUSDT",
                              "  - verdict is block, not allow"], id="a-wrong-expectation-fails"),
        pytest.param("state: {daily_notional: [{rule: qty, notional: 1}]}\n" + ETH_300 + "expect: allow",
                     "ERROR", ["  state.daily_notional: 'qty' is not a max_daily_notional rule of the policy "
                               "(those: daily, daily-symbol)"], id="not-a-daily-notional-rule"),
    ],
)
def test_case_when_state_lists_daily_notional_then_the_rules_budget_holds_it(
    tmp_path: Path, case: str, status: str, detail: list[str]
) -> None:
    policy = tmp_path / "daily-notional.yaml"
    policy.write_text(DAILY_NOTIONAL_POLICY)

    code, lines = one_case(tmp_path, case, policy=policy)

    assert lines[0] == f"{status} {tmp_path / 'case.test.yaml'}::the case", lines
    assert lines[1:-1] == detail
    assert code == (0 if status == "PASS" else 1)


def test_load_test_file_when_daily_notional_is_not_positive_then_error_names_line_and_key_path(
    tmp_path: Path,
) -> None:
    file = tmp_path / "case.test.yaml"
    file.write_text("policy: p.yaml\ncases:\n  - name: c\n    state:\n      daily_notional:\n"
                    "        - {rule: daily, notional: 0}\n        - {notional: 5}\n"
                    "    request: {order: {symbol: ETHUSDT, side: buy, qty: 1}}\n    expect: allow\n")

    code, lines = run(file)

    assert lines[:3] == [
        f"ERROR {file}: not a usable test file",
        f"  {file}:6: cases[0].state.daily_notional[0].notional: Input should be greater than 0",
        f"  {file}:7: cases[0].state.daily_notional[1].rule: Field required",
    ]
    assert code == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [
        pytest.param("request: {order: {symbol: BTCUSDT, side: buy, qty: 2, price: 100}}\n"
                     "expect: {verdict: allow, would_block: {rule: order-qty, reason: ORDER_QTY_EXCEEDS_MAX}}",
                     "PASS", id="policy-rule-is-relaxed"),
        pytest.param("state: {trading_states: [{state: HALTED}]}\n"
                     "request: {order: {symbol: BTCUSDT, side: buy, qty: 0.1, price: 100}}\n"
                     "expect: {verdict: block, rule: riskwall.kill-switch}", "PASS", id="kill-switch-still-blocks"),
        pytest.param("request: {order: {symbol: BTCUSDT, side: buy, qty: 2, price: 100}}\nexpect: block", "FAIL",
                     id="block-expected-but-monitored"),
    ],
)
def test_case_when_policy_is_in_monitor_mode_then_rules_only_would_block(
    tmp_path: Path, case: str, status: str
) -> None:
    code, lines = one_case(tmp_path, case, policy=MONITOR_POLICY)

    assert lines[0] == f"{status} {tmp_path / 'case.test.yaml'}::the case"
    assert code == (0 if status == "PASS" else 1)


# ---- the pre-commit and CI samples ----------------------------------------------------------------------

EXAMPLES = ROOT / "examples" / "pre-commit"


def test_pre_commit_samples_when_read_then_hooks_check_and_test_whole_policy_folders() -> None:
    hooks = yaml.safe_load((EXAMPLES / ".pre-commit-hooks.yaml").read_text())
    consumer = yaml.safe_load((EXAMPLES / ".pre-commit-config.yaml").read_text())
    workflow = (EXAMPLES / "github-actions.yml").read_text()
    script = (EXAMPLES / "ci.sh").read_text()

    assert {h["id"]: (h["entry"], h["pass_filenames"], h["args"], h["language"]) for h in hooks} == {
        "riskwall-policy-check": ("riskwall policy check", False, ["policies/"], "python"),
        "riskwall-policy-test": ("riskwall policy test", False, ["policies/"], "python"),
    }
    used = {hook["id"] for repo in consumer["repos"] if "riskwall" in repo["repo"] for hook in repo["hooks"]}
    assert used == {"riskwall-policy-check", "riskwall-policy-test"}
    schema_hook = next(h for repo in consumer["repos"] for h in repo["hooks"] if h["id"] == "check-jsonschema")
    assert re.search(schema_hook["files"], "policies/default.yaml")
    assert not re.search(schema_hook["files"], "policies/tests/default.test.yaml")
    for command in ("riskwall policy check", "riskwall policy test"):
        assert f"{command} policies/" in workflow
        assert f'{command} "$policy_dir"' in script


def test_format_example_when_run_against_the_default_policy_then_every_case_passes(tmp_path: Path) -> None:
    # the example in riskwall.policy.testing's docstring is what the README copies: it must stay runnable
    doc = testing.__doc__ or ""
    example = textwrap.dedent(doc[doc.index("    policy: ../default.yaml"):doc.index("The account of an")])
    labelled = (SHIPPED / "default.yaml").read_text().replace(
        "accounts: {}",
        "accounts:\n  main: {fingerprints: ['0123456789ab']}\n  hedge-bot: {fingerprints: ['ba9876543210']}",
    )
    (tmp_path / "default.yaml").write_text(labelled)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "example.test.yaml").write_text(example)

    code, lines = run(tmp_path)

    assert lines[-1] == "2 passed, 0 failed"
    assert code == 0
