"""The `reject_storm` rule with the real ccxt, through the real `riskwall run`, on Binance USDⓈ-M, Bybit and OKX,
and across a fleet of two sidecars on one Redis.

The fakes refuse orders the way each venue does: Binance with HTTP 400 and a code (queued on the fake), Bybit
with HTTP 200 and a `retCode` (queued too), OKX with HTTP 200, code "1" and the leg's `sCode` (a client order id
already resting, refused by the fake as OKX refuses it). After the policy's limit of refusals the next order that
adds risk is answered by the sidecar (the fake never sees it) under the storm's rule as TRADING_REDUCING, while a
reduce-only order and a cancel still reach the exchange; `/v1/status` shows the state with its rule and end, and
`riskwall resume` ends it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ccxt
import pytest
from tests.e2e.conftest import ADMIN_TOKEN, launch
from tests.e2e.test_redis_fleet_e2e import redis_server  # noqa: F401 - a fixture
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.support.ccxt_bots import reverse_bot
from tests.support.sidecar import Sidecar
from tests.support.three_venues import (
    BTC,
    VENUES,
    Bot,
    Fakes,
    make_bot,
)
from tests.support.three_venues import rest_sidecar as rest_sidecar  # the `sidecar` fixture
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

RISKWALL = str(Path(sys.executable).parent / "riskwall")
LIMIT = 3
POLICY = f"""
version: 1
mode: enforce
rules:
  - id: storm
    type: reject_storm
    limit: "{LIMIT}/1m"
    cool_down: 1m
    state: REDUCING
"""
SIDECAR_ENV = {"RISKWALL_ADMIN_TOKEN": ADMIN_TOKEN}  # for riskwall resume
RESTING_PRICE = 30000  # far below the fakes' mark: a limit buy there rests
CANCEL = {"binanceusdm": ("DELETE", "/fapi/v1/order"), "bybit": ("POST", "/v5/order/cancel"),
          "okx": ("POST", "/api/v5/trade/cancel-order")}


def refuse_next_orders(bot: Bot, count: int, client_id: str) -> None:
    """Send `count` orders the venue refuses (never the firewall), each raising the venue's own error."""
    if bot.venue == "binanceusdm":
        for _ in range(count):
            bot.fake.queue_error("POST", "/fapi/v1/order", code=-2019, msg="Margin is insufficient.")
    elif bot.venue == "bybit":
        for _ in range(count):
            bot.fake.queue_error("POST", "/v5/order/create", code=110007, msg="ab not enough for new order")
    for _ in range(count):
        # on OKX the resting order's client id makes the fake refuse it (51016), as OKX does
        with pytest.raises(ccxt.BaseError) as raised:
            bot.order(BTC, "limit", "buy", RESTING_PRICE, clientOrderId=client_id)
        assert not isinstance(raised.value, ccxt.PermissionDenied), raised.value  # the venue's, not the sidecar's


def admin_status(sidecar: Sidecar) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.admin_port}/v1/status", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def riskwall(*args: str, admin_port: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKWALL_")}
    env["RISKWALL_ADMIN_TOKEN"] = ADMIN_TOKEN
    where = ["--admin", f"127.0.0.1:{admin_port}"] if admin_port is not None else []
    return subprocess.run([RISKWALL, *args, *where], capture_output=True, text=True, timeout=60, env=env,
                          check=False)


@pytest.mark.parametrize("venue", VENUES)
def test_orders_when_venue_refused_the_limit_then_next_risk_order_blocked_before_exchange_while_reduce_and_cancel_pass(
    fakes: Fakes, sidecar: Sidecar, wiring: str, venue: str
) -> None:
    bot = make_bot(fakes, sidecar, wiring, venue, "rs")
    client_id = "rs" + secrets.token_hex(8)
    bot.order(BTC, "market", "buy")  # a position to reduce later
    resting = bot.order(BTC, "limit", "buy", RESTING_PRICE, clientOrderId=client_id)
    bot.exchange.fetch_positions([BTC])  # the sidecar learns the position as the venue reports it
    refuse_next_orders(bot, LIMIT, client_id)
    sent = len(bot.orders_received())

    with pytest.raises(ccxt.PermissionDenied) as raised:
        bot.order(BTC, "market", "buy")
    assert "TRADING_REDUCING" in str(raised.value)
    assert len(bot.orders_received()) == sent  # the exchange never saw it
    bot.order(BTC, "market", "sell", reduceOnly=True)
    bot.exchange.cancel_order(resting["id"], BTC)
    assert len(bot.orders_received()) == sent + 1
    [cancelled] = bot.received(*CANCEL[venue])
    assert cancelled.status == 200

    [block] = bot.decisions(verdict="block")
    assert (block["rule_id"], block["reason"], block["context"]["source"]) == ("storm", "TRADING_REDUCING",
                                                                                 "reject_storm")
    [trip] = [line for line in sidecar.log_lines() if line.get("event") == "reject_storm"
              and line.get("account") == bot.account]
    assert (trip["rule_id"], trip["venue"], trip["state"], trip["rejections"], trip["window"]) == (
        "storm", venue, "REDUCING", LIMIT, f"{LIMIT}/1m")
    scope = f"venue={venue},account={bot.account}"
    [state] = [s for s in admin_status(sidecar)["trading_states"] if s["scope"] == scope]
    assert (state["state"], state["rule_id"], state["actor"], state["until_ms"]) == (
        "REDUCING", "storm", "rule:storm", trip["until_ms"])

    resumed = riskwall("resume", "--venue", venue, "--account", bot.account, "--reason", "bot fixed",
                       admin_port=sidecar.admin_port)
    assert resumed.returncode == 0, resumed.stderr
    assert all(s["scope"] != scope for s in admin_status(sidecar)["trading_states"])
    bot.order(BTC, "market", "buy")
    assert len(bot.orders_received()) == sent + 2
    assert [o.status for o in bot.orders_received()][-1] == 200


@pytest.mark.parametrize("venue", VENUES)
def test_orders_when_the_venue_refused_fewer_than_the_limit_then_nothing_changes(
    fakes: Fakes, sidecar: Sidecar, venue: str
) -> None:
    bot = make_bot(fakes, sidecar, "reverse", venue, "rs")
    client_id = "rs" + secrets.token_hex(8)
    bot.order(BTC, "limit", "buy", RESTING_PRICE, clientOrderId=client_id)
    refuse_next_orders(bot, LIMIT - 1, client_id)

    bot.order(BTC, "market", "buy")

    assert bot.decisions(verdict="block") == []
    assert all(s["scope"] != f"venue={venue},account={bot.account}" for s in admin_status(sidecar)["trading_states"])


# ---- a fleet on one Redis ---------------------------------------------------------------------------------


@pytest.fixture
def fleet(tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial,
          redis_server: Any) -> Iterator[Callable[[str], Sidecar]]:  # noqa: F811 - the fixture imported above
    started: list[Sidecar] = []
    policy = tmp_path / "storm.yaml"
    policy.write_text(POLICY.replace(f'"{LIMIT}/1m"', '"4/1m"'))

    def start(name: str) -> Sidecar:
        sidecar = launch(tmp_path / name, policy, fake, pki,
                         extra_args=["--state", f"{redis_server.url}?timeout_ms=250"])
        started.append(sidecar)
        return sidecar

    yield start
    for sidecar in started:
        sidecar.stop()


@pytest.mark.redis
def test_refusals_when_seen_by_two_sidecars_on_one_redis_then_they_add_up_to_one_storm_for_both(
    fleet: Callable[[str], Sidecar], fake: FakeBinanceUsdm, redis_server: Any  # noqa: F811
) -> None:
    first, second = fleet("first"), fleet("second")
    key, secret = "rs-fleet-" + secrets.token_hex(12), "secret-" + secrets.token_hex(16)
    fake.add_account(key, secret)
    bots = [reverse_bot(s.reverse_url, api_key=key, secret=secret) for s in (first, second)]
    for bot in bots:
        bot.load_markets()
    for number in range(4):  # two refusals through each sidecar
        fake.queue_error("POST", "/fapi/v1/order", code=-2019, msg="Margin is insufficient.")
        with pytest.raises(ccxt.BaseError) as refused:
            bots[number % 2].create_order(BTC, "limit", "buy", 0.01, RESTING_PRICE)
        assert "Margin is insufficient" in str(refused.value)  # the venue's answer, not the sidecar's
    account = fingerprint(key)
    sent = len([r for r in fake.orders_received() if r.api_key == key])

    for bot in bots:
        with pytest.raises(ccxt.PermissionDenied) as raised:
            bot.create_order(BTC, "limit", "buy", 0.01, RESTING_PRICE)
        assert "TRADING_REDUCING" in str(raised.value)

    assert len([r for r in fake.orders_received() if r.api_key == key]) == sent == 4
    trips = [line for s in (first, second) for line in s.log_lines() if line.get("event") == "reject_storm"]
    assert [(t["account"], t["rejections"]) for t in trips] == [(account, 4)]  # one storm, tripped once
    status = riskwall("status", "--state", redis_server.url)
    assert status.returncode == 0, status.stderr
    [state] = [s for s in json.loads(status.stdout)["trading_states"]
               if s["scope"] == f"venue=binanceusdm,account={account}"]
    assert (state["state"], state["rule_id"]) == ("REDUCING", "storm")

    resumed = riskwall("resume", "--state", redis_server.url, "--venue", "binanceusdm", "--account", account,
                       "--reason", "checked")
    assert resumed.returncode == 0, resumed.stderr
    bots[0].create_order(BTC, "limit", "buy", 0.01, RESTING_PRICE)
    bots[1].create_order(BTC, "limit", "buy", 0.01, RESTING_PRICE)
    assert len([r for r in fake.orders_received() if r.api_key == key]) == 6
