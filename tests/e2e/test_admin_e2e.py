"""The kill switch on the in-memory store: `riskwall halt|reduce|resume|status` through the running sidecar's
admin endpoint, and the endpoint's probes and token check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from tests.e2e.conftest import ADMIN_HOST_NAME, ADMIN_TOKEN, Trader
from tests.support.sidecar import Sidecar

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

ETH = "ETH/USDT:USDT"
RISKWALL = str(Path(sys.executable).parent / "riskwall")


def riskwall(sidecar: Sidecar, *args: str, token: str | None = ADMIN_TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKWALL_")}
    if token is not None:
        env["RISKWALL_ADMIN_TOKEN"] = token
    return subprocess.run(
        [RISKWALL, *args, "--admin", f"127.0.0.1:{sidecar.admin_port}"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )


def test_halt_when_issued_for_an_account_then_next_order_blocked_cancel_passes_and_resume_restores(
    trader: Trader, sidecar: Sidecar
) -> None:
    account = fingerprint(trader.api_key)
    halted = riskwall(sidecar, "halt", "--venue", "binanceusdm", "--account", account, "--reason", "runaway loop")
    assert halted.returncode == 0, halted.stderr
    assert f"venue=binanceusdm,account={account}: HALTED" in halted.stdout

    with pytest.raises(ccxt.PermissionDenied) as raised:
        trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    assert "TRADING_HALTED" in str(raised.value) and "runaway loop" in str(raised.value)
    trader.bot.cancel_all_orders(ETH)
    assert trader.orders_received() == []
    assert len(trader.received("DELETE", "/fapi/v1/allOpenOrders")) == 1

    status = riskwall(sidecar, "status")
    states = json.loads(status.stdout)["trading_states"]
    [mine] = [s for s in states if s["scope"] == f"venue=binanceusdm,account={account}"]
    assert mine["state"] == "HALTED" and mine["reason"] == "runaway loop" and mine["actor"]

    resumed = riskwall(sidecar, "resume", "--venue", "binanceusdm", "--account", account, "--reason", "fixed")
    assert resumed.returncode == 0, resumed.stderr
    trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    assert len(trader.orders_received()) == 1
    [line] = sidecar.decisions(account=account, reason="TRADING_HALTED")
    assert line["rule_id"] == "riskwall.kill-switch"


@pytest.mark.parametrize(("token", "exit_text"), [(None, "no admin token"), ("wrong-token", "answered 401")])
def test_halt_when_token_missing_or_wrong_then_refused_and_state_unchanged(
    sidecar: Sidecar, token: str | None, exit_text: str
) -> None:
    result = riskwall(sidecar, "halt", "--reason", "not allowed", token=token)

    assert result.returncode != 0 and exit_text in result.stderr
    states = json.loads(riskwall(sidecar, "status").stdout)["trading_states"]
    assert all(s["reason"] != "not allowed" for s in states)


@pytest.mark.parametrize(("path", "status", "field", "value"), [
    ("/healthz", 200, "status", "ok"),
    ("/readyz", 200, "ready", True),
])
def test_probe_when_sidecar_running_then_answers(sidecar: Sidecar, path: str, status: int, field: str,
                                                 value: object) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.admin_port}{path}", timeout=5) as response:
        assert response.status == status
        assert json.loads(response.read())[field] == value


@pytest.mark.parametrize(("host", "status"), [
    ("rebound.example", 403),  # a page's own name pointed at 127.0.0.1 (DNS rebinding)
    ("localhost.rebound.example:9090", 403),
    (ADMIN_HOST_NAME, 200),  # listed with RISKWALL_ADMIN_HOSTS
    ("localhost", 200),
])
def test_status_when_host_header_names_an_unlisted_host_then_403_without_state(
    trader: Trader, sidecar: Sidecar, host: str, status: int
) -> None:
    trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    request = urllib.request.Request(f"http://127.0.0.1:{sidecar.admin_port}/v1/status",
                                     headers={"Host": f"{host}:{sidecar.admin_port}" if ":" not in host else host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            code, body = response.status, response.read()
    except urllib.error.HTTPError as refused:
        code, body = refused.code, refused.read()
        refused.close()

    assert code == status
    assert (fingerprint(trader.api_key) in body.decode()) is (status == 200)


def test_admin_when_post_without_token_then_unauthorized(sidecar: Sidecar) -> None:
    request = urllib.request.Request(f"http://127.0.0.1:{sidecar.admin_port}/v1/halt", data=b'{"reason":"x"}',
                                     method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    raised.value.close()  # the error holds the answer's socket
    assert raised.value.code == 401


def test_metrics_when_scraped_then_parse_and_decision_counters_match_the_decision_log(
    trader: Trader, sidecar: Sidecar
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order("BTC/USDT:USDT", "limit", "buy", 0.9, 50000)

    with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.admin_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    counted: dict[str, float] = {}
    for sample in families["riskwall_decisions"].samples:
        if sample.name == "riskwall_decisions_total":
            counted[sample.labels["verdict"]] = counted.get(sample.labels["verdict"], 0) + sample.value
    logged: dict[str, int] = {}
    for line in sidecar.log_lines():
        if line.get("event") == "decision":
            logged[line["verdict"]] = logged.get(line["verdict"], 0) + 1

    assert counted == {verdict: float(n) for verdict, n in logged.items()}
    assert counted["block"] >= 1 and counted["allow"] >= 1
    assert "riskwall_decision_latency_seconds" in families and "riskwall_policy_info" in families
    assert trader.api_key not in text


def test_status_when_account_traded_then_shows_its_position_and_pending_exposure(
    trader: Trader, sidecar: Sidecar
) -> None:
    trader.bot.create_order(ETH, "limit", "buy", 0.3, 2000)  # rests: pending buy exposure

    status = json.loads(riskwall(sidecar, "status").stdout)

    mine = status["exposure"][f"binanceusdm|{fingerprint(trader.api_key)}"]
    assert Decimal(mine["ETHUSDT|both"]["pending_buy"]) == Decimal("0.3")
    assert status["usage"][f"binanceusdm|{fingerprint(trader.api_key)}"]["open_orders"] == {"*": "1", "ETHUSDT": "1"}
    assert status["policy_revision"] and status["store_ok"] is True
