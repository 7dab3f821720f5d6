"""A fake BitMEX REST API v1 (orders, positions, instruments, and the wallet calls a firewall must stop).

Why it exists: BitMEX is not in current ccxt, so the end-to-end suite drives it with plain signed requests shaped
like its API, and this fake answers like BitMEX (shapes from docs/venues.md §5 and the 2024 swagger). It verifies
`api-signature` exactly as BitMEX computes it — hex HMAC-SHA256(secret, VERB + path-with-query + api-expires +
body), over the raw bytes that arrived — so a request that a proxy altered in any way is refused with HTTP 401
"Signature not valid.": "forwarded untouched" is provable, not assumed.

What it is not: a matching engine. Market orders fill at the mark price at once; limit and stop orders rest until a
test calls `fill_order()` or they are cancelled. Positions are kept in contracts (signed `currentQty`). No fees,
margin or liquidations. Bodies may be JSON (ccxt style) or form (swagger style); a key given twice is refused.

Errors are HTTP 4xx with `{"error": {"message": ..., "name": "HTTPError"}}`. Withdrawals, wallet transfers and
API-key calls are accepted and recorded (`wallet_requests()`), so a test can prove they never arrived.

Usage:
    with FakeBitmex({"key": "secret"}) as fake:
        ...  # point a client at fake.base_url
        assert [r.path for r in fake.orders_received()] == ["/api/v1/order"]
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import ssl
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.fakes.server import FakeServer as _Server
from tests.fakes.server import ServedFake

__all__ = ["DEFAULT_MARK_PRICES", "INSTRUMENTS", "ORDER_ENDPOINTS", "WALLET_ENDPOINTS", "BitmexError", "FakeBitmex",
           "RecordedRequest", "sign", "signed_headers"]

PREFIX = "/api/v1"
DEFAULT_ACCOUNTS: Mapping[str, str] = {"test-api-key": "test-api-secret"}
DEFAULT_MARK_PRICES: Mapping[str, Decimal] = {
    "XBTUSD": Decimal("50000"), "XBTUSDT": Decimal("50000"), "ETHUSDT": Decimal("3000"), "ETHUSD": Decimal("3000"),
    "DOGEUSDT": Decimal("0.2"),
}

# instrument rows as BitMEX lists them (the fields an adapter reads for contract sizes and unified symbols)
INSTRUMENTS: Mapping[str, dict[str, Any]] = {
    "XBTUSD": {"symbol": "XBTUSD", "rootSymbol": "XBT", "typ": "FFWCSX", "state": "Open", "underlying": "XBT",
               "quoteCurrency": "USD", "settlCurrency": "XBt", "positionCurrency": "USD", "isInverse": True,
               "isQuanto": False, "multiplier": -100000000, "underlyingToSettleMultiplier": -100000000,
               "underlyingToPositionMultiplier": None, "lotSize": 100, "tickSize": 0.5},
    "XBTUSDT": {"symbol": "XBTUSDT", "rootSymbol": "XBT", "typ": "FFWCSX", "state": "Open", "underlying": "XBT",
                "quoteCurrency": "USDT", "settlCurrency": "USDt", "positionCurrency": "XBT", "isInverse": False,
                "isQuanto": False, "multiplier": 1, "underlyingToSettleMultiplier": None,
                "underlyingToPositionMultiplier": 1000000, "lotSize": 1000, "tickSize": 0.5},
    "ETHUSDT": {"symbol": "ETHUSDT", "rootSymbol": "ETH", "typ": "FFWCSX", "state": "Open", "underlying": "ETH",
                "quoteCurrency": "USDT", "settlCurrency": "USDt", "positionCurrency": "ETH", "isInverse": False,
                "isQuanto": False, "multiplier": 1, "underlyingToSettleMultiplier": None,
                "underlyingToPositionMultiplier": 1000000, "lotSize": 1000, "tickSize": 0.05},
    "ETHUSD": {"symbol": "ETHUSD", "rootSymbol": "ETH", "typ": "FFWCSX", "state": "Open", "underlying": "ETH",
               "quoteCurrency": "USD", "settlCurrency": "XBt", "positionCurrency": "USD", "isInverse": False,
               "isQuanto": True, "multiplier": 100, "underlyingToSettleMultiplier": None,
               "underlyingToPositionMultiplier": None, "lotSize": 1, "tickSize": 0.05},
    "DOGEUSDT": {"symbol": "DOGEUSDT", "rootSymbol": "DOGE", "typ": "FFWCSX", "state": "Open", "underlying": "DOGE",
                 "quoteCurrency": "USDT", "settlCurrency": "USDt", "positionCurrency": "DOGE", "isInverse": False,
                 "isQuanto": False, "multiplier": 1, "underlyingToSettleMultiplier": None,
                 "underlyingToPositionMultiplier": 1, "lotSize": 1, "tickSize": 0.00001},
}

ORDER_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", f"{PREFIX}/order"), ("PUT", f"{PREFIX}/order"), ("POST", f"{PREFIX}/order/bulk"),
    ("PUT", f"{PREFIX}/order/bulk"),
})
WALLET_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", f"{PREFIX}/user/requestWithdrawal"), ("POST", f"{PREFIX}/user/confirmWithdrawal"),
    ("POST", f"{PREFIX}/user/cancelWithdrawal"), ("POST", f"{PREFIX}/user/walletTransfer"),
    ("POST", f"{PREFIX}/address"), ("POST", f"{PREFIX}/apiKey"), ("DELETE", f"{PREFIX}/apiKey"),
})
_OPEN = frozenset({"New", "PartiallyFilled"})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as it arrived (raw path with query, raw body), and the status answered."""

    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]
    params: dict[str, Any]
    status: int

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def api_key(self) -> str | None:
        return self.header("api-key")

    @property
    def endpoint(self) -> tuple[str, str]:
        return self.method, self.path


def sign(secret: str, verb: str, path_with_query: str, expires: str, body: bytes | str = b"") -> str:
    """BitMEX's HMAC: hex SHA-256 over VERB + path (with query, incl. /api/v1) + expires + body, as sent."""
    data = (verb + path_with_query + expires).encode() + (body if isinstance(body, bytes) else body.encode())
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def signed_headers(api_key: str, secret: str, verb: str, path_with_query: str, body: bytes = b"",
                   *, content_type: str | None = "application/json", expires_in: int = 60) -> dict[str, str]:
    """The headers a BitMEX client sends (ccxt-old `sign()`: api-expires = now + a few seconds)."""
    expires = str(int(time.time()) + expires_in)
    headers = {"api-key": api_key, "api-expires": expires,
               "api-signature": sign(secret, verb, path_with_query, expires, body)}
    if content_type and body:
        headers["Content-Type"] = content_type
    return headers


class BitmexError(Exception):
    def __init__(self, status: int, message: str, name: str = "HTTPError") -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.message, self.name = status, message, name


@dataclass
class _Order:
    order_id: str
    cl_ord_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    stop_px: Decimal | None
    ord_type: str
    exec_inst: str
    status: str = "New"
    cum: Decimal = Decimal(0)
    avg: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        return {"orderID": self.order_id, "clOrdID": self.cl_ord_id, "symbol": self.symbol, "side": self.side,
                "orderQty": _num(self.qty), "price": _num(self.price), "stopPx": _num(self.stop_px),
                "ordType": self.ord_type, "execInst": self.exec_inst, "ordStatus": self.status,
                "leavesQty": _num(self.qty - self.cum if self.status in _OPEN else Decimal(0)),
                "cumQty": _num(self.cum), "avgPx": _num(self.avg), "timeInForce": "GoodTillCancel",
                "currency": "USD", "settlCurrency": "XBt", "text": "Submitted via API.",
                "timestamp": "2026-11-01T00:00:00.000Z", "transactTime": "2026-11-01T00:00:00.000Z"}


@dataclass
class _Account:
    secret: str
    orders: dict[str, _Order] = field(default_factory=dict)
    positions: dict[str, Decimal] = field(default_factory=dict)
    leverage: dict[str, Decimal] = field(default_factory=dict)


def _num(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _dec(params: Mapping[str, Any], name: str, *, required: bool = False, signed: bool = False) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BitmexError(400, f"{name} is required", "ValidationError")
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise BitmexError(400, f"Invalid {name}", "ValidationError") from None
    if not value.is_finite() or (value < 0 and not signed):
        raise BitmexError(400, f"Invalid {name}", "ValidationError")
    return value


class FakeBitmex(ServedFake):
    """Fake BitMEX REST venue on 127.0.0.1. Thread-safe."""

    def __init__(self, accounts: Mapping[str, str] | None = None, *, tls: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._tls = tls
        self._clock = clock
        self._accounts = {k: _Account(s) for k, s in (DEFAULT_ACCOUNTS if accounts is None else accounts).items()}
        self._marks = dict(DEFAULT_MARK_PRICES)
        self._ids = itertools.count(1)
        self._log: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.internal_errors: list[str] = []

    # ---- what arrived and test controls --------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint in ORDER_ENDPOINTS]

    def wallet_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint in WALLET_ENDPOINTS]

    def add_account(self, api_key: str, secret: str) -> None:
        with self._lock:
            self._accounts[api_key] = _Account(secret)

    def position(self, api_key: str, symbol: str) -> Decimal:
        with self._lock:
            return self._accounts[api_key].positions.get(symbol, Decimal(0))

    def set_position(self, api_key: str, symbol: str, contracts: Decimal) -> None:
        with self._lock:
            self._accounts[api_key].positions[symbol] = Decimal(contracts)

    def open_orders(self, api_key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o.to_json() for o in self._accounts[api_key].orders.values() if o.status in _OPEN]

    def fill_order(self, api_key: str, order_id: str) -> None:
        with self._lock:
            acct = self._accounts[api_key]
            self._fill(acct, acct.orders[order_id])

    # ---- request pipeline (called from the handler threads of tests.fakes.bybit._Server) -------------

    def _handle(self, method: str, raw_path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, Any, dict[str, str]]:
        path, _, query = raw_path.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        params: dict[str, Any] = {}
        status = 200
        with self._lock:
            try:
                route = _ROUTES.get((method, path))
                if route is None:
                    raise BitmexError(404, "Not Found")
                signed, handler = route
                account = self._authenticate(lowered, method, raw_path, body) if signed else None
                params = self._params(query, body, lowered.get("content-type", ""))
                payload = handler(self, account, params)
            except BitmexError as error:
                status = error.status
                payload = {"error": {"message": error.message, "name": error.name}}
            except Exception:
                self.internal_errors.append(traceback.format_exc())
                status, payload = 500, {"error": {"message": "Internal error", "name": "HTTPError"}}
            self._log.append(RecordedRequest(method, path, query, body, dict(headers), params, status))
        extra = {"x-ratelimit-limit": "120", "x-ratelimit-remaining": "119"}
        return status, payload, extra

    def _authenticate(self, headers: Mapping[str, str], method: str, raw_path: str, body: bytes) -> _Account:
        api_key = headers.get("api-key", "")
        account = self._accounts.get(api_key)
        if account is None:
            raise BitmexError(401, "Invalid API Key.")
        expires = headers.get("api-expires", "")
        if not expires.isdigit() or int(expires) < int(self._clock()):
            raise BitmexError(401, "This request has expired - `expires` is in the past. Current time: "
                                   f"{int(self._clock())}")
        expected = sign(account.secret, method, raw_path, expires, body)
        if not hmac.compare_digest(expected, headers.get("api-signature", "").lower()):
            raise BitmexError(401, "Signature not valid.")
        return account

    @staticmethod
    def _params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
        pairs: list[tuple[str, Any]] = list(parse_qsl(query, keep_blank_values=True))
        if body:
            if "application/x-www-form-urlencoded" in content_type:
                pairs += parse_qsl(body.decode(), keep_blank_values=True)
            else:
                try:
                    data = json.loads(body.decode(), parse_float=Decimal)
                except ValueError:
                    raise BitmexError(400, "Unable to parse JSON body", "ValidationError") from None
                if not isinstance(data, dict):
                    raise BitmexError(400, "Body must be an object", "ValidationError")
                pairs += list(data.items())
        params = dict(pairs)
        if len(params) != len(pairs):
            raise BitmexError(400, "Duplicate parameter", "ValidationError")
        return params

    # ---- handlers ------------------------------------------------------------------------------------

    def _instruments(self, account: _Account | None, params: dict[str, Any]) -> Any:
        symbol = params.get("symbol")
        return [{**row, "markPrice": _num(self._marks[s]), "lastPrice": _num(self._marks[s])}
                for s, row in INSTRUMENTS.items() if symbol in (None, "", s)]

    def _positions(self, account: _Account | None, params: dict[str, Any]) -> Any:
        assert account is not None
        return [{"account": 1, "symbol": s, "currency": "XBt", "currentQty": _num(q), "isOpen": q != 0,
                 "markPrice": _num(self._marks[s]), "avgEntryPrice": _num(self._marks[s]),
                 "leverage": _num(account.leverage.get(s, Decimal(100))), "crossMargin": s not in account.leverage}
                for s, q in account.positions.items()]

    def _list_orders(self, account: _Account | None, params: dict[str, Any]) -> Any:
        assert account is not None
        flt = json.loads(params.get("filter") or "{}")
        symbol = params.get("symbol")
        return [o.to_json() for o in account.orders.values()
                if symbol in (None, "", o.symbol) and (not flt.get("open") or o.status in _OPEN)]

    def _place_one(self, account: _Account, p: Mapping[str, Any]) -> dict[str, Any]:
        symbol = str(p.get("symbol") or "")
        if symbol not in INSTRUMENTS:
            raise BitmexError(400, f"Unknown symbol {symbol}", "ValidationError")
        qty = _dec(p, "orderQty", signed=True)
        side = p.get("side") or ("Sell" if qty is not None and qty < 0 else "Buy")
        exec_inst = str(p.get("execInst") or "")
        if qty is None:
            if "Close" not in exec_inst:
                raise BitmexError(400, "orderQty is invalid")
            qty = abs(account.positions.get(symbol, Decimal(0)))
        price, stop = _dec(p, "price"), _dec(p, "stopPx")
        ord_type = p.get("ordType") or ("StopLimit" if price and stop else "Limit" if price else "Stop" if stop
                                         else "Market")
        order = _Order(f"00000000-0000-0000-0000-{next(self._ids):012d}", str(p.get("clOrdID") or ""), symbol,
                       str(side), abs(qty), price, stop, str(ord_type), exec_inst)
        if any(o.cl_ord_id and o.cl_ord_id == order.cl_ord_id for o in account.orders.values()):
            raise BitmexError(400, "Duplicate clOrdID")
        account.orders[order.order_id] = order
        if ord_type == "Market":
            self._fill(account, order)
        return order.to_json()

    def _fill(self, account: _Account, order: _Order) -> None:
        price = order.price or self._marks[order.symbol]
        delta = order.qty - order.cum
        account.positions[order.symbol] = account.positions.get(order.symbol, Decimal(0)) + (
            delta if order.side == "Buy" else -delta)
        order.cum, order.avg, order.status = order.qty, price, "Filled"

    def _place(self, account: _Account | None, params: dict[str, Any]) -> Any:
        assert account is not None
        return self._place_one(account, params)

    def _bulk(self, account: _Account | None, params: dict[str, Any]) -> Any:
        assert account is not None
        orders = params.get("orders")
        if isinstance(orders, str):
            orders = json.loads(orders, parse_float=Decimal)
        return [self._place_one(account, o) for o in orders or []]

    def _find(self, account: _Account, p: Mapping[str, Any]) -> _Order:
        order_id, cl_id = p.get("orderID"), p.get("origClOrdID")
        for order in account.orders.values():
            if (order_id and order.order_id == order_id) or (cl_id and order.cl_ord_id == cl_id):
                return order
        raise BitmexError(404, "Not Found")

    def _amend(self, account: _Account | None, params: dict[str, Any]) -> Any:
        assert account is not None
        order = self._find(account, params)
        if order.status not in _OPEN:
            raise BitmexError(400, "Invalid ordStatus")
        qty, leaves, price = _dec(params, "orderQty"), _dec(params, "leavesQty"), _dec(params, "price")
        if qty is not None:
            order.qty = qty
        elif leaves is not None:
            order.qty = order.cum + leaves
        if price is not None:
            order.price = price
        return order.to_json()

    def _cancel(self, account: _Account | None, params: dict[str, Any]) -> Any:
        assert account is not None
        ids = params.get("orderID") or params.get("clOrdID")
        wanted = ids if isinstance(ids, list) else [ids]
        answers = []
        for order in account.orders.values():
            if order.order_id in wanted or (order.cl_ord_id and order.cl_ord_id in wanted):
                entry = order.to_json()
                if order.status in _OPEN:
                    order.status = "Canceled"
                    entry = order.to_json()
                else:
                    entry["error"] = f"Unable to cancel order due to existing state: {order.status}"
                answers.append(entry)
        return answers

    def _cancel_all(self, account: _Account | None, params: dict[str, Any]) -> Any:
        assert account is not None
        symbol = params.get("symbol")
        answers = []
        for order in account.orders.values():
            if order.status in _OPEN and symbol in (None, "", order.symbol):
                order.status = "Canceled"
                answers.append(order.to_json())
        return answers

    def _cancel_all_after(self, account: _Account | None, params: dict[str, Any]) -> Any:
        return {"now": "2026-11-01T00:00:00.000Z", "cancelTime": str(params.get("timeout"))}

    def _leverage(self, account: _Account | None, params: dict[str, Any]) -> Any:
        assert account is not None
        symbol = str(params.get("symbol"))
        account.leverage[symbol] = _dec(params, "leverage", required=True) or Decimal(0)
        return {"symbol": symbol, "leverage": _num(account.leverage[symbol]), "currentQty": 0}

    def _position_ok(self, account: _Account | None, params: dict[str, Any]) -> Any:
        return {"symbol": params.get("symbol"), "currentQty": 0}

    def _wallet(self, account: _Account | None, params: dict[str, Any]) -> Any:
        return {"transactID": f"tx-{next(self._ids)}", "transactStatus": "Pending"}


type Handler = Callable[[FakeBitmex, _Account | None, dict[str, Any]], Any]

_ROUTES: dict[tuple[str, str], tuple[bool, Handler]] = {
    ("GET", f"{PREFIX}/instrument"): (False, FakeBitmex._instruments),
    ("GET", f"{PREFIX}/instrument/active"): (False, FakeBitmex._instruments),
    ("GET", f"{PREFIX}/position"): (True, FakeBitmex._positions),
    ("GET", f"{PREFIX}/order"): (True, FakeBitmex._list_orders),
    ("POST", f"{PREFIX}/order"): (True, FakeBitmex._place),
    ("POST", f"{PREFIX}/order/bulk"): (True, FakeBitmex._bulk),
    ("PUT", f"{PREFIX}/order"): (True, FakeBitmex._amend),
    ("DELETE", f"{PREFIX}/order"): (True, FakeBitmex._cancel),
    ("DELETE", f"{PREFIX}/order/all"): (True, FakeBitmex._cancel_all),
    ("POST", f"{PREFIX}/order/cancelAllAfter"): (True, FakeBitmex._cancel_all_after),
    ("POST", f"{PREFIX}/position/leverage"): (True, FakeBitmex._leverage),
    ("POST", f"{PREFIX}/position/isolate"): (True, FakeBitmex._position_ok),
    ("POST", f"{PREFIX}/position/transferMargin"): (True, FakeBitmex._position_ok),
    **{endpoint: (True, FakeBitmex._wallet) for endpoint in WALLET_ENDPOINTS},
}


def form(params: Mapping[str, Any]) -> bytes:
    """A swagger-style form body."""
    return urlencode(params).encode()
