"""One ccxt (or ccxt.pro) bot per test on Binance USDⓈ-M, Bybit or OKX, through one real `riskwall run` that
fronts the project's three fake exchanges: what the pre-trade rules' end-to-end suites share.

Every bot trades on a fresh API key of its venue, in the wiring the test asks for (explicit proxy with the
sidecar's CA, or the plain-HTTP reverse listener). Sizes: 0.01 BTC is 0.01 on Binance and Bybit and 1 contract
on OKX (0.01 BTC a contract); OKX orders name their margin mode (`tdMode`) and are sent isolated.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.bybit_fixtures import ccxt_trader as bybit_trader
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.fakes.binance_usdm_ws import ws_order_frames as binance_frames
from tests.fakes.bybit import FakeBybit
from tests.fakes.bybit_ws import ws_order_frames as bybit_frames
from tests.fakes.okx import FakeOkx
from tests.fakes.okx_ws import ws_order_frames as okx_frames
from tests.support.binance_ws_bots import proxied_binanceusdm_pro, reverse_binanceusdm_pro
from tests.support.bybit_ws_bots import proxied_bybit_pro, reverse_bybit_pro
from tests.support.ccxt_bots import proxied_bot, reverse_bot
from tests.support.okx_bots import proxied_okx, reverse_okx
from tests.support.okx_ws_bots import proxied_okx_pro, reverse_okx_pro
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial
from tests.support.ws_e2e import sidecar_on, since

from riskwall.model import fingerprint

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
NATIVE = {
    "binanceusdm": {BTC: "BTCUSDT", ETH: "ETHUSDT", SOL: "SOLUSDT"},
    "bybit": {BTC: "BTCUSDT", ETH: "ETHUSDT", SOL: "SOLUSDT"},
    "okx": {BTC: "BTC-USDT-SWAP", ETH: "ETH-USDT-SWAP", SOL: "SOL-USDT-SWAP"},
}
VENUES = list(NATIVE)


@dataclass
class Bot:
    """One ccxt bot on a fresh account of one venue, wired to the sidecar one way or the other."""

    venue: str
    api_key: str
    fake: Any
    sidecar: Sidecar
    exchange: Any = field(repr=False)
    # ccxt's amount for 0.01 BTC, and the parameters every order of this venue carries
    unit: float = 0.01
    order_params: dict[str, Any] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return fingerprint(self.api_key)

    def received(self, method: str | None = None, path: str | None = None) -> list[Any]:
        return [r for r in self.fake.requests if r.api_key == self.api_key
                and (method is None or r.method == method) and (path is None or r.path == path)]

    def orders_received(self) -> list[Any]:
        return [r for r in self.fake.orders_received() if r.api_key == self.api_key]

    def decisions(self, **match: Any) -> list[dict[str, Any]]:
        return self.sidecar.decisions(account=self.account, **match)

    def order(self, symbol: str, kind: str, side: str, price: float | None = None, *, amount: float | None = None,
              **params: Any) -> Any:
        return self.exchange.create_order(symbol, kind, side, amount or self.unit, price,
                                          {**self.order_params, **params})

    def learn_mark(self, symbol: str) -> None:
        """Have the sidecar see the symbol's mark price in an answer: premiumIndex, tickers, mark-price."""
        if self.venue == "bybit":
            self.exchange.fetch_ticker(symbol)  # Bybit's tickers carry markPrice
        else:
            self.exchange.fetch_mark_price(symbol)


@dataclass
class Fakes:
    binanceusdm: FakeBinanceUsdm
    bybit: FakeBybit
    okx: FakeOkx

    def of(self, venue: str) -> Any:
        return getattr(self, venue)

    def __getitem__(self, venue: str) -> Any:
        return self.of(venue)

    def items(self) -> list[tuple[str, Any]]:
        return [(venue, self.of(venue)) for venue in VENUES]

    def set_mark(self, venue: str, symbol: str, price: Decimal) -> None:
        self.of(venue).set_mark_price(NATIVE[venue][symbol], price)

    def stop(self) -> None:
        for venue in VENUES:
            self.of(venue).stop()


def max_position_policy(qty: Decimal) -> str:
    """A policy of one enforced rule, `position`: every account's position within `qty` by default."""
    return f"""
version: 1
mode: enforce
rules:
  - id: position
    type: max_position
    default: {{qty: {qty}}}
"""


def start_fakes(pki: TlsMaterial) -> Fakes:
    # watched: the session-wide secret scan (conftest.secret_scan) proves none of their credentials is logged
    return Fakes(watch(FakeBinanceUsdm(tls=pki.server_ssl_context())).start(),
                 watch(FakeBybit(tls=pki.server_ssl_context())).start(),
                 watch(FakeOkx(tls=pki.server_ssl_context())).start())


def start_sidecar_for(folder: Path, policy: str, fakes: Fakes, pki: TlsMaterial,
                      env: dict[str, str] | None = None) -> Sidecar:
    """A sidecar on `policy` (YAML text) with every venue's upstream one of `fakes`."""
    path = folder / "policy.yaml"
    path.write_text(policy)
    return start_sidecar(folder / "sidecar", path, upstreams={venue: fakes.of(venue).base_url for venue in VENUES},
                         upstream_ca=pki.ca_cert, env=env)


# ---- fixtures: a suite imports `three_fakes` and one of the sidecars (they register as `fakes` and `sidecar`);
# the sidecar runs the suite module's POLICY (and SIDECAR_ENV, where it has one)


@pytest.fixture(scope="module", name="fakes")
def three_fakes(pki: TlsMaterial) -> Iterator[Fakes]:
    running = start_fakes(pki)
    yield running
    running.stop()


@pytest.fixture(scope="module", name="sidecar")
def rest_sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fakes: Fakes,
                 pki: TlsMaterial) -> Iterator[Sidecar]:
    module = request.module
    running = start_sidecar_for(tmp_path_factory.mktemp(module.__name__.rpartition(".")[2]), module.POLICY, fakes,
                                pki, env=getattr(module, "SIDECAR_ENV", None))
    yield running
    running.stop()


@pytest.fixture(scope="module", name="sidecar", params=["memory", "redis"])
def ws_sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fakes: Fakes,
               pki: TlsMaterial) -> Iterator[Sidecar]:
    folder = tmp_path_factory.mktemp(f"{request.module.__name__.rpartition('.')[2]}-{request.param}")
    with ws_sidecar_for(request.param, folder, request.module.POLICY, fakes, pki) as running:
        yield running


def make_bot(fakes: Fakes, sidecar: Sidecar, wiring: str, venue: str, prefix: str) -> Bot:
    """A bot on a fresh account of `venue` (its key starts with `prefix`), through `sidecar` wired as `wiring`."""
    fake = fakes.of(venue)
    if venue == "bybit":
        trader = bybit_trader(fake, sidecar, wiring)
        return Bot(venue, trader.api_key, fake, sidecar, trader.bot)
    key, secret = f"{prefix}-{venue}-" + secrets.token_hex(12), "secret-" + secrets.token_hex(16)
    exchange: Any
    if venue == "binanceusdm":
        fake.add_account(key, secret)
        exchange = (proxied_bot(fake.base_url, sidecar.proxy_url, sidecar.ca_cert, api_key=key, secret=secret)
                    if wiring == "explicit" else
                    reverse_bot(sidecar.reverse_url_for(venue), api_key=key, secret=secret))
        exchange.load_markets()
        return Bot(venue, key, fake, sidecar, exchange)
    passphrase = "Pass-" + secrets.token_hex(6)
    fake.add_account(key, secret, passphrase)
    credentials = {"api_key": key, "secret": secret, "passphrase": passphrase}
    exchange = (proxied_okx(fake.base_url, sidecar.proxy_url, sidecar.ca_cert, **credentials)
                if wiring == "explicit" else reverse_okx(sidecar.reverse_url_for(venue), **credentials))
    exchange.load_markets()
    return Bot(venue, key, fake, sidecar, exchange, unit=1, order_params={"marginMode": "isolated"})


# ---- WebSocket order entry (ccxt.pro) -------------------------------------------------------------------------

FRAMES: dict[str, Callable[[Any], list[dict[str, Any]]]] = {
    "binanceusdm": binance_frames, "bybit": bybit_frames, "okx": okx_frames}
PROXIED_PRO = {"binanceusdm": proxied_binanceusdm_pro, "bybit": proxied_bybit_pro, "okx": proxied_okx_pro}
REVERSE_PRO = {"binanceusdm": reverse_binanceusdm_pro, "bybit": reverse_bybit_pro, "okx": reverse_okx_pro}


@contextmanager
def ws_sidecar_for(store: str, folder: Path, policy: str, fakes: Fakes, pki: TlsMaterial) -> Iterator[Sidecar]:
    """A sidecar on `policy` with `store` ("memory" or "redis") in front of `fakes`, for socket tests."""
    path = folder / "policy.yaml"
    path.write_text(policy)
    with sidecar_on(store, folder, path, {venue: fake.base_url for venue, fake in fakes.items()},
                    pki.ca_cert) as running:
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
        if self.wiring == "explicit":
            return PROXIED_PRO[self.venue](self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert, **keys)
        return REVERSE_PRO[self.venue](self.sidecar.reverse_url_for(self.venue), **keys)


def make_ws_bot(fakes: Fakes, sidecar: Sidecar, wiring: str, venue: str, prefix: str) -> WsBot:
    """A ccxt.pro bot on a fresh account of `venue` (its key starts with `prefix`), wired as `wiring`."""
    key, secret = f"{prefix}-{venue}-" + secrets.token_hex(10), "secret-" + secrets.token_hex(16)
    passphrase = "Pass-" + secrets.token_hex(6)
    if venue == "okx":
        fakes[venue].add_account(key, secret, passphrase)
    else:
        fakes[venue].add_account(key, secret)
    return WsBot(venue, key, secret, passphrase, wiring, fakes[venue], sidecar)


async def with_pro[T](bot: WsBot, body: Callable[[Any], Coroutine[Any, Any, T]], *, learn_mark: bool = True) -> T:
    """`body` run with the bot's ccxt.pro client, markets loaded and (with `learn_mark`) the mark price shown to
    the sidecar over REST (premiumIndex, Bybit's tickers, OKX's mark-price); the client is closed after."""
    client = bot.pro()
    try:
        await client.load_markets()
        if learn_mark:
            await (client.fetch_ticker(BTC) if bot.venue == "bybit" else client.fetch_mark_price(BTC))
        return await body(client)
    finally:
        await client.close()
