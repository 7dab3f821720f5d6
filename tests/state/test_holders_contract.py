"""Where each key's state is kept, recorded in the store: a policy that moves a key to another account (an
`accounts` label added, removed or changed) is told where the key's state still is, once, on every store."""

from __future__ import annotations

import dataclasses

import pytest

from riskwall.model import PositionSide, Venue
from riskwall.state import StateStore
from riskwall.state.base import HolderMove
from unit.factories import ACCOUNT, SYMBOL, VENUE, facts, positions_report

DESK, OPS = "label:desk", "label:ops"


async def traded(store: StateStore, account: str) -> None:
    """`account` holds state: a position the venue reported for it."""
    await store.learn(facts(positions_report((SYMBOL, PositionSide.BOTH, "0.8"), symbol=SYMBOL, account=account)))


@pytest.mark.parametrize(("before", "state_under", "after", "moved"), [
    # the key traded unlisted, under its own fingerprint; a label now lists it
    pytest.param(None, ACCOUNT, DESK, (ACCOUNT, DESK), id="label-added-to-a-key-that-traded"),
    pytest.param(DESK, DESK, OPS, (DESK, OPS), id="key-moved-to-another-label"),
    pytest.param(DESK, DESK, None, (DESK, ACCOUNT), id="label-removed"),
    # nothing kept under the old account: nothing to guard
    pytest.param(None, None, DESK, None, id="label-added-to-a-key-that-never-traded"),
    pytest.param(DESK, DESK, DESK, None, id="unchanged"),
    # another key's state under the old account is not this key's move
    pytest.param(None, "ba9876543210", DESK, None, id="another-key-traded"),
])
async def test_claim_holders_when_a_keys_account_changes_then_the_move_is_told_where_state_stays(
    store: StateStore, before: str | None, state_under: str | None, after: str | None,
    moved: tuple[str, str] | None,
) -> None:
    if before is not None:
        assert await store.claim_holders({ACCOUNT: before}) == ()
    if state_under is not None:
        await traded(store, state_under)

    moves = await store.claim_holders({} if after is None else {ACCOUNT: after})

    assert moves == (() if moved is None else (HolderMove(ACCOUNT, str(VENUE), *moved),))
    # told once: the record moved with it
    assert await store.claim_holders({} if after is None else {ACCOUNT: after}) == ()


async def test_claim_holders_when_the_old_account_holds_state_on_two_venues_then_each_venue_is_told(
    store: StateStore,
) -> None:
    await traded(store, ACCOUNT)
    on_bybit = positions_report(("BTCUSDT", PositionSide.BOTH, "1"), symbol="BTCUSDT", account=ACCOUNT)
    await store.learn(facts(dataclasses.replace(on_bybit, venue=Venue.BYBIT)))

    moves = await store.claim_holders({ACCOUNT: DESK})

    assert {(move.venue, move.previous, move.holder) for move in moves} == {
        (str(VENUE), ACCOUNT, DESK), (str(Venue.BYBIT), ACCOUNT, DESK)}
