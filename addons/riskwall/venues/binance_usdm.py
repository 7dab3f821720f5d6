"""Binance USDⓈ-M futures (fapi): endpoint table, request → intents, response → facts, native rejections.

Facts: docs/venues.md §1. Parameters may travel in the query string, in a form body, or both (ccxt uses
the body, the official SDKs the query); Binance signs their concatenation, so both are read, and a key
that appears twice with different values is refused: the firewall's reading must be the venue's.

COIN-M (dapi) takes the same parameters and answers in the same shapes: the parsers and learners named without a
leading underscore here (`order_leg`, `batch_of`, `learn_orders`, ...) are this module's public surface, which
`binance_coinm` and `binance_frames` build on.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    ClosedOrder,
    Decision,
    EquityUpdate,
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
    FieldError,
    HttpRequest,
    Rejection,
    Route,
    RouteKey,
    ScopedLearner,
    Socket,
    Steering,
    TableAdapter,
    VenueAdapter,
    bool_field,
    decimal_field,
    enum_field,
    equity_update,
    field_spellings,
    form_params,
    lowest_own_price,
    on_the_amended_order,
    one_leg,
    order_list,
    price_or_none,
    route_table,
    scoped,
    strict_json,
    text_field,
    venue_time_ms,
)

VENUE = Venue.BINANCEUSDM

SYMBOL = re.compile(r"[A-Za-z0-9_]{1,32}")
CLIENT_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")
ORDER_ID = re.compile(r"[0-9]{1,20}")
SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
POSITION_SIDES = {"BOTH": PositionSide.BOTH, "LONG": PositionSide.LONG, "SHORT": PositionSide.SHORT}
# enum_field's choices, made once rather than per field read
_SIDE_NAMES = frozenset(SIDES)
_POSITION_SIDE_NAMES = frozenset(POSITION_SIDES)
ORDER_TYPES = frozenset(
    {"LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
)
# every parameter name the order, amend, cancel and settings endpoints document: a key spelled like one of them
# in other letter case is refused (a server matching names case-insensitively would read it as that field)
SPELLINGS = field_spellings((
    "symbol", "side", "positionSide", "type", "timeInForce", "quantity", "reduceOnly", "price", "newClientOrderId",
    "stopPrice", "closePosition", "activationPrice", "activatePrice", "callbackRate", "workingType", "priceProtect",
    "newOrderRespType", "priceMatch", "selfTradePreventionMode", "goodTillDate", "recvWindow", "timestamp",
    "signature", "batchOrders", "orderId", "origClientOrderId", "orderIdList", "origClientOrderIdList", "leverage",
    "marginType", "dualSidePosition", "multiAssetsMargin", "amount", "triggerPrice", "algoType", "clientAlgoId",
    "algoId", "countdownTime", "listenKey", "pair", "startTime", "endTime", "limit",
))
# the order types that carry a limit price, and those that carry a trigger (stopPrice; triggerPrice for algo)
PRICED_TYPES = frozenset({"LIMIT", "STOP", "TAKE_PROFIT"})
TRIGGERED_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"})
# the only types Binance takes `closePosition` with (docs/venues.md §1.3)
CLOSING_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "GTX", "GTD", "RPI"})
MARGIN_TYPES = frozenset({"ISOLATED", "CROSSED"})
FINAL_STATUSES = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH", "FINISHED"})
MAX_BATCH_LEGS = 5  # Binance's own limit for batchOrders
MAX_LEVERAGE = Decimal(125)

type Params = dict[str, str]
type LegParser = Callable[[Mapping[str, Any], str | None, str], OrderIntent]


# The WebSocket API (order entry, USDⓈ-M and, on the shared testnet host, COIN-M) and the streams: market data
# and user data (listen key in the path or the query) under /ws, /stream and their public/market/private forms.
SOCKETS: tuple[tuple[str, Socket], ...] = (
    ("/ws-fapi/v1", Socket.ORDERS),
    ("/ws-dapi/v1", Socket.ORDERS),
    ("/ws/*", Socket.STREAM),
    ("/stream/*", Socket.STREAM),
    ("/public/*", Socket.STREAM),
    ("/market/*", Socket.STREAM),
    ("/private/*", Socket.STREAM),
    ("/pm/*", Socket.STREAM),
)


class BinanceUsdm(TableAdapter):
    venue: Venue = VENUE
    default_hosts: tuple[str, ...] = (
        "fapi.binance.com",
        "testnet.binancefuture.com",
        "demo-fapi.binance.com",
        # wallet and portfolio-margin hosts: withdrawals and transfers must be refused wherever they are sent
        "api.binance.com",
        "papi.binance.com",
        # the WebSocket API (order entry) and the market and user-data streams
        "ws-fapi.binance.com",
        "fstream.binance.com",
        "fstream.binancefuture.com",
    )
    key_header = "X-MBX-APIKEY"
    # hosts under these that no adapter lists are Binance's too (COIN-M paths are handed to that adapter)
    domains: tuple[str, ...] = ("binance.com", "binancefuture.com", "binance.me")
    secret_fields: frozenset[str] = frozenset({"signature", "x-mbx-apikey", "listenkey", "apikey"})
    sockets = SOCKETS

    def __init__(self) -> None:
        super().__init__(_ROUTES, params, is_forbidden, handoff=_coinm_for, scopes=_SCOPES, harmless=HARMLESS)

    def rejection(self, decision: Decision, parsed: ParsedRequest | None = None) -> Rejection:
        violation = decision.deciding
        code, privilege = _CODES.get(violation.reason if violation else Reason.INTERNAL_ERROR, (-2010, False))
        # "has no operation privilege" is the phrase ccxt maps to PermissionDenied on every URL, so a kill
        # switch or forbidden endpoint reads as a permission problem, not as a broken order
        message = STEERING.message(violation, "account has no operation privilege: " if privilege else "")
        body = orjson.dumps({"code": code, "msg": message})
        return Rejection(400, body)


# Codes chosen so ccxt raises an order-class exception on a real fapi URL and on a custom base URL alike
# (docs/venues.md §1.5): -2010 InvalidOrder, -1121 BadSymbol, -4028 BadRequest, -1015 RateLimitExceeded. All are in
# ccxt's common map, which is also the only one its WebSocket handler reads. A price collar answers -2010 (not
# -4131 PERCENT_PRICE, OperationRejected on fapi URLs only and ExchangeError elsewhere), a margin or position
# mode the policy refuses -1130 "Data sent for a parameter is not valid" (BadRequest; not -4046/-4059, which
# ccxt reads as "already set", nor -4047/-4067, which tell a bot to cancel its orders and try again). A duplicate
# order answers -2010 too (InvalidOrder): not -4116 "ClientOrderId is duplicated", which is absent from the common
# map (plain ExchangeError on a socket and on custom URLs) and tells a bot its order may already exist. Too many open
# orders answers -2010 as well: not -2025 "Reach max open order limit", which ccxt maps to OperationRejected (not an
# order class) on fapi URLs only and which is absent from the common map (ExchangeError on sockets, custom URLs).
_CODES: dict[Reason, tuple[int, bool]] = {
    Reason.SYMBOL_NOT_ALLOWED: (-1121, False),
    Reason.LEVERAGE_EXCEEDS_MAX: (-4028, False),
    Reason.PRICE_OUTSIDE_COLLAR: (-2010, False),
    Reason.MARGIN_MODE_NOT_ALLOWED: (-1130, False),
    Reason.DUPLICATE_ORDER: (-2010, False),
    Reason.OPEN_ORDERS_EXCEED_MAX: (-2010, False),
    Reason.ORDER_RATE_EXCEEDED: (-1015, False),
    Reason.TRADING_HALTED: (-2010, True),
    Reason.TRADING_REDUCING: (-2010, True),
    Reason.ACTION_FORBIDDEN: (-1002, True),
    Reason.UNKNOWN_ENDPOINT: (-1002, True),
    Reason.UNKNOWN_ACCOUNT: (-1002, True),
}


# phrases ccxt matches anywhere in a Binance error to pick an exception class (docs/venues.md §1.5)
STEERING = Steering("lot_size", "price_filter", "price * qty is zero or less", "max_position",
                    "percent_price_by_side", "has no operation privilege")


def _coinm_for(path: str) -> VenueAdapter | None:
    """testnet.binancefuture.com serves fapi and dapi alike, and the host map names one venue per host (this
    one): the path prefix decides, and COIN-M paths (REST and WebSocket order entry) go to that adapter."""
    if path != "/dapi" and not path.startswith(("/dapi/", "/ws-dapi")):
        return None
    # imported on use: binance_coinm reads requests with this module's functions
    from riskwall.venues.binance_coinm import ADAPTER as COINM

    return COINM


FORBIDDEN_PARTS = ("withdraw", "transfer", "sub-account", "apirestrictions", "apikey", "capital/deposit/credit")


def is_forbidden(path: str) -> bool:
    """Wallet and account-management paths: withdrawals, transfers, sub-accounts, API-key settings."""
    if not path.startswith(("/sapi/", "/wapi/", "/papi/", "/fapi/", "/api/")):
        return False
    return any(part in path for part in FORBIDDEN_PARTS)


def params(request: HttpRequest) -> Params:
    """Query and form body merged, as Binance reads them (base.form_params)."""
    return form_params(request, "Binance", SPELLINGS)


def _leg(params: Mapping[str, Any], account: str | None, endpoint: str, *, algo: bool = False) -> OrderIntent:
    symbol = text_field("symbol", params.get("symbol"), SYMBOL)
    side = SIDES[enum_field("side", params.get("side"), _SIDE_NAMES) or ""]
    order_type = enum_field("type", params.get("type"), ORDER_TYPES)
    position_side = POSITION_SIDES[
        enum_field("positionSide", params.get("positionSide"), _POSITION_SIDE_NAMES, default="BOTH") or "BOTH"
    ]
    close_position = bool_field("closePosition", params.get("closePosition"))
    if close_position and order_type not in CLOSING_TYPES:
        # an order that closes whatever is open is exempt from every limit: only where Binance reads it so
        raise FieldError("closePosition is taken only with STOP_MARKET or TAKE_PROFIT_MARKET")
    quantity = decimal_field("quantity", params.get("quantity"), required=not close_position)
    price_match = params.get("priceMatch")
    # a reference price comes only from the fields the venue uses for the order's type: a decoy `price` on a
    # MARKET order or `stopPrice` on a LIMIT one must not set the notional the limits are measured at
    price = None
    if order_type in PRICED_TYPES:
        price = decimal_field("price", params.get("price"), required=not price_match)
    # a trailing stop fills wherever the market has trailed to: its activation price is no trigger for the
    # notional, but an inverse buy's contracts can fill as low as it (`activation_price`)
    trigger_name = "triggerPrice" if algo else "stopPrice"
    trigger = decimal_field(trigger_name, params.get(trigger_name), required=False) if (
        order_type in TRIGGERED_TYPES) else None
    activation = callback = None
    if order_type == "TRAILING_STOP_MARKET":
        # the order endpoint's name, and the algo endpoint's: the lower of any given
        activation = lowest_own_price(None, *(decimal_field(name, params.get(name), required=False)
                                              for name in ("activationPrice", "activatePrice")))
        callback = decimal_field("callbackRate", params.get("callbackRate"), required=False)
        if callback is not None and callback >= 100:
            raise FieldError("callbackRate must be below 100 (percent)")
    tif = enum_field("timeInForce", params.get("timeInForce"), TIME_IN_FORCE, default="-")
    client_id = text_field(
        "clientAlgoId" if algo else "newClientOrderId",
        params.get("clientAlgoId" if algo else "newClientOrderId"),
        CLIENT_ID,
        required=False,
    )
    return OrderIntent(
        venue=VENUE,
        action=Action.NEW,
        endpoint=endpoint,
        account=account,
        symbol=(symbol or "").upper(),
        unified_symbol=CATALOG.unified(VENUE, (symbol or "").upper()),
        side=side,
        position_side=position_side,
        quantity=quantity,
        price=price,
        trigger_price=trigger,
        order_type=order_type,
        time_in_force=None if tif == "-" else tif,
        reduce_only=bool_field("reduceOnly", params.get("reduceOnly")),
        close_position=close_position,
        client_order_id=client_id,
        activation_price=activation,
        callback_pct=callback,
        kind="algo" if algo else "order",  # openAlgoOrders lists algo orders, openOrders the rest
        triggers_into=_triggers_into("algo") if algo else None,
    )


def amend_leg(params: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    symbol = text_field("symbol", params.get("symbol"), SYMBOL)
    side = SIDES[enum_field("side", params.get("side"), _SIDE_NAMES) or ""]
    order_id = text_field("orderId", params.get("orderId"), ORDER_ID, required=False)
    client_id = text_field("origClientOrderId", params.get("origClientOrderId"), CLIENT_ID, required=False)
    if order_id is None and client_id is None:
        raise FieldError("orderId or origClientOrderId is missing")
    return OrderIntent(
        venue=VENUE,
        action=Action.AMEND,
        endpoint=endpoint,
        account=account,
        symbol=(symbol or "").upper(),
        unified_symbol=CATALOG.unified(VENUE, (symbol or "").upper()),
        side=side,
        position_side=POSITION_SIDES[
            enum_field("positionSide", params.get("positionSide"), _POSITION_SIDE_NAMES, default="BOTH")
            or "BOTH"
        ],
        quantity=decimal_field("quantity", params.get("quantity")),
        price=decimal_field("price", params.get("price"), required=not params.get("priceMatch")),
        order_type="LIMIT",
        order_id=order_id,
        client_order_id=client_id,
        resolve=on_the_amended_order,  # modify keeps the order's own sides
    )


def batch_of(leg: LegParser) -> Callable[[Params, str | None, str], tuple[OrderIntent, ...]]:
    def parse(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
        raw = params.get("batchOrders")
        if not raw:
            raise FieldError("batchOrders is missing")
        legs = strict_json(raw, "batchOrders", known_fields=SPELLINGS, exact_spelling=True, plain_numbers=False)
        return tuple(leg(item, account, endpoint) for item in order_list(legs, "batchOrders", MAX_BATCH_LEGS))

    return parse


def parse_leverage(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    symbol = text_field("symbol", params.get("symbol"), SYMBOL)
    leverage = decimal_field("leverage", params.get("leverage"))
    if leverage is not None and (leverage != leverage.to_integral_value() or leverage > MAX_LEVERAGE):
        raise FieldError("leverage must be a whole number from 1 to 125")
    native = (symbol or "").upper()
    return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, native, CATALOG.unified(VENUE, native),
                        leverage=leverage),)


def parse_margin_type(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    symbol = text_field("symbol", params.get("symbol"), SYMBOL)
    mode = enum_field("marginType", params.get("marginType"), MARGIN_TYPES)
    native = (symbol or "").upper()
    return (OrderIntent(VENUE, Action.SET_MARGIN_MODE, endpoint, account, native, CATALOG.unified(VENUE, native),
                        margin_mode=MarginMode(mode) if mode else None),)


def parse_position_mode(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    dual = bool_field("dualSidePosition", params.get("dualSidePosition"))
    return (OrderIntent(VENUE, Action.SET_POSITION_MODE, endpoint, account, hedge_mode=dual),)


def no_intent(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    return ()


def order_leg(params: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    return _leg(params, account, endpoint)


def algo_leg(params: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    return _leg(params, account, endpoint, algo=True)


_ENDPOINTS: dict[RouteKey, Route] = {
    ("POST", "/fapi/v1/order"): Route(Action.NEW, one_leg(order_leg)),
    ("POST", "/fapi/v1/algoorder"): Route(Action.NEW, one_leg(algo_leg)),
    ("POST", "/fapi/v1/batchorders"): Route(Action.NEW, batch_of(order_leg)),
    ("PUT", "/fapi/v1/order"): Route(Action.AMEND, one_leg(amend_leg)),
    ("PUT", "/fapi/v1/batchorders"): Route(Action.AMEND, batch_of(amend_leg)),
    # validated by Binance but never sent to matching: no risk
    ("POST", "/fapi/v1/order/test"): Route(Action.READ),
    ("DELETE", "/fapi/v1/order"): Route(Action.CANCEL),
    ("DELETE", "/fapi/v1/batchorders"): Route(Action.CANCEL),
    ("DELETE", "/fapi/v1/algoorder"): Route(Action.CANCEL),
    ("DELETE", "/fapi/v1/allopenorders"): Route(Action.CANCEL_ALL),
    ("DELETE", "/fapi/v1/algoopenorders"): Route(Action.CANCEL_ALL),
    # the dead-man switch only ever cancels
    ("POST", "/fapi/v1/countdowncancelall"): Route(Action.CANCEL_ALL),
    ("POST", "/fapi/v1/leverage"): Route(Action.SET_LEVERAGE, parse_leverage),
    ("POST", "/fapi/v1/margintype"): Route(Action.SET_MARGIN_MODE, parse_margin_type),
    ("POST", "/fapi/v1/positionside/dual"): Route(Action.SET_POSITION_MODE, parse_position_mode),
    ("POST", "/fapi/v1/multiassetsmargin"): Route(Action.SET_MARGIN_MODE, no_intent),
    ("POST", "/fapi/v1/positionmargin"): Route(Action.SET_MARGIN_MODE, no_intent),
    # user-data-stream keys: bearer tokens, but managing them moves no money
    ("POST", "/fapi/v1/listenkey"): Route(Action.READ),
    ("PUT", "/fapi/v1/listenkey"): Route(Action.READ),
    ("DELETE", "/fapi/v1/listenkey"): Route(Action.READ),
}


# ---- responses -----------------------------------------------------------------------------------------

type Learner = ScopedLearner


def _order_update(item: Any, parsed: ParsedRequest, reservation_id: str | None) -> OrderUpdate | None:
    """One order object of Binance's (order, algo order, batch leg, cancel answer) → OrderUpdate."""
    if not isinstance(item, dict) or parsed.account is None or "code" in item or "symbol" not in item:
        return None
    try:
        is_algo = "algoId" in item
        order_id = f"algo:{item['algoId']}" if is_algo else str(item["orderId"])
        symbol = str(item["symbol"]).upper()
        side = SIDES[str(item["side"])]
        position_side = POSITION_SIDES.get(str(item.get("positionSide", "BOTH")), PositionSide.BOTH)
        status = str(item.get("algoStatus" if is_algo else "status", "NEW"))
        original = decimal_field("origQty", item.get("origQty", item.get("quantity")), allow_zero=True)
        executed = decimal_field("executedQty", item.get("executedQty", "0"), allow_zero=True)
    except (KeyError, FieldError):
        return None
    reduce_only = bool(item.get("reduceOnly") in (True, "true") or item.get("closePosition") in (True, "true"))
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
        final=status in FINAL_STATUSES,
        reduce_only=reduce_only,
        reservation_id=reservation_id,
        # a finished algo order triggered: the regular order it placed holds the fills (no executedQty here)
        fills_elsewhere=_triggers_into("algo") if is_algo and status == "FINISHED" else None,
        kind="algo" if is_algo else "order",
        venue_ms=venue_time_ms(item.get("updateTime")),
    )


def _fill_price(item: Any) -> PriceUpdate | None:
    if not isinstance(item, dict):
        return None
    try:
        price = decimal_field("avgPrice", item.get("avgPrice"), required=False)
    except FieldError:
        return None
    if price is None or "symbol" not in item:
        return None
    return PriceUpdate(VENUE, str(item["symbol"]).upper(), price, "last")


def learn_orders(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    items = data if isinstance(data, list) else [data]
    # legs of an admitted request were reserved as "<decision id>:<leg>"; a batch answers in request order
    reserved = parsed.action.adds_orders
    updates = [
        _order_update(item, parsed, f"{decision_id}:{leg}" if reserved else None) for leg, item in enumerate(items)
    ]
    prices = [_fill_price(item) for item in items] if reserved else []
    return ResponseFacts(
        prices=tuple(p for p in prices if p is not None),
        orders=tuple(u for u in updates if u is not None),
        closed=tuple(c for c in (_algo_cancel_answer(item, parsed) for item in items) if c is not None),
    )


def _algo_cancel_answer(item: Any, parsed: ParsedRequest) -> ClosedOrder | None:
    """`DELETE /fapi/v1/algoOrder` answers `{"algoId": 1, "code": "200", "msg": "success"}`: ids only."""
    if not isinstance(item, dict) or parsed.account is None or parsed.action is not Action.CANCEL:
        return None
    if "algoId" not in item or str(item.get("code")) != "200":
        return None
    # an algo order is cancelled only before it triggers: it placed no order, so nothing filled
    return ClosedOrder(VENUE, parsed.account, f"algo:{item['algoId']}", unfilled=True)


def learn_open_orders(kind: str) -> Learner:
    """A complete listing of one kind of open order (regular at openOrders, conditional at openAlgoOrders)."""

    def learn(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
        if isinstance(data, dict) and kind == "algo":  # openAlgoOrders may wrap its list
            data = data.get("orders", data.get("rows"))
        if not isinstance(data, list) or parsed.account is None:
            return ResponseFacts()
        read = [_order_update(item, parsed, None) for item in data]
        updates = tuple(u for u in read if u is not None)
        if any(u.kind != kind for u in updates):
            return ResponseFacts()  # not the listing we expected: learn nothing rather than the wrong thing
        if len(updates) != len(read):
            # an item we could not read may be an open order: a snapshot would finalise it and forget its exposure
            return ResponseFacts(orders=updates)
        symbol = params.get("symbol", "").upper() or None
        return ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, parsed.account, symbol, updates, kind,
                                                             triggers_into=_triggers_into(kind)),))

    return learn


def learn_cancel_all(kind: str) -> Learner:
    """A successful cancel-all empties the book of that kind for its symbol."""

    def learn(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
        symbol = params.get("symbol", "").upper()
        if parsed.account is None or not symbol or not isinstance(data, dict) or str(data.get("code")) != "200":
            return ResponseFacts()
        # an algo order that triggered before the cancel-all is not among those it ended: what it placed may rest
        return ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, parsed.account, symbol, (), kind,
                                                             triggers_into=_triggers_into(kind)),))

    return learn


def _triggers_into(kind: str) -> str | None:
    """Where the order a triggered order of `kind` lands: an algo order places a regular one, which may rest."""
    return "order" if kind == "algo" else None


def _learn_positions(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    if isinstance(data, dict):  # account endpoints nest the list
        data = data.get("positions")
    if not isinstance(data, list) or parsed.account is None:
        return ResponseFacts()
    positions: list[tuple[str, PositionSide, Decimal]] = []
    prices: list[PriceUpdate] = []
    for item in data:
        if not isinstance(item, dict):
            continue
        try:
            symbol = str(item["symbol"]).upper()
            side = POSITION_SIDES[str(item.get("positionSide", "BOTH"))]
            amount = Decimal(str(item["positionAmt"]))
            if not amount.is_finite():
                continue
        except (KeyError, ArithmeticError, ValueError):
            continue
        positions.append((symbol, side, amount))
        mark = price_or_none(item.get("markPrice"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, symbol, mark, "mark"))
    symbol_filter = params.get("symbol", "").upper() or None
    report = PositionsReport(VENUE, parsed.account, symbol_filter, tuple(positions))
    return ResponseFacts(prices=tuple(prices), positions=(report,))


def _learn_account(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """The account endpoints: its positions, and its equity (`account_equity`) for the daily-loss rule."""
    facts = _learn_positions(data, parsed, params, decision_id)
    equity = account_equity(data, parsed.account)
    return dataclasses.replace(facts, equity=(equity,)) if equity is not None else facts


# the assets USDⓈ-M contracts settle in, each worth a US dollar: every trade's profit or loss moves their balances
SETTLEMENT_ASSETS = frozenset({"USDT", "USDC", "FDUSD", "BUSD"})


def account_equity(data: Any, account: str | None) -> EquityUpdate | None:
    """An account answer's equity (REST `account`, WebSocket `account.status`): the margin balances (wallet balance
    plus the unrealized profit of the positions settled in it) of its settlement assets, summed. Not
    `totalMarginBalance`: in single-asset mode Binance counts USDT alone there (a loss on USDC contracts never
    shows), and in multi-assets mode it adds other collateral at its USD value (a switch of mode would move it by
    that much, past or under the day's first reading). None where an asset's figure does not read, or one is
    listed twice."""
    assets = data.get("assets") if isinstance(data, dict) else None
    if account is None or not isinstance(assets, list):
        return None
    balances: dict[str, Decimal] = {}
    for item in assets:
        name = item.get("asset") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in SETTLEMENT_ASSETS:
            continue
        balance = equity_update(VENUE, account, item.get("marginBalance"), "USDT")
        if balance is None or name in balances:
            return None
        balances[name] = balance.equity
    return EquityUpdate(VENUE, account, sum(balances.values(), Decimal(0)), "USDT") if balances else None


def learn_prices(field: str, kind: str) -> Learner:
    def learn(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
        items = data if isinstance(data, list) else [data]
        prices = []
        for item in items:
            if isinstance(item, dict) and "symbol" in item:
                price = price_or_none(item.get(field))
                if price is not None:
                    prices.append(PriceUpdate(VENUE, str(item["symbol"]).upper(), price, kind))
        return ResponseFacts(prices=tuple(prices))

    return learn


def _learn_instruments(data: Any, parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """exchangeInfo → unified symbols (BTCUSDT → BTC/USDT:USDT; BTCUSDT_250627 → BTC/USDT:USDT-250627)."""
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
        return ResponseFacts()
    instruments = []
    for item in data["symbols"]:
        if not isinstance(item, dict):
            continue
        native, base, quote = item.get("symbol"), item.get("baseAsset"), item.get("quoteAsset")
        settle = item.get("marginAsset") or quote
        if not (isinstance(native, str) and native and all(isinstance(v, str) and v for v in (base, quote, settle))):
            continue
        unified = f"{base}/{quote}:{settle}"
        if "_" in native and item.get("contractType") != "PERPETUAL":
            unified += "-" + native.rsplit("_", 1)[1]
        instruments.append(Instrument(VENUE, native.upper(), unified))
    return ResponseFacts(instruments=tuple(instruments))


_LEARNERS: dict[RouteKey, Learner] = {
    ("GET", "/fapi/v1/exchangeinfo"): _learn_instruments,
    ("POST", "/fapi/v1/order"): learn_orders,
    ("POST", "/fapi/v1/algoorder"): learn_orders,
    ("POST", "/fapi/v1/batchorders"): learn_orders,
    ("PUT", "/fapi/v1/order"): learn_orders,
    ("PUT", "/fapi/v1/batchorders"): learn_orders,
    ("DELETE", "/fapi/v1/order"): learn_orders,
    ("DELETE", "/fapi/v1/batchorders"): learn_orders,
    ("DELETE", "/fapi/v1/algoorder"): learn_orders,
    ("GET", "/fapi/v1/order"): learn_orders,
    ("GET", "/fapi/v1/algoorder"): learn_orders,
    ("GET", "/fapi/v1/openorders"): learn_open_orders("order"),
    ("GET", "/fapi/v1/openalgoorders"): learn_open_orders("algo"),
    ("DELETE", "/fapi/v1/allopenorders"): learn_cancel_all("order"),
    ("DELETE", "/fapi/v1/algoopenorders"): learn_cancel_all("algo"),
    ("GET", "/fapi/v2/positionrisk"): _learn_positions,
    ("GET", "/fapi/v3/positionrisk"): _learn_positions,
    ("GET", "/fapi/v2/account"): _learn_account,
    ("GET", "/fapi/v3/account"): _learn_account,
    ("GET", "/fapi/v1/premiumindex"): learn_prices("markPrice", "mark"),
    ("GET", "/fapi/v1/ticker/price"): learn_prices("price", "last"),
    ("GET", "/fapi/v2/ticker/price"): learn_prices("price", "last"),
    ("GET", "/fapi/v1/ticker/24hr"): learn_prices("lastPrice", "last"),
}

# what narrows no answer: the signature and its timing (docs/venues.md §1.4)
HARMLESS = frozenset({"timestamp", "recvWindow", "signature"})
# the query parameters each listing's learner reads as its scope (`TableAdapter.sure_scope`): any other (a filter
# Binance may honour that the learner does not, `SYMBOL` in other letter case) makes the answer teach only the orders
# and positions it lists, as none that it leaves out can be taken for gone or flat
_SYMBOL_SCOPE = frozenset({"symbol"})
_SCOPES: dict[RouteKey, frozenset[str]] = {
    ("GET", "/fapi/v1/openorders"): _SYMBOL_SCOPE,
    ("GET", "/fapi/v1/openalgoorders"): _SYMBOL_SCOPE,
    ("DELETE", "/fapi/v1/allopenorders"): _SYMBOL_SCOPE,
    ("DELETE", "/fapi/v1/algoopenorders"): _SYMBOL_SCOPE,
    ("GET", "/fapi/v2/positionrisk"): _SYMBOL_SCOPE,
    ("GET", "/fapi/v3/positionrisk"): _SYMBOL_SCOPE,
    ("GET", "/fapi/v2/account"): frozenset(),
    ("GET", "/fapi/v3/account"): frozenset(),
}

_ROUTES = route_table(_ENDPOINTS, {key: scoped(learner) for key, learner in _LEARNERS.items()})
ADAPTER = BinanceUsdm()


def violation_code(violation: Violation) -> int:
    """The Binance error code a block with this violation answers with (for docs and tests)."""
    return _CODES.get(violation.reason, (-2010, False))[0]
