"""`riskwall` command line: fingerprint, policy check, run (validated before any proxy starts), environment
variables, and the halt/reduce/resume/status switches against a memory store's admin endpoint.

`run` never starts mitmproxy here: `riskwall.proxy.run` is replaced by a recorder, so a test that expects a
refusal also proves no proxy was started.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from riskwall import admin, cli, logs, proxy
from riskwall.model import TradingState, Venue, fingerprint, is_fingerprint
from riskwall.state.memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
INVALID = ROOT / "tests" / "fixtures" / "policies" / "invalid"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
ACCOUNT = fingerprint(API_KEY)
TOKEN = "unit-admin-token-" + "t" * 24


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("RISKWALL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[proxy.ProxyConfig]:
    """Replaces the proxy with a recorder; `run` must never reach it on a refused configuration."""
    calls: list[proxy.ProxyConfig] = []

    def fake_run(config: proxy.ProxyConfig) -> int:
        calls.append(config)
        return 0

    monkeypatch.setattr(proxy, "run", fake_run)
    # `run` points structlog at the real stdout; keep the test session's logging where it is
    monkeypatch.setattr(logs, "configure", lambda *args, **kwargs: None)
    return calls


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# --- fingerprint -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stdin", [f"{API_KEY}\n", API_KEY, f"{API_KEY}\r\n", f"  {API_KEY}  \n"])
def test_fingerprint_when_key_on_stdin_then_prints_first_12_hex_of_sha256(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))

    code, out, err = run_main(["fingerprint"], capsys)

    assert code == 0
    assert out == hashlib.sha256(API_KEY.encode()).hexdigest()[:12] + "\n"
    assert API_KEY not in out + err


@pytest.mark.parametrize(("text", "expected"), [
    (fingerprint(API_KEY), True),
    ("0123456789ab", True),
    ("0123456789AB", False),  # fingerprints are lower case
    ("0123456789ab\n", False),  # `$` would let a trailing newline through
    ("0123456789a", False),
    ("0123456789abc", False),
    ("label:desk-a", False),
    (API_KEY, False),
    (None, False),
    (123456789012, False),
])
def test_is_fingerprint_when_text_given_then_only_twelve_lower_hex_digits_pass(text: object, expected: bool) -> None:
    assert is_fingerprint(text) is expected


@pytest.mark.parametrize("stdin", ["", "\n", "   \n"])
def test_fingerprint_when_stdin_empty_then_exit_2_with_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))

    code, out, err = run_main(["fingerprint"], capsys)

    assert code == 2
    assert out == ""
    assert "stdin" in err


def test_fingerprint_when_key_given_as_argument_then_refused_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["fingerprint", API_KEY])

    assert exited.value.code == 2


# --- policy check ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [POLICIES, POLICIES / "default.yaml"])
def test_policy_check_when_shipped_policy_then_exit_0_and_ok(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, _ = run_main(["policy", "check", str(path)], capsys)

    assert code == 0
    rules = sum(line.startswith("  - id: ") for line in (POLICIES / "default.yaml").read_text().splitlines())
    assert out.startswith(f"{path}: ok ({rules} rules, revision ")


@pytest.mark.parametrize(
    ("name", "key_path"),
    [
        ("non_positive_limit.yaml", "rules[0].default"),
        ("unknown_rule_key.yaml", "rules[0].max_qty"),
        ("duplicate_rule_id.yaml", "rules[1].id"),
        ("unknown_top_level_key.yaml", ""),
    ],
)
def test_policy_check_when_file_invalid_then_exit_1_naming_file_and_key_path(
    capsys: pytest.CaptureFixture[str], name: str, key_path: str
) -> None:
    path = INVALID / name

    code, out, _ = run_main(["policy", "check", str(path)], capsys)

    assert code == 1
    assert f"{path}:" in out
    assert key_path in out
    assert ": ok" not in out


def test_policy_check_when_several_paths_then_each_reported_and_exit_1_if_any_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = INVALID / "non_positive_limit.yaml"
    folder = INVALID / "several_errors"

    code, out, _ = run_main(["policy", "check", str(POLICIES), str(bad), str(folder)], capsys)

    assert code == 1
    assert f"{POLICIES}: ok" in out
    assert f"{bad}:4: rules[0].default" in out
    for file in ("a.yaml", "b.yaml", "c.yaml"):
        assert str(folder / file) in out


def test_policy_check_when_all_paths_valid_then_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("rules:\n  - {id: qty, type: max_order_qty, default: 1}\n", encoding="utf-8")

    code, out, _ = run_main(["policy", "check", str(POLICIES), str(other)], capsys)

    assert code == 0
    assert out.count(": ok") == 2


def test_policy_check_when_path_missing_then_exit_1_naming_it(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    code, out, _ = run_main(["policy", "check", str(missing)], capsys)

    assert code == 1
    assert str(missing) in out


def test_policy_check_when_no_path_then_argparse_error() -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["policy", "check"])

    assert exited.value.code == 2


@pytest.mark.parametrize("argv", [[], ["policy"]])
def test_main_when_no_command_then_help_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, _ = run_main(argv, capsys)

    assert code == 2
    assert "usage:" in out


# --- run ---------------------------------------------------------------------------------------------------


def test_run_when_policy_invalid_then_exit_2_listing_every_error_without_starting_proxy(
    capsys: pytest.CaptureFixture[str], started: list[proxy.ProxyConfig]
) -> None:
    folder = INVALID / "several_errors"

    code, out, err = run_main(["run", "--policy", str(folder)], capsys)

    assert code == 2
    assert started == []
    assert f"invalid policy {folder}" in err
    errors = [line for line in err.splitlines() if line.startswith("  ")]
    assert len(errors) == 5
    assert any(f"{folder / 'a.yaml'}:4: rules[0].id" in e for e in errors)
    assert any(f"{folder / 'a.yaml'}:6: rules[0].default" in e for e in errors)
    assert any("colour: unknown key" in e for e in errors)
    assert any(f"{folder / 'b.yaml'}:2: rules[0]: unknown rule type" in e for e in errors)
    assert any(f"{folder / 'c.yaml'}:2: invalid YAML" in e for e in errors)
    assert out == ""


RUN_OK = ["run", "--policy", str(POLICIES)]

BAD_OPTIONS = [
    (["--listen", "nonsense"], "--listen"),
    (["--listen", "127.0.0.1:99999"], "--listen"),
    (["--listen", "127.0.0.1:"], "--listen"),
    (["--listen", "8080"], "--listen"),
    (["--reverse", "binanceusdm127.0.0.1:8081"], "--reverse"),
    (["--reverse", "binanceusdm@127.0.0.1:port"], "--reverse"),
    (["--reverse", "binanceusdm@127.0.0.1"], "--reverse"),
    (["--upstream", "binanceusdm"], "--upstream"),
    (["--upstream", "binanceusdm=demo-fapi.binance.com"], "--upstream"),
    (["--state", "postgres://db:5432/0"], "state"),
    (["--state", "memory"], "state"),
    (["--reverse", "nope@127.0.0.1:8081"], "--reverse"),
    (["--upstream", "kraken=https://futures.kraken.com"], "--upstream"),
    (["--venue-host", "nonsense"], "--venue-host"),
    (["--venue-host", "nope=127.0.0.1:9001"], "--venue-host"),
    (["--reverse", "binanceusdm@127.0.0.1:8091=ws-fapi.binance.com"], "--reverse"),
    (["--ws-order-entry", "maybe"], "--ws-order-entry"),
    (["--ws-deadline-ms", "0"], "--ws-deadline-ms"),
    (["--ws-deadline-ms", "soon"], "--ws-deadline-ms"),
]

def _marked(rows: list[tuple[list[str], str]], message_test: bool) -> list[Any]:
    out = []
    for argv, option in rows:
        out.append(pytest.param(argv, option, id=" ".join(argv)))
    return out


@pytest.mark.parametrize(("extra", "option"), _marked(BAD_OPTIONS, message_test=False))
def test_run_when_option_invalid_then_exit_2_without_starting_proxy(
    capsys: pytest.CaptureFixture[str], started: list[proxy.ProxyConfig], extra: list[str], option: str
) -> None:
    code, _, err = run_main([*RUN_OK, *extra], capsys)

    assert code == 2
    assert started == []
    assert err.startswith("riskwall: ")


@pytest.mark.parametrize(("extra", "option"), _marked(BAD_OPTIONS, message_test=True))
def test_run_when_option_invalid_then_message_names_option_and_value(
    capsys: pytest.CaptureFixture[str], started: list[proxy.ProxyConfig], extra: list[str], option: str
) -> None:
    code, _, err = run_main([*RUN_OK, *extra], capsys)

    assert code == 2
    assert option in err
    assert extra[1].rpartition("@")[2] in err  # the offending value (for --reverse, at least its address)


def test_run_when_nothing_to_listen_on_then_exit_2(capsys: pytest.CaptureFixture[str],
                                                   started: list[proxy.ProxyConfig]) -> None:
    code, _, err = run_main([*RUN_OK, "--listen", "off"], capsys)

    assert code == 2
    assert started == []
    assert "--listen or --reverse" in err


def test_run_when_options_valid_then_proxy_started_with_parsed_config(
    capsys: pytest.CaptureFixture[str], started: list[proxy.ProxyConfig]
) -> None:
    code, _, err = run_main([
        *RUN_OK, "--listen", "[::1]:18080", "--reverse", "binanceusdm@127.0.0.1:18081",
        "--upstream", "binanceusdm=https://demo-fapi.binance.com/", "--venue-host", "binanceusdm=127.0.0.1:9001",
        "--confdir", "/tmp/rw-conf", "--upstream-ca", "/tmp/ca.pem", "--admin", "off",
    ], capsys)

    assert (code, err) == (0, "")
    [config] = started
    assert config.policy == str(POLICIES)
    assert config.state == "memory://"
    assert config.listen == ("::1", 18080)
    assert config.reverse == (proxy.ReverseListener(Venue.BINANCEUSDM, "127.0.0.1", 18081),)
    assert config.upstreams == {Venue.BINANCEUSDM: "https://demo-fapi.binance.com"}
    assert config.venue_hosts == ("binanceusdm=127.0.0.1:9001",)
    assert (config.confdir, config.upstream_ca, config.admin) == ("/tmp/rw-conf", "/tmp/ca.pem", "off")
    assert proxy.modes(config) == ["regular@::1:18080", "reverse:https://demo-fapi.binance.com@127.0.0.1:18081"]


def test_run_when_websocket_options_given_then_config_and_listeners_carry_them(
    capsys: pytest.CaptureFixture[str], started: list[proxy.ProxyConfig]
) -> None:
    code, _, err = run_main([
        *RUN_OK, "--reverse", "binanceusdm@127.0.0.1:18081", "--reverse",
        "binanceusdm@127.0.0.1:18091=https://ws-fapi.binance.com/", "--ws-order-entry", "off",
        "--ws-deadline-ms", "100",
    ], capsys)

    assert (code, err) == (0, "")
    [config] = started
    assert (config.ws_order_entry, config.ws_deadline_ms) == (False, 100)
    assert proxy.modes(config)[1:] == ["reverse:https://fapi.binance.com@127.0.0.1:18081",
                                       "reverse:https://ws-fapi.binance.com@127.0.0.1:18091"]
    assert "binanceusdm=ws-fapi.binance.com" in proxy.upstream_venue_hosts(config)


def test_run_when_listen_off_and_reverse_given_then_only_reverse_listener(
    capsys: pytest.CaptureFixture[str], started: list[proxy.ProxyConfig]
) -> None:
    code, _, _ = run_main([*RUN_OK, "--listen", "off", "--reverse", "binanceusdm@127.0.0.1:18081"], capsys)

    assert code == 0
    [config] = started
    assert config.listen is None
    assert proxy.modes(config) == ["reverse:https://fapi.binance.com@127.0.0.1:18081"]


def test_run_when_configured_by_environment_then_proxy_gets_environment_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], started: list[proxy.ProxyConfig]
) -> None:
    monkeypatch.setenv("RISKWALL_POLICY", str(POLICIES / "default.yaml"))
    monkeypatch.setenv("RISKWALL_LISTEN", "off")
    monkeypatch.setenv("RISKWALL_REVERSE", "binanceusdm@127.0.0.1:18081")
    monkeypatch.setenv("RISKWALL_VENUE_HOSTS", "binanceusdm=127.0.0.1:9001 binanceusdm=127.0.0.1:9002")

    code, _, err = run_main(["run"], capsys)

    assert (code, err) == (0, "")
    [config] = started
    assert config.policy == str(POLICIES / "default.yaml")
    assert config.listen is None
    assert config.venue_hosts == ("binanceusdm=127.0.0.1:9001", "binanceusdm=127.0.0.1:9002")


# --- environment -------------------------------------------------------------------------------------------

SCALAR_ENV = [
    ("RISKWALL_POLICY", "policy", "--policy", "/etc/riskwall/policies", "/cli/policy.yaml"),
    ("RISKWALL_LISTEN", "listen", "--listen", "0.0.0.0:8080", "127.0.0.1:9999"),
    ("RISKWALL_STATE", "state", "--state", "redis://redis:6379/0", "memory://"),
    ("RISKWALL_CONFDIR", "confdir", "--confdir", "/data/riskwall", "/cli/conf"),
    ("RISKWALL_UPSTREAM_CA", "upstream_ca", "--upstream-ca", "/etc/ca.pem", "/cli/ca.pem"),
    ("RISKWALL_ADMIN", "admin", "--admin", "127.0.0.1:19090", "off"),
    ("RISKWALL_ADMIN_TOKEN_FILE", "admin_token_file", "--admin-token-file", "/run/token", "/cli/token"),
]


@pytest.mark.parametrize(("env", "dest", "flag", "env_value", "cli_value"), SCALAR_ENV)
def test_parser_when_environment_variable_set_then_used_and_command_line_wins(
    monkeypatch: pytest.MonkeyPatch, env: str, dest: str, flag: str, env_value: str, cli_value: str
) -> None:
    monkeypatch.setenv(env, env_value)

    from_env = cli._parser().parse_args(["run"])
    from_cli = cli._parser().parse_args(["run", flag, cli_value])

    assert getattr(from_env, dest) == env_value
    assert getattr(from_cli, dest) == cli_value


@pytest.mark.parametrize(("dest", "default"), [
    ("policy", "policies/"), ("listen", "127.0.0.1:8080"), ("state", "memory://"), ("confdir", "~/.riskwall"),
    ("upstream_ca", None), ("admin", "127.0.0.1:9090"), ("venue_host", []), ("reverse", []), ("upstream", []),
])
def test_parser_when_environment_unset_or_empty_then_documented_default(
    monkeypatch: pytest.MonkeyPatch, dest: str, default: object
) -> None:
    assert getattr(cli._parser().parse_args(["run"]), dest) == default
    for env in ("RISKWALL_POLICY", "RISKWALL_LISTEN", "RISKWALL_STATE", "RISKWALL_CONFDIR", "RISKWALL_UPSTREAM_CA",
                "RISKWALL_ADMIN", "RISKWALL_VENUE_HOSTS", "RISKWALL_REVERSE", "RISKWALL_UPSTREAMS"):
        monkeypatch.setenv(env, "")
    assert getattr(cli._parser().parse_args(["run"]), dest) == default


@pytest.mark.parametrize(
    ("env", "dest", "flag", "env_value", "env_items", "cli_value"),
    [
        ("RISKWALL_VENUE_HOSTS", "venue_host", "--venue-host", "binanceusdm=a:1,binanceusdm=b:2",
         ["binanceusdm=a:1", "binanceusdm=b:2"], "binanceusdm=c:3"),
        ("RISKWALL_VENUE_HOSTS", "venue_host", "--venue-host", " binanceusdm=a:1 \n binanceusdm=b:2, ",
         ["binanceusdm=a:1", "binanceusdm=b:2"], "binanceusdm=c:3"),
        ("RISKWALL_REVERSE", "reverse", "--reverse", "binanceusdm@127.0.0.1:8081",
         ["binanceusdm@127.0.0.1:8081"], "binanceusdm@127.0.0.1:8082"),
        ("RISKWALL_UPSTREAMS", "upstream", "--upstream", "binanceusdm=https://a.example, binanceusdm=https://b.example",
         ["binanceusdm=https://a.example", "binanceusdm=https://b.example"], "binanceusdm=https://c.example"),
    ],
)
def test_parser_when_environment_list_set_then_split_and_command_line_values_added(
    monkeypatch: pytest.MonkeyPatch, env: str, dest: str, flag: str, env_value: str, env_items: list[str],
    cli_value: str,
) -> None:
    monkeypatch.setenv(env, env_value)
    parser = cli._parser()

    assert getattr(parser.parse_args(["run"]), dest) == env_items
    assert getattr(parser.parse_args(["run", flag, cli_value]), dest) == [*env_items, cli_value]
    assert getattr(parser.parse_args(["run"]), dest) == env_items  # the default list was not mutated


@pytest.mark.parametrize("command", ["halt", "reduce", "resume", "status"])
def test_parser_when_store_environment_set_then_switch_commands_use_it(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("RISKWALL_STATE", "redis://redis:6379/1")
    monkeypatch.setenv("RISKWALL_ADMIN", "127.0.0.1:19999")
    monkeypatch.setenv("RISKWALL_POLICY", "/etc/riskwall")
    extra = [] if command == "status" else ["--reason", "r"]

    args = cli._parser().parse_args([command, *extra])
    overridden = cli._parser().parse_args([command, *extra, "--admin", "127.0.0.1:1"])

    assert (args.state, args.admin, args.policy) == ("redis://redis:6379/1", "127.0.0.1:19999", "/etc/riskwall")
    assert overridden.admin == "127.0.0.1:1"


# --- halt / reduce / resume / status -----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["halt", "reduce", "resume"])
def test_switch_when_reason_missing_then_argparse_error(capsys: pytest.CaptureFixture[str], command: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--venue", "binanceusdm"])

    assert exited.value.code == 2
    assert "--reason" in capsys.readouterr().err


@pytest.mark.parametrize("scope", [["--account", ACCOUNT], ["--symbol", "BTCUSDT"]])
def test_switch_when_account_or_symbol_without_venue_then_exit_2(capsys: pytest.CaptureFixture[str],
                                                                 scope: list[str]) -> None:
    code, _, err = run_main(["halt", *scope, "--reason", "runaway"], capsys)

    assert code == 2
    assert "--venue" in err


def test_switch_when_memory_store_and_no_admin_token_then_exit_1_no_admin_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run_main(["halt", "--reason", "runaway", "--admin", "127.0.0.1:1"], capsys)

    assert code == 1
    assert "no admin token" in err


@pytest.mark.parametrize("venue", ["nope", "kraken"])
def test_switch_when_venue_unknown_then_exit_2_with_message(capsys: pytest.CaptureFixture[str], venue: str) -> None:
    code, _, err = run_main(["halt", "--venue", venue, "--reason", "runaway"], capsys)

    assert code == 2
    assert venue in err


@pytest.mark.parametrize(("venue", "symbol"), [("binanceusdm", "BTC/USDT:USDT"), ("binanceusdm", "BTC-USDT"),
                                             ("okx", "BTCUSDT"), ("bingx", "BTCUSDT")])
def test_switch_when_symbol_is_not_the_venues_own_id_then_exit_2_before_anything_is_set(
        capsys: pytest.CaptureFixture[str], venue: str, symbol: str) -> None:
    # a halt of a name the venue's orders never carry would print HALTED and block nothing
    code, out, err = run_main(["halt", "--venue", venue, "--symbol", symbol, "--reason", "runaway",
                               "--admin", "127.0.0.1:1"], capsys)

    assert code == 2 and out == ""
    assert "--symbol" in err and "own instrument id" in err


def test_switch_when_account_label_not_in_policy_then_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["halt", "--venue", "binanceusdm", "--account", "main", "--reason", "r",
                             "--policy", str(POLICIES)], capsys)

    assert code == 2
    assert "account label 'main'" in err


class AdminServer:
    """The sidecar's real admin endpoint over a MemoryStore, on its own loop in a thread (the CLI is sync)."""

    def __init__(self, token: str | None) -> None:
        self.store = MemoryStore()
        self.loop = asyncio.new_event_loop()
        api = admin.AdminApi(lambda: {"policy_revision": "abc123def456"}, lambda: self.store, token)
        self.server = self.loop.run_until_complete(admin.serve(api, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def states(self) -> dict[str, tuple[str, str, str]]:
        future = asyncio.run_coroutine_threadsafe(self.store.trading_states(), self.loop)
        return {r.scope.text: (r.state, r.reason, r.actor) for r in future.result(5)}

    def close(self) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def sidecar_admin(monkeypatch: pytest.MonkeyPatch) -> Iterator[AdminServer]:
    saved = structlog.get_config()
    logs.configure(stream=io.StringIO())  # the admin's own log lines stay out of the CLI's stdout
    monkeypatch.setattr(admin, "log", logs.get_logger("riskwall.admin"))
    monkeypatch.setattr(logs, "configure", lambda *args, **kwargs: None)
    server = AdminServer(TOKEN)
    yield server
    server.close()
    structlog.configure(**saved)


def test_switch_when_token_right_then_state_set_through_admin_and_resume_clears_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sidecar_admin: AdminServer
) -> None:
    monkeypatch.setenv("RISKWALL_ADMIN_TOKEN", TOKEN)
    admin_at = ["--admin", sidecar_admin.address]

    code, out, err = run_main(["halt", "--venue", "BinanceUSDM", "--account", ACCOUNT, "--symbol", "btcusdt",
                               "--reason", "runaway loop", "--actor", "alice@desk", *admin_at], capsys)

    scope = f"venue=binanceusdm,account={ACCOUNT},symbol=BTCUSDT"
    assert (code, err) == (0, "")
    assert out == f"{scope}: HALTED\n"
    assert sidecar_admin.states() == {scope: (TradingState.HALTED, "runaway loop", "alice@desk")}

    code, out, _ = run_main(["status", *admin_at], capsys)
    assert code == 0
    status = json.loads(out)
    assert status["policy_revision"] == "abc123def456"
    assert status["trading_states"][0] | {"at_ms": 0} == {
        "scope": scope, "state": "HALTED", "reason": "runaway loop", "actor": "alice@desk", "at_ms": 0}

    code, out, _ = run_main(["resume", "--venue", "binanceusdm", "--account", ACCOUNT, "--symbol", "BTCUSDT",
                             "--reason", "fixed", *admin_at], capsys)
    assert (code, out) == (0, f"{scope}: ACTIVE\n")
    assert sidecar_admin.states() == {}


def test_switch_when_account_label_then_the_labelled_account_is_switched_for_all_its_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sidecar_admin: AdminServer,
    tmp_path: Path,
) -> None:
    other = "0123456789ab"
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"accounts:\n  desk: {{fingerprints: ['{ACCOUNT}', '{other}']}}\nrules: []\n", encoding="utf-8")
    monkeypatch.setenv("RISKWALL_ADMIN_TOKEN", TOKEN)

    code, out, _ = run_main(["reduce", "--venue", "binanceusdm", "--account", "desk", "--reason", "drawdown",
                             "--policy", str(policy), "--admin", sidecar_admin.address], capsys)

    assert code == 0
    # one state for the account the label names: it covers every key listed, those added later too
    assert list(sidecar_admin.states()) == ["venue=binanceusdm,account=label:desk"]
    assert out.count(": REDUCING") == 1


def test_switch_when_token_wrong_then_exit_1_answered_401_and_state_unchanged(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sidecar_admin: AdminServer
) -> None:
    monkeypatch.setenv("RISKWALL_ADMIN_TOKEN", "wrong-" + TOKEN)

    code, _, err = run_main(["halt", "--reason", "r", "--admin", sidecar_admin.address], capsys)

    assert code == 1
    assert "answered 401" in err
    assert sidecar_admin.states() == {}


def test_switch_when_token_in_file_then_used(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sidecar_admin: AdminServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")

    code, out, _ = run_main(["halt", "--reason", "r", "--admin", sidecar_admin.address,
                             "--admin-token-file", str(token_file)], capsys)

    assert (code, out) == (0, "global: HALTED\n")
    assert sidecar_admin.states()["global"][0] == TradingState.HALTED


@pytest.mark.parametrize("command", [["status"], ["halt", "--reason", "r"]])
def test_store_command_when_no_sidecar_listening_then_exit_1_naming_address(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.setenv("RISKWALL_ADMIN_TOKEN", TOKEN)
    server = AdminServer(TOKEN)
    address = server.address
    server.close()  # a port that was just free: nothing listens there now

    code, _, err = run_main([*command, "--admin", address], capsys)

    assert code == 1
    assert f"no sidecar admin endpoint at {address}" in err


@pytest.mark.parametrize("command", [["halt", "--reason", "r"], ["status"]])
def test_store_command_when_state_url_unsupported_then_exit_nonzero_with_message(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    code, _, err = run_main([*command, "--state", "postgres://db/0"], capsys)

    assert code != 0
    assert "postgres://db/0" in err
