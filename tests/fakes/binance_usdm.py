"""A fake Binance USDⓈ-M futures exchange (REST `/fapi/...`, plus the wallet `/sapi/...` paths) for tests.

Why it exists: the firewall must be tested end to end with real, unmodified client libraries. The fake gives
them a venue that answers like Binance (shapes from docs/venues.md §1.6, errors from §1.5) and lets a test
see exactly what arrived. It verifies the HMAC signature over the exact bytes Binance signs (query string
without `signature`, concatenated with the form body; docs/venues.md §1.2), so a request that a proxy altered in
any way is refused with -1022: "the firewall forwarded it untouched" is provable, not assumed.

What it is not: a matching engine. MARKET orders fill at the mark price at once; LIMIT and conditional
orders rest until a test calls `fill_order()` (all of it, or `quantity=` of it) or `expire_order()`, or they are
cancelled. No fees, funding or liquidations.
Only HMAC-SHA256 API keys (no RSA/Ed25519). Stdlib only; every amount is a `Decimal`, rendered as a string.

Choices where Binance's behaviour is undocumented (docs/venues.md §9):
- a parameter sent twice (twice in the query, or in both query and body) is refused with -1101, so no test
  can depend on which copy a venue would pick;
- a body counts as parameters only when it is `application/x-www-form-urlencoded` (or has no Content-Type);
  any other body is recorded but contributes no parameters;
- STOP/TAKE_PROFIT/TRAILING types are still accepted on `POST /fapi/v1/order` (older SDKs send them there)
  and rest like LIMIT orders.

WebSocket (the WebSocket API `/ws-fapi/v1` and the user-data streams `/ws/<listenKey>`, `/stream?streams=...`,
`/private/ws?listenKey=...`) is served on the same port by tests/fakes/binance_usdm_ws.py: orders placed there
live in this book, and every order change, fill and position change here is published to the account's
streams (`_notify`, then `_flush_ws` once the lock is released), as is every `set_mark_price()` to the
mark-price streams. Listen keys are issued by `POST`/`PUT /fapi/v1/listenKey` (one per API key, stable while
it is open) and closed by `DELETE`.

Usage:
    with FakeBinanceUsdm({"key": "secret"}) as fake:
        ...  # point a client at fake.base_url
        assert [r.path for r in fake.orders_received()] == ["/fapi/v1/order"]
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
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.server import FakeServer as _Server
from tests.fakes.server import ServedFake

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_MARK_PRICES",
    "ORDER_ENDPOINTS",
    "SYMBOLS",
    "WALLET_ENDPOINTS",
    "FakeBinanceUsdm",
    "RecordedRequest",
    "SymbolSpec",
    "listen_key_for",
    "sign_params",
]

DEFAULT_ACCOUNTS: Mapping[str, str] = {"test-api-key": "test-api-secret"}

DEFAULT_MARK_PRICES: Mapping[str, Decimal] = {
    "BTCUSDT": Decimal("50000"),
    "ETHUSDT": Decimal("3000"),
    "SOLUSDT": Decimal("150"),
    "DOGEUSDT": Decimal("0.2"),
}

# Requests that create or change orders: what a firewall must see before the venue does.
ORDER_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/fapi/v1/order"),
    ("POST", "/fapi/v1/algoOrder"),
    ("POST", "/fapi/v1/batchOrders"),
    ("PUT", "/fapi/v1/order"),
    ("PUT", "/fapi/v1/batchOrders"),
})

# Money leaving the futures account. Tests assert these never arrive through the firewall.
WALLET_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/sapi/v1/capital/withdraw/apply"),
    ("POST", "/sapi/v1/asset/transfer"),
    ("POST", "/sapi/v1/futures/transfer"),
    ("POST", "/sapi/v1/margin/transfer"),
    ("POST", "/sapi/v1/sub-account/universalTransfer"),
    ("POST", "/sapi/v1/sub-account/futures/transfer"),
    ("POST", "/sapi/v1/sub-account/futures/internalTransfer"),
    ("POST", "/sapi/v1/sub-account/transfer/subToSub"),
    ("POST", "/sapi/v1/sub-account/transfer/subToMaster"),
})


# --------------------------------------------------------------------------------------------------------
# Instruments


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One perpetual, with filters close to the real exchangeInfo (they drive ccxt's precision)."""

    symbol: str
    base: str
    price_precision: int
    quantity_precision: int
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    min_price: Decimal
    max_price: Decimal
    # (max leverage, notional cap, maintenance margin ratio) per bracket, lowest notional first.
    brackets: tuple[tuple[int, int, Decimal], ...]
    onboard_date: int
    quote: str = "USDT"


_MAJOR_BRACKETS = (
    (125, 50_000, Decimal("0.004")), (100, 600_000, Decimal("0.005")), (75, 3_000_000, Decimal("0.0065")),
    (50, 12_000_000, Decimal("0.01")), (25, 70_000_000, Decimal("0.02")), (20, 100_000_000, Decimal("0.025")),
    (10, 230_000_000, Decimal("0.05")), (5, 480_000_000, Decimal("0.1")), (4, 600_000_000, Decimal("0.125")),
    (2, 800_000_000, Decimal("0.25")), (1, 1_200_000_000, Decimal("0.5")),
)
_ALT_BRACKETS = (
    (75, 5_000, Decimal("0.005")), (50, 50_000, Decimal("0.01")), (25, 250_000, Decimal("0.02")),
    (20, 1_000_000, Decimal("0.025")), (10, 5_000_000, Decimal("0.05")), (5, 10_000_000, Decimal("0.1")),
    (4, 15_000_000, Decimal("0.125")), (2, 25_000_000, Decimal("0.25")), (1, 50_000_000, Decimal("0.5")),
)

SYMBOLS: Mapping[str, SymbolSpec] = {
    spec.symbol: spec
    for spec in (
        SymbolSpec("BTCUSDT", "BTC", 2, 3, Decimal("0.10"), Decimal("0.001"), Decimal("0.001"),
                   Decimal("1000"), Decimal("120"), Decimal("100"), Decimal("556.80"), Decimal("4529764"),
                   _MAJOR_BRACKETS, 1569398400000),
        SymbolSpec("ETHUSDT", "ETH", 2, 3, Decimal("0.01"), Decimal("0.001"), Decimal("0.001"),
                   Decimal("10000"), Decimal("2000"), Decimal("20"), Decimal("39.86"), Decimal("306177"),
                   _MAJOR_BRACKETS, 1569398400000),
        SymbolSpec("SOLUSDT", "SOL", 4, 0, Decimal("0.0100"), Decimal("1"), Decimal("1"),
                   Decimal("1000000"), Decimal("5000"), Decimal("5"), Decimal("0.4200"), Decimal("6857"),
                   _ALT_BRACKETS, 1569398400000),
        SymbolSpec("DOGEUSDT", "DOGE", 6, 0, Decimal("0.000010"), Decimal("1"), Decimal("1"),
                   Decimal("50000000"), Decimal("30000000"), Decimal("5"), Decimal("0.002440"),
                   Decimal("30"), _ALT_BRACKETS, 1569398400000),
    )
}

_ORDER_TYPES = ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET")
_ALGO_TYPES = frozenset(_ORDER_TYPES) - {"LIMIT", "MARKET"}
_TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "GTD")
_OPEN = ("NEW", "PARTIALLY_FILLED")
_DEFAULT_LEVERAGE = 20


# --------------------------------------------------------------------------------------------------------
# Request log


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as it arrived (before any parsing could hide a difference), and the status answered."""

    method: str
    path: str
    query: str  # raw, undecoded, without the leading "?"
    body: bytes
    headers: dict[str, str]
    params: dict[str, str]  # query and form body merged (a repeated name keeps its last value)
    status: int

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def api_key(self) -> str | None:
        return self.header("X-MBX-APIKEY")

    @property
    def endpoint(self) -> tuple[str, str]:
        return self.method, self.path


def listen_key_for(api_key: str) -> str:
    """The listen key the fake issues for `api_key` (stable: Binance returns the same key while one is open)."""
    return hashlib.sha256(f"listen:{api_key}".encode()).hexdigest()


def sign_params(query: str, body: str, secret: str) -> str:
    """Binance's HMAC: hex SHA-256 over query string + body, exactly as sent (for hand-made requests)."""
    return hmac.new(secret.encode(), (query + body).encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------------------------------------
# State


class BinanceError(Exception):
    """An answer in Binance's error shape: HTTP status plus `{"code": ..., "msg": ...}`."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def _missing(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


@dataclass(slots=True)
class _Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    position_side: str
    type: str
    orig_qty: Decimal
    price: Decimal
    stop_price: Decimal
    time_in_force: str
    reduce_only: bool
    close_position: bool
    working_type: str
    price_protect: bool
    price_match: str
    stp_mode: str
    good_till_date: int
    time: int
    update_time: int
    status: str = "NEW"
    executed_qty: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    activate_price: Decimal | None = None
    price_rate: Decimal | None = None

    def to_json(self) -> dict[str, Any]:
        spec = SYMBOLS[self.symbol]
        qty, px = spec.quantity_precision, spec.price_precision
        cum_quote = self.executed_qty * self.avg_price
        body: dict[str, Any] = {
            "orderId": self.order_id,
            "symbol": self.symbol,
            "status": self.status,
            "clientOrderId": self.client_order_id,
            "price": _fmt(self.price, px),
            "avgPrice": _fmt(self.avg_price, px + 3),
            "origQty": _fmt(self.orig_qty, qty),
            "executedQty": _fmt(self.executed_qty, qty),
            "cumQty": _fmt(self.executed_qty, qty),
            "cumQuote": _fmt(cum_quote, px + 3),
            "timeInForce": self.time_in_force,
            "type": self.type,
            "reduceOnly": self.reduce_only,
            "closePosition": self.close_position,
            "side": self.side,
            "positionSide": self.position_side,
            "stopPrice": _fmt(self.stop_price, px),
            "workingType": self.working_type,
            "priceProtect": self.price_protect,
            "origType": self.type,
            "priceMatch": self.price_match,
            "selfTradePreventionMode": self.stp_mode,
            "goodTillDate": self.good_till_date,
            "time": self.time,
            "updateTime": self.update_time,
        }
        if self.type == "TRAILING_STOP_MARKET":
            body["activatePrice"] = _fmt(self.activate_price or Decimal(0), px)
            body["priceRate"] = str(self.price_rate)
        return body


@dataclass(slots=True)
class _AlgoOrder:
    algo_id: int
    client_algo_id: str
    order_type: str
    symbol: str
    side: str
    position_side: str
    time_in_force: str
    quantity: Decimal
    trigger_price: Decimal
    price: Decimal
    working_type: str
    price_match: str
    close_position: bool
    price_protect: bool
    reduce_only: bool
    stp_mode: str
    activate_price: Decimal | None
    callback_rate: Decimal | None
    good_till_date: int
    create_time: int
    update_time: int
    status: str = "NEW"

    def to_json(self) -> dict[str, Any]:
        spec = SYMBOLS[self.symbol]
        px = spec.price_precision
        return {
            "algoId": self.algo_id,
            "clientAlgoId": self.client_algo_id,
            "algoType": "CONDITIONAL",
            "orderType": self.order_type,
            "symbol": self.symbol,
            "side": self.side,
            "positionSide": self.position_side,
            "timeInForce": self.time_in_force,
            "quantity": _fmt(self.quantity, spec.quantity_precision),
            "algoStatus": self.status,
            "triggerPrice": _fmt(self.trigger_price, spec.price_precision),
            "price": _fmt(self.price, spec.price_precision),
            "icebergQuantity": None,
            "selfTradePreventionMode": self.stp_mode,
            "workingType": self.working_type,
            "priceMatch": self.price_match,
            "closePosition": self.close_position,
            "priceProtect": self.price_protect,
            "reduceOnly": self.reduce_only,
            "activatePrice": None if self.activate_price is None else _fmt(self.activate_price, px),
            "callbackRate": None if self.callback_rate is None else str(self.callback_rate),
            "createTime": self.create_time,
            "updateTime": self.update_time,
            "triggerTime": 0,
            "goodTillDate": self.good_till_date,
        }


@dataclass(slots=True)
class _Position:
    amount: Decimal = Decimal(0)  # signed: negative is short (also on the SHORT side in hedge mode)
    entry_price: Decimal = Decimal(0)
    update_time: int = 0


@dataclass(slots=True)
class _Account:
    secret: str
    wallet_balance: Decimal
    dual_side: bool = False
    leverage: dict[str, int] = field(default_factory=dict)
    margin_type: dict[str, str] = field(default_factory=dict)  # symbol -> CROSSED | ISOLATED
    positions: dict[tuple[str, str], _Position] = field(default_factory=dict)
    orders: dict[int, _Order] = field(default_factory=dict)
    algo_orders: dict[int, _AlgoOrder] = field(default_factory=dict)
    countdown: dict[str, int] = field(default_factory=dict)
    order_times: deque[float] = field(default_factory=deque)

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, _DEFAULT_LEVERAGE)

    def margin_type_of(self, symbol: str) -> str:
        return self.margin_type.get(symbol, "CROSSED")


@dataclass(slots=True)
class _Call:
    """What a handler gets: merged parameters and, on private endpoints, the caller's account."""

    params: dict[str, str]
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
    """Decimal without exponent or trailing zeros, the way Binance prints balances ("10000", "0.5")."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dec(params: Mapping[str, str], name: str, *, required: bool = False) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _missing(name)
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite():
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


def _bool(params: Mapping[str, str], name: str) -> bool:
    return str(params.get(name, "false")).lower() == "true"


def _symbol(params: Mapping[str, str]) -> SymbolSpec:
    spec = _optional_symbol(params)
    if spec is None:
        raise _missing("symbol")
    return spec


def _optional_symbol(params: Mapping[str, str]) -> SymbolSpec | None:
    raw = params.get("symbol")
    if not raw:
        return None
    spec = SYMBOLS.get(raw.upper())
    if spec is None:
        raise BinanceError(-1121, "Invalid symbol.")
    return spec


def _json_list(params: Mapping[str, str], *names: str) -> list[Any] | None:
    """First present JSON-array parameter among `names` (ccxt spells orderIdList `orderidlist`)."""
    for name in names:
        raw = params.get(name)
        if raw:
            try:
                value = json.loads(raw)
            except ValueError:
                raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.") from None
            if not isinstance(value, list):
                raise BinanceError(-1130, f"Data sent for parameter '{name}' is not valid.")
            return value
    return None


def _stringify(leg: Mapping[str, Any]) -> dict[str, str]:
    """Batch legs arrive as JSON values; the order code reads form-style strings."""
    out: dict[str, str] = {}
    for key, value in leg.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif value is not None:
            out[key] = str(value)
    return out


def _strip_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """(parameters without `signature=...`, the signature value) for one query string or form body."""
    kept, signature = [], None
    for part in raw.split(b"&") if raw else []:
        if part.startswith(b"signature="):
            signature = part[len(b"signature="):]
        else:
            kept.append(part)
    return b"&".join(kept), signature


# --------------------------------------------------------------------------------------------------------
# The fake


_PUBLIC, _API_KEY, _SIGNED = "public", "api-key", "signed"
Handler = Callable[["FakeBinanceUsdm", _Call], Any]


class FakeBinanceUsdm(ServedFake):
    """Fake Binance USDⓈ-M REST venue on 127.0.0.1. Thread-safe; one instance per test is cheap."""

    def __init__(
        self,
        accounts: Mapping[str, str] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        wallet_balance: Decimal = Decimal("10000"),
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
        self._weight_times: deque[float] = deque()
        self._queued_errors: list[tuple[str, str, BinanceError]] = []
        self._lost_answers: list[tuple[str, str]] = []
        # (method, path, what to do once such a request is handled and before it is answered): one-shot each
        self._before_answers: list[tuple[str, str, Callable[[], None]]] = []
        self.internal_errors: list[str] = []  # tracebacks of exceptions inside handlers (answered with 500)
        self._listen_keys: dict[str, str] = {}  # open listen key -> API key (kept by reset(), like accounts)
        self._ws_hub: Any = None  # tests/fakes/binance_usdm_ws.py's hub, attached by the first `ws_session`
        self._reset_state()

    def _reset_state(self) -> None:
        self._accounts = {k: _Account(secret=s, wallet_balance=self._initial_balance)
                          for k, s in self._account_secrets.items()}
        self._marks: dict[str, Decimal] = dict(DEFAULT_MARK_PRICES)
        self._order_ids = itertools.count(4_100_000_001)
        self._algo_ids = itertools.count(1_000_000_001)
        self._client_ids = itertools.count(1)
        self._tran_ids = itertools.count(300_000_000_001)
        self._trade_ids = itertools.count(7_000_000_001)
        self._queued_errors.clear()
        self._lost_answers.clear()
        self._before_answers.clear()

    # ---- what arrived --------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint in ORDER_ENDPOINTS]

    def wallet_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint in WALLET_ENDPOINTS]

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def calls(self) -> list[str]:
        """"METHOD /path" per request, in arrival order: the easiest thing to assert on."""
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

    def set_mark_price(self, symbol: str, price: Decimal) -> None:
        if symbol not in SYMBOLS:
            raise KeyError(f"unknown symbol {symbol!r}; the fake lists {sorted(SYMBOLS)}")
        with self._lock:
            self._marks[symbol] = Decimal(price)
            if self._ws_hub is not None:
                self._ws_hub.on_mark(symbol)  # mark-price stream subscribers see the new price
        self._flush_ws()

    def mark_price(self, symbol: str) -> Decimal:
        with self._lock:
            return self._marks[symbol]

    def position(self, api_key: str, symbol: str, position_side: str = "BOTH") -> Decimal:
        """Signed position amount the fake holds for an account (negative = short)."""
        with self._lock:
            pos = self._accounts[api_key].positions.get((symbol, position_side))
            return Decimal(0) if pos is None else pos.amount

    def set_position(self, api_key: str, symbol: str, amount: Decimal, *, entry_price: Decimal | None = None,
                     position_side: str = "BOTH") -> None:
        with self._lock:
            entry = self._marks[symbol] if entry_price is None else Decimal(entry_price)
            self._accounts[api_key].positions[(symbol, position_side)] = _Position(
                Decimal(amount), entry if amount else Decimal(0), self._now_ms())
            self._notify(self._accounts[api_key], position=(symbol, position_side), reason="ADJUSTMENT")
        self._flush_ws()

    def wallet_balance(self, api_key: str) -> Decimal:
        with self._lock:
            return self._accounts[api_key].wallet_balance

    def set_balance(self, api_key: str, balance: Decimal) -> None:
        """Set the account's wallet balance (a day's losses): the account endpoints' totalMarginBalance follows."""
        with self._lock:
            self._accounts[api_key].wallet_balance = balance

    def open_orders(self, api_key: str) -> list[dict[str, Any]]:
        with self._lock:
            acct = self._accounts[api_key]
            return [o.to_json() for o in acct.orders.values() if o.status in _OPEN] + [
                a.to_json() for a in acct.algo_orders.values() if a.status == "NEW"]

    def fill_order(self, order_id: int, price: Decimal | None = None, *, api_key: str | None = None,
                   quantity: Decimal | None = None) -> dict[str, Any]:
        """Fill a resting order (at its limit price unless given), as if the market crossed it: completely, or
        `quantity` of it (PARTIALLY_FILLED until the rest fills)."""
        if quantity is not None and Decimal(quantity) <= 0:
            raise ValueError(f"a fill of {quantity} is no fill")
        try:
            with self._lock:
                acct, order = self._resting_order(order_id, api_key)
                if price is None:
                    price = order.price or self._marks[order.symbol]
                self._fill(acct, order, Decimal(price), None if quantity is None else Decimal(quantity))
                return order.to_json()
        finally:
            self._flush_ws()  # stream subscribers see the fill (outside the lock: sockets may be slow)

    def expire_order(self, order_id: int, *, api_key: str | None = None) -> dict[str, Any]:
        """Expire a resting order as the venue does (GTD reached, IOC/FOK remainder, GTX that would take)."""
        try:
            with self._lock:
                acct, order = self._resting_order(order_id, api_key)
                order.status, order.update_time = "EXPIRED", self._now_ms()
                self._notify(acct, order=order, execution="EXPIRED")
                return order.to_json()
        finally:
            self._flush_ws()

    def _resting_order(self, order_id: int, api_key: str | None) -> tuple[_Account, _Order]:
        for key, acct in self._accounts.items():
            order = acct.orders.get(order_id)
            if order is not None and (api_key is None or api_key == key):
                if order.status not in _OPEN:
                    raise ValueError(f"order {order_id} is {order.status}")
                return acct, order
        raise KeyError(order_id)

    def queue_error(self, method: str, path: str, *, code: int = -1000, status: int = 400,
                    msg: str = "An unknown error occurred while processing the request.") -> None:
        """Answer the next authenticated `method path` request with this error instead of handling it."""
        with self._lock:
            self._queued_errors.append((method.upper(), path, BinanceError(code, msg, status)))

    def lose_answer(self, method: str, path: str) -> None:
        """Handle the next authenticated `method path` request (the order is placed), then answer it as Binance does
        when its backend timed out: 503, -1007 "execution status unknown"."""
        with self._lock:
            self._lost_answers.append((method.upper(), path))

    def before_answer(self, method: str, path: str, then: Callable[[], None]) -> None:
        """Handle the next authenticated `method path` request as usual, then call `then()` before answering it
        (a test's chance to break something between the venue acting and the answer reaching the sidecar)."""
        with self._lock:
            self._before_answers.append((method.upper(), path, then))

    # ---- WebSocket (tests/fakes/binance_usdm_ws.py serves the sockets; state stays here) --------------

    def ws_session(self, path: str, headers: dict[str, str]) -> Any:
        """Called by the server for a WebSocket handshake on this fake's port (see tests/fakes/server.py)."""
        from tests.fakes.binance_usdm_ws import ws_hub  # imported here: binance_usdm_ws builds on this module

        return ws_hub(self).open(path, headers)

    def _notify(self, acct: _Account, **change: Any) -> None:
        """Tell stream subscribers what changed (an order, a fill, a position, an algo order, a listen key).

        Called with the lock held, so the hub formats every event from a consistent state; the events leave
        in `_flush_ws`, after the lock is released.
        """
        if self._ws_hub is not None:
            api_key = next(k for k, a in self._accounts.items() if a is acct)
            self._ws_hub.on_change(api_key, change)

    def _flush_ws(self) -> None:
        if self._ws_hub is not None:
            self._ws_hub.flush()

    def _issue_listen_key(self, api_key: str) -> str:
        key = listen_key_for(api_key)
        self._listen_keys[key] = api_key
        return key

    # ---- request pipeline (called from handler threads) ----------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _handle(self, method: str, raw_path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, Any, dict[str, str]]:
        path, _, query = raw_path.partition("?")
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        pairs = parse_qsl(query, keep_blank_values=True)
        form_body = not content_type or content_type.lower().startswith("application/x-www-form-urlencoded")
        if body and form_body:
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = dict(pairs)
        api_key = next((v for k, v in headers.items() if k.lower() == "x-mbx-apikey"), None)
        extra_headers: dict[str, str] = {}
        with self._lock:
            now = self._clock()
            self._weight_times.append(now)
            while self._weight_times and self._weight_times[0] < now - 60:
                self._weight_times.popleft()
            extra_headers["X-MBX-USED-WEIGHT-1M"] = str(len(self._weight_times))
            try:
                route = _ROUTES.get((method, path))
                if route is None:
                    raise BinanceError(-5000, f"Path {path}, Method {method} is invalid", status=404)
                security, handler = route
                if len(params) != len(pairs):
                    raise BinanceError(-1101, "Duplicate values for a parameter detected.")
                account = None
                if security != _PUBLIC:
                    account = self._authenticate(security, api_key, params, query, body)
                    for i, (q_method, q_path, error) in enumerate(self._queued_errors):
                        if (q_method, q_path) == (method, path):
                            del self._queued_errors[i]
                            raise error
                if account is not None and (method, path) in ORDER_ENDPOINTS:
                    extra_headers.update(self._count_order(account, now))
                status, payload = 200, handler(self, _Call(params, api_key, account))
                if account is not None and (method, path) in self._lost_answers:
                    self._lost_answers.remove((method, path))
                    raise BinanceError(-1007, "Timeout waiting for response from backend server. Send status "
                                       "unknown; execution status unknown.", status=503)
            except BinanceError as error:
                status, payload = error.status, error.body()
            except Exception:  # a bug in the fake: answer like Binance's -1000, keep the traceback for the test
                self.internal_errors.append(traceback.format_exc())
                status, payload = 500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            self._log.append(RecordedRequest(method, path, query, body, dict(headers), params, status))
            then = next(((i, hook) for i, (m, p, hook) in enumerate(self._before_answers)
                         if (m, p) == (method, path) and status == 200), None)
            if then is not None:
                del self._before_answers[then[0]]
        self._flush_ws()
        if then is not None:
            then[1]()
        return status, payload, extra_headers

    def _authenticate(self, security: str, api_key: str | None, params: Mapping[str, str], query: str,
                      body: bytes) -> _Account:
        if not api_key:
            raise BinanceError(-2014, "API-key format invalid.", status=401)
        account = self._accounts.get(api_key)
        if account is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        if security == _API_KEY:
            return account
        timestamp = params.get("timestamp")
        if not timestamp or not timestamp.isdigit():
            raise _missing("timestamp")
        raw_window = params.get("recvWindow") or "5000"
        if not raw_window.isdigit():
            raise BinanceError(-1100, "Illegal characters found in parameter 'recvWindow'.")
        recv_window = int(raw_window)
        if recv_window > 60000:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now_ms = self._now_ms()
        if not (int(timestamp) < now_ms + 1000 and now_ms - int(timestamp) <= recv_window):
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
        # totalParams = query string + request body, each without its `signature` (docs/venues.md §1.2).
        signed_query, sig_q = _strip_signature(query.encode("latin-1"))
        signed_body, sig_b = _strip_signature(body)
        signature = sig_q if sig_q is not None else sig_b
        if signature is None:
            raise _missing("signature")
        expected = hmac.new(account.secret.encode(), signed_query + signed_body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.decode("latin-1").lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        return account

    def _count_order(self, account: _Account, now: float) -> dict[str, str]:
        account.order_times.append(now)
        while account.order_times and account.order_times[0] < now - 60:
            account.order_times.popleft()
        last_10s = sum(1 for t in account.order_times if t >= now - 10)
        return {"X-MBX-ORDER-COUNT-10S": str(last_10s), "X-MBX-ORDER-COUNT-1M": str(len(account.order_times))}

    # ---- market data ---------------------------------------------------------------------------------

    def _ping(self, call: _Call) -> Any:
        return {}

    def _time(self, call: _Call) -> Any:
        return {"serverTime": self._now_ms()}

    def _exchange_info(self, call: _Call) -> Any:
        return {
            "timezone": "UTC",
            "serverTime": self._now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [
                {"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"},
                {"asset": "BTC", "marginAvailable": True, "autoAssetExchange": "-0.10000000"},
            ],
            "symbols": [self._symbol_info(spec) for spec in SYMBOLS.values()],
        }

    @staticmethod
    def _symbol_info(spec: SymbolSpec) -> dict[str, Any]:
        return {
            "symbol": spec.symbol,
            "pair": spec.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": spec.onboard_date,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": spec.base,
            "quoteAsset": spec.quote,
            "marginAsset": spec.quote,
            "pricePrecision": spec.price_precision,
            "quantityPrecision": spec.quantity_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": ["Layer-1"],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": str(spec.min_price),
                 "maxPrice": str(spec.max_price), "tickSize": str(spec.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": str(spec.min_qty), "maxQty": str(spec.max_qty),
                 "stepSize": str(spec.step_size)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": str(spec.min_qty),
                 "maxQty": str(spec.market_max_qty), "stepSize": str(spec.step_size)},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": str(spec.min_notional)},
                {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                 "multiplierDecimal": "4"},
            ],
            "orderTypes": list(_ORDER_TYPES),
            "timeInForce": list(_TIME_IN_FORCE),
            "permissionSets": ["GRID", "COPY"],
        }

    def _per_symbol(self, call: _Call, render: Callable[[SymbolSpec], dict[str, Any]]) -> Any:
        """Binance answers an object when `symbol` is given and a list of all symbols otherwise."""
        spec = _optional_symbol(call.params)
        return render(spec) if spec is not None else [render(s) for s in SYMBOLS.values()]

    def _premium_index(self, call: _Call) -> Any:
        now = self._now_ms()
        next_funding = (now // 28_800_000 + 1) * 28_800_000

        def render(spec: SymbolSpec) -> dict[str, Any]:
            mark = self._marks[spec.symbol]
            return {
                "symbol": spec.symbol,
                "markPrice": _fmt(mark, spec.price_precision + 6),
                "indexPrice": _fmt(mark, spec.price_precision + 6),
                "estimatedSettlePrice": _fmt(mark, spec.price_precision + 6),
                "lastFundingRate": "0.00010000",
                "interestRate": "0.00010000",
                "nextFundingTime": next_funding,
                "time": now,
            }
        return self._per_symbol(call, render)

    def _ticker_24hr(self, call: _Call) -> Any:
        now = self._now_ms()

        def render(spec: SymbolSpec) -> dict[str, Any]:
            mark, places = self._marks[spec.symbol], spec.price_precision
            open_ = mark * Decimal("0.98")
            volume = Decimal("123456") / mark.sqrt()
            return {
                "symbol": spec.symbol,
                "priceChange": _fmt(mark - open_, places),
                "priceChangePercent": _fmt((mark - open_) / open_ * 100, 3),
                "weightedAvgPrice": _fmt(mark, places),
                "lastPrice": _fmt(mark, places),
                "lastQty": _fmt(spec.min_qty, spec.quantity_precision),
                "openPrice": _fmt(open_, places),
                "highPrice": _fmt(mark * Decimal("1.02"), places),
                "lowPrice": _fmt(mark * Decimal("0.97"), places),
                "volume": _fmt(volume, spec.quantity_precision),
                "quoteVolume": _fmt(volume * mark, 2),
                "openTime": now - 86_400_000,
                "closeTime": now,
                "firstId": 5_000_000_000,
                "lastId": 5_000_123_456,
                "count": 123457,
            }
        return self._per_symbol(call, render)

    def _ticker_price(self, call: _Call) -> Any:
        now = self._now_ms()
        return self._per_symbol(call, lambda spec: {
            "symbol": spec.symbol, "price": _fmt(self._marks[spec.symbol], spec.price_precision),
            "time": now})

    def _book_ticker(self, call: _Call) -> Any:
        now = self._now_ms()

        def render(spec: SymbolSpec) -> dict[str, Any]:
            mark, places = self._marks[spec.symbol], spec.price_precision
            return {
                "symbol": spec.symbol,
                "bidPrice": _fmt(mark - spec.tick_size, places),
                "bidQty": _fmt(spec.min_qty * 100, spec.quantity_precision),
                "askPrice": _fmt(mark + spec.tick_size, places),
                "askQty": _fmt(spec.min_qty * 100, spec.quantity_precision),
                "time": now,
                "lastUpdateId": 7_000_000_000,
            }
        return self._per_symbol(call, render)

    def _depth(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        limit = min(int(call.params.get("limit") or 20), 1000)
        mark, now = self._marks[spec.symbol], self._now_ms()

        def level(i: int, sign: int) -> list[str]:
            return [_fmt(mark + sign * spec.tick_size * i, spec.price_precision),
                    _fmt(spec.min_qty * (10 + i), spec.quantity_precision)]
        return {
            "lastUpdateId": 7_000_000_000,
            "E": now,
            "T": now,
            "bids": [level(i, -1) for i in range(1, limit + 1)],
            "asks": [level(i, 1) for i in range(1, limit + 1)],
        }

    def _klines(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        minutes = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
                   "6h": 360, "8h": 480, "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080, "1M": 43200}
        interval = call.params.get("interval")
        if interval not in minutes:
            raise BinanceError(-1120, "Invalid interval.")
        step = minutes[interval] * 60_000
        limit = min(int(call.params.get("limit") or 500), 1500)
        last_open = self._now_ms() // step * step
        price = _fmt(self._marks[spec.symbol], spec.price_precision)
        return [[t, price, price, price, price, "1.000", t + step - 1, price, 1, "0.500", price, "0"]
                for t in range(last_open - (limit - 1) * step, last_open + 1, step)]

    # ---- orders --------------------------------------------------------------------------------------

    def _new_order(self, call: _Call) -> Any:
        return self._place(call.acct, call.params)

    def _test_order(self, call: _Call) -> Any:
        self._place(call.acct, call.params, dry_run=True)
        return {}

    def _batch_orders(self, call: _Call) -> Any:
        legs = _json_list(call.params, "batchOrders")
        if legs is None:
            raise _missing("batchOrders")
        if not 1 <= len(legs) <= 5 or not all(isinstance(leg, dict) for leg in legs):
            raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        results: list[Any] = []
        for leg in legs:
            try:
                results.append(self._place(call.acct, _stringify(leg)))
            except BinanceError as error:
                results.append(error.body())  # a failed leg does not fail the batch (docs/venues.md §1.5)
        return results

    def _place(self, acct: _Account, p: Mapping[str, str], *, dry_run: bool = False) -> dict[str, Any]:
        spec = _symbol(p)
        side = p.get("side") or ""
        if side not in ("BUY", "SELL"):
            raise _missing("side") if not side else BinanceError(-1117, "Invalid side.")
        order_type = p.get("type") or ""
        if order_type not in _ORDER_TYPES:
            raise _missing("type") if not order_type else BinanceError(-1116, "Invalid orderType.")
        position_side = p.get("positionSide") or "BOTH"
        if (position_side == "BOTH") == acct.dual_side or position_side not in ("BOTH", "LONG", "SHORT"):
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        reduce_only = _bool(p, "reduceOnly")
        if reduce_only and acct.dual_side:
            raise BinanceError(-1106, "Parameter 'reduceOnly' sent when not required.")
        close_position = _bool(p, "closePosition")
        if close_position and order_type not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
            raise BinanceError(-1106, "Parameter 'closePosition' sent when not required.")
        qty = _dec(p, "quantity", required=not close_position) or Decimal(0)
        if not close_position:
            self._check_quantity(spec, qty, market=order_type.endswith("MARKET"))
        price = Decimal(0)
        time_in_force = p.get("timeInForce") or "GTC"
        if time_in_force not in _TIME_IN_FORCE:
            raise BinanceError(-1115, "Invalid timeInForce.")
        if order_type in ("LIMIT", "STOP", "TAKE_PROFIT"):
            if order_type == "LIMIT" and not p.get("timeInForce"):
                raise _missing("timeInForce")
            price_match = p.get("priceMatch") or "NONE"
            given = _dec(p, "price", required=price_match == "NONE")
            # priceMatch without a price: the fake prices it at the mark, rounded to the tick.
            mark = self._marks[spec.symbol]
            price = given if given is not None else (mark / spec.tick_size).to_integral_value() * spec.tick_size
            self._check_price(spec, price, "price")
        stop_price = Decimal(0)
        if order_type in _ALGO_TYPES - {"TRAILING_STOP_MARKET"}:
            stop_price = _dec(p, "stopPrice", required=True) or Decimal(0)
            self._check_price(spec, stop_price, "stopPrice")
        callback = _dec(p, "callbackRate", required=order_type == "TRAILING_STOP_MARKET")
        client_id = p.get("newClientOrderId") or f"fake{next(self._client_ids):018d}"
        if any(o.client_order_id == client_id and o.status in _OPEN for o in acct.orders.values()):
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        if order_type == "MARKET":
            qty = self._fillable_quantity(acct, spec.symbol, side, position_side, qty, reduce_only)
        if dry_run:
            return {}
        now = self._now_ms()
        order = _Order(
            order_id=next(self._order_ids), client_order_id=client_id, symbol=spec.symbol, side=side,
            position_side=position_side, type=order_type, orig_qty=qty, price=price, stop_price=stop_price,
            time_in_force=time_in_force if order_type != "MARKET" else "GTC", reduce_only=reduce_only,
            close_position=close_position, working_type=p.get("workingType") or "CONTRACT_PRICE",
            price_protect=_bool(p, "priceProtect"), price_match=p.get("priceMatch") or "NONE",
            stp_mode=p.get("selfTradePreventionMode") or "EXPIRE_MAKER",
            good_till_date=int(p.get("goodTillDate") or 0), time=now, update_time=now,
            activate_price=_dec(p, "activationPrice"), price_rate=callback,
        )
        acct.orders[order.order_id] = order
        ack = order.to_json()  # what the order looked like on arrival: ACK answers before matching
        self._notify(acct, order=order, execution="NEW")
        if order_type == "MARKET":
            self._fill(acct, order, self._marks[spec.symbol])
        if (p.get("newOrderRespType") or "ACK").upper() == "RESULT":
            return order.to_json()
        return ack

    def _check_quantity(self, spec: SymbolSpec, qty: Decimal, *, market: bool) -> None:
        if qty <= 0:
            raise BinanceError(-4003, "Quantity less than or equal to zero.")
        if qty % spec.step_size != 0:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        if qty > (spec.market_max_qty if market else spec.max_qty):
            raise BinanceError(-4005, "Quantity greater than max quantity.")

    @staticmethod
    def _check_price(spec: SymbolSpec, price: Decimal, name: str) -> None:
        if price <= 0:
            raise BinanceError(-4001 if name == "price" else -4006,
                               f"{'Price' if name == 'price' else 'Stop price'} less than 0.")
        if price % spec.tick_size != 0:
            raise BinanceError(-4014, "Price not increased by tick size.")
        if price > spec.max_price:
            raise BinanceError(-4016, f"Limit price can't be higher than {spec.max_price}.")
        if price < spec.min_price:
            raise BinanceError(-4024, f"Limit price can't be lower than {spec.min_price}.")

    def _fillable_quantity(self, acct: _Account, symbol: str, side: str, position_side: str, qty: Decimal,
                           reduce_only: bool) -> Decimal:
        """Reduce-only and hedge-mode closing orders may not open or flip a position; reduce-only is capped"""
        pos = acct.positions.get((symbol, position_side), _Position()).amount
        delta = qty if side == "BUY" else -qty
        closing_hedge = (position_side, side) in (("LONG", "SELL"), ("SHORT", "BUY"))
        if reduce_only or closing_hedge:
            if pos == 0 or (pos > 0) == (delta > 0):
                raise BinanceError(-2022, "ReduceOnly Order is rejected.")
            if closing_hedge and qty > abs(pos):
                raise BinanceError(-2022, "ReduceOnly Order is rejected.")
            return min(qty, abs(pos))
        return qty

    def _fill(self, acct: _Account, order: _Order, price: Decimal, part: Decimal | None = None) -> None:
        qty = order.orig_qty - order.executed_qty
        if order.close_position:
            qty = abs(acct.positions.get((order.symbol, order.position_side), _Position()).amount)
            order.orig_qty = qty
        if part is not None:  # a partial fill (tests only: `fill_order(quantity=...)`)
            qty = min(qty, part)
        wallet_before = acct.wallet_balance
        self._apply_fill(acct, order.symbol, order.position_side, qty if order.side == "BUY" else -qty, price)
        if order.executed_qty == 0:
            order.avg_price = price
        else:  # a later part of a partly filled order: the average over every part
            order.avg_price = (order.executed_qty * order.avg_price + qty * price) / (order.executed_qty + qty)
        order.executed_qty += qty
        order.status = "FILLED" if order.executed_qty == order.orig_qty else "PARTIALLY_FILLED"
        order.update_time = self._now_ms()
        self._notify(acct, order=order, execution="TRADE",
                     fill=(qty, price, next(self._trade_ids), acct.wallet_balance - wallet_before),
                     position=(order.symbol, order.position_side), reason="ORDER")

    def _apply_fill(self, acct: _Account, symbol: str, position_side: str, delta: Decimal,
                    price: Decimal) -> None:
        if delta == 0:
            return
        pos = acct.positions.setdefault((symbol, position_side), _Position())
        if pos.amount == 0 or (pos.amount > 0) == (delta > 0):
            total = abs(pos.amount) + abs(delta)
            pos.entry_price = (abs(pos.amount) * pos.entry_price + abs(delta) * price) / total
            pos.amount += delta
        else:
            closed = min(abs(delta), abs(pos.amount))
            acct.wallet_balance += closed * (price - pos.entry_price) * (1 if pos.amount > 0 else -1)
            if abs(delta) > abs(pos.amount):
                pos.entry_price = price  # flipped through zero: the remainder opened at this price
            pos.amount += delta
            if pos.amount == 0:
                pos.entry_price = Decimal(0)
        pos.update_time = self._now_ms()

    def _find_order(self, acct: _Account, p: Mapping[str, str], *, error: BinanceError) -> _Order:
        spec = _symbol(p)
        order_id, client_id = p.get("orderId"), p.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order_id:
            order = acct.orders.get(int(order_id)) if order_id.isdigit() else None
        else:
            order = next((o for o in reversed(acct.orders.values()) if o.client_order_id == client_id), None)
        if order is None or order.symbol != spec.symbol:
            raise error
        return order

    def _query_order(self, call: _Call) -> Any:
        order = self._find_order(call.acct, call.params, error=BinanceError(-2013, "Order does not exist."))
        return order.to_json()

    def _query_open_order(self, call: _Call) -> Any:
        order = self._find_order(call.acct, call.params, error=BinanceError(-2013, "Order does not exist."))
        if order.status not in _OPEN:
            raise BinanceError(-2013, "Order does not exist.")
        return order.to_json()

    def _open_orders(self, call: _Call) -> Any:
        spec = _optional_symbol(call.params)
        return [o.to_json() for o in call.acct.orders.values()
                if o.status in _OPEN and (spec is None or o.symbol == spec.symbol)]

    def _all_orders(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        return [o.to_json() for o in call.acct.orders.values() if o.symbol == spec.symbol]

    def _cancel(self, acct: _Account, p: Mapping[str, str]) -> dict[str, Any]:
        order = self._find_order(acct, p, error=BinanceError(-2011, "Unknown order sent."))
        if order.status not in _OPEN:
            raise BinanceError(-2011, "Unknown order sent.")
        order.status, order.update_time = "CANCELED", self._now_ms()
        self._notify(acct, order=order, execution="CANCELED")
        return order.to_json()

    def _cancel_order(self, call: _Call) -> Any:
        return self._cancel(call.acct, call.params)

    def _cancel_batch(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        # Binance documents orderIdList/origClientOrderIdList; ccxt sends them lower-cased (and it works).
        ids = _json_list(call.params, "orderIdList", "orderidlist")
        client_ids = _json_list(call.params, "origClientOrderIdList", "origclientorderidlist")
        if ids is None and client_ids is None:
            raise BinanceError(-1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, "
                                      "but both were empty/null!")
        targets = [{"symbol": spec.symbol, "orderId": str(i)} for i in ids or []] + [
            {"symbol": spec.symbol, "origClientOrderId": str(c)} for c in client_ids or []]
        if len(targets) > 10:
            raise BinanceError(-1130, "Data sent for parameter 'orderIdList' is not valid.")
        results: list[Any] = []
        for target in targets:
            try:
                results.append(self._cancel(call.acct, target))
            except BinanceError as error:
                results.append(error.body())
        return results

    def _cancel_all(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        now = self._now_ms()
        for order in call.acct.orders.values():
            if order.symbol == spec.symbol and order.status in _OPEN:
                order.status, order.update_time = "CANCELED", now
                self._notify(call.acct, order=order, execution="CANCELED")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _countdown_cancel_all(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        countdown = call.params.get("countdownTime")
        if countdown is None or not countdown.isdigit():
            raise _missing("countdownTime")
        call.acct.countdown[spec.symbol] = int(countdown)
        return {"symbol": spec.symbol, "countdownTime": countdown}

    def _amend(self, acct: _Account, p: Mapping[str, str]) -> dict[str, Any]:
        order = self._find_order(acct, p, error=BinanceError(-2013, "Order does not exist."))
        if order.status not in _OPEN or order.type != "LIMIT":
            raise BinanceError(-2013, "Order does not exist.")
        if p.get("side") != order.side:
            raise BinanceError(-1117, "Invalid side.") if p.get("side") else _missing("side")
        spec = SYMBOLS[order.symbol]
        qty = _dec(p, "quantity", required=True) or Decimal(0)
        self._check_quantity(spec, qty, market=False)
        price = _dec(p, "price", required=not p.get("priceMatch"))
        price = order.price if price is None else price
        self._check_price(spec, price, "price")
        if qty == order.orig_qty and price == order.price:
            raise BinanceError(-5027, "No need to modify the order.")
        order.orig_qty, order.price, order.update_time = qty, price, self._now_ms()
        self._notify(acct, order=order, execution="AMENDMENT")
        return order.to_json()

    def _amend_order(self, call: _Call) -> Any:
        return self._amend(call.acct, call.params)

    def _amend_batch(self, call: _Call) -> Any:
        legs = _json_list(call.params, "batchOrders")
        if legs is None:
            raise _missing("batchOrders")
        if not 1 <= len(legs) <= 5 or not all(isinstance(leg, dict) for leg in legs):
            raise BinanceError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        results: list[Any] = []
        for leg in legs:
            try:
                results.append(self._amend(call.acct, _stringify(leg)))
            except BinanceError as error:
                results.append(error.body())
        return results

    # ---- conditional (algo) orders -------------------------------------------------------------------

    def _new_algo_order(self, call: _Call) -> Any:
        p, acct = call.params, call.acct
        if (p.get("algoType") or "") != "CONDITIONAL":
            raise _missing("algoType") if not p.get("algoType") else BinanceError(-1116, "Invalid algoType.")
        spec = _symbol(p)
        side = p.get("side") or ""
        if side not in ("BUY", "SELL"):
            raise _missing("side") if not side else BinanceError(-1117, "Invalid side.")
        order_type = p.get("type") or ""
        if order_type not in _ALGO_TYPES:
            raise _missing("type") if not order_type else BinanceError(-1116, "Invalid orderType.")
        position_side = p.get("positionSide") or "BOTH"
        if (position_side == "BOTH") == acct.dual_side or position_side not in ("BOTH", "LONG", "SHORT"):
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        close_position = _bool(p, "closePosition")
        qty = _dec(p, "quantity", required=not close_position) or Decimal(0)
        if not close_position:
            self._check_quantity(spec, qty, market=order_type.endswith("MARKET"))
        trailing = order_type == "TRAILING_STOP_MARKET"
        trigger = _dec(p, "triggerPrice", required=not trailing) or Decimal(0)
        if not trailing:
            self._check_price(spec, trigger, "stopPrice")
        price = Decimal(0)
        if order_type in ("STOP", "TAKE_PROFIT"):
            price = _dec(p, "price", required=True) or Decimal(0)
            self._check_price(spec, price, "price")
        now = self._now_ms()
        algo = _AlgoOrder(
            algo_id=next(self._algo_ids),
            client_algo_id=p.get("clientAlgoId") or f"fakealgo{next(self._client_ids):014d}",
            order_type=order_type, symbol=spec.symbol, side=side, position_side=position_side,
            time_in_force=p.get("timeInForce") or "GTC", quantity=qty, trigger_price=trigger, price=price,
            working_type=p.get("workingType") or "CONTRACT_PRICE", price_match=p.get("priceMatch") or "NONE",
            close_position=close_position, price_protect=_bool(p, "priceProtect"),
            reduce_only=_bool(p, "reduceOnly"), stp_mode=p.get("selfTradePreventionMode") or "EXPIRE_MAKER",
            activate_price=_dec(p, "activatePrice"), callback_rate=_dec(p, "callbackRate", required=trailing),
            good_till_date=int(p.get("goodTillDate") or 0), create_time=now, update_time=now,
        )
        acct.algo_orders[algo.algo_id] = algo
        self._notify(acct, algo=algo)
        return algo.to_json()

    def _find_algo(self, acct: _Account, p: Mapping[str, str]) -> _AlgoOrder:
        algo_id, client_id = p.get("algoId"), p.get("clientAlgoId")
        if not algo_id and not client_id:
            raise BinanceError(
                -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!")
        if algo_id:
            algo = acct.algo_orders.get(int(algo_id)) if algo_id.isdigit() else None
        else:
            matches = (a for a in reversed(acct.algo_orders.values()) if a.client_algo_id == client_id)
            algo = next(matches, None)
        if algo is None:
            raise BinanceError(-2013, "Order does not exist.")
        return algo

    def _query_algo_order(self, call: _Call) -> Any:
        return self._find_algo(call.acct, call.params).to_json()

    def _cancel_algo_order(self, call: _Call) -> Any:
        algo = self._find_algo(call.acct, call.params)
        if algo.status != "NEW":
            raise BinanceError(-2011, "Unknown order sent.")
        algo.status, algo.update_time = "CANCELED", self._now_ms()
        self._notify(call.acct, algo=algo)
        return {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "code": "200", "msg": "success"}

    def _open_algo_orders(self, call: _Call) -> Any:
        spec = _optional_symbol(call.params)
        return [a.to_json() for a in call.acct.algo_orders.values()
                if a.status == "NEW" and (spec is None or a.symbol == spec.symbol)]

    def _cancel_all_algo(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        for algo in call.acct.algo_orders.values():
            if algo.symbol == spec.symbol and algo.status == "NEW":
                algo.status = "CANCELED"
                self._notify(call.acct, algo=algo)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # ---- account configuration -----------------------------------------------------------------------

    @staticmethod
    def _max_notional(spec: SymbolSpec, leverage: int) -> int:
        return max(cap for lev, cap, _ in spec.brackets if lev >= leverage)

    def _set_leverage(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        raw = call.params.get("leverage")
        if not raw:
            raise _missing("leverage")
        if not raw.isdigit() or not 1 <= int(raw) <= spec.brackets[0][0]:
            raise BinanceError(-4028, f"Leverage {raw} is not valid")
        call.acct.leverage[spec.symbol] = int(raw)
        return {"leverage": int(raw), "maxNotionalValue": str(self._max_notional(spec, int(raw))),
                "symbol": spec.symbol}

    def _set_margin_type(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        margin_type = (call.params.get("marginType") or "").upper()
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise _missing("marginType") if not margin_type else BinanceError(-1116, "Invalid marginType.")
        if call.acct.margin_type_of(spec.symbol) == margin_type:
            raise BinanceError(-4046, "No need to change margin type.")
        call.acct.margin_type[spec.symbol] = margin_type
        return {"code": 200, "msg": "success"}

    def _set_position_mode(self, call: _Call) -> Any:
        raw = (call.params.get("dualSidePosition") or "").lower()
        if raw not in ("true", "false"):
            raise _missing("dualSidePosition")
        acct = call.acct
        if (raw == "true") == acct.dual_side:
            raise BinanceError(-4059, "No need to change position side.")
        if any(o.status in _OPEN for o in acct.orders.values()):
            raise BinanceError(-4067, "Position side cannot be changed if there exists open orders.")
        if any(p.amount for p in acct.positions.values()):
            raise BinanceError(-4068, "Position side cannot be changed if there exists position.")
        acct.dual_side = raw == "true"
        return {"code": 200, "msg": "success"}

    def _get_position_mode(self, call: _Call) -> Any:
        return {"dualSidePosition": call.acct.dual_side}

    def _symbol_config(self, call: _Call) -> Any:
        spec = _optional_symbol(call.params)
        acct = call.acct
        return [{
            "symbol": s.symbol,
            "marginType": acct.margin_type_of(s.symbol),
            "isAutoAddMargin": "false",
            "leverage": acct.leverage_of(s.symbol),
            "maxNotionalValue": str(self._max_notional(s, acct.leverage_of(s.symbol))),
        } for s in SYMBOLS.values() if spec is None or s.symbol == spec.symbol]

    def _leverage_bracket(self, call: _Call) -> Any:
        def render(spec: SymbolSpec) -> dict[str, Any]:
            brackets, floor, cum, prev_mmr = [], 0, Decimal(0), Decimal(0)
            for i, (lev, cap, mmr) in enumerate(spec.brackets, start=1):
                cum += floor * (mmr - prev_mmr)
                brackets.append({"bracket": i, "initialLeverage": lev, "notionalCap": cap,
                                 "notionalFloor": floor, "maintMarginRatio": float(mmr), "cum": float(cum)})
                floor, prev_mmr = cap, mmr
            return {"symbol": spec.symbol, "notionalCoef": 1.0, "brackets": brackets}
        return self._per_symbol(call, render)

    def _commission_rate(self, call: _Call) -> Any:
        spec = _symbol(call.params)
        return {"symbol": spec.symbol, "makerCommissionRate": "0.000200", "takerCommissionRate": "0.000500",
                "rpiCommissionRate": "0.000000"}

    # ---- positions and balances ----------------------------------------------------------------------

    def _position_rows(self, acct: _Account, spec_filter: SymbolSpec | None, *,
                       only_active: bool) -> Iterator[tuple[SymbolSpec, str, _Position]]:
        sides = ("LONG", "SHORT") if acct.dual_side else ("BOTH",)
        for spec in SYMBOLS.values():
            if spec_filter is not None and spec.symbol != spec_filter.symbol:
                continue
            has_orders = any(o.symbol == spec.symbol and o.status in _OPEN for o in acct.orders.values())
            for side in sides:
                pos = acct.positions.get((spec.symbol, side), _Position())
                if only_active and not pos.amount and not has_orders:
                    continue  # v3 lists only symbols with a position or open orders
                yield spec, side, pos

    def _position_numbers(self, acct: _Account, spec: SymbolSpec, pos: _Position) -> dict[str, Decimal]:
        mark = self._marks[spec.symbol]
        notional = pos.amount * mark
        leverage = acct.leverage_of(spec.symbol)
        mmr = spec.brackets[0][2]
        initial = abs(notional) / leverage
        isolated = acct.margin_type_of(spec.symbol) == "ISOLATED"
        pnl = pos.amount * (mark - pos.entry_price)
        isolated_wallet = abs(pos.amount * pos.entry_price) / leverage if isolated else Decimal(0)
        return {
            "notional": notional,
            "pnl": pnl,
            "initial": initial,
            "maint": abs(notional) * mmr,
            "isolated_wallet": isolated_wallet,
            "isolated_margin": isolated_wallet + pnl if isolated else Decimal(0),
        }

    def _position_risk(self, call: _Call, *, v3: bool) -> Any:
        acct = call.acct
        rows = []
        wanted = _optional_symbol(call.params)
        for spec, side, pos in self._position_rows(acct, wanted, only_active=v3):
            n = self._position_numbers(acct, spec, pos)
            px = spec.price_precision
            row: dict[str, Any] = {
                "symbol": spec.symbol,
                "positionSide": side,
                "positionAmt": _fmt(pos.amount, spec.quantity_precision),
                "entryPrice": _fmt(pos.entry_price, px + 5),
                "breakEvenPrice": _fmt(pos.entry_price, px + 5),
                "markPrice": _fmt(self._marks[spec.symbol], px + 6),
                "unRealizedProfit": _fmt(n["pnl"], 8),
                "liquidationPrice": "0",
                "isolatedMargin": _fmt(n["isolated_margin"], 8),
                "notional": _fmt(n["notional"], 8),
                "marginAsset": "USDT",
                "isolatedWallet": _fmt(n["isolated_wallet"], 8),
                "initialMargin": _fmt(n["initial"], 8),
                "maintMargin": _fmt(n["maint"], 8),
                "positionInitialMargin": _fmt(n["initial"], 8),
                "openOrderInitialMargin": "0",
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
                "updateTime": pos.update_time,
            }
            if not v3:
                margin_type = acct.margin_type_of(spec.symbol)
                row.update({
                    "leverage": str(acct.leverage_of(spec.symbol)),
                    "maxNotionalValue": str(self._max_notional(spec, acct.leverage_of(spec.symbol))),
                    "marginType": "isolated" if margin_type == "ISOLATED" else "cross",
                    "isAutoAddMargin": "false",
                    "isolated": margin_type == "ISOLATED",
                    "adlQuantile": 0,
                })
                for key in ("marginAsset", "initialMargin", "maintMargin", "positionInitialMargin",
                            "openOrderInitialMargin", "adl", "bidNotional", "askNotional"):
                    row.pop(key)
            rows.append(row)
        return rows

    def _position_risk_v2(self, call: _Call) -> Any:
        return self._position_risk(call, v3=False)

    def _position_risk_v3(self, call: _Call) -> Any:
        return self._position_risk(call, v3=True)

    def _totals(self, acct: _Account) -> dict[str, Decimal]:
        pnl = initial = maint = Decimal(0)
        for spec, _side, pos in self._position_rows(acct, None, only_active=True):
            n = self._position_numbers(acct, spec, pos)
            pnl, initial, maint = pnl + n["pnl"], initial + n["initial"], maint + n["maint"]
        order_margin = sum(
            (o.price * (o.orig_qty - o.executed_qty) / acct.leverage_of(o.symbol)
             for o in acct.orders.values() if o.status in _OPEN and o.type == "LIMIT"),
            Decimal(0),
        )
        wallet = acct.wallet_balance
        available = wallet + pnl - initial - order_margin
        return {"wallet": wallet, "pnl": pnl, "margin_balance": wallet + pnl, "position_initial": initial,
                "order_initial": order_margin, "initial": initial + order_margin, "maint": maint,
                "available": available, "max_withdraw": max(available, Decimal(0))}

    def _account(self, call: _Call, *, v3: bool) -> Any:
        acct, now = call.acct, self._now_ms()
        t = self._totals(acct)

        def f8(value: Decimal) -> str:
            return _fmt(value, 8)
        asset = {
            "asset": "USDT", "walletBalance": f8(t["wallet"]), "unrealizedProfit": f8(t["pnl"]),
            "marginBalance": f8(t["margin_balance"]), "maintMargin": f8(t["maint"]),
            "initialMargin": f8(t["initial"]), "positionInitialMargin": f8(t["position_initial"]),
            "openOrderInitialMargin": f8(t["order_initial"]), "crossWalletBalance": f8(t["wallet"]),
            "crossUnPnl": f8(t["pnl"]), "availableBalance": f8(t["available"]),
            "maxWithdrawAmount": f8(t["max_withdraw"]), "updateTime": now,
        }
        if not v3:
            asset["marginAvailable"] = True
        positions = []
        for spec, side, pos in self._position_rows(acct, None, only_active=v3):
            n = self._position_numbers(acct, spec, pos)
            entry = {
                "symbol": spec.symbol, "positionSide": side,
                "positionAmt": _fmt(pos.amount, spec.quantity_precision), "unrealizedProfit": f8(n["pnl"]),
                "isolatedMargin": f8(n["isolated_margin"]), "notional": f8(n["notional"]),
                "isolatedWallet": f8(n["isolated_wallet"]), "initialMargin": f8(n["initial"]),
                "maintMargin": f8(n["maint"]), "updateTime": pos.update_time,
            }
            if not v3:
                entry.update({
                    "positionInitialMargin": f8(n["initial"]), "openOrderInitialMargin": "0",
                    "leverage": str(acct.leverage_of(spec.symbol)),
                    "isolated": acct.margin_type_of(spec.symbol) == "ISOLATED",
                    "entryPrice": _fmt(pos.entry_price, spec.price_precision + 5),
                    "breakEvenPrice": _fmt(pos.entry_price, spec.price_precision + 5),
                    "maxNotional": str(self._max_notional(spec, acct.leverage_of(spec.symbol))),
                    "bidNotional": "0", "askNotional": "0",
                })
            positions.append(entry)
        body: dict[str, Any] = {
            "totalInitialMargin": f8(t["initial"]), "totalMaintMargin": f8(t["maint"]),
            "totalWalletBalance": f8(t["wallet"]), "totalUnrealizedProfit": f8(t["pnl"]),
            "totalMarginBalance": f8(t["margin_balance"]),
            "totalPositionInitialMargin": f8(t["position_initial"]),
            "totalOpenOrderInitialMargin": f8(t["order_initial"]), "totalCrossWalletBalance": f8(t["wallet"]),
            "totalCrossUnPnl": f8(t["pnl"]), "availableBalance": f8(t["available"]),
            "maxWithdrawAmount": f8(t["max_withdraw"]), "assets": [asset], "positions": positions,
        }
        if not v3:
            body = {"feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                    "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1, **body}
        return body

    def _account_v2(self, call: _Call) -> Any:
        return self._account(call, v3=False)

    def _account_v3(self, call: _Call) -> Any:
        return self._account(call, v3=True)

    def _balance(self, call: _Call) -> Any:
        t = self._totals(call.acct)
        return [{
            "accountAlias": "SgsR", "asset": "USDT", "balance": _fmt(t["wallet"], 8),
            "crossWalletBalance": _fmt(t["wallet"], 8), "crossUnPnl": _fmt(t["pnl"], 8),
            "availableBalance": _fmt(t["available"], 8), "maxWithdrawAmount": _fmt(t["max_withdraw"], 8),
            "marginAvailable": True, "updateTime": self._now_ms(),
        }]

    # ---- user data stream ----------------------------------------------------------------------------

    def _listen_key(self, call: _Call) -> Any:
        # Stable per API key, as Binance returns the same key while one is active.
        assert call.api_key is not None
        return {"listenKey": self._issue_listen_key(call.api_key)}

    def _close_listen_key(self, call: _Call) -> Any:
        assert call.api_key is not None
        key = listen_key_for(call.api_key)
        if self._listen_keys.pop(key, None) is not None:
            self._notify(call.acct, listen_key_closed=key)
        return {}

    # ---- wallet (api.binance.com /sapi) --------------------------------------------------------------

    def _system_status(self, call: _Call) -> Any:
        return {"status": 0, "msg": "normal"}

    def _capital_config(self, call: _Call) -> Any:
        def coin(code: str, name: str, network: str, network_name: str, fee: str, minimum: str,
                 free: str) -> dict[str, Any]:
            return {
                "coin": code, "name": name, "depositAllEnable": True, "withdrawAllEnable": True, "free": free,
                "locked": "0", "freeze": "0", "withdrawing": "0", "ipoing": "0", "ipoable": "0",
                "storage": "0",
                "isLegalMoney": False, "trading": True,
                "networkList": [{
                    "network": network, "coin": code, "name": network_name, "isDefault": True,
                    "depositEnable": True, "withdrawEnable": True, "withdrawFee": fee, "withdrawMin": minimum,
                    "withdrawMax": "9999999999", "withdrawIntegerMultiple": "0.00000001", "minConfirm": 1,
                    "unLockConfirm": 0, "depositDesc": "", "withdrawDesc": "", "specialTips": "",
                    "sameAddress": False, "busy": False, "resetAddressStatus": False,
                    "addressRegex": "", "memoRegex": "", "estimatedArrivalTime": 5, "contractAddress": "",
                }],
            }
        return [
            coin("USDT", "TetherUS", "ETH", "Ethereum (ERC20)", "1", "10", "1000"),
            coin("BTC", "Bitcoin", "BTC", "Bitcoin", "0.0000045", "0.0001", "0"),
            coin("ETH", "Ethereum", "ETH", "Ethereum (ERC20)", "0.00016", "0.001", "0"),
            coin("SOL", "Solana", "SOL", "Solana", "0.001", "0.01", "0"),
            coin("DOGE", "Dogecoin", "DOGE", "DOGE", "4", "20", "0"),
        ]

    def _margin_pairs(self, call: _Call) -> Any:
        # ccxt fetches this next to capital/config/getall when options['fetchMargins'] is on (its default).
        return [{"id": 351637150141315861 + i, "symbol": f"{spec.base}USDT", "base": spec.base, "quote": "USDT",
                 "isMarginTrade": True, "isBuyAllowed": True, "isSellAllowed": True}
                for i, spec in enumerate(SYMBOLS.values())]

    def _withdraw(self, call: _Call) -> Any:
        for name in ("coin", "address", "amount"):
            if not call.params.get(name):
                raise _missing(name)
        return {"id": hashlib.md5(str(next(self._tran_ids)).encode(), usedforsecurity=False).hexdigest()}

    def _transfer(self, call: _Call) -> Any:
        return {"tranId": next(self._tran_ids)}


# Table-driven routing: (method, path) -> (security, handler). Private means signed; listenKey needs only the
# API key (USER_STREAM). v2/v3 pairs share handlers where Binance's shapes are the same.
_ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "/fapi/v1/ping"): (_PUBLIC, FakeBinanceUsdm._ping),
    ("GET", "/fapi/v1/time"): (_PUBLIC, FakeBinanceUsdm._time),
    ("GET", "/fapi/v1/exchangeInfo"): (_PUBLIC, FakeBinanceUsdm._exchange_info),
    ("GET", "/fapi/v1/premiumIndex"): (_PUBLIC, FakeBinanceUsdm._premium_index),
    ("GET", "/fapi/v1/ticker/24hr"): (_PUBLIC, FakeBinanceUsdm._ticker_24hr),
    ("GET", "/fapi/v1/ticker/price"): (_PUBLIC, FakeBinanceUsdm._ticker_price),
    ("GET", "/fapi/v2/ticker/price"): (_PUBLIC, FakeBinanceUsdm._ticker_price),
    ("GET", "/fapi/v1/ticker/bookTicker"): (_PUBLIC, FakeBinanceUsdm._book_ticker),
    ("GET", "/fapi/v1/depth"): (_PUBLIC, FakeBinanceUsdm._depth),
    ("GET", "/fapi/v1/klines"): (_PUBLIC, FakeBinanceUsdm._klines),
    ("POST", "/fapi/v1/order"): (_SIGNED, FakeBinanceUsdm._new_order),
    ("POST", "/fapi/v1/order/test"): (_SIGNED, FakeBinanceUsdm._test_order),
    ("PUT", "/fapi/v1/order"): (_SIGNED, FakeBinanceUsdm._amend_order),
    ("DELETE", "/fapi/v1/order"): (_SIGNED, FakeBinanceUsdm._cancel_order),
    ("GET", "/fapi/v1/order"): (_SIGNED, FakeBinanceUsdm._query_order),
    ("GET", "/fapi/v1/openOrder"): (_SIGNED, FakeBinanceUsdm._query_open_order),
    ("GET", "/fapi/v1/openOrders"): (_SIGNED, FakeBinanceUsdm._open_orders),
    ("GET", "/fapi/v1/allOrders"): (_SIGNED, FakeBinanceUsdm._all_orders),
    ("POST", "/fapi/v1/batchOrders"): (_SIGNED, FakeBinanceUsdm._batch_orders),
    ("PUT", "/fapi/v1/batchOrders"): (_SIGNED, FakeBinanceUsdm._amend_batch),
    ("DELETE", "/fapi/v1/batchOrders"): (_SIGNED, FakeBinanceUsdm._cancel_batch),
    ("DELETE", "/fapi/v1/allOpenOrders"): (_SIGNED, FakeBinanceUsdm._cancel_all),
    ("POST", "/fapi/v1/countdownCancelAll"): (_SIGNED, FakeBinanceUsdm._countdown_cancel_all),
    ("POST", "/fapi/v1/algoOrder"): (_SIGNED, FakeBinanceUsdm._new_algo_order),
    ("GET", "/fapi/v1/algoOrder"): (_SIGNED, FakeBinanceUsdm._query_algo_order),
    ("DELETE", "/fapi/v1/algoOrder"): (_SIGNED, FakeBinanceUsdm._cancel_algo_order),
    ("GET", "/fapi/v1/openAlgoOrders"): (_SIGNED, FakeBinanceUsdm._open_algo_orders),
    ("DELETE", "/fapi/v1/algoOpenOrders"): (_SIGNED, FakeBinanceUsdm._cancel_all_algo),
    ("POST", "/fapi/v1/leverage"): (_SIGNED, FakeBinanceUsdm._set_leverage),
    ("POST", "/fapi/v1/marginType"): (_SIGNED, FakeBinanceUsdm._set_margin_type),
    ("POST", "/fapi/v1/positionSide/dual"): (_SIGNED, FakeBinanceUsdm._set_position_mode),
    ("GET", "/fapi/v1/positionSide/dual"): (_SIGNED, FakeBinanceUsdm._get_position_mode),
    ("GET", "/fapi/v1/symbolConfig"): (_SIGNED, FakeBinanceUsdm._symbol_config),
    ("GET", "/fapi/v1/leverageBracket"): (_SIGNED, FakeBinanceUsdm._leverage_bracket),
    ("GET", "/fapi/v1/commissionRate"): (_SIGNED, FakeBinanceUsdm._commission_rate),
    ("GET", "/fapi/v2/positionRisk"): (_SIGNED, FakeBinanceUsdm._position_risk_v2),
    ("GET", "/fapi/v3/positionRisk"): (_SIGNED, FakeBinanceUsdm._position_risk_v3),
    ("GET", "/fapi/v2/account"): (_SIGNED, FakeBinanceUsdm._account_v2),
    ("GET", "/fapi/v3/account"): (_SIGNED, FakeBinanceUsdm._account_v3),
    ("GET", "/fapi/v2/balance"): (_SIGNED, FakeBinanceUsdm._balance),
    ("GET", "/fapi/v3/balance"): (_SIGNED, FakeBinanceUsdm._balance),
    ("POST", "/fapi/v1/listenKey"): (_API_KEY, FakeBinanceUsdm._listen_key),
    ("PUT", "/fapi/v1/listenKey"): (_API_KEY, FakeBinanceUsdm._listen_key),
    ("DELETE", "/fapi/v1/listenKey"): (_API_KEY, FakeBinanceUsdm._close_listen_key),
    ("GET", "/sapi/v1/system/status"): (_PUBLIC, FakeBinanceUsdm._system_status),
    ("GET", "/sapi/v1/capital/config/getall"): (_SIGNED, FakeBinanceUsdm._capital_config),
    ("GET", "/sapi/v1/margin/allPairs"): (_SIGNED, FakeBinanceUsdm._margin_pairs),
    ("POST", "/sapi/v1/capital/withdraw/apply"): (_SIGNED, FakeBinanceUsdm._withdraw),
    **{endpoint: (_SIGNED, FakeBinanceUsdm._transfer)
       for endpoint in WALLET_ENDPOINTS if endpoint[1] != "/sapi/v1/capital/withdraw/apply"},
}


# --------------------------------------------------------------------------------------------------------
# HTTP plumbing
