"""Reject storms over each venue's WebSocket order entry: ccxt.pro through the real `riskwall run` (in-memory store
and Redis), on Binance USDⓈ-M (`order.place`), Bybit (`order.create`) and OKX (`order`).

Each venue's fake refuses a reduce-only order on an account with no position, on the socket, as the venue does
(Binance -2022, Bybit 110017, OKX 51169). The firewall lets those through (a reduction it cannot confirm is checked
as an ordinary order, and this policy has no other limit), so the venue's refusals are what the storm counts:
after the limit, the next order on the same socket is answered by the sidecar in the venue's own error frame and
the fake never sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import ccxt
import pytest
from tests.support.sidecar import Sidecar
from tests.support.three_venues import (
    BTC,
    VENUES,
    Fakes,
    WsBot,
    make_ws_bot,
    with_pro,
)
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.three_venues import ws_sidecar as ws_sidecar  # the `sidecar` fixture
from tests.support.ws_e2e import TIMEOUT_S, run, status

pytestmark = pytest.mark.e2e

LIMIT = 3
POLICY = f"""
version: 1
mode: enforce
rules:
  - id: storm
    type: reject_storm
    limit: "{LIMIT}/1m"
    cool_down: 1m
    state: REDUCING
"""


@pytest.fixture
def new_bot(fakes: Fakes, sidecar: Sidecar) -> Callable[[str], WsBot]:
    return lambda venue: make_ws_bot(fakes, sidecar, "reverse", venue, "rs-ws")


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_ws_when_the_venue_refused_the_limit_on_the_socket_then_next_order_answered_by_the_sidecar(
    new_bot: Callable[[str], WsBot], venue: str
) -> None:
    bot = new_bot(venue)
    params = {"marginMode": "isolated"} if venue == "okx" else {}

    async def body(client: Any) -> tuple[list[BaseException], BaseException]:
        refused = []
        for _ in range(LIMIT):  # no position: the venue refuses each reduce-only order
            with pytest.raises(ccxt.BaseError) as raised:
                await asyncio.wait_for(client.create_order_ws(BTC, "market", "sell", bot.unit, None,
                                                              {**params, "reduceOnly": True}), TIMEOUT_S)
            refused.append(raised.value)
        with pytest.raises(ccxt.BaseError) as blocked:
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 30000, params), TIMEOUT_S)
        return refused, blocked.value

    refused, blocked = run(with_pro(bot, body))

    assert all("TRADING_REDUCING" not in str(error) for error in refused)  # the venue's own refusals
    assert "TRADING_REDUCING" in str(blocked), f"{type(blocked).__name__}: {blocked}"
    # the order's own call ended with the venue's kill-switch class (Binance, OKX: PermissionDenied; Bybit's socket:
    # InvalidOrder), never a timeout
    assert not isinstance(blocked, ccxt.NetworkError)
    assert len(bot.frames()) == LIMIT  # the blocked order never reached the venue
    [line] = bot.decisions(verdict="block")
    assert (line["rule_id"], line["reason"]) == ("storm", "TRADING_REDUCING")
    trips = [x for x in bot.sidecar.log_lines()[bot.lines_before:]
             if x.get("event") == "reject_storm" and x.get("account") == bot.account]
    assert [(t["rejections"], t["venue"]) for t in trips] == [(LIMIT, venue)]
    assert any(s["scope"] == f"venue={venue},account={bot.account}" and s["rule_id"] == "storm"
               for s in status(bot.sidecar)["trading_states"])
