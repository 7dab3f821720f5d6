"""The sidecar as the only door: egress allowlist, known keys, and listeners that refuse to be exposed."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pytest
import requests
from tests.e2e.conftest import launch, make_trader_factory
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.support.sidecar import Sidecar, free_port
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = pytest.mark.e2e

ETH = "ETH/USDT:USDT"
RISKWALL = str(Path(sys.executable).parent / "riskwall")
KNOWN_KEY, KNOWN_SECRET = "perimeter-known-key-" + "k" * 40, "perimeter-known-secret-" + "s" * 40


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A host that is no venue: it counts whatever reaches it."""

    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def outsider() -> Iterator[tuple[int, list[str]]]:
    hits: list[str] = []
    handler = type("Recorder", (_Recorder,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], hits
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, fake: FakeBinanceUsdm, pki: TlsMaterial) -> Iterator[Sidecar]:
    fake.add_account(KNOWN_KEY, KNOWN_SECRET)
    policy = tmp_path_factory.mktemp("perimeter") / "policy.yaml"
    policy.write_text(
        "known_accounts_only: true\n"
        f"accounts:\n  desk: {{fingerprints: [\"{fingerprint(KNOWN_KEY)}\"]}}\n"
        "rules:\n  - id: qty\n    type: max_order_qty\n    default: 10\n"
    )
    running = launch(tmp_path_factory.mktemp("guarded"), policy, fake, pki,
                     extra_args=["--egress", "allowlist", "--egress-allow", "allowed.example"])
    yield running
    running.stop()


def test_request_when_host_is_no_venue_under_allowlist_then_refused_before_leaving(
    guarded: Sidecar, outsider: tuple[int, list[str]]
) -> None:
    port, hits = outsider
    proxies = {"http": guarded.proxy_url, "https": guarded.proxy_url}

    plain = requests.get(f"http://127.0.0.1:{port}/exfiltrate?key=x", proxies=proxies, timeout=10)
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get(f"https://127.0.0.1:{port}/exfiltrate", proxies=proxies, timeout=10)  # CONNECT refused

    assert plain.status_code == 403 and plain.json()["error"] == "egress_blocked"
    assert plain.headers["X-Riskwall-Rule"] == "riskwall.egress"
    assert hits == []
    assert len([line for line in guarded.log_lines() if line.get("event") == "egress_blocked"]) >= 2


@pytest.mark.parametrize("wiring", ["explicit", "reverse"])
def test_create_order_when_key_unknown_then_blocked_and_known_key_passes(
    guarded: Sidecar, fake: FakeBinanceUsdm, wiring: str
) -> None:
    stranger = make_trader_factory(fake, guarded, wiring)()
    with pytest.raises(ccxt.PermissionDenied) as raised:
        stranger.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    assert "UNKNOWN_ACCOUNT" in str(raised.value)
    assert stranger.orders_received() == []

    desk = make_trader_factory(fake, guarded, wiring)(api_key=KNOWN_KEY, secret=KNOWN_SECRET)
    before = len(desk.orders_received())
    desk.bot.create_order(ETH, "limit", "buy", 0.1, 2900)
    assert len(desk.orders_received()) == before + 1


@pytest.mark.parametrize(("args", "message"), [
    (["--listen", "0.0.0.0:{port}"], "give --proxy-auth or --client-cidr"),
    (["--listen", "off", "--reverse", "binanceusdm@0.0.0.0:{port}"], "give --client-cidr"),
])
def test_run_when_listener_exposed_without_access_control_then_refuses_to_start(
    tmp_path: Path, args: list[str], message: str
) -> None:
    port = free_port()
    result = subprocess.run(
        [RISKWALL, "run", "--policy", "policies/", "--confdir", str(tmp_path), "--admin", "off",
         *[a.format(port=port) for a in args]],
        capture_output=True, text=True, timeout=60, check=False, cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2 and message in result.stderr
