"""The state store: what every sidecar sharing an account must agree on.

One interface, two implementations (memory for one sidecar, Redis for a fleet). The engine never talks to a
store: it reads a `StateView` taken before the decision and hands back a `Reservation`, which the store
checks and commits atomically (all counters pass, or nothing is written). That split keeps limits exact
when several sidecars decide at once.

Exceptions: everything a store raises because it cannot answer is a `StateUnavailable`; the addon turns it
into STATE_UNAVAILABLE blocks for risk-increasing orders and lets cancels and reductions through.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from decimal import Decimal

from riskwall.model import PositionSide, ResponseFacts, Side, TradingState, Venue


class StateUnavailable(Exception):
    """The store could not be read or written in time."""


@dataclass(frozen=True, slots=True, order=True)
class PositionKey:
    venue: Venue
    account: str
    symbol: str
    position_side: PositionSide

    @property
    def text(self) -> str:
        return f"{self.venue}|{self.account}|{self.symbol}|{self.position_side}"


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

    def covers(self, venue: str, account: str | None, symbol: str | None) -> bool:
        if self.venue is None:
            return True
        if self.venue != venue:
            return False
        if self.account is not None and self.account != account:
            return False
        # an instruction that names no instrument (close every position, switch position mode) touches them all
        return self.symbol is None or symbol is None or self.symbol == symbol


@dataclass(frozen=True, slots=True)
class TradingStateRecord:
    scope: StateScope
    state: TradingState
    reason: str
    actor: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class ViewQuery:
    venue: Venue
    account: str | None
    symbols: tuple[str, ...]
    # orders an amend names without saying their side: the store tells what it knows of them
    order_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StateView:
    """A read of the state taken just before a decision; stale by design, so exact checks go to `reserve`."""

    trading_states: tuple[TradingStateRecord, ...] = ()
    positions: dict[PositionKey, Decimal] = field(default_factory=dict)
    prices: dict[tuple[Venue, str], Decimal] = field(default_factory=dict)
    # open orders the store knows, by order id: (symbol, side, position side), for amends that name only the order
    orders: dict[str, tuple[str, Side, PositionSide]] = field(default_factory=dict)

    def position(self, key: PositionKey) -> Decimal:
        return self.positions.get(key, Decimal(0))

    def price(self, venue: Venue, symbol: str) -> Decimal | None:
        return self.prices.get((venue, symbol))


@dataclass(frozen=True, slots=True)
class RateCheck:
    """Admit `cost` more orders only if the sliding window then holds at most `limit`."""

    rule_id: str
    key: str
    limit: int
    window_ms: int
    cost: int
    enforced: bool


@dataclass(frozen=True, slots=True)
class ExposureCheck:
    """Admit `quantity` more in `side`'s direction only if position + pending + quantity stays ≤ `limit`.

    `replaces_order` (an amend) lets the store subtract what the amended order already had pending.
    """

    rule_id: str
    position: PositionKey
    side: Side
    quantity: Decimal
    limit: Decimal
    enforced: bool
    replaces_order: str | None = None


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """Exposure an admitted order holds until the venue reports it filled or gone."""

    leg_id: str
    position: PositionKey
    side: Side
    quantity: Decimal
    replaces_order: str | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    rate: tuple[RateCheck, ...] = ()
    exposure: tuple[ExposureCheck, ...] = ()
    pending: tuple[PendingEntry, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.rate or self.exposure or self.pending)


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: RateCheck | ExposureCheck
    observed: Decimal  # the counter's value had the order been admitted
    passed: bool


@dataclass(frozen=True, slots=True)
class ReserveOutcome:
    committed: bool
    results: tuple[CheckResult, ...] = ()


class StateStore(abc.ABC):
    """All methods may raise `StateUnavailable`."""

    url: str

    @abc.abstractmethod
    async def view(self, query: ViewQuery) -> StateView: ...

    @abc.abstractmethod
    async def reserve(self, reservation: Reservation) -> ReserveOutcome:
        """Check every counter of `reservation` and commit all of it only if every enforced check passes."""

    @abc.abstractmethod
    async def release(self, reservation_id: str, after_ms: int = 0) -> None:
        """Drop what is left of a reservation: now (the venue answered), or after `after_ms` (no answer came,
        so the order may exist; the bot's next open-orders or position query will show it)."""

    @abc.abstractmethod
    async def learn(self, facts: ResponseFacts) -> None:
        """Apply what a venue response taught: prices, order progress, position and open-order snapshots.

        Idempotent: the same response applied twice changes nothing the second time.
        """

    @abc.abstractmethod
    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None: ...

    @abc.abstractmethod
    async def trading_states(self) -> tuple[TradingStateRecord, ...]: ...

    @abc.abstractmethod
    async def exposure(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        """Positions and pending exposure of an account, for status output."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass
