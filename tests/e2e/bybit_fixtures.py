"""Helpers for the Bybit end-to-end suite: the policy, the sidecar launch, and bots on fresh accounts.

The fixtures themselves live in test_bybit_e2e.py (pytest registers fixtures where they are defined); this
module holds what they are built from, so a later suite (a second Bybit client, say) can reuse it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ccxt
from pybit.unified_trading import HTTP
from tests.fakes.bybit import FakeBybit, RecordedRequest
from tests.support.bybit_bots import make_bybit, make_pybit
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

HALTED_KEY = "bybit-e2e-halted-" + "h" * 20
HALTED_SECRET = "halted-secret-" + "s" * 30
REDUCING_KEY = "bybit-e2e-reducing-" + "r" * 18
REDUCING_SECRET = "reducing-secret-" + "s" * 28

# Inverse limits name the instrument by ccxt's unified symbol: one policy name for BTCUSD on Bybit.
POLICY = """
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{halted}"], venue: bybit}}
  reducing: {{fingerprints: ["{reducing}"], venue: bybit}}
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
    allow: [BTCUSDT, ETHUSDT, SOLUSDT, "BTC/USD:BTC", "ETH/USD:ETH"]
  - id: leverage
    type: max_leverage
    default: 10
  - id: order-qty
    type: max_order_qty
    default: 100
    symbols: {{BTCUSDT: 0.5, "BTC/USD:BTC": 0.5}}
  - id: order-notional
    type: max_order_notional
    default: 100000
  - id: position
    type: max_position
    symbols: {{BTCUSDT: {{qty: 1}}, "BTC/USD:BTC": {{qty: 1}}}}
  - id: order-rate
    type: order_rate
    limits: ["5/60s"]
    per: account
"""


def write_policy(directory: Path) -> Path:
    path = directory / "bybit-e2e.yaml"
    path.write_text(POLICY.format(halted=fingerprint(HALTED_KEY), reducing=fingerprint(REDUCING_KEY)))
    return path


def launch(workdir: Path, policy: Path, fake: FakeBybit, pki: TlsMaterial) -> Sidecar:
    return start_sidecar(workdir, policy, upstreams={"bybit": fake.base_url}, upstream_ca=pki.ca_cert)


@dataclass
class Trader:
    """One bot on its own fresh account, wired to the sidecar one way or the other."""

    api_key: str
    secret: str
    fake: FakeBybit
    wiring: str
    bot: Any = field(repr=False)

    @property
    def account(self) -> str:
        return fingerprint(self.api_key)

    def received(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """What reached the exchange from this trader (optionally one endpoint)."""
        return [
            r for r in self.fake.requests
            if r.api_key == self.api_key and (method is None or r.method == method)
            and (path is None or r.path == path)
        ]

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.fake.orders_received() if r.api_key == self.api_key]

    def wallet_received(self) -> list[RecordedRequest]:
        return [r for r in self.fake.wallet_requests() if r.api_key == self.api_key]


def new_account(fake: FakeBybit, api_key: str | None, secret: str | None) -> tuple[str, str]:
    key = api_key or "e2e-" + secrets.token_hex(12)
    secret_value = secret or "secret-" + secrets.token_hex(18)
    if api_key is None:
        fake.add_account(key, secret_value)
    return key, secret_value


def ccxt_trader(fake: FakeBybit, sidecar: Sidecar, wiring: str, api_key: str | None = None,
                secret: str | None = None) -> Trader:
    key, secret_value = new_account(fake, api_key, secret)
    bot: ccxt.bybit
    if wiring == "explicit":
        bot = make_bybit(fake.base_url, api_key=key, secret=secret_value, ca_file=sidecar.ca_cert,
                         https_proxy=sidecar.proxy_url)
    else:
        bot = make_bybit(sidecar.reverse_url_for("bybit"), api_key=key, secret=secret_value)
    bot.load_markets()
    return Trader(key, secret_value, fake, wiring, bot)


def pybit_trader(fake: FakeBybit, sidecar: Sidecar, wiring: str, api_key: str | None = None,
                 secret: str | None = None) -> Trader:
    key, secret_value = new_account(fake, api_key, secret)
    session: HTTP
    if wiring == "explicit":
        session = make_pybit(fake.base_url, api_key=key, secret=secret_value, https_proxy=sidecar.proxy_url,
                             ca_file=sidecar.ca_cert)
    else:
        session = make_pybit(sidecar.reverse_url_for("bybit"), api_key=key, secret=secret_value)
    return Trader(key, secret_value, fake, wiring, session)
