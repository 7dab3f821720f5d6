"""RiskFirewall hooks on crafted mitmproxy flows: forward untouched, block like Binance, fail safe, log once.

Flows are built with mitmproxy's own test helpers (`tflow.tflow(req=http.Request.make(...))`) and driven through
the addon's `request` / `response` / `error` hooks directly; option handling goes through `taddons.context`.
Every test body is a coroutine run on a fresh loop by pytest-asyncio.

Logs are captured per test: `riskwall.logs.configure(stream=...)` plus a fresh logger for the addon module,
because structlog caches a module-level logger on first use (a later `configure` would not reach it).
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import re
import socket
import time
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import structlog
from mitmproxy import connection, exceptions, http
from mitmproxy.proxy import mode_specs, server_hooks
from mitmproxy.test import taddons, tflow

from riskwall import addon as addon_module
from riskwall import engine, logs
from riskwall import settling as settling_module
from riskwall.addon import RiskFirewall, _store_endpoints
from riskwall.capture import CaptureWriter
from riskwall.decider import UNANSWERED_HOLD_MS
from riskwall.model import PositionSide, PositionsReport, ResponseFacts, TradingState, Venue, fingerprint
from riskwall.policy.loader import Policy, PolicyError, content_digest
from riskwall.state.base import (
    HolderMove,
    Reservation,
    ReserveOutcome,
    StateScope,
    StateStore,
    StateUnavailable,
    StateView,
    TradingStateRecord,
    ViewQuery,
    holder_key,
)
from riskwall.state.memory import MemoryStore

from .factories import FakeClock, make_policy

# Binance's own documentation sample key and signature: realistic shapes, no real credentials.
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
ACCOUNT = fingerprint(API_KEY)
HOST = "fapi.binance.com"
FORM = "application/x-www-form-urlencoded"
SIGNED = (("timestamp", "1700000000000"), ("recvWindow", "5000"), ("signature", SIGNATURE))

POLICY_YAML = f"""
mode: {{mode}}
accounts:
  main: {{{{fingerprints: ["{ACCOUNT}"], venue: binanceusdm}}}}
rules:
  - {{{{id: symbols, type: allowed_symbols, allow: [BTCUSDT, ETHUSDT]}}}}
  - {{{{id: order-qty, type: max_order_qty, default: 1}}}}
  - {{{{id: leverage, type: max_leverage, default: 10}}}}
  - {{{{id: position, type: max_position, default: {{{{qty: 1}}}}}}}}
"""

LIMIT_BUY = (("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "0.5"), ("price", "50000"),
             ("timeInForce", "GTC"))


def policy(mode: str = "enforce", extra_rules: str = "") -> Policy:
    return make_policy(POLICY_YAML.format(mode=mode) + extra_rules)


def with_params(base: tuple[tuple[str, str], ...], **changes: str | None) -> tuple[tuple[str, str], ...]:
    """`base` with some parameters replaced (None drops one); new keys are appended."""
    merged: dict[str, str | None] = {**dict(base), **changes}
    return tuple((k, v) for k, v in merged.items() if v is not None)


def make_flow(
    method: str = "POST",
    path: str = "/fapi/v1/order",
    params: tuple[tuple[str, str], ...] = LIMIT_BUY,
    *,
    host: str = HOST,
    port: int | None = None,
    scheme: str = "https",
    placement: str = "query",
    api_keys: tuple[str, ...] = (API_KEY,),
) -> http.HTTPFlow:
    """A signed Binance request; `placement` puts the parameters in the query, a form body, or half in each."""
    pairs = list(params) + list(SIGNED) if params or method != "GET" else []
    if placement == "query":
        query, body = pairs, []
    elif placement == "body":
        query, body = [], pairs
    else:
        query, body = pairs[: len(pairs) // 2], pairs[len(pairs) // 2:]
    bracketed = f"[{host}]" if ":" in host else host
    authority = bracketed if port is None else f"{bracketed}:{port}"
    url = f"{scheme}://{authority}{path}" + (f"?{urlencode(query)}" if query else "")
    headers = [(b"X-MBX-APIKEY", key.encode()) for key in api_keys]
    if body:
        headers.append((b"Content-Type", FORM.encode()))
    request = http.Request.make(method, url, urlencode(body).encode(), headers)
    return tflow.tflow(req=request)


def websocket(flow: http.HTTPFlow) -> http.HTTPFlow:
    """The flow as a WebSocket handshake."""
    flow.request.headers.update({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    return flow


def order(**changes: str | None) -> http.HTTPFlow:
    return make_flow(params=with_params(LIMIT_BUY, **changes))


def snapshot(flow: http.HTTPFlow) -> dict[str, Any]:
    return copy.deepcopy(flow.request.get_state())


class Logs:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.text.splitlines() if line.strip()]
        return [line for line in lines if name is None or line["event"] == name]

    def decisions(self) -> list[dict[str, Any]]:
        return self.events("decision")


@pytest.fixture(autouse=True)
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Logs]:
    saved = structlog.get_config()
    stream = io.StringIO()
    logs.configure(stream=stream)
    monkeypatch.setattr(addon_module, "log", logs.get_logger("riskwall.addon"))
    yield Logs(stream)
    _CONTEXTS.clear()
    structlog.configure(**saved)


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test policy on disk, for the tests that load it through mitmproxy options."""
    path = tmp_path_factory.mktemp("riskwall-addon") / "policy.yaml"
    path.write_text(POLICY_YAML.format(mode="enforce"), encoding="utf-8")
    return path


_CONTEXTS: list[taddons.context] = []


def firewall(pol: Policy | None = None, store: StateStore | None = None, *, no_policy: bool = False) -> RiskFirewall:
    """A firewall registered with a mitmproxy test master (so `ctx.options` exists), policy and store set directly.

    Call it inside a running loop (an async test body): the context then borrows that loop."""
    fw = RiskFirewall()
    _CONTEXTS.append(taddons.context(fw))
    fw.policy = None if no_policy else (pol or policy())
    fw.store = store if store is not None else MemoryStore(clock=FakeClock())
    return fw


def is_blocked(flow: http.HTTPFlow) -> bool:
    return flow.response is not None


def body_of(flow: http.HTTPFlow) -> dict[str, Any]:
    assert flow.response is not None
    return dict(json.loads(flow.response.content or b"{}"))


def answer(flow: http.HTTPFlow, status: int, body: object) -> None:
    flow.response = http.Response.make(status, json.dumps(body).encode(), {"content-type": "application/json"})


def filled(qty: str, order_id: int = 1001, symbol: str = "BTCUSDT", side: str = "BUY") -> dict[str, Any]:
    return {"orderId": order_id, "symbol": symbol, "status": "FILLED", "clientOrderId": "x", "price": "50000",
            "avgPrice": "50000", "origQty": qty, "executedQty": qty, "cumQuote": "0", "timeInForce": "GTC",
            "type": "LIMIT", "reduceOnly": False, "closePosition": False, "side": side, "positionSide": "BOTH",
            "updateTime": 1700000000000}


class FailingStore(StateStore):
    """A store whose every method raises `error` (a Redis that is down, or a store with a bug)."""

    url = "redis://broken:6379/0"

    def __init__(self, error: type[Exception]) -> None:
        self.error = error

    def _fail(self) -> Any:
        raise self.error("store is down")

    async def view(self, query: ViewQuery) -> StateView:
        return self._fail()  # type: ignore[no-any-return]

    async def reserve(self, reservation: Reservation) -> ReserveOutcome:
        return self._fail()  # type: ignore[no-any-return]

    async def release(self, reservation_id: str, after_ms: int = 0) -> None:
        self._fail()

    async def learn(self, facts: Any) -> None:
        self._fail()

    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None:
        self._fail()

    async def trading_states(self) -> tuple[TradingStateRecord, ...]:
        return self._fail()  # type: ignore[no-any-return]

    async def holder_moves(self, holders: Mapping[str, str]) -> tuple[HolderMove, ...]:
        return self._fail()  # type: ignore[no-any-return]

    async def record_holders(self, holders: Mapping[str, str]) -> None:
        self._fail()

    async def exposure(self, venue: Venue, account: str) -> dict[str, dict[str, str]]:
        return self._fail()  # type: ignore[no-any-return]


# --- forwarding untouched ----------------------------------------------------------------------------------


@pytest.mark.parametrize("placement", ["query", "body", "split"])
async def test_request_when_order_within_limits_then_no_response_and_request_byte_identical(placement: str) -> None:
    fw = firewall()
    flow = make_flow(placement=placement)
    before = snapshot(flow)
    raw = (flow.request.raw_content, flow.request.headers.fields, flow.request.path, flow.request.url,
           flow.request.query.fields)

    await fw.request(flow)

    assert flow.response is None
    assert snapshot(flow) == before
    assert (flow.request.raw_content, flow.request.headers.fields, flow.request.path, flow.request.url,
            flow.request.query.fields) == raw
    assert isinstance(flow.metadata["riskwall"], addon_module._FlowContext)


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("POST", "/fapi/v1/order", with_params(LIMIT_BUY, quantity="5")),
        ("DELETE", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("orderId", "1001"))),
        ("GET", "/fapi/v2/positionRisk", ()),
    ],
    ids=["violating-order", "cancel", "read"],
)
async def test_request_when_host_is_no_venue_then_ignored(
    captured: Logs, method: str, path: str, params: tuple[tuple[str, str], ...]
) -> None:
    fw = firewall()
    flow = make_flow(method, path, params, host="api.example.com")
    before = snapshot(flow)

    await fw.request(flow)

    assert flow.response is None
    assert "riskwall" not in flow.metadata
    assert snapshot(flow) == before
    assert captured.decisions() == []


@pytest.mark.parametrize(
    ("entries", "host", "port", "routed"),
    [
        (["binanceusdm=127.0.0.1:9001"], "127.0.0.1", 9001, True),
        (["binanceusdm=127.0.0.1:9001"], "127.0.0.1", 9002, False),
        (["binanceusdm=fake.local"], "fake.local", 9443, True),
        (["binanceusdm=Fake.Local."], "fake.local", 80, True),
        (["binanceusdm=localhost:9001", "binanceusdm=127.0.0.2"], "127.0.0.2", 1234, True),
        ([], "127.0.0.1", 9001, False),
        pytest.param(
            ["binanceusdm=[::1]:9001"], "::1", 9001, True,
        ),
    ],
)
async def test_request_when_venue_host_mapped_then_local_host_routed_to_venue(
    policy_file: Path, entries: list[str], host: str, port: int, routed: bool
) -> None:
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state="memory://",
                       riskwall_venue_hosts=entries)
        flow = make_flow(params=with_params(LIMIT_BUY, quantity="5"), host=host, port=port, scheme="http")

        await fw.request(flow)

    assert is_blocked(flow) is routed
    if routed:
        assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == "ORDER_QTY_EXCEEDS_MAX"


@pytest.mark.parametrize(
    ("host", "host_header", "sni", "outcome"),
    [
        # the destination is the venue, under any spelling of its address: the venue's request, checked
        ("127.0.0.1", None, None, "checked"),
        ("2130706433", None, None, "checked"),
        ("localhost", None, None, "checked"),
        ("[::ffff:127.0.0.1]", None, None, "checked"),
        ("0.0.0.0", None, None, "checked"),  # a connection to the unspecified address reaches this host
        ("127.0.0.1", "fapi.binance.com", "fapi.binance.com", "checked"),
        # a Host header or SNI names the venue while the bytes go to a host that is no venue: its answer would be
        # learned as the venue's (a forged listing or price) and the key sent there, so it is refused
        ("api.example.com", "fapi.binance.com", None, "refused"),
        ("api.example.com", None, "fapi.binance.com", "refused"),
        ("13.225.0.1", "FAPI.binance.com.", "fapi.binance.com", "refused"),
        ("api.example.com", "fapi7.binance.com", None, "refused"),  # under Binance's domain, not listed
        # names of two venues: no adapter can be sure to read it as the venue that gets it
        ("127.0.0.1", "www.okx.com", None, "refused"),
        ("fapi.binance.com", None, "www.okx.com", "refused"),
        # no venue named: not the firewall's (egress open)
        ("api.example.com", "api.example.com", "api.example.com", "ignored"),
    ],
)
async def test_request_when_names_carried_by_request_name_a_venue_then_decided_as_that_venue(
    policy_file: Path, host: str, host_header: str | None, sni: str | None, outcome: str
) -> None:
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state="memory://",
                       riskwall_venue_hosts=["binanceusdm=127.0.0.1:9001"])
        flow = make_flow(params=with_params(LIMIT_BUY, quantity="5"), host=host.strip("[]"), port=9001)
        if host_header is not None:
            flow.request.headers["Host"] = host_header
        flow.client_conn.sni = sni

        await fw.request(flow)

    reason = flow.response.headers["X-Riskwall-Reason"] if flow.response is not None else None
    expected = {"checked": "ORDER_QTY_EXCEEDS_MAX", "refused": "UNKNOWN_ENDPOINT", "ignored": None}[outcome]
    assert reason == expected
    if outcome == "refused":
        assert flow.response is not None and flow.response.headers["X-Riskwall-Rule"] == "riskwall.venue"


@pytest.mark.parametrize(
    ("name", "resolves_to", "outcome"),
    [
        ("alias.example", "127.0.0.1", "refused"),  # an /etc/hosts alias of the venue's address
        ("other.example", "192.0.2.9", "pinned"),  # no venue there: connected to the address that was checked
        ("fapi.binance.com", "127.0.0.1", "untouched"),  # a venue's own name: decided as the venue anyway
        ("127.0.0.1", "127.0.0.1", "untouched"),
    ],
)
async def test_server_connect_when_name_leads_to_a_venue_address_then_refused_or_pinned(
    policy_file: Path, monkeypatch: pytest.MonkeyPatch, name: str, resolves_to: str, outcome: str
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (resolves_to, port))])
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state="memory://",
                       riskwall_venue_hosts=["binanceusdm=127.0.0.1:9001"])
        server = connection.Server(address=(name, 9001))
        data = server_hooks.ServerConnectionHookData(server=server, client=tflow.tclient_conn())

        await fw.server_connect(data)

    if outcome == "refused":
        assert server.error is not None and "binanceusdm" in server.error
    elif outcome == "pinned":
        assert (server.error, server.address, server.sni) == (None, (resolves_to, 9001), name)
    else:
        assert (server.error, server.address) == (None, (name, 9001))


@pytest.mark.parametrize(
    ("name", "resolves_to", "port", "allow", "refused"),
    [
        ("127.0.0.1", "127.0.0.1", 6379, [], True),  # the state store on the sidecar's loopback
        ("localhost", "127.0.0.1", 9090, [], True),  # its admin endpoint
        ("rebound.example", "127.0.0.2", 443, [], True),  # a name that leads to its loopback
        ("::1", "::1", 6379, [], True),
        ("169.254.169.254", "169.254.169.254", 80, [], True),  # link-local: a cloud's metadata service
        ("0.0.0.0", "0.0.0.0", 6379, [], True),  # the unspecified address connects to loopback
        ("redis.internal", "10.1.2.3", 6379, [], True),  # the state store wherever its URL puts it
        ("redis.internal", "10.1.2.3", 6380, [], False),  # another port of that host is not the store
        ("10.1.2.3", "10.1.2.3", 6379, [], True),  # the store by the address its name resolves to
        ("example.com", "93.184.215.14", 443, [], False),  # elsewhere: open egress passes it
        ("localhost", "127.0.0.1", 8088, ["localhost:8088"], False),  # named by --egress-allow
    ],
)
async def test_server_connect_when_it_leads_to_the_sidecars_own_host_then_refused_under_open_egress(
    policy_file: Path, monkeypatch: pytest.MonkeyPatch, name: str, resolves_to: str, port: int, allow: list[str],
    refused: bool,
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, p, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (resolves_to, p))])
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state="memory://", riskwall_egress_allow=allow)
        fw._own_endpoints = _store_endpoints("redis://redis.internal:6379/0")  # as a Redis state URL sets it
        server = connection.Server(address=(name, port))
        data = server_hooks.ServerConnectionHookData(server=server, client=tflow.tclient_conn())

        await fw.server_connect(data)

    assert (server.error is not None) is refused
    if refused:
        assert "own host" in str(server.error)


@pytest.mark.parametrize(("listener_port", "venue"), [(8081, "binanceusdm"), (8082, "okx")])
async def test_request_when_reverse_listener_bound_to_venue_then_its_adapter_reads_it(
    policy_file: Path, listener_port: int, venue: str
) -> None:
    # two listeners whose upstreams share one host:port: the listener, not the upstream, says whose request it is
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state="memory://",
                       riskwall_venue_hosts=["binanceusdm=127.0.0.1:9001", "okx=127.0.0.1:9001"],
                       riskwall_listeners=["8081=binanceusdm", "8082=okx"])
        flow = make_flow(params=with_params(LIMIT_BUY, quantity="5"), host="127.0.0.1", port=9001)
        flow.client_conn.proxy_mode = mode_specs.ProxyMode.parse(f"reverse:https://127.0.0.1:9001@{listener_port}")
        flow.client_conn.sockname = ("127.0.0.1", listener_port)

        await fw.request(flow)

    assert flow.response is not None
    if venue == "binanceusdm":
        assert flow.response.headers["X-Riskwall-Reason"] == "ORDER_QTY_EXCEEDS_MAX"
        assert "code" in body_of(flow) and isinstance(body_of(flow)["code"], int)
    else:  # OKX's adapter reads a Binance order as nothing it knows, and answers in OKX's shape
        assert body_of(flow)["code"] in ("50027", "1")


@pytest.mark.parametrize(
    ("host", "port", "allow", "outcome"),
    [
        ("api.example.com", 443, [], "refused"),
        ("api.example.com", 443, ["api.example.com"], "forwarded"),
        ("API.Example.com.", 443, ["api.example.com"], "forwarded"),
        ("api.example.com", 8443, ["api.example.com:8443"], "forwarded"),
        ("api.example.com", 443, ["api.example.com:8443"], "refused"),
        ("127.0.0.1", 9001, [], "checked"),   # mapped with --venue-host
        (HOST, 443, [], "checked"),
    ],
)
async def test_request_when_egress_allowlist_then_only_venues_and_allowed_hosts_reachable(
    captured: Logs, policy_file: Path, host: str, port: int, allow: list[str], outcome: str
) -> None:
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state="memory://",
                       riskwall_venue_hosts=["binanceusdm=127.0.0.1:9001"], riskwall_egress="allowlist",
                       riskwall_egress_allow=allow)
        flow = make_flow(params=with_params(LIMIT_BUY, quantity="5"), host=host, port=port)

        await fw.request(flow)

    if outcome == "forwarded":
        assert flow.response is None
    elif outcome == "refused":
        assert flow.response is not None and flow.response.status_code == 403
        assert flow.response.headers["X-Riskwall-Rule"] == "riskwall.egress"
        assert captured.events("egress_blocked")
    else:
        assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == "ORDER_QTY_EXCEEDS_MAX"


@pytest.mark.parametrize("entry", ["nonsense", "nope=127.0.0.1:9001", "binanceusdm=", "kraken=127.0.0.1"])
async def test_configure_when_venue_host_entry_invalid_then_options_error_and_hosts_kept(entry: str) -> None:
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_venue_hosts=["binanceusdm=127.0.0.1:9001"])
        before = fw.hosts
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(fw, riskwall_venue_hosts=[entry])
        assert fw.hosts == before
        assert tctx.options.riskwall_venue_hosts == ["binanceusdm=127.0.0.1:9001"]


async def test_configure_when_policy_becomes_invalid_then_error_logged_and_last_good_policy_stays(
    tmp_path: Path, captured: Logs
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(POLICY_YAML.format(mode="enforce"), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {id: qty, type: max_order_qty, default: -1}\n", encoding="utf-8")
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(good), riskwall_state="memory://")
        assert fw.policy is not None
        revision = fw.policy.revision

        with pytest.raises(exceptions.OptionsError, match="invalid policy"):
            tctx.configure(fw, riskwall_policy=str(bad))

        assert fw.policy is not None and fw.policy.revision == revision
        assert tctx.options.riskwall_policy == str(good)
        flow = order(quantity="5")
        await fw.request(flow)
    assert is_blocked(flow)
    [invalid] = captured.events("policy_invalid")
    assert invalid["path"] == str(bad) and any("rules[0].default" in e for e in invalid["errors"])
    # mitmproxy's rollback re-applies the old path, so the good policy may be loaded again: never another one
    assert {loaded["revision"] for loaded in captured.events("policy_loaded")} == {revision}


@pytest.mark.parametrize("url", ["postgres://db/1", "memory", ""])
async def test_configure_when_state_url_unsupported_then_options_error_and_option_kept(url: str) -> None:
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_state="memory://")
        with pytest.raises(exceptions.OptionsError, match="state URL"):
            tctx.configure(fw, riskwall_state=url)
        assert tctx.options.riskwall_state == "memory://"
        assert fw.store is not None and fw.store.url == "memory://"


async def test_configure_when_state_url_rejected_then_live_store_and_its_halt_kept(policy_file: Path) -> None:
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state="memory://")
        assert fw.store is not None
        await fw.store.set_trading_state(StateScope(), TradingState.HALTED, "incident", "oncall")
        with pytest.raises(exceptions.OptionsError):
            tctx.configure(fw, riskwall_state="memroy://")
        flow = order()
        await fw.request(flow)

    assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == "TRADING_HALTED"


# --- blocking like the exchange ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow_factory", "rule", "reason", "code", "privilege"),
    [
        (lambda: order(quantity="5"), "order-qty", "ORDER_QTY_EXCEEDS_MAX", -2010, False),
        (lambda: order(symbol="XRPUSDT"), "symbols", "SYMBOL_NOT_ALLOWED", -1121, False),
        (lambda: make_flow("POST", "/fapi/v1/leverage", (("symbol", "BTCUSDT"), ("leverage", "50"))),
         "leverage", "LEVERAGE_EXCEEDS_MAX", -4028, False),
        (lambda: make_flow("POST", "/sapi/v1/capital/withdraw/apply",
                           (("coin", "USDT"), ("address", "TXabc"), ("amount", "1000")), host="api.binance.com"),
         "riskwall.forbidden-endpoint", "ACTION_FORBIDDEN", -1002, True),
        (lambda: make_flow("POST", "/fapi/v1/somethingNew", (("symbol", "BTCUSDT"),)),
         "riskwall.unknown-endpoint", "UNKNOWN_ENDPOINT", -1002, True),
        (lambda: websocket(make_flow("GET", "/ws-fapi/v2", (), host="ws-fapi.binance.com")),
         "riskwall.unknown-endpoint", "UNKNOWN_ENDPOINT", -1002, True),
        (lambda: order(quantity="abc"), "riskwall.parse", "PARSE_FAILED", -2010, False),
    ],
    ids=["qty", "symbol", "leverage", "withdrawal", "unknown-endpoint", "ws-unknown-socket", "parse"],
)
async def test_request_when_order_violates_then_binance_400_json_with_riskwall_headers(
    captured: Logs, flow_factory: Any, rule: str, reason: str, code: int, privilege: bool
) -> None:
    fw = firewall()
    flow = flow_factory()
    before = snapshot(flow)

    await fw.request(flow)

    assert flow.response is not None
    assert flow.response.status_code == 400
    assert flow.response.headers["content-type"] == "application/json"
    assert flow.response.headers["X-Riskwall-Rule"] == rule
    assert flow.response.headers["X-Riskwall-Reason"] == reason
    decision_id = flow.response.headers["X-Riskwall-Decision"]
    assert re.fullmatch(r"[0-9a-f]{32}", decision_id)
    body = body_of(flow)
    assert set(body) == {"code", "msg"}
    assert body["code"] == code
    assert body["msg"].startswith("Risk firewall blocked this request")
    assert reason in body["msg"]
    assert ("has no operation privilege" in body["msg"]) is privilege
    assert snapshot(flow) == before  # blocked whole, never modified
    [line] = captured.decisions()
    assert (line["decision_id"], line["verdict"], line["reason"], line["rule_id"]) == (
        decision_id, "block", reason, rule)


async def test_request_when_one_batch_leg_violates_then_whole_batch_blocked() -> None:
    legs = [dict(with_params(LIMIT_BUY, quantity="0.1")), dict(with_params(LIMIT_BUY, quantity="3"))]
    fw = firewall()
    flow = make_flow("POST", "/fapi/v1/batchOrders", (("batchOrders", json.dumps(legs)),), placement="body")

    await fw.request(flow)

    assert flow.response is not None and flow.response.status_code == 400
    assert flow.response.headers["X-Riskwall-Reason"] == "ORDER_QTY_EXCEEDS_MAX"


async def test_request_when_account_halted_then_new_order_blocked_and_cancel_passes(captured: Logs) -> None:
    store = MemoryStore(clock=FakeClock())
    await store.set_trading_state(StateScope("binanceusdm", ACCOUNT), TradingState.HALTED, "runaway loop", "oncall")
    fw = firewall(store=store)
    new = order()
    cancel = make_flow("DELETE", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("orderId", "1001")))

    await fw.request(new)
    await fw.request(cancel)

    assert new.response is not None and new.response.headers["X-Riskwall-Reason"] == "TRADING_HALTED"
    assert new.response.headers["X-Riskwall-Rule"] == "riskwall.kill-switch"
    assert body_of(new)["code"] == -2010 and "has no operation privilege" in body_of(new)["msg"]
    assert "runaway loop" in body_of(new)["msg"]
    assert cancel.response is None
    assert [d["verdict"] for d in captured.decisions()] == ["block", "allow"]


async def test_request_when_api_key_header_repeated_then_order_of_halted_account_still_blocked() -> None:
    store = MemoryStore(clock=FakeClock())
    await store.set_trading_state(StateScope("binanceusdm", ACCOUNT), TradingState.HALTED, "stolen key", "oncall")
    fw = firewall(store=store)
    flow = make_flow(api_keys=(API_KEY, API_KEY))

    await fw.request(flow)

    assert flow.response is not None and flow.response.status_code == 400


# --- fail-safe (Promise 1) ---------------------------------------------------------------------------------

CANCEL = ("DELETE", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("orderId", "1001")))
REQUESTS: dict[str, tuple[tuple[str, str, tuple[tuple[str, str], ...]], bool]] = {
    # name: ((method, path, params), passes when the firewall cannot decide)
    "new-order": (("POST", "/fapi/v1/order", LIMIT_BUY), False),
    "new-market-order": (("POST", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"),
                                                      ("quantity", "0.1"))), False),
    "amend": (("PUT", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("side", "BUY"), ("orderId", "1001"),
                                         ("quantity", "0.5"), ("price", "49000"))), False),
    "batch-new": (("POST", "/fapi/v1/batchOrders", (("batchOrders", json.dumps([dict(LIMIT_BUY)])),)), False),
    "set-leverage": (("POST", "/fapi/v1/leverage", (("symbol", "BTCUSDT"), ("leverage", "5"))), False),
    "withdrawal": (("POST", "/fapi/v1/asset/transfer", (("asset", "USDT"), ("amount", "100"))), False),
    "hedge-buy-long": (("POST", "/fapi/v1/order", with_params(LIMIT_BUY, positionSide="LONG")), False),
    "cancel": (CANCEL, True),
    "cancel-all": (("DELETE", "/fapi/v1/allOpenOrders", (("symbol", "BTCUSDT"),)), True),
    "batch-cancel": (("DELETE", "/fapi/v1/batchOrders", (("symbol", "BTCUSDT"), ("orderIdList", "[1001,1002]"))),
                     True),
    "read-positions": (("GET", "/fapi/v2/positionRisk", ()), True),
    "read-open-orders": (("GET", "/fapi/v1/openOrders", (("symbol", "BTCUSDT"),)), True),
    "reduce-only": (("POST", "/fapi/v1/order", with_params(LIMIT_BUY, side="SELL", quantity="5",
                                                           reduceOnly="true")), True),
    "close-position": (("POST", "/fapi/v1/order", (("symbol", "BTCUSDT"), ("side", "SELL"),
                                                   ("type", "STOP_MARKET"), ("stopPrice", "40000"),
                                                   ("closePosition", "true"))), True),
    "hedge-sell-long": (("POST", "/fapi/v1/order", with_params(LIMIT_BUY, side="SELL", positionSide="LONG")), True),
    "hedge-buy-short": (("POST", "/fapi/v1/order", with_params(LIMIT_BUY, positionSide="SHORT")), True),
}

FAILURES = {
    # name: (reason, rule id)
    "state-unavailable": ("STATE_UNAVAILABLE", "riskwall.state-store"),
    "store-crash": ("INTERNAL_ERROR", "riskwall.internal"),
    "engine-crash": ("INTERNAL_ERROR", "riskwall.internal"),
    "no-policy": ("POLICY_UNAVAILABLE", "riskwall.policy"),
}


def _broken_firewall(failure: str, monkeypatch: pytest.MonkeyPatch, mode: str = "enforce") -> RiskFirewall:
    if failure == "state-unavailable":
        return firewall(policy(mode), FailingStore(StateUnavailable))
    if failure == "store-crash":
        return firewall(policy(mode), FailingStore(RuntimeError))
    if failure == "engine-crash":
        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("bug in the engine")

        monkeypatch.setattr(engine, "plan", crash)
        return firewall(policy(mode))
    return firewall(no_policy=True)


@pytest.mark.parametrize("failure", list(FAILURES))
@pytest.mark.parametrize("name", list(REQUESTS))
async def test_request_when_firewall_cannot_decide_then_only_risk_reducing_requests_pass(
    monkeypatch: pytest.MonkeyPatch, captured: Logs, failure: str, name: str
) -> None:
    (method, path, params), passes = REQUESTS[name]
    reason, rule = FAILURES[failure]
    if failure == "state-unavailable" and name == "withdrawal":
        # refused by a rule that needs no state: that rule answers, not the outage (a client would retry that)
        reason, rule = "ACTION_FORBIDDEN", "riskwall.forbidden-endpoint"
    fw = _broken_firewall(failure, monkeypatch)
    flow = make_flow(method, path, params)
    before = snapshot(flow)

    await fw.request(flow)

    assert snapshot(flow) == before
    if passes:
        assert flow.response is None
    else:
        assert flow.response is not None and flow.response.status_code == 400
        assert flow.response.headers["X-Riskwall-Reason"] == reason
        assert flow.response.headers["X-Riskwall-Rule"] == rule
        assert body_of(flow)["code"] in (-2010, -1002)
        [line] = captured.decisions()
        assert (line["verdict"], line["reason"], line["rule_id"]) == ("block", reason, rule)


@pytest.mark.parametrize("failure", ["state-unavailable", "store-crash", "engine-crash"])
async def test_request_when_firewall_cannot_decide_in_monitor_mode_then_new_order_still_blocked(
    monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    fw = _broken_firewall(failure, monkeypatch, mode="monitor")
    flow = order()

    await fw.request(flow)

    assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == FAILURES[failure][0]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"quantity": "abc"}, "quantity"),
        ({"quantity": "1e-3"}, "quantity"),
        ({"price": None}, "price"),
        ({"side": "LONG"}, "side"),
        ({"reduceOnly": "maybe"}, "reduceOnly"),
        ({"quantity": "abc", "reduceOnly": "true"}, "quantity"),  # a reduce-only flag on garbage is not trusted
    ],
)
async def test_request_when_order_unparseable_then_blocked_with_parse_failed(
    captured: Logs, changes: dict[str, str | None], field: str
) -> None:
    fw = firewall()
    flow = order(**changes)

    await fw.request(flow)

    assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == "PARSE_FAILED"
    assert flow.response.headers["X-Riskwall-Rule"] == "riskwall.parse"
    [line] = captured.decisions()
    assert field in line["context"]["error"]


async def test_request_when_same_key_differs_between_query_and_body_then_parse_failed() -> None:
    fw = firewall()
    flow = make_flow(params=(*LIMIT_BUY, ("quantity", "5")), placement="split")  # query 0.5, body 5

    await fw.request(flow)

    assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == "PARSE_FAILED"


class _BrokenLog:
    """A logger whose stream is gone (stdout's reader died): every call raises."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: object, **kwargs: object) -> None:
            raise BrokenPipeError("stdout closed")

        return fail


async def test_request_when_engine_crashes_and_logging_fails_then_order_still_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fw = _broken_firewall("engine-crash", monkeypatch)
    monkeypatch.setattr(addon_module, "log", _BrokenLog())
    flow = order()

    try:
        await fw.request(flow)
    except Exception:  # noqa: S110 - mitmproxy logs a raising hook and forwards the flow: only the response counts
        pass

    assert flow.response is not None and flow.response.status_code == 400


# --- monitor and shadow modes ------------------------------------------------------------------------------


async def test_request_when_monitor_mode_and_order_violates_then_forwarded_and_logged_would_block(
    captured: Logs,
) -> None:
    fw = firewall(policy("monitor"))
    flow = order(quantity="5")
    before = snapshot(flow)

    await fw.request(flow)

    assert flow.response is None
    assert snapshot(flow) == before
    [line] = captured.decisions()
    assert line["verdict"] == "would_block"
    assert line["monitor_mode"] is True
    assert (line["rule_id"], line["reason"]) == ("order-qty", "ORDER_QTY_EXCEEDS_MAX")
    assert line["context"] == {"qty": "5", "max_qty": "1", "symbol": "BTCUSDT"}


async def test_request_when_shadow_rule_violated_then_forwarded_and_logged_would_block(captured: Logs) -> None:
    fw = firewall(policy(extra_rules="  - {id: tiny-qty, type: max_order_qty, mode: shadow, default: 0.1}\n"))
    flow = order(quantity="0.5")

    await fw.request(flow)

    assert flow.response is None
    [line] = captured.decisions()
    assert (line["verdict"], line["rule_id"], line["reason"]) == ("would_block", "tiny-qty", "ORDER_QTY_EXCEEDS_MAX")
    assert line["shadowed"][0]["rule_id"] == "tiny-qty"
    assert "monitor_mode" not in line


async def test_request_when_monitor_mode_and_account_halted_then_new_order_blocked() -> None:
    store = MemoryStore(clock=FakeClock())
    await store.set_trading_state(StateScope(), TradingState.HALTED, "incident", "oncall")
    fw = firewall(policy("monitor"), store)
    flow = order()

    await fw.request(flow)

    assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == "TRADING_HALTED"


async def test_request_when_monitor_mode_and_withdrawal_then_blocked() -> None:
    fw = firewall(policy("monitor"))
    flow = make_flow("POST", "/sapi/v1/capital/withdraw/apply", (("coin", "USDT"), ("amount", "1000")),
                     host="api.binance.com")

    await fw.request(flow)

    assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == "ACTION_FORBIDDEN"


# --- the decision log --------------------------------------------------------------------------------------


async def test_request_when_order_blocked_then_one_decision_line_with_documented_fields(captured: Logs) -> None:
    pol = policy()
    fw = firewall(pol)
    flow = order(quantity="5")

    await fw.request(flow)

    [line] = captured.decisions()
    assert flow.response is not None
    expected = {
        "event": "decision",
        "decision_id": flow.response.headers["X-Riskwall-Decision"],
        "verdict": "block",
        "rule_id": "order-qty",
        "reason": "ORDER_QTY_EXCEEDS_MAX",
        "detail": "ORDER_QTY_EXCEEDS_MAX: qty=5, max_qty=1, symbol=BTCUSDT",
        "context": {"qty": "5", "max_qty": "1", "symbol": "BTCUSDT"},
        "venue": "binanceusdm",
        "action": "new",
        "endpoint": "POST /fapi/v1/order",
        "account": ACCOUNT,
        "symbol": "BTCUSDT",
        "side": "buy",
        "position_side": "both",
        "qty": "5",
        "price": "50000",
        "order_type": "LIMIT",
        "reduce_only": False,
        "legs": 1,
        "policy_revision": pol.revision,
        "level": "info",
    }
    assert {k: line[k] for k in expected} == expected
    assert isinstance(line["latency_us"], int) and 0 <= line["latency_us"] < 5_000_000
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", line["ts"])
    assert "also_violated" not in line and "shadowed" not in line


async def test_request_when_several_rules_violated_then_first_decides_and_rest_listed(captured: Logs) -> None:
    fw = firewall()
    flow = order(symbol="XRPUSDT", quantity="5")

    await fw.request(flow)

    [line] = captured.decisions()
    assert (line["rule_id"], line["reason"]) == ("symbols", "SYMBOL_NOT_ALLOWED")
    assert line["also_violated"] == ["ORDER_QTY_EXCEEDS_MAX: qty=5, max_qty=1, symbol=XRPUSDT"]


async def test_request_when_order_allowed_then_decision_line_has_allow_and_no_rule(captured: Logs) -> None:
    fw = firewall()

    await fw.request(order())

    [line] = captured.decisions()
    assert (line["verdict"], line["rule_id"], line["reason"], line["context"]) == ("allow", None, None, {})
    assert (line["account"], line["qty"], line["price"], line["action"]) == (ACCOUNT, "0.5", "50000", "new")


async def test_request_when_mixed_traffic_then_one_line_per_order_decision_and_none_for_reads(
    captured: Logs,
) -> None:
    fw = firewall()
    flows = [
        order(),                                                       # allow
        order(quantity="5"),                                           # block
        make_flow("GET", "/fapi/v2/positionRisk", ()),                 # read: no line
        make_flow("GET", "/fapi/v1/premiumIndex", (("symbol", "BTCUSDT"),)),  # read: no line
        make_flow("POST", "/fapi/v1/order/test", LIMIT_BUY),           # test order: a read, no line
        make_flow(*CANCEL),                                            # cancel: allow
    ]

    for flow in flows:
        await fw.request(flow)

    lines = captured.decisions()
    assert [(d["action"], d["verdict"]) for d in lines] == [("new", "allow"), ("new", "block"), ("cancel", "allow")]
    assert len({d["decision_id"] for d in lines}) == 3


async def test_request_when_logged_then_no_api_key_or_signature_in_any_line(captured: Logs,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    fw = firewall()
    for flow in (order(), order(quantity="5"), order(quantity="abc"), make_flow(*CANCEL)):
        await fw.request(flow)
    _broken_firewall("engine-crash", monkeypatch)
    await fw.request(order())  # firewall_error with a traceback

    assert len(captured.decisions()) == 5
    assert captured.events("firewall_error")
    assert API_KEY not in captured.text
    assert SIGNATURE not in captured.text


# --- learning from responses -------------------------------------------------------------------------------


async def _exposure(store: MemoryStore) -> dict[str, str]:
    # the policy lists the key under the label `main`: its state is kept under the label
    return (await store.exposure(Venue.BINANCEUSDM, "label:main")).get("BTCUSDT|both", {})


async def test_response_when_order_filled_then_position_learned_and_next_order_over_max_position_blocked() -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    first = order(quantity="0.8")
    await fw.request(first)
    assert first.response is None
    answer(first, 200, filled("0.8"))

    await fw.response(first)

    # the next order is decided only once the answer is in the store
    second = order(quantity="0.5")
    await fw.request(second)
    assert second.response is not None
    assert second.response.headers["X-Riskwall-Reason"] == "POSITION_EXCEEDS_MAX"
    assert second.response.headers["X-Riskwall-Rule"] == "position"
    assert await _exposure(store) == {"position": "0.8", "pending_buy": "0", "pending_sell": "0"}


@pytest.mark.parametrize(("host", "live_position"), [
    (HOST, "0"),  # the live account read flat: it is flat
    # the label's keys on Binance's testnet or demo book: another account, whose flat read clears nothing live
    ("testnet.binancefuture.com", "0.8"),
    ("demo-fapi.binance.com", "0.8"),
], ids=["live-read", "testnet-read", "demo-read"])
async def test_response_when_a_labels_key_reads_positions_on_a_testnet_then_the_live_positions_stay(
    host: str, live_position: str
) -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    await filled_order(fw, "0.8")
    read = make_flow("GET", "/fapi/v2/account", (), host=host)
    read.request.timestamp_start = time.time() + 1
    await fw.request(read)
    answer(read, 200, {"totalMarginBalance": "20000", "positions": []})

    await fw.response(read)
    await fw._settling.drain()

    assert (await _exposure(store)).get("position") == live_position


class HolderRecordFailsOnce(MemoryStore):
    """A store that fails one step of recording where keys' state is kept, once (the store's outage then)."""

    def __init__(self, failing: str) -> None:
        super().__init__(clock=FakeClock())
        self.failing: str | None = failing

    def _fail_once(self, step: str) -> None:
        if self.failing == step:
            self.failing = None
            raise StateUnavailable("redis: ConnectionError")

    async def holder_moves(self, holders: Mapping[str, str]) -> tuple[HolderMove, ...]:
        self._fail_once("holder_moves")
        return await super().holder_moves(holders)

    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None:
        self._fail_once("set_trading_state")
        await super().set_trading_state(scope, state, reason, actor)

    async def record_holders(self, holders: Mapping[str, str]) -> None:
        self._fail_once("record_holders")
        await super().record_holders(holders)


@pytest.mark.parametrize(("failing", "first_refused"), [
    ("holder_moves", "STATE_UNAVAILABLE"),
    ("set_trading_state", "STATE_UNAVAILABLE"),
    ("record_holders", "TRADING_REDUCING"),  # the state is written before the record: it holds already
])
async def test_request_when_recording_a_moved_keys_account_fails_then_orders_wait_and_the_move_is_not_lost(
    failing: str, first_refused: str, captured: Logs
) -> None:
    # the key traded before the policy listed it under `main`: its 0.8 is under its own fingerprint
    store = HolderRecordFailsOnce(failing)
    await store.learn(ResponseFacts(positions=(PositionsReport(Venue.BINANCEUSDM, ACCOUNT, None, (
        ("BTCUSDT", PositionSide.BOTH, Decimal("0.8")),)),)))
    fw = firewall(store=store)

    first, second = order(quantity="0.5"), order(quantity="0.5")
    await fw.request(first)  # the record could not be written: refused
    await fw.request(second)  # written now: the label meets the move

    assert [flow.response.headers["X-Riskwall-Reason"] if flow.response else None for flow in (first, second)] == [
        first_refused, "TRADING_REDUCING"]
    assert [(line["previous"], line["holder"]) for line in captured.events("account_moved")][-1:] == [
        (ACCOUNT, "label:main")]


async def filled_order(fw: RiskFirewall, quantity: str) -> None:
    """An order the firewall lets through, answered filled in full (its answer handed to the response hook)."""
    flow = order(quantity=quantity)
    await fw.request(flow)
    assert flow.response is None, "the firewall blocked the order"
    answer(flow, 200, filled(quantity))
    await fw.response(flow)


@pytest.mark.parametrize("read_says", ["0.5", "0"])
async def test_response_when_a_position_read_comes_before_a_fill_is_learned_then_the_fill_is_learned_first(
        read_says: str) -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    await filled_order(fw, "0.5")
    read = make_flow("GET", "/fapi/v2/account", ())
    await fw.request(read)
    answer(read, 200, {"totalMarginBalance": "20000", "positions": [
        {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": read_says}]})
    await fw.response(read)
    await fw._settling.drain()

    # the read is newer than the fill: what it says stands, neither added to the fill nor overwritten by it
    assert (await _exposure(store)).get("position", "0") == read_says


@pytest.mark.parametrize(("asked", "position"), [
    pytest.param("before-the-fill", "0.5", id="a-read-asked-before-the-fill-does-not-undo-it"),
    pytest.param("after-the-fill", "0", id="a-read-asked-after-the-fill-stands"),
])
async def test_response_when_a_position_read_answers_late_then_it_does_not_roll_back_a_fill_learned_since(
        asked: str, position: str) -> None:
    # another connection's read, asked before the order filled and answered after: its flat position is older
    store = MemoryStore()  # the wall clock, as in service: the one that stamps when a request came in
    fw = firewall(store=store)
    read = make_flow("GET", "/fapi/v2/account", ())
    if asked == "before-the-fill":
        await fw.request(read)
        await filled_order(fw, "0.5")
    else:
        await filled_order(fw, "0.5")
        read.request.timestamp_start = time.time() + 1  # asked a second after the fill was learned
        await fw.request(read)
    answer(read, 200, {"totalMarginBalance": "20000", "positions": [
        {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": "0"}]})
    await fw.response(read)
    await fw._settling.drain()

    assert (await _exposure(store)).get("position", "0") == position


async def test_request_when_earlier_order_unanswered_then_its_exposure_counts_as_pending() -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    await fw.request(order(quantity="0.8"))

    assert (await _exposure(store))["pending_buy"] == "0.8"
    second = order(quantity="0.5")
    await fw.request(second)
    assert second.response is not None and second.response.headers["X-Riskwall-Reason"] == "POSITION_EXCEEDS_MAX"


async def test_response_when_venue_refuses_order_then_reservation_released() -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    first = order(quantity="0.8")
    await fw.request(first)
    answer(first, 400, {"code": -2019, "msg": "Margin is insufficient."})

    await fw.response(first)
    await fw._settling.drain()

    assert await _exposure(store) == {}
    second = order(quantity="0.8")
    await fw.request(second)
    assert second.response is None


@pytest.mark.parametrize("how", ["status-503", "connection-error"])
async def test_response_when_outcome_unknown_then_exposure_held_for_hold_period(how: str) -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    fw = firewall(store=store)
    first = order(quantity="0.8")
    await fw.request(first)
    if how == "status-503":
        answer(first, 503, {"code": -1000, "msg": "An unknown error occurred while processing the request."})
        await fw.response(first)
    else:
        await fw.error(first)

    held = order(quantity="0.5")
    await fw.request(held)
    assert held.response is not None and held.response.headers["X-Riskwall-Reason"] == "POSITION_EXCEEDS_MAX"

    clock.advance(UNANSWERED_HOLD_MS + 1)
    later = order(quantity="0.5")
    await fw.request(later)
    assert later.response is None


@pytest.mark.parametrize(("asked_after_s", "listed", "venue_position", "next_allowed"), [
    # the venue filled it: a read and a listing asked 20 s later say so, the hold ends, the position is the read's
    pytest.param(20, True, "0.8", False, id="read-and-listing-long-after-show-the-fill"),
    # the venue never took it: the read says flat, the listing shows nothing resting, the hold ends, the next passes
    pytest.param(20, True, "0", True, id="read-and-listing-long-after-show-nothing-happened"),
    # a read alone cannot tell an order that never reached the venue from one resting unfilled: the hold stays
    pytest.param(20, False, "0", False, id="read-alone-keeps-the-hold"),
    # asked a second later: the order may not have reached the venue yet, the hold stays
    pytest.param(1, True, "0", False, id="read-and-listing-too-soon-keep-the-hold"),
])
async def test_response_when_outcome_unknown_then_held_until_a_position_read_and_a_listing_asked_long_enough_after(
    asked_after_s: int, listed: bool, venue_position: str, next_allowed: bool
) -> None:
    # the bot drops its connection before the answer: its order's exposure is neither released on a timer nor
    # held forever, but settled by what the venue shows afterwards
    store = MemoryStore()  # the wall clock, which stamps when a read came in
    fw = firewall(store=store)
    first = order(quantity="0.8")
    await fw.request(first)
    await fw.error(first)
    # the read asked 2 ms after the listing (one in the listing's own millisecond may have been taken before it)
    reads = [(make_flow("GET", "/fapi/v2/account", ()), {"totalMarginBalance": "20000", "positions": [
        {"symbol": "BTCUSDT", "positionSide": "BOTH", "positionAmt": venue_position}]}, 0.002)]
    if listed:
        reads.append((make_flow("GET", "/fapi/v1/openOrders", ()), [], 0.0))
    asked = time.time() + asked_after_s
    for read, body, later in reads:
        read.request.timestamp_start = asked + later
        await fw.request(read)
        answer(read, 200, body)
        await fw.response(read)
    await fw._settling.drain()

    second = order(quantity="0.5")
    await fw.request(second)

    assert (second.response is None) is next_allowed
    ended = asked_after_s >= 10 and listed
    held = Decimal("0" if ended else "0.8") + Decimal("0.5" if next_allowed else "0")
    exposure = await _exposure(store)
    assert (exposure["position"], Decimal(exposure["pending_buy"])) == (venue_position, held)


async def test_response_when_mark_price_read_then_market_order_notional_checked_against_it() -> None:
    fw = firewall(policy(extra_rules="  - {id: notional, type: max_order_notional, default: 10000}\n"))
    market = (("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.1"))
    blind = make_flow(params=market)
    await fw.request(blind)
    assert blind.response is not None and blind.response.headers["X-Riskwall-Reason"] == "PRICE_UNKNOWN"

    read = make_flow("GET", "/fapi/v1/premiumIndex", (("symbol", "BTCUSDT"),))
    await fw.request(read)
    answer(read, 200, {"symbol": "BTCUSDT", "markPrice": "50000.00", "indexPrice": "50001",
                       "lastFundingRate": "0.0001", "time": 1700000000000})
    await fw.response(read)

    cheap = make_flow(params=market)
    await fw.request(cheap)
    assert cheap.response is None  # 0.1 x 50000 = 5000 <= 10000
    dear = make_flow(params=with_params(market, quantity="0.3"))
    await fw.request(dear)
    assert dear.response is not None and dear.response.headers["X-Riskwall-Reason"] == "ORDER_NOTIONAL_EXCEEDS_MAX"


async def test_response_when_flow_was_blocked_then_nothing_learned() -> None:
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    flow = order(quantity="5")
    await fw.request(flow)
    assert flow.response is not None

    await fw.response(flow)  # mitmproxy runs the response hook on the firewall's own rejection too

    assert await _exposure(store) == {}


async def test_response_when_store_unavailable_then_learn_failed_logged_and_no_exception(captured: Logs) -> None:
    fw = firewall(store=FailingStore(StateUnavailable))
    flow = make_flow(*CANCEL)
    await fw.request(flow)
    assert flow.response is None
    answer(flow, 200, filled("0.1") | {"status": "CANCELED", "executedQty": "0"})

    await fw.response(flow)
    await fw._settling.drain()

    [failed] = captured.events("learn_failed")
    assert failed["error"] == "StateUnavailable"


async def test_status_when_policy_and_store_loaded_then_reports_revision_and_store_without_password() -> None:
    pol = policy()
    store = MemoryStore()
    store.url = "redis://:hunter2@redis:6379/0"
    fw = firewall(pol, store)

    status = fw.status()

    assert status["policy_revision"] == pol.revision
    assert status["policy_mode"] == "enforce"
    assert status["state_store"] == "redis://***@redis:6379/0"


@pytest.mark.parametrize(("url", "event"), [("memory://", "state_store_opened"),
                                            ("redis://127.0.0.1:1/0", "state_store_unreachable")])
async def test_configure_when_store_opened_then_log_says_whether_it_answers(
    captured: Logs, policy_file: Path, url: str, event: str
) -> None:
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state=url)
        assert fw._announcing is not None
        await asyncio.wait_for(fw._announcing, 10)

    [line] = [*captured.events("state_store_opened"), *captured.events("state_store_unreachable")]
    assert line["event"] == event
    assert line["url"] == url


@pytest.mark.parametrize(
    ("flow_factory", "reason"),
    [
        (lambda: order(quantity="5"), "ORDER_QTY_EXCEEDS_MAX"),  # over a limit that needs no state
        (lambda: order(symbol="XRPUSDT"), "SYMBOL_NOT_ALLOWED"),
        (lambda: order(quantity="abc"), "PARSE_FAILED"),
        (lambda: order(quantity="0.1"), "STATE_UNAVAILABLE"),  # within every stateless rule: the outage decides
        (lambda: order(quantity="5", side="SELL", reduceOnly="true"), None),  # reductions pass an outage
    ],
    ids=["qty", "symbol", "parse", "within-limits", "reduce-only"],
)
async def test_request_when_store_down_then_a_stateless_rule_answers_before_the_outage(
    flow_factory: Any, reason: str | None
) -> None:
    # a client retries STATE_UNAVAILABLE: an order it must not retry is answered with the rule it breaks
    fw = firewall(policy(), FailingStore(StateUnavailable))
    flow = flow_factory()

    await fw.request(flow)

    got = flow.response.headers["X-Riskwall-Reason"] if flow.response is not None else None
    assert got == reason


async def test_request_when_store_down_and_batch_repeats_a_leg_then_answered_as_duplicate_not_outage() -> None:
    # two identical legs are a duplicate whatever the store holds: a client must not retry that batch
    leg = dict(with_params(LIMIT_BUY, quantity="0.1"))
    fw = firewall(policy(extra_rules="  - {id: dup, type: duplicate_orders, window: 2s}\n"),
                  FailingStore(StateUnavailable))
    flow = make_flow("POST", "/fapi/v1/batchOrders", (("batchOrders", json.dumps([leg, leg])),), placement="body")

    await fw.request(flow)

    assert flow.response is not None and flow.response.status_code == 400
    assert (flow.response.headers["X-Riskwall-Rule"], flow.response.headers["X-Riskwall-Reason"]) == (
        "dup", "DUPLICATE_ORDER")


class SlowSettlingStore(MemoryStore):
    """A shared store whose answers take a while to land (its round trip, exaggerated)."""

    local = False

    async def settle(self, facts: Any, reservation_id: str | None, after_ms: int = 0,
                     rejections: tuple[Any, ...] = (), losses: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        await asyncio.sleep(0.2)
        return await super().settle(facts, reservation_id, after_ms, rejections, losses)


class SlowLocalStore(SlowSettlingStore):
    """An in-process store (as the memory store is) that takes as long: an order's answer must not wait for it
    either."""

    local = True


@pytest.mark.parametrize("store_type", [SlowSettlingStore, SlowLocalStore], ids=["shared", "in-process"])
async def test_response_when_store_is_slow_then_answer_forwarded_at_once_and_next_order_waits_for_it(
        store_type: type[MemoryStore]) -> None:
    store = store_type(clock=FakeClock())
    fw = firewall(store=store)
    first = order(quantity="0.8")
    await fw.request(first)
    answer(first, 200, filled("0.8"))

    await asyncio.wait_for(fw.response(first), 0.1)  # the bot is not kept waiting for the store

    assert await _exposure(store) == {"position": "0", "pending_buy": "0.8", "pending_sell": "0"}  # not yet
    other = order(quantity="0.1")
    other.request.headers["X-MBX-APIKEY"] = "another-key-" + "x" * 52
    started = asyncio.get_running_loop().time()
    await fw.request(other)  # another account's order does not wait on this one's answers
    assert asyncio.get_running_loop().time() - started < 0.15 and other.response is None
    second = order(quantity="0.5")
    await fw.request(second)  # decided on what the first answer taught: it waits for it to land
    assert second.response is not None and second.response.headers["X-Riskwall-Reason"] == "POSITION_EXCEEDS_MAX"
    assert await _exposure(store) == {"position": "0.8", "pending_buy": "0", "pending_sell": "0"}


async def test_done_when_answers_are_still_settling_then_they_land_before_the_store_closes() -> None:
    store = SlowSettlingStore(clock=FakeClock())
    fw = firewall(store=store)
    await filled_order(fw, "0.8")

    await fw.done()

    assert await _exposure(store) == {"position": "0.8", "pending_buy": "0", "pending_sell": "0"}


async def test_policy_watch_when_reading_the_files_is_slow_then_the_event_loop_keeps_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fw = firewall()
    read: list[float] = []

    def slow_change(path: str, known: str | None, settled: str | None = None) -> None:
        time.sleep(0.3)  # a git subprocess on a loaded machine
        read.append(time.monotonic())

    monkeypatch.setattr(addon_module, "_policy_change", slow_change)
    watcher = asyncio.get_running_loop().create_task(fw._watch_policy(0.001))
    ticks = 0
    started = time.monotonic()
    while time.monotonic() - started < 0.4:
        await asyncio.sleep(0.01)
        ticks += 1
    watcher.cancel()

    assert read  # the files were read meanwhile
    assert ticks >= 20  # and the loop went on (a blocking read would have allowed one or two)


@pytest.mark.parametrize(
    ("reads", "applied"),
    [
        # written in place: truncated (empty), half written, then whole; only what stayed put for a poll applies
        (["known", "empty", "half", "whole", "whole", "whole"], ["whole"]),
        (["known", "empty", "known", "known"], []),  # back to what is loaded: nothing to apply
        (["known", "other", "other", "other"], ["other"]),
        (["known", "flap-a", "flap-b", "flap-a", "flap-b"], []),  # never the same twice running
    ],
    ids=["rewritten-in-place", "put-back", "plain-edit", "never-settles"],
)
async def test_policy_watch_when_files_change_then_applied_only_once_they_read_the_same_twice_running(
    monkeypatch: pytest.MonkeyPatch, reads: list[str], applied: list[str]
) -> None:
    fw = firewall()
    fw._policy_digest = reads[0]
    polls = iter(reads[1:])
    done = asyncio.Event()
    current = [reads[0]]  # what the files read on the last poll
    seen: list[str] = []  # what was loaded and applied

    def digest(path: str) -> str | None:
        current[0] = next(polls, reads[0])
        if current[0] == reads[0]:
            done.set()
        return current[0]

    def change(path: str, known: str | None, settled: str | None = None) -> None:
        assert settled == current[0]  # what read the same twice is what must be parsed
        seen.append(current[0])

    monkeypatch.setattr(addon_module, "content_digest", digest)
    monkeypatch.setattr(addon_module, "_policy_change", change)
    watcher = asyncio.get_running_loop().create_task(fw._watch_policy(0.001))
    await asyncio.wait_for(done.wait(), 5)
    watcher.cancel()

    assert seen == applied


def test_policy_change_when_the_files_changed_after_they_settled_then_nothing_is_applied(tmp_path: Path) -> None:
    # the watcher saw the files read the same twice, then a rewrite began before they were parsed: what it parses
    # is not what settled, and recording it under the settled digest would keep a half policy for good
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nrules:\n  - {id: qty, type: max_order_qty, default: 1}\n")
    settled = content_digest(policy)
    policy.write_text("version: 1\nrules: []\n")  # the rewrite, cut short where YAML still reads

    assert addon_module._policy_change(str(policy), None, settled) is None
    change = addon_module._policy_change(str(policy), None, content_digest(policy))
    assert change is not None and isinstance(change[1], Policy)
    assert change[0] == change[1].digest == content_digest(policy)


class FlakySettlingStore(MemoryStore):
    """A shared store that cannot take the first `outage` settlements (down, or slower than its timeout), then
    takes them as the memory store does."""

    local = False

    def __init__(self, outage: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outage = outage

    async def settle(self, facts: Any, reservation_id: str | None, after_ms: int = 0,
                     rejections: tuple[Any, ...] = (), losses: tuple[Any, ...] = ()) -> tuple[Any, ...]:
        if self.outage > 0:
            self.outage -= 1
            raise StateUnavailable("state store did not answer within 50 ms")
        return await super().settle(facts, reservation_id, after_ms, rejections, losses)


async def test_response_when_the_store_cannot_take_a_fill_then_kept_the_account_refused_until_it_lands(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settling_module, "RETRY_FIRST_S", 0.05)
    store = FlakySettlingStore(outage=3, clock=FakeClock())  # the answer's write and the next two orders' tries
    fw = firewall(store=store)
    first = order(quantity="0.8")
    await fw.request(first)
    answer(first, 200, filled("0.8"))
    await fw.response(first)
    await asyncio.sleep(0)  # the settlement's first try fails: its fill is kept for another

    meanwhile = order(quantity="0.1")
    await fw.request(meanwhile)  # the account's state lacks the fill: no order of it is decided without it
    closing = order(quantity="0.1", side="SELL", reduceOnly="true")
    await fw.request(closing)  # an order that only reduces still passes, as in any outage
    for _ in range(100):
        if not fw._settling.kept:
            break
        await asyncio.sleep(0.02)
    after = order(quantity="0.5")
    await fw.request(after)  # decided on the fill, which landed on a later try

    assert meanwhile.response is not None
    assert meanwhile.response.headers["X-Riskwall-Reason"] == "STATE_UNAVAILABLE"
    assert closing.response is None
    assert after.response is not None and after.response.headers["X-Riskwall-Reason"] == "POSITION_EXCEEDS_MAX"
    exposure = await _exposure(store)
    assert exposure["position"] == "0.8"  # learned, not lost: without the retry it would be 0 and 0.8 pending
    await fw._settling.drain()


async def test_response_when_its_content_encoding_does_not_decode_then_the_hook_does_not_raise_and_fate_is_unknown(
        tmp_path: Path) -> None:
    # a venue (or a box on the way) answering gzip that is not gzip: the hook must not raise (mitmproxy would only
    # print it), the capture still gets the exchange, and the order, whose answer cannot be read, stays counted
    store = MemoryStore(clock=FakeClock())
    fw = firewall(store=store)
    fw._capture = CaptureWriter.open(str(tmp_path / "capture.jsonl"))
    first = order(quantity="0.8")
    await fw.request(first)
    assert first.response is None
    first.response = http.Response.make(200, b"", {"content-type": "application/json", "content-encoding": "gzip"})
    first.response.raw_content = b"not gzip at all"  # as received: `content` cannot decode it

    await fw.response(first)
    await asyncio.sleep(0)
    second = order(quantity="0.8")
    await fw.request(second)

    assert second.response is not None and second.response.headers["X-Riskwall-Reason"] == "POSITION_EXCEEDS_MAX"
    assert len((tmp_path / "capture.jsonl").read_text().splitlines()) == 2  # both orders' exchanges


LISTEN_KEY = "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"


HALVES = (LISTEN_KEY[:32], LISTEN_KEY[32:])
BYBIT_KEY = "XJ7kq2LmP9wRt4Vb3N"  # Bybit's keys are 18 characters


@pytest.mark.parametrize(
    ("method", "path", "upgrade", "hidden"),
    [
        ("POST", f"/ws/{LISTEN_KEY}", True, ()),  # a stream's upgrade by the wrong method: refused
        ("GET", f"/ws/%2E/{LISTEN_KEY}", True, ()),  # not in its plain form: refused
        ("PUT", f"/fapi/v1/listenKey/{LISTEN_KEY}", False, ()),  # an unknown write endpoint: refused
        ("GET", f"/ws/{LISTEN_KEY}", False, ()),  # a plain read of it: passed
        ("POST", f"/fapi/v1/order/{API_KEY}", False, ()),  # the API key as a path segment
        # dressed up, split, or short: an unknown endpoint is named by its plain words only
        ("PUT", f"/fapi/v1/listenKey/k={LISTEN_KEY}", False, ()),
        ("POST", f"/fapi/v1/order/{API_KEY}.x", False, ()),
        ("GET", f"/ws/{HALVES[0]}%2F{HALVES[1]}", True, HALVES),
        ("GET", f"/ws/%87{LISTEN_KEY}", True, ()),
        ("POST", f"/fapi/v1/order/{BYBIT_KEY}", False, (BYBIT_KEY,)),
        ("POST", f"/fapi/v1/nothing?{LISTEN_KEY}=1", False, ()),
    ],
    ids=["upgrade-by-post", "upgrade-not-plain", "unknown-write", "plain-read", "api-key-segment", "key-as-k=",
         "key-with-suffix", "key-split-by-escaped-slash", "invalid-byte-first", "short-key", "key-as-query-name"],
)
async def test_request_when_a_key_travels_in_the_path_then_no_log_line_or_capture_holds_it(
    captured: Logs, tmp_path: Path, method: str, path: str, upgrade: bool, hidden: tuple[str, ...]
) -> None:
    fw = firewall()
    fw._capture = CaptureWriter.open(str(tmp_path / "capture.jsonl"))
    flow = make_flow(method, path, () if method == "GET" else LIMIT_BUY)
    if upgrade:
        flow.request.headers.update({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                     "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})

    await fw.request(flow)
    if flow.response is None:
        answer(flow, 200, {})
        await fw.response(flow)

    written = captured.text + (tmp_path / "capture.jsonl").read_text()
    assert written  # a decision line or a capture record was written
    for secret in (LISTEN_KEY, API_KEY, *hidden):
        assert secret not in written and secret.lower() not in written


async def test_request_when_its_path_holds_a_byte_that_is_no_utf8_then_blocked_with_one_decision_line(
    captured: Logs,
) -> None:
    # mitmproxy reads a raw 0xFF in the request target as the lone surrogate \udcff, which orjson cannot write:
    # the decision must still be answered as a decision and logged, once
    fw = firewall()
    flow = make_flow("POST", "/fapi/v1/order")
    flow.request.path = "/fapi/v1/order\udcff?" + flow.request.path.split("?", 1)[1]

    await fw.request(flow)

    assert flow.response is not None and flow.response.headers.get("X-Riskwall-Reason") == "UNKNOWN_ENDPOINT"
    lines = [json.loads(line) for line in captured.text.splitlines() if '"decision"' in line]
    assert [(line["verdict"], line["reason"]) for line in lines] == [("block", "UNKNOWN_ENDPOINT")]


@pytest.mark.parametrize(("state", "refused"), [
    (TradingState.HALTED, "TRADING_HALTED"),  # the label renamed: its halt goes with its keys
    (TradingState.REDUCING, "TRADING_REDUCING"),
])
async def test_request_when_a_halted_label_is_renamed_then_its_keys_stay_halted(
    state: TradingState, refused: str, captured: Logs
) -> None:
    # `riskwall halt --account old`, then a reload names the label `main`: nothing but the halt was held under it
    store = MemoryStore(clock=FakeClock())
    await store.record_holders({holder_key(str(Venue.BINANCEUSDM), ACCOUNT): "label:old"})
    await store.set_trading_state(StateScope(None, "label:old"), state, "ops: incident", "ops")
    fw = firewall(store=store)

    flow = order(quantity="0.5")
    await fw.request(flow)

    assert flow.response is not None and flow.response.headers["X-Riskwall-Reason"] == refused
    assert [(line["previous"], line["holder"]) for line in captured.events("account_moved")] == [
        ("label:old", "label:main")]


def test_policy_change_when_the_settled_files_fail_to_parse_mid_rewrite_then_the_failed_bytes_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a job copying the same policy in place truncates it just as the watcher parses it: the failure is logged,
    # and the settled bytes, read whole again afterwards, are still a change to apply
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nrules:\n  - {id: qty, type: max_order_qty, default: 1}\n")
    settled = content_digest(policy)
    real_load = addon_module.load_policy

    def truncated(path: str) -> Policy:
        whole = policy.read_text()
        policy.write_text("version: 1\nrules:\n  - {id: qty, type: max_order_qty")  # caught mid-copy
        try:
            return real_load(path)
        finally:
            policy.write_text(whole)

    monkeypatch.setattr(addon_module, "load_policy", truncated)
    failed = addon_module._policy_change(str(policy), None, settled)
    monkeypatch.setattr(addon_module, "load_policy", real_load)

    assert failed is not None and isinstance(failed[1], PolicyError) and failed[0] != settled
    again = addon_module._policy_change(str(policy), failed[0], settled)
    assert again is not None and isinstance(again[1], Policy) and again[0] == settled


async def test_server_connect_when_the_host_booted_under_a_minute_ago_then_the_stores_address_is_refused(
    policy_file: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `time.monotonic()` counts from boot: a fresh microVM's first minute must not read as a lookup still fresh
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, p, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "",
                                                                          ("10.1.2.3", p))])
    monkeypatch.setattr(addon_module.time, "monotonic", lambda: 30.0)
    fw = RiskFirewall()
    with taddons.context(fw) as tctx:
        tctx.configure(fw, riskwall_policy=str(policy_file), riskwall_state="memory://")
        fw._own_endpoints = _store_endpoints("redis://redis.internal:6379/0")
        server = connection.Server(address=("10.1.2.3", 6379))
        await fw.server_connect(server_hooks.ServerConnectionHookData(server=server, client=tflow.tclient_conn()))

    assert server.error is not None and "own host" in server.error
