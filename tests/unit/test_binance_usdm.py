"""Golden tests of the Binance USDⓈ-M adapter (`riskwall.venues.binance_usdm.ADAPTER`).

Facts under test come from docs/venues.md §0 and §1.1-§1.6: parameters travel in the query string
(official SDKs) or in an `application/x-www-form-urlencoded` body (ccxt), or both; rejections must make the
real ccxt raise an order-class exception on a real fapi URL and on a custom base URL alike. The request cases
take the three placements (query, form body, half and half: the venue signs their concatenation) in turn: where
a parameter sits and what it holds are independent, so every case runs once and every placement many times.

Response bodies live in tests/fixtures/binance_usdm/responses.json.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest.mock import ANY
from urllib.parse import urlencode

import ccxt
import orjson
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from riskwall.instruments import derive_linear_unified
from riskwall.model import (
    Action,
    ClosedOrder,
    Decision,
    EquityUpdate,
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
    Venue,
    Verdict,
    Violation,
    fingerprint,
)
from riskwall.state.memory import MemoryStore
from riskwall.venues.base import MAX_BODY_BYTES, HttpRequest, screen
from riskwall.venues.binance_usdm import ADAPTER

from .factories import in_turn

D = Decimal
VENUE = Venue.BINANCEUSDM
FORM = "application/x-www-form-urlencoded"
RESPONSES: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "binance_usdm" / "responses.json").read_text()
)

# Binance's own documentation sample key and signature: realistic shapes, no real credentials.
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
ACCOUNT = fingerprint(API_KEY)
SIGNED = (("timestamp", "1700000000000"), ("recvWindow", "10000"), ("signature", SIGNATURE))
STYLES = ("query", "form", "mixed")
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"

ORDER = "POST /fapi/v1/order"
ALGO = "POST /fapi/v1/algoorder"
BATCH = "POST /fapi/v1/batchorders"
AMEND = "PUT /fapi/v1/order"
AMEND_BATCH = "PUT /fapi/v1/batchorders"
CID = "x-cvBPrNm9a1b2c3d4e5f6a7b8c9d0e1f2"  # ccxt's USDⓈ-M broker prefix + 22 hex, 32 characters


# ---- helpers ---------------------------------------------------------------------------------------------


def make_request(
    method: str,
    path: str,
    params: dict[str, str] | list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
    *,
    style: str = "query",
    signed: bool = True,
    api_key: str | None = API_KEY,
    body: bytes | None = None,
    content_type: str | None = FORM,
    host: str = "fapi.binance.com",
) -> HttpRequest:
    """An HttpRequest as the addon builds it: path with its query string, decoded query pairs, lower-case
    header names. `style` places the parameters like the official SDKs (query), ccxt (form) or both."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    if signed:
        pairs += list(SIGNED)
    if style == "query":
        query, form = pairs, []
    elif style == "form":
        query, form = [], pairs
    elif style == "mixed":
        half = len(pairs) // 2
        query, form = pairs[:half], pairs[half:]
    else:
        raise AssertionError(style)
    if body is None:
        body = urlencode(form).encode() if form else b""
    headers: dict[str, str] = {"user-agent": "python-requests/2.32.3"}
    if api_key is not None:
        headers["x-mbx-apikey"] = api_key
    if body and content_type is not None:
        headers["content-type"] = content_type
    full_path = path + ("?" + urlencode(query) if query else "")
    return HttpRequest(method, host, 443, full_path, tuple(query), headers, body)


def parse(request: HttpRequest) -> ParsedRequest:
    """Parse, and check what must hold for every request: no credential survives into the result."""
    parsed = screen(ADAPTER, request)
    text = repr(parsed)
    assert API_KEY not in text
    assert SIGNATURE not in text
    if parsed.error is not None:
        assert API_KEY not in parsed.error and SIGNATURE not in parsed.error
    return parsed


def intent(endpoint: str, action: Action = Action.NEW, **fields: Any) -> OrderIntent:
    # a concatenated linear id carries its unified symbol too: BTCUSDT is BTC/USDT:USDT
    if fields.get("symbol") and "unified_symbol" not in fields:
        fields["unified_symbol"] = derive_linear_unified(fields["symbol"])
    return OrderIntent(venue=VENUE, action=action, endpoint=endpoint, account=ACCOUNT, **fields)


def assert_exact_decimals(actual: OrderIntent, expected: OrderIntent) -> None:
    """Decimal == ignores trailing zeros; the adapter must keep the request's own digits (no float trip)."""
    for name in ("quantity", "price", "trigger_price", "leverage"):
        want = getattr(expected, name)
        got = getattr(actual, name)
        if want is None:
            assert got is None, name
        else:
            assert type(got) is Decimal, name
            assert got.as_tuple() == want.as_tuple(), f"{name}: {got!r} != {want!r}"


def batch_json(*legs: dict[str, Any]) -> str:
    return json.dumps(list(legs), separators=(",", ":"))


def limit_leg(**overrides: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "50000",
            "timeInForce": "GTC", **overrides}


def limit_order(**overrides: str) -> dict[str, str]:
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
            "price": "50000", "newOrderRespType": "RESULT"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def without(params: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in keys}


# ---- 1. requests → ParsedRequest ---------------------------------------------------------------------------

NEW_ORDER_CASES = [
    pytest.param(
        {"symbol": "btcusdt", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
         "price": "50000.10", "newClientOrderId": CID, "newOrderRespType": "RESULT"},
        dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("50000.10"), order_type="LIMIT",
             time_in_force="GTC", client_order_id=CID),
        id="limit-gtc-lowercase-symbol",
    ),
    pytest.param(
        {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.500", "newOrderRespType": "RESULT"},
        dict(symbol="ETHUSDT", side=Side.SELL, quantity=D("0.500"), order_type="MARKET"),
        id="market",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.002", "stopPrice": "48000.5",
         "workingType": "MARK_PRICE"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=D("0.002"), trigger_price=D("48000.5"),
             order_type="STOP_MARKET"),
        id="stop-market-stopPrice",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP", "quantity": "0.002", "price": "51000",
         "stopPrice": "50900", "timeInForce": "GTC"},
        dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("0.002"), price=D("51000"), trigger_price=D("50900"),
             order_type="STOP", time_in_force="GTC"),
        id="stop-limit",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010", "reduceOnly": "true"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=D("0.010"), order_type="MARKET", reduce_only=True),
        id="reduce-only-true",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010", "reduceOnly": "false"},
        dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("0.010"), order_type="MARKET", reduce_only=False),
        id="reduce-only-false",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "stopPrice": "45000", "closePosition": "true",
         "workingType": "MARK_PRICE"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=None, trigger_price=D("45000"), order_type="STOP_MARKET",
             close_position=True),
        id="close-position-without-quantity",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "BUY", "positionSide": "LONG", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.003", "price": "49000"},
        dict(symbol="BTCUSDT", side=Side.BUY, position_side=PositionSide.LONG, quantity=D("0.003"), price=D("49000"),
             order_type="LIMIT", time_in_force="GTC"),
        id="hedge-open-long",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "SELL", "positionSide": "SHORT", "type": "MARKET", "quantity": "0.004"},
        dict(symbol="BTCUSDT", side=Side.SELL, position_side=PositionSide.SHORT, quantity=D("0.004"),
             order_type="MARKET"),
        id="hedge-open-short",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "SELL", "positionSide": "LONG", "type": "MARKET", "quantity": "0.003"},
        dict(symbol="BTCUSDT", side=Side.SELL, position_side=PositionSide.LONG, quantity=D("0.003"),
             order_type="MARKET"),
        id="hedge-close-long",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "BUY", "positionSide": "BOTH", "type": "MARKET", "quantity": "1"},
        dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("1"), order_type="MARKET"),
        id="explicit-both",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
         "priceMatch": "OPPONENT"},
        dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=None, order_type="LIMIT",
             time_in_force="GTC"),
        id="price-match-without-price",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTD", "goodTillDate": "1893456000000",
         "quantity": "0.001", "price": "60000"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=D("0.001"), price=D("60000"), order_type="LIMIT",
             time_in_force="GTD"),
        id="gtd",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.001",
         "price": "49999.9", "selfTradePreventionMode": "EXPIRE_MAKER"},
        dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("49999.9"), order_type="LIMIT",
             time_in_force="GTX"),
        id="post-only-gtx",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "SELL", "type": "TAKE_PROFIT_MARKET", "quantity": "0.001", "stopPrice": "60000"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=D("0.001"), trigger_price=D("60000"),
             order_type="TAKE_PROFIT_MARKET"),
        id="take-profit-market",
    ),
    pytest.param(
        {"symbol": "BTCUSDT", "side": "SELL", "type": "TRAILING_STOP_MARKET", "quantity": "0.001",
         "callbackRate": "1.5", "activationPrice": "52000"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=D("0.001"), order_type="TRAILING_STOP_MARKET",
             activation_price=D("52000"), callback_pct=D("1.5")),
        id="trailing-on-order-endpoint",
    ),
    pytest.param(
        {"symbol": "1000PEPEUSDT", "side": "BUY", "type": "MARKET", "quantity": "1000000000000000"},
        dict(symbol="1000PEPEUSDT", side=Side.BUY, quantity=D("1000000000000000"), order_type="MARKET"),
        id="quantity-at-the-sanity-cap",
    ),
    pytest.param(
        {"symbol": "BTCUSDT_250328", "side": "BUY", "type": "LIMIT", "timeInForce": "IOC", "quantity": "0.00000001",
         "price": "70000.00000000"},
        dict(symbol="BTCUSDT_250328", side=Side.BUY, quantity=D("0.00000001"), price=D("70000.00000000"),
             order_type="LIMIT", time_in_force="IOC"),
        id="delivery-symbol-tiny-quantity",
    ),
]


@pytest.mark.parametrize(("style", "params", "fields"), in_turn(STYLES, NEW_ORDER_CASES))
def test_parse_request_when_new_order_then_one_exact_intent(style: str, params: dict, fields: dict) -> None:
    parsed = parse(make_request("POST", "/fapi/v1/order", params, style=style))

    expected = intent(ORDER, **fields)
    assert parsed == ParsedRequest(VENUE, Action.NEW, ORDER, ACCOUNT, (expected,))
    assert_exact_decimals(parsed.intents[0], expected)


ALGO_CASES = [
    pytest.param(
        {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.002",
         "triggerPrice": "48000.00", "workingType": "MARK_PRICE", "clientAlgoId": "yT58zmV3DSzMBQxc5tAJXU",
         "priceProtect": "true"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=D("0.002"), trigger_price=D("48000.00"),
             order_type="STOP_MARKET", client_order_id="yT58zmV3DSzMBQxc5tAJXU"),
        id="stop-market",
    ),
    pytest.param(
        {"algoType": "CONDITIONAL", "symbol": "ethusdt", "side": "BUY", "type": "TAKE_PROFIT", "quantity": "0.05",
         "price": "2900", "triggerPrice": "2905", "timeInForce": "GTC", "clientAlgoId": CID},
        dict(symbol="ETHUSDT", side=Side.BUY, quantity=D("0.05"), price=D("2900"), trigger_price=D("2905"),
             order_type="TAKE_PROFIT", time_in_force="GTC", client_order_id=CID),
        id="take-profit-limit",
    ),
    pytest.param(
        {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "TRAILING_STOP_MARKET",
         "quantity": "0.010", "callbackRate": "1.5", "activatePrice": "52000"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=D("0.010"), order_type="TRAILING_STOP_MARKET",
             activation_price=D("52000"), callback_pct=D("1.5")),
        id="trailing",
    ),
    pytest.param(
        {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
         "triggerPrice": "55000", "closePosition": "true"},
        dict(symbol="BTCUSDT", side=Side.BUY, trigger_price=D("55000"), order_type="STOP_MARKET",
             close_position=True),
        id="close-position",
    ),
    pytest.param(
        {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "BUY", "positionSide": "SHORT",
         "type": "STOP_MARKET", "quantity": "0.004", "triggerPrice": "55000", "reduceOnly": "false"},
        dict(symbol="BTCUSDT", side=Side.BUY, position_side=PositionSide.SHORT, quantity=D("0.004"),
             trigger_price=D("55000"), order_type="STOP_MARKET"),
        id="hedge-short-stop",
    ),
]


@pytest.mark.parametrize(("style", "params", "fields"), in_turn(STYLES, ALGO_CASES))
def test_parse_request_when_algo_order_then_one_exact_intent(style: str, params: dict, fields: dict) -> None:
    parsed = parse(make_request("POST", "/fapi/v1/algoOrder", params, style=style))

    # shown by openAlgoOrders, not openOrders; triggered, it places a regular order
    expected = intent(ALGO, kind="algo", triggers_into="order", **fields)
    assert parsed == ParsedRequest(VENUE, Action.NEW, ALGO, ACCOUNT, (expected,))
    assert_exact_decimals(parsed.intents[0], expected)


BATCH_CASES = [
    pytest.param(
        batch_json(limit_leg(newClientOrderId=CID)),
        [dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT",
              time_in_force="GTC", client_order_id=CID)],
        id="one-leg",
    ),
    pytest.param(
        batch_json(
            limit_leg(),
            {"symbol": "ethusdt", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.050", "stopPrice": "2800",
             "reduceOnly": "true"},
        ),
        [
            dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT",
                 time_in_force="GTC"),
            dict(symbol="ETHUSDT", side=Side.SELL, quantity=D("0.050"), trigger_price=D("2800"),
                 order_type="STOP_MARKET", reduce_only=True),
        ],
        id="two-legs-strings",
    ),
    pytest.param(
        '[{"symbol":"ETHUSDT","side":"SELL","type":"LIMIT","quantity":0.010,"price":3000.50,"timeInForce":"GTC",'
        '"reduceOnly":true},{"symbol":"SOLUSDT","side":"BUY","type":"MARKET","quantity":12}]',
        [
            dict(symbol="ETHUSDT", side=Side.SELL, quantity=D("0.010"), price=D("3000.50"), order_type="LIMIT",
                 time_in_force="GTC", reduce_only=True),
            dict(symbol="SOLUSDT", side=Side.BUY, quantity=D("12"), order_type="MARKET"),
        ],
        id="json-number-values",
    ),
    pytest.param(
        batch_json(
            {"symbol": "BTCUSDT", "side": "BUY", "positionSide": "LONG", "type": "MARKET", "quantity": "0.002"},
            {"symbol": "BTCUSDT", "side": "SELL", "positionSide": "SHORT", "type": "MARKET", "quantity": "0.003"},
        ),
        [
            dict(symbol="BTCUSDT", side=Side.BUY, position_side=PositionSide.LONG, quantity=D("0.002"),
                 order_type="MARKET"),
            dict(symbol="BTCUSDT", side=Side.SELL, position_side=PositionSide.SHORT, quantity=D("0.003"),
                 order_type="MARKET"),
        ],
        id="hedge-legs",
    ),
    pytest.param(
        batch_json(*(limit_leg(quantity=f"0.00{n}", price=f"5000{n}") for n in range(1, 6))),
        [dict(symbol="BTCUSDT", side=Side.BUY, quantity=D(f"0.00{n}"), price=D(f"5000{n}"), order_type="LIMIT",
              time_in_force="GTC") for n in range(1, 6)],
        id="five-legs-the-venue-maximum",
    ),
]


@pytest.mark.parametrize(("style", "raw", "legs"), in_turn(STYLES, BATCH_CASES))
def test_parse_request_when_batch_orders_then_one_intent_per_leg_in_order(style: str, raw: str, legs: list) -> None:
    parsed = parse(make_request("POST", "/fapi/v1/batchOrders", {"batchOrders": raw}, style=style))

    expected = tuple(intent(BATCH, **fields) for fields in legs)
    assert parsed == ParsedRequest(VENUE, Action.NEW, BATCH, ACCOUNT, expected)
    for got, want in zip(parsed.intents, expected, strict=True):
        assert_exact_decimals(got, want)


AMEND_CASES = [
    pytest.param(
        {"orderId": "650640530", "symbol": "LTCUSDT", "side": "BUY", "quantity": "0.200", "price": "53.50"},
        dict(symbol="LTCUSDT", side=Side.BUY, quantity=D("0.200"), price=D("53.50"), order_type="LIMIT",
             order_id="650640530"),
        id="by-order-id",
    ),
    pytest.param(
        {"origClientOrderId": CID, "symbol": "btcusdt", "side": "SELL", "quantity": "0.001", "price": "61000"},
        dict(symbol="BTCUSDT", side=Side.SELL, quantity=D("0.001"), price=D("61000"), order_type="LIMIT",
             client_order_id=CID),
        id="by-client-order-id",
    ),
    pytest.param(
        {"orderId": "650640530", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "priceMatch": "QUEUE_5"},
        dict(symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=None, order_type="LIMIT",
             order_id="650640530"),
        id="price-match-without-price",
    ),
]


@pytest.mark.parametrize(("style", "params", "fields"), in_turn(STYLES, AMEND_CASES))
def test_parse_request_when_amend_then_one_amend_intent(style: str, params: dict, fields: dict) -> None:
    parsed = parse(make_request("PUT", "/fapi/v1/order", params, style=style))

    expected = intent(AMEND, Action.AMEND, **fields)
    assert parsed == ParsedRequest(VENUE, Action.AMEND, AMEND, ACCOUNT, (expected,))
    assert_exact_decimals(parsed.intents[0], expected)


@pytest.mark.parametrize("style", STYLES)
def test_parse_request_when_batch_amend_then_one_amend_intent_per_leg(style: str) -> None:
    raw = batch_json(
        {"orderId": "11", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.002", "price": "49000"},
        {"origClientOrderId": "my-order-2", "symbol": "ETHUSDT", "side": "SELL", "quantity": "0.1", "price": "3100"},
    )
    parsed = parse(make_request("PUT", "/fapi/v1/batchOrders", {"batchOrders": raw}, style=style))

    expected = (
        intent(AMEND_BATCH, Action.AMEND, symbol="BTCUSDT", side=Side.BUY, quantity=D("0.002"), price=D("49000"),
               order_type="LIMIT", order_id="11"),
        intent(AMEND_BATCH, Action.AMEND, symbol="ETHUSDT", side=Side.SELL, quantity=D("0.1"), price=D("3100"),
               order_type="LIMIT", client_order_id="my-order-2"),
    )
    assert parsed == ParsedRequest(VENUE, Action.AMEND, AMEND_BATCH, ACCOUNT, expected)


CONFIG_CASES = [
    pytest.param(
        "/fapi/v1/leverage", {"symbol": "btcusdt", "leverage": "20"}, Action.SET_LEVERAGE,
        dict(symbol="BTCUSDT", leverage=D("20")), id="leverage",
    ),
    pytest.param(
        "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "125"}, Action.SET_LEVERAGE,
        dict(symbol="BTCUSDT", leverage=D("125")), id="leverage-max",
    ),
    pytest.param(
        "/fapi/v1/leverage", {"symbol": "ETHUSDT", "leverage": "1"}, Action.SET_LEVERAGE,
        dict(symbol="ETHUSDT", leverage=D("1")), id="leverage-min",
    ),
    pytest.param(
        "/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "ISOLATED"}, Action.SET_MARGIN_MODE,
        dict(symbol="BTCUSDT", margin_mode="ISOLATED"), id="margin-isolated",
    ),
    pytest.param(
        "/fapi/v1/marginType", {"symbol": "ethusdt", "marginType": "CROSSED"}, Action.SET_MARGIN_MODE,
        dict(symbol="ETHUSDT", margin_mode="CROSSED"), id="margin-crossed",
    ),
    pytest.param(
        "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"}, Action.SET_POSITION_MODE,
        dict(hedge_mode=True, margin_mode=None), id="hedge-mode",
    ),
    pytest.param(
        "/fapi/v1/positionSide/dual", {"dualSidePosition": "false"}, Action.SET_POSITION_MODE,
        dict(hedge_mode=False, margin_mode=None), id="one-way-mode",
    ),
]


@pytest.mark.parametrize(("style", "path", "params", "action", "fields"), in_turn(STYLES, CONFIG_CASES))
def test_parse_request_when_account_setting_then_one_setting_intent(
    style: str, path: str, params: dict, action: Action, fields: dict
) -> None:
    parsed = parse(make_request("POST", path, params, style=style))

    endpoint = f"POST {path.lower()}"
    expected = intent(endpoint, action, **fields)
    assert parsed == ParsedRequest(VENUE, action, endpoint, ACCOUNT, (expected,))
    assert_exact_decimals(parsed.intents[0], expected)


NO_INTENT_CASES = [
    pytest.param("DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": "650640530"}, Action.CANCEL,
                 id="cancel-order"),
    pytest.param("DELETE", "/fapi/v1/order", {"symbol": "BTCUSDT", "origClientOrderId": CID}, Action.CANCEL,
                 id="cancel-order-by-client-id"),
    pytest.param("DELETE", "/fapi/v1/batchOrders", {"symbol": "BTCUSDT", "orderIdList": "[11,12]"}, Action.CANCEL,
                 id="cancel-batch"),
    pytest.param("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"}, Action.CANCEL_ALL, id="cancel-all"),
    pytest.param("DELETE", "/fapi/v1/algoOrder", {"algoId": "3358"}, Action.CANCEL, id="cancel-algo"),
    pytest.param("DELETE", "/fapi/v1/algoOpenOrders", {"symbol": "BTCUSDT"}, Action.CANCEL_ALL,
                 id="cancel-all-algo"),
    pytest.param("POST", "/fapi/v1/countdownCancelAll", {"symbol": "BTCUSDT", "countdownTime": "120000"},
                 Action.CANCEL_ALL, id="dead-man-switch"),
    pytest.param("POST", "/fapi/v1/order/test", limit_order(quantity="1000000"), Action.READ, id="test-order"),
    pytest.param("POST", "/fapi/v1/multiAssetsMargin", {"multiAssetsMargin": "true"}, Action.SET_MARGIN_MODE,
                 id="multi-assets-margin"),
    pytest.param("POST", "/fapi/v1/positionMargin",
                 {"symbol": "BTCUSDT", "positionSide": "BOTH", "amount": "10", "type": "1"},
                 Action.SET_MARGIN_MODE, id="position-margin"),
]


@pytest.mark.parametrize(("style", "method", "path", "params", "action"), in_turn(("query", "form"), NO_INTENT_CASES))
def test_parse_request_when_cancel_or_no_risk_endpoint_then_action_without_intents(
    style: str, method: str, path: str, params: dict, action: Action
) -> None:
    parsed = parse(make_request(method, path, params, style=style))

    assert parsed == ParsedRequest(VENUE, action, f"{method} {path.lower()}", ACCOUNT)


LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"


@pytest.mark.parametrize(
    ("method", "params"),
    [("POST", ()), ("PUT", (("listenKey", LISTEN_KEY),)), ("DELETE", (("listenKey", LISTEN_KEY),))],
)
def test_parse_request_when_listen_key_then_read_and_key_not_kept(method: str, params: tuple) -> None:
    parsed = parse(make_request(method, "/fapi/v1/listenKey", params, signed=False))

    assert parsed == ParsedRequest(VENUE, Action.READ, f"{method} /fapi/v1/listenkey", ACCOUNT)
    assert LISTEN_KEY not in repr(parsed)


READ_CASES = [
    ("/fapi/v1/openOrders", {"symbol": "BTCUSDT"}),
    ("/fapi/v1/openAlgoOrders", {}),
    ("/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": "650640530"}),
    ("/fapi/v1/algoOrder", {"algoId": "3358"}),
    ("/fapi/v2/positionRisk", {}),
    ("/fapi/v3/positionRisk", {"symbol": "BTCUSDT"}),
    ("/fapi/v3/account", {}),
    ("/fapi/v3/balance", {}),
    ("/fapi/v1/userTrades", {"symbol": "BTCUSDT"}),
    ("/fapi/v1/positionSide/dual", {}),
    ("/fapi/v1/leverageBracket", {}),
]


@pytest.mark.parametrize(("path", "params"), READ_CASES)
def test_parse_request_when_signed_get_then_read(path: str, params: dict) -> None:
    parsed = parse(make_request("GET", path, params))

    assert parsed == ParsedRequest(VENUE, Action.READ, f"GET {path.lower()}", ACCOUNT)


@pytest.mark.parametrize(
    "path", ["/fapi/v1/premiumIndex", "/fapi/v1/ticker/price", "/fapi/v1/ticker/24hr", "/fapi/v1/exchangeInfo"]
)
def test_parse_request_when_public_get_without_key_then_read_without_account(path: str) -> None:
    parsed = parse(make_request("GET", path, {"symbol": "BTCUSDT"}, signed=False, api_key=None))

    assert parsed == ParsedRequest(VENUE, Action.READ, f"GET {path.lower()}", None)


FORBIDDEN_CASES = [
    ("/sapi/v1/capital/withdraw/apply",
     {"coin": "USDT", "network": "TRX", "address": "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf", "amount": "1000"}),
    ("/sapi/v1/asset/transfer", {"type": "UMFUTURE_MAIN", "asset": "USDT", "amount": "1000"}),
    ("/sapi/v1/futures/transfer", {"asset": "USDT", "amount": "1000", "type": "2"}),
    ("/sapi/v1/sub-account/universalTransfer",
     {"toEmail": "a@b.c", "fromAccountType": "USDT_FUTURE", "toAccountType": "SPOT", "asset": "USDT", "amount": "5"}),
    ("/sapi/v1/sub-account/futures/transfer", {"email": "a@b.c", "asset": "USDT", "amount": "5", "type": "2"}),
    ("/sapi/v1/sub-account/futures/internalTransfer",
     {"fromEmail": "a@b.c", "toEmail": "d@e.f", "futuresType": "1", "asset": "USDT", "amount": "5"}),
    ("/sapi/v1/sub-account/transfer/subToSub", {"toEmail": "d@e.f", "asset": "USDT", "amount": "5"}),
    ("/sapi/v1/sub-account/transfer/subToMaster", {"asset": "USDT", "amount": "5"}),
    ("/sapi/v1/margin/transfer", {"asset": "USDT", "amount": "5", "type": "1"}),
    ("/SAPI/V1/CAPITAL/WITHDRAW/APPLY", {"coin": "USDT", "address": "T", "amount": "1"}),
    ("/sapi/v1//capital/withdraw/apply/", {"coin": "USDT", "address": "T", "amount": "1"}),
]


@pytest.mark.parametrize(
    ("method", "style", "path", "params"),
    in_turn([("POST", "query"), ("POST", "form"), ("GET", "query"), ("DELETE", "query"), ("PUT", "form")],
            [*FORBIDDEN_CASES, ("/sapi/v1/capital/withdraw/history", {})]),
)
def test_parse_request_when_wallet_endpoint_then_forbidden_whatever_the_method(
    method: str, style: str, path: str, params: dict
) -> None:
    # a server that takes a GET for the POST it documents must not be a way to move money
    parsed = parse(make_request(method, path, params, style=style, host="api.binance.com"))

    assert parsed.action is Action.FORBIDDEN
    assert parsed.intents == ()
    assert parsed.error is None
    assert parsed.account == ACCOUNT
    assert parsed.endpoint.startswith(f"{method} /sapi/v1/")


UNKNOWN_CASES = [
    ("POST", "/fapi/v1/someNewOrderEndpoint"),
    ("PUT", "/fapi/v1/leverage"),
    ("PATCH", "/fapi/v1/order"),
    ("POST", "/fapi/v2/order"),
    ("POST", "/fapi/v1/orders"),
    ("POST", "/api/v3/order"),
    ("POST", "/papi/v1/um/order"),
    ("POST", "/fapi/v1/%6Frder"),
    ("POST", "/fapi/v1/order;jsessionid=1"),
    ("DELETE", "/fapi/v1/positionSide/dual"),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN_CASES)
def test_parse_request_when_unknown_non_get_then_unknown(method: str, path: str) -> None:
    parsed = parse(make_request(method, path, limit_order(), style="form"))

    assert parsed.action is Action.UNKNOWN
    assert parsed.intents == ()
    assert parsed.account == ACCOUNT


WS_HANDSHAKES = [
    ("ws-fapi.binance.com", "/ws-fapi/v1"),
    ("ws-fapi.binance.com", "/"),
    ("testnet.binancefuture.com", "/ws-fapi/v1"),
    ("fapi.binance.com", "//WS-FAPI/v1/"),
]


@pytest.mark.parametrize(("host", "path"), WS_HANDSHAKES)
def test_parse_request_when_websocket_order_entry_handshake_then_unknown(host: str, path: str) -> None:
    request = make_request("GET", path, {"returnRateLimits": "false"}, signed=False, host=host)
    request = HttpRequest(request.method, request.host, request.port, request.path, request.query,
                          {**request.headers, "upgrade": "websocket", "connection": "Upgrade"}, b"")

    parsed = parse(request)

    assert parsed.action is Action.UNKNOWN
    assert parsed.intents == ()


PATH_TRICKS = [
    ("POST", "/fapi/v1//order/", "/fapi/v1/order", ORDER),
    ("POST", "/FAPI/V1/ORDER", "/fapi/v1/order", ORDER),
    ("POST", "//fapi//v1///Order//", "/fapi/v1/order", ORDER),
    ("POST", "/fapi/v1/ALGOORDER", "/fapi/v1/algoOrder", ALGO),
]


@pytest.mark.parametrize(("method", "tricky", "real", "endpoint"), PATH_TRICKS)
def test_parse_request_when_path_is_disguised_then_same_as_real_path(
    method: str, tricky: str, real: str, endpoint: str
) -> None:
    params = limit_order(type="STOP_MARKET", price=None, timeInForce=None, triggerPrice="48000", stopPrice="48000")
    disguised = parse(make_request(method, tricky, params, style="form"))
    plain = parse(make_request(method, real, params, style="form"))

    assert disguised.action is Action.NEW
    assert disguised.endpoint == endpoint
    assert disguised == plain
    assert len(disguised.intents) == 1 and disguised.intents[0].quantity == D("0.001")


def test_parse_request_when_batch_path_upper_case_then_batch_endpoint() -> None:
    parsed = parse(make_request("POST", "/FAPI/V1/BATCHORDERS/", {"batchOrders": batch_json(limit_leg())}))

    assert parsed.action is Action.NEW
    assert parsed.endpoint == BATCH
    assert [i.quantity for i in parsed.intents] == [D("0.001")]


def test_parse_request_when_same_value_in_query_and_body_then_accepted() -> None:
    params = limit_order()
    request = make_request("POST", "/fapi/v1/order", params, style="query")
    body = urlencode({"quantity": "0.001", "symbol": "BTCUSDT"}).encode()
    request = HttpRequest(request.method, request.host, request.port, request.path, request.query,
                          {**request.headers, "content-type": FORM}, body)

    parsed = parse(request)

    assert parsed.error is None
    assert parsed.intents[0].quantity == D("0.001")


def test_parse_request_when_no_api_key_header_then_account_is_none() -> None:
    parsed = parse(make_request("POST", "/fapi/v1/order", limit_order(), api_key=None))

    assert parsed.account is None
    assert parsed.intents[0].account is None


def test_parse_request_when_two_keys_then_two_distinct_fingerprints() -> None:
    other = "Zz" * 32
    first = parse(make_request("POST", "/fapi/v1/order", limit_order()))
    second = screen(ADAPTER, make_request("POST", "/fapi/v1/order", limit_order(), api_key=other))

    assert first.account == fingerprint(API_KEY)
    assert re.fullmatch(r"[0-9a-f]{12}", first.account or "")
    assert second.account == fingerprint(other) != first.account
    assert other not in repr(second)


# ---- 2. malformed requests → error ---------------------------------------------------------------------------

MALFORMED_ORDER_CASES = [
    # (params, field the error must name)
    pytest.param(without(limit_order(), "symbol"), "symbol", id="missing-symbol"),
    pytest.param(without(limit_order(), "side"), "side", id="missing-side"),
    pytest.param(without(limit_order(), "type"), "type", id="missing-type"),
    pytest.param(without(limit_order(), "quantity"), "quantity", id="missing-quantity"),
    pytest.param(limit_order(quantity=""), "quantity", id="empty-quantity"),
    pytest.param(without(limit_order(), "price"), "price", id="limit-missing-price"),
    pytest.param(limit_order(type="STOP", stopPrice="1", price=None), "price", id="stop-limit-missing-price"),
    pytest.param(limit_order(quantity="0"), "quantity", id="quantity-zero"),
    pytest.param(limit_order(quantity="-0.001"), "quantity", id="quantity-negative"),
    pytest.param(limit_order(quantity="NaN"), "quantity", id="quantity-nan"),
    # the spellings decimal_field refuses are tested once in test_venue_base.py; here, that each amount is read by it
    pytest.param(limit_order(quantity="1e400"), "quantity", id="quantity-1e400"),
    pytest.param(limit_order(quantity="1e-3"), "quantity", id="quantity-exponent"),
    pytest.param({**limit_order(), "Quantity": "100"}, "quantity", id="quantity-case-variant-beside-field"),
    pytest.param({**limit_order(), "reduceonly": "true"}, "reduceOnly", id="reduce-only-case-variant"),
    pytest.param(limit_order(quantity=API_KEY), "quantity", id="quantity-is-the-api-key"),
    pytest.param(limit_order(price="0"), "price", id="price-zero"),
    pytest.param(limit_order(price="-50000"), "price", id="price-negative"),
    pytest.param(limit_order(price="NaN"), "price", id="price-nan"),
    pytest.param(limit_order(price="5e4"), "price", id="price-exponent"),
    pytest.param(limit_order(type="STOP_MARKET", price=None, stopPrice="NaN"), "stopPrice", id="stop-price-nan"),
    pytest.param(limit_order(type="STOP_MARKET", price=None, stopPrice="-1"), "stopPrice", id="stop-price-negative"),
    pytest.param(limit_order(type="STOP_MARKET", price=None, stopPrice="1e3"), "stopPrice", id="stop-price-exponent"),
    pytest.param(limit_order(side="HOLD"), "side", id="side-unknown"),
    pytest.param(limit_order(side="buy"), "side", id="side-lower-case"),
    pytest.param(limit_order(side=API_KEY), "side", id="side-is-the-api-key"),
    pytest.param(limit_order(type="ICEBERG"), "type", id="type-unknown"),
    pytest.param(limit_order(type="LIMIT_MAKER"), "type", id="type-spot-only"),
    pytest.param(limit_order(positionSide="BOTHER"), "positionSide", id="position-side-unknown"),
    pytest.param(limit_order(positionSide="long"), "positionSide", id="position-side-lower-case"),
    pytest.param(limit_order(timeInForce="FOREVER"), "timeInForce", id="time-in-force-unknown"),
    pytest.param(limit_order(reduceOnly="maybe"), "reduceOnly", id="reduce-only-maybe"),
    # Binance documents "true": a server that does not read TRUE as true would get a plain order
    pytest.param(limit_order(reduceOnly="TRUE"), "reduceOnly", id="reduce-only-upper-true"),
    pytest.param(limit_order(closePosition="TRUE"), "closePosition", id="close-position-upper-true"),
    pytest.param(limit_order(type="STOP_MARKET", price=None, stopPrice="1", quantity=None, closePosition="yes"),
                 "closePosition", id="close-position-yes"),
    # exempt from every limit: only with the two types Binance closes a position with
    pytest.param(limit_order(type="MARKET", price=None, timeInForce=None, quantity=None, closePosition="true"),
                 "closePosition", id="close-position-on-a-market-order"),
    pytest.param(limit_order(quantity=None, closePosition="true"), "closePosition", id="close-position-on-a-limit"),
    pytest.param(limit_order(type="STOP", stopPrice="1", quantity=None, closePosition="true"), "closePosition",
                 id="close-position-on-a-stop-limit"),
    pytest.param(limit_order(symbol="BTC-USDT"), "symbol", id="symbol-dash"),
    pytest.param(limit_order(symbol="B" * 33), "symbol", id="symbol-too-long"),
    pytest.param(limit_order(symbol=API_KEY + "!"), "symbol", id="symbol-holds-the-api-key"),
    pytest.param(limit_order(newClientOrderId="has space"), "newClientOrderId", id="client-id-space"),
    pytest.param(limit_order(newClientOrderId="x" * 37), "newClientOrderId", id="client-id-too-long"),
]


def assert_names_field(parsed: ParsedRequest, field: str) -> None:
    assert parsed.error is not None, "the request should not parse"
    assert re.match(rf"{re.escape(field)}\b", parsed.error), f"error {parsed.error!r} does not name {field!r}"
    assert parsed.intents == ()
    assert API_KEY not in parsed.error
    assert SIGNATURE not in parsed.error


@pytest.mark.parametrize(("style", "params", "field"), in_turn(STYLES, MALFORMED_ORDER_CASES))
def test_parse_request_when_order_field_invalid_then_error_names_field(style: str, params: dict, field: str) -> None:
    parsed = parse(make_request("POST", "/fapi/v1/order", params, style=style))

    assert parsed.action is Action.NEW
    assert parsed.account == ACCOUNT
    assert_names_field(parsed, field)


ALGO_BASE = {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
             "quantity": "0.002", "triggerPrice": "48000"}

MALFORMED_OTHER_CASES = [
    pytest.param("POST", "/fapi/v1/algoOrder", {**ALGO_BASE, "triggerPrice": "NaN"}, "triggerPrice",
                 id="algo-trigger-nan"),
    pytest.param("POST", "/fapi/v1/algoOrder", {**ALGO_BASE, "triggerPrice": "0"}, "triggerPrice",
                 id="algo-trigger-zero"),
    pytest.param("POST", "/fapi/v1/algoOrder", {**ALGO_BASE, "clientAlgoId": "bad id!"}, "clientAlgoId",
                 id="algo-client-id"),
    pytest.param("POST", "/fapi/v1/algoOrder", without(ALGO_BASE, "quantity"), "quantity", id="algo-no-quantity"),
    pytest.param("POST", "/fapi/v1/algoOrder", {**ALGO_BASE, "quantity": "1e400"}, "quantity", id="algo-quantity-huge"),
    pytest.param("PUT", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "quantity": "1", "price": "1"},
                 "orderId", id="amend-no-order-id"),
    pytest.param("PUT", "/fapi/v1/order",
                 {"orderId": "12ab", "symbol": "BTCUSDT", "side": "BUY", "quantity": "1", "price": "1"},
                 "orderId", id="amend-order-id-not-digits"),
    pytest.param("PUT", "/fapi/v1/order", {"orderId": "1", "symbol": "BTCUSDT", "side": "BUY", "quantity": "1"},
                 "price", id="amend-no-price"),
    pytest.param("PUT", "/fapi/v1/order", {"orderId": "1", "symbol": "BTCUSDT", "side": "BUY", "price": "1"},
                 "quantity", id="amend-no-quantity"),
    pytest.param("PUT", "/fapi/v1/order",
                 {"orderId": "1", "symbol": "BTCUSDT", "side": "BUY", "price": "1", "quantity": "Infinity"},
                 "quantity", id="amend-quantity-infinity"),
    pytest.param("PUT", "/fapi/v1/order", {"orderId": "1", "symbol": "BTCUSDT", "quantity": "1", "price": "1"},
                 "side", id="amend-no-side"),
    pytest.param("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT"}, "leverage", id="leverage-missing"),
    pytest.param("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "0"}, "leverage", id="leverage-zero"),
    pytest.param("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "126"}, "leverage",
                 id="leverage-above-125"),
    pytest.param("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "2.5"}, "leverage",
                 id="leverage-fraction"),
    pytest.param("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "NaN"}, "leverage",
                 id="leverage-nan"),
    pytest.param("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "abc"}, "leverage",
                 id="leverage-non-numeric"),
    pytest.param("POST", "/fapi/v1/leverage", {"leverage": "10"}, "symbol", id="leverage-no-symbol"),
    pytest.param("POST", "/fapi/v1/marginType", {"symbol": "BTCUSDT", "marginType": "BOTH"}, "marginType",
                 id="margin-type-unknown"),
    pytest.param("POST", "/fapi/v1/marginType", {"symbol": "BTCUSDT"}, "marginType", id="margin-type-missing"),
    pytest.param("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "maybe"}, "dualSidePosition",
                 id="dual-side-maybe"),
]


@pytest.mark.parametrize(("style", "method", "path", "params", "field"), in_turn(STYLES, MALFORMED_OTHER_CASES))
def test_parse_request_when_other_field_invalid_then_error_names_field(
    style: str, method: str, path: str, params: dict, field: str
) -> None:
    parsed = parse(make_request(method, path, params, style=style))

    assert_names_field(parsed, field)


def _legs(n: int) -> str:
    return batch_json(*(limit_leg() for _ in range(n)))


MALFORMED_BATCH_CASES = [
    pytest.param(None, "batchOrders", id="missing"),
    pytest.param("", "batchOrders", id="empty-string"),
    pytest.param("[{", "batchOrders", id="not-json"),
    pytest.param("symbol=BTCUSDT", "batchOrders", id="form-not-json"),
    pytest.param(json.dumps(limit_leg()), "batchOrders", id="object-not-list"),
    pytest.param('"[]"', "batchOrders", id="string-not-list"),
    pytest.param("[]", "batchOrders", id="empty-list"),
    pytest.param('["BTCUSDT"]', "batchOrders", id="leg-not-object"),
    pytest.param("[[" * 50_000 + "]]" * 50_000, "batchOrders", id="deep-nesting"),
    pytest.param(_legs(11), "batchOrders", id="eleven-legs"),
    pytest.param(_legs(100), "batchOrders", id="hundred-legs"),
    pytest.param(
        _legs(6), "batchOrders", id="six-legs-above-venue-max-5",
    ),
    pytest.param('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":NaN}]', "batchOrders",
                 id="bare-nan"),
    pytest.param(batch_json(limit_leg(quantity="NaN")), "quantity", id="string-nan"),
    pytest.param('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":1e400}]', "quantity",
                 id="number-1e400"),
    pytest.param('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":-1}]', "quantity",
                 id="number-negative"),
    pytest.param('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":true}]', "quantity",
                 id="boolean-quantity"),
    pytest.param('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"1","reduceOnly":"maybe"}]',
                 "reduceOnly", id="reduce-only-maybe"),
    pytest.param(batch_json(limit_leg(), without(limit_leg(), "side")), "side", id="second-leg-no-side"),
    pytest.param(batch_json(limit_leg(), limit_leg(type="ICEBERG")), "type", id="second-leg-bad-type"),
    pytest.param(
        '[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"0.001","quantity":"100"}]', "quantity",
        id="duplicate-key-in-leg",
    ),
    # a case variant beside the field: a server matching names case-insensitively might read either one
    pytest.param('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"0.001","Quantity":"100"}]',
                 "quantity", id="case-variant-beside-field-in-leg"),
    pytest.param('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","Quantity":"100"}]', "quantity",
                 id="case-variant-alone-in-leg"),
    pytest.param('[{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"1","REDUCEONLY":"true"}]',
                 "reduceOnly", id="case-variant-flag-in-leg"),
]


@pytest.mark.parametrize(("style", "raw", "field"), in_turn(STYLES, MALFORMED_BATCH_CASES))
def test_parse_request_when_batch_orders_malformed_then_error_names_field(
    style: str, raw: str | None, field: str
) -> None:
    params = {} if raw is None else {"batchOrders": raw}
    parsed = parse(make_request("POST", "/fapi/v1/batchOrders", params, style=style))

    assert parsed.action is Action.NEW
    assert_names_field(parsed, field)


@pytest.mark.parametrize(
    "raw",
    [_legs(11), "[]", "[{", '[{"orderId":"1","symbol":"BTCUSDT","side":"BUY","quantity":"NaN","price":"1"}]'],
    ids=["eleven-legs", "empty", "not-json", "nan-quantity"],
)
def test_parse_request_when_batch_amend_malformed_then_error(raw: str) -> None:
    parsed = parse(make_request("PUT", "/fapi/v1/batchOrders", {"batchOrders": raw}))

    assert parsed.action is Action.AMEND
    assert parsed.error is not None
    assert parsed.intents == ()


def _with_body(body: bytes, content_type: str | None = FORM, query: tuple = ()) -> HttpRequest:
    headers = {"x-mbx-apikey": API_KEY}
    if content_type is not None:
        headers["content-type"] = content_type
    path = "/fapi/v1/order" + ("?" + urlencode(query) if query else "")
    return HttpRequest("POST", "fapi.binance.com", 443, path, tuple(query), headers, body)


FORM_BODY = urlencode({**limit_order(), **dict(SIGNED)}).encode()
QUERY = tuple(limit_order().items()) + SIGNED

RAW_BODY_CASES = [
    pytest.param(_with_body(json.dumps({**limit_order(), **dict(SIGNED)}).encode(), "application/json"),
                 "body", id="json-body"),
    pytest.param(_with_body(json.dumps(limit_order()).encode(), "application/json; charset=utf-8"),
                 "body", id="json-body-with-charset"),
    pytest.param(_with_body(json.dumps(limit_order()).encode(), "Application/JSON"), "body", id="json-body-upper"),
    pytest.param(_with_body(b"symbol=BTC\xff\xfeUSDT&side=BUY&type=MARKET&quantity=1"), "body", id="non-utf8"),
    pytest.param(_with_body(b"a" * (MAX_BODY_BYTES + 1)), "body", id="oversized"),
    pytest.param(_with_body(FORM_BODY + b"&" + b"x" * MAX_BODY_BYTES), "body", id="oversized-valid-form"),
    pytest.param(_with_body(b"symbol=BTCUSDT&&side=BUY&type=MARKET&quantity=1"), "body", id="form-empty-field"),
    pytest.param(_with_body(b"symbol=BTCUSDT&side&type=MARKET&quantity=1"), "body", id="form-field-without-value"),
    pytest.param(_with_body(b"quantity=100&signature=" + SIGNATURE.encode(), query=QUERY), "quantity",
                 id="quantity-in-query-and-body-differ"),
    pytest.param(_with_body(b"side=SELL", query=QUERY), "side", id="side-in-query-and-body-differ"),
    pytest.param(_with_body(b"reduceOnly=true", query=(*QUERY, ("reduceOnly", "false"))), "reduceOnly",
                 id="reduce-only-in-query-and-body-differ"),
    pytest.param(_with_body(b"", query=(*QUERY, ("quantity", "100"))), "quantity", id="quantity-twice-in-query"),
    pytest.param(_with_body(FORM_BODY + b"&quantity=100"), "quantity", id="quantity-twice-in-body"),
    pytest.param(_with_body(b"signature=" + SIGNATURE[::-1].encode(), query=QUERY), "signature",
                 id="signature-twice-differs"),
    pytest.param(
        _with_body(
            b'--xyz\r\nContent-Disposition: form-data; name="quantity"\r\n\r\n100\r\n--xyz--\r\n',
            "multipart/form-data; boundary=xyz", query=QUERY,
        ),
        "body", id="multipart-body",
    ),
]


@pytest.mark.parametrize(("request_", "field"), RAW_BODY_CASES)
def test_parse_request_when_body_unreadable_or_ambiguous_then_error_names_field(
    request_: HttpRequest, field: str
) -> None:
    parsed = parse(request_)

    assert parsed.action is Action.NEW
    assert_names_field(parsed, field)
    assert "100" not in parsed.error  # the conflicting value is never echoed
    assert SIGNATURE[::-1] not in parsed.error


def test_parse_request_when_body_oversized_on_cancel_then_cancel_still_recognised() -> None:
    request = make_request("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"}, style="query")
    request = HttpRequest(request.method, request.host, request.port, request.path, request.query,
                          {**request.headers, "content-type": FORM}, b"a" * (MAX_BODY_BYTES + 1))

    parsed = parse(request)

    assert parsed.action is Action.CANCEL_ALL


# ---- 3. responses → ResponseFacts -------------------------------------------------------------------------


def body_of(name: str) -> bytes:
    return orjson.dumps(RESPONSES[name])


def learn(
    method: str, path: str, params: dict[str, str] | tuple = (), body: bytes = b"", *, status: int = 200,
    api_key: str | None = API_KEY, signed: bool = True,
) -> ResponseFacts:
    request = make_request(method, path, params, style="form" if method in ("POST", "PUT") else "query",
                           api_key=api_key, signed=signed)
    parsed = screen(ADAPTER, request)
    return ADAPTER.parse_response(parsed, request, status, body, DECISION_ID)


def update(symbol: str, order_id: str, side: Side, original: str, executed: str, *, final: bool,
           position_side: PositionSide = PositionSide.BOTH, reduce_only: bool = False,
           reservation: str | None = None, venue_ms: Any = ANY) -> OrderUpdate:
    """(`venue_ms`: any, unless a test about the venue's time says which)"""
    return OrderUpdate(VENUE, ACCOUNT, symbol, order_id, side, position_side, D(original), D(executed), final,
                       reduce_only, reservation, kind="algo" if order_id.startswith("algo:") else "order",
                       venue_ms=venue_ms)


LTC_ORDER = {"symbol": "LTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.100",
             "price": "54.00", "newOrderRespType": "RESULT"}


def test_parse_response_when_new_order_accepted_then_open_update_with_reservation() -> None:
    facts = learn("POST", "/fapi/v1/order", LTC_ORDER, body_of("order_new_limit"))

    assert facts == ResponseFacts(
        orders=(update("LTCUSDT", "650640530", Side.BUY, "0.100", "0.000", final=False,
                       reservation=f"{DECISION_ID}:0"),),
    )


def test_parse_response_when_market_order_filled_then_final_update_and_fill_price() -> None:
    params = {"symbol": "LTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.100", "newOrderRespType": "RESULT"}

    facts = learn("POST", "/fapi/v1/order", params, body_of("order_filled_market"))

    assert facts == ResponseFacts(
        prices=(PriceUpdate(VENUE, "LTCUSDT", D("54.12"), "last"),),
        orders=(update("LTCUSDT", "650640531", Side.SELL, "0.100", "0.100", final=True,
                       reservation=f"{DECISION_ID}:0"),),
    )


def test_parse_response_when_order_partially_filled_then_not_final() -> None:
    facts = learn("POST", "/fapi/v1/order", limit_order(quantity="0.010"), body_of("order_partially_filled"))

    assert facts.orders == (update("BTCUSDT", "650640532", Side.BUY, "0.010", "0.004", final=False,
                                   reservation=f"{DECISION_ID}:0"),)
    assert facts.prices == (PriceUpdate(VENUE, "BTCUSDT", D("50000.00"), "last"),)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("order_new_hedge_short_close",
         limit_order(side="BUY", positionSide="SHORT", quantity="0.020", price="48000"),
         update("BTCUSDT", "650640533", Side.BUY, "0.020", "0.000", final=False, position_side=PositionSide.SHORT,
                reduce_only=True, reservation=f"{DECISION_ID}:0")),
        ("order_new_reduce_only",
         limit_order(side="SELL", reduceOnly="true", quantity="0.010", price="52000"),
         update("BTCUSDT", "650640534", Side.SELL, "0.010", "0.000", final=False, reduce_only=True,
                reservation=f"{DECISION_ID}:0")),
    ],
    ids=["hedge-buy-on-short-side", "reduce-only-flag"],
)
def test_parse_response_when_order_only_reduces_then_update_marked_reduce_only(
    name: str, params: dict, expected: OrderUpdate
) -> None:
    facts = learn("POST", "/fapi/v1/order", params, body_of(name))

    assert facts.orders == (expected,)


def test_parse_response_when_batch_mixes_orders_and_errors_then_legs_keep_their_index() -> None:
    raw = batch_json(limit_leg(), limit_leg(type="STOP_MARKET", price=None, stopPrice="1"),
                     {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.050"},
                     limit_leg(quantity="100000"))

    facts = learn("POST", "/fapi/v1/batchOrders", {"batchOrders": raw}, body_of("batch_mixed"))

    assert facts == ResponseFacts(
        prices=(PriceUpdate(VENUE, "ETHUSDT", D("3001.25"), "last"),),
        orders=(
            update("BTCUSDT", "700000001", Side.BUY, "0.001", "0.000", final=False, reservation=f"{DECISION_ID}:0"),
            update("ETHUSDT", "700000003", Side.SELL, "0.050", "0.050", final=True, reservation=f"{DECISION_ID}:2"),
        ),
    )


def test_parse_response_when_algo_order_accepted_then_algo_update_with_reservation() -> None:
    params = {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "BUY", "type": "STOP", "quantity": "0.002",
              "price": "102000", "triggerPrice": "100000", "timeInForce": "GTC"}

    facts = learn("POST", "/fapi/v1/algoOrder", params, body_of("algo_new"))

    assert facts == ResponseFacts(
        orders=(update("BTCUSDT", "algo:3358", Side.BUY, "0.002", "0", final=False,
                       reservation=f"{DECISION_ID}:0"),),
    )


def test_parse_response_when_order_amended_then_update_with_new_size() -> None:
    params = {"orderId": "650640530", "symbol": "LTCUSDT", "side": "BUY", "quantity": "0.200", "price": "53.50"}

    facts = learn("PUT", "/fapi/v1/order", params, body_of("order_amended"))

    assert facts.orders == (update("LTCUSDT", "650640530", Side.BUY, "0.200", "0.000", final=False,
                                   reservation=f"{DECISION_ID}:0"),)


def test_parse_response_when_order_canceled_then_final_update_without_reservation() -> None:
    facts = learn("DELETE", "/fapi/v1/order", {"symbol": "LTCUSDT", "orderId": "650640530"}, body_of("order_canceled"))

    assert facts == ResponseFacts(
        orders=(update("LTCUSDT", "650640530", Side.BUY, "0.100", "0.000", final=True),),
    )


def test_parse_response_when_batch_cancel_partly_fails_then_only_canceled_orders_are_final() -> None:
    facts = learn("DELETE", "/fapi/v1/batchOrders", {"symbol": "BTCUSDT", "orderIdList": "[700000001,1]"},
                  body_of("cancel_batch"))

    assert facts == ResponseFacts(
        orders=(update("BTCUSDT", "700000001", Side.BUY, "0.001", "0.000", final=True),),
    )


def test_parse_response_when_order_queried_then_update_without_reservation() -> None:
    facts = learn("GET", "/fapi/v1/order", {"symbol": "BTCUSDT", "orderId": "650640532"},
                  body_of("order_partially_filled"))

    assert facts.orders == (update("BTCUSDT", "650640532", Side.BUY, "0.010", "0.004", final=False),)


def test_parse_response_when_algo_order_canceled_then_algo_order_closed_unfilled() -> None:
    facts = learn("DELETE", "/fapi/v1/algoOrder", {"algoId": "3358"}, body_of("algo_canceled_answer"))

    # Binance cancels an algo order only before it triggers: it placed no order, so nothing can have filled
    assert facts.closed == (ClosedOrder(VENUE, ACCOUNT, "algo:3358", unfilled=True),)


def test_parse_response_when_algo_order_canceled_then_its_pending_exposure_ends() -> None:
    pending = _pending_buy_after(
        ("POST", "/fapi/v1/algoOrder", ALGO_STOP_BUY, body_of("algo_new")),
        ("DELETE", "/fapi/v1/algoOrder", {"algoId": "3358"}, body_of("algo_canceled_answer")),
    )

    assert D(pending) == 0


@pytest.mark.parametrize(("status", "final", "fills_elsewhere"), [
    ("NEW", False, None),
    ("FINISHED", True, "order"),  # triggered: the regular order it placed holds the fills (no executedQty here)
    ("CANCELED", True, None),
])
def test_parse_response_when_algo_order_queried_then_a_finished_one_says_its_fills_are_elsewhere(
    status: str, final: bool, fills_elsewhere: str | None
) -> None:
    answer = orjson.dumps({**RESPONSES["algo_new"], "algoStatus": status})

    [got] = learn("GET", "/fapi/v1/algoOrder", {"algoId": "3358"}, answer).orders

    assert (got.order_id, got.final, got.executed, got.fills_elsewhere) == ("algo:3358", final, 0, fills_elsewhere)


ALGO_STOP_BUY = {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "BUY", "type": "STOP", "quantity": "0.002",
                 "price": "102000", "triggerPrice": "100000", "timeInForce": "GTC"}


def _pending_buy_after(*steps: tuple[str, str, dict, bytes]) -> str:
    """Feed responses, as the addon does, to a MemoryStore; the BTCUSDT one-way pending buy exposure after."""
    store = MemoryStore(clock=lambda: 1_700_000_000_000)

    async def run() -> str:
        for method, path, params, body in steps:
            request = make_request(method, path, params, style="form" if method == "POST" else "query")
            parsed = screen(ADAPTER, request)
            await store.learn(ADAPTER.parse_response(parsed, request, 200, body, DECISION_ID))
        return (await store.exposure(VENUE, ACCOUNT)).get("BTCUSDT|both", {}).get("pending_buy", "0")

    return asyncio.run(run())


def test_parse_response_when_algo_order_accepted_then_store_counts_it_pending() -> None:
    pending = _pending_buy_after(("POST", "/fapi/v1/algoOrder", ALGO_STOP_BUY, body_of("algo_new")))

    assert D(pending) == D("0.002")


def test_parse_response_when_regular_open_orders_listed_then_open_algo_orders_stay_pending() -> None:
    pending = _pending_buy_after(
        ("POST", "/fapi/v1/algoOrder", ALGO_STOP_BUY, body_of("algo_new")),
        ("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, b"[]"),
    )

    assert D(pending) == D("0.002")


@pytest.mark.parametrize(
    ("params", "symbol"),
    [({"symbol": "BTCUSDT"}, "BTCUSDT"), ({}, None), ({"symbol": "btcusdt"}, "")],
    # a symbol asked for in other letters than the venue writes it may have matched nothing: the listing teaches
    # the orders it shows, and takes none it leaves out for gone ("": no snapshot)
    ids=["one-symbol", "account-wide", "symbol-in-small-letters"],
)
def test_parse_response_when_open_orders_listed_then_snapshot_for_the_requested_scope(
    params: dict, symbol: str | None
) -> None:
    facts = learn("GET", "/fapi/v1/openOrders", params, body_of("open_orders"))

    listed = (
        update("BTCUSDT", "1917641", Side.BUY, "0.010", "0.002", final=False, position_side=PositionSide.LONG),
        update("BTCUSDT", "1917642", Side.SELL, "0.005", "0", final=False, reduce_only=True),
    )
    expected = ResponseFacts(orders=listed) if symbol == "" else ResponseFacts(
        open_orders=(OpenOrdersSnapshot(VENUE, ACCOUNT, symbol, listed),))
    assert facts == expected


def test_parse_response_when_open_algo_orders_listed_then_snapshot_of_algo_orders_that_place_regular_ones() -> None:
    algo = orjson.loads(body_of("algo_new"))
    facts = learn("GET", "/fapi/v1/openAlgoOrders", {"symbol": "BTCUSDT"}, orjson.dumps([algo]))

    [snapshot] = facts.open_orders
    # one that left the listing may have triggered: the order it placed rests, if it rests, among the regular ones
    assert (snapshot.kind, snapshot.symbol, snapshot.triggers_into) == ("algo", "BTCUSDT", "order")
    assert [o.order_id for o in snapshot.orders] == [f"algo:{algo['algoId']}"]


@pytest.mark.parametrize(("path", "kind", "triggers_into"), [("/fapi/v1/allOpenOrders", "order", None),
                                                            ("/fapi/v1/algoOpenOrders", "algo", "order")])
def test_parse_response_when_cancel_all_of_a_book_then_what_its_orders_place_is_named(
    path: str, kind: str, triggers_into: str | None
) -> None:
    facts = learn("DELETE", path, {"symbol": "BTCUSDT"},
                  b'{"code":200,"msg":"The operation of cancel all open order is done."}')

    # an algo order that triggered before the cancel-all was not among those it ended: what it placed may rest
    [snapshot] = facts.open_orders
    assert (snapshot.kind, snapshot.symbol, snapshot.orders, snapshot.triggers_into) == (kind, "BTCUSDT", (),
                                                                                         triggers_into)


def test_parse_response_when_no_open_orders_then_empty_snapshot_not_empty_facts() -> None:
    facts = learn("GET", "/fapi/v1/openOrders", {"symbol": "ETHUSDT"}, b"[]")

    assert facts == ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, ACCOUNT, "ETHUSDT", ()),))


@pytest.mark.parametrize("code", [200, "200"])
@pytest.mark.parametrize(("symbol", "whole"), [("BTCUSDT", True), ("btcusdt", False)])
def test_parse_response_when_cancel_all_done_then_empty_snapshot_for_symbol(code: object, symbol: str,
                                                                            whole: bool) -> None:
    body = orjson.dumps({**RESPONSES["cancel_all"], "code": code})

    facts = learn("DELETE", "/fapi/v1/allOpenOrders", {"symbol": symbol}, body)

    # a symbol in other letters than Binance writes it: which book was emptied is not sure, so none is taken empty
    assert facts == (ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, ACCOUNT, "BTCUSDT", ()),)) if whole
                     else ResponseFacts())


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({}, body_of("cancel_all")),
        ({"symbol": "BTCUSDT"}, b'{"code":-1121,"msg":"Invalid symbol."}'),
        ({"symbol": "BTCUSDT"}, b'{"msg":"The operation of cancel all open order is done."}'),
        ({"symbol": "BTCUSDT"}, b"[]"),
    ],
    ids=["no-symbol", "error-code", "no-code", "list"],
)
def test_parse_response_when_cancel_all_not_confirmed_then_no_snapshot(params: dict, body: bytes) -> None:
    assert learn("DELETE", "/fapi/v1/allOpenOrders", params, body).empty


def test_parse_response_when_position_risk_v2_one_way_then_signed_positions_and_marks() -> None:
    facts = learn("GET", "/fapi/v2/positionRisk", {}, body_of("position_risk_v2_one_way"))

    assert facts.positions == (PositionsReport(VENUE, ACCOUNT, None, (
        ("BTCUSDT", PositionSide.BOTH, D("-0.250")),
        ("ETHUSDT", PositionSide.BOTH, D("0.000")),
    )),)
    assert set(facts.prices) == {
        PriceUpdate(VENUE, "BTCUSDT", D("51000.10000000"), "mark"),
        PriceUpdate(VENUE, "ETHUSDT", D("3000.50000000"), "mark"),
    }
    assert facts.orders == () and facts.open_orders == ()


@pytest.mark.parametrize("headers", [
    {"repeated": frozenset({"x-mbx-apikey"})},  # X-MBX-APIKEY twice: which one the venue read is not known
    {"x_mbx_apikey": "Zz" * 32},  # another key under the spelling a server may read as the same header
], ids=["key-header-twice", "key-under-another-spelling"])
def test_parse_response_when_the_reads_key_is_ambiguous_then_it_is_no_accounts_and_teaches_nothing(
    headers: dict[str, Any]
) -> None:
    request = make_request("GET", "/fapi/v2/positionRisk", {}, style="query")
    request = dataclasses.replace(request, headers={**request.headers, **{k: v for k, v in headers.items()
                                                                          if k != "repeated"}},
                                  repeated_headers=headers.get("repeated", frozenset()))
    parsed = screen(ADAPTER, request)

    facts = ADAPTER.parse_response(parsed, request, 200, body_of("position_risk_v2_one_way"), DECISION_ID)

    assert (parsed.action, parsed.account, parsed.error is not None) == (Action.READ, None, True)
    assert facts.positions == () and facts.orders == () and facts.open_orders == ()


def test_parse_response_when_position_risk_v3_hedge_then_long_and_short_legs() -> None:
    facts = learn("GET", "/fapi/v3/positionRisk", {"symbol": "ethusdt"}, body_of("position_risk_v3_hedge"))

    assert facts.positions == (PositionsReport(VENUE, ACCOUNT, "ETHUSDT", (
        ("ETHUSDT", PositionSide.LONG, D("1.500")),
        ("ETHUSDT", PositionSide.SHORT, D("-0.300")),
    )),)
    assert set(facts.prices) == {PriceUpdate(VENUE, "ETHUSDT", D("3000.50000000"), "mark")}


@pytest.mark.parametrize("path", ["/fapi/v3/account", "/fapi/v2/account"])
def test_parse_response_when_account_positions_then_account_wide_report(path: str) -> None:
    facts = learn("GET", path, {}, body_of("account_v3"))

    assert facts == ResponseFacts(
        positions=(PositionsReport(VENUE, ACCOUNT, None, (("SOLUSDT", PositionSide.BOTH, D("12.00")),)),),
        equity=(EquityUpdate(VENUE, ACCOUNT, D("10000.00000000"), "USDT"),),
    )


@pytest.mark.parametrize(("total", "expected"), [
    ("9876.54321000", D("9876.54321000")),
    ("-12.5", D("-12.5")),
    ("0", D("0")),
    (None, None),
    ("", None),
    ("1e3", None),
    ("NaN", None),
    (" 100", None),
    (1.5, None),
    (1500, None),
    (True, None),
    ("1000000000000000.5", None),
])
def test_parse_response_when_account_margin_balance_then_equity_read_strictly(
        total: object, expected: Decimal | None) -> None:
    answer = orjson.loads(body_of("account_v3"))
    [usdt] = answer["assets"]
    usdt.pop("marginBalance", None)
    if total is not None:
        usdt["marginBalance"] = total
    facts = learn("GET", "/fapi/v2/account", {}, orjson.dumps(answer))

    assert facts.equity == (() if expected is None else (EquityUpdate(VENUE, ACCOUNT, expected, "USDT"),))
    assert facts.positions  # the positions are learned whatever the equity says


def _asset(name: str, margin_balance: str) -> dict[str, Any]:
    return {"asset": name, "walletBalance": margin_balance, "unrealizedProfit": "0", "marginBalance": margin_balance}


@pytest.mark.parametrize(("multi_assets", "total", "assets", "expected"), [
    # single-asset mode counts USDT alone in totalMarginBalance: a USDC contract's loss never shows there
    (False, "500", [_asset("USDT", "500"), _asset("USDC", "30000")], D("30500")),
    # multi-assets mode values other collateral in USD there: a switch of mode would move it by that much
    (True, "80500", [_asset("USDT", "500"), _asset("USDC", "30000"), _asset("BTC", "0.5")], D("30500")),
    (False, "500", [_asset("USDT", "500"), _asset("USDT", "90000")], None),  # an asset twice: which is it?
    (False, "500", [_asset("USDT", "500"), _asset("USDC", "1e4")], None),  # one that does not read: unknown
    (False, "500", [_asset("BNB", "10")], None),  # no settlement asset: no figure
    (False, "500", None, None),
])
def test_parse_response_when_account_lists_settlement_assets_then_equity_is_their_margin_balances(
    multi_assets: bool, total: str, assets: list[dict[str, Any]] | None, expected: Decimal | None
) -> None:
    answer = {**orjson.loads(body_of("account_v3")), "multiAssetsMargin": multi_assets, "totalMarginBalance": total,
              "assets": assets}
    if assets is None:
        del answer["assets"]

    facts = learn("GET", "/fapi/v3/account", {}, orjson.dumps(answer))

    assert facts.equity == (() if expected is None else (EquityUpdate(VENUE, ACCOUNT, expected, "USDT"),))


def test_parse_response_when_positions_hold_junk_items_then_junk_skipped() -> None:
    body = orjson.dumps([
        "junk", {"symbol": "BTCUSDT"}, {"symbol": "BTCUSDT", "positionAmt": "NaN"},
        {"symbol": "BTCUSDT", "positionAmt": "abc"}, {"symbol": "BTCUSDT", "positionAmt": "1", "positionSide": "UP"},
        {"symbol": "SOLUSDT", "positionAmt": "-3", "positionSide": "BOTH", "markPrice": "0"},
    ])

    facts = learn("GET", "/fapi/v3/positionRisk", {}, body)

    assert facts == ResponseFacts(
        positions=(PositionsReport(VENUE, ACCOUNT, None, (("SOLUSDT", PositionSide.BOTH, D("-3")),)),),
    )


STRAY_BODIES = [
    pytest.param(b"{}", "application/json", id="json-body"),
    pytest.param(b"not a form", "text/plain", id="text-body"),
    pytest.param(b"symbol=ETHUSDT", FORM, id="form-body-other-symbol"),
]
SCOPED_READS = [
    pytest.param("/fapi/v3/positionRisk", "position_risk_v2_one_way", id="position-risk"),
    pytest.param("/fapi/v1/openOrders", "open_orders", id="open-orders"),
]


@pytest.mark.parametrize(("path", "name"), SCOPED_READS)
@pytest.mark.parametrize(("body", "content_type"), STRAY_BODIES)
def test_parse_response_when_scoped_read_has_unreadable_body_then_never_account_wide(
    path: str, name: str, body: bytes, content_type: str
) -> None:
    request = make_request("GET", path, {"symbol": "BTCUSDT"})
    request = HttpRequest(request.method, request.host, request.port, request.path, request.query,
                          {**request.headers, "content-type": content_type}, body)
    parsed = screen(ADAPTER, request)

    facts = ADAPTER.parse_response(parsed, request, 200, body_of(name), DECISION_ID)

    scopes = [r.symbol for r in facts.positions] + [s.symbol for s in facts.open_orders]
    assert None not in scopes, f"learned as account-wide: {scopes}"


PRICE_CASES = [
    ("/fapi/v1/premiumIndex", "premium_index_object", {PriceUpdate(VENUE, "BTCUSDT", D("50123.45000000"), "mark")}),
    ("/fapi/v1/premiumIndex", "premium_index_list", {
        PriceUpdate(VENUE, "BTCUSDT", D("50123.45000000"), "mark"),
        PriceUpdate(VENUE, "ETHUSDT", D("3000.50000000"), "mark"),
    }),
    ("/fapi/v1/ticker/price", "ticker_price_object", {PriceUpdate(VENUE, "BTCUSDT", D("50120.10"), "last")}),
    ("/fapi/v2/ticker/price", "ticker_price_list", {
        PriceUpdate(VENUE, "BTCUSDT", D("50120.10"), "last"),
        PriceUpdate(VENUE, "DOGEUSDT", D("0.20010"), "last"),
    }),
    ("/fapi/v1/ticker/24hr", "ticker_24hr_object", {PriceUpdate(VENUE, "BTCUSDT", D("50119.90"), "last")}),
    ("/fapi/v1/ticker/24hr", "ticker_24hr_list", {
        PriceUpdate(VENUE, "BTCUSDT", D("50119.90"), "last"),
        PriceUpdate(VENUE, "SOLUSDT", D("150.30"), "last"),
    }),
]


@pytest.mark.parametrize(("path", "name", "prices"), PRICE_CASES)
def test_parse_response_when_public_price_endpoint_then_price_updates(path: str, name: str, prices: set) -> None:
    facts = learn("GET", path, {}, body_of(name), api_key=None, signed=False)

    assert set(facts.prices) == prices
    assert len(facts.prices) == len(prices)
    assert facts.orders == () and facts.positions == () and facts.open_orders == ()


LEARNING_REQUESTS = [
    ("POST", "/fapi/v1/order", LTC_ORDER, "order_new_limit"),
    ("POST", "/fapi/v1/batchOrders", {"batchOrders": _legs(4)}, "batch_mixed"),
    ("GET", "/fapi/v1/openOrders", {"symbol": "BTCUSDT"}, "open_orders"),
    ("DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"}, "cancel_all"),
    ("GET", "/fapi/v3/positionRisk", {}, "position_risk_v3_hedge"),
    ("GET", "/fapi/v1/premiumIndex", {}, "premium_index_list"),
]


NOT_200 = [201, 400, 401, 403, 418, 429, 500, 503]


@pytest.mark.parametrize(("status", "method", "path", "params", "name"), in_turn(NOT_200, LEARNING_REQUESTS))
def test_parse_response_when_status_not_200_then_nothing_learned(
    method: str, path: str, params: dict, name: str, status: int
) -> None:
    assert learn(method, path, params, body_of(name)).empty is False  # the body teaches something at 200
    assert learn(method, path, params, body_of(name), status=status).empty


JUNK_BODIES = [b"", b"not json", b"<html><body>502 Bad Gateway</body></html>", b"\xff\xfe\x00", b"null", b"42",
               b'"text"', b"{", b'{"code":-2019,"msg":"Margin is insufficient."}']


@pytest.mark.parametrize(("body", "method", "path", "params", "name"), in_turn(JUNK_BODIES, LEARNING_REQUESTS))
def test_parse_response_when_body_is_junk_then_nothing_learned(
    method: str, path: str, params: dict, name: str, body: bytes
) -> None:
    assert learn(method, path, params, body).empty


@pytest.mark.parametrize(
    ("method", "path", "params", "name"),
    [
        ("POST", "/fapi/v1/leverage", {"symbol": "BTCUSDT", "leverage": "21"}, "leverage"),
        ("GET", "/fapi/v1/exchangeInfo", {}, "order_new_limit"),
        ("POST", "/fapi/v1/order/test", LTC_ORDER, "order_new_limit"),
    ],
)
def test_parse_response_when_endpoint_teaches_nothing_then_empty(
    method: str, path: str, params: dict, name: str
) -> None:
    assert learn(method, path, params, body_of(name)).empty


def test_parse_response_when_request_had_no_api_key_then_no_account_facts() -> None:
    assert learn("POST", "/fapi/v1/order", LTC_ORDER, body_of("order_new_limit"), api_key=None).orders == ()
    assert learn("GET", "/fapi/v3/positionRisk", {}, body_of("position_risk_v3_hedge"), api_key=None).positions == ()
    assert learn("GET", "/fapi/v1/openOrders", {}, body_of("open_orders"), api_key=None).open_orders == ()


def test_parse_response_when_path_disguised_then_learned_like_real_path() -> None:
    request = make_request("POST", "/FAPI/V1//ORDER/", LTC_ORDER, style="form")
    parsed = screen(ADAPTER, request)

    facts = ADAPTER.parse_response(parsed, request, 200, body_of("order_new_limit"), DECISION_ID)

    assert [(o.order_id, o.reservation_id) for o in facts.orders] == [("650640530", f"{DECISION_ID}:0")]


# ---- 4. rejections → native body → the real ccxt ------------------------------------------------------------

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
    Reason.UNKNOWN_ENDPOINT: ccxt.PermissionDenied,
    Reason.UNKNOWN_ACCOUNT: ccxt.PermissionDenied,
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

# Violations shaped like the engine's (engine.py): rule id and key=value context with limit and observation.
VIOLATIONS: dict[Reason, Violation] = {
    Reason.SYMBOL_NOT_ALLOWED: Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, symbol="DOGEUSDT"),
    Reason.ORDER_TYPE_NOT_ALLOWED: Violation.of("order-types", Reason.ORDER_TYPE_NOT_ALLOWED,
                                                order_type="TRAILING_STOP_MARKET"),
    Reason.LEVERAGE_EXCEEDS_MAX: Violation.of("max-leverage", Reason.LEVERAGE_EXCEEDS_MAX, leverage=D(50),
                                              max_leverage=D(20), symbol="BTCUSDT"),
    Reason.ORDER_QTY_EXCEEDS_MAX: Violation.of("max-order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, qty=D("5"),
                                               max_qty=D("1"), symbol="BTCUSDT"),
    Reason.ORDER_NOTIONAL_EXCEEDS_MAX: Violation.of("max-notional", Reason.ORDER_NOTIONAL_EXCEEDS_MAX,
                                                    notional=D("250000"), max_notional=D("100000"), qty=D("5"),
                                                    price=D("50000"), symbol="BTCUSDT"),
    Reason.POSITION_EXCEEDS_MAX: Violation.of("max-position", Reason.POSITION_EXCEEDS_MAX, position=D("3.5"),
                                              max_position=D("2"), symbol="BTCUSDT", side="buy",
                                              position_side="both"),
    Reason.ORDER_RATE_EXCEEDED: Violation.of("order-rate", Reason.ORDER_RATE_EXCEEDED, orders=11, limit=10,
                                             window_ms=10000),
    # built directly: the engine's context for a stored kill switch has a key named "reason" (the operator's)
    Reason.TRADING_HALTED: Violation("riskwall.kill-switch", Reason.TRADING_HALTED, (
        ("state", "HALTED"), ("action", "new"), ("scope", "global"), ("reason", "operator halt"))),
    Reason.TRADING_REDUCING: Violation("riskwall.kill-switch", Reason.TRADING_REDUCING, (
        ("state", "REDUCING"), ("action", "new"), ("scope", "binanceusdm"), ("reason", "drawdown"))),
    Reason.ACTION_FORBIDDEN: Violation.of("riskwall.forbidden-endpoint", Reason.ACTION_FORBIDDEN,
                                          endpoint="POST /sapi/v1/capital/withdraw/apply"),
    Reason.UNKNOWN_ENDPOINT: Violation.of("riskwall.unknown-endpoint", Reason.UNKNOWN_ENDPOINT,
                                          endpoint="POST /fapi/v1/somenewendpoint"),
    Reason.UNKNOWN_ACCOUNT: Violation.of("riskwall.known-accounts", Reason.UNKNOWN_ACCOUNT, account="0123456789ab"),
    Reason.PARSE_FAILED: Violation.of("riskwall.parse", Reason.PARSE_FAILED, error="quantity is not finite"),
    Reason.STATE_UNAVAILABLE: Violation.of("riskwall.state-store", Reason.STATE_UNAVAILABLE, error="timeout"),
    Reason.PRICE_OUTSIDE_COLLAR: Violation.of("price-collar", Reason.PRICE_OUTSIDE_COLLAR, price=D("60000"),
                                              reference=D("50000"), deviation_pct=D("20"), max_deviation_pct=D("5"),
                                              max_price=D("52500"), side="buy", price_kind="limit",
                                              symbol="BTCUSDT"),
    Reason.MARGIN_MODE_NOT_ALLOWED: Violation.of("margin-mode", Reason.MARGIN_MODE_NOT_ALLOWED, margin_mode="CROSSED",
                                                 allowed="ISOLATED", action="set_margin_mode", symbol="BTCUSDT"),
    Reason.DUPLICATE_ORDER: Violation.of("duplicates", Reason.DUPLICATE_ORDER, orders=2, limit=1, window_ms=1000,
                                         ago_ms=340, duplicate_of="3f2a9c", symbol="BTCUSDT", side="buy", qty=D("0.1"),
                                         price=D("50000")),
    Reason.OPEN_ORDERS_EXCEED_MAX: Violation.of("open-orders", Reason.OPEN_ORDERS_EXCEED_MAX, open_orders=51,
                                                max_open_orders=50, scope="symbol", symbol="BTCUSDT"),
    Reason.DAILY_NOTIONAL_EXCEEDS_MAX: Violation.of("daily-notional", Reason.DAILY_NOTIONAL_EXCEEDS_MAX,
                                                    daily_notional=D("1000100"), max_daily_notional=D("1000000"),
                                                    notional=D("5000"), scope="account", symbol="BTCUSDT"),
    Reason.GROSS_EXPOSURE_EXCEEDS_MAX: Violation.of("gross-exposure", Reason.GROSS_EXPOSURE_EXCEEDS_MAX,
                                                    gross_exposure=D("260000"), max_gross_exposure=D("250000"),
                                                    symbol="BTCUSDT"),
    Reason.EQUITY_UNKNOWN: Violation.of("daily-loss", Reason.EQUITY_UNKNOWN, account="0123456789ab",
                                        error="no equity read today: read the balance through the sidecar"),
    Reason.PRICE_UNKNOWN: Violation.of("max-notional", Reason.PRICE_UNKNOWN, symbol="BTCUSDT"),
    Reason.POLICY_UNAVAILABLE: Violation.of("riskwall.policy", Reason.POLICY_UNAVAILABLE),
    Reason.INTERNAL_ERROR: Violation.of("riskwall.internal", Reason.INTERNAL_ERROR, error="KeyError"),
}

CCXT_URLS = [
    "https://fapi.binance.com/fapi/v1/order",  # forward/transparent proxy: ccxt sees the real URL (linear map)
    "http://127.0.0.1:8081/fapi/v1/order",  # reverse listener: custom base URL (common map only)
    "https://demo-fapi.binance.com/fapi/v1/order",
    "https://testnet.binancefuture.com/fapi/v1/order",
]


def blocked(*violations: Violation) -> Decision:
    return Decision(Verdict.BLOCK, DECISION_ID, "rev-1", violations)


@pytest.fixture(scope="module")
def binanceusdm() -> ccxt.Exchange:
    return ccxt.binanceusdm({"apiKey": API_KEY, "secret": "s" * 64})


def ccxt_exception(exchange: ccxt.Exchange, status: int, headers: dict[str, str], body: bytes, url: str,
                   method: str = "POST") -> Exception:
    """What the sync ccxt `fetch()` raises for this answer (base/exchange.py): on HTTPError it calls
    handle_errors(...) and then, unless told to skip, handle_http_status_code(...), else ExchangeError."""
    text = body.decode("utf-8").strip()
    response_headers = CaseInsensitiveDict(headers)
    json_response = exchange.parse_json(text)
    request_headers = {"X-MBX-APIKEY": API_KEY, "Content-Type": FORM}
    request_body = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=5&timestamp=1700000000000&signature=" + SIGNATURE
    try:
        skip = exchange.handle_errors(status, "Bad Request", url, method, response_headers, text, json_response,
                                      request_headers, request_body)
        if not skip:
            exchange.handle_http_status_code(status, "Bad Request", url, method, text)
        raise ccxt.ExchangeError("fell through to fetch()'s generic ExchangeError")
    except ccxt.BaseError as exc:
        return exc


@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_blocked_then_http_400_json_code_and_msg(reason: Reason) -> None:
    rejection = ADAPTER.rejection(blocked(VIOLATIONS[reason]))

    assert rejection.status == 400
    assert dict(rejection.headers).get("content-type") == "application/json"
    payload = orjson.loads(rejection.body)
    assert set(payload) == {"code", "msg"}
    assert type(payload["code"]) is int and payload["code"] < 0
    assert isinstance(payload["msg"], str) and payload["msg"]
    assert str(reason) in payload["msg"]
    assert VIOLATIONS[reason].rule_id in payload["msg"]


def test_rejection_table_covers_every_reason() -> None:
    assert set(EXPECTED_CCXT_CLASS) == set(Reason) == set(VIOLATIONS)


@pytest.mark.parametrize(("url", "reason"), in_turn(CCXT_URLS, list(Reason)))
def test_rejection_when_real_ccxt_reads_it_then_expected_exception_class(
    binanceusdm: ccxt.Exchange, reason: Reason, url: str
) -> None:
    rejection = ADAPTER.rejection(blocked(VIOLATIONS[reason]))

    exc = ccxt_exception(binanceusdm, rejection.status, dict(rejection.headers), rejection.body, url)

    assert type(exc) is EXPECTED_CCXT_CLASS[reason], f"{type(exc).__name__}: {exc}"
    if reason is not Reason.ORDER_RATE_EXCEEDED:
        assert not isinstance(exc, ccxt.NetworkError)


@pytest.mark.parametrize("url", CCXT_URLS[:2])
def test_rejection_when_decision_has_no_violation_then_invalid_order(binanceusdm: ccxt.Exchange, url: str) -> None:
    rejection = ADAPTER.rejection(blocked())

    exc = ccxt_exception(binanceusdm, rejection.status, dict(rejection.headers), rejection.body, url)

    assert type(exc) is ccxt.InvalidOrder
    assert rejection.status == 400


def test_rejection_when_batch_leg_blocked_then_first_violation_decides(binanceusdm: ccxt.Exchange) -> None:
    decision = blocked(
        Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, leg=1, symbol="DOGEUSDT"),
        VIOLATIONS[Reason.ORDER_QTY_EXCEEDS_MAX],
    )

    rejection = ADAPTER.rejection(decision)

    assert orjson.loads(rejection.body)["code"] == -1121
    exc = ccxt_exception(binanceusdm, 400, dict(rejection.headers), rejection.body, CCXT_URLS[0])
    assert type(exc) is ccxt.BadSymbol


# ccxt reads some words anywhere in a 4xx body ("LOT_SIZE", "PRICE_FILTER", "Price * QTY is zero or less") or in
# msg ("MAX_POSITION", "PERCENT_PRICE_BY_SIDE") and picks a class from them (docs/venues.md §1.5: never put them in msg
# unless that class is wanted). Rule ids come from the user's policy and halt reasons from the operator.
STEERING_WORDS = ["LOT_SIZE", "PRICE_FILTER", "Price * QTY is zero or less", "MAX_POSITION",
                  "PERCENT_PRICE_BY_SIDE"]


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        pytest.param(word, reason, id=f"{reason}-{word}")
        for reason in (Reason.TRADING_HALTED, Reason.ORDER_RATE_EXCEEDED, Reason.POSITION_EXCEEDS_MAX)
        for word in STEERING_WORDS
    ],
)
def test_rejection_when_rule_id_holds_ccxt_keyword_then_class_unchanged(
    binanceusdm: ccxt.Exchange, word: str, reason: Reason
) -> None:
    violation = VIOLATIONS[reason]
    steered = Violation(f"desk-{word}", violation.reason, (*violation.context, ("note", word)), violation.leg)

    rejection = ADAPTER.rejection(blocked(steered))

    exc = ccxt_exception(binanceusdm, 400, dict(rejection.headers), rejection.body, CCXT_URLS[1])
    assert type(exc) is EXPECTED_CCXT_CLASS[reason], f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("url", CCXT_URLS[:2])
@pytest.mark.parametrize(
    "reason", [Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_QTY_EXCEEDS_MAX, Reason.TRADING_HALTED,
               Reason.ORDER_RATE_EXCEEDED, Reason.LEVERAGE_EXCEEDS_MAX, Reason.ACTION_FORBIDDEN],
)
def test_rejection_when_sent_through_ccxt_fetch_then_same_class(
    binanceusdm: ccxt.Exchange, monkeypatch: pytest.MonkeyPatch, reason: Reason, url: str
) -> None:
    """The same answer through ccxt's real sync `fetch()`, with only the HTTP session stubbed."""
    rejection = ADAPTER.rejection(blocked(VIOLATIONS[reason]))

    def answer(method: str, url_: str, **_: object) -> requests.Response:
        response = requests.Response()
        response.status_code = rejection.status
        response.reason = "Bad Request"
        response.url = url_
        response._content = rejection.body
        response.headers = CaseInsensitiveDict(dict(rejection.headers))
        return response

    monkeypatch.setattr(binanceusdm.session, "request", answer)

    with pytest.raises(ccxt.BaseError) as caught:
        binanceusdm.fetch(url, "POST", {"X-MBX-APIKEY": API_KEY, "Content-Type": FORM}, "symbol=BTCUSDT")

    assert type(caught.value) is EXPECTED_CCXT_CLASS[reason]
    if reason is not Reason.ORDER_RATE_EXCEEDED:
        assert not isinstance(caught.value, ccxt.NetworkError)


@pytest.mark.parametrize(
    ("order", "price", "trigger"),
    [
        ({"type": "MARKET", "stopPrice": "1"}, None, None),
        ({"type": "MARKET", "price": "1"}, None, None),
        ({"type": "LIMIT", "price": "50000", "stopPrice": "1", "timeInForce": "GTC"}, D("50000"), None),
        ({"type": "STOP_MARKET", "stopPrice": "49000", "price": "1"}, None, D("49000")),
        ({"type": "TRAILING_STOP_MARKET", "callbackRate": "1", "activationPrice": "1", "stopPrice": "1"}, None, None),
        ({"type": "STOP", "price": "48000", "stopPrice": "49000"}, D("48000"), D("49000")),
    ],
    ids=["market-decoy-stop", "market-decoy-price", "limit-decoy-stop", "stop-market-decoy-price",
         "trailing-decoys", "stop-limit-both"],
)
def test_parse_request_when_field_unused_by_order_type_then_not_taken_as_reference_price(
    order: dict[str, str], price: D | None, trigger: D | None
) -> None:
    # a MARKET order with stopPrice=1 once passed a notional limit when no mark price was known
    params = {"symbol": "BTCUSDT", "side": "BUY", "quantity": "5", **order}

    [intent] = parse(make_request("POST", "/fapi/v1/order", params)).intents

    assert (intent.price, intent.trigger_price) == (price, trigger)


# ---- 4. amends in hedge mode, decided ---------------------------------------------------------------------

HEDGED_POSITION_LIMIT = "rules:\n  - {id: position, type: max_position, default: {qty: 1}}\n"


@pytest.mark.parametrize(
    ("resting", "amended_to", "verdict", "reason"),
    [
        (PositionSide.LONG, "1", Verdict.BLOCK, "POSITION_EXCEEDS_MAX"),  # 0.99 long held + 1: over the limit
        (PositionSide.LONG, "0.005", Verdict.ALLOW, None),
        (PositionSide.SHORT, "1", Verdict.ALLOW, None),  # a buy on the short side closes it: the long is untouched
        (None, "0.005", Verdict.BLOCK, "PARSE_FAILED"),  # never seen: its position side cannot be known
    ],
    ids=["long-grows-long", "long-within", "short-side", "unknown-order"],
)
def test_decide_when_hedge_mode_order_amended_then_measured_on_the_orders_own_position_side(
    resting: PositionSide | None, amended_to: str, verdict: Verdict, reason: str | None
) -> None:
    # Binance's modify names no position side: the venue amends the order on the side it rests on, so reading the
    # amend as BOTH would measure a LONG order's new size against a position the account does not hold
    from riskwall.decider import decide_request

    from .factories import make_policy

    policy = make_policy(HEDGED_POSITION_LIMIT)
    store = MemoryStore(clock=lambda: 1_700_000_000_000)
    held = PositionsReport(VENUE, ACCOUNT, None, (("BTCUSDT", PositionSide.LONG, D("0.99")),))
    orders = () if resting is None else (
        update("BTCUSDT", "4100000001", Side.BUY, "0.001", "0", final=False, position_side=resting),)
    amend = make_request("PUT", "/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "orderId": "4100000001",
                                                   "quantity": amended_to, "price": "1000"}, style="form")

    async def run() -> Verdict | tuple[Verdict, str]:
        await store.learn(ResponseFacts(positions=(held,), orders=orders))
        evaluation = await decide_request(screen(ADAPTER, amend), policy, store, "amend-1")
        decision = evaluation.decision
        return decision.verdict if decision.deciding is None else (decision.verdict, decision.deciding.reason)

    assert asyncio.run(run()) == (verdict if reason is None else (verdict, reason))


BATCH_REDUCTION_CASES = [
    # (the batch's legs, verdict): a long 4 is held, max_position 4
    pytest.param([{"reduceOnly": "true", "quantity": "4"}, {"quantity": "8"}], Verdict.BLOCK,
                 id="reduce-only-then-twice-the-limit-ends-short-8"),
    pytest.param([{"quantity": "8"}, {"reduceOnly": "true", "quantity": "4"}], Verdict.BLOCK,
                 id="in-either-order"),
    pytest.param([{"reduceOnly": "true", "quantity": "4"}, {"quantity": "4"}], Verdict.ALLOW,
                 id="reduce-only-then-the-limit-ends-short-4"),
    pytest.param([{"reduceOnly": "true", "quantity": "2"}, {"quantity": "6"}], Verdict.ALLOW,
                 id="part-reduced-then-to-the-limit"),
    pytest.param([{"reduceOnly": "true", "quantity": "2"}, {"quantity": "7"}], Verdict.BLOCK,
                 id="part-reduced-then-past-the-limit"),
    pytest.param([{"reduceOnly": "true", "quantity": "4"}, {"quantity": "4", "symbol": "ETHUSDT"}], Verdict.ALLOW,
                 id="reduction-of-another-symbol-changes-nothing"),
]


@pytest.mark.parametrize(("legs", "verdict"), BATCH_REDUCTION_CASES)
def test_decide_when_batch_holds_a_reduce_only_leg_then_plain_legs_are_measured_from_where_it_leaves_the_position(
    legs: list[dict[str, str]], verdict: Verdict
) -> None:
    # reduce-only SELL 4 and SELL 8 against a long 4 end short 8: the plain leg may not count the long it closes
    from riskwall.decider import decide_request

    from .factories import make_policy

    policy = make_policy("rules:\n  - {id: pos, type: max_position, default: {qty: 4}}\n")
    store = MemoryStore(clock=lambda: 1_700_000_000_000)
    held = PositionsReport(VENUE, ACCOUNT, None, (("BTCUSDT", PositionSide.BOTH, D("4")),))
    raw = batch_json(*({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", **leg} for leg in legs))
    batch = make_request("POST", "/fapi/v1/batchOrders", {"batchOrders": raw}, style="form")

    async def run() -> Any:
        await store.learn(ResponseFacts(positions=(held,)))
        return (await decide_request(screen(ADAPTER, batch), policy, store, "batch-1")).decision

    decision = asyncio.run(run())

    assert decision.verdict is verdict
    if verdict is Verdict.BLOCK:
        assert decision.deciding is not None and decision.deciding.reason == "POSITION_EXCEEDS_MAX"
        # measured where the batch leaves the position (short 8, or 5), against the policy's own limit
        end = sum(D(leg["quantity"]) for leg in legs if "symbol" not in leg) - 4
        assert (decision.deciding.get("position"), decision.deciding.get("max_position")) == (str(end), "4")


@pytest.mark.parametrize(("padding", "refused"), [(0, False), (80, False), (120, True)])
@pytest.mark.parametrize("style", ["query", "form", "mixed"])
def test_parse_request_when_parameters_are_more_than_a_server_reads_then_refused(
    style: str, padding: int, refused: bool
) -> None:
    # the same value again changes nothing for a reader that takes it once; a server that stops reading after a
    # count of its own would drop whatever comes past it
    params = [("symbol", "BTCUSDT")] * padding + list(limit_order().items())

    parsed = parse(make_request("POST", "/fapi/v1/order", params, style=style))

    assert (parsed.error is not None and "more than 100 parameters" in parsed.error) is refused
    assert (len(parsed.intents) == 1) is not refused
