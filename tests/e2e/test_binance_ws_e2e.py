"""Binance USDⓈ-M order entry over its WebSocket API (`/ws-fapi/v1`) and its user-data streams, through the real
`riskwall run`.

The bots are ccxt.pro binanceusdm and the official SDK's WebSocket API and streams clients, unmodified, in both
wirings (explicit proxy with the sidecar's CA, and the plain reverse listener), on the in-memory store and on
Redis. Each case asserts what the client got, what reached the fake Binance (which verifies every signature,
executes orders through its REST code and pushes every order and position change on the user-data streams) and
what the sidecar logged.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest
import websockets
from binance_sdk_derivatives_trading_usds_futures.websocket_api.models import (
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
)
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.fakes.binance_usdm_ws import sign_ws_params, ws_hub, ws_messages, ws_order_frames
from tests.support.binance_ws_bots import (
    ed25519_key_pair,
    proxied_binanceusdm_pro,
    proxied_streams_sdk,
    proxied_ws_api_sdk,
    reverse_binanceusdm_pro,
    reverse_streams_sdk,
    reverse_ws_api_sdk,
    sdk_session_logon,
)
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar
from tests.support.tls import TlsMaterial
from tests.support.ws_e2e import FLAT, TIMEOUT_S, BotOnSidecar, run, sidecar_on, wait_until

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
HALTED_KEY = "binance-ws-halted-" + "h" * 46
HALTED_SECRET = "halted-secret-" + "s" * 50

POLICY = """
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{halted}"], venue: binanceusdm}}
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
def binance_fake(pki: TlsMaterial) -> Iterator[FakeBinanceUsdm]:
    with watch(FakeBinanceUsdm(tls=pki.server_ssl_context())) as venue:
        venue.add_account(HALTED_KEY, HALTED_SECRET)
        yield venue


@pytest.fixture(scope="module", params=["memory", "redis"])
def binance_sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    binance_fake: FakeBinanceUsdm, pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp(f"binance-ws-{request.param}")
    policy = workdir / "policy.yaml"
    policy.write_text(POLICY.format(halted=fingerprint(HALTED_KEY)))
    with sidecar_on(request.param, workdir, policy, {"binanceusdm": binance_fake.base_url}, pki.ca_cert) as running:
        yield running


@dataclass
class WsTrader(BotOnSidecar):
    """One bot on its own fresh Binance account, wired to the sidecar one way or the other."""

    venue = "binanceusdm"
    symbol = "BTCUSDT"
    order_frames = staticmethod(ws_order_frames)

    def pro(self, **credentials: str) -> ccxt.pro.binanceusdm:
        """ccxt.pro binanceusdm; build it inside the coroutine that uses it."""
        keys = {"api_key": self.api_key, "secret": self.secret, **credentials}
        if self.wiring == "explicit":
            return proxied_binanceusdm_pro(self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert, **keys)
        return reverse_binanceusdm_pro(self.sidecar.reverse_url_for("binanceusdm"), **keys)

    def sdk(self, **credentials: Any) -> Any:
        keys = {"api_key": self.api_key, "secret": self.secret, **credentials}
        if self.wiring == "explicit":
            return proxied_ws_api_sdk(self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert, **keys)
        return reverse_ws_api_sdk(self.sidecar.reverse_url_for("binanceusdm"), **keys)

    def streams_sdk(self) -> Any:
        if self.wiring == "explicit":
            return proxied_streams_sdk(self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert)
        return reverse_streams_sdk(self.sidecar.reverse_url_for("binanceusdm"))


@pytest.fixture(params=["explicit", "reverse"])
def new_trader(request: pytest.FixtureRequest, binance_fake: FakeBinanceUsdm,
               binance_sidecar: Sidecar) -> Callable[..., WsTrader]:
    def make(api_key: str | None = None, secret: str | None = None) -> WsTrader:
        key = api_key or "binance-ws-" + secrets.token_hex(26)
        secret_value = secret or "secret-" + secrets.token_hex(28)
        if api_key is None:
            binance_fake.add_account(key, secret_value)
        return WsTrader(key, secret_value, str(request.param), binance_fake, binance_sidecar)

    return make


@pytest.fixture
def trader(new_trader: Callable[..., WsTrader]) -> WsTrader:
    return new_trader()


async def with_pro[T](trader: WsTrader, body: Callable[[ccxt.pro.binanceusdm], Coroutine[Any, Any, T]]) -> T:
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
    assert sent["method"] == "order.place" and sent["params"]["quantity"] == "0.05"
    assert [str(o["orderId"]) for o in trader.fake.open_orders(trader.api_key)] == [order["id"]]
    [line] = trader.decisions()
    assert (line["verdict"], line["endpoint"], line["symbol"], line["qty"], line["price"]) == (
        "allow", "WS order.place", "BTCUSDT", "0.05", "49000")
    assert line["frame_id"] == sent["id"]


@pytest.mark.parametrize(
    ("symbol", "amount", "error", "rule", "reason"),
    [
        (BTC, 0.06, ccxt.InvalidOrder, "order-qty", "ORDER_QTY_EXCEEDS_MAX"),
        ("SOL/USDT:USDT", 1, ccxt.BadSymbol, "symbols", "SYMBOL_NOT_ALLOWED"),
    ],
)
def test_create_order_ws_when_policy_violated_then_client_raises_venue_never_sees_it_and_socket_goes_on(
    trader: WsTrader, symbol: str, amount: float, error: type[Exception], rule: str, reason: str
) -> None:
    async def body(bot: ccxt.pro.binanceusdm) -> tuple[BaseException, dict[str, Any]]:
        with pytest.raises(error) as raised:
            await bot.create_order_ws(symbol, "limit", "buy", amount, 150 if "SOL" in symbol else 49000)
        after = await bot.create_order_ws(ETH, "limit", "buy", 0.1, 2900)  # the same socket still works
        return raised.value, after

    raised, after = run(with_pro(trader, body))

    assert not isinstance(raised, ccxt.NetworkError)
    assert rule in str(raised) and reason in str(raised)
    [sent] = trader.frames()
    assert sent["params"]["symbol"] == "ETHUSDT" and after["id"]
    [line] = trader.decisions(verdict="block")
    assert (line["rule_id"], line["reason"], line["endpoint"]) == (rule, reason, "WS order.place")


def test_edit_order_ws_when_new_size_exceeds_then_blocked_and_order_left_as_it_was(trader: WsTrader) -> None:
    async def body(bot: ccxt.pro.binanceusdm) -> str:
        order = await bot.create_order_ws(BTC, "limit", "buy", 0.02, 49000)
        with pytest.raises(ccxt.InvalidOrder, match="ORDER_QTY_EXCEEDS_MAX"):
            await bot.edit_order_ws(order["id"], BTC, "limit", "buy", 0.09, 49000)
        await bot.edit_order_ws(order["id"], BTC, "limit", "buy", 0.03, 49000)
        return str(order["id"])

    order_id = run(with_pro(trader, body))

    assert [f["method"] for f in trader.frames()] == ["order.place", "order.modify"]
    [resting] = trader.fake.open_orders(trader.api_key)
    assert (str(resting["orderId"]), Decimal(resting["origQty"])) == (order_id, Decimal("0.03"))


def test_create_order_ws_when_conditional_order_exceeds_then_algo_order_refused_like_rest(trader: WsTrader) -> None:
    async def body(bot: ccxt.pro.binanceusdm) -> None:
        with pytest.raises(ccxt.InvalidOrder, match="ORDER_QTY_EXCEEDS_MAX"):
            await bot.create_order_ws(BTC, "market", "buy", 0.09, None, {"triggerPrice": 51000})
        await bot.create_order_ws(BTC, "market", "buy", 0.01, None, {"triggerPrice": 51000})

    run(with_pro(trader, body))

    [sent] = trader.frames()
    assert sent["method"] == "algoOrder.place" and sent["params"]["quantity"] == "0.01"
    assert [line["endpoint"] for line in trader.decisions()] == ["WS algoOrder.place", "WS algoOrder.place"]


def test_cancel_order_ws_when_account_halted_then_cancel_passes_and_new_order_is_refused(
    new_trader: Callable[..., WsTrader], binance_fake: FakeBinanceUsdm
) -> None:
    halted = new_trader(HALTED_KEY, HALTED_SECRET)
    # an order the desk placed before the halt, straight at the venue
    venue = ccxt.binanceusdm({"apiKey": HALTED_KEY, "secret": HALTED_SECRET, "verify": False,
                              "options": {"fetchCurrencies": False}})
    from tests.support.ccxt_bots import rewrite_api_urls
    rewrite_api_urls(venue, binance_fake.base_url)
    venue.load_markets()
    resting = str(venue.create_order(BTC, "limit", "buy", 0.01, 40000)["id"])

    async def body(bot: ccxt.pro.binanceusdm) -> None:
        with pytest.raises(ccxt.PermissionDenied, match="TRADING_HALTED"):  # as over REST
            await bot.create_order_ws(BTC, "limit", "buy", 0.01, 49000)
        await bot.cancel_order_ws(resting, BTC)

    run(with_pro(halted, body))

    assert resting not in [str(o["orderId"]) for o in binance_fake.open_orders(HALTED_KEY)]
    assert [line["action"] for line in halted.decisions(verdict="allow")] == ["cancel"]


# ---- ccxt.pro: the user-data stream keeps the sidecar's positions true ---------------------------------------


def test_watch_orders_when_resting_order_fills_on_venue_then_sidecar_position_equals_venue_and_limit_binds(
    trader: WsTrader, binance_fake: FakeBinanceUsdm
) -> None:
    async def body(bot: ccxt.pro.binanceusdm) -> None:
        order = await bot.create_order_ws(BTC, "limit", "buy", 0.05, 49000)
        # a stream-driven bot: its listen key comes through the sidecar (REST), then only the stream
        orders = asyncio.ensure_future(bot.watch_orders(BTC))
        positions = asyncio.ensure_future(bot.watch_positions([BTC]))
        trades = asyncio.ensure_future(bot.watch_my_trades(BTC))
        await asyncio.sleep(0.7)
        binance_fake.fill_order(int(order["id"]))  # the market crosses the order
        _, _, [trade] = await asyncio.wait_for(asyncio.gather(orders, positions, trades), TIMEOUT_S)
        assert (trade["order"], trade["amount"]) == (order["id"], 0.05)
        await asyncio.to_thread(wait_until, lambda: trader.exposure() == {**FLAT, "position": Decimal("0.05")},
                                "the fill to reach the sidecar")
        with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
            await bot.create_order_ws(BTC, "limit", "buy", 0.02, 49000)  # 0.05 held + 0.02 > 0.06

    run(with_pro(trader, body))

    assert binance_fake.position(trader.api_key, "BTCUSDT") == Decimal("0.05")


def test_watch_orders_when_venue_expires_resting_order_then_its_pending_exposure_is_released(
    trader: WsTrader, binance_fake: FakeBinanceUsdm
) -> None:
    async def body(bot: ccxt.pro.binanceusdm) -> None:
        order = await bot.create_order_ws(BTC, "limit", "buy", 0.05, 49000)
        with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
            await bot.create_order_ws(BTC, "limit", "buy", 0.02, 49000)  # 0.05 pending + 0.02 > 0.06
        watching = asyncio.ensure_future(bot.watch_orders(BTC))
        await asyncio.sleep(0.7)
        binance_fake.expire_order(int(order["id"]))
        [update] = await asyncio.wait_for(watching, TIMEOUT_S)
        assert update["status"] in ("expired", "canceled")
        await asyncio.to_thread(wait_until, lambda: trader.exposure() == FLAT, "the expiry to reach the sidecar")
        await bot.create_order_ws(BTC, "limit", "buy", 0.05, 49000)

    run(with_pro(trader, body))

    assert [f["params"]["quantity"] for f in trader.frames()] == ["0.05", "0.05"]


# ---- the official SDK --------------------------------------------------------------------------------------


async def sdk_order(client: Any, quantity: float) -> Any:
    return await client.new_order(symbol="BTCUSDT", side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                  time_in_force=NewOrderTimeInForceEnum.GTC, quantity=quantity, price=49000.0)


@pytest.mark.parametrize(("quantity", "reason"), [(0.05, None), (0.06, "ORDER_QTY_EXCEEDS_MAX")],
                         ids=["allowed", "blocked"])
def test_sdk_new_order_when_sent_then_answered_in_binance_envelope_for_its_own_request(
    trader: WsTrader, quantity: float, reason: str | None
) -> None:
    async def body() -> Any:
        client = trader.sdk()
        await client.create_connection()
        try:
            return (await sdk_order(client, quantity)).data()
        finally:
            await client.close_connection()

    answer = run(body())

    if reason is None:
        assert answer.status == 200 and Decimal(answer.result.orig_qty) == Decimal("0.05")
        assert len(trader.frames()) == 1
    else:
        # the SDK never raises on a venue error: its answer is the error object
        assert answer["error"]["code"] == -2010 and reason in answer["error"]["msg"]
        assert trader.frames() == []
        [line] = trader.decisions(verdict="block")
        assert line["reason"] == reason


def test_sdk_session_logon_when_orders_carry_no_key_then_decided_for_the_logged_on_account(
    new_trader: Callable[..., WsTrader], binance_fake: FakeBinanceUsdm
) -> None:
    trader = new_trader()
    private_pem, public_pem = ed25519_key_pair()
    ws_hub(binance_fake).register_ed25519_key(trader.api_key, public_pem)

    async def body() -> tuple[Any, Any]:
        client = trader.sdk(private_key=private_pem)
        await client.create_connection()
        try:
            logon = await sdk_session_logon(client)
            assert logon["status"] == 200
            allowed = (await sdk_order(client, 0.05)).data()
            blocked = (await sdk_order(client, 0.06)).data()
            return allowed, blocked
        finally:
            await client.close_connection()

    allowed, blocked = run(body())

    [sent] = trader.frames()
    assert "apiKey" not in sent["params"]  # the order names no key: the logon's account is the one checked
    assert allowed.status == 200 and "ORDER_QTY_EXCEEDS_MAX" in blocked["error"]["msg"]
    assert [line["verdict"] for line in trader.decisions()] == ["allow", "block"]


def test_sdk_user_data_stream_when_subscribed_by_listen_key_then_fills_teach_the_sidecar(
    trader: WsTrader, binance_fake: FakeBinanceUsdm
) -> None:
    async def body() -> None:
        api, streams = trader.sdk(), trader.streams_sdk()
        await api.create_connection()
        await streams.create_connection()
        try:
            # the listen key is issued over the WebSocket API and subscribed to on /private/stream
            listen_key = (await api.start_user_data_stream()).data().result.listen_key
            handle = await streams.user_data(listen_key)
            events: list[Any] = []
            handle.on("message", events.append)
            await asyncio.sleep(0.5)
            placed = (await sdk_order(api, 0.04)).data()
            binance_fake.fill_order(placed.result.order_id)
            await asyncio.to_thread(wait_until, lambda: trader.exposure() == {**FLAT, "position": Decimal("0.04")},
                                    "the stream's fill to reach the sidecar")
            for _ in range(100):  # the bot's own handler runs after the sidecar has relayed the event
                if events:
                    break
                await asyncio.sleep(0.05)
            assert events
        finally:
            await api.close_connection()
            await streams.close_connection()

    run(body())


# ---- raw frames --------------------------------------------------------------------------------------------


def _order_params(**fields: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01",
            "price": "49000", **fields}


RAW_FRAMES = [
    ("exponent size", "order.place", _order_params(quantity="1e-2"), "PARSE_FAILED"),
    ("size not a number", "order.place", _order_params(quantity="abc"), "PARSE_FAILED"),
    ("unknown method", "order.replace", _order_params(), "UNKNOWN_ENDPOINT"),
    ("batch on the socket", "order.place", _order_params(batchOrders="[]"), "PARSE_FAILED"),
]


@pytest.mark.parametrize(("case", "method", "params", "reason"), RAW_FRAMES, ids=[c[0] for c in RAW_FRAMES])
def test_raw_order_frame_when_it_cannot_be_read_then_dropped_and_answered_with_its_id(
    trader: WsTrader, case: str, method: str, params: dict[str, Any], reason: str
) -> None:
    url = trader.sidecar.reverse_url_for("binanceusdm").replace("http://", "ws://") + "/ws-fapi/v1"
    frame_id = "raw-" + secrets.token_hex(4)
    signed = sign_ws_params({**params, "apiKey": trader.api_key, "timestamp": int(time.time() * 1000)},
                            trader.secret)
    text = json.dumps({"id": frame_id, "method": method, "params": signed})

    async def body() -> dict[str, Any]:
        async with websockets.connect(url, open_timeout=TIMEOUT_S) as socket:
            await socket.send(text)
            return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))  # type: ignore[no-any-return]

    answer = run(body())

    assert (answer["id"], answer["status"]) == (frame_id, 400)
    assert answer["error"]["code"] < 0 and reason in answer["error"]["msg"]
    assert not [m for m in ws_messages(trader.fake) if m.get("id") == frame_id]
    [line] = trader.decisions(frame_id=frame_id)
    assert (line["verdict"], line["reason"]) == ("block", reason)


@pytest.mark.parametrize("id_field", [{"id": None}, {}], ids=["null-id", "no-id"])
def test_raw_order_frame_when_it_has_no_id_then_refused_as_its_answer_could_not_be_paired(
    trader: WsTrader, id_field: dict[str, Any]
) -> None:
    url = trader.sidecar.reverse_url_for("binanceusdm").replace("http://", "ws://") + "/ws-fapi/v1"
    client_id = "noid-" + secrets.token_hex(4)
    signed = sign_ws_params({**_order_params(type="MARKET", quantity="0.01", newClientOrderId=client_id),
                             "apiKey": trader.api_key, "timestamp": int(time.time() * 1000)}, trader.secret)
    signed.pop("price"), signed.pop("timeInForce")
    text = json.dumps({**id_field, "method": "order.place", "params": signed})

    async def body() -> dict[str, Any]:
        async with websockets.connect(url, open_timeout=TIMEOUT_S) as socket:
            await socket.send(text)
            return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))  # type: ignore[no-any-return]

    answer = run(body())

    # the venue's answer to it would carry no id to learn the fill by: an order that adds risk is refused
    assert (answer.get("id"), answer["status"]) == (None, 400) and "PARSE_FAILED" in answer["error"]["msg"]
    assert not [m for m in ws_messages(trader.fake) if client_id in json.dumps(m)]
    assert trader.fake.position(trader.api_key, "BTCUSDT") == 0
    [line] = [d for d in trader.decisions() if client_id in json.dumps(d) or d.get("frame_id") is None]
    assert (line["verdict"], line["reason"]) == ("block", "PARSE_FAILED") and "no id" in line["detail"]


def test_logs_when_trading_and_streaming_then_no_key_signature_or_listen_key_appears(
    trader: WsTrader, binance_fake: FakeBinanceUsdm
) -> None:
    async def body(bot: ccxt.pro.binanceusdm) -> None:
        await bot.create_order_ws(ETH, "limit", "buy", 0.1, 2900)
        watching = asyncio.ensure_future(bot.watch_orders(BTC))
        await asyncio.sleep(0.5)
        with pytest.raises(ccxt.InvalidOrder):
            await bot.create_order_ws(BTC, "limit", "buy", 0.09, 49000)
        watching.cancel()

    run(with_pro(trader, body))

    output = trader.sidecar.output()
    api_frames = [m["params"] for m in ws_messages(binance_fake, "api") if isinstance(m.get("params"), dict)]
    signatures = [p["signature"] for p in api_frames if p.get("apiKey") == trader.api_key and "signature" in p]
    listen_keys = [h.split("listenKey=", 1)[1] for h in binance_fake.ws_handshakes if "listenKey=" in h]
    assert signatures and listen_keys
    for secret in [trader.api_key, trader.secret, *signatures, *listen_keys]:
        assert secret not in output
    assert trader.account in output
