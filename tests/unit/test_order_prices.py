"""The price an adapter reads for an order is one the venue executes it at, or none.

Notionals (max_order_notional, max_position by notional, daily notional) and the price collar are measured at the
order's own price (`engine.reference_price`): a buy's limit bounds what it pays. A price the venue does not execute
at (a decoy on a leg that executes at market, a field the order type does not read, a limit price beside a flag
that prices the order from the book) would make a large order look small. Such an order is either read without a
price of its own (a market order: valued at the mark, or refused per `on_price_unknown`) or refused as
unparseable. Facts: docs/venues.md §3.3 (Bybit BBO), §4 (OKX algo orders), §6 (Bitget plan orders).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from riskwall.decider import decide_request, learn_answer
from riskwall.model import (
    Decision,
    ParsedRequest,
    PriceUpdate,
    Reason,
    ResponseFacts,
    Venue,
    Verdict,
)
from riskwall.state.memory import MemoryStore
from riskwall.venues import bitget, bybit, okx
from riskwall.venues.base import HttpRequest, TableAdapter, screen

from .factories import make_policy

D = Decimal
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"
# documentation-sample shaped keys: no real credentials
HOSTS: dict[Venue, tuple[str, str, str]] = {
    Venue.OKX: ("www.okx.com", "ok-access-key", "985d5b66-57ce-40fb-b714-afc0b9787083"),
    Venue.BYBIT: ("api.bybit.com", "x-bapi-api-key", "XJ0bQ3cQ2D5vLkC9Hk"),
    Venue.BITGET: ("api.bitget.com", "access-key", "bg_5f0a1c3e9d7b2a4c6e8f0a1b2c3d4e5f"),
}
ADAPTERS: dict[Venue, TableAdapter] = {Venue.OKX: okx.ADAPTER, Venue.BYBIT: bybit.ADAPTER, Venue.BITGET: bitget.ADAPTER}
SYMBOLS = {Venue.OKX: "BTC-USDT-SWAP", Venue.BYBIT: "BTCUSDT", Venue.BITGET: "BTCUSDT"}
MARK = D("60000")
# 1 BTC at the 60,000 mark is 60,000 USDT: over the limit, unless valued at a decoy price
NOTIONAL_POLICY = make_policy("""
rules:
  - {id: notional, type: max_order_notional, default: 10000, on_price_unknown: block}
""")


def post(venue: Venue, path: str, body: dict[str, Any]) -> ParsedRequest:
    host, key_header, key = HOSTS[venue]
    raw = json.dumps(body, separators=(",", ":")).encode()
    headers = {"user-agent": "python-requests/2.32.3", "content-type": "application/json", key_header: key}
    return screen(ADAPTERS[venue], HttpRequest("POST", host, 443, path, (), headers, raw))


def decide(venue: Venue, path: str, body: dict[str, Any], mark: Decimal | None = MARK) -> Decision:
    async def run() -> Decision:
        store = MemoryStore()
        if mark is not None:
            await store.learn(ResponseFacts(prices=(PriceUpdate(venue, SYMBOLS[venue], mark, "mark"),)))
        evaluation = await decide_request(post(venue, path, body), NOTIONAL_POLICY, store, DECISION_ID)
        return evaluation.decision

    return asyncio.run(run())


def assert_refused(parsed: ParsedRequest, field: str) -> None:
    assert parsed.intents == ()
    assert parsed.error is not None and field in parsed.error, parsed.error


# ---- OKX order-algo ---------------------------------------------------------------------------------------

ALGO = "/api/v5/trade/order-algo"
AMEND_ALGO = "/api/v5/trade/amend-algos"
# 100 contracts × 0.01 BTC = 1 BTC
OKX_BUY = {"instId": "BTC-USDT-SWAP", "tdMode": "isolated", "side": "buy", "sz": "100"}

OKX_PRICED_CASES = [
    # only one leg executes, and the SL one buys at market about its trigger: the TP leg's limit is not the price
    pytest.param({**OKX_BUY, "ordType": "oco", "tpTriggerPx": "59000", "tpOrdPx": "1", "slTriggerPx": "60500",
                  "slOrdPx": "-1"}, None, D("60500"), id="oco-limit-leg-beside-market-leg"),
    pytest.param({**OKX_BUY, "ordType": "conditional", "tpTriggerPx": "59000", "tpOrdPx": "1",
                  "slTriggerPx": "60500", "slOrdPx": "-1"}, None, D("60500"),
                 id="conditional-limit-leg-beside-market-leg"),
    # a market leg's order is valued no lower than the other leg's limit either: that leg can fill up to it
    pytest.param({**OKX_BUY, "ordType": "oco", "tpTriggerPx": "59000", "tpOrdPx": "70000", "slTriggerPx": "60500",
                  "slOrdPx": "-1"}, None, D("70000"), id="oco-market-leg-beside-higher-limit"),
    # both legs limit: a buy pays at most the highest
    pytest.param({**OKX_BUY, "ordType": "oco", "tpTriggerPx": "59000", "tpOrdPx": "61000", "slTriggerPx": "60500",
                  "slOrdPx": "60600"}, D("61000"), D("61000"), id="oco-buy-two-limits-highest"),
    # both legs limit: a sell's lowest is the one that can trade through the market (the collar's)
    pytest.param({**OKX_BUY, "side": "sell", "ordType": "oco", "tpTriggerPx": "45000", "tpOrdPx": "44900",
                  "slTriggerPx": "60000", "slOrdPx": "60100"}, D("44900"), D("60100"), id="oco-sell-two-limits-lowest"),
    # a trigger leg with no order price is not a limit order
    pytest.param({**OKX_BUY, "ordType": "conditional", "tpTriggerPx": "59000", "tpOrdPx": "1",
                  "slTriggerPx": "60500"}, None, D("60500"), id="conditional-leg-without-order-price"),
]


@pytest.mark.parametrize(("body", "price", "trigger"), OKX_PRICED_CASES)
def test_parse_request_when_okx_algo_legs_priced_differently_then_price_is_one_it_executes_at(
    body: dict[str, Any], price: Decimal | None, trigger: Decimal
) -> None:
    parsed = post(Venue.OKX, ALGO, body)

    assert parsed.error is None, parsed.error
    [got] = parsed.intents
    assert (got.price, got.trigger_price) == (price, trigger)


OKX_REFUSED_CASES = [
    pytest.param({**OKX_BUY, "ordType": "conditional", "slTriggerPx": "60500", "slOrdPx": "-1", "orderPx": "1"},
                 "orderPx", id="conditional-with-trigger-order-price"),
    pytest.param({**OKX_BUY, "ordType": "trigger", "triggerPx": "60500", "orderPx": "-1", "tpOrdPx": "1"},
                 "tpOrdPx", id="trigger-with-tp-order-price"),
    pytest.param({**OKX_BUY, "ordType": "move_order_stop", "callbackRatio": "0.01", "orderPx": "1"}, "orderPx",
                 id="trailing-with-order-price"),
    pytest.param({**OKX_BUY, "ordType": "move_order_stop", "callbackRatio": "0.01", "pxLimit": "1"}, "pxLimit",
                 id="trailing-with-price-limit"),
    pytest.param({**OKX_BUY, "ordType": "chase", "chaseType": "distance", "chaseVal": "0", "orderPx": "1"},
                 "orderPx", id="chase-with-order-price"),
    pytest.param({**OKX_BUY, "ordType": "iceberg", "pxVar": "0.01", "szLimit": "10", "pxLimit": "60000",
                  "slOrdPx": "1"}, "slOrdPx", id="iceberg-with-sl-order-price"),
    pytest.param({**OKX_BUY, "ordType": "trigger", "triggerPx": "60500", "orderPx": "-1", "callbackRatio": "0.01"},
                 "callbackRatio", id="trigger-with-trailing-callback"),
    pytest.param({**OKX_BUY, "ordType": "oco", "tpTriggerRatio": "0.3", "tpOrdPx": "-1", "slTriggerPx": "60500",
                  "slOrdPx": "1"}, "tpTriggerRatio", id="market-leg-with-ratio-trigger"),
    pytest.param({**OKX_BUY, "ordType": "conditional", "slTriggerPx": "60500", "slTriggerRatio": "0.01",
                  "slOrdPx": "-1"}, "slTriggerRatio", id="trigger-price-and-ratio"),
    pytest.param({**OKX_BUY, "ordType": "conditional", "tpOrdKind": "market", "tpTriggerPx": "59000",
                  "tpOrdPx": "-1"}, "tpOrdKind", id="tp-order-kind-unknown"),
    pytest.param({**OKX_BUY, "ordType": "trigger", "triggerPx": "-1", "orderPx": "1"}, "triggerPx",
                 id="trigger-price-market-sentinel"),
]


@pytest.mark.parametrize(("body", "field"), OKX_REFUSED_CASES)
def test_parse_request_when_okx_algo_sends_a_field_its_type_does_not_read_then_refused(
    body: dict[str, Any], field: str
) -> None:
    assert_refused(post(Venue.OKX, ALGO, body), field)


def test_parse_request_when_okx_algo_amend_moves_a_leg_to_market_then_no_price_of_its_own() -> None:
    body = {"instId": "BTC-USDT-SWAP", "algoId": "712345678901234567", "newSz": "100", "newTpTriggerPx": "59000",
            "newTpOrdPx": "1", "newSlTriggerPx": "60500", "newSlOrdPx": "-1"}

    [got] = post(Venue.OKX, AMEND_ALGO, body).intents

    assert (got.price, got.trigger_price) == (None, D("60500"))


@pytest.mark.parametrize(("body", "mark", "verdict", "reason"), [
    pytest.param({**OKX_BUY, "ordType": "oco", "tpTriggerPx": "59000", "tpOrdPx": "1", "slTriggerPx": "60500",
                  "slOrdPx": "-1"}, MARK, Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, id="oco-decoy-mark-known"),
    # no mark: valued at its highest trigger, as the order itself says
    pytest.param({**OKX_BUY, "ordType": "oco", "tpTriggerPx": "59000", "tpOrdPx": "1", "slTriggerPx": "60500",
                  "slOrdPx": "-1"}, None, Verdict.BLOCK, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, id="oco-decoy-no-mark"),
])
def test_decide_when_okx_oco_buy_has_a_decoy_limit_leg_then_valued_at_its_market_leg(
    body: dict[str, Any], mark: Decimal | None, verdict: Verdict, reason: Reason | None
) -> None:
    decision = decide(Venue.OKX, ALGO, body, mark)

    assert decision.verdict is verdict
    assert (decision.deciding.reason if decision.deciding else None) is reason


OKX_OCO = {**OKX_BUY, "sz": "10", "ordType": "oco", "tpTriggerPx": "40000", "tpOrdPx": "40000",
           "slTriggerPx": "60000", "slOrdPx": "60000"}  # 0.1 BTC at up to 60,000: 6,000 of the 10,000
OKX_TRIGGER = {**OKX_BUY, "sz": "10", "ordType": "trigger", "triggerPx": "40000", "orderPx": "40000"}
GROWN = {"instId": "BTC-USDT-SWAP", "algoId": "777", "newSz": "20"}  # 0.2 BTC: 8,000 at 40,000, 12,000 at 60,000


@pytest.mark.parametrize(("placed", "amend", "reason"), [
    # the stop-loss leg still buys at up to 60,000: its limit is not the take-profit one the amend restates
    pytest.param(OKX_OCO, {**GROWN, "newTpTriggerPx": "40000", "newTpOrdPx": "40000"}, Reason.PARSE_FAILED,
                 id="oco-grown-take-profit-leg-alone"),
    pytest.param(OKX_OCO, {**GROWN, "newSlTriggerPx": "40000", "newSlOrdPx": "40000"}, Reason.PARSE_FAILED,
                 id="oco-grown-stop-loss-leg-alone"),
    pytest.param(OKX_OCO, {**GROWN, "newTpTriggerPx": "40000", "newTpOrdPx": "40000", "newSlTriggerPx": "40000",
                           "newSlOrdPx": "40000"}, None, id="oco-grown-every-leg-restated"),
    pytest.param(OKX_OCO, {**GROWN, "newTpTriggerPx": "40000", "newTpOrdPx": "40000", "newSlTriggerPx": "60000",
                           "newSlOrdPx": "60000"}, Reason.ORDER_NOTIONAL_EXCEEDS_MAX, id="oco-grown-past-the-limit"),
    pytest.param(OKX_OCO, {**GROWN, "newSz": "5", "newTpTriggerPx": "40000", "newTpOrdPx": "40000"}, None,
                 id="oco-shrunk-one-leg-restated"),
    # newOrdPx is a trigger order's price: on an oco it is none of its legs'
    pytest.param(OKX_OCO, {**GROWN, "newTriggerPx": "40000", "newOrdPx": "40000"}, Reason.PARSE_FAILED,
                 id="oco-grown-trigger-order-price"),
    pytest.param(OKX_TRIGGER, {**GROWN, "newTriggerPx": "40000", "newOrdPx": "40000"}, None,
                 id="trigger-grown-its-price-restated"),
    # take-profit and stop-loss prices are no trigger order's: it has no such legs
    pytest.param(OKX_TRIGGER, {**GROWN, "newTpTriggerPx": "1", "newTpOrdPx": "1", "newSlTriggerPx": "1",
                               "newSlOrdPx": "1"}, Reason.PARSE_FAILED, id="trigger-grown-legs-it-does-not-have"),
    pytest.param(OKX_TRIGGER, {**GROWN, "algoId": "778", "newTriggerPx": "40000", "newOrdPx": "40000"},
                 Reason.PARSE_FAILED, id="unknown-order-grown-trigger-order-price"),
])
def test_decide_when_okx_algo_amend_restates_some_legs_then_growth_measured_only_at_every_legs_price(
    placed: dict[str, Any], amend: dict[str, Any], reason: Reason | None
) -> None:
    async def run() -> Decision:
        store = MemoryStore()
        await store.learn(ResponseFacts(prices=(PriceUpdate(Venue.OKX, "BTC-USDT-SWAP", MARK, "mark"),)))
        host, key_header, key = HOSTS[Venue.OKX]
        raw = json.dumps(placed).encode()
        request = HttpRequest("POST", host, 443, ALGO, (), {"content-type": "application/json", key_header: key}, raw)
        placing = await decide_request(screen(okx.ADAPTER, request), NOTIONAL_POLICY, store, "d-place")
        assert placing.decision.verdict is Verdict.ALLOW
        ack = json.dumps({"code": "0", "msg": "", "data": [{"algoId": "777", "sCode": "0", "sMsg": ""}]}).encode()
        await learn_answer(store, okx.ADAPTER, placing.parsed or screen(okx.ADAPTER, request), request, 200, ack,
                           "d-place", placing.reserved)
        return (await decide_request(post(Venue.OKX, AMEND_ALGO, amend), NOTIONAL_POLICY, store, DECISION_ID)).decision

    decision = asyncio.run(run())

    assert (decision.deciding.reason if decision.deciding else None) is reason
    assert decision.verdict is (Verdict.ALLOW if reason is None else Verdict.BLOCK)


# ---- Bybit BBO --------------------------------------------------------------------------------------------

CREATE = "/v5/order/create"
BYBIT_BUY = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "1"}


@pytest.mark.parametrize("body", [
    pytest.param({**BYBIT_BUY, "price": "1", "bboSideType": "Counterparty", "bboLevel": "1"}, id="limit-counterparty"),
    pytest.param({**BYBIT_BUY, "price": "1", "bboSideType": "Queue", "bboLevel": "5"}, id="limit-queue"),
    pytest.param({**BYBIT_BUY, "orderType": "Market", "price": "1", "bboSideType": "Counterparty"}, id="market"),
])
def test_parse_request_when_bybit_bbo_order_sends_a_price_then_refused(body: dict[str, Any]) -> None:
    assert_refused(post(Venue.BYBIT, CREATE, body), "price")


def test_parse_request_when_bybit_batch_leg_is_bbo_with_a_price_then_refused() -> None:
    body = {"category": "linear", "request": [
        {**BYBIT_BUY, "price": "50000"},
        {**BYBIT_BUY, "price": "1", "bboSideType": "Counterparty", "bboLevel": "1"},
    ]}

    assert_refused(post(Venue.BYBIT, "/v5/order/create-batch", body), "price")


def test_decide_when_bybit_bbo_buy_of_one_btc_with_decoy_price_then_blocked() -> None:
    decision = decide(Venue.BYBIT, CREATE, {**BYBIT_BUY, "price": "1", "bboSideType": "Counterparty", "bboLevel": "1"})

    assert decision.verdict is Verdict.BLOCK


# ---- Bitget plan orders -----------------------------------------------------------------------------------

PLAN = "/api/v2/mix/order/place-plan-order"
TRACK = {"planType": "track_plan", "symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "isolated",
         "marginCoin": "USDT", "size": "1", "callbackRatio": "1", "triggerPrice": "60000",
         "triggerType": "mark_price", "side": "buy"}


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({**TRACK, "orderType": "limit", "price": "1"}, "orderType", id="trailing-limit-with-price"),
    pytest.param({**TRACK, "orderType": "market", "price": "1"}, "price", id="trailing-market-with-price"),
    pytest.param({**TRACK, "orderType": "market", "executePrice": "1"}, "executePrice",
                 id="trailing-market-with-execute-price"),
    # ccxt sends both, equal; differing, which one Bitget executes at is a guess
    pytest.param({**TRACK, "planType": "normal_plan", "callbackRatio": None, "orderType": "limit", "price": "1",
                  "executePrice": "60000"}, "executePrice", id="plan-price-and-execute-price-differ"),
])
def test_parse_request_when_bitget_plan_order_carries_a_price_it_does_not_execute_at_then_refused(
    body: dict[str, Any], field: str
) -> None:
    assert_refused(post(Venue.BITGET, PLAN, {k: v for k, v in body.items() if v is not None}), field)


def test_decide_when_bitget_trailing_buy_sent_as_limit_with_decoy_price_then_blocked() -> None:
    decision = decide(Venue.BITGET, PLAN, {**TRACK, "orderType": "limit", "price": "1"})

    assert decision.verdict is Verdict.BLOCK
