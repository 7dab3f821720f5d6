"""The reject_storm rule: the policy keys, which answers refuse which legs (REST and WebSocket, every venue),
what the engine asks the store to count, how a storm's trading state blocks, and the sidecar end of it: after
the venue refused N orders the next order that adds risk is answered by the sidecar, cancels and reductions
still pass, one `reject_storm` line and one metric say so, the cool-down ends it and a resume ends it early.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog
from mitmproxy import http

from riskwall import addon as addon_module
from riskwall import decider, engine, logs, metrics
from riskwall.admin import record_json
from riskwall.capture import capture_record, exchange_from_record
from riskwall.model import (
    Action,
    Decision,
    ParsedRequest,
    Reason,
    Side,
    StateScope,
    TradingState,
    TradingStateRecord,
    Venue,
    Verdict,
    Violation,
)
from riskwall.policy.loader import PolicyError
from riskwall.policy.model import PolicyFile, parse_cool_down
from riskwall.policy.schema import COOL_DOWN_TEXT
from riskwall.replay import ReplayReport, replay
from riskwall.state.memory import MemoryStore
from riskwall.venues import ADAPTERS, FRAMES, adapter_for
from riskwall.venues.base import HttpRequest
from riskwall.venues.refusals import refused_legs

from .factories import (
    ACCOUNT,
    OTHER_ACCOUNT,
    FakeClock,
    answer_on_socket,
    make_cancel,
    make_intent,
    make_limit,
    make_policy,
    make_request,
    make_rules,
    make_view,
)
from .test_addon import ACCOUNT as KEY_ACCOUNT
from .test_addon import POLICY_YAML, answer, filled, firewall, order

STORM = "{id: storm, type: reject_storm, limit: 3/1m, cool_down: 5m}"


# ---- the policy ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "error"), [
    ({"limit": "20/1m", "cool_down": "5m"}, None),
    ({"limit": "20/1m", "cool_down": "5m", "state": "HALTED"}, None),
    ({"limit": "20/1m", "cool_down": "1s", "scope": {"venues": ["okx"], "accounts": []}}, None),
    ({"limit": "20/1m", "cool_down": "5m", "state": "ACTIVE"}, "Input should be 'REDUCING' or 'HALTED'"),
    ({"limit": "20/1m", "cool_down": 300}, "does not parse; write an amount and a unit"),
    ({"limit": "20/1m", "cool_down": "500ms"}, "at least 1s and at most 24h"),
    ({"limit": "20/1m", "cool_down": "25h"}, "at least 1s and at most 24h"),
    ({"limit": "0/1m", "cool_down": "5m"}, "must have a count and a window of at least 1"),
    ({"limit": "20001/1m", "cool_down": "5m"}, "at most 10000 refusals"),
    ({"limit": "20/2d", "cool_down": "5m"}, "does not parse"),
    ({"cool_down": "5m"}, "Field required"),
    ({"limit": "20/1m", "cool_down": "5m", "scope": {"symbols": ["BTC*"]}}, "scope it by venues and accounts"),
    ({"limit": "20/1m", "cool_down": "5m", "scope": {"position_sides": ["long"]}}, "scope it by venues and accounts"),
], ids=["plain", "halted", "venue-scope", "active", "bare-number", "under-1s", "over-24h", "zero", "too-many",
        "bad-unit", "no-limit", "symbol-scope", "side-scope"])
def test_policy_when_reject_storm_rule_given_then_checked_key_by_key(rule: dict[str, Any], error: str | None) -> None:
    document = {"rules": [{"id": "storm", "type": "reject_storm", **rule}]}
    if error is None:
        (parsed,) = PolicyFile.model_validate(document).rules
        assert parsed.type == "reject_storm"
        return
    with pytest.raises(ValueError, match=error):
        PolicyFile.model_validate(document)


def test_policy_when_loaded_then_window_cool_down_and_state_are_read() -> None:
    policy = make_rules("{id: storm, type: reject_storm, limit: '20/1m', cool_down: 5m, state: HALTED}")

    (rule,) = policy.rules

    assert (rule.window.limit, rule.window.window_ms, rule.cool_down_ms, rule.trading_state) == (  # type: ignore[union-attr]
        20, 60_000, 300_000, TradingState.HALTED)
    assert policy.has_reject_storms and not make_rules().has_reject_storms


def test_policy_when_storm_state_is_active_then_loading_names_file_and_key() -> None:
    with pytest.raises(PolicyError, match=r"policy.yaml:5: rules\[0\]\.state: Input should be 'REDUCING' or 'HALTED'"):
        make_rules("{id: storm, type: reject_storm, limit: 3/1m, cool_down: 5m, state: ACTIVE}")


# ---- what an answer refuses -----------------------------------------------------------------------------


def batch(legs: int, action: Action = Action.NEW, venue: Venue = Venue.BINANCEUSDM) -> ParsedRequest:
    intents = [make_limit("50000", action=action, venue=venue) for _ in range(legs)]
    return make_request(*intents, venue=venue)


BN, BY, OK, BG, BX, BM, CM = (Venue.BINANCEUSDM, Venue.BYBIT, Venue.OKX, Venue.BITGET, Venue.BINGX, Venue.BITMEX,
                              Venue.BINANCECOINM)


@pytest.mark.parametrize(("venue", "legs", "status", "body", "refused"), [
    # an HTTP 4xx refuses every leg, on every venue (408 aside: the order's fate is unknown)
    (BN, 1, 400, {"code": -2019, "msg": "Margin is insufficient."}, (0,)),
    (CM, 1, 400, {"code": -2019, "msg": "Margin is insufficient."}, (0,)),
    (BN, 2, 429, {"code": -1015, "msg": "Too many new orders."}, (0, 1)),
    (BN, 1, 401, {"code": -2015, "msg": "Invalid API-key"}, (0,)),
    (BG, 1, 400, {"code": "43012", "msg": "Insufficient balance"}, (0,)),
    (BM, 1, 400, {"error": {"message": "Account has insufficient Available Balance", "name": "HTTPError"}}, (0,)),
    (BN, 1, 408, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, ()),
    # ... and so does a 4xx whose code says the venue could not tell whether it took the order
    (BN, 1, 400, {"code": -1007, "msg": "Timeout waiting for response from backend server."}, ()),
    (OK, 2, 400, {"code": "50004", "msg": "Endpoint request timeout (does not indicate success or failure of "
                                          "order, please check order status)", "data": []}, ()),
    (BN, 1, 502, {"code": -1001, "msg": "Internal error"}, ()),
    (BN, 1, None, {}, ()),
    # 200 answers that refuse in their body
    (BN, 1, 200, {"orderId": 1, "symbol": "BTCUSDT", "status": "NEW"}, ()),
    (BN, 3, 200, [{"orderId": 1, "symbol": "BTCUSDT"}, {"code": -2019, "msg": "Margin is insufficient."},
                  {"code": -4164, "msg": "Order's notional must be no smaller than 100"}], (1, 2)),
    (BY, 1, 200, {"retCode": 110007, "retMsg": "ab not enough for new order", "result": {}}, (0,)),
    (BY, 2, 200, {"retCode": 10006, "retMsg": "Too many visits!", "result": {}}, (0, 1)),
    (BY, 1, 200, {"retCode": 10016, "retMsg": "Internal System Error.", "result": {}}, ()),
    (BY, 1, 200, {"retCode": 0, "retMsg": "OK", "result": {"orderId": "1"}}, ()),
    (BY, 3, 200, {"retCode": 0, "retMsg": "OK", "result": {"list": [{}, {}, {}]}, "retExtInfo": {"list": [
        {"code": 0, "msg": "OK"}, {"code": 110007, "msg": "not enough"}, {"code": 0, "msg": "OK"}]}}, (1,)),
    (OK, 1, 200, {"code": "1", "msg": "", "data": [{"sCode": "51008", "sMsg": "Insufficient margin"}]}, (0,)),
    (OK, 3, 200, {"code": "2", "msg": "", "data": [{"sCode": "0"}, {"sCode": "51008"}, {"sCode": "0"}]}, (1,)),
    (OK, 3, 200, {"code": "1", "msg": "", "data": [{"sCode": "51149"}, {"sCode": "51008"}, {"sCode": "50004"}]},
     (1,)),
    (BN, 3, 200, [{"orderId": 1, "symbol": "BTCUSDT"}, {"code": -1006, "msg": "Execution status unknown."},
                  {"code": -2019, "msg": "Margin is insufficient."}], (2,)),
    (OK, 2, 200, {"code": "51000", "msg": "Parameter sz error", "data": []}, (0, 1)),
    (OK, 1, 200, {"code": "50026", "msg": "System error", "data": []}, ()),
    (OK, 1, 200, {"code": "0", "msg": "", "data": [{"sCode": "0", "ordId": "1"}]}, ()),
    (BX, 1, 200, {"code": 101204, "msg": "Insufficient margin", "data": {}}, (0,)),
    (BX, 1, 200, {"code": 0, "msg": "", "data": {"order": {"orderId": 1}}}, ()),
    (BG, 1, 200, {"code": "00000", "msg": "success", "data": {"orderId": "1"}}, ()),
    (BN, 1, 200, "not json", ()),
], ids=lambda value: None)
def test_refused_legs_when_venue_answers_then_only_what_it_refused_counts(
    venue: Venue, legs: int, status: int | None, body: object, refused: tuple[int, ...]
) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()

    assert refused_legs(venue, batch(legs, venue=venue), status, raw) == refused


@pytest.mark.parametrize("action", [Action.CANCEL, Action.CANCEL_ALL, Action.SET_LEVERAGE, Action.READ])
def test_refused_legs_when_request_adds_no_orders_then_nothing_counts(action: Action) -> None:
    request = make_request(make_intent(action=action))

    assert refused_legs(Venue.BINANCEUSDM, request, 400, b'{"code":-2011,"msg":"Unknown order sent."}') == ()


def test_refused_legs_when_an_amend_is_refused_then_it_counts() -> None:
    request = batch(1, Action.AMEND)

    assert refused_legs(Venue.BINANCEUSDM, request, 400, b'{"code":-2013,"msg":"Order does not exist."}') == (0,)


@pytest.mark.parametrize(("venue", "request_id", "frame", "refused"), [
    (Venue.BINANCEUSDM, "7", {"id": "7", "status": 400, "error": {"code": -2019, "msg": "Margin is insufficient."}},
     (0,)),
    (Venue.BINANCEUSDM, "7", {"id": "7", "status": 200, "result": {"orderId": 1, "symbol": "BTCUSDT",
                                                                    "status": "NEW"}}, ()),
    (Venue.BYBIT, "2", {"reqId": "2", "retCode": 110007, "retMsg": "not enough", "op": "order.create", "data": {}},
     (0,)),
    (Venue.OKX, "9", {"id": "9", "op": "order", "code": "1", "msg": "", "data": [{"sCode": "51008", "sMsg": "no"}]},
     (0,)),
    (Venue.OKX, "9", {"id": "9", "op": "order", "code": "0", "msg": "", "data": [{"sCode": "0", "ordId": "1"}]}, ()),
], ids=["binance-error", "binance-ok", "bybit-error", "okx-error", "okx-ok"])
def test_refused_legs_when_venue_answers_on_its_order_socket_then_read_as_over_rest(
    venue: Venue, request_id: str, frame: dict[str, Any], refused: tuple[int, ...]
) -> None:
    parsed = batch(1, venue=venue)

    read = answer_on_socket(parsed, request_id, frame)

    assert refused_legs(venue, parsed, read.status, read.rest_body) == refused


# ---- what the engine counts ---------------------------------------------------------------------------


@pytest.mark.parametrize(("rules", "mode", "action", "expected"), [
    ((), None, Action.NEW, []),
    ((STORM,), None, Action.NEW, [("storm", 3, 60_000, 300_000, TradingState.REDUCING, True)]),
    ((STORM,), None, Action.AMEND, [("storm", 3, 60_000, 300_000, TradingState.REDUCING, True)]),
    ((STORM,), None, Action.CANCEL, []),
    ((STORM,), "monitor", Action.NEW, [("storm", 3, 60_000, 300_000, TradingState.REDUCING, False)]),
    ((STORM, "{id: trial, type: reject_storm, mode: shadow, limit: 5/10s, cool_down: 1m, state: HALTED}"), None,
     Action.NEW, [("storm", 3, 60_000, 300_000, TradingState.REDUCING, True),
                  ("trial", 5, 10_000, 60_000, TradingState.HALTED, False)]),
    ((STORM, "{id: desk, type: reject_storm, limit: 2/1m, cool_down: 1m, scope: {accounts: [main]}}"), None,
     Action.NEW, [("desk", 2, 60_000, 60_000, TradingState.REDUCING, True)]),
    (("{id: okx-only, type: reject_storm, limit: 2/1m, cool_down: 1m, scope: {venues: [okx]}}",), None, Action.NEW,
     []),
], ids=["no-rule", "enforced", "amend", "cancel", "monitor", "shadow-beside", "most-specific", "other-venue"])
def test_reject_counts_when_the_venue_refused_legs_then_each_applicable_rule_counts_them(
    rules: tuple[str, ...], mode: str | None, action: Action, expected: list[tuple[Any, ...]]
) -> None:
    policy = make_rules(*rules, mode=mode)
    intent = make_limit("50000") if action is Action.NEW else make_intent(action=action, order_id="1")
    request = make_request(intent, holder="label:main")

    counts = engine.reject_counts(request, policy, (0, 0, 1), "d9")

    assert [(c.rule_id, c.limit, c.window_ms, c.cool_down_ms, c.state, c.enforced) for c in counts] == expected
    for c in counts:
        assert (c.scope, c.key, c.members) == (StateScope("binanceusdm", "label:main"),
                                               f"{c.rule_id}|binanceusdm|label:main", ("d9:0", "d9:1"))


def test_reject_counts_when_no_leg_was_refused_then_nothing_is_counted() -> None:
    assert engine.reject_counts(make_request(make_limit("50000")), make_rules(STORM), (), "d1") == ()


# ---- how a storm's state blocks ---------------------------------------------------------------------------


def storm_record(state: TradingState = TradingState.REDUCING, account: str = ACCOUNT) -> TradingStateRecord:
    return TradingStateRecord(StateScope("binanceusdm", account), state, "reject storm: 3 orders refused by the "
                              "venue within 3/1m", "rule:storm", 1_700_000_000_000, 1_700_000_300_000, "storm")


def decide(request: ParsedRequest, record: TradingStateRecord, positions: dict[str, str] | None = None) -> Any:
    policy = make_rules(STORM)
    plan = engine.plan(request, policy, make_view(positions=positions, states=(record,)), "d1")
    return engine.conclude(plan, policy, None)


@pytest.mark.parametrize(("state", "request_", "positions", "verdict", "reason"), [
    (TradingState.REDUCING, make_request(make_limit("50000")), None, Verdict.BLOCK, Reason.TRADING_REDUCING),
    (TradingState.REDUCING, make_request(make_intent(side=Side.SELL, reduce_only=True)), {"BTCUSDT": "0.5"},
     Verdict.ALLOW, None),
    (TradingState.REDUCING, make_request(make_cancel()), None, Verdict.ALLOW, None),
    (TradingState.HALTED, make_request(make_intent(side=Side.SELL, reduce_only=True)), {"BTCUSDT": "0.5"},
     Verdict.BLOCK, Reason.TRADING_HALTED),
    (TradingState.HALTED, make_request(make_cancel()), None, Verdict.ALLOW, None),
], ids=["reducing-new", "reducing-reduce-only", "reducing-cancel", "halted-reduce-only", "halted-cancel"])
def test_plan_when_a_storm_state_holds_then_it_blocks_what_its_state_blocks_under_the_rules_name(
    state: TradingState, request_: ParsedRequest, positions: dict[str, str] | None, verdict: Verdict,
    reason: Reason | None,
) -> None:
    decision = decide(request_, storm_record(state), positions)

    assert decision.verdict is verdict
    if reason is not None:
        assert decision.deciding.rule_id == "storm" and decision.deciding.reason is reason
        assert decision.deciding.get("source") == "reject_storm"
        assert decision.deciding.get("until") == "2023-11-14T22:18:20Z"
        assert decision.deciding.get("scope") == f"venue=binanceusdm,account={ACCOUNT}"


def test_plan_when_the_storm_is_another_accounts_then_this_account_trades() -> None:
    assert decide(make_request(make_limit("50000")), storm_record(account=OTHER_ACCOUNT)).verdict is Verdict.ALLOW


def test_status_when_a_storm_state_is_listed_then_it_names_its_rule_and_end() -> None:
    shown = record_json(storm_record())

    assert (shown["actor"], shown["rule_id"], shown["until_ms"], shown["until"]) == (
        "rule:storm", "storm", 1_700_000_300_000, "2023-11-14T22:18:20.000Z")


# ---- the sidecar: answers counted, the state applied, a log line and a metric ---------------------------

REFUSED = {"code": -2019, "msg": "Margin is insufficient."}
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def storm_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    saved = structlog.get_config()
    stream = io.StringIO()
    logs.configure(stream=stream)
    monkeypatch.setattr(decider, "_log", logs.get_logger("riskwall.storm"))
    monkeypatch.setattr(addon_module, "log", logs.get_logger("riskwall.addon"))
    metrics.reset(process_collectors=False)
    yield stream
    structlog.configure(**saved)
    metrics.reset()


def events(stream: io.StringIO, name: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, stream.getvalue().splitlines()) if line["event"] == name]


def storm_policy(rule: str = "{id: storm, type: reject_storm, limit: 3/1m, cool_down: 5m}") -> Any:
    return make_policy(POLICY_YAML.format(mode="enforce") + f"  - {rule}\n")


async def refuse_orders(fw: Any, count: int) -> list[http.HTTPFlow]:
    flows = []
    for _ in range(count):
        flow = order(quantity="0.1")
        await fw.request(flow)
        assert flow.response is None, "the sidecar let the order go to the venue"
        answer(flow, 400, REFUSED)
        await fw.response(flow)
        flows.append(flow)
    await fw._settling.drain()  # an order's answer is learned after it is forwarded, as in the sidecar
    return flows


def reason_of(flow: http.HTTPFlow) -> tuple[str | None, str | None]:
    assert flow.response is not None
    return flow.response.headers.get("X-Riskwall-Rule"), flow.response.headers.get("X-Riskwall-Reason")


@pytest.mark.parametrize(("refusals", "blocked"), [(2, False), (3, True)], ids=["below-limit", "at-limit"])
async def test_sidecar_when_venue_refused_orders_then_the_storm_trips_at_the_limit(
    storm_logs: io.StringIO, refusals: int, blocked: bool
) -> None:
    fw = firewall(storm_policy(), MemoryStore(clock=FakeClock()))
    await refuse_orders(fw, refusals)

    nxt = order(quantity="0.1")
    await fw.request(nxt)

    assert (nxt.response is not None) is blocked
    if blocked:
        assert reason_of(nxt) == ("storm", "TRADING_REDUCING")
        assert nxt.response is not None and json.loads(nxt.response.content or b"")["code"] == -2010
    assert len(events(storm_logs, "reject_storm")) == int(blocked)


async def test_sidecar_when_storm_trips_then_one_line_and_one_metric_say_who_what_and_until(
    storm_logs: io.StringIO,
) -> None:
    clock = FakeClock()
    policy = storm_policy()
    metrics.policy_loaded(policy.revision, [rule.id for rule in policy.rules])  # as the sidecar does at start
    fw = firewall(policy, MemoryStore(clock=clock))

    await refuse_orders(fw, 3)

    (line,) = events(storm_logs, "reject_storm")
    assert {k: line[k] for k in ("rule_id", "venue", "account", "state", "mode", "rejections", "limit", "window",
                                 "cool_down_ms", "until_ms")} == {
        "rule_id": "storm", "venue": "binanceusdm", "account": "label:main", "state": "REDUCING", "mode": "enforce",
        "rejections": 3, "limit": 3, "window": "3/1m", "cool_down_ms": 300_000, "until_ms": clock() + 300_000}
    assert line["level"] == "warning"
    text = metrics.render()[0].decode()
    assert ('riskwall_reject_storms_total{mode="enforce",rule="storm",state="REDUCING",venue="binanceusdm"} 1.0'
            in text)


async def test_sidecar_when_storm_holds_then_cancels_and_reductions_pass_until_cool_down_ends(
    storm_logs: io.StringIO,
) -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    fw = firewall(storm_policy(), store)
    bought = order(quantity="0.5")
    await fw.request(bought)
    answer(bought, 200, filled("0.5"))
    await fw.response(bought)
    await refuse_orders(fw, 3)

    reduce_only = order(side="SELL", quantity="0.2", reduceOnly="true", type="MARKET", price=None,
                        timeInForce=None)
    await fw.request(reduce_only)
    cancel = order_cancel()
    await fw.request(cancel)
    adding = order(quantity="0.1")
    await fw.request(adding)
    clock.advance(300_000)
    later = order(quantity="0.1")
    await fw.request(later)

    assert reduce_only.response is None and cancel.response is None
    assert reason_of(adding) == ("storm", "TRADING_REDUCING")
    assert later.response is None  # the cool-down is over
    assert await store.trading_states() == ()


def order_cancel() -> http.HTTPFlow:
    from .test_addon import make_flow

    return make_flow("DELETE", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("orderId", "1001")))


async def test_sidecar_when_storm_holds_then_a_resume_of_the_account_ends_it(storm_logs: io.StringIO) -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(storm_policy(), store)
    await refuse_orders(fw, 3)
    (record,) = await store.trading_states()

    await store.set_trading_state(record.scope, TradingState.ACTIVE, "checked the bot", "oncall")
    nxt = order(quantity="0.1")
    await fw.request(nxt)

    assert record.scope == StateScope("binanceusdm", "label:main") and nxt.response is None


async def test_sidecar_when_the_firewall_blocked_orders_itself_then_they_never_count(
    storm_logs: io.StringIO,
) -> None:
    fw = firewall(storm_policy(), MemoryStore(clock=FakeClock()))
    for _ in range(5):
        oversized = order(quantity="5")  # over max_order_qty: answered by the sidecar, never the venue's
        await fw.request(oversized)
        assert reason_of(oversized) == ("order-qty", "ORDER_QTY_EXCEEDS_MAX")
        await fw.response(oversized)

    nxt = order(quantity="0.1")
    await fw.request(nxt)

    assert nxt.response is None and events(storm_logs, "reject_storm") == []


async def test_sidecar_when_cancels_are_refused_then_they_never_count(storm_logs: io.StringIO) -> None:
    fw = firewall(storm_policy(), MemoryStore(clock=FakeClock()))
    for _ in range(5):
        cancel = order_cancel()
        await fw.request(cancel)
        answer(cancel, 400, {"code": -2011, "msg": "Unknown order sent."})
        await fw.response(cancel)

    nxt = order(quantity="0.1")
    await fw.request(nxt)

    assert nxt.response is None


async def test_sidecar_when_the_rule_is_in_shadow_then_the_trip_is_logged_and_nothing_blocks(
    storm_logs: io.StringIO,
) -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(storm_policy("{id: storm, type: reject_storm, mode: shadow, limit: 3/1m, cool_down: 5m}"), store)
    await refuse_orders(fw, 3)

    nxt = order(quantity="0.1")
    await fw.request(nxt)

    (line,) = events(storm_logs, "reject_storm")
    assert (line["mode"], line["applied"]) == ("shadow", False)
    assert nxt.response is None and await store.trading_states() == ()


def test_reject_counts_when_keys_share_a_label_then_they_share_one_window() -> None:
    policy = storm_policy()
    other_key = make_request(make_limit("50000", account=KEY_ACCOUNT), account=KEY_ACCOUNT, holder="label:main")

    (counted,) = engine.reject_counts(other_key, policy, (0,), "d1")

    assert counted.key == "storm|binanceusdm|label:main"


def test_storm_reason_when_recorded_then_it_names_the_limit_and_window() -> None:
    (counted,) = engine.reject_counts(make_request(make_limit("50000"), holder="label:main"), storm_policy(), (0,),
                                      "d1")

    assert storm_record().reason.startswith("reject storm:")
    assert counted.window_text == "3/1m" and counted.state is TradingState.REDUCING


@pytest.mark.parametrize("text", ["1s", "999ms", "1000ms", "86400000ms", "86400001ms", "86400s", "86401s", "1440m",
                                  "1441m", "24h", "25h", "0h", "0s", "007m", " 5 m ", "5", "5d", "٥m", "1.5m",
                                  "10000s", "85999s", "86399999ms", "1399m", "1439m", "19h"])
def test_cool_down_pattern_when_matched_then_agrees_with_the_loader(text: str) -> None:
    try:
        parse_cool_down(text)
        accepted = True
    except ValueError:
        accepted = False

    assert (re.fullmatch(COOL_DOWN_TEXT, text) is not None) is accepted


@pytest.mark.parametrize("venue", list(ADAPTERS), ids=str)
@pytest.mark.parametrize("reason", [Reason.TRADING_REDUCING, Reason.TRADING_HALTED], ids=str)
def test_rejection_when_a_storm_state_blocks_then_each_venue_answers_as_for_its_kill_switch_under_the_rules_name(
    venue: Venue, reason: Reason
) -> None:
    context = (("state", reason.removeprefix("TRADING_")), ("action", "new"), ("source", "reject_storm"),
               ("scope", f"venue={venue},account={ACCOUNT}"), ("until", "2026-01-01T00:05:00Z"))
    storm = Decision(Verdict.BLOCK, "d1", "rev", (Violation("storm", reason, context),))
    kill_switch = Decision(Verdict.BLOCK, "d1", "rev", (Violation(engine.RULE_KILL_SWITCH, reason, context[:2]),))
    adapter = ADAPTERS[venue]

    answered, expected = adapter.rejection(storm), adapter.rejection(kill_switch)

    assert answered.status == expected.status
    body, reference = json.loads(answered.body), json.loads(expected.body)
    assert _codes(body) == _codes(reference)  # the same codes, where the venue's shape has them
    assert "storm" in answered.body.decode() and str(reason) in answered.body.decode()
    reader = FRAMES.get(venue)
    if reader is not None:  # and on its order socket, as for the kill switch
        frame, same = json.loads(reader.rejection(storm, None)), json.loads(reader.rejection(kill_switch, None))
        assert _codes(frame) == _codes(same) and str(reason) in json.dumps(frame)


def _codes(answer: Any) -> list[Any]:
    """Every code-like field of an answer, wherever it is nested (the message text aside)."""
    found: list[Any] = []
    if isinstance(answer, dict):
        for key, value in sorted(answer.items()):
            if key.lower() in ("code", "retcode", "scode", "status"):
                found.append((key, value))
            found += _codes(value)
    elif isinstance(answer, list):
        for item in answer:
            found += _codes(item)
    return found


# ---- replay: what a candidate policy's storm would have done to captured traffic ---------------------------


@pytest.mark.parametrize(("qty_limit", "newly_blocked"), [("1", 1), ("0.05", 3)],
                         ids=["refusals-forwarded", "refusals-blocked-by-the-candidate"])
def test_replay_when_captured_orders_were_refused_then_the_candidates_storm_counts_only_what_it_would_forward(
    qty_limit: str, newly_blocked: int
) -> None:
    def captured(offset_ms: int, qty: str, status: int, answer: object) -> Any:
        form = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": qty,
                "price": "60000", "timestamp": str(T0), "signature": "0" * 64}
        request = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/order", (),
                              {"x-mbx-apikey": "replay-key", "content-type": "application/x-www-form-urlencoded"},
                              urlencode(form).encode())
        return exchange_from_record(capture_record(request, Venue.BINANCEUSDM, adapter_for(Venue.BINANCEUSDM),
                                                   ts_ms=T0 + offset_ms, status=status,
                                                   response_body=json.dumps(answer).encode()))

    accepted = {"orderId": 9, "symbol": "BTCUSDT", "side": "BUY", "positionSide": "BOTH", "origQty": "0.01",
                "executedQty": "0", "status": "NEW"}
    exchanges = [captured(100 * n, "0.1", 400, REFUSED) for n in range(3)] + [captured(400, "0.01", 200, accepted)]
    policy = make_policy(f"""
        rules:
          - {{id: storm, type: reject_storm, limit: 3/1m, cool_down: 5m}}
          - {{id: qty, type: max_order_qty, default: {qty_limit}}}
        """)

    report = asyncio.run(replay(exchanges, policy, ReplayReport([], "p", policy.revision)))

    assert report.newly_blocked == newly_blocked
    tallies = {(t.rule_id, t.reason): t.count for t in report.sorted_rules()}
    if newly_blocked == 1:  # the three refusals went to the venue: the fourth order meets the storm
        assert tallies == {("storm", "TRADING_REDUCING"): 1}
    else:  # the candidate blocks the three itself: none would have reached the venue, so none counts
        assert tallies == {("qty", "ORDER_QTY_EXCEEDS_MAX"): 3}


@pytest.mark.parametrize(("venue", "status", "body", "counted"), [
    # the request's authentication refused: anyone who knows a key can have it answered so
    (Venue.BINANCEUSDM, 400, {"code": -1022, "msg": "Signature for this request is not valid."}, False),
    (Venue.BINANCEUSDM, 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}, False),
    (Venue.BINANCEUSDM, 400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
     False),
    (Venue.BYBIT, 200, {"retCode": 10004, "retMsg": "error sign!"}, False),
    (Venue.OKX, 401, {"code": "50113", "msg": "Invalid Sign"}, False),
    (Venue.BITGET, 400, {"code": "40009", "msg": "sign signature error"}, False),
    (Venue.BINGX, 200, {"code": 100001, "msg": "signature verification failed"}, False),
    # the order refused: the key holder's loop
    (Venue.BINANCEUSDM, 400, {"code": -2019, "msg": "Margin is insufficient."}, True),
    (Venue.BYBIT, 200, {"retCode": 110007, "retMsg": "ab not enough for new order"}, True),
])
def test_storm_counts_when_the_venue_refused_the_requests_authentication_then_nothing_is_counted(
    venue: Venue, status: int, body: dict[str, Any], counted: bool,
) -> None:
    # three orders with a victim's key and a made-up signature would otherwise halt the victim's account
    request = make_request(make_limit("50000"), holder="label:main")
    request = dataclasses.replace(request, venue=venue,
                                  intents=tuple(dataclasses.replace(i, venue=venue) for i in request.intents))

    counts = decider.storm_counts(make_rules(STORM), request, status, json.dumps(body).encode(), "d1")

    assert bool(counts) is counted
