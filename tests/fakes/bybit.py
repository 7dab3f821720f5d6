"""A fake Bybit v5 exchange (linear and inverse derivatives, plus the calls ccxt.bybit and pybit make around them).

Why it exists: the firewall must be tested end to end with real, unmodified client libraries (ccxt, pybit). The
fake answers like Bybit (shapes and codes from docs/venues.md §3 and Bybit's v5 docs) and lets a test see exactly
what arrived. It verifies `X-BAPI-SIGN` as Bybit, pybit and ccxt compute it — HMAC-SHA256 hex over
`timestamp + apiKey + recvWindow + payload`, where the payload is the raw query string of a GET or the raw body of
a POST — so a request that a proxy altered in any way is refused with retCode 10004: "forwarded untouched" is
provable, not assumed.

What it is not: a matching engine. Market orders fill at the mark price at once (inverse: contracts are USD, the
position is kept in contracts); limit orders rest until a test calls `fill_order()`, or are cancelled (IOC/FOK
limits fill at once if marketable, else are cancelled); conditional orders (`triggerPrice`) rest `Untriggered`
until `fill_order()`. No fees, funding, margin checks or liquidations. HMAC keys only (no RSA).

Like Bybit, every answer is HTTP 200 with `{"retCode", "retMsg", "result", "retExtInfo", "time"}`, errors
included; an unknown path is HTTP 404. Stdlib only; amounts are Decimals rendered as strings.

Withdrawals, transfers and sub-account/API-key management are accepted and recorded (`wallet_requests()`), so a
test can prove they never arrived.

WebSocket (`/v5/trade`, `/v5/private`, `/v5/public/linear|inverse`) is served on the same port by
tests/fakes/bybit_ws.py (`ws_session`): orders placed there go through the handlers below, and every order,
fill and position change, whichever side caused it, is published to stream subscribers (`_notify`, then
`_flush_ws` once the lock is released).

Usage:
    with FakeBybit({"key": "secret"}) as fake:
        ...  # point a client at fake.base_url
        assert [r.path for r in fake.orders_received()] == ["/v5/order/create"]
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
from urllib.parse import parse_qsl

from tests.fakes.server import FakeServer as _Server
from tests.fakes.server import ServedFake

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_MARK_PRICES",
    "INSTRUMENTS",
    "ORDER_ENDPOINTS",
    "WALLET_ENDPOINTS",
    "BybitError",
    "FakeBybit",
    "InstrumentSpec",
    "RecordedRequest",
    "sign",
]

DEFAULT_ACCOUNTS: Mapping[str, str] = {"test-api-key": "test-api-secret"}

DEFAULT_MARK_PRICES: Mapping[str, Decimal] = {
    "BTCUSDT": Decimal("50000"),
    "ETHUSDT": Decimal("3000"),
    "SOLUSDT": Decimal("150"),
    "DOGEUSDT": Decimal("0.2"),
    "BTCUSD": Decimal("50000"),
    "ETHUSD": Decimal("3000"),
}

# Requests that create or change orders: what a firewall must see before the venue does.
ORDER_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/v5/order/create"),
    ("POST", "/v5/order/create-batch"),
    ("POST", "/v5/order/amend"),
    ("POST", "/v5/order/amend-batch"),
})

# Money leaving the account, and who may move it. Tests assert these never arrive through the firewall.
WALLET_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/v5/asset/withdraw/create"),
    ("POST", "/v5/asset/withdraw/cancel"),
    ("POST", "/v5/asset/transfer/inter-transfer"),
    ("POST", "/v5/asset/transfer/universal-transfer"),
    ("POST", "/v5/asset/transfer/save-transfer-sub-member"),
    ("POST", "/v5/user/create-sub-member"),
    ("POST", "/v5/user/create-sub-api"),
    ("POST", "/v5/user/update-api"),
    ("POST", "/v5/user/update-sub-api"),
    ("POST", "/v5/user/delete-api"),
    ("POST", "/v5/user/delete-sub-api"),
    ("POST", "/v5/user/frozen-sub-member"),
})


# --------------------------------------------------------------------------------------------------------
# Instruments


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One instrument with the filters ccxt reads for precision and limits (instruments-info)."""

    symbol: str
    category: str  # linear | inverse | spot
    base: str
    quote: str
    settle: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_leverage: Decimal = Decimal(100)

    @property
    def price_places(self) -> int:
        return max(0, -self.tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]

    @property
    def qty_places(self) -> int:
        return max(0, -self.qty_step.normalize().as_tuple().exponent)  # type: ignore[operator]


INSTRUMENTS: Mapping[tuple[str, str], InstrumentSpec] = {
    (spec.category, spec.symbol): spec
    for spec in (
        InstrumentSpec("BTCUSDT", "linear", "BTC", "USDT", "USDT", Decimal("0.10"), Decimal("0.001"),
                       Decimal("0.001"), Decimal("1190")),
        InstrumentSpec("ETHUSDT", "linear", "ETH", "USDT", "USDT", Decimal("0.01"), Decimal("0.01"),
                       Decimal("0.01"), Decimal("7240")),
        InstrumentSpec("SOLUSDT", "linear", "SOL", "USDT", "USDT", Decimal("0.010"), Decimal("0.1"),
                       Decimal("0.1"), Decimal("79770"), Decimal(75)),
        InstrumentSpec("DOGEUSDT", "linear", "DOGE", "USDT", "USDT", Decimal("0.00001"), Decimal("1"),
                       Decimal("1"), Decimal("8484000"), Decimal(75)),
        InstrumentSpec("BTCUSD", "inverse", "BTC", "USD", "BTC", Decimal("0.50"), Decimal("1"), Decimal("1"),
                       Decimal("1000000")),
        InstrumentSpec("ETHUSD", "inverse", "ETH", "USD", "ETH", Decimal("0.05"), Decimal("1"), Decimal("1"),
                       Decimal("1000000"), Decimal(50)),
        InstrumentSpec("BTCUSDT", "spot", "BTC", "USDT", "", Decimal("0.01"), Decimal("0.000001"),
                       Decimal("0.000048"), Decimal("71.73956243")),
        InstrumentSpec("ETHUSDT", "spot", "ETH", "USDT", "", Decimal("0.01"), Decimal("0.00001"),
                       Decimal("0.00062"), Decimal("1229.2336343")),
    )
}

_DERIVATIVES = ("linear", "inverse")
_OPEN = ("New", "PartiallyFilled", "Untriggered")
_DEFAULT_LEVERAGE = Decimal(10)
_MAX_BATCH = 20


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
    params: dict[str, Any]  # the query (GET) or the JSON body's top level (POST)
    status: int
    ret_code: int

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def api_key(self) -> str | None:
        return self.header("X-BAPI-API-KEY")

    @property
    def endpoint(self) -> tuple[str, str]:
        return self.method, self.path


def sign(timestamp: str, api_key: str, recv_window: str, payload: str | bytes, secret: str) -> str:
    """Bybit's HMAC: hex SHA-256 over timestamp + apiKey + recvWindow + (query string | body), as sent."""
    prefix = (timestamp + api_key + recv_window).encode()
    data = prefix + (payload if isinstance(payload, bytes) else payload.encode())
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------------------------
# State


class BybitError(Exception):
    """An answer in Bybit's error shape: HTTP 200 (by default) with a non-zero retCode."""

    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status


def _param_error(name: str) -> BybitError:
    return BybitError(10001, f"params error: {name} invalid")


@dataclass(slots=True)
class _Order:
    order_id: str
    order_link_id: str
    category: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    price: Decimal
    trigger_price: Decimal
    trigger_direction: int
    time_in_force: str
    position_idx: int
    reduce_only: bool
    close_on_trigger: bool
    created: int
    updated: int
    status: str = "New"
    cum_exec_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    cancel_type: str = "UNKNOWN"

    def to_json(self, spec: InstrumentSpec) -> dict[str, Any]:
        px, qp = spec.price_places, spec.qty_places
        leaves = self.qty - self.cum_exec_qty if self.status in _OPEN else Decimal(0)
        value = self.cum_exec_qty * self.avg_price
        if self.category == "inverse" and self.avg_price:
            value = self.cum_exec_qty / self.avg_price
        return {
            "orderId": self.order_id,
            "orderLinkId": self.order_link_id,
            "blockTradeId": "",
            "symbol": self.symbol,
            "price": _fmt(self.price, px),
            "qty": _fmt(self.qty, qp),
            "side": self.side,
            "isLeverage": "",
            "positionIdx": self.position_idx,
            "orderStatus": self.status,
            "createType": "CreateByUser",
            "cancelType": self.cancel_type,
            "rejectReason": "EC_NoError",
            "avgPrice": _fmt(self.avg_price, px) if self.avg_price else "",
            "leavesQty": _fmt(leaves, qp),
            "leavesValue": _plain(leaves * self.price) if self.price else "0",
            "cumExecQty": _fmt(self.cum_exec_qty, qp),
            "cumExecValue": _plain(value),
            "cumExecFee": "0",
            "timeInForce": self.time_in_force,
            "orderType": self.order_type,
            "stopOrderType": "Stop" if self.trigger_price else "",
            "orderIv": "",
            "marketUnit": "",
            "triggerPrice": _fmt(self.trigger_price, px),
            "takeProfit": "",
            "stopLoss": "",
            "tpslMode": "",
            "ocoTriggerBy": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": self.trigger_direction,
            "triggerBy": "LastPrice" if self.trigger_price else "",
            "lastPriceOnCreated": "",
            "reduceOnly": self.reduce_only,
            "closeOnTrigger": self.close_on_trigger,
            "placeType": "",
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "createdTime": str(self.created),
            "updatedTime": str(self.updated),
        }


@dataclass(slots=True)
class _Position:
    size: Decimal = Decimal(0)  # signed; native units (base coin for linear, USD contracts for inverse)
    entry_price: Decimal = Decimal(0)
    take_profit: Decimal = Decimal(0)
    stop_loss: Decimal = Decimal(0)
    created: int = 0
    updated: int = 0


@dataclass(slots=True)
class _Account:
    secret: str
    wallet_balance: Decimal
    hedged: set[str] = field(default_factory=set)  # symbols in hedge mode (positionIdx 1 and 2)
    leverage: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # symbol -> (buy, sell)
    isolated: set[str] = field(default_factory=set)
    margin_mode: str = "REGULAR_MARGIN"
    positions: dict[tuple[str, int], _Position] = field(default_factory=dict)
    orders: dict[str, _Order] = field(default_factory=dict)

    def leverage_of(self, symbol: str) -> tuple[Decimal, Decimal]:
        return self.leverage.get(symbol, (_DEFAULT_LEVERAGE, _DEFAULT_LEVERAGE))


@dataclass(slots=True)
class _Call:
    """What a handler gets: the query (GET) or JSON body (POST), and on private endpoints the caller's account."""

    params: dict[str, Any]
    api_key: str | None
    account: _Account | None

    @property
    def acct(self) -> _Account:
        assert self.account is not None
        return self.account


# --------------------------------------------------------------------------------------------------------
# Small helpers


def _fmt(value: Decimal, places: int) -> str:
    return f"{value:.{places}f}"


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dec(params: Mapping[str, Any], name: str, *, required: bool = False) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BybitError(10001, f"params error: {name} is required")
        return None
    if isinstance(raw, bool):
        raise _param_error(name)
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise _param_error(name) from None
    if not value.is_finite() or value < 0:
        raise _param_error(name)
    return value


def _int(params: Mapping[str, Any], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise _param_error(name) from None


def _str(params: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BybitError(10001, f"params error: {name} is required")
        return ""
    if not isinstance(raw, str):
        raise _param_error(name)
    return raw


def _multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


def _page(items: list[Any], params: Mapping[str, Any], default: int, maximum: int) -> tuple[list[Any], str]:
    """Bybit's cursor pagination: `limit` per page, `nextPageCursor` "" on the last page."""
    limit = _int(params, "limit", default)
    if not 1 <= limit <= maximum:
        raise _param_error("limit")
    cursor = str(params.get("cursor") or "")
    start = int(cursor.removeprefix("page:")) if cursor.startswith("page:") and cursor[5:].isdigit() else 0
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, (f"page:{start + limit}" if more else "")


# --------------------------------------------------------------------------------------------------------
# The fake


_PUBLIC, _SIGNED = "public", "signed"
Handler = Callable[["FakeBybit", _Call], Any]


class FakeBybit(ServedFake):
    """Fake Bybit v5 REST venue on 127.0.0.1. Thread-safe; one instance per test is cheap."""

    def __init__(
        self,
        accounts: Mapping[str, str] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        wallet_balance: Decimal = Decimal("100000"),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.RLock()
        self._tls = tls
        self._host, self._requested_port = host, port
        self._initial_balance = wallet_balance
        self._clock = clock
        self._account_secrets = dict(DEFAULT_ACCOUNTS if accounts is None else accounts)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: list[RecordedRequest] = []
        self._queued_errors: list[tuple[str, str, BybitError]] = []
        self._lost_answers: list[tuple[str, str, BybitError]] = []
        self.internal_errors: list[str] = []  # tracebacks of exceptions inside handlers (answered 10016)
        self._ws_hub: Any = None  # tests/fakes/bybit_ws.py's BybitWsHub, attached by the first `ws_session`
        self._reset_state()

    def _reset_state(self) -> None:
        self._accounts = {k: _Account(secret=s, wallet_balance=self._initial_balance)
                          for k, s in self._account_secrets.items()}
        self._marks: dict[str, Decimal] = dict(DEFAULT_MARK_PRICES)
        self._ids = itertools.count(1)
        self._queued_errors.clear()
        self._lost_answers.clear()

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
        """"METHOD /path" per request, in arrival order."""
        return [f"{r.method} {r.path}" for r in self.requests]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget requests, orders, positions, settings and mark prices; keep accounts and the listener."""
        with self._lock:
            self._log.clear()
            self._reset_state()

    # ---- test controls -------------------------------------------------------------------------------

    def add_account(self, api_key: str, secret: str, *, wallet_balance: Decimal | None = None) -> None:
        with self._lock:
            self._account_secrets[api_key] = secret
            balance = self._initial_balance if wallet_balance is None else wallet_balance
            self._accounts[api_key] = _Account(secret=secret, wallet_balance=balance)

    def set_balance(self, api_key: str, balance: Decimal) -> None:
        """Set the account's wallet balance (a day's losses): wallet-balance's totalEquity follows."""
        with self._lock:
            self._accounts[api_key].wallet_balance = balance

    def set_mark_price(self, symbol: str, price: Decimal) -> None:
        if symbol not in self._marks:
            raise KeyError(f"unknown symbol {symbol!r}; the fake lists {sorted(self._marks)}")
        with self._lock:
            self._marks[symbol] = Decimal(price)
            self._notify(None, mark=symbol)
        self._flush_ws()

    def set_hedge_mode(self, api_key: str, symbol: str, hedged: bool = True) -> None:
        with self._lock:
            acct = self._accounts[api_key]
            (acct.hedged.add if hedged else acct.hedged.discard)(symbol)

    def position(self, api_key: str, symbol: str, position_idx: int = 0) -> Decimal:
        """Signed position size (native units: base for linear, USD contracts for inverse)."""
        with self._lock:
            pos = self._accounts[api_key].positions.get((symbol, position_idx))
            return Decimal(0) if pos is None else pos.size

    def set_position(self, api_key: str, symbol: str, size: Decimal, *, position_idx: int = 0,
                     entry_price: Decimal | None = None) -> None:
        with self._lock:
            now = self._now_ms()
            entry = self._marks[symbol] if entry_price is None else Decimal(entry_price)
            self._accounts[api_key].positions[(symbol, position_idx)] = _Position(
                Decimal(size), entry if size else Decimal(0), created=now, updated=now)
            self._notify(self._accounts[api_key], position=(symbol, position_idx))
        self._flush_ws()

    def open_orders(self, api_key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o.to_json(self._spec(o.category, o.symbol)) for o in self._accounts[api_key].orders.values()
                    if o.status in _OPEN]

    def order(self, api_key: str, order_id: str) -> dict[str, Any]:
        with self._lock:
            o = self._accounts[api_key].orders[order_id]
            return o.to_json(self._spec(o.category, o.symbol))

    def fill_order(self, order_id: str, price: Decimal | None = None, *, api_key: str | None = None,
                   qty: Decimal | None = None) -> None:
        """Fill a resting (or untriggered) order, at its limit price unless given: completely, or `qty` of it
        (a partial fill leaves it `PartiallyFilled`)."""
        try:
            self._fill_order(order_id, price, api_key, qty)
        finally:
            self._flush_ws()  # stream subscribers see the fill (outside the lock: sockets may be slow)

    def _fill_order(self, order_id: str, price: Decimal | None, api_key: str | None, qty: Decimal | None) -> None:
        with self._lock:
            for key, acct in self._accounts.items():
                order = acct.orders.get(order_id)
                if order is not None and (api_key is None or api_key == key):
                    if order.status not in _OPEN:
                        raise ValueError(f"order {order_id} is {order.status}")
                    fill_price = Decimal(price) if price is not None else (order.price or self._marks[order.symbol])
                    self._fill(acct, order, fill_price, None if qty is None else Decimal(qty))
                    return
        raise KeyError(order_id)

    def queue_error(self, method: str, path: str, *, code: int = 10016, msg: str = "Internal System Error.") -> None:
        """Answer the next authenticated `method path` request with this error instead of handling it."""
        with self._lock:
            self._queued_errors.append((method.upper(), path, BybitError(code, msg)))

    def lose_answer(self, method: str, path: str, *, code: int = 10016, msg: str = "Internal System Error.") -> None:
        """Handle the next authenticated `method path` request (the order is placed), then answer it with this
        error, as Bybit does when it could not tell whether it took the order (HTTP 200, retCode 10016)."""
        with self._lock:
            self._lost_answers.append((method.upper(), path, BybitError(code, msg)))

    # ---- WebSocket (tests/fakes/bybit_ws.py serves the sockets; state stays here) --------------------

    def ws_session(self, path: str, headers: dict[str, str]) -> Any:
        """Called by the server for a WebSocket handshake on this fake's port (see tests/fakes/server.py)."""
        from tests.fakes.bybit_ws import ws_hub  # imported here: bybit_ws builds on this module

        return ws_hub(self).open(path, headers)

    def _notify(self, acct: _Account | None, **change: Any) -> None:
        """Tell stream subscribers what changed (an order, a fill, a position, a mark price).

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
                body: bytes) -> tuple[int, Any, dict[str, str]]:
        path, _, query = raw_path.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        api_key = lowered.get("x-bapi-api-key")
        params: dict[str, Any] = {}
        extra: dict[str, str] = {}
        status, ret_code = 200, 0
        with self._lock:
            now = self._now_ms()
            extra["Timenow"] = str(now)
            extra["Traceid"] = f"{next(self._ids):032x}"
            try:
                route = _ROUTES.get((method, path))
                if route is None:
                    raise BybitError(10017, "route not found", status=404)
                security, handler = route
                account = None
                if security == _SIGNED:
                    # the signature covers the raw bytes, so it is checked before anything is parsed
                    account = self._authenticate(lowered, query, body, now)
                    extra.update({"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9",
                                  "X-Bapi-Limit-Reset-Timestamp": str(now + 1000)})
                    for i, (q_method, q_path, error) in enumerate(self._queued_errors):
                        if (q_method, q_path) == (method, path):
                            del self._queued_errors[i]
                            raise error
                params = self._params(method, query, body)
                result = handler(self, _Call(params, api_key, account))
                for i, (l_method, l_path, error) in enumerate(self._lost_answers):
                    if account is not None and (l_method, l_path) == (method, path):
                        del self._lost_answers[i]
                        raise error
                payload = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now}
                if isinstance(result, _WithExt):
                    payload["result"], payload["retExtInfo"] = result.result, result.ext
            except BybitError as error:
                status, ret_code = error.status, error.code
                payload = {"retCode": error.code, "retMsg": error.msg, "result": {}, "retExtInfo": {}, "time": now}
            except Exception:  # a bug in the fake: answer like Bybit's 10016, keep the traceback for the test
                self.internal_errors.append(traceback.format_exc())
                ret_code = 10016
                payload = {"retCode": 10016, "retMsg": "Internal System Error.", "result": {}, "retExtInfo": {},
                           "time": now}
            self._log.append(RecordedRequest(method, path, query, body, dict(headers), params, status, ret_code))
        self._flush_ws()  # a REST order or fill reaches stream subscribers too
        return status, payload, extra

    @staticmethod
    def _params(method: str, query: str, body: bytes) -> dict[str, Any]:
        if method == "GET":
            pairs = parse_qsl(query, keep_blank_values=True)
            params = dict(pairs)
            if len(params) != len(pairs):
                raise BybitError(10001, "params error: duplicate parameter")
            return params
        if not body:
            return {}
        try:
            data = json.loads(body.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            raise BybitError(10001, "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BybitError(10001, "request body is not a JSON object")
        return data

    def _authenticate(self, headers: Mapping[str, str], query: str, body: bytes, now: int) -> _Account:
        api_key = headers.get("x-bapi-api-key")
        if not api_key:
            raise BybitError(10003, "API key is invalid.")
        account = self._accounts.get(api_key)
        if account is None:
            raise BybitError(10003, "API key is invalid.")
        timestamp = headers.get("x-bapi-timestamp", "")
        recv_window = headers.get("x-bapi-recv-window") or "5000"
        if not timestamp.isdigit() or not recv_window.isdigit():
            raise BybitError(10002, "invalid request, please check your server timestamp or recv_window param")
        if not (int(timestamp) < now + 1000 and now - int(timestamp) <= int(recv_window)):
            raise BybitError(10002, "invalid request, please check your server timestamp or recv_window param")
        signature = headers.get("x-bapi-sign", "")
        # the payload is exactly what was sent: the raw query string of a GET, the raw body of a POST
        payload: bytes = query.encode("latin-1") if query else body
        expected = sign(timestamp, api_key, recv_window, payload, account.secret)
        if not hmac.compare_digest(expected, signature.lower()):
            raise BybitError(10004, "error sign! origin_string[...]")
        return account

    # ---- market data ---------------------------------------------------------------------------------

    def _spec(self, category: str, symbol: str) -> InstrumentSpec:
        spec = INSTRUMENTS.get((category, symbol))
        if spec is None:
            raise BybitError(10001, "params error: symbol invalid")
        return spec

    def _time(self, call: _Call) -> Any:
        now_ns = int(self._clock() * 1_000_000_000)
        return {"timeSecond": str(now_ns // 1_000_000_000), "timeNano": str(now_ns)}

    def _instruments_info(self, call: _Call) -> Any:
        category = _str(call.params, "category")
        if category == "option" or call.params.get("status") == "PreLaunch":
            return {"category": category, "list": [], "nextPageCursor": ""}
        if category not in ("linear", "inverse", "spot"):
            raise BybitError(10001, "params error: category invalid")
        symbol = call.params.get("symbol")
        rows = [self._instrument_row(spec) for (cat, sym), spec in INSTRUMENTS.items()
                if cat == category and (not symbol or sym == symbol)]
        return {"category": category, "list": rows, "nextPageCursor": ""}

    @staticmethod
    def _instrument_row(spec: InstrumentSpec) -> dict[str, Any]:
        if spec.category == "spot":
            return {
                "symbol": spec.symbol, "baseCoin": spec.base, "quoteCoin": spec.quote, "innovation": "0",
                "status": "Trading", "marginTrading": "utaOnly", "stTag": "0",
                "lotSizeFilter": {"basePrecision": str(spec.qty_step), "quotePrecision": "0.00000001",
                                  "minOrderQty": str(spec.min_qty), "maxOrderQty": str(spec.max_qty),
                                  "minOrderAmt": "5", "maxOrderAmt": "8000000"},
                "priceFilter": {"tickSize": str(spec.tick_size)},
                "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
            }
        inverse = spec.category == "inverse"
        return {
            "symbol": spec.symbol,
            "contractType": "InversePerpetual" if inverse else "LinearPerpetual",
            "status": "Trading",
            "baseCoin": spec.base,
            "quoteCoin": spec.quote,
            "launchTime": "1585526400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(spec.price_places),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{spec.max_leverage:.2f}", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": str(spec.tick_size), "maxPrice": "1999999.80", "tickSize": str(spec.tick_size)},
            "lotSizeFilter": {"maxOrderQty": str(spec.max_qty), "minOrderQty": str(spec.min_qty),
                              "qtyStep": str(spec.qty_step), "postOnlyMaxOrderQty": str(spec.max_qty),
                              "maxMktOrderQty": str(spec.max_qty), "minNotionalValue": "0" if inverse else "5"},
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": spec.settle,
            "copyTrading": "both",
            "upperFundingRate": "0.005",
            "lowerFundingRate": "-0.005",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
        }

    def _tickers(self, call: _Call) -> Any:
        category = _str(call.params, "category")
        if category not in ("linear", "inverse", "spot", "option"):
            raise BybitError(10001, "params error: category invalid")
        symbol = call.params.get("symbol")
        if symbol and (category, symbol) not in INSTRUMENTS:
            raise BybitError(10001, "params error: symbol invalid")
        rows = []
        for (cat, sym), spec in INSTRUMENTS.items():
            if cat != category or (symbol and sym != symbol):
                continue
            mark = self._marks[sym]
            places = spec.price_places
            row: dict[str, Any] = {
                "symbol": sym, "lastPrice": _fmt(mark, places), "prevPrice24h": _fmt(mark, places),
                "price24hPcnt": "0", "highPrice24h": _fmt(mark, places), "lowPrice24h": _fmt(mark, places),
                "turnover24h": "1000000", "volume24h": "100", "bid1Price": _fmt(mark - spec.tick_size, places),
                "bid1Size": "1", "ask1Price": _fmt(mark + spec.tick_size, places), "ask1Size": "1",
            }
            if cat != "spot":
                row.update({"indexPrice": _fmt(mark, places), "markPrice": _fmt(mark, places),
                            "prevPrice1h": _fmt(mark, places), "openInterest": "1000", "openInterestValue": "1",
                            "fundingRate": "0.0001", "nextFundingTime": str(self._now_ms() + 3_600_000),
                            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0",
                            "basis": ""})
            rows.append(row)
        return {"category": category, "list": rows}

    # ---- account ---------------------------------------------------------------------------------------

    def _coin_info(self, call: _Call) -> Any:
        def coin(code: str, chain: str, fee: str, minimum: str) -> dict[str, Any]:
            return {"name": code, "coin": code, "remainAmount": "1000000", "chains": [{
                "chainType": chain, "confirmation": "10", "withdrawFee": fee, "depositMin": "0",
                "withdrawMin": minimum, "chain": chain, "chainDeposit": "1", "chainWithdraw": "1",
                "minAccuracy": "8", "withdrawPercentageFee": "0", "contractAddress": "", "safeConfirmNumber": "10"}]}
        return {"rows": [coin("USDT", "TRX", "1", "10"), coin("BTC", "BTC", "0.0005", "0.001"),
                         coin("ETH", "ETH", "0.0015", "0.01")]}

    def _query_api(self, call: _Call) -> Any:
        return {"id": "13770661", "note": "riskwall fake", "apiKey": call.api_key, "readOnly": 0, "secret": "",
                "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"],
                                "Wallet": ["AccountTransfer", "SubMemberTransfer"], "Options": ["OptionsTrade"],
                                "Derivatives": ["DerivativesTrade"], "CopyTrading": [], "BlockTrade": [],
                                "Exchange": [], "NFT": []},
                "ips": ["*"], "type": 1, "deadlineDay": 83, "expiredAt": "", "createdAt": "2024-01-01T00:00:00Z",
                "unified": 0, "uta": 1, "userID": 24600000, "inviterID": 0, "vipLevel": "No VIP",
                "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "", "isMaster": True}

    def _account_info(self, call: _Call) -> Any:
        return {"marginMode": call.acct.margin_mode, "updatedTime": str(self._now_ms()), "unifiedMarginStatus": 6,
                "dcpStatus": "OFF", "timeWindow": 10, "smpGroup": 0, "isMasterTrader": False,
                "spotHedgingStatus": "OFF"}

    def _wallet_balance(self, call: _Call) -> Any:
        balance = _plain(call.acct.wallet_balance)
        coin = {"coin": "USDT", "equity": balance, "usdValue": balance, "walletBalance": balance, "locked": "0",
                "spotHedgingQty": "0", "borrowAmount": "0", "availableToWithdraw": balance,
                "accruedInterest": "0", "totalOrderIM": "0", "totalPositionIM": "0", "totalPositionMM": "0",
                "unrealisedPnl": "0", "cumRealisedPnl": "0", "bonus": "0", "marginCollateral": True,
                "collateralSwitch": True, "availableToBorrow": ""}
        return {"list": [{"accountType": "UNIFIED", "accountIMRate": "0", "accountMMRate": "0", "accountLTV": "0",
                          "totalEquity": balance, "totalWalletBalance": balance, "totalMarginBalance": balance,
                          "totalAvailableBalance": balance, "totalPerpUPL": "0", "totalInitialMargin": "0",
                          "totalMaintenanceMargin": "0", "coin": [coin]}]}

    # ---- orders ----------------------------------------------------------------------------------------

    @staticmethod
    def _category(params: Mapping[str, Any]) -> str:
        category = _str(params, "category")
        if category not in _DERIVATIVES:
            raise BybitError(10001, f"params error: category {category} is not supported by this fake")
        return category

    def _create(self, call: _Call) -> Any:
        order = self._place(call.acct, self._category(call.params), call.params)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _place(self, acct: _Account, category: str, p: Mapping[str, Any]) -> _Order:
        symbol = _str(p, "symbol")
        spec = self._spec(category, symbol)
        side = _str(p, "side")
        if side not in ("Buy", "Sell"):
            raise _param_error("side")
        order_type = _str(p, "orderType")
        if order_type not in ("Market", "Limit"):
            raise _param_error("orderType")
        reduce_only = p.get("reduceOnly") is True
        close_on_trigger = p.get("closeOnTrigger") is True
        qty = _dec(p, "qty", required=True) or Decimal(0)
        idx = _int(p, "positionIdx", 0)
        hedged = symbol in acct.hedged
        if (hedged and idx not in (1, 2)) or (not hedged and idx != 0):
            raise BybitError(10001, "position idx not match position mode")
        position = acct.positions.get((symbol, idx), _Position())
        closing = (hedged and ((idx == 1 and side == "Sell") or (idx == 2 and side == "Buy"))) or reduce_only
        if qty == 0:
            if not (reduce_only and close_on_trigger) or position.size == 0:
                raise BybitError(10001, "Qty invalid")
            qty = abs(position.size)
        if not _multiple(qty, spec.qty_step) or qty < spec.min_qty:
            raise BybitError(10001, "Qty invalid")
        if qty > spec.max_qty:
            raise BybitError(10001, "The number of contracts exceeds maximum limit allowed: too large")
        price = _dec(p, "price") if order_type == "Limit" else None
        if order_type == "Limit" and (price is None or price <= 0 or not _multiple(price, spec.tick_size)):
            raise _param_error("price")
        trigger = _dec(p, "triggerPrice") or Decimal(0)
        tif = str(p.get("timeInForce") or ("IOC" if order_type == "Market" else "GTC"))
        if tif not in ("GTC", "IOC", "FOK", "PostOnly", "RPI"):
            raise _param_error("timeInForce")
        if closing:
            opposite = position.size < 0 if side == "Buy" else position.size > 0
            if position.size == 0 or not opposite:
                raise BybitError(110017, "current position is zero, cannot fix reduce-only order qty")
        link_id = str(p.get("orderLinkId") or "")
        if link_id and any(o.order_link_id == link_id for o in acct.orders.values()):
            raise BybitError(110072, "OrderLinkedID is duplicate")
        now = self._now_ms()
        n = next(self._ids)
        order = _Order(
            order_id=f"{n:08x}-7a1b-4c2d-9e3f-{n:012x}", order_link_id=link_id, category=category, symbol=symbol,
            side=side, order_type=order_type, qty=qty, price=price or Decimal(0), trigger_price=trigger,
            trigger_direction=_int(p, "triggerDirection", 0), time_in_force=tif, position_idx=idx,
            reduce_only=reduce_only, close_on_trigger=close_on_trigger, created=now, updated=now,
            status="Untriggered" if trigger else "New",
        )
        acct.orders[order.order_id] = order
        if not trigger:
            mark = self._marks[symbol]
            marketable = order_type == "Market" or (side == "Buy" and order.price >= mark) or (
                side == "Sell" and order.price <= mark)
            if order_type == "Market":
                self._fill(acct, order, mark)
            elif tif in ("IOC", "FOK"):
                if marketable:
                    self._fill(acct, order, order.price)
                else:
                    order.status, order.cancel_type = "Cancelled", "CancelByUser"
            elif tif == "PostOnly" and marketable:
                order.status, order.cancel_type = "Cancelled", "CancelByUser"
        if order.status != "Filled":  # a fill was published by `_fill`, with the order
            self._notify(acct, order=order, position=(symbol, idx))
        return order

    def _fill(self, acct: _Account, order: _Order, price: Decimal, partial: Decimal | None = None) -> None:
        qty = order.qty - order.cum_exec_qty
        if partial is not None:
            qty = min(qty, partial)
        position = acct.positions.get((order.symbol, order.position_idx), _Position())
        if order.reduce_only:
            qty = min(qty, abs(position.size))
        delta = qty if order.side == "Buy" else -qty
        # what the fill closed (the execution stream's closedSize), read before the position moves
        closed = min(qty, abs(position.size)) if position.size and (position.size > 0) != (delta > 0) else Decimal(0)
        self._apply_fill(acct, order.symbol, order.position_idx, delta, price)
        if not order.cum_exec_qty:
            order.avg_price = price
        elif qty:  # a later partial fill: the volume-weighted average
            order.avg_price = (order.cum_exec_qty * order.avg_price + qty * price) / (order.cum_exec_qty + qty)
        order.cum_exec_qty += qty
        done = partial is None or order.cum_exec_qty >= order.qty
        order.status = "Filled" if done else "PartiallyFilled"
        order.updated = self._now_ms()
        self._notify(acct, order=order, fill=(qty, price, closed), position=(order.symbol, order.position_idx))

    def _apply_fill(self, acct: _Account, symbol: str, idx: int, delta: Decimal, price: Decimal) -> None:
        if delta == 0:
            return
        now = self._now_ms()
        pos = acct.positions.setdefault((symbol, idx), _Position(created=now))
        if pos.size == 0 or (pos.size > 0) == (delta > 0):
            total = abs(pos.size) + abs(delta)
            pos.entry_price = (abs(pos.size) * pos.entry_price + abs(delta) * price) / total
            pos.size += delta
        else:
            if abs(delta) > abs(pos.size):
                pos.entry_price = price  # flipped through zero: the remainder opened at this price
            pos.size += delta
            if pos.size == 0:
                pos.entry_price = Decimal(0)
        pos.updated = now

    def _batch_legs(self, call: _Call) -> tuple[str, list[Any]]:
        category = self._category(call.params)
        legs = call.params.get("request")
        if not isinstance(legs, list) or not legs:
            raise BybitError(10001, "params error: request is required")
        if len(legs) > _MAX_BATCH:
            raise BybitError(10001, f"params error: batch size exceeds {_MAX_BATCH}")
        return category, legs

    def _create_batch(self, call: _Call) -> Any:
        category, legs = self._batch_legs(call)
        results, codes = [], []
        for leg in legs:
            try:
                if not isinstance(leg, dict):
                    raise BybitError(10001, "params error: request invalid")
                order = self._place(call.acct, category, leg)
                results.append({"category": category, "symbol": order.symbol, "orderId": order.order_id,
                                "orderLinkId": order.order_link_id, "createAt": str(order.created)})
                codes.append({"code": 0, "msg": "OK"})
            except BybitError as error:
                link = leg.get("orderLinkId", "") if isinstance(leg, dict) else ""
                symbol = leg.get("symbol", "") if isinstance(leg, dict) else ""
                results.append({"category": category, "symbol": symbol, "orderId": "", "orderLinkId": link,
                                "createAt": ""})
                codes.append({"code": error.code, "msg": error.msg})
        return _WithExt({"list": results}, {"list": codes})

    def _find(self, acct: _Account, category: str, p: Mapping[str, Any], *, verb: str) -> _Order:
        symbol = _str(p, "symbol")
        self._spec(category, symbol)
        order_id, link_id = p.get("orderId"), p.get("orderLinkId")
        if not order_id and not link_id:
            raise BybitError(10001, "params error: orderId or orderLinkId is required")
        if order_id:
            order = acct.orders.get(str(order_id))
        else:
            order = next((o for o in acct.orders.values() if o.order_link_id == link_id), None)
        if order is None or order.symbol != symbol or order.category != category or order.status not in _OPEN:
            raise BybitError(110001, f"order not exists or too late to {verb}")
        return order

    def _amend_one(self, acct: _Account, category: str, p: Mapping[str, Any]) -> _Order:
        order = self._find(acct, category, p, verb="replace")
        spec = self._spec(category, order.symbol)
        qty, price, trigger = _dec(p, "qty"), _dec(p, "price"), _dec(p, "triggerPrice")
        if qty is None and price is None and trigger is None:
            raise BybitError(10001, "params error: nothing to amend")
        if qty is not None:
            if qty <= order.cum_exec_qty or not _multiple(qty, spec.qty_step) or qty > spec.max_qty:
                raise BybitError(10001, "Qty invalid")
            order.qty = qty
        if price is not None:
            if order.order_type != "Limit" or price <= 0 or not _multiple(price, spec.tick_size):
                raise _param_error("price")
            order.price = price
        if trigger is not None and order.trigger_price:
            order.trigger_price = trigger
        order.updated = self._now_ms()
        self._notify(acct, order=order, position=(order.symbol, order.position_idx))
        return order

    def _amend(self, call: _Call) -> Any:
        order = self._amend_one(call.acct, self._category(call.params), call.params)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _amend_batch(self, call: _Call) -> Any:
        category, legs = self._batch_legs(call)
        results, codes = [], []
        for leg in legs:
            try:
                if not isinstance(leg, dict):
                    raise BybitError(10001, "params error: request invalid")
                order = self._amend_one(call.acct, category, leg)
                results.append({"category": category, "symbol": order.symbol, "orderId": order.order_id,
                                "orderLinkId": order.order_link_id})
                codes.append({"code": 0, "msg": "OK"})
            except BybitError as error:
                leg_map = leg if isinstance(leg, dict) else {}
                results.append({"category": category, "symbol": leg_map.get("symbol", ""),
                                "orderId": leg_map.get("orderId", ""), "orderLinkId": leg_map.get("orderLinkId", "")})
                codes.append({"code": error.code, "msg": error.msg})
        return _WithExt({"list": results}, {"list": codes})

    def _cancel_one(self, acct: _Account, category: str, p: Mapping[str, Any]) -> _Order:
        order = self._find(acct, category, p, verb="cancel")
        order.status, order.cancel_type, order.updated = "Cancelled", "CancelByUser", self._now_ms()
        self._notify(acct, order=order, position=(order.symbol, order.position_idx))
        return order

    def _cancel(self, call: _Call) -> Any:
        order = self._cancel_one(call.acct, self._category(call.params), call.params)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}

    def _cancel_batch(self, call: _Call) -> Any:
        category, legs = self._batch_legs(call)
        results, codes = [], []
        for leg in legs:
            try:
                if not isinstance(leg, dict):
                    raise BybitError(10001, "params error: request invalid")
                order = self._cancel_one(call.acct, category, leg)
                results.append({"category": category, "symbol": order.symbol, "orderId": order.order_id,
                                "orderLinkId": order.order_link_id})
                codes.append({"code": 0, "msg": "OK"})
            except BybitError as error:
                leg_map = leg if isinstance(leg, dict) else {}
                results.append({"category": category, "symbol": leg_map.get("symbol", ""),
                                "orderId": leg_map.get("orderId", ""), "orderLinkId": leg_map.get("orderLinkId", "")})
                codes.append({"code": error.code, "msg": error.msg})
        return _WithExt({"list": results}, {"list": codes})

    def _scope(self, category: str, p: Mapping[str, Any], *, linear_needs_scope: bool = True) -> Callable[[str], bool]:
        """Which symbols a symbol / baseCoin / settleCoin filter covers."""
        symbol, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
        if symbol:
            wanted = set(str(symbol).split(","))
            return lambda s: s in wanted
        if base:
            return lambda s: INSTRUMENTS[(category, s)].base == base
        if settle:
            return lambda s: INSTRUMENTS[(category, s)].settle == settle
        if category == "linear" and linear_needs_scope:
            raise BybitError(10001, "params error: symbol, baseCoin or settleCoin is required")
        return lambda s: True

    def _cancel_all(self, call: _Call) -> Any:
        category = self._category(call.params)
        in_scope = self._scope(category, call.params)
        order_filter = call.params.get("orderFilter")
        cancelled = []
        for order in call.acct.orders.values():
            if order.category != category or order.status not in _OPEN or not in_scope(order.symbol):
                continue
            if order_filter == "StopOrder" and not order.trigger_price:
                continue
            if order_filter == "Order" and order.trigger_price:
                continue
            order.status, order.cancel_type, order.updated = "Cancelled", "CancelAllBeforeLiq", self._now_ms()
            self._notify(call.acct, order=order, position=(order.symbol, order.position_idx))
            cancelled.append({"orderId": order.order_id, "orderLinkId": order.order_link_id})
        return {"list": cancelled, "success": "1"}

    def _listed(self, call: _Call, *, open_only: bool) -> list[_Order]:
        category = self._category(call.params)
        p = call.params
        orders = [o for o in call.acct.orders.values() if o.category == category]
        if p.get("orderId"):
            return [o for o in orders if o.order_id == p["orderId"]]
        if p.get("orderLinkId"):
            return [o for o in orders if o.order_link_id == p["orderLinkId"]]
        # open orders of a linear category need a scope; history does not
        in_scope = self._scope(category, p, linear_needs_scope=open_only)
        orders = [o for o in orders if in_scope(o.symbol)]
        if open_only:
            orders = [o for o in orders if o.status in _OPEN] if str(p.get("openOnly", "0")) == "0" else [
                o for o in orders if o.status not in _OPEN]
        if p.get("orderFilter") == "StopOrder":
            orders = [o for o in orders if o.trigger_price]
        elif p.get("orderFilter") == "Order":
            orders = [o for o in orders if not o.trigger_price]
        return sorted(orders, key=lambda o: o.created, reverse=True)

    def _realtime(self, call: _Call) -> Any:
        orders = self._listed(call, open_only=True)
        page, cursor = _page(orders, call.params, 20, 50)
        return {"category": call.params["category"], "nextPageCursor": cursor,
                "list": [o.to_json(self._spec(o.category, o.symbol)) for o in page]}

    def _history(self, call: _Call) -> Any:
        orders = self._listed(call, open_only=False)
        page, cursor = _page(orders, call.params, 20, 50)
        return {"category": call.params["category"], "nextPageCursor": cursor,
                "list": [o.to_json(self._spec(o.category, o.symbol)) for o in page]}

    # ---- positions ---------------------------------------------------------------------------------------

    def _position_list(self, call: _Call) -> Any:
        category = self._category(call.params)
        acct, p = call.acct, call.params
        symbols = [s for (cat, s) in INSTRUMENTS if cat == category]
        in_scope = self._scope(category, p)
        rows = []
        for symbol in symbols:
            if not in_scope(symbol):
                continue
            slots = (1, 2) if symbol in acct.hedged else (0,)
            for idx in slots:
                pos = acct.positions.get((symbol, idx), _Position())
                # with a symbol asked for, Bybit answers regardless of size; otherwise only open positions
                if pos.size == 0 and not p.get("symbol"):
                    continue
                rows.append(self._position_row(acct, category, symbol, idx, pos))
        page, cursor = _page(rows, p, 20, 200)
        return {"category": category, "nextPageCursor": cursor, "list": page}

    def _position_row(self, acct: _Account, category: str, symbol: str, idx: int, pos: _Position) -> dict[str, Any]:
        spec = self._spec(category, symbol)
        mark = self._marks[symbol]
        size = abs(pos.size)
        side = "" if pos.size == 0 else ("Buy" if pos.size > 0 else "Sell")
        if category == "inverse":
            value = size / pos.entry_price if pos.entry_price else Decimal(0)
            pnl = size / pos.entry_price - size / mark if pos.entry_price else Decimal(0)
        else:
            value = size * pos.entry_price
            pnl = size * (mark - pos.entry_price)
        if pos.size < 0:
            pnl = -pnl
        buy_leverage, sell_leverage = acct.leverage_of(symbol)
        leverage = sell_leverage if idx == 2 else buy_leverage
        return {
            "positionIdx": idx, "riskId": 1, "riskLimitValue": "2000000", "symbol": symbol, "side": side,
            "size": _fmt(size, spec.qty_places), "avgPrice": _plain(pos.entry_price) if pos.size else "0",
            "positionValue": _plain(value), "tradeMode": 1 if symbol in acct.isolated else 0, "autoAddMargin": 0,
            "positionStatus": "Normal", "leverage": _plain(leverage), "markPrice": _fmt(mark, spec.price_places),
            "liqPrice": "", "bustPrice": "", "positionIM": "0", "positionMM": "0", "positionBalance": "0",
            "tpslMode": "Full", "takeProfit": _plain(pos.take_profit), "stopLoss": _plain(pos.stop_loss),
            "trailingStop": "0", "unrealisedPnl": _plain(pnl), "curRealisedPnl": "0", "cumRealisedPnl": "0",
            "adlRankIndicator": 2 if pos.size else 0, "isReduceOnly": False, "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "", "createdTime": str(pos.created), "updatedTime": str(pos.updated),
            "seq": 8172241024,
        }

    def _leverages(self, p: Mapping[str, Any], spec: InstrumentSpec) -> tuple[Decimal, Decimal]:
        buy, sell = _dec(p, "buyLeverage", required=True), _dec(p, "sellLeverage", required=True)
        assert buy is not None and sell is not None
        for value in (buy, sell):
            if not Decimal(1) <= value <= spec.max_leverage:
                raise BybitError(10001, "leverage invalid")
        return buy, sell

    def _set_leverage(self, call: _Call) -> Any:
        category = self._category(call.params)
        symbol = _str(call.params, "symbol")
        spec = self._spec(category, symbol)
        leverages = self._leverages(call.params, spec)
        if call.acct.leverage_of(symbol) == leverages:
            raise BybitError(110043, "Set leverage not modified")
        call.acct.leverage[symbol] = leverages
        return {}

    def _switch_isolated(self, call: _Call) -> Any:
        category = self._category(call.params)
        symbol = _str(call.params, "symbol")
        spec = self._spec(category, symbol)
        trade_mode = _int(call.params, "tradeMode", -1)
        if trade_mode not in (0, 1):
            raise _param_error("tradeMode")
        isolated = trade_mode == 1
        if isolated == (symbol in call.acct.isolated):
            raise BybitError(110026, "Cross/isolated margin mode is not modified")
        call.acct.leverage[symbol] = self._leverages(call.params, spec)
        (call.acct.isolated.add if isolated else call.acct.isolated.discard)(symbol)
        return {}

    def _switch_mode(self, call: _Call) -> Any:
        category = self._category(call.params)
        mode = _int(call.params, "mode", -1)
        if mode not in (0, 3):
            raise _param_error("mode")
        symbol, coin = call.params.get("symbol"), call.params.get("coin")
        if symbol:
            self._spec(category, str(symbol))
            symbols = [str(symbol)]
        elif coin:
            symbols = [s for (cat, s), spec in INSTRUMENTS.items() if cat == category and spec.settle == coin]
        else:
            raise BybitError(10001, "params error: symbol or coin is required")
        acct = call.acct
        if all((s in acct.hedged) == (mode == 3) for s in symbols):
            raise BybitError(110025, "Position mode is not modified")
        if any(p.size for (s, _), p in acct.positions.items() if s in symbols):
            raise BybitError(110024, "You have an existing position, so position mode cannot be switched")
        for s in symbols:
            (acct.hedged.add if mode == 3 else acct.hedged.discard)(s)
        return {}

    def _trading_stop(self, call: _Call) -> Any:
        category = self._category(call.params)
        symbol = _str(call.params, "symbol")
        self._spec(category, symbol)
        idx = _int(call.params, "positionIdx", -1)
        pos = call.acct.positions.get((symbol, idx))
        if pos is None or pos.size == 0:
            raise BybitError(10001, "can not set tp/sl/ts for zero position")
        take_profit, stop_loss = _dec(call.params, "takeProfit"), _dec(call.params, "stopLoss")
        if take_profit is not None:
            pos.take_profit = take_profit
        if stop_loss is not None:
            pos.stop_loss = stop_loss
        return {}

    def _set_margin_mode(self, call: _Call) -> Any:
        mode = _str(call.params, "setMarginMode")
        if mode not in ("ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN"):
            raise _param_error("setMarginMode")
        call.acct.margin_mode = mode
        return {"reasons": []}

    # ---- wallet and sub-accounts -----------------------------------------------------------------------

    def _withdraw(self, call: _Call) -> Any:
        for name in ("coin", "address", "amount"):
            _str(call.params, name)
        return {"id": str(10_000_000 + next(self._ids))}

    def _transfer(self, call: _Call) -> Any:
        for name in ("coin", "amount"):
            _str(call.params, name)
        return {"transferId": str(call.params.get("transferId") or next(self._ids)), "status": "SUCCESS"}

    def _user_management(self, call: _Call) -> Any:
        return {"uid": str(50_000_000 + next(self._ids))}


@dataclass(frozen=True, slots=True)
class _WithExt:
    """A handler result that also fills `retExtInfo` (batch endpoints' per-leg codes)."""

    result: Any
    ext: Any


# Table-driven routing: (method, path) -> (security, handler).
_ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "/v5/market/time"): (_PUBLIC, FakeBybit._time),
    ("GET", "/v5/market/instruments-info"): (_PUBLIC, FakeBybit._instruments_info),
    ("GET", "/v5/market/tickers"): (_PUBLIC, FakeBybit._tickers),
    ("GET", "/v5/asset/coin/query-info"): (_SIGNED, FakeBybit._coin_info),
    ("GET", "/v5/user/query-api"): (_SIGNED, FakeBybit._query_api),
    ("GET", "/v5/account/info"): (_SIGNED, FakeBybit._account_info),
    ("GET", "/v5/account/wallet-balance"): (_SIGNED, FakeBybit._wallet_balance),
    ("GET", "/v5/order/realtime"): (_SIGNED, FakeBybit._realtime),
    ("GET", "/v5/order/history"): (_SIGNED, FakeBybit._history),
    ("GET", "/v5/position/list"): (_SIGNED, FakeBybit._position_list),
    ("POST", "/v5/order/create"): (_SIGNED, FakeBybit._create),
    ("POST", "/v5/order/create-batch"): (_SIGNED, FakeBybit._create_batch),
    ("POST", "/v5/order/amend"): (_SIGNED, FakeBybit._amend),
    ("POST", "/v5/order/amend-batch"): (_SIGNED, FakeBybit._amend_batch),
    ("POST", "/v5/order/cancel"): (_SIGNED, FakeBybit._cancel),
    ("POST", "/v5/order/cancel-batch"): (_SIGNED, FakeBybit._cancel_batch),
    ("POST", "/v5/order/cancel-all"): (_SIGNED, FakeBybit._cancel_all),
    ("POST", "/v5/position/set-leverage"): (_SIGNED, FakeBybit._set_leverage),
    ("POST", "/v5/position/switch-isolated"): (_SIGNED, FakeBybit._switch_isolated),
    ("POST", "/v5/position/switch-mode"): (_SIGNED, FakeBybit._switch_mode),
    ("POST", "/v5/position/trading-stop"): (_SIGNED, FakeBybit._trading_stop),
    ("POST", "/v5/account/set-margin-mode"): (_SIGNED, FakeBybit._set_margin_mode),
    ("POST", "/v5/asset/withdraw/create"): (_SIGNED, FakeBybit._withdraw),
    ("POST", "/v5/asset/withdraw/cancel"): (_SIGNED, FakeBybit._withdraw),
    **{endpoint: (_SIGNED, FakeBybit._transfer) for endpoint in WALLET_ENDPOINTS if "/transfer/" in endpoint[1]},
    **{endpoint: (_SIGNED, FakeBybit._user_management) for endpoint in WALLET_ENDPOINTS
       if endpoint[1].startswith("/v5/user/")},
}


# --------------------------------------------------------------------------------------------------------
# HTTP plumbing
