"""The real ccxt, through the real `riskwall run`, against the project's fake Binance USDⓈ-M.

Every test runs in both wirings (explicit proxy with the sidecar's CA, and the plain-HTTP reverse listener)
and asserts three things where they apply: what ccxt raised, what reached the fake exchange, and what the
sidecar logged.
"""

from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from tests.e2e.conftest import HALTED_KEY, REDUCING_KEY, Trader, TraderFactory
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.support.sidecar import Sidecar

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def test_create_order_when_within_policy_then_reaches_exchange_unmodified(trader: Trader, sidecar: Sidecar) -> None:
    order = trader.bot.create_order(ETH, "limit", "buy", 0.5, 2900)

    sent = trader.orders_received()
    assert len(sent) == 1
    # the fake verifies the HMAC over the exact bytes: a modified request would have been refused
    assert sent[0].status == 200
    assert sent[0].params["quantity"] == "0.5"
    assert order["status"] == "open"
    [line] = sidecar.decisions(account=_fp(trader), verdict="allow")
    assert line["symbol"] == "ETHUSDT" and line["qty"] == "0.5" and line["price"] == "2900"
    assert line["policy_revision"] and line["latency_us"] >= 0


@pytest.mark.parametrize(
    ("symbol", "kind", "amount", "price", "error", "rule", "reason"),
    [
        (BTC, "limit", 0.6, 50000, ccxt.InvalidOrder, "order-qty", "ORDER_QTY_EXCEEDS_MAX"),
        (ETH, "limit", 40, 3000, ccxt.InvalidOrder, "order-notional", "ORDER_NOTIONAL_EXCEEDS_MAX"),
        ("DOGE/USDT:USDT", "limit", 100, 0.2, ccxt.BadSymbol, "symbols", "SYMBOL_NOT_ALLOWED"),
    ],
)
def test_create_order_when_policy_violated_then_blocked_before_exchange_with_order_error(
    trader: Trader, sidecar: Sidecar, symbol: str, kind: str, amount: float, price: float,
    error: type[Exception], rule: str, reason: str,
) -> None:
    with pytest.raises(error) as raised:
        trader.bot.create_order(symbol, kind, "buy", amount, price)

    assert not isinstance(raised.value, ccxt.NetworkError)
    assert rule in str(raised.value) and reason in str(raised.value)
    assert trader.orders_received() == []
    [line] = sidecar.decisions(account=_fp(trader), verdict="block")
    assert (line["rule_id"], line["reason"]) == (rule, reason)


def test_set_leverage_when_above_max_then_blocked_and_within_max_then_forwarded(trader: Trader) -> None:
    with pytest.raises(ccxt.BadRequest) as raised:
        trader.bot.set_leverage(20, BTC)
    assert "LEVERAGE_EXCEEDS_MAX" in str(raised.value)
    assert trader.received("POST", "/fapi/v1/leverage") == []

    trader.bot.set_leverage(5, BTC)
    assert len(trader.received("POST", "/fapi/v1/leverage")) == 1


def test_create_orders_when_one_leg_violates_then_whole_batch_blocked(trader: Trader, sidecar: Sidecar) -> None:
    legs = [
        {"symbol": ETH, "type": "limit", "side": "buy", "amount": 0.1, "price": 2900},
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.9, "price": 50000},
    ]
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_orders(legs)

    assert trader.received("POST", "/fapi/v1/batchOrders") == []
    [line] = sidecar.decisions(account=_fp(trader), verdict="block")
    assert line["legs"] == 2 and line["symbol"] == "BTCUSDT" and line["context"]["max_qty"] == "0.5"


def test_create_orders_when_every_leg_allowed_then_batch_forwarded(trader: Trader) -> None:
    legs = [
        {"symbol": ETH, "type": "limit", "side": "buy", "amount": 0.1, "price": 2900},
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.1, "price": 49000},
    ]
    orders = trader.bot.create_orders(legs)

    assert len(orders) == 2
    assert len(trader.received("POST", "/fapi/v1/batchOrders")) == 1


def test_cancel_when_account_halted_then_cancels_pass_and_orders_blocked(
    new_trader: TraderFactory, sidecar: Sidecar
) -> None:
    trader = new_trader(api_key=HALTED_KEY, secret="halted-secret-" + "s" * 40)
    before_cancels = len(trader.received("DELETE"))

    with pytest.raises(ccxt.PermissionDenied) as raised:
        trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    assert "TRADING_HALTED" in str(raised.value)
    with pytest.raises(ccxt.OrderNotFound):  # the fake answers: no such order; the point is that it was asked
        trader.bot.cancel_order("123456", ETH)
    trader.bot.cancel_all_orders(ETH)

    assert trader.orders_received() == []
    assert len(trader.received("DELETE")) == before_cancels + 2


def test_create_order_when_position_at_max_then_increase_blocked_and_reduce_only_close_passes(
    trader: Trader, sidecar: Sidecar
) -> None:
    trader.bot.fetch_mark_price(BTC)  # the sidecar learns the mark price from the response
    trader.bot.create_order(BTC, "market", "buy", 0.5)
    trader.bot.create_order(BTC, "market", "buy", 0.5)
    assert trader.fake.position(trader.api_key, "BTCUSDT") == Decimal("1")

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "market", "buy", 0.1)
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    close = trader.bot.create_order(BTC, "market", "sell", 0.5, params={"reduceOnly": True})

    assert close["status"] == "closed"
    assert trader.fake.position(trader.api_key, "BTCUSDT") == Decimal("0.5")
    [blocked] = sidecar.decisions(account=_fp(trader), verdict="block")
    assert blocked["context"]["position"] == "1.1" and blocked["context"]["max_position"] == "1"


def test_create_order_when_position_learned_from_position_query_then_limit_counts_it(trader: Trader) -> None:
    trader.fake.set_position(trader.api_key, "BTCUSDT", Decimal("0.95"), entry_price=Decimal("50000"))
    trader.bot.fetch_positions([BTC])  # positionRisk passes through the sidecar, which learns 0.95

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "limit", "buy", 0.1, 49000)
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    trader.bot.create_order(BTC, "limit", "buy", 0.05, 49000)
    assert len(trader.orders_received()) == 1


def test_create_order_when_pending_orders_fill_the_limit_then_next_is_blocked(trader: Trader) -> None:
    # resting orders are counted as if they filled: 0.5 + 0.4 pending, 0.2 more would make 1.1
    trader.bot.create_order(BTC, "limit", "buy", 0.5, 40000)
    trader.bot.create_order(BTC, "limit", "buy", 0.4, 40000)
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "limit", "buy", 0.2, 40000)

    # cancelling one frees its exposure
    open_orders = trader.bot.fetch_open_orders(BTC)
    trader.bot.cancel_order(open_orders[0]["id"], BTC)
    trader.bot.create_order(BTC, "limit", "buy", 0.2, 40000)
    assert len(trader.orders_received()) == 3


def test_create_order_when_reducing_then_only_reductions_of_the_long_pass_and_never_flip_it(
    new_trader: TraderFactory, fake: FakeBinanceUsdm
) -> None:
    trader = new_trader(api_key=REDUCING_KEY, secret="reducing-secret-" + "s" * 40)
    fake.set_position(REDUCING_KEY, "ETHUSDT", Decimal("0.7"))
    trader.bot.fetch_positions([ETH])  # the sidecar learns the long 0.7
    before = len(trader.orders_received())  # the key is shared by both wirings' runs
    try:
        with pytest.raises(ccxt.PermissionDenied) as raised:
            trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
        assert "TRADING_REDUCING" in str(raised.value)

        # two plain sells of the whole long: the first reduces it, the second would flip it into a short
        trader.bot.create_order(ETH, "limit", "sell", 0.7, 3100)
        with pytest.raises(ccxt.PermissionDenied) as flipped:
            trader.bot.create_order(ETH, "limit", "sell", 0.7, 3100)
        assert "TRADING_REDUCING" in str(flipped.value)
        # nor does a reduce-only flag open anything once the long is spoken for
        with pytest.raises(ccxt.PermissionDenied):
            trader.bot.create_order(ETH, "limit", "sell", 0.1, 3100, params={"reduceOnly": True})
        # the venue confirms the cancel-all, but not that the sell had not filled first: the long is free again
        # once a position read asked after it says so
        trader.bot.cancel_all_orders(ETH)
        with pytest.raises(ccxt.PermissionDenied):
            trader.bot.create_order(ETH, "limit", "sell", 0.7, 3100, params={"reduceOnly": True})
        trader.bot.fetch_positions([ETH])
        trader.bot.create_order(ETH, "limit", "sell", 0.7, 3100, params={"reduceOnly": True})

        sells = [r for r in trader.orders_received()[before:] if r.params.get("side") == "SELL"]
        assert [r.params.get("quantity") for r in sells] == ["0.7", "0.7"]
    finally:
        trader.bot.cancel_all_orders(ETH)
        fake.set_position(REDUCING_KEY, "ETHUSDT", Decimal("0"))
        trader.bot.fetch_positions([ETH])


def test_create_order_when_burst_exceeds_rate_then_excess_blocked_as_rate_limit(
    trader: Trader, sidecar: Sidecar
) -> None:
    admitted, refused = 0, 0
    for _ in range(8):
        try:
            trader.bot.create_order(ETH, "limit", "buy", 0.01, 2000)
            admitted += 1
        except ccxt.RateLimitExceeded as exc:
            assert "ORDER_RATE_EXCEEDED" in str(exc)
            refused += 1

    assert (admitted, refused) == (5, 3)
    assert len(trader.orders_received()) == 5
    # cancels are never rate limited
    trader.bot.cancel_all_orders(ETH)
    assert len(trader.received("DELETE", "/fapi/v1/allOpenOrders")) == 1
    lines = sidecar.decisions(account=_fp(trader), reason="ORDER_RATE_EXCEEDED")
    assert len(lines) == 3 and lines[0]["context"]["limit"] == "5"


def test_conditional_order_when_above_max_qty_then_blocked_at_algo_endpoint(trader: Trader) -> None:
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "market", "sell", 0.8, params={"stopLossPrice": 45000})
    trader.bot.create_order(BTC, "market", "sell", 0.1, params={"stopLossPrice": 45000})

    [sent] = trader.received("POST", "/fapi/v1/algoOrder")
    assert sent.params["quantity"] == "0.1"


def test_withdraw_when_sent_through_sidecar_then_never_reaches_exchange(trader: Trader, sidecar: Sidecar) -> None:
    with pytest.raises(ccxt.PermissionDenied) as raised:
        trader.bot.withdraw("USDT", 100, "TXYZabc123", params={"network": "TRX"})

    assert "ACTION_FORBIDDEN" in str(raised.value)
    assert [r for r in trader.fake.wallet_requests() if r.api_key == trader.api_key] == []
    [line] = sidecar.decisions(account=_fp(trader), reason="ACTION_FORBIDDEN")
    assert line["endpoint"] == "POST /sapi/v1/capital/withdraw/apply"


def test_logs_when_trading_then_no_key_secret_or_signature_appears(trader: Trader, sidecar: Sidecar) -> None:
    trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "limit", "buy", 0.9, 50000)
    trader.bot.fetch_positions([BTC])

    output = sidecar.output()
    signatures = [r.params["signature"] for r in trader.fake.requests if "signature" in r.params]
    assert signatures, "the trader's requests were signed"
    for secret in [trader.api_key, trader.secret, *signatures]:
        assert secret not in output
    assert _fp(trader) in output  # the fingerprint is how the account appears instead


def _fp(trader: Trader) -> str:
    from riskwall.model import fingerprint

    return fingerprint(trader.api_key)
