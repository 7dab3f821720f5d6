"""Pre-trade rules (`price_collar`, `margin_mode`) with the real ccxt, through the real `riskwall run`, on Binance
USDⓈ-M, Bybit and OKX at once.

One sidecar fronts the project's three fake exchanges with one policy: a 5% price collar (2% on ETH) measured from
the mark price the sidecar learned from answers passing through it, and isolated margin in one-way mode only.
Every test trades on a fresh API key of its venue, in both wirings (explicit proxy with the sidecar's CA, and the
plain-HTTP reverse listener), and asserts what ccxt raised, that the fake never received what was blocked (while
what was allowed reached it), and the decision line the sidecar logged.

Sizes: 0.01 BTC is 0.01 on Binance and Bybit and 1 contract on OKX (0.01 BTC a contract). OKX orders name their
margin mode (`tdMode`); ccxt's default is cross, which the policy refuses, so collar tests trade isolated there.
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

MARK = Decimal("50000")
# SOL: no test ever shows the sidecar its price, so its reference stays unknown

POLICY = """
version: 1
mode: enforce
rules:
  - id: collar
    type: price_collar
    max_deviation_pct: 5
    symbols: {"ETH/USDT:USDT": 2}
  - id: margin
    type: margin_mode
    allow: [ISOLATED]
    allow_hedge: false
"""


type BotFactory = Callable[[str], Bot]


@pytest.fixture
def new_bot(fakes: Fakes, sidecar: Sidecar, wiring: str) -> BotFactory:
    return lambda venue: make_bot(fakes, sidecar, wiring, venue, "pt")


def _assert_blocked(bot: Bot, raised: pytest.ExceptionInfo[Any], error: type[Exception], reason: str) -> dict[str, Any]:
    """The exception is the expected order-class one (never a network error), and the decision line says why."""
    assert type(raised.value) is error, f"{type(raised.value).__name__}: {raised.value}"
    assert not isinstance(raised.value, ccxt.NetworkError | ccxt.AuthenticationError)
    assert reason in str(raised.value)
    [line] = bot.decisions(verdict="block")
    assert line["reason"] == reason and line["venue"] == bot.venue
    return line


# ---- price collar ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    ("side", "price", "bound"),
    [
        pytest.param("buy", 52600, ("max_price", "52500"), id="buy-above-the-ceiling"),
        pytest.param("sell", 47400, ("min_price", "47500"), id="sell-below-the-floor"),
    ],
)
def test_create_order_when_limit_price_trades_through_the_mark_then_blocked_before_exchange_as_invalid_order(
    new_bot: BotFactory, fakes: Fakes, venue: str, side: str, price: int, bound: tuple[str, str]
) -> None:
    fakes.set_mark(venue, BTC, MARK)
    bot = new_bot(venue)
    bot.learn_mark(BTC)

    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(BTC, "limit", side, price)

    assert bot.orders_received() == []
    line = _assert_blocked(bot, raised, ccxt.InvalidOrder, "PRICE_OUTSIDE_COLLAR")
    assert line["rule_id"] == "collar" and line["symbol"] == NATIVE[venue][BTC]
    assert {"price": str(price), "reference": "50000", "max_deviation_pct": "5", bound[0]: bound[1], "side": side,
            "price_kind": "limit"}.items() <= line["context"].items()


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_limit_price_inside_the_collar_or_on_the_passive_side_then_forwarded(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    fakes.set_mark(venue, BTC, MARK)
    bot = new_bot(venue)
    bot.learn_mark(BTC)

    bot.order(BTC, "limit", "buy", 52500)  # exactly at the ceiling
    bot.order(BTC, "limit", "buy", 30000)  # far below the market: it cannot trade through it
    bot.order(BTC, "limit", "sell", 70000)  # far above the market: neither

    assert len(bot.orders_received()) == 3 and all(r.status == 200 for r in bot.orders_received())
    assert len(bot.decisions(verdict="allow")) == 3 and bot.decisions(verdict="block") == []


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_symbol_override_is_tighter_then_it_decides(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    fakes.set_mark(venue, ETH, Decimal("3000"))
    bot = new_bot(venue)
    bot.learn_mark(ETH)

    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(ETH, "limit", "buy", 3070)  # 2.33% through: inside the default 5%, outside ETH's 2%
    bot.order(ETH, "limit", "buy", 3060)

    line = _assert_blocked(bot, raised, ccxt.InvalidOrder, "PRICE_OUTSIDE_COLLAR")
    assert (line["context"]["max_deviation_pct"], line["context"]["max_price"]) == ("2", "3060")
    assert len(bot.orders_received()) == 1


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_no_mark_price_was_seen_then_limit_blocked_as_price_unknown(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)

    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(SOL, "limit", "buy", 150, amount=1)

    assert bot.orders_received() == []
    line = _assert_blocked(bot, raised, ccxt.InvalidOrder, "PRICE_UNKNOWN")
    assert (line["rule_id"], line["context"]["symbol"]) == ("collar", NATIVE[venue][SOL])


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_market_order_then_never_collared_even_with_no_price_seen(
    new_bot: BotFactory, venue: str
) -> None:
    # runs after the test above: the first of these fills teaches the sidecar a SOL price (Binance answers a
    # market order with its fill price), which must not matter either way
    bot = new_bot(venue)

    bot.order(SOL, "market", "buy", amount=1)

    [sent] = bot.orders_received()
    assert sent.status == 200
    [line] = bot.decisions()
    assert line["verdict"] == "allow" and line["order_type"] == "MARKET"


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_stop_trigger_trades_through_the_mark_then_blocked_at_its_trigger_price(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    fakes.set_mark(venue, BTC, MARK)
    bot = new_bot(venue)
    bot.learn_mark(BTC)

    # Bybit's conditional orders name the way the trigger is crossed
    direction = {"triggerDirection": "ascending"} if venue == "bybit" else {}
    with pytest.raises(ccxt.BaseError) as raised:
        bot.order(BTC, "market", "buy", triggerPrice=60000, **direction)

    assert bot.orders_received() == []
    line = _assert_blocked(bot, raised, ccxt.InvalidOrder, "PRICE_OUTSIDE_COLLAR")
    assert (line["context"]["price"], line["context"]["price_kind"]) == ("60000", "trigger")


@pytest.mark.parametrize("venue", VENUES)
def test_edit_order_when_new_price_trades_through_the_mark_then_amend_blocked_and_order_untouched(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    fakes.set_mark(venue, BTC, MARK)
    bot = new_bot(venue)
    bot.learn_mark(BTC)
    order = bot.order(BTC, "limit", "buy", 49000)

    with pytest.raises(ccxt.BaseError) as raised:
        bot.exchange.edit_order(order["id"], BTC, "limit", "buy", bot.unit, 56000)

    assert len(bot.orders_received()) == 1  # the placement; the amend never reached the venue
    line = _assert_blocked(bot, raised, ccxt.InvalidOrder, "PRICE_OUTSIDE_COLLAR")
    assert line["action"] == "amend" and line["context"]["max_price"] == "52500"


def test_create_order_when_mark_price_moves_then_the_collar_follows_it_and_a_last_price_never_replaces_it(
    new_bot: BotFactory, fakes: Fakes
) -> None:
    fakes.set_mark("binanceusdm", BTC, MARK)
    bot = new_bot("binanceusdm")
    bot.learn_mark(BTC)
    fakes.set_mark("binanceusdm", BTC, Decimal("60000"))
    bot.exchange.fetch_ticker(BTC)  # 24hr ticker: a last price of 60000, which never replaces a mark price

    with pytest.raises(ccxt.InvalidOrder):
        bot.order(BTC, "limit", "buy", 54000)
    bot.learn_mark(BTC)  # premiumIndex: the new mark price
    bot.order(BTC, "limit", "buy", 62000)

    [blocked] = bot.decisions(verdict="block")
    [allowed] = bot.decisions(verdict="allow")
    assert blocked["context"]["reference"] == "50000" and allowed["price"] == "62000"
    assert [r.params["price"] for r in bot.orders_received()] == ["62000"]


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit"])
def test_create_order_when_mark_price_learned_from_positions_then_collar_measures_from_it(
    new_bot: BotFactory, fakes: Fakes, venue: str
) -> None:
    fakes.set_mark(venue, BTC, Decimal("40000"))
    bot = new_bot(venue)
    if venue == "binanceusdm":
        fakes.binanceusdm.set_position(bot.api_key, "BTCUSDT", Decimal("0.002"))  # v3 lists open positions only
    bot.exchange.fetch_positions([BTC])  # positionRisk / position list: each row carries the mark price

    with pytest.raises(ccxt.InvalidOrder):
        bot.order(BTC, "limit", "buy", 43000)

    [line] = bot.decisions(verdict="block")
    assert (line["context"]["reference"], line["context"]["max_price"]) == ("40000", "42000")
    assert bot.orders_received() == []


def test_create_order_when_reduce_only_far_through_the_mark_then_exempt_as_every_limit(
    new_bot: BotFactory, fakes: Fakes
) -> None:
    fakes.set_mark("binanceusdm", BTC, MARK)
    bot = new_bot("binanceusdm")
    fakes.binanceusdm.set_position(bot.api_key, "BTCUSDT", Decimal("0.01"))
    bot.exchange.fetch_positions([BTC])  # the sidecar learns the long (and the mark price)

    bot.order(BTC, "limit", "sell", 30000, reduceOnly=True)  # 40% under the mark: only closes the long

    [sent] = bot.orders_received()
    assert sent.status == 200 and sent.params["reduceOnly"] == "true"
    [line] = bot.decisions(verdict="allow")
    assert line["reduce_only"] is True


# ---- margin and position modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("venue", "path"),
    [("binanceusdm", "/fapi/v1/marginType"), ("bybit", "/v5/account/set-margin-mode"),
     ("okx", "/api/v5/account/set-leverage")],
)
def test_set_margin_mode_when_cross_not_allowed_then_blocked_as_bad_request_and_isolated_forwarded(
    new_bot: BotFactory, venue: str, path: str
) -> None:
    bot = new_bot(venue)
    extra = {"lever": 3} if venue == "okx" else {}  # ccxt sets OKX's margin mode with a leverage

    with pytest.raises(ccxt.BaseError) as raised:
        bot.exchange.set_margin_mode("cross", BTC, extra)
    assert bot.received("POST", path) == []
    bot.exchange.set_margin_mode("isolated", BTC, extra)

    assert len(bot.received("POST", path)) == 1
    line = _assert_blocked(bot, raised, ccxt.BadRequest, "MARGIN_MODE_NOT_ALLOWED")
    assert line["rule_id"] == "margin"
    assert {"margin_mode": "CROSSED", "allowed": "ISOLATED"}.items() <= line["context"].items()


@pytest.mark.parametrize(
    ("venue", "path"),
    [("binanceusdm", "/fapi/v1/positionSide/dual"), ("bybit", "/v5/position/switch-mode"),
     ("okx", "/api/v5/account/set-position-mode")],
)
def test_set_position_mode_when_hedge_not_allowed_then_blocked_as_bad_request_and_one_way_forwarded(
    new_bot: BotFactory, venue: str, path: str
) -> None:
    bot = new_bot(venue)
    symbol = BTC if venue == "bybit" else None  # Bybit switches one symbol (or coin) at a time

    with pytest.raises(ccxt.BaseError) as raised:
        bot.exchange.set_position_mode(True, symbol)
    assert bot.received("POST", path) == []
    try:
        bot.exchange.set_position_mode(False, symbol)
    except (ccxt.NoChange, ccxt.OperationRejected):
        pass  # the venue's own "already one-way" (Binance -4059, Bybit 110025): it was asked, which is the point

    assert len(bot.received("POST", path)) == 1
    line = _assert_blocked(bot, raised, ccxt.BadRequest, "MARGIN_MODE_NOT_ALLOWED")
    assert {"position_mode": "hedge", "allow_hedge": "false", "action": "set_position_mode"}.items() <= \
        line["context"].items()


def test_create_order_when_okx_order_trades_in_cross_margin_then_blocked_and_isolated_forwarded(
    new_bot: BotFactory, fakes: Fakes
) -> None:
    fakes.set_mark("okx", BTC, MARK)
    bot = new_bot("okx")
    bot.learn_mark(BTC)

    with pytest.raises(ccxt.BaseError) as raised:
        bot.exchange.create_order(BTC, "limit", "buy", 1, 49000)  # ccxt's default tdMode: cross
    bot.exchange.create_order(BTC, "limit", "buy", 1, 49000, {"marginMode": "isolated"})

    [sent] = bot.orders_received()
    assert sent.json[0]["tdMode"] == "isolated"
    line = _assert_blocked(bot, raised, ccxt.BadRequest, "MARGIN_MODE_NOT_ALLOWED")
    assert {"margin_mode": "CROSSED", "action": "new"}.items() <= line["context"].items()
