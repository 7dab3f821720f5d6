"""A fill the bot hears of twice, and an order whose answer is lost, with the real ccxt, through the real
`riskwall run`, on Binance USDⓈ-M, Bybit and OKX, on the memory and the Redis store, in both wirings.

A resting buy fills on the venue; the bot reads its positions (the read holds the fill), then asks after the order
(its answer reports the same fill). Counted twice, the sidecar would take the account for long 0.02 while the venue
holds 0.01, and let a sell past the policy's short limit by the fill's size. The fill is held in its direction
until a later position read shows the position, so the sell is measured from the long 0.01 the venue holds.

An order whose answer never comes (Binance's 503 "execution status unknown") may rest on the book unfilled,
which no position read shows: it stays held until the bot has both read its positions and listed its open
orders, 10 s or more after the answer was lost (so those tests wait that long). So does an order whose answer
says the venue could not tell whether it took it (Bybit's retCode 10016, OKX's 50004, whatever their HTTP status),
while one the venue refused holds nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from tests.support.sidecar import Sidecar
from tests.support.three_venues import BTC, NATIVE, VENUES, Bot, Fakes, make_bot, max_position_policy
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.three_venues import ws_sidecar as ws_sidecar  # the `sidecar` fixture: memory and Redis

from riskwall.state.memory import UNANSWERED_SETTLE_MS

pytestmark = pytest.mark.e2e

MAX_QTY = Decimal("0.02")
POLICY = max_position_policy(MAX_QTY)
BID, ASK = 30000, 90000  # far from the fakes' marks: the orders rest until the test fills them

type BotFactory = Callable[[str], Bot]


@pytest.fixture
def new_bot(fakes: Fakes, sidecar: Sidecar, wiring: str) -> BotFactory:
    return lambda venue: make_bot(fakes, sidecar, wiring, venue, "reads")


def fill(bot: Bot, order: Any) -> None:
    bot.fake.fill_order(int(order["id"]) if bot.venue == "binanceusdm" else order["id"])


def ask(bot: Bot, units: int) -> Any:
    """A resting limit sell of `units` × 0.01 BTC."""
    return bot.order(BTC, "limit", "sell", ASK, amount=units * bot.unit)


def heard_twice(bot: Bot) -> None:
    """A resting buy of 0.01 fills on the venue; the bot reads its positions (the read holds the fill), then asks
    after the order (its answer reports the same fill again)."""
    bid = bot.order(BTC, "limit", "buy", BID)
    fill(bot, bid)
    bot.exchange.fetch_positions([BTC])
    params = {"acknowledged": True} if bot.venue == "bybit" else {}
    assert bot.exchange.fetch_order(bid["id"], BTC, params)["status"] == "closed"


def position_on_venue(bot: Bot) -> Decimal:
    symbol = NATIVE[bot.venue][BTC]
    return bot.fake.position(bot.api_key, symbol) * (Decimal("0.01") if bot.venue == "okx" else 1)


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_a_position_read_and_an_order_query_both_report_a_fill_then_it_counts_once(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    heard_twice(bot)  # long 0.01 on the venue

    with pytest.raises(ccxt.BaseError) as raised:
        ask(bot, 4)  # from long 0.01 to short 0.03; counted twice, the store would see long 0.02 to short 0.02
    ask(bot, 3)  # to short 0.02: within the limit

    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    line = bot.decisions(verdict="block")[-1]
    assert (line["reason"], line["rule_id"]) == ("POSITION_EXCEEDS_MAX", "position")
    assert (Decimal(line["context"]["position"]), Decimal(line["context"]["max_position"])) == (
        Decimal("0.03"), MAX_QTY)  # how far short the sell would take it
    assert position_on_venue(bot) == Decimal("0.01")
    assert len(bot.orders_received()) == 2  # the bid and the admitted sell


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_when_a_fill_was_held_for_a_read_then_the_next_read_ends_the_hold(
    new_bot: BotFactory, venue: str
) -> None:
    bot = new_bot(venue)
    heard_twice(bot)
    with pytest.raises(ccxt.InvalidOrder):
        bot.order(BTC, "limit", "buy", BID, amount=bot.unit)  # the held 0.01 on top of the long 0.01: 0.03

    bot.exchange.fetch_positions([BTC])  # asked after the fill was learned: the position holds it
    bot.order(BTC, "limit", "buy", BID, amount=bot.unit)  # long 0.01, plus 0.01: within 0.02

    assert len(bot.orders_received()) == 2


def test_create_order_when_an_order_answer_was_lost_then_held_until_positions_and_open_orders_are_read(
    new_bot: BotFactory
) -> None:
    bot = new_bot("binanceusdm")
    bot.fake.lose_answer("POST", "/fapi/v1/order")
    with pytest.raises(ccxt.BaseError, match="execution status unknown"):
        bot.order(BTC, "limit", "buy", BID, amount=2 * bot.unit)  # 0.02 rests on the venue; the bot never hears
    time.sleep(UNANSWERED_SETTLE_MS / 1000 + 0.5)  # the order has long reached the venue: reads can tell

    bot.exchange.fetch_positions([BTC])  # flat: a read alone cannot tell an order resting from none placed
    bot.exchange.fapiPrivateGetOpenAlgoOrders({"symbol": "BTCUSDT"})  # nor can the algo book: it is regular
    with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
        bot.order(BTC, "limit", "buy", BID, amount=bot.unit)  # 0.02 held, and 0.01
    [resting] = bot.exchange.fetch_open_orders(BTC)  # it rests: from now on it counts as this open order
    with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
        bot.order(BTC, "limit", "buy", BID, amount=bot.unit)  # 0.02 open, and 0.01
    bot.exchange.cancel_order(resting["id"], BTC)
    # the read came before the listing: the order might have filled between them, so the hold waits for a read
    # asked after the listing
    with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
        bot.order(BTC, "limit", "buy", BID, amount=bot.unit)  # 0.02 held, and 0.01
    bot.exchange.fetch_positions([BTC])
    bot.order(BTC, "limit", "buy", BID, amount=bot.unit)  # nothing held, nothing open: 0.01 fits

    assert [o["origQty"] for o in bot.fake.open_orders(bot.api_key)] == ["0.010"]
    # the lost order and the last reached the venue; the two refused did not
    assert [(r.method, r.status) for r in bot.orders_received()] == [("POST", 503), ("POST", 200)]
    assert [line["reason"] for line in bot.decisions(verdict="block")] == ["POSITION_EXCEEDS_MAX"] * 3


ORDER_PATHS = {"bybit": "/v5/order/create", "okx": "/api/v5/trade/batch-orders"}  # ccxt places OKX orders as batches


@pytest.mark.parametrize("venue", ["bybit", "okx"])
def test_create_order_when_the_answer_says_the_venue_could_not_tell_then_held_as_a_lost_answer(
    new_bot: BotFactory, venue: str
) -> None:
    # Bybit's retCode 10016 with HTTP 200, OKX's 50004 "does not indicate success or failure" with HTTP 400: the
    # order may exist (here it does), so its size stays held as an order whose answer was lost
    bot = new_bot(venue)
    bot.fake.lose_answer("POST", ORDER_PATHS[venue])
    with pytest.raises(ccxt.BaseError):
        bot.order(BTC, "limit", "buy", BID, amount=2 * bot.unit)  # 0.02 rests on the venue; the bot cannot tell

    with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
        bot.order(BTC, "limit", "buy", BID, amount=bot.unit)  # 0.02 held, and 0.01

    assert len(bot.fake.open_orders(bot.api_key)) == 1  # the first order rests; the refused one never reached it
    assert [line["reason"] for line in bot.decisions(verdict="block")] == ["POSITION_EXCEEDS_MAX"]


def test_create_order_when_bybit_refused_the_order_then_nothing_is_held(new_bot: BotFactory) -> None:
    bot = new_bot("bybit")
    bot.fake.queue_error("POST", ORDER_PATHS["bybit"], code=110007, msg="ab not enough for new order")
    with pytest.raises(ccxt.InsufficientFunds):
        bot.order(BTC, "limit", "buy", BID, amount=2 * bot.unit)  # refused: no order on the venue

    bot.order(BTC, "limit", "buy", BID, amount=2 * bot.unit)  # nothing held: 0.02 fits

    assert len(bot.fake.open_orders(bot.api_key)) == 1
    assert bot.decisions(verdict="block") == []


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit"])
def test_create_order_when_a_cancel_all_ended_an_order_that_had_filled_unseen_then_its_size_counts_until_a_read(
    new_bot: BotFactory, venue: str
) -> None:
    # a market maker that quotes, cancels all and quotes again, reading no order in between: the venue filled the
    # quote before the cancel-all reached it, which the cancel-all's answer does not say
    bot = new_bot(venue)
    bid = bot.order(BTC, "limit", "buy", BID, amount=2 * bot.unit)
    fill(bot, bid)  # long 0.02 on the venue; the sidecar has seen nothing of it
    time.sleep(0.3)  # past the hosts' clock margin (Redis): the cancel-all is asked after the bid was learned
    bot.exchange.cancel_all_orders(BTC)

    with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
        bot.order(BTC, "limit", "buy", BID, amount=2 * bot.unit)  # 0.02 held as possibly filled, and 0.02
    bot.exchange.fetch_positions([BTC])  # asked after the cancel-all: the hold ends, the position is the venue's
    with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
        bot.order(BTC, "limit", "buy", BID, amount=bot.unit)  # long 0.02, and 0.01
    ask(bot, 2)  # from long 0.02 to flat at most: within the limit either way

    assert position_on_venue(bot) == Decimal("0.02")
    assert len(bot.decisions(verdict="block")) == 2
