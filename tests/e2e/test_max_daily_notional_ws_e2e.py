"""The `max_daily_notional` rule over each venue's WebSocket order entry: ccxt.pro (binanceusdm `order.place`,
bybit `order.create`, okx `batch-orders`) through the real `riskwall run`, on the in-memory store and on Redis.

A bot spends its day's budget on one socket: the order over it must fail with the venue's own error frame
(Binance -2010, Bybit 110032, OKX 51004), which ccxt.pro turns into the same order-class exception as over REST
(never an authentication error, which ccxt.pro bybit takes for a failed login and never resolves); the fake never
sees that frame, and the same socket goes on taking an order that still fits.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
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

BUDGET = 800

POLICY = f"""
version: 1
mode: enforce
rules:
  - id: daily-notional
    type: max_daily_notional
    notional: {BUDGET}
"""

# the venue's native error code of a refused order, as the sidecar answers it on the socket
NATIVE_CODE = {"binanceusdm": "-2010", "bybit": "110032", "okx": "51004"}


@pytest.mark.parametrize("wiring", ["explicit", "reverse"])
@pytest.mark.parametrize("venue", VENUES)
def test_create_order_ws_when_the_daily_budget_is_spent_then_native_error_frame_never_sent_and_socket_goes_on(
    fakes: Fakes, sidecar: Sidecar, venue: str, wiring: str
) -> None:
    bot = make_ws_bot(fakes, sidecar, wiring, venue, "notional-ws")

    async def trade(client: Any) -> tuple[BaseException, dict[str, Any]]:
        for _ in range(2):  # 0.01 BTC at 30000 (resting): 300 each, 600 of 800
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 30000), TIMEOUT_S)
        with pytest.raises(ccxt.BaseError) as raised:
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 30000), TIMEOUT_S)
        eth = float(Decimal("0.1") / Decimal(str(client.market(ETH)["contractSize"] or 1)))  # 0.1 ETH: 150
        after = await asyncio.wait_for(client.create_order_ws(ETH, "limit", "buy", eth, 1500), TIMEOUT_S)
        return raised.value, after

    raised, after = run(with_pro(bot, trade, learn_mark=False))

    assert type(raised) is ccxt.InvalidOrder, f"{type(raised).__name__}: {raised}"
    assert not isinstance(raised, ccxt.NetworkError | ccxt.AuthenticationError)
    assert NATIVE_CODE[venue] in str(raised)
    assert "daily-notional" in str(raised) and "DAILY_NOTIONAL_EXCEEDS_MAX" in str(raised)
    [line] = bot.decisions(verdict="block")
    assert (line["rule_id"], line["reason"], line["symbol"]) == ("daily-notional", "DAILY_NOTIONAL_EXCEEDS_MAX",
                                                                 NATIVE[venue][BTC])
    context = line["context"]
    assert (context["scope"], context["symbol"]) == ("account", NATIVE[venue][BTC])
    assert (Decimal(context["daily_notional"]), Decimal(context["max_daily_notional"]),
            Decimal(context["notional"])) == (Decimal(900), Decimal(BUDGET), Decimal(300))
    assert after["id"] and len(bot.frames()) == 3  # the third bid never reached the venue; ETH (750 of 800) did
    assert len(bot.decisions(verdict="allow")) == 3
