"""A fake Binance COIN-M futures exchange (REST `/dapi/...`, plus the wallet `/sapi/...` paths) for tests.

It shares the USDⓈ-M fake's plumbing (HTTP server, request log, HMAC check over the exact query + body bytes,
error shape) and answers in dapi's shapes (docs/venues.md §2, ccxt `binance.py` exchangeInfo sample): sizes are
CONTRACTS of an inverse contract worth `contractSize` USD, symbols are `BTCUSD_PERP` and `BTCUSD_250627`.

What it is not: a matching engine. MARKET orders fill at the mark price at once; LIMIT and conditional orders
rest until cancelled. Positions are kept in contracts, as dapi reports them. No fees, funding or margin.

Usage:
    with FakeBinanceCoinm({"key": "secret"}) as fake:
        ...  # point ccxt.binancecoinm at fake.base_url
        assert [r.path for r in fake.orders_received()] == ["/dapi/v1/order"]
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.binance_usdm import (
    WALLET_ENDPOINTS,
    BinanceError,
    RecordedRequest,
    _Server,
    _strip_signature,
)
from tests.fakes.server import ServedFake

__all__ = ["CONTRACTS", "DEFAULT_ACCOUNTS", "ORDER_ENDPOINTS", "ContractSpec", "FakeBinanceCoinm"]

DEFAULT_ACCOUNTS: Mapping[str, str] = {"coinm-api-key": "coinm-api-secret"}

ORDER_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/dapi/v1/order"),
    ("POST", "/dapi/v1/algoOrder"),
    ("POST", "/dapi/v1/batchOrders"),
    ("PUT", "/dapi/v1/order"),
    ("PUT", "/dapi/v1/batchOrders"),
})


@dataclass(frozen=True, slots=True)
class ContractSpec:
    symbol: str
    base: str
    contract_size: int  # USD per contract
    contract_type: str  # PERPETUAL, CURRENT_QUARTER
    delivery_date: int
    tick_size: Decimal
    mark: Decimal


# contract sizes of the fake's own exchangeInfo; deliberately not the bundled 100/10 for SOL, so a test can
# tell learned from bundled
CONTRACTS: Mapping[str, ContractSpec] = {spec.symbol: spec for spec in (
    ContractSpec("BTCUSD_PERP", "BTC", 100, "PERPETUAL", 4133404800000, Decimal("0.1"), Decimal("50000")),
    ContractSpec("BTCUSD_250627", "BTC", 100, "CURRENT_QUARTER", 1751011200000, Decimal("0.1"), Decimal("50500")),
    ContractSpec("ETHUSD_PERP", "ETH", 10, "PERPETUAL", 4133404800000, Decimal("0.01"), Decimal("2500")),
    ContractSpec("SOLUSD_PERP", "SOL", 10, "PERPETUAL", 4133404800000, Decimal("0.001"), Decimal("125")),
)}

_OPEN = ("NEW", "PARTIALLY_FILLED")
_PUBLIC, _SIGNED = "public", "signed"


@dataclass(slots=True)
class _Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    position_side: str
    order_type: str
    quantity: Decimal
    price: Decimal
    stop_price: Decimal
    reduce_only: bool
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    update_time: int = 0

    def to_json(self) -> dict[str, Any]:
        spec = CONTRACTS[self.symbol]
        return {
            "orderId": self.order_id, "symbol": self.symbol, "pair": self.symbol.split("_")[0],
            "status": self.status, "clientOrderId": self.client_order_id, "price": str(self.price),
            "avgPrice": str(self.avg_price), "origQty": str(self.quantity), "executedQty": str(self.executed),
            "cumQty": str(self.executed),
            "cumBase": str((self.executed * spec.contract_size / self.avg_price) if self.avg_price else 0),
            "timeInForce": "GTC", "type": self.order_type, "reduceOnly": self.reduce_only, "closePosition": False,
            "side": self.side, "positionSide": self.position_side, "stopPrice": str(self.stop_price),
            "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": self.order_type,
            "updateTime": self.update_time,
        }


@dataclass(slots=True)
class _Account:
    secret: str
    orders: dict[int, _Order] = field(default_factory=dict)
    positions: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # contracts, signed
    leverage: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Call:
    params: Mapping[str, str]
    account: _Account | None


def _dec(params: Mapping[str, str], name: str, *, required: bool = False) -> Decimal:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        return Decimal(0)
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from None


def _spec(params: Mapping[str, str]) -> ContractSpec:
    spec = CONTRACTS.get(params.get("symbol", "").upper())
    if spec is None:
        raise BinanceError(-1121, "Invalid symbol.")
    return spec


class FakeBinanceCoinm(ServedFake):
    """Fake Binance COIN-M REST venue on 127.0.0.1, for the plumbing the USDⓈ-M fake already has."""

    def __init__(self, accounts: Mapping[str, str] | None = None, *, tls: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._tls = tls
        self._clock = clock
        self._accounts = {k: _Account(s) for k, s in (DEFAULT_ACCOUNTS if accounts is None else accounts).items()}
        self._marks = {s: spec.mark for s, spec in CONTRACTS.items()}
        self._order_ids = itertools.count(7_100_000_001)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: list[RecordedRequest] = []
        self.internal_errors: list[str] = []

    # ---- lifecycle and inspection --------------------------------------------------------------------

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

    def set_mark_price(self, symbol: str, price: Decimal) -> None:
        with self._lock:
            self._marks[symbol] = price

    def position(self, api_key: str, symbol: str, position_side: str = "BOTH") -> Decimal:
        """In contracts, signed, as dapi reports `positionAmt`."""
        with self._lock:
            return self._accounts[api_key].positions.get((symbol, position_side), Decimal(0))

    def set_position(self, api_key: str, symbol: str, contracts: Decimal, position_side: str = "BOTH") -> None:
        with self._lock:
            self._accounts[api_key].positions[(symbol, position_side)] = contracts

    # ---- HTTP ----------------------------------------------------------------------------------------

    def _handle(self, method: str, raw_path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, Any, dict[str, str]]:
        path, _, query = raw_path.partition("?")
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        pairs = parse_qsl(query, keep_blank_values=True)
        if body and (not content_type or content_type.lower().startswith("application/x-www-form-urlencoded")):
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = dict(pairs)
        api_key = next((v for k, v in headers.items() if k.lower() == "x-mbx-apikey"), None)
        with self._lock:
            try:
                route = _ROUTES.get((method, path))
                if route is None:
                    raise BinanceError(-5000, f"Path {path}, Method {method} is invalid", status=404)
                security, handler = route
                if len(params) != len(pairs):
                    raise BinanceError(-1101, "Duplicate values for a parameter detected.")
                account = self._authenticate(api_key, query, body) if security == _SIGNED else None
                status, payload = 200, handler(self, _Call(params, account))
            except BinanceError as error:
                status, payload = error.status, error.body()
            except Exception:
                self.internal_errors.append(traceback.format_exc())
                status, payload = 500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            self._log.append(RecordedRequest(method, path, query, body, dict(headers), params, status))
        return status, payload, {}

    def _authenticate(self, api_key: str | None, query: str, body: bytes) -> _Account:
        account = self._accounts.get(api_key or "")
        if account is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        signed_query, sig_q = _strip_signature(query.encode("latin-1"))
        signed_body, sig_b = _strip_signature(body)
        signature = sig_q if sig_q is not None else sig_b
        expected = hmac.new(account.secret.encode(), signed_query + signed_body, hashlib.sha256).hexdigest()
        if signature is None or not hmac.compare_digest(expected, signature.decode("latin-1").lower()):
            raise BinanceError(-1022, "Signature for this request is not valid.")
        return account

    # ---- handlers ------------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _time(self, call: _Call) -> Any:
        return {"serverTime": self._now_ms()}

    def _exchange_info(self, call: _Call) -> Any:
        return {
            "timezone": "UTC", "serverTime": self._now_ms(), "exchangeFilters": [],
            "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                            "limit": 2400}],
            "symbols": [{
                "symbol": spec.symbol, "pair": spec.symbol.split("_")[0], "contractType": spec.contract_type,
                "deliveryDate": spec.delivery_date, "onboardDate": 1596006000000, "contractStatus": "TRADING",
                "contractSize": spec.contract_size, "marginAsset": spec.base, "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000", "baseAsset": spec.base, "quoteAsset": "USD",
                "pricePrecision": 1, "quantityPrecision": 0, "baseAssetPrecision": 8, "quotePrecision": 8,
                "equalQtyPrecision": 4,
                "filters": [
                    {"minPrice": "0.1", "maxPrice": "1000000", "filterType": "PRICE_FILTER",
                     "tickSize": str(spec.tick_size)},
                    {"stepSize": "1", "filterType": "LOT_SIZE", "maxQty": "1000000", "minQty": "1"},
                    {"stepSize": "1", "filterType": "MARKET_LOT_SIZE", "maxQty": "1000000", "minQty": "1"},
                    {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
                    {"multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4",
                     "filterType": "PERCENT_PRICE"},
                ],
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            } for spec in CONTRACTS.values()],
        }

    def _premium_index(self, call: _Call) -> Any:
        def render(spec: ContractSpec) -> dict[str, Any]:
            mark = str(self._marks[spec.symbol])
            return {"symbol": spec.symbol, "pair": spec.symbol.split("_")[0], "markPrice": mark,
                    "indexPrice": mark, "estimatedSettlePrice": mark, "lastFundingRate": "0.0001",
                    "interestRate": "0.0001", "nextFundingTime": self._now_ms() + 3_600_000, "time": self._now_ms()}

        symbol = call.params.get("symbol")
        return [render(_spec(call.params))] if symbol else [render(s) for s in CONTRACTS.values()]

    def _new_order(self, call: _Call) -> Any:
        assert call.account is not None
        p = call.params
        spec = _spec(p)
        qty = _dec(p, "quantity", required=True)
        if qty <= 0 or qty != qty.to_integral_value():
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        order_type = p.get("type", "")
        if order_type not in ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        order = _Order(next(self._order_ids), p.get("newClientOrderId") or f"fake-{self._now_ms()}", spec.symbol,
                       p.get("side", ""), p.get("positionSide", "BOTH"), order_type, qty, _dec(p, "price"),
                       _dec(p, "stopPrice"), p.get("reduceOnly") == "true", update_time=self._now_ms())
        if order.side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if order_type == "MARKET":
            mark = self._marks[spec.symbol]
            order.status, order.executed, order.avg_price = "FILLED", qty, mark
            key = (spec.symbol, order.position_side)
            sign = 1 if order.side == "BUY" else -1
            call.account.positions[key] = call.account.positions.get(key, Decimal(0)) + sign * qty
        call.account.orders[order.order_id] = order
        return order.to_json()

    def _find(self, call: _Call) -> _Order:
        assert call.account is not None
        raw = call.params.get("orderId", "")
        order = call.account.orders.get(int(raw)) if raw.isdigit() else None
        if order is None or order.symbol != call.params.get("symbol", "").upper():
            raise BinanceError(-2013, "Order does not exist.")
        return order

    def _query_order(self, call: _Call) -> Any:
        return self._find(call).to_json()

    def _cancel_order(self, call: _Call) -> Any:
        order = self._find(call)
        if order.status not in _OPEN:
            raise BinanceError(-2011, "Unknown order sent.")
        order.status, order.update_time = "CANCELED", self._now_ms()
        return order.to_json()

    def _open_orders(self, call: _Call) -> Any:
        assert call.account is not None
        symbol = call.params.get("symbol", "").upper()
        return [o.to_json() for o in call.account.orders.values()
                if o.status in _OPEN and (not symbol or o.symbol == symbol)]

    def _cancel_all(self, call: _Call) -> Any:
        assert call.account is not None
        spec = _spec(call.params)
        for order in call.account.orders.values():
            if order.symbol == spec.symbol and order.status in _OPEN:
                order.status = "CANCELED"
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _set_leverage(self, call: _Call) -> Any:
        assert call.account is not None
        spec = _spec(call.params)
        leverage = int(_dec(call.params, "leverage", required=True))
        call.account.leverage[spec.symbol] = leverage
        return {"leverage": leverage, "maxQty": "1000", "symbol": spec.symbol}

    def _position_risk(self, call: _Call) -> Any:
        assert call.account is not None
        pair = call.params.get("pair", "").upper()
        rows = []
        for spec in CONTRACTS.values():
            if pair and spec.symbol.split("_")[0] != pair:
                continue
            amount = call.account.positions.get((spec.symbol, "BOTH"), Decimal(0))
            mark = self._marks[spec.symbol]
            rows.append({
                "symbol": spec.symbol, "positionAmt": str(amount), "entryPrice": str(mark), "breakEvenPrice": "0.0",
                "markPrice": str(mark), "unRealizedProfit": "0.00000000", "liquidationPrice": "0",
                "leverage": str(call.account.leverage.get(spec.symbol, 20)), "maxQty": "1000",
                "marginType": "cross", "isolatedMargin": "0.00000000", "isAutoAddMargin": "false",
                "positionSide": "BOTH", "notionalValue": str(amount * spec.contract_size / mark),
                "isolatedWallet": "0", "updateTime": self._now_ms(),
            })
        return rows

    def _leverage_bracket(self, call: _Call) -> Any:
        return [{"symbol": spec.symbol, "notionalCoef": 1.5, "brackets": [
            {"bracket": 1, "initialLeverage": 125, "qtyCap": 5, "qtyFloor": 0, "maintMarginRatio": 0.004, "cum": 0},
            {"bracket": 2, "initialLeverage": 50, "qtyCap": 1000, "qtyFloor": 5, "maintMarginRatio": 0.01, "cum": 0.03},
        ]} for spec in CONTRACTS.values()]

    def _wallet(self, call: _Call) -> Any:
        return {"id": "fake-withdrawal", "tranId": 1}


Handler = Callable[[FakeBinanceCoinm, _Call], Any]

_ROUTES: dict[tuple[str, str], tuple[str, Handler]] = {
    ("GET", "/dapi/v1/ping"): (_PUBLIC, lambda fake, call: {}),
    ("GET", "/dapi/v1/time"): (_PUBLIC, FakeBinanceCoinm._time),
    ("GET", "/dapi/v1/exchangeInfo"): (_PUBLIC, FakeBinanceCoinm._exchange_info),
    ("GET", "/dapi/v1/premiumIndex"): (_PUBLIC, FakeBinanceCoinm._premium_index),
    ("POST", "/dapi/v1/order"): (_SIGNED, FakeBinanceCoinm._new_order),
    ("GET", "/dapi/v1/order"): (_SIGNED, FakeBinanceCoinm._query_order),
    ("DELETE", "/dapi/v1/order"): (_SIGNED, FakeBinanceCoinm._cancel_order),
    ("GET", "/dapi/v1/openOrders"): (_SIGNED, FakeBinanceCoinm._open_orders),
    ("DELETE", "/dapi/v1/allOpenOrders"): (_SIGNED, FakeBinanceCoinm._cancel_all),
    ("POST", "/dapi/v1/leverage"): (_SIGNED, FakeBinanceCoinm._set_leverage),
    ("GET", "/dapi/v1/positionRisk"): (_SIGNED, FakeBinanceCoinm._position_risk),
    ("GET", "/dapi/v2/leverageBracket"): (_SIGNED, FakeBinanceCoinm._leverage_bracket),
    **{endpoint: (_SIGNED, FakeBinanceCoinm._wallet) for endpoint in WALLET_ENDPOINTS},
}
