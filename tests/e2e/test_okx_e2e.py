"""The real ccxt.okx and python-okx, through the real `riskwall run`, against the project's fake OKX v5.

Every bot test runs in both wirings (explicit proxy with the sidecar's CA, and the plain-HTTP reverse listener)
and asserts, where they apply: what the library raised or returned, what reached the fake exchange (which
verifies OK-ACCESS-SIGN over the exact bytes, so anything modified in transit would be refused with 50113), and
what the sidecar logged. Sizes are contracts: BTC-USDT-SWAP is 0.01 BTC a contract, so the policy's 0.05 BTC
order limit allows 5 contracts and blocks 6.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import okx.Funding as OkxFunding
import okx.PublicData as OkxPublic
import okx.Trade as OkxTrade
import pytest
from tests.fakes.okx import FakeOkx, RecordedRequest, sign
from tests.support.okx_bots import close_sdks, proxied_okx, proxied_sdk, reverse_okx, reverse_sdk
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
HALTED_KEY = "okx-e2e-halted-" + "h" * 21
HALTED_SECRET, HALTED_PASSPHRASE = "halted-secret-" + "s" * 18, "halted-pass-1"

OKX_POLICY = """
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{halted}"], venue: okx}}
rules:
  - id: halt-desk
    type: trading_state
    state: HALTED
    scope: {{accounts: [halted]}}
  - id: symbols
    type: allowed_symbols
    allow: ["BTC/USDT:USDT", "ETH-USDT-SWAP", "ADA-USDT-SWAP"]
  - id: leverage
    type: max_leverage
    default: 10
  - id: order-qty
    type: max_order_qty
    default: 1000
    symbols: {{"BTC/USDT:USDT": 0.05}}
  - id: position
    type: max_position
    symbols: {{BTC-USDT-SWAP: {{qty: 0.06}}}}
"""


@pytest.fixture(autouse=True)
def sdks_closed() -> Iterator[None]:
    """Each test's python-okx clients are closed after it (httpx keeps their sockets open)."""
    yield
    close_sdks()


@pytest.fixture(scope="module")
def okx_fake(pki: TlsMaterial) -> Iterator[FakeOkx]:
    with watch(FakeOkx(tls=pki.server_ssl_context())) as venue:
        venue.add_account(HALTED_KEY, HALTED_SECRET, HALTED_PASSPHRASE)
        yield venue
    assert venue.internal_errors == []


@pytest.fixture(scope="module")
def okx_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("okx-policy") / "okx.yaml"
    path.write_text(OKX_POLICY.format(halted=fingerprint(HALTED_KEY)))
    return path


def launch(workdir: Path, policy: Path, fake: FakeOkx, pki: TlsMaterial) -> Sidecar:
    return start_sidecar(workdir, policy, upstreams={"okx": fake.base_url}, upstream_ca=pki.ca_cert)


@pytest.fixture(scope="module")
def okx_sidecar(tmp_path_factory: pytest.TempPathFactory, okx_policy: Path, okx_fake: FakeOkx,
                pki: TlsMaterial) -> Iterator[Sidecar]:
    running = launch(tmp_path_factory.mktemp("okx-sidecar"), okx_policy, okx_fake, pki)
    yield running
    running.stop()


@dataclass
class OkxTrader:
    """One bot on its own fresh OKX account, wired to the sidecar one way or the other."""

    api_key: str
    secret: str
    passphrase: str
    wiring: str
    fake: FakeOkx
    sidecar: Sidecar

    @property
    def account(self) -> str:
        return fingerprint(self.api_key)

    def ccxt(self) -> ccxt.okx:
        credentials = {"api_key": self.api_key, "secret": self.secret, "passphrase": self.passphrase}
        if self.wiring == "explicit":
            bot = proxied_okx(self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert, **credentials)
        else:
            bot = reverse_okx(self.sidecar.reverse_url_for("okx"), **credentials)
        bot.load_markets()
        return bot

    def sdk(self, api_class: type[Any]) -> Any:
        credentials = {"api_key": self.api_key, "secret": self.secret, "passphrase": self.passphrase}
        if self.wiring == "explicit":
            return proxied_sdk(api_class, self.fake.base_url, self.sidecar.proxy_url, self.sidecar.ca_cert,
                               **credentials)
        return reverse_sdk(api_class, self.sidecar.reverse_url_for("okx"), **credentials)

    def received(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.api_key == self.api_key
                and (method is None or r.method == method) and (path is None or r.path == path)]

    def orders_received(self) -> list[RecordedRequest]:
        return [r for r in self.fake.orders_received() if r.api_key == self.api_key]

    def decisions(self, **match: Any) -> list[dict[str, Any]]:
        return self.sidecar.decisions(account=self.account, **match)


type TraderFactory = Callable[..., OkxTrader]


@pytest.fixture(params=["explicit", "reverse"])
def new_trader(request: pytest.FixtureRequest, okx_fake: FakeOkx, okx_sidecar: Sidecar) -> TraderFactory:
    def make(api_key: str | None = None, secret: str | None = None, passphrase: str | None = None) -> OkxTrader:
        key = api_key or "okx-e2e-" + secrets.token_hex(14)
        secret_value = secret or "secret-" + secrets.token_hex(16)
        passphrase_value = passphrase or "Pass-" + secrets.token_hex(6)
        if api_key is None:
            okx_fake.add_account(key, secret_value, passphrase_value)
        return OkxTrader(key, secret_value, passphrase_value, str(request.param), okx_fake, okx_sidecar)

    return make


@pytest.fixture
def trader(new_trader: TraderFactory) -> OkxTrader:
    return new_trader()


# ---- ccxt.okx -------------------------------------------------------------------------------------------


def test_ccxt_create_order_when_within_policy_then_reaches_exchange_unmodified(trader: OkxTrader) -> None:
    bot = trader.ccxt()

    order = bot.create_order(BTC, "limit", "buy", 5, 49000)  # 5 contracts = 0.05 BTC: at the limit

    [sent] = trader.orders_received()
    # ccxt sends even one order as a one-element batch; the fake verified the signature over these bytes
    assert (sent.path, sent.status, sent.code) == ("/api/v5/trade/batch-orders", 200, "0")
    assert sent.json[0]["sz"] == "5" and sent.body.startswith(b'[{"instId":"BTC-USDT-SWAP"')
    assert order["id"] and trader.fake.open_orders(trader.api_key)[0]["ordId"] == order["id"]
    [line] = trader.decisions(verdict="allow")
    assert (line["symbol"], line["qty"], line["price"], line["order_type"]) == ("BTC-USDT-SWAP", "0.05", "49000",
                                                                               "LIMIT")


@pytest.mark.parametrize(
    ("symbol", "contracts", "error", "rule", "reason", "context"),
    [
        (BTC, 6, ccxt.InvalidOrder, "order-qty", "ORDER_QTY_EXCEEDS_MAX", {"qty": "0.06", "max_qty": "0.05"}),
        ("DOGE/USDT:USDT", 1, ccxt.BadSymbol, "symbols", "SYMBOL_NOT_ALLOWED", {"symbol": "DOGE-USDT-SWAP"}),
    ],
)
def test_ccxt_create_order_when_policy_violated_then_blocked_before_exchange_with_order_error(
    trader: OkxTrader, symbol: str, contracts: int, error: type[Exception], rule: str, reason: str,
    context: dict[str, str],
) -> None:
    bot = trader.ccxt()

    with pytest.raises(error) as raised:
        bot.create_order(symbol, "limit", "buy", contracts, 0.2 if "DOGE" in symbol else 49000)

    assert not isinstance(raised.value, ccxt.NetworkError)
    assert rule in str(raised.value) and reason in str(raised.value)
    assert trader.orders_received() == []
    [line] = trader.decisions(verdict="block")
    assert (line["rule_id"], line["reason"]) == (rule, reason)
    assert context.items() <= line["context"].items()


@pytest.mark.parametrize(("params", "forwarded"), [
    # ccxt's edit_order passes the caller's params into the amend's body: a bot gives it those it placed with
    ({"marginMode": "isolated"}, True),
    ({"marginMode": "cross"}, True),
    ({"marginMode": "portfolio"}, False),  # a value ccxt does not send is not waved through
])
def test_ccxt_edit_order_when_given_the_params_the_order_was_placed_with_then_amend_forwarded(
    trader: OkxTrader, params: dict[str, str], forwarded: bool,
) -> None:
    bot = trader.ccxt()
    order = bot.create_order(BTC, "limit", "buy", 2, 49000, {"marginMode": "isolated"})

    if forwarded:
        bot.edit_order(order["id"], BTC, "limit", "buy", 3, 48000, params)
    else:
        with pytest.raises(ccxt.InvalidOrder) as raised:
            bot.edit_order(order["id"], BTC, "limit", "buy", 3, 48000, params)
        assert "PARSE_FAILED" in str(raised.value) and "marginMode" in str(raised.value)

    amends = trader.received("POST", "/api/v5/trade/amend-order")
    assert [(a.status, a.code, a.json.get("marginMode"), a.json.get("newSz")) for a in amends] == (
        [(200, "0", params["marginMode"], "3")] if forwarded else [])
    assert [line["reason"] for line in trader.decisions(verdict="block")] == ([] if forwarded else ["PARSE_FAILED"])


def test_ccxt_create_orders_when_one_leg_violates_then_whole_batch_blocked(trader: OkxTrader) -> None:
    bot = trader.ccxt()
    legs = [
        {"symbol": ETH, "type": "limit", "side": "buy", "amount": 1, "price": 2900},
        {"symbol": BTC, "type": "limit", "side": "buy", "amount": 9, "price": 49000},
    ]

    with pytest.raises(ccxt.InvalidOrder):
        bot.create_orders(legs)

    assert trader.orders_received() == []
    [line] = trader.decisions(verdict="block")
    assert line["legs"] == 2 and line["symbol"] == "BTC-USDT-SWAP" and line["context"]["qty"] == "0.09"


def test_ccxt_withdraw_when_sent_through_sidecar_then_never_reaches_exchange(trader: OkxTrader) -> None:
    bot = trader.ccxt()

    with pytest.raises(ccxt.PermissionDenied) as raised:
        bot.withdraw("USDT", 100, "TXYZabcdefghijklmnopqrstuvwxyz1234", params={"network": "TRC20", "fee": "1"})

    assert "ACTION_FORBIDDEN" in str(raised.value)
    assert [r for r in trader.fake.wallet_requests() if r.api_key == trader.api_key] == []
    [line] = trader.decisions(reason="ACTION_FORBIDDEN")
    assert line["endpoint"] == "POST /api/v5/asset/withdrawal"


def test_ccxt_cancel_when_account_halted_then_cancel_passes_and_orders_blocked(new_trader: TraderFactory) -> None:
    trader = new_trader(HALTED_KEY, HALTED_SECRET, HALTED_PASSPHRASE)
    bot = trader.ccxt()
    cancels_before = len(trader.received("POST", "/api/v5/trade/cancel-order"))

    with pytest.raises(ccxt.PermissionDenied) as raised:
        bot.create_order(ETH, "limit", "buy", 1, 2900)
    assert "TRADING_HALTED" in str(raised.value)
    with pytest.raises(ccxt.OrderNotFound):  # the fake answers 51400: no such order; the point is it was asked
        bot.cancel_order("612345678900000001", ETH)

    assert trader.orders_received() == []
    assert len(trader.received("POST", "/api/v5/trade/cancel-order")) == cancels_before + 1


def test_ccxt_create_order_when_position_learned_then_limit_counts_contracts_as_base(trader: OkxTrader) -> None:
    trader.fake.set_position(trader.api_key, "BTC-USDT-SWAP", Decimal("4"))  # 0.04 BTC
    bot = trader.ccxt()
    bot.fetch_positions([BTC])  # the sidecar learns 4 contracts = 0.04 BTC from the answer

    with pytest.raises(ccxt.InvalidOrder) as raised:
        bot.create_order(BTC, "limit", "buy", 3, 49000)  # 0.04 + 0.03 > 0.06
    assert "POSITION_EXCEEDS_MAX" in str(raised.value)
    bot.create_order(BTC, "limit", "buy", 2, 49000)  # 0.04 + 0.02 = 0.06
    bot.create_order(BTC, "market", "sell", 4, params={"reduceOnly": True})  # a reduction always passes

    assert [r.json[0]["sz"] for r in trader.orders_received()] == ["2", "4"]
    assert trader.fake.position(trader.api_key, "BTC-USDT-SWAP") == Decimal("0")


def test_ccxt_set_leverage_when_above_max_then_blocked_as_bad_request(trader: OkxTrader) -> None:
    bot = trader.ccxt()

    with pytest.raises(ccxt.BadRequest) as raised:
        bot.set_leverage(20, BTC)
    assert "LEVERAGE_EXCEEDS_MAX" in str(raised.value)
    assert trader.received("POST", "/api/v5/account/set-leverage") == []

    bot.set_leverage(5, BTC)
    assert len(trader.received("POST", "/api/v5/account/set-leverage")) == 1


# ---- python-okx -----------------------------------------------------------------------------------------


def test_python_okx_place_order_when_within_policy_then_reaches_exchange_unmodified(trader: OkxTrader) -> None:
    trade = trader.sdk(OkxTrade.TradeAPI)

    result = trade.place_order(instId="ETH-USDT-SWAP", tdMode="cross", side="buy", ordType="limit", sz="3",
                               px="2900")

    assert result["code"] == "0" and result["data"][0]["sCode"] == "0"
    [sent] = trader.orders_received()
    assert (sent.path, sent.status, sent.code) == ("/api/v5/trade/order", 200, "0")
    assert sent.body.startswith(b'{"instId": "ETH-USDT-SWAP", ')  # python-okx's own separators, untouched
    [line] = trader.decisions(verdict="allow")
    assert (line["symbol"], line["qty"]) == ("ETH-USDT-SWAP", "0.3")


def test_python_okx_place_order_when_over_limit_then_okx_failure_and_nothing_sent(trader: OkxTrader) -> None:
    trade = trader.sdk(OkxTrade.TradeAPI)

    result = trade.place_order(instId="BTC-USDT-SWAP", tdMode="cross", side="buy", ordType="market", sz="6")

    # python-okx raises on no OKX business error: the bot reads code "1" and the leg's sCode, as from OKX
    assert result["code"] == "1"
    [entry] = result["data"]
    assert entry["sCode"] == "51203" and "ORDER_QTY_EXCEEDS_MAX" in entry["sMsg"]
    assert trader.orders_received() == []


def test_python_okx_batch_when_one_leg_violates_then_whole_batch_blocked(trader: OkxTrader) -> None:
    trade = trader.sdk(OkxTrade.TradeAPI)
    ok = {"instId": "ETH-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "1", "px": "2900"}
    bad = {**ok, "instId": "SOL-USDT-SWAP", "px": "150"}

    result = trade.place_multiple_orders([ok, bad])

    assert result["code"] == "1" and result["data"][0]["sCode"] == "51001"
    assert trader.orders_received() == []
    [line] = trader.decisions(verdict="block")
    assert (line["legs"], line["reason"], line["symbol"]) == (2, "SYMBOL_NOT_ALLOWED", "SOL-USDT-SWAP")


def test_python_okx_withdrawal_when_sent_through_sidecar_then_never_reaches_exchange(trader: OkxTrader) -> None:
    funding = trader.sdk(OkxFunding.FundingAPI)

    result = funding.withdrawal(ccy="USDT", amt="100", dest="4", toAddr="TXYZabcdefghijklmnop", chain="USDT-TRC20")

    assert result["code"] == "50027" and result["data"] == []
    assert [r for r in trader.fake.wallet_requests() if r.api_key == trader.api_key] == []


def test_python_okx_cancel_when_account_halted_then_cancel_reaches_exchange(new_trader: TraderFactory) -> None:
    trader = new_trader(HALTED_KEY, HALTED_SECRET, HALTED_PASSPHRASE)
    trade = trader.sdk(OkxTrade.TradeAPI)
    before = len(trader.received("POST", "/api/v5/trade/cancel-order"))

    refused = trade.place_order(instId="ETH-USDT-SWAP", tdMode="cross", side="buy", ordType="limit", sz="1",
                                px="2900")
    canceled = trade.cancel_order(instId="ETH-USDT-SWAP", ordId="612345678900000002")

    assert refused["code"] == "1" and refused["data"][0]["sCode"] == "50027"
    assert canceled["code"] == "1" and canceled["data"][0]["sCode"] == "51400"  # the venue's own answer
    assert len(trader.received("POST", "/api/v5/trade/cancel-order")) == before + 1


# ---- learning contract values, WebSocket, logs -------------------------------------------------------------


def test_contract_value_when_unknown_then_blocked_until_instruments_pass_through(
    tmp_path: Path, okx_policy: Path, okx_fake: FakeOkx, pki: TlsMaterial
) -> None:
    """A fresh sidecar has only its bundled table: ADA-USDT-SWAP's contract value must come from the venue."""
    sidecar = launch(tmp_path / "fresh", okx_policy, okx_fake, pki)
    try:
        key, secret, passphrase = "okx-e2e-ada-" + secrets.token_hex(12), "s-" + secrets.token_hex(16), "Pw-1x"
        okx_fake.add_account(key, secret, passphrase)
        listener = sidecar.reverse_url_for("okx")
        trade = reverse_sdk(OkxTrade.TradeAPI, listener, api_key=key, secret=secret, passphrase=passphrase)
        order = {"instId": "ADA-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "3",
                 "px": "0.5"}

        first = trade.place_order(**order)
        public = reverse_sdk(OkxPublic.PublicAPI, listener, api_key="-1", secret="-1", passphrase="-1")
        listing = public.get_instruments(instType="SWAP")
        second = trade.place_order(**order)

        assert first["code"] == "1" and "contract value of ADA-USDT-SWAP unknown" in first["data"][0]["sMsg"]
        assert listing["code"] == "0"
        assert second["code"] == "0"
        sent = [r for r in okx_fake.orders_received() if r.api_key == key]
        assert len(sent) == 1
        [allowed] = sidecar.decisions(account=fingerprint(key), verdict="allow")
        assert allowed["qty"] == "300"  # 3 contracts × 100 ADA, learned
    finally:
        sidecar.stop()


def test_logs_when_trading_then_no_key_passphrase_or_signature_appears(trader: OkxTrader) -> None:
    bot = trader.ccxt()
    bot.create_order(ETH, "limit", "buy", 1, 2900)
    with pytest.raises(ccxt.InvalidOrder):
        bot.create_order(BTC, "limit", "buy", 9, 49000)
    bot.fetch_positions([BTC])

    output = trader.sidecar.output()
    signatures = [r.header("OK-ACCESS-SIGN") or "" for r in trader.received()]
    assert signatures and all(signatures)
    for secret in [trader.api_key, trader.secret, trader.passphrase, *signatures]:
        assert secret not in output
    assert trader.account in output


# ---- the fake itself: its signature check is what makes "unmodified" provable ------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({}, 200, "0"),
        ({"body": b'{"instId":"ETH-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"limit","sz":"30","px":"2900"}'},
         401, "50113"),
        ({"body": b'{"instId": "ETH-USDT-SWAP", "tdMode": "cross", "side": "buy", "ordType": "limit", "sz": "3", '
                  b'"px": "2900"}'}, 401, "50113"),  # same JSON, other separators: other bytes, other signature
        ({"passphrase": "wrong"}, 401, "50105"),
        ({"timestamp": "2020-12-08T09:08:57.715Z"}, 401, "50102"),
    ],
)
def test_fake_when_request_changed_after_signing_then_refused_like_okx(
    okx_fake: FakeOkx, pki: TlsMaterial, change: dict[str, Any], status: int, code: str
) -> None:
    key, secret, passphrase = "okx-e2e-sig-" + secrets.token_hex(8), "sig-secret-" + secrets.token_hex(8), "Sig-1x"
    okx_fake.add_account(key, secret, passphrase)
    signed = b'{"instId":"ETH-USDT-SWAP","tdMode":"cross","side":"buy","ordType":"limit","sz":"3","px":"2900"}'
    timestamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    timestamp = change.get("timestamp", timestamp)
    headers = {"OK-ACCESS-KEY": key, "OK-ACCESS-SIGN": sign(timestamp, "POST", "/api/v5/trade/order", signed, secret),
               "OK-ACCESS-TIMESTAMP": timestamp, "OK-ACCESS-PASSPHRASE": change.get("passphrase", passphrase),
               "Content-Type": "application/json"}
    request = urllib.request.Request(okx_fake.base_url + "/api/v5/trade/order", data=change.get("body", signed),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10, context=pki.client_ssl_context()) as response:
            answer, got = json.loads(response.read()), response.status
    except urllib.error.HTTPError as error:
        answer, got = json.loads(error.read()), error.code

    assert (got, answer["code"]) == (status, code)
    placed = [r for r in okx_fake.orders_received() if r.api_key == key and r.code == "0"]
    assert len(placed) == (1 if code == "0" else 0)
