"""The `max_daily_loss` rule with the real ccxt, through the real `riskwall run`, on Binance USDⓈ-M, Bybit and OKX.

The bot reads its balance through the sidecar (ccxt `fetch_balance`: Binance's account endpoint with its
settlement assets' `marginBalance`, Bybit's wallet-balance with `totalEquity`, OKX's account balance with
`totalEq`): the first read of the day is the baseline. After the fake's balance drops by more than the limit and
the bot reads it again, the next order that adds risk is answered by the sidecar (the fake never sees it) under the
rule as TRADING_REDUCING, while a reduce-only order and a cancel still reach the exchange; `/v1/status` shows the
state with its rule and its end (the next UTC midnight), and `riskwall resume` ends it.

Before the bot has read its balance that UTC day there is no loss to measure: under the rule's default
(`on_equity_unknown: block`) an order that adds risk is refused with EQUITY_UNKNOWN (ccxt `InvalidOrder`, the fake
never sees it) while a cancel and a reduce-only close pass, until a `fetch_balance` through the sidecar; a second
sidecar on the same fakes runs the rule with `on_equity_unknown: allow`, under which such orders pass.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from tests.e2e.conftest import ADMIN_TOKEN
from tests.support.sidecar import Sidecar
from tests.support.three_venues import BTC, NATIVE, VENUES, Bot, Fakes, make_bot, start_sidecar_for
from tests.support.three_venues import rest_sidecar as rest_sidecar  # the `sidecar` fixture
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.tls import TlsMaterial

pytestmark = pytest.mark.e2e

RISKWALL = str(Path(sys.executable).parent / "riskwall")
LIMIT = 1000
POLICY = f"""
version: 1
mode: enforce
rules:
  - id: daily-loss
    type: max_daily_loss
    quote: {LIMIT}
    state: REDUCING
"""
POLICY_ALLOWING = POLICY + "    on_equity_unknown: allow\n"
SIDECAR_ENV = {"RISKWALL_ADMIN_TOKEN": ADMIN_TOKEN}  # for riskwall resume
RESTING_PRICE = 30000  # far below the fakes' mark: a limit buy there rests
CANCEL = {"binanceusdm": ("DELETE", "/fapi/v1/order"), "bybit": ("POST", "/v5/order/cancel"),
          "okx": ("POST", "/api/v5/trade/cancel-order")}
BALANCE = {"binanceusdm": Decimal("10000"), "bybit": Decimal("10000"), "okx": Decimal("100000")}


def read_balance(bot: Bot, balance: Decimal) -> None:
    """The fake's balance becomes `balance`; the bot reads it through the sidecar."""
    bot.fake.set_balance(bot.api_key, balance)
    bot.exchange.fetch_balance()


def admin_status(sidecar: Sidecar) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.admin_port}/v1/status", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def riskwall(*args: str, admin_port: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKWALL_")}
    env["RISKWALL_ADMIN_TOKEN"] = ADMIN_TOKEN
    return subprocess.run([RISKWALL, *args, "--admin", f"127.0.0.1:{admin_port}"], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def next_utc_midnight_ms() -> int:
    today = datetime.datetime.now(datetime.UTC).date()
    midnight = datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
    return int(midnight.timestamp() * 1000)


@pytest.mark.parametrize("venue", VENUES)
def test_orders_when_balance_read_shows_a_loss_beyond_the_limit_then_risk_blocked_while_reduce_and_cancel_pass(
    fakes: Fakes, sidecar: Sidecar, wiring: str, venue: str
) -> None:
    bot = make_bot(fakes, sidecar, wiring, venue, "dl")
    start = BALANCE[venue]
    read_balance(bot, start)  # the day's first equity: the baseline
    bot.order(BTC, "market", "buy")  # a position to reduce later
    resting = bot.order(BTC, "limit", "buy", RESTING_PRICE, clientOrderId="dl" + secrets.token_hex(8))
    bot.exchange.fetch_positions([BTC])  # the sidecar learns the position as the venue reports it
    read_balance(bot, start - LIMIT)  # exactly the limit: nothing trips
    bot.order(BTC, "limit", "buy", RESTING_PRICE)
    read_balance(bot, start - LIMIT - 500)
    bot.exchange.fetch_positions([BTC])  # Binance's account answer lists only what it lists: read them again
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
    assert (block["rule_id"], block["reason"], block["context"]["source"]) == ("daily-loss", "TRADING_REDUCING",
                                                                                 "daily_loss")
    [trip] = [line for line in sidecar.log_lines() if line.get("event") == "daily_loss"
              and line.get("account") == bot.account]
    assert (trip["rule_id"], trip["venue"], trip["state"], Decimal(trip["baseline"]), Decimal(trip["loss"]),
            Decimal(trip["limit"])) == ("daily-loss", venue, "REDUCING", start, Decimal(LIMIT + 500), LIMIT)
    assert trip["until_ms"] in (next_utc_midnight_ms(), next_utc_midnight_ms() - 86_400_000)  # run at midnight
    scope = f"venue={venue},account={bot.account}"
    [state] = [s for s in admin_status(sidecar)["trading_states"] if s["scope"] == scope]
    assert (state["state"], state["rule_id"], state["actor"], state["until_ms"]) == (
        "REDUCING", "daily-loss", "rule:daily-loss", trip["until_ms"])

    resumed = riskwall("resume", "--venue", venue, "--account", bot.account, "--reason", "loss reviewed",
                       admin_port=sidecar.admin_port)
    assert resumed.returncode == 0, resumed.stderr
    assert all(s["scope"] != scope for s in admin_status(sidecar)["trading_states"])
    read_balance(bot, start - LIMIT - 900)  # still down: a resume holds for the rest of the day
    bot.order(BTC, "market", "buy")
    assert len(bot.orders_received()) == sent + 2
    assert [o.status for o in bot.orders_received()][-1] == 200


@pytest.fixture(scope="module")
def allowing_sidecar(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes, pki: TlsMaterial) -> Iterator[Sidecar]:
    """A second sidecar on the same fakes whose daily-loss rule lets orders through before a balance read."""
    running = start_sidecar_for(tmp_path_factory.mktemp("daily-loss-allowing"), POLICY_ALLOWING, fakes, pki)
    yield running
    running.stop()


@pytest.mark.parametrize("venue", VENUES)
def test_orders_when_no_balance_was_read_today_and_the_rule_allows_then_it_blocks_nothing(
    fakes: Fakes, allowing_sidecar: Sidecar, venue: str
) -> None:
    bot = make_bot(fakes, allowing_sidecar, "reverse", venue, "dl")
    sent = len(bot.orders_received())

    bot.order(BTC, "market", "buy")

    assert bot.decisions(verdict="block") == []
    assert len(bot.orders_received()) == sent + 1 and bot.orders_received()[-1].status == 200


@pytest.mark.parametrize("venue", VENUES)
def test_orders_when_no_balance_was_read_today_then_new_risk_waits_for_a_read_while_cancel_and_close_pass(
    fakes: Fakes, sidecar: Sidecar, venue: str
) -> None:
    bot = make_bot(fakes, sidecar, "reverse", venue, "du")
    bot.fake.set_position(bot.api_key, NATIVE[venue][BTC], Decimal(str(bot.unit * 2)))  # a long held since before
    bot.exchange.fetch_positions([BTC])  # the sidecar learns it as the venue reports it (a read: it passes)
    sent = len(bot.orders_received())

    with pytest.raises(ccxt.InvalidOrder) as raised:
        bot.order(BTC, "market", "buy")
    assert "EQUITY_UNKNOWN" in str(raised.value)
    assert len(bot.orders_received()) == sent  # the exchange never saw it
    bot.order(BTC, "market", "sell", reduceOnly=True)  # a close passes
    assert len(bot.orders_received()) == sent + 1 and bot.orders_received()[-1].status == 200
    with pytest.raises(ccxt.OrderNotFound):  # the sidecar lets the cancel through: the venue answers it
        bot.exchange.cancel_order("9" * 12, BTC)
    assert len(bot.received(*CANCEL[venue])) == 1

    [block] = bot.decisions(verdict="block")
    assert (block["rule_id"], block["reason"]) == ("daily-loss", "EQUITY_UNKNOWN")
    assert block["context"]["error"] == "no equity read today: read the balance through the sidecar"
    read_balance(bot, BALANCE[venue])  # the day's first equity
    bot.order(BTC, "market", "buy")
    assert len(bot.orders_received()) == sent + 2 and bot.orders_received()[-1].status == 200
    assert len(bot.decisions(verdict="block")) == 1
