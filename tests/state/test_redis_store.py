"""What only the Redis store has: exact decimal arithmetic in Lua, script reloading, races between clients
and processes, restarts, outages, key layout, URLs. The shared semantics live in test_store_contract.py.

Tests that need a server use the one on 127.0.0.1:6379 (database 15, a unique key prefix each) or start
their own `redis-server` on a free port; every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.crc import key_slot
from tests.support.sidecar import free_port, free_ports

from riskwall.model import PositionSide, TradingState
from riskwall.state import StateStore, StateUnavailable, UnsupportedStateUrl, open_store
from riskwall.state.base import DuplicateCheck, Reservation, ReserveOutcome, StateLost, StateScope, ViewQuery
from riskwall.state.breaker import BreakerConfig, BreakerState, CircuitOpen, GuardedStore
from riskwall.state.redis import (
    DEFAULT_RESERVATION_TTL_MS,
    RedisOptions,
    RedisStore,
    load_lua,
    make_client,
    parse_sentinel_url,
    parse_url,
    to_fixed,
)
from unit.factories import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SYMBOL,
    VENUE,
    exposure_check,
    facts,
    make_reservation,
    open_orders,
    order_update,
    pending_entry,
    position_key,
    positions_report,
    price_update,
    rate_check,
)

from .conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, redis_url, require_redis

LONG_WINDOW_MS = 60_000


def probe() -> Reservation:
    return make_reservation(f"probe-{time.monotonic_ns()}", exposure=(exposure_check("0", "1000000000"),))


async def worst(store: StateStore) -> Decimal:
    return (await store.reserve(probe())).results[0].observed


def leg_reservation(reservation_id: str, quantity: str = "1", limit: str = "1000000") -> Reservation:
    return make_reservation(
        reservation_id,
        exposure=(exposure_check(quantity, limit),),
        pending=(pending_entry(f"{reservation_id}:0", quantity),),
    )


def redis_store(prefix: str, url: str | None = None, **options: Any) -> RedisStore:
    """An unguarded RedisStore on the shared test server (or at `url`: another user of it)."""
    url = url or redis_url(prefix)
    return RedisStore(make_client(parse_url(url)[0]), url=url, options=RedisOptions(prefix, **options))


@pytest.fixture
def sync_redis(redis_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, decode_responses=True, socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


# ---- decimals in Lua, against Python's Decimal ----------------------------------------------------------

DECIMAL_PROGRAM = load_lua("decimal") + """
local op, a = ARGV[1], dec_parse(ARGV[2])
if op == 'fmt' then return dec_format(a) end
if op == 'max0' then return dec_format(dec_max0(a)) end
local b = dec_parse(ARGV[3])
if op == 'add' then return dec_format(dec_add(a, b)) end
if op == 'sub' then return dec_format(dec_sub(a, b)) end
if op == 'cmp' then return dec_cmp(a, b) end
if op == 'mul' then return dec_format(dec_mul_up(a, b)) end
-- results fed on without being written out and read again, so a value of either form meets one of the other
local c = dec_parse(ARGV[4])
if op == 'chain' then
  local d = dec_sub(dec_add(a, b), c)
  return {dec_format(d), dec_cmp(d, a), dec_cmp(dec_neg(d), c), dec_format(dec_mul_up(d, c)),
          dec_format(dec_max0(d))}
end
return redis.error_reply('unknown op')
"""


def canonical(value: Decimal) -> str:
    """The text the Lua library must produce: plain digits, no trailing zeros, no exponent, no "-0"."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _scaled(n: int, normalize: bool) -> Decimal:
    value = Decimal(n).scaleb(-18)
    return value.normalize() if normalize else value


AMOUNTS = st.builds(
    _scaled,
    st.one_of(
        st.integers(-(10**34), 10**34),  # up to 1e16 with all 18 decimals
        st.integers(-(10**6), 10**6),  # a few units of 1e-18
        st.integers(-(10**45), 10**45),  # far beyond any venue
        st.sampled_from([0, 1, -1, 10**33, -(10**33), 10**33 + 1, 10**7 - 1, 10**7, -(10**14) + 1, 10**18]),
    ),
    st.booleans(),
)

# amounts around 2^53 at every scale: where the Lua library's arithmetic on whole doubles must hand over to its limbs
NEAR_EXACT_LIMIT = st.builds(
    lambda n, places: Decimal(n).scaleb(-places),
    st.one_of(st.integers(2**53 - 2000, 2**53 + 2000), st.integers(-(2**53) - 2000, -(2**53) + 2000),
              st.integers(-(10**16), 10**16), st.integers(-1000, 1000)),
    st.integers(0, 18),
)


@pytest.fixture
def lua_decimal(sync_redis: redis.Redis) -> Callable[..., Any]:
    sha = sync_redis.script_load(DECIMAL_PROGRAM)

    def run(op: str, *values: Decimal | str) -> Any:
        args = [v if isinstance(v, str) else to_fixed(v) for v in values]
        try:
            return sync_redis.evalsha(sha, 0, op, *args)
        except redis.exceptions.NoScriptError:  # a test running alongside flushed the server's scripts
            sync_redis.script_load(DECIMAL_PROGRAM)
            return sync_redis.evalsha(sha, 0, op, *args)

    return run


@pytest.mark.redis
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=AMOUNTS, b=AMOUNTS)
def test_lua_decimal_when_adding_subtracting_comparing_then_matches_python_decimal(
    lua_decimal: Callable[..., Any], a: Decimal, b: Decimal
) -> None:
    with localcontext() as ctx:
        ctx.prec = 200
        total, difference = a + b, a - b

    assert lua_decimal("add", a, b) == canonical(total)
    assert lua_decimal("sub", a, b) == canonical(difference)
    assert lua_decimal("cmp", a, b) == (a > b) - (a < b)
    assert lua_decimal("fmt", a) == canonical(a)
    assert lua_decimal("max0", a) == canonical(max(a, Decimal(0)))
    assert lua_decimal("mul", a, b) == canonical(mul_up(a, b))


def mul_up(a: Decimal, b: Decimal) -> Decimal:
    """a * b rounded away from zero to 18 fraction digits, as the Lua library charges a notional."""
    with localcontext() as ctx:
        ctx.prec = 200
        return (a * b).quantize(Decimal(1).scaleb(-18), rounding=ROUND_UP)


@pytest.mark.redis
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.one_of(AMOUNTS, NEAR_EXACT_LIMIT), b=st.one_of(AMOUNTS, NEAR_EXACT_LIMIT),
       c=st.one_of(AMOUNTS, NEAR_EXACT_LIMIT))
def test_lua_decimal_when_results_feed_further_operations_then_matches_python_decimal(
    lua_decimal: Callable[..., Any], a: Decimal, b: Decimal, c: Decimal
) -> None:
    with localcontext() as ctx:
        ctx.prec = 200
        d = a + b - c
        expected = [canonical(d), (d > a) - (d < a), (-d > c) - (-d < c), canonical(mul_up(d, c)),
                    canonical(max(d, Decimal(0)))]
        total = a + b

    assert lua_decimal("chain", a, b, c) == expected
    assert lua_decimal("add", a, b) == canonical(total)
    assert lua_decimal("cmp", a, b) == (a > b) - (a < b)
    assert lua_decimal("mul", a, b) == canonical(mul_up(a, b))


@pytest.mark.redis
@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [
        ("add", "0.1", "0.2", "0.3"),  # 0.30000000000000004 in floats
        ("add", "1000000000000000", "0.000000000000000001", "1000000000000000.000000000000000001"),
        ("sub", "1000000000000000", "0.000000000000000001", "999999999999999.999999999999999999"),
        ("sub", "0.000000000000000001", "0.000000000000000002", "-0.000000000000000001"),
        ("add", "9999999.999999999999999999", "0.000000000000000001", "10000000"),  # carries through limbs
        ("sub", "10000000", "0.000000000000000001", "9999999.999999999999999999"),  # borrows through limbs
        ("add", "-5", "5", "0"),
        ("add", "-0", "0.000", "0"),
        ("cmp", "-0.000000000000000001", "0", -1),
        ("cmp", "1000000000000000.000000000000000001", "1000000000000000", 1),
        ("cmp", "2.50", "2.5", 0),
        ("max0", "-3", None, "0"),
        ("fmt", "+007.100", None, "7.1"),
        ("fmt", ".5", None, "0.5"),
        ("fmt", "12.", None, "12"),
        ("fmt", ".000", None, "0"),
        ("fmt", "-0.000000000000000000", None, "0"),
        ("fmt", "9007199254740993", None, "9007199254740993"),  # 2^53 + 1: no double holds it
        ("fmt", "0.9007199254740993", None, "0.9007199254740993"),
        ("add", "9007199254740991", "1", "9007199254740992"),  # 2^53 - 1 + 1: the sum leaves the doubles
        ("add", "9007199254740991", "2", "9007199254740993"),
        ("sub", "-9007199254740991", "2", "-9007199254740993"),
        ("add", "0.1", "900719925474099.1", "900719925474099.2"),
        ("add", "0.000000000000000001", "9007199254740.99", "9007199254740.990000000000000001"),
        ("cmp", "9007199254740993", "9007199254740992", 1),
        ("cmp", "0.000000000000000001", "0.00000000000000001", -1),
        ("mul", "0.001", "50000.12", "50.00012"),
        ("mul", "-0.001", "50000.12", "-50.00012"),
        ("mul", "0.000000001", "0.0000000001", "0.000000000000000001"),  # 10^-19, rounded away from zero
        ("mul", "-0.000000001", "0.0000000001", "-0.000000000000000001"),
        ("mul", "94906267", "94906267", "9007199515875289"),  # past 2^53: the limbs multiply
        ("mul", "0", "5", "0"),
    ],
)
def test_lua_decimal_when_edge_values_then_exact(
    lua_decimal: Callable[..., Any], op: str, a: str, b: str | None, expected: str | int
) -> None:
    assert lua_decimal(op, a, *([b] if b is not None else [])) == expected


@pytest.mark.redis
@pytest.mark.parametrize("text", ["1e5", "", ".", "1.2.3", "abc", "0.0000000000000000001", " 1", "1,5", "--1", "inf"])
def test_lua_decimal_when_text_is_not_a_plain_decimal_then_script_errors(
    lua_decimal: Callable[..., Any], text: str
) -> None:
    with pytest.raises(redis.ResponseError, match="riskwall decimal"):
        lua_decimal("fmt", text)


@pytest.mark.parametrize(
    ("value", "rounding", "expected"),
    [
        ("1.50", ROUND_HALF_EVEN, "1.50"),
        ("1E+3", ROUND_HALF_EVEN, "1000"),
        ("-0", ROUND_HALF_EVEN, "-0"),
        ("0.0000000000000000015", ROUND_CEILING, "0.000000000000000002"),
        ("0.0000000000000000015", ROUND_FLOOR, "0.000000000000000001"),
        ("-0.0000000000000000015", ROUND_FLOOR, "-0.000000000000000002"),
        ("333.3333333333333333333333333", ROUND_FLOOR, "333.333333333333333333"),
        ("123456789012345678901234567890.1234567890123456789", ROUND_FLOOR,
         "123456789012345678901234567890.123456789012345678"),
    ],
)
def test_to_fixed_when_more_than_18_places_then_rounded_as_asked_else_exact(
    value: str, rounding: str, expected: str
) -> None:
    assert to_fixed(Decimal(value), rounding) == expected


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), 1.5])
def test_to_fixed_when_not_a_finite_decimal_then_value_error(value: Any) -> None:
    with pytest.raises(ValueError, match="not a finite Decimal"):
        to_fixed(value)


@settings(max_examples=300, deadline=None)
@given(
    quantity=st.integers(-(10**30), 10**30).map(lambda n: Decimal(n).scaleb(-18)),
    limit=st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12, places=28),
)
def test_to_fixed_when_limit_rounded_down_then_comparison_with_18_place_amounts_is_unchanged(
    quantity: Decimal, limit: Decimal
) -> None:
    with localcontext() as ctx:
        ctx.prec = 100
        assert (quantity <= limit) == (quantity <= Decimal(to_fixed(limit, ROUND_FLOOR)))


# ---- scripts ----------------------------------------------------------------------------------------------

type Flush = Callable[[], object]
type Operation = Callable[[RedisStore, Flush], Awaitable[Any]]


async def _reserve_rate_only(store: RedisStore, flush: Flush) -> Any:
    flush()
    outcome = await store.reserve(make_reservation("n1", rate=(rate_check(limit=5),)))  # one EVALSHA
    return outcome.committed, outcome.results[0].observed


async def _reserve_with_legs(store: RedisStore, flush: Flush) -> Any:
    flush()
    outcome = await store.reserve(leg_reservation("n2", "2"))  # EVALSHA + SET in one pipeline
    return outcome.committed, outcome.results[0].observed, await worst(store)


async def _learn(store: RedisStore, flush: Flush) -> Any:
    flush()
    await store.learn(facts(order_update("o1", original="1", executed="0.5"), price_update("100")))  # 2 scripts
    return await worst(store), (await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))).price(VENUE, SYMBOL)


async def _release(store: RedisStore, flush: Flush) -> Any:
    await store.reserve(leg_reservation("n3", "2"))
    await store.reserve(leg_reservation("n4", "3"))
    flush()
    await store.release("n3")  # EVALSHA + DEL in one pipeline
    flush()
    await store.release("n4", after_ms=60_000)
    return await worst(store)


async def _states(store: RedisStore, flush: Flush) -> Any:
    flush()
    await store.set_trading_state(StateScope(str(VENUE)), TradingState.HALTED, "test", "pytest")
    return [(r.scope, r.state) for r in await store.trading_states()]


async def _exposure(store: RedisStore, flush: Flush) -> Any:
    await store.learn(facts(order_update("o1", original="1")))
    flush()
    return await store.exposure(VENUE, ACCOUNT)


NOSCRIPT_CASES: list[tuple[str, Operation, Any]] = [
    ("reserve", _reserve_rate_only, (True, Decimal(1))),
    ("reserve-with-legs", _reserve_with_legs, (True, Decimal(2), Decimal(2))),
    ("learn", _learn, (Decimal(1), Decimal(100))),
    ("release", _release, Decimal(3)),
    ("set-trading-state", _states, [(StateScope(str(VENUE)), TradingState.HALTED)]),
    ("exposure", _exposure, {f"{SYMBOL}|both": {"position": "0", "pending_buy": "1", "pending_sell": "0"}}),
]


def has_functions(client: redis.Redis) -> bool:
    """Whether the server has functions (Redis 7+)."""
    try:
        client.function_list()
    except redis.ResponseError:
        return False
    return True


def require_functions(client: redis.Redis) -> None:
    if not has_functions(client):
        pytest.skip("this Redis has no functions (Redis < 7): its stores run their scripts with EVALSHA, tested "
                    "by the 'scripts' cases")


@pytest.fixture
def no_functions_url(redis_prefix: str, sync_redis: redis.Redis) -> Iterator[str]:
    """The test server's URL for a user whose ACL refuses FUNCTION and FCALL: what a store sees on a server without
    functions (Redis 6) or under such an ACL (the commands are refused before anything runs, as unknown ones are)."""
    if not has_functions(sync_redis):
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"  # no functions: any user sees what such a user would
        return
    with acl_user(sync_redis, f"rw-scripts-{redis_prefix}", "~*", "-function", "-fcall", "-fcall_ro") as url:
        yield url


@contextlib.contextmanager
def acl_user(client: redis.Redis, name: str, *rules: str) -> Iterator[str]:
    """A user of the test server with every command and `rules` on top, as a URL; deleted afterwards."""
    password = secrets.token_hex(8)
    client.execute_command("ACL", "SETUSER", name, "on", f">{password}", "&*", "+@all", *rules)
    try:
        yield f"redis://{name}:{password}@{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    finally:
        client.execute_command("ACL", "DELUSER", name)


def _lose_functions_and_scripts(client: redis.Redis) -> Flush:
    def flush() -> None:
        client.function_flush()
        client.script_flush()

    return flush


# a store runs its scripts as functions where the server has them, else with EVALSHA: either way, a server that lost
# them (restart without persistence, failover to an empty replica, FLUSH) gets them again and runs the call once
LOADING_MODES = ["functions", "scripts"]


@pytest.mark.redis
@pytest.mark.parametrize("mode", LOADING_MODES)
@pytest.mark.parametrize(("name", "operation", "expected"), NOSCRIPT_CASES, ids=[c[0] for c in NOSCRIPT_CASES])
async def test_script_call_when_server_lost_its_scripts_then_reloaded_and_run_once(
    redis_prefix: str, sync_redis: redis.Redis, request: pytest.FixtureRequest, mode: str, name: str,
    operation: Operation, expected: Any,
) -> None:
    if mode == "functions":
        require_functions(sync_redis)
        store, flush = redis_store(redis_prefix), _lose_functions_and_scripts(sync_redis)
    else:
        store = redis_store(redis_prefix, request.getfixturevalue("no_functions_url"))
        flush = sync_redis.script_flush
    try:
        assert await operation(store, flush) == expected
        assert store._functions is (mode == "functions")
    finally:
        await store.close()


@pytest.mark.redis
async def test_store_when_the_server_refuses_functions_then_scripts_run_with_evalsha_and_it_is_said_once(
    redis_prefix: str, sync_redis: redis.Redis, no_functions_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = RecordingLog()
    monkeypatch.setattr("riskwall.state.redis.log", recorder)
    store = redis_store(redis_prefix, no_functions_url)
    sync_redis.config_resetstat()
    try:
        outcomes = [await store.reserve(leg_reservation(f"s{i}", "1", "2")) for i in range(3)]
        calls = {name: stats["calls"] for name, stats in sync_redis.info("commandstats").items()
                 if name in ("cmdstat_evalsha", "cmdstat_fcall")}
    finally:
        await store.close()

    assert [o.committed for o in outcomes] == [True, True, False]
    assert [event for event, _ in recorder.events] == ["redis_functions_unavailable"]
    assert calls.get("cmdstat_evalsha", 0) >= 3  # every reserve ran as a script (other tests may share the server)


@pytest.mark.redis
async def test_store_when_the_acl_refuses_the_keys_then_the_call_fails_and_functions_stay_in_use(
    redis_prefix: str, sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a refused key says nothing about functions: the call fails (the breaker turns that into a refusal), and the
    # store does not fall back to EVALSHA for good
    require_functions(sync_redis)
    recorder = RecordingLog()
    monkeypatch.setattr("riskwall.state.redis.log", recorder)
    with acl_user(sync_redis, f"rw-keys-{redis_prefix}", "~elsewhere:*") as url:
        store = redis_store(redis_prefix, url)
        try:
            with pytest.raises(StateUnavailable, match="NoPermission"):
                await store.reserve(leg_reservation("k1"))
            functions = store._functions
        finally:
            await store.close()

    assert (functions, recorder.events) == (True, [])


@pytest.mark.redis
async def test_store_when_the_server_has_no_function_commands_then_every_script_runs_with_evalsha(
    redis_binary: None, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # FCALL and FUNCTION renamed away: the server answers them "unknown command", as Redis 6 does
    port = free_port()
    server = start_redis(port, "--rename-command", "FCALL", "", "--rename-command", "FUNCTION", "")
    url = f"redis://127.0.0.1:{port}/0"
    recorder = RecordingLog()
    monkeypatch.setattr("riskwall.state.redis.log", recorder)
    store = RedisStore(make_client(url), url=url)
    try:
        first = await store.reserve(leg_reservation("a", "1", "2"))
        await store.learn(facts(dataclasses.replace(order_update("o1", original="1", executed="0.5"),
                                                    client_order_id="c1")))
        view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), client_ids=("c1",)))
        await store.release("a")
        second = await store.reserve(leg_reservation("b", "1", "2"))
    finally:
        await store.close()
        stop_redis(server)

    assert (first.committed, list(view.by_client), second.committed) == (True, ["c1"], True)
    assert second.results[0].observed == Decimal(2)  # 0.5 filled, 0.5 still open and 1 of this one ("a" released)
    assert [event for event, _ in recorder.events] == ["redis_functions_unavailable"]


@pytest.mark.redis
async def test_store_when_the_server_has_functions_then_each_script_is_one_library_named_by_its_text(
    redis_prefix: str, sync_redis: redis.Redis,
) -> None:
    require_functions(sync_redis)
    store = redis_store(redis_prefix)
    reserve = store._scripts["reserve"]
    try:
        for attempt in range(5):  # a test alongside may flush the server's functions between the two steps
            await store.reserve(leg_reservation(f"f{attempt}"))
            entries = [dict(zip(entry[::2], entry[1::2], strict=True)) for entry in sync_redis.function_list()]
            libraries = {entry["library_name"]: [dict(zip(f[::2], f[1::2], strict=True))["name"]
                                                 for f in entry["functions"]] for entry in entries}
            if reserve.function in libraries:
                break
    finally:
        await store.close()

    assert reserve.function.startswith("riskwall_reserve_") and reserve.function[-16:] == reserve.sha[:16]
    assert libraries.get(reserve.function) == [reserve.function]


@pytest.mark.redis
async def test_learn_when_a_function_sees_thousands_of_distinct_amounts_then_its_memory_stays_bounded(
    redis_prefix: str, sync_redis: redis.Redis,
) -> None:
    # decimal.lua's parse cache lives as long as the library and is bounded (begin_decimal() starts it afresh past
    # 1,024 texts): unbounded, these 4000 calls leave ~2 MB behind; bounded, a few hundred KB at most. Measured
    # after a full collection of the functions' Lua VM (one VM for every library), so Lua's collector does not blur it
    require_functions(sync_redis)
    collector = f"rwtest_gc_{redis_prefix.replace('-', '_')}"
    source = (f"#!lua name={collector}\nredis.register_function('{collector}', function() "
              "collectgarbage('collect') return math.floor(collectgarbage('count') * 1024) end)")

    def lua_bytes() -> int:
        # loaded again each time: a test alongside may flush the server's functions
        sync_redis.function_load(source, replace=True)
        return int(sync_redis.fcall(collector, 0))

    store = redis_store(redis_prefix)
    try:
        await store.learn(facts(order_update("warm", original="1", executed="0.5")))
        before = lua_bytes()
        run = secrets.randbelow(10**6)  # texts no earlier run parsed: the library (and its cache) outlives tests
        for i in range(4000):
            await store.learn(facts(order_update(f"m{i}", original=f"1.{run:06d}{i:06d}1",
                                                 executed=f"0.{run:06d}{i:06d}1")))
        grown = lua_bytes() - before
    finally:
        await store.close()
        with contextlib.suppress(redis.ResponseError):
            sync_redis.function_delete(collector)

    assert grown < 1_000_000, f"the functions' Lua memory grew {grown} bytes over 4000 calls"


# ---- races ------------------------------------------------------------------------------------------------

RACE_RATE_LIMIT = 20
RACE_POSITION_LIMIT = "0.7"  # exactly seven orders of 0.1: a float sum would get this wrong
RACE_ORDER_QTY = "0.1"


def race_reservation(kind: str, reservation_id: str) -> Reservation:
    if kind == "rate":
        return make_reservation(reservation_id, rate=(rate_check(limit=RACE_RATE_LIMIT, window_ms=LONG_WINDOW_MS),))
    return leg_reservation(reservation_id, RACE_ORDER_QTY, RACE_POSITION_LIMIT)


@pytest.mark.redis
async def test_reserve_when_many_clients_race_then_exactly_the_limits_are_admitted(redis_prefix: str) -> None:
    stores = [redis_store(redis_prefix) for _ in range(5)]
    attempts = [(kind, i) for i in range(30) for kind in ("rate", "exposure")]
    try:
        outcomes: list[ReserveOutcome] = await asyncio.wait_for(
            asyncio.gather(*(
                stores[i % len(stores)].reserve(race_reservation(kind, f"{kind}-{i}")) for i, (kind, _) in
                enumerate(attempts)
            )),
            timeout=30,
        )
        final = await worst(stores[0])
    finally:
        for store in stores:
            await store.close()

    admitted = {kind: sum(o.committed for (k, _), o in zip(attempts, outcomes, strict=True) if k == kind)
                for kind in ("rate", "exposure")}
    assert admitted == {"rate": RACE_RATE_LIMIT, "exposure": 7}
    assert final == Decimal(RACE_POSITION_LIMIT)


@pytest.mark.redis
async def test_reserve_when_many_clients_race_with_one_order_then_exactly_one_is_admitted(redis_prefix: str) -> None:
    stores = [redis_store(redis_prefix) for _ in range(3)]
    duplicate = DuplicateCheck("duplicates", VENUE, ACCOUNT, "0123abcd", LONG_WINDOW_MS, True)
    try:
        outcomes: list[ReserveOutcome] = await asyncio.wait_for(
            asyncio.gather(*(stores[i % len(stores)].reserve(Reservation(f"same-{i}", duplicates=(duplicate,)))
                             for i in range(30))),
            timeout=30,
        )
    finally:
        for store in stores:
            await store.close()

    [first] = [i for i, outcome in enumerate(outcomes) if outcome.committed]
    refused = [dict(o.results[0].detail)["duplicate_of"] for o in outcomes if not o.committed]
    assert refused == [f"same-{first}"] * 29


def race_worker(url: str, attempts: int, start: Any, results: Any) -> None:
    """One sidecar process: its own store and event loop, racing the others once everyone is ready."""

    async def run() -> dict[str, int]:
        store = open_store(url)
        admitted = {"rate": 0, "exposure": 0}
        try:
            for i in range(attempts):
                for kind in admitted:
                    outcome = await store.reserve(race_reservation(kind, f"{os.getpid()}-{kind}-{i}"))
                    admitted[kind] += outcome.committed
        finally:
            await store.close()
        return admitted

    start.wait(timeout=60)
    results.put(asyncio.run(run()))


@pytest.mark.redis
def test_reserve_when_processes_race_then_exactly_the_limits_are_admitted(redis_prefix: str) -> None:
    url = redis_url(redis_prefix, timeout_ms=5000, probe_timeout_ms=5000)
    context = multiprocessing.get_context("spawn")
    processes_n, attempts = 3, 15
    start, results = context.Barrier(processes_n), context.Queue()
    processes = [context.Process(target=race_worker, args=(url, attempts, start, results)) for _ in range(processes_n)]
    for process in processes:
        process.start()
    try:
        counts = [results.get(timeout=90) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()

    assert all(p.exitcode == 0 for p in processes)
    assert sum(c["rate"] for c in counts) == RACE_RATE_LIMIT
    assert sum(c["exposure"] for c in counts) == 7


# ---- restarts and outages ---------------------------------------------------------------------------------


@pytest.mark.redis
async def test_store_when_restarted_then_counters_and_reservations_survive(redis_prefix: str) -> None:
    url = redis_url(redis_prefix)
    before = open_store(url)
    rate = rate_check(limit=3, window_ms=LONG_WINDOW_MS)
    for i in range(2):
        assert (await before.reserve(make_reservation(f"a{i}", rate=(rate,)))).committed
    await before.reserve(leg_reservation("held", "2"))
    await before.learn(facts(order_update("o1", original="1", executed="0.5")))
    await before.close()

    after = open_store(url)
    try:
        third = await after.reserve(make_reservation("a2", rate=(rate,)))
        fourth = await after.reserve(make_reservation("a3", rate=(rate,)))
        exposure_before_release = await worst(after)
        await after.release("held")  # reserved by the other instance
        exposure_after_release = await worst(after)
    finally:
        await after.close()

    assert (third.committed, third.results[0].observed) == (True, Decimal(3))
    assert (fourth.committed, fourth.results[0].observed) == (False, Decimal(4))
    assert (exposure_before_release, exposure_after_release) == (Decimal(3), Decimal(1))


@pytest.mark.redis
async def test_reservation_when_never_released_then_it_lapses_after_the_ttl(redis_prefix: str) -> None:
    store = redis_store(redis_prefix, reservation_ttl_ms=200)
    try:
        await store.reserve(leg_reservation("orphan", "2"))  # its sidecar died before release
        held = await worst(store)
        await asyncio.sleep(0.3)
        lapsed = await worst(store)
    finally:
        await store.close()

    assert (held, lapsed) == (Decimal(2), Decimal(0))


@pytest.mark.redis
async def test_learn_when_a_fill_is_held_then_it_never_lapses_while_a_vanished_order_does(
    redis_prefix: str, sync_redis: redis.Redis
) -> None:
    # MemoryStore's behaviour (test_memory_store: ..._only_a_held_fill_outlives_the_hold_time), read off the keys:
    # the lapse set schedules the vanished order's hold and not the fill's
    store = redis_store(redis_prefix)
    try:
        asked = int(time.time() * 1000) - 60_000
        await store.learn(dataclasses.replace(facts(order_update("f1", original="5"), order_update("v1")),
                                              asked_ms=asked))
        await store.learn(facts(positions_report((SYMBOL, PositionSide.BOTH, "0"), symbol=SYMBOL)))
        await store.learn(facts(order_update("f1", original="5", executed="5", final=True)))
        listed = int(time.time() * 1000) + 1000  # after v1 was learned, clocks' margin included
        await store.learn(facts(dataclasses.replace(open_orders(symbol=SYMBOL), asked_ms=listed)))
    finally:
        await store.close()

    base = f"{redis_prefix}:{{{VENUE}|{ACCOUNT}}}"
    assert sorted(sync_redis.hkeys(f"{base}:resv")) == ["fill:f1:5", "vanished:v1"]
    assert sync_redis.zrange(f"{base}:lapse", 0, -1) == ["vanished:v1"]


@pytest.mark.redis
@pytest.mark.parametrize(("answer_is_the_accounts", "scripts"), [
    pytest.param(True, ["learn"], id="the answer teaches its account: learning and release are one script"),
    pytest.param(False, ["learn", "release"], id="another account's facts: the release is its own call"),
])
async def test_settle_when_answer_and_reservation_given_then_one_script_call_per_account(
        redis_prefix: str, answer_is_the_accounts: bool, scripts: list[str]) -> None:
    store = redis_store(redis_prefix)
    sent: list[str] = []
    run = store._run

    async def recording(calls: Any, extra: Any = None, written: Any = None) -> list[Any]:
        sent.extend(call.script for call in calls)
        return await run(calls, extra, written)

    account = ACCOUNT if answer_is_the_accounts else "another-account"
    try:
        await store.reserve(leg_reservation("settled", "2"))
        held = await worst(store)
        store._run = recording  # type: ignore[method-assign]
        await store.settle(facts(order_update("o-settled", "2", "0", final=True, account=account,
                                              reservation_id="settled:0")), "settled")
        released = await worst(store)
    finally:
        await store.close()

    assert sent == scripts
    assert (held, released) == (Decimal(2), Decimal(0))


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def start_redis(port: int, *extra: str) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis("127.0.0.1", port, socket_timeout=0.2, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return server
            except redis.ConnectionError:
                time.sleep(0.01)
    finally:
        client.close()
    server.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


def stop_redis(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


@pytest.fixture
def redis_binary() -> None:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (CI=true: the outage tests must run)")
        pytest.skip("redis-server is not installed")


@pytest.mark.redis
async def test_store_when_redis_dies_and_returns_then_fails_fast_and_recovers_by_itself(redis_binary: None) -> None:
    port = free_port()
    server = start_redis(port)
    url = f"redis://127.0.0.1:{port}/0"
    log = RecordingLog()
    config = BreakerConfig(timeout_ms=50, failures=3, cooldown_ms=300, probe_timeout_ms=500)
    store = GuardedStore(RedisStore(make_client(url), url=url), config, log=log)
    rate = make_reservation("r", rate=(rate_check(limit=1000, window_ms=LONG_WINDOW_MS),))
    try:
        assert (await store.reserve(rate)).committed
        stop_redis(server)

        for _ in range(config.failures):
            started = time.monotonic()
            with pytest.raises(StateUnavailable) as raised:
                await store.reserve(rate)
            assert not isinstance(raised.value, CircuitOpen)
            assert time.monotonic() - started < 0.5
        assert store.breaker.state is BreakerState.OPEN

        started = time.monotonic()
        for _ in range(200):
            with pytest.raises(CircuitOpen):
                await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))
        assert time.monotonic() - started < 0.2

        server = start_redis(port)
        back = time.monotonic()
        outcome = None
        while outcome is None and time.monotonic() - back < 1.0:
            try:
                outcome = await store.reserve(rate)
            except StateUnavailable:
                await asyncio.sleep(0.02)
        assert outcome is not None, "the store did not recover within 1 s of Redis returning"
        assert outcome.committed and outcome.results[0].observed == 1  # a fresh server: nothing persisted
        assert store.breaker.state is BreakerState.CLOSED
        assert [event for event, _ in log.events] == ["state_store_down", "state_store_recovered"]
        assert log.events[1][1]["outage_ms"] > 0
    finally:
        await store.close()
        stop_redis(server)


@pytest.mark.redis
async def test_store_when_redis_is_slow_then_call_times_out_and_later_answers_are_not_mixed_up(
    redis_binary: None,
) -> None:
    port = free_port()
    server = start_redis(port, "--enable-debug-command", "yes")
    url = f"redis://127.0.0.1:{port}/0"
    store = GuardedStore(RedisStore(make_client(url), url=url), BreakerConfig(timeout_ms=50), log=RecordingLog())
    blocker = redis.Redis("127.0.0.1", port, socket_timeout=5)
    rate = make_reservation("r", rate=(rate_check(limit=1000, window_ms=LONG_WINDOW_MS),))
    try:
        assert (await store.reserve(rate)).committed
        loop = asyncio.get_running_loop()
        stall = loop.run_in_executor(None, blocker.execute_command, "DEBUG", "SLEEP", "0.4")
        await asyncio.sleep(0.05)  # the server is now frozen for 0.4 s

        started = time.monotonic()
        with pytest.raises(StateUnavailable, match="within 50 ms"):
            await store.reserve(rate)
        timed_out_after = time.monotonic() - started
        await asyncio.wait_for(stall, timeout=5)

        # the timed-out command's late reply must never be read as the answer to another command
        states = await store.trading_states()
        third = await store.reserve(rate)
    finally:
        await store.close()
        blocker.close()
        stop_redis(server)

    assert timed_out_after < 0.3
    assert states == ()
    assert third.committed and third.results[0].observed in (2, 3)  # 3 if the timed-out call ran after all


OPERATIONS: list[tuple[str, Callable[[StateStore], Awaitable[Any]]]] = [
    ("view", lambda s: s.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))),
    ("reserve", lambda s: s.reserve(leg_reservation("x"))),
    ("release", lambda s: s.release("x")),
    ("learn", lambda s: s.learn(facts(order_update()))),
    ("set_trading_state", lambda s: s.set_trading_state(StateScope(), TradingState.HALTED, "r", "a")),
    ("trading_states", lambda s: s.trading_states()),
    ("exposure", lambda s: s.exposure(VENUE, ACCOUNT)),
]


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[o[0] for o in OPERATIONS])
async def test_operation_when_no_server_answers_then_state_unavailable_at_once(
    name: str, operation: Callable[[StateStore], Awaitable[Any]]
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    store = RedisStore(make_client(url), url=url)
    started = time.monotonic()
    try:
        with pytest.raises(StateUnavailable, match="redis: ConnectionError"):
            await operation(store)
    finally:
        await store.close()
    assert time.monotonic() - started < 1.0


@pytest.mark.redis
async def test_reserve_when_reservation_spans_accounts_then_value_error_and_breaker_untouched(
    redis_prefix: str,
) -> None:
    store = open_store(redis_url(redis_prefix))
    assert isinstance(store, GuardedStore)
    mixed = make_reservation(
        "m",
        exposure=(exposure_check(), exposure_check(position=position_key(account=OTHER_ACCOUNT))),
    )
    try:
        for _ in range(store.config.failures):
            with pytest.raises(ValueError, match="exactly one account"):
                await store.reserve(mixed)
        assert store.breaker.state is BreakerState.CLOSED
    finally:
        await store.close()


# ---- key layout -------------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_keys_when_account_is_used_then_all_its_keys_share_one_slot_and_idle_keys_expire(
    redis_prefix: str, sync_redis: redis.Redis
) -> None:
    store = redis_store(redis_prefix)
    account_rate = rate_check(window_ms=1000, key=f"rate|{VENUE}|{ACCOUNT}")
    symbol_rate = rate_check(
        limit=5, window_ms=5000, key=f"per-symbol|{VENUE}|{ACCOUNT}|{SYMBOL}", rule_id="per-symbol"
    )
    try:
        reservation = make_reservation(
            "k1", rate=(account_rate, symbol_rate), exposure=(exposure_check("0.1"),),
            pending=(pending_entry("k1:0", "0.1"),),
        )
        duplicate = DuplicateCheck("duplicates", VENUE, ACCOUNT, "0123abcd", 2000, True)
        assert (await store.reserve(dataclasses.replace(reservation, duplicates=(duplicate,)))).committed
        await store.reserve(leg_reservation("k2", "0.2"))
        await store.learn(facts(
            order_update("o1", original="0.1", executed="0.1", final=True, reservation_id="k1:0"),
            order_update("o2", original="0.2", executed="0.2", reservation_id="k2:0"),
            price_update("60000.10"),
        ))
        await store.set_trading_state(StateScope(str(VENUE), ACCOUNT), TradingState.REDUCING, "r", "a")
    finally:
        await store.close()

    keys = set(sync_redis.scan_iter(match=f"{redis_prefix}:*"))
    base = f"{redis_prefix}:{{{VENUE}|{ACCOUNT}}}"
    assert keys == {
        f"{base}:pos", f"{base}:resv", f"{base}:lapse", f"{base}:open", f"{base}:done", f"{base}:seq", f"{base}:cnt",
        f"{base}:fill",  # when the fills of o1 and o2 moved the position
        f"{base}:gen",  # the account state's generation, written by the first reservation (never expires)
        f"{base}:rate:rate|{VENUE}|{ACCOUNT}:1000", f"{base}:rate:per-symbol|{VENUE}|{ACCOUNT}|{SYMBOL}:5000",
        f"{base}:dup:duplicates|0123abcd",
        f"{redis_prefix}:{{global}}:prices", f"{redis_prefix}:{{global}}:states",
        f"{redis_prefix}:{{global}}:fleet",  # the store's generation, written by the first reservation on it
        f"{redis_prefix}:rid:k1", f"{redis_prefix}:rid:k2",
    }  # no pend key: o2 filled completely, nothing is pending
    assert len({key_slot(k.encode()) for k in keys if k.startswith(base)}) == 1
    assert 0 < sync_redis.pttl(f"{base}:rate:rate|{VENUE}|{ACCOUNT}:1000") <= 1000
    assert 0 < sync_redis.pttl(f"{base}:dup:duplicates|0123abcd") <= 2000
    assert sync_redis.get(f"{base}:dup:duplicates|0123abcd").endswith("|k1")  # "<admitted ms>|<decision id>"
    assert 0 < sync_redis.pttl(f"{base}:done") <= 24 * 3_600_000
    assert sync_redis.pttl(f"{base}:gen") == -1 and len(sync_redis.get(f"{base}:gen")) == 16
    fleet = f"{redis_prefix}:{{global}}:fleet"
    assert sync_redis.pttl(fleet) == -1 and len(sync_redis.get(fleet)) == 16
    assert 0 < sync_redis.pttl(f"{redis_prefix}:rid:k1") <= DEFAULT_RESERVATION_TTL_MS
    assert sync_redis.hget(f"{base}:pos", f"{SYMBOL}|both") == "0.3"  # exact text, never 0.30000000000000004
    assert sync_redis.hget(f"{redis_prefix}:{{global}}:prices", f"{VENUE}|{SYMBOL}") == "mark|60000.10"


# ---- URLs -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "redis_part", "options", "breaker"),
    [
        ("redis://cache:6379/0", "redis://cache:6379/0", RedisOptions(), BreakerConfig()),
        (
            "rediss://:s3cret@cache:6380/2?timeout_ms=20&failures=5&cooldown_ms=100&probe_timeout_ms=300"
            "&prefix=team1&reservation_ttl_ms=0&socket_keepalive=true",
            "rediss://:s3cret@cache:6380/2?socket_keepalive=true",
            RedisOptions("team1", 0),
            BreakerConfig(20, 5, 100, 300),
        ),
        ("unix:///run/redis.sock?db=3&prefix=x", "unix:///run/redis.sock?db=3", RedisOptions("x"), BreakerConfig()),
    ],
    ids=["plain", "all-options", "unix"],
)
def test_parse_url_when_options_given_then_split_from_what_redis_py_reads(
    url: str, redis_part: str, options: RedisOptions, breaker: BreakerConfig
) -> None:
    assert parse_url(url) == (redis_part, options, breaker)


@pytest.mark.parametrize(
    "query",
    ["timeout_ms=0", "timeout_ms=fast", "failures=0", "cooldown_ms=-1", "prefix=", "prefix=a{b}", "prefix=a:b",
     "reservation_ttl_ms=1.5"],
)
def test_parse_url_when_option_invalid_then_unsupported_state_url(query: str) -> None:
    with pytest.raises(UnsupportedStateUrl, match=query.split("=")[0]):
        parse_url(f"redis://:pw@cache:6379/0?{query}")


@pytest.mark.parametrize("url", [
    "redis://:topsecret@cache:6379/0?failures=none",  # a bad option
    "ftp://user:topsecret@cache/0",  # no store at all
    "redis+sentinel://:topsecret@[::1/main",  # too broken to split
])
def test_open_store_when_url_invalid_then_error_never_shows_the_password(url: str) -> None:
    with pytest.raises(UnsupportedStateUrl) as raised:
        open_store(url)
    assert "topsecret" not in str(raised.value) and "***@" in str(raised.value)


def test_open_store_when_redis_url_then_guarded_redis_store_without_connecting() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0?timeout_ms=25&prefix=p"
    store = open_store(url)

    assert isinstance(store, GuardedStore) and isinstance(store.inner, RedisStore)
    assert store.url == url and store.config.timeout_ms == 25 and store.inner.keys.prefix == "p"


@pytest.mark.parametrize(
    "url",
    [
        "redis://cache:port/0",
        "redis://cache:6379/zero",
        "redis+sentinel://s1/main?health_check_interval=1",
        "redis+sentinel://s1:26379",
        "redis+sentinel://s1:x/main",
        "redis+sentinel://s1/a/b/c",
    ],
)
def test_open_store_when_url_malformed_then_unsupported_state_url(url: str) -> None:
    with pytest.raises(UnsupportedStateUrl):
        open_store(url)


@pytest.mark.parametrize(
    ("url", "sentinels", "service", "db", "password"),
    [
        ("redis+sentinel://:pw@s1:26380,s2/mymaster/2", (("s1", 26380), ("s2", 26379)), "mymaster", 2, "pw"),
        ("redis+sentinel://10.0.0.5/main", (("10.0.0.5", 26379),), "main", 0, None),
        ("redis+sentinel://[::1]:26390,[fd00::5]/main", (("::1", 26390), ("fd00::5", 26379)), "main", 0, None),
    ],
)
def test_parse_sentinel_url_when_valid_then_every_part_found(
    url: str, sentinels: tuple[tuple[str, int], ...], service: str, db: int, password: str | None
) -> None:
    target = parse_sentinel_url(url)

    assert (target.sentinels, target.service, target.db, target.password) == (sentinels, service, db, password)


@pytest.mark.parametrize("url", [
    "redis+sentinel://s1:port/main", "redis+sentinel://s1:/main", "redis+sentinel://s1:70000/main",
    "redis+sentinel://:pw@/main", "redis+sentinel://s1,,s2/main", "redis+sentinel://[::1/main",
])
def test_parse_sentinel_url_when_a_sentinel_is_not_host_port_then_refused_without_the_password(url: str) -> None:
    with pytest.raises(UnsupportedStateUrl, match="is not host\\[:port\\]") as caught:
        parse_sentinel_url(url)

    assert "pw" not in str(caught.value)


@pytest.mark.redis
@pytest.mark.parametrize(("maxmemory", "policy", "refused"), [
    ("100mb", "volatile-lru", True),  # (a managed Redis's default): the windows and budgets carry TTLs
    ("100mb", "allkeys-lru", True),
    ("100mb", "noeviction", False),
    ("0", "volatile-lru", False),  # no limit: nothing is ever evicted
])
async def test_reserve_when_the_server_may_evict_keys_then_refused_until_its_policy_is_noeviction(
    redis_binary: None, maxmemory: str, policy: str, refused: bool
) -> None:
    port = free_port()
    server = start_redis(port, "--maxmemory", maxmemory, "--maxmemory-policy", policy)
    store = open_store(f"redis://127.0.0.1:{port}/0?prefix=e&probe_timeout_ms=3000")
    client = redis.Redis("127.0.0.1", port, decode_responses=True)
    try:
        if refused:
            # the first reservation reads the policy in its own round trip: it may have committed, and is released
            for call in (lambda: store.reserve(leg_reservation("e1", "0.1", "1")),
                         lambda: store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))):
                with pytest.raises(StateUnavailable, match=f"maxmemory-policy {policy}"):
                    await call()
            assert client.hlen(f"e:{{{VENUE}|{ACCOUNT}}}:resv") == 0
            client.config_set("maxmemory-policy", "noeviction")
            assert isinstance(store, GuardedStore)
            store.inner._eviction_next_read = 0.0  # type: ignore[attr-defined]  # (as if a minute had passed)
        assert (await store.reserve(leg_reservation("e2", "0.1", "1"))).committed  # read again: decided on
    finally:
        client.close()
        await store.close()
        stop_redis(server)


@pytest.mark.redis
async def test_view_when_the_call_reading_the_eviction_policy_failed_then_the_next_call_reads_it(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = redis_store(redis_prefix)
    send = store._link.send
    asked: list[bool] = []

    async def failing_once(commands: Any, written: Any = None) -> list[Any]:
        asked.append(any(command[0] == "INFO" for command in commands))
        if len(asked) == 1:
            raise redis.ConnectionError("reset by peer")
        return await send(commands, written)

    monkeypatch.setattr(store._link, "send", failing_once)
    try:
        with pytest.raises(StateUnavailable):
            await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))
        for _ in range(2):
            await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))
    finally:
        await store.close()

    assert asked == [True, True, False]  # read again by the next call, then not for a minute


@pytest.mark.redis
async def test_store_when_reached_through_sentinel_then_it_uses_the_master(
    redis_binary: None, tmp_path: Path
) -> None:
    master_port, sentinel_port = free_ports(2)
    master = start_redis(master_port)
    config = tmp_path / "sentinel.conf"
    config.write_text(f"port {sentinel_port}\nbind 127.0.0.1\nsentinel monitor main 127.0.0.1 {master_port} 1\n")
    sentinel = subprocess.Popen(["redis-server", str(config), "--sentinel"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = open_store(f"redis+sentinel://127.0.0.1:{sentinel_port}/main/0?prefix=s&probe_timeout_ms=3000")
    try:
        outcome = None
        deadline = time.monotonic() + 5
        while outcome is None and time.monotonic() < deadline:  # the sentinel needs a moment to listen
            try:
                outcome = await store.reserve(make_reservation("s1", rate=(rate_check(limit=1),)))
            except StateUnavailable:
                await asyncio.sleep(0.05)
        direct = redis.Redis("127.0.0.1", master_port, decode_responses=True)
        keys = direct.keys("s:*")
        direct.close()
    finally:
        await store.close()
        stop_redis(sentinel)
        stop_redis(master)

    assert outcome is not None and outcome.committed
    base = f"s:{{{VENUE}|{ACCOUNT}}}"
    assert sorted(keys) == [f"{base}:gen", f"{base}:rate:{VENUE}|{ACCOUNT}:1000", f"{base}:seq", "s:{global}:fleet"]


@pytest.mark.redis
async def test_close_when_reached_through_sentinel_then_no_connection_to_the_sentinel_stays_open(
    redis_binary: None, tmp_path: Path
) -> None:
    master_port, sentinel_port = free_ports(2)
    master = start_redis(master_port)
    config = tmp_path / "sentinel.conf"
    config.write_text(f"port {sentinel_port}\nbind 127.0.0.1\nsentinel monitor main 127.0.0.1 {master_port} 1\n")
    sentinel = subprocess.Popen(["redis-server", str(config), "--sentinel"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = open_store(f"redis+sentinel://127.0.0.1:{sentinel_port}/main/0?prefix=s&probe_timeout_ms=3000")
    watcher = redis.Redis("127.0.0.1", sentinel_port, decode_responses=True, socket_timeout=2)
    try:
        outcome = None
        deadline = time.monotonic() + 5
        while outcome is None and time.monotonic() < deadline:  # the sentinel needs a moment to listen
            try:
                outcome = await store.reserve(make_reservation("s1", rate=(rate_check(limit=1),)))
            except StateUnavailable:
                await asyncio.sleep(0.05)
        while_open = len(watcher.client_list())
        await store.close()
        after_close = len(watcher.client_list())
        deadline = time.monotonic() + 2
        while after_close > 1 and time.monotonic() < deadline:  # the sentinel reads a closed socket's end late
            await asyncio.sleep(0.02)
            after_close = len(watcher.client_list())
    finally:
        watcher.close()
        await store.close()
        stop_redis(sentinel)
        stop_redis(master)

    assert outcome is not None and outcome.committed
    assert while_open > 1  # the store asked the sentinel for the master, on a connection of its own
    assert after_close == 1  # only the watcher's


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_require_redis_when_no_server_then_skip_with_reason_except_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    from . import conftest

    monkeypatch.setattr(conftest, "_reachable", False)
    monkeypatch.setenv("CI", ci)

    with pytest.raises(outcome, match=r"no Redis on 127\.0\.0\.1:6379"):
        require_redis()


# ---- a store that lost its data ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def two_sidecars(prefix: str) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two sidecars' stores on one Redis key prefix, closed after."""
    first, second = redis_store(prefix), redis_store(prefix)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def _wipe_everything(client: redis.Redis, prefix: str) -> None:
    """A restart without persistence, a FLUSH: every key gone (the test's own prefix only)."""
    client.delete(*client.scan_iter(match=f"{prefix}:*"))


def _wipe_the_account(client: redis.Redis, prefix: str) -> None:
    client.delete(*client.scan_iter(match=f"{prefix}:{{{VENUE}|{ACCOUNT}}}:*"))


def _another_generation(client: redis.Redis, prefix: str) -> None:
    """Wiped, then another sidecar (one that never saw the account) reserved first: a generation of its own."""
    _wipe_everything(client, prefix)
    client.set(f"{prefix}:{{{VENUE}|{ACCOUNT}}}:gen", "0123456789abcdef")


@pytest.mark.redis
@pytest.mark.parametrize("lose", [_wipe_everything, _wipe_the_account, _another_generation])
async def test_reserve_when_store_lost_the_accounts_state_then_refused_and_fleet_reducing_until_resumed(
    redis_prefix: str, sync_redis: redis.Redis, lose: Callable[[redis.Redis, str], None]
) -> None:
    store = GuardedStore(redis_store(redis_prefix), BreakerConfig(timeout_ms=2000))
    other = redis_store(redis_prefix)  # a second sidecar of the fleet, which never ordered for the account
    try:
        assert (await store.reserve(leg_reservation("g1", "0.9", "1"))).committed
        lose(sync_redis, redis_prefix)

        # without the check, 0.9 more would be admitted against a limit of 1 (the first 0.9 is forgotten)
        with pytest.raises(StateLost):
            await store.reserve(leg_reservation("g2", "0.9", "1"))

        assert not sync_redis.hexists(f"{redis_prefix}:{{{VENUE}|{ACCOUNT}}}:resv", "g2")
        [record] = await other.trading_states()
        assert (record.scope, record.state, record.actor) == (StateScope(), TradingState.REDUCING, "riskwall")
        assert "lost its data" in record.reason and "riskwall resume" in record.reason
        assert store.breaker.state is BreakerState.CLOSED  # the store answered: no outage to count
        # the fleet's REDUCING state guards from here; the store takes the generation it holds now
        assert (await store.reserve(leg_reservation("g3", "0.1", "1"))).committed
        await store.set_trading_state(StateScope(), TradingState.ACTIVE, "positions checked", "ops")
        assert await other.trading_states() == ()
    finally:
        await store.close()
        await other.close()


async def _reserve_light(store: RedisStore, reservation: Reservation) -> ReserveOutcome:
    """The one-step path: planned on the states last read, reserved with them read again (`reserve_seen`)."""
    seen = store.cached_view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))
    assert seen is not None
    return (await store.reserve_seen(reservation, seen))[0]


async def _reserve_full(store: RedisStore, reservation: Reservation) -> ReserveOutcome:
    await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))
    return await store.reserve(reservation)


@pytest.mark.redis
@pytest.mark.parametrize("reserve", [_reserve_full, _reserve_light], ids=["view-then-reserve", "reserve-seen"])
async def test_reserve_when_store_lost_its_data_after_this_sidecar_only_read_the_account_then_refused_and_reducing(
    redis_prefix: str, sync_redis: redis.Redis,
    reserve: Callable[[RedisStore, Reservation], Awaitable[ReserveOutcome]],
) -> None:
    async with two_sidecars(redis_prefix) as (restarted, other):
        # the fleet traded on the store before this sidecar (re)started; this one has only read the account since:
        # its orders were refused by a halt, so it never reserved for it
        assert (await other.reserve(leg_reservation("before", "0.9", "1"))).committed
        await restarted.set_trading_state(StateScope(VENUE, ACCOUNT), TradingState.HALTED, "desk", "ops")
        await restarted.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,)))
        _wipe_everything(sync_redis, redis_prefix)  # the halt and the 0.9 with it

        with pytest.raises(StateLost):
            await reserve(restarted, leg_reservation("after", "0.9", "1"))

        assert not sync_redis.hexists(f"{redis_prefix}:{{{VENUE}|{ACCOUNT}}}:resv", "after")
        [record] = await other.trading_states()
        assert (record.scope, record.state, record.actor) == (StateScope(), TradingState.REDUCING, "riskwall")
        # told once: the other sidecar meets the same loss as told, and the fleet's REDUCING guards from here
        assert (await other.reserve(leg_reservation("later", "0.1", "1"))).committed


@pytest.mark.redis
async def test_reserve_when_telling_a_loss_is_cut_short_then_the_next_order_tells_it_again(
    redis_prefix: str, sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with two_sidecars(redis_prefix) as (finder, other):
        assert (await finder.reserve(leg_reservation("g1", "0.9", "1"))).committed
        assert (await other.reserve(leg_reservation("o1", "0.05", "1"))).committed
        _wipe_everything(sync_redis, redis_prefix)
        writes = finder.set_trading_state

        async def timed_out(*args: Any) -> None:  # the budget ran out before REDUCING was written
            monkeypatch.setattr(finder, "set_trading_state", writes)
            raise StateUnavailable("redis: TimeoutError")

        monkeypatch.setattr(finder, "set_trading_state", timed_out)
        with pytest.raises(StateUnavailable):
            await finder.reserve(leg_reservation("g2", "0.9", "1"))
        assert sync_redis.get(f"{redis_prefix}:{{global}}:lost") is None  # not told: no mark without the state

        # whichever sidecar orders next finds the loss untold, and tells it: neither trades on the empty store
        for store, name in ((other, "o2"), (finder, "g3")):
            with pytest.raises(StateLost):
                await store.reserve(leg_reservation(name, "0.9", "1"))
            [record] = await finder.trading_states()
            assert record.state is TradingState.REDUCING
            await finder.set_trading_state(StateScope(), TradingState.ACTIVE, "test: next sidecar", "ops")
            sync_redis.delete(f"{redis_prefix}:{{global}}:lost")  # as if that sidecar had never told it


@pytest.mark.redis
async def test_release_when_the_command_beside_a_committed_reservation_failed_then_it_is_released_all_the_same(
    redis_prefix: str, sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a full server (noeviction) that let a script through refuses the owner's SET beside it (EVALSHA scripts keep
    # writing once their first write passed): the order is refused, but its reservation stands
    store = redis_store(redis_prefix)
    send = store._link.send

    async def refusing_the_owner(commands: Any, written: Any = None) -> list[Any]:
        refused = [n for n, command in enumerate(commands) if command[0] == "SET" and ":rid:" in str(command[1])]
        replies = await send([c for n, c in enumerate(commands) if n not in refused], written)
        for n in refused:  # the server never took it
            replies.insert(n, redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'."))
        return replies

    try:
        monkeypatch.setattr(store._link, "send", refusing_the_owner)
        with pytest.raises(StateUnavailable, match="OOM"):
            await store.reserve(leg_reservation("oom", "0.4", "1"))
        assert sync_redis.hexists(f"{redis_prefix}:{{{VENUE}|{ACCOUNT}}}:resv", "oom")  # committed all the same
        monkeypatch.setattr(store._link, "send", send)

        await store.release("oom")

        assert not sync_redis.hexists(f"{redis_prefix}:{{{VENUE}|{ACCOUNT}}}:resv", "oom")
        assert await worst(store) == 0
    finally:
        await store.close()


@pytest.mark.redis
async def test_reserve_when_sidecars_share_an_intact_store_then_never_lost(
    redis_prefix: str, sync_redis: redis.Redis
) -> None:
    async with two_sidecars(redis_prefix) as (first, second):
        for n in range(20):
            for store in (first, second):
                outcome = await store.reserve(leg_reservation(f"i{n}-{id(store)}", "0.01", "100"))
                assert outcome.committed
        generation = sync_redis.get(f"{redis_prefix}:{{{VENUE}|{ACCOUNT}}}:gen")
        assert generation is not None and sync_redis.pttl(f"{redis_prefix}:{{{VENUE}|{ACCOUNT}}}:gen") == -1
        assert await first.trading_states() == ()


@pytest.mark.redis
async def test_reserve_when_a_loss_was_told_and_resumed_then_no_sidecar_or_account_puts_the_fleet_back(
    redis_prefix: str, sync_redis: redis.Redis
) -> None:
    accounts = (ACCOUNT, OTHER_ACCOUNT)

    def order_of(store: RedisStore, account: str, name: str) -> Reservation:
        check = exposure_check("0.1", "1", position=position_key(account=account))
        return make_reservation(f"{name}-{id(store)}-{account}", exposure=(check,))

    async with two_sidecars(redis_prefix) as (first, second):
        for store in (first, second):
            for account in accounts:  # both sidecars have met both accounts
                assert (await store.reserve(order_of(store, account, "before"))).committed
        _wipe_everything(sync_redis, redis_prefix)

        with pytest.raises(StateLost):
            await first.reserve(order_of(first, ACCOUNT, "found"))
        await second.set_trading_state(StateScope(), TradingState.ACTIVE, "positions checked", "ops")

        # the same loss, met again by the other account and the other sidecar: told already, nothing more
        for store in (first, second):
            for account in accounts:
                assert (await store.reserve(order_of(store, account, "after"))).committed
        assert await first.trading_states() == ()
        # a loss after that is a loss again
        _wipe_the_account(sync_redis, redis_prefix)
        with pytest.raises(StateLost):
            await second.reserve(order_of(second, ACCOUNT, "again"))
