"""BingX perpetual swap v2 (USDT-M linear): endpoint table, request → intents, response → facts, rejections.

Facts: docs/venues.md §0 and §7, and ccxt's `bingx.py` (its implicit API table and `sign()`). Every
private parameter travels in the query string (ccxt signs them all there, for every method); the venue also
takes a form body on POST, so query and form body are both read, and a key given twice with different values
is refused: the firewall's reading must be the venue's.

Sizes are in the base coin (ccxt: contractSize 1 for linear swaps), so `quantity` is used as is. Symbols are
`BTC-USDT`; the unified symbol is `BTC/USDT:USDT`. Inverse (`/openApi/cswap/...`) and spot orders are not read:
their non-GET requests are UNKNOWN (blocked), except cancels, which only lower risk.

An order must name its `positionSide` (ccxt always does): BingX books one without it as LONG in hedge mode, and
limits are held per position side, so reading it as BOTH (as this adapter once did) let repeated orders grow a
LONG position past its limit. An amend takes the side and position side of the order it changes, as the store
holds it (`on_the_amended_order`).

Where the venue's behaviour is not documented, the adapter picks the reading that cannot under-count risk:
- `quoteOrderQty` (a size in USDT) is refused: the base size would be a guess;
- in a trailing stop `price` is a distance, not a price, so it is not reported as the order's price.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    Decision,
    MarginMode,
    OpenOrdersSnapshot,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    Reason,
    ResponseFacts,
    Side,
    Venue,
    Violation,
    closes_hedge_position,
)
from riskwall.venues.base import (
    UNREADABLE,
    FieldError,
    HttpRequest,
    Rejection,
    Route,
    RouteKey,
    ScopedLearner,
    Socket,
    Steering,
    TableAdapter,
    bool_field,
    decimal_field,
    enum_field,
    field_spellings,
    form_params,
    on_the_amended_order,
    one_leg,
    order_list,
    read_whole,
    route_table,
    scoped,
    strict_json,
    text_field,
)

VENUE = Venue.BINGX

SYMBOL = re.compile(r"[A-Za-z0-9]{1,24}-[A-Za-z0-9]{1,12}")
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:/-]{1,40}")
ORDER_ID = re.compile(r"[0-9]{1,20}")
SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
POSITION_SIDES = {"BOTH": PositionSide.BOTH, "LONG": PositionSide.LONG, "SHORT": PositionSide.SHORT}
# types whose `price` is the limit price; trailing types use `price` as a distance
LIMIT_TYPES = frozenset({"LIMIT", "STOP", "TAKE_PROFIT", "TRIGGER_LIMIT", "TAKE_STOP_LIMIT"})
TRAILING_TYPES = frozenset({"TRAILING_STOP_MARKET", "TRAILING_TP_SL"})
# every parameter name the order, amend, cancel and settings endpoints document (clientOrderID in both spellings
# clients send): a key spelled like one of them in other letter case is refused
SPELLINGS = field_spellings((
    "symbol", "side", "positionSide", "type", "quantity", "price", "stopPrice", "priceRate", "closePosition",
    "reduceOnly", "activationPrice", "timeInForce", "clientOrderID", "clientOrderId", "stopLoss", "takeProfit",
    "quoteOrderQty", "leverage", "marginType", "dualSidePosition", "recvWindow", "timestamp", "signature",
    "batchOrders", "orderId", "orderIdList", "clientOrderIDList", "workingType", "stopGuaranteed", "positionId",
    "cancelReplaceMode", "cancelClientOrderID", "cancelOrderId", "cancelRestrictions", "newClientOrderId",
))
# the types whose stopPrice the venue reads as their trigger
TRIGGERED_TYPES = frozenset({"STOP", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRIGGER_LIMIT",
                             "TRIGGER_MARKET", "TAKE_STOP_LIMIT", "TAKE_STOP_MARKET"})
ORDER_TYPES = LIMIT_TYPES | TRAILING_TYPES | frozenset(
    {"MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRIGGER_MARKET", "TAKE_STOP_MARKET"}
)
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "PostOnly", "POSTONLY", "GTX"})
# marginType in the policy's words: SEPARATE_ISOLATED (an isolated position per order) is isolated margin
MARGIN_TYPES = {"ISOLATED": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSSED,
                "SEPARATE_ISOLATED": MarginMode.ISOLATED}
FINAL_STATUSES = frozenset({"FILLED", "CANCELED", "CANCELLED", "REJECTED", "EXPIRED", "FAILED"})
# ccxt's own limit for swap batchOrders (and the old BingX doc's); batchCancelReplace assumed the same
MAX_BATCH_LEGS = 5
MAX_LEVERAGE = Decimal(150)

type Params = dict[str, str]
type Parser = Callable[[Params, str | None, str], tuple[OrderIntent, ...]]
type LegParser = Callable[[Mapping[str, Any], str | None, str], OrderIntent]


class BingX(TableAdapter):
    venue: Venue = VENUE
    default_hosts: tuple[str, ...] = ("open-api.bingx.com", "open-api-vst.bingx.com", "open-api-swap.bingx.com",
                                      "open-api-ws.bingx.com", "vst-open-api-ws.bingx.com")
    key_header = "X-BX-APIKEY"
    domains: tuple[str, ...] = ("bingx.com",)
    secret_fields: frozenset[str] = frozenset({"signature", "x-bx-apikey", "listenkey", "apikey"})
    # BingX's sockets carry market data and the user-data stream (listen key in the query); no orders
    sockets: tuple[tuple[str, Socket], ...] = (
        ("/swap-market", Socket.STREAM),
        ("/market", Socket.STREAM),
    )

    def __init__(self) -> None:
        super().__init__(_ROUTES, _params, _is_forbidden, _is_forbidden_write, scopes=_SCOPES, harmless=_HARMLESS,
                         writes_only_at_write_paths=True, other_writes=_OTHER_WRITES)

    def payload(self, data: Any) -> Any:
        # BingX answers errors in the same envelope: only code 0 with data is a success
        if not isinstance(data, dict) or str(data.get("code")) != "0" or "data" not in data:
            return UNREADABLE
        return data["data"]

    def rejection(self, decision: Decision, parsed: ParsedRequest | None = None) -> Rejection:
        violation = decision.deciding
        code = _CODES.get(violation.reason if violation else Reason.INTERNAL_ERROR, _DEFAULT_CODE)
        # ccxt.bingx matches `msg` exactly (never broadly), so the prefix keeps any rule id or detail from
        # ever spelling a message of its map; the code alone picks the exception class
        message = _STEERING.message(violation)
        # BingX answers business errors with HTTP 200 and throttling with 429 (docs/venues.md §7.5)
        status = 429 if code == _RATE_CODE else 200
        return Rejection(status, orjson.dumps({"code": code, "msg": message, "data": {}}))


# ccxt.bingx matches no phrase broadly; the rejection text is only bounded
_STEERING = Steering()

# ccxt.bingx.handle_errors (ccxt 4.5.64): any `code` other than 0 raises; exact match on `msg`, then on `code`,
# else ExchangeError. Its map has no RateLimitExceeded entry: 429 gives DDoSProtection, RateLimitExceeded's
# parent class. Business errors come back with HTTP 200 (docs/venues.md §7.5), and ccxt reads the body first anyway.
#   100421 BadSymbol         (symbol not allowed)
#   80014  BadRequest        (leverage, as the other venues answer a leverage block)
#   80014  BadRequest        (a margin or position mode the policy refuses)
#   403    PermissionDenied  (kill switch, forbidden or unknown endpoint, unknown key)
#   429    DDoSProtection    (order rate; HTTP 429 too, for clients that read the status)
#   110425 InvalidOrder      (every other order rule, price collar, duplicate orders, too many open orders (its
#                            map has no code of its own for them), parse failures, state unavailable)
_DEFAULT_CODE = 110425
_RATE_CODE = 429
_CODES: dict[Reason, int] = {
    Reason.SYMBOL_NOT_ALLOWED: 100421,
    Reason.LEVERAGE_EXCEEDS_MAX: 80014,
    Reason.MARGIN_MODE_NOT_ALLOWED: 80014,
    Reason.DUPLICATE_ORDER: _DEFAULT_CODE,
    Reason.OPEN_ORDERS_EXCEED_MAX: _DEFAULT_CODE,
    Reason.TRADING_HALTED: 403,
    Reason.TRADING_REDUCING: 403,
    Reason.ACTION_FORBIDDEN: 403,
    Reason.UNKNOWN_ENDPOINT: 403,
    Reason.UNKNOWN_ACCOUNT: 403,
    Reason.ORDER_RATE_EXCEEDED: _RATE_CODE,
}


def violation_code(violation: Violation) -> int:
    """The BingX error code a block with this violation answers with (for docs and tests)."""
    return _CODES.get(violation.reason, _DEFAULT_CODE)


# withdrawals and wallet moves (/openApi/wallets/...), transfers (api/v3/post/asset/transfer,
# api/asset/v1/transfer, account/transfer/...), sub-accounts, API-key management
_FORBIDDEN_PARTS = ("withdraw", "transfer", "subaccount", "apikey")
# BingX's other order paths (ccxt's table: POST only), which riskwall does not read: refused whatever the method,
# a GET there too (a server that took it for the POST would place an order nobody checked)
_OTHER_WRITES = frozenset({
    "/openapi/swap/v1/trade/reverse",
    "/openapi/spot/v1/trade/order",
    "/openapi/spot/v1/trade/batchorders",
    "/openapi/spot/v1/trade/order/cancelreplace",
    "/openapi/spot/v1/oco/order",
    "/openapi/cswap/v1/trade/order",
    "/openapi/cswap/v1/trade/closeallpositions",
    "/openapi/cswap/v1/trade/positionmargin",
    "/openapi/copytrading/v1/spot/trader/sellorder",
    "/openapi/copytrading/v1/swap/trace/closetrackorder",
    "/openapi/copytrading/v1/swap/trace/settpsl",
})
# areas that also hold reads clients make (ccxt's currency list is under /wallets/): only writes are refused
_FORBIDDEN_WRITE_PARTS = ("/wallets/", "/agent/")


def _is_forbidden(path: str) -> bool:
    return any(part in path for part in _FORBIDDEN_PARTS)


def _is_forbidden_write(path: str) -> bool:
    return any(part in path for part in _FORBIDDEN_WRITE_PARTS)


def _params(request: HttpRequest) -> Params:
    """Query and form body merged, as BingX reads them (base.form_params)."""
    return form_params(request, "BingX", SPELLINGS)




def _symbol(raw: object) -> tuple[str, str | None]:
    native = (text_field("symbol", raw, SYMBOL) or "").upper()
    return native, unified_symbol(native)


def unified_symbol(native: str) -> str | None:
    """`BTC-USDT` → `BTC/USDT:USDT` (learned from contracts answers where seen; linear: settle = quote)."""
    known = CATALOG.lookup(VENUE, native)
    if known is not None:
        return known.unified
    base, sep, quote = native.partition("-")
    if not sep or not base or not quote:
        return None
    return f"{base}/{quote}:{quote}"


def _position_side(raw: object, *, required: bool = True) -> PositionSide:
    """An order's `positionSide`, which a new order must name: BingX books an order without one as LONG in hedge
    mode (its API: "the default is LONG"), and a limit held per position side would count it on the wrong one.
    Read as BOTH only where it is not required (an amend, whose order keeps its own)."""
    if required and (raw is None or raw == ""):
        raise FieldError("positionSide is missing: BingX books an order without it as LONG in hedge mode; send "
                         "BOTH in one-way mode, LONG or SHORT in hedge mode")
    return POSITION_SIDES[enum_field("positionSide", raw, frozenset(POSITION_SIDES), default="BOTH") or "BOTH"]


def _client_id(params: Mapping[str, Any]) -> str | None:
    """The order's client id, which BingX takes as `clientOrderID` (what ccxt sends) or `clientOrderId`. Which one it
    reads when both are sent is not documented: an amend would change another order than the one checked, and a
    new order be named otherwise than the store holds it, so both together are refused."""
    if "clientOrderID" in params and "clientOrderId" in params:  # even empty: an empty one may be the one read
        raise FieldError("clientOrderID and clientOrderId are both given: which one BingX reads is not known")
    return text_field("clientOrderID", params.get("clientOrderID", params.get("clientOrderId")), CLIENT_ID,
                      required=False)


# the orders BingX attaches as a stop-loss and a take-profit (ccxt's defaults: STOP_MARKET, TAKE_PROFIT_MARKET)
_ATTACHED_TYPES = {"stopLoss": frozenset({"STOP_MARKET", "STOP"}),
                   "takeProfit": frozenset({"TAKE_PROFIT_MARKET", "TAKE_PROFIT"})}


def _attached(name: str, raw: object, quantity: Decimal | None) -> None:
    """`stopLoss` / `takeProfit`: a JSON object for a closing order attached to this one (ccxt repeats the order's
    size in its `quantity`). It is read as closing what the order opens, so only the stop types BingX attaches
    are taken, no larger than the order: another type, or a size the order does not open, could be an order of
    its own that nothing here counts."""
    if raw is None or raw == "":
        return
    if isinstance(raw, str):
        raw = strict_json(raw, name, plain_numbers=False)
    if not isinstance(raw, dict):
        raise FieldError(f"{name} is not a JSON object")
    enum_field(f"{name}.type", raw.get("type"), _ATTACHED_TYPES[name])
    for field in ("stopPrice", "price"):
        decimal_field(f"{name}.{field}", raw.get(field), required=False)
    size = decimal_field(f"{name}.quantity", raw.get("quantity"), required=False)
    if size is not None and (quantity is None or size > quantity):
        raise FieldError(f"{name}.quantity is larger than the order's")


def _leg(params: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    symbol, unified = _symbol(params.get("symbol"))
    side = SIDES[enum_field("side", params.get("side"), frozenset(SIDES)) or ""]
    order_type = enum_field("type", params.get("type"), ORDER_TYPES) or ""
    position_side = _position_side(params.get("positionSide"))
    if params.get("quoteOrderQty") not in (None, ""):
        raise FieldError("quoteOrderQty is not supported; send quantity in the base coin")
    close_position = bool_field("closePosition", params.get("closePosition"))
    quantity = decimal_field("quantity", params.get("quantity"), required=not close_position)
    trailing = order_type in TRAILING_TYPES
    if trailing:
        if params.get("price") in (None, "") and params.get("priceRate") in (None, ""):
            raise FieldError("price or priceRate is missing")
        decimal_field("price", params.get("price"), required=False)
        decimal_field("priceRate", params.get("priceRate"), required=False)
        price = None
    else:
        # a MARKET order's price is not the venue's to use: a decoy must not set the notional
        price = decimal_field("price", params.get("price"), required=True) if order_type in LIMIT_TYPES else None
    trigger = decimal_field("stopPrice", params.get("stopPrice"), required=False) if (
        order_type in TRIGGERED_TYPES) else None
    activation = decimal_field("activationPrice", params.get("activationPrice"), required=False) if (
        trailing) else None
    tif = enum_field("timeInForce", params.get("timeInForce"), TIME_IN_FORCE, default="-")
    _attached("stopLoss", params.get("stopLoss"), quantity)
    _attached("takeProfit", params.get("takeProfit"), quantity)
    client_id = _client_id(params)
    return OrderIntent(
        venue=VENUE,
        action=Action.NEW,
        endpoint=endpoint,
        account=account,
        symbol=symbol,
        unified_symbol=unified,
        side=side,
        position_side=position_side,
        quantity=quantity,
        price=price,
        trigger_price=trigger if trigger is not None else activation,
        order_type=order_type,
        time_in_force=None if tif == "-" else tif,
        reduce_only=bool_field("reduceOnly", params.get("reduceOnly")),
        close_position=close_position,
        client_order_id=client_id,
    )


def _cancel_replace_leg(params: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    """cancelReplace: cancels `cancelOrderId` (or `cancelClientOrderID`) and places a complete new order.

    Read as a NEW order: whether the cancel succeeded is known only afterwards (`cancelReplaceMode`), so the
    old order's exposure stays counted until an answer or a listing ends it."""
    text_field("cancelOrderId", params.get("cancelOrderId"), ORDER_ID, required=False)
    text_field("cancelClientOrderID", params.get("cancelClientOrderID"), CLIENT_ID, required=False)
    return _leg(params, account, endpoint)


def _amend_leg(params: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    """`/openApi/swap/v1/trade/amend`: a new size (and price) for a resting order; side only when sent."""
    symbol, unified = _symbol(params.get("symbol"))
    order_id = text_field("orderId", params.get("orderId"), ORDER_ID, required=False)
    client_id = _client_id(params)
    if order_id is None and client_id is None:
        raise FieldError("orderId or clientOrderId is missing")
    if order_id is not None and client_id is not None:
        # which one BingX reads first is not documented: the order checked may not be the one amended
        raise FieldError("orderId and clientOrderId are both given: name the amended order by one of them")
    raw_side = enum_field("side", params.get("side"), frozenset(SIDES), default="-")
    return OrderIntent(
        venue=VENUE,
        action=Action.AMEND,
        endpoint=endpoint,
        account=account,
        symbol=symbol,
        unified_symbol=unified,
        side=None if raw_side == "-" else SIDES[raw_side or ""],
        position_side=_position_side(params.get("positionSide"), required=False),
        quantity=decimal_field("quantity", params.get("quantity")),
        price=decimal_field("price", params.get("price"), required=False),
        order_type="LIMIT",
        order_id=order_id,
        client_order_id=client_id,
        type_unknown=True,  # (the amended order may be a STOP_MARKET or TRIGGER_MARKET one, which ignores `price`)
        resolve=on_the_amended_order,  # modify keeps the order's own sides
    )


def _twap(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    """A TWAP order slices `totalAmount` (base coin) into market orders over time: one order of that size."""
    symbol, unified = _symbol(params.get("symbol"))
    side = SIDES[enum_field("side", params.get("side"), frozenset(SIDES)) or ""]
    return (OrderIntent(
        venue=VENUE,
        action=Action.NEW,
        endpoint=endpoint,
        account=account,
        symbol=symbol,
        unified_symbol=unified,
        side=side,
        position_side=_position_side(params.get("positionSide")),
        quantity=decimal_field("totalAmount", params.get("totalAmount")),
        trigger_price=decimal_field("triggerPrice", params.get("triggerPrice"), required=False),
        order_type="TWAP",
    ),)


def _close_all(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    """closeAllPositions / closePosition: close a symbol's positions at market, whatever their direction.

    Read as two closing legs (a SELL that closes a long, a BUY that closes a short): both only reduce. A close
    without a symbol (every position of the account, or one `positionId`) is one closing intent naming no
    instrument, which every symbol-scoped trading state of the account covers."""
    text_field("positionId", params.get("positionId"), ORDER_ID, required=False)
    if params.get("symbol") in (None, ""):
        # every position of the account (or one positionId): only reduces, and every symbol-scoped halt of
        # the account applies to it (engine: an intent naming no instrument touches them all)
        return (OrderIntent(VENUE, Action.NEW, endpoint, account, order_type="MARKET", reduce_only=True,
                            close_position=True),)
    symbol, unified = _symbol(params.get("symbol"))
    return tuple(
        OrderIntent(VENUE, Action.NEW, endpoint, account, symbol, unified, side=side, order_type="MARKET",
                    reduce_only=True, close_position=True)
        for side in (Side.SELL, Side.BUY)
    )


def _batch(leg: LegParser) -> Parser:
    def parse(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
        raw = params.get("batchOrders")
        if not raw:
            raise FieldError("batchOrders is missing")
        legs = strict_json(raw, "batchOrders", known_fields=SPELLINGS, exact_spelling=True, plain_numbers=False)
        return tuple(leg({k: _text(v) for k, v in item.items()}, account, endpoint)
                     for item in order_list(legs, "batchOrders", MAX_BATCH_LEGS))

    return parse


def _text(value: Any) -> Any:
    """A JSON leg's scalars as the venue reads them: booleans as true/false, numbers kept exact."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _leverage(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    symbol, unified = _symbol(params.get("symbol"))
    position_side = POSITION_SIDES[enum_field("side", params.get("side"), frozenset(POSITION_SIDES)) or ""]
    leverage = decimal_field("leverage", params.get("leverage"))
    if leverage is not None and (leverage != leverage.to_integral_value() or leverage > MAX_LEVERAGE):
        raise FieldError(f"leverage must be a whole number from 1 to {MAX_LEVERAGE}")
    return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, symbol, unified,
                        position_side=position_side, leverage=leverage),)


def _margin_type(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    symbol, unified = _symbol(params.get("symbol"))
    mode = enum_field("marginType", params.get("marginType"), frozenset(MARGIN_TYPES)) or ""
    return (OrderIntent(VENUE, Action.SET_MARGIN_MODE, endpoint, account, symbol, unified,
                        margin_mode=MARGIN_TYPES[mode]),)


def _position_mode(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    raw = params.get("dualSidePosition")
    if raw in (None, ""):
        raise FieldError("dualSidePosition is missing")
    return (OrderIntent(VENUE, Action.SET_POSITION_MODE, endpoint, account,
                        hedge_mode=bool_field("dualSidePosition", raw)),)


_SWAP1 = "/openapi/swap/v1"
_SWAP2 = "/openapi/swap/v2"
_ENDPOINTS: dict[RouteKey, Route] = {
    ("POST", f"{_SWAP2}/trade/order"): Route(Action.NEW, one_leg(_leg)),
    ("POST", f"{_SWAP2}/trade/batchorders"): Route(Action.NEW, _batch(_leg)),
    ("POST", f"{_SWAP1}/trade/cancelreplace"): Route(Action.NEW, one_leg(_cancel_replace_leg)),
    ("POST", f"{_SWAP1}/trade/batchcancelreplace"): Route(Action.NEW, _batch(_cancel_replace_leg)),
    ("POST", f"{_SWAP1}/twap/order"): Route(Action.NEW, _twap),
    ("POST", f"{_SWAP2}/trade/closeallpositions"): Route(Action.NEW, _close_all),
    ("POST", f"{_SWAP1}/trade/closeposition"): Route(Action.NEW, _close_all),
    ("POST", f"{_SWAP1}/trade/amend"): Route(Action.AMEND, one_leg(_amend_leg)),
    # validated by BingX but never sent to matching: no risk
    ("POST", f"{_SWAP2}/trade/order/test"): Route(Action.READ),
    ("DELETE", f"{_SWAP2}/trade/order"): Route(Action.CANCEL),
    ("DELETE", f"{_SWAP2}/trade/batchorders"): Route(Action.CANCEL),
    ("POST", f"{_SWAP1}/twap/cancelorder"): Route(Action.CANCEL),
    ("DELETE", f"{_SWAP2}/trade/allopenorders"): Route(Action.CANCEL_ALL),
    # the dead-man switch only ever cancels
    ("POST", f"{_SWAP2}/trade/cancelallafter"): Route(Action.CANCEL_ALL),
    # inverse orders are not read (UNKNOWN), but their cancels can only lower risk
    ("DELETE", "/openapi/cswap/v1/trade/cancelorder"): Route(Action.CANCEL),
    ("DELETE", "/openapi/cswap/v1/trade/allopenorders"): Route(Action.CANCEL_ALL),
    ("POST", "/openapi/cswap/v1/trade/allopenorders"): Route(Action.CANCEL_ALL),
    ("POST", f"{_SWAP2}/trade/leverage"): Route(Action.SET_LEVERAGE, _leverage),
    ("POST", f"{_SWAP2}/trade/margintype"): Route(Action.SET_MARGIN_MODE, _margin_type),
    ("POST", f"{_SWAP2}/trade/positionmargin"): Route(Action.SET_MARGIN_MODE),
    ("POST", f"{_SWAP1}/trade/assetmode"): Route(Action.SET_MARGIN_MODE),
    ("POST", f"{_SWAP1}/trade/autoaddmargin"): Route(Action.SET_MARGIN_MODE),
    ("POST", f"{_SWAP1}/positionside/dual"): Route(Action.SET_POSITION_MODE, _position_mode),
    # the reads BingX serves at write paths (its queries of these settings, as ccxt lists them); a read method at
    # any other write path is refused: ccxt even lists GET trade/batchCancelReplace, which would place orders
    ("GET", f"{_SWAP2}/trade/leverage"): Route(Action.READ),
    ("GET", f"{_SWAP2}/trade/margintype"): Route(Action.READ),
    ("GET", f"{_SWAP1}/trade/assetmode"): Route(Action.READ),
    ("GET", f"{_SWAP1}/positionside/dual"): Route(Action.READ),
    # user-data-stream listen keys: bearer tokens, but managing them moves no money
    ("POST", "/openapi/user/auth/userdatastream"): Route(Action.READ),
    ("PUT", "/openapi/user/auth/userdatastream"): Route(Action.READ),
    ("DELETE", "/openapi/user/auth/userdatastream"): Route(Action.READ),
}


# ---- responses -----------------------------------------------------------------------------------------

type Learner = ScopedLearner


def _order_update(item: Any, parsed: ParsedRequest, reservation_id: str | None) -> OrderUpdate | None:
    """One BingX order object (create, cancel, query, listing) → OrderUpdate."""
    if not isinstance(item, dict) or parsed.account is None or "symbol" not in item or "orderId" not in item:
        return None
    try:
        order_id = str(item["orderId"])
        if not ORDER_ID.fullmatch(order_id):
            return None
        symbol = str(item["symbol"]).upper()
        side = SIDES[str(item["side"])]
        position_side = POSITION_SIDES.get(str(item.get("positionSide", "BOTH")), PositionSide.BOTH)
        status = str(item.get("status", "NEW"))
        original = decimal_field("origQty", _num(item.get("origQty", item.get("quantity"))), allow_zero=True)
        executed = decimal_field("executedQty", _num(item.get("executedQty", "0")), allow_zero=True)
    except (KeyError, FieldError):
        return None
    reduce_only = item.get("reduceOnly") in (True, "true") or item.get("closePosition") in (True, "true")
    reduce_only = reduce_only or closes_hedge_position(side, position_side)
    return OrderUpdate(
        venue=VENUE,
        account=parsed.account,
        symbol=symbol,
        order_id=order_id,
        side=side,
        position_side=position_side,
        original=original or Decimal(0),
        executed=executed or Decimal(0),
        final=status.upper() in FINAL_STATUSES,
        reduce_only=bool(reduce_only),
        reservation_id=reservation_id,
    )


def _num(raw: object) -> object:
    """BingX answers numbers as strings or JSON numbers; render a JSON number as its exact text."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, Decimal):
        return format(raw, "f")
    return raw


def _price(raw: object) -> Decimal | None:
    try:
        return decimal_field("price", _num(raw), required=False)
    except FieldError:
        return None


def _fill_price(item: Any) -> PriceUpdate | None:
    if not isinstance(item, dict) or "symbol" not in item:
        return None
    price = _price(item.get("avgPrice"))
    return None if price is None else PriceUpdate(VENUE, str(item["symbol"]).upper(), price, "last")


def _orders_of(data: Any) -> list[Any]:
    """`{"order": {...}}`, `{"orders": [...]}`, `{"success": [...]}` or a bare list/object."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("orders", "success"):
            if isinstance(data.get(key), list):
                return list(data[key])
        if isinstance(data.get("order"), dict):
            return [data["order"]]
        return [data]
    return []


def _learn_orders(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    items = _orders_of(data)
    reserved = parsed.action.adds_orders
    # legs of an admitted request were reserved as "<decision id>:<leg>"; only an answer that lists every leg
    # can be matched to them by position (a failed leg may be left out of the list)
    matched = reserved and len(items) == len(parsed.intents)
    updates = [
        _order_update(item, parsed, f"{decision_id}:{leg}" if matched else None) for leg, item in enumerate(items)
    ]
    prices = [_fill_price(item) for item in items] if reserved else []
    return ResponseFacts(
        prices=tuple(p for p in prices if p is not None),
        orders=tuple(u for u in updates if u is not None),
    )


def _learn_open_orders(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    if isinstance(data, dict):
        data = data.get("orders")
    if not isinstance(data, list) or parsed.account is None:
        return ResponseFacts()
    read = [_order_update(item, parsed, None) for item in data]
    updates = tuple(u for u in read if u is not None)
    if len(updates) != len(read):
        # an item we could not read may be an open order: a snapshot would finalise it and forget its exposure
        return ResponseFacts(orders=updates)
    symbol = params.get("symbol", "").upper() or None
    return ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, parsed.account, symbol, updates),))


def _learn_cancel_all(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """Cancel-all answers `{"success": [...], "failed": [...]}`: with nothing failed, the symbol's book is empty."""
    if parsed.account is None or not isinstance(data, dict):
        return ResponseFacts()
    cancelled = [_order_update(item, parsed, None) for item in data.get("success") or []]
    updates = tuple(u for u in cancelled if u is not None)
    symbol = params.get("symbol", "").upper()
    if data.get("failed") or not symbol:
        return ResponseFacts(orders=updates)
    return ResponseFacts(orders=updates, open_orders=(OpenOrdersSnapshot(VENUE, parsed.account, symbol, ()),))


def _learn_positions(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """`positionAmt` is a size; LONG rows are ≥ 0, SHORT rows ≤ 0 whatever its sign; BOTH rows keep theirs."""
    if not isinstance(data, list) or parsed.account is None:
        return ResponseFacts()
    positions: list[tuple[str, PositionSide, Decimal]] = []
    prices: list[PriceUpdate] = []
    complete = True
    for item in data:
        if not isinstance(item, dict):
            complete = False
            continue
        try:
            symbol = str(item["symbol"]).upper()
            side = POSITION_SIDES[str(item.get("positionSide", "BOTH"))]
            amount = Decimal(str(_num(item["positionAmt"])))
            if not amount.is_finite():
                complete = False
                continue
        except (KeyError, ArithmeticError, ValueError):
            complete = False
            continue
        if side is PositionSide.LONG:
            amount = abs(amount)
        elif side is PositionSide.SHORT:
            amount = -abs(amount)
        positions.append((symbol, side, amount))
        mark = _price(item.get("markPrice"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, symbol, mark, "mark"))
    asked = params.get("symbol", "").upper() or None
    if asked is not None and complete and read_whole(_SCOPES, _HARMLESS, ("GET", f"{_SWAP2}/user/positions"), params):
        # one symbol asked for and read whole: a position side it does not list is flat (a report of a symbol sets
        # only the positions it names)
        listed = {side for symbol, side, _ in positions if symbol == asked}
        positions += [(asked, side, Decimal(0)) for side in PositionSide if side not in listed]
    report = PositionsReport(VENUE, parsed.account, asked, tuple(positions))
    return ResponseFacts(prices=tuple(prices), positions=(report,))


def _learn_prices(field: str, kind: str) -> Learner:
    def learn(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
        items = data if isinstance(data, list) else [data]
        prices = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("symbol"), str):
                price = _price(item.get(field))
                if price is not None:
                    prices.append(PriceUpdate(VENUE, item["symbol"].upper(), price, kind))
        return ResponseFacts(prices=tuple(prices))

    return learn


def _learn_instruments(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """quote/contracts → unified symbols (`BTC-USDT`, asset BTC, currency USDT → `BTC/USDT:USDT`)."""
    if not isinstance(data, list):
        return ResponseFacts()
    instruments = []
    for item in data:
        if not isinstance(item, dict):
            continue
        native = item.get("symbol")
        if not isinstance(native, str) or not SYMBOL.fullmatch(native):
            continue
        base, _, quote = native.upper().partition("-")
        settle = item.get("currency") if isinstance(item.get("currency"), str) and item.get("currency") else quote
        instruments.append(Instrument(VENUE, native.upper(), f"{base}/{quote}:{str(settle).upper()}"))
    return ResponseFacts(instruments=tuple(instruments))


_LEARNERS: dict[RouteKey, Learner] = {
    ("GET", f"{_SWAP2}/quote/contracts"): _learn_instruments,
    ("POST", f"{_SWAP2}/trade/order"): _learn_orders,
    ("POST", f"{_SWAP2}/trade/batchorders"): _learn_orders,
    ("DELETE", f"{_SWAP2}/trade/order"): _learn_orders,
    ("DELETE", f"{_SWAP2}/trade/batchorders"): _learn_orders,
    ("GET", f"{_SWAP2}/trade/order"): _learn_orders,
    ("GET", f"{_SWAP2}/trade/openorders"): _learn_open_orders,
    ("DELETE", f"{_SWAP2}/trade/allopenorders"): _learn_cancel_all,
    ("GET", f"{_SWAP2}/user/positions"): _learn_positions,
    ("GET", f"{_SWAP2}/quote/premiumindex"): _learn_prices("markPrice", "mark"),
    ("GET", f"{_SWAP2}/quote/ticker"): _learn_prices("lastPrice", "last"),
    ("GET", f"{_SWAP2}/quote/price"): _learn_prices("price", "last"),
    ("GET", f"{_SWAP1}/ticker/price"): _learn_prices("price", "last"),
}

# what narrows no answer: the signature and its timing (docs/venues.md §7)
_HARMLESS = frozenset({"timestamp", "recvWindow", "signature"})
# the query parameters each listing's learner reads as its scope (`TableAdapter.sure_scope`): BingX's own examples
# filter open orders by `type` too, which the learner does not read, so an answer to anything but these teaches
# only the orders and positions it lists
_SYMBOL_SCOPE = frozenset({"symbol"})
_SCOPES: dict[RouteKey, frozenset[str]] = {
    ("GET", f"{_SWAP2}/trade/openorders"): _SYMBOL_SCOPE,
    ("DELETE", f"{_SWAP2}/trade/allopenorders"): _SYMBOL_SCOPE,
    ("GET", f"{_SWAP2}/user/positions"): _SYMBOL_SCOPE,
}

_ROUTES = route_table(_ENDPOINTS, {key: scoped(learner) for key, learner in _LEARNERS.items()})
ADAPTER = BingX()
