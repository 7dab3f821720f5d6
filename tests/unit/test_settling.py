"""Settlements in flight (`riskwall.settling.Settling`): who waits for which, and that a waiter giving up leaves
them running."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from riskwall import settling as settling_module
from riskwall.settling import Settling
from riskwall.state.base import SETTLEMENT_WRITTEN, StateUnavailable


def slow_settlement(landed: list[str], what: str, delay_s: float = 0.05) -> Callable[[], Awaitable[None]]:
    async def settle() -> None:
        await asyncio.sleep(delay_s)
        landed.append(what)

    return settle


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


def settlement_that_writes(events: list[str], fails: bool = False) -> Callable[[], Awaitable[None]]:
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

    return settle


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


# ---- settlements the store could not take: kept and tried again -----------------------------------------------


class FlakyStore:
    """Writes settlements (`attempt(what)`), refusing the first `outage` tries as the store does when it is down
    or slower than its timeout; `refuse_forever` keeps refusing."""

    def __init__(self, outage: int = 1, refuse_forever: bool = False) -> None:
        self.outage, self.refuse_forever = outage, refuse_forever
        self.tries: list[str] = []
        self.landed: list[str] = []

    def attempt(self, what: str) -> Callable[[], Awaitable[None]]:
        async def settle() -> None:
            self.tries.append(what)
            if self.refuse_forever or len(self.tries) <= self.outage:
                raise StateUnavailable("state store did not answer within 50 ms")
            self.landed.append(what)

        return settle


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settling_module, "RETRY_FIRST_S", 0.01)
    monkeypatch.setattr(settling_module, "RETRY_MOST_S", 0.02)


@pytest.mark.usefixtures("quick_retries")
async def test_wait_when_an_answer_could_not_be_written_then_its_account_is_refused_until_it_lands() -> None:
    settling, store = Settling(), FlakyStore(outage=2)
    settling.start(("bybit", "acct-1"), store.attempt("fill"), "d1")

    with pytest.raises(StateUnavailable):  # its fill is not in the store: no order of it is decided without it
        await settling.wait("bybit", "acct-1")
    await settling.wait("bybit", "acct-2")  # another account's state is whole
    await settling.wait("bybit", None)
    for _ in range(100):
        if not settling.kept:
            break
        await asyncio.sleep(0.01)
    await settling.wait("bybit", "acct-1")  # it landed: the account trades again

    assert store.landed == ["fill"] and store.tries == ["fill"] * 3
    await settling.drain()


@pytest.mark.usefixtures("quick_retries")
async def test_start_when_the_account_has_answers_kept_then_later_ones_land_after_them_in_order() -> None:
    settling, store = Settling(), FlakyStore(outage=1)
    settling.start(("okx", "acct-1"), store.attempt("first"), "d1")
    await asyncio.sleep(0)  # the first has failed and is kept
    settling.start(("okx", "acct-1"), store.attempt("second"), "d2")  # the store would take it: it waits its turn
    settling.start(("okx", "acct-2"), store.attempt("other account"), "d3")

    for _ in range(100):
        if not settling.kept and not settling.in_flight:
            break
        await asyncio.sleep(0.01)

    assert store.landed == ["other account", "first", "second"]
    await settling.drain()


async def test_start_when_the_settlement_fails_for_another_reason_then_it_is_not_kept() -> None:
    settling = Settling()

    async def broken() -> None:
        raise ValueError("a script error: trying again cannot mend it")

    settling.start(("binanceusdm", "acct-1"), broken, "d1")
    await settling.wait("binanceusdm", "acct-1")

    assert settling.kept == 0
    await settling.drain()


@pytest.mark.usefixtures("quick_retries")
async def test_keep_when_more_than_it_holds_then_the_oldest_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settling_module, "KEPT_MOST", 2)
    settling, store = Settling(), FlakyStore(refuse_forever=True)
    for what in ("a", "b", "c"):
        settling.keep(("bitget", "acct-1"), store.attempt(what), what)

    assert settling.kept == 2
    store.refuse_forever, store.outage = False, 0
    await settling.drain()
    assert store.landed == ["b", "c"]


async def test_drain_when_answers_are_still_kept_then_each_is_tried_once_more() -> None:
    settling, store = Settling(), FlakyStore(refuse_forever=True)
    settling.start(("bingx", "acct-1"), store.attempt("fill"), "d1")
    await asyncio.sleep(0)

    await settling.drain()

    assert store.tries == ["fill", "fill"] and settling.kept == 1  # what is left is lost with the process (logged)


@pytest.mark.usefixtures("quick_retries")
async def test_wait_when_a_settlement_was_written_before_its_reply_timed_out_then_the_account_goes_on() -> None:
    # its commands are on the store's connection: Redis applies them ahead of the next order's, reply or not
    settling, tries = Settling(), []

    async def written_then_late() -> None:
        tries.append("try")
        if len(tries) == 1:
            written = SETTLEMENT_WRITTEN.get()
            assert written is not None
            written()
            raise StateUnavailable("state store did not answer within 50 ms")

    settling.start(("binanceusdm", "acct-1"), written_then_late, "d1")
    await asyncio.sleep(0)

    await settling.wait("binanceusdm", "acct-1")  # not refused
    for _ in range(100):
        if not settling.kept:
            break
        await asyncio.sleep(0.01)
    assert tries == ["try", "try"]  # and tried once more all the same, in case the connection dropped it
    await settling.drain()


async def test_wait_when_the_store_takes_the_kept_answers_again_then_the_order_is_decided_at_once() -> None:
    # no waiting for the next scheduled try: the order's own wait tries them, and goes on once they landed
    settling, store = Settling(), FlakyStore(outage=1)
    settling.start(("bybit", "acct-1"), store.attempt("fill"), "d1")
    await asyncio.sleep(0)

    await asyncio.wait_for(settling.wait("bybit", "acct-1"), 0.05)  # RETRY_FIRST_S is 0.2: tried by the wait

    assert store.landed == ["fill"] and settling.kept == 0
    await settling.drain()
