"""WebSocket connections to venues, message by message: what the glue asks of each frame, without mitmproxy.

The glue (addon.py) hands every message of a venue socket here and does what the answer says: forward it, or
drop it and send the venue's error frame back to the bot. Order frames are decided exactly like the REST request
they stand for (venues.frames), under a deadline, because while a frame waits the whole connection waits with it
(acks and fills included): a store that cannot answer in time refuses the order, as it would over REST. What the
venue answers, and what its private streams report, teaches the store like a REST answer.

Public market-data sockets are never read: their frames pass as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from riskwall import engine, logs
from riskwall.decider import (
    UNANSWERED_HOLD_MS,
    cannot_add_risk,
    daily_losses,
    fail_decision,
    held_by,
    learn_answer,
    new_decision_id,
    report_storms,
    stamped,
    storm_counts,
)
from riskwall.instruments import facts_of
from riskwall.model import Action, Decision, ParsedRequest, Reason, Venue, Verdict, Violation
from riskwall.paths import is_token, normalize_path
from riskwall.policy import Policy
from riskwall.records import quick_init
from riskwall.settling import Attempt
from riskwall.state import StateStore, StateUnavailable
from riskwall.venues import FRAMES, adapter_for
from riskwall.venues.base import FieldError, HttpRequest, Socket, in_environment, socket_for
from riskwall.venues.frames import (
    EQUITY_READS,
    MAX_PENDING_FRAMES,
    ClientFrame,
    FrameKind,
    FrameReader,
    PendingFrame,
    Session,
    exact_as_double,
    read_json,
    unreadable,
)
from riskwall.venues.hosts import environment_of

log = logs.get_logger("riskwall.sockets")

# listen keys remembered (as hashes) for attributing a user-data stream to its account
LISTEN_KEYS_KEPT = 10_000
# the largest stream subscription read for a listen key (a subscription names a few streams)
MAX_SUBSCRIBE_CHARS = 16_384
# the venues whose user-data streams are opened by listen key, and what else their streams take from the bot
# (Binance: subscriptions are managed and read by these methods; SUBSCRIBE is read for its listen keys)
LISTEN_KEY_VENUES = frozenset({Venue.BINANCEUSDM, Venue.BINANCECOINM})
_STREAM_READS = frozenset({"UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "GET_PROPERTY", "SET_PROPERTY"})

type Decide = Callable[[ParsedRequest, str], Awaitable[tuple[Decision, bool, ParsedRequest]]]


@quick_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """What to do with one client message: forward it, or drop it and send `reply` to the bot. A decided order
    frame carries its decision (for the decision line); controls and logins carry none."""

    forward: bool
    reply: str | None = None
    decision: Decision | None = None
    request: ParsedRequest | None = None
    frame: ClientFrame | None = None
    started_ns: int = 0
    reply_delay_s: float = 0.0  # how long `reply` waits before it is sent (the venue's FrameReader says)


PASS = Outcome(True)


class ListenKeys:
    """Which account a listen key (the bearer token in a user-data stream's URL) was issued to. Keys are kept
    only as hashes, bounded: a stream whose key the sidecar never saw issued is not attributed."""

    def __init__(self, kept: int = LISTEN_KEYS_KEPT) -> None:
        self._owners: OrderedDict[str, tuple[Venue, str]] = OrderedDict()
        self._kept = kept

    @staticmethod
    def _digest(venue: Venue, key: str) -> str:
        return hashlib.sha256(f"{venue}|{key}".encode()).hexdigest()

    def remember(self, venue: Venue, key: str, account: str) -> None:
        digest = self._digest(venue, key)
        self._owners[digest] = (venue, account)
        self._owners.move_to_end(digest)
        while len(self._owners) > self._kept:
            self._owners.popitem(last=False)

    def owner(self, venue: Venue, candidates: list[str]) -> str | None:
        """The one account every listen key among `candidates` was issued to; None when they name none, more than
        one, or carry a listen key the sidecar did not see issued (`paths.is_token`; Binance issues 60-64 letters
        and digits): a stream the venue lets carry several keys (Binance's combined streams take any stream names)
        would otherwise pass another account's fills and positions off as this one's."""
        owners: set[str] = set()
        for candidate in candidates:
            found = self._owners.get(self._digest(venue, candidate))
            if found is not None:
                owners.add(found[1])
            elif is_token(candidate):
                return None
        return owners.pop() if len(owners) == 1 else None


async def _nothing_in_flight(venue: str, account: str | None) -> None:
    return None


class SocketGate:
    def __init__(self, decide: Decide, store: Callable[[], StateStore | None],
                 policy: Callable[[], Policy | None], seen: Callable[[Venue, str], None] = lambda v, a: None,
                 settled: Callable[[str, str | None], Awaitable[None]] = _nothing_in_flight,
                 keep: Callable[[tuple[str, str | None], Attempt, str], None] | None = None,
                 ) -> None:
        """`seen` is told of every account a venue accepted a login for (the admin status lists its state);
        `settled(venue, account)` waits until what REST answers taught that account is in the store (`Settling`),
        so what a frame teaches lands after what came before it; `keep(key, attempt, what)` tries again later
        what the store could not take (`Settling.keep`; without it, that is lost and logged)."""
        self._decide, self._store, self._policy, self._seen = decide, store, policy, seen
        self._settled, self._keep = settled, keep
        self.listen_keys = ListenKeys()
        self.deadline_s = 0.25
        self.order_entry = True

    # ---- connections -------------------------------------------------------------------------------------

    def reads_orders(self, venue: Venue) -> bool:
        """Whether `venue`'s order sockets may open: order entry is on and its frames can be read (Bitget's
        private sockets take orders no reader here understands, so they stay refused)."""
        return self.order_entry and venue in FRAMES

    def open(self, venue: Venue, request: HttpRequest) -> Session | None:
        """The session of a WebSocket handshake the firewall let through, or None for no socket of the venue."""
        adapter = adapter_for(venue)
        path = normalize_path(request.path)
        found = socket_for(adapter.sockets, path)
        if found is None:
            return None
        pattern, kind = found
        if venue in (Venue.BINANCEUSDM, Venue.BINANCECOINM):
            venue = Venue.BINANCECOINM if path.startswith(("/ws-dapi", "/dapi")) else Venue.BINANCEUSDM
        session = Session(venue, kind, f"GET {pattern}",
                          environment=environment_of(venue, request.host, request.headers, handshake=True))
        if kind is Socket.STREAM:
            # a private stream: a listen key the sidecar saw issued (Binance), or a socket that logs in (Bybit)
            tokens = _tokens(request)
            session.account = self.listen_keys.owner(venue, tokens)
            session.private = session.account is not None or (venue is Venue.BYBIT and path == "/v5/private")
            if session.account is None and any(map(is_token, tokens)):
                _not_read(session, "a user-data stream whose listen keys the sidecar cannot attribute to one account")
        return session

    async def closed(self, session: Session) -> None:
        """The connection ended: orders it sent without an answer may exist; hold their exposure, then let go."""
        store = self._store()
        pending, session.pending = list(session.pending.values()), OrderedDict()
        for frame in pending:
            if frame.reserved and store is not None:
                with contextlib.suppress(Exception):
                    await store.release(frame.decision_id, after_ms=UNANSWERED_HOLD_MS)

    # ---- messages from the bot ---------------------------------------------------------------------------

    async def from_client(self, session: Session, text: str | None) -> Outcome:
        """`text` None: a binary message (no venue takes orders that way)."""
        if session.socket is Socket.STREAM:
            read = session.private
            if session.venue in LISTEN_KEY_VENUES:
                self._stream_request(session, text)
            if not (read or session.private):
                return PASS  # market data: never read
        reader = FRAMES[session.venue]
        started = time.perf_counter_ns()
        session.frames += 1
        with facts_of(session.environment):  # the instruments of the book the socket trades
            frame = reader.read_client(text, session) if text is not None else unreadable(
                session.venue, "?", "a binary message on a venue socket")
        counted = reader.answers_every_id
        if frame.kind is FrameKind.LOGIN:
            again = session.pending_login is not None and frame.login_account == session.pending_login
            if session.awaits(frame.id_key) or (session.pending_login is not None and not again):
                # the venue's answer could not be told from the other's: which key the connection then acts for
                # would be a guess, so the login never reaches the venue
                return self._refused(session, reader, frame, started, "a login to another key, or a message with "
                                                                      "this id, awaits the venue's answer on this "
                                                                      "connection")
            session.sent(frame.id_key, counted)
            session.login_answers_due += 1
            if again:
                # the same key again (python-okx's subscribe logs in once more behind its own login): whichever of the
                # two the venue takes, the connection acts for that key; the login stays pending until both are
                # answered (a refusal of one, then the other's acceptance, binds the key)
                if frame.id_key is not None:
                    session.again_login_ids.add(frame.id_key)
                return Outcome(True, frame=frame)
            session.pending_login, session.pending_login_id = frame.login_account, frame.id_key
            session.login_unclear = False
            return Outcome(True, frame=frame)
        if counted and frame.kind in (FrameKind.LOGOUT, FrameKind.CONTROL) and frame.id_key in session.pending:
            # on a venue that answers every id, a read under the id of an order awaiting its answer would make that
            # answer anyone's: the order's fill or refusal (a reject storm's count) would never be learned
            return self._refused(session, reader, frame, started, "an order awaits the venue's answer under this id "
                                                                  "on this connection")
        if frame.kind is FrameKind.LOGOUT:
            session.sent(frame.id_key, counted)
            if session.account is not None:
                # whether the venue let it go is not read: until a login it answers plainly, it may still hold it
                session.login_unknown = True
            session.account = None  # from now on, until a new login, frames name no account
            return Outcome(True, frame=frame)
        if frame.kind is FrameKind.CONTROL:
            if frame.op == "userDataStream.start" and frame.id_key is not None:
                # a key issued under an id another frame awaits an answer under is nobody's: its answer is a guess
                account = None if session.awaits(frame.id_key) else frame.request.account
                session.sent(frame.id_key, counted)
                session.listen_requests[frame.id_key] = account
                return Outcome(True, frame=frame)
            if frame.op in EQUITY_READS and frame.id_key is not None and \
                    len(session.equity_reads) < MAX_PENDING_FRAMES:
                # its answer is the account's equity, for the daily-loss rule: unless another frame awaits an
                # answer under its id, which would make the answer a guess
                session.equity_reads[frame.id_key] = None if session.awaits(frame.id_key) else frame.request.account
            if frame.op.startswith("userDataStream.subscribe"):
                named = frame.request.account
                if frame.op == "userDataStream.subscribe" and named != session.acting_account:
                    # the plain subscription is the logged-on account's (Binance reads no parameters on it): one
                    # whose params name another key is the venue's to read either way, so its events are no one's
                    named = ""
                if named is not None:
                    session.subscribed = named if session.subscribed in (None, named) else ""
            session.sent(frame.id_key, counted)
            return Outcome(True, frame=frame)
        decision_id = new_decision_id()
        request = frame.request
        if session.socket is Socket.STREAM:
            # a stream socket only subscribes: an order op on it is not something the venue reads there
            request = ParsedRequest(session.venue, Action.UNKNOWN, f"WS {frame.op}", session.account)
        request = in_environment(request, session.environment)
        reserved = False
        unpaired = self._unpaired(session, frame, request)
        try:
            if unpaired is not None:
                # the venue's answer could not be paired with this order: its fill would go unlearned and the
                # position the limits measure would drift from the venue's, so an order that can add risk is
                # refused before anything is reserved for it
                decision = fail_decision(request, "", decision_id, self._policy(), Reason.PARSE_FAILED,
                                         engine.RULE_PARSE, error=unpaired)
            else:
                decision, reserved, request = await asyncio.wait_for(self._decide(request, decision_id),
                                                                     self.deadline_s)
        except (TimeoutError, StateUnavailable) as exc:
            decision = fail_decision(request, "", decision_id, self._policy(), Reason.STATE_UNAVAILABLE,
                                     engine.RULE_STATE, error=type(exc).__name__)
            self._forget(decision_id)  # a reservation committed past the deadline must not linger
        except Exception as exc:  # a crash must decide, never forward by accident
            decision = fail_decision(request, "", decision_id, self._policy(), Reason.INTERNAL_ERROR,
                                     engine.RULE_INTERNAL, error=type(exc).__name__)
            with contextlib.suppress(Exception):
                log.exception("firewall_error", decision_id=decision_id, venue=session.venue,
                              error=type(exc).__name__)
        if decision.verdict is Verdict.BLOCK:
            session.blocked += 1
            return Outcome(False, reader.rejection(decision, frame), decision, request, frame, started,
                           reader.reply_delay_s)
        own = None
        if frame.rest is not None and request.action is not Action.READ:
            own = self._expect(session, frame, PendingFrame(decision_id, request, frame.rest, reserved,
                                                            asked_ms=int(time.time() * 1000)))
        session.sent(frame.id_key, counted, own)
        return Outcome(True, None, decision, request, frame, started)

    def _refused(self, session: Session, reader: FrameReader, frame: ClientFrame, started: int,
                 error: str) -> Outcome:
        """A frame that moves nothing itself (a login), refused because the venue's answer to it could not be read
        for what it says: answered as the venue answers a frame it cannot read, with a decision line."""
        policy = self._policy()
        decision = Decision(Verdict.BLOCK, new_decision_id(), policy.revision if policy else "none",
                            (Violation.of(engine.RULE_PARSE, Reason.PARSE_FAILED, error=error),))
        session.blocked += 1
        return Outcome(False, reader.rejection(decision, frame), decision, frame.request, frame, started,
                       reader.reply_delay_s)

    def _stream_request(self, session: Session, text: str | None) -> None:
        """A message the bot sends on a Binance stream. A SUBSCRIBE by listen key (Binance's SDK: `SUBSCRIBE
        [<listenKey>]` on `/private/stream`) makes the stream that account's private stream, as one opened with
        the key in its URL is. Its events name no account, so a private stream is no longer read once it may carry
        another account's: a SUBSCRIBE of two accounts' keys, or of one the sidecar did not see issued, and any
        message it cannot read as the venue would (too large, a key twice, not JSON, a binary one, a method it
        does not know), since that one may subscribe too. A position learned for the wrong account would be
        worse than none."""
        message = None
        if text is not None and len(text) <= MAX_SUBSCRIBE_CHARS:
            with contextlib.suppress(FieldError):
                message = read_json(text)
        method = message.get("method") if isinstance(message, dict) else None
        if method == "SUBSCRIBE":
            self._subscribed_listen_keys(session, message.get("params"))  # type: ignore[union-attr]
        elif method not in _STREAM_READS:
            _unreadable_sent(session, "a message on a stream the sidecar cannot read as the venue would")

    def _subscribed_listen_keys(self, session: Session, params: Any) -> None:
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            _unreadable_sent(session, "a subscription on a stream the sidecar cannot read")
            return
        names = [p for p in params if "@" not in p]
        if not names:  # market streams only (`symbol@kind`)
            return
        owners = {self.listen_keys.owner(session.venue, [name]) for name in names}
        if session.private:
            owners.add(session.account)
        if len(owners) == 1 and None not in owners and not (session.unreadable_sent or session.unread):
            session.account, session.private = owners.pop(), True
        elif session.unreadable_sent:
            _not_read(session, "a user-data stream on which a message the sidecar could not read was sent before")
        elif session.unread:
            _not_read(session, "a user-data stream the sidecar stopped reading before (its earlier subscriptions "
                               "still deliver)")
        else:
            _not_read(session, "a user-data stream subscribed to listen keys the sidecar cannot attribute to one "
                               "account")

    def crashed(self, session: Session, exc: Exception) -> Outcome:
        """The frame could not even be read for a decision: dropped, and answered as the venue answers a frame
        it cannot read."""
        with contextlib.suppress(Exception):
            log.warning("firewall_error", venue=session.venue, error=type(exc).__name__)
        decision = fail_decision(None, "POST", new_decision_id(), self._policy(), Reason.INTERNAL_ERROR,
                                 engine.RULE_INTERNAL, error=type(exc).__name__)
        session.blocked += 1
        try:
            reader = FRAMES[session.venue]
            reply, delay = reader.rejection(decision, None), reader.reply_delay_s
        except Exception:
            reply, delay = None, 0.0
        return Outcome(False, reply, decision, None, None, time.perf_counter_ns(), delay)

    @staticmethod
    def _unpaired(session: Session, frame: ClientFrame, request: ParsedRequest) -> str | None:
        """Why an order frame that could add risk must be refused before it is decided: the venue's answer to it
        could not be paired with it (`Session.unpaired`). None for everything else, which is decided as usual
        (a cancel passes whatever its id; a frame that cannot be read is refused for that)."""
        if frame.rest is None or not request.action.adds_orders or request.error is not None:
            return None
        if cannot_add_risk(request):
            return None
        if not exact_as_double(frame.request_id):
            return "a numeric id a double cannot hold exactly: a venue that reads it as one answers under another"
        return session.unpaired(frame.id_key)

    def _expect(self, session: Session, frame: ClientFrame, pending: PendingFrame) -> PendingFrame | None:
        """`pending`, awaiting its answer; None when its answer cannot be paired with it."""
        if session.expect(frame.id_key, pending):
            return pending
        if pending.reserved:
            # a reduce-only order or a cancel whose answer cannot be paired: what it reserved is held as if
            # unanswered
            self._release_later(pending.decision_id, UNANSWERED_HOLD_MS)
        return None

    # ---- messages from the venue -------------------------------------------------------------------------

    async def from_venue(self, session: Session, text: str | None) -> None:
        """Learn what the venue's message says. Never blocks it; a message not understood teaches nothing."""
        if text is None or (session.socket is Socket.STREAM and not session.private):
            return
        reader = FRAMES[session.venue]
        with facts_of(session.environment):
            frame = reader.read_venue(text, session)
        if reader.answers_every_id:
            session.answered(frame.replied)
        if frame.login_ok is not None:
            if frame.login_unclear or session.login_unclear:
                # the answer may not be the login's: whether the venue switched keys is unknown, so the connection
                # acts for no account (its orders are refused) until a login the venue answers plainly, and a
                # login sent before that does not act for its key ahead of its answer
                if session.pending_login is not None:  # the venue may hold it: its subscriptions may push
                    session.logged_in_as = (session.logged_in_as or set()) | {session.pending_login}
                session.account = None
                session.login_unknown = True
                with contextlib.suppress(Exception):
                    log.warning("login_unclear", venue=session.venue, endpoint=session.endpoint,
                                detail="an answer that may be another message's came while a login awaited its "
                                       "answer: orders on this connection are refused until the next login")
            elif frame.login_ok and session.pending_login is not None:
                session.account = session.pending_login
                session.login_unknown = False
                self._seen(session.venue, session.account)
                held = session.logged_in_as = (session.logged_in_as or set()) | {session.account}
                if len(held) == 2:
                    with contextlib.suppress(Exception):
                        log.warning("stream_not_read", venue=session.venue, endpoint=session.endpoint,
                                    detail="a second account logged in on the connection: what the first subscribed "
                                           "may still push, so its events are not learned")
            session.login_answered(frame.replied)
        if frame.listen_key and frame.listen_account:
            self.listen_keys.remember(session.venue, frame.listen_key, frame.listen_account)
        store = self._store()
        if store is None:
            return
        if frame.answers is not None:
            pending = session.pending.pop(frame.answers, None)
            if pending is not None and pending.ambiguous:
                # the answer may be the other frame's: learned from neither, what this one reserved is held as
                # if unanswered
                if pending.reserved:
                    self._release_later(pending.decision_id, UNANSWERED_HOLD_MS)
                await self._count_refusal(store, pending, frame.status, frame.rest_body)
            elif pending is not None:
                await self._learn_answer(store, session, pending, frame.status, frame.rest_body)
        owner = frame.facts_account or session.events_account
        if (not frame.facts.empty or frame.facts.equity) and owner is not None:
            # kept under the account the policy holds this key's state under, as its orders are
            policy = self._policy()
            holder = policy.holder(session.venue, owner, session.environment) if policy is not None else None
            parsed = ParsedRequest(session.venue, Action.READ, "", owner, holder=holder,
                                   environment=session.environment)
            # a push is the venue's state when it came: stamped so, it ends the holds of orders of unknown fate
            # sent long enough before it, as a REST position read does
            facts = held_by(stamped(frame.facts, int(time.time() * 1000)), parsed)
            losses = daily_losses(policy, parsed, facts)

            async def push() -> None:
                if losses:  # the equity the stream reported, for the policy's daily-loss rules, in the same step
                    report_storms(await store.settle(facts, None, 0, (), losses))
                elif not facts.empty:
                    await store.learn(facts)

            await self._in_place((str(session.venue), parsed.state_account), push, f"push:{session.venue}")

    async def _learn_answer(self, store: StateStore, session: Session, pending: PendingFrame, status: int | None,
                            body: bytes) -> None:
        # learned as the same answer over REST is (`learn_answer`: facts, reject-storm counts, the reservation's
        # hold, daily losses), in place of the frame's reply; a function, so what the store cannot take is tried
        # again whole
        answer = functools.partial(learn_answer, store, adapter_for(session.venue), pending.parsed, pending.rest,
                                   status, body, pending.decision_id, pending.reserved, self._policy(),
                                   asked_ms=pending.asked_ms)
        await self._in_place((str(pending.parsed.venue), pending.parsed.state_account), answer, pending.decision_id)

    async def _count_refusal(self, store: StateStore, pending: PendingFrame, status: int | None,
                             body: bytes) -> None:
        """A refusal under the id of an order whose answer cannot be told from another frame's (a cancel sent under
        it, which always passes) still counts for a reject storm, as if the order's: else a bot refused in a loop
        could keep its refusals uncounted by sending a cancel under each order's id."""
        counts = storm_counts(self._policy(), pending.parsed, status, body, pending.decision_id)
        if not counts:
            return

        async def count() -> None:
            report_storms(await store.count_rejections(counts))

        await self._in_place((str(pending.parsed.venue), pending.parsed.state_account), count,
                             f"storm:{pending.decision_id}")

    async def _in_place(self, key: tuple[str, str | None], attempt: Attempt,
                        what: str) -> None:
        """Write what a frame taught, after what came before it for its account, within the frame's deadline; what
        the store cannot take in time is kept to try again (`Settling.keep`), not lost."""
        try:
            await asyncio.wait_for(self._settled(*key), self.deadline_s)
            await asyncio.wait_for(attempt(), self.deadline_s)
        except (TimeoutError, StateUnavailable):
            if self._keep is None:
                raise
            self._keep(key, attempt, what)  # idempotent: one that did land meanwhile is learned once

    # ---- REST answers that concern sockets ---------------------------------------------------------------

    def rest_answer(self, venue: Venue, request: HttpRequest, status: int, body: bytes, account: str | None) -> None:
        """A listen key issued over REST (Binance): remember whose it is, for the stream opened with it."""
        reader: FrameReader | None = FRAMES.get(venue)
        issued = getattr(reader, "issued_listen_key", None)
        if issued is None or account is None:
            return
        key = issued(request, status, body)
        if key:
            self.listen_keys.remember(venue, key, account)

    # ---- plumbing ----------------------------------------------------------------------------------------

    def _forget(self, decision_id: str) -> None:
        self._release_later(decision_id, 0)

    def _release_later(self, decision_id: str, after_ms: int) -> None:
        store = self._store()
        if store is None:
            return

        async def release() -> None:
            with contextlib.suppress(Exception):
                await store.release(decision_id, after_ms=after_ms)

        task = asyncio.get_running_loop().create_task(release())
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)


def _unreadable_sent(session: Session, detail: str) -> None:
    """The bot sent `session` a message the sidecar cannot read as the venue would: it may have subscribed any
    account's listen key, so the stream is not read, now or after any later subscription."""
    session.unreadable_sent = True
    if session.private:
        _not_read(session, detail)


def _not_read(session: Session, detail: str) -> None:
    """The stream's events are not learned from now on, whatever it is subscribed to later
    (`SocketGate._stream_request`)."""
    session.account, session.private, session.unread = None, False, True
    with contextlib.suppress(Exception):
        log.warning("stream_not_read", venue=session.venue, endpoint=session.endpoint,
                    detail=detail + ": its events are not learned")


# tasks kept referenced until they finish (the event loop holds only weak references)
_BACKGROUND: set[asyncio.Task[None]] = set()


def _tokens(request: HttpRequest) -> list[str]:
    """Every string in a stream URL that could be a listen key: path segments and query values, split."""
    path, _, query = request.path.partition("?")
    tokens = [segment for segment in path.split("/") if segment]
    for _, value in parse_qsl(query, keep_blank_values=True):
        tokens += [part for piece in value.split("/") for part in piece.split(",") if part]
    return tokens
