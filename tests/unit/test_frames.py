"""Golden tests of the WebSocket frame readers (`riskwall.venues.{binance,bybit,okx}_frames`).

Facts under test come from docs/venues.md §1.7, §1.8, §3.7, §3.8, §4.7 and §4.8:

- an order frame is the REST request with the same parameters (Binance `order.place` = `POST /fapi/v1/order`,
  Bybit `order.create` = `POST /v5/order/create` with `args[0]` as its body, OKX `batch-orders` =
  `POST /api/v5/trade/batch-orders` with `args` as its body), so it must read exactly as the REST adapter reads
  that request, built here independently of the reader; only the endpoint (`WS <op>`) and the account (the
  frame's `apiKey`, else the connection's login) differ;
- what REST refuses, and what no REST request has (an unknown op, an extra envelope key, args of the wrong
  shape, an unknown OKX `instIdCode`), is refused, and the frame's id is kept, with its JSON type, for the reply;
- controls and logins pass, a login binding only the fingerprint of its key once the venue accepts it;
- venue frames: login answers, order answers matched by id (`1` and `"1"` are different ids) and turned into the
  REST answer the adapter learns from, private-stream pushes as facts in base units;
- a block is answered in the venue's own envelope with the REST block's code.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import ccxt.pro
import orjson
import pytest

from riskwall import engine
from riskwall.decider import decide_request
from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    Decision,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    Reason,
    Side,
    Venue,
    Verdict,
    Violation,
    fingerprint,
)
from riskwall.policy.loader import Policy
from riskwall.policy.model import PolicyMode
from riskwall.sockets import SocketGate
from riskwall.state.base import StateView
from riskwall.state.memory import MemoryStore
from riskwall.venues import binance_coinm, binance_usdm, bybit, bybit_frames, okx
from riskwall.venues.base import HttpRequest, Socket, VenueAdapter
from riskwall.venues.binance_frames import COINM_FRAMES, USDM_FRAMES
from riskwall.venues.bybit_frames import BYBIT_FRAMES
from riskwall.venues.frames import ClientFrame, FrameKind, FrameReader, PendingFrame, Session, id_key
from riskwall.venues.okx_frames import OKX_FRAMES

from .factories import make_policy

D = Decimal
# documentation sample shapes of each venue's keys and signatures: realistic, no real credentials
BINANCE_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
BINANCE_OTHER_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
BINANCE_SIGNATURE = "7f5c2ad1e0e0f8b9c3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081920"
BYBIT_KEY = "XJ0bQ3cQ2D5vLkC9Hk"
BYBIT_SIGNATURE = "4c3c2b7a0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbc"
OKX_KEY = "985d5b66-57ce-40fb-b714-afc0b9787083"
OKX_PASSPHRASE = "okx-doc-passphrase-1!"
OKX_SIGN = "G4vgYnSRP4q6GDgLRSzsa6oy7lyqtq4VeyyMkElpnSk="
SECRETS = (BINANCE_KEY, BINANCE_OTHER_KEY, BINANCE_SIGNATURE, BYBIT_KEY, BYBIT_SIGNATURE, OKX_KEY, OKX_PASSPHRASE,
           OKX_SIGN)
BINANCE_ACCOUNT, BYBIT_ACCOUNT, OKX_ACCOUNT = fingerprint(BINANCE_KEY), fingerprint(BYBIT_KEY), fingerprint(OKX_KEY)
TIMESTAMP = 1_700_000_000_000
OID = "fd4300ae-7847-404e-b947-b46980a4d140"
OKX_ORDER_ID = "312269865356374016"
BTC_SWAP_CODE = 10459
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"

READERS: dict[Venue, FrameReader] = {Venue.BINANCEUSDM: USDM_FRAMES, Venue.BINANCECOINM: COINM_FRAMES,
                                     Venue.BYBIT: BYBIT_FRAMES, Venue.OKX: OKX_FRAMES}
ADAPTERS: dict[Venue, VenueAdapter] = {Venue.BINANCEUSDM: binance_usdm.ADAPTER,
                                       Venue.BINANCECOINM: binance_coinm.ADAPTER, Venue.BYBIT: bybit.ADAPTER,
                                       Venue.OKX: okx.ADAPTER}
OPEN_POLICY = Policy(rules=(), accounts={}, mode=PolicyMode.ENFORCE, revision="frames", sources=())


@pytest.fixture(autouse=True)
def fresh_catalog() -> Iterator[None]:
    """Instruments are learned process-wide: every test starts and ends with none."""
    CATALOG.clear()
    yield
    CATALOG.clear()


# ---- helpers ---------------------------------------------------------------------------------------------


class Raw(str):
    """A JSON number written exactly so (`Raw("1e3")`), where a test needs a number no Python value prints."""


def dumps(value: Any) -> str:
    """Compact JSON, as ccxt sends it; `Raw` values go in as the number they spell."""
    text = json.dumps(value, separators=(",", ":"), default=str,
                      cls=_RawEncoder)
    return re.sub(r'"@@([^@]*)@@"', r"\1", text)


class _RawEncoder(json.JSONEncoder):
    def encode(self, o: Any) -> str:
        return super().encode(_marked(o))


def _marked(value: Any) -> Any:
    if isinstance(value, Raw):
        return f"@@{value}@@"
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


def session(venue: Venue, account: str | None = None, socket: Socket = Socket.ORDERS, **fields: Any) -> Session:
    return Session(venue, socket, "GET /test", account=account, **fields)


def verdict(parsed: ParsedRequest) -> Verdict:
    """What the engine makes of a request under a policy without rules (refusals come from the request alone)."""
    return engine.conclude(engine.plan(parsed, OPEN_POLICY, StateView(), "frames"), OPEN_POLICY, None).verdict


def blocked(violation: Violation) -> Decision:
    return Decision(Verdict.BLOCK, DECISION_ID, "rev-1", (violation,))


type Summary = tuple[str | None, Side | None, PositionSide, Decimal | None, Decimal | None, bool, bool]


def summary(parsed: ParsedRequest) -> list[Summary]:
    """Each intent as (symbol, side, position side, base quantity, price, reduce-only, close-position)."""
    return [(i.symbol, i.side, i.position_side, i.quantity, i.price, i.reduce_only, i.close_position)
            for i in parsed.intents]


def assert_read_as_rest(frame: ClientFrame, rest: ParsedRequest, op: str, account: str | None) -> None:
    """The frame's request is the REST reading, named `WS <op>` and held by `account`."""
    request = frame.request
    assert (frame.kind, frame.op, request.endpoint) == (FrameKind.ORDER, op, f"WS {op}")
    assert (request.venue, request.action, request.error, request.account) == (
        rest.venue, rest.action, rest.error, account)
    assert summary(request) == summary(rest)
    assert [i.endpoint for i in request.intents] == [f"WS {op}"] * len(request.intents)
    # every other field too (order type, trigger, time in force, client ids, unified symbol)
    assert list(request.intents) == [dataclasses.replace(i, endpoint=f"WS {op}", account=account)
                                     for i in rest.intents]
    assert frame.rest is not None


# ---- Binance (USDⓈ-M and COIN-M) -------------------------------------------------------------------------

BINANCE_REST = {"order.place": ("POST", "order"), "order.modify": ("PUT", "order"),
                "order.cancel": ("DELETE", "order"), "algoOrder.place": ("POST", "algoOrder"),
                "algoOrder.cancel": ("DELETE", "algoOrder")}
BINANCE_HOSTS = {Venue.BINANCEUSDM: ("fapi.binance.com", "/fapi/v1"), Venue.BINANCECOINM: ("dapi.binance.com",
                                                                                             "/dapi/v1")}


def binance_frame(method: str, params: dict[str, Any], frame_id: Any = "1", api_key: str | None = BINANCE_KEY) -> str:
    """A signed frame as ccxt sends it (`apiKey`, params, `timestamp` as a JSON integer, `signature`)."""
    fields: dict[str, Any] = dict(params)
    if api_key is not None:
        fields = {"apiKey": api_key, **fields, "timestamp": TIMESTAMP, "signature": BINANCE_SIGNATURE}
    return dumps({"id": frame_id, "method": method, "params": fields})


def binance_rest(venue: Venue, method: str, params: dict[str, Any]) -> ParsedRequest:
    """The same order as a signed REST request with its parameters in the query, as the official SDK sends it."""
    http_method, name = BINANCE_REST[method]
    host, prefix = BINANCE_HOSTS[venue]
    query = tuple((k, v if isinstance(v, str) else json.dumps(v)) for k, v in params.items())
    query += (("timestamp", str(TIMESTAMP)), ("signature", BINANCE_SIGNATURE))
    request = HttpRequest(http_method, host, 443, f"{prefix}/{name}?{urlencode(query)}", query,
                          {"x-mbx-apikey": BINANCE_KEY}, b"")
    return ADAPTERS[venue].parse_request(request)


B = Side.BUY
S = Side.SELL
BOTH, LONG, SHORT = PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT

# (name, method, params, action, intents as summary(), error fragment)
BINANCE_ORDERS: list[tuple[str, str, dict[str, Any], Action, list[Summary], str | None]] = [
    ("limit", "order.place",
     {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.5", "price": "50000"},
     Action.NEW, [("BTCUSDT", B, BOTH, D("0.5"), D("50000"), False, False)], None),
    ("market", "order.place", {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "2"},
     Action.NEW, [("ETHUSDT", S, BOTH, D("2"), None, False, False)], None),
    ("reduce-only", "order.place",
     {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.1", "reduceOnly": "true"},
     Action.NEW, [("BTCUSDT", S, BOTH, D("0.1"), None, True, False)], None),
    ("reduce-only-as-json-boolean", "order.place",
     {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.1", "reduceOnly": True},
     Action.NEW, [("BTCUSDT", S, BOTH, D("0.1"), None, True, False)], None),
    ("close-position", "order.place",
     {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "stopPrice": "45000", "closePosition": "true"},
     Action.NEW, [("BTCUSDT", S, BOTH, None, None, False, True)], None),
    ("hedge-long", "order.place",
     {"symbol": "BTCUSDT", "side": "BUY", "positionSide": "LONG", "type": "LIMIT", "timeInForce": "GTC",
      "quantity": "1", "price": "60000"},
     Action.NEW, [("BTCUSDT", B, LONG, D("1"), D("60000"), False, False)], None),
    ("hedge-short-close", "order.place",
     {"symbol": "BTCUSDT", "side": "BUY", "positionSide": "SHORT", "type": "MARKET", "quantity": "0.3"},
     Action.NEW, [("BTCUSDT", B, SHORT, D("0.3"), None, False, False)], None),
    ("amend", "order.modify",
     {"symbol": "BTCUSDT", "side": "BUY", "orderId": "283194212", "quantity": "0.4", "price": "49000"},
     # the amended order's sides are the store's: one it never saw is refused (test_binance_usdm: one it holds)
     Action.AMEND, [], "not seen through the firewall"),
    ("cancel", "order.cancel", {"symbol": "BTCUSDT", "orderId": "283194212"}, Action.CANCEL, [], None),
    ("conditional-algo", "algoOrder.place",
     {"algoType": "CONDITIONAL", "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
      "triggerPrice": "45000", "quantity": "0.2", "clientAlgoId": "ccxt-algo-1"},
     Action.NEW, [("BTCUSDT", S, BOTH, D("0.2"), None, False, False)], None),
    ("algo-cancel", "algoOrder.cancel", {"algoId": "3000000001"}, Action.CANCEL, [], None),
    ("quantity-with-exponent", "order.place",
     {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1e-3"},
     Action.NEW, [], "quantity is not a plain decimal number"),
    ("flag-in-capitals", "order.place",
     {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.1", "reduceOnly": "TRUE"},
     Action.NEW, [], "reduceOnly must be true or false"),
    ("side-missing", "order.place", {"symbol": "BTCUSDT", "type": "MARKET", "quantity": "0.1"},
     Action.NEW, [], "side is missing"),
]

COINM_ORDERS: list[tuple[str, str, dict[str, Any], Action, list[Summary], str | None]] = [
    # contracts of 100 USD: 2 × 100 ÷ 50000 = 0.004 BTC (a sell fills at or above its price: it converts at it)
    ("limit-in-contracts", "order.place",
     {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "2",
      "price": "50000"},
     Action.NEW, [("BTCUSD_PERP", S, BOTH, D("0.004"), D("50000"), False, False)], None),
    # a buy far above the market fills at it: with neither a mark nor the symbol's PERCENT_PRICE bound known, no size
    ("limit-buy-with-no-market-known", "order.place",
     {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "2",
      "price": "50000"},
     Action.NEW, [], "/dapi/v1/premiumIndex"),
    ("amend-in-contracts", "order.modify",
     {"symbol": "ETHUSD_PERP", "side": "SELL", "orderId": "11", "quantity": "30", "price": "2000"},
     Action.AMEND, [], "not seen through the firewall"),
    ("cancel", "order.cancel", {"symbol": "BTCUSD_PERP", "orderId": "11"}, Action.CANCEL, [], None),
    ("market-with-no-price-known", "order.place",
     {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "2"},
     Action.NEW, [], "price of BTCUSD_PERP unknown"),
    ("reduce-only-market-with-no-price-known", "order.place",
     {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "MARKET", "quantity": "2", "reduceOnly": "true"},
     Action.NEW, [("BTCUSD_PERP", S, BOTH, None, None, True, False)], None),
    ("unknown-contract", "order.place",
     {"symbol": "ADAUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "2",
      "price": "1"},
     Action.NEW, [], "contractSize of ADAUSD_PERP unknown"),
]


@pytest.mark.parametrize(
    ("venue", "name", "method", "params", "action", "intents", "error"),
    [(Venue.BINANCEUSDM, *row) for row in BINANCE_ORDERS] + [(Venue.BINANCECOINM, *row) for row in COINM_ORDERS],
    ids=[f"usdm-{row[0]}" for row in BINANCE_ORDERS] + [f"coinm-{row[0]}" for row in COINM_ORDERS],
)
def test_binance_order_frame_when_read_then_exactly_the_rest_request(
    venue: Venue, name: str, method: str, params: dict[str, Any], action: Action, intents: list[Summary],
    error: str | None,
) -> None:
    frame = READERS[venue].read_client(binance_frame(method, params, frame_id=f"id-{name}"), session(venue))

    rest = binance_rest(venue, method, params)

    assert_read_as_rest(frame, rest, method, BINANCE_ACCOUNT)
    # as decided on a store that knows no price (COIN-M converts contracts then)
    decided = engine.resolve(frame.request, StateView())
    assert summary(decided) == summary(engine.resolve(rest, StateView()))
    assert decided.action is action
    assert summary(decided) == intents
    assert (decided.error is None) if error is None else (error in (decided.error or ""))
    assert frame.request_id == f"id-{name}"


def test_coinm_order_frame_when_store_holds_a_mark_then_market_order_converts_at_it() -> None:
    frame = COINM_FRAMES.read_client(binance_frame("order.place", {"symbol": "BTCUSD_PERP", "side": "BUY",
                                                                   "type": "MARKET", "quantity": "2"}),
                                     session(Venue.BINANCECOINM))

    decided = engine.resolve(frame.request, StateView(prices={(Venue.BINANCECOINM, "BTCUSD_PERP"): D("40000")}))

    # 2 contracts of 100 USD at the store's 40000: 0.005 BTC
    assert decided.error is None and summary(decided) == [("BTCUSD_PERP", B, BOTH, D("0.005"), None, False, False)]


def test_binance_order_frame_when_unsigned_after_session_logon_then_held_by_the_logged_in_account() -> None:
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.5"}
    logged_in = session(Venue.BINANCEUSDM, BINANCE_ACCOUNT)

    unsigned = USDM_FRAMES.read_client(binance_frame("order.place", {**params, "timestamp": TIMESTAMP},
                                                     api_key=None), logged_in)
    signed_by_other = USDM_FRAMES.read_client(binance_frame("order.place", params, api_key=BINANCE_OTHER_KEY),
                                              logged_in)

    assert_read_as_rest(unsigned, binance_rest(Venue.BINANCEUSDM, "order.place", params), "order.place",
                        BINANCE_ACCOUNT)
    # an explicit apiKey overrides the session's key for that request (bn-doc "Authorize ad hoc requests")
    assert signed_by_other.request.account == fingerprint(BINANCE_OTHER_KEY)
    assert {i.account for i in signed_by_other.request.intents} == {fingerprint(BINANCE_OTHER_KEY)}


def test_binance_order_frame_when_quantity_is_a_plain_json_number_then_read_as_its_text() -> None:
    frame = USDM_FRAMES.read_client(binance_frame("order.place", {
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": Raw("0.50"),
        "price": Raw("50000")}), session(Venue.BINANCEUSDM))

    rest = binance_rest(Venue.BINANCEUSDM, "order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                          "timeInForce": "GTC", "quantity": "0.50", "price": "50000"})

    assert_read_as_rest(frame, rest, "order.place", BINANCE_ACCOUNT)
    assert summary(frame.request)[0][3:5] == (D("0.5"), D("50000"))


# ---- Bybit -------------------------------------------------------------------------------------------------

BYBIT_REST = {"order.create": "/v5/order/create", "order.amend": "/v5/order/amend", "order.cancel": "/v5/order/cancel",
              "order.create-batch": "/v5/order/create-batch", "order.amend-batch": "/v5/order/amend-batch",
              "order.cancel-batch": "/v5/order/cancel-batch"}


def bybit_frame(op: str, args: Any, req_id: Any = "1", **envelope: Any) -> str:
    frame: dict[str, Any] = {} if req_id is None else {"reqId": req_id}
    frame |= {"header": {"X-BAPI-TIMESTAMP": str(TIMESTAMP), "X-BAPI-RECV-WINDOW": "8000"}, "op": op, "args": args,
              **envelope}
    return dumps(frame)


@pytest.mark.parametrize(("frame", "request_id"), [
    pytest.param({"reqId": "o1", "op": "order.create"}, "o1", id="order-by-req-id-camel"),
    # the trade socket answers an order under `reqId` alone: one sent as `req_id` could never be paired
    pytest.param({"req_id": "o1", "op": "order.create"}, None, id="order-by-req-id-snake-has-none"),
    pytest.param({"req_id": "o1", "reqId": "o2", "op": "order.create"}, "o2", id="order-by-both-pairs-by-camel"),
    pytest.param({"req_id": "p1", "op": "ping"}, "p1", id="ping-by-req-id-snake"),
])
def test_bybit_frame_when_id_spelled_either_way_then_only_orders_insist_on_req_id_camel(
    frame: dict[str, Any], request_id: str | None
) -> None:
    args = [{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.9"}]
    text = dumps({**frame, "header": {"X-BAPI-TIMESTAMP": str(TIMESTAMP)},
                  "args": args if frame["op"] != "ping" else []})

    read = BYBIT_FRAMES.read_client(text, session(Venue.BYBIT, BYBIT_ACCOUNT))

    assert read.request_id == request_id


def bybit_rest(op: str, body: Any) -> ParsedRequest:
    request = HttpRequest("POST", "api.bybit.com", 443, BYBIT_REST[op], (),
                          {"content-type": "application/json", "x-bapi-api-key": BYBIT_KEY,
                           "x-bapi-sign": BYBIT_SIGNATURE, "x-bapi-timestamp": str(TIMESTAMP)},
                          dumps(body).encode())
    return bybit.ADAPTER.parse_request(request)


LINEAR = {"category": "linear", "symbol": "BTCUSDT"}
BYBIT_ORDERS: list[tuple[str, str, dict[str, Any], Action, list[Summary], str | None]] = [
    ("limit", "order.create",
     {**LINEAR, "side": "Buy", "orderType": "Limit", "qty": "0.5", "price": "50000", "timeInForce": "GTC"},
     Action.NEW, [("BTCUSDT", B, BOTH, D("0.5"), D("50000"), False, False)], None),
    ("market", "order.create", {"category": "linear", "symbol": "ETHUSDT", "side": "Sell", "orderType": "Market",
                                "qty": "2"},
     Action.NEW, [("ETHUSDT", S, BOTH, D("2"), None, False, False)], None),
    ("reduce-only", "order.create", {**LINEAR, "side": "Sell", "orderType": "Market", "qty": "0.1",
                                     "reduceOnly": True},
     Action.NEW, [("BTCUSDT", S, BOTH, D("0.1"), None, True, False)], None),
    ("close-whole-position", "order.create", {**LINEAR, "side": "Sell", "orderType": "Market", "qty": "0",
                                              "reduceOnly": True},
     Action.NEW, [("BTCUSDT", S, BOTH, None, None, True, True)], None),
    ("hedge-short", "order.create", {**LINEAR, "side": "Sell", "orderType": "Limit", "qty": "1", "price": "70000",
                                     "positionIdx": 2},
     Action.NEW, [("BTCUSDT", S, SHORT, D("1"), D("70000"), False, False)], None),
    ("conditional", "order.create", {**LINEAR, "side": "Sell", "orderType": "Market", "qty": "0.2",
                                     "triggerPrice": "45000", "triggerDirection": 2},
     Action.NEW, [("BTCUSDT", S, BOTH, D("0.2"), None, False, False)], None),
    ("inverse-in-usd", "order.create", {"category": "inverse", "symbol": "BTCUSD", "side": "Buy",
                                        "orderType": "Limit", "qty": "1000", "price": "50000"},
     Action.NEW, [("BTCUSD", B, BOTH, D("0.02"), D("50000"), False, False)], None),
    ("quantity-as-plain-json-number", "order.create", {**LINEAR, "side": "Buy", "orderType": "Market",
                                                       "qty": Raw("0.25")},
     Action.NEW, [("BTCUSDT", B, BOTH, D("0.25"), None, False, False)], None),
    ("amend", "order.amend", {**LINEAR, "orderId": OID, "qty": "0.2", "price": "30000"},
     Action.AMEND, [("BTCUSDT", None, BOTH, D("0.2"), D("30000"), False, False)], None),
    ("cancel", "order.cancel", {**LINEAR, "orderId": OID}, Action.CANCEL, [], None),
    ("batch", "order.create-batch", {"category": "linear", "request": [
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.1", "price": "50000"},
        {"symbol": "ETHUSDT", "side": "Sell", "orderType": "Market", "qty": "3", "reduceOnly": True}]},
     Action.NEW, [("BTCUSDT", B, BOTH, D("0.1"), D("50000"), False, False),
                  ("ETHUSDT", S, BOTH, D("3"), None, True, False)], None),
    ("batch-amend", "order.amend-batch", {"category": "linear", "request": [
        {"symbol": "BTCUSDT", "orderId": OID, "qty": "0.3"}]},
     Action.AMEND, [("BTCUSDT", None, BOTH, D("0.3"), None, False, False)], None),
    ("batch-cancel", "order.cancel-batch", {"category": "linear", "request": [{"symbol": "BTCUSDT",
                                                                              "orderId": OID}]},
     Action.CANCEL, [], None),
    ("spot-not-checked", "order.create", {"category": "spot", "symbol": "BTCUSDT", "side": "Buy",
                                          "orderType": "Market", "qty": "1"},
     Action.UNKNOWN, [], None),
    ("flag-as-text", "order.create", {**LINEAR, "side": "Sell", "orderType": "Market", "qty": "0.1",
                                      "reduceOnly": "true"},
     Action.NEW, [], "reduceOnly must be a JSON true or false"),
    ("quantity-with-exponent-as-text", "order.create", {**LINEAR, "side": "Buy", "orderType": "Market",
                                                        "qty": "1e3"},
     Action.NEW, [], "qty is not a plain decimal number"),
    ("quantity-with-exponent-as-number", "order.create", {**LINEAR, "side": "Buy", "orderType": "Market",
                                                          "qty": Raw("1e3")},
     Action.NEW, [], "not a plain decimal"),
    ("quantity-with-too-many-digits", "order.create", {**LINEAR, "side": "Buy", "orderType": "Market",
                                                       "qty": Raw("0.1000000000000000000000001")},
     Action.NEW, [], "not a plain decimal"),
    ("field-in-other-letter-case", "order.create", {**LINEAR, "side": "Buy", "orderType": "Market", "qty": "0.1",
                                                    "reduceonly": True},
     Action.NEW, [], "reduceOnly is spelled with different letter case"),
]


@pytest.mark.parametrize(("name", "op", "arg", "action", "intents", "error"), BYBIT_ORDERS,
                         ids=[row[0] for row in BYBIT_ORDERS])
def test_bybit_order_frame_when_read_then_exactly_the_rest_request(
    name: str, op: str, arg: dict[str, Any], action: Action, intents: list[Summary], error: str | None
) -> None:
    frame = BYBIT_FRAMES.read_client(bybit_frame(op, [arg], req_id=f"r-{name}"), session(Venue.BYBIT, BYBIT_ACCOUNT))

    rest = bybit_rest(op, arg)

    assert_read_as_rest(frame, rest, op, BYBIT_ACCOUNT)
    # as decided on a store that knows no price (inverse contracts convert then, at the order's own price)
    decided = engine.resolve(frame.request, StateView())
    assert summary(decided) == summary(engine.resolve(rest, StateView()))
    assert decided.action is action
    assert summary(decided) == intents
    assert (decided.error is None) if error is None else (error in (decided.error or ""))
    assert frame.request_id == f"r-{name}"


# ---- OKX ---------------------------------------------------------------------------------------------------

OKX_REST = {"order": ("/api/v5/trade/order", False), "batch-orders": ("/api/v5/trade/batch-orders", True),
            "amend-order": ("/api/v5/trade/amend-order", False),
            "batch-amend-orders": ("/api/v5/trade/amend-batch-orders", True),
            "cancel-order": ("/api/v5/trade/cancel-order", False),
            "batch-cancel-orders": ("/api/v5/trade/cancel-batch-orders", True),
            "mass-cancel": ("/api/v5/trade/mass-cancel", False)}


def okx_frame(op: str, args: Any, frame_id: Any = "1", **envelope: Any) -> str:
    frame: dict[str, Any] = {} if frame_id is None else {"id": frame_id}
    return dumps(frame | {"op": op, "args": args, **envelope})


def okx_rest(op: str, args: list[Any]) -> ParsedRequest:
    path, whole = OKX_REST[op]
    body = dumps(args if whole else args[0]).encode()
    request = HttpRequest("POST", "www.okx.com", 443, path, (),
                          {"content-type": "application/json", "ok-access-key": OKX_KEY, "ok-access-sign": OKX_SIGN,
                           "ok-access-passphrase": OKX_PASSPHRASE, "ok-access-timestamp": "2026-11-23T16:06:08.184Z"},
                          body)
    return okx.ADAPTER.parse_request(request)


SWAP = {"instId": "BTC-USDT-SWAP", "tdMode": "cross"}
OKX_ORDERS: list[tuple[str, str, list[dict[str, Any]], Action, list[Summary], str | None]] = [
    # BTC-USDT-SWAP contracts are 0.01 BTC
    ("limit", "order", [{**SWAP, "side": "buy", "ordType": "limit", "sz": "2", "px": "50000", "clOrdId": "c1"}],
     Action.NEW, [("BTC-USDT-SWAP", B, BOTH, D("0.02"), D("50000"), False, False)], None),
    ("market", "order", [{"instId": "ETH-USDT-SWAP", "tdMode": "isolated", "side": "sell", "ordType": "market",
                          "sz": "3"}],
     Action.NEW, [("ETH-USDT-SWAP", S, BOTH, D("0.3"), None, False, False)], None),
    ("reduce-only", "order", [{**SWAP, "side": "sell", "ordType": "market", "sz": "1", "reduceOnly": True}],
     Action.NEW, [("BTC-USDT-SWAP", S, BOTH, D("0.01"), None, True, False)], None),
    ("hedge-short-close", "order", [{**SWAP, "side": "buy", "posSide": "short", "ordType": "market", "sz": "5"}],
     Action.NEW, [("BTC-USDT-SWAP", B, SHORT, D("0.05"), None, False, False)], None),
    ("inverse-in-usd-without-mark", "order", [{"instId": "BTC-USD-SWAP", "tdMode": "cross", "side": "buy",
                                               "ordType": "limit", "sz": "1", "px": "50000"}],
     Action.NEW, [("BTC-USD-SWAP", B, BOTH, D("0.002"), D("50000"), False, False)], None),
    ("one-leg-batch-as-ccxt-sends", "batch-orders",
     [{**SWAP, "side": "buy", "ordType": "limit", "sz": "1", "px": "50000", "clOrdId": "e847386590ce4dBC",
       "tag": "e847386590ce4dBC"}],
     Action.NEW, [("BTC-USDT-SWAP", B, BOTH, D("0.01"), D("50000"), False, False)], None),
    ("batch", "batch-orders", [{**SWAP, "side": "buy", "ordType": "post_only", "sz": "1", "px": "49000"},
                               {"instId": "ETH-USDT-SWAP", "tdMode": "cross", "side": "sell", "ordType": "market",
                                "sz": "10"}],
     Action.NEW, [("BTC-USDT-SWAP", B, BOTH, D("0.01"), D("49000"), False, False),
                  ("ETH-USDT-SWAP", S, BOTH, D("1.0"), None, False, False)], None),
    ("amend", "amend-order", [{"instId": "BTC-USDT-SWAP", "ordId": OKX_ORDER_ID, "newSz": "3"}],
     Action.AMEND, [("BTC-USDT-SWAP", None, BOTH, D("0.03"), None, False, False)], None),
    ("batch-amend", "batch-amend-orders", [{"instId": "BTC-USDT-SWAP", "ordId": OKX_ORDER_ID, "newPx": "51000"}],
     Action.AMEND, [("BTC-USDT-SWAP", None, BOTH, None, D("51000"), False, False)], None),
    ("cancel", "cancel-order", [{"instId": "BTC-USDT-SWAP", "ordId": OKX_ORDER_ID}], Action.CANCEL, [], None),
    ("batch-cancel", "batch-cancel-orders", [{"instId": "BTC-USDT-SWAP", "ordId": OKX_ORDER_ID},
                                             {"instId": "ETH-USDT-SWAP", "clOrdId": "c2"}], Action.CANCEL, [], None),
    ("mass-cancel", "mass-cancel", [{"instType": "SWAP", "instFamily": "BTC-USDT"}], Action.CANCEL_ALL, [], None),
    ("spot-not-checked", "order", [{"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market",
                                    "sz": "1"}],
     Action.UNKNOWN, [], "spot orders are not checked yet"),
    ("size-with-exponent", "order", [{**SWAP, "side": "buy", "ordType": "market", "sz": "1e2"}],
     Action.NEW, [], "sz is not a plain decimal number"),
    ("size-with-exponent-as-number", "order", [{**SWAP, "side": "buy", "ordType": "market", "sz": Raw("1E+2")}],
     Action.NEW, [], "not a plain decimal"),
    ("size-in-quote-currency", "order", [{**SWAP, "side": "buy", "ordType": "market", "sz": "100",
                                          "tgtCcy": "quote_ccy"}],
     Action.NEW, [], "tgtCcy is not supported"),
    ("unknown-contract", "order", [{"instId": "ADA-USDT-SWAP", "tdMode": "cross", "side": "buy",
                                    "ordType": "market", "sz": "1"}],
     Action.NEW, [], "contract value of ADA-USDT-SWAP unknown"),
]


@pytest.mark.parametrize(("name", "op", "args", "action", "intents", "error"), OKX_ORDERS,
                         ids=[row[0] for row in OKX_ORDERS])
def test_okx_order_frame_when_read_then_exactly_the_rest_request(
    name: str, op: str, args: list[dict[str, Any]], action: Action, intents: list[Summary], error: str | None
) -> None:
    frame = OKX_FRAMES.read_client(okx_frame(op, args, frame_id=f"o-{name}"), session(Venue.OKX, OKX_ACCOUNT))

    rest = okx_rest(op, args)

    assert_read_as_rest(frame, rest, op, OKX_ACCOUNT)
    # as decided on a store that knows no price (inverse contracts convert then, at the order's own price)
    decided = engine.resolve(frame.request, StateView())
    assert summary(decided) == summary(engine.resolve(rest, StateView()))
    assert decided.action is action
    assert summary(decided) == intents
    assert (decided.error is None) if error is None else (error in (decided.error or ""))
    assert frame.request_id == f"o-{name}"
    assert frame.legs == tuple({"clOrdId": a.get("clOrdId", ""), "tag": a.get("tag", "")} for a in args)


def test_okx_order_frame_when_inverse_buy_above_the_store_mark_then_converted_at_the_mark() -> None:
    frame = OKX_FRAMES.read_client(okx_frame("order", [{"instId": "BTC-USD-SWAP", "tdMode": "cross", "side": "buy",
                                                        "ordType": "limit", "sz": "1000", "px": "1000000"}]),
                                   session(Venue.OKX, OKX_ACCOUNT))

    decided = engine.resolve(frame.request, StateView(prices={(Venue.OKX, "BTC-USD-SWAP"): D("50000")}))

    # 1000 contracts of 100 USD fill at the market, 50000: 2 BTC (at its own 1,000,000: 0.1)
    assert decided.error is None
    assert summary(decided) == [("BTC-USD-SWAP", B, BOTH, D("2"), D("1000000"), False, False)]


def learn_okx_codes() -> None:
    CATALOG.learn((Instrument(Venue.OKX, "BTC-USDT-SWAP", "BTC/USDT:USDT", D("0.01"), code=BTC_SWAP_CODE),
                   Instrument(Venue.OKX, "ETH-USDT-SWAP", "ETH/USDT:USDT", D("0.1"), code=10461)))


@pytest.mark.parametrize(("op", "legs"), [
    ("order", [{"instIdCode": BTC_SWAP_CODE, "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "2",
                "px": "50000"}]),
    ("batch-orders", [{"instIdCode": BTC_SWAP_CODE, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"},
                      {"instIdCode": 10461, "instId": "ETH-USDT-SWAP", "tdMode": "cross", "side": "sell",
                       "ordType": "market", "sz": "4"}]),
    ("amend-order", [{"instIdCode": BTC_SWAP_CODE, "ordId": OKX_ORDER_ID, "newSz": "7"}]),
    ("cancel-order", [{"instIdCode": BTC_SWAP_CODE, "ordId": OKX_ORDER_ID}]),
], ids=["order", "batch", "amend", "cancel"])
def test_okx_order_frame_when_instrument_named_by_a_learned_code_then_read_as_rest_with_its_inst_id(
    op: str, legs: list[dict[str, Any]]
) -> None:
    learn_okx_codes()
    by_id = [{("instId" if k == "instIdCode" else k): (
        {BTC_SWAP_CODE: "BTC-USDT-SWAP", 10461: "ETH-USDT-SWAP"}[v] if k == "instIdCode" else v)
        for k, v in leg.items()} for leg in legs]

    frame = OKX_FRAMES.read_client(okx_frame(op, legs), session(Venue.OKX, OKX_ACCOUNT))

    assert_read_as_rest(frame, okx_rest(op, by_id), op, OKX_ACCOUNT)
    assert frame.request.error is None


# ---- what must be refused ------------------------------------------------------------------------------------

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.1"}
BYBIT_ORDER = {**LINEAR, "side": "Buy", "orderType": "Market", "qty": "0.1"}
OKX_ORDER = {**SWAP, "side": "buy", "ordType": "market", "sz": "1"}

# (name, venue, text, the id the reply must echo, what is refused: "error" (read, refused) or "unknown" (no op))
REFUSED: list[tuple[str, Venue, str, Any, str]] = [
    ("binance-not-json", Venue.BINANCEUSDM, '{"id": "1", "method": "order.place", "params": {', None, "error"),
    ("binance-not-an-object", Venue.BINANCEUSDM, '["order.place"]', None, "error"),
    ("binance-method-not-text", Venue.BINANCEUSDM, '{"id": "m1", "method": 5, "params": {}}', "m1", "error"),
    ("binance-key-twice", Venue.BINANCEUSDM,
     '{"id":"d1","method":"order.place","params":{"symbol":"BTCUSDT","side":"BUY","type":"MARKET",'
     '"quantity":"0.1","quantity":"9"}}', "d1", "error"),
    # the key named in other letter case beside (or instead of) `apiKey`: a server matching names case-insensitively
    # would act for that key
    ("binance-api-key-in-other-letter-case", Venue.BINANCEUSDM,
     '{"id":"k1","method":"order.place","params":{"APIKEY":"other-key","symbol":"BTCUSDT","side":"BUY",'
     '"type":"MARKET","quantity":"0.1"}}', "k1", "error"),
    ("binance-key-twice-numeric-id", Venue.BINANCEUSDM,
     '{"id":7,"method":"order.place","params":{"symbol":"BTCUSDT","symbol":"ETHUSDT"}}', 7, "error"),
    ("binance-quantity-exponent-as-number", Venue.BINANCEUSDM,
     binance_frame("order.place", {**ORDER, "quantity": Raw("1e3")}, "e1"), "e1", "error"),
    ("binance-quantity-fraction-with-exponent-as-number", Venue.BINANCEUSDM,
     binance_frame("order.place", {**ORDER, "quantity": Raw("1.5e2")}, "e2"), "e2", "error"),
    ("binance-quantity-huge-exponent", Venue.BINANCEUSDM,
     binance_frame("order.place", {**ORDER, "quantity": Raw("1e999999999")}, "e3"), "e3", "error"),
    ("binance-quantity-negative-number", Venue.BINANCEUSDM,
     binance_frame("order.place", {**ORDER, "quantity": Raw("-1")}, "e4"), "e4", "error"),
    ("binance-quantity-as-object", Venue.BINANCEUSDM,
     binance_frame("order.place", {**ORDER, "quantity": {"v": "1"}}, "e5"), "e5", "error"),
    ("binance-lone-surrogate", Venue.BINANCEUSDM,
     binance_frame("order.place", {**ORDER, "newClientOrderId": "\ud800"}, "e6"), "e6", "error"),
    ("binance-field-in-other-letter-case", Venue.BINANCEUSDM,
     binance_frame("order.place", {**ORDER, "Quantity": "100"}, "e7"), "e7", "error"),
    ("binance-unknown-method", Venue.BINANCEUSDM, binance_frame("order.teleport", ORDER, 11), 11, "unknown"),
    ("binance-extra-envelope-key", Venue.BINANCEUSDM,
     dumps({"id": "x1", "method": "order.place", "params": ORDER, "returnRateLimits": False}), "x1", "error"),
    ("binance-params-not-an-object", Venue.BINANCEUSDM,
     dumps({"id": "x2", "method": "order.place", "params": [ORDER]}), "x2", "error"),
    ("binance-batch-orders-param", Venue.BINANCEUSDM,
     binance_frame("order.place", {"batchOrders": json.dumps([ORDER])}, "x3"), "x3", "error"),
    ("binance-order-method-with-version", Venue.BINANCEUSDM, binance_frame("v1/order.place", ORDER, "v1"), "v1",
     "unknown"),
    ("binance-unversioned-read-with-version", Venue.BINANCEUSDM,
     binance_frame("v2/order.status", {"symbol": "BTCUSDT", "orderId": "1"}, "v2"), "v2", "unknown"),
    ("binance-logon-without-key", Venue.BINANCEUSDM,
     dumps({"id": "l1", "method": "session.logon", "params": {"timestamp": TIMESTAMP}}), "l1", "error"),
    ("binance-api-key-not-text", Venue.BINANCEUSDM,
     dumps({"id": "k1", "method": "order.place", "params": {**ORDER, "apiKey": 12345}}), "k1", "error"),
    ("coinm-key-twice", Venue.BINANCECOINM,
     '{"id":"c1","method":"order.place","params":{"symbol":"BTCUSD_PERP","quantity":"1","quantity":"100"}}', "c1",
     "error"),
    ("coinm-unknown-method", Venue.BINANCECOINM, binance_frame("batchOrders.place", ORDER, "c2"), "c2", "unknown"),
    ("bybit-not-json", Venue.BYBIT, "order.create BTCUSDT Buy 1", None, "error"),
    ("bybit-key-twice", Venue.BYBIT,
     '{"reqId":"d1","op":"order.create","args":[{"category":"linear","symbol":"BTCUSDT","side":"Buy",'
     '"orderType":"Market","qty":"0.1","qty":"9"}]}', "d1", "error"),
    ("bybit-key-twice-numeric-id", Venue.BYBIT, '{"reqId":8,"reqId":8,"op":"order.create","args":[]}', 8, "error"),
    ("bybit-quantity-exponent-as-number", Venue.BYBIT,
     bybit_frame("order.create", [{**BYBIT_ORDER, "qty": Raw("1e3")}], "e1"), "e1", "error"),
    ("bybit-quantity-huge-exponent", Venue.BYBIT,
     bybit_frame("order.create", [{**BYBIT_ORDER, "qty": Raw("1e999999999")}], "e2"), "e2", "error"),
    ("bybit-quantity-float-text", Venue.BYBIT,
     bybit_frame("order.create", [{**BYBIT_ORDER, "qty": "1.5e-1"}], "e3"), "e3", "error"),
    ("bybit-unknown-op", Venue.BYBIT, bybit_frame("order.create-twap", [BYBIT_ORDER], "u1"), "u1", "unknown"),
    ("bybit-extra-envelope-key", Venue.BYBIT,
     bybit_frame("order.create", [BYBIT_ORDER], "x1", category="linear"), "x1", "error"),
    ("bybit-args-not-a-list", Venue.BYBIT, bybit_frame("order.create", BYBIT_ORDER, "a1"), "a1", "error"),
    ("bybit-args-two-requests", Venue.BYBIT, bybit_frame("order.create", [BYBIT_ORDER, BYBIT_ORDER], "a2"), "a2",
     "error"),
    ("bybit-args-empty", Venue.BYBIT, bybit_frame("order.create", [], "a3"), "a3", "error"),
    ("bybit-args-not-an-object", Venue.BYBIT, bybit_frame("order.create", ["BTCUSDT"], "a4"), "a4", "error"),
    ("bybit-batch-not-a-list", Venue.BYBIT,
     bybit_frame("order.create-batch", [{"category": "linear", "request": BYBIT_ORDER}], "a5"), "a5", "error"),
    ("bybit-auth-without-key", Venue.BYBIT, bybit_frame("auth", [], "l1"), "l1", "error"),
    ("bybit-auth-key-not-text", Venue.BYBIT, bybit_frame("auth", [12345, TIMESTAMP, BYBIT_SIGNATURE], "l2"), "l2",
     "error"),
    ("okx-not-json", Venue.OKX, "{'op': 'order'}", None, "error"),
    ("okx-key-twice", Venue.OKX,
     '{"id":"d1","op":"order","args":[{"instId":"BTC-USDT-SWAP","tdMode":"cross","side":"buy",'
     '"ordType":"market","sz":"1","sz":"100"}]}', "d1", "error"),
    ("okx-size-exponent-as-number", Venue.OKX, okx_frame("order", [{**OKX_ORDER, "sz": Raw("1e2")}], "e1"), "e1",
     "error"),
    ("okx-size-huge-exponent", Venue.OKX, okx_frame("order", [{**OKX_ORDER, "sz": Raw("1e999999999")}], "e2"), "e2",
     "error"),
    ("okx-unknown-op", Venue.OKX, okx_frame("order-algo", [OKX_ORDER], "u1"), "u1", "unknown"),
    ("okx-extra-envelope-key", Venue.OKX, okx_frame("order", [OKX_ORDER], "x1", channel="orders"), "x1", "error"),
    ("okx-args-not-a-list", Venue.OKX, okx_frame("order", OKX_ORDER, "a1"), "a1", "error"),
    ("okx-args-two-for-one-order", Venue.OKX, okx_frame("order", [OKX_ORDER, OKX_ORDER], "a2"), "a2", "error"),
    ("okx-args-empty", Venue.OKX, okx_frame("batch-orders", [], "a3"), "a3", "error"),
    ("okx-args-not-objects", Venue.OKX, okx_frame("batch-orders", [OKX_ORDER, "x"], "a4"), "a4", "error"),
    ("okx-unknown-inst-id-code", Venue.OKX,
     okx_frame("order", [{"instIdCode": 99999, "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1"}],
               "c1"), "c1", "error"),
    ("okx-inst-id-code-conflicts-with-inst-id", Venue.OKX,
     okx_frame("order", [{"instIdCode": BTC_SWAP_CODE, "instId": "ETH-USDT-SWAP", "tdMode": "cross", "side": "buy",
                          "ordType": "market", "sz": "1"}], "c2"), "c2", "error"),
    ("okx-inst-id-code-not-an-integer", Venue.OKX,
     okx_frame("order", [{**OKX_ORDER, "instIdCode": Raw("10459.5")}], "c3"), "c3", "error"),
    ("okx-inst-id-code-as-text", Venue.OKX, okx_frame("order", [{**OKX_ORDER, "instIdCode": "10459"}], "c4"), "c4",
     "error"),
    ("okx-inst-id-code-huge", Venue.OKX, okx_frame("order", [{**OKX_ORDER, "instIdCode": Raw("1e999999")}], "c5"),
     "c5", "error"),
    ("okx-inst-id-code-in-one-leg-unknown", Venue.OKX,
     okx_frame("batch-orders", [OKX_ORDER, {**OKX_ORDER, "instId": "", "instIdCode": 1}], "c6"), "c6", "error"),
    ("okx-login-without-key", Venue.OKX,
     okx_frame("login", [{"passphrase": OKX_PASSPHRASE, "timestamp": "1700000000", "sign": OKX_SIGN}], "l1"), "l1",
     "error"),
    ("okx-login-without-args", Venue.OKX, okx_frame("login", [], "l2"), "l2", "error"),
    # OKX documents `args` as a list of accounts to log in: two keys, or one named twice in other letter case,
    # leave which one the venue logs on unknown
    ("okx-login-of-two-accounts", Venue.OKX,
     okx_frame("login", [{"apiKey": OKX_KEY, "passphrase": OKX_PASSPHRASE, "timestamp": "1700000000",
                          "sign": OKX_SIGN}] * 2, "l3"), "l3", "error"),
    ("okx-login-key-named-twice", Venue.OKX,
     okx_frame("login", [{"apiKey": OKX_KEY, "apikey": "other-key", "passphrase": OKX_PASSPHRASE,
                          "timestamp": "1700000000", "sign": OKX_SIGN}], "l4"), "l4", "error"),
]


@pytest.mark.parametrize(("name", "venue", "text", "frame_id", "refused"), REFUSED, ids=[r[0] for r in REFUSED])
def test_client_frame_when_it_cannot_be_read_then_refused_and_its_id_kept_for_the_reply(
    name: str, venue: Venue, text: str, frame_id: Any, refused: str
) -> None:
    learn_okx_codes()
    reader = READERS[venue]
    started = time.perf_counter()

    frame = reader.read_client(text, session(venue, "0123456789ab"))

    assert time.perf_counter() - started < 1.0  # a huge exponent is refused, not written out
    assert frame.kind is FrameKind.ORDER
    if refused == "error":
        assert frame.request.error
    else:
        assert (frame.request.action, frame.request.endpoint) == (Action.UNKNOWN, f"WS {frame.op}")
    assert verdict(frame.request) is Verdict.BLOCK
    assert frame.request_id == frame_id and type(frame.request_id) is type(frame_id)
    # the reply echoes the id as sent, type and all, and is one JSON object
    decision = engine.conclude(engine.plan(frame.request, OPEN_POLICY, StateView(), "d"), OPEN_POLICY, None)
    reply = json.loads(reader.rejection(decision, frame))
    echoed = {"id": reply.get("id"), "reqId": reply.get("reqId")}["reqId" if venue is Venue.BYBIT else "id"]
    assert echoed == frame_id and type(echoed) is type(frame_id)


@pytest.mark.parametrize(("venue", "text"), [
    (Venue.BINANCEUSDM, binance_frame("order.place", {**ORDER, "timestamp": TIMESTAMP}, api_key=None)),
    (Venue.BINANCECOINM, binance_frame("order.place", {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "LIMIT",
                                                       "timeInForce": "GTC", "quantity": "1", "price": "60000"},
                                       api_key=None)),
    (Venue.BYBIT, bybit_frame("order.create", [BYBIT_ORDER])),
    (Venue.OKX, okx_frame("batch-orders", [OKX_ORDER])),
], ids=["usdm", "coinm", "bybit", "okx"])
async def test_order_frame_when_sent_before_any_login_then_held_by_no_account_and_refused_as_unknown(
    venue: Venue, text: str
) -> None:
    policy = make_policy("""
        known_accounts_only: true
        accounts:
          main:
            fingerprints: ['0123456789ab']
        rules: []
    """)

    frame = READERS[venue].read_client(text, session(venue))
    evaluation = await decide_request(frame.request, policy, MemoryStore(), DECISION_ID)

    assert (frame.kind, frame.request.error) == (FrameKind.ORDER, None)
    assert frame.request.account is None
    assert {i.account for i in frame.request.intents} == {None}
    assert evaluation.decision.verdict is Verdict.BLOCK
    assert evaluation.decision.deciding is not None
    assert evaluation.decision.deciding.reason is Reason.UNKNOWN_ACCOUNT


@pytest.mark.parametrize("venue", list(READERS), ids=str)
async def test_binary_message_when_sent_on_an_order_socket_then_dropped_and_answered_in_the_venue_envelope(
    venue: Venue,
) -> None:
    store = MemoryStore()

    async def decide(parsed: ParsedRequest, decision_id: str) -> tuple[Decision, bool, ParsedRequest]:
        evaluation = await decide_request(parsed, OPEN_POLICY, store, decision_id)
        return evaluation.decision, evaluation.reserved, evaluation.parsed or parsed

    gate = SocketGate(decide, lambda: store, lambda: OPEN_POLICY)

    outcome = await gate.from_client(session(venue, "0123456789ab"), None)

    assert outcome.forward is False
    assert outcome.decision is not None and outcome.decision.verdict is Verdict.BLOCK
    assert outcome.reply is not None
    reply = json.loads(outcome.reply)
    envelope = {Venue.BINANCEUSDM: {"id", "status", "error"}, Venue.BINANCECOINM: {"id", "status", "error"},
                Venue.BYBIT: {"retCode", "retMsg", "op"}, Venue.OKX: {"op", "code", "msg", "data"}}[venue]
    assert envelope <= set(reply)


# ---- controls and logins -------------------------------------------------------------------------------------

# (name, venue, text, kind, op, id)
CONTROLS: list[tuple[str, Venue, str, FrameKind, str, Any]] = [
    ("binance-ping", Venue.BINANCEUSDM, dumps({"id": "p1", "method": "ping"}), FrameKind.CONTROL, "ping", "p1"),
    ("binance-time", Venue.BINANCEUSDM, dumps({"id": 2, "method": "time"}), FrameKind.CONTROL, "time", 2),
    ("binance-order-status", Venue.BINANCEUSDM, binance_frame("order.status", {"symbol": "BTCUSDT", "orderId": "1"},
                                                              "s1"), FrameKind.CONTROL, "order.status", "s1"),
    ("binance-positions-v2", Venue.BINANCEUSDM, binance_frame("v2/account.position", {}, "s2"), FrameKind.CONTROL,
     "v2/account.position", "s2"),
    ("binance-positions", Venue.BINANCEUSDM, binance_frame("account.position", {}, "s3"), FrameKind.CONTROL,
     "account.position", "s3"),
    ("binance-balance-v2", Venue.BINANCEUSDM, binance_frame("v2/account.balance", {}, "s4"), FrameKind.CONTROL,
     "v2/account.balance", "s4"),
    ("binance-test-order", Venue.BINANCEUSDM, binance_frame("order.test", ORDER, "s5"), FrameKind.CONTROL,
     "order.test", "s5"),
    ("binance-listen-key", Venue.BINANCEUSDM, binance_frame("userDataStream.start", {}, "s6"), FrameKind.CONTROL,
     "userDataStream.start", "s6"),
    ("binance-session-status", Venue.BINANCEUSDM, dumps({"id": "s7", "method": "session.status"}),
     FrameKind.CONTROL, "session.status", "s7"),
    ("binance-logout", Venue.BINANCEUSDM, dumps({"id": "s8", "method": "session.logout"}), FrameKind.LOGOUT,
     "session.logout", "s8"),
    ("coinm-order-status", Venue.BINANCECOINM, binance_frame("order.status", {"symbol": "BTCUSD_PERP",
                                                                              "orderId": "1"}, 9),
     FrameKind.CONTROL, "order.status", 9),
    ("bybit-ping", Venue.BYBIT, dumps({"op": "ping"}), FrameKind.CONTROL, "ping", None),
    ("bybit-ping-as-ccxt-sends-it", Venue.BYBIT, dumps({"req_id": "5", "op": "ping"}), FrameKind.CONTROL, "ping",
     "5"),
    ("bybit-pong", Venue.BYBIT, dumps({"reqId": "p", "op": "pong", "args": [str(TIMESTAMP)]}), FrameKind.CONTROL,
     "pong", "p"),
    ("bybit-subscribe-as-pybit-sends-it", Venue.BYBIT,
     dumps({"op": "subscribe", "req_id": "9a3e2b4c", "args": ["order", "position"]}), FrameKind.CONTROL,
     "subscribe", "9a3e2b4c"),
    ("bybit-unsubscribe", Venue.BYBIT, dumps({"op": "unsubscribe", "req_id": "u", "args": ["order"]}),
     FrameKind.CONTROL, "unsubscribe", "u"),
    ("okx-ping", Venue.OKX, "ping", FrameKind.CONTROL, "ping", None),
    ("okx-subscribe", Venue.OKX, dumps({"id": "s1", "op": "subscribe", "args": [
        {"channel": "orders", "instType": "SWAP"}, {"channel": "positions", "instType": "ANY"}]}),
     FrameKind.CONTROL, "subscribe", "s1"),
    ("okx-unsubscribe", Venue.OKX, dumps({"op": "unsubscribe", "args": [{"channel": "orders", "instType": "SWAP"}]}),
     FrameKind.CONTROL, "unsubscribe", None),
]


@pytest.mark.parametrize(("name", "venue", "text", "kind", "op", "frame_id"), CONTROLS, ids=[c[0] for c in CONTROLS])
def test_control_frame_when_read_then_passes_as_a_read(
    name: str, venue: Venue, text: str, kind: FrameKind, op: str, frame_id: Any
) -> None:
    account = fingerprint(BINANCE_KEY) if venue in (Venue.BINANCEUSDM, Venue.BINANCECOINM) else "0123456789ab"

    frame = READERS[venue].read_client(text, session(venue, account))

    assert (frame.kind, frame.op, frame.request.action, frame.request.error) == (kind, op, Action.READ, None)
    assert frame.request.account == account
    assert frame.request_id == frame_id and type(frame.request_id) is type(frame_id)
    assert verdict(frame.request) is Verdict.ALLOW


# (name, venue, text, the key it binds, the id it is answered by)
LOGINS: list[tuple[str, Venue, str, str, Any]] = [
    ("binance-session-logon", Venue.BINANCEUSDM,
     binance_frame("session.logon", {}, "logon-1"), BINANCE_KEY, "logon-1"),
    ("coinm-session-logon", Venue.BINANCECOINM, binance_frame("session.logon", {}, 3), BINANCE_KEY, 3),
    ("bybit-auth", Venue.BYBIT, bybit_frame("auth", [BYBIT_KEY, TIMESTAMP + 10_000, BYBIT_SIGNATURE], None),
     BYBIT_KEY, None),
    ("bybit-auth-with-req-id", Venue.BYBIT,
     dumps({"req_id": "a1", "op": "auth", "args": [BYBIT_KEY, TIMESTAMP + 10_000, BYBIT_SIGNATURE]}), BYBIT_KEY, "a1"),
    ("okx-login", Venue.OKX, okx_frame("login", [{"apiKey": OKX_KEY, "passphrase": OKX_PASSPHRASE,
                                                  "timestamp": "1700000000", "sign": OKX_SIGN}], None),
     OKX_KEY, None),
]


@pytest.mark.parametrize(("name", "venue", "text", "key", "frame_id"), LOGINS, ids=[c[0] for c in LOGINS])
def test_login_frame_when_read_then_binds_the_fingerprint_of_its_key_and_never_keeps_the_key(
    name: str, venue: Venue, text: str, key: str, frame_id: Any
) -> None:
    frame = READERS[venue].read_client(text, session(venue))

    assert (frame.kind, frame.request.action, frame.request.error) == (FrameKind.LOGIN, Action.READ, None)
    assert frame.login_account == fingerprint(key)
    assert frame.request_id == frame_id
    shown = repr(frame)
    assert not [secret for secret in SECRETS if secret in shown]
    assert verdict(frame.request) is Verdict.ALLOW


# ---- venue frames: logins --------------------------------------------------------------------------------------

# (name, venue, the login's id, the answer, login_ok)
LOGIN_ANSWERS: list[tuple[str, Venue, Any, str, bool]] = [
    ("binance-accepted", Venue.BINANCEUSDM, "logon-1",
     dumps({"id": "logon-1", "status": 200, "result": {"apiKey": None, "authorizedSince": TIMESTAMP,
                                                        "connectedSince": TIMESTAMP, "returnRateLimits": False,
                                                        "serverTime": TIMESTAMP}}), True),
    ("binance-accepted-numeric-id", Venue.BINANCECOINM, 5, dumps({"id": 5, "status": 200, "result": {}}), True),
    ("binance-refused", Venue.BINANCEUSDM, "logon-1",
     dumps({"id": "logon-1", "status": 401, "error": {"code": -1022, "msg": "Signature for this request is not "
                                                                            "valid."}}), False),
    ("bybit-trade-accepted", Venue.BYBIT, None, dumps({"retCode": 0, "retMsg": "OK", "op": "auth", "connId": "c1"}),
     True),
    ("bybit-trade-refused", Venue.BYBIT, None,
     dumps({"retCode": 10004, "retMsg": "Invalid sign", "op": "auth", "connId": "c1"}), False),
    ("bybit-private-accepted", Venue.BYBIT, "a1",
     dumps({"req_id": "a1", "success": True, "ret_msg": "", "op": "auth", "conn_id": "c2"}), True),
    ("bybit-private-refused", Venue.BYBIT, None,
     dumps({"success": False, "ret_msg": "Params Error", "op": "auth", "conn_id": "c2"}), False),
    ("bybit-says-nothing", Venue.BYBIT, None, dumps({"op": "auth", "conn_id": "c2"}), False),
    ("okx-accepted", Venue.OKX, None, dumps({"event": "login", "code": "0", "msg": "", "connId": "a4302b4f"}), True),
    ("okx-refused", Venue.OKX, None, dumps({"event": "error", "code": "60009", "msg": "Login failed.",
                                            "connId": "a4302b4f"}), False),
    ("okx-login-event-with-error-code", Venue.OKX, None,
     dumps({"event": "login", "code": "60024", "msg": "Wrong passphrase", "connId": "a4302b4f"}), False),
]


@pytest.mark.parametrize(("name", "venue", "login_id", "answer", "ok"), LOGIN_ANSWERS,
                         ids=[c[0] for c in LOGIN_ANSWERS])
def test_login_answer_when_a_login_is_pending_then_says_whether_it_was_accepted(
    name: str, venue: Venue, login_id: Any, answer: str, ok: bool
) -> None:
    pending = session(venue, pending_login="0123456789ab", pending_login_id=id_key(login_id))
    idle = session(venue)

    assert READERS[venue].read_venue(answer, pending).login_ok is ok
    assert READERS[venue].read_venue(answer, idle).login_ok is None  # no login pending: no login answered


def test_login_answer_when_its_id_is_the_logins_in_another_type_then_this_login_and_another_id_is_not() -> None:
    # a frame under "5" while the login under 5 awaits its answer is refused (one id in flight), so an answer
    # under either spelling can only be the login's
    frame = USDM_FRAMES.read_client(binance_frame("session.logon", {}, 5), session(Venue.BINANCEUSDM))
    pending = session(Venue.BINANCEUSDM, pending_login=frame.login_account, pending_login_id=frame.id_key)

    as_text = USDM_FRAMES.read_venue(dumps({"id": "5", "status": 200, "result": {}}), pending)
    as_number = USDM_FRAMES.read_venue(dumps({"id": 5, "status": 200, "result": {}}), pending)
    another = USDM_FRAMES.read_venue(dumps({"id": 6, "status": 200, "result": {}}), pending)

    assert (as_text.login_ok, as_number.login_ok, another.login_ok) == (True, True, None)


# ---- venue frames: order answers -------------------------------------------------------------------------------

BINANCE_LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.5",
                 "price": "50000"}
BINANCE_RESULT = {"orderId": 325078477, "symbol": "BTCUSDT", "status": "NEW", "clientOrderId": "x-1",
                  "price": "50000", "avgPrice": "0.00", "origQty": "0.5", "executedQty": "0", "cumQuote": "0",
                  "timeInForce": "GTC", "type": "LIMIT", "reduceOnly": False, "closePosition": False, "side": "BUY",
                  "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE", "priceProtect": False,
                  "origType": "LIMIT", "updateTime": TIMESTAMP}
COINM_LIMIT = {"symbol": "BTCUSD_PERP", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "2",
               "price": "50000"}
COINM_RESULT = {**BINANCE_RESULT, "symbol": "BTCUSD_PERP", "side": "SELL", "origQty": "2", "executedQty": "1",
                "avgPrice": "50000", "status": "PARTIALLY_FILLED", "pair": "BTCUSD", "cumBase": "0.002"}
BYBIT_LIMIT = {**LINEAR, "side": "Buy", "orderType": "Limit", "qty": "0.5", "price": "50000", "timeInForce": "GTC"}
OKX_LIMIT = {**SWAP, "side": "sell", "ordType": "limit", "sz": "5", "px": "52000", "clOrdId": "c7"}


def binance_answer(frame_id: Any, result: Any) -> str:
    return dumps({"id": frame_id, "status": 200, "result": result, "rateLimits": [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300, "count": 1}]})


def bybit_answer(req_id: Any) -> str:
    return dumps({"reqId": req_id, "retCode": 0, "retMsg": "OK", "op": "order.create",
                  "data": {"orderId": OID, "orderLinkId": ""}, "retExtInfo": {},
                  "header": {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9", "Traceid": "t", "Timenow": "1"},
                  "connId": "c1"})


def okx_answer(frame_id: Any) -> str:
    return dumps({"id": frame_id, "op": "batch-orders", "code": "0", "msg": "", "data": [
        {"ordId": OKX_ORDER_ID, "clOrdId": "c7", "tag": "", "ts": str(TIMESTAMP), "sCode": "0",
         "sMsg": "Order placed"}], "inTime": "1695190491421339", "outTime": "1695190491423240"})


# (name, venue, the order frame for an id, its answer for an id, the order it teaches)
ANSWERS: list[tuple[str, Venue, Any, Any, OrderUpdate]] = [
    ("binance", Venue.BINANCEUSDM, lambda i: binance_frame("order.place", BINANCE_LIMIT, i),
     lambda i: binance_answer(i, BINANCE_RESULT),
     OrderUpdate(Venue.BINANCEUSDM, BINANCE_ACCOUNT, "BTCUSDT", "325078477", Side.BUY, PositionSide.BOTH, D("0.5"),
                 D("0"), False, False, f"{DECISION_ID}:0", venue_ms=TIMESTAMP)),
    ("coinm", Venue.BINANCECOINM, lambda i: binance_frame("order.place", COINM_LIMIT, i),
     lambda i: binance_answer(i, COINM_RESULT),
     # 2 contracts of 100 USD at 50000: 0.004 BTC, half filled
     OrderUpdate(Venue.BINANCECOINM, BINANCE_ACCOUNT, "BTCUSD_PERP", "325078477", Side.SELL, PositionSide.BOTH,
                 D("0.004"), D("0.002"), False, False, f"{DECISION_ID}:0", venue_ms=TIMESTAMP)),
    ("bybit", Venue.BYBIT, lambda i: bybit_frame("order.create", [BYBIT_LIMIT], i), bybit_answer,
     OrderUpdate(Venue.BYBIT, BYBIT_ACCOUNT, "BTCUSDT", OID, Side.BUY, PositionSide.BOTH, D("0.5"), D("0"), False,
                 False, f"{DECISION_ID}:0", "linear:USDT")),
    ("okx", Venue.OKX, lambda i: okx_frame("batch-orders", [OKX_LIMIT], i), okx_answer,
     OrderUpdate(Venue.OKX, OKX_ACCOUNT, "BTC-USDT-SWAP", OKX_ORDER_ID, Side.SELL, PositionSide.BOTH, D("0.05"),
                 D("0"), False, False, f"{DECISION_ID}:0")),
]
SESSION_ACCOUNTS = {Venue.BINANCEUSDM: None, Venue.BINANCECOINM: None, Venue.BYBIT: BYBIT_ACCOUNT,
                    Venue.OKX: OKX_ACCOUNT}


@pytest.mark.parametrize("sent_id", [1, "1", "ccxt-42", 3.5], ids=["number", "digits-as-text", "text", "fraction"])
@pytest.mark.parametrize(("name", "venue", "order", "answer", "teaches"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_order_answer_when_its_id_matches_a_pending_frame_then_the_rest_answer_the_adapter_learns_from(
    name: str, venue: Venue, order: Any, answer: Any, teaches: OrderUpdate, sent_id: Any
) -> None:
    connection = session(venue, SESSION_ACCOUNTS[venue])
    frame = READERS[venue].read_client(order(sent_id), connection)
    assert frame.request.error is None and frame.rest is not None and frame.id_key is not None
    connection.expect(frame.id_key, PendingFrame(DECISION_ID, frame.request, frame.rest, True))
    # the same id in the other JSON type (a venue that reads ids into one type answers so), and another id
    other_type = str(sent_id) if not isinstance(sent_id, str) else sent_id if not sent_id.isdigit() else int(sent_id)

    answered = READERS[venue].read_venue(answer(sent_id), connection)
    retyped = READERS[venue].read_venue(answer(other_type), connection)
    stranger = READERS[venue].read_venue(answer("ccxt-43"), connection)

    assert stranger.answers is None
    assert answered.answers == retyped.answers == frame.id_key  # no other frame can await an answer under it
    assert answered.status == 200
    facts = ADAPTERS[venue].parse_response(frame.request, frame.rest, answered.status, answered.rest_body, DECISION_ID)
    assert facts.orders == (teaches,)


def test_order_answer_when_venue_refused_it_then_answered_with_its_status_and_teaches_nothing() -> None:
    connection = session(Venue.BINANCEUSDM)
    frame = USDM_FRAMES.read_client(binance_frame("order.place", BINANCE_LIMIT, 4), connection)
    assert frame.rest is not None and frame.id_key is not None
    connection.expect(frame.id_key, PendingFrame(DECISION_ID, frame.request, frame.rest, True))

    answered = USDM_FRAMES.read_venue(dumps({"id": 4, "status": 400, "error": {
        "code": -2019, "msg": "Margin is insufficient."}}), connection)

    assert (answered.answers, answered.status) == (frame.id_key, 400)
    assert binance_usdm.ADAPTER.parse_response(frame.request, frame.rest, 400, answered.rest_body,
                                               DECISION_ID).empty


# ---- venue frames: private streams -----------------------------------------------------------------------------

ORDER_TRADE_UPDATE: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "E": TIMESTAMP, "T": TIMESTAMP, "o": {
    "s": "BTCUSDT", "c": "x-1", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.5", "p": "50000", "ap": "50000",
    "sp": "0", "x": "TRADE", "X": "PARTIALLY_FILLED", "i": 8886774, "l": "0.2", "z": "0.2", "L": "50000",
    "n": "0.01", "N": "USDT", "T": TIMESTAMP, "t": 1, "b": "0", "a": "0", "m": False, "R": False,
    "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH", "cp": False, "rp": "0"}}
ACCOUNT_UPDATE = {"e": "ACCOUNT_UPDATE", "E": TIMESTAMP, "T": TIMESTAMP, "a": {
    "m": "ORDER", "B": [{"a": "USDT", "wb": "1000", "cw": "1000", "bc": "0"}],
    "P": [{"s": "BTCUSDT", "pa": "-0.3", "ep": "50000", "bep": "50000", "cr": "0", "up": "0", "mt": "cross",
           "iw": "0", "ps": "BOTH"}]}}
BINANCE_FILL = OrderUpdate(Venue.BINANCEUSDM, "acct", "BTCUSDT", "8886774", Side.BUY, PositionSide.BOTH, D("0.5"),
                           D("0.2"), False, False, venue_ms=TIMESTAMP)
BINANCE_POSITION = PositionsReport(Venue.BINANCEUSDM, "acct", "BTCUSDT", (("BTCUSDT", PositionSide.BOTH, D("-0.3")),),
                                   venue_ms=TIMESTAMP)
COINM_ORDER_TRADE_UPDATE = {**ORDER_TRADE_UPDATE, "o": {**ORDER_TRADE_UPDATE["o"], "s": "BTCUSD_PERP", "q": "2",
                                                        "z": "1", "ps": "LONG", "S": "SELL"}}
COINM_ACCOUNT_UPDATE = {**ACCOUNT_UPDATE, "a": {"m": "ORDER", "B": [], "P": [
    {"s": "BTCUSD_PERP", "pa": "-3", "ep": "60000", "ps": "BOTH"}]}}
BYBIT_ORDER_PUSH = {"category": "linear", "symbol": "BTCUSDT", "orderId": OID, "orderLinkId": "", "side": "Buy",
                    "positionIdx": 0, "orderStatus": "PartiallyFilled", "orderType": "Limit", "price": "50000",
                    "qty": "0.5", "cumExecQty": "0.2", "leavesQty": "0.3", "avgPrice": "50000", "reduceOnly": False,
                    "timeInForce": "GTC", "createdTime": str(TIMESTAMP), "updatedTime": str(TIMESTAMP)}
BYBIT_POSITION_PUSH = {"category": "linear", "symbol": "BTCUSDT", "side": "Sell", "size": "0.3", "positionIdx": 0,
                       "entryPrice": "50000", "markPrice": "50100", "leverage": "10", "positionStatus": "Normal",
                       "seq": 1, "updatedTime": str(TIMESTAMP)}
OKX_ORDER_PUSH = {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "ordId": OKX_ORDER_ID, "clOrdId": "c7", "tag": "",
                  "side": "buy", "posSide": "net", "ordType": "limit", "sz": "5", "px": "50000", "accFillSz": "2",
                  "fillSz": "2", "fillPx": "50000", "avgPx": "50000", "state": "partially_filled",
                  "reduceOnly": "false", "lever": "10", "uTime": str(TIMESTAMP)}
OKX_POSITION_PUSH = {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "mgnMode": "cross", "posSide": "net",
                     "pos": "-3", "avgPx": "50000", "markPx": "50100", "lever": "10", "uTime": str(TIMESTAMP)}

# (name, venue, the push, orders it teaches, positions it teaches)
PUSHES: list[tuple[str, Venue, str, tuple[OrderUpdate, ...], tuple[PositionsReport, ...]]] = [
    ("binance-order-bare", Venue.BINANCEUSDM, dumps(ORDER_TRADE_UPDATE), (BINANCE_FILL,), ()),
    ("binance-order-combined-stream", Venue.BINANCEUSDM,
     dumps({"stream": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1", "data": ORDER_TRADE_UPDATE}),
     (BINANCE_FILL,), ()),
    ("binance-order-pushed-on-the-ws-api", Venue.BINANCEUSDM,
     dumps({"subscriptionId": 0, "event": ORDER_TRADE_UPDATE}), (BINANCE_FILL,), ()),
    ("binance-position-bare", Venue.BINANCEUSDM, dumps(ACCOUNT_UPDATE), (), (BINANCE_POSITION,)),
    ("binance-position-combined-stream", Venue.BINANCEUSDM, dumps({"stream": "k", "data": ACCOUNT_UPDATE}), (),
     (BINANCE_POSITION,)),
    ("binance-position-pushed-on-the-ws-api", Venue.BINANCEUSDM,
     dumps({"subscriptionId": 3, "event": ACCOUNT_UPDATE}), (), (BINANCE_POSITION,)),
    # 2 contracts of 100 USD at 50000 = 0.004 BTC, 1 filled = 0.002; a SELL on the LONG side only reduces
    ("coinm-order-in-contracts", Venue.BINANCECOINM, dumps(COINM_ORDER_TRADE_UPDATE),
     (OrderUpdate(Venue.BINANCECOINM, "acct", "BTCUSD_PERP", "8886774", Side.SELL, PositionSide.LONG, D("0.004"),
                  D("0.002"), False, True, venue_ms=TIMESTAMP),), ()),
    # -3 contracts of 100 USD at 60000 = -0.005 BTC
    ("coinm-position-in-contracts", Venue.BINANCECOINM, dumps(COINM_ACCOUNT_UPDATE), (),
     (PositionsReport(Venue.BINANCECOINM, "acct", "BTCUSD_PERP", (("BTCUSD_PERP", PositionSide.BOTH, D("-0.005")),),
                      venue_ms=TIMESTAMP),)),
    # events answer no request, so no store price: a flat position needs none (0 contracts is 0 coin)
    ("coinm-position-flat-without-price", Venue.BINANCECOINM,
     dumps({**ACCOUNT_UPDATE, "a": {"m": "ORDER", "B": [], "P": [
         {"s": "BTCUSD_PERP", "pa": "0", "ep": "0", "ps": "BOTH"}]}}), (),
     (PositionsReport(Venue.BINANCECOINM, "acct", "BTCUSD_PERP", (("BTCUSD_PERP", PositionSide.BOTH, D(0)),),
                      venue_ms=TIMESTAMP),)),
    # a stop-market order with no limit price nor fill converts at its own trigger: 4 × 100 ÷ 40000
    ("coinm-stop-order-at-its-trigger", Venue.BINANCECOINM,
     dumps({**ORDER_TRADE_UPDATE, "o": {**COINM_ORDER_TRADE_UPDATE["o"], "o": "STOP_MARKET", "q": "4", "p": "0",
                                        "ap": "0", "sp": "40000", "z": "0", "X": "NEW", "x": "NEW",
                                        "ps": "BOTH"}}),
     (OrderUpdate(Venue.BINANCECOINM, "acct", "BTCUSD_PERP", "8886774", Side.SELL, PositionSide.BOTH, D("0.01"),
                  D(0), False, False, venue_ms=TIMESTAMP),), ()),
    # a trailing buy of 1,000 contracts activated at 5000: 100,000 USD ÷ 5000, whatever its limit-less price says
    ("coinm-trailing-buy-at-its-activation", Venue.BINANCECOINM,
     dumps({**ORDER_TRADE_UPDATE, "o": {**COINM_ORDER_TRADE_UPDATE["o"], "o": "TRAILING_STOP_MARKET", "q": "1000",
                                        "p": "0", "ap": "0", "sp": "0", "AP": "5000", "cr": "5", "z": "0",
                                        "X": "NEW", "x": "NEW", "ps": "BOTH", "S": "BUY"}}),
     (OrderUpdate(Venue.BINANCECOINM, "acct", "BTCUSD_PERP", "8886774", Side.BUY, PositionSide.BOTH, D(20),
                  D(0), False, False, venue_ms=TIMESTAMP),), ()),
    # a trailing sell of 1,000 contracts activated at 5000 with a 5% callback: fills as low as 4750
    ("coinm-trailing-sell-at-its-callback-below-activation", Venue.BINANCECOINM,
     dumps({**ORDER_TRADE_UPDATE, "o": {**COINM_ORDER_TRADE_UPDATE["o"], "o": "TRAILING_STOP_MARKET", "q": "1000",
                                        "p": "0", "ap": "0", "sp": "0", "AP": "5000", "cr": "5", "z": "0",
                                        "X": "NEW", "x": "NEW", "ps": "BOTH", "S": "SELL"}}),
     (OrderUpdate(Venue.BINANCECOINM, "acct", "BTCUSD_PERP", "8886774", Side.SELL, PositionSide.BOTH,
                  D(100_000) / D(4750), D(0), False, False, venue_ms=TIMESTAMP),), ()),
    ("bybit-order", Venue.BYBIT, dumps({"id": "5923240c", "topic": "order", "creationTime": TIMESTAMP,
                                        "data": [BYBIT_ORDER_PUSH]}),
     (OrderUpdate(Venue.BYBIT, "acct", "BTCUSDT", OID, Side.BUY, PositionSide.BOTH, D("0.5"), D("0.2"), False, False,
                  kind="linear:USDT", venue_ms=TIMESTAMP),), ()),
    ("bybit-order-by-category", Venue.BYBIT, dumps({"topic": "order.linear", "data": [
        BYBIT_ORDER_PUSH, {**BYBIT_ORDER_PUSH, "category": "spot"}]}),
     (OrderUpdate(Venue.BYBIT, "acct", "BTCUSDT", OID, Side.BUY, PositionSide.BOTH, D("0.5"), D("0.2"), False, False,
                  kind="linear:USDT", venue_ms=TIMESTAMP),), ()),
    ("bybit-position", Venue.BYBIT, dumps({"id": "1", "topic": "position", "creationTime": TIMESTAMP,
                                           "data": [BYBIT_POSITION_PUSH]}),
     (), (PositionsReport(Venue.BYBIT, "acct", "BTCUSDT", (("BTCUSDT", PositionSide.BOTH, D("-0.3")),),
                          venue_ms=TIMESTAMP),)),
    # a positionIdx written as a number of a billion digits teaches nothing, at once (never int() of it)
    ("bybit-position-with-huge-position-idx", Venue.BYBIT, dumps({"topic": "position", "data": [
        {**BYBIT_POSITION_PUSH, "positionIdx": "HUGE"}]}).replace('"HUGE"', "1e999999999"), (), ()),
    ("bybit-order-with-huge-position-idx", Venue.BYBIT, dumps({"topic": "order", "data": [
        {**BYBIT_ORDER_PUSH, "positionIdx": "HUGE"}]}).replace('"HUGE"', "1e999999999"), (), ()),
    ("okx-orders", Venue.OKX, dumps({"arg": {"channel": "orders", "instType": "SWAP", "uid": "77"},
                                     "data": [OKX_ORDER_PUSH]}),
     (OrderUpdate(Venue.OKX, "acct", "BTC-USDT-SWAP", OKX_ORDER_ID, Side.BUY, PositionSide.BOTH, D("0.05"), D("0.02"),
                  False, False, venue_ms=TIMESTAMP),), ()),
    ("okx-positions", Venue.OKX, dumps({"arg": {"channel": "positions", "instType": "ANY"},
                                        "data": [OKX_POSITION_PUSH]}),
     (), (PositionsReport(Venue.OKX, "acct", "BTC-USDT-SWAP", (("BTC-USDT-SWAP", PositionSide.BOTH, D("-0.03")),),
                          venue_ms=TIMESTAMP),)),
    # a time in another unit (µs), or none, dates nothing: the push is dated by its arrival alone, as before
    ("binance-position-time-in-microseconds", Venue.BINANCEUSDM, dumps({**ACCOUNT_UPDATE, "T": TIMESTAMP * 1000}), (),
     (dataclasses.replace(BINANCE_POSITION, venue_ms=None),)),
    # its last fill's time where it says one: a cancel after it moves uTime on, not the fill
    ("okx-orders-fill-time", Venue.OKX, dumps({"arg": {"channel": "orders", "instType": "SWAP"}, "data": [
        {**OKX_ORDER_PUSH, "fillTime": str(TIMESTAMP - 5), "state": "canceled"}]}),
     (OrderUpdate(Venue.OKX, "acct", "BTC-USDT-SWAP", OKX_ORDER_ID, Side.BUY, PositionSide.BOTH, D("0.05"), D("0.02"),
                  True, False, venue_ms=TIMESTAMP - 5),), ()),
    ("okx-positions-without-time", Venue.OKX, dumps({"arg": {"channel": "positions"}, "data": [
        {**OKX_POSITION_PUSH, "uTime": ""}]}),
     (), (PositionsReport(Venue.OKX, "acct", "BTC-USDT-SWAP", (("BTC-USDT-SWAP", PositionSide.BOTH, D("-0.03")),)),)),
]


@pytest.mark.parametrize(("name", "venue", "push", "orders", "positions"), PUSHES, ids=[p[0] for p in PUSHES])
def test_private_push_when_session_has_an_account_then_facts_in_base_units(
    name: str, venue: Venue, push: str, orders: tuple[OrderUpdate, ...], positions: tuple[PositionsReport, ...]
) -> None:
    read = READERS[venue].read_venue(push, session(venue, "acct", Socket.STREAM, private=True))

    assert (read.facts.orders, read.facts.positions) == (orders, positions)
    amounts = [a for o in read.facts.orders for a in (o.original, o.executed)]
    amounts += [row[2] for report in read.facts.positions for row in report.positions]
    assert all(type(amount) is Decimal for amount in amounts)
    assert read.answers is None and read.login_ok is None


@pytest.mark.parametrize(("name", "venue", "push"), [p[:3] for p in PUSHES], ids=[p[0] for p in PUSHES])
def test_private_push_when_session_has_no_account_then_teaches_nothing(name: str, venue: Venue, push: str) -> None:
    read = READERS[venue].read_venue(push, session(venue, None, Socket.STREAM, private=True))

    assert read.facts.empty


# (name, venue, the venue frame, the mark prices it teaches): the reference the price collar measures from
MARK_PRICES: list[tuple[str, Venue, str, tuple[PriceUpdate, ...]]] = [
    ("bybit-position-push", Venue.BYBIT, dumps({"topic": "position", "data": [BYBIT_POSITION_PUSH]}),
     (PriceUpdate(Venue.BYBIT, "BTCUSDT", D("50100"), "mark"),)),
    ("okx-positions-push", Venue.OKX, dumps({"arg": {"channel": "positions"}, "data": [OKX_POSITION_PUSH]}),
     (PriceUpdate(Venue.OKX, "BTC-USDT-SWAP", D("50100"), "mark"),)),
    ("binance-position-read-answer", Venue.BINANCEUSDM, binance_answer("read-1", [
        {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.1", "entryPrice": "50000",
         "markPrice": "50100.5", "unRealizedProfit": "10"},
        {"symbol": "ETHUSDT", "positionSide": "BOTH", "positionAmt": "0", "markPrice": "3001"}]),
     (PriceUpdate(Venue.BINANCEUSDM, "BTCUSDT", D("50100.5"), "mark"),
      PriceUpdate(Venue.BINANCEUSDM, "ETHUSDT", D("3001"), "mark"))),
    ("coinm-position-read-answer", Venue.BINANCECOINM, binance_answer("read-2", [
        {"symbol": "BTCUSD_PERP", "positionAmt": "1", "markPrice": "60000"}]),
     (PriceUpdate(Venue.BINANCECOINM, "BTCUSD_PERP", D("60000"), "mark"),)),
    ("binance-order-read-answer-has-no-mark", Venue.BINANCEUSDM, binance_answer("read-3", BINANCE_RESULT), ()),
    ("binance-refused-read-teaches-nothing", Venue.BINANCEUSDM,
     dumps({"id": "read-4", "status": 400, "error": {"code": -1102, "msg": "bad"}}), ()),
    ("bybit-push-not-understood-teaches-no-mark", Venue.BYBIT,
     dumps({"topic": "position", "data": [{**BYBIT_POSITION_PUSH, "positionIdx": 7}]}), ()),
]


@pytest.mark.parametrize(("name", "venue", "text", "prices"), MARK_PRICES, ids=[m[0] for m in MARK_PRICES])
def test_venue_frame_when_it_carries_mark_prices_then_they_are_learned_as_mark(
    name: str, venue: Venue, text: str, prices: tuple[PriceUpdate, ...]
) -> None:
    read = READERS[venue].read_venue(text, session(venue, "acct", Socket.ORDERS if venue in (
        Venue.BINANCEUSDM, Venue.BINANCECOINM) else Socket.STREAM, private=True))

    assert read.facts.prices == prices
    assert read.answers is None


def _okx_positions(*rows: tuple[str, str]) -> str:
    """An OKX `positions` push of BTC-USDT-SWAP net rows, (margin mode, contracts) each."""
    return dumps({"arg": {"channel": "positions"}, "data": [
        {**OKX_POSITION_PUSH, "mgnMode": mode, "pos": contracts} for mode, contracts in rows]})


@pytest.mark.parametrize(("pushes", "position"), [
    # the subscription's first push lists both margin modes: one position of 5 + 3 BTC
    ([(("cross", "500"), ("isolated", "300"))], "8"),
    # then a push of the isolated one alone, now 1 BTC: 5 cross + 1 isolated, not 1
    ([(("cross", "500"), ("isolated", "300")), (("isolated", "100"),)], "6"),
    ([(("cross", "500"),), (("cross", "0"),)], "0"),
], ids=["snapshot-of-both-modes", "one-mode-pushed-alone", "closed"])
def test_okx_positions_push_when_cross_and_isolated_are_pushed_apart_then_the_position_is_their_sum(
    pushes: list[tuple[tuple[str, str], ...]], position: str
) -> None:
    connection = session(Venue.OKX, "acct", Socket.ORDERS, private=True)

    reads = [OKX_FRAMES.read_venue(_okx_positions(*rows), connection) for rows in pushes]

    [report] = reads[-1].facts.positions
    assert report.positions == (("BTC-USDT-SWAP", PositionSide.BOTH, D(position)),)


def test_okx_positions_push_when_the_connection_logs_in_as_another_account_then_the_first_ones_modes_are_not_added(
) -> None:
    connection = session(Venue.OKX, "acct", Socket.ORDERS, private=True)
    OKX_FRAMES.read_venue(_okx_positions(("cross", "500")), connection)
    connection.account = "other"  # as the venue's answer to a login to another key leaves it

    [report] = OKX_FRAMES.read_venue(_okx_positions(("isolated", "100")), connection).facts.positions

    assert (report.account, report.positions) == ("other", (("BTC-USDT-SWAP", PositionSide.BOTH, D("1")),))


GARBAGE: list[tuple[str, Venue, str]] = [
    *[(f"{venue}-{name}", venue, text) for venue in READERS for name, text in [
        ("empty", ""), ("text", "hello"), ("null", "null"), ("list", "[1, 2]"), ("object", "{}"),
        ("number", "1e999999"), ("deep", "[" * 5000 + "]" * 5000), ("bad-utf8-escape", '"\\ud800"'),
        ("huge-int-id", '{"id": ' + "9" * 5000 + ', "status": 200, "result": {}}'),
    ]],
    ("binance-order-event-empty", Venue.BINANCEUSDM, '{"e": "ORDER_TRADE_UPDATE", "o": {}}'),
    ("binance-order-event-not-object", Venue.BINANCEUSDM, '{"e": "ORDER_TRADE_UPDATE", "o": [1]}'),
    ("binance-order-event-bad-side", Venue.BINANCEUSDM,
     dumps({**ORDER_TRADE_UPDATE, "o": {**ORDER_TRADE_UPDATE["o"], "S": "UP"}})),
    ("binance-position-not-a-number", Venue.BINANCEUSDM,
     '{"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": "BTCUSDT", "pa": "NaN"}, {"s": "ETHUSDT", "pa": "abc"}]}}'),
    ("binance-positions-not-a-list", Venue.BINANCEUSDM, '{"e": "ACCOUNT_UPDATE", "a": {"P": 5}}'),
    ("coinm-position-unknown-contract", Venue.BINANCECOINM,
     '{"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": "ADAUSD_PERP", "pa": "3", "ep": "1"}]}}'),
    ("coinm-position-price-overflows", Venue.BINANCECOINM,
     '{"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": "BTCUSD_PERP", "pa": "3", "ep": 1e-999999}]}}'),
    # contracts with no price of the event's own to convert them at (the store's is not read for an event)
    ("coinm-position-without-entry-price", Venue.BINANCECOINM,
     '{"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": "BTCUSD_PERP", "pa": "3", "ep": "0"}]}}'),
    ("coinm-unfilled-market-order-without-price", Venue.BINANCECOINM,
     dumps({**ORDER_TRADE_UPDATE, "o": {**COINM_ORDER_TRADE_UPDATE["o"], "o": "MARKET", "p": "0", "ap": "0",
                                        "sp": "0", "z": "0", "X": "NEW", "x": "NEW"}})),
    ("binance-answer-for-no-pending-frame", Venue.BINANCEUSDM, binance_answer("nobody", BINANCE_RESULT)),
    ("bybit-category-a-list", Venue.BYBIT, '{"topic": "order", "data": [{"category": []}]}'),
    ("bybit-position-category-an-object", Venue.BYBIT, '{"topic": "position", "data": [{"category": {}}]}'),
    ("bybit-data-not-a-list", Venue.BYBIT, '{"topic": "order", "data": {"category": "linear"}}'),
    ("bybit-order-side-unknown", Venue.BYBIT, dumps({"topic": "order", "data": [{**BYBIT_ORDER_PUSH, "side": "Up"}]})),
    ("bybit-inverse-price-overflows", Venue.BYBIT,
     '{"topic": "position", "data": [{"category": "inverse", "symbol": "BTCUSD", "side": "Buy", "size": "1",'
     ' "markPrice": 1e-999999}]}'),
    ("bybit-inverse-order-price-overflows", Venue.BYBIT,
     '{"topic": "order", "data": [{"category": "inverse", "symbol": "BTCUSD", "side": "Buy", "orderId": "1",'
     ' "qty": "1", "price": 1e-999999}]}'),
    ("bybit-position-index-huge", Venue.BYBIT,
     dumps({"topic": "position", "data": [{**BYBIT_POSITION_PUSH, "positionIdx": 7}]})),
    ("bybit-answer-for-no-pending-frame", Venue.BYBIT, bybit_answer("nobody")),
    ("okx-arg-not-an-object", Venue.OKX, '{"arg": "orders", "data": []}'),
    ("okx-unknown-contract", Venue.OKX,
     dumps({"arg": {"channel": "orders"}, "data": [{**OKX_ORDER_PUSH, "instId": "ADA-USDT-SWAP"}]})),
    ("okx-inverse-price-overflows", Venue.OKX,
     '{"arg": {"channel": "orders"}, "data": [{"instType": "SWAP", "instId": "BTC-USD-SWAP", "ordId": "1",'
     ' "side": "buy", "sz": "1", "px": 1e-999999, "state": "live"}]}'),
    ("okx-position-price-overflows", Venue.OKX,
     '{"arg": {"channel": "positions"}, "data": [{"instType": "SWAP", "instId": "BTC-USD-SWAP", "pos": "1",'
     ' "posSide": "net", "markPx": 1e-999999}]}'),
    ("okx-spot-order", Venue.OKX,
     dumps({"arg": {"channel": "orders"}, "data": [{**OKX_ORDER_PUSH, "instType": "SPOT", "instId": "BTC-USDT"}]})),
    ("okx-answer-for-no-pending-frame", Venue.OKX, okx_answer("nobody")),
    ("okx-pong", Venue.OKX, "pong"),
]


@pytest.mark.parametrize(("name", "venue", "text"), GARBAGE, ids=[g[0] for g in GARBAGE])
def test_venue_frame_when_not_understood_then_teaches_nothing_and_never_raises(
    name: str, venue: Venue, text: str
) -> None:
    read = READERS[venue].read_venue(text, session(venue, "acct", Socket.STREAM, private=True))

    assert read.facts.empty
    assert (read.answers, read.login_ok, read.listen_key) == (None, None, None)


# ---- rejections ----------------------------------------------------------------------------------------------

DECISIONS: dict[str, Violation] = {
    "qty-exceeded": Violation.of("max-order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, qty=D("5"), max_qty=D("1"),
                                 symbol="BTCUSDT"),
    "symbol-not-allowed": Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, symbol="DOGEUSDT"),
    "rate-exceeded": Violation.of("order-rate", Reason.ORDER_RATE_EXCEEDED, orders=11, limit=10, window_ms=10000),
    "halted": Violation("riskwall.kill-switch", Reason.TRADING_HALTED, (
        ("state", "HALTED"), ("action", "new"), ("scope", "global"), ("reason", "operator halt"))),
    "parse-failure": Violation.of("riskwall.parse", Reason.PARSE_FAILED, error="quantity is missing"),
    "unknown-endpoint": Violation.of("riskwall.unknown-endpoint", Reason.UNKNOWN_ENDPOINT,
                                     endpoint="WS order.teleport"),
    "price-collar": Violation.of("price-collar", Reason.PRICE_OUTSIDE_COLLAR, price=D("60000"), reference=D("50000"),
                                 deviation_pct=D("20"), max_deviation_pct=D("5"), max_price=D("52500"), side="buy",
                                 price_kind="limit", symbol="BTCUSDT"),
    "margin-mode": Violation.of("margin-mode", Reason.MARGIN_MODE_NOT_ALLOWED, margin_mode="CROSSED",
                                allowed="ISOLATED", action="new", symbol="BTC-USDT-SWAP"),
    "duplicate": Violation.of("duplicates", Reason.DUPLICATE_ORDER, orders=2, limit=1, window_ms=1000, ago_ms=12,
                              duplicate_of="3f2a9c", symbol="BTCUSDT", side="buy", qty=D("0.01"), price=D("41000")),
    "open-orders": Violation.of("open-orders", Reason.OPEN_ORDERS_EXCEED_MAX, open_orders=51, max_open_orders=50,
                                scope="symbol", symbol="BTCUSDT"),
    "daily-notional": Violation.of("daily-notional", Reason.DAILY_NOTIONAL_EXCEEDS_MAX, daily_notional=D("1000100"),
                                   max_daily_notional=D("1000000"), notional=D("5000"), scope="account",
                                   symbol="BTCUSDT"),
    "gross-exposure": Violation.of("gross-exposure", Reason.GROSS_EXPOSURE_EXCEEDS_MAX, gross_exposure=D("260000"),
                                   max_gross_exposure=D("250000"), symbol="BTCUSDT"),
    "equity-unknown": Violation.of("daily-loss", Reason.EQUITY_UNKNOWN, account="0123456789ab",
                                   error="no equity read today: read the balance through the sidecar"),
}

# (name, venue, the frame blocked, None for a frame that could not be read at all)
BLOCKED_FRAMES: list[tuple[str, Venue, str | None]] = [
    ("usdm-text-id", Venue.BINANCEUSDM, binance_frame("order.place", BINANCE_LIMIT, "ccxt-7")),
    ("usdm-number-id", Venue.BINANCEUSDM, binance_frame("order.place", BINANCE_LIMIT, 7)),
    ("usdm-null-id", Venue.BINANCEUSDM, binance_frame("order.place", BINANCE_LIMIT, None)),
    ("usdm-unreadable", Venue.BINANCEUSDM, None),
    ("coinm-text-id", Venue.BINANCECOINM, binance_frame("order.place", COINM_LIMIT, "7")),
    ("coinm-unreadable", Venue.BINANCECOINM, None),
    ("bybit-text-id", Venue.BYBIT, bybit_frame("order.create", [BYBIT_LIMIT], "0e1a5a2c-77b8-4b59")),
    ("bybit-number-id", Venue.BYBIT, bybit_frame("order.create", [BYBIT_LIMIT], 7)),
    ("bybit-no-id", Venue.BYBIT, bybit_frame("order.create", [BYBIT_LIMIT], None)),
    ("bybit-batch", Venue.BYBIT, bybit_frame("order.create-batch", [{"category": "linear", "request": [
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "9"},
        {"symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "1", "orderLinkId": "leg-2"}]}], "b1")),
    ("bybit-unreadable", Venue.BYBIT, None),
    ("okx-text-id", Venue.OKX, okx_frame("order", [OKX_LIMIT], "1512")),
    ("okx-number-id", Venue.OKX, okx_frame("order", [OKX_LIMIT], 1512)),
    ("okx-no-id", Venue.OKX, okx_frame("order", [OKX_LIMIT], None)),
    ("okx-batch-with-ids", Venue.OKX, okx_frame("batch-orders", [
        {**OKX_LIMIT, "clOrdId": "e847386590ce4dBC", "tag": "e847386590ce4dBC"},
        {**OKX_LIMIT, "clOrdId": "c8", "tag": "desk2"}], "b1")),
    ("okx-unreadable", Venue.OKX, None),
]


@pytest.mark.parametrize(("reason", "violation"), DECISIONS.items(), ids=list(DECISIONS))
@pytest.mark.parametrize(("name", "venue", "text"), BLOCKED_FRAMES, ids=[f[0] for f in BLOCKED_FRAMES])
def test_rejection_when_frame_blocked_then_venue_envelope_with_the_rest_code_and_the_id_as_sent(
    name: str, venue: Venue, text: str | None, reason: str, violation: Violation
) -> None:
    learn_okx_codes()
    reader = READERS[venue]
    frame = reader.read_client(text, session(venue, SESSION_ACCOUNTS[venue])) if text is not None else None
    sent = json.loads(text) if text is not None else {}
    decision = blocked(violation)
    rest = orjson.loads(ADAPTERS[venue].rejection(decision).body)

    answer = json.loads(reader.rejection(decision, frame))

    if venue in (Venue.BINANCEUSDM, Venue.BINANCECOINM):
        assert set(answer) == {"id", "status", "error"}
        assert answer["id"] == sent.get("id") and type(answer["id"]) is type(sent.get("id"))
        assert answer["status"] == (429 if violation.reason is Reason.ORDER_RATE_EXCEEDED else 400)
        assert answer["error"] == {"code": rest["code"], "msg": rest["msg"]}
    elif venue is Venue.BYBIT:
        assert ("reqId" in answer) is ("reqId" in sent)  # echoed only when sent, as Bybit does
        assert answer.get("reqId") == sent.get("reqId") and type(answer.get("reqId")) is type(sent.get("reqId"))
        # the codes ccxt takes for a failed login on a socket are answered as an order error (bybit_frames)
        code = rest["retCode"]
        expected = bybit_frames.WS_PERMISSION_CODE if code in bybit_frames.AUTH_CODES else code
        assert (answer["retCode"], answer["retMsg"]) == (expected, rest["retMsg"])
        assert answer["op"] == (frame.op if frame else "")
        assert (answer["header"], answer["connId"]) == ({}, "")
    else:
        assert ("id" in answer) is ("id" in sent)
        assert answer.get("id") == sent.get("id") and type(answer.get("id")) is type(sent.get("id"))
        assert (answer["op"], answer["code"], answer["msg"]) == (frame.op if frame else "", "1", "")
        entries = rest["data"]
        code = entries[0]["sCode"] if entries else rest["code"]
        message = entries[0]["sMsg"] if entries else rest["msg"]
        args = sent.get("args") or [{}]
        assert [(leg["clOrdId"], leg["tag"]) for leg in answer["data"]] == [
            (a.get("clOrdId", ""), a.get("tag", "")) for a in args]
        assert {(leg["sCode"], leg["sMsg"]) for leg in answer["data"]} == {(code, message)}


class RecordingClient:
    """What ccxt.pro's error handlers touch on a connection: its URL, its subscriptions and `reject`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.subscriptions: dict[str, Any] = {}
        self.rejected: list[tuple[Exception, Any]] = []

    def reject(self, error: Exception, message_hash: Any = None) -> None:
        self.rejected.append((error, message_hash))

    def reset(self, error: Any) -> None:  # pragma: no cover - only for 5xx codes, which no block uses
        raise AssertionError(f"ccxt reset the connection: {error}")


# the pre-trade blocks over each venue's order socket, as ccxt.pro reads the answer (the REST code, unchanged)
PRO_CASES = [
    pytest.param(Venue.BINANCEUSDM, reason, violation, cls, id=f"binance-{reason}")
    for reason, violation, cls in (
        (Reason.PRICE_OUTSIDE_COLLAR, DECISIONS["price-collar"], "InvalidOrder"),
        (Reason.MARGIN_MODE_NOT_ALLOWED, DECISIONS["margin-mode"], "BadRequest"),
        (Reason.DUPLICATE_ORDER, DECISIONS["duplicate"], "InvalidOrder"),
        (Reason.OPEN_ORDERS_EXCEED_MAX, DECISIONS["open-orders"], "InvalidOrder"),
        (Reason.DAILY_NOTIONAL_EXCEEDS_MAX, DECISIONS["daily-notional"], "InvalidOrder"),
        (Reason.GROSS_EXPOSURE_EXCEEDS_MAX, DECISIONS["gross-exposure"], "InvalidOrder"),
        (Reason.EQUITY_UNKNOWN, DECISIONS["equity-unknown"], "InvalidOrder"))
] + [
    pytest.param(venue, reason, violation, cls, id=f"{venue}-{reason}")
    for venue in (Venue.BYBIT, Venue.OKX)
    for reason, violation, cls in (
        (Reason.PRICE_OUTSIDE_COLLAR, DECISIONS["price-collar"], "InvalidOrder"),
        (Reason.MARGIN_MODE_NOT_ALLOWED, DECISIONS["margin-mode"], "BadRequest"),
        (Reason.DUPLICATE_ORDER, DECISIONS["duplicate"], "InvalidOrder"),
        (Reason.OPEN_ORDERS_EXCEED_MAX, DECISIONS["open-orders"], "InvalidOrder"),
        (Reason.DAILY_NOTIONAL_EXCEEDS_MAX, DECISIONS["daily-notional"], "InvalidOrder"),
        (Reason.GROSS_EXPOSURE_EXCEEDS_MAX, DECISIONS["gross-exposure"], "InvalidOrder"),
        (Reason.EQUITY_UNKNOWN, DECISIONS["equity-unknown"], "InvalidOrder"))
]


@pytest.mark.parametrize(("venue", "reason", "violation", "expected"), PRO_CASES)
def test_rejection_when_ccxt_pro_reads_a_pretrade_block_then_order_call_fails_with_a_non_auth_error(
    venue: Venue, reason: Reason, violation: Violation, expected: str
) -> None:
    learn_okx_codes()
    text = {Venue.BINANCEUSDM: binance_frame("order.place", BINANCE_LIMIT, "ccxt-7"),
            Venue.BYBIT: bybit_frame("order.create", [BYBIT_LIMIT], "ccxt-7"),
            Venue.OKX: okx_frame("order", [OKX_LIMIT], "ccxt-7")}[venue]
    frame = READERS[venue].read_client(text, session(venue, SESSION_ACCOUNTS[venue]))
    answer = json.loads(READERS[venue].rejection(blocked(violation), frame))
    client = RecordingClient({Venue.BINANCEUSDM: "wss://ws-fapi.binance.com/ws-fapi/v1",
                              Venue.BYBIT: "wss://stream.bybit.com/v5/trade",
                              Venue.OKX: "wss://ws.okx.com:8443/ws/v5/private"}[venue])

    if venue is Venue.BINANCEUSDM:
        ccxt.pro.binanceusdm().handle_ws_error(client, answer)
    elif venue is Venue.BYBIT:
        ccxt.pro.bybit().handle_error_message(client, answer)
    else:
        ccxt.pro.okx().handle_error_message(client, answer)

    # the pending order call (its message hash is the frame's id) fails; the login is never touched
    [(error, message_hash)] = client.rejected
    assert type(error).__name__ == expected and str(reason) in str(error)
    assert not isinstance(error, ccxt.pro.AuthenticationError) and not isinstance(error, ccxt.pro.NetworkError)
    assert message_hash == "ccxt-7"


@pytest.mark.parametrize("venue", list(READERS), ids=str)
def test_rejection_when_ids_and_ops_hold_lone_surrogates_then_still_one_json_frame(venue: Venue) -> None:
    text = {Venue.BYBIT: bybit_frame("order.\ud800", [BYBIT_LIMIT], "\udc00"),
            Venue.OKX: okx_frame("order", [{**OKX_LIMIT, "clOrdId": "\ud800", "tag": "\udfff"}], "\ud800")}.get(
        venue, binance_frame("order.\ud800", BINANCE_LIMIT, "\ud800"))
    frame = READERS[venue].read_client(text, session(venue, "acct"))

    answer = json.loads(READERS[venue].rejection(blocked(DECISIONS["qty-exceeded"]), frame))

    assert answer.get("reqId" if venue is Venue.BYBIT else "id") == frame.request_id


# ---- the ids themselves ------------------------------------------------------------------------------------------


def test_id_key_when_ids_differ_only_in_json_type_or_spelling_then_one_key_and_each_reader_agrees() -> None:
    # a venue that reads ids into one type (OKX documents them as strings) answers `1` and `"1"` under one id: two
    # frames under them must count as one id in flight, never as two whose answers could be swapped
    client_one = USDM_FRAMES.read_client(binance_frame("ping", {}, 1, api_key=None), session(Venue.BINANCEUSDM))
    client_half = USDM_FRAMES.read_client(binance_frame("ping", {}, Raw("1.5"), api_key=None),
                                          session(Venue.BINANCEUSDM))

    assert client_one.request_id == 1 and type(client_one.request_id) is int
    assert client_one.id_key == id_key(1) == id_key("1") == id_key("01") == id_key(1.0) == id_key(D("1.0"))
    assert client_half.id_key == id_key(D("1.5")) == id_key(1.5) == id_key("1.5") == id_key("1.50")
    assert len({id_key(1), id_key(2), id_key("a"), id_key(True), id_key("true"), id_key([1])}) == 6
    assert id_key(None) is None
    # strings are ids as written (ccxt's OKX ids are 17-digit counters: consecutive ones are two ids)
    assert id_key("17966709467750004") != id_key("17966709467750005")


@pytest.mark.parametrize(("first_id", "second_id"), [(1, "1"), ("1", 1), ("7", "07"), (2, 2.0)])
async def test_socket_gate_when_okx_order_goes_under_an_id_a_venue_may_take_for_one_in_flight_then_refused(
    first_id: Any, second_id: Any
) -> None:
    gate = deciding_gate(MemoryStore(), max_qty=100)
    connection = session(Venue.OKX, OKX_ACCOUNT)
    cancel = okx_frame("cancel-order", [{"instId": "BTC-USDT-SWAP", "ordId": OKX_ORDER_ID}], first_id)

    assert (await gate.from_client(connection, cancel)).forward is True
    order = await gate.from_client(connection, okx_frame("order", [OKX_LIMIT], second_id))

    # the venue's refusal of the cancel, echoed under one id, would otherwise be read as the order's
    assert order.forward is False and order.reply is not None


def deciding_gate(store: MemoryStore, max_qty: int) -> SocketGate:
    """A socket gate deciding with the real engine on `store`, under one `max_order_qty` rule."""
    policy = make_policy(f"""
        rules:
          - {{id: qty, type: max_order_qty, default: {max_qty}}}
    """)

    async def decide(parsed: ParsedRequest, decision_id: str) -> tuple[Decision, bool, ParsedRequest]:
        evaluation = await decide_request(parsed, policy, store, decision_id)
        return evaluation.decision, evaluation.reserved, evaluation.parsed or parsed

    return SocketGate(decide, lambda: store, lambda: policy)


@pytest.mark.parametrize(("request_id", "refused"), [
    (42, False),
    ("18446744073709551617", False),  # a string comes back as written
    (9007199254740992, False),  # 2^53: a double holds it
    # past 64 bits, or not whole: held as the double any JSON reader makes of it, which the venue echoes too
    (18446744073709551617, False),
    (Raw("1.00000000000000000001"), False),
    # a whole number kept exact here that a double cannot hold: a venue reading numbers as doubles answers under
    # 9007199254740992, which pairs with nothing (or with another frame's id)
    (9007199254740993, True),
    (-9007199254740993, True),
])
async def test_socket_gate_when_an_order_frames_numeric_id_is_past_a_doubles_precision_then_refused(
    request_id: Any, refused: bool
) -> None:
    gate = deciding_gate(MemoryStore(), max_qty=1)

    outcome = await gate.from_client(session(Venue.BINANCEUSDM), binance_frame("order.place", BINANCE_LIMIT,
                                                                               request_id))

    assert outcome.forward is not refused


async def test_socket_gate_when_order_frame_with_numeric_id_allowed_then_the_venue_answer_is_matched_to_it() -> None:
    gate = deciding_gate(MemoryStore(), max_qty=1)
    connection = session(Venue.BINANCEUSDM)

    outcome = await gate.from_client(connection, binance_frame("order.place", BINANCE_LIMIT, 42))
    waiting = dict(connection.pending)
    await gate.from_venue(connection, binance_answer(42, BINANCE_RESULT))

    assert outcome.forward is True
    assert list(waiting) == [id_key(42)]
    assert connection.pending == {}  # answered by its id 42, not left waiting as an unanswered order


@pytest.mark.parametrize(("op", "args"), [
    ("cancel-order", [{"instIdCode": 987654321, "ordId": "1"}]),
    ("batch-cancel-orders", [{"instIdCode": 987654321, "ordId": "1"}, {"instIdCode": 987654322, "clOrdId": "b"}]),
])
def test_read_client_when_okx_cancel_names_an_unknown_instrument_code_then_still_a_cancel(
    op: str, args: list[dict[str, Any]]
) -> None:
    # cancels always pass: after a restart the codes are unknown until the instruments pass through again
    frame = OKX_FRAMES.read_client(okx_frame(op, args, frame_id="c1"), session(Venue.OKX, OKX_ACCOUNT))

    assert (frame.kind, frame.request.action, frame.request.error) == (FrameKind.ORDER, Action.CANCEL, None)


@pytest.mark.parametrize(("read_for", "status", "equity"), [
    ("0123456789ab", 200, "5000.5"),  # ccxt.pro's fetch_balance_ws: the daily-loss rule's reading, for that account
    (None, 200, None),  # a read whose answer could be another frame's: nothing
    ("0123456789ab", 400, None),
])
def test_venue_answer_when_it_answers_an_account_read_then_its_equity_is_the_reads_accounts(
    read_for: str | None, status: int, equity: str | None,
) -> None:
    conn = session(Venue.BINANCEUSDM, "fedcba987654", equity_reads={'"s1"': read_for})
    result = {"totalMarginBalance": "5000.5", "totalWalletBalance": "5100",
              "assets": [{"asset": "USDT", "marginBalance": "5000.5"}]} if status == 200 else None
    answer = {"id": "s1", "status": status, **({"result": result} if result else {"error": {"code": -1022}})}

    frame = USDM_FRAMES.read_venue(dumps(answer), conn)

    assert [(e.account, str(e.equity)) for e in frame.facts.equity] == ([(read_for, equity)] if equity else [])
    assert frame.facts_account == (read_for if equity else None)
    assert conn.equity_reads == {}
