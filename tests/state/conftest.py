"""Fixtures for the store tests: one contract suite, run against MemoryStore and RedisStore alike.

    async def test_something(store, advance):        # `async def` tests and fixtures share one loop per test
        await store.reserve(...)
        await advance(300)                            # memory: moves the fake clock; Redis: really waits

Redis tests use the real server on 127.0.0.1:6379, database 15, each test under its own key prefix (deleted
afterwards), so tests never see each other's keys and never flush anything. Without that server they skip
("no Redis on 127.0.0.1:6379"), except under CI=true, where they fail: CI must not pass without running them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from riskwall.state import StateStore, open_store
from riskwall.state.memory import MemoryStore
from unit.factories import FakeClock

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_DB = 15
NO_REDIS = f"no Redis on {REDIS_HOST}:{REDIS_PORT}"

type Advance = Callable[[int], Awaitable[None]]

_reachable: bool | None = None


def redis_reachable() -> bool:
    global _reachable
    if _reachable is None:
        try:
            client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, socket_timeout=0.5, socket_connect_timeout=0.5)
            _reachable = bool(client.ping())
            client.close()
        except (redis.RedisError, OSError):
            _reachable = False
    return _reachable


def require_redis() -> None:
    """Skip without Redis; under CI=true, fail instead (CI must never go green without the Redis tests)."""
    if redis_reachable():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{NO_REDIS} (CI=true: the Redis tests must run)")
    pytest.skip(NO_REDIS)


def redis_url(prefix: str, **options: object) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"prefix": prefix, **options}.items())
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}?{query}"


def unique_prefix() -> str:
    return f"rwtest-{uuid.uuid4().hex[:12]}"


def delete_prefix(prefix: str) -> None:
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, socket_timeout=5)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def delete_library(name: str) -> None:
    """Drop a function library a test loaded (one no riskwall version calls)."""
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, socket_timeout=5)
    try:
        with contextlib.suppress(redis.ResponseError):  # never loaded (the call ran as a script)
            client.execute_command("FUNCTION", "DELETE", name)
    finally:
        client.close()


# ---- the store under test --------------------------------------------------------------------------------


@dataclass
class Backend:
    kind: str
    store: StateStore
    advance: Advance
    prefix: str = ""


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()

        async def move_clock(ms: int) -> None:
            clock.advance(ms)

        yield Backend("memory", MemoryStore(clock=clock), move_clock)
        return
    require_redis()
    prefix = unique_prefix()
    # the production path (open_store → GuardedStore → RedisStore), with a budget that a loaded machine meets
    store = open_store(redis_url(prefix, timeout_ms=2000, probe_timeout_ms=5000))

    async def wait(ms: int) -> None:
        await asyncio.sleep(ms / 1000)

    try:
        yield Backend("redis", store, wait, prefix)
    finally:
        await store.close()  # on the test's own loop, which closes after it: its connections are closed too
        delete_prefix(prefix)


def store_now(backend: Backend) -> int:
    """The store's clock, which stamps what it learns: the fake one, or Redis's (this machine's wall clock)."""
    store = backend.store
    return store._clock() if isinstance(store, MemoryStore) else int(time.time() * 1000)


@pytest.fixture
def store(backend: Backend) -> StateStore:
    return backend.store


@pytest.fixture
def advance(backend: Backend) -> Advance:
    return backend.advance


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A fresh key prefix on the shared test Redis, deleted afterwards (skips without Redis)."""
    require_redis()
    prefix = unique_prefix()
    try:
        yield prefix
    finally:
        delete_prefix(prefix)


@pytest.fixture
async def sidecars() -> AsyncIterator[tuple[StateStore, StateStore]]:
    """Two Redis stores on one prefix: two sidecars of a fleet."""
    require_redis()
    prefix = unique_prefix()
    first = open_store(redis_url(prefix, timeout_ms=2000, probe_timeout_ms=5000))
    second = open_store(redis_url(prefix, timeout_ms=2000, probe_timeout_ms=5000))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
        delete_prefix(prefix)


def xfail_memory(request: pytest.FixtureRequest, backend: Backend, reason: str) -> None:
    """Mark a contract test as a known MemoryStore defect. Strict: the test still runs, and once memory.py is
    fixed it passes, which fails the run until this mark is removed."""
    if backend.kind == "memory":
        request.node.add_marker(pytest.mark.xfail(reason=f"MemoryStore defect: {reason}", strict=True))


__all__: list[Any] = [
    "NO_REDIS", "Advance", "Backend", "delete_prefix", "redis_url", "require_redis", "unique_prefix",
    "xfail_memory",
]
