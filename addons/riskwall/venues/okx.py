"""OKX v5 (SWAP and FUTURES): endpoint table, request → intents, response → facts, native rejections.

Facts: docs/venues.md §0 and §4. Private POST parameters travel as a JSON body: an object, or a top-level
array on the batch endpoints (ccxt sends even a single `createOrder` as a one-element `batch-orders` array).
OKX signs `timestamp + METHOD + requestPath + body` over the exact bytes, so the body is read here and never
re-serialised; python-okx sends `json.dumps` with default separators, ccxt compact JSON.

Sizes (`sz`, `newSz`) count CONTRACTS. One contract is worth `ctVal × ctMult` units of `ctValCcy`: the base
currency on linear contracts (BTC-USDT-SWAP: 0.01 BTC), USD on inverse ones (BTC-USD-SWAP: 100 USD). The
contract value comes from `GET /api/v5/public/instruments` answers passing through (learned into the
process-wide catalog), else from the small bundled table below; it is never guessed: an unknown contract
value is a parse error, so the order is blocked. An inverse size is USD: its base quantity is
`sz × ctVal ÷ price` at the price it fills at worst (`contract_price`): a sell's own price; a buy's (and an
amend's, whose side OKX does not send) own price or the store's mark, whichever is lower, so a buy limit far
above the market counts the coin it fills as at the market; an order without a price of its own (market) the
mark. Those wait for the store's view (`OrderIntent.resolve`); with no price at all the order is refused, unless
it can only reduce a position (then it is checked without a size).

Spot and margin orders (`tdMode` cash / spot_isolated, a spot `instId` such as BTC-USDT) and options are not
checked yet: they are refused (action UNKNOWN, with an error naming why), never let through.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import Any, NamedTuple

import orjson

from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    ClosedOrder,
    Decision,
    EquityUpdate,
    Known,
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
    closing_side,
)
from riskwall.venues.base import (
    MAX_AMOUNT,
    UNREADABLE,
    FieldError,
    HttpRequest,
    Rejection,
    Resolver,
    Route,
    RouteKey,
    ScopedLearner,
    Socket,
    Steering,
    TableAdapter,
    Unchecked,
    ascii_digits,
    chained,
    contract_price,
    decimal_field,
    enum_field,
    equity_update,
    inverse_repricing,
    inverse_resizing,
    json_body,
    json_bool_field,
    lowest_own_price,
    read_whole,
    route_table,
    scoped,
    text_field,
    venue_time_ms,
)

VENUE = Venue.OKX

# BTC-USDT-SWAP, BTC-USD-SWAP, BTC-USDT-250627, ETH-USD_UM-SWAP; spot BTC-USDT; options BTC-USD-250627-50000-C
INST_ID = re.compile(r"[A-Za-z0-9_]{1,20}(-[A-Za-z0-9_]{1,20}){1,4}")
CLIENT_ID = re.compile(r"[A-Za-z0-9]{1,32}")  # OKX: alphanumeric, at most 32
ORDER_ID = re.compile(r"[0-9]{1,32}")
CCY = re.compile(r"[A-Za-z0-9]{1,20}")
SIDES = {"buy": Side.BUY, "sell": Side.SELL}
POSITION_SIDES = {"net": PositionSide.BOTH, "long": PositionSide.LONG, "short": PositionSide.SHORT}
# enum_field's choices, made once rather than per field read
_SIDE_NAMES = frozenset(SIDES)
_POSITION_SIDE_NAMES = frozenset(POSITION_SIDES)
TRADE_MODES = frozenset({"cross", "isolated"})
# an order's tdMode (and set-leverage's mgnMode) in the policy's words
MARGIN_MODES = {"cross": MarginMode.CROSSED, "isolated": MarginMode.ISOLATED}
SPOT_TRADE_MODES = frozenset({"cash", "spot_isolated"})
ORDER_TYPES = frozenset({"market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc"})
PRICED_ORDER_TYPES = frozenset({"limit", "post_only", "fok", "ioc"})
TIME_IN_FORCE = {"limit": "GTC", "post_only": "POST_ONLY", "fok": "FOK", "ioc": "IOC", "optimal_limit_ioc": "IOC"}
ALGO_TYPES = frozenset({"conditional", "oco", "trigger", "move_order_stop", "iceberg", "twap", "chase"})
POSITION_MODES = {"long_short_mode": True, "net_mode": False}  # posMode → hedge mode
OPEN_STATES = frozenset({"live", "partially_filled"})
OPEN_ALGO_STATES = frozenset({"live", "pause", "partially_effective"})
# the book where every algo type places its orders (its trigger's, or an iceberg's slices): the regular pending ones
ALGO_PLACES_INTO = "order"
MAX_BATCH_LEGS = 20  # OKX's limit for batch-orders, amend-batch-orders and cancel-batch-orders
DEFAULT_PAGE = 100  # orders-pending and orders-algo-pending answer at most this many rows unless told less
MARKET_PRICE = "-1"  # algo order prices: "-1" means "execute at market"

# Fields each endpoint may carry. Anything else is refused: an unknown field might change what the order means
# (OKX has added unit switches such as `tgtCcy` before), and a firewall must not approve what it did not read.
_ORDER_FIELDS = frozenset({
    "instId", "instIdCode", "tdMode", "ccy", "clOrdId", "tag", "side", "posSide", "ordType", "sz", "px", "pxUsd",
    "pxVol", "reduceOnly", "tgtCcy", "banAmend", "stpId", "stpMode", "quickMgnType", "attachAlgoOrds",
    "attachAlgoClOrdId", "tradeQuoteCcy", "pxAmendType", "isElpTakerAccess",
})
_AMEND_FIELDS = frozenset({
    "instId", "instIdCode", "cxlOnFail", "ordId", "clOrdId", "reqId", "newSz", "newPx", "newPxUsd", "newPxVol",
    "attachAlgoOrds", "newTpTriggerPx", "newTpOrdPx", "newSlTriggerPx", "newSlOrdPx", "newTpTriggerPxType",
    "newSlTriggerPxType", "newTriggerPx", "newOrdPx", "pxAmendType", "newTpTriggerRatio", "newSlTriggerRatio",
})
_ALGO_FIELDS = frozenset({
    "instId", "instIdCode", "tdMode", "ccy", "side", "posSide", "ordType", "sz", "tag", "reduceOnly", "tgtCcy",
    "algoClOrdId", "closeFraction", "tpTriggerPx", "tpTriggerPxType", "tpOrdPx", "tpOrdKind", "slTriggerPx",
    "slTriggerPxType", "slOrdPx", "cxlOnClosePos", "triggerPx", "triggerPxType", "orderPx", "attachAlgoOrds",
    "callbackRatio", "callbackSpread", "activePx", "pxVar", "pxSpread", "szLimit", "pxLimit", "timeInterval",
    "chaseType", "chaseVal", "maxChaseType", "maxChaseVal", "quickMgnType", "tradeQuoteCcy", "pxAmendType",
    "advanceOrdType", "tpTriggerRatio", "slTriggerRatio", "clOrdId",
})
# The fields each algo ordType reads (OKX place-algo-order), beyond those every type reads. A field of another type
# is refused rather than read: OKX reads an algo order's price from its type's own fields, so a decoy `orderPx` on a
# trailing stop or a `tpOrdPx` on a trigger order would value the order at a price it never executes at.
_ALGO_COMMON_FIELDS = frozenset({
    "instId", "instIdCode", "tdMode", "ccy", "side", "posSide", "ordType", "sz", "tag", "reduceOnly", "tgtCcy",
    "algoClOrdId", "clOrdId", "quickMgnType", "tradeQuoteCcy", "pxAmendType",
})
_TP_SL_FIELDS = frozenset({
    "tpTriggerPx", "tpTriggerPxType", "tpOrdPx", "tpOrdKind", "slTriggerPx", "slTriggerPxType", "slOrdPx",
    "cxlOnClosePos", "tpTriggerRatio", "slTriggerRatio", "closeFraction",
})
_ICEBERG_FIELDS = frozenset({"pxVar", "pxSpread", "szLimit", "pxLimit"})
_ALGO_TYPE_FIELDS: dict[str, frozenset[str]] = {
    "conditional": _TP_SL_FIELDS,
    "oco": _TP_SL_FIELDS,
    "trigger": frozenset({"triggerPx", "triggerPxType", "orderPx", "attachAlgoOrds", "advanceOrdType"}),
    "move_order_stop": frozenset({"callbackRatio", "callbackSpread", "activePx"}),
    "chase": frozenset({"chaseType", "chaseVal", "maxChaseType", "maxChaseVal"}),
    "iceberg": _ICEBERG_FIELDS,
    "twap": _ICEBERG_FIELDS | {"timeInterval"},
}
TP_ORD_KINDS = frozenset({"condition", "limit"})
_AMEND_ALGO_FIELDS = frozenset({
    "instId", "algoId", "algoClOrdId", "cxlOnFail", "reqId", "newSz", "newTpTriggerPx", "newTpOrdPx",
    "newSlTriggerPx", "newSlOrdPx", "newTpTriggerPxType", "newSlTriggerPxType", "newTriggerPx", "newOrdPx",
    "newTriggerPxType", "attachAlgoOrds", "newTpTriggerRatio", "newSlTriggerRatio",
})
# ccxt's `edit_order` passes the caller's params on into an amend's body, and a bot gives it those it placed the
# order with: ccxt's own `marginMode`, which names no OKX field (OKX's is `tdMode`, and an amend cannot change
# it). It is let through with the values ccxt knows, and read as nothing.
_CCXT_AMEND_EXTRAS = {"marginMode": frozenset({"cross", "isolated"})}
_CLOSE_FIELDS = frozenset({"instId", "mgnMode", "posSide", "ccy", "autoCxl", "clOrdId", "tag"})
_LEVERAGE_FIELDS = frozenset({"instId", "ccy", "lever", "mgnMode", "posSide"})
_POSITION_MODE_FIELDS = frozenset({"posMode"})

# the bundled fallback: contract values of the majors (OKX `ctVal`, `ctValCcy`; ctMult 1). Learned values win.
BUNDLED: tuple[Instrument, ...] = (
    Instrument(VENUE, "BTC-USDT-SWAP", "BTC/USDT:USDT", Decimal("0.01")),
    Instrument(VENUE, "ETH-USDT-SWAP", "ETH/USDT:USDT", Decimal("0.1")),
    Instrument(VENUE, "SOL-USDT-SWAP", "SOL/USDT:USDT", Decimal("1")),
    Instrument(VENUE, "XRP-USDT-SWAP", "XRP/USDT:USDT", Decimal("100")),
    Instrument(VENUE, "DOGE-USDT-SWAP", "DOGE/USDT:USDT", Decimal("1000")),
    Instrument(VENUE, "LTC-USDT-SWAP", "LTC/USDT:USDT", Decimal("1")),
    Instrument(VENUE, "BTC-USDC-SWAP", "BTC/USDC:USDC", Decimal("0.0001")),
    Instrument(VENUE, "ETH-USDC-SWAP", "ETH/USDC:USDC", Decimal("0.001")),
    # inverse: one contract is worth ctVal USD
    Instrument(VENUE, "BTC-USD-SWAP", "BTC/USD:BTC", Decimal("100"), quote_sized=True),
    Instrument(VENUE, "ETH-USD-SWAP", "ETH/USD:ETH", Decimal("10"), quote_sized=True),
)
_BUNDLED = {i.native: i for i in BUNDLED}

type Body = Any
type LegParser = Callable[[Mapping[str, Any], str | None, str], OrderIntent]
type Parser = Callable[[Body, str | None, str], tuple[OrderIntent, ...]]


class Unsupported(Unchecked):
    """A request the adapter understands well enough to know it cannot check it (spot, margin, options)."""


class Okx(TableAdapter):
    venue: Venue = VENUE
    default_hosts: tuple[str, ...] = (
        "www.okx.com",
        "okx.com",
        "aws.okx.com",
        "eea.okx.com",
        "us.okx.com",
        # WebSocket hosts
        "ws.okx.com",
        "wspap.okx.com",
        "wsaws.okx.com",
        "wseea.okx.com",
        "wseeapap.okx.com",
        "wsus.okx.com",
        "wsuspap.okx.com",
    )
    key_header = "OK-ACCESS-KEY"
    domains: tuple[str, ...] = ("okx.com", "okex.com")
    secret_fields: frozenset[str] = frozenset(
        {"ok-access-key", "ok-access-sign", "ok-access-passphrase", "passphrase", "sign", "apikey"}
    )
    # the private and business sockets take orders (and carry the private channels); the public one is market data
    sockets: tuple[tuple[str, Socket], ...] = (
        ("/ws/v5/private", Socket.ORDERS),
        ("/ws/v5/business", Socket.ORDERS),
        ("/ws/v5/public", Socket.STREAM),
    )

    def __init__(self) -> None:
        super().__init__(_ROUTES, _json_body, _is_forbidden, writes_only_at_write_paths=True, scopes=_SCOPES,
                         harmless=_HARMLESS)

    def payload(self, data: Any) -> Any:
        # "0" all done; "2" a batch partly done (each entry says which); anything else taught nothing
        rows = data.get("data") if isinstance(data, dict) else None
        if not isinstance(rows, list) or str(data.get("code")) not in ("0", "2"):
            return UNREADABLE
        return rows

    def rejection(self, decision: Decision, parsed: ParsedRequest | None = None) -> Rejection:
        violation = decision.deciding
        reason = violation.reason if violation else Reason.INTERNAL_ERROR
        code, order_shaped = _CODES.get(reason, (_GENERIC_ORDER_CODE, True))
        if violation is not None and violation.get("action") not in (None, Action.NEW, Action.AMEND):
            order_shaped = False  # a kill switch refusing a leverage change: not an order operation
        message = _STEERING.message(violation)
        status = 429 if reason is Reason.ORDER_RATE_EXCEEDED else 200
        now_us = time.time_ns() // 1000
        if order_shaped:
            entry = {"clOrdId": "", "ordId": "", "sCode": code, "sMsg": message, "tag": "",
                     "ts": str(now_us // 1000)}
            payload: dict[str, Any] = {"code": "1", "msg": message, "data": [entry], "inTime": str(now_us),
                                       "outTime": str(now_us)}
        else:
            payload = {"code": code, "msg": message, "data": []}
        return Rejection(status, orjson.dumps(payload))


# ---- rejections -------------------------------------------------------------------------------------------

# (OKX code, order-shaped). Order-shaped answers are `{"code": "1", "data": [{"sCode": ...}]}`, which ccxt reads
# per entry (exact sCode first); others are `{"code": CODE, "data": []}`, read by the top-level code. Every code
# is in ccxt's exact map (okx.py `exceptions['exact']`), so the class never depends on the HTTP status:
#   51001 BadSymbol · 51203/51185/51129 InvalidOrder · 50027 PermissionDenied · 51000 BadRequest ·
#   50011 RateLimitExceeded (with HTTP 429, as OKX answers rate limits) · 51004 InvalidOrder (the rest) ·
#   51006 "Order price out of the limit" InvalidOrder (price collar) · 51000 "Parameter error" BadRequest (a
#   margin or position mode the policy refuses: per order for tdMode, top-level for set-position-mode and
#   set-leverage) · 51004 InvalidOrder for a duplicate order too (not 51011 "Duplicated order ID" nor 51016
#   "Duplicated client order ID": those say the bot's id was taken, so a bot would take its order as placed or
#   resend it under a fresh id) · 51174 "The number of pending orders reached the upper limit" InvalidOrder (too
#   many open orders)
_GENERIC_ORDER_CODE = "51004"
_CODES: dict[Reason, tuple[str, bool]] = {
    Reason.SYMBOL_NOT_ALLOWED: ("51001", True),
    Reason.ORDER_QTY_EXCEEDS_MAX: ("51203", True),
    Reason.ORDER_NOTIONAL_EXCEEDS_MAX: ("51185", True),
    Reason.POSITION_EXCEEDS_MAX: ("51129", True),
    Reason.PRICE_OUTSIDE_COLLAR: ("51006", True),
    Reason.MARGIN_MODE_NOT_ALLOWED: ("51000", True),
    Reason.DUPLICATE_ORDER: (_GENERIC_ORDER_CODE, True),
    Reason.OPEN_ORDERS_EXCEED_MAX: ("51174", True),
    Reason.ORDER_RATE_EXCEEDED: ("50011", True),
    Reason.TRADING_HALTED: ("50027", True),
    Reason.TRADING_REDUCING: ("50027", True),
    Reason.LEVERAGE_EXCEEDS_MAX: ("51000", False),
    Reason.ACTION_FORBIDDEN: ("50027", False),
    Reason.UNKNOWN_ACCOUNT: ("50027", False),
    Reason.UNKNOWN_ENDPOINT: ("50027", False),
}

# phrases ccxt matches anywhere in an OKX `sMsg` (okx.py `exceptions['broad']`) to pick a *network* error class;
# a rule id or an operator's halt reason in our message must not pick one by accident
_STEERING = Steering("internal server error", "server error")


def violation_code(violation: Violation) -> str:
    """The OKX code (sCode, or top-level code) a block with this violation answers with (docs and tests)."""
    return _CODES.get(violation.reason, (_GENERIC_ORDER_CODE, True))[0]


# ---- endpoints --------------------------------------------------------------------------------------------


_FORBIDDEN_PARTS = ("withdraw", "transfer", "apikey", "/subaccount", "/users/", "/broker/")


def _is_forbidden(path: str) -> bool:
    """Withdrawals, transfers (also to and from sub-accounts), sub-account and API-key management."""
    return path.startswith("/api/") and any(part in path for part in _FORBIDDEN_PARTS)


# ---- request bodies ---------------------------------------------------------------------------------------


def _json_body(request: HttpRequest) -> Body:
    """The JSON body exactly as OKX will read it (an object, or an array for batch endpoints)."""
    return json_body(request, "OKX", object_only=False)


def _present(obj: Mapping[str, Any], name: str) -> Any:
    """python-okx sends "" (and null) for fields it does not set: both mean absent."""
    value = obj.get(name)
    return None if value is None or value == "" else value


def _check_fields(obj: Mapping[str, Any], allowed: frozenset[str],
                  extras: Mapping[str, frozenset[str]] | None = None) -> None:
    for key in obj:
        if key not in allowed and not (extras and key in extras and isinstance(obj[key], str)
                                       and obj[key] in extras[key]):
            raise FieldError(f"{key} is not a field this firewall understands")
    if _present(obj, "instIdCode") is not None:
        raise FieldError("instIdCode is not supported; send instId")


def _inst_id(obj: Mapping[str, Any], name: str = "instId") -> str:
    return (text_field(name, obj.get(name), INST_ID) or "").upper()


def _contract_kind(inst_id: str) -> str:
    """SWAP or FUTURES from the instrument id; spot, margin and option ids are refused as unsupported."""
    parts = inst_id.split("-")
    if len(parts) == 3 and parts[2] == "SWAP":
        return "SWAP"
    if len(parts) == 3 and len(parts[2]) == 6 and ascii_digits(parts[2]):
        return "FUTURES"
    if len(parts) == 2:
        raise Unsupported(f"spot and margin orders are not checked yet (instId {inst_id})")
    raise Unsupported(f"only SWAP and FUTURES are checked (instId {inst_id})")


def _trade_mode(obj: Mapping[str, Any], name: str = "tdMode") -> MarginMode:
    """An order's tdMode: the margin mode it trades in (OKX has no account-wide switch between the two)."""
    raw = obj.get(name)
    if isinstance(raw, str) and raw in SPOT_TRADE_MODES:
        raise Unsupported(f"spot orders are not checked yet ({name} {raw})")
    return MARGIN_MODES[enum_field(name, raw, TRADE_MODES) or ""]


def _position_side(obj: Mapping[str, Any]) -> PositionSide:
    raw = enum_field("posSide", obj.get("posSide"), _POSITION_SIDE_NAMES, default="net") or "net"
    return POSITION_SIDES[raw]


def _side(obj: Mapping[str, Any]) -> Side:
    return SIDES[enum_field("side", obj.get("side"), _SIDE_NAMES) or ""]


def _must_be_absent(obj: Mapping[str, Any], *names: str) -> None:
    for name in names:
        if _present(obj, name) is not None:
            raise FieldError(f"{name} is not supported: sizes must be in contracts and prices in the quote")


def _algo_price(name: str, raw: object) -> Decimal | None:
    """Algo prices may be "-1": execute at market, no price of its own."""
    if raw == MARKET_PRICE:
        return None
    return decimal_field(name, raw, required=False)


def _check_algo_type_fields(obj: Mapping[str, Any], ord_type: str) -> None:
    """Refuse a field the ordType does not read (python-okx sends every field, unset ones as "" and
    `attachAlgoOrds` as []: those are absent)."""
    allowed = _ALGO_TYPE_FIELDS[ord_type]
    for key, value in obj.items():
        if key in _ALGO_COMMON_FIELDS or key in allowed or value is None or value == "" or value == []:
            continue
        raise FieldError(f"{key} is not a field of ordType {ord_type}: OKX may read it differently, so it is refused")


def _algo_legs(obj: Mapping[str, Any], ord_type: str) -> tuple[list[Decimal], list[Decimal], bool]:
    """(limit prices, trigger prices, whether some leg's price is not fixed by the order) of an algo order, from the
    fields its ordType reads. A leg executing at market ("-1", or no order price), a trailing stop (market on
    trigger) and a chase (limit orders that follow the book) have no price the order fixes."""
    limits: list[Decimal] = []
    triggers: list[Decimal] = []
    unfixed = False

    def leg(trigger_name: str | None, price_name: str) -> None:
        nonlocal unfixed
        trigger = decimal_field(trigger_name, _present(obj, trigger_name), required=False) if trigger_name else None
        limit = _algo_price(price_name, _present(obj, price_name))
        if trigger is not None:
            triggers.append(trigger)
        if limit is not None:
            limits.append(limit)
        else:
            unfixed = True

    if ord_type in ("conditional", "oco"):
        enum_field("tpOrdKind", _present(obj, "tpOrdKind"), TP_ORD_KINDS, default="condition")
        for prefix in ("tp", "sl"):
            names = (f"{prefix}TriggerPx", f"{prefix}TriggerRatio", f"{prefix}OrdPx")
            if all(_present(obj, name) is None for name in names):
                continue
            ratio = _present(obj, f"{prefix}TriggerRatio") is not None
            if ratio and _present(obj, f"{prefix}TriggerPx") is not None:
                raise FieldError(f"{prefix}TriggerPx and {prefix}TriggerRatio are both set: OKX reads one of them")
            if ratio and _algo_price(f"{prefix}OrdPx", _present(obj, f"{prefix}OrdPx")) is None:
                # a leg at market fills about its trigger, and a ratio's trigger price is not in the request
                raise FieldError(f"{prefix}TriggerRatio is refused on a leg at market: its trigger price is not "
                                 f"known; send {prefix}TriggerPx")
            leg(f"{prefix}TriggerPx", f"{prefix}OrdPx")
        if not limits and not triggers:
            unfixed = True
    elif ord_type == "trigger":
        leg("triggerPx", "orderPx")
    elif ord_type in ("iceberg", "twap"):
        # its slices rest at a distance from the book, never beyond pxLimit
        leg(None, "pxLimit")
    else:
        if ord_type == "move_order_stop":
            active = decimal_field("activePx", _present(obj, "activePx"), required=False)
            if active is not None:
                triggers.append(active)
        unfixed = True
    return limits, triggers, unfixed


class _AlgoPrices(NamedTuple):
    price: Decimal | None  # its limit price, where every leg has one
    trigger: Decimal | None
    own: Decimal | None  # the price its inverse contracts convert at
    span: tuple[Decimal, Decimal] | None  # (lowest, highest) it can trade at, where its legs name several


def _algo_order_prices(side: Side | None, limits: list[Decimal], triggers: list[Decimal],
                       unfixed: bool) -> _AlgoPrices:
    """The prices of an algo order's legs. Only one leg of an oco executes, and which is not known: a limit price
    counts only when every leg has one (a buy's highest bounds what it pays, a sell's lowest), else the order has no
    price of its own, as a market order, and is valued no lower than the highest of its triggers and limits. The
    span holds every price it can trade at (a leg at market trades about its trigger), so a collar measures a sell
    at the lowest and a buy at the highest whichever side an amend turns out to be."""
    if unfixed or not limits:
        spanned = [*triggers, *limits]
        trigger = max(spanned, default=None)
        return _AlgoPrices(None, trigger, lowest_own_price(side, None, *triggers, *limits), _span(spanned))
    price = min(limits) if side is Side.SELL else max(limits)
    # a second leg's limit is a price the order can also trade at
    trigger = max([*triggers, *limits] if len(limits) > 1 else triggers, default=None)
    return _AlgoPrices(price, trigger, lowest_own_price(side, min(limits), *triggers), _span(limits))


def _span(prices: list[Decimal]) -> tuple[Decimal, Decimal] | None:
    return (min(prices), max(prices)) if len(prices) > 1 else None


def instrument(inst_id: str) -> Instrument | None:
    """What the catalog learned from instruments answers, else the bundled table."""
    return CATALOG.lookup(VENUE, inst_id) or _BUNDLED.get(inst_id)


def unified_symbol(inst_id: str) -> str | None:
    """ccxt's unified symbol: learned or bundled, else derived like ccxt does from the id's parts."""
    known = instrument(inst_id)
    if known is not None:
        return known.unified
    parts = inst_id.split("-")
    if len(parts) != 3 or not parts[0].isalnum() or not parts[1].isalnum():
        return None
    base, quote, suffix = parts
    settle = base if quote == "USD" else quote  # USD-quoted contracts are inverse: they settle in the coin
    if suffix == "SWAP":
        return f"{base}/{quote}:{settle}"
    if len(suffix) == 6 and suffix.isdigit():
        return f"{base}/{quote}:{settle}-{suffix}"
    return None


def base_quantity(inst_id: str, contracts: Decimal, price: Decimal | None, *, field: str = "sz",
                  optional: bool = False) -> Decimal | None:
    """Contracts → base units. `optional`: no price for an inverse size gives None instead of an error."""
    known = instrument(inst_id)
    if known is None or known.contract_size is None:
        raise FieldError(f"contract value of {inst_id} unknown; fetch /api/v5/public/instruments through the "
                         "firewall")
    if not known.quote_sized:
        return contracts * known.contract_size
    if price is None:
        if optional:
            return None
        raise FieldError(f"{field} of inverse contract {inst_id} is in USD and the order has no price to convert it")
    return contracts * known.contract_size / price



def _inverse(inst_id: str) -> bool:
    """Whether the instrument's contracts are worth USD: as learned or bundled, else by its name (BTC-USD-SWAP;
    linear ones are quoted in USDT or USDC)."""
    known = instrument(inst_id)
    if known is not None and known.contract_size is not None:
        return known.quote_sized
    return inst_id.split("-")[1:2] == ["USD"]


def _sized(inst_id: str, side: Side | None, contracts: Decimal | None, own: Decimal | None,
           field: str = "sz") -> tuple[Decimal | None, Resolver | None]:
    """A leg's (quantity in base units, resolve hook). Linear contracts, and an inverse sell with a price of its
    own (`own`: limit, else trigger; a sell fills at or above it), convert now (an unknown contract value is
    refused now). Any other inverse size converts once the store's mark is known (`_in_base_units`): until then
    the leg has no quantity, as a count of contracts there would read as coin to anything that looked."""
    if contracts is None:
        return None, None
    known = instrument(inst_id)
    if known is None or known.contract_size is None or not known.quote_sized or (
        side is Side.SELL and own is not None
    ):
        return base_quantity(inst_id, contracts, own, field=field), None
    return None, partial(_in_base_units, contracts=contracts, own=own, field=field)


def _in_base_units(intent: OrderIntent, known: Known, *, contracts: Decimal, own: Decimal | None,
                   field: str) -> OrderIntent:
    """`intent` sized: its inverse `contracts` converted at the worst of its `own` price and the store's mark for
    its instrument (`contract_price`; an amend, whose side OKX does not send, counts as a buy). With neither price
    it is refused, unless it can only reduce: it cannot grow a position, so it is checked without a size."""
    inst_id = intent.symbol or ""
    if intent.action is Action.AMEND and own is None:
        # its resting price is not in the amend and the store does not keep it: at the mark, a buy resting far
        # below it would count for a fraction of the coin its contracts buy
        raise inverse_resizing("newPx (or a new trigger price)")
    price = contract_price(intent.side, own, known.price(inst_id), limit=intent.price is not None)
    quantity = base_quantity(inst_id, contracts, price, field=field, optional=intent.only_reduces)
    return replace(intent, quantity=quantity, contracts=contracts, resolve=None)


def _effective_reduce_only(position_side: PositionSide, reduce_only: bool) -> bool:
    """OKX applies `reduceOnly` only in net mode; with posSide long/short, side and posSide alone decide (a buy
    on the long side opens whatever the flag says)."""
    return reduce_only and position_side is PositionSide.BOTH


def _reduces(side: Side | None, position_side: PositionSide, reduce_only: bool) -> bool:
    return _effective_reduce_only(position_side, reduce_only) or closes_hedge_position(side, position_side)


def _check_attached(obj: Mapping[str, Any]) -> None:
    """Attached TP/SL orders only ever close what their parent opened; they must still be well-formed."""
    attached = obj.get("attachAlgoOrds")
    if attached is None or attached == "":
        return
    if not isinstance(attached, list) or not all(isinstance(item, dict) for item in attached):
        raise FieldError("attachAlgoOrds must be a list of objects")


def _order_leg(obj: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    if not isinstance(obj, dict):
        raise FieldError("an order is not a JSON object")
    _check_fields(obj, _ORDER_FIELDS)
    inst_id = _inst_id(obj)
    margin_mode = _trade_mode(obj)
    _contract_kind(inst_id)
    _must_be_absent(obj, "tgtCcy", "pxUsd", "pxVol")
    side = _side(obj)
    position_side = _position_side(obj)
    ord_type = enum_field("ordType", obj.get("ordType"), ORDER_TYPES) or ""
    # a market order's px is ignored by OKX: it must not count as the order's price either
    price = decimal_field("px", _present(obj, "px"), required=True) if ord_type in PRICED_ORDER_TYPES else None
    contracts = decimal_field("sz", _present(obj, "sz")) or Decimal(0)
    reduce_only = _effective_reduce_only(position_side, json_bool_field("reduceOnly", _present(obj, "reduceOnly")))
    quantity, resolve = _sized(inst_id, side, contracts, price)
    _check_attached(obj)
    return OrderIntent(
        venue=VENUE,
        action=Action.NEW,
        endpoint=endpoint,
        account=account,
        symbol=inst_id,
        unified_symbol=unified_symbol(inst_id),
        side=side,
        position_side=position_side,
        quantity=quantity,
        price=price,
        order_type=ord_type.upper(),
        time_in_force=TIME_IN_FORCE.get(ord_type),
        reduce_only=reduce_only,
        margin_mode=margin_mode,
        client_order_id=text_field("clOrdId", _present(obj, "clOrdId"), CLIENT_ID, required=False),
        resolve=resolve,
    )


def _algo_leg(obj: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    if not isinstance(obj, dict):
        raise FieldError("an algo order is not a JSON object")
    _check_fields(obj, _ALGO_FIELDS)
    inst_id = _inst_id(obj)
    margin_mode = _trade_mode(obj)
    _contract_kind(inst_id)
    _must_be_absent(obj, "tgtCcy")
    side = _side(obj)
    position_side = _position_side(obj)
    ord_type = enum_field("ordType", obj.get("ordType"), ALGO_TYPES) or ""
    _check_algo_type_fields(obj, ord_type)
    close_fraction = _present(obj, "closeFraction")
    if close_fraction is not None and str(close_fraction) != "1":
        raise FieldError("closeFraction must be 1")
    reduce_only_flag = json_bool_field("reduceOnly", _present(obj, "reduceOnly"))
    if close_fraction is not None and not reduce_only_flag:
        # OKX takes closeFraction only on reduce-only orders (51328): anything else is not what we think it is
        raise FieldError("closeFraction needs reduceOnly true")
    reduce_only = _effective_reduce_only(position_side, reduce_only_flag)
    # a full close only where the order can only close: net mode, or the closing side of a long/short position
    close_position = close_fraction is not None and _reduces(side, position_side, reduce_only)
    contracts = decimal_field("sz", _present(obj, "sz"), required=not close_position)
    price, trigger, own, span = _algo_order_prices(side, *_algo_legs(obj, ord_type))
    quantity, resolve = _sized(inst_id, side, contracts, own)
    _check_attached(obj)
    return OrderIntent(
        venue=VENUE,
        action=Action.NEW,
        endpoint=endpoint,
        account=account,
        symbol=inst_id,
        unified_symbol=unified_symbol(inst_id),
        side=side,
        position_side=position_side,
        quantity=quantity,
        price=price,
        trigger_price=trigger,
        price_span=span,
        order_type=ord_type.upper(),
        reduce_only=reduce_only,
        close_position=close_position,
        margin_mode=margin_mode,
        client_order_id=text_field("algoClOrdId", _present(obj, "algoClOrdId"), CLIENT_ID, required=False),
        kind=_algo_kind(ord_type),
        triggers_into=ALGO_PLACES_INTO,
        resolve=resolve,
    )


def _amend_leg(obj: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    """An amend names the order, not its side: the size is checked, the direction is the venue's."""
    if not isinstance(obj, dict):
        raise FieldError("an amend is not a JSON object")
    _check_fields(obj, _AMEND_FIELDS, _CCXT_AMEND_EXTRAS)
    inst_id = _inst_id(obj)
    _contract_kind(inst_id)
    _must_be_absent(obj, "newPxUsd", "newPxVol")
    order_id = text_field("ordId", _present(obj, "ordId"), ORDER_ID, required=False)
    client_id = text_field("clOrdId", _present(obj, "clOrdId"), CLIENT_ID, required=False)
    if order_id is None and client_id is None:
        raise FieldError("ordId or clOrdId is missing")
    price = decimal_field("newPx", _present(obj, "newPx"), required=False)
    contracts = decimal_field("newSz", _present(obj, "newSz"), required=False)
    if contracts is None and price is not None and _inverse(inst_id):
        raise inverse_repricing("newSz")
    # OKX amends carry no side: an inverse newSz converts as a buy's would (`_in_base_units`)
    quantity, resolve = _sized(inst_id, None, contracts, price, "newSz")
    _check_attached(obj)
    return OrderIntent(
        venue=VENUE,
        action=Action.AMEND,
        endpoint=endpoint,
        account=account,
        symbol=inst_id,
        unified_symbol=unified_symbol(inst_id),
        quantity=quantity,
        price=price,
        order_id=order_id,
        client_order_id=client_id,
        resolve=resolve,
    )


def _amend_algo_leg(obj: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    if not isinstance(obj, dict):
        raise FieldError("an algo amend is not a JSON object")
    _check_fields(obj, _AMEND_ALGO_FIELDS, _CCXT_AMEND_EXTRAS)
    inst_id = _inst_id(obj)
    _contract_kind(inst_id)
    algo_id = text_field("algoId", _present(obj, "algoId"), ORDER_ID, required=False)
    client_id = text_field("algoClOrdId", _present(obj, "algoClOrdId"), CLIENT_ID, required=False)
    if algo_id is None and client_id is None:
        raise FieldError("algoId or algoClOrdId is missing")
    # the amend names no ordType: each new order price it sends is a leg's, "-1" one at market
    named = [name for name in ("newOrdPx", "newSlOrdPx", "newTpOrdPx") if _present(obj, name) is not None]
    limits = [p for p in (_algo_price(name, _present(obj, name)) for name in named) if p is not None]
    triggers = [t for t in (
        decimal_field(name, _present(obj, name), required=False)
        for name in ("newTriggerPx", "newSlTriggerPx", "newTpTriggerPx")
    ) if t is not None]
    # nor which legs the order has: its restated limits are its prices only when they are every leg's, take-profit
    # and stop-loss both on an order the store knows as an oco or conditional one, or `newOrdPx` on one it knows as
    # a trigger order (`_on_its_kind`: a trigger order has no take-profit or stop-loss leg of its own, and an oco no
    # order price). A leg left out keeps a limit the amend does not tell (an oco buy's stop-loss at 60,000 under a
    # take-profit restated at 40,000): the order is then valued as one without a price of its own
    legs = [name for name in named if name != "newOrdPx"]
    every_leg = len(legs) == 2 if legs else len(named) == 1
    price, trigger, own, span = _algo_order_prices(None, limits, triggers,
                                                   len(limits) < len(named) or not every_leg)
    contracts = decimal_field("newSz", _present(obj, "newSz"), required=False)
    if contracts is None and (price is not None or triggers) and _inverse(inst_id):
        raise inverse_repricing("newSz")
    quantity, resolve = _sized(inst_id, None, contracts, own, "newSz")
    if price is not None:
        resolve = chained(resolve, partial(_on_its_kind, _TP_SL_KINDS if legs else _TRIGGER_KINDS))
    _check_attached(obj)
    return OrderIntent(
        venue=VENUE,
        action=Action.AMEND,
        endpoint=endpoint,
        account=account,
        symbol=inst_id,
        unified_symbol=unified_symbol(inst_id),
        quantity=quantity,
        price=price,
        trigger_price=trigger,
        price_span=span,
        order_id=None if algo_id is None else f"algo:{algo_id}",
        client_order_id=client_id,
        triggers_into=ALGO_PLACES_INTO,
        resolve=resolve,
    )


# the kinds the store keeps these algo orders under (`_algo_kind`)
_TRIGGER_KINDS = frozenset({"algo:trigger"})
_TP_SL_KINDS = frozenset({"algo:conditional", "algo:oco"})


def _on_its_kind(kinds: frozenset[str], intent: OrderIntent, known: Known) -> OrderIntent:
    """An algo amend's restated limits are the order's price only on an order of the types they apply to
    (`kinds`): of an order the store does not know as one, the amend has no price of its own."""
    order = known.order(intent.order_id, intent.client_order_id)
    if intent.price is None or (order is not None and order.kind in kinds):
        return replace(intent, resolve=None)
    # valued as an order without a price of its own: no lower than the highest price it names, spanning them all
    prices = [p for p in (intent.price, intent.trigger_price, *(intent.price_span or ())) if p is not None]
    span = (min(prices), max(prices)) if len(set(prices)) > 1 else None
    return replace(intent, price=None, trigger_price=max(prices), price_span=span, resolve=None)


def _close_position(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    """`close-position` closes the whole position at market: it can only ever reduce."""
    if not isinstance(body, dict):
        raise FieldError("body is not a JSON object")
    _check_fields(body, _CLOSE_FIELDS)
    inst_id = _inst_id(body)
    enum_field("mgnMode", body.get("mgnMode"), TRADE_MODES)
    position_side = _position_side(body)
    side = closing_side(position_side)
    return (OrderIntent(
        venue=VENUE,
        action=Action.NEW,
        endpoint=endpoint,
        account=account,
        symbol=inst_id,
        unified_symbol=unified_symbol(inst_id),
        side=side,
        position_side=position_side,
        order_type="MARKET",
        close_position=True,
        client_order_id=text_field("clOrdId", _present(body, "clOrdId"), CLIENT_ID, required=False),
    ),)


def _leverage(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    if not isinstance(body, dict):
        raise FieldError("body is not a JSON object")
    _check_fields(body, _LEVERAGE_FIELDS)
    leverage = decimal_field("lever", body.get("lever"))
    mode = MARGIN_MODES[enum_field("mgnMode", body.get("mgnMode"), TRADE_MODES) or ""]
    position_side = _position_side(body)
    if _present(body, "instId") is None:
        # leverage of a margin currency (ccy): it applies to no one instrument, so only the default limit can
        text_field("ccy", body.get("ccy"), CCY)
        return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, position_side=position_side,
                            leverage=leverage, margin_mode=mode),)
    inst_id = _inst_id(body)
    return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, inst_id, unified_symbol(inst_id),
                        position_side=position_side, leverage=leverage, margin_mode=mode),)


def _position_mode(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    if not isinstance(body, dict):
        raise FieldError("body is not a JSON object")
    _check_fields(body, _POSITION_MODE_FIELDS)
    mode = enum_field("posMode", body.get("posMode"), frozenset(POSITION_MODES)) or ""
    return (OrderIntent(VENUE, Action.SET_POSITION_MODE, endpoint, account, hedge_mode=POSITION_MODES[mode]),)


def _single(leg: LegParser) -> Parser:
    def parse(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
        if not isinstance(body, dict):
            raise FieldError("body is not a JSON object")
        return (leg(body, account, endpoint),)

    return parse


def _batch(leg: LegParser) -> Parser:
    def parse(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
        if not isinstance(body, list) or not body or len(body) > MAX_BATCH_LEGS:
            raise FieldError(f"body must be a JSON array of 1 to {MAX_BATCH_LEGS} orders")
        return tuple(leg(item, account, endpoint) for item in body)

    return parse


_ENDPOINTS: dict[RouteKey, Route] = {
    ("POST", "/api/v5/trade/order"): Route(Action.NEW, _single(_order_leg)),
    ("POST", "/api/v5/trade/batch-orders"): Route(Action.NEW, _batch(_order_leg)),
    ("POST", "/api/v5/trade/order-algo"): Route(Action.NEW, _single(_algo_leg)),
    ("POST", "/api/v5/trade/close-position"): Route(Action.NEW, _close_position),
    ("POST", "/api/v5/trade/amend-order"): Route(Action.AMEND, _single(_amend_leg)),
    ("POST", "/api/v5/trade/amend-batch-orders"): Route(Action.AMEND, _batch(_amend_leg)),
    ("POST", "/api/v5/trade/amend-algos"): Route(Action.AMEND, _single(_amend_algo_leg)),
    ("POST", "/api/v5/trade/cancel-order"): Route(Action.CANCEL),
    ("POST", "/api/v5/trade/cancel-batch-orders"): Route(Action.CANCEL),
    ("POST", "/api/v5/trade/cancel-algos"): Route(Action.CANCEL),
    ("POST", "/api/v5/trade/cancel-advance-algos"): Route(Action.CANCEL),
    ("POST", "/api/v5/trade/mass-cancel"): Route(Action.CANCEL_ALL),
    # the dead-man switch only ever cancels
    ("POST", "/api/v5/trade/cancel-all-after"): Route(Action.CANCEL_ALL),
    ("POST", "/api/v5/account/set-leverage"): Route(Action.SET_LEVERAGE, _leverage),
    ("POST", "/api/v5/account/set-position-mode"): Route(Action.SET_POSITION_MODE, _position_mode),
    ("POST", "/api/v5/account/set-isolated-mode"): Route(Action.SET_MARGIN_MODE),
    ("POST", "/api/v5/account/position/margin-balance"): Route(Action.SET_MARGIN_MODE),
}


# ---- responses --------------------------------------------------------------------------------------------

type Params = dict[str, str]
type Learner = ScopedLearner




def _number(raw: object) -> Decimal | None:
    """A non-negative plain number from a response field, or None."""
    try:
        return decimal_field("value", raw, required=False, allow_zero=True)
    except FieldError:
        return None


def _signed(raw: object) -> Decimal | None:
    """A signed plain number (net-mode positions are negative when short)."""
    if isinstance(raw, str) and raw.startswith("-"):
        value = _number(raw[1:])
        return None if value is None else -value
    return _number(raw)


def _price(raw: object) -> Decimal | None:
    value = _number(raw)
    return value if value is not None and value > 0 else None


def _ok(item: Any) -> bool:
    return isinstance(item, dict) and str(item.get("sCode")) == "0"


def _leg_for(items: list[Any], index: int, intents: tuple[OrderIntent, ...]) -> int | None:
    """Which request leg an answer entry belongs to: by client id where the leg had one, else by position."""
    client_id = items[index].get("clOrdId") or items[index].get("algoClOrdId")
    if client_id:
        matches = [n for n, i in enumerate(intents) if i.client_order_id == client_id]
        if len(matches) == 1:
            return matches[0]
    return index if len(items) == len(intents) else None


def _algo_kind(ord_type: str | None) -> str:
    """Algo orders are listed per ordType, so each type is its own kind: a listing of one says nothing of others."""
    return f"algo:{(ord_type or '').lower()}"


def _learn_placed(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """A place answer is an ack (ids and sCode per leg): the order's size is the request's."""
    if parsed.account is None or parsed.action is not Action.NEW:
        return ResponseFacts()
    updates = []
    for index, item in enumerate(data):
        if not _ok(item):
            continue
        leg = _leg_for(data, index, parsed.intents)
        if leg is None:
            continue
        intent = parsed.intents[leg]
        is_algo = bool(item.get("algoId"))
        order_id = str(item.get("algoId") or item.get("ordId") or "")
        if not order_id or intent.symbol is None or intent.side is None:
            continue
        updates.append(OrderUpdate(
            venue=VENUE,
            account=parsed.account,
            symbol=intent.symbol,
            order_id=f"algo:{order_id}" if is_algo else order_id,
            side=intent.side,
            position_side=intent.position_side,
            original=intent.quantity or Decimal(0),
            executed=Decimal(0),
            final=False,
            reduce_only=intent.only_reduces,
            reservation_id=f"{decision_id}:{leg}",
            kind=_algo_kind(intent.order_type) if is_algo else "order",
        ))
    return ResponseFacts(orders=tuple(updates))


def _learn_canceled(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """A cancel answer carries ids only: those orders are gone; their fills come with the next report."""
    if parsed.account is None:
        return ResponseFacts()
    closed = []
    for item in data:
        if not _ok(item):
            continue
        if item.get("algoId"):
            closed.append(ClosedOrder(VENUE, parsed.account, f"algo:{item['algoId']}"))
        elif item.get("ordId"):
            closed.append(ClosedOrder(VENUE, parsed.account, str(item["ordId"])))
    return ResponseFacts(closed=tuple(closed))


# an algo order's trigger prices, as its listings and pushes name them
_ALGO_TRIGGERS = ("triggerPx", "slTriggerPx", "tpTriggerPx", "activePx")


def order_update(item: Any, account: str, *, is_algo: bool) -> OrderUpdate | None:
    """One order object (`GET /trade/order`, orders-pending, order history) or, `is_algo`, algo order object (the
    algo endpoints). Which it is comes from where it was read: an order an algo order placed when it triggered (an
    iceberg's slice too) carries that algo order's `algoId`, and is a regular order all the same, with its own
    `ordId`, fills and states."""
    if not isinstance(item, dict):
        return None
    try:
        inst_id = _inst_id(item)
        raw_id = text_field("algoId" if is_algo else "ordId", item.get("algoId" if is_algo else "ordId"), ORDER_ID)
        order_id = f"algo:{raw_id}" if is_algo else str(raw_id)
        side = SIDES[str(item["side"])]
        position_side = POSITION_SIDES.get(str(item.get("posSide") or "net"), PositionSide.BOTH)
        contracts = decimal_field("sz", item.get("sz"), allow_zero=True) or Decimal(0)
        filled = Decimal(0)
        if not is_algo:  # an algo order fills through the regular order it places
            filled = decimal_field("accFillSz", item.get("accFillSz") or "0", allow_zero=True) or Decimal(0)
        # one price converts both sizes of an inverse order, so filled never exceeds original: the lowest the
        # order can fill at by its own prices (a triggered buy fills about its trigger), else its fill price
        price = lowest_own_price(side, _price(item.get("px")) or _price(item.get("ordPx")),
                                 *(_price(item.get(name)) for name in _ALGO_TRIGGERS)) or _price(item.get("avgPx"))
        original = base_quantity(inst_id, contracts, price)
        executed = base_quantity(inst_id, filled, price)
    except (KeyError, FieldError):
        return None
    if original is None or executed is None:
        return None
    state = str(item.get("state", ""))
    reduce_only = item.get("reduceOnly") in (True, "true") or bool(item.get("closeFraction"))
    return OrderUpdate(
        venue=VENUE,
        account=account,
        symbol=inst_id,
        order_id=order_id,
        side=side,
        position_side=position_side,
        original=original,
        executed=executed,
        final=state not in (OPEN_ALGO_STATES if is_algo else OPEN_STATES),
        reduce_only=_reduces(side, position_side, reduce_only),
        kind=_algo_kind(str(item.get("ordType"))) if is_algo else "order",
        # an effective algo order triggered: the order it placed holds the fills (its filled size is not read here)
        fills_elsewhere=ALGO_PLACES_INTO if is_algo and state == "effective" else None,
        # its last fill's time where it says (a cancel moves uTime past it), else its last change's
        venue_ms=venue_time_ms(item.get("fillTime")) or venue_time_ms(item.get("uTime")),
    )


def _fill_price(item: Any) -> PriceUpdate | None:
    if not isinstance(item, dict) or not isinstance(item.get("instId"), str):
        return None
    price = _price(item.get("avgPx"))
    return None if price is None else PriceUpdate(VENUE, item["instId"].upper(), price, "last")


def _learn_orders(is_algo: bool) -> Learner:
    def learn(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
        """Order details and history (of regular orders, or of algo orders: `is_algo`): each order's progress
        (fills as `accFillSz`), but no complete listing."""
        if parsed.account is None:
            return ResponseFacts()
        account = parsed.account
        updates = tuple(u for u in (order_update(item, account, is_algo=is_algo) for item in data) if u is not None)
        prices = tuple(p for p in (_fill_price(item) for item in data) if p is not None)
        return ResponseFacts(prices=prices, orders=updates)

    return learn


# filters the listing learners read and judge: each makes a listing teach only the orders it lists. The gate is
# `_SCOPES` (any parameter it does not name does the same); these stay as the learners' own reading of them
_NARROWING = ("after", "before", "uly", "instFamily", "state", "ordId", "algoId", "algoClOrdId")


def _inst_type_fits(inst_type: str | None, inst_ids: Iterable[str]) -> bool:
    """Whether an `instType` sent along with instrument ids names their type, exactly as OKX spells it (SWAP,
    FUTURES): OKX answers for the two together, and an instrument of another type may be left out of the answer
    (or the answer be empty) though it holds orders or a position."""
    if inst_type is None:
        return True
    try:
        return all(_contract_kind(inst_id) == inst_type for inst_id in inst_ids)
    except FieldError:
        return False


def _complete_scope(data: list[Any], params: Params, *, allowed: Iterable[str]) -> tuple[bool, str | None]:
    """Whether a listing is the whole book for its scope, and that scope (an instrument or the account)."""
    if any(params.get(name) for name in _NARROWING if name not in allowed):
        return False, None
    try:
        limit = int(params.get("limit") or DEFAULT_PAGE)
    except ValueError:
        return False, None
    if len(data) >= min(limit, DEFAULT_PAGE):  # a full page may have more behind it
        return False, None
    inst_id = params.get("instId", "").upper()
    if "," in inst_id:
        return False, None
    if not inst_id and params.get("instType"):
        return False, None  # one instrument type: the store cannot tell which others it leaves out
    if inst_id and not _inst_type_fits(params.get("instType"), (inst_id,)):
        return False, None
    return True, inst_id or None


def _learn_pending(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    if parsed.account is None:
        return ResponseFacts()
    updates = tuple(u for u in (order_update(item, parsed.account, is_algo=False) for item in data) if u is not None)
    complete, symbol = _complete_scope(data, params, allowed=())
    if not complete or params.get("ordType") or len(updates) != len(data):
        return ResponseFacts(orders=updates)
    return ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, parsed.account, symbol, updates),))


def _learn_algo_pending(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """orders-algo-pending lists the algo types named in `ordType`: one snapshot per type."""
    if parsed.account is None:
        return ResponseFacts()
    updates = tuple(u for u in (order_update(item, parsed.account, is_algo=True) for item in data) if u is not None)
    kinds = [_algo_kind(t) for t in params.get("ordType", "").split(",") if t.strip().lower() in ALGO_TYPES]
    complete, symbol = _complete_scope(data, params, allowed=())
    if not complete or not kinds or len(updates) != len(data) or any(u.kind not in kinds for u in updates):
        return ResponseFacts(orders=updates)
    # a triggered algo order places orders among the regular pending ones, where they may rest
    return ResponseFacts(open_orders=tuple(
        OpenOrdersSnapshot(VENUE, parsed.account, symbol, tuple(u for u in updates if u.kind == kind), kind,
                           triggers_into=ALGO_PLACES_INTO)
        for kind in kinds
    ))


def position_quantity(item: dict[str, Any]) -> tuple[str, PositionSide, Decimal] | None:
    """One position row → (instId, side, signed base units); long/short legs are unsigned at OKX."""
    inst_id = _inst_id(item)
    side = POSITION_SIDES.get(str(item.get("posSide") or "net"))
    contracts = _signed(item.get("pos"))
    if side is None or contracts is None:
        return None
    price = _price(item.get("markPx")) or _price(item.get("avgPx"))
    quantity = base_quantity(inst_id, abs(contracts), price)
    if quantity is None:
        return None
    if side is PositionSide.SHORT or (side is PositionSide.BOTH and contracts < 0):
        quantity = -quantity
    return inst_id, side, quantity


def mark_price(item: Any) -> PriceUpdate | None:
    """A position row's mark price (`markPx`) for the instrument it names (REST positions, the `positions`
    channel), or None."""
    if not isinstance(item, dict):
        return None
    try:
        inst_id = _inst_id(item)
    except FieldError:
        return None
    mark = _price(item.get("markPx"))
    return None if mark is None else PriceUpdate(VENUE, inst_id, mark, "mark")


def balance_equity(rows: object, account: str | None) -> tuple[EquityUpdate, ...]:
    """The account's equity in balance rows (`data` of account balance, of the `account` channel): `totalEq`, in
    USD, of the one row OKX sends (several, or none, teach nothing)."""
    if not isinstance(rows, list) or len(rows) != 1 or not isinstance(rows[0], dict):
        return ()
    equity = equity_update(VENUE, account, rows[0].get("totalEq"), "USD")
    return (equity,) if equity is not None else ()


def _learn_balance(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    """The account's equity, from a read of the whole account only: one filtered by currency (`ccy`) may total
    those currencies alone, and a small first figure of the day would set a baseline no loss falls below."""
    if any(value for value in params.values()):
        return ResponseFacts()
    return ResponseFacts(equity=balance_equity(data, parsed.account))


def _learn_positions(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    if parsed.account is None:
        return ResponseFacts()
    totals: dict[tuple[str, PositionSide], Decimal] = {}
    prices: list[PriceUpdate] = []
    complete = True
    for item in data:
        if not isinstance(item, dict) or str(item.get("instType", "")).upper() not in ("SWAP", "FUTURES"):
            continue  # margin and option positions are not tracked (their orders are refused)
        try:
            row = position_quantity(item)
        except FieldError:
            row = None
        if row is None:
            complete = False
            continue
        inst_id, side, quantity = row
        # cross and isolated positions on one instrument and side add up
        totals[(inst_id, side)] = totals.get((inst_id, side), Decimal(0)) + quantity
        mark = _price(item.get("markPx"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, inst_id, mark, "mark"))
    positions = tuple((inst_id, side, quantity) for (inst_id, side), quantity in totals.items())
    requested = [i.strip().upper() for i in params.get("instId", "").split(",") if i.strip()]
    # only a report of a query riskwall read whole (`_SCOPES`) says what it leaves out is flat
    whole = _whole(_POSITIONS, params)
    if (requested and complete and whole and not params.get("posId")
            and _inst_type_fits(params.get("instType"), requested)):
        # OKX lists only open positions: a requested instrument it leaves out is flat on every side
        reports = tuple(
            PositionsReport(VENUE, parsed.account, inst_id, tuple(
                (inst_id, side, totals.get((inst_id, side), Decimal(0))) for side in PositionSide
            ))
            for inst_id in dict.fromkeys(requested)
        )
    elif complete and whole and not any(params.get(k) for k in ("instType", "instId", "posId")):
        reports = (PositionsReport(VENUE, parsed.account, None, positions),)
    else:
        # a partial or filtered answer: what it lists is true, what it leaves out is unknown
        reports = tuple(PositionsReport(VENUE, parsed.account, p[0], (p,)) for p in positions)
    return ResponseFacts(prices=tuple(prices), positions=reports)


def _learn_prices(field: str, kind: str) -> Learner:
    def learn(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
        prices = []
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("instId"), str) and INST_ID.fullmatch(item["instId"]):
                price = _price(item.get(field))
                if price is not None:
                    prices.append(PriceUpdate(VENUE, item["instId"].upper(), price, kind))
        return ResponseFacts(prices=tuple(prices))

    return learn


def _instrument_from(item: Any) -> Instrument | None:
    """An instruments row → its unified symbol and contract value; only rows that add up are learned."""
    if not isinstance(item, dict):
        return None
    inst_type = str(item.get("instType", "")).upper()
    inst_id = item.get("instId")
    if inst_type not in ("SWAP", "FUTURES") or not isinstance(inst_id, str) or not INST_ID.fullmatch(inst_id):
        return None
    family = item.get("instFamily") or item.get("uly")
    settle = item.get("settleCcy")
    if not isinstance(family, str) or not isinstance(settle, str) or family.count("-") != 1:
        return None
    base, quote = family.upper().split("-")
    settle = settle.upper()
    value_ccy = str(item.get("ctValCcy") or "").upper()
    ct_val = _price(item.get("ctVal"))
    multiplier = _price(item.get("ctMult")) if item.get("ctMult") not in (None, "") else Decimal(1)
    if not (base and quote and settle) or ct_val is None or multiplier is None:
        return None
    contract_type = str(item.get("ctType") or "").lower()
    linear = settle == quote and value_ccy == base and contract_type in ("", "linear")
    inverse = settle == base and value_ccy == quote and contract_type in ("", "inverse")
    if not (linear or inverse):
        return None  # a contract whose value is counted in some third currency: never guess
    unified = f"{base}/{quote}:{settle}"
    if inst_type == "FUTURES":
        suffix = inst_id.upper().rsplit("-", 1)[1]
        if not (len(suffix) == 6 and suffix.isdigit()):
            return None
        unified += f"-{suffix}"
    contract_size = ct_val * multiplier
    if contract_size > MAX_AMOUNT:
        return None
    return Instrument(VENUE, inst_id.upper(), unified, contract_size, quote_sized=inverse, code=_inst_code(item))


def _inst_code(item: dict[str, Any]) -> int | None:
    """`instIdCode`, the integer WebSocket orders name the instrument by (a JSON number, or digits as text)."""
    raw = item.get("instIdCode")
    if isinstance(raw, bool) or raw is None:
        return None
    text = format(raw, "f") if isinstance(raw, Decimal) else str(raw)
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _learn_instruments(data: list[Any], parsed: ParsedRequest, params: Params, decision_id: str) -> ResponseFacts:
    instruments = tuple(i for i in (_instrument_from(item) for item in data) if i is not None)
    return ResponseFacts(instruments=instruments)


_LEARNERS: dict[RouteKey, Learner] = {
    ("GET", "/api/v5/public/instruments"): _learn_instruments,
    ("GET", "/api/v5/account/instruments"): _learn_instruments,
    ("POST", "/api/v5/trade/order"): _learn_placed,
    ("POST", "/api/v5/trade/batch-orders"): _learn_placed,
    ("POST", "/api/v5/trade/order-algo"): _learn_placed,
    ("POST", "/api/v5/trade/cancel-order"): _learn_canceled,
    ("POST", "/api/v5/trade/cancel-batch-orders"): _learn_canceled,
    ("POST", "/api/v5/trade/cancel-algos"): _learn_canceled,
    ("GET", "/api/v5/trade/order"): _learn_orders(is_algo=False),
    ("GET", "/api/v5/trade/order-algo"): _learn_orders(is_algo=True),
    ("GET", "/api/v5/trade/orders-history"): _learn_orders(is_algo=False),
    ("GET", "/api/v5/trade/orders-history-archive"): _learn_orders(is_algo=False),
    ("GET", "/api/v5/trade/orders-algo-history"): _learn_orders(is_algo=True),
    ("GET", "/api/v5/trade/orders-pending"): _learn_pending,
    ("GET", "/api/v5/trade/orders-algo-pending"): _learn_algo_pending,
    ("GET", "/api/v5/account/positions"): _learn_positions,
    ("GET", "/api/v5/account/balance"): _learn_balance,
    ("GET", "/api/v5/public/mark-price"): _learn_prices("markPx", "mark"),
    ("GET", "/api/v5/market/ticker"): _learn_prices("last", "last"),
    ("GET", "/api/v5/market/tickers"): _learn_prices("last", "last"),
}

# OKX signs in headers (OK-ACCESS-SIGN, OK-ACCESS-TIMESTAMP): no query parameter of a read narrows nothing
_HARMLESS: frozenset[str] = frozenset()
_PENDING: RouteKey = ("GET", "/api/v5/trade/orders-pending")
_ALGO_PENDING: RouteKey = ("GET", "/api/v5/trade/orders-algo-pending")
_POSITIONS: RouteKey = ("GET", "/api/v5/account/positions")
# the query parameters each listing's learner reads and honours as its scope, spelled exactly so
# (`TableAdapter.sure_scope`): any other (a filter OKX honours that the learner does not read, `InstId` in other
# letter case, which OKX may or may not read as `instId`) makes the answer teach only the orders and positions it
# lists. What ccxt and python-okx send for open orders and positions is here: instId, limit, ordType (algo
# listings; the scope, one kind per type), instType (judged against instId; alone it scopes nothing the store
# can express)
_SCOPES: dict[RouteKey, frozenset[str]] = {
    _PENDING: frozenset({"instId", "instType", "limit"}),
    _ALGO_PENDING: frozenset({"ordType", "instId", "instType", "limit"}),
    _POSITIONS: frozenset({"instId", "instType"}),
}


def _whole(key: RouteKey, params: Params) -> bool:
    return read_whole(_SCOPES, _HARMLESS, key, params)


_ROUTES = route_table(_ENDPOINTS, {key: scoped(learner) for key, learner in _LEARNERS.items()})
ADAPTER = Okx()

__all__ = ["ADAPTER", "BUNDLED", "VENUE", "Okx", "base_quantity", "instrument", "unified_symbol", "violation_code"]
