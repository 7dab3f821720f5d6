"""Property-based fuzzing of the WebSocket frame readers and of the SocketGate that acts on them.

Frames are arbitrary text, or valid frames of each venue mutated the ways a broken or hostile client would: a
value replaced by any JSON value, a key dropped, added or sent twice, a number written as a float or with an
exponent, the operation swapped for another. For every such frame:

- no reader raises: `read_client`, `read_venue` (venue answers and pushes mutated alike) and `rejection`;
- an order-socket frame that could add risk is forwardable only when it was read cleanly: an ORDER frame is
  refused (an error, or no known operation), or each of its intents names a symbol, a side and a Decimal
  quantity (unless it can only reduce or only reprices), held by the connection's own account;
- through `SocketGate.from_client` with a real decision (the engine over a memory store, as the addon decides):
  an unreadable order frame is never forwarded, and every blocked frame is answered with one JSON object.

`make fuzz` (HYPOTHESIS_PROFILE=fuzz) runs the same properties far longer; the default profile keeps them quick.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskwall import engine
from riskwall.decider import decide_request
from riskwall.instruments import CATALOG, Instrument
from riskwall.model import Action, Decision, ParsedRequest, Reason, Venue, Verdict, Violation, fingerprint
from riskwall.policy.loader import Policy, load_policy
from riskwall.policy.model import PolicyMode
from riskwall.sockets import SocketGate
from riskwall.state.base import StateView
from riskwall.state.memory import MemoryStore
from riskwall.venues import adapter_for
from riskwall.venues.base import Socket
from riskwall.venues.binance_frames import COINM_FRAMES, USDM_FRAMES
from riskwall.venues.bybit_frames import BYBIT_FRAMES
from riskwall.venues.frames import ClientFrame, FrameKind, FrameReader, PendingFrame, Session, id_key
from riskwall.venues.okx_frames import OKX_FRAMES

ACCOUNT = "0123456789ab"
KEY = "fuzz-api-key-0001"
READERS: dict[Venue, FrameReader] = {Venue.BINANCEUSDM: USDM_FRAMES, Venue.BINANCECOINM: COINM_FRAMES,
                                     Venue.BYBIT: BYBIT_FRAMES, Venue.OKX: OKX_FRAMES}
OPEN_POLICY = Policy(rules=(), accounts={}, mode=PolicyMode.ENFORCE, revision="fuzz", sources=())
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", autouse=True)
def learned_codes() -> Iterator[None]:
    """OKX orders name instruments by code (ccxt sends nothing else): two are known, so fuzzing reaches past it."""
    CATALOG.learn((Instrument(Venue.OKX, "BTC-USDT-SWAP", "BTC/USDT:USDT", Decimal("0.01"), code=10459),
                   Instrument(Venue.OKX, "BTC-USD-SWAP", "BTC/USD:BTC", Decimal("100"), quote_sized=True, code=10460)))
    yield
    CATALOG.clear()


# ---- JSON written any way ------------------------------------------------------------------------------------


class Raw(str):
    """A JSON number written exactly so: the exponents and digit runs no Python float prints."""


class Twice(dict[str, Any]):
    """A JSON object written with one of its keys a second time (`extra`), after the others."""

    extra: tuple[str, Any]


def write(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        pairs = list(value.items())
        if isinstance(value, Twice):
            pairs.append(value.extra)
        return "{" + ",".join(f"{json.dumps(key)}:{write(item)}" for key, item in pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(write(item) for item in value) + "]"
    return json.dumps(value)


FIELDS = ["symbol", "side", "type", "quantity", "price", "reduceOnly", "closePosition", "positionSide", "stopPrice",
          "triggerPrice", "category", "qty", "orderType", "positionIdx", "request", "instId", "instIdCode", "tdMode",
          "sz", "px", "ordType", "posSide", "newSz", "apiKey", "id", "reqId", "req_id", "op", "method", "params",
          "args", "batchOrders", "tgtCcy", "clOrdId", "tag", "header"]
RAW_NUMBERS = st.sampled_from(["1e3", "1E-7", "1.5e2", "-0", "-1", "0.5", "2", "1e999999999", "1e-999999999",
                               "0.000000000000000000000000001", "123456789012345678901234567890", "0E+30", "10459",
                               "10459.0", "1e400", "-1e-400", "100000000000000000000000"]).map(Raw)
NUMBER_TEXT = st.sampled_from(["0", "-1", "1e3", "NaN", "Infinity", "0x10", "１２", "", " 1", "1.", ".5", "+1",
                               "1,5", "true", "TRUE", "false", "null", "BUY", "Sell", "LIMIT", "market", "linear",
                               "BTCUSDT", "BTC-USDT-SWAP", "BTCUSD_PERP", "\ud800", "order.place", "order.create"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=16),
                    NUMBER_TEXT, RAW_NUMBERS)
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5)), max_leaves=10)


# ---- valid frames of each venue, to mutate -------------------------------------------------------------------

SIGNED: dict[str, Any] = {"apiKey": KEY, "timestamp": Raw("1700000000000"), "signature": "ab" * 32}
type Frames = list[dict[str, Any]]

BINANCE_CLIENT: Frames = [
    {"id": "1", "method": "order.place", "params": {**SIGNED, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                                                     "timeInForce": "GTC", "quantity": "0.5", "price": "50000"}},
    {"id": 2, "method": "order.place", "params": {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET",
                                                   "quantity": "3", "reduceOnly": "true", "timestamp": 1}},
    {"id": "3", "method": "order.modify", "params": {**SIGNED, "symbol": "BTCUSDT", "side": "BUY", "orderId": "1",
                                                      "quantity": "0.1", "price": "49000"}},
    {"id": "4", "method": "order.cancel", "params": {**SIGNED, "symbol": "BTCUSDT", "orderId": "1"}},
    {"id": "5", "method": "algoOrder.place", "params": {**SIGNED, "algoType": "CONDITIONAL", "symbol": "BTCUSDT",
                                                         "side": "SELL", "type": "STOP_MARKET",
                                                         "triggerPrice": "45000", "quantity": "0.2"}},
    {"id": "6", "method": "order.place", "params": {**SIGNED, "symbol": "BTCUSDT", "side": "SELL",
                                                     "type": "STOP_MARKET", "stopPrice": "45000",
                                                     "closePosition": "true"}},
    {"id": "7", "method": "session.logon", "params": SIGNED},
    {"id": "8", "method": "v2/account.position", "params": SIGNED},
    {"id": 9, "method": "ping"},
]
COINM_CLIENT: Frames = [
    {"id": "1", "method": "order.place", "params": {**SIGNED, "symbol": "BTCUSD_PERP", "side": "BUY",
                                                     "type": "LIMIT", "timeInForce": "GTC", "quantity": "2",
                                                     "price": "50000"}},
    {"id": "2", "method": "order.place", "params": {**SIGNED, "symbol": "ETHUSD_PERP", "side": "SELL",
                                                     "type": "MARKET", "quantity": "5", "reduceOnly": "true"}},
    {"id": "3", "method": "order.modify", "params": {**SIGNED, "symbol": "BTCUSD_PERP", "side": "SELL",
                                                      "orderId": "1", "quantity": "3", "price": "60000"}},
]
LINEAR = {"category": "linear", "symbol": "BTCUSDT"}
HEADER = {"X-BAPI-TIMESTAMP": "1700000000000", "X-BAPI-RECV-WINDOW": "5000"}
BYBIT_CLIENT: Frames = [
    {"reqId": "1", "header": HEADER, "op": "order.create", "args": [
        {**LINEAR, "side": "Buy", "orderType": "Limit", "qty": "0.5", "price": "50000", "timeInForce": "GTC"}]},
    {"reqId": 2, "header": HEADER, "op": "order.create", "args": [
        {"category": "inverse", "symbol": "BTCUSD", "side": "Sell", "orderType": "Limit", "qty": "1000",
         "price": "50000", "positionIdx": Raw("2")}]},
    {"reqId": "3", "header": HEADER, "op": "order.create-batch", "args": [{"category": "linear", "request": [
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.1"},
        {"symbol": "ETHUSDT", "side": "Sell", "orderType": "Market", "qty": "0", "reduceOnly": True}]}]},
    {"reqId": "4", "header": HEADER, "op": "order.amend", "args": [{**LINEAR, "orderId": "abc-1", "qty": "0.3"}]},
    {"reqId": "5", "header": HEADER, "op": "order.cancel", "args": [{**LINEAR, "orderId": "abc-1"}]},
    {"op": "auth", "args": [KEY, Raw("1700000010000"), "ab" * 32]},
    {"req_id": "6", "op": "subscribe", "args": ["order", "position"]},
    {"req_id": "7", "op": "ping"},
]
SWAP = {"instId": "BTC-USDT-SWAP", "tdMode": "cross"}
OKX_CLIENT: Frames = [
    {"id": "1", "op": "order", "args": [{**SWAP, "side": "buy", "ordType": "limit", "sz": "2", "px": "50000"}]},
    {"id": "2", "op": "batch-orders", "args": [
        {"instIdCode": Raw("10459"), "tdMode": "cross", "side": "buy", "ordType": "market", "sz": "1",
         "clOrdId": "c1", "tag": "t1"},
        {"instIdCode": Raw("10460"), "tdMode": "cross", "side": "sell", "ordType": "limit", "sz": "3",
         "px": "50000", "reduceOnly": True}]},
    {"id": "3", "op": "amend-order", "args": [{"instIdCode": Raw("10459"), "ordId": "1", "newSz": "5"}]},
    {"id": "4", "op": "cancel-order", "args": [{**SWAP, "ordId": "1"}]},
    {"id": "5", "op": "mass-cancel", "args": [{"instType": "SWAP", "instFamily": "BTC-USDT"}]},
    {"op": "login", "args": [{"apiKey": KEY, "passphrase": "p", "timestamp": "1700000000", "sign": "s"}]},
    {"id": "6", "op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP"}]},
]
CLIENT_FRAMES: dict[Venue, Frames] = {
    Venue.BINANCEUSDM: BINANCE_CLIENT, Venue.BINANCECOINM: COINM_CLIENT, Venue.BYBIT: BYBIT_CLIENT,
    Venue.OKX: OKX_CLIENT,
}
OPS: dict[Venue, list[str]] = {
    Venue.BINANCEUSDM: ["order.place", "order.modify", "order.cancel", "algoOrder.place", "algoOrder.cancel",
                        "order.status", "v2/account.position", "v2/order.place", "v1/order.status", "session.logon",
                        "session.logout", "order.test", "userDataStream.start", "ping", "SUBSCRIBE", "batchOrders",
                        "order.place ", "ORDER.PLACE", ""],
    Venue.BYBIT: ["order.create", "order.amend", "order.cancel", "order.create-batch", "order.amend-batch",
                  "order.cancel-batch", "auth", "ping", "pong", "subscribe", "order.Create", "order.create.x", ""],
    Venue.OKX: ["order", "batch-orders", "amend-order", "batch-amend-orders", "cancel-order", "batch-cancel-orders",
                "mass-cancel", "login", "subscribe", "unsubscribe", "order-algo", "Order", ""],
}
OPS[Venue.BINANCECOINM] = OPS[Venue.BINANCEUSDM]
OP_KEYS = {Venue.BINANCEUSDM: "method", Venue.BINANCECOINM: "method", Venue.BYBIT: "op", Venue.OKX: "op"}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value a mutation can reach: keys of objects, indexes of lists."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy(item) for item in value]
    return value


def at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@st.composite
def mutated(draw: st.DrawFn, frames: list[dict[str, Any]], ops: list[str], op_key: str) -> str:
    """One of `frames`, changed up to three times (mostly in the order's own fields), written as text."""
    frame = copy(draw(st.sampled_from(frames)))
    for _ in range(draw(st.integers(0, 3))):
        everywhere = paths(frame)
        deep = [p for p in everywhere if len(p) >= 2] or everywhere
        where = draw(st.sampled_from(deep if draw(st.integers(0, 3)) else everywhere))
        kind = draw(st.sampled_from(["replace", "number", "drop", "add", "twice", "op"]))
        if kind == "op":
            if isinstance(frame, dict):
                frame[op_key] = draw(st.sampled_from(ops))
            continue
        if not where:
            if kind == "replace":
                frame = draw(JSONISH)
            continue
        parent, last = at(frame, where[:-1]), where[-1]
        if kind == "replace":
            parent[last] = draw(JSONISH)
        elif kind == "number":
            parent[last] = draw(RAW_NUMBERS)
        elif kind == "drop":
            del parent[last]
        elif kind == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(FIELDS))] = draw(JSONISH)
        elif kind == "add":
            parent.append(draw(JSONISH))
        elif kind == "twice" and isinstance(parent, dict):
            twice = Twice(parent)
            twice.extra = (last, draw(JSONISH))
            if len(where) == 1:
                frame = twice
            else:
                at(frame, where[:-2])[where[-2]] = twice
    return write(frame)


@st.composite
def client_texts(draw: st.DrawFn, venue: Venue) -> str:
    """Mostly mutated frames (they reach the REST parsers behind the readers), sometimes anything at all."""
    pick = draw(st.sampled_from(["text", "odd", "json", *["frame"] * 7]))
    if pick == "text":
        return draw(st.text(max_size=80))
    if pick == "odd":
        return draw(st.sampled_from(["", "ping", "pong", "null", "[]", "{}", "{", '{"id":1}',
                                     "[" * 3000 + "]" * 3000]))
    if pick == "json":
        return write(draw(JSONISH))
    return draw(mutated(CLIENT_FRAMES[venue], OPS[venue], OP_KEYS[venue]))


def connection(venue: Venue, account: str | None = ACCOUNT) -> Session:
    return Session(venue, Socket.ORDERS, "GET /fuzz", account=account)


VIOLATIONS = [
    Violation.of("max-order-qty", Reason.ORDER_QTY_EXCEEDS_MAX, qty=Decimal("5"), max_qty=Decimal("1")),
    Violation.of("allowed-symbols", Reason.SYMBOL_NOT_ALLOWED, symbol="DOGEUSDT"),
    Violation.of("order-rate", Reason.ORDER_RATE_EXCEEDED, orders=11, limit=10, window_ms=10000),
    Violation("riskwall.kill-switch", Reason.TRADING_HALTED, (("state", "HALTED"), ("action", "new"))),
    Violation.of("riskwall.parse", Reason.PARSE_FAILED, error="x"),
    Violation.of("riskwall.unknown-endpoint", Reason.UNKNOWN_ENDPOINT, endpoint="WS x"),
]


def assert_one_json_object(reply: str) -> dict[str, Any]:
    answer = json.loads(reply)
    assert isinstance(answer, dict)
    return answer


def verdict(parsed: ParsedRequest) -> Verdict:
    return engine.conclude(engine.plan(parsed, OPEN_POLICY, StateView(), "fuzz"), OPEN_POLICY, None).verdict


def assert_cleanly_read_or_refused(frame: ClientFrame, session: Session, venue: Venue) -> None:
    """An ORDER frame is refused, or every intent of an order that could add risk is complete, once completed
    with what the store knows (here nothing: an intent its adapter cannot complete without it is refused)."""
    request = engine.resolve(frame.request, StateView())
    if frame.kind is not FrameKind.ORDER:
        assert request.action is Action.READ and request.error is None
        return
    if request.error is not None or request.action is Action.UNKNOWN:
        assert verdict(request) is Verdict.BLOCK
        return
    if venue in (Venue.BYBIT, Venue.OKX):  # no signature in the frame: the login's account, or none
        assert request.account == session.account
    assert all(i.account == request.account and i.endpoint == f"WS {frame.op}" for i in request.intents)
    for intent in request.intents:
        for amount in (intent.quantity, intent.price, intent.trigger_price):
            assert amount is None or (type(amount) is Decimal and amount.is_finite() and amount >= 0)
    if request.action is Action.NEW:
        assert request.intents
        for intent in request.intents:
            assert intent.symbol and intent.side is not None
            # only a close-position order or one that can only reduce goes without a size in base units
            assert intent.quantity is not None or intent.close_position or intent.only_reduces
            assert intent.quantity is None or intent.quantity > 0 or intent.close_position
    if request.action is Action.AMEND:
        assert request.intents
        assert all(intent.symbol for intent in request.intents)  # the size may stay, only the price change


# ---- (a) no reader raises, (b) nothing unread forwards -------------------------------------------------------


@pytest.mark.parametrize("venue", list(READERS), ids=str)
@FUZZ
@given(data=st.data())
def test_read_client_when_frame_fuzzed_then_never_raises_and_only_clean_orders_may_pass(
    venue: Venue, data: st.DataObject
) -> None:
    reader = READERS[venue]
    account = data.draw(st.sampled_from([ACCOUNT, None]))
    session = connection(venue, account)
    text = data.draw(client_texts(venue))

    frame = reader.read_client(text, session)

    assert_cleanly_read_or_refused(frame, session, venue)
    if frame.kind is FrameKind.LOGIN:
        # a login binds a fingerprint (12 hex digits), and keeps no key
        assert frame.login_account is not None and re.fullmatch(r"[0-9a-f]{12}", frame.login_account)
        assert KEY not in repr(frame)
    if venue in (Venue.BINANCEUSDM, Venue.BINANCECOINM):
        assert KEY not in repr(frame)  # a signed frame's apiKey is fingerprinted, never kept in its REST request
    for violation in VIOLATIONS:
        decision = Decision(Verdict.BLOCK, "fuzz", "rev", (violation,))
        answer = assert_one_json_object(reader.rejection(decision, frame))
        id_name = "reqId" if venue is Venue.BYBIT else "id"
        if frame.request_id is not None and not _has_nan(frame.request_id):
            assert answer[id_name] == frame.request_id
    assert_one_json_object(reader.rejection(Decision(Verdict.BLOCK, "fuzz", "rev", (VIOLATIONS[0],)), None))


def _has_nan(value: Any) -> bool:
    """NaN never equals itself, and orjson writes inf as null: such ids are not compared."""
    if isinstance(value, float):
        return math.isnan(value) or math.isinf(value)
    if isinstance(value, list):
        return any(_has_nan(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nan(item) for item in value.values())
    return False


BINANCE_RESULT: dict[str, Any] = {
    "orderId": 325078477, "symbol": "BTCUSDT", "status": "NEW", "price": "50000", "avgPrice": "0", "origQty": "0.5",
    "executedQty": "0", "type": "LIMIT", "side": "BUY", "positionSide": "BOTH",
}
ORDER_TRADE_UPDATE: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "o": {
    "s": "BTCUSDT", "S": "BUY", "q": "0.5", "z": "0.2", "ap": "50000", "X": "PARTIALLY_FILLED", "i": 1, "ps": "BOTH",
    "R": False, "cp": False}}
ACCOUNT_UPDATE = {"e": "ACCOUNT_UPDATE", "a": {"m": "ORDER", "P": [{"s": "BTCUSDT", "pa": "-0.3", "ep": "50000",
                                                                  "ps": "BOTH"}]}}
BINANCE_VENUE: Frames = [
    {"id": "1", "status": 200, "result": BINANCE_RESULT},
    {"id": "1", "status": 400, "error": {"code": -2019, "msg": "Margin is insufficient."}},
    {"id": "9", "status": 200, "result": {"apiKey": KEY}},
    {"id": "2", "status": 200, "result": {"listenKey": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81"}},
    ORDER_TRADE_UPDATE, ACCOUNT_UPDATE,
    {"stream": "k", "data": ORDER_TRADE_UPDATE}, {"subscriptionId": 0, "event": ACCOUNT_UPDATE},
]
COINM_VENUE: Frames = [
    {"id": "1", "status": 200, "result": {**BINANCE_RESULT, "symbol": "BTCUSD_PERP", "origQty": "2"}},
    {"e": "ORDER_TRADE_UPDATE", "o": {**ORDER_TRADE_UPDATE["o"], "s": "BTCUSD_PERP", "q": "2", "z": "1"}},
    {"e": "ACCOUNT_UPDATE", "a": {"P": [{"s": "BTCUSD_PERP", "pa": "-3", "ep": "60000", "ps": "BOTH"}]}},
]
BYBIT_ORDER = {"category": "linear", "symbol": "BTCUSDT", "orderId": "abc-1", "side": "Buy", "positionIdx": 0,
               "orderStatus": "PartiallyFilled", "qty": "0.5", "cumExecQty": "0.2", "reduceOnly": False}
BYBIT_VENUE: Frames = [
    {"reqId": "1", "retCode": 0, "retMsg": "OK", "op": "order.create", "data": {"orderId": "abc-1",
                                                                                "orderLinkId": ""},
     "retExtInfo": {}, "header": {}, "connId": "c"},
    {"retCode": 0, "retMsg": "OK", "op": "auth", "connId": "c"},
    {"req_id": "9", "success": True, "ret_msg": "", "op": "auth", "conn_id": "c"},
    {"topic": "order", "data": [BYBIT_ORDER]},
    {"topic": "position", "data": [{"category": "inverse", "symbol": "BTCUSD", "side": "Sell", "size": "1000",
                                    "positionIdx": 0, "markPrice": "50000"}]},
]
OKX_VENUE: Frames = [
    {"id": "1", "op": "order", "code": "0", "msg": "", "data": [{"ordId": "1", "clOrdId": "", "tag": "",
                                                                 "sCode": "0", "sMsg": ""}]},
    {"event": "login", "code": "0", "msg": "", "connId": "c"},
    {"event": "error", "code": "60009", "msg": "Login failed."},
    {"arg": {"channel": "orders", "instType": "SWAP"}, "data": [
        {"instType": "SWAP", "instId": "BTC-USD-SWAP", "ordId": "1", "side": "buy", "sz": "2", "px": "50000",
         "accFillSz": "1", "state": "partially_filled"}]},
    {"arg": {"channel": "positions"}, "data": [{"instType": "SWAP", "instId": "BTC-USDT-SWAP", "pos": "-3",
                                                "posSide": "net", "markPx": "50000"}]},
]
VENUE_FRAMES: dict[Venue, Frames] = {
    Venue.BINANCEUSDM: BINANCE_VENUE, Venue.BINANCECOINM: COINM_VENUE, Venue.BYBIT: BYBIT_VENUE, Venue.OKX: OKX_VENUE,
}
VENUE_OPS: dict[Venue, list[str]] = {
    Venue.BINANCEUSDM: [], Venue.BINANCECOINM: [], Venue.BYBIT: ["auth", "order.create", "order.amend"],
    Venue.OKX: ["login", "order", "batch-orders"],
}


def waiting_session(venue: Venue) -> Session:
    """A connection with an order frame (id "1") waiting for its answer, a login and a listen key pending."""
    session = connection(venue)
    text = write(CLIENT_FRAMES[venue][0])
    frame = READERS[venue].read_client(text, session)
    assert frame.rest is not None and frame.id_key is not None, frame
    session.expect(frame.id_key, PendingFrame("fuzz", frame.request, frame.rest, True))
    session.pending_login, session.pending_login_id = fingerprint(KEY), id_key("9")
    session.listen_requests[id_key("2") or ""] = ACCOUNT
    return session


@pytest.mark.parametrize("venue", list(READERS), ids=str)
@FUZZ
@given(data=st.data())
def test_read_venue_when_answer_or_push_fuzzed_then_never_raises_and_facts_are_decimals(
    venue: Venue, data: st.DataObject
) -> None:
    session = waiting_session(venue)
    key = data.draw(st.sampled_from(["op", "id", "e"]))
    text = data.draw(st.one_of(st.text(max_size=80), JSONISH.map(write), mutated(VENUE_FRAMES[venue],
                                                                                 VENUE_OPS[venue] or ["x"], key)))

    read = READERS[venue].read_venue(text, session)

    for order in read.facts.orders:
        assert order.account == ACCOUNT
        assert type(order.original) is Decimal and type(order.executed) is Decimal
    for report in read.facts.positions:
        assert report.account == ACCOUNT and all(type(row[2]) is Decimal for row in report.positions)
    if read.answers is not None:
        pending = session.pending[read.answers]
        # what the venue answered is handed to the REST adapter's learner as that endpoint's answer
        adapter_for(venue).parse_response(pending.parsed, pending.rest, read.status or 0, read.rest_body, "fuzz")


# ---- (c) through the gate, with a real decision --------------------------------------------------------------

def gate_policy() -> Policy:
    """Limits that let small orders through and block large ones, loaded as a policy file is."""
    with tempfile.TemporaryDirectory(prefix="riskwall-fuzz-") as folder:
        path = Path(folder) / "policy.yaml"
        path.write_text(f"accounts:\n  main:\n    fingerprints: ['{ACCOUNT}', '{fingerprint(KEY)}']\nrules:\n"
                        "  - {id: qty, type: max_order_qty, default: 1}\n"
                        "  - {id: notional, type: max_order_notional, default: 100000, on_price_unknown: allow}\n",
                        encoding="utf-8")
        return load_policy(path)


GATE_POLICY = gate_policy()


@pytest.mark.parametrize("venue", list(READERS), ids=str)
@FUZZ
@given(data=st.data())
def test_socket_gate_when_frame_fuzzed_then_unreadable_orders_never_forward_and_blocks_answer_json(
    venue: Venue, data: st.DataObject
) -> None:
    texts = data.draw(st.lists(st.one_of(client_texts(venue), st.none()), min_size=1, max_size=4))
    store = MemoryStore()

    async def decide(parsed: ParsedRequest, decision_id: str) -> tuple[Decision, bool, ParsedRequest]:
        evaluation = await decide_request(parsed, GATE_POLICY, store, decision_id)
        return evaluation.decision, evaluation.reserved, evaluation.parsed or parsed

    async def run() -> None:
        gate = SocketGate(decide, lambda: store, lambda: GATE_POLICY)
        gate.deadline_s = 5.0  # a slow CI machine must not turn a decision into a timeout
        session = connection(venue)
        for text in texts:
            # readers hold no state: the gate reads the frame exactly as this copy of its session does
            shadow = Session(venue, session.socket, session.endpoint, account=session.account)
            expected = READERS[venue].read_client(text, shadow) if text is not None else None
            outcome = await gate.from_client(session, text)
            unreadable = expected is None or (expected.kind is FrameKind.ORDER and (
                expected.request.error is not None or expected.request.action is Action.UNKNOWN))
            if unreadable:
                assert outcome.forward is False, text
            if not outcome.forward:
                assert outcome.reply is not None
                assert_one_json_object(outcome.reply)
                assert outcome.decision is not None and outcome.decision.verdict is Verdict.BLOCK
            elif outcome.decision is not None:
                assert outcome.decision.verdict is Verdict.ALLOW

    asyncio.run(run())
