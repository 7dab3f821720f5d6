"""The sidecar's admin endpoint: `AdminApi.handle` as a plain coroutine over a MemoryStore, plus a few requests
through the real asyncio socket server (`admin.serve` on port 0)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from riskwall import admin, logs
from riskwall.admin import AdminApi, AdminResponse
from riskwall.model import TradingState, Venue
from riskwall.state.base import StateScope, StateStore, StateUnavailable, TradingStateRecord
from riskwall.state.memory import MemoryStore

from .factories import ACCOUNT, FakeClock

TOKEN = "unit-admin-token-" + "t" * 24
AUTH = {"authorization": f"Bearer {TOKEN}"}
REVISION = "5f7d0969a702"


@pytest.fixture(autouse=True)
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    saved = structlog.get_config()
    stream = io.StringIO()
    logs.configure(stream=stream)
    monkeypatch.setattr(admin, "log", logs.get_logger("riskwall.admin"))
    yield stream
    structlog.configure(**saved)


class UnavailableStore(MemoryStore):
    """A store whose reads and writes fail the way a Redis that is down does, until `down` is cleared."""

    down = True

    async def trading_states(self) -> tuple[TradingStateRecord, ...]:
        if self.down:
            raise StateUnavailable("redis down")
        return await super().trading_states()

    async def set_trading_state(self, scope: StateScope, state: TradingState, reason: str, actor: str) -> None:
        if self.down:
            raise StateUnavailable("redis down")
        await super().set_trading_state(scope, state, reason, actor)


def make_api(
    store: StateStore | None = None, *, token: str | None = TOKEN, revision: str | None = REVISION,
    no_store: bool = False,
) -> tuple[AdminApi, StateStore | None]:
    if store is None and not no_store:
        store = MemoryStore(clock=FakeClock())
    status = {"policy_revision": revision, "policy_mode": "enforce" if revision else None,
              "policy_files": ["policies/default.yaml"] if revision else [], "state_store": "memory://"}
    return AdminApi(lambda: dict(status), lambda: store, token), store


async def post(api: AdminApi, route: str, body: object, headers: dict[str, str] | None = None) -> AdminResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await api.handle("POST", route, AUTH if headers is None else headers, raw)


async def states(store: StateStore | None) -> dict[str, tuple[str, str, str]]:
    assert store is not None
    return {r.scope.text: (r.state, r.reason, r.actor) for r in await store.trading_states()}


# --- probes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/healthz/", "/healthz?verbose=1"])
async def test_healthz_when_called_then_200_ok_even_without_policy_or_store(path: str) -> None:
    api, _ = make_api(revision=None, no_store=True)

    response = await api.handle("GET", path, {}, b"")

    assert response == AdminResponse(200, {"status": "ok"})


@pytest.mark.parametrize(
    ("case", "status", "body"),
    [
        ("ready", 200, {"ready": True, "policy_loaded": True, "store_ok": True}),
        ("store-unavailable", 503, {"ready": False, "policy_loaded": True, "store_ok": False}),
        ("no-store", 503, {"ready": False, "policy_loaded": True, "store_ok": False}),
        ("no-policy", 503, {"ready": False, "policy_loaded": False, "store_ok": True}),
        ("nothing", 503, {"ready": False, "policy_loaded": False, "store_ok": False}),
    ],
)
async def test_readyz_when_policy_and_store_vary_then_ready_only_with_both(
    case: str, status: int, body: dict[str, Any]
) -> None:
    api, _ = {
        "ready": lambda: make_api(),
        "store-unavailable": lambda: make_api(UnavailableStore()),
        "no-store": lambda: make_api(no_store=True),
        "no-policy": lambda: make_api(revision=None),
        "nothing": lambda: make_api(revision=None, no_store=True),
    }[case]()

    response = await api.handle("GET", "/readyz", {}, b"")

    assert response == AdminResponse(status, body)


async def test_readyz_when_store_recovers_then_ready_again() -> None:
    store = UnavailableStore()
    api, _ = make_api(store)
    assert (await api.handle("GET", "/readyz", {}, b"")).status == 503

    store.down = False  # the store answers again

    assert (await api.handle("GET", "/readyz", {}, b"")).status == 200


# --- status ------------------------------------------------------------------------------------------------


async def test_status_when_states_set_then_lists_scope_state_reason_actor() -> None:
    clock = FakeClock(1_700_000_000_000)
    store = MemoryStore(clock=clock)
    await store.set_trading_state(StateScope(), TradingState.REDUCING, "drawdown", "alice")
    await store.set_trading_state(StateScope("binanceusdm", ACCOUNT), TradingState.HALTED, "runaway loop", "bob")
    api, _ = make_api(store)

    response = await api.handle("GET", "/v1/status", {}, b"")

    assert response.status == 200
    body = response.body
    assert body["policy_revision"] == REVISION
    assert body["store_ok"] is True
    assert sorted(body["trading_states"], key=lambda s: s["scope"]) == [
        {"scope": "global", "state": "REDUCING", "reason": "drawdown", "actor": "alice", "at_ms": 1_700_000_000_000},
        {"scope": f"venue=binanceusdm,account={ACCOUNT}", "state": "HALTED", "reason": "runaway loop",
         "actor": "bob", "at_ms": 1_700_000_000_000},
    ]


@pytest.mark.parametrize(("store_case", "store_ok"), [("unavailable", False), ("none", False), ("empty", True)])
async def test_status_when_store_unavailable_or_missing_then_200_with_store_ok_flag(store_case: str,
                                                                                   store_ok: bool) -> None:
    api, _ = (make_api(UnavailableStore()) if store_case == "unavailable"
              else make_api(no_store=True) if store_case == "none" else make_api())

    response = await api.handle("GET", "/v1/status", {}, b"")

    assert response.status == 200
    assert response.body["store_ok"] is store_ok
    assert response.body["trading_states"] == []


async def test_status_when_called_without_token_then_allowed_read_only() -> None:
    api, _ = make_api(token=None)

    assert (await api.handle("GET", "/v1/status", {}, b"")).status == 200


# --- switches ----------------------------------------------------------------------------------------------

ROUTES = [("/v1/halt", TradingState.HALTED), ("/v1/reduce", TradingState.REDUCING)]


@pytest.mark.parametrize("route", ["/v1/halt", "/v1/reduce", "/v1/resume"])
@pytest.mark.parametrize("headers", [{}, AUTH, {"authorization": "Bearer "}])
async def test_switch_when_no_token_configured_then_403_and_store_untouched(route: str,
                                                                           headers: dict[str, str]) -> None:
    for token in (None, ""):
        api, store = make_api(token=token)

        response = await post(api, route, {"reason": "r"}, headers)

        assert response.status == 403
        assert "not configured" in response.body["error"]
        assert await states(store) == {}


@pytest.mark.parametrize("route", ["/v1/halt", "/v1/reduce", "/v1/resume"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong-token"},
        {"authorization": f"Bearer {TOKEN}x"},
        {"authorization": f"Bearer {TOKEN[:-1]}"},
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": TOKEN},
        {"x-token": TOKEN},
    ],
)
async def test_switch_when_token_missing_or_wrong_then_401_and_store_untouched(route: str,
                                                                              headers: dict[str, str]) -> None:
    api, store = make_api()

    response = await post(api, route, {"reason": "r"}, headers)

    assert response.status == 401
    assert await states(store) == {}


@pytest.mark.parametrize(("route", "state"), ROUTES)
@pytest.mark.parametrize(
    ("payload", "scope"),
    [
        ({}, "global"),
        ({"venue": "binanceusdm"}, "venue=binanceusdm"),
        ({"venue": "binanceusdm", "account": ACCOUNT}, f"venue=binanceusdm,account={ACCOUNT}"),
        ({"venue": "binanceusdm", "symbol": "BTCUSDT"}, "venue=binanceusdm,symbol=BTCUSDT"),
        ({"venue": "binanceusdm", "account": ACCOUNT, "symbol": "BTCUSDT"},
         f"venue=binanceusdm,account={ACCOUNT},symbol=BTCUSDT"),
    ],
)
async def test_switch_when_token_right_then_state_set_with_reason_and_actor(
    route: str, state: TradingState, payload: dict[str, str], scope: str
) -> None:
    api, store = make_api()

    response = await post(api, route, {**payload, "reason": "runaway loop", "actor": "alice@desk"})

    assert response == AdminResponse(200, {"scope": scope, "state": state})
    assert await states(store) == {scope: (state, "runaway loop", "alice@desk")}


@pytest.mark.parametrize("authorization", [f"bearer {TOKEN}", f"BEARER {TOKEN}", f"Bearer   {TOKEN}  "])
async def test_switch_when_scheme_case_or_spacing_differs_then_token_accepted(authorization: str) -> None:
    api, store = make_api()

    response = await post(api, "/v1/halt", {"reason": "r"}, {"authorization": authorization})

    assert response.status == 200
    assert list(await states(store)) == ["global"]


async def test_switch_when_actor_missing_then_recorded_as_admin_api(captured: io.StringIO) -> None:
    api, store = make_api()

    await post(api, "/v1/halt", {"venue": "binanceusdm", "reason": "incident"})

    assert await states(store) == {"venue=binanceusdm": ("HALTED", "incident", "admin-api")}
    [line] = [json.loads(x) for x in captured.getvalue().splitlines()]
    assert line["event"] == "trading_state_changed"
    assert (line["scope"], line["state"], line["reason"], line["actor"]) == (
        "venue=binanceusdm", "HALTED", "incident", "admin-api")
    assert TOKEN not in captured.getvalue()


async def test_resume_when_state_set_then_cleared_and_other_scopes_kept() -> None:
    api, store = make_api()
    await post(api, "/v1/halt", {"venue": "binanceusdm", "account": ACCOUNT, "reason": "runaway"})
    await post(api, "/v1/reduce", {"reason": "drawdown"})

    response = await post(api, "/v1/resume", {"venue": "binanceusdm", "account": ACCOUNT, "reason": "fixed"})

    assert response == AdminResponse(200, {"scope": f"venue=binanceusdm,account={ACCOUNT}", "state": "ACTIVE"})
    assert await states(store) == {"global": ("REDUCING", "drawdown", "admin-api")}


async def test_switch_when_state_changes_at_same_scope_then_latest_wins() -> None:
    api, store = make_api()
    await post(api, "/v1/reduce", {"venue": "binanceusdm", "reason": "drawdown"})

    await post(api, "/v1/halt", {"venue": "binanceusdm", "reason": "worse"})

    assert await states(store) == {"venue=binanceusdm": ("HALTED", "worse", "admin-api")}


@pytest.mark.parametrize("route", ["/v1/halt", "/v1/reduce", "/v1/resume"])
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": None, "venue": "binanceusdm"}, "reason"),
        ({"reason": "r", "account": ACCOUNT}, "venue"),
        ({"reason": "r", "symbol": "BTCUSDT"}, "venue"),
        ({"reason": "r", "venue": None, "account": ACCOUNT}, "venue"),
        (b"not json", "JSON object"),
        (b"{\"reason\": ", "JSON object"),
        (b"[1, 2]", "JSON object"),
        (b"\"halt\"", "JSON object"),
        (b"42", "JSON object"),
        (b"", "reason"),
    ],
)
async def test_switch_when_body_invalid_then_400_and_store_untouched(route: str, body: object, error: str) -> None:
    api, store = make_api()
    await store.set_trading_state(StateScope("binanceusdm"), TradingState.HALTED, "keep", "oncall")  # type: ignore[union-attr]

    response = await post(api, route, body)

    assert response.status == 400
    assert error in response.body["error"]
    assert await states(store) == {"venue=binanceusdm": ("HALTED", "keep", "oncall")}


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"venue": "binance"}, id="unknown-venue"),
        pytest.param({"venue": "BinanceUSDM"}, id="venue-not-lower-case"),
        pytest.param({"venue": "binanceusdm", "symbol": "btcusdt"}, id="symbol-lower-case"),
        pytest.param({"venue": "binanceusdm", "account": "main"}, id="account-label-not-fingerprint"),
        # the venue's orders name BTCUSDT: ccxt's unified name, another venue's id, or stray characters halt nothing
        pytest.param({"venue": "binanceusdm", "symbol": "BTC/USDT:USDT"}, id="unified-symbol"),
        pytest.param({"venue": "binanceusdm", "symbol": "BTC-USDT"}, id="another-venues-id"),
        pytest.param({"venue": "binanceusdm", "symbol": "btcusdt "}, id="trailing-space"),
        pytest.param({"venue": "binanceusdm", "symbol": "BTCUSDT\u0000"}, id="nul"),
        pytest.param({"venue": "binanceusdm", "symbol": ["BTCUSDT"]}, id="list"),
        pytest.param({"venue": "binanceusdm", "symbol": 123}, id="number"),
    ],
)
async def test_halt_when_scope_can_match_no_order_then_refused_or_normalised_never_a_silent_no_op(
    payload: dict[str, object],
) -> None:
    api, store = make_api()

    response = await post(api, "/v1/halt", {**payload, "reason": "incident"})

    assert store is not None
    records = await store.trading_states()
    if response.status == 400:
        assert records == ()
    else:
        # accepted: then it must halt the orders the operator meant (BTCUSDT on binanceusdm for this account)
        assert response.status == 200 and records
        assert all(r.scope.covers(Venue.BINANCEUSDM, ACCOUNT, "BTCUSDT") for r in records)


@pytest.mark.parametrize("route", ["/v1/halt", "/v1/resume"])
async def test_switch_when_store_unavailable_then_503(route: str) -> None:
    api, _ = make_api(UnavailableStore())

    response = await post(api, route, {"reason": "r"})

    assert response.status == 503
    assert "unavailable" in response.body["error"]


async def test_switch_when_no_store_open_then_503() -> None:
    api, _ = make_api(no_store=True)

    response = await post(api, "/v1/halt", {"reason": "r"})

    assert response.status == 503


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/v1/halt"),
        ("POST", "/healthz"),
        ("POST", "/v1/status"),
        ("PUT", "/v1/halt"),
        ("DELETE", "/v1/halt"),
        ("GET", "/v1/halted"),
        ("POST", "/v2/halt"),
        ("GET", "/v1/metrics"),
    ],
)
async def test_handle_when_route_unknown_then_404(method: str, path: str) -> None:
    api, store = make_api()

    response = await api.handle(method, path, AUTH, b'{"reason": "r"}')

    assert response == AdminResponse(404, {"error": "no such route"})
    assert await states(store) == {}


# --- the Host header (DNS rebinding) ------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "answered"), [
    (None, True),  # no Host header: no browser's request
    ("127.0.0.1", True),
    ("127.0.0.1:9090", True),
    ("10.1.2.3:9090", True),  # a Kubernetes probe or Prometheus scraping the pod's address
    ("[::1]:9090", True),
    ("::1", True),
    ("localhost", True),
    ("LOCALHOST:9090", True),
    ("localhost.:9090", True),
    ("riskwall:9090", True),  # listed with --admin-host
    ("Riskwall", True),
    ("evil.example:9090", False),  # a name the page's owner points at 127.0.0.1
    ("evil.example", False),
    ("localhost.evil.example", False),
    ("127.0.0.1.nip.io:9090", False),
    ("riskwall.evil.example", False),
    ("127.0.0.1:90a", False),
    ("127.0.0.1:", False),
    ("[::1", False),
    ("[::1]x", False),
    ("", False),
])
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/status", b""),
    ("GET", "/metrics", b""),
    ("GET", "/readyz", b""),
    ("GET", "/healthz", b""),
    ("POST", "/v1/halt", b'{"venue": "binanceusdm", "reason": "r"}'),
])
async def test_handle_when_host_header_names_unlisted_host_then_403_before_any_route(
        host: str | None, answered: bool, method: str, path: str, body: bytes) -> None:
    store = MemoryStore(clock=FakeClock())
    await store.set_trading_state(StateScope(Venue.BINANCEUSDM, ACCOUNT), TradingState.HALTED, "secret", "ops")
    api = AdminApi(lambda: {"policy_revision": REVISION}, lambda: store, TOKEN, hosts=["riskwall", " "])
    headers = dict(AUTH) if host is None else {**AUTH, "host": host}

    response = await api.handle(method, path, headers, body)

    if answered:
        assert response.status in (200, 503)
    else:
        assert response.status == 403
        assert "--admin-host" in response.body["error"]
        assert "HALTED" not in json.dumps(response.body) and response.raw is None
        assert await states(store) == {f"venue=binanceusdm,account={ACCOUNT}": ("HALTED", "secret", "ops")}


async def test_serve_when_host_header_names_unlisted_host_then_403_and_nothing_read() -> None:
    api, store = make_api()
    assert store is not None
    await store.set_trading_state(StateScope(Venue.BINANCEUSDM), TradingState.HALTED, "runaway", "ops")
    server = await admin.serve(api, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        status, _, body = await raw_exchange(port, b"GET /v1/status HTTP/1.1\r\nHost: rebound.example\r\n\r\n")
        assert status == 403 and b"HALTED" not in body and b"runaway" not in body
        status, _, body = await raw_exchange(port, f"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
                                             .encode())
        assert status == 200 and json.loads(body)["trading_states"][0]["reason"] == "runaway"
    finally:
        server.close()
        await server.wait_closed()


# --- through the socket server -----------------------------------------------------------------------------


async def raw_exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split(" ")[1]), headers, body


async def test_serve_when_raw_http_requests_then_json_responses_and_state_set() -> None:
    api, store = make_api()
    server = await admin.serve(api, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        status, headers, body = await raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["content-type"] == "application/json"
        assert headers["content-length"] == str(len(body))
        assert headers["connection"] == "close"

        payload = json.dumps({"venue": "binanceusdm", "reason": "runaway", "actor": "ops"}).encode()
        request = (b"POST /v1/halt HTTP/1.1\r\nHost: localhost:9090\r\nAuthorization: Bearer " + TOKEN.encode()
                   + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(len(payload)).encode()
                   + b"\r\n\r\n" + payload)
        status, _, body = await raw_exchange(port, request)
        assert (status, json.loads(body)) == (200, {"scope": "venue=binanceusdm", "state": "HALTED"})
        assert await states(store) == {"venue=binanceusdm": ("HALTED", "runaway", "ops")}

        status, _, body = await raw_exchange(port, b"POST /v1/resume HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
        assert status == 401
        status, _, _ = await raw_exchange(port, b"GET /nowhere HTTP/1.1\r\n\r\n")
        assert status == 404
        status, _, body = await raw_exchange(port, b"GET /v1/status HTTP/1.1\r\n\r\n")
        assert status == 200 and json.loads(body)["trading_states"][0]["scope"] == "venue=binanceusdm"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"garbage\r\n\r\n",
        b"POST /v1/halt HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/halt HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/halt HTTP/1.1\r\nContent-Length: 999999\r\n\r\n",
        b"POST /v1/halt HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}",  # body shorter than announced, then EOF
    ],
)
async def test_serve_when_request_malformed_then_400(request_bytes: bytes) -> None:
    api, store = make_api()
    server = await admin.serve(api, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request_bytes)
        await writer.drain()
        writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert await states(store) == {}
    finally:
        server.close()
        await server.wait_closed()


async def test_serve_when_request_head_too_large_then_400() -> None:
    api, _ = make_api()
    server = await admin.serve(api, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert data.startswith(b"HTTP/1.1 400")
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(("env", "file_text", "expected"), [
    ("env-token", "file-token\n", "env-token"),
    ("  env-token \n", None, "env-token"),
    (None, "file-token\nsecond line\n", "file-token"),
    (None, "\n", None),
    (None, None, None),
])
def test_read_token_when_env_and_file_vary_then_env_wins_and_file_first_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, env: str | None, file_text: str | None, expected: str | None
) -> None:
    monkeypatch.delenv("RISKWALL_ADMIN_TOKEN", raising=False)
    if env is not None:
        monkeypatch.setenv("RISKWALL_ADMIN_TOKEN", env)
    path = None
    if file_text is not None:
        path = tmp_path / "token"
        path.write_text(file_text, encoding="utf-8")

    assert admin.read_token(str(path) if path else None) == expected
