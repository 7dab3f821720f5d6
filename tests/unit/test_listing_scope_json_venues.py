"""What a Bybit, OKX or Bitget open-orders listing or positions report may be learned as covering
(`TableAdapter.sure_scope`, each venue's `_SCOPES`).

These venues sign in headers and take a read's parameters in the query. A listing is learned as covering its scope
only when every query parameter is one its learner reads and honours as that scope, spelled exactly so: a filter the
learner does not read (an unknown one, or a known one in other letter case, which the venue may read as the filter
the learner missed; none of the three documents how it matches names) makes the answer teach only what it lists.
A positions report of unsure scope says nothing of the slots and symbols it leaves out.

Each scenario runs through the decider into a MemoryStore, as tests/unit/test_listing_scope.py does: an order
rests at 0.8 of a 1.0 `max_position` (or a position holds 0.8), the read under test is learned, a position read
comes more than 10 s later (what releases a vanished order's hold), and a second 0.8 order is decided. Held, the
resting order (or kept position) keeps it from passing. The controls are what ccxt, pybit and python-okx send.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from riskwall.model import Verdict
from riskwall.venues.base import HttpRequest, TableAdapter
from riskwall.venues.bitget import ADAPTER as BITGET
from riskwall.venues.bybit import ADAPTER as BYBIT
from riskwall.venues.okx import ADAPTER as OKX

from .test_listing_scope import LATER, START
from .test_listing_scope import second_order_verdict as decided_after

# the same policy and clock as test_listing_scope's (a 1.0 max_position; a position read 11 s after the listing)
JSON = "application/json"

type Query = tuple[tuple[str, str], ...]
type Step = tuple[HttpRequest, Any, int]


def get(adapter: TableAdapter, path: str, query: Query = ()) -> HttpRequest:
    headers = {adapter.key_header.lower(): "scope-test-key-" + "k" * 40}
    target = path + ("?" + urlencode(query) if query else "")
    return HttpRequest("GET", adapter.default_hosts[0], 443, target, query, headers, b"")


def post(adapter: TableAdapter, path: str, body: Any) -> HttpRequest:
    headers = {adapter.key_header.lower(): "scope-test-key-" + "k" * 40, "content-type": JSON}
    return HttpRequest("POST", adapter.default_hosts[0], 443, path, (), headers, orjson.dumps(body))


def second_order_verdict(adapter: TableAdapter, steps: list[Step], order: HttpRequest) -> Verdict:
    """Each step decided and its answer learned at its time; then `order` decided: its verdict."""
    return decided_after(adapter, steps, order)[0]


# ---- Bybit v5 -------------------------------------------------------------------------------------------------


def bybit_envelope(result: Any) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": START}


def bybit_order(link: str, position_idx: int = 0) -> tuple[HttpRequest, dict[str, Any]]:
    body = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.8",
            "price": "40000", "timeInForce": "GTC", "positionIdx": position_idx, "orderLinkId": link}
    return post(BYBIT, "/v5/order/create", body), bybit_envelope({"orderId": f"id-{link}", "orderLinkId": link})


def bybit_positions(query: Query, *rows: dict[str, Any]) -> tuple[HttpRequest, dict[str, Any]]:
    answer = {"category": "linear", "list": list(rows), "nextPageCursor": ""}
    return get(BYBIT, "/v5/position/list", query), bybit_envelope(answer)


BYBIT_FLAT = bybit_positions((("category", "linear"), ("symbol", "BTCUSDT")),
                             {"symbol": "BTCUSDT", "side": "", "size": "0", "positionIdx": 0, "markPrice": "40000"})
BYBIT_OPEN = "/v5/order/realtime"
BYBIT_SETTLE = (("category", "linear"), ("settleCoin", "USDT"))


@pytest.mark.parametrize(
    ("query", "verdict"),
    [
        # what ccxt sends (fetch_open_orders() with no symbol; with one) and pybit's get_open_orders(...)
        pytest.param(BYBIT_SETTLE, Verdict.ALLOW, id="ccxt-settle-coin-learned"),
        pytest.param((("symbol", "BTCUSDT"), ("category", "linear"), ("limit", "50")), Verdict.ALLOW,
                     id="ccxt-symbol-learned"),
        pytest.param((("category", "linear"), ("symbol", "BTCUSDT"), ("openOnly", "0")), Verdict.ALLOW,
                     id="pybit-open-only-learned"),
        pytest.param((*BYBIT_SETTLE, ("side", "Sell")), Verdict.BLOCK, id="unknown-filter"),
        pytest.param((*BYBIT_SETTLE, ("Symbol", "ETHUSDT")), Verdict.BLOCK, id="symbol-in-other-letter-case"),
        pytest.param((*BYBIT_SETTLE, ("OrderFilter", "StopOrder")), Verdict.BLOCK,
                     id="order-filter-in-other-letter-case"),
        pytest.param((*BYBIT_SETTLE, ("BASECOIN", "ETH")), Verdict.BLOCK, id="base-coin-in-other-letter-case"),
    ],
)
def test_order_when_bybit_listing_of_unsure_scope_empty_then_resting_order_still_counts(
    query: Query, verdict: Verdict
) -> None:
    placed, ack = bybit_order("a1")
    listing = bybit_envelope({"category": "linear", "list": [], "nextPageCursor": ""})
    steps: list[Step] = [(placed, ack, START), (get(BYBIT, BYBIT_OPEN, query), listing, START + 1),
                         (*BYBIT_FLAT, LATER)]

    assert second_order_verdict(BYBIT, steps, bybit_order("a2")[0]) is verdict


@pytest.mark.parametrize(
    ("query", "verdict"),
    [
        pytest.param((("symbol", "BTCUSDT"), ("category", "linear")), Verdict.ALLOW, id="ccxt-symbol"),
        pytest.param((("category", "linear"), ("symbol", "BTCUSDT"), ("positionIdx", "2")), Verdict.BLOCK,
                     id="unknown-filter"),
        pytest.param((("category", "linear"), ("symbol", "BTCUSDT"), ("LIMIT", "1")), Verdict.BLOCK,
                     id="limit-in-other-letter-case"),
    ],
)
def test_order_when_bybit_positions_report_of_unsure_scope_then_unlisted_slot_kept(
    query: Query, verdict: Verdict
) -> None:
    """Hedge mode: long 0.8 BTCUSDT, then a report listing only the short slot, flat. Whole, the long slot it
    leaves out is flat and 0.8 more passes; of unsure scope (a filter that may have left it out), it stays 0.8."""
    long = bybit_positions((("category", "linear"), ("symbol", "BTCUSDT")),
                           {"symbol": "BTCUSDT", "side": "Buy", "size": "0.8", "positionIdx": 1,
                            "markPrice": "40000"},
                           {"symbol": "BTCUSDT", "side": "", "size": "0", "positionIdx": 2, "markPrice": "40000"})
    short_only = bybit_positions(query, {"symbol": "BTCUSDT", "side": "", "size": "0", "positionIdx": 2,
                                         "markPrice": "40000"})
    steps: list[Step] = [(*long, START), (*short_only, START + 1)]

    assert second_order_verdict(BYBIT, steps, bybit_order("a2", position_idx=1)[0]) is verdict


# ---- OKX v5 ---------------------------------------------------------------------------------------------------


def okx_envelope(rows: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": rows}


def okx_order(order_id: str) -> tuple[HttpRequest, dict[str, Any]]:
    # 80 contracts of 0.01 BTC: 0.8 BTC
    body = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "80",
            "px": "40000", "clOrdId": f"c{order_id}"}
    ack = okx_envelope([{"ordId": order_id, "clOrdId": f"c{order_id}", "tag": "", "sCode": "0", "sMsg": ""}])
    return post(OKX, "/api/v5/trade/order", body), ack


def okx_position(contracts: str) -> dict[str, Any]:
    return {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "posSide": "net", "pos": contracts, "markPx": "40000",
            "mgnMode": "cross"}


OKX_POSITIONS = "/api/v5/account/positions"
OKX_FLAT = (get(OKX, OKX_POSITIONS), okx_envelope([]))
OKX_PENDING = "/api/v5/trade/orders-pending"


@pytest.mark.parametrize(
    ("query", "verdict"),
    [
        # what ccxt sends (fetch_open_orders() with no symbol; with one and a limit) and python-okx's
        # get_order_list(instType="SWAP", instId=...)
        pytest.param((), Verdict.ALLOW, id="ccxt-account-wide-learned"),
        pytest.param((("instId", "BTC-USDT-SWAP"), ("limit", "100")), Verdict.ALLOW, id="ccxt-instrument-learned"),
        pytest.param((("instType", "SWAP"), ("instId", "BTC-USDT-SWAP")), Verdict.ALLOW,
                     id="python-okx-type-and-instrument-learned"),
        pytest.param((("tdMode", "isolated"),), Verdict.BLOCK, id="unknown-filter"),
        pytest.param((("InstId", "ETH-USDT-SWAP"),), Verdict.BLOCK, id="instrument-in-other-letter-case"),
        pytest.param((("OrdType", "market"),), Verdict.BLOCK, id="order-type-in-other-letter-case"),
        pytest.param((("STATE", "partially_filled"),), Verdict.BLOCK, id="state-in-other-letter-case"),
        # OKX answers for both together: an instrument of another type is not what it listed
        pytest.param((("instType", "FUTURES"), ("instId", "BTC-USDT-SWAP")), Verdict.BLOCK,
                     id="instrument-of-another-type"),
    ],
)
def test_order_when_okx_listing_of_unsure_scope_empty_then_resting_order_still_counts(
    query: Query, verdict: Verdict
) -> None:
    placed, ack = okx_order("1")
    steps: list[Step] = [(placed, ack, START), (get(OKX, OKX_PENDING, query), okx_envelope([]), START + 1),
                         (*OKX_FLAT, LATER)]

    assert second_order_verdict(OKX, steps, okx_order("2")[0]) is verdict


@pytest.mark.parametrize(
    ("query", "verdict"),
    [
        # what ccxt sends: fetch_positions() and fetch_position(symbol)
        pytest.param((), Verdict.ALLOW, id="ccxt-account-wide"),
        pytest.param((("instId", "BTC-USDT-SWAP"), ("instType", "SWAP")), Verdict.ALLOW, id="ccxt-instrument"),
        pytest.param((("instId", "BTC-USDT-SWAP"), ("mgnMode", "isolated")), Verdict.BLOCK, id="unknown-filter"),
        pytest.param((("InstType", "OPTION"),), Verdict.BLOCK, id="type-in-other-letter-case"),
        pytest.param((("instId", "BTC-USDT-SWAP"), ("POSID", "307173036051017730")), Verdict.BLOCK,
                     id="position-id-in-other-letter-case"),
        pytest.param((("instId", "BTC-USDT-SWAP"), ("instType", "FUTURES")), Verdict.BLOCK,
                     id="instrument-of-another-type"),
    ],
)
def test_order_when_okx_positions_report_of_unsure_scope_then_unlisted_position_kept(
    query: Query, verdict: Verdict
) -> None:
    """Long 0.8 BTC, then an empty report: whole, BTC-USDT-SWAP is flat and 0.8 more passes; of unsure scope, it
    says nothing of BTC-USDT-SWAP, and 0.8 more would make 1.6."""
    long = (get(OKX, OKX_POSITIONS), okx_envelope([okx_position("80")]))
    steps: list[Step] = [(*long, START), (get(OKX, OKX_POSITIONS, query), okx_envelope([]), START + 1)]

    assert second_order_verdict(OKX, steps, okx_order("2")[0]) is verdict


# ---- Bitget v2 mix --------------------------------------------------------------------------------------------


def bitget_envelope(data: Any) -> dict[str, Any]:
    return {"code": "00000", "msg": "success", "requestTime": START, "data": data}


def bitget_order(client_id: str) -> tuple[HttpRequest, dict[str, Any]]:
    body = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed", "marginCoin": "USDT",
            "size": "0.8", "price": "40000", "side": "buy", "orderType": "limit", "force": "gtc",
            "clientOid": client_id}
    ack = bitget_envelope({"orderId": f"id-{client_id}", "clientOid": client_id})
    return post(BITGET, "/api/v2/mix/order/place-order", body), ack


def bitget_position(total: str) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "marginCoin": "USDT", "holdSide": "long", "total": total, "posMode": "one_way_mode",
            "markPrice": "40000"}


BITGET_SINGLE = "/api/v2/mix/position/single-position"
BITGET_ASK = (("symbol", "BTCUSDT"), ("productType", "USDT-FUTURES"), ("marginCoin", "USDT"))
BITGET_FLAT = (get(BITGET, BITGET_SINGLE, BITGET_ASK), bitget_envelope([bitget_position("0")]))
BITGET_PENDING = "/api/v2/mix/order/orders-pending"
BITGET_PRODUCT = (("productType", "USDT-FUTURES"),)


@pytest.mark.parametrize(
    ("query", "verdict"),
    [
        # what ccxt sends: fetch_open_orders(symbol), and one with a limit
        pytest.param((("productType", "USDT-FUTURES"), ("symbol", "BTCUSDT")), Verdict.ALLOW,
                     id="ccxt-symbol-learned"),
        pytest.param((*BITGET_PRODUCT, ("limit", "50")), Verdict.ALLOW, id="product-type-learned"),
        pytest.param((*BITGET_PRODUCT, ("orderType", "market")), Verdict.BLOCK, id="unknown-filter"),
        pytest.param((*BITGET_PRODUCT, ("Symbol", "ETHUSDT")), Verdict.BLOCK, id="symbol-in-other-letter-case"),
        pytest.param((*BITGET_PRODUCT, ("ClientOid", "other")), Verdict.BLOCK, id="client-id-in-other-letter-case"),
        pytest.param((*BITGET_PRODUCT, ("STATUS", "partially_filled")), Verdict.BLOCK,
                     id="status-in-other-letter-case"),
    ],
)
def test_order_when_bitget_listing_of_unsure_scope_empty_then_resting_order_still_counts(
    query: Query, verdict: Verdict
) -> None:
    placed, ack = bitget_order("a1")
    listing = bitget_envelope({"entrustedList": None, "endId": None})
    steps: list[Step] = [(placed, ack, START), (get(BITGET, BITGET_PENDING, query), listing, START + 1),
                         (*BITGET_FLAT, LATER)]

    assert second_order_verdict(BITGET, steps, bitget_order("a2")[0]) is verdict


@pytest.mark.parametrize(
    ("query", "verdict"),
    [
        pytest.param(BITGET_ASK, Verdict.ALLOW, id="ccxt-single-position"),
        pytest.param((*BITGET_ASK, ("holdSide", "short")), Verdict.BLOCK, id="unknown-filter"),
        pytest.param((*BITGET_ASK[:2], ("MarginCoin", "USDC")), Verdict.BLOCK, id="margin-coin-in-other-letter-case"),
        # Bitget answers for the two together: a symbol held in USDT is not what a USDC query lists
        pytest.param((*BITGET_ASK[:2], ("marginCoin", "USDC")), Verdict.BLOCK, id="margin-coin-of-another-symbol"),
    ],
)
def test_order_when_bitget_single_position_of_unsure_scope_empty_then_position_kept(
    query: Query, verdict: Verdict
) -> None:
    """Long 0.8 BTCUSDT, then single-position lists nothing: whole, BTCUSDT is flat and 0.8 more passes; of unsure
    scope, it says nothing of BTCUSDT, and 0.8 more would make 1.6."""
    steps: list[Step] = [(get(BITGET, BITGET_SINGLE, BITGET_ASK), bitget_envelope([bitget_position("0.8")]), START),
                         (get(BITGET, BITGET_SINGLE, query), bitget_envelope([]), START + 1)]

    assert second_order_verdict(BITGET, steps, bitget_order("a2")[0]) is verdict
