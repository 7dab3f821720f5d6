"""Golden tests of the Binance COIN-M adapter (`riskwall.venues.binance_coinm.ADAPTER`).

Facts under test (docs/venues.md §2, §1): dapi mirrors fapi under `/dapi/v1/...`; `quantity`, `origQty`,
`executedQty` and `positionAmt` count CONTRACTS worth `contractSize` USD each (from `GET /dapi/v1/exchangeInfo`),
so base units = contracts × contractSize ÷ price; an unknown contract size or price is never guessed. The price
is the order's own, else the mark the store holds (a buy: the lower of the two), so an order's size is only known
once `engine.resolve` completes it with the store's view; answers convert at the mark the request was decided
with (`ParsedRequest.known`). Rejections
must make the real ccxt binancecoinm raise the same classes as binanceusdm, on a real dapi URL and behind a
reverse listener. testnet.binancefuture.com serves both APIs: the path prefix picks the adapter.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import ccxt
import orjson
import pytest
from requests.structures import CaseInsensitiveDict

from riskwall import engine
from riskwall.decider import Evaluation, decide_request
from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    ClosedOrder,
    Decision,
    Known,
    KnownOrder,
    OpenOrdersSnapshot,
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
from riskwall.venues import ADAPTERS, default_host_map
from riskwall.venues import binance_usdm as usdm
from riskwall.venues.base import FieldError, HttpRequest, screen
from riskwall.venues.binance_coinm import ADAPTER, BUNDLED, base_quantity, unified_symbol

from .factories import in_turn, make_policy

D = Decimal
VENUE = Venue.BINANCECOINM
FORM = "application/x-www-form-urlencoded"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
ACCOUNT = fingerprint(API_KEY)
SIGNED = (("timestamp", "1700000000000"), ("recvWindow", "10000"), ("signature", SIGNATURE))
STYLES = ("query", "form", "mixed")
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"


@pytest.fixture(autouse=True)
def clean_catalog() -> Any:
    CATALOG.clear()
    yield
    CATALOG.clear()


def make_request(method: str, path: str, params: dict[str, str] | None = None, *, style: str = "query",
                 host: str = "dapi.binance.com", api_key: str | None = API_KEY) -> HttpRequest:
    pairs = [*(params or {}).items(), *SIGNED]
    if style == "query":
        query, form = pairs, []
    elif style == "form":
        query, form = [], pairs
    else:
        query, form = pairs[: len(pairs) // 2], pairs[len(pairs) // 2:]
    body = urlencode(form).encode() if form else b""
    headers = {"user-agent": "python-requests/2.32.3"}
    if api_key is not None:
        headers["x-mbx-apikey"] = api_key
    if body:
        headers["content-type"] = FORM
    return HttpRequest(method, host, 443, path + ("?" + urlencode(query) if query else ""), tuple(query), headers,
                       body)


def parse(request: HttpRequest) -> ParsedRequest:
    parsed = screen(ADAPTER, request)
    assert API_KEY not in repr(parsed) and SIGNATURE not in repr(parsed)
    return parsed


def marks(**prices: str) -> StateView:
    """A view of the store holding these mark prices of this venue (`BTCUSD_PERP="40000"`)."""
    return StateView(prices={(VENUE, symbol): D(price) for symbol, price in prices.items()})


def decided(request: HttpRequest, view: StateView | None = None) -> ParsedRequest:
    """The request as the engine decides it: parsed, then completed with what the store's `view` knows."""
    return engine.resolve(parse(request), view or StateView())


def learn_contracts(*rows: tuple[str, str, str, int]) -> None:
    """Teach the catalog like an exchangeInfo answer passing through would."""
    symbols = [{"symbol": s, "pair": s.split("_")[0], "contractType": "PERPETUAL" if s.endswith("PERP") else
                "CURRENT_QUARTER", "baseAsset": b, "quoteAsset": "USD", "marginAsset": b, "contractSize": size}
               for s, b, _, size in rows]
    facts = respond("GET", "/dapi/v1/exchangeInfo", {"symbols": symbols}, signed=False)
    CATALOG.learn(facts.instruments)


def respond(method: str, path: str, payload: Any, params: dict[str, str] | None = None, *, signed: bool = True,
            status: int = 200, action: Action | None = None, view: StateView | None = None) -> ResponseFacts:
    """What the adapter learns from `payload` answering the request, as decided with the store's `view`."""
    request = make_request(method, path, params, api_key=API_KEY if signed else None)
    parsed = engine.resolve(screen(ADAPTER, request), view or StateView())
    if action is not None:
        parsed = ParsedRequest(VENUE, action, parsed.endpoint, parsed.account)
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return ADAPTER.parse_response(parsed, request, status, body, DECISION_ID)


# ---- 1. requests: contracts → base units -----------------------------------------------------------------

ORDER_CASES = [
    # (params, the store's mark, expected fields)
    pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "10",
                  "price": "50000"}, D("50000"),
                 dict(symbol="BTCUSD_PERP", unified_symbol="BTC/USD:BTC", side=Side.BUY, quantity=D("0.02"),
                      price=D("50000"), order_type="LIMIT", time_in_force="GTC"),
                 id="limit-converted-at-own-price"),
    pytest.param({"symbol": "ethusd_perp", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "3",
                  "price": "2500"}, None,
                 dict(symbol="ETHUSD_PERP", unified_symbol="ETH/USD:ETH", side=Side.SELL, quantity=D("0.012"),
                      price=D("2500"), order_type="LIMIT", time_in_force="GTC"),
                 id="lower-case-symbol-eth-10-usd"),
    pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "5"}, D("40000"),
                 dict(symbol="BTCUSD_PERP", unified_symbol="BTC/USD:BTC", side=Side.BUY, quantity=D("0.0125"),
                      order_type="MARKET"),
                 id="market-converted-at-store-mark"),
    pytest.param({"symbol": "BTCUSD_PERP", "side": "SELL", "type": "STOP_MARKET", "quantity": "8",
                  "stopPrice": "40000"}, None,
                 dict(symbol="BTCUSD_PERP", unified_symbol="BTC/USD:BTC", side=Side.SELL, quantity=D("0.02"),
                      trigger_price=D("40000"), order_type="STOP_MARKET"),
                 id="stop-market-converted-at-trigger"),
    pytest.param({"symbol": "BTCUSD_PERP", "side": "SELL", "type": "MARKET", "quantity": "5", "reduceOnly": "true"},
                 None,
                 dict(symbol="BTCUSD_PERP", unified_symbol="BTC/USD:BTC", side=Side.SELL, quantity=None,
                      order_type="MARKET", reduce_only=True),
                 id="reduce-only-market-without-price-has-no-size"),
    pytest.param({"symbol": "BTCUSD_PERP", "side": "SELL", "type": "STOP_MARKET", "stopPrice": "45000",
                  "closePosition": "true"}, None,
                 dict(symbol="BTCUSD_PERP", unified_symbol="BTC/USD:BTC", side=Side.SELL, quantity=None,
                      trigger_price=D("45000"), order_type="STOP_MARKET", close_position=True),
                 id="close-position"),
    pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "positionSide": "LONG", "type": "LIMIT",
                  "timeInForce": "GTC", "quantity": "1", "price": "62500"}, D("62500"),
                 dict(symbol="BTCUSD_PERP", unified_symbol="BTC/USD:BTC", side=Side.BUY,
                      position_side=PositionSide.LONG, quantity=D("0.0016"), price=D("62500"), order_type="LIMIT",
                      time_in_force="GTC"),
                 id="hedge-long"),
    pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "10",
                  "price": "100000"}, D("40000"),
                 dict(symbol="BTCUSD_PERP", side=Side.BUY, quantity=D("0.025"), price=D("100000")),
                 id="buy-limit-above-mark-converts-at-mark"),
    pytest.param({"symbol": "BTCUSD_PERP", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "10",
                  "price": "20000"}, D("40000"),
                 dict(symbol="BTCUSD_PERP", side=Side.SELL, quantity=D("0.05"), price=D("20000")),
                 id="sell-limit-below-mark-converts-at-own-price"),
    pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "10",
                  "price": "25000"}, D("40000"),
                 dict(symbol="BTCUSD_PERP", side=Side.BUY, quantity=D("0.04"), price=D("25000")),
                 id="buy-limit-below-mark-converts-at-own-price"),
    # no mark known: a buy that can only reduce is converted at its own price, as it cannot add to a position
    pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "10",
                  "price": "50000", "reduceOnly": "true"}, None,
                 dict(symbol="BTCUSD_PERP", side=Side.BUY, quantity=D("0.02"), reduce_only=True),
                 id="reduce-only-buy-without-mark-at-own-price"),
]


@pytest.mark.parametrize(("style", "params", "mark", "fields"), in_turn(STYLES, ORDER_CASES))
def test_parse_request_when_new_order_then_quantity_in_base_units(
    style: str, params: dict, mark: Decimal | None, fields: dict
) -> None:
    view = marks(BTCUSD_PERP=str(mark)) if mark is not None else StateView()

    parsed = decided(make_request("POST", "/dapi/v1/order", params, style=style), view)

    assert parsed.error is None
    assert (parsed.venue, parsed.action, parsed.endpoint, parsed.account) == (
        VENUE, Action.NEW, "POST /dapi/v1/order", ACCOUNT)
    [leg] = parsed.intents
    assert leg.venue is VENUE and leg.account == ACCOUNT
    for name, want in fields.items():
        assert getattr(leg, name) == want, name


@pytest.mark.parametrize(
    ("learned", "params", "quantity"),
    [
        pytest.param([("SOLUSD_PERP", "SOL", "", 10)], {"symbol": "SOLUSD_PERP", "quantity": "25", "price": "125"},
                     D("2"), id="learned-symbol"),
        pytest.param([("BTCUSD_PERP", "BTC", "", 200)], {"symbol": "BTCUSD_PERP", "quantity": "10", "price": "50000"},
                     D("0.04"), id="learned-size-wins-over-bundled"),
        pytest.param([("BTCUSD_250627", "BTC", "", 100)],
                     {"symbol": "BTCUSD_250627", "quantity": "1", "price": "50000"}, D("0.002"), id="delivery"),
    ],
)
def test_parse_request_when_contract_size_learned_then_it_converts(
    learned: list, params: dict, quantity: Decimal
) -> None:
    learn_contracts(*learned)

    parsed = decided(make_request("POST", "/dapi/v1/order", {"side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                                             **params}), marks(**{params["symbol"]: params["price"]}))

    assert parsed.error is None
    assert parsed.intents[0].quantity == quantity


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"symbol": "SOLUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
                      "price": "125"}, "contractSize", id="contract-size-unknown"),
        pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "1"}, "price",
                     id="market-without-known-price"),
        pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                      "quantity": "1", "priceMatch": "OPPONENT"}, "price", id="price-match-without-known-price"),
        pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "quantity": "1e3", "price": "1"},
                     "quantity", id="quantity-not-plain"),
        pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "quantity": "1000000000000000",
                      "price": "0.00000001"}, "quantity", id="converted-quantity-too-large"),
        pytest.param({"symbol": "BTCUSD_PERP", "side": "HOLD", "type": "LIMIT", "quantity": "1", "price": "1"},
                     "side", id="side-unknown"),
        # priced far above a market nobody has read, it fills at the market: its own price would undercount it
        pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                      "quantity": "10", "price": "1000000"}, "premiumIndex", id="buy-limit-without-known-mark"),
        pytest.param({"symbol": "BTCUSD_PERP", "side": "BUY", "type": "STOP", "timeInForce": "GTC",
                      "quantity": "10", "price": "60000", "stopPrice": "55000"}, "premiumIndex",
                     id="triggered-buy-without-known-mark"),
    ],
)
def test_parse_request_when_size_cannot_be_converted_then_error_names_field(params: dict, field: str) -> None:
    parsed = decided(make_request("POST", "/dapi/v1/order", params))

    assert parsed.action is Action.NEW and parsed.intents == ()
    assert parsed.error is not None and field in parsed.error


def test_parse_request_when_batch_orders_then_each_leg_converted_in_order() -> None:
    legs = [{"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "quantity": "10", "price": "50000",
             "timeInForce": "GTC"},
            {"symbol": "ETHUSD_PERP", "side": "SELL", "type": "LIMIT", "quantity": "5", "price": "2000",
             "timeInForce": "GTC"}]

    parsed = decided(make_request("POST", "/dapi/v1/batchOrders", {"batchOrders": orjson.dumps(legs).decode()}),
                     marks(BTCUSD_PERP="50000"))

    assert parsed.error is None
    assert [(i.symbol, i.quantity, i.venue) for i in parsed.intents] == [
        ("BTCUSD_PERP", D("0.02"), VENUE), ("ETHUSD_PERP", D("0.025"), VENUE)]


@pytest.mark.parametrize(
    ("method", "path", "params", "action", "fields"),
    [
        ("POST", "/dapi/v1/algoOrder", {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "STOP_MARKET",
                                        "algoType": "CONDITIONAL", "quantity": "4", "triggerPrice": "40000"},
         Action.NEW, dict(quantity=D("0.01"), trigger_price=D("40000"))),
        ("POST", "/dapi/v1/leverage", {"symbol": "BTCUSD_PERP", "leverage": "20"}, Action.SET_LEVERAGE,
         dict(leverage=D("20"), unified_symbol="BTC/USD:BTC")),
        ("POST", "/dapi/v1/marginType", {"symbol": "BTCUSD_PERP", "marginType": "ISOLATED"}, Action.SET_MARGIN_MODE,
         dict(margin_mode="ISOLATED")),
        ("POST", "/dapi/v1/positionSide/dual", {"dualSidePosition": "true"}, Action.SET_POSITION_MODE,
         dict(hedge_mode=True, margin_mode=None)),
    ],
)
def test_parse_request_when_other_order_endpoint_then_one_intent(
    method: str, path: str, params: dict, action: Action, fields: dict
) -> None:
    parsed = decided(make_request(method, path, params, style="form"))

    assert parsed.error is None and parsed.action is action
    [leg] = parsed.intents
    assert leg.venue is VENUE
    for name, want in fields.items():
        assert getattr(leg, name) == want, name


@pytest.mark.parametrize(
    ("resting", "fields", "error"),
    [
        (KnownOrder("123", "BTCUSD_PERP", Side.BUY, PositionSide.LONG),
         dict(quantity=D("0.05"), order_id="123", side=Side.BUY, position_side=PositionSide.LONG), None),
        # the order rests as a sell: the venue amends it as one, whatever the amend says (and converts as one)
        (KnownOrder("123", "BTCUSD_PERP", Side.SELL, PositionSide.SHORT),
         dict(quantity=D("0.05"), side=Side.SELL, position_side=PositionSide.SHORT), None),
        (None, {}, "not seen through the firewall"),
        (KnownOrder("123", "ETHUSD_PERP", Side.BUY, PositionSide.BOTH), {}, "on another symbol"),
    ],
    ids=["known-long", "known-sell", "unknown", "other-symbol"],
)
def test_parse_request_when_order_amended_then_completed_with_the_order_the_store_holds(
    resting: KnownOrder | None, fields: dict, error: str | None
) -> None:
    view = StateView(orders={"123": resting} if resting else {}, prices={(VENUE, "BTCUSD_PERP"): D("40000")})
    amend = make_request("PUT", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY", "orderId": "123",
                                                   "quantity": "20", "price": "40000"}, style="form")

    parsed = decided(amend, view)

    if error is not None:
        assert parsed.intents == () and error in (parsed.error or "")
        return
    [leg] = parsed.intents
    assert parsed.error is None and parsed.action is Action.AMEND and leg.venue is VENUE
    for name, want in fields.items():
        assert getattr(leg, name) == want, name


@pytest.mark.parametrize(
    ("method", "path", "action"),
    [
        ("DELETE", "/dapi/v1/order", Action.CANCEL),
        ("DELETE", "/dapi/v1/batchOrders", Action.CANCEL),
        ("DELETE", "/dapi/v1/allOpenOrders", Action.CANCEL_ALL),
        ("POST", "/dapi/v1/countdownCancelAll", Action.CANCEL_ALL),
        ("POST", "/dapi/v1/positionMargin", Action.SET_MARGIN_MODE),
        ("GET", "/dapi/v1/positionRisk", Action.READ),
        ("GET", "/dapi/v1/account", Action.READ),
        ("GET", "/dapi/v1/exchangeInfo", Action.READ),
        ("POST", "/dapi/v1/listenKey", Action.READ),
        ("POST", "/sapi/v1/capital/withdraw/apply", Action.FORBIDDEN),
        ("POST", "/sapi/v1/asset/transfer", Action.FORBIDDEN),
        ("POST", "/sapi/v1/futures/transfer", Action.FORBIDDEN),
        ("POST", "/dapi/v1/sub-account/futures/transfer", Action.FORBIDDEN),
        ("POST", "/dapi/v1/someNewEndpoint", Action.UNKNOWN),
        ("POST", "/fapi/v1/order", Action.UNKNOWN),
    ],
)
def test_parse_request_when_endpoint_known_then_action(method: str, path: str, action: Action) -> None:
    parsed = parse(make_request(method, path, {"symbol": "BTCUSD_PERP"}))

    assert (parsed.venue, parsed.action) == (VENUE, action)
    assert parsed.intents == ()


@pytest.mark.parametrize(
    ("host", "path", "action"),
    [
        ("ws-dapi.binance.com", "/ws-dapi/v1", Action.UNKNOWN),
        ("ws-dapi.binance.com", "/", Action.UNKNOWN),
        ("dstream.binance.com", "/ws/btcusd_perp@markPrice", Action.READ),
        ("dstream.binance.com", "/ws/./../ws-dapi/v1", Action.UNKNOWN),
    ],
)
def test_parse_request_when_websocket_handshake_then_order_entry_refused_and_streams_read(
    host: str, path: str, action: Action
) -> None:
    request = make_request("GET", path, host=host)
    handshake = dataclasses.replace(request, headers={**request.headers, "upgrade": "websocket"})

    assert parse(handshake).action is action


def test_parse_request_when_api_key_header_repeated_then_error() -> None:
    request = make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP"})
    request = HttpRequest(request.method, request.host, request.port, request.path, request.query, request.headers,
                          request.body, frozenset({"x-mbx-apikey"}))

    assert parse(request).error == "X-MBX-APIKEY is given twice"


# ---- 2. hosts: one venue per host, the path decides on the shared testnet host -----------------------------


@pytest.mark.parametrize(
    ("host", "venue"),
    [("dapi.binance.com", Venue.BINANCECOINM), ("demo-dapi.binance.com", Venue.BINANCECOINM),
     ("ws-dapi.binance.com", Venue.BINANCECOINM), ("testnet.binancefuture.com", Venue.BINANCEUSDM),
     ("fapi.binance.com", Venue.BINANCEUSDM)],
)
def test_host_map_when_binance_host_then_one_venue(host: str, venue: Venue) -> None:
    assert default_host_map().venue(host) is venue


@pytest.mark.parametrize(
    ("path", "params", "venue", "action", "quantity"),
    [
        ("/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "quantity": "10",
                            "price": "50000", "timeInForce": "GTC"}, Venue.BINANCECOINM, Action.NEW, D("0.02")),
        ("/fapi/v1/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "10",
                            "price": "50000", "timeInForce": "GTC"}, Venue.BINANCEUSDM, Action.NEW, D("10")),
        ("/DAPI//v1/Order/", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "quantity": "10",
                              "price": "50000", "timeInForce": "GTC"}, Venue.BINANCECOINM, Action.NEW, D("0.02")),
    ],
)
def test_parse_request_when_shared_testnet_host_then_path_prefix_picks_adapter(
    path: str, params: dict, venue: Venue, action: Action, quantity: Decimal
) -> None:
    request = make_request("POST", path, params, host="testnet.binancefuture.com")

    parsed = engine.resolve(screen(ADAPTERS[Venue.BINANCEUSDM], request), marks(BTCUSD_PERP="50000"))

    assert (parsed.venue, parsed.action, parsed.error) == (venue, action, None)
    assert parsed.intents[0].quantity == quantity


def test_parse_response_when_shared_testnet_host_dapi_answer_then_coinm_facts() -> None:
    request = make_request("GET", "/dapi/v1/premiumIndex", host="testnet.binancefuture.com", api_key=None)
    parsed = screen(usdm.ADAPTER, request)

    facts = usdm.ADAPTER.parse_response(parsed, request, 200, orjson.dumps(
        [{"symbol": "BTCUSD_PERP", "markPrice": "50000.1"}]), DECISION_ID)

    assert facts.prices == (PriceUpdate(VENUE, "BTCUSD_PERP", D("50000.1"), "mark"),)


def test_endpoints_when_listed_then_every_order_endpoint_is_dapi() -> None:
    endpoints = ADAPTER.endpoints
    assert endpoints[("POST", "/dapi/v1/order")] is Action.NEW
    assert endpoints[("DELETE", "/dapi/v1/allopenorders")] is Action.CANCEL_ALL
    assert all(path.startswith("/dapi/v1/") for _, path in endpoints)


# ---- 3. responses → facts in base units --------------------------------------------------------------------

EXCHANGE_INFO_ROW = {"symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL", "baseAsset": "BTC",
                     "quoteAsset": "USD", "marginAsset": "BTC", "contractSize": 100}


@pytest.mark.parametrize(
    ("row", "learned"),
    [
        pytest.param(EXCHANGE_INFO_ROW, Instrument(VENUE, "BTCUSD_PERP", "BTC/USD:BTC", D(100), quote_sized=True),
                     id="perpetual"),
        pytest.param({**EXCHANGE_INFO_ROW, "symbol": "BTCUSD_250627", "contractType": "CURRENT_QUARTER"},
                     Instrument(VENUE, "BTCUSD_250627", "BTC/USD:BTC-250627", D(100), quote_sized=True), id="delivery"),
        pytest.param({**EXCHANGE_INFO_ROW, "contractSize": "10"},
                     Instrument(VENUE, "BTCUSD_PERP", "BTC/USD:BTC", D(10), quote_sized=True), id="size-as-text"),
        # a JSON number is read as an exact Decimal (venues.base.response_json), never through a float
        pytest.param({**EXCHANGE_INFO_ROW, "contractSize": 100.5},
                     Instrument(VENUE, "BTCUSD_PERP", "BTC/USD:BTC", D("100.5"), quote_sized=True),
                     id="json-number-size-exact"),
        pytest.param({**EXCHANGE_INFO_ROW, "contractSize": None}, None, id="no-size"),
        pytest.param({**EXCHANGE_INFO_ROW, "contractSize": 0}, None, id="zero-size"),
        pytest.param({**EXCHANGE_INFO_ROW, "marginAsset": "USDT"}, None, id="not-inverse"),
        pytest.param({**EXCHANGE_INFO_ROW, "symbol": "BTCUSD_X", "contractType": "NEXT_QUARTER"}, None,
                     id="delivery-without-date"),
        pytest.param("junk", None, id="junk-row"),
    ],
)
def test_parse_response_when_exchange_info_then_instruments_learned(row: Any, learned: Instrument | None) -> None:
    facts = respond("GET", "/dapi/v1/exchangeInfo", {"symbols": [row]}, signed=False)

    assert facts.instruments == ((learned,) if learned else ())


ORDER_ANSWER = {"orderId": 7100000001, "symbol": "BTCUSD_PERP", "pair": "BTCUSD", "status": "NEW",
                "clientOrderId": "x-xcKtGhcu1", "price": "40000", "avgPrice": "0", "origQty": "20",
                "executedQty": "0", "cumBase": "0", "type": "LIMIT", "reduceOnly": False, "closePosition": False,
                "side": "BUY", "positionSide": "BOTH", "stopPrice": "0"}


@pytest.mark.parametrize(
    ("answer", "mark", "original", "executed", "final"),
    [
        pytest.param(ORDER_ANSWER, None, D("0.05"), D(0), False, id="resting-limit-at-its-price"),
        pytest.param(ORDER_ANSWER, D("20000"), D("0.1"), D(0), False, id="resting-buy-above-mark-at-mark"),
        pytest.param({**ORDER_ANSWER, "side": "SELL"}, D("20000"), D("0.05"), D(0), False,
                     id="resting-sell-at-its-price"),
        pytest.param({**ORDER_ANSWER, "type": "MARKET", "price": "0", "avgPrice": "50000", "status": "FILLED",
                      "executedQty": "20"}, D("20000"), D("0.04"), D("0.04"), True, id="filled-at-fill-price"),
        pytest.param({**ORDER_ANSWER, "type": "STOP_MARKET", "price": "0", "stopPrice": "25000"}, None, D("0.08"),
                     D(0), False, id="stop-at-trigger"),
    ],
)
def test_parse_response_when_order_answered_then_update_in_base_units(
    answer: dict, mark: Decimal | None, original: Decimal, executed: Decimal, final: bool
) -> None:
    view = marks(BTCUSD_PERP=str(mark)) if mark is not None else StateView()

    facts = respond("POST", "/dapi/v1/order", answer, {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                                                       "quantity": "20", "price": "40000", "timeInForce": "GTC"},
                    view=view)

    [update] = facts.orders
    assert (update.venue, update.account, update.symbol, update.order_id) == (
        VENUE, ACCOUNT, "BTCUSD_PERP", "7100000001")
    assert (update.original, update.executed, update.final) == (original, executed, final)
    assert update.reservation_id == f"{DECISION_ID}:0"
    assert all(p.venue is VENUE for p in facts.prices)


def test_parse_response_when_order_price_and_contract_size_unknown_then_update_left_out() -> None:
    answer = {**ORDER_ANSWER, "symbol": "SOLUSD_PERP"}

    facts = respond("GET", "/dapi/v1/order", answer, {"symbol": "SOLUSD_PERP", "orderId": "7100000001"})

    assert facts.orders == ()


@pytest.mark.parametrize(
    ("rows", "snapshot"),
    [
        pytest.param([ORDER_ANSWER], True, id="all-readable-complete-snapshot"),
        pytest.param([ORDER_ANSWER, {**ORDER_ANSWER, "orderId": 2, "symbol": "SOLUSD_PERP"}], False,
                     id="unconvertible-order-no-snapshot"),
    ],
)
def test_parse_response_when_open_orders_listed_then_snapshot_only_if_every_order_converts(
    rows: list, snapshot: bool
) -> None:
    facts = respond("GET", "/dapi/v1/openOrders", rows)

    if snapshot:
        [listing] = facts.open_orders
        assert isinstance(listing, OpenOrdersSnapshot) and listing.venue is VENUE and listing.symbol is None
        assert [u.original for u in listing.orders] == [D("0.05")]
    else:
        assert facts.open_orders == ()
        assert [u.order_id for u in facts.orders] == ["7100000001"]


def test_parse_response_when_cancel_all_done_then_empty_snapshot() -> None:
    facts = respond("DELETE", "/dapi/v1/allOpenOrders", {"code": 200, "msg": "done"}, {"symbol": "BTCUSD_PERP"})

    assert facts.open_orders == (OpenOrdersSnapshot(VENUE, ACCOUNT, "BTCUSD_PERP", ()),)


def test_parse_response_when_algo_cancel_answer_then_closed_unfilled_for_this_venue() -> None:
    facts = respond("DELETE", "/dapi/v1/algoOrder", {"algoId": 9, "code": "200", "msg": "success"},
                    {"symbol": "BTCUSD_PERP", "algoId": "9"})

    # cancelled before it triggered, as every algo order is: nothing filled
    assert facts.closed == (ClosedOrder(VENUE, ACCOUNT, "algo:9", unfilled=True),)


def position_row(symbol: str, amount: str, mark: str | None = "50000", side: str = "BOTH") -> dict[str, Any]:
    row = {"symbol": symbol, "positionAmt": amount, "positionSide": side, "entryPrice": "0"}
    if mark is not None:
        row["markPrice"] = mark
    return row


@pytest.mark.parametrize(
    ("rows", "params", "reports"),
    [
        pytest.param([position_row("BTCUSD_PERP", "-20"), position_row("ETHUSD_PERP", "0", mark=None)], {},
                     (PositionsReport(VENUE, ACCOUNT, None, (("BTCUSD_PERP", PositionSide.BOTH, D("-0.04")),
                                                             ("ETHUSD_PERP", PositionSide.BOTH, D(0)))),),
                     id="account-wide-signed-base"),
        pytest.param([position_row("BTCUSD_PERP", "10", side="LONG"), position_row("BTCUSD_PERP", "-5", side="SHORT")],
                     {"pair": "BTCUSD"},
                     (PositionsReport(VENUE, ACCOUNT, "BTCUSD_PERP", (
                         ("BTCUSD_PERP", PositionSide.LONG, D("0.02")),
                         ("BTCUSD_PERP", PositionSide.SHORT, D("-0.01")))),),
                     id="pair-filter-reports-per-symbol"),
        pytest.param([position_row("BTCUSD_PERP", "10"), position_row("SOLUSD_PERP", "5", mark="125")], {},
                     (PositionsReport(VENUE, ACCOUNT, "BTCUSD_PERP", (
                         ("BTCUSD_PERP", PositionSide.BOTH, D("0.02")),)),),
                     id="unconvertible-row-never-account-wide"),
        pytest.param([position_row("BTCUSD_PERP", "10", mark=None)], {}, (), id="no-mark-no-report"),
    ],
)
def test_parse_response_when_positions_then_contracts_converted_at_mark(
    rows: list, params: dict, reports: tuple
) -> None:
    facts = respond("GET", "/dapi/v1/positionRisk", rows, params)

    assert facts.positions == reports
    assert all(p.venue is VENUE and p.kind == "mark" for p in facts.prices)


def test_resolve_when_store_holds_a_mark_then_market_order_converts_at_it() -> None:
    parsed = decided(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY",
                                                             "type": "MARKET", "quantity": "50"}),
                     marks(BTCUSD_PERP="25000"))

    assert parsed.error is None and parsed.intents[0].quantity == D("0.2")
    assert parsed.intents[0].resolve is None


def test_parse_request_when_order_has_a_size_then_it_is_unsized_until_the_store_mark_is_read() -> None:
    """Even a limit order waits for the mark: a buy converts at the lower of its price and the mark. Until then
    it has no size: its contracts must not read as coin."""
    parsed = parse(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                                                           "timeInForce": "GTC", "quantity": "10", "price": "50000"}))

    [leg] = parsed.intents
    assert leg.quantity is None and leg.resolve is not None and leg.venue is VENUE
    assert leg.unified_symbol == "BTC/USD:BTC"
    assert leg.resolve(leg, Known({"BTCUSD_PERP": D("40000")})).quantity == D("0.025")
    with pytest.raises(FieldError, match="premiumIndex"):  # no mark: how far below 50,000 it fills is unknown
        leg.resolve(leg, Known())


@pytest.mark.parametrize(
    ("side", "order_type", "price", "mark", "quantity"),
    [
        pytest.param("BUY", "LIMIT", "50000", "40000", D("0.025"), id="buy-above-mark-at-mark"),
        pytest.param("BUY", "LIMIT", "25000", "40000", D("0.04"), id="buy-below-mark-at-own-price"),
        pytest.param("SELL", "LIMIT", "20000", "40000", D("0.05"), id="sell-below-mark-at-own-price"),
        pytest.param("SELL", "LIMIT", "50000", "40000", D("0.02"), id="sell-above-mark-at-own-price"),
        # a sell stop triggered above the market triggers at once and fills at the market
        pytest.param("SELL", "STOP_MARKET", "400000", "40000", D("0.025"), id="stop-sell-above-mark-at-mark"),
        pytest.param("SELL", "STOP_MARKET", "20000", "40000", D("0.05"), id="stop-sell-below-mark-at-its-trigger"),
    ],
)
def test_resolve_when_limit_order_and_store_mark_then_converts_at_the_worse_price(
    side: str, order_type: str, price: str, mark: str, quantity: Decimal
) -> None:
    fields = ({"stopPrice": price} if order_type == "STOP_MARKET" else {"timeInForce": "GTC", "price": price})
    parsed = decided(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": side,
                                                             "type": order_type, "quantity": "10", **fields}),
                     marks(BTCUSD_PERP=mark))

    assert parsed.error is None and parsed.intents[0].quantity == quantity


CONDITIONAL_BUY_CASES = [
    # 1,000 contracts (100,000 USD) with the mark at 50,000: each fills where its trigger or activation takes it
    pytest.param("/dapi/v1/order", {"type": "TAKE_PROFIT", "price": "50000", "stopPrice": "5000",
                                    "timeInForce": "GTC"}, D(20), id="take-profit-limit-at-its-trigger"),
    pytest.param("/dapi/v1/order", {"type": "TRAILING_STOP_MARKET", "activationPrice": "5000", "callbackRate": "5"},
                 D(20), id="trailing-buy-at-its-activation"),
    pytest.param("/dapi/v1/algoOrder", {"algoType": "CONDITIONAL", "type": "TRAILING_STOP_MARKET",
                                        "activatePrice": "5000", "callbackRate": "5"}, D(20),
                 id="algo-trailing-buy-at-its-activation"),
    pytest.param("/dapi/v1/order", {"type": "TRAILING_STOP_MARKET", "callbackRate": "5"}, D(2),
                 id="trailing-buy-without-activation-at-the-mark"),
    pytest.param("/dapi/v1/order", {"type": "STOP", "price": "56000", "stopPrice": "55000", "timeInForce": "GTC"},
                 D(2), id="stop-limit-above-the-mark-at-the-mark"),
]


@pytest.mark.parametrize(("path", "fields", "quantity"), CONDITIONAL_BUY_CASES)
def test_resolve_when_conditional_buy_then_converts_at_the_lowest_price_it_can_fill_at(
    path: str, fields: dict[str, str], quantity: Decimal
) -> None:
    params = {"symbol": "BTCUSD_PERP", "side": "BUY", "quantity": "1000", **fields}

    parsed = decided(make_request("POST", path, params), marks(BTCUSD_PERP="50000"))

    assert parsed.error is None and parsed.intents[0].quantity == quantity


@pytest.mark.parametrize(("fields", "quantity"), [
    # 1,000 contracts (100,000 USD), mark 50,000: a 5% callback fills as low as 47,500, whatever trailed first
    ({"callbackRate": "5"}, D("2.105263157894736842105263158")),
    ({"callbackRate": "5", "activationPrice": "60000"}, D("2.105263157894736842105263158")),
    ({"callbackRate": "5", "activationPrice": "40000"}, D("2.631578947368421052631578947")),
])
def test_resolve_when_trailing_sell_then_converts_at_its_callback_below_where_it_can_start_trailing(
    fields: dict[str, str], quantity: Decimal
) -> None:
    params = {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "TRAILING_STOP_MARKET", "quantity": "1000", **fields}

    parsed = decided(make_request("POST", "/dapi/v1/order", params), marks(BTCUSD_PERP="50000"))

    assert parsed.error is None and parsed.intents[0].quantity == quantity


def test_parse_request_when_trailing_callback_is_the_whole_price_then_refused() -> None:
    params = {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "TRAILING_STOP_MARKET", "quantity": "1000",
              "callbackRate": "100"}

    assert "callbackRate" in (parse(make_request("POST", "/dapi/v1/order", params)).error or "")


def test_parse_response_when_resting_trailing_buy_answered_then_converted_at_its_activation() -> None:
    answer = {**ORDER_ANSWER, "type": "TRAILING_STOP_MARKET", "price": "0", "activatePrice": "5000",
              "priceRate": "5", "origQty": "1000"}

    [update] = respond("GET", "/dapi/v1/openOrders", [answer], {"symbol": "BTCUSD_PERP"}).open_orders[0].orders

    assert update.original == D(20)


def test_parse_response_when_resting_trailing_sell_answered_then_converted_at_its_callback_below_activation() -> None:
    answer = {**ORDER_ANSWER, "side": "SELL", "type": "TRAILING_STOP_MARKET", "price": "0", "activatePrice": "5000",
              "priceRate": "5", "origQty": "1000"}

    [update] = respond("GET", "/dapi/v1/openOrders", [answer], {"symbol": "BTCUSD_PERP"}).open_orders[0].orders

    assert update.original == D(100_000) / D(4750)  # 100,000 USD at 5% below 5,000


def test_resolve_when_store_has_no_price_for_market_order_then_parse_error_names_price() -> None:
    parsed = decided(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY",
                                                             "type": "MARKET", "quantity": "5"}),
                     marks(ETHUSD_PERP="2500"))

    assert parsed.action is Action.NEW and parsed.intents == ()
    assert parsed.error == ("price of BTCUSD_PERP unknown to convert quantity from contracts; give the order a "
                            "price or fetch /dapi/v1/premiumIndex through the firewall")


def test_resolve_when_another_venue_holds_the_price_then_not_used() -> None:
    view = StateView(prices={(Venue.BINANCEUSDM, "BTCUSD_PERP"): D("40000")})

    parsed = decided(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY",
                                                             "type": "MARKET", "quantity": "5"}), view)

    assert parsed.error is not None and "price" in parsed.error


def test_resolve_when_reduce_only_market_and_store_has_a_mark_then_converted() -> None:
    parsed = decided(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "SELL",
                                                             "type": "MARKET", "quantity": "5",
                                                             "reduceOnly": "true"}), marks(BTCUSD_PERP="25000"))

    assert parsed.error is None and parsed.intents[0].quantity == D("0.02") and parsed.intents[0].reduce_only


def test_parse_request_when_reduce_only_market_of_unknown_contract_then_checked_without_size() -> None:
    parsed = decided(make_request("POST", "/dapi/v1/order", {"symbol": "SOLUSD_PERP", "side": "SELL",
                                                             "type": "MARKET", "quantity": "5",
                                                             "reduceOnly": "true"}))

    assert parsed.error is None and parsed.intents[0].quantity is None and parsed.intents[0].reduce_only


def test_view_query_when_order_in_contracts_then_the_store_is_asked_for_its_symbol_price() -> None:
    parsed = parse(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY",
                                                           "type": "MARKET", "quantity": "5"}))

    assert engine.view_query(parsed).symbols == ("BTCUSD_PERP",)


def test_decide_when_a_mark_answer_reached_the_store_then_market_orders_convert_at_it() -> None:
    policy = make_policy("rules:\n  - {id: qty, type: max_order_qty, default: 0.1}\n")

    def market_buy(contracts: str) -> ParsedRequest:
        return parse(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET",
                                                             "quantity": contracts}))

    async def run() -> tuple[Evaluation, Evaluation, Evaluation]:
        store = MemoryStore()
        unpriced = await decide_request(market_buy("20"), policy, store, "d0")
        await store.learn(respond("GET", "/dapi/v1/premiumIndex", [{"symbol": "BTCUSD_PERP", "markPrice": "25000"}],
                                  signed=False))
        return (unpriced, await decide_request(market_buy("20"), policy, store, "d1"),
                await decide_request(market_buy("50"), policy, store, "d2"))

    unpriced, small, big = asyncio.run(run())

    assert unpriced.decision.verdict is Verdict.BLOCK
    assert unpriced.decision.deciding is not None and unpriced.decision.deciding.reason is Reason.PARSE_FAILED
    # 20 contracts of 100 USD at 25000: 0.08 BTC; 50: 0.2 BTC, over the 0.1 limit
    assert small.decision.verdict is Verdict.ALLOW
    assert small.parsed is not None and small.parsed.intents[0].quantity == D("0.08")
    assert small.parsed.known is not None and small.parsed.known.price("BTCUSD_PERP") == D("25000")
    assert big.decision.verdict is Verdict.BLOCK
    assert big.decision.deciding is not None and big.decision.deciding.reason is Reason.ORDER_QTY_EXCEEDS_MAX


def test_parse_response_when_resting_buy_answered_then_converted_at_the_mark_it_was_decided_with() -> None:
    answer = {**ORDER_ANSWER, "price": "100000"}
    params = {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "quantity": "20", "price": "100000",
              "timeInForce": "GTC"}

    decided_at_mark = respond("POST", "/dapi/v1/order", answer, params, view=marks(BTCUSD_PERP="40000"))
    without_mark = respond("POST", "/dapi/v1/order", answer, params)

    assert [u.original for u in decided_at_mark.orders] == [D("0.05")]
    assert [u.original for u in without_mark.orders] == [D("0.02")]


def test_parse_response_when_unfilled_market_order_answered_then_converted_at_the_decided_mark_only() -> None:
    answer = {**ORDER_ANSWER, "type": "MARKET", "price": "0"}
    params = {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "20"}

    decided_at_mark = respond("POST", "/dapi/v1/order", answer, params, view=marks(BTCUSD_PERP="40000"))
    read_without_store = respond("GET", "/dapi/v1/order", answer, {"symbol": "BTCUSD_PERP", "orderId": "7100000001"})

    assert [u.original for u in decided_at_mark.orders] == [D("0.05")]
    assert read_without_store.orders == ()


@pytest.mark.parametrize(
    ("path", "payload", "prices"),
    [
        ("/dapi/v1/premiumIndex", [{"symbol": "BTCUSD_PERP", "markPrice": "50000.5"}],
         (PriceUpdate(VENUE, "BTCUSD_PERP", D("50000.5"), "mark"),)),
        ("/dapi/v1/ticker/price", [{"symbol": "ETHUSD_PERP", "ps": "ETHUSD", "price": "2500.01"}],
         (PriceUpdate(VENUE, "ETHUSD_PERP", D("2500.01"), "last"),)),
        ("/dapi/v1/ticker/24hr", [{"symbol": "ETHUSD_PERP", "lastPrice": "2499"}],
         (PriceUpdate(VENUE, "ETHUSD_PERP", D("2499"), "last"),)),
        ("/dapi/v1/premiumIndex", b"not json", ()),
    ],
)
def test_parse_response_when_price_endpoint_then_price_updates(path: str, payload: Any, prices: tuple) -> None:
    assert respond("GET", path, payload, signed=False).prices == prices


# ---- 4. catalog helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("native", "unified"),
    [("BTCUSD_PERP", "BTC/USD:BTC"), ("ETHUSD_PERP", "ETH/USD:ETH"), ("ADAUSD_PERP", "ADA/USD:ADA"),
     ("BTCUSD_250627", "BTC/USD:BTC-250627"), ("BTCUSDT", None), ("BTCUSD_X", None)],
)
def test_unified_symbol_when_native_id_then_ccxt_symbol(native: str, unified: str | None) -> None:
    assert unified_symbol(native) == unified


@pytest.mark.parametrize(
    ("native", "contracts", "price", "base"),
    [("BTCUSD_PERP", D(1), D("50000"), D("0.002")), ("ETHUSD_PERP", D(7), D("2000"), D("0.035")),
     ("BTCUSD_PERP", D(0), None, D(0))],
)
def test_base_quantity_when_bundled_contract_then_contracts_times_size_over_price(
    native: str, contracts: Decimal, price: Decimal | None, base: Decimal
) -> None:
    assert base_quantity(native, contracts, price) == base


def test_bundled_when_listed_then_only_documented_unconfirmed_majors() -> None:
    assert {(i.native, i.contract_size, i.quote_sized) for i in BUNDLED} == {
        ("BTCUSD_PERP", D(100), True), ("ETHUSD_PERP", D(10), True)}


# ---- 5. rejections → the real ccxt binancecoinm -------------------------------------------------------------

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

CCXT_URLS = [
    "https://dapi.binance.com/dapi/v1/order",  # explicit proxy: ccxt sees the real URL
    "http://127.0.0.1:8082/dapi/v1/order",  # reverse listener
    "https://demo-dapi.binance.com/dapi/v1/order",
    "https://testnet.binancefuture.com/dapi/v1/order",
]


@pytest.fixture(scope="module")
def binancecoinm() -> ccxt.Exchange:
    return ccxt.binancecoinm({"apiKey": API_KEY, "secret": "s" * 64})


def ccxt_exception(exchange: ccxt.Exchange, body: bytes, headers: dict[str, str], url: str) -> Exception:
    """What sync ccxt's fetch() raises for a 400 with this body: handle_errors, then the HTTP status map."""
    text = body.decode()
    try:
        skip = exchange.handle_errors(400, "Bad Request", url, "POST", CaseInsensitiveDict(headers), text,
                                      exchange.parse_json(text), {"X-MBX-APIKEY": API_KEY}, "symbol=BTCUSD_PERP")
        if not skip:
            exchange.handle_http_status_code(400, "Bad Request", url, "POST", text)
        raise ccxt.ExchangeError("fell through")
    except ccxt.BaseError as exc:
        return exc


@pytest.mark.parametrize("url", CCXT_URLS)
@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_real_ccxt_binancecoinm_reads_it_then_expected_exception_class(
    binancecoinm: ccxt.Exchange, reason: Reason, url: str
) -> None:
    violation = Violation.of("rule-1", reason, symbol="BTCUSD_PERP")
    rejection = ADAPTER.rejection(Decision(Verdict.BLOCK, DECISION_ID, "rev-1", (violation,)))

    exc = ccxt_exception(binancecoinm, rejection.body, dict(rejection.headers), url)

    assert rejection.status == 400 and set(orjson.loads(rejection.body)) == {"code", "msg"}
    assert type(exc) is EXPECTED_CCXT_CLASS[reason], f"{type(exc).__name__}: {exc}"
    assert str(reason) in str(exc)


def test_rejection_table_covers_every_reason() -> None:
    assert set(EXPECTED_CCXT_CLASS) == set(Reason)


def percent_price(*filters: dict[str, Any]) -> ResponseFacts:
    """An exchangeInfo answer listing BTCUSD_PERP (100 USD contracts) with these filters, as learned."""
    row = {"symbol": "BTCUSD_PERP", "pair": "BTCUSD", "contractType": "PERPETUAL", "baseAsset": "BTC",
           "quoteAsset": "USD", "marginAsset": "BTC", "contractSize": 100, "filters": list(filters)}
    return respond("GET", "/dapi/v1/exchangeInfo", {"symbols": [row]}, signed=False)


CAP_105 = {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
           "multiplierDecimal": "4"}


@pytest.mark.parametrize(
    ("filters", "side", "price", "quantity", "error"),
    [
        # 10 × 100 USD, filling no lower than 105,000 ÷ 1.05 = 100,000 (dapi refuses a buy further above the mark)
        ((CAP_105,), "BUY", "105000", D("0.01"), None),
        ((CAP_105,), "SELL", "105000", D("1000") / D("105000"), None),  # a sell fills at or above its own price
        ((), "BUY", "105000", None, "premiumIndex"),
        (({**CAP_105, "multiplierUp": "0.9"},), "BUY", "105000", None, "premiumIndex"),
        ((CAP_105, {**CAP_105, "multiplierUp": "5"}), "BUY", "105000", None, "premiumIndex"),
        (({**CAP_105, "multiplierUp": "1e1"},), "BUY", "105000", None, "premiumIndex"),
    ],
    ids=["buy-bounded-by-multiplier-up", "sell-at-own-price", "no-percent-price", "multiplier-below-one",
         "two-percent-price-filters", "multiplier-not-plain"],
)
def test_buy_limit_when_no_mark_is_known_then_converted_at_its_price_over_the_percent_price_bound_or_refused(
    filters: tuple[dict[str, Any], ...], side: str, price: str, quantity: D | None, error: str | None
) -> None:
    CATALOG.learn(percent_price(*filters).instruments)

    parsed = decided(make_request("POST", "/dapi/v1/order", {"symbol": "BTCUSD_PERP", "side": side, "type": "LIMIT",
                                                             "timeInForce": "GTC", "quantity": "10", "price": price}))

    if error is None:
        assert parsed.error is None and parsed.intents[0].quantity == quantity
    else:
        assert parsed.intents == () and error in (parsed.error or "")
