"""The fake Binance USDⓈ-M WebSocket API and user-data streams, driven by hand-built frames, by the real ccxt.pro
binanceusdm and by the official SDK (WebSocket API and streams clients), directly and through a bare mitmproxy
(explicit proxy with its CA, and a reverse listener).

These tests pin what the firewall's WebSocket tests rely on: that the fake answers like Binance for every frame
those clients send (sharing the REST fake's book and validation, and streaming every order change and fill of
the account), that the wiring helpers in tests/support/binance_ws_bots.py work through an intercepting proxy,
and what each client does with the error frames a firewall will inject to block an order (which exception, and
whether other pending requests survive).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import ccxt
import pytest
from binance_sdk_derivatives_trading_usds_futures.websocket_api.models import (
    ModifyOrderSideEnum,
    NewAlgoOrderAlgoTypeEnum,
    NewAlgoOrderSideEnum,
    NewAlgoOrderTypeEnum,
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
)
from binance_sdk_derivatives_trading_usds_futures.websocket_streams.models import MarkPriceStreamUpdateSpeedEnum
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from tests.fakes.binance_usdm import (
    DEFAULT_ACCOUNTS,
    DEFAULT_MARK_PRICES,
    FakeBinanceUsdm,
    listen_key_for,
    sign_params,
)
from tests.fakes.binance_usdm_ws import (
    MARK_BURST,
    ORDER_METHODS,
    sign_ws_params,
    signature_payload,
    stream_url,
    ws_api_url,
    ws_base_url,
    ws_hub,
    ws_messages,
    ws_order_frames,
)
from tests.support.binance_ws_bots import (
    direct_binanceusdm_pro,
    direct_streams_sdk,
    direct_ws_api_sdk,
    ed25519_key_pair,
    make_ws_api_sdk,
    proxied_binanceusdm_pro,
    proxied_streams_sdk,
    proxied_ws_api_sdk,
    reverse_binanceusdm_pro,
    reverse_streams_sdk,
    reverse_ws_api_sdk,
    sdk_session_logon,
)
from tests.support.ccxt_bots import direct_bot
from tests.support.sidecar import free_port, wait_for_port
from tests.support.tls import TlsMaterial, make_test_pki
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

KEY, SECRET = next(iter(DEFAULT_ACCOUNTS.items()))
OTHER_KEY, OTHER_SECRET = "other-api-key", "other-api-secret"
BTC, BTC_ID = "BTC/USDT:USDT", "BTCUSDT"
WAIT_S = 5.0  # every wait for a frame is bounded by this
TEST_DEADLINE_S = 30.0
MITMDUMP = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "mitmdump"


# binance_common 4.5.1 passes a float `timeout` to aiohttp 3.14's ws_connect (deprecated there, still honoured)
pytestmark = pytest.mark.filterwarnings("ignore:parameter 'timeout' of type 'float':DeprecationWarning")


@pytest.fixture
def fake() -> Iterator[FakeBinanceUsdm]:
    with FakeBinanceUsdm() as venue:
        venue.add_account(OTHER_KEY, OTHER_SECRET)
        yield venue
    assert venue.internal_errors == []


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_test_pki(tmp_path_factory.mktemp("binance-ws-pki"))


@pytest.fixture(autouse=True)
def quiet_sdk_logging() -> Iterator[None]:
    """The SDK logs every frame (and every venue error) on the root logger; keep test output readable."""
    logging.disable(logging.ERROR)
    yield
    logging.disable(logging.NOTSET)


def run[T](coro: Awaitable[T], timeout: float = TEST_DEADLINE_S) -> T:
    """Run a test coroutine to completion, never longer than `timeout`."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


# ---- a hand-driven socket (what a client library would send, byte for byte) --------------------------------


def signed(params: dict[str, Any] | None = None, *, api_key: str = KEY, secret: str = SECRET,
           timestamp: int | None = None) -> dict[str, Any]:
    """`params` with `apiKey`, `timestamp` and the HMAC `signature`, as ccxt signs them."""
    full = {**(params or {}), "apiKey": api_key, "timestamp": timestamp or int(time.time() * 1000)}
    return sign_ws_params(full, secret)


@contextmanager
def api_socket(fake: FakeBinanceUsdm, query: str = "") -> Iterator[ClientConnection]:
    ws = ws_connect(ws_api_url(fake) + query, proxy=None, open_timeout=WAIT_S, close_timeout=1)
    with ws:
        yield ws


@contextmanager
def stream_socket(url: str) -> Iterator[ClientConnection]:
    ws = ws_connect(url, proxy=None, open_timeout=WAIT_S, close_timeout=1)
    with ws:
        yield ws


def recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=WAIT_S))
    return message


def request(ws: ClientConnection, method: str, params: Any = None, frame_id: Any = "1") -> dict[str, Any]:
    frame: dict[str, Any] = {"id": frame_id, "method": method}
    if params is not None:
        frame["params"] = params
    ws.send(json.dumps(frame))
    for _ in range(30):
        message = recv(ws)
        if message.get("id") == frame_id:
            return message
    raise AssertionError(f"no answer to {frame_id}")


def limit(price: str = "49000", quantity: str = "0.002", **extra: Any) -> dict[str, Any]:
    return {"symbol": BTC_ID, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": quantity,
            "price": price, **extra}


def rest(fake: FakeBinanceUsdm, method: str, path: str, params: dict[str, Any] | None = None,
         *, api_key: str = KEY, secret: str = SECRET) -> tuple[int, Any]:
    """A signed REST call (every parameter in the query string, as the official SDK sends them)."""
    query = urlencode({**(params or {}), "timestamp": int(time.time() * 1000)})
    query += "&signature=" + sign_params(query, "", secret)
    req = urllib.request.Request(f"{fake.base_url}{path}?{query}", method=method,
                                 headers={"X-MBX-APIKEY": api_key})
    try:
        with urllib.request.urlopen(req, timeout=WAIT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def events_until(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [recv(ws) for _ in range(count)]


# ---- the WebSocket API: orders share the REST book and its validation -----------------------------------


def test_order_place_when_signed_then_result_is_the_rest_order_and_rest_book_follows(fake: FakeBinanceUsdm) -> None:
    with api_socket(fake) as ws:
        answer = request(ws, "order.place", signed(limit(newClientOrderId="ws-1")), 7)
    assert (answer["id"], answer["status"]) == (7, 200)  # the id comes back with its JSON type
    result = answer["result"]
    status, polled = rest(fake, "GET", "/fapi/v1/order", {"symbol": BTC_ID, "orderId": result["orderId"]})
    assert status == 200 and polled == result  # the same object REST shows
    assert (result["clientOrderId"], result["status"], result["origQty"], result["price"]) == (
        "ws-1", "NEW", "0.002", "49000.00")
    limits = {(r["rateLimitType"], r["interval"], r["intervalNum"]): (r["limit"], r["count"])
              for r in answer["rateLimits"]}
    assert limits[("ORDERS", "SECOND", 10)] == (300, 1) and limits[("ORDERS", "MINUTE", 1)] == (1200, 1)
    assert limits[("REQUEST_WEIGHT", "MINUTE", 1)][0] == 2400


@pytest.mark.parametrize(("params", "code"), [
    (limit(quantity="0.0015"), -1111),  # not a multiple of the step
    (limit(price="49000.05"), -4014),  # off the tick
    ({**limit(), "side": "HOLD"}, -1117),
    ({k: v for k, v in limit().items() if k != "symbol"}, -1102),
    ({**limit(), "symbol": "NOPEUSDT"}, -1121),
    (limit(reduceOnly="true", type="MARKET", timeInForce=""), -2022),  # nothing to reduce
])
def test_order_place_when_invalid_then_same_code_msg_and_status_as_rest(fake: FakeBinanceUsdm, params: dict[str, Any],
                                                                        code: int) -> None:
    rest_status, rest_body = rest(fake, "POST", "/fapi/v1/order", params)
    with api_socket(fake) as ws:
        answer = request(ws, "order.place", signed(params))
    assert rest_body["code"] == code
    assert (answer["status"], answer["error"]) == (rest_status, rest_body)
    assert "result" not in answer and fake.open_orders(KEY) == []


def tampered(frame: dict[str, Any]) -> dict[str, Any]:
    return {**frame, "quantity": "0.003"}  # changed after signing, as a proxy rewriting a value would


@pytest.mark.parametrize(("make", "status", "code"), [
    (lambda: signed(limit(), secret="not-the-secret"), 400, -1022),
    (lambda: tampered(signed(limit())), 400, -1022),
    (lambda: {**signed(limit()), "newClientOrderId": "added"}, 400, -1022),
    (lambda: {k: v for k, v in signed(limit()).items() if k != "signature"}, 400, -1102),
    (lambda: signed(limit(), api_key="no-such-key"), 401, -2015),
    (lambda: signed(limit(), timestamp=int(time.time() * 1000) - 60_000), 400, -1021),
    (lambda: {k: v for k, v in signed(limit()).items() if k not in ("apiKey", "signature")}, 401, -2014),
])
def test_order_place_when_signature_or_key_wrong_then_refused_and_nothing_placed(
        fake: FakeBinanceUsdm, make: Callable[[], dict[str, Any]], status: int, code: int) -> None:
    with api_socket(fake) as ws:
        answer = request(ws, "order.place", make())
    assert (answer["status"], answer["error"]["code"]) == (status, code)
    assert fake.open_orders(KEY) == []


@pytest.mark.parametrize("form_encoded", [False, True])
def test_signature_when_raw_or_form_encoded_payload_then_both_accepted(fake: FakeBinanceUsdm,
                                                                       form_encoded: bool) -> None:
    # ccxt signs the raw `k=v` text, the SDK the form-encoded one: they differ once a value needs escaping
    params = {**limit(newClientOrderId="a:b/c.d"), "apiKey": KEY, "timestamp": int(time.time() * 1000),
              "reduceOnly": False}
    payload = signature_payload(params, form_encoded=form_encoded)
    assert ("a%3Ab%2Fc.d" in payload) is form_encoded and "reduceOnly=false" in payload
    params["signature"] = sign_params(payload, "", SECRET)
    with api_socket(fake) as ws:
        answer = request(ws, "order.place", params)
    assert answer["status"] == 200 and answer["result"]["clientOrderId"] == "a:b/c.d"


@pytest.mark.parametrize(("text", "expected_id", "code"), [
    ("{not json", None, -1000),
    ("[1, 2]", None, -1000),
    ('{"id": "m1", "params": {}}', "m1", -1102),  # no method
    ('{"id": "m2", "method": "order.place", "params": [1]}', "m2", -1130),
    ('{"id": "m3", "method": "order.batchPlace", "params": {}}', "m3", -1020),  # there is no batch method
    ('{"id": "m4", "method": "order.place", "params": {"symbol": "BTCUSDT", "symbol": "ETHUSDT"}}', "m4", -1101),
])
def test_frame_when_malformed_then_error_answer_and_nothing_placed(fake: FakeBinanceUsdm, text: str,
                                                                   expected_id: str | None, code: int) -> None:
    with api_socket(fake) as ws:
        ws.send(text)
        answer = recv(ws)
    assert (answer["id"], answer["status"], answer["error"]["code"]) == (expected_id, 400, code)
    assert fake.open_orders(KEY) == []


@pytest.mark.parametrize(("query", "flag", "present"), [
    ("", None, True),
    ("", False, False),  # what ccxt sends
    ("", "false", False),  # what the SDK sends when configured off
    ("?returnRateLimits=false", None, False),
    ("?returnRateLimits=false", True, True),
])
def test_rate_limits_when_asked_on_url_or_request_then_present_or_left_out(
        fake: FakeBinanceUsdm, query: str, flag: Any, present: bool) -> None:
    extra = {} if flag is None else {"returnRateLimits": flag}
    with api_socket(fake, query) as ws:
        answer = request(ws, "account.balance", signed(extra))
    assert answer["status"] == 200 and ("rateLimits" in answer) is present


def test_modify_cancel_status_when_sent_then_rest_book_follows_and_answers_match_rest(fake: FakeBinanceUsdm) -> None:
    with api_socket(fake) as ws:
        placed = request(ws, "order.place", signed(limit()), "p")["result"]
        order_id = placed["orderId"]
        modified = request(ws, "order.modify", signed({"symbol": BTC_ID, "orderId": order_id, "side": "BUY",
                                                       "quantity": "0.003", "price": "48500"}), "m")
        unchanged = request(ws, "order.modify", signed({"symbol": BTC_ID, "orderId": order_id, "side": "BUY",
                                                        "quantity": "0.003", "price": "48500"}), "u")
        queried = request(ws, "order.status", signed({"symbol": BTC_ID, "orderId": order_id}), "q")
        cancelled = request(ws, "order.cancel", signed({"symbol": BTC_ID, "orderId": order_id}), "c")
        again = request(ws, "order.cancel", signed({"symbol": BTC_ID, "orderId": order_id}), "a")
    assert (modified["result"]["origQty"], modified["result"]["price"]) == ("0.003", "48500.00")
    assert unchanged["error"] == {"code": -5027, "msg": "No need to modify the order."}
    assert queried["result"] == modified["result"]
    assert cancelled["result"]["status"] == "CANCELED"
    assert again["error"] == rest(fake, "DELETE", "/fapi/v1/order", {"symbol": BTC_ID, "orderId": order_id})[1]
    assert [m["method"] for m in ws_order_frames(fake)] == ["order.place", "order.modify", "order.modify",
                                                           "order.cancel", "order.cancel"]


def test_algo_order_when_placed_and_cancelled_then_rest_sees_it_and_stream_gets_algo_updates(
        fake: FakeBinanceUsdm) -> None:
    key = ws_hub(fake).listen_key(KEY)
    with stream_socket(stream_url(fake, key)) as stream, api_socket(fake) as ws:
        placed = request(ws, "algoOrder.place", signed({
            "algoType": "CONDITIONAL", "symbol": BTC_ID, "side": "SELL", "type": "STOP_MARKET",
            "quantity": "0.002", "triggerPrice": "45000"}))["result"]
        polled = rest(fake, "GET", "/fapi/v1/openAlgoOrders")[1]
        cancelled = request(ws, "algoOrder.cancel", signed({"symbol": BTC_ID, "algoId": placed["algoId"]}), "2")
        new, gone = events_until(stream, 2)
    assert [a["algoId"] for a in polled] == [placed["algoId"]]
    assert cancelled["result"]["algoId"] == placed["algoId"]
    assert (new["e"], new["o"]["aid"], new["o"]["X"], new["o"]["tp"], new["o"]["o"]) == (
        "ALGO_UPDATE", placed["algoId"], "NEW", "45000.00", "STOP_MARKET")
    assert (gone["e"], gone["o"]["X"]) == ("ALGO_UPDATE", "CANCELED")


@pytest.mark.parametrize(("method", "rest_path"), [
    ("account.position", "/fapi/v2/positionRisk"),
    ("v2/account.position", "/fapi/v3/positionRisk"),
    ("account.status", "/fapi/v2/account"),
    ("v2/account.status", "/fapi/v3/account"),
    ("account.balance", "/fapi/v2/balance"),
    ("v2/account.balance", "/fapi/v3/balance"),
])
def test_account_method_when_called_then_result_has_the_rest_shape(fake: FakeBinanceUsdm, method: str,
                                                                   rest_path: str) -> None:
    fake.set_position(KEY, "ETHUSDT", Decimal("-0.5"))
    with api_socket(fake) as ws:
        answer = request(ws, method, signed())
    _, polled = rest(fake, "GET", rest_path)

    def shape(value: Any) -> Any:  # keys and row symbols, not times
        if isinstance(value, list):
            return [shape(v) for v in value]
        if isinstance(value, dict):
            return {k: shape(v) if k in ("assets", "positions") else (v if k == "symbol" else None)
                    for k, v in value.items()}
        return value

    assert answer["status"] == 200 and shape(answer["result"]) == shape(polled)


def test_public_methods_when_unsigned_then_answered_from_the_rest_market_data(fake: FakeBinanceUsdm) -> None:
    with api_socket(fake) as ws:
        price = request(ws, "ticker.price", {"symbol": BTC_ID})
        book = request(ws, "ticker.book", {"symbol": BTC_ID}, "2")
        depth = request(ws, "depth", {"symbol": BTC_ID, "limit": 5}, "3")
    assert price["result"]["price"] == "50000.00"
    assert (book["result"]["bidPrice"], book["result"]["askPrice"]) == ("49999.90", "50000.10")
    assert len(depth["result"]["bids"]) == 5


# ---- sessions and listen keys -------------------------------------------------------------------------------


def test_session_logon_when_signed_then_later_requests_need_only_a_timestamp_until_logout(
        fake: FakeBinanceUsdm) -> None:
    now = lambda: int(time.time() * 1000)  # noqa: E731
    with api_socket(fake) as ws:
        before = request(ws, "session.status", None, "s0")["result"]
        logon = request(ws, "session.logon", signed(), "s1")
        placed = request(ws, "order.place", {**limit(), "timestamp": now()}, "s2")
        no_timestamp = request(ws, "order.place", limit(), "s3")
        ad_hoc_other = request(ws, "account.balance", signed(api_key=OTHER_KEY, secret=OTHER_SECRET), "s4")
        (session,) = ws_hub(fake).sessions()
        logout = request(ws, "session.logout", None, "s5")
        after = request(ws, "order.place", {**limit(), "timestamp": now()}, "s6")
    assert before["apiKey"] is None and before["authorizedSince"] is None
    assert logon["result"]["apiKey"] == KEY and logon["result"]["authorizedSince"] >= before["connectedSince"]
    assert placed["status"] == 200 and no_timestamp["error"]["code"] == -1102
    assert ad_hoc_other["status"] == 200  # an explicitly signed request acts for its own key
    assert session.api_key == KEY and session.kind == "api"
    assert logout["result"]["apiKey"] is None and after["error"]["code"] == -2014
    assert [o["orderId"] for o in fake.open_orders(KEY)] == [placed["result"]["orderId"]]


def test_session_logon_when_ed25519_key_registered_then_only_its_signature_is_accepted(fake: FakeBinanceUsdm) -> None:
    private = Ed25519PrivateKey.generate()
    ws_hub(fake).register_ed25519_key(KEY, private.public_key().public_bytes(Encoding.PEM,
                                                                             PublicFormat.SubjectPublicKeyInfo))
    params = {"apiKey": KEY, "timestamp": int(time.time() * 1000)}
    good = {**params, "signature": base64.b64encode(private.sign(signature_payload(params).encode())).decode()}
    with api_socket(fake) as ws:
        hmac_signed = request(ws, "session.logon", signed(), "h")
        ed_signed = request(ws, "session.logon", good, "e")
        placed = request(ws, "order.place", {**limit(), "timestamp": int(time.time() * 1000)}, "o")
    assert hmac_signed["error"]["code"] == -1022
    assert ed_signed["result"]["apiKey"] == KEY and placed["status"] == 200


def test_user_data_stream_methods_when_started_pinged_stopped_then_same_key_as_rest_and_stream_told(
        fake: FakeBinanceUsdm) -> None:
    with api_socket(fake) as ws:
        started = request(ws, "userDataStream.start", {"apiKey": KEY})["result"]
        _, from_rest = rest(fake, "POST", "/fapi/v1/listenKey")
        with stream_socket(stream_url(fake, started["listenKey"])) as stream:
            pinged = request(ws, "userDataStream.ping", {"apiKey": KEY}, "2")["result"]
            stopped = request(ws, "userDataStream.stop", {"apiKey": KEY}, "3")
            expired = recv(stream)
        ping_after = request(ws, "userDataStream.ping", {"apiKey": KEY}, "4")
    assert started == from_rest == pinged == {"listenKey": listen_key_for(KEY)}
    assert stopped["result"] == {}
    assert (expired["e"], expired["listenKey"]) == ("listenKeyExpired", started["listenKey"])
    assert ping_after["error"] == {"code": -1125, "msg": "This listenKey does not exist."}


def test_user_data_subscribe_when_logged_on_then_account_events_arrive_on_the_api_socket(
        fake: FakeBinanceUsdm) -> None:
    with api_socket(fake) as ws:
        refused = request(ws, "userDataStream.subscribe", {}, "0")
        request(ws, "session.logon", signed(), "1")
        subscribed = request(ws, "userDataStream.subscribe", {}, "2")["result"]
        rest(fake, "POST", "/fapi/v1/order", {"symbol": BTC_ID, "side": "SELL", "type": "MARKET",
                                              "quantity": "0.002"})
        pushed = events_until(ws, 3)
        (session,) = ws_hub(fake).sessions()
    assert refused["error"]["code"] == -2014
    assert session.subscription_ids == (subscribed["subscriptionId"],)
    assert [(p["subscriptionId"], p["event"]["e"]) for p in pushed] == [
        (subscribed["subscriptionId"], "ORDER_TRADE_UPDATE"), (subscribed["subscriptionId"], "ORDER_TRADE_UPDATE"),
        (subscribed["subscriptionId"], "ACCOUNT_UPDATE")]


def test_scripted_reply_when_set_then_next_order_answered_with_it_and_not_executed(fake: FakeBinanceUsdm) -> None:
    ws_hub(fake).script_reply(lambda r: {"id": r["id"], "status": 400,
                                         "error": {"code": -2010, "msg": "Risk firewall: blocked"}})
    with api_socket(fake) as ws:
        balance = request(ws, "account.balance", signed(), "b")  # not an order method: runs
        scripted = request(ws, "order.place", signed(limit()), "s1")
        real = request(ws, "order.place", signed(limit()), "s2")
    assert balance["status"] == 200 and "rateLimits" not in scripted
    assert scripted == {"id": "s1", "status": 400, "error": {"code": -2010, "msg": "Risk firewall: blocked"}}
    assert real["status"] == 200 and len(fake.open_orders(KEY)) == 1
    assert [m["id"] for m in ws_order_frames(fake)] == ["s1", "s2"]  # both reached the venue
    assert {m["method"] for m in ws_messages(fake)} <= ORDER_METHODS | {"account.balance"}


# ---- user-data streams ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "combined"), [
    ("/ws/{key}", False),
    ("/private/ws?listenKey={key}", False),  # what ccxt 4.5.64 opens
    ("/stream?streams={key}", True),
    ("/private/stream?streams={key}", True),
])
def test_stream_when_rest_market_order_fills_then_order_updates_and_account_update_pushed(
        fake: FakeBinanceUsdm, path: str, combined: bool) -> None:
    key = ws_hub(fake).listen_key(KEY)
    with stream_socket(ws_base_url(fake) + path.format(key=key)) as stream:
        _, order = rest(fake, "POST", "/fapi/v1/order", {"symbol": BTC_ID, "side": "SELL", "type": "MARKET",
                                                         "quantity": "0.002"})
        frames = events_until(stream, 3)
    if combined:
        assert {f["stream"] for f in frames} == {key}
        frames = [f["data"] for f in frames]
    new, trade, account = frames
    assert [f["e"] for f in frames] == ["ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"]
    assert (new["o"]["x"], new["o"]["X"], new["o"]["i"], new["o"]["l"], new["o"]["z"]) == (
        "NEW", "NEW", order["orderId"], "0.000", "0.000")
    o = trade["o"]
    assert (o["x"], o["X"], o["s"], o["S"], o["o"], o["q"], o["l"], o["z"], o["L"], o["ap"], o["m"], o["ps"]) == (
        "TRADE", "FILLED", BTC_ID, "SELL", "MARKET", "0.002", "0.002", "0.002", "50000.00", "50000.00000", False,
        "BOTH")
    assert isinstance(o["t"], int) and o["t"] > 0 and (o["n"], o["N"], o["R"]) == ("0", "USDT", False)
    assert account["a"]["m"] == "ORDER"
    assert account["a"]["B"] == [{"a": "USDT", "wb": "10000.00000000", "cw": "10000.00000000", "bc": "0"}]
    (position,) = account["a"]["P"]
    assert (position["s"], position["pa"], position["ep"], position["ps"], position["mt"]) == (
        BTC_ID, "-0.002", "50000", "BOTH", "cross")


def test_stream_when_limit_amended_filled_and_closed_then_each_step_pushed_with_realized_profit(
        fake: FakeBinanceUsdm) -> None:
    key = ws_hub(fake).listen_key(KEY)
    with stream_socket(stream_url(fake, key)) as stream, api_socket(fake) as ws:
        order_id = request(ws, "order.place", signed(limit()))["result"]["orderId"]
        request(ws, "order.modify", signed({"symbol": BTC_ID, "orderId": order_id, "side": "BUY",
                                            "quantity": "0.004", "price": "48000"}), "2")
        fake.fill_order(order_id)
        rest(fake, "POST", "/fapi/v1/order", {"symbol": BTC_ID, "side": "SELL", "type": "MARKET",
                                              "quantity": "0.004", "reduceOnly": "true"})
        frames = events_until(stream, 7)
    kinds = [(f["e"], f.get("o", {}).get("x")) for f in frames]
    assert kinds == [("ORDER_TRADE_UPDATE", "NEW"), ("ORDER_TRADE_UPDATE", "AMENDMENT"),
                     ("ORDER_TRADE_UPDATE", "TRADE"), ("ACCOUNT_UPDATE", None), ("ORDER_TRADE_UPDATE", "NEW"),
                     ("ORDER_TRADE_UPDATE", "TRADE"), ("ACCOUNT_UPDATE", None)]
    assert (frames[0]["o"]["b"], frames[1]["o"]["b"]) == ("98", "192")  # resting bid notional
    assert (frames[2]["o"]["m"], frames[2]["o"]["L"]) == (True, "48000.00")  # a resting order fills as maker
    assert frames[3]["a"]["P"][0]["pa"] == "0.004"
    closing, flat = frames[5]["o"], frames[6]["a"]
    assert (closing["rp"], closing["R"]) == ("8.00000000", True)  # (50000 - 48000) * 0.004
    assert (flat["P"][0]["pa"], flat["P"][0]["cr"], flat["B"][0]["wb"]) == ("0.000", "8.00000000", "10008.00000000")


def test_stream_when_order_partly_filled_then_expired_then_last_and_cumulative_quantities_and_rest_agree(
        fake: FakeBinanceUsdm) -> None:
    key = ws_hub(fake).listen_key(KEY)
    with stream_socket(stream_url(fake, key)) as stream, api_socket(fake) as ws:
        order_id = request(ws, "order.place", signed(limit(quantity="0.005", timeInForce="GTD",
                                                           goodTillDate=int(time.time() * 1000) + 700_000)))[
            "result"]["orderId"]
        fake.fill_order(order_id, quantity=Decimal("0.002"))
        fake.fill_order(order_id, Decimal("48000"), quantity=Decimal("0.001"))
        fake.expire_order(order_id)
        frames = events_until(stream, 6)
        cancel = request(ws, "order.cancel", signed({"symbol": BTC_ID, "orderId": order_id}), "c")
    _, polled = rest(fake, "GET", "/fapi/v1/order", {"symbol": BTC_ID, "orderId": order_id})
    orders = [f["o"] for f in frames if f["e"] == "ORDER_TRADE_UPDATE"]
    assert [(o["x"], o["X"], o["l"], o["z"], o["L"], o["ap"]) for o in orders] == [
        ("NEW", "NEW", "0.000", "0.000", "0.00", "0.00000"),
        ("TRADE", "PARTIALLY_FILLED", "0.002", "0.002", "49000.00", "49000.00000"),
        ("TRADE", "PARTIALLY_FILLED", "0.001", "0.003", "48000.00", "48666.66667"),
        ("EXPIRED", "EXPIRED", "0.000", "0.003", "0.00", "48666.66667")]
    assert orders[1]["t"] != orders[2]["t"] and orders[3]["t"] == 0 and orders[0]["f"] == "GTD"
    assert [f["a"]["P"][0]["pa"] for f in frames if f["e"] == "ACCOUNT_UPDATE"] == ["0.002", "0.003"]
    assert (polled["status"], polled["executedQty"], polled["avgPrice"]) == ("EXPIRED", "0.003", "48666.66667")
    assert cancel["error"]["code"] == -2011 and fake.position(KEY, BTC_ID) == Decimal("0.003")


def test_stream_when_other_account_trades_or_position_set_then_only_own_events(fake: FakeBinanceUsdm) -> None:
    key = ws_hub(fake).listen_key(KEY)
    with stream_socket(stream_url(fake, key, combined=True)) as stream:
        rest(fake, "POST", "/fapi/v1/order", limit(), api_key=OTHER_KEY, secret=OTHER_SECRET)
        fake.set_position(KEY, "ETHUSDT", Decimal("1.5"), entry_price=Decimal("2900"))
        adjusted = recv(stream)
    assert adjusted["stream"] == key
    assert adjusted["data"]["a"]["m"] == "ADJUSTMENT"
    assert [(p["s"], p["pa"], p["ep"]) for p in adjusted["data"]["a"]["P"]] == [("ETHUSDT", "1.500", "2900")]


def test_stream_handshake_when_listen_key_not_open_then_refused(fake: FakeBinanceUsdm) -> None:
    with pytest.raises(Exception, match="404"):
        ws_connect(stream_url(fake, listen_key_for(KEY)), proxy=None, open_timeout=WAIT_S)
    with pytest.raises(Exception, match="404"):
        ws_connect(f"{ws_base_url(fake)}/ws-fapi/v2", proxy=None, open_timeout=WAIT_S)


def test_stream_subscribe_when_listen_key_or_other_market_stream_then_listed_and_pushed_only_for_open_keys(
        fake: FakeBinanceUsdm) -> None:
    key = ws_hub(fake).listen_key(KEY)
    with stream_socket(f"{ws_base_url(fake)}/private/stream") as stream:
        stream.send(json.dumps({"method": "SUBSCRIBE", "params": [listen_key_for(OTHER_KEY)], "id": 1}))
        unknown = recv(stream)
        stream.send(json.dumps({"method": "SUBSCRIBE", "params": [key, "btcusdt@aggTrade"], "id": 2}))
        ok = recv(stream)
        stream.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        listed = recv(stream)
        rest(fake, "POST", "/fapi/v1/order", limit())
        pushed = recv(stream)
        stream.send(json.dumps({"method": "UNSUBSCRIBE", "params": [key], "id": 4}))
        left = recv(stream)
        rest(fake, "POST", "/fapi/v1/order", limit())
        stream.send("{oops")
        after = recv(stream)  # the next frame is the answer: no push came in between
    assert unknown == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 1}
    assert ok == {"result": None, "id": 2} and left == {"result": None, "id": 4}
    assert listed == {"result": [key, "btcusdt@aggTrade"], "id": 3}
    assert (pushed["stream"], pushed["data"]["o"]["x"]) == (key, "NEW")
    assert after["error"]["code"] == 3 and after["id"] is None


@pytest.mark.parametrize(("path", "combined"), [
    ("/ws/btcusdt@markPrice", False),
    ("/market/ws/btcusdt@markPrice@1s", False),
    ("/stream?streams=btcusdt@markPrice", True),
    ("/market/stream?streams=btcusdt@markPrice@1s", True),
])
def test_mark_price_stream_when_named_in_url_then_a_burst_then_one_push_per_mark_change(
        fake: FakeBinanceUsdm, path: str, combined: bool) -> None:
    name = path.rpartition("/")[2].rpartition("=")[2]
    with stream_socket(ws_base_url(fake) + path) as stream:
        burst = events_until(stream, MARK_BURST)
        fake.set_mark_price(BTC_ID, Decimal("51234.5"))
        fake.set_mark_price("ETHUSDT", Decimal("3100"))  # another symbol: nothing on this stream
        fake.set_mark_price(BTC_ID, Decimal("51000"))
        moved = events_until(stream, 2)
    if combined:
        assert {f["stream"] for f in burst + moved} == {name}
        burst, moved = [f["data"] for f in burst], [f["data"] for f in moved]
    _, index = rest(fake, "GET", "/fapi/v1/premiumIndex", {"symbol": BTC_ID})
    assert [(e["e"], e["s"], e["p"]) for e in burst] == [("markPriceUpdate", BTC_ID, "50000.00000000")] * MARK_BURST
    first = burst[0]
    assert (first["i"], first["P"], first["r"], first["T"]) == ("50000.00000000", "50000.00000000", "0.00010000",
                                                                index["nextFundingTime"])
    assert [e["p"] for e in moved] == ["51234.50000000", index["markPrice"]] == ["51234.50000000", "51000.00000000"]
    assert fake.ws_frames == []  # raw and combined stream URLs need no client message


def test_mark_price_stream_when_subscribed_for_all_symbols_then_answer_first_then_arrays(
        fake: FakeBinanceUsdm) -> None:
    with stream_socket(f"{ws_base_url(fake)}/market/ws/0") as stream:  # the URL ccxt opens
        stream.send(json.dumps({"method": "SUBSCRIBE", "params": ["!markPrice@arr@1s"], "id": 9}))
        answer, *burst = events_until(stream, 1 + MARK_BURST)
        stream.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 10}))
        listed = recv(stream)
        stream.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["!markPrice@arr@1s"], "id": 11}))
        left = recv(stream)
        fake.set_mark_price(BTC_ID, Decimal("49000"))
        stream.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 12}))
        after = recv(stream)  # the next frame is the answer: the price change pushed nothing
    assert answer == {"result": None, "id": 9} and left == {"result": None, "id": 11}
    assert listed == {"result": ["!markPrice@arr@1s"], "id": 10} and after == {"result": [], "id": 12}
    assert all(isinstance(b, list) for b in burst)
    _, index = rest(fake, "GET", "/fapi/v1/premiumIndex")  # the same digits as REST (taken after the change)
    assert {e["s"]: e["p"] for e in burst[0]} == {row["symbol"]: row["markPrice"] for row in index
                                                  if row["symbol"] != BTC_ID} | {BTC_ID: "50000.00000000"}
    assert {e["s"] for e in burst[0]} == set(DEFAULT_MARK_PRICES)


def test_disconnect_all_when_called_then_clients_see_close_and_sessions_forgotten(fake: FakeBinanceUsdm) -> None:
    key = ws_hub(fake).listen_key(KEY)
    with stream_socket(stream_url(fake, key)) as stream, api_socket(fake) as ws:
        request(ws, "session.status")
        assert ws_hub(fake).disconnect_all(1012) == 2
        for client in (stream, ws):
            with pytest.raises(Exception, match="1012"):
                client.recv(timeout=WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while ws_hub(fake).sessions() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ws_hub(fake).sessions() == []


def test_push_raw_and_push_event_when_sent_then_reach_sockets_of_that_kind_and_account(fake: FakeBinanceUsdm) -> None:
    key = ws_hub(fake).listen_key(KEY)
    with stream_socket(stream_url(fake, key)) as stream, api_socket(fake) as ws:
        request(ws, "session.status")
        assert ws_hub(fake).push_raw('{"e":"serverShutdown"}', "api") == 1
        ws_hub(fake).push_event(KEY, {"e": "MARGIN_CALL", "E": 1})
        ws_hub(fake).push_event(OTHER_KEY, {"e": "MARGIN_CALL", "E": 2})
        ws_hub(fake).push_raw('{"e":"x"}', "stream")
        on_api, on_stream = recv(ws), events_until(stream, 2)
    assert on_api == {"e": "serverShutdown"}
    assert on_stream == [{"e": "MARGIN_CALL", "E": 1}, {"e": "x"}]


# ---- ccxt.pro binanceusdm, straight to the fake ------------------------------------------------------------


def statuses(orders: list[Any]) -> list[tuple[str, str, float]]:
    return [(o["id"], o["status"], o["filled"]) for o in orders]


async def until_streaming(fake: FakeBinanceUsdm, api_key: str = KEY) -> None:
    """Wait (bounded) until a stream socket on the account's listen key reached the fake: ccxt creates the
    future it resolves before its socket is connected, so an event caused earlier would find no subscriber."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if any(listen_key_for(api_key) in s.streams for s in ws_hub(fake).sessions()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no stream socket on the listen key")


async def until_watching(bot: Any, *message_hashes: str) -> None:
    """Wait (bounded) until ccxt awaits these message hashes, so a push sent now is not missed."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        futures = {h for client in bot.clients.values() for h in client.futures}
        if set(message_hashes) <= futures:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"ccxt is not watching {message_hashes}")


def test_ccxt_create_edit_cancel_fetch_ws_when_direct_then_frames_signed_and_rest_book_follows(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> tuple[Any, ...]:
        bot = direct_binanceusdm_pro(fake.base_url)
        try:
            created = await bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000)
            resting = fake.open_orders(KEY)
            edited = await bot.edit_order_ws(created["id"], BTC, "limit", "buy", 0.003, 48500)
            fetched = await bot.fetch_order_ws(created["id"], BTC)
            cancelled = await bot.cancel_order_ws(created["id"], BTC)
            trigger = await bot.create_order_ws(BTC, "market", "sell", 0.002, None, {"triggerPrice": 45000})
            balance = await bot.fetch_balance_ws()
            positions = await bot.fetch_positions_ws()
            return created, resting, edited, fetched, cancelled, trigger, balance, positions
        finally:
            await bot.close()

    created, resting, edited, fetched, cancelled, trigger, balance, positions = run(scenario())
    place, modify, status, cancel, algo, account, position = ws_messages(fake, "api")
    assert [m["method"] for m in (place, modify, status, cancel, algo, account, position)] == [
        "order.place", "order.modify", "order.status", "order.cancel", "algoOrder.place", "account.status",
        "account.position"]
    assert [m["id"] for m in (place, modify, status)] == ["1", "2", "3"]  # per-URL counter, as strings
    params = place["params"]
    assert list(params) == [*sorted(k for k in params if k != "signature"), "signature"]  # keysorted, then signed
    assert {k: params[k] for k in ("symbol", "side", "type", "quantity", "price", "timeInForce",
                                   "newOrderRespType", "returnRateLimits", "recvWindow", "apiKey")} == {
        "symbol": BTC_ID, "side": "BUY", "type": "LIMIT", "quantity": "0.002", "price": "49000",
        "timeInForce": "GTC", "newOrderRespType": "RESULT", "returnRateLimits": False, "recvWindow": 10000,
        "apiKey": KEY}
    assert params["newClientOrderId"].startswith("x-cvBPrNm9") and isinstance(params["timestamp"], int)
    assert modify["params"]["orderId"] == created["id"] and algo["params"]["algoType"] == "CONDITIONAL"
    assert [(o["orderId"], o["origQty"]) for o in resting] == [(int(created["id"]), "0.002")]
    assert (edited["amount"], edited["price"], fetched["price"], cancelled["status"]) == (0.003, 48500.0, 48500.0,
                                                                                         "canceled")
    assert trigger["id"] == str(fake.open_orders(KEY)[0]["algoId"])
    assert balance["USDT"]["total"] == 10000.0 and positions == []


def test_ccxt_streams_when_resting_order_filled_by_fake_then_orders_trades_and_positions_report_it(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> tuple[Any, ...]:
        bot = direct_binanceusdm_pro(fake.base_url)
        try:
            flat = list(await bot.watch_positions())  # REST snapshot; ccxt returns its cache, updated later
            live = asyncio.ensure_future(bot.watch_orders())
            await until_watching(bot, "orders")
            await until_streaming(fake)
            order = await bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000)
            first = statuses(await asyncio.wait_for(live, WAIT_S))
            orders = asyncio.ensure_future(bot.watch_orders())
            trades = asyncio.ensure_future(bot.watch_my_trades())
            positions = asyncio.ensure_future(bot.watch_positions())
            balance = asyncio.ensure_future(bot.watch_balance())
            await until_watching(bot, "orders", "myTrades", "future:positions", "future:balance")
            fake.fill_order(int(order["id"]))
            done = await asyncio.wait_for(asyncio.gather(orders, trades, positions, balance), WAIT_S)
            return flat, order, first, *done
        finally:
            await bot.close()

    flat, order, first, orders, trades, positions, balance = run(scenario())
    assert flat == [] and first == [(order["id"], "open", 0.0)]
    assert [(o["id"], o["status"], o["filled"], o["average"]) for o in orders][-1] == (order["id"], "closed", 0.002,
                                                                                      49000.0)
    assert [(t["order"], t["amount"], t["price"], t["side"], t["takerOrMaker"]) for t in trades] == [
        (order["id"], 0.002, 49000.0, "buy", "maker")]
    assert [(p["symbol"], p["contracts"], p["side"], p["entryPrice"]) for p in positions] == [
        (BTC, 0.002, "long", 49000.0)]
    assert balance["USDT"]["total"] == 10000.0
    listen_key = listen_key_for(KEY)
    assert fake.ws_handshakes == [f"/private/ws?listenKey={listen_key}", "/ws-fapi/v1"]
    assert "POST /fapi/v1/listenKey" in fake.calls()


def test_ccxt_watch_orders_when_rest_order_placed_and_filled_then_stream_reports_both(fake: FakeBinanceUsdm) -> None:
    async def scenario() -> tuple[list[tuple[str, str, float]], str]:
        bot = direct_binanceusdm_pro(fake.base_url)
        rest_bot = direct_bot(fake.base_url)
        try:
            seen: list[tuple[str, str, float]] = []
            watching = asyncio.ensure_future(bot.watch_orders(BTC))
            await until_watching(bot, f"orders:{BTC}")
            await until_streaming(fake)
            placed = rest_bot.create_order(BTC, "limit", "sell", 0.002, 51000)
            seen += statuses(await asyncio.wait_for(watching, WAIT_S))
            watching = asyncio.ensure_future(bot.watch_orders(BTC))
            await until_watching(bot, f"orders:{BTC}")
            fake.fill_order(int(placed["id"]))
            seen += statuses(await asyncio.wait_for(watching, WAIT_S))[-1:]
            return seen, placed["id"]
        finally:
            await bot.close()

    seen, order_id = run(scenario())
    assert seen == [(order_id, "open", 0.0), (order_id, "closed", 0.002)]
    assert ws_order_frames(fake) == []  # the order went over REST


def test_ccxt_watch_orders_and_trades_when_partly_filled_then_expired_then_each_part_and_the_expiry_reported(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> tuple[Any, list[Any], list[Any]]:
        bot = direct_binanceusdm_pro(fake.base_url)
        try:
            live = asyncio.ensure_future(bot.watch_orders(BTC))
            await until_watching(bot, f"orders:{BTC}")
            await until_streaming(fake)
            order = await bot.create_order_ws(BTC, "limit", "sell", 0.003, 51000)
            await asyncio.wait_for(live, WAIT_S)
            seen: list[Any] = []
            trades: list[Any] = []
            for step in (lambda: fake.fill_order(int(order["id"]), quantity=Decimal("0.001")),
                         lambda: fake.expire_order(int(order["id"]))):
                orders = asyncio.ensure_future(bot.watch_orders(BTC))
                fills = asyncio.ensure_future(bot.watch_my_trades(BTC)) if not trades else None
                await until_watching(bot, f"orders:{BTC}", *([f"myTrades:{BTC}"] if fills else []))
                step()
                seen.append(statuses(await asyncio.wait_for(orders, WAIT_S))[-1])
                if fills is not None:
                    trades = await asyncio.wait_for(fills, WAIT_S)
            return order, seen, trades
        finally:
            await bot.close()

    order, seen, trades = run(scenario())
    assert seen == [(order["id"], "open", 0.001), (order["id"], "expired", 0.001)]
    assert [(t["order"], t["amount"], t["price"], t["side"]) for t in trades] == [(order["id"], 0.001, 51000.0,
                                                                                   "sell")]


def test_ccxt_watch_mark_price_when_mark_moves_then_each_price_seen_on_the_market_socket(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> list[float]:
        bot = direct_binanceusdm_pro(fake.base_url)
        try:
            first = (await bot.watch_mark_price(BTC))["markPrice"]
            # the rest of the burst left the fake with the first event; ccxt resolves a waiting call per message
            # and only caches the others, so let it read them before waiting for the next price
            await asyncio.sleep(0.2)
            pending = asyncio.ensure_future(bot.watch_mark_price(BTC))
            await until_watching(bot, f"markPrice:markPrice@{BTC}")
            fake.set_mark_price(BTC_ID, Decimal("50500.5"))
            return [first, (await asyncio.wait_for(pending, WAIT_S))["markPrice"]]
        finally:
            await bot.close()

    assert run(scenario()) == [50000.0, 50500.5]
    assert fake.ws_handshakes == ["/market/ws/0"]
    assert ws_messages(fake, "stream") == [{"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 1}]


def test_ccxt_create_order_ws_when_secret_is_an_ed25519_key_then_each_frame_carries_its_base64_signature(
        fake: FakeBinanceUsdm) -> None:
    private_pem, public_pem = ed25519_key_pair()
    fake.add_account("ed25519-key", "hmac-secret-never-used")
    ws_hub(fake).register_ed25519_key("ed25519-key", public_pem)

    async def scenario() -> Any:
        bot = direct_binanceusdm_pro(fake.base_url, api_key="ed25519-key", secret=private_pem)
        try:
            return await bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000)
        finally:
            await bot.close()

    order = run(scenario())
    (frame,) = ws_order_frames(fake)
    params = frame["params"]
    assert params["apiKey"] == "ed25519-key" and len(base64.b64decode(params["signature"])) == 64
    assert [o["orderId"] for o in fake.open_orders("ed25519-key")] == [int(order["id"])]


def test_ccxt_create_order_ws_when_secret_wrong_then_fake_refuses_with_authentication_error(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> None:
        bot = direct_binanceusdm_pro(fake.base_url, secret="not-the-secret")
        try:
            with pytest.raises(ccxt.AuthenticationError, match="-1022"):
                await bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000)
        finally:
            await bot.close()

    run(scenario())
    assert len(ws_order_frames(fake)) == 1 and fake.open_orders(KEY) == []


# ---- what ccxt does with the error frames a firewall would send (measured) ----------------------------------

# `{"id", "status": 400, "error": {"code", "msg"}}` -> ccxt 4.5.64's exception. Over a wss:// URL only
# Binance's common map applies (ccxt `get_exceptions_by_url` knows https:// prefixes only), so -2019 "Margin is
# insufficient." (InsufficientFunds over REST at fapi.binance.com) is a plain ExchangeError here.
CCXT_ERROR_TABLE: list[tuple[int | str, str, type[Exception]]] = [
    (-2010, "Risk firewall: order rejected", ccxt.InvalidOrder),
    (-2010, "Risk firewall: account has no operation privilege", ccxt.PermissionDenied),  # broad msg match
    (-4050, "Cross balance insufficient.", ccxt.InsufficientFunds),
    (-2019, "Account has insufficient balance for requested action.", ccxt.InsufficientFunds),  # exact msg
    (-2019, "Margin is insufficient.", ccxt.ExchangeError),
    (-2022, "ReduceOnly Order is rejected.", ccxt.ExchangeError),
    (-1022, "Signature for this request is not valid.", ccxt.AuthenticationError),
    (-2015, "Invalid API-key, IP, or permissions for action.", ccxt.AuthenticationError),
    (-1002, "You are not authorized to execute this request.", ccxt.AuthenticationError),
    (-1121, "Invalid symbol.", ccxt.BadSymbol),
    (-1015, "Too many new orders; current limit is 300 orders per 10 SECOND.", ccxt.RateLimitExceeded),
    (-4005, "Quantity greater than max quantity.", ccxt.BadRequest),
    ("-2010", "code as a string", ccxt.InvalidOrder),
]


def refusal(code: int | str, msg: str, status: int = 400) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The frame a firewall answers a blocked request with: the request's own `id`, Binance's error object."""
    return lambda request: {"id": request["id"], "status": status, "error": {"code": code, "msg": msg}}


def test_ccxt_create_order_ws_when_venue_refuses_then_exception_follows_the_table(fake: FakeBinanceUsdm) -> None:
    async def scenario() -> list[type[Exception] | None]:
        bot = direct_binanceusdm_pro(fake.base_url)
        outcomes: list[type[Exception] | None] = []
        try:
            for code, msg, _ in CCXT_ERROR_TABLE:
                ws_hub(fake).script_reply(refusal(code, msg))
                try:
                    await asyncio.wait_for(bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000), WAIT_S)
                    outcomes.append(None)
                except ccxt.BaseError as error:
                    outcomes.append(type(error))
            await bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000)  # the socket is still usable
            return outcomes
        finally:
            await bot.close()

    assert run(scenario()) == [expected for _, _, expected in CCXT_ERROR_TABLE]
    assert len(fake.open_orders(KEY)) == 1 and len(ws_order_frames(fake)) == len(CCXT_ERROR_TABLE) + 1


PRIVILEGE = "account has no operation privilege"
# What ccxt 4.5.64 raises for the refusals a firewall may send, measured: ccxt never reads the envelope's
# `status`; the phrase "has no operation privilege" is a broad message match that wins over every code.
CCXT_BY_CODE = {-2010: ccxt.InvalidOrder, -1121: ccxt.BadSymbol, -4028: ccxt.BadRequest,
                -1015: ccxt.RateLimitExceeded, -1002: ccxt.AuthenticationError, -2015: ccxt.AuthenticationError}


def test_ccxt_create_order_ws_when_code_phrase_and_status_vary_then_only_code_and_phrase_decide(
        fake: FakeBinanceUsdm) -> None:
    cases = [(code, phrase, status) for status in (400, 429, 403) for code in CCXT_BY_CODE
             for phrase in (False, True)]

    async def scenario() -> list[type[Exception] | None]:
        bot = direct_binanceusdm_pro(fake.base_url)
        outcomes: list[type[Exception] | None] = []
        try:
            for code, phrase, status in cases:
                msg = f"Risk firewall: {PRIVILEGE}: kill switch" if phrase else "Risk firewall: order rejected"
                ws_hub(fake).script_reply(refusal(code, msg, status))
                try:
                    await asyncio.wait_for(bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000), WAIT_S)
                    outcomes.append(None)
                except ccxt.BaseError as error:
                    outcomes.append(type(error))
            return outcomes
        finally:
            await bot.close()

    assert run(scenario()) == [ccxt.PermissionDenied if phrase else CCXT_BY_CODE[code] for code, phrase, _ in cases]
    assert fake.open_orders(KEY) == [] and len(ws_order_frames(fake)) == len(cases)


@dataclass
class Outcome:
    order: str  # what the refused order call did: an exception class name, or "pending"
    other: str  # the other request pending on the same socket when the frame arrived
    next_call: str  # a later order on the same bot


def _name(task: asyncio.Future[Any]) -> str:
    if not task.done():
        return "pending"
    error = task.exception()
    return "ok" if error is None else type(error).__name__


async def _ccxt_pending_outcome(fake: FakeBinanceUsdm, frame: Callable[[str], dict[str, Any]]) -> Outcome:
    """An order and a balance request both pending (unanswered), then `frame` for the order arrives."""
    bot = direct_binanceusdm_pro(fake.base_url)
    hub = ws_hub(fake)
    try:
        await bot.load_markets()
        hub.script_reply(lambda request: None)  # the order: held
        order = asyncio.ensure_future(bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000))
        hub.script_reply(lambda request: None, methods={"account.status"})  # the balance: held
        other = asyncio.ensure_future(bot.fetch_balance_ws())
        deadline = time.monotonic() + WAIT_S
        while len(ws_messages(fake, "api")) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        order_id, other_id = (m["id"] for m in ws_messages(fake, "api"))
        hub.push_raw(json.dumps(frame(order_id)), "api")
        await asyncio.wait([order], timeout=1.0)
        await asyncio.sleep(0.05)
        outcome = Outcome(_name(order), _name(other), "")
        if not other.done():  # release it the way the venue would have answered
            hub.push_raw(json.dumps({"id": other_id, "status": 200, "result": {"assets": []}}), "api")
            await asyncio.wait([other], timeout=1.0)
            outcome.other += "" if other.done() and other.exception() is None else "-stuck"
        try:
            await asyncio.wait_for(bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000), 1.0)
            outcome.next_call = "ok"
        except TimeoutError:
            outcome.next_call = "hangs"
        for task in (order, other):
            task.cancel()
        return outcome
    finally:
        await bot.close()


@pytest.mark.parametrize(("frame", "expected"), [
    # the request's id (string or number, as ccxt compares text): only that call fails
    (lambda i: {"id": i, "status": 400, "error": {"code": -2010, "msg": "blocked"}},
     Outcome("InvalidOrder", "pending", "ok")),
    (lambda i: {"id": int(i), "error": {"code": -2010, "msg": "blocked"}}, Outcome("InvalidOrder", "pending", "ok")),
    # no id: ccxt rejects every future on the socket
    (lambda i: {"id": None, "status": 400, "error": {"code": -2010, "msg": "blocked"}},
     Outcome("InvalidOrder", "InvalidOrder", "ok")),
    (lambda i: {"status": 400, "error": {"code": -2010, "msg": "blocked"}},
     Outcome("InvalidOrder", "InvalidOrder", "ok")),
    # no code (or no error object): handle_errors compares None >= 400 and the call fails with a TypeError
    (lambda i: {"id": i, "status": 400, "error": {"msg": "blocked"}}, Outcome("TypeError", "pending", "ok")),
    (lambda i: {"id": i, "status": 400}, Outcome("TypeError", "pending", "ok")),
    # a code starting with "5": handle_ws_error calls client.reset(), which the Python Client lacks; the
    # AttributeError ends ccxt's receive loop, so every later answer on that socket is lost
    (lambda i: {"id": i, "status": 503, "error": {"code": 503, "msg": "Service unavailable"}},
     Outcome("ExchangeError", "pending-stuck", "hangs")),
    (lambda i: {"id": i, "status": 500, "error": {"code": -1000, "msg": "unknown"}},
     Outcome("OperationFailed", "pending", "ok")),  # "-1000" starts with "-": no reset
])
def test_ccxt_error_frame_when_shape_varies_then_other_pending_requests_survive_only_with_the_id(
        fake: FakeBinanceUsdm, frame: Callable[[str], dict[str, Any]], expected: Outcome) -> None:
    assert run(_ccxt_pending_outcome(fake, frame)) == expected


def test_ccxt_error_frame_when_id_not_pending_then_a_later_request_with_that_id_fails_yet_is_executed(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> type[Exception] | None:
        bot = direct_binanceusdm_pro(fake.base_url)
        try:
            await bot.fetch_balance_ws()  # id "1"; the next request will be "2"
            ws_hub(fake).push_raw(json.dumps({"id": "2", "status": 400, "error": {"code": -2010, "msg": "stray"}}))
            await asyncio.sleep(0.1)
            try:
                await asyncio.wait_for(bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000), WAIT_S)
            except ccxt.BaseError as error:
                return type(error)
            return None
        finally:
            await bot.close()

    # ccxt keeps a rejection for an id nobody waits for (Client.reject stores it in `rejections`) and hands it to
    # the next future with that id, but still sends that request: the venue places an order the bot saw refused
    assert run(scenario()) is ccxt.InvalidOrder
    (frame,) = ws_order_frames(fake)
    assert frame["id"] == "2" and [o["clientOrderId"] for o in fake.open_orders(KEY)] == [
        frame["params"]["newClientOrderId"]]


# ---- the official SDK, straight to the fake --------------------------------------------------------------------


async def _sdk_order(client: Any, **extra: Any) -> Any:
    return await client.new_order(symbol=BTC_ID, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                  time_in_force=NewOrderTimeInForceEnum.GTC, quantity=0.002, price=49000.0, **extra)


def test_sdk_order_methods_when_direct_then_models_filled_from_rest_shaped_answers(fake: FakeBinanceUsdm) -> None:
    async def scenario() -> tuple[Any, ...]:
        client = direct_ws_api_sdk(fake.base_url)
        await client.create_connection()
        try:
            placed = (await _sdk_order(client, new_client_order_id="sdk-1")).data()
            order_id = placed.result.order_id
            modified = (await client.modify_order(symbol=BTC_ID, side=ModifyOrderSideEnum.BUY, quantity=0.003,
                                                  price=48000.0, order_id=order_id)).data()
            queried = (await client.query_order(symbol=BTC_ID, order_id=order_id)).data()
            cancelled = (await client.cancel_order(symbol=BTC_ID, order_id=order_id)).data()
            positions = (await client.position_information()).data()
            balance = (await client.futures_account_balance()).data()
            account = (await client.account_information()).data()
            return placed, modified, queried, cancelled, positions, balance, account
        finally:
            await client.close_connection()

    placed, modified, queried, cancelled, positions, balance, account = run(scenario())
    assert (placed.status, placed.result.client_order_id, placed.result.orig_qty) == (200, "sdk-1", "0.002")
    assert placed.rate_limits and placed.rate_limits[0].rate_limit_type == "REQUEST_WEIGHT"
    assert (modified.result.orig_qty, modified.result.price) == ("0.003", "48000.00")
    assert queried.result.order_id == cancelled.result.order_id == placed.result.order_id
    assert cancelled.result.status == "CANCELED"
    assert len(positions.result) == 4 and balance.result[0].asset == "USDT"
    assert account.result.total_wallet_balance == "10000.00000000"
    frames = ws_messages(fake, "api")
    assert {f["method"] for f in frames} == {"order.place", "order.modify", "order.status", "order.cancel",
                                             "account.position", "account.balance", "account.status"}
    place = frames[0]
    assert (place["params"]["quantity"], place["params"]["price"]) == ("0.002", "49000.0")  # floats as str()
    assert "returnRateLimits" not in place["params"] and len(place["id"]) == 36  # uuid ids


def test_sdk_algo_stream_and_v2_methods_when_direct_then_answers_parse_and_rest_book_follows(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> tuple[Any, ...]:
        client = direct_ws_api_sdk(fake.base_url)
        await client.create_connection()
        try:
            algo = (await client.new_algo_order(
                algo_type=NewAlgoOrderAlgoTypeEnum.CONDITIONAL, symbol=BTC_ID, side=NewAlgoOrderSideEnum.SELL,
                type=NewAlgoOrderTypeEnum.STOP_MARKET, quantity=0.002, trigger_price=45000.0)).data()
            resting = fake.open_orders(KEY)
            cancelled = (await client.cancel_algo_order(algo_id=algo.result.algo_id)).data()
            started = (await client.start_user_data_stream()).data()
            kept = (await client.keepalive_user_data_stream()).data()
            stopped = (await client.close_user_data_stream()).data()
            # the v2 methods exist on the SDK's API objects only (no wrapper on the client)
            account = (await client._accountApi.account_information_v2()).data()
            balances = (await client._accountApi.futures_account_balance_v2()).data()
            positions = (await client._tradeApi.position_information_v2()).data()
            return algo, resting, cancelled, started, kept, stopped, account, balances, positions
        finally:
            await client.close_connection()

    algo, resting, cancelled, started, kept, stopped, account, balances, positions = run(scenario())
    assert (algo.status, algo.result.algo_status, algo.result.trigger_price) == (200, "NEW", "45000.00")
    assert [o["algoId"] for o in resting] == [algo.result.algo_id] and fake.open_orders(KEY) == []
    assert cancelled.result.algo_id == algo.result.algo_id
    assert started.result.listen_key == kept.result.listen_key == listen_key_for(KEY) and stopped.status == 200
    assert listen_key_for(KEY) not in fake._listen_keys
    assert account.result.total_wallet_balance == "10000.00000000" and balances.result[0].asset == "USDT"
    assert positions.result == []
    frames = ws_messages(fake, "api")
    assert [f["method"] for f in frames] == [
        "algoOrder.place", "algoOrder.cancel", "userDataStream.start", "userDataStream.ping",
        "userDataStream.stop", "v2/account.status", "v2/account.balance", "v2/account.position"]
    assert frames[1]["params"]["algoId"] == algo.result.algo_id  # a JSON integer, as the SDK sends ids
    assert set(frames[2]["params"]) == {"apiKey"}  # listen-key methods: the key only, unsigned


def test_sdk_session_logon_when_ed25519_key_then_later_frames_carry_only_a_timestamp(fake: FakeBinanceUsdm) -> None:
    private_pem, public_pem = ed25519_key_pair()
    fake.add_account("ed25519-key", "hmac-secret-never-used")
    ws_hub(fake).register_ed25519_key("ed25519-key", public_pem)

    async def scenario() -> tuple[dict[str, Any], Any, Any]:
        client = direct_ws_api_sdk(fake.base_url, api_key="ed25519-key", private_key=private_pem)
        await client.create_connection()
        try:
            logon = await sdk_session_logon(client)
            (session,) = ws_hub(fake).sessions()
            placed = (await _sdk_order(client)).data()
            return logon, session, placed
        finally:
            await client.close_connection()

    logon, session, placed = run(scenario())
    assert (logon["status"], logon["result"]["apiKey"], session.api_key) == (200, "ed25519-key", "ed25519-key")
    assert [o["orderId"] for o in fake.open_orders("ed25519-key")] == [placed.result.order_id]
    logon_frame, order_frame = ws_messages(fake, "api")
    assert logon_frame["method"] == "session.logon" and set(logon_frame["params"]) == {"apiKey", "timestamp",
                                                                                       "signature"}
    assert order_frame["method"] == "order.place"
    assert "apiKey" not in order_frame["params"] and "signature" not in order_frame["params"]
    assert isinstance(order_frame["params"]["timestamp"], int)


def test_sdk_error_frame_when_venue_refuses_then_data_is_the_error_object_and_nothing_raises(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> tuple[Any, Any, Any]:
        client = direct_ws_api_sdk(fake.base_url)
        await client.create_connection()
        try:
            real = (await client.new_order(symbol=BTC_ID, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                           time_in_force=NewOrderTimeInForceEnum.GTC, quantity=0.0015,
                                           price=49000.0)).data()
            ws_hub(fake).script_reply(refusal(-2010, "Risk firewall: blocked"))
            injected = (await _sdk_order(client)).data()
            after = (await _sdk_order(client)).data()
            return real, injected, after
        finally:
            await client.close_connection()

    real, injected, after = run(scenario())
    assert real == {"error": {"code": -1111, "msg": "Precision is over the maximum defined for this asset."}}
    assert injected == {"error": {"code": -2010, "msg": "Risk firewall: blocked"}}
    assert after.status == 200 and len(fake.open_orders(KEY)) == 1


def test_sdk_error_frame_when_id_missing_then_the_request_keeps_waiting_for_its_own_id(fake: FakeBinanceUsdm) -> None:
    async def scenario() -> tuple[bool, Any]:
        client = direct_ws_api_sdk(fake.base_url)
        await client.create_connection()
        try:
            ws_hub(fake).script_reply(lambda request: None)
            pending = asyncio.ensure_future(_sdk_order(client))
            deadline = time.monotonic() + WAIT_S
            while not ws_order_frames(fake) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            ws_hub(fake).push_raw(json.dumps({"id": None, "status": 400, "error": {"code": -2010, "msg": "x"}}))
            await asyncio.wait([pending], timeout=0.5)
            waiting = not pending.done()  # the SDK only reports an id-less error as a connection "error" event
            (frame,) = ws_order_frames(fake)
            ws_hub(fake).push_raw(json.dumps(refusal(-2010, "late")(frame)))
            return waiting, (await asyncio.wait_for(pending, WAIT_S)).data()
        finally:
            await client.close_connection()

    waiting, answer = run(scenario())
    assert waiting and answer == {"error": {"code": -2010, "msg": "late"}}  # unanswered, it would wait 20 s


def test_sdk_connect_when_url_unreachable_then_swallowed_and_next_call_raises() -> None:
    async def scenario() -> tuple[Any, str]:
        client = make_ws_api_sdk(f"ws://127.0.0.1:{free_port()}/ws-fapi/v1", timeout_ms=1000)
        connected = await client.create_connection()
        try:
            await _sdk_order(client)
        except ValueError as error:
            return connected, str(error)
        finally:
            await client.close_connection()
        return connected, ""

    assert run(scenario()) == (None, "No WebSocket connections available.")


class Inbox:
    """Collects what the SDK streams client hands a callback (pydantic models) and waits, bounded."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def __call__(self, item: Any) -> None:
        self.items.append(item)

    def events(self) -> list[Any]:
        """The event inside each `UserDataStreamEventsResponse` (the one set `oneof_schema_*_validator`); other
        streams' models as they came."""
        return [getattr(item, "actual_instance", item) for item in self.items]

    async def wait_for(self, count: int) -> list[Any]:
        deadline = time.monotonic() + WAIT_S
        while len(self.items) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.events()


async def _sdk_stream_round_trip(api: Any, streams: Any, venue: FakeBinanceUsdm) -> list[Any]:
    """Listen key over the WebSocket API, user data over the streams client, an order, the fake fills it."""
    await api.create_connection()
    await streams.create_connection()
    try:
        listen_key = (await api.start_user_data_stream()).data().result.listen_key
        inbox = Inbox()
        handle = await streams.user_data(listen_key)
        handle.on("message", inbox)
        deadline = time.monotonic() + WAIT_S
        while not any(listen_key in s.streams for s in ws_hub(venue).sessions()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        placed = (await _sdk_order(api)).data()
        venue.fill_order(placed.result.order_id)
        return await inbox.wait_for(3)
    finally:
        await api.close_connection()
        await streams.close_connection()


def _assert_sdk_stream(events: list[Any]) -> None:
    new, trade, account = events
    assert (type(new).__name__, new.o.x, new.o.X) == ("OrderTradeUpdate", "NEW", "NEW")
    assert (trade.o.x, trade.o.X, trade.o.l, trade.o.z, trade.o.L) == ("TRADE", "FILLED", "0.002", "0.002",
                                                                       "49000.00")
    assert type(account).__name__ == "AccountUpdate"
    assert [(p.s, p.pa, p.ps) for p in account.a.P] == [(BTC_ID, "0.002", "BOTH")]


def test_sdk_streams_when_fake_fills_then_user_data_callback_gets_parsed_events(fake: FakeBinanceUsdm) -> None:
    events = run(_sdk_stream_round_trip(direct_ws_api_sdk(fake.base_url), direct_streams_sdk(fake.base_url), fake))
    _assert_sdk_stream(events)
    assert sorted(fake.ws_handshakes) == ["/market/stream", "/private/stream", "/public/stream", "/ws-fapi/v1"]
    subscribe = next(m for m in ws_messages(fake, "stream") if m.get("method") == "SUBSCRIBE")
    assert subscribe["params"] == [listen_key_for(KEY)]


def test_sdk_mark_price_stream_when_subscribed_then_callback_gets_models_on_the_market_socket(
        fake: FakeBinanceUsdm) -> None:
    async def scenario() -> list[Any]:
        streams = direct_streams_sdk(fake.base_url)
        await streams.create_connection()
        try:
            inbox = Inbox()
            # the SDK formats the enum itself into the name ("...@MarkPriceStreamUpdateSpeedEnum.UPDATE_SPEED_1s"):
            # its value is what works
            handle = await streams.mark_price_stream(symbol="btcusdt",
                                                     update_speed=MarkPriceStreamUpdateSpeedEnum.UPDATE_SPEED_1s.value)
            handle.on("message", inbox)
            await inbox.wait_for(MARK_BURST)
            fake.set_mark_price(BTC_ID, Decimal("49999.9"))
            await inbox.wait_for(MARK_BURST + 1)
            return inbox.items
        finally:
            await streams.close_connection()

    items = run(scenario())
    assert [(type(i).__name__, i.e, i.s, i.p) for i in items] == [
        ("MarkPriceStreamResponse", "markPriceUpdate", BTC_ID, "50000.00000000")] * MARK_BURST + [
        ("MarkPriceStreamResponse", "markPriceUpdate", BTC_ID, "49999.90000000")]
    subscribe = next(f for f in fake.ws_frames if f.path == "/market/stream")
    assert json.loads(subscribe.text)["params"] == ["btcusdt@markPrice@1s"]


def test_sdk_when_wss_fake_and_ca_given_then_connects_and_trades(pki: TlsMaterial) -> None:
    with FakeBinanceUsdm(tls=pki.server_ssl_context()) as venue:
        async def scenario() -> Any:
            client = direct_ws_api_sdk(venue.base_url, ca_file=pki.ca_cert)
            await client.create_connection()
            try:
                return (await _sdk_order(client)).data()
            finally:
                await client.close_connection()

        answer = run(scenario())
        assert ws_api_url(venue).startswith("wss://") and answer.status == 200
        assert venue.internal_errors == []


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
def tls_fake(pki: TlsMaterial) -> Iterator[FakeBinanceUsdm]:
    with FakeBinanceUsdm(tls=pki.server_ssl_context()) as venue:
        yield venue
    assert venue.internal_errors == []


@pytest.fixture(scope="module")
def explicit_proxy(tmp_path_factory: pytest.TempPathFactory, pki: TlsMaterial) -> Iterator[Mitmdump]:
    proxy = start_mitmdump(tmp_path_factory.mktemp("mitm-regular"), "regular", pki.ca_cert)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def reverse_proxy(tmp_path_factory: pytest.TempPathFactory, pki: TlsMaterial,
                  tls_fake: FakeBinanceUsdm) -> Iterator[Mitmdump]:
    proxy = start_mitmdump(tmp_path_factory.mktemp("mitm-reverse"), f"reverse:{tls_fake.base_url}", pki.ca_cert)
    yield proxy
    proxy.stop()


@pytest.fixture
def venue(tls_fake: FakeBinanceUsdm) -> FakeBinanceUsdm:
    tls_fake.reset()
    tls_fake.ws_frames.clear()
    tls_fake.ws_handshakes.clear()
    return tls_fake


async def _ccxt_round_trip(bot: Any, venue: FakeBinanceUsdm) -> tuple[list[tuple[str, str, float]], Any]:
    """A public mark-price socket, then the WebSocket API order and its user-data stream, then the fill."""
    try:
        mark = await bot.watch_mark_price(BTC)
        assert mark["markPrice"] == 50000.0
        live = asyncio.ensure_future(bot.watch_orders())
        await until_watching(bot, "orders")
        await until_streaming(venue)
        order = await bot.create_order_ws(BTC, "limit", "buy", 0.002, 49000)
        first = statuses(await asyncio.wait_for(live, WAIT_S))
        pending = asyncio.ensure_future(bot.watch_orders())
        await until_watching(bot, "orders")
        venue.fill_order(int(order["id"]))
        filled = statuses(await asyncio.wait_for(pending, WAIT_S))[-1:]
        return first + filled, order
    finally:
        await bot.close()


def _assert_ccxt_trip(venue: FakeBinanceUsdm, orders: list[tuple[str, str, float]], order: Any) -> None:
    assert orders == [(order["id"], "open", 0.0), (order["id"], "closed", 0.002)]
    assert [m["method"] for m in ws_order_frames(venue)] == ["order.place"]
    assert sorted({f.path.partition("?")[0] for f in venue.ws_frames} | {h.partition("?")[0]
                                                                       for h in venue.ws_handshakes}) == [
        "/market/ws/0", "/private/ws", "/ws-fapi/v1"]
    assert {"GET /fapi/v1/exchangeInfo", "POST /fapi/v1/listenKey"} <= set(venue.calls())  # REST went the same way


def test_ccxt_pro_when_through_explicit_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeBinanceUsdm, explicit_proxy: Mitmdump) -> None:
    # the bot trusts only mitmproxy's CA (ccxt's cafile replaces certifi) while the venue's certificate is from
    # the test CA: the order can only have worked through the proxy
    orders, order = run(_ccxt_round_trip(
        proxied_binanceusdm_pro(venue.base_url, explicit_proxy.url, explicit_proxy.ca_cert), venue))
    _assert_ccxt_trip(venue, orders, order)


def test_ccxt_pro_when_through_reverse_mitmproxy_then_order_and_fill_stream_pass(
        venue: FakeBinanceUsdm, reverse_proxy: Mitmdump) -> None:
    orders, order = run(_ccxt_round_trip(reverse_binanceusdm_pro(reverse_proxy.url), venue))
    _assert_ccxt_trip(venue, orders, order)


def test_sdk_when_through_explicit_mitmproxy_then_order_and_user_data_pass(
        venue: FakeBinanceUsdm, explicit_proxy: Mitmdump) -> None:
    api = proxied_ws_api_sdk(venue.base_url, explicit_proxy.url, explicit_proxy.ca_cert)
    streams = proxied_streams_sdk(venue.base_url, explicit_proxy.url, explicit_proxy.ca_cert)
    _assert_sdk_stream(run(_sdk_stream_round_trip(api, streams, venue)))
    assert [m["method"] for m in ws_order_frames(venue)] == ["order.place"]


def test_sdk_when_through_reverse_mitmproxy_then_order_and_user_data_pass(
        venue: FakeBinanceUsdm, reverse_proxy: Mitmdump) -> None:
    api, streams = reverse_ws_api_sdk(reverse_proxy.url), reverse_streams_sdk(reverse_proxy.url)
    _assert_sdk_stream(run(_sdk_stream_round_trip(api, streams, venue)))
    assert [m["method"] for m in ws_order_frames(venue)] == ["order.place"]
