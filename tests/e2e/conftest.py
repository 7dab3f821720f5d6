"""End-to-end fixtures: the project's fake Binance USDⓈ-M on loopback TLS, the real `riskwall run` process in
front of it, and the real ccxt as the bot, wired through the explicit proxy or the reverse listener.

Each test trades on its own fresh API key, so positions and rate windows never leak between tests that share
one sidecar.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ccxt
import pytest
from tests.fakes.binance_usdm import FakeBinanceUsdm, RecordedRequest
from tests.support.ccxt_bots import proxied_bot, reverse_bot
from tests.support.secrets import credentials_seen, leaks, watch
from tests.support.sidecar import STARTED, Sidecar, start_sidecar
from tests.support.tls import TlsMaterial, make_test_pki

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

# keys whose accounts the e2e policy puts in a trading state (labels `halted` and `reducing`)
HALTED_KEY = "e2e-halted-key-" + "h" * 48
REDUCING_KEY = "e2e-reducing-key-" + "r" * 47
ADMIN_TOKEN = "e2e-admin-token-" + "t" * 32
# the one host name (besides addresses and localhost) the sidecars' admin endpoints answer under
ADMIN_HOST_NAME = "riskwall-admin.test"

E2E_POLICY = """
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{halted}"]}}
  reducing: {{fingerprints: ["{reducing}"]}}
rules:
  - id: halt-desk
    type: trading_state
    state: HALTED
    scope: {{accounts: [halted]}}
  - id: reduce-desk
    type: trading_state
    state: REDUCING
    scope: {{accounts: [reducing]}}
  - id: symbols
    type: allowed_symbols
    allow: [BTCUSDT, ETHUSDT, SOLUSDT]
  - id: leverage
    type: max_leverage
    default: 10
  - id: order-qty
    type: max_order_qty
    default: 100
    symbols: {{BTCUSDT: 0.5}}
  - id: order-notional
    type: max_order_notional
    default: 100000
  - id: position
    type: max_position
    symbols: {{BTCUSDT: {{qty: 1}}}}
  - id: order-rate
    type: order_rate
    limits: ["5/60s"]
    per: account
"""


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session", autouse=True)
def secret_scan() -> Iterator[None]:
    """After the whole end-to-end session: no credential any fake saw appears in any sidecar's output."""
    yield
    secrets = credentials_seen()
    assert secrets, "the fakes recorded no credentials: the scan would prove nothing"
    for sidecar in STARTED:
        found = leaks(sidecar.output(), secrets)
        assert not found, f"sidecar {sidecar.workdir} logged credentials: {found}"


@pytest.fixture(scope="session")
def fake(pki: TlsMaterial) -> Iterator[FakeBinanceUsdm]:
    with watch(FakeBinanceUsdm(tls=pki.server_ssl_context())) as venue:
        venue.add_account(HALTED_KEY, "halted-secret-" + "s" * 40)
        venue.add_account(REDUCING_KEY, "reducing-secret-" + "s" * 40)
        yield venue


@pytest.fixture(scope="session")
def e2e_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "e2e.yaml"
    path.write_text(E2E_POLICY.format(halted=fingerprint(HALTED_KEY), reducing=fingerprint(REDUCING_KEY)))
    return path


def launch(workdir: Path, policy: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, **kwargs: object) -> Sidecar:
    return start_sidecar(
        workdir,
        policy,
        upstreams={"binanceusdm": fake.base_url},
        upstream_ca=pki.ca_cert,
        env={"RISKWALL_ADMIN_TOKEN": ADMIN_TOKEN, "RISKWALL_ADMIN_HOSTS": ADMIN_HOST_NAME},
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def sidecar(tmp_path_factory: pytest.TempPathFactory, e2e_policy: Path, fake: FakeBinanceUsdm,
            pki: TlsMaterial) -> Iterator[Sidecar]:
    running = launch(tmp_path_factory.mktemp("sidecar"), e2e_policy, fake, pki)
    yield running
    running.stop()


@dataclass
class Trader:
    """One bot on its own fresh account, wired to the sidecar one way or the other."""

    api_key: str
    secret: str
    bot: ccxt.binanceusdm
    fake: FakeBinanceUsdm

    def received(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """What reached the exchange from this trader (optionally one endpoint)."""
        return [
            r for r in self.fake.requests
            if r.api_key == self.api_key and (method is None or r.method == method)
            and (path is None or r.path == path)
        ]

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.fake.orders_received() if r.api_key == self.api_key]


type TraderFactory = Callable[..., Trader]


def make_trader_factory(fake: FakeBinanceUsdm, sidecar: Sidecar, wiring: str) -> TraderFactory:
    def make(api_key: str | None = None, secret: str | None = None) -> Trader:
        key = api_key or "e2e-" + secrets.token_hex(24)
        secret_value = secret or "secret-" + secrets.token_hex(24)
        if api_key is None:
            fake.add_account(key, secret_value)
        if wiring == "explicit":
            bot = proxied_bot(fake.base_url, sidecar.proxy_url, sidecar.ca_cert, api_key=key, secret=secret_value)
        else:
            bot = reverse_bot(sidecar.reverse_url, api_key=key, secret=secret_value)
        bot.load_markets()
        return Trader(key, secret_value, bot, fake)

    return make


@pytest.fixture(params=["explicit", "reverse"])
def wiring(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_trader(fake: FakeBinanceUsdm, sidecar: Sidecar, wiring: str) -> TraderFactory:
    return make_trader_factory(fake, sidecar, wiring)


@pytest.fixture
def trader(new_trader: TraderFactory) -> Trader:
    return new_trader()
