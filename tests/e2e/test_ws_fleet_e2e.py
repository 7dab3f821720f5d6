"""Three sidecars on one Redis, one OKX account trading through all of them over WebSocket and REST at once:
the position limit admits exactly what it allows, whichever sidecar and whichever transport an order takes.

Orders are resting limit buys far below the market (the fake OKX keeps them open), so every admitted order
stays pending exposure and the limit binds on the count: 0.20 BTC allows twenty 1-contract (0.01 BTC) orders.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from tests.fakes.okx import FakeOkx
from tests.fakes.okx_ws import ws_order_frames
from tests.state.conftest import delete_prefix, redis_url, require_redis, unique_prefix
from tests.support.okx_bots import reverse_okx
from tests.support.okx_ws_bots import reverse_okx_pro
from tests.support.secrets import watch
from tests.support.sidecar import Sidecar, start_sidecar
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

BTC = "BTC/USDT:USDT"
LIMIT_CONTRACTS = 20
POLICY = """
version: 1
rules:
  - id: position
    type: max_position
    symbols: {BTC-USDT-SWAP: {qty: 0.2}}
"""
SIDECARS = 3
ORDERS_PER_BOT = 10  # per transport per sidecar: 60 attempts for 20 places


@pytest.fixture
def fleet(tmp_path: Path, pki: TlsMaterial) -> Iterator[tuple[FakeOkx, list[Sidecar]]]:
    require_redis()
    prefix = unique_prefix()
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    with watch(FakeOkx(tls=pki.server_ssl_context())) as fake:
        sidecars = [start_sidecar(tmp_path / f"sidecar-{n}", policy, upstreams={"okx": fake.base_url},
                                  upstream_ca=pki.ca_cert, extra_args=["--state", redis_url(prefix, timeout_ms=500),
                                                                       "--ws-deadline-ms", "2000"])
                    for n in range(SIDECARS)]
        try:
            yield fake, sidecars
        finally:
            for sidecar in sidecars:
                sidecar.stop()
            delete_prefix(prefix)


def test_orders_when_websocket_and_rest_race_through_three_sidecars_then_admitted_equals_limit_exactly(
    fleet: tuple[FakeOkx, list[Sidecar]],
) -> None:
    fake, sidecars = fleet
    key, secret, passphrase = "okx-fleet-" + secrets.token_hex(12), "s-" + secrets.token_hex(16), "Pw-fleet1"
    fake.add_account(key, secret, passphrase)
    credentials = {"api_key": key, "secret": secret, "passphrase": passphrase}
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(2 * SIDECARS)

    def record(outcome: str) -> None:
        with lock:
            outcomes.append(outcome)

    def rest_bot(sidecar: Sidecar) -> None:
        bot = reverse_okx(sidecar.reverse_url_for("okx"), **credentials)
        bot.load_markets()
        start.wait(timeout=30)
        for _ in range(ORDERS_PER_BOT):
            try:
                bot.create_order(BTC, "limit", "buy", 1, 20000)
                record("rest placed")
            except ccxt.InvalidOrder as exc:
                assert "POSITION_EXCEEDS_MAX" in str(exc)
                record("rest refused")

    def ws_bot(sidecar: Sidecar) -> None:
        async def trade() -> None:
            bot = reverse_okx_pro(sidecar.reverse_url_for("okx"), **credentials)
            try:
                await bot.load_markets()
                start.wait(timeout=30)

                async def one() -> None:
                    try:
                        await bot.create_order_ws(BTC, "limit", "buy", 1, 20000)
                        record("ws placed")
                    except ccxt.InvalidOrder as exc:
                        assert "POSITION_EXCEEDS_MAX" in str(exc)
                        record("ws refused")

                await asyncio.gather(*(one() for _ in range(ORDERS_PER_BOT)))
            finally:
                await bot.close()

        asyncio.run(asyncio.wait_for(trade(), 120))

    threads = [threading.Thread(target=target, args=(sidecar,)) for sidecar in sidecars
               for target in (rest_bot, ws_bot)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)

    assert not any(thread.is_alive() for thread in threads)
    placed = [o for o in outcomes if o.endswith("placed")]
    assert len(outcomes) == 2 * SIDECARS * ORDERS_PER_BOT
    assert len(placed) == LIMIT_CONTRACTS, what_each_sidecar_decided(sidecars)
    assert sum(o.startswith("ws") for o in outcomes) == SIDECARS * ORDERS_PER_BOT  # every ws order answered
    assert len(fake.open_orders(key)) == LIMIT_CONTRACTS
    rest_orders = [r for r in fake.orders_received() if r.api_key == key and r.status == 200]
    ws_orders = [m for m in ws_order_frames(fake) if m.get("op") == "batch-orders"]
    assert len(rest_orders) + len(ws_orders) == LIMIT_CONTRACTS  # nothing refused reached the venue
    allowed = sum(len(s.decisions(account=fingerprint(key), verdict="allow")) for s in sidecars)
    assert allowed == LIMIT_CONTRACTS


def what_each_sidecar_decided(sidecars: list[Sidecar]) -> str:
    """For a failure (seen once in CI, 21 admitted of 20, not reproduced since): what each sidecar allowed and
    blocked, and its warnings (learning that failed, store timeouts), so the run that fails says why."""
    lines = []
    for number, sidecar in enumerate(sidecars):
        counts = Counter((d.get("endpoint"), d.get("verdict"), d.get("reason")) for d in sidecar.decisions())
        warnings = [line for line in sidecar.log_lines() if line.get("level") in ("warning", "error")]
        lines.append(f"sidecar {number}: {dict(counts)}; warnings: {warnings[:20]}")
    return "\n".join(lines)
