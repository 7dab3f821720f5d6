"""The shared store's short path: a new order decided in one round trip on what the store last read, and an
answer settled (learned and released) in one, without any limit or kill switch getting weaker.

Two sidecars are two `RedisStore`s on one prefix: what one writes, the other's cached states do not show until
it reads again. Each test counts the store's round trips by wrapping the pipeline and script calls.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from riskwall.decider import decide_request, learn_answer
from riskwall.model import (
    Action,
    OrderIntent,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    ResponseFacts,
    Side,
    TradingState,
    Venue,
    Verdict,
)
from riskwall.settling import Settling
from riskwall.state import redis as redis_module
from riskwall.state.base import StateScope, StateStore
from riskwall.venues import adapter_for
from riskwall.venues.base import HttpRequest
from state.conftest import delete_library, unique_prefix
from unit.factories import make_policy

pytestmark = pytest.mark.redis

ACCOUNT = "a1b2c3d4e5f6"
POLICY = make_policy("""
rules:
  - {id: position, type: max_position, default: {qty: 1}}
  - {id: rate, type: order_rate, limits: ["1000/1s"]}
""")


def order(quantity: str = "0.1", *, reduce_only: bool = False) -> ParsedRequest:
    intent = OrderIntent(Venue.BINANCEUSDM, Action.NEW, "POST /fapi/v1/order", ACCOUNT, "BTCUSDT",
                         side=Side.BUY, position_side=PositionSide.BOTH, quantity=Decimal(quantity),
                         price=Decimal("50000"), order_type="LIMIT", reduce_only=reduce_only)
    return ParsedRequest(Venue.BINANCEUSDM, Action.NEW, "POST /fapi/v1/order", ACCOUNT, intents=(intent,))


class Trips:
    """Counts what a RedisStore sends: one count per pipeline or single script call (a round trip each)."""

    def __init__(self, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        inner = store.inner
        self.count = 0
        for name in ("_run_with", "_eval"):
            original = getattr(inner, name)

            def counted(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
                self.count += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(inner, name, counted)
        view = inner.view

        async def counted_view(query: Any) -> Any:
            self.count += 1
            return await view(query)

        monkeypatch.setattr(inner, "view", counted_view)


async def test_new_order_when_store_was_read_before_then_decided_in_one_round_trip(
    sidecars: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = sidecars
    await decide_request(order(), POLICY, store, "warm-up")  # the first read fills what the store remembers
    trips = Trips(store, monkeypatch)

    evaluation = await decide_request(order(), POLICY, store, "d2")

    assert evaluation.decision.verdict is Verdict.ALLOW and evaluation.reserved
    assert trips.count == 1


async def test_new_order_when_another_sidecar_halted_the_account_since_then_blocked_and_nothing_held(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    store, other = sidecars
    await decide_request(order(), POLICY, store, "warm-up")
    await other.set_trading_state(StateScope("binanceusdm", ACCOUNT), TradingState.HALTED, "desk", "test")

    evaluation = await decide_request(order("0.2"), POLICY, store, "after-halt")

    assert evaluation.decision.verdict is Verdict.BLOCK and not evaluation.reserved
    assert evaluation.decision.deciding is not None and evaluation.decision.deciding.reason == "TRADING_HALTED"
    rows = await store.exposure(Venue.BINANCEUSDM, ACCOUNT)
    assert rows["BTCUSDT|both"]["pending_buy"] == "0.1"  # the warm-up's only: the refused one left nothing


async def test_new_order_when_a_halt_it_remembers_was_lifted_then_allowed(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    store, other = sidecars
    scope = StateScope("binanceusdm", ACCOUNT)
    await other.set_trading_state(scope, TradingState.HALTED, "desk", "test")
    blocked = await decide_request(order(), POLICY, store, "while-halted")
    await other.set_trading_state(scope, TradingState.ACTIVE, "over", "test")

    allowed = await decide_request(order(), POLICY, store, "after-resume")

    assert blocked.decision.verdict is Verdict.BLOCK and allowed.decision.verdict is Verdict.ALLOW


async def test_orders_when_two_sidecars_race_to_the_limit_then_admitted_exactly_to_it(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    first, second = sidecars
    await decide_request(order("0.01"), POLICY, first, "warm-a")
    await decide_request(order("0.01"), POLICY, second, "warm-b")
    admitted = 0
    for number in range(60):
        store = first if number % 2 else second
        evaluation = await decide_request(order("0.05"), POLICY, store, f"o{number}")
        admitted += evaluation.decision.verdict is Verdict.ALLOW

    assert admitted == 19  # 0.02 held by the warm-ups + 19 × 0.05 = 0.97 ≤ 1 < 1.02


async def test_reduce_only_order_when_decided_then_reads_the_positions_first(
    sidecars: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = sidecars
    await decide_request(order(), POLICY, store, "warm-up")
    trips = Trips(store, monkeypatch)

    await decide_request(order(reduce_only=True), POLICY, store, "reduce")

    assert trips.count == 2  # a reduction is bounded by the position: read it, then reserve


async def test_answer_when_learned_and_released_then_one_round_trip(
    sidecars: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = sidecars
    parsed = order("0.3")
    evaluation = await decide_request(parsed, POLICY, store, "filled")
    adapter = adapter_for(Venue.BINANCEUSDM)
    request = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (), {"x-mbx-apikey": "k"}, b"")
    answer = (b'{"orderId":7,"symbol":"BTCUSDT","status":"FILLED","clientOrderId":"x","price":"50000",'
              b'"origQty":"0.3","executedQty":"0.3","side":"BUY","positionSide":"BOTH","type":"LIMIT"}')
    trips = Trips(store, monkeypatch)

    await learn_answer(store, adapter, evaluation.parsed or parsed, request, 200, answer, "filled", True)

    assert trips.count == 1
    rows = await store.exposure(Venue.BINANCEUSDM, ACCOUNT)
    assert (Decimal(rows["BTCUSDT|both"]["position"]), rows["BTCUSDT|both"]["pending_buy"]) == (Decimal("0.3"), "0")


DUPLICATE_POLICY = make_policy("""
rules:
  - {id: position, type: max_position, default: {qty: 1}}
  - {id: dup, type: duplicate_orders, window: 1m}
""")


async def test_identical_order_when_sent_through_another_sidecar_then_refused_as_duplicate_in_one_round_trip(
    sidecars: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = sidecars
    await decide_request(order("0.01"), DUPLICATE_POLICY, first, "warm-a")  # each remembers what it read
    await decide_request(order("0.02"), DUPLICATE_POLICY, second, "warm-b")
    trips_first, trips_second = Trips(first, monkeypatch), Trips(second, monkeypatch)

    allowed = await decide_request(order("0.3"), DUPLICATE_POLICY, first, "one")
    repeated = await decide_request(order("0.3"), DUPLICATE_POLICY, second, "two")

    assert allowed.decision.verdict is Verdict.ALLOW and allowed.reserved
    assert repeated.decision.verdict is Verdict.BLOCK and not repeated.reserved
    deciding = repeated.decision.deciding
    assert deciding is not None and (deciding.reason, deciding.get("duplicate_of")) == ("DUPLICATE_ORDER", "one")
    assert (trips_first.count, trips_second.count) == (1, 1)  # the check rode in the reservation's round trip
    rows = await first.exposure(Venue.BINANCEUSDM, ACCOUNT)
    assert Decimal(rows["BTCUSDT|both"]["pending_buy"]) == Decimal("0.33")  # the refused repeat holds nothing


async def test_new_order_when_planned_again_after_a_state_changed_then_not_a_duplicate_of_its_own_first_try(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    store, other = sidecars
    await decide_request(order("0.01"), DUPLICATE_POLICY, store, "warm-up")
    # a state this order does not fall under, but one its sidecar has not read: the light plan is tried, reserved
    # (its fingerprint recorded), dropped, and the order planned and reserved again under the same decision id
    await other.set_trading_state(StateScope("binanceusdm", ACCOUNT, "ETHUSDT"), TradingState.HALTED, "desk", "t")

    evaluation = await decide_request(order("0.2"), DUPLICATE_POLICY, store, "retried")
    repeated = await decide_request(order("0.2"), DUPLICATE_POLICY, store, "repeat")

    assert evaluation.decision.verdict is Verdict.ALLOW and evaluation.reserved
    assert repeated.decision.deciding is not None and repeated.decision.deciding.get("duplicate_of") == "retried"
    rows = await store.exposure(Venue.BINANCEUSDM, ACCOUNT)
    assert Decimal(rows["BTCUSDT|both"]["pending_buy"]) == Decimal("0.21")  # reserved once, not twice


EXPIRED_ANSWER = (b'{"orderId":8,"symbol":"BTCUSDT","status":"EXPIRED","clientOrderId":"x","price":"50000",'
                  b'"origQty":"1","executedQty":"0","side":"BUY","positionSide":"BOTH","type":"LIMIT"}')
REQUEST = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (), {"x-mbx-apikey": "k"}, b"")


async def expire(store: StateStore, decision_id: str, settling: Settling, landed: list[str]) -> None:
    """An order of the whole limit, and its answer (the venue let it expire) settled in the background."""
    parsed = order("1")
    evaluation = await decide_request(parsed, POLICY, store, decision_id, settling.wait)
    assert evaluation.reserved

    async def settle() -> None:
        await learn_answer(store, adapter_for(Venue.BINANCEUSDM), evaluation.parsed or parsed, REQUEST, 200,
                           EXPIRED_ANSWER, decision_id, True)
        landed.append(decision_id)

    settling.start((str(Venue.BINANCEUSDM), ACCOUNT), settle, decision_id)


async def test_next_order_when_the_last_answer_is_written_but_not_yet_answered_then_decided_after_it(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    """A bot placing orders back to back: the next order waits for the last answer's settlement to be sent, not
    for Redis's reply to it, and is still judged on what it taught (one connection: Redis applies it first)."""
    store, _ = sidecars
    settling, landed = Settling(), []
    await expire(store, "warm-up", settling, landed)  # its scripts have run on the store's connection since
    await settling.drain()

    await expire(store, "expired", settling, landed)
    await settling.wait(str(Venue.BINANCEUSDM), ACCOUNT)
    waited_for_the_reply = "expired" in landed
    following = await decide_request(order("1"), POLICY, store, "next", settling.wait)
    await settling.drain()

    assert not waited_for_the_reply
    assert following.decision.verdict is Verdict.ALLOW  # the expired order's hold was gone when it was judged
    assert landed == ["warm-up", "expired"]


def script_new_to_the_server(store: StateStore, name: str) -> str:
    """Give the store a version of script `name` the server has never seen, as a new riskwall version's first
    call is (library and digest are named after the text); answers the library's name, to delete it after."""
    inner = store.inner  # type: ignore[attr-defined]
    old = inner._scripts[name]
    tag = f"\n-- {unique_prefix()}\n"
    source = old.source + tag
    sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
    function = f"riskwall_{name}_{sha[:16]}"
    inner._scripts[name] = dataclasses.replace(old, source=source, sha=sha, function=function,
                                               library=old.library.replace(old.function, function) + tag)
    return function


@pytest.mark.parametrize("functions", [True, False], ids=["function-new-to-the-server", "script-cache-lost"])
async def test_next_order_when_the_last_answer_needs_a_script_the_server_lacks_then_waits_until_it_landed(
    sidecars: tuple[StateStore, StateStore], functions: bool,
) -> None:
    """The server refuses a script it does not have; riskwall loads it and sends the call again, behind whatever
    went out meanwhile: the next order must wait for the settlement's reply, or it is judged without it (here a
    position read the store did not know: 0.9 held, and a buy of 0.5 under a limit of 1)."""
    store, _ = sidecars
    assert (await decide_request(order("0.1"), POLICY, store, "warm-up")).decision.verdict is Verdict.ALLOW
    await store.release("warm-up")
    store.inner._functions = functions  # type: ignore[attr-defined]
    library = script_new_to_the_server(store, "learn")
    read = ResponseFacts(positions=(PositionsReport(Venue.BINANCEUSDM, ACCOUNT, None,
                                                    (("BTCUSDT", PositionSide.BOTH, Decimal("0.9")),)),))
    settling = Settling()
    try:
        settling.start((str(Venue.BINANCEUSDM), ACCOUNT), functools.partial(store.settle, read, None),  # type: ignore[arg-type]
                       "read")
        following = await decide_request(order("0.5"), POLICY, store, "next", settling.wait)
        await settling.drain()
    finally:
        delete_library(library)

    assert following.decision.verdict is Verdict.BLOCK
    rows = await store.exposure(Venue.BINANCEUSDM, ACCOUNT)
    assert (Decimal(rows["BTCUSDT|both"]["position"]), rows["BTCUSDT|both"]["pending_buy"]) == (Decimal("0.9"), "0")


NOTIONAL = make_policy("""
rules:
  - {id: notional, type: max_order_notional, default: 1000}
""")


def market_buy(quantity: str) -> ParsedRequest:
    intent = OrderIntent(Venue.BINANCEUSDM, Action.NEW, "POST /fapi/v1/order", ACCOUNT, "SOLUSDT", side=Side.BUY,
                         position_side=PositionSide.BOTH, quantity=Decimal(quantity), order_type="MARKET")
    return ParsedRequest(Venue.BINANCEUSDM, Action.NEW, "POST /fapi/v1/order", ACCOUNT, intents=(intent,))


def mark(price: str) -> ResponseFacts:
    return ResponseFacts(prices=(PriceUpdate(Venue.BINANCEUSDM, "SOLUSDT", Decimal(price), "mark"),))


async def test_market_order_when_another_sidecar_learned_a_new_price_since_then_measured_at_it(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    # planned on the price this sidecar last read (150: 4 SOL is 600), the order would pass a 1,000 notional cap
    # that at the price the fleet knows now (1,500: 6,000) it breaks
    store, other = sidecars
    await other.learn(mark("150"))
    first = await decide_request(market_buy("1"), NOTIONAL, store, "at-150")
    await other.learn(mark("1500"))

    evaluation = await decide_request(market_buy("4"), NOTIONAL, store, "after-the-move")

    assert first.decision.verdict is Verdict.ALLOW
    assert evaluation.decision.verdict is Verdict.BLOCK and not evaluation.reserved
    deciding = evaluation.decision.deciding
    assert deciding is not None and deciding.reason == "ORDER_NOTIONAL_EXCEEDS_MAX"
    assert deciding.get("notional") == "6000"


@pytest.mark.parametrize(("ahead_ms", "read_by"), [(0, "same"), (1000, "same"), (-1000, "same"), (1000, "fresh")],
                         ids=["in-step", "ahead", "behind", "ahead-and-the-read-its-first-contact"])
async def test_position_read_when_the_sidecars_clock_is_off_then_it_does_not_undo_a_fill_learned_after_it(
    sidecars: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch, ahead_ms: int, read_by: str
) -> None:
    # a read asked before a fill and answered after it may not hold the fill; reads are stamped by the sidecar's
    # clock, fills by Redis's: a clock a second ahead made the read look newer than the fill, which it then undid
    real = redis_module.time.time_ns
    monkeypatch.setattr(redis_module.time, "time_ns", lambda: real() + ahead_ms * 1_000_000)
    store, _ = sidecars
    parsed = order("0.9")
    evaluation = await decide_request(parsed, POLICY, store, "filled")  # a reply with Redis's time: the lead
    asked_ms = redis_module.time.time_ns() // 1_000_000  # the read is asked now, by this host's clock
    adapter = adapter_for(Venue.BINANCEUSDM)
    request = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (), {"x-mbx-apikey": "k"}, b"")
    answer = (b'{"orderId":7,"symbol":"BTCUSDT","status":"FILLED","clientOrderId":"x","price":"50000",'
              b'"origQty":"0.9","executedQty":"0.9","side":"BUY","positionSide":"BOTH","type":"LIMIT"}')
    await learn_answer(store, adapter, evaluation.parsed or parsed, request, 200, answer, "filled", True)

    flat = PositionsReport(Venue.BINANCEUSDM, ACCOUNT, "BTCUSDT", (("BTCUSDT", PositionSide.BOTH, Decimal(0)),),
                           asked_ms=asked_ms)
    # "fresh": a sidecar whose first contact with Redis is this read (no order through it yet)
    await (store if read_by == "same" else sidecars[1]).learn(ResponseFacts(positions=(flat,)))

    rows = await store.exposure(Venue.BINANCEUSDM, ACCOUNT)
    assert Decimal(rows["BTCUSDT|both"]["position"]) == Decimal("0.9")
