"""Throughput and latency of riskwall against bare mitmproxy, in one run, on loopback.

    python bench/bench_proxy.py                      # or: make bench
    python bench/bench_proxy.py --requests 5000 --concurrency 8 --json results.json
    python bench/bench_proxy.py --skip-ws            # the REST rows only

Targets, each forwarding the same signed-looking Binance USDⓈ-M orders to minimal local upstreams that answer
like Binance (REST `POST /fapi/v1/order`; and, on a second listener of the same proxy process, WebSocket
`order.place` frames on `/ws-fapi/v1` and a public `aggTrade` stream on `/ws/btcusdt@aggTrade`, see bench_ws.py):

    upstream direct     the client straight to the upstream (what the proxies add is measured against it)
    mitmdump            bare mitmproxy: `mitmdump --mode reverse:...` (one listener per upstream), no scripts
    riskwall memory://  `riskwall run` with a reverse listener per upstream (the WebSocket one as
                        `--reverse binanceusdm@HOST:PORT=URL`) and in-memory state
    riskwall redis://   the same with the Redis store (only when redis://127.0.0.1:6379 answers)

Every order passes every rule (the policy's limits are far away), so each request or order frame takes the full
path: parse, rules, reserve in the store, forward, learn from the answer, one JSON log line. Market-data frames
are not read by riskwall at all: that row measures what merely relaying them costs. Reported per target and
row: requests (frames)/s, p50 and p99 latency (round trip) as the client saw it, the proxy process's CPU time
per request (frame), and the ratios to bare mitmdump; then the WebSocket order's CPU cost against the REST
order's, and the CPU riskwall adds per market-data frame. The upstreams run in their own processes so they do
not share the client's GIL.

Benchmarks are not tests: nothing is asserted. Every loop is bounded by its count (--requests, --ws-orders,
--ws-frames) and by --time-limit. Loopback only; the machine's other load shows up in the numbers, so compare
rows of one run, not runs.
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
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.sidecar import free_port, start_sidecar, wait_for_port  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_ws  # noqa: E402

BIN = Path(sys.executable).parent
REDIS_URL = "redis://127.0.0.1:6379/15"
STARTUP_S = 30.0
API_KEY = "bench-" + "k" * 58
API_SECRET = "bench-secret-" + "s" * 51

POLICY = """\
version: 1
mode: enforce
accounts: {}
rules:
  - {id: symbols, type: allowed_symbols, allow: [BTCUSDT]}
  - {id: order-types, type: order_types, allow: [LIMIT, MARKET]}
  - {id: order-qty, type: max_order_qty, default: 1}
  - {id: order-notional, type: max_order_notional, default: 1000000}
  - {id: position, type: max_position, default: {qty: 1000000}}
  - {id: order-rate, type: order_rate, limits: ["1000000/1s"], per: account}
"""


# ---- the upstream: a tiny Binance-shaped order endpoint, run as its own process --------------------------


class _Upstream(BaseHTTPRequestHandler):
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
        self._send(200, {
            "orderId": next(self.order_ids), "symbol": params.get("symbol", "BTCUSDT"), "status": "NEW",
            "clientOrderId": params.get("newClientOrderId", "bench"), "price": params.get("price", "0"),
            "avgPrice": "0.00", "origQty": params.get("quantity", "0"), "executedQty": "0", "cumQty": "0",
            "cumQuote": "0", "timeInForce": params.get("timeInForce", "GTC"), "type": params.get("type", "LIMIT"),
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


def order_body(n: int) -> tuple[bytes, dict[str, str]]:
    query = urlencode({
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
        "price": "50000", "newClientOrderId": f"bench-{n}", "newOrderRespType": "RESULT", "recvWindow": "10000",
        "timestamp": str(int(time.time() * 1000)),
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


def drive(port: int, requests: int, concurrency: int, time_limit_s: float) -> Load:
    """`requests` orders over `concurrency` keep-alive connections, stopping at `time_limit_s`."""
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
                body, headers = order_body(n)
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
            load.latencies_s.extend(latencies)
            load.errors += errors
            for status, count in statuses.items():
                load.statuses[status] = load.statuses.get(status, 0) + count

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
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
    """One row. For the WebSocket rows (`kind` ws_orders, ws_market) `requests` counts frames (answered order
    frames, or market-data frames received), `rps` is frames/s and `cpu_us_per_request` is per frame."""

    target: str
    requests: int = 0
    errors: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_us_per_request: float | None = None
    statuses: dict[int, int] = field(default_factory=dict)
    note: str = ""
    kind: str = REST
    # the proxy's CPU per request (frame) minus bare mitmdump's, on the same row kind
    added_cpu_us_vs_mitmdump: float | None = None
    # ws_orders rows: CPU per order frame / CPU per REST order, the same proxy process
    cpu_vs_rest_order: float | None = None


@dataclass(frozen=True)
class Upstreams:
    rest: int
    ws: int | None  # None: --skip-ws


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def measure(name: str, port: int, pid: int | None, args: argparse.Namespace) -> Result:
    drive(port, args.warmup, min(args.concurrency, max(args.warmup, 1)), args.time_limit)
    cpu_before = cpu_seconds(pid)
    load = drive(port, args.requests, args.concurrency, args.time_limit)
    cpu_after = cpu_seconds(pid)
    latencies = sorted(load.latencies_s)
    result = Result(name, len(latencies), load.errors, statuses=load.statuses)
    if latencies:
        result.rps = len(latencies) / load.elapsed_s
        result.p50_ms = latencies[len(latencies) // 2] * 1000
        result.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    if cpu_before is not None and cpu_after is not None and latencies:
        result.cpu_us_per_request = (cpu_after - cpu_before) / len(latencies) * 1e6
    if len(latencies) < args.requests:
        result.note = f"stopped at the {args.time_limit:.0f} s limit" if not load.errors else "errors"
    return result


def ws_result(name: str, kind: str, load: bench_ws.WsLoad) -> Result:
    result = Result(name, load.count, load.errors, kind=kind, note=load.note)
    if load.count and load.elapsed_s > 0:
        result.rps = load.count / load.elapsed_s
    latencies = sorted(load.latencies_s)
    if latencies:
        result.p50_ms = latencies[len(latencies) // 2] * 1000
        result.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    if load.cpu_before is not None and load.cpu_after is not None and load.count:
        result.cpu_us_per_request = (load.cpu_after - load.cpu_before) / load.count * 1e6
    return result


def measure_all(name: str, rest_port: int, ws_port: int | None, pid: int | None,
                args: argparse.Namespace) -> list[Result]:
    """The REST row, then (unless --skip-ws) the two WebSocket rows, one after the other on the same process."""
    results = [measure(name, rest_port, pid, args)]
    if ws_port is None:
        return results

    def cpu() -> float | None:
        return cpu_seconds(pid)

    orders = bench_ws.drive_orders(ws_port, args.ws_orders, args.concurrency, args.warmup, args.time_limit, cpu,
                                   API_KEY, API_SECRET)
    results.append(ws_result(name, WS_ORDERS, orders))
    market = bench_ws.drive_market(ws_port, args.ws_frames, args.time_limit, cpu)
    results.append(ws_result(name, WS_MARKET, market))
    return results


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
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def run_direct(upstreams: Upstreams, args: argparse.Namespace, workdir: Path) -> list[Result]:
    return measure_all("upstream direct", upstreams.rest, upstreams.ws, None, args)


def run_mitmdump(upstreams: Upstreams, args: argparse.Namespace, workdir: Path) -> list[Result]:
    mitmdump = shutil.which("mitmdump", path=str(BIN)) or shutil.which("mitmdump")
    if mitmdump is None:
        raise RuntimeError("mitmdump not found")
    port = free_port()
    # a second reverse listener for the WebSocket upstream: mitmproxy forwards the upgrade and relays the frames
    ws_port = free_port() if upstreams.ws else None
    ws_mode = ["--mode", f"reverse:http://127.0.0.1:{upstreams.ws}@127.0.0.1:{ws_port}"] if upstreams.ws else []
    confdir = workdir / "confdir"
    command = [mitmdump, "--mode", f"reverse:http://127.0.0.1:{upstreams.rest}@127.0.0.1:{port}", *ws_mode, "-q",
               "--set", f"confdir={confdir}", "--set", "termlog_verbosity=error"]
    with process(command, [port, *([ws_port] if ws_port else [])], workdir) as proc:
        return measure_all("mitmdump (no addons)", port, ws_port, proc.pid, args)


def run_riskwall(state: str, label: str) -> Callable[[Upstreams, argparse.Namespace, Path], list[Result]]:
    def run(upstreams: Upstreams, args: argparse.Namespace, workdir: Path) -> list[Result]:
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
            return measure_all(label, sidecar.reverse_port, ws_port, sidecar.process.pid, args)
        finally:
            sidecar.stop()

    return run


def redis_answers(url: str) -> str | None:
    """None when Redis answers PING and riskwall's Redis store imports; else why not."""
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                return f"{host_port} does not answer PING"
    except OSError as exc:
        return f"no Redis at {host_port} ({exc.strerror or exc})"
    try:
        import riskwall.state.redis  # noqa: F401
    except ImportError as exc:
        return f"riskwall has no Redis store ({exc})"
    return None


def drop_keys(url: str, prefix: str) -> None:
    """Remove what the Redis run wrote (its keys all start with the run's own prefix)."""
    try:
        import redis  # noqa: TID251 - the benchmark cleans up after itself
    except ImportError:
        return
    client = redis.Redis.from_url(url.split("?", 1)[0], socket_timeout=5)
    try:
        batch: list[bytes] = []
        for n, key in enumerate(client.scan_iter(match=f"{prefix}:*", count=1000)):
            if n >= 1_000_000:
                break
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    except redis.RedisError as exc:
        print(f"bench: could not remove the keys under {prefix}: {exc}", file=sys.stderr)
    finally:
        client.close()


# ---- report ---------------------------------------------------------------------------------------------

SECTIONS = {
    REST: ("REST orders: POST /fapi/v1/order, one request in flight per connection",
           "requests", "req/s", "CPU us/req"),
    WS_ORDERS: ("WS orders: order.place frames on /ws-fapi/v1, one socket per connection, one frame in flight each",
                "frames", "frames/s", "CPU us/frame"),
    WS_MARKET: ("WS market data: aggTrade frames pushed on /ws/btcusdt@aggTrade to one subscribed socket",
                "frames", "frames/s", "CPU us/frame"),
}
ADDED_CPU_TARGET_US = 20.0


def mitmdump_row(results: list[Result], kind: str) -> Result | None:
    return next((r for r in results if r.kind == kind and r.target.startswith("mitmdump") and r.requests), None)


def compare(results: list[Result]) -> None:
    """Fill in each row's CPU added over bare mitmdump, and each WS order row's CPU against its REST order."""
    for r in results:
        base = mitmdump_row(results, r.kind)
        if base is not None and base is not r and base.cpu_us_per_request is not None \
                and r.cpu_us_per_request is not None:
            r.added_cpu_us_vs_mitmdump = r.cpu_us_per_request - base.cpu_us_per_request
        rest = next((x for x in results if x.kind == REST and x.target == r.target), None)
        if r.kind == WS_ORDERS and rest is not None and rest.cpu_us_per_request and r.cpu_us_per_request:
            r.cpu_vs_rest_order = r.cpu_us_per_request / rest.cpu_us_per_request


def digits(r: Result) -> int:
    """Decimals worth printing for a row's CPU per request: /proc counts CPU in clock ticks (10 ms), so a tenth of a
    microsecond means something only over 10,000 requests (frames) or more."""
    return 1 if r.requests and 1e6 / os.sysconf("SC_CLK_TCK") / r.requests < 1 else 0


def table(results: list[Result]) -> str:
    def ratio(value: float, reference: float | None) -> str:
        return f"{value / reference:.2f}x" if reference and value else "-"

    lines: list[str] = []
    for kind in KINDS:
        rows = [r for r in results if r.kind == kind]
        if not rows:
            continue
        title, count, rate, cpu_label = SECTIONS[kind]
        base = mitmdump_row(results, kind)
        header = (f"{'target':<22} {count:>8} {'errors':>6} {rate:>8} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{cpu_label:>12} {'+CPU us vs mitm':>15} {rate + ' vs mitm':>16} {'p50 vs mitm':>11} "
                  f"{'p99 vs mitm':>11}  note")
        if lines:
            lines.append("")
        lines += [title, header, "-" * len(header)]
        for r in rows:
            cpu = f"{r.cpu_us_per_request:.{digits(r)}f}" \
                if r.cpu_us_per_request is not None else "-"
            added = f"{r.added_cpu_us_vs_mitmdump:+.{digits(r)}f}" \
                if r.added_cpu_us_vs_mitmdump is not None else "-"
            p50, p99 = (f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}") if r.p50_ms else ("-", "-")
            lines.append(
                f"{r.target:<22} {r.requests:>8} {r.errors:>6} {r.rps:>8.0f} {p50:>8} {p99:>8} {cpu:>12} "
                f"{added:>15} {ratio(r.rps, base.rps if base else None):>16} "
                f"{ratio(r.p50_ms, base.p50_ms if base else None):>11} "
                f"{ratio(r.p99_ms, base.p99_ms if base else None):>11}  {r.note}".rstrip()
            )
    summary = [
        f"{r.target} {r.cpu_vs_rest_order:.2f}x ({r.cpu_us_per_request:.0f} / "
        f"{next(x for x in results if x.kind == REST and x.target == r.target).cpu_us_per_request:.0f} us)"
        for r in results if r.kind == WS_ORDERS and r.cpu_vs_rest_order is not None
    ]
    if summary:
        lines += ["", "ws order CPU / rest order CPU:  " + ";  ".join(summary)]
    added = [f"{r.target} {r.added_cpu_us_vs_mitmdump:+.1f} us"
             for r in results if r.kind == WS_MARKET and r.added_cpu_us_vs_mitmdump is not None]
    if added:
        lines.append("added CPU per frame vs mitmdump (ws market data):  " + ";  ".join(added)
                     + f"  (target: at most {ADDED_CPU_TARGET_US:.0f} us)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="REST orders per target (default 2000)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="keep-alive client connections, and order sockets (default 4)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured orders (and order frames) first "
                                                                "(default 100)")
    parser.add_argument("--ws-orders", type=int, metavar="N",
                        help="WebSocket order frames per target (default: as many as --requests)")
    parser.add_argument("--ws-frames", type=int, default=20_000, metavar="N",
                        help="market-data frames pushed per target (default 20000)")
    parser.add_argument("--skip-ws", action="store_true", help="the REST rows only")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per row at most (default 60)")
    parser.add_argument("--redis", default=REDIS_URL, help=f"Redis for the redis:// row (default {REDIS_URL})")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return 0
    if args.ws_orders is None:
        args.ws_orders = args.requests
    if min(args.requests, args.concurrency, args.ws_orders, args.ws_frames) < 1 or args.time_limit <= 0 \
            or args.warmup < 0:
        parser.error("--requests, --ws-orders, --ws-frames, --concurrency and --time-limit must be positive")

    upstream_port = free_port()
    upstream = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(upstream_port)])
    ws_port = None if args.skip_ws else free_port()
    ws_upstream = None if ws_port is None else subprocess.Popen(
        [sys.executable, bench_ws.__file__, "--serve", str(ws_port), "--frames", str(args.ws_frames)])
    kinds = (REST,) if args.skip_ws else KINDS
    results: list[Result] = []
    prefix = f"rwbench-{secrets.token_hex(4)}"
    redis_url = f"{args.redis}{'&' if '?' in args.redis else '?'}prefix={prefix}"
    targets: list[tuple[str, Callable[[Upstreams, argparse.Namespace, Path], list[Result]] | None, str]] = [
        ("upstream direct", run_direct, ""),
        ("mitmdump (no addons)", run_mitmdump, ""),
        ("riskwall memory://", run_riskwall("memory://", "riskwall memory://"), ""),
    ]
    why_not = redis_answers(args.redis)
    targets.append(("riskwall redis://", None if why_not else run_riskwall(redis_url, "riskwall redis://"),
                    why_not or ""))
    try:
        deadline = time.monotonic() + 10
        if not all(wait_for_port(port, deadline) for port in (upstream_port, *([ws_port] if ws_port else []))):
            print("bench: the upstreams did not start", file=sys.stderr)
            return 1
        print(f"bench: {args.requests} REST orders per target, {args.concurrency} connections"
              + ("" if args.skip_ws else f"; {args.ws_orders} WS order frames, {args.ws_frames} market-data frames")
              + f"; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
        upstreams = Upstreams(upstream_port, ws_port)
        for name, run, skipped in targets:
            if run is None:
                results += [Result(name, kind=kind, note=f"skipped: {skipped}") for kind in kinds]
                continue
            print(f"bench: {name} ...", flush=True)
            with tempfile.TemporaryDirectory(prefix="riskwall-bench-") as workdir:
                try:
                    results += run(upstreams, args, Path(workdir))
                except RuntimeError as exc:
                    results += [Result(name, kind=kind, note=f"failed: {str(exc).splitlines()[0][:100]}")
                                for kind in kinds]
    finally:
        for server in (upstream, ws_upstream):
            if server is None:
                continue
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        if not why_not:
            drop_keys(args.redis, prefix)
    compare(results)
    print()
    print(table(results))
    if args.json:
        rows = [{k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(r).items()} for r in results]
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
