"""A fleet of sidecars on one Redis: exact limits under concurrency, a Redis outage, a sidecar restart, and the
kill switch applied to every sidecar at once.

Each test starts its own `redis-server` on a free port (so stopping it hurts nobody else). Without the
binary the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import ccxt
import pytest
from tests.e2e.conftest import launch
from tests.fakes.binance_usdm import FakeBinanceUsdm
from tests.support.ccxt_bots import reverse_bot
from tests.support.sidecar import Sidecar, free_port, wait_for_port
from tests.support.tcp_relay import TcpRelay
from tests.support.tls import TlsMaterial

from riskwall.model import fingerprint

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ETH = "ETH/USDT:USDT"
BTC = "BTC/USDT:USDT"
RISKWALL = str(Path(sys.executable).parent / "riskwall")
FLEET_POLICY = """
rules:
  - id: order-rate
    type: order_rate
    limits: ["{rate}/60s"]
  - id: position
    type: max_position
    symbols: {{BTCUSDT: {{qty: 1}}}}
"""


@dataclass
class RedisServer:
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary
        # persistence as the README asks of a fleet's Redis: a restart keeps every write it answered
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert wait_for_port(self.port, time.monotonic() + 10), "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def forget(self) -> None:
        """While stopped: lose what it kept, as a Redis without persistence (or a new, empty replica) does."""
        shutil.rmtree(self.workdir / "appendonlydir", ignore_errors=True)
        (self.workdir / "dump.rdb").unlink(missing_ok=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed, and CI must run the Redis tests")
        pytest.skip("redis-server is not installed: the Redis fleet tests need one")
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fleet(tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial,
          redis_server: RedisServer) -> Iterator[Callable[..., Sidecar]]:
    started: list[Sidecar] = []

    def start(name: str, rate: int = 1000) -> Sidecar:
        policy = tmp_path / f"policy-{rate}.yaml"
        policy.write_text(FLEET_POLICY.format(rate=rate))
        # a generous timeout: three sidecars and sixteen bots share two cores here
        url = f"{redis_server.url}?timeout_ms=250"
        sidecar = launch(tmp_path / name, policy, fake, pki, extra_args=["--state", url])
        started.append(sidecar)
        return sidecar

    yield start
    for sidecar in started:
        sidecar.stop()


def readiness(sidecar: Sidecar) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.admin_port}/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:  # the error holds the answer's socket
            return int(exc.code)


def new_account(fake: FakeBinanceUsdm) -> tuple[str, str]:
    key, secret = "fleet-" + os.urandom(16).hex(), "secret-" + os.urandom(16).hex()
    fake.add_account(key, secret)
    return key, secret


def burst(sidecars: list[Sidecar], key: str, secret: str, clients: int, orders_each: int,
          place: Callable[[ccxt.binanceusdm], object]) -> tuple[int, list[type[Exception]]]:
    """`clients` threads, each its own ccxt bot on one of the sidecars, all released at once."""
    bots = [reverse_bot(sidecars[i % len(sidecars)].reverse_url, api_key=key, secret=secret) for i in range(clients)]
    for bot in bots:
        bot.load_markets()
    gate = threading.Barrier(clients)
    admitted: list[int] = []
    refused: list[type[Exception]] = []
    lock = threading.Lock()

    def run(bot: ccxt.binanceusdm) -> None:
        gate.wait(timeout=30)
        for _ in range(orders_each):
            try:
                place(bot)
                with lock:
                    admitted.append(1)
            except ccxt.BaseError as exc:
                with lock:
                    refused.append(type(exc))

    threads = [threading.Thread(target=run, args=(bot,)) for bot in bots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return len(admitted), refused


def test_burst_when_three_sidecars_share_redis_then_exactly_the_rate_limit_is_admitted(
    fleet: Callable[..., Sidecar], fake: FakeBinanceUsdm
) -> None:
    sidecars = [fleet(f"s{i}", rate=20) for i in range(3)]
    key, secret = new_account(fake)

    admitted, refused = burst(sidecars, key, secret, clients=16, orders_each=3,
                              place=lambda bot: bot.create_order(ETH, "limit", "buy", 0.01, 2000))

    assert admitted == 20
    assert refused == [ccxt.RateLimitExceeded] * 28
    assert len([r for r in fake.orders_received() if r.api_key == key]) == 20


def test_burst_when_three_sidecars_share_redis_then_position_limit_admits_exactly_its_quantity(
    fleet: Callable[..., Sidecar], fake: FakeBinanceUsdm
) -> None:
    sidecars = [fleet(f"s{i}") for i in range(3)]
    key, secret = new_account(fake)

    # resting orders count as pending exposure: ten 0.1 BTC buys fill the 1 BTC limit
    admitted, refused = burst(sidecars, key, secret, clients=16, orders_each=1,
                              place=lambda bot: bot.create_order(BTC, "limit", "buy", 0.1, 40000))

    assert admitted == 10
    assert refused == [ccxt.InvalidOrder] * 6
    assert len([r for r in fake.orders_received() if r.api_key == key]) == 10


def long_on_a_fleet_sidecar(fleet: Callable[..., Sidecar], fake: FakeBinanceUsdm, name: str,
                            quantity: float) -> tuple[Sidecar, str, ccxt.binanceusdm, int]:
    """A sidecar of the fleet, a bot on a fresh account through it that bought `quantity` BTC at market, and how
    many orders of that account the fake has received."""
    sidecar = fleet(name)
    key, secret = new_account(fake)
    bot = reverse_bot(sidecar.reverse_url, api_key=key, secret=secret)
    bot.load_markets()
    bot.fetch_mark_price(BTC)
    bot.create_order(BTC, "market", "buy", quantity)
    return sidecar, key, bot, len([r for r in fake.orders_received() if r.api_key == key])


def test_redis_outage_when_orders_arrive_then_only_cancels_and_reductions_pass_and_service_recovers(
    fleet: Callable[..., Sidecar], fake: FakeBinanceUsdm, redis_server: RedisServer
) -> None:
    sidecar, key, bot, before = long_on_a_fleet_sidecar(fleet, fake, "outage", 0.5)  # a position to reduce later

    redis_server.stop()
    for _ in range(5):
        with pytest.raises(ccxt.InvalidOrder) as raised:
            bot.create_order(ETH, "limit", "buy", 0.01, 2000)
        assert "STATE_UNAVAILABLE" in str(raised.value)
    with pytest.raises(ccxt.OrderNotFound):
        bot.cancel_order("777", ETH)  # reached the fake, which knows no such order
    bot.cancel_all_orders(ETH)
    bot.create_order(BTC, "market", "sell", 0.2, params={"reduceOnly": True})

    assert readiness(sidecar) == 503  # the store is gone: not ready, though still deciding safely
    sent = [r for r in fake.requests if r.api_key == key][-4:]
    assert [(r.method, r.path) for r in sent][-3:] == [
        ("DELETE", "/fapi/v1/order"), ("DELETE", "/fapi/v1/allOpenOrders"), ("POST", "/fapi/v1/order"),
    ]
    assert len([r for r in fake.orders_received() if r.api_key == key]) == before + 1  # only the reduce-only

    redis_server.start()
    returned = time.monotonic()
    while True:
        try:
            bot.create_order(ETH, "limit", "buy", 0.01, 2000)
            break
        except ccxt.InvalidOrder:
            assert time.monotonic() - returned < 1.0, "orders were not allowed again within a second"
            time.sleep(0.05)
    events = [line["event"] for line in sidecar.log_lines()]
    assert events.count("state_store_down") == 1 and events.count("state_store_recovered") == 1
    assert readiness(sidecar) == 200


def test_redis_when_restarted_without_its_data_then_fleet_reduces_until_resumed(
    fleet: Callable[..., Sidecar], fake: FakeBinanceUsdm, redis_server: RedisServer
) -> None:
    sidecar, key, bot, before = long_on_a_fleet_sidecar(fleet, fake, "wiped", 0.9)  # of the 1 BTC allowed

    redis_server.stop()
    redis_server.forget()  # it comes back empty, and would count the position from zero
    redis_server.start()
    refusals: list[str] = []
    deadline = time.monotonic() + 10
    while not any("lost its data" in text for text in refusals):
        assert time.monotonic() < deadline, f"never refused as lost state: {refusals}"
        with pytest.raises((ccxt.InvalidOrder, ccxt.PermissionDenied)) as raised:
            bot.create_order(BTC, "market", "buy", 0.9)
        refusals.append(str(raised.value))
        time.sleep(0.05)
    assert isinstance(raised.value, ccxt.PermissionDenied) and "TRADING_REDUCING" in refusals[-1]
    bot.fetch_positions([BTC])  # the empty store learns the position again from a read
    bot.create_order(BTC, "market", "sell", 0.2, params={"reduceOnly": True})  # reductions of it still pass
    assert len([r for r in fake.orders_received() if r.api_key == key]) == before + 1
    assert [line for line in sidecar.log_lines() if line["event"] == "state_lost"]

    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKWALL_")}
    status = subprocess.run([RISKWALL, "status", "--state", redis_server.url], capture_output=True, text=True,
                            timeout=60, env=env, check=False)
    [record] = json.loads(status.stdout)["trading_states"]
    assert (record["scope"], record["state"], record["actor"]) == ("global", "REDUCING", "riskwall")
    resumed = subprocess.run([RISKWALL, "resume", "--state", redis_server.url, "--reason", "positions checked"],
                             capture_output=True, text=True, timeout=60, env=env, check=False)
    assert resumed.returncode == 0, resumed.stderr
    bot.create_order(BTC, "market", "buy", 0.05)
    assert len([r for r in fake.orders_received() if r.api_key == key]) == before + 2


def test_sidecar_when_restarted_then_shared_rate_window_is_kept(
    fleet: Callable[..., Sidecar], fake: FakeBinanceUsdm
) -> None:
    key, secret = new_account(fake)
    first = fleet("first", rate=8)
    bot = reverse_bot(first.reverse_url, api_key=key, secret=secret)
    bot.load_markets()
    for _ in range(5):
        bot.create_order(ETH, "limit", "buy", 0.01, 2000)
    first.stop()

    second = fleet("second", rate=8)
    bot = reverse_bot(second.reverse_url, api_key=key, secret=secret)
    bot.load_markets()
    results = []
    for _ in range(5):
        try:
            bot.create_order(ETH, "limit", "buy", 0.01, 2000)
            results.append("ok")
        except ccxt.RateLimitExceeded:
            results.append("rate")

    assert results == ["ok", "ok", "ok", "rate", "rate"]
    assert len([r for r in fake.orders_received() if r.api_key == key]) == 8


def test_sidecar_when_restarted_with_a_label_for_a_key_that_traded_then_the_label_only_reduces_until_resumed(
    fleet: Callable[..., Sidecar], fake: FakeBinanceUsdm, pki: TlsMaterial, redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    # the fleet redeployed with a policy that lists the key under a label: its 0.8 resting buy stays under its
    # own fingerprint, and the label would start from nothing (a further 0.8 would pass against a limit of 1)
    key, secret = new_account(fake)
    first = fleet("first")
    bot = reverse_bot(first.reverse_url, api_key=key, secret=secret)
    bot.load_markets()
    bot.create_order(BTC, "limit", "buy", 0.8, 40000)
    first.stop()
    policy = tmp_path / "labelled.yaml"
    policy.write_text(FLEET_POLICY.format(rate=1000) + f"accounts:\n  desk: {{fingerprints: [{fingerprint(key)}]}}\n")

    second = launch(tmp_path / "second", policy, fake, pki,
                    extra_args=["--state", f"{redis_server.url}?timeout_ms=250"])
    try:
        bot = reverse_bot(second.reverse_url, api_key=key, secret=secret)
        bot.load_markets()
        with pytest.raises(ccxt.PermissionDenied):
            bot.create_order(BTC, "limit", "buy", 0.8, 40000)
        [moved] = [line for line in second.log_lines() if line.get("event") == "account_moved"]
    finally:
        second.stop()

    assert second.decisions(verdict="block")[-1]["reason"] == "TRADING_REDUCING"
    assert (moved["previous"], moved["holder"]) == (fingerprint(key), "label:desk")
    assert [r.params["quantity"] for r in fake.orders_received() if r.api_key == key] == ["0.8"]


def test_halt_when_issued_on_redis_then_every_sidecar_blocks_the_next_order(
    fleet: Callable[..., Sidecar], fake: FakeBinanceUsdm, redis_server: RedisServer
) -> None:
    sidecars = [fleet("a"), fleet("b")]
    key, secret = new_account(fake)
    bots = [reverse_bot(s.reverse_url, api_key=key, secret=secret) for s in sidecars]
    for bot in bots:
        bot.load_markets()

    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKWALL_")}
    halted = subprocess.run(
        [RISKWALL, "halt", "--state", redis_server.url, "--venue", "binanceusdm", "--account", fingerprint(key),
         "--reason", "fleet drill"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert halted.returncode == 0, halted.stderr

    for bot in bots:
        with pytest.raises(ccxt.PermissionDenied) as raised:
            bot.create_order(ETH, "limit", "buy", 0.01, 2000)
        assert "fleet drill" in str(raised.value)
    status = subprocess.run([RISKWALL, "status", "--state", redis_server.url], capture_output=True, text=True,
                            timeout=60, env=env, check=False)
    assert "fleet drill" in status.stdout
    resumed = subprocess.run(
        [RISKWALL, "resume", "--state", redis_server.url, "--venue", "binanceusdm", "--account", fingerprint(key),
         "--reason", "drill over"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    bots[1].create_order(ETH, "limit", "buy", 0.01, 2000)
    assert len([r for r in fake.orders_received() if r.api_key == key]) == 1


DUPLICATES_POLICY = """
rules:
  - id: duplicates
    type: duplicate_orders
    window: 1m
"""


def test_burst_when_three_sidecars_share_redis_then_one_of_many_identical_orders_is_admitted(
    tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, redis_server: RedisServer
) -> None:
    policy = tmp_path / "duplicates.yaml"
    policy.write_text(DUPLICATES_POLICY)
    url = f"{redis_server.url}?timeout_ms=250"
    sidecars: list[Sidecar] = []
    try:
        for number in range(3):
            sidecars.append(launch(tmp_path / f"d{number}", policy, fake, pki, extra_args=["--state", url]))
        key, secret = new_account(fake)

        # sixteen bots on three sidecars send the same order at the same moment, twice each
        admitted, refused = burst(sidecars, key, secret, clients=16, orders_each=2,
                                  place=lambda bot: bot.create_order(ETH, "limit", "buy", 0.01, 2100))

        assert admitted == 1
        assert refused == [ccxt.InvalidOrder] * 31
        assert len([r for r in fake.orders_received() if r.api_key == key]) == 1
        blocks = [line for sidecar in sidecars for line in sidecar.decisions(account=fingerprint(key),
                                                                             verdict="block")]
        [allowed] = [line for sidecar in sidecars for line in sidecar.decisions(account=fingerprint(key),
                                                                                verdict="allow")]
        assert len(blocks) == 31
        assert {(b["reason"], b["context"]["duplicate_of"]) for b in blocks} == {
            ("DUPLICATE_ORDER", allowed["decision_id"])}
    finally:
        for sidecar in sidecars:
            sidecar.stop()


OPEN_ORDERS_POLICY = """
rules:
  - id: open-orders
    type: max_open_orders
    per_symbol: 5
    per_account: 200
"""


@contextlib.contextmanager
def three_sidecars(tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, redis_server: RedisServer,
                   policy_text: str, name: str) -> Iterator[list[Sidecar]]:
    """Three sidecars on one policy sharing `redis_server`, stopped afterwards."""
    policy = tmp_path / f"{name}.yaml"
    policy.write_text(policy_text)
    # a generous timeout: three sidecars and sixteen bots share two cores here
    url = f"{redis_server.url}?timeout_ms=250"
    sidecars: list[Sidecar] = []
    try:
        for number in range(3):
            sidecars.append(launch(tmp_path / f"{name}{number}", policy, fake, pki, extra_args=["--state", url]))
        yield sidecars
    finally:
        for sidecar in sidecars:
            sidecar.stop()


def test_burst_when_three_sidecars_share_redis_then_exactly_the_open_orders_limit_rests(
    tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, redis_server: RedisServer
) -> None:
    prices = iter(range(1500, 1400, -1))  # distinct resting bids, handed out under the GIL
    with three_sidecars(tmp_path, fake, pki, redis_server, OPEN_ORDERS_POLICY, "open-orders") as sidecars:
        key, secret = new_account(fake)

        # sixteen bots on three sidecars each place two resting bids at the same moment: 32 orders, room for 5
        admitted, refused = burst(sidecars, key, secret, clients=16, orders_each=2,
                                  place=lambda bot: bot.create_order(ETH, "limit", "buy", 0.01, next(prices)))

        assert admitted == 5
        assert refused == [ccxt.InvalidOrder] * 27
        assert len([r for r in fake.orders_received() if r.api_key == key]) == 5
        blocks = [line for sidecar in sidecars for line in sidecar.decisions(account=fingerprint(key),
                                                                             verdict="block")]
        assert {(b["reason"], b["context"]["max_open_orders"], b["context"]["scope"]) for b in blocks} == {
            ("OPEN_ORDERS_EXCEED_MAX", "5", "symbol")}


DAILY_NOTIONAL_POLICY = """
rules:
  - id: daily-notional
    type: max_daily_notional
    notional: 100
"""


def test_burst_when_three_sidecars_share_redis_then_exactly_the_daily_notional_budget_is_admitted(
    tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, redis_server: RedisServer
) -> None:
    with three_sidecars(tmp_path, fake, pki, redis_server, DAILY_NOTIONAL_POLICY, "daily-notional") as sidecars:
        key, secret = new_account(fake)

        # sixteen bots on three sidecars each place two resting bids of 15 USDT (0.01 ETH at 1500) at the same
        # moment: 480 USDT of orders, a budget of 100: room for floor(100 / 15) = 6
        admitted, refused = burst(sidecars, key, secret, clients=16, orders_each=2,
                                  place=lambda bot: bot.create_order(ETH, "limit", "buy", 0.01, 1500))

        assert admitted == 6
        assert refused == [ccxt.InvalidOrder] * 26
        assert len([r for r in fake.orders_received() if r.api_key == key]) == 6
        lines = [line for sidecar in sidecars for line in sidecar.decisions(account=fingerprint(key))]
        blocks = [line for line in lines if line["verdict"] == "block"]
        assert len(blocks) == 26 and len(lines) == 32
        # a block saw the six admitted orders charged: 90 + 15
        assert {(b["reason"], b["context"]["daily_notional"], b["context"]["max_daily_notional"],
                 b["context"]["notional"], b["context"]["scope"]) for b in blocks} == {
            ("DAILY_NOTIONAL_EXCEEDS_MAX", "105", "100", "15", "account")}


GROSS_POLICY = """
rules:
  - id: gross
    type: max_gross_exposure
    notional: 3000
"""


def test_burst_when_three_sidecars_share_redis_then_exactly_the_gross_exposure_limit_rests(
    tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, redis_server: RedisServer
) -> None:
    with three_sidecars(tmp_path, fake, pki, redis_server, GROSS_POLICY, "gross") as sidecars:
        key, secret = new_account(fake)
        seer = reverse_bot(sidecars[0].reverse_url, api_key=key, secret=secret)
        seer.load_markets()
        mark = Decimal(str(seer.fetch_mark_price(ETH)["markPrice"]))  # kept in Redis: every sidecar values at it
        assert mark == 3000

        # sixteen bots on three sidecars each place two resting bids of 0.1 ETH (300 at the mark) at the same
        # moment: 32 orders, room for floor(3000 / 300) = 10
        admitted, refused = burst(sidecars, key, secret, clients=16, orders_each=2,
                                  place=lambda bot: bot.create_order(ETH, "limit", "buy", 0.1, 2000))

        assert admitted == 10
        assert refused == [ccxt.InvalidOrder] * 22
        assert len([r for r in fake.orders_received() if r.api_key == key]) == 10
        assert len(fake.open_orders(key)) == 10
        blocks = [line for sidecar in sidecars for line in sidecar.decisions(account=fingerprint(key),
                                                                             verdict="block")]
        # a block only ever saw the limit full: the admitted orders' 3000, plus its own 300
        assert len(blocks) == 22 and {(b["reason"], b["context"]["gross_exposure"], b["context"]["max_gross_exposure"],
                                       b["context"]["symbol"]) for b in blocks} == {
            ("GROSS_EXPOSURE_EXCEEDS_MAX", "3300", "3000", "ETHUSDT")}


def test_answer_when_redis_is_cut_off_as_it_arrives_then_its_fill_is_kept_and_learned_once_redis_is_back(
    tmp_path: Path, fake: FakeBinanceUsdm, pki: TlsMaterial, redis_server: RedisServer
) -> None:
    # the sidecar reaches Redis through a relay the test cuts the moment the venue has filled the order, before
    # its answer reaches the sidecar: what the answer teaches cannot be written. Reservations lapse after 1.5 s
    # here, so a fill that went unwritten would be counted by nothing soon after
    relay = TcpRelay(redis_server.port)
    policy = tmp_path / "policy.yaml"
    policy.write_text(FLEET_POLICY.format(rate=1000))
    url = f"redis://127.0.0.1:{relay.port}/0?timeout_ms=250&reservation_ttl_ms=1500"
    sidecar = launch(tmp_path / "cut", policy, fake, pki, extra_args=["--state", url])
    try:
        key, secret = new_account(fake)
        bot = reverse_bot(sidecar.reverse_url, api_key=key, secret=secret)
        bot.load_markets()
        bot.fetch_mark_price(BTC)
        fake.before_answer("POST", "/fapi/v1/order", relay.cut)
        bot.create_order(BTC, "market", "buy", 0.8)  # filled on the venue; the bot hears so

        with pytest.raises(ccxt.InvalidOrder, match="STATE_UNAVAILABLE"):
            bot.create_order(BTC, "limit", "buy", 0.1, 40000)  # the account's state lacks the fill: refused
        relay.restore()
        position = ""
        deadline = time.monotonic() + 20
        while position != "0.8" and time.monotonic() < deadline:
            time.sleep(0.2)
            with urllib.request.urlopen(f"http://127.0.0.1:{sidecar.admin_port}/v1/status", timeout=5) as answer:
                status = json.loads(answer.read())
            rows = status["exposure"].get(f"binanceusdm|{fingerprint(key)}", {})
            position = rows.get("BTCUSDT|both", {}).get("position", "")
        time.sleep(1.6)  # past the reservation's lapse: only the learned fill counts the 0.8 now
        with pytest.raises(ccxt.InvalidOrder, match="POSITION_EXCEEDS_MAX"):
            bot.create_order(BTC, "limit", "buy", 0.5, 40000)  # 0.8 + 0.5 > 1
        bot.create_order(BTC, "limit", "buy", 0.1, 40000)  # within it
    finally:
        sidecar.stop()
        relay.close()

    assert position == "0.8"
    assert [line["event"] for line in sidecar.log_lines() if line.get("event", "").startswith("learn_")][:1] == [
        "learn_failed"]
    assert any(line.get("event") == "learn_retried" for line in sidecar.log_lines())
