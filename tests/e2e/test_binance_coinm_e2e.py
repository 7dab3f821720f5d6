"""The real ccxt.binancecoinm, through the real `riskwall run`, against the project's fake Binance COIN-M.

Sizes on dapi are contracts (100 USD per BTCUSD_PERP contract in the fake's exchangeInfo), and the policy is in
BTC: 200 contracts at 50,000 are 0.4 BTC and pass a 0.5 BTC limit that 200 "units" would break, and 300
contracts (0.6 BTC) are blocked before the venue sees them. Every test runs in both wirings (explicit proxy with
the sidecar's CA, plain-HTTP reverse listener) and asserts what ccxt raised, what reached the fake and what the
sidecar logged.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from tests.fakes.binance_coinm import FakeBinanceCoinm
from tests.fakes.binance_usdm import RecordedRequest
from tests.support.ccxt_bots import rewrite_api_urls, trust_ca
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USD:BTC"
ETH = "ETH/USD:ETH"
SOL = "SOL/USD:SOL"

POLICY = """
version: 1
mode: enforce
rules:
  - id: symbols
    type: allowed_symbols
    allow: ["BTC/USD:BTC", ETHUSD_PERP]
  - id: leverage
    type: max_leverage
    default: 10
  - id: order-qty
    type: max_order_qty
    default: 100
    symbols: {"BTC/USD:BTC": 0.5}
  - id: position
    type: max_position
    symbols: {BTCUSD_PERP: {qty: 1}}
"""


@pytest.fixture(scope="module")
def coinm_fake(pki: TlsMaterial) -> Iterator[FakeBinanceCoinm]:
    with watch(FakeBinanceCoinm(tls=pki.server_ssl_context())) as venue:
        yield venue


@pytest.fixture(scope="module")
def coinm_sidecar(tmp_path_factory: pytest.TempPathFactory, coinm_fake: FakeBinanceCoinm,
                  pki: TlsMaterial) -> Iterator[Sidecar]:
    policy = tmp_path_factory.mktemp("coinm-policy") / "coinm.yaml"
    policy.write_text(POLICY)
    running = start_sidecar(tmp_path_factory.mktemp("coinm-sidecar"), policy,
                            upstreams={"binancecoinm": coinm_fake.base_url}, upstream_ca=pki.ca_cert)
    yield running
    running.stop()


@dataclass
class Trader:
    api_key: str
    bot: ccxt.binancecoinm
    fake: FakeBinanceCoinm

    def received(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.api_key == self.api_key
                and (method is None or r.method == method) and (path is None or r.path == path)]

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.fake.orders_received() if r.api_key == self.api_key]

    @property
    def account(self) -> str:
        return fingerprint(self.api_key)


def make_bot(base_url: str, api_key: str, secret: str, *, proxy: str | None = None,
             ca_file: Path | None = None) -> ccxt.binancecoinm:
    bot = ccxt.binancecoinm({"apiKey": api_key, "secret": secret, "enableRateLimit": False, "timeout": 10_000,
                             "options": {"fetchCurrencies": False}})
    rewrite_api_urls(bot, base_url)
    if ca_file is not None:
        trust_ca(bot, ca_file)
    if proxy is not None:
        bot.https_proxy = proxy
    return bot


@pytest.fixture(params=["explicit", "reverse"])
def trader(request: pytest.FixtureRequest, coinm_fake: FakeBinanceCoinm, coinm_sidecar: Sidecar) -> Trader:
    key, secret = "coinm-e2e-" + secrets.token_hex(24), "secret-" + secrets.token_hex(24)
    coinm_fake.add_account(key, secret)
    if request.param == "explicit":
        bot = make_bot(coinm_fake.base_url, key, secret, proxy=coinm_sidecar.proxy_url,
                       ca_file=coinm_sidecar.ca_cert)
    else:
        bot = make_bot(coinm_sidecar.reverse_url_for("binancecoinm"), key, secret)
    bot.load_markets()  # exchangeInfo passes through the sidecar, which learns every contract size
    return Trader(key, bot, coinm_fake)


# no mark price has passed yet: a buy converts at its own price ÷ the symbol's PERCENT_PRICE multiplierUp (1.05 in
# the fake's exchangeInfo), the lowest it can fill at, as dapi refuses a buy limit further above the mark
@pytest.mark.parametrize(
    ("symbol", "contracts", "price", "native", "base_qty"),
    [
        pytest.param(BTC, 200, 50000, "BTCUSD_PERP", "0.42", id="btc-200-contracts-are-0.4-btc-at-50000"),
        pytest.param(ETH, 30, 2500, "ETHUSD_PERP", "0.126", id="eth-10-usd-contracts"),
    ],
)
def test_create_order_when_base_quantity_within_limit_then_reaches_exchange_unmodified(
    trader: Trader, coinm_sidecar: Sidecar, symbol: str, contracts: int, price: int, native: str, base_qty: str
) -> None:
    order = trader.bot.create_order(symbol, "limit", "buy", contracts, price)

    [sent] = trader.orders_received()
    # the fake verifies the HMAC over the exact bytes: a modified request would have been refused
    assert sent.status == 200 and sent.path == "/dapi/v1/order"
    assert sent.params["quantity"] == str(contracts)
    assert order["status"] == "open"
    [line] = coinm_sidecar.decisions(account=trader.account, verdict="allow")
    assert (line["venue"], line["symbol"], line["qty"]) == ("binancecoinm", native, base_qty)


@pytest.mark.parametrize(
    ("symbol", "contracts", "price", "error", "rule", "reason", "observed"),
    [
        pytest.param(BTC, 300, 50000, ccxt.InvalidOrder, "order-qty", "ORDER_QTY_EXCEEDS_MAX", "0.63",
                     id="btc-300-contracts-are-0.6-btc-at-50000"),
        pytest.param(BTC, 100, 10000, ccxt.InvalidOrder, "order-qty", "ORDER_QTY_EXCEEDS_MAX", "1.05",
                     id="fewer-contracts-at-a-lower-price-are-more-btc"),
        pytest.param(SOL, 1, 125, ccxt.BadSymbol, "symbols", "SYMBOL_NOT_ALLOWED", None, id="symbol-not-allowed"),
    ],
)
def test_create_order_when_policy_violated_after_conversion_then_blocked_with_order_error(
    trader: Trader, coinm_sidecar: Sidecar, symbol: str, contracts: int, price: int, error: type[Exception],
    rule: str, reason: str, observed: str | None,
) -> None:
    with pytest.raises(error) as raised:
        trader.bot.create_order(symbol, "limit", "buy", contracts, price)

    assert not isinstance(raised.value, ccxt.NetworkError)
    assert rule in str(raised.value) and reason in str(raised.value)
    assert trader.orders_received() == []
    [line] = coinm_sidecar.decisions(account=trader.account, verdict="block")
    assert (line["venue"], line["rule_id"], line["reason"]) == ("binancecoinm", rule, reason)
    if observed is not None:
        assert line["context"]["qty"] == observed and line["context"]["max_qty"] == "0.5"


def test_create_order_when_market_after_mark_price_seen_then_converted_at_mark(
    trader: Trader, coinm_sidecar: Sidecar
) -> None:
    trader.bot.fetch_mark_price(BTC)  # premiumIndex passes through: the sidecar learns 50,000
    trader.bot.create_order(BTC, "market", "buy", 100)  # 0.2 BTC

    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "market", "buy", 260)  # 0.52 BTC

    assert [r.params["quantity"] for r in trader.orders_received()] == ["100"]
    assert trader.fake.position(trader.api_key, "BTCUSD_PERP") == Decimal(100)


def test_create_order_when_position_learned_in_contracts_then_limit_counts_base_units(
    trader: Trader, coinm_sidecar: Sidecar
) -> None:
    trader.fake.set_position(trader.api_key, "BTCUSD_PERP", Decimal(400))  # 0.8 BTC at a 50,000 mark
    trader.bot.fetch_positions([BTC])  # positionRisk passes through: the sidecar learns 0.8 BTC

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "limit", "buy", 150, 50000)  # 0.3 more would make 1.1
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    trader.bot.create_order(BTC, "limit", "buy", 50, 50000)  # 0.1 more makes 0.9

    assert [r.params["quantity"] for r in trader.orders_received()] == ["50"]
    [blocked] = coinm_sidecar.decisions(account=trader.account, verdict="block")
    assert blocked["context"]["position"] == "1.1" and blocked["context"]["max_position"] == "1"


def test_set_leverage_when_above_max_then_blocked_and_within_max_then_forwarded(trader: Trader) -> None:
    with pytest.raises(ccxt.BadRequest) as raised:
        trader.bot.set_leverage(20, BTC)
    assert "LEVERAGE_EXCEEDS_MAX" in str(raised.value)
    assert trader.received("POST", "/dapi/v1/leverage") == []

    trader.bot.set_leverage(5, BTC)
    assert len(trader.received("POST", "/dapi/v1/leverage")) == 1


def test_cancel_when_order_resting_then_cancel_reaches_exchange(trader: Trader) -> None:
    order = trader.bot.create_order(BTC, "limit", "buy", 10, 40000)

    trader.bot.cancel_order(order["id"], BTC)

    assert len(trader.received("DELETE", "/dapi/v1/order")) == 1
    assert trader.bot.fetch_open_orders(BTC) == []


def test_withdraw_when_sent_through_sidecar_then_never_reaches_exchange(
    trader: Trader, coinm_sidecar: Sidecar
) -> None:
    with pytest.raises(ccxt.PermissionDenied) as raised:
        trader.bot.withdraw("BTC", 0.1, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", params={"network": "BTC"})

    assert "ACTION_FORBIDDEN" in str(raised.value)
    assert [r for r in trader.fake.wallet_requests() if r.api_key == trader.api_key] == []
    [line] = coinm_sidecar.decisions(account=trader.account, reason="ACTION_FORBIDDEN")
    assert line["endpoint"] == "POST /sapi/v1/capital/withdraw/apply"
