"""WebSocket order entry and private streams, read with the same rules as REST.

A venue's order socket is a conversation of request and answer frames. Each venue's frame reader turns a client
frame into the REST request that does the same thing (`ClientFrame.rest`: `order.place` on Binance's WebSocket
API is `POST /fapi/v1/order` with the same parameters), so the venue's REST adapter reads it with every strict
field rule it already has, and the engine, store and decision line treat it exactly as that request. A venue
frame answering an order is turned back into the REST answer (`VenueFrame.rest_body`) for the adapter's learners;
private-stream events (fills, positions) become `ResponseFacts` directly. Readers hold no state: what a
connection has learned (the key it logged in with, the order frames awaiting an answer) is its `Session`, kept by
the glue. No mitmproxy here; no secret is kept (a login key is fingerprinted as it is read).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

import orjson

from riskwall.frame_ids import json_value
from riskwall.model import Action, Decision, ParsedRequest, PositionSide, ResponseFacts, Venue
from riskwall.records import quick_init
from riskwall.venues.base import FieldError, HttpRequest, Socket, strict_json

# a connection's order frames awaiting an answer: an order that could add risk past this many is refused (its
# answer could not be waited for), a cancel passes without its answer being waited for
MAX_PENDING_FRAMES = 1_000
# reads whose answer carries the account's equity (Binance's WebSocket API `account.status`, ccxt.pro's
# `fetch_balance_ws`): learned for the daily-loss rule as the REST account read's is
EQUITY_READS = frozenset({"account.status", "v2/account.status"})
# the largest client frame read: no order message is near it (a 20-leg batch is a few kilobytes)
MAX_FRAME_CHARS = 1_000_000


class FrameKind(StrEnum):
    ORDER = "order"  # decided like the REST request it stands for
    LOGIN = "login"  # binds an API key to the connection once the venue accepts it
    LOGOUT = "logout"
    CONTROL = "control"  # ping, subscribe, reads: pass


@quick_init
@dataclass(frozen=True, slots=True)
class ClientFrame:
    """What a reader made of one client message.

    `request` is what the engine decides (a READ for controls and logins; PARSE_FAILED or UNKNOWN for what
    cannot be read). `request_id` is the frame's own id exactly as sent (any JSON value; None when it has none),
    which a rejection must echo; `id_key` the same as text, for matching the venue's answer.
    """

    kind: FrameKind
    op: str
    request: ParsedRequest
    request_id: Any = None
    rest: HttpRequest | None = None  # the equivalent REST request, for learning from the answer
    login_account: str | None = None  # the fingerprint a LOGIN binds when the venue accepts it
    legs: tuple[dict[str, Any], ...] = ()  # per-leg ids a rejection echoes (OKX clOrdId/tag)

    def __post_init__(self) -> None:
        # `read_json` reads every number as a Decimal: an id of 1 must stay the number 1, which a rejection can
        # echo (orjson cannot write a Decimal) and whose id_key matches the venue's answer (its 1 is an int)
        object.__setattr__(self, "request_id", json_value(self.request_id))

    @property
    def id_key(self) -> str | None:
        return id_key(self.request_id)


@quick_init
@dataclass(frozen=True, slots=True)
class VenueFrame:
    """What a reader made of one venue message: an answer to a client frame, a login's outcome, stream facts."""

    answers: str | None = None  # the id_key of the order frame awaiting an answer (`Session.pending`) it answers
    # the id_key it answers, whatever frame went out under it, where the venue answers every id
    # (`FrameReader.answers_every_id`)
    replied: str | None = None
    status: int | None = None  # as a REST status: 200 accepted; anything else refused
    rest_body: bytes = b""  # the answer as the REST endpoint would have given it
    login_ok: bool | None = None  # the outcome of the connection's pending login, when this frame is it
    # the frame may be the pending login's answer or another message's (an OKX error event names no request)
    login_unclear: bool = False
    logged_out: bool = False
    facts: ResponseFacts = field(default_factory=ResponseFacts)  # from private streams
    # a listen key the venue issued on this connection (a secret: only its hash is kept, never logged)
    listen_key: str | None = None
    listen_account: str | None = None
    # the account the facts are for, where the answer is to a read that acted for its own (Binance's
    # `account.status`); else the connection's events are `Session.events_account`'s
    facts_account: str | None = None


@dataclass(slots=True)
class PendingFrame:
    """An allowed order frame awaiting the venue's answer."""

    decision_id: str
    parsed: ParsedRequest
    rest: HttpRequest
    reserved: bool
    # another frame with the same id passed while this one awaited its answer (a cancel, which always passes):
    # the venue's answer to this one cannot be told from the answer to that one, so neither is learned
    ambiguous: bool = False
    asked_ms: int | None = None  # when it came in (wall clock): what its answer reports was taken after


@dataclass(slots=True)
class Session:
    """One WebSocket connection to a venue, as the glue keeps it (flow metadata), dropped with the connection."""

    venue: Venue
    socket: Socket
    endpoint: str  # "GET <socket pattern>": never the real path, which may hold a listen key
    account: str | None = None  # bound by a login the venue accepted (or a listen key the sidecar saw issued)
    pending_login: str | None = None  # fingerprint of a login sent, not yet answered
    pending_login_id: str | None = None  # its id_key, where the venue answers by id
    # logins to `pending_login`'s key in flight (the same key again: `SocketGate.from_client`), and the ids of those
    # after the first: the login is settled once every one is answered, and any of them accepted binds the key
    login_answers_due: int = 0
    again_login_ids: set[str] = field(default_factory=set)
    # the venue may hold a login the sidecar cannot name (an answer that may not have been the login's, a logout
    # it did not see answered): a login sent now does not make the frames behind it act for its key
    login_unknown: bool = False
    # another frame went out under the pending login's id, or an answer that may be another frame's came while it
    # was pending: whether the venue took the login cannot be told from its answer
    login_unclear: bool = False
    # on a venue that answers every request by its id (`FrameReader.answers_every_id`): how many frames forwarded
    # under each id await an answer, whatever they are (orders, reads, logins, listen-key requests), so an answer
    # is never taken as another frame's that went out under the same id
    in_flight: dict[str, int] = field(default_factory=dict)
    # listen-key requests sent on this connection, by id_key: the account the key will belong to
    listen_requests: dict[str, str | None] = field(default_factory=dict)
    # account reads whose answers carry the account's equity (Binance `account.status`), by id_key: the account
    # the read acted for (None: its answer could be another frame's)
    equity_reads: dict[str, str | None] = field(default_factory=dict)
    pending: OrderedDict[str, PendingFrame] = field(default_factory=OrderedDict)
    # a stream whose venue frames are read (a user-data stream); public market data never is
    private: bool = False
    frames: int = 0
    blocked: int = 0
    # the account a user-data subscription on this connection named ("" once two different ones did)
    subscribed: str | None = None
    # the venue's environment the socket reached (`ParsedRequest.environment`): its frames are decided, and what
    # they teach learned, in that environment's prices
    environment: str = ""
    # a stream on which the bot sent a message the sidecar could not read as the venue would: what it subscribed
    # is not known, so the stream is never read from then on (`SocketGate._stream_request`)
    unreadable_sent: bool = False
    # a stream the sidecar stopped reading (it carried, or could carry, more than one account's events): the venue
    # still pushes them all whatever the bot subscribes next, so it is never read again
    unread: bool = False
    # the accounts whose logins the venue accepted on this connection, or may have (a login answered unclearly); None:
    # none yet. Once two have, what the first subscribed may still push its events (a venue need not drop a
    # subscription when the login changes), and pushes name no account: they are attributed to none from then on
    # (`events_account`); orders still act for the login they follow
    logged_in_as: set[str] | None = None
    # what this connection's position pushes last said of each (account, instrument, position side, margin mode),
    # where the venue keeps margin modes apart and pushes one of them at a time (OKX cross and isolated): a push of
    # one is summed with what the others last said, so it never stands for the whole position
    positions_by_mode: dict[tuple[str, str, PositionSide, str], Decimal] = field(default_factory=dict)

    @property
    def events_account(self) -> str | None:
        """Whose events the venue pushes on this connection: its login's account, or the account a user-data
        subscription on it named (Binance's WebSocket API `userDataStream.subscribe`); None when two differ."""
        if self.logged_in_as is not None and len(self.logged_in_as) > 1:
            return None
        if self.subscribed is None:
            return self.account
        if self.subscribed and self.account in (None, self.subscribed):
            return self.subscribed
        return None

    @property
    def acting_account(self) -> str | None:
        """The account a client frame sent now acts for. Venues read a connection's frames in order, so a frame
        sent after a login the venue has not answered yet acts for that login's key (a bot may send its first
        order right behind its login); a failed login makes the venue refuse it anyway, where the connection held
        no login before. While a login to another key than the bound one is pending, or one that may follow a
        login the venue holds and the sidecar cannot name (`login_unknown`: the venue keeps that one when the new
        login fails), which key acts is unknown: None, so orders are refused."""
        if self.pending_login is None or self.account == self.pending_login:
            return self.account
        return self.pending_login if self.account is None and not self.login_unknown else None

    def is_login_id(self, key: str | None) -> bool:
        """Whether `key` is the id of a login awaiting its answer (the pending one, or the same key's again)."""
        return key is not None and (key == self.pending_login_id or key in self.again_login_ids)

    def login_answered(self, key: str | None) -> None:
        """The venue answered a pending login (under `key`, where it answers by id): once every login in flight
        is answered, none is pending."""
        self.login_answers_due -= 1
        if key is not None:
            self.again_login_ids.discard(key)
            if key == self.pending_login_id:
                self.pending_login_id = None
        if self.login_answers_due <= 0:
            self.pending_login = self.pending_login_id = None
            self.again_login_ids.clear()
            self.login_answers_due = 0
            self.login_unclear = False

    def unpaired(self, key: str | None) -> str | None:
        """Why the venue's answer to an order frame with the id `key` could not be paired with it (no id, an id
        that awaits an answer already, too many awaiting), or None when it can be."""
        if key is None:
            return "the message has no id: the venue's answer to it could not be told from another's"
        if key in self.pending or key in self.in_flight:
            return "a message with this id awaits the venue's answer on this connection"
        if len(self.pending) >= MAX_PENDING_FRAMES or len(self.in_flight) >= MAX_PENDING_FRAMES:
            return f"{MAX_PENDING_FRAMES} messages await the venue's answer on this connection"
        return None

    def expect(self, key: str | None, frame: PendingFrame) -> bool:
        """Remember an allowed frame until the venue answers it; False when its answer cannot be paired with it
        (`unpaired`), which only a frame that cannot add risk (a cancel) gets this far with (`sent` has made the
        frames it shares its id with ambiguous)."""
        if self.unpaired(key) is not None:
            return False
        self.pending[key] = frame  # type: ignore[index]  # unpaired() is None only with a key
        return True

    def sent(self, key: str | None, counted: bool, own: PendingFrame | None = None) -> None:
        """A client frame with the id `key` went to the venue (`counted`: a venue that answers every id, so it is
        counted until answered; `own`: the frame's own entry in `pending`, if `expect` took it). Frames awaiting an
        answer under the same id cannot have their answers told from its answer: an order's is learned from
        neither (`PendingFrame.ambiguous`), a login's outcome is unclear (`login_unclear`), a listen key issued
        under it is attributed to no account."""
        if key is None:
            return
        if key in self.pending and self.pending[key] is not own:
            self.pending[key].ambiguous = True
        if self.is_login_id(key):
            self.login_unclear = True
        if key in self.listen_requests:
            self.listen_requests[key] = None
        if counted:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1

    def answered(self, key: str | None) -> None:
        """The venue answered a frame sent under `key`."""
        count = self.in_flight.get(key or "")
        if count is not None:
            if count > 1:
                self.in_flight[key] = count - 1  # type: ignore[index]  # found under it: a key
            else:
                del self.in_flight[key]  # type: ignore[arg-type]

    def awaits(self, key: str | None) -> bool:
        """Whether a frame sent under `key` awaits the venue's answer (a login or listen-key request included)."""
        return key is not None and (key in self.pending or key in self.in_flight or self.is_login_id(key)
                                    or key in self.listen_requests)


class FrameReader(Protocol):
    """One venue's WebSocket protocol (stateless: a connection's state is its Session)."""

    venue: Venue
    # how long a rejection waits before it is sent (a client that registers its callback after sending)
    reply_delay_s: float
    # the venue answers every client frame with its id (Binance's WebSocket API): each is counted until answered
    # (`Session.in_flight`); elsewhere only order frames are answered by id, and logins by their op
    answers_every_id: bool

    def read_client(self, text: str, session: Session) -> ClientFrame: ...

    def read_venue(self, text: str, session: Session) -> VenueFrame: ...

    def rejection(self, decision: Decision, frame: ClientFrame | None) -> str:
        """The venue's own error frame for a blocked client frame (None: a frame that could not be read)."""
        ...


def id_key(request_id: Any) -> str | None:
    """A frame id as the key frames are paired by: one key for every id a venue might take for the same one. A
    number and a string of its digits (`1`, `"1"`, `"01"`, `1.0`) are one key: OKX documents its ids as strings
    and a server that reads a number into one would answer both under the same id, so two frames under them
    count as one id in flight (the second is refused, an answer of either is ambiguous), never as two. (A number
    a double cannot hold exactly is refused on an order frame: `exact_as_double`.)"""
    if request_id is None:
        return None
    # as plain JSON first: a Decimal (the client's 1 read by `read_json`, the venue's 1.5 by `response_json`)
    value = json_value(request_id)
    if isinstance(value, bool):
        return json.dumps(value)
    text = value if isinstance(value, str) else format(Decimal(repr(value)), "f") if isinstance(value, float) \
        else str(value) if isinstance(value, int) else None
    if text is not None:
        if _NUMBER.fullmatch(text):
            number = Decimal(text)
            return "#" + format(number.normalize() if number else Decimal(0), "f")
        return json.dumps(text)
    return json.dumps(value, sort_keys=True)


def exact_as_double(request_id: Any) -> bool:
    """Whether a server that reads JSON numbers as doubles (JavaScript's) holds the id as the sidecar does: a string
    always, and a number as `json_value` holds it (a whole one within 64 bits exact, any other as a double already)
    unless it is a whole number past 2^53, where doubles stop holding every integer (9007199254740993 would come
    back as ...992, an answer that pairs with no order). Client ids are strings or small counters (ccxt, the
    venues' SDKs)."""
    return isinstance(request_id, bool) or not isinstance(request_id, int) or abs(request_id) <= _DOUBLE_WHOLE


# the largest whole number below which a double holds every integer
_DOUBLE_WHOLE = 2**53


# a number as a string may hold it (what a server that coerces ids reads as that number)
_NUMBER = re.compile(r"[+-]?[0-9]{1,40}(\.[0-9]{1,40})?")


def frame_text(answer: dict[str, Any]) -> str:
    """A rejection frame as compact JSON. A lone surrogate (`"\\ud800"` is valid JSON in an id, an op or a
    clOrdId) cannot be written as UTF-8, which orjson refuses: then it is echoed escaped, as the client sent it."""
    try:
        return orjson.dumps(answer).decode()
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(answer, separators=(",", ":"))


def read_json(text: str) -> Any:
    """A frame as JSON read strictly (exact decimals, no duplicate keys), or FieldError."""
    if len(text) > MAX_FRAME_CHARS:
        raise FieldError("the frame is too large")
    return strict_json(text, "the frame", plain_numbers=False)


def unreadable_json(venue: Venue, text: str, error: str, id_name: str, op_name: str) -> ClientFrame:
    """A frame strict reading refused (a key twice, an inexact number): refused, answered with the id and
    operation a lenient reader finds, so the client's one pending request fails rather than all of them."""
    loose: Any = None
    if len(text) <= MAX_FRAME_CHARS:
        try:
            loose = json.loads(text)
        except (ValueError, RecursionError):
            loose = None
    if not isinstance(loose, dict):
        return unreadable(venue, "?", error)
    op = loose.get(op_name)
    return unreadable(venue, op[:64] if isinstance(op, str) else "?", error, loose.get(id_name))


def held_by_session(parsed: ParsedRequest, account: str | None) -> ParsedRequest:
    """`parsed` (read from a REST request built without credentials) as sent by `account`."""
    if parsed.account == account:
        return parsed
    intents = tuple(dataclasses.replace(i, account=account) for i in parsed.intents)
    return dataclasses.replace(parsed, account=account, intents=intents)


def unreadable(venue: Venue, op: str, error: str, request_id: Any = None, account: str | None = None) -> ClientFrame:
    """A client frame that cannot be read on an order socket: decided as a parse failure, so refused (`account`,
    where known, names the sender in the decision line)."""
    return ClientFrame(FrameKind.ORDER, op, ParsedRequest(venue, Action.UNKNOWN, f"WS {op}", account, error=error),
                       request_id)


def control(venue: Venue, op: str, account: str | None, request_id: Any = None) -> ClientFrame:
    """A frame that moves nothing (ping, subscribe, a read): passes."""
    return ClientFrame(FrameKind.CONTROL, op, ParsedRequest(venue, Action.READ, f"WS {op}", account), request_id)


def plain_text(value: Any) -> str:
    """A JSON scalar as the text a form or query would carry it in (exact decimals; true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, Decimal):
        return plain_number(value)
    raise FieldError("a parameter is not a number, a string or a boolean")


# the most fraction digits a number is written out with; no plain decimal any venue reader accepts has more
MAX_PLAIN_FRACTION = 40


def plain_number(value: Decimal) -> str:
    """A number as read by `read_json`, written as plain digits where it was (or could have been) written so,
    else in exponent form, which every REST reader refuses as it refuses an exponent in a REST request.

    Formatting `1e999999999` as plain digits would build a gigabyte from an eleven-character frame, and `1e3`
    written as `1000` would pass where the REST request `qty: 1e3` is refused. A number written plainly has an
    exponent of 0 or less (minus its fraction digits), so its reading is unchanged.
    """
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -MAX_PLAIN_FRACTION <= exponent <= 0:
        return format(value, "f")
    return str(value)


def json_text(value: Any) -> bytes:
    """A JSON value read by `read_json` written back with its numbers as read (`plain_number`)."""

    def exact(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return _RawNumber(plain_number(obj))
        raise TypeError(type(obj).__name__)

    return _encode(value, exact).encode()


class _RawNumber(str):
    pass


def _encode(value: Any, default: Any) -> str:
    if isinstance(value, _RawNumber):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v, default)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v, default) for v in value) + "]"
    if value is None or isinstance(value, bool | int | str):
        return json.dumps(value)
    return _encode(default(value), default)


def renamed(parsed: ParsedRequest, endpoint: str) -> ParsedRequest:
    """A frame's decision names its operation (`WS order.place`), as a REST decision names its endpoint."""
    intents = tuple(dataclasses.replace(i, endpoint=endpoint) for i in parsed.intents)
    return dataclasses.replace(parsed, endpoint=endpoint, intents=intents)
