"""OKX order entry over WebSocket and its private channels, through the real `riskwall run`.

The bots are ccxt.pro okx and python-okx's `WsPrivateAsync`, unmodified, in both wirings (explicit proxy with the
sidecar's CA, and the plain reverse listener), on the in-memory store and on Redis. Each case asserts what the
client got (the exception ccxt raised, the frame python-okx received), what reached the fake OKX (which executes
orders through its REST code and pushes every order and position change to its channels), and what the sidecar
logged. Sizes are contracts: BTC-USDT-SWAP is 0.01 BTC a contract, so the 0.05 BTC order limit allows 5.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import ccxt.pro
import pytest
import websockets
from tests.fakes.okx import FakeOkx
from tests.fakes.okx_ws import inst_id_code, login_sign, ws_messages, ws_order_frames
from tests.support.okx_bots import make_okx, reverse_okx
from tests.support.okx_ws_bots import proxied_okx_pro, proxied_ws_sdk, reverse_okx_pro, reverse_ws_sdk
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar
from tests.support.tls import TlsMaterial
from tests.support.ws_e2e import FLAT, TIMEOUT_S, BotOnSidecar, run, sidecar_on, since, wait_until

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
HALTED_KEY = "okx-ws-halted-" + "h" * 22
HALTED_SECRET, HALTED_PASSPHRASE = "halted-secret-" + "s" * 18, "halted-pass-1"

POLICY = """
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{halted}"], venue: okx}}
rules:
  - id: halt-desk
    type: trading_state
    state: HALTED
    scope: {{accounts: [halted]}}
  - id: symbols
    type: allowed_symbols
    allow: ["BTC-USDT-SWAP", "ETH-USDT-SWAP"]
  - id: order-qty
    type: max_order_qty
    default: 1000
    symbols: {{BTC-USDT-SWAP: 0.05}}
  - id: position
    type: max_position
    symbols: {{BTC-USDT-SWAP: {{qty: 0.06}}}}
"""


@pytest.fixture(scope="module")
def okx_fake(pki: TlsMaterial) -> Iterator[FakeOkx]:
    with watch(FakeOkx(tls=pki.server_ssl_context())) as venue:
        venue.add_account(HALTED_KEY, HALTED_SECRET, HALTED_PASSPHRASE)
        yield venue
    assert venue.internal_errors == []


@pytest.fixture(scope="module", params=["memory", "redis"])
def okx_sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, okx_fake: FakeOkx,
                pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp(f"okx-ws-{request.param}")
    policy = workdir / "policy.yaml"
    policy.write_text(POLICY.format(halted=fingerprint(HALTED_KEY)))
    with sidecar_on(request.param, workdir, policy, {"okx": okx_fake.base_url}, pki.ca_cert) as running:
        yield running


@dataclass
class WsTrader(BotOnSidecar):
    """One bot on its own fresh OKX account, wired to the sidecar one way or the other."""

    venue = "okx"
    symbol = "BTC-USDT-SWAP"
    order_frames = staticmethod(ws_order_frames)

    passphrase: str = ""

    @property
    def credentials(self) -> dict[str, str]:
        return {"api_key": self.api_key, "secret": self.secret, "passphrase": self.passphrase}

    def pro(self) -> ccxt.pro.okx:
        """ccxt.pro okx; build it inside the coroutine that uses it."""
        if self.wiring == "explicit":
            return proxied_okx_pro(self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert,
                                   **self.credentials)
        return reverse_okx_pro(self.sidecar.reverse_url_for("okx"), **self.credentials)

    def sdk(self) -> Any:
        if self.wiring == "explicit":
            url = self.fake.base_url.replace("https://", "wss://") + "/ws/v5/private"
            return proxied_ws_sdk(url, self.sidecar.proxy_url, self.sidecar.ca_cert, **self.credentials)
        return reverse_ws_sdk(self.sidecar.reverse_url_for("okx").replace("http://", "ws://") + "/ws/v5/private",
                              **self.credentials)


@pytest.fixture(params=["explicit", "reverse"])
def new_trader(request: pytest.FixtureRequest, okx_fake: FakeOkx, okx_sidecar: Sidecar) -> Callable[..., WsTrader]:
    def make(api_key: str | None = None, secret: str | None = None, passphrase: str | None = None) -> WsTrader:
        key = api_key or "okx-ws-" + secrets.token_hex(14)
        secret_value = secret or "secret-" + secrets.token_hex(16)
        passphrase_value = passphrase or "Pass-" + secrets.token_hex(6)
        if api_key is None:
            okx_fake.add_account(key, secret_value, passphrase_value)
        return WsTrader(key, secret_value, str(request.param), okx_fake, okx_sidecar, passphrase=passphrase_value)

    return make


@pytest.fixture
def trader(new_trader: Callable[..., WsTrader]) -> WsTrader:
    return new_trader()


async def with_pro[T](trader: WsTrader, body: Callable[[ccxt.pro.okx], Coroutine[Any, Any, T]]) -> T:
    bot = trader.pro()
    try:
        await bot.load_markets()
        return await body(bot)
    finally:
        await bot.close()


# ---- ccxt.pro: order entry ---------------------------------------------------------------------------------


def test_create_order_ws_when_within_policy_then_reaches_venue_and_one_decision_is_logged(trader: WsTrader) -> None:
    order = run(with_pro(trader, lambda bot: bot.create_order_ws(BTC, "limit", "buy", 5, 49000)))

    [sent] = trader.frames()
    assert sent["op"] == "batch-orders" and sent["args"][0]["sz"] == "5"
    assert [o["ordId"] for o in trader.fake.open_orders(trader.api_key)] == [order["id"]]
    [line] = trader.decisions()
    assert (line["verdict"], line["endpoint"], line["symbol"], line["qty"], line["price"]) == (
        "allow", "WS batch-orders", "BTC-USDT-SWAP", "0.05", "49000")
    assert line["frame_id"] == sent["id"] and line["policy_revision"] and line["latency_us"] >= 0


@pytest.mark.parametrize(
    ("symbol", "contracts", "error", "rule", "reason"),
    [
        (BTC, 6, ccxt.InvalidOrder, "order-qty", "ORDER_QTY_EXCEEDS_MAX"),
        ("DOGE/USDT:USDT", 1, ccxt.BadSymbol, "symbols", "SYMBOL_NOT_ALLOWED"),
    ],
)
def test_create_order_ws_when_policy_violated_then_client_raises_venue_never_sees_it_and_socket_goes_on(
    trader: WsTrader, symbol: str, contracts: int, error: type[Exception], rule: str, reason: str
) -> None:
    async def body(bot: ccxt.pro.okx) -> tuple[BaseException, dict[str, Any]]:
        with pytest.raises(error) as raised:
            await bot.create_order_ws(symbol, "limit", "buy", contracts, 0.2 if "DOGE" in symbol else 49000)
        after = await bot.create_order_ws(ETH, "limit", "buy", 1, 2900)  # the same socket still works
        return raised.value, after

    raised, after = run(with_pro(trader, body))

    assert not isinstance(raised, ccxt.NetworkError)
    assert rule in str(raised) and reason in str(raised)
    [sent] = trader.frames()
    assert sent["args"][0]["sz"] == "1" and after["id"]
    [line] = trader.decisions(verdict="block")
    assert (line["rule_id"], line["reason"], line["endpoint"]) == (rule, reason, "WS batch-orders")


def test_edit_order_ws_when_new_size_exceeds_then_blocked_and_order_left_as_it_was(trader: WsTrader) -> None:
    async def body(bot: ccxt.pro.okx) -> str:
        order = await bot.create_order_ws(BTC, "limit", "buy", 2, 49000)
        with pytest.raises(ccxt.InvalidOrder, match="ORDER_QTY_EXCEEDS_MAX"):
            await bot.edit_order_ws(order["id"], BTC, "limit", "buy", 9, 49000)
        await bot.edit_order_ws(order["id"], BTC, "limit", "buy", 3, 49000)
        return str(order["id"])

    order_id = run(with_pro(trader, body))

    assert [f["op"] for f in trader.frames()] == ["batch-orders", "amend-order"]
    [resting] = trader.fake.open_orders(trader.api_key)
    assert (resting["ordId"], resting["sz"]) == (order_id, "3")


def test_cancel_order_ws_when_account_halted_then_cancel_passes_and_new_order_is_refused(
    new_trader: Callable[..., WsTrader], okx_fake: FakeOkx, pki: TlsMaterial
) -> None:
    halted = new_trader(HALTED_KEY, HALTED_SECRET, HALTED_PASSPHRASE)
    # an order the desk placed before the halt, straight at the venue
    venue = make_okx(okx_fake.base_url, ca_file=pki.ca_cert, **halted.credentials)
    venue.load_markets()
    resting = str(venue.create_order(BTC, "limit", "buy", 1, 40000)["id"])

    async def body(bot: ccxt.pro.okx) -> None:
        with pytest.raises(ccxt.PermissionDenied, match="TRADING_HALTED"):  # as over REST (50027)
            await bot.create_order_ws(BTC, "limit", "buy", 1, 49000)
        await bot.cancel_order_ws(resting, BTC)

    run(with_pro(halted, body))

    assert resting not in [o["ordId"] for o in okx_fake.open_orders(HALTED_KEY)]
    assert [line["action"] for line in halted.decisions(verdict="allow")] == ["cancel"]


def test_orders_over_ws_and_rest_when_mixed_then_one_position_limit_holds_for_both(trader: WsTrader) -> None:
    rest = reverse_okx(trader.sidecar.reverse_url_for("okx"), **trader.credentials)
    rest.load_markets()
    placed = rest.create_order(BTC, "limit", "buy", 4, 49000)  # 0.04 of the 0.06 BTC limit, over REST

    async def body(bot: ccxt.pro.okx) -> None:
        with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
            await bot.create_order_ws(BTC, "limit", "buy", 3, 49000)  # 0.04 + 0.03 > 0.06
        await bot.create_order_ws(BTC, "limit", "buy", 2, 49000)  # 0.06: at the limit

    run(with_pro(trader, body))

    assert placed["id"] and [f["args"][0]["sz"] for f in trader.frames()] == ["2"]


# ---- ccxt.pro: private channels keep the sidecar's positions true --------------------------------------------


def test_watch_positions_when_resting_order_fills_on_venue_then_sidecar_position_equals_venue_and_limit_binds(
    trader: WsTrader, okx_fake: FakeOkx
) -> None:
    async def body(bot: ccxt.pro.okx) -> None:
        order = await bot.create_order_ws(BTC, "limit", "buy", 5, 49000)
        # a stream-driven bot: orders and positions channels, no REST poll at all
        orders = asyncio.ensure_future(bot.watch_orders(BTC))
        positions = asyncio.ensure_future(bot.watch_positions([BTC]))
        trades = asyncio.ensure_future(bot.watch_my_trades(BTC))
        await asyncio.sleep(0.5)  # subscribed: the snapshot has come
        okx_fake.fill_order(order["id"])  # the market crosses the order
        _, _, [trade] = await asyncio.wait_for(asyncio.gather(orders, positions, trades), TIMEOUT_S)
        assert (trade["order"], trade["amount"]) == (order["id"], 5)
        await asyncio.to_thread(wait_until, lambda: trader.exposure() == {
            **FLAT, "position": Decimal("0.05")}, "the fill to reach the sidecar")
        with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
            await bot.create_order_ws(BTC, "limit", "buy", 2, 49000)  # 0.05 held + 0.02 > 0.06

    run(with_pro(trader, body))

    assert okx_fake.position(trader.api_key, "BTC-USDT-SWAP") == Decimal(5)
    assert trader.exposure() == {**FLAT, "position": Decimal("0.05")}


def test_watch_orders_when_venue_cancels_resting_order_then_its_pending_exposure_is_released(
    trader: WsTrader, okx_fake: FakeOkx
) -> None:
    async def body(bot: ccxt.pro.okx) -> None:
        order = await bot.create_order_ws(BTC, "limit", "buy", 5, 49000)
        with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
            await bot.create_order_ws(BTC, "limit", "buy", 2, 49000)  # 0.05 pending + 0.02 > 0.06
        watching = asyncio.ensure_future(bot.watch_orders(BTC))
        await asyncio.sleep(0.5)
        okx_fake.cancel_by_venue(order["id"])
        [update] = await asyncio.wait_for(watching, TIMEOUT_S)
        assert update["status"] == "canceled"
        await asyncio.to_thread(wait_until, lambda: trader.exposure().get("pending_buy")
                                == 0, "the cancel to reach the sidecar")
        await bot.create_order_ws(BTC, "limit", "buy", 5, 49000)

    run(with_pro(trader, body))

    assert [f["args"][0]["sz"] for f in trader.frames()] == ["5", "5"]


# ---- python-okx WsPrivateAsync ------------------------------------------------------------------------------


async def sdk_session(trader: WsTrader, frames: list[dict[str, Any]]) -> Any:
    client = trader.sdk()
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def callback(text: str) -> None:
        if text != "pong":
            message = json.loads(text)
            frames.append(message)
            received.put_nowait(message)

    await client.start()
    client.callback = callback
    await client.login()
    login = await asyncio.wait_for(received.get(), TIMEOUT_S)
    assert login.get("event") == "login" and login.get("code") == "0", login
    return client, received


@pytest.mark.parametrize(
    ("size", "code", "s_code", "reason"),
    [("5", "0", "0", None), ("6", "1", "51203", "ORDER_QTY_EXCEEDS_MAX")],
    ids=["allowed", "blocked"],
)
def test_python_okx_place_order_when_sent_then_answered_in_okx_envelope_with_its_id(
    trader: WsTrader, size: str, code: str, s_code: str, reason: str | None
) -> None:
    frames: list[dict[str, Any]] = []

    async def body() -> dict[str, Any]:
        client, received = await sdk_session(trader, frames)
        try:
            await client.place_order([{"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy",
                                       "ordType": "limit", "sz": size, "px": "49000"}], id="bot7")
            return await asyncio.wait_for(received.get(), TIMEOUT_S)  # type: ignore[no-any-return]
        finally:
            await client.stop()

    answer = run(body())

    assert (answer["id"], answer["op"], answer["code"]) == ("bot7", "order", code)
    assert answer["data"][0]["sCode"] == s_code
    assert len(trader.frames()) == (1 if reason is None else 0)
    if reason is not None:
        assert reason in answer["data"][0]["sMsg"] and answer["msg"] == ""
        [line] = trader.decisions(verdict="block")
        assert line["reason"] == reason and line["frame_id"] == "bot7"


# ---- raw frames: what cannot be read is refused on the socket ----------------------------------------------


def _login_frame(trader: WsTrader) -> str:
    timestamp = str(int(time.time()))
    return json.dumps({"op": "login", "args": [{"apiKey": trader.api_key, "passphrase": trader.passphrase,
                                                "timestamp": timestamp,
                                                "sign": login_sign(timestamp, trader.secret)}]})


def _order(**leg: Any) -> dict[str, Any]:
    return {"instId": "BTC-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "1",
            "px": "49000", **leg}


RAW_FRAMES = [
    ("unparseable size", True, {"id": "r1", "op": "order", "args": [_order(sz="1e1")]}, "PARSE_FAILED"),
    ("size not a number", True, {"id": "r2", "op": "order", "args": [_order(sz="abc")]}, "PARSE_FAILED"),
    ("unknown op", True, {"id": "r3", "op": "order-v2", "args": [_order()]}, "UNKNOWN_ENDPOINT"),
    ("unknown instIdCode", True, {"id": "r4", "op": "order", "args": [
        {k: v for k, v in _order(instIdCode=987654321).items() if k != "instId"}]}, "PARSE_FAILED"),
    ("conflicting instIdCode", True, {"id": "r5", "op": "order", "args": [
        _order(instIdCode=inst_id_code("ETH-USDT-SWAP"))]}, "PARSE_FAILED"),
    ("duplicate key", True, '{"id":"r6","op":"order","args":[{"instId":"BTC-USDT-SWAP","tdMode":"cross",'
                            '"side":"buy","ordType":"limit","sz":"1","sz":"900","px":"49000"}]}', "PARSE_FAILED"),
    ("before login", False, {"id": "r7", "op": "order", "args": [_order()]}, "UNKNOWN_ACCOUNT"),
]


@pytest.mark.parametrize(("case", "login", "frame", "reason"), RAW_FRAMES, ids=[c[0] for c in RAW_FRAMES])
def test_raw_order_frame_when_it_cannot_be_read_then_dropped_and_answered_with_its_id(
    trader: WsTrader, case: str, login: bool, frame: dict[str, Any] | str, reason: str
) -> None:
    url = trader.sidecar.reverse_url_for("okx").replace("http://", "ws://") + "/ws/v5/private"
    text = frame if isinstance(frame, str) else json.dumps(frame)
    frame_id = json.loads(text)["id"]

    async def body() -> dict[str, Any]:
        async with websockets.connect(url, open_timeout=TIMEOUT_S) as socket:
            if login:
                await socket.send(_login_frame(trader))
                assert json.loads(await socket.recv())["code"] == "0"
            await socket.send(text)
            return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))  # type: ignore[no-any-return]

    answer = run(body())

    assert (answer["id"], answer["op"], answer["code"], answer["msg"]) == (frame_id, json.loads(text)["op"], "1",
                                                                           "")
    assert reason in answer["data"][0]["sMsg"]
    assert trader.frames() == []
    assert not [m for m in ws_messages(trader.fake) if m.get("id") == frame_id]
    [line] = since(trader.sidecar, trader.lines_before, transport="ws", frame_id=frame_id)
    assert (line["verdict"], line["reason"]) == ("block", reason)


# ---- secrets -----------------------------------------------------------------------------------------------


def test_logs_when_trading_over_websocket_then_no_key_passphrase_or_login_signature_appears(
    trader: WsTrader
) -> None:
    async def body(bot: ccxt.pro.okx) -> None:
        await bot.create_order_ws(ETH, "limit", "buy", 1, 2900)
        with pytest.raises(ccxt.InvalidOrder):
            await bot.create_order_ws(BTC, "limit", "buy", 9, 49000)

    run(with_pro(trader, body))

    output = trader.sidecar.output()
    signs = [m["args"][0]["sign"] for m in ws_messages(trader.fake) if m.get("op") == "login"
             and m["args"][0]["apiKey"] == trader.api_key]
    assert signs
    for secret in [trader.api_key, trader.secret, trader.passphrase, *signs]:
        assert secret not in output
    assert trader.account in output


def test_private_socket_when_order_entry_off_then_handshake_refused_before_the_venue(
    tmp_path: Path, okx_fake: FakeOkx, pki: TlsMaterial
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(halted=fingerprint(HALTED_KEY)))
    before = len(okx_fake.ws_handshakes)
    with sidecar_on("memory", tmp_path / "off", policy, {"okx": okx_fake.base_url}, pki.ca_cert,
                    extra_args=("--ws-order-entry", "off")) as sidecar:
        url = sidecar.reverse_url_for("okx").replace("http://", "ws://") + "/ws/v5/private"

        async def connect() -> int:
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url, open_timeout=TIMEOUT_S):
                    pass
            return refused.value.response.status_code

        status_code = run(connect())
        public = run(_public_socket_opens(sidecar))

    assert status_code != 101 and public
    assert okx_fake.ws_handshakes[before:] == ["/ws/v5/public"]


async def _public_socket_opens(sidecar: Sidecar) -> bool:
    url = sidecar.reverse_url_for("okx").replace("http://", "ws://") + "/ws/v5/public"
    async with websockets.connect(url, open_timeout=TIMEOUT_S) as socket:
        await socket.send("ping")
        return await asyncio.wait_for(socket.recv(), TIMEOUT_S) == "pong"
