"""Amends a venue accepts without saying what the order now is (OKX amend-order / amend-batch-orders answer ids
only): `decider.with_accepted_amends` reads the acceptance from the answer's status and refusals, and the store
then makes the amended order hold the larger of its old remaining and the amend's size until the venue reports it.

Requests and answers are real-shaped OKX v5 bodies parsed by the real OKX adapter (as in tests/unit/test_okx.py);
the end-to-end behaviour through a real sidecar and ccxt is tests/e2e/test_accepted_amends_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

from riskwall.decider import answer_facts, decide_request, learn_answer, with_accepted_amends, with_holder
from riskwall.instruments import CATALOG
from riskwall.model import (
    AmendAccepted,
    Decision,
    ParsedRequest,
    PositionSide,
    Reason,
    ResponseFacts,
    Side,
    Venue,
    Verdict,
    ViewQuery,
    fingerprint,
)
from riskwall.policy.loader import Policy
from riskwall.state.base import PositionKey
from riskwall.state.memory import MemoryStore
from riskwall.venues.base import HttpRequest, screen
from riskwall.venues.okx import ADAPTER

from .factories import FakeClock, make_policy

D = Decimal
VENUE = Venue.OKX
# OKX's documentation sample key and signature shapes: realistic, no real credentials
API_KEY = "985d5b66-57ce-40fb-b714-afc0b9787083"
ACCOUNT = fingerprint(API_KEY)
HOLDER = "label:main"
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"
INST = "BTC-USDT-SWAP"  # 0.01 BTC a contract
CID = "6b9ad766b55dBCDE1a2b3c4d5e6f7a8b"
ORD_ID = "612345678901234567"
OTHER_ORD_ID = "612345678901234568"


@pytest.fixture(autouse=True)
def fresh_catalog() -> Iterator[None]:
    """The catalog is process-wide: every test starts and ends with nothing learned."""
    CATALOG.clear()
    yield
    CATALOG.clear()


def make_request(path: str, body: Any) -> HttpRequest:
    """A signed OKX POST as the addon builds it, its body ccxt's compact JSON."""
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"user-agent": "python-requests/2.32.3", "content-type": "application/json",
               "ok-access-key": API_KEY, "ok-access-sign": "G4vgYnSRP4q6GDgLRSzsa6oy7lyqtq4VeyyMkElpnSk=",
               "ok-access-timestamp": "2026-11-23T16:06:08.184Z", "ok-access-passphrase": "okx-doc-passphrase-1!"}
    return HttpRequest("POST", "www.okx.com", 443, path, (), headers, data)


def new_order(sz: str, px: str = "30000", cl_ord_id: str = CID) -> HttpRequest:
    return make_request("/api/v5/trade/order", {"instId": INST, "tdMode": "isolated", "side": "buy",
                                                "ordType": "limit", "sz": sz, "px": px, "clOrdId": cl_ord_id})


def amend(ord_id: str = ORD_ID, sz: str = "4") -> HttpRequest:
    return make_request("/api/v5/trade/amend-order", {"instId": INST, "ordId": ord_id, "newSz": sz})


def amend_batch(*legs: tuple[str, str]) -> HttpRequest:
    return make_request("/api/v5/trade/amend-batch-orders",
                        [{"instId": INST, "ordId": ord_id, "newSz": sz} for ord_id, sz in legs])


def ack(ord_id: str, code: str = "0", cl_ord_id: str = "") -> dict[str, Any]:
    """One entry of an OKX trade answer: ids only, `sCode` "0" for an accepted leg."""
    return {"clOrdId": cl_ord_id, "ordId": ord_id, "reqId": "", "sCode": code,
            "sMsg": "" if code == "0" else "Order modification failed as the order does not exist.",
            "ts": "1700000000000"}


def envelope(*entries: dict[str, Any], code: str | None = None) -> bytes:
    failed = sum(1 for e in entries if e["sCode"] != "0")
    code = code or ("0" if not failed else "1" if failed == len(entries) else "2")
    return orjson.dumps({"code": code, "msg": "", "data": list(entries), "inTime": "1", "outTime": "2"})


def parsed_of(request: HttpRequest, policy: Policy | None = None) -> ParsedRequest:
    parsed = screen(ADAPTER, request)
    assert parsed.error is None, parsed.error
    return with_holder(parsed, policy) if policy is not None else parsed


def labelled(*rules: str) -> Policy:
    """A policy whose account `main` lists the OKX key: the decider keeps its state under `label:main`."""
    body = "".join(f"  - {r}\n" for r in rules) if rules else "  []\n"
    return make_policy(f"accounts:\n  main:\n    fingerprints: ['{ACCOUNT}']\nrules:\n{body}")


LABELLED = labelled()  # no rule; the key is listed under `main` all the same


# ---- with_accepted_amends: which legs an answer confirms ---------------------------------------------------


def legs(*indexes: int, account: str = ACCOUNT) -> tuple[AmendAccepted, ...]:
    return tuple(AmendAccepted(VENUE, account, f"{DECISION_ID}:{i}") for i in indexes)


ACCEPTED_CASES = [
    pytest.param(amend(), 200, envelope(ack(ORD_ID)), legs(0), id="200-amend-accepted"),
    pytest.param(amend_batch((ORD_ID, "4"), (OTHER_ORD_ID, "2")), 200, envelope(ack(ORD_ID), ack(OTHER_ORD_ID)),
                 legs(0, 1), id="200-batch-all-legs-accepted"),
    pytest.param(amend_batch((ORD_ID, "4"), (OTHER_ORD_ID, "2")), 200,
                 envelope(ack(ORD_ID, code="51503"), ack(OTHER_ORD_ID)), legs(1),
                 id="200-batch-first-leg-refused-by-scode"),
    pytest.param(amend_batch((ORD_ID, "4"), (OTHER_ORD_ID, "2")), 200,
                 envelope(ack(ORD_ID), ack(OTHER_ORD_ID, code="51503")), legs(0),
                 id="200-batch-second-leg-refused-by-scode"),
    pytest.param(amend_batch((ORD_ID, "4"), (OTHER_ORD_ID, "2")), 200,
                 envelope(ack(ORD_ID, code="51503"), ack(OTHER_ORD_ID, code="51503")), (),
                 id="200-batch-every-leg-refused"),
    pytest.param(amend(), 200, envelope(ack(ORD_ID, code="51503")), (), id="200-lone-amend-refused-by-scode"),
    pytest.param(amend(), 400, orjson.dumps({"code": "50002", "msg": "Json data format error.", "data": []}), (),
                 id="400-refused"),
    pytest.param(amend(), 401, orjson.dumps({"code": "50113", "msg": "Invalid Sign", "data": []}), (),
                 id="401-refused"),
    pytest.param(amend(), 500, b"", (), id="500-fate-unknown"),
    pytest.param(amend(), 503, b"<html>Service Unavailable</html>", (), id="503-fate-unknown"),
    pytest.param(amend(), 408, b"", (), id="408-fate-unknown"),
    pytest.param(amend(), None, b"", (), id="no-answer"),
    pytest.param(new_order("2"), 200, envelope(ack(ORD_ID, cl_ord_id=CID)), (), id="new-order-is-no-amend"),
    pytest.param(make_request("/api/v5/trade/cancel-order", {"instId": INST, "ordId": ORD_ID}), 200,
                 envelope(ack(ORD_ID)), (), id="cancel-is-no-amend"),
]


@pytest.mark.parametrize(("request_", "status", "body", "expected"), ACCEPTED_CASES)
def test_with_accepted_amends_when_answer_given_then_only_the_legs_the_venue_accepted(
    request_: HttpRequest, status: int | None, body: bytes, expected: tuple[AmendAccepted, ...]
) -> None:
    parsed = parsed_of(request_)

    got = with_accepted_amends(ResponseFacts(), parsed, status, body, DECISION_ID)

    assert got.amended == expected
    assert got.empty is (not expected)


def test_with_accepted_amends_when_key_is_labelled_then_the_holder_label_is_the_account() -> None:
    parsed = parsed_of(amend_batch((ORD_ID, "4"), (OTHER_ORD_ID, "2")), LABELLED)

    got = with_accepted_amends(ResponseFacts(), parsed, 200, envelope(ack(ORD_ID), ack(OTHER_ORD_ID)), DECISION_ID)

    assert parsed.holder == HOLDER
    assert got.amended == legs(0, 1, account=HOLDER)


def test_with_accepted_amends_when_facts_carry_amends_already_then_they_are_kept_and_added_to() -> None:
    earlier = AmendAccepted(VENUE, ACCOUNT, "other-decision:0")

    got = with_accepted_amends(ResponseFacts(amended=(earlier,)), parsed_of(amend()), 200,
                               envelope(ack(ORD_ID)), DECISION_ID)

    assert got.amended == (earlier, *legs(0))


@pytest.mark.parametrize(("status", "expected"), [(200, legs(0, account=HOLDER)), (400, ()), (None, ())],
                         ids=["200", "400", "no-answer"])
def test_answer_facts_when_amend_answered_then_acceptance_added_under_the_holder(
    status: int | None, expected: tuple[AmendAccepted, ...]
) -> None:
    request = amend()
    body = envelope(ack(ORD_ID)) if status == 200 else b'{"code":"50002","msg":"x","data":[]}'

    got = answer_facts(ADAPTER, parsed_of(request, LABELLED), request, status, body, DECISION_ID)

    assert got.amended == expected
    assert not got.orders  # OKX's amend answer says nothing of the order itself


# ---- through the real decider and MemoryStore: an upsized amend counts for max_position ----------------------

MAX_POSITION = "{id: pos, type: max_position, default: {qty: 0.05}}"  # 0.05 BTC: 5 contracts


async def _decide_and_answer(store: MemoryStore, policy: Policy, request: HttpRequest, decision_id: str,
                             status: int | None = None, body: bytes = b"") -> Decision:
    """One request through the decider; an allowed one answered (`status`, `body`) and settled in the store."""
    evaluation = await decide_request(screen(ADAPTER, request), policy, store, decision_id)
    if evaluation.decision.verdict is Verdict.ALLOW and status is not None:
        assert evaluation.parsed is not None
        await learn_answer(store, ADAPTER, evaluation.parsed, request, status, body, decision_id,
                           evaluation.reserved, policy)
    return evaluation.decision


async def _pending_buy(store: MemoryStore) -> Decimal:
    view = await store.view(ViewQuery(VENUE, HOLDER, (INST,)))
    return Decimal(view.pending_in(PositionKey(VENUE, HOLDER, INST, PositionSide.BOTH), Side.BUY).adding)


AMEND_ANSWERS = [
    # (amend size in contracts, answer status, answer body, pending after the answer, verdict of a 2-contract buy)
    pytest.param("4", 200, envelope(ack(ORD_ID)), D("0.04"), Verdict.BLOCK, id="upsize-accepted-is-counted"),
    pytest.param("4", 200, envelope(ack(ORD_ID, code="51503")), D("0.01"), Verdict.ALLOW,
                 id="upsize-refused-by-scode-is-not"),
    pytest.param("4", 400, orjson.dumps({"code": "51000", "msg": "Parameter newSz error", "data": []}), D("0.01"),
                 Verdict.ALLOW, id="upsize-refused-400-is-not"),
    pytest.param("1", 200, envelope(ack(ORD_ID)), D("0.01"), Verdict.ALLOW, id="same-size-accepted"),
]


@pytest.mark.parametrize(("size", "status", "body", "pending", "verdict"), AMEND_ANSWERS)
def test_create_order_when_an_okx_amend_upsized_a_resting_order_then_max_position_counts_the_new_size(
    size: str, status: int, body: bytes, pending: Decimal, verdict: Verdict
) -> None:
    policy = labelled(MAX_POSITION)

    async def scenario() -> tuple[Decimal, Decimal, Decision]:
        store = MemoryStore(clock=FakeClock())
        placed = await _decide_and_answer(store, policy, new_order("1"), "d1", 200,
                                          envelope(ack(ORD_ID, cl_ord_id=CID)))
        assert placed.verdict is Verdict.ALLOW
        before = await _pending_buy(store)
        amended = await _decide_and_answer(store, policy, amend(sz=size), "d2", status, body)
        assert amended.verdict is Verdict.ALLOW  # 0.04 BTC of 0.05 in place of 0.01
        after = await _pending_buy(store)
        nxt = await _decide_and_answer(store, policy, new_order("2", px="29990", cl_ord_id=CID[:-1] + "c"), "d3")
        return before, after, nxt

    before, after, decision = asyncio.run(scenario())

    assert (before, after) == (D("0.01"), pending)
    assert decision.verdict is verdict
    if verdict is Verdict.BLOCK:
        assert decision.deciding is not None
        assert (decision.deciding.rule_id, decision.deciding.reason) == ("pos", Reason.POSITION_EXCEEDS_MAX)
        # the amend's 4 contracts and the new 2: 0.06 BTC, where 0.01 + 0.02 would have fitted
        assert {"position": "0.06", "max_position": "0.05"}.items() <= dict(decision.deciding.context).items()


def test_create_order_when_an_okx_amend_downsized_then_the_old_size_holds_until_the_order_is_reported() -> None:
    policy = labelled(MAX_POSITION)

    async def scenario() -> list[Verdict | Decimal]:
        store = MemoryStore(clock=FakeClock())
        await _decide_and_answer(store, policy, new_order("4"), "d1", 200, envelope(ack(ORD_ID, cl_ord_id=CID)))
        await _decide_and_answer(store, policy, amend(sz="1"), "d2", 200, envelope(ack(ORD_ID)))
        held = await _pending_buy(store)
        blocked = await _decide_and_answer(store, policy, new_order("2", cl_ord_id=CID[:-1] + "c"), "d3")
        # the venue reports the order (GET /api/v5/trade/order): 1 contract, live
        request, body = order_report("1", "30000")
        await _decide_and_answer(store, policy, request, "d4", 200, body)
        reported = await _pending_buy(store)
        fits = await _decide_and_answer(store, policy, new_order("2", cl_ord_id=CID[:-1] + "d"), "d5")
        return [held, blocked.verdict, reported, fits.verdict]

    assert asyncio.run(scenario()) == [D("0.04"), Verdict.BLOCK, D("0.01"), Verdict.ALLOW]


# ---- through the real decider and MemoryStore: the daily-notional budget of an accepted amend ------------------

DAILY = "{id: daily, type: max_daily_notional, notional: 100000}"
BUDGET = f"daily|{VENUE}|{HOLDER}"


def amend_to(sz: str, px: str) -> HttpRequest:
    return make_request("/api/v5/trade/amend-order", {"instId": INST, "ordId": ORD_ID, "newSz": sz, "newPx": px})


def order_report(sz: str, px: str) -> tuple[HttpRequest, bytes]:
    """GET /api/v5/trade/order and its answer: the order live at `sz` contracts and `px`, nothing filled."""
    headers = {k: v for k, v in new_order("1").headers.items() if k != "content-type"}
    request = HttpRequest("GET", "www.okx.com", 443, f"/api/v5/trade/order?instId={INST}&ordId={ORD_ID}",
                          (("instId", INST), ("ordId", ORD_ID)), headers, b"")
    row = {"instId": INST, "instType": "SWAP", "ordId": ORD_ID, "clOrdId": CID, "side": "buy", "posSide": "net",
           "ordType": "limit", "sz": sz, "px": px, "accFillSz": "0", "avgPx": "", "state": "live",
           "reduceOnly": "false", "tdMode": "isolated"}
    return request, orjson.dumps({"code": "0", "msg": "", "data": [row]})


@pytest.mark.parametrize(("placed", "amended", "after_amend", "after_report"), [
    pytest.param(("1", "30000"), ("4", "30000"), D(1200), D(1200), id="upsize-charged-at-once"),
    pytest.param(("4", "30000"), ("1", "40000"), D(1600), D(400), id="downsize-up-price-old-size-at-new-price"),
    pytest.param(("4", "30000"), ("1", "30000"), D(1200), D(300), id="downsize-held-until-reported"),
])
def test_confirm_amend_when_an_okx_amend_accepted_then_daily_notional_holds_larger_size_at_higher_price(
    placed: tuple[str, str], amended: tuple[str, str], after_amend: Decimal, after_report: Decimal
) -> None:
    policy = labelled(DAILY)

    async def scenario() -> tuple[Decimal, Decimal]:
        store = MemoryStore(clock=FakeClock(1_700_000_000_000 + 3_600_000))
        await _decide_and_answer(store, policy, new_order(*placed), "d1", 200, envelope(ack(ORD_ID, cl_ord_id=CID)))
        decision = await _decide_and_answer(store, policy, amend_to(*amended), "d2", 200, envelope(ack(ORD_ID)))
        assert decision.verdict is Verdict.ALLOW
        charged = await store.daily_notional(VENUE, HOLDER, BUDGET)
        request, body = order_report(*amended)
        await _decide_and_answer(store, policy, request, "d3", 200, body)
        return charged, await store.daily_notional(VENUE, HOLDER, BUDGET)

    assert asyncio.run(scenario()) == (after_amend, after_report)


@pytest.mark.parametrize(("new_px", "after_amend"), [
    pytest.param("40000", D(1600), id="dearer-the-open-part-at-the-new-price"),
    pytest.param("20000", D(1200), id="cheaper-the-old-price-holds"),
])
def test_confirm_amend_when_an_okx_amend_changes_the_price_alone_then_the_open_part_is_charged_at_the_higher(
    new_px: str, after_amend: Decimal
) -> None:
    policy = labelled(DAILY)
    price_only = make_request("/api/v5/trade/amend-order", {"instId": INST, "ordId": ORD_ID, "newPx": new_px})

    async def scenario() -> Decimal:
        store = MemoryStore(clock=FakeClock(1_700_000_000_000 + 3_600_000))
        await _decide_and_answer(store, policy, new_order("4"), "d1", 200, envelope(ack(ORD_ID, cl_ord_id=CID)))
        decision = await _decide_and_answer(store, policy, price_only, "d2", 200, envelope(ack(ORD_ID)))
        assert decision.verdict is Verdict.ALLOW
        return await store.daily_notional(VENUE, HOLDER, BUDGET)

    assert asyncio.run(scenario()) == after_amend
