"""Bybit v5 order entry over WebSocket (`/v5/trade`) and its private stream (`/v5/private`), through the real
`riskwall run`.

The bots are ccxt.pro bybit and pybit's `WebSocketTrading` and private `WebSocket`, unmodified, in both wirings
(explicit proxy with the sidecar's CA, and the plain reverse listener), on the in-memory store and on Redis.
Each case asserts what the client got, what reached the fake Bybit (which executes orders through its REST code
and pushes every order and position change on its private stream) and what the sidecar logged.

ccxt's Bybit socket handler takes permission codes (10005, 10027) for a failed login and never resolves the
order's call, so a kill-switch or forbidden block on the socket answers 110032: ccxt raises InvalidOrder.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest
import websockets
from tests.fakes.bybit import FakeBybit
from tests.fakes.bybit_ws import auth_signature, ws_messages, ws_order_frames
from tests.support.bybit_ws_bots import (
    proxied_bybit_pro,
    proxied_pybit_private,
    proxied_pybit_trading,
    reverse_bybit_pro,
    reverse_pybit_private,
    reverse_pybit_trading,
)
from tests.support.ccxt_bots import rewrite_api_urls
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar
from tests.support.tls import TlsMaterial
from tests.support.ws_e2e import FLAT, TIMEOUT_S, BotOnSidecar, run, sidecar_on, since, wait_until

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
HALTED_KEY = "bybit-ws-halted-" + "h" * 20
HALTED_SECRET = "halted-secret-" + "s" * 18

POLICY = """
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{halted}"], venue: bybit}}
rules:
  - id: halt-desk
    type: trading_state
    state: HALTED
    scope: {{accounts: [halted]}}
  - id: symbols
    type: allowed_symbols
    allow: ["BTCUSDT", "ETHUSDT"]
  - id: order-qty
    type: max_order_qty
    default: 1000
    symbols: {{BTCUSDT: 0.05}}
  - id: position
    type: max_position
    symbols: {{BTCUSDT: {{qty: 0.06}}}}
"""


@pytest.fixture(scope="module")
def bybit_fake(pki: TlsMaterial) -> Iterator[FakeBybit]:
    with watch(FakeBybit(tls=pki.server_ssl_context())) as venue:
        venue.add_account(HALTED_KEY, HALTED_SECRET)
        yield venue


@pytest.fixture(scope="module", params=["memory", "redis"])
def bybit_sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, bybit_fake: FakeBybit,
                  pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp(f"bybit-ws-{request.param}")
    policy = workdir / "policy.yaml"
    policy.write_text(POLICY.format(halted=fingerprint(HALTED_KEY)))
    with sidecar_on(request.param, workdir, policy, {"bybit": bybit_fake.base_url}, pki.ca_cert) as running:
        yield running


@dataclass
class WsTrader(BotOnSidecar):
    """One bot on its own fresh Bybit account, wired to the sidecar one way or the other."""

    venue = "bybit"
    symbol = "BTCUSDT"
    order_frames = staticmethod(ws_order_frames)

    def pro(self) -> ccxt.pro.bybit:
        """ccxt.pro bybit; build it inside the coroutine that uses it."""
        if self.wiring == "explicit":
            return proxied_bybit_pro(self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert,
                                     api_key=self.api_key, secret=self.secret)
        return reverse_bybit_pro(self.sidecar.reverse_url_for("bybit"), api_key=self.api_key, secret=self.secret)

    def pybit_private(self) -> Any:
        """pybit's private WebSocket; build it from a plain thread."""
        if self.wiring == "explicit":
            return proxied_pybit_private(self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert,
                                         api_key=self.api_key, secret=self.secret, retries=2)
        return reverse_pybit_private(self.sidecar.reverse_url_for("bybit"), api_key=self.api_key,
                                     secret=self.secret, retries=2)

    def pybit_trading(self) -> Any:
        """pybit's WebSocketTrading; build it from a plain thread."""
        if self.wiring == "explicit":
            return proxied_pybit_trading(self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert,
                                         api_key=self.api_key, secret=self.secret, retries=2)
        return reverse_pybit_trading(self.sidecar.reverse_url_for("bybit"), api_key=self.api_key, secret=self.secret,
                                     retries=2)


@pytest.fixture(params=["explicit", "reverse"])
def new_trader(request: pytest.FixtureRequest, bybit_fake: FakeBybit,
               bybit_sidecar: Sidecar) -> Callable[..., WsTrader]:
    def make(api_key: str | None = None, secret: str | None = None) -> WsTrader:
        key = api_key or "bybit-ws-" + secrets.token_hex(14)
        secret_value = secret or "secret-" + secrets.token_hex(16)
        if api_key is None:
            bybit_fake.add_account(key, secret_value)
        return WsTrader(key, secret_value, str(request.param), bybit_fake, bybit_sidecar)

    return make


@pytest.fixture
def trader(new_trader: Callable[..., WsTrader]) -> WsTrader:
    return new_trader()


async def with_pro[T](trader: WsTrader, body: Callable[[ccxt.pro.bybit], Coroutine[Any, Any, T]]) -> T:
    bot = trader.pro()
    try:
        await bot.load_markets()
        return await body(bot)
    finally:
        await bot.close()


# ---- ccxt.pro: order entry ---------------------------------------------------------------------------------


def test_create_order_ws_when_within_policy_then_reaches_venue_and_one_decision_is_logged(trader: WsTrader) -> None:
    order = run(with_pro(trader, lambda bot: bot.create_order_ws(BTC, "limit", "buy", 0.05, 49000)))

    [sent] = trader.frames()
    assert sent["op"] == "order.create" and sent["args"][0]["qty"] == "0.05"
    assert [o["orderId"] for o in trader.fake.open_orders(trader.api_key)] == [order["id"]]
    [line] = trader.decisions()
    assert (line["verdict"], line["endpoint"], line["symbol"], line["qty"], line["price"]) == (
        "allow", "WS order.create", "BTCUSDT", "0.05", "49000")
    assert line["frame_id"] == sent["reqId"]


@pytest.mark.parametrize(
    ("symbol", "amount", "error", "rule", "reason"),
    [
        (BTC, 0.06, ccxt.InvalidOrder, "order-qty", "ORDER_QTY_EXCEEDS_MAX"),
        # over REST ccxt reads Bybit's "Not supported symbols" text (BadSymbol); on the socket the code wins
        ("SOL/USDT:USDT", 1, ccxt.BadRequest, "symbols", "SYMBOL_NOT_ALLOWED"),
    ],
)
def test_create_order_ws_when_policy_violated_then_client_raises_venue_never_sees_it_and_socket_goes_on(
    trader: WsTrader, symbol: str, amount: float, error: type[Exception], rule: str, reason: str
) -> None:
    async def body(bot: ccxt.pro.bybit) -> tuple[BaseException, dict[str, Any]]:
        with pytest.raises(error) as raised:
            await bot.create_order_ws(symbol, "limit", "buy", amount, 100 if "SOL" in symbol else 49000)
        after = await bot.create_order_ws(ETH, "limit", "buy", 0.1, 2900)  # the same socket still works
        return raised.value, after

    raised, after = run(with_pro(trader, body))

    assert not isinstance(raised, ccxt.NetworkError)
    assert rule in str(raised) and reason in str(raised)
    [sent] = trader.frames()
    assert sent["args"][0]["symbol"] == "ETHUSDT" and after["id"]
    [line] = trader.decisions(verdict="block")
    assert (line["rule_id"], line["reason"], line["endpoint"]) == (rule, reason, "WS order.create")


def test_edit_order_ws_when_new_size_exceeds_then_blocked_and_order_left_as_it_was(trader: WsTrader) -> None:
    async def body(bot: ccxt.pro.bybit) -> str:
        order = await bot.create_order_ws(BTC, "limit", "buy", 0.02, 49000)
        with pytest.raises(ccxt.InvalidOrder, match="ORDER_QTY_EXCEEDS_MAX"):
            await bot.edit_order_ws(order["id"], BTC, "limit", "buy", 0.09, 49000)
        await bot.edit_order_ws(order["id"], BTC, "limit", "buy", 0.03, 49000)
        return str(order["id"])

    order_id = run(with_pro(trader, body))

    assert [f["op"] for f in trader.frames()] == ["order.create", "order.amend"]
    [resting] = trader.fake.open_orders(trader.api_key)
    assert (resting["orderId"], Decimal(resting["qty"])) == (order_id, Decimal("0.03"))


def test_cancel_order_ws_when_account_halted_then_cancel_passes_and_new_order_raises_without_hanging(
    new_trader: Callable[..., WsTrader], bybit_fake: FakeBybit, pki: TlsMaterial
) -> None:
    halted = new_trader(HALTED_KEY, HALTED_SECRET)
    # an order the desk placed before the halt, straight at the venue
    venue = ccxt.bybit({"apiKey": HALTED_KEY, "secret": HALTED_SECRET, "verify": False, "timeout": 10_000,
                        "options": {"fetchCurrencies": False}})
    rewrite_api_urls(venue, bybit_fake.base_url)
    venue.load_markets()
    resting = str(venue.create_order(BTC, "limit", "buy", 0.01, 40000)["id"])

    async def body(bot: ccxt.pro.bybit) -> None:
        # Bybit's kill-switch code on a socket would leave ccxt's call unresolved: the block is an order error
        with pytest.raises(ccxt.InvalidOrder, match="TRADING_HALTED"):
            await asyncio.wait_for(bot.create_order_ws(BTC, "limit", "buy", 0.01, 49000), TIMEOUT_S)
        await asyncio.wait_for(bot.cancel_order_ws(resting, BTC), TIMEOUT_S)

    run(with_pro(halted, body))

    assert resting not in [o["orderId"] for o in bybit_fake.open_orders(HALTED_KEY)]
    assert [line["action"] for line in halted.decisions(verdict="allow")] == ["cancel"]


# ---- the private stream keeps the sidecar's positions true ---------------------------------------------------


def test_watch_orders_when_resting_order_fills_on_venue_then_sidecar_position_equals_venue_and_limit_binds(
    trader: WsTrader, bybit_fake: FakeBybit
) -> None:
    async def body(bot: ccxt.pro.bybit) -> None:
        order = await bot.create_order_ws(BTC, "limit", "buy", 0.05, 49000)
        orders = asyncio.ensure_future(bot.watch_orders(BTC))
        trades = asyncio.ensure_future(bot.watch_my_trades(BTC))
        await asyncio.sleep(0.5)  # subscribed
        bybit_fake.fill_order(order["id"])  # the market crosses the order: no request from the bot at all
        _, [trade] = await asyncio.wait_for(asyncio.gather(orders, trades), TIMEOUT_S)
        assert (trade["order"], trade["amount"]) == (order["id"], 0.05)
        await asyncio.to_thread(wait_until, lambda: trader.exposure() == {**FLAT, "position": Decimal("0.05")},
                                "the fill to reach the sidecar")
        with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
            await bot.create_order_ws(BTC, "limit", "buy", 0.02, 49000)  # 0.05 held + 0.02 > 0.06

    run(with_pro(trader, body))

    assert bybit_fake.position(trader.api_key, "BTCUSDT") == Decimal("0.05")


def test_pybit_private_stream_when_position_changes_on_venue_then_the_stream_teaches_the_sidecar(
    trader: WsTrader, bybit_fake: FakeBybit
) -> None:
    pushes: list[dict[str, Any]] = []
    stream = trader.pybit_private()
    try:
        stream.order_stream(pushes.append)
        stream.position_stream(pushes.append)
        time.sleep(0.3)
        bybit_fake.set_position(trader.api_key, "BTCUSDT", Decimal("0.04"))  # e.g. a fill of an older order

        wait_until(lambda: trader.exposure() == {**FLAT, "position": Decimal("0.04")},
                   "the position push to be learned")
        # the bot's own callback runs on pybit's thread after the sidecar relayed the push
        wait_until(lambda: any(p.get("topic") == "position" for p in pushes), "pybit to hand the push to the bot")
    finally:
        stream.exit()


# ---- pybit WebSocketTrading --------------------------------------------------------------------------------


@pytest.mark.parametrize(("qty", "reason", "code"), [("0.05", None, 0), ("0.06", "ORDER_QTY_EXCEEDS_MAX", 110032),
                                                     ("abc", "PARSE_FAILED", 110032)],
                         ids=["allowed", "blocked", "unparseable"])
def test_pybit_place_order_when_sent_then_answered_in_bybit_envelope_with_its_req_id(
    trader: WsTrader, qty: str, reason: str | None, code: int
) -> None:
    answers: list[dict[str, Any]] = []
    answered = threading.Event()

    def record(message: dict[str, Any]) -> None:
        answers.append(message)
        answered.set()

    client = trader.pybit_trading()
    try:
        client.place_order(record, error_callback=record, category="linear", symbol="BTCUSDT", side="Buy",
                           orderType="Limit", qty=qty, price="49000")
        assert answered.wait(TIMEOUT_S)
    finally:
        client.exit()

    [answer] = answers
    assert (answer["op"], answer["retCode"]) == ("order.create", code)
    assert len(trader.frames()) == (1 if reason is None else 0)
    if reason is not None:
        assert reason in answer["retMsg"]
        [line] = trader.decisions(verdict="block")
        assert line["reason"] == reason and line["frame_id"] == answer["reqId"]


# ---- raw frames --------------------------------------------------------------------------------------------


def _auth(trader: WsTrader) -> str:
    expires = int(time.time() * 1000) + 10_000
    return json.dumps({"op": "auth", "args": [trader.api_key, expires, auth_signature(expires, trader.secret)]})


def _order(**fields: Any) -> dict[str, Any]:
    return {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.01",
            "price": "49000", **fields}


def _frame(req_id: str, op: str, args: list[Any]) -> dict[str, Any]:
    return {"reqId": req_id, "header": {"X-BAPI-TIMESTAMP": str(int(time.time() * 1000))}, "op": op, "args": args}


RAW_FRAMES = [
    ("exponent size", True, _frame("r1", "order.create", [_order(qty="1e-2")]), "PARSE_FAILED"),
    ("size not a number", True, _frame("r2", "order.create", [_order(qty="abc")]), "PARSE_FAILED"),
    ("unknown op", True, _frame("r3", "order.replace", [_order()]), "UNKNOWN_ENDPOINT"),
    ("two objects", True, _frame("r4", "order.create", [_order(), _order()]), "PARSE_FAILED"),
    ("before auth", False, _frame("r5", "order.create", [_order()]), "UNKNOWN_ACCOUNT"),
    ("batch with one bad leg", True, _frame("r6", "order.create-batch", [
        {"category": "linear", "request": [_order(), _order(qty="9")]}]), "ORDER_QTY_EXCEEDS_MAX"),
]


@pytest.mark.parametrize(("case", "auth", "frame", "reason"), RAW_FRAMES, ids=[c[0] for c in RAW_FRAMES])
def test_raw_order_frame_when_it_cannot_be_allowed_then_dropped_and_answered_with_its_req_id(
    trader: WsTrader, case: str, auth: bool, frame: dict[str, Any], reason: str
) -> None:
    url = trader.sidecar.reverse_url_for("bybit").replace("http://", "ws://") + "/v5/trade"

    async def body() -> dict[str, Any]:
        async with websockets.connect(url, open_timeout=TIMEOUT_S) as socket:
            if auth:
                await socket.send(_auth(trader))
                assert json.loads(await socket.recv())["retCode"] == 0
            await socket.send(json.dumps(frame))
            return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))  # type: ignore[no-any-return]

    answer = run(body())

    assert (answer["reqId"], answer["op"]) == (frame["reqId"], frame["op"])
    assert answer["retCode"] not in (0, 10003, 10004, 10005, 10007, 10027, 10029) and reason in answer["retMsg"]
    assert trader.frames() == []
    assert not [m for m in ws_messages(trader.fake) if m.get("reqId") == frame["reqId"]]
    [line] = since(trader.sidecar, trader.lines_before, transport="ws", frame_id=frame["reqId"])
    assert (line["verdict"], line["reason"]) == ("block", reason)


def test_logs_when_trading_over_websocket_then_no_key_or_auth_signature_appears(trader: WsTrader) -> None:
    async def body(bot: ccxt.pro.bybit) -> None:
        await bot.create_order_ws(ETH, "limit", "buy", 0.1, 2900)
        with pytest.raises(ccxt.InvalidOrder):
            await bot.create_order_ws(BTC, "limit", "buy", 0.09, 49000)

    run(with_pro(trader, body))

    output = trader.sidecar.output()
    signatures = [m["args"][2] for m in ws_messages(trader.fake) if m.get("op") == "auth"
                  and m["args"][0] == trader.api_key]
    assert signatures
    for secret in [trader.api_key, trader.secret, *signatures]:
        assert secret not in output
    assert trader.account in output


def test_raw_order_frame_when_its_id_is_spelled_req_id_then_refused_as_unpairable(trader: WsTrader) -> None:
    # the trade socket answers under `reqId` alone: an order sent as `req_id` would be answered under no id the
    # sidecar could pair, its fill never learned and its exposure released after a minute
    url = trader.sidecar.reverse_url_for("bybit").replace("http://", "ws://") + "/v5/trade"
    frame = {"req_id": "snake-1", **{k: v for k, v in _frame("-", "order.create", [_order()]).items() if k != "reqId"}}

    async def body() -> dict[str, Any]:
        async with websockets.connect(url, open_timeout=TIMEOUT_S) as socket:
            await socket.send(_auth(trader))
            assert json.loads(await socket.recv())["retCode"] == 0
            await socket.send(json.dumps(frame))
            return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))  # type: ignore[no-any-return]

    answer = run(body())

    assert answer["retCode"] != 0 and "PARSE_FAILED" in answer["retMsg"] and "has no id" in answer["retMsg"]
    assert trader.frames() == []
    [line] = since(trader.sidecar, trader.lines_before, transport="ws", verdict="block")
    assert line["reason"] == "PARSE_FAILED"


def test_second_auth_when_sent_before_the_first_is_answered_then_refused_and_orders_stay_on_the_first_account(
    trader: WsTrader,
) -> None:
    # Bybit keeps the first key and answers the second auth "Repeat auth"; had the sidecar taken the first success
    # as the second login's, the next order would be checked against the stranger's empty budget and filled on
    # this account, past its position limit
    url = trader.sidecar.reverse_url_for("bybit").replace("http://", "ws://") + "/v5/trade"
    stranger = "bybit-ws-stranger-" + secrets.token_hex(10)
    expires = int(time.time() * 1000) + 10_000
    second_auth = json.dumps({"op": "auth", "args": [stranger, expires, "0" * 64]})

    async def order(socket: Any, req_id: str) -> dict[str, Any]:
        await socket.send(json.dumps(_frame(req_id, "order.create", [_order(qty="0.05")])))
        while True:
            answer = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))
            if answer.get("reqId") == req_id:
                return answer  # type: ignore[no-any-return]

    async def body() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        async with websockets.connect(url, open_timeout=TIMEOUT_S) as first:
            await first.send(_auth(trader))
            assert json.loads(await first.recv())["retCode"] == 0
            placed = await order(first, "on-first")
        async with websockets.connect(url, open_timeout=TIMEOUT_S) as second:
            await second.send(_auth(trader))
            await second.send(second_auth)
            auths = [json.loads(await asyncio.wait_for(second.recv(), TIMEOUT_S)) for _ in range(2)]
            return placed, auths, await order(second, "on-second")

    placed, auths, refused = run(body())

    assert placed["retCode"] == 0
    assert sorted(a["retCode"] == 0 for a in auths) == [False, True]  # the first key taken, the stranger's not
    assert refused["retCode"] != 0 and "POSITION_EXCEEDS_MAX" in refused["retMsg"]
    assert len(trader.frames()) == 1
    blocked = since(trader.sidecar, trader.lines_before, transport="ws", verdict="block")
    [order_line] = [line for line in blocked if line["endpoint"] == "WS order.create"]
    assert (order_line["reason"], order_line["account"]) == ("POSITION_EXCEEDS_MAX", trader.account)
    # the stranger's auth either came while the first awaited its answer (refused by the sidecar, never sent) or
    # after it (sent, and refused by the venue as a repeat): never both, never taken
    refused_here = [line for line in blocked if line["endpoint"] == "WS auth"]
    reached_venue = [m for m in ws_messages(trader.fake) if m.get("op") == "auth" and m["args"][0] == stranger]
    assert len(refused_here) + len(reached_venue) == 1
    assert all(line["reason"] == "PARSE_FAILED" for line in refused_here)
