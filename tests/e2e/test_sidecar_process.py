"""The sidecar as a process: startup refusal, a crash inside the firewall, and the `mitmdump -s` entry."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
from tests.e2e.conftest import launch, make_trader_factory
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.support.ccxt_bots import reverse_bot
from tests.support.sidecar import ROOT, Sidecar, free_port, wait_for_port
from tests.support.tls import TlsMaterial

pytestmark = pytest.mark.e2e

ETH = "ETH/USDT:USDT"
RISKWALL = str(Path(sys.executable).parent / "riskwall")


@pytest.fixture(scope="module")
def faulty_sidecar(tmp_path_factory: pytest.TempPathFactory, e2e_policy: Path, fake: FakeBinanceUsdm,
                   pki: TlsMaterial) -> Iterator[Sidecar]:
    entry = [sys.executable, str(ROOT / "tests" / "e2e" / "faulty_sidecar.py")]
    running = launch(tmp_path_factory.mktemp("faulty"), e2e_policy, fake, pki, entry=entry)
    yield running
    running.stop()


@pytest.mark.parametrize("wiring", ["explicit", "reverse"])
def test_create_order_when_firewall_raises_then_order_blocked_and_cancel_passes(
    faulty_sidecar: Sidecar, fake: FakeBinanceUsdm, wiring: str
) -> None:
    trader = make_trader_factory(fake, faulty_sidecar, wiring)()

    with pytest.raises(ccxt.InvalidOrder) as raised:
        trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    assert "INTERNAL_ERROR" in str(raised.value)
    with pytest.raises(ccxt.OrderNotFound):  # reached the fake, which knows no such order
        trader.bot.cancel_order("42", ETH)

    assert trader.orders_received() == []
    assert len(trader.received("DELETE", "/fapi/v1/order")) == 1
    errors = [line for line in faulty_sidecar.log_lines() if line.get("event") == "firewall_error"]
    assert errors and errors[0]["error"] == "RuntimeError"


@pytest.mark.parametrize(
    ("policy_text", "expected"),
    [
        ("rules:\n  - id: q\n    type: max_order_qty\n    default: -1\n",
         "rules[0].default: Input should be greater than 0"),
        ("rules:\n  - id: r\n    type: order_rate\n    limits: [ten/s]\n", "rules[0].limits"),
        ("rulez: []\n", "rulez: unknown key"),
    ],
)
def test_run_when_policy_invalid_then_exits_nonzero_listing_file_and_path(
    tmp_path: Path, policy_text: str, expected: str
) -> None:
    policy = tmp_path / "bad.yaml"
    policy.write_text(policy_text)

    result = subprocess.run(
        [RISKWALL, "run", "--policy", str(policy), "--listen", f"127.0.0.1:{free_port()}",
         "--confdir", str(tmp_path / "conf")],
        capture_output=True, text=True, timeout=60, check=False,
    )

    assert result.returncode == 2
    assert f"{policy}:" in result.stderr and expected in result.stderr


def test_mitmdump_script_when_loaded_then_enforces_the_same_policy(
    tmp_path: Path, e2e_policy: Path, fake: FakeBinanceUsdm, pki: TlsMaterial
) -> None:
    port = free_port()
    mitmdump = str(Path(sys.executable).parent / "mitmdump")
    command = [
        mitmdump, "-q", "-s", str(ROOT / "addons" / "riskwall_addon.py"),
        "--mode", f"reverse:{fake.base_url}@127.0.0.1:{port}",
        "--set", f"confdir={tmp_path / 'conf'}",
        "--set", f"ssl_verify_upstream_trusted_ca={pki.ca_cert}",
        "--set", f"riskwall_policy={e2e_policy}",
        "--set", f"riskwall_venue_hosts=binanceusdm={fake.host_port}",
    ]
    stdout = (tmp_path / "stdout.log").open("wb")
    process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        import time

        assert wait_for_port(port, time.monotonic() + 30), (tmp_path / "stdout.log").read_text()
        key, secret = "mitmdump-key-" + "k" * 40, "mitmdump-secret-" + "s" * 40
        fake.add_account(key, secret)
        bot = reverse_bot(f"http://127.0.0.1:{port}", api_key=key, secret=secret)
        bot.load_markets()
        bot.create_order(ETH, "limit", "buy", 0.1, 2900)
        with pytest.raises(ccxt.BadSymbol):
            bot.create_order("DOGE/USDT:USDT", "limit", "buy", 100, 0.2)
        sent = [r for r in fake.orders_received() if r.api_key == key]
        assert [r.params["symbol"] for r in sent] == ["ETHUSDT"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        stdout.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_stop_when_bots_hold_keep_alive_connections_then_quiet_and_exit_zero(
    tmp_path: Path, e2e_policy: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, stop_signal: int
) -> None:
    running = launch(tmp_path / "quiet", e2e_policy, fake, pki)
    try:
        bots = [reverse_bot(running.reverse_url, api_key="k" * 64, secret="s" * 64) for _ in range(3)]
        for bot in bots:
            bot.fetch_time()  # each holds its keep-alive connection through the sidecar
        running.process.send_signal(stop_signal)
        code = running.process.wait(timeout=15)
    finally:
        running.stop()

    assert code == 0
    assert "Traceback" not in running.stderr_path.read_text()
    assert "CancelledError" not in running.output()


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_run_when_an_event_loop_is_chosen_then_orders_are_decided_on_it_in_both_wirings(
    tmp_path: Path, e2e_policy: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, loop: str
) -> None:
    running = launch(tmp_path / loop, e2e_policy, fake, pki, extra_args=["--event-loop", loop])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{running.admin_port}/v1/status", timeout=5) as answer:
            status = json.loads(answer.read())
        placed = []
        for wiring in ("explicit", "reverse"):  # the CA's TLS through the proxy, and plain HTTP
            trader = make_trader_factory(fake, running, wiring)()
            placed.append(trader.bot.create_order(ETH, "limit", "buy", 0.1, 2900)["id"])
            with pytest.raises(ccxt.BadSymbol):
                trader.bot.create_order("DOGE/USDT:USDT", "limit", "buy", 100, 0.2)
            assert [r.params["symbol"] for r in trader.orders_received()] == ["ETHUSDT"]
        running.process.send_signal(signal.SIGTERM)
        code = running.process.wait(timeout=15)
    finally:
        running.stop()

    assert status["event_loop"] == loop
    assert all(placed) and code == 0
    assert [(line["symbol"], line["verdict"]) for line in running.decisions() if line.get("symbol")] == [
        ("ETHUSDT", "allow"), ("DOGEUSDT", "block")] * 2
    assert "Traceback" not in running.stderr_path.read_text()
