"""The fake Bybit v5 WebSocket endpoints, driven by hand-built frames, by the real ccxt.pro bybit and by pybit's
`WebSocketTrading` and private `WebSocket`, directly and through a bare mitmproxy (explicit proxy with its CA, and
a reverse listener).

These tests pin what the firewall's WebSocket tests rely on: that the fake answers like Bybit for every frame
those clients send (and shares the REST fake's book and streams), that the wiring helpers in
tests/support/bybit_ws_bots.py work through an intercepting proxy, and which exception (or callback payload) each
Bybit error envelope produces in the installed clients — the envelopes a firewall will inject to block an order.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from tests.fakes.bybit import DEFAULT_ACCOUNTS, FakeBybit, sign
from tests.fakes.bybit_ws import PUBLIC_BURST, auth_signature, ws_hub, ws_messages, ws_order_frames, ws_url
from tests.support.bybit_bots import make_bybit
from tests.support.bybit_ws_bots import (
    direct_bybit_pro,
    direct_pybit_private,
    direct_pybit_trading,
    make_pybit_trading,
    proxied_bybit_pro,
    proxied_pybit_private,
    proxied_pybit_trading,
    reverse_bybit_pro,
    reverse_pybit_private,
    reverse_pybit_trading,
)
from tests.support.sidecar import free_port, wait_for_port
from tests.support.tls import TlsMaterial, make_test_pki
from websockets.sync.client import connect as ws_connect
from websockets.sync.connection import Connection

KEY, SECRET = next(iter(DEFAULT_ACCOUNTS.items()))
BTC, BTCUSDT = "BTC/USDT:USDT", "BTCUSDT"
WAIT_S = 5.0  # every wait for a frame is bounded by this
HANG_S = 0.4  # how long a ccxt call must stay unanswered to count as hanging (the fake answers in milliseconds)
TEST_DEADLINE_S = 30.0
MITMDUMP = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mitmdump"


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    with FakeBybit() as venue:
        yield venue
    assert venue.internal_errors == []


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_test_pki(tmp_path_factory.mktemp("bybit-ws-pki"))


def run[T](coro: Awaitable[T], timeout: float = TEST_DEADLINE_S) -> T:
    """Run a test coroutine to completion, never longer than `timeout`."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def now_ms() -> int:
    return int(time.time() * 1000)


# ---- a hand-driven socket (what a client library would send, byte for byte) --------------------------------


def auth_frame(api_key: str = KEY, secret: str = SECRET, expires: int | None = None, **extra: Any) -> str:
    stamp = expires if expires is not None else now_ms() + 10_000
    return json.dumps({**extra, "op": "auth", "args": [api_key, stamp, auth_signature(stamp, secret)]})


@contextmanager
def raw_socket(fake: FakeBybit, endpoint: str = "trade", *, auth: bool = True) -> Iterator[Connection]:
    with ws_connect(ws_url(fake, endpoint), proxy=None, open_timeout=WAIT_S, close_timeout=1) as ws:
        if auth:
            ws.send(auth_frame())
            answer = recv(ws)
            assert answer.get("retCode") == 0 or answer.get("success") is True, answer
        yield ws


def recv(ws: Connection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=WAIT_S))
    return message


def recv_until(ws: Connection, predicate: Callable[[dict[str, Any]], bool], limit: int = 30) -> dict[str, Any]:
    seen = []
    for _ in range(limit):
        message = recv(ws)
        if predicate(message):
            return message
        seen.append(message)
    raise AssertionError(f"no matching frame among {seen}")


def op_frame(op: str, args: Any, req_id: Any = "1", **extra: Any) -> dict[str, Any]:
    frame = {"reqId": req_id, "header": {"X-BAPI-TIMESTAMP": str(now_ms()), "X-BAPI-RECV-WINDOW": "5000"},
             "op": op, "args": args, **extra}
    return {k: v for k, v in frame.items() if v is not None}


def send_op(ws: Connection, op: str, args: Any, req_id: Any = "1", **extra: Any) -> dict[str, Any]:
    ws.send(json.dumps(op_frame(op, args, req_id, **extra)))
    return recv_until(ws, lambda m: m.get("reqId") == req_id)


def limit_leg(price: str = "49000", qty: str = "0.01", **extra: Any) -> dict[str, Any]:
    return {"category": "linear", "symbol": BTCUSDT, "side": "Buy", "orderType": "Limit", "qty": qty,
            "price": price, **extra}


def batch(legs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"category": "linear", "request": [{k: v for k, v in leg.items() if k != "category"} for leg in legs]}]


def is_push(topic: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("topic") == topic and "data" in m


def rest(fake: FakeBybit, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A signed REST call to the fake, as pybit and ccxt sign it."""
    raw = json.dumps(body).encode() if body is not None else b""
    stamp, window = str(now_ms()), "5000"
    query = path.partition("?")[2]
    request = urllib.request.Request(fake.base_url + path, data=raw or None, method=method, headers={
        "X-BAPI-API-KEY": KEY, "X-BAPI-TIMESTAMP": stamp, "X-BAPI-RECV-WINDOW": window,
        "X-BAPI-SIGN": sign(stamp, KEY, window, query if method == "GET" else raw, SECRET),
        "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def subscribed(fake: FakeBybit, *topics: str) -> None:
    """Wait (bounded) until some session on the fake holds every one of `topics`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        held = {t for s in ws_hub(fake).sessions() for t in s.topics}
        if set(topics) <= held:
            return
        time.sleep(0.01)
    raise AssertionError(f"nobody subscribed to {topics}")


# ---- auth, ping, framing -------------------------------------------------------------------------------


def test_auth_when_signature_valid_then_each_socket_answers_in_its_own_shape(fake: FakeBybit) -> None:
    with raw_socket(fake, "trade", auth=False) as trade, raw_socket(fake, "private", auth=False) as private:
        trade.send(auth_frame(reqId="a1"))
        private.send(auth_frame(req_id="a2"))
        trade_answer, private_answer = recv(trade), recv(private)
        conn_ids = {s.endpoint: s.conn_id for s in ws_hub(fake).sessions()}
    assert trade_answer == {"reqId": "a1", "retCode": 0, "retMsg": "OK", "op": "auth", "connId": conn_ids["trade"]}
    assert private_answer == {"req_id": "a2", "success": True, "ret_msg": "", "op": "auth",
                              "conn_id": conn_ids["private"]}


@pytest.mark.parametrize(("frame", "code"), [
    (lambda: auth_frame(secret="not-the-secret"), 10004),
    (lambda: auth_frame(api_key="no-such-key"), 10003),
    (lambda: auth_frame(expires=now_ms() - 1), 10001),  # expired
    (lambda: json.dumps({"op": "auth", "args": [KEY, now_ms() + 10_000]}), 10001),
])
def test_auth_when_credentials_wrong_then_refused_and_orders_still_refused(
        fake: FakeBybit, frame: Callable[[], str], code: int) -> None:
    with raw_socket(fake, "trade", auth=False) as trade, raw_socket(fake, "private", auth=False) as private:
        trade.send(frame())
        refused = recv(trade)
        after = send_op(trade, "order.create", [limit_leg()])
        private.send(frame())
        stream_refused = recv(private)
    assert (refused["retCode"], refused["op"]) == (code, "auth") and "reqId" not in refused
    assert (after["retCode"], after["retMsg"]) == (10007, "User authentication failed.")
    assert stream_refused["success"] is False and stream_refused["ret_msg"] == refused["retMsg"]
    assert fake.open_orders(KEY) == []


def test_auth_when_repeated_then_20001(fake: FakeBybit) -> None:
    with raw_socket(fake) as ws:
        ws.send(auth_frame())
        answer = recv(ws)
    assert (answer["retCode"], answer["retMsg"]) == (20001, "Repeat auth")


def test_ping_when_sent_then_each_endpoint_answers_pong_in_its_shape(fake: FakeBybit) -> None:
    with (raw_socket(fake, "trade", auth=False) as trade, raw_socket(fake, "private", auth=False) as private,
          raw_socket(fake, "linear", auth=False) as public):
        for ws in (trade, private, public):
            ws.send(json.dumps({"req_id": "p1", "op": "ping"}))
        answers = [recv(trade), recv(private), recv(public)]
    assert {k: v for k, v in answers[0].items() if k not in ("data", "connId")} == {"retCode": 0, "retMsg": "OK",
                                                                                   "op": "pong"}
    assert int(answers[0]["data"][0]) > 10**12
    assert (answers[1]["req_id"], answers[1]["op"], len(answers[1]["args"])) == ("p1", "pong", 1)
    assert {k: answers[2][k] for k in ("success", "ret_msg", "req_id", "op")} == {
        "success": True, "ret_msg": "pong", "req_id": "p1", "op": "ping"}


@pytest.mark.parametrize("text", ["{not json", "[1, 2]"])
def test_frame_when_not_a_json_object_then_params_error(fake: FakeBybit, text: str) -> None:
    with raw_socket(fake) as ws:
        ws.send(text)
        answer = recv(ws)
    assert (answer["retCode"], answer["retMsg"], answer["op"]) == (10001, "Params Error", "")


def test_handshake_when_path_unknown_then_404(fake: FakeBybit) -> None:
    with pytest.raises(Exception, match="404"):
        ws_connect(f"ws://127.0.0.1:{fake.port}/v5/public/spot", proxy=None, open_timeout=WAIT_S)


def test_handshake_when_max_active_time_given_then_accepted(fake: FakeBybit) -> None:
    with ws_connect(ws_url(fake, "private") + "?max_active_time=1m", proxy=None, open_timeout=WAIT_S) as ws:
        ws.send(auth_frame())
        assert recv(ws)["success"] is True
    assert fake.ws_frames[0].path == "/v5/private?max_active_time=1m"


# ---- order ops ------------------------------------------------------------------------------------------


def test_order_create_when_accepted_then_envelope_echoes_req_id_and_rest_sees_the_order(fake: FakeBybit) -> None:
    with raw_socket(fake) as ws:
        answer = send_op(ws, "order.create", [limit_leg(orderLinkId="ws-1")], "test-005")
        numeric = send_op(ws, "order.create", [limit_leg(price="48000")], 7)
        ws.send(json.dumps(op_frame("order.create", [limit_leg(price="47000")], None)))
        anonymous = recv(ws)
        conn_id = ws_hub(fake).sessions()[0].conn_id
    assert list(answer) == ["reqId", "retCode", "retMsg", "op", "data", "retExtInfo", "header", "connId"]
    assert {k: answer[k] for k in ("reqId", "retCode", "retMsg", "op", "retExtInfo", "connId")} == {
        "reqId": "test-005", "retCode": 0, "retMsg": "OK", "op": "order.create", "retExtInfo": {}, "connId": conn_id}
    assert set(answer["header"]) == {"X-Bapi-Limit", "X-Bapi-Limit-Status", "X-Bapi-Limit-Reset-Timestamp",
                                     "Traceid", "Timenow"}
    assert answer["data"]["orderLinkId"] == "ws-1"
    assert numeric["reqId"] == 7  # echoed with its JSON type
    assert "reqId" not in anonymous and anonymous["retCode"] == 0  # echoed only if sent
    polled = rest(fake, "GET", f"/v5/order/realtime?category=linear&symbol={BTCUSDT}")["result"]["list"]
    assert {(o["orderId"], o["price"], o["qty"]) for o in polled} == {
        (answer["data"]["orderId"], "49000.0", "0.010"), (numeric["data"]["orderId"], "48000.0", "0.010"),
        (anonymous["data"]["orderId"], "47000.0", "0.010")}


@pytest.mark.parametrize(("leg", "code"), [
    (limit_leg(side="Hold"), 10001),
    (limit_leg(qty="0.0105"), 10001),  # off the qty step
    (limit_leg(price="49000.05"), 10001),  # off the tick
    (limit_leg(reduceOnly=True), 110017),  # nothing to reduce
    (limit_leg(category="spot"), 10001),  # the fake trades derivatives only
])
def test_order_create_when_invalid_then_same_ret_code_and_msg_as_rest(fake: FakeBybit, leg: dict[str, Any],
                                                                    code: int) -> None:
    over_rest = rest(fake, "POST", "/v5/order/create", leg)
    with raw_socket(fake) as ws:
        over_ws = send_op(ws, "order.create", [leg])
    assert over_ws["retCode"] == over_rest["retCode"] == code
    assert over_ws["retMsg"] == over_rest["retMsg"]
    assert (over_ws["data"], over_ws["retExtInfo"]) == ({}, {})
    assert fake.open_orders(KEY) == []


def test_batch_ops_when_one_leg_invalid_then_per_leg_codes_and_rest_book_follows(fake: FakeBybit) -> None:
    with raw_socket(fake) as ws:
        placed = send_op(ws, "order.create-batch", batch([limit_leg(orderLinkId="a"), limit_leg(orderLinkId="b"),
                                                          limit_leg(side="Hold", orderLinkId="bad")]), "1")
        a, b, _ = (row["orderId"] for row in placed["data"]["list"])
        amended = send_op(ws, "order.amend-batch", batch([{"symbol": BTCUSDT, "orderId": a, "qty": "0.03"},
                                                          {"symbol": BTCUSDT, "orderId": "404", "qty": "1"}]), "2")
        cancelled = send_op(ws, "order.cancel-batch", batch([{"symbol": BTCUSDT, "orderLinkId": "a"},
                                                             {"symbol": BTCUSDT, "orderId": b}]), "3")
    assert placed["retCode"] == 0 and [c["code"] for c in placed["retExtInfo"]["list"]] == [0, 0, 10001]
    assert placed["data"]["list"][2] == {"category": "linear", "symbol": BTCUSDT, "orderId": "", "orderLinkId": "bad",
                                         "createAt": ""}
    assert [c["code"] for c in amended["retExtInfo"]["list"]] == [0, 110001]
    assert [c["code"] for c in cancelled["retExtInfo"]["list"]] == [0, 0]
    history = rest(fake, "GET", "/v5/order/history?category=linear")["result"]["list"]
    assert {(o["orderId"], o["orderStatus"], o["qty"]) for o in history} == {(a, "Cancelled", "0.030"),
                                                                              (b, "Cancelled", "0.010")}


def test_amend_and_cancel_when_sent_then_rest_book_follows(fake: FakeBybit) -> None:
    with raw_socket(fake) as ws:
        order_id = send_op(ws, "order.create", [limit_leg()], "1")["data"]["orderId"]
        amended = send_op(ws, "order.amend", [{"category": "linear", "symbol": BTCUSDT, "orderId": order_id,
                                               "price": "48500"}], "2")
        resting = fake.order(KEY, order_id)
        cancelled = send_op(ws, "order.cancel", [{"category": "linear", "symbol": BTCUSDT, "orderId": order_id}], "3")
        again = send_op(ws, "order.cancel", [{"category": "linear", "symbol": BTCUSDT, "orderId": order_id}], "4")
    assert amended["data"] == cancelled["data"] == {"orderId": order_id, "orderLinkId": ""}
    assert resting["price"] == "48500.0"
    assert fake.order(KEY, order_id)["orderStatus"] == "Cancelled"
    assert (again["retCode"], again["retMsg"]) == (110001, "order not exists or too late to cancel")


@pytest.mark.parametrize(("header", "code"), [
    (lambda: None, 10001),
    (lambda: {"X-BAPI-RECV-WINDOW": "5000"}, 10001),
    (lambda: {"X-BAPI-TIMESTAMP": str(now_ms() - 6_000)}, 10002),  # older than the default 5 s window
    (lambda: {"X-BAPI-TIMESTAMP": str(now_ms() - 3_000), "X-BAPI-RECV-WINDOW": "2000"}, 10002),
    (lambda: {"X-BAPI-TIMESTAMP": str(now_ms() + 60_000)}, 10002),
])
def test_order_op_when_header_missing_or_outside_window_then_refused(
        fake: FakeBybit, header: Callable[[], dict[str, str] | None], code: int) -> None:
    frame = {k: v for k, v in {"reqId": "h", "header": header(), "op": "order.create", "args": [limit_leg()]}.items()
             if v is not None}
    with raw_socket(fake) as ws:
        ws.send(json.dumps(frame))
        answer = recv(ws)
        # pybit's integer timestamp and no recv window: accepted
        ws.send(json.dumps({"reqId": "i", "header": {"X-BAPI-TIMESTAMP": now_ms()}, "op": "order.create",
                            "args": [limit_leg()]}))
        integer = recv(ws)
    assert (answer["reqId"], answer["retCode"]) == ("h", code)
    assert integer["retCode"] == 0 and len(fake.open_orders(KEY)) == 1


def test_order_op_when_req_id_reused_on_the_socket_then_20006(fake: FakeBybit) -> None:
    with raw_socket(fake) as ws:
        first = send_op(ws, "order.create", [limit_leg()], "same")
        second = send_op(ws, "order.create", [limit_leg()], "same")
    with raw_socket(fake) as other:
        elsewhere = send_op(other, "order.create", [limit_leg()], "same")
    assert (first["retCode"], second["retCode"], elsewhere["retCode"]) == (0, 20006, 0)
    assert len(fake.open_orders(KEY)) == 2


@pytest.mark.parametrize("args", [[limit_leg(), limit_leg()], [], ["not an object"], limit_leg()])
def test_order_op_when_args_not_one_object_then_10001_and_nothing_placed(fake: FakeBybit, args: Any) -> None:
    with raw_socket(fake) as ws:
        answer = send_op(ws, "order.create", args, "m1")
    assert (answer["reqId"], answer["retCode"], answer["data"]) == ("m1", 10001, {})
    assert fake.open_orders(KEY) == []


def test_op_when_unknown_on_trade_socket_then_10404(fake: FakeBybit) -> None:
    with raw_socket(fake) as ws:
        answer = send_op(ws, "order.create-all", [{}], "u1")
        subscribe = send_op(ws, "subscribe", ["order"], "u2")
    assert (answer["retCode"], answer["op"]) == (10404, "order.create-all")
    assert subscribe["retCode"] == 10404


def test_scripted_reply_when_set_then_next_op_answered_with_it_and_not_executed(fake: FakeBybit) -> None:
    ws_hub(fake).script_reply(lambda request: {"reqId": request["reqId"], "retCode": 10027,
                                               "retMsg": "blocked", "op": request["op"], "data": {}})
    with raw_socket(fake) as ws:
        scripted = send_op(ws, "order.create", [limit_leg()], "s1")
        real = send_op(ws, "order.create", [limit_leg()], "s2")
    assert scripted == {"reqId": "s1", "retCode": 10027, "retMsg": "blocked", "op": "order.create", "data": {}}
    assert real["retCode"] == 0 and len(fake.open_orders(KEY)) == 1
    assert [m["reqId"] for m in ws_order_frames(fake)] == ["s1", "s2"]  # both reached the venue


# ---- private streams ------------------------------------------------------------------------------------


def test_subscribe_when_not_authenticated_then_request_not_authorized(fake: FakeBybit) -> None:
    with raw_socket(fake, "private", auth=False) as ws:
        ws.send(json.dumps({"req_id": "s", "op": "subscribe", "args": ["order"]}))
        answer = recv(ws)
        (session,) = ws_hub(fake).sessions()
    assert {k: answer[k] for k in ("req_id", "success", "ret_msg", "op")} == {
        "req_id": "s", "success": False, "ret_msg": "Request not authorized", "op": "subscribe"}
    assert session.topics == () and session.api_key is None


@pytest.mark.parametrize("args", [["orders"], ["order", "order.linear"], ["tickers.BTCUSDT"], "order", []])
def test_subscribe_when_topic_unknown_or_forms_mixed_then_refused_and_nothing_held(fake: FakeBybit,
                                                                                   args: Any) -> None:
    with raw_socket(fake, "private") as ws:
        ws.send(json.dumps({"op": "subscribe", "args": args}))
        answer = recv(ws)
        held = ws_hub(fake).sessions()[0].topics
    assert answer["success"] is False and "req_id" not in answer
    assert held == ()


def test_rest_orders_when_streams_subscribed_then_order_execution_and_position_pushed(fake: FakeBybit) -> None:
    with raw_socket(fake, "private") as ws:
        ws.send(json.dumps({"req_id": "sub", "op": "subscribe", "args": ["order", "execution", "position"]}))
        ack = recv(ws)
        resting = rest(fake, "POST", "/v5/order/create", limit_leg())["result"]["orderId"]
        new_order = recv(ws)
        unchanged_position = recv(ws)
        rest(fake, "POST", "/v5/order/create", limit_leg(side="Sell", orderType="Market", qty="0.005"))
        filled, execution, short = recv(ws), recv(ws), recv(ws)
    assert {k: ack[k] for k in ("req_id", "success", "ret_msg", "op")} == {
        "req_id": "sub", "success": True, "ret_msg": "", "op": "subscribe"}
    assert new_order["topic"] == "order" and isinstance(new_order["creationTime"], int) and new_order["id"]
    (row,) = new_order["data"]
    assert (row["orderId"], row["category"], row["orderStatus"], row["cumExecQty"], row["leavesQty"]) == (
        resting, "linear", "New", "0.000", "0.010")
    assert (unchanged_position["topic"], unchanged_position["data"][0]["size"],
            unchanged_position["data"][0]["side"]) == ("position", "0.000", "")
    assert [f["topic"] for f in (filled, execution, short)] == ["order", "execution", "position"]
    assert (filled["data"][0]["orderStatus"], filled["data"][0]["cumExecQty"], filled["data"][0]["avgPrice"]) == (
        "Filled", "0.005", "50000.0")
    (fill,) = execution["data"]
    assert (fill["execQty"], fill["execPrice"], fill["execType"], fill["side"], fill["isMaker"]) == (
        "0.005", "50000.0", "Trade", "Sell", False)
    assert fill["orderId"] == filled["data"][0]["orderId"] and fill["execId"] and fill["leavesQty"] == "0.000"
    (position,) = short["data"]
    assert (position["symbol"], position["side"], position["size"], position["positionIdx"],
            position["entryPrice"], position["category"]) == (BTCUSDT, "Sell", "0.005", 0, "50000", "linear")


def test_fill_order_when_partial_then_execution_is_the_delta_order_cumulative_position_absolute(
        fake: FakeBybit) -> None:
    fake.set_position(KEY, BTCUSDT, Decimal("0.002"), entry_price=Decimal("50000"))
    with raw_socket(fake, "private") as ws, raw_socket(fake) as trade:
        ws.send(json.dumps({"op": "subscribe", "args": ["order", "execution", "position"]}))
        recv(ws)
        placed = send_op(trade, "order.create", [limit_leg(side="Sell", qty="0.010", price="51000")])
        order_id = placed["data"]["orderId"]
        recv_until(ws, is_push("position"))  # the create's position push (unchanged)
        fake.fill_order(order_id, qty=Decimal("0.004"))
        first = [recv(ws) for _ in range(3)]
        fake.fill_order(order_id, Decimal("51500"), qty=Decimal("0.003"))
        second = [recv(ws) for _ in range(3)]
    pushed = [{f["topic"]: f["data"][0] for f in burst} for burst in (first, second)]
    assert [(p["order"]["orderStatus"], p["order"]["cumExecQty"], p["order"]["leavesQty"]) for p in pushed] == [
        ("PartiallyFilled", "0.004", "0.006"), ("PartiallyFilled", "0.007", "0.003")]
    assert [(p["execution"]["execQty"], p["execution"]["execPrice"], p["execution"]["closedSize"],
             p["execution"]["isMaker"]) for p in pushed] == [("0.004", "51000.0", "0.002", True),
                                                             ("0.003", "51500.0", "0.000", True)]
    assert [(p["position"]["side"], p["position"]["size"]) for p in pushed] == [("Sell", "0.002"),
                                                                                 ("Sell", "0.005")]
    assert pushed[0]["execution"]["execId"] != pushed[1]["execution"]["execId"]
    assert fake.order(KEY, order_id)["avgPrice"] == "51214.3"  # (0.004 * 51000 + 0.003 * 51500) / 0.007


def test_categorised_topic_when_subscribed_then_only_that_category_pushed(fake: FakeBybit) -> None:
    with raw_socket(fake, "private") as ws, raw_socket(fake) as trade:
        ws.send(json.dumps({"op": "subscribe", "args": ["order.inverse", "position.inverse"]}))
        recv(ws)
        send_op(trade, "order.create", [limit_leg()], "linear")
        inverse = {"category": "inverse", "symbol": "BTCUSD", "side": "Sell", "orderType": "Market", "qty": "100"}
        send_op(trade, "order.create", [inverse], "inverse")
        order, position = recv(ws), recv(ws)
    assert (order["topic"], order["data"][0]["symbol"], order["data"][0]["orderStatus"]) == (
        "order.inverse", "BTCUSD", "Filled")
    assert (position["topic"], position["data"][0]["size"], position["data"][0]["side"]) == (
        "position.inverse", "100", "Sell")


def test_position_when_hedged_and_closed_then_flat_row_with_empty_side_for_that_index(fake: FakeBybit) -> None:
    fake.set_hedge_mode(KEY, BTCUSDT)
    fake.set_position(KEY, BTCUSDT, Decimal("-0.02"), position_idx=2)
    with raw_socket(fake, "private") as ws, raw_socket(fake) as trade:
        ws.send(json.dumps({"op": "subscribe", "args": ["position"]}))
        recv(ws)
        closed = send_op(trade, "order.create", [limit_leg(orderType="Market", qty="0.02", positionIdx=2)])
        (row,) = recv_until(ws, is_push("position"))["data"]
    assert closed["retCode"] == 0
    assert (row["positionIdx"], row["size"], row["side"], row["entryPrice"]) == (2, "0.000", "", "0")


def test_unsubscribe_when_acknowledged_then_no_more_pushes(fake: FakeBybit) -> None:
    with raw_socket(fake, "private") as ws, raw_socket(fake) as trade:
        ws.send(json.dumps({"req_id": "1", "op": "subscribe", "args": ["order"]}))
        recv(ws)
        ws.send(json.dumps({"req_id": "2", "op": "unsubscribe", "args": ["order"]}))
        answer = recv(ws)
        send_op(trade, "order.create", [limit_leg()])
        ws.send(json.dumps({"op": "ping"}))
        after = recv(ws)
    assert {k: answer[k] for k in ("req_id", "success", "op")} == {"req_id": "2", "success": True,
                                                                   "op": "unsubscribe"}
    assert after["op"] == "pong"  # no order push came in between


def test_pushes_when_other_account_trades_then_not_sent(fake: FakeBybit) -> None:
    fake.add_account("other-key", "other-secret")
    with raw_socket(fake, "private") as ws:
        ws.send(json.dumps({"op": "subscribe", "args": ["order"]}))
        recv(ws)
        fake.set_position("other-key", BTCUSDT, Decimal("1"))
        with ws_connect(ws_url(fake), proxy=None, open_timeout=WAIT_S) as other:
            other.send(auth_frame("other-key", "other-secret"))
            recv(other)
            assert send_op(other, "order.create", [limit_leg()])["retCode"] == 0
        ws.send(json.dumps({"op": "ping"}))
        assert recv(ws)["op"] == "pong"


def test_disconnect_all_when_called_then_client_sees_close_and_session_forgotten(fake: FakeBybit) -> None:
    with raw_socket(fake) as ws:
        assert ws_hub(fake).disconnect_all(1012) == 1
        with pytest.raises(Exception, match="1012"):
            ws.recv(timeout=WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while ws_hub(fake).sessions() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ws_hub(fake).sessions() == []


# ---- public ---------------------------------------------------------------------------------------------


def test_public_subscribe_when_tickers_then_snapshot_deltas_then_delta_per_mark_change(fake: FakeBybit) -> None:
    with raw_socket(fake, "linear", auth=False) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": ["tickers.BTCUSDT"]}))
        ack = recv(ws)
        burst = [recv(ws) for _ in range(PUBLIC_BURST)]
        fake.set_mark_price(BTCUSDT, Decimal("51000.5"))
        moved = recv(ws)
    assert {k: ack[k] for k in ("success", "ret_msg", "req_id", "op")} == {
        "success": True, "ret_msg": "", "req_id": "", "op": "subscribe"}
    assert [f["type"] for f in burst] == ["snapshot"] + ["delta"] * (PUBLIC_BURST - 1)
    assert {f["topic"] for f in burst} == {"tickers.BTCUSDT"} and isinstance(burst[0]["data"], dict)
    assert (burst[0]["data"]["lastPrice"], burst[0]["data"]["fundingRate"]) == ("50000.0", "0.0001")
    assert (moved["type"], moved["data"]["markPrice"], moved["data"]["lastPrice"]) == ("delta", "51000.5", "51000.5")


def test_public_subscribe_when_symbol_of_another_category_then_refused(fake: FakeBybit) -> None:
    with raw_socket(fake, "inverse", auth=False) as ws:
        ws.send(json.dumps({"req_id": "x", "op": "subscribe", "args": ["tickers.BTCUSDT"]}))
        refused = recv(ws)
        ws.send(json.dumps({"op": "subscribe", "args": ["tickers.BTCUSD"]}))
        accepted = recv(ws)
        snapshot = recv(ws)
    assert (refused["success"], refused["req_id"]) == (False, "x")
    assert accepted["success"] is True
    assert (snapshot["topic"], snapshot["type"], snapshot["data"]["markPrice"]) == ("tickers.BTCUSD", "snapshot",
                                                                                    "50000.0")


# ---- ccxt.pro bybit, straight to the fake -----------------------------------------------------------------


@pytest.fixture(scope="module")
def markets() -> dict[str, Any]:
    """ccxt's markets for the fake's instruments, loaded once: `load_markets` costs ccxt a second of REST calls."""

    async def load() -> dict[str, Any]:
        with FakeBybit() as venue:
            bot = direct_bybit_pro(venue.base_url)
            try:
                loaded: dict[str, Any] = await bot.load_markets()
                return loaded
            finally:
                await bot.close()

    return run(load())


def ready_bot(fake: FakeBybit, markets: dict[str, Any], **kwargs: Any) -> Any:
    """A direct ccxt.pro bybit with markets already set (no REST before its first socket call)."""
    bot = direct_bybit_pro(fake.base_url, **kwargs)
    bot.set_markets(markets)
    return bot


def orders_state(orders: list[Any]) -> list[tuple[str, str, float]]:
    return [(o["id"], o["status"], o["filled"]) for o in orders]


async def until_watching(bot: Any, *message_hashes: str) -> None:
    """Wait (bounded) until ccxt awaits these message hashes, so a push sent now is not missed."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        futures = {h for client in bot.clients.values() for h in client.futures}
        if set(message_hashes) <= futures:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"ccxt is not watching {message_hashes}")


async def until_subscribed(fake: FakeBybit, *topics: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if set(topics) <= {t for s in ws_hub(fake).sessions() for t in s.topics}:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nobody subscribed to {topics}")


def test_ccxt_create_edit_cancel_ws_when_direct_then_frames_and_rest_book_follow(fake: FakeBybit) -> None:
    async def scenario() -> tuple[Any, ...]:
        bot = direct_bybit_pro(fake.base_url)
        try:
            created = await bot.create_order_ws(BTC, "limit", "buy", 0.01, 49000)
            resting = fake.open_orders(KEY)
            edited = await bot.edit_order_ws(created["id"], BTC, "limit", "buy", 0.02, 48500)
            cancelled = await bot.cancel_order_ws(created["id"], BTC)
            return created, resting, edited, cancelled
        finally:
            await bot.close()

    created, resting, edited, cancelled = run(scenario())
    frames = [m for m in ws_messages(fake, "trade") if m["op"] != "ping"]
    auth, create, amend, cancel = frames
    assert list(auth) == ["op", "args"]  # no reqId on auth
    api_key, expires, signature = auth["args"]
    assert api_key == KEY and isinstance(expires, str) and signature == auth_signature(expires, SECRET)
    assert 9_000 < int(expires) - int(create["header"]["X-BAPI-TIMESTAMP"]) <= 10_000  # ccxt signs now + 10 s
    assert list(create) == ["op", "reqId", "args", "header"] and create["reqId"].isdigit()
    assert create["args"] == [{"symbol": BTCUSDT, "side": "Buy", "orderType": "Limit", "price": "49000",
                               "category": "linear", "qty": "0.01"}]
    assert set(create["header"]) == {"X-BAPI-TIMESTAMP", "X-BAPI-RECV-WINDOW"}
    assert all(isinstance(v, str) for v in create["header"].values())
    assert amend["op"] == "order.amend" and amend["args"] == [{"symbol": BTCUSDT, "orderId": created["id"],
                                                               "category": "linear", "qty": "0.02",
                                                               "price": "48500"}]
    assert cancel["op"] == "order.cancel" and cancel["args"] == [{"symbol": BTCUSDT, "orderId": created["id"],
                                                                  "category": "linear"}]
    assert int(create["reqId"]) < int(amend["reqId"]) < int(cancel["reqId"])
    pings = [m for m in ws_messages(fake, "trade") if m["op"] == "ping"]
    assert pings and all(isinstance(p["req_id"], int) for p in pings)  # ccxt's keepalive uses req_id, an integer
    assert [(o["orderId"], o["qty"], o["price"]) for o in resting] == [(created["id"], "0.010", "49000.0")]
    assert created["id"] == edited["id"] == cancelled["id"] and created["status"] is None  # an ack, not a state
    assert fake.order(KEY, created["id"])["orderStatus"] == "Cancelled"


def test_ccxt_streams_when_resting_order_filled_by_fake_then_orders_trades_and_positions_report_it(
        fake: FakeBybit, markets: dict[str, Any]) -> None:
    async def scenario() -> tuple[Any, ...]:
        bot = ready_bot(fake, markets)
        try:
            # the first call returns ccxt's REST snapshot (a cache ccxt fills in place later), no subscription
            flat = list(await bot.watch_positions())
            order = await bot.create_order_ws(BTC, "limit", "buy", 0.02, 49000)
            orders = asyncio.ensure_future(bot.watch_orders())
            trades = asyncio.ensure_future(bot.watch_my_trades())
            positions = asyncio.ensure_future(bot.watch_positions())
            await until_subscribed(fake, "order", "execution", "position")
            await until_watching(bot, "orders", "myTrades", "positions")
            fake.fill_order(order["id"], Decimal("48999.9"))
            done = await asyncio.wait_for(asyncio.gather(orders, trades, positions), WAIT_S)
            return flat, order, *done
        finally:
            await bot.close()

    flat, order, orders, trades, positions = run(scenario())
    assert flat == []
    assert [(o["id"], o["status"], o["filled"], o["average"]) for o in orders] == [(order["id"], "closed", 0.02,
                                                                                   48999.9)]
    assert [(t["order"], t["amount"], t["price"], t["side"], t["takerOrMaker"]) for t in trades] == [
        (order["id"], 0.02, 48999.9, "buy", "maker")]
    assert [(p["symbol"], p["contracts"], p["side"], p["entryPrice"]) for p in positions] == [(BTC, 0.02, "long",
                                                                                              48999.9)]
    subscriptions = [m for m in ws_messages(fake, "private") if m["op"] == "subscribe"]
    assert [m["args"] for m in subscriptions] == [["order"], ["execution"], ["position"]]
    assert all(isinstance(m["req_id"], int) for m in subscriptions)  # ccxt's req_id is an integer
    assert sorted(p.partition("?")[0] for p in fake.ws_handshakes) == ["/v5/private", "/v5/trade"]
    assert "GET /v5/position/list" in fake.calls()  # the snapshot came from REST


def test_ccxt_create_order_ws_when_fake_refuses_then_exception_from_ret_code(fake: FakeBybit,
                                                                            markets: dict[str, Any]) -> None:
    async def scenario() -> None:
        bot = ready_bot(fake, markets)
        try:
            await bot.create_order_ws(BTC, "limit", "buy", 0.01, 49000, {"orderLinkId": "dup1"})
            with pytest.raises(ccxt.InvalidOrder, match="110072"):  # the fake's own refusal, as over REST
                await bot.create_order_ws(BTC, "limit", "buy", 0.01, 49000, {"orderLinkId": "dup1"})
            with pytest.raises(ccxt.OrderNotFound, match="110001"):
                await bot.cancel_order_ws("no-such-order", BTC)
        finally:
            await bot.close()

    run(scenario())
    assert len(fake.open_orders(KEY)) == 1


def test_ccxt_auth_when_secret_wrong_then_authentication_error(fake: FakeBybit, markets: dict[str, Any]) -> None:
    async def scenario() -> None:
        bot = ready_bot(fake, markets, secret="not-the-secret")
        try:
            with pytest.raises(ccxt.AuthenticationError, match="10004"):
                await bot.create_order_ws(BTC, "limit", "buy", 0.01, 49000)
        finally:
            await bot.close()

    run(scenario())
    assert ws_order_frames(fake) == [] and fake.open_orders(KEY) == []


def test_ccxt_watch_ticker_when_public_socket_then_ticker_from_fake(fake: FakeBybit, markets: dict[str, Any]) -> None:
    fake.set_mark_price(BTCUSDT, Decimal("50123.4"))

    async def scenario() -> Any:
        bot = ready_bot(fake, markets)
        try:
            return await bot.watch_ticker(BTC)
        finally:
            await bot.close()

    ticker = run(scenario())
    assert (ticker["symbol"], ticker["last"], ticker["markPrice"]) == (BTC, 50123.4, 50123.4)
    assert [json.loads(f.text)["op"] for f in fake.ws_frames] == ["ping", "subscribe"]
    assert {f.path for f in fake.ws_frames} == {"/v5/public/linear"}


# ---- what the clients do with the error envelopes a firewall would send (measured) -----------------------


def envelope(code: int, msg: str = "Risk firewall: blocked", *, with_req_id: bool = True
             ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The envelope a firewall answers a blocked order op with (Bybit's full error shape)."""

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        stamp = str(now_ms())
        frame = {"retCode": code, "retMsg": msg, "op": request["op"], "data": {}, "retExtInfo": {},
                 "header": {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9", "X-Bapi-Limit-Reset-Timestamp": stamp,
                            "Traceid": "0" * 32, "Timenow": stamp}, "connId": "firewall"}
        return {"reqId": request["reqId"], **frame} if with_req_id and "reqId" in request else frame

    return reply


async def ccxt_outcome(bot: Any, timeout: float = HANG_S) -> type[Exception] | str | None:
    """The exception class one createOrderWs ends with, "hang" if unanswered for `timeout`, None if placed."""
    try:
        await asyncio.wait_for(bot.create_order_ws(BTC, "limit", "buy", 0.01, 49000), timeout)
    except TimeoutError:
        return "hang"
    except ccxt.BaseError as error:
        return type(error)
    return None


# (retCode, retMsg) in an envelope that echoes reqId -> what ccxt 4.5.64's createOrderWs raises
CCXT_REJECTIONS: dict[tuple[int, str], type[Exception]] = {
    (110032, "Risk firewall: blocked"): ccxt.InvalidOrder,
    (10001, "Not supported symbols: BTCUSDT"): ccxt.BadRequest,  # the exact code wins over the broad text
    (10001, "Risk firewall: qty 2 > max 1"): ccxt.BadRequest,
    (10018, "Risk firewall: blocked"): ccxt.RateLimitExceeded,
    (10006, "Too many visits!"): ccxt.RateLimitExceeded,
    (110013, "Risk firewall: blocked"): ccxt.BadRequest,
    (110094, "Risk firewall: blocked"): ccxt.InvalidOrder,
    (110003, "Risk firewall: blocked"): ccxt.InvalidOrder,
    (170131, "Insufficient balance."): ccxt.InsufficientFunds,
    (10002, "Risk firewall: blocked"): ccxt.InvalidNonce,
    (20006, "Risk firewall: blocked"): ccxt.InvalidOrder,
    (10016, "Risk firewall: blocked"): ccxt.ExchangeError,
    (10404, "Risk firewall: blocked"): ccxt.ExchangeError,  # not in ccxt's map
}


def test_ccxt_create_order_ws_when_envelope_echoes_req_id_then_exception_follows_the_exact_map(
        fake: FakeBybit, markets: dict[str, Any]) -> None:
    async def scenario() -> tuple[dict[tuple[int, str], Any], Any]:
        bot = ready_bot(fake, markets)
        try:
            outcomes = {}
            for code, msg in CCXT_REJECTIONS:
                ws_hub(fake).script_reply(envelope(code, msg))
                outcomes[(code, msg)] = await ccxt_outcome(bot)
            return outcomes, await ccxt_outcome(bot)  # the socket is still usable
        finally:
            await bot.close()

    outcomes, after = run(scenario())
    assert outcomes == CCXT_REJECTIONS
    assert after is None and len(fake.open_orders(KEY)) == 1


@pytest.mark.parametrize(("code", "expected"), [
    (110032, ccxt.InvalidOrder),
    (170131, ccxt.InsufficientFunds),
    (10005, "hang"),  # an auth-class code rejects the socket's auth, not the call (next test)
])
def test_ccxt_create_order_ws_when_refused_while_another_is_pending_then_only_the_refused_call_ends(
        fake: FakeBybit, markets: dict[str, Any], code: int, expected: type[Exception] | str) -> None:
    held: list[dict[str, Any]] = []

    async def scenario() -> tuple[Any, bool, str]:
        bot = ready_bot(fake, markets)
        hub = ws_hub(fake)
        try:
            hub.script_reply(held.append)  # returns None: the first order reaches the fake and stays unanswered
            hub.script_reply(envelope(code))
            first = asyncio.ensure_future(bot.create_order_ws(BTC, "limit", "buy", 0.01, 49000))
            deadline = time.monotonic() + WAIT_S
            while not held and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            assert held, "the first order never reached the fake"
            refused = await ccxt_outcome(bot)
            pending = not first.done()
            stamp = str(now_ms())
            hub.push_raw(json.dumps({
                "reqId": held[0]["reqId"], "retCode": 0, "retMsg": "OK", "op": "order.create",
                "data": {"orderId": "late-1", "orderLinkId": ""}, "retExtInfo": {},
                "header": {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "9", "X-Bapi-Limit-Reset-Timestamp": stamp,
                           "Traceid": "1" * 32, "Timenow": stamp}, "connId": "late"}), "trade")
            late = await asyncio.wait_for(first, WAIT_S)
            return refused, pending, late["id"]
        finally:
            await bot.close()

    refused, pending, late_id = run(scenario())
    # the envelope echoing its reqId ends that call only: the other order is still awaited and then resolves
    assert (refused, pending, late_id) == (expected, True, "late-1")
    first, second = ws_order_frames(fake)
    assert held == [first] and first["reqId"] != second["reqId"]
    assert fake.open_orders(KEY) == []  # neither was executed


@pytest.mark.parametrize("code", [10005, 10027, 10029, 10003, 10004, 10007])
def test_ccxt_create_order_ws_when_envelope_code_maps_to_an_auth_class_then_call_hangs_and_auth_is_dropped(
        fake: FakeBybit, markets: dict[str, Any], code: int) -> None:
    # PermissionDenied is a subclass of AuthenticationError in ccxt; ccxt.pro bybit's handle_error_message
    # rejects such errors on the 'authenticated' future (and forgets the socket's auth), never on the reqId
    async def scenario() -> tuple[Any, Any]:
        bot = ready_bot(fake, markets)
        try:
            ws_hub(fake).script_reply(envelope(code))
            first = await ccxt_outcome(bot)
            return first, await ccxt_outcome(bot, WAIT_S)
        finally:
            await bot.close()

    first, second = run(scenario())
    assert first == "hang"
    # the next call re-sends auth; Bybit answers 20001 "Repeat auth", which ccxt maps to OrderNotFound and, with
    # no reqId, rejects every pending call on the socket with
    assert second is ccxt.OrderNotFound
    assert [m["op"] for m in ws_messages(fake, "trade") if m["op"] != "ping"] == ["auth", "order.create", "auth"]


@pytest.mark.parametrize(("code", "expected"), [(110032, ccxt.InvalidOrder), (10001, ccxt.BadRequest)])
def test_ccxt_envelope_when_req_id_missing_then_the_call_fails_and_later_private_calls_hang(
        fake: FakeBybit, markets: dict[str, Any], code: int, expected: type[Exception]) -> None:
    async def scenario() -> tuple[Any, Any]:
        bot = ready_bot(fake, markets)
        try:
            ws_hub(fake).script_reply(envelope(code, with_req_id=False))
            first = await ccxt_outcome(bot)
            return first, await ccxt_outcome(bot)
        finally:
            await bot.close()

    first, later = run(scenario())
    # every future on the socket is rejected, the 'authenticated' one too: the next call waits for an auth answer
    # that never comes (its auth subscription is still recorded, so ccxt sends no new auth)
    assert (first, later) == (expected, "hang")
    assert [m["op"] for m in ws_messages(fake, "trade") if m["op"] != "ping"] == ["auth", "order.create"]


# ---- pybit, straight to the fake ------------------------------------------------------------------------


class Inbox:
    """Thread-safe collector for pybit callbacks (they run on websocket-client's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[str, dict[str, Any]]] = []

    def sink(self, kind: str) -> Callable[[dict[str, Any]], None]:
        def collect(message: dict[str, Any]) -> None:
            with self._lock:
                self.items.append((kind, message))
        return collect

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for k, m in self.items if k == kind]

    def wait_for(self, kind: str, predicate: Callable[[dict[str, Any]], bool] = lambda m: True,
                 timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.of(kind):
                if predicate(message):
                    return message
            time.sleep(0.005)
        raise AssertionError(f"no {kind} message matching among {self.items}")


def stop(*clients: Any) -> None:
    """pybit's `exit()` waits for its socket unboundedly; bound it."""
    for client in clients:
        closer = threading.Thread(target=client.exit, daemon=True)
        closer.start()
        closer.join(WAIT_S)


def test_pybit_trading_ops_when_direct_then_frames_and_answers_match_bybit(fake: FakeBybit) -> None:
    inbox = Inbox()
    trading = direct_pybit_trading(fake.base_url, retries=2)
    try:
        ok, error = inbox.sink("ok"), inbox.sink("error")
        trading.place_order(ok, error, **limit_leg(orderLinkId="p1"))
        order_id = inbox.wait_for("ok")["data"]["orderId"]
        trading.amend_order(ok, error, category="linear", symbol=BTCUSDT, orderLinkId="p1", qty="0.02")
        trading.place_batch_order(ok, error, **batch([limit_leg(orderLinkId="p2"), limit_leg(orderLinkId="p3")])[0])
        trading.amend_batch_order(ok, error, **batch([{"symbol": BTCUSDT, "orderLinkId": "p2", "price": "48000"}])[0])
        trading.cancel_batch_order(ok, error, **batch([{"symbol": BTCUSDT, "orderLinkId": "p2"},
                                                       {"symbol": BTCUSDT, "orderLinkId": "p3"}])[0])
        trading.cancel_order(ok, error, category="linear", symbol=BTCUSDT, orderId=order_id)
        inbox.wait_for("ok", lambda m: m["op"] == "order.cancel")
    finally:
        stop(trading)
    assert [m["op"] for m in inbox.of("ok")] == ["order.create", "order.amend", "order.create-batch",
                                                 "order.amend-batch", "order.cancel-batch", "order.cancel"]
    assert inbox.of("error") == [] and fake.open_orders(KEY) == []
    auth, *ops = ws_messages(fake, "trade")
    assert list(auth) == ["op", "args"] and isinstance(auth["args"][1], int)  # pybit sends expires as an integer
    assert auth["args"][2] == auth_signature(auth["args"][1], SECRET)
    assert all(list(m) == ["reqId", "header", "op", "args"] for m in ops)
    assert all(len(m["reqId"]) == 36 for m in ops)  # a uuid4 string
    assert all(list(m["header"]) == ["X-BAPI-TIMESTAMP"] and isinstance(m["header"]["X-BAPI-TIMESTAMP"], int)
               for m in ops)  # an integer timestamp, no recv window unless recv_window= is given
    assert ops[2]["args"] == batch([limit_leg(orderLinkId="p2"), limit_leg(orderLinkId="p3")])


def test_pybit_streams_when_resting_order_filled_by_fake_then_callbacks_get_order_execution_position(
        fake: FakeBybit) -> None:
    inbox = Inbox()
    private = direct_pybit_private(fake.base_url, retries=2)
    trading = direct_pybit_trading(fake.base_url, retries=2)
    try:
        private.order_stream(inbox.sink("order"))
        private.execution_stream(inbox.sink("execution"))
        private.position_stream(inbox.sink("position"))
        subscribed(fake, "order", "execution", "position")
        trading.place_order(inbox.sink("ok"), inbox.sink("error"), **limit_leg(side="Sell", price="51000"))
        order_id = inbox.wait_for("ok")["data"]["orderId"]
        fake.fill_order(order_id)
        order = inbox.wait_for("order", lambda m: m["data"][0]["orderStatus"] == "Filled")["data"][0]
        execution = inbox.wait_for("execution")["data"][0]
        position = inbox.wait_for("position", lambda m: m["data"][0]["size"] != "0.000")["data"][0]
    finally:
        stop(private, trading)
    assert (order["orderId"], order["cumExecQty"], order["leavesQty"], order["avgPrice"]) == (order_id, "0.010",
                                                                                           "0.000", "51000.0")
    assert (execution["execQty"], execution["execPrice"], execution["orderId"]) == ("0.010", "51000.0", order_id)
    assert (position["side"], position["size"], position["positionIdx"]) == ("Sell", "0.010", 0)
    subscriptions = [m for m in ws_messages(fake, "private") if m["op"] == "subscribe"]
    assert [m["args"] for m in subscriptions] == [["order"], ["execution"], ["position"]]
    assert all(len(m["req_id"]) == 36 for m in subscriptions)  # pybit's req_id is a uuid4 string


def test_pybit_error_envelope_when_req_id_echoed_then_error_callback_gets_it_raw_else_nothing(
        fake: FakeBybit) -> None:
    inbox = Inbox()
    trading = direct_pybit_trading(fake.base_url, retries=2)
    try:
        ws_hub(fake).script_reply(envelope(10027, "Risk firewall: trading halted"))
        trading.place_order(inbox.sink("ok"), inbox.sink("error"), **limit_leg())
        refused = inbox.wait_for("error")
        ws_hub(fake).script_reply(envelope(110032, with_req_id=False))
        trading.place_order(inbox.sink("ok"), inbox.sink("error"), **limit_leg())
        trading.place_order(inbox.sink("ok"), inbox.sink("error"), **limit_leg())  # real, after the anonymous one
        inbox.wait_for("ok")
        pending = dict(trading.callback_directory)
    finally:
        stop(trading)
    first, second, third = ws_order_frames(fake)
    assert (refused["reqId"], refused["retCode"], refused["retMsg"]) == (first["reqId"], 10027,
                                                                          "Risk firewall: trading halted")
    assert len(inbox.of("error")) == 1  # the envelope without reqId reached no callback
    assert list(pending) == [second["reqId"]]  # ... and its request's callbacks wait forever
    assert inbox.of("ok")[0]["reqId"] == third["reqId"]  # the socket itself is fine


def test_pybit_trading_auth_when_secret_wrong_then_socket_torn_down_and_nothing_placed(fake: FakeBybit) -> None:
    trading = make_pybit_trading(ws_url(fake), secret="not-the-secret", retries=2)
    try:
        deadline = time.monotonic() + WAIT_S
        while trading.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        connected = trading.is_connected()
    finally:
        stop(trading)
    assert connected is False and trading.exited is True  # pybit raised in its thread and gave up
    assert [m["op"] for m in ws_messages(fake)] == ["auth"]


# ---- through a bare mitmproxy: the wiring helpers work through an intercepting proxy ------------------------


@dataclass
class Mitmdump:
    port: int
    ca_cert: Path  # the CA mitmproxy signs its interception certificates with
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_mitmdump(workdir: Path, mode: str, upstream_ca: Path) -> Mitmdump:
    """`mitmdump` in `mode` ("regular" or "reverse:https://..."), trusting `upstream_ca` for the fake venue."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), workdir / "mitmdump.log"
    command = [str(MITMDUMP), "--listen-host", "127.0.0.1", "--mode", f"{mode}@{port}",
               "--set", f"confdir={workdir / 'confdir'}", "--set", f"ssl_verify_upstream_trusted_ca={upstream_ca}",
               "--set", "flow_detail=0", "--set", "termlog_verbosity=warn"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    proxy = Mitmdump(port, workdir / "confdir" / "mitmproxy-ca-cert.pem", log, process)
    deadline = time.monotonic() + 20
    if not wait_for_port(port, deadline) or process.poll() is not None:
        proxy.stop()
        raise RuntimeError(f"mitmdump did not start: {command}\n{log.read_text(errors='replace')}")
    while not proxy.ca_cert.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proxy


@pytest.fixture(scope="module")
def tls_fake(pki: TlsMaterial) -> Iterator[FakeBybit]:
    with FakeBybit(tls=pki.server_ssl_context()) as venue:
        yield venue
    assert venue.internal_errors == []


@pytest.fixture(scope="module")
def explicit_proxy(tmp_path_factory: pytest.TempPathFactory, pki: TlsMaterial) -> Iterator[Mitmdump]:
    proxy = start_mitmdump(tmp_path_factory.mktemp("mitm-regular"), "regular", pki.ca_cert)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def reverse_proxy(tmp_path_factory: pytest.TempPathFactory, pki: TlsMaterial,
                  tls_fake: FakeBybit) -> Iterator[Mitmdump]:
    proxy = start_mitmdump(tmp_path_factory.mktemp("mitm-reverse"), f"reverse:{tls_fake.base_url}", pki.ca_cert)
    yield proxy
    proxy.stop()


@pytest.fixture
def venue(tls_fake: FakeBybit) -> FakeBybit:
    tls_fake.reset()
    tls_fake.ws_frames.clear()
    tls_fake.ws_handshakes.clear()
    return tls_fake


async def _ccxt_round_trip(bot: Any, venue: FakeBybit) -> tuple[list[tuple[str, str, float]], Any]:
    try:
        order = await bot.create_order_ws(BTC, "limit", "buy", 0.02, 49000)
        orders = asyncio.ensure_future(bot.watch_orders())
        await until_subscribed(venue, "order")
        await until_watching(bot, "orders")
        venue.fill_order(order["id"])
        return orders_state(await asyncio.wait_for(orders, WAIT_S)), order
    finally:
        await bot.close()


def _assert_ccxt_trip(venue: FakeBybit, orders: list[tuple[str, str, float]], order: Any) -> None:
    assert orders == [(order["id"], "closed", 0.02)]
    assert [m["op"] for m in ws_order_frames(venue)] == ["order.create"]
    assert [p.partition("?")[0] for p in venue.ws_handshakes] == ["/v5/trade", "/v5/private"]
    assert "GET /v5/market/instruments-info" in venue.calls()  # REST went the same way


def test_ccxt_pro_when_through_explicit_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeBybit, explicit_proxy: Mitmdump) -> None:
    # the bot trusts only mitmproxy's CA (ccxt's cafile replaces certifi) while the venue's certificate is from
    # the test CA: the order can only have worked through the proxy
    orders, order = run(_ccxt_round_trip(proxied_bybit_pro(venue.base_url, explicit_proxy.url,
                                                           explicit_proxy.ca_cert), venue))
    _assert_ccxt_trip(venue, orders, order)


def test_ccxt_pro_when_through_reverse_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeBybit, reverse_proxy: Mitmdump) -> None:
    orders, order = run(_ccxt_round_trip(reverse_bybit_pro(reverse_proxy.url), venue))
    _assert_ccxt_trip(venue, orders, order)


def _pybit_round_trip(trading: Any, private: Any, venue: FakeBybit) -> dict[str, Any]:
    inbox = Inbox()
    try:
        private.order_stream(inbox.sink("order"))
        subscribed(venue, "order")
        trading.place_order(inbox.sink("ok"), inbox.sink("error"), **limit_leg())
        venue.fill_order(inbox.wait_for("ok")["data"]["orderId"])
        filled: dict[str, Any] = inbox.wait_for("order", lambda m: m["data"][0]["orderStatus"] == "Filled")["data"][0]
        return filled
    finally:
        stop(trading, private)


def test_pybit_when_through_explicit_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeBybit, explicit_proxy: Mitmdump) -> None:
    # WEBSOCKET_CLIENT_CA_BUNDLE replaces the default trust store: only mitmproxy's certificate verifies
    proxy, ca_file = explicit_proxy.url, explicit_proxy.ca_cert
    filled = _pybit_round_trip(proxied_pybit_trading(venue.base_url, proxy, ca_file, retries=2),
                               proxied_pybit_private(venue.base_url, proxy, ca_file, retries=2), venue)
    assert filled["cumExecQty"] == "0.010"
    assert [m["op"] for m in ws_messages(venue)] == ["auth", "auth", "subscribe", "order.create"]


def test_pybit_when_through_reverse_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeBybit, reverse_proxy: Mitmdump) -> None:
    filled = _pybit_round_trip(reverse_pybit_trading(reverse_proxy.url, retries=2),
                               reverse_pybit_private(reverse_proxy.url, retries=2), venue)
    assert filled["cumExecQty"] == "0.010"
    assert [m["op"] for m in ws_messages(venue)] == ["auth", "auth", "subscribe", "order.create"]


def test_rest_order_when_placed_by_sync_ccxt_then_ws_subscriber_sees_it(fake: FakeBybit) -> None:
    with raw_socket(fake, "private") as ws:
        ws.send(json.dumps({"op": "subscribe", "args": ["order"]}))
        recv(ws)
        bot = make_bybit(fake.base_url)
        order = bot.create_order(BTC, "limit", "sell", 0.01, 51000)
        pushed = recv_until(ws, is_push("order"))["data"][0]
    assert (pushed["orderId"], pushed["orderStatus"], pushed["side"], pushed["price"]) == (order["id"], "New", "Sell",
                                                                                       "51000.0")
