"""The real ccxt.bitget through the real `riskwall run`, against the project's fake Bitget v2 mix.

Every test runs in both wirings (explicit proxy with the sidecar's CA, and the plain-HTTP reverse listener) and
asserts what ccxt raised (an order-class exception, never a network error), what reached the fake exchange (which
verifies ACCESS-SIGN over the exact bytes and the passphrase, so "unmodified" is proven) and what the sidecar logged.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
from tests.fakes.bitget import FakeBitget, RecordedRequest
from tests.support.bitget_bots import make_bitget
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
MIX = "/api/v2/mix"
PLACE = f"{MIX}/order/place-order"
BATCH = f"{MIX}/order/batch-place-order"

HALTED_KEY, HALTED_SECRET, HALTED_PASS = "bg-halted-" + "h" * 30, "bg-halted-secret-" + "s" * 30, "halted-pass"
POLICY = f"""
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{fingerprint(HALTED_KEY)}"]}}
rules:
  - id: halt-desk
    type: trading_state
    state: HALTED
    scope: {{accounts: [halted]}}
  - id: position
    type: max_position
    symbols: {{BTCUSDT: {{qty: 1}}}}
  - id: symbols
    type: allowed_symbols
    allow: [BTCUSDT, ETHUSDT]
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
"""


@dataclass
class Trader:
    api_key: str
    fake: FakeBitget
    bot: Any

    @property
    def account(self) -> str:
        return fingerprint(self.api_key)

    def received(self, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.api_key == self.api_key and (path is None or r.path == path)]

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.fake.orders_received() if r.api_key == self.api_key]


@pytest.fixture(scope="module")
def bitget_fake(pki: TlsMaterial) -> Iterator[FakeBitget]:
    # watched: the session-wide secret scan proves none of its credentials is logged
    with watch(FakeBitget(tls=pki.server_ssl_context())) as venue:
        yield venue


@pytest.fixture(scope="module")
def bitget_sidecar(tmp_path_factory: pytest.TempPathFactory, bitget_fake: FakeBitget,
                   pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp("bitget-sidecar")
    policy = workdir / "bitget-e2e.yaml"
    policy.write_text(POLICY)
    bitget_fake.add_account(HALTED_KEY, HALTED_SECRET, HALTED_PASS)
    running = start_sidecar(Path(workdir), policy, upstreams={"bitget": bitget_fake.base_url},
                            upstream_ca=pki.ca_cert)
    yield running
    running.stop()


@pytest.fixture(params=["explicit", "reverse"])
def trader(request: pytest.FixtureRequest, bitget_fake: FakeBitget, bitget_sidecar: Sidecar) -> Trader:
    key, secret, passphrase = "bg-e2e-" + secrets.token_hex(12), "s-" + secrets.token_hex(18), secrets.token_hex(8)
    bitget_fake.add_account(key, secret, passphrase)
    if request.param == "explicit":
        bot = make_bitget(bitget_fake.base_url, api_key=key, secret=secret, password=passphrase,
                          ca_file=bitget_sidecar.ca_cert, https_proxy=bitget_sidecar.proxy_url)
    else:
        bot = make_bitget(bitget_sidecar.reverse_url_for("bitget"), api_key=key, secret=secret, password=passphrase)
    bot.load_markets()
    return Trader(key, bitget_fake, bot)


def test_create_order_when_within_policy_then_reaches_exchange_unmodified(trader: Trader,
                                                                         bitget_sidecar: Sidecar) -> None:
    order = trader.bot.create_order(ETH, "limit", "buy", 0.5, 2900)

    [sent] = trader.orders_received()
    # the fake verifies ACCESS-SIGN over the exact bytes: a modified request would have been refused with 40009
    assert (sent.status, sent.code) == (200, "00000")
    assert sent.params["size"] == "0.5" and sent.params["price"] == "2900"
    assert order["id"] and trader.fake.open_orders(trader.api_key)[0]["orderId"] == order["id"]
    [line] = bitget_sidecar.decisions(account=trader.account, verdict="allow")
    assert (line["venue"], line["endpoint"], line["symbol"]) == ("bitget", f"POST {PLACE}", "ETHUSDT")


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
    trader: Trader, bitget_sidecar: Sidecar, symbol: str, amount: float, price: float, error: type[Exception],
    rule: str, reason: str,
) -> None:
    with pytest.raises(error) as raised:
        trader.bot.create_order(symbol, "limit", "buy", amount, price)

    assert type(raised.value) is error and not isinstance(raised.value, ccxt.NetworkError)
    assert rule in str(raised.value) and reason in str(raised.value)
    assert trader.orders_received() == []
    [line] = bitget_sidecar.decisions(account=trader.account, verdict="block")
    assert (line["rule_id"], line["reason"]) == (rule, reason)


def test_set_leverage_when_above_max_then_blocked_and_within_max_then_forwarded(trader: Trader) -> None:
    with pytest.raises(ccxt.BadRequest) as raised:
        trader.bot.set_leverage(20, BTC)
    assert "LEVERAGE_EXCEEDS_MAX" in str(raised.value) and not isinstance(raised.value, ccxt.NetworkError)
    assert trader.received(f"{MIX}/account/set-leverage") == []

    trader.bot.set_leverage(5, BTC)
    assert len(trader.received(f"{MIX}/account/set-leverage")) == 1


def test_create_orders_when_one_leg_violates_then_whole_batch_blocked(trader: Trader,
                                                                     bitget_sidecar: Sidecar) -> None:
    legs = [{"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.1, "price": 49000},
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.9, "price": 49000}]
    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_orders(legs)

    assert "ORDER_QTY_EXCEEDS_MAX" in str(raised.value)
    assert trader.received(BATCH) == []
    [line] = bitget_sidecar.decisions(account=trader.account, verdict="block")
    assert line["legs"] == 2 and line["reason"] == "ORDER_QTY_EXCEEDS_MAX"


def test_create_orders_when_every_leg_allowed_then_batch_forwarded(trader: Trader) -> None:
    legs = [{"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.1, "price": 49000},
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.2, "price": 48000}]
    orders = trader.bot.create_orders(legs)

    assert len(orders) == 2 and all(o["id"] for o in orders)
    assert len(trader.received(BATCH)) == 1 and len(trader.fake.open_orders(trader.api_key)) == 2


def test_cancel_when_order_open_then_forwarded_and_listed_empty(trader: Trader) -> None:
    order = trader.bot.create_order(ETH, "limit", "buy", 0.1, 2800)
    trader.bot.cancel_order(order["id"], ETH)
    trader.bot.cancel_all_orders(ETH)

    assert trader.bot.fetch_open_orders(ETH) == []
    assert len(trader.received(f"{MIX}/order/cancel-order")) == 1


@pytest.mark.parametrize(
    ("call", "path"),
    [("privateSpotPostV2SpotWalletWithdrawal", "/api/v2/spot/wallet/withdrawal"),
     ("privateSpotPostV2SpotWalletTransfer", "/api/v2/spot/wallet/transfer"),
     ("privateSpotPostV2SpotWalletSubaccountTransfer", "/api/v2/spot/wallet/subaccount-transfer")],
    ids=["withdrawal", "transfer", "subaccount-transfer"],
)
def test_wallet_call_when_sent_then_never_reaches_exchange(trader: Trader, bitget_sidecar: Sidecar, call: str,
                                                           path: str) -> None:
    params = {"coin": "USDT", "transferType": "on_chain", "address": "0x" + "ab" * 20, "chain": "ERC20",
              "size": "1000", "fromType": "usdt_futures", "toType": "spot", "amount": "1000"}
    with pytest.raises(ccxt.PermissionDenied) as raised:
        getattr(trader.bot, call)(params)

    assert "ACTION_FORBIDDEN" in str(raised.value)
    assert trader.fake.wallet_requests() == [] and trader.received(path) == []
    [line] = bitget_sidecar.decisions(account=trader.account, verdict="block")
    assert line["reason"] == "ACTION_FORBIDDEN"


def test_cancel_when_account_halted_then_cancel_reaches_exchange_and_orders_are_blocked(
    bitget_fake: FakeBitget, bitget_sidecar: Sidecar
) -> None:
    bot = make_bitget(bitget_sidecar.reverse_url_for("bitget"), api_key=HALTED_KEY, secret=HALTED_SECRET,
                      password=HALTED_PASS)
    bot.load_markets()
    halted = Trader(HALTED_KEY, bitget_fake, bot)
    cancels_before = len(halted.received(f"{MIX}/order/cancel-order"))

    with pytest.raises(ccxt.PermissionDenied) as raised:
        bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    try:
        bot.cancel_order("1100000000000000999", ETH)
    except ccxt.BaseError:
        pass  # the fake knows no such order; what matters is that the cancel was let through to ask

    assert "TRADING_HALTED" in str(raised.value)
    assert halted.orders_received() == []
    assert len(halted.received(f"{MIX}/order/cancel-order")) == cancels_before + 1


def test_create_order_when_position_at_max_then_increase_blocked_and_reduce_only_close_passes(
    trader: Trader, bitget_sidecar: Sidecar
) -> None:
    trader.fake.set_position(trader.api_key, "BTCUSDT", Decimal("1"))
    trader.bot.fetch_positions([BTC])  # the sidecar learns the position from the answer

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "limit", "buy", 0.1, 40000)
    trader.bot.create_order(BTC, "limit", "sell", 0.5, 60000, params={"reduceOnly": True})

    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    assert [r.params["side"] for r in trader.orders_received()] == ["sell"]


TEACHERS = {
    "set_position_mode": lambda trader: trader.bot.set_position_mode(True, BTC),
    "fetch_leverage": lambda trader: trader.bot.fetch_leverage(BTC),  # GET account/account names posMode
    "fetch_positions": lambda trader: trader.bot.fetch_positions([BTC]),
}


@pytest.mark.parametrize("teach", list(TEACHERS))
def test_create_order_when_hedge_mode_unknown_then_refused_until_the_mode_is_read_through_the_sidecar(
    trader: Trader, bitget_sidecar: Sidecar, teach: str
) -> None:
    # hedge mode set in Bitget's web UI: a tradeSide order means something else in each mode (buy/open,
    # sell/open, buy/open nets in one-way mode and holds two longs in hedge mode), so it waits for the mode
    trader.fake.set_position_mode(trader.api_key, "hedge_mode")
    trader.fake.set_position(trader.api_key, "BTCUSDT", Decimal("0.2"))  # so fetch_positions lists a row

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "limit", "buy", 0.1, 40000, params={"hedged": True})
    refused = trader.orders_received()
    TEACHERS[teach](trader)
    trader.bot.create_order(BTC, "limit", "buy", 0.1, 40000, params={"hedged": True})

    assert "position mode of USDT-FUTURES is unknown" in str(raised.value)
    assert refused == []
    [sent] = trader.orders_received()
    assert (sent.params["tradeSide"], sent.params["side"]) == ("Open", "buy")
    [blocked] = bitget_sidecar.decisions(account=trader.account, verdict="block")
    assert blocked["reason"] == "PARSE_FAILED"
    [allowed] = bitget_sidecar.decisions(account=trader.account, verdict="allow", endpoint=f"POST {PLACE}")
    assert allowed["symbol"] == "BTCUSDT"


def test_create_order_when_mode_seen_one_way_then_switched_in_the_ui_then_refused_until_read_again(
    trader: Trader, bitget_sidecar: Sidecar
) -> None:
    trader.bot.fetch_leverage(BTC)  # the sidecar sees one-way mode
    trader.fake.set_position_mode(trader.api_key, "hedge_mode")  # switched in the web UI, unseen

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "limit", "buy", 0.1, 40000, params={"hedged": True})
    refused = trader.orders_received()
    trader.bot.fetch_leverage(BTC)
    trader.bot.create_order(BTC, "limit", "buy", 0.1, 40000, params={"hedged": True})

    assert "position mode of USDT-FUTURES is one-way as the firewall last saw it" in str(raised.value)
    assert refused == [] and [r.params["tradeSide"] for r in trader.orders_received()] == ["Open"]


def test_create_order_when_trigger_orders_rest_then_they_count_against_max_position_until_cancelled(
    trader: Trader, bitget_sidecar: Sidecar
) -> None:
    # two plan buys of 0.5 under a 1 BTC limit: were the third admitted, the three would make 1.5 once triggered
    first = trader.bot.create_order(BTC, "market", "buy", 0.5, None, params={"triggerPrice": 51000})
    trader.bot.create_order(BTC, "limit", "buy", 0.5, 50500, params={"triggerPrice": 51000})
    with pytest.raises(ccxt.InvalidOrder) as past_max:
        trader.bot.create_order(BTC, "market", "buy", 0.5, None, params={"triggerPrice": 51000})
    listed = trader.bot.fetch_open_orders(BTC, params={"trigger": True})  # orders-plan-pending, through the sidecar
    with pytest.raises(ccxt.InvalidOrder) as still_past_max:
        trader.bot.create_order(BTC, "market", "buy", 0.5, None, params={"triggerPrice": 51000})
    trader.bot.cancel_order(first["id"], BTC, params={"trigger": True})
    trader.bot.create_order(BTC, "market", "buy", 0.5, None, params={"triggerPrice": 51000})

    assert "POSITION_EXCEEDS_MAX" in str(past_max.value) and "POSITION_EXCEEDS_MAX" in str(still_past_max.value)
    assert len(listed) == 2
    placed = trader.received(f"{MIX}/order/place-plan-order")
    assert [r.status for r in placed] == [200, 200, 200]
    assert [r["planType"] for r in trader.fake.plan_orders(trader.api_key)] == ["normal_plan", "normal_plan"]
    blocked = bitget_sidecar.decisions(account=trader.account, verdict="block")
    assert [d["reason"] for d in blocked] == ["POSITION_EXCEEDS_MAX", "POSITION_EXCEEDS_MAX"]


def test_fetch_open_orders_when_a_trigger_order_fired_unseen_then_its_fill_still_counts(
    trader: Trader, bitget_sidecar: Sidecar
) -> None:
    fired = trader.bot.create_order(BTC, "market", "buy", 0.5, None, params={"triggerPrice": 51000})
    trader.bot.create_order(BTC, "market", "buy", 0.5, None, params={"triggerPrice": 52000})
    trader.fake.trigger_plan(trader.api_key, fired["id"])  # the mark crossed 51000: long 0.5 at the venue
    # the fired one is gone from the book, filled or cancelled: what it had open stays held until a position read
    # asked 10 s on shows what it did (dropped, the position's 0.5 would be unseen and a third 0.5 would pass)
    listed = trader.bot.fetch_open_orders(BTC, params={"trigger": True})
    with pytest.raises(ccxt.InvalidOrder) as past_max:
        trader.bot.create_order(BTC, "market", "buy", 0.5, None, params={"triggerPrice": 51000})

    assert [order["id"] for order in listed] != [fired["id"]] and len(listed) == 1
    assert trader.fake.position(trader.api_key, "BTCUSDT") == Decimal("0.5")
    assert "POSITION_EXCEEDS_MAX" in str(past_max.value)
    assert len(trader.received(f"{MIX}/order/place-plan-order")) == 2
