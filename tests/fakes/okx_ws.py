"""A fake of OKX v5's WebSocket endpoints (`/ws/v5/private`, `/ws/v5/business`, `/ws/v5/public`) for tests.

Why it exists: OKX multiplexes order entry (ops `order`, `batch-orders`, `amend-order`, `batch-amend-orders`,
`cancel-order`, `batch-cancel-orders`, `mass-cancel`) and the private channels that report fills and positions
on one authenticated socket, so the firewall must police every client frame on it and may learn positions from
what the venue pushes. Its tests need real, unmodified clients (ccxt.pro okx, python-okx `WsPrivateAsync`) talking
to something that answers like OKX (shapes from docs/venues.md §4.7 and §4.8) and shares the
REST fake's book: an order placed over the socket is visible to a REST poll, and a REST order, a REST fill or the
test's `fill_order()` is pushed to stream subscribers.

It is served by `FakeOkx` on its own port (`FakeOkx.ws_session` hands every handshake to the hub here; the
server in tests/fakes/server.py does the sockets and records every client message in `fake.ws_frames`). Orders
go through the REST fake's own placement, validation, amend and cancel code (`FakeOkx._legs` with `_place`,
`_amend`, `_cancel`), so a WS answer carries exactly the `sCode`/`sMsg` the REST endpoint would.

What it does:
- `login` verifies `sign` = base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify")), the
  passphrase and a timestamp (seconds) within 30 s; answers `{"event":"login","code":"0","msg":"","connId"}` or
  `{"event":"error","code":"600xx","msg",...,"connId"}`.
- Order ops answer `{"id"?, "op", "code", "msg": "", "data": [{"ordId","clOrdId","tag","ts","sCode","sMsg"}],
  "inTime", "outTime"}` (`code` "0" all legs ok, "1" all failed, "2" some failed; µs times; an op refused as a
  whole, e.g. 60013 "Invalid args", keeps its `msg` and `data: []`); `instIdCode` (the
  integer the instruments listing carries) is accepted in place of `instId` and wins when both are given; before
  `login` an op is refused with `{"event":"error","code":"60011","msg":"Please log in"}`.
- `mass-cancel` (private or business) answers `[{"result": true}]` for `instType` OPTION, as OKX only offers it
  for options (the fake lists none, so nothing is cancelled).
- Channels: private `orders`, `positions`, `balance_and_position`, `account`; business `orders-algo`,
  `algo-advance`; public `tickers`, `mark-price`. `positions`, `account` and `balance_and_position` send a
  snapshot on subscribe (`positions` with `data: []` when flat), `orders` only on events; public channels send a
  burst of `PUBLIC_BURST` pushes on subscribe and one per `fake.set_mark_price()`.
- A text `ping` is answered `pong`.

Choices where OKX's behaviour is undocumented or unverified here: top-level `msg` of order-op answers is ""
(the text is in `sMsg`; the REST fake says "All operations failed"); an op on a URL that does not offer it
answers 60028 in the op envelope with its `id`; a malformed frame answers `{"event":"error","code":"60012",
"msg":"Illegal request: <frame>"}`; the 600xx login codes follow OKX's WebSocket error-code table.

Test controls (`ws_hub(fake)`): `sessions()`, `disconnect_all()`, `push_raw(text, endpoint)`, and
`script_reply(reply)`, which answers the next order op with a given frame instead of executing it (how a test
measures what a client does with an error envelope a firewall would inject).

Usage:
    with FakeOkx() as fake:
        url = ws_url(fake, "private")           # ws://127.0.0.1:PORT/ws/v5/private (wss:// with tls=)
        ...                                      # a client logs in and sends {"op": "order", ...}
        assert [m["op"] for m in ws_order_frames(fake)] == ["order"]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.fakes.okx import (
    INSTRUMENTS,
    FakeOkx,
    InstrumentSpec,
    OkxError,
    _Account,
    _AlgoOrder,
    _Call,
    _LegError,
    _Order,
    _plain,
)
from tests.fakes.server import WsPeer
from tests.fakes.ws_hub import PushHub

__all__ = [
    "ENDPOINTS",
    "ORDER_OPS",
    "PUBLIC_BURST",
    "UID",
    "OkxWsHub",
    "SessionInfo",
    "inst_id_code",
    "login_sign",
    "ws_base_url",
    "ws_hub",
    "ws_messages",
    "ws_order_frames",
    "ws_url",
]

ENDPOINTS = {"/ws/v5/private": "private", "/ws/v5/business": "business", "/ws/v5/public": "public"}

# Ops that create, change or cancel orders: what a firewall must see before the venue does.
ORDER_OPS = frozenset({"order", "batch-orders", "amend-order", "batch-amend-orders", "cancel-order",
                       "batch-cancel-orders", "mass-cancel"})
_SINGLE_OPS = frozenset({"order", "amend-order", "cancel-order", "mass-cancel"})
_OP_ENDPOINTS = {op: frozenset({"private"}) for op in ORDER_OPS} | {"mass-cancel": frozenset({"private",
                                                                                               "business"})}

_CHANNELS = {
    "orders": "private", "positions": "private", "balance_and_position": "private", "account": "private",
    "orders-algo": "business", "algo-advance": "business",
    "tickers": "public", "mark-price": "public",
}
_INST_TYPES = frozenset({"SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY"})

UID = "44705892343619584"  # the uid GET /api/v5/account/config reports; OKX adds it to private push `arg`s
PUBLIC_BURST = 3  # pushes a public subscription gets at once, so a test sees data flow without waiting
LOGIN_WINDOW_S = 30  # OKX refuses a login timestamp further off than this (60006)
_BATCH_MAX = 20
_VERIFY_PATH = "/users/self/verify"


def login_sign(timestamp: str, secret: str) -> str:
    """The `sign` of OKX's WebSocket `login`: base64(HMAC-SHA256(secret, timestamp + "GET" + path))."""
    message = f"{timestamp}GET{_VERIFY_PATH}".encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def inst_id_code(inst_id: str) -> int:
    """The `instIdCode` GET /api/v5/public/instruments lists for `inst_id` (what ccxt.pro sends instead)."""
    return int(INSTRUMENTS[inst_id].to_json()["instIdCode"])


_BY_CODE: dict[int, InstrumentSpec] = {int(s.to_json()["instIdCode"]): s for s in INSTRUMENTS.values()}


def ws_base_url(fake: FakeOkx) -> str:
    """`ws://127.0.0.1:PORT/ws/v5` (`wss://` when the fake serves TLS): what ccxt.pro's `urls['api']['ws']` is."""
    return f"{'wss' if fake.scheme == 'https' else 'ws'}://127.0.0.1:{fake.port}/ws/v5"


def ws_url(fake: FakeOkx, endpoint: str = "private") -> str:
    if endpoint not in ENDPOINTS.values():
        raise ValueError(f"OKX serves {sorted(ENDPOINTS.values())}, not {endpoint!r}")
    return f"{ws_base_url(fake)}/{endpoint}"


def ws_messages(fake: FakeOkx, endpoint: str | None = None) -> list[dict[str, Any]]:
    """Client messages that were JSON objects, parsed, in arrival order (`ping` and garbage left out)."""
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


def ws_order_frames(fake: FakeOkx) -> list[dict[str, Any]]:
    """Client messages carrying an order op (what a firewall must have judged before the venue saw it)."""
    return [m for m in ws_messages(fake) if m.get("op") in ORDER_OPS]


def ws_hub(fake: FakeOkx) -> OkxWsHub:
    """The fake's WebSocket hub, attached on first use (FakeOkx publishes state changes to it)."""
    with fake._lock:
        if fake._ws_hub is None:
            fake._ws_hub = OkxWsHub(fake)
        hub: OkxWsHub = fake._ws_hub
        return hub


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One open socket as the fake sees it, for assertions."""

    endpoint: str
    path: str
    conn_id: str
    api_key: str | None
    subscriptions: tuple[dict[str, Any], ...]


Reply = dict[str, Any] | str | Callable[[dict[str, Any]], "dict[str, Any] | str"]


class OkxWsHub(PushHub["_Session", Reply]):
    """Every socket of one FakeOkx: sessions, their subscriptions, and the pushes waiting to leave.

    Lock order: the fake's lock, then the hub's. Pushes are formatted under the fake's lock (a consistent
    state) and queued; `flush` sends them in queue order without holding the fake's lock, so a slow reader
    never stalls the REST side.
    """

    def __init__(self, fake: FakeOkx) -> None:
        super().__init__(fake)
        self._conn_ids = itertools.count(0xA4D3AE55)

    # ---- test controls --------------------------------------------------------------------------------

    def sessions(self) -> list[SessionInfo]:
        with self._lock:
            return [SessionInfo(s.endpoint, s.path, s.conn_id, s.api_key, tuple(dict(a) for a in s.subs.values()))
                    for s in self._sessions]

    def push_raw(self, text: str, endpoint: str = "private") -> int:
        """Send `text` as is to every open socket on `endpoint` (a venue frame the fake does not make)."""
        with self._lock:
            peers = [s.peer for s in self._sessions if s.endpoint == endpoint and s.peer is not None]
            for peer in peers:
                self._pending.append((peer, text))
        self.flush()
        return len(peers)

    def script_reply(self, reply: Reply) -> None:
        """Answer the next order op (any session) with `reply` instead of executing it.

        `reply` is a frame (dict, sent as JSON, or str, sent as is) or a function of the request frame.
        """
        with self._lock:
            self._scripted.append(reply)

    # ---- plumbing for sessions and FakeOkx ------------------------------------------------------------

    def open(self, path: str, headers: dict[str, str]) -> _Session | None:
        endpoint = ENDPOINTS.get(path.partition("?")[0])
        if endpoint is None:
            return None
        with self._lock:
            session = _Session(self, endpoint, path, f"{next(self._conn_ids) & 0xFFFFFFFF:08x}")
            self._sessions.append(session)
        return session

    def take_scripted(self) -> Reply | None:
        with self._lock:
            return self._scripted.popleft() if self._scripted else None

    def on_change(self, api_key: str | None, change: dict[str, Any]) -> None:
        """FakeOkx's state changed (called with its lock held): queue a push for every matching subscription."""
        if "mark" in change:
            self._push_public(str(change["mark"]))
            return
        if api_key is None:
            return
        acct = self.fake._accounts[api_key]
        order: _Order | None = change.get("order")
        fill: tuple[Decimal, Decimal, str] | None = change.get("fill")
        position: tuple[str, str] | None = change.get("position")
        algo: _AlgoOrder | None = change.get("algo")
        with self._lock:
            sessions = [s for s in self._sessions if s.api_key == api_key and s.peer is not None]
        for session in sessions:
            for arg in list(session.subs.values()):
                channel = arg["channel"]
                if channel == "orders" and order is not None and _matches(arg, INSTRUMENTS[order.inst_id]):
                    session.push(arg, [self.order_row(order, fill, change.get("amended"))])
                elif channel == "positions" and position is not None and _matches(arg, INSTRUMENTS[position[0]]):
                    row = self.position_row(acct, *position)
                    if row is not None:
                        session.push(arg, [row])
                elif channel == "balance_and_position" and position is not None:
                    session.push(arg, [self.balance_and_position_row(acct, "filled" if fill else "snapshot",
                                                                     [position], fill)])
                elif channel == "account" and position is not None:
                    session.push(arg, [self.account_row(acct)])
                elif channel in ("orders-algo", "algo-advance") and algo is not None and _matches(
                        arg, INSTRUMENTS[algo.inst_id]):
                    session.push(arg, [self.algo_row(algo)])

    # ---- push rows (the REST fake's own rows, plus what only the streams carry) -----------------------

    def order_row(self, order: _Order, fill: tuple[Decimal, Decimal, str] | None,
                  amended: str | None = None) -> dict[str, Any]:
        spec = INSTRUMENTS[order.inst_id]
        row = order.to_json(spec)
        mark = self.fake._marks[order.inst_id]
        now = str(self.fake._now_ms())
        quantity, price, trade_id = fill if fill is not None else (None, None, "")
        row.update({
            # the REST row's fillSz is cumulative; on the stream it is this fill's size (accFillSz is cumulative)
            "fillSz": _plain(quantity) if quantity is not None else "0",
            "fillPx": _plain(price) if price is not None else "",
            "tradeId": trade_id,
            "fillTime": now if fill is not None else "",
            "fillFee": "0",
            "fillFeeCcy": spec.settle if fill is not None else "",
            "fillPnl": "0",
            "fillMarkPx": _plain(mark) if fill is not None else "",
            "fillNotionalUsd": _plain(_notional_usd(spec, quantity, price)) if fill is not None else "",
            "execType": ("T" if order.ord_type in ("market", "optimal_limit_ioc") else "M") if fill else "",
            "notionalUsd": _plain(_notional_usd(spec, order.sz, order.px or mark)),
            "amendResult": "0" if amended is not None else "",
            "reqId": amended or "",
            "amendSource": "",
            "cancelSourceReason": "",
            "code": "0",
            "msg": "",
            "isTpLimit": "false",
            "linkedAlgoOrd": {"algoId": ""},
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "slTriggerPxType": "",
            "tpTriggerPxType": "",
        })
        return row

    def position_row(self, acct: _Account, inst_id: str, pos_side: str) -> dict[str, Any] | None:
        pos = acct.positions.get((inst_id, pos_side))
        if pos is None:
            return None
        lever = acct.leverage.get((inst_id, pos.td_mode), "10")
        return self.fake._position_row(INSTRUMENTS[inst_id], pos_side, pos, lever)

    def account_row(self, acct: _Account) -> dict[str, Any]:
        row: dict[str, Any] = self.fake._balance(_Call({}, None, acct))["data"][0]
        return row

    def balance_and_position_row(self, acct: _Account, event_type: str, keys: list[tuple[str, str]],
                                 fill: tuple[Decimal, Decimal, str] | None) -> dict[str, Any]:
        now = str(self.fake._now_ms())
        trade_id = fill[2] if fill is not None else ""
        pos_data = []
        for inst_id, pos_side in keys:
            pos = acct.positions.get((inst_id, pos_side))
            if pos is None:
                continue
            spec = INSTRUMENTS[inst_id]
            row = self.fake._position_row(spec, pos_side, pos, "10")
            pos_data.append({
                "avgPx": row["avgPx"], "ccy": spec.settle, "instId": inst_id, "instType": spec.inst_type,
                "mgnMode": pos.td_mode, "nonSettleAvgPx": "", "pos": row["pos"], "posCcy": "",
                "posId": row["posId"], "posSide": pos_side, "settledPnl": "", "tradeId": trade_id,
                "uTime": str(pos.u_time),
            })
        return {
            "balData": [{"cashBal": _plain(acct.balance), "ccy": "USDT", "uTime": now}],
            "eventType": event_type,
            "pTime": now,
            "posData": pos_data,
            "trades": [{"instId": keys[0][0], "tradeId": trade_id}] if fill is not None and keys else [],
        }

    def algo_row(self, algo: _AlgoOrder) -> dict[str, Any]:
        row = algo.to_json(INSTRUMENTS[algo.inst_id])
        row.update({"amendPxOnTriggerType": "", "amendResult": "", "failCode": "", "notionalUsd": "", "reqId": ""})
        return row

    def _push_public(self, inst_id: str) -> None:
        with self._lock:
            sessions = [s for s in self._sessions if s.endpoint == "public" and s.peer is not None]
        for session in sessions:
            for arg in list(session.subs.values()):
                if arg.get("instId") == inst_id:
                    session.push(arg, [self.public_row(arg["channel"], INSTRUMENTS[inst_id])])

    def public_row(self, channel: str, spec: InstrumentSpec, offset_ms: int = 0) -> dict[str, Any]:
        now = str(self.fake._now_ms() + offset_ms)
        if channel == "tickers":
            return {**self.fake._ticker_row(spec), "ts": now}
        return {"instId": spec.inst_id, "instType": spec.inst_type, "markPx": _plain(self.fake._marks[spec.inst_id]),
                "ts": now}


def _notional_usd(spec: InstrumentSpec, contracts: Decimal | None, price: Decimal | None) -> Decimal:
    if contracts is None or price is None:
        return Decimal(0)
    ct_val = spec.ct_val or Decimal(1)
    return contracts * ct_val * (Decimal(1) if spec.inverse else price)


def _family(spec: InstrumentSpec) -> str:
    return f"{spec.base}-{spec.quote}"


def _matches(arg: dict[str, Any], spec: InstrumentSpec) -> bool:
    inst_type = arg.get("instType", "ANY")
    return ((inst_type == "ANY" or inst_type == spec.inst_type)
            and arg.get("instFamily", _family(spec)) == _family(spec)
            and arg.get("instId", spec.inst_id) == spec.inst_id)


class _Refused(Exception):
    """A frame answered with OKX's error event: `{"event":"error","code","msg","connId"}`."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg = code, msg


@dataclass(eq=False)
class _Session:
    """One client socket: its endpoint, who logged in on it, and what it subscribed to."""

    hub: OkxWsHub
    endpoint: str
    path: str
    conn_id: str
    peer: WsPeer | None = None
    api_key: str | None = None
    subs: dict[str, dict[str, Any]] = field(default_factory=dict)  # canonical JSON of the arg -> the arg

    @property
    def fake(self) -> FakeOkx:
        return self.hub.fake

    # ---- the server's callbacks (the connection's own thread) -----------------------------------------

    def on_message(self, peer: WsPeer, text: str) -> None:
        self.peer = peer
        try:
            self._dispatch(text)
        except _Refused as refused:
            self._send({"event": "error", "code": refused.code, "msg": refused.msg, "connId": self.conn_id})
        except Exception:  # a bug in the fake: keep the traceback for the test, answer like OKX's system error
            self.fake.internal_errors.append(traceback.format_exc())
            self._send({"event": "error", "code": "50026", "msg": "System error. Try again later.",
                        "connId": self.conn_id})
        self.hub.flush()

    def on_close(self, peer: WsPeer) -> None:
        self.hub.forget(self)

    # ---- frames ---------------------------------------------------------------------------------------

    def _send(self, payload: Any) -> None:
        assert self.peer is not None
        self.hub.queue(self.peer, payload)

    def push(self, arg: dict[str, Any], data: list[Any]) -> None:
        """Queue a channel push (called with the fake's lock held)."""
        shown = {k: v for k, v in arg.items() if k != "extraParams"}
        if self.endpoint != "public":
            shown["uid"] = UID
        self._send({"arg": shown, "data": data})

    def _dispatch(self, text: str) -> None:
        if text == "ping":
            self._send("pong")
            return
        try:
            message = json.loads(text)
        except ValueError:
            raise _Refused("60012", f"Illegal request: {text}") from None
        if not isinstance(message, dict) or not isinstance(message.get("op"), str):
            raise _Refused("60012", f"Illegal request: {text}")
        op = message["op"]
        if op == "login":
            self._login(message)
        elif op in ("subscribe", "unsubscribe"):
            self._subscription(message, op)
        elif op in ORDER_OPS:
            self._order_op(message, op)
        else:
            raise _Refused("60019", f"Invalid op: {op}")

    # ---- login ----------------------------------------------------------------------------------------

    def _login(self, message: dict[str, Any]) -> None:
        args = message.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            raise _Refused("60013", "Invalid args")
        if len(args) > 1:
            raise _Refused("60021", "This operation does not support multiple accounts login.")
        arg = args[0]
        for name in ("apiKey", "passphrase", "timestamp", "sign"):
            if arg.get(name) in (None, ""):
                raise _Refused("60027", f"Parameter {name} can not be empty.")
        timestamp = str(arg["timestamp"])  # ccxt sends a string, python-okx an integer: signed as text either way
        try:
            sent = float(timestamp)
        except ValueError:
            raise _Refused("60004", "Invalid timestamp") from None
        if abs(self.fake._clock() - sent) > LOGIN_WINDOW_S:
            raise _Refused("60006", "Timestamp request expired")
        with self.fake._lock:
            acct = self.fake._accounts.get(str(arg["apiKey"]))
            if acct is None:
                raise _Refused("60005", "Invalid apiKey")
            if not hmac.compare_digest(str(arg["passphrase"]), acct.passphrase):
                raise _Refused("60024", "Wrong passphrase")
            if not hmac.compare_digest(login_sign(timestamp, acct.secret), str(arg["sign"])):
                raise _Refused("60007", "Invalid sign")
        self.api_key = str(arg["apiKey"])
        self._send({"event": "login", "code": "0", "msg": "", "connId": self.conn_id})

    # ---- subscribe / unsubscribe ------------------------------------------------------------------------

    def _subscription(self, message: dict[str, Any], op: str) -> None:
        args = message.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            raise _Refused("60012", f"Illegal request: {json.dumps(message, separators=(',', ':'))}")
        echo = {"id": message["id"]} if "id" in message else {}
        with self.fake._lock:
            for arg in args:
                self._check_channel(arg)
                key = json.dumps(arg, sort_keys=True, separators=(",", ":"))
                if op == "unsubscribe":
                    self.subs.pop(key, None)
                    self._send({**echo, "event": "unsubscribe", "arg": arg, "connId": self.conn_id})
                    continue
                fresh = key not in self.subs  # OKX keeps one subscription per channel and arguments
                self.subs[key] = arg
                self._send({**echo, "event": "subscribe", "arg": arg, "connId": self.conn_id})
                if fresh:
                    self._snapshot(arg)

    def _check_channel(self, arg: dict[str, Any]) -> None:
        channel, inst_id = str(arg.get("channel") or ""), arg.get("instId")
        wrong = _Refused("60018", f"Wrong URL or channel:{channel},instId:{inst_id or ''} doesn't exist. Please "
                                  "use the correct URL, channel and parameters referring to API document.")
        if _CHANNELS.get(channel) != self.endpoint:
            raise wrong
        if self.endpoint != "public" and self.api_key is None:
            raise _Refused("60011", "Please log in")
        if channel in ("orders", "positions", "orders-algo", "algo-advance") and arg.get("instType") not in _INST_TYPES:
            raise wrong
        if inst_id is not None and inst_id not in INSTRUMENTS:
            raise wrong
        if self.endpoint == "public":
            if inst_id is None or (channel == "mark-price" and INSTRUMENTS[inst_id].inst_type == "SPOT"):
                raise wrong

    def _snapshot(self, arg: dict[str, Any]) -> None:
        """What OKX sends right after the subscribe answer (with the fake's lock held)."""
        channel = arg["channel"]
        hub = self.hub
        if channel in ("tickers", "mark-price"):
            spec = INSTRUMENTS[arg["instId"]]
            for i in range(PUBLIC_BURST):
                self.push(arg, [hub.public_row(channel, spec, i)])
            return
        assert self.api_key is not None
        acct = self.fake._accounts[self.api_key]
        live = sorted(k for k, p in acct.positions.items() if p.pos != 0)
        if channel == "positions":
            rows = [hub.position_row(acct, *k) for k in live if _matches(arg, INSTRUMENTS[k[0]])]
            self.push(arg, [r for r in rows if r is not None])
        elif channel == "account":
            self.push(arg, [hub.account_row(acct)])
        elif channel == "balance_and_position":
            self.push(arg, [hub.balance_and_position_row(acct, "snapshot", live, None)])

    # ---- order ops ----------------------------------------------------------------------------------------

    def _order_op(self, message: dict[str, Any], op: str) -> None:
        echo = {"id": message["id"]} if "id" in message else {}
        if self.endpoint not in _OP_ENDPOINTS[op]:
            self._answer(echo, op, "60028", "The current operation is not supported by this URL. Please use the "
                                            "correct WebSocket URL for the operation.")
            return
        if self.api_key is None:
            raise _Refused("60011", "Please log in")
        scripted = self.hub.take_scripted()
        if scripted is not None:
            self._send(scripted(message) if callable(scripted) else scripted)
            return
        args = message.get("args")
        if (not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args)
                or (op in _SINGLE_OPS and len(args) != 1)):
            self._answer(echo, op, "60013", "Invalid args")
            return
        if len(args) > _BATCH_MAX:
            self._answer(echo, op, "51111", "Maximum 20 orders can be placed in bulk.")
            return
        fake = self.fake
        with fake._lock:
            acct = fake._accounts[self.api_key]
            with self.hub.capturing() as pushes:
                try:
                    answer = self._execute(acct, op, args)
                except OkxError as error:
                    answer = {"code": error.code, "msg": error.msg, "data": []}
            now_us = str(fake._now_ms() * 1000)
            # leg results keep their text in sMsg (top-level msg ""); an op refused as a whole keeps its msg
            msg = "" if answer["code"] in ("0", "1", "2") else answer["msg"]
            self._send({**echo, "op": op, "code": answer["code"], "msg": msg, "data": answer["data"],
                        "inTime": answer.get("inTime", now_us), "outTime": answer.get("outTime", now_us)})
            for peer, text in pushes:
                self.hub.queue(peer, text)

    def _answer(self, echo: dict[str, Any], op: str, code: str, msg: str) -> None:
        now_us = str(self.fake._now_ms() * 1000)
        self._send({**echo, "op": op, "code": code, "msg": msg, "data": [], "inTime": now_us, "outTime": now_us})

    def _execute(self, acct: _Account, op: str, args: list[dict[str, Any]]) -> dict[str, Any]:
        fake = self.fake
        if op == "mass-cancel":
            return self._mass_cancel(args[0])
        rest_action = {
            "order": fake._place, "batch-orders": fake._place,
            "amend-order": fake._amend, "batch-amend-orders": fake._amend,
            "cancel-order": fake._cancel, "batch-cancel-orders": fake._cancel,
        }[op]

        def action(account: _Account, leg: Any) -> dict[str, Any]:
            return rest_action(account, _with_inst_id(leg))

        answer: dict[str, Any] = fake._legs(acct, args, action)
        return answer

    def _mass_cancel(self, arg: dict[str, Any]) -> dict[str, Any]:
        for name in ("instType", "instFamily"):
            if not arg.get(name):
                raise OkxError("50014", f"Parameter {name} can not be empty.")
        if arg["instType"] != "OPTION":
            raise OkxError("51000", "Parameter instType error")
        return {"code": "0", "msg": "", "data": [{"result": True}]}


def _with_inst_id(leg: dict[str, Any]) -> dict[str, Any]:
    """The leg as the REST code reads it: `instIdCode` (which wins over `instId`) resolved to `instId`."""
    raw = leg.get("instIdCode")
    if raw is None or raw == "":
        return leg
    try:
        spec = _BY_CODE.get(int(str(raw)))
    except ValueError:
        spec = None
    if spec is None:
        raise _LegError("51001", "Instrument ID, Instrument ID code, or Spread ID doesn't exist.")
    resolved = {k: v for k, v in leg.items() if k != "instIdCode"}
    resolved["instId"] = spec.inst_id
    return resolved
