"""A fake Bitget v2 mix exchange (USDT-M, COIN-M, USDC-M futures, plus the calls ccxt.bitget makes around them).

Why it exists: the firewall must be tested end to end with the real, unmodified ccxt.bitget. The fake answers like
Bitget (shapes and codes from docs/venues.md §6 and ccxt's bitget.py) and records exactly what arrived. It
verifies `ACCESS-SIGN` as Bitget computes it — base64(HMAC-SHA256(secret, timestamp + METHOD + path +
("?" + query | body))) — and the `ACCESS-PASSPHRASE`, so a request a proxy altered in any way is refused with
40009 ("sign signature error"): "forwarded untouched" is provable, not assumed. ccxt signs the query string
before percent-encoding; the fake accepts a signature over the query as sent or as decoded.

What it is not: a matching engine. Market orders fill at the mark price at once; limit orders rest until
`fill_order()`; plan orders (place-plan-order) rest, listed by orders-plan-pending under their planType and
cancelled by cancel-plan-order, until `trigger_plan()` places the order they stand for. No fees, funding or
margin. Errors are HTTP 400 with
`{"code", "msg", "requestTime", "data": null}`; success is `{"code": "00000", "msg": "success", ...}`.

Withdrawals, transfers and sub-account calls are accepted and recorded (`wallet_requests()`), so a test can prove
they never arrived.
"""

from __future__ import annotations

import base64
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
from urllib.parse import parse_qsl, unquote

from tests.fakes.server import FakeServer as _Server
from tests.fakes.server import ServedFake

__all__ = ["DEFAULT_ACCOUNTS", "ORDER_ENDPOINTS", "WALLET_ENDPOINTS", "BitgetError", "FakeBitget",
           "RecordedRequest", "sign"]

# api key -> (secret, passphrase)
DEFAULT_ACCOUNTS: Mapping[str, tuple[str, str]] = {"bitget-test-key": ("bitget-test-secret", "bitget-passphrase")}

MIX = "/api/v2/mix"
ORDER_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", f"{MIX}/order/place-order"),
    ("POST", f"{MIX}/order/batch-place-order"),
    ("POST", f"{MIX}/order/modify-order"),
    ("POST", f"{MIX}/order/place-plan-order"),
    ("POST", f"{MIX}/order/place-tpsl-order"),
    ("POST", f"{MIX}/order/close-positions"),
})
WALLET_ENDPOINTS: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/api/v2/spot/wallet/withdrawal"),
    ("POST", "/api/v2/spot/wallet/transfer"),
    ("POST", "/api/v2/spot/wallet/subaccount-transfer"),
    ("POST", "/api/v2/user/create-virtual-subaccount-apikey"),
})


@dataclass(frozen=True, slots=True)
class Contract:
    symbol: str
    product_type: str
    base: str
    quote: str
    mark: Decimal
    price_place: int = 1
    volume_place: int = 3


CONTRACTS: tuple[Contract, ...] = (
    Contract("BTCUSDT", "USDT-FUTURES", "BTC", "USDT", Decimal("50000")),
    Contract("ETHUSDT", "USDT-FUTURES", "ETH", "USDT", Decimal("3000"), 2, 2),
    Contract("DOGEUSDT", "USDT-FUTURES", "DOGE", "USDT", Decimal("0.2"), 5, 0),
    Contract("BTCUSD", "COIN-FUTURES", "BTC", "USD", Decimal("50000")),
    Contract("BTCPERP", "USDC-FUTURES", "BTC", "USDC", Decimal("50000")),
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]
    params: dict[str, Any]
    status: int
    code: str

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def api_key(self) -> str | None:
        return self.header("ACCESS-KEY")

    @property
    def endpoint(self) -> tuple[str, str]:
        return self.method, self.path


def sign(timestamp: str, method: str, path: str, query: str, body: bytes | str, secret: str) -> str:
    """Bitget's signature: base64(HMAC-SHA256(secret, timestamp + METHOD + path + (?query | body)))."""
    payload = (timestamp + method.upper() + path + (f"?{query}" if query else "")).encode()
    payload += body if isinstance(body, bytes) else body.encode()
    return base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()


class BitgetError(Exception):
    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status


@dataclass
class _Order:
    order_id: str
    client_oid: str
    symbol: str
    product_type: str
    side: str
    trade_side: str
    order_type: str
    size: Decimal
    price: Decimal | None
    reduce_only: str
    filled: Decimal = Decimal(0)
    state: str = "live"
    created: int = 0
    plan_type: str | None = None  # a plan order (normal_plan, track_plan) until it triggers
    trigger_price: Decimal | None = None

    def to_json(self, pos_mode: str) -> dict[str, Any]:
        return {"symbol": self.symbol, "size": str(self.size), "orderId": self.order_id,
                "clientOid": self.client_oid, "baseVolume": str(self.filled), "fee": "0",
                "price": str(self.price or ""), "priceAvg": str(self.price or ""), "status": self.state,
                "side": self.side, "force": "gtc", "totalProfits": "0", "posSide": "net",
                "marginCoin": "USDT", "quoteVolume": "0", "leverage": "10", "marginMode": "crossed",
                "enterPointSource": "API", "tradeSide": self.trade_side or "buy_single",
                "posMode": pos_mode, "orderType": self.order_type, "orderSource": "normal",
                "reduceOnly": self.reduce_only, "cTime": str(self.created), "uTime": str(self.created)}

    def plan_json(self, pos_mode: str) -> dict[str, Any]:
        """A row of orders-plan-pending (ccxt bitget.py fetch_open_orders' comment, swap stop)."""
        return {"planType": self.plan_type, "symbol": self.symbol, "size": str(self.size), "orderId": self.order_id,
                "clientOid": self.client_oid, "price": str(self.price or ""), "callbackRatio": "",
                "triggerPrice": str(self.trigger_price), "triggerType": "mark_price", "planStatus": "live",
                "side": self.side, "posSide": "net", "marginCoin": "USDT", "marginMode": "crossed",
                "enterPointSource": "API", "tradeSide": self.trade_side or "buy_single", "posMode": pos_mode,
                "orderType": self.order_type, "reduceOnly": self.reduce_only, "cTime": str(self.created),
                "uTime": str(self.created)}


@dataclass
class _Account:
    secret: str
    passphrase: str
    orders: dict[str, _Order] = field(default_factory=dict)
    plans: dict[str, _Order] = field(default_factory=dict)  # plan orders, by id, kept apart until they trigger
    positions: dict[str, Decimal] = field(default_factory=dict)  # signed, one-way mode
    leverage: dict[str, str] = field(default_factory=dict)
    pos_mode: str = "one_way_mode"


def _dec(params: Mapping[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BitgetError("40019", f"Parameter {name} cannot be empty")
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise BitgetError("40020", f"Parameter {name} error") from None
    if not value.is_finite() or value <= 0:
        raise BitgetError("40020", f"Parameter {name} error")
    return value


class FakeBitget(ServedFake):
    """Fake Bitget v2 mix REST venue on 127.0.0.1. Thread-safe."""

    def __init__(self, accounts: Mapping[str, tuple[str, str]] | None = None, *, tls: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._tls = tls
        self._clock = clock
        self._accounts = {k: _Account(s, p) for k, (s, p) in (DEFAULT_ACCOUNTS if accounts is None
                                                               else accounts).items()}
        self._marks = {c.symbol: c.mark for c in CONTRACTS}
        self._ids = itertools.count(1_100_000_000_000_000_001)
        self._log: list[RecordedRequest] = []
        self._server: _Server | None = None
        self.internal_errors: list[str] = []

    # ---- what arrived, and test controls -------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint in ORDER_ENDPOINTS]

    def wallet_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint in WALLET_ENDPOINTS]

    def add_account(self, api_key: str, secret: str, passphrase: str) -> None:
        with self._lock:
            self._accounts[api_key] = _Account(secret, passphrase)

    def open_orders(self, api_key: str) -> list[dict[str, Any]]:
        with self._lock:
            acct = self._accounts[api_key]
            return [o.to_json(acct.pos_mode) for o in acct.orders.values() if o.state == "live"]

    def plan_orders(self, api_key: str) -> list[dict[str, Any]]:
        with self._lock:
            acct = self._accounts[api_key]
            return [o.plan_json(acct.pos_mode) for o in acct.plans.values() if o.state == "live"]

    def trigger_plan(self, api_key: str, order_id: str) -> str:
        """The plan order triggers, as the mark price crossing its trigger would: it leaves the plan book and the
        order it stands for is placed (a market one fills at once, a limit one rests); its id is returned."""
        with self._lock:
            acct = self._accounts[api_key]
            plan = acct.plans[order_id]
            plan.state = "executed"
            placed = _Order(str(next(self._ids)), f"fake-{next(self._ids)}", plan.symbol, plan.product_type,
                            plan.side, plan.trade_side, plan.order_type, plan.size, plan.price, plan.reduce_only,
                            created=self._now())
            acct.orders[placed.order_id] = placed
            if placed.order_type == "market":
                self._fill(acct, placed)
            return placed.order_id

    def position(self, api_key: str, symbol: str) -> Decimal:
        with self._lock:
            return self._accounts[api_key].positions.get(symbol, Decimal(0))

    def set_position(self, api_key: str, symbol: str, size: Decimal) -> None:
        with self._lock:
            self._accounts[api_key].positions[symbol] = Decimal(size)

    def set_position_mode(self, api_key: str, pos_mode: str) -> None:
        """The account's position mode as set outside any bot (the web UI): rows then name it; positions and
        orders stay netted whatever it is."""
        with self._lock:
            self._accounts[api_key].pos_mode = pos_mode

    def fill_order(self, api_key: str, order_id: str) -> None:
        with self._lock:
            acct = self._accounts[api_key]
            self._fill(acct, acct.orders[order_id])

    # ---- pipeline ------------------------------------------------------------------------------------

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        path, _, query = raw_path.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        params: dict[str, Any] = {}
        status, code = 200, "00000"
        with self._lock:
            now = self._now()
            try:
                route = _ROUTES.get((method, path))
                if route is None:
                    raise BitgetError("40404", "Request URL NOT FOUND", status=404)
                signed, handler = route
                account = self._authenticate(lowered, method, path, query, body, now) if signed else None
                params = self._params(method, query, body)
                data = handler(self, account, params)
                payload: dict[str, Any] = {"code": "00000", "msg": "success", "requestTime": now, "data": data}
            except BitgetError as error:
                status, code = error.status, error.code
                payload = {"code": error.code, "msg": error.msg, "requestTime": now, "data": None}
            except Exception:
                self.internal_errors.append(traceback.format_exc())
                status, code = 500, "40015"
                payload = {"code": "40015", "msg": "System is abnormal, please try again later",
                           "requestTime": now, "data": None}
            self._log.append(RecordedRequest(method, path, query, body, dict(headers), params, status, code))
        return status, payload

    @staticmethod
    def _params(method: str, query: str, body: bytes) -> dict[str, Any]:
        if method == "GET":
            return dict(parse_qsl(query, keep_blank_values=True))
        if not body:
            return {}
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BitgetError("40017", "Parameter verification failed") from None
        if not isinstance(data, dict):
            raise BitgetError("40017", "Parameter verification failed")
        return data

    def _authenticate(self, headers: Mapping[str, str], method: str, path: str, query: str, body: bytes,
                      now: int) -> _Account:
        api_key = headers.get("access-key")
        if not api_key:
            raise BitgetError("40001", "ACCESS_KEY cannot be empty")
        account = self._accounts.get(api_key)
        if account is None:
            raise BitgetError("40006", "Invalid ACCESS_KEY")
        timestamp = headers.get("access-timestamp", "")
        if not timestamp.isdigit() or abs(now - int(timestamp)) > 30_000:
            raise BitgetError("40008", "Request timestamp expired")
        if not hmac.compare_digest(headers.get("access-passphrase", ""), account.passphrase):
            raise BitgetError("40012", "apikey/password is incorrect")
        given = headers.get("access-sign", "")
        candidates = {sign(timestamp, method, path, query, body, account.secret),
                      sign(timestamp, method, path, unquote(query), body, account.secret)}
        if not any(hmac.compare_digest(given, expected) for expected in candidates):
            raise BitgetError("40009", "sign signature error")
        return account

    # ---- market data ---------------------------------------------------------------------------------

    def _time(self, account: Any, p: Mapping[str, Any]) -> Any:
        return {"serverTime": str(self._now())}

    def _coins(self, account: Any, p: Mapping[str, Any]) -> Any:
        return []

    def _contracts(self, account: Any, p: Mapping[str, Any]) -> Any:
        product = str(p.get("productType", "")).upper()
        return [{
            "symbol": c.symbol, "baseCoin": c.base, "quoteCoin": c.quote, "buyLimitPriceRatio": "0.9",
            "sellLimitPriceRatio": "0.9", "feeRateUpRatio": "0.1", "makerFeeRate": "0.0004",
            "takerFeeRate": "0.0006", "openCostUpRatio": "0.1", "supportMarginCoins": [c.quote if c.quote != "USD"
                                                                                        else c.base],
            "minTradeNum": "0.001", "priceEndStep": "1", "volumePlace": str(c.volume_place),
            "pricePlace": str(c.price_place), "sizeMultiplier": "0.001" if c.volume_place == 3 else "1",
            "symbolType": "perpetual", "minTradeUSDT": "5", "maxSymbolOrderNum": "999999",
            "maxProductOrderNum": "999999", "maxPositionNum": "150", "symbolStatus": "normal", "offTime": "-1",
            "limitOpenTime": "-1", "deliveryTime": "", "deliveryStartTime": "", "deliveryPeriod": "",
            "launchTime": "", "fundInterval": "8", "minLever": "1", "maxLever": "125", "posLimit": "0.05",
            "maintainTime": "",
        } for c in CONTRACTS if c.product_type == product]

    def _ticker_rows(self, product: str, symbol: str | None) -> list[dict[str, Any]]:
        return [{"symbol": c.symbol, "lastPr": str(self._marks[c.symbol]), "markPrice": str(self._marks[c.symbol]),
                 "indexPrice": str(self._marks[c.symbol]), "askPr": str(self._marks[c.symbol]),
                 "bidPr": str(self._marks[c.symbol]), "ts": str(self._now()), "baseVolume": "0",
                 "quoteVolume": "0", "high24h": "0", "low24h": "0", "open24h": "0", "change24h": "0"}
                for c in CONTRACTS if c.product_type == product and symbol in (None, c.symbol)]

    def _ticker(self, account: Any, p: Mapping[str, Any]) -> Any:
        return self._ticker_rows(str(p.get("productType", "")).upper(), str(p.get("symbol", "")).upper())

    def _tickers(self, account: Any, p: Mapping[str, Any]) -> Any:
        return self._ticker_rows(str(p.get("productType", "")).upper(), None)

    # ---- orders --------------------------------------------------------------------------------------

    def _contract(self, p: Mapping[str, Any]) -> Contract:
        symbol, product = str(p.get("symbol", "")).upper(), str(p.get("productType", "")).upper()
        for c in CONTRACTS:
            if (c.symbol, c.product_type) == (symbol, product):
                return c
        raise BitgetError("40034", "Parameter symbol does not exist")

    def _new_order(self, acct: _Account, p: Mapping[str, Any]) -> _Order:
        contract = self._contract(p)
        side = str(p.get("side", "")).lower()
        order_type = str(p.get("orderType", "")).lower()
        if side not in ("buy", "sell") or order_type not in ("limit", "market"):
            raise BitgetError("40017", "Parameter verification failed")
        size = _dec(p, "size") or Decimal(0)
        price = _dec(p, "price") if order_type == "limit" else None
        order = _Order(str(next(self._ids)), str(p.get("clientOid") or f"fake-{next(self._ids)}"), contract.symbol,
                       contract.product_type, side, str(p.get("tradeSide", "")).lower(), order_type, size, price,
                       str(p.get("reduceOnly") or "NO"), created=self._now())
        acct.orders[order.order_id] = order
        if order_type == "market":
            self._fill(acct, order)
        return order

    def _fill(self, acct: _Account, order: _Order) -> None:
        sign_ = 1 if order.side == "buy" else -1
        acct.positions[order.symbol] = acct.positions.get(order.symbol, Decimal(0)) + sign_ * order.size
        order.filled, order.state = order.size, "filled"

    def _place(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        order = self._new_order(acct, p)
        return {"orderId": order.order_id, "clientOid": order.client_oid}

    def _place_plan(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        plan_type = str(p.get("planType", ""))
        if plan_type not in ("normal_plan", "track_plan"):
            raise BitgetError("40017", "Parameter verification failed")
        trigger = _dec(p, "triggerPrice")
        contract = self._contract(p)
        side, order_type = str(p.get("side", "")).lower(), str(p.get("orderType", "")).lower()
        if side not in ("buy", "sell") or order_type not in ("limit", "market"):
            raise BitgetError("40017", "Parameter verification failed")
        price = (_dec(p, "executePrice", required=False) or _dec(p, "price")) if order_type == "limit" else None
        plan = _Order(str(next(self._ids)), str(p.get("clientOid") or f"fake-{next(self._ids)}"), contract.symbol,
                      contract.product_type, side, str(p.get("tradeSide", "")).lower(), order_type,
                      _dec(p, "size") or Decimal(0), price, str(p.get("reduceOnly") or "NO"), created=self._now(),
                      plan_type=plan_type, trigger_price=trigger)
        acct.plans[plan.order_id] = plan
        return {"orderId": plan.order_id, "clientOid": plan.client_oid}

    def _plan_pending(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        plan_type = str(p.get("planType", ""))
        if plan_type not in ("normal_plan", "track_plan", "profit_loss"):
            raise BitgetError("40017", "Parameter verification failed")
        product = str(p.get("productType", "")).upper()
        symbol = str(p.get("symbol", "")).upper()
        rows = [o.plan_json(acct.pos_mode) for o in acct.plans.values()
                if o.state == "live" and o.plan_type == plan_type and o.product_type == product
                and symbol in ("", o.symbol)]
        return {"entrustedList": rows or None, "endId": rows[-1]["orderId"] if rows else None}

    def _cancel_plan(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        """orderIdList (ccxt's cancel_order with trigger) cancels those plan orders; one that triggered already
        is a failure."""
        ids = p.get("orderIdList")
        if not isinstance(ids, list) or not ids:
            raise BitgetError("40019", "Parameter orderIdList cannot be empty")
        success, failure = [], []
        for item in ids:
            wanted = item if isinstance(item, dict) else {}
            plan = next((o for o in acct.plans.values() if o.order_id == wanted.get("orderId")
                         or (wanted.get("clientOid") and o.client_oid == wanted.get("clientOid"))), None)
            if plan is None or plan.state != "live":
                failure.append({"orderId": str(wanted.get("orderId", "")), "clientOid": str(wanted.get("clientOid",
                                                                                                      "")),
                                "errorMsg": "Order does not exist", "errorCode": "40768"})
                continue
            plan.state = "cancelled"
            success.append({"orderId": plan.order_id, "clientOid": plan.client_oid})
        return {"successList": success, "failureList": failure}

    def _batch_place(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        legs = p.get("orderList")
        if not isinstance(legs, list) or not legs:
            raise BitgetError("40019", "Parameter orderList cannot be empty")
        success, failure = [], []
        for leg in legs:
            merged = {**p, **leg}
            try:
                order = self._new_order(acct, merged)
                success.append({"orderId": order.order_id, "clientOid": order.client_oid})
            except BitgetError as error:
                failure.append({"orderId": "", "clientOid": leg.get("clientOid", ""), "errorMsg": error.msg,
                                "errorCode": error.code})
        return {"successList": success, "failureList": failure}

    def _find(self, acct: _Account, p: Mapping[str, Any]) -> _Order:
        oid, coid = p.get("orderId"), p.get("clientOid")
        for order in acct.orders.values():
            if order.order_id == oid or (coid and order.client_oid == coid):
                return order
        raise BitgetError("40768", "Order does not exist")

    def _modify(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        order = self._find(acct, p)
        if order.state != "live":
            raise BitgetError("40768", "Order does not exist")
        order.size = _dec(p, "newSize", required=False) or order.size
        order.price = _dec(p, "newPrice", required=False) or order.price
        return {"orderId": order.order_id, "clientOid": order.client_oid}

    def _cancel(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        order = self._find(acct, p)
        order.state = "canceled"
        return {"orderId": order.order_id, "clientOid": order.client_oid}

    def _cancel_all(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        product = str(p.get("productType", "")).upper()
        done = []
        for order in acct.orders.values():
            if order.state == "live" and order.product_type == product:
                order.state = "canceled"
                done.append({"orderId": order.order_id, "clientOid": order.client_oid})
        return {"successList": done, "failureList": []}

    def _batch_cancel(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        """orderIdList cancels those orders; without it (ccxt's cancel_all_orders) every live order of the symbol."""
        ids = p.get("orderIdList")
        if isinstance(ids, list) and ids:
            done = []
            for item in ids:
                order = self._find(acct, item if isinstance(item, dict) else {})
                order.state = "canceled"
                done.append({"orderId": order.order_id, "clientOid": order.client_oid})
            return {"successList": done, "failureList": []}
        symbol = self._contract(p).symbol
        done = []
        for order in acct.orders.values():
            if order.state == "live" and order.symbol == symbol:
                order.state = "canceled"
                done.append({"orderId": order.order_id, "clientOid": order.client_oid})
        return {"successList": done, "failureList": []}

    def _pending(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        product = str(p.get("productType", "")).upper()
        symbol = str(p.get("symbol", "")).upper()
        rows = [o.to_json(acct.pos_mode) for o in acct.orders.values()
                if o.state == "live" and o.product_type == product and symbol in ("", o.symbol)]
        return {"entrustedList": rows or None, "endId": rows[-1]["orderId"] if rows else None}

    # ---- account -------------------------------------------------------------------------------------

    def _positions(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        symbol = str(p.get("symbol", "")).upper()
        rows = []
        for sym, size in acct.positions.items():
            if size == 0 or symbol not in ("", sym):
                continue
            rows.append({"marginCoin": "USDT", "symbol": sym, "holdSide": "long" if size > 0 else "short",
                         "openDelegateSize": "0", "marginSize": "0", "available": str(abs(size)), "locked": "0",
                         "total": str(abs(size)), "leverage": "10", "achievedProfits": "0",
                         "openPriceAvg": str(self._marks[sym]), "marginMode": "crossed", "posMode": acct.pos_mode,
                         "unrealizedPL": "0", "liquidationPrice": "0", "keepMarginRate": "0.004",
                         "markPrice": str(self._marks[sym]), "marginRatio": "0", "cTime": str(self._now())})
        return rows

    def _set_leverage(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        contract = self._contract(p)
        leverage = _dec(p, "leverage") or Decimal(1)
        acct.leverage[contract.symbol] = str(leverage)
        return {"symbol": contract.symbol, "marginCoin": p.get("marginCoin"), "longLeverage": str(leverage),
                "shortLeverage": str(leverage), "crossMarginLeverage": str(leverage), "marginMode": "crossed"}

    def _set_margin_mode(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        contract = self._contract(p)
        return {"symbol": contract.symbol, "marginCoin": p.get("marginCoin"), "marginMode": p.get("marginMode")}

    def _set_position_mode(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        mode = p.get("posMode")
        if mode not in ("one_way_mode", "hedge_mode"):
            raise BitgetError("40017", "Parameter verification failed")
        acct.pos_mode = str(mode)
        return {"posMode": mode}

    def _account(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        contract = self._contract(p)
        leverage = int(Decimal(acct.leverage.get(contract.symbol, "10")))
        return {"marginCoin": "USDT", "locked": "0", "available": "100000", "crossedMaxAvailable": "100000",
                "isolatedMaxAvailable": "100000", "maxTransferOut": "100000", "accountEquity": "100000",
                "usdtEquity": "100000", "btcEquity": "2", "crossedRiskRate": "0", "crossedMarginLeverage": leverage,
                "isolatedLongLever": leverage, "isolatedShortLever": leverage, "marginMode": "crossed",
                "posMode": acct.pos_mode, "unrealizedPL": "0", "coupon": "0", "crossedUnrealizedPL": "0",
                "isolatedUnrealizedPL": ""}

    def _accounts_list(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        return [{"marginCoin": "USDT", "locked": "0", "available": "100000", "crossedMaxAvailable": "100000",
                 "isolatedMaxAvailable": "100000", "maxTransferOut": "100000", "accountEquity": "100000",
                 "usdtEquity": "100000", "btcEquity": "2", "crossedRiskRate": "0", "unrealizedPL": "0",
                 "coupon": "0", "unionTotalMagin": "100000", "unionAvailable": "100000", "unionMm": "0",
                 "assetList": [], "isolatedMargin": "0", "crossedMargin": "0", "crossedUnrealizedPL": "0",
                 "isolatedUnrealizedPL": "0", "assetMode": "single"}]

    def _wallet(self, acct: _Account, p: Mapping[str, Any]) -> Any:
        return {"orderId": str(next(self._ids)), "clientOid": None}


type Handler = Callable[[FakeBitget, Any, Mapping[str, Any]], Any]

_ROUTES: dict[tuple[str, str], tuple[bool, Handler]] = {
    ("GET", "/api/v2/public/time"): (False, FakeBitget._time),
    ("GET", "/api/v2/spot/public/coins"): (False, FakeBitget._coins),
    ("GET", f"{MIX}/market/contracts"): (False, FakeBitget._contracts),
    ("GET", f"{MIX}/market/ticker"): (False, FakeBitget._ticker),
    ("GET", f"{MIX}/market/tickers"): (False, FakeBitget._tickers),
    ("GET", f"{MIX}/account/account"): (True, FakeBitget._account),
    ("GET", f"{MIX}/account/accounts"): (True, FakeBitget._accounts_list),
    ("GET", f"{MIX}/position/all-position"): (True, FakeBitget._positions),
    ("GET", f"{MIX}/position/single-position"): (True, FakeBitget._positions),
    ("GET", f"{MIX}/order/orders-pending"): (True, FakeBitget._pending),
    ("GET", f"{MIX}/order/orders-plan-pending"): (True, FakeBitget._plan_pending),
    ("POST", f"{MIX}/order/place-plan-order"): (True, FakeBitget._place_plan),
    ("POST", f"{MIX}/order/cancel-plan-order"): (True, FakeBitget._cancel_plan),
    ("POST", f"{MIX}/order/place-order"): (True, FakeBitget._place),
    ("POST", f"{MIX}/order/batch-place-order"): (True, FakeBitget._batch_place),
    ("POST", f"{MIX}/order/modify-order"): (True, FakeBitget._modify),
    ("POST", f"{MIX}/order/cancel-order"): (True, FakeBitget._cancel),
    ("POST", f"{MIX}/order/cancel-all-orders"): (True, FakeBitget._cancel_all),
    ("POST", f"{MIX}/order/batch-cancel-orders"): (True, FakeBitget._batch_cancel),
    ("POST", f"{MIX}/account/set-leverage"): (True, FakeBitget._set_leverage),
    ("POST", f"{MIX}/account/set-margin-mode"): (True, FakeBitget._set_margin_mode),
    ("POST", f"{MIX}/account/set-position-mode"): (True, FakeBitget._set_position_mode),
    **{endpoint: (True, FakeBitget._wallet) for endpoint in WALLET_ENDPOINTS},
}
