"""The sidecar's local admin endpoint: health, readiness, status, and the trading-state switches.

A deliberately small HTTP/1.1 server on asyncio streams (no framework: five routes, JSON in and out). It
shares the event loop with the proxy, so it reads the same policy and store objects the firewall uses.

Mutating routes (`POST /v1/halt|reduce|resume`) need `Authorization: Bearer <token>`, compared in constant
time. With no token configured they are refused: code running beside the bot (the threat a firewall exists
for) shares its loopback, so an open switch would let it resume a halted account.

The reads need no token (probes and Prometheus scrape them), so every route answers only under a Host header
that names an IP address, `localhost`, or a name the operator listed (`--admin-host`): a web page the bot's
host browses could otherwise point a name of its own at 127.0.0.1 (DNS rebinding) and read the positions and
trading states in `/v1/status` as a same-origin request. A request without a Host header is no browser's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hmac
import ipaddress
import os
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from riskwall import logs, metrics
from riskwall.model import FINGERPRINT_PATTERN, TradingState, Venue
from riskwall.settings import ADMIN_TOKEN_ENV
from riskwall.state.base import StateScope, StateStore, StateUnavailable, TradingStateRecord
from riskwall.venues import parse_venue, symbol_problem

MAX_REQUEST_BYTES = 64 * 1024
# a key's fingerprint, or an account label of the policy (`label:<name>`: every key the label lists)
_ACCOUNT = re.compile(rf"{FINGERPRINT_PATTERN}|label:[a-z0-9][a-z0-9_.-]{{0,63}}")
READ_TIMEOUT_S = 5.0
_PORT = re.compile(r":[0-9]{1,5}")

log = logs.get_logger("riskwall.admin")


@dataclass(frozen=True, slots=True)
class AdminResponse:
    status: int
    body: dict[str, Any]
    # a body that is not JSON (the Prometheus text format)
    raw: bytes | None = None
    content_type: str = "application/json"


class AdminApi:
    """Route handlers, independent of the socket server so they are testable as plain coroutines."""

    def __init__(self, status: Callable[[], dict[str, Any]], store: Callable[[], StateStore | None],
                 token: str | None, accounts: Callable[[], Iterable[tuple[Venue, str]]] = tuple,
                 hosts: Iterable[str] = ()) -> None:
        self._status = status
        self._store = store
        self._token = token
        self._accounts = accounts
        self._hosts = frozenset(host.strip().lower().rstrip(".") for host in hosts if host.strip())

    async def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> AdminResponse:
        if not self._host_allowed(headers.get("host")):
            return AdminResponse(403, {"error": "the Host header names no host this endpoint answers under: "
                                                "an IP address, localhost, or a name given with --admin-host"})
        path = path.split("?", 1)[0].rstrip("/") or "/"
        if method == "GET" and path == "/healthz":
            return AdminResponse(200, {"status": "ok"})
        if method == "GET" and path == "/readyz":
            return await self._ready()
        if method == "GET" and path == "/v1/status":
            return await self._full_status()
        if method == "GET" and path == "/metrics":
            return await self._metrics()
        if method == "POST" and path in ("/v1/halt", "/v1/reduce", "/v1/resume"):
            if not self._authorized(headers):
                return AdminResponse(401 if self._token else 403, {"error": self._auth_error()})
            state = {"/v1/halt": TradingState.HALTED, "/v1/reduce": TradingState.REDUCING,
                     "/v1/resume": TradingState.ACTIVE}[path]
            return await self._set_state(state, body)
        return AdminResponse(404, {"error": "no such route"})

    def _host_allowed(self, host: str | None) -> bool:
        """Whether a request naming `host` (its Host header, None when it sent none) is answered (module doc)."""
        if host is None:
            return True
        name = host.strip().lower()
        if name.startswith("["):  # [v6]:port
            bracketed, closed, rest = name[1:].partition("]")
            if not closed or (rest and not _PORT.fullmatch(rest)):
                return False
            name = bracketed
        elif name.count(":") == 1:
            name, _, port = name.partition(":")
            if not _PORT.fullmatch(":" + port):
                return False
        try:
            ipaddress.ip_address(name)
        except ValueError:
            name = name.rstrip(".")
            return name == "localhost" or name in self._hosts
        return True

    def _authorized(self, headers: dict[str, str]) -> bool:
        if not self._token:
            return False
        offered = headers.get("authorization", "")
        scheme, _, value = offered.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self._token.encode())

    def _auth_error(self) -> str:
        if not self._token:
            return f"admin token not configured: set {ADMIN_TOKEN_ENV} or --admin-token-file on the sidecar"
        return "missing or wrong bearer token"

    async def _ready(self) -> AdminResponse:
        status = self._status()
        store = self._store()
        store_ok = await _store_ok(store)
        ready = status.get("policy_revision") is not None and store_ok
        return AdminResponse(200 if ready else 503, {"ready": ready, "policy_loaded": ready or
                                                     status.get("policy_revision") is not None,
                                                     "store_ok": store_ok})

    async def _metrics(self) -> AdminResponse:
        store = self._store()
        if store is not None:
            with contextlib.suppress(StateUnavailable):
                metrics.trading_states((r.scope.text, r.state) for r in await store.trading_states())
        body, content_type = metrics.render()
        return AdminResponse(200, {}, raw=body, content_type=content_type)

    async def _full_status(self) -> AdminResponse:
        store = self._store()
        body = dict(self._status())
        try:
            records = await store.trading_states() if store else ()
            body["store_ok"] = store is not None
        except StateUnavailable:
            records, body["store_ok"] = (), False
        body["trading_states"] = [record_json(r) for r in records]
        # positions and pending exposure of every account this sidecar has seen, per symbol and position side, and
        # what its counting rules hold (open orders, today's notional per budget)
        exposure: dict[str, dict[str, dict[str, str]]] = {}
        usage: dict[str, dict[str, dict[str, str]]] = {}
        if store is not None and body["store_ok"]:
            try:
                for venue, account in sorted(self._accounts()):
                    exposure[f"{venue}|{account}"] = await store.exposure(venue, account)
                    usage[f"{venue}|{account}"] = await store.usage(venue, account)
            except StateUnavailable:
                body["store_ok"] = False
        body["exposure"] = exposure
        body["usage"] = usage
        return AdminResponse(200, body)

    async def _set_state(self, state: TradingState, body: bytes) -> AdminResponse:
        store = self._store()
        if store is None:
            return AdminResponse(503, {"error": "state store not open"})
        try:
            request = orjson.loads(body or b"{}")
            scope = StateScope(request.get("venue"), request.get("account"), request.get("symbol"))
            reason = str(request.get("reason") or "")
            actor = str(request.get("actor") or "admin-api")
        except (orjson.JSONDecodeError, AttributeError):
            return AdminResponse(400, {"error": "body must be a JSON object"})
        if not reason:
            return AdminResponse(400, {"error": "a reason is required"})
        if scope.venue is None and (scope.account or scope.symbol):
            return AdminResponse(400, {"error": "an account or symbol scope needs a venue"})
        # a scope that can never match an order would report HALTED and block nothing
        try:
            venue = parse_venue(scope.venue).value if scope.venue else None
        except ValueError as exc:
            return AdminResponse(400, {"error": str(exc)})
        if scope.account is not None and not _ACCOUNT.fullmatch(str(scope.account)):
            return AdminResponse(400, {"error": "account must be a 12-hex-digit key fingerprint or label:<name>"})
        symbol = None
        if scope.symbol is not None:
            if not isinstance(scope.symbol, str) or venue is None:
                return AdminResponse(400, {"error": "symbol must be a text naming the venue's instrument"})
            symbol = scope.symbol.upper()
            if (problem := symbol_problem(Venue(venue), symbol)) is not None:
                return AdminResponse(400, {"error": problem})
        scope = StateScope(venue, scope.account, symbol)
        try:
            await store.set_trading_state(scope, state, reason, actor)
        except StateUnavailable:
            return AdminResponse(503, {"error": "state store unavailable"})
        log.warning("trading_state_changed", scope=scope.text, state=state, reason=reason, actor=actor)
        return AdminResponse(200, {"scope": scope.text, "state": state})


def record_json(record: TradingStateRecord) -> dict[str, Any]:
    """A trading state as status shows it; one a rule set by itself (a reject storm) names the rule and when it
    ends (`riskwall resume` of its scope ends it sooner)."""
    out: dict[str, Any] = {"scope": record.scope.text, "state": record.state, "reason": record.reason,
                           "actor": record.actor, "at_ms": record.at_ms}
    if record.rule_id is not None:
        out["rule_id"] = record.rule_id
    if record.until_ms is not None:
        out["until_ms"] = record.until_ms
        out["until"] = datetime.datetime.fromtimestamp(record.until_ms / 1000, datetime.UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
    return out


async def _store_ok(store: StateStore | None) -> bool:
    if store is None:
        return False
    try:
        await store.trading_states()
    except StateUnavailable:
        return False
    return True


type Handler = Callable[[str, str, dict[str, str], bytes], Awaitable[AdminResponse]]


async def serve(api: AdminApi, host: str, port: int) -> asyncio.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            response = await asyncio.wait_for(_read_and_handle(reader, api.handle), READ_TIMEOUT_S)
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            response = AdminResponse(400, {"error": "bad request"})
        except Exception as exc:
            log.error("admin_error", error=type(exc).__name__)
            response = AdminResponse(500, {"error": "internal error"})
        payload = response.raw if response.raw is not None else orjson.dumps(response.body)
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
                  500: "Internal Server Error", 503: "Service Unavailable"}.get(response.status, "Error")
        head = (f"HTTP/1.1 {response.status} {reason}\r\ncontent-type: {response.content_type}\r\n"
                f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n")
        try:
            writer.write(head.encode() + payload)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return await asyncio.start_server(on_client, host, port, family=family, reuse_address=True)


async def _read_and_handle(reader: asyncio.StreamReader, handle: Handler) -> AdminResponse:
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_REQUEST_BYTES:
        raise ValueError("request head too large")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length < 0 or length > MAX_REQUEST_BYTES:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    return await handle(method.upper(), path, headers, body)


def read_token(token_file: str | None) -> str | None:
    """The admin token: from RISKWALL_ADMIN_TOKEN, else from a file (first line)."""
    token = os.environ.get(ADMIN_TOKEN_ENV)
    if token:
        return token.strip()
    if token_file:
        with open(os.path.expanduser(token_file), encoding="utf-8") as handle:
            return handle.readline().strip() or None
    return None
