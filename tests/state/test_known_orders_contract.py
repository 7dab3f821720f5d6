"""What the store knows of open orders and accounts for requests that leave it out: open orders by the bot's client
order id (`ViewQuery.client_ids` → `StateView.by_client`), position modes (`ResponseFacts.modes` →
`StateView.modes`), and an accepted amend's new total size (`AmendAccepted.total`).

Every contract test runs against MemoryStore and RedisStore alike (`store` from conftest.py); the fleet tests run
two RedisStores on one prefix, as two sidecars sharing Redis.
"""

from __future__ import annotations

import contextlib
import dataclasses
from decimal import Decimal
from typing import Any

import pytest
import redis

from riskwall.model import (
    AmendAccepted,
    ClosedOrder,
    KnownOrder,
    ModeUpdate,
    OrderUpdate,
    PositionSide,
    ResponseFacts,
    Side,
    Venue,
)
from riskwall.state import StateStore
from riskwall.state.base import ViewQuery
from riskwall.state.redis import RedisOptions, RedisStore, make_client, parse_url
from unit.factories import (
    ACCOUNT,
    OTHER_ACCOUNT,
    SYMBOL,
    VENUE,
    exposure_check,
    facts,
    learn_placed,
    make_reservation,
    open_orders,
    order_update,
    pending_entry,
    position_key,
)

from .conftest import (
    REDIS_DB,
    REDIS_HOST,
    REDIS_PORT,
    Backend,
    redis_url,
    store_now,
)

OTHER_VENUE = Venue.BYBIT
MODE_KEY = "USDT-FUTURES"


def named(order_id: str, client_id: str | None, original: str = "2", executed: str = "0", *, final: bool = False,
          account: str = ACCOUNT, reduce_only: bool = False) -> OrderUpdate:
    """An update of a BTCUSDT buy that carries the bot's id for the order."""
    update = order_update(order_id, original=original, executed=executed, final=final, account=account,
                          reduce_only=reduce_only)
    return dataclasses.replace(update, client_order_id=client_id)


def by_client_query(*client_ids: str, venue: Venue = VENUE, account: str = ACCOUNT) -> ViewQuery:
    return ViewQuery(venue, account, (), client_ids=client_ids)


def mode_query(*keys: str, account: str = ACCOUNT) -> ViewQuery:
    return ViewQuery(VENUE, account, (), mode_keys=keys)


def known(order_id: str, executed: str = "0", *, reduce_only: bool = False) -> KnownOrder:
    return KnownOrder(order_id, SYMBOL, Side.BUY, PositionSide.BOTH, Decimal(executed), reduce_only)


# ---- open orders by client order id -----------------------------------------------------------------------

FOUND_CASES: list[tuple[str, ViewQuery, dict[str, KnownOrder], dict[str, Decimal]]] = [
    ("same-account", by_client_query("c1"), {"c1": known("o1", "0.5")}, {"o1": Decimal("1.5")}),
    ("unknown-name", by_client_query("c9"), {}, {}),
    ("other-account", by_client_query("c1", account=OTHER_ACCOUNT), {}, {}),
    ("other-venue", by_client_query("c1", venue=OTHER_VENUE), {}, {}),
    ("no-account", ViewQuery(VENUE, None, (), client_ids=("c1",)), {}, {}),
]


@pytest.mark.parametrize(("name", "query", "by_client", "remaining"), FOUND_CASES, ids=[c[0] for c in FOUND_CASES])
async def test_view_when_client_id_named_then_only_its_own_accounts_open_order_is_found_with_what_it_has_left(
    store: StateStore, name: str, query: ViewQuery, by_client: dict[str, KnownOrder], remaining: dict[str, Decimal]
) -> None:
    await store.learn(facts(named("o1", "c1", original="2", executed="0.5")))

    view = await store.view(query)

    assert (view.by_client, view.remaining) == (by_client, remaining)


async def test_view_when_reduce_only_order_named_by_client_id_then_it_is_known_to_only_reduce(
    store: StateStore,
) -> None:
    await store.learn(facts(named("o1", "c1", reduce_only=True)))

    view = await store.view(by_client_query("c1"))

    assert view.by_client == {"c1": known("o1", reduce_only=True)}


GONE_CASES: list[tuple[str, ResponseFacts]] = [
    ("final-update", facts(named("o1", "c1", original="2", executed="2", final=True))),
    ("final-update-without-client-id", facts(named("o1", None, original="2", executed="1", final=True))),
    ("cancelled", ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "o1"),))),
    ("left-the-listing", facts(open_orders(named("o2", "c2")))),
    ("left-the-symbols-listing", facts(open_orders(symbol=SYMBOL))),
]


@pytest.mark.parametrize(("name", "ending"), GONE_CASES, ids=[c[0] for c in GONE_CASES])
async def test_view_when_named_order_is_final_then_its_client_id_finds_nothing(
    store: StateStore, name: str, ending: ResponseFacts
) -> None:
    await store.learn(facts(named("o1", "c1")))
    before = await store.view(by_client_query("c1"))

    await store.learn(ending)
    view = await store.view(by_client_query("c1"))

    assert "c1" in before.by_client
    assert (view.by_client, "o1" in view.remaining) == ({}, False)


async def test_view_when_order_listing_keeps_named_order_then_its_client_id_still_finds_it(store: StateStore) -> None:
    await store.learn(facts(named("o1", "c1")))

    await store.learn(facts(open_orders(order_update("o1", original="2", executed="1"))))  # the listing's own update
    view = await store.view(by_client_query("c1"))

    assert (view.by_client, view.remaining) == ({"c1": known("o1", "1")}, {"o1": Decimal(1)})


async def test_view_when_later_update_brings_another_client_id_then_the_name_moves(store: StateStore) -> None:
    await store.learn(facts(named("o1", "c1")))

    await store.learn(facts(named("o1", "c2", executed="0.5")))
    view = await store.view(by_client_query("c1", "c2"))

    assert view.by_client == {"c2": known("o1", "0.5")}


async def test_view_when_update_brings_no_client_id_then_the_name_stays(store: StateStore) -> None:
    await store.learn(facts(named("o1", "c1")))

    await store.learn(facts(named("o1", None, executed="0.5")))
    view = await store.view(by_client_query("c1"))

    assert view.by_client == {"c1": known("o1", "0.5")}


async def test_view_when_name_taken_by_a_newer_order_then_the_older_ones_end_leaves_it_named(
    store: StateStore,
) -> None:
    await store.learn(facts(named("o1", "c1")))
    await store.learn(facts(named("o2", "c1", original="3")))

    await store.learn(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "o1"),)))
    view = await store.view(by_client_query("c1"))

    assert (view.by_client, view.remaining) == ({"c1": known("o2")}, {"o2": Decimal(3)})


async def test_view_when_final_order_replayed_with_its_client_id_then_the_name_finds_nothing(
    store: StateStore,
) -> None:
    await store.learn(facts(named("o1", "c1", executed="2", final=True)))

    await store.learn(facts(named("o1", "c1", executed="1")))  # an older answer, after the order ended
    view = await store.view(by_client_query("c1"))

    assert view.by_client == {}


async def test_view_when_asked_everything_at_once_then_each_answer_is_its_own(store: StateStore) -> None:
    """Orders by id and by client id, modes, positions and prices read together, each in its place."""
    await store.learn(dataclasses.replace(
        facts(named("o1", "c1"), named("o2", "c2", original="5", executed="1")),
        modes=(ModeUpdate(VENUE, ACCOUNT, MODE_KEY, "hedge"),),
    ))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1",), client_ids=("c2", "c9"),
                                      mode_keys=(MODE_KEY, "COIN-FUTURES"), loss_keys=("daily-loss|x|y",)))

    assert view.orders == {"o1": known("o1")}
    assert view.by_client == {"c2": known("o2", "1")}
    assert view.remaining == {"o1": Decimal(2), "o2": Decimal(4)}
    assert view.modes == {MODE_KEY: "hedge"}
    # the two orders' 2 and 4 open, and o2's 1 filled before the store heard of it (held until a position read)
    assert view.pending_in(position_key(), Side.BUY).adding == Decimal(7)
    assert view.equity_seen == frozenset()


# ---- position modes ---------------------------------------------------------------------------------------

MODE_CASES: list[tuple[str, ViewQuery, dict[str, str]]] = [
    ("own-account", mode_query(MODE_KEY, "COIN-FUTURES"), {MODE_KEY: "one-way", "COIN-FUTURES": "hedge"}),
    ("one-key", mode_query("COIN-FUTURES"), {"COIN-FUTURES": "hedge"}),
    ("other-account", mode_query(MODE_KEY, "COIN-FUTURES", account=OTHER_ACCOUNT), {MODE_KEY: "hedge"}),
    ("unknown-key", mode_query("USDC-FUTURES"), {}),
    ("no-keys", mode_query(), {}),
    ("other-venue", ViewQuery(OTHER_VENUE, ACCOUNT, (), mode_keys=(MODE_KEY,)), {}),
]


@pytest.mark.parametrize(("name", "query", "modes"), MODE_CASES, ids=[c[0] for c in MODE_CASES])
async def test_view_when_modes_learned_then_each_account_reads_its_own_last_one(
    store: StateStore, name: str, query: ViewQuery, modes: dict[str, str]
) -> None:
    await store.learn(ResponseFacts(modes=(ModeUpdate(VENUE, ACCOUNT, MODE_KEY, "hedge"),
                                           ModeUpdate(VENUE, ACCOUNT, "COIN-FUTURES", "hedge"),
                                           ModeUpdate(VENUE, OTHER_ACCOUNT, MODE_KEY, "hedge"))))
    await store.learn(ResponseFacts(modes=(ModeUpdate(VENUE, ACCOUNT, MODE_KEY, "one-way"),)))  # switched since

    view = await store.view(query)

    assert view.modes == modes


# ---- accepted amends --------------------------------------------------------------------------------------

AMEND_CASES: list[tuple[str, Decimal | None, Decimal]] = [
    # the order: 5, 1 filled, 4 left; the amend's leg: 2
    ("total-shrinks-it", Decimal(3), Decimal(2)),
    ("total-grows-it", Decimal(8), Decimal(7)),
    ("total-below-the-fills", Decimal("0.5"), Decimal(0)),
    ("no-total-keeps-the-larger", None, Decimal(4)),
]


@pytest.mark.parametrize(("name", "total", "left"), AMEND_CASES, ids=[c[0] for c in AMEND_CASES])
async def test_learn_when_amend_accepted_then_the_order_holds_what_its_total_leaves_or_else_the_larger(
    store: StateStore, name: str, total: Decimal | None, left: Decimal
) -> None:
    await learn_placed(store, order_update("o1", original="5", executed="1"))
    await store.reserve(make_reservation("am", exposure=(exposure_check("2", replaces_order="o1"),),
                                         pending=(pending_entry("am:0", "2", replaces_order="o1"),)))
    reserved = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1",)))

    await store.learn(ResponseFacts(amended=(AmendAccepted(VENUE, ACCOUNT, "am:0", total=total),)))
    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1",)))

    assert reserved.pending_in(position_key(), Side.BUY).adding == Decimal(6)  # the order's 4 and the leg's 2
    assert view.remaining == {"o1": left}
    assert view.pending_in(position_key(), Side.BUY).adding == left
    assert view.orders["o1"].executed == Decimal(1)


@pytest.mark.parametrize(("listing_asked", "left"), [
    (-30_000, Decimal(5)),  # asked before the amend, answered after its acceptance: the order's old size
    (0, Decimal(5)),  # asked in the amend's own millisecond: the venue may have listed it first
    (60_000, Decimal(1)),  # asked after it: the venue's word on the order now
], ids=["asked-before-keeps-the-amend", "asked-in-the-same-millisecond-keeps-the-amend", "asked-after-sets-it"])
async def test_learn_when_a_listing_asked_before_an_accepted_amend_comes_after_it_then_the_order_keeps_the_amend(
    backend: Backend, listing_asked: int, left: Decimal
) -> None:
    store, amended_at = backend.store, store_now(backend)
    await store.reserve(make_reservation("r1", pending=(pending_entry("r1:0", "1"),)))
    await store.learn(dataclasses.replace(facts(order_update("o1", original="1", reservation_id="r1:0")),
                                          asked_ms=amended_at - 60_000))
    await store.reserve(make_reservation("am", exposure=(exposure_check("5", replaces_order="o1"),),
                                         pending=(pending_entry("am:0", "5", replaces_order="o1"),)))
    # OKX answers an amend with its ids only
    await store.learn(ResponseFacts(amended=(AmendAccepted(VENUE, ACCOUNT, "am:0"),), asked_ms=amended_at))

    await store.learn(facts(dataclasses.replace(open_orders(order_update("o1", original="1"), symbol=SYMBOL),
                                                asked_ms=amended_at + listing_asked)))

    view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), ("o1",)))
    assert view.remaining == {"o1": left}


# ---- the fleet (Redis) ------------------------------------------------------------------------------------


@pytest.mark.redis
async def test_view_when_another_sidecar_learned_client_id_and_mode_then_this_one_reads_them(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    first, second = sidecars
    await first.learn(dataclasses.replace(facts(named("o1", "c1", executed="0.5")),
                                          modes=(ModeUpdate(VENUE, ACCOUNT, MODE_KEY, "hedge"),)))

    view = await second.view(ViewQuery(VENUE, ACCOUNT, (), client_ids=("c1",), mode_keys=(MODE_KEY,)))

    assert (view.by_client, view.remaining, view.modes) == (
        {"c1": known("o1", "0.5")}, {"o1": Decimal("1.5")}, {MODE_KEY: "hedge"})


@pytest.mark.redis
async def test_view_when_another_sidecar_renamed_then_ended_the_order_then_this_one_follows(
    sidecars: tuple[StateStore, StateStore],
) -> None:
    first, second = sidecars
    await first.learn(facts(named("o1", "c1")))
    await second.learn(facts(named("o1", "c2")))
    renamed = await first.view(by_client_query("c1", "c2"))

    await second.learn(ResponseFacts(closed=(ClosedOrder(VENUE, ACCOUNT, "o1"),)))
    ended = await first.view(by_client_query("c1", "c2"))

    assert (renamed.by_client, ended.by_client) == ({"c2": known("o1")}, {})


# ---- Redis: one round trip, scripts lost --------------------------------------------------------------------


def _redis_store(prefix: str) -> RedisStore:
    url = redis_url(prefix)
    return RedisStore(make_client(parse_url(url)[0]), url=url, options=RedisOptions(prefix))


@pytest.mark.redis
async def test_view_when_client_ids_and_modes_asked_then_one_round_trip_reads_them(
    redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _redis_store(redis_prefix)
    try:
        await store.learn(dataclasses.replace(facts(named("o1", "c1")),
                                              modes=(ModeUpdate(VENUE, ACCOUNT, MODE_KEY, "hedge"),)))
        sent: list[Any] = []
        original = store._link.send

        async def counted(commands: Any) -> Any:
            sent.append(commands)
            return await original(commands)

        monkeypatch.setattr(store._link, "send", counted)

        view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), client_ids=("c1",), mode_keys=(MODE_KEY,)))

        assert (len(sent), view.by_client, view.modes) == (1, {"c1": known("o1")}, {MODE_KEY: "hedge"})
    finally:
        await store.close()


@pytest.mark.redis
async def test_view_when_server_lost_its_scripts_then_client_ids_are_still_read(redis_prefix: str) -> None:
    store = _redis_store(redis_prefix)
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, socket_timeout=5)
    try:
        await store.learn(facts(named("o1", "c1")))
        with contextlib.suppress(redis.ResponseError):  # Redis 6 has no functions to lose
            client.function_flush()
        client.script_flush()

        view = await store.view(ViewQuery(VENUE, ACCOUNT, (SYMBOL,), client_ids=("c1",)))

        assert (view.by_client, view.remaining) == ({"c1": known("o1")}, {"o1": Decimal(2)})
    finally:
        client.close()
        await store.close()


async def test_view_when_order_renamed_after_a_newer_order_took_its_old_name_then_the_newer_keeps_it(
    store: StateStore,
) -> None:
    await store.learn(facts(named("o1", "c1")))
    await store.learn(facts(named("o2", "c1", original="3")))

    await store.learn(facts(named("o1", "c3")))
    view = await store.view(by_client_query("c1", "c3"))

    assert view.by_client == {"c1": known("o2"), "c3": known("o1")}
