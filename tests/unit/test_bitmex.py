"""Golden tests of the BitMEX adapter (`riskwall.venues.bitmex.ADAPTER`).

Facts under test come from docs/venues.md §0 and §5: GET parameters travel in the query, POST/PUT/DELETE
parameters in a JSON body (ccxt) or a form body (swagger), signed byte for byte with the path and `api-expires`;
`orderQty` counts contracts (XBTUSD: 1 USD each, inverse; linear: 1/underlyingToPositionMultiplier of the
underlying); errors are HTTP 4xx `{"error": {"message", "name": "HTTPError"}}`, read by the old ccxt bitmex
mapping (429 → DDoSProtection; exact/broad message keys; 400 → BadRequest; else ExchangeError).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest

from riskwall import engine
from riskwall.decider import decide_request
from riskwall.instruments import CATALOG
from riskwall.model import (
    Action,
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
    StateView,
    Venue,
    Verdict,
    Violation,
    fingerprint,
)
from riskwall.state.memory import MemoryStore
from riskwall.venues import ADAPTERS, default_host_map, parse_venue
from riskwall.venues.base import HttpRequest, screen
from riskwall.venues.bitmex import ADAPTER, status_for

from .factories import make_policy

D = Decimal
VENUE = Venue.BITMEX
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
API_KEY = "LAqUlngMIQkIUjXMUreyu3qn"
SIGNATURE = "9f1753e2db64711e39d111bc2ecace3dc9e7f026e6f65b65c4f53d3d14a60e5f"
ACCOUNT = fingerprint(API_KEY)
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"
ORDER = "/api/v1/order"
OID = "57a1c3b8-7c2a-4d6e-9a1f-3b5c7d9e1f20"

INSTRUMENT_ROWS = [
    {"symbol": "XBTUSD", "typ": "FFWCSX", "underlying": "XBT", "quoteCurrency": "USD", "settlCurrency": "XBt",
     "isInverse": True, "isQuanto": False, "multiplier": -100000000, "underlyingToSettleMultiplier": -100000000,
     "underlyingToPositionMultiplier": None, "markPrice": 50000, "lastPrice": 50010.5},
    {"symbol": "XBTUSDT", "typ": "FFWCSX", "underlying": "XBT", "quoteCurrency": "USDT", "settlCurrency": "USDt",
     "isInverse": False, "isQuanto": False, "multiplier": 1, "underlyingToPositionMultiplier": 1000000,
     "markPrice": 50000.5},
    {"symbol": "LTCUSDT", "typ": "FFWCSX", "underlying": "LTC", "quoteCurrency": "USDT", "settlCurrency": "USDt",
     "isInverse": False, "isQuanto": False, "multiplier": 100, "underlyingToPositionMultiplier": 10000,
     "markPrice": 80.25},
    {"symbol": "ETHUSD", "typ": "FFWCSX", "underlying": "ETH", "quoteCurrency": "USD", "settlCurrency": "XBt",
     "isInverse": False, "isQuanto": True, "multiplier": 100, "markPrice": 3000},
    {"symbol": "XBTZ26", "typ": "FFCCSX", "underlying": "XBT", "quoteCurrency": "USD", "settlCurrency": "XBt",
     "isInverse": True, "isQuanto": False, "multiplier": -100000000, "underlyingToSettleMultiplier": -100000000,
     "expiry": "2026-12-25T12:00:00.000Z", "markPrice": 51000},
    {"symbol": ".BXBT", "typ": "MRCXXX", "underlying": "XBT", "quoteCurrency": "USD", "markPrice": 50000},
]


@pytest.fixture(autouse=True)
def _fresh_catalog() -> Iterator[None]:
    CATALOG.clear()
    yield
    CATALOG.clear()


def make_request(method: str, path: str, body: dict[str, Any] | bytes | None = None, *,
                 query: tuple[tuple[str, str], ...] = (), content_type: str | None = JSON,
                 api_key: str | None = API_KEY, headers: dict[str, str] | None = None,
                 repeated: frozenset[str] = frozenset()) -> HttpRequest:
    if isinstance(body, bytes):
        raw = body
    elif body is None:
        raw = b""
    elif content_type == FORM:
        raw = urlencode(body).encode()
    else:
        raw = json.dumps(body, separators=(",", ":")).encode()
    all_headers = {"api-expires": "1700000060", "api-signature": SIGNATURE}
    if api_key is not None:
        all_headers["api-key"] = api_key
    if raw and content_type is not None:
        all_headers["content-type"] = content_type
    all_headers.update(headers or {})
    full = path + ("?" + urlencode(query) if query else "")
    return HttpRequest(method, "www.bitmex.com", 443, full, query, all_headers, raw, repeated)


def parse(request: HttpRequest) -> ParsedRequest:
    parsed = screen(ADAPTER, request)
    assert API_KEY not in repr(parsed) and SIGNATURE not in repr(parsed)
    return parsed


def resolve(parsed: ParsedRequest, view: StateView | None = None) -> ParsedRequest:
    """`parsed` completed with what a store holding `view` knows, as the decider does once the view is read."""
    return engine.resolve(parsed, view or StateView())


def priced(symbol: str, price: Decimal) -> StateView:
    return StateView(prices={(VENUE, symbol): price})


def learn_instruments() -> None:
    request = make_request("GET", "/api/v1/instrument/active", api_key=None)
    facts = ADAPTER.parse_response(ParsedRequest(VENUE, Action.READ, "GET /api/v1/instrument/active"), request,
                                   200, orjson.dumps(INSTRUMENT_ROWS), DECISION_ID)
    CATALOG.learn(facts.instruments)


def new(**overrides: Any) -> dict[str, Any]:
    return {"symbol": "XBTUSD", "side": "Buy", "orderQty": 1000, "price": 50000, "ordType": "Limit", **overrides}


# ---- registry and table ----------------------------------------------------------------------------------


def test_registry_when_bitmex_named_then_adapter_and_hosts_map_to_it() -> None:
    assert parse_venue("bitmex") is VENUE and ADAPTERS[VENUE] is ADAPTER
    hosts = default_host_map()
    assert hosts.venue("www.bitmex.com") is VENUE and hosts.venue("testnet.bitmex.com") is VENUE


ENDPOINT_CASES = [
    ("POST", "/api/v1/order", Action.NEW),
    ("PUT", "/api/v1/order", Action.AMEND),
    ("DELETE", "/api/v1/order", Action.CANCEL),
    ("DELETE", "/api/v1/order/all", Action.CANCEL_ALL),
    ("POST", "/api/v1/order/cancelallafter", Action.CANCEL_ALL),
    ("POST", "/api/v1/order/closeposition", Action.NEW),
    ("POST", "/api/v1/order/bulk", Action.NEW),
    ("PUT", "/api/v1/order/bulk", Action.AMEND),
    ("POST", "/api/v1/position/leverage", Action.SET_LEVERAGE),
    ("POST", "/api/v1/position/isolate", Action.SET_MARGIN_MODE),
    ("POST", "/api/v1/position/transfermargin", Action.SET_MARGIN_MODE),
    ("POST", "/api/v1/position/risklimit", Action.SET_MARGIN_MODE),
    ("POST", "/api/v1/user/requestwithdrawal", Action.FORBIDDEN),
    ("POST", "/api/v1/user/confirmwithdrawal", Action.FORBIDDEN),
    ("POST", "/api/v1/user/wallettransfer", Action.FORBIDDEN),
    ("POST", "/api/v1/apikey", Action.FORBIDDEN),
    ("GET", "/api/v1/position", Action.READ),
]


@pytest.mark.parametrize(("method", "path", "action"), ENDPOINT_CASES)
def test_endpoints_when_listed_then_each_has_its_action_and_parses_to_it(method: str, path: str,
                                                                          action: Action) -> None:
    assert ADAPTER.endpoints[(method, path)] is action
    assert parse(make_request(method, path, None)).action is action


# ---- new orders ------------------------------------------------------------------------------------------

NEW_CASES = [
    # (body, expected fields) — XBTUSD from the bundled fallback: 1 USD per contract, inverse. The store's mark is
    # 40000: a buy at 50000 converts at it (1000 / 40000), a sell at its own price
    (new(), {"quantity": D("0.025"), "price": D(50000), "side": Side.BUY, "order_type": "LIMIT"}),
    (new(side=None, orderQty=-500), {"quantity": D("0.01"), "side": Side.SELL}),
    (new(ordType=None, price=None, stopPx=40000), {"quantity": D("0.025"), "order_type": "STOP",
                                                   "trigger_price": D(40000), "price": None}),
    (new(ordType=None, stopPx=40000), {"order_type": "STOP_LIMIT", "price": D(50000), "trigger_price": D(40000)}),
    (new(ordType="Market", price=1), {"order_type": "MARKET", "price": None, "quantity": None}),
    (new(execInst="ReduceOnly"), {"reduce_only": True, "close_position": False, "quantity": D("0.025")}),
    (new(execInst="Close", orderQty=None, side=None), {"reduce_only": True, "close_position": True,
                                                       "quantity": None, "side": None}),
    (new(execInst="ParticipateDoNotInitiate,MarkPrice", clOrdID="bot-1", timeInForce="GoodTillCancel"),
     {"client_order_id": "bot-1", "time_in_force": "GoodTillCancel", "reduce_only": False}),
]


@pytest.mark.parametrize(("body", "fields"), NEW_CASES)
def test_parse_request_when_new_order_then_one_intent_in_base_units(body: dict, fields: dict) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    # a market order's USD contracts are converted with the store's price (a decoy price is ignored)
    parsed = resolve(parse(make_request("POST", ORDER, body)), priced("XBTUSD", D(40000)))
    if fields.get("order_type") == "MARKET":
        fields = {**fields, "quantity": D("0.025")}
    assert parsed.error is None and parsed.action is Action.NEW and parsed.account == ACCOUNT
    [intent] = parsed.intents
    assert intent.symbol == "XBTUSD" and intent.unified_symbol == "BTC/USD:BTC"
    for name, value in fields.items():
        assert getattr(intent, name) == value, name


@pytest.mark.parametrize("content_type", [JSON, FORM])
def test_parse_request_when_json_or_form_body_then_same_reading(content_type: str) -> None:
    body = {"symbol": "XBTUSD", "side": "Sell", "orderQty": "2000", "price": "40000", "ordType": "Limit"}
    [intent] = parse(make_request("POST", ORDER, body, content_type=content_type)).intents
    assert (intent.side, intent.quantity, intent.price) == (Side.SELL, D("0.05"), D(40000))


LINEAR_CASES = [
    ("XBTUSDT", 1000, 50000, D("0.001"), "BTC/USDT:USDT"),
    ("LTCUSDT", 1000, 80, D("0.1"), "LTC/USDT:USDT"),
    ("XBTZ26", 5100, 51000, D("0.1"), "BTC/USD:BTC-261225"),
]


@pytest.mark.parametrize(("symbol", "contracts", "price", "base", "unified"), LINEAR_CASES)
def test_parse_request_when_instrument_learned_then_contracts_convert_with_its_size(
    symbol: str, contracts: int, price: int, base: Decimal, unified: str
) -> None:
    learn_instruments()
    # a mark above the order's price: an inverse buy (XBTZ26) converts at its own price
    parsed = resolve(parse(make_request("POST", ORDER, new(symbol=symbol, orderQty=contracts, price=price))),
                     priced(symbol, Decimal(price + 1)))
    [intent] = parsed.intents
    assert parsed.error is None and intent.quantity == base and intent.unified_symbol == unified
    assert str(intent.quantity) == str(base)  # written plainly in logs: 0.1, not 0.100000


ERROR_CASES = [
    # (body or raw, content type, query, the field the error must name)
    (new(symbol="SOLUSDT"), JSON, (), "contract size of SOLUSDT unknown"),
    (new(orderQty=-5), JSON, (), "orderQty is negative and a side is given"),
    (new(orderQty="1e3"), JSON, (), "orderQty is not a plain decimal"),
    (b'{"symbol":"XBTUSD","orderQty":1e3,"side":"Buy","price":1}', JSON, (), "exponent"),
    (b'{"symbol":"XBTUSD","orderQty":10,"orderQty":100000,"side":"Buy","price":1}', JSON, (),
     "orderQty is given twice"),
    (b'{"symbol":"XBTUSD","orderQty":10,"OrderQty":100000,"side":"Buy","price":1}', JSON, (), "given twice"),
    (b"symbol=XBTUSD&orderQty=10&orderQty=100000&side=Buy&price=1", FORM, (), "orderQty is given twice"),
    (b"symbol=XBTUSD&orderQty[0]=10&side=Buy&price=1", FORM, (), "brackets"),
    (new(), JSON, (("orderQty", "99999"),), "orderQty is given twice"),
    (new(simpleOrderQty=5), JSON, (), "simpleOrderQty is not supported"),
    (new(targetAccountId=12345), JSON, (), "targetAccountId"),
    (new(execInst="ReduceOnly,Sneaky"), JSON, (), "execInst has an unknown value"),
    (new(ordType="Limit", price=None), JSON, (), "price is missing"),
    (new(side="buy"), JSON, (), "side has an unknown value"),
    (b"[1,2]", JSON, (), "not a JSON object"),
    # a venue that reads a write's body alone would see a buy (no side: a positive size buys), riskwall a sell
    ({"symbol": "XBTUSD", "orderQty": 40000, "price": 50000}, JSON, (("side", "Sell"),), "both the query string"),
    ({"symbol": "XBTUSD", "side": "Buy", "price": 50000}, FORM, (("orderQty", "40000"),), "both the query string"),
    (b"symbol=XBTUSD", "text/plain", (), "neither JSON nor a form"),
    (b'{"symbol":"XBTUSD","orderQty":NaN}', JSON, (), "NaN"),
    # without a content type BitMEX would not read the body: riskwall must not read an order the venue does not
    (b'{"symbol":"XBTUSD","side":"Buy","orderQty":1,"price":1,"execInst":"ReduceOnly"}', None,
     (("symbol", "XBTUSD"), ("side", "Buy"), ("orderQty", "100000"), ("price", "1")), "no content type"),
]


@pytest.mark.parametrize(("body", "content_type", "query", "message"), ERROR_CASES)
def test_parse_request_when_order_ambiguous_or_unconvertible_then_error_names_field(
    body: dict | bytes, content_type: str | None, query: tuple, message: str
) -> None:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if v is not None}
    parsed = parse(make_request("POST", ORDER, body, content_type=content_type, query=query))
    assert parsed.action is Action.NEW and parsed.intents == ()
    assert parsed.error is not None and message in parsed.error


@pytest.mark.parametrize(("symbol", "unified"), [("XBTUSDT", "BTC/USDT:USDT"), ("SOLUSDC", "SOL/USDC:USDC"),
                                                ("ETHUSD", None), ("XBTUSD", "BTC/USD:BTC")])
def test_parse_request_when_instrument_not_learned_then_unified_symbol_derived_only_for_linear_ids(
    symbol: str, unified: str | None
) -> None:
    [intent] = parse(make_request("POST", "/api/v1/position/leverage", {"symbol": symbol, "leverage": 5})).intents
    assert intent.unified_symbol == unified


def test_parse_request_when_quanto_contract_then_refused_not_guessed() -> None:
    learn_instruments()
    parsed = parse(make_request("POST", ORDER, new(symbol="ETHUSD", price=3000)))
    assert parsed.error is not None and "orderQty" in parsed.error and "quanto" in parsed.error


def test_parse_request_when_api_key_repeated_or_method_override_then_error() -> None:
    repeated = parse(make_request("POST", ORDER, new(), repeated=frozenset({"api-key"})))
    override = parse(make_request("DELETE", ORDER, new(), headers={"x-http-method-override": "POST"}))
    assert repeated.error == "api-key is given twice"
    assert override.action is Action.UNKNOWN and override.error is not None


def test_parse_request_when_bulk_then_one_intent_per_leg_and_form_json_text_accepted() -> None:
    orders = [new(), new(side="Sell", orderQty=500, price=40000)]
    as_json = parse(make_request("POST", "/api/v1/order/bulk", {"orders": orders}))
    as_form = parse(make_request("POST", "/api/v1/order/bulk", {"orders": json.dumps(orders)}, content_type=FORM))
    for parsed in (as_json, as_form):
        assert parsed.error is None
        # the buy's size waits for the store's mark (above its price here: its own price), the sell's is its own
        assert [(i.side, i.quantity) for i in parsed.intents] == [(Side.BUY, None), (Side.SELL, D("0.0125"))]
        resolved = resolve(parsed, priced("XBTUSD", D(60000)))
        assert [(i.side, i.quantity) for i in resolved.intents] == [(Side.BUY, D("0.02")), (Side.SELL, D("0.0125"))]
    bad = parse(make_request("POST", "/api/v1/order/bulk", {"orders": [new(), new(symbol="NOPE")]}))
    assert bad.error is not None and "NOPE" in bad.error


def test_parse_request_when_close_position_endpoint_then_reduce_only_without_size() -> None:
    [intent] = parse(make_request("POST", "/api/v1/order/closePosition", {"symbol": "XBTUSD"})).intents
    assert intent.close_position and intent.only_reduces and intent.quantity is None


# ---- amends ----------------------------------------------------------------------------------------------


def _ack(**overrides: Any) -> dict[str, Any]:
    return {"orderID": OID, "clOrdID": "bot-1", "symbol": "XBTUSD", "side": "Buy", "orderQty": 1000,
            "price": 50000, "ordType": "Limit", "ordStatus": "New", "cumQty": 0, "leavesQty": 1000, "execInst": "",
            **overrides}


def _acknowledge(ack: dict[str, Any]) -> Any:
    request = make_request("POST", ORDER, new())
    parsed = screen(ADAPTER, request)
    return ADAPTER.parse_response(parsed, request, 200, orjson.dumps(ack), DECISION_ID)


def _store_of(update: OrderUpdate, price: Decimal | None = None) -> StateView:
    """The view of a store that learned `update` (and, with `price`, the XBTUSD mark): the order by its id and by
    the clOrdID its answer carried."""
    order = KnownOrder(update.order_id, update.symbol, update.side, update.position_side, update.executed,
                       update.reduce_only)
    by_client = {update.client_order_id: order} if update.client_order_id else {}
    prices = {(VENUE, update.symbol): price} if price is not None else {}
    return StateView(orders={update.order_id: order}, by_client=by_client, prices=prices)


AMEND_CASES = [
    # the store's mark is 40000 and the order a buy: a new price above the mark converts at the mark
    ({"orderID": OID, "orderQty": 2000, "price": 50000}, {"quantity": D("0.05"), "side": Side.BUY}),
    ({"orderID": OID, "orderQty": 2000, "price": 20000}, {"quantity": D("0.1"), "side": Side.BUY}),
    ({"orderID": OID, "leavesQty": 500, "price": 50000}, {"quantity": D("0.0125")}),
    ({"origClOrdID": "bot-1", "clOrdID": "bot-2", "orderQty": 4000, "price": 40000},
     {"quantity": D("0.1"), "client_order_id": "bot-2"}),
]


@pytest.mark.parametrize(("body", "fields"), AMEND_CASES)
def test_resolve_when_amend_of_order_the_store_knows_then_symbol_side_and_size_from_the_store(
    body: dict, fields: dict
) -> None:
    [update] = _acknowledge(_ack()).orders
    parsed = parse(make_request("PUT", ORDER, body))
    assert parsed.error is None
    [unresolved] = parsed.intents
    # the view is asked for the order by the id the amend names it by: orderID, else the clOrdID it was given
    assert (unresolved.order_id, unresolved.client_order_id) == (
        (OID, None) if "orderID" in body else (None, "bot-1"))

    [intent] = resolve(parsed, _store_of(update, D(40000))).intents

    assert intent.action is Action.AMEND and intent.symbol == "XBTUSD" and intent.order_id == OID
    assert intent.unified_symbol == "BTC/USD:BTC" and intent.resolve is None
    for name, value in fields.items():
        assert getattr(intent, name) == value, name


PRICE = "must restate orderQty"
SIZE = "must restate price (or stopPx)"
REPRICING_CASES = [
    # (the amend, whether the known order is reduce-only, the refusal or None). USD contracts at a lower price are
    # more coin: a new price needs the size restated
    pytest.param({"origClOrdID": "bot-1", "price": 4900}, False, PRICE, id="price-alone"),
    pytest.param({"orderID": OID, "stopPx": 4900}, False, PRICE, id="trigger-alone"),
    pytest.param({"orderID": OID, "pegOffsetValue": -45000}, False, PRICE, id="peg-offset-alone"),
    pytest.param({"orderID": OID, "price": 4900}, True, None, id="reduce-only-order"),
    pytest.param({"orderID": OID, "orderQty": 1000, "price": 4900}, False, None, id="size-restated"),
    pytest.param({"orderID": OID, "clOrdID": "bot-2"}, False, None, id="no-price"),
    # and a new size the price: it converts at the order's resting price, which the store does not keep (at the
    # mark, a buy resting far below it would count for a fraction of what it buys)
    pytest.param({"orderID": OID, "orderQty": 45000}, False, SIZE, id="size-alone"),
    pytest.param({"orderID": OID, "leavesQty": 45000}, False, SIZE, id="leaves-alone"),
    pytest.param({"orderID": OID, "orderQty": 45000}, True, None, id="reduce-only-order-resized"),
    pytest.param({"orderID": OID, "orderQty": 45000, "stopPx": 10000}, False, None, id="trigger-restated"),
]


@pytest.mark.parametrize(("body", "reduce_only", "refusal"), REPRICING_CASES)
def test_resolve_when_amend_moves_an_inverse_orders_price_or_size_alone_then_refused(
    body: dict, reduce_only: bool, refusal: str | None
) -> None:
    [update] = _acknowledge(_ack(execInst="ReduceOnly" if reduce_only else "")).orders

    decided = resolve(parse(make_request("PUT", ORDER, body)), _store_of(update, D(40000)))

    assert (decided.error is not None) is (refusal is not None), decided.error
    if refusal is not None:
        assert decided.error is not None and refusal in decided.error
    else:
        assert decided.intents[0].side is Side.BUY


def test_resolve_when_amend_by_orig_client_id_with_leaves_qty_then_total_adds_what_the_store_saw_filled() -> None:
    [update] = _acknowledge(_ack(ordStatus="PartiallyFilled", cumQty=250, execInst="ReduceOnly")).orders
    assert update.client_order_id == "bot-1" and update.executed == D("0.005")
    parsed = parse(make_request("PUT", ORDER, {"origClOrdID": "bot-1", "leavesQty": 500, "price": 50000}))

    [intent] = resolve(parsed, _store_of(update)).intents

    assert (intent.symbol, intent.side, intent.reduce_only, intent.order_id) == ("XBTUSD", Side.BUY, True, OID)
    assert intent.quantity == D("0.015")  # 500 USD left at 50000 (0.01) plus the 0.005 filled


def test_decide_when_order_acknowledged_then_an_amend_by_its_clordid_finds_it_in_the_store() -> None:
    async def run() -> ParsedRequest:
        store = MemoryStore()
        await store.learn(ResponseFacts(prices=(PriceUpdate(VENUE, "XBTUSD", D(40000), "mark"),)))
        await store.learn(_acknowledge(_ack()))
        parsed = parse(make_request("PUT", ORDER, {"origClOrdID": "bot-1", "orderQty": 4000, "price": 40000}))
        query = engine.view_query(parsed)
        view = await store.view(query)
        wider = engine.wider_query(query, view)
        return resolve(parsed, await store.view(wider) if wider is not None else view)

    [intent] = asyncio.run(run()).intents
    assert (intent.symbol, intent.side, intent.order_id, intent.quantity) == ("XBTUSD", Side.BUY, OID, D("0.1"))


AMEND_UNKNOWN_CASES = [
    ({"orderID": OID, "orderQty": 2000}, "orderQty: the amended order was not seen through the firewall"),
    ({"origClOrdID": "bot-1", "leavesQty": 500, "price": 50000},
     "leavesQty: the amended order was not seen through the firewall"),
]


@pytest.mark.parametrize(("body", "message"), AMEND_UNKNOWN_CASES)
def test_resolve_when_amend_resizes_an_order_the_store_does_not_know_then_error_names_the_size(
    body: dict, message: str
) -> None:
    parsed = parse(make_request("PUT", ORDER, body))
    assert parsed.error is None

    resolved = resolve(parsed, priced("XBTUSD", D(40000)))

    assert resolved.intents == () and resolved.error is not None
    assert resolved.error.startswith(message) and "symbol and contract size are unknown" in resolved.error
    assert "list open orders (GET /api/v1/order) first" in resolved.error


def test_resolve_when_amend_of_known_inverse_order_has_no_price_anywhere_then_error_names_the_size() -> None:
    [update] = _acknowledge(_ack(execInst="ReduceOnly")).orders  # a reduction may resize without a price
    resolved = resolve(parse(make_request("PUT", ORDER, {"orderID": OID, "orderQty": 4000})), _store_of(update))
    assert resolved.error is not None and "orderQty of inverse contract XBTUSD" in resolved.error


def test_resolve_when_amend_changes_only_the_price_of_an_unknown_order_then_nothing_is_filled_in() -> None:
    parsed = parse(make_request("PUT", ORDER, {"origClOrdID": "bot-1", "clOrdID": "bot-2", "price": 49000}))

    [intent] = resolve(parsed).intents

    assert (intent.symbol, intent.side, intent.quantity, intent.order_id) == (None, None, None, None)
    assert (intent.price, intent.reduce_only, intent.client_order_id) == (D(49000), False, "bot-2")


def test_intent_resolve_when_hook_called_directly_then_the_order_is_read_by_orig_client_id() -> None:
    [intent] = parse(make_request("PUT", ORDER, {"origClOrdID": "bot-1", "orderQty": 1000, "price": 50000})).intents
    assert intent.resolve is not None
    order = KnownOrder("o-9", "XBTUSD", Side.SELL, PositionSide.BOTH)

    resolved = intent.resolve(intent, Known(by_client={"bot-1": order}, orders={OID: order}))

    assert (resolved.order_id, resolved.side, resolved.quantity) == ("o-9", Side.SELL, D("0.02"))


AMEND_ERROR_CASES = [
    ({"orderQty": 2000}, "orderID or origClOrdID is missing"),
    ({"orderID": OID, "orderQty": 2, "leavesQty": 1}, "both given"),
    # two orders named: BitMEX documents no precedence, so which one it amends is a guess
    ({"orderID": OID, "origClOrdID": "buy-B", "orderQty": 1500, "price": 0.1}, "orderID and origClOrdID"),
]


@pytest.mark.parametrize(("body", "message"), AMEND_ERROR_CASES)
def test_parse_request_when_amend_unconvertible_then_error(body: dict, message: str) -> None:
    parsed = parse(make_request("PUT", ORDER, body))
    assert parsed.error is not None and message in parsed.error


# ---- inverse orders without a price -------------------------------------------------------------------------

UNPRICED_CASES = [
    # (body, the store's XBTUSD price, quantity or the error's start)
    (new(ordType="Market", price=None), D(40000), D("0.025")),
    (new(ordType="Market", price=None, execInst="ReduceOnly"), D(40000), D("0.025")),
    (new(ordType="Market", price=None), None, "orderQty of inverse contract XBTUSD is in USD and no price is known"),
    # reduce-only with a size is converted, or refused, like any order (as before the store held prices)
    (new(ordType="Market", price=None, execInst="ReduceOnly"), None, "orderQty of inverse contract XBTUSD"),
]


@pytest.mark.parametrize(("body", "price", "expected"), UNPRICED_CASES)
def test_resolve_when_inverse_order_has_no_price_then_the_stores_price_converts_or_error(
    body: dict, price: Decimal | None, expected: Decimal | str
) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    parsed = parse(make_request("POST", ORDER, body))
    assert parsed.error is None and parsed.intents[0].quantity is None and parsed.intents[0].resolve is not None

    resolved = resolve(parsed, priced("XBTUSD", price) if price is not None else StateView())

    if isinstance(expected, str):
        assert resolved.intents == () and resolved.error is not None and resolved.error.startswith(expected)
    else:
        assert resolved.error is None and resolved.intents[0].quantity == expected


def test_resolve_when_another_venue_or_symbol_has_the_price_then_the_inverse_order_is_refused() -> None:
    parsed = parse(make_request("POST", ORDER, {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100}))
    view = StateView(prices={(Venue.BYBIT, "XBTUSD"): D(40000), (VENUE, "XBTUSDT"): D(40000)})
    resolved = resolve(parsed, view)
    assert resolved.error is not None and "no price is known" in resolved.error


# ---- inverse prices: never in the bot's favour (venues.base.contract_price) ----------------------------------

MAX_POSITION = make_policy("rules:\n  - {id: pos, type: max_position, default: {qty: 1.5}}\n")  # 1.5 BTC
BILLION = 1_000_000  # contracts (USD) and price alike: 1 BTC at its own price, 20 at a 50000 mark

DECIDED_CASES = [
    # (order, the store's XBTUSD mark, quantity decided in BTC, the reason it is blocked or None)
    pytest.param(new(orderQty=BILLION, price=BILLION), D(50000), D(20), Reason.POSITION_EXCEEDS_MAX,
                 id="buy-far-above-mark-sized-at-mark-blocked"),
    pytest.param(new(ordType="Stop", price=None, stopPx=BILLION, orderQty=BILLION), D(50000), D(20),
                 Reason.POSITION_EXCEEDS_MAX, id="stop-buy-trigger-above-mark-sized-at-mark-blocked"),
    pytest.param(new(orderQty=50000, price=40000), D(50000), D("1.25"), None, id="buy-below-mark-at-own-price"),
    pytest.param(new(side="Sell", orderQty=BILLION, price=BILLION), D(50000), D(1), None,
                 id="sell-above-mark-at-own-price"),
    # at the mark it would be 1.4 BTC and pass: a sell fills at or above its price, so its price is the worst case
    pytest.param(new(side="Sell", orderQty=70000, price=40000), D(50000), D("1.75"), Reason.POSITION_EXCEEDS_MAX,
                 id="sell-below-mark-at-own-price-blocked"),
    # a buy priced far above the market fills at the market: its own price would count 20 BTC as 1
    pytest.param(new(orderQty=BILLION, price=BILLION), None, None, Reason.PARSE_FAILED,
                 id="buy-without-mark-refused"),
    pytest.param(new(ordType="Stop", price=None, stopPx=BILLION, orderQty=BILLION), None, None,
                 Reason.PARSE_FAILED, id="stop-buy-without-mark-refused"),
    pytest.param(new(side="Sell", orderQty=BILLION, price=BILLION), None, D(1), None,
                 id="sell-without-mark-at-own-price"),
    # a sell stop above the market triggers at once and fills at the market: 20 BTC, not 1
    pytest.param(new(side="Sell", ordType="Stop", price=None, stopPx=BILLION, orderQty=BILLION), D(50000), D(20),
                 Reason.POSITION_EXCEEDS_MAX, id="stop-sell-trigger-above-mark-sized-at-mark-blocked"),
    pytest.param(new(side="Sell", ordType="Stop", price=None, stopPx=40000, orderQty=50000), D(50000),
                 D("1.25"), None, id="stop-sell-trigger-below-mark-at-its-trigger"),
    pytest.param(new(side="Sell", ordType="Stop", price=None, stopPx=BILLION, orderQty=BILLION), None, None,
                 Reason.PARSE_FAILED, id="stop-sell-without-mark-refused"),
    pytest.param(new(orderQty=BILLION, price=BILLION, execInst="ReduceOnly"), None, D(1), None,
                 id="reduce-only-buy-without-mark-at-own-price"),
    # 1 / 30000 = 0.0000333333…: rounded up at 10 decimals, never under-counted
    pytest.param(new(orderQty=1, price=50000), D(30000), D("0.0000333334"), None,
                 id="buy-above-mark-at-mark-rounded-up"),
    pytest.param(new(ordType="Market", price=None), None, None, Reason.PARSE_FAILED,
                 id="market-without-mark-refused"),
    # triggered at 5,000, a limit buy at 50,000 fills at about 5,000: 100,000 USD is 20 BTC, not 2
    pytest.param(new(ordType="LimitIfTouched", orderQty=100000, price=50000, stopPx=5000), D(50000), D(20),
                 Reason.POSITION_EXCEEDS_MAX, id="limit-if-touched-buy-sized-at-its-trigger-blocked"),
    pytest.param(new(ordType="StopLimit", orderQty=100000, price=51000, stopPx=50000), D(50000), D(2),
                 Reason.POSITION_EXCEEDS_MAX, id="stop-limit-buy-sized-at-its-trigger"),
    # a stop-limit sell fills at or above its limit, below its trigger: the limit is its worst
    pytest.param(new(side="Sell", ordType="StopLimit", orderQty=70000, price=40000, stopPx=45000), D(50000),
                 D("1.75"), Reason.POSITION_EXCEEDS_MAX, id="stop-limit-sell-sized-at-its-limit"),
    # a peg (the bid less 45,000) fills wherever the market takes it: no coin size can be known
    pytest.param(new(ordType="Pegged", price=None, orderQty=100000, pegPriceType="PrimaryPeg",
                     pegOffsetValue=-45000), D(50000), None, Reason.PARSE_FAILED, id="pegged-buy-refused"),
    pytest.param(new(ordType="Stop", price=None, stopPx=None, side="Sell", orderQty=1000,
                     pegPriceType="TrailingStopPeg", pegOffsetValue=-500), D(50000), None, Reason.PARSE_FAILED,
                 id="trailing-stop-sell-refused"),
    pytest.param(new(ordType="Pegged", price=None, orderQty=1000, pegPriceType="PrimaryPeg", pegOffsetValue=-5,
                     execInst="ReduceOnly"), D(50000), None, None, id="pegged-reduce-only-passes"),
]


@pytest.mark.parametrize(("body", "mark", "quantity", "blocked"), DECIDED_CASES)
def test_decide_when_inverse_order_then_contracts_convert_at_the_worse_of_own_price_and_mark(
    body: dict, mark: Decimal | None, quantity: Decimal | None, blocked: Reason | None
) -> None:
    body = {k: v for k, v in body.items() if v is not None}

    async def run() -> Any:
        store = MemoryStore()
        if mark is not None:
            await store.learn(ResponseFacts(prices=(PriceUpdate(VENUE, "XBTUSD", mark, "mark"),)))
        return await decide_request(parse(make_request("POST", ORDER, body)), MAX_POSITION, store, "d1")

    evaluation = asyncio.run(run())

    decision = evaluation.decision
    assert decision.verdict is (Verdict.ALLOW if blocked is None else Verdict.BLOCK)
    if blocked is not None:
        assert decision.deciding is not None and decision.deciding.reason is blocked
    if quantity is not None:
        assert evaluation.parsed is not None and evaluation.parsed.intents[0].quantity == quantity


AMEND_PRICE_CASES = [
    # (the known order's side, amend, the store's XBTUSD mark, the amend's new size in BTC)
    pytest.param(Side.BUY, {"orderQty": BILLION, "price": BILLION}, D(50000), D(20), id="buy-far-above-mark-at-mark"),
    pytest.param(Side.BUY, {"orderQty": BILLION, "stopPx": BILLION}, D(50000), D(20),
                 id="buy-trigger-above-mark-at-mark"),
    pytest.param(Side.BUY, {"orderQty": 40000, "price": 20000}, D(50000), D(2), id="buy-below-mark-at-own-price"),
    pytest.param(Side.BUY, {"orderQty": BILLION, "price": BILLION}, None, D(1), id="buy-without-mark-at-own-price"),
    pytest.param(Side.BUY, {"leavesQty": BILLION, "price": BILLION}, D(50000), D("20.005"),
                 id="buy-leaves-at-mark-plus-filled"),
    pytest.param(Side.SELL, {"orderQty": BILLION, "price": BILLION}, D(50000), D(1), id="sell-at-own-price"),
    pytest.param(Side.SELL, {"orderQty": 50000, "price": 40000}, D(50000), D("1.25"),
                 id="sell-below-mark-at-own-price"),
    pytest.param(Side.SELL, {"orderQty": 50000, "stopPx": 40000}, D(50000), D("1.25"),
                 id="sell-stop-below-mark-at-its-trigger"),
]


@pytest.mark.parametrize(("side", "body", "mark", "quantity"), AMEND_PRICE_CASES)
def test_resolve_when_amend_of_known_inverse_order_then_new_size_at_the_worse_of_own_price_and_mark(
    side: Side, body: dict, mark: Decimal | None, quantity: Decimal
) -> None:
    [update] = _acknowledge(_ack(side=side.value.capitalize(), ordStatus="PartiallyFilled", cumQty=250)).orders
    assert update.side is side and update.executed == D("0.005")
    parsed = parse(make_request("PUT", ORDER, {"orderID": OID, **body}))

    resolved = resolve(parsed, _store_of(update, mark))

    assert resolved.error is None
    [intent] = resolved.intents
    assert (intent.side, intent.quantity) == (side, quantity)


def test_decide_when_amend_raises_a_known_buy_far_above_the_mark_then_max_position_counts_it_at_the_mark() -> None:
    async def run() -> Any:
        store = MemoryStore()
        await store.learn(ResponseFacts(prices=(PriceUpdate(VENUE, "XBTUSD", D(50000), "mark"),)))
        await store.learn(_acknowledge(_ack()))
        amend = {"orderID": OID, "orderQty": BILLION, "price": BILLION}  # 1 BTC at its own price: within 1.5
        return await decide_request(parse(make_request("PUT", ORDER, amend)), MAX_POSITION, store, "d1")

    evaluation = asyncio.run(run())

    assert evaluation.parsed is not None and evaluation.parsed.intents[0].quantity == D(20)
    assert evaluation.decision.verdict is Verdict.BLOCK
    assert evaluation.decision.deciding is not None
    assert evaluation.decision.deciding.reason is Reason.POSITION_EXCEEDS_MAX


def test_parse_request_when_priced_linear_or_close_order_then_nothing_left_for_the_store() -> None:
    learn_instruments()
    market_linear = parse(make_request("POST", ORDER, new(symbol="XBTUSDT", ordType="Market", price=None)))
    close = parse(make_request("POST", ORDER, {"symbol": "XBTUSD", "execInst": "Close", "ordType": "Market"}))
    sell_limit = parse(make_request("POST", ORDER, new(side="Sell")))
    for parsed in (market_linear, close, sell_limit):
        [intent] = parsed.intents
        assert intent.resolve is None and resolve(parsed) is parsed
    assert market_linear.intents[0].quantity == D("0.001") and close.intents[0].quantity is None
    assert sell_limit.intents[0].quantity == D("0.02")  # a sell's worst case is its own price: no mark needed
    # a buy limit converts at the lower of its price and the mark: its size is the store's to complete
    [buy] = parse(make_request("POST", ORDER, new())).intents
    assert buy.quantity is None and buy.resolve is not None


def test_parse_request_when_inverse_size_unknown_then_refused_before_any_price_is_sought() -> None:
    parsed = parse(make_request("POST", ORDER, new(symbol="XBTH27", ordType="Market", price=None)))
    assert parsed.error is not None and parsed.error.startswith("orderQty: contract size of XBTH27 unknown")


# ---- settings, cancels, forbidden, unknown -----------------------------------------------------------------

SETTING_CASES = [
    ("/api/v1/position/leverage", {"symbol": "XBTUSD", "leverage": 25}, Action.SET_LEVERAGE,
     {"leverage": D(25), "margin_mode": "ISOLATED"}),
    ("/api/v1/position/leverage", {"symbol": "XBTUSD", "leverage": 0}, Action.SET_LEVERAGE,
     {"leverage": D(100), "margin_mode": "CROSSED"}),
    ("/api/v1/position/leverage", {"symbol": "XBTUSD", "leverage": 0, "crossLeverage": 5}, Action.SET_LEVERAGE,
     {"leverage": D(5), "margin_mode": "CROSSED"}),
    ("/api/v1/position/leverage", {"symbol": "XBTUSD", "leverage": 5, "crossLeverage": 50}, Action.SET_LEVERAGE,
     {"leverage": D(50), "margin_mode": "ISOLATED"}),
    ("/api/v1/position/isolate", {"symbol": "XBTUSD", "enabled": False}, Action.SET_MARGIN_MODE,
     {"margin_mode": "CROSSED"}),
    ("/api/v1/position/transferMargin", {"symbol": "XBTUSD", "amount": 1000}, Action.SET_MARGIN_MODE, {}),
]


@pytest.mark.parametrize(("path", "body", "action", "fields"), SETTING_CASES)
def test_parse_request_when_position_setting_then_setting_intent(path: str, body: dict, action: Action,
                                                                  fields: dict) -> None:
    [intent] = parse(make_request("POST", path, body)).intents
    assert intent.action is action and intent.symbol == "XBTUSD"
    for name, value in fields.items():
        assert getattr(intent, name) == value, name


@pytest.mark.parametrize(("method", "path", "body"), [
    ("DELETE", ORDER, b"this is not json"),
    ("DELETE", ORDER, {"orderID": [OID, "x"]}),
    ("DELETE", "/api/v1/order/all", {"symbol": "XBTUSD"}),
    ("POST", "/api/v1/order/cancelAllAfter", {"timeout": 60000}),
])
def test_parse_request_when_cancel_then_cancel_action_whatever_the_body(method: str, path: str,
                                                                          body: Any) -> None:
    parsed = parse(make_request(method, path, body))
    assert parsed.action.never_blocked and parsed.error is None


@pytest.mark.parametrize(("method", "path", "action"), [
    ("POST", "/api/v1/user/requestWithdrawal", Action.FORBIDDEN),
    ("POST", "/api/v1/user/cancelWithdrawal", Action.FORBIDDEN),
    ("POST", "/api/v1/user/preferences", Action.FORBIDDEN),
    ("PUT", "/api/v1/user/anything", Action.FORBIDDEN),
    ("POST", "/api/v1/apiKey/enable", Action.FORBIDDEN),
    ("POST", "/api/v1/address", Action.FORBIDDEN),
    ("POST", "/api/v1/Api/V1/../wallet/transfer", Action.FORBIDDEN),
    ("POST", "/api/v1/chat", Action.UNKNOWN),
    ("PUT", "/api/v1/position/leverage", Action.UNKNOWN),
    ("POST", "/api/v1/position/crossLeverage", Action.UNKNOWN),
    ("GET", "/api/v1/user/wallet", Action.READ),
    ("GET", "/api/v1/execution/tradeHistory", Action.READ),
])
def test_parse_request_when_wallet_unknown_or_read_path_then_action(method: str, path: str, action: Action) -> None:
    assert parse(make_request(method, path, {"amount": 1})).action is action


# ---- responses -------------------------------------------------------------------------------------------


def test_parse_response_when_instruments_then_sizes_unified_symbols_and_prices() -> None:
    request = make_request("GET", "/api/v1/instrument", api_key=None)
    facts = ADAPTER.parse_response(ParsedRequest(VENUE, Action.READ, "GET /api/v1/instrument"), request, 200,
                                   orjson.dumps(INSTRUMENT_ROWS), DECISION_ID)
    sizes = {i.native: (i.unified, i.contract_size, i.quote_sized) for i in facts.instruments}
    assert sizes == {
        "XBTUSD": ("BTC/USD:BTC", D(1), True),
        "XBTUSDT": ("BTC/USDT:USDT", D("0.000001"), False),
        "LTCUSDT": ("LTC/USDT:USDT", D("0.0001"), False),
        "ETHUSD": ("ETH/USD:BTC", None, False),
        "XBTZ26": ("BTC/USD:BTC-261225", D(1), True),
    }
    assert PriceUpdate(VENUE, "XBTUSD", D(50000), "mark") in facts.prices
    # prices go to the store (the adapter keeps none), which later orders are converted with
    assert PriceUpdate(VENUE, "LTCUSDT", D("80.25"), "mark") in facts.prices


def test_parse_response_when_order_acknowledged_then_fill_learned_in_base_units() -> None:
    facts = _acknowledge(_ack(ordStatus="PartiallyFilled", cumQty=250))
    [update] = facts.orders
    assert (update.order_id, update.side, update.original, update.executed, update.final) == (
        OID, Side.BUY, D("0.02"), D("0.005"), False)
    assert update.reservation_id == f"{DECISION_ID}:0"
    assert update.client_order_id == "bot-1"  # the store indexes the open order by it, for amends naming it so


@pytest.mark.parametrize(("cl_ord_id", "expected"), [("bot-7", "bot-7"), ("", None), (None, None), (7, None)])
def test_parse_response_when_orders_listed_then_client_ids_learned_where_given(cl_ord_id: object,
                                                                              expected: str | None) -> None:
    request = make_request("GET", ORDER, query=(("filter", '{"open": true}'),))
    facts = ADAPTER.parse_response(parse(request), request, 200, orjson.dumps([_ack(clOrdID=cl_ord_id)]),
                                   DECISION_ID)
    [snapshot] = facts.open_orders
    assert [o.client_order_id for o in snapshot.orders] == [expected]


def test_parse_response_when_answer_has_no_price_then_the_price_the_request_was_decided_with_converts() -> None:
    [update] = _acknowledge(_ack(execInst="ReduceOnly")).orders
    amend = parse(make_request("PUT", ORDER, {"orderID": OID, "price": 49000}))
    decided = resolve(amend, _store_of(update, D(40000)))  # a new price only: no size of its own to go by
    assert decided.known is not None and decided.intents[0].quantity is None
    answer = orjson.dumps(_ack(price=None, orderQty=4000, cumQty=2000))
    request = make_request("PUT", ORDER, {"orderID": OID, "price": 49000})

    [learned] = ADAPTER.parse_response(decided, request, 200, answer, DECISION_ID).orders
    unknown = ADAPTER.parse_response(amend, request, 200, answer, DECISION_ID)

    assert (learned.original, learned.executed) == (D("0.1"), D("0.05"))
    assert unknown.orders == ()  # nothing to convert with: not learned, as ever


POSITION_CASES = [
    ((), [{"symbol": "XBTUSD", "currentQty": -5000, "markPrice": 50000, "avgEntryPrice": 49000}], None,
     (("XBTUSD", PositionSide.BOTH, D("-0.1")),)),
    ((("filter", '{"isOpen": true}'),), [{"symbol": "XBTUSD", "currentQty": 2500, "markPrice": 50000}], None,
     (("XBTUSD", PositionSide.BOTH, D("0.05")),)),
    ((("filter", '{"symbol": "XBTUSD"}'),), [{"symbol": "XBTUSD", "currentQty": 0, "markPrice": 50000}], "XBTUSD",
     (("XBTUSD", PositionSide.BOTH, D(0)),)),
    # `1` is no JSON true (Python's `1 == True` is): BitMEX may have narrowed the list, so it is read row by row
    ((("filter", '{"isOpen": 1}'),), [{"symbol": "XBTUSD", "currentQty": 2500, "markPrice": 50000}], "XBTUSD",
     (("XBTUSD", PositionSide.BOTH, D("0.05")),)),
]


@pytest.mark.parametrize(("query", "rows", "scope", "entries"), POSITION_CASES)
def test_parse_response_when_positions_listed_then_signed_base_report(query: tuple, rows: list,
                                                                     scope: str | None, entries: tuple) -> None:
    request = make_request("GET", "/api/v1/position", query=query)
    facts = ADAPTER.parse_response(parse(request), request, 200, orjson.dumps(rows), DECISION_ID)
    assert facts.positions == (PositionsReport(VENUE, ACCOUNT, scope, entries),)


@pytest.mark.parametrize(("row", "original"), [
    pytest.param(_ack(), D("0.02"), id="limit-at-its-price"),
    # a resting limit-if-touched buy: once triggered at 5,000 its 1,000 USD are 0.2 BTC
    pytest.param(_ack(ordType="LimitIfTouched", stopPx=5000), D("0.2"), id="limit-if-touched-buy-at-trigger"),
    pytest.param(_ack(side="Sell", ordType="StopLimit", price=40000, stopPx=45000), D("0.025"),
                 id="stop-limit-sell-at-limit"),
])
def test_parse_response_when_conditional_inverse_order_listed_then_sized_at_the_lowest_it_can_fill_at(
    row: dict[str, Any], original: Decimal
) -> None:
    request = make_request("GET", ORDER, query=(("filter", '{"open": true}'),))

    [snapshot] = ADAPTER.parse_response(parse(request), request, 200, orjson.dumps([row]), DECISION_ID).open_orders

    assert [o.original for o in snapshot.orders] == [original]


def test_parse_response_when_open_orders_listed_with_open_filter_then_snapshot() -> None:
    query = (("symbol", "XBTUSD"), ("filter", '{"open": true}'))
    request = make_request("GET", ORDER, query=query)
    facts = ADAPTER.parse_response(parse(request), request, 200, orjson.dumps([_ack()]), DECISION_ID)
    [snapshot] = facts.open_orders
    assert isinstance(snapshot, OpenOrdersSnapshot) and snapshot.symbol == "XBTUSD"
    assert [(o.order_id, o.original) for o in snapshot.orders] == [(OID, D("0.02"))]
    unfiltered = make_request("GET", ORDER, query=(("symbol", "XBTUSD"),))
    assert ADAPTER.parse_response(parse(unfiltered), unfiltered, 200, orjson.dumps([_ack()]),
                                  DECISION_ID).open_orders == ()


def test_parse_response_when_cancelled_then_orders_final_and_errors_ignored() -> None:
    request = make_request("DELETE", ORDER, {"orderID": OID})
    body = [_ack(ordStatus="Canceled"), _ack(orderID="other", ordStatus="Filled", cumQty=1000,
                                            error="Unable to cancel order due to existing state: Filled")]
    facts = ADAPTER.parse_response(parse(request), request, 200, orjson.dumps(body), DECISION_ID)
    assert [(u.order_id, u.final) for u in facts.orders] == [(OID, True)]
    assert facts.closed == () or all(isinstance(c, ClosedOrder) for c in facts.closed)


@pytest.mark.parametrize("status", [400, 401, 429, 503])
def test_parse_response_when_error_status_then_nothing_learned(status: int) -> None:
    request = make_request("POST", ORDER, new())
    facts = ADAPTER.parse_response(parse(request), request, status, orjson.dumps(_ack()), DECISION_ID)
    assert facts.empty


# ---- rejections ------------------------------------------------------------------------------------------

REJECTION_CASES = [
    (Reason.ORDER_QTY_EXCEEDS_MAX, 400),
    (Reason.ORDER_NOTIONAL_EXCEEDS_MAX, 400),
    (Reason.SYMBOL_NOT_ALLOWED, 400),
    (Reason.LEVERAGE_EXCEEDS_MAX, 400),
    (Reason.DUPLICATE_ORDER, 400),
    (Reason.OPEN_ORDERS_EXCEED_MAX, 400),
    (Reason.DAILY_NOTIONAL_EXCEEDS_MAX, 400),
    (Reason.GROSS_EXPOSURE_EXCEEDS_MAX, 400),
    (Reason.EQUITY_UNKNOWN, 400),
    (Reason.PARSE_FAILED, 400),
    (Reason.STATE_UNAVAILABLE, 400),
    (Reason.INTERNAL_ERROR, 400),
    (Reason.TRADING_HALTED, 403),
    (Reason.ACTION_FORBIDDEN, 403),
    (Reason.UNKNOWN_ENDPOINT, 403),
    (Reason.ORDER_RATE_EXCEEDED, 429),
]


def old_ccxt_class(status: int, body: bytes) -> str:
    """The exception class the old ccxt bitmex.handle_errors raises (docs/venues.md §5.5), by name."""
    exact = {"Invalid API Key.": "AuthenticationError", "This key is disabled.": "PermissionDenied",
             "Access Denied": "PermissionDenied", "Duplicate clOrdID": "InvalidOrder",
             "orderQty is invalid": "InvalidOrder", "Invalid price": "InvalidOrder",
             "Invalid stopPx for ordType": "InvalidOrder"}
    broad = {"Signature not valid": "AuthenticationError", "overloaded": "ExchangeNotAvailable",
             "Account has insufficient Available Balance": "InsufficientFunds",
             "Service unavailable": "ExchangeNotAvailable", "Server Error": "ExchangeError",
             "Unable to cancel order due to existing state": "InvalidOrder",
             "We require all new traders to verify": "PermissionDenied"}
    if status == 429:
        return "DDoSProtection"
    message = json.loads(body)["error"]["message"]
    if message in exact:
        return exact[message]
    for key, name in broad.items():
        if key in message:
            return name
    return "BadRequest" if status == 400 else "ExchangeError"


@pytest.mark.parametrize(("reason", "status"), REJECTION_CASES)
def test_rejection_when_blocked_then_bitmex_error_shape_and_order_class(reason: Reason, status: int) -> None:
    violation = Violation.of("my-rule", reason, None, qty="0.6", max_qty="0.5")
    rejection = ADAPTER.rejection(Decision(Verdict.BLOCK, DECISION_ID, "rev", (violation,)))
    body = json.loads(rejection.body)
    assert rejection.status == status == status_for(violation)
    assert body["error"]["name"] == "HTTPError" and "my-rule" in body["error"]["message"]
    assert reason in body["error"]["message"]
    assert old_ccxt_class(rejection.status, rejection.body) not in ("ExchangeNotAvailable", "AuthenticationError",
                                                                     "InsufficientFunds")
    if status == 429:
        assert ("retry-after", "1") in rejection.headers


@pytest.mark.parametrize("halt_reason", ["Service unavailable", "Signature not valid", "system overloaded",
                                         "Account has insufficient Available Balance"])
def test_rejection_when_message_holds_a_steering_phrase_then_class_not_steered(halt_reason: str) -> None:
    violation = Violation.of("riskwall.kill-switch", Reason.TRADING_HALTED, None, reason=halt_reason)
    rejection = ADAPTER.rejection(Decision(Verdict.BLOCK, DECISION_ID, "rev", (violation,)))
    assert old_ccxt_class(rejection.status, rejection.body) == "ExchangeError"


def test_intent_fields_when_parsed_then_account_is_fingerprint_only() -> None:
    parsed = parse(make_request("POST", ORDER, new()))
    assert parsed.account == ACCOUNT and all(isinstance(i, OrderIntent) for i in parsed.intents)
    assert "api-key" in ADAPTER.secret_fields and "api-signature" in ADAPTER.secret_fields


@pytest.mark.parametrize(("padding", "refused"), [(0, False), (1_000, True)])
def test_parse_request_when_a_form_holds_more_parameters_than_a_server_reads_then_refused(
    padding: int, refused: bool
) -> None:
    # Node's qs reads 1,000 pairs: a `side` past them would be dropped, and BitMEX takes a positive orderQty for a buy
    body = "&".join([f"text{n}=x" for n in range(padding)] + ["symbol=XBTUSD", "orderQty=100", "ordType=Market",
                                                                "side=Sell"]).encode()

    parsed = parse(make_request("POST", "/api/v1/order", body, content_type=FORM))

    assert (parsed.error is not None and "more than 100 parameters" in parsed.error) is refused
