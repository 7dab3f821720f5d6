"""Which legs of a forwarded new order or amend the venue refused, read from its answer (for reject storms).

An answer refuses an order when the venue says so, not when the order's fate is unknown:

- an HTTP 4xx status (408 aside) refuses every leg of the request, on every venue: Binance and Binance COIN-M,
  Bitget and BitMEX answer their order errors that way, and so do all venues for authentication and rate
  limits;
- an HTTP 200 answer refuses in its body where the venue answers errors with 200: Bybit's `retCode` other
  than 0 (every leg) and a batch's failed entries in `retExtInfo.list`; OKX's entries whose `sCode` is not "0",
  or every leg when a refused request lists none; BingX's and Bitget's `code` other than 0 / "00000" (every
  leg); a Binance batch's error objects in place of legs;
- no answer, 408, 5xx and the codes venues use for "system error, try again" or "timed out, execution status
  unknown" (Binance -1006 and -1007, Bybit 5004, 10000 and 10016, OKX 50001, 50004, 50013, 50026 and 51149),
  whatever the HTTP status (OKX answers 50004 with 400), refuse nothing: the order may exist. `fate_unknown` says
  so for an answer (and for a 2xx that is not JSON at all), and the store holds the order's reservation then
  (`decider.release_delay_ms`) instead of dropping it.

A refusal of the request's authentication (a bad signature or API key, a stale timestamp, HTTP 401) says nothing
of the key holder's trading: anyone who knows a key can have it answered so, and counted it would let them halt
that account with a storm (`authentication_refused`); it is not counted.

WebSocket answers arrive here as the REST answer they stand for (`VenueFrame.status`, `rest_body`), so an
order refused on a socket counts like one refused over REST. Only read when the policy has a reject-storm
rule and the request adds orders (cancels and settings never count).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from riskwall.model import ParsedRequest, Venue
from riskwall.venues.base import UNREADABLE, response_json

# the codes a venue answers when it could not tell whether it took the order
BINANCE_UNKNOWN_FATE = frozenset({"-1006", "-1007"})  # "execution status unknown"
BYBIT_UNKNOWN_FATE = frozenset({"5004", "10000", "10016"})
OKX_UNKNOWN_FATE = frozenset({"50001", "50004", "50013", "50026", "51149"})


# the codes a venue answers a request whose signature, key or timestamp it did not accept (venue docs; docs/venues.md)
_BINANCE_AUTH = frozenset({"-1021", "-1022", "-2014", "-2015"})
_AUTHENTICATION_CODES: dict[Venue, frozenset[str]] = {
    Venue.BINANCEUSDM: _BINANCE_AUTH,
    Venue.BINANCECOINM: _BINANCE_AUTH,
    Venue.BYBIT: frozenset({"10002", "10003", "10004", "10005", "10010"}),
    Venue.OKX: frozenset({"50102", "50103", "50104", "50105", "50111", "50112", "50113", "50114"}),
    Venue.BITGET: frozenset({"40006", "40008", "40009", "40012", "40037"}),
    Venue.BINGX: frozenset({"100001", "100413"}),
}


def authentication_refused(venue: Venue, status: int | None, body: bytes) -> bool:
    """Whether the venue refused the request's authentication rather than its order: HTTP 401, or the venue's code
    for a bad signature, API key, passphrase or timestamp."""
    if status == 401:
        return True
    codes = _AUTHENTICATION_CODES.get(venue)
    if codes is None or not body or status is None:
        return False
    data = response_json(body)
    if not isinstance(data, dict):
        return False
    code = data.get("retCode", data.get("code"))
    return str(code) in codes


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What an answer's body says of a request's legs: those it refused, and whether it leaves any leg's fate (or
    the whole request's) unknown."""

    refused: tuple[int, ...] = ()
    unknown: bool = False


_NOTHING = _Outcome()
_UNKNOWN = _Outcome(unknown=True)

type Reader = Callable[[Any, int], _Outcome]


def fate_unknown(venue: Venue, status: int | None, body: bytes) -> bool:
    """Whether the venue's answer leaves the order's fate unknown, so the order may exist: no answer, 408, a 5xx,
    a 2xx that is not JSON at all (empty, a proxy's page: every venue answers an order in JSON, and a 200 may be
    an acceptance), or, whatever the status, a code the venue answers when it could not tell whether it took the
    order (in a batch, any leg's)."""
    if status is None or status >= 500 or status == 408:
        return True
    if 200 <= status < 300 and body.lstrip()[:1] not in (b"{", b"["):
        return True
    return _says_unknown(venue, body)


def refused_legs(venue: Venue, parsed: ParsedRequest, status: int | None, body: bytes) -> tuple[int, ...]:
    """The leg numbers (0 for a lone order) of `parsed` the venue refused in this answer; () for requests that add
    no orders, and for answers that refuse nothing or leave the order's fate unknown."""
    if status is None or not parsed.action.adds_orders:
        return ()
    legs = max(len(parsed.intents), 1)
    if 400 <= status < 500 and status != 408:
        return () if _says_unknown(venue, body) else tuple(range(legs))
    if status != 200 or not body:
        return ()
    return tuple(leg for leg in _read(venue, body, legs).refused if 0 <= leg < legs)


def _says_unknown(venue: Venue, body: bytes) -> bool:
    markers = _UNKNOWN_MARKERS.get(venue)
    # every order's answer passes here: one without any such code's digits is not parsed again
    if markers is None or not body or not any(code in body for code in markers):
        return False
    return _read(venue, body, 1).unknown


def _read(venue: Venue, body: bytes, legs: int) -> _Outcome:
    reader = _READERS.get(venue)
    if reader is None:
        return _NOTHING
    data = response_json(body)
    return _NOTHING if data is UNREADABLE else reader(data, legs)


def _split(codes: list[tuple[int, str]], unknown: frozenset[str]) -> _Outcome:
    """(leg, error code) pairs: the legs refused, and whether any code leaves its leg's fate unknown."""
    return _Outcome(tuple(leg for leg, code in codes if code not in unknown), any(code in unknown for _, code in codes))


def _binance(data: Any, legs: int) -> _Outcome:
    # a batch answers 200 with Binance's error object (`{"code": -2019, "msg": "Margin is insufficient."}`) in
    # place of each leg it refused; a lone order's 200 is an acceptance, and its error object comes with a 4xx or
    # 5xx (which refused_legs reads from the status), so it only says whether the fate is unknown
    items = data if isinstance(data, list) else [data]
    codes = [(leg, str(item.get("code"))) for leg, item in enumerate(items)
             if isinstance(item, dict) and "code" in item and "orderId" not in item and "algoId" not in item
             and str(item.get("code")) not in ("0", "200")]
    outcome = _split(codes, BINANCE_UNKNOWN_FATE)
    return outcome if isinstance(data, list) else _Outcome(unknown=outcome.unknown)


def _bybit(data: Any, legs: int) -> _Outcome:
    if not isinstance(data, dict) or "retCode" not in data:
        return _NOTHING
    code = str(data.get("retCode"))
    if code != "0":
        return _UNKNOWN if code in BYBIT_UNKNOWN_FATE else _Outcome(tuple(range(legs)))
    ext = data.get("retExtInfo")
    entries = ext.get("list") if isinstance(ext, dict) else None
    if not isinstance(entries, list):
        return _NOTHING
    # a batch taken as a whole may still have refused legs, each entry in request order
    return _split([(leg, str(entry.get("code"))) for leg, entry in enumerate(entries)
                   if isinstance(entry, dict) and "code" in entry and str(entry.get("code")) != "0"],
                  BYBIT_UNKNOWN_FATE)


def _okx(data: Any, legs: int) -> _Outcome:
    if not isinstance(data, dict) or "code" not in data:
        return _NOTHING
    code = str(data.get("code"))
    if code == "0":
        return _NOTHING
    entries = data.get("data")
    if isinstance(entries, list) and entries:
        # "1" every entry failed, "2" some did: each entry, in request order, has its own sCode
        outcome = _split([(leg, str(entry.get("sCode"))) for leg, entry in enumerate(entries)
                          if isinstance(entry, dict) and "sCode" in entry and str(entry.get("sCode")) != "0"],
                         OKX_UNKNOWN_FATE)
        return _Outcome(outcome.refused, outcome.unknown or code in OKX_UNKNOWN_FATE)
    return _UNKNOWN if code in OKX_UNKNOWN_FATE else _Outcome(tuple(range(legs)))


def _code_envelope(success: str) -> Reader:
    """Venues that answer an error with HTTP 200 and a `code` (BingX 0, Bitget "00000" for success)."""

    def read(data: Any, legs: int) -> _Outcome:
        if not isinstance(data, dict) or "code" not in data or str(data.get("code")) == success:
            return _NOTHING
        return _Outcome(tuple(range(legs)))

    return read


_READERS: dict[Venue, Reader] = {
    Venue.BINANCEUSDM: _binance,
    Venue.BINANCECOINM: _binance,
    Venue.BYBIT: _bybit,
    Venue.OKX: _okx,
    Venue.BINGX: _code_envelope("0"),
    Venue.BITGET: _code_envelope("00000"),
}

# the venues with "could not tell" codes, and those codes' bytes: an answer without any of them is not parsed
_UNKNOWN_MARKERS: dict[Venue, tuple[bytes, ...]] = {
    venue: tuple(code.encode() for code in codes)
    for venue, codes in ((Venue.BINANCEUSDM, BINANCE_UNKNOWN_FATE), (Venue.BINANCECOINM, BINANCE_UNKNOWN_FATE),
                         (Venue.BYBIT, BYBIT_UNKNOWN_FATE), (Venue.OKX, OKX_UNKNOWN_FATE))
}
