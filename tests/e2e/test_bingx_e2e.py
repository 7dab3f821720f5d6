"""The real ccxt.bingx, through the real `riskwall run`, against the project's fake BingX perpetual swap v2.

Every test runs in both wirings (explicit proxy with the sidecar's CA, and the plain-HTTP reverse listener) and
asserts, where they apply: what ccxt raised (an order-class exception, never a network error, except the rate
limit's DDoSProtection), what reached the fake exchange (which verifies the HMAC exactly as ccxt computes it, so
"unmodified" is proven), and what the sidecar logged.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import ccxt
import pytest
import requests
from tests.fakes.bingx import FakeBingX, RecordedRequest, sign_params
from tests.support.bingx_bots import make_bingx
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
ORDER = "/openApi/swap/v2/trade/order"
BATCH = "/openApi/swap/v2/trade/batchOrders"
HALTED_KEY = "bingx-e2e-halted-" + "h" * 30
HALTED_SECRET = "bingx-halted-secret-" + "s" * 30
REDUCING_KEY = "bingx-e2e-reducing-" + "r" * 28
REDUCING_SECRET = "bingx-reducing-secret-" + "s" * 28

# Limits name instruments by ccxt's unified symbol: one policy name for BTC-USDT on BingX.
POLICY = """
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{halted}"], venue: bingx}}
  reducing: {{fingerprints: ["{reducing}"], venue: bingx}}
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
    allow: ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
  - id: leverage
    type: max_leverage
    default: 10
  - id: order-qty
    type: max_order_qty
    default: 100
    symbols: {{"BTC/USDT:USDT": 0.5}}
  - id: order-notional
    type: max_order_notional
    default: 100000
  - id: position
    type: max_position
    symbols: {{"BTC/USDT:USDT": {{qty: 1}}}}
  - id: order-rate
    type: order_rate
    limits: ["5/60s"]
    per: account
"""


@dataclass
class Trader:
    """One ccxt.bingx bot on its own fresh account, wired to the sidecar one way or the other."""

    api_key: str
    secret: str
    fake: FakeBingX
    wiring: str
    bot: Any = field(repr=False)

    @property
    def account(self) -> str:
        return fingerprint(self.api_key)

    def received(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.api_key == self.api_key
                and (method is None or r.method == method) and (path is None or r.path == path)]

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.fake.orders_received() if r.api_key == self.api_key]

    def wallet_received(self) -> list[RecordedRequest]:
        return [r for r in self.fake.wallet_requests() if r.api_key == self.api_key]


type TraderFactory = Callable[..., Trader]


@pytest.fixture(scope="module")
def bingx_fake(pki: TlsMaterial) -> Iterator[FakeBingX]:
    # watched: the session-wide secret scan (conftest.secret_scan) proves none of its credentials is logged
    with watch(FakeBingX(tls=pki.server_ssl_context())) as venue:
        venue.add_account(HALTED_KEY, HALTED_SECRET)
        venue.add_account(REDUCING_KEY, REDUCING_SECRET)
        yield venue


@pytest.fixture(scope="module")
def bingx_sidecar(tmp_path_factory: pytest.TempPathFactory, bingx_fake: FakeBingX,
                  pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp("bingx-sidecar")
    policy = Path(workdir) / "bingx-e2e.yaml"
    policy.write_text(POLICY.format(halted=fingerprint(HALTED_KEY), reducing=fingerprint(REDUCING_KEY)))
    running = start_sidecar(workdir, policy, upstreams={"bingx": bingx_fake.base_url}, upstream_ca=pki.ca_cert)
    yield running
    running.stop()


@pytest.fixture(params=["explicit", "reverse"])
def wiring(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_trader(bingx_fake: FakeBingX, bingx_sidecar: Sidecar, wiring: str) -> TraderFactory:
    def make(api_key: str | None = None, secret: str | None = None) -> Trader:
        key = api_key or "bingx-e2e-" + secrets.token_hex(16)
        secret_value = secret or "bingx-secret-" + secrets.token_hex(20)
        if api_key is None:
            bingx_fake.add_account(key, secret_value)
        if wiring == "explicit":
            bot = make_bingx(bingx_fake.base_url, api_key=key, secret=secret_value, ca_file=bingx_sidecar.ca_cert,
                             https_proxy=bingx_sidecar.proxy_url)
        else:
            bot = make_bingx(bingx_sidecar.reverse_url_for("bingx"), api_key=key, secret=secret_value)
        bot.load_markets()
        return Trader(key, secret_value, bingx_fake, wiring, bot)

    return make


@pytest.fixture
def trader(new_trader: TraderFactory) -> Trader:
    return new_trader()


def test_create_order_when_within_policy_then_reaches_exchange_unmodified(
    trader: Trader, bingx_sidecar: Sidecar
) -> None:
    order = trader.bot.create_order(ETH, "limit", "buy", 0.5, 2900)

    [sent] = trader.orders_received()
    # the fake verifies the HMAC over the parameters as sent: a modified request would be refused with 100001
    assert sent.code == 0
    assert (sent.params["quantity"], sent.params["price"], sent.params["symbol"]) == ("0.5", "2900", "ETH-USDT")
    assert order["id"] and trader.fake.open_orders(trader.api_key)[0]["orderId"] == int(order["id"])
    [line] = bingx_sidecar.decisions(account=trader.account, verdict="allow")
    assert (line["venue"], line["endpoint"], line["symbol"], line["qty"], line["price"]) == (
        "bingx", "POST /openapi/swap/v2/trade/order", "ETH-USDT", "0.5", "2900")


@pytest.mark.parametrize(
    ("symbol", "amount", "price", "error", "rule", "reason"),
    [
        (BTC, 0.6, 50000, ccxt.InvalidOrder, "order-qty", "ORDER_QTY_EXCEEDS_MAX"),
        (ETH, 40, 3000, ccxt.InvalidOrder, "order-notional", "ORDER_NOTIONAL_EXCEEDS_MAX"),
        ("DOGE/USDT:USDT", 100, 0.2, ccxt.BadSymbol, "symbols", "SYMBOL_NOT_ALLOWED"),
    ],
    ids=["qty-over-limit", "notional-over-limit", "symbol-denied"],
)
def test_create_order_when_policy_violated_then_blocked_before_exchange_with_order_error(
    trader: Trader, bingx_sidecar: Sidecar, symbol: str, amount: float, price: float,
    error: type[Exception], rule: str, reason: str,
) -> None:
    with pytest.raises(error) as raised:
        trader.bot.create_order(symbol, "limit", "buy", amount, price)

    assert type(raised.value) is error and not isinstance(raised.value, ccxt.NetworkError)
    assert rule in str(raised.value) and reason in str(raised.value)
    assert trader.orders_received() == []
    [line] = bingx_sidecar.decisions(account=trader.account, verdict="block")
    assert (line["rule_id"], line["reason"]) == (rule, reason)


def test_conditional_order_when_above_max_qty_then_blocked(trader: Trader) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="ORDER_QTY_EXCEEDS_MAX"):
        trader.bot.create_order(BTC, "limit", "buy", 0.8, 61000, {"triggerPrice": 60500})

    assert trader.orders_received() == []


def test_create_orders_when_one_leg_violates_then_whole_batch_blocked(
    trader: Trader, bingx_sidecar: Sidecar
) -> None:
    legs = [{"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.1, "price": 50000},
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.9, "price": 49000}]

    with pytest.raises(ccxt.InvalidOrder, match="ORDER_QTY_EXCEEDS_MAX"):
        trader.bot.create_orders(legs)

    assert trader.received("POST", BATCH) == [] and trader.fake.open_orders(trader.api_key) == []
    [line] = bingx_sidecar.decisions(account=trader.account, verdict="block")
    assert line["endpoint"] == "POST /openapi/swap/v2/trade/batchorders"


def test_create_orders_when_every_leg_allowed_then_batch_forwarded(trader: Trader) -> None:
    legs = [{"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.1, "price": 50000},
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.2, "price": 49000}]

    orders = trader.bot.create_orders(legs)

    [sent] = trader.received("POST", BATCH)
    assert sent.code == 0 and len(orders) == 2
    assert len(trader.fake.open_orders(trader.api_key)) == 2


def test_set_leverage_when_above_max_then_blocked_and_within_max_then_forwarded(trader: Trader) -> None:
    with pytest.raises(ccxt.BadRequest, match="LEVERAGE_EXCEEDS_MAX"):
        trader.bot.set_leverage(20, BTC, {"side": "BOTH"})
    assert trader.received("POST", "/openApi/swap/v2/trade/leverage") == []

    trader.bot.set_leverage(5, BTC, {"side": "BOTH"})

    [sent] = trader.received("POST", "/openApi/swap/v2/trade/leverage")
    assert (sent.code, sent.params["leverage"]) == (0, "5")


def test_create_order_when_position_learned_from_position_query_then_limit_counts_it(trader: Trader) -> None:
    trader.fake.set_position(trader.api_key, "BTC-USDT", Decimal("0.8"))
    positions = trader.bot.fetch_positions([BTC])
    assert positions[0]["contracts"] == 0.8

    with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
        trader.bot.create_order(BTC, "limit", "buy", 0.3, 50000)
    assert trader.orders_received() == []

    trader.bot.create_order(BTC, "limit", "sell", 0.3, 70000, {"reduceOnly": True})
    assert len(trader.orders_received()) == 1


def test_create_order_when_pending_orders_fill_the_limit_then_next_is_blocked(trader: Trader) -> None:
    for _ in range(2):
        trader.bot.create_order(BTC, "limit", "buy", 0.4, 50000)

    with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
        trader.bot.create_order(BTC, "limit", "buy", 0.4, 50000)
    assert len(trader.orders_received()) == 2


def test_create_order_when_burst_exceeds_rate_then_excess_blocked_as_rate_limit(
    trader: Trader, bingx_sidecar: Sidecar
) -> None:
    for _ in range(5):
        trader.bot.create_order(ETH, "limit", "buy", 0.01, 2000)

    with pytest.raises(ccxt.DDoSProtection) as raised:
        trader.bot.create_order(ETH, "limit", "buy", 0.01, 2000)

    assert "ORDER_RATE_EXCEEDED" in str(raised.value)
    assert len(trader.orders_received()) == 5
    assert [line["reason"] for line in bingx_sidecar.decisions(account=trader.account, verdict="block")] == [
        "ORDER_RATE_EXCEEDED"]


def test_cancel_when_account_halted_then_cancels_pass_and_orders_blocked(new_trader: TraderFactory) -> None:
    trader = new_trader(HALTED_KEY, HALTED_SECRET)

    with pytest.raises(ccxt.PermissionDenied, match="TRADING_HALTED"):
        trader.bot.create_order(ETH, "limit", "buy", 0.1, 2000)
    assert trader.orders_received() == []

    trader.bot.cancel_all_orders(ETH)
    assert [r.code for r in trader.received("DELETE", "/openApi/swap/v2/trade/allOpenOrders")][-1:] == [0]


def test_create_order_when_reducing_then_only_reductions_pass(new_trader: TraderFactory) -> None:
    trader = new_trader(REDUCING_KEY, REDUCING_SECRET)
    trader.fake.set_position(trader.api_key, "ETH-USDT", Decimal("2"))
    trader.bot.fetch_positions([ETH])

    with pytest.raises(ccxt.PermissionDenied, match="TRADING_REDUCING"):
        trader.bot.create_order(ETH, "limit", "buy", 0.1, 2000)
    before = len(trader.orders_received())
    trader.bot.create_order(ETH, "limit", "sell", 0.5, 3500, {"reduceOnly": True})

    assert len(trader.orders_received()) == before + 1


def test_close_position_when_sent_then_forwarded_as_reduction(trader: Trader) -> None:
    trader.fake.set_position(trader.api_key, "BTC-USDT", Decimal("0.3"))

    trader.bot.close_position(BTC)

    [sent] = trader.received("POST", "/openApi/swap/v2/trade/closeAllPositions")
    assert sent.code == 0 and trader.fake.position(trader.api_key, "BTC-USDT") == 0


def test_withdraw_and_transfer_when_sent_through_sidecar_then_never_reach_exchange(
    trader: Trader, bingx_sidecar: Sidecar
) -> None:
    with pytest.raises(ccxt.PermissionDenied, match="ACTION_FORBIDDEN"):
        trader.bot.withdraw("USDT", 100, "TXYZ" + "a" * 30, params={"network": "TRC20"})
    with pytest.raises(ccxt.PermissionDenied, match="ACTION_FORBIDDEN"):
        trader.bot.transfer("USDT", 10, "swap", "spot")

    assert trader.wallet_received() == []
    endpoints = {line["endpoint"] for line in bingx_sidecar.decisions(account=trader.account, verdict="block")}
    assert endpoints == {"POST /openapi/wallets/v1/capital/withdraw/apply", "POST /openapi/api/asset/v1/transfer"}


def test_spot_order_when_sent_then_refused_as_not_checked(
    bingx_fake: FakeBingX, bingx_sidecar: Sidecar
) -> None:
    key, secret = "bingx-e2e-spot-" + secrets.token_hex(12), "bingx-spot-secret-" + secrets.token_hex(12)
    bingx_fake.add_account(key, secret)
    pairs = [("symbol", "BTC-USDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "1"),
             ("timestamp", str(int(time.time() * 1000)))]
    query = urlencode(pairs) + "&signature=" + sign_params(pairs, secret)

    answer = requests.post(f"{bingx_sidecar.reverse_url_for('bingx')}/openApi/spot/v1/trade/order?{query}",
                           headers={"X-BX-APIKEY": key}, timeout=10)

    assert answer.status_code == 200 and answer.json()["code"] == 403
    assert "UNKNOWN_ENDPOINT" in answer.json()["msg"]
    assert answer.headers.get("X-Riskwall-Rule")
    assert [r for r in bingx_fake.requests if r.api_key == key] == []


def test_logs_when_trading_then_no_key_secret_or_signature_appears(trader: Trader, bingx_sidecar: Sidecar) -> None:
    trader.bot.create_order(ETH, "limit", "buy", 0.1, 2000)
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "limit", "buy", 0.9, 50000)

    output = bingx_sidecar.output()
    signatures = {r.params["signature"] for r in trader.received() if "signature" in r.params}
    assert signatures
    for secret in (trader.api_key, trader.secret, *signatures):
        assert secret not in output
    assert trader.account in output


@pytest.mark.parametrize("tamper", ["value", "extra-param", "dropped-param"])
def test_fake_when_request_differs_from_signed_parameters_then_refused_with_100001(
    bingx_fake: FakeBingX, pki: TlsMaterial, tamper: str
) -> None:
    key, secret = "bingx-e2e-tamper-" + secrets.token_hex(12), "bingx-tamper-secret-" + secrets.token_hex(12)
    bingx_fake.add_account(key, secret)
    pairs = [("symbol", "ETH-USDT"), ("side", "BUY"), ("positionSide", "BOTH"), ("type", "LIMIT"),
             ("quantity", "0.1"), ("price", "2000"), ("timestamp", str(int(time.time() * 1000)))]
    signature = sign_params(pairs, secret)
    sent = {"value": [(k, "9" if k == "quantity" else v) for k, v in pairs],
            "extra-param": [*pairs, ("reduceOnly", "true")],
            "dropped-param": pairs[1:]}[tamper]

    answer = requests.post(f"{bingx_fake.base_url}{ORDER}?{urlencode(sent)}&signature={signature}",
                           headers={"X-BX-APIKEY": key}, timeout=10, verify=str(pki.ca_cert))

    assert answer.json()["code"] == 100001
    assert bingx_fake.open_orders(key) == []
