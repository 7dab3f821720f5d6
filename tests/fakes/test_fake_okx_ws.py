"""The fake OKX v5 WebSocket endpoints, driven by hand-built frames, by the real ccxt.pro okx and python-okx
`WsPrivateAsync`, directly and through a bare mitmproxy (explicit proxy with its CA, and a reverse listener).

These tests pin what the firewall's WebSocket tests rely on: that the fake answers like OKX for every frame
those clients send (and shares the REST fake's book and streams), that the wiring helpers in
tests/support/okx_ws_bots.py work through an intercepting proxy, and which exception (or callback text) each
OKX error envelope produces in the installed clients — the envelopes a firewall will inject to block an order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from okx.websocket.WsPrivateAsync import WsPrivateAsync
from tests.fakes.okx import DEFAULT_ACCOUNTS, FakeOkx, sign
from tests.fakes.okx_ws import (
    PUBLIC_BURST,
    inst_id_code,
    login_sign,
    ws_hub,
    ws_messages,
    ws_order_frames,
    ws_url,
)
from tests.support.okx_bots import make_okx
from tests.support.okx_ws_bots import (
    direct_okx_pro,
    direct_ws_sdk,
    proxied_okx_pro,
    proxied_ws_sdk,
    reverse_okx_pro,
    reverse_ws_sdk,
)
from tests.support.sidecar import free_port, wait_for_port
from tests.support.tls import TlsMaterial, make_test_pki
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

KEY = "okx-test-key"
SECRET, PASSPHRASE = DEFAULT_ACCOUNTS[KEY]
CREDS = {"api_key": KEY, "secret": SECRET, "passphrase": PASSPHRASE}
BTC, BTC_ID = "BTC/USDT:USDT", "BTC-USDT-SWAP"
ETH_ID = "ETH-USDT-SWAP"
WAIT_S = 5.0  # every wait for a frame is bounded by this
TEST_DEADLINE_S = 30.0
MITMDUMP = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mitmdump"


@pytest.fixture
def fake() -> Iterator[FakeOkx]:
    with FakeOkx() as venue:
        yield venue
    assert venue.internal_errors == []


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_test_pki(tmp_path_factory.mktemp("okx-ws-pki"))


def run[T](coro: Awaitable[T], timeout: float = TEST_DEADLINE_S) -> T:
    """Run a test coroutine to completion, never longer than `timeout`."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


# ---- a hand-driven socket (what a client library would send, byte for byte) --------------------------------


def login_frame(api_key: str = KEY, secret: str = SECRET, passphrase: str = PASSPHRASE,
                timestamp: str | None = None) -> str:
    ts = timestamp if timestamp is not None else str(int(time.time()))
    return json.dumps({"op": "login", "args": [{"apiKey": api_key, "passphrase": passphrase, "timestamp": ts,
                                                "sign": login_sign(ts, secret)}]})


@contextmanager
def raw_socket(fake: FakeOkx, endpoint: str = "private", *, login: bool = True) -> Iterator[ClientConnection]:
    with ws_connect(ws_url(fake, endpoint), proxy=None, open_timeout=WAIT_S, close_timeout=1) as ws:
        if login:
            ws.send(login_frame())
            assert recv(ws)["event"] == "login"
        yield ws


def recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=WAIT_S))
    return message


def recv_until(ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], limit: int = 30) -> dict[str, Any]:
    seen = []
    for _ in range(limit):
        message = recv(ws)
        if predicate(message):
            return message
        seen.append(message)
    raise AssertionError(f"no matching frame among {seen}")


def send_op(ws: ClientConnection, op: str, args: list[Any], frame_id: str = "1") -> dict[str, Any]:
    ws.send(json.dumps({"id": frame_id, "op": op, "args": args}))
    return recv_until(ws, lambda m: m.get("id") == frame_id)


def limit_leg(px: str = "49000", sz: str = "1", **extra: Any) -> dict[str, Any]:
    return {"instIdCode": inst_id_code(BTC_ID), "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": sz,
            "px": px, **extra}


def is_push(channel: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("arg", {}).get("channel") == channel and "data" in m


def statuses(orders: list[Any]) -> list[tuple[str, str, float]]:
    """(id, status, filled) now: ccxt updates the order dicts it returned in place when later pushes arrive."""
    return [(o["id"], o["status"], o["filled"]) for o in orders]


async def until_subscribed(fake: FakeOkx, channel: str) -> None:
    """Wait (bounded) until some session on the fake holds a subscription to `channel`."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if any(a["channel"] == channel for s in ws_hub(fake).sessions() for a in s.subscriptions):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"nobody subscribed to {channel}")


async def until_watching(bot: Any, *message_hashes: str) -> None:
    """Wait (bounded) until ccxt awaits these message hashes, so a push sent now is not missed."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        futures = {h for client in bot.clients.values() for h in client.futures}
        if set(message_hashes) <= futures:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"ccxt is not watching {message_hashes}")


def rest(fake: FakeOkx, method: str, path: str, body: Any = None) -> dict[str, Any]:
    """A signed REST call to the fake, as any OKX client signs it."""
    raw = json.dumps(body).encode() if body is not None else b""
    ts = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    request = urllib.request.Request(fake.base_url + path, data=raw or None, method=method, headers={
        "OK-ACCESS-KEY": KEY, "OK-ACCESS-PASSPHRASE": PASSPHRASE, "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-SIGN": sign(ts, method, path, raw, SECRET), "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=WAIT_S) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


# ---- login, ping, framing -------------------------------------------------------------------------------


def test_login_when_signature_valid_then_acknowledged_with_conn_id(fake: FakeOkx) -> None:
    with raw_socket(fake, login=False) as ws:
        ws.send(login_frame())
        answer = recv(ws)
        (session,) = ws_hub(fake).sessions()
    assert answer == {"event": "login", "code": "0", "msg": "", "connId": session.conn_id}
    assert session.api_key == KEY and session.endpoint == "private"


@pytest.mark.parametrize(("frame", "code"), [
    (lambda: login_frame(secret="not-the-secret"), "60007"),
    (lambda: login_frame(passphrase="not-the-passphrase"), "60024"),
    (lambda: login_frame(api_key="no-such-key"), "60005"),
    (lambda: login_frame(timestamp=str(int(time.time()) - 120)), "60006"),
    (lambda: login_frame(timestamp="yesterday"), "60004"),
])
def test_login_when_credentials_wrong_then_error_event_and_orders_still_refused(
        fake: FakeOkx, frame: Callable[[], str], code: str) -> None:
    with raw_socket(fake, login=False) as ws:
        ws.send(frame())
        refused = recv(ws)
        ws.send(json.dumps({"id": "9", "op": "order", "args": [limit_leg()]}))
        after = recv(ws)
    assert refused["event"] == "error" and refused["code"] == code
    assert after == {"event": "error", "code": "60011", "msg": "Please log in", "connId": refused["connId"]}
    assert fake.open_orders(KEY) == []


def test_ping_when_sent_as_text_then_pong(fake: FakeOkx) -> None:
    with raw_socket(fake, login=False) as ws:
        ws.send("ping")
        assert ws.recv(timeout=WAIT_S) == "pong"


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"args": []}'])
def test_frame_when_not_an_op_object_then_60012_illegal_request(fake: FakeOkx, text: str) -> None:
    with raw_socket(fake) as ws:
        ws.send(text)
        answer = recv(ws)
    assert answer["event"] == "error" and answer["code"] == "60012"
    assert answer["msg"] == f"Illegal request: {text}"


def test_handshake_when_path_unknown_then_404(fake: FakeOkx) -> None:
    with pytest.raises(Exception, match="404"):
        ws_connect(f"ws://127.0.0.1:{fake.port}/ws/v5/nowhere", proxy=None, open_timeout=WAIT_S)


# ---- order ops ------------------------------------------------------------------------------------------


def test_order_op_when_inst_id_code_given_then_placed_in_the_rest_book(fake: FakeOkx) -> None:
    listed = rest(fake, "GET", "/api/v5/public/instruments?instType=SWAP")["data"]
    code = next(row["instIdCode"] for row in listed if row["instId"] == BTC_ID)
    with raw_socket(fake) as ws:
        answer = send_op(ws, "order", [{**limit_leg(), "instIdCode": code, "clOrdId": "ws1", "tag": "t1"}], "77")
    (leg,) = answer["data"]
    assert {k: answer[k] for k in ("id", "op", "code", "msg")} == {"id": "77", "op": "order", "code": "0", "msg": ""}
    assert int(answer["outTime"]) >= int(answer["inTime"]) > 10**15  # microseconds
    assert (leg["sCode"], leg["clOrdId"], leg["tag"]) == ("0", "ws1", "t1")
    (polled,) = rest(fake, "GET", "/api/v5/trade/orders-pending?instType=SWAP")["data"]
    assert (polled["ordId"], polled["instId"], polled["sz"], polled["px"]) == (leg["ordId"], BTC_ID, "1", "49000")


def test_order_op_when_both_inst_id_and_code_then_code_wins(fake: FakeOkx) -> None:
    with raw_socket(fake) as ws:
        answer = send_op(ws, "order", [{**limit_leg(), "instId": ETH_ID}])
    assert answer["code"] == "0"
    assert [o["instId"] for o in fake.open_orders(KEY)] == [BTC_ID]


def test_order_op_when_inst_id_code_unknown_then_leg_refused_with_51001(fake: FakeOkx) -> None:
    with raw_socket(fake) as ws:
        answer = send_op(ws, "order", [{**limit_leg(), "instIdCode": 1}])
    assert answer["code"] == "1" and answer["data"][0]["sCode"] == "51001"
    assert fake.open_orders(KEY) == []


@pytest.mark.parametrize(("leg", "s_code"), [
    (limit_leg(sz="0.015"), "51121"),  # not a multiple of the lot size
    (limit_leg(px="49000.05"), "51000"),  # off the tick
    ({**limit_leg(), "side": "hold"}, "51000"),
    (limit_leg(reduceOnly=True), "51169"),  # nothing to reduce
])
def test_order_op_when_invalid_then_same_scode_as_the_rest_endpoint(fake: FakeOkx, leg: dict[str, Any],
                                                                    s_code: str) -> None:
    rest_leg = {**{k: v for k, v in leg.items() if k != "instIdCode"}, "instId": BTC_ID}
    over_rest = rest(fake, "POST", "/api/v5/trade/order", rest_leg)
    with raw_socket(fake) as ws:
        over_ws = send_op(ws, "order", [leg])
    assert over_ws["code"] == over_rest["code"] == "1"
    assert over_ws["data"][0]["sCode"] == over_rest["data"][0]["sCode"] == s_code
    assert over_ws["data"][0]["sMsg"] == over_rest["data"][0]["sMsg"]
    assert over_ws["msg"] == ""  # the text is per leg; REST says "All operations failed"


def test_batch_orders_when_one_leg_invalid_then_code_2_and_only_valid_leg_placed(fake: FakeOkx) -> None:
    with raw_socket(fake) as ws:
        answer = send_op(ws, "batch-orders", [limit_leg(clOrdId="good"), limit_leg(sz="-1", clOrdId="bad")])
    assert answer["code"] == "2" and answer["msg"] == ""
    assert [(d["clOrdId"], d["sCode"]) for d in answer["data"]] == [("good", "0"), ("bad", "51000")]
    assert [o["clOrdId"] for o in fake.open_orders(KEY)] == ["good"]


def test_amend_and_cancel_ops_when_sent_then_rest_book_follows(fake: FakeOkx) -> None:
    code = inst_id_code(BTC_ID)
    with raw_socket(fake) as ws:
        placed = send_op(ws, "batch-orders", [limit_leg(clOrdId="a"), limit_leg(clOrdId="b"), limit_leg(clOrdId="c")])
        a, b, c = (d["ordId"] for d in placed["data"])
        amended = send_op(ws, "amend-order", [{"instIdCode": code, "ordId": a, "newSz": "3", "reqId": "r1"}], "2")
        batch_amended = send_op(ws, "batch-amend-orders", [{"instIdCode": code, "ordId": b, "newPx": "48000"},
                                                           {"instIdCode": code, "ordId": "404", "newPx": "1"}], "3")
        cancelled = send_op(ws, "cancel-order", [{"instIdCode": code, "clOrdId": "c"}], "4")
        batch_cancelled = send_op(ws, "batch-cancel-orders", [{"instId": BTC_ID, "ordId": a},
                                                              {"instIdCode": code, "ordId": b}], "5")
    assert (amended["code"], amended["data"][0]["reqId"]) == ("0", "r1")
    assert [d["sCode"] for d in batch_amended["data"]] == ["0", "51503"] and batch_amended["code"] == "2"
    assert cancelled["code"] == "0" and cancelled["data"][0]["ordId"] == c
    assert batch_cancelled["code"] == "0"
    history = rest(fake, "GET", "/api/v5/trade/orders-history?instType=SWAP")["data"]
    assert {(o["ordId"], o["state"], o["sz"], o["px"]) for o in history} == {
        (a, "canceled", "3", "49000"), (b, "canceled", "1", "48000"), (c, "canceled", "1", "49000")}


@pytest.mark.parametrize(("op", "args"), [
    ("order", [limit_leg(), limit_leg()]),  # a single op takes one arg
    ("order", []),
    ("cancel-order", ["not an object"]),
    ("batch-orders", {"instId": BTC_ID}),
])
def test_order_op_when_args_malformed_then_60013_with_id_and_nothing_placed(fake: FakeOkx, op: str,
                                                                           args: Any) -> None:
    with raw_socket(fake) as ws:
        answer = send_op(ws, op, args, "m1")
    assert {k: answer[k] for k in ("id", "op", "code", "msg", "data")} == {
        "id": "m1", "op": op, "code": "60013", "msg": "Invalid args", "data": []}
    assert fake.open_orders(KEY) == []


def test_order_op_when_sent_on_business_or_public_then_60028(fake: FakeOkx) -> None:
    with raw_socket(fake, "business") as ws:
        on_business = send_op(ws, "order", [limit_leg()], "b1")
    with raw_socket(fake, "public") as ws:
        on_public = send_op(ws, "batch-orders", [limit_leg()], "p1")
    assert on_business["code"] == on_public["code"] == "60028"
    assert fake.open_orders(KEY) == []


@pytest.mark.parametrize("endpoint", ["private", "business"])
def test_mass_cancel_when_options_or_not_then_result_or_51000(fake: FakeOkx, endpoint: str) -> None:
    with raw_socket(fake, endpoint) as ws:
        options = send_op(ws, "mass-cancel", [{"instType": "OPTION", "instFamily": "BTC-USD"}], "o")
        swaps = send_op(ws, "mass-cancel", [{"instType": "SWAP", "instFamily": "BTC-USDT"}], "s")
    assert (options["code"], options["data"]) == ("0", [{"result": True}])
    assert (swaps["code"], swaps["msg"], swaps["data"]) == ("51000", "Parameter instType error", [])


def test_op_when_unknown_then_60019(fake: FakeOkx) -> None:
    with raw_socket(fake) as ws:
        ws.send(json.dumps({"id": "1", "op": "sprd-order", "args": [{}]}))
        answer = recv(ws)
    assert (answer["event"], answer["code"], answer["msg"]) == ("error", "60019", "Invalid op: sprd-order")


def test_scripted_reply_when_set_then_next_op_answered_with_it_and_not_executed(fake: FakeOkx) -> None:
    ws_hub(fake).script_reply(lambda request: {"id": request["id"], "op": request["op"], "code": "1", "msg": "",
                                               "data": [{"sCode": "50027", "sMsg": "blocked"}]})
    with raw_socket(fake) as ws:
        scripted = send_op(ws, "order", [limit_leg()], "s1")
        real = send_op(ws, "order", [limit_leg()], "s2")
    assert scripted["data"] == [{"sCode": "50027", "sMsg": "blocked"}]
    assert real["code"] == "0" and len(fake.open_orders(KEY)) == 1
    assert [m["id"] for m in ws_order_frames(fake)] == ["s1", "s2"]  # both reached the venue


# ---- channels -------------------------------------------------------------------------------------------


def test_subscribe_when_private_channel_before_login_or_on_wrong_url_then_60011_or_60018(fake: FakeOkx) -> None:
    with raw_socket(fake, login=False) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}))
        before_login = recv(ws)
    with raw_socket(fake, "public") as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "positions", "instType": "ANY"}]}))
        on_public = recv(ws)
    with raw_socket(fake) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "ANY"}]}))
        algo_on_private = recv(ws)
    assert (before_login["event"], before_login["code"]) == ("error", "60011")
    assert (on_public["code"], algo_on_private["code"]) == ("60018", "60018")


def test_subscribe_when_accepted_then_acknowledged_and_snapshots_follow(fake: FakeOkx) -> None:
    fake.set_position(KEY, ETH_ID, Decimal("-3"))
    args = [{"channel": "orders", "instType": "ANY"}, {"channel": "positions", "instType": "SWAP"},
            {"channel": "account"}, {"channel": "balance_and_position"}]
    with raw_socket(fake) as ws:
        ws.send(json.dumps({"id": "sub1", "op": "subscribe", "args": args}))
        frames = [recv(ws) for _ in range(7)]
    acks = [f for f in frames if f.get("event") == "subscribe"]
    assert [a["arg"] for a in acks] == args and all(a["id"] == "sub1" for a in acks)
    pushes = {f["arg"]["channel"]: f for f in frames if "data" in f}
    assert set(pushes) == {"positions", "account", "balance_and_position"}  # orders: events only
    (position,) = pushes["positions"]["data"]
    assert (position["instId"], position["pos"], position["posSide"]) == (ETH_ID, "-3", "net")
    assert pushes["positions"]["arg"]["uid"]
    assert pushes["account"]["data"][0]["totalEq"] == "100000"
    snapshot = pushes["balance_and_position"]["data"][0]
    assert snapshot["eventType"] == "snapshot" and snapshot["posData"][0]["pos"] == "-3"


def test_rest_fill_when_streams_subscribed_then_orders_positions_and_balance_pushed(fake: FakeOkx) -> None:
    args = [{"channel": "orders", "instType": "SWAP", "instId": BTC_ID}, {"channel": "positions", "instType": "ANY"},
            {"channel": "balance_and_position"}, {"channel": "account"}]
    with raw_socket(fake) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": args}))
        for _ in range(7):
            recv(ws)
        rest(fake, "POST", "/api/v5/trade/order", {"instId": BTC_ID, "tdMode": "cross", "side": "sell",
                                                   "ordType": "market", "sz": "2"})
        live = recv_until(ws, is_push("orders"))["data"][0]
        filled = recv_until(ws, is_push("orders"))["data"][0]
        position = recv_until(ws, is_push("positions"))["data"][0]
        balance_and_position = recv_until(ws, is_push("balance_and_position"))["data"][0]
        account = recv_until(ws, is_push("account"))["data"][0]
    assert (live["state"], live["fillSz"], live["accFillSz"], live["tradeId"]) == ("live", "0", "0", "")
    assert (filled["state"], filled["fillSz"], filled["accFillSz"], filled["fillPx"]) == ("filled", "2", "2", "50000")
    assert filled["tradeId"] and filled["execType"] == "T" and filled["ordId"] == live["ordId"]
    assert (position["instId"], position["pos"], position["posSide"], position["avgPx"]) == (BTC_ID, "-2", "net",
                                                                                           "50000")
    assert balance_and_position["eventType"] == "filled"
    assert balance_and_position["trades"] == [{"instId": BTC_ID, "tradeId": filled["tradeId"]}]
    assert account["totalEq"] == "100000"


def test_orders_push_when_subscription_filtered_then_other_instruments_not_pushed(fake: FakeOkx) -> None:
    with raw_socket(fake) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "SWAP", "instId": ETH_ID}]}))
        recv(ws)
        send_op(ws, "order", [limit_leg()], "btc")
        send_op(ws, "order", [{**limit_leg(), "instIdCode": inst_id_code(ETH_ID), "px": "2900"}], "eth")
        pushed = recv_until(ws, is_push("orders"))
    assert pushed["data"][0]["instId"] == ETH_ID


def test_position_when_closed_then_zero_position_pushed(fake: FakeOkx) -> None:
    fake.set_position(KEY, BTC_ID, Decimal("1"))
    with raw_socket(fake) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "positions", "instType": "ANY"}]}))
        recv(ws)
        assert recv(ws)["data"][0]["pos"] == "1"
        send_op(ws, "order", [{**limit_leg(), "side": "sell", "ordType": "market", "reduceOnly": True}])
        closed = recv_until(ws, is_push("positions"))
    assert (closed["data"][0]["pos"], closed["data"][0]["instId"]) == ("0", BTC_ID)


def test_algo_order_when_placed_and_cancelled_over_rest_then_pushed_on_business(fake: FakeOkx) -> None:
    with raw_socket(fake, "business") as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders-algo", "instType": "SWAP"}]}))
        recv(ws)
        placed = rest(fake, "POST", "/api/v5/trade/order-algo", {
            "instId": BTC_ID, "tdMode": "cross", "side": "sell", "ordType": "conditional", "sz": "1",
            "slTriggerPx": "45000", "slOrdPx": "-1"})
        algo_id = placed["data"][0]["algoId"]
        live = recv_until(ws, is_push("orders-algo"))["data"][0]
        rest(fake, "POST", "/api/v5/trade/cancel-algos", [{"instId": BTC_ID, "algoId": algo_id}])
        cancelled = recv_until(ws, is_push("orders-algo"))["data"][0]
    assert (live["algoId"], live["state"], live["slTriggerPx"]) == (algo_id, "live", "45000")
    assert cancelled["state"] == "canceled"


def test_public_subscribe_when_tickers_and_mark_price_then_burst_then_push_per_mark_change(fake: FakeOkx) -> None:
    with raw_socket(fake, "public", login=False) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "tickers", "instId": BTC_ID},
                                                        {"channel": "mark-price", "instId": BTC_ID}]}))
        frames = [recv(ws) for _ in range(2 + 2 * PUBLIC_BURST)]
        fake.set_mark_price(BTC_ID, Decimal("51000.5"))
        moved = [recv(ws) for _ in range(2)]
    assert [f["event"] for f in frames if "event" in f] == ["subscribe", "subscribe"]
    assert len([f for f in frames if is_push("tickers")(f)]) == PUBLIC_BURST
    assert {f["arg"]["channel"]: f["data"][0] for f in moved}["mark-price"]["markPx"] == "51000.5"
    assert {f["arg"]["channel"]: f["data"][0] for f in moved}["tickers"]["last"] == "51000.5"
    assert "uid" not in moved[0]["arg"]


def test_unsubscribe_when_acknowledged_then_no_more_pushes(fake: FakeOkx) -> None:
    arg = {"channel": "orders", "instType": "ANY"}
    with raw_socket(fake) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [arg]}))
        recv(ws)
        ws.send(json.dumps({"op": "unsubscribe", "args": [arg]}))
        assert recv(ws) == {"event": "unsubscribe", "arg": arg, "connId": ws_hub(fake).sessions()[0].conn_id}
        answer = send_op(ws, "order", [limit_leg()])
        ws.send("ping")
        after = ws.recv(timeout=WAIT_S)
    assert answer["code"] == "0" and after == "pong"  # no orders push came in between


def test_disconnect_all_when_called_then_client_sees_close_and_session_forgotten(fake: FakeOkx) -> None:
    with raw_socket(fake) as ws:
        assert ws_hub(fake).disconnect_all(1012) == 1
        with pytest.raises(Exception, match="1012"):
            ws.recv(timeout=WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while ws_hub(fake).sessions() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ws_hub(fake).sessions() == []


# ---- ccxt.pro okx, straight to the fake -----------------------------------------------------------------


def test_ccxt_create_edit_cancel_ws_when_direct_then_frames_carry_inst_id_code_and_rest_book_follows(
        fake: FakeOkx) -> None:
    async def scenario() -> tuple[Any, Any, Any, Any]:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            created = await bot.create_order_ws(BTC, "limit", "buy", 2, 49000)
            resting = fake.open_orders(KEY)
            edited = await bot.edit_order_ws(created["id"], BTC, "limit", "buy", 3, 48500)
            cancelled = await bot.cancel_order_ws(created["id"], BTC)
            single = await bot.create_order_ws(BTC, "limit", "buy", 1, 49000, {"op": "order"})
            return created, resting, (edited, cancelled), single
        finally:
            await bot.close()

    created, resting, (edited, cancelled), single = run(scenario())
    login, create, amend, cancel, single_op = ws_messages(fake)
    assert login["op"] == "login" and isinstance(login["args"][0]["timestamp"], str)  # seconds, as a string
    code = inst_id_code(BTC_ID)
    assert create["op"] == "batch-orders" and isinstance(create["id"], str) and create["id"].isdigit()
    assert create["args"] == [{"side": "buy", "ordType": "limit", "sz": "2", "tdMode": "cross", "px": "49000",
                               "clOrdId": create["args"][0]["clOrdId"], "tag": "6b9ad766b55dBCDE",
                               "instIdCode": code}]
    assert amend == {"id": amend["id"], "op": "amend-order",
                     "args": [{"ordId": created["id"], "newSz": "3", "newPx": "48500", "instIdCode": code}]}
    assert cancel == {"id": cancel["id"], "op": "cancel-order", "args": [{"instIdCode": code, "ordId": created["id"]}]}
    assert single_op["op"] == "order"
    assert [(o["ordId"], o["sz"], o["px"]) for o in resting] == [(created["id"], "2", "49000")]
    assert edited["id"] == cancelled["id"] == created["id"]
    assert [o["ordId"] for o in fake.open_orders(KEY)] == [single["id"]]


def test_ccxt_streams_when_resting_order_filled_by_fake_then_orders_trades_and_positions_report_it(
        fake: FakeOkx) -> None:
    async def scenario() -> tuple[Any, ...]:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            flat = await bot.watch_positions()  # the subscription's snapshot
            live = asyncio.ensure_future(bot.watch_orders())
            await until_subscribed(fake, "orders")
            order = await bot.create_order_ws(BTC, "limit", "buy", 2, 49000)
            first = statuses(await asyncio.wait_for(live, WAIT_S))  # the order went live
            orders = asyncio.ensure_future(bot.watch_orders())
            trades = asyncio.ensure_future(bot.watch_my_trades())
            positions = asyncio.ensure_future(bot.watch_positions())
            balance = await bot.watch_balance()
            await until_watching(bot, "orders", "orders::myTrades", "positions")
            fake.fill_order(order["id"])
            done = await asyncio.wait_for(asyncio.gather(orders, trades, positions), WAIT_S)
            return flat, order, first, balance, *done
        finally:
            await bot.close()

    flat, order, first, balance, orders, trades, positions = run(scenario())
    assert flat == []
    assert first == [(order["id"], "open", 0.0)]
    assert [(o["id"], o["status"], o["filled"], o["average"]) for o in orders] == [(order["id"], "closed", 2.0,
                                                                                   49000.0)]
    assert [(t["order"], t["amount"], t["price"], t["side"]) for t in trades] == [(order["id"], 2.0, 49000.0, "buy")]
    assert [(p["symbol"], p["contracts"], p["side"], p["entryPrice"]) for p in positions] == [(BTC, 2.0, "long",
                                                                                              49000.0)]
    assert balance["USDT"]["total"] == 100000.0
    channels = [a["channel"] for m in ws_messages(fake) if m.get("op") == "subscribe" for a in m["args"]]
    assert sorted(channels) == ["account", "orders", "orders", "positions"]  # watchMyTrades re-subscribes orders


def test_ccxt_cancel_orders_ws_when_batch_cancel_then_venue_cancels_but_ccxt_4_5_64_never_resolves(
        fake: FakeOkx) -> None:
    async def scenario() -> tuple[list[str], bool]:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            ids = [(await bot.create_order_ws(BTC, "limit", "buy", 1, 49000))["id"] for _ in range(2)]
            try:
                await asyncio.wait_for(bot.cancel_orders_ws(ids, BTC), 1.0)
            except TimeoutError:
                return ids, True  # ccxt's handle_message has no method for the op "batch-cancel-orders"
            return ids, False
        finally:
            await bot.close()

    ids, timed_out = run(scenario())
    frame = ws_order_frames(fake)[-1]
    assert frame["op"] == "batch-cancel-orders"
    assert frame["args"] == [{"instIdCode": inst_id_code(BTC_ID), "ordId": i} for i in ids]
    assert timed_out and fake.open_orders(KEY) == []


def test_ccxt_create_order_ws_when_fake_refuses_then_exception_from_scode(fake: FakeOkx) -> None:
    async def scenario() -> None:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            await bot.create_order_ws(BTC, "limit", "buy", 1, 49000, {"clOrdId": "dup1"})
            with pytest.raises(ccxt.InvalidOrder, match="51016"):  # the fake's own refusal, as over REST
                await bot.create_order_ws(BTC, "limit", "buy", 1, 49000, {"clOrdId": "dup1"})
        finally:
            await bot.close()

    run(scenario())
    assert len(fake.open_orders(KEY)) == 1


def test_ccxt_login_when_secret_wrong_then_authentication_error(fake: FakeOkx) -> None:
    async def scenario() -> None:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            await bot.load_markets()  # REST with the right secret; the socket login signs with the wrong one
            bot.secret = "not-the-secret"
            with pytest.raises(ccxt.AuthenticationError, match="60007"):
                await bot.create_order_ws(BTC, "limit", "buy", 1, 49000)
        finally:
            await bot.close()

    run(scenario())
    assert ws_order_frames(fake) == [] and fake.open_orders(KEY) == []


def test_ccxt_watch_mark_price_when_public_socket_then_mark_from_fake(fake: FakeOkx) -> None:
    fake.set_mark_price(BTC_ID, Decimal("50123.4"))

    async def scenario() -> Any:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            await bot.load_markets()  # ccxt 4.5.64's watch_mark_price reads the market before loading markets
            return await bot.watch_mark_price(BTC)
        finally:
            await bot.close()

    ticker = run(scenario())
    assert ticker["symbol"] == BTC and ticker["markPrice"] == 50123.4
    # ccxt opens every socket with a text "ping" (its keepAlive loop starts at once), then subscribes
    assert [(f.path, f.text[:5]) for f in fake.ws_frames] == [("/ws/v5/public", "ping"), ("/ws/v5/public", '{"op"')]


# ---- what ccxt does with the error envelopes a firewall would send (measured) ----------------------------

# sCode in `{"id","op","code":"1","msg":"","data":[{"sCode":...}]}` -> ccxt 4.5.64's exception
CCXT_SCODE_TABLE: dict[str, type[Exception]] = {
    "51004": ccxt.InvalidOrder,
    "51001": ccxt.BadSymbol,
    "50027": ccxt.PermissionDenied,
    "51000": ccxt.BadRequest,
    "50011": ccxt.RateLimitExceeded,
    "51203": ccxt.InvalidOrder,
    "51006": ccxt.InvalidOrder,
    "51008": ccxt.InsufficientFunds,
}


def refusal(s_code: str, *, msg: str = "", code: str = "1", with_id: bool = True
            ) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The envelope a firewall answers a blocked order op with (one data entry per leg, echoing the ids)."""

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        now = str(int(time.time() * 1_000_000))
        frame = {"op": request["op"], "code": code, "msg": msg,
                 "data": [{"clOrdId": str(leg.get("clOrdId", "")), "ordId": "", "sCode": s_code,
                           "sMsg": "Risk firewall: blocked", "tag": str(leg.get("tag", "")), "ts": now[:13]}
                          for leg in request["args"]], "inTime": now, "outTime": now}
        return {"id": request["id"], **frame} if with_id else frame

    return reply


async def _ccxt_outcome(bot: Any, fake: FakeOkx, reply: Any) -> type[Exception] | None:
    ws_hub(fake).script_reply(reply)
    try:
        await bot.create_order_ws(BTC, "limit", "buy", 1, 49000)
    except ccxt.BaseError as error:
        return type(error)
    return None


def test_ccxt_create_order_ws_when_venue_refuses_with_scode_then_exception_follows_the_exact_map(
        fake: FakeOkx) -> None:
    async def scenario() -> dict[str, type[Exception] | None]:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            return {s_code: await _ccxt_outcome(bot, fake, refusal(s_code)) for s_code in CCXT_SCODE_TABLE}
        finally:
            await bot.close()

    assert run(scenario()) == CCXT_SCODE_TABLE
    assert fake.open_orders(KEY) == []


@pytest.mark.parametrize(("reply", "expected"), [
    (refusal("51004", msg="Risk firewall: blocked"), ccxt.ExchangeError),  # a msg is only broad-matched
    (refusal("51004", msg="All operations failed"), ccxt.ExchangeError),
    (refusal("51004", code="2"), ccxt.ExchangeError),  # "2" is in the exact map (ExchangeError) and wins
    (lambda r: {"event": "error", "code": "60012", "msg": "Illegal request: " + json.dumps(r), "connId": "x"},
     ccxt.BadRequest),  # ccxt digs the id out of the echoed request
    (lambda r: {"id": r["id"], "op": r["op"], "code": "60013", "msg": "Invalid args", "data": []}, ccxt.BadRequest),
])
def test_ccxt_create_order_ws_when_envelope_variant_then_exception_class(fake: FakeOkx, reply: Any,
                                                                        expected: type[Exception]) -> None:
    async def scenario() -> tuple[type[Exception] | None, bool]:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            outcome = await _ccxt_outcome(bot, fake, reply)
            await bot.create_order_ws(BTC, "limit", "buy", 1, 49000)  # the socket is still usable
            return outcome, True
        finally:
            await bot.close()

    outcome, usable = run(scenario())
    assert outcome is expected and usable
    assert len(fake.open_orders(KEY)) == 1


def test_ccxt_error_envelope_when_id_missing_then_every_pending_call_fails_and_later_private_calls_hang(
        fake: FakeOkx) -> None:
    async def scenario() -> tuple[Any, Any, bool]:
        bot = direct_okx_pro(fake.base_url, **CREDS)
        try:
            watcher = asyncio.ensure_future(bot.watch_orders())
            await asyncio.sleep(0.2)
            outcome = await _ccxt_outcome(bot, fake, refusal("51004", with_id=False))
            await asyncio.sleep(0.05)
            watcher_error = type(watcher.exception()) if watcher.done() else None
            try:
                await asyncio.wait_for(bot.create_order_ws(BTC, "limit", "buy", 1, 49000), 1.0)
            except TimeoutError:
                return outcome, watcher_error, True
            return outcome, watcher_error, False
        finally:
            await bot.close()

    outcome, watcher_error, hung = run(scenario())
    # ccxt rejects every future on the socket: the order, the concurrent watchOrders, and the resolved login
    # future, so the next private call waits for a login answer it never asks for again
    assert outcome is ccxt.InvalidOrder and watcher_error is ccxt.InvalidOrder and hung
    assert len(ws_order_frames(fake)) == 1  # the next order never left the client


# ---- python-okx WsPrivateAsync, straight to the fake --------------------------------------------------


class Inbox:
    """Collects what python-okx's callback receives (raw text) and waits, bounded, for a matching frame."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, text: str) -> None:
        self.texts.append(text)

    def parsed(self) -> list[Any]:
        return [json.loads(t) for t in self.texts]

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.parsed():
                if isinstance(message, dict) and predicate(message):
                    return message
            await asyncio.sleep(0.01)
        raise AssertionError(f"no matching frame among {self.texts}")


async def started(client: WsPrivateAsync) -> tuple[Inbox, asyncio.Task[Any]]:
    inbox = Inbox()
    client.callback = inbox
    task = await client.start()
    await client.login()
    await inbox.wait_for(lambda m: m.get("event") == "login")
    return inbox, task


async def stopped(client: WsPrivateAsync, task: asyncio.Task[Any]) -> None:
    await client.stop()
    with suppress(Exception):
        await asyncio.wait_for(task, WAIT_S)


def test_sdk_factory_when_ws_url_untouched_then_connect_fails_without_raising(fake: FakeOkx) -> None:
    async def scenario() -> tuple[Any, BaseException | None]:
        client = WsPrivateAsync(apiKey=KEY, passphrase=PASSPHRASE, secretKey=SECRET, url=ws_url(fake))
        task = await client.start()  # python-okx passes ssl= for ws://: websockets refuses, the factory logs it
        with suppress(Exception):
            await asyncio.wait_for(task, WAIT_S)
        return client.websocket, task.exception()

    websocket, consume_error = run(scenario())
    assert websocket is None and isinstance(consume_error, TypeError)
    assert fake.ws_frames == []


def test_sdk_order_ops_when_direct_then_frames_and_answers_match_okx(fake: FakeOkx) -> None:
    code = inst_id_code(BTC_ID)

    async def scenario() -> Inbox:
        client = direct_ws_sdk(ws_url(fake), **CREDS)
        inbox, task = await started(client)
        try:
            await client.place_order([{"instId": BTC_ID, "tdMode": "cross", "side": "buy", "ordType": "limit",
                                       "sz": "1", "px": "49000", "clOrdId": "p1"}], id="1")
            await client.batch_orders([limit_leg(clOrdId="p2"), limit_leg(clOrdId="p3")], id="2")
            placed = await inbox.wait_for(lambda m: m.get("id") == "2")
            p2, p3 = (d["ordId"] for d in placed["data"])
            await client.amend_order([{"instIdCode": code, "clOrdId": "p1", "newSz": "2"}], id="3")
            await client.cancel_order([{"instIdCode": code, "ordId": p2}], id="4")
            await client.batch_cancel_orders([{"instIdCode": code, "ordId": p3}, {"instIdCode": code,
                                                                                 "clOrdId": "p1"}], id="5")
            await client.mass_cancel([{"instType": "OPTION", "instFamily": "BTC-USD"}], id="6")
            await inbox.wait_for(lambda m: m.get("id") == "6")
            return inbox
        finally:
            await stopped(client, task)

    inbox = run(scenario())
    answers = {m["id"]: m for m in inbox.parsed() if "id" in m}
    assert [(answers[i]["op"], answers[i]["code"]) for i in "123456"] == [
        ("order", "0"), ("batch-orders", "0"), ("amend-order", "0"), ("cancel-order", "0"),
        ("batch-cancel-orders", "0"), ("mass-cancel", "0")]
    login, *ops = ws_messages(fake)
    assert isinstance(login["args"][0]["timestamp"], int)  # python-okx sends seconds as a JSON number
    assert [list(m) for m in ops] == [["op", "args", "id"]] * 6  # no instIdCode unless the caller gives one
    assert fake.open_orders(KEY) == []


def test_sdk_streams_when_resting_order_filled_by_fake_then_callback_gets_fill_and_position(fake: FakeOkx) -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        client = direct_ws_sdk(ws_url(fake), **CREDS)
        inbox, task = await started(client)
        try:
            await client.send("subscribe", [{"channel": "orders", "instType": "SWAP"},
                                            {"channel": "positions", "instType": "SWAP"}])
            await inbox.wait_for(is_push("positions"))
            await client.place_order([limit_leg()], id="1")
            ord_id = (await inbox.wait_for(lambda m: m.get("id") == "1"))["data"][0]["ordId"]
            fake.fill_order(ord_id, Decimal("48999.9"))
            fill = await inbox.wait_for(lambda m: is_push("orders")(m) and m["data"][0]["state"] == "filled")
            position = await inbox.wait_for(lambda m: is_push("positions")(m) and m["data"] != [])
            return fill["data"][0], position["data"][0]
        finally:
            await stopped(client, task)

    fill, position = run(scenario())
    assert (fill["fillSz"], fill["accFillSz"], fill["fillPx"], fill["execType"]) == ("1", "1", "48999.9", "M")
    assert (position["pos"], position["avgPx"]) == ("1", "48999.9")


def test_sdk_order_when_venue_refuses_then_callback_gets_the_raw_envelope_and_nothing_raises(fake: FakeOkx) -> None:
    async def scenario() -> tuple[list[str], str]:
        client = direct_ws_sdk(ws_url(fake), **CREDS)
        inbox, task = await started(client)
        try:
            envelope = json.dumps({"id": "1", "op": "order", "code": "1", "msg": "", "data": [
                {"clOrdId": "", "ordId": "", "sCode": "50027", "sMsg": "Risk firewall: trading halted", "tag": ""}]})
            ws_hub(fake).script_reply(envelope)
            await client.place_order([limit_leg()], id="1")
            await inbox.wait_for(lambda m: m.get("id") == "1")
            return inbox.texts, envelope
        finally:
            await stopped(client, task)

    texts, envelope = run(scenario())
    assert texts[-1] == envelope  # exactly the text the venue sent, unparsed
    assert fake.open_orders(KEY) == []


@pytest.mark.parametrize(("close_code", "reported"), [(1011, True), (1000, False)])
def test_sdk_when_venue_closes_socket_then_callback_told_only_of_an_abnormal_close(
        fake: FakeOkx, close_code: int, reported: bool) -> None:
    async def scenario() -> tuple[list[Any], BaseException | None]:
        client = direct_ws_sdk(ws_url(fake), **CREDS)
        inbox, task = await started(client)
        ws_hub(fake).disconnect_all(close_code)
        with suppress(Exception):
            await asyncio.wait_for(task, WAIT_S)
        await client.stop()
        return inbox.parsed(), task.exception()

    received, consume_error = run(scenario())
    closed = [m for m in received if m.get("code") == "ConnClosed"]
    assert [(m["event"], str(close_code) in m["msg"]) for m in closed] == ([("error", True)] if reported else [])
    assert (type(consume_error).__name__ == "ConnectionClosedError") is reported  # consume() re-raises it


def test_sdk_subscribe_when_called_then_logs_in_again_waits_and_subscribes(fake: FakeOkx) -> None:
    async def scenario() -> dict[str, Any]:
        client = direct_ws_sdk(ws_url(fake), **CREDS)
        inbox = Inbox()
        task = await client.start()
        try:
            await client.subscribe([{"channel": "account"}], inbox)  # sends login, sleeps 5 s, subscribes
            return await inbox.wait_for(is_push("account"))
        finally:
            await stopped(client, task)

    started_at = time.monotonic()
    account = run(scenario())
    assert time.monotonic() - started_at >= 5
    assert account["data"][0]["totalEq"] == "100000"
    assert [m["op"] for m in ws_messages(fake)] == ["login", "subscribe"]


def test_sdk_when_wss_fake_and_ca_given_then_connects_and_trades(pki: TlsMaterial) -> None:
    with FakeOkx(tls=pki.server_ssl_context()) as fake:
        url = ws_url(fake)

        async def scenario() -> dict[str, Any]:
            client = direct_ws_sdk(url, ca_file=pki.ca_cert, **CREDS)
            inbox, task = await started(client)
            try:
                await client.place_order([limit_leg()], id="1")
                return await inbox.wait_for(lambda m: m.get("id") == "1")
            finally:
                await stopped(client, task)

        answer = run(scenario())
    assert url.startswith("wss://") and answer["code"] == "0"


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
def tls_fake(pki: TlsMaterial) -> Iterator[FakeOkx]:
    with FakeOkx(tls=pki.server_ssl_context()) as venue:
        yield venue
    assert venue.internal_errors == []


@pytest.fixture(scope="module")
def explicit_proxy(tmp_path_factory: pytest.TempPathFactory, pki: TlsMaterial) -> Iterator[Mitmdump]:
    proxy = start_mitmdump(tmp_path_factory.mktemp("mitm-regular"), "regular", pki.ca_cert)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def reverse_proxy(tmp_path_factory: pytest.TempPathFactory, pki: TlsMaterial,
                  tls_fake: FakeOkx) -> Iterator[Mitmdump]:
    proxy = start_mitmdump(tmp_path_factory.mktemp("mitm-reverse"), f"reverse:{tls_fake.base_url}", pki.ca_cert)
    yield proxy
    proxy.stop()


@pytest.fixture
def venue(tls_fake: FakeOkx) -> FakeOkx:
    tls_fake.reset()
    tls_fake.ws_frames.clear()
    return tls_fake


async def _ccxt_round_trip(bot: Any, venue: FakeOkx) -> tuple[list[tuple[str, str, float]], Any]:
    try:
        live = asyncio.ensure_future(bot.watch_orders())
        await until_subscribed(venue, "orders")
        order = await bot.create_order_ws(BTC, "limit", "buy", 2, 49000)
        first = statuses(await asyncio.wait_for(live, WAIT_S))
        pending = asyncio.ensure_future(bot.watch_orders())
        await until_watching(bot, "orders")
        venue.fill_order(order["id"])
        filled = statuses(await asyncio.wait_for(pending, WAIT_S))
        return first + filled, order
    finally:
        await bot.close()


async def _sdk_round_trip(client: WsPrivateAsync, venue: FakeOkx) -> dict[str, Any]:
    inbox, task = await started(client)
    try:
        await client.send("subscribe", [{"channel": "orders", "instType": "ANY"}])
        await inbox.wait_for(lambda m: m.get("event") == "subscribe")
        await client.place_order([limit_leg()], id="1")
        ord_id = (await inbox.wait_for(lambda m: m.get("id") == "1"))["data"][0]["ordId"]
        venue.fill_order(ord_id)
        return await inbox.wait_for(lambda m: is_push("orders")(m) and m["data"][0]["state"] == "filled")
    finally:
        await stopped(client, task)


def _assert_ccxt_trip(venue: FakeOkx, orders: list[tuple[str, str, float]], order: Any) -> None:
    assert orders == [(order["id"], "open", 0.0), (order["id"], "closed", 2.0)]
    assert [m["op"] for m in ws_order_frames(venue)] == ["batch-orders"]
    assert {f.path for f in venue.ws_frames} == {"/ws/v5/private"}
    assert any(r.path == "/api/v5/public/instruments" for r in venue.requests)  # REST went the same way


def test_ccxt_pro_when_through_explicit_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeOkx, explicit_proxy: Mitmdump) -> None:
    # the bot trusts only mitmproxy's CA (ccxt's cafile replaces certifi) while the venue's certificate is from
    # the test CA: the order can only have worked through the proxy
    bot_factory = lambda: proxied_okx_pro(venue.base_url, explicit_proxy.url, explicit_proxy.ca_cert, **CREDS)  # noqa: E731
    orders, order = run(_ccxt_round_trip(bot_factory(), venue))
    _assert_ccxt_trip(venue, orders, order)


def test_ccxt_pro_when_through_reverse_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeOkx, reverse_proxy: Mitmdump) -> None:
    orders, order = run(_ccxt_round_trip(reverse_okx_pro(reverse_proxy.url, **CREDS), venue))
    _assert_ccxt_trip(venue, orders, order)


def test_sdk_when_through_explicit_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeOkx, explicit_proxy: Mitmdump) -> None:
    async def scenario() -> dict[str, Any]:
        client = proxied_ws_sdk(ws_url(venue), explicit_proxy.url, explicit_proxy.ca_cert, **CREDS)
        return await _sdk_round_trip(client, venue)

    fill = run(scenario())
    assert fill["data"][0]["accFillSz"] == "1"
    assert [m["op"] for m in ws_messages(venue)] == ["login", "subscribe", "order"]


def test_sdk_when_through_reverse_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeOkx, reverse_proxy: Mitmdump) -> None:
    async def scenario() -> dict[str, Any]:
        client = reverse_ws_sdk(f"ws://127.0.0.1:{reverse_proxy.port}/ws/v5/private", **CREDS)
        return await _sdk_round_trip(client, venue)

    fill = run(scenario())
    assert fill["data"][0]["accFillSz"] == "1"
    assert [m["op"] for m in ws_messages(venue)] == ["login", "subscribe", "order"]


def test_rest_order_when_placed_by_sync_ccxt_then_ws_subscriber_sees_it(fake: FakeOkx) -> None:
    with raw_socket(fake) as ws:
        ws.send(json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}))
        recv(ws)
        bot = make_okx(fake.base_url, api_key=KEY, secret=SECRET, passphrase=PASSPHRASE)
        order = bot.create_order(BTC, "limit", "sell", 1, 51000)
        pushed = recv_until(ws, is_push("orders"))["data"][0]
    assert (pushed["ordId"], pushed["state"], pushed["side"], pushed["px"]) == (order["id"], "live", "sell", "51000")
