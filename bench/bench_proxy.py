"""Throughput and latency of riskwall against bare mitmproxy, in one run, on loopback; and the engine alone.

    python bench/bench_proxy.py                      # or: make bench
    python bench/bench_proxy.py --requests 5000 --connections 1,4,8 --json results.json
    python bench/bench_proxy.py --regimes steady --connections 1 --skip-ws --skip-engine   # one quick cell

Targets, each forwarding the same signed-looking Binance USDⓈ-M orders to minimal local upstreams that answer
like Binance (REST `POST /fapi/v1/order`; and, on a second listener of the same proxy process, WebSocket
`order.place` frames on `/ws-fapi/v1` and a public `aggTrade` stream on `/ws/btcusdt@aggTrade`, see bench_ws.py):

    upstream direct     the client straight to the upstream (what the proxies add is measured against it)
    mitmdump            bare mitmproxy: `mitmdump --mode reverse:...` (one listener per upstream), no scripts
    riskwall memory://  `riskwall run` with a reverse listener per upstream (the WebSocket one as
                        `--reverse binanceusdm@HOST:PORT=URL`) and in-memory state
    riskwall redis://   the same with the Redis store (only when redis://127.0.0.1:6379 answers)

All targets run side by side for the whole run, and every cell below is measured on the targets taking turns:
its --requests orders per target are split into --rounds rounds (default 4), every target takes a turn in each
round and the order is reversed every other round, so a change in the machine's speed during the cell hits its
rows alike. REST cells: every --connections count (default 1 and 4 keep-alive connections) in both order regimes:

    steady       the upstream answers each order FILLED (executedQty = origQty) and the orders alternate BUY and
                 SELL: no order rests, the position stays within a few lots of zero, so the firewall's state
                 stays the same size (only its bounded memory of final orders grows)
    accumulated  the upstream answers each order NEW and every order is a BUY: each rests on the book, so
                 riskwall's open orders pile up; before these cells each riskwall target gets --resting
                 unmeasured resting orders, so they are measured with thousands on the book

(the upstream tells them apart by the order's newClientOrderId: `fill-...` or `rest-...`). Then the WebSocket
rows, and last, with the proxies stopped, `riskwall policy bench` on the same policy for binanceusdm, bybit and
okx: the engine's µs per order (parse, decide, learn) with no proxy in the way; and, with Redis, the floor of one
round trip to it (PING and a no-op script through the store's own connection).

Every order passes every rule (the policy's limits are far away, and the steady regime's position stays near
zero), so each request or order frame takes the full path: parse, rules, reserve in the store, forward, learn
from the answer, one JSON log line. Market-data frames are not read by riskwall at all: that row measures what
merely relaying them costs. Reported per row: requests (frames)/s, p50 and p99 latency (round trip) as the
client saw it, the proxy process's CPU time per request (frame), the ratios to bare mitmdump in the same cell,
and for riskwall the book it holds after the row (from its admin API); then the WebSocket order's CPU cost
against the REST order's, the CPU riskwall adds per market-data frame, the engine's stages, and a summary of
the ratios to bare mitmdump per connections and regime. The upstreams run in their own processes so they do
not share the client's GIL.

Benchmarks are not tests: nothing is asserted. Every loop is bounded by its count (--requests, --resting,
--ws-orders, --ws-frames, --engine-orders) and by --time-limit. Loopback only; the machine's other load shows
up in the numbers, so compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.client
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.sidecar import free_port, start_sidecar, wait_for_port  # noqa: E402

from riskwall.state.breaker import without_password  # noqa: E402
from riskwall.state.memory import FINAL_ORDER_MEMORY_COUNT  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ws  # noqa: E402

BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/15"
STARTUP_S = 30.0
API_KEY = "bench-" + "k" * 58
API_SECRET = "bench-secret-" + "s" * 51
ORDER_QTY = Decimal("0.001")
ENGINE_VENUES = ("binanceusdm", "bybit", "okx")

# Limits far from anything the run reaches, so no order is ever blocked: the accumulated regime rests at most a
# few tens of thousands of 0.001 BTC buys (the position limit counts them), the steady one keeps the position
# within a few lots of zero. BTC-USDT-SWAP is OKX's name for the engine bench's okx orders (1 contract each).
POLICY = """\
version: 1
mode: enforce
accounts: {}
rules:
  - {id: symbols, type: allowed_symbols, allow: [BTCUSDT, BTC-USDT-SWAP]}
  - {id: order-types, type: order_types, allow: [LIMIT, MARKET]}
  - {id: order-qty, type: max_order_qty, default: 1}
  - {id: order-notional, type: max_order_notional, default: 1000000}
  - {id: position, type: max_position, default: {qty: 1000000}}
  - {id: order-rate, type: order_rate, limits: ["1000000/1s"], per: account}
"""

STEADY, ACCUMULATED = "steady", "accumulated"
REGIMES = (STEADY, ACCUMULATED)
FILL_PREFIX, REST_PREFIX = "fill-", "rest-"


# ---- the upstream: a tiny Binance-shaped order endpoint, run as its own process --------------------------


class _Upstream(BaseHTTPRequestHandler):
    """`POST /fapi/v1/order`: an order whose newClientOrderId starts with `fill-` is answered FILLED in full at
    its price (the steady regime), any other NEW with nothing executed (it rests: the accumulated regime)."""

    protocol_version = "HTTP/1.1"
    # head and body in one segment, sent at once: else Nagle and delayed ACKs add 40 ms to every answer
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    order_ids = itertools.count(8_000_000_001)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = dict(p.split("=", 1) for p in body.split("&") if "=" in p)
        if self.path.split("?", 1)[0] != "/fapi/v1/order":
            self._send(404, {"code": -1000, "msg": "unknown path"})
            return
        now = int(time.time() * 1000)
        client_id = params.get("newClientOrderId", "bench")
        price, quantity = params.get("price", "0"), params.get("quantity", "0")
        filled = client_id.startswith(FILL_PREFIX)
        if filled:
            try:
                quote = str(Decimal(price) * Decimal(quantity))
            except InvalidOperation:
                quote = "0"
            status, avg, executed = "FILLED", price, quantity
        else:
            status, avg, executed, quote = "NEW", "0.00", "0", "0"
        self._send(200, {
            "orderId": next(self.order_ids), "symbol": params.get("symbol", "BTCUSDT"), "status": status,
            "clientOrderId": client_id, "price": price, "avgPrice": avg, "origQty": quantity,
            "executedQty": executed, "cumQty": executed, "cumQuote": quote,
            "timeInForce": params.get("timeInForce", "GTC"), "type": params.get("type", "LIMIT"),
            "reduceOnly": False, "closePosition": False, "side": params.get("side", "BUY"), "positionSide": "BOTH",
            "stopPrice": "0", "workingType": "CONTRACT_PRICE", "priceProtect": False,
            "origType": params.get("type", "LIMIT"), "priceMatch": "NONE", "selfTradePreventionMode": "NONE",
            "goodTillDate": 0, "updateTime": now,
        })

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def serve_upstream(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Upstream)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


# ---- the client -----------------------------------------------------------------------------------------

_client_ids = itertools.count(1)  # every order of the run gets its own newClientOrderId, as on a real venue


def order_body(n: int, regime: str) -> tuple[bytes, dict[str, str]]:
    """The n-th order of a load: steady ones alternate BUY and SELL and ask to be filled, accumulated ones are
    BUYs that rest."""
    steady = regime == STEADY
    query = urlencode({
        "symbol": "BTCUSDT", "side": "SELL" if steady and n % 2 else "BUY", "type": "LIMIT", "timeInForce": "GTC",
        "quantity": str(ORDER_QTY), "price": "50000",
        "newClientOrderId": f"{FILL_PREFIX if steady else REST_PREFIX}{next(_client_ids)}",
        "newOrderRespType": "RESULT", "recvWindow": "10000", "timestamp": str(int(time.time() * 1000)),
    })
    signature = hmac.new(API_SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
    body = f"{query}&signature={signature}".encode()
    headers = {"X-MBX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded",
               "Content-Length": str(len(body))}
    return body, headers


@dataclass
class Load:
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def add(self, latencies_s: list[float], errors: int, statuses: dict[int, int]) -> None:
        """Another load's answers counted in this one (its time is the caller's to add)."""
        self.latencies_s.extend(latencies_s)
        self.errors += errors
        for status, count in statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count


def drive(port: int, requests: int, connections: int, time_limit_s: float, regime: str) -> Load:
    """`requests` orders over `connections` keep-alive connections, stopping at `time_limit_s`."""
    load = Load()
    lock = threading.Lock()
    counter = itertools.count()
    deadline = time.monotonic() + time_limit_s

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        latencies: list[float] = []
        errors = 0
        statuses: dict[int, int] = {}
        try:
            while time.monotonic() < deadline:
                n = next(counter)
                if n >= requests:
                    break
                body, headers = order_body(n, regime)
                started = time.perf_counter()
                try:
                    connection.request("POST", "/fapi/v1/order", body=body, headers=headers)
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    errors += 1
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status != 200:
                    errors += 1
        finally:
            connection.close()
        with lock:
            load.add(latencies, errors, statuses)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=time_limit_s + 15)
    load.elapsed_s = time.perf_counter() - started
    return load


# ---- targets --------------------------------------------------------------------------------------------

REST, WS_ORDERS, WS_MARKET = "rest", "ws_orders", "ws_market"
KINDS = (REST, WS_ORDERS, WS_MARKET)


@dataclass
class Result:
    """One row. REST rows have `connections` and `regime`. For the WebSocket rows (`kind` ws_orders, ws_market)
    `requests` counts frames (answered order frames, or market-data frames received), `rps` is frames/s and
    `cpu_us_per_request` is per frame."""

    target: str
    kind: str = REST
    connections: int | None = None
    regime: str | None = None
    requests: int = 0
    errors: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_us_per_request: float | None = None
    statuses: dict[int, int] = field(default_factory=dict)
    note: str = ""
    # riskwall's refusals and unlearnt answers in the row and its warm-up, from its log ({"block RULE REASON": n})
    riskwall_events: dict[str, int] = field(default_factory=dict)
    # riskwall's book after the row, from its admin API (`GET /v1/status`): position, pending_buy, pending_sell
    # (BTC, summed over the run's accounts) and resting_orders (pending buys and sells / the order size)
    book: dict[str, Any] | None = None
    # the proxy's CPU per request (frame) minus bare mitmdump's, in the same cell (kind, connections, regime)
    added_cpu_us_vs_mitmdump: float | None = None
    # ws_orders rows: CPU per order frame / CPU per REST order, the same proxy process (see compare())
    cpu_vs_rest_order: float | None = None
    # riskwall redis:// REST rows: the Redis server's time in scripts per request (µs, INFO commandstats) and the
    # script calls per request
    redis_us_per_request: float | None = None
    redis_scripts_per_request: float | None = None


@dataclass(frozen=True)
class Upstreams:
    rest: int
    ws: int | None  # None: --skip-ws


class DecisionLog:
    """riskwall's JSON log (its stdout), read from where the last read stopped: what it refused since, and the
    answers it could not learn from. The bench's policy blocks nothing, so any refusal is the sidecar's own
    (e.g. `riskwall.state-store STATE_UNAVAILABLE`: a store call slower than the breaker's timeout fails closed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def news(self) -> dict[str, int]:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                data = log.read()
        except OSError:
            return {}
        data = data[:data.rfind(b"\n") + 1]  # a line still being written is read next time
        self.offset += len(data)
        seen: dict[str, int] = {}
        for raw in data.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("event") == "decision" and line.get("verdict") != "allow":
                what = f"{line.get('verdict')} {line.get('rule_id')} {line.get('reason')}"
            elif line.get("event") == "learn_failed":
                what = f"learn_failed {line.get('error')}"
            else:
                continue
            seen[what] = seen.get(what, 0) + 1
        return seen


def describe_news(news: dict[str, int]) -> str:
    return "riskwall: " + ", ".join(f"{count} {what}" for what, count in sorted(news.items())) if news else ""


@dataclass(frozen=True)
class Target:
    """A running target: its REST and WebSocket ports, the process whose CPU is counted, riskwall's admin port and
    decision log."""

    name: str
    rest_port: int
    ws_port: int | None
    pid: int | None = None
    admin_port: int | None = None  # riskwall only: it keeps a book
    log: DecisionLog | None = None
    redis_url: str | None = None  # riskwall redis:// only: the server whose time per order is read


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def read_book(admin_port: int | None) -> dict[str, Any] | None:
    """What riskwall holds for the run's symbol, from `GET /v1/status`; None when it cannot be read."""
    if admin_port is None:
        return None
    connection = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
    try:
        connection.request("GET", "/v1/status")
        status = json.loads(connection.getresponse().read())
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()
    totals = {"position": Decimal(0), "pending_buy": Decimal(0), "pending_sell": Decimal(0)}
    try:
        for account, rows in (status.get("exposure") or {}).items():
            if not account.startswith("binanceusdm|"):
                continue
            for key, row in rows.items():
                if key.startswith("BTCUSDT|"):
                    for name in totals:
                        totals[name] += Decimal(row.get(name, "0"))
    except (AttributeError, InvalidOperation, TypeError):
        return None
    book: dict[str, Any] = {name: str(value.normalize()) for name, value in totals.items()}
    book["resting_orders"] = int((totals["pending_buy"] + totals["pending_sell"]) / ORDER_QTY)
    return book


def latency_stats(result: Result, latencies_s: list[float]) -> None:
    latencies = sorted(latencies_s)
    if latencies:
        result.p50_ms = latencies[len(latencies) // 2] * 1000
        result.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000


@dataclass
class _Row:
    """What one target's turns in one cell add up to (measure_cell)."""

    load: Load = field(default_factory=Load)
    cpu_s: float | None = 0.0
    redis_us: float | None = 0.0
    redis_calls: int | None = 0


def measure_cell(targets: list[Target], connections: int, regime: str, args: argparse.Namespace) -> list[Result]:
    """One REST row per target: --warmup unmeasured orders each, then --requests measured ones each over
    `connections` connections, in --rounds turns: every target takes a turn in each round, the order reversed
    every other round (ABC CBA ABC ...), so a change in the machine's speed during the cell meets every target
    alike instead of the one measured last. A target's row adds up its turns; its time limit is --time-limit in
    all."""
    for target in targets:
        drive(target.rest_port, args.warmup, min(connections, max(args.warmup, 1)), args.time_limit, regime)
    rounds = min(args.rounds, args.requests)
    turns = [args.requests // rounds + (1 if n < args.requests % rounds else 0) for n in range(rounds)]
    rows = {target.name: _Row() for target in targets}
    for number, requests in enumerate(turns):
        for target in targets if number % 2 == 0 else targets[::-1]:
            row = rows[target.name]
            left_s = args.time_limit - row.load.elapsed_s
            if left_s <= 0:
                continue
            cpu_before = cpu_seconds(target.pid)
            redis_before = redis_time(target.redis_url)
            load = drive(target.rest_port, requests, connections, left_s, regime)
            cpu_after = cpu_seconds(target.pid)
            redis_after = redis_time(target.redis_url)
            row.load.add(load.latencies_s, load.errors, load.statuses)
            row.load.elapsed_s += load.elapsed_s
            row.cpu_s = None if row.cpu_s is None or cpu_before is None or cpu_after is None \
                else row.cpu_s + cpu_after - cpu_before
            if row.redis_us is None or row.redis_calls is None or redis_before is None or redis_after is None:
                row.redis_us = row.redis_calls = None
            else:
                row.redis_us += redis_after[0] - redis_before[0]
                row.redis_calls += redis_after[1] - redis_before[1]
    return [row_result(target, connections, regime, rows[target.name], args) for target in targets]


def row_result(target: Target, connections: int, regime: str, row: _Row, args: argparse.Namespace) -> Result:
    load = row.load
    answered = len(load.latencies_s)
    result = Result(target.name, REST, connections, regime, answered, load.errors, statuses=load.statuses)
    if answered:
        result.rps = answered / load.elapsed_s
        if row.cpu_s is not None:
            result.cpu_us_per_request = row.cpu_s / answered * 1e6
        if row.redis_us is not None and row.redis_calls is not None:
            result.redis_us_per_request = row.redis_us / answered
            result.redis_scripts_per_request = row.redis_calls / answered
    latency_stats(result, load.latencies_s)
    if answered < args.requests:
        result.note = f"stopped at the {args.time_limit:.0f} s limit" if not load.errors else "errors"
    elif load.errors:
        result.note = f"statuses {dict(sorted(load.statuses.items()))}"
    riskwall_says(result, target)
    return result


def redis_time(url: str | None) -> tuple[float, int] | None:
    """The Redis server's time in script calls so far (µs: FCALL, EVALSHA, EVAL, the commands they run included)
    and how many there were, from INFO commandstats (server-wide: the bench is its only client while it runs);
    None without Redis. Commands a script runs are counted in their own entries too, so only scripts are summed."""
    if url is None:
        return None
    import redis  # noqa: TID251 - the benchmark reads the server's own counters

    client = redis.Redis.from_url(redis_py_url(url), socket_timeout=5)
    try:
        stats = client.info("commandstats")
    except redis.RedisError:
        return None
    finally:
        client.close()
    scripts = [stats[name] for name in ("cmdstat_fcall", "cmdstat_evalsha", "cmdstat_eval") if name in stats]
    return sum(float(v["usec"]) for v in scripts), sum(int(v["calls"]) for v in scripts)


def redis_floor(url: str, count: int, time_limit_s: float) -> dict[str, Any]:
    """What one round trip to this Redis costs at least, as riskwall's store makes it (its own connection, `Link`,
    on the asyncio loop): `count` PINGs and `count` no-op scripts (`EVAL "return 1" 0`), one at a time, stopping at
    `time_limit_s`; their p50 wall times (µs), and the server's own time per no-op script (INFO commandstats).
    Each order costs two such round trips (its reservation; its answer's learning and release), each with its
    script's own time on top: the floor a Redis store's latency over memory:// cannot go below on this machine."""
    import asyncio
    import statistics

    from riskwall.state.redis import Link, make_client

    async def run() -> dict[str, Any]:
        client = make_client(redis_py_url(url))
        link = Link(client)
        deadline = time.monotonic() + time_limit_s
        timings: dict[str, list[float]] = {"ping": [], "script": []}
        try:
            for name, command in (("ping", ("PING",)), ("script", ("EVAL", "return 1", 0))):
                for _ in range(count):
                    if time.monotonic() > deadline:
                        break
                    began = time.perf_counter_ns()
                    await link.send([command])
                    timings[name].append((time.perf_counter_ns() - began) / 1000)
        finally:
            await link.close()
            await client.aclose()
        return {f"{name}_p50_us": round(statistics.median(values), 1) if values else None
                for name, values in timings.items()} | {"samples": {n: len(v) for n, v in timings.items()}}

    before = redis_time(url)
    try:
        report = asyncio.run(run())
    except Exception as exc:  # a benchmark reports what failed and goes on
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}
    after = redis_time(url)
    scripts = report["samples"]["script"]
    if before is not None and after is not None and scripts and after[1] - before[1] >= scripts:
        report["script_server_us"] = round((after[0] - before[0]) / (after[1] - before[1]), 1)
    return report


def redis_floor_line(report: dict[str, Any]) -> str:
    if "error" in report:
        return f"Redis round trip floor: not measured ({report['error']})"
    server = report.get("script_server_us")
    return (f"Redis round trip floor (riskwall's own connection, one at a time): PING p50 {report['ping_p50_us']} us,"
            f" a no-op script p50 {report['script_p50_us']} us"
            + (f" ({server} us of it in the server)" if server is not None else "")
            + f"; an order makes two round trips (reserve; learn and release), each with its script's time on top "
              f"(the 'Redis in scripts' column): issue 12 allows {REDIS_P50_OVER_MEMORY_US:.0f} us over memory:// "
              "for all of it")


def riskwall_says(result: Result, target: Target) -> None:
    """riskwall's book after the row, and what its log shows of refusals and unlearnt answers (in the note)."""
    result.book = read_book(target.admin_port)
    if target.log is not None:
        result.riskwall_events = target.log.news()
        result.note = "; ".join(n for n in (result.note, describe_news(result.riskwall_events)) if n)


def ws_result(target: Target, kind: str, load: bench_ws.WsLoad) -> Result:
    result = Result(target.name, kind, requests=load.count, errors=load.errors, note=load.note)
    if load.count and load.elapsed_s > 0:
        result.rps = load.count / load.elapsed_s
    latency_stats(result, load.latencies_s)
    if load.cpu_before is not None and load.cpu_after is not None and load.count:
        result.cpu_us_per_request = (load.cpu_after - load.cpu_before) / load.count * 1e6
    return result


def measure_ws_orders(target: Target, args: argparse.Namespace) -> Result:
    assert target.ws_port is not None
    load = bench_ws.drive_orders(target.ws_port, args.ws_orders, args.ws_connections, args.warmup, args.time_limit,
                                 lambda: cpu_seconds(target.pid), API_KEY, API_SECRET)
    result = ws_result(target, WS_ORDERS, load)
    riskwall_says(result, target)
    return result


def measure_ws_market(target: Target, args: argparse.Namespace) -> Result:
    assert target.ws_port is not None
    result = ws_result(target, WS_MARKET, bench_ws.drive_market(target.ws_port, args.ws_frames, args.time_limit,
                                                                 lambda: cpu_seconds(target.pid)))
    if target.log is not None:
        result.riskwall_events = target.log.news()
        result.note = "; ".join(n for n in (result.note, describe_news(result.riskwall_events)) if n)
    return result


@contextlib.contextmanager
def process(command: list[str], ports: list[int], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    with (workdir / "out.log").open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        deadline = time.monotonic() + STARTUP_S
        if not all(wait_for_port(port, deadline) for port in ports) or proc.poll() is not None:
            raise RuntimeError(f"{command[0]} did not start: {(workdir / 'out.log').read_text()[-2000:]}")
        yield proc
    finally:
        stop(proc, signal.SIGINT)


def stop(proc: subprocess.Popen[bytes], how: signal.Signals) -> None:
    if proc.poll() is None:
        proc.send_signal(how)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


TargetFactory = Callable[[Upstreams, Path], contextlib.AbstractContextManager[Target]]


@contextlib.contextmanager
def direct(upstreams: Upstreams, workdir: Path) -> Iterator[Target]:
    yield Target("upstream direct", upstreams.rest, upstreams.ws)


@contextlib.contextmanager
def mitmdump(upstreams: Upstreams, workdir: Path) -> Iterator[Target]:
    binary = shutil.which("mitmdump", path=str(BIN)) or shutil.which("mitmdump")
    if binary is None:
        raise RuntimeError("mitmdump not found")
    port = free_port()
    # a second reverse listener for the WebSocket upstream: mitmproxy forwards the upgrade and relays the frames
    ws_port = free_port() if upstreams.ws else None
    ws_mode = ["--mode", f"reverse:http://127.0.0.1:{upstreams.ws}@127.0.0.1:{ws_port}"] if upstreams.ws else []
    command = [binary, "--mode", f"reverse:http://127.0.0.1:{upstreams.rest}@127.0.0.1:{port}", *ws_mode, "-q",
               "--set", f"confdir={workdir / 'confdir'}", "--set", "termlog_verbosity=error"]
    with process(command, [port, *([ws_port] if ws_port else [])], workdir) as proc:
        yield Target("mitmdump (no addons)", port, ws_port, proc.pid)


def riskwall(state: str, label: str) -> TargetFactory:
    @contextlib.contextmanager
    def run(upstreams: Upstreams, workdir: Path) -> Iterator[Target]:
        policy = workdir / "policy.yaml"
        policy.write_text(POLICY)
        ws_port = free_port() if upstreams.ws else None
        # the venue's WebSocket host gets a listener of its own (`--reverse VENUE@HOST:PORT=URL`)
        ws_listener = (["--reverse", f"binanceusdm@127.0.0.1:{ws_port}=http://127.0.0.1:{upstreams.ws}"]
                       if upstreams.ws else [])
        sidecar = start_sidecar(workdir, policy, upstreams={"binanceusdm": f"http://127.0.0.1:{upstreams.rest}"},
                                upstream_ca=None,
                                extra_args=["--state", state, "--policy-poll", "0", *ws_listener])
        try:
            if ws_port and not wait_for_port(ws_port, time.monotonic() + STARTUP_S):
                raise RuntimeError(f"riskwall's WebSocket listener did not start: {sidecar.output()[-2000:]}")
            yield Target(label, sidecar.reverse_port, ws_port, sidecar.process.pid, sidecar.admin_port,
                         DecisionLog(sidecar.stdout_path), state if state.startswith("redis") else None)
        finally:
            sidecar.stop()

    return run


def redis_answers(url: str) -> str | None:
    """None when Redis answers PING at `url` (any URL riskwall's store takes: a password, TLS, a socket) and
    riskwall's Redis store imports; else why not, with no password in it. `--redis off` asks for no Redis rows."""
    if url == "off":
        return "not asked for (--redis off)"
    try:
        import redis  # noqa: TID251 - the benchmark asks the server itself

        import riskwall.state.redis  # noqa: F401 - the store's own Redis client, or why not
        from riskwall.state import UnsupportedStateUrl
    except ImportError as exc:
        return f"riskwall has no Redis store ({exc})"
    try:
        redis_url = redis_py_url(url)
    except UnsupportedStateUrl as exc:
        return str(exc)  # names the URL without its password
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"no Redis answers at {without_password(url)} ({type(exc).__name__}: {exc})"[:300]
    finally:
        client.close()
    return None


def drop_run_store(url: str) -> None:
    """Remove what the Redis rows wrote: the store `url` names, a throwaway one (`throwaway_url`), all of it."""
    import asyncio

    from riskwall.state.redis import drop_throwaway_store

    asyncio.run(drop_throwaway_store(url))


def redis_py_url(url: str) -> str:
    """`url` (as `riskwall run --state` takes it) without riskwall's own options: what redis-py connects to."""
    from riskwall.state.redis import parse_url

    return parse_url(url)[0]


# ---- the engine alone: `riskwall policy bench` ------------------------------------------------------------


def engine_bench(policy: Path, venue: str, orders: int, time_limit_s: float,
                 state: str = "memory://") -> dict[str, Any]:
    """`riskwall policy bench POLICY --venue V --orders N --state URL --json`: its report, or {"error": why}."""
    command = [str(BIN / "riskwall"), "policy", "bench", str(policy), "--venue", venue, "--orders", str(orders),
               "--json", *(["--state", state] if state != "memory://" else [])]
    try:
        done = subprocess.run(command, capture_output=True, timeout=time_limit_s, cwd=ROOT, check=False,
                              env={k: v for k, v in os.environ.items() if not k.startswith("RISKWALL_")})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"venue": venue, "state": state, "error": f"{type(exc).__name__}: {exc}"[:200]}
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    if done.returncode != 0 or not isinstance(report, dict):
        why = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        return {"venue": venue, "state": state, "error": f"exit {done.returncode}: {(why or [''])[-1][:160]}"}
    report["command"] = " ".join(["riskwall", *command[1:3], "POLICY", *map(without_password, command[4:])])
    return report


# ---- memory: a sidecar's RSS as orders go through it -----------------------------------------------------


def rss_mb(pid: int | None) -> float | None:
    """Resident set size of a process in MB (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_bench(upstreams: Upstreams, orders: int, connections: int, time_limit_s: float) -> dict[str, Any]:
    """A fresh riskwall memory:// sidecar fed `orders` filled orders (the steady regime: each order ends final, so
    the store's memory of final orders grows to its bound), its RSS read after a warm-up and after every tenth of
    the orders. Steps stop at `time_limit_s` for the whole stage."""
    report: dict[str, Any] = {"orders": orders, "connections": connections, "samples": []}
    deadline = time.monotonic() + time_limit_s
    with tempfile.TemporaryDirectory(prefix="riskwall-bench-") as tmp, \
            riskwall("memory://", "riskwall memory:// (RSS)")(Upstreams(upstreams.rest, None), Path(tmp)) as target:
        warmup = drive(target.rest_port, MEMORY_WARMUP_ORDERS, connections, time_limit_s, STEADY)
        report["warmup"] = {"orders": len(warmup.latencies_s), "errors": warmup.errors}
        start = rss_mb(target.pid)
        report["rss_start_mb"] = start
        done = errors = 0
        step = max(orders // 10, 1)
        while done < orders and time.monotonic() < deadline:
            load = drive(target.rest_port, min(step, orders - done), connections, deadline - time.monotonic(), STEADY)
            if not load.latencies_s:
                break
            done += len(load.latencies_s)
            errors += load.errors
            report["samples"].append({"orders": done, "rss_mb": rss_mb(target.pid)})
        report.update(measured=done, errors=errors, rss_end_mb=rss_mb(target.pid), book=read_book(target.admin_port))
        if target.log is not None:
            report["riskwall_events"] = target.log.news()
    if done < orders:
        report["note"] = f"stopped after {done} orders at the {time_limit_s:.0f} s limit"
    end = report.get("rss_end_mb")
    if start is not None and end is not None and done:
        report["growth_per_100k_mb"] = (end - start) / done * 100_000
    return report


def memory_table(report: dict[str, Any]) -> str:
    if "error" in report:
        return f"Memory: failed: {report['error']}"
    lines = [f"Memory: RSS of a fresh riskwall memory:// sidecar through {report['measured']} filled orders over "
             f"{report['connections']} connections (after {report['warmup']['orders']} unmeasured), "
             f"{report['errors']} errors"
             + (f"; {report['note']}" if report.get("note") else "")]
    samples = "  ".join(f"{s['orders']}: {s['rss_mb']:.1f}" for s in report["samples"] if s["rss_mb"] is not None)
    lines.append(f"RSS MB at the start {report['rss_start_mb']:.1f}; after N orders: {samples}")
    growth = report.get("growth_per_100k_mb")
    if growth is not None:
        lines.append(f"growth: {growth:.1f} MB per 100,000 orders over the run (the store keeps at most "
                     f"{FINAL_ORDER_MEMORY_COUNT:,} final orders, so growth flattens once that many have ended)")
    lines.append(f"(issue 12 targets: at most {MEMORY_GROWTH_TARGET_MB:.0f} MB per 100,000 orders and at most "
                 f"{MEMORY_MILLION_TARGET_MB:.0f} MB after 1,000,000 orders: --memory-orders 1000000 "
                 "--memory-time-limit 5400; printed, not asserted)")
    return "\n".join(lines)


# ---- report ---------------------------------------------------------------------------------------------

SECTIONS = {
    REST: ("REST orders: POST /fapi/v1/order, one request in flight per connection; ratios to bare mitmdump in the "
           "same cell (connections, regime)", "requests", "req/s", "CPU us/req"),
    WS_ORDERS: ("WS orders: order.place frames on /ws-fapi/v1 (answered NEW: they rest), one socket per "
                "connection, one frame in flight each", "frames", "frames/s", "CPU us/frame"),
    WS_MARKET: ("WS market data: aggTrade frames pushed on /ws/btcusdt@aggTrade to one subscribed socket",
                "frames", "frames/s", "CPU us/frame"),
}
REGIME_NOTES = {STEADY: "each order FILLED, sides alternate: no order rests, the position stays near zero",
                ACCUMULATED: "each order rests (NEW): the book grows"}
ADDED_CPU_TARGET_US = 20.0
# issue 12's targets, printed next to the numbers (not asserted: a benchmark is not a test)
MEMORY_RPS_TARGET, MEMORY_P50_TARGET, REDIS_P50_OVER_MEMORY_US = 1.3, 0.75, 150.0
# round trips of each kind the Redis floor measures (bounded by --time-limit as well)
REDIS_FLOOR_CALLS = 2000
ENGINE_PARSE_DECIDE_TARGET_US, ENGINE_LEARN_TARGET_US = 20.0, 15.0
MEMORY_GROWTH_TARGET_MB, MEMORY_MILLION_TARGET_MB = 16.0, 120.0
MEMORY_WARMUP_ORDERS = 1000


def cell(r: Result) -> tuple[str, int | None, str | None]:
    return r.kind, r.connections, r.regime


def mitmdump_row(results: list[Result], r: Result) -> Result | None:
    return next((x for x in results if cell(x) == cell(r) and x.target.startswith("mitmdump") and x.requests), None)


def rest_row_for_ws(results: list[Result], target: str, ws_connections: int) -> Result | None:
    """The REST row a WS order row is compared with: same target, accumulated (WS orders rest too), the same
    number of connections when measured, else the most connections."""
    rows = [x for x in results if x.kind == REST and x.target == target and x.cpu_us_per_request]
    rows.sort(key=lambda x: (x.regime == ACCUMULATED, x.connections == ws_connections, x.connections or 0))
    return rows[-1] if rows else None


def compare(results: list[Result], ws_connections: int) -> None:
    """Fill in each row's CPU added over bare mitmdump, and each WS order row's CPU against its REST order."""
    for r in results:
        base = mitmdump_row(results, r)
        if base is not None and base is not r and base.cpu_us_per_request is not None \
                and r.cpu_us_per_request is not None:
            r.added_cpu_us_vs_mitmdump = r.cpu_us_per_request - base.cpu_us_per_request
        rest = rest_row_for_ws(results, r.target, ws_connections) if r.kind == WS_ORDERS else None
        if rest is not None and rest.cpu_us_per_request and r.cpu_us_per_request:
            r.cpu_vs_rest_order = r.cpu_us_per_request / rest.cpu_us_per_request


def digits(r: Result) -> int:
    """Decimals worth printing for a row's CPU per request: /proc counts CPU in clock ticks (10 ms), so a tenth of a
    microsecond means something only over 10,000 requests (frames) or more."""
    return 1 if r.requests and 1e6 / os.sysconf("SC_CLK_TCK") / r.requests < 1 else 0


def ratio(value: float | None, reference: float | None) -> str:
    return f"{value / reference:.2f}x" if reference and value else "-"


def table(results: list[Result], ws_connections: int) -> str:
    lines: list[str] = []
    for kind in KINDS:
        rows = [r for r in results if r.kind == kind]
        if not rows:
            continue
        title, count, rate, cpu_label = SECTIONS[kind]
        cell_head = f"{'conns':>5} {'regime':<11} " if kind == REST else ""
        header = (f"{cell_head}{'target':<20} {count:>8} {'errors':>6} {rate:>8} {'p50 ms':>7} {'p99 ms':>7} "
                  f"{cpu_label:>12} {'+CPU vs mitm':>12} {rate + '/mitm':>14} {'p50/mitm':>8} {'p99/mitm':>8} "
                  f"{'resting':>7}  note")
        if lines:
            lines.append("")
        lines += [title, header, "-" * len(header)]
        previous: tuple[str, int | None, str | None] | None = None
        for r in rows:
            if previous is not None and cell(r) != previous:
                lines.append("")
            previous = cell(r)
            base = mitmdump_row(results, r)
            cpu = f"{r.cpu_us_per_request:.{digits(r)}f}" if r.cpu_us_per_request is not None else "-"
            added = f"{r.added_cpu_us_vs_mitmdump:+.{digits(r)}f}" if r.added_cpu_us_vs_mitmdump is not None else "-"
            p50, p99 = (f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}") if r.p50_ms else ("-", "-")
            resting = str(r.book["resting_orders"]) if r.book and kind != WS_MARKET else "-"
            cell_text = f"{r.connections:>5} {r.regime:<11} " if kind == REST else ""
            lines.append(
                f"{cell_text}{r.target:<20} {r.requests:>8} {r.errors:>6} {r.rps:>8.0f} {p50:>7} {p99:>7} {cpu:>12} "
                f"{added:>12} {ratio(r.rps, base.rps if base else None):>14} "
                f"{ratio(r.p50_ms, base.p50_ms if base else None):>8} "
                f"{ratio(r.p99_ms, base.p99_ms if base else None):>8} {resting:>7}  {r.note}".rstrip()
            )
    if any(r.kind == REST for r in results):
        present = {r.regime for r in results if r.kind == REST}
        lines += ["", "regimes: " + ";  ".join(f"{name}: {text}" for name, text in REGIME_NOTES.items()
                                               if name in present),
                  "resting: the orders riskwall holds open after the row (its pending buys and sells / 0.001, from "
                  "GET /v1/status)"]
    summary = []
    for r in results:
        rest = rest_row_for_ws(results, r.target, ws_connections) if r.kind == WS_ORDERS else None
        if r.cpu_vs_rest_order is not None and rest is not None and rest.cpu_us_per_request is not None:
            summary.append(f"{r.target} {r.cpu_vs_rest_order:.2f}x ({r.cpu_us_per_request:.0f} / "
                           f"{rest.cpu_us_per_request:.0f} us)")
    if summary:
        lines += ["", f"ws order CPU / rest order CPU (accumulated, {ws_connections} connections):  "
                  + ";  ".join(summary)]
    added = [f"{r.target} {r.added_cpu_us_vs_mitmdump:+.1f} us"
             for r in results if r.kind == WS_MARKET and r.added_cpu_us_vs_mitmdump is not None]
    if added:
        lines.append("added CPU per frame vs mitmdump (ws market data):  " + ";  ".join(added)
                     + f"  (target: at most {ADDED_CPU_TARGET_US:.0f} us)")
    return "\n".join(lines)


def engine_table(reports: list[dict[str, Any]], orders: int) -> str:
    lines = [f"Engine alone: riskwall policy bench POLICY --venue V --orders {orders} [--state URL] --json (the same "
             "policy; no proxy, every order rests; on Redis decided and learned back to back)",
             f"{'venue':<12} {'store':<9} {'orders':>6} {'parse p50/p99 us':>17} {'decide p50/p99 us':>18} "
             f"{'learn p50/p99 us':>17} {'total p50/p99 us':>17}  verdicts"]
    lines.append("-" * len(lines[-1]))
    for report in reports:
        store = str(report.get("state", "memory://")).split("://", 1)[0] + "://"
        if "error" in report:
            lines.append(f"{report['venue']:<12} {store:<9} {'-':>6}  failed: {report['error']}")
            continue
        stages = report.get("stages_us", {})

        def pair(stage: str, width: int, stages: dict[str, Any] = stages) -> str:
            numbers = stages.get(stage)
            return f"{numbers['p50']:.1f} / {numbers['p99']:.1f}".rjust(width) if numbers else "-".rjust(width)

        verdicts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.get("verdicts", {}).items()))
        lines.append(f"{report['venue']:<12} {store:<9} {report.get('orders', 0):>6} {pair('parse', 17)} "
                     f"{pair('decide', 18)} "
                     f"{pair('learn', 17)} {pair('total', 17)}  {verdicts}")
    lines.append(f"(issue 12 target: parse + decide <= {ENGINE_PARSE_DECIDE_TARGET_US:.0f} us and learn <= "
                 f"{ENGINE_LEARN_TARGET_US:.0f} us per order on memory://; printed, not asserted)")
    over = redis_over_memory(reports)
    if over is not None:
        lines.append(f"(redis:// over memory:// for {over['venue']}, p50: decide +{over['decide']:.0f} us, learn "
                     f"+{over['learn']:.0f} us, each one round trip with its script; issue 12 allows "
                     f"{REDIS_P50_OVER_MEMORY_US:.0f} us over memory:// per order for all of it)")
    return "\n".join(lines)


def redis_over_memory(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the engine's decide and learn stages cost more on Redis than in memory (p50 µs), for the venue run on
    both; None unless both ran."""
    for redis_report in reports:
        if not str(redis_report.get("state", "")).startswith("redis") or "stages_us" not in redis_report:
            continue
        for memory_report in reports:
            if memory_report.get("venue") == redis_report["venue"] and "stages_us" in memory_report and \
                    str(memory_report.get("state", "memory://")).startswith("memory"):
                stages, base = redis_report["stages_us"], memory_report["stages_us"]
                return {"venue": redis_report["venue"],
                        **{stage: stages[stage]["p50"] - base[stage]["p50"] for stage in ("decide", "learn")}}
    return None


def summary_rows(results: list[Result]) -> list[dict[str, Any]]:
    """Per REST cell and riskwall target: its req/s, p50 and CPU per request over bare mitmdump's in that cell."""
    rows = []
    for r in results:
        base = mitmdump_row(results, r)
        if r.kind != REST or not r.target.startswith("riskwall") or base is None:
            continue
        memory = next((x for x in results if cell(x) == cell(r) and x.target == "riskwall memory://"), None)
        rows.append({
            "connections": r.connections, "regime": r.regime, "target": r.target,
            "rps_vs_mitmdump": round(r.rps / base.rps, 3) if r.rps and base.rps else None,
            "p50_vs_mitmdump": round(r.p50_ms / base.p50_ms, 3) if r.p50_ms and base.p50_ms else None,
            "cpu_vs_mitmdump": round(r.cpu_us_per_request / base.cpu_us_per_request, 3)
            if r.cpu_us_per_request and base.cpu_us_per_request else None,
            "p50_over_memory_us": round((r.p50_ms - memory.p50_ms) * 1000, 1)
            if memory is not None and memory is not r and r.p50_ms and memory.p50_ms else None,
            "redis_us_per_request": round(r.redis_us_per_request, 1) if r.redis_us_per_request is not None else None,
            "redis_scripts_per_request": round(r.redis_scripts_per_request, 2)
            if r.redis_scripts_per_request is not None else None,
        })
    return rows


def summary_table(results: list[Result]) -> str:
    rows = summary_rows(results)
    targets = list(dict.fromkeys(row["target"] for row in rows))
    if not targets:
        return "ratios vs bare mitmdump: nothing to compare (no riskwall or mitmdump REST rows)"
    cells = list(dict.fromkeys((row["connections"], row["regime"]) for row in rows))
    by_key = {(row["connections"], row["regime"], row["target"]): row for row in rows}
    redis = "riskwall redis://" in targets and "riskwall memory://" in targets

    def x(value: float | None) -> str:
        return f"{value:.2f}x" if value is not None else "-"

    group = 26
    head1 = f"{'':<5} {'':<11}" + "".join(f"  {t:^{group}}" for t in targets) + (
        "  redis p50    Redis in" if redis else "")
    head2 = f"{'conns':>5} {'regime':<11}" + "".join(f"  {'req/s':>8} {'p50':>7} {'CPU/req':>9}" for _ in targets) \
        + ("   over mem     scripts" if redis else "")
    lines = ["Ratios vs bare mitmdump, REST orders, each in its own cell of this run (req/s: above 1x is faster; "
             "p50 and CPU/req: below 1x is better)", head1, head2, "-" * len(head2)]
    for connections, regime in cells:
        line = f"{connections:>5} {regime:<11}"
        for target in targets:
            row = by_key.get((connections, regime, target), {})
            line += f"  {x(row.get('rps_vs_mitmdump')):>8} {x(row.get('p50_vs_mitmdump')):>7} " \
                    f"{x(row.get('cpu_vs_mitmdump')):>9}"
        if redis:
            row = by_key.get((connections, regime, "riskwall redis://"), {})
            over, spent = row.get("p50_over_memory_us"), row.get("redis_us_per_request")
            line += f"  {over:+7.0f} us" if over is not None else f"  {'-':>10}"
            line += f"  {spent:7.0f} us" if spent is not None else f"  {'-':>10}"
        lines.append(line)
    lines.append(f"(issue 12 targets: memory:// req/s >= {MEMORY_RPS_TARGET:.2f}x and p50 <= {MEMORY_P50_TARGET:.2f}x "
                 f"in every cell; redis:// p50 at most {REDIS_P50_OVER_MEMORY_US:.0f} us over memory://; printed, "
                 "not asserted)")
    if redis:
        scripts = [row["redis_scripts_per_request"] for row in rows if row.get("redis_scripts_per_request")]
        lines.append("(Redis in scripts: the server's own time per order in its script calls, the commands they run "
                     "included, from INFO commandstats over the row" + (
                         f"; {max(scripts):.1f} script calls per order)" if scripts else ")"))
    return "\n".join(lines)


# ---- the run ----------------------------------------------------------------------------------------------


def positive_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write numbers separated by commas, e.g. 1,4") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least one number, each 1 or more")
    return list(dict.fromkeys(values))


def regime_list(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    if not values or any(v not in REGIMES for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: write {' and/or '.join(REGIMES)}, separated by commas")
    return [r for r in REGIMES if r in values]  # steady first: its rows must see a book the accumulated ones left


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000,
                        help="measured REST orders per row, i.e. per target, connections and regime (default 2000)")
    parser.add_argument("--connections", type=positive_list, default=[1, 4], metavar="N[,N...]",
                        help="keep-alive client connections, one set of REST rows each (default 1,4)")
    parser.add_argument("--regimes", type=regime_list, default=list(REGIMES), metavar="R[,R]",
                        help="order regimes: steady (filled, sides alternate) and/or accumulated (every order "
                             "rests) (default both)")
    parser.add_argument("--resting", type=int, default=2000, metavar="N",
                        help="unmeasured resting orders placed on each riskwall target before the accumulated rows "
                             "(default 2000)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured orders (and order frames) before each "
                                                                "row (default 100)")
    parser.add_argument("--rounds", type=int, default=4, metavar="N",
                        help="turns each REST row's --requests are split into: in every round each target of the "
                             "cell takes a turn, the order reversed every other round (default 4; 1: one target "
                             "after the other)")
    parser.add_argument("--ws-orders", type=int, metavar="N",
                        help="WebSocket order frames per target (default: as many as --requests)")
    parser.add_argument("--ws-connections", type=int, default=4, metavar="N",
                        help="WebSocket order sockets (default 4)")
    parser.add_argument("--ws-frames", type=int, default=20_000, metavar="N",
                        help="market-data frames pushed per target (default 20000)")
    parser.add_argument("--skip-ws", action="store_true", help="no WebSocket rows")
    parser.add_argument("--engine-orders", type=int, default=2000, metavar="N",
                        help="orders per venue for the engine bench (riskwall policy bench) (default 2000)")
    parser.add_argument("--skip-engine", action="store_true", help="no engine bench")
    parser.add_argument("--memory-orders", type=int, default=100_000, metavar="N",
                        help="filled orders through a fresh riskwall memory:// sidecar whose RSS is read as they "
                             "pass (default 100000)")
    parser.add_argument("--memory-time-limit", type=float, default=900.0, metavar="S",
                        help="seconds the memory stage may take at most (default 900)")
    parser.add_argument("--skip-memory", action="store_true", help="no memory (RSS) stage")
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="seconds per row (and per engine bench venue) at most (default 60)")
    parser.add_argument("--redis", default=REDIS_URL, help=f"Redis for the redis:// rows, a URL as `riskwall run "
                                                          f"--state` takes it, or off (default {REDIS_URL})")
    parser.add_argument("--json", metavar="PATH", help="also write the run, every row, the engine reports and the "
                                                       "summary as JSON")
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ws_orders is None:
        args.ws_orders = args.requests
    if min(args.requests, args.rounds, args.ws_orders, args.ws_frames, args.ws_connections, args.engine_orders,
           args.memory_orders) < 1 or args.time_limit <= 0 or args.memory_time_limit <= 0 or args.warmup < 0 \
            or args.resting < 0:
        parser.error("--requests, --rounds, --ws-orders, --ws-frames, --ws-connections, --engine-orders, "
                     "--memory-orders, --time-limit and --memory-time-limit must be positive, --warmup and --resting "
                     "not negative")
    return args


@contextlib.contextmanager
def upstream_processes(args: argparse.Namespace) -> Iterator[Upstreams]:
    rest_port = free_port()
    servers = [subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(rest_port)])]
    ws_port = None if args.skip_ws else free_port()
    if ws_port is not None:
        servers.append(subprocess.Popen([sys.executable, bench_ws.__file__, "--serve", str(ws_port),
                                         "--frames", str(args.ws_frames)]))
    try:
        deadline = time.monotonic() + 10
        if not all(wait_for_port(port, deadline) for port in (rest_port, *([ws_port] if ws_port else []))):
            raise RuntimeError("the upstreams did not start")
        yield Upstreams(rest_port, ws_port)
    finally:
        for server in servers:
            stop(server, signal.SIGTERM)


def described(args: argparse.Namespace) -> str:
    rest = (f"REST: {args.requests} orders per row in {min(args.rounds, args.requests)} rounds (after "
            f"{args.warmup} unmeasured), connections "
            f"{','.join(map(str, args.connections))} x regimes {','.join(args.regimes)}"
            + (f", {args.resting} resting orders placed on riskwall before the accumulated rows"
               if ACCUMULATED in args.regimes and args.resting else ""))
    ws = "" if args.skip_ws else (f"; WS: {args.ws_orders} order frames over {args.ws_connections} sockets, "
                                  f"{args.ws_frames} market-data frames")
    engine = "" if args.skip_engine else (f"; engine: {args.engine_orders} orders x "
                                          f"{','.join(ENGINE_VENUES)}")
    memory = "" if args.skip_memory else f"; memory: {args.memory_orders} filled orders"
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"bench: {rest}{ws}{engine}{memory}; time limit {args.time_limit:.0f} s per row; {os.cpu_count()} CPUs, "
            f"Python {sys.version.split()[0]}, load average {load}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    started = time.monotonic()
    load_before = os.getloadavg()
    print(described(args), flush=True)
    kinds = (REST,) if args.skip_ws else KINDS
    results: list[Result] = []
    why_not_redis = redis_answers(args.redis)
    redis_url = ""  # the Redis rows' store: under a key prefix of the run's own, deleted after it (drop_run_store)
    if not why_not_redis:
        from riskwall.state.redis import throwaway_url

        redis_url = throwaway_url(args.redis)
    specs: list[tuple[str, TargetFactory | None, str]] = [
        ("upstream direct", direct, ""),
        ("mitmdump (no addons)", mitmdump, ""),
        ("riskwall memory://", riskwall("memory://", "riskwall memory://"), ""),
        ("riskwall redis://", None if why_not_redis else riskwall(redis_url, "riskwall redis://"),
         f"skipped: {why_not_redis}" if why_not_redis else ""),
    ]
    cells = [(regime, connections) for regime in args.regimes for connections in args.connections]

    def absent(name: str, note: str) -> list[Result]:
        rows = [Result(name, REST, connections, regime, note=note) for regime, connections in cells]
        return rows + [Result(name, kind, note=note) for kind in kinds if kind != REST]

    engine_reports: list[dict[str, Any]] = []
    prefills: list[dict[str, Any]] = []
    memory_report: dict[str, Any] | None = None
    try:
        with upstream_processes(args) as upstreams:
            with contextlib.ExitStack() as stack:
                # every target runs for the whole run, so each cell measures them one right after the other
                targets: list[Target] = []
                missing: list[tuple[str, str]] = []
                for name, factory, note in specs:
                    if factory is None:
                        missing.append((name, note))
                        continue
                    print(f"bench: starting {name} ...", flush=True)
                    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="riskwall-bench-")))
                    try:
                        targets.append(stack.enter_context(factory(upstreams, workdir)))
                    except RuntimeError as exc:
                        missing.append((name, f"failed: {str(exc).splitlines()[0][:100]}"))
                prefilled = False
                for regime, connections in cells:
                    if regime == ACCUMULATED and args.resting and not prefilled:
                        prefilled = True
                        for target in (t for t in targets if t.admin_port is not None):
                            print(f"bench: {target.name}: placing {args.resting} resting orders (not measured) ...",
                                  end=" ", flush=True)
                            load = drive(target.rest_port, args.resting, max(args.connections), args.time_limit,
                                         ACCUMULATED)
                            news = target.log.news() if target.log else {}
                            book = read_book(target.admin_port)
                            prefills.append({"target": target.name, "requests": args.resting,
                                             "answered": len(load.latencies_s), "errors": load.errors,
                                             "statuses": load.statuses, "riskwall_events": news, "book": book})
                            print(f"{len(load.latencies_s) - load.errors} placed, {load.errors} errors"
                                  + (f" ({describe_news(news)})" if news else "")
                                  + (f"; riskwall holds {book['resting_orders']}" if book else ""), flush=True)
                    print(f"bench: REST {regime}, {connections} connection{'s' if connections > 1 else ''}: "
                          + ", ".join(t.name for t in targets), flush=True)
                    results += measure_cell(targets, connections, regime, args)
                if not args.skip_ws:
                    print("bench: WS orders, then WS market data: " + ", ".join(t.name for t in targets), flush=True)
                    results += [measure_ws_orders(target, args) for target in targets]
                    results += [measure_ws_market(target, args) for target in targets]
                for name, note in missing:
                    results += absent(name, note)
            if not args.skip_memory:
                # alone on the machine (the other proxies have stopped), so the load does not slow it
                print(f"bench: memory, {args.memory_orders} filled orders through a fresh riskwall memory:// ...",
                      flush=True)
                try:
                    memory_report = memory_bench(upstreams, args.memory_orders, max(args.connections),
                                                 args.memory_time_limit)
                except RuntimeError as exc:
                    memory_report = {"error": str(exc).splitlines()[0][:160]}
    except RuntimeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        if not why_not_redis:
            drop_run_store(redis_url)
    order = {name: n for n, (name, _, _) in enumerate(specs)}
    results.sort(key=lambda r: (KINDS.index(r.kind), args.regimes.index(r.regime) if r.regime else 0,
                                r.connections or 0, order.get(r.target, 99)))
    if not args.skip_engine:
        with tempfile.TemporaryDirectory(prefix="riskwall-bench-") as workdir:
            policy = Path(workdir) / "policy.yaml"
            policy.write_text(POLICY)
            for venue in ENGINE_VENUES:
                print(f"bench: engine, {venue} ...", flush=True)
                engine_reports.append(engine_bench(policy, venue, args.engine_orders, args.time_limit))
            if not why_not_redis:  # what the shared store costs the engine, without the proxy's noise around it
                print(f"bench: engine, {ENGINE_VENUES[0]} on {without_password(args.redis)} ...", flush=True)
                engine_reports.append(engine_bench(policy, ENGINE_VENUES[0], args.engine_orders, args.time_limit,
                                                   args.redis))
    floor: dict[str, Any] | None = None
    if not why_not_redis:
        print("bench: Redis round trip floor ...", flush=True)
        floor = redis_floor(args.redis, REDIS_FLOOR_CALLS, args.time_limit)
    compare(results, args.ws_connections)
    print()
    print(table(results, args.ws_connections))
    if engine_reports:
        print()
        print(engine_table(engine_reports, args.engine_orders))
    if memory_report is not None:
        print()
        print(memory_table(memory_report))
    print()
    print(summary_table(results))
    if floor is not None:
        print(redis_floor_line(floor))
    elapsed = time.monotonic() - started
    load_after = os.getloadavg()
    print(f"\nbench: done in {elapsed:.0f} s; load average (1 min) {load_before[0]:.2f} at the start, "
          f"{load_after[0]:.2f} at the end, on {os.cpu_count()} CPUs")
    if args.json:
        run = {k: v for k, v in vars(args).items() if k != "serve_upstream"}
        run["redis"] = without_password(args.redis)  # the report is shared: no password in it
        run.update(argv=sys.argv[1:] if argv is None else argv, cpus=os.cpu_count(),
                   python=sys.version.split()[0], elapsed_s=round(elapsed, 1),
                   loadavg_start=[round(v, 2) for v in load_before], loadavg_end=[round(v, 2) for v in load_after])
        rows = [{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(r).items()} for r in results]
        Path(args.json).write_text(json.dumps({"run": run, "prefill": prefills, "rows": rows,
                                               "engine": engine_reports, "memory": memory_report, "redis_floor": floor,
                                               "summary": summary_rows(results)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
