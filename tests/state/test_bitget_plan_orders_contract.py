"""Bitget plan orders (place-plan-order: a trigger order that opens or adds to a position when the mark price
crosses its trigger) count against the account's limits while they rest, on MemoryStore and RedisStore alike.

Each case runs the Bitget adapter, the decision and the learning from Bitget-shaped answers (docs/venues.md §6,
ccxt bitget.py) on the store under test: a policy of `max_position` 1 BTCUSDT, two plan buys of 0.5 placed and
accepted, then what the bot (or the venue) does next, then a third plan buy of 0.5. Admitted, the third would let
the three together take the position to 1.5 when they trigger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from riskwall.decider import decide_request, learn_answer
from riskwall.model import Reason, Venue, Verdict
from riskwall.policy import Policy
from riskwall.state import StateStore
from riskwall.venues import HttpRequest, adapter_for
from unit.factories import make_policy

from .conftest import Backend, store_now

ADAPTER = adapter_for(Venue.BITGET)
MIX = "/api/v2/mix"
KEY = "bg_plan_contract_" + "k" * 24
HEADERS = {"access-key": KEY, "access-sign": "c2lnbmF0dXJl", "access-timestamp": "1767225600000",
           "access-passphrase": "pass", "content-type": "application/json"}
POLICY = """
version: 1
mode: enforce
accounts: {}
rules:
  - {id: position, type: max_position, symbols: {BTCUSDT: {qty: 1}}}
"""


def _post(path: str, body: dict[str, Any]) -> HttpRequest:
    return HttpRequest("POST", "api.bitget.com", 443, f"{MIX}/{path}", (), HEADERS, json.dumps(body).encode())


def _get(path: str, query: tuple[tuple[str, str], ...]) -> HttpRequest:
    text = "&".join(f"{k}={v}" for k, v in query)
    return HttpRequest("GET", "api.bitget.com", 443, f"{MIX}/{path}?{text}", query, HEADERS, b"")


def _ok(data: Any) -> bytes:
    return json.dumps({"code": "00000", "msg": "success", "requestTime": 1767225600000, "data": data}).encode()


def _plan(n: int, plan_type: str = "normal_plan") -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed", "marginCoin": "USDT",
            "size": "0.5", "side": "buy", "orderType": "market", "triggerPrice": "51000", "triggerType": "mark_price",
            "planType": plan_type, "clientOid": f"plan{n}"}


def _row(order_id: str, plan_type: str = "normal_plan") -> dict[str, Any]:
    """An orders-plan-pending row (ccxt bitget.py, fetch_open_orders' comment), one-way mode."""
    return {"planType": plan_type, "symbol": "BTCUSDT", "size": "0.5", "orderId": order_id, "clientOid": "c",
            "price": "", "triggerPrice": "51000", "triggerType": "mark_price", "planStatus": "live", "side": "buy",
            "posSide": "net", "marginCoin": "USDT", "marginMode": "crossed", "tradeSide": "buy_single",
            "posMode": "one_way_mode", "orderType": "market", "reduceOnly": "NO", "cTime": "1", "uTime": "1"}


@dataclass
class Bot:
    policy: Policy
    store: StateStore
    backend: Backend
    decisions: int = 0

    async def send(self, request: HttpRequest, answer: bytes, *, asked_ms: int | None = None) -> Verdict:
        """The request decided and, if allowed, its answer learned, as the sidecar does."""
        self.decisions += 1
        decision_id = f"plan-contract-{self.decisions}"
        parsed = ADAPTER.parse_request(request)
        evaluation = await decide_request(parsed, self.policy, self.store, decision_id)
        verdict = evaluation.decision.verdict
        if verdict is Verdict.ALLOW:
            await learn_answer(self.store, ADAPTER, evaluation.parsed or parsed, request, 200, answer, decision_id,
                               evaluation.reserved, asked_ms=asked_ms)
        else:
            [violation] = evaluation.decision.violations
            assert violation.reason is Reason.POSITION_EXCEEDS_MAX
        return verdict

    async def place_plan(self, n: int, plan_type: str = "normal_plan") -> Verdict:
        return await self.send(_post("order/place-plan-order", _plan(n, plan_type)),
                               _ok({"orderId": f"90{n}", "clientOid": f"plan{n}"}))

    async def list_plans(self, plan_type: str, rows: list[dict[str, Any]], *, asked_ms: int | None = None) -> None:
        query = (("planType", plan_type), ("productType", "USDT-FUTURES"), ("symbol", "BTCUSDT"))
        # by default asked a second after what the store learned of the orders: the book as it is now
        asked = asked_ms if asked_ms is not None else store_now(self.backend) + 1000
        verdict = await self.send(_get("order/orders-plan-pending", query),
                                  _ok({"entrustedList": rows or None, "endId": rows[-1]["orderId"] if rows else None}),
                                  asked_ms=asked)
        assert verdict is Verdict.ALLOW


async def _nothing(bot: Bot) -> None:
    pass


async def _listed_both(bot: Bot) -> None:
    await bot.list_plans("normal_plan", [_row("901"), _row("902")])


async def _listed_another_plan_type(bot: Bot) -> None:
    await bot.list_plans("track_plan", [])  # the trailing plans: none; says nothing of the normal ones


async def _listed_tp_sl(bot: Bot) -> None:
    await bot.list_plans("profit_loss", [])  # TP/SL orders: none; says nothing of the plan orders


async def _gone_from_listing(bot: Bot) -> None:
    # triggered or cancelled unseen: what it had open is held until a position read shows what it did
    await bot.list_plans("normal_plan", [_row("902")])


async def _cancelled(bot: Bot) -> None:
    verdict = await bot.send(
        _post("order/cancel-plan-order", {"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                                          "orderIdList": [{"orderId": "901"}]}),
        _ok({"successList": [{"orderId": "901", "clientOid": "plan1"}], "failureList": []}))
    assert verdict is Verdict.ALLOW


async def _cancel_failed(bot: Bot) -> None:
    # it had triggered before the cancel arrived: the venue says so, and nothing is freed
    verdict = await bot.send(
        _post("order/cancel-plan-order", {"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                                          "orderIdList": [{"orderId": "901"}]}),
        _ok({"successList": [], "failureList": [{"orderId": "901", "clientOid": "plan1", "errorMsg": "x",
                                                 "errorCode": "40768"}]}))
    assert verdict is Verdict.ALLOW


CASES: dict[str, tuple[Callable[[Bot], Any], Verdict]] = {
    "nothing-more": (_nothing, Verdict.BLOCK),
    "listed-as-resting": (_listed_both, Verdict.BLOCK),
    "a-listing-of-trailing-plans": (_listed_another_plan_type, Verdict.BLOCK),
    "a-listing-of-tp-sl-orders": (_listed_tp_sl, Verdict.BLOCK),
    "gone-from-a-listing": (_gone_from_listing, Verdict.BLOCK),
    "cancel-refused": (_cancel_failed, Verdict.BLOCK),
    "cancelled": (_cancelled, Verdict.ALLOW),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_place_plan_order_when_two_plans_rest_then_a_third_past_max_position_waits_for_one_to_end(
    backend: Backend, case: str
) -> None:
    then, expected = CASES[case]
    bot = Bot(make_policy(POLICY), backend.store, backend)
    assert [await bot.place_plan(1), await bot.place_plan(2)] == [Verdict.ALLOW, Verdict.ALLOW]

    await then(bot)

    assert await bot.place_plan(3) is expected


async def test_place_plan_order_when_a_trailing_plan_rests_then_it_counts_like_a_normal_one(backend: Backend) -> None:
    bot = Bot(make_policy(POLICY), backend.store, backend)
    placed = [await bot.place_plan(1, "track_plan"), await bot.place_plan(2)]
    await bot.list_plans("normal_plan", [_row("902")])  # the normal plans' listing leaves the trailing one be

    assert placed == [Verdict.ALLOW, Verdict.ALLOW]
    assert await bot.place_plan(3) is Verdict.BLOCK


@pytest.mark.parametrize("answer", ["acknowledged", "lost"])
async def test_place_order_when_a_limit_plan_may_have_triggered_and_rest_then_it_counts_until_orders_pending_is_read(
    backend: Backend, answer: str
) -> None:
    # a limit plan order of 0.5: triggered, Bitget places a limit order at its executePrice, which may rest unseen.
    # A plan listing without it and a flat position read, both asked late, do not say whether that order rests:
    # until orders-pending is read, a buy of 0.6 would take the worst case to 1.1 against the limit of 1
    bot = Bot(make_policy(POLICY), backend.store, backend)
    plan = _post("order/place-plan-order", {**_plan(1), "orderType": "limit", "price": "50900",
                                            "executePrice": "50900"})
    if answer == "acknowledged":
        assert await bot.send(plan, _ok({"orderId": "901", "clientOid": "plan1"})) is Verdict.ALLOW
    else:
        parsed = ADAPTER.parse_request(plan)
        evaluation = await decide_request(parsed, bot.policy, bot.store, "lost-plan")
        assert evaluation.decision.verdict is Verdict.ALLOW
        await learn_answer(bot.store, ADAPTER, evaluation.parsed or parsed, plan, None, b"", "lost-plan",
                           evaluation.reserved)
    late = store_now(backend) + 60_000
    await bot.list_plans("normal_plan", [], asked_ms=late)
    read = _get("position/single-position", (("symbol", "BTCUSDT"), ("productType", "USDT-FUTURES"),
                                             ("marginCoin", "USDT")))
    # asked after the listings (orders-pending's below too): a read in a listing's own millisecond may predate it
    assert await bot.send(read, _ok([]), asked_ms=late + 2) is Verdict.ALLOW
    buy = _post("order/place-order", {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed",
                                      "marginCoin": "USDT", "size": "0.6", "side": "buy", "orderType": "limit",
                                      "price": "50000", "clientOid": "buy1"})

    assert await bot.send(buy, _ok({"orderId": "1001", "clientOid": "buy1"})) is Verdict.BLOCK
    query = (("productType", "USDT-FUTURES"), ("symbol", "BTCUSDT"))
    assert await bot.send(_get("order/orders-pending", query), _ok({"entrustedList": None}),
                          asked_ms=late + 1) is Verdict.ALLOW  # nothing rests: the 0.5 is free again
    assert await bot.send(buy, _ok({"orderId": "1001", "clientOid": "buy1"})) is Verdict.ALLOW
