"""The addon's WebSocket hooks and the SocketGate behind them, on crafted flows and sessions.

The hooks are driven as mitmproxy drives them: the handshake through `request` (which opens the connection's
Session), then each message appended to `flow.websocket.messages` and `websocket_message` called, as the
WebSocket layer does while it holds the message. A blocked frame must be dropped and answered on the same
socket (`inject.websocket`, recorded here by a stand-in command); everything else must pass untouched.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.flow import Flow
from mitmproxy.test import tflow
from mitmproxy.websocket import WebSocketData, WebSocketMessage
from wsproto.frame_protocol import Opcode

from riskwall.addon import WS_SESSION, RiskFirewall
from riskwall.decider import UNANSWERED_HOLD_MS
from riskwall.model import (
    Action,
    Decision,
    OpenOrdersSnapshot,
    ParsedRequest,
    PositionKey,
    PositionSide,
    ResponseFacts,
    Venue,
    Verdict,
    fingerprint,
)
from riskwall.sockets import ListenKeys, SocketGate
from riskwall.state.base import StateUnavailable, ViewQuery
from riskwall.state.memory import MemoryStore
from riskwall.venues.base import HttpRequest, Socket
from riskwall.venues.frames import MAX_PENDING_FRAMES, Session

from .factories import FakeClock, exposure_check, make_reservation, pending_entry, position_key
from .test_addon import (  # noqa: F401 - captured is a fixture
    API_KEY,
    SIGNED,
    FlakySettlingStore,
    Logs,
    captured,
    filled_order,
    firewall,
    policy,
    settling_module,
)

ACCOUNT = fingerprint(API_KEY)
WS_HOST = "ws-fapi.binance.com"
UPGRADE = {"upgrade": "websocket", "connection": "Upgrade"}


def order_frame(frame_id: Any = "o1", method: str = "order.place", **params: str) -> str:
    fields = {"apiKey": API_KEY, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.5",
              "price": "50000", "timeInForce": "GTC", **dict(SIGNED), **params}
    return json.dumps({"id": frame_id, "method": method, "params": fields})


class Injected:
    """Stands in for mitmproxy's `inject.websocket` command: records what the addon sends on a socket."""

    def __init__(self) -> None:
        self.sent: list[tuple[bool, dict[str, Any]]] = []

        def inject(flow: Flow, to_client: bool, message: bytes, is_text: bool = True) -> None:
            self.sent.append((to_client, json.loads(message)))

        self.command = inject


@pytest.fixture
def injected() -> Iterator[Injected]:
    yield Injected()


def open_socket(fw: RiskFirewall, injected: Injected, path: str = "/ws-fapi/v1", host: str = WS_HOST) -> http.HTTPFlow:
    """A handshake the firewall let through, with its connection open."""
    from mitmproxy import ctx
    ctx.master.commands.add("inject.websocket", injected.command)
    flow = tflow.twebsocketflow(messages=False)
    flow.request = http.Request.make("GET", f"https://{host}{path}", b"", {
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    flow.response = None
    flow.websocket = WebSocketData()
    return flow


async def handshake(fw: RiskFirewall, flow: http.HTTPFlow) -> None:
    await fw.request(flow)
    assert flow.response is None, flow.response and flow.response.content
    fw.websocket_start(flow)


async def send(fw: RiskFirewall, flow: http.HTTPFlow, text: str | bytes, *, from_client: bool = True,
               injected: bool = False) -> WebSocketMessage:
    assert flow.websocket is not None
    opcode = Opcode.TEXT if isinstance(text, str) else Opcode.BINARY
    content = text.encode() if isinstance(text, str) else text
    message = WebSocketMessage(opcode, from_client, content, injected=injected)
    flow.websocket.messages.append(message)
    await fw.websocket_message(flow)
    return message


# ---- the hooks ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "forwarded", "reason", "code"),
    [
        (order_frame(), True, None, None),
        (order_frame(quantity="5"), False, "ORDER_QTY_EXCEEDS_MAX", -2010),
        (order_frame(symbol="XRPUSDT"), False, "SYMBOL_NOT_ALLOWED", -1121),
        (order_frame(quantity="1e1"), False, "PARSE_FAILED", -2010),
        (order_frame(method="order.replace"), False, "UNKNOWN_ENDPOINT", -1002),
        ('{"id":"o1","method":"order.place","params":{"quantity":"0.1","quantity":"9"}}', False, "PARSE_FAILED",
         -2010),
        (order_frame(method="order.cancel", orderId="12"), True, None, None),
    ],
    ids=["within", "qty", "symbol", "exponent", "unknown-method", "duplicate-key", "cancel"],
)
async def test_order_frame_when_decided_then_forwarded_or_dropped_and_answered_in_binance_envelope(
    captured: Logs, injected: Injected, frame: str, forwarded: bool, reason: str | None, code: int | None  # noqa: F811
) -> None:
    fw = firewall()
    flow = open_socket(fw, injected)
    await handshake(fw, flow)

    message = await send(fw, flow, frame)

    assert message.dropped is not forwarded
    assert message.content == frame.encode()  # never modified
    [line] = captured.decisions()
    assert (line["transport"], line["verdict"], line["reason"]) == ("ws", "allow" if forwarded else "block", reason)
    assert line["frame_id"] == "o1" and line["connection"] == flow.id
    if forwarded:
        assert injected.sent == []
    else:
        [(to_client, reply)] = injected.sent
        assert to_client and reply["id"] == "o1" and reply["status"] == 400
        assert reply["error"]["code"] == code and reason in reply["error"]["msg"]


async def test_frames_when_injected_or_from_venue_then_never_dropped_or_decided(
    captured: Logs, injected: Injected  # noqa: F811
) -> None:
    fw = firewall()
    flow = open_socket(fw, injected)
    await handshake(fw, flow)

    ours = await send(fw, flow, order_frame(quantity="5"), injected=True)
    garbage = await send(fw, flow, "}{ not json", from_client=False)
    answer = await send(fw, flow, '{"id":"zz","status":200,"result":{}}', from_client=False)

    assert not ours.dropped and not garbage.dropped and not answer.dropped
    assert captured.decisions() == [] and injected.sent == []


async def test_order_frame_when_gate_crashes_then_dropped_and_answered(
    captured: Logs, injected: Injected, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    fw = firewall()
    flow = open_socket(fw, injected)
    await handshake(fw, flow)

    async def explode(session: Session, text: str | None) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(fw._sockets, "from_client", explode)
    message = await send(fw, flow, order_frame())

    assert message.dropped
    [(_, reply)] = injected.sent
    assert reply["status"] == 400 and "INTERNAL_ERROR" in reply["error"]["msg"]
    [line] = captured.decisions()
    assert (line["verdict"], line["reason"]) == ("block", "INTERNAL_ERROR")


async def test_binary_frame_when_sent_on_order_socket_then_dropped(
    captured: Logs, injected: Injected  # noqa: F811
) -> None:
    fw = firewall()
    flow = open_socket(fw, injected)
    await handshake(fw, flow)

    message = await send(fw, flow, order_frame().encode())

    assert message.dropped
    [line] = captured.decisions()
    assert line["verdict"] == "block"


async def test_public_stream_when_frames_flow_then_none_is_read(captured: Logs, injected: Injected) -> None:  # noqa: F811
    fw = firewall()
    flow = open_socket(fw, injected, path="/ws/btcusdt@depth", host="fstream.binance.com")
    await handshake(fw, flow)

    sent = [await send(fw, flow, text) for text in ('{"method":"SUBSCRIBE","params":["x"],"id":1}',
                                                    order_frame(quantity="900"), "garbage")]
    pushed = await send(fw, flow, '{"e":"ORDER_TRADE_UPDATE","o":{}}', from_client=False)

    assert not any(m.dropped for m in [*sent, pushed])
    assert captured.decisions() == []
    session = flow.metadata[WS_SESSION]
    assert (session.socket, session.private, session.frames) == (Socket.STREAM, False, 0)


async def test_handshake_when_order_entry_off_then_refused(captured: Logs, injected: Injected) -> None:  # noqa: F811
    fw = firewall()
    fw._sockets.order_entry = False
    flow = open_socket(fw, injected)

    await fw.request(flow)

    assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == "UNKNOWN_ENDPOINT"
    assert WS_SESSION not in flow.metadata


async def test_connection_when_closed_then_logged_with_counts(captured: Logs, injected: Injected) -> None:  # noqa: F811
    fw = firewall()
    flow = open_socket(fw, injected)
    await handshake(fw, flow)
    await send(fw, flow, order_frame())
    await send(fw, flow, order_frame("o2", quantity="5"))

    await fw.websocket_end(flow)

    [opened] = captured.events("websocket_opened")
    [closed] = captured.events("websocket_closed")
    assert opened["endpoint"] == closed["endpoint"] == "GET /ws-fapi/v1"
    assert (closed["frames"], closed["blocked"]) == (2, 1)


# the venue's answer to order_frame(quantity="0.5"): filled in full
FILLED_HALF = {"orderId": 77, "symbol": "BTCUSDT", "status": "FILLED", "clientOrderId": "x", "price": "50000",
               "origQty": "0.5", "executedQty": "0.5", "side": "BUY", "positionSide": "BOTH", "type": "LIMIT",
               "reduceOnly": False}


async def socket_on_memory(injected: Injected) -> tuple[MemoryStore, RiskFirewall, http.HTTPFlow]:
    """A firewall on a memory store, with an order socket open through it."""
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    flow = open_socket(fw, injected)
    await handshake(fw, flow)
    return store, fw, flow


async def test_order_answer_when_venue_fills_then_position_learned_and_reservation_released(
    captured: Logs, injected: Injected  # noqa: F811
) -> None:
    store, fw, flow = await socket_on_memory(injected)
    await send(fw, flow, order_frame(quantity="0.5"))
    result = FILLED_HALF

    await send(fw, flow, json.dumps({"id": "o1", "status": 200, "result": result}), from_client=False)
    blocked = await send(fw, flow, order_frame("o2", quantity="0.6"))  # 0.5 held + 0.6 > 1

    assert blocked.dropped
    holder = fw.policy.holder(Venue.BINANCEUSDM, ACCOUNT) if fw.policy else None
    rows = await store.exposure(Venue.BINANCEUSDM, holder or ACCOUNT)
    assert rows["BTCUSDT|both"]["position"] == "0.5" and rows["BTCUSDT|both"]["pending_buy"] == "0"
    assert flow.metadata[WS_SESSION].pending == {}


# ---- the gate ----------------------------------------------------------------------------------------------


class Decider:
    """A stand-in for the addon's decide: slow, failing or allowing, as a test needs."""

    def __init__(self, *, delay_s: float = 0, error: Exception | None = None) -> None:
        self.delay_s, self.error = delay_s, error

    async def __call__(self, parsed: ParsedRequest, decision_id: str) -> tuple[Decision, bool, ParsedRequest]:
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return Decision(Verdict.ALLOW, decision_id, "rev", ()), True, parsed


def gate(decider: Decider, store: MemoryStore | None = None) -> SocketGate:
    chosen = store or MemoryStore(clock=FakeClock())
    made = SocketGate(decider, lambda: chosen, lambda: policy())
    made.deadline_s = 0.05
    return made


def session(account: str | None = ACCOUNT) -> Session:
    return Session(Venue.BINANCEUSDM, Socket.ORDERS, "GET /ws-fapi/v1", account=account)


@pytest.mark.parametrize(
    ("decider", "frame", "forwarded", "reason"),
    [
        (Decider(delay_s=1), order_frame(), False, "STATE_UNAVAILABLE"),
        (Decider(delay_s=1), order_frame(method="order.cancel", orderId="1"), True, None),
        (Decider(error=StateUnavailable("down")), order_frame(), False, "STATE_UNAVAILABLE"),
        (Decider(error=StateUnavailable("down")), order_frame(reduceOnly="true"), True, None),
        (Decider(error=RuntimeError("bug")), order_frame(), False, "INTERNAL_ERROR"),
        (Decider(error=RuntimeError("bug")), order_frame(method="order.cancel", orderId="1"), True, None),
    ],
    ids=["slow-order", "slow-cancel", "down-order", "down-reduce-only", "crash-order", "crash-cancel"],
)
async def test_from_client_when_decision_cannot_be_had_then_only_what_cannot_add_risk_passes(
    decider: Decider, frame: str, forwarded: bool, reason: str | None
) -> None:
    outcome = await gate(decider).from_client(session(), frame)

    assert outcome.forward is forwarded
    assert outcome.decision is not None
    deciding = outcome.decision.deciding
    assert (deciding.reason if deciding else None) == reason
    if not forwarded:
        assert outcome.reply is not None and json.loads(outcome.reply)["id"] == "o1"


async def test_connection_when_closed_with_unanswered_orders_then_their_exposure_is_held_then_released(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    released: list[tuple[str, int]] = []
    store = MemoryStore(clock=FakeClock())

    async def release(decision_id: str, after_ms: int = 0) -> None:
        released.append((decision_id, after_ms))

    monkeypatch.setattr(store, "release", release)
    made = gate(Decider(), store)
    conn = session()
    first = await made.from_client(conn, order_frame("a"))
    await made.from_client(conn, order_frame("b"))

    await made.closed(conn)

    assert first.decision is not None
    assert [after for _, after in released] == [UNANSWERED_HOLD_MS, UNANSWERED_HOLD_MS]
    assert released[0][0] == first.decision.decision_id and conn.pending == {}


class CountingDecider(Decider):
    """Allows every request, counting the decisions it was asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    async def __call__(self, parsed: ParsedRequest, decision_id: str) -> tuple[Decision, bool, ParsedRequest]:
        self.asked += 1
        return await super().__call__(parsed, decision_id)


def frame_without_id() -> str:
    frame = json.loads(order_frame())
    del frame["id"]
    return json.dumps(frame)


@pytest.mark.parametrize(
    ("earlier", "frame", "detail"),
    [
        ([], order_frame(None), "has no id"),
        ([], frame_without_id(), "has no id"),
        ([order_frame("a")], order_frame("a"), "awaits the venue's answer"),
        ([order_frame("a", method="order.cancel", orderId="1")], order_frame("a", quantity="0.1"),
         "awaits the venue's answer"),
        ([order_frame(n) for n in range(MAX_PENDING_FRAMES)], order_frame("last"),
         f"{MAX_PENDING_FRAMES} messages await"),
    ],
    ids=["null-id", "missing-id", "id-pending", "id-of-a-pending-cancel", "too-many-pending"],
)
async def test_order_frame_when_its_answer_could_not_be_paired_then_refused_before_anything_is_reserved(
    earlier: list[str], frame: str, detail: str
) -> None:
    decider = CountingDecider()
    made, conn = gate(decider), session()
    for text in earlier:
        assert (await made.from_client(conn, text)).forward
    pending = dict(conn.pending)

    outcome = await made.from_client(conn, frame)

    assert outcome.forward is False and outcome.reply is not None and outcome.decision is not None
    deciding = outcome.decision.deciding
    assert deciding is not None and deciding.reason == "PARSE_FAILED" and detail in deciding.detail
    assert decider.asked == len(earlier)  # refused before it was decided: nothing was reserved for it
    assert conn.pending == pending and not any(p.ambiguous for p in conn.pending.values())
    assert json.loads(outcome.reply)["id"] == json.loads(frame).get("id")


@pytest.mark.parametrize(
    ("frame", "tracked"),
    [
        (order_frame(None, method="order.cancel", orderId="1"), False),
        (order_frame(None, reduceOnly="true"), False),
        (order_frame("a", method="order.cancel", orderId="1"), False),
        (order_frame("a", reduceOnly="true"), False),
        (order_frame("b", method="order.cancel", orderId="1"), True),
    ],
    ids=["cancel-no-id", "reduce-only-no-id", "cancel-pending-id", "reduce-only-pending-id", "cancel-own-id"],
)
async def test_frame_that_cannot_add_risk_when_its_id_is_missing_or_pending_then_passes_untracked(
    frame: str, tracked: bool
) -> None:
    made, conn = gate(CountingDecider()), session()
    await made.from_client(conn, order_frame("a"))

    outcome = await made.from_client(conn, frame)

    assert outcome.forward is True
    assert list(conn.pending) == (['"a"', '"b"'] if tracked else ['"a"'])
    # a frame that shares the pending order's id makes the venue's answers to both unreadable
    assert conn.pending['"a"'].ambiguous is ('"a"' in frame)


async def test_order_answer_when_a_cancel_shared_its_id_then_not_learned_and_its_exposure_held_as_unanswered(
    captured: Logs, injected: Injected  # noqa: F811
) -> None:
    store, fw, flow = await socket_on_memory(injected)
    await send(fw, flow, order_frame("o1", quantity="0.5"))
    cancel = await send(fw, flow, order_frame("o1", method="order.cancel", orderId="12"))
    result = FILLED_HALF

    # which of the two this answers cannot be told: it must not release the order's exposure nor be read as its
    await send(fw, flow, json.dumps({"id": "o1", "status": 200, "result": result}), from_client=False)
    await asyncio.sleep(0)
    blocked = await send(fw, flow, order_frame("o2", quantity="0.6"))  # 0.5 still held + 0.6 > 1

    assert not cancel.dropped and blocked.dropped
    holder = fw.policy.holder(Venue.BINANCEUSDM, ACCOUNT) if fw.policy else None
    rows = await store.exposure(Venue.BINANCEUSDM, holder or ACCOUNT)
    assert rows["BTCUSDT|both"]["position"] == "0" and rows["BTCUSDT|both"]["pending_buy"] == "0.5"
    assert flow.metadata[WS_SESSION].pending == {}


async def test_order_refusal_when_a_cancel_shared_its_id_then_it_still_counts_for_a_reject_storm(
    captured: Logs, injected: Injected  # noqa: F811
) -> None:
    # a cancel (which always passes) under each order's id made each refusal unreadable: a loop refused by the venue
    # never tripped its storm. Whoever's it is, a refusal under the order's id counts
    store = MemoryStore(clock=FakeClock())
    fw = firewall(policy("enforce", "  - {id: storm, type: reject_storm, limit: 1/1m, cool_down: 1m, "
                                    "state: HALTED}\n"), store=store)
    flow = open_socket(fw, injected)
    await handshake(fw, flow)
    await send(fw, flow, order_frame("o1", quantity="0.5"))
    await send(fw, flow, order_frame("o1", method="order.cancel", orderId="12"))

    await send(fw, flow, json.dumps({"id": "o1", "status": 400, "error": {"code": -2019, "msg": "Margin is "
                                                                                                 "insufficient."}}),
               from_client=False)
    await fw._settling.drain()
    halted = await send(fw, flow, order_frame("o2", quantity="0.1"))

    assert halted.dropped
    assert [line["reason"] for line in captured.decisions() if line["verdict"] == "block"] == ["TRADING_HALTED"]


def binance_frame(frame_id: Any, method: str, **params: str) -> str:
    """A Binance WebSocket API request other than an order: a read, a login, a listen-key request."""
    return json.dumps({"id": frame_id, "method": method, "params": params} if params else
                      {"id": frame_id, "method": method})


OTHER_KEY = "Zz" * 32  # a second API key: another account


@pytest.mark.parametrize(
    ("earlier", "answered", "forwarded"),
    [
        (binance_frame("y", "order.status", apiKey=API_KEY, symbol="BTCUSDT", orderId="1", **dict(SIGNED)), False,
         False),
        (binance_frame("y", "session.status"), False, False),
        (binance_frame("y", "ping"), False, False),
        (binance_frame("y", "userDataStream.start", apiKey=API_KEY), False, False),
        (binance_frame("y", "session.logon", apiKey=API_KEY, **dict(SIGNED)), False, False),
        (binance_frame("y", "order.status", apiKey=API_KEY, symbol="BTCUSDT", orderId="1", **dict(SIGNED)), True,
         True),
        (binance_frame("y", "session.logon", apiKey=API_KEY, **dict(SIGNED)), True, True),
    ],
    ids=["read", "session-status", "ping", "listen-key-request", "logon", "read-answered", "logon-answered"],
)
async def test_binance_order_frame_when_another_frame_awaits_an_answer_under_its_id_then_refused_until_answered(
    earlier: str, answered: bool, forwarded: bool
) -> None:
    # Binance answers every request under its id alone: an order sent under the id of a read still in flight would
    # take the read's answer (an error, say) as its own and give its exposure back while it rests at the venue
    decider = CountingDecider()
    made, conn = gate(decider), session()
    assert (await made.from_client(conn, earlier)).forward
    if answered:
        await made.from_venue(conn, json.dumps({"id": "y", "status": 200, "result": {}}))

    outcome = await made.from_client(conn, order_frame("y"))

    assert outcome.forward is forwarded
    assert decider.asked == (1 if forwarded else 0)
    if not forwarded:
        assert outcome.decision is not None and outcome.decision.deciding is not None
        assert outcome.decision.deciding.reason == "PARSE_FAILED" and "awaits the venue's answer" in \
            outcome.decision.deciding.detail
        assert outcome.reply is not None and json.loads(outcome.reply)["id"] == "y" and conn.pending == {}
    else:
        assert list(conn.pending) == ['"y"']


async def test_read_when_sent_under_the_id_of_an_order_awaiting_its_answer_then_refused_and_the_answer_learned(
    captured: Logs, injected: Injected  # noqa: F811
) -> None:
    # a read under the order's id would make the order's answer anyone's: its refusal (a reject storm's count) or
    # its fill never learned. Refused, the order's own answer is learned as ever
    store, fw, flow = await socket_on_memory(injected)
    await send(fw, flow, order_frame("o1", quantity="0.5"))
    read = await send(fw, flow, binance_frame("o1", "session.status"))

    await send(fw, flow, json.dumps({"id": "o1", "status": 400, "error": {"code": -2019, "msg": "Margin is "
                                                                                                 "insufficient."}}),
               from_client=False)
    await asyncio.sleep(0)
    admitted = await send(fw, flow, order_frame("o2", quantity="0.6"))  # the refused 0.5 holds nothing: 0.6 ≤ 1

    assert read.dropped and not admitted.dropped
    assert [line["reason"] for line in captured.decisions() if line["verdict"] == "block"] == ["PARSE_FAILED"]
    holder = fw.policy.holder(Venue.BINANCEUSDM, ACCOUNT) if fw.policy else None
    rows = await store.exposure(Venue.BINANCEUSDM, holder or ACCOUNT)
    assert rows["BTCUSDT|both"]["pending_buy"] == "0.6"


def bybit_auth(key: str, req_id: str | None = None) -> str:
    return json.dumps({**({"reqId": req_id} if req_id else {}), "op": "auth", "args": [key, 1767225600000, "f" * 64]})


@pytest.mark.parametrize(("host", "headers", "refused"), [
    ("ws.okx.com", {}, False),
    ("wspap.okx.com", {}, False),  # OKX's demo socket, named by its host
    # the REST demo header on a live socket's handshake: read nowhere OKX documents, so which book is unknown
    ("ws.okx.com", {"x-simulated-trading": "1"}, True),
], ids=["live-socket", "demo-socket", "demo-header-on-the-live-socket"])
async def test_okx_order_frame_when_the_handshake_leaves_the_book_unclear_then_refused(
    host: str, headers: dict[str, str], refused: bool
) -> None:
    fw = firewall()
    made = SocketGate(fw._decide, lambda: fw.store, lambda: fw.policy)
    conn = made.open(Venue.OKX, HttpRequest("GET", host, 443, "/ws/v5/private", (), {**UPGRADE, **headers}, b""))
    assert conn is not None
    conn.account = fingerprint(OTHER_KEY)  # as an answered login leaves it
    frame = {"id": "o1", "op": "order", "args": [{"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy",
                                                  "ordType": "limit", "sz": "1", "px": "50000"}]}

    outcome = await made.from_client(conn, json.dumps(frame))

    assert outcome.decision is not None
    deciding = outcome.decision.deciding
    assert (deciding is not None and deciding.reason == "PARSE_FAILED") is refused


def okx_login(key: str) -> str:
    return json.dumps({"op": "login", "args": [{"apiKey": key, "passphrase": "p", "timestamp": "1767225600",
                                                "sign": "c2lnbg=="}]})


@pytest.mark.parametrize(
    ("venue", "endpoint", "first", "second", "reply_field"),
    [
        (Venue.BINANCEUSDM, "GET /ws-fapi/v1", binance_frame("x1", "session.logon", apiKey=API_KEY, **dict(SIGNED)),
         binance_frame("x2", "session.logon", apiKey=OTHER_KEY, **dict(SIGNED)), ("id", "x2")),
        (Venue.BINANCEUSDM, "GET /ws-fapi/v1", binance_frame("x", "session.status"),
         binance_frame("x", "session.logon", apiKey=OTHER_KEY, **dict(SIGNED)), ("id", "x")),
        (Venue.BYBIT, "GET /v5/trade", bybit_auth(API_KEY, "a1"), bybit_auth(OTHER_KEY, "a2"), ("op", "auth")),
        (Venue.OKX, "GET /ws/v5/private", okx_login(API_KEY), okx_login(OTHER_KEY), ("event", "error")),
    ],
    ids=["binance-two-logons", "binance-logon-under-a-read-id", "bybit-two-auths", "okx-two-logins"],
)
async def test_login_when_a_login_or_a_frame_under_its_id_awaits_an_answer_then_refused(
    venue: Venue, endpoint: str, first: str, second: str, reply_field: tuple[str, str]
) -> None:
    # the first success answered would bind whichever login was sent last, while the venue keeps the first key (Bybit
    # answers the second "Repeat auth"): orders would be checked against one account and executed for another
    made = gate(CountingDecider())
    conn = Session(venue, Socket.ORDERS, endpoint)
    assert (await made.from_client(conn, first)).forward

    outcome = await made.from_client(conn, second)

    assert outcome.forward is False and outcome.reply is not None and outcome.decision is not None
    assert outcome.decision.verdict is Verdict.BLOCK and outcome.decision.deciding is not None
    assert outcome.decision.deciding.reason == "PARSE_FAILED"
    assert json.loads(outcome.reply)[reply_field[0]] == reply_field[1]
    assert conn.pending_login in (None, fingerprint(API_KEY))  # the second login is not what awaits an answer


@pytest.mark.parametrize(
    ("venue", "endpoint", "login", "answer"),
    [
        (Venue.OKX, "GET /ws/v5/private", okx_login(API_KEY), json.dumps({"event": "login", "code": "0"})),
        (Venue.BYBIT, "GET /v5/trade", bybit_auth(API_KEY), json.dumps({"op": "auth", "retCode": 0})),
        (Venue.BINANCEUSDM, "GET /ws-fapi/v1", binance_frame("x1", "session.logon", apiKey=API_KEY, **dict(SIGNED)),
         json.dumps({"id": "x1", "status": 200, "result": {}})),
    ],
    ids=["okx", "bybit", "binance"],
)
async def test_login_when_the_same_key_logs_in_again_before_the_answer_then_passed_and_the_key_bound(
    venue: Venue, endpoint: str, login: str, answer: str
) -> None:
    # python-okx's subscribe() sends a login of its own behind the bot's: whichever the venue takes, the connection
    # acts for that key, so the second is no reason to refuse anything
    made = gate(CountingDecider())
    conn = Session(venue, Socket.ORDERS, endpoint)
    assert (await made.from_client(conn, login)).forward
    again = login.replace('"x1"', '"x2"')

    outcome = await made.from_client(conn, again)
    await made.from_venue(conn, answer)

    assert outcome.forward is True and outcome.decision is None
    # bound at the first acceptance; the login stays pending until the second is answered too (no other key's
    # login can go out before then, whose answer could be taken for it)
    assert conn.account == fingerprint(API_KEY) and conn.pending_login == fingerprint(API_KEY)
    await made.from_venue(conn, answer.replace('"x1"', '"x2"'))
    assert conn.account == fingerprint(API_KEY) and conn.pending_login is None


# (venue, socket, frames in order: ("bot", text) or ("venue", text), the account bound after them): a connection
# whose login the venue may hold while the sidecar names another (or none)
def _binance_logon(frame_id: str, key: str) -> str:
    return binance_frame(frame_id, "session.logon", apiKey=key, **dict(SIGNED))


LOGINS_THE_VENUE_MAY_HOLD = [
    # an error event that was the subscription's, read as the login's: the login's own success comes unawaited
    (Venue.OKX, "GET /ws/v5/private", [
        ("bot", json.dumps({"op": "subscribe", "args": [{"channel": "no-such-channel"}]})), ("bot", okx_login(API_KEY)),
        ("venue", json.dumps({"event": "error", "code": "60018", "msg": "", "connId": "c"})),
        ("venue", json.dumps({"event": "login", "code": "0", "msg": "", "connId": "c"}))], None),
    # a refused login, then the same key's accepted one in flight behind it
    (Venue.BYBIT, "GET /v5/trade", [
        ("bot", bybit_auth(API_KEY)), ("bot", bybit_auth(API_KEY)),
        ("venue", json.dumps({"op": "auth", "retCode": 10004, "retMsg": "error sign"})),
        ("venue", json.dumps({"op": "auth", "retCode": 0, "retMsg": "OK"}))], ACCOUNT),
    (Venue.BINANCEUSDM, "GET /ws-fapi/v1", [
        ("bot", _binance_logon("l2", API_KEY)), ("bot", _binance_logon("l3", API_KEY)),
        ("venue", json.dumps({"id": "l2", "status": 401, "error": {"code": -1022, "msg": "Signature"}})),
        ("venue", json.dumps({"id": "l3", "status": 200, "result": {}}))], ACCOUNT),
    # the first of two logins of one key answered: the second is still in flight, and its answer would be taken
    # for the next login's
    (Venue.OKX, "GET /ws/v5/private", [
        ("bot", okx_login(API_KEY)), ("bot", okx_login(API_KEY)),
        ("venue", json.dumps({"event": "login", "code": "0", "msg": "", "connId": "c"}))], ACCOUNT),
    # a logout the venue's answer to which is not read
    (Venue.BINANCEUSDM, "GET /ws-fapi/v1", [
        ("bot", _binance_logon("l1", API_KEY)), ("venue", json.dumps({"id": "l1", "status": 200, "result": {}})),
        ("bot", binance_frame("l2", "session.logout"))], None),
]


@pytest.mark.parametrize(("venue", "endpoint", "frames", "bound"), LOGINS_THE_VENUE_MAY_HOLD,
                         ids=["okx-unclear-then-success", "bybit-refused-then-accepted",
                              "binance-refused-then-accepted", "okx-same-key-twice-one-answered", "binance-logout"])
async def test_login_to_another_key_when_the_venue_may_hold_a_login_then_frames_behind_it_act_for_no_account(
    venue: Venue, endpoint: str, frames: list[tuple[str, str]], bound: str | None,
) -> None:
    # an order sent right behind a login acts for its key only where the connection held no login before: else a
    # made-up key's login (refused by the venue, which keeps the one it holds) would have the order checked against
    # an empty account while the venue fills it on the real one
    made = gate(CountingDecider())
    conn = Session(venue, Socket.ORDERS, endpoint)
    for source, text in frames:
        if source == "bot":
            assert (await made.from_client(conn, text)).forward
        else:
            await made.from_venue(conn, text)
    assert conn.account == bound

    decoy = {Venue.OKX: okx_login(OTHER_KEY), Venue.BYBIT: bybit_auth(OTHER_KEY),
             Venue.BINANCEUSDM: _binance_logon("l9", OTHER_KEY)}[venue]
    await made.from_client(conn, decoy)
    acting = conn.acting_account
    if venue is Venue.OKX and bound is not None:  # the bound key's second login answered next
        await made.from_venue(conn, json.dumps({"event": "login", "code": "0", "msg": "", "connId": "c"}))

    assert acting in (None, bound) and conn.account in (None, bound)


OKX_POSITIONS_PUSH = json.dumps({"arg": {"channel": "positions", "instType": "ANY"}, "data": [
    {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "mgnMode": "cross", "posSide": "net", "pos": "-3",
     "avgPx": "50000", "markPx": "50100", "lever": "10", "uTime": "1700000000000"}]})
OKX_LOGGED_IN = json.dumps({"event": "login", "code": "0", "msg": "", "connId": "c"})


OKX_ERROR = json.dumps({"event": "error", "code": "60012", "msg": "Invalid request", "connId": "c"})


@pytest.mark.parametrize(("logins", "learned"), [
    ([(API_KEY, OKX_LOGGED_IN), (API_KEY, OKX_LOGGED_IN)], True),  # the same key again: its own events still
    # another key: what the first subscribed may still push, under no account's name
    ([(API_KEY, OKX_LOGGED_IN), (OTHER_KEY, OKX_LOGGED_IN)], False),
    # another key's login answered unclearly (the venue may hold it), then the first key's again
    ([(API_KEY, OKX_LOGGED_IN), (OTHER_KEY, OKX_ERROR), (API_KEY, OKX_LOGGED_IN)], False),
], ids=["same-key", "another-key", "another-key-unclear-then-first-again"])
async def test_private_push_when_a_second_login_was_accepted_on_the_connection_then_learned_only_for_the_same_key(
    logins: list[tuple[str, str]], learned: bool,
) -> None:
    store = MemoryStore(clock=FakeClock())
    made = gate(CountingDecider(), store)
    conn = Session(Venue.OKX, Socket.ORDERS, "GET /ws/v5/private")
    for key, answered in logins:
        assert (await made.from_client(conn, okx_login(key))).forward
        await made.from_venue(conn, answered)
    second = logins[-1][0]
    assert conn.account == fingerprint(second)

    await made.from_venue(conn, OKX_POSITIONS_PUSH)
    for _ in range(50):  # (learned in the background: bounded wait)
        await asyncio.sleep(0.01)

    positions = {}
    for key in (API_KEY, OTHER_KEY):
        view = await store.view(ViewQuery(Venue.OKX, fingerprint(key), ("BTC-USDT-SWAP",)))
        positions[key] = view.positions.get(PositionKey(Venue.OKX, fingerprint(key), "BTC-USDT-SWAP",
                                                        PositionSide.BOTH))
    assert positions == ({API_KEY: Decimal("-0.03"), OTHER_KEY: None} if learned else {API_KEY: None, OTHER_KEY: None})


@pytest.mark.parametrize(
    ("venue", "endpoint", "login", "between", "answer"),
    [
        (Venue.BINANCEUSDM, "GET /ws-fapi/v1", binance_frame("x", "session.logon", apiKey=OTHER_KEY, **dict(SIGNED)),
         binance_frame("x", "session.status"), json.dumps({"id": "x", "status": 200, "result": {}})),
        (Venue.OKX, "GET /ws/v5/private", okx_login(OTHER_KEY), None,
         json.dumps({"event": "error", "code": "60012", "msg": "Invalid request", "connId": "c"})),
    ],
    ids=["binance-read-under-the-logon-id", "okx-error-event"],
)
async def test_login_answer_when_it_may_be_another_frames_then_the_connection_acts_for_no_account(
    venue: Venue, endpoint: str, login: str, between: str | None, answer: str
) -> None:
    made = gate(CountingDecider())
    conn = Session(venue, Socket.ORDERS, endpoint, account=ACCOUNT)
    assert (await made.from_client(conn, login)).forward
    if between is not None:
        assert (await made.from_client(conn, between)).forward

    await made.from_venue(conn, answer)

    # the venue may have kept the first key or taken the second: neither is assumed
    assert conn.account is None and conn.acting_account is None and conn.pending_login is None


async def test_order_frame_when_on_a_user_data_stream_then_refused() -> None:
    fw = firewall()
    made = SocketGate(fw._decide, lambda: fw.store, lambda: fw.policy)
    stream = Session(Venue.BINANCEUSDM, Socket.STREAM, "GET /ws/*", account=ACCOUNT, private=True)

    outcome = await made.from_client(stream, order_frame())

    assert outcome.forward is False and outcome.request is not None and outcome.reply is not None
    assert outcome.request.action is Action.UNKNOWN and json.loads(outcome.reply)["id"] == "o1"


def test_user_data_stream_when_its_listen_key_was_issued_through_the_sidecar_then_read_for_that_account() -> None:
    made = gate(Decider())
    listen_key = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"
    issued = HttpRequest("POST", "fapi.binance.com", 443, "/fapi/v1/listenKey", (), {}, b"")
    made.rest_answer(Venue.BINANCEUSDM, issued, 200, json.dumps({"listenKey": listen_key}).encode(), ACCOUNT)

    known = made.open(Venue.BINANCEUSDM, HttpRequest("GET", "fstream.binance.com", 443, f"/ws/{listen_key}", (),
                                                     UPGRADE, b""))
    unknown = made.open(Venue.BINANCEUSDM, HttpRequest("GET", "fstream.binance.com", 443, "/ws/" + "q" * 64, (),
                                                       UPGRADE, b""))

    assert known is not None and (known.account, known.private, known.endpoint) == (ACCOUNT, True, "GET /ws/*")
    assert unknown is not None and (unknown.account, unknown.private) == (None, False)
    assert listen_key not in repr(made.listen_keys.__dict__)


def test_listen_keys_when_more_than_kept_then_oldest_forgotten() -> None:
    keys = ListenKeys(kept=2)
    for number in range(3):
        keys.remember(Venue.BINANCEUSDM, f"key{number}", f"account{number}")

    assert [keys.owner(Venue.BINANCEUSDM, [f"key{n}"]) for n in range(3)] == [None, "account1", "account2"]
    assert keys.owner(Venue.BINANCECOINM, ["key2"]) is None


async def test_stream_event_when_account_has_a_label_then_learned_under_the_label() -> None:
    store = MemoryStore(clock=FakeClock())
    made = gate(Decider(), store)
    conn = Session(Venue.BINANCEUSDM, Socket.STREAM, "GET /ws/*", account=ACCOUNT, private=True)
    event = {"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER", "B": [], "P": [
        {"s": "BTCUSDT", "pa": "0.25", "ep": "50000", "cr": "0", "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH"}]}}

    await made.from_venue(conn, json.dumps(event))

    assert (await store.exposure(Venue.BINANCEUSDM, "label:main"))["BTCUSDT|both"]["position"] == "0.25"
    assert await store.exposure(Venue.BINANCEUSDM, ACCOUNT) == {}


@pytest.mark.parametrize(("hold_began_s_ago", "listed", "settled"), [(20, True, True), (20, False, False),
                                                                     (5, True, False)],
                         ids=["push-and-listing-long-after-the-hold-began-end-it", "push-alone-keeps-it",
                              "push-too-soon-keeps-it"])
async def test_stream_position_push_when_an_order_of_unknown_fate_is_held_then_a_late_enough_push_reads_its_fill(
    hold_began_s_ago: int, listed: bool, settled: bool
) -> None:
    # a stream-driven bot reads no REST positions: its stream's position push tells what the order filled as a
    # read would; whether it rests unfilled takes an open-orders listing still
    shift = hold_began_s_ago * 1000
    store = MemoryStore(clock=lambda: int(time.time() * 1000) - shift)  # the hold begins that long before now
    key = position_key(account="label:main")
    await store.reserve(make_reservation("d1", exposure=(exposure_check("0.4", position=key),),
                                         pending=(pending_entry("d1:0", "0.4", position=key),)))
    await store.release("d1", after_ms=UNANSWERED_HOLD_MS)
    if listed:
        await store.learn(ResponseFacts(open_orders=(OpenOrdersSnapshot(
            Venue.BINANCEUSDM, "label:main", "BTCUSDT", (), asked_ms=int(time.time() * 1000)),)))
    made = gate(Decider(), store)
    conn = Session(Venue.BINANCEUSDM, Socket.STREAM, "GET /ws/*", account=ACCOUNT, private=True)
    event = {"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER", "B": [], "P": [
        {"s": "BTCUSDT", "pa": "0.4", "ep": "50000", "cr": "0", "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH"}]}}

    await made.from_venue(conn, json.dumps(event))

    row = (await store.exposure(Venue.BINANCEUSDM, "label:main"))["BTCUSDT|both"]
    assert (row["position"], row["pending_buy"]) == ("0.4", "0" if settled else "0.4")


@pytest.mark.parametrize(
    ("mode", "extra_rules", "verdict", "forwarded"),
    [
        ("monitor", "", "would_block", True),
        ("enforce", "  - {id: shadow-qty, type: max_order_qty, default: 0.1, mode: shadow}\n", "would_block", True),
        ("enforce", "  - {id: halt, type: trading_state, state: HALTED}\n", "block", False),
    ],
    ids=["monitor-mode", "shadow-rule", "halted"],
)
async def test_order_frame_when_policy_monitors_shadows_or_halts_then_as_over_rest(
    captured: Logs, injected: Injected, mode: str, extra_rules: str, verdict: str, forwarded: bool  # noqa: F811
) -> None:
    fw = firewall(policy(mode, extra_rules))
    flow = open_socket(fw, injected)
    await handshake(fw, flow)

    message = await send(fw, flow, order_frame(quantity="0.5" if mode == "enforce" else "5"))

    assert message.dropped is not forwarded
    [line] = captured.decisions()
    assert line["verdict"] == verdict
    assert (injected.sent == []) is forwarded


KEY_A = "a" * 64
KEY_B = "b" * 64


@pytest.mark.parametrize(
    ("opened_with", "subscribed", "account", "private"),
    [
        (None, [KEY_A], "account-a", True),  # the SDK: listen key subscribed on /private/stream
        (None, ["btcusdt@markPrice@1s"], None, False),  # market data stays unread
        (KEY_A, ["btcusdt@markPrice@1s"], "account-a", True),
        (KEY_A, [KEY_A], "account-a", True),
        (KEY_A, [KEY_B], None, False),  # two accounts' events on one stream: not attributable, not read
        (None, [KEY_A, KEY_B], None, False),
        (None, [KEY_A, "c" * 64], None, False),  # a key the sidecar never saw issued beside a known one
    ],
    ids=["subscribe-known", "market-only", "market-on-private", "same-key", "other-key", "two-keys",
         "unknown-beside-known"],
)
async def test_stream_subscribe_when_it_names_listen_keys_then_read_only_for_one_known_account(
    opened_with: str | None, subscribed: list[str], account: str | None, private: bool
) -> None:
    made = gate(Decider())
    made.listen_keys.remember(Venue.BINANCEUSDM, KEY_A, "account-a")
    made.listen_keys.remember(Venue.BINANCEUSDM, KEY_B, "account-b")
    path = f"/private/ws?listenKey={opened_with}" if opened_with else "/private/stream"
    stream = made.open(Venue.BINANCEUSDM, HttpRequest("GET", "fstream.binance.com", 443, path, (), UPGRADE, b""))
    assert stream is not None

    outcome = await made.from_client(stream, json.dumps({"method": "SUBSCRIBE", "params": subscribed, "id": 1}))

    assert outcome.forward is True
    assert (stream.account, stream.private) == (account, private)


def two_accounts_keys() -> SocketGate:
    made = gate(Decider())
    made.listen_keys.remember(Venue.BINANCEUSDM, KEY_A, "account-a")
    made.listen_keys.remember(Venue.BINANCEUSDM, KEY_B, "account-b")
    return made


@pytest.mark.parametrize(("path", "account"), [
    (f"/ws/{KEY_A}", "account-a"),
    (f"/stream?streams={KEY_A}/btcusdt@aggTrade", "account-a"),
    (f"/private/ws?listenKey={KEY_A}", "account-a"),
    # Binance's combined streams take any stream names, a listen key among them: two accounts' events on one
    # stream (its events name no account), or one account's beside a key the sidecar never saw issued
    (f"/stream?streams={KEY_A}/{KEY_B}", None),
    (f"/stream?streams={KEY_B}/{KEY_A}", None),
    (f"/stream?streams={KEY_A}/{'c' * 64}", None),
    (f"/private/ws?listenKey={'c' * 64}&listenKey={KEY_A}", None),
    (f"/ws/{KEY_A}?listenKey={KEY_B}", None),
    (f"/ws/{'c' * 64}", None),
])
def test_stream_open_when_its_url_names_listen_keys_then_read_only_for_one_known_account(
    path: str, account: str | None
) -> None:
    made = two_accounts_keys()

    stream = made.open(Venue.BINANCEUSDM, HttpRequest("GET", "fstream.binance.com", 443, path, (), UPGRADE, b""))

    assert stream is not None and (stream.account, stream.private) == (account, account is not None)


@pytest.mark.parametrize(("path", "first"), [
    # B's stream, then A's key beside it: two accounts' events; A's key again does not take B's away
    (f"/ws/{KEY_B}", [KEY_A]),
    ("/private/stream", [KEY_A, KEY_B]),
    (f"/stream?streams={KEY_A}/{KEY_B}", None),  # unread from its handshake
    (f"/ws/{'c' * 64}", None),  # a key the sidecar never saw issued: anyone's events
])
async def test_stream_subscribe_when_the_stream_was_not_read_before_then_it_is_never_read_again(
    path: str, first: list[str] | None
) -> None:
    made = two_accounts_keys()
    stream = made.open(Venue.BINANCEUSDM, HttpRequest("GET", "fstream.binance.com", 443, path, (), UPGRADE, b""))
    assert stream is not None
    if first is not None:
        await made.from_client(stream, json.dumps({"method": "SUBSCRIBE", "params": first, "id": 1}))
    assert (stream.account, stream.private) == (None, False)

    for n in (2, 3):  # (the first SUBSCRIBE of one key after it once read it as that key's stream)
        await made.from_client(stream, json.dumps({"method": "SUBSCRIBE", "params": [KEY_A], "id": n}))

    assert (stream.account, stream.private) == (None, False)


@pytest.mark.parametrize(("first", "read"), [
    (json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 1}), True),
    (json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}), True),
    # what it subscribed cannot be told: B's key, past the size read, or given twice with B's last
    ('{"method":"SUBSCRIBE","params":["' + KEY_B + '"],"id":7}' + " " * 17_000, False),
    ('{"method":"SUBSCRIBE","params":["' + KEY_A + '"],"params":["' + KEY_B + '"],"id":7}', False),
    ('{"method":"SUBSCRIB\\u0045","params":["' + KEY_B + '"],"id":7}', False),
    (None, False),
])
async def test_stream_message_when_unreadable_before_a_listen_key_is_subscribed_then_the_stream_is_never_read(
    first: str | None, read: bool
) -> None:
    made = two_accounts_keys()
    stream = made.open(Venue.BINANCEUSDM, HttpRequest("GET", "fstream.binance.com", 443, "/market/ws/0", (),
                                                      UPGRADE, b""))
    assert stream is not None and not stream.private

    await made.from_client(stream, first)
    await made.from_client(stream, json.dumps({"method": "SUBSCRIBE", "params": [KEY_A], "id": 8}))

    assert (stream.account, stream.private) == (("account-a", True) if read else (None, False))


@pytest.mark.parametrize(("message", "read"), [
    (json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}), True),
    (json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 2}), True),
    (json.dumps({"method": "SUBSCRIBE", "params": [KEY_A, "btcusdt@aggTrade"], "id": 2}), True),
    # what a JSON reader takes for SUBSCRIBE of another account's key, written so the text never says SUBSCRIBE
    ('{"method":"SUBSCRIB\\u0045","params":["' + KEY_B + '"],"id":7}', False),
    # past the size read for a subscription
    ('{"method":"SUBSCRIBE","params":["' + KEY_B + '"],"id":7}' + " " * 17_000, False),
    # the key twice: a venue that keeps the first subscribes B where a reader keeping the last sees A
    ('{"method":"SUBSCRIBE","params":["' + KEY_B + '"],"params":["' + KEY_A + '"],"id":7}', False),
    ('{"method":"SUBSCRIBE","params":"' + KEY_B + '","id":7}', False),
    (json.dumps({"method": "SUBSCRIBE", "params": [KEY_A, 7], "id": 2}), False),
    (json.dumps({"method": "subscribe", "params": [KEY_B], "id": 2}), False),
    ("SUBSCRIBE " + KEY_B, False),
    (None, False),  # a binary message
])
async def test_private_stream_message_when_it_cannot_be_read_as_the_venue_would_then_stream_no_longer_read(
    message: str | None, read: bool
) -> None:
    made = two_accounts_keys()
    stream = made.open(Venue.BINANCEUSDM, HttpRequest("GET", "fstream.binance.com", 443, f"/ws/{KEY_A}", (),
                                                      UPGRADE, b""))
    assert stream is not None and stream.private

    await made.from_client(stream, message)

    assert (stream.account, stream.private) == (("account-a", True) if read else (None, False))


@pytest.mark.parametrize(("subscribers", "learned"), [([API_KEY], True), ([API_KEY, "other-" + "k" * 58], False)],
                         ids=["one-account", "two-accounts"])
async def test_user_data_pushed_on_the_websocket_api_when_subscribed_by_signature_then_learned_for_that_account(
    subscribers: list[str], learned: bool
) -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    made = SocketGate(fw._decide, lambda: fw.store, lambda: fw.policy)
    conn = session(account=None)  # signed requests, no session.logon
    for number, key in enumerate(subscribers):
        subscribe = {"id": f"s{number}", "method": "userDataStream.subscribe.signature",
                     "params": {"apiKey": key, "timestamp": 1700000000000, "signature": "f" * 64}}
        assert (await made.from_client(conn, json.dumps(subscribe))).forward
    event = {"subscriptionId": 0, "event": {"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER", "B": [], "P": [
        {"s": "BTCUSDT", "pa": "0.3", "ep": "50000", "cr": "0", "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH"}]}}}

    await made.from_venue(conn, json.dumps(event))

    rows = await store.exposure(Venue.BINANCEUSDM, "label:main")
    assert (rows.get("BTCUSDT|both", {}).get("position") == "0.3") is learned


UNLISTED_KEY = "other-" + "k" * 58


@pytest.mark.parametrize(("params", "then", "owner"), [
    ({}, None, "label:main"),
    ({"apiKey": API_KEY}, None, "label:main"),  # its own key
    # another account's key: Binance reads no parameters on it and subscribes the logged-on account (or refuses
    # it): whoever the connection acts for later, these events are not the named key's
    ({"apiKey": UNLISTED_KEY}, "logout", None),
    ({"apiKey": UNLISTED_KEY}, "logon-as-the-other", None),
], ids=["no-params", "its-own-key", "another-key-then-logout", "another-key-then-its-logon"])
async def test_user_data_pushed_on_the_websocket_api_when_subscribed_plainly_then_learned_for_the_logged_on_account(
    params: dict[str, str], then: str | None, owner: str | None
) -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    made = SocketGate(fw._decide, lambda: fw.store, lambda: fw.policy)
    conn = session()  # logged on with API_KEY
    subscribe = {"id": "s1", "method": "userDataStream.subscribe", **({"params": params} if params else {})}
    assert (await made.from_client(conn, json.dumps(subscribe))).forward
    if then == "logout":
        assert (await made.from_client(conn, json.dumps({"id": "s2", "method": "session.logout"}))).forward
    elif then == "logon-as-the-other":
        conn.account = fingerprint(UNLISTED_KEY)  # as the venue's answer to its session.logon leaves it
    event = {"subscriptionId": 0, "event": {"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER", "B": [], "P": [
        {"s": "BTCUSDT", "pa": "0.3", "ep": "50000", "cr": "0", "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH"}]}}}

    await made.from_venue(conn, json.dumps(event))

    for account in ("label:main", fingerprint(UNLISTED_KEY)):
        rows = await store.exposure(Venue.BINANCEUSDM, account)
        assert (rows.get("BTCUSDT|both", {}).get("position") == "0.3") is (account == owner)


@pytest.mark.parametrize("stream_says", ["0.3", "0"])
async def test_stream_event_when_a_rest_fill_is_still_being_learned_then_it_is_applied_after_the_fill(
        stream_says: str) -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    made = SocketGate(fw._decide, lambda: fw.store, lambda: fw.policy, settled=fw._settling.wait)
    conn = Session(Venue.BINANCEUSDM, Socket.STREAM, "GET /ws/*", account=ACCOUNT, private=True)
    await filled_order(fw, "0.5")  # its answer is learned after it has gone to the bot: still in flight
    event = {"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER", "B": [], "P": [
        {"s": "BTCUSDT", "pa": stream_says, "ep": "50000", "cr": "0", "up": "0", "mt": "cross", "iw": "0",
         "ps": "BOTH"}]}}

    await made.from_venue(conn, json.dumps(event))
    await fw._settling.drain()

    # the stream's position is newer than the fill: it stands, the fill is not added to it
    rows = await store.exposure(Venue.BINANCEUSDM, "label:main")
    assert rows.get("BTCUSDT|both", {}).get("position", "0") == stream_says


async def test_blocked_bybit_frame_when_answered_then_answer_waits_for_pybit_to_register_its_callback(
    captured: Logs, injected: Injected  # noqa: F811
) -> None:
    fw = firewall()
    flow = open_socket(fw, injected, path="/v5/trade", host="stream.bybit.com")
    await handshake(fw, flow)
    frame = {"reqId": "r1", "header": {"X-BAPI-TIMESTAMP": "1"}, "op": "order.create",
             "args": [{"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "1",
                       "price": "50000"}]}

    message = await send(fw, flow, json.dumps(frame))  # before any auth: no account, refused

    assert message.dropped and injected.sent == []  # not at once: pybit would drop an answer this early
    await asyncio.sleep(0.1)
    [(_, reply)] = injected.sent
    assert (reply["reqId"], reply["op"]) == ("r1", "order.create") and reply["retCode"] not in (0, 10005, 10027)


async def test_order_answer_when_the_store_cannot_take_it_then_kept_the_account_refused_until_it_lands(
    injected: Injected, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settling_module, "RETRY_FIRST_S", 0.05)
    store = FlakySettlingStore(outage=2, clock=FakeClock())  # the answer's write, and the try the next order makes
    fw = firewall(store=store)
    flow = open_socket(fw, injected)
    await handshake(fw, flow)
    await send(fw, flow, order_frame(quantity="0.5"))

    # learned in place on the socket: the store cannot take it, so it is kept for another try, not lost
    await send(fw, flow, json.dumps({"id": "o1", "status": 200, "result": FILLED_HALF}), from_client=False)
    meanwhile = await send(fw, flow, order_frame("o2", quantity="0.1"))
    for _ in range(100):
        if not fw._settling.kept:
            break
        await asyncio.sleep(0.02)
    after = await send(fw, flow, order_frame("o3", quantity="0.6"))  # 0.5 filled + 0.6 > 1

    assert meanwhile.dropped and after.dropped
    refusals = [reply["error"]["msg"] for _, reply in injected.sent]
    assert len(refusals) == 2 and "STATE_UNAVAILABLE" in refusals[0] and "POSITION_EXCEEDS_MAX" in refusals[1]
    holder = fw.policy.holder(Venue.BINANCEUSDM, ACCOUNT) if fw.policy else None
    rows = await store.exposure(Venue.BINANCEUSDM, holder or ACCOUNT)
    assert rows["BTCUSDT|both"]["position"] == "0.5" and rows["BTCUSDT|both"]["pending_buy"] == "0"
    await fw._settling.drain()


@pytest.mark.parametrize(("params", "read_for"), [
    ({}, ACCOUNT),  # the logged-on account's equity
    ({"apiKey": OTHER_KEY}, fingerprint(OTHER_KEY)),  # a read signed by another key is that key's account
])
async def test_account_read_when_sent_then_its_answer_is_the_equity_of_the_account_it_acted_for(
    params: dict[str, str], read_for: str,
) -> None:
    made = gate(CountingDecider())
    conn = Session(Venue.BINANCEUSDM, Socket.ORDERS, "GET /ws-fapi/v1", account=ACCOUNT)

    outcome = await made.from_client(conn, binance_frame("s1", "v2/account.status", **params))

    assert outcome.forward and conn.equity_reads == {'"s1"': read_for}
