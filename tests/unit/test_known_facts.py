"""Requests completed with what the store knows (`engine.resolve`, `decider.decide_request`): an amend that names
only its order gets the order's symbol, side and the prices and positions of that symbol, read again when the
request did not name it, and the request as decided carries what the store knew for learning its answer.

The intents here carry a `resolve` hook written for the test (the venues' own hooks are tested with each venue):
what is checked is the decider's part, on a real `MemoryStore` (the Redis store's view is the same contract,
tests/state/test_known_orders_contract.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from riskwall.decider import decide_request
from riskwall.model import (
    Action,
    Known,
    OrderIntent,
    OrderUpdate,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    Reason,
    ResponseFacts,
    Side,
    StateView,
    Verdict,
    ViewQuery,
)
from riskwall.state.base import StateUnavailable
from riskwall.state.memory import MemoryStore

from .factories import ACCOUNT, VENUE, make_intent, make_policy, make_request

INVERSE = "XBTUSD"
POLICY = f"""
rules:
  - id: position
    type: max_position
    symbols: {{{INVERSE}: {{qty: 1}}}}
"""


def contracts_at_store_price(contracts: Decimal) -> OrderIntent:
    """An amend of `contracts` USD contracts of an order named by id alone: its symbol, side and the price that
    converts the contracts are the store's (as BitMEX's adapter resolves its amends)."""

    def hook(intent: OrderIntent, known: Known) -> OrderIntent:
        order = known.order(intent.order_id, None)
        if order is None:
            raise ValueError("orderQty: the amended order was not seen")
        price = known.price(order.symbol)
        if price is None:
            raise ValueError("orderQty: no price is known to convert it")
        return dataclasses.replace(intent, symbol=order.symbol, side=order.side, quantity=contracts / price,
                                   resolve=None)

    return make_intent(action=Action.AMEND, symbol=None, side=None, quantity=None, order_id="o1", resolve=hook)


async def seeded(position: str) -> MemoryStore:
    store = MemoryStore()
    await store.learn(ResponseFacts(
        prices=(PriceUpdate(VENUE, INVERSE, Decimal(50000), "mark"),),
        orders=(OrderUpdate(VENUE, ACCOUNT, INVERSE, "o1", Side.BUY, PositionSide.BOTH, Decimal("0.2"), Decimal(0),
                            False),),
        positions=(PositionsReport(VENUE, ACCOUNT, INVERSE, ((INVERSE, PositionSide.BOTH, Decimal(position)),)),),
    ))
    return store


@pytest.mark.parametrize(("position", "verdict", "reason"), [
    ("0.1", Verdict.ALLOW, None),  # 0.1 held + 0.8 for the amended order: within 1
    ("0.5", Verdict.BLOCK, Reason.POSITION_EXCEEDS_MAX),  # 0.5 + 0.8: over, seen only on the order's symbol
])
def test_decide_when_amend_names_only_its_order_then_the_orders_symbol_is_read_and_checked(
    position: str, verdict: Verdict, reason: Reason | None,
) -> None:
    async def run() -> tuple[Verdict, Reason | None, OrderIntent, Known | None]:
        store = await seeded(position)
        request = make_request(contracts_at_store_price(Decimal(40000)))  # 0.8 BTC at 50,000
        evaluation = await decide_request(request, make_policy(POLICY), store, "d1")
        decision = evaluation.decision
        assert evaluation.parsed is not None
        return (decision.verdict, decision.deciding.reason if decision.deciding else None,
                evaluation.parsed.intents[0], evaluation.parsed.known)

    got_verdict, got_reason, intent, known = asyncio.run(run())

    assert (got_verdict, got_reason) == (verdict, reason)
    # the request as decided is the completed one, which its answer is learned with
    assert (intent.symbol, intent.side, intent.quantity) == (INVERSE, Side.BUY, Decimal("0.8"))
    assert known is not None and known.price(INVERSE) == Decimal(50000)


def test_decide_when_the_store_does_not_know_the_amended_order_then_it_is_refused_as_unreadable() -> None:
    async def run() -> tuple[Verdict, Reason | None]:
        decision = (await decide_request(make_request(contracts_at_store_price(Decimal(100))),
                                         make_policy(POLICY), MemoryStore(), "d1")).decision
        return decision.verdict, decision.deciding.reason if decision.deciding else None

    assert asyncio.run(run()) == (Verdict.BLOCK, Reason.PARSE_FAILED)


class Unreachable(MemoryStore):
    """A store that cannot be read (Redis down)."""

    async def view(self, query: ViewQuery) -> StateView:
        raise StateUnavailable("redis: connection refused")


def test_decide_when_the_store_is_down_and_the_request_needs_it_then_the_outage_decides_not_a_parse_failure() -> None:
    # the outage is the addon's to answer (fail closed, reductions through), not a misnamed PARSE_FAILED
    request = make_request(contracts_at_store_price(Decimal(100)))

    with pytest.raises(StateUnavailable):
        asyncio.run(decide_request(request, make_policy(POLICY), Unreachable(), "d1"))
