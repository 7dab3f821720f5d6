"""Settlements in flight (`riskwall.settling.Settling`): who waits for which, and that a waiter giving up leaves
them running."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from riskwall.settling import Settling


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
