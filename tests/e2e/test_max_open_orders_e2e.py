"""The `max_open_orders` rule with the real ccxt, through the real `riskwall run`, on Binance USDⓈ-M, Bybit and OKX
at once.

One sidecar fronts the project's three fake exchanges with one policy: at most 3 resting orders on a symbol and 5
on an account. Every test trades on a fresh API key of its venue, in both wirings (explicit proxy with the
sidecar's CA, and the plain-HTTP reverse listener), and asserts what ccxt raised, what reached the fake exchange,
and the decision line the sidecar logged. A cancel frees a slot at once (the sidecar reads the venue's answer);
a fill frees one once the sidecar sees it: here the bot's own open-orders listing, which no longer has it.
"""

from __future__ import annotations

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

PER_SYMBOL = 3
PER_ACCOUNT = 5

POLICY = f"""
version: 1
mode: enforce
rules:
  - id: open-orders
    type: max_open_orders
    per_symbol: {PER_SYMBOL}
    per_account: {PER_ACCOUNT}
"""

# prices far from the fakes' marks, so limit orders rest
BIDS = {BTC: 30000, ETH: 1500}

type BotFactory = Callable[[str], Bot]


@pytest.fixture
def new_bot(fakes: Fakes, sidecar: Sidecar, wiring: str) -> BotFactory:
    return lambda venue: make_bot(fakes, sidecar, wiring, venue, "open")


def rest(bot: Bot, symbol: str, n: int, start: int = 0) -> list[Any]:
    """`n` resting limit buys on `symbol`, each a little lower than the last."""
    return [bot.order(symbol, "limit", "buy", BIDS[symbol] - i - start) for i in range(n)]


def fill(fakes: Fakes, venue: str, order_id: str) -> None:
    fake = fakes.of(venue)
    fake.fill_order(int(order_id) if venue == "binanceusdm" else order_id)


def _assert_blocked(bot: Bot, raised: pytest.ExceptionInfo[Any], scope: str, count: int, limit: int,
                    symbol: str) -> None:
    """An order-class exception a bot will not retry (never a network, rate or login error), and the decision line
    of the last block: the count had the order been admitted, the limit, the scope and the symbol."""
    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    assert not isinstance(raised.value, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "OPEN_ORDERS_EXCEED_MAX" in str(raised.value)
    line = bot.decisions(verdict="block")[-1]
    assert (line["reason"], line["rule_id"], line["venue"]) == ("OPEN_ORDERS_EXCEED_MAX", "open-orders", bot.venue)
    assert {"open_orders": str(count), "max_open_orders": str(limit), "scope": scope,
            "symbol": NATIVE[bot.venue][symbol]}.items() <= line["context"].items()


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_resting_orders_reach_the_symbol_limit_then_next_blocked_and_never_sent(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)

    rest(bot, BTC, PER_SYMBOL)
    with pytest.raises(ccxt.BaseError) as raised:
        rest(bot, BTC, 1, start=PER_SYMBOL)
    rest(bot, ETH, 1)  # another symbol still has room

    assert len(bot.orders_received()) == PER_SYMBOL + 1
    _assert_blocked(bot, raised, "symbol", PER_SYMBOL + 1, PER_SYMBOL, BTC)
    assert len(bot.decisions(verdict="allow")) == PER_SYMBOL + 1


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_resting_orders_reach_the_account_limit_then_next_blocked_on_any_symbol(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)

    rest(bot, BTC, PER_SYMBOL)
    rest(bot, ETH, PER_ACCOUNT - PER_SYMBOL)
    with pytest.raises(ccxt.BaseError) as raised:
        rest(bot, ETH, 1, start=10)  # room on ETH (3 of 3), none on the account (6 of 5)

    assert len(bot.orders_received()) == PER_ACCOUNT
    _assert_blocked(bot, raised, "account", PER_ACCOUNT + 1, PER_ACCOUNT, ETH)


@pytest.mark.parametrize("venue", VENUES)
def test_cancel_order_when_the_symbol_is_full_then_the_cancel_frees_one_slot(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    placed = rest(bot, BTC, PER_SYMBOL)

    bot.exchange.cancel_order(placed[0]["id"], BTC)
    rest(bot, BTC, 1, start=10)
    with pytest.raises(ccxt.BaseError) as raised:
        rest(bot, BTC, 1, start=20)

    assert len(bot.orders_received()) == PER_SYMBOL + 1
    _assert_blocked(bot, raised, "symbol", PER_SYMBOL + 1, PER_SYMBOL, BTC)


@pytest.mark.parametrize("venue", VENUES)
def test_fetch_open_orders_when_a_resting_order_filled_then_its_slot_is_free(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    bot = new_bot(venue)
    placed = rest(bot, BTC, PER_SYMBOL)
    with pytest.raises(ccxt.BaseError):
        rest(bot, BTC, 1, start=10)

    fill(fakes, venue, placed[1]["id"])
    listed = bot.exchange.fetch_open_orders(BTC)  # the sidecar reads the listing: the filled order is gone
    rest(bot, BTC, 1, start=20)
    with pytest.raises(ccxt.BaseError) as raised:
        rest(bot, BTC, 1, start=30)

    assert len(listed) == PER_SYMBOL - 1
    assert len(bot.orders_received()) == PER_SYMBOL + 1
    _assert_blocked(bot, raised, "symbol", PER_SYMBOL + 1, PER_SYMBOL, BTC)


def test_create_order_when_the_symbol_is_full_then_a_reduce_only_close_is_exempt(
    new_bot: BotFactory, fakes: Fakes
) -> None:
    bot = new_bot("binanceusdm")
    fakes.binanceusdm.set_position(bot.api_key, "BTCUSDT", Decimal("0.05"))
    bot.exchange.fetch_positions([BTC])  # the sidecar learns the long the close reduces
    rest(bot, BTC, PER_SYMBOL)

    bot.order(BTC, "limit", "sell", 70000, reduceOnly=True)
    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(BTC, "limit", "sell", 70001)  # not reduce-only: a new order like any other

    assert len(bot.orders_received()) == PER_SYMBOL + 1
    _assert_blocked(bot, raised, "symbol", PER_SYMBOL + 2, PER_SYMBOL, BTC)
