"""Property-based fuzzing of every venue adapter, through the engine.

Malformed query strings, form and JSON bodies, wrong types, huge numbers, NaN/Infinity and unicode: no
exception may escape an adapter, and every request to an endpoint that can add risk either parses into
well-formed intents or is blocked with PARSE_FAILED. `make fuzz` runs the same properties far longer
(HYPOTHESIS_PROFILE=fuzz); the default profile keeps `make test` quick.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskwall import engine
from riskwall.model import Action, ParsedRequest, Reason, Side, Verdict
from riskwall.policy.loader import Policy
from riskwall.policy.model import PolicyMode
from riskwall.state.base import StateView
from riskwall.venues import ADAPTERS
from riskwall.venues.base import HttpRequest, VenueAdapter, screen

OPEN_POLICY = Policy(rules=(), accounts={}, mode=PolicyMode.ENFORCE, revision="fuzz", sources=())

# field names every venue uses for orders, so fuzzed requests reach deep into the parsers
FIELD_NAMES = [
    "symbol", "side", "type", "quantity", "price", "stopPrice", "triggerPrice", "positionSide", "reduceOnly",
    "closePosition", "timeInForce", "newClientOrderId", "batchOrders", "leverage", "marginType", "orderId",
    "category", "qty", "orderType", "positionIdx", "orderLinkId", "request", "buyLeverage", "sellLeverage",
    "instId", "tdMode", "sz", "px", "ordType", "posSide", "clOrdId", "lever", "mgnMode",
]
NUMBERISH = st.one_of(
    st.sampled_from(["0", "-1", "1e400", "NaN", "nan", "Infinity", "-Infinity", "1_000", "0x10", "１２", "", " 1",
                     "0.0000000000000000000000001", "99999999999999999999999999", "1.", ".5", "+1", "1,5"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats().map(repr),
)
TEXT = st.one_of(st.text(max_size=40), NUMBERISH, st.sampled_from(["BUY", "SELL", "LIMIT", "MARKET", "true", "BTCUSDT",
                                                                  "Buy", "linear", "BTC-USDT-SWAP", "[]", "{}"]))
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(st.sampled_from(FIELD_NAMES), inner,
                                                                          max_size=8)),
    max_leaves=25,
)
PARAMS = st.lists(st.tuples(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12)), TEXT), max_size=12)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["none", "form", "json", "bytes", "json-list"]))
    if kind == "none":
        return b"", ""
    if kind == "form":
        return urlencode(draw(PARAMS)).encode(), "application/x-www-form-urlencoded"
    if kind == "json":
        return json.dumps(draw(st.dictionaries(st.sampled_from(FIELD_NAMES), JSONISH, max_size=10))).encode(), \
            "application/json"
    if kind == "json-list":
        return json.dumps(draw(st.lists(JSONISH, max_size=6))).encode(), "application/json"
    return draw(st.binary(max_size=300)), draw(st.sampled_from(["", "application/json", "text/plain",
                                                                "application/x-www-form-urlencoded"]))


def risk_endpoints() -> list[tuple[VenueAdapter, str, str]]:
    cases = []
    for adapter in ADAPTERS.values():
        for (method, path), action in getattr(adapter, "endpoints", {}).items():
            if action in (Action.NEW, Action.AMEND, Action.SET_LEVERAGE, Action.SET_MARGIN_MODE):
                cases.append((adapter, method, path))
    return cases


def make_request(adapter: VenueAdapter, method: str, path: str, query: list[tuple[str, str]], body: bytes,
                 content_type: str) -> HttpRequest:
    headers = {adapter.key_header.lower(): "fuzz-key"}
    if content_type:
        headers["content-type"] = content_type
    return HttpRequest(method, adapter.default_hosts[0], 443, path, tuple(query), headers, body)


def assert_well_formed(parsed: ParsedRequest) -> None:
    for intent in parsed.intents:
        for amount in (intent.quantity, intent.price, intent.trigger_price, intent.leverage):
            assert amount is None or (isinstance(amount, Decimal) and amount.is_finite() and amount > 0)
        assert intent.side is None or isinstance(intent.side, Side)
        assert intent.symbol is None or (0 < len(intent.symbol) <= 64 and intent.symbol.isprintable())
        # a whole-position close may leave the side to the venue; an amend may name only the order
        if parsed.action is Action.NEW and not intent.only_reduces:
            assert intent.symbol and intent.side is not None
        if parsed.action is Action.AMEND:
            assert intent.symbol


CASES = risk_endpoints()
# reads whose answers the adapters learn from
READ_PATHS = {
    "binanceusdm": [("GET", p) for p in ("/fapi/v1/exchangeinfo", "/fapi/v2/positionrisk", "/fapi/v3/positionrisk",
                                         "/fapi/v1/openorders", "/fapi/v1/openalgoorders", "/fapi/v1/premiumindex",
                                         "/fapi/v1/ticker/24hr", "/fapi/v3/account", "/fapi/v1/order")],
    "bybit": [("GET", p) for p in ("/v5/position/list", "/v5/order/realtime", "/v5/market/tickers",
                                   "/v5/market/instruments-info")],
    "bitmex": [("GET", p) for p in ("/api/v1/position", "/api/v1/order", "/api/v1/instrument",
                                    "/api/v1/instrument/active")],
    "okx": [("GET", p) for p in ("/api/v5/account/positions", "/api/v5/trade/orders-pending",
                                 "/api/v5/public/instruments", "/api/v5/public/mark-price", "/api/v5/market/ticker")],
}


@pytest.mark.parametrize(("adapter", "method", "path"), CASES,
                         ids=[f"{a.venue}:{m} {p}" for a, m, p in CASES])
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], deadline=None)
@given(query=PARAMS, body=bodies())
def test_parse_request_when_fuzzed_then_no_exception_and_unparseable_orders_are_blocked(
    adapter: VenueAdapter, method: str, path: str, query: list[tuple[str, str]], body: tuple[bytes, str]
) -> None:
    request = make_request(adapter, method, path, query, *body)

    parsed = screen(adapter, request)

    if parsed.error is None:
        assert_well_formed(parsed)
        return
    assert "fuzz-key" not in parsed.error
    plan = engine.plan(parsed, OPEN_POLICY, StateView(), "fuzz")
    decision = engine.conclude(plan, OPEN_POLICY, None)
    assert decision.verdict is Verdict.BLOCK
    assert decision.deciding is not None and decision.deciding.reason is Reason.PARSE_FAILED


@pytest.mark.parametrize("adapter", list(ADAPTERS.values()), ids=[str(v) for v in ADAPTERS])
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
       path=st.one_of(st.text(max_size=60).map(lambda p: "/" + p), st.sampled_from(
           ["/fapi/v1/order", "/v5/order/create", "/api/v5/trade/order", "//x//", "/%2e%2e/"])),
       query=PARAMS, body=bodies())
def test_parse_request_when_any_path_fuzzed_then_no_exception_and_unknown_writes_are_blocked(
    adapter: VenueAdapter, method: str, path: str, query: list[tuple[str, str]], body: tuple[bytes, str]
) -> None:
    parsed = screen(adapter, make_request(adapter, method, path, query, *body))

    plan = engine.plan(parsed, OPEN_POLICY, StateView(), "fuzz")
    decision = engine.conclude(plan, OPEN_POLICY, None)
    if parsed.action in (Action.UNKNOWN, Action.FORBIDDEN):
        assert decision.verdict is Verdict.BLOCK
    if method == "GET" and parsed.action is Action.READ:
        assert decision.verdict is Verdict.ALLOW


@pytest.mark.parametrize("adapter", list(ADAPTERS.values()), ids=[str(v) for v in ADAPTERS])
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(status=st.sampled_from([200, 201, 400, 500]), body=st.one_of(
    st.binary(max_size=200), JSONISH.map(lambda v: json.dumps(v).encode())))
def test_parse_response_when_fuzzed_then_no_exception(adapter: VenueAdapter, status: int, body: bytes) -> None:
    for (method, path) in [*getattr(adapter, "endpoints", {}), *READ_PATHS.get(adapter.venue, [])]:
        request = make_request(adapter, method, path, [("symbol", "BTCUSDT")], b"", "")
        parsed = screen(adapter, request)
        adapter.parse_response(parsed, request, status, body, "fuzz")
