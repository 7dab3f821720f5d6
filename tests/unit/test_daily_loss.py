"""The max_daily_loss rule: the policy keys, the equity each venue's answers and private streams report (read
strictly from the venue's strings), what the engine asks the store to measure (under the account the state is
held by), and the sidecar end of it: after an account read shows a loss beyond the limit, the next order that
adds risk is answered by the sidecar, cancels and reductions still pass, one `daily_loss` line and one metric say
so, a resume ends it for the day and the next UTC day starts again.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog
from mitmproxy import http

from riskwall import addon as addon_module
from riskwall import decider, engine, logs, metrics
from riskwall.decider import held_by
from riskwall.model import (
    Action,
    EquityUpdate,
    LossCheck,
    ParsedRequest,
    PositionSide,
    Reason,
    ResponseFacts,
    Side,
    StateScope,
    TradingState,
    Venue,
    Verdict,
)
from riskwall.policy.loader import PolicyError
from riskwall.state.memory import DAY_MS, MemoryStore
from riskwall.venues import adapter_for
from riskwall.venues.base import HttpRequest, Socket
from riskwall.venues.bybit_frames import BYBIT_FRAMES
from riskwall.venues.frames import Session
from riskwall.venues.okx_frames import OKX_FRAMES

from .factories import (
    ACCOUNT,
    SYMBOL,
    FakeClock,
    facts,
    make_cancel,
    make_intent,
    make_leverage,
    make_limit,
    make_policy,
    make_request,
    make_rules,
    positions_report,
)
from .test_addon import ACCOUNT as KEY_ACCOUNT
from .test_addon import POLICY_YAML, answer, filled, firewall, make_flow, order

D = Decimal
LOSS = "{id: loss, type: max_daily_loss, quote: 1000}"
# the same rule letting orders through while no equity has been read today (the rule's default blocks them)
LOSS_ALLOWING = "{id: loss, type: max_daily_loss, quote: 1000, on_equity_unknown: allow}"


# ---- the policy ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "error"), [
    ({"quote": 1000}, None),
    ({"quote": "2500.5", "state": "HALTED"}, None),
    ({"quote": 1000, "scope": {"venues": ["okx"], "accounts": []}}, None),
    ({"quote": 0}, "greater than 0"),
    ({"quote": -5}, "greater than 0"),
    ({}, "Field required"),
    ({"quote": 1000, "state": "ACTIVE"}, "Input should be 'REDUCING' or 'HALTED'"),
    ({"quote": 1000, "scope": {"symbols": ["BTCUSDT"]}}, "scope it by venues and accounts"),
    ({"quote": 1000, "on_equity_unknown": "block"}, None),
    ({"quote": 1000, "on_equity_unknown": "allow"}, None),
    ({"quote": 1000, "on_equity_unknown": "wait"}, "Input should be 'block' or 'allow'"),
    ({"quote": 1000, "on_equity_unknown": True}, "Input should be 'block' or 'allow'"),
    ({"quote": 1000, "on_price_unknown": "allow"}, "unknown key"),
], ids=["quote", "halted", "venue-scope", "zero", "negative", "missing", "active", "symbol-scope",
        "equity-unknown-block", "equity-unknown-allow", "equity-unknown-other", "equity-unknown-bool", "unknown-key"])
def test_policy_when_daily_loss_rule_given_then_valid_or_refused_with_reason(
        rule: dict[str, Any], error: str | None) -> None:
    text = json.dumps({"id": "loss", "type": "max_daily_loss", **rule})
    if error is None:
        policy = make_rules(text)
        assert policy.has_daily_losses
        return
    with pytest.raises(PolicyError, match=error):
        make_rules(text)


# ---- the equity venues report ----------------------------------------------------------------------------


def _request(method: str, host: str, path: str) -> HttpRequest:
    query = tuple(tuple(pair.split("=", 1)) for pair in path.partition("?")[2].split("&") if pair)
    return HttpRequest(method, host, 443, path, query, {}, b"")  # type: ignore[arg-type]


def _read(venue: Venue, host: str, path: str, body: object) -> tuple[EquityUpdate, ...]:
    parsed = ParsedRequest(venue, Action.READ, f"GET {path}", ACCOUNT)
    raw = json.dumps(body).encode()
    return adapter_for(venue).parse_response(parsed, _request("GET", host, path), 200, raw, "d1").equity


def _bybit(*rows: dict[str, Any], code: int = 0) -> dict[str, Any]:
    return {"retCode": code, "retMsg": "OK", "result": {"list": list(rows)}, "time": 1}


def _okx(*rows: dict[str, Any], code: str = "0") -> dict[str, Any]:
    return {"code": code, "msg": "", "data": list(rows)}


BYBIT_WALLET = ("api.bybit.com", "/v5/account/wallet-balance?accountType=UNIFIED")  # (ccxt's read)
OKX_BALANCE = ("www.okx.com", "/api/v5/account/balance")


@pytest.mark.parametrize(("venue", "where", "body", "expected"), [
    (Venue.BYBIT, BYBIT_WALLET, _bybit({"accountType": "UNIFIED", "totalEquity": "25000.123"}),
     (D("25000.123"), "USD")),
    (Venue.BYBIT, BYBIT_WALLET, _bybit({"accountType": "UNIFIED", "totalEquity": "-3.5"}), (D("-3.5"), "USD")),
    (Venue.BYBIT, BYBIT_WALLET, _bybit({"accountType": "CONTRACT", "totalEquity": ""}), None),
    (Venue.BYBIT, BYBIT_WALLET, _bybit({"accountType": "UNIFIED", "totalEquity": "1E4"}), None),
    (Venue.BYBIT, BYBIT_WALLET, _bybit({"accountType": "UNIFIED", "totalEquity": 25000}), None),
    (Venue.BYBIT, BYBIT_WALLET, _bybit({"totalEquity": "1"}, {"totalEquity": "2"}), None),
    (Venue.BYBIT, BYBIT_WALLET, _bybit({"accountType": "UNIFIED", "totalEquity": "1"}, code=10001), None),
    (Venue.OKX, OKX_BALANCE, _okx({"totalEq": "41000.5", "details": []}), (D("41000.5"), "USD")),
    (Venue.OKX, OKX_BALANCE, _okx({"totalEq": "", "details": []}), None),
    (Venue.OKX, OKX_BALANCE, _okx({"totalEq": "NaN"}), None),
    (Venue.OKX, OKX_BALANCE, _okx({"totalEq": "1"}, {"totalEq": "2"}), None),
    (Venue.OKX, OKX_BALANCE, _okx({"totalEq": "1"}, code="50011"), None),
    (Venue.BINANCEUSDM, ("fapi.binance.com", "/fapi/v3/account"),
     {"totalMarginBalance": "10123.45", "assets": [{"asset": "USDT", "marginBalance": "10123.45"}], "positions": []},
     (D("10123.45"), "USDT")),
    (Venue.BINANCEUSDM, ("fapi.binance.com", "/fapi/v2/positionRisk"), [], None),
], ids=["bybit", "bybit-negative", "bybit-classic-empty", "bybit-exponent", "bybit-number", "bybit-two-rows",
        "bybit-error", "okx", "okx-empty", "okx-nan", "okx-two-rows", "okx-error", "binance-v3", "binance-no-equity"])
def test_parse_response_when_account_answer_carries_equity_then_equity_read_strictly(
        venue: Venue, where: tuple[str, str], body: object, expected: tuple[Decimal, str] | None) -> None:
    equity = _read(venue, where[0], where[1], body)

    assert equity == (() if expected is None else (EquityUpdate(venue, ACCOUNT, *expected),))


@pytest.mark.parametrize(("venue", "where", "body"), [
    # a read of some currencies, or of another account type, may total less than the account: a small first figure
    # of the day would set a baseline no loss falls below
    (Venue.BYBIT, ("api.bybit.com", "/v5/account/wallet-balance?accountType=UNIFIED&coin=BTC"),
     _bybit({"accountType": "UNIFIED", "totalEquity": "12.5"})),
    (Venue.BYBIT, ("api.bybit.com", "/v5/account/wallet-balance?accountType=CONTRACT"),
     _bybit({"accountType": "CONTRACT", "totalEquity": "12.5"})),
    (Venue.BYBIT, ("api.bybit.com", "/v5/account/wallet-balance"), _bybit({"accountType": "UNIFIED",
                                                                            "totalEquity": "12.5"})),
    (Venue.OKX, ("www.okx.com", "/api/v5/account/balance?ccy=BTC"), _okx({"totalEq": "12.5", "details": []})),
], ids=["bybit-one-coin", "bybit-contract-account", "bybit-no-account-type", "okx-one-currency"])
def test_parse_response_when_balance_read_is_filtered_then_no_equity_is_learned(
    venue: Venue, where: tuple[str, str], body: object
) -> None:
    assert _read(venue, where[0], where[1], body) == ()


def test_okx_account_push_when_subscribed_for_some_currencies_then_no_equity_is_learned() -> None:
    conn = Session(Venue.OKX, Socket.ORDERS, "GET /ws/v5/private", account=ACCOUNT)
    push = {"arg": {"channel": "account", "ccy": "BTC", "uid": "77"}, "data": [{"totalEq": "12.5", "details": []}]}

    assert OKX_FRAMES.read_venue(json.dumps(push), conn).facts.equity == ()


@pytest.mark.parametrize(("reader", "topic", "items", "expected"), [
    (BYBIT_FRAMES, "wallet", [{"accountType": "UNIFIED", "totalEquity": "3000.75"}],
     EquityUpdate(Venue.BYBIT, ACCOUNT, D("3000.75"), "USD")),
    (BYBIT_FRAMES, "wallet", [{"accountType": "UNIFIED", "totalEquity": 3000.75}], None),
    (BYBIT_FRAMES, "position", [{"accountType": "UNIFIED", "totalEquity": "3000.75"}], None),
    (OKX_FRAMES, "account", [{"totalEq": "8800.1", "details": []}],
     EquityUpdate(Venue.OKX, ACCOUNT, D("8800.1"), "USD")),
    (OKX_FRAMES, "account", [{"totalEq": "8800.1.1"}], None),
    (OKX_FRAMES, "balance_and_position", [{"totalEq": "8800.1"}], None),
], ids=["bybit-wallet", "bybit-wallet-number", "bybit-other-topic", "okx-account", "okx-mangled", "okx-other"])
def test_stream_facts_when_private_stream_carries_equity_then_equity_read(
        reader: Any, topic: str, items: list[Any], expected: EquityUpdate | None) -> None:
    facts = reader.stream_facts(topic, items, ACCOUNT)

    assert facts.equity == (() if expected is None else (expected,))


def test_held_by_when_a_label_holds_the_key_then_equity_moves_to_the_label() -> None:
    parsed = ParsedRequest(Venue.OKX, Action.READ, "", "key1", holder="label:desk")
    facts = ResponseFacts(equity=(EquityUpdate(Venue.OKX, "key1", D("5"), "USD"),))

    assert held_by(facts, parsed).equity == (EquityUpdate(Venue.OKX, "label:desk", D("5"), "USD"),)


# ---- what the engine asks the store to measure -----------------------------------------------------------


@pytest.mark.parametrize(("policy_yaml", "expected"), [
    ("  - " + LOSS, [("loss", D("1000"), TradingState.REDUCING, True)]),
    ("  - {id: loss, type: max_daily_loss, quote: 1000, state: HALTED, mode: shadow}",
     [("loss", D("1000"), TradingState.HALTED, False)]),
    ("  - {id: wide, type: max_daily_loss, quote: 5000}\n"
     "  - {id: desk, type: max_daily_loss, quote: 100, scope: {accounts: [desk]}}",
     [("desk", D("100"), TradingState.REDUCING, True)]),
    ("  - {id: other, type: max_daily_loss, quote: 100, scope: {venues: [okx]}}", []),
    ("  - {id: qty, type: max_order_qty, default: 1}", []),
], ids=["enforced", "shadow", "most-specific-account", "other-venue", "no-rule"])
def test_loss_checks_when_equity_reported_then_one_check_per_applicable_rule_under_the_holder(
        policy_yaml: str, expected: list[tuple[str, Decimal, TradingState, bool]]) -> None:
    policy = make_policy(f"""
accounts:
  desk: {{fingerprints: ["0123456789ab"], venue: binanceusdm}}
rules:
{policy_yaml}
""")
    key = "0123456789ab"
    parsed = ParsedRequest(Venue.BINANCEUSDM, Action.READ, "", key, holder=policy.holder("binanceusdm", key))
    facts = held_by(ResponseFacts(equity=(EquityUpdate(Venue.BINANCEUSDM, key, D("9"), "USDT"),
                                          EquityUpdate(Venue.BINANCEUSDM, key, D("7"), "USDT"))), parsed)

    checks = engine.loss_checks(policy, Venue.BINANCEUSDM, key, facts.equity)

    assert [(c.rule_id, c.limit, c.state, c.enforced) for c in checks] == expected
    for c in checks:  # the last equity reported, under the label's state
        assert (c.scope, c.equity, c.key) == (StateScope("binanceusdm", "label:desk"), D("7"),
                                              f"{c.rule_id}|binanceusdm|label:desk")


def test_loss_checks_when_policy_in_monitor_mode_then_nothing_is_enforced() -> None:
    policy = make_rules(LOSS, mode="monitor")

    (check,) = engine.loss_checks(policy, Venue.BINANCEUSDM, ACCOUNT,
                                  (EquityUpdate(Venue.BINANCEUSDM, ACCOUNT, D("1"), "USDT"),))

    assert not check.enforced


# ---- the sidecar -----------------------------------------------------------------------------------------

T0 = 1_767_225_600_000 + 3_600_000  # 2026-01-01T01:00:00Z


@pytest.fixture
def loss_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
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


def loss_policy(rule: str = LOSS) -> Any:
    return make_policy(POLICY_YAML.format(mode="enforce") + f"  - {rule}\n")


async def read_equity(fw: Any, equity: str, *positions: dict[str, str]) -> None:
    flow = make_flow("GET", "/fapi/v2/account", ())
    await fw.request(flow)
    assert flow.response is None, "the sidecar did not let the account read through"
    answer(flow, 200, {"totalMarginBalance": equity, "assets": [{"asset": "USDT", "marginBalance": equity}],
                       "positions": list(positions)})
    await fw.response(flow)


def reason_of(flow: http.HTTPFlow) -> tuple[str | None, str | None]:
    assert flow.response is not None
    return flow.response.headers.get("X-Riskwall-Rule"), flow.response.headers.get("X-Riskwall-Reason")


@pytest.mark.parametrize(("equities", "blocked"), [
    (["20000", "19000"], False),
    (["20000", "18999.99"], True),
    (["20000", "25000", "18999"], True),
    (["18000"], False),
    ([], False),
], ids=["at-limit", "beyond", "first-not-high", "first-reading", "no-equity-seen"])
async def test_sidecar_when_account_reads_show_equity_then_trips_only_beyond_the_limit(
        loss_logs: io.StringIO, equities: list[str], blocked: bool) -> None:
    fw = firewall(loss_policy(LOSS_ALLOWING), MemoryStore(clock=FakeClock(T0)))
    for equity in equities:
        await read_equity(fw, equity)

    nxt = order(quantity="0.1")
    await fw.request(nxt)

    assert (nxt.response is not None) is blocked
    if blocked:
        assert reason_of(nxt) == ("loss", "TRADING_REDUCING")
        assert nxt.response is not None and json.loads(nxt.response.content or b"")["code"] == -2010
    assert len(events(loss_logs, "daily_loss")) == int(blocked)


async def test_sidecar_when_daily_loss_trips_then_one_line_and_one_metric_say_who_what_and_until(
        loss_logs: io.StringIO) -> None:
    policy = loss_policy()
    metrics.policy_loaded(policy.revision, [rule.id for rule in policy.rules])
    fw = firewall(policy, MemoryStore(clock=FakeClock(T0)))

    for equity in ("20000", "18500", "17000", "16000"):
        await read_equity(fw, equity)

    (line,) = events(loss_logs, "daily_loss")
    assert {k: line[k] for k in ("rule_id", "venue", "account", "state", "mode", "baseline", "equity", "loss",
                                 "limit", "currency", "until", "until_ms")} == {
        "rule_id": "loss", "venue": "binanceusdm", "account": "label:main", "state": "REDUCING", "mode": "enforce",
        "baseline": "20000", "equity": "18500", "loss": "1500", "limit": "1000", "currency": "USDT",
        "until": "2026-01-02T00:00:00Z", "until_ms": 1_767_225_600_000 + DAY_MS}
    assert line["level"] == "warning" and KEY_ACCOUNT not in json.dumps(line)
    text = metrics.render()[0].decode()
    assert 'riskwall_daily_losses_total{mode="enforce",rule="loss",state="REDUCING",venue="binanceusdm"} 1.0' in text


async def test_sidecar_when_daily_loss_holds_then_cancels_and_reductions_pass_until_the_next_utc_day(
        loss_logs: io.StringIO) -> None:
    clock = FakeClock(T0)
    store = MemoryStore(clock=clock)
    # allow: the first order comes before any reading, and at midnight the state must end by itself
    fw = firewall(loss_policy(LOSS_ALLOWING), store)
    bought = order(quantity="0.5")
    await fw.request(bought)
    answer(bought, 200, filled("0.5"))
    await fw.response(bought)
    long = {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0.5"}
    await read_equity(fw, "20000", long)
    await read_equity(fw, "18000", long)

    reduce_only = order(side="SELL", quantity="0.2", reduceOnly="true", type="MARKET", price=None, timeInForce=None)
    await fw.request(reduce_only)
    cancel = make_flow("DELETE", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("orderId", "1001")))
    await fw.request(cancel)
    adding = order(quantity="0.1")
    await fw.request(adding)
    clock.advance(DAY_MS - 3_600_000)  # midnight
    later = order(quantity="0.1")
    await fw.request(later)

    assert reduce_only.response is None and cancel.response is None
    assert reason_of(adding) == ("loss", "TRADING_REDUCING")
    assert later.response is None and await store.trading_states() == ()


async def test_sidecar_when_daily_loss_holds_then_a_resume_ends_it_for_the_rest_of_the_day(
        loss_logs: io.StringIO) -> None:
    store = MemoryStore(clock=FakeClock(T0))
    fw = firewall(loss_policy(), store)
    await read_equity(fw, "20000")
    await read_equity(fw, "18000")
    (record,) = await store.trading_states()

    await store.set_trading_state(record.scope, TradingState.ACTIVE, "reviewed the book", "oncall")
    await read_equity(fw, "17000")
    nxt = order(quantity="0.1")
    await fw.request(nxt)

    assert record.scope == StateScope("binanceusdm", "label:main") and record.rule_id == "loss"
    assert nxt.response is None and len(events(loss_logs, "daily_loss")) == 1


async def test_sidecar_when_rule_in_shadow_then_would_trip_is_logged_and_nothing_blocks(
        loss_logs: io.StringIO) -> None:
    store = MemoryStore(clock=FakeClock(T0))
    fw = firewall(loss_policy("{id: loss, type: max_daily_loss, quote: 1000, mode: shadow}"), store)
    await read_equity(fw, "20000")
    await read_equity(fw, "10000")

    nxt = order(quantity="0.1")
    await fw.request(nxt)

    (line,) = events(loss_logs, "daily_loss")
    assert (line["mode"], line["applied"], line["loss"]) == ("shadow", False, "10000")
    assert nxt.response is None and await store.trading_states() == ()


# ---- private streams through the socket gate -------------------------------------------------------------


@pytest.mark.parametrize(("venue", "push"), [
    (Venue.BYBIT, lambda eq: {"topic": "wallet", "id": "w1", "creationTime": 1,
                              "data": [{"accountType": "UNIFIED", "totalEquity": eq, "coin": []}]}),
    (Venue.OKX, lambda eq: {"arg": {"channel": "account", "uid": "1"},
                            "data": [{"totalEq": eq, "details": [], "uTime": "1"}]}),
], ids=["bybit-wallet", "okx-account"])
async def test_socket_gate_when_private_stream_pushes_equity_then_a_loss_beyond_the_limit_trips_the_holder(
        loss_logs: io.StringIO, venue: Venue, push: Any) -> None:
    from riskwall.sockets import SocketGate

    key = "0123456789ab"
    policy = make_policy(f"""
accounts:
  desk: {{fingerprints: ["{key}"], venue: {venue}}}
rules:
  - {{id: loss, type: max_daily_loss, quote: 1000, state: HALTED}}
""")
    store = MemoryStore(clock=FakeClock(T0))

    async def decide(parsed: ParsedRequest, decision_id: str) -> Any:  # pragma: no cover - no order is sent
        raise AssertionError("no order frame in this test")

    gate = SocketGate(decide, lambda: store, lambda: policy)
    connection = Session(venue, Socket.STREAM, "GET /private", account=key, private=True)

    for equity in ("50000", "49500", "48999.5"):
        await gate.from_venue(connection, json.dumps(push(equity)))

    (record,) = await store.trading_states()
    assert (record.scope, record.state, record.rule_id) == (StateScope(str(venue), "label:desk"),
                                                            TradingState.HALTED, "loss")
    (line,) = events(loss_logs, "daily_loss")
    assert (line["baseline"], line["equity"], line["loss"]) == ("50000", "48999.5", "1000.5")


# ---- while no equity has been read today (on_equity_unknown) ---------------------------------------------

HOLDER = "label:main"  # the account make_rules names: its state, and its daily-loss baselines, are kept under it
BLOCKING = "{id: loss, type: max_daily_loss, quote: 1000, on_equity_unknown: block}"
SHADOW_LOSS = "{id: loss, type: max_daily_loss, quote: 1000, mode: shadow}"
UNKNOWN_ERROR = "no equity read today: read the balance through the sidecar"


def loss_key(rule_id: str = "loss", holder: str = HOLDER) -> str:
    return f"{rule_id}|{Venue.BINANCEUSDM}|{holder}"


def baseline(equity: str = "20000", *, rule_id: str = "loss", holder: str = HOLDER,
             enforced: bool = True) -> LossCheck:
    """A daily-loss rule's reading of the account's equity, as the answer path measures it."""
    return LossCheck(rule_id, StateScope(str(Venue.BINANCEUSDM), holder), loss_key(rule_id, holder), D(equity),
                     "USDT", D("1000"), TradingState.REDUCING, enforced)


REQUESTS: dict[str, ParsedRequest] = {
    "new": make_request(make_limit("50000", quantity="0.1")),
    "amend": make_request(make_intent(action=Action.AMEND, order_id="1001", order_type="LIMIT", price=D("50000"))),
    "reduce-only": make_request(make_intent(side=Side.SELL, quantity="0.5", reduce_only=True)),
    "cancel": make_request(make_cancel()),
    "cancel-all": make_request(make_intent(action=Action.CANCEL_ALL)),
    "leverage": make_request(make_leverage(5)),
}


@pytest.mark.parametrize(("rules", "request_name", "expected"), [
    ((LOSS,), "new", (loss_key(),)),  # the rule's default: block
    ((BLOCKING,), "new", (loss_key(),)),
    ((BLOCKING,), "amend", (loss_key(),)),
    ((BLOCKING,), "reduce-only", (loss_key(),)),  # whether it is a reduction is the plan's to say
    ((BLOCKING,), "cancel", ()),
    ((BLOCKING,), "cancel-all", ()),
    ((BLOCKING,), "leverage", ()),
    ((LOSS_ALLOWING,), "new", ()),
    ((SHADOW_LOSS,), "new", (loss_key(),)),  # a shadow rule waits too, to report would_block
    ((LOSS_ALLOWING, "{id: desk-loss, type: max_daily_loss, quote: 500, scope: {accounts: [main]}}"), "new",
     (loss_key("desk-loss"),)),
    (("{id: qty, type: max_order_qty, default: 1}",), "new", ()),
], ids=["default-block-new", "block-new", "block-amend", "block-reduce-only", "block-cancel", "block-cancel-all",
        "block-setting", "allow-new", "shadow-new", "only-the-blocking-rule", "no-daily-loss-rule"])
def test_view_query_when_policy_has_daily_loss_rules_then_asks_for_loss_keys_only_of_adding_orders_under_block(
        rules: tuple[str, ...], request_name: str, expected: tuple[str, ...]) -> None:
    policy = make_rules(*rules)
    request = decider.with_holder(REQUESTS[request_name], policy)

    query = engine.view_query(request, policy)

    assert query.loss_keys == expected
    assert engine.view_query(request).loss_keys == ()  # without a policy: nothing to wait for


async def _store_with(policy: Any, readings: tuple[LossCheck, ...], *, days_later: int = 0,
                      long: str | None = None) -> MemoryStore:
    """A memory store at T0 with `readings` measured (the day's baselines), then `days_later` UTC days on; `long`
    a BTCUSDT long the sidecar learned from the venue."""
    clock = FakeClock(T0)
    store = MemoryStore(clock=clock)
    if readings:
        await store.measure_losses(readings)
    if long is not None:
        holder = decider.with_holder(make_request(), policy)
        await store.learn(held_by(facts(positions_report((SYMBOL, PositionSide.BOTH, long))), holder))
    clock.advance(days_later * DAY_MS)
    return store


@pytest.mark.parametrize(("rule", "readings", "days_later", "request_name", "reason"), [
    (BLOCKING, (), 0, "new", Reason.EQUITY_UNKNOWN),
    (LOSS, (), 0, "new", Reason.EQUITY_UNKNOWN),  # block is the default
    (BLOCKING, (), 0, "amend", Reason.EQUITY_UNKNOWN),
    (BLOCKING, (baseline(),), 0, "new", None),
    (BLOCKING, (baseline(),), 0, "amend", None),
    (BLOCKING, (baseline(),), 1, "new", Reason.EQUITY_UNKNOWN),  # yesterday's reading is not today's
    (BLOCKING, (baseline(holder=ACCOUNT),), 0, "new", Reason.EQUITY_UNKNOWN),  # not the account's holder
    (BLOCKING, (baseline(rule_id="other-loss"),), 0, "new", Reason.EQUITY_UNKNOWN),  # another rule's reading
    (BLOCKING, (), 0, "cancel", None),
    (BLOCKING, (), 0, "cancel-all", None),
    (BLOCKING, (), 0, "leverage", None),  # a setting adds no order
    (BLOCKING, (), 0, "reduce-only", None),  # covered by the long the store knows: a reduction
    (LOSS_ALLOWING, (), 0, "new", None),
    (LOSS_ALLOWING, (), 1, "new", None),
], ids=["block-new", "default-new", "block-amend", "reading-today-new", "reading-today-amend", "reading-yesterday",
        "reading-of-the-key-not-the-holder", "reading-of-another-rule", "cancel", "cancel-all", "setting",
        "reduce-only-covered", "allow-new", "allow-next-day"])
async def test_decide_when_no_equity_read_today_then_adding_orders_wait_under_block(
        rule: str, readings: tuple[LossCheck, ...], days_later: int, request_name: str,
        reason: Reason | None) -> None:
    policy = make_rules(rule)
    store = await _store_with(policy, readings, days_later=days_later, long="1")

    evaluation = await decider.decide_request(REQUESTS[request_name], policy, store, "d1")

    decision = evaluation.decision
    assert [v.reason for v in decision.violations] == ([] if reason is None else [reason])
    if reason is not None:
        assert decision.verdict is Verdict.BLOCK and decision.deciding is not None
        assert decision.deciding.rule_id == "loss"
        assert dict(decision.deciding.context) == {"account": HOLDER, "error": UNKNOWN_ERROR}
    else:
        assert decision.verdict is Verdict.ALLOW


async def test_decide_when_a_reduce_only_order_has_no_known_position_then_it_waits_like_any_order() -> None:
    # the store knows no position it could reduce: no proven reduction (a REDUCING state refuses it too)
    policy = make_rules(BLOCKING)
    store = await _store_with(policy, ())

    evaluation = await decider.decide_request(REQUESTS["reduce-only"], policy, store, "d1")

    assert [v.reason for v in evaluation.decision.violations] == [Reason.EQUITY_UNKNOWN]


@pytest.mark.parametrize(("request_name", "reasons"), [
    ("new", [Reason.TRADING_REDUCING, Reason.EQUITY_UNKNOWN]),  # the state decides: it comes first
    ("reduce-only", []),  # under the REDUCING guard
], ids=["adding", "reducing"])
async def test_decide_when_reducing_and_no_equity_read_today_then_the_state_decides_and_reductions_pass(
        request_name: str, reasons: list[Reason]) -> None:
    policy = make_rules(BLOCKING)
    store = await _store_with(policy, (), long="1")
    await store.set_trading_state(StateScope(str(Venue.BINANCEUSDM), HOLDER), TradingState.REDUCING, "desk",
                                  "oncall")

    evaluation = await decider.decide_request(REQUESTS[request_name], policy, store, "d1")

    assert [v.reason for v in evaluation.decision.violations] == reasons
    if reasons:
        assert evaluation.decision.deciding is not None
        assert evaluation.decision.deciding.reason is Reason.TRADING_REDUCING


@pytest.mark.parametrize(("readings", "would_block"), [
    ((), True),
    ((baseline(enforced=False),), False),
], ids=["no-reading", "reading-today"])
async def test_decide_when_the_rule_is_in_shadow_then_no_reading_only_would_block(
        readings: tuple[LossCheck, ...], would_block: bool) -> None:
    policy = make_rules(SHADOW_LOSS)
    store = await _store_with(policy, readings)

    evaluation = await decider.decide_request(REQUESTS["new"], policy, store, "d1")

    assert evaluation.decision.verdict is Verdict.ALLOW and evaluation.decision.violations == ()
    assert [(v.rule_id, v.reason) for v in evaluation.decision.shadowed] == (
        [("loss", Reason.EQUITY_UNKNOWN)] if would_block else [])


async def test_sidecar_when_no_equity_read_today_then_orders_wait_for_a_balance_read_and_cancels_pass(
        loss_logs: io.StringIO) -> None:
    clock = FakeClock(T0)
    fw = firewall(loss_policy(), MemoryStore(clock=clock))  # the rule's default: block

    first = order(quantity="0.1")
    await fw.request(first)
    cancel = make_flow("DELETE", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("orderId", "1001")))
    await fw.request(cancel)
    await read_equity(fw, "20000")
    after_read = order(quantity="0.1")
    await fw.request(after_read)
    clock.advance(DAY_MS)  # a new UTC day: yesterday's reading is no baseline
    next_day = order(quantity="0.1")
    await fw.request(next_day)

    assert reason_of(first) == ("loss", "EQUITY_UNKNOWN")
    assert first.response is not None and first.response.status_code == 400
    body = json.loads(first.response.content or b"")
    assert body["code"] == -2010 and "EQUITY_UNKNOWN" in body["msg"] and UNKNOWN_ERROR in body["msg"]
    assert cancel.response is None and after_read.response is None
    assert reason_of(next_day) == ("loss", "EQUITY_UNKNOWN")
    assert events(loss_logs, "daily_loss") == []
