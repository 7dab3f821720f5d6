"""Pre-trade rules over each venue's WebSocket order entry: ccxt.pro (binanceusdm `order.place`, bybit
`order.create`, okx `batch-orders`) through the real `riskwall run`, on the in-memory store and on Redis.

The bot learns the mark price through the sidecar over REST, then sends an order far through it on the socket:
ccxt.pro must fail that call with the same order-class exception as over REST (never an authentication error,
which ccxt.pro bybit takes for a failed login and never resolves), the fake never sees the frame, and the same
socket goes on taking orders. OKX orders carry their margin mode, which the policy's `margin_mode` rule reads.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.pro
import pytest
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.fakes.binance_usdm_ws import ws_order_frames as binance_frames
from tests.fakes.bybit import FakeBybit
from tests.fakes.bybit_ws import ws_order_frames as bybit_frames
from tests.fakes.okx import FakeOkx
from tests.fakes.okx_ws import ws_order_frames as okx_frames
from tests.support.binance_ws_bots import proxied_binanceusdm_pro, reverse_binanceusdm_pro
from tests.support.bybit_ws_bots import proxied_bybit_pro, reverse_bybit_pro
from tests.support.okx_ws_bots import proxied_okx_pro, reverse_okx_pro
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar
from tests.support.tls import TlsMaterial
from tests.support.ws_e2e import TIMEOUT_S, run, sidecar_on, since

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
NATIVE = {"binanceusdm": "BTCUSDT", "bybit": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
VENUES = list(NATIVE)
MARK = Decimal("50000")

POLICY = """
version: 1
mode: enforce
rules:
  - id: collar
    type: price_collar
    max_deviation_pct: 5
  - id: margin
    type: margin_mode
    allow: [ISOLATED]
    allow_hedge: false
"""

FRAMES: dict[str, Callable[[Any], list[dict[str, Any]]]] = {
    "binanceusdm": binance_frames, "bybit": bybit_frames, "okx": okx_frames}


@pytest.fixture(scope="module")
def fakes(pki: TlsMaterial) -> Iterator[dict[str, Any]]:
    # watched: the session-wide secret scan (conftest.secret_scan) proves none of their credentials is logged
    running = {"binanceusdm": watch(FakeBinanceUsdm(tls=pki.server_ssl_context())).start(),
               "bybit": watch(FakeBybit(tls=pki.server_ssl_context())).start(),
               "okx": watch(FakeOkx(tls=pki.server_ssl_context())).start()}
    yield running
    for fake in running.values():
        fake.stop()


@pytest.fixture(scope="module", params=["memory", "redis"])
def sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fakes: dict[str, Any],
            pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp(f"pretrade-ws-{request.param}")
    policy = workdir / "policy.yaml"
    policy.write_text(POLICY)
    upstreams = {venue: fake.base_url for venue, fake in fakes.items()}
    with sidecar_on(request.param, workdir, policy, upstreams, pki.ca_cert) as running:
        yield running


@dataclass
class WsBot:
    """A ccxt.pro bot on a fresh account of one venue; `frames_before` and `lines_before` mark where its test
    began (tests run one at a time)."""

    venue: str
    api_key: str
    secret: str
    passphrase: str
    wiring: str
    fake: Any
    sidecar: Sidecar
    frames_before: int = 0
    lines_before: int = 0

    def __post_init__(self) -> None:
        self.frames_before = len(FRAMES[self.venue](self.fake))
        self.lines_before = len(self.sidecar.log_lines())

    @property
    def account(self) -> str:
        return fingerprint(self.api_key)

    @property
    def unit(self) -> float:
        return 1 if self.venue == "okx" else 0.01  # 0.01 BTC: one OKX contract

    def frames(self) -> list[dict[str, Any]]:
        return FRAMES[self.venue](self.fake)[self.frames_before:]

    def decisions(self, **match: Any) -> list[dict[str, Any]]:
        return since(self.sidecar, self.lines_before, account=self.account, transport="ws", **match)

    def pro(self) -> Any:
        """The venue's ccxt.pro client; build it inside the coroutine that uses it."""
        keys: dict[str, str] = {"api_key": self.api_key, "secret": self.secret}
        if self.venue == "okx":
            keys["passphrase"] = self.passphrase
        proxied = {"binanceusdm": proxied_binanceusdm_pro, "bybit": proxied_bybit_pro, "okx": proxied_okx_pro}
        reverse = {"binanceusdm": reverse_binanceusdm_pro, "bybit": reverse_bybit_pro, "okx": reverse_okx_pro}
        if self.wiring == "explicit":
            return proxied[self.venue](self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert, **keys)
        return reverse[self.venue](self.sidecar.reverse_url_for(self.venue), **keys)


@pytest.fixture(params=["explicit", "reverse"])
def new_bot(request: pytest.FixtureRequest, fakes: dict[str, Any], sidecar: Sidecar) -> Callable[[str], WsBot]:
    def make(venue: str) -> WsBot:
        key, secret = f"pt-ws-{venue}-" + secrets.token_hex(10), "secret-" + secrets.token_hex(16)
        passphrase = "Pass-" + secrets.token_hex(6)
        if venue == "okx":
            fakes[venue].add_account(key, secret, passphrase)
        else:
            fakes[venue].add_account(key, secret)
        return WsBot(venue, key, secret, passphrase, str(request.param), fakes[venue], sidecar)

    return make


async def with_pro[T](bot: WsBot, body: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    client = bot.pro()
    try:
        await client.load_markets()
        # the mark price, through the sidecar over REST: premiumIndex, Bybit's tickers, OKX's mark-price
        await (client.fetch_ticker(BTC) if bot.venue == "bybit" else client.fetch_mark_price(BTC))
        return await body(client)
    finally:
        await client.close()


@pytest.mark.parametrize("venue", VENUES)
def test_create_order_ws_when_price_trades_through_the_mark_then_order_error_frame_never_sent_and_socket_goes_on(
    new_bot: Callable[[str], WsBot], fakes: dict[str, Any], venue: str
) -> None:
    fakes[venue].set_mark_price(NATIVE[venue], MARK)
    bot = new_bot(venue)
    isolated = {"marginMode": "isolated"} if venue == "okx" else {}

    async def body(client: Any) -> tuple[BaseException, dict[str, Any]]:
        with pytest.raises(ccxt.BaseError) as raised:
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 53000, isolated), TIMEOUT_S)
        after = await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", bot.unit, 52000, isolated),
                                       TIMEOUT_S)
        return raised.value, after

    raised, after = run(with_pro(bot, body))

    assert type(raised) is ccxt.InvalidOrder, f"{type(raised).__name__}: {raised}"
    assert not isinstance(raised, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "collar" in str(raised) and "PRICE_OUTSIDE_COLLAR" in str(raised)
    assert len(bot.frames()) == 1 and after["id"]  # only the order inside the collar reached the venue
    [line] = bot.decisions(verdict="block")
    assert (line["rule_id"], line["reason"], line["symbol"]) == ("collar", "PRICE_OUTSIDE_COLLAR", NATIVE[venue])
    assert {"price": "53000", "reference": "50000", "max_price": "52500"}.items() <= line["context"].items()
    assert [x["price"] for x in bot.decisions(verdict="allow")] == ["52000"]


def test_create_order_ws_when_okx_order_trades_in_cross_margin_then_bad_request_and_frame_never_sent(
    new_bot: Callable[[str], WsBot], fakes: dict[str, Any]
) -> None:
    fakes["okx"].set_mark_price("BTC-USDT-SWAP", MARK)
    bot = new_bot("okx")

    async def body(client: Any) -> BaseException:
        with pytest.raises(ccxt.BaseError) as raised:  # ccxt's default tdMode: cross
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", 1, 49000), TIMEOUT_S)
        return raised.value

    raised = run(with_pro(bot, body))

    assert type(raised) is ccxt.BadRequest and "MARGIN_MODE_NOT_ALLOWED" in str(raised)
    assert bot.frames() == []
    [line] = bot.decisions(verdict="block")
    assert {"margin_mode": "CROSSED", "allowed": "ISOLATED", "action": "new"}.items() <= line["context"].items()
