"""A fake of Binance USDⓈ-M Futures' WebSocket API (`/ws-fapi/v1`), user-data and mark-price streams, for tests.

Why it exists: the WebSocket API carries order entry (`order.place`, `order.modify`, `order.cancel`,
`algoOrder.place`, `algoOrder.cancel`) on a socket, signed per request, and the user-data stream pushes the fills
and positions a firewall may learn from. Their tests need real, unmodified clients (ccxt.pro `binanceusdm`, the
official SDK `binance_sdk_derivatives_trading_usds_futures`) talking to something that answers like Binance
(shapes from docs/venues.md §1.7 and §1.8) and shares the REST fake's book: an order placed
over the socket is visible to a REST poll, and a REST order, a REST fill or the test's `fill_order()` is pushed
to the account's streams.

It is served by `FakeBinanceUsdm` on its own port (`FakeBinanceUsdm.ws_session` hands every handshake to the
hub here; tests/fakes/server.py does the sockets and records every client message in `fake.ws_frames`). Every
method runs the REST fake's own handler (`_new_order`, `_amend_order`, `_cancel_order`, `_query_order`,
`_new_algo_order`, ...) under its lock, so a WebSocket answer carries exactly the order object or the
`{"code", "msg"}` (and the HTTP-like status) the REST endpoint would.

WebSocket API (`/ws-fapi/v1`; `?returnRateLimits=false` on the URL turns `rateLimits` off by default):
- request `{"id", "method", "params"}`; answer `{"id", "status": 200, "result", "rateLimits"}` or
  `{"id", "status": <REST status>, "error": {"code", "msg"}, "rateLimits"}`; `id` is echoed as sent (any JSON
  type); `rateLimits` is left out when the request says `returnRateLimits` false (ccxt always sends `false`;
  the SDK sends nothing unless configured, then the string "false").
- signed methods carry `apiKey`, `timestamp`, optional `recvWindow` and `signature` in `params`: signature =
  hex HMAC-SHA256(secret, every param but `signature`, sorted by name, as `k=v` joined by `&`). A value is
  signed as its text (a JSON string as is; `true`/`false`/numbers as JSON spells them); the fake accepts the
  raw text (what ccxt signs, `rawencode`) and the form-encoded text (what the SDK signs, `urlencode`), so any
  change to a value or a name in transit fails with -1022. Unknown key -2015, no key -2014, stale timestamp
  -1021, as the REST fake answers.
- `session.logon` (signed) binds the key to the socket; later requests may omit `apiKey`/`signature` (they still
  carry `timestamp`); an explicit `apiKey`+`signature` wins for that request; `session.status`,
  `session.logout`. Binance accepts only Ed25519 keys here; the fake accepts HMAC too, and Ed25519 when the test
  registered the key's public half with `ws_hub(fake).register_ed25519_key(...)` (signature: base64 Ed25519 over
  the same payload).
- methods: `order.place`, `order.test`, `order.modify`, `order.cancel`, `order.status`, `algoOrder.place`,
  `algoOrder.cancel`, `account.position` (REST v2 positionRisk shape), `v2/account.position` (v3 shape),
  `account.balance`/`v2/account.balance`, `account.status` (v2 account) / `v2/account.status` (v3 account),
  `userDataStream.start`/`.ping`/`.stop` (API key only; the same listen key REST issues), `depth`,
  `ticker.price`, `ticker.book` (public), and `userDataStream.subscribe` (after `session.logon`) /
  `userDataStream.subscribe.signature` / `userDataStream.unsubscribe`, which push the account's events on this
  socket as `{"subscriptionId", "event"}` (Binance documents these for spot; unconfirmed for futures).

User-data streams (a listen key from REST `POST /fapi/v1/listenKey`, WS `userDataStream.start` or
`ws_hub(fake).listen_key(api_key)`): raw `/ws/<key>`, `/private/ws/<key>`, `/private/ws?listenKey=<key>` (what
ccxt 4.5.64 opens) push the bare event; combined `/stream?streams=<key>/...` (also under `/private`, `/public`,
`/market`, as the SDK opens them) push `{"stream": <key>, "data": <event>}`. `SUBSCRIBE`/`UNSUBSCRIBE`/
`LIST_SUBSCRIPTIONS` frames are answered `{"result": null|[...], "id"}`. Events, for every order change and
fill in the account whoever caused it (a REST or WebSocket request, or the test's `fake.fill_order()` /
`fake.expire_order()`): `ORDER_TRADE_UPDATE` (`x` NEW, TRADE with `l` this fill, `z` cumulative, `L` its price,
`t` a trade id, X PARTIALLY_FILLED or FILLED; CANCELED, EXPIRED, AMENDMENT), then on a fill `ACCOUNT_UPDATE`
(`a.m` "ORDER", `a.B` USDT wallet, `a.P` the changed position with signed `pa` and `ps`; `set_position` gives
`a.m` "ADJUSTMENT"), `ALGO_UPDATE` for conditional orders, `listenKeyExpired` when the key is closed.

Market data: mark-price streams `<symbol>@markPrice`, `<symbol>@markPrice@1s`, `!markPrice@arr[@1s]` (named in
the URL, e.g. `/ws/btcusdt@markPrice`, `/stream?streams=btcusdt@markPrice`, or subscribed on any stream socket,
e.g. ccxt's `/market/ws/0`) get `MARK_BURST` `markPriceUpdate` events at once (built from the REST fake's
premium index), then one per `fake.set_mark_price()` of a covered symbol; never on a timer, so a test is
deterministic. Other market streams (`@aggTrade`, `@depth`, ...) are accepted and stay silent.

Choices where Binance's behaviour is undocumented or unverified here: a malformed frame answers
`{"id": null, "status": 400, "error": {"code": -1000, "msg": "Invalid JSON: ..."}}`; an unknown method -1020
"This operation is not supported."; `params` that is not an object -1130; a name twice in `params` -1101 (as
the REST fake refuses a repeated parameter); `userDataStream.subscribe` without a logon -2014; a handshake
naming a listen key that is not open is refused (404), a `SUBSCRIBE` to one answers
`{"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id"}`; a path segment of digits only (the
stream index ccxt appends, `/market/ws/0`) names no stream; any stream is served under any prefix (`/market`,
`/public`, `/private` or none); no commissions (`n` "0").

Test controls (`ws_hub(fake)`): `sessions()`, `disconnect_all()`, `push_raw(text, kind)`,
`push_event(api_key, event)`, `listen_key(api_key)`, `script_reply(reply)` (the next order method frame is
answered with `reply` instead of executed: how a test measures what a client does with an error frame a
firewall would inject), `register_ed25519_key()`; fills come from `fake.fill_order(order_id[, price][,
quantity=])`, expiries from `fake.expire_order(order_id)`, mark moves from `fake.set_mark_price()`.

Usage:
    with FakeBinanceUsdm() as fake:
        url = ws_api_url(fake)                        # ws://127.0.0.1:PORT/ws-fapi/v1 (wss:// with tls=)
        ...                                            # a client sends {"id", "method": "order.place", ...}
        assert [m["method"] for m in ws_order_frames(fake)] == ["order.place"]
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from tests.fakes.binance_usdm import (
    SYMBOLS,
    BinanceError,
    FakeBinanceUsdm,
    _Account,
    _AlgoOrder,
    _Call,
    _fmt,
    _missing,
    _Order,
    _plain,
    _Position,
    _stringify,
    listen_key_for,
)
from tests.fakes.server import WsPeer
from tests.fakes.ws_hub import PushHub

__all__ = [
    "API_PATH",
    "MARK_BURST",
    "ORDER_METHODS",
    "BinanceWsHub",
    "SessionInfo",
    "sign_ws_params",
    "signature_payload",
    "stream_url",
    "ws_api_url",
    "ws_base_url",
    "ws_hub",
    "ws_messages",
    "ws_order_frames",
]

API_PATH = "/ws-fapi/v1"
# Methods that create, change or cancel orders: what a firewall must see before the venue does.
ORDER_METHODS = frozenset({"order.place", "order.modify", "order.cancel", "algoOrder.place", "algoOrder.cancel"})
_COUNTED = frozenset({"order.place", "order.modify", "algoOrder.place"})  # count on the ORDERS limits
_STREAM_PREFIXES = ("", "/private", "/public", "/market")
_WEIGHT_LIMIT, _ORDERS_10S_LIMIT, _ORDERS_1M_LIMIT = 2400, 300, 1200
_PEER_WAIT_S = 1.0  # how long a push waits for a socket whose handshake is still finishing (bounded)
MARK_BURST = 3  # mark-price pushes a new subscription gets at once, so a test sees data flow without waiting


def ws_base_url(fake: FakeBinanceUsdm) -> str:
    """`ws://127.0.0.1:PORT` (`wss://` when the fake serves TLS): one origin for the API and the streams."""
    return f"{'wss' if fake.scheme == 'https' else 'ws'}://127.0.0.1:{fake.port}"


def ws_api_url(fake: FakeBinanceUsdm) -> str:
    """The WebSocket API: `ws://127.0.0.1:PORT/ws-fapi/v1` (ccxt's `urls['api']['ws']['ws-api']['future']`)."""
    return ws_base_url(fake) + API_PATH


def stream_url(fake: FakeBinanceUsdm, listen_key: str, *, combined: bool = False) -> str:
    """A user-data stream: raw `/ws/<key>` (bare events) or combined `/stream?streams=<key>` (`{stream, data}`)."""
    if combined:
        return f"{ws_base_url(fake)}/stream?streams={listen_key}"
    return f"{ws_base_url(fake)}/ws/{listen_key}"


def ws_messages(fake: FakeBinanceUsdm, kind: str | None = None) -> list[dict[str, Any]]:
    """Client messages that were JSON objects, parsed, in arrival order; `kind` "api" or "stream" filters."""
    found = []
    for frame in list(fake.ws_frames):
        if kind is not None and _kind_of(frame.path) != kind:
            continue
        try:
            message = json.loads(frame.text)
        except ValueError:
            continue
        if isinstance(message, dict):
            found.append(message)
    return found


def ws_order_frames(fake: FakeBinanceUsdm) -> list[dict[str, Any]]:
    """Client messages on the WebSocket API carrying an order method (what a firewall must have judged)."""
    return [m for m in ws_messages(fake, "api") if m.get("method") in ORDER_METHODS]


def ws_hub(fake: FakeBinanceUsdm) -> BinanceWsHub:
    """The fake's WebSocket hub, attached on first use (FakeBinanceUsdm publishes state changes to it)."""
    with fake._lock:
        if fake._ws_hub is None:
            fake._ws_hub = BinanceWsHub(fake)
        hub: BinanceWsHub = fake._ws_hub
        return hub


def _kind_of(path: str) -> str:
    return "api" if path.partition("?")[0] == API_PATH else "stream"


# ---- signing ------------------------------------------------------------------------------------------------


def _signed_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def signature_payload(params: Mapping[str, Any], *, form_encoded: bool = False) -> str:
    """What Binance signs: every param but `signature`, sorted by name, `k=v&...` (raw, or form-encoded)."""
    items = sorted((k, _signed_text(v)) for k, v in params.items() if k != "signature")
    if form_encoded:
        return urlencode(items)
    return "&".join(f"{k}={v}" for k, v in items)


def sign_ws_params(params: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """`params` plus the HMAC `signature` ccxt would add (over the raw payload), for hand-built frames."""
    signed = dict(params)
    signed["signature"] = hmac.new(secret.encode(), signature_payload(params).encode(), hashlib.sha256).hexdigest()
    return signed


def _loads(text: str) -> tuple[Any, list[str]]:
    """JSON with every object key that appeared twice reported (json.loads alone keeps the last silently)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                repeated.append(key)
            out[key] = value
        return out

    return json.loads(text, object_pairs_hook=pairs), repeated


# ---- the hub ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One open socket as the fake sees it, for assertions."""

    kind: str  # "api" (/ws-fapi/v1) or "stream"
    path: str
    conn_id: str
    api_key: str | None  # api: the key bound by session.logon
    streams: tuple[str, ...]  # stream: subscribed stream names (listen keys among them)
    subscription_ids: tuple[int, ...]  # api: userDataStream.subscribe ids


Reply = dict[str, Any] | str | Callable[[dict[str, Any]], "dict[str, Any] | str | None"]


class BinanceWsHub(PushHub["_Session", tuple[Reply, frozenset[str]]]):
    """Every socket of one FakeBinanceUsdm: sessions, their streams, and the pushes waiting to leave.

    Lock order: the fake's lock, then the hub's. Events are formatted under the fake's lock (a consistent
    state) and queued; `flush` sends them in queue order without holding the fake's lock, so a slow reader
    never stalls the REST side.
    """

    def __init__(self, fake: FakeBinanceUsdm) -> None:
        super().__init__(fake)
        self._conn_ids = itertools.count(1)
        self._subscription_ids = itertools.count(0)
        self._ed25519: dict[str, Ed25519PublicKey] = {}
        self._realized: dict[tuple[str, str, str], Decimal] = {}  # (api key, symbol, side) -> accumulated

    # ---- test controls --------------------------------------------------------------------------------

    def sessions(self) -> list[SessionInfo]:
        with self._lock:
            return [s.info() for s in self._sessions]

    def _peer_of(self, session: _Session) -> WsPeer | None:
        return session.attach_peer()  # a stream socket may not have spoken yet

    def disconnect_all(self, code: int = 1000) -> int:
        """Close every open socket (as a venue restart would); returns how many were open."""
        with self._lock:
            sessions = list(self._sessions)
        peers = [p for p in (s.attach_peer() for s in sessions) if p is not None and not p.closed]
        for peer in peers:
            peer.close(code)
        return len(peers)

    def push_raw(self, text: str, kind: str | None = None) -> int:
        """Send `text` as is to every open socket (of `kind` "api" or "stream" if given); returns how many."""
        with self._lock:
            sessions = [s for s in self._sessions if kind is None or s.kind == kind]
        peers = [p for p in (s.attach_peer() for s in sessions) if p is not None]
        with self._lock:
            for peer in peers:
                self._pending.append((peer, text))
        self.flush()
        return len(peers)

    def push_event(self, api_key: str, event: dict[str, Any]) -> None:
        """Push a user-data event the fake does not make (e.g. `MARGIN_CALL`) to every stream of the account."""
        with self.fake._lock:
            self._deliver(api_key, [event])
        self.flush()

    def listen_key(self, api_key: str) -> str:
        """Open (or keep open) the account's listen key, as `POST /fapi/v1/listenKey` does, and return it."""
        with self.fake._lock:
            if api_key not in self.fake._accounts:
                raise KeyError(api_key)
            return self.fake._issue_listen_key(api_key)

    def script_reply(self, reply: Reply, methods: Iterable[str] = ORDER_METHODS) -> None:
        """Answer the next frame whose method is in `methods` (any session) with `reply` instead of running it.

        `reply` is a frame (dict, sent as JSON, or str, sent as is) or a function of the request frame; a
        function that returns None sends nothing (the request stays unanswered, e.g. to answer it later with
        `push_raw`, while other requests are pending).
        """
        with self._lock:
            self._scripted.append((reply, frozenset(methods)))

    def register_ed25519_key(self, api_key: str, public_key_pem: str | bytes) -> None:
        """Verify `api_key`'s signatures as Ed25519 (base64) with this public key instead of HMAC."""
        key = load_pem_public_key(public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        with self._lock:
            self._ed25519[api_key] = key

    # ---- plumbing for sessions and FakeBinanceUsdm ----------------------------------------------------

    def open(self, raw_path: str, headers: dict[str, str]) -> _Session | None:
        path, _, query = raw_path.partition("?")
        args = parse_qs(query, keep_blank_values=True)
        conn_id = f"{next(self._conn_ids):08x}"
        session: _Session
        if path == API_PATH:
            session = _ApiSession(self, raw_path, conn_id, self.fake._now_ms(),
                                  return_rate_limits=args.get("returnRateLimits") != ["false"])
        else:
            stream = _stream_of(path, args)
            if stream is None:
                return None
            combined, names = stream
            with self.fake._lock:
                if any(_is_listen_key(n) and n not in self.fake._listen_keys for n in names):
                    return None
            session = _StreamSession(self, raw_path, conn_id, combined, list(dict.fromkeys(names)))
        with self._lock:
            self._sessions.append(session)
        if isinstance(session, _StreamSession) and any(_mark_symbols(n) is not None for n in session.streams):
            # the 101 goes out only when this returns, so a stream named in the URL gets its first pushes from
            # a thread of its own, once the socket is up (bounded by `_PEER_WAIT_S`)
            threading.Thread(target=session.burst_when_open, name=f"binance-ws-burst-{conn_id}",
                             daemon=True).start()
        return session

    def take_scripted(self, method: str) -> Reply | None:
        with self._lock:
            if self._scripted and method in self._scripted[0][1]:
                return self._scripted.popleft()[0]
            return None

    def new_subscription_id(self) -> int:
        with self._lock:
            return next(self._subscription_ids)

    def verify(self, api_key: str, secret: str, params: Mapping[str, Any], signature: str) -> bool:
        payloads = {signature_payload(params), signature_payload(params, form_encoded=True)}
        with self._lock:
            public_key = self._ed25519.get(api_key)
        if public_key is not None:
            try:
                raw = base64.b64decode(signature, validate=True)
            except ValueError:
                return False
            for payload in payloads:
                try:
                    public_key.verify(raw, payload.encode())
                    return True
                except InvalidSignature:
                    continue
            return False
        return any(hmac.compare_digest(hmac.new(secret.encode(), p.encode(), hashlib.sha256).hexdigest(),
                                       signature.lower()) for p in payloads)

    def on_change(self, api_key: str, change: dict[str, Any]) -> None:
        """FakeBinanceUsdm's state changed (called with its lock held): queue the account's events."""
        closed = change.get("listen_key_closed")
        if closed is not None:
            self._expire(closed)
            return
        acct = self.fake._accounts[api_key]
        events: list[dict[str, Any]] = []
        order: _Order | None = change.get("order")
        fill: tuple[Decimal, Decimal, int, Decimal] | None = change.get("fill")
        if fill is not None and order is not None:
            side_key = (api_key, order.symbol, order.position_side)
            self._realized[side_key] = self._realized.get(side_key, Decimal(0)) + fill[3]
        if order is not None:
            events.append(self.order_event(acct, order, change.get("execution", "NEW"), fill))
        algo: _AlgoOrder | None = change.get("algo")
        if algo is not None:
            events.append(self.algo_event(algo))
        position: tuple[str, str] | None = change.get("position")
        if position is not None:
            events.append(self.account_event(api_key, acct, [position], change.get("reason", "ORDER")))
        self._deliver(api_key, events)

    def _deliver(self, api_key: str, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        listen_keys = self.fake._listen_keys
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            if isinstance(session, _StreamSession):
                for name in session.streams:
                    if listen_keys.get(name) == api_key:
                        for event in events:
                            session.push(name, event)
            elif isinstance(session, _ApiSession) and session.peer is not None:
                for sub_id, owner in list(session.user_streams.items()):
                    if owner == api_key:
                        for event in events:
                            session.send({"subscriptionId": sub_id, "event": event})

    def on_mark(self, symbol: str) -> None:
        """FakeBinanceUsdm's mark price of `symbol` changed (called with its lock held): one push per stream."""
        with self._lock:
            sessions = [s for s in self._sessions if isinstance(s, _StreamSession)]
        for session in sessions:
            for name in session.streams:
                covered = _mark_symbols(name)
                if covered is not None and symbol in covered:
                    session.push(name, self.mark_event(name))

    def mark_event(self, name: str, offset_ms: int = 0) -> dict[str, Any] | list[dict[str, Any]]:
        """A `markPriceUpdate` for a mark-price stream (a list of them, one per symbol, for `!markPrice@arr`),
        from the REST fake's premium index, so the socket and `GET /fapi/v1/premiumIndex` agree."""
        symbols = _mark_symbols(name) or []
        rows = []
        for symbol in symbols:
            index = self.fake._premium_index(_Call({"symbol": symbol}, None, None))
            rows.append({"e": "markPriceUpdate", "E": self.fake._now_ms() + offset_ms, "s": symbol,
                         "p": index["markPrice"], "ap": index["markPrice"], "i": index["indexPrice"],
                         "P": index["estimatedSettlePrice"], "r": index["lastFundingRate"],
                         "T": index["nextFundingTime"]})
        return rows if name.startswith("!") else rows[0]

    def _expire(self, listen_key: str) -> None:
        event = {"e": "listenKeyExpired", "E": self.fake._now_ms(), "listenKey": listen_key}
        with self._lock:
            sessions = [s for s in self._sessions if isinstance(s, _StreamSession)]
        for session in sessions:
            if listen_key in session.streams:
                session.push(listen_key, event)

    # ---- events (the REST fake's own rows, plus what only the streams carry) --------------------------

    def order_event(self, acct: _Account, order: _Order, execution: str,
                    fill: tuple[Decimal, Decimal, int, Decimal] | None) -> dict[str, Any]:
        spec = SYMBOLS[order.symbol]
        row = order.to_json()
        last_qty, last_px, trade_id, realized = fill if fill is not None else (Decimal(0), Decimal(0), 0, Decimal(0))
        bids = sum((o.price * (o.orig_qty - o.executed_qty) for o in acct.orders.values()
                    if o.symbol == order.symbol and o.side == "BUY" and o.status in ("NEW", "PARTIALLY_FILLED")
                    and o.type == "LIMIT"), Decimal(0))
        asks = sum((o.price * (o.orig_qty - o.executed_qty) for o in acct.orders.values()
                    if o.symbol == order.symbol and o.side == "SELL" and o.status in ("NEW", "PARTIALLY_FILLED")
                    and o.type == "LIMIT"), Decimal(0))
        body: dict[str, Any] = {
            "s": order.symbol, "c": order.client_order_id, "S": order.side, "o": order.type,
            "f": order.time_in_force, "q": row["origQty"], "p": row["price"], "ap": row["avgPrice"],
            "sp": row["stopPrice"], "x": execution, "X": order.status, "i": order.order_id,
            "l": _fmt(last_qty, spec.quantity_precision), "z": row["executedQty"],
            "L": _fmt(last_px, spec.price_precision), "T": order.update_time, "t": trade_id,
            "b": _plain(bids), "a": _plain(asks), "m": fill is not None and order.type != "MARKET",
            "R": order.reduce_only, "wt": order.working_type, "ot": order.type, "ps": order.position_side,
            "cp": order.close_position, "rp": _fmt(realized, 8), "pP": order.price_protect, "si": 0, "ss": 0,
            "V": order.stp_mode, "pm": order.price_match, "gtd": order.good_till_date,
        }
        if fill is not None:
            body["n"], body["N"] = "0", spec.quote
        if order.type == "TRAILING_STOP_MARKET":
            body["AP"], body["cr"] = row.get("activatePrice", "0"), row.get("priceRate", "0")
        return {"e": "ORDER_TRADE_UPDATE", "E": self.fake._now_ms(), "T": order.update_time, "o": body}

    def algo_event(self, algo: _AlgoOrder) -> dict[str, Any]:
        row = algo.to_json()
        return {"e": "ALGO_UPDATE", "T": algo.update_time, "E": self.fake._now_ms(), "o": {
            "caid": algo.client_algo_id, "aid": algo.algo_id, "at": "CONDITIONAL", "o": algo.order_type,
            "s": algo.symbol, "S": algo.side, "ps": algo.position_side, "f": algo.time_in_force,
            "q": row["quantity"], "X": algo.status, "ai": "", "ap": "0.00000", "aq": "0.00000", "act": "0",
            "tp": row["triggerPrice"], "p": row["price"], "V": algo.stp_mode, "wt": algo.working_type,
            "pm": algo.price_match, "cp": algo.close_position, "pP": algo.price_protect, "R": algo.reduce_only,
            "tt": 0, "gtd": algo.good_till_date,
        }}

    def account_event(self, api_key: str, acct: _Account, keys: list[tuple[str, str]],
                      reason: str) -> dict[str, Any]:
        now = self.fake._now_ms()
        rows = []
        for symbol, side in keys:
            spec = SYMBOLS[symbol]
            pos = acct.positions.get((symbol, side), _Position())
            numbers = self.fake._position_numbers(acct, spec, pos)
            rows.append({
                "s": symbol, "pa": _fmt(pos.amount, spec.quantity_precision), "ep": _plain(pos.entry_price),
                "bep": _plain(pos.entry_price),
                "cr": _fmt(self._realized.get((api_key, symbol, side), Decimal(0)), 8),
                "up": _fmt(numbers["pnl"], 8),
                "mt": "isolated" if acct.margin_type_of(symbol) == "ISOLATED" else "cross",
                "iw": _fmt(numbers["isolated_wallet"], 8), "ps": side, "ma": spec.quote,
            })
        wallet = _fmt(acct.wallet_balance, 8)
        return {"e": "ACCOUNT_UPDATE", "E": now, "T": now,
                "a": {"m": reason, "B": [{"a": "USDT", "wb": wallet, "cw": wallet, "bc": "0"}], "P": rows}}


def _is_listen_key(name: str) -> bool:
    return "@" not in name and not name.startswith("!")


def _mark_symbols(name: str) -> list[str] | None:
    """The symbols a mark-price stream covers: `<symbol>@markPrice[@1s]`, `!markPrice@arr[@1s]`; else None."""
    if name in ("!markPrice@arr", "!markPrice@arr@1s"):
        return list(SYMBOLS)
    base, _, kind = name.partition("@")
    if kind in ("markPrice", "markPrice@1s") and base.upper() in SYMBOLS:
        return [base.upper()]
    return None


def _stream_of(path: str, args: dict[str, list[str]]) -> tuple[bool, list[str]] | None:
    """(combined, stream names) for a stream URL, None for a path the fake does not serve."""
    keys = [k for k in args.get("listenKey", []) if k]
    for prefix in _STREAM_PREFIXES:
        if path == f"{prefix}/ws":
            return False, keys
        if path.startswith(f"{prefix}/ws/"):
            # ccxt appends its stream index (`/market/ws/0`) and subscribes later: digits name no stream
            names = [n for n in path[len(prefix) + 4:].split("/") if n and not n.isdigit()]
            return False, names + keys
        if path == f"{prefix}/stream":
            streams = [n for value in args.get("streams", []) for n in value.split("/") if n]
            return True, streams + keys
    return None


def _handshake_frame() -> FrameType | None:
    """The server's `_serve_websocket` frame that is opening this socket (see `_Session.attach_peer`)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_serve_websocket":
            return frame
        frame = frame.f_back  # type: ignore[assignment]
    return None


class _Session:
    """What both kinds of socket share: the peer, a connection id, sending through the hub."""

    kind = ""

    def __init__(self, hub: BinanceWsHub, path: str, conn_id: str) -> None:
        self.hub, self.path, self.conn_id = hub, path, conn_id
        self.peer: WsPeer | None = None
        self._handshake = _handshake_frame()

    def attach_peer(self, wait_s: float = 0.0) -> WsPeer | None:
        """The socket to push on, found before the client has sent anything.

        tests/fakes/server.py hands a session its `WsPeer` only with a client message, but a stream socket
        pushes first and its clients never send. The peer is a local of the server's `_serve_websocket` frame
        that called `ws_session` (same thread, created right after the 101 answer), so it is read from that
        frame; a push racing the handshake waits for it, at most `wait_s`. (An `on_open(peer)` callback in the
        server would make this unnecessary.)
        """
        deadline = time.monotonic() + wait_s
        while self.peer is None and self._handshake is not None:
            found = self._handshake.f_locals.get("peer")
            if isinstance(found, WsPeer):
                self.peer, self._handshake = found, None
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.001)
        return self.peer

    @property
    def fake(self) -> FakeBinanceUsdm:
        return self.hub.fake

    def send(self, payload: Any) -> None:
        assert self.peer is not None
        self.hub.queue(self.peer, payload)

    def on_message(self, peer: WsPeer, text: str) -> None:
        self.peer = peer
        try:
            self.dispatch(text)
        except Exception:  # a bug in the fake: keep the traceback for the test, answer like Binance's -1000
            self.fake.internal_errors.append(traceback.format_exc())
            self.send({"id": None, "status": 500,
                       "error": {"code": -1000, "msg": "An unknown error occurred while processing the request."}})
        self.hub.flush()

    def on_close(self, peer: WsPeer) -> None:
        self.hub.forget(self)

    def info(self) -> SessionInfo:
        raise NotImplementedError

    def dispatch(self, text: str) -> None:
        raise NotImplementedError


class _StreamSession(_Session):
    """A market/user-data stream socket: its stream names; raw or combined framing."""

    kind = "stream"

    def __init__(self, hub: BinanceWsHub, path: str, conn_id: str, combined: bool, streams: list[str]) -> None:
        super().__init__(hub, path, conn_id)
        self.combined, self.streams = combined, streams

    def info(self) -> SessionInfo:
        return SessionInfo("stream", self.path, self.conn_id, None, tuple(self.streams), ())

    def push(self, name: str, event: dict[str, Any] | list[dict[str, Any]]) -> None:
        if self.attach_peer(_PEER_WAIT_S) is not None:
            self.send({"stream": name, "data": event} if self.combined else event)

    def burst(self, names: Iterable[str]) -> None:
        """`MARK_BURST` pushes for each mark-price stream among `names` (called with the fake's lock held)."""
        for name in names:
            if _mark_symbols(name) is not None:
                for i in range(MARK_BURST):
                    self.push(name, self.hub.mark_event(name, i))

    def burst_when_open(self) -> None:
        if self.attach_peer(_PEER_WAIT_S) is None:
            return
        with self.fake._lock:
            self.burst(self.streams)
        self.hub.flush()

    def dispatch(self, text: str) -> None:
        try:
            message, _ = _loads(text)
        except ValueError as error:
            self.send({"error": {"code": 3, "msg": f"Invalid JSON: {error}"}, "id": None})
            return
        if not isinstance(message, dict):
            self.send({"error": {"code": 2, "msg": "Invalid request: request must be an object"}, "id": None})
            return
        request_id, method, params = message.get("id"), message.get("method"), message.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            self.send({"result": list(self.streams), "id": request_id})
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE", "SET_PROPERTY", "GET_PROPERTY"):
            self.send({"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                       "id": request_id})
            return
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            self.send({"result": None if method == "SET_PROPERTY" else False, "id": request_id})
            return
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            self.send({"error": {"code": 1, "msg": "Invalid value type: expected an array of strings"},
                       "id": request_id})
            return
        with self.fake._lock:
            if method == "SUBSCRIBE" and any(
                    _is_listen_key(p) and p not in self.fake._listen_keys for p in params):
                self.send({"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": request_id})
                return
            added = []
            for name in params:
                if method == "SUBSCRIBE" and name not in self.streams:
                    self.streams.append(name)
                    added.append(name)
                elif method == "UNSUBSCRIBE" and name in self.streams:
                    self.streams.remove(name)
            self.send({"result": None, "id": request_id})
            self.burst(added)  # after the answer, as Binance starts a stream once it confirmed it


Handler = Callable[["_ApiSession", dict[str, Any]], Any]


class _ApiSession(_Session):
    """A WebSocket API socket: the key bound by `session.logon`, and its `userDataStream.subscribe`s."""

    kind = "api"

    def __init__(self, hub: BinanceWsHub, path: str, conn_id: str, connected_since: int, *,
                 return_rate_limits: bool) -> None:
        super().__init__(hub, path, conn_id)
        self.connected_since, self.return_rate_limits = connected_since, return_rate_limits
        self.api_key: str | None = None
        self.authorized_since: int | None = None
        self.user_streams: dict[int, str] = {}  # subscriptionId -> API key
        self._orders: tuple[int, int] | None = None  # ORDERS counts (10 s, 1 min) of the method being run

    def info(self) -> SessionInfo:
        return SessionInfo("api", self.path, self.conn_id, self.api_key, (), tuple(self.user_streams))

    # ---- frames ---------------------------------------------------------------------------------------

    def dispatch(self, text: str) -> None:
        try:
            message, repeated = _loads(text)
        except ValueError as error:
            self.send({"id": None, "status": 400, "error": {"code": -1000, "msg": f"Invalid JSON: {error}"}})
            return
        if not isinstance(message, dict):
            self.send({"id": None, "status": 400,
                       "error": {"code": -1000, "msg": "Invalid request: request must be an object"}})
            return
        request_id, method = message.get("id"), message.get("method")
        if not isinstance(method, str) or not method:
            self._refuse(request_id, BinanceError(-1102, "Mandatory parameter 'method' was not sent, was "
                                                         "empty/null, or malformed."), True)
            return
        scripted = self.hub.take_scripted(method)
        if scripted is not None:
            reply = scripted(message) if callable(scripted) else scripted
            if reply is not None:
                self.send(reply)
            return
        params = message.get("params")
        params = {} if params is None else params
        if not isinstance(params, dict):
            self._refuse(request_id, BinanceError(-1130, "Data sent for parameter 'params' is not valid."), True)
            return
        rate_limits = _flag(params.get("returnRateLimits"), self.return_rate_limits)
        if repeated:
            self._refuse(request_id, BinanceError(-1101, "Duplicate values for a parameter detected."),
                         rate_limits)
            return
        handler = _METHODS.get(method)
        if handler is None:
            self._refuse(request_id, BinanceError(-1020, "This operation is not supported."), rate_limits)
            return
        fake = self.fake
        with fake._lock:
            now = fake._clock()
            fake._weight_times.append(now)
            while fake._weight_times and fake._weight_times[0] < now - 60:
                fake._weight_times.popleft()
            self._orders = None
            with self.hub.capturing() as pushes:
                try:
                    answer: dict[str, Any] = {"id": request_id, "status": 200, "result": handler(self, params)}
                except BinanceError as error:
                    answer = {"id": request_id, "status": error.status, "error": error.body()}
            if rate_limits:
                answer["rateLimits"] = self._rate_limits(method)
            self.send(answer)
            for peer, frame in pushes:
                self.hub.queue(peer, frame)

    def _refuse(self, request_id: Any, error: BinanceError, rate_limits: bool) -> None:
        answer: dict[str, Any] = {"id": request_id, "status": error.status, "error": error.body()}
        if rate_limits:
            with self.fake._lock:
                answer["rateLimits"] = self._rate_limits("")
        self.send(answer)

    def _rate_limits(self, method: str) -> list[dict[str, Any]]:
        limits: list[dict[str, Any]] = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                         "limit": _WEIGHT_LIMIT, "count": len(self.fake._weight_times)}]
        counted = self._orders
        if method in _COUNTED and counted is not None:
            limits += [
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": _ORDERS_10S_LIMIT,
                 "count": counted[0]},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": _ORDERS_1M_LIMIT,
                 "count": counted[1]},
            ]
        return limits

    # ---- authentication -------------------------------------------------------------------------------

    def authorize(self, params: Mapping[str, Any], *, signed: bool) -> tuple[str, _Account]:
        """The key and account a request acts for: its own signed `apiKey`, else the session's logon."""
        fake = self.fake
        ad_hoc = "apiKey" in params or "signature" in params
        key = params.get("apiKey", self.api_key) if ad_hoc else self.api_key
        if not isinstance(key, str) or not key:
            raise BinanceError(-2014, "API-key format invalid.", status=401)
        acct = fake._accounts.get(key)
        if acct is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        if not signed:
            return key, acct
        timestamp = params.get("timestamp")
        text = str(timestamp) if isinstance(timestamp, int | str) and not isinstance(timestamp, bool) else ""
        if not text.isdigit():
            raise _missing("timestamp")
        window = params.get("recvWindow", 5000)
        window_text = str(window) if isinstance(window, int | str) and not isinstance(window, bool) else ""
        if not window_text.isdigit():
            raise BinanceError(-1100, "Illegal characters found in parameter 'recvWindow'.")
        if int(window_text) > 60000:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now_ms = fake._now_ms()
        if not (int(text) < now_ms + 1000 and now_ms - int(text) <= int(window_text)):
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
        if ad_hoc:
            signature = params.get("signature")
            if not isinstance(signature, str) or not signature:
                raise _missing("signature")
            if not self.hub.verify(key, acct.secret, params, signature):
                raise BinanceError(-1022, "Signature for this request is not valid.")
        return key, acct

    def call(self, params: Mapping[str, Any], *, signed: bool = True) -> _Call:
        key, acct = self.authorize(params, signed=signed)
        return _Call(_stringify(params), key, acct)

    def count_order(self, call: _Call) -> None:
        headers = self.fake._count_order(call.acct, self.fake._clock())
        self._orders = (int(headers["X-MBX-ORDER-COUNT-10S"]), int(headers["X-MBX-ORDER-COUNT-1M"]))

    # ---- methods --------------------------------------------------------------------------------------

    def session_status(self) -> dict[str, Any]:
        return {"apiKey": self.api_key, "authorizedSince": self.authorized_since,
                "connectedSince": self.connected_since, "returnRateLimits": self.return_rate_limits,
                "serverTime": self.fake._now_ms()}


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(value).lower() != "false" if not isinstance(value, bool) else value


def _rest(handler: Callable[[FakeBinanceUsdm, _Call], Any], *, order: bool = False) -> Handler:
    """A signed method that is the REST endpoint `handler` (same validation, same answer)."""

    def run(session: _ApiSession, params: dict[str, Any]) -> Any:
        call = session.call(params)
        if order:
            session.count_order(call)
        return handler(session.fake, call)

    return run


def _public(handler: Callable[[FakeBinanceUsdm, _Call], Any]) -> Handler:
    def run(session: _ApiSession, params: dict[str, Any]) -> Any:
        return handler(session.fake, _Call(_stringify(params), None, None))

    return run


def _logon(session: _ApiSession, params: dict[str, Any]) -> Any:
    if "signature" not in params:
        raise _missing("signature")
    key, _ = session.authorize(params, signed=True)
    session.api_key, session.authorized_since = key, session.fake._now_ms()
    return session.session_status()


def _status(session: _ApiSession, params: dict[str, Any]) -> Any:
    return session.session_status()


def _logout(session: _ApiSession, params: dict[str, Any]) -> Any:
    session.api_key = session.authorized_since = None
    return session.session_status()


def _stream_start(session: _ApiSession, params: dict[str, Any]) -> Any:
    key, _ = session.authorize(params, signed=False)
    return {"listenKey": session.fake._issue_listen_key(key)}


def _stream_ping(session: _ApiSession, params: dict[str, Any]) -> Any:
    key, _ = session.authorize(params, signed=False)
    listen_key = listen_key_for(key)
    if listen_key not in session.fake._listen_keys:
        raise BinanceError(-1125, "This listenKey does not exist.")
    return {"listenKey": listen_key}


def _stream_stop(session: _ApiSession, params: dict[str, Any]) -> Any:
    key, acct = session.authorize(params, signed=False)
    listen_key = listen_key_for(key)
    if session.fake._listen_keys.pop(listen_key, None) is not None:
        session.fake._notify(acct, listen_key_closed=listen_key)
    return {}


def _subscribe(session: _ApiSession, params: dict[str, Any]) -> Any:
    if session.api_key is None:
        raise BinanceError(-2014, "API-key format invalid.", status=401)
    return _add_user_stream(session, session.api_key)


def _subscribe_signature(session: _ApiSession, params: dict[str, Any]) -> Any:
    if "signature" not in params:
        raise _missing("signature")
    key, _ = session.authorize(params, signed=True)
    return _add_user_stream(session, key)


def _add_user_stream(session: _ApiSession, api_key: str) -> dict[str, Any]:
    sub_id = session.hub.new_subscription_id()
    session.user_streams[sub_id] = api_key
    return {"subscriptionId": sub_id}


def _unsubscribe(session: _ApiSession, params: dict[str, Any]) -> Any:
    wanted = params.get("subscriptionId")
    if wanted is None:
        session.user_streams.clear()
    else:
        ids = wanted if isinstance(wanted, list) else [wanted]
        for sub_id in ids:
            session.user_streams.pop(int(sub_id), None)
    return {}


_METHODS: dict[str, Handler] = {
    "order.place": _rest(FakeBinanceUsdm._new_order, order=True),
    "order.test": _rest(FakeBinanceUsdm._test_order),
    "order.modify": _rest(FakeBinanceUsdm._amend_order, order=True),
    "order.cancel": _rest(FakeBinanceUsdm._cancel_order),
    "order.status": _rest(FakeBinanceUsdm._query_order),
    "algoOrder.place": _rest(FakeBinanceUsdm._new_algo_order, order=True),
    "algoOrder.cancel": _rest(FakeBinanceUsdm._cancel_algo_order),
    "account.position": _rest(FakeBinanceUsdm._position_risk_v2),
    "v2/account.position": _rest(FakeBinanceUsdm._position_risk_v3),
    "account.balance": _rest(FakeBinanceUsdm._balance),
    "v2/account.balance": _rest(FakeBinanceUsdm._balance),
    "account.status": _rest(FakeBinanceUsdm._account_v2),
    "v2/account.status": _rest(FakeBinanceUsdm._account_v3),
    "depth": _public(FakeBinanceUsdm._depth),
    "ticker.price": _public(FakeBinanceUsdm._ticker_price),
    "ticker.book": _public(FakeBinanceUsdm._book_ticker),
    "session.logon": _logon,
    "session.status": _status,
    "session.logout": _logout,
    "userDataStream.start": _stream_start,
    "userDataStream.ping": _stream_ping,
    "userDataStream.stop": _stream_stop,
    "userDataStream.subscribe": _subscribe,
    "userDataStream.subscribe.signature": _subscribe_signature,
    "userDataStream.unsubscribe": _unsubscribe,
}
