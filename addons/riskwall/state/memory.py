"""In-memory state for a single sidecar (`memory://`): the embedded default.

Every method runs to completion without awaiting, so on mitmproxy's one event loop each call is atomic,
which is what makes `reserve` exact. The clock is injected so tests never sleep.

Cost does not grow with history: what is pending per position and direction is kept as running sums
(`model.Pending`: what adds, what only reduces), updated on every change, so a check reads two numbers instead of
walking the account's open orders; final orders are remembered in arrival order, bounded by age and by count;
the duplicate rule's fingerprints are kept for their window only, and at most `DUPLICATE_MEMORY_COUNT` of them;
a reject storm's refusals are kept for its window only (every count drops the windows that ran out), and the
state a storm set ends at its `until_ms`, dropped when the states are next read. The open-orders rule reads
counters of open orders per account and per account and symbol (the orders not final, plus the reservation legs
that open an order), moved by every change that opens, takes, drops or finalises one. The daily-notional rule
reads one running total per budget and UTC day, moved by the same changes: a leg charges its quantity × price,
its order then holds (filled + remaining) × price, and what is left unfilled is given back when it ends.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from typing import NamedTuple

from riskwall.model import (
    AmendAccepted,
    CheckResult,
    DuplicateCheck,
    ExposureCheck,
    GrossCheck,
    KnownOrder,
    LossCheck,
    LossTrip,
    NotionalCheck,
    OpenOrdersCheck,
    OpenOrdersSnapshot,
    OrderUpdate,
    Pending,
    PendingEntry,
    PositionKey,
    PositionSide,
    PositionsReport,
    RateCheck,
    ReductionCheck,
    RejectCount,
    Reservation,
    ReserveOutcome,
    ResponseFacts,
    Side,
    StateScope,
    StateView,
    StormTrip,
    TradingState,
    TradingStateRecord,
    Venue,
    ViewQuery,
    gross_quantity,
    loss_reason,
    priced_symbol,
    reducible,
    storm_reason,
    worst_case,
)
from riskwall.state.base import HolderMove, StateStore, holder_changes, state_named

type Clock = Callable[[], int]
type OrderIdent = tuple[Venue, str, str]  # (venue, account, order id)
type Slot = tuple[PositionKey, Side]
type SeenKey = tuple[str, str, str, str]  # (rule id, venue, account, order fingerprint)

# final orders are remembered this long, and at most this many, so an answer seen twice is not counted twice.
# An order forgotten since leaves its id in a fixed-size filter (_Forgotten): an answer for it replayed later
# is recognised there and counts no fill again, so the count only bounds memory (about 190 bytes an order; issue
# 12's 16 MB per 100,000 orders): a replay is caught either way.
FINAL_ORDER_MEMORY_MS = 24 * 3_600_000
FINAL_ORDER_MEMORY_COUNT = 20_000
# a request that got no answer (or 408/5xx, or a socket closed before its answer: fate unknown) may still have
# placed its order: what it held is kept (`release` with a hold) until both a position read and an open-orders
# listing of its symbol, each asked at least UNANSWERED_SETTLE_MS after the hold began, are learned (the order had
# long reached the venue: the read holds what it filled, the listing shows it if it rests, and from then on it
# counts as the open order the listing taught), and at most UNANSWERED_HOLD_MS. An order gone from an open-orders
# listing may have filled unseen: what it had open is kept until such a position read alone. Not a minute: a bot
# that dropped its connection after every order on purpose would add an order's size a minute past its limits.
# Both mirrored in lua/account.lua
UNANSWERED_SETTLE_MS = 10_000
UNANSWERED_HOLD_MS = 15 * 60_000
# fingerprints of admitted orders held for the duplicate rule at most (each for its window): beyond it the soonest
# to expire is forgotten first. An hour's window at 25 new orders a second stays within it.
DUPLICATE_MEMORY_COUNT = 100_000

# a UTC day in ms: the daily-loss rule's baseline is the first equity of the day, by the store's clock
DAY_MS = 86_400_000

# Decimal's default 28 digits would round 1e15 + 1e-18 to 1e15; 80 keep every sum a venue can produce exact, and
# every quantity × price a daily-notional budget holds (each at most 20 integer and 18 fraction digits)
EXACT_DIGITS = 80
ZERO = Decimal(0)

# the members in definition order, iterated without the Enum machinery on every view
_POSITION_SIDES = tuple(PositionSide)
_SIDES = tuple(Side)
_NO_KEYS: frozenset[PositionKey] = frozenset()  # the pending keys of an account that has had none


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def final_key(ident: OrderIdent) -> int:
    """A final order's key in the store's memory of final orders: the ident's hash (salted per process, so no
    request can aim at a collision). Two of the at most FINAL_ORDER_MEMORY_COUNT orders kept share one with odds
    of about 1 in 10^10, far below the Bloom filter's 1 in 100 for forgotten ones, and with the same outcome: an
    answer taken for one already final counts no fill, which the next position report corrects."""
    return hash(ident)


class _Forgotten:
    """The ids of final orders no longer remembered, in a fixed amount of memory: two Bloom filters, the newer
    taking every id, the older dropped once the newer is full, so an id stays known for at least `capacity`
    forgettings. A false positive (about 1 in 100 at capacity) means an answer for an order never seen before,
    already final and matching no reservation, counts no fill; the next position report has it."""

    BITS = 1 << 23  # 1 MiB a filter
    HASHES = 7

    def __init__(self, capacity: int = 500_000) -> None:
        self.capacity = capacity
        self._filters = [bytearray(self.BITS // 8), bytearray(self.BITS // 8)]
        self._count = 0

    def _positions(self, key: int) -> list[int]:
        digest = hashlib.blake2b(key.to_bytes(8, "little", signed=True), digest_size=16).digest()
        first, second = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1
        return [(first + i * second) % self.BITS for i in range(self.HASHES)]

    def add(self, key: int) -> None:
        if self._count >= self.capacity:
            self._filters = [bytearray(self.BITS // 8), self._filters[0]]
            self._count = 0
        newest = self._filters[0]
        for bit in self._positions(key):
            newest[bit >> 3] |= 1 << (bit & 7)
        self._count += 1

    def __contains__(self, key: int) -> bool:
        positions = self._positions(key)
        return any(all(f[bit >> 3] & (1 << (bit & 7)) for bit in positions) for f in self._filters)


@dataclass(frozen=True, slots=True)
class _Charge:
    """What a leg or order holds of daily-notional budgets: the budgets, the price a unit, the UTC day charged."""

    budgets: tuple[str, ...]
    price: Decimal
    day: int


@dataclass(slots=True)
class _Order:
    """An order the venue acknowledged: how much is still pending and how much fill was already applied."""

    position: PositionKey
    side: Side
    remaining: Decimal
    executed: Decimal
    reducing: bool  # reduce-only: counts towards what reduces, never towards what adds
    kind: str = "order"
    charge: _Charge | None = None  # admitted under a daily-notional rule: the budgets it holds its notional in
    client_id: str | None = None  # the bot's id for it, where amends may name it so (`_by_client`)
    learned: int = 0  # when the store first learned of it: a listing asked before then may not show it
    # the earliest the venue can have reported `executed` (when the answer saying it was asked); None: not known,
    # so any position read may hold its fills (`_read_since`)
    seen: int | None = None


class _Vanished(NamedTuple):
    """What the store knew of an order it holds as gone from the book (`MemoryStore._hold_vanished`)."""

    executed: Decimal  # what it had filled
    seen: int | None  # when it last knew that (`_Order.seen`)
    at: int  # when it vanished
    # its daily-notional charge, where its open part was given back when it went (a cancel confirmed by id): a fill
    # its final word then reveals is charged again
    given_back: _Charge | None = None


def _scoped(ident: OrderIdent) -> str:
    """An order's id with its venue and account: held legs are named after it, and two accounts (or one reached
    through two keys) may report the same order id."""
    return f"{ident[0]}|{ident[1]}|{ident[2]}"


def _known(order_id: str, order: _Order) -> KnownOrder:
    return KnownOrder(order_id, order.position.symbol, order.side, order.position.position_side, order.executed,
                      order.reducing, order.kind)


class MemoryStore(StateStore):
    local = True

    def __init__(self, clock: Clock = wall_clock_ms, url: str = "memory://") -> None:
        self.url = url
        self._clock = clock
        self._rate: dict[tuple[str, int], deque[int]] = {}
        self._positions: dict[PositionKey, Decimal] = {}
        self._position_keys: dict[tuple[Venue, str], set[PositionKey]] = defaultdict(set)
        # when a fill last moved each position: a position read asked before then may not hold it
        self._filled_at: dict[PositionKey, int] = {}
        # the latest venue time of a fill of each position (`OrderUpdate.venue_ms`): a push the venue made before
        # then is older than the store's position
        self._filled_venue_at: dict[PositionKey, int] = {}
        # when a position read last set each position (an account-wide read: under (venue, account)): an order's fill
        # past what the store knew of it before then may be in that read already
        self._read_at: dict[PositionKey | tuple[Venue, str], int] = {}
        self._legs: dict[str, dict[str, PendingEntry]] = {}  # reservation id -> leg id -> entry
        self._open: dict[OrderIdent, _Order] = {}  # orders not final
        self._open_of: dict[tuple[Venue, str], set[OrderIdent]] = defaultdict(set)
        # open orders by the bot's id for them, (venue, account, client id) -> order id, for amends that name them so
        self._by_client: dict[OrderIdent, str] = {}
        # accounts' position modes: (venue, account, the venue's key) -> "hedge" | "one-way"
        self._modes: dict[tuple[Venue, str, str], str] = {}
        # final orders (by final_key) -> when they became final: a 64-bit key, not the ident's strings, so the
        # FINAL_ORDER_MEMORY_COUNT orders kept cost about 190 bytes each rather than 330 (issue 12's memory bound)
        self._done: OrderedDict[int, int] = OrderedDict()
        self._forgotten = _Forgotten()
        # the account each key's state was last kept under on each venue, where a label kept it (`record_holders`)
        self._holders: dict[str, str] = {}
        self._adding: dict[Slot, Decimal] = {}
        self._reducing: dict[Slot, Decimal] = {}
        # every position an account has had something pending in (for the gross exposure rule's whole-account sum)
        self._pending_keys: dict[tuple[Venue, str], set[PositionKey]] = defaultdict(set)
        self._prices: dict[tuple[Venue, str], tuple[Decimal, str]] = {}
        # trading states by (scope, rule id): an operator's (rule id None) and those reject-storm rules set, which
        # hold until their `until_ms` beside whatever an operator set at the same scope
        self._states: dict[tuple[StateScope, str | None], TradingStateRecord] = {}
        # reject-storm windows: rule key -> (window ms, {"<decision id>:<leg>": when counted}, oldest first)
        self._rejects: dict[str, tuple[int, dict[str, int]]] = {}
        # daily-loss baselines: rule key -> (UTC day number, the day's first equity, tripped that day)
        self._baselines: dict[str, tuple[int, Decimal, bool]] = {}
        # open orders plus unanswered legs that open one: (venue, account, None) per account, (…, symbol) per symbol
        self._open_counts: dict[tuple[Venue, str, str | None], int] = {}
        self._lapses: list[tuple[int, str]] = []  # (when, reservation id): unanswered reservations lapse then
        # reservation id -> the earliest a position read can have been asked to end its hold (a fill of unknown fate)
        self._held: dict[str, int] = {}
        # reservation id -> the earliest an open-orders listing can have been asked to end its hold (an order whose
        # answer was lost may rest on the book unfilled, which no position read shows)
        self._unlisted: dict[str, int] = {}
        # of those, when the latest position read that covered one while it awaited a listing was asked: it ends
        # the read's wait once the listings are learned, if asked after them (`_settle_unlisted`)
        self._read_while_unlisted: dict[str, int] = {}
        # reservation id -> the same, for a listing of the book its conditional orders place theirs in when they
        # trigger (`PendingEntry.triggers_into`): one whose answer was lost may have triggered, and what it placed
        # may rest
        self._placed_unlisted: dict[str, int] = {}
        # held orders gone from the book (`_hold_vanished`) -> what the store knew of them: the order's own final word
        # (a stream's cancel event, an order query) settles the hold; an answer asked after it vanished that says it
        # is open re-opens it (`_revive`)
        self._vanished: dict[str, _Vanished] = {}
        # daily-notional budgets: key -> (UTC day, notional charged that day); the day each reservation charged its
        # legs on (the legs hold quantity × price in their budgets until taken, dropped or lapsed)
        self._budgets: dict[str, tuple[int, Decimal]] = {}
        self._charged_on: dict[str, int] = {}
        # the duplicate rule's records: fingerprint -> (admitted at, expires at, reservation id), and a heap of
        # (expires at, fingerprint) to forget them by; a record admitted again leaves its older heap entry stale
        self._seen: dict[SeenKey, tuple[int, int, str]] = {}
        self._seen_expiry: list[tuple[int, SeenKey]] = []
        self.duplicate_limit = DUPLICATE_MEMORY_COUNT
        self.final_order_limit = FINAL_ORDER_MEMORY_COUNT

    # ---- StateStore ------------------------------------------------------------------------------------

    async def view(self, query: ViewQuery) -> StateView:
        positions: dict[PositionKey, Decimal] = {}
        pending: dict[Slot, Pending] = {}
        orders: dict[str, KnownOrder] = {}
        by_client: dict[str, KnownOrder] = {}
        modes: dict[str, str] = {}
        remaining: dict[str, Decimal] = {}
        symbols = query.symbols
        if query.account is not None and query.whole_account:
            symbols = tuple(dict.fromkeys((*symbols, *(key.symbol for key in self._account_keys(query.venue,
                                                                                               query.account)))))
        if query.account is not None:
            pending_keys = self._pending_keys.get((query.venue, query.account), _NO_KEYS)
            for symbol in symbols:
                for position_side in _POSITION_SIDES:
                    self._read_position(PositionKey(query.venue, query.account, symbol, position_side), positions,
                                        pending, pending_keys)
            for order_id in query.order_ids:
                order = self._open.get((query.venue, query.account, order_id))
                if order is not None:
                    orders[order_id] = _known(order_id, order)
                    remaining[order_id] = order.remaining
            for client_id in query.client_ids:
                named = self._by_client.get((query.venue, query.account, client_id))
                order = None if named is None else self._open.get((query.venue, query.account, named))
                if named is not None and order is not None:
                    by_client[client_id] = _known(named, order)
                    remaining[named] = order.remaining
            for mode_key in query.mode_keys:
                mode = self._modes.get((query.venue, query.account, mode_key))
                if mode is not None:
                    modes[mode_key] = mode
        environment = query.environment  # a testnet's or demo's prices are kept under their own names
        prices = {(query.venue, s): found[0] for s in symbols
                  if (found := self._prices.get((query.venue, priced_symbol(s, environment)))) is not None}
        if query.account is not None and query.whole_account:
            for venue in query.other_venues:  # the account's positions elsewhere, for a gross sum over venues
                for key in self._account_keys(venue, query.account):
                    self._read_position(key, positions, pending)
                    if (found := self._prices.get((venue, priced_symbol(key.symbol, environment)))) is not None:
                        prices[(venue, key.symbol)] = found[0]
        seen: frozenset[str] = frozenset()
        if query.loss_keys:
            day = self._clock() // DAY_MS
            seen = frozenset(key for key in query.loss_keys
                             if (baseline := self._baselines.get(key)) is not None and baseline[0] == day)
        return StateView(self._live_states(), positions, prices, orders, pending, remaining, seen, by_client, modes,
                         environment)

    def _read_position(self, key: PositionKey, positions: dict[PositionKey, Decimal], pending: dict[Slot, Pending],
                       pending_keys: Container[PositionKey] | None = None) -> None:
        """A view's reading of one position and what pends in it, where there is any. `pending_keys`, where given,
        is the account's `_pending_keys`: a key not in it never had anything pending, so its sums are not read."""
        if key in self._positions:
            positions[key] = self._positions[key]
        if pending_keys is not None and key not in pending_keys:
            return
        for side in _SIDES:
            slot = (key, side)
            # the sums hold only what is not zero (`_add_pending`): a slot in neither has nothing pending
            if slot in self._adding or slot in self._reducing:
                found = self._pending_of(slot)
                if found.adding or found.reducing:
                    pending[slot] = found

    async def reserve(self, reservation: Reservation) -> ReserveOutcome:
        with localcontext(prec=EXACT_DIGITS):
            return self._reserve(reservation)

    async def release(self, reservation_id: str, after_ms: int = 0) -> None:
        if after_ms <= 0:
            self._drop_legs(reservation_id)
        elif reservation_id in self._legs:
            now = self._clock()
            legs = self._legs[reservation_id]
            # whether the venue took the order is not known, nor what it filled: its daily-notional charge stays
            # whatever ends its hold (a read or a listing shows a fill, never charges one)
            for leg_id, entry in legs.items():
                if entry.budgets:
                    legs[leg_id] = replace(entry, budgets=())
            heapq.heappush(self._lapses, (now + after_ms, reservation_id))
            self._held[reservation_id] = self._unlisted[reservation_id] = now + UNANSWERED_SETTLE_MS
            if any(leg.triggers_into for leg in self._legs[reservation_id].values()):
                self._placed_unlisted[reservation_id] = now + UNANSWERED_SETTLE_MS

    async def learn(self, facts: ResponseFacts) -> None:
        with localcontext(prec=EXACT_DIGITS):
            self._learn(facts)

    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None:
        if state is TradingState.ACTIVE:
            # a resume ends every state at the scope, those a storm set included
            for key in [key for key in self._states if key[0] == scope]:
                del self._states[key]
        else:
            self._states[(scope, None)] = TradingStateRecord(scope, state, reason, actor, self._clock())

    async def holder_moves(self, holders: Mapping[str, str]) -> tuple[HolderMove, ...]:
        moves = []
        states = self._live_states()
        for key, (previous, holder) in holder_changes(self._holders, holders).items():
            venue_name, _, fingerprint = key.partition("|")
            venue = Venue(venue_name)
            if self._position_keys.get((venue, previous)) or self._open_of.get((venue, previous)) \
                    or self._pending_keys.get((venue, previous)) or state_named(states, venue_name, previous):
                moves.append(HolderMove(fingerprint, venue_name, previous, holder))
        return tuple(moves)

    async def record_holders(self, holders: Mapping[str, str]) -> None:
        self._holders = dict(holders)

    async def trading_states(self) -> tuple[TradingStateRecord, ...]:
        return self._live_states()

    async def count_rejections(self, counts: tuple[RejectCount, ...]) -> tuple[StormTrip, ...]:
        now = self._clock()
        self._forget_rejections(now)
        trips: list[StormTrip] = []
        for count in counts:
            window = self._rejects.setdefault(count.key, (count.window_ms, {}))[1]
            self._trim(window, now - count.window_ms)
            for member in count.members:
                window.setdefault(member, now)
            if len(window) < count.limit:
                continue
            until = now + count.cool_down_ms
            trips.append(StormTrip(count, len(window), now, until))
            del self._rejects[count.key]  # tripped: counting starts again
            if count.enforced:
                self._states[(count.scope, count.rule_id)] = TradingStateRecord(
                    count.scope, count.state, storm_reason(count), f"rule:{count.rule_id}", now, until,
                    count.rule_id)
        return tuple(trips)

    async def measure_losses(self, checks: tuple[LossCheck, ...]) -> tuple[LossTrip, ...]:
        now = self._clock()
        day = now // DAY_MS
        for key in [key for key, (seen, _, _) in self._baselines.items() if seen != day]:
            del self._baselines[key]  # a day that ended: its baselines go (bounded by today's accounts)
        trips: list[LossTrip] = []
        with localcontext(prec=EXACT_DIGITS):
            for check in checks:
                known = self._baselines.get(check.key)
                if known is None:
                    self._baselines[check.key] = (day, check.equity, False)
                    continue
                baseline, tripped = known[1], known[2]
                if tripped or baseline - check.equity <= check.limit:
                    continue
                until = (day + 1) * DAY_MS
                self._baselines[check.key] = (day, baseline, True)  # once a day: a resume holds until midnight
                trips.append(LossTrip(check, baseline, now, until))
                if check.enforced:
                    self._states[(check.scope, check.rule_id)] = TradingStateRecord(
                        check.scope, check.state, loss_reason(check), f"rule:{check.rule_id}", now, until,
                        check.rule_id)
        return tuple(trips)

    def _live_states(self) -> tuple[TradingStateRecord, ...]:
        now = self._clock()
        for key in [key for key, record in self._states.items() if not record.live(now)]:
            del self._states[key]  # a storm's state ends by itself
        return tuple(self._states.values())

    @staticmethod
    def _trim(window: dict[str, int], cutoff: int) -> None:
        while window:
            member, at = next(iter(window.items()))
            if at > cutoff:
                return
            del window[member]

    def _forget_rejections(self, now: int) -> None:
        """Windows whose every refusal is older than the window go (an account no longer refused leaves none)."""
        for key in list(self._rejects):
            window_ms, window = self._rejects[key]
            self._trim(window, now - window_ms)
            if not window:
                del self._rejects[key]

    async def exposure(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        self._lapse(self._clock())
        keys = set(self._position_keys.get((venue, account), ()))
        keys |= {key for key, _ in (*self._adding, *self._reducing) if key.venue == venue and key.account == account}
        out: dict[str, dict[str, str]] = {}
        for key in sorted(keys):
            buy, sell = self._pending_of((key, Side.BUY)), self._pending_of((key, Side.SELL))
            row = {
                "position": str(self._positions.get(key, ZERO)),
                "pending_buy": str(buy.adding),
                "pending_sell": str(sell.adding),
            }
            # reduce-only orders pending, shown where there are any
            if buy.reducing:
                row["reducing_buy"] = str(buy.reducing)
            if sell.reducing:
                row["reducing_sell"] = str(sell.reducing)
            out[f"{key.symbol}|{key.position_side}"] = row
        return out

    # ---- reserving ---------------------------------------------------------------------------------------

    def _reserve(self, reservation: Reservation) -> ReserveOutcome:
        now = self._clock()
        self._lapse(now)
        results: list[CheckResult] = []
        windows = [self._window(rate, now) for rate in reservation.rate]  # trimmed once: counted, then extended
        for rate, window in zip(reservation.rate, windows, strict=True):
            count = len(window) + rate.cost
            results.append(CheckResult(rate, Decimal(count), count <= rate.limit))
        for check in reservation.exposure:
            worst = self._worst_case(check) + check.quantity
            results.append(CheckResult(check, worst, worst <= check.limit))
        for bound in reservation.reductions:
            allowance = self._reducible(bound)
            results.append(CheckResult(bound, allowance, bound.quantity <= allowance))
        if reservation.duplicates:
            self._forget_seen(now)
            results.extend(self._duplicate(check, reservation.id, now) for check in reservation.duplicates)
        for counted in reservation.open_orders:
            observed = self._open_count(counted, reservation.id) + counted.adding
            results.append(CheckResult(counted, Decimal(observed), observed <= counted.limit))
        for budget in reservation.notional:
            charged = self._charged(budget, reservation.id, now // DAY_MS) + budget.adding
            results.append(CheckResult(budget, charged, charged <= budget.limit))
        if reservation.gross:
            results.extend(self._gross(check, reservation) for check in reservation.gross)
        committed = all(r.passed for r in results if r.check.enforced)
        if committed:
            for rate, window in zip(reservation.rate, windows, strict=True):
                window.extend([now] * rate.cost)
            for duplicate in reservation.duplicates:
                self._saw(duplicate, reservation.id, now)
            if reservation.pending:
                self._drop_legs(reservation.id)  # the same id again replaces its legs, never adds to them
                self._legs[reservation.id] = {p.leg_id: p for p in reservation.pending}
                for entry in reservation.pending:
                    self._add_pending((entry.position, entry.side), entry.reducing, entry.quantity)
                    if entry.opens:
                        self._count_open(entry.position, 1)
                    if entry.budgets and entry.price is not None:
                        self._charged_on[reservation.id] = now // DAY_MS
                        self._spend(entry.budgets, now // DAY_MS, now, entry.quantity, entry.price)
        return ReserveOutcome(committed, tuple(results))

    # ---- gross exposure ----------------------------------------------------------------------------------

    def _account_keys(self, venue: Venue, account: str) -> set[PositionKey]:
        return self._position_keys.get((venue, account), set()) | self._pending_keys.get((venue, account), set())

    def _gross(self, check: GrossCheck, reservation: Reservation) -> CheckResult:
        """The account's gross exposure had `reservation` been admitted (`GrossCheck`): O(positions of the account).
        It passes within the limit, or when it is no larger than without the reservation (an order that adds no
        exposure, such as a plain close, is never trapped by prices that moved)."""
        pending: dict[Slot, Pending] = {}
        for key in self._account_keys(check.venue, check.account):
            for side in Side:
                pending[(key, side)] = self._pending_of((key, side))
        for entry in self._legs.get(reservation.id, {}).values():  # held already: replaced on commit
            self._shift(pending, entry, -entry.quantity)
        before = dict(pending)
        for entry in reservation.pending:
            replaced = self._replaced((entry.position, entry.side), entry.replaces_order)
            if replaced is not None:
                self._shift(pending, dataclasses.replace(entry, reducing=replaced.reducing), -replaced.remaining)
            self._shift(pending, entry, entry.quantity)
        for venue in check.others:  # the account's positions on its other venues count too; no leg moves them
            for key in self._account_keys(venue, check.account):
                for side in Side:
                    pending[(key, side)] = before[(key, side)] = self._pending_of((key, side))
        prices = {(check.venue, symbol): price for symbol, price in check.prices}
        prices.update({(venue, symbol): price for venue, symbol, price in check.other_prices})
        keys = {key for key, _ in pending} | self._position_keys.get((check.venue, check.account), set())
        total, unpriced = self._gross_sum(keys, pending, prices)
        if unpriced:
            return CheckResult(check, total, False, (("unpriced", unpriced),))
        return CheckResult(check, total, total <= check.limit or total <= self._gross_sum(keys, before, prices)[0])

    def _gross_sum(self, keys: set[PositionKey], pending: dict[Slot, Pending],
                   prices: dict[tuple[Venue, str], Decimal]) -> tuple[Decimal, str]:
        """Σ gross_quantity × price over `keys`, and the first symbol (by name) with exposure and no price."""
        total, unpriced = ZERO, ""
        for key in keys:
            quantity = gross_quantity(self._positions.get(key, ZERO), pending.get((key, Side.BUY), Pending()),
                                      pending.get((key, Side.SELL), Pending()))
            if not quantity:
                continue
            price = prices.get((key.venue, key.symbol))
            if price is None:
                unpriced = min(unpriced, key.symbol) if unpriced else key.symbol
                continue
            total += quantity * price
        return total, unpriced

    @staticmethod
    def _shift(pending: dict[Slot, Pending], entry: PendingEntry, delta: Decimal) -> None:
        slot = (entry.position, entry.side)
        found = pending.get(slot, Pending())
        pending[slot] = (Pending(found.adding, found.reducing + delta) if entry.reducing
                         else Pending(found.adding + delta, found.reducing))

    # ---- daily notional ----------------------------------------------------------------------------------

    def _budget(self, key: str, day: int) -> Decimal:
        found = self._budgets.get(key)
        return found[1] if found is not None and found[0] == day else ZERO

    def _spend(self, budgets: tuple[str, ...], day: int, now: int, quantity: Decimal, price: Decimal) -> None:
        """Charge `quantity` × `price` (or give it back, negative) to each budget, for `day`, exactly: a charge of a
        day that has ended moves nothing (that day's budget is no longer kept)."""
        if not quantity or day != now // DAY_MS:
            return
        with localcontext(prec=EXACT_DIGITS):
            amount = quantity * price
            for key in budgets:
                total = self._budget(key, day) + amount
                if total > 0:
                    self._budgets[key] = (day, total)
                else:
                    self._budgets.pop(key, None)

    def _charged(self, check: NotionalCheck, reservation_id: str, day: int) -> Decimal:
        """The day's notional in the check's budget, less what this reservation id's legs and the orders it amends
        hold there (replaced when it commits)."""
        total = self._budget(check.key, day)  # the caller holds the exact context
        if self._charged_on.get(reservation_id) == day:
            for entry in self._legs.get(reservation_id, {}).values():
                if check.key in entry.budgets and entry.price is not None:
                    total -= entry.quantity * entry.price
        for order_id in check.replaces:
            order = self._open.get((check.venue, check.account, order_id))
            charge = order.charge if order is not None else None
            if charge is not None and charge.day == day and check.key in charge.budgets:
                total -= order.remaining * charge.price  # type: ignore[union-attr]
        return total

    async def usage(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        self._lapse(self._clock())
        day = self._clock() // DAY_MS
        counts = {symbol or "*": str(n) for (v, a, symbol), n in self._open_counts.items()
                  if (v, a) == (venue, account)}
        budgets = {key: format(total.normalize(), "f") for key, (seen, total) in self._budgets.items()
                   if seen == day and key.split("|")[1:3] == [venue, account]}
        return {"open_orders": dict(sorted(counts.items())), "daily_notional": dict(sorted(budgets.items()))}

    async def daily_notional(self, venue: Venue, account: str, key: str) -> Decimal:
        """The notional charged to a daily-notional budget on the store's current UTC day (for tests and status)."""
        self._lapse(self._clock())
        return self._budget(key, self._clock() // DAY_MS)

    def _open_count(self, check: OpenOrdersCheck, reservation_id: str) -> int:
        """Open orders in the check's scope, less the legs this reservation id holds already (replaced on commit)."""
        count = self._open_counts.get((check.venue, check.account, check.symbol), 0)
        for entry in self._legs.get(reservation_id, {}).values():
            if entry.opens and (check.symbol is None or entry.position.symbol == check.symbol):
                count -= 1
        return count

    def _count_open(self, key: PositionKey, delta: int) -> None:
        """One order (or leg that opens one) more or fewer on `key`'s account and symbol."""
        counts, venue, account = self._open_counts, key.venue, key.account
        for scope in ((venue, account, None), (venue, account, key.symbol)):
            total = counts.get(scope, 0) + delta
            if total > 0:
                counts[scope] = total
            else:
                counts.pop(scope, None)

    async def open_order_count(self, venue: Venue, account: str, symbol: str | None = None) -> int:
        """The open-orders rule's counter: open orders plus unanswered legs that open one (for tests, status)."""
        self._lapse(self._clock())
        return self._open_counts.get((venue, account, symbol), 0)

    def _duplicate(self, check: DuplicateCheck, reservation_id: str, now: int) -> CheckResult:
        record = self._seen.get((check.rule_id, check.venue, check.account, check.fingerprint))
        if record is None or record[1] <= now or record[2] == reservation_id:
            return CheckResult(check, Decimal(1), True)
        return CheckResult(check, Decimal(2), False, (("ago_ms", str(now - record[0])), ("duplicate_of", record[2])))

    def _saw(self, check: DuplicateCheck, reservation_id: str, now: int) -> None:
        key = (check.rule_id, check.venue, check.account, check.fingerprint)
        expires = now + check.window_ms
        self._seen[key] = (now, expires, reservation_id)
        heapq.heappush(self._seen_expiry, (expires, key))
        self._forget_seen(now)

    def _forget_seen(self, now: int) -> None:
        """Drop the records whose window has passed, and the soonest to expire beyond `duplicate_limit`."""
        heap = self._seen_expiry
        while heap and (heap[0][0] <= now or len(heap) > self.duplicate_limit):
            expires, key = heapq.heappop(heap)
            record = self._seen.get(key)
            if record is not None and record[1] == expires:
                del self._seen[key]

    def _window(self, rate: RateCheck, now: int) -> deque[int]:
        slot = (rate.key, rate.window_ms)
        window = self._rate.get(slot)
        if window is None:  # (not setdefault: that builds a deque on every order only to drop it)
            window = self._rate[slot] = deque()
        cutoff = now - rate.window_ms
        while window and window[0] <= cutoff:
            window.popleft()
        return window

    def _pending_of(self, slot: Slot) -> Pending:
        return Pending(self._adding.get(slot, ZERO), self._reducing.get(slot, ZERO))

    def _replaced(self, slot: Slot, order_id: str | None) -> _Order | None:
        """The open order an amend replaces, when it pends in `slot`."""
        if order_id is None:
            return None
        key, side = slot
        order = self._open.get((key.venue, key.account, order_id))
        return order if order is not None and order.position == key and order.side is side else None

    def _without(self, slot: Slot, order_id: str | None) -> Pending:
        pending = self._pending_of(slot)
        if order_id is None:  # not an amend: nothing replaced
            return pending
        replaced = self._replaced(slot, order_id)
        if replaced is None:
            return pending
        if replaced.reducing:
            return Pending(pending.adding, pending.reducing - replaced.remaining)
        return Pending(pending.adding - replaced.remaining, pending.reducing)

    def _worst_case(self, check: ExposureCheck) -> Decimal:
        slot = (check.position, check.side)
        return worst_case(self._positions.get(check.position, ZERO), check.side,
                          self._without(slot, check.replaces_order))

    def _reducible(self, check: ReductionCheck) -> Decimal:
        slot = (check.position, check.side)
        return reducible(self._positions.get(check.position, ZERO), check.side,
                         self._without(slot, check.replaces_order))

    def _add_pending(self, slot: Slot, reducing: bool, delta: Decimal) -> None:
        sums = self._reducing if reducing else self._adding
        prior = sums.get(slot)
        total = delta if prior is None else prior + delta
        if total > 0:
            sums[slot] = total
            if prior is None:
                self._pending_keys[(slot[0].venue, slot[0].account)].add(slot[0])
        else:
            sums.pop(slot, None)

    def _drop_legs(self, reservation_id: str) -> None:
        self._held.pop(reservation_id, None)
        self._read_while_unlisted.pop(reservation_id, None)
        self._unlisted.pop(reservation_id, None)
        self._placed_unlisted.pop(reservation_id, None)
        self._vanished.pop(reservation_id, None)
        day = self._charged_on.pop(reservation_id, -1)
        for entry in self._legs.pop(reservation_id, {}).values():
            self._add_pending((entry.position, entry.side), entry.reducing, -entry.quantity)
            if entry.opens:
                self._count_open(entry.position, -1)
            if entry.budgets and entry.price is not None:
                self._spend(entry.budgets, day, self._clock(), -entry.quantity, entry.price)

    def _lapse(self, now: int) -> None:
        while self._lapses and self._lapses[0][0] <= now:
            _, reservation_id = heapq.heappop(self._lapses)
            self._drop_legs(reservation_id)

    # ---- learning ------------------------------------------------------------------------------------------

    def _learn(self, facts: ResponseFacts) -> None:
        now = self._clock()
        for price in facts.prices:
            current = self._prices.get((price.venue, price.symbol))
            # a mark price is what positions are valued at; a last price only fills in until one is seen
            if price.kind == "mark" or current is None or current[1] != "mark":
                self._prices[(price.venue, price.symbol)] = (price.price, price.kind)
        for update in facts.orders:
            self._apply_order(update, now, facts.asked_ms)
        for report in facts.positions:
            self._apply_positions(report, now)
        for snapshot in facts.open_orders:
            self._apply_open_orders(snapshot, now)
        for closed in facts.closed:
            ident = (closed.venue, closed.account, closed.order_id)
            order = self._open.get(ident)
            if order is not None:
                # the venue confirmed it gone without saying what it filled before the cancel reached it: what it had
                # open is held until a position read asked from now, or its own final word (a stream's cancel event,
                # an order query), shows what it did; its daily-notional charge is given back now, and charged again
                # with what that final word says filled. A reduce-only order's part too: the position it reduced may
                # be smaller than the store knows, so an order the other way must not pass the limit on that side
                self._finalise(ident, now)
                self._hold_vanished(ident, order, now, now, held=not closed.unfilled, given_back=order.charge)
        for accepted in facts.amended:
            self._confirm_amend(accepted, now, now if facts.asked_ms is None else facts.asked_ms)
        for mode in facts.modes:
            self._modes[(mode.venue, mode.account, mode.key)] = mode.mode
        self._forget_old_orders(now)

    def _take_leg(self, update: OrderUpdate, now: int) -> tuple[PendingEntry | None, _Charge | None]:
        """The venue now vouches for this order: its exposure moves from the reservation to the order. The leg
        when the answer belonged to a live reservation (a fresh answer to an admitted request), with the charge of
        daily-notional budgets the order takes over from it."""
        return self._pop_leg(update.reservation_id, now) if update.reservation_id else (None, None)

    def _pop_leg(self, leg_id: str, now: int) -> tuple[PendingEntry | None, _Charge | None]:
        """Take a leg out of its reservation with everything it holds (pending, open-order count, budgets); the
        leg and the daily-notional charge its order takes over."""
        reservation_id = leg_id.rsplit(":", 1)[0]
        entry = self._legs.get(reservation_id, {}).pop(leg_id, None)
        if entry is None:
            return None, None
        self._add_pending((entry.position, entry.side), entry.reducing, -entry.quantity)
        if entry.opens:
            self._count_open(entry.position, -1)
        if not entry.budgets or entry.price is None:
            return entry, None
        day = self._charged_on.get(reservation_id, -1)
        self._spend(entry.budgets, day, now, -entry.quantity, entry.price)
        return entry, _Charge(entry.budgets, entry.price, day)

    def _confirm_amend(self, accepted: AmendAccepted, now: int, asked: int) -> None:
        """An amend the venue accepted without saying what the order now is: the order holds the larger of what it
        had open and the amend's size until the venue reports it again, and the higher of the two prices for good
        (order reports carry no price): an acceptance read from a status alone must never make an order count for
        less than it might."""
        entry, taken = self._pop_leg(accepted.leg_id, now)
        if entry is None:
            return
        order = self._replaced((entry.position, entry.side), entry.replaces_order)
        if order is None:
            return
        if accepted.total is not None:  # the new total size, fills included: what is left of it
            remaining = max(accepted.total - order.executed, ZERO)
        else:
            remaining = max(order.remaining, entry.quantity)
        self._add_pending((order.position, order.side), order.reducing, remaining - order.remaining)
        if taken is not None and order.charge is not None and order.charge.price > taken.price:
            taken = _Charge(taken.budgets, order.charge.price, taken.day)
        self._recharge(order, taken, ZERO, remaining, now)
        order.remaining = remaining
        if order.seen is None or asked > order.seen:
            order.seen = asked  # what an answer asked before the amend shows of the order is older than this

    def _apply_order(self, update: OrderUpdate, now: int, asked: int | None) -> None:
        """`asked`: when the answer saying it was asked (None: not known, taken as now)."""
        leg, taken = self._take_leg(update, now)
        fresh = leg is not None
        stamped, asked = asked is not None, now if asked is None else asked
        ident = (update.venue, update.account, update.order_id)
        done_key = final_key(ident)
        if done_key in self._done:
            # an order taken for gone that the venue says is open again (an answer of unknown age may be an older one
            # replayed: it revives nothing)
            reopens = stamped and not update.final and not update.fills_elsewhere
            if not (reopens and self._revive(ident, update.kind, asked, now)):
                if update.final and self._vanished and not update.fills_elsewhere:
                    self._settle_vanished(ident, update.executed, now, update.venue_ms)
                return  # final already: an answer seen twice changes nothing
        order = self._open.get(ident)
        key = PositionKey(update.venue, update.account, update.symbol, update.position_side)
        # an order the store never saw placed, first heard of with a fill (a bot querying an old order, a listing
        # after a restart): when it filled is not known
        timeless = order is None and not fresh
        if order is None:
            if not fresh and done_key in self._forgotten:
                return  # an answer for an order final and forgotten long ago, replayed: counted back then
            # an order the bot placed through the sidecar had filled nothing before its request came in; of any other
            # the store cannot tell which fills a position read already holds
            order = _Order(key, update.side, ZERO, ZERO, update.reduce_only, update.kind, learned=now,
                           seen=asked if fresh else None)
            self._open[ident] = order
            self._open_of[(update.venue, update.account)].add(ident)
            self._count_open(key, 1)
        if update.client_order_id and order.client_id != update.client_order_id:
            if order.client_id is not None:
                named = (update.venue, update.account, order.client_id)
                if self._by_client.get(named) == update.order_id:
                    del self._by_client[named]  # a newer order may have taken the old name: it keeps it
            order.client_id = update.client_order_id
            self._by_client[(update.venue, update.account, update.client_order_id)] = update.order_id
        if update.executed < order.executed:
            return  # an older answer replayed after a newer one
        fill = update.executed - order.executed
        if fill > 0:
            self._count_fill(ident, key, order.side, order.reducing, order.seen, fill, update.executed, now,
                             update.venue_ms,
                             timeless=timeless)
            order.executed = update.executed
        # an answer asked before the store last knew the order (a listing answered after an amend it did not see)
        # may show a size the order no longer has: it never makes the order count for less than it had open
        stale = stamped and order.seen is not None and asked <= order.seen
        if order.seen is None or asked > order.seen:
            order.seen = asked
        remaining = max(update.original - update.executed, ZERO)
        if not update.final and order.reducing and update.original == 0:
            # a close of whatever the position is (Binance closePosition, OKX closeFraction) is reported without a
            # size: it holds what the close was decided against (its leg), and a later report without a size keeps
            # that, so when it fires unseen the other way is not measured from a position it closed
            remaining = max(max(order.remaining, leg.quantity if leg is not None else ZERO) - fill, ZERO)
        elif stale:
            remaining = max(remaining, order.remaining - fill)
        self._add_pending((order.position, order.side), order.reducing, remaining - order.remaining)
        self._recharge(order, taken, fill, remaining, now)
        order.remaining = remaining
        if update.final and update.fills_elsewhere:
            # what it filled is the placed order's: held until a read and a listing asked from now show it
            self._finalise(ident, now, unfilled_known=False)
            self._hold_vanished(ident, order, now, now, listing=update.fills_elsewhere)
        elif update.final:
            self._finalise(ident, now)

    def _recharge(self, order: _Order, taken: _Charge | None, fill: Decimal, remaining: Decimal, now: int) -> None:
        """An order's hold on its daily-notional budgets after an update: what filled stays charged, what is open
        is charged at its price; an answer to an amend moves the order to the amend's price (`taken`), and a
        new order's fill counts in full."""
        old = order.charge
        if old is not None:
            # the part that neither filled nor stays open was given back (a shrink); the open part moves
            self._spend(old.budgets, old.day, now, fill - order.remaining, old.price)
        charge = taken or old
        if charge is None:
            return
        opened = remaining + (fill if old is None else ZERO)
        self._spend(charge.budgets, charge.day, now, opened, charge.price)
        order.charge = charge

    def _finalise(self, ident: OrderIdent, now: int, *, unfilled_known: bool = True) -> None:
        """The order is final. `unfilled_known` False (it left an open-orders listing, for a reason the listing does
        not say): its pending exposure ends (fills come with the next position report) but its daily-notional charge
        stays whole, since no later report would charge a fill the sidecar did not see."""
        order = self._open.pop(ident)
        self._open_of[(ident[0], ident[1])].discard(ident)
        if order.client_id is not None and self._by_client.get((ident[0], ident[1], order.client_id)) == ident[2]:
            del self._by_client[(ident[0], ident[1], order.client_id)]
        self._count_open(order.position, -1)
        self._add_pending((order.position, order.side), order.reducing, -order.remaining)
        if order.charge is not None and unfilled_known:
            self._spend(order.charge.budgets, order.charge.day, now, -order.remaining, order.charge.price)
        self._remember_final(ident, now)

    def _remember_final(self, ident: OrderIdent, now: int) -> None:
        key = final_key(ident)
        self._done[key] = now
        self._done.move_to_end(key)
        while len(self._done) > self.final_order_limit:
            self._forgotten.add(self._done.popitem(last=False)[0])

    def _forget_old_orders(self, now: int) -> None:
        cutoff = now - FINAL_ORDER_MEMORY_MS
        while self._done and next(iter(self._done.values())) < cutoff:
            self._forgotten.add(self._done.popitem(last=False)[0])

    def _move_position(self, key: PositionKey, delta: Decimal) -> None:
        self._positions[key] = self._positions.get(key, ZERO) + delta
        self._position_keys[(key.venue, key.account)].add(key)
        self._filled_at[key] = self._clock()

    def _apply_positions(self, report: PositionsReport, now: int) -> None:
        """The positions a read reported replace the store's, but where a fill was learned since the read was
        asked (it may be missing from the read, which would roll the position back past it)."""
        venue, account = report.venue, report.account
        asked, made = report.asked_ms, report.venue_ms  # the store's clock is the wall clock that stamped `asked`
        skipped: set[PositionKey] = set()  # positions a fill moved since the read was asked: left as they are
        reported: set[PositionKey] = set()  # the positions the read set
        if report.symbol is None:  # an account-wide report: whatever it does not list is flat
            self._read_at[(venue, account)] = now
            for key in self._position_keys.get((venue, account), ()):
                if self._filled_since(key, asked, made):
                    skipped.add(key)
                else:
                    self._positions[key] = ZERO
        for sym, side, quantity in report.positions:
            key = PositionKey(venue, account, sym, side)
            if self._filled_since(key, asked, made):
                skipped.add(key)
                continue
            self._positions[key] = quantity
            self._read_at[key] = now
            self._position_keys[(venue, account)].add(key)
            reported.add(key)
        if asked is not None and self._held:
            self._settle_held(report, asked, reported, skipped)

    def _read_since(self, key: PositionKey, seen: int | None) -> bool:
        """Whether a position read learned after `seen` (None: ever) set `key`: a fill the venue reported since
        `seen` may be in that read already, or may not (the read does not say when the venue took it)."""
        read = max(self._read_at.get(key, -1), self._read_at.get((key.venue, key.account), -1))
        return read >= 0 and (seen is None or read > seen)

    def _settle_held(self, report: PositionsReport, asked: int, reported: set[PositionKey],
                     skipped: set[PositionKey]) -> None:
        """Reservations held for fills of unknown fate wait for a position read no longer once one asked late enough
        set every position they hold on: what the order filled is in it. A hold that waits for nothing else
        (`_unlisted`, `_placed_unlisted`) ends. Not on a position the read did not name (a push lists what changed: one
        side of a hedged symbol) or left as it was (`skipped`: a fill moved it after the read was asked, so the
        store's position may lack what the held order filled); an account-wide read sets every position of the
        account but those."""
        venue, account, whole = report.venue, report.account, report.symbol is None

        def covers(leg: PendingEntry) -> bool:
            key = leg.position
            if whole:
                return key.venue == venue and key.account == account and key not in skipped
            return key in reported

        # not while a listing is awaited: the order may rest at the read and fill before the listing, so only a read
        # asked after the listing that ended that wait holds its fill; the latest such read is kept for
        # when the listings end (`_settle_unlisted`)
        for reservation_id, settles_from in self._held.items():
            if settles_from <= asked and (reservation_id in self._unlisted or reservation_id in self._placed_unlisted) \
                    and all(covers(leg) for leg in self._legs.get(reservation_id, {}).values()):
                self._read_while_unlisted[reservation_id] = max(asked, self._read_while_unlisted.get(reservation_id, 0))
        self._settle(self._held, (self._unlisted, self._placed_unlisted), asked, covers,
                     after=(self._unlisted, self._placed_unlisted))

    def _settle_unlisted(self, snapshot: OpenOrdersSnapshot, asked: int) -> None:
        """Held orders whose answer was lost wait for an open-orders listing of their symbol and kind no longer once
        one asked late enough was learned: if the order rests, the listing taught it as an open order, which counts
        from now on (a listing of another kind, such as Binance's algo orders for a regular order, does not show
        it). A conditional order's hold waits for a listing of the book it places its order in as well
        (`_placed_unlisted`), asked after the listing of its own book that ended its wait there (it may
        have triggered between the two). A hold that waits for nothing else (`_held`, a position read) ends; one
        that does waits for a read asked after this listing (the order may have rested at an earlier
        read and filled since). After means in a later millisecond: two requests stamped alike (a bot sending both
        at once) may reach the venue in either order."""
        venue, account, symbol, kind = snapshot.venue, snapshot.account, snapshot.symbol, snapshot.kind

        def scoped(leg: PendingEntry) -> bool:
            key = leg.position
            return key.venue == venue and key.account == account and symbol in (None, key.symbol)

        listed = self._settle(self._unlisted, (self._held, self._placed_unlisted), asked,
                              lambda leg: scoped(leg) and leg.kind == kind)
        for reservation_id in listed:
            for later in (self._placed_unlisted, self._held):
                if reservation_id in later:
                    later[reservation_id] = max(later[reservation_id], asked + 1)
        placed = self._settle(self._placed_unlisted, (self._held, self._unlisted), asked,
                              lambda leg: leg.triggers_into is None or (scoped(leg) and leg.triggers_into == kind),
                              after=(self._unlisted,)) if self._placed_unlisted else []
        for reservation_id in placed:
            if reservation_id in self._held:
                self._held[reservation_id] = max(self._held[reservation_id], asked + 1)
        for reservation_id in (*listed, *placed):
            # a read that came while the listings were awaited holds the fill if asked after them
            held_from = self._held.get(reservation_id)
            if held_from is not None and reservation_id not in self._unlisted \
                    and reservation_id not in self._placed_unlisted \
                    and self._read_while_unlisted.get(reservation_id, -1) >= held_from:
                self._drop_legs(reservation_id)

    def _settle(self, waiting: dict[str, int], others: tuple[dict[str, int], ...], asked: int,
                covers: Callable[[PendingEntry], bool], *, after: tuple[dict[str, int], ...] = ()) -> list[str]:
        """Holds in `waiting` asked for late enough whose every leg `covers` holds wait no longer (not yet those
        `after` hold: they wait for those first); one that waits for nothing the `others` hold either ends. Returns
        the holds that waited no longer."""
        settled = []
        for reservation_id, settles_from in list(waiting.items()):
            if settles_from > asked or any(reservation_id in first for first in after):
                continue
            if all(covers(leg) for leg in self._legs.get(reservation_id, {}).values()):
                del waiting[reservation_id]
                settled.append(reservation_id)
                if not any(reservation_id in other for other in others):
                    self._drop_legs(reservation_id)
        return settled

    def _hold_vanished(self, ident: OrderIdent, order: _Order, now: int, settles_from: int, *,
                       held: bool = True, listing: str | None = None, given_back: _Charge | None = None) -> None:
        """An order gone from the book (absent from an open-orders listing, ended by a cancel-all, or cancelled with an
        answer that names it only) may have filled unseen first: what it had open is held as an order of unknown fate
        is, until a position read asked from `settles_from` shows what it did (`_settle_held`), or the order's own
        final word says how much it filled (`_settle_vanished`), so its fill is neither lost nor counted twice. It
        holds no open-order slot. Not `held` (an order that cannot have filled: `ClosedOrder.unfilled`): nothing is
        held, only what it had filled is kept for its final word, as long as a hold would be. `listing`: the kind
        of an open-orders listing that must be learned too, asked from `settles_from` (what the venue placed for a
        triggered conditional order rests there, if it rests). `given_back`: its daily-notional charge, whose open
        part `_finalise` gave back: what its final word says it filled is charged again."""
        if order.remaining > 0:
            reservation_id = f"vanished:{_scoped(ident)}"
            self._hold(reservation_id, order.position, order.side, order.reducing, order.remaining if held else ZERO,
                       now, settles_from, kind=listing or "order")
            self._vanished[reservation_id] = _Vanished(order.executed, order.seen, now, given_back)
            if listing is not None:
                self._unlisted[reservation_id] = settles_from

    def _vanished_hold(self, ident: OrderIdent) -> tuple[str, PendingEntry, _Vanished] | None:
        """A vanished order's hold: its reservation id, its leg, and what the store knew (`_vanished`)."""
        reservation_id = f"vanished:{_scoped(ident)}"
        known = self._vanished.get(reservation_id)
        legs = self._legs.get(reservation_id)
        if known is None or not legs:
            return None
        (leg,) = legs.values()
        return reservation_id, leg, known

    def _revive(self, ident: OrderIdent, kind: str, asked: int, now: int) -> bool:
        """An order taken for gone (it vanished from a listing, which may have lagged) that an answer asked after it
        vanished says is open: it is open again, with what the store knew it had filled, and its hold ends (the
        answer then applies to it as to any open order). An older answer replayed says nothing new: False."""
        held = self._vanished_hold(ident)
        if held is None or asked <= held[2].at:
            return False
        reservation_id, leg, known = held
        self._drop_legs(reservation_id)
        self._done.pop(final_key(ident), None)
        self._open[ident] = _Order(leg.position, leg.side, ZERO, known.executed, leg.reducing, kind, learned=now,
                                   seen=known.seen)
        self._open_of[(ident[0], ident[1])].add(ident)
        self._count_open(leg.position, 1)
        return True

    def _settle_vanished(self, ident: OrderIdent, executed: Decimal, now: int, venue_ms: int | None) -> None:
        """A vanished order's final word (a stream's cancel event, an order query): its hold ends, and what it filled
        past what the store knew counts as any fill does (`_count_fill`)."""
        held = self._vanished_hold(ident)
        if held is None:
            return
        reservation_id, leg, known = held
        self._drop_legs(reservation_id)
        fill = executed - known.executed
        if fill > 0:
            self._count_fill(ident, leg.position, leg.side, leg.reducing, known.seen, fill, executed, now, venue_ms)
            if known.given_back is not None:  # its open part was given back when the cancel came: the fill is not
                charge = known.given_back
                self._spend(charge.budgets, charge.day, now, fill, charge.price)

    def _count_fill(self, ident: OrderIdent, key: PositionKey, side: Side, reducing: bool, seen: int | None,
                    fill: Decimal, executed: Decimal, now: int, venue_ms: int | None, *,
                    timeless: bool = False) -> None:
        """A fill past what the store knew of an order (as of `seen`) goes into the position, unless a position read
        learned since may already hold it. Then it is held in the fill's direction, as a pending order is, until a
        read asked after now shows the position: moved into the position it could count twice (a sell counted twice
        leaves a long position short in the store, and a buy then passes as reducing it), left out it could count
        never. That hold does not lapse: the fill happened, and only a read can say whether the position holds it.
        So is a `timeless` fill (an order the store first hears of when it has ended, such as an old order a bot
        queries after a restart): whether the position the store holds, a read's or the sum of the fills it saw
        since it started, holds it cannot be told, and moved in it would undo a position it never counted. Held or
        moved, a fill the venue dates (`venue_ms`) makes older pushes of the position stale (`_apply_positions`)."""
        if venue_ms is not None and venue_ms > self._filled_venue_at.get(key, -1):
            self._filled_venue_at[key] = venue_ms
        if timeless or self._read_since(key, seen):
            self._hold(f"fill:{_scoped(ident)}:{executed}", key, side, reducing, fill, now, now, lapses=False)
        else:
            self._move_position(key, side.sign * fill)

    def _hold(self, reservation_id: str, position: PositionKey, side: Side, reducing: bool, quantity: Decimal,
              now: int, settles_from: int, *, lapses: bool = True, kind: str = "order") -> None:
        entry = PendingEntry(f"{reservation_id}:0", position, side, quantity, reducing=reducing, kind=kind)
        self._legs[reservation_id] = {entry.leg_id: entry}
        self._add_pending((entry.position, entry.side), entry.reducing, entry.quantity)
        if lapses:
            heapq.heappush(self._lapses, (now + UNANSWERED_HOLD_MS, reservation_id))
        self._held[reservation_id] = settles_from

    def _filled_since(self, key: PositionKey, asked: int | None, made: int | None = None) -> bool:
        """Whether a fill moved `key` since a read was asked (`asked`), or since the venue made a push (`made`, by
        the venue's clock): the report may lack it."""
        if made is not None and self._filled_venue_at.get(key, -1) > made:
            return True
        filled = self._filled_at.get(key)
        return asked is not None and filled is not None and filled >= asked

    def _apply_open_orders(self, snapshot: OpenOrdersSnapshot, now: int) -> None:
        listed = {o.order_id for o in snapshot.orders}
        # an order learned since the listing was asked may be missing from it: it is not taken for gone
        asked = snapshot.asked_ms
        for ident in list(self._open_of.get((snapshot.venue, snapshot.account), ())):
            order = self._open[ident]
            if ident[2] in listed or order.kind != snapshot.kind or (asked is not None and order.learned >= asked):
                continue
            if snapshot.symbol is None or order.position.symbol == snapshot.symbol:
                # gone from the book, filled or cancelled: the listing does not say which
                self._finalise(ident, now, unfilled_known=False)
                # a cancel-all's answer came once the venue had ended its orders: a read asked from then holds
                # what they filled; a listing may not show an order placed just before it (10 s, as a lost answer).
                # A conditional order may have triggered: the order it placed may rest in another book, which a
                # listing of that book must show too
                self._hold_vanished(ident, order, now, now if snapshot.cancelled else now + UNANSWERED_SETTLE_MS,
                                    listing=snapshot.triggers_into)
        for update in snapshot.orders:
            self._apply_order(update, now, snapshot.asked_ms)
        if asked is not None and (self._unlisted or self._placed_unlisted):
            self._settle_unlisted(snapshot, asked)
