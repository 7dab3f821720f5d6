"""The deployment examples, checked as far as CI can without Docker, a cluster, Prometheus or a log shipper.

- every YAML file under examples/ parses;
- Compose: validated against the Compose specification's JSON schema (vendored by check-jsonschema), its
  wiring asserted, and the example bot run, with the Compose file's own environment, through a real
  `riskwall run` in front of the project's fake Binance;
- Kubernetes: every manifest validated against the Kubernetes 1.33 OpenAPI schemas in strict mode
  (kubernetes-validate, offline), the pod's wiring asserted, the ConfigMap's policy loaded;
- Prometheus: `promtool check rules` and `promtool test rules`, and every metric an alert uses is one that
  riskwall.metrics exports;
- logging: Vector's remap program compiled and run (vrl-python) and Fluent Bit's parser time format applied,
  both on log lines the real sidecar printed.

A validator that is not installed skips its part with the reason; the structural assertions always run.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fakes.binance_usdm import FakeBinanceUsdm, RecordedRequest
from tests.ops.test_dockerfile import DOCKERFILE, parse_dockerfile
from tests.support.sidecar import ROOT, start_sidecar
from tests.support.tls import make_test_pki

from riskwall import metrics
from riskwall.policy import load_policy

EXAMPLES = ROOT / "examples"
COMPOSE = EXAMPLES / "compose" / "docker-compose.yml"
BOT = EXAMPLES / "compose" / "bot" / "bot.py"
KUBERNETES = EXAMPLES / "kubernetes"
ALERTS = EXAMPLES / "prometheus" / "alerts.yml"
ALERTS_TEST = EXAMPLES / "prometheus" / "alerts_test.yml"
VECTOR = EXAMPLES / "logging" / "vector.yaml"
FLUENT_BIT = EXAMPLES / "logging" / "fluent-bit.conf"
K8S_VERSION = "1.33.0"
CA_FILE = "mitmproxy-ca-cert.pem"
BOT_KEY, BOT_SECRET = "compose-bot-key-" + "k" * 48, "compose-bot-secret-" + "s" * 45
VENV_BIN = Path(sys.executable).parent

YAML_FILES = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".yml", ".yaml"))


def tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(VENV_BIN))


def image_env() -> dict[str, str]:
    return parse_dockerfile(DOCKERFILE)[-1].env()


def image_uid() -> int:
    user = [args for instr, args in parse_dockerfile(DOCKERFILE)[-1].instructions if instr == "USER"][-1]
    return int(user.split(":")[0])


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


# ---- every YAML parses ----------------------------------------------------------------------------------


def test_examples_when_listed_then_each_kind_has_its_files() -> None:
    names = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*") if p.is_file()}

    assert {"compose/docker-compose.yml", "compose/bot/Dockerfile", "compose/bot/bot.py", "compose/README.md",
            "kubernetes/README.md", "prometheus/alerts.yml", "prometheus/README.md", "grafana/riskwall.json",
            "grafana/README.md", "logging/README.md",
            "logging/fluent-bit.conf", "logging/parsers.conf", "logging/vector.yaml"} <= names
    assert any(n.startswith("compose/policies/") and n.endswith(".yaml") for n in names)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.relative_to(EXAMPLES).as_posix())
def test_yaml_when_parsed_then_every_document_has_content(path: Path) -> None:
    documents = list(yaml.safe_load_all(path.read_text()))

    assert documents
    assert all(isinstance(doc, dict | list) and doc for doc in documents)


# ---- Compose --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def mounts_of(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """target → (source, read_only) for the short `SOURCE:TARGET[:ro]` volume syntax."""
    out = {}
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        out[target] = (source, mode == ["ro"])
    return out


def test_compose_when_validated_against_compose_spec_schema_then_valid() -> None:
    checker = tool("check-jsonschema")
    if checker is None:
        pytest.skip("check-jsonschema not installed (it vendors the Compose specification's schema)")

    result = subprocess.run([checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_when_parsed_then_sidecar_bot_and_redis_wired_together(compose: dict[str, Any]) -> None:
    services = compose["services"]
    sidecar, bot, redis = services["riskwall"], services["bot"], services["redis"]
    image = image_env()

    assert set(services) == {"riskwall", "bot", "redis"}
    assert (COMPOSE.parent / sidecar["build"]["context"] / sidecar["build"].get("dockerfile", "Dockerfile")
            ).resolve() == DOCKERFILE
    assert (COMPOSE.parent / bot["build"] / "Dockerfile").is_file()
    assert env_of(sidecar)["RISKWALL_STATE"].startswith("redis://redis:6379/")
    assert sidecar["depends_on"]["redis"]["condition"] == "service_healthy"
    assert redis["healthcheck"]["test"][-1] == "ping"
    assert bot["depends_on"]["riskwall"]["condition"] == "service_healthy"  # the image's HEALTHCHECK
    # the proxy listens on the sidecar's loopback: the bot must share its network namespace
    assert image["RISKWALL_LISTEN"].startswith("127.0.0.1:")
    assert bot["network_mode"] == "service:riskwall"


def test_compose_when_parsed_then_ca_volume_shared_read_only_and_bot_env_trusts_it(compose: dict[str, Any]) -> None:
    sidecar, bot = compose["services"]["riskwall"], compose["services"]["bot"]
    confdir = image_env()["RISKWALL_CONFDIR"]
    sidecar_mounts, bot_mounts = mounts_of(sidecar), mounts_of(bot)
    env = env_of(bot)

    ca_volume, sidecar_ro = sidecar_mounts[confdir]
    assert ca_volume in compose["volumes"] and not sidecar_ro
    [(bot_target, (_, bot_ro))] = [(t, m) for t, m in bot_mounts.items() if m[0] == ca_volume]
    assert bot_ro
    assert env["REQUESTS_CA_BUNDLE"] == f"{bot_target}/{CA_FILE}"
    assert env["HTTPS_PROXY"] == f"http://127.0.0.1:{port_of(image_env()['RISKWALL_LISTEN'])}"


def test_compose_when_policies_mounted_then_folder_loads_as_a_valid_policy(compose: dict[str, Any]) -> None:
    sidecar = compose["services"]["riskwall"]
    policy_path = env_of(sidecar).get("RISKWALL_POLICY", image_env()["RISKWALL_POLICY"])
    source, read_only = mounts_of(sidecar)[policy_path]

    policy = load_policy(COMPOSE.parent / source)

    assert read_only
    assert {r.id for r in policy.rules} >= {"order-qty", "order-rate", "position"}


@dataclass
class BotRun:
    returncode: int
    events: list[dict[str, Any]]
    output: str
    log_lines: list[dict[str, Any]]
    requests: list[RecordedRequest]


@pytest.fixture(scope="module")
def bot_run(tmp_path_factory: pytest.TempPathFactory, compose: dict[str, Any]) -> Iterator[BotRun]:
    """examples/compose/bot/bot.py with the Compose file's bot environment, through a real sidecar running the
    Compose policies, in front of the fake Binance over TLS. Only addresses and paths are mapped."""
    workdir = tmp_path_factory.mktemp("compose-bot")
    pki = make_test_pki(workdir / "pki")
    with FakeBinanceUsdm({BOT_KEY: BOT_SECRET}, tls=pki.server_ssl_context()) as fake:
        sidecar = start_sidecar(workdir / "sidecar", COMPOSE.parent / "policies",
                                upstreams={"binanceusdm": fake.base_url}, upstream_ca=pki.ca_cert)
        try:
            env = {k: v for k, v in os.environ.items()
                   if k.upper() not in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "CURL_CA_BUNDLE")}
            env.update(env_of(compose["services"]["bot"]))
            env["HTTPS_PROXY"] = sidecar.proxy_url
            env["REQUESTS_CA_BUNDLE"] = str(sidecar.ca_cert)
            env.update(BINANCE_API_KEY=BOT_KEY, BINANCE_API_SECRET=BOT_SECRET, BINANCE_FAPI_URL=fake.base_url,
                       BOT_ROUNDS="1")
            result = subprocess.run([sys.executable, str(BOT)], env=env, capture_output=True, text=True, timeout=60)
        finally:
            sidecar.stop()
        events = []
        for raw in result.stdout.splitlines():
            try:
                events.append(json.loads(raw))
            except json.JSONDecodeError:
                pass
        yield BotRun(result.returncode, events, result.stdout + result.stderr + sidecar.output(),
                     sidecar.log_lines(), list(fake.requests))


@pytest.mark.e2e
def test_bot_when_run_with_compose_env_through_sidecar_then_trades_and_oversized_order_blocked(
    bot_run: BotRun,
) -> None:
    events = [e["event"] for e in bot_run.events]
    orders = [r for r in bot_run.requests if (r.method, r.path) == ("POST", "/fapi/v1/order")]
    cancels = [r for r in bot_run.requests if (r.method, r.path) == ("DELETE", "/fapi/v1/order")]
    decisions = [line for line in bot_run.log_lines if line.get("event") == "decision"]

    assert bot_run.returncode == 0, bot_run.output
    assert events == ["markets_loaded", "mark_price", "order_placed", "order_cancelled",
                      "oversized_blocked_by_riskwall"], bot_run.output
    assert len(orders) == 1 and len(cancels) == 1  # the oversized order never reached the exchange
    blocked = [d for d in decisions if d["verdict"] == "block"]
    assert [(d["rule_id"], d["reason"], d["qty"]) for d in blocked] == [("order-qty", "ORDER_QTY_EXCEEDS_MAX", "5")]
    assert {(d["action"], d["verdict"]) for d in decisions} == {("new", "allow"), ("cancel", "allow"),
                                                               ("new", "block")}


# ---- Kubernetes -----------------------------------------------------------------------------------------


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in sorted(KUBERNETES.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path, doc in manifests() if doc["kind"] == kind]


@pytest.mark.parametrize(("path", "doc"), manifests(), ids=lambda v: v.name if isinstance(v, Path) else v["kind"])
def test_manifest_when_validated_against_kubernetes_schema_strictly_then_valid(path: Path, doc: dict[str, Any]) -> None:
    if importlib.util.find_spec("kubernetes_validate") is None:
        pytest.skip("kubernetes-validate not installed (bundles the Kubernetes JSON schemas for offline use)")
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{path.name}: {exc.path}: {exc.message}")


@dataclass
class Pod:
    name: str
    spec: dict[str, Any]

    @property
    def all_containers(self) -> list[dict[str, Any]]:
        return [*self.spec.get("initContainers", []), *self.spec["containers"]]

    def container(self, name: str) -> dict[str, Any]:
        [found] = [c for c in self.all_containers if c["name"] == name]
        return found

    def env(self, container: dict[str, Any]) -> dict[str, Any]:
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}

    def volume(self, name: str) -> dict[str, Any]:
        [found] = [v for v in self.spec["volumes"] if v["name"] == name]
        return found

    def mount_at(self, container: dict[str, Any], path: str) -> dict[str, Any]:
        """The mount whose folder holds `path` (the longest such mountPath)."""
        candidates = [m for m in container.get("volumeMounts", [])
                      if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")]
        assert candidates, f"{container['name']}: nothing mounted at {path}"
        return max(candidates, key=lambda m: len(m["mountPath"]))


DEPLOYMENTS = [Pod(path.name, doc["spec"]["template"]["spec"]) for path, doc in by_kind("Deployment")]


def test_kubernetes_when_listed_then_configmap_and_git_sync_variants_exist() -> None:
    assert {pod.name for pod in DEPLOYMENTS} == {"deployment.yaml", "deployment-git-sync.yaml"}
    assert by_kind("ConfigMap") and by_kind("Secret")


@pytest.mark.parametrize("pod", DEPLOYMENTS, ids=lambda p: p.name)
def test_pod_when_parsed_then_bot_and_riskwall_sidecar_share_it(pod: Pod) -> None:
    sidecar, bot = pod.container("riskwall"), pod.container("bot")

    assert sidecar["image"].split("/")[-1].startswith("riskwall:")
    assert bot in pod.spec["containers"]
    # a native sidecar (starts before the bot, stops after it) or a regular second container
    assert sidecar in pod.spec["containers"] or sidecar.get("restartPolicy") == "Always"
    assert sidecar["securityContext"]["runAsUser"] == image_uid()
    assert bot["securityContext"]["runAsUser"] != image_uid()  # the bot must not read the CA's private key
    for container in (sidecar, bot):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod.spec["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("pod", DEPLOYMENTS, ids=lambda p: p.name)
def test_pod_when_parsed_then_probes_ask_healthz_and_readyz_on_the_admin_port(pod: Pod) -> None:
    sidecar = pod.container("riskwall")
    admin_port = port_of(pod.env(sidecar).get("RISKWALL_ADMIN") or image_env()["RISKWALL_ADMIN"])
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}

    def target(probe: str) -> tuple[str, int]:
        get = sidecar[probe]["httpGet"]
        port = ports[get["port"]] if isinstance(get["port"], str) else get["port"]
        return get["path"], port

    assert target("livenessProbe") == ("/healthz", admin_port)
    assert target("readinessProbe") == ("/readyz", admin_port)
    assert target("startupProbe") == ("/healthz", admin_port)


@pytest.mark.parametrize("pod", DEPLOYMENTS, ids=lambda p: p.name)
def test_pod_when_parsed_then_redis_url_and_admin_token_come_from_an_existing_secret(pod: Pod) -> None:
    env = pod.env(pod.container("riskwall"))
    secrets = {doc["metadata"]["name"]: doc for _, doc in by_kind("Secret")}

    for name in ("RISKWALL_STATE", "RISKWALL_ADMIN_TOKEN"):
        ref = env[name]["secretKeyRef"]
        assert ref["key"] in secrets[ref["name"]]["stringData"], name
    assert secrets[env["RISKWALL_STATE"]["secretKeyRef"]["name"]]["stringData"][
        env["RISKWALL_STATE"]["secretKeyRef"]["key"]].startswith(("redis://", "rediss://"))


@pytest.mark.parametrize("pod", DEPLOYMENTS, ids=lambda p: p.name)
def test_pod_when_parsed_then_ca_shared_read_only_and_bot_env_points_at_proxy_and_ca(pod: Pod) -> None:
    sidecar, bot = pod.container("riskwall"), pod.container("bot")
    confdir = pod.env(sidecar).get("RISKWALL_CONFDIR") or image_env()["RISKWALL_CONFDIR"]
    listen = pod.env(sidecar).get("RISKWALL_LISTEN") or image_env()["RISKWALL_LISTEN"]
    ca_mount = pod.mount_at(sidecar, confdir)
    [bot_mount] = [m for m in bot["volumeMounts"] if m["name"] == ca_mount["name"]]
    env = pod.env(bot)

    assert "emptyDir" in pod.volume(ca_mount["name"])
    assert not ca_mount.get("readOnly") and bot_mount["readOnly"] is True
    assert env["REQUESTS_CA_BUNDLE"] == f"{bot_mount['mountPath']}/{CA_FILE}"
    assert listen.startswith("127.0.0.1:")  # pod-local only
    assert env["HTTPS_PROXY"] == f"http://127.0.0.1:{port_of(listen)}"


def test_pod_when_policies_from_configmap_then_mounted_as_folder_and_policy_loads(tmp_path: Path) -> None:
    [pod] = [p for p in DEPLOYMENTS if p.name == "deployment.yaml"]
    sidecar = pod.container("riskwall")
    policy_path = pod.env(sidecar)["RISKWALL_POLICY"]
    mount = pod.mount_at(sidecar, policy_path)
    configmaps = {doc["metadata"]["name"]: doc for _, doc in by_kind("ConfigMap")}
    data = configmaps[pod.volume(mount["name"])["configMap"]["name"]]["data"]
    for name, text in data.items():
        (tmp_path / name).write_text(text)

    policy = load_policy(tmp_path)

    assert mount["mountPath"] == policy_path and "subPath" not in mount  # kubelet updates folder mounts only
    assert mount["readOnly"] is True
    assert policy.rules


def test_pod_when_policies_from_git_sync_then_clone_precedes_riskwall_and_sync_keeps_running() -> None:
    [pod] = [p for p in DEPLOYMENTS if p.name == "deployment-git-sync.yaml"]
    sidecar = pod.container("riskwall")
    policy_path = pod.env(sidecar)["RISKWALL_POLICY"]
    mount = pod.mount_at(sidecar, policy_path)
    init_names = [c["name"] for c in pod.spec["initContainers"]]
    syncers = [c for c in pod.all_containers if "git-sync" in c["image"]]

    assert "emptyDir" in pod.volume(mount["name"])
    assert len(syncers) == 2
    one_shot, keeper = syncers
    assert "--one-time" in one_shot.get("args", []) and "restartPolicy" not in one_shot
    assert keeper.get("restartPolicy") == "Always"
    assert init_names.index(one_shot["name"]) < init_names.index("riskwall")
    for syncer in syncers:
        env = pod.env(syncer)
        [git_mount] = [m for m in syncer["volumeMounts"] if m["name"] == mount["name"]]
        root = env["GITSYNC_ROOT"]
        assert git_mount["mountPath"] == root
        # riskwall reads through the symlink git-sync swaps atomically
        assert policy_path.startswith(f"{mount['mountPath'].rstrip('/')}/{env['GITSYNC_LINK']}/")


# ---- Prometheus -----------------------------------------------------------------------------------------


def alert_rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def exported_sample_names() -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    metrics.reset(process_collectors=False)
    try:
        metrics.policy_loaded("5f7d0969a702", ["order-qty"])
        metrics.decision("binanceusdm", "new", "block", "order-qty", "ORDER_QTY_EXCEEDS_MAX", 0.001)
        metrics.proxied("binanceusdm")
        metrics.limit_usage("order-qty", "binanceusdm", "0123456789ab", 0.9)
        metrics.trading_states([("global", "HALTED")])
        metrics.reject_storm("order-qty", "binanceusdm", "REDUCING", True)
        metrics.daily_loss("order-qty", "binanceusdm", "REDUCING", True)
        text, _ = metrics.render()
    finally:
        metrics.reset()
    return {s.name for f in text_string_to_metric_families(text.decode()) for s in f.samples}


def test_alerts_when_parsed_then_required_alerts_exist_with_severity_and_summary() -> None:
    rules = alert_rules()
    expressions = " ".join(r["expr"] for r in rules.values())

    assert {"RiskwallTradingHalted", "RiskwallStateStoreDown", "RiskwallPolicyReloadFailed",
            "RiskwallLimitNearlyUsed", "RiskwallBlockStorm"} <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("page", "warning"), name
        assert rule["annotations"]["summary"], name
    assert "riskwall_limit_usage_ratio > 0.8" in rules["RiskwallLimitNearlyUsed"]["expr"]
    assert 'state="HALTED"' in rules["RiskwallTradingHalted"]["expr"]
    assert "riskwall_" in expressions


def test_alerts_when_parsed_then_every_metric_they_use_is_exported_by_riskwall() -> None:
    used = set(re.findall(r"\briskwall_[a-z_]+", " ".join(r["expr"] for r in alert_rules().values())))
    exported = exported_sample_names()

    assert used
    assert used <= exported, used - exported


@pytest.mark.parametrize("command", [["check", "rules", ALERTS.name], ["test", "rules", ALERTS_TEST.name]],
                         ids=["check", "unit-tests"])
def test_promtool_when_run_on_alert_rules_then_passes(command: list[str]) -> None:
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")

    result = subprocess.run([promtool, *command], cwd=ALERTS.parent, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr


# ---- log shipping ---------------------------------------------------------------------------------------


def test_vector_when_parsed_then_every_input_names_a_defined_component() -> None:
    config = yaml.safe_load(VECTOR.read_text())
    defined = set(config["sources"]) | set(config["transforms"])

    for section in ("transforms", "sinks"):
        for name, component in config[section].items():
            assert component["inputs"], name
            assert set(component["inputs"]) <= defined, (name, component["inputs"])


def test_vector_remap_when_run_on_real_sidecar_lines_then_fields_lifted_and_filters_match(bot_run: BotRun) -> None:
    if importlib.util.find_spec("vrl_python") is None:
        pytest.skip("vrl-python not installed (runs Vector Remap Language programs offline)")
    from vrl_python import VRLRuntime

    config = yaml.safe_load(VECTOR.read_text())
    program = config["transforms"]["riskwall_parsed"]["source"]
    runtime = VRLRuntime()
    stdout_lines = [json.dumps(line) for line in bot_run.log_lines]
    parsed = [runtime.execute(program, {"stream": "stdout", "message": raw}).processed_event for raw in stdout_lines]
    stderr = runtime.execute(program, {"stream": "stderr", "message": "client connect"}).processed_event

    assert stdout_lines
    for event, original in zip(parsed, bot_run.log_lines, strict=True):
        assert "message" not in event
        assert event["event"] == original["event"] and event["level"] == original["level"]
        assert event["timestamp"]  # from `ts`
    blocks = [e for e in parsed if e["event"] == "decision" and e["verdict"] == "block"]
    assert [b["rule_id"] for b in blocks] == ["order-qty"]
    assert stderr["message"] == "client connect" and stderr["event"] == "proxy_stderr"
    # the fields the filter, the metric and the sink labels use exist on decision lines
    templates = re.findall(r"\{\{\s*(\w+)\s*\}\}", VECTOR.read_text())
    condition = config["transforms"]["riskwall_blocks"]["condition"]
    for name in [*templates, *re.findall(r"\.(\w+)\s*==", condition)]:
        assert name in blocks[0], name


def fluent_bit_sections(path: Path) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1].upper(), {}))
            continue
        key, _, value = line.partition(" ")
        assert sections, f"{path.name}: {line!r} outside a section"
        sections[-1][1][key.strip().lower()] = value.strip()
    return sections


def test_fluent_bit_when_parsed_then_parser_exists_and_its_time_format_reads_real_ts(bot_run: BotRun) -> None:
    main = fluent_bit_sections(FLUENT_BIT)
    [service] = [s for name, s in main if name == "SERVICE"]
    parsers_file = FLUENT_BIT.parent / service["parsers_file"]
    parsers = {s["name"]: s for name, s in fluent_bit_sections(parsers_file) if name == "PARSER"}
    filters = [s for name, s in main if name == "FILTER" and s["name"] == "parser"]
    inputs = [s for name, s in main if name == "INPUT"]

    assert inputs and all(i["name"] == "tail" for i in inputs)
    assert filters and all(f["parser"] in parsers and f["key_name"] == "log" for f in filters)
    parser = parsers[filters[0]["parser"]]
    assert parser["format"] == "json"
    decision = next(line for line in bot_run.log_lines if line.get("event") == "decision")
    stamp = decision[parser["time_key"]]
    parsed = dt.datetime.strptime(stamp, parser["time_format"].replace("%L", "%f"))  # %L: fractional seconds
    assert parsed == dt.datetime.fromisoformat(stamp).replace(tzinfo=None)  # to the microsecond
    assert stamp.endswith("Z")  # UTC, as the format's literal Z says
    # the record accessors in the Loki labels name fields of the parsed line
    [output] = [s for name, s in main if name == "OUTPUT"]
    for field in re.findall(r"\$(\w+)", output["labels"]):
        assert field in decision, field
