"""Process-local memories an adapter keeps of what passed through it, for facts its requests leave out.

The store's state is not visible to an adapter (venues know nothing of state), yet some requests need a fact
only an earlier response gave: a contract order's size in base units needs a price, and an amend that names
only its order needs that order's side. Both memories are bounded and thread-safe (responses are learned while
requests are parsed). Each sidecar remembers what it saw; nothing here is shared across a fleet.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from decimal import Decimal

from riskwall.model import OrderUpdate, PriceUpdate


class PriceMemo:
    """Prices seen in responses, for turning inverse contracts into base units (the store's prices are not
    visible to an adapter). Thread-safe and bounded; mark prices win over last prices."""

    MAX_SYMBOLS = 5_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prices: dict[str, tuple[Decimal, str]] = {}

    def learn(self, updates: tuple[PriceUpdate, ...]) -> None:
        with self._lock:
            for update in updates:
                current = self._prices.get(update.symbol)
                if update.kind == "mark" or current is None or current[1] != "mark":
                    if current is None and len(self._prices) >= self.MAX_SYMBOLS:
                        continue
                    self._prices[update.symbol] = (update.price, update.kind)

    def price(self, symbol: str) -> Decimal | None:
        with self._lock:
            seen = self._prices.get(symbol)
            return seen[0] if seen else None

    def clear(self) -> None:
        with self._lock:
            self._prices.clear()



class OrderMemo:
    """Orders seen in this process (acknowledged through it, or listed by the venue), by id and by orderLinkId.

    Bybit's amend names an order but not its side, and the engine can only count an amend's position exposure
    when it knows the side. This memo supplies the side, position side and reduce-only flag of an order it has
    seen (and the fill last reported for it, so an amend's answer can update the order's size in the store).
    Thread-safe and bounded: the oldest entries go first."""

    MAX_ENTRIES = 100_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str, str], OrderUpdate] = OrderedDict()

    def remember(self, update: OrderUpdate, link_id: str | None = None) -> None:
        with self._lock:
            keys = [("id", update.account, update.order_id)]
            if link_id:
                keys.append(("link", update.account, link_id))
            for key in keys:
                self._entries[key] = update
                self._entries.move_to_end(key)
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)

    def find(self, account: str | None, order_id: str | None, link_id: str | None) -> OrderUpdate | None:
        """By order id first, as Bybit does when both are given."""
        if account is None:
            return None
        with self._lock:
            if order_id:
                return self._entries.get(("id", account, order_id))
            return self._entries.get(("link", account, link_id)) if link_id else None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
