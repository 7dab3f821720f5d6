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
import contextvars
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from riskwall.model import (
    CheckResult,
    DuplicateCheck,
    ExposureCheck,
    LossCheck,
    LossTrip,
    NotionalCheck,
    OpenOrdersCheck,
    PendingEntry,
    PositionKey,
    RateCheck,
    ReductionCheck,
    RejectCount,
    Reservation,
    ReserveOutcome,
    ResponseFacts,
    StateScope,
    StateView,
    StormTrip,
    TradingState,
    TradingStateRecord,
    Venue,
    ViewQuery,
    live_holder,
)

# Set by whoever runs a settlement in the background (`riskwall.settling`), in that settlement's context: a store
# that applies its commands in the order they were sent calls it once the settlement's commands are sent and will
# run as sent (each of its scripts has answered on that connection before, so none is refused and sent again
# later), and from then on anything this process sends is applied after the settlement, reply or not. A
# settlement whose store never calls it is waited for until it has landed.
SETTLEMENT_WRITTEN: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "riskwall_settlement_written", default=None)


class StateUnavailable(Exception):
    """The store could not be read or written in time."""


class StateLost(StateUnavailable):
    """The store answered, but no longer holds state it held before (a Redis restarted without persistence,
    flushed, or failed over to an empty replica): what it counts now would count from nothing. The store has
    put the fleet in REDUCING by the time this is raised (RedisStore._reserve)."""


@dataclass(frozen=True, slots=True)
class HolderMove:
    """A key the policy now keeps under another account (`holder`) than the one its state is under (`previous`) on
    `venue`: an `accounts` label added, removed or changed. The new account starts without the key's positions,
    open orders and counters, which stay under the previous one."""

    fingerprint: str
    venue: str
    previous: str
    holder: str


def holder_key(venue: str, fingerprint: str) -> str:
    """How a key's account on a venue is named in the store's record (`StateStore.holder_moves`)."""
    return f"{venue}|{fingerprint}"


def holder_changes(recorded: Mapping[str, str], holders: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Which keys' accounts changed, `holder_key` → (previous account, new account), given the accounts the store
    last recorded (`recorded`) and the policy's labels now (`holders`, `holder_key` → `label:<name>`). A key listed
    now that was never recorded may have traded unlisted, under its own fingerprint; a key recorded under a label
    but listed no more trades under its own fingerprint from now on."""
    changes = {}
    for key in holders.keys() | recorded.keys():
        fingerprint = key.partition("|")[2]
        holder, previous = holders.get(key, fingerprint), recorded.get(key, fingerprint)
        if previous != holder:
            changes[key] = (previous, holder)
    return changes


def state_named(states: Sequence[TradingStateRecord], venue: str, holder: str) -> TradingState | None:
    """The strictest trading state in force that names the account `holder` on `venue` by its scope (a halt of a
    label, `riskwall halt --account desk`): a key moved away from that account leaves it behind (`holder_moves`),
    so the account it moves to takes it on. None when none names it; one that names no account covers both."""
    found = [record.state for record in states
             if record.state is not TradingState.ACTIVE and record.scope.account is not None
             and record.scope.venue in (None, venue) and record.scope.account in (holder, live_holder(holder))]
    if not found:
        return None
    return TradingState.HALTED if TradingState.HALTED in found else TradingState.REDUCING


# the value types a store is called with and answers (defined beside the other value types, in riskwall.model)
__all__ = [
    "SETTLEMENT_WRITTEN",
    "CheckResult",
    "DuplicateCheck",
    "ExposureCheck",
    "HolderMove",
    "LossCheck",
    "LossTrip",
    "NotionalCheck",
    "OpenOrdersCheck",
    "PendingEntry",
    "PositionKey",
    "RateCheck",
    "ReductionCheck",
    "RejectCount",
    "Reservation",
    "ReserveOutcome",
    "StateLost",
    "StateScope",
    "StateStore",
    "StateUnavailable",
    "StateView",
    "StormTrip",
    "TradingStateRecord",
    "ViewQuery",
]


class StateStore(abc.ABC):
    """All methods may raise `StateUnavailable`."""

    url: str
    # held in this process: its calls cost microseconds, so nothing is gained by settling answers in the
    # background (a shared store's round trip is worth taking off the bot's path)
    local: bool = False

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

    def cached_view(self, query: ViewQuery) -> StateView | None:
        """A view from what this store already holds, without asking anyone (None: it holds too little).

        Only the trading states and prices are in it, and the states may be stale: it serves requests whose
        plan reads nothing else (`engine.light_view_suffices`), and such a plan is reserved with
        `reserve_seen`, which says whether the states it was planned on still hold. A store that answers
        `view` in-process has no use for it."""
        return None

    async def reserve_seen(self, reservation: Reservation, seen: StateView) -> tuple[ReserveOutcome, bool]:
        """`reserve`, and whether the trading states in `seen` are still the store's (read in the same step)."""
        return await self.reserve(reservation), True

    async def settle(self, facts: ResponseFacts, reservation_id: str | None, after_ms: int = 0,
                     rejections: tuple[RejectCount, ...] = (),
                     losses: tuple[LossCheck, ...] = ()) -> tuple[StormTrip | LossTrip, ...]:
        """What an answer does to the store: `learn(facts)`, then `release(reservation_id, after_ms)` when there
        is a reservation, then `count_rejections(rejections)` (the orders the venue refused), then
        `measure_losses(losses)` (the equity it reported); in one step where the store can. Answers the storms and
        daily losses that tripped."""
        if not facts.empty:
            await self.learn(facts)
        if reservation_id is not None:
            await self.release(reservation_id, after_ms)
        trips: tuple[StormTrip | LossTrip, ...] = await self.count_rejections(rejections) if rejections else ()
        return trips + (await self.measure_losses(losses) if losses else ())

    async def measure_losses(self, checks: tuple[LossCheck, ...]) -> tuple[LossTrip, ...]:
        """Measure each account equity against its rule's baseline for the UTC day (store clock), atomically:
        the first equity of a day is the baseline; a loss beyond the limit trips (see `LossCheck`). The trips
        are answered, enforced or shadow."""
        raise NotImplementedError(f"{type(self).__name__} does not measure daily losses")

    async def count_rejections(self, counts: tuple[RejectCount, ...]) -> tuple[StormTrip, ...]:
        """Count orders the venue refused into each rule's window, atomically; a window that reaches its limit
        trips the storm (see `RejectCount`): the trips are answered, enforced or shadow."""
        raise NotImplementedError(f"{type(self).__name__} does not count refused orders")

    @abc.abstractmethod
    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None: ...

    @abc.abstractmethod
    async def trading_states(self) -> tuple[TradingStateRecord, ...]: ...

    @abc.abstractmethod
    async def holder_moves(self, holders: Mapping[str, str]) -> tuple[HolderMove, ...]:
        """The keys whose state the store holds under another account than `holders` keeps them under
        (`holder_key` → `label:<name>` for each key and venue the policy lists under a label; any other key is
        its own account): `holder_changes` against what the store last recorded, where the previous account holds
        any state on that venue. Reads only: `record_holders` records them once the caller has guarded them."""

    @abc.abstractmethod
    async def record_holders(self, holders: Mapping[str, str]) -> None:
        """Record `holders` as where each key's state is kept from now on, for every sidecar sharing the store."""

    @abc.abstractmethod
    async def exposure(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        """Positions and pending exposure of an account, for status output."""

    async def usage(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        """What an account's counting rules hold, for status output: `open_orders` ("*" the account's open orders,
        and one count per symbol with any) and `daily_notional` (today's notional per budget key)."""
        return {"open_orders": {}, "daily_notional": {}}

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass
