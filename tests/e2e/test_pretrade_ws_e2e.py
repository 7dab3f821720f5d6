"""Pre-trade rules over each venue's WebSocket order entry: ccxt.pro (binanceusdm `order.place`, bybit
`order.create`, okx `batch-orders`) through the real `riskwall run`, on the in-memory store and on Redis.

The bot learns the mark price through the sidecar over REST, then sends an order far through it on the socket:
ccxt.pro must fail that call with the same order-class exception as over REST (never an authentication error,
which ccxt.pro bybit takes for a failed login and never resolves), the fake never sees the frame, and the same
socket goes on taking orders. OKX orders carry their margin mode, which the policy's `margin_mode` rule reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest
from tests.support.sidecar import Sidecar
from tests.support.three_venues import (
    BTC,
    NATIVE,
    VENUES,
    Fakes,
    WsBot,
    make_ws_bot,
    with_pro,
)
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.three_venues import ws_sidecar as ws_sidecar  # the `sidecar` fixture
from tests.support.ws_e2e import TIMEOUT_S, run

pytestmark = pytest.mark.e2e

MARK = Decimal("50000")

POLICY = """
version: 1
mode: enforce
rules:
  - id: collar
    type: price_collar
    max_deviation_pct: 5
  - id: margin
    type: margin_mode
    allow: [ISOLATED]
    allow_hedge: false
"""

@pytest.fixture(params=["explicit", "reverse"])
def new_bot(request: pytest.FixtureRequest, fakes: Fakes, sidecar: Sidecar) -> Callable[[str], WsBot]:
    return lambda venue: make_ws_bot(fakes, sidecar, str(request.param), venue, "pt-ws")


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_ws_when_price_trades_through_the_mark_then_order_error_frame_never_sent_and_socket_goes_on(
    new_bot: Callable[[str], WsBot], fakes: Fakes, venue: str
) -> None:
    fakes[venue].set_mark_price(NATIVE[venue][BTC], MARK)
    bot = new_bot(venue)
    isolated = {"marginMode": "isolated"} if venue == "okx" else {}

    async def body(client: Any) -> tuple[BaseException, dict[str, Any]]:
        with pytest.raises(ccxt.BaseError) as raised:
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 53000, isolated), TIMEOUT_S)
        after = await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 52000, isolated),
                                       TIMEOUT_S)
        return raised.value, after

    raised, after = run(with_pro(bot, body))

    assert type(raised) is ccxt.InvalidOrder, f"{type(raised).__name__}: {raised}"
    assert not isinstance(raised, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "collar" in str(raised) and "PRICE_OUTSIDE_COLLAR" in str(raised)
    assert len(bot.frames()) == 1 and after["id"]  # only the order inside the collar reached the venue
    [line] = bot.decisions(verdict="block")
    assert (line["rule_id"], line["reason"], line["symbol"]) == ("collar", "PRICE_OUTSIDE_COLLAR", NATIVE[venue][BTC])
    assert {"price": "53000", "reference": "50000", "max_price": "52500"}.items() <= line["context"].items()
    assert [x["price"] for x in bot.decisions(verdict="allow")] == ["52000"]


def test_create_order_ws_when_okx_order_trades_in_cross_margin_then_bad_request_and_frame_never_sent(
    new_bot: Callable[[str], WsBot], fakes: Fakes
) -> None:
    fakes["okx"].set_mark_price("BTC-USDT-SWAP", MARK)
    bot = new_bot("okx")

    async def body(client: Any) -> BaseException:
        with pytest.raises(ccxt.BaseError) as raised:  # ccxt's default tdMode: cross
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", 1, 49000), TIMEOUT_S)
        return raised.value

    raised = run(with_pro(bot, body))

    assert type(raised) is ccxt.BadRequest and "MARGIN_MODE_NOT_ALLOWED" in str(raised)
    assert bot.frames() == []
    [line] = bot.decisions(verdict="block")
    assert {"margin_mode": "CROSSED", "allowed": "ISOLATED", "action": "new"}.items() <= line["context"].items()
