"""Bitget v2 mix (USDT-M, COIN-M, USDC-M futures): endpoint table, request → intents, response → facts, rejections.

Facts: docs/venues.md §0 and §6, and ccxt's bitget.py (installed 4.5.64). GET parameters travel in the query
string, POST parameters in a JSON body; Bitget signs `timestamp + METHOD + path + (?query | body)` and reads the
exact bytes, so the body is read here and never re-serialised, and anything the venue might read differently from
riskwall is refused (a body that is not one JSON object, a duplicate key, a number with a sign or an exponent, a
key spelled like a known field in another letter case, a query string on a POST).

Decisions worth knowing (each is also a test):

- **Product types.** `USDT-FUTURES`, `COIN-FUTURES`, `USDC-FUTURES` and their demo twins (`SUSDT-FUTURES` ...) are
  checked; any other `productType` on order entry is refused as unparseable. Spot order entry (`/api/v2/spot/trade/`)
  is not checked yet, so it is UNKNOWN (blocked); cancels pass.
- **Sizes** are in base coin for every product type (ccxt: contractSize 1, COIN-M included), so `size` is the
  intent's quantity as written.
- **Market orders ignore `price`**: a market order's intent carries no price (a decoy price must not shrink a
  notional).
- **Reductions.** One-way mode: `reduceOnly: "YES"` (exactly; `NO` or absent is no reduction; anything else is
  refused) with no `tradeSide`. Hedge mode: v2's `side` names the *position* (`buy` + `tradeSide: close` closes a
  long, i.e. sells it). Bitget ignores `tradeSide` in one-way mode, where the order trades the side it names on
  the net position. So an order with a `tradeSide` is read in hedge mode once the store holds it for the
  account's product type (learned from an accepted `set-position-mode`, or `posMode` in a position listing, an
  open-orders listing or `account/account`, by any sidecar of a fleet: `ModeUpdate`), and refused while it holds
  none or one-way (which the web UI can have changed since): the two readings add to different positions. Its
  intent's `resolve` (`_ByPositionMode`) does it, with the product type among the request's `mode_keys`.
  `close-positions`, `place-tpsl-order` and `place-pos-tpsl` can only close (venue-enforced), so they are
  reductions.
- **`click-backhand`** (reverse a position) is not in the table: it can double a position of a size the request
  does not state, so it is UNKNOWN and blocked.
- **Amends** (`modify-order`) carry no side: size, notional and rate are checked, the position limit cannot be.
- **Margin modes.** Every order names its margin mode (`marginMode` isolated/crossed, on the batch for
  `batch-place-order`): the order's intent carries it, so a `margin_mode` rule refuses an order in a mode the
  policy does not allow, as it refuses `set-margin-mode` to that mode.

Learning: acks carry `orderId`/`clientOid` only: an accepted market order is counted as filled at once, anything
else as pending. `orders-pending` without an order id or cursor, shorter than its page, is a snapshot of its
product type (and symbol). `all-position` / `single-position` report per listed symbol (`total` + `holdSide`).

Rejections: HTTP 400 (429 for the rate limit) with Bitget's `{"code", "msg", "requestTime", "data": null}`, codes
chosen so ccxt.bitget's handle_errors raises an order-class exception (see `_CODES`); ccxt reads the body before
the status, and Bitget's own SDK raises on any non-2xx status.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import orjson

from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    ClosedOrder,
    Decision,
    Known,
    MarginMode,
    ModeUpdate,
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
    Sender,
    Socket,
    Steering,
    TableAdapter,
    ascii_digits,
    decimal_field,
    field_spellings,
    json_body,
    normalize_path,
    price_or_none,
    read_whole,
    route_table,
    text_field,
)

VENUE = Venue.BITGET

SYMBOL = re.compile(r"[A-Za-z0-9_]{1,40}")
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
ORDER_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
COIN = re.compile(r"[A-Za-z0-9]{1,16}")
SIDES = {"buy": Side.BUY, "sell": Side.SELL}
ORDER_TYPES = {"limit": "LIMIT", "market": "MARKET"}
FORCES = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "post_only": "POST_ONLY"}
TRADE_SIDES = frozenset({"open", "close"})
PRODUCT_TYPES = frozenset({"USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "SUSDT-FUTURES", "SCOIN-FUTURES",
                           "SUSDC-FUTURES"})
# set-margin-mode's marginMode, and the one every order names, in the policy's words
MARGIN_MODES = {"isolated": MarginMode.ISOLATED, "crossed": MarginMode.CROSSED}
POS_MODES = {"one_way_mode": "one-way", "hedge_mode": "hedge"}
HOLD_SIDES = frozenset({"long", "short", "buy", "sell"})
# place-plan-order's planType: each is listed by orders-plan-pending under its own planType
PLAN_TYPES = frozenset({"normal_plan", "track_plan"})
FINAL_STATES = frozenset({"filled", "canceled", "cancelled"})
MAX_BATCH_LEGS = 50  # Bitget's batch-place-order limit
DEFAULT_PAGE = 100

# every field riskwall reads from a body; a key equal to one of these but for letter case is refused
KNOWN_FIELDS = frozenset({
    "symbol", "productType", "marginMode", "marginCoin", "size", "price", "side", "tradeSide", "orderType",
    "force", "clientOid", "reduceOnly", "orderList", "orderId", "newSize", "newPrice", "newClientOid",
    "triggerPrice", "executePrice", "planType", "holdSide", "leverage", "longLeverage", "shortLeverage", "posMode",
    "callbackRatio", "newTriggerPrice", "triggerType",
})
_KNOWN_FOLDED = {name.casefold(): name for name in KNOWN_FIELDS}
# what strict_json checks each key against, made once rather than per request
SPELLINGS = field_spellings(KNOWN_FIELDS)

type Body = dict[str, Any]
type Params = dict[str, str]
type Parser = Callable[[Body, str | None, str], tuple[OrderIntent, ...]]


class Bitget(TableAdapter):
    venue: Venue = VENUE
    default_hosts: tuple[str, ...] = (
        "api.bitget.com",
        # WebSocket hosts
        "ws.bitget.com",
        "wspap.bitget.com",
    )
    key_header = "ACCESS-KEY"
    domains: tuple[str, ...] = ("bitget.com",)
    secret_fields: frozenset[str] = frozenset({"access-key", "access-sign", "access-passphrase", "passphrase",
                                               "sign", "signature"})
    # the private sockets can place orders (op `trade`, for keys Bitget grants it) that this adapter does not
    # read, so they are refused with the other order sockets; public market-data sockets pass
    sockets: tuple[tuple[str, Socket], ...] = (
        ("/v2/ws/private", Socket.ORDERS),
        ("/v3/ws/private", Socket.ORDERS),
        ("/v2/ws/public", Socket.STREAM),
        ("/v3/ws/public", Socket.STREAM),
    )

    def __init__(self) -> None:
        super().__init__(_ROUTES, _json_body, _is_forbidden, _is_forbidden_write, writes_only_at_write_paths=True,
                         scopes=_SCOPES, harmless=_HARMLESS)

    def parse_request_from(self, request: HttpRequest, who: Sender) -> ParsedRequest:
        parsed = super().parse_request_from(request, who)
        # the product types whose position mode decides what a `tradeSide` means: read from the store
        keys = tuple(dict.fromkeys(intent.resolve.product_type for intent in parsed.intents
                                   if isinstance(intent.resolve, _ByPositionMode)))
        return replace(parsed, mode_keys=keys) if keys else parsed

    def payload(self, data: Any) -> Any:
        # Bitget answers errors in the same envelope: only code 00000 is a success
        return data if isinstance(data, dict) and data.get("code") == "00000" else UNREADABLE

    def rejection(self, decision: Decision, parsed: ParsedRequest | None = None) -> Rejection:
        violation = decision.deciding
        code, status, prefix = _code_for(violation.reason if violation else Reason.INTERNAL_ERROR)
        payload = {"code": code, "msg": prefix + _STEERING.message(violation),
                   "requestTime": time.time_ns() // 1_000_000, "data": None}
        return Rejection(status, orjson.dumps(payload))


# ---- rejections ------------------------------------------------------------------------------------------

# ccxt.bitget.handle_errors: exact then broad match on `msg`, then exact match on `code` (installed 4.5.64):
#   40309 "The contract has been removed"  BadSymbol          (symbol not allowed)
#   40020 "Parameter ... error"            BadRequest         (leverage; 40017 is plain ExchangeError in 4.5.64)
#   36201 "New order function is blocked"  PermissionDenied   (kill switch: halted / reducing)
#   40014 "Incorrect permissions"          PermissionDenied   (forbidden or unknown endpoint, unknown account)
#   1001  "too frequent, throttled"        RateLimitExceeded  (order rate; HTTP 429)
#   40020                                  BadRequest         (a margin or position mode the policy refuses)
#   43011                                  InvalidOrder       (everything else: sizes, notionals, price collar,
#                                                             duplicate orders, positions, parse)
#   36225 "Exceeding max open order    InvalidOrder       (too many open orders; exact code map)
#          count for instrument"
_DEFAULT_CODE = ("43011", 400, "")
_CODES: dict[Reason, tuple[str, int, str]] = {
    Reason.SYMBOL_NOT_ALLOWED: ("40309", 400, ""),
    Reason.LEVERAGE_EXCEEDS_MAX: ("40020", 400, ""),
    Reason.MARGIN_MODE_NOT_ALLOWED: ("40020", 400, ""),
    Reason.DUPLICATE_ORDER: _DEFAULT_CODE,
    Reason.OPEN_ORDERS_EXCEED_MAX: ("36225", 400, ""),
    Reason.TRADING_HALTED: ("36201", 400, ""),
    Reason.TRADING_REDUCING: ("36201", 400, ""),
    Reason.ACTION_FORBIDDEN: ("40014", 400, ""),
    Reason.UNKNOWN_ENDPOINT: ("40014", 400, ""),
    Reason.UNKNOWN_ACCOUNT: ("40014", 400, ""),
    Reason.ORDER_RATE_EXCEEDED: ("1001", 429, ""),
}

# phrases ccxt.bitget looks for in `msg` (its 'broad' map): an operator's text must not pick a class by accident
_STEERING = Steering("invalid size, valid range")


def _code_for(reason: Reason) -> tuple[str, int, str]:
    return _CODES.get(reason, _DEFAULT_CODE)


def violation_code(violation: Violation) -> str:
    """The Bitget code a block with this violation answers with (for docs and tests)."""
    return _code_for(violation.reason)[0]


# ---- requests --------------------------------------------------------------------------------------------


_FORBIDDEN_PARTS = ("withdraw", "transfer", "subaccount", "sub-account", "virtual-sub", "apikey", "api-key")
# areas that also hold reads bots make: only writes are refused there
_FORBIDDEN_WRITE_PARTS = ("/wallet/", "/user/", "/broker/")


def _is_forbidden(path: str) -> bool:
    return any(part in path for part in _FORBIDDEN_PARTS)


def _is_forbidden_write(path: str) -> bool:
    return any(part in path + "/" for part in _FORBIDDEN_WRITE_PARTS)


def _json_body(request: HttpRequest) -> Body:
    """The POST body as one JSON object; Bitget reads names case-insensitively, so only the exact spelling passes."""
    body: Body = json_body(request, "Bitget", known_fields=SPELLINGS, exact_spelling=True)
    return body


def _lower_enum(name: str, raw: object, allowed: frozenset[str] | Mapping[str, Any], *,
                required: bool = True) -> str | None:
    """Bitget reads these enums without regard to case (ccxt sends `Open`, `GTC`; the docs write `open`, `gtc`)."""
    if raw is None or raw == "":
        if required:
            raise FieldError(f"{name} is missing")
        return None
    if not isinstance(raw, str) or raw.lower() not in allowed:
        raise FieldError(f"{name} has an unknown value")
    return raw.lower()


def _product_type(body: Mapping[str, Any]) -> str:
    raw = body.get("productType")
    if not isinstance(raw, str) or raw.upper() not in PRODUCT_TYPES:
        raise FieldError("productType is missing or not a futures product type")
    return raw.upper()


def _symbol(obj: Mapping[str, Any]) -> str:
    return (text_field("symbol", obj.get("symbol"), SYMBOL) or "").upper()


def _reduce_only(raw: object) -> bool:
    if raw is None or raw == "" or raw == "NO":
        return False
    if raw == "YES":
        return True
    raise FieldError("reduceOnly must be YES or NO")


class _HeldSymbols:
    """The symbols this sidecar has seen an account trade, hold or list per product type: what a whole all-position
    answer that leaves one of them out says is flat (Bitget lists open positions only). Process memory, bounded per
    product type by the venue's instruments (and a cap); a symbol only another sidecar saw is not flattened by this
    one's read, and stays as the store holds it until a read of its own symbol or a fill moves it."""

    CAP = 2000

    def __init__(self) -> None:
        self._by_type: dict[str, set[str]] = {}

    def saw(self, product_type: str, symbol: str | None) -> None:
        if symbol and SYMBOL.fullmatch(symbol):
            seen = self._by_type.setdefault(product_type, set())
            if len(seen) < self.CAP:
                seen.add(symbol)

    def of(self, product_type: str) -> frozenset[str]:
        return frozenset(self._by_type.get(product_type, ()))

    def clear(self) -> None:
        self._by_type.clear()


HELD_SYMBOLS = _HeldSymbols()


def unified_symbol(product_type: str, native: str) -> str | None:
    """ccxt's unified symbol: learned from contracts, else derived (BTCUSDT → BTC/USDT:USDT, COIN-M BTCUSD →
    BTC/USD:BTC, USDC-M BTCPERP → BTC/USDC:USDC)."""
    known = CATALOG.lookup(VENUE, native)
    if known is not None:
        return known.unified
    plain = product_type.removeprefix("S")
    if plain == "COIN-FUTURES":
        if native.endswith("USD") and len(native) > 3 and native[:-3].isalnum():
            base = native[:-3]
            return f"{base}/USD:{base}"
        return None
    if plain == "USDC-FUTURES" and native.endswith("PERP") and len(native) > 4:
        return f"{native[:-4]}/USDC:USDC"
    return CATALOG.unified(VENUE, native)


@dataclass(frozen=True, slots=True)
class _ByPositionMode:
    """An order with a `tradeSide`, read in the position mode the store holds for its product type (an intent's
    `resolve`). In hedge mode `side` names the position, which an open adds to and a close reduces. In one-way
    mode Bitget ignores tradeSide: the order trades the side it names on the one net position, so buy/open,
    sell/open, buy/open nets to one long there and holds two longs and a short in hedge mode. The mode can be
    switched outside the firewall (the web UI) whenever nothing is open, so only hedge mode, where a tradeSide
    belongs (ccxt sends one only with `hedged`), reads it; while the store holds no mode or one-way mode the order
    is refused: the two readings add to different positions, and the venue's is not known."""

    product_type: str
    trade_side: str

    def __call__(self, intent: OrderIntent, known: Known) -> OrderIntent:
        mode = known.modes.get(self.product_type)
        if mode != "hedge":
            seen = "unknown to the firewall" if mode is None else "one-way as the firewall last saw it"
            raise FieldError(f"tradeSide is for hedge mode, and the position mode of {self.product_type} is {seen}: "
                             f"set it (set-position-mode) or read it (positions, orders-pending or account/account) "
                             f"through the firewall first, or send no tradeSide in one-way mode")
        if intent.side is None:
            return replace(intent, resolve=None)
        named = intent.side
        position = PositionSide.LONG if named is Side.BUY else PositionSide.SHORT
        # hedge mode: `side` names the position; a close reduces it, so the trade goes the other way
        side = named if self.trade_side == "open" else (Side.SELL if named is Side.BUY else Side.BUY)
        return replace(intent, side=side, position_side=position, reduce_only=False, resolve=None)


def _sides(product_type: str, side_raw: object, trade_side_raw: object,
           reduce_only_raw: object) -> tuple[Side, PositionSide, bool, _ByPositionMode | None]:
    """(side of the trade, position side, reduce-only) from v2's side/tradeSide/reduceOnly, as in one-way mode,
    and where a tradeSide is given, how the store's position mode reads it."""
    named = SIDES[_lower_enum("side", side_raw, SIDES) or ""]
    trade_side = _lower_enum("tradeSide", trade_side_raw, TRADE_SIDES, required=False)
    reduce_only = _reduce_only(reduce_only_raw)
    if trade_side is None:
        return named, PositionSide.BOTH, reduce_only, None
    # read in the store's position mode (`_ByPositionMode`), or refused; until then, as one-way mode would
    return named, PositionSide.BOTH, False, _ByPositionMode(product_type, trade_side)


def _order_leg(item: Mapping[str, Any], product_type: str, account: str | None, endpoint: str, *,
               plan_type: str | None = None) -> OrderIntent:
    conditional = plan_type is not None
    symbol = _symbol(item)
    side, position_side, reduce_only, by_mode = _sides(product_type, item.get("side"), item.get("tradeSide"),
                                                       item.get("reduceOnly"))
    order_type = ORDER_TYPES[_lower_enum("orderType", item.get("orderType"), ORDER_TYPES) or ""]
    quantity = decimal_field("size", item.get("size"))
    price = None
    if plan_type == "track_plan":
        # a trailing plan executes at market once the price retraces callbackRatio from its extreme (Bitget:
        # orderType must be market, price empty): a price it carries is not one it executes at
        if order_type != "MARKET":
            raise FieldError("orderType of a track_plan must be market: a trailing plan executes at market")
        for name in ("price", "executePrice"):
            if item.get(name) not in (None, ""):
                raise FieldError(f"{name} is refused on a track_plan: a trailing plan executes at market")
    if order_type == "LIMIT":
        price = decimal_field("price", item.get("price") if not conditional or item.get("price") not in (None, "")
                              else item.get("executePrice"))
        if conditional and item.get("executePrice") not in (None, "") and (
            decimal_field("executePrice", item.get("executePrice")) != price
        ):
            # ccxt sends both, equal; two prices that differ leave which one Bitget executes at to guesswork
            raise FieldError("price and executePrice differ: which one Bitget executes at is not known")
    trigger = decimal_field("triggerPrice", item.get("triggerPrice"), required=conditional)
    force = _lower_enum("force", item.get("force"), FORCES, required=False)
    client_id = text_field("clientOid", item.get("clientOid"), CLIENT_ID, required=False)
    margin_mode = _lower_enum("marginMode", item.get("marginMode"), MARGIN_MODES, required=False)
    return OrderIntent(
        venue=VENUE, action=Action.NEW, endpoint=endpoint, account=account, symbol=symbol,
        unified_symbol=unified_symbol(product_type, symbol), side=side, position_side=position_side,
        quantity=quantity, price=price, trigger_price=trigger, order_type=order_type,
        time_in_force=FORCES[force] if force else None, reduce_only=reduce_only,
        margin_mode=MARGIN_MODES[margin_mode] if margin_mode else None, client_order_id=client_id,
        kind=plan_kind(product_type, plan_type) if plan_type else order_kind(product_type),
        # a triggered plan order places an order of its product type
        triggers_into=order_kind(product_type) if plan_type else None, resolve=by_mode,
    )


def _place(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    return (_order_leg(body, _product_type(body), account, endpoint),)


def _place_plan(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    plan_type = _lower_enum("planType", body.get("planType"), PLAN_TYPES)
    return (_order_leg(body, _product_type(body), account, endpoint, plan_type=plan_type),)


def _batch_place(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    product_type = _product_type(body)
    symbol = _symbol(body)
    legs = body.get("orderList")
    if not isinstance(legs, list) or not legs or len(legs) > MAX_BATCH_LEGS:
        raise FieldError(f"orderList must be a JSON array of 1 to {MAX_BATCH_LEGS} orders")
    if not all(isinstance(leg, dict) for leg in legs):
        raise FieldError("orderList holds something that is not an order")
    intents = []
    for leg in legs:
        if leg.get("symbol") not in (None, "") and _symbol(leg) != symbol:
            raise FieldError("symbol of an orderList leg differs from the batch's symbol")
        # the batch names the margin mode (ccxt repeats it in every leg): a leg naming another is not read twice
        batch_mode = _lower_enum("marginMode", body.get("marginMode"), MARGIN_MODES, required=False)
        leg_mode = _lower_enum("marginMode", leg.get("marginMode"), MARGIN_MODES, required=False)
        if batch_mode is not None and leg_mode is not None and batch_mode != leg_mode:
            raise FieldError("marginMode of an orderList leg differs from the batch's")
        intents.append(_order_leg({**leg, "symbol": symbol, "marginMode": batch_mode or leg_mode}, product_type,
                                  account, endpoint))
    return tuple(intents)


def _modify(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    product_type = _product_type(body)
    symbol = _symbol(body)
    order_id = text_field("orderId", body.get("orderId"), ORDER_ID, required=False)
    client_id = text_field("clientOid", body.get("clientOid"), CLIENT_ID, required=False)
    if order_id is None and client_id is None:
        raise FieldError("orderId or clientOid is missing")
    quantity = decimal_field("newSize", body.get("newSize"), required=False)
    price = decimal_field("newPrice", body.get("newPrice"), required=False)
    trigger = decimal_field("newTriggerPrice", body.get("newTriggerPrice"), required=False)
    plan = endpoint.endswith("plan-order")
    return (OrderIntent(VENUE, Action.AMEND, endpoint, account, symbol, unified_symbol(product_type, symbol),
                        quantity=quantity, price=price, trigger_price=trigger, order_id=order_id,
                        client_order_id=client_id, kind=plan_kind(product_type) if plan else order_kind(product_type),
                        triggers_into=order_kind(product_type) if plan else None,
                        type_unknown=plan),)  # (a market or trailing plan ignores `newPrice`)


def _modify_tpsl(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    product_type = _product_type(body)
    symbol = _symbol(body)
    order_id = text_field("orderId", body.get("orderId"), ORDER_ID, required=False)
    client_id = text_field("clientOid", body.get("clientOid"), CLIENT_ID, required=False)
    if order_id is None and client_id is None:
        raise FieldError("orderId or clientOid is missing")
    quantity = decimal_field("size", body.get("size"), required=False)
    trigger = decimal_field("triggerPrice", body.get("triggerPrice"), required=False)
    # a TP/SL order only ever closes: its amend is a reduction of the new size
    return (OrderIntent(VENUE, Action.AMEND, endpoint, account, symbol, unified_symbol(product_type, symbol),
                        quantity=quantity, trigger_price=trigger, reduce_only=True, order_id=order_id,
                        client_order_id=client_id, kind=plan_kind(product_type)),)


_HOLD_TO_CLOSE = {
    # hedge mode names the position; one-way mode (buy/sell) names the position's direction
    "long": (Side.SELL, PositionSide.LONG),
    "short": (Side.BUY, PositionSide.SHORT),
    "buy": (Side.SELL, PositionSide.BOTH),
    "sell": (Side.BUY, PositionSide.BOTH),
}


def _tpsl(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    """place-tpsl-order: a take-profit/stop-loss that can only close its position (the venue enforces it)."""
    product_type = _product_type(body)
    symbol = _symbol(body)
    hold = _lower_enum("holdSide", body.get("holdSide"), HOLD_SIDES) or ""
    side, position_side = _HOLD_TO_CLOSE[hold]
    trigger = decimal_field("triggerPrice", body.get("triggerPrice"))
    decimal_field("executePrice", body.get("executePrice"), required=False, allow_zero=True)
    quantity = decimal_field("size", body.get("size"), required=False)
    return (OrderIntent(VENUE, Action.NEW, endpoint, account, symbol, unified_symbol(product_type, symbol),
                        side=side, position_side=position_side, quantity=quantity, trigger_price=trigger,
                        reduce_only=True, close_position=quantity is None, kind=plan_kind(product_type)),)


def _close_or_pos_tpsl(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    """close-positions and place-pos-tpsl: close (part of) a position, never open one."""
    product_type = _product_type(body)
    symbol = _symbol(body)
    hold = _lower_enum("holdSide", body.get("holdSide"), HOLD_SIDES, required=False)
    side, position_side = _HOLD_TO_CLOSE[hold] if hold else (None, PositionSide.BOTH)
    return (OrderIntent(VENUE, Action.NEW, endpoint, account, symbol, unified_symbol(product_type, symbol),
                        side=side, position_side=position_side, reduce_only=True, close_position=True),)


def _set_leverage(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    product_type = _product_type(body)
    symbol = _symbol(body)
    text_field("marginCoin", body.get("marginCoin"), COIN)
    values = [decimal_field(name, body.get(name), required=False)
              for name in ("leverage", "longLeverage", "shortLeverage")]
    present = [v for v in values if v is not None]
    if not present:
        raise FieldError("leverage is missing")
    _lower_enum("holdSide", body.get("holdSide"), HOLD_SIDES, required=False)
    return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, symbol,
                        unified_symbol(product_type, symbol), leverage=max(present)),)


def _set_margin_mode(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    product_type = _product_type(body)
    symbol = _symbol(body)
    mode = _lower_enum("marginMode", body.get("marginMode"), MARGIN_MODES) or ""
    return (OrderIntent(VENUE, Action.SET_MARGIN_MODE, endpoint, account, symbol,
                        unified_symbol(product_type, symbol), margin_mode=MARGIN_MODES[mode]),)


def _set_position_mode(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    _product_type(body)
    mode = _lower_enum("posMode", body.get("posMode"), POS_MODES) or ""
    return (OrderIntent(VENUE, Action.SET_POSITION_MODE, endpoint, account, hedge_mode=POS_MODES[mode] == "hedge"),)


def _no_intent(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    return ()


_MIX = "/api/v2/mix"
_ENDPOINTS: dict[RouteKey, Route] = {
    ("POST", f"{_MIX}/order/place-order"): Route(Action.NEW, _place),
    ("POST", f"{_MIX}/order/batch-place-order"): Route(Action.NEW, _batch_place),
    ("POST", f"{_MIX}/order/place-plan-order"): Route(Action.NEW, _place_plan),
    ("POST", f"{_MIX}/order/place-tpsl-order"): Route(Action.NEW, _tpsl),
    ("POST", f"{_MIX}/order/place-pos-tpsl"): Route(Action.NEW, _close_or_pos_tpsl),
    ("POST", f"{_MIX}/order/close-positions"): Route(Action.NEW, _close_or_pos_tpsl),
    ("POST", f"{_MIX}/order/modify-order"): Route(Action.AMEND, _modify),
    ("POST", f"{_MIX}/order/modify-plan-order"): Route(Action.AMEND, _modify),
    ("POST", f"{_MIX}/order/modify-tpsl-order"): Route(Action.AMEND, _modify_tpsl),
    ("POST", f"{_MIX}/order/cancel-order"): Route(Action.CANCEL),
    ("POST", f"{_MIX}/order/batch-cancel-orders"): Route(Action.CANCEL),
    ("POST", f"{_MIX}/order/cancel-plan-order"): Route(Action.CANCEL),
    ("POST", f"{_MIX}/order/cancel-all-orders"): Route(Action.CANCEL_ALL),
    ("POST", f"{_MIX}/account/set-leverage"): Route(Action.SET_LEVERAGE, _set_leverage),
    ("POST", f"{_MIX}/account/set-margin-mode"): Route(Action.SET_MARGIN_MODE, _set_margin_mode),
    ("POST", f"{_MIX}/account/set-position-mode"): Route(Action.SET_POSITION_MODE, _set_position_mode),
    # margin settings: configuration, held back by REDUCING and HALTED like margin modes
    ("POST", f"{_MIX}/account/set-margin"): Route(Action.SET_MARGIN_MODE, _no_intent),
    ("POST", f"{_MIX}/account/set-auto-margin"): Route(Action.SET_MARGIN_MODE, _no_intent),
    ("POST", f"{_MIX}/account/set-asset-mode"): Route(Action.SET_MARGIN_MODE, _no_intent),
}




# ---- responses -------------------------------------------------------------------------------------------

type Learner = Callable[[dict[str, Any], ParsedRequest, HttpRequest, Params, str], ResponseFacts]


def _rows(data: Mapping[str, Any]) -> list[Any]:
    rows = data.get("data")
    if isinstance(rows, dict):
        rows = [rows]
    return rows if isinstance(rows, list) else []


def _body_or_none(request: HttpRequest) -> Body | None:
    try:
        return _json_body(request)
    except FieldError:
        return None


def order_kind(product_type: str) -> str:
    """The scope an open-orders listing can vouch for: one product type."""
    return f"mix:{product_type.upper()}"


def plan_kind(product_type: str, plan_type: str | None = None) -> str:
    """Plan orders of a product type and plan type (`normal_plan`, `track_plan`): what orders-plan-pending lists
    for that planType. Without a plan type (TP/SL orders, which only close and are not learned; the amend of a
    plan order, whose kind is the order's as the store knows it): a kind no listing vouches for."""
    return f"plan:{product_type.upper()}" + (f":{plan_type}" if plan_type else "")


def _accepted(intent: OrderIntent, order_id: str, account: str, reservation_id: str | None) -> OrderUpdate | None:
    """An acknowledged new order (Bitget says nothing of fills here): a plain market order taken as filled, anything
    else (a reduce-only market order too: filled no further than the position) as resting until a report says."""
    if intent.symbol is None or intent.side is None or intent.quantity is None:
        return None
    fills_at_once = intent.order_type == "MARKET" and intent.trigger_price is None and not intent.only_reduces
    return OrderUpdate(VENUE, account, intent.symbol, order_id, intent.side, intent.position_side, intent.quantity,
                       intent.quantity if fills_at_once else Decimal(0), fills_at_once, intent.only_reduces,
                       reservation_id, intent.kind)


def _ack_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    order_id = item.get("orderId")
    return order_id if isinstance(order_id, str) and order_id else None


def _learn_placed(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                  decision_id: str) -> ResponseFacts:
    body = _body_or_none(request)
    if parsed.account is None or body is None or not parsed.intents:
        return ResponseFacts()
    result = data.get("data")
    pairs: list[tuple[int, str]] = []
    if normalize_path(request.path).endswith("/batch-place-order"):
        success = result.get("successList") if isinstance(result, dict) else None
        failure = result.get("failureList") if isinstance(result, dict) else None
        if not isinstance(success, list):
            return ResponseFacts()
        by_client = {i.client_order_id: leg for leg, i in enumerate(parsed.intents) if i.client_order_id}
        if all(isinstance(s, dict) and isinstance(s.get("clientOid"), str) and s["clientOid"] in by_client
               for s in success):
            pairs = [(by_client[s["clientOid"]], oid) for s in success if (oid := _ack_id(s))]
        elif not failure and len(success) == len(parsed.intents):
            pairs = [(leg, oid) for leg, s in enumerate(success) if (oid := _ack_id(s))]
    elif (oid := _ack_id(result)) is not None:
        pairs = [(0, oid)]
    reserved = parsed.action.adds_orders
    updates = []
    product_type = str(body.get("productType", "")).upper()
    for leg, order_id in pairs:
        update = _accepted(parsed.intents[leg], order_id, parsed.account,
                           f"{decision_id}:{leg}" if reserved else None)
        if update is not None:
            updates.append(update)
            HELD_SYMBOLS.saw(product_type, update.symbol)
    return ResponseFacts(orders=tuple(updates))


def _learn_cancelled(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                     decision_id: str) -> ResponseFacts:
    if parsed.account is None:
        return ResponseFacts()
    result = data.get("data")
    acks = result.get("successList") if isinstance(result, dict) and "successList" in result else [result]
    if not isinstance(acks, list):
        return ResponseFacts()
    # a plan order is cancelled only before it triggers: it placed no order, so nothing filled
    unfilled = normalize_path(request.path).endswith("/cancel-plan-order")
    return ResponseFacts(closed=tuple(ClosedOrder(VENUE, parsed.account, oid, unfilled) for ack in acks
                                      if (oid := _ack_id(ack)) is not None))


def _learn_position_mode(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                         decision_id: str) -> ResponseFacts:
    body = _body_or_none(request)
    if parsed.account is None or body is None or not parsed.intents:
        return ResponseFacts()
    hedge = parsed.intents[0].hedge_mode
    if hedge is None:
        return ResponseFacts()
    return ResponseFacts(modes=(ModeUpdate(VENUE, parsed.account, _product_type(body),
                                           "hedge" if hedge else "one-way"),))


def _modes_listed(account: str, product_type: str, rows: list[Any]) -> tuple[ModeUpdate, ...]:
    """The position mode of a product type as the rows of an answer (positions, open orders, the account) name
    it in `posMode`: taught only when every row that names one names the same."""
    named = [row["posMode"] for row in rows if isinstance(row, dict) and row.get("posMode") is not None]
    first = named[0] if named else None
    mode = POS_MODES.get(first) if isinstance(first, str) and all(m == first for m in named) else None
    return (ModeUpdate(VENUE, account, product_type, mode),) if mode else ()


def _learn_account(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                   decision_id: str) -> ResponseFacts:
    # ccxt's fetch_leverage and fetch_margin_mode read one account; its posMode is the product type's
    product_type = params.get("productType", "").upper()
    if parsed.account is None or product_type not in PRODUCT_TYPES or not isinstance(data.get("data"), dict):
        return ResponseFacts()
    return ResponseFacts(modes=_modes_listed(parsed.account, product_type, [data["data"]]))


_HOLD = {"long": (PositionSide.LONG, 1), "short": (PositionSide.SHORT, -1)}


def _learn_positions(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                     decision_id: str) -> ResponseFacts:
    product_type = params.get("productType", "").upper()
    rows = data.get("data")
    if parsed.account is None or product_type not in PRODUCT_TYPES or not isinstance(rows, list):
        return ResponseFacts()
    single = normalize_path(request.path).endswith("/single-position")
    asked = params.get("symbol", "").upper()
    # only an answer to a query riskwall read whole (`_SCOPES`) says what it leaves out of a symbol is flat
    whole = _whole((request.method, normalize_path(request.path)), params)
    by_symbol: dict[str, list[tuple[str, PositionSide, Decimal]]] = {}
    unreadable: set[str] = set()
    prices: list[PriceUpdate] = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("symbol"), str):
            return ResponseFacts()
        symbol = row["symbol"].upper()
        mark = price_or_none(row.get("markPrice"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, symbol, mark, "mark"))
        mode = row.get("posMode")
        try:
            side, sign = _HOLD[str(row.get("holdSide"))]
            total = decimal_field("total", row.get("total"), allow_zero=True) or Decimal(0)
        except (KeyError, FieldError):
            unreadable.add(symbol)
            continue
        position_side = side if mode == "hedge_mode" else PositionSide.BOTH
        by_symbol.setdefault(symbol, []).append((symbol, position_side, total * sign))
    modes = _modes_listed(parsed.account, product_type, rows)
    for symbol in by_symbol:
        HELD_SYMBOLS.saw(product_type, symbol)
    if (single and whole and asked and SYMBOL.fullmatch(asked) and not by_symbol
            and not unreadable and _margin_coin_fits(product_type, asked, params.get("marginCoin"))):
        by_symbol[asked] = []  # asked for one symbol, and none listed: it is flat
    if not single and whole and not unreadable:
        # every open position of the product type (of its margin coin, where one is asked) is listed: a symbol
        # this sidecar saw held or traded there that the answer leaves out is flat (closed by a TP/SL, a
        # liquidation, the web: what the store never learned)
        margin_coin = params.get("marginCoin")
        for symbol in HELD_SYMBOLS.of(product_type) - set(by_symbol):
            if _margin_coin_fits(product_type, symbol, margin_coin):
                by_symbol[symbol] = []
    reports = []
    for symbol, entries in by_symbol.items():
        if symbol in unreadable:
            continue
        listed = {side for _, side, _ in entries}
        if PositionSide.BOTH in listed and len(entries) > 1:
            continue  # one-way mode lists one position per symbol; two are not a reading we trust
        if whole:
            slots = (PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT)
            entries = entries + [(symbol, s, Decimal(0)) for s in slots if s not in listed]
        reports.append(PositionsReport(VENUE, parsed.account, symbol, tuple(entries)))
    return ResponseFacts(prices=tuple(prices), positions=tuple(reports), modes=modes)


_POS_SIDE = {("long", "open"): (Side.BUY, PositionSide.LONG), ("long", "close"): (Side.SELL, PositionSide.LONG),
             ("short", "open"): (Side.SELL, PositionSide.SHORT), ("short", "close"): (Side.BUY, PositionSide.SHORT)}


def _listed_order(item: Any, account: str, kind: str) -> OrderUpdate | None:
    if not isinstance(item, dict):
        return None
    try:
        order_id = text_field("orderId", item.get("orderId"), ORDER_ID) or ""
        symbol = _symbol(item)
        size = decimal_field("size", item.get("size"), allow_zero=True) or Decimal(0)
        executed = decimal_field("baseVolume", item.get("baseVolume") or "0", allow_zero=True) or Decimal(0)
        pos_side = str(item.get("posSide", "net")).lower()
        trade_side = str(item.get("tradeSide", "")).lower()
        if pos_side in ("long", "short"):
            side, position_side = _POS_SIDE[(pos_side, "close" if "close" in trade_side else "open")]
            reduce_only = closes_hedge_position(side, position_side)
        else:
            side, position_side = SIDES[str(item.get("side")).lower()], PositionSide.BOTH
            reduce_only = item.get("reduceOnly") == "YES"
    except (KeyError, FieldError):
        return None
    state = str(item.get("status") or item.get("state") or "").lower()
    return OrderUpdate(VENUE, account, symbol, order_id, side, position_side, size, min(executed, size),
                       state in FINAL_STATES, reduce_only, kind=kind)


def _margin_coin_fits(product_type: str, symbol: str, margin_coin: str | None) -> bool:
    """Whether a single-position query's `marginCoin` (ccxt sends the market's settle coin) is the symbol's, exactly
    as spelled: Bitget answers for the two together, and may list nothing for a symbol held in another coin."""
    if margin_coin is None:
        return True
    unified = unified_symbol(product_type, symbol)
    return unified is not None and unified.partition(":")[2].split("-")[0] == margin_coin


def _learn_open_orders(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                       decision_id: str) -> ResponseFacts:
    product_type = params.get("productType", "").upper()
    if product_type not in PRODUCT_TYPES:
        return ResponseFacts()
    return _listing(data, parsed, params, product_type, order_kind(product_type))


def _learn_plan_orders(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                       decision_id: str) -> ResponseFacts:
    """orders-plan-pending lists the plan orders of one planType (`profit_loss`: TP/SL orders, not learned)."""
    product_type = params.get("productType", "").upper()
    plan_type = params.get("planType", "")
    if product_type not in PRODUCT_TYPES or plan_type not in PLAN_TYPES:
        return ResponseFacts()
    result = data.get("data")
    items = result.get("entrustedList") if isinstance(result, dict) else None
    if isinstance(items, list) and any(isinstance(item, dict) and item.get("planType") not in (None, plan_type)
                                       for item in items):
        return ResponseFacts()  # not the listing asked for: learn nothing rather than the wrong thing
    # a triggered plan order places an order of its product type, which may rest in orders-pending
    return _listing(data, parsed, params, product_type, plan_kind(product_type, plan_type), order_kind(product_type))


def _listing(data: dict[str, Any], parsed: ParsedRequest, params: Params, product_type: str,
             kind: str, triggers_into: str | None = None) -> ResponseFacts:
    """An open-orders page of one kind: the whole book of that kind (a snapshot) when it is unfiltered and not
    cut short by its page size, else only what it says of each order it lists."""
    result = data.get("data")
    if parsed.account is None or not isinstance(result, dict):
        return ResponseFacts()
    items = result.get("entrustedList") or []
    if not isinstance(items, list):
        return ResponseFacts()
    listed = [_listed_order(item, parsed.account, kind) for item in items]
    known = tuple(u for u in listed if u is not None)
    for update in known:
        HELD_SYMBOLS.saw(product_type, update.symbol)
    modes = _modes_listed(parsed.account, product_type, items)
    # the gate is `_SCOPES` (a parameter it does not name makes the listing teach only its orders); these filters
    # are the learner's own reading of them
    scoped = not any(params.get(k) for k in ("orderId", "clientOid", "idLessThan", "status", "startTime",
                                             "endTime"))
    limit = params.get("limit") or str(DEFAULT_PAGE)
    complete = len(known) == len(items) and ascii_digits(limit) and 0 < int(limit) <= DEFAULT_PAGE and (
        len(items) < int(limit))
    symbol = params.get("symbol", "").upper() or None
    if not scoped or not complete or (symbol is not None and not SYMBOL.fullmatch(symbol)):
        return ResponseFacts(orders=known, modes=modes)
    return ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, parsed.account, symbol, known, kind,
                                                         triggers_into=triggers_into),), modes=modes)


def _learn_tickers(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                   decision_id: str) -> ResponseFacts:
    if params.get("productType", "").upper() not in PRODUCT_TYPES:
        return ResponseFacts()
    prices = []
    for row in _rows(data):
        if not isinstance(row, dict) or not isinstance(row.get("symbol"), str):
            continue
        symbol = row["symbol"].upper()
        mark, last = price_or_none(row.get("markPrice")), price_or_none(row.get("lastPr") or row.get("price"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, symbol, mark, "mark"))
        elif last is not None:
            prices.append(PriceUpdate(VENUE, symbol, last, "last"))
    return ResponseFacts(prices=tuple(prices))


def _learn_contracts(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                     decision_id: str) -> ResponseFacts:
    """contracts → unified symbols the way ccxt builds them (bitget.parse_market)."""
    product_type = params.get("productType", "").upper()
    if product_type not in PRODUCT_TYPES:
        return ResponseFacts()
    instruments = []
    for row in _rows(data):
        if not isinstance(row, dict):
            continue
        native, base, quote = row.get("symbol"), row.get("baseCoin"), row.get("quoteCoin")
        if not all(isinstance(v, str) and v for v in (native, base, quote)):
            continue
        settle = base if product_type.removeprefix("S") == "COIN-FUTURES" else quote
        unified = f"{base}/{quote}:{settle}"
        if row.get("symbolType") == "delivery":
            try:
                expiry = time.strftime("%y%m%d", time.gmtime(int(str(row.get("deliveryTime"))) / 1000))
            except ValueError:
                continue
            unified += f"-{expiry}"
        instruments.append(Instrument(VENUE, str(native).upper(), unified))
    return ResponseFacts(instruments=tuple(instruments))


_LEARNERS: dict[RouteKey, Learner] = {
    ("GET", f"{_MIX}/market/contracts"): _learn_contracts,
    ("GET", f"{_MIX}/market/ticker"): _learn_tickers,
    ("GET", f"{_MIX}/market/tickers"): _learn_tickers,
    ("GET", f"{_MIX}/market/symbol-price"): _learn_tickers,
    ("GET", f"{_MIX}/account/account"): _learn_account,
    ("GET", f"{_MIX}/position/all-position"): _learn_positions,
    ("GET", f"{_MIX}/position/single-position"): _learn_positions,
    ("GET", f"{_MIX}/order/orders-pending"): _learn_open_orders,
    ("GET", f"{_MIX}/order/orders-plan-pending"): _learn_plan_orders,
    ("POST", f"{_MIX}/order/place-order"): _learn_placed,
    ("POST", f"{_MIX}/order/batch-place-order"): _learn_placed,
    # a plan order rests (as its kind) until it triggers or is cancelled; TP/SL orders only close: not learned
    ("POST", f"{_MIX}/order/place-plan-order"): _learn_placed,
    ("POST", f"{_MIX}/order/cancel-order"): _learn_cancelled,
    ("POST", f"{_MIX}/order/cancel-plan-order"): _learn_cancelled,
    ("POST", f"{_MIX}/order/batch-cancel-orders"): _learn_cancelled,
    ("POST", f"{_MIX}/order/cancel-all-orders"): _learn_cancelled,
    ("POST", f"{_MIX}/account/set-position-mode"): _learn_position_mode,
}



def _quietly(learner: Learner) -> Learner:
    """A Bitget answer whose rows cannot be read teaches nothing (rather than failing the response)."""

    def learn(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
              decision_id: str) -> ResponseFacts:
        try:
            return learner(data, parsed, request, params, decision_id)
        except FieldError:
            return ResponseFacts()

    return learn


# Bitget signs in headers (ACCESS-SIGN, ACCESS-TIMESTAMP): no query parameter of a read is harmless
_HARMLESS: frozenset[str] = frozenset()
# the query parameters each listing's learner reads and honours as its scope, spelled exactly so
# (`TableAdapter.sure_scope`): any other (a filter Bitget honours that the learner does not read, `Symbol` in other
# letter case, which Bitget may or may not read as `symbol`) makes the answer teach only the orders and positions it
# lists. ccxt sends productType with symbol, limit and planType (trigger listings) for open orders, productType and
# marginCoin for all-position (each listed symbol has one margin coin: its slots are all listed), and symbol,
# productType and marginCoin (judged against the symbol) for single-position. Cursors, time ranges and order ids
# (ccxt's pagination, since, until) teach the orders listed only
_SCOPES: dict[RouteKey, frozenset[str]] = {
    ("GET", f"{_MIX}/order/orders-pending"): frozenset({"productType", "symbol", "limit"}),
    ("GET", f"{_MIX}/order/orders-plan-pending"): frozenset({"productType", "planType", "symbol", "limit"}),
    ("GET", f"{_MIX}/position/all-position"): frozenset({"productType", "marginCoin"}),
    ("GET", f"{_MIX}/position/single-position"): frozenset({"productType", "symbol", "marginCoin"}),
}


def _whole(key: RouteKey, params: Params) -> bool:
    return read_whole(_SCOPES, _HARMLESS, key, params)


_ROUTES = route_table(_ENDPOINTS, {key: _quietly(learner) for key, learner in _LEARNERS.items()})
ADAPTER = Bitget()

__all__ = ["ADAPTER", "Bitget", "order_kind", "unified_symbol", "violation_code"]
