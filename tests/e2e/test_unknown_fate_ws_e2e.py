"""An order sent on a venue's WebSocket order socket whose answer says the venue could not tell whether it took it
(Bybit `retCode` 10016, OKX `sCode` 51149 "order timed out"), with ccxt.pro through the real `riskwall run`, on the
in-memory store and on Redis: its size stays held as an order whose answer was lost (the order may exist), so the
next order past the limit is refused; an answer that refuses the order holds nothing (`refusals.fate_unknown`, as
over REST in test_position_reads_e2e.py).

The fakes answer the first order op with the scripted frame instead of executing it: the venue's word is all the
sidecar has either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from tests.fakes.bybit_ws import ws_hub as bybit_hub
from tests.fakes.okx_ws import ws_hub as okx_hub
from tests.support.sidecar import Sidecar
from tests.support.three_venues import BTC, Fakes, WsBot, make_ws_bot, max_position_policy, with_pro
from tests.support.three_venues import three_fakes as three_fakes  # the `fakes` fixture
from tests.support.three_venues import ws_sidecar as ws_sidecar  # the `sidecar` fixture
from tests.support.ws_e2e import TIMEOUT_S, run

pytestmark = pytest.mark.e2e

MAX_QTY = Decimal("0.02")
POLICY = max_position_policy(MAX_QTY)
BID = 30000  # far from the fakes' marks: an order rests


def bybit_answer(code: int, msg: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda request: {"reqId": request["reqId"], "retCode": code, "retMsg": msg, "op": request["op"],
                            "data": {}, "retExtInfo": {}, "header": {}, "connId": "c1"}


def okx_answer(s_code: str, s_msg: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda request: {"id": request["id"], "op": request["op"], "code": "1", "msg": "",
                            "data": [{"ordId": "", "clOrdId": "", "tag": "", "sCode": s_code, "sMsg": s_msg}],
                            "inTime": "", "outTime": ""}


ANSWERS = {
    ("bybit", "unknown"): bybit_answer(10016, "Internal System Error."),
    ("bybit", "refused"): bybit_answer(110007, "ab not enough for new order"),
    ("okx", "unknown"): okx_answer("51149", "Order timed out, please try again later."),
    ("okx", "refused"): okx_answer("51008", "Order failed. Insufficient USDT margin in account"),
}


@pytest.fixture(params=["explicit", "reverse"])
def new_bot(request: pytest.FixtureRequest, fakes: Fakes, sidecar: Sidecar) -> Callable[[str], WsBot]:
    return lambda venue: make_ws_bot(fakes, sidecar, str(request.param), venue, "uf-ws")


@pytest.mark.parametrize("venue", ["bybit", "okx"])
@pytest.mark.parametrize(("answer", "then_admitted"), [("unknown", False), ("refused", True)])
def test_create_order_ws_when_the_answer_leaves_the_fate_unknown_then_held_and_a_refusal_holds_nothing(
    new_bot: Callable[[str], WsBot], fakes: Fakes, venue: str, answer: str, then_admitted: bool
) -> None:
    bot = new_bot(venue)
    hub = bybit_hub(fakes["bybit"]) if venue == "bybit" else okx_hub(fakes["okx"])
    hub.script_reply(ANSWERS[(venue, answer)])

    async def body(client: Any) -> BaseException | None:
        with pytest.raises(ccxt.BaseError):  # the scripted answer: 0.02 the venue may or may not have taken
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", 2 * bot.unit, BID), TIMEOUT_S)
        try:  # 0.01 more: past the limit only if the first is held
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, BID), TIMEOUT_S)
        except ccxt.BaseError as exc:
            return exc
        return None

    refused = run(with_pro(bot, body, learn_mark=False))

    if then_admitted:
        assert refused is None
        assert bot.decisions(verdict="block") == []
    else:
        assert type(refused) is ccxt.InvalidOrder, f"{type(refused).__name__}: {refused}"
        assert [line["reason"] for line in bot.decisions(verdict="block")] == ["POSITION_EXCEEDS_MAX"]
    assert len(bot.frames()) == (2 if then_admitted else 1)  # the refused one never reached the venue
