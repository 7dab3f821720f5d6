"""Exchange-neutral value types shared by venues, policy, engine and state.

Stdlib only. Every amount is a `Decimal` parsed from the request's own strings; a float never enters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Venue(StrEnum):
    """Venue ids are ccxt's exchange ids, so users name venues the way their bots already do."""

    BINANCEUSDM = "binanceusdm"
    BINANCECOINM = "binancecoinm"
    BYBIT = "bybit"
    OKX = "okx"
    BITMEX = "bitmex"
    BITGET = "bitget"
    BINGX = "bingx"


class Action(StrEnum):
    NEW = "new"
    AMEND = "amend"
    CANCEL = "cancel"
    CANCEL_ALL = "cancel_all"
    SET_LEVERAGE = "set_leverage"
    SET_MARGIN_MODE = "set_margin_mode"
    SET_POSITION_MODE = "set_position_mode"
    READ = "read"
    # withdrawal, transfer, sub-account and API-key management: never a trading bot's business
    FORBIDDEN = "forbidden"
    UNKNOWN = "unknown"

    @property
    def adds_orders(self) -> bool:
        """Actions that can put new risk on the book and therefore spend the order budget."""
        return self in (Action.NEW, Action.AMEND)

    @property
    def never_blocked(self) -> bool:
        """Cancels and reads can only lower risk, so they pass even when the firewall cannot decide."""
        return self in (Action.CANCEL, Action.CANCEL_ALL, Action.READ)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class PositionSide(StrEnum):
    BOTH = "both"  # one-way mode: one signed position per symbol
    LONG = "long"  # hedge mode: two positions per symbol, each never below zero
    SHORT = "short"


class TradingState(StrEnum):
    """NautilusTrader's trading states: ACTIVE trades freely, REDUCING only shrinks, HALTED only cancels."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        return _STATE_SEVERITY[self]


_STATE_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class Verdict(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"


class Reason(StrEnum):
    """The closed set of stable reason codes. Dashboards and alerts key on these; never rename one."""

    SYMBOL_NOT_ALLOWED = "SYMBOL_NOT_ALLOWED"
    ORDER_TYPE_NOT_ALLOWED = "ORDER_TYPE_NOT_ALLOWED"
    LEVERAGE_EXCEEDS_MAX = "LEVERAGE_EXCEEDS_MAX"
    ORDER_QTY_EXCEEDS_MAX = "ORDER_QTY_EXCEEDS_MAX"
    ORDER_NOTIONAL_EXCEEDS_MAX = "ORDER_NOTIONAL_EXCEEDS_MAX"
    POSITION_EXCEEDS_MAX = "POSITION_EXCEEDS_MAX"
    ORDER_RATE_EXCEEDED = "ORDER_RATE_EXCEEDED"
    TRADING_HALTED = "TRADING_HALTED"
    TRADING_REDUCING = "TRADING_REDUCING"
    ACTION_FORBIDDEN = "ACTION_FORBIDDEN"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_ENDPOINT = "UNKNOWN_ENDPOINT"
    PARSE_FAILED = "PARSE_FAILED"
    STATE_UNAVAILABLE = "STATE_UNAVAILABLE"
    PRICE_UNKNOWN = "PRICE_UNKNOWN"
    POLICY_UNAVAILABLE = "POLICY_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


FINGERPRINT_HEX_DIGITS = 12


def fingerprint(api_key: str) -> str:
    """The only form in which an API key leaves the adapter: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:FINGERPRINT_HEX_DIGITS]


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One order-related instruction, as the venue will understand it, in exchange-neutral terms.

    `quantity` is in base units (converted from contracts where the venue counts contracts); None when the
    instruction carries no size (cancel, set-leverage, a close-position order).
    """

    venue: Venue
    action: Action
    endpoint: str
    account: str | None = None
    symbol: str | None = None
    # ccxt's unified symbol (BTC/USDT:USDT) where the adapter knows it, so one policy name covers every venue
    unified_symbol: str | None = None
    side: Side | None = None
    position_side: PositionSide = PositionSide.BOTH
    quantity: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    order_type: str | None = None
    time_in_force: str | None = None
    reduce_only: bool = False
    close_position: bool = False
    leverage: Decimal | None = None
    margin_mode: str | None = None
    client_order_id: str | None = None
    order_id: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The names a policy may use for this intent's instrument: native id first, then unified."""
        return tuple(n for n in (self.symbol, self.unified_symbol) if n)

    @property
    def only_reduces(self) -> bool:
        """True when the venue itself guarantees the order cannot grow a position.

        Reduce-only and close-position flags are enforced by the venue; in hedge mode a SELL on the LONG
        side (or a BUY on the SHORT side) closes and cannot flip.
        """
        if self.action in (Action.CANCEL, Action.CANCEL_ALL):
            return True
        if self.reduce_only or self.close_position:
            return True
        if self.position_side is PositionSide.LONG and self.side is Side.SELL:
            return True
        return self.position_side is PositionSide.SHORT and self.side is Side.BUY


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """What a venue adapter understood of one HTTP request. A batch gives several intents.

    `error` names the field that could not be understood; the request is then decided on its action alone.
    """

    venue: Venue
    action: Action
    endpoint: str
    account: str | None = None
    intents: tuple[OrderIntent, ...] = ()
    error: str | None = None
    # the bot's proxy-authentication user name, when the explicit proxy required one (set by the addon)
    client: str | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.symbol for i in self.intents if i.symbol))


@dataclass(frozen=True, slots=True)
class Violation:
    """A rule that failed: `LEVERAGE_EXCEEDS_MAX: leverage=50, max_leverage=20`."""

    rule_id: str
    reason: Reason
    context: tuple[tuple[str, str], ...] = ()
    leg: int | None = None

    @classmethod
    def of(cls, rule_id: str, reason: Reason, leg: int | None = None, /, **context: object) -> Violation:
        # positional-only, so a context key may be called `reason` or `leg`
        return cls(rule_id, reason, tuple((k, _fmt(v)) for k, v in context.items()), leg)

    @property
    def detail(self) -> str:
        pairs = ", ".join(f"{k}={v}" for k, v in self.context)
        return f"{self.reason}: {pairs}" if pairs else str(self.reason)

    def get(self, key: str) -> str | None:
        return dict(self.context).get(key)


def _fmt(value: object) -> str:
    if isinstance(value, Decimal):
        # normalize() would print 1E+1 for 10; format with 'f' keeps plain digits
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return str(value)


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    decision_id: str
    policy_revision: str
    violations: tuple[Violation, ...] = ()
    shadowed: tuple[Violation, ...] = ()
    # True when the policy's global mode is monitor: violations were found but traffic flows
    monitored: bool = False

    @property
    def deciding(self) -> Violation | None:
        return self.violations[0] if self.violations else None


@dataclass(frozen=True, slots=True)
class PriceUpdate:
    venue: Venue
    symbol: str
    price: Decimal
    kind: str  # "mark" or "last": mark is preferred for notional


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """The venue's word on one order: how much of it filled, and whether it can still fill.

    Updates are idempotent: the store applies only the part of `executed` it has not applied before.
    `reservation_id` links the venue's order to the exposure reserved when the firewall admitted it.
    """

    venue: Venue
    account: str
    symbol: str
    order_id: str
    side: Side
    position_side: PositionSide
    original: Decimal
    executed: Decimal
    final: bool
    reduce_only: bool = False
    reservation_id: str | None = None
    # venues list some orders apart (Binance's conditional "algo" orders): a listing of one kind says
    # nothing about orders of another
    kind: str = "order"


@dataclass(frozen=True, slots=True)
class PositionsReport:
    """Positions as the venue reported them; they replace what the store believed.

    `symbol` None means an account-wide report: every position it does not list is flat.
    Quantities are signed base units (hedge-mode SHORT legs are <= 0).
    """

    venue: Venue
    account: str
    symbol: str | None
    positions: tuple[tuple[str, PositionSide, Decimal], ...]


@dataclass(frozen=True, slots=True)
class OpenOrdersSnapshot:
    """The complete set of open orders of an account (or of one symbol) as the venue listed it.

    A successful cancel-all is an empty snapshot for its symbol.
    """

    venue: Venue
    account: str
    symbol: str | None
    orders: tuple[OrderUpdate, ...]
    kind: str = "order"


@dataclass(frozen=True, slots=True)
class ClosedOrder:
    """The venue confirmed an order is gone without saying how much of it filled (a cancel answer that
    carries only ids). Its pending exposure ends; fills, if any, arrive with the next position report."""

    venue: Venue
    account: str
    order_id: str


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """Everything a venue response taught us, for the store to apply."""

    prices: tuple[PriceUpdate, ...] = ()
    orders: tuple[OrderUpdate, ...] = ()
    positions: tuple[PositionsReport, ...] = ()
    open_orders: tuple[OpenOrdersSnapshot, ...] = ()
    closed: tuple[ClosedOrder, ...] = ()
    # instrument facts (unified symbols, contract sizes) from exchange-info answers; for the catalog, not the store
    instruments: tuple[Any, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.prices or self.orders or self.positions or self.open_orders or self.closed)
