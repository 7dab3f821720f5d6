"""A fake BingX perpetual swap v2 exchange (REST `/openApi/swap/...`, plus the wallet and transfer paths) for tests.

Why it exists: the firewall must be tested end to end with the real, unmodified `ccxt.bingx`. The fake answers
like BingX (envelope `{"code": 0, "msg": "", "data": ...}`, errors `{"code": N, "msg": "...", "data": {}}` with
HTTP 200; docs/venues.md §7.5) and lets a test see exactly what arrived. It verifies the HMAC exactly as
ccxt computes it (`bingx.sign()`: hex HMAC-SHA256 over the parameters joined as `k=v&...`, values *not*
URL-encoded, in the order sent, without `signature`), so a request a proxy altered in any way is refused with
100001: "the firewall forwarded it untouched" is provable, not assumed.

What it is not: a matching engine. MARKET orders fill at the mark price at once; every other type rests until
`fill_order()` or a cancel. No fees, funding or liquidations. Stdlib only; amounts are `Decimal`s.

Choices where BingX's behaviour is undocumented (docs/venues.md §9):
- a parameter sent twice (in the query twice, or in query and form body) is refused with 80014;
- a form body (`application/x-www-form-urlencoded`) is signed after the query's parameters;
- a batch with one invalid leg is refused whole;
- one-way positions are listed with `positionSide: "BOTH"` and a signed `positionAmt`; hedge positions with
  LONG/SHORT and a positive amount.
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
    "ORDER_ENDPOINTS",
    "WALLET_ENDPOINTS",
    "FakeBingX",
    "RecordedRequest",
    "sign_params",
]

DEFAULT_ACCOUNTS: Mapping[str, str] = {"bingx-test-api-key": "bingx-test-api-secret"}


@dataclass(frozen=True, slots=True)
class _Spec:
    symbol: str
    base: str
    mark: Decimal
    qty_places: int
    price_places: int


SYMBOLS: dict[str, _Spec] = {
    s.symbol: s for s in (
        _Spec("BTC-USDT", "BTC", Decimal("60000"), 4, 1),
        _Spec("ETH-USDT", "ETH", Decimal("3000"), 2, 2),
        _Spec("SOL-USDT", "SOL", Decimal("150"), 1, 3),
        _Spec("DOGE-USDT", "DOGE", Decimal("0.15"), 0, 5),
    )
}

ORDER_ENDPOINTS = frozenset({
    ("POST", "/openApi/swap/v2/trade/order"),
    ("POST", "/openApi/swap/v2/trade/batchOrders"),
    ("POST", "/openApi/swap/v2/trade/closeAllPositions"),
})
WALLET_ENDPOINTS = frozenset({
    ("POST", "/openApi/wallets/v1/capital/withdraw/apply"),
    ("POST", "/openApi/wallets/v1/capital/innerTransfer/apply"),
    ("POST", "/openApi/api/v3/post/asset/transfer"),
    ("POST", "/openApi/api/asset/v1/transfer"),
})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as it arrived, and the status answered."""

    method: str
    path: str
    query: str  # raw, undecoded, without the leading "?"
    body: bytes
    headers: dict[str, str]
    params: dict[str, str]  # query and form body merged
    status: int
    code: int  # the envelope's code: 0 when the fake accepted the request

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def api_key(self) -> str | None:
        return self.header("X-BX-APIKEY")

    @property
    def endpoint(self) -> tuple[str, str]:
        return self.method, self.path


def sign_params(pairs: list[tuple[str, str]], secret: str) -> str:
    """BingX's (and ccxt's) signature: hex HMAC-SHA256 over `k=v&k=v` with raw (unencoded) values."""
    payload = "&".join(f"{k}={v}" for k, v in pairs)
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class BingXError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg = code, msg


@dataclass
class _Order:
    order_id: int
    symbol: str
    side: str
    position_side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    reduce_only: bool
    client_id: str
    time_ms: int
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "orderId": self.order_id, "side": self.side, "positionSide": self.position_side,
            "type": self.type, "origQty": _plain(self.quantity), "price": _plain(self.price or Decimal(0)),
            "executedQty": _plain(self.executed), "avgPrice": _plain(self.avg_price),
            "cumQuote": _plain(self.executed * self.avg_price), "stopPrice": _plain(self.stop_price or Decimal(0)),
            "status": self.status, "time": self.time_ms, "updateTime": self.time_ms,
            "clientOrderId": self.client_id, "reduceOnly": self.reduce_only, "workingType": "MARK_PRICE",
            "timeInForce": "GTC",
        }


@dataclass
class _Account:
    secret: str
    hedge: bool = False
    leverage: dict[tuple[str, str], int] = field(default_factory=dict)
    margin_type: dict[str, str] = field(default_factory=dict)
    positions: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # signed, per (symbol, side)
    orders: dict[int, _Order] = field(default_factory=dict)


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dec(params: Mapping[str, str], name: str, *, required: bool = False) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        if required:
            raise BingXError(80014, f"Invalid parameters, {name} is required")
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise BingXError(80014, f"Invalid parameters, {name} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise BingXError(80014, f"Invalid parameters, {name} must be positive")
    return value


def _spec(params: Mapping[str, str]) -> _Spec:
    symbol = params.get("symbol")
    if not symbol:
        raise BingXError(80014, "Invalid parameters, symbol is required")
    spec = SYMBOLS.get(str(symbol))
    if spec is None:
        raise BingXError(80014, f"Invalid parameters, symbol {symbol} does not exist")
    return spec


class FakeBingX(ServedFake):
    """Fake BingX swap REST venue on 127.0.0.1. Thread-safe."""

    def __init__(self, accounts: Mapping[str, str] | None = None, *, tls: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._tls = tls
        self._clock = clock
        initial = DEFAULT_ACCOUNTS if accounts is None else accounts
        self._accounts = {k: _Account(secret=s) for k, s in initial.items()}
        self._marks = {s.symbol: s.mark for s in SYMBOLS.values()}
        self._order_ids = itertools.count(1_900_000_000_000_000_001)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: list[RecordedRequest] = []
        self.internal_errors: list[str] = []

    # ---- what arrived / test controls ----------------------------------------------------------------

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
            self._accounts[api_key] = _Account(secret=secret)

    def set_mark_price(self, symbol: str, price: Decimal) -> None:
        with self._lock:
            self._marks[symbol] = price

    def position(self, api_key: str, symbol: str, position_side: str = "BOTH") -> Decimal:
        with self._lock:
            return self._accounts[api_key].positions.get((symbol, position_side), Decimal(0))

    def set_position(self, api_key: str, symbol: str, amount: Decimal, position_side: str = "BOTH") -> None:
        with self._lock:
            self._accounts[api_key].positions[(symbol, position_side)] = amount

    def open_orders(self, api_key: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o.to_json() for o in self._accounts[api_key].orders.values() if o.status == "NEW"]

    # ---- request pipeline ------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        path, _, query = raw_path.partition("?")
        pairs = parse_qsl(query, keep_blank_values=True)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if body and (not content_type or content_type.lower().startswith("application/x-www-form-urlencoded")):
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = dict(pairs)
        api_key = next((v for k, v in headers.items() if k.lower() == "x-bx-apikey"), None)
        with self._lock:
            code = 0
            try:
                route = _ROUTES.get((method, path))
                if route is None:
                    raise BingXError(100400, f"this api is not exist: {method} {path}")
                private, handler = route
                if len(params) != len(pairs):
                    raise BingXError(80014, "Invalid parameters, a parameter is given twice")
                account = self._authenticate(api_key, pairs, params) if private else None
                data = handler(self, params, account)
                payload: Any = {"code": 0, "msg": "", "data": data}
            except BingXError as error:
                code = error.code
                payload = {"code": error.code, "msg": error.msg, "data": {}}
            except Exception:  # a bug in the fake: keep the traceback for the test
                self.internal_errors.append(traceback.format_exc())
                code = 100500
                payload = {"code": 100500, "msg": "internal error", "data": {}}
            self._log.append(RecordedRequest(method, path, query, body, dict(headers), params, 200, code))
        return 200, payload

    def _authenticate(self, api_key: str | None, pairs: list[tuple[str, str]], params: Mapping[str, str]) -> _Account:
        if not api_key:
            raise BingXError(100412, "Null apiKey")
        account = self._accounts.get(api_key)
        if account is None:
            raise BingXError(100413, "Incorrect apiKey")
        timestamp = params.get("timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - int(self._clock() * 1000)) > 60_000:
            raise BingXError(109400, "timestamp is invalid")
        signature = params.get("signature")
        if not signature:
            raise BingXError(100001, "Signature verification failed: signature is missing")
        expected = sign_params([(k, v) for k, v in pairs if k != "signature"], account.secret)
        if not hmac.compare_digest(expected, signature.lower()):
            raise BingXError(100001, "Signature verification failed")
        return account

    # ---- public ------------------------------------------------------------------------------------------

    def _time(self, p: Mapping[str, str], a: _Account | None) -> Any:
        return {"serverTime": int(self._clock() * 1000)}

    def _contracts(self, p: Mapping[str, str], a: _Account | None) -> Any:
        return [{
            "contractId": str(100 + i), "symbol": s.symbol, "size": "1", "quantityPrecision": s.qty_places,
            "pricePrecision": s.price_places, "feeRate": "0.0005", "makerFeeRate": "0.0002",
            "takerFeeRate": "0.0005", "tradeMinLimit": 0, "tradeMinQuantity": float(Decimal(1).scaleb(-s.qty_places)),
            "tradeMinUSDT": 2, "maxLongLeverage": 125, "maxShortLeverage": 125, "currency": "USDT",
            "asset": s.base, "status": 1, "apiStateOpen": "true", "apiStateClose": "true",
        } for i, s in enumerate(SYMBOLS.values())]

    def _empty_list(self, p: Mapping[str, str], a: _Account | None) -> Any:
        return []

    def _spot_symbols(self, p: Mapping[str, str], a: _Account | None) -> Any:
        return {"symbols": []}

    def _premium_index(self, p: Mapping[str, str], a: _Account | None) -> Any:
        def row(s: _Spec) -> dict[str, Any]:
            mark = _plain(self._marks[s.symbol])
            return {"symbol": s.symbol, "markPrice": mark, "indexPrice": mark, "lastFundingRate": "0.0001",
                    "nextFundingTime": int(self._clock() * 1000) + 3_600_000}
        return row(_spec(p)) if p.get("symbol") else [row(s) for s in SYMBOLS.values()]

    def _ticker(self, p: Mapping[str, str], a: _Account | None) -> Any:
        def row(s: _Spec) -> dict[str, Any]:
            last = _plain(self._marks[s.symbol])
            return {"symbol": s.symbol, "lastPrice": last, "priceChange": "0", "priceChangePercent": "0",
                    "openPrice": last, "highPrice": last, "lowPrice": last, "volume": "1000",
                    "quoteVolume": "1000", "openTime": 0, "closeTime": int(self._clock() * 1000)}
        return row(_spec(p)) if p.get("symbol") else [row(s) for s in SYMBOLS.values()]

    # ---- private reads --------------------------------------------------------------------------------------

    def _currencies(self, p: Mapping[str, str], a: _Account | None) -> Any:
        return [{"coin": coin, "name": coin, "networkList": [{
            "name": coin, "network": net, "isDefault": True, "minConfirm": "1", "withdrawEnable": True,
            "depositEnable": True, "withdrawFee": "1", "withdrawMax": "1000000", "withdrawMin": "1",
            "depositMin": "1", "withdrawPrecision": "8", "depositPrecision": "8", "contractAddress": "",
            "needTagOrMemo": "false", "displayName": coin}]}
            for coin, net in (("USDT", "TRC20"), ("BTC", "BTC"), ("ETH", "ERC20"))]

    def _positions(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        symbol = p.get("symbol")
        rows = []
        for (sym, side), amount in sorted(a.positions.items()):
            if amount == 0 or (symbol and sym != symbol):
                continue
            mark = _plain(self._marks[sym])
            rows.append({"symbol": sym, "positionId": str(abs(hash((sym, side))) % 10**18),
                         "positionSide": side, "isolated": a.margin_type.get(sym) == "ISOLATED",
                         "positionAmt": _plain(amount), "availableAmt": _plain(abs(amount)), "avgPrice": mark,
                         "markPrice": mark, "leverage": a.leverage.get((sym, side), 5), "unrealizedProfit": "0",
                         "liquidationPrice": 0, "initialMargin": "0", "updateTime": int(self._clock() * 1000)})
        return rows

    def _open_orders_read(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        symbol = p.get("symbol")
        return {"orders": [o.to_json() for o in a.orders.values()
                           if o.status == "NEW" and (not symbol or o.symbol == symbol)]}

    def _query_order(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        return {"order": self._find(a, p).to_json()}

    def _balance(self, p: Mapping[str, str], a: _Account | None) -> Any:
        return {"balance": {"asset": "USDT", "balance": "10000", "equity": "10000", "unrealizedProfit": "0",
                            "availableMargin": "10000", "usedMargin": "0", "freezedMargin": "0"}}

    # ---- trading ------------------------------------------------------------------------------------------

    def _place(self, a: _Account, p: Mapping[str, Any]) -> _Order:
        spec = _spec(p)
        side = str(p.get("side", ""))
        if side not in ("BUY", "SELL"):
            raise BingXError(80014, "Invalid parameters, side")
        order_type = str(p.get("type", ""))
        if order_type not in ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                              "TRIGGER_LIMIT", "TRIGGER_MARKET", "TRAILING_STOP_MARKET"):
            raise BingXError(80014, "Invalid parameters, type")
        position_side = str(p.get("positionSide") or "LONG")
        if position_side not in ("LONG", "SHORT", "BOTH") or (position_side == "BOTH") == a.hedge:
            raise BingXError(80014, "Invalid parameters, positionSide does not match the position mode")
        quantity = _dec(p, "quantity", required=True)
        assert quantity is not None
        if quantity != quantity.quantize(Decimal(1).scaleb(-spec.qty_places)):
            raise BingXError(80014, "Invalid parameters, quantity precision")
        price = _dec(p, "price", required=order_type in ("LIMIT", "STOP", "TAKE_PROFIT", "TRIGGER_LIMIT"))
        order = _Order(next(self._order_ids), spec.symbol, side, position_side, order_type, quantity, price,
                       _dec(p, "stopPrice"), str(p.get("reduceOnly", "false")).lower() == "true",
                       str(p.get("clientOrderID", "")), int(self._clock() * 1000))
        return order

    def _commit(self, a: _Account, order: _Order) -> None:
        a.orders[order.order_id] = order
        if order.type == "MARKET":
            self._fill(a, order, self._marks[order.symbol])

    def _fill(self, a: _Account, order: _Order, price: Decimal) -> None:
        delta = order.quantity - order.executed
        sign = 1 if order.side == "BUY" else -1
        key = (order.symbol, order.position_side)
        a.positions[key] = a.positions.get(key, Decimal(0)) + sign * delta
        order.executed, order.avg_price, order.status = order.quantity, price, "FILLED"

    def fill_order(self, api_key: str, order_id: int, price: Decimal | None = None) -> None:
        with self._lock:
            account = self._accounts[api_key]
            order = account.orders[order_id]
            self._fill(account, order, price or order.price or self._marks[order.symbol])

    def _new_order(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        order = self._place(a, p)
        self._commit(a, order)
        return {"order": order.to_json()}

    def _batch_orders(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        try:
            legs = json.loads(p.get("batchOrders") or "", parse_float=Decimal)
        except ValueError:
            raise BingXError(80014, "Invalid parameters, batchOrders is not JSON") from None
        if not isinstance(legs, list) or not 1 <= len(legs) <= 5:
            raise BingXError(80014, "Invalid parameters, batchOrders must hold 1 to 5 orders")
        orders = [self._place(a, {k: v if isinstance(v, str) else str(v).lower() if isinstance(v, bool)
                                  else str(v) for k, v in leg.items()}) for leg in legs]
        for order in orders:
            self._commit(a, order)
        return {"orders": [o.to_json() for o in orders]}

    def _find(self, a: _Account, p: Mapping[str, str]) -> _Order:
        raw = p.get("orderId")
        client = p.get("clientOrderID") or p.get("clientOrderId")
        for order in a.orders.values():
            if (raw and str(order.order_id) == raw) or (client and order.client_id == client):
                return order
        raise BingXError(80016, "order not exist")

    def _cancel(self, a: _Account, order: _Order) -> dict[str, Any]:
        if order.status != "NEW":
            raise BingXError(80018, "order is already filled or cancelled")
        order.status = "CANCELLED"
        return order.to_json()

    def _cancel_order(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        return {"order": self._cancel(a, self._find(a, p))}

    def _cancel_batch(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        ids = (p.get("orderIdList") or "").strip("[]")
        success, failed = [], []
        for raw in filter(None, (i.strip() for i in ids.split(","))):
            try:
                success.append(self._cancel(a, self._find(a, {"orderId": raw})))
            except BingXError as error:
                failed.append({"orderId": int(raw), "errorCode": error.code, "errorMessage": error.msg})
        return {"success": success, "failed": failed or None}

    def _cancel_all(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        symbol = p.get("symbol")
        success = [self._cancel(a, o) for o in list(a.orders.values())
                   if o.status == "NEW" and (not symbol or o.symbol == symbol)]
        return {"success": success, "failed": None}

    def _close_all(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        symbol = p.get("symbol")
        closed = []
        for (sym, side), amount in list(a.positions.items()):
            if amount == 0 or (symbol and sym != symbol):
                continue
            order = _Order(next(self._order_ids), sym, "SELL" if amount > 0 else "BUY", side, "MARKET",
                           abs(amount), None, None, True, "", int(self._clock() * 1000))
            self._commit(a, order)
            closed.append(str(order.order_id))
        return {"success": closed, "failed": None}

    def _leverage(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        spec = _spec(p)
        side = p.get("side", "")
        if side not in ("LONG", "SHORT", "BOTH"):
            raise BingXError(80014, "Invalid parameters, side")
        leverage = _dec(p, "leverage", required=True)
        if leverage is None or leverage != leverage.to_integral_value() or leverage > 125:
            raise BingXError(80014, "Invalid parameters, leverage")
        a.leverage[(spec.symbol, side)] = int(leverage)
        return {"leverage": int(leverage), "symbol": spec.symbol}

    def _margin_type(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        spec = _spec(p)
        if p.get("marginType") not in ("ISOLATED", "CROSSED"):
            raise BingXError(80014, "Invalid parameters, marginType")
        a.margin_type[spec.symbol] = str(p["marginType"])
        return {}

    def _position_mode(self, p: Mapping[str, str], a: _Account | None) -> Any:
        assert a is not None
        if p.get("dualSidePosition") not in ("true", "false"):
            raise BingXError(80014, "Invalid parameters, dualSidePosition")
        a.hedge = p["dualSidePosition"] == "true"
        return {"dualSidePosition": p["dualSidePosition"]}

    def _withdraw(self, p: Mapping[str, str], a: _Account | None) -> Any:
        return {"id": "fake-withdrawal-1", "withdrawOrderId": "fake-withdrawal-1"}

    def _transfer(self, p: Mapping[str, str], a: _Account | None) -> Any:
        return {"tranId": "fake-transfer-1"}


type _HandlerFn = Callable[[FakeBingX, Mapping[str, str], _Account | None], Any]

_S1, _S2 = "/openApi/swap/v1", "/openApi/swap/v2"
_ROUTES: dict[tuple[str, str], tuple[bool, _HandlerFn]] = {
    ("GET", f"{_S2}/server/time"): (False, FakeBingX._time),
    ("GET", f"{_S2}/quote/contracts"): (False, FakeBingX._contracts),
    ("GET", "/openApi/cswap/v1/market/contracts"): (False, FakeBingX._empty_list),
    ("GET", "/openApi/spot/v1/common/symbols"): (False, FakeBingX._spot_symbols),
    ("GET", f"{_S2}/quote/premiumIndex"): (False, FakeBingX._premium_index),
    ("GET", f"{_S2}/quote/ticker"): (False, FakeBingX._ticker),
    ("GET", "/openApi/wallets/v1/capital/config/getall"): (True, FakeBingX._currencies),
    ("GET", f"{_S2}/user/positions"): (True, FakeBingX._positions),
    ("GET", f"{_S2}/user/balance"): (True, FakeBingX._balance),
    ("GET", f"{_S2}/trade/openOrders"): (True, FakeBingX._open_orders_read),
    ("GET", f"{_S2}/trade/order"): (True, FakeBingX._query_order),
    ("POST", f"{_S2}/trade/order"): (True, FakeBingX._new_order),
    ("POST", f"{_S2}/trade/batchOrders"): (True, FakeBingX._batch_orders),
    ("DELETE", f"{_S2}/trade/order"): (True, FakeBingX._cancel_order),
    ("DELETE", f"{_S2}/trade/batchOrders"): (True, FakeBingX._cancel_batch),
    ("DELETE", f"{_S2}/trade/allOpenOrders"): (True, FakeBingX._cancel_all),
    ("POST", f"{_S2}/trade/closeAllPositions"): (True, FakeBingX._close_all),
    ("POST", f"{_S2}/trade/leverage"): (True, FakeBingX._leverage),
    ("POST", f"{_S2}/trade/marginType"): (True, FakeBingX._margin_type),
    ("POST", f"{_S1}/positionSide/dual"): (True, FakeBingX._position_mode),
    ("POST", "/openApi/wallets/v1/capital/withdraw/apply"): (True, FakeBingX._withdraw),
    **{endpoint: (True, FakeBingX._transfer) for endpoint in WALLET_ENDPOINTS
       if endpoint[1] != "/openApi/wallets/v1/capital/withdraw/apply"},
}
