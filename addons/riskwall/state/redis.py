"""Shared state in Redis: the store for several sidecars that trade one account (`redis://host:6379/0`).

The only module of riskwall that imports `redis`. Every write that decides something runs as a Lua script
(`state/lua/*.lua`), so it is atomic across every sidecar: loaded once as a function library and called with
FCALL (Redis 7+; the shared Lua is then defined once, not on every call, a third of a script's cost), or where
the server has no functions or the user's ACL refuses them, loaded with SCRIPT LOAD and called with EVALSHA;
either is loaded again when the server lost it (restart, failover, FLUSH). Each script reads the time from
Redis (`TIME`), never from a sidecar's clock. `reserve` is one round trip: one script checks every rate window,
every exposure limit, every duplicate fingerprint and every open-orders counter of the reservation and commits
all of it or nothing. `open_redis_store(url)` wraps the store
in `GuardedStore` (short timeouts, circuit breaker).

URLs: `redis://[[user]:password@]host[:port][/db]`, `rediss://…` (TLS), `unix:///path.sock?db=0`, and
`redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/service[/db]`. Query options read here
(the rest go to redis-py): `prefix` (key prefix, default `rw`), `reservation_ttl_ms` (default 600000, 0 = never),
and the breaker's `timeout_ms` (50), `failures` (3), `cooldown_ms` (500), `probe_timeout_ms` (1000).

Key layout. `{<venue>|<account>}` is a Redis Cluster hash tag: every key of one account lives in one slot,
and every account script touches only that slot (its keys are all declared in KEYS).

    rw:{<venue>|<account>}:pos      HASH    "<symbol>|<position side>" → position, signed base units
    rw:{<venue>|<account>}:pend     HASH    "<symbol>|<position side>|<side>" → pending exposure: the sum of the
                                            reservation legs and of the open orders that add exposure, kept
                                            in step with them by the same scripts (absent = 0)
    rw:{<venue>|<account>}:resv     HASH    reservation id → JSON {leg id: {k: "<symbol>|<position side>",
                                            s: side, q: quantity, kd: the kind of listing that shows its
                                            order, absent for "order", ...}}: legs not yet moved to a venue
                                            order (account.lua has every field)
    rw:{<venue>|<account>}:lapse    ZSET    reservation id, score = when its legs lapse (ms, Redis time);
                                            lapsed lazily by the next script that touches the account
    rw:{<venue>|<account>}:open     HASH    order id → JSON {sym, ps, s, c, kd, rem, exe, cid, t, u}: orders
                                            not final; c = 1 when the order adds exposure (not reduce-only), kd =
                                            kind ("order", "algo"), rem = remaining, exe = executed already
                                            applied, cid = the bot's client order id (absent when not known),
                                            t = when first learned (ms, Redis time; a listing asked before
                                            then does not end it), u = the earliest the venue can have reported
                                            exe (ms, the sidecar's clock less the margin; absent: not known)
    rw:{<venue>|<account>}:done     ZSET    order id, score = when it became final (ms): a replayed response
                                            changes nothing; trimmed after 24 h, key PEXPIRE 24 h
    rw:{<venue>|<account>}:seq      STRING  counter that makes every rate-window member unique
    rw:{<venue>|<account>}:cnt      HASH    "*" → the account's open orders, "s|<symbol>" → on one symbol: the
                                            orders in :open plus the reservation legs that open an order (n: 1),
                                            kept in step by the same scripts that move them (absent = 0), so
                                            the open-orders rule reads two numbers, never the orders
    rw:{<venue>|<account>}:day      HASH    daily-notional budget key ("<rule id>|<venue>|<account>[|<symbol>]")
                                            → "<UTC day>|<notional charged that day>" (another day's counts as
                                            0), moved by the scripts that move the legs and orders charged to
                                            it (their JSON carries b: budgets, p: price, d: day); PEXPIRE 2 days
    rw:{<venue>|<account>}:cid      HASH    client order id → order id: the open orders whose cid is known, kept
                                            in step with :open by the same scripts (an amend may name its
                                            order only by the bot's id); gone when the order is final
    rw:{<venue>|<account>}:mode     HASH    the venue's position-mode key (`ModeUpdate.key`, Bitget: product
                                            type) → "hedge" | "one-way", as last learned
    rw:{<venue>|<account>}:fill     HASH    "<symbol>|<position side>" → when a fill last moved that position
                                            (ms, Redis time): a position read asked before then does not
                                            replace it; "<symbol>|<position side>|read" → when a position read
                                            last set it ("*|read": an account-wide read): a fill reported past
                                            what the store knew of its order before then is held, not added
    rw:{<venue>|<account>}:held     ZSET    reservation id, score = the earliest a position read of its symbol
                                            can have been asked to end the wait for it (an order of unknown
                                            fate: 10 s after the hold began; a fill a read may hold: when it was
                                            learned); "?<reservation id>": likewise for an open-orders listing
                                            (an order of unknown fate may rest unfilled); the hold ends when it
                                            waits for neither
    rw:{<venue>|<account>}:gen      STRING  the account state's generation: a random token the first
                                            reservation for the account writes, never expired; each sidecar
                                            remembers the one it saw, and one that finds another or none knows
                                            the store lost the account's state (`StateLost`)
    rw:{<venue>|<account>}:rate:<rate key>:<window ms>
                                    ZSET    one member per admitted order, score = admission time (ms);
                                            trimmed to the window on every check, PEXPIRE = window; the
                                            rate key is the engine's "<rule id>|<venue>|<account>[|<symbol>]"
    rw:{<venue>|<account>}:dup:<rule id>|<order fingerprint>
                                    STRING  "<admission time ms>|<decision id>": the last order with that
                                            fingerprint the duplicate rule admitted; PX = the rule's window,
                                            so it is gone once the window has passed
    rw:{global}:prices              HASH    "<venue>|<symbol>" → "<kind>|<price>" (mark beats last)
    rw:{global}:lost                STRING  when a sidecar last found the store had lost an account's state
                                            (ms, Redis time); a sidecar that saw that account's :gen (or the
                                            fleet's generation) before then meets the same loss, already told:
                                            no second REDUCING
    rw:{global}:fleet               STRING  the store's generation: a random token the first reservation on an
                                            empty store writes (SET NX), never expired; every sidecar reads it
                                            with its views and reservations and remembers it, and one that
                                            finds another or none knows the store lost its data, the accounts
                                            it never reserved for included (a halted one: the halt is gone too)
    rw:{global}:holders             HASH    "<venue>|<key fingerprint>" → the label its state was last kept under
                                            there (keys a label listed): a policy that moves a key to another
                                            account is told once
    rw:{global}:states              HASH    scope text ("global", "venue=…[,account=…][,symbol=…]") → JSON
                                            {venue, account, symbol, state, reason, actor, at_ms}; a state a
                                            reject storm set: "<scope text>#<rule id>" → the same with until_ms
                                            and rule_id, ignored from until_ms on (Redis time) and deleted by
                                            the next reject count; a resume of the scope deletes both kinds
    rw:{global}:rejects:<rule id>|<venue>|<account>
                                    ZSET    orders the venue refused, one member "<decision id>:<leg>" each,
                                            score = when counted (ms); trimmed to the rule's window on every
                                            count, PEXPIRE = window, deleted when the storm trips. In the
                                            {global} slot with the states, so one script counts and trips
    rw:{global}:loss:<rule id>|<venue>|<account>
                                    HASH    a daily-loss rule's baseline: day (UTC day number, Redis time),
                                            base (the first equity seen that day), tripped (0/1: tripped that
                                            day, so a resume holds until midnight); PEXPIRE two days. In the
                                            {global} slot with the states, so one script measures and trips
    rw:rid:<reservation id>         STRING  "<venue>|<account>": where a reservation lives, for `release`;
                                            PX = reservation TTL, deleted on release

Amounts are exact. In Redis every quantity is canonical decimal text (`-12.5`, `0.000000000000000001`, no
exponent, no trailing zeros) with at most 18 fraction digits; the scripts add, subtract, multiply and compare
it with `lua/decimal.lua`, never with rounded Lua numbers or INCRBYFLOAT: an amount whose digits, without its
point, are a whole number below 2^53 is held as that number (a double holds it exactly) and its count of fraction
digits, and every result is checked to stay below 2^53; any other amount or result is fixed-point limbs of 7 digits.
Python hands over `Decimal`s as text: limits rounded down to 18 places (exact for the comparison, since
every other operand has at most 18 places), reserved quantities rounded up, learned amounts to nearest.
Prices are never computed on in Redis and keep the venue's exact text.

A reservation whose sidecar dies before `release` lapses after `reservation_ttl_ms` (MemoryStore has no
such need: its state dies with the sidecar). Everything Redis raises becomes `StateUnavailable`.

A store sends its commands on one connection of its own (`Link`): each call's commands are written at once and
its replies read back in order, calls made at the same time pipelined on the socket. redis-py connects it (URL,
TLS, AUTH, Sentinel) and parses the replies (hiredis); its per-call pipeline, pool checkout and retry wrapper,
which cost several times the round trip's own CPU, are not used for the store's commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from importlib import resources
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError, NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from riskwall.logs import get_logger
from riskwall.model import (
    KnownOrder,
    LossCheck,
    LossTrip,
    OrderUpdate,
    Pending,
    PositionSide,
    ReductionCheck,
    RejectCount,
    ResponseFacts,
    Side,
    StormTrip,
    TradingState,
    Venue,
    loss_reason,
    priced_symbol,
    storm_reason,
)
from riskwall.records import quick_init
from riskwall.state.base import (
    SETTLEMENT_WRITTEN,
    CheckResult,
    DuplicateCheck,
    ExposureCheck,
    HolderMove,
    PositionKey,
    RateCheck,
    Reservation,
    ReserveOutcome,
    StateLost,
    StateScope,
    StateStore,
    StateUnavailable,
    StateView,
    TradingStateRecord,
    ViewQuery,
    holder_changes,
    state_named,
)
from riskwall.state.breaker import BreakerConfig, GuardedStore
from riskwall.state.breaker import without_password as _safe
from riskwall.state.memory import DAY_MS, FINAL_ORDER_MEMORY_MS
from riskwall.venues.hosts import split_host_port

log = get_logger("riskwall.state")

DEFAULT_PREFIX = "rw"
DEFAULT_RESERVATION_TTL_MS = 600_000
# how far the wall clock that stamps when a read was asked (the sidecar's) and Redis's `TIME`, which stamps what the
# scripts learn, may differ (NTP keeps hosts within milliseconds): a fill or an order learned within this of a
# read's asking counts as possibly after it, so the read does not undo it (`PositionsReport.asked_ms`)
READ_CLOCK_MARGIN_MS = 250
# how long the largest lead of Redis's clock over this host's seen is kept (`RedisStore._saw_clock`)
CLOCK_LEAD_KEPT_MS = 10_000
# socket budgets for an unguarded store; GuardedStore's per-call timeout is the one that matters in service
SOCKET_TIMEOUT_S = 1.0
# where a Sentinel listens when its URL names no port
SENTINEL_PORT = 26379
# symbols whose last price read is remembered for planning without a read (cached_view)
PRICES_REMEMBERED = 10_000
# times a call loads its script and runs again when the server says it does not have it (each time nothing ran)
LOAD_ATTEMPTS = 3
# how many reservation → account mappings a store remembers locally (release then needs no lookup)
LOCAL_RESERVATIONS = 10_000

SCALE = 18
_QUANTUM = Decimal(1).scaleb(-SCALE)

# script name → the lua files it is made of, in order (the shared libraries first)
_SCRIPT_FILES: dict[str, tuple[str, ...]] = {
    "reserve": ("decimal", "account", "reserve"),
    "learn": ("decimal", "account", "learn"),
    "release": ("decimal", "account", "release"),
    "exposure": ("decimal", "account", "exposure"),
    "price": ("price",),
    "state": ("states", "state"),
    "reject": ("states", "reject"),
    "loss": ("decimal", "states", "loss"),
    "clients": ("clients",),
}


# ---- decimals ------------------------------------------------------------------------------------------


def to_fixed(value: Decimal, rounding: str = ROUND_HALF_EVEN) -> str:
    """`value` as decimal text with at most 18 fraction digits, rounded with `rounding` only if it has more."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"amount {value!r} is not a finite Decimal")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < -SCALE:
        with localcontext() as ctx:
            ctx.prec = max(value.adjusted(), 0) + SCALE + 2
            value = value.quantize(_QUANTUM, rounding=rounding)
    return format(value, "f")


def from_fixed(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise StateUnavailable(f"state store holds {text!r} where an amount belongs") from None


def load_lua(name: str) -> str:
    """The text of `state/lua/<name>.lua`."""
    return resources.files("riskwall.state").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


# scripts that only read: registered `no-writes`, so they run where writes are refused (a replica, an OOM server)
_READ_ONLY_SCRIPTS = frozenset({"clients"})


@dataclass(frozen=True, slots=True)
class _Script:
    """One script, in the two forms a server can run it: a function library (Redis 7+: `FUNCTION LOAD` once,
    `FCALL` per call, so the shared Lua is compiled and its functions defined once, not on every call) and the
    same text as a script (`EVALSHA`: servers without functions, or users whose ACL refuses them).

    The shared files bind what changes per call in their `begin_<file>()` (account.lua its keys; decimal.lua
    bounds its parse cache), which both forms call first; the script file itself becomes the body of `main`.
    The library and its function are named after the text's digest, so sidecars of different versions sharing a
    server each call their own."""

    name: str
    source: str
    sha: str
    library: str
    function: str

    @classmethod
    def load(cls, name: str) -> _Script:
        *shared, own = (load_lua(part) for part in _SCRIPT_FILES[name])
        begin = "".join(f"  begin_{part}()\n" for part, text in zip(_SCRIPT_FILES[name], shared, strict=False)
                        if f"local function begin_{part}()" in text)
        body = "\n".join([*shared, f"local function main()\n{own}\nend\n"])
        source = f"local KEYS, ARGV = KEYS, ARGV\n{body}{begin}return main()\n"
        sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        function = f"riskwall_{name}_{sha[:16]}"
        flags = "{'no-writes'}" if name in _READ_ONLY_SCRIPTS else "{}"
        library = (f"#!lua name={function}\nlocal KEYS, ARGV\n{body}"
                   f"redis.register_function{{function_name = '{function}', flags = {flags},\n"
                   f"  callback = function(keys, args)\n  KEYS, ARGV = keys, args\n{begin}  return main()\nend}}\n")
        return cls(name, source, sha, library, function)


@quick_init
@dataclass(frozen=True, slots=True)
class _Call:
    script: str
    keys: Sequence[str]
    args: Sequence[str | int]


# ---- keys ----------------------------------------------------------------------------------------------


class KeyLayout:
    """Builds every key the store uses (the layout is drawn in the module docstring)."""

    ACCOUNT_KEYS = ("pos", "pend", "resv", "lapse", "open", "done", "seq", "cnt", "day", "cid", "mode", "fill",
                    "held", "gen")

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.prices = f"{prefix}:{{global}}:prices"
        self.states = f"{prefix}:{{global}}:states"
        self.lost = f"{prefix}:{{global}}:lost"
        self.fleet = f"{prefix}:{{global}}:fleet"
        self.holders = f"{prefix}:{{global}}:holders"

    def account_base(self, venue: str, account: str) -> str:
        return f"{self.prefix}:{{{venue}|{account}}}"

    def account(self, venue: str, account: str) -> list[str]:
        base = self.account_base(venue, account)
        return [f"{base}:{name}" for name in self.ACCOUNT_KEYS]

    def rate(self, venue: str, account: str, check: RateCheck) -> str:
        # one counter per (key, window), as in MemoryStore; the engine puts the rule id in the key
        return f"{self.account_base(venue, account)}:rate:{check.key}:{check.window_ms}"

    def duplicate(self, check: DuplicateCheck) -> str:
        return f"{self.account_base(check.venue, check.account)}:dup:{check.rule_id}|{check.fingerprint}"

    def reservation(self, reservation_id: str) -> str:
        return f"{self.prefix}:rid:{reservation_id}"

    def rejects(self, count: RejectCount) -> str:
        return f"{self.prefix}:{{global}}:rejects:{count.key}"

    def loss(self, key: str) -> str:
        """A daily-loss rule's baseline for one account (`LossCheck.key`)."""
        return f"{self.prefix}:{{global}}:loss:{key}"


def account_of(reservation: Reservation) -> tuple[str, str]:
    """The one (venue, account) a reservation belongs to. The engine builds one per request, so one account;
    rate keys are "<rule id>|<venue>|<account>[|<symbol>]" (without the rule id is understood too)."""
    owners = {(str(c.position.venue), c.position.account) for c in reservation.exposure}
    owners |= {(str(c.position.venue), c.position.account) for c in reservation.reductions}
    owners |= {(str(p.position.venue), p.position.account) for p in reservation.pending}
    owners |= {_rate_owner(check) for check in reservation.rate}
    owners |= {(str(check.venue), check.account) for check in reservation.duplicates}
    owners |= {(str(check.venue), check.account) for check in reservation.open_orders}
    owners |= {(str(check.venue), check.account) for check in reservation.notional}
    owners |= {(str(check.venue), check.account) for check in reservation.gross}
    if len(owners) != 1:
        raise ValueError(f"reservation {reservation.id} must concern exactly one account, not {sorted(owners)}")
    return owners.pop()


# the venues' names as rate keys write them (asked on every order: built once)
_VENUE_NAMES = frozenset(str(v) for v in Venue)


def _rate_owner(check: RateCheck) -> tuple[str, str]:
    for key in (check.key.removeprefix(f"{check.rule_id}|"), check.key):
        parts = key.split("|", 2)
        if len(parts) >= 2 and parts[0] in _VENUE_NAMES and parts[1]:
            return parts[0], parts[1]
    raise ValueError(f"rate key {check.key!r} does not name a venue and an account")


# ---- options -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RedisOptions:
    prefix: str = DEFAULT_PREFIX
    reservation_ttl_ms: int = DEFAULT_RESERVATION_TTL_MS


_INT_OPTIONS = {"reservation_ttl_ms": 0, "timeout_ms": 1, "failures": 1, "cooldown_ms": 0, "probe_timeout_ms": 1}


def parse_url(url: str) -> tuple[str, RedisOptions, BreakerConfig]:
    """Split riskwall's own query options off a store URL: (URL for redis-py, store options, breaker config)."""
    from riskwall.state import REDIS_SCHEMES, UnsupportedStateUrl

    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise UnsupportedStateUrl(f"state URL {_safe(url)!r}: {exc}") from None
    if parts.scheme not in REDIS_SCHEMES:
        raise UnsupportedStateUrl(f"state URL {_safe(url)!r}: not a Redis URL")
    database = parts.path.strip("/")
    if parts.scheme in ("redis", "rediss") and database and not database.isdigit():
        # redis-py would silently use database 0
        raise UnsupportedStateUrl(f"state URL {_safe(url)!r}: the path must be a database number, not {database!r}")
    ours: dict[str, int | str] = {}
    rest: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            if not value or any(c in value for c in "{}: "):
                raise UnsupportedStateUrl(
                    f"state URL {_safe(url)!r}: prefix must be non-empty, without {{}}: or spaces"
                )
            ours[name] = value
        elif name in _INT_OPTIONS:
            if not value.isdigit() or int(value) < _INT_OPTIONS[name]:
                raise UnsupportedStateUrl(
                    f"state URL {_safe(url)!r}: {name} must be a whole number ≥ {_INT_OPTIONS[name]}, not {value!r}"
                )
            ours[name] = int(value)
        else:
            rest.append((name, value))
    options = RedisOptions(
        prefix=str(ours.get("prefix", DEFAULT_PREFIX)),
        reservation_ttl_ms=int(ours.get("reservation_ttl_ms", DEFAULT_RESERVATION_TTL_MS)),
    )
    defaults = BreakerConfig()
    breaker = BreakerConfig(
        timeout_ms=int(ours.get("timeout_ms", defaults.timeout_ms)),
        failures=int(ours.get("failures", defaults.failures)),
        cooldown_ms=int(ours.get("cooldown_ms", defaults.cooldown_ms)),
        probe_timeout_ms=int(ours.get("probe_timeout_ms", defaults.probe_timeout_ms)),
    )
    base = url.split("?", 1)[0]  # not urlunsplit: it would turn unix:///path into unix:/path
    return (f"{base}?{urlencode(rest)}" if rest else base), options, breaker


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None
    query: dict[str, str]


def parse_sentinel_url(url: str) -> SentinelTarget:
    """`redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/service[/db][?socket_timeout=…]`."""
    from riskwall.state import UnsupportedStateUrl

    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket
        raise UnsupportedStateUrl(f"state URL {_safe(url)!r}: a sentinel is not host[:port]") from None
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        try:
            host, port = split_host_port(item.strip())
        except ValueError:
            host, port = "", None
        if not host or item.strip().endswith(":") or (port is not None and not 0 < port <= 65535):
            raise UnsupportedStateUrl(f"state URL {_safe(url)!r}: sentinel {item!r} is not host[:port]")
        sentinels.append((host, SENTINEL_PORT if port is None else port))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise UnsupportedStateUrl(f"state URL {_safe(url)!r}: the path must be /service[/db]")
    return SentinelTarget(
        tuple(sentinels), unquote(path[0]), int(path[1]) if len(path) == 2 else 0,
        unquote(username) or None, unquote(password) or None, dict(parse_qsl(parts.query)),
    )


def _client_kwargs() -> dict[str, Any]:
    return {
        "decode_responses": True,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SOCKET_TIMEOUT_S,
        # no retries: a retried EVALSHA could run twice, and the breaker decides what happens next
        "retry": Retry(NoBackoff(), 0),
    }


def make_client(url: str) -> aioredis.Redis:
    """A redis-py asyncio client for a store URL (riskwall's own options already removed)."""
    if url.startswith("redis+sentinel://"):
        target = parse_sentinel_url(url)
        unknown = set(target.query) - {"socket_timeout", "socket_connect_timeout"}
        if unknown:
            raise ValueError(f"a Sentinel URL takes socket_timeout and socket_connect_timeout, not {sorted(unknown)}")
        timeouts = {k: float(v) for k, v in target.query.items()}
        sentinel = Sentinel(
            list(target.sentinels),
            sentinel_kwargs={"socket_timeout": SOCKET_TIMEOUT_S, "socket_connect_timeout": SOCKET_TIMEOUT_S},
            **(_client_kwargs() | timeouts),
        )
        client: aioredis.Redis = sentinel.master_for(
            target.service, db=target.db, username=target.username, password=target.password
        )
        return client
    return aioredis.Redis.from_url(url, **_client_kwargs())


def throwaway_url(url: str) -> str:
    """The Redis store `url` names, under a key prefix of its own instead of the URL's (`?prefix=`): a store for one
    run (`riskwall policy bench`), dropped after it with `drop_throwaway_store`."""
    parse_url(url)  # a Redis URL, with sound options
    base, _, query = url.partition("?")  # not urlunsplit: it would turn unix:///path into unix:/path
    kept = [(name, value) for name, value in parse_qsl(query, keep_blank_values=True) if name != "prefix"]
    return f"{base}?{urlencode([*kept, ('prefix', f'riskwall-throwaway-{secrets.token_hex(6)}')])}"


async def drop_throwaway_store(url: str) -> None:
    """Delete every key of the store `url` names, all under its `prefix`: only for a store made for one run
    (`riskwall policy bench`), so the default prefix, a sidecar's, is refused. A server that stopped answering
    keeps what it has of them."""
    redis_url, options, _ = parse_url(url)
    if options.prefix == DEFAULT_PREFIX:
        raise ValueError("a store under the default prefix is a sidecar's: never dropped")
    client = make_client(redis_url)
    with contextlib.suppress(RedisError, OSError):
        batch: list[Any] = []
        async for key in client.scan_iter(match=f"{options.prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                await client.unlink(*batch)
                batch = []
        if batch:
            await client.unlink(*batch)
    with contextlib.suppress(RedisError, OSError):
        await client.aclose()


def open_redis_store(url: str) -> GuardedStore:
    """The store `open_store` returns for a Redis URL: a RedisStore behind timeouts and a circuit breaker."""
    from riskwall.state import UnsupportedStateUrl

    redis_url, options, breaker = parse_url(url)
    try:
        client = make_client(redis_url)
    except UnsupportedStateUrl:
        raise
    except ValueError as exc:  # redis-py's own URL parsing
        raise UnsupportedStateUrl(f"state URL {_safe(url)!r}: {exc}") from None
    return GuardedStore(RedisStore(client, url=url, options=options), breaker)


# how often a store reads the server's eviction policy again (seconds): `RedisStore._eviction_due`
EVICTION_CHECK_S = 60.0


# ---- the wire ------------------------------------------------------------------------------------------


class Commands:
    """Plain commands for one round trip, in order (what the store used redis-py's Pipeline for): the few the
    store sends besides its scripts, with redis-py's argument order, and no reply callbacks (replies come raw:
    TIME as two numbers in text, HGETALL as a flat list or, on RESP3, a map; the decoders take both)."""

    __slots__ = ("commands",)

    def __init__(self) -> None:
        self.commands: list[tuple[str | int, ...]] = []

    def set(self, name: str, value: str, px: int | None = None, *, nx: bool = False) -> None:
        command: tuple[str | int, ...] = ("SET", name, value) if px is None else ("SET", name, value, "PX", px)
        self.commands.append((*command, "NX") if nx else command)

    def get(self, name: str) -> None:
        self.commands.append(("GET", name))

    def delete(self, *names: str) -> None:
        self.commands.append(("DEL", *names))

    def hget(self, name: str, key: str) -> None:
        self.commands.append(("HGET", name, key))

    def hgetall(self, name: str) -> None:
        self.commands.append(("HGETALL", name))

    def hmget(self, name: str, keys: Sequence[str]) -> None:
        self.commands.append(("HMGET", name, *keys))

    def time(self) -> None:
        self.commands.append(("TIME",))


# the closures that add plain commands to a script's round trip were written against redis-py's Pipeline
Pipeline = Commands


class Link:
    """The store's own connection to Redis, shared by every call: each call writes its commands at once and
    gets its replies back in order, so calls made at the same time are pipelined on one socket instead of each
    taking a connection from redis-py's pool (and a pipeline object, a retry wrapper and reply callbacks).

    One connection from the client's pool (so AUTH, SELECT, TLS and Sentinel work as the client configures
    them) is held for as long as it works. Redis answers a connection's commands in the order sent, and the
    calls wait in that order: one reader takes the replies off the socket and hands each call its own, so a
    reply is never read as the answer to another call, even when that call gave up waiting (a timeout): its
    replies are read and dropped. Any failure on the socket (closed, reset, no reply within the client's
    socket timeout, an unreadable reply) fails every call still waiting on it with redis-py's own exception and
    drops the connection; the next call connects again. An error reply (NOSCRIPT, a script error) is handed
    to its call as the exception, in its place among the replies: the connection stays good.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self._pool: Any = client.connection_pool
        self._wire: _Wire | None = None
        self._connecting: asyncio.Lock | None = None

    async def send(self, commands: Sequence[tuple[str | int, ...]],
                   written: Callable[[], None] | None = None) -> list[Any]:
        """Every command's reply, in order; an error reply is its exception (ResponseError), not raised.

        `written` is called once the commands are on the socket, ahead of any sent later, and will run as sent:
        not when a script among them has not answered on this connection yet (a new connection, a new riskwall
        version's first call, a server that lost its script cache). Such a call may be refused as not loaded and
        sent again after the script is loaded, behind whatever was sent meanwhile; the caller waits for its
        replies instead."""
        wire = self._wire
        if wire is None or not wire.usable:
            wire = await self._connect()
        scripts = [(number, str(command[1])) for number, command in enumerate(commands)
                   if command[0] in _SCRIPT_COMMANDS]
        if written is not None and not all(name in wire.ran for _, name in scripts):
            written = None
        packed = b"".join([_pack(command) for command in commands])
        return await wire.send(packed, len(commands), written, scripts)

    async def close(self) -> None:
        wire, self._wire = self._wire, None
        if wire is not None:
            await wire.close(self._pool)

    async def _connect(self) -> _Wire:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            wire = self._wire
            if wire is not None and wire.usable:
                return wire
            self._wire = None
            if wire is not None:  # dropped: back to the pool, which connects it again when it is next taken
                await wire.close(self._pool)
            try:
                connection = await self._pool.get_connection()
            except TypeError:  # redis-py before 5.3 wants a command name (ignored by the pool)
                connection = await self._pool.get_connection("EVALSHA")
            self._wire = _Wire(connection)
            return self._wire


# bytes a Link writes ahead of the socket without waiting for it to take them (asyncio's default high-water mark)
_WRITE_AHEAD = 64 * 1024

# the commands that run a script, named by their second word (a function's name, a script's digest)
_SCRIPT_COMMANDS = frozenset({"FCALL", "EVALSHA"})

# hiredis packs every argument as redis-py's encoder would: text as UTF-8, whole numbers in decimal
_pack: Callable[[tuple[str | int, ...]], bytes] = hiredis.pack_command  # type: ignore[assignment]


class _Wire:
    """One connection of a Link, and the calls waiting for its replies, in the order their commands went out."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.broken = False
        # (number of replies, the call's future, its script calls: their places and names), in the order written
        self._waiting: deque[tuple[int, asyncio.Future[list[Any]], Sequence[tuple[int, str]]]] = deque()
        # the scripts (function names, digests) that answered on this connection: the server has them, unless
        # someone removes them meanwhile (FUNCTION FLUSH or DELETE, SCRIPT FLUSH: README, "Operations")
        self.ran: set[str] = set()
        self._reader: asyncio.Task[None] | None = None

    @property
    def usable(self) -> bool:
        """Not failed, connected, and not closed by the server meanwhile: an idle connection the server dropped
        (a restart, its idle timeout) is replaced before anything is written to it, as redis-py's pool does."""
        if self.broken or not self.connection.is_connected:
            return False
        stream = getattr(self.connection, "_reader", None)  # redis-py's StreamReader, fed EOF by the loop
        return stream is None or not stream.at_eof()

    async def send(self, packed: bytes, count: int, written: Callable[[], None] | None = None,
                   scripts: Sequence[tuple[int, str]] = ()) -> list[Any]:
        replies: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting.append((count, replies, scripts))
        try:
            writer = getattr(self.connection, "_writer", None)  # redis-py's StreamWriter for the socket
            if writer is not None and writer.transport.get_write_buffer_size() + len(packed) <= _WRITE_AHEAD:
                # straight to the transport, in order, with no await: what send_packed_command does without its
                # per-call timeout and drain, which only matter when the socket cannot take the bytes (below)
                writer.write(packed)
            else:
                # redis-py hands the bytes to the transport before its first suspension, so the order of the
                # bytes on the socket is still the order of `_waiting`; it then waits (at most its socket
                # timeout) until the socket takes them
                await self.connection.send_packed_command(packed, check_health=False)
        except BaseException as exc:
            if isinstance(exc, Exception) and not isinstance(exc, RedisError | OSError):
                # a transport closed under the write (uvloop raises RuntimeError there): the connection failed,
                # as any other drop does, so the caller's work is kept and tried again, not dropped as a bug
                error: Exception = RedisConnectionError(f"write failed: {type(exc).__name__}: {exc}")
                self._failed_write(replies, error)
                raise error from exc
            self._failed_write(replies, exc if isinstance(exc, Exception) else RedisConnectionError("write "
                                                                                                     "interrupted"))
            raise
        if self._reader is None and not self.broken:
            self._reader = asyncio.get_running_loop().create_task(self._read())
        if written is not None and not self.broken:
            written()
        return await replies

    async def close(self, pool: Any) -> None:
        self._break(RedisConnectionError("connection closed"))
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        with contextlib.suppress(Exception):
            await self.connection.disconnect()
        with contextlib.suppress(Exception):
            await pool.release(self.connection)

    async def _read(self) -> None:
        """Replies, in order, to the calls waiting, until none waits; the next call starts a reader again."""
        connection = self.connection
        # the client's socket timeout, once per call's replies rather than once per reply: none of them may take
        # longer than that, as with redis-py's own reads (the caller's own, shorter, budget is GuardedStore's)
        budget = connection.socket_timeout
        try:
            while self._waiting and not self.broken:
                count, replies, scripts = self._waiting[0]
                read: list[Any] = []
                async with asyncio.timeout(budget):
                    for _ in range(count):
                        try:
                            read.append(await connection.read_response(timeout=math.inf))
                        except ResponseError as exc:
                            read.append(exc)
                self._waiting.popleft()
                for number, name in scripts:
                    if not isinstance(read[number], Exception):
                        self.ran.add(name)  # only an answer proves it: BUSY or NOPERM come before the lookup
                    elif _not_loaded(read[number]):
                        self.ran.discard(name)
                if not replies.done():
                    replies.set_result(read)
        except TimeoutError:  # redis-py has closed the connection (the read was cancelled)
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
            self._break(RedisTimeoutError("Timeout reading from the Redis server"))
        except Exception as exc:  # redis-py has closed the connection already
            self._break(exc)
        finally:
            if self._reader is asyncio.current_task():
                self._reader = None

    def _failed_write(self, replies: asyncio.Future[list[Any]], error: Exception) -> None:
        """The write of the call whose replies are `replies` failed: the connection is broken, and the call raises
        `error` itself, so its own future's copy is marked seen (else asyncio logs it as never retrieved)."""
        self._break(error)
        if replies.done() and not replies.cancelled():
            replies.exception()

    def _break(self, error: Exception) -> None:
        """The socket failed (or is closed): every call waiting on it fails; the Link takes another."""
        self.broken = True
        waiting, self._waiting = self._waiting, deque()
        for _, replies, _ in waiting:
            if not replies.done():
                replies.set_exception(error)


# ---- the store -----------------------------------------------------------------------------------------


class RedisStore(StateStore):
    def __init__(self, client: aioredis.Redis, *, url: str = "redis://", options: RedisOptions | None = None) -> None:
        self.url = url
        self.options = options or RedisOptions()
        self.keys = KeyLayout(self.options.prefix)
        self._client = client
        self._link = Link(client)  # every command of the store's own goes on it
        self._scripts = {name: _Script.load(name) for name in _SCRIPT_FILES}
        # scripts run as functions (FCALL) until the server shows it has none (Redis < 7) or may not load them (ACL)
        self._functions = True
        self._owners: OrderedDict[str, str] = OrderedDict()  # reservation id -> "<venue>|<account>"
        # what the last reads showed, for `cached_view`: the trading states, and each symbol's price (None: none
        # known). A plan made on them is reserved with `reserve_seen`, which reads both again in its round trip
        self._states_seen: tuple[TradingStateRecord, ...] | None = None
        self._prices_seen: OrderedDict[tuple[Venue, str], Decimal | None] = OrderedDict()
        # daily-loss rule keys with an equity reading seen, and the UTC day it was seen on (bounded by the policy's
        # daily-loss rules × the accounts this sidecar trades)
        self._equity_days: dict[str, int] = {}
        # how far Redis's clock is ahead of this host's at least (ms; negative: behind), from the last reply that
        # carried Redis's time: a read's asking, stamped by this host's clock, is moved onto Redis's, which stamps
        # what the scripts learn (`_redis_ms`)
        self._clock_lead_ms: int | None = None  # None: no reply has told it yet (`_clock_known`)
        self._clock_lead_at = 0  # this host's time when that lead was measured (`_saw_clock`)
        # each account's state generation as this sidecar's last reservation for it found it (`:gen`), and when
        # (Redis's clock, ms)
        self._generations: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        # the store's generation (`{global}:fleet`) as this sidecar last read it, and when (Redis's clock, ms); None
        # until a view or reservation read one
        self._fleet: tuple[str, int] | None = None
        # the server's eviction policy where it may evict this store's keys (`_refuse_if_evicting`), and when to read
        # it again (monotonic seconds)
        self._evicting: str | None = None
        self._eviction_next_read = 0.0

    # -- StateStore ----------------------------------------------------------------------------------

    async def view(self, query: ViewQuery) -> StateView:
        if not self._eviction_due():  # (else this view reads the policy again)
            self._refuse_if_evicting()
        if query.whole_account and query.account is not None:
            # a gross exposure rule values every position of the account: first learn which symbols it holds or
            # has pending (one more round trip, only under such a rule), then read them as the request's own
            base = self.keys.account(query.venue, query.account)
            pipe = Commands()
            pipe.hgetall(base[KeyLayout.ACCOUNT_KEYS.index("pos")])
            pipe.hgetall(base[KeyLayout.ACCOUNT_KEYS.index("pend")])
            for venue in query.other_venues:  # and on its other venues, in the same round trip
                other = self.keys.account(venue, query.account)
                pipe.hgetall(other[KeyLayout.ACCOUNT_KEYS.index("pos")])
                pipe.hgetall(other[KeyLayout.ACCOUNT_KEYS.index("pend")])
            async with self._guard():
                held, pending_sums, *others = await self._send(*pipe.commands)
            symbols = [field.rsplit("|", 1)[0] for field in _pairs(held)]
            symbols += [field.removesuffix("|r").rsplit("|", 2)[0] for field in _pairs(pending_sums)]
            elsewhere = await self._other_venues(query, others) if query.other_venues else StateView()
            query = dataclasses.replace(query, symbols=tuple(dict.fromkeys((*query.symbols, *symbols))),
                                        whole_account=False, other_venues=())
            view = await self.view(query)
            return dataclasses.replace(view, positions={**view.positions, **elsewhere.positions},
                                       pending={**view.pending, **elsewhere.pending},
                                       prices={**view.prices, **elsewhere.prices})
        environment = query.environment  # a testnet's or demo's prices are kept under their own names
        price_fields = [f"{query.venue}|{priced_symbol(s, environment)}" for s in query.symbols]
        account = query.account
        position_keys = [] if account is None else [
            PositionKey(query.venue, account, s, side) for s in query.symbols for side in PositionSide
        ]
        base = self.keys.account(query.venue, account) if account is not None else []
        order_ids = list(query.order_ids) if account is not None else []
        client_ids = list(query.client_ids) if account is not None else []
        mode_keys = list(query.mode_keys) if account is not None else []
        pending_fields = [f"{k.symbol}|{k.position_side}|{side}{kind}" for k in position_keys for side in Side
                          for kind in ("", "|r")]
        pipe = Commands()
        clients = None
        if client_ids:
            # an amend that names its order only by the bot's id: the name's order and its record, read by a script
            # in the same round trip (two lookups, the second keyed by the first's answer)
            clients = _Call("clients", [base[KeyLayout.ACCOUNT_KEYS.index("cid")],
                                        base[KeyLayout.ACCOUNT_KEYS.index("open")]], client_ids)
            pipe.commands.append(self._command(clients))
        pipe.hgetall(self.keys.states)
        pipe.time()  # the states a storm set end by Redis's clock
        if price_fields:
            pipe.hmget(self.keys.prices, price_fields)
        if position_keys:
            pipe.hmget(base[KeyLayout.ACCOUNT_KEYS.index("pos")],
                       [f"{k.symbol}|{k.position_side}" for k in position_keys])
        if order_ids:
            pipe.hmget(base[KeyLayout.ACCOUNT_KEYS.index("open")], order_ids)
        if pending_fields:
            pipe.hmget(base[KeyLayout.ACCOUNT_KEYS.index("pend")], pending_fields)
        if mode_keys:
            pipe.hmget(base[KeyLayout.ACCOUNT_KEYS.index("mode")], mode_keys)
        for loss_key in query.loss_keys:  # the day of each daily-loss baseline: is there a reading today?
            pipe.hget(self.keys.loss(loss_key), "day")
        pipe.get(self.keys.fleet)
        checks_eviction = self._eviction_due()
        if checks_eviction:
            pipe.commands.append(("INFO", "memory"))
        async with self._guard():
            replies = await self._link.send(pipe.commands)
            received_ms = time.time_ns() // 1_000_000
            if checks_eviction:
                self._saw_eviction_policy(replies.pop())
                self._refuse_if_evicting()
            named: Any = None
            if clients is not None:
                named = replies.pop(0)
                if _not_loaded(named):  # the server lost its scripts: load them and read again
                    named = await self._eval(clients)
            for reply in (named, *replies):
                if isinstance(reply, Exception):
                    raise reply
        fleet = replies.pop()
        baseline_days = [replies.pop() for _ in query.loss_keys][::-1]
        modes: dict[str, str] = {}
        if mode_keys:
            modes = {key: str(mode) for key, mode in zip(mode_keys, replies.pop(), strict=True) if mode is not None}
        now = _time_ms(replies.pop(1))
        self._saw_clock(now, received_ms)
        if fleet is not None and (self._fleet is None or self._fleet[0] == str(fleet)):
            # (one that differs is the reservation's to judge: it reads the generation again as it commits)
            self._fleet = (str(fleet), now)
        equity_seen = frozenset(loss_key for loss_key, day in zip(query.loss_keys, baseline_days, strict=True)
                                if day is not None and str(day).isdigit() and int(day) == now // DAY_MS)
        for loss_key in equity_seen:
            self._equity_days[loss_key] = now // DAY_MS
        pending: dict[tuple[PositionKey, Side], Pending] = {}
        if pending_fields:
            sums = iter(replies.pop())
            for key in position_keys:
                for side in Side:
                    adding, reducing = next(sums), next(sums)
                    if adding is not None or reducing is not None:
                        pending[(key, side)] = Pending(from_fixed(adding or "0"), from_fixed(reducing or "0"))
        orders: dict[str, KnownOrder] = {}
        remaining: dict[str, Decimal] = {}
        if order_ids:
            for order_id, raw in zip(order_ids, replies.pop(), strict=True):
                if raw is not None:
                    orders[order_id], remaining[order_id] = _known(order_id, str(raw))
        by_client: dict[str, KnownOrder] = {}
        if clients is not None:
            for number, client_id in enumerate(client_ids):
                order_id, raw = str(named[2 * number]), str(named[2 * number + 1])
                if order_id and raw:
                    by_client[client_id], remaining[order_id] = _known(order_id, raw)
        states = self._decode_states(_pairs(replies[0]), now)
        self._states_seen = states
        prices: dict[tuple[Venue, str], Decimal] = {}
        if price_fields:
            prices = self._saw_prices(query.venue, query.symbols, replies[1], environment)
        positions: dict[PositionKey, Decimal] = {}
        if position_keys:
            for key, raw in zip(position_keys, replies[-1], strict=True):
                if raw is not None:
                    positions[key] = from_fixed(raw)
        return StateView(states, positions, prices, orders, pending, remaining, equity_seen, by_client, modes,
                         environment)

    async def _other_venues(self, query: ViewQuery, replies: list[Any]) -> StateView:
        """The account's positions, pending sums (`replies`: HGETALL of `:pos` and `:pend` per other venue) and
        their prices (one round trip) on `query.other_venues`, for a gross exposure rule that sums every venue the
        account trades."""
        assert query.account is not None
        positions: dict[PositionKey, Decimal] = {}
        pending: dict[tuple[PositionKey, Side], Pending] = {}
        fields: list[str] = []
        for number, venue in enumerate(query.other_venues):
            for field, value in _pairs(replies[2 * number]).items():
                symbol, _, position_side = field.rpartition("|")
                positions[PositionKey(venue, query.account, symbol, PositionSide(position_side))] = from_fixed(value)
                fields.append(f"{venue}|{priced_symbol(symbol, query.environment)}")
            sums = _pairs(replies[2 * number + 1])
            for field, value in sums.items():
                reducing = field.endswith("|r")
                symbol, position_side, side = field.removesuffix("|r").rsplit("|", 2)
                key = (PositionKey(venue, query.account, symbol, PositionSide(position_side)), Side(side))
                found = pending.get(key, Pending())
                pending[key] = (Pending(found.adding, from_fixed(value)) if reducing
                                else Pending(from_fixed(value), found.reducing))
                fields.append(f"{venue}|{priced_symbol(symbol, query.environment)}")
        prices: dict[tuple[Venue, str], Decimal] = {}
        if fields:
            fields = list(dict.fromkeys(fields))
            async with self._guard():
                (raw,) = await self._send(("HMGET", self.keys.prices, *fields))
            for field, text in zip(fields, raw, strict=True):
                if text is not None:
                    venue_text, _, symbol = field.partition("|")
                    symbol = symbol.removesuffix(f"@{query.environment}") if query.environment else symbol
                    prices[(Venue(venue_text), symbol)] = from_fixed(str(text).partition("|")[2])
        return StateView(positions=positions, pending=pending, prices=prices)

    def cached_view(self, query: ViewQuery) -> StateView | None:
        environment = query.environment
        if self._states_seen is None or any((query.venue, priced_symbol(s, environment)) not in self._prices_seen
                                            for s in query.symbols):
            return None
        if query.loss_keys:
            # a reading seen today stays seen until midnight; before one is seen (or on a new day), read the store
            today = time.time_ns() // 1_000_000 // DAY_MS
            if any(self._equity_days.get(key) != today for key in query.loss_keys):
                return None
        prices = {(query.venue, s): p for s in query.symbols
                  if (p := self._prices_seen[(query.venue, priced_symbol(s, environment))]) is not None}
        return StateView(self._states_seen, prices=prices, equity_seen=frozenset(query.loss_keys),
                         environment=environment)

    async def reserve_seen(self, reservation: Reservation, seen: StateView) -> tuple[ReserveOutcome, bool]:
        if reservation.empty:
            return ReserveOutcome(True, ()), True
        venue_account = account_of(reservation)
        venue = venue_account[0]
        symbols = sorted({check.position.symbol for check in reservation.exposure}
                         | {leg.position.symbol for leg in reservation.pending})

        def reread(pipe: Pipeline) -> None:
            # the states (and prices) the plan used, read again in the same round trip as the reservation
            pipe.hgetall(self.keys.states)
            if symbols:
                pipe.hmget(self.keys.prices, [f"{venue}|{priced_symbol(s, seen.environment)}" for s in symbols])
            pipe.time()

        outcome, extra = await self._reserve(reservation, reread, venue_account)
        states = self._decode_states(_pairs(extra[0]), _time_ms(extra[-1]))
        self._states_seen = states
        same = set(states) == set(seen.trading_states)
        if symbols:
            # a price another sidecar learned since (a market order's notional, the collar's reference) is as much a
            # reason to plan again as a state: the plan measured what the cache held
            now = self._saw_prices(Venue(venue), tuple(symbols), extra[1], seen.environment)
            same = same and all(now.get((Venue(venue), s)) == seen.prices.get((Venue(venue), s)) for s in symbols)
        return outcome, same

    async def reserve(self, reservation: Reservation) -> ReserveOutcome:
        if reservation.empty:
            return ReserveOutcome(True, ())
        outcome, _ = await self._reserve(reservation, None, account_of(reservation))
        return outcome

    async def _reserve(self, reservation: Reservation, also: Callable[[Pipeline], None] | None,
                       venue_account: tuple[str, str]) -> tuple[ReserveOutcome, list[Any]]:
        """`venue_account` is `account_of(reservation)`, which the caller has read already."""
        checks_eviction = self._eviction_due()
        if not checks_eviction:
            self._refuse_if_evicting()
        venue, account = venue_account
        keys = self.keys.account(venue, account) + [self.keys.rate(venue, account, c) for c in reservation.rate]
        keys += [self.keys.duplicate(check) for check in reservation.duplicates]
        for gross in reservation.gross:  # the account on its other venues, read by the gross sum
            for other in gross.others:
                base = self.keys.account(other, account)
                keys += [base[KeyLayout.ACCOUNT_KEYS.index("pos")], base[KeyLayout.ACCOUNT_KEYS.index("pend")]]
        args: list[str | int] = [
            reservation.id, self.options.reservation_ttl_ms,
            len(reservation.rate), len(reservation.exposure), len(reservation.pending), len(reservation.reductions),
            len(reservation.duplicates), len(reservation.open_orders), len(reservation.notional),
            len(reservation.gross), self._generations.get(venue_account, ("", 0))[0], secrets.token_hex(8),
        ]
        for rate in reservation.rate:
            args += [rate.limit, rate.window_ms, rate.cost, int(rate.enforced)]
        for check in reservation.exposure:
            args += [
                f"{check.position.symbol}|{check.position.position_side}", str(check.side),
                to_fixed(check.quantity, ROUND_CEILING), to_fixed(check.limit, ROUND_FLOOR),
                int(check.enforced), check.replaces_order or "",
            ]
        for bound in reservation.reductions:
            args += [
                f"{bound.position.symbol}|{bound.position.position_side}", str(bound.side),
                to_fixed(bound.quantity, ROUND_CEILING), bound.replaces_order or "",
            ]
        for duplicate in reservation.duplicates:
            args += [duplicate.window_ms, int(duplicate.enforced)]
        for counted in reservation.open_orders:
            args += [counted.symbol or "", counted.limit, counted.adding, int(counted.enforced)]
        for budget in reservation.notional:
            args += [budget.key, to_fixed(budget.limit, ROUND_FLOOR), to_fixed(budget.adding, ROUND_CEILING),
                     int(budget.enforced), len(budget.replaces), *budget.replaces]
        for gross in reservation.gross:
            args += [to_fixed(gross.limit, ROUND_FLOOR), int(gross.enforced), len(gross.prices)]
            for symbol, price in gross.prices:
                args += [symbol, to_fixed(price, ROUND_CEILING)]
            args.append(len(reservation.pending))
            for leg in reservation.pending:
                args += [f"{leg.position.symbol}|{leg.position.position_side}", str(leg.side),
                         to_fixed(leg.quantity, ROUND_CEILING), int(leg.reducing), leg.replaces_order or ""]
            args.append(len(gross.others))
            for other in gross.others:
                priced = [(symbol, price) for venue, symbol, price in gross.other_prices if venue == other]
                args.append(len(priced))
                for symbol, price in priced:
                    args += [symbol, to_fixed(price, ROUND_CEILING)]
        for leg in reservation.pending:
            charged = leg.budgets if leg.price is not None else ()
            args += [
                leg.leg_id, f"{leg.position.symbol}|{leg.position.position_side}", str(leg.side),
                to_fixed(leg.quantity, ROUND_CEILING), int(leg.reducing), int(leg.opens), leg.replaces_order or "",
                leg.kind, leg.triggers_into or "",
                to_fixed(leg.price, ROUND_CEILING) if charged and leg.price is not None else "", len(charged),
                *charged,
            ]
        owner = f"{venue}|{account}"

        def extra(pipe: Pipeline) -> None:
            if reservation.pending:
                # where the reservation lives, for a release from any sidecar: same round trip but not in the
                # script (another slot); harmless when the reservation is refused, it expires
                pipe.set(self.keys.reservation(reservation.id), owner, px=self._owner_ttl_ms)
            if also is not None:
                also(pipe)
            # the store's generation, written by the first reservation on an empty store (another slot: read
            # beside the script, and judged before its reservation counts)
            pipe.set(self.keys.fleet, secrets.token_hex(8), nx=True)
            pipe.get(self.keys.fleet)
            if checks_eviction:
                pipe.commands.append(("INFO", "memory"))

        if reservation.pending:
            # known here before the round trip: a reservation the script committed while a command beside it
            # failed (the owner's SET refused by a full server) is released by this sidecar all the same
            self._remember(reservation.id, owner)
        async with self._guard():
            (reply,), extras = await self._run_with([_Call("reserve", keys, args)], extra,
                                                    tolerated=1 if checks_eviction else 0)
        if checks_eviction:
            self._saw_eviction_policy(extras.pop())
        if reservation.pending and int(reply[0]) != 1:
            self._owners.pop(reservation.id, None)
        now_ms = int(reply[1])
        self._saw_clock(now_ms, time.time_ns() // 1_000_000)
        fleet, extras = str(extras[-1]), extras[:-2]
        if self._evicting is not None:
            await self._undone(reservation, reply)
            self._refuse_if_evicting()
        known = self._fleet
        if known is not None and known[0] != fleet and not await self._told(known[1]):
            # the store lost its data since this sidecar last read it: whatever this reservation counted was
            # counted on nothing (a halt it lost, positions from zero). The generation it held stays until the loss
            # is told (marked): a tell cut short is found again by the next order
            await self._undone(reservation, reply)
            await self._loss_found(venue, account, "fleet", now_ms)
        self._fleet = (fleet, now_ms)
        if int(reply[0]) == -1:
            if await self._lost(venue_account, str(reply[2]), now_ms):
                return await self._reserve(reservation, also, venue_account)  # once: it holds no generation now
        self._generations[venue_account] = (str(reply[-1]), int(reply[1]))
        self._generations.move_to_end(venue_account)
        while len(self._generations) > LOCAL_RESERVATIONS:
            self._generations.popitem(last=False)
        committed = int(reply[0]) == 1
        checks: tuple[RateCheck | ExposureCheck | ReductionCheck, ...] = (
            *reservation.rate, *reservation.exposure, *reservation.reductions)
        results = tuple(
            CheckResult(check, from_fixed(str(reply[2 + 2 * i])), int(reply[3 + 2 * i]) == 1)
            for i, check in enumerate(checks)
        )
        at = 2 + 2 * len(checks)  # then four values per duplicate check: observed, passed, ago ms, earlier id
        results += tuple(
            CheckResult(check, from_fixed(str(reply[at + 4 * i])), int(reply[at + 1 + 4 * i]) == 1,
                        () if int(reply[at + 1 + 4 * i]) == 1 else
                        (("ago_ms", str(reply[at + 2 + 4 * i])), ("duplicate_of", str(reply[at + 3 + 4 * i]))))
            for i, check in enumerate(reservation.duplicates)
        )
        at += 4 * len(reservation.duplicates)  # then two per open-orders check: observed, passed
        results += tuple(
            CheckResult(check, Decimal(int(reply[at + 2 * i])), int(reply[at + 1 + 2 * i]) == 1)
            for i, check in enumerate(reservation.open_orders)
        )
        at += 2 * len(reservation.open_orders)  # then two per notional check: the day's notional, passed
        results += tuple(
            CheckResult(check, from_fixed(str(reply[at + 2 * i])), int(reply[at + 1 + 2 * i]) == 1)
            for i, check in enumerate(reservation.notional)
        )
        at += 2 * len(reservation.notional)  # then three per gross check: gross exposure, passed, unpriced symbol
        results += tuple(
            CheckResult(check, from_fixed(str(reply[at + 3 * i])), int(reply[at + 1 + 3 * i]) == 1,
                        (("unpriced", str(reply[at + 2 + 3 * i])),) if reply[at + 2 + 3 * i] else ())
            for i, check in enumerate(reservation.gross)
        )
        return ReserveOutcome(committed, results), extras[1:] if reservation.pending else extras

    async def _undone(self, reservation: Reservation, reply: Any) -> None:
        """Release what a reservation the store should not have been decided on committed (its order is refused)."""
        if int(reply[0]) == 1 and reservation.pending:
            await self.release(reservation.id)

    async def _lost(self, venue_account: tuple[str, str], found: str, now_ms: int) -> bool:
        """The store no longer holds the account's state this sidecar reserved on (its generation changed or is
        gone): limits, positions, open orders and halts would count from nothing. Put the whole fleet in REDUCING
        (a store that lost one account's keys most likely lost every one), for an operator to `riskwall resume`
        once positions are known again, and refuse the order as the store's outage (`StateLost`).

        Once per loss: the first sidecar to find it marks when (`{global}:lost`, Redis's clock). Any sidecar that
        last saw the account's generation before that mark meets the same loss, already told (the fleet went
        REDUCING, and may have been resumed since): it forgets the generation and reserves again (True), rather
        than putting the fleet back in REDUCING for every account each sidecar had met."""
        _, seen_at = self._generations.get(venue_account, ("", 0))
        if await self._told(seen_at):
            self._generations.pop(venue_account, None)
            return True
        await self._loss_found(*venue_account, "none" if not found else "another", now_ms)

    # A server that may evict this store's keys (`maxmemory` set with a policy other than `noeviction`) is not decided
    # on: positions, pending orders, halts and the limits' windows would vanish one by one (windows and daily budgets
    # carry TTLs, which `volatile-*` evicts first), and nothing tells a key evicted from one never written. The policy
    # is read with `INFO memory` once a minute, in the round trip of a view or a reservation; a user whose ACL denies
    # INFO is not checked (README, "Shared state on Redis").

    def _eviction_due(self) -> bool:
        # (the next reading is due a minute after one arrives: a call that failed asks again)
        return time.monotonic() >= self._eviction_next_read

    def _saw_eviction_policy(self, info: Any) -> None:
        self._eviction_next_read = time.monotonic() + EVICTION_CHECK_S
        if isinstance(info, Exception):
            return  # (denied: not known)
        evicting = _evicting_policy(info)
        if evicting != self._evicting:
            if evicting is not None:
                log.error("state_store_evicts", store=_safe(self.url), policy=evicting,
                          consequence="orders that add risk refused until maxmemory-policy is noeviction")
            else:
                log.warning("state_store_evicts_no_more", store=_safe(self.url))
        self._evicting = evicting

    def _refuse_if_evicting(self) -> None:
        if self._evicting is not None:
            raise StateUnavailable(f"redis may evict this store's keys (maxmemory-policy {self._evicting}): limits "
                                   "and halts could vanish; set maxmemory-policy noeviction")

    async def _told(self, seen_at: int) -> bool:
        """Whether a sidecar found (and told) a loss since `seen_at` (Redis's clock, ms)."""
        async with self._guard():
            (marked,) = await self._send(("GET", self.keys.lost))
        return marked is not None and str(marked).isdigit() and int(marked) >= seen_at

    async def _loss_found(self, venue: str, account: str, generation: str, now_ms: int) -> NoReturn:
        """Tell a loss: the fleet goes REDUCING, then the loss is marked as told (in that order: a mark without the
        state, left by a call cut short between the two, would have every sidecar take the loss as told and trade
        on the empty store), and the order is refused (`StateLost`)."""
        reason = ("the state store lost its data (restart without persistence, flush or failover): positions, "
                  "open orders and limits restarted from nothing; check positions, then riskwall resume")
        log.error("state_lost", venue=venue, account=account, generation=generation,
                  consequence="fleet set to REDUCING until riskwall resume")
        await self.set_trading_state(StateScope(), TradingState.REDUCING, reason, "riskwall")
        async with self._guard():
            await self._send(("SET", self.keys.lost, str(now_ms)))
        # every generation this sidecar remembers is of the store before the loss: the trading state above guards
        # the fleet from here on, not a refusal of every account this sidecar meets again
        self._generations.clear()
        raise StateLost("the state store lost this account's state; the fleet is REDUCING until riskwall resume")

    async def release(self, reservation_id: str, after_ms: int = 0) -> None:
        hold = max(after_ms, 0)
        async with self._guard():
            owner = self._owners.get(reservation_id)
            if owner is None:
                (found,) = await self._send(("GET", self.keys.reservation(reservation_id)))
                if found is None:
                    return  # never committed here, already released, or long lapsed
                owner = str(found)
            venue, _, account = owner.partition("|")
            mapping = self.keys.reservation(reservation_id)

            def forget(pipe: Pipeline) -> None:
                if hold == 0:
                    pipe.delete(mapping)

            await self._run([_Call("release", self.keys.account(venue, account), [reservation_id, hold])], forget)
        if hold == 0:
            self._owners.pop(reservation_id, None)

    async def learn(self, facts: ResponseFacts) -> None:
        await self._clock_known(facts)
        calls = self._learn_calls(facts)
        if not calls:
            return
        async with self._guard():
            await self._run(calls)

    async def _clock_known(self, facts: ResponseFacts) -> None:
        """Before the first stamped facts of a sidecar whose store has not read Redis's time yet (a position read
        before any order): one TIME, so even that read is stamped on Redis's clock, not this host's."""
        if self._clock_lead_ms is not None or not (facts.asked_ms is not None or facts.positions or facts.open_orders
                                                   or facts.orders):
            return
        async with self._guard():
            (reply,) = await self._link.send([("TIME",)])
        self._saw_clock(_time_ms(reply), time.time_ns() // 1_000_000)

    def _saw_clock(self, redis_ms: int, local_ms: int) -> None:
        """A reply carrying Redis's time `redis_ms` came at this host's `local_ms`: their difference is at most the
        true lead. The largest seen within CLOCK_LEAD_KEPT_MS is kept (the tightest such bound; replies' own
        delays would make it jitter by a millisecond, and two reads asked together be stamped apart), then the
        next one replaces it (a clock stepped since is followed)."""
        lead = redis_ms - local_ms
        if self._clock_lead_ms is None or lead >= self._clock_lead_ms or (
                local_ms - self._clock_lead_at > CLOCK_LEAD_KEPT_MS):
            self._clock_lead_ms, self._clock_lead_at = lead, local_ms

    def _learn_calls(self, facts: ResponseFacts) -> list[_Call]:
        calls: list[_Call] = []
        if facts.prices:
            args: list[str | int] = []
            for price in facts.prices:
                args += [f"{price.venue}|{price.symbol}", price.kind, str(price.price)]
            calls.append(_Call("price", [self.keys.prices], args))
        per_account: dict[tuple[str, str], dict[str, Any]] = {}

        def bucket(venue: str, account: str) -> dict[str, Any]:
            empty: dict[str, Any] = {"orders": [], "positions": [], "snapshots": [], "closed": [], "amended": [],
                                     "modes": []}
            return per_account.setdefault((venue, account), empty)

        for update in facts.orders:
            bucket(update.venue, update.account)["orders"].append(_update_json(update))
        for report in facts.positions:
            entry: dict[str, Any] = {"rows": [[s, str(side), to_fixed(q)] for s, side, q in report.positions]}
            if report.symbol is not None:
                entry["sym"] = report.symbol
            if report.asked_ms is not None:
                entry["at"] = self._redis_ms(report.asked_ms)
            if report.venue_ms is not None:
                entry["vt"] = report.venue_ms  # the venue's clock: compared with the fills' (`|vt`), as it is
            bucket(report.venue, report.account)["positions"].append(entry)
        for snapshot in facts.open_orders:
            listed: dict[str, Any] = {"kd": snapshot.kind, "orders": [_update_json(u) for u in snapshot.orders]}
            if snapshot.symbol is not None:
                listed["sym"] = snapshot.symbol
            if snapshot.asked_ms is not None:
                listed["at"] = self._redis_ms(snapshot.asked_ms)
            if snapshot.cancelled:
                listed["cx"] = 1
            if snapshot.triggers_into is not None:
                listed["tk"] = snapshot.triggers_into
            bucket(snapshot.venue, snapshot.account)["snapshots"].append(listed)
        for closed in facts.closed:
            payload = bucket(closed.venue, closed.account)
            payload["closed"].append(closed.order_id)
            if closed.unfilled:
                payload.setdefault("cu", []).append(closed.order_id)
        for accepted in facts.amended:
            amend: dict[str, str] = {"l": accepted.leg_id}
            if accepted.total is not None:
                amend["t"] = to_fixed(accepted.total)
            bucket(accepted.venue, accepted.account)["amended"].append(amend)
        for mode in facts.modes:
            bucket(mode.venue, mode.account)["modes"].append([mode.key, mode.mode])
        for (venue, account), payload in per_account.items():
            if payload["orders"] or payload["snapshots"] or payload["closed"]:
                if facts.asked_ms is not None:
                    payload["at"] = self._redis_ms(facts.asked_ms)
                # a fill held for a read that may hold it already is settled by a read asked after this sidecar
                # learned it (so after the venue made it), by this sidecar's clock, as the reads are stamped
                payload["nw"] = self._redis_ms(time.time_ns() // 1_000_000)
            text = json.dumps(payload, separators=(",", ":"))
            calls.append(_Call("learn", self.keys.account(venue, account), [text, FINAL_ORDER_MEMORY_MS]))
        return calls

    async def settle(self, facts: ResponseFacts, reservation_id: str | None, after_ms: int = 0,
                     rejections: tuple[RejectCount, ...] = (),
                     losses: tuple[LossCheck, ...] = ()) -> tuple[StormTrip | LossTrip, ...]:
        owner = self._owners.get(reservation_id) if reservation_id is not None else None
        if reservation_id is not None and owner is None:
            # the reservation's place must be looked up
            return await super().settle(facts, reservation_id, after_ms, rejections, losses)
        await self._clock_known(facts)
        calls = self._learn_calls(facts)
        hold = max(after_ms, 0)
        if reservation_id is not None and owner is not None:
            venue, _, account = owner.partition("|")
            keys = self.keys.account(venue, account)
            # the answer's learning for the reservation's account releases it in the same script (one call fewer)
            index = next((i for i, call in enumerate(calls) if call.script == "learn" and call.keys == keys), None)
            if index is None:
                calls.append(_Call("release", keys, [reservation_id, hold]))
            else:
                calls[index] = _Call("learn", keys, [*calls[index].args, reservation_id, hold])
        if rejections:
            calls.append(self._reject_call(rejections))  # in the same round trip as the rest of the answer
        if losses:
            calls.append(self._loss_call(losses))  # so is the equity it reported
        if not calls:
            return ()
        mapping = self.keys.reservation(reservation_id) if reservation_id is not None else None

        def forget(pipe: Pipeline) -> None:
            if mapping is not None and hold == 0:
                pipe.delete(mapping)

        async with self._guard():
            # written in one go on the store's one connection: a settlement run in the background (Settling) is
            # ordered before anything sent after this, so the next decision need not wait for its reply
            replies = await self._run(calls, forget if mapping is not None else None, SETTLEMENT_WRITTEN.get())
        if reservation_id is not None and hold == 0:
            self._owners.pop(reservation_id, None)
        trips: tuple[StormTrip | LossTrip, ...] = ()
        if rejections:
            trips += _trips(rejections, replies[-2] if losses else replies[-1])
        if losses:
            trips += _loss_trips(losses, replies[-1])
        return trips

    async def measure_losses(self, checks: tuple[LossCheck, ...]) -> tuple[LossTrip, ...]:
        if not checks:
            return ()
        async with self._guard():
            (reply,) = await self._run([self._loss_call(checks)])
        return _loss_trips(checks, reply)

    def _loss_call(self, checks: tuple[LossCheck, ...]) -> _Call:
        args: list[str | int] = [len(checks)]
        for check in checks:
            record = {"venue": check.scope.venue, "account": check.scope.account, "symbol": check.scope.symbol,
                      "state": str(check.state), "reason": loss_reason(check), "actor": f"rule:{check.rule_id}",
                      "rule_id": check.rule_id}
            args += [to_fixed(check.equity), to_fixed(check.limit), int(check.enforced),
                     f"{check.scope.text}#{check.rule_id}", json.dumps(record)]
        return _Call("loss", [self.keys.states, *(self.keys.loss(c.key) for c in checks)], args)

    async def count_rejections(self, counts: tuple[RejectCount, ...]) -> tuple[StormTrip, ...]:
        if not counts:
            return ()
        async with self._guard():
            (reply,) = await self._run([self._reject_call(counts)])
        return _trips(counts, reply)

    def _reject_call(self, counts: tuple[RejectCount, ...]) -> _Call:
        args: list[str | int] = [len(counts)]
        for count in counts:
            record = {"venue": count.scope.venue, "account": count.scope.account, "symbol": count.scope.symbol,
                      "state": str(count.state), "reason": storm_reason(count), "actor": f"rule:{count.rule_id}",
                      "rule_id": count.rule_id}
            args += [count.limit, count.window_ms, count.cool_down_ms, int(count.enforced),
                     f"{count.scope.text}#{count.rule_id}", json.dumps(record), len(count.members), *count.members]
        return _Call("reject", [self.keys.states, *(self.keys.rejects(c) for c in counts)], args)

    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None:
        record = {
            "venue": scope.venue, "account": scope.account, "symbol": scope.symbol,
            "state": str(state), "reason": reason, "actor": actor,
        }
        clear = int(state is TradingState.ACTIVE)
        async with self._guard():
            await self._run([_Call("state", [self.keys.states], [scope.text, json.dumps(record), clear])])

    async def holder_moves(self, holders: Mapping[str, str]) -> tuple[HolderMove, ...]:
        async with self._guard():
            raw, states_raw, now = await self._send(("HGETALL", self.keys.holders), ("HGETALL", self.keys.states),
                                                    ("TIME",))
        changes = holder_changes(_pairs(raw), holders)
        if not changes:
            return ()
        states = self._decode_states(_pairs(states_raw), _time_ms(now))
        held = [KeyLayout.ACCOUNT_KEYS.index(name) for name in ("pos", "pend", "open", "gen")]
        probes = [(*key.partition("|")[::2], previous, holder) for key, (previous, holder) in changes.items()]
        async with self._guard():
            found = await self._send(*(("EXISTS", *(self.keys.account(venue, previous)[i] for i in held))
                                       for venue, _, previous, _ in probes))
        return tuple(HolderMove(fingerprint, venue, previous, holder)
                     for (venue, fingerprint, previous, holder), count in zip(probes, found, strict=True)
                     if int(count) or state_named(states, venue, previous))

    async def record_holders(self, holders: Mapping[str, str]) -> None:
        commands: list[tuple[str | int, ...]] = [("DEL", self.keys.holders)]
        if holders:
            commands.append(("HSET", self.keys.holders, *(item for pair in holders.items() for item in pair)))
        async with self._guard():
            await self._send(("MULTI",), *commands, ("EXEC",))

    async def trading_states(self) -> tuple[TradingStateRecord, ...]:
        async with self._guard():
            raw, now = await self._send(("HGETALL", self.keys.states), ("TIME",))
        return self._decode_states(_pairs(raw), _time_ms(now))

    async def open_order_count(self, venue: Venue, account: str, symbol: str | None = None) -> int:
        """The open-orders rule's counter (open orders plus unanswered legs that open one), as reserve reads it;
        for tests and status. Lapsed reservations still count until a script touches the account."""
        key = self.keys.account(venue, account)[KeyLayout.ACCOUNT_KEYS.index("cnt")]
        async with self._guard():
            (raw,) = await self._send(("HGET", key, "*" if symbol is None else f"s|{symbol}"))
        return int(raw or 0)

    async def usage(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        base = self.keys.account(venue, account)
        pipe = Commands()
        pipe.hgetall(base[KeyLayout.ACCOUNT_KEYS.index("cnt")])
        pipe.hgetall(base[KeyLayout.ACCOUNT_KEYS.index("day")])
        pipe.time()
        async with self._guard():
            counts, budgets, now = await self._send(*pipe.commands)
        day = _time_ms(now) // DAY_MS
        open_orders = {("*" if field == "*" else field.removeprefix("s|")): str(value)
                       for field, value in _pairs(counts).items()}
        notional = {key: total for key, raw in _pairs(budgets).items()
                    for seen, _, total in [raw.partition("|")] if seen.isdigit() and int(seen) == day}
        return {"open_orders": dict(sorted(open_orders.items())), "daily_notional": dict(sorted(notional.items()))}

    async def daily_notional(self, venue: Venue, account: str, key: str) -> Decimal:
        """The notional charged to a daily-notional budget on the store's current UTC day; for tests and status."""
        base = self.keys.account(venue, account)
        async with self._guard():
            pipe = self._client.pipeline(transaction=False)
            pipe.hget(base[KeyLayout.ACCOUNT_KEYS.index("day")], key)
            pipe.time()
            raw, now = await pipe.execute()
        day, _, total = (raw or "").partition("|")
        return from_fixed(total) if day and int(day) == _time_ms(now) // DAY_MS else Decimal(0)

    async def exposure(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        async with self._guard():
            (reply,) = await self._run([_Call("exposure", self.keys.account(venue, account), [])])
        positions = _pairs(reply[0])
        pending = _pairs(reply[1])
        # a pending sum's field is "<symbol>|<position side>|<side>", with "|r" for what only reduces
        keys = set(positions) | {field.removesuffix("|r").rsplit("|", 1)[0] for field in pending}
        out: dict[str, dict[str, str]] = {}
        for key in sorted(keys, key=lambda k: tuple(k.rsplit("|", 1))):
            row = {
                "position": str(from_fixed(positions.get(key, "0"))),
                "pending_buy": str(from_fixed(pending.get(f"{key}|buy", "0"))),
                "pending_sell": str(from_fixed(pending.get(f"{key}|sell", "0"))),
            }
            for side in Side:  # reduce-only orders pending, shown where there are any
                if f"{key}|{side}|r" in pending:
                    row[f"reducing_{side}"] = str(from_fixed(pending[f"{key}|{side}|r"]))
            out[key] = row
        return out

    async def close(self) -> None:
        pool = self._client.connection_pool
        with contextlib.suppress(RedisError, OSError):
            await self._link.close()
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()
        if isinstance(pool, SentinelConnectionPool):
            # the client owns its pool, not the Sentinel's own clients (one per sentinel), which it left open
            with contextlib.suppress(RedisError, OSError):
                await pool.sentinel_manager.aclose()

    # -- plumbing ------------------------------------------------------------------------------------

    @property
    def _owner_ttl_ms(self) -> int:
        return self.options.reservation_ttl_ms or FINAL_ORDER_MEMORY_MS

    def _remember(self, reservation_id: str, owner: str) -> None:
        self._owners[reservation_id] = owner
        while len(self._owners) > LOCAL_RESERVATIONS:
            self._owners.popitem(last=False)

    def _command(self, call: _Call) -> tuple[str | int, ...]:
        script = self._scripts[call.script]
        if self._functions:
            return ("FCALL", script.function, len(call.keys), *call.keys, *call.args)
        return ("EVALSHA", script.sha, len(call.keys), *call.keys, *call.args)

    async def _eval(self, call: _Call, written: Callable[[], None] | None = None) -> Any:
        (reply,) = await self._link.send((self._command(call),), written)
        for _ in range(LOAD_ATTEMPTS):
            if not _not_loaded(reply):
                break
            # the server lost its functions or its script cache (restart, failover, FLUSH), or never had them:
            # nothing ran, so load and rerun (again if a FLUSH came between the two)
            await self._load(self._scripts[call.script], reply)
            (reply,) = await self._link.send((self._command(call),))
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def _load(self, script: _Script, refusal: ResponseError) -> None:
        """Load `script` after `refusal` (a call's `_not_loaded` reply): as a function library where the server
        takes one, else as a script, from then on for every script of this store."""
        if self._functions and not _no_functions(refusal):
            (loaded,) = await self._link.send((("FUNCTION", "LOAD", "REPLACE", script.library),))
            if not isinstance(loaded, ResponseError):
                return
            if not _no_functions(loaded):
                raise loaded
        if self._functions:
            self._functions = False
            log.warning("redis_functions_unavailable", detail=str(refusal)[:120],
                        consequence="scripts run with EVALSHA: each call defines the shared Lua again")
        await self._send(("SCRIPT", "LOAD", script.source))

    async def _send(self, *commands: tuple[str | int, ...]) -> list[Any]:
        """Plain commands in one round trip: their replies, the first error reply raised."""
        replies = await self._link.send(commands)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _run(self, calls: Sequence[_Call], extra: Callable[[Pipeline], None] | None = None,
                   written: Callable[[], None] | None = None) -> list[Any]:
        """Run scripts (and `extra` plain commands) in one round trip; a script refused with NOSCRIPT did not
        run, so it is loaded and run again on its own. `written`: as `Link.send`'s (called only when every script
        in the round trip has answered on the connection, so the server has it and will not refuse it so)."""
        return (await self._run_with(calls, extra, written))[0]

    async def _run_with(self, calls: Sequence[_Call], extra: Callable[[Pipeline], None] | None = None,
                        written: Callable[[], None] | None = None, *,
                        tolerated: int = 0) -> tuple[list[Any], list[Any]]:
        """`_run`, with the replies of `extra`'s commands too; the last `tolerated` of them may be error replies,
        returned in their places."""
        if len(calls) == 1 and extra is None:
            return [await self._eval(calls[0], written)], []
        pipe = Commands()
        pipe.commands.extend(self._command(call) for call in calls)
        if extra is not None:
            extra(pipe)
        replies = await self._link.send(pipe.commands, written)  # errors in their places, not raised
        out: list[Any] = []
        for call, reply in zip(calls, replies, strict=False):
            if _not_loaded(reply):
                reply = await self._eval(call)
            elif isinstance(reply, Exception):
                raise reply
            out.append(reply)
        extras = replies[len(calls):]
        for reply in extras[:len(extras) - tolerated]:
            if isinstance(reply, Exception):
                raise reply
        return out, extras

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (RedisConnectionError, OSError) as exc:
            # the server went away: drop idle connections too, so the first call after it returns succeeds
            with contextlib.suppress(Exception):
                await self._client.connection_pool.disconnect(inuse_connections=False)
            raise StateUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        except RedisError as exc:
            raise StateUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc

    def _redis_ms(self, local_ms: int) -> int:
        """A time of this host's clock (a read's asking) on Redis's clock, less the margin: never later than it was
        there. The lead is Redis's time in a reply less this host's time when the reply came, which is at most the
        true lead (Redis read its clock before the reply left), so a host whose clock runs ahead does not stamp its
        reads after fills Redis learned later (a read taken as newer would undo them)."""
        return local_ms + (self._clock_lead_ms or 0) - READ_CLOCK_MARGIN_MS

    def _saw_prices(self, venue: Venue, symbols: Sequence[str], raws: Sequence[str | None],
                    environment: str) -> dict[tuple[Venue, str], Decimal]:
        """The prices read for `symbols` in `environment` (None: none known), remembered for `cached_view` under
        the names they are kept by (bounded); keyed by the plain symbols."""
        prices: dict[tuple[Venue, str], Decimal] = {}
        for symbol, raw in zip(symbols, raws, strict=True):
            price = from_fixed(raw.partition("|")[2]) if raw is not None else None
            if price is not None:
                prices[(venue, symbol)] = price
            kept = (venue, priced_symbol(symbol, environment))
            self._prices_seen[kept] = price
            self._prices_seen.move_to_end(kept)
        while len(self._prices_seen) > PRICES_REMEMBERED:
            self._prices_seen.popitem(last=False)
        return prices

    @staticmethod
    def _decode_states(raw: dict[str, str], now: int) -> tuple[TradingStateRecord, ...]:
        """The states in force at `now` (Redis time): a storm's ended ones are left out."""
        records: list[TradingStateRecord] = []
        for text, value in raw.items():
            try:
                data = json.loads(value)
                scope = StateScope(data["venue"], data["account"], data["symbol"])
                until = data.get("until_ms")
                record = TradingStateRecord(scope, TradingState(data["state"]), data["reason"], data["actor"],
                                            int(data["at_ms"]), None if until is None else int(until),
                                            data.get("rule_id"))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise StateUnavailable(f"state store holds an unreadable trading state for {text!r}") from None
            if record.live(now):
                records.append(record)
        return tuple(sorted(records, key=lambda r: (r.at_ms, r.scope.text, r.rule_id or "")))


def _evicting_policy(info: Any) -> str | None:
    """From an `INFO memory` reply: the eviction policy when the server may evict keys (`maxmemory` set and a policy
    other than `noeviction`), else None."""
    text = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    fields = dict(line.strip().partition(":")[::2] for line in text.splitlines() if ":" in line)
    policy = fields.get("maxmemory_policy", "noeviction")
    limit = fields.get("maxmemory", "0")
    return policy if limit.isdigit() and int(limit) > 0 and policy != "noeviction" else None


def _update_json(update: OrderUpdate) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": update.order_id, "sym": update.symbol, "ps": str(update.position_side), "side": str(update.side),
        "orig": to_fixed(update.original), "exe": to_fixed(update.executed),
        "final": update.final, "ro": update.reduce_only, "kd": update.kind,
    }
    if update.reservation_id:
        data["rid"] = update.reservation_id
    if update.client_order_id:
        data["cid"] = update.client_order_id
    if update.fills_elsewhere:
        data["fe"] = update.fills_elsewhere
    if update.venue_ms is not None:
        data["vt"] = update.venue_ms
    return data


def _known(order_id: str, raw: str) -> tuple[KnownOrder, Decimal]:
    """An open order's record (`:open`, account.lua) as a view tells it, and what it has left."""
    try:
        record = json.loads(raw)
        order = KnownOrder(order_id, str(record["sym"]), Side(record["s"]), PositionSide(record["ps"]),
                           from_fixed(str(record.get("exe", "0"))), int(record["c"]) == 0,
                           str(record.get("kd", "order")))
        return order, from_fixed(str(record["rem"]))
    except (ValueError, KeyError, TypeError):
        raise StateUnavailable(f"state store holds an unreadable open order {order_id!r}") from None


def _loss_trips(checks: tuple[LossCheck, ...], reply: Any) -> tuple[LossTrip, ...]:
    """loss.lua's answer: per check {baseline, until ms or 0}, then the time."""
    now = int(reply[-1])
    return tuple(LossTrip(check, from_fixed(str(row[0])), now, int(row[1]))
                 for check, row in zip(checks, reply[:-1], strict=True) if int(row[1]) > 0)


def _trips(counts: tuple[RejectCount, ...], reply: Any) -> tuple[StormTrip, ...]:
    """reject.lua's answer: per count {refusals in the window, until ms or 0}, then the time."""
    now = int(reply[-1])
    return tuple(StormTrip(count, int(row[0]), now, int(row[1]))
                 for count, row in zip(counts, reply[:-1], strict=True) if int(row[1]) > 0)


def _time_ms(reply: Any) -> int:
    """Redis TIME (seconds, microseconds) in ms; redis-py answers it as a pair of ints."""
    seconds, micros = reply
    return int(seconds) * 1000 + int(micros) // 1000


def _not_loaded(reply: Any) -> bool:
    """A script call's reply saying the script did not run because the server does not have it (so it can be
    loaded and run again): NOSCRIPT, no such function, or no functions at all."""
    return isinstance(reply, NoScriptError) or (isinstance(reply, ResponseError) and (
        str(reply).startswith("Function not found") or _no_functions(reply)))


def _no_functions(reply: ResponseError) -> bool:
    """The server has no functions (Redis < 7: FCALL and FUNCTION are unknown commands) or this user may not use
    them (ACL: not the command; a refused key is another matter). Either way the call did not run."""
    text = str(reply).lower()
    if isinstance(reply, NoPermissionError):
        return "'fcall'" in text or "'function" in text
    return text.startswith("unknown command")


def _pairs(flat: Any) -> dict[str, str]:
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}


__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_RESERVATION_TTL_MS",
    "KeyLayout",
    "RedisOptions",
    "RedisStore",
    "account_of",
    "from_fixed",
    "load_lua",
    "make_client",
    "open_redis_store",
    "parse_url",
    "to_fixed",
]
