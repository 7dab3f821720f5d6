"""Golden tests of the Bitget v2 mix adapter (`riskwall.venues.bitget.ADAPTER`).

Facts under test come from docs/venues.md §0 and §6 and ccxt's bitget.py: GET parameters travel in the query, POST
parameters in a JSON body Bitget signs byte for byte; `size` is base coin for every product type; `side` +
`tradeSide` in hedge mode, `reduceOnly` YES/NO in one-way mode; errors are `{"code", "msg", "requestTime", "data"}`.
The position mode that decides what a `tradeSide` means is the store's (`ModeUpdate`, learned from answers): an
order with one is read once `engine.resolve` completes it with the store's view (`StateView.modes`), and refused
while the store holds no mode for its product type.
Rejections must make the real ccxt.bitget (handle_errors, and fetch with the session stubbed) raise an order-class
exception, never a network error (the rate limit excepted).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import ccxt
import orjson
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from riskwall import engine
from riskwall.decider import decide_request
from riskwall.instruments import CATALOG
from riskwall.model import (
    Action,
    ClosedOrder,
    Decision,
    Known,
    MarginMode,
    ModeUpdate,
    OpenOrdersSnapshot,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    Reason,
    Side,
    StateView,
    Venue,
    Verdict,
    Violation,
    fingerprint,
)
from riskwall.policy.loader import Policy
from riskwall.policy.model import PolicyMode
from riskwall.state.memory import MemoryStore
from riskwall.venues import ADAPTERS, default_host_map, parse_venue
from riskwall.venues.base import HttpRequest, screen
from riskwall.venues.bitget import ADAPTER, order_kind, violation_code

D = Decimal
VENUE = Venue.BITGET
JSON = "application/json"
API_KEY = "bg_5f0a1c3e9d7b2a4c6e8f0a1b2c3d4e5f"
SECRET = "7c1e9a3b5d7f9e1c3a5b7d9f1e3c5a7b9d1f3e5c7a9b1d3f5e7c9a1b3d5f7e9c"
PASSPHRASE = "riskwallPass42"
SIGNATURE = "q8m1yE1bX0mS6oZ4wZy4bqkq8m0b3Jx7D8Yl2cJ3Vx0="
ACCOUNT = fingerprint(API_KEY)
DECISION_ID = "01J9ZQ3W4X5Y6Z7A8B9C0D1E2F"
MIX = "/api/v2/mix"
PLACE = f"POST {MIX}/order/place-order"
BATCH = f"POST {MIX}/order/batch-place-order"


OPEN_POLICY = Policy(rules=(), accounts={}, mode=PolicyMode.ENFORCE, revision="bitget", sources=())


@pytest.fixture(autouse=True)
def _fresh_catalog() -> Iterator[None]:
    CATALOG.clear()
    yield
    CATALOG.clear()


def make_request(method: str, path: str, body: dict[str, Any] | bytes | None = None, *,
                 query: dict[str, str] | None = None, api_key: str | None = API_KEY, host: str = "api.bitget.com",
                 headers: dict[str, str] | None = None, repeated: frozenset[str] = frozenset()) -> HttpRequest:
    """An HttpRequest as the addon builds it; a dict body is serialised compactly, as ccxt sends it."""
    raw = body if isinstance(body, bytes) else (b"" if body is None else json.dumps(body, separators=(",", ":"))
                                                .encode())
    pairs = tuple((query or {}).items())
    all_headers = {"access-sign": SIGNATURE, "access-timestamp": "1700000000000", "access-passphrase": PASSPHRASE,
                   "locale": "en-US"}
    if api_key is not None:
        all_headers["access-key"] = api_key
    if raw:
        all_headers["content-type"] = JSON
    all_headers.update(headers or {})
    full = path + ("?" + urlencode(pairs) if pairs else "")
    return HttpRequest(method, host, 443, full, pairs, all_headers, raw, repeated)


def parse(request: HttpRequest) -> ParsedRequest:
    parsed = screen(ADAPTER, request)
    text = repr(parsed)
    assert API_KEY not in text and SIGNATURE not in text and PASSPHRASE not in text
    return parsed


def decided(request: HttpRequest, **modes: str) -> ParsedRequest:
    """The request as the engine decides it, on a store holding these position modes by product type."""
    return engine.resolve(parse(request), StateView(modes={k.replace("_", "-"): v for k, v in modes.items()}))


def order(**overrides: Any) -> dict[str, Any]:
    """A USDT-M limit order as ccxt.bitget builds it (create_order_request)."""
    body: dict[str, Any] = {"symbol": "BTCUSDT", "orderType": "limit", "price": "50000", "force": "GTC",
                            "marginCoin": "USDT", "size": "0.001", "productType": "USDT-FUTURES",
                            "marginMode": "crossed", "side": "buy"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def intent(endpoint: str = PLACE, action: Action = Action.NEW, **fields: Any) -> OrderIntent:
    return OrderIntent(venue=VENUE, action=action, endpoint=endpoint, account=ACCOUNT, **fields)


BTC = {"symbol": "BTCUSDT", "unified_symbol": "BTC/USDT:USDT"}


def listing_kind(body: dict[str, Any], plan: bool = False) -> str:
    """The open-orders listing that shows an order: orders-pending lists one product type's orders, and
    orders-plan-pending its plan and TP/SL orders (a listing riskwall does not learn)."""
    return f"{'plan' if plan else 'mix'}:{body['productType'].upper()}"


# ---- 1. registration -------------------------------------------------------------------------------------


def test_registry_when_bitget_named_then_adapter_and_hosts_map_to_it() -> None:
    assert parse_venue("bitget") is VENUE and ADAPTERS[VENUE] is ADAPTER
    hosts = default_host_map()
    for host in ("api.bitget.com", "ws.bitget.com", "wspap.bitget.com"):
        assert hosts.venue(host) is VENUE, host
    assert ADAPTER.default_hosts[0] == "api.bitget.com"
    assert {"access-key", "access-sign", "access-passphrase"} <= ADAPTER.secret_fields


ENDPOINT_CASES = [
    ("order/place-order", Action.NEW), ("order/batch-place-order", Action.NEW),
    ("order/place-plan-order", Action.NEW), ("order/place-tpsl-order", Action.NEW),
    ("order/place-pos-tpsl", Action.NEW), ("order/close-positions", Action.NEW),
    ("order/modify-order", Action.AMEND), ("order/modify-plan-order", Action.AMEND),
    ("order/modify-tpsl-order", Action.AMEND), ("order/cancel-order", Action.CANCEL),
    ("order/batch-cancel-orders", Action.CANCEL), ("order/cancel-plan-order", Action.CANCEL),
    ("order/cancel-all-orders", Action.CANCEL_ALL), ("account/set-leverage", Action.SET_LEVERAGE),
    ("account/set-margin-mode", Action.SET_MARGIN_MODE), ("account/set-position-mode", Action.SET_POSITION_MODE),
]


@pytest.mark.parametrize(("path", "action"), ENDPOINT_CASES)
def test_endpoints_when_listed_then_every_order_endpoint_with_its_action(path: str, action: Action) -> None:
    assert ADAPTER.endpoints[("POST", f"{MIX}/{path}")] is action
    assert all(p == p.lower() and m == "POST" for m, p in ADAPTER.endpoints)


# ---- 2. requests -----------------------------------------------------------------------------------------

NEW_ORDER_CASES = [
    pytest.param(order(clientOid="bot-1"),
                 dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT",
                      time_in_force="GTC", client_order_id="bot-1"), id="limit-ccxt-shape"),
    pytest.param(order(orderType="market", price="1", side="sell", force=None, size="2.50"),
                 dict(**BTC, side=Side.SELL, quantity=D("2.50"), order_type="MARKET"), id="market-ignores-price"),
    pytest.param(order(reduceOnly="YES", side="sell"),
                 dict(**BTC, side=Side.SELL, quantity=D("0.001"), price=D("50000"), order_type="LIMIT",
                      time_in_force="GTC", reduce_only=True), id="one-way-reduce-only"),
    pytest.param(order(reduceOnly="NO", force="post_only"),
                 dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT",
                      time_in_force="POST_ONLY"), id="reduce-only-no"),
    pytest.param(order(symbol="BTCUSD", productType="COIN-FUTURES", marginCoin="BTC", size="0.3"),
                 dict(symbol="BTCUSD", unified_symbol="BTC/USD:BTC", side=Side.BUY, quantity=D("0.3"),
                      price=D("50000"), order_type="LIMIT", time_in_force="GTC"), id="coin-m-size-is-base"),
    pytest.param(order(symbol="BTCPERP", productType="USDC-FUTURES", marginCoin="USDC"),
                 dict(symbol="BTCPERP", unified_symbol="BTC/USDC:USDC", side=Side.BUY, quantity=D("0.001"),
                      price=D("50000"), order_type="LIMIT", time_in_force="GTC"), id="usdc-m"),
    pytest.param(order(productType="SUSDT-FUTURES", marginCoin="SUSDT"),
                 dict(**BTC, side=Side.BUY, quantity=D("0.001"), price=D("50000"), order_type="LIMIT",
                      time_in_force="GTC"), id="demo-product-type"),
]


@pytest.mark.parametrize(("body", "fields"), NEW_ORDER_CASES)
def test_parse_request_when_new_order_then_one_exact_intent(body: dict[str, Any], fields: dict[str, Any]) -> None:
    # as decided on a store that knows no position mode
    parsed = decided(make_request("POST", f"{MIX}/order/place-order", body))

    assert parsed.error is None, parsed.error
    # every order names its margin mode (ccxt: crossed unless told otherwise); tradeSide: the HEDGE_CASES
    assert parsed == ParsedRequest(VENUE, Action.NEW, PLACE, ACCOUNT,
                                   (intent(margin_mode=MarginMode.CROSSED, kind=listing_kind(body), **fields),))
    assert parsed.intents[0].resolve is None
    assert parsed.intents[0].quantity.as_tuple() == fields["quantity"].as_tuple()  # type: ignore[union-attr]


HEDGE_CASES = [
    ("buy", "Open", Side.BUY, PositionSide.LONG, False),
    ("sell", "open", Side.SELL, PositionSide.SHORT, False),
    ("buy", "Close", Side.SELL, PositionSide.LONG, True),
    ("sell", "close", Side.BUY, PositionSide.SHORT, True),
]


@pytest.mark.parametrize(("side", "trade_side", "want_side", "want_position", "reduces"), HEDGE_CASES)
def test_parse_request_when_hedge_mode_known_then_trade_side_decides_direction(
    side: str, trade_side: str, want_side: Side, want_position: PositionSide, reduces: bool
) -> None:
    [got] = decided(make_request("POST", f"{MIX}/order/place-order", order(side=side, tradeSide=trade_side)),
                    USDT_FUTURES="hedge").intents

    assert (got.side, got.position_side, got.only_reduces) == (want_side, want_position, reduces)
    assert got.resolve is None


def test_parse_request_when_trade_side_given_then_request_asks_the_store_for_its_product_type_mode() -> None:
    with_trade_side = parse(make_request("POST", f"{MIX}/order/place-order",
                                         order(productType="susdt-futures", tradeSide="open")))
    without = parse(make_request("POST", f"{MIX}/order/place-order", order()))
    batch = parse(make_request("POST", f"{MIX}/order/batch-place-order", {
        "symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed", "marginCoin": "USDT",
        "orderList": [order(tradeSide="open"), order(tradeSide="close", side="sell"), order()]}))

    assert with_trade_side.mode_keys == ("SUSDT-FUTURES",)
    assert engine.view_query(with_trade_side).mode_keys == ("SUSDT-FUTURES",)
    assert not engine.light_view_suffices(with_trade_side)
    assert without.mode_keys == () and without.intents[0].resolve is None
    assert batch.mode_keys == ("USDT-FUTURES",)
    assert [i.resolve is not None for i in batch.intents] == [True, True, False]


def test_resolve_when_hook_given_known_modes_then_leg_read_in_them() -> None:
    [leg] = parse(make_request("POST", f"{MIX}/order/place-order", order(side="sell", tradeSide="close"))).intents
    assert leg.resolve is not None

    hedge = leg.resolve(leg, Known(modes={"USDT-FUTURES": "hedge"}))

    assert (hedge.side, hedge.position_side, hedge.only_reduces, hedge.resolve) == (
        Side.BUY, PositionSide.SHORT, True, None)
    with pytest.raises(ValueError, match="one-way as the firewall last saw it"):
        leg.resolve(leg, Known(modes={"USDT-FUTURES": "one-way"}))


BATCH_BODY = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed", "marginCoin": "USDT"}
UNKNOWN = "unknown to the firewall"
ONE_WAY = "one-way as the firewall last saw it"
NOT_HEDGE_CASES = [
    pytest.param(f"{MIX}/order/place-order", order(tradeSide="open"), {}, UNKNOWN, id="open-mode-unknown"),
    pytest.param(f"{MIX}/order/place-order", order(tradeSide="close", reduceOnly="YES"), {}, UNKNOWN,
                 id="close-mode-unknown"),
    pytest.param(f"{MIX}/order/place-order", order(tradeSide="open"), {"COIN_FUTURES": "hedge"}, UNKNOWN,
                 id="only-another-product-type-known"),
    pytest.param(f"{MIX}/order/place-plan-order", order(tradeSide="open", triggerPrice="49000", planType="normal_plan"),
                 {}, UNKNOWN, id="plan-order"),
    pytest.param(f"{MIX}/order/batch-place-order",
                 {**BATCH_BODY, "orderList": [order(), order(tradeSide="open", side="sell")]}, {}, UNKNOWN,
                 id="one-batch-leg"),
    pytest.param(f"{MIX}/order/place-order", order(tradeSide="open"), {"USDT_FUTURES": "one-way"}, ONE_WAY,
                 id="open-store-says-one-way"),
    pytest.param(f"{MIX}/order/place-order", order(tradeSide="close", reduceOnly="YES"),
                 {"USDT_FUTURES": "one-way", "COIN_FUTURES": "hedge"}, ONE_WAY, id="close-store-says-one-way"),
]


@pytest.mark.parametrize(("path", "body", "modes", "seen"), NOT_HEDGE_CASES)
def test_resolve_when_trade_side_given_and_hedge_mode_not_known_then_request_unreadable(
    path: str, body: dict[str, Any], modes: dict[str, str], seen: str
) -> None:
    # one-way mode nets buy/open and sell/open on one position, hedge mode holds both; the web UI can switch
    # modes unseen: only hedge mode as the store holds it reads a tradeSide
    got = decided(make_request("POST", path, body), **modes)

    assert got.intents == () and got.error is not None
    assert f"position mode of USDT-FUTURES is {seen}" in got.error


@pytest.mark.parametrize(("pos_mode", "mode"), [("hedge_mode", "hedge"), ("one_way_mode", "one-way")])
def test_parse_response_when_set_position_mode_accepted_then_mode_learned(pos_mode: str, mode: str) -> None:
    facts = learn("POST", f"{MIX}/account/set-position-mode", {"productType": "usdt-futures", "posMode": pos_mode},
                  {})

    assert facts.modes == (ModeUpdate(VENUE, ACCOUNT, "USDT-FUTURES", mode),)
    assert not facts.empty


def test_parse_response_when_set_position_mode_refused_then_no_mode_learned() -> None:
    request = make_request("POST", f"{MIX}/account/set-position-mode",
                           {"productType": "USDT-FUTURES", "posMode": "hedge_mode"})
    refused = orjson.dumps({"code": "40774", "msg": "position exists", "data": None})

    assert ADAPTER.parse_response(parse(request), request, 200, refused, DECISION_ID).modes == ()


def test_decide_when_hedge_mode_learned_from_set_position_mode_then_close_reduces() -> None:
    request = make_request("POST", f"{MIX}/account/set-position-mode",
                           {"productType": "USDT-FUTURES", "posMode": "hedge_mode"})
    facts = ADAPTER.parse_response(parse(request), request, 200, ok({}), DECISION_ID)
    close = make_request("POST", f"{MIX}/order/place-order", order(tradeSide="close"))

    async def run() -> tuple[ParsedRequest | None, ParsedRequest | None]:
        store = MemoryStore()
        before = await decide_request(parse(close), OPEN_POLICY, store, "d1")
        await store.learn(facts)
        return before.parsed, (await decide_request(parse(close), OPEN_POLICY, store, "d2")).parsed

    before, after = asyncio.run(run())

    assert before is not None and before.intents == () and before.error is not None
    assert after is not None and after.intents[0].only_reduces
    assert after.intents[0].position_side is PositionSide.LONG and after.intents[0].side is Side.SELL


def test_parse_request_when_batch_then_one_intent_per_leg_in_order() -> None:
    body = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed", "marginCoin": "USDT",
            "orderList": [order(size="0.1"), order(size="0.9", side="sell", orderType="market", price=None)]}
    parsed = parse(make_request("POST", f"{MIX}/order/batch-place-order", body))

    assert parsed.error is None
    assert [(i.side, i.quantity, i.order_type) for i in parsed.intents] == [
        (Side.BUY, D("0.1"), "LIMIT"), (Side.SELL, D("0.9"), "MARKET")]
    assert all(i.endpoint == BATCH and i.symbol == "BTCUSDT" for i in parsed.intents)


@pytest.mark.parametrize(
    ("batch_mode", "leg_mode", "expected"),
    [
        pytest.param("isolated", "isolated", MarginMode.ISOLATED, id="ccxt-repeats-the-batch-mode-in-every-leg"),
        pytest.param("crossed", None, MarginMode.CROSSED, id="batch-mode-only"),
        pytest.param(None, "Isolated", MarginMode.ISOLATED, id="leg-mode-only-any-case"),
        pytest.param(None, None, None, id="no-mode-named"),
        pytest.param("crossed", "isolated", "differs from the batch's", id="leg-names-another-mode"),
        pytest.param("portfolio", None, "marginMode has an unknown value", id="unknown-mode"),
    ],
)
def test_parse_request_when_order_names_its_margin_mode_then_intent_carries_it(
    batch_mode: str | None, leg_mode: str | None, expected: MarginMode | str | None
) -> None:
    body = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": batch_mode, "marginCoin": "USDT",
            "orderList": [order(marginMode=leg_mode)]}
    parsed = parse(make_request("POST", f"{MIX}/order/batch-place-order", {k: v for k, v in body.items() if v}))
    single = parse(make_request("POST", f"{MIX}/order/place-order", order(marginMode=batch_mode or leg_mode)))

    if expected is None or isinstance(expected, MarginMode):
        assert parsed.error is None and [i.margin_mode for i in parsed.intents] == [expected]
        assert single.error is None and single.intents[0].margin_mode is expected
    else:
        assert parsed.error is not None and expected in parsed.error


OTHER_CASES = [
    ("order/modify-order", {"orderId": "1100", "symbol": "BTCUSDT", "productType": "USDT-FUTURES", "newSize": "0.4",
                            "newPrice": "49000", "newClientOid": "x"},
     Action.AMEND, dict(**BTC, quantity=D("0.4"), price=D("49000"), order_id="1100", kind="mix:USDT-FUTURES")),
    ("order/place-plan-order", {**order(orderType="market", price=None, force=None), "triggerPrice": "51000",
                                "planType": "normal_plan", "triggerType": "mark_price"},
     Action.NEW, dict(**BTC, side=Side.BUY, quantity=D("0.001"), trigger_price=D("51000"), order_type="MARKET",
                      margin_mode=MarginMode.CROSSED, kind="plan:USDT-FUTURES:normal_plan",
                      triggers_into="mix:USDT-FUTURES")),
    ("order/place-plan-order", {**order(orderType="market", price=None, force=None), "triggerPrice": "51000",
                                "planType": "Track_Plan", "callbackRatio": "1", "triggerType": "mark_price"},
     Action.NEW, dict(**BTC, side=Side.BUY, quantity=D("0.001"), trigger_price=D("51000"), order_type="MARKET",
                      margin_mode=MarginMode.CROSSED, kind="plan:USDT-FUTURES:track_plan",
                      triggers_into="mix:USDT-FUTURES")),
    ("order/modify-plan-order", {"orderId": "1200", "symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                                 "newTriggerPrice": "52000"},
     Action.AMEND, dict(**BTC, trigger_price=D("52000"), order_id="1200", kind="plan:USDT-FUTURES",
                        triggers_into="mix:USDT-FUTURES", type_unknown=True)),
    ("order/place-tpsl-order", {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginCoin": "USDT",
                                "planType": "loss_plan", "triggerPrice": "45000", "holdSide": "long", "size": "0.2"},
     Action.NEW, dict(**BTC, side=Side.SELL, position_side=PositionSide.LONG, quantity=D("0.2"),
                      trigger_price=D("45000"), reduce_only=True, kind="plan:USDT-FUTURES")),
    ("order/close-positions", {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "holdSide": "short"},
     Action.NEW, dict(**BTC, side=Side.BUY, position_side=PositionSide.SHORT, reduce_only=True,
                      close_position=True)),
    ("account/set-leverage", {"symbol": "BTCUSDT", "leverage": "25", "marginCoin": "USDT",
                              "productType": "USDT-FUTURES"},
     Action.SET_LEVERAGE, dict(**BTC, leverage=D("25"))),
    ("account/set-leverage", {"symbol": "BTCUSDT", "longLeverage": "5", "shortLeverage": "30", "marginCoin": "USDT",
                              "productType": "USDT-FUTURES", "holdSide": "long"},
     Action.SET_LEVERAGE, dict(**BTC, leverage=D("30"))),
    ("account/set-margin-mode", {"symbol": "BTCUSDT", "marginMode": "isolated", "marginCoin": "USDT",
                                 "productType": "USDT-FUTURES"},
     Action.SET_MARGIN_MODE, dict(**BTC, margin_mode="ISOLATED")),
    ("account/set-position-mode", {"productType": "USDT-FUTURES", "posMode": "hedge_mode"},
     Action.SET_POSITION_MODE, dict(hedge_mode=True, margin_mode=None)),
]


@pytest.mark.parametrize(("path", "body", "action", "fields"), OTHER_CASES)
def test_parse_request_when_other_order_endpoint_then_one_intent(path: str, body: dict[str, Any], action: Action,
                                                                  fields: dict[str, Any]) -> None:
    parsed = parse(make_request("POST", f"{MIX}/{path}", body))

    assert parsed.error is None, parsed.error
    assert parsed.intents == (intent(f"POST {MIX}/{path}", action, **fields),)


CANCEL_CASES = [("order/cancel-order", Action.CANCEL), ("order/batch-cancel-orders", Action.CANCEL),
                ("order/cancel-all-orders", Action.CANCEL_ALL), ("order/cancel-plan-order", Action.CANCEL)]


@pytest.mark.parametrize(("path", "action"), CANCEL_CASES)
def test_parse_request_when_cancel_even_with_junk_body_then_cancel_without_intents(path: str, action: Action) -> None:
    parsed = parse(make_request("POST", f"{MIX}/{path}", b"not json"))
    assert (parsed.action, parsed.intents, parsed.error) == (action, (), None)


FORBIDDEN_CASES = [
    "/api/v2/spot/wallet/withdrawal", "/api/v2/spot/wallet/transfer", "/api/v2/spot/wallet/subaccount-transfer",
    "/api/v2/spot/wallet/modify-deposit-account", "/api/v2/user/create-virtual-subaccount",
    "/api/v2/user/create-virtual-subaccount-apikey", "/api/v2/user/modify-virtual-subaccount-apikey",
    "/api/v2/broker/account/create-subaccount", "/api/v2/spot/wallet//WITHDRAWAL/",
]


@pytest.mark.parametrize("path", FORBIDDEN_CASES)
def test_parse_request_when_wallet_or_account_management_then_forbidden(path: str) -> None:
    assert parse(make_request("POST", path, {"coin": "USDT", "size": "10"})).action is Action.FORBIDDEN


UNKNOWN_CASES = [
    ("POST", "/api/v2/spot/trade/place-order"), ("POST", "/api/v2/spot/trade/batch-orders"),
    ("POST", f"{MIX}/order/click-backhand"), ("POST", "/api/v3/trade/place-order"), ("DELETE", f"{MIX}/order/x"),
    ("PUT", f"{MIX}/order/place-order"),
]


@pytest.mark.parametrize(("method", "path"), UNKNOWN_CASES)
def test_parse_request_when_unknown_non_get_or_spot_order_then_unknown(method: str, path: str) -> None:
    assert parse(make_request(method, path, order())).action is Action.UNKNOWN


READ_CASES = [f"{MIX}/position/all-position", f"{MIX}/order/orders-pending", f"{MIX}/market/contracts",
              "/api/v2/spot/wallet/deposit-address"]
FORBIDDEN_READS = ["/api/v2/user/virtual-subaccount-list", "/api/v2/spot/wallet/withdrawal",
                   "/api/v2/spot/wallet/transfer-records"]


@pytest.mark.parametrize("path", READ_CASES)
def test_parse_request_when_get_then_read(path: str) -> None:
    assert parse(make_request("GET", path, query={"productType": "USDT-FUTURES"})).action is Action.READ


@pytest.mark.parametrize("path", FORBIDDEN_READS)
def test_parse_request_when_get_on_money_moving_path_then_forbidden(path: str) -> None:
    # withdrawals, transfers, sub-accounts and API keys are refused whatever the method: a server that took a
    # GET for the POST it documents must not be a way to move money (allow_endpoints can name a read to let through)
    assert parse(make_request("GET", path)).action is Action.FORBIDDEN


WEBSOCKET_CASES = [("ws.bitget.com", "/v2/ws/private", Action.UNKNOWN), ("wspap.bitget.com", "/v2/ws/private",
                                                                         Action.UNKNOWN),
                   ("ws.bitget.com", "/v3/ws/private", Action.UNKNOWN), ("ws.bitget.com", "/v2/ws/public",
                                                                         Action.READ)]


@pytest.mark.parametrize(("host", "path", "action"), WEBSOCKET_CASES)
def test_parse_request_when_websocket_handshake_then_private_refused_public_read(host: str, path: str,
                                                                                 action: Action) -> None:
    request = make_request("GET", path, host=host, headers={"upgrade": "websocket"})
    assert parse(request).action is action


MALFORMED_CASES = [
    (order(size="1e3"), "size"), (order(size="-1"), "size"), (order(size=None), "size"),
    (order(price=None), "price"), (order(side="long"), "side"), (order(orderType="stop"), "orderType"),
    (order(productType="SPOT"), "productType"), (order(productType=None), "productType"),
    (order(reduceOnly="yes"), "reduceOnly"), (order(reduceOnly=True), "reduceOnly"),
    (order(tradeSide="reduce"), "tradeSide"), (order(force="day"), "force"), (order(symbol="BTC/USDT"), "symbol"),
    ({**order(), "Size": "9"}, "size"),
]


@pytest.mark.parametrize(("body", "field"), MALFORMED_CASES)
def test_parse_request_when_order_field_invalid_then_error_names_field(body: dict[str, Any], field: str) -> None:
    parsed = parse(make_request("POST", f"{MIX}/order/place-order", body))
    assert parsed.action is Action.NEW and parsed.intents == ()
    assert parsed.error is not None and field in parsed.error


RAW_CASES = [
    (b'{"symbol":"BTCUSDT","size":"1","size":"9"}', "twice"), (b"[1]", "object"), (b"{", "JSON"),
    (b'{"size": 1e2}', "exponent"), (b'{"size": NaN}', "NaN"), (b"\xff", "UTF-8"),
]


@pytest.mark.parametrize(("raw", "words"), RAW_CASES)
def test_parse_request_when_body_unreadable_or_ambiguous_then_error(raw: bytes, words: str) -> None:
    parsed = parse(make_request("POST", f"{MIX}/order/place-order", raw))
    assert parsed.error is not None and words in parsed.error


def test_parse_request_when_batch_leg_invalid_then_whole_batch_error() -> None:
    body = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "orderList": [order(), order(size="0")]}
    parsed = parse(make_request("POST", f"{MIX}/order/batch-place-order", body))
    assert parsed.intents == () and parsed.error is not None and "size" in parsed.error


def test_parse_request_when_api_key_header_repeated_then_error() -> None:
    parsed = parse(make_request("POST", f"{MIX}/order/place-order", order(), repeated=frozenset({"access-key"})))
    assert parsed.error is not None and "ACCESS-KEY" in parsed.error


def test_parse_request_when_post_carries_query_then_error_names_query() -> None:
    parsed = parse(make_request("POST", f"{MIX}/order/place-order", order(), query={"size": "0.001"}))
    assert parsed.error is not None and "query" in parsed.error


# ---- 3. responses ----------------------------------------------------------------------------------------


def ok(data: Any) -> bytes:
    return orjson.dumps({"code": "00000", "msg": "success", "requestTime": 1700000000000, "data": data})


def learn(method: str, path: str, request_body: dict[str, Any] | None, data: Any,
          query: dict[str, str] | None = None) -> Any:
    request = make_request(method, path, request_body, query=query)
    return ADAPTER.parse_response(parse(request), request, 200, ok(data), DECISION_ID)


ACK_CASES = [
    (order(), OrderUpdate(VENUE, ACCOUNT, "BTCUSDT", "11", Side.BUY, PositionSide.BOTH, D("0.001"), D(0), False,
                          reservation_id=f"{DECISION_ID}:0", kind="mix:USDT-FUTURES")),
    (order(orderType="market", side="sell", size="0.2"),
     OrderUpdate(VENUE, ACCOUNT, "BTCUSDT", "11", Side.SELL, PositionSide.BOTH, D("0.2"), D("0.2"), True,
                 reservation_id=f"{DECISION_ID}:0", kind="mix:USDT-FUTURES")),
    # a reduce-only market order fills no further than the position, which the store's may not be: it rests in the
    # store until a report says what it did (taken as filled in full, it could leave the store short of a flat venue)
    (order(orderType="market", side="sell", size="0.2", reduceOnly="YES"),
     OrderUpdate(VENUE, ACCOUNT, "BTCUSDT", "11", Side.SELL, PositionSide.BOTH, D("0.2"), D(0), False, True,
                 reservation_id=f"{DECISION_ID}:0", kind="mix:USDT-FUTURES")),
]


@pytest.mark.parametrize(("body", "expected"), ACK_CASES)
def test_parse_response_when_order_acknowledged_then_update_with_reservation(body: dict[str, Any],
                                                                             expected: OrderUpdate) -> None:
    facts = learn("POST", f"{MIX}/order/place-order", body, {"orderId": "11", "clientOid": "c"})
    assert facts.orders == (expected,)


PLAN = {**order(orderType="market", price=None, force=None), "triggerPrice": "51000", "planType": "normal_plan"}


@pytest.mark.parametrize(("path", "body", "expected"), [
    pytest.param("order/place-plan-order", PLAN,
                 OrderUpdate(VENUE, ACCOUNT, "BTCUSDT", "11", Side.BUY, PositionSide.BOTH, D("0.001"), D(0), False,
                             reservation_id=f"{DECISION_ID}:0", kind="plan:USDT-FUTURES:normal_plan"),
                 id="plan-order-rests-as-its-plan-type"),
    # a TP/SL order only closes; Bitget cancels it when the position closes, unseen: it is not kept
    pytest.param("order/place-tpsl-order", {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginCoin": "USDT",
                                            "planType": "loss_plan", "triggerPrice": "45000", "holdSide": "buy",
                                            "size": "0.2"},
                 None, id="tp-sl-order-not-learned"),
])
def test_parse_response_when_plan_order_acknowledged_then_learned_as_resting_or_not_at_all(
    path: str, body: dict[str, Any], expected: OrderUpdate | None
) -> None:
    facts = learn("POST", f"{MIX}/{path}", body, {"orderId": "11", "clientOid": "c"})
    assert facts.orders == ((expected,) if expected else ())


@pytest.mark.parametrize(("plan_type", "error"), [(None, "planType is missing"),
                                                  ("profit_plan", "planType has an unknown value"),
                                                  ("normal", "planType has an unknown value")])
def test_parse_request_when_plan_type_missing_or_not_a_plan_order_type_then_error(plan_type: str | None,
                                                                                   error: str) -> None:
    parsed = parse(make_request("POST", f"{MIX}/order/place-plan-order", {**PLAN, "planType": plan_type}))
    assert parsed.intents == () and parsed.error is not None and error in parsed.error


def plan_row(order_id: str, plan_type: str = "normal_plan") -> dict[str, Any]:
    return {"planType": plan_type, "symbol": "BTCUSDT", "size": "0.5", "orderId": order_id, "clientOid": "c",
            "triggerPrice": "51000", "planStatus": "live", "side": "buy", "posSide": "net",
            "tradeSide": "buy_single", "reduceOnly": "NO", "orderType": "market"}


PLAN_LISTED = OrderUpdate(VENUE, ACCOUNT, "BTCUSDT", "7", Side.BUY, PositionSide.BOTH, D("0.5"), D(0), False,
                          kind="plan:USDT-FUTURES:normal_plan")


@pytest.mark.parametrize(("query", "rows", "open_orders", "orders"), [
    pytest.param({"planType": "normal_plan"}, [plan_row("7")],
                 (OpenOrdersSnapshot(VENUE, ACCOUNT, None, (PLAN_LISTED,), "plan:USDT-FUTURES:normal_plan",
                                     triggers_into="mix:USDT-FUTURES"),), (),
                 id="complete-listing-snapshot-of-its-plan-type"),
    pytest.param({"planType": "track_plan", "symbol": "BTCUSDT"}, [],
                 (OpenOrdersSnapshot(VENUE, ACCOUNT, "BTCUSDT", (), "plan:USDT-FUTURES:track_plan",
                                     triggers_into="mix:USDT-FUTURES"),), (),
                 id="empty-listing-of-trailing-plans"),
    pytest.param({"planType": "normal_plan", "idLessThan": "9"}, [plan_row("7")], (), (PLAN_LISTED,),
                 id="a-later-page-updates-only"),
    pytest.param({"planType": "normal_plan"}, [plan_row("7", "track_plan")], (), (), id="rows-of-another-plan-type"),
    pytest.param({"planType": "profit_loss"}, [plan_row("7", "loss_plan")], (), (), id="tp-sl-listing-not-learned"),
    pytest.param({}, [plan_row("7")], (), (), id="no-plan-type"),
])
def test_parse_response_when_plan_orders_listed_then_learned_as_the_book_of_their_plan_type(
    query: dict[str, str], rows: list[dict[str, Any]], open_orders: tuple[OpenOrdersSnapshot, ...],
    orders: tuple[OrderUpdate, ...]
) -> None:
    facts = learn("GET", f"{MIX}/order/orders-plan-pending", None, {"entrustedList": rows or None, "endId": None},
                  query={"productType": "USDT-FUTURES", **query})
    assert (facts.open_orders, facts.orders) == (open_orders, orders)


def test_parse_response_when_plan_order_cancel_acknowledged_then_only_the_cancelled_closed() -> None:
    facts = learn("POST", f"{MIX}/order/cancel-plan-order",
                  {"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                   "orderIdList": [{"orderId": "5"}, {"orderId": "6"}]},
                  {"successList": [{"orderId": "5", "clientOid": "c"}],
                   "failureList": [{"orderId": "6", "clientOid": "", "errorMsg": "x", "errorCode": "40768"}]})
    # a plan order is cancelled only before it triggers: nothing filled
    assert facts.closed == (ClosedOrder(VENUE, ACCOUNT, "5", unfilled=True),)


def test_parse_response_when_batch_partly_accepted_then_legs_matched_by_client_oid() -> None:
    body = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
            "orderList": [order(clientOid="a", size="0.1"), order(clientOid="b", size="0.2")]}
    facts = learn("POST", f"{MIX}/order/batch-place-order", body,
                  {"successList": [{"orderId": "22", "clientOid": "b"}],
                   "failureList": [{"orderId": "", "clientOid": "a", "errorMsg": "x", "errorCode": "40762"}]})
    assert [(o.order_id, o.original, o.reservation_id) for o in facts.orders] == [("22", D("0.2"),
                                                                                   f"{DECISION_ID}:1")]


def test_parse_response_when_cancels_acknowledged_then_orders_closed() -> None:
    single = learn("POST", f"{MIX}/order/cancel-order", {"orderId": "5"}, {"orderId": "5", "clientOid": "c"})
    batch = learn("POST", f"{MIX}/order/batch-cancel-orders", {"symbol": "BTCUSDT"},
                  {"successList": [{"orderId": "6"}, {"orderId": "7"}], "failureList": []})
    assert single.closed == (ClosedOrder(VENUE, ACCOUNT, "5"),)
    assert batch.closed == (ClosedOrder(VENUE, ACCOUNT, "6"), ClosedOrder(VENUE, ACCOUNT, "7"))


def position_row(symbol: str, hold: str, total: str, mode: str = "one_way_mode") -> dict[str, Any]:
    return {"marginCoin": "USDT", "symbol": symbol, "holdSide": hold, "total": total, "available": total,
            "markPrice": "50100.5", "posMode": mode, "leverage": "10", "marginMode": "crossed"}


POSITION_CASES = [
    ([position_row("BTCUSDT", "short", "0.3")],
     (PositionsReport(VENUE, ACCOUNT, "BTCUSDT", (("BTCUSDT", PositionSide.BOTH, D("-0.3")),
                                                  ("BTCUSDT", PositionSide.LONG, D(0)),
                                                  ("BTCUSDT", PositionSide.SHORT, D(0)))),)),
    ([position_row("BTCUSDT", "long", "0.5", "hedge_mode"), position_row("BTCUSDT", "short", "0.2", "hedge_mode")],
     (PositionsReport(VENUE, ACCOUNT, "BTCUSDT", (("BTCUSDT", PositionSide.LONG, D("0.5")),
                                                  ("BTCUSDT", PositionSide.SHORT, D("-0.2")),
                                                  ("BTCUSDT", PositionSide.BOTH, D(0)))),)),
]


@pytest.mark.parametrize(("rows", "reports"), POSITION_CASES)
def test_parse_response_when_positions_listed_then_signed_report_and_mark_prices(rows: list[Any],
                                                                                 reports: tuple[Any, ...]) -> None:
    facts = learn("GET", f"{MIX}/position/all-position", None, rows,
                  query={"productType": "USDT-FUTURES", "marginCoin": "USDT"})
    assert facts.positions == reports
    assert facts.prices[0] == PriceUpdate(VENUE, "BTCUSDT", D("50100.5"), "mark")


@pytest.mark.parametrize(
    ("rows", "modes"),
    [
        pytest.param([position_row("ETHUSDT", "long", "1", "hedge_mode")],
                     (ModeUpdate(VENUE, ACCOUNT, "USDT-FUTURES", "hedge"),), id="hedge"),
        pytest.param([position_row("ETHUSDT", "long", "1")], (ModeUpdate(VENUE, ACCOUNT, "USDT-FUTURES", "one-way"),),
                     id="one-way"),
        pytest.param([{**position_row("ETHUSDT", "long", "1"), "posMode": None}], (), id="mode-not-said"),
        pytest.param([], (), id="no-positions"),
        pytest.param([position_row("ETHUSDT", "long", "1", "hedge_mode"), position_row("BTCUSDT", "long", "1")], (),
                     id="rows-disagree"),
        pytest.param([position_row("ETHUSDT", "long", "1", "double_mode")], (), id="unknown-mode"),
    ],
)
def test_parse_response_when_positions_listed_then_the_mode_they_name_is_learned(
    rows: list[Any], modes: tuple[ModeUpdate, ...]
) -> None:
    facts = learn("GET", f"{MIX}/position/all-position", None, rows, query={"productType": "USDT-FUTURES"})

    assert facts.modes == modes


def listed(order_id: str, **overrides: Any) -> dict[str, Any]:
    row = {"symbol": "BTCUSDT", "size": "0.5", "orderId": order_id, "clientOid": "c", "baseVolume": "0.1",
           "status": "partially_filled", "side": "buy", "posSide": "net", "tradeSide": "buy_single",
           "reduceOnly": "NO", "price": "40000"}
    row.update(overrides)
    return row


HEDGE = (ModeUpdate(VENUE, ACCOUNT, "USDT-FUTURES", "hedge"),)


@pytest.mark.parametrize(
    ("path", "query", "data", "modes"),
    [
        pytest.param(f"{MIX}/account/account", {"symbol": "BTCUSDT", "marginCoin": "USDT"},
                     {"marginCoin": "USDT", "marginMode": "crossed", "posMode": "hedge_mode"}, HEDGE,
                     id="account-hedge"),
        pytest.param(f"{MIX}/account/account", {"symbol": "BTCUSDT"}, {"marginCoin": "USDT"}, (),
                     id="account-mode-not-said"),
        pytest.param(f"{MIX}/account/account", {"symbol": "BTCUSDT"}, [{"posMode": "hedge_mode"}], (),
                     id="account-not-an-object"),
        pytest.param(f"{MIX}/order/orders-pending", {},
                     {"entrustedList": [listed("1", posMode="hedge_mode", posSide="long", tradeSide="open")]}, HEDGE,
                     id="open-orders-hedge"),
        pytest.param(f"{MIX}/order/orders-pending", {"idLessThan": "5"},
                     {"entrustedList": [listed("1", posMode="hedge_mode", posSide="long", tradeSide="open")]}, HEDGE,
                     id="open-orders-page"),
        pytest.param(f"{MIX}/order/orders-pending", {}, {"entrustedList": [listed("1", posMode="one_way_mode")]},
                     (ModeUpdate(VENUE, ACCOUNT, "USDT-FUTURES", "one-way"),), id="open-orders-one-way"),
        pytest.param(f"{MIX}/order/orders-pending", {}, {"entrustedList": None}, (), id="no-open-orders"),
    ],
)
def test_parse_response_when_account_or_orders_name_the_position_mode_then_it_is_learned(
    path: str, query: dict[str, str], data: Any, modes: tuple[ModeUpdate, ...]
) -> None:
    facts = learn("GET", path, None, data, query={"productType": "usdt-futures", **query})

    assert facts.modes == modes


def test_decide_when_hedge_positions_listed_then_mode_learned_for_close_orders() -> None:
    facts = learn("GET", f"{MIX}/position/all-position", None, [position_row("ETHUSDT", "long", "1", "hedge_mode")],
                  query={"productType": "USDT-FUTURES"})

    async def run() -> ParsedRequest | None:
        store = MemoryStore()
        await store.learn(facts)
        close = make_request("POST", f"{MIX}/order/place-order", order(tradeSide="close"))
        return (await decide_request(parse(close), OPEN_POLICY, store, "d1")).parsed

    got = asyncio.run(run())

    assert got is not None and got.intents[0].only_reduces


def test_parse_response_when_single_position_empty_then_symbol_flat() -> None:
    facts = learn("GET", f"{MIX}/position/single-position", None, [],
                  query={"productType": "USDT-FUTURES", "symbol": "ETHUSDT", "marginCoin": "USDT"})
    [report] = facts.positions
    assert report.symbol == "ETHUSDT" and all(q == 0 for _, _, q in report.positions)


def test_parse_response_when_complete_open_orders_listing_then_snapshot_of_product_type() -> None:
    facts = learn("GET", f"{MIX}/order/orders-pending", None, {"entrustedList": [listed("1")], "endId": "1"},
                  query={"productType": "USDT-FUTURES"})
    expected = OrderUpdate(VENUE, ACCOUNT, "BTCUSDT", "1", Side.BUY, PositionSide.BOTH, D("0.5"), D("0.1"), False,
                           kind="mix:USDT-FUTURES")
    assert facts.open_orders == (OpenOrdersSnapshot(VENUE, ACCOUNT, None, (expected,), order_kind("USDT-FUTURES")),)


def test_parse_response_when_no_open_orders_then_empty_snapshot() -> None:
    facts = learn("GET", f"{MIX}/order/orders-pending", None, {"entrustedList": None, "endId": None},
                  query={"productType": "USDT-FUTURES", "symbol": "BTCUSDT"})
    assert facts.open_orders == (OpenOrdersSnapshot(VENUE, ACCOUNT, "BTCUSDT", (), "mix:USDT-FUTURES"),)


@pytest.mark.parametrize("query", [{"productType": "USDT-FUTURES", "idLessThan": "5"},
                                   {"productType": "USDT-FUTURES", "limit": "1"},
                                   {"productType": "USDT-FUTURES", "orderId": "1"}])
def test_parse_response_when_open_orders_listing_partial_then_updates_but_no_snapshot(query: dict[str, str]) -> None:
    facts = learn("GET", f"{MIX}/order/orders-pending", None, {"entrustedList": [listed("1")]}, query=query)
    assert facts.open_orders == () and len(facts.orders) == 1


def test_parse_response_when_tickers_and_contracts_then_prices_and_unified_symbols() -> None:
    tick = learn("GET", f"{MIX}/market/tickers", None, [{"symbol": "ETHUSDT", "lastPr": "3001", "markPrice": "3000.5"},
                                                         {"symbol": "XUSDT", "lastPr": "2"}],
                 query={"productType": "USDT-FUTURES"})
    contracts = learn("GET", f"{MIX}/market/contracts", None,
                      [{"symbol": "BTCUSD", "baseCoin": "BTC", "quoteCoin": "USD", "symbolType": "perpetual"}],
                      query={"productType": "COIN-FUTURES"})
    assert tick.prices == (PriceUpdate(VENUE, "ETHUSDT", D("3000.5"), "mark"), PriceUpdate(VENUE, "XUSDT", D(2),
                                                                                             "last"))
    assert [(i.native, i.unified) for i in contracts.instruments] == [("BTCUSD", "BTC/USD:BTC")]


@pytest.mark.parametrize(("status", "body"), [(400, ok([])), (200, b"junk"), (200, b"null"),
                                              (200, orjson.dumps({"code": "40017", "msg": "x", "data": None}))])
def test_parse_response_when_error_or_junk_then_nothing_learned(status: int, body: bytes) -> None:
    request = make_request("POST", f"{MIX}/order/place-order", order())
    assert ADAPTER.parse_response(parse(request), request, status, body, DECISION_ID).empty


# ---- 4. rejections → the real ccxt.bitget ----------------------------------------------------------------

EXPECTED: dict[Reason, tuple[str, int, type[Exception]]] = {
    Reason.SYMBOL_NOT_ALLOWED: ("40309", 400, ccxt.BadSymbol),
    Reason.ORDER_TYPE_NOT_ALLOWED: ("43011", 400, ccxt.InvalidOrder),
    Reason.LEVERAGE_EXCEEDS_MAX: ("40020", 400, ccxt.BadRequest),
    Reason.ORDER_QTY_EXCEEDS_MAX: ("43011", 400, ccxt.InvalidOrder),
    Reason.ORDER_NOTIONAL_EXCEEDS_MAX: ("43011", 400, ccxt.InvalidOrder),
    Reason.POSITION_EXCEEDS_MAX: ("43011", 400, ccxt.InvalidOrder),
    Reason.ORDER_RATE_EXCEEDED: ("1001", 429, ccxt.RateLimitExceeded),
    Reason.TRADING_HALTED: ("36201", 400, ccxt.PermissionDenied),
    Reason.TRADING_REDUCING: ("36201", 400, ccxt.PermissionDenied),
    Reason.ACTION_FORBIDDEN: ("40014", 400, ccxt.PermissionDenied),
    Reason.UNKNOWN_ACCOUNT: ("40014", 400, ccxt.PermissionDenied),
    Reason.UNKNOWN_ENDPOINT: ("40014", 400, ccxt.PermissionDenied),
    Reason.PARSE_FAILED: ("43011", 400, ccxt.InvalidOrder),
    Reason.STATE_UNAVAILABLE: ("43011", 400, ccxt.InvalidOrder),
    Reason.PRICE_UNKNOWN: ("43011", 400, ccxt.InvalidOrder),
    Reason.PRICE_OUTSIDE_COLLAR: ("43011", 400, ccxt.InvalidOrder),
    Reason.MARGIN_MODE_NOT_ALLOWED: ("40020", 400, ccxt.BadRequest),
    Reason.DUPLICATE_ORDER: ("43011", 400, ccxt.InvalidOrder),
    Reason.OPEN_ORDERS_EXCEED_MAX: ("36225", 400, ccxt.InvalidOrder),
    Reason.DAILY_NOTIONAL_EXCEEDS_MAX: ("43011", 400, ccxt.InvalidOrder),
    Reason.GROSS_EXPOSURE_EXCEEDS_MAX: ("43011", 400, ccxt.InvalidOrder),
    Reason.EQUITY_UNKNOWN: ("43011", 400, ccxt.InvalidOrder),
    Reason.POLICY_UNAVAILABLE: ("43011", 400, ccxt.InvalidOrder),
    Reason.INTERNAL_ERROR: ("43011", 400, ccxt.InvalidOrder),
}


def violation(reason: Reason, rule: str = "rule-1", **context: object) -> Violation:
    return Violation.of(rule, reason, **(context or {"symbol": "BTCUSDT", "limit": D("1")}))


def blocked(*violations: Violation) -> Decision:
    return Decision(Verdict.BLOCK, DECISION_ID, "rev-1", violations)


@pytest.fixture(scope="module")
def bitget() -> ccxt.Exchange:
    return ccxt.bitget({"apiKey": API_KEY, "secret": SECRET, "password": PASSPHRASE})


def ccxt_exception(exchange: ccxt.Exchange, status: int, body: bytes, url: str) -> Exception:
    text = body.decode()
    try:
        exchange.handle_errors(status, "Bad Request", url, "POST", CaseInsensitiveDict({}), text,
                               exchange.parse_json(text), {}, json.dumps(order()))
        if status >= 400:
            exchange.handle_http_status_code(status, "Error", url, "POST", text)
    except ccxt.BaseError as exc:
        return exc
    raise AssertionError(f"ccxt accepted the rejection as a success: {text}")


def test_rejection_table_covers_every_reason() -> None:
    assert set(EXPECTED) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_blocked_then_bitget_envelope_with_chosen_code_and_status(reason: Reason) -> None:
    rejection = ADAPTER.rejection(blocked(violation(reason)))
    code, status, _ = EXPECTED[reason]

    payload = orjson.loads(rejection.body)
    assert rejection.status == status and dict(rejection.headers)["content-type"] == JSON
    assert list(payload) == ["code", "msg", "requestTime", "data"]
    assert payload["code"] == code and payload["data"] is None and type(payload["requestTime"]) is int
    assert str(reason) in payload["msg"] and "rule-1" in payload["msg"]
    assert violation_code(violation(reason)) == code


@pytest.mark.parametrize("url", ["https://api.bitget.com/api/v2/mix/order/place-order",
                                 "http://127.0.0.1:8084/api/v2/mix/order/place-order"])
@pytest.mark.parametrize("reason", list(Reason))
def test_rejection_when_real_ccxt_reads_it_then_order_class_exception(bitget: ccxt.Exchange, reason: Reason,
                                                                      url: str) -> None:
    rejection = ADAPTER.rejection(blocked(violation(reason)))

    exc = ccxt_exception(bitget, rejection.status, rejection.body, url)

    assert type(exc) is EXPECTED[reason][2], f"{type(exc).__name__}: {exc}"
    if reason is not Reason.ORDER_RATE_EXCEEDED:
        assert not isinstance(exc, ccxt.NetworkError)


@pytest.mark.parametrize("reason", [Reason.SYMBOL_NOT_ALLOWED, Reason.ORDER_QTY_EXCEEDS_MAX, Reason.TRADING_HALTED,
                                    Reason.ORDER_RATE_EXCEEDED, Reason.LEVERAGE_EXCEEDS_MAX, Reason.ACTION_FORBIDDEN])
def test_rejection_when_sent_through_ccxt_fetch_then_same_class(bitget: ccxt.Exchange,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                reason: Reason) -> None:
    rejection = ADAPTER.rejection(blocked(violation(reason)))

    def answer(method: str, url: str, **_: object) -> requests.Response:
        response = requests.Response()
        response.status_code, response._content, response.url = rejection.status, rejection.body, url
        response.headers.update(dict(rejection.headers))
        response.reason = "Bad Request"
        return response

    monkeypatch.setattr(bitget.session, "request", answer)
    with pytest.raises(ccxt.BaseError) as caught:
        bitget.fetch("https://api.bitget.com/api/v2/mix/order/place-order", "POST", {}, json.dumps(order()))
    assert type(caught.value) is EXPECTED[reason][2]


@pytest.mark.parametrize("words", ["invalid size, valid range", "INVALID SIZE, VALID RANGE"])
def test_rejection_when_rule_id_holds_ccxt_keyword_then_class_unchanged(bitget: ccxt.Exchange, words: str) -> None:
    rejection = ADAPTER.rejection(blocked(Violation.of(words, Reason.ORDER_QTY_EXCEEDS_MAX, note=words)))
    exc = ccxt_exception(bitget, rejection.status, rejection.body, "https://api.bitget.com/x")
    assert type(exc) is ccxt.InvalidOrder


def test_rejection_when_decision_has_no_violation_then_invalid_order(bitget: ccxt.Exchange) -> None:
    rejection = ADAPTER.rejection(Decision(Verdict.BLOCK, DECISION_ID, "rev-1"))
    assert type(ccxt_exception(bitget, rejection.status, rejection.body, "https://x/y")) is ccxt.InvalidOrder


@pytest.mark.parametrize(("query", "flattened"), [
    # ccxt's fetch_positions: every open position of the product type is listed
    ({"productType": "USDT-FUTURES", "marginCoin": "USDT"}, True),
    ({"productType": "USDT-FUTURES"}, True),
    # another margin coin's listing says nothing of a USDT-margined symbol; a filtered one nothing at all
    ({"productType": "USDT-FUTURES", "marginCoin": "USDC"}, False),
    ({"productType": "USDT-FUTURES", "marginCoin": "USDT", "symbol": "ETHUSDT"}, False),
    ({"productType": "COIN-FUTURES"}, False),  # another product type
], ids=["fetch-positions", "product-type", "other-margin-coin", "filtered", "other-product-type"])
def test_parse_response_when_all_positions_leave_out_a_symbol_seen_held_then_it_is_flat(
    query: dict[str, str], flattened: bool
) -> None:
    # a short learned from a read, then closed where the sidecar did not see it (a TP/SL, a liquidation): a whole
    # listing of the product type that leaves it out says it is flat, where it would stay short and under-count buys
    learn("GET", f"{MIX}/position/all-position", None, [position_row("BTCUSDT", "short", "1")],
          query={"productType": "USDT-FUTURES", "marginCoin": "USDT"})

    facts = learn("GET", f"{MIX}/position/all-position", None, [position_row("ETHUSDT", "long", "1")], query=query)

    btc = [report for report in facts.positions if report.symbol == "BTCUSDT"]
    assert btc == ([PositionsReport(VENUE, ACCOUNT, "BTCUSDT", (("BTCUSDT", PositionSide.BOTH, D(0)),
                                                                ("BTCUSDT", PositionSide.LONG, D(0)),
                                                                ("BTCUSDT", PositionSide.SHORT, D(0))))]
                   if flattened else [])
