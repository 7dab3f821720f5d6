"""Symbol catalog: a venue's native instrument id ↔ ccxt's unified symbol, and contract sizes.

Policies may name an instrument natively (`BTCUSDT`, `BTC-USDT-SWAP`) or in ccxt's unified form
(`BTC/USDT:USDT`, one name for the same instrument on every venue). Venues that count orders in contracts
(OKX, Binance COIN-M, BitMEX) need the contract size to turn a size into base units.

Facts come from the exchange-info responses that pass through the sidecar (learned into the process-wide
`CATALOG`), with a small bundled fallback for the majors. An unknown contract size is never guessed: the
adapter reports a parse error and the order is blocked.

A venue's testnet or demo book may list its instruments otherwise (another contract value, another price band):
facts learned there are kept apart and read only for requests to that book (`facts_of`), which fall back to the
production facts; production requests never read them.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType

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


# the environment ("" production, else "testnet", "demo") of the request being read or decided: whose facts count
_ENVIRONMENT: ContextVar[str] = ContextVar("riskwall_instrument_environment", default="")


class facts_of:
    """`with facts_of(environment):` instrument lookups inside read that environment's facts (the production ones
    where it learned none). Nothing to do, and nearly free, for production inside production."""

    __slots__ = ("_environment", "_token")

    def __init__(self, environment: str) -> None:
        self._environment = environment
        self._token: Token[str] | None = None

    def __enter__(self) -> None:
        if self._environment or _ENVIRONMENT.get():
            self._token = _ENVIRONMENT.set(self._environment)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._token is not None:
            _ENVIRONMENT.reset(self._token)
            self._token = None


class InstrumentCatalog:
    """Learned in answer hooks and read while requests are parsed, all on the proxy's one event loop, so without a
    lock (each dictionary step is atomic in any case; the facts are reference data, one instrument at a time)."""

    def __init__(self, bundled: tuple[Instrument, ...] = ()) -> None:
        self._by_native: dict[tuple[Venue, str], Instrument] = {}
        self._by_code: dict[tuple[Venue, int], Instrument] = {}
        # what testnet and demo books listed, by environment: read only for requests to that book
        self._elsewhere: dict[tuple[str, Venue, str], Instrument] = {}
        self._codes_elsewhere: dict[tuple[str, Venue, int], Instrument] = {}
        self._bundled = {(i.venue, i.native): i for i in bundled}

    def learn(self, instruments: tuple[Instrument, ...], environment: str = "") -> None:
        for instrument in instruments:
            if environment:
                self._elsewhere[(environment, instrument.venue, instrument.native)] = instrument
                if instrument.code is not None:
                    self._codes_elsewhere[(environment, instrument.venue, instrument.code)] = instrument
                continue
            self._by_native[(instrument.venue, instrument.native)] = instrument
            if instrument.code is not None:
                self._by_code[(instrument.venue, instrument.code)] = instrument

    def by_code(self, venue: Venue, code: int) -> Instrument | None:
        """The instrument a venue's integer code names, as learned from its instrument listing (never guessed)."""
        environment = _ENVIRONMENT.get()
        if environment:
            found = self._codes_elsewhere.get((environment, venue, code))
            if found is not None:
                return found
        return self._by_code.get((venue, code))

    def lookup(self, venue: Venue, native: str) -> Instrument | None:
        environment = _ENVIRONMENT.get()
        if environment:
            found = self._elsewhere.get((environment, venue, native))
            if found is not None:
                return found
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
        self._elsewhere.clear()
        self._codes_elsewhere.clear()


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
