"""Property-based fuzzing of every venue's answer learners, with answers shaped like the venue's own.

Random bytes rarely get past an envelope check, so these answers wear each venue's envelope (Bybit's
`retCode`/`result.list`, OKX's `code`/`data`, ...) around rows built from the field names the learners read,
holding hostile values: huge, negative, NaN, exponent and unicode numbers, wrong JSON types. For every answer
any adapter learns from, on all seven venues: no exception escapes, and whatever reaches the store is well
formed: exact finite Decimals, never floats, positive prices, the venue's own facts under symbols it could have.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskwall.decider import answer_facts
from riskwall.instruments import CATALOG
from riskwall.model import OrderUpdate, ResponseFacts, Side, Venue
from riskwall.venues import ADAPTERS
from riskwall.venues.base import HttpRequest, TableAdapter, VenueAdapter, screen

# Per venue, each field its answer learners read with values the venue really sends. A fuzzed row takes each
# field's real value most of the time, a hostile one or none otherwise, so answers get past the envelope and row
# checks and reach the arithmetic that turns them into facts.
_ORDER_STATES = ["NEW", "FILLED", "CANCELED", "PARTIALLY_FILLED", "EXPIRED", "REJECTED"]
REAL_FIELDS: dict[Venue, dict[str, list[Any]]] = {
    Venue.BINANCEUSDM: {
        "symbol": ["BTCUSDT", "ETHUSDT"], "pair": ["BTCUSDT"], "contractType": ["PERPETUAL", "CURRENT_QUARTER"],
        "status": [*_ORDER_STATES, "TRADING"], "algoStatus": ["NEW", "TRIGGERED", "FINISHED", "CANCELED"],
        "positionAmt": ["0.5", "-0.2", "0"], "markPrice": ["60000.1"], "lastPrice": ["60001"], "price": ["59000"],
        "positionSide": ["BOTH", "LONG", "SHORT"], "orderId": [1001, "1002"], "algoId": [7], "clientOrderId": ["a1"],
        "clientAlgoId": ["b2"], "executedQty": ["0", "0.1"], "origQty": ["0.5"], "cumQty": ["0.1"], "quantity": ["1"],
        "side": ["BUY", "SELL"], "type": ["LIMIT", "MARKET", "STOP"], "orderType": ["STOP_MARKET"],
        "reduceOnly": [False, True], "closePosition": [False, True], "updateTime": [1767225600000],
        "marginAsset": ["USDT"], "quoteAsset": ["USDT"], "baseAsset": ["BTC"], "contractSize": [1],
    },
    Venue.BINANCECOINM: {
        "symbol": ["BTCUSD_PERP", "ETHUSD_251226"], "pair": ["BTCUSD"], "contractType": ["PERPETUAL"],
        "status": [*_ORDER_STATES, "TRADING"], "contractStatus": ["TRADING"], "algoStatus": ["NEW", "FINISHED"],
        "positionAmt": ["3", "-2", "0"], "markPrice": ["60000.1"], "lastPrice": ["60001"], "price": ["59000"],
        "positionSide": ["BOTH", "LONG", "SHORT"], "orderId": [1001], "algoId": [7], "clientOrderId": ["a1"],
        "executedQty": ["0", "1"], "origQty": ["5"], "cumQty": ["1"], "cumBase": ["0.001"], "side": ["BUY", "SELL"],
        "type": ["LIMIT", "MARKET"], "reduceOnly": [False, True], "closePosition": [False], "contractSize": [100, 10],
        "marginAsset": ["BTC"], "quoteAsset": ["USD"], "baseAsset": ["BTC"], "updateTime": [1767225600000],
    },
    Venue.BYBIT: {
        "symbol": ["BTCUSDT", "BTCUSD"], "category": ["linear", "inverse"], "side": ["Buy", "Sell", ""],
        "size": ["0.5", "0"], "positionIdx": [0, 1, 2], "markPrice": ["60000.1"], "lastPrice": ["60001"],
        "orderId": ["o-1"], "orderLinkId": ["l-1"], "orderStatus": ["New", "Filled", "Cancelled", "PartiallyFilled",
                                                                     "Untriggered", "Deactivated", "Rejected"],
        "qty": ["0.5"], "cumExecQty": ["0", "0.1"], "leavesQty": ["0.4"], "price": ["59000"],
        "orderType": ["Limit", "Market"], "reduceOnly": [False, True], "closeOnTrigger": [False],
        "contractType": ["LinearPerpetual", "InversePerpetual"], "status": ["Trading"], "settleCoin": ["USDT", "BTC"],
        "baseCoin": ["BTC"], "quoteCoin": ["USDT", "USD"], "avgPrice": ["59990"], "stopOrderType": ["", "StopLoss"],
        "lotSizeFilter": [{"qtyStep": "0.001", "minOrderQty": "0.001"}],
    },
    Venue.OKX: {
        "instId": ["BTC-USDT-SWAP", "BTC-USD-SWAP", "ETH-USDT-251226"], "instType": ["SWAP", "FUTURES"],
        "ctVal": ["0.01", "100"], "ctMult": ["1"], "ctValCcy": ["BTC", "USD"], "settleCcy": ["USDT", "BTC"],
        "ctType": ["linear", "inverse"], "state": ["live", "filled", "canceled", "partially_filled", "effective"],
        "ordId": ["123"], "clOrdId": ["c1"], "algoId": ["9"], "algoClOrdId": ["a9"], "side": ["buy", "sell"],
        "posSide": ["net", "long", "short"], "sz": ["3"], "accFillSz": ["0", "1"], "px": ["59000"],
        "ordType": ["limit", "market", "conditional"], "reduceOnly": ["false", "true"], "pos": ["2", "-1", "0"],
        "markPx": ["60000.1"], "last": ["60001"], "idxPx": ["60000"], "tdMode": ["cross"], "lotSz": ["1"],
        "instIdCode": [10001], "uly": ["BTC-USDT"], "instFamily": ["BTC-USDT"], "sCode": ["0", "51000"],
    },
    Venue.BITGET: {
        "symbol": ["BTCUSDT"], "productType": ["USDT-FUTURES"], "holdSide": ["long", "short"], "total": ["0.5", "0"],
        "available": ["0.5"], "markPrice": ["60000.1"], "lastPr": ["60001"], "price": ["59000"], "orderId": ["o1"],
        "clientOid": ["c1"], "status": ["live", "filled", "canceled", "partially_filled", "new"], "size": ["0.5"],
        "baseVolume": ["0", "0.1"], "side": ["buy", "sell"], "tradeSide": ["open", "close"], "posSide": ["long"],
        "orderType": ["limit", "market"], "reduceOnly": ["NO", "YES"], "marginCoin": ["USDT"],
        "posMode": ["one_way_mode", "hedge_mode"], "sizeMultiplier": ["0.001"], "symbolType": ["perpetual"],
        "symbolStatus": ["normal"], "baseCoin": ["BTC"], "quoteCoin": ["USDT"], "success": ["true"],
    },
    Venue.BINGX: {
        "symbol": ["BTC-USDT"], "positionAmt": ["0.5", "0"], "positionSide": ["LONG", "SHORT", "BOTH"],
        "markPrice": ["60000.1"], "lastPrice": ["60001"], "price": ["59000"], "orderId": [1001, "1002"],
        "clientOrderId": ["c1"], "status": ["NEW", "FILLED", "CANCELLED", "PENDING", "PARTIALLY_FILLED"],
        "executedQty": ["0", "0.1"], "origQty": ["0.5"], "side": ["BUY", "SELL"], "type": ["LIMIT", "MARKET"],
        "reduceOnly": [False, True], "asset": ["BTC"], "currency": ["USDT"], "contractId": ["100"],
        "tradeMinQuantity": [0.0001], "quantityPrecision": [4], "size": ["0.0001"],
    },
    Venue.BITMEX: {
        "symbol": ["XBTUSD", "ETHUSD"], "currentQty": [100, -50, 0], "markPrice": [60000.1], "lastPrice": [60001],
        "orderID": ["0000-1"], "clOrdID": ["c1"], "ordStatus": ["New", "Filled", "Canceled", "PartiallyFilled"],
        "orderQty": [100], "cumQty": [0, 50], "leavesQty": [50], "side": ["Buy", "Sell"], "ordType": ["Limit"],
        "execInst": ["", "ReduceOnly", "Close"], "multiplier": [-100000000, 100], "isQuanto": [False],
        "isInverse": [True, False], "underlyingToPositionMultiplier": [None, 1000000], "lotSize": [100],
        "typ": ["FFWCSX"], "state": ["Open"], "settlCurrency": ["XBt", "USDt"], "quoteCurrency": ["USD"],
        "underlying": ["XBT"], "account": [123], "price": [59000],
    },
}
HOSTILE = st.one_of(
    st.sampled_from(["0", "-1", "1e400", "1E-400", "NaN", "Infinity", "-0", "１２", "", " 1", "1_0", "0x1",
                     "99999999999999999999999999999999", "0.00000000000000000000000001"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(), st.none(), st.booleans(), st.text(max_size=30), st.lists(st.integers(), max_size=2), st.just({}),
)


def rows(venue: Venue) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def row(draw: st.DrawFn) -> dict[str, Any]:
        built: dict[str, Any] = {}
        for name, real in REAL_FIELDS[venue].items():
            pick = draw(st.integers(0, 9))
            if pick == 0:
                continue
            built[name] = draw(HOSTILE) if pick == 1 else draw(st.sampled_from(real))
        return built

    return row()


def envelope(venue: Venue) -> st.SearchStrategy[Any]:
    """An answer in the venue's success envelope around a row or a list of rows."""
    row = rows(venue)
    many = st.lists(row, max_size=4)
    match venue:
        case Venue.BINANCEUSDM | Venue.BINANCECOINM:
            return st.one_of(many, row, row.map(lambda r: {"positions": [r], "assets": []}),
                             many.map(lambda rs: {"symbols": rs}))
        case Venue.BYBIT:
            return st.one_of(row, many.map(lambda rs: {"list": rs, "category": "linear", "nextPageCursor": ""}),
                             many.map(lambda rs: {"list": rs, "category": "inverse"})).map(
                lambda result: {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1})
        case Venue.OKX:
            return st.one_of(many, row.map(lambda r: [r])).map(lambda data: {"code": "0", "msg": "", "data": data})
        case Venue.BITGET:
            return st.one_of(many, row, many.map(lambda rs: {"entrustedList": rs, "endId": None}),
                             many.map(lambda rs: {"successList": rs, "failureList": []})).map(
                lambda data: {"code": "00000", "msg": "success", "requestTime": 1, "data": data})
        case Venue.BINGX:
            return st.one_of(many, row, many.map(lambda rs: {"orders": rs}), row.map(lambda r: {"order": r})).map(
                lambda data: {"code": 0, "msg": "", "data": data})
        case _:
            return st.one_of(many, row)


def learned_answers() -> list[tuple[VenueAdapter, str, str]]:
    """Every (method, path) an adapter learns from: the routes of its table that have an answer learner."""
    cases = []
    for adapter in ADAPTERS.values():
        assert isinstance(adapter, TableAdapter), adapter
        cases.extend((adapter, method, path) for (method, path), route in adapter.routes.items() if route.learn)
    assert len(cases) > 50  # a table read wrongly must not leave the fuzzing with nothing to do
    return cases


CASES = learned_answers()


@pytest.fixture(autouse=True)
def _forget_what_was_learned() -> Iterator[None]:
    """The instrument catalog (the one thing adapters learn process-wide) must not carry fuzzed facts into other
    tests."""
    yield
    CATALOG.clear()


def _decimal(value: object, *, positive: bool = False, signed: bool = True) -> None:
    assert isinstance(value, Decimal) and value.is_finite(), repr(value)
    assert not positive or value > 0, repr(value)
    assert signed or value >= 0, repr(value)


def _order(order: OrderUpdate, venue: Venue) -> None:
    assert order.venue is venue and order.account and order.order_id
    assert 0 < len(order.symbol) <= 64 and isinstance(order.side, Side), order
    _decimal(order.original, signed=False)
    _decimal(order.executed, signed=False)


def assert_well_formed(facts: ResponseFacts, venue: Venue) -> None:
    for price in facts.prices:
        assert price.venue is venue and 0 < len(price.symbol) <= 64 and price.kind in ("mark", "last"), price
        _decimal(price.price, positive=True)
    for order in facts.orders:
        _order(order, venue)
    for snapshot in facts.open_orders:
        for order in snapshot.orders:
            _order(order, venue)
    for report in facts.positions:
        assert report.venue is venue and report.account
        for symbol, _side, quantity in report.positions:
            assert 0 < len(symbol) <= 64
            _decimal(quantity)
    for closed in facts.closed:
        assert closed.venue is venue and closed.order_id


@pytest.mark.parametrize(("adapter", "method", "path"), CASES, ids=[f"{a.venue}:{m} {p}" for a, m, p in CASES])
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.data(), status=st.sampled_from([200, 200, 200, 400]))
def test_parse_response_when_answer_fuzzed_in_the_venue_envelope_then_no_exception_and_facts_well_formed(
    adapter: VenueAdapter, method: str, path: str, data: st.DataObject, status: int
) -> None:
    venue = adapter.venue
    answer = data.draw(envelope(venue))
    query = data.draw(st.sampled_from([(), (("symbol", "BTCUSDT"),), (("instId", "BTC-USDT-SWAP"),),
                                       (("category", "linear"),), (("productType", "USDT-FUTURES"),)]))
    headers = {adapter.key_header.lower(): "fuzz-key"}
    request = HttpRequest(method, adapter.default_hosts[0], 443, path, query, headers, b"")
    parsed = screen(adapter, request)

    facts = answer_facts(adapter, parsed, request, status, json.dumps(answer).encode(), "fuzz")

    assert_well_formed(facts, venue)


def test_learned_answers_when_listed_then_every_venue_is_fuzzed() -> None:
    assert {adapter.venue for adapter, _, _ in CASES} == set(Venue)


def _answer(venue: Venue, method: str, path: str, answer: Any, query: tuple[tuple[str, str], ...] = ()
            ) -> ResponseFacts:
    adapter = ADAPTERS[venue]
    request = HttpRequest(method, adapter.default_hosts[0], 443, path, query, {adapter.key_header.lower(): "k"}, b"")
    return answer_facts(adapter, screen(adapter, request), request, 200, json.dumps(answer).encode(), "fuzz")


_XBT = {"symbol": "XBTUSD", "multiplier": -100000000, "isInverse": True, "isQuanto": False, "lotSize": 100,
        "typ": "FFWCSX", "state": "Open", "settlCurrency": "XBt", "quoteCurrency": "USD", "underlying": "XBT"}


# answers the fuzzing above once found to raise or to teach a fact under no symbol, kept as fixed cases
@pytest.mark.parametrize(("venue", "method", "path", "answer", "expected"), [
    (Venue.BITMEX, "POST", "/api/v1/order/bulk",
     [{"orderID": "0000-1", "symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "cumQty": 0, "price": 60000,
       "ordStatus": "New", "clOrdID": [1]}], "orders"),
    (Venue.BITMEX, "PUT", "/api/v1/order",
     {"orderID": "0000-1", "symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "cumQty": 0, "price": 60000,
      "ordStatus": [1]}, "orders"),
    (Venue.BITMEX, "GET", "/api/v1/position", [{"symbol": "XBTUSD", "currentQty": 10**100, "markPrice": 60000}],
     "no account-wide report"),
    (Venue.BITGET, "GET", "/api/v2/mix/position/all-position",
     {"code": "00000", "data": [{"symbol": "BTCUSDT", "holdSide": "long", "total": "1", "posMode": [1]}]},
     "positions"),
    (Venue.BINANCEUSDM, "GET", "/fapi/v1/premiumindex", [{"symbol": "", "markPrice": "60000"}], "nothing"),
    (Venue.BINGX, "GET", "/openapi/swap/v2/quote/premiumindex",
     {"code": 0, "data": [{"symbol": "", "markPrice": "60000"}]}, "nothing"),
    (Venue.BITMEX, "GET", "/api/v1/instrument", [{**_XBT, "symbol": "", "lastPrice": 60001}], "nothing"),
    (Venue.BINANCEUSDM, "DELETE", "/fapi/v1/algoorder",
     {"symbol": "BTCUSDT", "orderId": "", "quantity": "1", "side": "BUY"}, "nothing"),
], ids=["bitmex-link-id-list", "bitmex-status-list", "bitmex-size-beyond-arithmetic", "bitget-mode-list",
        "binance-empty-symbol", "bingx-empty-symbol", "bitmex-empty-symbol", "binance-empty-order-id"])
def test_parse_response_when_a_field_has_a_type_or_size_the_venue_never_sends_then_no_exception_and_nothing_unsound(
    venue: Venue, method: str, path: str, answer: Any, expected: str
) -> None:
    if venue is Venue.BITMEX and path == "/api/v1/position":
        _answer(venue, "GET", "/api/v1/instrument", [_XBT])  # the contract size, so the size is converted

    facts = _answer(venue, method, path, answer, (("productType", "USDT-FUTURES"),) if venue is Venue.BITGET else ())

    assert_well_formed(facts, venue)
    if expected == "nothing":
        assert facts.empty
    elif expected == "no account-wide report":
        assert all(report.symbol is not None for report in facts.positions)
    else:
        assert getattr(facts, expected), facts
