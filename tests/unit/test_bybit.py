"""Golden tests of the Bybit v5 adapter (`riskwall.venues.bybit.ADAPTER`).

Facts under test come from docs/venues.md §0 and §3 and Bybit's v5 docs: GET parameters travel in the query,
POST parameters in a JSON body that Bybit signs byte for byte; linear quantities are base units, inverse ones USD
contracts; order acknowledgements carry ids only; every answer, errors included, is HTTP 200 with
`{"retCode", "retMsg", "result", "retExtInfo", "time"}`. Rejections must make the real ccxt (bybit.handle_errors
and fetch) and the real pybit (HTTP._submit_request) raise an order-class exception, never a network error.

Response bodies are literal shapes from Bybit's documentation (order/open-order, position/position, market/tickers,
market/instrument, order/batch-place), trimmed to the fields that matter plus a few that do not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from decimal import Decimal
from typing import Any
from unittest.mock import ANY
from urllib.parse import urlencode

import ccxt
import orjson
import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP
from requests.structures import CaseInsensitiveDict

from riskwall import engine
from riskwall.decider import decide_request, learn_answer
from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    AmendAccepted,
    ClosedOrder,
    Decision,
    Known,
    KnownOrder,
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
from riskwall.policy.loader import Policy
from riskwall.state.base import StateView
from riskwall.state.memory import MemoryStore
from riskwall.venues import ADAPTERS, default_host_map, parse_venue
from riskwall.venues import bybit as bybit_adapter
from riskwall.venues.base import MAX_BODY_BYTES, HttpRequest, screen
from riskwall.venues.bybit import ADAPTER, order_kind, violation_code

from .factories import in_turn, make_policy

D = Decimal
VENUE = Venue.BYBIT
JSON = "application/json"

# Bybit's documentation sample shapes: realistic, no real credentials
API_KEY = "XJ0bQ3cQ2D5vLkC9Hk"
SECRET = "Mr3xkMqB8nP2sT6vW9yZ1aC4eF7hJ0kL3nQ5"
SIGNATURE = "4c3c2b7a0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbc"
ACCOUNT = fingerprint(API_KEY)
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"

CREATE = "POST /v5/order/create"
BATCH = "POST /v5/order/create-batch"
AMEND = "POST /v5/order/amend"
AMEND_BATCH = "POST /v5/order/amend-batch"
LINK = "riskwall-bot-0001_a"
OID = "fd4300ae-7847-404e-b947-b46980a4d140"


# ---- helpers ---------------------------------------------------------------------------------------------


def make_request(
    method: str,
    path: str,
    body: dict[str, Any] | list[Any] | bytes | None = None,
    *,
    query: dict[str, str] | tuple[tuple[str, str], ...] = (),
    api_key: str | None = API_KEY,
    host: str = "api.bybit.com",
    content_type: str | None = JSON,
    headers: dict[str, str] | None = None,
    repeated: frozenset[str] = frozenset(),
) -> HttpRequest:
    """An HttpRequest as the addon builds it. A dict body is serialised compactly, as ccxt sends it."""
    if isinstance(body, bytes):
        raw = body
    else:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    pairs = tuple(query.items()) if isinstance(query, dict) else tuple(query)
    all_headers = {"user-agent": "python-requests/2.32.3", "x-bapi-timestamp": "1700000000000",
                   "x-bapi-recv-window": "5000", "x-bapi-sign": SIGNATURE}
    if api_key is not None:
        all_headers["x-bapi-api-key"] = api_key
    if raw and content_type is not None:
        all_headers["content-type"] = content_type
    all_headers.update(headers or {})
    full_path = path + ("?" + urlencode(pairs) if pairs else "")
    return HttpRequest(method, host, 443, full_path, pairs, all_headers, raw, repeated)


def parse(request: HttpRequest) -> ParsedRequest:
    """Parse, and check what must hold for every request: no credential survives into the result."""
    parsed = screen(ADAPTER, request)
    text = repr(parsed)
    assert API_KEY not in text and SIGNATURE not in text and SECRET not in text
    return parsed


def intent(endpoint: str, action: Action = Action.NEW, **fields: Any) -> OrderIntent:
    return OrderIntent(venue=VENUE, action=action, endpoint=endpoint, account=ACCOUNT, **fields)


def listed_as(category: str, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with the kind of open-orders listing that shows the order: Bybit lists linear orders per settle coin
    (its unified symbol's, after the colon) and inverse ones together."""
    settle = (fields.get("unified_symbol") or "").partition(":")[2].partition("-")[0] or "?"  # "?": not known yet
    return {**fields, "kind": "inverse" if category == "inverse" else f"linear:{settle}"}


def store_view(prices: dict[str, str] | None = None, orders: dict[str, KnownOrder] | None = None,
               by_client: dict[str, KnownOrder] | None = None) -> StateView:
    """What the store tells of a request: this venue's prices by symbol, open orders by id and by orderLinkId."""
    return StateView(prices={(VENUE, symbol): D(price) for symbol, price in (prices or {}).items()},
                     orders=dict(orders or {}), by_client=dict(by_client or {}))


def resolved(request: HttpRequest, view: StateView | None = None) -> ParsedRequest:
    """`request` parsed, then completed with what the store knows (`view`), as the decider plans it."""
    return engine.resolve(parse(request), view or StateView())


def learned_store(*steps: tuple[str, str, dict[str, Any], dict[str, Any]]) -> MemoryStore:
    """A MemoryStore that learned the answers to `steps` (method, path, query or body, answer)."""
    store = MemoryStore(clock=lambda: 1_700_000_000_000)

    async def run() -> None:
        for method, path, params, response in steps:
            await store.learn(learn(method, path, params, response))

    asyncio.run(run())
    return store


def resolved_by(store: MemoryStore, request: HttpRequest) -> ParsedRequest:
    """`request` parsed and completed with the store's view of it, read as the decider reads it."""
    parsed = parse(request)

    async def view() -> StateView:
        query = engine.view_query(parsed)
        seen = await store.view(query)
        wider = engine.wider_query(query, seen)
        return seen if wider is None else await store.view(wider)

    return engine.resolve(parsed, asyncio.run(view()))


def assert_exact_decimals(actual: OrderIntent, expected: OrderIntent) -> None:
    """Decimal == ignores trailing zeros; the adapter must keep the request's own digits (no float trip)."""
    for name in ("quantity", "price", "trigger_price", "leverage"):
        want, got = getattr(expected, name), getattr(actual, name)
        if want is None:
            assert got is None, name
        else:
            assert type(got) is Decimal, name
            assert got.as_tuple() == want.as_tuple(), f"{name}: {got!r} != {want!r}"


def order(**overrides: Any) -> dict[str, Any]:
    """A linear limit order body as ccxt.bybit builds it (create_order_request)."""
    body: dict[str, Any] = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "timeInForce": "GTC",
                            "price": "50000", "category": "linear", "qty": "0.001"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def leg(**overrides: Any) -> dict[str, Any]:
    body = order(**overrides)
    body.pop("category", None)
    return body


def without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in keys}


BTC = {"symbol": "BTCUSDT", "unified_symbol": "BTC/USDT:USDT"}
ETH = {"symbol": "ETHUSDT", "unified_symbol": "ETH/USDT:USDT"}
BTCUSD = {"symbol": "BTCUSD", "unified_symbol": "BTC/USD:BTC"}


# ---- 1. registration and hosts -----------------------------------------------------------------------------


def test_registry_when_bybit_named_then_adapter_and_every_documented_host_map_to_it() -> None:
    assert parse_venue("bybit") is VENUE and ADAPTERS[VENUE] is ADAPTER
    hosts = default_host_map()
    for host in ("api.bybit.com", "api.bytick.com", "api-testnet.bybit.com", "api-demo.bybit.com",
                 "api.bybit.nl", "api.bybit.eu", "api.bybitgeorgia.ge", "stream.bybit.com",
                 "stream-testnet.bybit.com"):
        assert hosts.venue(host) is VENUE, host
    assert ADAPTER.default_hosts[0] == "api.bybit.com"  # the reverse listener's default upstream
    assert {"x-bapi-api-key", "x-bapi-sign"} <= ADAPTER.secret_fields


def test_endpoints_when_listed_then_every_order_endpoint_with_its_action() -> None:
    endpoints = ADAPTER.endpoints

    assert endpoints[("POST", "/v5/order/create")] is Action.NEW
    assert endpoints[("POST", "/v5/order/create-batch")] is Action.NEW
    assert endpoints[("POST", "/v5/position/trading-stop")] is Action.NEW
    assert endpoints[("POST", "/v5/order/amend-batch")] is Action.AMEND
    assert endpoints[("POST", "/v5/order/cancel-batch")] is Action.CANCEL
    assert endpoints[("POST", "/v5/order/cancel-all")] is Action.CANCEL_ALL
    assert endpoints[("POST", "/v5/position/switch-isolated")] is Action.SET_LEVERAGE
    assert endpoints[("POST", "/v5/account/set-margin-mode")] is Action.SET_MARGIN_MODE
    assert all(path == path.lower() and method == "POST" for method, path in endpoints)


# ---- 2. requests → ParsedRequest ---------------------------------------------------------------------------

NEW_ORDER_CASES = [
    pytest.param(
        order(orderLinkId=LINK, price="50000.10"),
        dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000.10"), order_type="LIMIT",
             time_in_force="GTC", client_order_id=LINK),
        id="limit-gtc-ccxt-shape",
    ),
    pytest.param(
        order(symbol="ethusdt", side="Sell", orderType="Market", timeInForce=None, price=None, qty="0.50"),
        dict(**ETH, side=Side.SELL, quantity=D("0.50"), order_type="MARKET"),
        id="market-lower-case-symbol",
    ),
    pytest.param(
        order(orderType="Market", timeInForce=None, price="1"),
        dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=None, order_type="MARKET"),
        id="market-ignores-decoy-price",
    ),
    pytest.param(
        order(side="Sell", orderType="Market", price=None, timeInForce=None, triggerPrice="48000.5",
              triggerDirection=2, triggerBy="MarkPrice", qty="0.002"),
        dict(**BTC, side=Side.SELL, quantity=D("0.002"), trigger_price=D("48000.5"), order_type="MARKET"),
        id="conditional-market",
    ),
    pytest.param(
        order(price="51000", triggerPrice="50900", triggerDirection=1),
        dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("51000"), trigger_price=D("50900"),
             order_type="LIMIT", time_in_force="GTC"),
        id="conditional-limit",
    ),
    pytest.param(
        order(side="Sell", orderType="Market", price=None, timeInForce=None, qty="0.010", reduceOnly=True),
        dict(**BTC, side=Side.SELL, quantity=D("0.010"), order_type="MARKET", reduce_only=True),
        id="reduce-only-true",
    ),
    pytest.param(
        order(reduceOnly=False, closeOnTrigger=False),
        dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT", time_in_force="GTC"),
        id="reduce-only-false",
    ),
    pytest.param(
        order(side="Sell", orderType="Market", price=None, timeInForce=None, qty="0", reduceOnly=True,
              closeOnTrigger=True),
        dict(**BTC, side=Side.SELL, quantity=None, order_type="MARKET", reduce_only=True, close_position=True),
        id="qty-zero-closes-whole-position",
    ),
    pytest.param(
        order(side="Buy", orderType="Market", price=None, timeInForce=None, qty="0.003", closeOnTrigger=True),
        dict(**BTC, side=Side.BUY, quantity=D("0.003"), order_type="MARKET"),
        id="close-on-trigger-alone-is-no-exemption",
    ),
    pytest.param(
        order(positionIdx=1, qty="0.003", price="49000"),
        dict(**BTC, side=Side.BUY, position_side=PositionSide.LONG, quantity=D("0.003"), price=D("49000"),
             order_type="LIMIT", time_in_force="GTC"),
        id="hedge-open-long",
    ),
    pytest.param(
        order(side="Sell", positionIdx=2, orderType="Market", price=None, timeInForce=None, qty="0.004"),
        dict(**BTC, side=Side.SELL, position_side=PositionSide.SHORT, quantity=D("0.004"), order_type="MARKET"),
        id="hedge-open-short",
    ),
    pytest.param(
        order(side="Sell", positionIdx="1", orderType="Market", price=None, timeInForce=None, qty="0.003"),
        dict(**BTC, side=Side.SELL, position_side=PositionSide.LONG, quantity=D("0.003"), order_type="MARKET"),
        id="hedge-close-long-string-idx",
    ),
    pytest.param(
        order(positionIdx=0),
        dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT", time_in_force="GTC"),
        id="explicit-one-way",
    ),
    pytest.param(
        order(timeInForce="PostOnly", price="49999.9", smpType="CancelMaker"),
        dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("49999.9"), order_type="LIMIT",
             time_in_force="PostOnly"),
        id="post-only",
    ),
    pytest.param(
        order(price=None, bboSideType="Queue", bboLevel="1"),
        dict(**BTC, side=Side.BUY, quantity=D("0.001"), order_type="LIMIT", time_in_force="GTC"),
        id="bbo-limit-without-price",
    ),
    pytest.param(
        order(takeProfit="60000", stopLoss="45000", tpslMode="Full", marketUnit="baseCoin"),
        dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT", time_in_force="GTC"),
        id="attached-tp-sl",
    ),
    pytest.param(
        order(symbol="1000PEPEUSDT", qty="1000000000000000", price="0.00000001"),
        dict(symbol="1000PEPEUSDT", unified_symbol="1000PEPE/USDT:USDT", side=Side.BUY,
             quantity=D("1000000000000000"), price=D("0.00000001"), order_type="LIMIT", time_in_force="GTC"),
        id="quantity-at-the-sanity-cap",
    ),
    pytest.param(
        order(symbol="BTCPERP", qty="0.010"),
        dict(symbol="BTCPERP", side=Side.BUY, quantity=D("0.010"), price=D("50000"), order_type="LIMIT",
             time_in_force="GTC"),
        id="usdc-perp-unified-unknown-until-learned",
    ),
]


@pytest.mark.parametrize(("body", "fields"), NEW_ORDER_CASES)
def test_parse_request_when_new_order_then_one_exact_intent(body: dict, fields: dict) -> None:
    parsed = parse(make_request("POST", "/v5/order/create", body))

    expected = intent(CREATE, **listed_as(body["category"], fields))
    assert parsed == ParsedRequest(VENUE, Action.NEW, CREATE, ACCOUNT, (expected,))
    assert_exact_decimals(parsed.intents[0], expected)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001", '
        b'"price": "50000", "positionIdx": 0}',  # pybit: json.dumps with spaces, positionIdx cast to int
        b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":0.001,"price":50000}',
        b'\n{ "category" : "linear", "symbol" : "BTCUSDT", "side" : "Buy", "orderType" : "Limit",\n'
        b'  "qty" : "0.001", "price" : "50000", "reduceOnly": null }\n',
        b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"50000",'
        b'"orderLinkId":"\\u0061bc"}',
    ],
    ids=["pybit-spacing", "json-numbers", "whitespace-and-null", "escaped-string"],
)
def test_parse_request_when_body_spelled_differently_then_same_reading(raw: bytes) -> None:
    parsed = parse(make_request("POST", "/v5/order/create", raw))

    assert parsed.error is None
    [got] = parsed.intents
    assert (got.symbol, got.side, got.quantity, got.price) == ("BTCUSDT", Side.BUY, D("0.001"), D("50000"))
    assert type(got.quantity) is Decimal


INVERSE = "inverse"

INVERSE_CASES = [
    # (body overrides, the store's price, expected base quantity, expected price, expected trigger)
    pytest.param(dict(qty="25000", price="50000"), None, D("0.5"), D("50000"), None, id="limit-at-own-price"),
    pytest.param(dict(qty="100", price="30000"), None, D("0.0033333334"), D("30000"), None,
                 id="limit-rounded-up-at-10-decimals"),
    pytest.param(dict(qty="30000", orderType="Market", price=None, timeInForce=None, triggerPrice="60000",
                      triggerDirection=1), None, D("0.5"), None, D("60000"), id="conditional-market-at-trigger"),
    pytest.param(dict(qty="40000", orderType="Market", price=None, timeInForce=None), "40000", D("1"), None,
                 None, id="market-at-the-store-price"),
    pytest.param(dict(qty="40000", orderType="Market", price="1", timeInForce=None), "40000", D("1"), None,
                 None, id="market-decoy-price-ignored"),
    # a buy far above the market fills at the market: 1,000,000 USD are 20 BTC at the mark, not 1 at its limit
    pytest.param(dict(qty="1000000", price="1000000"), "50000", D("20"), D("1000000"), None,
                 id="buy-limit-above-the-mark-at-the-mark"),
    pytest.param(dict(qty="25000", price="50000"), "60000", D("0.5"), D("50000"), None,
                 id="buy-limit-below-the-mark-at-its-own-price"),
    pytest.param(dict(side="Sell", qty="25000", price="50000"), "40000", D("0.5"), D("50000"), None,
                 id="sell-limit-above-the-mark-at-its-own-price"),
    pytest.param(dict(side="Sell", qty="25000", price="50000"), "60000", D("0.5"), D("50000"), None,
                 id="sell-limit-below-the-mark-at-its-own-price"),
    pytest.param(dict(qty="1000000", price="1000000"), None, D("1"), D("1000000"), None,
                 id="buy-limit-and-no-mark-known-at-its-own-price"),
    pytest.param(dict(qty="30000", orderType="Market", price=None, timeInForce=None, triggerPrice="60000",
                      triggerDirection=1), "50000", D("0.6"), None, D("60000"),
                 id="conditional-buy-trigger-above-the-mark-at-the-mark"),
    # triggered at 5000, a limit buy at 50000 fills at about 5000: 100,000 USD are 20 BTC, not 2
    pytest.param(dict(qty="100000", price="50000", triggerPrice="5000", triggerDirection=2), "50000", D("20"),
                 D("50000"), D("5000"), id="conditional-limit-buy-at-its-trigger"),
    pytest.param(dict(side="Sell", qty="100000", price="40000", triggerPrice="45000", triggerDirection=2), "50000",
                 D("2.5"), D("40000"), D("45000"), id="conditional-limit-sell-at-its-limit"),
]


@pytest.mark.parametrize(("overrides", "store_price", "base", "price", "trigger"), INVERSE_CASES)
def test_parse_request_when_inverse_order_then_usd_contracts_become_base_units(
    overrides: dict, store_price: str | None, base: Decimal, price: Decimal | None, trigger: Decimal | None
) -> None:
    body = order(category=INVERSE, symbol="BTCUSD", **overrides)
    view = store_view({"BTCUSD": store_price} if store_price is not None else None)

    parsed = resolved(make_request("POST", "/v5/order/create", body), view)

    assert parsed.error is None
    [got] = parsed.intents
    assert got.symbol == "BTCUSD" and got.unified_symbol == "BTC/USD:BTC"
    assert got.quantity == base and got.price == price and got.trigger_price == trigger
    assert got.resolve is None


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(dict(orderType="Market", price=None, timeInForce=None), id="market"),
        pytest.param(dict(price="50000"), id="buy-limit-with-its-own-price"),
        pytest.param(dict(side="Sell", price="50000"), id="sell-limit-with-its-own-price"),
        pytest.param(dict(orderType="Market", price=None, timeInForce=None, triggerPrice="60000",
                          triggerDirection=1), id="conditional-with-its-own-trigger"),
    ],
)
def test_parse_request_when_inverse_order_then_sized_only_once_the_store_price_is_read(overrides: dict) -> None:
    body = order(category=INVERSE, symbol="BTCUSD", qty="100", **overrides)

    parsed = parse(make_request("POST", "/v5/order/create", body))

    # a buy's own price is not enough (it converts at the lower of it and the store's mark), and a sidecar's own
    # memory of prices would size it differently from its neighbours: only the store's price does
    [got] = parsed.intents
    assert got.quantity is None and got.resolve is not None
    assert engine.view_query(parsed).symbols == ("BTCUSD",)  # the view reads that price


def test_resolve_when_inverse_market_order_and_store_has_price_then_contracts_rounded_up_at_its_price() -> None:
    body = order(category=INVERSE, symbol="BTCUSD", orderType="Market", price=None, timeInForce=None, qty="100")

    parsed = resolved(make_request("POST", "/v5/order/create", body), store_view({"BTCUSD": "30000"}))

    [got] = parsed.intents
    assert got.quantity == D("0.0033333334") and got.resolve is None
    assert parsed.known is not None and parsed.known.price("BTCUSD") == D("30000")


@pytest.mark.parametrize("view", [StateView(), store_view({"BTCUSDT": "50000"})],
                         ids=["store-empty-or-down", "price-of-another-symbol-only"])
def test_resolve_when_inverse_market_order_and_no_price_known_then_error_names_qty(view: StateView) -> None:
    body = order(category=INVERSE, symbol="BTCUSD", orderType="Market", price=None, timeInForce=None, qty="100")

    parsed = resolved(make_request("POST", "/v5/order/create", body), view)

    assert parsed.action is Action.NEW and parsed.intents == ()
    assert parsed.error == (
        "qty is in USD contracts on inverse markets and no price is known to convert it to base units: "
        "send a limit price, or fetch the ticker or positions through the sidecar first")


def test_plan_when_inverse_market_order_and_no_price_known_then_blocked_as_unparseable() -> None:
    body = order(category=INVERSE, symbol="BTCUSD", orderType="Market", price=None, timeInForce=None, qty="100")

    plan = engine.plan(parse(make_request("POST", "/v5/order/create", body)), make_policy("rules: []\n"),
                       StateView(), DECISION_ID)

    [violation] = plan.violations
    assert violation.reason is Reason.PARSE_FAILED and "qty is in USD contracts" in violation.detail


INVERSE_POSITION_LIMIT = make_policy("rules:\n  - {id: pos, type: max_position, default: {qty: 5}}\n")


@pytest.mark.parametrize(
    ("side", "limit", "reserved"),
    [
        # 1,000,000 USD at a limit of 1,000,000 fill at the mark 50,000: 20 BTC, not 1
        pytest.param("Buy", "1000000", D("20"), id="buy-far-above-the-mark-counted-at-the-mark"),
        pytest.param("Buy", "40000", D("25"), id="buy-below-the-mark-at-its-own-price"),
        # a sell fills at or above its limit: at most 1 BTC
        pytest.param("Sell", "1000000", D("1"), id="sell-far-above-the-mark-at-its-own-price"),
    ],
)
def test_plan_when_inverse_limit_order_and_store_has_mark_then_reserved_at_the_worst_fill(
    side: str, limit: str, reserved: Decimal
) -> None:
    body = order(category=INVERSE, symbol="BTCUSD", side=side, qty="1000000", price=limit)

    plan = engine.plan(parse(make_request("POST", "/v5/order/create", body)), INVERSE_POSITION_LIMIT,
                       store_view({"BTCUSD": "50000"}), DECISION_ID)

    assert plan.violations == () and plan.reservation is not None
    [entry] = plan.reservation.pending
    assert entry.quantity == reserved


def test_decide_request_when_inverse_buy_far_above_the_learned_mark_then_blocked_by_the_position_limit() -> None:
    store = learned_store(("GET", "/v5/market/tickers", {"category": "inverse", "symbol": "BTCUSD"},
                           TICKERS_INVERSE))
    body = order(category=INVERSE, symbol="BTCUSD", qty="1000000", price="1000000")
    parsed = parse(make_request("POST", "/v5/order/create", body))

    evaluation = asyncio.run(decide_request(parsed, INVERSE_POSITION_LIMIT, store, DECISION_ID))

    # 20 BTC at the store's mark 50000 (1 BTC at its own limit would pass)
    assert evaluation.decision.verdict is Verdict.BLOCK
    assert [v.reason for v in evaluation.decision.violations] == [Reason.POSITION_EXCEEDS_MAX]
    assert evaluation.parsed is not None and evaluation.parsed.intents[0].quantity == D("20")


def test_parse_request_when_inverse_close_position_without_price_then_no_store_price_needed() -> None:
    body = order(category=INVERSE, symbol="BTCUSD", side="Sell", orderType="Market", price=None, timeInForce=None,
                 qty="0", reduceOnly=True)

    parsed = resolved(make_request("POST", "/v5/order/create", body))

    [got] = parsed.intents
    assert parsed.error is None and got.quantity is None and got.close_position and got.resolve is None


def test_resolve_when_inverse_reduce_only_order_and_no_price_known_then_still_unparseable() -> None:
    body = order(category=INVERSE, symbol="BTCUSD", side="Sell", orderType="Market", price=None, timeInForce=None,
                 qty="100", reduceOnly=True)

    parsed = resolved(make_request("POST", "/v5/order/create", body))

    assert parsed.intents == () and parsed.error is not None and parsed.error.startswith("qty is in USD contracts")


def test_resolve_when_inverse_price_learned_from_ticker_into_the_store_then_market_order_converts() -> None:
    store = learned_store(("GET", "/v5/market/tickers", {"category": "inverse", "symbol": "BTCUSD"},
                           TICKERS_INVERSE))
    body = order(category=INVERSE, symbol="BTCUSD", orderType="Market", price=None, timeInForce=None, qty="2500")

    [got] = resolved_by(store, make_request("POST", "/v5/order/create", body)).intents

    assert got.quantity == D("0.05")  # 2500 USD at the store's mark 50000


def test_resolve_when_linear_order_and_store_has_price_then_linear_quantity_unchanged() -> None:
    parsed = resolved(make_request("POST", "/v5/order/create", order(qty="2")), store_view({"BTCUSDT": "10"}))

    [got] = parsed.intents
    assert got.quantity == D("2")


BATCH_CASES = [
    pytest.param(
        {"category": "linear", "request": [leg(orderLinkId=LINK)]},
        [dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT",
              time_in_force="GTC", client_order_id=LINK)],
        id="one-leg",
    ),
    pytest.param(
        {"category": "linear", "request": [
            leg(),
            leg(symbol="ETHUSDT", side="Sell", orderType="Market", price=None, timeInForce=None, qty="0.05",
                reduceOnly=True),
        ]},
        [
            dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT",
                 time_in_force="GTC"),
            dict(**ETH, side=Side.SELL, quantity=D("0.05"), order_type="MARKET", reduce_only=True),
        ],
        id="two-legs",
    ),
    pytest.param(
        {"category": "linear", "request": [
            leg(positionIdx=1, orderType="Market", price=None, timeInForce=None, qty="0.002"),
            leg(side="Sell", positionIdx=2, orderType="Market", price=None, timeInForce=None, qty="0.003"),
        ]},
        [
            dict(**BTC, side=Side.BUY, position_side=PositionSide.LONG, quantity=D("0.002"), order_type="MARKET"),
            dict(**BTC, side=Side.SELL, position_side=PositionSide.SHORT, quantity=D("0.003"), order_type="MARKET"),
        ],
        id="hedge-legs",
    ),
    pytest.param(
        {"category": "inverse", "request": [leg(symbol="BTCUSD", qty="5000", price="50000")]},
        [dict(**BTCUSD, side=Side.BUY, quantity=D("0.1"), contracts=D("5000"), price=D("50000"), order_type="LIMIT",
              time_in_force="GTC")],
        id="inverse-leg-converted",
    ),
    pytest.param(
        {"category": "linear", "request": [leg(qty=f"0.0{n:02d}") for n in range(1, 21)]},
        [dict(**BTC, side=Side.BUY, quantity=D(f"0.0{n:02d}"), price=D("50000"), order_type="LIMIT",
              time_in_force="GTC") for n in range(1, 21)],
        id="twenty-legs-the-venue-maximum",
    ),
]


@pytest.mark.parametrize(("body", "legs"), BATCH_CASES)
def test_parse_request_when_batch_orders_then_one_intent_per_leg_in_order(body: dict, legs: list) -> None:
    # as decided on a store that knows no price: inverse legs convert at their own
    parsed = resolved(make_request("POST", "/v5/order/create-batch", body))

    expected = tuple(intent(BATCH, **listed_as(body["category"], fields)) for fields in legs)
    assert parsed == ParsedRequest(VENUE, Action.NEW, BATCH, ACCOUNT, expected)
    for got, want in zip(parsed.intents, expected, strict=True):
        assert_exact_decimals(got, want)


AMEND_CASES = [
    pytest.param(
        {"category": "linear", "symbol": "BTCUSDT", "orderId": OID, "qty": "0.002", "price": "49000.5"},
        dict(**BTC, quantity=D("0.002"), price=D("49000.5"), order_id=OID),
        id="qty-and-price-by-order-id",
    ),
    pytest.param(
        {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": LINK, "price": "49000"},
        dict(**BTC, price=D("49000"), client_order_id=LINK),
        id="price-only-by-link-id",
    ),
    pytest.param(
        {"category": "linear", "symbol": "BTCUSDT", "orderId": OID, "triggerPrice": "47000", "triggerBy": "LastPrice"},
        dict(**BTC, trigger_price=D("47000"), order_id=OID),
        id="trigger-only",
    ),
    pytest.param(
        {"category": "inverse", "symbol": "BTCUSD", "orderId": "1321003749386327552", "qty": "10000",
         "price": "40000"},
        dict(**BTCUSD, quantity=D("0.25"), price=D("40000"), order_id="1321003749386327552"),
        id="inverse-qty-converted-at-new-price",
    ),
]


@pytest.mark.parametrize(("body", "fields"), AMEND_CASES)
def test_parse_request_when_amend_then_one_amend_intent_without_side(body: dict, fields: dict) -> None:
    # as decided on a store that knows neither the order nor a price: an inverse qty converts at the amend's own
    parsed = resolved(make_request("POST", "/v5/order/amend", body))

    expected = intent(AMEND, Action.AMEND, **listed_as(body["category"], fields))
    assert parsed == ParsedRequest(VENUE, Action.AMEND, AMEND, ACCOUNT, (expected,))
    assert parsed.intents[0].side is None  # Bybit's amend carries none: see the report on the model


def test_parse_request_when_batch_amend_then_one_amend_intent_per_leg() -> None:
    body = {"category": "linear", "request": [
        {"symbol": "BTCUSDT", "orderId": OID, "qty": "0.002"},
        {"symbol": "ETHUSDT", "orderLinkId": LINK, "price": "3100"},
    ]}

    parsed = parse(make_request("POST", "/v5/order/amend-batch", body))

    assert parsed == ParsedRequest(VENUE, Action.AMEND, AMEND_BATCH, ACCOUNT, (
        intent(AMEND_BATCH, Action.AMEND, **BTC, quantity=D("0.002"), order_id=OID, kind="linear:USDT"),
        intent(AMEND_BATCH, Action.AMEND, **ETH, price=D("3100"), client_order_id=LINK, kind="linear:USDT"),
    ))


def amend_request(**fields: Any) -> HttpRequest:
    return make_request("POST", "/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", **fields})


SHORT_SELL = KnownOrder(OID, "BTCUSDT", Side.SELL, PositionSide.SHORT, D("0.1"))


def test_view_query_when_amend_names_only_its_link_id_then_the_store_is_asked_by_it() -> None:
    by_link = engine.view_query(parse(amend_request(orderLinkId=LINK, qty="0.4")))
    by_id = engine.view_query(parse(amend_request(orderId=OID, orderLinkId=LINK, qty="0.4")))

    assert (by_link.order_ids, by_link.client_ids) == ((), (LINK,))
    assert (by_id.order_ids, by_id.client_ids) == ((OID,), ())  # Bybit reads orderId first, as the store does


@pytest.mark.parametrize(
    ("fields", "view"),
    [
        pytest.param(dict(orderLinkId=LINK), store_view(by_client={LINK: SHORT_SELL}), id="by-link-id"),
        pytest.param(dict(orderId=OID), store_view(orders={OID: SHORT_SELL}), id="by-order-id"),
        pytest.param(dict(orderId=OID, orderLinkId="another-link"), store_view(orders={OID: SHORT_SELL}),
                     id="order-id-first"),
    ],
)
def test_resolve_when_amended_order_is_known_to_the_store_then_its_side_and_order_id(
    fields: dict, view: StateView
) -> None:
    [got] = resolved(amend_request(qty="0.4", **fields), view).intents

    assert (got.side, got.position_side, got.order_id, got.reduce_only) == (Side.SELL, PositionSide.SHORT, OID,
                                                                           False)
    assert got.quantity == D("0.4") and got.resolve is None


@pytest.mark.parametrize(("fields", "known", "refused"), [
    # USD contracts moved to a lower price are more coin than the order held: the size must be restated
    pytest.param(dict(price="4900"), KnownOrder(OID, "BTCUSD", Side.BUY, PositionSide.BOTH), True, id="price-alone"),
    pytest.param(dict(triggerPrice="4900"), None, True, id="trigger-alone-of-an-unknown-order"),
    pytest.param(dict(price="4900"), KnownOrder(OID, "BTCUSD", Side.SELL, PositionSide.BOTH, reduce_only=True),
                 False, id="reduce-only-order"),
    pytest.param(dict(price="4900", qty="1000"), KnownOrder(OID, "BTCUSD", Side.BUY, PositionSide.BOTH), False,
                 id="size-restated"),
])
def test_resolve_when_inverse_amend_moves_the_price_without_the_size_then_refused(
    fields: dict, known: KnownOrder | None, refused: bool
) -> None:
    request = make_request("POST", "/v5/order/amend", {"category": "inverse", "symbol": "BTCUSD", "orderId": OID,
                                                       **fields})

    parsed = resolved(request, store_view({"BTCUSD": "50000"}, orders={OID: known} if known else {}))

    assert (parsed.error == "an inverse order's coin size depends on its price: an amend of its price must "
                            "restate qty") is refused, parsed.error
    assert refused or parsed.error is None


def test_resolve_when_amended_order_is_reduce_only_in_the_store_then_the_amend_only_reduces() -> None:
    known = KnownOrder(OID, "BTCUSDT", Side.SELL, PositionSide.BOTH, reduce_only=True)

    [got] = resolved(amend_request(orderLinkId=LINK, price="51000"), store_view(by_client={LINK: known})).intents

    assert (got.side, got.reduce_only, got.only_reduces) == (Side.SELL, True, True)


@pytest.mark.parametrize(
    ("fields", "view"),
    [
        pytest.param(dict(symbol="ETHUSDT", orderId=OID),
                     store_view(orders={OID: KnownOrder(OID, "BTCUSDT", Side.SELL, PositionSide.BOTH,
                                                        reduce_only=True)}), id="order-of-another-symbol"),
        pytest.param(dict(orderId="another"), StateView(), id="order-unknown"),
        pytest.param(dict(orderLinkId=LINK), StateView(), id="link-id-unknown"),
    ],
)
def test_resolve_when_store_knows_no_matching_order_then_amend_keeps_no_side(fields: dict, view: StateView) -> None:
    [got] = resolved(amend_request(qty="1", **fields), view).intents

    # the venue refuses an amend naming another symbol's order: that order's side and flag say nothing of it
    assert (got.side, got.reduce_only) == (None, False)


def test_plan_when_amend_names_its_order_by_link_id_then_the_reservation_replaces_that_order() -> None:
    policy = make_policy("rules:\n  - {id: pos, type: max_position, default: {qty: 1000}}\n")
    parsed = parse(amend_request(orderLinkId=LINK, qty="0.4"))

    plan = engine.plan(parsed, policy, store_view(by_client={LINK: SHORT_SELL}), DECISION_ID)

    assert plan.violations == () and plan.reservation is not None
    [entry] = plan.reservation.pending
    assert (entry.replaces_order, entry.side, entry.position.position_side, entry.quantity) == (
        OID, Side.SELL, PositionSide.SHORT, D("0.4"))


REDUCE_ONLY_SELL = KnownOrder(OID, "BTCUSD", Side.SELL, PositionSide.BOTH, D("0"), True)


@pytest.mark.parametrize(("known", "quantity"), [
    # a reduction: it cannot add risk, its contracts convert at the store's price
    ({OID: REDUCE_ONLY_SELL}, D("0.25")),
    # any other order: its contracts convert at its resting price, which the store does not keep (at the mark, a
    # buy resting far below it would count for a fraction of the coin it buys): refused
    ({OID: KnownOrder(OID, "BTCUSD", Side.BUY, PositionSide.BOTH, D("0"))}, None),
    ({}, None),
], ids=["reduce-only-order", "buy", "unknown-order"])
def test_resolve_when_inverse_amend_has_no_price_then_only_a_reduction_converts_at_the_store_price(
    known: dict[str, KnownOrder], quantity: Decimal | None
) -> None:
    request = make_request("POST", "/v5/order/amend", {"category": "inverse", "symbol": "BTCUSD", "orderId": OID,
                                                       "qty": "10000"})

    assert parse(request).intents[0].quantity is None
    decided = resolved(request, store_view({"BTCUSD": "40000"}, orders=known))
    if quantity is None:
        assert decided.intents == () and decided.error is not None and "must restate price" in decided.error
    else:
        assert decided.intents[0].quantity == quantity


INVERSE_AMEND = {"category": "inverse", "symbol": "BTCUSD", "orderId": OID, "qty": "1000000"}
INVERSE_BUY = KnownOrder(OID, "BTCUSD", Side.BUY, PositionSide.BOTH, D("0"))
INVERSE_SELL = KnownOrder(OID, "BTCUSD", Side.SELL, PositionSide.BOTH, D("0"))


@pytest.mark.parametrize(
    ("fields", "known", "mark", "base"),
    [
        pytest.param(dict(price="1000000"), {OID: INVERSE_BUY}, "50000", D("20"),
                     id="known-buy-repriced-far-above-the-mark-at-the-mark"),
        pytest.param(dict(price="1000000"), {}, "50000", D("20"), id="unknown-order-counted-as-a-buy-at-the-mark"),
        pytest.param(dict(price="1000000", symbol="ETHUSD"),
                     {OID: KnownOrder(OID, "BTCUSD", Side.SELL, PositionSide.BOTH, D("0"))}, "50000", D("20"),
                     id="order-of-another-symbol-counted-as-a-buy"),
        pytest.param(dict(price="1000000"), {OID: INVERSE_SELL}, "50000", D("1"),
                     id="known-sell-at-its-own-price"),
        pytest.param(dict(price="40000"), {OID: INVERSE_BUY}, "50000", D("25"),
                     id="known-buy-below-the-mark-at-its-own-price"),
        pytest.param(dict(triggerPrice="1000000"), {OID: INVERSE_BUY}, "50000", D("20"),
                     id="known-buy-trigger-above-the-mark-at-the-mark"),
        pytest.param(dict(price="1000000"), {OID: INVERSE_BUY}, None, D("1"), id="no-mark-known-at-its-own-price"),
    ],
)
def test_resolve_when_inverse_amend_then_contracts_at_the_worst_price_of_the_amended_orders_side(
    fields: dict, known: dict[str, KnownOrder], mark: str | None, base: Decimal
) -> None:
    symbol = fields.get("symbol", "BTCUSD")
    request = make_request("POST", "/v5/order/amend", {**INVERSE_AMEND, **fields})

    assert parse(request).intents[0].quantity is None  # the amend's own price is not enough before the store's
    parsed = resolved(request, store_view({symbol: mark} if mark is not None else None, orders=known))

    assert parsed.error is None
    [got] = parsed.intents
    assert got.quantity == base and got.resolve is None


INVERSE_ORDER_QTY_LIMIT = make_policy("rules:\n  - {id: qty, type: max_order_qty, default: 5}\n")


@pytest.mark.parametrize(
    ("created", "policy", "reasons"),
    [
        pytest.param(dict(side="Buy"), INVERSE_POSITION_LIMIT, [Reason.POSITION_EXCEEDS_MAX],
                     id="known-buy-at-the-mark-over-the-position-limit"),
        pytest.param(dict(side="Sell"), INVERSE_POSITION_LIMIT, [], id="known-sell-at-its-own-price"),
        # no side, so no position limit can count it; its size is still the worst case, a buy's
        pytest.param(None, INVERSE_ORDER_QTY_LIMIT, [Reason.ORDER_QTY_EXCEEDS_MAX],
                     id="unknown-order-sized-as-a-buy-at-the-mark"),
    ],
)
def test_decide_request_when_inverse_amend_far_above_the_learned_mark_then_sized_by_the_amended_orders_side(
    created: dict | None, policy: Policy, reasons: list[Reason]
) -> None:
    steps: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        ("GET", "/v5/market/tickers", {"category": "inverse", "symbol": "BTCUSD"}, TICKERS_INVERSE)]
    if created is not None:
        steps.append(("POST", "/v5/order/create",
                      order(category=INVERSE, symbol="BTCUSD", qty="10000", price="40000", **created), ACK))
    store = learned_store(*steps)
    parsed = parse(make_request("POST", "/v5/order/amend", {**INVERSE_AMEND, "price": "1000000"}))

    evaluation = asyncio.run(decide_request(parsed, policy, store, DECISION_ID))

    # 1,000,000 USD: 20 BTC at the store's mark 50000 for a buy (over either limit of 5); 1 BTC for a sell
    assert [v.reason for v in evaluation.decision.violations] == reasons
    assert evaluation.decision.verdict is (Verdict.BLOCK if reasons else Verdict.ALLOW)


CONFIG_CASES = [
    pytest.param("/v5/position/set-leverage",
                 {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "20", "sellLeverage": "20"},
                 Action.SET_LEVERAGE, dict(**BTC, leverage=D("20")), id="leverage-equal"),
    pytest.param("/v5/position/set-leverage",
                 {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "5", "sellLeverage": "12.5"},
                 Action.SET_LEVERAGE, dict(**BTC, leverage=D("12.5")), id="leverage-hedge-larger-sell-decides"),
    pytest.param("/v5/position/set-leverage",
                 {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "50", "sellLeverage": "3"},
                 Action.SET_LEVERAGE, dict(**BTC, leverage=D("50")), id="leverage-hedge-larger-buy-decides"),
    pytest.param("/v5/position/set-leverage",
                 {"category": "inverse", "symbol": "BTCUSD", "buyLeverage": "2", "sellLeverage": "2"},
                 Action.SET_LEVERAGE, dict(**BTCUSD, leverage=D("2")), id="leverage-inverse"),
    pytest.param("/v5/position/switch-isolated",
                 {"category": "linear", "symbol": "BTCUSDT", "tradeMode": 1, "buyLeverage": "25",
                  "sellLeverage": "25"},
                 Action.SET_LEVERAGE, dict(**BTC, leverage=D("25"), margin_mode="ISOLATED"),
                 id="switch-isolated-sets-leverage-too"),
    pytest.param("/v5/position/switch-isolated",
                 {"category": "linear", "symbol": "BTCUSDT", "tradeMode": "0", "buyLeverage": "3",
                  "sellLeverage": "4"},
                 Action.SET_LEVERAGE, dict(**BTC, leverage=D("4"), margin_mode="CROSSED"), id="switch-to-cross"),
    pytest.param("/v5/position/switch-mode", {"category": "linear", "symbol": "BTCUSDT", "mode": 3},
                 Action.SET_POSITION_MODE, dict(**BTC, hedge_mode=True, margin_mode=None), id="hedge-mode-symbol"),
    pytest.param("/v5/position/switch-mode", {"category": "linear", "coin": "USDT", "mode": 0},
                 Action.SET_POSITION_MODE, dict(hedge_mode=False, margin_mode=None), id="one-way-mode-coin"),
    pytest.param("/v5/account/set-margin-mode", {"setMarginMode": "ISOLATED_MARGIN"}, Action.SET_MARGIN_MODE,
                 dict(margin_mode="ISOLATED"), id="account-isolated"),
    pytest.param("/v5/account/set-margin-mode", {"setMarginMode": "PORTFOLIO_MARGIN"}, Action.SET_MARGIN_MODE,
                 dict(margin_mode="PORTFOLIO"), id="account-portfolio"),
    pytest.param("/v5/account/set-margin-mode", {"setMarginMode": "REGULAR_MARGIN"}, Action.SET_MARGIN_MODE,
                 dict(margin_mode="CROSSED"), id="account-regular-margin-is-cross"),
]


@pytest.mark.parametrize(("path", "body", "action", "fields"), CONFIG_CASES)
def test_parse_request_when_account_setting_then_one_setting_intent(
    path: str, body: dict, action: Action, fields: dict
) -> None:
    parsed = parse(make_request("POST", path, body))

    endpoint = f"POST {path}"
    expected = intent(endpoint, action, **fields)
    assert parsed == ParsedRequest(VENUE, action, endpoint, ACCOUNT, (expected,))
    assert_exact_decimals(parsed.intents[0], expected)


TRADING_STOP_CASES = [
    pytest.param({"positionIdx": 0, "takeProfit": "60000", "stopLoss": "45000", "tpslMode": "Full"},
                 PositionSide.BOTH, None, id="one-way-tp-sl"),
    pytest.param({"positionIdx": 1, "stopLoss": "45000", "slSize": "0.01", "tpslMode": "Partial"},
                 PositionSide.LONG, Side.SELL, id="hedge-long-stop"),
    pytest.param({"positionIdx": 2, "trailingStop": "500", "activePrice": "48000"}, PositionSide.SHORT, Side.BUY,
                 id="hedge-short-trailing"),
    pytest.param({"positionIdx": 0, "takeProfit": "0", "stopLoss": "0"}, PositionSide.BOTH, None,
                 id="zero-cancels-stops"),
]


@pytest.mark.parametrize(("fields", "position_side", "side"), TRADING_STOP_CASES)
def test_parse_request_when_trading_stop_then_reduce_only_intent_without_size(
    fields: dict, position_side: PositionSide, side: Side | None
) -> None:
    body = {"category": "linear", "symbol": "BTCUSDT", **fields}

    parsed = parse(make_request("POST", "/v5/position/trading-stop", body))

    # a close of the position: exempt from every limit, so no rate, duplicate or open-order rule traps a stop-loss
    endpoint = "POST /v5/position/trading-stop"
    assert parsed == ParsedRequest(VENUE, Action.NEW, endpoint, ACCOUNT, (
        intent(endpoint, **BTC, side=side, position_side=position_side, reduce_only=True, close_position=True),))
    assert parsed.intents[0].only_reduces and parsed.intents[0].quantity is None


NO_INTENT_CASES = [
    pytest.param("/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderId": OID}, Action.CANCEL,
                 id="cancel"),
    pytest.param("/v5/order/cancel", {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": LINK},
                 Action.CANCEL, id="cancel-spot-passes-too"),
    pytest.param("/v5/order/cancel-batch",
                 {"category": "linear", "request": [{"symbol": "BTCUSDT", "orderId": OID}]}, Action.CANCEL,
                 id="cancel-batch"),
    pytest.param("/v5/order/cancel-all", {"category": "linear", "settleCoin": "USDT"}, Action.CANCEL_ALL,
                 id="cancel-all"),
    pytest.param("/v5/order/disconnected-cancel-all", {"timeWindow": 40}, Action.CANCEL_ALL,
                 id="dead-man-switch"),
    pytest.param("/v5/order/pre-check", order(qty="1000000"), Action.READ, id="pre-check"),
    pytest.param("/v5/position/add-margin",
                 {"category": "linear", "symbol": "BTCUSDT", "margin": "-10", "positionIdx": 0},
                 Action.SET_MARGIN_MODE, id="add-margin"),
    pytest.param("/v5/position/set-auto-add-margin",
                 {"category": "linear", "symbol": "BTCUSDT", "autoAddMargin": 1}, Action.SET_MARGIN_MODE,
                 id="auto-add-margin"),
    pytest.param("/v5/position/set-risk-limit", {"category": "linear", "symbol": "BTCUSDT", "riskId": 4},
                 Action.SET_MARGIN_MODE, id="risk-limit"),
]


@pytest.mark.parametrize(("path", "body", "action"), NO_INTENT_CASES)
def test_parse_request_when_cancel_or_no_risk_endpoint_then_action_without_intents(
    path: str, body: dict, action: Action
) -> None:
    parsed = parse(make_request("POST", path, body))

    assert parsed == ParsedRequest(VENUE, action, f"POST {path}", ACCOUNT)


def test_parse_request_when_cancel_body_is_junk_then_cancel_still_recognised() -> None:
    parsed = parse(make_request("POST", "/v5/order/cancel-all", b"\xff" * (MAX_BODY_BYTES + 1)))

    assert parsed == ParsedRequest(VENUE, Action.CANCEL_ALL, "POST /v5/order/cancel-all", ACCOUNT)


READ_CASES = [
    ("/v5/order/realtime", {"category": "linear", "settleCoin": "USDT"}),
    ("/v5/order/history", {"category": "linear"}),
    ("/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"}),
    ("/v5/account/wallet-balance", {"accountType": "UNIFIED"}),
    ("/v5/user/query-api", {}),
    ("/v5/asset/coin/query-info", {}),
    ("/v5/execution/list", {"category": "linear"}),
]


@pytest.mark.parametrize(("path", "query"), READ_CASES)
def test_parse_request_when_signed_get_then_read(path: str, query: dict) -> None:
    parsed = parse(make_request("GET", path, query=query))

    assert parsed == ParsedRequest(VENUE, Action.READ, f"GET {path}", ACCOUNT)


FORBIDDEN_READS = ["/v5/asset/withdraw/query-record", "/v5/asset/transfer/query-inter-transfer-list",
                   "/v5/user/sub-apikeys", "/v5/asset/withdraw/create"]

@pytest.mark.parametrize("path", FORBIDDEN_READS)
def test_parse_request_when_get_on_money_moving_path_then_forbidden(path: str) -> None:
    # withdrawals, transfers, sub-accounts and API keys are refused whatever the method: a server that took a
    # GET for the POST it documents must not be a way to move money (allow_endpoints can name a read to let through)
    assert parse(make_request("GET", path)).action is Action.FORBIDDEN


@pytest.mark.parametrize("path", ["/v5/market/time", "/v5/market/tickers", "/v5/market/instruments-info"])
def test_parse_request_when_public_get_without_key_then_read_without_account(path: str) -> None:
    parsed = parse(make_request("GET", path, query={"category": "linear"}, api_key=None))

    assert parsed == ParsedRequest(VENUE, Action.READ, f"GET {path}", None)


FORBIDDEN_CASES = [
    ("/v5/asset/withdraw/create", {"coin": "USDT", "chain": "TRX", "address": "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf",
                                   "amount": "1000", "timestamp": 1700000000000, "accountType": "UTA"}),
    ("/v5/asset/withdraw/cancel", {"id": "10197"}),
    ("/v5/asset/transfer/inter-transfer", {"transferId": "42c0cfb0-6bca-c242-bc76-4e6df6cbcb16", "coin": "USDT",
                                           "amount": "1000", "fromAccountType": "UNIFIED", "toAccountType": "FUND"}),
    ("/v5/asset/transfer/universal-transfer", {"transferId": "be7a2462-1138-4e27-80b1-62653f24925e", "coin": "USDT",
                                               "amount": "5", "fromMemberId": 592334, "toMemberId": 691355,
                                               "fromAccountType": "CONTRACT", "toAccountType": "UNIFIED"}),
    ("/v5/asset/transfer/save-transfer-sub-member", {"subMemberIds": ["554117"], "transferable": 1}),
    ("/v5/asset/deposit/deposit-to-account", {"accountType": "UNIFIED"}),
    ("/v5/asset/exchange/convert-execute", {"quoteTxId": "10100108106409343501030232064"}),
    ("/v5/user/create-sub-member", {"username": "xxxxx", "memberType": 1}),
    ("/v5/user/create-sub-api", {"subuid": 53888000, "readOnly": 0, "permissions": {"Wallet": ["AccountTransfer"]}}),
    ("/v5/user/update-api", {"readOnly": 0, "ips": "*", "permissions": {"Wallet": ["Withdraw"]}}),
    ("/v5/user/update-sub-api", {"readOnly": 0, "ips": "*"}),
    ("/v5/user/delete-api", {}),
    ("/v5/user/delete-sub-api", {"apikey": "xxx"}),
    ("/v5/user/frozen-sub-member", {"subuid": 53888001, "frozen": 1}),
    ("/v5/user/del-submember", {"subMemberId": "53888001"}),
    ("/v5/position/move-positions", {"fromUid": "100", "toUid": "101", "list": []}),
    ("/v5/broker/award/distribute-award", {"accountId": "1", "awardId": "2", "specCode": "x", "amount": "10"}),
    ("/asset/v3/private/withdraw/create", {"coin": "USDT", "amount": "10"}),
    ("/asset/v3/private/transfer/inter-transfer", {"coin": "USDT", "amount": "10"}),
    ("/user/v3/private/create-sub-member", {"username": "x"}),
    ("/V5/ASSET/WITHDRAW/CREATE", {"coin": "USDT", "amount": "10"}),
    ("//v5/asset//withdraw/create/", {"coin": "USDT", "amount": "10"}),
]


@pytest.mark.parametrize(("path", "body"), FORBIDDEN_CASES)
def test_parse_request_when_wallet_or_account_management_then_forbidden(path: str, body: dict) -> None:
    parsed = parse(make_request("POST", path, body))

    assert parsed.action is Action.FORBIDDEN
    assert parsed.intents == () and parsed.error is None and parsed.account == ACCOUNT


UNKNOWN_CASES = [
    ("POST", "/v5/order/create-all"),
    ("POST", "/v5/order/creates"),
    ("POST", "/v5/order/%63reate"),
    ("POST", "/v5/order/create;jsessionid=1"),
    ("PUT", "/v5/order/create"),
    ("DELETE", "/v5/order/cancel"),
    ("PATCH", "/v5/position/set-leverage"),
    ("POST", "/v5/account/borrow"),
    ("POST", "/v5/account/set-collateral-switch"),
    ("POST", "/v5/spot-margin-trade/switch-mode"),
    ("POST", "/v2/private/order/create"),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN_CASES)
def test_parse_request_when_unknown_non_get_then_unknown(method: str, path: str) -> None:
    parsed = parse(make_request(method, path, order()))

    assert parsed.action is Action.UNKNOWN and parsed.intents == () and parsed.account == ACCOUNT


@pytest.mark.parametrize(
    ("path", "body", "category"),
    [
        ("/v5/order/create", order(category="spot"), "spot"),
        ("/v5/order/create", order(category="option", symbol="BTC-29DEC23-80000-C", orderLinkId=LINK), "option"),
        ("/v5/order/create-batch", {"category": "option", "request": [leg(symbol="BTC-29DEC23-80000-C")]},
         "option"),
        ("/v5/order/amend", {"category": "spot", "symbol": "BTCUSDT", "orderId": OID, "qty": "1"}, "spot"),
        ("/v5/position/set-leverage",
         {"category": "spot", "symbol": "BTCUSDT", "buyLeverage": "5", "sellLeverage": "5"}, "spot"),
    ],
    ids=["spot-order", "option-order", "option-batch", "spot-amend", "spot-leverage"],
)
def test_parse_request_when_category_not_checked_yet_then_unknown_naming_category(
    path: str, body: dict, category: str
) -> None:
    parsed = parse(make_request("POST", path, body))

    assert parsed == ParsedRequest(VENUE, Action.UNKNOWN, f"POST {path}?category={category}", ACCOUNT)


WEBSOCKET_CASES = [
    ("stream.bybit.com", "/v5/trade", Action.UNKNOWN),
    ("stream-testnet.bybit.com", "/v5/trade", Action.UNKNOWN),
    ("stream.bybit.com", "//V5/Trade/", Action.UNKNOWN),
    ("stream.bybit.com", "/realtime_private", Action.UNKNOWN),
    ("api.bybit.com", "/v5/trade", Action.UNKNOWN),
    ("api.bybit.com", "/v5/order/realtime", Action.UNKNOWN),  # an upgrade anywhere but the data streams
    ("stream.bybit.com", "/v5/public/linear", Action.READ),
    ("stream.bybit.com", "/v5/private", Action.READ),
]


@pytest.mark.parametrize(("host", "path", "action"), WEBSOCKET_CASES)
def test_parse_request_when_websocket_handshake_then_order_entry_refused_and_data_streams_read(
    host: str, path: str, action: Action
) -> None:
    request = make_request("GET", path, host=host, headers={"upgrade": "websocket", "connection": "Upgrade"})

    parsed = parse(request)

    assert parsed.action is action and parsed.intents == ()


PATH_TRICKS = [
    ("/v5/order//create/", CREATE),
    ("/V5/ORDER/CREATE", CREATE),
    ("//v5//order///Create//", CREATE),
    ("/v5/order/CREATE-BATCH", BATCH),
]


@pytest.mark.parametrize(("tricky", "endpoint"), PATH_TRICKS)
def test_parse_request_when_path_is_disguised_then_same_as_real_path(tricky: str, endpoint: str) -> None:
    body = order() if endpoint == CREATE else {"category": "linear", "request": [leg()]}

    parsed = parse(make_request("POST", tricky, body))

    assert parsed.action is Action.NEW and parsed.endpoint == endpoint
    assert [i.quantity for i in parsed.intents] == [D("0.001")]


def test_parse_request_when_no_api_key_header_then_account_is_none() -> None:
    parsed = parse(make_request("POST", "/v5/order/create", order(), api_key=None))

    assert parsed.account is None and parsed.intents[0].account is None


def test_parse_request_when_two_keys_then_two_distinct_fingerprints() -> None:
    other = "Zz" * 9
    first = parse(make_request("POST", "/v5/order/create", order()))
    second = screen(ADAPTER, make_request("POST", "/v5/order/create", order(), api_key=other))

    assert first.account == ACCOUNT and re.fullmatch(r"[0-9a-f]{12}", first.account or "")
    assert second.account == fingerprint(other) != first.account
    assert other not in repr(second)


@pytest.mark.parametrize(("path", "action"), [("/v5/order/create", Action.NEW), ("/v5/order/cancel", Action.CANCEL)])
def test_parse_request_when_api_key_header_repeated_then_error(path: str, action: Action) -> None:
    request = make_request("POST", path, order(), api_key=f"{API_KEY}, {API_KEY}",
                           repeated=frozenset({"x-bapi-api-key"}))

    parsed = parse(request)

    assert parsed.action is action and parsed.error == "X-BAPI-API-KEY is given twice"


# ---- 3. malformed requests → error ---------------------------------------------------------------------------

MALFORMED_ORDER_CASES = [
    # (body, field the error must name)
    pytest.param(without(order(), "category"), "category", id="missing-category"),
    pytest.param(order(category="Linear"), "category", id="category-wrong-case"),
    pytest.param(order(category="futures"), "category", id="category-unknown"),
    pytest.param(without(order(), "symbol"), "symbol", id="missing-symbol"),
    pytest.param(order(symbol="BTC/USDT"), "symbol", id="symbol-slash"),
    pytest.param(order(symbol="B" * 41), "symbol", id="symbol-too-long"),
    pytest.param(order(symbol=API_KEY + "!"), "symbol", id="symbol-holds-the-api-key"),
    pytest.param(without(order(), "side"), "side", id="missing-side"),
    pytest.param(order(side="buy"), "side", id="side-lower-case"),
    pytest.param(order(side="BUY"), "side", id="side-upper-case"),
    pytest.param(order(side=API_KEY), "side", id="side-is-the-api-key"),
    pytest.param(without(order(), "orderType"), "orderType", id="missing-order-type"),
    pytest.param(order(orderType="limit"), "orderType", id="order-type-lower-case"),
    pytest.param(order(orderType="StopMarket"), "orderType", id="order-type-unknown"),
    pytest.param(without(order(), "qty"), "qty", id="missing-qty"),
    pytest.param(order(qty=""), "qty", id="empty-qty"),
    pytest.param(order(qty="0"), "qty", id="qty-zero-without-reduce-only"),
    pytest.param(order(qty="0", closeOnTrigger=True), "qty", id="qty-zero-close-on-trigger-alone"),
    pytest.param(order(qty="-0.001"), "qty", id="qty-negative"),
    # the spellings decimal_field refuses are tested once in test_venue_base.py; here, that qty is read by it
    pytest.param(order(qty="NaN"), "qty", id="qty-nan-string"),
    pytest.param(order(qty="1e3"), "qty", id="qty-exponent-string"),
    pytest.param(order(qty=True), "qty", id="qty-boolean"),
    pytest.param(order(qty=API_KEY), "qty", id="qty-is-the-api-key"),
    pytest.param(without(order(), "price"), "price", id="limit-missing-price"),
    pytest.param(order(price="0"), "price", id="price-zero"),
    pytest.param(order(price="-50000"), "price", id="price-negative"),
    pytest.param(order(price="NaN"), "price", id="price-nan"),
    pytest.param(order(triggerPrice="NaN"), "triggerPrice", id="trigger-nan"),
    pytest.param(order(triggerPrice="0"), "triggerPrice", id="trigger-zero"),
    pytest.param(order(positionIdx=3), "positionIdx", id="position-idx-three"),
    pytest.param(order(positionIdx="LONG"), "positionIdx", id="position-idx-text"),
    pytest.param(order(positionIdx=True), "positionIdx", id="position-idx-boolean"),
    # digits of other scripts: Python reads "\u0661" as 1 and cannot read "\u00b9"; Bybit reads neither
    pytest.param(order(positionIdx="\u0661"), "positionIdx", id="position-idx-arabic-indic-one"),
    pytest.param(order(positionIdx="\u00b9"), "positionIdx", id="position-idx-superscript-one"),
    pytest.param(order(reduceOnly="true"), "reduceOnly", id="reduce-only-string"),
    pytest.param(order(reduceOnly=1), "reduceOnly", id="reduce-only-number"),
    pytest.param(order(closeOnTrigger="yes"), "closeOnTrigger", id="close-on-trigger-string"),
    pytest.param(order(timeInForce="GoodTillCancel"), "timeInForce", id="time-in-force-unknown"),
    pytest.param(order(orderLinkId="has space"), "orderLinkId", id="link-id-space"),
    pytest.param(order(orderLinkId="x" * 37), "orderLinkId", id="link-id-too-long"),
    pytest.param(order(marketUnit="quoteCoin"), "marketUnit", id="market-unit-quote"),
    pytest.param({**order(), "Qty": "100"}, "qty", id="qty-twice-differing-in-case"),
    pytest.param({**without(order(), "qty"), "QTY": "100"}, "qty", id="qty-spelled-in-capitals"),
    pytest.param({**order(), "ReduceOnly": True}, "reduceOnly", id="reduce-only-spelled-differently"),
    pytest.param({**order(), "positionidx": 2}, "positionIdx", id="position-idx-lower-case-key"),
    pytest.param({**without(order(), "side"), "\u017fide": "Sell"}, "side", id="side-long-s-folds-to-side"),
]


def assert_names_field(parsed: ParsedRequest, field: str) -> None:
    assert parsed.error is not None, "the request should not parse"
    assert re.match(rf"{re.escape(field)}\b", parsed.error), f"error {parsed.error!r} does not name {field!r}"
    assert parsed.intents == ()
    assert API_KEY not in parsed.error and SIGNATURE not in parsed.error


@pytest.mark.parametrize(("body", "field"), MALFORMED_ORDER_CASES)
def test_parse_request_when_order_field_invalid_then_error_names_field(body: dict, field: str) -> None:
    parsed = parse(make_request("POST", "/v5/order/create", body))

    assert parsed.action is Action.NEW and parsed.account == ACCOUNT
    assert_names_field(parsed, field)


@pytest.mark.parametrize(("body", "field"), MALFORMED_ORDER_CASES[3:])
def test_parse_request_when_batch_leg_field_invalid_then_whole_batch_error_names_field(body: dict, field: str) -> None:
    bad = {k: v for k, v in body.items() if k != "category"}
    parsed = parse(make_request("POST", "/v5/order/create-batch", {"category": "linear", "request": [leg(), bad]}))

    assert parsed.action is Action.NEW
    assert_names_field(parsed, field)


# json_body's and strict_json's whole matrix is in test_venue_base.py; here, one case or two of each kind
RAW_BODY_CASES = [
    pytest.param(b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":NaN}', JSON,
                 "body", id="bare-nan"),
    pytest.param(b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":1e3}', JSON,
                 "body", id="number-with-exponent"),
    pytest.param(b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.001",'
                 b'"qty":"100"}', JSON, "qty", id="duplicate-key"),
    pytest.param(b'{"category":"linear","category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Market",'
                 b'"qty":"1"}', JSON, "category", id="duplicate-category"),
    pytest.param(b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"1",'
                 b'"tpslMode":"Full","tpslmode":"Partial"}', JSON, "tpslMode", id="duplicate-key-differing-in-case"),
    pytest.param(b'{"a":1,"A":2,"category":"linear"}', JSON, "body", id="unknown-keys-differing-in-case"),
    pytest.param(b'[{"category":"linear"}]', JSON, "body", id="top-level-list"),
    pytest.param(b"{", JSON, "body", id="truncated"),
    pytest.param(b"category=linear&symbol=BTCUSDT&side=Buy&orderType=Market&qty=1", JSON, "body", id="form-as-json"),
    pytest.param(b'\xef\xbb\xbf{"category":"linear"}', JSON, "body", id="utf8-bom"),
    pytest.param(b'{"category":"linear","symbol":"BTC\xff"}', JSON, "body", id="not-utf8"),
    pytest.param(b"{}" + b" " * MAX_BODY_BYTES, JSON, "body", id="oversized"),
    pytest.param(orjson.dumps(order()), "application/x-www-form-urlencoded", "body", id="form-content-type"),
    pytest.param(b"", JSON, "body", id="empty"),
]


@pytest.mark.parametrize(("raw", "content_type", "field"), RAW_BODY_CASES)
def test_parse_request_when_body_unreadable_or_ambiguous_then_error_names_field(
    raw: bytes, content_type: str, field: str
) -> None:
    parsed = parse(make_request("POST", "/v5/order/create", raw, content_type=content_type))

    assert parsed.action is Action.NEW
    assert_names_field(parsed, field)
    assert "100" not in parsed.error  # a conflicting value is never echoed


def test_parse_request_when_json_content_type_has_charset_then_read() -> None:
    parsed = parse(make_request("POST", "/v5/order/create", order(), content_type="application/json; charset=utf-8"))

    assert parsed.error is None and parsed.intents[0].quantity == D("0.001")


def test_parse_request_when_post_carries_query_string_then_error_names_query() -> None:
    parsed = parse(make_request("POST", "/v5/order/create", order(), query={"qty": "100"}))

    assert_names_field(parsed, "query")


MALFORMED_OTHER_CASES = [
    pytest.param("/v5/order/create-batch", {"category": "linear"}, "request", id="batch-missing-request"),
    pytest.param("/v5/order/create-batch", {"category": "linear", "request": []}, "request", id="batch-empty"),
    pytest.param("/v5/order/create-batch", {"category": "linear", "request": leg()}, "request", id="batch-object"),
    pytest.param("/v5/order/create-batch", {"category": "linear", "request": [leg()] * 21}, "request",
                 id="batch-21-legs"),
    pytest.param("/v5/order/create-batch", {"category": "linear", "request": [leg(), "BTCUSDT"]}, "request",
                 id="batch-leg-not-object"),
    pytest.param("/v5/order/create-batch", {"request": [leg()]}, "category", id="batch-missing-category"),
    pytest.param("/v5/order/create-batch", {"category": "linear", "Request": [leg()]}, "request",
                 id="batch-request-spelled-differently"),
    pytest.param("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "qty": "1"}, "orderId",
                 id="amend-no-ids"),
    pytest.param("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": "a b", "qty": "1"},
                 "orderId", id="amend-bad-order-id"),
    pytest.param("/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": OID, "qty": "NaN"},
                 "qty", id="amend-qty-nan"),
    pytest.param("/v5/order/amend-batch", {"category": "linear", "request": [{"symbol": "BTCUSDT"}]}, "orderId",
                 id="amend-batch-leg-no-ids"),
    pytest.param("/v5/position/set-leverage", {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "10"},
                 "sellLeverage", id="leverage-missing-sell"),
    pytest.param("/v5/position/set-leverage",
                 {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "0", "sellLeverage": "10"},
                 "buyLeverage", id="leverage-zero"),
    pytest.param("/v5/position/set-leverage",
                 {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "10", "sellLeverage": "1e3"},
                 "sellLeverage", id="leverage-exponent"),
    pytest.param("/v5/position/set-leverage",
                 {"category": "linear", "buyLeverage": "10", "sellLeverage": "10"}, "symbol", id="leverage-no-symbol"),
    pytest.param("/v5/position/switch-isolated",
                 {"category": "linear", "symbol": "BTCUSDT", "tradeMode": 2, "buyLeverage": "1", "sellLeverage": "1"},
                 "tradeMode", id="trade-mode-two"),
    pytest.param("/v5/position/switch-isolated",
                 {"category": "linear", "symbol": "BTCUSDT", "tradeMode": 1, "buyLeverage": "1"},
                 "sellLeverage", id="switch-isolated-missing-leverage"),
    pytest.param("/v5/position/switch-mode", {"category": "linear", "symbol": "BTCUSDT", "mode": 1}, "mode",
                 id="position-mode-one"),
    pytest.param("/v5/position/switch-mode", {"category": "linear", "mode": 3}, "coin", id="position-mode-no-scope"),
    pytest.param("/v5/account/set-margin-mode", {"setMarginMode": "CROSS"}, "setMarginMode",
                 id="margin-mode-unknown"),
    pytest.param("/v5/position/trading-stop", {"category": "linear", "symbol": "BTCUSDT", "stopLoss": "1"},
                 "positionIdx", id="trading-stop-no-position-idx"),
    pytest.param("/v5/position/trading-stop",
                 {"category": "linear", "symbol": "BTCUSDT", "positionIdx": 0, "stopLoss": "-1"}, "stopLoss",
                 id="trading-stop-negative"),
]


@pytest.mark.parametrize(("path", "body", "field"), MALFORMED_OTHER_CASES)
def test_parse_request_when_other_field_invalid_then_error_names_field(path: str, body: dict, field: str) -> None:
    parsed = parse(make_request("POST", path, body))

    assert parsed.action is not Action.UNKNOWN
    assert_names_field(parsed, field)


# ---- 4. responses → ResponseFacts -------------------------------------------------------------------------------


def envelope(result: Any, ext: Any = None, code: int = 0, msg: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {} if ext is None else ext,
            "time": 1672211918471}


def learn(method: str, path: str, query_or_body: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
          *, status: int = 200, raw: bytes | None = None, api_key: str | None = API_KEY) -> ResponseFacts:
    if method == "GET":
        request = make_request("GET", path, query=query_or_body or {}, api_key=api_key)
    else:
        request = make_request(method, path, query_or_body, api_key=api_key)
    # the answer is learned with the request as decided: resolved, here on a store that knows nothing yet
    parsed = engine.resolve(screen(ADAPTER, request), StateView())
    body = raw if raw is not None else orjson.dumps(response)
    return ADAPTER.parse_response(parsed, request, status, body, DECISION_ID)


def update(symbol: str, order_id: str, side: Side, original: str, executed: str, *, final: bool,
           position_side: PositionSide = PositionSide.BOTH, reduce_only: bool = False,
           reservation: str | None = None, kind: str = "linear:USDT", link: str | None = None,
           venue_ms: Any = ANY) -> OrderUpdate:
    """(`venue_ms`: any, unless a test about the venue's time says which)"""
    return OrderUpdate(VENUE, ACCOUNT, symbol, order_id, side, position_side, D(original), D(executed), final,
                       reduce_only, reservation, kind, client_order_id=link, venue_ms=venue_ms)


ACK = envelope({"orderId": OID, "orderLinkId": LINK})


ACK_CASES = [
    pytest.param(order(orderLinkId=LINK), update("BTCUSDT", OID, Side.BUY, "0.001", "0", final=False,
                                                reservation=f"{DECISION_ID}:0", link=LINK),
                 id="limit-rests-pending-under-its-link-id"),
    # (dated by the answer's `time`: the venue had matched it by then)
    pytest.param(order(orderType="Market", price=None, timeInForce=None, qty="0.5"),
                 update("BTCUSDT", OID, Side.BUY, "0.5", "0.5", final=True, reservation=f"{DECISION_ID}:0",
                        venue_ms=1672211918471),
                 id="market-counted-filled"),
    pytest.param(order(side="Sell", orderType="Market", price=None, timeInForce=None, triggerPrice="45000"),
                 update("BTCUSDT", OID, Side.SELL, "0.001", "0", final=False, reservation=f"{DECISION_ID}:0"),
                 id="conditional-market-rests"),
    pytest.param(order(side="Sell", reduceOnly=True, qty="0.01"),
                 update("BTCUSDT", OID, Side.SELL, "0.01", "0", final=False, reduce_only=True,
                        reservation=f"{DECISION_ID}:0"), id="reduce-only-flag"),
    # filled no further than the position, which the store's may not be: resting until a report says what it did
    pytest.param(order(side="Sell", orderType="Market", price=None, timeInForce=None, qty="0.05", reduceOnly=True),
                 update("BTCUSDT", OID, Side.SELL, "0.05", "0", final=False, reduce_only=True,
                        reservation=f"{DECISION_ID}:0"), id="reduce-only-market-not-counted-filled"),
    pytest.param(order(side="Buy", positionIdx=2, qty="0.02"),
                 update("BTCUSDT", OID, Side.BUY, "0.02", "0", final=False, position_side=PositionSide.SHORT,
                        reduce_only=True, reservation=f"{DECISION_ID}:0"), id="hedge-buy-on-short-side"),
    pytest.param(order(category="inverse", symbol="BTCUSD", qty="1000", price="40000"),
                 update("BTCUSD", OID, Side.BUY, "0.025", "0", final=False, reservation=f"{DECISION_ID}:0",
                        kind="inverse"), id="inverse-in-base-units"),
]


@pytest.mark.parametrize(("body", "expected"), ACK_CASES)
def test_parse_response_when_order_acknowledged_then_update_from_request_with_reservation(
    body: dict, expected: OrderUpdate
) -> None:
    facts = learn("POST", "/v5/order/create", body, ACK)

    assert facts == ResponseFacts(orders=(expected,))


@pytest.mark.parametrize(("body", "expected"), ACK_CASES)
def test_parse_response_when_request_body_no_longer_remembered_then_read_again_alike(
    body: dict, expected: OrderUpdate
) -> None:
    request = make_request("POST", "/v5/order/create", body)
    parsed = engine.resolve(screen(ADAPTER, request), StateView())
    bybit_adapter._CATEGORIES.clear()  # as after many requests: the answer's learner reads the body's category

    facts = ADAPTER.parse_response(parsed, request, 200, orjson.dumps(ACK), DECISION_ID)

    assert facts == ResponseFacts(orders=(expected,))


@pytest.mark.parametrize("content_type", ["text/plain", None])
def test_parse_response_when_same_body_sent_as_another_content_type_then_nothing_learned(
    content_type: str | None,
) -> None:
    body = order()
    assert screen(ADAPTER, make_request("POST", "/v5/order/create", body)).intents  # its category remembered
    parsed = screen(ADAPTER, make_request("POST", "/v5/order/create", body))
    other = make_request("POST", "/v5/order/create", body, content_type=content_type)

    assert ADAPTER.parse_response(parsed, other, 200, orjson.dumps(ACK), DECISION_ID).empty


@pytest.mark.parametrize("category", [["linear"], {"linear": 1}, 1, None])
@pytest.mark.parametrize("remembered", [True, False])
def test_parse_response_when_request_category_is_not_text_then_nothing_learned_and_no_error(
    category: object, remembered: bool
) -> None:
    request = make_request("POST", "/v5/order/create", order(category=category))
    parsed = screen(ADAPTER, request)
    if not remembered:
        bybit_adapter._CATEGORIES.clear()

    assert ADAPTER.parse_response(parsed, request, 200, orjson.dumps(ACK), DECISION_ID).empty


def test_parse_response_when_close_position_order_acknowledged_then_nothing_to_count() -> None:
    body = order(side="Sell", orderType="Market", price=None, timeInForce=None, qty="0", reduceOnly=True,
                 closeOnTrigger=True)

    assert learn("POST", "/v5/order/create", body, ACK).empty


BATCH_ACK = envelope(
    {"list": [
        {"category": "linear", "symbol": "BTCUSDT", "orderId": "b551f227-7059-4fb5-a6a6-699c04dbd2f2",
         "orderLinkId": "", "createAt": "1672222047683"},
        {"category": "linear", "symbol": "BTCUSDT", "orderId": "", "orderLinkId": "", "createAt": ""},
        {"category": "linear", "symbol": "ETHUSDT", "orderId": "fa6a595f-1a57-483f-b9d3-30e9c8235a52",
         "orderLinkId": "", "createAt": "1672222047683"},
    ]},
    {"list": [{"code": 0, "msg": "OK"}, {"code": 10001, "msg": "The number of contracts exceeds maximum limit"},
              {"code": 0, "msg": "OK"}]},
)


def test_parse_response_when_batch_partly_accepted_then_accepted_legs_keep_their_index() -> None:
    body = {"category": "linear", "request": [
        leg(), leg(qty="100000"), leg(symbol="ETHUSDT", side="Sell", orderType="Market", price=None, qty="0.05")]}

    facts = learn("POST", "/v5/order/create-batch", body, BATCH_ACK)

    assert facts == ResponseFacts(orders=(
        update("BTCUSDT", "b551f227-7059-4fb5-a6a6-699c04dbd2f2", Side.BUY, "0.001", "0", final=False,
               reservation=f"{DECISION_ID}:0"),
        update("ETHUSDT", "fa6a595f-1a57-483f-b9d3-30e9c8235a52", Side.SELL, "0.05", "0.05", final=True,
               reservation=f"{DECISION_ID}:2"),
    ))


def test_parse_response_when_amend_acknowledged_then_accepted_with_its_new_total() -> None:
    body = {"category": "linear", "symbol": "BTCUSDT", "orderId": OID, "qty": "0.4"}

    facts = learn("POST", "/v5/order/amend", body, ACK)

    # Bybit's amend qty is the order's whole size, fills included: the store keeps what is left of it
    assert facts == ResponseFacts(amended=(AmendAccepted(VENUE, ACCOUNT, f"{DECISION_ID}:0", total=D("0.4")),))


def test_parse_response_when_amend_by_link_id_acknowledged_then_accepted_with_its_new_total() -> None:
    body = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": LINK, "qty": "0.4"}

    facts = learn("POST", "/v5/order/amend", body, ACK)

    assert facts.amended == (AmendAccepted(VENUE, ACCOUNT, f"{DECISION_ID}:0", total=D("0.4")),)
    assert facts.orders == ()


def test_parse_response_when_amend_changes_no_size_then_nothing_learned() -> None:
    body = {"category": "linear", "symbol": "BTCUSDT", "orderId": OID, "price": "51000"}

    assert learn("POST", "/v5/order/amend", body, ACK).empty


def test_parse_response_when_inverse_amend_resolved_at_store_price_then_total_in_base_units() -> None:
    request = make_request("POST", "/v5/order/amend", {"category": "inverse", "symbol": "BTCUSD", "orderId": OID,
                                                       "qty": "10000", "price": "40000"})
    parsed = resolved(request, store_view({"BTCUSD": "40000"}))

    facts = ADAPTER.parse_response(parsed, request, 200, orjson.dumps(ACK), DECISION_ID)

    assert facts.amended == (AmendAccepted(VENUE, ACCOUNT, f"{DECISION_ID}:0", total=D("0.25")),)


@pytest.mark.parametrize(
    ("created", "amend", "side", "position_side", "reduce_only"),
    [
        pytest.param(order(orderLinkId=LINK), {"orderLinkId": LINK, "qty": "0.4"}, Side.BUY, PositionSide.BOTH,
                     False, id="by-link-id"),
        pytest.param(order(side="Sell", positionIdx=2, orderLinkId=LINK), {"orderId": OID, "qty": "0.4"},
                     Side.SELL, PositionSide.SHORT, False, id="hedge-short-by-order-id"),
        pytest.param(order(side="Sell", reduceOnly=True, orderLinkId=LINK), {"orderId": OID, "price": "51000"},
                     Side.SELL, PositionSide.BOTH, True, id="reduce-only-stays-reduce-only"),
    ],
)
def test_resolve_when_amended_order_was_acknowledged_then_side_from_the_store(
    created: dict, amend: dict, side: Side, position_side: PositionSide, reduce_only: bool
) -> None:
    store = learned_store(("POST", "/v5/order/create", created, ACK))

    [got] = resolved_by(store, amend_request(**amend)).intents

    assert (got.side, got.position_side, got.reduce_only, got.order_id) == (side, position_side, reduce_only, OID)


def test_resolve_when_amended_order_was_listed_then_side_from_the_listing() -> None:
    store = learned_store(("GET", "/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"}, OPEN_ORDERS))

    [got] = resolved_by(store, amend_request(orderLinkId="test-000005", qty="0.02")).intents

    # o2 was listed last under that link id: a reduce-only sell
    assert (got.side, got.reduce_only, got.order_id) == (Side.SELL, True, "o2")


@pytest.mark.parametrize(
    "amend",
    [{"symbol": "ETHUSDT", "orderId": OID, "qty": "1"}, {"symbol": "BTCUSDT", "orderId": "another", "qty": "1"},
     {"symbol": "BTCUSDT", "orderLinkId": "another-link", "qty": "1"}],
    ids=["other-symbol", "other-order", "other-link-id"],
)
def test_resolve_when_store_order_does_not_match_amend_then_no_side(amend: dict) -> None:
    store = learned_store(("POST", "/v5/order/create", order(orderLinkId=LINK), ACK))

    [got] = resolved_by(store, make_request("POST", "/v5/order/amend", {"category": "linear", **amend})).intents

    assert got.side is None


def test_resolve_when_acknowledged_order_then_finished_then_amend_finds_no_side() -> None:
    store = learned_store(("POST", "/v5/order/create", order(orderLinkId=LINK), ACK),
                          ("POST", "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderId": OID},
                           ACK))

    [got] = resolved_by(store, amend_request(orderLinkId=LINK, qty="1")).intents

    assert got.side is None and got.order_id is None  # the store knows open orders only


def test_parse_response_when_batch_amend_partly_accepted_then_only_accepted_legs_resized() -> None:
    body = {"category": "linear", "request": [{"symbol": "BTCUSDT", "orderId": "b1", "qty": "0.3"},
                                              {"symbol": "ETHUSDT", "orderId": "b2", "qty": "0.4"}]}
    response = envelope({"list": [{"orderId": "b1"}, {"orderId": "b2"}]},
                        {"list": [{"code": 110001, "msg": "too late"}, {"code": 0, "msg": "OK"}]})

    facts = learn("POST", "/v5/order/amend-batch", body, response)

    assert facts == ResponseFacts(amended=(AmendAccepted(VENUE, ACCOUNT, f"{DECISION_ID}:1", total=D("0.4")),))


CANCEL_CASES = [
    pytest.param("/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": LINK}, ACK,
                 (OID,), id="cancel"),
    pytest.param("/v5/order/cancel-batch",
                 {"category": "linear", "request": [{"symbol": "BTCUSDT", "orderId": "a1"},
                                                    {"symbol": "BTCUSDT", "orderId": "a2"}]},
                 envelope({"list": [{"category": "linear", "symbol": "BTCUSDT", "orderId": "a1", "orderLinkId": ""},
                                    {"category": "linear", "symbol": "BTCUSDT", "orderId": "a2", "orderLinkId": ""}]},
                          {"list": [{"code": 0, "msg": "OK"}, {"code": 110001, "msg": "order not exists"}]}),
                 ("a1",), id="cancel-batch-partly-failed"),
    pytest.param("/v5/order/cancel-all", {"category": "linear", "settleCoin": "USDT"},
                 envelope({"list": [{"orderId": "a1", "orderLinkId": ""}, {"orderId": "a3", "orderLinkId": "x"}],
                           "success": "1"}), ("a1", "a3"), id="cancel-all"),
]


@pytest.mark.parametrize(("path", "body", "response", "closed"), CANCEL_CASES)
def test_parse_response_when_cancel_acknowledged_then_those_orders_closed(
    path: str, body: dict, response: dict, closed: tuple[str, ...]
) -> None:
    facts = learn("POST", path, body, response)

    assert facts == ResponseFacts(closed=tuple(ClosedOrder(VENUE, ACCOUNT, order_id) for order_id in closed))


def listed(order_id: str, symbol: str = "BTCUSDT", *, side: str = "Buy", qty: str = "0.010", cum: str = "0.002",
           status: str = "PartiallyFilled", idx: int = 1, price: str = "50000.00", reduce_only: bool = False,
           trigger: str = "0.00") -> dict[str, Any]:
    """An order object of GET /v5/order/realtime (Bybit's documentation sample, other fields kept)."""
    return {"orderId": order_id, "orderLinkId": "test-000005", "blockTradeId": "", "symbol": symbol,
            "price": price, "qty": qty, "side": side, "isLeverage": "", "positionIdx": idx, "orderStatus": status,
            "cancelType": "UNKNOWN", "rejectReason": "EC_NoError", "avgPrice": "0", "leavesQty": "0.008",
            "leavesValue": "400", "cumExecQty": cum, "cumExecValue": "100", "cumExecFee": "0",
            "timeInForce": "GTC", "orderType": "Limit", "stopOrderType": "UNKNOWN", "orderIv": "",
            "triggerPrice": trigger, "takeProfit": "", "stopLoss": "", "tpTriggerBy": "LastPrice",
            "slTriggerBy": "LastPrice", "triggerDirection": 0, "triggerBy": "UNKNOWN", "lastPriceOnCreated": "",
            "reduceOnly": reduce_only, "closeOnTrigger": False, "smpType": "None", "smpGroup": 0, "smpOrderId": "",
            "tpslMode": "Full", "tpLimitPrice": "", "slLimitPrice": "", "placeType": "",
            "createdTime": "1684738540559", "updatedTime": "1684738540561"}


OPEN_ORDERS = envelope({"list": [
    listed("o1"),
    listed("o2", side="Sell", qty="0.005", cum="0", status="New", idx=0, reduce_only=True),
], "nextPageCursor": "", "category": "linear"})

OPEN_UPDATES = (
    update("BTCUSDT", "o1", Side.BUY, "0.010", "0.002", final=False, position_side=PositionSide.LONG,
           link="test-000005"),
    update("BTCUSDT", "o2", Side.SELL, "0.005", "0", final=False, reduce_only=True, link="test-000005"),
)


@pytest.mark.parametrize(
    ("query", "symbol", "kind"),
    [
        ({"category": "linear", "symbol": "BTCUSDT"}, "BTCUSDT", "linear:USDT"),
        ({"category": "linear", "settleCoin": "USDT"}, None, "linear:USDT"),
        ({"category": "linear", "settleCoin": "USDT", "limit": "50"}, None, "linear:USDT"),
        ({"category": "linear", "symbol": "BTCUSDT", "openOnly": "0"}, "BTCUSDT", "linear:USDT"),
    ],
    ids=["one-symbol", "settle-coin", "settle-coin-bigger-page", "explicit-open-only"],
)
def test_parse_response_when_complete_open_orders_listing_then_snapshot_of_its_scope(
    query: dict, symbol: str | None, kind: str
) -> None:
    facts = learn("GET", "/v5/order/realtime", query, OPEN_ORDERS)

    assert facts == ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, ACCOUNT, symbol, OPEN_UPDATES, kind),))


def test_parse_response_when_open_orders_listed_for_a_symbol_in_small_letters_then_only_its_orders() -> None:
    # Bybit writes symbols in capitals: one asked for otherwise may have matched nothing, so no order the listing
    # leaves out is taken for gone
    facts = learn("GET", "/v5/order/realtime", {"category": "linear", "symbol": "btcusdt"}, OPEN_ORDERS)

    assert facts == ResponseFacts(orders=OPEN_UPDATES)


def test_parse_response_when_inverse_category_listed_whole_then_inverse_snapshot_in_base_units() -> None:
    response = envelope({"list": [listed("i1", "BTCUSD", qty="1000", cum="500", price="40000.0", idx=0)],
                         "nextPageCursor": "", "category": "inverse"})

    facts = learn("GET", "/v5/order/realtime", {"category": "inverse"}, response)

    assert facts == ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, ACCOUNT, None, (
        update("BTCUSD", "i1", Side.BUY, "0.025", "0.0125", final=False, kind="inverse", link="test-000005"),),
        "inverse"),))


def test_parse_response_when_no_open_orders_then_empty_snapshot_not_empty_facts() -> None:
    facts = learn("GET", "/v5/order/realtime", {"category": "linear", "symbol": "ETHUSDT"},
                  envelope({"list": [], "nextPageCursor": "", "category": "linear"}))

    assert facts == ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, ACCOUNT, "ETHUSDT", (), "linear:USDT"),))


PARTIAL_LISTINGS = [
    pytest.param({"category": "linear", "symbol": "BTCUSDT", "orderFilter": "Order"}, OPEN_ORDERS,
                 id="one-kind-only"),
    pytest.param({"category": "linear", "symbol": "BTCUSDT", "orderFilter": "StopOrder"}, OPEN_ORDERS,
                 id="conditional-only"),
    pytest.param({"category": "linear", "baseCoin": "BTC"}, OPEN_ORDERS, id="base-coin"),
    pytest.param({"category": "linear", "symbol": "BTCUSDT", "orderId": "o1"}, OPEN_ORDERS, id="one-order"),
    pytest.param({"category": "linear", "settleCoin": "USDT", "cursor": "page_args%3Dx"}, OPEN_ORDERS,
                 id="second-page"),
    pytest.param({"category": "linear", "settleCoin": "USDT", "openOnly": "1"}, OPEN_ORDERS, id="closed-orders"),
    pytest.param({"category": "linear", "settleCoin": "USDT", "limit": "2"},
                 envelope({**OPEN_ORDERS["result"], "nextPageCursor": "page_args%3Do2"}), id="full-page-more-follow"),
    pytest.param({"category": "inverse", "settleCoin": "BTC"}, envelope({**OPEN_ORDERS["result"],
                                                                          "category": "inverse"}),
                 id="inverse-settle-coin"),
    # Bybit reads settleCoin in capitals only: `usdt` may list nothing of the USDT book
    pytest.param({"category": "linear", "settleCoin": "usdt"}, OPEN_ORDERS, id="settle-coin-in-lower-case"),
    # padded: the venue looks it up as given, where trimming would read it as the USDT book
    pytest.param({"category": "linear", "settleCoin": " USDT"}, OPEN_ORDERS, id="settle-coin-padded"),
    pytest.param({"category": "linear", "settleCoin": "USDT\u00a0"}, OPEN_ORDERS, id="settle-coin-no-break-space"),
    pytest.param({"category": "linear", "symbol": "BTCUSDT\t"}, OPEN_ORDERS, id="symbol-tab"),
    # a page size in other digits (Arabic-Indic ten) is no number the venue reads
    pytest.param({"category": "linear", "settleCoin": "USDT", "limit": "\u0661\u0660"}, OPEN_ORDERS,
                 id="limit-in-other-digits"),
]


@pytest.mark.parametrize(("query", "response"), PARTIAL_LISTINGS)
def test_parse_response_when_listing_is_not_complete_then_orders_updated_but_none_finalised(
    query: dict, response: dict
) -> None:
    facts = learn("GET", "/v5/order/realtime", query, response)

    assert facts.open_orders == ()
    assert {u.order_id for u in facts.orders} == {"o1", "o2"}


def test_parse_response_when_listed_order_unreadable_then_no_snapshot() -> None:
    response = envelope({"list": [listed("o1"), {**listed("o2"), "side": "Hold"}], "nextPageCursor": "",
                         "category": "linear"})

    facts = learn("GET", "/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"}, response)

    # a snapshot without o2 would finalise it although it may well be open
    assert facts.open_orders == () and [u.order_id for u in facts.orders] == ["o1"]


def test_parse_response_when_listing_is_of_another_category_then_nothing_learned() -> None:
    response = envelope({**OPEN_ORDERS["result"], "category": "spot"})

    assert learn("GET", "/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"}, response).empty


def test_parse_response_when_order_history_listed_then_final_updates_with_fills_never_a_snapshot() -> None:
    response = envelope({"list": [listed("h1", status="Filled", cum="0.010"),
                                  listed("h2", status="Cancelled", cum="0.004"),
                                  listed("h3", status="New", cum="0")], "nextPageCursor": "", "category": "linear"})

    facts = learn("GET", "/v5/order/history", {"category": "linear", "symbol": "BTCUSDT"}, response)

    assert facts == ResponseFacts(orders=tuple(
        update("BTCUSDT", order_id, Side.BUY, "0.010", cum, final=final, position_side=PositionSide.LONG,
               link="test-000005")
        for order_id, cum, final in (("h1", "0.010", True), ("h2", "0.004", True), ("h3", "0", False))
    ))


@pytest.mark.parametrize(("link", "expected"), [("", None), (None, None), (7, None), ("bot-7", "bot-7")],
                         ids=["empty", "null", "not-text", "text"])
def test_parse_response_when_order_listed_then_its_link_id_kept_only_when_text(
    link: object, expected: str | None
) -> None:
    response = envelope({"list": [{**listed("o1"), "orderLinkId": link}], "nextPageCursor": "",
                         "category": "linear"})

    facts = learn("GET", "/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"}, response)

    [snapshot] = facts.open_orders
    assert [o.client_order_id for o in snapshot.orders] == [expected]


def test_parse_response_when_inverse_order_listed_without_prices_then_store_price_else_not_learned() -> None:
    request = make_request("GET", "/v5/order/history", query={"category": "inverse", "symbol": "BTCUSD"})
    item = {**listed("i1", "BTCUSD", qty="1000", cum="0", price="0", idx=0, status="New"), "avgPrice": ""}
    body = orjson.dumps(envelope({"list": [item], "nextPageCursor": "", "category": "inverse"}))
    parsed = parse(request)
    priced = dataclasses.replace(parsed, known=Known(prices={"BTCUSD": D("40000")}))

    without = ADAPTER.parse_response(parsed, request, 200, body, DECISION_ID)
    facts = ADAPTER.parse_response(priced, request, 200, body, DECISION_ID)

    assert without.orders == ()  # no price at all: not counted in contracts taken for base units
    assert facts.orders == (update("BTCUSD", "i1", Side.BUY, "0.025", "0", final=False, kind="inverse",
                                   link="test-000005"),)


def position_row(symbol: str, side: str, size: str, idx: int = 0, mark: str = "50000.00",
                 avg: str = "49000") -> dict[str, Any]:
    return {"positionIdx": idx, "riskId": 1, "riskLimitValue": "150", "symbol": symbol, "side": side, "size": size,
            "avgPrice": avg, "positionValue": "0.01092319", "tradeMode": 0, "positionStatus": "Normal",
            "autoAddMargin": 1, "adlRankIndicator": 2, "leverage": "10", "positionBalance": "0.00139186",
            "markPrice": mark, "liqPrice": "", "bustPrice": "999999.00", "positionMM": "0.0000015",
            "positionIM": "0.00010923", "tpslMode": "Full", "takeProfit": "0.00", "stopLoss": "0.00",
            "trailingStop": "0.00", "unrealisedPnl": "-0.00029413", "cumRealisedPnl": "-0.00096902",
            "seq": 5723621632, "isReduceOnly": False, "mmrSysUpdateTime": "", "leverageSysUpdatedTime": "",
            "createdTime": "1676538056258", "updatedTime": "1697673600012"}


def positions(*rows: dict[str, Any], category: str = "linear", cursor: str = "") -> dict[str, Any]:
    return envelope({"list": list(rows), "nextPageCursor": cursor, "category": category})


BOTH, LONG, SHORT = PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT

POSITION_CASES = [
    pytest.param({"category": "linear", "symbol": "BTCUSDT"}, positions(position_row("BTCUSDT", "Sell", "0.250")),
                 [("BTCUSDT", ((BOTH, "-0.250"), (LONG, "0"), (SHORT, "0")))], id="one-way-short"),
    pytest.param({"category": "linear", "symbol": "BTCUSDT"}, positions(position_row("BTCUSDT", "", "0")),
                 [("BTCUSDT", ((BOTH, "0"), (LONG, "0"), (SHORT, "0")))], id="one-way-flat-empty-side"),
    pytest.param({"category": "linear", "symbol": "ETHUSDT"},
                 positions(position_row("ETHUSDT", "Buy", "1.50", 1), position_row("ETHUSDT", "Sell", "0.30", 2)),
                 [("ETHUSDT", ((LONG, "1.50"), (SHORT, "-0.30"), (BOTH, "0")))], id="hedge-both-legs"),
    pytest.param({"category": "linear", "settleCoin": "USDT"},
                 positions(position_row("BTCUSDT", "Buy", "0.5"), position_row("SOLUSDT", "Sell", "12")),
                 [("BTCUSDT", ((BOTH, "0.5"), (LONG, "0"), (SHORT, "0"))),
                  ("SOLUSDT", ((BOTH, "-12"), (LONG, "0"), (SHORT, "0")))], id="settle-coin-per-symbol-reports"),
    pytest.param({"category": "linear", "settleCoin": "USDT", "limit": "1"},
                 positions(position_row("BTCUSDT", "Buy", "0.5", 1), cursor="next"),
                 [("BTCUSDT", ((LONG, "0.5"),))], id="paged-no-flat-fill"),
    pytest.param({"category": "inverse", "symbol": "BTCUSD"},
                 positions(position_row("BTCUSD", "Sell", "300", mark="30000.00"), category="inverse"),
                 [("BTCUSD", ((BOTH, "-0.01"), (LONG, "0"), (SHORT, "0")))], id="inverse-usd-to-base-at-mark"),
    pytest.param({"category": "linear", "symbol": "BTCUSDT"}, positions(), [], id="asked-symbol-absent-not-flat"),
]


@pytest.mark.parametrize(("query", "response", "reports"), POSITION_CASES)
def test_parse_response_when_positions_listed_then_signed_report_per_listed_symbol(
    query: dict, response: dict, reports: list
) -> None:
    facts = learn("GET", "/v5/position/list", query, response)

    assert facts.positions == tuple(
        PositionsReport(VENUE, ACCOUNT, symbol, tuple((symbol, side, D(size)) for side, size in entries))
        for symbol, entries in reports
    )
    assert all(p.kind == "mark" for p in facts.prices)
    assert facts.orders == () and facts.open_orders == ()


def test_parse_response_when_position_item_unreadable_then_that_symbol_not_reported() -> None:
    response = positions(position_row("BTCUSDT", "Buy", "NaN"), position_row("ETHUSDT", "Buy", "1"),
                         position_row("SOLUSDT", "Long", "3"), "junk")

    facts = learn("GET", "/v5/position/list", {"category": "linear", "settleCoin": "USDT"}, response)

    # the junk item makes the listing incomplete: ETH is reported, but no slot is assumed flat
    assert facts.positions == (PositionsReport(VENUE, ACCOUNT, "ETHUSDT", (("ETHUSDT", BOTH, D("1")),)),)


def test_parse_response_when_positions_listed_then_mark_prices_learned() -> None:
    response = positions(position_row("BTCUSDT", "Buy", "0.5", mark="51000.10"),
                         position_row("ETHUSDT", "", "0", mark="0"))

    facts = learn("GET", "/v5/position/list", {"category": "linear", "settleCoin": "USDT"}, response)

    assert facts.prices == (PriceUpdate(VENUE, "BTCUSDT", D("51000.10"), "mark"),)


TICKERS_LINEAR = envelope({"category": "linear", "list": [
    {"symbol": "BTCUSDT", "lastPrice": "50120.10", "indexPrice": "50110.00", "markPrice": "50123.45",
     "bid1Price": "50120.00", "ask1Price": "50120.20", "fundingRate": "0.0001"},
    {"symbol": "DOGEUSDT", "lastPrice": "0.20010", "markPrice": ""},
]})
TICKERS_INVERSE = envelope({"category": "inverse", "list": [
    {"symbol": "BTCUSD", "lastPrice": "49990.50", "markPrice": "50000.00", "indexPrice": "50001.00"}]})


def test_parse_response_when_tickers_then_mark_else_last_prices() -> None:
    facts = learn("GET", "/v5/market/tickers", {"category": "linear"}, TICKERS_LINEAR, api_key=None)

    assert facts == ResponseFacts(prices=(PriceUpdate(VENUE, "BTCUSDT", D("50123.45"), "mark"),
                                          PriceUpdate(VENUE, "DOGEUSDT", D("0.20010"), "last")))


def test_parse_response_when_spot_tickers_then_not_learned_as_derivative_prices() -> None:
    response = envelope({"category": "spot", "list": [{"symbol": "BTCUSDT", "lastPrice": "1.00"}]})

    assert learn("GET", "/v5/market/tickers", {"category": "spot"}, response, api_key=None).empty


INSTRUMENTS = {
    "linear": envelope({"category": "linear", "list": [
        {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": "BTC",
         "quoteCoin": "USDT", "settleCoin": "USDT", "deliveryTime": "0"},
        {"symbol": "BTCPERP", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": "BTC",
         "quoteCoin": "USD", "settleCoin": "USDC", "deliveryTime": "0"},
        {"symbol": "ETHPERP", "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": "ETH",
         "quoteCoin": "USD", "settleCoin": "USD", "deliveryTime": "0"},
        {"symbol": "BTC-27DEC24", "contractType": "LinearFutures", "status": "Trading", "baseCoin": "BTC",
         "quoteCoin": "USDC", "settleCoin": "USDC", "deliveryTime": "1735286400000"},
        {"symbol": None, "baseCoin": "X"},
    ], "nextPageCursor": ""}),
    "inverse": envelope({"category": "inverse", "list": [
        {"symbol": "BTCUSD", "contractType": "InversePerpetual", "status": "Trading", "baseCoin": "BTC",
         "quoteCoin": "USD", "settleCoin": "BTC", "deliveryTime": "0"},
        {"symbol": "BTCUSDH25", "contractType": "InverseFutures", "status": "Trading", "baseCoin": "BTC",
         "quoteCoin": "USD", "settleCoin": "BTC", "deliveryTime": "1743148800000"},
    ], "nextPageCursor": ""}),
}


def test_parse_response_when_instruments_listed_then_unified_symbols_as_ccxt_builds_them() -> None:
    linear = learn("GET", "/v5/market/instruments-info", {"category": "linear"}, INSTRUMENTS["linear"], api_key=None)
    inverse = learn("GET", "/v5/market/instruments-info", {"category": "inverse"}, INSTRUMENTS["inverse"],
                    api_key=None)

    assert [(i.native, i.unified) for i in linear.instruments] == [
        ("BTCUSDT", "BTC/USDT:USDT"), ("BTCPERP", "BTC/USD:USDC"), ("ETHPERP", "ETH/USD:USDC"),
        ("BTC-27DEC24", "BTC/USDC:USDC-241227")]
    assert [(i.native, i.unified, i.contract_size, i.quote_sized) for i in inverse.instruments] == [
        ("BTCUSD", "BTC/USD:BTC", D(1), True), ("BTCUSDH25", "BTC/USD:BTC-250328", D(1), True)]
    assert linear.empty and inverse.empty  # catalog facts only: nothing for the store


def test_parse_request_when_instrument_learned_then_unified_symbol_and_kind_follow_the_catalog() -> None:
    CATALOG.learn((Instrument(VENUE, "BTCPERP", "BTC/USD:USDC"),))
    try:
        [got] = parse(make_request("POST", "/v5/order/create", order(symbol="BTCPERP"))).intents
        assert got.unified_symbol == "BTC/USD:USDC"
        assert order_kind("linear", "BTCPERP") == "linear:USDC"
    finally:
        CATALOG.clear()


def test_parse_response_when_spot_instruments_then_nothing_learned() -> None:
    response = envelope({"category": "spot", "list": [{"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT"}]})

    assert learn("GET", "/v5/market/instruments-info", {"category": "spot"}, response, api_key=None).instruments == ()


LEARNING_REQUESTS = [
    ("POST", "/v5/order/create", order(), ACK),
    ("POST", "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderId": OID}, ACK),
    ("GET", "/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"}, OPEN_ORDERS),
    ("GET", "/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"},
     positions(position_row("BTCUSDT", "Buy", "1"))),
    ("GET", "/v5/market/tickers", {"category": "linear"}, TICKERS_LINEAR),
]


NOT_200 = [201, 400, 401, 403, 404, 429, 500, 503]


@pytest.mark.parametrize(("status", "method", "path", "params", "response"), in_turn(NOT_200, LEARNING_REQUESTS))
def test_parse_response_when_status_not_200_then_nothing_learned(
    method: str, path: str, params: dict, response: dict, status: int
) -> None:
    assert learn(method, path, params, response).empty is False  # the body teaches something at 200
    assert learn(method, path, params, response, status=status).empty


JUNK_BODIES = [b"", b"not json", b"<html>502 Bad Gateway</html>", b"\xff\xfe", b"null", b"42", b'"text"', b"{",
               b"[]", b'{"retCode":110001,"retMsg":"order not exists","result":{}}',
               b'{"retCode":"10004","retMsg":"error sign!","result":{"orderId":"x"}}',
               b'{"retMsg":"OK","result":{"orderId":"x"}}']


@pytest.mark.parametrize(("body", "method", "path", "params", "response"), in_turn(JUNK_BODIES, LEARNING_REQUESTS))
def test_parse_response_when_body_is_junk_or_error_then_nothing_learned(
    method: str, path: str, params: dict, response: dict, body: bytes
) -> None:
    assert learn(method, path, params, raw=body).empty


def test_parse_response_when_request_had_no_api_key_then_no_account_facts() -> None:
    assert learn("POST", "/v5/order/create", order(), ACK, api_key=None).orders == ()
    assert learn("GET", "/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"},
                 positions(position_row("BTCUSDT", "Buy", "1")), api_key=None).positions == ()
    assert learn("GET", "/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"}, OPEN_ORDERS,
                 api_key=None).open_orders == ()


def test_parse_response_when_query_key_repeated_then_scope_ambiguous_and_nothing_learned() -> None:
    request = make_request("GET", "/v5/order/realtime",
                           query=(("category", "linear"), ("symbol", "BTCUSDT"), ("symbol", "ETHUSDT")))
    parsed = screen(ADAPTER, request)

    assert ADAPTER.parse_response(parsed, request, 200, orjson.dumps(OPEN_ORDERS), DECISION_ID).empty


# ---- 5. what the store makes of it ----------------------------------------------------------------------------


# a position limit no test reaches: the decider then reserves every order's exposure, as under a real policy
ROOMY = make_policy("rules:\n  - {id: pos, type: max_position, default: {qty: 1000000}}\n")


def exposure_after(*steps: tuple[str, str, dict[str, Any], dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Each step through the decider and, allowed, its answer learned into a MemoryStore, as the addon does (each
    request stamped with when it came in: the store's one instant)."""
    now = 1_700_000_000_000
    store = MemoryStore(clock=lambda: now)

    async def run() -> dict[str, dict[str, str]]:
        for n, (method, path, params, response) in enumerate(steps):
            if method == "GET":
                request = make_request("GET", path, query=params)
            else:
                request = make_request(method, path, params)
            decision_id = f"d{n}"
            evaluation = await decide_request(screen(ADAPTER, request), ROOMY, store, decision_id)
            assert evaluation.decision.verdict is Verdict.ALLOW and evaluation.parsed is not None
            await learn_answer(store, ADAPTER, evaluation.parsed, request, 200, orjson.dumps(response), decision_id,
                               evaluation.reserved, ROOMY, asked_ms=now)
        return await store.exposure(VENUE, ACCOUNT)

    return asyncio.run(run())


def pending_buy(exposure: dict[str, dict[str, str]], key: str) -> Decimal:
    """The store lists a position key only while something is held there: absent is nothing pending."""
    return D(exposure.get(key, {}).get("pending_buy", "0"))


def ack(order_id: str) -> dict[str, Any]:
    return envelope({"orderId": order_id, "orderLinkId": ""})


def empty_listing(category: str = "linear") -> dict[str, Any]:
    return envelope({"list": [], "nextPageCursor": "", "category": category})


# a position read of BTCUSDT: flat
FLAT_READ = ("GET", "/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"},
             positions(position_row("BTCUSDT", "", "0")))


def test_store_when_limit_order_acknowledged_then_pending_and_still_held_once_a_listing_drops_it() -> None:
    resting = exposure_after(("POST", "/v5/order/create", order(qty="0.4"), ack("a1")))
    dropped = exposure_after(("POST", "/v5/order/create", order(qty="0.4"), ack("a1")),
                             ("GET", "/v5/order/realtime", {"category": "linear", "settleCoin": "USDT"},
                              empty_listing()))
    cancel_all = ("POST", "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"},
                  {"retCode": 0, "retMsg": "OK", "result": {"list": [{"orderId": "a1"}]}})
    cancelled = exposure_after(("POST", "/v5/order/create", order(qty="0.4"), ack("a1")), cancel_all)
    read = exposure_after(("POST", "/v5/order/create", order(qty="0.4"), ack("a1")), cancel_all, FLAT_READ)

    assert pending_buy(resting, "BTCUSDT|both") == D("0.4")
    # gone from the book, filled or cancelled: held until a position read shows which (none was made here)
    assert pending_buy(dropped, "BTCUSDT|both") == D("0.4")
    # cancelled, after filling how much is not said (ids only): held until a position read asked after the cancel
    assert pending_buy(cancelled, "BTCUSDT|both") == D("0.4")
    assert pending_buy(read, "BTCUSDT|both") == 0


def test_store_when_market_order_acknowledged_then_counted_as_position_not_pending() -> None:
    after = exposure_after(("POST", "/v5/order/create", order(orderType="Market", price=None, qty="0.5"), ack("m1")),
                           ("GET", "/v5/order/realtime", {"category": "linear", "settleCoin": "USDT"},
                            empty_listing()))

    assert after["BTCUSDT|both"] == {"position": "0.5", "pending_buy": "0", "pending_sell": "0"}


def test_store_when_linear_listing_then_inverse_and_other_settle_orders_stay_pending() -> None:
    after = exposure_after(
        ("POST", "/v5/order/create", order(category="inverse", symbol="BTCUSD", qty="20000", price="40000"),
         ack("inv1")),
        ("POST", "/v5/order/create", order(symbol="ETHUSDT", qty="2", price="3000"), ack("lin1")),
        ("GET", "/v5/order/realtime", {"category": "linear", "settleCoin": "USDC"}, empty_listing()),
        ("GET", "/v5/order/realtime", {"category": "linear", "symbol": "BTCUSDT"}, empty_listing()),
    )

    assert pending_buy(after, "BTCUSD|both") == D("0.5")
    assert pending_buy(after, "ETHUSDT|both") == 2


def test_store_when_known_order_amended_then_its_new_size_is_pending() -> None:
    after = exposure_after(("POST", "/v5/order/create", order(qty="0.1"), ack("a1")),
                           ("POST", "/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderId": "a1",
                                                        "qty": "0.5"}, ack("a1")))

    assert pending_buy(after, "BTCUSDT|both") == D("0.5")


@pytest.mark.parametrize(("qty", "pending"), [("0.5", D("0.5")), ("0.05", D("0.05"))], ids=["upsized", "downsized"])
def test_store_when_order_amended_by_link_id_then_its_new_total_is_what_it_holds(qty: str, pending: Decimal) -> None:
    after = exposure_after(("POST", "/v5/order/create", order(qty="0.1", orderLinkId=LINK), ack("a1")),
                           ("POST", "/v5/order/amend", {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": LINK,
                                                        "qty": qty}, ack("a1")))

    # Bybit's qty is the new total: a smaller one holds less at once (nothing filled)
    assert pending_buy(after, "BTCUSDT|both") == pending


def test_store_when_inverse_market_order_after_a_ticker_then_counted_in_base_units_at_the_store_price() -> None:
    after = exposure_after(
        ("GET", "/v5/market/tickers", {"category": "inverse", "symbol": "BTCUSD"}, TICKERS_INVERSE),
        ("POST", "/v5/order/create", order(category="inverse", symbol="BTCUSD", orderType="Market", price=None,
                                           timeInForce=None, qty="2500"), ack("m1")),
        ("GET", "/v5/order/realtime", {"category": "inverse"}, empty_listing("inverse")),
    )

    assert after["BTCUSD|both"]["position"] == "0.05"  # 2500 USD at the mark 50000


@pytest.mark.parametrize(("then", "held"), [
    pytest.param(None, D("0.4"), id="held-until-the-venue-says-what-it-filled"),
    pytest.param("read", D(0), id="a-position-read-settles-it"),
    pytest.param("query", D(0), id="its-own-final-word-settles-it"),
])
def test_store_when_cancel_acknowledged_then_pending_exposure_held_until_a_read_or_its_final_word(
    then: str | None, held: Decimal
) -> None:
    # Bybit's cancel answer carries ids only: the order may have filled in part before the cancel reached it
    steps = [("POST", "/v5/order/create", order(qty="0.4"), ack("a1")),
             ("POST", "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderId": "a1"}, ack("a1"))]
    if then == "read":
        steps.append(FLAT_READ)
    elif then == "query":
        steps.append(("GET", "/v5/order/realtime", {"category": "linear", "orderId": "a1"},
                      envelope({"list": [listed("a1", qty="0.4", cum="0", status="Cancelled", idx=0)],
                                "nextPageCursor": "", "category": "linear"})))

    assert pending_buy(exposure_after(*steps), "BTCUSDT|both") == held


# ---- 6. rejections → native body → the real ccxt and pybit -------------------------------------------------------

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

EXPECTED_CODE: dict[Reason, int] = {
    Reason.SYMBOL_NOT_ALLOWED: 10001,
    Reason.LEVERAGE_EXCEEDS_MAX: 110013,
    Reason.PRICE_OUTSIDE_COLLAR: 110003,
    Reason.MARGIN_MODE_NOT_ALLOWED: 10001,
    Reason.DUPLICATE_ORDER: 110032,
    Reason.OPEN_ORDERS_EXCEED_MAX: 110020,
    Reason.ORDER_RATE_EXCEEDED: 10018,
    Reason.TRADING_HALTED: 10027,
    Reason.TRADING_REDUCING: 10027,
    Reason.ACTION_FORBIDDEN: 10005,
    Reason.UNKNOWN_ACCOUNT: 10005,
    Reason.UNKNOWN_ENDPOINT: 10005,
}

# Violations shaped like the engine's (engine.py): rule id and key=value context with limit and observation.
VIOLATIONS: dict[Reason, Violation] = {
    Reason.SYMBOL_NOT_ALLOWED: Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, symbol="DOGEUSDT"),
    Reason.ORDER_TYPE_NOT_ALLOWED: Violation.of("order-types", Reason.ORDER_TYPE_NOT_ALLOWED, order_type="MARKET"),
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
    Reason.TRADING_HALTED: Violation("riskwall.kill-switch", Reason.TRADING_HALTED, (
        ("state", "HALTED"), ("action", "new"), ("scope", "global"), ("reason", "operator halt"))),
    Reason.TRADING_REDUCING: Violation("riskwall.kill-switch", Reason.TRADING_REDUCING, (
        ("state", "REDUCING"), ("action", "new"), ("scope", "venue=bybit"), ("reason", "drawdown"))),
    Reason.ACTION_FORBIDDEN: Violation.of("riskwall.forbidden-endpoint", Reason.ACTION_FORBIDDEN,
                                          endpoint="POST /v5/asset/withdraw/create"),
    Reason.UNKNOWN_ACCOUNT: Violation.of("riskwall.known-accounts", Reason.UNKNOWN_ACCOUNT, account="0123456789ab"),
    Reason.UNKNOWN_ENDPOINT: Violation.of("riskwall.unknown-endpoint", Reason.UNKNOWN_ENDPOINT,
                                          endpoint="POST /v5/order/create?category=spot"),
    Reason.PARSE_FAILED: Violation.of("riskwall.parse", Reason.PARSE_FAILED, error="qty is not a plain decimal number"),
    Reason.STATE_UNAVAILABLE: Violation.of("riskwall.state-store", Reason.STATE_UNAVAILABLE, error="timeout"),
    Reason.PRICE_OUTSIDE_COLLAR: Violation.of("price-collar", Reason.PRICE_OUTSIDE_COLLAR, price=D("40000"),
                                              reference=D("50000"), deviation_pct=D("20"), max_deviation_pct=D("5"),
                                              min_price=D("47500"), side="sell", price_kind="trigger",
                                              symbol="BTCUSDT"),
    Reason.MARGIN_MODE_NOT_ALLOWED: Violation.of("margin-mode", Reason.MARGIN_MODE_NOT_ALLOWED, margin_mode="PORTFOLIO",
                                                 allowed="ISOLATED|CROSSED", action="set_margin_mode", symbol=None),
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
    "https://api.bybit.com/v5/order/create",  # explicit proxy: ccxt sees the real URL
    "http://127.0.0.1:8081/v5/order/create",  # reverse listener: a custom base URL
    "https://api.bybit.com/v5/asset/withdraw/create",  # ccxt words 10005 differently off the order paths
]


def blocked(*violations: Violation) -> Decision:
    return Decision(Verdict.BLOCK, DECISION_ID, "rev-1", violations)


def reject(decision: Decision, after: HttpRequest | None = None) -> Any:
    """As the addon does: the request is parsed, then answered with the parsed request at hand."""
    return ADAPTER.rejection(decision, screen(ADAPTER, after or make_request("POST", "/v5/order/create", order())))


@pytest.fixture(scope="module")
def bybit() -> ccxt.Exchange:
    return ccxt.bybit({"apiKey": API_KEY, "secret": SECRET})


def ccxt_exception(exchange: ccxt.Exchange, status: int, headers: dict[str, str], body: bytes, url: str) -> Exception:
    """What the sync ccxt `fetch()` raises for this answer: handle_errors for every response, then (status ≥ 400)
    handle_http_status_code; a 200 that neither rejects is returned as data (here: an AssertionError)."""
    text = body.decode("utf-8")
    try:
        exchange.handle_errors(status, "OK", url, "POST", CaseInsensitiveDict(headers), text, exchange.parse_json(text),
                               {"X-BAPI-API-KEY": API_KEY, "Content-Type": JSON}, json.dumps(order()))
        if status >= 400:
            exchange.handle_http_status_code(status, "Error", url, "POST", text)
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError(f"ccxt accepted the rejection as a success: {text}")


@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_blocked_then_http_200_with_bybit_envelope(reason: Reason) -> None:
    rejection = reject(blocked(VIOLATIONS[reason]))

    assert rejection.status == 200
    assert dict(rejection.headers).get("content-type") == "application/json"
    payload = orjson.loads(rejection.body)
    assert list(payload) == ["retCode", "retMsg", "result", "retExtInfo", "time"]
    assert type(payload["retCode"]) is int and payload["retCode"] == EXPECTED_CODE.get(reason, 110032)
    assert payload["result"] == {} and payload["retExtInfo"] == {} and type(payload["time"]) is int
    assert str(reason) in payload["retMsg"] and VIOLATIONS[reason].rule_id in payload["retMsg"]
    assert violation_code(VIOLATIONS[reason]) == payload["retCode"]


def test_rejection_table_covers_every_reason() -> None:
    assert set(EXPECTED_CCXT_CLASS) == set(Reason) == set(VIOLATIONS)


@pytest.mark.parametrize("url", CCXT_URLS)
@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_real_ccxt_reads_it_then_order_class_exception(
    bybit: ccxt.Exchange, reason: Reason, url: str
) -> None:
    rejection = reject(blocked(VIOLATIONS[reason]))

    exc = ccxt_exception(bybit, rejection.status, dict(rejection.headers), rejection.body, url)

    assert type(exc) is EXPECTED_CCXT_CLASS[reason], f"{type(exc).__name__}: {exc}"
    if reason is not Reason.ORDER_RATE_EXCEEDED:
        assert not isinstance(exc, ccxt.NetworkError)


@pytest.mark.parametrize(
    "reason", [Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_QTY_EXCEEDS_MAX, Reason.TRADING_HALTED,
               Reason.ORDER_RATE_EXCEEDED, Reason.LEVERAGE_EXCEEDS_MAX, Reason.ACTION_FORBIDDEN],
)
def test_rejection_when_sent_through_ccxt_fetch_then_same_class(
    bybit: ccxt.Exchange, monkeypatch: pytest.MonkeyPatch, reason: Reason
) -> None:
    """The same answer through ccxt's real sync `fetch()`, with only the HTTP session stubbed."""
    rejection = reject(blocked(VIOLATIONS[reason]))

    def answer(method: str, url: str, **_: object) -> requests.Response:
        return _response(rejection.status, rejection.body, dict(rejection.headers), url)

    monkeypatch.setattr(bybit.session, "request", answer)

    with pytest.raises(ccxt.BaseError) as caught:
        bybit.fetch(CCXT_URLS[0], "POST", {"X-BAPI-API-KEY": API_KEY, "Content-Type": JSON}, json.dumps(order()))

    assert type(caught.value) is EXPECTED_CCXT_CLASS[reason]


def _response(status: int, body: bytes, headers: dict[str, str], url: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = "OK"
    response.url = url
    response._content = body
    response.headers = CaseInsensitiveDict(headers)
    return response


@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_real_pybit_reads_it_then_invalid_request_error_at_once(
    monkeypatch: pytest.MonkeyPatch, reason: Reason
) -> None:
    """pybit's own request path (HTTP.place_order → _submit_request) with only `client.send` stubbed."""
    rejection = reject(blocked(VIOLATIONS[reason]))
    session = HTTP(api_key=API_KEY, api_secret=SECRET, retry_delay=0)
    sent: list[Any] = []

    def send(request: Any, **_: object) -> requests.Response:
        sent.append(request)
        return _response(rejection.status, rejection.body, dict(rejection.headers), request.url)

    monkeypatch.setattr(session.client, "send", send)

    with pytest.raises(Exception) as caught:
        session.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit", qty="5",
                            price="50000")

    assert type(caught.value) is InvalidRequestError, f"{type(caught.value).__name__}: {caught.value}"
    assert not isinstance(caught.value, FailedRequestError)
    assert caught.value.status_code == orjson.loads(rejection.body)["retCode"]
    assert str(reason) in caught.value.message
    assert len(sent) == 1  # never one of pybit's retry codes: the order is not re-sent behind the bot's back


# ccxt matches these anywhere in a Bybit error body ('broad'); a rule id or an operator's halt reason holding
# one must not change the class
STEERING_WORDS = ["Not supported symbols", "Request timeout", "unknown orderInfo", "invalid api_key", "oc_diff",
                  "new_oc", "openapi sign params error!"]


@pytest.mark.parametrize(
    ("word", "reason"),
    [pytest.param(word, reason, id=f"{reason}-{word}")
     for reason in (Reason.TRADING_HALTED, Reason.ORDER_RATE_EXCEEDED, Reason.POSITION_EXCEEDS_MAX,
                    Reason.SYMBOL_NOT_ALLOWED)
     for word in STEERING_WORDS],
)
def test_rejection_when_rule_id_holds_ccxt_keyword_then_class_unchanged(
    bybit: ccxt.Exchange, word: str, reason: Reason
) -> None:
    violation = VIOLATIONS[reason]
    steered = Violation(f"desk-{word}", violation.reason, (*violation.context, ("note", word)), violation.leg)

    rejection = reject(blocked(steered))

    exc = ccxt_exception(bybit, rejection.status, dict(rejection.headers), rejection.body, CCXT_URLS[1])
    assert type(exc) is EXPECTED_CCXT_CLASS[reason], f"{type(exc).__name__}: {exc}"


def test_rejection_when_decision_has_no_violation_then_invalid_order(bybit: ccxt.Exchange) -> None:
    rejection = reject(blocked())

    exc = ccxt_exception(bybit, rejection.status, dict(rejection.headers), rejection.body, CCXT_URLS[0])

    assert type(exc) is ccxt.InvalidOrder


BATCH_REQUEST = {"category": "linear", "request": [
    leg(orderLinkId="leg-0"), leg(symbol="DOGEUSDT", orderLinkId="leg-1"), leg(qty="5", orderLinkId="leg-2")]}


def test_rejection_when_batch_leg_blocked_then_every_leg_listed_and_first_violation_decides(
    bybit: ccxt.Exchange
) -> None:
    decision = blocked(Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, 1, symbol="DOGEUSDT"),
                       Violation.of("max-order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, 2, qty=D(5), max_qty=D(1)))

    rejection = reject(decision, after=make_request("POST", "/v5/order/create-batch", BATCH_REQUEST))

    payload = orjson.loads(rejection.body)
    assert payload["retCode"] == 10001
    assert [(r["symbol"], r["orderId"], r["orderLinkId"], r["category"]) for r in payload["result"]["list"]] == [
        ("BTCUSDT", "", "leg-0", "linear"), ("DOGEUSDT", "", "leg-1", "linear"), ("BTCUSDT", "", "leg-2", "linear")]
    assert [c["code"] for c in payload["retExtInfo"]["list"]] == [10001, 10001, 110032]
    assert "whole batch" in payload["retExtInfo"]["list"][0]["msg"]
    assert "SYMBOL_NOT_ALLOWED" in payload["retExtInfo"]["list"][1]["msg"]
    exc = ccxt_exception(bybit, 200, dict(rejection.headers), rejection.body, "https://api.bybit.com/v5/order/create-batch")
    assert type(exc) is ccxt.BadSymbol


def test_rejection_when_another_request_was_parsed_since_then_legs_come_from_the_request_answered() -> None:
    answered = screen(ADAPTER, make_request("POST", "/v5/order/create-batch", BATCH_REQUEST))
    screen(ADAPTER, make_request("POST", "/v5/order/create-batch", {"category": "inverse", "request": [
        leg(symbol="BTCUSD", orderLinkId="other-0"), leg(symbol="BTCUSD", orderLinkId="other-1")]}))
    decision = blocked(Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, 1, symbol="DOGEUSDT"))

    payload = orjson.loads(ADAPTER.rejection(decision, answered).body)

    assert [(r["orderLinkId"], r["category"]) for r in payload["result"]["list"]] == [
        ("leg-0", "linear"), ("leg-1", "linear"), ("leg-2", "linear")]


def test_rejection_when_batch_sent_through_ccxt_create_orders_then_raises_before_reading_legs(
    bybit: ccxt.Exchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    decision = blocked(Violation.of("max-order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, 1, qty=D(5), max_qty=D(1)))
    rejection = reject(decision, after=make_request("POST", "/v5/order/create-batch", BATCH_REQUEST))
    markets = {"BTC/USDT:USDT": {"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "base": "BTC", "quote": "USDT",
                                 "settle": "USDT", "type": "swap", "spot": False, "swap": True, "future": False,
                                 "option": False, "contract": True, "linear": True, "inverse": False,
                                 "precision": {"amount": 0.001, "price": 0.1}, "limits": {}, "contractSize": 1}}
    bybit.set_markets(list(markets.values()))
    monkeypatch.setitem(bybit.options, "enableUnifiedMargin", False)
    monkeypatch.setitem(bybit.options, "enableUnifiedAccount", True)
    monkeypatch.setattr(bybit.session, "request",
                        lambda method, url, **_: _response(200, rejection.body, dict(rejection.headers), url))

    with pytest.raises(ccxt.InvalidOrder):
        bybit.create_orders([{"symbol": "BTC/USDT:USDT", "type": "limit", "side": "buy", "amount": 0.001,
                              "price": 50000}, {"symbol": "BTC/USDT:USDT", "type": "limit", "side": "buy",
                                                "amount": 5, "price": 50000}])


@pytest.mark.parametrize(
    "after",
    [
        pytest.param(make_request("POST", "/v5/order/create", order()), id="single-order-parsed"),
        pytest.param(make_request("POST", "/v5/order/create-batch", {"category": "linear", "request": [leg()] * 2}),
                     id="batch-too-short-for-leg-3"),
        pytest.param(make_request("POST", "/v5/order/create-batch", {"category": "linear", "request": "x"}),
                     id="batch-unparsed"),
    ],
)
def test_rejection_when_decision_does_not_fit_the_parsed_batch_then_envelope_only(after: HttpRequest) -> None:
    decision = blocked(Violation.of("max-order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, 3, qty=D(5), max_qty=D(1)))

    payload = orjson.loads(reject(decision, after=after).body)

    assert payload["result"] == {} and payload["retExtInfo"] == {} and payload["retCode"] == 110032


def test_rejection_when_batch_blocked_without_leg_numbers_then_envelope_only() -> None:
    rate = VIOLATIONS[Reason.ORDER_RATE_EXCEEDED]  # the store's checks carry no leg

    payload = orjson.loads(reject(blocked(rate), after=make_request("POST", "/v5/order/create-batch",
                                                                    BATCH_REQUEST)).body)

    assert payload["retCode"] == 10018 and payload["result"] == {}


# ---- 7. through the real addon, in process ---------------------------------------------------------------------

ADDON_POLICY = """
version: 1
rules:
  - {id: order-qty, type: max_order_qty, default: 1}
"""


def through_addon(body: dict[str, Any], path: str = "/v5/order/create", *, break_rejection: bool = False) -> Any:
    """A Bybit request through RiskFirewall.request as mitmproxy would call it; the flow afterwards."""
    from mitmproxy import http
    from mitmproxy.test import taddons, tflow
    from tests.unit.factories import make_policy

    from riskwall.addon import RiskFirewall

    flow = tflow.tflow(req=http.Request.make(
        "POST", f"https://api.bybit.com{path}", json.dumps(body, separators=(",", ":")).encode(),
        [(b"X-BAPI-API-KEY", API_KEY.encode()), (b"X-BAPI-SIGN", SIGNATURE.encode()),
         (b"Content-Type", b"application/json")]))

    async def run() -> None:
        fw = RiskFirewall()
        with taddons.context(fw):
            fw.policy = make_policy(ADDON_POLICY)
            fw.store = MemoryStore(clock=lambda: 1_700_000_000_000)
            await fw.request(flow)

    if break_rejection:
        original = ADAPTER.rejection
        ADAPTER.rejection = _raise  # type: ignore[method-assign]
        try:
            asyncio.run(run())
        finally:
            ADAPTER.rejection = original  # type: ignore[method-assign]
    else:
        asyncio.run(run())
    return flow


def _raise(decision: Decision, parsed: ParsedRequest | None = None) -> Any:
    raise RuntimeError("rejection failed")


def test_addon_when_bybit_order_over_limit_then_answered_with_bybit_body_and_batch_legs() -> None:
    single = through_addon(order(qty="2"))
    batch = through_addon({"category": "linear", "request": [leg(), leg(qty="2")]}, "/v5/order/create-batch")

    assert single.response.status_code == 200
    assert orjson.loads(single.response.content)["retCode"] == 110032
    assert single.response.headers["X-Riskwall-Reason"] == "ORDER_QTY_EXCEEDS_MAX"
    payload = orjson.loads(batch.response.content)
    assert [c["code"] for c in payload["retExtInfo"]["list"]] == [110032, 110032]
    assert len(payload["result"]["list"]) == 2


def test_addon_when_bybit_rejection_itself_fails_then_fallback_is_still_bybit_shaped() -> None:
    flow = through_addon(order(qty="2"), break_rejection=True)

    assert flow.response is not None  # blocked either way: the promise that matters holds
    assert flow.response.status_code == 200
    assert "retCode" in orjson.loads(flow.response.content)
