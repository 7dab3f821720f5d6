"""BitMEX (REST API v1): endpoint table, request → intents, response → facts, native rejections.

Facts: docs/venues.md §0 and §5. GET parameters travel in the query string; POST/PUT/DELETE parameters in a
JSON body (ccxt) or a form body (the swagger clients). BitMEX signs `VERB + path-with-query + expires + body`, so
the body is read here and never re-serialised, and anything BitMEX might read differently from riskwall is
refused (a PARSE_FAILED block for anything that could add risk; cancels always pass):

- a body that is neither JSON nor form, not UTF-8, a JSON body that is not one object, holds NaN/Infinity or a
  number with an exponent or too many digits;
- a key given twice, in one body or across query string and body (BitMEX's reading of both is not documented),
  or a key that differs from a field riskwall reads only by letter case;
- form keys with brackets or dots (`orderQty[0]=...`: a nested-object reader would see something else);
- `simpleOrderQty`/`simpleLeavesQty` (deprecated base-unit sizes) and `targetAccountId(s)` (an order for another
  account, whose positions this key's limits do not describe);
- a method-override header (`X-HTTP-Method-Override`...): a DELETE that the venue might run as a POST.

Decisions worth knowing (each is also a test):

- **Sizes are contracts.** `orderQty` (and `leavesQty` on amends) count contracts. Inverse contracts (XBTUSD) are
  worth `contract_size` USD each, so base = contracts × size ÷ price, at `venues.base.contract_price` of the
  order's own price (`lowest_own_price`: a sell's limit price, else its `stopPx`; a buy's lower of the two, as a
  triggered buy fills about its trigger) and the mark (or last) price the store holds (learned
  from instrument and position answers, read with the request's view: `OrderIntent.resolve`, so every sidecar of
  a fleet converts alike): a sell at its own price (converted as it is read), a buy at the lower of its own and
  the mark (a buy limit far above the market fills at the market, as many more coins), an order without a price
  of its own at the mark. Amends convert alike, with the side of the order they name; one that moves an inverse
  order's price, trigger or peg without restating its size is refused unless the order is reduce-only, as is a
  pegged or trailing (`pegPriceType`) inverse order that could add risk (it fills where the market takes it, so
  its coin is not known); linear contracts
  (XBTUSDT) are worth `contract_size` of the underlying (1 / `underlyingToPositionMultiplier`). The contract facts
  come from `GET /api/v1/instrument` answers passing through (learned into the process-wide catalog), else from
  the bundled XBTUSD entry (1 USD, inverse). Quanto contracts (ETHUSD, settled in XBT with a fixed satoshi
  multiplier) have no fixed size in the underlying, so they are never bundled and their orders are refused as
  unparseable naming `orderQty`, as is any unknown contract size or an inverse size with no price: never a guess.
  Inverse conversions round up at 10 decimals (never under-count).
- **Side** is `Buy`/`Sell`, or, absent, the sign of `orderQty` (negative = Sell); a side with a negative size is
  refused.
- **Order types.** `Market`, `Stop` and `MarketIfTouched` ignore `price` (a decoy price must not shrink a
  notional). A missing `ordType` follows BitMEX's defaults (price → Limit, stopPx → Stop, both → StopLimit,
  neither → Market).
- **Reductions.** `execInst` containing `ReduceOnly` or `Close` (the venue enforces both); `Close` without
  `orderQty` closes the whole position (no size). `POST /order/closePosition` (deprecated) is a close-position
  order too.
- **Leverage** `0` means cross margin, where a position may draw up to the risk limit's maximum leverage: it is
  checked as leverage 100 (BitMEX's maximum) unless `crossLeverage` names a lower one. Setting a leverage also
  switches the position's margin mode (`0` cross, anything else isolated), as `POST /position/isolate` does:
  both carry the mode they switch to, which `margin_mode` rules check. BitMEX has no position mode (positions are
  net), so `allow_hedge` never applies here.
- **Amends** carry no symbol or side: for an open order the store knows (acknowledged through the firewall, or
  listed by `GET /order`; by `orderID`, else by the `clOrdID` learned from its answers) they come from the store
  (`OrderIntent.resolve`); for an unknown order a new size cannot be converted (no symbol, so no contract size)
  and the amend is refused, naming `orderQty` (or `leavesQty`).
- **Bulk** `POST/PUT /order/bulk` (absent from the 2024 swagger; removal **UNCONFIRMED**) are read as batches of
  their `orders` array: one bad leg blocks the whole batch.

Learning: BitMEX answers an order with the order itself (`ordStatus`, `orderQty`, `cumQty`), so fills are learned
from acks, amends, cancels and `GET /order`. A `GET /order` whose `filter` is exactly `{"open": true}` (plus
`symbol`) with no paging is a snapshot of that scope. `GET /position` gives signed `currentQty` contracts; an
unfiltered (or `{"isOpen": true}`) listing is account-wide.

Rejections: HTTP 4xx `{"error": {"message": ..., "name": "HTTPError"}}` (see `_STATUSES`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, Context, Decimal, InvalidOperation, localcontext
from typing import Any
from urllib.parse import parse_qsl

import orjson

from riskwall.instruments import CATALOG, Instrument
from riskwall.model import (
    Action,
    ClosedOrder,
    Decision,
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
)
from riskwall.venues.base import (
    MAX_BODY_BYTES,
    MAX_PARAMS,
    FieldError,
    HttpRequest,
    Rejection,
    Resolver,
    Route,
    RouteKey,
    Socket,
    Steering,
    TableAdapter,
    ascii_digits,
    contract_price,
    decimal_field,
    enum_field,
    field_spellings,
    first_price,
    inverse_repricing,
    inverse_resizing,
    lowest_own_price,
    one_leg,
    order_list,
    route_table,
    strict_json,
    text_field,
)

VENUE = Venue.BITMEX
PREFIX = "/api/v1"

SYMBOL = re.compile(r"[A-Za-z0-9_.]{1,40}")
CLIENT_ID = re.compile(r"[A-Za-z0-9_:.=+/-]{1,36}")
ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
SIDES = {"Buy": Side.BUY, "Sell": Side.SELL}
ORDER_TYPES = {"Limit": "LIMIT", "Market": "MARKET", "Stop": "STOP", "StopLimit": "STOP_LIMIT",
               "MarketIfTouched": "MARKET_IF_TOUCHED", "LimitIfTouched": "LIMIT_IF_TOUCHED", "Pegged": "PEGGED"}
PRICED_TYPES = frozenset({"Limit", "StopLimit", "LimitIfTouched"})
TRIGGERED_TYPES = frozenset({"Stop", "StopLimit", "MarketIfTouched", "LimitIfTouched"})
TIME_IN_FORCE = frozenset({"Day", "GoodTillCancel", "ImmediateOrCancel", "FillOrKill", "AtTheClose"})
EXEC_INST = frozenset({"ParticipateDoNotInitiate", "AllOrNone", "MarkPrice", "IndexPrice", "LastPrice", "Close",
                       "ReduceOnly", "Fixed", "LastWithinMark"})
FINAL_STATUSES = frozenset({"Filled", "Canceled", "Rejected", "Expired", "Stopped"})
MAX_BATCH_LEGS = 100
# BitMEX's leverage ceiling; cross margin (leverage 0) lets a position draw up to it
CROSS_LEVERAGE = Decimal(100)
BASE_DECIMALS = Decimal("1e-10")
DEFAULT_COUNT = 100
MAX_COUNT = 500
SATOSHI_COINS = {"XBt": "BTC", "XBT": "BTC", "USDt": "USDT", "USDT": "USDT", "Gwei": "ETH", "mXBT": "BTC"}

# every field riskwall reads from a request: a key equal to one of these but for letter case is refused
KNOWN_FIELDS = frozenset({
    "symbol", "side", "orderQty", "price", "stopPx", "ordType", "timeInForce", "execInst", "clOrdID", "orderID",
    "origClOrdID", "leavesQty", "orders", "leverage", "crossLeverage", "enabled", "amount", "riskLimit",
    "simpleOrderQty", "simpleLeavesQty", "targetAccountId", "targetAccountIds", "pegPriceType", "pegOffsetValue",
})
_KNOWN_FOLDED = {name.casefold(): name for name in KNOWN_FIELDS}
# what strict_json checks each key against, made once rather than per request
SPELLINGS = field_spellings(KNOWN_FIELDS)
_OTHER_ACCOUNT = ("targetAccountId", "targetAccountIds")

type Params = dict[str, Any]
# the bundled fallback: only what is certain. XBTUSD: 1 contract = 1 USD, inverse (docs/venues.md §5.3). Learned wins.
BUNDLED: tuple[Instrument, ...] = (
    Instrument(VENUE, "XBTUSD", "BTC/USD:BTC", Decimal(1), quote_sized=True),
)
_BUNDLED = {i.native: i for i in BUNDLED}


class Bitmex(TableAdapter):
    venue: Venue = VENUE
    default_hosts: tuple[str, ...] = ("www.bitmex.com", "testnet.bitmex.com", "ws.bitmex.com", "ws.testnet.bitmex.com")
    key_header = "api-key"
    domains: tuple[str, ...] = ("bitmex.com",)
    secret_fields: frozenset[str] = frozenset({"api-key", "api-signature", "apikey", "signature"})
    # BitMEX's WebSocket carries subscriptions only (market data and the account's own tables), no orders
    sockets: tuple[tuple[str, Socket], ...] = (
        ("/realtime", Socket.STREAM),
        ("/realtimemd", Socket.STREAM),
        ("/realtimeplatform", Socket.STREAM),
    )

    def __init__(self) -> None:
        super().__init__(_ROUTES, request_params, _is_forbidden, _is_forbidden_write, scopes=_SCOPES)

    def scope(self, request: HttpRequest) -> Params | None:
        return _query(request)

    def rejection(self, decision: Decision, parsed: ParsedRequest | None = None) -> Rejection:
        violation = decision.deciding
        reason = violation.reason if violation else Reason.INTERNAL_ERROR
        status = _STATUSES.get(reason, 400)
        payload = {"error": {"message": _STEERING.message(violation), "name": "HTTPError"}}
        headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)
        if status == 429:
            headers += (("retry-after", "1"),)
        return Rejection(status, orjson.dumps(payload), headers)


# ---- rejections ------------------------------------------------------------------------------------------

# Old ccxt bitmex.handle_errors (docs/venues.md §5.5): 429 → DDoSProtection; ≥400: exact then broad match on
# error.message, then 400 → BadRequest, any other status → ExchangeError (raised before the generic status map,
# so a 403 never becomes ExchangeNotAvailable). The message carries rule and reason, so it never equals an exact
# key, and `_neutral` keeps the broad keys out of it:
#   400 → BadRequest (an order refused as invalid; never a NetworkError)     order, symbol, leverage, parse, state,
#                                                                            duplicate order (not "Duplicate clOrdID",
#                                                                            which says the bot's id was taken),
#                                                                            too many open orders
#   403 → ExchangeError (HTTP 403 Forbidden to the official connectors)      kill switch, forbidden, unknown endpoint
#   429 → DDoSProtection (the only retryable class, for the rate only)       ORDER_RATE_EXCEEDED
_STATUSES: dict[Reason, int] = {
    Reason.DUPLICATE_ORDER: 400,
    Reason.OPEN_ORDERS_EXCEED_MAX: 400,
    Reason.TRADING_HALTED: 403,
    Reason.TRADING_REDUCING: 403,
    Reason.ACTION_FORBIDDEN: 403,
    Reason.UNKNOWN_ENDPOINT: 403,
    Reason.UNKNOWN_ACCOUNT: 403,
    Reason.ORDER_RATE_EXCEEDED: 429,
}

# substrings old ccxt looks for in a BitMEX error message (exceptions['broad']); a rule id, a symbol or an
# operator's halt reason in our message must not pick a class by accident
_STEERING = Steering("Signature not valid", "overloaded", "Account has insufficient Available Balance",
                     "Service unavailable", "Server Error", "Unable to cancel order due to existing state",
                     "We require all new traders to verify")


def status_for(violation: Violation) -> int:
    """The HTTP status a block with this violation answers with (for docs and tests)."""
    return _STATUSES.get(violation.reason, 400)


# ---- requests --------------------------------------------------------------------------------------------


# wallet, address book, API keys, sub-accounts: never a trading bot's business. Every non-GET under /user/ is
# forbidden (withdrawals, wallet transfers, preferences, sub-accounts): none is needed to trade.
_FORBIDDEN_PREFIXES = (f"{PREFIX}/user/", f"{PREFIX}/user", f"{PREFIX}/apikey", f"{PREFIX}/address",
                       f"{PREFIX}/wallet", f"{PREFIX}/porl", f"{PREFIX}/subaccount")
# refused whatever the method: what moves money or changes keys
_FORBIDDEN_PARTS = ("withdraw", "transfer", "apikey", "subaccount")


def _is_forbidden(path: str) -> bool:
    return any(part in path for part in _FORBIDDEN_PARTS)


def _is_forbidden_write(path: str) -> bool:
    # the user area also holds the reads bots make (margin, wallet, positions' history): writes only
    return path.startswith(_FORBIDDEN_PREFIXES) or "address" in path


def request_params(request: HttpRequest) -> Params:
    """Query string and body as one mapping, read as BitMEX reads them, or refused."""
    params: Params = {}
    folded: dict[str, str] = {}

    def add(key: str, value: Any) -> None:
        fold = key.casefold()
        if fold in folded:
            name = _KNOWN_FOLDED.get(fold, key)
            raise FieldError(f"{name} is given twice")
        known = _KNOWN_FOLDED.get(fold)
        if known is not None and known != key:
            raise FieldError(f"{known} is spelled with different letter case")
        folded[fold] = key
        params[key] = value

    for key, value in request.query:
        _check_form_key(key)
        add(key, value)
    body = _body_pairs(request)
    if len(request.query) + len(body) > MAX_PARAMS:
        raise FieldError(f"more than {MAX_PARAMS} parameters: the venue may stop reading before the last of them")
    for key, value in body:
        add(key, value)
    if request.query and body:
        # ccxt sends a write's parameters in the body alone; a server that reads one place only for a write (the
        # API documents them as body fields) would act on an order riskwall read otherwise (?side=Sell beside a
        # body without a side is a buy there)
        raise FieldError("parameters in both the query string and the body: BitMEX may read only one of them")
    for key in _OTHER_ACCOUNT:
        if params.get(key) not in (None, ""):
            raise FieldError(f"{key}: requests for another account are not checked")
    return params


def _check_form_key(key: str) -> None:
    if any(c in key for c in "[]."):
        raise FieldError("a parameter name holds brackets or dots")


def _body_pairs(request: HttpRequest) -> list[tuple[str, Any]]:
    body = request.body
    if not body:
        return []
    if len(body) > MAX_BODY_BYTES:
        raise FieldError("body is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError("body is not UTF-8") from None
    content_type = request.content_type
    if content_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict")
        except (ValueError, UnicodeDecodeError):
            raise FieldError("body is not a valid form") from None
        for key, _ in pairs:
            _check_form_key(key)
        return pairs
    if content_type == "":
        # BitMEX would not read a body without a content type: it must not read a different order than riskwall
        raise FieldError("body has no content type")
    if content_type == "application/json":
        data = _json(text, "body")
        if not isinstance(data, dict):
            raise FieldError("body is not a JSON object")
        return list(data.items())
    raise FieldError("body is neither JSON nor a form")


def _json(text: str, name: str) -> Any:
    # BitMEX matches names case-insensitively, and a negative orderQty means a sell
    return strict_json(text, name, known_fields=SPELLINGS, signed=True)


def _symbol(obj: Mapping[str, Any], *, required: bool = True) -> str | None:
    return text_field("symbol", obj.get("symbol"), SYMBOL, required=required)


def instrument(symbol: str) -> Instrument | None:
    """Learned from instrument answers, else bundled; a learned row without a size keeps the bundled size."""
    learned = CATALOG.lookup(VENUE, symbol)
    bundled = _BUNDLED.get(symbol)
    if learned is not None and learned.contract_size is None and bundled is not None:
        return bundled
    return learned or bundled


def unified_symbol(symbol: str) -> str | None:
    """Learned or bundled; else derived for linear stablecoin ids the way ccxt names them (XBTUSDT → BTC/USDT:USDT).
    USD-quoted ids are not derived: they may be inverse (XBTUSD) or quanto (ETHUSD), which settle differently."""
    known = instrument(symbol)
    if known is not None:
        return known.unified
    for quote in ("USDT", "USDC"):
        base = symbol[: -len(quote)]
        if symbol.endswith(quote) and base.isalpha() and base.isupper():
            return f"{'BTC' if base == 'XBT' else base}/{quote}:{quote}"
    return None


def _sized(symbol: str, field: str) -> tuple[Decimal, bool]:
    """(contract size, worth a quote amount?) of `symbol`, or a FieldError naming `field`."""
    known = instrument(symbol)
    if known is None or known.contract_size is None:
        raise FieldError(f"{field}: contract size of {symbol} unknown; fetch /api/v1/instrument through the firewall "
                         "(quanto contracts have none in base units)")
    return known.contract_size, known.quote_sized


def _needs_mark(symbol: str, side: Side | None, own: Decimal | None, limited: bool) -> bool:
    """Whether `symbol`'s contracts are worth a quote amount and the store's mark may change the price they
    convert at (`contract_price`): always, but for a sell with a limit price (`limited`). The conversion then waits for
    the store's view (`_sized_with_price`). An unknown contract size raises here, before any price is sought."""
    return _sized(symbol, "orderQty")[1] and (side is not Side.SELL or own is None or not limited)


def base_quantity(symbol: str, contracts: Decimal, *prices: Decimal | None, field: str = "orderQty") -> Decimal:
    """Contracts → base units with the first positive price of `prices` (inverse contracts); never a guess."""
    size, quote_sized = _sized(symbol, field)
    if not quote_sized:
        return _plain(contracts * size)
    price = first_price(*prices)
    if price is None:
        raise FieldError(f"{field} of inverse contract {symbol} is in USD and no price is known to convert it: "
                         "send a price, or fetch the instrument or positions through the firewall first")
    with localcontext(Context(prec=80)):
        return _plain((contracts * size / price).quantize(BASE_DECIMALS, rounding=ROUND_CEILING))


def _plain(value: Decimal) -> Decimal:
    """No trailing zeros (0.1, not 0.100000) and never an exponent (10, not 1E+1)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _signed_qty(name: str, raw: object, *, required: bool) -> tuple[Decimal | None, bool]:
    """(absolute size, negative?) of a contract count that may carry a sign."""
    negative = False
    if isinstance(raw, Decimal) and raw < 0:
        raw, negative = -raw, True
    elif isinstance(raw, str) and raw.startswith("-"):
        raw, negative = raw[1:], True
    return decimal_field(name, raw, required=required), negative


def _exec_inst(raw: object) -> frozenset[str]:
    if raw is None or raw == "":
        return frozenset()
    if not isinstance(raw, str):
        raise FieldError("execInst must be a comma-separated text")
    tokens = [t.strip() for t in raw.split(",")]
    if any(t not in EXEC_INST for t in tokens):
        raise FieldError("execInst has an unknown value")
    return frozenset(tokens)


def _pegged(obj: Mapping[str, Any]) -> bool:
    """Whether the order's price follows the market (a peg, a trailing stop): its fill price is not its own."""
    return obj.get("ordType") == "Pegged" or any(obj.get(name) not in (None, "")
                                                 for name in ("pegPriceType", "pegOffsetValue"))


def _no_simple(obj: Mapping[str, Any]) -> None:
    for name in ("simpleOrderQty", "simpleLeavesQty"):
        if obj.get(name) not in (None, ""):
            raise FieldError(f"{name} is not supported: send orderQty in contracts")


def _order_leg(obj: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    _no_simple(obj)
    symbol = _symbol(obj) or ""
    inst = _exec_inst(obj.get("execInst"))
    close = "Close" in inst
    reduce_only = close or "ReduceOnly" in inst
    contracts, negative = _signed_qty("orderQty", obj.get("orderQty"), required=not close)
    raw_side = obj.get("side")
    if raw_side in (None, ""):
        if contracts is None:
            side = None  # Close with neither side nor size: the venue closes whatever is open
        else:
            side = Side.SELL if negative else Side.BUY
    else:
        side = SIDES[enum_field("side", raw_side, frozenset(SIDES)) or ""]
        if negative:
            raise FieldError("orderQty is negative and a side is given")
    has_price = obj.get("price") not in (None, "")
    has_stop = obj.get("stopPx") not in (None, "")
    default_type = ("StopLimit" if has_price and has_stop else "Limit" if has_price else "Stop" if has_stop
                    else "Market")
    ord_type = enum_field("ordType", obj.get("ordType"), frozenset(ORDER_TYPES), default=default_type) or ""
    price = decimal_field("price", obj.get("price"), required=False) if ord_type in PRICED_TYPES else None
    if ord_type in PRICED_TYPES and price is None:
        raise FieldError("price is missing")
    stop = decimal_field("stopPx", obj.get("stopPx"), required=ord_type in TRIGGERED_TYPES) \
        if ord_type in TRIGGERED_TYPES else None
    tif = enum_field("timeInForce", obj.get("timeInForce"), TIME_IN_FORCE, default="-")
    client_id = text_field("clOrdID", obj.get("clOrdID"), CLIENT_ID, required=False)
    close_position = close and contracts is None
    if _pegged(obj) and not reduce_only and _sized(symbol, "orderQty")[1]:
        # a peg (a bid less 45,000, a trailing stop) can fill far below any price the request or the store has,
        # and the lower the fill, the more coin its USD contracts buy
        raise FieldError("pegPriceType: a pegged or trailing inverse order fills where the market takes it, so "
                         "its size in coin cannot be known: not checked")
    quantity, resolve = None, None
    if contracts is not None:
        own = lowest_own_price(side, price, stop)
        if _needs_mark(symbol, side, own, price is not None):
            # no size until the mark is read: a count of USD contracts in `quantity` would read as coin
            resolve = _sized_with_price(contracts, own)
        else:
            quantity = base_quantity(symbol, contracts, own)
    return OrderIntent(
        venue=VENUE, action=Action.NEW, endpoint=endpoint, account=account, symbol=symbol,
        unified_symbol=unified_symbol(symbol), side=side, quantity=quantity, price=price, trigger_price=stop,
        order_type=ORDER_TYPES[ord_type], time_in_force=None if tif == "-" else tif, reduce_only=reduce_only,
        close_position=close_position, client_order_id=client_id, resolve=resolve,
    )


def _sized_with_price(contracts: Decimal, own: Decimal | None) -> Resolver:
    """An inverse buy, or an inverse order without a price of its own (`own`: its limit price, else its stopPx):
    its contracts converted at `contract_price` of its side, `own` and the price the store holds. Neither price
    (as when the store cannot be read) refuses the order naming `orderQty`, reduce-only or not, as always. A buy
    with a price of its own but no market price known is refused too, unless it only reduces: a buy priced far
    above the market fills at the market (BitMEX fills up to a few percent past it and cancels the rest), so its
    own price would count its USD contracts as a fraction of the coin they buy."""

    def resolve(intent: OrderIntent, known: Known) -> OrderIntent:
        symbol = intent.symbol or ""
        mark = known.price(symbol)
        if (mark is None and own is not None and (intent.side is not Side.SELL or intent.price is None)
                and not intent.only_reduces):
            raise FieldError(f"orderQty of inverse contract {symbol} is in USD and a buy converts at the lower of "
                             "its price and the market's, which is not known: fetch the instrument through the "
                             "firewall first")
        quantity = base_quantity(symbol, contracts, contract_price(intent.side, own, mark,
                                                                   limit=intent.price is not None))
        return dataclasses.replace(intent, quantity=quantity, contracts=contracts, resolve=None)

    return resolve


def _amend_leg(obj: Mapping[str, Any], account: str | None, endpoint: str) -> OrderIntent:
    _no_simple(obj)
    order_id = text_field("orderID", obj.get("orderID"), ORDER_ID, required=False)
    orig_client = text_field("origClOrdID", obj.get("origClOrdID"), CLIENT_ID, required=False)
    if order_id is None and orig_client is None:
        raise FieldError("orderID or origClOrdID is missing")
    if order_id is not None and orig_client is not None:
        # BitMEX documents no precedence between them: two orders named, and which one it amends is a guess
        raise FieldError("orderID and origClOrdID are both given: name the amended order by one of them")
    new_client = text_field("clOrdID", obj.get("clOrdID"), CLIENT_ID, required=False)
    qty = decimal_field("orderQty", obj.get("orderQty"), required=False)
    leaves = decimal_field("leavesQty", obj.get("leavesQty"), required=False, allow_zero=True)
    if qty is not None and leaves is not None:
        raise FieldError("orderQty and leavesQty are both given")
    price = decimal_field("price", obj.get("price"), required=False)
    stop = decimal_field("stopPx", obj.get("stopPx"), required=False)
    contracts, field = (qty, "orderQty") if qty is not None else (leaves, "leavesQty")
    # the order's symbol, side and fills are the store's: without an orderID the store finds the order by the
    # clOrdID it was given, so that id (not the new one this amend sets) is what the view is asked for
    return OrderIntent(
        venue=VENUE, action=Action.AMEND, endpoint=endpoint, account=account, price=price, trigger_price=stop,
        order_id=order_id, client_order_id=None if order_id else orig_client,
        type_unknown=True,  # a Stop or MarketIfTouched order ignores `price` (a decoy must not shrink a notional)
        resolve=_amended(order_id, orig_client, new_client, contracts, field, _pegged(obj)),
    )


def _amended(order_id: str | None, orig_client: str | None, new_client: str | None, contracts: Decimal | None,
             field: str, repegged: bool = False) -> Resolver:
    """An amend completed with the order it names, as the store holds it: symbol, side, reduce-only and the
    new size in base units (`leavesQty`: what may still fill, so the new total adds what already filled), inverse
    contracts at `contract_price` of the order's side, the amend's own price (price, else stopPx) and the mark."""

    def resolve(intent: OrderIntent, known: Known) -> OrderIntent:
        order = known.order(order_id, None if order_id else orig_client)
        client_id = new_client or orig_client
        if order is None:
            if contracts is not None:
                raise FieldError(f"{field}: the amended order was not seen through the firewall, so its symbol and "
                                 "contract size are unknown; list open orders (GET /api/v1/order) first")
            # a new price only: nothing to convert, and nothing known to count it against
            return dataclasses.replace(intent, client_order_id=client_id, resolve=None)
        symbol = order.symbol
        quantity = None
        if contracts is None and (intent.price or intent.trigger_price or repegged) and not order.reduce_only and (
                _sized(symbol, "orderQty")[1]):
            raise inverse_repricing("orderQty")
        if contracts is not None and not (intent.price or intent.trigger_price) and not order.reduce_only and (
                _sized(symbol, "orderQty")[1]):
            raise inverse_resizing("price (or stopPx)")
        if contracts is not None:
            price = contract_price(order.side, lowest_own_price(order.side, intent.price, intent.trigger_price),
                                   known.price(symbol), limit=intent.price is not None)
            quantity = base_quantity(symbol, contracts, price, field=field)
            if field == "leavesQty":
                quantity = quantity + order.executed  # the order's new total: filled part plus what may still fill
        return dataclasses.replace(
            intent, symbol=symbol, unified_symbol=unified_symbol(symbol), side=order.side, quantity=quantity,
            reduce_only=order.reduce_only, order_id=order.order_id, client_order_id=client_id, resolve=None,
        )

    return resolve


type LegParser = Callable[[Mapping[str, Any], str | None, str], OrderIntent]


def _bulk(leg: LegParser) -> Callable[[Params, str | None, str], tuple[OrderIntent, ...]]:
    def parse(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
        orders = params.get("orders")
        if isinstance(orders, str):  # a form body carries the array as JSON text
            orders = _json(orders, "orders")
        orders = order_list(orders, "orders", MAX_BATCH_LEGS)
        for item in orders:
            for key in item:
                known = _KNOWN_FOLDED.get(key.casefold())
                if known is not None and known != key:
                    raise FieldError(f"{known} is spelled with different letter case")
            for key in _OTHER_ACCOUNT:
                if item.get(key) not in (None, ""):
                    raise FieldError(f"{key}: requests for another account are not checked")
        return tuple(leg(item, account, endpoint) for item in orders)

    return parse


def _close_position(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    symbol = _symbol(params) or ""
    price = decimal_field("price", params.get("price"), required=False)
    return (OrderIntent(VENUE, Action.NEW, endpoint, account, symbol, unified_symbol(symbol), price=price,
                        order_type="LIMIT" if price else "MARKET", reduce_only=True, close_position=True),)


def _set_leverage(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    symbol = _symbol(params) or ""
    leverage = decimal_field("leverage", params.get("leverage"), allow_zero=True) or Decimal(0)
    if leverage > CROSS_LEVERAGE:
        raise FieldError("leverage must be at most 100")
    cross = decimal_field("crossLeverage", params.get("crossLeverage"), required=False)
    if leverage == 0:
        # cross margin: the position may draw up to the maximum leverage unless crossLeverage caps it
        return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, symbol, unified_symbol(symbol),
                            leverage=min(cross, CROSS_LEVERAGE) if cross else CROSS_LEVERAGE,
                            margin_mode=MarginMode.CROSSED),)
    # a crossLeverage next to an isolated leverage: the larger of the two is the risk
    return (OrderIntent(VENUE, Action.SET_LEVERAGE, endpoint, account, symbol, unified_symbol(symbol),
                        leverage=max(leverage, cross or Decimal(0)), margin_mode=MarginMode.ISOLATED),)


def _isolate(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    symbol = _symbol(params) or ""
    enabled = params.get("enabled", True)
    if isinstance(enabled, str) and enabled in ("true", "false"):
        enabled = enabled == "true"
    if not isinstance(enabled, bool):
        raise FieldError("enabled must be true or false")
    return (OrderIntent(VENUE, Action.SET_MARGIN_MODE, endpoint, account, symbol, unified_symbol(symbol),
                        margin_mode=MarginMode.ISOLATED if enabled else MarginMode.CROSSED),)


def _position_setting(params: Params, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
    """transferMargin, riskLimit: configuration, held back by REDUCING and HALTED like margin modes."""
    symbol = _symbol(params) or ""
    return (OrderIntent(VENUE, Action.SET_MARGIN_MODE, endpoint, account, symbol, unified_symbol(symbol)),)


def _path(name: str) -> str:
    return f"{PREFIX}/{name}".lower()


_ENDPOINTS: dict[RouteKey, Route] = {
    ("POST", _path("order")): Route(Action.NEW, one_leg(_order_leg)),
    ("PUT", _path("order")): Route(Action.AMEND, one_leg(_amend_leg)),
    ("DELETE", _path("order")): Route(Action.CANCEL),
    ("DELETE", _path("order/all")): Route(Action.CANCEL_ALL),
    # the dead-man switch only ever cancels (timeout 0 disarms it)
    ("POST", _path("order/cancelAllAfter")): Route(Action.CANCEL_ALL),
    # deprecated in favour of execInst=Close, still a close-position order
    ("POST", _path("order/closePosition")): Route(Action.NEW, _close_position),
    # bulk routes: absent from the 2024 swagger (removal UNCONFIRMED), still in old ccxt: read as batches
    ("POST", _path("order/bulk")): Route(Action.NEW, _bulk(_order_leg)),
    ("PUT", _path("order/bulk")): Route(Action.AMEND, _bulk(_amend_leg)),
    ("POST", _path("position/leverage")): Route(Action.SET_LEVERAGE, _set_leverage),
    ("POST", _path("position/isolate")): Route(Action.SET_MARGIN_MODE, _isolate),
    ("POST", _path("position/transferMargin")): Route(Action.SET_MARGIN_MODE, _position_setting),
    ("POST", _path("position/riskLimit")): Route(Action.SET_MARGIN_MODE, _position_setting),
    # forbidden, listed so the table documents them (anything else under /user/ is forbidden too)
    ("POST", _path("user/requestWithdrawal")): Route(Action.FORBIDDEN),
    ("POST", _path("user/confirmWithdrawal")): Route(Action.FORBIDDEN),
    ("POST", _path("user/cancelWithdrawal")): Route(Action.FORBIDDEN),
    ("POST", _path("user/walletTransfer")): Route(Action.FORBIDDEN),
    ("POST", _path("address")): Route(Action.FORBIDDEN),
    ("POST", _path("apiKey")): Route(Action.FORBIDDEN),
    ("POST", _path("apiKey/enable")): Route(Action.FORBIDDEN),
    ("POST", _path("apiKey/disable")): Route(Action.FORBIDDEN),
    ("DELETE", _path("apiKey")): Route(Action.FORBIDDEN),
    # reads whose answers teach facts
    ("GET", _path("instrument")): Route(Action.READ),
    ("GET", _path("instrument/active")): Route(Action.READ),
    ("GET", _path("position")): Route(Action.READ),
    ("GET", _path("order")): Route(Action.READ),
}


# ---- responses -------------------------------------------------------------------------------------------

type Learner = Callable[[Any, ParsedRequest, HttpRequest, Params, str], ResponseFacts]


def _query(request: HttpRequest) -> Params | None:
    params: Params = {}
    for key, value in request.query:
        if key in params:
            return None
        params[key] = value
    return params


def _price(raw: object) -> Decimal | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    try:
        return decimal_field("price", raw, required=False)
    except FieldError:
        return None


def _number(raw: object) -> Decimal | None:
    """A number from a response (venues.base.response_json gives Decimal or int), signed."""
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | str):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _coin(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw:
        return None
    return SATOSHI_COINS.get(raw, raw.upper())


def _instrument_row(item: Mapping[str, Any]) -> Instrument | None:
    """An instrument row → unified symbol and contract size, the way ccxt named BitMEX markets."""
    native, typ = item.get("symbol"), item.get("typ")
    if not isinstance(native, str) or typ not in ("FFWCSX", "FFCCSX"):
        return None  # perpetuals and futures only: no spot, index or prediction rows
    base, quote, settle = _coin(item.get("underlying")), _coin(item.get("quoteCurrency")), \
        _coin(item.get("settlCurrency"))
    if base is None or quote is None or settle is None:
        return None
    unified = f"{base}/{quote}:{settle}"
    if typ == "FFCCSX":
        expiry = item.get("expiry")
        if not isinstance(expiry, str) or len(expiry) < 10:
            return None
        unified += f"-{expiry[2:4]}{expiry[5:7]}{expiry[8:10]}"
    size: Decimal | None = None
    inverse = item.get("isInverse") is True
    if item.get("isQuanto") is True:
        size = None  # no fixed size in the underlying
    elif inverse:
        multiplier, to_settle = _number(item.get("multiplier")), _number(item.get("underlyingToSettleMultiplier"))
        if multiplier and to_settle:
            size = abs(multiplier / to_settle)
    else:
        per_position = _number(item.get("underlyingToPositionMultiplier"))
        if per_position and per_position > 0:
            with localcontext(Context(prec=40)):
                size = (Decimal(1) / per_position).normalize()
    return Instrument(VENUE, native, unified, contract_size=size, quote_sized=inverse)


def _learn_instruments(data: Any, parsed: ParsedRequest, request: HttpRequest, query: Params,
                       decision_id: str) -> ResponseFacts:
    if not isinstance(data, list):
        return ResponseFacts()
    instruments, prices = [], []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            continue
        row = _instrument_row(item)
        if row is not None:
            instruments.append(row)
        mark, last = _price(item.get("markPrice")), _price(item.get("lastPrice"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, item["symbol"], mark, "mark"))
        elif last is not None:
            prices.append(PriceUpdate(VENUE, item["symbol"], last, "last"))
    return ResponseFacts(prices=tuple(prices), instruments=tuple(instruments))


def _to_base(symbol: str, contracts: Decimal, *prices: Decimal | None) -> Decimal:
    return base_quantity(symbol, contracts, *prices) if contracts else Decimal(0)


def _known_price(parsed: ParsedRequest, symbol: str) -> Decimal | None:
    """The price the store held for `symbol` when the request was decided (None for reads and requests that
    needed nothing from the store): for inverse contracts an answer carries without a price."""
    return parsed.known.price(symbol) if parsed.known is not None else None


def _order_update(item: Any, parsed: ParsedRequest, account: str, intent: OrderIntent | None,
                  reservation_id: str | None) -> OrderUpdate | None:
    """One order object → OrderUpdate; sizes converted like the request (the intent's own figure when known)."""
    if not isinstance(item, dict):
        return None
    try:
        order_id = text_field("orderID", item.get("orderID"), ORDER_ID) or ""
        symbol = text_field("symbol", item.get("symbol"), SYMBOL) or ""
        side = SIDES[str(item.get("side"))]
        qty, cum = _number(item.get("orderQty")), _number(item.get("cumQty")) or Decimal(0)
        if qty is None or qty < 0 or cum < 0:
            return None
        prices = (lowest_own_price(side, _price(item.get("price")), _price(item.get("stopPx"))),
                  _price(item.get("avgPx")), _known_price(parsed, symbol))
        if intent is not None and intent.quantity is not None and intent.symbol == symbol:
            original = intent.quantity
            with localcontext(Context(prec=80)):
                executed = original * cum / qty if qty else Decimal(0)
        else:
            original, executed = _to_base(symbol, qty, *prices), _to_base(symbol, cum, *prices)
    except (KeyError, FieldError, ArithmeticError):
        return None
    exec_inst = str(item.get("execInst") or "")
    client_id = item.get("clOrdID")
    return OrderUpdate(
        venue=VENUE, account=account, symbol=symbol, order_id=order_id, side=side,
        position_side=PositionSide.BOTH, original=original, executed=min(executed, original),
        final=isinstance(item.get("ordStatus"), str) and item["ordStatus"] in FINAL_STATUSES,
        reduce_only="ReduceOnly" in exec_inst or "Close" in exec_inst, reservation_id=reservation_id,
        # amends may name the order by it (origClOrdID): the store indexes open orders by it
        client_order_id=client_id if isinstance(client_id, str) and client_id else None,
    )


def _learn_order_answer(data: Any, parsed: ParsedRequest, request: HttpRequest, query: Params,
                        decision_id: str) -> ResponseFacts:
    """New, amended or bulk orders: BitMEX answers with the orders themselves, fills included."""
    if parsed.account is None:
        return ResponseFacts()
    items = data if isinstance(data, list) else [data]
    reserved = parsed.action.adds_orders
    updates = []
    for leg, item in enumerate(items):
        intent = parsed.intents[leg] if leg < len(parsed.intents) else None
        update = _order_update(item, parsed, parsed.account, intent, f"{decision_id}:{leg}" if reserved else None)
        if update is not None:
            updates.append(update)
    return ResponseFacts(orders=tuple(updates))


def _learn_cancelled(data: Any, parsed: ParsedRequest, request: HttpRequest, query: Params,
                     decision_id: str) -> ResponseFacts:
    if parsed.account is None or not isinstance(data, list):
        return ResponseFacts()
    updates, closed = [], []
    for item in data:
        if not isinstance(item, dict) or item.get("error"):
            continue  # "Unable to cancel order due to existing state": nothing learned from this entry
        update = _order_update(item, parsed, parsed.account, None, None)
        if update is not None and update.final:
            updates.append(update)
        elif isinstance(item.get("orderID"), str) and item.get("ordStatus") == "Canceled":
            closed.append(ClosedOrder(VENUE, parsed.account, item["orderID"]))
    return ResponseFacts(orders=tuple(updates), closed=tuple(closed))


def _filter(query: Params) -> dict[str, Any] | None:
    raw = query.get("filter")
    if raw in (None, ""):
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _only_true(flt: dict[str, Any] | None, name: str) -> bool:
    """Whether the filter is `{name: true}` alone, a JSON true: `1 == True` in Python, and BitMEX may match 1
    against its boolean column otherwise than as true (a listing it narrowed is not the whole account's)."""
    return flt is not None and flt.keys() == {name} and flt[name] is True


def _complete(query: Params, count: int) -> bool:
    if any(query.get(k) not in (None, "") for k in ("start", "startTime", "endTime", "columns")):
        return False
    if query.get("reverse") not in (None, "", "false"):
        return False
    raw = query.get("count") or str(DEFAULT_COUNT)
    if not ascii_digits(raw) or not 1 <= int(raw) <= MAX_COUNT:
        return False
    return count < int(raw)


def _learn_open_orders(data: Any, parsed: ParsedRequest, request: HttpRequest, query: Params,
                       decision_id: str) -> ResponseFacts:
    if parsed.account is None or not isinstance(data, list):
        return ResponseFacts()
    updates = [_order_update(item, parsed, parsed.account, None, None) for item in data]
    known = tuple(u for u in updates if u is not None)
    flt = _filter(query)
    symbol = query.get("symbol") or None
    snapshot = (_only_true(flt, "open") and len(known) == len(data) and _complete(query, len(data))
                and (symbol is None or SYMBOL.fullmatch(symbol) is not None))
    if not snapshot:
        return ResponseFacts(orders=known)
    if symbol is not None and ":" in symbol:  # a series (XBT:perpetual), not one instrument
        return ResponseFacts(orders=known)
    listed = tuple(u for u in known if symbol is None or u.symbol == symbol)
    return ResponseFacts(open_orders=(OpenOrdersSnapshot(VENUE, parsed.account, symbol, listed),))


def _learn_positions(data: Any, parsed: ParsedRequest, request: HttpRequest, query: Params,
                     decision_id: str) -> ResponseFacts:
    if parsed.account is None or not isinstance(data, list):
        return ResponseFacts()
    entries: list[tuple[str, PositionSide, Decimal]] = []
    prices: list[PriceUpdate] = []
    unreadable = False
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("symbol"), str):
            unreadable = True
            continue
        symbol = item["symbol"]
        mark = _price(item.get("markPrice"))
        if mark is not None:
            prices.append(PriceUpdate(VENUE, symbol, mark, "mark"))
        contracts = _number(item.get("currentQty"))
        if contracts is None:
            unreadable = True
            continue
        try:
            size = _to_base(symbol, abs(contracts), mark, _price(item.get("avgEntryPrice")),
                            _known_price(parsed, symbol))
        except (FieldError, ArithmeticError):  # a size beyond exact arithmetic is as unreadable as a missing one
            unreadable = True
            continue
        entries.append((symbol, PositionSide.BOTH, -size if contracts < 0 else size))
    flt = _filter(query)
    count = str(query.get("count") or "")
    paged = bool(count) and (not ascii_digits(count) or len(data) >= int(count))
    if not unreadable and (flt == {} or _only_true(flt, "isOpen")) and not query.get("columns") and not paged:
        # every position the account has: one it does not list is flat
        report = PositionsReport(VENUE, parsed.account, None, tuple(entries))
        return ResponseFacts(prices=tuple(prices), positions=(report,))
    reports = tuple(PositionsReport(VENUE, parsed.account, entry[0], (entry,)) for entry in entries)
    return ResponseFacts(prices=tuple(prices), positions=reports)


_LEARNERS: dict[RouteKey, Learner] = {
    ("GET", _path("instrument")): _learn_instruments,
    ("GET", _path("instrument/active")): _learn_instruments,
    ("GET", _path("instrument/activeAndIndices")): _learn_instruments,
    ("GET", _path("position")): _learn_positions,
    ("GET", _path("order")): _learn_open_orders,
    ("POST", _path("order")): _learn_order_answer,
    ("PUT", _path("order")): _learn_order_answer,
    ("POST", _path("order/bulk")): _learn_order_answer,
    ("PUT", _path("order/bulk")): _learn_order_answer,
    ("DELETE", _path("order")): _learn_cancelled,
    ("DELETE", _path("order/all")): _learn_cancelled,
}

# the query parameters each listing's learner reads and judges (`TableAdapter.sure_scope`), spelled exactly so:
# BitMEX matches names case-insensitively, so `Filter` or `COUNT` would narrow a listing the learner took as whole.
# Credentials travel in headers: no parameter is harmless
_SCOPES: dict[RouteKey, frozenset[str]] = {
    ("GET", _path("order")): frozenset({"filter", "symbol", "count", "reverse"}),
    ("GET", _path("position")): frozenset({"filter", "count"}),
}

_ROUTES = route_table(_ENDPOINTS, _LEARNERS)
ADAPTER = Bitmex()

__all__ = ["ADAPTER", "BUNDLED", "Bitmex", "base_quantity", "request_params", "status_for",
           "unified_symbol"]
