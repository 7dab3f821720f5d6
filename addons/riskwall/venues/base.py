"""What every venue adapter offers, and the field parsers they share.

An adapter knows one exchange's HTTP API and nothing else: no policy, no state, no mitmproxy. It turns a
request into a `ParsedRequest`, a response into `ResponseFacts`, and a decision into the venue's own
rejection. Parsing is strict: a value that does not validate raises `FieldError` naming the field, and the
caller turns that into a PARSE_FAILED block for anything that could add risk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from riskwall.model import Action, Decision, ParsedRequest, ResponseFacts, Venue

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
