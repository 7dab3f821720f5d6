"""The reject-storm contract: counting the orders a venue refused and tripping the account's trading state, on
MemoryStore (fake clock) and RedisStore (real Redis) alike, plus the fleet on Redis: refusals counted by two
sidecars add up, one answer's settlement (learn, release, count) is one round trip, and the state a storm set
is every sidecar's at once.

Windows and cool-downs are a few hundred ms: on Redis the store reads Redis's clock, so `advance` really waits.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest

from riskwall.decider import decide_request, learn_answer
from riskwall.model import (
    Action,
    OrderIntent,
    ParsedRequest,
    PositionSide,
    RejectCount,
    ResponseFacts,
    Side,
    TradingState,
    Venue,
    Verdict,
)
from riskwall.state import StateStore
from riskwall.state.base import StateScope, ViewQuery
from riskwall.venues import adapter_for
from riskwall.venues.base import HttpRequest
from unit.factories import ACCOUNT, OTHER_ACCOUNT, VENUE, make_policy

from .conftest import Advance
from .test_one_round_trip import Trips

SCOPE = StateScope(str(VENUE), ACCOUNT)
LONG_MS = 60_000  # a window or cool-down no test outlives
SHORT_MS = 300

_ids = itertools.count()


def count(members: int = 1, *, limit: int = 3, window_ms: int = LONG_MS, cool_down_ms: int = LONG_MS,
          state: TradingState = TradingState.REDUCING, enforced: bool = True, rule_id: str = "storm",
          account: str = ACCOUNT, decision: str | None = None) -> RejectCount:
    """`members` refused legs of one answer (decision ids unique unless given)."""
    decision = decision or f"d{next(_ids)}"
    return RejectCount(rule_id, StateScope(str(VENUE), account), f"{rule_id}|{VENUE}|{account}", limit, window_ms,
                       cool_down_ms, state, enforced, tuple(f"{decision}:{leg}" for leg in range(members)),
                       f"{limit}/{window_ms}ms")


async def storm_states(store: StateStore) -> list[tuple[str, TradingState, str | None, str]]:
    return sorted((r.scope.text, r.state, r.rule_id, r.actor) for r in await store.trading_states())


@pytest.mark.parametrize(("refusals", "tripped"), [(1, False), (2, False), (3, True)], ids=["1", "2", "3-limit"])
async def test_count_when_refusals_reach_the_limit_then_the_storm_trips_there_and_not_before(
    store: StateStore, refusals: int, tripped: bool
) -> None:
    trips = [await store.count_rejections((count(),)) for _ in range(refusals)]

    assert [bool(t) for t in trips] == [False] * (refusals - 1) + [tripped]
    expected = [(SCOPE.text, TradingState.REDUCING, "storm", "rule:storm")] if tripped else []
    assert await storm_states(store) == expected


async def test_count_when_the_storm_trips_then_its_state_holds_for_the_cool_down_with_rule_and_end(
    store: StateStore,
) -> None:
    await store.count_rejections((count(2, cool_down_ms=LONG_MS, state=TradingState.HALTED),))

    (trip,) = await store.count_rejections((count(1, cool_down_ms=LONG_MS, state=TradingState.HALTED),))

    assert (trip.rejections, trip.until_ms - trip.at_ms) == (3, LONG_MS)
    (record,) = await store.trading_states()
    assert (record.state, record.rule_id, record.until_ms, record.at_ms) == (
        TradingState.HALTED, "storm", trip.until_ms, trip.at_ms)
    assert record.reason == "reject storm: 3 orders refused by the venue within 3/60000ms"
    view = await store.view(ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",)))
    assert view.trading_states == (record,)


async def test_count_when_a_batch_refused_several_legs_then_each_leg_counts(store: StateStore) -> None:
    (trip,) = await store.count_rejections((count(4, limit=3),))

    assert trip.rejections == 4


async def test_count_when_the_same_answer_is_counted_twice_then_its_refusals_count_once(store: StateStore) -> None:
    await store.count_rejections((count(2, decision="same"),))

    again = await store.count_rejections((count(2, decision="same"),))

    assert again == () and await store.trading_states() == ()


async def test_count_when_refusals_fall_out_of_the_window_then_they_no_longer_count(
    store: StateStore, advance: Advance
) -> None:
    await store.count_rejections((count(2, window_ms=SHORT_MS),))
    await advance(SHORT_MS + 50)

    late = await store.count_rejections((count(1, window_ms=SHORT_MS),))

    assert late == () and await store.trading_states() == ()


async def test_count_when_the_cool_down_ends_then_the_state_is_gone_everywhere(
    store: StateStore, advance: Advance
) -> None:
    await store.count_rejections((count(3, cool_down_ms=SHORT_MS),))
    assert len(await store.trading_states()) == 1

    await advance(SHORT_MS + 50)

    assert await store.trading_states() == ()
    assert (await store.view(ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",)))).trading_states == ()


async def test_count_when_the_storm_tripped_then_counting_starts_again(store: StateStore) -> None:
    await store.count_rejections((count(3),))

    after = [await store.count_rejections((count(),)) for _ in range(2)]

    assert after == [(), ()]


async def test_count_when_the_rule_is_in_shadow_then_the_trip_is_told_and_no_state_changes(
    store: StateStore,
) -> None:
    (trip,) = await store.count_rejections((count(3, enforced=False),))

    assert trip.rejections == 3 and not trip.count.enforced
    assert await store.trading_states() == ()


async def test_count_when_accounts_or_rules_differ_then_each_has_its_own_window(store: StateStore) -> None:
    await store.count_rejections((count(2),))
    await store.count_rejections((count(2, account=OTHER_ACCOUNT),))

    trips = await store.count_rejections((count(1, rule_id="other-storm"),))

    assert trips == () and await store.trading_states() == ()


async def test_resume_when_a_storm_state_holds_then_it_ends_and_the_operators_own_state_stays_apart(
    store: StateStore,
) -> None:
    await store.set_trading_state(SCOPE, TradingState.HALTED, "desk decision", "oncall")
    await store.count_rejections((count(3),))
    assert await storm_states(store) == [(SCOPE.text, TradingState.HALTED, None, "oncall"),
                                         (SCOPE.text, TradingState.REDUCING, "storm", "rule:storm")]

    await store.set_trading_state(SCOPE, TradingState.ACTIVE, "fixed", "oncall")

    assert await store.trading_states() == ()


async def test_cool_down_when_it_ends_under_an_operators_halt_then_the_halt_stays(
    store: StateStore, advance: Advance
) -> None:
    await store.set_trading_state(SCOPE, TradingState.HALTED, "desk decision", "oncall")
    await store.count_rejections((count(3, cool_down_ms=SHORT_MS),))

    await advance(SHORT_MS + 50)

    assert await storm_states(store) == [(SCOPE.text, TradingState.HALTED, None, "oncall")]


async def test_settle_when_an_answer_refused_orders_then_learned_released_and_counted_in_one_step(
    store: StateStore,
) -> None:
    await store.count_rejections((count(2),))

    trips = await store.settle(ResponseFacts(), None, 0, (count(1),))

    assert len(trips) == 1 and len(await store.trading_states()) == 1


# ---- the fleet (Redis) ----------------------------------------------------------------------------------

POLICY = make_policy("""
rules:
  - {id: position, type: max_position, default: {qty: 10}}
  - {id: storm, type: reject_storm, limit: "4/1m", cool_down: 1m, state: REDUCING}
""")
FLEET_ACCOUNT = "a1b2c3d4e5f6"
REFUSED = b'{"code":-2019,"msg":"Margin is insufficient."}'


def order() -> ParsedRequest:
    intent = OrderIntent(Venue.BINANCEUSDM, Action.NEW, "POST /fapi/v1/order", FLEET_ACCOUNT, "BTCUSDT",
                         side=Side.BUY, position_side=PositionSide.BOTH, quantity=Decimal("0.1"),
                         price=Decimal("50000"), order_type="LIMIT")
    return ParsedRequest(Venue.BINANCEUSDM, Action.NEW, "POST /fapi/v1/order", FLEET_ACCOUNT, intents=(intent,))


async def refuse(store: StateStore, decision_id: str) -> tuple[object, ...]:
    """An order decided on `store` and refused by the venue (HTTP 400), settled on `store`."""
    evaluation = await decide_request(order(), POLICY, store, decision_id)
    assert evaluation.decision.verdict is Verdict.ALLOW, evaluation.decision
    request = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (), {"x-mbx-apikey": "k"}, b"")
    return await learn_answer(store, adapter_for(Venue.BINANCEUSDM), evaluation.parsed or order(), request, 400,
                              REFUSED, decision_id, evaluation.reserved, POLICY)


@pytest.mark.redis
async def test_refusals_when_seen_by_two_sidecars_then_they_add_up_and_the_storm_is_every_sidecars(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    first, second = sidecars
    trips = [await refuse(first if n % 2 else second, f"refused-{n}") for n in range(4)]

    assert [len(t) for t in trips] == [0, 0, 0, 1]  # 2 + 2 refusals on two sidecars: the 4th trips it
    for store in (first, second):
        blocked = await decide_request(order(), POLICY, store, f"after-{id(store)}")
        assert blocked.decision.verdict is Verdict.BLOCK
        assert blocked.decision.deciding is not None
        assert (blocked.decision.deciding.rule_id, blocked.decision.deciding.reason) == ("storm", "TRADING_REDUCING")


@pytest.mark.redis
async def test_refused_answer_when_settled_then_learned_released_and_counted_in_one_round_trip(
    sidecars: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = sidecars
    evaluation = await decide_request(order(), POLICY, store, "refused")
    request = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (), {"x-mbx-apikey": "k"}, b"")
    trips = Trips(store, monkeypatch)

    await learn_answer(store, adapter_for(Venue.BINANCEUSDM), evaluation.parsed or order(), request, 400, REFUSED,
                       "refused", evaluation.reserved, POLICY)

    assert evaluation.reserved and trips.count == 1
    rows = await store.exposure(Venue.BINANCEUSDM, FLEET_ACCOUNT)
    assert rows.get("BTCUSDT|both", {}).get("pending_buy", "0") == "0"  # the refused order's hold is gone


@pytest.mark.redis
async def test_refusals_when_counted_concurrently_by_two_sidecars_then_exactly_one_trip(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    first, second = sidecars
    counts = [count(1, limit=10, decision=f"c{n}") for n in range(20)]

    results = await asyncio.gather(*(
        (first if n % 2 else second).count_rejections((c,)) for n, c in enumerate(counts)))

    assert sum(len(r) for r in results) == 2  # 20 refusals at a limit of 10: tripped twice, never more
