"""A fake of Bybit v5's WebSocket endpoints (`/v5/trade`, `/v5/private`, `/v5/public/linear|inverse`) for tests.

Why it exists: Bybit takes orders on an authenticated socket (`/v5/trade`: ops `order.create`, `order.amend`,
`order.cancel` and their `-batch` forms, none of them signed — the socket's `auth` is the only identity) and
reports fills and positions on another (`/v5/private`), so the firewall must police every client frame on the
first and may learn positions from the second. Its tests need real, unmodified clients (ccxt.pro `bybit`, pybit's
`WebSocketTrading` and private `WebSocket`) talking to something that answers like Bybit (shapes from
docs/venues.md §3.7, §3.8 and Bybit's docs, bybit-exchange/docs 072c197 `websocket/
wss-authentication.mdx`, `websocket/trade/guideline.mdx`, `websocket/private/{order,execution,position}.mdx`,
`websocket/public/ticker.mdx`) and shares the REST fake's book: an order placed over the socket is visible to a
REST poll, and a REST order, a REST fill or the test's `fill_order()` is pushed to stream subscribers.

It is served by `FakeBybit` on its own port (`FakeBybit.ws_session` hands every handshake to the hub here; the
server in tests/fakes/server.py does the sockets and records every client message in `fake.ws_frames`). Order ops
run the REST fake's own route handlers (`_create`, `_amend`, `_cancel`, `_create_batch`, `_amend_batch`,
`_cancel_batch`), so a WS answer carries exactly the `retCode`/`retMsg` (and batch `retExtInfo`) REST would.

What it does:
- `auth` (trade and private) verifies `args = [apiKey, expires(ms), signature]`, signature =
  hex(HMAC-SHA256(secret, "GET/realtime" + expires as sent)) and `expires` in the future. Trade answers
  `{"reqId"?, "retCode": 0, "retMsg": "OK", "op": "auth", "connId"}`, refusals 10001 "Params Error" (malformed
  or expired), 10003 (unknown key), 10004 (bad signature), 20001 (repeat auth). Private answers
  `{"req_id"?, "success": true|false, "ret_msg": ""|reason, "op": "auth", "conn_id"}`.
- Trade order ops answer `{"reqId"?, "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"}`;
  `data` is the REST `result` (`{}` on an error), `retExtInfo` `{}` or the batch's per-leg `{"list": [...]}`,
  `header` `X-Bapi-Limit`, `X-Bapi-Limit-Status`, `X-Bapi-Limit-Reset-Timestamp`, `Traceid`, `Timenow`. Checked
  first, in this order: authenticated, `reqId` unused on the socket (20006), `header.X-BAPI-TIMESTAMP` present
  and within `X-BAPI-RECV-WINDOW` (default 5000) as REST checks it (10002), `args` one object (10001). `reqId`
  is echoed only if sent, with its JSON type.
- `ping`: trade `{"retCode": 0, "retMsg": "OK", "op": "pong", "data": ["<ms>"], "connId"}`; private
  `{"req_id"?, "op": "pong", "args": ["<ms>"], "conn_id"}`; public `{"success": true, "ret_msg": "pong",
  "conn_id", "req_id": <sent or "">, "op": "ping"}`.
- Private topics `order`, `execution`, `execution.fast`, `position` (and categorised `order.linear` etc.; the two
  forms cannot share one request), also `wallet`, `greeks`, `dcp` (acknowledged, never pushed). Pushes
  `{"id", "topic": <as subscribed>, "creationTime", "data": [...]}` on every change, no snapshot on subscribe
  (Bybit sends none): `order` = the REST order row + `category`; `execution` one row per fill (`execQty` this
  fill, `execPrice`, `execId`, `execType` "Trade", `leavesQty`, `closedSize`, `isMaker`, `seq`); `position` =
  the REST position row with `entryPrice` for `avgPrice` (absolute `size`, `side` "" when flat, `positionIdx`),
  sent for every create/amend/cancel too, as Bybit does.
- Public `tickers.<SYMBOL>` on `/v5/public/linear` and `/inverse`: acknowledged, then a `snapshot` and
  `PUBLIC_BURST - 1` `delta` pushes at once, and one `delta` per `fake.set_mark_price()`.

Choices where Bybit's behaviour is undocumented or unverified here (**UNCONFIRMED**): an order op before `auth`
answers 10007 "User authentication failed."; private auth failures use the trade stream's reasons as `ret_msg`;
a private subscribe before auth answers `success: false, ret_msg: "Request not authorized"` (the text other
Bybit clients report); an unknown op on `/v5/trade` answers 10404 "op type is not found" (the documented code);
an unknown or mixed topic answers `success: false, ret_msg: "error:handler not found,topic:<t>"`; a frame that
is not a JSON object answers trade 10001 "Params Error" (`op` "") and stream `success: false`.

Test controls (`ws_hub(fake)`): `sessions()`, `disconnect_all()`, `push_raw(text, endpoint)`, and
`script_reply(reply)`, which answers the next order op with a given frame instead of executing it (how a test
measures what a client does with an error envelope a firewall would inject), or with nothing when `reply` is a
function that returns None (the request stays pending; a test answers it later with `push_raw`).

Usage:
    with FakeBybit() as fake:
        url = ws_url(fake, "trade")             # ws://127.0.0.1:PORT/v5/trade (wss:// with tls=)
        ...                                      # a client sends auth, then {"op": "order.create", ...}
        assert [m["op"] for m in ws_order_frames(fake)] == ["order.create"]
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.fakes.bybit import (
    INSTRUMENTS,
    BybitError,
    FakeBybit,
    InstrumentSpec,
    _Account,
    _Call,
    _fmt,
    _Order,
    _plain,
    _Position,
    _WithExt,
)
from tests.fakes.server import WsPeer
from tests.fakes.ws_hub import PushHub

__all__ = [
    "ENDPOINTS",
    "ORDER_OPS",
    "PRIVATE_TOPICS",
    "PUBLIC_BURST",
    "BybitWsHub",
    "SessionInfo",
    "auth_signature",
    "ws_base_url",
    "ws_hub",
    "ws_messages",
    "ws_order_frames",
    "ws_url",
]

ENDPOINTS = {"/v5/trade": "trade", "/v5/private": "private", "/v5/public/linear": "linear",
             "/v5/public/inverse": "inverse"}

# Ops that create, change or cancel orders: what a firewall must see before the venue does.
ORDER_OPS = frozenset({"order.create", "order.amend", "order.cancel", "order.create-batch", "order.amend-batch",
                       "order.cancel-batch"})
_HANDLERS: dict[str, Callable[[FakeBybit, _Call], Any]] = {
    "order.create": FakeBybit._create, "order.amend": FakeBybit._amend, "order.cancel": FakeBybit._cancel,
    "order.create-batch": FakeBybit._create_batch, "order.amend-batch": FakeBybit._amend_batch,
    "order.cancel-batch": FakeBybit._cancel_batch,
}

# All-in-one private topics and the categories their categorised forms take (`order.linear`, ...).
PRIVATE_TOPICS: dict[str, tuple[str, ...]] = {
    "order": ("spot", "linear", "inverse", "option"),
    "execution": ("spot", "linear", "inverse", "option"),
    "execution.fast": ("spot", "linear", "inverse", "option"),
    "position": ("linear", "inverse", "option"),
    "wallet": (), "greeks": (), "dcp": (),
}
_TOPIC_BASE = {topic: topic for topic in PRIVATE_TOPICS} | {
    f"{topic}.{category}": topic for topic, categories in PRIVATE_TOPICS.items() for category in categories}

PUBLIC_BURST = 3  # ticker pushes a public subscription gets at once, so a test sees data flow without waiting
_AUTH_PATH = "GET/realtime"
_RECV_WINDOW_MS = 5000


def auth_signature(expires: int | str, secret: str) -> str:
    """The signature of Bybit's WebSocket `auth`: hex HMAC-SHA256 of "GET/realtime" + expires (as sent)."""
    return hmac.new(secret.encode(), f"{_AUTH_PATH}{expires}".encode(), hashlib.sha256).hexdigest()


def ws_base_url(fake: FakeBybit) -> str:
    """`ws://127.0.0.1:PORT` (`wss://` when the fake serves TLS): every endpoint is a path on it."""
    return f"{'wss' if fake.scheme == 'https' else 'ws'}://127.0.0.1:{fake.port}"


def ws_url(fake: FakeBybit, endpoint: str = "trade") -> str:
    paths = {name: path for path, name in ENDPOINTS.items()}
    if endpoint not in paths:
        raise ValueError(f"the fake serves {sorted(paths)}, not {endpoint!r}")
    return ws_base_url(fake) + paths[endpoint]


def ws_messages(fake: FakeBybit, endpoint: str | None = None) -> list[dict[str, Any]]:
    """Client messages that were JSON objects, parsed, in arrival order (garbage left out)."""
    found = []
    for frame in list(fake.ws_frames):
        if endpoint is not None and ENDPOINTS.get(frame.path.partition("?")[0]) != endpoint:
            continue
        try:
            message = json.loads(frame.text)
        except ValueError:
            continue
        if isinstance(message, dict):
            found.append(message)
    return found


def ws_order_frames(fake: FakeBybit) -> list[dict[str, Any]]:
    """Client messages carrying an order op (what a firewall must have judged before the venue saw it)."""
    return [m for m in ws_messages(fake) if m.get("op") in ORDER_OPS]


def ws_hub(fake: FakeBybit) -> BybitWsHub:
    """The fake's WebSocket hub, attached on first use (FakeBybit publishes state changes to it)."""
    with fake._lock:
        if fake._ws_hub is None:
            fake._ws_hub = BybitWsHub(fake)
        hub: BybitWsHub = fake._ws_hub
        return hub


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One open socket as the fake sees it, for assertions."""

    endpoint: str
    path: str
    conn_id: str
    api_key: str | None
    topics: tuple[str, ...]


Reply = dict[str, Any] | str | Callable[[dict[str, Any]], "dict[str, Any] | str | None"]


def _derivative_category(symbol: str) -> str:
    return "linear" if ("linear", symbol) in INSTRUMENTS else "inverse"


class BybitWsHub(PushHub["_Session", Reply]):
    """Every socket of one FakeBybit: sessions, their subscriptions, and the pushes waiting to leave.

    Lock order: the fake's lock, then the hub's. Pushes are formatted under the fake's lock (a consistent
    state) and queued; `flush` sends them in queue order without holding the fake's lock, so a slow reader
    never stalls the REST side.
    """

    def __init__(self, fake: FakeBybit) -> None:
        super().__init__(fake)
        self._conn_ids = itertools.count(1)
        self._exec_ids = itertools.count(1)
        self._seq = itertools.count(140_612_148_849_382)

    # ---- test controls --------------------------------------------------------------------------------

    def sessions(self) -> list[SessionInfo]:
        with self._lock:
            return [SessionInfo(s.endpoint, s.path, s.conn_id, s.api_key, tuple(s.topics)) for s in self._sessions]

    def push_raw(self, text: str, endpoint: str = "private") -> int:
        """Send `text` as is to every open socket on `endpoint` (a venue frame the fake does not make)."""
        with self._lock:
            peers = [s.peer for s in self._sessions if s.endpoint == endpoint and s.peer is not None]
            for peer in peers:
                self._pending.append((peer, text))
        self.flush()
        return len(peers)

    def script_reply(self, reply: Reply) -> None:
        """Answer the next authenticated order op (any session) with `reply` instead of executing it.

        `reply` is a frame (dict, sent as JSON, or str, sent as is) or a function of the request frame; a
        function that returns None sends nothing (the op is neither executed nor answered: a held request).
        """
        with self._lock:
            self._scripted.append(reply)

    # ---- plumbing for sessions and FakeBybit ----------------------------------------------------------

    def open(self, path: str, headers: dict[str, str]) -> _Session | None:
        endpoint = ENDPOINTS.get(path.partition("?")[0])  # `?max_active_time=...` is allowed
        if endpoint is None:
            return None
        with self._lock:
            n = next(self._conn_ids)
            session = _Session(self, endpoint, path, f"{uuid.uuid4().hex[:20]}-{n:x}")
            self._sessions.append(session)
        return session

    def take_scripted(self) -> Reply | None:
        with self._lock:
            return self._scripted.popleft() if self._scripted else None

    def on_change(self, api_key: str | None, change: dict[str, Any]) -> None:
        """FakeBybit's state changed (called with its lock held): queue a push for every matching subscription."""
        if "mark" in change:
            self._push_ticker_delta(str(change["mark"]))
            return
        if api_key is None:
            return
        with self._lock:
            sessions = [s for s in self._sessions if s.endpoint == "private" and s.api_key == api_key
                        and s.peer is not None and s.topics]
        if not sessions:
            return
        acct = self.fake._accounts[api_key]
        order: _Order | None = change.get("order")
        fill: tuple[Decimal, Decimal, Decimal] | None = change.get("fill")
        position: tuple[str, int] | None = change.get("position")
        pushes: list[tuple[str, str, list[dict[str, Any]]]] = []  # (topic, category, data)
        if order is not None:
            pushes.append(("order", order.category, [self.order_row(order)]))
        if order is not None and fill is not None and fill[0]:
            seq = next(self._seq)
            exec_id = self._exec_id()
            pushes.append(("execution", order.category, [self.execution_row(order, fill, exec_id, seq)]))
            pushes.append(("execution.fast", order.category, [self.fast_execution_row(order, fill, exec_id, seq)]))
        if position is not None:
            pushes.append(("position", _derivative_category(position[0]), [self.position_row(acct, *position)]))
        for session in sessions:
            for topic, category, data in pushes:
                session.push_topic(topic, category, data)

    def _exec_id(self) -> str:
        n = next(self._exec_ids)
        return f"{n:08x}-4219-438b-b30a-{n:012x}"

    # ---- push rows (the REST fake's own rows, plus what only the streams carry) -----------------------

    def order_row(self, order: _Order) -> dict[str, Any]:
        row = order.to_json(INSTRUMENTS[(order.category, order.symbol)])
        return {"category": order.category, **row, "closedPnl": "0", "feeCurrency": ""}

    def execution_row(self, order: _Order, fill: tuple[Decimal, Decimal, Decimal], exec_id: str,
                      seq: int) -> dict[str, Any]:
        spec = INSTRUMENTS[(order.category, order.symbol)]
        qty, price, closed = fill
        value = qty / price if order.category == "inverse" else qty * price
        leaves = order.qty - order.cum_exec_qty if order.status in ("New", "PartiallyFilled") else Decimal(0)
        return {
            "category": order.category, "symbol": order.symbol, "closedSize": _fmt(closed, spec.qty_places),
            "execFee": "0", "execId": exec_id, "execPrice": _fmt(price, spec.price_places),
            "execQty": _fmt(qty, spec.qty_places), "execType": "Trade", "execValue": _plain(value), "feeRate": "0",
            "tradeIv": "", "markIv": "", "blockTradeId": "",
            "markPrice": _fmt(self.fake._marks[order.symbol], spec.price_places), "indexPrice": "",
            "underlyingPrice": "", "leavesQty": _fmt(leaves, spec.qty_places), "orderId": order.order_id,
            "orderLinkId": order.order_link_id, "orderPrice": _fmt(order.price, spec.price_places),
            "orderQty": _fmt(order.qty, spec.qty_places), "orderType": order.order_type,
            "stopOrderType": "Stop" if order.trigger_price else "UNKNOWN", "side": order.side,
            "execTime": str(self.fake._now_ms()), "isLeverage": "0", "isMaker": _is_maker(order), "seq": seq,
            "marketUnit": "", "execPnl": "0", "createType": "CreateByUser", "extraFees": "",
            "feeCurrency": spec.settle,
        }

    def fast_execution_row(self, order: _Order, fill: tuple[Decimal, Decimal, Decimal], exec_id: str,
                           seq: int) -> dict[str, Any]:
        spec = INSTRUMENTS[(order.category, order.symbol)]
        qty, price, _ = fill
        return {"category": order.category, "symbol": order.symbol, "execId": exec_id,
                "execPrice": _fmt(price, spec.price_places), "execQty": _fmt(qty, spec.qty_places),
                "orderId": order.order_id, "isMaker": _is_maker(order), "orderLinkId": order.order_link_id,
                "side": order.side, "execTime": str(self.fake._now_ms()), "seq": seq}

    def position_row(self, acct: _Account, symbol: str, idx: int) -> dict[str, Any]:
        category = _derivative_category(symbol)
        pos = acct.positions.get((symbol, idx), _Position())
        row = dict(self.fake._position_row(acct, category, symbol, idx, pos))
        entry = row.pop("avgPrice")  # REST says avgPrice, the stream entryPrice
        return {"category": category, **row, "entryPrice": entry, "breakEvenPrice": entry, "sessionAvgPrice": "",
                "positionIMByMp": row["positionIM"], "positionMMByMp": row["positionMM"]}

    def ticker_row(self, spec: InstrumentSpec, *, snapshot: bool) -> dict[str, Any]:
        row: dict[str, Any] = self.fake._tickers(_Call({"category": spec.category, "symbol": spec.symbol}, None,
                                                        None))["list"][0]
        if snapshot:
            return {**row, "tickDirection": "ZeroPlusTick", "fundingIntervalHour": "8", "fundingCap": "0.005"}
        # a delta carries only what changed; prices are what a firewall's tests watch move
        return {k: row[k] for k in ("symbol", "lastPrice", "markPrice", "indexPrice", "bid1Price", "ask1Price")}

    def ticker_push(self, spec: InstrumentSpec, *, snapshot: bool, offset_ms: int = 0) -> dict[str, Any]:
        return {"topic": f"tickers.{spec.symbol}", "type": "snapshot" if snapshot else "delta",
                "data": self.ticker_row(spec, snapshot=snapshot), "cs": next(self._seq),
                "ts": self.fake._now_ms() + offset_ms}

    def _push_ticker_delta(self, symbol: str) -> None:
        with self._lock:
            sessions = [s for s in self._sessions if s.endpoint in ("linear", "inverse") and s.peer is not None]
        for session in sessions:
            if f"tickers.{symbol}" in session.topics:
                session.send(self.ticker_push(INSTRUMENTS[(session.endpoint, symbol)], snapshot=False))


def _is_maker(order: _Order) -> bool:
    """A limit order that rested (filled later by the market) made liquidity; market and IOC/FOK orders took it."""
    return order.order_type == "Limit" and order.time_in_force not in ("IOC", "FOK")


class _Refused(Exception):
    """A trade-socket request answered with an error envelope (retCode, retMsg)."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg = code, msg


@dataclass(eq=False)
class _Session:
    """One client socket: its endpoint, who authenticated on it, and what it subscribed to."""

    hub: BybitWsHub
    endpoint: str
    path: str
    conn_id: str
    peer: WsPeer | None = None
    api_key: str | None = None
    topics: list[str] = field(default_factory=list)
    req_ids: set[str] = field(default_factory=set)

    @property
    def fake(self) -> FakeBybit:
        return self.hub.fake

    # ---- the server's callbacks (the connection's own thread) -----------------------------------------

    def on_message(self, peer: WsPeer, text: str) -> None:
        self.peer = peer
        try:
            message = json.loads(text, parse_float=Decimal)
        except ValueError:
            message = None
        try:
            if not isinstance(message, dict):
                self._malformed()
            elif self.endpoint == "trade":
                self._trade(message)
            elif self.endpoint == "private":
                self._private(message)
            else:
                self._public(message)
        except Exception:  # a bug in the fake: keep the traceback for the test, answer like Bybit's 10016
            self.fake.internal_errors.append(traceback.format_exc())
            if self.endpoint == "trade":
                self.send({"retCode": 10016, "retMsg": "Internal System Error.", "op": "", "connId": self.conn_id})
            else:
                self.send({"success": False, "ret_msg": "Internal System Error.", "conn_id": self.conn_id})
        self.hub.flush()

    def on_close(self, peer: WsPeer) -> None:
        self.hub.forget(self)

    # ---- frames ---------------------------------------------------------------------------------------

    def send(self, payload: Any) -> None:
        assert self.peer is not None
        self.hub.queue(self.peer, payload)

    def push_topic(self, topic: str, category: str, data: list[dict[str, Any]]) -> None:
        """Queue `data` under every subscribed form of `topic` (all-in-one or this category's)."""
        for subscribed in (topic, f"{topic}.{category}"):
            if subscribed in self.topics:
                self.send({"id": uuid.uuid4().hex, "topic": subscribed, "creationTime": self.fake._now_ms(),
                           "data": data})

    def _malformed(self) -> None:
        if self.endpoint == "trade":
            self.send({"retCode": 10001, "retMsg": "Params Error", "op": "", "connId": self.conn_id})
        else:
            self.send({"success": False, "ret_msg": "Params Error", "conn_id": self.conn_id})

    def _now(self) -> int:
        return self.fake._now_ms()

    # ---- auth (both private sockets) ------------------------------------------------------------------

    def _verify_auth(self, args: Any) -> str:
        """The api key `args` authenticates, or `_Refused` with the trade stream's code and reason."""
        if self.api_key is not None:
            raise _Refused(20001, "Repeat auth")
        if not isinstance(args, list) or len(args) != 3 or not all(isinstance(a, str | int) for a in args):
            raise _Refused(10001, "Params Error")
        api_key, expires, signature = (str(a) for a in args)
        if not expires.isdigit() or int(expires) <= self._now():
            raise _Refused(10001, "Params Error")  # expired (or not a number): what Bybit answers a late auth
        with self.fake._lock:
            acct = self.fake._accounts.get(api_key)
            if acct is None:
                raise _Refused(10003, "API key is invalid.")
            if not hmac.compare_digest(auth_signature(expires, acct.secret), signature.lower()):
                raise _Refused(10004, "Error sign, please check your signature generation algorithm.")
        return api_key

    # ---- /v5/trade ----------------------------------------------------------------------------------------

    def _trade(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        echo = {"reqId": message["reqId"]} if "reqId" in message else {}
        if op == "auth":
            try:
                self.api_key = self._verify_auth(message.get("args"))
                self.send({**echo, "retCode": 0, "retMsg": "OK", "op": "auth", "connId": self.conn_id})
            except _Refused as refused:
                self.send({**echo, "retCode": refused.code, "retMsg": refused.msg, "op": "auth",
                           "connId": self.conn_id})
        elif op == "ping":
            self.send({**echo, "retCode": 0, "retMsg": "OK", "op": "pong", "data": [str(self._now())],
                       "connId": self.conn_id})
        elif op in ORDER_OPS:
            self._order_op(message, str(op), echo)
        else:
            self._answer(echo, str(op or ""), 10404, "op type is not found")

    def _answer(self, echo: dict[str, Any], op: str, code: int, msg: str, data: Any = None,
                ext: Any = None) -> None:
        now = self._now()
        header = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9", "X-Bapi-Limit-Reset-Timestamp": str(now),
                  "Traceid": uuid.uuid4().hex, "Timenow": str(now)}
        self.send({**echo, "retCode": code, "retMsg": msg, "op": op, "data": {} if data is None else data,
                   "retExtInfo": {} if ext is None else ext, "header": header, "connId": self.conn_id})

    def _order_op(self, message: dict[str, Any], op: str, echo: dict[str, Any]) -> None:
        try:
            self._check_order_op(message)
        except _Refused as refused:
            self._answer(echo, op, refused.code, refused.msg)
            return
        scripted = self.hub.take_scripted()
        if scripted is not None:
            frame = scripted(message) if callable(scripted) else scripted
            if frame is not None:
                self.send(frame)
            return
        args = message.get("args")
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            self._answer(echo, op, 10001, "params error: args must be one object")
            return
        fake = self.fake
        with fake._lock:
            acct = fake._accounts[str(self.api_key)]
            with self.hub.capturing() as pushes:
                try:
                    result = _HANDLERS[op](fake, _Call(args[0], self.api_key, acct))
                    data, ext = (result.result, result.ext) if isinstance(result, _WithExt) else (result, {})
                    code, msg = 0, "OK"
                except BybitError as error:
                    data, ext, code, msg = {}, {}, error.code, error.msg
            self._answer(echo, op, code, msg, data, ext)
            for peer, text in pushes:
                self.hub.queue(peer, text)

    def _check_order_op(self, message: dict[str, Any]) -> None:
        if self.api_key is None:
            raise _Refused(10007, "User authentication failed.")
        if "reqId" in message:
            req_id = str(message["reqId"])
            if req_id in self.req_ids:
                raise _Refused(20006, "reqId is duplicated")
            self.req_ids.add(req_id)
        header = message.get("header")
        if not isinstance(header, dict) or header.get("X-BAPI-TIMESTAMP") in (None, ""):
            raise _Refused(10001, "params error: header X-BAPI-TIMESTAMP is required")
        timestamp = str(header["X-BAPI-TIMESTAMP"])  # ccxt sends a string, pybit an integer
        window = str(header.get("X-BAPI-RECV-WINDOW") or _RECV_WINDOW_MS)
        now = self._now()
        if (not timestamp.isdigit() or not window.isdigit()
                or not (now - int(window) <= int(timestamp) < now + 1000)):
            raise _Refused(10002, "invalid request, please check your server timestamp or recv_window param")

    # ---- /v5/private --------------------------------------------------------------------------------------

    def _stream_answer(self, message: dict[str, Any], op: str, success: bool, ret_msg: str) -> None:
        echo = {"req_id": message["req_id"]} if "req_id" in message else {}
        self.send({**echo, "success": success, "ret_msg": ret_msg, "op": op, "conn_id": self.conn_id})

    def _private(self, message: dict[str, Any]) -> None:
        op = str(message.get("op") or "")
        if op == "auth":
            try:
                self.api_key = self._verify_auth(message.get("args"))
                self._stream_answer(message, "auth", True, "")
            except _Refused as refused:
                self._stream_answer(message, "auth", False, refused.msg)
        elif op == "ping":
            echo = {"req_id": message["req_id"]} if "req_id" in message else {}
            self.send({**echo, "op": "pong", "args": [str(self._now())], "conn_id": self.conn_id})
        elif op in ("subscribe", "unsubscribe"):
            if self.api_key is None:
                self._stream_answer(message, op, False, "Request not authorized")
                return
            refusal = _private_topics_refusal(message.get("args"))
            if refusal is not None:
                self._stream_answer(message, op, False, refusal)
                return
            with self.fake._lock:  # the hub reads `topics` under the fake's lock
                self._change_topics(op, message["args"])
            self._stream_answer(message, op, True, "")
        else:
            self._stream_answer(message, op, False, f"error:handler not found,op:{op}")

    def _change_topics(self, op: str, topics: list[str]) -> None:
        for topic in topics:
            if op == "subscribe" and topic not in self.topics:
                self.topics.append(topic)
            elif op == "unsubscribe" and topic in self.topics:
                self.topics.remove(topic)

    # ---- /v5/public/<category> ----------------------------------------------------------------------------

    def _public(self, message: dict[str, Any]) -> None:
        op = str(message.get("op") or "")
        req_id = message.get("req_id", "")  # public answers always carry req_id ("" when none was sent)
        if op == "ping":
            self.send({"success": True, "ret_msg": "pong", "conn_id": self.conn_id, "req_id": req_id, "op": "ping"})
            return
        if op not in ("subscribe", "unsubscribe"):
            self.send({"success": False, "ret_msg": f"error:handler not found,op:{op}", "conn_id": self.conn_id,
                       "req_id": req_id, "op": op})
            return
        args = message.get("args")
        bad = _public_topics_refusal(self.endpoint, args)
        if bad is not None or not isinstance(args, list):
            self.send({"success": False, "ret_msg": bad, "conn_id": self.conn_id, "req_id": req_id, "op": op})
            return
        with self.fake._lock:
            fresh = [t for t in args if t not in self.topics] if op == "subscribe" else []
            self._change_topics(op, args)
            self.send({"success": True, "ret_msg": "", "conn_id": self.conn_id, "req_id": req_id, "op": op})
            for topic in fresh:
                spec = INSTRUMENTS[(self.endpoint, topic.removeprefix("tickers."))]
                for i in range(PUBLIC_BURST):
                    self.send(self.hub.ticker_push(spec, snapshot=i == 0, offset_ms=i))


def _private_topics_refusal(args: Any) -> str | None:
    """Why a private (un)subscribe is refused, or None."""
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        return "Params Error"
    for topic in args:
        if topic not in _TOPIC_BASE:
            return f"error:handler not found,topic:{topic}"
    # an all-in-one topic and a categorised form of it cannot share one request
    for topic in args:
        if topic in PRIVATE_TOPICS and any(_TOPIC_BASE[t] == topic and t != topic for t in args):
            return f"error:handler not found,topic:{topic}"
    return None


def _public_topics_refusal(category: str, args: Any) -> str | None:
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        return "Params Error"
    for topic in args:
        if not topic.startswith("tickers.") or (category, topic.removeprefix("tickers.")) not in INSTRUMENTS:
            return f"error:handler not found,topic:{topic}"
    return None
