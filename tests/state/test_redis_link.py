"""The store's own Redis connection (`Link`) against the real server: each call gets its own replies, in order.

Calls made at the same time are pipelined on one connection and one reader hands each its replies. Whichever
parser redis-py reads with (hiredis, the default where it is installed, or its own) and on RESP2 and RESP3, every
concurrent call must get exactly its replies, error replies in their places, a reply larger than one socket
read whole; and a connection the server drops must fail the calls waiting on it, not leave them waiting, and the
next call must connect again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis._parsers import _AsyncRESP2Parser, _AsyncRESP3Parser
from redis._parsers.hiredis import _AsyncHiredisParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from riskwall.state.redis import Link

from .conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, delete_prefix, require_redis, unique_prefix

WIRINGS = [
    pytest.param(_AsyncHiredisParser, 3, id="hiredis-resp3"),  # what the store runs with
    pytest.param(_AsyncHiredisParser, 2, id="hiredis-resp2"),
    pytest.param(_AsyncRESP3Parser, 3, id="python-resp3"),
    pytest.param(_AsyncRESP2Parser, 2, id="python-resp2"),
]

BIG = "x" * 300_000  # several socket reads


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    require_redis()
    name = unique_prefix()
    yield name
    delete_prefix(name)


def client_for(parser: type, protocol: int) -> aioredis.Redis:
    pool = aioredis.ConnectionPool(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB, decode_responses=True,
                                   protocol=protocol, parser_class=parser, socket_timeout=5)
    return aioredis.Redis.from_pool(pool)  # the client closes its pool


@pytest.mark.parametrize(("parser", "protocol"), WIRINGS)
async def test_send_when_calls_overlap_then_each_gets_its_replies_in_order_errors_in_place(
        prefix: str, parser: type, protocol: int) -> None:
    client = client_for(parser, protocol)
    link = Link(client)
    try:
        big, counter, table = f"{prefix}:big", f"{prefix}:n", f"{prefix}:h"
        first, second, third = await asyncio.gather(
            link.send([("SET", big, BIG), ("GET", big), ("INCR", counter)]),
            link.send([("NOSUCHCOMMAND",), ("PING",), ("INCR", big)]),
            link.send([("HSET", table, "a", "1"), ("HGETALL", table), ("INCR", counter)]),
        )
        assert type(link._wire.connection._parser) is parser  # the wiring asked for is the one read with

        assert first == ["OK", BIG, 1]
        assert isinstance(second[0], ResponseError) and "unknown command" in str(second[0])
        assert second[1] in ("PONG", True)
        assert isinstance(second[2], ResponseError) and "not an integer" in str(second[2])
        assert third[0] == 1
        assert third[1] == {"a": "1"} or third[1] == ["a", "1"]  # a map on RESP3, a flat list on RESP2
        assert third[2] == 2
        # the connection is still good after the error replies: the next call is answered
        assert await link.send([("GET", counter)]) == ["2"]
    finally:
        await link.close()
        await client.aclose()


@pytest.mark.parametrize(("parser", "protocol"), WIRINGS)
async def test_send_when_the_server_drops_the_connection_then_the_waiting_call_fails_and_the_next_reconnects(
        prefix: str, parser: type, protocol: int) -> None:
    client = client_for(parser, protocol)
    link = Link(client)
    admin = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, socket_timeout=5)
    try:
        (connection_id,) = await link.send([("CLIENT", "ID")])
        waiting = asyncio.ensure_future(link.send([("BLPOP", f"{prefix}:never", 5)]))
        await asyncio.sleep(0.1)  # the BLPOP is on the server, its reply awaited
        assert admin.client_kill_filter(_id=connection_id) == 1

        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(waiting, 3)
        replies: list[Any] = await link.send([("SET", f"{prefix}:after", "1"), ("GET", f"{prefix}:after")])
        assert replies == ["OK", "1"]
    finally:
        admin.close()
        await link.close()
        await client.aclose()


async def test_send_when_the_transport_refuses_the_write_then_a_connection_error_and_the_next_reconnects(
        prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # uvloop raises RuntimeError writing to a transport the server has closed: that is a dropped connection, which
    # the store turns into StateUnavailable (an answer kept and tried again), not a bug that drops the answer
    client = client_for(_AsyncHiredisParser, 3)
    link = Link(client)
    try:
        assert await link.send([("SET", f"{prefix}:before", "1")]) == ["OK"]
        wire = link._wire
        assert wire is not None

        def closed(data: bytes) -> None:
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")

        monkeypatch.setattr(wire.connection._writer, "write", closed)

        with pytest.raises(RedisConnectionError):
            await link.send([("GET", f"{prefix}:before")])
        assert await link.send([("GET", f"{prefix}:before")]) == ["1"]
    finally:
        await link.close()
        await client.aclose()
