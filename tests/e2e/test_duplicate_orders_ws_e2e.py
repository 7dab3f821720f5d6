"""The `duplicate_orders` rule over each venue's WebSocket order entry: ccxt.pro (binanceusdm `order.place`, bybit
`order.create`, okx `batch-orders`) through the real `riskwall run`, on the in-memory store and on Redis.

A bot sends the same order twice on one socket: ccxt.pro must fail the second call with the same order-class
exception as over REST (never an authentication error, which ccxt.pro bybit takes for a failed login and never
resolves), the fake never sees the second frame, and the same socket goes on taking orders.
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

POLICY = """
version: 1
mode: enforce
rules:
  - id: duplicates
    type: duplicate_orders
    window: 5s
"""


@pytest.mark.parametrize("wiring", ["explicit", "reverse"])
@pytest.mark.parametrize("venue", VENUES)
def test_create_order_ws_when_identical_order_repeats_then_order_error_frame_never_sent_and_socket_goes_on(
    fakes: Fakes, sidecar: Sidecar, venue: str, wiring: str
) -> None:
    bot = make_ws_bot(fakes, sidecar, wiring, venue, "dup-ws")

    async def trade(client: Any) -> tuple[BaseException, dict[str, Any]]:
        await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 41000), TIMEOUT_S)
        with pytest.raises(ccxt.BaseError) as raised:
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 41000), TIMEOUT_S)
        after = await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 41010), TIMEOUT_S)
        return raised.value, after

    raised, after = run(with_pro(bot, trade, learn_mark=False))

    assert type(raised) is ccxt.InvalidOrder, f"{type(raised).__name__}: {raised}"
    assert not isinstance(raised, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "duplicates" in str(raised) and "DUPLICATE_ORDER" in str(raised)
    assert len(bot.frames()) == 2 and after["id"]  # the repeat never reached the venue
    [line] = bot.decisions(verdict="block")
    allowed = bot.decisions(verdict="allow")
    assert (line["rule_id"], line["reason"], line["symbol"]) == ("duplicates", "DUPLICATE_ORDER", NATIVE[venue][BTC])
    assert {"window_ms": "5000", "duplicate_of": allowed[0]["decision_id"], "price": "41000"}.items() <= \
        line["context"].items()
    assert [x["price"] for x in allowed] == ["41000", "41010"]
