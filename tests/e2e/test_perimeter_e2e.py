"""The sidecar as the only door: egress allowlist, known keys, and listeners that refuse to be exposed."""

from __future__ import annotations

import http.server
import socket
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


@pytest.mark.parametrize("door", ["egress-open", "egress-allowlist"])
@pytest.mark.parametrize("path", ["/fapi/v1/openOrders", "/fapi/v1/premiumIndex"])
def test_request_when_host_header_names_the_venue_but_it_goes_elsewhere_then_refused_before_leaving(
    request: pytest.FixtureRequest, outsider: tuple[int, list[str]], door: str, path: str
) -> None:
    # a bot holding the venue's key sends a read to a host it runs, under the venue's Host header: learned as the
    # venue's, its forged "no open orders" or mark price of 1 would erase exposure or shrink notionals, and the
    # key would leave for that host
    sidecar: Sidecar = request.getfixturevalue("sidecar" if door == "egress-open" else "guarded")
    port, hits = outsider
    proxies = {"http": sidecar.proxy_url, "https": sidecar.proxy_url}

    answer = requests.get(f"http://127.0.0.1:{port}{path}?symbol=BTCUSDT&timestamp=1&signature=" + "0" * 64,
                          headers={"Host": "fapi.binance.com", "X-MBX-APIKEY": KNOWN_KEY}, proxies=proxies,
                          timeout=10)

    assert answer.status_code >= 400 and answer.headers["X-Riskwall-Rule"] == "riskwall.venue"
    assert answer.headers["X-Riskwall-Reason"] == "UNKNOWN_ENDPOINT"
    assert hits == []
    [line] = [line for line in sidecar.decisions(verdict="block") if "destination=no venue" in
              str(line.get("context", {}).get("names", ""))][-1:]
    assert line["venue"] == "binanceusdm"


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


KEY_A, SECRET_A = "perimeter-desk-a-key-" + "a" * 40, "perimeter-desk-a-secret-" + "a" * 40
KEY_B, SECRET_B = "perimeter-desk-b-key-" + "b" * 40, "perimeter-desk-b-secret-" + "b" * 40


@pytest.fixture(scope="module")
def authenticated(tmp_path_factory: pytest.TempPathFactory, fake: FakeBinanceUsdm,
                  pki: TlsMaterial) -> Iterator[Sidecar]:
    import bcrypt

    fake.add_account(KEY_A, SECRET_A)
    fake.add_account(KEY_B, SECRET_B)
    folder = tmp_path_factory.mktemp("proxy-auth")
    htpasswd = folder / "htpasswd"
    htpasswd.write_text("".join(
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
        for user, password in (("bot-a", "pw-a"), ("bot-b", "pw-b"))
    ))
    policy = folder / "policy.yaml"
    policy.write_text(
        "accounts:\n"
        f"  desk-a: {{fingerprints: [\"{fingerprint(KEY_A)}\"], proxy_users: [bot-a]}}\n"
        f"  desk-b: {{fingerprints: [\"{fingerprint(KEY_B)}\"], proxy_users: [bot-b]}}\n"
        "rules:\n  - id: qty\n    type: max_order_qty\n    default: 10\n"
    )
    running = launch(folder / "sidecar", policy, fake, pki, extra_args=["--proxy-auth", f"@{htpasswd}"])
    yield running
    running.stop()


def _bot_through(sidecar: Sidecar, fake: FakeBinanceUsdm, credentials: str, key: str, secret: str) -> ccxt.Exchange:
    from tests.support.ccxt_bots import proxied_bot

    proxy = sidecar.proxy_url.replace("http://", f"http://{credentials}@") if credentials else sidecar.proxy_url
    bot = proxied_bot(fake.base_url, proxy, sidecar.ca_cert, api_key=key, secret=secret)
    return bot


def test_create_order_when_bot_signs_with_another_bots_key_then_blocked_and_own_key_passes(
    authenticated: Sidecar, fake: FakeBinanceUsdm
) -> None:
    own = _bot_through(authenticated, fake, "bot-a:pw-a", KEY_A, SECRET_A)
    own.load_markets()
    own.create_order(ETH, "limit", "buy", 0.1, 2900)

    borrowed = _bot_through(authenticated, fake, "bot-a:pw-a", KEY_B, SECRET_B)
    borrowed.load_markets()
    with pytest.raises(ccxt.PermissionDenied) as raised:
        borrowed.create_order(ETH, "limit", "buy", 0.1, 2900)

    assert "UNKNOWN_ACCOUNT" in str(raised.value) and "client=bot-a" in str(raised.value)
    assert len([r for r in fake.orders_received() if r.api_key == KEY_A]) == 1
    assert [r for r in fake.orders_received() if r.api_key == KEY_B] == []


@pytest.mark.parametrize("credentials", ["", "bot-a:wrong"])
def test_request_when_proxy_credentials_missing_or_wrong_then_nothing_reaches_the_exchange(
    authenticated: Sidecar, fake: FakeBinanceUsdm, credentials: str
) -> None:
    before = len(fake.requests)
    bot = _bot_through(authenticated, fake, credentials, KEY_A, SECRET_A)

    with pytest.raises(ccxt.BaseError):
        bot.load_markets()

    assert len(fake.requests) == before
    output = authenticated.output()
    assert "pw-a" not in output and "wrong" not in output


@pytest.mark.parametrize("how", ["absolute-form", "connect-tunnel"])
def test_request_when_it_leads_to_the_sidecars_own_loopback_then_refused_under_open_egress(
    sidecar: Sidecar, outsider: tuple[int, list[str]], how: str
) -> None:
    # a bot kept off the sidecar's loopback reaches it through the proxy: its state store (where it could delete a
    # halt), its admin endpoint, anything else listening there. Open egress forwards elsewhere, never there
    port, hits = outsider
    with socket.create_connection(("127.0.0.1", sidecar.proxy_port), timeout=10) as conn:
        if how == "connect-tunnel":
            conn.sendall(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            established = conn.recv(4096)
            if established.startswith(b"HTTP/1.1 200"):
                conn.sendall(f"GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
                answer = conn.recv(4096)
            else:
                answer = established
        else:
            conn.sendall(f"GET http://127.0.0.1:{port}/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            answer = conn.recv(4096)

    assert not answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert hits == []
    assert any(line.get("event") == "egress_blocked" for line in sidecar.log_lines())
