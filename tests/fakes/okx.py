"""A fake OKX v5 exchange (REST `/api/v5/...`: SWAP and FUTURES trading, the account, the wallet) for tests.

Why it exists: the firewall must be tested end to end with real, unmodified client libraries (ccxt.okx and
python-okx). The fake answers like OKX (shapes from docs/venues.md §4.6: `{"code", "msg", "data"}` with
per-order `sCode`/`sMsg`) and lets a test see exactly what arrived. It verifies `OK-ACCESS-SIGN` exactly as OKX
computes it — base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath(+?query) + body)) over the bytes
received — and the passphrase, so a request that a proxy altered in any way is refused with 50113: "the
firewall forwarded it untouched" is provable, not assumed.

What it is not: a matching engine. Sizes are in contracts (`ctVal` per instrument, as OKX lists them); market
orders fill at the mark price at once; limit and post-only orders rest until a test calls `fill_order()` or they
are cancelled; algo orders rest until cancelled. Positions follow fills (net mode: one signed position per
instrument; long/short mode: two). No fees, funding, margin checks or liquidations. Stdlib only; amounts are
`Decimal`, rendered as strings.

Choices where OKX's behaviour is undocumented (docs/venues.md §9): order-level rejections answer HTTP 200 with
`code "1"` (all legs failed) or `"2"` (some did); authentication errors HTTP 401; unknown paths HTTP 404 with
code 50000-style `{"code": "404"...}`; a JSON body with a key twice is refused with 50002.

WebSocket (`/ws/v5/private`, `/ws/v5/business`, `/ws/v5/public`) is served on the same port by
tests/fakes/okx_ws.py: orders placed there live in this book, and every order, fill and position change here is
published to its stream subscribers (`_notify`, then `_flush_ws` once the lock is released).

Usage:
    with FakeOkx() as fake:
        ...  # point a client at fake.base_url
        assert [r.path for r in fake.orders_received()] == ["/api/v5/trade/batch-orders"]
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import ssl
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.server import FakeServer as _Server
from tests.fakes.server import ServedFake

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_MARK_PRICES",
    "FUTURES_ID",
    "INSTRUMENTS",
    "ORDER_ENDPOINTS",
    "WALLET_ENDPOINTS",
    "FakeOkx",
    "InstrumentSpec",
    "OkxError",
    "RecordedRequest",
    "sign",
]

# api key -> (secret, passphrase)
DEFAULT_ACCOUNTS: Mapping[str, tuple[str, str]] = {"okx-test-key": ("okx-test-secret", "okx-test-passphrase")}

# a quarterly future that expires comfortably after any test run
FUTURES_EXPIRY = dt.datetime(2099, 6, 26, 8, 0, tzinfo=dt.UTC)
FUTURES_ID = f"BTC-USDT-{FUTURES_EXPIRY:%y%m%d}"

DEFAULT_MARK_PRICES: Mapping[str, Decimal] = {
    "BTC-USDT-SWAP": Decimal("50000"),
    "ETH-USDT-SWAP": Decimal("3000"),
    "SOL-USDT-SWAP": Decimal("150"),
    "DOGE-USDT-SWAP": Decimal("0.2"),
    "ADA-USDT-SWAP": Decimal("0.5"),
    "BTC-USD-SWAP": Decimal("50000"),
    FUTURES_ID: Decimal("50500"),
    "BTC-USDT": Decimal("50000"),
    "ETH-USDT": Decimal("3000"),
}

# Requests that create or change orders: what a firewall must see before the venue does.
ORDER_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/api/v5/trade/order"),
    ("POST", "/api/v5/trade/batch-orders"),
    ("POST", "/api/v5/trade/amend-order"),
    ("POST", "/api/v5/trade/amend-batch-orders"),
    ("POST", "/api/v5/trade/order-algo"),
    ("POST", "/api/v5/trade/close-position"),
})

# Money or keys leaving the trader's control. Tests assert these never arrive through the firewall.
WALLET_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/api/v5/asset/withdrawal"),
    ("POST", "/api/v5/asset/transfer"),
    ("POST", "/api/v5/asset/subaccount/transfer"),
    ("POST", "/api/v5/users/subaccount/modify-apikey"),
    ("POST", "/api/v5/users/subaccount/delete-apikey"),
    ("POST", "/api/v5/users/subaccount/apikey"),
})

_TIMESTAMP_WINDOW_S = 30  # OKX refuses a request whose OK-ACCESS-TIMESTAMP is further off (50102)


# --------------------------------------------------------------------------------------------------------
# Instruments


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One instrument as `/api/v5/public/instruments` lists it (the fields ccxt and the firewall read)."""

    inst_id: str
    inst_type: str  # SWAP, FUTURES or SPOT
    base: str
    quote: str
    settle: str
    ct_val: Decimal | None  # contract value; None for spot
    ct_val_ccy: str
    lot_sz: Decimal
    min_sz: Decimal
    tick_sz: Decimal
    max_lever: int
    exp_time: int | None = None

    @property
    def inverse(self) -> bool:
        return self.settle == self.base and self.inst_type != "SPOT"

    def to_json(self) -> dict[str, Any]:
        contract = self.inst_type != "SPOT"
        family = f"{self.base}-{self.quote}" if contract else ""
        return {
            "alias": "quarter" if self.inst_type == "FUTURES" else "",
            "baseCcy": "" if contract else self.base,
            "category": "1",
            "ctMult": "1" if contract else "",
            "ctType": ("inverse" if self.inverse else "linear") if contract else "",
            "ctVal": _plain(self.ct_val) if self.ct_val is not None else "",
            "ctValCcy": self.ct_val_ccy if contract else "",
            "expTime": str(self.exp_time) if self.exp_time else "",
            "instFamily": family,
            "instId": self.inst_id,
            "instIdCode": zlib.crc32(self.inst_id.encode()) % 100_000,
            "instType": self.inst_type,
            "lever": str(self.max_lever),
            "listTime": "1606468572000",
            "lotSz": _plain(self.lot_sz),
            "maxIcebergSz": "100000000",
            "maxLmtAmt": "20000000",
            "maxLmtSz": "100000000",
            "maxMktAmt": "",
            "maxMktSz": "10000",
            "maxStopSz": "10000",
            "maxTriggerSz": "100000000",
            "maxTwapSz": "100000000",
            "minSz": _plain(self.min_sz),
            "optType": "",
            "quoteCcy": "" if contract else self.quote,
            "settleCcy": self.settle if contract else "",
            "state": "live",
            "stk": "",
            "tickSz": _plain(self.tick_sz),
            "uly": family,
        }


def _swap(base: str, ct_val: str, lot: str, tick: str, lever: int = 100) -> InstrumentSpec:
    return InstrumentSpec(f"{base}-USDT-SWAP", "SWAP", base, "USDT", "USDT", Decimal(ct_val), base, Decimal(lot),
                          Decimal(lot), Decimal(tick), lever)


INSTRUMENTS: Mapping[str, InstrumentSpec] = {
    spec.inst_id: spec
    for spec in (
        _swap("BTC", "0.01", "0.01", "0.1", 125),
        _swap("ETH", "0.1", "0.01", "0.01", 100),
        _swap("SOL", "1", "0.01", "0.001", 50),
        _swap("DOGE", "1000", "0.01", "0.00001", 50),
        # not in the firewall's bundled table: its contract value must be learned from this listing
        _swap("ADA", "100", "0.1", "0.0001", 50),
        InstrumentSpec("BTC-USD-SWAP", "SWAP", "BTC", "USD", "BTC", Decimal("100"), "USD", Decimal("1"),
                       Decimal("1"), Decimal("0.1"), 125),
        InstrumentSpec(FUTURES_ID, "FUTURES", "BTC", "USDT", "USDT", Decimal("0.01"), "BTC", Decimal("0.1"),
                       Decimal("0.1"), Decimal("0.1"), 125, int(FUTURES_EXPIRY.timestamp() * 1000)),
        InstrumentSpec("BTC-USDT", "SPOT", "BTC", "USDT", "", None, "", Decimal("0.00000001"),
                       Decimal("0.00001"), Decimal("0.1"), 10),
        InstrumentSpec("ETH-USDT", "SPOT", "ETH", "USDT", "", None, "", Decimal("0.000001"),
                       Decimal("0.0001"), Decimal("0.01"), 10),
    )
}

_ORDER_TYPES = frozenset({"market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc"})
_ALGO_TYPES = frozenset({"conditional", "oco", "trigger", "move_order_stop", "iceberg", "twap"})
_OPEN = ("live", "partially_filled")


# --------------------------------------------------------------------------------------------------------
# Request log


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as it arrived (before any parsing could hide a difference), and what was answered."""

    method: str
    path: str
    query: str  # raw, undecoded, without the leading "?"
    body: bytes
    headers: dict[str, str]
    status: int
    code: str  # OKX's top-level answer code ("0" success)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def api_key(self) -> str | None:
        return self.header("OK-ACCESS-KEY")

    @property
    def endpoint(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


def sign(timestamp: str, method: str, request_path: str, body: bytes | str, secret: str) -> str:
    """OKX's OK-ACCESS-SIGN: base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body))."""
    raw = body.encode() if isinstance(body, str) else body
    message = (timestamp + method.upper() + request_path).encode() + raw
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


# --------------------------------------------------------------------------------------------------------
# State


class OkxError(Exception):
    """A non-order error: HTTP status plus `{"code": CODE, "msg": ..., "data": []}`."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg, "data": []}


class _LegError(Exception):
    """One order of a request refused: becomes its `sCode`/`sMsg` entry."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg = code, msg


@dataclass(slots=True)
class _Order:
    ord_id: str
    inst_id: str
    cl_ord_id: str
    tag: str
    side: str
    pos_side: str
    ord_type: str
    td_mode: str
    sz: Decimal
    px: Decimal | None
    reduce_only: bool
    c_time: int
    u_time: int
    state: str = "live"
    acc_fill_sz: Decimal = Decimal(0)
    avg_px: Decimal | None = None
    fill_px: Decimal | None = None
    lever: str = "10"

    def to_json(self, spec: InstrumentSpec) -> dict[str, Any]:
        return {
            "accFillSz": _plain(self.acc_fill_sz),
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": _plain(self.avg_px) if self.avg_px is not None else "",
            "cTime": str(self.c_time),
            "cancelSource": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": self.cl_ord_id,
            "fee": "0",
            "feeCcy": spec.settle,
            "fillPx": _plain(self.fill_px) if self.fill_px is not None else "",
            "fillSz": _plain(self.acc_fill_sz) if self.acc_fill_sz else "0",
            "fillTime": str(self.u_time) if self.acc_fill_sz else "",
            "instId": self.inst_id,
            "instType": spec.inst_type,
            "lever": self.lever,
            "ordId": self.ord_id,
            "ordType": self.ord_type,
            "pnl": "0",
            "posSide": self.pos_side,
            "px": _plain(self.px) if self.px is not None else "",
            "rebate": "0",
            "rebateCcy": spec.settle,
            "reduceOnly": "true" if self.reduce_only else "false",
            "side": self.side,
            "slOrdPx": "",
            "slTriggerPx": "",
            "source": "",
            "state": self.state,
            "stpId": "",
            "stpMode": "cancel_maker",
            "sz": _plain(self.sz),
            "tag": self.tag,
            "tdMode": self.td_mode,
            "tgtCcy": "",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tradeId": "",
            "uTime": str(self.u_time),
        }


@dataclass(slots=True)
class _AlgoOrder:
    algo_id: str
    inst_id: str
    algo_cl_ord_id: str
    side: str
    pos_side: str
    ord_type: str
    td_mode: str
    sz: str
    fields: dict[str, str]
    reduce_only: bool
    c_time: int
    state: str = "live"

    def to_json(self, spec: InstrumentSpec) -> dict[str, Any]:
        return {
            "activePx": "", "actualPx": "", "actualSide": "", "actualSz": "0", "algoClOrdId": self.algo_cl_ord_id,
            "algoId": self.algo_id, "cTime": str(self.c_time), "callbackRatio": "", "callbackSpread": "",
            "ccy": "", "clOrdId": "", "closeFraction": self.fields.get("closeFraction", ""),
            "instId": self.inst_id, "instType": spec.inst_type, "last": "", "lever": "10", "moveTriggerPx": "",
            "ordId": "", "ordPx": self.fields.get("orderPx", ""), "ordType": self.ord_type,
            "posSide": self.pos_side, "reduceOnly": "true" if self.reduce_only else "false", "side": self.side,
            "slOrdPx": self.fields.get("slOrdPx", ""), "slTriggerPx": self.fields.get("slTriggerPx", ""),
            "slTriggerPxType": self.fields.get("slTriggerPxType", ""), "state": self.state, "sz": self.sz,
            "tag": "", "tdMode": self.td_mode, "tgtCcy": "", "tpOrdPx": self.fields.get("tpOrdPx", ""),
            "tpTriggerPx": self.fields.get("tpTriggerPx", ""), "triggerPx": self.fields.get("triggerPx", ""),
            "triggerPxType": self.fields.get("triggerPxType", ""), "triggerTime": "", "uTime": str(self.c_time),
        }


@dataclass(slots=True)
class _Position:
    pos: Decimal  # contracts; signed in net mode, unsigned for long/short legs
    avg_px: Decimal
    td_mode: str
    c_time: int
    u_time: int


@dataclass(slots=True)
class _Account:
    secret: str
    passphrase: str
    balance: Decimal
    pos_mode: str = "net_mode"
    orders: dict[str, _Order] = field(default_factory=dict)
    algo_orders: dict[str, _AlgoOrder] = field(default_factory=dict)
    positions: dict[tuple[str, str], _Position] = field(default_factory=dict)  # (instId, posSide)
    leverage: dict[tuple[str, str], str] = field(default_factory=dict)  # (instId, mgnMode) -> lever


@dataclass(frozen=True, slots=True)
class _Call:
    params: dict[str, str]
    body: Any
    account: _Account | None

    @property
    def acct(self) -> _Account:
        assert self.account is not None
        return self.account


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def _dec(obj: Mapping[str, Any], name: str, *, required: bool = False) -> Decimal | None:
    raw = obj.get(name)
    if raw is None or raw == "":
        if required:
            raise _LegError("51000", f"Parameter {name} error")
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise _LegError("51000", f"Parameter {name} error") from None
    if not value.is_finite():
        raise _LegError("51000", f"Parameter {name} error")
    return value


def _truthy(raw: Any) -> bool:
    return raw is True or (isinstance(raw, str) and raw.lower() == "true")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise OkxError("50002", "Json data format error.", 400)
        obj[key] = value
    return obj


_PUBLIC, _SIGNED = "public", "signed"


class FakeOkx(ServedFake):
    """Fake OKX v5 REST venue on 127.0.0.1. Thread-safe; one instance per test (or per session) is cheap."""

    def __init__(
        self,
        accounts: Mapping[str, tuple[str, str]] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        balance: Decimal = Decimal("100000"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.RLock()
        self._tls = tls
        self._host, self._requested_port = host, port
        self._initial_balance = balance
        self._clock = clock
        self._credentials = dict(DEFAULT_ACCOUNTS if accounts is None else accounts)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: list[RecordedRequest] = []
        self.internal_errors: list[str] = []  # tracebacks of exceptions inside handlers (answered with 500)
        self._ws_hub: Any = None  # tests/fakes/okx_ws.py's OkxWsHub, attached by the first `ws_session`
        self._reset_state()

    def _reset_state(self) -> None:
        self._accounts = {k: _Account(secret=s, passphrase=p, balance=self._initial_balance)
                          for k, (s, p) in self._credentials.items()}
        self._marks: dict[str, Decimal] = dict(DEFAULT_MARK_PRICES)
        self._ids = itertools.count(612_345_678_901_234_567)
        self._algo_ids = itertools.count(712_345_678_901_234_567)
        self._wd_ids = itertools.count(90_001)
        self._trade_ids = itertools.count(1_518_905_529)  # only the WebSocket pushes show trade ids
        self._lost_answers: list[tuple[str, str, OkxError]] = []

    # ---- what arrived --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint in ORDER_ENDPOINTS]

    def wallet_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint in WALLET_ENDPOINTS]

    def calls(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self._reset_state()

    # ---- test controls -------------------------------------------------------------------------------

    def add_account(self, api_key: str, secret: str, passphrase: str) -> None:
        with self._lock:
            self._credentials[api_key] = (secret, passphrase)
            self._accounts[api_key] = _Account(secret=secret, passphrase=passphrase, balance=self._initial_balance)

    def set_balance(self, api_key: str, balance: Decimal) -> None:
        """Set the account's balance (a day's losses): account balance's totalEq follows."""
        with self._lock:
            self._accounts[api_key].balance = balance

    def set_mark_price(self, inst_id: str, price: Decimal) -> None:
        if inst_id not in INSTRUMENTS:
            raise KeyError(f"unknown instrument {inst_id!r}; the fake lists {sorted(INSTRUMENTS)}")
        with self._lock:
            self._marks[inst_id] = Decimal(price)
            self._notify(None, mark=inst_id)
        self._flush_ws()

    def position(self, api_key: str, inst_id: str, pos_side: str = "net") -> Decimal:
        """Position in contracts (net mode: signed)."""
        with self._lock:
            pos = self._accounts[api_key].positions.get((inst_id, pos_side))
            return Decimal(0) if pos is None else pos.pos

    def set_position(self, api_key: str, inst_id: str, contracts: Decimal, *, pos_side: str = "net",
                     avg_px: Decimal | None = None) -> None:
        with self._lock:
            now = self._now_ms()
            price = self._marks[inst_id] if avg_px is None else Decimal(avg_px)
            self._accounts[api_key].positions[(inst_id, pos_side)] = _Position(Decimal(contracts), price, "cross",
                                                                               now, now)
            self._notify(self._accounts[api_key], position=(inst_id, pos_side))
        self._flush_ws()

    def set_position_mode(self, api_key: str, mode: str) -> None:
        with self._lock:
            self._accounts[api_key].pos_mode = mode

    def open_orders(self, api_key: str) -> list[dict[str, Any]]:
        with self._lock:
            acct = self._accounts[api_key]
            return [o.to_json(INSTRUMENTS[o.inst_id]) for o in acct.orders.values() if o.state in _OPEN] + [
                a.to_json(INSTRUMENTS[a.inst_id]) for a in acct.algo_orders.values() if a.state == "live"]

    def fill_order(self, ord_id: str, price: Decimal | None = None) -> dict[str, Any]:
        """Fill a resting order completely (at its limit price unless given), as if the market crossed it."""
        try:
            return self._fill_order(ord_id, price)
        finally:
            self._flush_ws()  # stream subscribers see the fill (outside the lock: sockets may be slow)

    def _fill_order(self, ord_id: str, price: Decimal | None) -> dict[str, Any]:
        with self._lock:
            for acct in self._accounts.values():
                order = acct.orders.get(ord_id)
                if order is not None:
                    if order.state not in _OPEN:
                        raise ValueError(f"order {ord_id} is {order.state}")
                    fill_price = Decimal(price) if price is not None else (order.px or self._marks[order.inst_id])
                    self._fill(acct, order, order.sz - order.acc_fill_sz, fill_price)
                    return order.to_json(INSTRUMENTS[order.inst_id])
        raise KeyError(ord_id)

    def cancel_by_venue(self, ord_id: str) -> dict[str, Any]:
        """Cancel a resting order as OKX itself would (self-trade prevention, a delisting): no request, only the
        stream event tells the bot."""
        try:
            with self._lock:
                for acct in self._accounts.values():
                    order = acct.orders.get(ord_id)
                    if order is not None:
                        if order.state not in _OPEN:
                            raise ValueError(f"order {ord_id} is {order.state}")
                        order.state, order.u_time = "canceled", self._now_ms()
                        self._notify(acct, order=order)
                        return order.to_json(INSTRUMENTS[order.inst_id])
            raise KeyError(ord_id)
        finally:
            self._flush_ws()

    def lose_answer(self, method: str, path: str, *, code: str = "50004", status: int = 400,
                    msg: str = "Endpoint request timeout (does not indicate success or failure of order, please "
                               "check order status)") -> None:
        """Handle the next authenticated `method path` request (the order is placed), then answer it with this
        error, as OKX does when its endpoint timed out (HTTP 400, code 50004: the order's fate unknown)."""
        with self._lock:
            self._lost_answers.append((method.upper(), path, OkxError(code, msg, status)))

    # ---- WebSocket (tests/fakes/okx_ws.py serves the sockets; state stays here) ----------------------

    def ws_session(self, path: str, headers: dict[str, str]) -> Any:
        """Called by the server for a WebSocket handshake on this fake's port (see tests/fakes/server.py)."""
        from tests.fakes.okx_ws import ws_hub  # imported here: okx_ws builds on this module

        return ws_hub(self).open(path, headers)

    def _notify(self, acct: _Account | None, **change: Any) -> None:
        """Tell stream subscribers what changed (an order, a fill, a position, an algo order, a mark price).

        Called with the lock held, so the hub formats every push from a consistent state; the pushes leave
        in `_flush_ws`, after the lock is released.
        """
        if self._ws_hub is not None:
            api_key = next((k for k, a in self._accounts.items() if a is acct), None)
            self._ws_hub.on_change(api_key, change)

    def _flush_ws(self) -> None:
        if self._ws_hub is not None:
            self._ws_hub.flush()

    # ---- request pipeline (called from handler threads) ----------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _handle(self, method: str, raw_path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, Any]:
        path, _, query = raw_path.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            status, payload = 200, None
            try:
                route = _ROUTES.get((method, path))
                if route is None:
                    if any(known == path for _, known in _ROUTES):
                        raise OkxError("50115", "Invalid request method.", 405)
                    raise OkxError("404", "Not Found", 404)
                security, handler = route
                account = self._authenticate(method, raw_path, lowered, body) if security == _SIGNED else None
                parsed_body: Any = None
                if body:
                    try:
                        parsed_body = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_object)
                    except (UnicodeDecodeError, ValueError):
                        raise OkxError("50002", "Json data format error.", 400) from None
                params = dict(parse_qsl(query, keep_blank_values=True))
                payload = handler(self, _Call(params, parsed_body, account))
                for i, (l_method, l_path, error) in enumerate(self._lost_answers):
                    if account is not None and (l_method, l_path) == (method, path):
                        del self._lost_answers[i]
                        raise error
            except OkxError as error:
                status, payload = error.status, error.body()
            except Exception:  # a bug in the fake: answer like OKX's system error, keep the traceback for the test
                self.internal_errors.append(traceback.format_exc())
                status, payload = 500, {"code": "50026", "msg": "System error. Try again later.", "data": []}
            self._log.append(RecordedRequest(method, path, query, body, dict(headers), status,
                                             str(payload.get("code"))))
        self._flush_ws()
        return status, payload

    def _authenticate(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> _Account:
        api_key = headers.get("ok-access-key")
        if not api_key:
            raise OkxError("50103", 'Request header "OK-ACCESS-KEY" cannot be empty.', 401)
        passphrase = headers.get("ok-access-passphrase")
        if not passphrase:
            raise OkxError("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.', 401)
        signature = headers.get("ok-access-sign")
        if not signature:
            raise OkxError("50106", 'Request header "OK-ACCESS-SIGN" cannot be empty.', 401)
        timestamp = headers.get("ok-access-timestamp")
        if not timestamp:
            raise OkxError("50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.', 401)
        account = self._accounts.get(api_key)
        if account is None:
            raise OkxError("50111", "Invalid OK-ACCESS-KEY.", 401)
        try:
            sent = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise OkxError("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401) from None
        if abs(self._clock() - sent) > _TIMESTAMP_WINDOW_S:
            raise OkxError("50102", "Timestamp request expired.", 401)
        if not hmac.compare_digest(passphrase, account.passphrase):
            raise OkxError("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
        expected = sign(timestamp, method, raw_path, body, account.secret)
        if not hmac.compare_digest(expected, signature):
            raise OkxError("50113", "Invalid Sign.", 401)
        return account

    # ---- public ----------------------------------------------------------------------------------------

    def _ok(self, data: list[Any], **extra: Any) -> dict[str, Any]:
        return {"code": "0", "msg": "", "data": data, **extra}

    def _time(self, call: _Call) -> Any:
        return self._ok([{"ts": str(self._now_ms())}])

    def _instruments(self, call: _Call) -> Any:
        inst_type = call.params.get("instType", "")
        if not inst_type:
            raise OkxError("50014", "Parameter instType can not be empty.")
        inst_id = call.params.get("instId")
        return self._ok([s.to_json() for s in INSTRUMENTS.values()
                         if s.inst_type == inst_type and (not inst_id or s.inst_id == inst_id)])

    def _selected(self, call: _Call, *, contracts_only: bool) -> list[InstrumentSpec]:
        inst_id = call.params.get("instId")
        if inst_id:
            if inst_id not in INSTRUMENTS:
                raise OkxError("51001", f"Instrument ID {inst_id} does not exist.")
            return [INSTRUMENTS[inst_id]]
        inst_type = call.params.get("instType")
        return [s for s in INSTRUMENTS.values() if (not inst_type or s.inst_type == inst_type)
                and (not contracts_only or s.inst_type != "SPOT")]

    def _mark_price(self, call: _Call) -> Any:
        return self._ok([{"instId": s.inst_id, "instType": s.inst_type, "markPx": _plain(self._marks[s.inst_id]),
                          "ts": str(self._now_ms())} for s in self._selected(call, contracts_only=True)])

    def _ticker_row(self, spec: InstrumentSpec) -> dict[str, Any]:
        last = self._marks[spec.inst_id]
        return {
            "instType": spec.inst_type, "instId": spec.inst_id, "last": _plain(last), "lastSz": "1",
            "askPx": _plain(last + spec.tick_sz), "askSz": "10", "bidPx": _plain(last - spec.tick_sz),
            "bidSz": "10", "open24h": _plain(last), "high24h": _plain(last), "low24h": _plain(last),
            "volCcy24h": "1000", "vol24h": "100000", "sodUtc0": _plain(last), "sodUtc8": _plain(last),
            "ts": str(self._now_ms()),
        }

    def _ticker(self, call: _Call) -> Any:
        if not call.params.get("instId"):
            raise OkxError("50014", "Parameter instId can not be empty.")
        return self._ok([self._ticker_row(s) for s in self._selected(call, contracts_only=False)])

    def _tickers(self, call: _Call) -> Any:
        return self._ok([self._ticker_row(s) for s in self._selected(call, contracts_only=False)])

    # ---- account -----------------------------------------------------------------------------------------

    def _currencies(self, call: _Call) -> Any:
        def chain(ccy: str, network: str, fee: str) -> dict[str, Any]:
            return {"canDep": True, "canInternal": True, "canWd": True, "ccy": ccy, "chain": f"{ccy}-{network}",
                    "depQuotaFixed": "", "depQuoteDailyLayer2": "", "logoLink": "", "mainNet": True,
                    "maxFee": fee, "maxFeeForCtAddr": fee, "maxWd": "1000000", "minDep": "0.00000001",
                    "minDepArrivalConfirm": "1", "minFee": fee, "minFeeForCtAddr": fee, "minWd": "0.0001",
                    "minWdUnlockConfirm": "1", "name": ccy, "needTag": False, "usedDepQuotaFixed": "",
                    "usedWdQuota": "0", "wdQuota": "10000000", "wdTickSz": "8"}

        return self._ok([chain("BTC", "Bitcoin", "0.0002"), chain("ETH", "ERC20", "0.001"),
                         chain("USDT", "TRC20", "1"), chain("USDT", "ERC20", "3")])

    def _config(self, call: _Call) -> Any:
        return self._ok([{"acctLv": "2", "autoLoan": False, "ctIsoMode": "automatic", "greeksType": "PA",
                          "label": "fake", "level": "Lv1", "levelTmp": "", "mainUid": "44705892343619584",
                          "mgnIsoMode": "automatic", "posMode": call.acct.pos_mode, "spotOffsetType": "",
                          "uid": "44705892343619584"}])

    def _balance(self, call: _Call) -> Any:
        bal = _plain(call.acct.balance)
        now = str(self._now_ms())
        return self._ok([{"adjEq": bal, "details": [{
            "availBal": bal, "availEq": bal, "cashBal": bal, "ccy": "USDT", "disEq": bal, "eq": bal,
            "eqUsd": bal, "frozenBal": "0", "ordFrozen": "0", "uTime": now, "upl": "0",
        }], "imr": "0", "isoEq": "0", "mgnRatio": "", "mmr": "0", "notionalUsd": "0", "ordFroz": "0",
            "totalEq": bal, "uTime": now}])

    def _position_row(self, spec: InstrumentSpec, pos_side: str, pos: _Position, lever: str) -> dict[str, Any]:
        mark = self._marks[spec.inst_id]
        ct_val = spec.ct_val or Decimal(1)
        notional_usd = abs(pos.pos) * ct_val * (Decimal(1) if spec.inverse else mark)
        return {
            "adl": "1", "availPos": _plain(abs(pos.pos)), "avgPx": _plain(pos.avg_px), "cTime": str(pos.c_time),
            "ccy": spec.settle, "deltaBS": "", "deltaPA": "", "gammaBS": "", "gammaPA": "", "imr": "",
            "instId": spec.inst_id, "instType": spec.inst_type, "interest": "0", "last": _plain(mark),
            "lever": lever, "liab": "", "liabCcy": "", "liqPx": "", "margin": "", "markPx": _plain(mark),
            "mgnMode": pos.td_mode, "mgnRatio": "", "mmr": "", "notionalUsd": _plain(notional_usd),
            "optVal": "", "pos": _plain(pos.pos), "posCcy": "",
            "posId": str(zlib.crc32(f"{spec.inst_id}|{pos_side}".encode())), "posSide": pos_side,
            "thetaBS": "", "thetaPA": "", "tradeId": "", "uTime": str(pos.u_time),
            "upl": "0", "uplRatio": "0", "vegaBS": "", "vegaPA": "",
        }

    def _positions(self, call: _Call) -> Any:
        acct = call.acct
        wanted = {i for i in call.params.get("instId", "").split(",") if i}
        inst_type = call.params.get("instType")
        rows = []
        for (inst_id, pos_side), pos in acct.positions.items():
            spec = INSTRUMENTS[inst_id]
            if pos.pos == 0 or (wanted and inst_id not in wanted) or (inst_type and spec.inst_type != inst_type):
                continue
            rows.append(self._position_row(spec, pos_side, pos, acct.leverage.get((inst_id, pos.td_mode), "10")))
        return self._ok(rows)

    def _set_leverage(self, call: _Call) -> Any:
        body = call.body if isinstance(call.body, dict) else {}
        inst_id = body.get("instId", "")
        if inst_id not in INSTRUMENTS:
            raise OkxError("51001", f"Instrument ID {inst_id} does not exist.")
        lever = _dec(body, "lever")
        mode = body.get("mgnMode")
        if mode not in ("cross", "isolated"):
            raise OkxError("51000", "Parameter mgnMode error")
        if lever is None or lever < 1:
            raise OkxError("51000", "Parameter lever error")
        if lever > INSTRUMENTS[inst_id].max_lever:
            raise OkxError("59102", "Leverage exceeds the maximum leverage. Adjust the leverage.")
        call.acct.leverage[(inst_id, mode)] = _plain(lever)
        return self._ok([{"instId": inst_id, "lever": _plain(lever), "mgnMode": mode,
                          "posSide": body.get("posSide", "") or ""}])

    def _set_position_mode(self, call: _Call) -> Any:
        body = call.body if isinstance(call.body, dict) else {}
        mode = body.get("posMode")
        if mode not in ("long_short_mode", "net_mode"):
            raise OkxError("51000", "Parameter posMode error")
        acct = call.acct
        if any(p.pos for p in acct.positions.values()) or any(o.state in _OPEN for o in acct.orders.values()):
            raise OkxError("59000", "Settings failed. Close any open positions or orders before modifying settings.")
        acct.pos_mode = mode
        return self._ok([{"posMode": mode}])

    # ---- orders --------------------------------------------------------------------------------------------

    def _spec(self, leg: Mapping[str, Any]) -> InstrumentSpec:
        inst_id = leg.get("instId")
        if not inst_id:
            raise _LegError("50014", "Parameter instId can not be empty.")
        spec = INSTRUMENTS.get(str(inst_id))
        if spec is None:
            raise _LegError("51001", f"Instrument ID {inst_id} does not exist.")
        return spec

    def _pos_side(self, acct: _Account, leg: Mapping[str, Any]) -> str:
        raw = leg.get("posSide") or ""
        if acct.pos_mode == "net_mode":
            if raw not in ("", "net"):
                raise _LegError("51000", "Parameter posSide error")
            return "net"
        if raw not in ("long", "short"):
            raise _LegError("51000", "Parameter posSide error")
        return str(raw)

    def _place(self, acct: _Account, leg: Any) -> dict[str, Any]:
        if not isinstance(leg, dict):
            raise _LegError("50002", "Json data format error.")
        spec = self._spec(leg)
        if spec.inst_type == "SPOT":
            raise _LegError("51010", "You can't complete this request under your current account mode.")
        td_mode = leg.get("tdMode")
        if td_mode not in ("cross", "isolated"):
            raise _LegError("51000", "Parameter tdMode error")
        side = leg.get("side")
        if side not in ("buy", "sell"):
            raise _LegError("51000", "Parameter side error")
        ord_type = leg.get("ordType")
        if ord_type not in _ORDER_TYPES:
            raise _LegError("51000", "Parameter ordType error")
        pos_side = self._pos_side(acct, leg)
        sz = _dec(leg, "sz", required=True)
        assert sz is not None
        self._check_size(spec, sz)
        px = None
        if ord_type not in ("market", "optimal_limit_ioc"):
            px = _dec(leg, "px", required=True)
            if px is None or px <= 0 or px % spec.tick_sz:
                raise _LegError("51000", "Parameter px error")
        reduce_only = _truthy(leg.get("reduceOnly"))
        if reduce_only and pos_side == "net":
            current = acct.positions.get((spec.inst_id, "net"))
            direction = 1 if side == "buy" else -1
            if current is None or current.pos == 0 or (current.pos > 0) == (direction > 0):
                raise _LegError("51169", "Order failed because you don't have any positions to reduce.")
        cl_ord_id = str(leg.get("clOrdId") or "")
        if cl_ord_id and any(o.cl_ord_id == cl_ord_id and o.state in _OPEN for o in acct.orders.values()):
            raise _LegError("51016", "Duplicated client order ID")
        now = self._now_ms()
        order = _Order(str(next(self._ids)), spec.inst_id, cl_ord_id, str(leg.get("tag") or ""), str(side),
                       pos_side, str(ord_type), str(td_mode), sz, px, reduce_only, now, now,
                       lever=acct.leverage.get((spec.inst_id, str(td_mode)), "10"))
        acct.orders[order.ord_id] = order
        self._notify(acct, order=order)
        if ord_type in ("market", "optimal_limit_ioc"):
            quantity = self._fillable(acct, order)
            if quantity > 0:
                self._fill(acct, order, quantity, self._marks[spec.inst_id])
            if order.state in _OPEN:
                order.state = "canceled"  # an unfilled rest of an IOC market order does not rest
                self._notify(acct, order=order)
        return {"clOrdId": cl_ord_id, "ordId": order.ord_id, "sCode": "0", "sMsg": "Order placed",
                "tag": order.tag, "ts": str(now)}

    @staticmethod
    def _check_size(spec: InstrumentSpec, sz: Decimal) -> None:
        if sz <= 0:
            raise _LegError("51000", "Parameter sz error")
        if sz < spec.min_sz:
            raise _LegError("51020", "Your order should meet or exceed the minimum order amount.")
        if sz % spec.lot_sz:
            raise _LegError("51121", "Order quantity must be a multiple of the lot size.")

    def _fillable(self, acct: _Account, order: _Order) -> Decimal:
        if not order.reduce_only or order.pos_side != "net":
            return order.sz - order.acc_fill_sz
        current = acct.positions.get((order.inst_id, "net"))
        return min(order.sz - order.acc_fill_sz, abs(current.pos) if current else Decimal(0))

    def _fill(self, acct: _Account, order: _Order, quantity: Decimal, price: Decimal) -> None:
        previous = order.acc_fill_sz
        order.acc_fill_sz += quantity
        order.avg_px = price if order.avg_px is None else (order.avg_px * previous + price * quantity) / (
            order.acc_fill_sz)
        order.fill_px = price
        order.u_time = self._now_ms()
        order.state = "filled" if order.acc_fill_sz >= order.sz else "partially_filled"
        direction = Decimal(1) if order.side == "buy" else Decimal(-1)
        if order.pos_side == "net":
            delta = direction * quantity
        elif order.pos_side == "long":
            delta = direction * quantity
        else:
            delta = -direction * quantity
        key = (order.inst_id, order.pos_side)
        now = self._now_ms()
        pos = acct.positions.get(key) or _Position(Decimal(0), price, order.td_mode, now, now)
        new = pos.pos + delta
        if pos.pos == 0 or (pos.pos > 0) == (delta > 0):
            total = abs(pos.pos) + abs(delta)
            pos.avg_px = (pos.avg_px * abs(pos.pos) + price * abs(delta)) / total if total else price
        elif new != 0 and (new > 0) != (pos.pos > 0):
            pos.avg_px = price  # flipped through zero
        pos.pos = max(new, Decimal(0)) if order.pos_side != "net" else new
        pos.u_time = now
        acct.positions[key] = pos
        self._notify(acct, order=order, fill=(quantity, price, str(next(self._trade_ids))), position=key)

    def _legs(self, acct: _Account, legs: list[Any], action: Callable[[_Account, Any], dict[str, Any]]) -> Any:
        data = []
        for leg in legs:
            try:
                data.append(action(acct, leg))
            except _LegError as error:
                echo = leg if isinstance(leg, dict) else {}
                data.append({"clOrdId": str(echo.get("clOrdId") or ""), "ordId": str(echo.get("ordId") or ""),
                             "sCode": error.code, "sMsg": error.msg, "tag": str(echo.get("tag") or ""),
                             "ts": str(self._now_ms())})
        failed = sum(1 for d in data if d["sCode"] != "0")
        code = "0" if not failed else ("1" if failed == len(data) else "2")
        msg = "" if not failed else ("All operations failed" if code == "1" else "Bulk operation partially succeeded")
        now_us = str(self._now_ms() * 1000)
        return {"code": code, "msg": msg, "data": data, "inTime": now_us, "outTime": now_us}

    def _single_body(self, call: _Call) -> dict[str, Any]:
        if not isinstance(call.body, dict):
            raise OkxError("50002", "Json data format error.", 400)
        return call.body

    def _batch_body(self, call: _Call) -> list[Any]:
        if not isinstance(call.body, list) or not call.body:
            raise OkxError("50002", "Json data format error.", 400)
        if len(call.body) > 20:
            raise OkxError("51111", "Maximum 20 orders can be placed in bulk.")
        return call.body

    def _new_order(self, call: _Call) -> Any:
        return self._legs(call.acct, [self._single_body(call)], self._place)

    def _batch_orders(self, call: _Call) -> Any:
        return self._legs(call.acct, self._batch_body(call), self._place)

    def _find(self, acct: _Account, leg: Mapping[str, Any], missing: tuple[str, str]) -> _Order:
        ord_id, cl_ord_id = str(leg.get("ordId") or ""), str(leg.get("clOrdId") or "")
        if not ord_id and not cl_ord_id:
            raise _LegError("51003", "Either client order ID or order ID is required.")
        for order in acct.orders.values():
            if (ord_id and order.ord_id == ord_id) or (not ord_id and order.cl_ord_id == cl_ord_id):
                if order.inst_id == leg.get("instId"):
                    return order
        raise _LegError(*missing)

    def _cancel(self, acct: _Account, leg: Any) -> dict[str, Any]:
        if not isinstance(leg, dict):
            raise _LegError("50002", "Json data format error.")
        missing = ("51400", "Order cancellation failed as the order has been filled, canceled or does not exist.")
        order = self._find(acct, leg, missing)
        if order.state not in _OPEN:
            raise _LegError(*missing)
        order.state = "canceled"
        order.u_time = self._now_ms()
        self._notify(acct, order=order)
        return {"clOrdId": order.cl_ord_id, "ordId": order.ord_id, "sCode": "0", "sMsg": "", "ts": str(order.u_time)}

    def _cancel_order(self, call: _Call) -> Any:
        return self._legs(call.acct, [self._single_body(call)], self._cancel)

    def _cancel_batch(self, call: _Call) -> Any:
        return self._legs(call.acct, self._batch_body(call), self._cancel)

    def _amend(self, acct: _Account, leg: Any) -> dict[str, Any]:
        if not isinstance(leg, dict):
            raise _LegError("50002", "Json data format error.")
        order = self._find(acct, leg, ("51503", "Order modification failed as the order does not exist."))
        if order.state not in _OPEN:
            raise _LegError("51503", "Order modification failed as the order does not exist.")
        new_sz, new_px = _dec(leg, "newSz"), _dec(leg, "newPx")
        if new_sz is None and new_px is None:
            raise _LegError("51500", "Either order price or amount is required.")
        if new_sz is not None:
            self._check_size(INSTRUMENTS[order.inst_id], new_sz)
            order.sz = new_sz
        if new_px is not None:
            order.px = new_px
        order.u_time = self._now_ms()
        self._notify(acct, order=order, amended=str(leg.get("reqId") or ""))
        return {"clOrdId": order.cl_ord_id, "ordId": order.ord_id, "reqId": str(leg.get("reqId") or ""),
                "sCode": "0", "sMsg": "", "ts": str(order.u_time)}

    def _amend_order(self, call: _Call) -> Any:
        return self._legs(call.acct, [self._single_body(call)], self._amend)

    def _amend_batch(self, call: _Call) -> Any:
        return self._legs(call.acct, self._batch_body(call), self._amend)

    def _close_position(self, call: _Call) -> Any:
        body, acct = self._single_body(call), call.acct
        inst_id = str(body.get("instId") or "")
        if inst_id not in INSTRUMENTS:
            raise OkxError("51001", f"Instrument ID {inst_id} does not exist.")
        pos_side = str(body.get("posSide") or "net")
        position = acct.positions.get((inst_id, pos_side))
        if position is None or position.pos == 0:
            raise OkxError("51023", "Position does not exist.")
        side = ("sell" if position.pos > 0 else "buy") if pos_side == "net" else (
            "sell" if pos_side == "long" else "buy")
        now = self._now_ms()
        order = _Order(str(next(self._ids)), inst_id, str(body.get("clOrdId") or ""), str(body.get("tag") or ""),
                       side, pos_side, "market", str(body.get("mgnMode") or "cross"), abs(position.pos), None,
                       True, now, now)
        acct.orders[order.ord_id] = order
        self._fill(acct, order, order.sz, self._marks[inst_id])
        return self._ok([{"clOrdId": order.cl_ord_id, "instId": inst_id, "posSide": pos_side, "tag": order.tag}])

    def _query_order(self, call: _Call) -> Any:
        leg = call.params
        try:
            order = self._find(call.acct, leg, ("51603", "Order does not exist."))
        except _LegError as error:
            raise OkxError(error.code, error.msg) from None
        return self._ok([order.to_json(INSTRUMENTS[order.inst_id])])

    def _orders_pending(self, call: _Call) -> Any:
        inst_id, inst_type = call.params.get("instId"), call.params.get("instType")
        limit = int(call.params.get("limit") or 100)
        rows = [o.to_json(INSTRUMENTS[o.inst_id]) for o in sorted(call.acct.orders.values(), key=lambda o: o.ord_id,
                                                                    reverse=True)
                if o.state in _OPEN and (not inst_id or o.inst_id == inst_id)
                and (not inst_type or INSTRUMENTS[o.inst_id].inst_type == inst_type)]
        return self._ok(rows[:limit])

    def _orders_history(self, call: _Call) -> Any:
        inst_type = call.params.get("instType")
        if not inst_type:
            raise OkxError("50014", "Parameter instType can not be empty.")
        rows = [o.to_json(INSTRUMENTS[o.inst_id]) for o in call.acct.orders.values()
                if o.state not in _OPEN and INSTRUMENTS[o.inst_id].inst_type == inst_type]
        return self._ok(rows)

    # ---- algo orders ----------------------------------------------------------------------------------

    def _place_algo(self, acct: _Account, leg: Any) -> dict[str, Any]:
        if not isinstance(leg, dict):
            raise _LegError("50002", "Json data format error.")
        spec = self._spec(leg)
        ord_type = leg.get("ordType")
        if ord_type not in _ALGO_TYPES:
            raise _LegError("51000", "Parameter ordType error")
        if leg.get("side") not in ("buy", "sell") or leg.get("tdMode") not in ("cross", "isolated"):
            raise _LegError("51000", "Parameter side error")
        pos_side = self._pos_side(acct, leg)
        close_fraction = str(leg.get("closeFraction") or "")
        sz = "" if close_fraction else str(leg.get("sz") or "")
        if not close_fraction:
            size = _dec(leg, "sz", required=True)
            assert size is not None
            self._check_size(spec, size)
        algo = _AlgoOrder(str(next(self._algo_ids)), spec.inst_id, str(leg.get("algoClOrdId") or ""),
                          str(leg["side"]), pos_side, str(ord_type), str(leg["tdMode"]), sz,
                          {k: str(v) for k, v in leg.items() if isinstance(v, str | int)},
                          _truthy(leg.get("reduceOnly")), self._now_ms())
        acct.algo_orders[algo.algo_id] = algo
        self._notify(acct, algo=algo)
        return {"algoClOrdId": algo.algo_cl_ord_id, "algoId": algo.algo_id, "clOrdId": str(leg.get("clOrdId") or ""),
                "sCode": "0", "sMsg": "", "tag": str(leg.get("tag") or "")}

    def _order_algo(self, call: _Call) -> Any:
        return self._legs(call.acct, [self._single_body(call)], self._place_algo)

    def _cancel_algo_leg(self, acct: _Account, leg: Any) -> dict[str, Any]:
        if not isinstance(leg, dict):
            raise _LegError("50002", "Json data format error.")
        algo = acct.algo_orders.get(str(leg.get("algoId") or ""))
        if algo is None or algo.state != "live" or algo.inst_id != leg.get("instId"):
            raise _LegError("51400", "Order cancellation failed as the order has been filled, canceled or does "
                                     "not exist.")
        algo.state = "canceled"
        self._notify(acct, algo=algo)
        return {"algoClOrdId": algo.algo_cl_ord_id, "algoId": algo.algo_id, "clOrdId": "", "sCode": "0",
                "sMsg": "", "tag": ""}

    def _cancel_algos(self, call: _Call) -> Any:
        return self._legs(call.acct, self._batch_body(call), self._cancel_algo_leg)

    def _orders_algo_pending(self, call: _Call) -> Any:
        types = {t for t in call.params.get("ordType", "").split(",") if t}
        if not types:
            raise OkxError("50014", "Parameter ordType can not be empty.")
        inst_id = call.params.get("instId")
        return self._ok([a.to_json(INSTRUMENTS[a.inst_id]) for a in call.acct.algo_orders.values()
                         if a.state == "live" and a.ord_type in types and (not inst_id or a.inst_id == inst_id)])

    # ---- wallet -----------------------------------------------------------------------------------------

    def _withdrawal(self, call: _Call) -> Any:
        body = self._single_body(call)
        return self._ok([{"amt": str(body.get("amt", "")), "ccy": str(body.get("ccy", "")),
                          "chain": str(body.get("chain", "")), "clientId": "", "wdId": str(next(self._wd_ids))}])

    def _transfer(self, call: _Call) -> Any:
        body = self._single_body(call)
        return self._ok([{"amt": str(body.get("amt", "")), "ccy": str(body.get("ccy", "")), "clientId": "",
                          "from": str(body.get("from", "")), "to": str(body.get("to", "")),
                          "transId": str(next(self._wd_ids))}])

    def _api_key_admin(self, call: _Call) -> Any:
        return self._ok([{"subAcct": "sub1", "label": "fake", "apiKey": "", "perm": "read_only", "ip": "",
                          "ts": str(self._now_ms())}])


Handler = Callable[[FakeOkx, _Call], Any]

_ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "/api/v5/public/time"): (_PUBLIC, FakeOkx._time),
    ("GET", "/api/v5/public/instruments"): (_PUBLIC, FakeOkx._instruments),
    ("GET", "/api/v5/public/mark-price"): (_PUBLIC, FakeOkx._mark_price),
    ("GET", "/api/v5/market/ticker"): (_PUBLIC, FakeOkx._ticker),
    ("GET", "/api/v5/market/tickers"): (_PUBLIC, FakeOkx._tickers),
    ("GET", "/api/v5/asset/currencies"): (_SIGNED, FakeOkx._currencies),
    ("GET", "/api/v5/account/config"): (_SIGNED, FakeOkx._config),
    ("GET", "/api/v5/account/balance"): (_SIGNED, FakeOkx._balance),
    ("GET", "/api/v5/account/positions"): (_SIGNED, FakeOkx._positions),
    ("POST", "/api/v5/account/set-leverage"): (_SIGNED, FakeOkx._set_leverage),
    ("POST", "/api/v5/account/set-position-mode"): (_SIGNED, FakeOkx._set_position_mode),
    ("POST", "/api/v5/trade/order"): (_SIGNED, FakeOkx._new_order),
    ("POST", "/api/v5/trade/batch-orders"): (_SIGNED, FakeOkx._batch_orders),
    ("POST", "/api/v5/trade/cancel-order"): (_SIGNED, FakeOkx._cancel_order),
    ("POST", "/api/v5/trade/cancel-batch-orders"): (_SIGNED, FakeOkx._cancel_batch),
    ("POST", "/api/v5/trade/amend-order"): (_SIGNED, FakeOkx._amend_order),
    ("POST", "/api/v5/trade/amend-batch-orders"): (_SIGNED, FakeOkx._amend_batch),
    ("POST", "/api/v5/trade/close-position"): (_SIGNED, FakeOkx._close_position),
    ("GET", "/api/v5/trade/order"): (_SIGNED, FakeOkx._query_order),
    ("GET", "/api/v5/trade/orders-pending"): (_SIGNED, FakeOkx._orders_pending),
    ("GET", "/api/v5/trade/orders-history"): (_SIGNED, FakeOkx._orders_history),
    ("POST", "/api/v5/trade/order-algo"): (_SIGNED, FakeOkx._order_algo),
    ("POST", "/api/v5/trade/cancel-algos"): (_SIGNED, FakeOkx._cancel_algos),
    ("GET", "/api/v5/trade/orders-algo-pending"): (_SIGNED, FakeOkx._orders_algo_pending),
    ("POST", "/api/v5/asset/withdrawal"): (_SIGNED, FakeOkx._withdrawal),
    ("POST", "/api/v5/asset/transfer"): (_SIGNED, FakeOkx._transfer),
    ("POST", "/api/v5/asset/subaccount/transfer"): (_SIGNED, FakeOkx._transfer),
    ("POST", "/api/v5/users/subaccount/modify-apikey"): (_SIGNED, FakeOkx._api_key_admin),
    ("POST", "/api/v5/users/subaccount/delete-apikey"): (_SIGNED, FakeOkx._api_key_admin),
    ("POST", "/api/v5/users/subaccount/apikey"): (_SIGNED, FakeOkx._api_key_admin),
}


# --------------------------------------------------------------------------------------------------------
# HTTP plumbing
