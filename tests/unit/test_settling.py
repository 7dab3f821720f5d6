"""Settlements in flight (`riskwall.settling.Settling`): who waits for which, and that a waiter giving up leaves
them running."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from riskwall.settling import Settling
from riskwall.state.base import SETTLEMENT_WRITTEN


def slow_settlement(landed: list[str], what: str, delay_s: float = 0.05) -> Coroutine[Any, Any, None]:
    async def settle() -> None:
        await asyncio.sleep(delay_s)
        landed.append(what)

    return settle()


@pytest.mark.parametrize(("in_flight", "waiter", "waits"), [
    (("binanceusdm", "acct-1"), ("binanceusdm", "acct-1"), True),
    (("binanceusdm", "acct-1"), ("binanceusdm", "acct-2"), False),
    (("binanceusdm", None), ("binanceusdm", "acct-2"), True),  # a venue's prices: every account of it waits
    (("binanceusdm", "acct-1"), ("bybit", "acct-1"), False),
    (("binanceusdm", "acct-1"), ("binanceusdm", None), False),
], ids=["same-account", "other-account", "venue-prices", "other-venue", "no-account"])
async def test_wait_when_a_settlement_is_in_flight_then_only_its_account_and_venue_wait(
        in_flight: tuple[str, str | None], waiter: tuple[str, str | None], waits: bool) -> None:
    settling, landed = Settling(), []
    settling.start(in_flight, slow_settlement(landed, "answer"), "d1")

    await settling.wait(*waiter)

    assert landed == (["answer"] if waits else [])
    await settling.drain()


async def test_wait_when_the_waiter_gives_up_then_the_settlement_still_lands() -> None:
    settling, landed = Settling(), []
    settling.start(("binanceusdm", "acct-1"), slow_settlement(landed, "answer"), "d1")

    with pytest.raises(TimeoutError):  # a WebSocket frame's deadline, say
        await asyncio.wait_for(settling.wait("binanceusdm", "acct-1"), 0.01)
    await settling.drain()

    assert landed == ["answer"]  # cancelling the waiter did not cancel what it waited for
    assert settling.in_flight == 0


def settlement_that_writes(events: list[str], fails: bool = False) -> Coroutine[Any, Any, None]:
    """A settlement on an ordered store: its commands are sent (it says so), then its reply takes a while."""
    async def settle() -> None:
        await asyncio.sleep(0)
        if fails:
            raise ConnectionError("refused before anything was sent")
        written = SETTLEMENT_WRITTEN.get()
        assert written is not None
        written()
        events.append("written")
        await asyncio.sleep(0.05)
        events.append("landed")

    return settle()


@pytest.mark.parametrize(("fails", "seen_by_the_waiter"), [
    (False, ["written"]),  # the waiter goes on once it is sent: what it sends next is applied after it
    (True, []),  # nothing was sent: the waiter goes on once it has failed
], ids=["written", "failed-before-writing"])
async def test_wait_when_the_store_orders_what_it_is_sent_then_waits_until_written_not_landed(
        fails: bool, seen_by_the_waiter: list[str]) -> None:
    settling, events = Settling(), []
    settling.start(("binanceusdm", "acct-1"), settlement_that_writes(events, fails), "d1")

    await asyncio.wait_for(settling.wait("binanceusdm", "acct-1"), 1.0)
    seen = list(events)
    await settling.drain()

    assert seen == seen_by_the_waiter
    assert events == ([] if fails else ["written", "landed"])
    assert settling.in_flight == 0
