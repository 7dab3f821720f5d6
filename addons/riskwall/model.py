"""Exchange-neutral value types shared by venues, policy, engine and state.

Stdlib only. Every amount is a `Decimal` parsed from the request's own strings; a float never enters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple, TypeGuard

from riskwall.records import quick_init


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


def closes_hedge_position(side: Side | None, position_side: PositionSide | None) -> bool:
    """True when, in hedge mode, the trade only shrinks the position it names: a SELL on the LONG side or a BUY
    on the SHORT side.

    A hedge-mode position never goes below zero, so such an order closes at most what is open and cannot flip
    into the other direction whatever its size; the venue guarantees it as it would a reduce-only flag. In
    one-way mode (BOTH) or with no side, the side alone says nothing.
    """
    return (position_side is PositionSide.LONG and side is Side.SELL) or (
        position_side is PositionSide.SHORT and side is Side.BUY)


def closing_side(position_side: PositionSide | None) -> Side | None:
    """The side of a trade that closes a hedge-mode position (SELL for LONG, BUY for SHORT); None for BOTH."""
    if position_side is PositionSide.LONG:
        return Side.SELL
    return Side.BUY if position_side is PositionSide.SHORT else None


class TradingState(StrEnum):
    """NautilusTrader's trading states: ACTIVE trades freely, REDUCING only shrinks, HALTED only cancels."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        return _STATE_SEVERITY[self]


_STATE_SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class MarginMode(StrEnum):
    """A margin mode in the policy's words, whatever the venue calls it (Binance CROSSED, OKX cross, Bybit
    REGULAR_MARGIN, ...). PORTFOLIO is Bybit's portfolio margin: cross margin over a whole portfolio."""

    ISOLATED = "ISOLATED"
    CROSSED = "CROSSED"
    PORTFOLIO = "PORTFOLIO"


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
    PRICE_OUTSIDE_COLLAR = "PRICE_OUTSIDE_COLLAR"
    MARGIN_MODE_NOT_ALLOWED = "MARGIN_MODE_NOT_ALLOWED"
    DUPLICATE_ORDER = "DUPLICATE_ORDER"
    OPEN_ORDERS_EXCEED_MAX = "OPEN_ORDERS_EXCEED_MAX"
    DAILY_NOTIONAL_EXCEEDS_MAX = "DAILY_NOTIONAL_EXCEEDS_MAX"
    GROSS_EXPOSURE_EXCEEDS_MAX = "GROSS_EXPOSURE_EXCEEDS_MAX"
    TRADING_HALTED = "TRADING_HALTED"
    TRADING_REDUCING = "TRADING_REDUCING"
    ACTION_FORBIDDEN = "ACTION_FORBIDDEN"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    UNKNOWN_ENDPOINT = "UNKNOWN_ENDPOINT"
    PARSE_FAILED = "PARSE_FAILED"
    STATE_UNAVAILABLE = "STATE_UNAVAILABLE"
    PRICE_UNKNOWN = "PRICE_UNKNOWN"
    EQUITY_UNKNOWN = "EQUITY_UNKNOWN"
    POLICY_UNAVAILABLE = "POLICY_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


FINGERPRINT_HEX_DIGITS = 12
# an account fingerprint's shape, for every place that must tell one from a label, a typo or an API key
FINGERPRINT_PATTERN = rf"[0-9a-f]{{{FINGERPRINT_HEX_DIGITS}}}"
_FINGERPRINT = re.compile(FINGERPRINT_PATTERN)


def fingerprint(api_key: str) -> str:
    """The only form in which an API key leaves the adapter: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:FINGERPRINT_HEX_DIGITS]


def is_fingerprint(text: object) -> TypeGuard[str]:
    """Whether `text` is an account fingerprint: exactly 12 lower-case hex digits (no trailing newline)."""
    return isinstance(text, str) and _FINGERPRINT.fullmatch(text) is not None


@quick_init
@dataclass(frozen=True, slots=True)
class OrderIntent:
    """One order-related instruction, as the venue will understand it, in exchange-neutral terms.

    `quantity` is in base units (converted from contracts where the venue counts contracts); None when the
    instruction carries no size (cancel, set-leverage, a close-position order).

    `margin_mode` is the margin mode the instruction asks for, where it names one: a margin-mode switch, a
    leverage call that switches too (Bybit switch-isolated, BitMEX leverage), an order that carries its own
    (OKX `tdMode`, Bitget `marginMode`). `hedge_mode` is the position mode a position-mode switch asks for:
    True for hedge (dual-side, long/short), False for one-way.
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
    margin_mode: MarginMode | None = None
    hedge_mode: bool | None = None
    client_order_id: str | None = None
    order_id: str | None = None
    # a trailing stop's activation price, where it names one: the market must reach it before the stop trails,
    # so an inverse buy's contracts can fill there (`base.lowest_own_price`); nothing else reads it
    activation_price: Decimal | None = None
    # a trailing stop's callback, in percent of the price (Binance callbackRate): a sell fills that far below the
    # highest price it trailed, which inverse contracts (fixed USD each) convert to more coin at
    callback_pct: Decimal | None = None
    # an amend whose order's type is not known here (the store does not keep it): a market-type order (a stop, a
    # trailing plan) does not trade at a `price` the amend restates, so a buy's is no bound on its notional
    # (`engine.reference_price`)
    type_unknown: bool = False
    # (lowest, highest) of the prices an order of several legs can trade at where one leg executes and which is not
    # known (OKX oco/conditional with a take-profit and a stop-loss leg): `price`/`trigger_price` hold one of them, the
    # price collar measures a sell at the lowest and a buy at the highest
    price_span: tuple[Decimal, Decimal] | None = None
    # the size as the venue counts it where riskwall converts it to base units at a market price (inverse
    # contracts): `quantity` moves with the mark, so orders are compared by this (the duplicate rule)
    contracts: Decimal | None = None
    # the kind of open-orders listing that shows the order it places or amends (`OrderUpdate.kind`): a listing of
    # another kind (Binance's algo orders, OKX's algo orders, another Bybit category) does not say whether it rests
    kind: str = "order"
    # a conditional order's: the kind of listing that shows the order the venue places for it when it triggers
    # (Binance and OKX algo orders: "order"; Bitget plan orders: their product type's); None for any other order
    triggers_into: str | None = None
    # where the request leaves out a fact only the store has (a contract size's price, the side or symbol of the
    # order an amend names, the account's position mode): the adapter's own completion of this intent, given what
    # the store knows (`engine.resolve` calls it once the view is read; venues never read state themselves).
    # It returns the complete intent (without `resolve`) or raises a `ValueError` naming the field.
    resolve: Callable[[OrderIntent, Known], OrderIntent] | None = field(default=None, compare=False, repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The names a policy may use for this intent's instrument: native id first, then unified."""
        symbol, unified = self.symbol, self.unified_symbol  # read on every rule of every leg: no generator
        if unified:
            return (symbol, unified) if symbol else (unified,)
        return (symbol,) if symbol else ()

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
        return closes_hedge_position(self.side, self.position_side)


@quick_init
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
    # the account whose state this request moves, where it is not the key's own: the policy's label for the
    # key (`label:<name>`), so positions, rates and states hold per account however many keys trade it
    holder: str | None = None
    # the account's position modes (`ModeUpdate.key`) the intents' `resolve` needs from the store
    mode_keys: tuple[str, ...] = ()
    # what the store knew when the intents were resolved (`engine.resolve`): answer learners read prices from it
    # for contracts an answer carries without one
    known: Known | None = field(default=None, compare=False, repr=False)
    # the venue's environment the request went to: "" its production, else "testnet" or "demo" (a book of its own:
    # the prices learned there are kept apart, `priced_symbol`); set by the addon from the host and headers
    environment: str = ""

    @property
    def symbols(self) -> tuple[str, ...]:
        if len(self.intents) == 1:  # the common case, without the generator and the dict
            symbol = self.intents[0].symbol
            return (symbol,) if symbol else ()
        return tuple(dict.fromkeys(i.symbol for i in self.intents if i.symbol))

    @property
    def state_account(self) -> str | None:
        """The account name state is kept under: the holder, else the key's fingerprint."""
        return self.holder or self.account


# the context entries of a limit's violation that hold what it measured and the limit: `Violation.of` keeps
# their values as numbers too (observed ÷ limit is the limit's usage, for metrics)
MEASURED: dict[str, tuple[str, str]] = {
    Reason.ORDER_QTY_EXCEEDS_MAX: ("qty", "max_qty"),
    Reason.ORDER_NOTIONAL_EXCEEDS_MAX: ("notional", "max_notional"),
    Reason.LEVERAGE_EXCEEDS_MAX: ("leverage", "max_leverage"),
    Reason.POSITION_EXCEEDS_MAX: ("position", "max_position"),
    Reason.ORDER_RATE_EXCEEDED: ("orders", "limit"),
    Reason.PRICE_OUTSIDE_COLLAR: ("deviation_pct", "max_deviation_pct"),
    Reason.DUPLICATE_ORDER: ("orders", "limit"),  # 2 identical orders in the window of a rule that admits 1
    Reason.OPEN_ORDERS_EXCEED_MAX: ("open_orders", "max_open_orders"),
    Reason.DAILY_NOTIONAL_EXCEEDS_MAX: ("daily_notional", "max_daily_notional"),
    Reason.GROSS_EXPOSURE_EXCEEDS_MAX: ("gross_exposure", "max_gross_exposure"),
}


@quick_init
@dataclass(frozen=True, slots=True)
class Violation:
    """A rule that failed: `LEVERAGE_EXCEEDS_MAX: leverage=50, max_leverage=20`."""

    rule_id: str
    reason: Reason
    context: tuple[tuple[str, str], ...] = ()
    leg: int | None = None
    # a limit's violation: what it measured and the limit, as numbers (the same values `context` shows as text);
    # None for a rule that measures nothing, or when the check had no number to give
    observed: Decimal | None = None
    limit: Decimal | None = None

    @classmethod
    def of(cls, rule_id: str, reason: Reason, leg: int | None = None, /, **context: object) -> Violation:
        # positional-only, so a context key may be called `reason` or `leg`
        observed = limit = None
        measured = MEASURED.get(reason)
        if measured is not None:
            observed, limit = _number(context.get(measured[0])), _number(context.get(measured[1]))
        return cls(rule_id, reason, context_text(context), leg, observed, limit)

    @property
    def detail(self) -> str:
        pairs = ", ".join(f"{k}={v}" for k, v in self.context)
        return f"{self.reason}: {pairs}" if pairs else str(self.reason)

    def get(self, key: str) -> str | None:
        return dict(self.context).get(key)


def context_text(context: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    """A violation's context as its decision line writes it (`Violation.context`): each value as text."""
    return tuple((k, _fmt(v)) for k, v in context.items())


def order_fingerprint(intent: OrderIntent, account: str) -> str:
    """What makes two new orders the same order for the duplicate rule: venue, the account state is kept under,
    instrument, side, position side, order type, quantity (an inverse order's contracts, as sent), limit price and
    trigger price, with every amount in its plain form (0.10 and 0.1 are one price). The client order id is not
    part of it: a runaway loop sends a fresh one each time. 24 hex digits of a BLAKE2b digest, so a store key
    stays short whatever the symbol."""
    text = "|".join((
        intent.venue, account, intent.symbol or "", intent.side or "", intent.position_side,
        (intent.order_type or "").upper(),
        # an inverse order's converted size moves with the mark: a repeat is the same count of contracts
        _amount(intent.quantity) if intent.contracts is None else f"c{_fmt(intent.contracts)}",
        _amount(intent.price), _amount(intent.trigger_price),
    ))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _amount(value: Decimal | None) -> str:
    return "" if value is None else _fmt(value)


def _number(value: object) -> Decimal | None:
    """A measured value as a number: Decimal and int as they are, float as it prints (exactly the value its
    context text shows); None for anything else."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    return None


def _fmt(value: object) -> str:
    if isinstance(value, Decimal):
        # normalize() would print 1E+1 for 10; format with 'f' keeps plain digits
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return str(value)


@quick_init
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


@quick_init
@dataclass(frozen=True, slots=True)
class PriceUpdate:
    venue: Venue
    symbol: str
    price: Decimal
    kind: str  # "mark" or "last": mark is preferred for notional


@quick_init
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
    # the bot's id for the order (Bybit orderLinkId, BitMEX clOrdID), where amends may name the order by it
    client_order_id: str | None = None
    # a conditional order that triggered (Binance algo FINISHED, OKX algo effective): the kind of the book where the
    # venue placed the order of its own that holds the fills (`OrderIntent.triggers_into`); `executed` here says
    # nothing of them. What it had open stays held until a position read and a listing of that book, asked after
    # it, show what the placed order did. None for any other update
    fills_elsewhere: str | None = None
    # when the venue last changed the order, by the venue's clock (ms: Binance updateTime or an event's T, Bybit
    # updatedTime, OKX uTime), where the answer or event says: a position push the venue made before a fill this
    # reports is older than the store's position (`PositionsReport.venue_ms`). None: not said
    venue_ms: int | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class PositionsReport:
    """Positions as the venue reported them; they replace what the store believed.

    `symbol` None means an account-wide report: every position it does not list is flat.
    Quantities are signed base units (hedge-mode SHORT legs are <= 0).

    `asked_ms`, where known, is when the read was asked (wall clock, ms): the venue took it after that. A fill
    the store learned since may be missing from it, so a position with one is left as the store has it; None (a
    stream's push, a report of unknown age) replaces every position it names.
    """

    venue: Venue
    account: str
    symbol: str | None
    positions: tuple[tuple[str, PositionSide, Decimal], ...]
    asked_ms: int | None = None
    # a stream's push: when the venue made it, by the venue's clock (ms). A push is stamped with when it came
    # (`asked_ms`), which the bot can delay by not reading its socket (the proxy reads the venue no faster): a
    # position a fill the store learned moved after the venue made the push (`OrderUpdate.venue_ms`) is left as
    # the store has it. None: a read, which its asking dates
    venue_ms: int | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class OpenOrdersSnapshot:
    """The complete set of open orders of an account (or of one symbol) as the venue listed it.

    A successful cancel-all is an empty snapshot for its symbol.

    `asked_ms`, where known, is when the listing was asked (wall clock, ms): an order the store learned since
    may be missing from it, so only orders learned before then end for being absent. An order absent from a
    listing may have filled unseen, so what it had open stays held until a position read shows what it did; not
    so after a cancel-all (`cancelled`), whose orders the bot itself ended.

    `triggers_into`, for a listing of conditional orders (Binance algo, OKX algo, Bitget plan orders): the kind of
    the book where each places its order when it triggers. One absent from the listing may have triggered, and the
    order it placed may rest there, unknown to the store: what it had open is held until a listing of that book
    asked as late as the position read has been learned too.
    """

    venue: Venue
    account: str
    symbol: str | None
    orders: tuple[OrderUpdate, ...]
    kind: str = "order"
    asked_ms: int | None = None
    cancelled: bool = False
    triggers_into: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class ClosedOrder:
    """The venue confirmed an order is gone without saying how much of it filled (a cancel answer that
    carries only ids). It is no longer open; what it had open is held until a position read asked after the cancel
    or its own final word shows what it filled before the cancel reached it. `unfilled`: the answer itself says
    nothing filled (a conditional order, which the venue cancels only before it triggers): nothing is held."""

    venue: Venue
    account: str
    order_id: str
    unfilled: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class AmendAccepted:
    """The venue accepted an amend (a 2xx answer that refused none of its legs) without saying what the order now
    is (OKX and Bitget answer an amend with its ids only). The order then holds the larger of what it had open and
    the amend leg `leg_id`'s quantity (the new size) until the venue reports the order again, and for
    daily-notional budgets the higher of the two prices. An adapter that knows the amend's size is the order's new
    total (Bybit's `qty`) says so in `total`: the order then holds that less what the store knows filled. An answer
    the adapter reads as the order itself (Binance, BitMEX) takes the leg first, and this then changes nothing."""

    venue: Venue
    account: str
    leg_id: str
    # the order's new total size (filled part included) where the adapter read the amend as one (Bybit's `qty`):
    # the order then holds that less what the store knows filled, rather than the larger of the two
    total: Decimal | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class ModeUpdate:
    """An account's position mode as the venue reported or accepted it, under the venue's own `key` (Bitget: the
    product type): `hedge` or `one-way`. Kept in the store, so every sidecar of a fleet reads an order the same."""

    venue: Venue
    account: str
    key: str
    mode: str


@quick_init
@dataclass(frozen=True, slots=True)
class EquityUpdate:
    """An account's equity as the venue reported it (Binance: its settlement assets' `marginBalance` summed, Bybit
    `totalEquity`, OKX `totalEq`), in `currency` (the venue's quote for the figure: USD or USDT). Read for the
    daily-loss rule."""

    venue: Venue
    account: str
    equity: Decimal
    currency: str


@quick_init
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
    # account equity, for the daily-loss rule: the store sees it only as a `LossCheck` (not part of `empty`)
    equity: tuple[EquityUpdate, ...] = ()
    # amends the venue accepted, read from the answer's status by the decider (or by an adapter that knows the
    # amend's new size, `AmendAccepted.total`)
    amended: tuple[AmendAccepted, ...] = ()
    # position modes the account switched to or the venue reported
    modes: tuple[ModeUpdate, ...] = ()
    # when the request this answers came in (wall clock, ms; a stream's push: when it came), where known: the orders
    # it reports were as the venue had them at or after then. A fill past what the store knew of an order is moved
    # into its position only if no position read learned since the store last knew the order could hold it
    # already; else it is held until a read asked after it shows the position (`StateStore.learn`)
    asked_ms: int | None = None

    @property
    def empty(self) -> bool:
        return not (self.prices or self.orders or self.positions or self.open_orders or self.closed or self.amended
                    or self.modes)


# ---- what a store is asked and answers (the engine plans them; the stores check them atomically) ----------


class PositionKey(NamedTuple):
    """One position: a named tuple, not a dataclass, as the engine and the stores hash and compare ~20 of them per
    order (a tuple's hash and equality run in C; a frozen dataclass's in Python)."""

    venue: Venue
    account: str
    symbol: str
    position_side: PositionSide

    @property
    def text(self) -> str:
        return f"{self.venue}|{self.account}|{self.symbol}|{self.position_side}"


@quick_init
@dataclass(frozen=True, slots=True, order=True)
class StateScope:
    """Where a trading state applies: everywhere, a venue, an account of a venue, or a symbol of a venue."""

    venue: str | None = None
    account: str | None = None
    symbol: str | None = None

    @property
    def text(self) -> str:
        if self.venue is None:
            return "global"
        parts = [f"venue={self.venue}"]
        if self.account:
            parts.append(f"account={self.account}")
        if self.symbol:
            parts.append(f"symbol={self.symbol}")
        return ",".join(parts)

    @classmethod
    def parse(cls, text: str) -> StateScope:
        if text == "global":
            return cls()
        fields = dict(part.split("=", 1) for part in text.split(","))
        return cls(fields.get("venue"), fields.get("account"), fields.get("symbol"))

    def covers(self, venue: str, account: str | None, symbol: str | None, holder: str | None = None) -> bool:
        """`account` is the key's fingerprint, `holder` the account its state is kept under (its label's; a label's
        state on a testnet or demo book, `label:<name>@<env>`, is covered by the label's scope too)."""
        if self.venue is None:
            return True
        if self.venue != venue:
            return False
        if self.account is not None and self.account not in (account, holder) and (
                holder is None or self.account != live_holder(holder)):
            return False
        # an instruction that names no instrument (close every position, switch position mode) touches them all
        return self.symbol is None or symbol is None or self.symbol == symbol


def live_holder(holder: str) -> str:
    """The account a holder names on the venue's production book: `label:<name>` of `label:<name>@<env>` (a label's
    state on a testnet or demo book, `Policy.holder`), any other holder as it is."""
    return holder.partition("@")[0]


@quick_init
@dataclass(frozen=True, slots=True)
class TradingStateRecord:
    """A trading state in force at `scope`. An operator's (the kill switch) holds until resumed; one a rule set by
    itself (a reject storm) names the rule in `rule_id` and ends at `until_ms` by the store's clock (or earlier,
    with a resume of its scope)."""

    scope: StateScope
    state: TradingState
    reason: str
    actor: str
    at_ms: int
    until_ms: int | None = None
    rule_id: str | None = None

    def live(self, now_ms: int) -> bool:
        """Whether the state still holds at `now_ms` (the store's clock)."""
        return self.until_ms is None or now_ms < self.until_ms


@quick_init
@dataclass(frozen=True, slots=True)
class ViewQuery:
    venue: Venue
    account: str | None
    symbols: tuple[str, ...]
    # orders amends name: the store tells what it knows of them (side, and what they have left)
    order_ids: tuple[str, ...] = ()
    # every position of the account and the prices of their symbols, not only those of `symbols` (a gross
    # exposure rule values them all), and on these other venues too (an account that trades several)
    whole_account: bool = False
    other_venues: tuple[Venue, ...] = ()
    # daily-loss rule keys (`LossCheck.key`) whose day the store must say it has an equity reading for
    loss_keys: tuple[str, ...] = ()
    # client order ids amends name their order by (without its order id): the store tells what it knows of them
    client_ids: tuple[str, ...] = ()
    # the account's position modes (`ModeUpdate.key`) the request needs
    mode_keys: tuple[str, ...] = ()
    # the venue's environment (`ParsedRequest.environment`): the prices read are that environment's
    environment: str = ""


def priced_symbol(symbol: str, environment: str) -> str:
    """The name a symbol's price is kept under: its own in the venue's production environment, `<symbol>@<env>`
    in a testnet's or demo's, whose books (and prices) are their own. A price read on the testnet must not value
    an order sent to production (a testnet mark ten times the real one made a 4 BTC buy look like 0.4)."""
    return f"{symbol}@{environment}" if environment else symbol


@quick_init
@dataclass(frozen=True, slots=True)
class KnownOrder:
    """An open order as the store holds it: what an amend that names only the order leaves out."""

    order_id: str
    symbol: str
    side: Side
    position_side: PositionSide
    executed: Decimal = Decimal(0)
    reduce_only: bool = False
    kind: str = "order"


@quick_init
@dataclass(frozen=True, slots=True)
class Known:
    """What the store knew when a request was decided, handed to the adapters' `OrderIntent.resolve` (and kept in
    `ParsedRequest.known` for learning the answer): this venue's prices by native symbol (mark preferred), the
    account's open orders the request names, by order id and by client order id, and its position modes."""

    prices: Mapping[str, Decimal] = field(default_factory=dict)
    orders: Mapping[str, KnownOrder] = field(default_factory=dict)
    by_client: Mapping[str, KnownOrder] = field(default_factory=dict)
    modes: Mapping[str, str] = field(default_factory=dict)

    def order(self, order_id: str | None, client_id: str | None) -> KnownOrder | None:
        """By order id where one is given (venues read the order id first when both are), else by client id."""
        if order_id:
            return self.orders.get(order_id)
        return self.by_client.get(client_id) if client_id else None

    def price(self, symbol: str | None) -> Decimal | None:
        return self.prices.get(symbol) if symbol else None


NOTHING_KNOWN = Known()


@quick_init
@dataclass(frozen=True, slots=True)
class Pending:
    """What orders still open (or reserved) could do to one position in one direction if they all filled."""

    adding: Decimal = Decimal(0)  # orders that can grow the position in that direction (plain orders)
    reducing: Decimal = Decimal(0)  # reduce-only orders: they can only bring a position held the other way to 0


NO_PENDING = Pending()


@quick_init
@dataclass(frozen=True, slots=True)
class StateView:
    """A read of the state taken just before a decision; stale by design, so exact checks go to `reserve`."""

    trading_states: tuple[TradingStateRecord, ...] = ()
    positions: dict[PositionKey, Decimal] = field(default_factory=dict)
    prices: dict[tuple[Venue, str], Decimal] = field(default_factory=dict)
    # open orders the store knows, by order id, for amends that name only the order
    orders: dict[str, KnownOrder] = field(default_factory=dict)
    pending: dict[tuple[PositionKey, Side], Pending] = field(default_factory=dict)
    # what those orders still have open, by order id: an amend replaces it
    remaining: dict[str, Decimal] = field(default_factory=dict)
    # of the query's `loss_keys`, those with an equity reading (a baseline) on the store's current UTC day
    equity_seen: frozenset[str] = frozenset()
    # of the query's `client_ids`, the open orders the store knows, by client order id
    by_client: dict[str, KnownOrder] = field(default_factory=dict)
    # of the query's `mode_keys`, the modes the store knows
    modes: dict[str, str] = field(default_factory=dict)
    # the query's environment: `prices` are that environment's (keyed by the plain symbol all the same)
    environment: str = ""

    def position(self, key: PositionKey) -> Decimal:
        return self.positions.get(key, Decimal(0))

    def price(self, venue: Venue, symbol: str) -> Decimal | None:
        return self.prices.get((venue, symbol))

    def pending_in(self, key: PositionKey, side: Side) -> Pending:
        return self.pending.get((key, side), NO_PENDING)

    def reducible(self, key: PositionKey, side: Side) -> Decimal:
        """How much an order on `side` can still take off the position held the other way, once every order
        already pending on `side` (reducing or not) has filled."""
        return reducible(self.position(key), side, self.pending_in(key, side))


def reducible(position: Decimal, side: Side, pending: Pending) -> Decimal:
    """The one formula, shared with the stores: what is held against `side`, net of what `side` has pending."""
    held_against = max(-side.sign * position, Decimal(0))
    return held_against - pending.adding - pending.reducing


def worst_case(position: Decimal, side: Side, pending: Pending) -> Decimal:
    """How far the position could go in `side`'s direction if every pending order filled: reduce-only orders
    first bring a position held the other way towards zero (never past it), then every other order adds."""
    directional = side.sign * position
    if directional < 0:
        directional = min(directional + pending.reducing, Decimal(0))
    return directional + pending.adding


@quick_init
@dataclass(frozen=True, slots=True)
class RateCheck:
    """Admit `cost` more orders only if the sliding window then holds at most `limit`."""

    rule_id: str
    key: str
    limit: int
    window_ms: int
    cost: int
    enforced: bool


@quick_init
@dataclass(frozen=True, slots=True)
class ExposureCheck:
    """Admit `quantity` more in `side`'s direction only if the worst case (`worst_case`) plus `quantity` stays
    ≤ `limit`.

    `replaces_order` (an amend) lets the store subtract what the amended order already had pending.
    """

    rule_id: str
    position: PositionKey
    side: Side
    quantity: Decimal
    limit: Decimal
    enforced: bool
    replaces_order: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class ReductionCheck:
    """Admit `quantity` on `side` as a reduction only if it is covered by the position held the other way, net of
    every order already pending on `side` (`reducible`). Reductions are exempt from limits only this far.

    `reason` is the violation a failure is answered with (TRADING_REDUCING under a REDUCING state, with
    `context`); None marks an exemption, which is decided again as an ordinary order when it fails.
    """

    rule_id: str
    position: PositionKey
    side: Side
    quantity: Decimal
    replaces_order: str | None = None
    reason: Reason | None = None
    context: tuple[tuple[str, str], ...] = ()
    enforced: bool = True


@quick_init
@dataclass(frozen=True, slots=True)
class PendingEntry:
    """Exposure an admitted order holds until the venue reports it filled or gone. A `reducing` entry (an
    exempt reduction) counts towards what reduce-only orders have pending, every other towards what adds."""

    leg_id: str
    position: PositionKey
    side: Side
    quantity: Decimal
    replaces_order: str | None = None
    reducing: bool = False
    # a new order (not an amend): it counts as one of the account's open orders until the venue answers for it
    # (then the order itself counts while it rests) or the reservation is released or lapses
    opens: bool = False
    # the daily-notional budgets (`NotionalCheck.key`) this leg is charged to, at `price` a unit: `quantity` ×
    # `price` until the venue answers for it; then its order holds (filled + remaining) × price there, and gives
    # the remaining part back when it ends unfilled (cancelled, expired, refused) or the leg is released
    budgets: tuple[str, ...] = ()
    price: Decimal | None = None
    # the kind of open-orders listing that shows its order (`OrderIntent.kind`): an order whose answer was lost waits
    # for a listing of that kind, which alone says whether it rests
    kind: str = "order"
    # a conditional order's (`OrderIntent.triggers_into`): the kind of listing that shows what it places when it
    # triggers; one whose answer was lost waits for a listing of that kind too (it may have triggered, and what it
    # placed may rest)
    triggers_into: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class OpenOrdersCheck:
    """Admit `adding` more open orders only if the account's open orders on `symbol` (None: on the whole account)
    stay at most `limit`. What counts is every order the store knows as open (acknowledged, learned from answers,
    listings and streams, conditional orders included) plus every reservation leg that opens an order
    (`PendingEntry.opens`) not yet answered for, less the legs this same reservation id holds already (the same
    decision reserved again replaces them). The store keeps the count as a counter: reading it is O(1)."""

    rule_id: str
    venue: Venue
    account: str
    symbol: str | None
    limit: int
    adding: int
    enforced: bool
    leg: int | None = None
    # for the decision line: the symbol of the order that is checked (an account-wide check names it too)
    context: tuple[tuple[str, str], ...] = ()

    @property
    def scope(self) -> str:
        return "account" if self.symbol is None else "symbol"


@quick_init
@dataclass(frozen=True, slots=True)
class DuplicateCheck:
    """Admit a new order only if no order with the same `fingerprint` (`order_fingerprint`) was admitted under this
    rule within the last `window_ms`; on commit the fingerprint is recorded with the reservation's id, and kept
    `window_ms` (each admission of it starts the window again). A record made by the same reservation id (the
    same decision reserved again) is not a duplicate of it. `context` and `leg` are for the decision line."""

    rule_id: str
    venue: Venue
    account: str
    fingerprint: str
    window_ms: int
    enforced: bool
    leg: int | None = None
    context: tuple[tuple[str, str], ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class NotionalCheck:
    """Admit `adding` more notional to the daily budget `key` ("<rule id>|<venue>|<account>[|<symbol>]") only if
    the notional charged there on the store's current UTC day then stays at most `limit`. Charged is what the
    legs and orders carrying the budget (`PendingEntry.budgets`) hold: the notional of every admitted order,
    filled or still open, less what orders gave back when they ended unfilled. Legs this same reservation id
    holds already are not counted (the same decision reserved again replaces them), nor what the orders
    `replaces` (amended by this request) still hold open there. A day's budget starts empty at UTC midnight;
    an order admitted the day before gives nothing back to the new day."""

    rule_id: str
    venue: Venue
    account: str
    key: str
    limit: Decimal
    adding: Decimal
    enforced: bool
    replaces: tuple[str, ...] = ()
    leg: int | None = None
    # for the decision line: scope ("account" or "symbol") and the symbol of the order checked
    context: tuple[tuple[str, str], ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class GrossCheck:
    """Admit the reservation only if the account's gross exposure then stays at most `limit`, or is no larger than
    without it (an order that adds no exposure is never trapped by prices that moved): the sum, over every
    position the store holds for the account (symbol and position side) and every one the reservation's legs
    open, of its worst case either way (`gross_quantity`) × its symbol's price in `prices` (the mark price the
    view saw, else the order's own price). The reservation's legs count as pending (an amend's in place of what
    the order it replaces still had open; legs this same reservation id holds already are not counted twice). A
    position with exposure whose symbol has no price in `prices` (one another sidecar opened since the view) fails
    the check, naming the symbol."""

    rule_id: str
    venue: Venue
    account: str
    limit: Decimal
    prices: tuple[tuple[str, Decimal], ...]
    enforced: bool
    leg: int | None = None
    context: tuple[tuple[str, str], ...] = ()
    # the account's positions on these other venues count too (`per: account`), each at its price in
    # `other_prices` (venue, symbol, price); the reservation's legs are all on `venue`
    others: tuple[Venue, ...] = ()
    other_prices: tuple[tuple[Venue, str, Decimal], ...] = ()


def gross_quantity(position: Decimal, buying: Pending, selling: Pending) -> Decimal:
    """How far one position could be from flat, either way, if every order pending on one side filled: the larger
    of the two worst cases (`worst_case`), never below zero."""
    return max(worst_case(position, Side.BUY, buying), worst_case(position, Side.SELL, selling), Decimal(0))


@quick_init
@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    rate: tuple[RateCheck, ...] = ()
    exposure: tuple[ExposureCheck, ...] = ()
    pending: tuple[PendingEntry, ...] = ()
    reductions: tuple[ReductionCheck, ...] = ()
    duplicates: tuple[DuplicateCheck, ...] = ()
    open_orders: tuple[OpenOrdersCheck, ...] = ()
    notional: tuple[NotionalCheck, ...] = ()
    gross: tuple[GrossCheck, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.rate or self.exposure or self.pending or self.reductions or self.duplicates
                    or self.open_orders or self.notional or self.gross)


@quick_init
@dataclass(frozen=True, slots=True)
class CheckResult:
    check: RateCheck | ExposureCheck | ReductionCheck | DuplicateCheck | OpenOrdersCheck | NotionalCheck | GrossCheck
    # the counter's value had the order been admitted; for a reduction, what was reducible before it; for a
    # duplicate check, the identical orders admitted within the window counting this one (1, or 2: a duplicate);
    # for an open-orders check, the open orders in its scope had this request's be admitted; for a notional
    # check, the day's charged notional in its budget had this request's been admitted; for a gross check, the
    # account's gross exposure had it been admitted (over the positions priced, when one is not: see `detail`)
    observed: Decimal
    passed: bool
    # what the store adds to a failed check's decision line: for a duplicate, `ago_ms` (how long ago the earlier
    # identical order was admitted, by the store's clock) and `duplicate_of` (that order's decision id); for a
    # gross check, `unpriced` (a symbol with exposure the check has no price for)
    detail: tuple[tuple[str, str], ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class ReserveOutcome:
    committed: bool
    results: tuple[CheckResult, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class RejectCount:
    """Orders the venue refused, counted for one reject-storm rule: each of `members` ("<decision id>:<leg>", so an
    answer counted twice counts once) enters the sliding window `key` of `window_ms`, by the store's clock. When
    the window then holds `limit` or more, the storm trips: the window starts again empty and, when `enforced`,
    the trading state at `scope` (the account) becomes `state` until the store's now + `cool_down_ms`, recorded
    as set by `rule_id` beside any state an operator set there. A shadow rule (`enforced` False) changes no state."""

    rule_id: str
    scope: StateScope
    key: str
    limit: int
    window_ms: int
    cool_down_ms: int
    state: TradingState
    enforced: bool
    members: tuple[str, ...]
    # the rule's own text for the window (`20/1m`), for the record's reason and the log line
    window_text: str = ""


def storm_reason(count: RejectCount) -> str:
    """The reason a reject storm's trading state is recorded with (shown by `riskwall status`); the exact count is
    in the `reject_storm` log line."""
    window = count.window_text or f"{count.window_ms}ms"
    return f"reject storm: {count.limit} orders refused by the venue within {window}"


@quick_init
@dataclass(frozen=True, slots=True)
class StormTrip:
    """A reject storm tripped: `rejections` refusals were in the window of `count`'s rule, so the state holds from
    `at_ms` to `until_ms` (store clock); `count.enforced` False means a shadow rule, which only logs what it would
    have done."""

    count: RejectCount
    rejections: int
    at_ms: int
    until_ms: int


@quick_init
@dataclass(frozen=True, slots=True)
class LossCheck:
    """An account's equity, measured by one daily-loss rule against the first equity the store saw that UTC day
    (store clock) under `key`. A new day (or no baseline) starts the baseline at `equity`; when baseline − equity
    exceeds `limit`, the rule trips: when `enforced`, the trading state at `scope` becomes `state` until the next
    UTC midnight, recorded as set by `rule_id` (as a reject storm's). A trip already in force is not tripped again
    (one log line per trip); a shadow rule changes no state."""

    rule_id: str
    scope: StateScope
    key: str
    equity: Decimal
    currency: str
    limit: Decimal
    state: TradingState
    enforced: bool


# how the reason of a state a daily-loss rule set begins (the decision line's `source` tells it from a storm's)
LOSS_REASON_PREFIX = "daily loss:"


def loss_reason(check: LossCheck) -> str:
    """The reason a daily-loss trip's trading state is recorded with (shown by `riskwall status`)."""
    return f"{LOSS_REASON_PREFIX} equity fell more than {_fmt(check.limit)} {check.currency} below the day's first"


@quick_init
@dataclass(frozen=True, slots=True)
class LossTrip:
    """A daily-loss rule tripped: equity fell from `baseline` (the day's first) to `check.equity`, a loss beyond
    `check.limit`; the state holds from `at_ms` to `until_ms` (the next UTC midnight, store clock)."""

    check: LossCheck
    baseline: Decimal
    at_ms: int
    until_ms: int

    @property
    def loss(self) -> Decimal:
        return self.baseline - self.check.equity
