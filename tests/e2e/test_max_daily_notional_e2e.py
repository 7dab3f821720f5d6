"""The `max_daily_notional` rule with the real ccxt, through the real `riskwall run`, on Binance USDⓈ-M, Bybit and
OKX at once.

One sidecar fronts the project's three fake exchanges with one policy: at most 1200 USDT of orders a UTC day on an
account and 600 on each symbol (two rules). Every test trades on a fresh API key of its venue, in both wirings
(explicit proxy with the sidecar's CA, and the plain-HTTP reverse listener), and asserts what ccxt raised, what
reached the fake exchange, and the decision line the sidecar logged. Orders are 300 USDT each (0.01 BTC at 30000,
0.2 ETH at 1500: far under the fakes' marks, so they rest); a cancel gives the order's notional back at once (the
sidecar reads the venue's answer).
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
    SOL,
    VENUES,
    Bot,
    Fakes,
    make_bot,
)
from tests.support.three_venues import rest_sidecar as rest_sidecar  # the `sidecar` fixture
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture

pytestmark = pytest.mark.e2e

PER_ACCOUNT = Decimal(1200)
PER_SYMBOL = Decimal(600)

POLICY = f"""
version: 1
mode: enforce
rules:
  - id: account-notional
    type: max_daily_notional
    notional: {PER_ACCOUNT}
  - id: symbol-notional
    type: max_daily_notional
    notional: {PER_SYMBOL}
    per: symbol
"""

# prices far under the fakes' marks (50000, 3000, 150), so limit buys rest; base quantity of one order
BIDS = {BTC: Decimal(30000), ETH: Decimal(1500), SOL: Decimal(100)}
SIZES = {BTC: Decimal("0.01"), ETH: Decimal("0.2"), SOL: Decimal(1)}
NOTIONAL = Decimal(300)  # of a BTC or an ETH order; a SOL order is 100

type BotFactory = Callable[[str], Bot]


@pytest.fixture
def new_bot(fakes: Fakes, sidecar: Sidecar, wiring: str) -> BotFactory:
    return lambda venue: make_bot(fakes, sidecar, wiring, venue, "notional")


def amount(bot: Bot, symbol: str, base: Decimal) -> float:
    """ccxt's amount for `base` units of the base currency: contracts on OKX (0.01 BTC, 0.1 ETH, 1 SOL each)."""
    return float(base / Decimal(str(bot.exchange.market(symbol)["contractSize"] or 1)))


def bid(bot: Bot, symbol: str) -> Any:
    """One resting limit buy of the symbol's size at its bid: 300 USDT on BTC or ETH, 100 on SOL."""
    return bot.order(symbol, "limit", "buy", float(BIDS[symbol]), amount=amount(bot, symbol, SIZES[symbol]))


def sent(request: Any) -> str:
    """What a recorded order request carried: its query or form parameters and its body."""
    return str(request.params) + request.body.decode()


def _assert_blocked(bot: Bot, raised: pytest.ExceptionInfo[Any], rule_id: str, scope: str, symbol: str,
                    daily: Decimal, limit: Decimal, notional: Decimal) -> None:
    """An order-class exception a bot will not retry (never a network, rate or login error), and the decision line
    of the last block: the day's notional had the order been admitted, the budget, the order's notional, the scope
    and the symbol."""
    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    assert not isinstance(raised.value, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "DAILY_NOTIONAL_EXCEEDS_MAX" in str(raised.value)
    line = bot.decisions(verdict="block")[-1]
    assert (line["reason"], line["rule_id"], line["venue"], line["symbol"]) == (
        "DAILY_NOTIONAL_EXCEEDS_MAX", rule_id, bot.venue, NATIVE[bot.venue][symbol])
    context = line["context"]
    assert (context["scope"], context["symbol"]) == (scope, NATIVE[bot.venue][symbol])
    assert (Decimal(context["daily_notional"]), Decimal(context["max_daily_notional"]),
            Decimal(context["notional"])) == (daily, limit, notional)


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_the_account_budget_is_spent_then_next_blocked_and_never_sent(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)

    bid(bot, BTC)
    bid(bot, BTC)  # BTC: 600, its whole budget
    bid(bot, ETH)
    bid(bot, ETH)  # the account: 1200, exactly its budget
    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, SOL)  # SOL has its whole budget, the account nothing

    assert len(bot.orders_received()) == 4
    assert all(r.status == 200 for r in bot.orders_received())
    assert not [r for r in bot.orders_received() if NATIVE[venue][SOL] in sent(r)]
    _assert_blocked(bot, raised, "account-notional", "account", SOL, PER_ACCOUNT + 100, PER_ACCOUNT,
                    Decimal(100))
    assert len(bot.decisions(verdict="allow")) == 4 and len(bot.decisions(verdict="block")) == 1


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_the_symbol_budget_is_spent_then_another_symbol_has_its_own(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)

    bid(bot, BTC)
    bid(bot, BTC)
    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, BTC)  # BTC: 900 of 600; the account 900 of 1200
    bid(bot, ETH)
    bid(bot, ETH)  # ETH: 600 of its own 600

    assert len(bot.orders_received()) == 4
    _assert_blocked(bot, raised, "symbol-notional", "symbol", BTC, PER_SYMBOL + NOTIONAL, PER_SYMBOL,
                    NOTIONAL)
    assert len(bot.decisions(verdict="allow")) == 4


@pytest.mark.parametrize("venue", VENUES)
def test_cancel_order_when_the_budget_is_spent_then_its_notional_is_given_back(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    placed = [bid(bot, BTC), bid(bot, BTC)]
    with pytest.raises(ccxt.BaseError):
        bid(bot, BTC)

    bot.exchange.cancel_order(placed[0]["id"], BTC)
    bid(bot, BTC)  # fits again: BTC 600
    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, BTC)
    bid(bot, ETH)
    bid(bot, ETH)  # the account got it back too: 1200, not 1500

    assert len(bot.orders_received()) == 5
    _assert_blocked(bot, raised, "symbol-notional", "symbol", BTC, PER_SYMBOL + NOTIONAL, PER_SYMBOL,
                    NOTIONAL)
    assert len(bot.decisions(verdict="block")) == 2


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_the_budget_is_spent_then_a_reduce_only_close_is_exempt(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    bot.learn_mark(BTC)
    bot.order(BTC, "market", "buy")  # 0.01 BTC at the mark (50000): 500 of BTC's 600, and a long to close
    bot.exchange.fetch_positions([BTC])  # the sidecar learns the long the close reduces
    with pytest.raises(ccxt.BaseError):
        bid(bot, BTC)  # 800 of 600

    bot.order(BTC, "limit", "sell", 70000, reduceOnly=True)  # 700 more, but it only closes the long
    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(BTC, "limit", "sell", 69000)  # not reduce-only: a new order like any other

    market, close = bot.orders_received()
    assert market.status == close.status == 200 and "70000" in sent(close)
    _assert_blocked(bot, raised, "symbol-notional", "symbol", BTC, Decimal(1190), PER_SYMBOL, Decimal(690))
    assert [line["reduce_only"] for line in bot.decisions(verdict="allow")][-1] is True


# the order endpoint and a refusal code of the venues whose fakes can refuse the next order
REFUSALS = {"binanceusdm": ("POST", "/fapi/v1/order", -2019), "bybit": ("POST", "/v5/order/create", 110007)}


@pytest.mark.parametrize("venue", list(REFUSALS))
def test_create_order_when_the_venue_refuses_it_then_its_notional_is_given_back(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    bot = new_bot(venue)
    bid(bot, BTC)
    method, path, code = REFUSALS[venue]
    fakes.of(venue).queue_error(method, path, code=code)

    with pytest.raises(ccxt.BaseError) as refused:
        bid(bot, BTC)  # admitted (600 of 600), then refused by the venue
    bid(bot, BTC)  # fits: the refusal gave its 300 back
    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, BTC)

    assert str(code) in str(refused.value) and "DAILY_NOTIONAL" not in str(refused.value)
    assert len(bot.orders_received()) == 3  # the refused one reached the venue; the last did not
    _assert_blocked(bot, raised, "symbol-notional", "symbol", BTC, PER_SYMBOL + NOTIONAL, PER_SYMBOL,
                    NOTIONAL)
    assert len(bot.decisions(verdict="allow")) == 3
