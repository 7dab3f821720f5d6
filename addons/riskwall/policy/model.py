"""The policy file's model: the one definition both the loader and the JSON Schema export read.

Strict by design: unknown keys, wrong types and impossible limits are errors, never ignored, because a
typo in a risk limit that silently disables it is the worst failure a firewall can have.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from riskwall.model import FINGERPRINT_PATTERN, MarginMode, PositionSide, TradingState, Venue

RULE_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
SYMBOL_PATTERN = r"^[A-Za-z0-9*?\[\]/:_.-]{1,64}$"
FINGERPRINT = rf"^{FINGERPRINT_PATTERN}$"

RuleId = Annotated[str, StringConstraints(pattern=RULE_ID)]
SymbolPattern = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN)]
Fingerprint = Annotated[str, StringConstraints(pattern=FINGERPRINT)]
PositiveDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, str_strip_whitespace=True)


class Mode(StrEnum):
    ENFORCE = "enforce"
    SHADOW = "shadow"


class PolicyMode(StrEnum):
    ENFORCE = "enforce"
    # log every would-be block and forward everything: the way to roll out a new policy
    MONITOR = "monitor"


class OnPriceUnknown(StrEnum):
    BLOCK = "block"
    ALLOW = "allow"


class Scope(Strict):
    """Where a rule applies. An empty list means everywhere."""

    venues: tuple[Venue, ...] = ()
    accounts: tuple[str, ...] = Field(default=(), description="account labels defined under `accounts`")
    symbols: tuple[SymbolPattern, ...] = Field(default=(), description="glob patterns, e.g. BTC*, *USDT")
    position_sides: tuple[PositionSide, ...] = Field(default=(), description="both (one-way), long, short (hedge)")

    def matches(self, venue: str, account_labels: frozenset[str], symbol: SymbolNames,
                position_side: PositionSide | None = None) -> bool:
        """Whether the scope covers a leg: the definition. Orders are matched by `policy.index.RuleIndex`,
        prepared from the scopes when a policy is built, which must answer the same (tests hold them together)."""
        if self.venues and venue not in self.venues:
            return False
        if self.accounts and not account_labels.intersection(self.accounts):
            return False
        if self.position_sides and position_side not in self.position_sides:
            return False
        if self.symbols:
            names = _names(symbol)
            # an instruction that names no instrument touches every one, so symbol-scoped rules apply to it
            return not names or any(symbol_matches(p, name) for p in self.symbols for name in names)
        return True

    @property
    def specificity(self) -> int:
        """How narrowly the scope is drawn: a symbol beats an account beats a position side beats a venue."""
        return 8 * bool(self.symbols) + 4 * bool(self.accounts) + 2 * bool(self.position_sides) + bool(self.venues)


# an instrument's names: its venue-native id and, where known, ccxt's unified symbol (BTC/USDT:USDT);
# a policy pattern may use either
type SymbolNames = str | tuple[str, ...] | None


def _names(symbol: SymbolNames) -> tuple[str, ...]:
    if symbol is None:
        return ()
    return (symbol,) if isinstance(symbol, str) else tuple(s for s in symbol if s)


def symbol_matches(pattern: str, symbol: str) -> bool:
    return fnmatchcase(symbol.upper(), pattern.upper())


def lookup_by_symbol[T](table: dict[str, T], symbol: SymbolNames) -> T | None:
    """An exact name beats a pattern (the native id before the unified symbol); among patterns, the first
    written wins. The definition: rules look their limits up in a `SymbolTable`, prepared when they are built,
    which must answer the same (tests hold them together)."""
    names = [name.upper() for name in _names(symbol)]
    for name in names:
        for key, value in table.items():
            if key.upper() == name:
                return value
    for key, value in table.items():
        if any(symbol_matches(key, name) for name in names):
            return value
    return None


_GLOB = frozenset("*?[")


class SymbolTable[T]:
    """A `symbols:` mapping prepared for `lookup_by_symbol`'s answer without its work on every order: names
    upper-cased once, and only the patterns with wildcards left to match (a name without one matches only
    itself, which the exact lookup already found)."""

    __slots__ = ("_exact", "_patterns")

    def __init__(self, table: dict[str, T]) -> None:
        self._exact: dict[str, T] = {}
        for key, value in table.items():
            self._exact.setdefault(key.upper(), value)  # the first written of keys equal but for case
        self._patterns = tuple((key.upper(), value) for key, value in table.items() if _GLOB.intersection(key))

    def __eq__(self, other: object) -> bool:
        # rules compare by their fields, this prepared form of one of them included: equal tables are equal
        return isinstance(other, SymbolTable) and (self._exact, self._patterns) == (other._exact, other._patterns)

    __hash__ = None  # type: ignore[assignment]  # as its dict: rules with a table are not hashed

    def lookup(self, symbol: SymbolNames) -> T | None:
        if not self._exact:  # no `symbols:` at all (every pattern is among the exact keys too): the default
            return None
        names = [name.upper() for name in _names(symbol)]
        for name in names:
            found = self._exact.get(name)
            if found is not None:
                return found
        for pattern, value in self._patterns:
            if any(fnmatchcase(name, pattern) for name in names):
                return value
        return None


@dataclass(frozen=True, slots=True)
class _Matcher:
    """Upper-cased symbol patterns, split into names (no wildcard: equal or not) and globs (`fnmatchcase`)."""

    exact: frozenset[str]
    globs: tuple[str, ...]

    @classmethod
    def of(cls, patterns: tuple[str, ...]) -> _Matcher:
        return cls(frozenset(p for p in patterns if not _GLOB.intersection(p)),
                   tuple(p for p in patterns if _GLOB.intersection(p)))

    def any(self, names: list[str]) -> bool:
        """Whether any of `names` (upper-cased) matches any pattern, as `symbol_matches` would answer."""
        exact = self.exact
        for name in names:  # loops, not generators: this runs on every leg
            if name in exact:
                return True
        for pattern in self.globs:
            for name in names:
                if fnmatchcase(name, pattern):
                    return True
        return False


class RuleBase(Strict):
    id: RuleId
    type: str
    mode: Mode = Mode.ENFORCE
    scope: Scope = Scope()
    description: str | None = None


class AllowedSymbols(RuleBase):
    """Which symbols may be traded: a symbol must match `allow` (when given) and no pattern in `deny`."""

    type: Literal["allowed_symbols"]
    allow: tuple[SymbolPattern, ...] | None = None
    deny: tuple[SymbolPattern, ...] = ()

    @model_validator(mode="after")
    def _something_to_check(self) -> AllowedSymbols:
        if self.allow is None and not self.deny:
            raise ValueError("give `allow`, `deny` or both")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self.patterns  # noqa: B018  # prepared as the rule is built, not on its first order
        self.matchers  # noqa: B018

    @functools.cached_property
    def patterns(self) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
        """`allow` and `deny` upper-cased, as `symbol_matches` compares them."""
        allow = None if self.allow is None else tuple(p.upper() for p in self.allow)
        return allow, tuple(p.upper() for p in self.deny)

    @functools.cached_property
    def matchers(self) -> tuple[_Matcher | None, _Matcher]:
        """`patterns` prepared for `permits`: a pattern without a wildcard matches only itself, so those are
        looked up in a set and only the others matched."""
        allow, deny = self.patterns
        return (None if allow is None else _Matcher.of(allow)), _Matcher.of(deny)

    def permits(self, symbol: SymbolNames) -> bool:
        names = [name.upper() for name in _names(symbol)]
        allow, deny = self.matchers
        if deny.any(names):
            return False
        return allow is None or allow.any(names)


class OrderTypes(RuleBase):
    """Which order types may be sent (the venue's names, e.g. LIMIT, MARKET, STOP_MARKET)."""

    type: Literal["order_types"]
    allow: tuple[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_]{1,40}$", to_upper=True)], ...] = Field(
        min_length=1
    )


class SymbolLimitRule[L](RuleBase):
    # The shape the per-symbol limits share (max_leverage, max_order_qty, max_order_notional, max_position): a
    # limit `L` per symbol pattern under `symbols`, and a `default` for every symbol none matches; at least one.
    # A comment, not a docstring: the subclasses' own docstrings are their schema descriptions.
    default: L | None = None
    symbols: dict[SymbolPattern, L] = {}

    @model_validator(mode="after")
    def _has_limit(self) -> Self:
        if self.default is None and not self.symbols:
            raise ValueError("give a `default` limit, per-symbol limits under `symbols`, or both")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self.symbol_table  # noqa: B018  # prepared as the rule is built, not on its first order

    @functools.cached_property
    def symbol_table(self) -> SymbolTable[L]:
        # a cached_property, not a private attribute: pydantic reads those through __getattr__, on every order
        return SymbolTable(self.symbols)

    def limit_for(self, symbol: SymbolNames) -> L | None:
        """The limit for `symbol` (an exact name before a pattern, as `lookup_by_symbol`), else the default."""
        found = self.symbol_table.lookup(symbol)
        return found if found is not None else self.default


class MaxLeverage(SymbolLimitRule[PositiveDecimal]):
    type: Literal["max_leverage"]


class MaxOrderQty(SymbolLimitRule[PositiveDecimal]):
    """Largest single order, in base units (e.g. BTC for BTCUSDT)."""

    type: Literal["max_order_qty"]


class MaxOrderNotional(SymbolLimitRule[PositiveDecimal]):
    """Largest single order in quote currency: quantity × price (a market order uses the mark price)."""

    type: Literal["max_order_notional"]
    on_price_unknown: OnPriceUnknown = OnPriceUnknown.BLOCK


class PositionLimit(Strict):
    qty: PositiveDecimal | None = Field(default=None, description="base units, either direction")
    notional: PositiveDecimal | None = Field(default=None, description="quote currency, at the mark price")

    @model_validator(mode="after")
    def _has_one(self) -> PositionLimit:
        if self.qty is None and self.notional is None:
            raise ValueError("give `qty`, `notional` or both")
        return self


class MaxPosition(SymbolLimitRule[PositionLimit]):
    """Largest position per symbol and position side, counting orders still open (worst case)."""

    type: Literal["max_position"]
    on_price_unknown: OnPriceUnknown = OnPriceUnknown.BLOCK


_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(ms|s|m|h)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


class RateLimit(Strict):
    limit: int
    window_ms: int

    @property
    def text(self) -> str:
        for unit in ("h", "m", "s"):
            if self.window_ms % _UNIT_MS[unit] == 0:
                return f"{self.limit}/{self.window_ms // _UNIT_MS[unit]}{unit}"
        return f"{self.limit}/{self.window_ms}ms"


@functools.lru_cache(maxsize=1024)  # a rule's windows are read on every order: parse each text once
def parse_rate(text: str) -> RateLimit:
    """`10/1s`, `300/10s`, `1200/1m`, `5/500ms`; a bare unit means one of it (`10/s`)."""
    match = _RATE.match(text)
    if not match:
        raise ValueError(f"rate {text!r} does not parse; write COUNT/WINDOW such as 10/1s, 300/10s, 1200/1m")
    count, amount, unit = int(match[1]), int(match[2] or 1), match[3]
    if count < 1 or amount < 1:
        raise ValueError(f"rate {text!r} must have a count and a window of at least 1")
    return RateLimit(limit=count, window_ms=amount * _UNIT_MS[unit])


class RateKey(StrEnum):
    ACCOUNT = "account"
    SYMBOL = "symbol"


def _rate_text(text: str) -> str:
    parse_rate(text)
    return text


# validated one item at a time, so an error names the item: rules[0].limits[1]
RateText = Annotated[str, AfterValidator(_rate_text), Field(description="COUNT/WINDOW, e.g. 10/1s")]


class OrderRate(RuleBase):
    """Sliding-window budget of orders admitted (new orders and amends; cancels never count)."""

    type: Literal["order_rate"]
    limits: tuple[RateText, ...] = Field(min_length=1)
    per: RateKey = RateKey.ACCOUNT

    def model_post_init(self, context: Any, /) -> None:
        self.windows  # noqa: B018  # prepared as the rule is built, not on its first order

    @functools.cached_property
    def windows(self) -> tuple[RateLimit, ...]:
        # read on every order: the rule is frozen, so its windows are parsed once
        return tuple(parse_rate(t) for t in self.limits)


class PriceCollar(RuleBase):
    """How far a limit price (or, without one, a trigger price) may lie from the reference price (the mark price
    seen, else the last price) on the side that trades through it: a buy above reference × (1 + N/100), a sell
    below reference × (1 − N/100). A buy below or a sell above the market cannot trade through it and is not
    collared, as exchanges' own collars do; market orders have no price of their own and are not collared."""

    type: Literal["price_collar"]
    max_deviation_pct: PositiveDecimal | None = Field(
        default=None, description="percent from the reference price, for every symbol no `symbols` entry matches")
    symbols: dict[SymbolPattern, PositiveDecimal] = {}
    on_price_unknown: OnPriceUnknown = OnPriceUnknown.BLOCK


    @model_validator(mode="after")
    def _has_limit(self) -> PriceCollar:
        if self.max_deviation_pct is None and not self.symbols:
            raise ValueError("give `max_deviation_pct`, per-symbol limits under `symbols`, or both")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self.symbol_table  # noqa: B018  # prepared as the rule is built, not on its first order

    @functools.cached_property
    def symbol_table(self) -> SymbolTable[Decimal]:
        return SymbolTable(self.symbols)

    def limit_for(self, symbol: SymbolNames) -> Decimal | None:
        found = self.symbol_table.lookup(symbol)
        return found if found is not None else self.max_deviation_pct


class MarginModeRule(RuleBase):
    """Which margin modes and position modes a request may switch to (or an order may trade in, where the order
    names its margin mode: OKX `tdMode`, Bitget `marginMode`)."""

    type: Literal["margin_mode"]
    allow: tuple[MarginMode, ...] | None = Field(
        default=None, min_length=1,
        description="margin modes permitted (ISOLATED, CROSSED, PORTFOLIO); omitted means any")
    allow_hedge: bool | None = Field(
        default=None,
        description="whether hedge (dual-side) position mode is permitted; omitted means either position mode")

    @model_validator(mode="after")
    def _something_to_check(self) -> MarginModeRule:
        if self.allow is None and self.allow_hedge is None:
            raise ValueError("give `allow`, `allow_hedge` or both")
        return self


_WINDOW = re.compile(r"^\s*(\d+)\s*(ms|s|m|h)\s*$")
# a longer window stops a strategy that legitimately repeats an order (a grid re-quoting a level it was filled at)
MAX_DUPLICATE_WINDOW_MS = 3_600_000


@functools.lru_cache(maxsize=1024)
def parse_window(text: str) -> int:
    """`500ms`, `2s`, `1m`, `1h` in milliseconds."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"window {text!r} does not parse; write an amount and a unit, such as 500ms, 2s or 1m")
    window_ms = int(match[1]) * _UNIT_MS[match[2]]
    if not 1 <= window_ms <= MAX_DUPLICATE_WINDOW_MS:
        raise ValueError(f"window {text!r} must be at least 1ms and at most 1h")
    return window_ms


def _window_text(text: str) -> str:
    parse_window(text)
    return text


def _number_as_text(value: object) -> object:
    # `window: 2` is read as text, so its error asks for a unit instead of for a string
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


WindowText = Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_window_text),
                       Field(description="AMOUNT UNIT, e.g. 500ms, 2s, 1m")]


class DuplicateOrders(RuleBase):
    """A new order identical to one the firewall admitted within `window` (same account, instrument, side,
    position side, order type, quantity, limit price and trigger price): a bot caught in a loop. Counted over
    the orders the firewall allowed, whatever the venue then answered; reductions are exempt."""

    type: Literal["duplicate_orders"]
    window: WindowText

    @property
    def window_ms(self) -> int:
        return parse_window(self.window)


# no venue lets an account rest more orders than this; a larger limit is a typo
MAX_OPEN_ORDERS_LIMIT = 100_000


class MaxOpenOrders(RuleBase):
    """An order that would make the account's open (resting) orders more than `per_symbol` on its symbol, or more
    than `per_account` on the account. Every order the store knows as open counts (acknowledged, learned from
    answers, open-order listings and private streams; conditional and algo orders too, reduce-only ones too),
    and every order admitted but not yet answered for, so sidecars sharing one store cannot together exceed it.
    Each leg of a batch counts; amends add no order; reductions are exempt from it, as from every limit."""

    type: Literal["max_open_orders"]
    per_symbol: int | None = Field(default=None, ge=1, le=MAX_OPEN_ORDERS_LIMIT, strict=True,
                                   description="most open orders on one symbol")
    per_account: int | None = Field(default=None, ge=1, le=MAX_OPEN_ORDERS_LIMIT, strict=True,
                                    description="most open orders on the account, every symbol together")

    @model_validator(mode="after")
    def _has_limit(self) -> MaxOpenOrders:
        if self.per_symbol is None and self.per_account is None:
            raise ValueError("give `per_symbol`, `per_account` or both")
        return self


class TradingStateRule(RuleBase):
    """A standing trading state written into the policy (the kill switch at runtime lives in the store)."""

    type: Literal["trading_state"]
    state: TradingState


_DURATION = re.compile(r"^\s*([0-9]+)\s*(ms|s|m|h)\s*$")
# a storm counts at most this many refusals in its window, and its window and cool-down last at most a day: the
# store keeps every refusal of the window, so its size stays bounded whatever a policy says
MAX_STORM_LIMIT = 10_000
MAX_STORM_MS = 86_400_000


@functools.lru_cache(maxsize=256)
def parse_cool_down(text: str) -> int:
    """`30s`, `5m`, `1h` in milliseconds: at least 1s, at most 24h."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"cool-down {text!r} does not parse; write an amount and a unit, such as 30s, 5m or 1h")
    cool_down_ms = int(match[1]) * _UNIT_MS[match[2]]
    if not 1000 <= cool_down_ms <= MAX_STORM_MS:
        raise ValueError(f"cool-down {text!r} must be at least 1s and at most 24h")
    return cool_down_ms


def _storm_limit_text(text: str) -> str:
    rate = parse_rate(text)
    if rate.limit > MAX_STORM_LIMIT or rate.window_ms > MAX_STORM_MS:
        raise ValueError(f"limit {text!r} must count at most {MAX_STORM_LIMIT} refusals in a window of at most 24h")
    return text


def _cool_down_text(text: str) -> str:
    parse_cool_down(text)
    return text


class RejectStorm(RuleBase):
    """After the venue has refused `limit` of an account's orders within the window (new orders and amends,
    each leg of a batch, REST and WebSocket; never cancels, never what the firewall blocked itself), the
    account's trading state becomes `state` for `cool_down`, on every sidecar sharing the store. Cancels (and,
    under REDUCING, reductions) still pass; `riskwall resume` of the account ends it early."""

    type: Literal["reject_storm"]
    limit: Annotated[str, AfterValidator(_storm_limit_text), Field(
        description="COUNT/WINDOW of orders the venue refused, e.g. 20/1m")]
    # `cool_down: 300` is read as text, so its error asks for a unit instead of for a string
    cool_down: Annotated[str, BeforeValidator(_number_as_text), AfterValidator(_cool_down_text), Field(
        description="how long the state holds once the storm trips, e.g. 5m (1s to 24h)")]
    state: Literal["REDUCING", "HALTED"] = Field(
        default="REDUCING", description="REDUCING (default): only reductions and cancels pass; HALTED: only cancels")

    @model_validator(mode="after")
    def _account_scope(self) -> RejectStorm:
        if self.scope.symbols or self.scope.position_sides:
            raise ValueError("a reject storm counts an account's refused orders and changes the account's state: "
                             "scope it by venues and accounts, not by symbols or position sides")
        return self

    @property
    def window(self) -> RateLimit:
        return parse_rate(self.limit)

    @property
    def cool_down_ms(self) -> int:
        return parse_cool_down(self.cool_down)

    @property
    def trading_state(self) -> TradingState:
        return TradingState(self.state)


class MaxDailyLoss(RuleBase):
    """Once an account's equity (as the venue reports it in account answers and private streams that pass the
    firewall) has fallen more than `quote` below the first equity seen that UTC day (the store's clock), the
    account's trading state becomes `state` until the next UTC midnight, on every sidecar sharing the store.
    Cancels (and, under REDUCING, reductions) still pass; `riskwall resume` of the account ends it for the rest
    of the day. While no equity has been seen that day there is no loss to measure: `on_equity_unknown` decides
    whether orders that add risk wait for a reading (block, the default) or pass (allow)."""

    type: Literal["max_daily_loss"]
    quote: PositiveDecimal = Field(
        description="the loss (in the equity's currency: USD or USDT) below the day's first equity that trips it")
    state: Literal["REDUCING", "HALTED"] = Field(
        default="REDUCING", description="REDUCING (default): only reductions and cancels pass; HALTED: only cancels")
    on_equity_unknown: OnPriceUnknown = Field(
        default=OnPriceUnknown.BLOCK,
        description="block (default): an order that adds risk while no equity has been seen that UTC day is "
                    "refused (EQUITY_UNKNOWN); allow: it passes, and the rule measures from the first reading")

    @model_validator(mode="after")
    def _account_scope(self) -> MaxDailyLoss:
        if self.scope.symbols or self.scope.position_sides:
            raise ValueError("a daily loss is measured on an account's equity and changes the account's state: "
                             "scope it by venues and accounts, not by symbols or position sides")
        return self

    @property
    def trading_state(self) -> TradingState:
        return TradingState(self.state)


class MaxDailyNotional(RuleBase):
    """A budget of notional an account may trade in one UTC day (the store's clock): an order is refused when its
    notional (quantity × its limit price; a market order at the mark price seen, a stop without a limit price at
    its trigger price) would take the day's notional over `notional`. The day's notional is that of every order
    the firewall admitted that day, filled or still open; the unfilled part of an order that ends (cancelled,
    expired, refused by the venue) is given back. Counted on the account (`per: account`) or on each symbol
    (`per: symbol`), exactly across sidecars sharing a store. Amends are charged at their new size and price in
    place of the order's open part; reductions are exempt, as from every limit, and orders placed around the
    firewall are not counted."""

    type: Literal["max_daily_notional"]
    notional: PositiveDecimal = Field(description="quote currency a UTC day, orders filled plus still open")
    per: RateKey = Field(default=RateKey.ACCOUNT,
                         description="account (default): one budget for every symbol together; symbol: one each")
    on_price_unknown: OnPriceUnknown = OnPriceUnknown.BLOCK


class MaxGrossExposure(RuleBase):
    """The account's gross exposure: the sum over its positions (every symbol and position side, on every venue
    the account trades with `per: account`, on the order's venue with `per: venue`) of each one's worst case
    either way once every pending order filled (position plus orders pending the same way, as `max_position`
    counts it) × the symbol's mark price. An order after which it would exceed `notional` is refused. Valued at
    the mark prices seen (an order's own price for a symbol with none); `on_price_unknown` decides when a position
    is held in a symbol with no price seen. Exact across sidecars sharing a store: positions and pending orders are
    summed inside the order's one reservation (the account's other venues are read in the same script). Orders
    that only reduce are exempt, as from every limit."""

    type: Literal["max_gross_exposure"]
    notional: PositiveDecimal = Field(description="quote currency: Σ |worst-case position| × mark price")
    per: Literal["account", "venue"] = Field(
        default="account",
        description="account (default): the account's positions on every venue it trades (an `accounts` label "
                    "without a `venue` spans them all); venue: its positions on the venue of the order only")
    on_price_unknown: OnPriceUnknown = OnPriceUnknown.BLOCK

    @model_validator(mode="after")
    def _account_scope(self) -> MaxGrossExposure:
        if self.scope.symbols or self.scope.position_sides:
            raise ValueError("gross exposure sums every position of an account: scope it by venues and accounts, "
                             "not by symbols or position sides")
        return self


Rule = Annotated[
    AllowedSymbols | OrderTypes | MaxLeverage | MaxOrderQty | MaxOrderNotional | MaxPosition | OrderRate
    | TradingStateRule | PriceCollar | MarginModeRule | DuplicateOrders | RejectStorm | MaxOpenOrders
    | MaxDailyLoss | MaxDailyNotional | MaxGrossExposure,
    Field(discriminator="type"),
]

# every rule type's name, read off the union above (for messages and suggestions)
RULE_TYPES: tuple[str, ...] = tuple(
    get_args(cls.model_fields["type"].annotation)[0] for cls in get_args(get_args(Rule)[0])
)


class AccountSpec(Strict):
    fingerprints: tuple[Fingerprint, ...] = Field(min_length=1)
    venue: Venue | None = None
    proxy_users: tuple[Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,64}$")], ...] = Field(
        default=(),
        description="proxy-authentication users (--proxy-auth) allowed to sign with these keys: a bot "
                    "authenticated as one of them may trade only this account's keys",
    )


class PolicyFile(Strict):
    """One YAML file. A folder's files are merged: rules concatenate, accounts and mode must agree."""

    version: Literal[1] = 1
    mode: PolicyMode | None = None
    allow_endpoints: tuple[
        Annotated[str, StringConstraints(pattern=r"^(GET|POST|PUT|DELETE|PATCH) /[\x21-\x7e]{1,200}$")], ...
    ] = Field(
        default=(),
        description="forbidden endpoints (withdrawal, transfer, ...) to let through anyway, as 'METHOD /path', "
                    "e.g. 'POST /sapi/v1/futures/transfer'",
    )
    known_accounts_only: bool | None = Field(
        default=None,
        description="refuse orders signed with an API key whose fingerprint is not listed under `accounts`",
    )
    accounts: dict[Annotated[str, StringConstraints(pattern=RULE_ID)], AccountSpec] = {}
    rules: tuple[Rule, ...] = ()
