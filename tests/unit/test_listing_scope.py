"""What an open-orders listing or a positions report may be learned as covering (`TableAdapter.sure_scope`).

An order absent from an account-wide (or symbol-wide) listing is taken for gone: held for a while, then released by
the next position read, after which its resting exposure no longer counts. So a listing is learned as covering its
scope only when every query parameter is one its learner reads as that scope or one that narrows nothing
(timestamp, recvWindow, signature), spelled exactly so. A filter the learner does not read (COIN-M's `pair`,
BingX's `type`), a name in other letter case (BitMEX matches names case-insensitively), a `#` in the request target
(servers differ on where the query ends) or a body on a read teaches only what the answer lists, or nothing.

Each scenario runs through the decider into a MemoryStore, as the addon does: an order rests at 0.8 of a 1.0
`max_position`, the read under test is learned, a position read comes more than 10 s later (what releases a
vanished order's hold), and a second 0.8 order is decided. Held, the resting order keeps it from passing.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from riskwall.decider import decide_request, learn_answer
from riskwall.model import Reason, Verdict
from riskwall.state.memory import MemoryStore
from riskwall.venues.base import HttpRequest, TableAdapter, screen
from riskwall.venues.binance_coinm import ADAPTER as COINM
from riskwall.venues.binance_usdm import ADAPTER as USDM
from riskwall.venues.bingx import ADAPTER as BINGX
from riskwall.venues.bitmex import ADAPTER as BITMEX

from .factories import make_policy

D = Decimal
POLICY = make_policy("rules:\n  - {id: pos, type: max_position, default: {qty: 1}}\n")
START = 1_700_000_000_000
LATER = START + 11_000  # past the 10 s an order absent from a listing is held for
FORM = "application/x-www-form-urlencoded"
SIGNED = (("timestamp", "1700000000000"), ("recvWindow", "5000"), ("signature", "ab" * 32))

type Step = tuple[HttpRequest, Any, int]


def request(adapter: TableAdapter, method: str, path: str, query: tuple[tuple[str, str], ...] = (), *,
            target: str | None = None, body: bytes = b"", content_type: str | None = None) -> HttpRequest:
    """`query` as the firewall reads it (mitmproxy ends it at a `#`); `target` the request target as sent."""
    headers = {adapter.key_header.lower(): "scope-test-key-" + "k" * 40}
    if content_type is not None:
        headers["content-type"] = content_type
    if target is None:
        target = path + ("?" + urlencode(query) if query else "")
    return HttpRequest(method, adapter.default_hosts[0], 443, target, query, headers, body)


def second_order_verdict(adapter: TableAdapter, steps: list[Step], order: HttpRequest) -> tuple[Verdict, Any]:
    """Each step decided and its answer learned at its time; then `order` decided: its verdict and reason."""
    now = [START]

    async def run() -> tuple[Verdict, Any]:
        store = MemoryStore(clock=lambda: now[0])  # the store's one instant: when each step came in
        for n, (req, answer, at) in enumerate(steps):
            now[0] = at
            evaluation = await decide_request(screen(adapter, req), POLICY, store, f"d{n}")
            assert evaluation.decision.verdict is Verdict.ALLOW and evaluation.parsed is not None, n
            await learn_answer(store, adapter, evaluation.parsed, req, 200, orjson.dumps(answer), f"d{n}",
                               evaluation.reserved, POLICY, asked_ms=at)
        evaluation = await decide_request(screen(adapter, order), POLICY, store, "last")
        deciding = evaluation.decision.deciding
        return evaluation.decision.verdict, deciding.reason if deciding else None

    return asyncio.run(run())


def screen_and_decide_twice(adapter: TableAdapter, order: HttpRequest, answer: bytes) -> Verdict:
    """`order` decided and its 200 `answer` (raw bytes) learned, then `order` decided again: its verdict."""
    return screen_and_decide_then(adapter, order, answer, order)


def screen_and_decide_then(adapter: TableAdapter, order: HttpRequest, answer: bytes, then: HttpRequest) -> Verdict:
    """`order` decided and its 200 `answer` (raw bytes) learned, then `then` decided: its verdict."""

    async def run() -> Verdict:
        store = MemoryStore(clock=lambda: START)
        first = await decide_request(screen(adapter, order), POLICY, store, "first")
        assert first.decision.verdict is Verdict.ALLOW and first.parsed is not None
        await learn_answer(store, adapter, first.parsed, order, 200, answer, "first", first.reserved, POLICY,
                           asked_ms=START)
        return (await decide_request(screen(adapter, then), POLICY, store, "second")).decision.verdict

    return asyncio.run(run())


# ---- Binance USDⓈ-M -----------------------------------------------------------------------------------------


def usdm_order(order_id: int) -> tuple[HttpRequest, dict[str, Any]]:
    fields = (("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
              ("quantity", "0.8"), ("price", "40000"), *SIGNED)
    answer = {"orderId": order_id, "symbol": "BTCUSDT", "side": "BUY", "positionSide": "BOTH", "status": "NEW",
              "origQty": "0.8", "executedQty": "0", "price": "40000", "type": "LIMIT"}
    return request(USDM, "POST", "/fapi/v1/order", fields), answer


USDM_FLAT_READ = request(USDM, "GET", "/fapi/v3/positionRisk", SIGNED)
USDM_FLAT = [{"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0", "markPrice": "40000"}]

USDM_LISTINGS = [
    # what ccxt sends: learned as the whole account's listing; the order is gone, so the next one passes
    pytest.param(request(USDM, "GET", "/fapi/v1/openOrders", SIGNED), Verdict.ALLOW, id="account-wide-learned"),
    pytest.param(request(USDM, "GET", "/fapi/v1/openOrders", (("symbol", "BTCUSDT"), *SIGNED)), Verdict.ALLOW,
                 id="symbol-wide-learned"),
    pytest.param(request(USDM, "GET", "/fapi/v1/openOrders", (("SYMBOL", "ETHUSDT"), *SIGNED)), Verdict.BLOCK,
                 id="symbol-in-other-letter-case"),
    pytest.param(request(USDM, "GET", "/fapi/v1/openOrders", (("orderId", "7"), *SIGNED)), Verdict.BLOCK,
                 id="unknown-filter"),
    pytest.param(request(USDM, "GET", "/fapi/v1/openOrders", SIGNED,
                         target="/fapi/v1/openOrders?" + urlencode(SIGNED) + "#&symbol=ETHUSDT"),
                 Verdict.BLOCK, id="hash-in-target"),
    pytest.param(request(USDM, "GET", "/fapi/v1/openOrders", SIGNED, body=b"symbol=ETHUSDT", content_type=FORM),
                 Verdict.BLOCK, id="read-with-a-body"),
]


@pytest.mark.parametrize(("listing", "verdict"), USDM_LISTINGS)
def test_order_when_binance_usdm_listing_of_unsure_scope_empty_then_resting_order_still_counts(
    listing: HttpRequest, verdict: Verdict
) -> None:
    placed, ack = usdm_order(1)
    steps: list[Step] = [(placed, ack, START), (listing, [], START + 1), (USDM_FLAT_READ, USDM_FLAT, LATER)]

    assert second_order_verdict(USDM, steps, usdm_order(2)[0])[0] is verdict


def test_order_when_binance_usdm_cancel_all_scoped_by_body_then_resting_order_still_counts() -> None:
    """A cancel-all naming one symbol in the query, which the learner reads, and another in the body, which Binance
    may read instead: which book is empty is not sure, so none is taken for empty."""
    placed, ack = usdm_order(1)
    cancel_all = request(USDM, "DELETE", "/fapi/v1/allOpenOrders", (("symbol", "BTCUSDT"), *SIGNED),
                         body=b"symbol=ETHUSDT", content_type=FORM)
    steps: list[Step] = [(placed, ack, START), (cancel_all, {"code": 200, "msg": "done"}, START + 1),
                         (USDM_FLAT_READ, USDM_FLAT, LATER)]

    assert second_order_verdict(USDM, steps, usdm_order(2)[0]) == (Verdict.BLOCK, Reason.POSITION_EXCEEDS_MAX)


@pytest.mark.parametrize(
    ("report", "verdict"),
    [
        pytest.param(request(USDM, "GET", "/fapi/v3/positionRisk", SIGNED), Verdict.ALLOW, id="account-wide"),
        pytest.param(request(USDM, "GET", "/fapi/v3/positionRisk", (("Symbol", "ETHUSDT"), *SIGNED)),
                     Verdict.BLOCK, id="symbol-in-other-letter-case"),
        pytest.param(request(USDM, "GET", "/fapi/v3/positionRisk", SIGNED,
                             target="/fapi/v3/positionRisk?" + urlencode(SIGNED) + "#&symbol=ETHUSDT"),
                     Verdict.BLOCK, id="hash-in-target"),
    ],
)
def test_order_when_binance_usdm_positions_report_of_unsure_scope_then_unlisted_position_kept(
    report: HttpRequest, verdict: Verdict
) -> None:
    """A long of 0.8 BTC, then a report listing only ETHUSDT: account-wide, BTCUSDT is flat and 0.8 more passes;
    of unsure scope, it says nothing of BTCUSDT, and 0.8 more would make 1.6."""
    long = [{"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.8", "markPrice": "40000"}]
    eth_only = [{"symbol": "ETHUSDT", "positionSide": "BOTH", "positionAmt": "0", "markPrice": "2000"}]
    steps: list[Step] = [(USDM_FLAT_READ, long, START), (report, eth_only, START + 1)]

    assert second_order_verdict(USDM, steps, usdm_order(2)[0])[0] is verdict


# ---- Binance COIN-M -------------------------------------------------------------------------------------------


def coinm_order(order_id: int) -> tuple[HttpRequest, dict[str, Any]]:
    # 400 contracts of 100 USD at 50,000: 0.8 BTC
    fields = (("symbol", "BTCUSD_PERP"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
              ("quantity", "400"), ("price", "50000"), *SIGNED)
    answer = {"orderId": order_id, "symbol": "BTCUSD_PERP", "pair": "BTCUSD", "side": "BUY",
              "positionSide": "BOTH", "status": "NEW", "origQty": "400", "executedQty": "0", "price": "50000",
              "type": "LIMIT"}
    return request(COINM, "POST", "/dapi/v1/order", fields), answer


COINM_MARK = (request(COINM, "GET", "/dapi/v1/premiumIndex"), [{"symbol": "BTCUSD_PERP", "markPrice": "50000"}])
COINM_FLAT = (request(COINM, "GET", "/dapi/v1/positionRisk", SIGNED),
              [{"symbol": "BTCUSD_PERP", "positionSide": "BOTH", "positionAmt": "0", "markPrice": "50000"}])


@pytest.mark.parametrize(
    ("listing", "verdict"),
    [
        pytest.param(request(COINM, "GET", "/dapi/v1/openOrders", SIGNED), Verdict.ALLOW, id="account-wide-learned"),
        pytest.param(request(COINM, "GET", "/dapi/v1/openOrders", (("symbol", "BTCUSD_PERP"), *SIGNED)),
                     Verdict.ALLOW, id="symbol-wide-learned"),
        # dapi lists every expiry of a pair: not one symbol, nor the whole account
        pytest.param(request(COINM, "GET", "/dapi/v1/openOrders", (("pair", "ETHUSD"), *SIGNED)), Verdict.BLOCK,
                     id="pair-filter"),
        pytest.param(request(COINM, "GET", "/dapi/v1/openOrders", SIGNED,
                             target="/dapi/v1/openOrders?" + urlencode(SIGNED) + "#&pair=ETHUSD"),
                     Verdict.BLOCK, id="hash-in-target"),
    ],
)
def test_order_when_binance_coinm_listing_of_unsure_scope_empty_then_resting_order_still_counts(
    listing: HttpRequest, verdict: Verdict
) -> None:
    placed, ack = coinm_order(1)
    steps: list[Step] = [(*COINM_MARK, START), (placed, ack, START + 1), (listing, [], START + 2),
                         (*COINM_FLAT, LATER)]

    assert second_order_verdict(COINM, steps, coinm_order(2)[0])[0] is verdict


# ---- BingX ----------------------------------------------------------------------------------------------------


def bingx_order(order_id: int) -> tuple[HttpRequest, dict[str, Any]]:
    fields = (("symbol", "BTC-USDT"), ("side", "BUY"), ("positionSide", "BOTH"), ("type", "LIMIT"),
              ("quantity", "0.8"), ("price", "40000"), *SIGNED)
    answer = {"symbol": "BTC-USDT", "orderId": order_id, "side": "BUY", "positionSide": "BOTH", "type": "LIMIT",
              "origQty": "0.8", "price": "40000", "executedQty": "0", "status": "NEW"}
    return request(BINGX, "POST", "/openApi/swap/v2/trade/order", fields), bingx_envelope({"order": answer})


def bingx_envelope(data: Any) -> dict[str, Any]:
    return {"code": 0, "msg": "", "data": data}


BINGX_FLAT = (request(BINGX, "GET", "/openApi/swap/v2/user/positions", SIGNED), bingx_envelope([]))
BINGX_OPEN = "/openApi/swap/v2/trade/openOrders"
BINGX_CANCEL_ALL = "/openApi/swap/v2/trade/allOpenOrders"


@pytest.mark.parametrize(
    ("listing", "answer", "verdict"),
    [
        pytest.param(request(BINGX, "GET", BINGX_OPEN, SIGNED), {"orders": []}, Verdict.ALLOW,
                     id="account-wide-learned"),
        pytest.param(request(BINGX, "GET", BINGX_OPEN, (("symbol", "BTC-USDT"), *SIGNED)), {"orders": []},
                     Verdict.ALLOW, id="symbol-wide-learned"),
        # BingX's own example code filters open orders by type: only the market orders are listed
        pytest.param(request(BINGX, "GET", BINGX_OPEN, (("type", "MARKET"), *SIGNED)), {"orders": []},
                     Verdict.BLOCK, id="type-filter"),
        pytest.param(request(BINGX, "DELETE", BINGX_CANCEL_ALL, (("symbol", "BTC-USDT"), ("type", "MARKET"),
                                                                 *SIGNED)),
                     {"success": [], "failed": None}, Verdict.BLOCK, id="cancel-all-of-one-type"),
    ],
)
def test_order_when_bingx_listing_of_unsure_scope_empty_then_resting_order_still_counts(
    listing: HttpRequest, answer: Any, verdict: Verdict
) -> None:
    placed, ack = bingx_order(1)
    steps: list[Step] = [(placed, ack, START), (listing, bingx_envelope(answer), START + 1), (*BINGX_FLAT, LATER)]

    assert second_order_verdict(BINGX, steps, bingx_order(2)[0])[0] is verdict


# ---- BitMEX ---------------------------------------------------------------------------------------------------


def bitmex_order(order_id: str) -> tuple[HttpRequest, dict[str, Any]]:
    # 40,000 USD contracts at 50,000: 0.8 BTC
    body = orjson.dumps({"symbol": "XBTUSD", "side": "Buy", "orderQty": 40000, "price": 50000, "ordType": "Limit"})
    answer = {"orderID": order_id, "symbol": "XBTUSD", "side": "Buy", "orderQty": 40000, "price": 50000,
              "ordStatus": "New", "cumQty": 0}
    return request(BITMEX, "POST", "/api/v1/order", body=body, content_type="application/json"), answer


def bitmex_query(**fields: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k, v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items())


BITMEX_MARK = (request(BITMEX, "GET", "/api/v1/instrument", bitmex_query(symbol="XBTUSD")),
               [{"symbol": "XBTUSD", "markPrice": 50000}])
BITMEX_FLAT = (request(BITMEX, "GET", "/api/v1/position"), [{"symbol": "XBTUSD", "currentQty": 0, "markPrice": 50000}])


@pytest.mark.parametrize(
    ("listing", "verdict"),
    [
        pytest.param(request(BITMEX, "GET", "/api/v1/order", bitmex_query(filter={"open": True})), Verdict.ALLOW,
                     id="open-orders-learned"),
        # BitMEX matches parameter names case-insensitively: it lists ETHUSD's open orders only
        pytest.param(request(BITMEX, "GET", "/api/v1/order", bitmex_query(filter={"open": True}, Symbol="ETHUSD")),
                     Verdict.BLOCK, id="symbol-in-other-letter-case"),
        pytest.param(request(BITMEX, "GET", "/api/v1/order", bitmex_query(filter={"open": True}, COUNT="1")),
                     Verdict.BLOCK, id="count-in-other-letter-case"),
        # `1` is no JSON true: BitMEX may list something else than the open orders
        pytest.param(request(BITMEX, "GET", "/api/v1/order", bitmex_query(filter={"open": 1})), Verdict.BLOCK,
                     id="open-as-one"),
    ],
)
def test_order_when_bitmex_listing_of_unsure_scope_empty_then_resting_order_still_counts(
    listing: HttpRequest, verdict: Verdict
) -> None:
    placed, ack = bitmex_order("a1")
    steps: list[Step] = [(*BITMEX_MARK, START), (placed, ack, START + 1), (listing, [], START + 2),
                         (*BITMEX_FLAT, LATER)]

    assert second_order_verdict(BITMEX, steps, bitmex_order("a2")[0])[0] is verdict


@pytest.mark.parametrize(
    ("report", "verdict"),
    [
        pytest.param(request(BITMEX, "GET", "/api/v1/position"), Verdict.ALLOW, id="account-wide"),
        pytest.param(request(BITMEX, "GET", "/api/v1/position", bitmex_query(Filter={"symbol": "ETHUSD"})),
                     Verdict.BLOCK, id="filter-in-other-letter-case"),
    ],
)
def test_order_when_bitmex_positions_report_of_unsure_scope_then_unlisted_position_kept(
    report: HttpRequest, verdict: Verdict
) -> None:
    long = [{"symbol": "XBTUSD", "currentQty": 40000, "markPrice": 50000}]
    eth_only = [{"symbol": "ETHUSD", "currentQty": 0, "markPrice": 2000}]
    steps: list[Step] = [(request(BITMEX, "GET", "/api/v1/position"), long, START), (report, eth_only, START + 1)]

    assert second_order_verdict(BITMEX, steps, bitmex_order("a2")[0])[0] is verdict
