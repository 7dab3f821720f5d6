"""What every venue adapter offers, and the field parsers they share.

An adapter knows one exchange's HTTP API and nothing else: no policy, no state, no mitmproxy. It turns a
request into a `ParsedRequest`, a response into `ResponseFacts`, and a decision into the venue's own
rejection. Parsing is strict: a value that does not validate raises `FieldError` naming the field, and the
caller turns that into a PARSE_FAILED block for anything that could add risk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from riskwall.model import Action, Decision, ParsedRequest, ResponseFacts, Venue, fingerprint

# no real instrument needs more; a larger number is a typo or an attack
MAX_AMOUNT = Decimal("1e15")
MAX_BODY_BYTES = 1_000_000
PLAIN_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")


class FieldError(ValueError):
    """A request field is missing or invalid. The message names the field, never its secret value."""


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

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Rejection:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("content-type", "application/json"),)


class VenueAdapter(Protocol):
    venue: Venue
    default_hosts: tuple[str, ...]
    # headers and parameters that carry credentials; never logged, never echoed
    secret_fields: frozenset[str]

    @property
    def endpoints(self) -> Mapping[tuple[str, str], Action]:
        """Every (method, normalized path) the adapter knows, with its action: for docs, tests and fuzzing."""
        ...

    def parse_request(self, request: HttpRequest) -> ParsedRequest: ...

    def parse_response(self, parsed: ParsedRequest, request: HttpRequest, status: int, body: bytes,
                       decision_id: str) -> ResponseFacts: ...

    def rejection(self, decision: Decision) -> Rejection: ...


def normalize_path(path: str) -> str:
    """Lower case, no query, no repeated or trailing slashes: so `/fapi/v1//Order/` cannot dodge the table."""
    path = path.split("?", 1)[0]
    path = re.sub(r"/{2,}", "/", path).lower()
    return path.rstrip("/") or "/"


def decimal_field(name: str, raw: object, *, required: bool = True, allow_zero: bool = False) -> Decimal | None:
    """A positive, finite decimal of sane size, parsed from the request's own text (never via float)."""
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


def enum_field(name: str, raw: object, allowed: frozenset[str], *, default: str | None = None) -> str | None:
    if raw is None or raw == "":
        if default is None:
            raise FieldError(f"{name} is missing")
        return default
    if not isinstance(raw, str) or raw not in allowed:
        raise FieldError(f"{name} has an unknown value")
    return raw


def bool_field(name: str, raw: object) -> bool:
    if raw is None or raw == "":
        return False
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise FieldError(f"{name} must be true or false")


def text_field(name: str, raw: object, pattern: re.Pattern[str], *, required: bool = True) -> str | None:
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


def strict_json(text: str, what: str, *, known_fields: Iterable[str] = (), exact_spelling: bool = False,
                signed: bool = False, plain_numbers: bool = True) -> Any:
    """JSON read exactly as the venue will read it, or a FieldError naming what is wrong.

    Numbers become Decimals, and only plain ones are accepted (float parsing would round a size; `1e3` or a
    30-digit number might be read differently by the venue); NaN and Infinity are refused. An object with the
    same key twice is refused; given `known_fields` (venues that match names case-insensitively), so are two
    keys equal but for letter case, and with `exact_spelling` a known field spelled any other way. With
    `plain_numbers` off, any JSON number is kept as a Decimal for the field's own check to judge by name.
    """
    folded = {name.casefold(): name for name in known_fields}
    number = _SIGNED_PLAIN_DECIMAL if signed else PLAIN_DECIMAL

    def plain(raw: str) -> Decimal:
        if plain_numbers and not number.fullmatch(raw):
            raise FieldError(f"{what} holds a number that is not a plain decimal (an exponent, a sign or too many "
                             "digits)")
        return Decimal(raw)

    def constant(name: str) -> None:
        raise FieldError(f"{what} holds {name}")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        seen: set[str] = set()
        for key, value in pairs:
            fold = key.casefold() if folded else key
            if fold in seen:
                # a known field by its name; an unknown one (only met in case-folding venues) as the whole `what`
                name = folded.get(fold, what if folded else key)
                raise FieldError(f"{name} is given twice" + (f" in {what}" if name != what else ""))
            seen.add(fold)
            if exact_spelling and fold in folded and folded[fold] != key:
                raise FieldError(f"{folded[fold]} is spelled with different letter case")
            obj[key] = value
        return obj

    try:
        return json.loads(text, parse_float=plain, parse_int=plain, parse_constant=constant, object_pairs_hook=unique)
    except FieldError:
        raise
    except (ValueError, RecursionError):
        raise FieldError(f"{what} is not JSON") from None


def json_body(request: HttpRequest, venue: str, *, known_fields: Iterable[str] = (), exact_spelling: bool = False,
              content_type_required: bool = False, object_only: bool = True) -> Any:
    """A POST body for venues that sign and read JSON only (Bybit, Bitget, OKX): the query must be empty."""
    if request.query:
        raise FieldError(f"query string on a POST: {venue} signs and reads the JSON body only")
    if not request.body:
        raise FieldError("body is missing")
    if len(request.body) > MAX_BODY_BYTES:
        raise FieldError("body is too large")
    allowed = ("application/json",) if content_type_required else ("", "application/json")
    if request.content_type not in allowed:
        raise FieldError(f"body is not application/json; {venue} takes a JSON body")
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError("body is not JSON: it is not UTF-8") from None
    data = strict_json(text, "body", known_fields=known_fields, exact_spelling=exact_spelling)
    if object_only and not isinstance(data, dict):
        raise FieldError("body is not a JSON object")
    return data


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a request, and to which endpoint: the first thing every adapter reads."""

    path: str  # normalized
    endpoint: str  # "METHOD /path", the name decision lines and policies use
    account: str | None  # the fingerprint of the API key, never the key
    # the key header came twice: "K, K" would fingerprint as no account and slip past account-scoped rules
    key_error: str | None


def sender(request: HttpRequest, key_header: str) -> Sender:
    """`key_header` as the venue spells it (`X-MBX-APIKEY`); headers are looked up case-insensitively."""
    path = normalize_path(request.path)
    name = key_header.lower()
    api_key = request.headers.get(name)
    key_error = f"{key_header} is given twice" if name in request.repeated_headers else None
    return Sender(path, f"{request.method} {path}", fingerprint(api_key) if api_key else None, key_error)


UNREADABLE = object()


def response_json(body: bytes) -> Any:
    """A venue's answer as JSON with every number a Decimal (or int), or `UNREADABLE`.

    Venues that answer amounts as JSON numbers (BitMEX, BingX) must not have them rounded through a float on
    their way into positions and fills.
    """
    try:
        return json.loads(body, parse_float=Decimal)
    except (ValueError, RecursionError):  # also UnicodeDecodeError
        return UNREADABLE
