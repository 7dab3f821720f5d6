"""Golden tests of the OKX v5 adapter (`riskwall.venues.okx.ADAPTER`).

Facts under test come from docs/venues.md §0 and §4: private POST parameters are a JSON body (an object,
or a top-level array on the batch endpoints); sizes count contracts and become base units through the contract
value (learned from `/api/v5/public/instruments`, else the bundled table, else the order is refused); an inverse
size (USD) becomes base units at the worst price it can fill at, its own or the store's mark (`contract_price`),
once `engine.resolve` completes the request with the store's view; rejections
must make the real ccxt raise an order-class exception and reach python-okx as readable JSON. Every request case
takes in turn the two body styles a bot sends (ccxt's compact JSON, python-okx's `json.dumps` default
separators): how the body is spaced and what it holds are independent, so every case runs once, each style often.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import httpx
import okx.Account as OkxAccount
import okx.Trade as OkxTrade
import orjson
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from riskwall import engine
from riskwall.decider import Evaluation, answer_facts, decide_request, stamped
from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    ClosedOrder,
    Decision,
    MarginMode,
    OpenOrdersSnapshot,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    Reason,
    ResponseFacts,
    Side,
    StateView,
    Venue,
    Verdict,
    Violation,
    fingerprint,
)
from riskwall.state.base import PositionKey, ViewQuery
from riskwall.state.memory import MemoryStore
from riskwall.venues import ADAPTERS, default_host_map
from riskwall.venues.base import MAX_BODY_BYTES, HttpRequest, screen
from riskwall.venues.okx import ADAPTER, BUNDLED, order_update, violation_code

from .factories import in_turn, make_policy, make_view

D = Decimal
VENUE = Venue.OKX
JSON = "application/json"
# OKX's documentation sample key, passphrase and signature shapes: realistic, no real credentials.
API_KEY = "985d5b66-57ce-40fb-b714-afc0b9787083"
PASSPHRASE = "okx-doc-passphrase-1!"
SIGNATURE = "G4vgYnSRP4q6GDgLRSzsa6oy7lyqtq4VeyyMkElpnSk="
ACCOUNT = fingerprint(API_KEY)
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"
STYLES = ("ccxt", "sdk")
CID = "6b9ad766b55dBCDE1a2b3c4d5e6f7a8b"  # ccxt's broker id + 16 hex: 32 characters

ORDER = "POST /api/v5/trade/order"
BATCH = "POST /api/v5/trade/batch-orders"
ALGO = "POST /api/v5/trade/order-algo"
AMEND = "POST /api/v5/trade/amend-order"
AMEND_BATCH = "POST /api/v5/trade/amend-batch-orders"
AMEND_ALGO = "POST /api/v5/trade/amend-algos"
CLOSE = "POST /api/v5/trade/close-position"
LEVERAGE = "POST /api/v5/account/set-leverage"


@pytest.fixture(autouse=True)
def fresh_catalog() -> Iterator[None]:
    """The catalog is process-wide: every test starts and ends with nothing learned."""
    CATALOG.clear()
    yield
    CATALOG.clear()


# ---- helpers ---------------------------------------------------------------------------------------------


def dumps(body: Any, style: str = "ccxt") -> bytes:
    """The body bytes as each client sends them: ccxt compact, python-okx `json.dumps` defaults. A Decimal
    becomes a JSON number with exactly its digits (as a bot's int or float would)."""
    separators = (",", ":") if style == "ccxt" else (", ", ": ")
    text = json.dumps(body, separators=separators, default=lambda d: f"@@{d}@@")
    return re.sub(r'"@@([^@]*)@@"', r"\1", text).encode()


def make_request(
    method: str,
    path: str,
    body: Any = None,
    *,
    style: str = "ccxt",
    raw: bytes | None = None,
    query: tuple[tuple[str, str], ...] = (),
    api_key: str | None = API_KEY,
    content_type: str | None = JSON,
    host: str = "www.okx.com",
) -> HttpRequest:
    """An HttpRequest as the addon builds it: path with its query string, decoded query pairs, lower-case
    header names, and OKX's four auth headers."""
    data = raw if raw is not None else (b"" if body is None else dumps(body, style))
    headers: dict[str, str] = {"user-agent": "python-requests/2.32.3", "x-simulated-trading": "0"}
    if api_key is not None:
        headers.update({"ok-access-key": api_key, "ok-access-sign": SIGNATURE,
                        "ok-access-timestamp": "2026-11-23T16:06:08.184Z", "ok-access-passphrase": PASSPHRASE})
    if data and content_type is not None:
        headers["content-type"] = content_type
    full_path = path + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    return HttpRequest(method, host, 443, full_path, query, headers, data)


def parse(request: HttpRequest) -> ParsedRequest:
    """Parse, and check what must hold for every request: no credential survives into the result."""
    parsed = screen(ADAPTER, request)
    text = repr(parsed)
    for secret in (API_KEY, PASSPHRASE, SIGNATURE):
        assert secret not in text
    return parsed


def post(path: str, body: Any, style: str = "ccxt") -> ParsedRequest:
    return parse(make_request("POST", path, body, style=style))


def marks(**prices: str) -> StateView:
    """A view of the store holding these OKX mark prices, by instrument id (`marks(BTC_USD_SWAP="50000")`)."""
    return StateView(prices={(VENUE, symbol.replace("_", "-")): D(price) for symbol, price in prices.items()})


def decided(path: str, body: Any, view: StateView | None = None, style: str = "ccxt") -> ParsedRequest:
    """The request as the engine decides it: parsed, then completed with what the store's `view` knows (an
    inverse size converts only then)."""
    return engine.resolve(post(path, body, style), view or StateView())


# an order's tdMode is the margin mode it trades in
TD_MODES = {"cross": MarginMode.CROSSED, "isolated": MarginMode.ISOLATED}


def intent(endpoint: str, action: Action = Action.NEW, **fields: Any) -> OrderIntent:
    return OrderIntent(venue=VENUE, action=action, endpoint=endpoint, account=ACCOUNT, **fields)


def assert_exact_decimals(actual: OrderIntent, expected: OrderIntent) -> None:
    """Decimal == ignores trailing zeros; the adapter must keep the request's own digits (no float trip)."""
    for name in ("quantity", "price", "trigger_price", "leverage"):
        want, got = getattr(expected, name), getattr(actual, name)
        if want is None:
            assert got is None, name
        else:
            assert type(got) is Decimal, name
            assert got.as_tuple() == want.as_tuple(), f"{name}: {got!r} != {want!r}"


def leg(**overrides: Any) -> dict[str, Any]:
    """A ccxt-style limit buy of 2 BTC-USDT-SWAP contracts (0.02 BTC); None drops a field."""
    base: dict[str, Any] = {"instId": "BTC-USDT-SWAP", "side": "buy", "ordType": "limit", "sz": "2",
                            "tdMode": "cross", "px": "49000", "clOrdId": CID, "tag": "6b9ad766b55dBCDE"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sdk_leg(**overrides: Any) -> dict[str, Any]:
    """python-okx `place_order`: every optional field present as "" and attachAlgoOrds null."""
    base: dict[str, Any] = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit",
                            "sz": "2", "ccy": "", "clOrdId": "", "tag": "", "posSide": "", "px": "49000",
                            "reduceOnly": "", "tgtCcy": "", "stpMode": "", "pxUsd": "", "pxVol": "",
                            "banAmend": "", "attachAlgoOrds": None}
    base.update(overrides)
    return base


def instruments_body(*rows: dict[str, Any]) -> bytes:
    return orjson.dumps({"code": "0", "msg": "", "data": list(rows)})


def instrument_row(inst_id: str, *, inst_type: str = "SWAP", family: str = "ADA-USDT", settle: str = "USDT",
                   ct_val: str = "100", ct_val_ccy: str = "ADA", ct_type: str = "linear", ct_mult: str = "1",
                   **extra: str) -> dict[str, Any]:
    return {"instId": inst_id, "instType": inst_type, "instFamily": family, "uly": family, "settleCcy": settle,
            "ctVal": ct_val, "ctValCcy": ct_val_ccy, "ctType": ct_type, "ctMult": ct_mult, "baseCcy": "",
            "quoteCcy": "", "lotSz": "0.1", "minSz": "0.1", "tickSz": "0.0001", "state": "live", **extra}


def learn_instruments(*rows: dict[str, Any]) -> ResponseFacts:
    request = make_request("GET", "/api/v5/public/instruments", query=(("instType", "SWAP"),), api_key=None)
    facts = ADAPTER.parse_response(parse(request), request, 200, instruments_body(*rows), DECISION_ID)
    CATALOG.learn(facts.instruments)
    return facts


def demo(request: HttpRequest, flag: str = "1") -> HttpRequest:
    """`request` sent to OKX's demo book (its own header on the same host)."""
    return dataclasses.replace(request, headers={**request.headers, "x-simulated-trading": flag})


@pytest.mark.parametrize(("flag", "quantity"), [
    ("0", D("200")),  # a live order: the live listing's 100 ADA a contract
    ("1", D("2")),  # a demo order: the demo book's own listing, 1 ADA a contract
], ids=["live-order-sized-by-the-live-listing", "demo-order-sized-by-the-demo-listing"])
def test_parse_request_when_the_demo_book_lists_another_contract_value_then_each_book_sizes_its_own_orders(
    flag: str, quantity: Decimal
) -> None:
    listing = make_request("GET", "/api/v5/public/instruments", query=(("instType", "SWAP"),), api_key=None)
    for request, ct_val in ((listing, "100"), (demo(listing), "1")):  # the demo answer learned last
        answer_facts(ADAPTER, parse(request), request, 200, instruments_body(instrument_row("ADA-USDT-SWAP",
                                                                                            ct_val=ct_val)),
                     DECISION_ID)
    order = demo(make_request("POST", "/api/v5/trade/order", leg(instId="ADA-USDT-SWAP", sz="2")), flag)

    [intent] = parse(order).intents

    assert intent.quantity == quantity


# ---- 1. requests → ParsedRequest ---------------------------------------------------------------------------

NEW_ORDER_CASES = [
    pytest.param(
        leg(px="49000.5"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             price=D("49000.5"), order_type="LIMIT", time_in_force="GTC", client_order_id=CID),
        id="limit-2-contracts-is-0.02-btc",
    ),
    pytest.param(
        leg(instId="ETH-USDT-SWAP", ordType="market", sz="1.5", px=None, side="sell", clOrdId=None),
        dict(symbol="ETH-USDT-SWAP", unified_symbol="ETH/USDT:USDT", side=Side.SELL, quantity=D("0.15"),
             order_type="MARKET"),
        id="market-eth-1.5-contracts",
    ),
    pytest.param(
        leg(ordType="market", px="1"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             order_type="MARKET", client_order_id=CID),
        id="market-px-ignored-like-okx-does",
    ),
    pytest.param(
        leg(ordType="post_only", tdMode="isolated"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             price=D("49000"), order_type="POST_ONLY", time_in_force="POST_ONLY", client_order_id=CID),
        id="post-only-isolated",
    ),
    pytest.param(
        leg(ordType="fok"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             price=D("49000"), order_type="FOK", time_in_force="FOK", client_order_id=CID),
        id="fok",
    ),
    pytest.param(
        leg(ordType="ioc"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             price=D("49000"), order_type="IOC", time_in_force="IOC", client_order_id=CID),
        id="ioc",
    ),
    pytest.param(
        leg(ordType="optimal_limit_ioc", px=None),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             order_type="OPTIMAL_LIMIT_IOC", time_in_force="IOC", client_order_id=CID),
        id="optimal-limit-ioc",
    ),
    pytest.param(
        leg(posSide="long"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, position_side=PositionSide.LONG,
             quantity=D("0.02"), price=D("49000"), order_type="LIMIT", time_in_force="GTC", client_order_id=CID),
        id="hedge-open-long",
    ),
    pytest.param(
        leg(posSide="short", side="buy"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY,
             position_side=PositionSide.SHORT, quantity=D("0.02"), price=D("49000"), order_type="LIMIT",
             time_in_force="GTC", client_order_id=CID),
        id="hedge-close-short",
    ),
    pytest.param(
        leg(posSide="net", reduceOnly=True, side="sell"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.SELL, quantity=D("0.02"),
             price=D("49000"), order_type="LIMIT", time_in_force="GTC", reduce_only=True, client_order_id=CID),
        id="net-reduce-only-json-true",
    ),
    pytest.param(
        leg(reduceOnly="false"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             price=D("49000"), order_type="LIMIT", time_in_force="GTC", client_order_id=CID),
        id="reduce-only-string-false",
    ),
    pytest.param(
        leg(sz=D("0.5")),  # a JSON number (plain), as a hand-made body might send
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.005"),
             price=D("49000"), order_type="LIMIT", time_in_force="GTC", client_order_id=CID),
        id="sz-plain-json-number",
    ),
    pytest.param(
        leg(instId="BTC-USD-SWAP", sz="3", px="50000"),
        dict(symbol="BTC-USD-SWAP", unified_symbol="BTC/USD:BTC", side=Side.BUY, quantity=D("0.006"),
             contracts=D("3"), price=D("50000"), order_type="LIMIT", time_in_force="GTC", client_order_id=CID),
        id="inverse-limit-3x100usd-at-50000-without-mark-is-0.006-btc",
    ),
    pytest.param(
        leg(instId="BTC-USD-SWAP", ordType="market", px=None, side="sell", reduceOnly=True),
        dict(symbol="BTC-USD-SWAP", unified_symbol="BTC/USD:BTC", side=Side.SELL, order_type="MARKET",
             contracts=D("2"), reduce_only=True, client_order_id=CID),
        id="inverse-market-reduce-only-without-mark-has-no-base-size",
    ),
    pytest.param(
        leg(instId="DOGE-USDT-SWAP", sz="0.01", px="0.19999"),
        dict(symbol="DOGE-USDT-SWAP", unified_symbol="DOGE/USDT:USDT", side=Side.BUY, quantity=D("10.00"),
             price=D("0.19999"), order_type="LIMIT", time_in_force="GTC", client_order_id=CID),
        id="doge-1000-per-contract",
    ),
    pytest.param(
        leg(attachAlgoOrds=[{"slTriggerPx": "45000", "slOrdPx": "-1", "slTriggerPxType": "last"}]),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             price=D("49000"), order_type="LIMIT", time_in_force="GTC", client_order_id=CID),
        id="attached-stop-loss",
    ),
    pytest.param(
        leg(instId="btc-usdt-swap"),
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY, quantity=D("0.02"),
             price=D("49000"), order_type="LIMIT", time_in_force="GTC", client_order_id=CID),
        id="lower-case-inst-id",
    ),
]


@pytest.mark.parametrize(("style", "body", "fields"), in_turn(STYLES, NEW_ORDER_CASES))
def test_parse_request_when_new_order_then_one_exact_intent(style: str, body: dict, fields: dict) -> None:
    parsed = decided("/api/v5/trade/order", body, style=style)  # the store knows no mark

    assert parsed.error is None
    assert (parsed.venue, parsed.action, parsed.endpoint, parsed.account) == (VENUE, Action.NEW, ORDER, ACCOUNT)
    [got] = parsed.intents
    expected = intent(ORDER, margin_mode=TD_MODES[body["tdMode"]], **fields)
    assert got == expected
    assert_exact_decimals(got, expected)


@pytest.mark.parametrize(
    ("overrides", "only_reduces"),
    [
        ({"posSide": "long", "side": "sell"}, True),
        ({"posSide": "short", "side": "buy"}, True),
        ({"posSide": "long", "side": "buy"}, False),
        ({"posSide": "short", "side": "sell"}, False),
        ({"reduceOnly": True, "side": "sell"}, True),
        ({"reduceOnly": "", "side": "sell"}, False),
        # OKX reads reduceOnly in net mode only: in long/short mode a buy on the long side opens, flag or not
        ({"posSide": "long", "side": "buy", "reduceOnly": True}, False),
        ({"posSide": "short", "side": "sell", "reduceOnly": True}, False),
        ({"posSide": "net", "side": "buy", "reduceOnly": True}, True),
    ],
)
def test_parse_request_when_hedge_side_or_reduce_only_then_only_reduces_follows(
    overrides: dict, only_reduces: bool
) -> None:
    [got] = post("/api/v5/trade/order", leg(**overrides)).intents
    assert got.only_reduces is only_reduces


@pytest.mark.parametrize(
    ("overrides", "only_reduces", "close_position"),
    [
        ({"posSide": "long", "side": "buy"}, False, False),
        ({"posSide": "long", "side": "sell"}, True, True),
        ({"posSide": "net", "side": "buy"}, True, True),
    ],
)
def test_parse_request_when_algo_reduce_only_in_long_short_mode_then_side_and_pos_side_decide(
    overrides: dict, only_reduces: bool, close_position: bool
) -> None:
    body = {"instId": "BTC-USDT-SWAP", "ordType": "conditional", "sz": "2", "tdMode": "cross", "reduceOnly": True,
            "slTriggerPx": "45000", "slOrdPx": "-1", **overrides}

    [got] = post("/api/v5/trade/order-algo", body).intents

    assert (got.only_reduces, got.reduce_only) == (only_reduces, overrides["posSide"] == "net")
    body.pop("sz")
    closing = post("/api/v5/trade/order-algo", {**body, "closeFraction": "1"})
    assert (closing.error is None) is close_position


def test_parse_request_when_python_okx_place_order_body_then_empty_strings_read_as_absent() -> None:
    parsed = post("/api/v5/trade/order", sdk_leg(), "sdk")

    assert parsed.error is None
    [got] = parsed.intents
    assert got == intent(ORDER, symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=Side.BUY,
                         quantity=D("0.02"), price=D("49000"), order_type="LIMIT", time_in_force="GTC",
                         margin_mode=MarginMode.CROSSED)


BATCH_CASES = [
    pytest.param([leg()], [("BTC-USDT-SWAP", Side.BUY, D("0.02"))], id="ccxt-create-order-one-element"),
    pytest.param(
        [leg(), leg(instId="ETH-USDT-SWAP", side="sell", sz="10", px="3100", clOrdId=None),
         leg(instId="SOL-USDT-SWAP", ordType="market", px=None, sz="7", clOrdId=None)],
        [("BTC-USDT-SWAP", Side.BUY, D("0.02")), ("ETH-USDT-SWAP", Side.SELL, D("1.0")),
         ("SOL-USDT-SWAP", Side.BUY, D("7"))],
        id="three-legs-in-order",
    ),
    pytest.param([leg(sz="1") for _ in range(20)], [("BTC-USDT-SWAP", Side.BUY, D("0.01"))] * 20,
                 id="twenty-legs-okx-maximum"),
]


@pytest.mark.parametrize(("style", "body", "legs"), in_turn(STYLES, BATCH_CASES))
def test_parse_request_when_batch_orders_then_one_intent_per_leg_in_order(style: str, body: list,
                                                                         legs: list) -> None:
    parsed = post("/api/v5/trade/batch-orders", body, style)

    assert parsed.error is None and parsed.action is Action.NEW and parsed.endpoint == BATCH
    assert [(i.symbol, i.side, i.quantity) for i in parsed.intents] == legs
    assert all(i.endpoint == BATCH and i.account == ACCOUNT for i in parsed.intents)


ALGO_CASES = [
    pytest.param(
        {"instId": "BTC-USDT-SWAP", "side": "sell", "ordType": "conditional", "sz": "3", "tdMode": "cross",
         "slTriggerPx": "45000", "slOrdPx": "-1", "slTriggerPxType": "last", "clOrdId": CID},
        dict(side=Side.SELL, quantity=D("0.03"), trigger_price=D("45000"), order_type="CONDITIONAL"),
        id="ccxt-stop-loss-market",
    ),
    pytest.param(
        {"instId": "BTC-USDT-SWAP", "side": "buy", "ordType": "trigger", "sz": "2", "tdMode": "cross",
         "triggerPx": "51000", "orderPx": "51100", "algoClOrdId": "algo1"},
        dict(side=Side.BUY, quantity=D("0.02"), price=D("51100"), trigger_price=D("51000"), order_type="TRIGGER",
             client_order_id="algo1"),
        id="trigger-limit",
    ),
    pytest.param(
        {"instId": "BTC-USDT-SWAP", "side": "sell", "ordType": "oco", "sz": "2", "tdMode": "cross",
         "tpTriggerPx": "60000", "tpOrdPx": "-1", "slTriggerPx": "45000", "slOrdPx": "-1"},
        # either leg may execute at market: the collar sees the span (a sell measured at its lowest)
        dict(side=Side.SELL, quantity=D("0.02"), trigger_price=D("60000"), price_span=(D("45000"), D("60000")),
             order_type="OCO"),
        id="oco-highest-trigger",
    ),
    pytest.param(
        {"instId": "BTC-USDT-SWAP", "side": "sell", "ordType": "conditional", "tdMode": "cross",
         "closeFraction": "1", "reduceOnly": True, "slTriggerPx": "45000", "slOrdPx": "-1"},
        dict(side=Side.SELL, trigger_price=D("45000"), order_type="CONDITIONAL", reduce_only=True,
             close_position=True),
        id="close-fraction-without-size",
    ),
    pytest.param(
        {"instId": "ETH-USDT-SWAP", "side": "sell", "ordType": "move_order_stop", "sz": "5", "tdMode": "cross",
         "callbackRatio": "0.01", "activePx": "3200"},
        dict(symbol="ETH-USDT-SWAP", unified_symbol="ETH/USDT:USDT", side=Side.SELL, quantity=D("0.5"),
             trigger_price=D("3200"), order_type="MOVE_ORDER_STOP"),
        id="trailing",
    ),
    pytest.param(
        {"instId": "BTC-USDT-SWAP", "side": "buy", "ordType": "iceberg", "sz": "100", "tdMode": "cross",
         "pxVar": "0.001", "szLimit": "10", "pxLimit": "48000"},
        dict(side=Side.BUY, quantity=D("1.00"), price=D("48000"), order_type="ICEBERG"),
        id="iceberg-total-size",
    ),
    pytest.param(
        {"instId": "BTC-USD-SWAP", "side": "buy", "ordType": "trigger", "sz": "5", "tdMode": "cross",
         "triggerPx": "40000", "orderPx": "-1"},
        dict(symbol="BTC-USD-SWAP", unified_symbol="BTC/USD:BTC", side=Side.BUY, quantity=D("0.0125"),
             contracts=D("5"), trigger_price=D("40000"), order_type="TRIGGER"),
        id="inverse-trigger-without-mark-converted-at-trigger",
    ),
]


@pytest.mark.parametrize(("style", "body", "fields"), in_turn(STYLES, ALGO_CASES))
def test_parse_request_when_algo_order_then_one_exact_intent(style: str, body: dict, fields: dict) -> None:
    parsed = decided("/api/v5/trade/order-algo", body, style=style)  # the store knows no mark

    assert parsed.error is None and parsed.action is Action.NEW
    [got] = parsed.intents
    fields = {"symbol": "BTC-USDT-SWAP", "unified_symbol": "BTC/USDT:USDT", "margin_mode": TD_MODES[body["tdMode"]],
              "kind": f"algo:{body['ordType']}", "triggers_into": "order",  # OKX lists algo orders by ordType
              **fields}
    expected = intent(ALGO, **fields)
    assert got == expected
    assert_exact_decimals(got, expected)


def test_parse_request_when_python_okx_algo_body_then_parsed() -> None:
    body = {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "conditional", "sz": "1",
            "ccy": "", "posSide": "", "reduceOnly": "", "tpTriggerPx": "", "tpOrdPx": "", "slTriggerPx": "45000",
            "slOrdPx": "-1", "triggerPx": "", "orderPx": "", "tgtCcy": "", "pxVar": "", "szLimit": "",
            "pxLimit": "", "timeInterval": "", "pxSpread": "", "tpTriggerPxType": "", "slTriggerPxType": "",
            "callbackRatio": "", "callbackSpread": "", "activePx": "", "tag": "", "triggerPxType": "",
            "closeFraction": "", "quickMgnType": "", "algoClOrdId": "", "tpOrdKind": "", "cxlOnClosePos": "",
            "chaseType": "", "chaseVal": "", "maxChaseType": "", "maxChaseVal": "", "attachAlgoOrds": []}

    [got] = post("/api/v5/trade/order-algo", body, "sdk").intents

    assert (got.quantity, got.trigger_price, got.order_type, got.close_position) == (
        D("0.01"), D("45000"), "CONDITIONAL", False)


AMEND_CASES = [
    pytest.param(
        "/api/v5/trade/amend-order",
        {"instId": "BTC-USDT-SWAP", "ordId": "612345678901234567", "newSz": "5", "newPx": "48100"},
        dict(quantity=D("0.05"), price=D("48100"), order_id="612345678901234567"),
        id="size-and-price",
    ),
    pytest.param(
        "/api/v5/trade/amend-order",
        {"instId": "BTC-USDT-SWAP", "clOrdId": CID, "newPx": "48100"},
        dict(price=D("48100"), client_order_id=CID),
        id="price-only-by-client-id",
    ),
    pytest.param(
        "/api/v5/trade/amend-order",
        {"instId": "BTC-USDT-SWAP", "cxlOnFail": "", "ordId": "612345678901234567", "clOrdId": "", "reqId": "",
         "newSz": "3", "newPx": "", "newTpTriggerPx": "", "newTpOrdPx": "", "newSlTriggerPx": "", "newSlOrdPx": "",
         "newTpTriggerPxType": "", "newSlTriggerPxType": "", "newTriggerPx": "", "newOrdPx": "",
         "attachAlgoOrds": ""},
        dict(quantity=D("0.03"), order_id="612345678901234567"),
        id="python-okx-amend-order",
    ),
    pytest.param(
        "/api/v5/trade/amend-algos",
        {"instId": "BTC-USDT-SWAP", "algoId": "712345678901234567", "newSz": "4", "newSlTriggerPx": "44000",
         "newSlOrdPx": "-1"},
        dict(quantity=D("0.04"), trigger_price=D("44000"), order_id="algo:712345678901234567",
             triggers_into="order"),
        id="algo-size",
    ),
    pytest.param(
        "/api/v5/trade/amend-algos",
        {"instId": "BTC-USDT-SWAP", "algoId": "712345678901234567", "newTpTriggerPx": "60000", "newTpOrdPx": "-1",
         "newSlTriggerPx": "30000", "newSlOrdPx": "-1"},
        # either leg may execute at market: the collar sees both ends once the order's side is known
        dict(trigger_price=D("60000"), price_span=(D("30000"), D("60000")), order_id="algo:712345678901234567",
             triggers_into="order"),
        id="algo-both-legs-at-market-span-their-triggers",
    ),
    pytest.param(
        "/api/v5/trade/amend-algos",
        {"instId": "BTC-USDT-SWAP", "algoId": "712345678901234567", "newTpTriggerPx": "59000", "newTpOrdPx": "60000",
         "newSlTriggerPx": "31000", "newSlOrdPx": "30000"},
        dict(price=D("60000"), trigger_price=D("60000"), price_span=(D("30000"), D("60000")),
             order_id="algo:712345678901234567", triggers_into="order"),
        id="algo-both-legs-limit-span-their-prices",
    ),
]


@pytest.mark.parametrize(("style", "path", "body", "fields"), in_turn(STYLES, AMEND_CASES))
def test_parse_request_when_amend_then_one_amend_intent_without_side(style: str, path: str, body: dict,
                                                                    fields: dict) -> None:
    parsed = post(path, body, style)

    assert parsed.error is None and parsed.action is Action.AMEND
    [got] = parsed.intents
    expected = intent(f"POST {path}", Action.AMEND, symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT",
                      **fields)
    assert got == expected
    assert_exact_decimals(got, expected)


def test_parse_request_when_batch_amend_then_one_amend_intent_per_leg() -> None:
    body = [{"instId": "BTC-USDT-SWAP", "ordId": "1", "newSz": "2"},
            {"instId": "ETH-USDT-SWAP", "clOrdId": "abc", "newSz": "3", "newPx": "3000"}]

    parsed = post("/api/v5/trade/amend-batch-orders", body)

    assert parsed.action is Action.AMEND and parsed.endpoint == AMEND_BATCH
    assert [(i.symbol, i.quantity, i.order_id, i.client_order_id) for i in parsed.intents] == [
        ("BTC-USDT-SWAP", D("0.02"), "1", None), ("ETH-USDT-SWAP", D("0.3"), None, "abc")]


@pytest.mark.parametrize(
    ("body", "side", "position_side"),
    [
        ({"instId": "BTC-USDT-SWAP", "mgnMode": "cross"}, None, PositionSide.BOTH),
        ({"instId": "BTC-USDT-SWAP", "mgnMode": "isolated", "posSide": "long"}, Side.SELL, PositionSide.LONG),
        ({"instId": "BTC-USDT-SWAP", "mgnMode": "cross", "posSide": "short", "autoCxl": True}, Side.BUY,
         PositionSide.SHORT),
        # python-okx close_positions
        ({"instId": "BTC-USDT-SWAP", "mgnMode": "cross", "posSide": "", "ccy": "", "autoCxl": "", "clOrdId": "",
          "tag": ""}, None, PositionSide.BOTH),
    ],
)
def test_parse_request_when_close_position_then_close_intent_that_only_reduces(
    body: dict, side: Side | None, position_side: PositionSide
) -> None:
    parsed = post("/api/v5/trade/close-position", body)

    assert parsed.error is None and parsed.action is Action.NEW
    [got] = parsed.intents
    assert got == intent(CLOSE, symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", side=side,
                         position_side=position_side, order_type="MARKET", close_position=True)
    assert got.only_reduces and got.quantity is None


CONFIG_CASES = [
    pytest.param(
        "/api/v5/account/set-leverage", {"lever": D("20"), "mgnMode": "cross", "instId": "BTC-USDT-SWAP"},
        Action.SET_LEVERAGE,
        dict(symbol="BTC-USDT-SWAP", unified_symbol="BTC/USDT:USDT", leverage=D("20"), margin_mode="CROSSED"),
        id="ccxt-set-leverage-json-number",
    ),
    pytest.param(
        "/api/v5/account/set-leverage",
        {"lever": "12.5", "mgnMode": "isolated", "instId": "ETH-USDT-SWAP", "posSide": "long"},
        Action.SET_LEVERAGE,
        dict(symbol="ETH-USDT-SWAP", unified_symbol="ETH/USDT:USDT", position_side=PositionSide.LONG,
             leverage=D("12.5"), margin_mode="ISOLATED"),
        id="isolated-hedge-long",
    ),
    pytest.param(
        "/api/v5/account/set-leverage", {"lever": "3", "mgnMode": "cross", "ccy": "USDT"},
        Action.SET_LEVERAGE, dict(leverage=D("3"), margin_mode="CROSSED"),
        id="currency-leverage-has-no-symbol",
    ),
    pytest.param(
        "/api/v5/account/set-position-mode", {"posMode": "long_short_mode"}, Action.SET_POSITION_MODE,
        dict(hedge_mode=True, margin_mode=None), id="hedge-mode",
    ),
    pytest.param(
        "/api/v5/account/set-position-mode", {"posMode": "net_mode"}, Action.SET_POSITION_MODE,
        dict(hedge_mode=False, margin_mode=None), id="net-mode",
    ),
]


@pytest.mark.parametrize(("style", "path", "body", "action", "fields"), in_turn(STYLES, CONFIG_CASES))
def test_parse_request_when_account_setting_then_one_setting_intent(
    style: str, path: str, body: dict, action: Action, fields: dict
) -> None:
    parsed = post(path, body, style)

    assert parsed.error is None and parsed.action is action
    [got] = parsed.intents
    assert got == intent(f"POST {path}", action, **fields)


NO_INTENT_CASES = [
    ("/api/v5/trade/cancel-order", {"instId": "BTC-USDT-SWAP", "ordId": "1"}, Action.CANCEL),
    ("/api/v5/trade/cancel-batch-orders", [{"instId": "BTC-USDT-SWAP", "ordId": "1"}], Action.CANCEL),
    ("/api/v5/trade/cancel-algos", [{"instId": "BTC-USDT-SWAP", "algoId": "7"}], Action.CANCEL),
    ("/api/v5/trade/cancel-advance-algos", [{"instId": "BTC-USDT-SWAP", "algoId": "7"}], Action.CANCEL),
    ("/api/v5/trade/mass-cancel", {"instType": "SWAP", "instFamily": "BTC-USDT"}, Action.CANCEL_ALL),
    ("/api/v5/trade/cancel-all-after", {"timeOut": "60"}, Action.CANCEL_ALL),
    ("/api/v5/account/set-isolated-mode", {"isoMode": "automatic", "type": "CONTRACTS"}, Action.SET_MARGIN_MODE),
    ("/api/v5/account/position/margin-balance", {"instId": "BTC-USDT-SWAP", "posSide": "net", "type": "add",
                                                 "amt": "10"}, Action.SET_MARGIN_MODE),
]


@pytest.mark.parametrize(("path", "body", "action"), NO_INTENT_CASES)
def test_parse_request_when_cancel_or_margin_endpoint_then_action_without_intents(
    path: str, body: Any, action: Action
) -> None:
    parsed = post(path, body)
    assert (parsed.action, parsed.intents, parsed.error) == (action, (), None)


@pytest.mark.parametrize("raw", [b"", b"not json", b'{"instId": NaN}', b"\xff\xfe"])
def test_parse_request_when_cancel_body_unreadable_then_cancel_still_passes(raw: bytes) -> None:
    parsed = parse(make_request("POST", "/api/v5/trade/cancel-order", raw=raw))
    assert (parsed.action, parsed.error) == (Action.CANCEL, None)
    assert parsed.action.never_blocked


READ_CASES = [
    ("/api/v5/account/positions", (("instId", "BTC-USDT-SWAP"),)),
    ("/api/v5/trade/orders-pending", ()),
    ("/api/v5/trade/order", (("instId", "BTC-USDT-SWAP"), ("ordId", "1"))),
    ("/api/v5/account/balance", ()),
    ("/api/v5/asset/currencies", ()),
]
FORBIDDEN_READS = ["/api/v5/asset/withdrawal-history", "/api/v5/users/subaccount/list", "/api/v5/asset/withdrawal",
                   "/api/v5/asset/transfer-state"]


@pytest.mark.parametrize(("path", "query"), READ_CASES)
def test_parse_request_when_signed_get_then_read(path: str, query: tuple) -> None:
    parsed = parse(make_request("GET", path, query=query))
    assert (parsed.action, parsed.account, parsed.intents, parsed.error) == (Action.READ, ACCOUNT, (), None)


@pytest.mark.parametrize("path", FORBIDDEN_READS)
def test_parse_request_when_get_on_money_moving_path_then_forbidden(path: str) -> None:
    # withdrawals, transfers, sub-accounts and API keys are refused whatever the method: a server that took a
    # GET for the POST it documents must not be a way to move money (allow_endpoints can name a read to let through)
    assert parse(make_request("GET", path)).action is Action.FORBIDDEN


@pytest.mark.parametrize("path", ["/api/v5/public/instruments", "/api/v5/public/mark-price", "/api/v5/market/tickers",
                                  "/api/v5/public/time"])
def test_parse_request_when_public_get_without_key_then_read_without_account(path: str) -> None:
    parsed = parse(make_request("GET", path, api_key=None))
    assert (parsed.action, parsed.account) == (Action.READ, None)


FORBIDDEN_CASES = [
    ("/api/v5/asset/withdrawal", {"ccy": "USDT", "amt": "100", "dest": "4", "toAddr": "TXYZ", "fee": "1"}),
    ("/api/v5/asset/withdrawal-lightning", {"ccy": "BTC", "invoice": "lnbc1"}),
    ("/api/v5/asset/cancel-withdrawal", {"wdId": "1"}),
    ("/api/v5/asset/transfer", {"ccy": "USDT", "amt": "100", "from": "18", "to": "6"}),
    ("/api/v5/asset/subaccount/transfer", {"ccy": "USDT", "amt": "1", "from": "6", "to": "6", "fromSubAccount": "a",
                                           "toSubAccount": "b"}),
    ("/api/v5/users/subaccount/modify-apikey", {"subAcct": "a", "apiKey": "k", "perm": "trade"}),
    ("/api/v5/users/subaccount/delete-apikey", {"subAcct": "a", "apiKey": "k"}),
    ("/api/v5/users/subaccount/apikey", {"subAcct": "a", "label": "x", "passphrase": "p"}),
    ("/api/v5/users/subaccount/create-subaccount", {"subAcct": "a", "type": "1"}),
    ("/api/v5/users/subaccount/set-transfer-out", {"subAcct": "a", "canTransOut": True}),
    ("/api/v5/account/subaccount/set-loan-allocation", {"enable": True}),
    ("/api/v5/broker/nd/subaccount/apikey", {"subAcct": "a"}),
    ("/api/v5/tradingBot/grid/withdraw-income", {"algoId": "1"}),
]


@pytest.mark.parametrize(("path", "body"), FORBIDDEN_CASES)
def test_parse_request_when_wallet_or_key_endpoint_then_forbidden(path: str, body: dict) -> None:
    parsed = post(path, body)
    assert (parsed.action, parsed.intents, parsed.error) == (Action.FORBIDDEN, (), None)
    assert parsed.endpoint == f"POST {path.lower()}"


UNKNOWN_CASES = [
    ("PUT", "/api/v5/trade/order"),
    ("DELETE", "/api/v5/trade/order"),
    ("POST", "/api/v5/trade/easy-convert"),
    ("POST", "/api/v5/trade/order-precheck"),
    ("POST", "/api/v5/tradingBot/grid/order-algo"),
    ("POST", "/api/v5/copytrading/close-subposition"),
    ("POST", "/api/v5/sprd/order"),
    ("POST", "/api/v5/account/set-account-level"),
    ("POST", "/api/v5/asset/convert/trade"),
    ("POST", "/api/v5/finance/savings/purchase-redempt"),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN_CASES)
def test_parse_request_when_unknown_non_get_then_unknown(method: str, path: str) -> None:
    parsed = parse(make_request(method, path, {"x": "1"}))
    assert (parsed.action, parsed.intents) == (Action.UNKNOWN, ())


WS_HANDSHAKES = [
    ("ws.okx.com", "/ws/v5/private", Action.UNKNOWN),
    ("wspap.okx.com", "/ws/v5/private", Action.UNKNOWN),
    ("ws.okx.com", "/ws/v5/business", Action.UNKNOWN),
    ("wseea.okx.com", "/ws/v5/private", Action.UNKNOWN),
    ("www.okx.com", "/ws/v5/private", Action.UNKNOWN),
    ("ws.okx.com", "/ws/v5/private/", Action.UNKNOWN),
    ("ws.okx.com", "/", Action.UNKNOWN),
    ("ws.okx.com", "/ws/v5/public", Action.READ),
]


@pytest.mark.parametrize(("host", "path", "action"), WS_HANDSHAKES)
def test_parse_request_when_websocket_handshake_then_private_refused_public_read(host: str, path: str,
                                                                                action: Action) -> None:
    request = make_request("GET", path, host=host, query=(("brokerId", "9999"),))
    request = HttpRequest(request.method, host, 8443, request.path, request.query,
                          {**request.headers, "upgrade": "websocket", "connection": "Upgrade"}, b"")
    assert parse(request).action is action


@pytest.mark.parametrize("path", ["/api/v5/trade//order", "/API/V5/TRADE/ORDER", "/api/v5/trade/order/",
                                  "//api/v5/trade/order"])
def test_parse_request_when_path_is_disguised_then_same_as_real_path(path: str) -> None:
    parsed = post(path, leg())
    assert (parsed.action, parsed.endpoint, parsed.error) == (Action.NEW, ORDER, None)
    assert parsed.intents[0].quantity == D("0.02")


def test_parse_request_when_no_api_key_header_then_account_is_none() -> None:
    parsed = parse(make_request("POST", "/api/v5/trade/order", leg(), api_key=None))
    assert parsed.account is None and parsed.intents[0].account is None


def test_parse_request_when_two_keys_then_two_distinct_fingerprints() -> None:
    first = parse(make_request("POST", "/api/v5/trade/order", leg()))
    second = parse(make_request("POST", "/api/v5/trade/order", leg(), api_key="another-key-0000"))
    assert first.account == ACCOUNT != second.account == fingerprint("another-key-0000")


def test_adapter_when_registered_then_okx_hosts_route_to_it() -> None:
    hosts = default_host_map()
    assert ADAPTERS[Venue.OKX] is ADAPTER
    for host in ("www.okx.com", "aws.okx.com", "eea.okx.com", "us.okx.com", "ws.okx.com", "wspap.okx.com"):
        assert hosts.venue(host) is Venue.OKX
    assert ADAPTER.default_hosts[0] == "www.okx.com"  # a reverse listener's default upstream
    assert {"ok-access-key", "ok-access-sign", "ok-access-passphrase"} <= ADAPTER.secret_fields


# ---- 2. contract values: learned, bundled, unknown ----------------------------------------------------------


def test_parse_request_when_contract_value_unknown_then_error_names_instrument() -> None:
    parsed = post("/api/v5/trade/order", leg(instId="ADA-USDT-SWAP", px="0.5"))

    assert parsed.intents == () and parsed.action is Action.NEW
    assert parsed.error is not None and parsed.error.startswith("contract value of ADA-USDT-SWAP unknown")


def test_parse_request_when_contract_value_learned_from_instruments_then_converted() -> None:
    learn_instruments(instrument_row("ADA-USDT-SWAP"))

    [got] = post("/api/v5/trade/order", leg(instId="ADA-USDT-SWAP", sz="3", px="0.5")).intents

    assert (got.quantity, got.unified_symbol) == (D("300"), "ADA/USDT:USDT")


def test_parse_request_when_learned_value_differs_from_bundled_then_learned_wins() -> None:
    learn_instruments(instrument_row("BTC-USDT-SWAP", family="BTC-USDT", ct_val="0.001", ct_val_ccy="BTC"))

    [got] = post("/api/v5/trade/order", leg(sz="2")).intents

    assert got.quantity == D("0.002")


def test_parse_request_when_futures_learned_then_dated_unified_symbol_and_size() -> None:
    learn_instruments(instrument_row("BTC-USDT-250627", inst_type="FUTURES", family="BTC-USDT", ct_val="0.01",
                                     ct_val_ccy="BTC", expTime="1751011200000"))

    [got] = post("/api/v5/trade/order", leg(instId="BTC-USDT-250627", sz="7")).intents

    assert (got.symbol, got.unified_symbol, got.quantity) == ("BTC-USDT-250627", "BTC/USDT:USDT-250627", D("0.07"))


def test_parse_request_when_futures_not_learned_then_refused_but_unified_symbol_derivable() -> None:
    parsed = post("/api/v5/trade/order", leg(instId="BTC-USD-250627"))

    assert parsed.error == ("contract value of BTC-USD-250627 unknown; fetch /api/v5/public/instruments through the "
                            "firewall")
    # a leverage change names the instrument without a size: it still gets its unified symbol
    [lev] = post("/api/v5/account/set-leverage", {"lever": "5", "mgnMode": "cross", "instId": "BTC-USD-250627"}
                 ).intents
    assert lev.unified_symbol == "BTC/USD:BTC-250627"


def test_parse_request_when_inverse_learned_with_multiplier_then_usd_over_price() -> None:
    learn_instruments(instrument_row("ETH-USD-SWAP", family="ETH-USD", settle="ETH", ct_val="1", ct_val_ccy="USD",
                                     ct_type="inverse", ct_mult="10"))

    [got] = decided("/api/v5/trade/order", leg(instId="ETH-USD-SWAP", sz="6", px="3000"), marks(ETH_USD_SWAP="3500")
                    ).intents

    assert got.quantity == D("0.02")  # 6 contracts × 10 USD ÷ 3000 (below the mark: its own price)


INVERSE = {"instId": "BTC-USD-SWAP", "tdMode": "cross"}  # one contract is 100 USD
NO_PRICE = "sz of inverse contract BTC-USD-SWAP is in USD and the order has no price to convert it"
# an amend of an inverse order's size alone: its resting price, which its contracts convert at, is not known
RESIZED_WITHOUT_PRICE = ("an inverse order's coin size depends on its price: an amend of its size must restate newPx "
                         "(or a new trigger price)")

# (path, body, the store's BTC-USD-SWAP mark, the base quantity decided, or the parse error); sells with a price
# of their own convert when parsed, every other inverse size once the store's view is read
INVERSE_CASES = [
    pytest.param(ORDER, {**INVERSE, "side": "buy", "ordType": "limit", "sz": "10000", "px": "1000000"}, "50000",
                 D("20"), id="buy-limit-far-above-mark-converts-at-mark"),
    pytest.param(ORDER, {**INVERSE, "side": "buy", "ordType": "limit", "sz": "4", "px": "40000"}, "50000",
                 D("0.01"), id="buy-limit-below-mark-converts-at-own-price"),
    pytest.param(ORDER, {**INVERSE, "side": "sell", "ordType": "limit", "sz": "6", "px": "60000"}, "50000",
                 D("0.01"), id="sell-limit-above-mark-converts-at-own-price"),
    pytest.param(ORDER, {**INVERSE, "side": "sell", "ordType": "post_only", "sz": "4", "px": "40000"}, "50000",
                 D("0.01"), id="sell-limit-below-mark-converts-at-own-price"),
    pytest.param(ORDER, {**INVERSE, "side": "buy", "ordType": "limit", "sz": "10000", "px": "1000000"}, None,
                 D("1"), id="buy-limit-without-mark-converts-at-own-price"),
    pytest.param(ORDER, {**INVERSE, "side": "buy", "ordType": "market", "sz": "4"}, "40000", D("0.01"),
                 id="market-buy-converts-at-mark"),
    pytest.param(ORDER, {**INVERSE, "side": "sell", "ordType": "optimal_limit_ioc", "sz": "4"}, "40000", D("0.01"),
                 id="market-sell-converts-at-mark"),
    pytest.param(ORDER, {**INVERSE, "side": "buy", "ordType": "market", "sz": "4"}, None, NO_PRICE,
                 id="market-buy-without-mark-refused"),
    pytest.param(ORDER, {**INVERSE, "side": "sell", "ordType": "market", "sz": "4", "px": "1"}, None, NO_PRICE,
                 id="market-sell-px-ignored-without-mark-refused"),
    pytest.param(ORDER, {**INVERSE, "side": "sell", "ordType": "market", "sz": "4", "reduceOnly": True}, "40000",
                 D("0.01"), id="reduce-only-market-converts-at-mark"),
    pytest.param(ORDER, {**INVERSE, "side": "sell", "ordType": "market", "sz": "4", "reduceOnly": True}, None,
                 None, id="reduce-only-market-without-any-price-has-no-size"),
    pytest.param(ORDER, {**INVERSE, "side": "buy", "posSide": "short", "ordType": "market", "sz": "4"}, None,
                 None, id="hedge-close-short-without-any-price-has-no-size"),
    pytest.param(ALGO, {**INVERSE, "side": "buy", "ordType": "trigger", "sz": "6", "triggerPx": "60000",
                        "orderPx": "-1"}, "50000", D("0.012"), id="buy-stop-above-mark-converts-at-mark"),
    pytest.param(ALGO, {**INVERSE, "side": "sell", "ordType": "conditional", "sz": "4", "slTriggerPx": "40000",
                        "slOrdPx": "-1"}, "50000", D("0.01"), id="sell-stop-converts-at-its-trigger"),
    pytest.param(AMEND, {"instId": "BTC-USD-SWAP", "ordId": "1", "newSz": "5", "newPx": "1000000"}, "50000",
                 D("0.01"), id="amend-at-high-new-price-converts-at-mark"),
    pytest.param(AMEND, {"instId": "BTC-USD-SWAP", "ordId": "1", "newSz": "5", "newPx": "25000"}, "50000",
                 D("0.02"), id="amend-below-mark-converts-at-new-price"),
    pytest.param(AMEND, {"instId": "BTC-USD-SWAP", "ordId": "1", "newSz": "5"}, "50000", RESIZED_WITHOUT_PRICE,
                 id="amend-size-only-refused-its-resting-price-unknown"),
    pytest.param(AMEND, {"instId": "BTC-USD-SWAP", "ordId": "1", "newSz": "5"}, None, RESIZED_WITHOUT_PRICE,
                 id="amend-size-only-without-mark-refused"),
    pytest.param(AMEND_ALGO, {"instId": "BTC-USD-SWAP", "algoId": "7", "newSz": "5", "newTriggerPx": "100000"},
                 "50000", D("0.01"), id="algo-amend-trigger-above-mark-converts-at-mark"),
    # triggered at 5000, a buy at 50000 fills at about 5000: 1,000 contracts of 100 USD are 20 BTC, not 2
    pytest.param(ALGO, {**INVERSE, "side": "buy", "ordType": "trigger", "sz": "1000", "triggerPx": "5000",
                        "orderPx": "50000"}, "50000", D(20), id="buy-trigger-limit-converts-at-its-trigger"),
    pytest.param(ALGO, {**INVERSE, "side": "sell", "ordType": "trigger", "sz": "1000", "triggerPx": "60000",
                        "orderPx": "40000"}, "50000", D("2.5"), id="sell-trigger-limit-converts-at-its-limit"),
    pytest.param(AMEND_ALGO, {"instId": "BTC-USD-SWAP", "algoId": "7", "newSz": "1000", "newTriggerPx": "5000",
                              "newOrdPx": "50000"}, "50000", D(20), id="algo-amend-converts-at-its-new-trigger"),
    pytest.param(ORDER, leg(sz="2", px="1000000"), "50000", D("0.02"), id="linear-unchanged-by-mark"),
]


@pytest.mark.parametrize(("endpoint", "body", "mark", "expected"), INVERSE_CASES)
def test_resolve_when_inverse_size_then_converted_at_its_worst_fill_price(
    endpoint: str, body: dict, mark: str | None, expected: Decimal | str | None
) -> None:
    path = endpoint.split(" ")[1]
    parsed = post(path, body)
    view = marks(BTC_USD_SWAP=mark) if mark is not None else StateView()

    got = engine.resolve(parsed, view)

    assert parsed.error is None  # a missing price is the store's to supply: never a parse error by itself
    if isinstance(expected, str):
        assert (got.intents, got.error) == ((), expected)
    else:
        [resolved] = got.intents
        assert got.error is None and resolved.quantity == expected and resolved.resolve is None


@pytest.mark.parametrize(
    ("body", "converted_now"),
    [
        ({**INVERSE, "side": "sell", "ordType": "limit", "sz": "6", "px": "60000"}, True),
        ({**INVERSE, "side": "buy", "ordType": "limit", "sz": "6", "px": "60000"}, False),
        ({**INVERSE, "side": "sell", "ordType": "market", "sz": "6"}, False),
        (leg(sz="6"), True),
    ],
    ids=["inverse-sell-with-own-price", "inverse-buy", "inverse-market-sell", "linear"],
)
def test_parse_request_when_size_needs_the_store_mark_then_no_quantity_until_resolved(
    body: dict, converted_now: bool
) -> None:
    [got] = post("/api/v5/trade/order", body).intents

    # a count of contracts standing in for coin would be read as coin: no quantity until the mark is known
    assert (got.quantity is not None, got.resolve is None) == (converted_now, converted_now)


REPRICE = "an inverse order's coin size depends on its price: an amend of its price must restate newSz"


@pytest.mark.parametrize(("path", "body", "refused"), [
    # USD contracts moved to a lower price are more coin than the order held: the size must be restated
    pytest.param("/api/v5/trade/amend-order", {"instId": "BTC-USD-SWAP", "ordId": "1", "newPx": "4900"}, True,
                 id="inverse-price-alone"),
    pytest.param("/api/v5/trade/amend-algos", {"instId": "BTC-USD-SWAP", "algoId": "7", "newTriggerPx": "4900"},
                 True, id="inverse-trigger-alone"),
    pytest.param("/api/v5/trade/amend-order", {"instId": "SOL-USD-SWAP", "ordId": "1", "newPx": "4900"}, True,
                 id="unknown-inverse-by-its-name"),
    pytest.param("/api/v5/trade/amend-order", {"instId": "BTC-USD-SWAP", "ordId": "1", "newPx": "4900",
                                               "newSz": "5"}, False, id="inverse-size-restated"),
    pytest.param("/api/v5/trade/amend-order", {"instId": "BTC-USDT-SWAP", "ordId": "1", "newPx": "4900"}, False,
                 id="linear-price-alone"),
])
def test_parse_request_when_amend_moves_an_inverse_price_without_its_size_then_refused(
    path: str, body: dict, refused: bool
) -> None:
    parsed = post(path, body)

    assert (parsed.error == REPRICE) is refused, parsed.error
    assert refused or parsed.error is None


def test_parse_response_when_trigger_buy_listed_then_sized_at_its_trigger() -> None:
    row = {"instType": "SWAP", "instId": "BTC-USD-SWAP", "algoId": "7", "side": "buy", "posSide": "net",
           "ordType": "trigger", "sz": "1000", "triggerPx": "5000", "ordPx": "50000", "state": "live"}

    facts = learn(get("/api/v5/trade/orders-algo-pending", ("ordType", "trigger")), envelope([row]))

    assert [o.original for o in facts.open_orders[0].orders] == [D(20)]


def test_resolve_when_batch_of_inverse_buys_then_each_leg_converted_at_the_mark() -> None:
    body = [{**INVERSE, "side": "buy", "ordType": "limit", "sz": "10000", "px": "1000000"},
            {**INVERSE, "side": "buy", "ordType": "market", "sz": "5"},
            {**INVERSE, "side": "sell", "ordType": "limit", "sz": "5", "px": "25000"}]

    parsed = decided("/api/v5/trade/batch-orders", body, marks(BTC_USD_SWAP="50000"))

    assert [i.quantity for i in parsed.intents] == [D("20"), D("0.01"), D("0.02")]


def test_parse_request_when_inverse_order_of_unknown_contract_then_refused_before_any_mark() -> None:
    parsed = post("/api/v5/trade/order", {"instId": "SOL-USD-SWAP", "tdMode": "cross", "side": "buy",
                                          "ordType": "market", "sz": "1"})

    assert parsed.intents == ()
    assert parsed.error is not None and parsed.error.startswith("contract value of SOL-USD-SWAP unknown")


MAX_POSITION_POLICY = make_policy("rules:\n  - {id: pos, type: max_position, default: {qty: 5}}\n")


def mark_answer(mark: str) -> ResponseFacts:
    """What the store learns from a mark-price answer passing through."""
    request = make_request("GET", "/api/v5/public/mark-price", query=(("instId", "BTC-USD-SWAP"),), api_key=None)
    rows = [{"instType": "SWAP", "instId": "BTC-USD-SWAP", "markPx": mark, "ts": "1700000000000"}]
    return ADAPTER.parse_response(parse(request), request, 200, envelope(rows), DECISION_ID)


@pytest.mark.parametrize(
    ("mark", "verdict", "quantity"),
    [
        # 10000 contracts × 100 USD = 1,000,000 USD: at the 50000 mark the buy fills 20 BTC, over the 5 BTC limit
        ("50000", Verdict.BLOCK, D("20")),
        # the store knows no mark: its own price is all there is (1 BTC)
        (None, Verdict.ALLOW, D("1")),
    ],
    ids=["store-has-mark", "store-has-no-mark"],
)
def test_decide_when_inverse_buy_limit_far_above_the_mark_then_position_counted_at_the_mark(
    mark: str | None, verdict: Verdict, quantity: Decimal
) -> None:
    body = {**INVERSE, "side": "buy", "ordType": "limit", "sz": "10000", "px": "1000000"}

    async def run() -> Evaluation:
        store = MemoryStore()
        if mark is not None:
            await store.learn(mark_answer(mark))
        return await decide_request(post("/api/v5/trade/order", body), MAX_POSITION_POLICY, store, DECISION_ID)

    evaluation = asyncio.run(run())

    assert evaluation.decision.verdict is verdict
    if verdict is Verdict.BLOCK:
        assert evaluation.decision.deciding is not None
        assert (evaluation.decision.deciding.rule_id, evaluation.decision.deciding.reason) == (
            "pos", Reason.POSITION_EXCEEDS_MAX)
    assert evaluation.parsed is not None and evaluation.parsed.intents[0].quantity == quantity


def test_decide_when_inverse_market_order_and_store_has_no_mark_then_refused_unless_it_only_reduces() -> None:
    grows = {**INVERSE, "side": "buy", "ordType": "market", "sz": "4"}
    reduces = {**INVERSE, "side": "sell", "ordType": "market", "sz": "4", "reduceOnly": True}

    async def run() -> tuple[Evaluation, Evaluation]:
        store = MemoryStore()
        return (await decide_request(post(ORDER.split(" ")[1], grows), MAX_POSITION_POLICY, store, "d0"),
                await decide_request(post(ORDER.split(" ")[1], reduces), MAX_POSITION_POLICY, store, "d1"))

    refused, passed = asyncio.run(run())

    assert refused.decision.verdict is Verdict.BLOCK and refused.decision.deciding is not None
    assert refused.decision.deciding.reason is Reason.PARSE_FAILED
    assert refused.decision.deciding.get("error") == NO_PRICE
    assert passed.decision.verdict is Verdict.ALLOW
    assert passed.parsed is not None and passed.parsed.intents[0].quantity is None


def test_parse_response_when_inverse_buy_above_mark_placed_then_open_order_at_the_decided_mark() -> None:
    request = make_request("POST", "/api/v5/trade/order",
                           {**INVERSE, "side": "buy", "ordType": "limit", "sz": "10000", "px": "1000000"})
    parsed = engine.resolve(parse(request), marks(BTC_USD_SWAP="50000"))

    facts = ADAPTER.parse_response(parsed, request, 200, envelope([ack("611")]), DECISION_ID)

    assert [(u.symbol, u.original) for u in facts.orders] == [("BTC-USD-SWAP", D("20"))]


def test_bundled_table_when_read_then_majors_with_okx_contract_values() -> None:
    table = {i.native: (i.unified, i.contract_size, i.quote_sized) for i in BUNDLED}
    assert table == {
        "BTC-USDT-SWAP": ("BTC/USDT:USDT", D("0.01"), False),
        "ETH-USDT-SWAP": ("ETH/USDT:USDT", D("0.1"), False),
        "SOL-USDT-SWAP": ("SOL/USDT:USDT", D("1"), False),
        "XRP-USDT-SWAP": ("XRP/USDT:USDT", D("100"), False),
        "DOGE-USDT-SWAP": ("DOGE/USDT:USDT", D("1000"), False),
        "LTC-USDT-SWAP": ("LTC/USDT:USDT", D("1"), False),
        "BTC-USDC-SWAP": ("BTC/USDC:USDC", D("0.0001"), False),
        "ETH-USDC-SWAP": ("ETH/USDC:USDC", D("0.001"), False),
        "BTC-USD-SWAP": ("BTC/USD:BTC", D("100"), True),
        "ETH-USD-SWAP": ("ETH/USD:ETH", D("10"), True),
    }
    assert all(i.venue is VENUE for i in BUNDLED)


# ---- 3. unsupported and malformed requests ---------------------------------------------------------------

UNSUPPORTED_CASES = [
    pytest.param("/api/v5/trade/order", leg(instId="BTC-USDT", tdMode="cash"), "spot orders", id="spot-cash"),
    pytest.param("/api/v5/trade/order", leg(instId="BTC-USDT", tdMode="cross"), "spot and margin", id="margin"),
    pytest.param("/api/v5/trade/order", leg(tdMode="spot_isolated"), "spot orders", id="spot-isolated-mode"),
    pytest.param("/api/v5/trade/order", leg(instId="BTC-USD-250627-50000-C"), "only SWAP and FUTURES",
                 id="option"),
    pytest.param("/api/v5/trade/batch-orders", [leg(), leg(instId="ETH-USDT", tdMode="cash")], "spot orders",
                 id="batch-with-one-spot-leg"),
    pytest.param("/api/v5/trade/order-algo",
                 {"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "conditional", "sz": "1",
                  "slTriggerPx": "1", "slOrdPx": "-1"}, "spot orders", id="spot-algo"),
]


@pytest.mark.parametrize(("path", "body", "why"), UNSUPPORTED_CASES)
def test_parse_request_when_spot_margin_or_option_then_unknown_with_reason(path: str, body: Any, why: str) -> None:
    parsed = post(path, body)

    assert parsed.action is Action.UNKNOWN and parsed.intents == ()
    assert parsed.error is not None and why in parsed.error


MALFORMED_ORDER_CASES = [
    pytest.param(leg(sz=None), "sz", id="sz-missing"),
    pytest.param(leg(sz=""), "sz", id="sz-empty"),
    pytest.param(leg(sz="0"), "sz", id="sz-zero"),
    pytest.param(leg(sz="-1"), "sz", id="sz-negative"),
    # the spellings decimal_field refuses are tested once in test_venue_base.py; here, that sz is read by it
    pytest.param(leg(sz="1e3"), "sz", id="sz-exponent-string"),
    pytest.param(leg(sz=True), "sz", id="sz-bool"),
    pytest.param(leg(px=None), "px", id="limit-px-missing"),
    pytest.param(leg(px="abc"), "px", id="px-text"),
    pytest.param(leg(px="0"), "px", id="px-zero"),
    pytest.param(leg(side="BUY"), "side", id="side-upper-case"),
    pytest.param(leg(side=None), "side", id="side-missing"),
    pytest.param(leg(ordType="stop_market"), "ordType", id="ordType-unknown"),
    pytest.param(leg(ordType=None), "ordType", id="ordType-missing"),
    pytest.param(leg(tdMode=None), "tdMode", id="tdMode-missing"),
    pytest.param(leg(tdMode="margin"), "tdMode", id="tdMode-unknown"),
    pytest.param(leg(posSide="both"), "posSide", id="posSide-unknown"),
    pytest.param(leg(instId=None), "instId", id="instId-missing"),
    pytest.param(leg(instId="BTC USDT SWAP"), "instId", id="instId-space"),
    pytest.param(leg(instId="BTCUSDT"), "instId", id="instId-not-okx-shape"),
    pytest.param(leg(instId=None, instIdCode=D("10459")), "instId", id="instIdCode-only"),
    pytest.param(leg(instIdCode=D("10459")), "instIdCode", id="instIdCode-beside-instId"),
    pytest.param(leg(tgtCcy="base_ccy"), "tgtCcy", id="tgtCcy-changes-units"),
    pytest.param(leg(pxUsd="100"), "pxUsd", id="pxUsd-options-only"),
    pytest.param(leg(pxVol="0.5"), "pxVol", id="pxVol-options-only"),
    pytest.param(leg(reduceOnly="yes"), "reduceOnly", id="reduceOnly-not-bool"),
    # OKX takes a JSON boolean: a string true is not read as one (the venue might not either)
    pytest.param(leg(reduceOnly="true"), "reduceOnly", id="reduceOnly-string-true"),
    pytest.param(leg(clOrdId="x" * 33), "clOrdId", id="clOrdId-too-long"),
    pytest.param(leg(clOrdId="a-b"), "clOrdId", id="clOrdId-not-alphanumeric"),
    pytest.param(leg(attachAlgoOrds="sl"), "attachAlgoOrds", id="attachAlgoOrds-not-list"),
    pytest.param(leg(newField="1"), "newField", id="unknown-field"),
]


def assert_names_field(parsed: ParsedRequest, field: str) -> None:
    assert parsed.intents == ()
    assert parsed.error is not None and field in parsed.error, parsed.error
    for secret in (API_KEY, PASSPHRASE, SIGNATURE):
        assert secret not in parsed.error


@pytest.mark.parametrize(("style", "body", "field"), in_turn(STYLES, MALFORMED_ORDER_CASES))
def test_parse_request_when_order_field_invalid_then_error_names_field(style: str, body: dict, field: str) -> None:
    parsed = post("/api/v5/trade/order", body, style)
    assert parsed.action is Action.NEW
    assert_names_field(parsed, field)


MALFORMED_OTHER_CASES = [
    pytest.param("/api/v5/trade/order-algo", {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell",
                                              "ordType": "stop", "sz": "1"}, "ordType", id="algo-type-unknown"),
    pytest.param("/api/v5/trade/order-algo", {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell",
                                              "ordType": "conditional", "slTriggerPx": "1", "slOrdPx": "-1"},
                 "sz", id="algo-size-missing-without-closeFraction"),
    pytest.param("/api/v5/trade/order-algo", {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell",
                                              "ordType": "conditional", "closeFraction": "0.5",
                                              "slTriggerPx": "1"}, "closeFraction", id="algo-partial-fraction"),
    pytest.param("/api/v5/trade/order-algo", {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy",
                                              "ordType": "conditional", "closeFraction": "1", "sz": "900",
                                              "tpTriggerPx": "1"}, "closeFraction",
                 id="algo-close-fraction-without-reduce-only"),
    pytest.param("/api/v5/trade/order-algo", {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell",
                                              "ordType": "trigger", "sz": "1", "triggerPx": "-2"},
                 "triggerPx", id="algo-negative-trigger"),
    pytest.param("/api/v5/trade/amend-order", {"instId": "BTC-USDT-SWAP", "newSz": "1"}, "ordId",
                 id="amend-without-order"),
    pytest.param("/api/v5/trade/amend-order", {"instId": "BTC-USDT-SWAP", "ordId": "1", "newSz": "1e2"}, "newSz",
                 id="amend-size-exponent"),
    pytest.param("/api/v5/trade/amend-order", {"instId": "BTC-USDT-SWAP", "ordId": "1", "newPxUsd": "1"},
                 "newPxUsd", id="amend-usd-price"),
    pytest.param("/api/v5/trade/amend-algos", {"instId": "BTC-USDT-SWAP", "newSz": "1"}, "algoId",
                 id="amend-algo-without-id"),
    # ccxt's marginMode passes on an amend with the values ccxt sends, as nothing; nowhere else, and no other value
    pytest.param("/api/v5/trade/amend-order", {"instId": "BTC-USDT-SWAP", "ordId": "1", "newSz": "1",
                                               "marginMode": "portfolio"}, "marginMode",
                 id="amend-margin-mode-unknown"),
    pytest.param("/api/v5/trade/amend-order", {"instId": "BTC-USDT-SWAP", "ordId": "1", "newSz": "1",
                                               "marginMode": ["cross"]}, "marginMode", id="amend-margin-mode-list"),
    pytest.param("/api/v5/trade/order", {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy",
                                         "ordType": "market", "sz": "1", "marginMode": "cross"}, "marginMode",
                 id="order-margin-mode"),
    pytest.param("/api/v5/trade/close-position", {"instId": "BTC-USDT-SWAP"}, "mgnMode",
                 id="close-without-margin-mode"),
    pytest.param("/api/v5/account/set-leverage", {"mgnMode": "cross", "instId": "BTC-USDT-SWAP"}, "lever",
                 id="leverage-missing"),
    pytest.param("/api/v5/account/set-leverage", {"lever": "-5", "mgnMode": "cross", "instId": "BTC-USDT-SWAP"},
                 "lever", id="leverage-negative"),
    pytest.param("/api/v5/account/set-leverage", {"lever": "5", "mgnMode": "cross"}, "ccy",
                 id="leverage-without-instrument-or-currency"),
    pytest.param("/api/v5/account/set-leverage", {"lever": "5", "mgnMode": "cash", "instId": "BTC-USDT-SWAP"},
                 "mgnMode", id="leverage-margin-mode-unknown"),
    pytest.param("/api/v5/account/set-position-mode", {"posMode": "hedge"}, "posMode", id="position-mode-unknown"),
]


@pytest.mark.parametrize(("path", "body", "field"), MALFORMED_OTHER_CASES)
def test_parse_request_when_other_field_invalid_then_error_names_field(path: str, body: dict, field: str) -> None:
    assert_names_field(post(path, body), field)


def _legs(n: int) -> list[dict[str, Any]]:
    return [leg(sz="1") for _ in range(n)]


MALFORMED_BATCH_CASES = [
    pytest.param([], "JSON array", id="empty-array"),
    pytest.param(_legs(21), "JSON array of 1 to 20", id="twenty-one-legs"),
    pytest.param(leg(), "JSON array", id="object-instead-of-array"),
    pytest.param([leg(), "leg"], "not a JSON object", id="leg-not-object"),
    pytest.param([leg(), leg(sz="abc")], "sz", id="second-leg-bad-size"),
    pytest.param([leg(), leg(instId="NOPE-USDT-SWAP")], "contract value of NOPE-USDT-SWAP unknown",
                 id="second-leg-unknown-contract"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED_BATCH_CASES)
def test_parse_request_when_batch_malformed_then_whole_batch_errors(body: Any, field: str) -> None:
    parsed = post("/api/v5/trade/batch-orders", body)
    assert parsed.action is Action.NEW
    assert_names_field(parsed, field)


# json_body's and strict_json's whole matrix is in test_venue_base.py; here, one case or two of each kind
RAW_BODY_CASES = [
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b'{"instId":"BTC-USDT-SWAP","sz":"1","sz":"9"}'),
                 "given twice", id="duplicate-key"),
    pytest.param(make_request("POST", "/api/v5/trade/batch-orders",
                              raw=b'[{"instId":"BTC-USDT-SWAP","instId":"ETH-USDT-SWAP"}]'),
                 "given twice", id="duplicate-key-in-leg"),
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b'{"sz":NaN}'), "NaN", id="nan"),
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b'{"sz":1e3}'), "plain decimal",
                 id="json-number-exponent"),
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b"not json"), "not JSON", id="not-json"),
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b'\xef\xbb\xbf{"sz":"1"}'), "not JSON",
                 id="utf8-bom"),
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b'{"instId":"\xff"}'), "not JSON",
                 id="invalid-utf8"),
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b'[{"instId":"BTC-USDT-SWAP"}]'),
                 "not a JSON object", id="array-on-single-endpoint"),
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b""), "body is missing", id="empty-body"),
    pytest.param(make_request("POST", "/api/v5/trade/order", leg(), content_type="text/plain"),
                 "application/json", id="text-plain"),
    pytest.param(make_request("POST", "/api/v5/trade/order", leg(),
                              content_type="application/x-www-form-urlencoded"), "application/json", id="form"),
    pytest.param(make_request("POST", "/api/v5/trade/order", leg(), content_type=None), "application/json",
                 id="no-content-type"),
    pytest.param(make_request("POST", "/api/v5/trade/order", leg(), query=(("sz", "100"),)), "query",
                 id="query-beside-body"),
    pytest.param(make_request("POST", "/api/v5/trade/order", raw=b" " * (MAX_BODY_BYTES + 1)), "too large",
                 id="oversized"),
]


@pytest.mark.parametrize(("request_", "field"), RAW_BODY_CASES)
def test_parse_request_when_body_unreadable_or_ambiguous_then_error_names_problem(
    request_: HttpRequest, field: str
) -> None:
    parsed = parse(request_)
    assert parsed.action is not Action.READ and not parsed.action.never_blocked
    assert_names_field(parsed, field)


# ---- 4. decisions on parsed OKX requests (engine, pure) ------------------------------------------------------

OKX_POLICY = f"""
accounts:
  main: {{fingerprints: ["{ACCOUNT}"], venue: okx}}
rules:
  - {{id: symbols, type: allowed_symbols, allow: ["BTC/USDT:USDT", "ETH-USDT-SWAP", "BTC-USD-SWAP"]}}
  - {{id: order-qty, type: max_order_qty, default: 100, symbols: {{"BTC/USDT:USDT": 0.05}}}}
  - {{id: leverage, type: max_leverage, default: 10}}
"""


@pytest.mark.parametrize(
    ("path", "body", "rule", "reason"),
    [
        ("/api/v5/trade/order", leg(sz="6"), "order-qty", Reason.ORDER_QTY_EXCEEDS_MAX),  # 6 contracts = 0.06 BTC
        ("/api/v5/trade/order", leg(sz="5"), None, None),  # 0.05 BTC: at the limit
        ("/api/v5/trade/batch-orders", [leg(sz="1"), leg(sz="9")], "order-qty", Reason.ORDER_QTY_EXCEEDS_MAX),
        # reductions with no position to reduce (the view is flat): checked like any order
        ("/api/v5/trade/order", leg(sz="9", side="sell", reduceOnly=True), "order-qty", Reason.ORDER_QTY_EXCEEDS_MAX),
        ("/api/v5/trade/order", leg(sz="9", side="sell", posSide="long"), "order-qty", Reason.ORDER_QTY_EXCEEDS_MAX),
        ("/api/v5/trade/order", leg(instId="SOL-USDT-SWAP"), "symbols", Reason.SYMBOL_NOT_ALLOWED),
        ("/api/v5/trade/order-algo", {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell",
                                      "ordType": "conditional", "sz": "10", "slTriggerPx": "45000",
                                      "slOrdPx": "-1"}, "order-qty", Reason.ORDER_QTY_EXCEEDS_MAX),
        ("/api/v5/trade/close-position", {"instId": "SOL-USDT-SWAP", "mgnMode": "cross"}, None, None),
        ("/api/v5/account/set-leverage", {"lever": "20", "mgnMode": "cross", "instId": "BTC-USDT-SWAP"},
         "leverage", Reason.LEVERAGE_EXCEEDS_MAX),
        ("/api/v5/trade/order", leg(sz="1", instId="BTC-USD-SWAP"), None, None),
        ("/api/v5/asset/withdrawal", {"ccy": "USDT"}, "riskwall.forbidden-endpoint", Reason.ACTION_FORBIDDEN),
        ("/api/v5/trade/order", leg(instId="BTC-USDT", tdMode="cash"), "riskwall.parse", Reason.PARSE_FAILED),
    ],
)
def test_engine_when_okx_request_parsed_then_policy_in_base_units_and_unified_names(
    path: str, body: Any, rule: str | None, reason: Reason | None
) -> None:
    policy = make_policy(OKX_POLICY)
    planned = engine.plan(post(path, body), policy, make_view(), DECISION_ID)
    decision = engine.conclude(planned, policy, None)

    if rule is None:
        assert decision.verdict is Verdict.ALLOW, decision
    else:
        assert decision.verdict is Verdict.BLOCK
        assert decision.deciding is not None
        assert (decision.deciding.rule_id, decision.deciding.reason) == (rule, reason)


# ---- 5. responses → ResponseFacts -----------------------------------------------------------------------


def envelope(data: list[Any], code: str = "0", **extra: Any) -> bytes:
    return orjson.dumps({"code": code, "msg": "", "data": data, **extra})


def learn(request: HttpRequest, body: bytes, status: int = 200) -> ResponseFacts:
    return ADAPTER.parse_response(parse(request), request, status, body, DECISION_ID)


def get(path: str, *query: tuple[str, str]) -> HttpRequest:
    return make_request("GET", path, query=tuple(query))


def order_row(ord_id: str = "11", **overrides: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "ordId": ord_id, "clOrdId": "",
                           "side": "buy", "posSide": "net", "ordType": "limit", "sz": "3", "px": "49000",
                           "accFillSz": "0", "avgPx": "", "state": "live", "reduceOnly": "false", "tdMode": "cross"}
    row.update(overrides)
    return row


def algo_row(algo_id: str = "71", **overrides: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"instId": "BTC-USDT-SWAP", "instType": "SWAP", "algoId": algo_id, "ordId": "",
                           "side": "sell", "posSide": "net", "ordType": "conditional", "sz": "2",
                           "slTriggerPx": "45000", "slOrdPx": "-1", "ordPx": "", "state": "live",
                           "reduceOnly": "false"}
    row.update(overrides)
    return row


def update(order_id: str, original: str, executed: str = "0", *, final: bool = False, side: Side = Side.BUY,
           symbol: str = "BTC-USDT-SWAP", reservation: str | None = None, kind: str = "order",
           position_side: PositionSide = PositionSide.BOTH, reduce_only: bool = False) -> OrderUpdate:
    return OrderUpdate(VENUE, ACCOUNT, symbol, order_id, side, position_side, D(original), D(executed), final,
                       reduce_only, reservation, kind)


def ack(ord_id: str, cl_ord_id: str = "", code: str = "0", **extra: str) -> dict[str, Any]:
    return {"clOrdId": cl_ord_id, "ordId": ord_id, "sCode": code, "sMsg": "" if code == "0" else "failed",
            "tag": "", "ts": "1700000000000", **extra}


def test_parse_response_when_order_placed_then_open_update_in_base_units_with_reservation() -> None:
    request = make_request("POST", "/api/v5/trade/order", leg(sz="3"))

    facts = learn(request, envelope([ack("611", CID)]))

    assert facts == ResponseFacts(orders=(update("611", "0.03", reservation=f"{DECISION_ID}:0"),))


def test_parse_response_when_batch_partly_placed_then_only_accepted_legs_by_client_id() -> None:
    request = make_request("POST", "/api/v5/trade/batch-orders",
                           [leg(clOrdId="a1", sz="1"), leg(clOrdId="b2", sz="2", side="sell"),
                            leg(clOrdId="c3", sz="3")])
    # answered out of order, the middle leg refused: matching is by clOrdId, not position
    body = envelope([ack("903", "c3"), ack("", "b2", code="51008"), ack("901", "a1")], code="2")

    facts = learn(request, body)

    assert facts.orders == (update("903", "0.03", reservation=f"{DECISION_ID}:2"),
                            update("901", "0.01", reservation=f"{DECISION_ID}:0"))


def test_parse_response_when_batch_without_client_ids_then_matched_by_position() -> None:
    request = make_request("POST", "/api/v5/trade/batch-orders", [leg(clOrdId=None, sz="1"),
                                                                  leg(clOrdId=None, sz="2")])
    facts = learn(request, envelope([ack("1"), ack("2")]))
    assert [(u.order_id, u.original, u.reservation_id) for u in facts.orders] == [
        ("1", D("0.01"), f"{DECISION_ID}:0"), ("2", D("0.02"), f"{DECISION_ID}:1")]


def test_parse_response_when_order_only_reduces_then_update_marked_reduce_only() -> None:
    request = make_request("POST", "/api/v5/trade/order", leg(posSide="long", side="sell"))
    [got] = learn(request, envelope([ack("5", CID)])).orders
    assert got.reduce_only and got.position_side is PositionSide.LONG and got.side is Side.SELL


def test_parse_response_when_algo_placed_then_algo_kind_per_type_with_reservation() -> None:
    request = make_request("POST", "/api/v5/trade/order-algo", {
        "instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "conditional", "sz": "4",
        "slTriggerPx": "45000", "slOrdPx": "-1"})

    facts = learn(request, envelope([{"algoId": "7001", "algoClOrdId": "", "clOrdId": "", "sCode": "0",
                                      "sMsg": "", "tag": ""}]))

    assert facts.orders == (update("algo:7001", "0.04", side=Side.SELL, reservation=f"{DECISION_ID}:0",
                                   kind="algo:conditional"),)


@pytest.mark.parametrize("code", ["1", "50011", "51000"])
def test_parse_response_when_all_operations_failed_then_nothing_learned(code: str) -> None:
    request = make_request("POST", "/api/v5/trade/order", leg())
    assert learn(request, envelope([ack("", CID, code="51008")], code=code)) == ResponseFacts()


def test_parse_response_when_orders_canceled_then_closed_ids_only_for_successes() -> None:
    request = make_request("POST", "/api/v5/trade/cancel-batch-orders", [{"instId": "BTC-USDT-SWAP", "ordId": "1"},
                                                                         {"instId": "BTC-USDT-SWAP", "ordId": "2"}])
    facts = learn(request, envelope([ack("1"), ack("2", code="51400")], code="2"))
    assert facts == ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "1"),))


def test_parse_response_when_algos_canceled_then_algo_ids_closed() -> None:
    request = make_request("POST", "/api/v5/trade/cancel-algos", [{"instId": "BTC-USDT-SWAP", "algoId": "7001"}])
    facts = learn(request, envelope([{"algoId": "7001", "sCode": "0", "sMsg": ""}]))
    assert facts.closed == (ClosedOrder(VENUE, ACCOUNT, "algo:7001"),)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (order_row(), update("11", "0.03")),
        (order_row(accFillSz="1", avgPx="49000", state="partially_filled"), update("11", "0.03", "0.01")),
        (order_row(accFillSz="3", avgPx="48990", state="filled"), update("11", "0.03", "0.03", final=True)),
        (order_row(state="canceled"), update("11", "0.03", final=True)),
        (order_row(state="mmp_canceled"), update("11", "0.03", final=True)),
        (order_row(ordType="market", px="", avgPx="50000", accFillSz="3", state="filled"),
         update("11", "0.03", "0.03", final=True)),
        (order_row(posSide="short", side="buy"), update("11", "0.03", position_side=PositionSide.SHORT,
                                                        reduce_only=True)),
        (order_row(instId="BTC-USD-SWAP", sz="5", px="50000", accFillSz="5", avgPx="40000", state="filled"),
         update("11", "0.01", "0.01", final=True, symbol="BTC-USD-SWAP")),
    ],
)
def test_parse_response_when_order_queried_then_progress_in_base_units(row: dict, expected: OrderUpdate) -> None:
    facts = learn(get("/api/v5/trade/order", ("instId", row["instId"]), ("ordId", "11")), envelope([row]))
    assert facts.orders == (expected,)


def test_parse_response_when_order_filled_then_fill_price_learned() -> None:
    facts = learn(get("/api/v5/trade/order", ("instId", "BTC-USDT-SWAP"), ("ordId", "11")),
                  envelope([order_row(accFillSz="3", avgPx="48990.5", state="filled")]))
    assert facts.prices == (PriceUpdate(VENUE, "BTC-USDT-SWAP", D("48990.5"), "last"),)


def test_parse_response_when_order_of_unknown_contract_then_skipped() -> None:
    facts = learn(get("/api/v5/trade/orders-pending"), envelope([order_row(instId="NOPE-USDT-SWAP"), order_row("12")]))
    # one row could not be converted: the listing is not a complete snapshot any more
    assert facts.open_orders == () and facts.orders == (update("12", "0.03"),)


@pytest.mark.parametrize(
    ("query", "rows", "symbol"),
    [
        ((("instId", "BTC-USDT-SWAP"),), [order_row()], "BTC-USDT-SWAP"),
        ((("instType", "SWAP"), ("instId", "BTC-USDT-SWAP")), [order_row()], "BTC-USDT-SWAP"),
        ((), [order_row(), order_row("12", instId="ETH-USDT-SWAP")], None),
        ((("instId", "BTC-USDT-SWAP"),), [], "BTC-USDT-SWAP"),
    ],
)
def test_parse_response_when_open_orders_complete_then_snapshot_for_the_requested_scope(
    query: tuple, rows: list, symbol: str | None
) -> None:
    facts = learn(get("/api/v5/trade/orders-pending", *query), envelope(rows))
    [snapshot] = facts.open_orders
    assert (snapshot.symbol, snapshot.kind, len(snapshot.orders)) == (symbol, "order", len(rows))
    assert facts.orders == ()


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ((), 100),  # a full default page: more may follow
        ((("limit", "2"),), 2),
        ((("instType", "SWAP"),), 1),  # FUTURES orders are not in it
        ((("after", "11"),), 1),
        ((("ordType", "limit"),), 1),
        ((("state", "live"),), 1),
        ((("instId", "BTC-USDT-SWAP,ETH-USDT-SWAP"),), 1),
        ((("instFamily", "BTC-USDT"),), 1),
    ],
)
def test_parse_response_when_open_orders_partial_or_filtered_then_updates_but_no_snapshot(query: tuple,
                                                                                         count: int) -> None:
    rows = [order_row(str(n)) for n in range(count)]
    facts = learn(get("/api/v5/trade/orders-pending", *query), envelope(rows))
    assert facts.open_orders == () and len(facts.orders) == count


@pytest.mark.parametrize(
    ("ord_type", "kinds"),
    [("conditional", ["algo:conditional"]), ("conditional,oco", ["algo:conditional", "algo:oco"]),
     ("move_order_stop", ["algo:move_order_stop"])],
)
def test_parse_response_when_algo_orders_listed_then_one_snapshot_per_listed_type(ord_type: str,
                                                                                 kinds: list) -> None:
    rows = [algo_row()] if "conditional" in ord_type else []
    facts = learn(get("/api/v5/trade/orders-algo-pending", ("ordType", ord_type), ("instId", "BTC-USDT-SWAP")),
                  envelope(rows))
    # an algo order that triggered placed its order among the regular pending ones ("order")
    assert [(s.kind, s.symbol, s.triggers_into) for s in facts.open_orders] == [(k, "BTC-USDT-SWAP", "order")
                                                                               for k in kinds]
    if rows:
        assert facts.open_orders[0].orders == (update("algo:71", "0.02", side=Side.SELL, kind="algo:conditional"),)


async def pending_buy(store: MemoryStore, symbol: str = "BTC-USDT-SWAP") -> str:
    return (await store.exposure(VENUE, ACCOUNT)).get(f"{symbol}|both", {}).get("pending_buy", "0")


def test_parse_response_when_regular_orders_listed_then_algo_orders_stay_pending() -> None:
    async def scenario() -> str:
        store = MemoryStore(clock=lambda: 1_000)
        placed = make_request("POST", "/api/v5/trade/order-algo", {
            "instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "trigger", "sz": "4",
            "triggerPx": "51000", "orderPx": "-1"})
        await store.learn(learn(placed, envelope([{"algoId": "7001", "sCode": "0", "sMsg": ""}])))
        await store.learn(learn(get("/api/v5/trade/orders-pending"), envelope([])))
        await store.learn(learn(get("/api/v5/trade/orders-algo-pending", ("ordType", "conditional")), envelope([])))
        return await pending_buy(store)

    assert asyncio.run(scenario()) == "0.04"


def test_parse_response_when_algo_trigger_listing_empty_then_trigger_order_final_and_its_size_held() -> None:
    # gone from the listing, it triggered (its order may have filled) or was cancelled: held until a position read
    async def scenario() -> str:
        store = MemoryStore(clock=lambda: 1_000)
        placed = make_request("POST", "/api/v5/trade/order-algo", {
            "instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "trigger", "sz": "4",
            "triggerPx": "51000", "orderPx": "-1"})
        await store.learn(learn(placed, envelope([{"algoId": "7001", "sCode": "0", "sMsg": ""}])))
        await store.learn(learn(get("/api/v5/trade/orders-algo-pending", ("ordType", "trigger")), envelope([])))
        view = await store.view(ViewQuery(VENUE, ACCOUNT, ("BTC-USDT-SWAP",), ("algo:7001",)))
        assert view.orders == {}  # final: no longer an open order
        return await pending_buy(store)

    assert asyncio.run(scenario()) == "0.04"


def test_parse_response_when_placed_then_canceled_then_store_pending_held_until_a_position_read() -> None:
    async def scenario() -> list[str]:
        store = MemoryStore(clock=lambda: 1_000)
        seen = []
        placed = make_request("POST", "/api/v5/trade/batch-orders", [leg(sz="5")])
        await store.learn(learn(placed, envelope([ack("611", CID)])))
        seen.append(await pending_buy(store))
        cancel = make_request("POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT-SWAP", "ordId": "611"})
        await store.learn(learn(cancel, envelope([ack("611")])))
        # the answer carries the id only: what the order filled before the cancel reached it is not said
        seen.append(await pending_buy(store))
        read = learn(get("/api/v5/account/positions", ("instId", "BTC-USDT-SWAP")), envelope([position_row(pos="0")]))
        await store.learn(stamped(read, 1_000))  # asked once the cancel's answer was in
        seen.append(await pending_buy(store))
        return seen

    assert asyncio.run(scenario()) == ["0.05", "0.05", "0"]


def position_row(inst_id: str = "BTC-USDT-SWAP", pos: str = "3", pos_side: str = "net", **extra: str) -> dict:
    row = {"instId": inst_id, "instType": "SWAP", "mgnMode": "cross", "posSide": pos_side, "pos": pos,
           "avgPx": "49000", "markPx": "50000", "lever": "10", "notionalUsd": "1500"}
    row.update(extra)
    return row


def test_parse_response_when_net_positions_then_signed_base_units_and_marks() -> None:
    rows = [position_row(pos="3"), position_row("ETH-USDT-SWAP", pos="-12", markPx="3000")]

    facts = learn(get("/api/v5/account/positions"), envelope(rows))

    assert facts.positions == (PositionsReport(VENUE, ACCOUNT, None, (
        ("BTC-USDT-SWAP", PositionSide.BOTH, D("0.03")), ("ETH-USDT-SWAP", PositionSide.BOTH, D("-1.2")))),)
    assert facts.prices == (PriceUpdate(VENUE, "BTC-USDT-SWAP", D("50000"), "mark"),
                            PriceUpdate(VENUE, "ETH-USDT-SWAP", D("3000"), "mark"))


def test_parse_response_when_hedge_positions_for_requested_instrument_then_every_side_reported() -> None:
    rows = [position_row(pos="2", pos_side="long"), position_row(pos="5", pos_side="short")]

    facts = learn(get("/api/v5/account/positions", ("instId", "BTC-USDT-SWAP")), envelope(rows))

    assert facts.positions == (PositionsReport(VENUE, ACCOUNT, "BTC-USDT-SWAP", (
        ("BTC-USDT-SWAP", PositionSide.BOTH, D(0)), ("BTC-USDT-SWAP", PositionSide.LONG, D("0.02")),
        ("BTC-USDT-SWAP", PositionSide.SHORT, D("-0.05")))),)


def test_parse_response_when_requested_instruments_have_no_position_then_flat_reported() -> None:
    facts = learn(get("/api/v5/account/positions", ("instId", "BTC-USDT-SWAP,ETH-USDT-SWAP")), envelope([]))
    assert [(r.symbol, {q for _, _, q in r.positions}) for r in facts.positions] == [
        ("BTC-USDT-SWAP", {D(0)}), ("ETH-USDT-SWAP", {D(0)})]


@pytest.mark.parametrize("inst_id", [" BTC-USDT-SWAP", "BTC-USDT-SWAP\t", "\u00a0BTC-USDT-SWAP", "BTC-USDT-SWAP, "])
def test_parse_response_when_a_requested_instrument_is_padded_then_nothing_reported_flat(inst_id: str) -> None:
    # OKX looks the padded id up as given and lists nothing: that says nothing of BTC-USDT-SWAP
    facts = learn(get("/api/v5/account/positions", ("instId", inst_id)), envelope([]))
    assert facts.positions == ()


def test_parse_response_when_cross_and_isolated_on_one_instrument_then_added() -> None:
    rows = [position_row(pos="3"), position_row(pos="2", mgnMode="isolated")]
    [report] = learn(get("/api/v5/account/positions"), envelope(rows)).positions
    assert report.positions == (("BTC-USDT-SWAP", PositionSide.BOTH, D("0.05")),)


def test_parse_response_when_inverse_position_then_usd_over_mark() -> None:
    rows = [position_row("BTC-USD-SWAP", pos="-10", markPx="40000")]
    [report] = learn(get("/api/v5/account/positions"), envelope(rows)).positions
    assert report.positions == (("BTC-USD-SWAP", PositionSide.BOTH, D("-0.025")),)


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ((("instType", "SWAP"),), [position_row()]),
        ((), [position_row(), position_row("NOPE-USDT-SWAP")]),  # one row could not be converted
        ((("instId", "BTC-USDT-SWAP"),), [position_row(), position_row(pos="x")]),
        ((("posId", "123"),), [position_row()]),
    ],
)
def test_parse_response_when_positions_filtered_or_partly_unreadable_then_never_account_wide(
    query: tuple, rows: list
) -> None:
    facts = learn(get("/api/v5/account/positions", *query), envelope(rows))
    assert all(report.symbol is not None for report in facts.positions)
    assert [r.positions for r in facts.positions] == [(("BTC-USDT-SWAP", PositionSide.BOTH, D("0.03")),)]


def test_parse_response_when_margin_and_option_positions_listed_then_skipped() -> None:
    rows = [position_row(), {**position_row("BTC-USDT"), "instType": "MARGIN"},
            {**position_row("BTC-USD-250627-50000-C"), "instType": "OPTION"}]
    [report] = learn(get("/api/v5/account/positions"), envelope(rows)).positions
    assert report.symbol is None and report.positions == (("BTC-USDT-SWAP", PositionSide.BOTH, D("0.03")),)


PRICE_CASES = [
    ("/api/v5/public/mark-price", [{"instId": "BTC-USDT-SWAP", "instType": "SWAP", "markPx": "50001.2"}],
     PriceUpdate(VENUE, "BTC-USDT-SWAP", D("50001.2"), "mark")),
    ("/api/v5/market/ticker", [{"instId": "ETH-USDT-SWAP", "last": "3001.5", "askPx": "3001.6"}],
     PriceUpdate(VENUE, "ETH-USDT-SWAP", D("3001.5"), "last")),
    ("/api/v5/market/tickers", [{"instId": "SOL-USDT-SWAP", "last": "150.25"}, {"instId": "X", "last": "1"},
                                {"instId": "DOGE-USDT-SWAP", "last": "1e3"}],
     PriceUpdate(VENUE, "SOL-USDT-SWAP", D("150.25"), "last")),
]


@pytest.mark.parametrize(("path", "rows", "price"), PRICE_CASES)
def test_parse_response_when_public_price_endpoint_then_price_updates(path: str, rows: list,
                                                                     price: PriceUpdate) -> None:
    request = make_request("GET", path, api_key=None)
    assert learn(request, envelope(rows)).prices == (price,)


def test_parse_response_when_instruments_listed_then_contract_sizes_and_unified_symbols() -> None:
    rows = [
        instrument_row("ADA-USDT-SWAP"),
        instrument_row("BTC-USD-SWAP", family="BTC-USD", settle="BTC", ct_val="100", ct_val_ccy="USD",
                       ct_type="inverse"),
        instrument_row("BTC-USDT-250627", inst_type="FUTURES", family="BTC-USDT", ct_val="0.01", ct_val_ccy="BTC"),
        instrument_row("ETH-USDC-SWAP", family="ETH-USDC", settle="USDC", ct_val="0.001", ct_val_ccy="ETH",
                       ct_mult=""),
        # not learned: a spot row, a value counted in a third currency, no ctVal, a malformed id, a bad type
        {"instId": "BTC-USDT", "instType": "SPOT", "baseCcy": "BTC", "quoteCcy": "USDT"},
        instrument_row("ODD-USDT-SWAP", family="ODD-USDT", ct_val_ccy="XYZ"),
        instrument_row("NOVAL-USDT-SWAP", family="NOVAL-USDT", ct_val="", ct_val_ccy="NOVAL"),
        instrument_row("bad id", family="BAD-USDT", ct_val_ccy="BAD"),
        instrument_row("LIN-USDT-SWAP", family="LIN-USDT", ct_val_ccy="LIN", ct_type="inverse"),
    ]

    facts = learn_instruments(*rows)

    assert facts.instruments == (
        Instrument(VENUE, "ADA-USDT-SWAP", "ADA/USDT:USDT", D("100")),
        Instrument(VENUE, "BTC-USD-SWAP", "BTC/USD:BTC", D("100"), quote_sized=True),
        Instrument(VENUE, "BTC-USDT-250627", "BTC/USDT:USDT-250627", D("0.01")),
        Instrument(VENUE, "ETH-USDC-SWAP", "ETH/USDC:USDC", D("0.001")),
    )
    assert facts.empty  # instrument facts are for the catalog, not the store


LEARNING_REQUESTS = [
    ("POST", "/api/v5/trade/order", leg(), (), envelope([ack("1", CID)])),
    ("POST", "/api/v5/trade/cancel-order", {"instId": "BTC-USDT-SWAP", "ordId": "1"}, (), envelope([ack("1")])),
    ("GET", "/api/v5/trade/orders-pending", None, (), envelope([order_row()])),
    ("GET", "/api/v5/account/positions", None, (), envelope([position_row()])),
    ("GET", "/api/v5/public/mark-price", None, (), envelope([{"instId": "BTC-USDT-SWAP", "markPx": "1"}])),
    ("GET", "/api/v5/public/instruments", None, (("instType", "SWAP"),), envelope([instrument_row("ADA-USDT-SWAP")])),
]


NOT_200 = [201, 400, 401, 429, 500, 503]


@pytest.mark.parametrize(("status", "method", "path", "body", "query", "answer"), in_turn(NOT_200, LEARNING_REQUESTS))
def test_parse_response_when_status_not_200_then_nothing_learned(
    status: int, method: str, path: str, body: Any, query: tuple, answer: bytes
) -> None:
    request = make_request(method, path, body, query=query)
    assert learn(request, answer, status) == ResponseFacts()
    assert learn(request, answer, 200) != ResponseFacts()  # the same answer with 200 does teach


JUNK_BODIES = [b"", b"not json", b"[]", b'{"code":"0"}', b'{"code":"0","data":{}}', b'{"code":"1","data":[{}]}',
               b'{"code":"50026","msg":"System error","data":[]}', b"null", b'"ok"']


@pytest.mark.parametrize(
    ("body", "method", "path", "request_body", "query", "answer"), in_turn(JUNK_BODIES, LEARNING_REQUESTS)
)
def test_parse_response_when_body_is_junk_then_nothing_learned(
    body: bytes, method: str, path: str, request_body: Any, query: tuple, answer: bytes
) -> None:
    request = make_request(method, path, request_body, query=query)
    assert learn(request, body) == ResponseFacts()


@pytest.mark.parametrize(
    "rows",
    [[None, "x", 1], [{"instId": "BTC-USDT-SWAP"}], [order_row(side="BUY")], [order_row(sz="-3")],
     [order_row(ordId=None)]],
)
def test_parse_response_when_rows_hold_junk_then_junk_skipped(rows: list) -> None:
    facts = learn(get("/api/v5/trade/order", ("instId", "BTC-USDT-SWAP")), envelope(rows))
    assert facts.orders == ()


def test_parse_response_when_request_had_no_api_key_then_no_account_facts() -> None:
    request = make_request("GET", "/api/v5/account/positions", api_key=None)
    assert learn(request, envelope([position_row()])) == ResponseFacts()


def test_parse_response_when_query_key_repeats_then_nothing_learned() -> None:
    request = get("/api/v5/trade/orders-pending", ("instId", "BTC-USDT-SWAP"), ("instId", "ETH-USDT-SWAP"))
    assert learn(request, envelope([])) == ResponseFacts()


def test_parse_response_when_path_disguised_then_learned_like_real_path() -> None:
    request = get("/API/v5/trade//orders-pending/", ("instId", "BTC-USDT-SWAP"))
    assert learn(request, envelope([])).open_orders == (OpenOrdersSnapshot(VENUE, ACCOUNT, "BTC-USDT-SWAP", ()),)


# ---- 6. rejections → native body → the real ccxt and python-okx ------------------------------------------------

EXPECTED_CCXT_CLASS: dict[Reason, type[Exception]] = {
    Reason.SYMBOL_NOT_ALLOWED: ccxt.BadSymbol,
    Reason.ORDER_TYPE_NOT_ALLOWED: ccxt.InvalidOrder,
    Reason.LEVERAGE_EXCEEDS_MAX: ccxt.BadRequest,
    Reason.ORDER_QTY_EXCEEDS_MAX: ccxt.InvalidOrder,
    Reason.ORDER_NOTIONAL_EXCEEDS_MAX: ccxt.InvalidOrder,
    Reason.POSITION_EXCEEDS_MAX: ccxt.InvalidOrder,
    Reason.ORDER_RATE_EXCEEDED: ccxt.RateLimitExceeded,
    Reason.TRADING_HALTED: ccxt.PermissionDenied,
    Reason.TRADING_REDUCING: ccxt.PermissionDenied,
    Reason.ACTION_FORBIDDEN: ccxt.PermissionDenied,
    Reason.UNKNOWN_ACCOUNT: ccxt.PermissionDenied,
    Reason.UNKNOWN_ENDPOINT: ccxt.PermissionDenied,
    Reason.PARSE_FAILED: ccxt.InvalidOrder,
    Reason.STATE_UNAVAILABLE: ccxt.InvalidOrder,
    Reason.PRICE_UNKNOWN: ccxt.InvalidOrder,
    Reason.PRICE_OUTSIDE_COLLAR: ccxt.InvalidOrder,
    Reason.MARGIN_MODE_NOT_ALLOWED: ccxt.BadRequest,
    Reason.DUPLICATE_ORDER: ccxt.InvalidOrder,
    Reason.OPEN_ORDERS_EXCEED_MAX: ccxt.InvalidOrder,
    Reason.DAILY_NOTIONAL_EXCEEDS_MAX: ccxt.InvalidOrder,
    Reason.GROSS_EXPOSURE_EXCEEDS_MAX: ccxt.InvalidOrder,
    Reason.EQUITY_UNKNOWN: ccxt.InvalidOrder,
    Reason.POLICY_UNAVAILABLE: ccxt.InvalidOrder,
    Reason.INTERNAL_ERROR: ccxt.InvalidOrder,
}

EXPECTED_CODE: dict[Reason, tuple[str, bool]] = {  # (OKX code, answered in the order-operation shape)
    Reason.SYMBOL_NOT_ALLOWED: ("51001", True),
    Reason.ORDER_TYPE_NOT_ALLOWED: ("51004", True),
    Reason.LEVERAGE_EXCEEDS_MAX: ("51000", False),
    Reason.ORDER_QTY_EXCEEDS_MAX: ("51203", True),
    Reason.ORDER_NOTIONAL_EXCEEDS_MAX: ("51185", True),
    Reason.POSITION_EXCEEDS_MAX: ("51129", True),
    Reason.ORDER_RATE_EXCEEDED: ("50011", True),
    Reason.TRADING_HALTED: ("50027", True),
    Reason.TRADING_REDUCING: ("50027", True),
    Reason.ACTION_FORBIDDEN: ("50027", False),
    Reason.UNKNOWN_ACCOUNT: ("50027", False),
    Reason.UNKNOWN_ENDPOINT: ("50027", False),
    Reason.PARSE_FAILED: ("51004", True),
    Reason.STATE_UNAVAILABLE: ("51004", True),
    Reason.PRICE_UNKNOWN: ("51004", True),
    Reason.PRICE_OUTSIDE_COLLAR: ("51006", True),
    Reason.MARGIN_MODE_NOT_ALLOWED: ("51000", True),  # an order's tdMode; a setting is answered top-level
    Reason.DUPLICATE_ORDER: ("51004", True),
    Reason.OPEN_ORDERS_EXCEED_MAX: ("51174", True),
    Reason.DAILY_NOTIONAL_EXCEEDS_MAX: ("51004", True),
    Reason.GROSS_EXPOSURE_EXCEEDS_MAX: ("51004", True),
    Reason.EQUITY_UNKNOWN: ("51004", True),
    Reason.POLICY_UNAVAILABLE: ("51004", True),
    Reason.INTERNAL_ERROR: ("51004", True),
}

VIOLATIONS: dict[Reason, Violation] = {
    Reason.SYMBOL_NOT_ALLOWED: Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, symbol="DOGE-USDT-SWAP"),
    Reason.ORDER_TYPE_NOT_ALLOWED: Violation.of("order-types", Reason.ORDER_TYPE_NOT_ALLOWED,
                                                order_type="OPTIMAL_LIMIT_IOC"),
    Reason.LEVERAGE_EXCEEDS_MAX: Violation.of("max-leverage", Reason.LEVERAGE_EXCEEDS_MAX, leverage=D(50),
                                              max_leverage=D(20), symbol="BTC-USDT-SWAP"),
    Reason.ORDER_QTY_EXCEEDS_MAX: Violation.of("max-order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, qty=D("5"),
                                               max_qty=D("1"), symbol="BTC-USDT-SWAP"),
    Reason.ORDER_NOTIONAL_EXCEEDS_MAX: Violation.of("max-notional", Reason.ORDER_NOTIONAL_EXCEEDS_MAX,
                                                    notional=D("250000"), max_notional=D("100000"), qty=D("5"),
                                                    price=D("50000"), symbol="BTC-USDT-SWAP"),
    Reason.POSITION_EXCEEDS_MAX: Violation.of("max-position", Reason.POSITION_EXCEEDS_MAX, position=D("3.5"),
                                              max_position=D("2"), symbol="BTC-USDT-SWAP", side="buy",
                                              position_side="both"),
    Reason.ORDER_RATE_EXCEEDED: Violation.of("order-rate", Reason.ORDER_RATE_EXCEEDED, orders=11, limit=10,
                                             window_ms=10000),
    Reason.TRADING_HALTED: Violation("riskwall.kill-switch", Reason.TRADING_HALTED, (
        ("state", "HALTED"), ("action", "new"), ("scope", "global"), ("reason", "operator halt"))),
    Reason.TRADING_REDUCING: Violation("riskwall.kill-switch", Reason.TRADING_REDUCING, (
        ("state", "REDUCING"), ("action", "amend"), ("scope", "venue=okx"), ("reason", "drawdown"))),
    Reason.ACTION_FORBIDDEN: Violation.of("riskwall.forbidden-endpoint", Reason.ACTION_FORBIDDEN,
                                          endpoint="POST /api/v5/asset/withdrawal"),
    Reason.UNKNOWN_ACCOUNT: Violation.of("riskwall.known-accounts", Reason.UNKNOWN_ACCOUNT, account="ba7816bf8f01"),
    Reason.UNKNOWN_ENDPOINT: Violation.of("riskwall.unknown-endpoint", Reason.UNKNOWN_ENDPOINT,
                                          endpoint="POST /api/v5/trade/something-new"),
    Reason.PARSE_FAILED: Violation.of("riskwall.parse", Reason.PARSE_FAILED,
                                      error="contract value of ADA-USDT-SWAP unknown"),
    Reason.STATE_UNAVAILABLE: Violation.of("riskwall.state-store", Reason.STATE_UNAVAILABLE, error="timeout"),
    Reason.PRICE_OUTSIDE_COLLAR: Violation.of("price-collar", Reason.PRICE_OUTSIDE_COLLAR, price=D("60000"),
                                              reference=D("50000"), deviation_pct=D("20"), max_deviation_pct=D("5"),
                                              max_price=D("52500"), side="buy", price_kind="limit",
                                              symbol="BTC-USDT-SWAP"),
    Reason.MARGIN_MODE_NOT_ALLOWED: Violation.of("margin-mode", Reason.MARGIN_MODE_NOT_ALLOWED, margin_mode="CROSSED",
                                                 allowed="ISOLATED", action="new", symbol="BTC-USDT-SWAP"),
    Reason.DUPLICATE_ORDER: Violation.of("duplicates", Reason.DUPLICATE_ORDER, orders=2, limit=1, window_ms=1000,
                                         ago_ms=340, duplicate_of="3f2a9c", symbol="BTC-USDT-SWAP", side="buy",
                                         qty=D("0.1"), price=D("50000")),
    Reason.OPEN_ORDERS_EXCEED_MAX: Violation.of("open-orders", Reason.OPEN_ORDERS_EXCEED_MAX, open_orders=51,
                                                max_open_orders=50, scope="symbol", symbol="BTC-USDT-SWAP"),
    Reason.DAILY_NOTIONAL_EXCEEDS_MAX: Violation.of("daily-notional", Reason.DAILY_NOTIONAL_EXCEEDS_MAX,
                                                    daily_notional=D("1000100"), max_daily_notional=D("1000000"),
                                                    notional=D("5000"), scope="account", symbol="BTC-USDT-SWAP"),
    Reason.GROSS_EXPOSURE_EXCEEDS_MAX: Violation.of("gross-exposure", Reason.GROSS_EXPOSURE_EXCEEDS_MAX,
                                                    gross_exposure=D("260000"), max_gross_exposure=D("250000"),
                                                    symbol="BTC-USDT-SWAP"),
    Reason.EQUITY_UNKNOWN: Violation.of("daily-loss", Reason.EQUITY_UNKNOWN, account="ba7816bf8f01",
                                        error="no equity read today: read the balance through the sidecar"),
    Reason.PRICE_UNKNOWN: Violation.of("max-notional", Reason.PRICE_UNKNOWN, symbol="BTC-USDT-SWAP"),
    Reason.POLICY_UNAVAILABLE: Violation.of("riskwall.policy", Reason.POLICY_UNAVAILABLE),
    Reason.INTERNAL_ERROR: Violation.of("riskwall.internal", Reason.INTERNAL_ERROR, error="KeyError"),
}

CCXT_URLS = [
    "https://www.okx.com/api/v5/trade/batch-orders",  # explicit proxy: ccxt sees the real URL
    "http://127.0.0.1:8081/api/v5/trade/batch-orders",  # reverse listener: a custom base URL
]


def blocked(*violations: Violation) -> Decision:
    return Decision(Verdict.BLOCK, DECISION_ID, "rev-1", violations)


@pytest.fixture(scope="module")
def okx_ccxt() -> ccxt.Exchange:
    return ccxt.okx({"apiKey": API_KEY, "secret": "s" * 32, "password": PASSPHRASE})


def ccxt_exception(exchange: ccxt.Exchange, status: int, headers: dict[str, str], body: bytes, url: str) -> Exception:
    """What the sync ccxt `fetch()` raises for this answer (base/exchange.py): handle_errors(...) for every
    response, then for status >= 400 handle_http_status_code(...); a 2xx that passes both is not an error."""
    text = body.decode("utf-8").strip()
    json_response = exchange.parse_json(text)
    request_headers = {"OK-ACCESS-KEY": API_KEY, "Content-Type": JSON}
    try:
        skip = exchange.handle_errors(status, "OK", url, "POST", CaseInsensitiveDict(headers), text, json_response,
                                      request_headers, '[{"instId":"BTC-USDT-SWAP"}]')
        if not skip and status >= 400:
            exchange.handle_http_status_code(status, "Error", url, "POST", text)
        raise AssertionError("ccxt accepted the rejection as a success")
    except ccxt.BaseError as exc:
        return exc


@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_blocked_then_okx_shape_with_code_and_message(reason: Reason) -> None:
    rejection = ADAPTER.rejection(blocked(VIOLATIONS[reason]))

    code, order_shaped = EXPECTED_CODE[reason]
    assert rejection.status == (429 if reason is Reason.ORDER_RATE_EXCEEDED else 200)
    assert dict(rejection.headers).get("content-type") == "application/json"
    payload = orjson.loads(rejection.body)
    assert isinstance(payload["msg"], str) and str(reason) in payload["msg"]
    assert VIOLATIONS[reason].rule_id in payload["msg"]
    if order_shaped:
        assert payload["code"] == "1"
        [entry] = payload["data"]
        assert set(entry) == {"clOrdId", "ordId", "sCode", "sMsg", "tag", "ts"}
        assert entry["sCode"] == code and str(reason) in entry["sMsg"]
        assert set(payload) == {"code", "msg", "data", "inTime", "outTime"}
    else:
        assert payload == {"code": code, "msg": payload["msg"], "data": []}
    assert violation_code(VIOLATIONS[reason]) == code


def test_rejection_table_covers_every_reason() -> None:
    assert set(EXPECTED_CCXT_CLASS) == set(Reason) == set(VIOLATIONS) == set(EXPECTED_CODE)


@pytest.mark.parametrize("url", CCXT_URLS)
@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_real_ccxt_reads_it_then_expected_exception_class(
    okx_ccxt: ccxt.Exchange, reason: Reason, url: str
) -> None:
    rejection = ADAPTER.rejection(blocked(VIOLATIONS[reason]))

    exc = ccxt_exception(okx_ccxt, rejection.status, dict(rejection.headers), rejection.body, url)

    assert type(exc) is EXPECTED_CCXT_CLASS[reason], f"{type(exc).__name__}: {exc}"
    assert str(reason) in str(exc)
    if reason is not Reason.ORDER_RATE_EXCEEDED:
        assert not isinstance(exc, ccxt.NetworkError)


def test_rejection_when_decision_has_no_violation_then_invalid_order(okx_ccxt: ccxt.Exchange) -> None:
    rejection = ADAPTER.rejection(blocked())
    exc = ccxt_exception(okx_ccxt, rejection.status, dict(rejection.headers), rejection.body, CCXT_URLS[0])
    assert type(exc) is ccxt.InvalidOrder


def test_rejection_when_batch_leg_blocked_then_first_violation_decides(okx_ccxt: ccxt.Exchange) -> None:
    decision = blocked(Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, 1, symbol="DOGE-USDT-SWAP"),
                       VIOLATIONS[Reason.ORDER_QTY_EXCEEDS_MAX])

    rejection = ADAPTER.rejection(decision)

    assert orjson.loads(rejection.body)["data"][0]["sCode"] == "51001"
    exc = ccxt_exception(okx_ccxt, rejection.status, dict(rejection.headers), rejection.body, CCXT_URLS[1])
    assert type(exc) is ccxt.BadSymbol


@pytest.mark.parametrize(
    ("action", "reason", "error"),
    [("set_leverage", Reason.TRADING_HALTED, ccxt.PermissionDenied),
     ("set_position_mode", Reason.TRADING_REDUCING, ccxt.PermissionDenied),
     ("new", Reason.TRADING_HALTED, ccxt.PermissionDenied)],
)
def test_rejection_when_kill_switch_refuses_account_setting_then_not_order_shaped(
    okx_ccxt: ccxt.Exchange, action: str, reason: Reason, error: type[Exception]
) -> None:
    violation = Violation("riskwall.kill-switch", reason, (("state", "HALTED"), ("action", action)))

    rejection = ADAPTER.rejection(blocked(violation))

    payload = orjson.loads(rejection.body)
    assert (payload["code"] == "1") is (action == "new")
    exc = ccxt_exception(okx_ccxt, rejection.status, dict(rejection.headers), rejection.body, CCXT_URLS[0])
    assert type(exc) is error


# ccxt reads `sMsg` broadly for "Internal Server Error" / "server error" (both → ExchangeNotAvailable, a network
# error). Rule ids come from the user's policy and halt reasons from the operator.
@pytest.mark.parametrize("word", ["server error", "Internal Server Error", "SERVER ERROR"])
@pytest.mark.parametrize("reason", [Reason.TRADING_HALTED, Reason.ORDER_QTY_EXCEEDS_MAX, Reason.ACTION_FORBIDDEN])
def test_rejection_when_rule_or_reason_holds_ccxt_keyword_then_class_unchanged(
    okx_ccxt: ccxt.Exchange, word: str, reason: Reason
) -> None:
    violation = VIOLATIONS[reason]
    steered = Violation(f"desk-{word}", violation.reason, (*violation.context, ("note", word)), violation.leg)

    rejection = ADAPTER.rejection(blocked(steered))

    assert word not in rejection.body.decode()
    exc = ccxt_exception(okx_ccxt, rejection.status, dict(rejection.headers), rejection.body, CCXT_URLS[1])
    assert type(exc) is EXPECTED_CCXT_CLASS[reason]
    # without the rejection's own exact code the phrase alone would have steered ccxt to a network error
    unguarded = orjson.dumps({"code": "1", "msg": "", "data": [{"sCode": "99999", "sMsg": word}]})
    assert isinstance(ccxt_exception(okx_ccxt, 200, {}, unguarded, CCXT_URLS[1]), ccxt.NetworkError) is (
        word != "SERVER ERROR")


@pytest.mark.parametrize("url", CCXT_URLS)
@pytest.mark.parametrize(
    "reason", [Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_QTY_EXCEEDS_MAX, Reason.TRADING_HALTED,
               Reason.ORDER_RATE_EXCEEDED, Reason.LEVERAGE_EXCEEDS_MAX, Reason.ACTION_FORBIDDEN],
)
def test_rejection_when_sent_through_ccxt_fetch_then_same_class(
    okx_ccxt: ccxt.Exchange, monkeypatch: pytest.MonkeyPatch, reason: Reason, url: str
) -> None:
    """The same answer through ccxt's real sync `fetch()`, with only the HTTP session stubbed."""
    rejection = ADAPTER.rejection(blocked(VIOLATIONS[reason]))

    def answer(method: str, url_: str, **_: object) -> requests.Response:
        response = requests.Response()
        response.status_code = rejection.status
        response.reason = "OK" if rejection.status == 200 else "Too Many Requests"
        response.url = url_
        response._content = rejection.body
        response.headers = CaseInsensitiveDict(dict(rejection.headers))
        return response

    monkeypatch.setattr(okx_ccxt.session, "request", answer)

    with pytest.raises(ccxt.BaseError) as caught:
        okx_ccxt.fetch(url, "POST", {"OK-ACCESS-KEY": API_KEY, "Content-Type": JSON}, "[]")

    assert type(caught.value) is EXPECTED_CCXT_CLASS[reason]
    if reason is not Reason.ORDER_RATE_EXCEEDED:
        assert not isinstance(caught.value, ccxt.NetworkError)


def sdk_client(api: Any, rejection_status: int, rejection_body: bytes, seen: list[httpx.Request]) -> Any:
    """A real python-okx client whose httpx transport answers with the rejection (nothing else stubbed)."""
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(rejection_status, content=rejection_body, headers={"content-type": JSON})

    api._transport = httpx.MockTransport(handler)
    api._mounts = {}
    return api


@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_python_okx_reads_it_then_returns_okx_error_payload_without_raising(reason: Reason) -> None:
    """python-okx raises on no business error (okxclient._request returns `response.json()` whatever the status):
    a bot sees the block as OKX's own failure shape, `code` not "0" with the per-order `sCode`."""
    rejection = ADAPTER.rejection(blocked(VIOLATIONS[reason]))
    seen: list[httpx.Request] = []
    code, order_shaped = EXPECTED_CODE[reason]

    if order_shaped:
        trade = sdk_client(OkxTrade.TradeAPI(API_KEY, "s" * 32, PASSPHRASE, flag="0"), rejection.status,
                           rejection.body, seen)
        result = trade.place_order(instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="limit", sz="2",
                                   px="49000")
        assert result["code"] == "1" and result["data"][0]["sCode"] == code
        assert str(reason) in result["data"][0]["sMsg"]
    else:
        account = sdk_client(OkxAccount.AccountAPI(API_KEY, "s" * 32, PASSPHRASE, flag="0"), rejection.status,
                             rejection.body, seen)
        result = account.set_leverage(lever="50", mgnMode="cross", instId="BTC-USDT-SWAP")
        assert result == {"code": code, "msg": result["msg"], "data": []}
        assert str(reason) in result["msg"]
    [request] = seen
    assert request.url.path.startswith("/api/v5/")


def test_rejection_when_python_okx_batch_blocked_then_failure_code_not_success() -> None:
    rejection = ADAPTER.rejection(blocked(VIOLATIONS[Reason.ORDER_QTY_EXCEEDS_MAX]))
    seen: list[httpx.Request] = []
    trade = sdk_client(OkxTrade.TradeAPI(API_KEY, "s" * 32, PASSPHRASE, flag="0"), rejection.status, rejection.body,
                       seen)

    result = trade.place_multiple_orders([sdk_leg(), sdk_leg(sz="900")])

    # "1" = all operations failed: a bot that checks code "0"/"2" and each sCode sees nothing placed
    assert result["code"] == "1"
    assert all(entry["sCode"] != "0" for entry in result["data"])


def test_rejection_when_python_okx_request_replayed_through_adapter_then_same_bytes_parse() -> None:
    """What python-okx actually puts on the wire (its own json.dumps, its headers) parses to the same intent."""
    seen: list[httpx.Request] = []
    ok = orjson.dumps({"code": "0", "msg": "", "data": [ack("1")]})
    trade = sdk_client(OkxTrade.TradeAPI(API_KEY, "s" * 32, PASSPHRASE, flag="0"), 200, ok, seen)
    trade.place_order(instId="ETH-USDT-SWAP", tdMode="cross", side="sell", ordType="market", sz="3",
                      reduceOnly=True)

    [sent] = seen
    headers = {k.lower(): v for k, v in sent.headers.items()}
    request = HttpRequest("POST", "www.okx.com", 443, sent.url.raw_path.decode(), (), headers, sent.content)
    [got] = parse(request).intents
    assert (got.symbol, got.side, got.quantity, got.reduce_only, got.order_type) == (
        "ETH-USDT-SWAP", Side.SELL, D("0.3"), True, "MARKET")
    assert sent.content.startswith(b'{"instId": "ETH-USDT-SWAP", ')  # python-okx's default separators, unchanged


def test_position_key_when_okx_intent_then_native_instrument_id() -> None:
    [got] = post("/api/v5/trade/order", leg(posSide="long")).intents
    assert engine.position_key(got, ACCOUNT) == PositionKey(VENUE, ACCOUNT, "BTC-USDT-SWAP", PositionSide.LONG)


def test_parse_request_when_key_header_repeated_then_error_and_never_passes() -> None:
    request = make_request("POST", "/api/v5/trade/order", leg())
    request = HttpRequest(request.method, request.host, request.port, request.path, request.query,
                          {**request.headers, "ok-access-key": f"{API_KEY}, other-key"}, request.body,
                          repeated_headers=frozenset({"ok-access-key"}))

    parsed = parse(request)

    assert (parsed.action, parsed.intents, parsed.error) == (Action.NEW, (), "OK-ACCESS-KEY is given twice")


def test_endpoints_when_listed_then_every_order_endpoint_with_its_action() -> None:
    endpoints = ADAPTER.endpoints
    assert endpoints[("POST", "/api/v5/trade/batch-orders")] is Action.NEW
    assert endpoints[("POST", "/api/v5/trade/close-position")] is Action.NEW
    assert endpoints[("POST", "/api/v5/trade/amend-batch-orders")] is Action.AMEND
    assert endpoints[("POST", "/api/v5/trade/cancel-algos")] is Action.CANCEL
    assert endpoints[("POST", "/api/v5/account/set-leverage")] is Action.SET_LEVERAGE
    assert all(path == path.lower() and method == "POST" for method, path in endpoints)


@pytest.mark.parametrize(("state", "final", "fills_elsewhere"), [
    ("live", False, None),
    ("partially_effective", False, None),
    ("effective", True, "order"),  # triggered: the order it placed holds the fills, which this row does not carry
    ("canceled", True, None),
])
def test_order_update_when_algo_order_reported_then_an_effective_one_says_its_fills_are_elsewhere(
    state: str, final: bool, fills_elsewhere: str | None
) -> None:
    row = {"instId": "BTC-USDT-SWAP", "algoId": "7", "side": "buy", "posSide": "net", "sz": "3", "ordType": "trigger",
           "state": state, "actualSz": "3", "triggerPx": "50000", "orderPx": "-1"}

    got = order_update(row, ACCOUNT, is_algo=True)

    assert got is not None
    assert (got.order_id, got.final, got.executed, got.fills_elsewhere) == ("algo:7", final, 0, fills_elsewhere)


@pytest.mark.parametrize(("state", "final", "filled"), [
    ("live", False, "0"),
    ("partially_filled", False, "0.1"),  # an algo order's states would read this as ended, with nothing filled
    ("filled", True, "0.3"),
])
def test_order_update_when_a_regular_order_carries_the_algo_id_that_placed_it_then_it_is_read_as_itself(
    state: str, final: bool, filled: str
) -> None:
    # OKX stamps the order a triggered algo order (or an iceberg's slice) places with that algo order's algoId: it
    # is a regular order all the same, with its ordId, fills and states (read as the algo order, its fills were lost)
    row = {"instId": "BTC-USDT-SWAP", "ordId": "55", "algoId": "7", "algoClOrdId": "", "side": "buy",
           "posSide": "net", "sz": "30", "accFillSz": str(Decimal(filled) * 100), "ordType": "limit", "px": "49000",
           "state": state}

    got = order_update(row, ACCOUNT, is_algo=False)

    assert got is not None
    assert (got.order_id, got.kind, got.final, got.executed) == ("55", "order", final, Decimal(filled))
