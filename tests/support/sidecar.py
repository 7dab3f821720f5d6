"""Runs the real `riskwall run` process for end-to-end tests and reads its JSON log lines."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# every sidecar this test session started, for the session-wide secret scan
STARTED: list[Sidecar] = []
STARTUP_SECONDS = 30


def free_port() -> int:
    """A free loopback port. Several for one process: `free_ports`."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: all bound at once, so the kernel cannot hand one out twice
    (consecutive `free_port()` calls can, once the first socket is closed: seen in CI as two listeners of one
    sidecar on one port)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def wait_for_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


@dataclass
class Sidecar:
    """A running sidecar: an explicit-proxy port, a reverse port per venue, an admin port, and its output."""

    workdir: Path
    proxy_port: int
    reverse_ports: dict[str, int]
    admin_port: int
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    command: list[str] = field(default_factory=list)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def reverse_port(self) -> int:
        """The first venue's reverse port (binanceusdm in the Binance suites)."""
        return next(iter(self.reverse_ports.values()))

    @property
    def reverse_url(self) -> str:
        return f"http://127.0.0.1:{self.reverse_port}"

    def reverse_url_for(self, venue: str) -> str:
        return f"http://127.0.0.1:{self.reverse_ports[venue]}"

    @property
    def ca_cert(self) -> Path:
        return self.workdir / "confdir" / "mitmproxy-ca-cert.pem"

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.stdout_path.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                raise AssertionError(f"sidecar stdout line is not JSON: {raw!r}") from None
        return lines

    def decisions(self, **match: Any) -> list[dict[str, Any]]:
        """Decision lines, optionally only those whose fields equal `match`; waits briefly for stragglers."""
        deadline = time.monotonic() + 1.0
        while True:
            found = [
                line for line in self.log_lines()
                if line.get("event") == "decision" and all(line.get(k) == v for k, v in match.items())
            ]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_sidecar(
    workdir: Path,
    policy: str | Path,
    *,
    upstreams: Mapping[str, str],
    upstream_ca: Path | None,
    extra_args: Sequence[str] = (),
    entry: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
) -> Sidecar:
    """Start `riskwall run` (or `entry`, a command that ends in the same CLI) and wait until it listens.

    `upstreams` maps each venue to its fake exchange's base URL: the sidecar gets a reverse listener for it,
    and the fake's host:port is mapped to the venue for explicit-proxy traffic.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    proxy_port, admin_port, *ports = free_ports(2 + len(upstreams))
    reverse_ports = dict(zip(upstreams, ports, strict=True))
    stdout_path, stderr_path = workdir / "stdout.log", workdir / "stderr.log"
    venue_args: list[str] = []
    for venue, url in upstreams.items():
        host = url.split("://", 1)[1].split("/", 1)[0]
        venue_args += ["--reverse", f"{venue}@127.0.0.1:{reverse_ports[venue]}", "--upstream", f"{venue}={url}",
                       "--venue-host", f"{venue}={host}"]
    command = [
        *(entry or [str(Path(sys.executable).parent / "riskwall")]),
        "run",
        "--policy", str(policy),
        "--listen", f"127.0.0.1:{proxy_port}",
        *venue_args,
        "--confdir", str(workdir / "confdir"),
        "--admin", f"127.0.0.1:{admin_port}",
        *(["--upstream-ca", str(upstream_ca)] if upstream_ca else []),
        *extra_args,
    ]
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("RISKWALL_")}
    process_env.update(env or {})
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT, env=process_env)
    sidecar = Sidecar(workdir, proxy_port, reverse_ports, admin_port, process, stdout_path, stderr_path, command)
    STARTED.append(sidecar)
    deadline = time.monotonic() + STARTUP_SECONDS
    for port in (proxy_port, *reverse_ports.values(), admin_port):
        if not wait_for_port(port, deadline) or process.poll() is not None:
            sidecar.stop()
            raise RuntimeError(f"sidecar did not start: {command}\n{sidecar.output()}")
    return sidecar
