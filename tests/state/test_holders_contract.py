"""Where each key's state is kept, recorded in the store: a policy that moves a key to another account (an
`accounts` label added, removed or changed) is told where the key's state still is, on every store."""

from __future__ import annotations

import dataclasses

import pytest

from riskwall.model import PositionSide, StateScope, TradingState, Venue
from riskwall.state import StateStore
from riskwall.state.base import HolderMove, holder_key
from unit.factories import ACCOUNT, SYMBOL, VENUE, facts, positions_report

DESK, OPS = "label:desk", "label:ops"
KEY = holder_key(str(VENUE), ACCOUNT)


async def traded(store: StateStore, account: str, venue: Venue = VENUE) -> None:
    """`account` holds state on `venue`: a position the venue reported for it."""
    report = positions_report((SYMBOL, PositionSide.BOTH, "0.8"), symbol=SYMBOL, account=account)
    await store.learn(facts(dataclasses.replace(report, venue=venue)))


def held(holder: str | None) -> dict[str, str]:
    return {} if holder is None else {KEY: holder}


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
async def test_holder_moves_when_a_keys_account_changes_then_the_move_is_told_until_recorded(
    store: StateStore, before: str | None, state_under: str | None, after: str | None,
    moved: tuple[str, str] | None,
) -> None:
    await store.record_holders(held(before))
    if state_under is not None:
        await traded(store, state_under)

    moves = await store.holder_moves(held(after))
    again = await store.holder_moves(held(after))  # nothing recorded yet: the same again
    await store.record_holders(held(after))

    assert moves == again == (() if moved is None else (HolderMove(ACCOUNT, str(VENUE), *moved),))
    assert await store.holder_moves(held(after)) == ()


async def test_holder_moves_when_labels_are_bound_to_venues_then_each_venue_is_judged_by_its_own_label(
    store: StateStore,
) -> None:
    # one key, two venues of one exchange under a label each: the USDⓈ-M label renamed moves USDⓈ-M only
    coinm = holder_key(str(Venue.BINANCECOINM), ACCOUNT)
    await store.record_holders({KEY: DESK, coinm: "label:coinm"})
    await traded(store, DESK)
    await traded(store, "label:coinm", Venue.BINANCECOINM)

    moves = await store.holder_moves({KEY: OPS, coinm: "label:coinm"})

    assert moves == (HolderMove(ACCOUNT, str(VENUE), DESK, OPS),)


@pytest.mark.parametrize(("scope", "state", "moved"), [
    # `riskwall halt --account desk`: the label's halt, and nothing else held under it
    pytest.param(StateScope(None, DESK), TradingState.HALTED, True, id="label-halted"),
    pytest.param(StateScope(str(VENUE), DESK, SYMBOL), TradingState.REDUCING, True, id="label-symbol-reducing"),
    pytest.param(StateScope(str(Venue.OKX), DESK), TradingState.HALTED, False, id="halted-on-another-venue"),
    pytest.param(StateScope(None, OPS), TradingState.HALTED, False, id="another-label-halted"),
    # one that names no account covers the new one as well
    pytest.param(StateScope(), TradingState.HALTED, False, id="everything-halted"),
])
async def test_holder_moves_when_the_old_account_is_halted_then_the_move_is_told(
    store: StateStore, scope: StateScope, state: TradingState, moved: bool,
) -> None:
    # a label renamed (desk → desk-a) with only a halt on it: the halt must not stay behind with the old name
    await store.record_holders(held(DESK))
    await store.set_trading_state(scope, state, "ops: incident", "ops")

    moves = await store.holder_moves(held("label:desk-a"))

    assert moves == ((HolderMove(ACCOUNT, str(VENUE), DESK, "label:desk-a"),) if moved else ())
