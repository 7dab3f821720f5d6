"""Symbol catalog: a venue's native instrument id ↔ ccxt's unified symbol, and contract sizes.

Policies may name an instrument natively (`BTCUSDT`, `BTC-USDT-SWAP`) or in ccxt's unified form
(`BTC/USDT:USDT`, one name for the same instrument on every venue). Venues that count orders in contracts
(OKX, Binance COIN-M, BitMEX) need the contract size to turn a size into base units.

Facts come from the exchange-info responses that pass through the sidecar (learned into the process-wide
`CATALOG`), with a small bundled fallback for the majors. An unknown contract size is never guessed: the
adapter reports a parse error and the order is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from riskwall.model import Venue

# quote currencies, longest first, for splitting a concatenated id like ETHBTC or BTCUSDT
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "BTC", "ETH", "EUR")


@dataclass(frozen=True, slots=True)
class Instrument:
    venue: Venue
    native: str
    unified: str
    # base units per contract, for venues whose order sizes are in contracts; None where sizes are base units
    contract_size: Decimal | None = None
    # True when one contract is worth `contract_size` units of the quote (inverse contracts), not of the base
    quote_sized: bool = False
    # the venue's integer code for the instrument, where its WebSocket orders name instruments by code (OKX)
    code: int | None = None
    # how far above the mark price the venue takes a buy's limit price, as a multiple (Binance's PERCENT_PRICE
    # `multiplierUp`): a buy limit L can then fill no lower than about L / buy_cap, where no mark is known
    buy_cap: Decimal | None = None


class InstrumentCatalog:
    """Learned in answer hooks and read while requests are parsed, all on the proxy's one event loop, so without a
    lock (each dictionary step is atomic in any case; the facts are reference data, one instrument at a time)."""

    def __init__(self, bundled: tuple[Instrument, ...] = ()) -> None:
        self._by_native: dict[tuple[Venue, str], Instrument] = {}
        self._by_code: dict[tuple[Venue, int], Instrument] = {}
        self._bundled = {(i.venue, i.native): i for i in bundled}

    def learn(self, instruments: tuple[Instrument, ...]) -> None:
        for instrument in instruments:
            self._by_native[(instrument.venue, instrument.native)] = instrument
            if instrument.code is not None:
                self._by_code[(instrument.venue, instrument.code)] = instrument

    def by_code(self, venue: Venue, code: int) -> Instrument | None:
        """The instrument a venue's integer code names, as learned from its instrument listing (never guessed)."""
        return self._by_code.get((venue, code))

    def lookup(self, venue: Venue, native: str) -> Instrument | None:
        key = (venue, native)
        return self._by_native.get(key) or self._bundled.get(key)

    def unified(self, venue: Venue, native: str, settle_hint: str | None = None) -> str | None:
        """The unified symbol: learned, bundled, or derived from a concatenated linear id (BTCUSDT)."""
        known = self.lookup(venue, native)
        if known is not None:
            return known.unified
        return derive_linear_unified(native, settle_hint)

    def clear(self) -> None:
        self._by_native.clear()
        self._by_code.clear()


def derive_linear_unified(native: str, settle: str | None = None) -> str | None:
    """`BTCUSDT` → `BTC/USDT:USDT` for linear perpetuals whose id is base + quote (Binance, Bybit, Bitget)."""
    symbol = native.upper()
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            base = symbol[: -len(quote)]
            if base.isalnum():
                return f"{base}/{quote}:{settle or quote}"
    return None


CATALOG = InstrumentCatalog()
