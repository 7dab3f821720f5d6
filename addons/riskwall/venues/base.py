"""What every venue adapter offers, and the field parsers they share.

An adapter knows one exchange's HTTP API and nothing else: no policy, no state, no mitmproxy. It turns a
request into a `ParsedRequest`, a response into `ResponseFacts`, and a decision into the venue's own
rejection. Parsing is strict: a value that does not validate raises `FieldError` naming the field, and the
caller turns that into a PARSE_FAILED block for anything that could add risk.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl

from riskwall.instruments import facts_of
from riskwall.model import (
    Action,
    Decision,
    EquityUpdate,
    Known,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    ResponseFacts,
    Side,
    Venue,
    Violation,
    fingerprint,
)
from riskwall.paths import normalize_path as normalize_path  # re-exported: every adapter uses it
from riskwall.paths import unknown_path_shown, without_tokens
from riskwall.records import quick_init
from riskwall.venues.hosts import UNKNOWN_ENVIRONMENT, environment_of

# no real instrument needs more; a larger number is a typo or an attack
MAX_AMOUNT = Decimal("1e15")
MAX_BODY_BYTES = 1_000_000
# the most query and form parameters a request is read with: an order takes a few dozen, and servers stop reading
# past a count of their own (Node's qs after 1,000, Tomcat's after 1,000 or 10,000): a field past it would be read
# by the firewall and dropped by the venue (a `side` there, and BitMEX takes the side from the quantity's sign)
MAX_PARAMS = 100
PLAIN_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")


class FieldError(ValueError):
    """A request field is missing or invalid. The message names the field, never its secret value."""


@quick_init
@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A venue-neutral copy of the parts of an HTTP request adapters read. Header names are lower case."""

    method: str
    host: str
    port: int
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    body: bytes
    # header names sent more than once: a credential header among them makes the account ambiguous
    repeated_headers: frozenset[str] = frozenset()
    # the body's Content-Encoding as sent; `body` is never decoded (a venue that does not decode would read
    # something else than the firewall did)
    content_encoding: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def upgrade(self) -> str | None:
        """The protocol the request asks to switch to (`websocket`), "" for an upgrade that names none, None
        when it asks for no upgrade."""
        wanted = self.headers.get("upgrade")
        if wanted is not None:
            return wanted.strip().lower()
        if "sec-websocket-key" in self.headers or "upgrade" in self.headers.get("connection", "").lower():
            return ""
        return None


@dataclass(frozen=True, slots=True)
class Rejection:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)


class Socket(StrEnum):
    """What a venue's WebSocket path carries."""

    # market data and private user-data streams: the client only subscribes, no frame places an order
    STREAM = "stream"
    # order entry (the venue's WebSocket API): its frames must be read like REST requests
    ORDERS = "orders"


class VenueAdapter(Protocol):
    venue: Venue
    default_hosts: tuple[str, ...]
    # the header that carries the API key, as the venue spells it (`X-MBX-APIKEY`)
    key_header: str
    # the venue's own domains: a host under one of them that `default_hosts` does not list is still this venue's
    domains: tuple[str, ...]
    # headers and parameters that carry credentials; never logged, never echoed
    secret_fields: frozenset[str]
    # the venue's WebSocket paths (normalized; `/*` ends a prefix) and what they carry; an upgrade to any other
    # path is refused
    sockets: tuple[tuple[str, Socket], ...]

    @property
    def endpoints(self) -> Mapping[tuple[str, str], Action]:
        """Every (method, normalized path) the adapter knows, with its action: for docs, tests and fuzzing."""
        ...

    def parse_request(self, request: HttpRequest) -> ParsedRequest: ...

    def parse_response(self, parsed: ParsedRequest, request: HttpRequest, status: int, body: bytes,
                       decision_id: str) -> ResponseFacts: ...

    def rejection(self, decision: Decision, parsed: ParsedRequest | None = None) -> Rejection:
        """The venue's own error answer to `decision` about `parsed` (None when the request could not be
        read); never raises for a decision the engine can make."""
        ...


def decimal_field(name: str, raw: object, *, required: bool = True, allow_zero: bool = False) -> Decimal | None:
    """A positive, finite decimal of sane size, parsed from the request's own text (never via float)."""
    if type(raw) is str and raw:  # the common case, with the checks below that text can fail, in their order
        if not PLAIN_DECIMAL.fullmatch(raw):
            raise FieldError(f"{name} is not a plain decimal number")
        value = Decimal(raw)  # plain digits: finite and not negative
        if value == 0 and not allow_zero:
            raise FieldError(f"{name} must be positive")
        if value > MAX_AMOUNT:
            raise FieldError(f"{name} is too large")
        return value
    if raw is None or raw == "":
        if required:
            raise FieldError(f"{name} is missing")
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise FieldError(f"{name} is not a number")
    if isinstance(raw, str) and not PLAIN_DECIMAL.fullmatch(raw):
        # only the plain digits venues accept: no exponent, sign, spaces, underscores or non-ASCII digits,
        # so the firewall never reads a number the venue would read differently
        raise FieldError(f"{name} is not a plain decimal number")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FieldError(f"{name} is not a number") from None
    if not value.is_finite():
        raise FieldError(f"{name} is not finite")
    if value < 0 or (value == 0 and not allow_zero):
        raise FieldError(f"{name} must be positive")
    if value > MAX_AMOUNT:
        raise FieldError(f"{name} is too large")
    return value


def first_price(*prices: Decimal | None) -> Decimal | None:
    """The first positive of `prices`: an order's own price for its contracts (its limit, else its trigger), or
    the first of several an answer may carry."""
    return next((p for p in prices if p is not None and p > 0), None)


def lowest_own_price(side: Side | None, limit: Decimal | None, *triggers: Decimal | None) -> Decimal | None:
    """The lowest price an order can fill at by its own prices, which inverse contracts (a fixed amount of USD
    each) convert to coin at (`contract_price` adds the mark): a sell fills at or above its limit, else about
    its trigger (the lowest of them). A buy fills at or below its limit, and a triggered one about where it
    triggers (a limit-if-touched buy at 50,000 triggered at 5,000 buys at 5,000), a trailing one about where it
    activates: the lowest of them all. An order of no known side (an amend) is counted as a buy. None when it
    has no positive price of its own."""
    fired = [t for t in triggers if t is not None and t > 0]
    if limit is not None and limit <= 0:
        limit = None
    if side is Side.SELL and limit is not None:
        return limit
    if limit is not None:
        fired.append(limit)
    return min(fired) if fired else None


def inverse_resizing(price_field: str) -> FieldError:
    """The refusal of an amend that restates an inverse order's size (USD contracts) without its price, on an order
    that can add risk: the contracts become coin at the order's price, which the store does not keep (converted at
    the mark instead, a buy resting far below it would count for a fraction of what it buys)."""
    return FieldError(f"an inverse order's coin size depends on its price: an amend of its size must restate "
                      f"{price_field}")


def inverse_repricing(size_field: str) -> FieldError:
    """The refusal of an amend that moves an inverse order's price (or trigger) without restating its size: the
    venue keeps its USD contracts, so at a lower price they are more coin than the order held, and the store
    keeps the order's coin, not the contracts and price it came from."""
    return FieldError(f"an inverse order's coin size depends on its price: an amend of its price must restate "
                      f"{size_field}")


def contract_price(side: Side | None, own: Decimal | None, mark: Decimal | None, *, limit: bool) -> Decimal | None:
    """The price inverse contracts (each a fixed amount of the quote, USD) convert to base units at, never in the
    bot's favour: the lower the fill price, the more coin the contracts are. A sell with a limit (`limit`: `own`
    is its limit price) fills at or above it, so that price is its worst case. A sell with only a trigger fills at
    the market once triggered, and a stop whose trigger is above the market triggers at once: the lower of its
    trigger and the mark, like a buy. A buy fills at or below its own price, and a buy far above the market fills
    at the market: the lower of its own price and the mark (`mark`: the store's, `Known.price`). An order whose
    side is not known yet (an amend) is counted as a buy. No price of its own: the mark; neither: None. A price
    that is not positive converts nothing: it is no price."""
    if own is not None and own <= 0:
        own = None
    if mark is not None and mark <= 0:
        mark = None
    if own is None:
        return mark
    if (side is not Side.SELL or not limit) and mark is not None and mark < own:
        return mark
    return own


# an intent's completion with what the store knows (`OrderIntent.resolve`)
type Resolver = Callable[[OrderIntent, Known], OrderIntent]


def chained(first: Resolver | None, then: Resolver) -> Resolver:
    """One resolver: `first` (where there is one), then `then` on what it completed."""
    return then if first is None else functools.partial(_run_both, first, then)


def _run_both(first: Resolver, then: Resolver, intent: OrderIntent, known: Known) -> OrderIntent:
    return then(first(intent, known), known)


def on_the_amended_order(intent: OrderIntent, known: Known) -> OrderIntent:
    """An amend's resolver (`OrderIntent.resolve`) for a venue that amends an order in place, keeping the side and
    position side it was placed with whatever the amend says (Binance's modify takes no position side; in hedge
    mode a BOTH read from the request would measure a LONG order's new size against the wrong position): the amend
    completed with the order as the store holds it. An order the store does not hold is refused, as its position
    side cannot be known; listing the account's open orders through the firewall teaches it."""
    order = known.order(intent.order_id, intent.client_order_id)
    if order is None:
        raise FieldError("the amended order was not seen through the firewall, so its side and position side are "
                         "unknown; list the account's open orders through it first")
    if intent.symbol is not None and intent.symbol != order.symbol:
        raise FieldError("the amended order is on another symbol")
    return dataclasses.replace(intent, side=order.side, position_side=order.position_side, order_id=order.order_id,
                               resolve=None)


# venue clocks in ms since the epoch, from 2001 to 2286: a figure outside is another unit (µs, s) or no time at all
_VENUE_MS = range(10**12, 10**13)


def venue_time_ms(raw: object) -> int | None:
    """A venue's timestamp in milliseconds (an integer, or its digits as text), else None: what it dates is then
    dated by no venue time, as before the venue said one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, str) and raw.isdigit() and raw.isascii() and len(raw) <= 13:
        raw = int(raw)
    return raw if isinstance(raw, int) and raw in _VENUE_MS else None


def price_or_none(raw: object) -> Decimal | None:
    """A positive price from an answer's field, or None when it is missing or not one (an answer teaches what it
    can; a mangled price is not an error worth failing the whole answer for)."""
    try:
        return decimal_field("price", raw, required=False)
    except FieldError:
        return None


def equity_update(venue: Venue, account: str | None, raw: object, currency: str) -> EquityUpdate | None:
    """An account's equity as a venue reports it: a decimal string (Binance, Bybit and OKX send their equity
    figures as strings) in plain digits, with a minus sign allowed (an account can owe more than it holds),
    finite, at most MAX_AMOUNT either way; None for anything else (a missing or mangled figure, or a JSON
    number where the venue sends text, teaches nothing). Never read through a float."""
    if account is None or not isinstance(raw, str) or not _SIGNED_PLAIN_DECIMAL.fullmatch(raw):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        return None
    return EquityUpdate(venue, account, value, currency)


def enum_field(name: str, raw: object, allowed: frozenset[str], *, default: str | None = None) -> str | None:
    if raw is None or raw == "":
        if default is None:
            raise FieldError(f"{name} is missing")
        return default
    if not isinstance(raw, str) or raw not in allowed:
        raise FieldError(f"{name} has an unknown value")
    return raw


def bool_field(name: str, raw: object) -> bool:
    """A flag a venue takes as text (`reduceOnly=true`), or a JSON boolean inside a JSON leg.

    Only the exact `true` reads as true: a venue that does not read `TRUE` as true would act on what the
    firewall took for a reduction. Any case of `false` reads as false (Binance's own SDK sends `FALSE`), which is
    safe whatever the venue makes of it: the order is then checked in full. Any other spelling is refused.
    """
    if raw is None or raw == "":
        return False
    if isinstance(raw, bool):
        return raw
    if raw == "true":
        return True
    if isinstance(raw, str) and raw.lower() == "false":
        return False
    raise FieldError(f"{name} must be true or false, spelled as the venue documents it")


def json_bool_field(name: str, raw: object) -> bool:
    """A flag a venue takes as a JSON boolean (OKX, Bybit): a string "true" is refused, not guessed at. A
    string false reads as false (the order is then checked in full, whatever the venue makes of it), and an
    empty string is an SDK's way of leaving the field out."""
    if raw is None or raw == "":
        return False
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() == "false":
        return False
    raise FieldError(f"{name} must be a JSON true or false")


def text_field(name: str, raw: object, pattern: re.Pattern[str], *, required: bool = True) -> str | None:
    if type(raw) is str and raw:  # the common case: only the pattern is left to check
        if not pattern.fullmatch(raw):
            raise FieldError(f"{name} is invalid")
        return raw
    if raw is None or raw == "":
        if required:
            raise FieldError(f"{name} is missing")
        return None
    if isinstance(raw, int | Decimal) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not pattern.fullmatch(raw):
        raise FieldError(f"{name} is invalid")
    return raw


# a JSON number as every reader sees it alike: no exponent, no sign (unless the venue signs sizes), ≤ 20+20 digits
_SIGNED_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,20})?")


def strict_json(text: str, what: str, *, known_fields: Iterable[str] | Spellings = (), exact_spelling: bool = False,
                signed: bool = False, plain_numbers: bool = True) -> Any:
    """JSON read exactly as the venue will read it, or a FieldError naming what is wrong.

    Numbers become Decimals, and only plain ones are accepted (float parsing would round a size; `1e3` or a
    30-digit number might be read differently by the venue); NaN and Infinity are refused. An object with the
    same key twice is refused; given `known_fields` (venues that match names case-insensitively), so are two
    keys equal but for letter case, and with `exact_spelling` a known field spelled any other way. With
    `plain_numbers` off, any JSON number is kept as a Decimal for the field's own check to judge by name.
    """
    if type(known_fields) is dict or isinstance(known_fields, Mapping):  # a dict without the ABC's check
        folded = known_fields
    elif known_fields == ():
        folded = _NO_SPELLINGS
    else:
        folded = field_spellings(known_fields)
    decoder = _decoder(what, folded, exact_spelling, signed, plain_numbers)
    try:
        if not isinstance(text, str):  # what json.loads makes of bytes (or its TypeError for anything else)
            return json.loads(text, parse_float=decoder.parse_float, parse_int=decoder.parse_int,
                              parse_constant=decoder.parse_constant, object_pairs_hook=decoder.object_pairs_hook)
        return decoder.decode(text)  # json.loads without its own refusal of a BOM, which decode() refuses too
    except FieldError:
        raise
    except (ValueError, RecursionError):
        raise FieldError(f"{what} is not JSON") from None


_NO_SPELLINGS: Spellings = {}
# (what, id of the spellings, exact_spelling, signed, plain_numbers) → the spellings and their decoder: a decoder
# holds no state between documents, and the few combinations the adapters use need not be built per request
type _DecoderKey = tuple[str, int, bool, bool, bool]
_DECODERS: dict[_DecoderKey, tuple[Spellings, json.JSONDecoder]] = {}
_MAX_DECODERS = 64


def _decoder(what: str, folded: Spellings, exact_spelling: bool, signed: bool,
             plain_numbers: bool) -> json.JSONDecoder:
    key = (what, id(folded), exact_spelling, signed, plain_numbers)
    cached = _DECODERS.get(key)
    if cached is not None and cached[0] is folded:
        return cached[1]
    decoder = _new_decoder(what, folded, exact_spelling, signed, plain_numbers)
    if len(_DECODERS) < _MAX_DECODERS:
        _DECODERS[key] = (folded, decoder)  # the spellings kept with it, so their id names them while it is kept
    return decoder


def _new_decoder(what: str, folded: Spellings, exact_spelling: bool, signed: bool,
                 plain_numbers: bool) -> json.JSONDecoder:
    number = _SIGNED_PLAIN_DECIMAL if signed else PLAIN_DECIMAL

    def plain(raw: str) -> Decimal:
        if plain_numbers and not number.fullmatch(raw):
            raise FieldError(f"{what} holds a number that is not a plain decimal (an exponent, a sign or too many "
                             "digits)")
        return Decimal(raw)

    def constant(name: str) -> None:
        raise FieldError(f"{what} holds {name}")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = dict(pairs)
        if len(obj) == len(pairs) and (not folded or len({key.casefold() for key in obj}) == len(obj)):
            # no key twice (the common case, in one pass at C speed): only the spellings are left to check
            if exact_spelling:
                for key in obj:
                    check_spelling(key, folded)
            return obj
        return first_repeat(pairs)

    def first_repeat(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # the keys one by one, to refuse the first repeated key (or misspelled one before it) by its name
        obj: dict[str, Any] = {}
        seen: set[str] = set()
        for key, value in pairs:
            fold = key.casefold() if folded else key
            if fold in seen:
                # a known field by its name; an unknown one (only met in case-folding venues) as the whole `what`
                name = min(folded[fold]) if fold in folded else (what if folded else key)
                raise FieldError(f"{name} is given twice" + (f" in {what}" if name != what else ""))
            seen.add(fold)
            if exact_spelling:
                check_spelling(key, folded)
            obj[key] = value
        return obj

    return json.JSONDecoder(parse_float=plain, parse_int=plain, parse_constant=constant, object_pairs_hook=unique)


type Spellings = Mapping[str, frozenset[str]]


def field_spellings(names: Iterable[str]) -> Spellings:
    """Case-folded name → the spellings a venue documents for it (BingX takes clientOrderID and clientOrderId).
    Made once per venue: every request's keys are checked against it."""
    spellings: dict[str, set[str]] = {}
    for name in names:
        spellings.setdefault(name.casefold(), set()).add(name)
    return {fold: frozenset(names) for fold, names in spellings.items()}


def check_spelling(key: str, spellings: Spellings) -> None:
    """A key that differs from a known field only by letter case is refused: a venue that matched names
    case-insensitively would read it as that field, which the firewall would not have read."""
    known = spellings.get(key.casefold())
    if known is not None and key not in known:
        raise FieldError(f"{min(known)} is spelled with different letter case")


def form_pairs(text: str) -> list[tuple[str, str]]:
    """A form's pairs as `parse_qsl(text, keep_blank_values=True, strict_parsing=True)` reads them (ValueError where
    it raises): split here when nothing in the text is escaped (no "%", no "+"), where its unquoting changes
    nothing, since it costs more than the rest of a Binance order's parse; parse_qsl's own reading otherwise."""
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    pairs = []
    for field in text.split("&") if text else ():
        name, equals, value = field.partition("=")
        if not equals:
            raise ValueError(f"bad form field: {field!r}")
        pairs.append((name, value))
    return pairs


def form_params(request: HttpRequest, venue: str, spellings: Spellings) -> dict[str, str]:
    """Query and form body merged, for venues that sign and read both (Binance, BingX).

    A body is read only when sent as a form (the venue would not read it otherwise); the same key twice with
    different values, and a known field spelled with other letter case, are refused.
    """
    pairs = list(request.query)
    if request.body:
        if len(request.body) > MAX_BODY_BYTES:
            raise FieldError("body is too large")
        if request.content_type != "application/x-www-form-urlencoded":
            raise FieldError(f"body is not a form (sent without application/x-www-form-urlencoded); {venue} takes "
                             "query or form parameters")
        try:
            pairs += form_pairs(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise FieldError("body is not a form") from None
    if len(pairs) > MAX_PARAMS:
        raise FieldError(f"more than {MAX_PARAMS} parameters: the venue may stop reading before the last of them")
    params: dict[str, str] = {}
    for key, value in pairs:
        if key in params and params[key] != value:
            raise FieldError(f"{key} is given twice with different values")
        check_spelling(key, spellings)
        params[key] = value
    return params


def query_params(request: HttpRequest) -> dict[str, str] | None:
    """The query string alone: what a read's answer is scoped by. None when a key repeats with another value
    (learning the wrong scope could erase real exposure)."""
    params: dict[str, str] = {}
    for key, value in request.query:
        if params.setdefault(key, value) != value:
            return None
    return params


def json_body(request: HttpRequest, venue: str, *, known_fields: Iterable[str] | Spellings = (),
              exact_spelling: bool = False, object_only: bool = True) -> Any:
    """A POST body for venues that sign and read JSON only (Bybit, Bitget, OKX): the query must be empty, and
    the body is read only when sent as application/json (as every client sends it), since a server may not read
    a body of another or no content type as the order the firewall read."""
    if request.query:
        raise FieldError(f"query string on a POST: {venue} signs and reads the JSON body only")
    if not request.body:
        raise FieldError("body is missing")
    if len(request.body) > MAX_BODY_BYTES:
        raise FieldError("body is too large")
    if request.content_type != "application/json":
        raise FieldError(f"body is not application/json; {venue} takes a JSON body")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError("body is not JSON: it is not UTF-8") from None
    data = strict_json(text, "body", known_fields=known_fields, exact_spelling=exact_spelling)
    if object_only and not isinstance(data, dict):
        raise FieldError("body is not a JSON object")
    return data


class Sender(NamedTuple):
    """Who sent a request, and to which endpoint: the first thing every adapter reads. A named tuple, not a
    frozen dataclass: made for every request, and a tuple is made at a third of the cost."""

    path: str  # normalized
    endpoint: str  # "METHOD /path", the name decision lines and policies use
    account: str | None  # the fingerprint of the API key, never the key
    # the key header came twice: "K, K" would fingerprint as no account and slip past account-scoped rules
    key_error: str | None


# API key → its fingerprint, for the few keys a sidecar's bots use: a SHA-256 per request was a tenth of parsing.
# Bounded (emptied when full, so a flood of made-up keys costs a hash each, as before); never logged or iterated.
_FINGERPRINTS: dict[str, str] = {}
_MAX_FINGERPRINTS = 256


def _account(api_key: str) -> str:
    account = _FINGERPRINTS.get(api_key)
    if account is None:
        if len(_FINGERPRINTS) >= _MAX_FINGERPRINTS:
            _FINGERPRINTS.clear()
        account = _FINGERPRINTS[api_key] = fingerprint(api_key)
    return account


def sender(request: HttpRequest, key_header: str) -> Sender:
    """`key_header` as the venue spells it (`X-MBX-APIKEY`); headers are looked up case-insensitively."""
    path = normalize_path(request.path)
    name = key_header.lower()
    headers = request.headers
    api_key = headers.get(name)
    key_error = f"{key_header} is given twice" if name in request.repeated_headers else None
    # only a name with `_` can be the key's other spelling: the names are scanned one by one only then
    if "_" in "".join(headers) and any(other != name and other.replace("_", "-") == name for other in headers):
        # servers that read `_` as `-` take X_MBX_APIKEY for the key: an account the firewall would not see
        key_error = f"{key_header} is given under another spelling"
    return Sender(path, f"{request.method} {without_tokens(path)}", _account(api_key) if api_key else None,
                  key_error)


def socket_for(sockets: tuple[tuple[str, Socket], ...], path: str) -> tuple[str, Socket] | None:
    """The pattern that the normalized `path` matches among a venue's `sockets`, and what it carries; None for no
    known socket. The pattern names the socket in logs (the path itself may hold a listen key)."""
    for pattern, kind in sockets:
        if pattern.endswith("/*"):
            if path == pattern[:-2] or path.startswith(pattern[:-1]):
                return pattern, kind
        elif path == pattern:
            return pattern, kind
    return None


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def write_only_paths(venue: str) -> frozenset[str]:
    """The paths ccxt's API tables list `venue`'s writes at and no read (`write_paths.json`, generated from ccxt by
    `tests/support/ccxt_write_paths.py`): a read method sent to one is refused, not passed as a read, since a server
    that took it for the write would run an order nobody checked (Binance's `GET /fapi/v1/batchOrders`, Bybit's
    retired v3 order paths)."""
    return frozenset(_write_paths_file().get(str(venue), ()))


@functools.cache
def _write_paths_file() -> dict[str, list[str]]:
    """`write_paths.json`, read once for every venue's adapter."""
    listed: dict[str, list[str]] = json.loads(
        resources.files("riskwall.venues").joinpath("write_paths.json").read_text())["paths"]
    return listed


def unlisted_action(method: str, path: str, forbidden: Callable[[str], bool],
                    forbidden_writes: Callable[[str], bool] | None = None) -> Action:
    """The action of an endpoint a venue's table does not list.

    `forbidden` paths (withdrawals, transfers, API keys, sub-accounts) are refused whatever the method: a server
    that takes a GET for its POST must not be a way to move money. `forbidden_writes` (account areas bots also
    read, like a wallet's balance) are refused for anything but a read. Other reads pass; other writes are
    unknown, and refused.
    """
    if forbidden(path):
        return Action.FORBIDDEN
    if method in READ_METHODS:
        return Action.READ
    if forbidden_writes is not None and forbidden_writes(path):
        return Action.FORBIDDEN
    return Action.UNKNOWN
# headers some servers and frameworks obey to run a request as another method (DELETE read as POST) or on
# another path (IIS and some proxies' URL rewriting), and the query parameter some frameworks take for a method
METHOD_OVERRIDES = frozenset({"x-http-method-override", "x-http-method", "x-method-override", "x-original-url",
                              "x-rewrite-url"})
METHOD_OVERRIDE_PARAMS = frozenset({"_method"})


def plain_path(path: str) -> bool:
    """A path every server reads alike: no escapes, `;` parameters, backslashes, fragments or dot segments. A `#`
    anywhere in the target counts, in the query too: a request target may not hold one (RFC 9112), and servers
    differ on it (some end the query there, as the firewall's reading of the query does, others read on). A write
    on another path is refused (`screen`); a read passes, and its answer teaches nothing (`parse_response`)."""
    if "#" in path:
        return False
    path = path.split("?", 1)[0]
    if "%" in path or ";" in path or "\\" in path:
        return False
    if "/." not in "/" + path:  # no segment starts with a dot: none is `.` or `..` (every order's path)
        return True
    return not any(segment in (".", "..") for segment in path.split("/"))


def screen(adapter: VenueAdapter, request: HttpRequest, *, order_sockets: bool = False) -> ParsedRequest:
    """The adapter's reading of `request`, after the checks every venue shares.

    Where a server could read the request otherwise than the adapter does, what could add risk is refused:
    a method-override header, a path in anything but its plain form, a content-encoded body, an upgrade to a
    socket the venue does not have, or to an order socket unless `order_sockets` (its frames are then read one
    by one, as the REST requests they stand for). A request to no endpoint the venue has is named, in the decision
    line and the capture, by its path's plain words only (`unknown_path_shown`).
    """
    environment = environment_of(adapter.venue, request.host, request.headers)
    with facts_of(environment):  # the instruments of the book the request reaches
        parsed = in_environment(_screened(adapter, request, order_sockets), environment)
    if parsed.action is not Action.UNKNOWN:
        return parsed
    method, _, rest = parsed.endpoint.partition(" ")
    path, _, suffix = rest.partition(" ")
    path, mark, named = path.partition("?")  # an adapter may name what it does not check (`?category=spot`)
    shown = f"{method} {unknown_path_shown(normalize_path(path))}"
    if mark and _NAMED.fullmatch(named):
        shown += f"?{named}"
    if suffix:
        shown += f" {suffix}"
    return parsed if shown == parsed.endpoint else dataclasses.replace(parsed, endpoint=shown)


_NAMED = re.compile(r"[A-Za-z]{1,24}=[A-Za-z]{1,16}")


def in_environment(parsed: ParsedRequest, environment: str) -> ParsedRequest:
    """`parsed` as sent to the venue's `environment` (`environment_of`). An order to a book that cannot be told
    (UNKNOWN_ENVIRONMENT) is refused: the venue sends it to its live book or its demo one, and which prices,
    instruments and account state measure it is not known."""
    if not environment:
        return parsed
    parsed = dataclasses.replace(parsed, environment=environment)
    if environment == UNKNOWN_ENVIRONMENT and parsed.action.adds_orders and parsed.error is None:
        parsed = dataclasses.replace(parsed, error="which book the venue trades this on, live or demo, cannot be "
                                                   "told: its demo-trading header is neither 0 nor 1, or was sent "
                                                   "on a socket to the live host")
    return parsed


def _screened(adapter: VenueAdapter, request: HttpRequest, order_sockets: bool) -> ParsedRequest:
    who = sender(request, adapter.key_header)
    venue, endpoint, account = adapter.venue, who.endpoint, who.account
    if any(name.replace("_", "-") in METHOD_OVERRIDES for name in request.headers) or any(
            name.lower() in METHOD_OVERRIDE_PARAMS for name, _ in request.query):
        return ParsedRequest(venue, Action.UNKNOWN, endpoint, account, error="a method- or URL-override header "
                             "or parameter is not accepted on a venue endpoint")
    upgrade = request.upgrade
    if upgrade is not None:
        return _socket_request(adapter, request, who, upgrade, order_sockets)
    # a table adapter reads the sender it would read again from `who`
    parsed = adapter.parse_request_from(request, who) if isinstance(adapter, TableAdapter) else (
        adapter.parse_request(request))
    if request.method not in READ_METHODS and not plain_path(request.path) and parsed.action is not Action.FORBIDDEN:
        return ParsedRequest(venue, Action.UNKNOWN, endpoint, account, error="the path is not in its plain form "
                             "(escapes, dot segments, ';' or '\\'): the venue might read another endpoint")
    if request.body and request.content_encoding.strip().lower() not in ("", "identity") and (
        not parsed.action.never_blocked
    ):
        return dataclasses.replace(parsed, intents=(), error=f"the body is content-encoded "
                                   f"({request.content_encoding[:40]}); the venue reads plain bodies only")
    coding = request.headers.get("transfer-encoding")
    if coding is not None and coding.strip().lower() != "chunked" and not parsed.action.never_blocked:
        # mitmproxy takes `gzip, chunked` and hands over the de-chunked bytes, still compressed for a server
        # that decodes them: the body the firewall read is not the one the venue would
        return dataclasses.replace(parsed, intents=(), error=f"the body has a transfer coding other than chunked "
                                   f"({coding[:40]}); the venue reads plain bodies only")
    return parsed


def _socket_request(adapter: VenueAdapter, request: HttpRequest, who: Sender, upgrade: str,
                    order_sockets: bool) -> ParsedRequest:
    # an order socket not read, a path that is no socket of the venue or not plain, another protocol: refused
    # the upgrade decides which socket every later frame goes to, so its path must read alike everywhere
    known = upgrade == "websocket" and request.method == "GET" and plain_path(request.path)
    found = socket_for(adapter.sockets, who.path) if known else None
    if found is None:
        return ParsedRequest(adapter.venue, Action.UNKNOWN, f"{who.endpoint} (websocket)", who.account)
    pattern, kind = found
    readable = kind is Socket.STREAM or order_sockets
    return ParsedRequest(adapter.venue, Action.READ if readable else Action.UNKNOWN,
                         f"{request.method} {pattern} (websocket)", who.account)


UNREADABLE = object()


def response_json(body: bytes) -> Any:
    """A venue's answer as JSON with every number a Decimal (or int), or `UNREADABLE`.

    Venues that answer amounts as JSON numbers (BitMEX, BingX) must not have them rounded through a float on
    their way into positions and fills.
    """
    try:
        if isinstance(body, bytes | bytearray):  # json.loads's own steps, with one decoder for every answer
            return _ANSWER_DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):  # also UnicodeDecodeError
        return UNREADABLE


# a decoder keeps nothing between documents: building one per answer was a sixth of reading a small one
_ANSWER_DECODER = json.JSONDecoder(parse_float=Decimal)


# the longest rule id or detail a rejection repeats: enough to read, never the sender's megabyte
MAX_MESSAGE_TEXT = 512


class Steering:
    """Phrases a client library looks for in a venue's error text to pick an exception class.

    A rule id, a symbol or an operator's halt reason repeated in a rejection must not pick one by accident, so
    each such phrase is respelled so it reads the same to a person and no longer matches: a soft hyphen after
    its first letter (defeats case-sensitive matching), no-break spaces and `-` for `_` (defeats the rest).
    Text is bounded first, and the respelling is one linear pass.
    """

    def __init__(self, *phrases: str) -> None:
        self._pattern = re.compile("|".join(re.escape(p) for p in phrases), re.IGNORECASE) if phrases else None

    def neutral(self, text: str) -> str:
        if len(text) > MAX_MESSAGE_TEXT:
            text = text[:MAX_MESSAGE_TEXT] + "..."
        if self._pattern is None:
            return text
        return self._pattern.sub(_respell, text)

    def message(self, violation: Violation | None, preamble: str = "") -> str:
        """`Risk firewall blocked this request (<rule>): <preamble><detail>`, the text every venue answers."""
        rule = self.neutral(violation.rule_id if violation else "riskwall")
        detail = self.neutral(violation.detail if violation else "blocked")
        text = f"Risk firewall blocked this request ({rule}): {preamble}{detail}"
        # a byte of the request that is no UTF-8 (a path's 0xFF, read as the lone surrogate \udcff) is repeated
        # escaped: an answer body is UTF-8, and a rejection that cannot be written is no venue-shaped answer
        return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _respell(match: re.Match[str]) -> str:
    phrase = match[0]
    return phrase[0] + "\u00ad" + phrase[1:].replace("_", "-").replace(" ", "\u00a0")


# a symbol a fact may name: what every venue's symbols are made of (BitMEX indices start with '.')
# a letter or digit among them (the lookahead): "-" or "/" alone names nothing
_FACT_SYMBOL = re.compile(r"(?=[^A-Za-z0-9]*[A-Za-z0-9])[A-Za-z0-9_.:/-]{1,64}")


# an order id a fact may name: printable, no spaces, not a prefix with nothing after it (Binance's "algo:<id>")
_FACT_ORDER_ID = re.compile(r"[\x21-\x7e]{0,127}[\x21-\x39\x3b-\x7e]")


def _names_a_symbol(symbol: str | None) -> bool:
    return symbol is not None and _FACT_SYMBOL.fullmatch(symbol) is not None


def _names_an_order(order: OrderUpdate) -> bool:
    return _names_a_symbol(order.symbol) and _FACT_ORDER_ID.fullmatch(order.order_id) is not None


def _unsound_name(order: OrderUpdate) -> bool:
    client_id = order.client_order_id
    return client_id is not None and _FACT_ORDER_ID.fullmatch(client_id) is None


def _without_unsound_names(orders: tuple[OrderUpdate, ...]) -> tuple[OrderUpdate, ...]:
    """`orders`, each without a client order id the store could not keep as a name (an amend naming it then finds
    nothing, and is decided as one whose order is unknown)."""
    return tuple(dataclasses.replace(order, client_order_id=None) if _unsound_name(order) else order
                 for order in orders)


def sound_facts(facts: ResponseFacts) -> ResponseFacts:
    """`facts` without what names no symbol a venue could have (an answer row with its symbol missing or
    mangled) or no order id, so nothing is kept under a symbol nothing trades or an empty id, and without client
    order ids no name could be. What is dropped errs towards more exposure, never less: an order update dropped
    leaves its reservation pending, and a report that says every unlisted position (or order) is flat (or gone)
    is dropped whole if any of its rows is."""
    if not facts.prices and not facts.orders and not facts.positions and not facts.open_orders and not facts.closed:
        return facts
    sound = True
    for order in facts.orders:  # loops, not generators: every answer passes here, and is sound
        if not _names_an_order(order) or _unsound_name(order):
            sound = False
            break
    for snapshot in facts.open_orders if sound else ():
        for order in snapshot.orders:
            if _unsound_name(order):
                sound = False
                break
    # (each kind filtered only where the answer has some: most answers carry one or two kinds)
    prices = tuple(p for p in facts.prices if _names_a_symbol(p.symbol)) if facts.prices else ()
    orders = facts.orders if sound else _without_unsound_names(tuple(o for o in facts.orders if _names_an_order(o)))
    positions = tuple(
        report for report in facts.positions
        if (report.symbol is None or _names_a_symbol(report.symbol))
        and all(_names_a_symbol(symbol) for symbol, _, _ in report.positions)
    ) if facts.positions else ()
    open_orders = tuple(
        snapshot if sound else dataclasses.replace(snapshot, orders=_without_unsound_names(snapshot.orders))
        for snapshot in facts.open_orders
        if (snapshot.symbol is None or _names_a_symbol(snapshot.symbol))
        and all(_names_an_order(order) for order in snapshot.orders)
    ) if facts.open_orders else ()
    closed = tuple(c for c in facts.closed if _FACT_ORDER_ID.fullmatch(c.order_id) is not None) if facts.closed else ()
    if sound and (len(prices), len(positions), len(open_orders), len(closed)) == (
        len(facts.prices), len(facts.positions), len(facts.open_orders), len(facts.closed)
    ):
        return facts
    return dataclasses.replace(facts, prices=prices, orders=orders, positions=positions, open_orders=open_orders,
                               closed=closed)


def ascii_digits(text: str) -> bool:
    """Whether `text` is digits 0-9 only, as venues read a number: `str.isdigit` takes other scripts' digits too
    (`int("١٠")` is 10, `int("¹")` raises), which no venue reads as a number."""
    return text.isascii() and text.isdigit()


def read_whole(scopes: Mapping[RouteKey, frozenset[str]], harmless: frozenset[str], key: RouteKey,
               params: Mapping[str, str]) -> bool:
    """Whether every query parameter is one the route `key`'s learner reads as its scope (`scopes`) or one the venue's
    `harmless` names, spelled exactly so (`TableAdapter.sure_scope`; a learner that fills in what a listing leaves
    out asks it too)."""
    known = scopes.get(key)
    if known is None or not all(name in known or name in harmless for name in params):
        return False
    # every venue writes its symbols, coins and product types in capitals (Bybit: "uppercase only"): one asked for
    # in other letters may have matched nothing (an empty book of a symbol or settle coin that is not the one the
    # store holds), so the listing is not taken as that scope's
    # and plainly: a venue looks up " BTC-USDT-SWAP" (or one padded with a tab or a no-break space) as given, and
    # finds nothing, where a reading that trims it would take the empty answer for that instrument's
    return all(_PLAIN_SCOPE.fullmatch(params[name]) is not None for name in SCOPE_NAMES if name in params)


# a scope value as venues write it: capitals, digits and the separators of their ids and lists, nothing else
_PLAIN_SCOPE = re.compile(r"[A-Z0-9_.,:/-]*")


# the query parameters that name an instrument, a coin or a product in a listing's scope: Binance and the others'
# symbol, COIN-M's pair and marginAsset, Bybit's settleCoin, Bitget's productType and marginCoin, OKX's instId and
# instType
SCOPE_NAMES = ("symbol", "instId", "pair", "marginAsset", "settleCoin", "productType", "marginCoin", "instType")


def positive_only(facts: ResponseFacts) -> ResponseFacts:
    """What an answer of unsure scope may still teach: the orders and positions it lists, each for itself. A listing
    of open orders becomes its orders (none is taken for gone for being absent), a cancel-all's empty book nothing
    (its orders stay counted until their own answers or a listing end them), and an account-wide positions report
    one report per symbol it lists (no unlisted position is taken for flat; a symbol's report sets only the
    positions it names)."""
    orders = facts.orders + tuple(order for snapshot in facts.open_orders for order in snapshot.orders)
    positions: list[PositionsReport] = []
    for report in facts.positions:
        if report.symbol is not None:
            positions.append(report)
            continue
        by_symbol: dict[str, list[tuple[str, PositionSide, Decimal]]] = {}
        for row in report.positions:
            by_symbol.setdefault(row[0], []).append(row)
        positions += (dataclasses.replace(report, symbol=symbol, positions=tuple(rows))
                      for symbol, rows in by_symbol.items())
    return dataclasses.replace(facts, orders=orders, open_orders=(), positions=tuple(positions))


# ---- the table-driven adapter ---------------------------------------------------------------------------

# a request's fields as the venue reads them: query and form parameters (Binance, BingX, BitMEX) or a JSON body
type Fields = Any
type Parser = Callable[[Fields, str | None, str], tuple[OrderIntent, ...]]
# an answer's payload, the request it answers (parsed and as sent), the query that scopes it, the decision id
type Learner = Callable[[Any, ParsedRequest, HttpRequest, dict[str, str], str], ResponseFacts]
# a learner the request itself would not teach anything more: the query scope is all it reads of it
type ScopedLearner = Callable[[Any, ParsedRequest, dict[str, str], str], ResponseFacts]
type RouteKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Route:
    """What a venue does with one (method, normalized path): the action the engine judges, how the request's fields
    become intents (None: nothing to read), and what a successful answer teaches (None: nothing). A route with no
    action is learned from only; its requests are judged like any endpoint the venue does not list."""

    action: Action | None
    parse: Parser | None = None
    learn: Learner | None = None


def route_table(requests: Mapping[RouteKey, Route], answers: Mapping[RouteKey, Learner]) -> dict[RouteKey, Route]:
    """One table from a venue's endpoint table (actions and parsers) and its learner table."""
    table = dict(requests)
    for key, learner in answers.items():
        known = table.get(key)
        table[key] = dataclasses.replace(known, learn=learner) if known else Route(None, learn=learner)
    return table


def scoped(learner: ScopedLearner) -> Learner:
    """`learner` as a route's learner: called without the request."""

    def learn(data: Any, parsed: ParsedRequest, request: HttpRequest, params: dict[str, str],
              decision_id: str) -> ResponseFacts:
        return learner(data, parsed, params, decision_id)

    return learn


def one_leg(leg: Callable[[Any, str | None, str], OrderIntent]) -> Parser:
    """A route's parser for an endpoint that takes one order: the request's fields are the order."""

    def parse(fields: Fields, account: str | None, endpoint: str) -> tuple[OrderIntent, ...]:
        return (leg(fields, account, endpoint),)

    return parse


def order_list(raw: object, name: str, most: int) -> list[dict[str, Any]]:
    """A batch's orders, `name` read already (JSON): a list of 1 to `most` objects, or a FieldError naming it."""
    if not isinstance(raw, list) or not raw or len(raw) > most:
        raise FieldError(f"{name} must be a JSON array of 1 to {most} orders")
    if not all(isinstance(item, dict) for item in raw):
        raise FieldError(f"{name} holds something that is not an order")
    return raw


class Unchecked(FieldError):
    """A request the adapter knows it does not check (a spot or option category): it is judged as an unknown
    endpoint, `suffix` added to the endpoint's name (`?category=spot`), with `error` when there is one to say.
    A FieldError still, so code that reads fields without judging (answers, frames) treats it as one."""

    def __init__(self, error: str | None = None, suffix: str = "") -> None:
        super().__init__(error or suffix)
        self.error = error
        self.suffix = suffix


class TableAdapter(VenueAdapter):
    """The parts of `VenueAdapter` every venue shares, driven by its route table.

    A venue subclasses it with its identity (`venue`, `key_header`, hosts, sockets, secrets) and its own
    `rejection`, and passes its routes, how it reads a request's fields and its forbidden-path tests to
    `__init__`. What differs in how it reads answers is in the few methods below, which it overrides: `payload`
    (the part of an answer that is learned from, or UNREADABLE for an error answer), `scope` (the query an answer
    is scoped by) and `learned` (what the venue keeps of the facts, like its prices memo).
    """

    def __init__(self, routes: Mapping[RouteKey, Route], fields: Callable[[HttpRequest], Fields],
                 forbidden: Callable[[str], bool], forbidden_writes: Callable[[str], bool] | None = None, *,
                 convert: Callable[[OrderIntent], OrderIntent] | None = None,
                 handoff: Callable[[str], VenueAdapter | None] | None = None,
                 writes_only_at_write_paths: bool = False,
                 other_writes: frozenset[str] = frozenset(),
                 scopes: Mapping[RouteKey, frozenset[str]] | None = None,
                 harmless: frozenset[str] = frozenset()) -> None:
        """`fields` reads a request's fields as the venue reads them (query and form, or a JSON body), or raises
        FieldError where the venue could read them otherwise; `forbidden` and `forbidden_writes` judge paths the
        table does not list (`unlisted_action`); `convert` turns each intent a parser read into what the engine
        judges (COIN-M: contracts to base units); `handoff` names the adapter that reads a normalized path instead
        of this one (a host both venues serve). `writes_only_at_write_paths`: the venue serves no read at a path
        it takes writes at, other than the reads the table lists (Bybit, OKX, Bitget), so a read method sent to
        such a path (`GET /v5/order/create`) is refused rather than passed as a read: a server that took it for
        the write would place an order nobody checked (BingX too, whose reads at write paths the table lists).
        Binance and BitMEX do read at some of their write paths (`GET /fapi/v1/positionSide/dual`), so they keep
        passing unlisted reads, except at the paths ccxt's tables list writes at and no read (`write_only_paths`),
        where a read method is refused on every venue. `other_writes`: the venue's write paths the table does not
        take (orders of products riskwall does not read, refused as unknown writes): a read method there is
        refused too.

        `scopes`: per route, the query parameters its learner reads as the scope of a listing it reports (open
        orders, positions, a cancel-all's empty book), and `harmless` the venue's parameters that narrow no answer
        (timestamp, signature): an answer is learned as covering a scope only when its request carried nothing
        else (`sure_scope`). None: the venue declares none, and its learners judge their own queries."""
        self.routes = routes
        listed_reads = {path for (method, path), route in routes.items() if method in READ_METHODS}
        at_write_paths = frozenset(
            path for (method, path), route in routes.items()
            if method not in READ_METHODS and route.action not in (None, Action.READ) and path not in listed_reads
        ) if writes_only_at_write_paths else frozenset()
        self._write_only_paths = at_write_paths | other_writes | (write_only_paths(self.venue) - listed_reads)
        self._fields = fields
        self._forbidden = forbidden
        self._forbidden_writes = forbidden_writes
        self._convert = convert
        self._handoff = handoff
        self._scopes = scopes
        self._harmless = harmless

    @property
    def endpoints(self) -> Mapping[tuple[str, str], Action]:
        return {key: route.action for key, route in self.routes.items() if route.action is not None}

    def parse_request(self, request: HttpRequest) -> ParsedRequest:
        return self.parse_request_from(request, sender(request, self.key_header))

    def parse_request_from(self, request: HttpRequest, who: Sender) -> ParsedRequest:
        """`parse_request`, with `who` read already: `sender(request, self.key_header)`."""
        path, endpoint, account, venue = who.path, who.endpoint, who.account, self.venue
        if self._handoff is not None and (other := self._handoff(path)) is not None:
            return other.parse_request(request)
        route = self.routes.get((request.method, path))
        action = route.action if route is not None else None
        if action is None:
            action = unlisted_action(request.method, path, self._forbidden, self._forbidden_writes)
            if action is Action.READ and path in self._write_only_paths:
                action = Action.UNKNOWN
        if who.key_error:
            # whose request it is cannot be told (the venue may read the other header): it is no account's, so
            # nothing its answer says (positions, a listen key) is learned for the key the firewall happened to read
            return ParsedRequest(venue, action, endpoint, None, error=who.key_error)
        if route is None or route.parse is None:
            return ParsedRequest(venue, action, endpoint, account)
        try:
            intents = route.parse(self._fields(request), account, endpoint)
            if self._convert is not None:
                intents = tuple(map(self._convert, intents))
        except Unchecked as unchecked:
            return ParsedRequest(venue, Action.UNKNOWN, endpoint + unchecked.suffix, account, error=unchecked.error)
        except FieldError as exc:
            return ParsedRequest(venue, action, endpoint, account, error=str(exc))
        return ParsedRequest(venue, action, endpoint, account, intents)

    def parse_response(self, parsed: ParsedRequest, request: HttpRequest, status: int, body: bytes,
                       decision_id: str) -> ResponseFacts:
        if status != 200 or not body:
            return ResponseFacts()
        path = normalize_path(request.path)
        if self._handoff is not None and (other := self._handoff(path)) is not None:
            return other.parse_response(parsed, request, status, body, decision_id)
        key = (request.method, path)
        route = self.routes.get(key)
        if route is None or route.learn is None:
            return ResponseFacts()
        if not plain_path(request.path) or (request.body and request.method in READ_METHODS):
            # the query read up to a '#' (`plain_path`), or a read's body the scope ignores: the venue may have
            # answered for other parameters than the firewall read, so no scope is sure, and nor is anything else
            return ResponseFacts()
        data = response_json(body)
        if data is UNREADABLE:
            return ResponseFacts()
        data = self.payload(data)
        if data is UNREADABLE:  # an error answer teaches nothing
            return ResponseFacts()
        params = self.scope(request)
        if params is None:  # an ambiguous query: learning the wrong scope could erase real exposure
            return ResponseFacts()
        facts = route.learn(data, parsed, request, params, decision_id)
        if (facts.open_orders or facts.positions) and not self.sure_scope(key, request, params):
            facts = positive_only(facts)
        return self.learned(facts)

    def sure_scope(self, key: RouteKey, request: HttpRequest, params: Mapping[str, str]) -> bool:
        """Whether an answer to `request` may be learned as covering the scope its learner read from `params`: every
        query parameter is one the route's learner reads as its scope or one the venue's `harmless` names, spelled
        exactly so (a venue matching names case-insensitively reads `Filter` as the `filter` the learner did not
        see), and no body the scope was not read from. A venue that declares no scopes is judged by its learners."""
        if self._scopes is None:
            return True
        return not request.body and read_whole(self._scopes, self._harmless, key, params)

    def payload(self, data: Any) -> Any:
        """The part of a successful answer that is learned from; UNREADABLE for an error answer."""
        return data

    def scope(self, request: HttpRequest) -> dict[str, str] | None:
        return query_params(request)

    def learned(self, facts: ResponseFacts) -> ResponseFacts:
        return facts
