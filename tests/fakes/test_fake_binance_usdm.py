"""The fake Binance USDⓈ-M venue, driven by the real ccxt (direct and over TLS) and by hand-signed requests.

These tests pin two things the firewall's end-to-end tests rely on: that the fake answers like Binance for
every call a ccxt bot makes, and that its signature check catches any change to a request in transit.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import ccxt
import pytest
from requests.adapters import HTTPAdapter
from tests.fakes.binance_usdm import FakeBinanceUsdm, sign_params
from tests.support.ccxt_bots import DEFAULT_API_KEY, DEFAULT_SECRET, direct_bot, make_binanceusdm
from tests.support.tls import TlsMaterial, make_test_pki

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


@pytest.fixture
def fake() -> Any:
    with FakeBinanceUsdm() as venue:
        yield venue
    assert venue.internal_errors == []


@pytest.fixture
def bot(fake: FakeBinanceUsdm) -> ccxt.binanceusdm:
    exchange = direct_bot(fake.base_url)
    exchange.load_markets()
    fake.clear_requests()
    return exchange


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_test_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_fake(pki: TlsMaterial) -> Any:
    with FakeBinanceUsdm(tls=pki.server_ssl_context()) as venue:
        yield venue
    assert venue.internal_errors == []


def _limit(bot: ccxt.binanceusdm, price: float = 45000) -> dict[str, Any]:
    return bot.create_order(BTC, "limit", "buy", 0.01, price)


# ---- the endpoint each ccxt call uses (the table in tests/support/ccxt_bots.py) ---------------------------

Setup = Callable[[ccxt.binanceusdm], Any]
Call = Callable[[ccxt.binanceusdm, Any], Any]

ENDPOINT_TABLE: list[tuple[str, Setup | None, Call, list[str]]] = [
    ("load_markets", None, lambda b, _: b.load_markets(reload=True), ["GET /fapi/v1/exchangeInfo"]),
    ("fetch_time", None, lambda b, _: b.fetch_time(), ["GET /fapi/v1/time"]),
    ("fetch_ticker", None, lambda b, _: b.fetch_ticker(BTC), ["GET /fapi/v1/ticker/24hr"]),
    ("fetch_order_book", None, lambda b, _: b.fetch_order_book(BTC, 5), ["GET /fapi/v1/depth"]),
    ("fetch_mark_price", None, lambda b, _: b.fetch_mark_price(BTC), ["GET /fapi/v1/premiumIndex"]),
    ("fetch_funding_rate", None, lambda b, _: b.fetch_funding_rate(BTC), ["GET /fapi/v1/premiumIndex"]),
    ("fetch_balance", None, lambda b, _: b.fetch_balance(), ["GET /fapi/v3/account"]),
    ("create_order market", None, lambda b, _: b.create_order(BTC, "market", "buy", 0.01),
     ["POST /fapi/v1/order"]),
    ("create_order limit", None, lambda b, _: _limit(b), ["POST /fapi/v1/order"]),
    ("create_order stop-market", None,
     lambda b, _: b.create_order(BTC, "market", "sell", 0.01, None, {"triggerPrice": 45000}),
     ["POST /fapi/v1/algoOrder"]),
    ("create_order take-profit", None,
     lambda b, _: b.create_order(BTC, "market", "sell", 0.01, None, {"takeProfitPrice": 55000}),
     ["POST /fapi/v1/algoOrder"]),
    ("create_orders", None, lambda b, _: b.create_orders([
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 44000},
        {"symbol": ETH, "type": "market", "side": "buy", "amount": 0.1},
    ]), ["POST /fapi/v1/batchOrders"]),
    ("edit_order", _limit, lambda b, o: b.edit_order(o["id"], BTC, "limit", "buy", 0.02, 45100),
     ["PUT /fapi/v1/order"]),
    ("edit_orders", lambda b: [_limit(b), _limit(b)], lambda b, os: b.edit_orders([
        {"id": o["id"], "symbol": BTC, "type": "limit", "side": "buy", "amount": 0.02, "price": 45100} for o in os
    ]), ["PUT /fapi/v1/batchOrders"]),
    ("cancel_order", _limit, lambda b, o: b.cancel_order(o["id"], BTC), ["DELETE /fapi/v1/order"]),
    ("cancel_order trigger",
     lambda b: b.create_order(BTC, "market", "sell", 0.01, None, {"triggerPrice": 45000}),
     lambda b, o: b.cancel_order(o["id"], BTC, {"trigger": True}), ["DELETE /fapi/v1/algoOrder"]),
    ("cancel_orders", lambda b: [_limit(b), _limit(b)],
     lambda b, os: b.cancel_orders([o["id"] for o in os], BTC), ["DELETE /fapi/v1/batchOrders"]),
    ("cancel_all_orders", _limit, lambda b, _: b.cancel_all_orders(BTC), ["DELETE /fapi/v1/allOpenOrders"]),
    ("cancel_all_orders trigger", None, lambda b, _: b.cancel_all_orders(BTC, {"trigger": True}),
     ["DELETE /fapi/v1/algoOpenOrders"]),
    ("fetch_open_orders trigger", None, lambda b, _: b.fetch_open_orders(BTC, params={"trigger": True}),
     ["GET /fapi/v1/openAlgoOrders"]),
    ("fetch_open_orders", _limit, lambda b, _: b.fetch_open_orders(BTC), ["GET /fapi/v1/openOrders"]),
    ("fetch_order", _limit, lambda b, o: b.fetch_order(o["id"], BTC), ["GET /fapi/v1/order"]),
    ("set_leverage", None, lambda b, _: b.set_leverage(10, BTC), ["POST /fapi/v1/leverage"]),
    ("set_margin_mode", None, lambda b, _: b.set_margin_mode("isolated", BTC), ["POST /fapi/v1/marginType"]),
    ("set_position_mode", None, lambda b, _: b.set_position_mode(True), ["POST /fapi/v1/positionSide/dual"]),
    ("fetch_position_mode", None, lambda b, _: b.fetch_position_mode(), ["GET /fapi/v1/positionSide/dual"]),
    ("fetch_positions", None, lambda b, _: b.fetch_positions(),
     ["GET /fapi/v1/leverageBracket", "GET /fapi/v3/positionRisk"]),
    ("fetch_positions useV2", None, lambda b, _: b.fetch_positions(None, {"useV2": True}),
     ["GET /fapi/v1/leverageBracket", "GET /fapi/v2/positionRisk"]),
    ("fetch_margin_mode", None, lambda b, _: b.fetch_margin_mode(BTC), ["GET /fapi/v1/symbolConfig"]),
    ("fetch_trading_fee", None, lambda b, _: b.fetch_trading_fee(BTC), ["GET /fapi/v1/commissionRate"]),
    ("fetch_leverages", None, lambda b, _: b.fetch_leverages(),
     ["GET /fapi/v1/leverageBracket", "GET /fapi/v1/symbolConfig"]),
    ("withdraw", None, lambda b, _: b.withdraw("USDT", 10, "0xabc"), ["POST /sapi/v1/capital/withdraw/apply"]),
    ("transfer", None, lambda b, _: b.transfer("USDT", 10, "future", "spot"), ["POST /sapi/v1/asset/transfer"]),
]


@pytest.mark.parametrize(("name", "setup", "call", "expected"), ENDPOINT_TABLE, ids=[r[0] for r in ENDPOINT_TABLE])
def test_ccxt_call_when_driven_directly_then_uses_documented_endpoint(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm, name: str, setup: Setup | None, call: Call, expected: list[str]
) -> None:
    prepared = setup(bot) if setup is not None else None
    fake.clear_requests()

    call(bot, prepared)

    assert fake.calls() == expected
    assert [r.status for r in fake.requests] == [200] * len(expected)  # every signature verified


def test_load_markets_when_fetch_currencies_enabled_then_wallet_config_comes_from_the_fake(
    fake: FakeBinanceUsdm,
) -> None:
    exchange = direct_bot(fake.base_url, fetch_currencies=True)

    exchange.load_markets()

    assert fake.calls() == ["GET /sapi/v1/capital/config/getall", "GET /sapi/v1/margin/allPairs",
                            "GET /fapi/v1/exchangeInfo"]
    assert {"USDT", "BTC"} <= set(exchange.currencies)


# ---- market data ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("symbol", "amount_step", "price_tick", "min_cost"), [
    (BTC, 0.001, 0.1, 100.0),
    (ETH, 0.001, 0.01, 20.0),
    ("SOL/USDT:USDT", 1.0, 0.01, 5.0),
    ("DOGE/USDT:USDT", 1.0, 0.00001, 5.0),
])
def test_load_markets_when_exchange_info_served_then_perpetuals_carry_real_filters(
    bot: ccxt.binanceusdm, symbol: str, amount_step: float, price_tick: float, min_cost: float
) -> None:
    market = bot.market(symbol)

    assert (market["swap"], market["linear"], market["active"], market["settle"]) == (True, True, True, "USDT")
    assert market["precision"] == pytest.approx(
        {"amount": amount_step, "price": price_tick, "base": 1e-8, "quote": 1e-8})
    assert market["limits"]["cost"]["min"] == min_cost


@pytest.mark.parametrize(("mark", "expected_last"), [(Decimal("51234.5"), 51234.5), (Decimal("50000"), 50000.0)])
def test_fetch_ticker_when_mark_price_set_then_last_and_mark_follow_it(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm, mark: Decimal, expected_last: float
) -> None:
    fake.set_mark_price("BTCUSDT", mark)

    assert bot.fetch_ticker(BTC)["last"] == expected_last
    assert bot.fetch_mark_price(BTC)["markPrice"] == expected_last


def test_premium_index_when_no_symbol_then_every_symbol_listed(fake: FakeBinanceUsdm) -> None:
    status, body = _raw(fake, "GET", "/fapi/v1/premiumIndex", signed=False)

    assert status == 200
    assert {row["symbol"]: Decimal(row["markPrice"]) for row in body} == {
        "BTCUSDT": Decimal("50000"), "ETHUSDT": Decimal("3000"), "SOLUSDT": Decimal("150"),
        "DOGEUSDT": Decimal("0.2")}


# ---- orders and positions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("side", "signed_amount", "position_side"), [
    ("buy", Decimal("0.010"), "long"),
    ("sell", Decimal("-0.010"), "short"),
])
def test_market_order_when_filled_then_position_shows_in_fetch_positions(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm, side: str, signed_amount: Decimal, position_side: str
) -> None:
    fake.set_mark_price("BTCUSDT", Decimal("60000"))

    order = bot.create_order(BTC, "market", side, 0.01)
    positions = bot.fetch_positions([BTC])

    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.01, 60000.0)
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == signed_amount
    assert [(p["symbol"], p["side"], p["contracts"], p["entryPrice"]) for p in positions] == [
        (BTC, position_side, 0.01, 60000.0)]


def test_market_order_when_mark_moves_then_unrealized_pnl_follows(fake: FakeBinanceUsdm, bot: ccxt.binanceusdm) -> None:
    bot.create_order(BTC, "market", "buy", 0.1)
    fake.set_mark_price("BTCUSDT", Decimal("51000"))

    (position,) = bot.fetch_positions([BTC])

    assert position["unrealizedPnl"] == 100.0
    assert position["markPrice"] == 51000.0


def test_limit_order_when_placed_then_stays_open_until_cancelled(fake: FakeBinanceUsdm, bot: ccxt.binanceusdm) -> None:
    order = _limit(bot)
    open_before = bot.fetch_open_orders(BTC)
    cancelled = bot.cancel_order(order["id"], BTC)

    assert (order["status"], order["filled"]) == ("open", 0.0)
    assert [o["id"] for o in open_before] == [order["id"]]
    assert cancelled["status"] == "canceled"
    assert bot.fetch_open_orders(BTC) == []
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == 0


def test_limit_order_when_its_answer_is_lost_then_ccxt_raises_and_the_order_rests_all_the_same(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm
) -> None:
    fake.lose_answer("POST", "/fapi/v1/order")

    with pytest.raises(ccxt.BaseError, match="execution status unknown"):
        _limit(bot)

    [resting] = bot.fetch_open_orders(BTC)
    assert resting["status"] == "open"
    _limit(bot)  # the next answer is not lost
    assert len(bot.fetch_open_orders(BTC)) == 2


def test_limit_order_when_test_fills_it_then_position_opens_at_limit_price(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm
) -> None:
    order = _limit(bot, 45000)

    fake.fill_order(int(order["id"]))

    assert bot.fetch_order(order["id"], BTC)["status"] == "closed"
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == Decimal("0.010")


def test_create_orders_when_batch_then_one_request_and_one_result_per_leg(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm
) -> None:
    orders = bot.create_orders([
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 44000},
        {"symbol": ETH, "type": "market", "side": "sell", "amount": 0.5},
    ])

    assert [(o["symbol"], o["status"]) for o in orders] == [(BTC, "open"), (ETH, "closed")]
    (request,) = fake.orders_received()
    assert [leg["symbol"] for leg in json.loads(request.params["batchOrders"])] == ["BTCUSDT", "ETHUSDT"]
    assert fake.position(DEFAULT_API_KEY, "ETHUSDT") == Decimal("-0.500")


def test_create_orders_when_one_leg_invalid_then_only_that_leg_rejected(bot: ccxt.binanceusdm) -> None:
    bot.enableLastJsonResponse = True

    orders = bot.create_orders([
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 44000},
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 5000, "price": 44000},  # > LOT_SIZE maxQty
    ])

    # The venue answers in request order; ccxt re-sorts by timestamp, so rejected legs come first.
    answered = bot.last_json_response
    assert [leg.get("status") for leg in answered] == ["NEW", None]
    assert answered[1] == {"code": -4005, "msg": "Quantity greater than max quantity."}
    assert sorted(o["status"] for o in orders) == ["open", "rejected"]


@pytest.mark.parametrize(("leverage", "expected_notional"), [(125, "50000"), (20, "100000000"), (1, "1200000000")])
def test_set_leverage_when_valid_then_answer_carries_max_notional(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm, leverage: int, expected_notional: str
) -> None:
    response = bot.set_leverage(leverage, BTC)

    assert response == {"leverage": leverage, "maxNotionalValue": expected_notional, "symbol": "BTCUSDT"}
    assert bot.fetch_leverages([BTC])[BTC]["longLeverage"] == leverage


def test_set_leverage_when_above_symbol_max_then_bad_request(bot: ccxt.binanceusdm) -> None:
    with pytest.raises(ccxt.BadRequest, match="-4028"):
        bot.set_leverage(100, "SOL/USDT:USDT")  # SOL brackets stop at 75x


@pytest.mark.parametrize(("first", "second", "expected"), [
    ("isolated", None, "isolated"),
    ("isolated", "cross", "cross"),
    ("isolated", "isolated", "isolated"),  # -4046 "No need to change margin type." is swallowed by ccxt
])
def test_set_margin_mode_when_set_then_fetch_margin_mode_reports_it(
    bot: ccxt.binanceusdm, first: str, second: str | None, expected: str
) -> None:
    bot.set_margin_mode(first, BTC)
    if second is not None:
        bot.set_margin_mode(second, BTC)

    assert bot.fetch_margin_mode(BTC)["marginMode"] == expected


def test_set_position_mode_when_hedged_then_orders_need_position_side(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm
) -> None:
    bot.set_position_mode(True)

    assert bot.fetch_position_mode()["hedged"] is True
    with pytest.raises(ccxt.OperationRejected, match="-4061"):
        bot.create_order(BTC, "market", "buy", 0.01)
    bot.create_order(BTC, "market", "buy", 0.01, None, {"positionSide": "LONG"})
    bot.create_order(BTC, "market", "sell", 0.02, None, {"positionSide": "SHORT"})
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT", "LONG") == Decimal("0.010")
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT", "SHORT") == Decimal("-0.020")


@pytest.mark.parametrize(("hedged", "error"), [(False, "-4059"), (True, "-4068")])
def test_set_position_mode_when_not_changeable_then_rejected(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm, hedged: bool, error: str
) -> None:
    fake.set_position(DEFAULT_API_KEY, "ETHUSDT", Decimal("1"))

    with pytest.raises(ccxt.OperationRejected, match=error):
        bot.set_position_mode(hedged)


@pytest.mark.parametrize(("params", "order_type", "trigger_field"), [
    ({"triggerPrice": 45000}, "STOP_MARKET", "triggerPrice"),
    ({"stopLossPrice": 45000}, "STOP_MARKET", "triggerPrice"),
    ({"takeProfitPrice": 55000}, "TAKE_PROFIT_MARKET", "triggerPrice"),
])
def test_conditional_order_when_created_then_algo_order_rests_without_position(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm, params: dict[str, Any], order_type: str, trigger_field: str
) -> None:
    order = bot.create_order(BTC, "market", "sell", 0.01, None, params)

    (request,) = fake.orders_received()
    assert request.path == "/fapi/v1/algoOrder"
    assert (request.params["algoType"], request.params["type"]) == ("CONDITIONAL", order_type)
    assert trigger_field in request.params
    assert order["status"] == "open"
    assert [o["id"] for o in bot.fetch_open_orders(BTC, params={"trigger": True})] == [order["id"]]
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == 0


@pytest.mark.parametrize(("seed", "side", "expected_position"), [
    (Decimal("0.05"), "sell", Decimal("0")),  # capped at the position: closes it, never flips it
    (Decimal("-0.01"), "buy", Decimal("0")),
])
def test_reduce_only_order_when_larger_than_position_then_capped_to_close(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm, seed: Decimal, side: str, expected_position: Decimal
) -> None:
    fake.set_position(DEFAULT_API_KEY, "BTCUSDT", seed)

    order = bot.create_order(BTC, "market", side, 0.1, None, {"reduceOnly": True})

    assert order["filled"] == float(abs(seed))
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == expected_position


def test_reduce_only_order_when_flat_then_rejected(bot: ccxt.binanceusdm) -> None:
    # -2022 is in ccxt's fapi-URL ("linear") map only; at a custom base URL it surfaces as ExchangeError.
    with pytest.raises(ccxt.ExchangeError, match="-2022"):
        bot.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})


# ---- authentication: the fake refuses anything that was changed in transit ---------------------------------


class _TamperAdapter(HTTPAdapter):
    """Changes bytes of a request after ccxt signed it, as a misbehaving proxy would."""

    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new
        super().__init__()

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        request.url = request.url.replace(self.old, self.new)
        if request.body:
            request.body = request.body.replace(self.old.encode(), self.new.encode())
            request.headers["Content-Length"] = str(len(request.body))
        return super().send(request, *args, **kwargs)


@pytest.mark.parametrize(("what", "old", "new", "call"), [
    ("form body", "quantity=0.01", "quantity=0.02", lambda b: b.create_order(BTC, "market", "buy", 0.01)),
    ("query string", "recvWindow=10000", "recvWindow=10001", lambda b: b.fetch_positions()),
    ("signature", "signature=", "signature=0", lambda b: b.set_leverage(5, BTC)),
])
def test_signed_request_when_tampered_then_refused_with_1022_and_ccxt_raises_authentication_error(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm, what: str, old: str, new: str,
    call: Callable[[ccxt.binanceusdm], Any],
) -> None:
    bot.load_leverage_brackets()  # so the tampered request is the only one
    fake.clear_requests()
    bot.session.mount("http://", _TamperAdapter(old, new))

    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        call(bot)

    (request,) = fake.requests
    assert request.status == 400
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == 0


@pytest.mark.parametrize(("api_key", "secret", "status", "code"), [
    (DEFAULT_API_KEY, "wrong-secret", 400, "-1022"),
    ("unknown-key", DEFAULT_SECRET, 401, "-2015"),
])
def test_private_call_when_credentials_wrong_then_refused_as_authentication_error(
    fake: FakeBinanceUsdm, api_key: str, secret: str, status: int, code: str
) -> None:
    exchange = direct_bot(fake.base_url, api_key=api_key, secret=secret)
    exchange.load_markets()

    with pytest.raises(ccxt.AuthenticationError, match=code):
        exchange.create_order(BTC, "market", "buy", 0.01)

    assert fake.requests[-1].status == status
    assert fake.orders_received()[-1].api_key == api_key


# ---- hand-signed requests: parameter placement ---------------------------------------------------------------


def _urlopen(request: urllib.request.Request | str, context: ssl.SSLContext | None = None) -> Any:
    return urllib.request.urlopen(request, timeout=10, context=context)


def _raw(fake: FakeBinanceUsdm, method: str, path: str, *, query: dict[str, str] | None = None,
         body: dict[str, str] | None = None, signed: bool = True, joiner: str = "") -> tuple[int, Any]:
    """Send one request the way an official SDK would (urllib, no ccxt), HMAC-signed by hand.

    The signature goes last, in the body when there is one; `joiner` is put between query and body in the
    signed text (Binance joins them with nothing)."""
    query_text, body_text = urlencode(query or {}), urlencode(body or {})
    if signed:
        signature = sign_params(query_text + joiner, body_text, DEFAULT_SECRET)
        if body:
            body_text += f"&signature={signature}"
        else:
            query_text += ("&" if query_text else "") + f"signature={signature}"
    url = fake.base_url + path + (f"?{query_text}" if query_text else "")
    request = urllib.request.Request(url, data=body_text.encode() if body else None, method=method,
                                     headers={"X-MBX-APIKEY": DEFAULT_API_KEY})
    try:
        with _urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _order_params(**overrides: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010",
            "newOrderRespType": "RESULT", "timestamp": str(int(time.time() * 1000)), **overrides}


@pytest.mark.parametrize("placement", ["query", "body", "split"])
def test_raw_order_when_params_in_query_or_body_then_signature_over_both_accepted(
    fake: FakeBinanceUsdm, placement: str
) -> None:
    params = _order_params()
    keys = list(params)
    query, body = {
        "query": (params, {}),
        "body": ({}, params),
        "split": ({k: params[k] for k in keys[:3]}, {k: params[k] for k in keys[3:]}),
    }[placement]

    status, answer = _raw(fake, "POST", "/fapi/v1/order", query=query, body=body)

    assert (status, answer["status"], answer["executedQty"]) == (200, "FILLED", "0.010")
    (recorded,) = fake.orders_received()
    assert {k: v for k, v in recorded.params.items() if k != "signature"} == params
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == Decimal("0.010")


STALE = "stale"


@pytest.mark.parametrize(("case", "raw_kwargs", "body_overrides", "code"), [
    ("signed text joins query and body with '&'", {"joiner": "&"}, {}, -1022),
    ("signature missing", {"signed": False}, {}, -1102),
    ("timestamp two minutes old", {}, {"timestamp": STALE}, -1021),
    ("symbol in both query and body", {}, {"symbol": "BTCUSDT"}, -1101),
])
def test_raw_order_when_request_malformed_then_refused_with_binance_code(
    fake: FakeBinanceUsdm, case: str, raw_kwargs: dict[str, Any], body_overrides: dict[str, str], code: int
) -> None:
    body = _order_params(**body_overrides)
    if body["timestamp"] == STALE:
        body["timestamp"] = str(int(time.time() * 1000) - 120_000)
    query = {"symbol": body.pop("symbol")}
    if "symbol" in body_overrides:
        body["symbol"] = body_overrides["symbol"]

    status, answer = _raw(fake, "POST", "/fapi/v1/order", query=query, body=body, **raw_kwargs)

    assert (status, answer["code"]) == (400, code)
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == 0


@pytest.mark.parametrize(("resp_type", "answered_status", "answered_qty"), [
    ("ACK", "NEW", "0.000"),      # ACK answers before matching ...
    ("RESULT", "FILLED", "0.010"),
])
def test_raw_market_order_when_resp_type_given_then_answer_shape_follows_but_fill_happens(
    fake: FakeBinanceUsdm, resp_type: str, answered_status: str, answered_qty: str
) -> None:
    status, answer = _raw(fake, "POST", "/fapi/v1/order", body=_order_params(newOrderRespType=resp_type))
    _, queried = _raw(fake, "GET", "/fapi/v1/order", query={
        "symbol": "BTCUSDT", "orderId": str(answer["orderId"]), "timestamp": str(int(time.time() * 1000))})

    assert (status, answer["status"], answer["executedQty"]) == (200, answered_status, answered_qty)
    assert (queried["status"], queried["avgPrice"]) == ("FILLED", "50000.00000")  # ... the fill happens anyway


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/fapi/v1/nope", 404, -5000),
    ("GET", "/fapi/v2/positionRisk", 401, -2014),  # signed endpoint, no X-MBX-APIKEY header
])
def test_request_when_path_unknown_or_unauthenticated_then_binance_shaped_error(
    fake: FakeBinanceUsdm, method: str, path: str, status: int, code: int
) -> None:
    request = urllib.request.Request(fake.base_url + path, method=method)
    with pytest.raises(urllib.error.HTTPError) as caught:
        _urlopen(request)

    assert caught.value.code == status
    assert json.loads(caught.value.read())["code"] == code


@pytest.mark.parametrize(("path", "body"), [
    ("/sapi/v1/capital/withdraw/apply", {"coin": "USDT", "address": "0xabc", "amount": "10"}),
    ("/sapi/v1/asset/transfer", {"type": "UMFUTURE_MAIN", "asset": "USDT", "amount": "10"}),
    ("/sapi/v1/futures/transfer", {"asset": "USDT", "amount": "10", "type": "2"}),
])
def test_wallet_request_when_sent_then_answered_and_recorded_as_wallet_request(
    fake: FakeBinanceUsdm, path: str, body: dict[str, str]
) -> None:
    status, _ = _raw(fake, "POST", path, body={**body, "timestamp": str(int(time.time() * 1000))})

    assert status == 200
    assert [r.path for r in fake.wallet_requests()] == [path]


# ---- TLS: the fake's own certificate, trusted through the factory, no proxy --------------------------------


def _session_verify_bot(url: str, ca: Path) -> ccxt.binanceusdm:
    exchange = direct_bot(url)
    exchange.session.verify = str(ca)
    return exchange


TLS_WIRINGS: dict[str, Callable[[str, Path], ccxt.binanceusdm]] = {
    "factory ca_file": lambda url, ca: direct_bot(url, ca_file=ca),
    "requests_trust_env + REQUESTS_CA_BUNDLE": lambda url, ca: make_binanceusdm(
        url, config={"requests_trust_env": True}),
    "no CA (certifi only)": lambda url, ca: direct_bot(url),
    # ccxt passes verify=self.verify and self.validateServerSsl per request, so a path here is dropped ...
    "ccxt verify attribute": lambda url, ca: make_binanceusdm(url, config={"verify": str(ca)}),
    # ... and requests lets that per-request True override the session's setting.
    "session.verify": _session_verify_bot,
}


@pytest.mark.parametrize(("wiring", "expect_ok"), [
    ("factory ca_file", True),
    ("requests_trust_env + REQUESTS_CA_BUNDLE", True),
    ("no CA (certifi only)", False),
    ("ccxt verify attribute", False),
    ("session.verify", False),
])
def test_ccxt_over_tls_when_ca_wired_then_only_working_ways_are_trusted(
    tls_fake: FakeBinanceUsdm, pki: TlsMaterial, monkeypatch: pytest.MonkeyPatch, wiring: str, expect_ok: bool
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_cert))  # only trust_env sessions read it
    exchange = TLS_WIRINGS[wiring](tls_fake.base_url, pki.ca_cert)

    if expect_ok:
        exchange.load_markets()
        order = exchange.create_order(BTC, "market", "buy", 0.01)
        assert order["status"] == "closed"
        assert tls_fake.calls() == ["GET /fapi/v1/exchangeInfo", "POST /fapi/v1/order"]
    else:
        with pytest.raises(ccxt.NetworkError):  # requests' SSLError surfaces as NetworkError in ccxt 4.5
            exchange.load_markets()
        assert tls_fake.requests == []


def test_tls_material_when_made_then_cert_chain_verifies_for_localhost_and_ip(
    tls_fake: FakeBinanceUsdm, pki: TlsMaterial
) -> None:
    for host in ("127.0.0.1", "localhost"):
        url = f"https://{host}:{tls_fake.port}/fapi/v1/ping"
        with _urlopen(url, context=pki.client_ssl_context()) as response:
            assert response.status == 200
    assert all(Path(p).exists() for p in (pki.ca_cert, pki.ca_key, pki.server_cert, pki.server_key))


# ---- lifecycle ------------------------------------------------------------------------------------------------


def test_stop_when_client_holds_keepalive_connection_then_next_request_fails(
    fake: FakeBinanceUsdm, bot: ccxt.binanceusdm
) -> None:
    bot.fetch_time()  # leaves a keep-alive connection in ccxt's session pool

    fake.stop()

    with pytest.raises(ccxt.NetworkError):
        bot.fetch_time()


def test_reset_when_called_then_log_orders_and_marks_forgotten(fake: FakeBinanceUsdm, bot: ccxt.binanceusdm) -> None:
    fake.set_mark_price("BTCUSDT", Decimal("1000"))
    bot.create_order(BTC, "market", "buy", 0.01)

    fake.reset()

    assert fake.requests == []
    assert fake.position(DEFAULT_API_KEY, "BTCUSDT") == 0
    assert fake.mark_price("BTCUSDT") == Decimal("50000")
