"""`riskwall.settings`: each `riskwall run` setting declared once, and the flag, environment variable, mitmproxy
option and typed value derived from it, as the README documents them."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from riskwall import settings
from riskwall.model import Venue
from riskwall.settings import ReverseListener, RunSettings

ROOT = Path(__file__).resolve().parents[2]
# `| `--policy PATH` | `RISKWALL_POLICY` | `policies/` | ...`
README_ROW = re.compile(r"^\| `(--[a-z-]+)[^`]*` \| `(RISKWALL_[A-Z_]+)` \|([^|]*)\|", re.MULTILINE)


def parse(argv: Sequence[str], environ: dict[str, str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    settings.add_run_arguments(parser, environ=environ or {})
    return parser.parse_args(list(argv))


def readme_rows() -> list[tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(flag, env, default.strip()) for flag, env, default in README_ROW.findall(text)]


def test_readme_when_run_options_listed_then_each_is_a_setting_with_that_environment_variable() -> None:
    by_flag = {s.flag: s for s in settings.SETTINGS}
    rows = readme_rows()

    assert len(rows) >= 19
    for flag, env, default in rows:
        assert flag in by_flag, flag
        assert by_flag[flag].env == env, flag
        if default.startswith("`"):
            assert by_flag[flag].default == default.strip("`"), flag


def test_readme_when_read_then_every_setting_flag_is_documented() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")

    assert [s.flag for s in settings.SETTINGS if f"`{s.flag}" not in text] == []


@pytest.mark.parametrize(
    ("option", "kind", "default"),
    [
        ("riskwall_policy", str, "policies/"),
        ("riskwall_policy_poll", float, 1.0),
        ("riskwall_state", str, "memory://"),
        ("riskwall_venue_hosts", Sequence[str], []),
        ("riskwall_admin", str, "127.0.0.1:9090"),
        ("riskwall_capture", str, ""),
        ("riskwall_egress", str, "open"),
        ("riskwall_egress_allow", Sequence[str], []),
        ("riskwall_client_cidrs", Sequence[str], []),
        ("riskwall_ws_orders", bool, True),
        ("riskwall_ws_deadline_ms", int, 250),
        ("riskwall_admin_token_file", str, ""),
        ("riskwall_admin_hosts", Sequence[str], []),
    ],
)
def test_option_specs_when_listed_then_each_addon_option_has_its_type_and_default(
    option: str, kind: object, default: object
) -> None:
    specs = {spec.name: spec for spec in settings.option_specs()}

    assert (specs[option].kind, specs[option].default) == (kind, default)


def test_option_specs_when_listed_then_exactly_the_addon_options() -> None:
    names = [spec.name for spec in settings.option_specs()]

    assert sorted(names) == sorted(settings.option_values(RunSettings()))
    assert len(names) == 13


def test_option_values_when_settings_given_then_typed_values_become_option_values() -> None:
    run = RunSettings(venue_hosts=("binanceusdm=127.0.0.1:9001",), ws_order_entry=False, ws_deadline_ms=100,
                      egress="allowlist", client_cidrs=("10.0.0.0/8",), policy_poll=0.5)

    values = settings.option_values(run)

    assert values["riskwall_venue_hosts"] == ["binanceusdm=127.0.0.1:9001"]
    assert (values["riskwall_ws_orders"], values["riskwall_ws_deadline_ms"]) == (False, 100)
    assert (values["riskwall_egress"], values["riskwall_client_cidrs"]) == ("allowlist", ["10.0.0.0/8"])
    assert values["riskwall_policy_poll"] == 0.5
    assert "riskwall_listen" not in values and "riskwall_confdir" not in values


@pytest.mark.parametrize(
    ("argv", "environ", "name", "value"),
    [
        ([], {}, "listen", ("127.0.0.1", 8080)),
        (["--listen", "off"], {}, "listen", None),
        ([], {"RISKWALL_LISTEN": "none"}, "listen", None),
        (["--listen", "[::1]:18080"], {}, "listen", ("::1", 18080)),
        ([], {"RISKWALL_POLICY_POLL": "0.25"}, "policy_poll", 0.25),
        ([], {}, "policy_poll", 1.0),
        (["--log-max-bytes", "1M"], {}, "log_max_bytes", 1024**2),
        ([], {}, "log_max_bytes", 50 * 1024**2),
        ([], {"RISKWALL_LOG_BACKUPS": "2"}, "log_backups", 2),
        (["--ws-order-entry", "OFF"], {}, "ws_order_entry", False),
        ([], {}, "ws_deadline_ms", 250),
        ([], {}, "upstream_ca", None),
        (["--proxy-auth", "u:p"], {}, "proxy_auth", "u:p"),
        (["--venue-host", "okx=b:2"], {"RISKWALL_VENUE_HOSTS": "okx=a:1"}, "venue_hosts", ("okx=a:1", "okx=b:2")),
        (["--client-cidr", "10.0.0.0/8"], {}, "client_cidrs", ("10.0.0.0/8",)),
        (["--reverse", "okx@127.0.0.1:8083=https://ws.okx.com:8443/"], {}, "reverse",
         (ReverseListener(Venue.OKX, "127.0.0.1", 8083, "https://ws.okx.com:8443"),)),
        ([], {"RISKWALL_UPSTREAMS": "okx=https://a.example/"}, "upstreams", {Venue.OKX: "https://a.example"}),
    ],
)
def test_from_args_when_value_given_then_typed_value(
    argv: list[str], environ: dict[str, str], name: str, value: Any
) -> None:
    assert getattr(settings.from_args(parse(argv, environ)), name) == value


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--policy-poll", "often"], {}, "--policy-poll 'often': not a number of seconds"),
        (["--ws-deadline-ms", "0"], {}, "--ws-deadline-ms '0': between 1 and 60000 milliseconds"),
        ([], {"RISKWALL_WS_ORDER_ENTRY": "maybe"}, "--ws-order-entry 'maybe': write on or off"),
        (["--log-max-bytes", "big"], {}, "--log-max-bytes: log file size 'big'"),
        ([], {"RISKWALL_LOG_BACKUPS": "five"}, "--log-backups 'five': not a whole number"),
        ([], {"RISKWALL_EGRESS": "closed"}, "--egress 'closed': write one of open, allowlist"),
        (["--listen", "8080"], {}, "--listen '8080': write HOST:PORT"),
        (["--reverse", "okx"], {}, "--reverse 'okx': write VENUE@HOST:PORT[=URL]"),
        (["--upstream", "nowhere=https://x"], {}, "--upstream 'nowhere=https://x'"),
    ],
)
def test_from_args_when_value_unreadable_then_value_error_naming_the_flag(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        settings.from_args(parse(argv, environ))


@pytest.mark.parametrize(
    ("name", "help_text"),
    [
        ("policy", "policy file or folder [RISKWALL_POLICY, default policies/]"),
        ("upstream_ca", "private CA) [RISKWALL_UPSTREAM_CA]"),
        ("venue_hosts", "repeatable [RISKWALL_VENUE_HOSTS]"),
    ],
)
def test_help_text_when_derived_then_names_environment_variable_and_default(name: str, help_text: str) -> None:
    assert settings.BY_NAME[name].help_text().endswith(help_text)
