"""BitMEX through the real `riskwall run`, against the project's fake BitMEX.

BitMEX is not in current ccxt, so the bot here is plain `requests`, signing as BitMEX clients do (hex
HMAC-SHA256(secret, VERB + path-with-query + api-expires + body)). Every test runs in both wirings: the explicit
proxy (TLS intercepted, the bot trusts the sidecar's CA) and the plain-HTTP reverse listener. The fake verifies the
signature over the exact bytes that arrived, so an order it accepted was forwarded unmodified.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from tests.fakes.bitmex import FakeBitmex, RecordedRequest, signed_headers
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

HALTED_KEY = "bitmex-e2e-halted-" + "h" * 20
HALTED_SECRET = "bitmex-halted-secret-" + "s" * 28
ORDER = "/api/v1/order"

POLICY = """
version: 1
mode: enforce
accounts:
  halted: {{fingerprints: ["{halted}"], venue: bitmex}}
rules:
  - id: halt-desk
    type: trading_state
    state: HALTED
    scope: {{accounts: [halted]}}
  - id: symbols
    type: allowed_symbols
    allow: [XBTUSDT, "BTC/USD:BTC", ETHUSDT]
  - id: leverage
    type: max_leverage
    default: 10
  - id: order-qty
    type: max_order_qty
    default: 100
    symbols: {{"BTC/USD:BTC": 0.5, "BTC/USDT:USDT": 0.5}}
"""


@pytest.fixture(scope="module")
def bitmex_fake(pki: TlsMaterial) -> Iterator[FakeBitmex]:
    with watch(FakeBitmex(tls=pki.server_ssl_context())) as venue:
        venue.add_account(HALTED_KEY, HALTED_SECRET)
        yield venue


@pytest.fixture(scope="module")
def bitmex_sidecar(tmp_path_factory: pytest.TempPathFactory, bitmex_fake: FakeBitmex,
                   pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp("bitmex-sidecar")
    policy = Path(workdir) / "bitmex-e2e.yaml"
    policy.write_text(POLICY.format(halted=fingerprint(HALTED_KEY)))
    running = start_sidecar(workdir, policy, upstreams={"bitmex": bitmex_fake.base_url}, upstream_ca=pki.ca_cert)
    yield running
    running.stop()


@dataclass
class Bot:
    """A BitMEX client on its own account, sending signed requests through the sidecar."""

    api_key: str
    secret: str
    base_url: str
    session: requests.Session
    fake: FakeBitmex

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, *, form: bool = False,
             query: dict[str, str] | None = None) -> requests.Response:
        path_with_query = path + ("?" + urlencode(query) if query else "")
        if params is None:
            body = b""
        elif form:
            body = urlencode(params).encode()
        else:
            body = json.dumps(params, separators=(",", ":")).encode()
        headers = signed_headers(self.api_key, self.secret, method, path_with_query, body,
                                 content_type="application/x-www-form-urlencoded" if form else "application/json")
        return self.session.request(method, self.base_url + path_with_query, data=body or None, headers=headers,
                                    timeout=15)

    def received(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.fake.requests if r.api_key == self.api_key
                and (method is None or r.method == method) and (path is None or r.path == path)]


@pytest.fixture(params=["explicit", "reverse"])
def wiring(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _bot(fake: FakeBitmex, sidecar: Sidecar, wiring: str, api_key: str | None = None,
         secret: str | None = None) -> Bot:
    key = api_key or "bitmex-e2e-" + secrets.token_hex(12)
    secret_value = secret or "bitmex-secret-" + secrets.token_hex(18)
    if api_key is None:
        fake.add_account(key, secret_value)
    session = requests.Session()
    session.trust_env = False
    if wiring == "explicit":
        session.proxies = {"https": sidecar.proxy_url, "http": sidecar.proxy_url}
        session.verify = str(sidecar.ca_cert)
        base = fake.base_url
    else:
        base = sidecar.reverse_url_for("bitmex")
    bot = Bot(key, secret_value, base, session, fake)
    # the bot loads markets first, as every client does: the sidecar learns contract sizes from the answer
    assert bot.call("GET", "/api/v1/instrument/active").status_code == 200
    return bot


@pytest.fixture
def bot(bitmex_fake: FakeBitmex, bitmex_sidecar: Sidecar, wiring: str) -> Bot:
    return _bot(bitmex_fake, bitmex_sidecar, wiring)


def _assert_bitmex_error(response: requests.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["name"] == "HTTPError"
    for word in words:
        assert word in error["message"]


ALLOWED_CASES = [
    # (params, form body?) — 1000 USD of XBTUSD at 50000 = 0.02 BTC; 100000 XBTUSDT contracts = 0.1 BTC
    ({"symbol": "XBTUSD", "side": "Buy", "orderQty": 1000, "price": 50000, "ordType": "Limit"}, False),
    ({"symbol": "XBTUSD", "side": "Sell", "orderQty": "2000", "price": "60000"}, True),
    ({"symbol": "XBTUSDT", "side": "Buy", "orderQty": 100000, "price": 50000, "ordType": "Limit"}, False),
]


@pytest.mark.parametrize(("params", "form"), ALLOWED_CASES, ids=["json-inverse", "form-inverse", "json-linear"])
def test_create_order_when_within_policy_then_reaches_exchange_unmodified(
    bot: Bot, bitmex_sidecar: Sidecar, params: dict[str, Any], form: bool
) -> None:
    response = bot.call("POST", ORDER, params, form=form)

    assert response.status_code == 200, response.text
    [sent] = bot.received("POST", ORDER)
    assert sent.status == 200  # the fake verified the signature over the exact bytes
    assert response.json()["orderID"] and response.json()["ordStatus"] == "New"
    [line] = bitmex_sidecar.decisions(account=fingerprint(bot.api_key), verdict="allow")
    assert (line["venue"], line["endpoint"], line["symbol"]) == ("bitmex", "POST /api/v1/order", params["symbol"])


BLOCKED_CASES = [
    # 30000 USD at 50000 = 0.6 BTC > 0.5 (inverse contracts → base units)
    ({"symbol": "XBTUSD", "side": "Buy", "orderQty": 30000, "price": 50000}, "order-qty", "ORDER_QTY_EXCEEDS_MAX"),
    # 600000 XBTUSDT contracts × 0.000001 = 0.6 BTC (linear, size learned from /instrument/active)
    ({"symbol": "XBTUSDT", "side": "Sell", "orderQty": 600000, "price": 50000}, "order-qty",
     "ORDER_QTY_EXCEEDS_MAX"),
    ({"symbol": "DOGEUSDT", "side": "Buy", "orderQty": 100, "price": 0.2}, "symbols", "SYMBOL_NOT_ALLOWED"),
    # a quanto contract has no size in the underlying: refused, never guessed
    ({"symbol": "ETHUSD", "side": "Buy", "orderQty": 1, "price": 3000}, "riskwall.parse", "PARSE_FAILED"),
]


@pytest.mark.parametrize(("params", "rule", "reason"), BLOCKED_CASES,
                         ids=["inverse-qty", "linear-qty", "symbol-denied", "quanto-unknown-size"])
def test_create_order_when_policy_violated_then_blocked_before_exchange_with_bitmex_error(
    bot: Bot, bitmex_sidecar: Sidecar, params: dict[str, Any], rule: str, reason: str
) -> None:
    response = bot.call("POST", ORDER, params)

    _assert_bitmex_error(response, 400, reason)
    assert response.headers["X-Riskwall-Rule"].startswith(rule.split(".")[0])
    assert bot.received("POST", ORDER) == []
    [line] = bitmex_sidecar.decisions(account=fingerprint(bot.api_key), verdict="block")
    assert line["reason"] == reason


def test_set_leverage_when_above_max_or_cross_then_blocked_and_within_max_forwarded(bot: Bot) -> None:
    path = "/api/v1/position/leverage"
    _assert_bitmex_error(bot.call("POST", path, {"symbol": "XBTUSD", "leverage": 25}), 400, "LEVERAGE_EXCEEDS_MAX")
    _assert_bitmex_error(bot.call("POST", path, {"symbol": "XBTUSD", "leverage": 0}), 400, "LEVERAGE_EXCEEDS_MAX")
    assert bot.received("POST", path) == []

    assert bot.call("POST", path, {"symbol": "XBTUSD", "leverage": 5}).status_code == 200
    assert len(bot.received("POST", path)) == 1


def test_amend_when_new_size_over_limit_then_blocked_and_within_limit_forwarded(bot: Bot) -> None:
    placed = bot.call("POST", ORDER, {"symbol": "XBTUSD", "side": "Buy", "orderQty": 1000, "price": 50000})
    order_id = placed.json()["orderID"]

    _assert_bitmex_error(bot.call("PUT", ORDER, {"orderID": order_id, "orderQty": 30000, "price": 50000}), 400,
                         "ORDER_QTY_EXCEEDS_MAX")
    # the size alone: its USD contracts convert at the order's resting price, which the firewall does not keep
    _assert_bitmex_error(bot.call("PUT", ORDER, {"orderID": order_id, "orderQty": 2000}), 400, "PARSE_FAILED")
    assert bot.call("PUT", ORDER, {"orderID": order_id, "orderQty": 2000, "price": 50000}).status_code == 200
    assert len(bot.received("PUT", ORDER)) == 1


WALLET_CASES = [
    ("/api/v1/user/requestWithdrawal", {"currency": "XBt", "amount": 100000, "address": "bc1qexample"}),
    ("/api/v1/user/walletTransfer", {"currency": "XBt", "amount": 1000, "targetAccountId": 2}),
    ("/api/v1/apiKey", {"name": "new", "permissions": "order"}),
]


@pytest.mark.parametrize(("path", "params"), WALLET_CASES, ids=["withdrawal", "transfer", "api-key"])
def test_wallet_call_when_sent_then_never_reaches_exchange(bot: Bot, path: str, params: dict[str, Any]) -> None:
    response = bot.call("POST", path, params)

    _assert_bitmex_error(response, 403, "ACTION_FORBIDDEN")
    assert bot.received("POST", path) == [] and bot.fake.wallet_requests() == []


def test_cancel_when_account_halted_then_passes_and_new_order_blocked(
    bitmex_fake: FakeBitmex, bitmex_sidecar: Sidecar, wiring: str
) -> None:
    halted = _bot(bitmex_fake, bitmex_sidecar, wiring, HALTED_KEY, HALTED_SECRET)
    before = len(halted.received())  # one halted account serves both wirings

    blocked = halted.call("POST", ORDER, {"symbol": "XBTUSD", "side": "Buy", "orderQty": 100, "price": 50000})
    cancel = halted.call("DELETE", ORDER, {"orderID": "00000000-0000-0000-0000-000000000001"})
    cancel_all = halted.call("DELETE", "/api/v1/order/all", {"symbol": "XBTUSD"})

    _assert_bitmex_error(blocked, 403, "TRADING_HALTED")
    assert halted.received("POST", ORDER) == []
    assert (cancel.status_code, cancel_all.status_code) == (200, 200)
    arrived = [(r.method, r.path) for r in halted.received()[before:]]
    assert arrived == [("DELETE", ORDER), ("DELETE", "/api/v1/order/all")]


def test_fake_when_request_altered_after_signing_then_refused_so_forwarding_is_proven_unmodified(
    bitmex_fake: FakeBitmex, pki: TlsMaterial
) -> None:
    key, secret = "bitmex-e2e-direct-" + secrets.token_hex(8), "direct-secret-" + secrets.token_hex(16)
    bitmex_fake.add_account(key, secret)
    body = b'{"symbol":"XBTUSD","side":"Buy","orderQty":100,"price":50000}'
    headers = signed_headers(key, secret, "POST", ORDER, body)
    altered = body.replace(b"100", b"900")

    refused = requests.post(bitmex_fake.base_url + ORDER, data=altered, headers=headers, verify=str(pki.ca_cert),
                            timeout=10)
    accepted = requests.post(bitmex_fake.base_url + ORDER, data=body, headers=headers, verify=str(pki.ca_cert),
                             timeout=10)

    assert refused.status_code == 401 and refused.json()["error"]["message"] == "Signature not valid."
    assert accepted.status_code == 200
