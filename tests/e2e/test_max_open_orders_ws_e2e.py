"""The `max_open_orders` rule over each venue's WebSocket order entry: ccxt.pro (binanceusdm `order.place`, bybit
`order.create`, okx `batch-orders`) through the real `riskwall run`, on the in-memory store and on Redis.

A bot rests orders on one socket up to the limit: ccxt.pro must fail the next call with the same order-class
exception as over REST (never an authentication error, which ccxt.pro bybit takes for a failed login and never
resolves), the fake never sees that frame, and the same socket goes on taking orders on another symbol.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt
import ccxt.pro
import pytest
from tests.support.sidecar import Sidecar
from tests.support.three_venues import (
    BTC,
    ETH,
    NATIVE,
    VENUES,
    Fakes,
    make_ws_bot,
    with_pro,
)
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.three_venues import ws_sidecar as ws_sidecar  # the `sidecar` fixture
from tests.support.ws_e2e import TIMEOUT_S, run

pytestmark = pytest.mark.e2e

LIMIT = 2

POLICY = f"""
version: 1
mode: enforce
rules:
  - id: open-orders
    type: max_open_orders
    per_symbol: {LIMIT}
"""


@pytest.mark.parametrize("wiring", ["explicit", "reverse"])
@pytest.mark.parametrize("venue", VENUES)
def test_create_order_ws_when_the_symbol_is_full_then_order_error_frame_never_sent_and_socket_goes_on(
    fakes: Fakes, sidecar: Sidecar, venue: str, wiring: str
) -> None:
    bot = make_ws_bot(fakes, sidecar, wiring, venue, "open-ws")

    async def trade(client: Any) -> tuple[BaseException, dict[str, Any]]:
        for price in (30000, 29990):
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, price), TIMEOUT_S)
        with pytest.raises(ccxt.BaseError) as raised:
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 29980), TIMEOUT_S)
        after = await asyncio.wait_for(client.create_order_ws(ETH, "limit", "buy", bot.unit, 1500), TIMEOUT_S)
        return raised.value, after

    raised, after = run(with_pro(bot, trade, learn_mark=False))

    assert type(raised) is ccxt.InvalidOrder, f"{type(raised).__name__}: {raised}"
    assert not isinstance(raised, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "open-orders" in str(raised) and "OPEN_ORDERS_EXCEED_MAX" in str(raised)
    line = bot.decisions(verdict="block")[0]
    assert (line["rule_id"], line["reason"], line["symbol"]) == ("open-orders", "OPEN_ORDERS_EXCEED_MAX",
                                                                 NATIVE[venue][BTC])
    assert {"open_orders": str(LIMIT + 1), "max_open_orders": str(LIMIT), "scope": "symbol"}.items() <= \
        line["context"].items()
    assert after["id"] and len(bot.frames()) == LIMIT + 1  # the third bid never reached the venue; ETH did
