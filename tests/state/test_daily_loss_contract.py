"""The daily-loss contract: measuring an account's equity against the first equity seen that UTC day and tripping
the account's trading state until the next UTC midnight, on MemoryStore (fake clock) and RedisStore (real Redis)
alike, plus the fleet on Redis: equity reported through two sidecars shares one baseline and trips once, and an
answer's settlement (learn, measure) is one round trip.

A day passing: the memory store's clock moves a day; Redis's clock cannot be moved, so there the baseline is
aged a day instead (its `day` field set to yesterday), which is what the script sees once midnight has passed.
"""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import pytest
import redis

from riskwall.decider import decide_request, learn_answer
from riskwall.model import (
    Action,
    LossCheck,
    OrderIntent,
    ParsedRequest,
    PositionSide,
    ResponseFacts,
    Side,
    TradingState,
    Venue,
    Verdict,
)
from riskwall.state import StateStore
from riskwall.state.base import StateScope, ViewQuery
from riskwall.state.memory import DAY_MS
from riskwall.venues import adapter_for
from riskwall.venues.base import HttpRequest
from unit.factories import ACCOUNT, OTHER_ACCOUNT, VENUE, make_policy

from .conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, Backend
from .test_one_round_trip import Trips

SCOPE = StateScope(str(VENUE), ACCOUNT)
D = Decimal
_ids = itertools.count()


def check(equity: str, *, limit: str = "1000", state: TradingState = TradingState.REDUCING, enforced: bool = True,
          rule_id: str = "loss", account: str = ACCOUNT) -> LossCheck:
    return LossCheck(rule_id, StateScope(str(VENUE), account), f"{rule_id}|{VENUE}|{account}", D(equity), "USDT",
                     D(limit), state, enforced)


async def loss_states(store: StateStore) -> list[tuple[str, TradingState, str | None, str]]:
    return sorted((r.scope.text, r.state, r.rule_id, r.actor) for r in await store.trading_states())


async def next_day(backend: Backend) -> None:
    """Move the store past the next UTC midnight (memory), or age every baseline by a day (Redis)."""
    if backend.kind == "memory":
        await backend.advance(DAY_MS)
        return
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, socket_timeout=5, decode_responses=True)
    try:
        for key in client.scan_iter(match=f"{backend.prefix}:*loss:*", count=1000):
            client.hset(key, "day", str(int(client.hget(key, "day") or 0) - 1))
    finally:
        client.close()


@pytest.mark.parametrize(("equities", "tripped_at"), [
    (["10000", "9500", "9000"], None),              # exactly the limit below: no trip
    (["10000", "8999.99"], 1),                      # a cent beyond it
    (["10000", "12000", "10500", "8999"], 3),       # the baseline is the day's first, not its high
    (["10000", "9500", "8000", "7000"], 2),         # trips once: later losses say nothing more
    (["-50", "-1050.000000000000000001"], 1),       # an account in debt still measures exactly
], ids=["at-limit", "beyond", "first-not-high", "once", "negative-exact"])
async def test_measure_when_equity_falls_then_trips_only_beyond_the_limit_below_the_days_first(
    store: StateStore, equities: list[str], tripped_at: int | None
) -> None:
    trips = [await store.measure_losses((check(e),)) for e in equities]

    assert [n for n, t in enumerate(trips) if t] == ([] if tripped_at is None else [tripped_at])
    expected = [] if tripped_at is None else [(SCOPE.text, TradingState.REDUCING, "loss", "rule:loss")]
    assert await loss_states(store) == expected


async def test_measure_when_tripped_then_state_holds_until_next_utc_midnight_with_baseline_and_loss(
    store: StateStore,
) -> None:
    await store.measure_losses((check("20000", state=TradingState.HALTED),))

    (trip,) = await store.measure_losses((check("18500.5", state=TradingState.HALTED),))

    assert (trip.baseline, trip.loss) == (D("20000"), D("1499.5"))
    assert trip.until_ms % DAY_MS == 0 and 0 < trip.until_ms - trip.at_ms <= DAY_MS
    (record,) = await store.trading_states()
    assert (record.state, record.rule_id, record.until_ms, record.at_ms) == (
        TradingState.HALTED, "loss", trip.until_ms, trip.at_ms)
    assert record.reason == "daily loss: equity fell more than 1000 USDT below the day's first"
    view = await store.view(ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",)))
    assert view.trading_states == (record,)


async def test_measure_when_the_day_changes_then_the_baseline_starts_again_at_the_new_days_first(
    backend: Backend,
) -> None:
    store = backend.store
    await store.measure_losses((check("10000"),))
    await next_day(backend)

    first = await store.measure_losses((check("8500"),))   # the new day's first: its baseline, not a loss
    second = await store.measure_losses((check("7600"),))  # 900 below it

    assert first == () and second == () and await store.trading_states() == ()
    (trip,) = await store.measure_losses((check("7499"),))
    assert trip.baseline == D("8500")


async def test_resume_when_a_daily_loss_holds_then_it_ends_and_holds_until_midnight(store: StateStore) -> None:
    await store.measure_losses((check("10000"),))
    await store.measure_losses((check("8000"),))
    await store.set_trading_state(SCOPE, TradingState.HALTED, "desk decision", "oncall")
    assert await loss_states(store) == [(SCOPE.text, TradingState.HALTED, None, "oncall"),
                                        (SCOPE.text, TradingState.REDUCING, "loss", "rule:loss")]

    await store.set_trading_state(SCOPE, TradingState.ACTIVE, "reviewed", "oncall")
    again = await store.measure_losses((check("7000"),))

    assert again == () and await store.trading_states() == ()  # a resume holds for the rest of the day


async def test_measure_when_the_rule_is_in_shadow_then_the_trip_is_told_and_no_state_changes(
    store: StateStore,
) -> None:
    await store.measure_losses((check("10000", enforced=False),))

    (trip,) = await store.measure_losses((check("5000", enforced=False),))

    assert trip.loss == D("5000") and not trip.check.enforced
    assert await store.trading_states() == ()


async def test_measure_when_accounts_or_rules_differ_then_each_has_its_own_baseline(store: StateStore) -> None:
    await store.measure_losses((check("10000"),))
    await store.measure_losses((check("3000", account=OTHER_ACCOUNT),))

    trips = await store.measure_losses((check("8500", rule_id="other-loss"), check("2500", account=OTHER_ACCOUNT)))

    assert trips == () and await store.trading_states() == ()


async def test_settle_when_an_answer_reports_equity_then_learned_and_measured_in_one_step(store: StateStore) -> None:
    await store.settle(ResponseFacts(), None, 0, (), (check("10000"),))

    trips = await store.settle(ResponseFacts(), None, 0, (), (check("8000"),))

    assert len(trips) == 1 and len(await store.trading_states()) == 1


# ---- whether the account's equity was read today (the view's `equity_seen`) ------------------------------

KEY = f"loss|{VENUE}|{ACCOUNT}"


def equity_query(*loss_keys: str) -> ViewQuery:
    return ViewQuery(VENUE, ACCOUNT, ("BTCUSDT",), loss_keys=loss_keys)


async def test_view_when_a_reading_was_measured_today_then_equity_seen_names_its_key_and_only_asked_ones(
    store: StateStore,
) -> None:
    before = await store.view(equity_query(KEY))

    await store.measure_losses((check("10000"),))

    assert before.equity_seen == frozenset()
    assert (await store.view(equity_query(KEY))).equity_seen == frozenset({KEY})
    assert (await store.view(equity_query())).equity_seen == frozenset()  # not asked: not read
    other_rule, other_account = f"other-loss|{VENUE}|{ACCOUNT}", f"loss|{VENUE}|{OTHER_ACCOUNT}"
    assert (await store.view(equity_query(KEY, other_rule, other_account))).equity_seen == frozenset({KEY})


async def test_view_when_the_reading_was_yesterdays_then_no_equity_seen_until_todays_first(backend: Backend) -> None:
    store = backend.store
    await store.measure_losses((check("10000"),))
    await next_day(backend)

    yesterday = await store.view(equity_query(KEY))
    await store.measure_losses((check("9000"),))  # the new day's first reading

    assert yesterday.equity_seen == frozenset()
    assert (await store.view(equity_query(KEY))).equity_seen == frozenset({KEY})


async def test_view_when_a_reading_trips_the_rule_then_the_day_still_has_its_reading(store: StateStore) -> None:
    await store.measure_losses((check("10000"),))
    await store.measure_losses((check("8000"),))

    view = await store.view(equity_query(KEY))

    assert view.equity_seen == frozenset({KEY}) and len(view.trading_states) == 1


# ---- the fleet (Redis), through the answer path ---------------------------------------------------------

POLICY = make_policy("""
rules:
  - {id: position, type: max_position, default: {qty: 10}}
  - {id: daily-loss, type: max_daily_loss, quote: 1000, state: HALTED}
""")
FLEET_ACCOUNT = "a1b2c3d4e5f6"


def order() -> ParsedRequest:
    intent = OrderIntent(Venue.BINANCEUSDM, Action.NEW, "POST /fapi/v1/order", FLEET_ACCOUNT, "BTCUSDT",
                         side=Side.BUY, position_side=PositionSide.BOTH, quantity=Decimal("0.1"),
                         price=Decimal("50000"), order_type="LIMIT")
    return ParsedRequest(Venue.BINANCEUSDM, Action.NEW, "POST /fapi/v1/order", FLEET_ACCOUNT, intents=(intent,))


async def read_account(store: StateStore, equity: str) -> tuple[object, ...]:
    """A `GET /fapi/v2/account` that passed `store`'s sidecar and answered `equity` as its USDT margin balance."""
    parsed = ParsedRequest(Venue.BINANCEUSDM, Action.READ, "GET /fapi/v2/account", FLEET_ACCOUNT)
    request = HttpRequest("GET", "fapi.binance.com", 443, "/fapi/v2/account", (), {"x-mbx-apikey": "k"}, b"")
    body = f'{{"assets":[{{"asset":"USDT","marginBalance":"{equity}"}}],"positions":[]}}'.encode()
    return await learn_answer(store, adapter_for(Venue.BINANCEUSDM), parsed, request, 200, body,
                              f"read-{next(_ids)}", False, POLICY, report=False)


@pytest.mark.redis
async def test_equity_when_read_through_two_sidecars_then_one_baseline_one_trip_and_every_sidecar_blocks(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    first, second = sidecars

    trips = [await read_account(store, equity) for store, equity in
             ((first, "50000"), (second, "49500"), (first, "48900"), (second, "48000"))]

    assert [len(t) for t in trips] == [0, 0, 1, 0]  # the first sidecar's reading is both's baseline
    for store in (first, second):
        blocked = await decide_request(order(), POLICY, store, f"after-{id(store)}")
        assert blocked.decision.deciding is not None and blocked.decision.verdict is Verdict.BLOCK
        assert (blocked.decision.deciding.rule_id, blocked.decision.deciding.reason) == ("daily-loss",
                                                                                        "TRADING_HALTED")


@pytest.mark.redis
async def test_equity_when_reported_concurrently_by_two_sidecars_then_exactly_one_trip(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    first, second = sidecars
    await first.measure_losses((check("10000"),))

    results = await asyncio.gather(*((first if n % 2 else second).measure_losses((check(str(8000 - n)),))
                                     for n in range(20)))

    assert sum(len(r) for r in results) == 1


@pytest.mark.redis
async def test_account_answer_when_settled_then_learned_and_measured_in_one_round_trip(
    sidecars: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = sidecars
    await read_account(store, "10000")
    trips = Trips(store, monkeypatch)

    tripped = await read_account(store, "8000")

    assert trips.count == 1 and len(tripped) == 1


@pytest.mark.redis
async def test_cached_view_when_a_loss_key_was_not_seen_by_a_full_view_then_none_until_one_sees_it(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    first, second = sidecars
    await first.view(equity_query())  # the states and the price seen: a light view could serve an order
    assert first.cached_view(equity_query()) is not None
    assert first.cached_view(equity_query(KEY)) is None  # never read: the store must be asked

    unseen = await first.view(equity_query(KEY))
    await first.measure_losses((check("10000"),))
    still = first.cached_view(equity_query(KEY))  # measured, but no view of this sidecar has seen it yet
    seen = await first.view(equity_query(KEY))
    cached = first.cached_view(equity_query(KEY))

    assert unseen.equity_seen == frozenset() and still is None
    assert seen.equity_seen == frozenset({KEY})
    assert cached is not None and cached.equity_seen == frozenset({KEY})
    # another sidecar of the fleet learns it from its own full view, not from the first's memory
    await second.view(equity_query())
    assert second.cached_view(equity_query(KEY)) is None
    assert (await second.view(equity_query(KEY))).equity_seen == frozenset({KEY})
    cached_second = second.cached_view(equity_query(KEY))
    assert cached_second is not None and cached_second.equity_seen == frozenset({KEY})
    other = f"other-loss|{VENUE}|{ACCOUNT}"  # a key this sidecar has not seen: the store must be asked again
    assert first.cached_view(equity_query(KEY, other)) is None
