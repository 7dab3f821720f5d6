"""Amends measured by the notional rules, with the real ccxt through the real `riskwall run` (memory and Redis):
OKX amend-order and Bybit /v5/order/amend may restate an order's size or its price alone. The firewall does not
keep a resting order's price, so an amend that grows a sell without restating its price is refused (the mark
would measure a sell resting above it short), and an amend of the price alone is measured as the order's open
part at the new price. Policy: an order's notional at most 1,000; the fakes' mark is 50,000, and 0.01 BTC is one
unit (1 contract on OKX).
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from tests.support.sidecar import Sidecar
from tests.support.three_venues import BTC, Bot, Fakes, make_bot
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.three_venues import ws_sidecar as ws_sidecar  # the `sidecar` fixture, memory and Redis

pytestmark = pytest.mark.e2e

POLICY = """
version: 1
mode: enforce
rules:
  - {id: order-notional, type: max_order_notional, default: 1000}
"""

AMEND_PATH = {"okx": "/api/v5/trade/amend-order", "bybit": "/v5/order/amend"}


@pytest.fixture
def wiring() -> str:
    return "reverse"  # the amend is read alike in both wirings; the other tests cover the explicit proxy


def _amend(bot: Bot, order_id: str, *, units: int | None = None, price: str | None = None) -> None:
    """The venue's own amend call, as a bot restating the size or the price alone sends it."""
    if bot.venue == "okx":
        body = {"instId": "BTC-USDT-SWAP", "ordId": order_id}
        body |= {"newSz": str(units)} if units is not None else {}
        body |= {"newPx": price} if price is not None else {}
        bot.exchange.private_post_trade_amend_order(body)
    else:
        body = {"category": "linear", "symbol": "BTCUSDT", "orderId": order_id}
        body |= {"qty": str(Decimal(units) / 100)} if units is not None else {}
        body |= {"price": price} if price is not None else {}
        bot.exchange.private_post_v5_order_amend(body)


@pytest.mark.parametrize("venue", ["okx", "bybit"])
@pytest.mark.parametrize(("amend", "reason"), [
    # a sell of 0.01 resting at 95,000 (950) resized to 0.02 without its price: 1,900 where it rests
    ({"units": 2}, "PARSE_FAILED"),
    # a sell of 0.02 resting at 50,000 (1,000) moved to 95,000: 1,900
    ({"price": "95000"}, "ORDER_NOTIONAL_EXCEEDS_MAX"),
], ids=["size-alone", "price-alone"])
def test_amend_when_it_takes_a_sell_over_the_notional_limit_then_refused_and_never_reaches_the_venue(
    fakes: Fakes, sidecar: Sidecar, wiring: str, venue: str, amend: dict[str, object], reason: str,
) -> None:
    bot = make_bot(fakes, sidecar, wiring, venue, "amend-notional")
    bot.learn_mark(BTC)
    units, price = (1, 95000.0) if "units" in amend else (2, 50000.0)
    placed = bot.order(BTC, "limit", "sell", price, amount=units * bot.unit)

    with pytest.raises(ccxt.BaseError) as raised:
        _amend(bot, placed["id"], **amend)  # type: ignore[arg-type]

    assert type(raised.value) is ccxt.InvalidOrder, f"{type(raised.value).__name__}: {raised.value}"
    assert reason in str(raised.value)
    assert bot.received("POST", AMEND_PATH[venue]) == []
    line = bot.decisions(verdict="block")[-1]
    assert (line["reason"], line["venue"]) == (reason, venue)
