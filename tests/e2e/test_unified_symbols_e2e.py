"""One policy written with ccxt's unified symbol enforces the same limit on Binance, Bybit and OKX.

A single sidecar fronts the three fake exchanges; the real ccxt trades BTC/USDT:USDT on each. OKX counts in
contracts (0.01 BTC each), so the same 0.6 BTC is 60 contracts there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ccxt
import pytest
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.fakes.bybit import FakeBybit
from tests.fakes.okx import FakeOkx
from tests.support.bybit_bots import make_bybit
from tests.support.ccxt_bots import reverse_bot
from tests.support.okx_bots import reverse_okx
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
POLICY = """
rules:
  - id: btc-qty
    type: max_order_qty
    default: 100
    symbols: {"BTC/USDT:USDT": 0.5}
"""


@dataclass
class Venue:
    name: str
    fake: FakeBinanceUsdm | FakeBybit | FakeOkx
    bot: Callable[[Sidecar], ccxt.Exchange]
    # how many of ccxt's units make one BTC on this venue
    units_per_btc: int

    def orders_received(self) -> int:
        return len(self.fake.orders_received())


@pytest.fixture(scope="module")
def venues(pki: TlsMaterial) -> Iterator[dict[str, Venue]]:
    binance = watch(FakeBinanceUsdm(tls=pki.server_ssl_context())).start()
    bybit = watch(FakeBybit(tls=pki.server_ssl_context())).start()
    okx = watch(FakeOkx(tls=pki.server_ssl_context())).start()
    yield {
        "binanceusdm": Venue("binanceusdm", binance, lambda s: reverse_bot(s.reverse_url_for("binanceusdm")), 1),
        "bybit": Venue("bybit", bybit, lambda s: make_bybit(s.reverse_url_for("bybit")), 1),
        "okx": Venue("okx", okx, lambda s: reverse_okx(s.reverse_url_for("okx"), api_key="okx-test-key",
                                                       secret="okx-test-secret", passphrase="okx-test-passphrase"),
                     100),
    }
    for fake in (binance, bybit, okx):
        fake.stop()


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory, venues: dict[str, Venue], pki: TlsMaterial) -> Iterator[Sidecar]:
    folder = tmp_path_factory.mktemp("unified")
    policy = folder / "policy.yaml"
    policy.write_text(POLICY)
    running = start_sidecar(folder / "sidecar", Path(policy),
                            upstreams={name: venue.fake.base_url for name, venue in venues.items()},
                            upstream_ca=pki.ca_cert)
    yield running
    running.stop()


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit", "okx"])
def test_create_order_when_policy_names_unified_symbol_then_same_base_limit_on_every_venue(
    venues: dict[str, Venue], sidecar: Sidecar, venue: str
) -> None:
    target = venues[venue]
    bot = target.bot(sidecar)
    bot.load_markets()
    before = target.orders_received()

    with pytest.raises(ccxt.InvalidOrder) as raised:
        bot.create_order(BTC, "limit", "buy", 0.6 * target.units_per_btc, 40000)
    bot.create_order(BTC, "limit", "buy", 0.4 * target.units_per_btc, 40000)

    assert "btc-qty" in str(raised.value) and "ORDER_QTY_EXCEEDS_MAX" in str(raised.value)
    assert target.orders_received() == before + 1
    [line] = [d for d in sidecar.decisions(venue=venue, verdict="block") if d["rule_id"] == "btc-qty"]
    assert line["context"]["max_qty"] == "0.5" and line["qty"] in ("0.6", "0.60")
