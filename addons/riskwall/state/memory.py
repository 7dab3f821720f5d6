"""In-memory state for a single sidecar (`memory://`): the embedded default.

Every method runs to completion without awaiting, so on mitmproxy's one event loop each call is atomic,
which is what makes `reserve` exact. The clock is injected so tests never sleep.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext

from riskwall.model import (
    OpenOrdersSnapshot,
    OrderUpdate,
    PositionSide,
    ResponseFacts,
    Side,
    TradingState,
    Venue,
)
from riskwall.state.base import (
    CheckResult,
    PendingEntry,
    PositionKey,
    RateCheck,
    Reservation,
    ReserveOutcome,
    StateScope,
    StateStore,
    StateView,
    TradingStateRecord,
    ViewQuery,
)

type Clock = Callable[[], int]

# final orders are remembered this long so a response seen twice is not counted twice
FINAL_ORDER_MEMORY_MS = 24 * 3_600_000
FORGET_EVERY_MS = 60_000


# Decimal's default 28 digits would round 1e15 + 1e-18 to 1e15; 60 keep every sum a venue can produce exact
EXACT_DIGITS = 60


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Order:
    """An order the venue acknowledged: how much is still pending and how much fill was already applied."""

    position: PositionKey
    side: Side
    remaining: Decimal
    executed: Decimal
    final: bool
    counts: bool  # False for reduce-only orders: they never add exposure
    touched_ms: int
    kind: str = "order"


class MemoryStore(StateStore):
    def __init__(self, clock: Clock = wall_clock_ms, url: str = "memory://") -> None:
        self.url = url
        self._clock = clock
        self._rate: dict[tuple[str, int], deque[int]] = {}
        self._positions: dict[PositionKey, Decimal] = {}
        self._pending: dict[str, dict[str, PendingEntry]] = {}  # reservation id -> leg id -> entry
        self._orders: dict[tuple[Venue, str, str], _Order] = {}  # (venue, account, order id)
        self._prices: dict[tuple[Venue, str], tuple[Decimal, str]] = {}
        self._states: dict[StateScope, TradingStateRecord] = {}
        self._expiry: dict[str, int] = {}  # reservation id -> when an unanswered reservation lapses
        # indexes, so a check costs the account's open orders and not every order of the day
        self._live: dict[tuple[Venue, str], set[tuple[Venue, str, str]]] = {}  # non-final orders per account
        self._reservations_of: dict[tuple[Venue, str], set[str]] = {}  # reservation ids per account
        self._forgotten_at = 0

    async def view(self, query: ViewQuery) -> StateView:
        positions: dict[PositionKey, Decimal] = {}
        if query.account is not None:
            for symbol in query.symbols:
                for side in PositionSide:
                    key = PositionKey(query.venue, query.account, symbol, side)
                    if key in self._positions:
                        positions[key] = self._positions[key]
        prices = {(query.venue, s): self._prices[(query.venue, s)][0] for s in query.symbols
                  if (query.venue, s) in self._prices}
        orders: dict[str, tuple[str, Side, PositionSide]] = {}
        if query.account is not None:
            for order_id in query.order_ids:
                order = self._orders.get((query.venue, query.account, order_id))
                if order is not None and not order.final:
                    orders[order_id] = (order.position.symbol, order.side, order.position.position_side)
        return StateView(tuple(self._states.values()), positions, prices, orders)

    async def reserve(self, reservation: Reservation) -> ReserveOutcome:
        with localcontext(prec=EXACT_DIGITS):
            return self._reserve(reservation)

    def _reserve(self, reservation: Reservation) -> ReserveOutcome:
        now = self._clock()
        self._lapse(now)
        results: list[CheckResult] = []
        for rate in reservation.rate:
            count = len(self._window(rate, now)) + rate.cost
            results.append(CheckResult(rate, Decimal(count), count <= rate.limit))
        for check in reservation.exposure:
            worst = self._worst_case(check.position, check.side, check.replaces_order) + check.quantity
            results.append(CheckResult(check, worst, worst <= check.limit))
        committed = all(r.passed for r in results if r.check.enforced)
        if committed:
            for rate in reservation.rate:
                self._window(rate, now).extend([now] * rate.cost)
            if reservation.pending:
                self._pending[reservation.id] = {p.leg_id: p for p in reservation.pending}
                for entry in reservation.pending:
                    account = (entry.position.venue, entry.position.account)
                    self._reservations_of.setdefault(account, set()).add(reservation.id)
        return ReserveOutcome(committed, tuple(results))

    async def release(self, reservation_id: str, after_ms: int = 0) -> None:
        if after_ms <= 0:
            self._pending.pop(reservation_id, None)
            self._expiry.pop(reservation_id, None)
        elif reservation_id in self._pending:
            self._expiry[reservation_id] = self._clock() + after_ms

    async def learn(self, facts: ResponseFacts) -> None:
        with localcontext(prec=EXACT_DIGITS):
            self._learn(facts)

    def _learn(self, facts: ResponseFacts) -> None:
        now = self._clock()
        for price in facts.prices:
            current = self._prices.get((price.venue, price.symbol))
            # a mark price is what positions are valued at; a last price only fills in until one is seen
            if price.kind == "mark" or current is None or current[1] != "mark":
                self._prices[(price.venue, price.symbol)] = (price.price, price.kind)
        for update in facts.orders:
            self._apply_order(update, now)
        for report in facts.positions:
            self._apply_positions(report.venue, report.account, report.symbol, report.positions)
        for snapshot in facts.open_orders:
            self._apply_open_orders(snapshot, now)
        for closed in facts.closed:
            ident = (closed.venue, closed.account, closed.order_id)
            gone = self._orders.get(ident)
            if gone is not None and not gone.final:
                self._finalise(ident, gone, now)
        self._forget_old_orders(now)

    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None:
        if state is TradingState.ACTIVE:
            self._states.pop(scope, None)
        else:
            self._states[scope] = TradingStateRecord(scope, state, reason, actor, self._clock())

    async def trading_states(self) -> tuple[TradingStateRecord, ...]:
        return tuple(self._states.values())

    async def exposure(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        self._lapse(self._clock())
        out: dict[str, dict[str, str]] = {}
        keys = {k for k in self._positions if k.venue == venue and k.account == account}
        keys |= {p.position for entries in self._pending.values() for p in entries.values()}
        keys |= {o.position for o in self._orders.values() if not o.final}
        for key in sorted(k for k in keys if k.venue == venue and k.account == account):
            out[f"{key.symbol}|{key.position_side}"] = {
                "position": str(self._positions.get(key, Decimal(0))),
                "pending_buy": str(self._pending_in(key, Side.BUY, None)),
                "pending_sell": str(self._pending_in(key, Side.SELL, None)),
            }
        return out

    def _lapse(self, now: int) -> None:
        for reservation_id in [r for r, at in self._expiry.items() if at <= now]:
            self._pending.pop(reservation_id, None)
            del self._expiry[reservation_id]

    def _window(self, rate: RateCheck, now: int) -> deque[int]:
        window = self._rate.setdefault((rate.key, rate.window_ms), deque())
        while window and window[0] <= now - rate.window_ms:
            window.popleft()
        return window

    def _worst_case(self, key: PositionKey, side: Side, replaces_order: str | None) -> Decimal:
        """How far the position could go in `side`'s direction if every pending order filled."""
        # a position held the other way counts negative: selling down a long is not a new short
        directional = side.sign * self._positions.get(key, Decimal(0))
        return directional + self._pending_in(key, side, replaces_order)

    def _pending_in(self, key: PositionKey, side: Side, excluding_order: str | None) -> Decimal:
        total = Decimal(0)
        account = (key.venue, key.account)
        for reservation_id in list(self._reservations_of.get(account, ())):
            entries = self._pending.get(reservation_id)
            if entries is None:  # released: drop it from the index on the way
                self._reservations_of[account].discard(reservation_id)
                continue
            for entry in entries.values():
                if entry.position == key and entry.side is side:
                    total += entry.quantity
        for ident in self._live.get(account, ()):
            order = self._orders[ident]
            if order.position == key and order.side is side and order.counts and ident[2] != excluding_order:
                total += order.remaining
        return total

    def _finalise(self, ident: tuple[Venue, str, str], order: _Order, now: int) -> None:
        order.final, order.remaining, order.touched_ms = True, Decimal(0), now
        self._live.get((ident[0], ident[1]), set()).discard(ident)

    def _apply_order(self, update: OrderUpdate, now: int) -> None:
        ident = (update.venue, update.account, update.order_id)
        order = self._orders.get(ident)
        if update.reservation_id:
            # the venue now vouches for this order: its exposure moves from the reservation to the order
            reservation_id = update.reservation_id.rsplit(":", 1)[0]
            self._pending.get(reservation_id, {}).pop(update.reservation_id, None)
        key = PositionKey(update.venue, update.account, update.symbol, update.position_side)
        if order is None:
            order = _Order(key, update.side, Decimal(0), Decimal(0), False, not update.reduce_only, now, update.kind)
            self._orders[ident] = order
            self._live.setdefault((update.venue, update.account), set()).add(ident)
        if order.final or update.executed < order.executed:
            return  # final already, or an older answer replayed after a newer one
        fill = update.executed - order.executed
        if fill > 0:
            self._positions[key] = self._positions.get(key, Decimal(0)) + update.side.sign * fill
            order.executed = update.executed
        order.remaining = max(update.original - update.executed, Decimal(0))
        order.touched_ms = now
        if update.final:
            self._finalise(ident, order, now)

    def _apply_positions(
        self, venue: Venue, account: str, symbol: str | None, positions: tuple[tuple[str, PositionSide, Decimal], ...]
    ) -> None:
        if symbol is None:  # an account-wide report: whatever it does not list is flat
            for key in [k for k in self._positions if k.venue == venue and k.account == account]:
                self._positions[key] = Decimal(0)
        for sym, side, quantity in positions:
            self._positions[PositionKey(venue, account, sym, side)] = quantity

    def _apply_open_orders(self, snapshot: OpenOrdersSnapshot, now: int) -> None:
        listed = {o.order_id for o in snapshot.orders}
        for ident in list(self._live.get((snapshot.venue, snapshot.account), ())):
            order = self._orders[ident]
            if ident[2] in listed or order.kind != snapshot.kind:
                continue
            if snapshot.symbol is None or order.position.symbol == snapshot.symbol:
                # gone from the book; its fills, if any, arrive with the next position report
                self._finalise(ident, order, now)
        for update in snapshot.orders:
            self._apply_order(update, now)

    def _forget_old_orders(self, now: int) -> None:
        if now - self._forgotten_at < FORGET_EVERY_MS:  # a sweep a minute, not one per response
            return
        self._forgotten_at = now
        cutoff = now - FINAL_ORDER_MEMORY_MS
        for ident in [i for i, o in self._orders.items() if o.final and o.touched_ms < cutoff]:
            del self._orders[ident]
