"""Bybit v5 (linear and inverse derivatives): endpoint table, request → intents, response → facts, native rejections.

Facts: docs/venues.md §0 and §3. GET parameters travel in the query string, POST parameters in a JSON body;
Bybit signs the exact bytes (`timestamp + apiKey + recvWindow + body`), so the body is read here and never
re-serialised, and anything the venue might read differently from riskwall is refused:

- a body that is not one JSON object, not UTF-8, holds NaN/Infinity, a number written with a sign, an exponent or
  too many digits, the same key twice, or a key that differs from a field riskwall reads only by letter case
  (Bybit's matching of field names is not documented; Go's JSON decoder, for one, ignores case);
- a query string on a POST (Bybit signs and reads the body only);
- `reduceOnly`/`closeOnTrigger` given as anything but a JSON boolean (whether Bybit reads the string "true" as
  true is not documented; riskwall exempts an order only when the venue certainly enforces the flag).

Decisions worth knowing (each is also a test):

- **Categories.** `linear` and `inverse` are checked. Order entry in `spot` and `option` is not checked yet, so it
  is refused as UNKNOWN (`POST /v5/order/create?category=spot`); cancels in any category pass.
- **Quantities.** Linear `qty` is in base units. Inverse `qty` is in USD contracts (one contract = 1 USD), so the
  base quantity is `qty / price`, at the price `contract_price` gives once the store's price for the symbol is read
  when the request is decided (mark preferred; learned from tickers, position lists and pushes by any sidecar
  sharing the store): the intent carries a `resolve` hook, since an adapter reads no state. A sell converts at its
  own limit price, else its trigger price; a buy (and an amend of an order the store does not know) at the lower
  of that and the store's price, since a buy far above the market fills at the market, as more coin than its own
  price says; with no own price, the store's. With no price at all the order is refused as unparseable, naming
  `qty`. The division is rounded up at 10 decimals (rounding never under-counts).
- **Market orders ignore `price`** on Bybit, so a market order's intent carries no price (a decoy price must not
  shrink a notional); the engine uses the mark price it has seen instead.
- **Reductions.** `reduceOnly: true` (the venue enforces it) and, in hedge mode, a Sell on `positionIdx` 1 or a
  Buy on `positionIdx` 2. `qty: "0"` closes the whole position and is accepted only with `reduceOnly: true`.
  `closeOnTrigger` alone is not trusted as a reduction.
- **`/v5/position/trading-stop`** (TP/SL/trailing stop on an open position) can only close: it is a NEW intent
  that only reduces (no size, side from `positionIdx` in hedge mode), so no limit traps it and HALTED stops it.
- **`/v5/position/switch-isolated`** also sets `buyLeverage`/`sellLeverage`, so it is a SET_LEVERAGE intent (with
  the margin mode it switches to, which `margin_mode` rules check) and the leverage limit applies. `set-leverage`
  checks the larger of the two leverages. `set-margin-mode` reads REGULAR_MARGIN as CROSSED and
  PORTFOLIO_MARGIN as PORTFOLIO; `switch-mode` mode 3 is hedge mode, 0 one-way.
- **Amends** carry no side on Bybit. For an open order the store knows (acknowledged through a sidecar, or
  listed by `order/realtime`/`order/history` or the `order` stream), by `orderId` or else by `orderLinkId`, the
  engine supplies the side, position side and order id and the intent's hook the reduce-only flag, so the
  position limit counts the amend (replacing the order's old size); an accepted amend reports its new total
  `qty` (`AmendAccepted.total`). For an order the store does not know, size, notional and rate are still
  checked but the position limit cannot be.

Learning: order acknowledgements carry only `orderId`/`orderLinkId` (the latter kept as the order's client id,
which amends may name it by). An accepted market order (no trigger) is counted as filled at once (Bybit converts
it to an IOC order; a position query replaces the guess with the venue's figure); any other accepted order is
pending until the venue says otherwise. Open orders come from
`GET /v5/order/realtime`: a complete listing (no cursor, no order id, no `orderFilter`, open orders only, one
page) is a snapshot of its scope; the order *kind* is that scope (`linear:USDT`, `linear:USDC`, `inverse`), so a
listing never finalises orders it does not cover. Positions come from `GET /v5/position/list` (`size` is unsigned:
`side` and `positionIdx` give the sign and position side), one report per listed symbol — a `settleCoin` listing
omits flat positions, so it can never say that an unlisted symbol is flat.

Rejections: HTTP 200 with Bybit's envelope, codes chosen so ccxt and pybit raise an order-class error (see
`_CODES`). A refused batch also lists every leg, as Bybit does, when the decision's legs fit the parsed batch.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, Context, Decimal, localcontext
from typing import Any

import orjson

from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    AmendAccepted,
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
    UNREADABLE,
    FieldError,
    HttpRequest,
    Rejection,
    Route,
    RouteKey,
    Socket,
    Steering,
    TableAdapter,
    Unchecked,
    ascii_digits,
    contract_price,
    decimal_field,
    enum_field,
    equity_update,
    field_spellings,
    first_price,
    inverse_repricing,
    inverse_resizing,
    json_body,
    json_bool_field,
    lowest_own_price,
    normalize_path,
    order_list,
    price_or_none,
    read_whole,
    route_table,
    text_field,
    venue_time_ms,
)

VENUE = Venue.BYBIT

SYMBOL = re.compile(r"[A-Za-z0-9-]{1,40}")
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
COIN = re.compile(r"[A-Z0-9]{1,16}")
SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
POSITION_IDX = {0: PositionSide.BOTH, 1: PositionSide.LONG, 2: PositionSide.SHORT}
ORDER_TYPES = {"Limit": "LIMIT", "Market": "MARKET"}
# enum_field's choices, made once rather than per field read
_SIDE_NAMES = frozenset(SIDES)
_ORDER_TYPE_NAMES = frozenset(ORDER_TYPES)
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "PostOnly", "RPI"})
CHECKED_CATEGORIES = frozenset({"linear", "inverse"})
UNCHECKED_CATEGORIES = frozenset({"spot", "option"})
# the account's margin mode (set-margin-mode) in the policy's words: REGULAR_MARGIN is cross margin
MARGIN_MODES = {"ISOLATED_MARGIN": MarginMode.ISOLATED, "REGULAR_MARGIN": MarginMode.CROSSED,
                "PORTFOLIO_MARGIN": MarginMode.PORTFOLIO}
FINAL_STATUSES = frozenset({"Filled", "Cancelled", "Rejected", "PartiallyFilledCanceled", "Deactivated"})
MAX_BATCH_LEGS = 20  # Bybit's own limit for linear, inverse and option batches
DEFAULT_PAGE = {"/v5/order/realtime": 20, "/v5/position/list": 20}
MAX_PAGE = {"/v5/order/realtime": 50, "/v5/position/list": 200}
# base quantities from inverse contracts are rounded up at this many decimals (never under-counted)
BASE_DECIMALS = Decimal("1e-10")

# every field riskwall reads from a body: a key that matches one of these only when letter case is ignored is
# refused, because a case-insensitive decoder at the venue would read it as the field riskwall did not see
KNOWN_FIELDS = frozenset({
    "category", "symbol", "side", "orderType", "qty", "price", "triggerPrice", "timeInForce", "positionIdx",
    "orderLinkId", "orderId", "reduceOnly", "closeOnTrigger", "request", "buyLeverage", "sellLeverage",
    "tradeMode", "mode", "coin", "setMarginMode", "marketUnit", "bboSideType", "takeProfit", "stopLoss",
    "trailingStop", "activePrice", "tpSize", "slSize", "tpLimitPrice", "slLimitPrice", "tpslMode",
})
_KNOWN_FOLDED = {name.casefold(): name for name in KNOWN_FIELDS}
# what strict_json checks each key against, made once rather than per request
SPELLINGS = field_spellings(KNOWN_FIELDS)
# the spellings _KNOWN_FOLDED accepts as they are
_KNOWN_SPELLED = frozenset(_KNOWN_FOLDED.values())

type Body = dict[str, Any]
type Params = dict[str, str]


class _Unchecked(Unchecked):
    """Order entry in a category riskwall does not check yet (spot, option): an unknown endpoint, named with it."""

    def __init__(self, category: str) -> None:
        super().__init__(suffix=f"?category={category}")
        self.category = category


class Bybit(TableAdapter):
    venue: Venue = VENUE
    default_hosts: tuple[str, ...] = (
        "api.bybit.com",
        "api.bytick.com",
        # regional and licensed-entity hosts (docs/venues.md §3.1; pybit's bybit-tr and com.hk domains)
        "api.bybit.nl",
        "api.bybit.tr",
        "api.bybit.kz",
        "api.bybitgeorgia.ge",
        "api.bybit.ae",
        "api.bybit.eu",
        "api.bybit.id",
        "api.manepa.jp",
        "api.bybit-tr.com",
        "api.bybit.com.hk",
        # testnet and demo trading
        "api-testnet.bybit.com",
        "api-demo.bybit.com",
        "api-demo-testnet.bybit.com",
        "api-testnet.bytick.com",
        "api-demo.bytick.com",
        # WebSocket hosts
        "stream.bybit.com",
        "stream.bytick.com",
        "stream-testnet.bybit.com",
        "stream-demo.bybit.com",
        "stream.bybit.nl",
        "stream.bybit.tr",
        "stream.bybit.kz",
        "stream.bybitgeorgia.ge",
        "stream.bybit.ae",
        "stream.bybit.eu",
        "stream.bybit.id",
    )
    key_header = "X-BAPI-API-KEY"
    domains: tuple[str, ...] = ("bybit.com", "bytick.com", "bybit.nl", "bybit.tr", "bybit.kz", "bybitgeorgia.ge",
                                "bybit.ae", "bybit.eu", "bybit.id", "bybit-tr.com", "bybit.com.hk", "manepa.jp")
    secret_fields: frozenset[str] = frozenset({"x-bapi-api-key", "x-bapi-sign", "api_key", "apikey", "sign",
                                               "signature"})
    # order entry, and the market-data and private streams
    sockets: tuple[tuple[str, Socket], ...] = (
        ("/v5/trade", Socket.ORDERS),
        ("/v5/public/*", Socket.STREAM),
        ("/v5/private", Socket.STREAM),
    )

    def __init__(self) -> None:
        super().__init__(_ROUTES, _json_body, _is_forbidden, _is_forbidden_write, writes_only_at_write_paths=True,
                         scopes=_SCOPES, harmless=_HARMLESS)

    def payload(self, data: Any) -> Any:
        # Bybit answers errors with HTTP 200 too: only retCode 0 is a success
        return data if isinstance(data, dict) and data.get("retCode") in (0, "0") else UNREADABLE

    def rejection(self, decision: Decision, parsed: ParsedRequest | None = None) -> Rejection:
        violation = decision.deciding
        code, prefix = _code_for(violation.reason if violation else Reason.INTERNAL_ERROR)
        message = prefix + _STEERING.message(violation)
        payload: dict[str, Any] = {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {},
                                   "time": time.time_ns() // 1_000_000}
        try:
            legs = _batch_legs(decision, code, parsed)
        except Exception:  # the per-leg lists are a courtesy: the envelope alone must always go out
            legs = None
        if legs is not None:
            payload["result"], payload["retExtInfo"] = legs
        return Rejection(200, orjson.dumps(payload))


# ---- rejections ------------------------------------------------------------------------------------------

# ccxt (bybit.handle_errors: broad match on the whole body first, then the exact code) and pybit
# (InvalidRequestError for any retCode != 0 except its retry codes 10002, 10006, 30034, 30035, 130035, 130150):
#   10001 + "Not supported symbols"  ccxt BadSymbol          pybit InvalidRequestError
#   110013                           ccxt BadRequest         pybit InvalidRequestError   (leverage)
#   10027                            ccxt PermissionDenied   pybit InvalidRequestError   (kill switch)
#   10005                            ccxt PermissionDenied   pybit InvalidRequestError   (forbidden endpoint,
#                                                                                         unknown endpoint or key)
#   10018                            ccxt RateLimitExceeded  pybit InvalidRequestError   (rate; not 10006, which
#                                    pybit retries after sleeping, re-sending the order behind the bot's back)
#   110003 "Order price is out of    ccxt InvalidOrder       pybit InvalidRequestError   (price collar)
#           permissible range"
#   10001 "Request parameter error"  ccxt BadRequest         pybit InvalidRequestError   (margin or position mode)
#   110032 "Illegal order"           ccxt InvalidOrder       pybit InvalidRequestError   (duplicate order, and
#                                                                                         everything else; not
#                                    110072 "OrderLinkedID is duplicate": a bot would take its order as placed)
#   110020 "number of active orders  ccxt InvalidOrder       pybit InvalidRequestError   (too many open orders)
#           greater than 500"
# None of these is one of the codes ccxt's WebSocket handler takes for a failed login (bybit_frames.AUTH_CODES).
_DEFAULT_CODE = (110032, "")
_CODES: dict[Reason, tuple[int, str]] = {
    Reason.SYMBOL_NOT_ALLOWED: (10001, "Not supported symbols: "),
    Reason.LEVERAGE_EXCEEDS_MAX: (110013, ""),
    Reason.PRICE_OUTSIDE_COLLAR: (110003, ""),
    Reason.MARGIN_MODE_NOT_ALLOWED: (10001, ""),
    Reason.DUPLICATE_ORDER: (110032, ""),
    Reason.OPEN_ORDERS_EXCEED_MAX: (110020, ""),
    Reason.TRADING_HALTED: (10027, "Transactions are banned: "),
    Reason.TRADING_REDUCING: (10027, "Transactions are banned: "),
    Reason.ACTION_FORBIDDEN: (10005, "Permission denied: "),
    Reason.UNKNOWN_ENDPOINT: (10005, "Permission denied: "),
    Reason.UNKNOWN_ACCOUNT: (10005, "Permission denied: "),
    Reason.ORDER_RATE_EXCEEDED: (10018, "Too many visits: "),
}

# substrings ccxt looks for anywhere in a Bybit error body to pick an exception class (bybit.py 'broad');
# a rule id, a symbol or an operator's halt reason in our message must not pick one by accident
_STEERING = Steering("Not supported symbols", "Request timeout", "unknown orderInfo", "invalid api_key", "oc_diff",
                     "new_oc", "openapi sign params error!")


def _code_for(reason: Reason) -> tuple[int, str]:
    return _CODES.get(reason, _DEFAULT_CODE)


def _batch_legs(decision: Decision, code: int, parsed: ParsedRequest | None
                ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Bybit's per-leg lists (`result.list`, `retExtInfo.list`) for a refused batch, when the decision's legs fit
    the parsed batch; None otherwise (the top-level code alone still makes clients raise)."""
    leg_numbers = [v.leg for v in decision.violations if v.leg is not None]
    if parsed is None or not leg_numbers:
        return None
    intents = parsed.intents
    if len(intents) < 2 or max(leg_numbers) >= len(intents):
        return None
    results, codes = [], []
    for leg, intent in enumerate(intents):
        own = next((v for v in decision.violations if v.leg == leg), None)
        if own is not None:
            leg_code, prefix = _code_for(own.reason)
            codes.append({"code": leg_code, "msg": prefix + _STEERING.message(own)})
        else:
            codes.append({"code": code, "msg": "Risk firewall refused the whole batch: another leg was blocked"})
        results.append({"category": _leg_category(intent), "symbol": intent.symbol or "",
                        "orderId": intent.order_id or "", "orderLinkId": intent.client_order_id or "", "createAt": ""})
    return {"list": results}, {"list": codes}


def _leg_category(intent: OrderIntent) -> str:
    """The category a leg was sent under, as its unified symbol tells (an inverse contract settles in its base
    coin: BTC/USD:BTC); batches mix no categories."""
    unified = intent.unified_symbol or ""
    base, settle = unified.partition("/")[0], unified.partition(":")[2]
    return "inverse" if base and settle.split("-")[0] == base else "linear"


# ---- requests --------------------------------------------------------------------------------------------


# wallet, sub-account and API-key management: never a trading bot's business
_FORBIDDEN_PREFIXES = ("/v5/asset/", "/v5/user/", "/v5/broker/", "/v5/fiat/", "/v5/position/move-positions")
_FORBIDDEN_PARTS = ("withdraw", "transfer", "sub-member", "submember", "sub-api", "subaccount", "sub-account",
                    "update-api", "delete-api", "create-api")


def _is_forbidden(path: str) -> bool:
    return any(part in path for part in _FORBIDDEN_PARTS)


def _is_forbidden_write(path: str) -> bool:
    # wallet and user areas hold reads bots make (coin info, key permissions): only writes are refused there
    return path.startswith(_FORBIDDEN_PREFIXES)


# the `category` of bodies read lately, by content type and body (what json_body reads of a request without a
# query): an answer's learner needs it, and reading its request's body again cost half of learning from an order's
# answer. A pure function of its key, so a body met again reads alike; bounded in count and body size, emptied when
# full (a miss only reads the body again). Bodies hold no credential.
_CATEGORIES: dict[tuple[str, bytes], Any] = {}
_MAX_CATEGORIES = 128
_MAX_CATEGORY_BODY = 4096


def _json_body(request: HttpRequest) -> Body:
    """The POST body as one JSON object, read exactly as Bybit will read it (case-insensitive names) or refused."""
    body: Body = json_body(request, "Bybit", known_fields=SPELLINGS)
    if not request.query and type(request.body) is bytes and len(request.body) <= _MAX_CATEGORY_BODY:
        if len(_CATEGORIES) >= _MAX_CATEGORIES:
            _CATEGORIES.clear()
        _CATEGORIES[(request.content_type, request.body)] = body.get("category")
    return body


def _check_spelling(obj: Mapping[str, Any]) -> None:
    for key in obj:
        if key in _KNOWN_SPELLED:  # a known field as spelled (every key of a well-formed order): nothing to fold
            continue
        known = _KNOWN_FOLDED.get(key.casefold())
        if known is not None and known != key:
            raise FieldError(f"{known} is spelled with different letter case")


def _category(body: Mapping[str, Any]) -> str:
    category = body.get("category")
    if isinstance(category, str) and category in UNCHECKED_CATEGORIES:
        raise _Unchecked(category)
    return enum_field("category", category, CHECKED_CATEGORIES) or ""


def _symbol(obj: Mapping[str, Any]) -> str:
    return (text_field("symbol", obj.get("symbol"), SYMBOL) or "").upper()


def position_side_of(raw: object, *, required: bool = False) -> PositionSide:
    """A request's, an answer's or a push's `positionIdx` (absent: one-way, BOTH); FieldError (a ValueError)
    for anything but 0, 1 and 2."""
    if raw is None or raw == "":
        if required:
            raise FieldError("positionIdx is missing")
        return PositionSide.BOTH
    chosen = small_choice(raw, tuple(POSITION_IDX))
    if chosen is None:
        raise FieldError("positionIdx must be 0, 1 or 2")
    return POSITION_IDX[chosen]


def small_choice(raw: object, allowed: tuple[int, ...]) -> int | None:
    """`raw` as one of the small integers `allowed`: a JSON number (read as a Decimal, or an int) equal to one, or
    its digits as text; None for anything else. Compared, never converted: `int()` of a number written
    1e999999999 would build a billion digits, and a venue's answer is read inside the event loop."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal | int):
        return next((choice for choice in allowed if raw == choice), None)
    if isinstance(raw, str) and ascii_digits(raw) and len(raw) < 3:
        return next((choice for choice in allowed if int(raw) == choice), None)
    return None


def _integer_choice(name: str, raw: object, allowed: tuple[int, ...]) -> int:
    chosen = small_choice(raw, allowed)
    if chosen is not None:
        return chosen
    if raw is None or raw == "":
        raise FieldError(f"{name} is missing")
    raise FieldError(f"{name} must be one of {', '.join(map(str, allowed))}")


def unified_symbol(category: str, native: str) -> str | None:
    """ccxt's unified symbol: learned from instruments-info, else derived (BTCUSDT → BTC/USDT:USDT, inverse
    BTCUSD → BTC/USD:BTC)."""
    known = CATALOG.lookup(VENUE, native)
    if known is not None:
        return known.unified
    if category == "inverse":
        if native.endswith("USD") and len(native) > 3 and native[:-3].isalnum():
            base = native[:-3]
            return f"{base}/USD:{base}"
        return None
    return CATALOG.unified(VENUE, native)


def order_kind(category: str, native: str) -> str:
    """The scope an open-orders listing can vouch for: linear orders by settle coin, inverse ones together."""
    if category == "inverse":
        return "inverse"
    unified = unified_symbol(category, native)
    settle = unified.split(":", 1)[1].split("-", 1)[0] if unified and ":" in unified else "?"
    return f"linear:{settle}"


def to_base(category: str, qty: Decimal, *prices: Decimal | None) -> Decimal:
    """Base units: linear qty as is; inverse USD contracts ÷ the first known price, rounded up."""
    if category != "inverse":
        return qty
    price = first_price(*prices)
    if price is None:
        raise FieldError(
            "qty is in USD contracts on inverse markets and no price is known to convert it to base units: "
            "send a limit price, or fetch the ticker or positions through the sidecar first"
        )
    with localcontext(Context(prec=80)):
        base = (qty / price).quantize(BASE_DECIMALS, rounding=ROUND_CEILING)
        # no trailing zeros (0.5, not 0.5000000000), and never an exponent (10, not 1E+1)
        return base.quantize(Decimal(1)) if base == base.to_integral_value() else base.normalize()


def _in_base_units(intent: OrderIntent, known: Known, contracts: Decimal, side: Side | None) -> Decimal:
    """Inverse `contracts` in base units at `contract_price`: a buy (or an amend of an order of no known side)
    far above the market fills at the market, so it converts at the lower of its own price and the store's mark
    (at its own, it would count as a fraction of the coin it buys); the same FieldError as ever when neither is
    known."""
    own = lowest_own_price(side, intent.price, intent.trigger_price)
    return to_base("inverse", contracts, contract_price(side, own, known.price(intent.symbol),
                                                       limit=intent.price is not None))


def _priced_by_store(contracts: Decimal) -> Callable[[OrderIntent, Known], OrderIntent]:
    """The hook of an inverse order: its `contracts` in base units, priced with the store's mark for the symbol
    (even an order with its own price: a buy converts at the lower of the two)."""

    def resolve(intent: OrderIntent, known: Known) -> OrderIntent:
        quantity = _in_base_units(intent, known, contracts, intent.side)
        return dataclasses.replace(intent, quantity=quantity, contracts=contracts, resolve=None)

    return resolve


def _amended_order(contracts: Decimal | None, inverse: bool) -> Callable[[OrderIntent, Known], OrderIntent]:
    """The hook of an amend: the reduce-only flag of the open order it names, as the store knows it (the engine
    then supplies its side, position side and order id), and, for inverse `contracts`, their base units at the
    price that order's side converts at (an order the store does not know counts as a buy). An inverse amend of
    the price alone is refused unless the order only reduces (`inverse_repricing`)."""

    def resolve(intent: OrderIntent, known: Known) -> OrderIntent:
        order = known.order(intent.order_id, intent.client_order_id)
        # the venue refuses an amend that names another symbol's order: that order says nothing of it
        if order is not None and order.symbol != intent.symbol:
            order = None
        if inverse and contracts is None and (intent.price or intent.trigger_price) and not (
                order is not None and order.reduce_only):
            raise inverse_repricing("qty")
        if inverse and contracts is not None and not (intent.price or intent.trigger_price) and not (
                order is not None and order.reduce_only):
            raise inverse_resizing("price (or triggerPrice)")
        quantity = intent.quantity if contracts is None else _in_base_units(
            intent, known, contracts, order.side if order is not None else None)
        reduce_only = order is not None and order.reduce_only
        return dataclasses.replace(intent, quantity=quantity, reduce_only=reduce_only, resolve=None)

    return resolve


def _order_leg(item: Mapping[str, Any], category: str, account: str | None, endpoint: str) -> OrderIntent:
    _check_spelling(item)
    symbol = _symbol(item)
    side = SIDES[enum_field("side", item.get("side"), _SIDE_NAMES) or ""]
    order_type = ORDER_TYPES[enum_field("orderType", item.get("orderType"), _ORDER_TYPE_NAMES) or ""]
    position_side = position_side_of(item.get("positionIdx"))
    reduce_only = json_bool_field("reduceOnly", item.get("reduceOnly"))
    json_bool_field("closeOnTrigger", item.get("closeOnTrigger"))
    qty = decimal_field("qty", item.get("qty"), allow_zero=reduce_only)
    close_position = qty == 0
    trigger = decimal_field("triggerPrice", item.get("triggerPrice"), required=False)
    price: Decimal | None = None
    bbo = item.get("bboSideType") not in (None, "")
    if bbo and item.get("price") not in (None, ""):
        # a BBO order takes its price from the book (the queue's or the counterparty's best), not from `price`: the
        # price sent is not one it executes at, and which of the two Bybit reads is not ours to guess
        raise FieldError("price is refused beside bboSideType: a BBO order is priced from the order book")
    if order_type == "LIMIT" and not bbo:
        price = decimal_field("price", item.get("price"))
    # a BBO order has no price of its own, as a market order: its notional is measured at the store's mark
    # a market order's `price` is ignored by Bybit, so it is not read: a decoy price must not shrink a notional
    market_unit = item.get("marketUnit")
    if market_unit not in (None, "", "baseCoin"):
        raise FieldError("marketUnit other than baseCoin is for spot orders only")
    tif = enum_field("timeInForce", item.get("timeInForce"), TIME_IN_FORCE, default="-")
    client_id = text_field("orderLinkId", item.get("orderLinkId"), CLIENT_ID, required=False)
    quantity: Decimal | None = None
    hook = None
    if not close_position and qty is not None:
        if category == "inverse":
            hook = _priced_by_store(qty)  # sized once the store's mark is read
        else:
            quantity = qty
    return OrderIntent(
        venue=VENUE,
        action=Action.NEW,
        endpoint=endpoint,
        account=account,
        symbol=symbol,
        unified_symbol=unified_symbol(category, symbol),
        side=side,
        position_side=position_side,
        quantity=quantity,
        price=price,
        trigger_price=trigger,
        order_type=order_type,
        time_in_force=None if tif == "-" else tif,
        reduce_only=reduce_only,
        close_position=close_position,
        client_order_id=client_id,
        kind=order_kind(category, symbol),
        resolve=hook,
    )


def _amend_leg(item: Mapping[str, Any], category: str, account: str | None, endpoint: str) -> OrderIntent:
    _check_spelling(item)
    symbol = _symbol(item)
    order_id = text_field("orderId", item.get("orderId"), ORDER_ID, required=False)
    client_id = text_field("orderLinkId", item.get("orderLinkId"), CLIENT_ID, required=False)
    if order_id is None and client_id is None:
        raise FieldError("orderId or orderLinkId is missing")
    qty = decimal_field("qty", item.get("qty"), required=False)
    price = decimal_field("price", item.get("price"), required=False)
    # "0" removes a conditional order's trigger, so zero is a valid trigger price here
    trigger = decimal_field("triggerPrice", item.get("triggerPrice"), required=False, allow_zero=True)
    quantity: Decimal | None = None
    contracts: Decimal | None = None  # inverse contracts, sized once the store's mark and order are read
    if category == "inverse":
        contracts = qty
    else:
        quantity = qty
    # the amend names no side: the order the store knows by `orderId`, else by `orderLinkId` (the view reads it by
    # `client_order_id` only where `order_id` is None), supplies it, so the position limit can count the amend
    return OrderIntent(
        venue=VENUE,
        action=Action.AMEND,
        endpoint=endpoint,
        account=account,
        symbol=symbol,
        unified_symbol=unified_symbol(category, symbol),
        quantity=quantity,
        price=price,
        trigger_price=trigger or None,
        order_id=order_id,
        client_order_id=client_id,
        kind=order_kind(category, symbol),
        resolve=_amended_order(contracts, category == "inverse"),
    )


type LegParser = Callable[[Mapping[str, Any], str, str | None, str], OrderIntent]


def _single(leg: LegParser) -> Callable[[Body, str | None, str], tuple[OrderIntent, ...]]:
    def parse(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
        _check_spelling(body)
        return (leg(body, _category(body), account, endpoint),)

    return parse


def _batch(leg: LegParser) -> Callable[[Body, str | None, str], tuple[OrderIntent, ...]]:
    def parse(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
        _check_spelling(body)
        category = _category(body)
        legs = order_list(body.get("request"), "request", MAX_BATCH_LEGS)
        return tuple(leg(item, category, account, endpoint) for item in legs)

    return parse


def _leverages(body: Mapping[str, Any]) -> Decimal:
    buy = decimal_field("buyLeverage", body.get("buyLeverage"))
    sell = decimal_field("sellLeverage", body.get("sellLeverage"))
    return max(buy or Decimal(0), sell or Decimal(0))


def _set_leverage(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    _check_spelling(body)
    category = _category(body)
    symbol = _symbol(body)
    # one-way and cross margin use one leverage; hedge mode may set two: the larger is the risk
    return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, symbol, unified_symbol(category, symbol),
                        leverage=_leverages(body)),)


def _switch_isolated(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    _check_spelling(body)
    category = _category(body)
    symbol = _symbol(body)
    mode = _integer_choice("tradeMode", body.get("tradeMode"), (0, 1))
    # this call also sets the leverage, so it is checked as a leverage change
    return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, symbol, unified_symbol(category, symbol),
                        leverage=_leverages(body),
                        margin_mode=MarginMode.ISOLATED if mode == 1 else MarginMode.CROSSED),)


def _switch_mode(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    _check_spelling(body)
    category = _category(body)
    mode = _integer_choice("mode", body.get("mode"), (0, 3))
    raw_symbol = body.get("symbol")
    symbol = _symbol(body) if raw_symbol not in (None, "") else None
    if symbol is None:
        text_field("coin", body.get("coin"), COIN)
    return (OrderIntent(VENUE, Action.SET_POSITION_MODE, endpoint, account, symbol,
                        unified_symbol(category, symbol) if symbol else None, hedge_mode=mode == 3),)


def _set_margin_mode(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    _check_spelling(body)
    mode = enum_field("setMarginMode", body.get("setMarginMode"), frozenset(MARGIN_MODES)) or ""
    return (OrderIntent(VENUE, Action.SET_MARGIN_MODE, endpoint, account, margin_mode=MARGIN_MODES[mode]),)


_TRADING_STOP_PRICES = ("takeProfit", "stopLoss", "trailingStop", "activePrice", "tpSize", "slSize",
                        "tpLimitPrice", "slLimitPrice")


def _trading_stop(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    """TP/SL/trailing stop on an open position: orders that can only close it, so a close of the position with no
    size (exempt from every limit, the rate and duplicates included: a bot can always protect its position)."""
    _check_spelling(body)
    category = _category(body)
    symbol = _symbol(body)
    position_side = position_side_of(body.get("positionIdx"), required=True)
    for name in _TRADING_STOP_PRICES:
        decimal_field(name, body.get(name), required=False, allow_zero=True)  # "0" cancels that stop
    side = closing_side(position_side)
    return (OrderIntent(VENUE, Action.NEW, endpoint, account, symbol, unified_symbol(category, symbol), side=side,
                        position_side=position_side, reduce_only=True, close_position=True),)


def _no_intent(body: Body, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    return ()


_ENDPOINTS: dict[RouteKey, Route] = {
    ("POST", "/v5/order/create"): Route(Action.NEW, _single(_order_leg)),
    ("POST", "/v5/order/create-batch"): Route(Action.NEW, _batch(_order_leg)),
    ("POST", "/v5/order/amend"): Route(Action.AMEND, _single(_amend_leg)),
    ("POST", "/v5/order/amend-batch"): Route(Action.AMEND, _batch(_amend_leg)),
    ("POST", "/v5/order/cancel"): Route(Action.CANCEL),
    ("POST", "/v5/order/cancel-batch"): Route(Action.CANCEL),
    ("POST", "/v5/order/cancel-all"): Route(Action.CANCEL_ALL),
    # the dead-man switch only ever cancels
    ("POST", "/v5/order/disconnected-cancel-all"): Route(Action.CANCEL_ALL),
    # margin calculation for a would-be order; nothing reaches the book
    ("POST", "/v5/order/pre-check"): Route(Action.READ),
    ("POST", "/v5/position/set-leverage"): Route(Action.SET_LEVERAGE, _set_leverage),
    ("POST", "/v5/position/switch-isolated"): Route(Action.SET_LEVERAGE, _switch_isolated),
    ("POST", "/v5/position/switch-mode"): Route(Action.SET_POSITION_MODE, _switch_mode),
    ("POST", "/v5/position/trading-stop"): Route(Action.NEW, _trading_stop),
    ("POST", "/v5/account/set-margin-mode"): Route(Action.SET_MARGIN_MODE, _set_margin_mode),
    # margin and risk-limit settings: configuration, held back by REDUCING and HALTED like margin modes
    ("POST", "/v5/position/add-margin"): Route(Action.SET_MARGIN_MODE, _no_intent),
    ("POST", "/v5/position/set-auto-add-margin"): Route(Action.SET_MARGIN_MODE, _no_intent),
    ("POST", "/v5/position/set-risk-limit"): Route(Action.SET_MARGIN_MODE, _no_intent),
}




# ---- responses -------------------------------------------------------------------------------------------

type Learner = Callable[[dict[str, Any], ParsedRequest, HttpRequest, Params, str], ResponseFacts]


def _result(data: Mapping[str, Any]) -> dict[str, Any]:
    result = data.get("result")
    return result if isinstance(result, dict) else {}


def _items(data: Mapping[str, Any]) -> list[Any] | None:
    items = _result(data).get("list")
    return items if isinstance(items, list) else None


def _leg_codes(data: Mapping[str, Any]) -> list[Any]:
    ext = data.get("retExtInfo")
    codes = ext.get("list") if isinstance(ext, dict) else None
    return codes if isinstance(codes, list) else []


def _leg_ok(codes: list[Any], leg: int) -> bool:
    if leg >= len(codes):
        return not codes  # no per-leg codes at all: the envelope's retCode 0 covers every leg
    entry = codes[leg]
    return isinstance(entry, dict) and entry.get("code") in (0, "0")


def _ack_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    order_id = item.get("orderId")
    return order_id if isinstance(order_id, str) and order_id else None


def _body_category(request: HttpRequest) -> str | None:
    if not request.query and type(request.body) is bytes:
        # the parse of this request kept it (a body read without error, so read alike now), else a miss
        category = _CATEGORIES.get((request.content_type, request.body), _UNREAD)
    else:
        category = _UNREAD
    if category is _UNREAD:
        try:
            category = _json_body(request).get("category")
        except FieldError:
            return None
    # a list or object where the venue wants text is no category (and no set holds it)
    return category if isinstance(category, str) and category in CHECKED_CATEGORIES else None


_UNREAD = object()


def _accepted(intent: OrderIntent, order_id: str, account: str, reservation_id: str | None,
              venue_ms: int | None = None) -> OrderUpdate | None:
    """An acknowledged new order. Bybit says nothing of fills here: a plain market order is taken as filled (it
    is matched at once as IOC), anything else as resting until a listing or a position query says otherwise; a
    reduce-only one too, since the venue fills it no further than the position (taken as filled in full, one larger
    than the position would leave the store short where the venue is flat). `venue_ms`: the answer's `time`, when
    the venue had matched it (by then)."""
    if intent.symbol is None or intent.side is None or intent.quantity is None:
        return None
    fills_at_once = intent.order_type == "MARKET" and intent.trigger_price is None and not intent.only_reduces
    return OrderUpdate(
        venue=VENUE,
        account=account,
        symbol=intent.symbol,
        order_id=order_id,
        side=intent.side,
        position_side=intent.position_side,
        original=intent.quantity,
        executed=intent.quantity if fills_at_once else Decimal(0),
        final=fills_at_once,
        reduce_only=intent.only_reduces,
        reservation_id=reservation_id,
        kind=intent.kind,
        client_order_id=intent.client_order_id,
        venue_ms=venue_ms,
    )


def _learn_created(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                   decision_id: str) -> ResponseFacts:
    category = _body_category(request)
    if parsed.account is None or category is None or not parsed.intents:
        return ResponseFacts()
    reserved = parsed.action.adds_orders
    if normalize_path(request.path) == "/v5/order/create":
        acks: list[Any] = [_result(data)]
        codes: list[Any] = []
    else:
        acks = _items(data) or []
        codes = _leg_codes(data)
    updates = []
    for leg, (intent, ack) in enumerate(zip(parsed.intents, acks, strict=False)):
        order_id = _ack_id(ack)
        if order_id is None or not _leg_ok(codes, leg):
            continue
        update = _accepted(intent, order_id, parsed.account, f"{decision_id}:{leg}" if reserved else None,
                           venue_time_ms(data.get("time")))
        if update is not None:
            updates.append(update)
    return ResponseFacts(orders=tuple(updates))


def _learn_amended(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                   decision_id: str) -> ResponseFacts:
    """Each accepted leg's new total size: Bybit's amend `qty` is the order's whole quantity, fills included, which
    the store turns into what is left of it (the answer carries ids only)."""
    if parsed.account is None or not parsed.intents:
        return ResponseFacts()
    if normalize_path(request.path) == "/v5/order/amend":
        acks: list[Any] = [_result(data)]
        codes: list[Any] = []
    else:
        acks = _items(data) or []
        codes = _leg_codes(data)
    amended = [
        AmendAccepted(VENUE, parsed.account, f"{decision_id}:{leg}", total=intent.quantity)
        for leg, (intent, ack) in enumerate(zip(parsed.intents, acks, strict=False))
        if _ack_id(ack) is not None and intent.quantity is not None and _leg_ok(codes, leg)
    ]
    return ResponseFacts(amended=tuple(amended))


def _learn_cancelled(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                     decision_id: str) -> ResponseFacts:
    """Cancel answers carry ids only: those orders are gone (their fills, if any, come with positions)."""
    if parsed.account is None:
        return ResponseFacts()
    path = normalize_path(request.path)
    if path == "/v5/order/cancel":
        acks: list[Any] = [_result(data)]
        codes: list[Any] = []
    else:
        acks = _items(data) or []
        codes = _leg_codes(data) if path == "/v5/order/cancel-batch" else []
    closed = [
        ClosedOrder(VENUE, parsed.account, order_id)
        for leg, ack in enumerate(acks)
        if (order_id := _ack_id(ack)) is not None and _leg_ok(codes, leg)
    ]
    return ResponseFacts(closed=tuple(closed))


def listed_order(item: Any, account: str, category: str, known: Known | None = None) -> OrderUpdate | None:
    """One order object of `order/realtime`, `order/history` or the `order` stream → OrderUpdate (None when it does
    not parse, or when an inverse order carries no price and `known`, what the store knew when its request was
    decided, holds none for the symbol)."""
    if not isinstance(item, dict):
        return None
    try:
        order_id = text_field("orderId", item.get("orderId"), ORDER_ID)
        symbol = (text_field("symbol", item.get("symbol"), SYMBOL) or "").upper()
        side = SIDES[str(item.get("side"))]
        position_side = position_side_of(item.get("positionIdx"))
        qty = decimal_field("qty", item.get("qty"), allow_zero=True) or Decimal(0)
        executed = decimal_field("cumExecQty", item.get("cumExecQty") or "0", allow_zero=True) or Decimal(0)
        status = str(item.get("orderStatus", ""))
        if category == "inverse":
            own = lowest_own_price(side, price_or_none(item.get("price")), price_or_none(item.get("triggerPrice")))
            prices = (own, price_or_none(item.get("avgPrice")), known.price(symbol) if known is not None else None)
            qty = to_base(category, qty, *prices) if qty else qty
            executed = to_base(category, executed, *prices) if executed else executed
    except (KeyError, ValueError, TypeError, FieldError):
        return None
    reduce_only = item.get("reduceOnly") is True
    reduce_only = reduce_only or closes_hedge_position(side, position_side)
    link = item.get("orderLinkId")
    return OrderUpdate(
        venue=VENUE,
        account=account,
        symbol=symbol,
        order_id=order_id or "",
        side=side,
        position_side=position_side,
        original=qty,
        executed=min(executed, qty),
        final=status in FINAL_STATUSES,
        reduce_only=reduce_only,
        kind=order_kind(category, symbol),
        # the bot's id for the order ("" when it gave none), which its amends may name it by
        client_order_id=link if isinstance(link, str) and link else None,
        venue_ms=venue_time_ms(item.get("updatedTime")),
    )


def _complete_page(path: str, params: Params, result: Mapping[str, Any], count: int) -> bool:
    """True when the answer is the whole listing: no cursor asked for, and no further page possible."""
    if params.get("cursor"):
        return False
    raw_limit = params.get("limit") or str(DEFAULT_PAGE[path])
    if not ascii_digits(raw_limit) or not 1 <= int(raw_limit) <= MAX_PAGE[path]:
        return False
    return not result.get("nextPageCursor") or count < int(raw_limit)


def _snapshot_scope(params: Params, category: str) -> tuple[str, str | None] | None:
    """(kind, symbol) an open-orders listing vouches for completely, or None. The gate is `_SCOPES` (a parameter
    it does not name makes the listing teach only its orders); the filters below are the learner's own reading."""
    if any(params.get(k) for k in ("orderId", "orderLinkId", "orderFilter", "baseCoin")):
        return None  # one order, one kind of order or one base coin: not a scope the kinds can express
    if params.get("openOnly", "0") != "0":
        return None  # closed orders, not the open book
    symbol = params.get("symbol", "").upper()
    if symbol:
        return (order_kind(category, symbol), symbol) if SYMBOL.fullmatch(symbol) else None
    settle = params.get("settleCoin", "").upper()
    if category == "linear":
        return (f"linear:{settle}", None) if settle and COIN.fullmatch(settle) else None
    return ("inverse", None) if not settle else None


def _learn_order_listing(history: bool) -> Learner:
    def learn(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
              decision_id: str) -> ResponseFacts:
        category = params.get("category", "")
        items = _items(data)
        if parsed.account is None or category not in CHECKED_CATEGORIES or items is None:
            return ResponseFacts()
        if _result(data).get("category") not in (None, "", category):
            return ResponseFacts()  # not the listing we asked for: learn nothing rather than the wrong thing
        updates = [listed_order(item, parsed.account, category, parsed.known) for item in items]
        known = tuple(u for u in updates if u is not None)
        scope = None if history else _snapshot_scope(params, category)
        complete = len(known) == len(items) and _complete_page("/v5/order/realtime", params, _result(data),
                                                                len(items))
        if scope is None or not complete:
            return ResponseFacts(orders=known)
        kind, symbol = scope
        return ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, parsed.account, symbol, known, kind),))

    return learn


_ALL_SIDES = (PositionSide.BOTH, PositionSide.LONG, PositionSide.SHORT)


def _learn_positions(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                     decision_id: str) -> ResponseFacts:
    category = params.get("category", "")
    items = _items(data)
    if parsed.account is None or category not in CHECKED_CATEGORIES or items is None:
        return ResponseFacts()
    if _result(data).get("category") not in (None, "", category):
        return ResponseFacts()
    by_symbol: dict[str, list[tuple[str, PositionSide, Decimal]]] = {}
    unreadable: set[str] = set()
    prices: list[PriceUpdate] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            unreadable.add("*")
            continue
        symbol = item["symbol"].upper()
        mark = price_or_none(item.get("markPrice"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, symbol, mark, "mark"))
        try:
            position_side = position_side_of(item.get("positionIdx"))
            size = decimal_field("size", item.get("size"), allow_zero=True) or Decimal(0)
            side = str(item.get("side") or "")
            if size and category == "inverse":
                size = to_base(category, size, mark, price_or_none(item.get("avgPrice")),
                               parsed.known.price(symbol) if parsed.known is not None else None)
        except (KeyError, ValueError, TypeError, FieldError):
            unreadable.add(symbol)
            continue
        if size and side not in SIDES:
            unreadable.add(symbol)
            continue
        signed = -size if (side == "Sell" or position_side is PositionSide.SHORT) else size
        by_symbol.setdefault(symbol, []).append((symbol, position_side, signed))
    # only a listing of a query riskwall read whole (`_SCOPES`) says the slots it leaves out of a symbol are flat
    complete = ("*" not in unreadable and _whole(_POSITIONS, params)
                and _complete_page("/v5/position/list", params, _result(data), len(items)))
    reports = []
    # only listed symbols: one asked for but absent (a wrong category, say) is not known to be flat
    for symbol in by_symbol:
        if symbol in unreadable:
            continue  # one side unreadable: reporting the others alone could zero it below
        entries = by_symbol.get(symbol, [])
        if complete:
            # Bybit lists every open position slot of a symbol it lists; a slot it leaves out is flat
            listed = {side for _, side, _ in entries}
            entries = entries + [(symbol, side, Decimal(0)) for side in _ALL_SIDES if side not in listed]
        if entries:
            reports.append(PositionsReport(VENUE, parsed.account, symbol, tuple(entries)))
    return ResponseFacts(prices=tuple(prices), positions=tuple(reports))


def wallet_equity(rows: object, account: str | None) -> tuple[EquityUpdate, ...]:
    """The account's equity in wallet rows (`result.list` of wallet-balance, `data` of the `wallet` stream
    topic): `totalEquity`, in USD, of the one row that carries it (a unified account has one; none, or rows of
    several account types, teach nothing)."""
    if not isinstance(rows, list):
        return ()
    found = [row for row in rows if isinstance(row, dict) and row.get("totalEquity") not in (None, "")]
    if len(found) != 1:
        return ()
    equity = equity_update(VENUE, account, found[0]["totalEquity"], "USD")
    return (equity,) if equity is not None else ()


def _learn_wallet(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                  decision_id: str) -> ResponseFacts:
    """The account's equity, from a read of the whole unified account only (ccxt's): one for other account types,
    or filtered by coin, may total less than the account, and a small first figure of the day would set a baseline
    no loss falls below."""
    if params.get("accountType") != "UNIFIED" or any(value for key, value in params.items() if key != "accountType"):
        return ResponseFacts()
    result = data.get("result")
    return ResponseFacts(equity=wallet_equity(result.get("list") if isinstance(result, dict) else None,
                                              parsed.account))


def _learn_tickers(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                   decision_id: str) -> ResponseFacts:
    # spot and option ids can equal a derivative's (spot BTCUSDT): their prices are not this instrument's
    if params.get("category") not in CHECKED_CATEGORIES:
        return ResponseFacts()
    prices = []
    for item in _items(data) or []:
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            continue
        symbol = item["symbol"].upper()
        mark, last = price_or_none(item.get("markPrice")), price_or_none(item.get("lastPrice"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, symbol, mark, "mark"))
        elif last is not None:
            prices.append(PriceUpdate(VENUE, symbol, last, "last"))
    return ResponseFacts(prices=tuple(prices))


def _learn_instruments(data: dict[str, Any], parsed: ParsedRequest, request: HttpRequest, params: Params,
                       decision_id: str) -> ResponseFacts:
    """instruments-info → unified symbols the way ccxt builds them (bybit.fetch_future_markets)."""
    category = params.get("category")
    if category not in CHECKED_CATEGORIES:
        return ResponseFacts()
    instruments = []
    for item in _items(data) or []:
        if not isinstance(item, dict):
            continue
        native, base, quote = item.get("symbol"), item.get("baseCoin"), item.get("quoteCoin")
        contract_type = str(item.get("contractType", ""))
        settle = item.get("settleCoin") or (quote if category == "linear" else base)
        if not all(isinstance(v, str) and v for v in (native, base, quote, settle)):
            continue
        if contract_type == "LinearPerpetual" and settle == "USD":
            settle = "USDC"  # ccxt's naming for Bybit's USDC perpetuals
        unified = f"{base}/{quote}:{settle}"
        if contract_type.endswith("Futures"):
            expiry = _yymmdd(item.get("deliveryTime"))
            if expiry is None:
                continue
            unified += f"-{expiry}"
        inverse = category == "inverse"
        instruments.append(Instrument(VENUE, str(native).upper(), unified,
                                      contract_size=Decimal(1) if inverse else None, quote_sized=inverse))
    return ResponseFacts(instruments=tuple(instruments))


def _yymmdd(raw: object) -> str | None:
    try:
        millis = int(str(raw))
    except ValueError:
        return None
    if millis <= 0:
        return None
    return time.strftime("%y%m%d", time.gmtime(millis / 1000))


_LEARNERS: dict[RouteKey, Learner] = {
    ("GET", "/v5/market/instruments-info"): _learn_instruments,
    ("GET", "/v5/market/tickers"): _learn_tickers,
    ("GET", "/v5/position/list"): _learn_positions,
    ("GET", "/v5/account/wallet-balance"): _learn_wallet,
    ("GET", "/v5/order/realtime"): _learn_order_listing(history=False),
    ("GET", "/v5/order/history"): _learn_order_listing(history=True),
    ("POST", "/v5/order/create"): _learn_created,
    ("POST", "/v5/order/create-batch"): _learn_created,
    ("POST", "/v5/order/amend"): _learn_amended,
    ("POST", "/v5/order/amend-batch"): _learn_amended,
    ("POST", "/v5/order/cancel"): _learn_cancelled,
    ("POST", "/v5/order/cancel-batch"): _learn_cancelled,
    ("POST", "/v5/order/cancel-all"): _learn_cancelled,
}

# Bybit signs in headers (X-BAPI-SIGN, X-BAPI-TIMESTAMP, X-BAPI-RECV-WINDOW): no query parameter of a read is
# harmless
_HARMLESS: frozenset[str] = frozenset()
_OPEN_ORDERS: RouteKey = ("GET", "/v5/order/realtime")
_POSITIONS: RouteKey = ("GET", "/v5/position/list")
# the query parameters each listing's learner reads and honours as its scope, spelled exactly so
# (`TableAdapter.sure_scope`): any other (a filter Bybit honours that the learner does not read, `Symbol` in other
# letter case, which Bybit may or may not read as `symbol`) makes the answer teach only the orders and positions it
# lists. ccxt sends category with symbol or settleCoin, and limit; pybit what its caller names. openOnly is judged
# (0, the open book, only). A cursor, orderFilter (ccxt's trigger listing), baseCoin or an order id teach the
# orders listed only
_SCOPES: dict[RouteKey, frozenset[str]] = {
    _OPEN_ORDERS: frozenset({"category", "symbol", "settleCoin", "openOnly", "limit"}),
    _POSITIONS: frozenset({"category", "symbol", "settleCoin", "limit"}),
}


def _whole(key: RouteKey, params: Params) -> bool:
    return read_whole(_SCOPES, _HARMLESS, key, params)


_ROUTES = route_table(_ENDPOINTS, _LEARNERS)
ADAPTER = Bybit()


def violation_code(violation: Violation) -> int:
    """The Bybit retCode a block with this violation answers with (for docs and tests)."""
    return _code_for(violation.reason)[0]


__all__ = ["ADAPTER", "Bybit", "order_kind", "unified_symbol", "violation_code"]
