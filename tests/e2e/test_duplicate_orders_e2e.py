"""The `duplicate_orders` rule with the real ccxt, through the real `riskwall run`, on Binance USDⓈ-M, Bybit and
OKX at once.

One sidecar fronts the project's three fake exchanges with one policy: an order identical to one admitted in the
last 2 s (300 ms on ETH, so a test can outlive the window quickly) is a bot in a loop. Every test trades on a
fresh API key of its venue, in both wirings (explicit proxy with the sidecar's CA, and the plain-HTTP reverse
listener), and asserts what ccxt raised, what reached the fake exchange, and the decision line the sidecar logged.
ccxt gives every order a fresh client order id: the rule must not care.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from tests.support.sidecar import Sidecar
from tests.support.three_venues import (
    BTC,
    ETH,
    NATIVE,
    VENUES,
    Bot,
    Fakes,
    make_bot,
)
from tests.support.three_venues import rest_sidecar as rest_sidecar  # the `sidecar` fixture
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture

pytestmark = pytest.mark.e2e

WINDOW_MS = 2000
SHORT_WINDOW_MS = 300

POLICY = f"""
version: 1
mode: enforce
rules:
  - id: duplicates
    type: duplicate_orders
    window: {WINDOW_MS}ms
  - id: duplicates-eth
    type: duplicate_orders
    window: {SHORT_WINDOW_MS}ms
    scope: {{symbols: ["ETH/USDT:USDT"]}}
"""

# where each venue's single and batch orders go (ccxt places a single OKX order as a batch of one)
ORDER_PATHS = {"binanceusdm": ("/fapi/v1/order", "/fapi/v1/batchOrders"),
               "bybit": ("/v5/order/create", "/v5/order/create-batch"),
               "okx": ("/api/v5/trade/batch-orders", "/api/v5/trade/batch-orders")}


type BotFactory = Callable[[str], Bot]


@pytest.fixture
def new_bot(fakes: Fakes, sidecar: Sidecar, wiring: str) -> BotFactory:
    return lambda venue: make_bot(fakes, sidecar, wiring, venue, "dup")


def _assert_duplicate(bot: Bot, raised: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    """An order-class exception a bot will not retry (never a network, rate or login error), and the decision line
    of the one block, naming the rule's window and the decision of the order it repeats."""
    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    assert not isinstance(raised.value, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "DUPLICATE_ORDER" in str(raised.value)
    [line] = bot.decisions(verdict="block")
    assert (line["reason"], line["venue"]) == ("DUPLICATE_ORDER", bot.venue)
    return line


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_identical_order_repeats_within_the_window_then_blocked_and_never_sent(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)

    bot.order(BTC, "limit", "buy", 40000)
    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(BTC, "limit", "buy", 40000.0)  # a fresh client order id, the same order
    bot.order(BTC, "limit", "buy", 40001)  # another price: another order
    bot.order(BTC, "limit", "sell", 60000)

    sent = bot.orders_received()
    assert [r.path for r in sent] == [ORDER_PATHS[venue][0]] * 3 and all(r.status == 200 for r in sent)
    line = _assert_duplicate(bot, raised)
    first = bot.decisions(verdict="allow")[0]
    assert (line["rule_id"], line["symbol"], line["price"]) == ("duplicates", NATIVE[venue][BTC], "40000")
    assert {"orders": "2", "limit": "1", "window_ms": str(WINDOW_MS), "duplicate_of": first["decision_id"],
            "side": "buy", "price": "40000"}.items() <= line["context"].items()
    assert 0 <= int(line["context"]["ago_ms"]) < WINDOW_MS
    assert len(bot.decisions(verdict="allow")) == 3


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_the_window_has_passed_then_identical_order_forwarded_again(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    bot.order(ETH, "limit", "buy", 2000)

    time.sleep(SHORT_WINDOW_MS / 1000 + 0.2)
    bot.order(ETH, "limit", "buy", 2000)
    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(ETH, "limit", "buy", 2000)  # the window starts again at the second admission

    assert len(bot.orders_received()) == 2
    line = _assert_duplicate(bot, raised)
    second = bot.decisions(verdict="allow")[1]
    assert (line["rule_id"], line["context"]["duplicate_of"]) == ("duplicates-eth", second["decision_id"])


@pytest.mark.parametrize("venue", VENUES)
def test_create_orders_when_batch_repeats_a_leg_then_whole_batch_blocked_and_never_sent(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    leg = {"symbol": BTC, "type": "limit", "side": "buy", "amount": bot.unit, "price": 39000}

    with pytest.raises(ccxt.BaseError) as raised:
        bot.exchange.create_orders([leg, {**leg, "price": 38000}, dict(leg)])
    orders = bot.exchange.create_orders([leg, {**leg, "price": 38000}])  # the refused batch recorded nothing

    assert len(orders) == 2
    assert len(bot.received("POST", ORDER_PATHS[venue][1])) == 1
    line = _assert_duplicate(bot, raised)
    assert (line["legs"], line["context"]["duplicate_of_leg"]) == (3, "0")


def test_create_order_when_reduce_only_close_repeats_then_exempt_as_from_every_limit(
    new_bot: BotFactory, fakes: Fakes
) -> None:
    bot = new_bot("binanceusdm")
    fakes.binanceusdm.set_position(bot.api_key, "BTCUSDT", Decimal("0.05"))
    bot.exchange.fetch_positions([BTC])  # the sidecar learns the long the closes reduce

    bot.order(BTC, "limit", "sell", 70000, reduceOnly=True)
    bot.order(BTC, "limit", "sell", 70000, reduceOnly=True)
    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(BTC, "limit", "sell", 70000)  # the same sell, not reduce-only: a new order like any other
        bot.order(BTC, "limit", "sell", 70000)

    assert len(bot.orders_received()) == 3
    line = _assert_duplicate(bot, raised)
    assert line["reduce_only"] is False
