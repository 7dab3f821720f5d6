"""The `duplicate_orders` rule over each venue's WebSocket order entry: ccxt.pro (binanceusdm `order.place`, bybit
`order.create`, okx `batch-orders`) through the real `riskwall run`, on the in-memory store and on Redis.

A bot sends the same order twice on one socket: ccxt.pro must fail the second call with the same order-class
exception as over REST (never an authentication error, which ccxt.pro bybit takes for a failed login and never
resolves), the fake never sees the second frame, and the same socket goes on taking orders.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import ccxt
import ccxt.pro
import pytest
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.fakes.binance_usdm_ws import ws_order_frames as binance_frames
from tests.fakes.bybit import FakeBybit
from tests.fakes.bybit_ws import ws_order_frames as bybit_frames
from tests.fakes.okx import FakeOkx
from tests.fakes.okx_ws import ws_order_frames as okx_frames
from tests.support.binance_ws_bots import proxied_binanceusdm_pro, reverse_binanceusdm_pro
from tests.support.bybit_ws_bots import proxied_bybit_pro, reverse_bybit_pro
from tests.support.okx_ws_bots import proxied_okx_pro, reverse_okx_pro
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar
from tests.support.tls import TlsMaterial
from tests.support.ws_e2e import TIMEOUT_S, run, sidecar_on, since

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

BTC = "BTC/USDT:USDT"
NATIVE = {"binanceusdm": "BTCUSDT", "bybit": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
VENUES = list(NATIVE)

POLICY = """
version: 1
mode: enforce
rules:
  - id: duplicates
    type: duplicate_orders
    window: 5s
"""

FRAMES: dict[str, Callable[[Any], list[dict[str, Any]]]] = {
    "binanceusdm": binance_frames, "bybit": bybit_frames, "okx": okx_frames}
PROXIED = {"binanceusdm": proxied_binanceusdm_pro, "bybit": proxied_bybit_pro, "okx": proxied_okx_pro}
REVERSE = {"binanceusdm": reverse_binanceusdm_pro, "bybit": reverse_bybit_pro, "okx": reverse_okx_pro}


@pytest.fixture(scope="module")
def fakes(pki: TlsMaterial) -> Iterator[dict[str, Any]]:
    # watched: the session-wide secret scan (conftest.secret_scan) proves none of their credentials is logged
    running = {"binanceusdm": watch(FakeBinanceUsdm(tls=pki.server_ssl_context())).start(),
               "bybit": watch(FakeBybit(tls=pki.server_ssl_context())).start(),
               "okx": watch(FakeOkx(tls=pki.server_ssl_context())).start()}
    yield running
    for fake in running.values():
        fake.stop()


@pytest.fixture(scope="module", params=["memory", "redis"])
def sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fakes: dict[str, Any],
            pki: TlsMaterial) -> Iterator[Sidecar]:
    workdir = tmp_path_factory.mktemp(f"duplicates-ws-{request.param}")
    policy = workdir / "policy.yaml"
    policy.write_text(POLICY)
    upstreams = {venue: fake.base_url for venue, fake in fakes.items()}
    with sidecar_on(request.param, workdir, policy, upstreams, pki.ca_cert) as running:
        yield running


@pytest.mark.parametrize("wiring", ["explicit", "reverse"])
@pytest.mark.parametrize("venue", VENUES)
def test_create_order_ws_when_identical_order_repeats_then_order_error_frame_never_sent_and_socket_goes_on(
    fakes: dict[str, Any], sidecar: Sidecar, venue: str, wiring: str
) -> None:
    fake = fakes[venue]
    key, secret = f"dup-ws-{venue}-" + secrets.token_hex(10), "secret-" + secrets.token_hex(16)
    passphrase = "Pass-" + secrets.token_hex(6)
    keys: dict[str, str] = {"api_key": key, "secret": secret}
    if venue == "okx":
        fake.add_account(key, secret, passphrase)
        keys["passphrase"] = passphrase
    else:
        fake.add_account(key, secret)
    frames_before, lines_before = len(FRAMES[venue](fake)), len(sidecar.log_lines())
    unit = 1 if venue == "okx" else 0.01

    async def trade() -> tuple[BaseException, dict[str, Any]]:
        client = (PROXIED[venue](fake.base_url, sidecar.proxy_url, sidecar.ca_cert, **keys) if wiring == "explicit"
                  else REVERSE[venue](sidecar.reverse_url_for(venue), **keys))
        try:
            await client.load_markets()
            await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", unit, 41000), TIMEOUT_S)
            with pytest.raises(ccxt.BaseError) as raised:
                await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", unit, 41000), TIMEOUT_S)
            after = await asyncio.wait_for(client.create_order_ws(BTC, "limit", "buy", unit, 41010), TIMEOUT_S)
            return raised.value, after
        finally:
            await client.close()

    raised, after = run(trade())

    assert type(raised) is ccxt.InvalidOrder, f"{type(raised).__name__}: {raised}"
    assert not isinstance(raised, ccxt.NetworkError | ccxt.AuthenticationError)
    assert "duplicates" in str(raised) and "DUPLICATE_ORDER" in str(raised)
    assert len(FRAMES[venue](fake)[frames_before:]) == 2 and after["id"]  # the repeat never reached the venue
    account = fingerprint(key)
    [line] = since(sidecar, lines_before, account=account, transport="ws", verdict="block")
    allowed = since(sidecar, lines_before, account=account, transport="ws", verdict="allow")
    assert (line["rule_id"], line["reason"], line["symbol"]) == ("duplicates", "DUPLICATE_ORDER", NATIVE[venue])
    assert {"window_ms": "5000", "duplicate_of": allowed[0]["decision_id"], "price": "41000"}.items() <= \
        line["context"].items()
    assert [x["price"] for x in allowed] == ["41000", "41010"]
