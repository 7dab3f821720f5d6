"""The `max_gross_exposure` rule with the real ccxt, through the real `riskwall run`, on Binance USDⓈ-M, Bybit and
OKX at once.

One sidecar fronts the project's three fake exchanges with one policy: an account's gross exposure on its venue
(Σ over its positions of the worst case either way, pending orders counted, × the symbol's mark price) at most
1000 USDT. Every test trades on a fresh API key of its venue, in both wirings (explicit proxy with the sidecar's
CA, and the plain-HTTP reverse listener), and asserts what ccxt raised, what reached the fake exchange, and the
decision line the sidecar logged. The fakes' marks are 50000 (BTC), 3000 (ETH) and 150 (SOL): 0.01 BTC is worth
500, 0.1 ETH 300. The sidecar learns a mark from an answer (premiumIndex, Bybit's tickers, OKX's mark-price, or a
position listing's markPrice); limit buys at the bids below rest, and are valued at the mark, not at their price.
No test here lets the sidecar see SOL's mark: the unknown-price test relies on it.
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

LIMIT = Decimal(1000)

POLICY = f"""
version: 1
mode: enforce
rules:
  - id: gross
    type: max_gross_exposure
    notional: {LIMIT}
    per: account
"""

# prices far under the fakes' marks, so limit buys rest
# the venue's own refusal code for an order the firewall blocked (ccxt maps each to InvalidOrder)
CODES = {"binanceusdm": "-2010", "bybit": "110032", "okx": "51004"}
BIDS = {BTC: Decimal(30000), ETH: Decimal(1500), SOL: Decimal(100)}
MARKS = {BTC: Decimal(50000), ETH: Decimal(3000)}

type BotFactory = Callable[[str], Bot]


@pytest.fixture
def new_bot(fakes: Fakes, sidecar: Sidecar, wiring: str) -> BotFactory:
    return lambda venue: make_bot(fakes, sidecar, wiring, venue, "gross")


def amount(bot: Bot, symbol: str, base: Decimal) -> float:
    """ccxt's amount for `base` units of the base currency: contracts on OKX (0.01 BTC, 0.1 ETH, 1 SOL each)."""
    return float(base / Decimal(str(bot.exchange.market(symbol)["contractSize"] or 1)))


def bid(bot: Bot, symbol: str, base: Decimal, price: Decimal | None = None) -> Any:
    """A resting limit buy of `base` units of `symbol` at its bid (or `price`)."""
    return bot.order(symbol, "limit", "buy", float(price or BIDS[symbol]), amount=amount(bot, symbol, base))


def sent(request: Any) -> str:
    """What a recorded order request carried: its query or form parameters and its body."""
    return f"{request.params}{request.body.decode()}"


def hold(fakes: Fakes, bot: Bot, symbol: str, base: Decimal) -> None:
    """The fake reports a long of `base` units of `symbol`; the bot's position listing shows it (and the mark, which
    every venue's position rows carry) to the sidecar."""
    contracts = base / Decimal(str(bot.exchange.market(symbol)["contractSize"] or 1))
    fakes.of(bot.venue).set_position(bot.api_key, NATIVE[bot.venue][symbol], contracts)
    bot.exchange.fetch_positions([symbol])


def _assert_blocked(bot: Bot, raised: pytest.ExceptionInfo[Any], symbol: str, gross: Decimal) -> None:
    """An order-class exception a bot will not retry (never a network, rate or login error), and the decision line
    of the last block: the gross exposure had the order been admitted, the limit, and the order's symbol."""
    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    assert not isinstance(raised.value, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "GROSS_EXPOSURE_EXCEEDS_MAX" in str(raised.value) and CODES[bot.venue] in str(raised.value)
    line = bot.decisions(verdict="block")[-1]
    assert (line["reason"], line["rule_id"], line["venue"]) == ("GROSS_EXPOSURE_EXCEEDS_MAX", "gross", bot.venue)
    context = line["context"]
    assert context["symbol"] == NATIVE[bot.venue][symbol]
    assert (Decimal(context["gross_exposure"]), Decimal(context["max_gross_exposure"])) == (gross, LIMIT)


# ---- (a) a position on one symbol, an order on another -------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_a_filled_position_and_another_symbol_exceed_the_limit_then_blocked_and_never_sent(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    bot.learn_mark(BTC)
    bot.learn_mark(ETH)
    bot.order(BTC, "market", "buy")  # 0.01 BTC filled at the mark: 500 of the 1000

    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, ETH, Decimal("0.2"))  # 0.2 ETH at the mark 3000 (not its bid 1500): 600, 1100 in all
    bid(bot, ETH, Decimal("0.1"))  # 300: 800 in all

    market, fits = bot.orders_received()
    assert market.status == fits.status == 200
    assert NATIVE[venue][BTC] in sent(market) and NATIVE[venue][ETH] in sent(fits)
    _assert_blocked(bot, raised, ETH, Decimal(1100))
    assert len(bot.decisions(verdict="allow")) == 2 and len(bot.decisions(verdict="block")) == 1


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_a_listed_position_and_another_symbol_exceed_the_limit_then_blocked_and_never_sent(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    bot = new_bot(venue)
    hold(fakes, bot, BTC, Decimal("0.01"))  # 500, priced by the listing's markPrice
    bot.learn_mark(ETH)

    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, ETH, Decimal("0.2"))  # 600 more: 1100
    bid(bot, ETH, Decimal("0.1"))  # 800
    bid(bot, ETH, Decimal("0.05"))  # 150 more: 950

    assert len(bot.orders_received()) == 2
    assert not [r for r in bot.orders_received() if NATIVE[venue][BTC] in sent(r)]
    _assert_blocked(bot, raised, ETH, Decimal(1100))
    allowed = bot.decisions(verdict="allow")
    assert len(allowed) == 2 and {line["symbol"] for line in allowed} == {NATIVE[venue][ETH]}


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_a_position_is_held_in_a_symbol_without_a_price_then_price_unknown(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    bot.learn_mark(ETH)
    bid(bot, SOL, Decimal(1))  # no SOL mark seen: valued at its own price (100), and pending from then on

    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, ETH, Decimal("0.1"))  # the pending SOL has no mark to be valued at

    assert len(bot.orders_received()) == 1
    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    line = bot.decisions(verdict="block")[-1]
    assert (line["reason"], line["rule_id"]) == ("PRICE_UNKNOWN", "gross")
    assert line["context"]["symbol"] == NATIVE[venue][SOL]


# ---- (b) a reduce-only close is exempt ------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_over_the_limit_then_a_reduce_only_close_passes_and_a_new_order_is_blocked(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    bot = new_bot(venue)
    hold(fakes, bot, BTC, Decimal("0.03"))  # 1500: over the 1000 already
    bot.learn_mark(ETH)

    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, ETH, Decimal("0.05"))  # 150 more: 1650
    bot.order(BTC, "limit", "sell", 70000, reduceOnly=True)  # only closes the long: exempt
    bot.order(BTC, "market", "sell", reduceOnly=True)  # and one that fills: the long is 0.01 BTC smaller

    close, market = bot.orders_received()
    assert close.status == market.status == 200
    assert "70000" in sent(close) and NATIVE[venue][BTC] in sent(market)
    assert fakes.of(venue).position(bot.api_key, NATIVE[venue][BTC]) == Decimal("0.02") / Decimal(
        str(bot.exchange.market(BTC)["contractSize"] or 1))
    _assert_blocked(bot, raised, ETH, Decimal(1650))
    assert [line["reduce_only"] for line in bot.decisions(verdict="allow")] == [True, True]


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_over_the_limit_then_a_plain_close_passes_and_growing_the_position_is_blocked(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    bot = new_bot(venue)
    hold(fakes, bot, BTC, Decimal("0.03"))  # 1500: over the 1000 already

    bot.order(BTC, "limit", "sell", 70000)  # not reduce-only, but the sum does not grow: worst case still 0.03
    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(BTC, "limit", "buy", 30000)  # worst case long 0.04 BTC: 2000

    [close] = bot.orders_received()
    assert close.status == 200 and "70000" in sent(close)
    _assert_blocked(bot, raised, BTC, Decimal(2000))
    assert [line["reduce_only"] for line in bot.decisions(verdict="allow")] == [False]


# ---- (c) resting orders count as pending exposure -------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_resting_orders_fill_the_limit_then_next_blocked_until_one_is_cancelled(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    bot.learn_mark(BTC)
    bot.learn_mark(ETH)

    first = bid(bot, BTC, Decimal("0.01"))  # 500 at the mark, though it rests at 30000
    bid(bot, ETH, Decimal("0.1"), Decimal(1500))  # 300: 800
    with pytest.raises(ccxt.BaseError) as raised:
        bid(bot, ETH, Decimal("0.1"), Decimal(1490))  # 1100
    bot.exchange.cancel_order(first["id"], BTC)
    if venue != "binanceusdm":
        # Bybit's and OKX's cancel answers carry the id only: what the order filled before the cancel reached it
        # is not said, so its 500 is held until a position read asked after the cancel (Binance's answer says)
        with pytest.raises(ccxt.BaseError) as held:
            bid(bot, ETH, Decimal("0.1"), Decimal(1480))
        _assert_blocked(bot, held, ETH, Decimal(1100))
        bot.exchange.fetch_positions([BTC])
    bid(bot, ETH, Decimal("0.1"), Decimal(1480))  # 600
    bid(bot, ETH, Decimal("0.1"), Decimal(1470))  # 900

    assert len(bot.orders_received()) == 4
    _assert_blocked(bot, raised, ETH, Decimal(1100))
    assert len(bot.decisions(verdict="block")) == (1 if venue == "binanceusdm" else 2)


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_resting_orders_both_ways_then_the_larger_side_counts_not_the_sum(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    bot.learn_mark(BTC)

    bot.order(BTC, "limit", "buy", 30000)  # worst case long 0.01 BTC: 500
    bot.order(BTC, "limit", "sell", 70000)  # worst case short 0.01 BTC: still 500, max of the two, not 1000
    bot.order(BTC, "limit", "sell", 71000)  # worst case short 0.02 BTC: 1000, exactly the limit
    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(BTC, "limit", "sell", 72000)  # 0.03 BTC: 1500

    assert len(bot.orders_received()) == 3
    _assert_blocked(bot, raised, BTC, Decimal(1500))
