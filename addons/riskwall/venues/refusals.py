"""Which legs of a forwarded new order or amend the venue refused, read from its answer (for reject storms).

An answer refuses an order when the venue says so, not when the order's fate is unknown:

- an HTTP 4xx status (408 aside) refuses every leg of the request, on every venue: Binance and Binance COIN-M,
  Bitget and BitMEX answer their order errors that way, and so do all venues for authentication and rate
  limits;
- an HTTP 200 answer refuses in its body where the venue answers errors with 200: Bybit's `retCode` other
  than 0 (every leg) and a batch's failed entries in `retExtInfo.list`; OKX's entries whose `sCode` is not "0",
  or every leg when a refused request lists none; BingX's and Bitget's `code` other than 0 / "00000" (every
  leg); a Binance batch's error objects in place of legs;
- no answer, 408, 5xx and the codes venues use for "system error, try again" (Bybit 10000 and 10016, OKX 50001,
  50004, 50013, 50026) refuse nothing: the order may exist.

WebSocket answers arrive here as the REST answer they stand for (`VenueFrame.status`, `rest_body`), so an
order refused on a socket counts like one refused over REST. Only read when the policy has a reject-storm
rule and the request adds orders (cancels and settings never count).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from riskwall.model import ParsedRequest, Venue
from riskwall.venues.base import UNREADABLE, response_json

type Reader = Callable[[Any, int], tuple[int, ...]]

# the codes a venue answers when it could not tell whether it took the order
BYBIT_UNKNOWN_FATE = frozenset({"10000", "10016"})
OKX_UNKNOWN_FATE = frozenset({"50001", "50004", "50013", "50026"})


def refused_legs(venue: Venue, parsed: ParsedRequest, status: int | None, body: bytes) -> tuple[int, ...]:
    """The leg numbers (0 for a lone order) of `parsed` the venue refused in this answer; () for requests that add
    no orders, and for answers that refuse nothing or leave the order's fate unknown."""
    if status is None or not parsed.action.adds_orders:
        return ()
    legs = max(len(parsed.intents), 1)
    if 400 <= status < 500 and status != 408:
        return tuple(range(legs))
    if status != 200 or not body:
        return ()
    reader = _READERS.get(venue)
    if reader is None:
        return ()
    data = response_json(body)
    if data is UNREADABLE:
        return ()
    return tuple(leg for leg in reader(data, legs) if 0 <= leg < legs)


def _binance(data: Any, legs: int) -> tuple[int, ...]:
    # a batch answers 200 with Binance's error object (`{"code": -2019, "msg": "Margin is insufficient."}`) in
    # place of each leg it refused; a lone order's 200 is an acceptance
    if not isinstance(data, list):
        return ()
    return tuple(leg for leg, item in enumerate(data)
                 if isinstance(item, dict) and "code" in item and "orderId" not in item and "algoId" not in item
                 and str(item.get("code")) not in ("0", "200"))


def _bybit(data: Any, legs: int) -> tuple[int, ...]:
    if not isinstance(data, dict) or "retCode" not in data:
        return ()
    code = str(data.get("retCode"))
    if code != "0":
        return () if code in BYBIT_UNKNOWN_FATE else tuple(range(legs))
    ext = data.get("retExtInfo")
    entries = ext.get("list") if isinstance(ext, dict) else None
    if not isinstance(entries, list):
        return ()
    # a batch taken as a whole may still have refused legs, each entry in request order
    return tuple(leg for leg, entry in enumerate(entries)
                 if isinstance(entry, dict) and "code" in entry and str(entry.get("code")) != "0"
                 and str(entry.get("code")) not in BYBIT_UNKNOWN_FATE)


def _okx(data: Any, legs: int) -> tuple[int, ...]:
    if not isinstance(data, dict) or "code" not in data:
        return ()
    code = str(data.get("code"))
    if code == "0":
        return ()
    entries = data.get("data")
    if isinstance(entries, list) and entries:
        # "1" every entry failed, "2" some did: each entry, in request order, has its own sCode
        return tuple(leg for leg, entry in enumerate(entries)
                     if isinstance(entry, dict) and "sCode" in entry and str(entry.get("sCode")) != "0"
                     and str(entry.get("sCode")) not in OKX_UNKNOWN_FATE)
    return () if code in OKX_UNKNOWN_FATE else tuple(range(legs))


def _code_envelope(success: str) -> Reader:
    """Venues that answer an error with HTTP 200 and a `code` (BingX 0, Bitget "00000" for success)."""

    def read(data: Any, legs: int) -> tuple[int, ...]:
        if not isinstance(data, dict) or "code" not in data or str(data.get("code")) == success:
            return ()
        return tuple(range(legs))

    return read


_READERS: dict[Venue, Reader] = {
    Venue.BINANCEUSDM: _binance,
    Venue.BINANCECOINM: _binance,
    Venue.BYBIT: _bybit,
    Venue.OKX: _okx,
    Venue.BINGX: _code_envelope("0"),
    Venue.BITGET: _code_envelope("00000"),
}
