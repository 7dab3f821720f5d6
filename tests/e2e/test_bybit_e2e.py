"""The real ccxt.bybit and the real pybit, through the real `riskwall run`, against the project's fake Bybit v5.

Every test runs in both wirings (explicit proxy with the sidecar's CA, and the plain-HTTP reverse listener) and
asserts, where they apply: what the library raised (an order-class exception, never a network error), what
reached the fake exchange (which verifies X-BAPI-SIGN over the exact bytes, so "unmodified" is proven), and what
the sidecar logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from tests.e2e.bybit_fixtures import (
    HALTED_KEY,
    HALTED_SECRET,
    REDUCING_KEY,
    REDUCING_SECRET,
    Trader,
    ccxt_trader,
    launch,
    pybit_trader,
    write_policy,
)
from tests.fakes.bybit import FakeBybit, sign
from tests.support.bybit_bots import DEFAULT_API_KEY, DEFAULT_SECRET, make_bybit, make_pybit
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar
from tests.support.tls import TlsMaterial

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
BTCUSD = "BTC/USD:BTC"
CREATE = "/v5/order/create"
BATCH = "/v5/order/create-batch"

type TraderFactory = Callable[..., Trader]


@pytest.fixture(scope="module")
def bybit_fake(pki: TlsMaterial) -> Iterator[FakeBybit]:
    # watched: the session-wide secret scan (conftest.secret_scan) proves none of its credentials is logged
    with watch(FakeBybit(tls=pki.server_ssl_context())) as venue:
        venue.add_account(HALTED_KEY, HALTED_SECRET)
        venue.add_account(REDUCING_KEY, REDUCING_SECRET)
        yield venue


@pytest.fixture(scope="module")
def bybit_sidecar(tmp_path_factory: pytest.TempPathFactory, bybit_fake: FakeBybit,
                  pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp("bybit-sidecar")
    running = launch(workdir, write_policy(workdir), bybit_fake, pki)
    yield running
    running.stop()


@pytest.fixture(params=["explicit", "reverse"])
def wiring(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_trader(bybit_fake: FakeBybit, bybit_sidecar: Sidecar, wiring: str) -> TraderFactory:
    def make(api_key: str | None = None, secret: str | None = None) -> Trader:
        return ccxt_trader(bybit_fake, bybit_sidecar, wiring, api_key, secret)

    return make


@pytest.fixture
def trader(new_trader: TraderFactory) -> Trader:
    return new_trader()


@pytest.fixture
def new_pybit(bybit_fake: FakeBybit, bybit_sidecar: Sidecar, wiring: str) -> TraderFactory:
    def make(api_key: str | None = None, secret: str | None = None) -> Trader:
        return pybit_trader(bybit_fake, bybit_sidecar, wiring, api_key, secret)

    return make


# ---- ccxt ----------------------------------------------------------------------------------------------------


def test_create_order_when_within_policy_then_reaches_exchange_unmodified(
    trader: Trader, bybit_sidecar: Sidecar
) -> None:
    order = trader.bot.create_order(ETH, "limit", "buy", 0.5, 2900)

    [sent] = trader.orders_received()
    # the fake verifies the HMAC over the exact bytes: a modified request would have been refused with 10004
    assert (sent.status, sent.ret_code) == (200, 0)
    assert sent.params["qty"] == "0.5" and sent.params["price"] == "2900"
    assert order["id"] and trader.fake.open_orders(trader.api_key)[0]["orderId"] == order["id"]
    [line] = bybit_sidecar.decisions(account=trader.account, verdict="allow")
    assert (line["venue"], line["endpoint"], line["symbol"], line["qty"], line["price"]) == (
        "bybit", "POST /v5/order/create", "ETHUSDT", "0.5", "2900")


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
    trader: Trader, bybit_sidecar: Sidecar, symbol: str, amount: float, price: float,
    error: type[Exception], rule: str, reason: str,
) -> None:
    with pytest.raises(error) as raised:
        trader.bot.create_order(symbol, "limit", "buy", amount, price)

    assert type(raised.value) is error and not isinstance(raised.value, ccxt.NetworkError)
    assert rule in str(raised.value) and reason in str(raised.value)
    assert trader.orders_received() == []
    [line] = bybit_sidecar.decisions(account=trader.account, verdict="block")
    assert (line["rule_id"], line["reason"]) == (rule, reason)


def test_edit_order_when_new_qty_over_limit_then_blocked_and_within_limit_forwarded(trader: Trader) -> None:
    order = trader.bot.create_order(BTC, "limit", "buy", 0.1, 40000)

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.edit_order(order["id"], BTC, "limit", "buy", 0.9, 40000)
    assert "ORDER_QTY_EXCEEDS_MAX" in str(raised.value)
    trader.bot.edit_order(order["id"], BTC, "limit", "buy", 0.2, 40500)

    assert len(trader.received("POST", "/v5/order/amend")) == 1
    assert trader.fake.order(trader.api_key, order["id"])["qty"] == "0.200"


def test_edit_order_when_resized_then_position_limit_counts_the_new_size(trader: Trader) -> None:
    # Bybit's amend names no side: the sidecar knows it from the order it saw acknowledged
    first = trader.bot.create_order(BTC, "limit", "buy", 0.3, 40000)
    trader.bot.create_order(BTC, "limit", "buy", 0.4, 40000)
    trader.bot.create_order(BTC, "limit", "buy", 0.2, 40000)

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.edit_order(first["id"], BTC, "limit", "buy", 0.45, 40000)  # 0.45 + 0.4 + 0.2 > 1
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    trader.bot.edit_order(first["id"], BTC, "limit", "buy", 0.35, 40000)  # 0.95
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "limit", "buy", 0.1, 40000)  # 1.05: the amend's new size counts
    trader.bot.create_order(BTC, "limit", "buy", 0.05, 40000)

    assert len(trader.received("POST", "/v5/order/amend")) == 1
    assert len(trader.received("POST", CREATE)) == 4


def test_set_leverage_when_above_max_then_blocked_and_within_max_then_forwarded(trader: Trader) -> None:
    with pytest.raises(ccxt.BadRequest) as raised:
        trader.bot.set_leverage(20, BTC)
    assert "LEVERAGE_EXCEEDS_MAX" in str(raised.value) and not isinstance(raised.value, ccxt.NetworkError)
    assert trader.received("POST", "/v5/position/set-leverage") == []

    trader.bot.set_leverage(5, BTC)
    assert len(trader.received("POST", "/v5/position/set-leverage")) == 1


def test_create_orders_when_one_leg_violates_then_whole_batch_blocked(trader: Trader, bybit_sidecar: Sidecar) -> None:
    legs = [
        {"symbol": ETH, "type": "limit", "side": "buy", "amount": 0.1, "price": 2900},
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.9, "price": 50000},
    ]
    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_orders(legs)

    assert "ORDER_QTY_EXCEEDS_MAX" in str(raised.value)
    # the answer lists every leg as Bybit's batch answers do: the good one refused with the batch
    assert '"orderId":"","orderLinkId":"","createAt":""' in str(raised.value)
    assert "refused the whole batch" in str(raised.value)
    assert trader.received("POST", BATCH) == []
    [line] = bybit_sidecar.decisions(account=trader.account, verdict="block")
    assert line["legs"] == 2 and line["symbol"] == "BTCUSDT" and line["context"]["max_qty"] == "0.5"


def test_create_orders_when_every_leg_allowed_then_batch_forwarded(trader: Trader) -> None:
    legs = [
        {"symbol": ETH, "type": "limit", "side": "buy", "amount": 0.1, "price": 2900},
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.1, "price": 49000},
    ]
    orders = trader.bot.create_orders(legs)

    assert len(orders) == 2 and all(o["id"] for o in orders)
    assert len(trader.received("POST", BATCH)) == 1
    assert len(trader.fake.open_orders(trader.api_key)) == 2


def test_cancel_when_account_halted_then_cancels_pass_and_orders_blocked(new_trader: TraderFactory) -> None:
    trader = new_trader(api_key=HALTED_KEY, secret=HALTED_SECRET)
    before = len(trader.received("POST"))

    with pytest.raises(ccxt.PermissionDenied) as raised:
        trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    assert "TRADING_HALTED" in str(raised.value)
    with pytest.raises(ccxt.OrderNotFound):  # the fake answers 110001: the point is that it was asked
        trader.bot.cancel_order("0b1c2d3e-0000-4000-8000-000000000000", ETH)
    trader.bot.cancel_all_orders(ETH)

    assert trader.orders_received() == []
    assert [r.path for r in trader.received("POST")][before:] == ["/v5/order/cancel", "/v5/order/cancel-all"]


def test_create_order_when_reducing_then_only_reductions_of_the_long_pass_and_never_flip_it(
    new_trader: TraderFactory, bybit_fake: FakeBybit
) -> None:
    trader = new_trader(api_key=REDUCING_KEY, secret=REDUCING_SECRET)
    bybit_fake.set_position(REDUCING_KEY, "ETHUSDT", Decimal("0.7"))
    trader.bot.fetch_positions([ETH])  # the sidecar learns the long 0.7
    before = len(trader.orders_received())  # the key is shared by both wirings' runs
    try:
        with pytest.raises(ccxt.PermissionDenied) as raised:
            trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
        assert "TRADING_REDUCING" in str(raised.value)

        trader.bot.create_order(ETH, "limit", "sell", 0.7, 3100)
        with pytest.raises(ccxt.PermissionDenied) as flipped:  # the second would flip the long into a short
            trader.bot.create_order(ETH, "limit", "sell", 0.7, 3100)
        assert "TRADING_REDUCING" in str(flipped.value)
        with pytest.raises(ccxt.PermissionDenied):  # a reduce-only flag opens nothing once the long is spoken for
            trader.bot.create_order(ETH, "limit", "sell", 0.1, 3100, params={"reduceOnly": True})

        sells = [r for r in trader.orders_received()[before:] if r.params.get("side") == "Sell"]
        assert [r.params["qty"] for r in sells] == ["0.7"]
    finally:
        trader.bot.cancel_all_orders(ETH)
        bybit_fake.set_position(REDUCING_KEY, "ETHUSDT", Decimal("0"))
        trader.bot.fetch_positions([ETH])


def test_create_order_when_position_at_max_then_increase_blocked_and_reduce_only_close_passes(
    trader: Trader, bybit_sidecar: Sidecar
) -> None:
    trader.bot.fetch_ticker(BTC)  # the sidecar learns the mark price from the response
    trader.bot.create_order(BTC, "market", "buy", 0.5)
    trader.bot.create_order(BTC, "market", "buy", 0.5)
    assert trader.fake.position(trader.api_key, "BTCUSDT") == Decimal("1")

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "market", "buy", 0.1)
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    trader.bot.create_order(BTC, "market", "sell", 0.5, params={"reduceOnly": True})

    assert trader.fake.position(trader.api_key, "BTCUSDT") == Decimal("0.5")
    [blocked] = bybit_sidecar.decisions(account=trader.account, verdict="block")
    assert blocked["context"]["position"] == "1.1" and blocked["context"]["max_position"] == "1"


def test_create_order_when_position_learned_from_position_query_then_limit_counts_it(trader: Trader) -> None:
    trader.fake.set_position(trader.api_key, "BTCUSDT", Decimal("0.95"))
    trader.bot.fetch_positions([BTC])  # position/list passes through the sidecar, which learns 0.95

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "limit", "buy", 0.1, 49000)
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    trader.bot.create_order(BTC, "limit", "buy", 0.05, 49000)
    assert len(trader.orders_received()) == 1


def test_create_order_when_pending_orders_fill_the_limit_then_next_is_blocked(trader: Trader) -> None:
    # resting orders count as if they filled: 0.5 + 0.4 pending, 0.2 more would make 1.1
    trader.bot.create_order(BTC, "limit", "buy", 0.5, 40000)
    trader.bot.create_order(BTC, "limit", "buy", 0.4, 40000)
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "limit", "buy", 0.2, 40000)

    # the listing is a complete snapshot of the USDT-settled book
    open_orders = trader.bot.fetch_open_orders()
    assert len(open_orders) == 2
    # Bybit's cancel answer carries the id only: the order may have filled in part before the cancel reached it,
    # so what it had open is held until a position read asked after the cancel shows the position
    trader.bot.cancel_order(open_orders[0]["id"], BTC)
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "limit", "buy", 0.2, 40000)
    trader.bot.fetch_positions([BTC])
    trader.bot.create_order(BTC, "limit", "buy", 0.2, 40000)
    assert len(trader.orders_received()) == 3


def test_create_order_when_a_cancelled_order_had_filled_in_part_unseen_then_its_fill_still_counts(
    trader: Trader
) -> None:
    # a bot chasing the price: quote, cancel what did not fill, quote again. Bybit's cancel answer carries ids
    # only, so a part that filled before the cancel must not vanish: counted nowhere, the second and third quotes
    # would pass and take the venue's position to 1.3 against a 1 BTC limit
    chased = trader.bot.create_order(BTC, "limit", "buy", 0.5, 40000)
    trader.fake.fill_order(chased["id"], qty=Decimal("0.3"), api_key=trader.api_key)
    trader.bot.cancel_order(chased["id"], BTC)
    trader.bot.create_order(BTC, "limit", "buy", 0.5, 40000)  # the cancelled 0.5 held, this 0.5: 1
    with pytest.raises(ccxt.InvalidOrder) as held:
        trader.bot.create_order(BTC, "limit", "buy", 0.5, 40000)
    trader.bot.fetch_positions([BTC])  # asked after the cancel: long 0.3, so the hold ends
    with pytest.raises(ccxt.InvalidOrder) as read:
        trader.bot.create_order(BTC, "limit", "buy", 0.5, 40000)  # 0.3 + 0.5 resting + 0.5
    trader.bot.create_order(BTC, "limit", "buy", 0.2, 40000)

    assert "POSITION_EXCEEDS_MAX" in str(held.value) and "POSITION_EXCEEDS_MAX" in str(read.value)
    assert trader.fake.position(trader.api_key, "BTCUSDT") == Decimal("0.3")
    assert [r.params["qty"] for r in trader.orders_received()] == ["0.5", "0.5", "0.2"]


def test_create_order_when_breaking_position_and_rate_at_once_then_answered_as_position_not_retryable_rate(
    trader: Trader, bybit_sidecar: Sidecar
) -> None:
    # five resting orders hold 0.95 BTC of the 1 BTC position limit and the whole 5-per-minute budget; the
    # sixth breaks both: the bot must be told the limit it cannot retry past, not "slow down"
    for _ in range(5):
        trader.bot.create_order(BTC, "limit", "buy", 0.19, 40000)

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTC, "limit", "buy", 0.1, 40000)

    assert not isinstance(raised.value, ccxt.RateLimitExceeded)
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    assert len(trader.orders_received()) == 5
    [line] = bybit_sidecar.decisions(account=trader.account, verdict="block")
    assert (line["reason"], line["also_violated"][0].split(":")[0]) == ("POSITION_EXCEEDS_MAX", "ORDER_RATE_EXCEEDED")
    trader.bot.cancel_all_orders(BTC)


def test_create_order_when_burst_exceeds_rate_then_excess_blocked_as_rate_limit(
    trader: Trader, bybit_sidecar: Sidecar
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
    trader.bot.cancel_all_orders(ETH)  # cancels are never rate limited
    assert len(trader.received("POST", "/v5/order/cancel-all")) == 1
    lines = bybit_sidecar.decisions(account=trader.account, reason="ORDER_RATE_EXCEEDED")
    assert len(lines) == 3 and lines[0]["context"]["limit"] == "5"


def test_conditional_order_when_above_max_qty_then_blocked(trader: Trader) -> None:
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "market", "sell", 0.8, params={"triggerPrice": 45000,
                                                                     "triggerDirection": "descending"})
    trader.bot.create_order(BTC, "market", "sell", 0.1, params={"triggerPrice": 45000,
                                                                "triggerDirection": "descending"})

    [sent] = trader.orders_received()
    assert sent.params["qty"] == "0.1" and sent.params["triggerPrice"] == "45000"


def test_inverse_order_when_usd_contracts_exceed_base_limit_then_blocked(
    trader: Trader, bybit_sidecar: Sidecar
) -> None:
    # 30000 USD contracts at 50000 is 0.6 BTC: over the 0.5 BTC named by the unified symbol BTC/USD:BTC
    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(BTCUSD, "limit", "buy", 30000, 50000)
    assert "ORDER_QTY_EXCEEDS_MAX" in str(raised.value)
    trader.bot.create_order(BTCUSD, "limit", "buy", 20000, 50000)

    [sent] = trader.orders_received()
    assert sent.params == {**sent.params, "category": "inverse", "qty": "20000"}
    [line] = bybit_sidecar.decisions(account=trader.account, verdict="block")
    assert line["qty"] == "0.6" and line["context"]["max_qty"] == "0.5"


def test_inverse_market_order_when_no_price_seen_then_blocked_until_ticker_fetched(trader: Trader) -> None:
    # a price the sidecar has seen serves every bot after, so each wiring trades an instrument nobody priced yet
    symbol, native = {"explicit": (BTCUSD, "BTCUSD"), "reverse": ("ETH/USD:ETH", "ETHUSD")}[trader.wiring]
    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(symbol, "market", "buy", 1000)
    assert "PARSE_FAILED" in str(raised.value) and "no price is known" in str(raised.value)
    assert trader.orders_received() == []

    trader.bot.fetch_ticker(symbol)
    trader.bot.create_order(symbol, "market", "buy", 1000)

    assert trader.fake.position(trader.api_key, native) == Decimal("1000")


def test_create_order_when_spot_market_then_refused_as_not_checked(trader: Trader, bybit_sidecar: Sidecar) -> None:
    with pytest.raises(ccxt.PermissionDenied) as raised:
        trader.bot.create_order("BTC/USDT", "limit", "buy", 0.001, 50000)

    assert "UNKNOWN_ENDPOINT" in str(raised.value)
    assert trader.orders_received() == []
    [line] = bybit_sidecar.decisions(account=trader.account, verdict="block")
    assert line["endpoint"] == "POST /v5/order/create?category=spot"


def test_withdraw_and_transfer_when_sent_through_sidecar_then_never_reach_exchange(
    trader: Trader, bybit_sidecar: Sidecar
) -> None:
    with pytest.raises(ccxt.PermissionDenied) as raised:
        trader.bot.withdraw("USDT", 100, "TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf", params={"network": "TRC20"})
    assert "ACTION_FORBIDDEN" in str(raised.value)
    with pytest.raises(ccxt.PermissionDenied):
        trader.bot.transfer("USDT", 100, "swap", "funding")

    assert trader.wallet_received() == []
    lines = bybit_sidecar.decisions(account=trader.account, reason="ACTION_FORBIDDEN")
    endpoints = [line["endpoint"] for line in lines]
    assert endpoints == ["POST /v5/asset/withdraw/create", "POST /v5/asset/transfer/inter-transfer"]


def test_logs_when_trading_then_no_key_secret_or_signature_appears(trader: Trader, bybit_sidecar: Sidecar) -> None:
    trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    with pytest.raises(ccxt.InvalidOrder):
        trader.bot.create_order(BTC, "limit", "buy", 0.9, 50000)
    trader.bot.fetch_positions([BTC])

    output = bybit_sidecar.output()
    signatures = [r.header("X-BAPI-SIGN") for r in trader.received()]
    assert signatures and all(signatures)
    for secret in [trader.api_key, trader.secret, *signatures]:
        assert secret not in output
    assert trader.account in output  # the fingerprint is how the account appears instead


# ---- pybit ---------------------------------------------------------------------------------------------------


def _place(trader: Trader, **overrides: Any) -> dict[str, Any]:
    fields = {"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.5",
              "price": "2900", **overrides}
    # pybit drops None values before it signs: a market order simply has no price
    return trader.bot.place_order(**fields)  # type: ignore[no-any-return]


def test_pybit_place_order_when_within_policy_then_reaches_exchange_unmodified(
    new_pybit: TraderFactory, bybit_sidecar: Sidecar
) -> None:
    trader = new_pybit()

    answer = _place(trader, positionIdx="0", orderLinkId="pybit-e2e-1")

    assert answer["retCode"] == 0 and answer["result"]["orderLinkId"] == "pybit-e2e-1"
    [sent] = trader.orders_received()
    # pybit's body is json.dumps with spaces and positionIdx as an int; the fake checked the signature over it
    assert (sent.status, sent.ret_code) == (200, 0)
    assert b'"positionIdx": 0' in sent.body and sent.header("X-BAPI-SIGN-TYPE") == "2"
    [line] = bybit_sidecar.decisions(account=trader.account, verdict="allow")
    assert line["qty"] == "0.5"


@pytest.mark.parametrize(
    ("overrides", "code", "reason"),
    [
        ({"symbol": "BTCUSDT", "qty": "0.6", "price": "50000"}, 110032, "ORDER_QTY_EXCEEDS_MAX"),
        ({"symbol": "DOGEUSDT", "qty": "100", "price": "0.2"}, 10001, "SYMBOL_NOT_ALLOWED"),
        ({"category": "spot", "symbol": "BTCUSDT", "qty": "0.001", "price": "50000"}, 10005, "UNKNOWN_ENDPOINT"),
        ({"qty": "1e2"}, 110032, "PARSE_FAILED"),
    ],
    ids=["qty-over-limit", "symbol-denied", "spot-not-checked", "exponent-qty"],
)
def test_pybit_place_order_when_blocked_then_invalid_request_error_and_nothing_sent(
    new_pybit: TraderFactory, overrides: dict, code: int, reason: str
) -> None:
    trader = new_pybit()

    with pytest.raises(InvalidRequestError) as raised:
        _place(trader, **overrides)

    assert not isinstance(raised.value, FailedRequestError)
    assert raised.value.status_code == code and reason in raised.value.message
    assert trader.orders_received() == []


def test_pybit_batch_when_one_leg_violates_then_whole_batch_blocked_with_per_leg_list(
    new_pybit: TraderFactory,
) -> None:
    trader = new_pybit()
    legs = [{"symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.1", "price": "2900"},
            {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.9", "price": "50000"}]

    with pytest.raises(InvalidRequestError) as raised:
        trader.bot.place_batch_order(category="linear", request=legs)
    assert raised.value.status_code == 110032 and "ORDER_QTY_EXCEEDS_MAX" in raised.value.message
    assert trader.received("POST", BATCH) == []

    legs[1]["qty"] = "0.1"
    answer = trader.bot.place_batch_order(category="linear", request=legs)
    assert [c["code"] for c in answer["retExtInfo"]["list"]] == [0, 0]
    assert len(trader.received("POST", BATCH)) == 1


def test_pybit_set_leverage_when_above_max_then_invalid_request_error(new_pybit: TraderFactory) -> None:
    trader = new_pybit()

    with pytest.raises(InvalidRequestError) as raised:
        trader.bot.set_leverage(category="linear", symbol="BTCUSDT", buyLeverage="5", sellLeverage="25")

    assert raised.value.status_code == 110013 and "LEVERAGE_EXCEEDS_MAX" in raised.value.message
    assert trader.received("POST", "/v5/position/set-leverage") == []


def test_pybit_withdraw_when_sent_then_never_reaches_exchange(new_pybit: TraderFactory) -> None:
    trader = new_pybit()

    with pytest.raises(InvalidRequestError) as raised:
        trader.bot.withdraw(coin="USDT", chain="TRX", address="TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf", amount="100",
                            timestamp=1700000000000, forceChain=0, accountType="FUND")
    assert raised.value.status_code == 10005 and "ACTION_FORBIDDEN" in raised.value.message
    with pytest.raises(InvalidRequestError):
        trader.bot.create_sub_api_key(subuid=53888000, readOnly=0, permissions={"Wallet": ["AccountTransfer"]})

    assert trader.wallet_received() == []


def test_pybit_cancel_when_account_halted_then_cancels_pass_and_orders_blocked(new_pybit: TraderFactory) -> None:
    trader = new_pybit(api_key=HALTED_KEY, secret=HALTED_SECRET)
    before = len(trader.received("POST"))

    with pytest.raises(InvalidRequestError) as raised:
        _place(trader)
    assert raised.value.status_code == 10027 and "TRADING_HALTED" in raised.value.message
    with pytest.raises(InvalidRequestError) as from_venue:  # the fake's own "no such order": it was asked
        trader.bot.cancel_order(category="linear", symbol="ETHUSDT", orderId="0b1c2d3e-0000-4000-8000-000000000000")
    assert from_venue.value.status_code == 110001
    trader.bot.cancel_all_orders(category="linear", settleCoin="USDT")

    assert [r.path for r in trader.received("POST")][before:] == ["/v5/order/cancel", "/v5/order/cancel-all"]


def test_pybit_positions_when_read_through_sidecar_then_position_limit_counts_them(new_pybit: TraderFactory) -> None:
    trader = new_pybit()
    trader.fake.set_position(trader.api_key, "BTCUSDT", Decimal("-0.95"))
    trader.bot.get_positions(category="linear", settleCoin="USDT")

    with pytest.raises(InvalidRequestError) as raised:
        _place(trader, symbol="BTCUSDT", side="Sell", orderType="Market", qty="0.1", price=None)
    assert "POSITION_EXCEEDS_MAX" in raised.value.message
    answer = _place(trader, symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.5", price=None, reduceOnly=True)

    assert answer["retCode"] == 0
    assert trader.fake.position(trader.api_key, "BTCUSDT") == Decimal("-0.45")



# ---- the fake itself: what makes "reached the exchange unmodified" a proof ---------------------------------


def _signed_post(fake: FakeBybit, pki: TlsMaterial, path: str, signed_body: bytes, sent_body: bytes,
                 api_key: str = DEFAULT_API_KEY, secret: str = DEFAULT_SECRET) -> dict[str, Any]:
    timestamp = str(int(time.time() * 1000))
    headers = {"X-BAPI-API-KEY": api_key, "X-BAPI-TIMESTAMP": timestamp, "X-BAPI-RECV-WINDOW": "5000",
               "X-BAPI-SIGN": sign(timestamp, api_key, "5000", signed_body, secret), "Content-Type": "application/json"}
    answer = requests.post(fake.base_url + path, data=sent_body, headers=headers, verify=str(pki.ca_cert), timeout=10)
    assert answer.status_code == 200
    return answer.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "sent",
    [
        b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"5","price":"50000"}',
        b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.5","price":"50000"} ',
        b'{"category": "linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.5","price":"50000"}',
    ],
    ids=["value-changed", "trailing-space", "reserialised-with-spaces"],
)
def test_fake_when_body_differs_from_signed_bytes_then_refused_with_10004(
    bybit_fake: FakeBybit, pki: TlsMaterial, sent: bytes
) -> None:
    signed = b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.5","price":"50000"}'
    before = len(bybit_fake.open_orders(DEFAULT_API_KEY))

    assert _signed_post(bybit_fake, pki, CREATE, signed, signed)["retCode"] == 0
    answer = _signed_post(bybit_fake, pki, CREATE, signed, sent)

    assert answer["retCode"] == 10004 and answer["retMsg"].startswith("error sign!")
    assert len(bybit_fake.open_orders(DEFAULT_API_KEY)) == before + 1


def test_fake_when_ccxt_and_pybit_sign_directly_then_both_accepted(bybit_fake: FakeBybit, pki: TlsMaterial) -> None:
    bot = make_bybit(bybit_fake.base_url, ca_file=pki.ca_cert)
    order = bot.create_order(ETH, "limit", "buy", 0.1, 2500)
    session = make_pybit(bybit_fake.base_url, ca_file=pki.ca_cert)
    answer = session.get_open_orders(category="linear", symbol="ETHUSDT")

    assert order["id"] in [o["orderId"] for o in answer["result"]["list"]]
    assert all(r.ret_code == 0 for r in bybit_fake.requests if r.api_key == DEFAULT_API_KEY and r.method == "GET")
