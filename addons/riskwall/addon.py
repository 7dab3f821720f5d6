"""The mitmproxy addon: flow → parsed request → engine and store → forward or answer → one log line.

The only module (with proxy.py) that imports mitmproxy. mitmproxy forwards a request whose hook raised, so
`request` catches everything and decides: whatever cannot be decided is blocked unless it can only lower
risk (cancels, reads, reduce-only orders).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import ipaddress
import logging
import math
import re
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mitmproxy import ctx, exceptions, http, io, tcp
from mitmproxy.proxy import mode_specs, server_hooks

from riskwall import admin, capture, engine, logs, metrics, settings
from riskwall.capture import RULE_HEADER, CapturedExchange, CaptureError, CaptureWriter
from riskwall.decider import (
    answer_facts,
    cannot_add_risk,
    daily_losses,
    decide_request,
    fail_decision,
    learn_answer,
    new_decision_id,
    release_delay_ms,
    report_storms,
    storm_counts,
)
from riskwall.model import (
    Action,
    Decision,
    LossCheck,
    ParsedRequest,
    Reason,
    RejectCount,
    ResponseFacts,
    StateScope,
    TradingState,
    Venue,
    Verdict,
    Violation,
)
from riskwall.paths import without_tokens
from riskwall.policy import Policy, PolicyError, content_digest, load_policy
from riskwall.settling import Settling
from riskwall.sockets import SocketGate
from riskwall.state import StateStore, StateUnavailable, UnsupportedStateUrl, open_store
from riskwall.state.base import state_named
from riskwall.state.breaker import without_password
from riskwall.venues import (
    LAST_RESORT,
    HttpRequest,
    VenueAdapter,
    adapter_for,
    canonical_host,
    default_host_map,
    host_key,
    is_ip_literal,
    listen_address,
    parse_venue,
    parse_venue_hosts,
    screen,
    split_host_port,
)
from riskwall.venues.base import Socket
from riskwall.venues.frames import Session

# a venue WebSocket's Session, in its flow's metadata
WS_SESSION = "riskwall_ws"
# how long a store just configured has to answer before the log says it does not
STORE_PROBE_S = 2.0
# the option `riskwall run` binds its reverse listeners to their venues with (PORT=VENUE)
LISTENERS_OPTION = "riskwall_listeners"
MAX_ACCOUNTS_SHOWN = 1000
REASON_HEADER = "X-Riskwall-Reason"
DECISION_HEADER = "X-Riskwall-Decision"

log = logs.get_logger("riskwall.addon")


@dataclass(slots=True)
class _FlowContext:
    """What the response hook needs to know about the decision made for this flow."""

    adapter: VenueAdapter
    request: HttpRequest
    parsed: ParsedRequest
    decision: Decision
    reserved: bool
    asked_ms: int | None = None  # when the request came in (wall clock): the reads it answers were taken after

    @property
    def decision_id(self) -> str:
        return self.decision.decision_id


class RiskFirewall:
    """Checks every order-related request to a known venue against the policy before it leaves."""

    def __init__(self, policy_path: str | None = None, state_url: str | None = None,
                 venue_hosts: Sequence[str] = ()) -> None:
        self._initial = (policy_path, state_url, tuple(venue_hosts))
        self.policy: Policy | None = None
        self.store: StateStore | None = None
        self.hosts = default_host_map()
        self._admin: Any = None
        self._watcher: asyncio.Task[None] | None = None
        self._client_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
        self._egress_allowlist = False
        self._listeners: dict[int, Venue] = {}
        self._venues_by_address: dict[tuple[str, int | None], Venue] = {}
        # the state store's address as its URL names it (host, port): no destination for a bot (`server_connect`)
        self._own_endpoints: frozenset[tuple[str, int]] = frozenset()
        # the addresses those names resolved to, and when (monotonic s): a store named by DNS is its address too
        self._own_resolved: tuple[float, frozenset[tuple[str, int]]] = (-math.inf, frozenset())
        self._settling = Settling()
        self._sockets = SocketGate(self._decide, lambda: self.store, lambda: self.policy, self._saw_account,
                                   self._settling.wait, self._settling.keep)
        # held so the event loop does not drop them half-way
        self._announcing: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._egress_allowed: frozenset[str] = frozenset()
        self._policy_digest: str | None = None
        # the store has not recorded yet which account the policy keeps each key's state under (`_claim_holders`):
        # until it has, orders that could add risk are refused (a key moved while the fleet was down must meet its
        # REDUCING state, not an account that starts empty); asked again by the next order and on each poll
        self._holders_unrecorded = True
        self._claiming: asyncio.Task[bool] | None = None
        self._capture: CaptureWriter | None = None
        # accounts that traded through this sidecar, for /v1/status (bounded: fingerprints of configured bots)
        self._accounts_seen: set[tuple[Venue, str]] = set()

    # ---- mitmproxy lifecycle ------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        """The options of every setting the addon reads (declared in riskwall.settings), and the listeners."""
        policy_path, state_url, venue_hosts = self._initial
        given = {"riskwall_policy": policy_path, "riskwall_state": state_url,
                 "riskwall_venue_hosts": list(venue_hosts) or None}
        for spec in settings.option_specs():
            default = given.get(spec.name)
            loader.add_option(spec.name, spec.kind, spec.default if default is None else default, spec.help,
                              choices=spec.choices)
        # set by `riskwall run` from its --reverse listeners, not a setting of its own
        loader.add_option(LISTENERS_OPTION, Sequence[str], [],
                          "Reverse listeners bound to a venue, as PORT=VENUE: a request on one is that venue's, "
                          "whatever its upstream's host maps to.")

    def configure(self, updated: set[str]) -> None:
        if "riskwall_egress" in updated or "riskwall_egress_allow" in updated:
            try:
                self._egress_allowed = frozenset(
                    host_key(*split_host_port(h.strip())) for h in ctx.options.riskwall_egress_allow
                )
            except ValueError as exc:
                raise exceptions.OptionsError(f"--egress-allow: {exc}") from None
            self._egress_allowlist = ctx.options.riskwall_egress == "allowlist"
        if "riskwall_client_cidrs" in updated:
            try:
                self._client_networks = tuple(
                    ipaddress.ip_network(cidr.strip(), strict=False) for cidr in ctx.options.riskwall_client_cidrs
                )
            except ValueError as exc:
                raise exceptions.OptionsError(f"--client-cidr: {exc}") from None
        if "riskwall_capture" in updated:
            self._capture = CaptureWriter.open(ctx.options.riskwall_capture) if ctx.options.riskwall_capture else None
        if "riskwall_ws_orders" in updated or "riskwall_ws_deadline_ms" in updated:
            if ctx.options.riskwall_ws_deadline_ms < 1:
                raise exceptions.OptionsError("riskwall_ws_deadline_ms must be at least 1")
            self._sockets.order_entry = bool(ctx.options.riskwall_ws_orders)
            self._sockets.deadline_s = ctx.options.riskwall_ws_deadline_ms / 1000
        if LISTENERS_OPTION in updated:
            try:
                self._listeners = _parse_listeners(ctx.options.riskwall_listeners)
            except ValueError as exc:
                raise exceptions.OptionsError(f"{LISTENERS_OPTION}: {exc}") from None
        if "riskwall_venue_hosts" in updated:
            try:
                self.hosts = default_host_map() | parse_venue_hosts(list(ctx.options.riskwall_venue_hosts))
                self._venues_by_address = self.hosts.ip_entries()
            except ValueError as exc:
                raise exceptions.OptionsError(str(exc)) from None
        if "riskwall_policy" in updated:
            try:
                self.policy = load_policy(ctx.options.riskwall_policy)
                # the bytes it was parsed from: a second read could catch a file being rewritten
                self._policy_digest = self.policy.digest
            except PolicyError as exc:
                log.error("policy_invalid", path=ctx.options.riskwall_policy, errors=exc.errors)
                raise exceptions.OptionsError("invalid policy:\n" + "\n".join(exc.errors)) from None
            log.info("policy_loaded", path=ctx.options.riskwall_policy, revision=self.policy.revision,
                     mode=self.policy.mode, rules=len(self.policy.rules), files=list(self.policy.sources))
            metrics.policy_loaded(self.policy.revision, [rule.id for rule in self.policy.rules])
        if "riskwall_state" in updated:
            url = ctx.options.riskwall_state
            if self.store is not None and self.store.url == url:
                return  # mitmproxy re-sends the old value after refusing a new one: keep the live state
            try:
                store = open_store(url)
            except UnsupportedStateUrl as exc:
                raise exceptions.OptionsError(str(exc)) from None
            previous, self.store = self.store, store
            self._own_endpoints = _store_endpoints(url)
            self._own_resolved = (-math.inf, frozenset())
            loop = asyncio.get_event_loop()
            if previous is not None:
                self._closing = loop.create_task(previous.close())
            self._announcing = loop.create_task(_announce_store(store))
            self._holders_unrecorded = True

    async def running(self) -> None:
        # an addon added straight to a Master gets configure() only for options someone updated
        if self.policy is None or self.store is None:
            self.configure({spec.name for spec in settings.option_specs()} | {LISTENERS_OPTION})
        if not self._egress_allowlist:
            log.warning("egress_open", detail="requests to hosts that are no venue are forwarded unchecked; run with "
                                              "--egress allowlist where that matters")
        await self._start_admin()
        await self._holders_recorded()
        if ctx.options.riskwall_policy_poll > 0 and self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_policy(ctx.options.riskwall_policy_poll))

    async def done(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        if self._admin is not None:
            self._admin.close()
        await self._settling.drain()
        if self.store is not None:
            await self.store.close()

    async def _start_admin(self) -> None:
        address = ctx.options.riskwall_admin
        if not address or address == "off":
            return
        try:
            host, port = listen_address(address, "riskwall_admin")
            token = admin.read_token(ctx.options.riskwall_admin_token_file or None)
            api = admin.AdminApi(self.status, lambda: self.store, token, lambda: tuple(self._accounts_seen),
                                 ctx.options.riskwall_admin_hosts)
            self._admin = await admin.serve(api, host, port)
        except (OSError, ValueError) as exc:
            # without it there is no kill switch on memory state and no probes: refuse to start
            log.error("admin_unavailable", address=address, error=str(exc))
            logging.getLogger("riskwall").error("admin endpoint %s unavailable: %s", address, exc)
            return
        log.info("admin_listening", address=address, token_configured=token is not None)

    async def _watch_policy(self, interval_s: float) -> None:
        """Hot reload: a valid change replaces the policy in one assignment (decisions in flight keep the
        object they started with), once the files have read the same on two polls in a row; an invalid one is
        logged once and the last good policy stays. The files are
        read and parsed, and their git revision asked for (a subprocess that may take seconds), in a thread:
        the event loop carries every flow and must not wait for a disk or for git."""
        # a change is applied once it has read the same on two polls in a row: a file written in place (truncated,
        # then filled rule by rule) is never taken for a policy at some point of the writing
        settling: str | None = None
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._holders_recorded()
                path = ctx.options.riskwall_policy
                digest = await asyncio.to_thread(content_digest, path)
                if digest is None or digest == self._policy_digest:
                    settling = None
                    continue
                if digest != settling:
                    settling = digest
                    continue
                change = await asyncio.to_thread(_policy_change, path, self._policy_digest, settling)
                if change is not None and isinstance(change[1], Policy) and self.policy is not None and \
                        change[1].key_holders() != self.policy.key_holders() and \
                        not await self._claim_holders(change[1]):
                    continue  # applied once the store has recorded where its keys' state is (the next polls)
                self._apply_policy_change(path, change)
                settling = None
            except Exception as exc:
                log.error("policy_watch_error", error=type(exc).__name__)

    async def _holders_recorded(self) -> bool:
        """Whether the store has recorded where the current policy keeps each key's state; asked (one request at a
        time, shared by every order waiting for it) where it has not."""
        if not self._holders_unrecorded:
            return True
        policy = self.policy
        if policy is None:
            return False
        if self._claiming is None or self._claiming.done():
            self._claiming = asyncio.create_task(self._claim_holders(policy))
        recorded = await asyncio.shield(self._claiming)
        if recorded and policy is self.policy:
            self._holders_unrecorded = False
        return recorded

    async def _claim_holders(self, policy: Policy) -> bool:
        """Record in the store which account each key's state is kept under by `policy`, before it decides an
        order. A key an `accounts` label now lists, lists no more or lists under another label would otherwise
        trade on an account that starts empty, while its positions, open orders and counters stay under the old
        one: where the old account holds any, the new one is put in REDUCING on that venue (fleet-wide) until an
        operator has the positions read and resumes it. The states are written before the record: a record that
        was written is never without them. False when the store could not be asked."""
        store = self.store
        if store is None:
            return False
        holders = policy.key_holders()
        try:
            moves = await store.holder_moves(holders)
            states = await store.trading_states() if moves else ()
            for move in moves:
                # a halt of the old account (its label) goes with the key; anything else held there, REDUCING
                state = TradingState.HALTED if state_named(states, move.venue, move.previous) is \
                    TradingState.HALTED else TradingState.REDUCING
                log.error("account_moved", fingerprint=move.fingerprint, venue=move.venue, previous=move.previous,
                          holder=move.holder, consequence=f"{state} until riskwall resume")
                reason = (f"key {move.fingerprint} moved from {move.previous} to {move.holder} by the policy: its "
                          f"positions, open orders, counters and trading state stay under {move.previous}; read "
                          "positions and open orders through the sidecar, then riskwall resume")
                await store.set_trading_state(StateScope(move.venue, move.holder), state, reason, "riskwall")
            await store.record_holders(holders)
        except Exception as exc:  # the store's outage: orders that add risk are refused until it is recorded
            log.warning("holders_unrecorded", error=type(exc).__name__)
            return False
        return True

    def reload_policy_if_changed(self) -> bool:
        path = ctx.options.riskwall_policy
        return self._apply_policy_change(path, _policy_change(path, self._policy_digest))

    def _apply_policy_change(self, path: str, change: tuple[str, Policy | PolicyError] | None) -> bool:
        if change is None:
            return False
        digest, loaded = change
        self._policy_digest = digest
        previous = self.policy.revision if self.policy else None
        if isinstance(loaded, PolicyError):
            log.error("policy_reload_failed", path=path, errors=loaded.errors, kept_revision=previous)
            metrics.policy_reload(False, previous or "none")
            return False
        self.policy = loaded
        log.info("policy_reloaded", path=path, revision=loaded.revision, previous_revision=previous,
                 mode=loaded.mode, rules=len(loaded.rules))
        metrics.policy_reload(True, loaded.revision, [rule.id for rule in loaded.rules])
        return True

    def status(self) -> dict[str, Any]:
        policy = self.policy
        return {
            "policy_revision": policy.revision if policy else None,
            "policy_mode": policy.mode if policy else None,
            "policy_files": list(policy.sources) if policy else [],
            "state_store": without_password(self.store.url) if self.store else None,
            "event_loop": _event_loop_name(),
        }

    # ---- hooks --------------------------------------------------------------------------------------

    def client_connected(self, client: Any) -> None:
        if not self._client_networks:
            return
        try:
            address = ipaddress.ip_address(client.peername[0].rsplit("%", 1)[0])
        except ValueError:
            client.error = "riskwall: unreadable client address"
            return
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address.is_loopback or any(address in network for network in self._client_networks):
            return
        client.error = "riskwall: client not in --client-cidr"
        log.warning("client_refused", client=str(address))

    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Where a bot may connect through the proxy:
        - a venue mapped by address (`--venue-host binanceusdm=127.0.0.1:9001`) must not be reached under a name
          the map does not know (an /etc/hosts alias, a DNS name pointing at it): such a connection carried
          requests that were never decided as that venue's, so it is refused;
        - the sidecar's own host is no destination, under `--egress open` too: a loopback, link-local or
          unspecified address (its state store, its admin endpoint, anything else listening on its loopback) is
          refused unless it is a venue's or named by `--egress-allow`, and so is the state store's own address
          wherever it is (a bot that reached it could delete a halt).
        The address checked is the address connected to: a second lookup cannot answer differently. A reverse
        listener's connections go where the operator configured them, and are not checked."""
        server = data.server
        try:
            if server.address is None or isinstance(data.client.proxy_mode, mode_specs.ReverseMode):
                return
            host, port = server.address
            if self.hosts.venue(host, port) is not None:
                return
            allowed = host_key(host) in self._egress_allowed or host_key(host, port) in self._egress_allowed
            own = self._own_endpoints | await self._own_addresses() if not allowed else frozenset()
            if is_ip_literal(host):
                addresses = [canonical_host(host)]
            else:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
                addresses = [canonical_host(str(info[4][0])) for info in infos]
            for address in addresses:
                venue = self.hosts.venue(address, port)
                if venue is not None and self._venues_by_address:
                    server.error = f"riskwall: {host} leads to {venue}, a venue, under a name that is not the venue's"
                    log.warning("venue_under_another_name", host=host, port=port, venue=venue)
                    return
                if not allowed and (_own_host(address) or (address, port) in own or (host_key(host), port) in own):
                    server.error = "riskwall: the sidecar's own host is no destination"
                    with contextlib.suppress(Exception):
                        metrics.egress_refused()
                        log.warning("egress_blocked", host=host_key(host), port=port, method="CONNECT",
                                    detail="the sidecar's own host or its state store")
                    return
            if addresses and not is_ip_literal(host):
                server.sni = server.sni or host
                server.address = (addresses[0], port)
        except OSError:
            return  # the name does not resolve: the connection fails on its own
        except Exception as exc:  # the check cannot be made: refuse rather than guess
            server.error = "riskwall: the destination could not be checked"
            with contextlib.suppress(Exception):
                log.warning("destination_check_failed", error=type(exc).__name__)

    async def _own_addresses(self) -> frozenset[tuple[str, int]]:
        """The addresses the state store's names resolve to (looked up again after a minute): a bot must not reach
        it by its IP address either. Names that do not resolve add nothing."""
        at, resolved = self._own_resolved
        names = [(host, port) for host, port in self._own_endpoints if not is_ip_literal(host)]
        if not names or time.monotonic() - at < OWN_ADDRESSES_TTL_S:
            return resolved
        found: set[tuple[str, int]] = set()
        loop = asyncio.get_running_loop()
        failed = False
        for host, port in names:
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError:
                failed = True
                continue
            found.update((canonical_host(str(info[4][0])), port) for info in infos)
        if not failed:  # a lookup that failed is tried again on the next connection, not trusted for a minute
            self._own_resolved = (time.monotonic(), frozenset(found))
        return resolved | frozenset(found)

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        """A tunnel that carries no HTTP the firewall can read (raw TCP after CONNECT) is never let through to a
        venue, nor anywhere under the egress allowlist."""
        try:
            host, port = flow.server_conn.address or ("", 0)
            allowed = (not self._egress_allowlist and self.hosts.venue(host, port) is None) or (
                host_key(host) in self._egress_allowed or host_key(host, port) in self._egress_allowed)
        except Exception:
            allowed = False
        if not allowed:
            flow.kill()
            with contextlib.suppress(Exception):
                log.warning("tunnel_refused", port=flow.server_conn.address[1] if flow.server_conn.address else None)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        # a tunnel to a host that is no venue would carry traffic the firewall cannot see
        self._refuse_if_not_allowed(flow)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:  # answered by another addon
            return
        started = time.perf_counter_ns()
        decision_id = new_decision_id()
        try:
            venue, names = self._venue_for(flow)
        except Exception:  # names that cannot even be read: whoever sent them gets no venue to talk to
            flow.response = http.Response.make(400, b'{"error":"riskwall: the request names a host that cannot '
                                               b'be read"}', {"content-type": "application/json",
                                                              RULE_HEADER: engine.RULE_VENUE})
            return
        if len(set(names.values())) > 1:
            self._refuse_ambiguous(flow, names, decision_id, started)
            return
        if venue is None:
            self._refuse_if_not_allowed(flow)
            return
        if "listener" not in names and "connect target" not in names:
            # a Host header or SNI names the venue while the bytes go to a host that is not it: its answer would be
            # learned as the venue's (a forged "no open orders" erases real exposure) and the bot's key sent there
            self._refuse_ambiguous(flow, {**names, "destination": None}, decision_id, started, venue)
            return
        adapter = adapter_for(venue)
        parsed: ParsedRequest | None = None
        request: HttpRequest | None = None
        reserved = False
        try:
            metrics.proxied(venue)
            request = to_http_request(flow.request)
            parsed = screen(adapter, request, order_sockets=self._sockets.reads_orders(venue))
            authenticated = flow.metadata.get("proxyauth")
            if isinstance(authenticated, tuple) and authenticated and authenticated[0]:
                parsed = dataclasses.replace(parsed, client=str(authenticated[0]))
            decision, reserved, parsed = await self._decide(parsed, decision_id)
        except StateUnavailable as exc:
            decision = fail_decision(parsed, flow.request.method, decision_id, self.policy,
                                      Reason.STATE_UNAVAILABLE, engine.RULE_STATE, error=type(exc).__name__)
        except Exception as exc:  # a crash must decide, never forward by accident
            decision = fail_decision(parsed, flow.request.method, decision_id, self.policy,
                                      Reason.INTERNAL_ERROR, engine.RULE_INTERNAL, error=type(exc).__name__)
            with contextlib.suppress(Exception):
                log.exception("firewall_error", decision_id=decision_id, venue=venue, error=type(exc).__name__)
        try:
            if decision.verdict is Verdict.BLOCK:
                flow.response = _rejection(adapter, decision, parsed)
                if self._capture is not None and request is not None:
                    self._capture.write(adapter, request, parsed, decision, flow.request.timestamp_start, None, b"")
            elif parsed is not None and request is not None:
                flow.metadata["riskwall"] = _FlowContext(adapter, request, parsed, decision, reserved,
                                                         int(flow.request.timestamp_start * 1000))
                if request.upgrade == "websocket":
                    session = self._sockets.open(venue, request)
                    if session is not None:
                        flow.metadata[WS_SESSION] = session
        except Exception:
            last = LAST_RESORT[venue]
            flow.response = http.Response.make(last.status, last.body, {**dict(last.headers),
                                                                         RULE_HEADER: engine.RULE_INTERNAL})
        if parsed is None or parsed.action is not Action.READ or decision.verdict is Verdict.BLOCK:
            with contextlib.suppress(Exception):  # the verdict stands even if stdout is gone
                # the adapter may hand a path to a sibling venue (testnet /dapi is COIN-M): log the one that decided
                _log_decision(decision, parsed, parsed.venue if parsed else venue, started, flow.request.method,
                              flow.request.path)

    async def response(self, flow: http.HTTPFlow) -> None:
        context = flow.metadata.get("riskwall")
        if not isinstance(context, _FlowContext) or flow.response is None or self.store is None:
            return
        try:
            # a body whose content encoding does not decode is read as sent (not strict): it reads as no JSON, so an
            # order's answer leaves its fate unknown (its reservation held) rather than raising out of the hook
            status, body = flow.response.status_code, flow.response.get_content(strict=False) or b""
            if self._capture is not None:
                self._capture.write(context.adapter, context.request, context.parsed, context.decision,
                                    flow.request.timestamp_start, status, body)
            if context.reserved:
                # an order's answer: all it teaches is its account's (the reservation ends with it), so it is read
                # and written after the bot has it, as in flight for that account (its next order waits for it)
                self._settling.start((str(context.parsed.venue), context.parsed.state_account),
                                     functools.partial(learn_answer, self.store, context.adapter, context.parsed,
                                                       context.request, status, body, context.decision_id, True,
                                                       self.policy, asked_ms=context.asked_ms),
                                     context.decision_id)
                return
            facts = answer_facts(context.adapter, context.parsed, context.request, status, body,
                                 context.decision_id, context.asked_ms)
            # the orders the venue refused, for the policy's reject-storm rules (nothing without one)
            counts = storm_counts(self.policy, context.parsed, status, body, context.decision_id)
            # the equity it reported, for the policy's daily-loss rules (nothing without one)
            losses = daily_losses(self.policy, context.parsed, facts)
            if self.store.local:
                # after what the account's earlier answers teach, still in flight (orders' answers are learned
                # in the background): answers are applied in the order they came, a position read's after the fill
                await self._settling.wait(str(context.parsed.venue), context.parsed.state_account)
                # (no reservation here: an order's answer went to `learn_answer` above)
                report_storms(await self.store.settle(facts, None, 0, counts, losses))
            else:
                self._settle(context, facts, 0, counts, losses)
            if context.parsed.action is Action.READ:
                self._sockets.rest_answer(context.parsed.venue, context.request, status, body,
                                          context.parsed.state_account)
        except Exception as exc:
            log.warning("learn_failed", decision_id=context.decision_id, error=type(exc).__name__)

    def _settle(self, context: _FlowContext, facts: ResponseFacts, hold_ms: int,
                counts: tuple[RejectCount, ...] = (), losses: tuple[LossCheck, ...] = ()) -> None:
        """Write what the answer taught, after the bot has it: the next decision for this account waits for it
        (Settling), so nothing the bot saw is missing when its next order is judged (a storm or daily loss it
        tripped included). `hold_ms`: how long what is left of its reservation is held (`release_delay_ms`)."""
        store = self.store
        if store is None or (facts.empty and not context.reserved and not counts and not losses):
            return
        parsed = context.parsed
        # the account's own state (orders, positions, its reservation, its refusals, its equity) keys on it;
        # prices alone on the venue
        touches = context.reserved or bool(counts) or bool(losses) or _touches_account(facts)
        key = (str(parsed.venue), parsed.state_account if touches else None)

        async def settle() -> None:
            report_storms(await store.settle(facts, context.decision_id if context.reserved else None, hold_ms,
                                             counts, losses))

        self._settling.start(key, settle, context.decision_id)

    async def error(self, flow: http.HTTPFlow) -> None:
        context = flow.metadata.get("riskwall")
        if not isinstance(context, _FlowContext):
            return
        if self._capture is not None:
            self._capture.write(context.adapter, context.request, context.parsed, context.decision,
                                flow.request.timestamp_start, None, b"")
        if not context.reserved or self.store is None:
            return
        # the order may have reached the venue before the connection broke: hold, then let go
        if self.store.local:
            try:
                await self.store.settle(ResponseFacts(), context.decision_id,
                                        release_delay_ms(context.parsed.venue, None))
            except Exception as exc:
                log.warning("release_failed", decision_id=context.decision_id, error=type(exc).__name__)
        else:
            self._settle(context, ResponseFacts(), release_delay_ms(context.parsed.venue, None))

    # ---- WebSocket --------------------------------------------------------------------------------------

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        session = flow.metadata.get(WS_SESSION)
        if isinstance(session, Session):
            with contextlib.suppress(Exception):
                log.info("websocket_opened", venue=session.venue, socket=session.socket, endpoint=session.endpoint,
                         account=session.account, connection=flow.id)

    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        session = flow.metadata.get(WS_SESSION)
        if not isinstance(session, Session) or flow.websocket is None:
            return
        message = flow.websocket.messages[-1]
        if message.injected:
            return  # our own error frame coming back through the hook
        if session.socket is Socket.STREAM and not session.private and not message.from_client:
            return  # market data: never read (the bot's own rare messages may subscribe a user-data stream)
        text = message.text if message.is_text else None
        if not message.from_client:
            try:
                await self._sockets.from_venue(session, text)
            except Exception as exc:  # the venue's message goes on; what it taught is lost, not the connection
                with contextlib.suppress(Exception):
                    log.warning("learn_failed", venue=session.venue, connection=flow.id, error=type(exc).__name__)
            return
        try:
            outcome = await self._sockets.from_client(session, text)
        except Exception as exc:  # a crash must decide, never forward by accident
            outcome = self._sockets.crashed(session, exc)
        if not outcome.forward:
            message.drop()
            if outcome.reply is not None:
                with contextlib.suppress(Exception):
                    _answer_on_socket(flow, outcome.reply, outcome.reply_delay_s)
        if outcome.decision is not None:
            frame = outcome.frame
            with contextlib.suppress(Exception):
                _log_decision(outcome.decision, outcome.request, session.venue, outcome.started_ns, "WS",
                              frame.op if frame else "?", transport="ws", connection=flow.id,
                              frame_id=frame.request_id if frame else None)

    async def websocket_end(self, flow: http.HTTPFlow) -> None:
        session = flow.metadata.get(WS_SESSION)
        if not isinstance(session, Session):
            return
        with contextlib.suppress(Exception):
            await self._sockets.closed(session)
            log.info("websocket_closed", venue=session.venue, endpoint=session.endpoint, connection=flow.id,
                     frames=session.frames, blocked=session.blocked)

    # ---- decisions ----------------------------------------------------------------------------------

    async def _decide(self, parsed: ParsedRequest, decision_id: str) -> tuple[Decision, bool, ParsedRequest]:
        """The decision, whether the store holds a reservation for it, and the request as decided (with the
        account its state is kept under, which learning from the answer needs)."""
        unrecorded = self._holders_unrecorded and parsed.action.adds_orders and not await self._holders_recorded()
        policy = self.policy  # read once: a hot reload mid-decision must not mix two policies
        if policy is None or self.store is None:
            decision = fail_decision(parsed, "", decision_id, None, Reason.POLICY_UNAVAILABLE, engine.RULE_POLICY)
            return decision, False, parsed
        evaluation = await decide_request(parsed, policy, self.store, decision_id, self._settling.wait)
        decision = evaluation.decision
        parsed = evaluation.parsed or parsed
        if unrecorded and decision.verdict is Verdict.ALLOW and not cannot_add_risk(parsed):
            # the account it was decided on may not be where the key's state is (a label moved while the store
            # could not be told): refused as the store's outage it most likely is
            if evaluation.reserved:
                with contextlib.suppress(Exception):
                    await self.store.release(decision_id)
            raise StateUnavailable("the store has not recorded which account each key's state is kept under")
        if parsed.state_account:
            self._saw_account(parsed.venue, parsed.state_account)
        if evaluation.outcome is not None:
            metrics.limit_usage_from_results(parsed.venue, parsed.account, evaluation.outcome.results)
        for violation in (*decision.violations, *decision.shadowed):
            ratio = metrics.violation_usage(violation)
            if ratio is not None:
                metrics.limit_usage(violation.rule_id, parsed.venue, parsed.account, ratio)
        return decision, evaluation.reserved, parsed

    def _saw_account(self, venue: Venue, account: str) -> None:
        if len(self._accounts_seen) < MAX_ACCOUNTS_SHOWN:
            self._accounts_seen.add((venue, account))

    def _refuse_if_not_allowed(self, flow: http.HTTPFlow) -> None:
        if not self._egress_allowlist:
            return
        host, port = flow.request.host, flow.request.port
        try:
            if self.hosts.venue(host, port) is not None:
                return
            if host_key(host) in self._egress_allowed or host_key(host, port) in self._egress_allowed:
                return
        except Exception:  # noqa: S110 - under an allowlist, a host that cannot be checked is refused
            pass
        body = b'{"error":"egress_blocked","msg":"riskwall: this host is not a configured venue (egress allowlist)"}'
        headers = {"content-type": "application/json", RULE_HEADER: "riskwall.egress"}
        flow.response = http.Response.make(403, body, headers)
        with contextlib.suppress(Exception):
            metrics.egress_refused()
            log.warning("egress_blocked", host=host_key(host), port=port, method=flow.request.method)

    def _venue_for(self, flow: http.HTTPFlow) -> tuple[Venue | None, dict[str, Venue]]:
        """The venue a request is for, and every name it carries that names a venue.

        A venue is named by the reverse listener the request came in on, the CONNECT target or absolute-form
        authority (explicit proxy), the Host header and the TLS SNI; any of them makes the request that venue's.
        A reverse listener's upstream (and the Host header mitmproxy rewrites to it) is configuration, not a
        name the request carries.
        """
        names: dict[str, Venue] = {}
        listener = self._listener_venue(flow)
        if listener is not None:
            names["listener"] = listener
        else:
            target = self.hosts.venue(flow.request.host, flow.request.port)
            if target is not None:
                names["connect target"] = target
        # on a reverse listener mitmproxy has already set the Host header to the upstream's: configuration, not
        # a name the bot sent
        header = None if isinstance(flow.client_conn.proxy_mode, mode_specs.ReverseMode) else flow.request.host_header
        if header:
            host, port = split_host_port(header)
            named = self.hosts.venue(host, port or flow.request.port) if port else self.hosts.venue(host)
            if named is not None:
                names["host header"] = named
        sni = flow.client_conn.sni
        if sni:
            named = self.hosts.venue(sni, flow.request.port)
            if named is not None:
                names["tls sni"] = named
        venues = set(names.values())
        return (venues.pop() if len(venues) == 1 else None), names

    def _listener_venue(self, flow: http.HTTPFlow) -> Venue | None:
        mode = flow.client_conn.proxy_mode
        if not isinstance(mode, mode_specs.ReverseMode):
            return None
        sockname = flow.client_conn.sockname
        return self._listeners.get(int(sockname[1])) if sockname else None

    def _refuse_ambiguous(self, flow: http.HTTPFlow, names: Mapping[str, Venue | None], decision_id: str,
                          started: int, answering: Venue | None = None) -> None:
        """Names of two venues in one request, or of a venue its bytes do not go to (a `destination` None: no venue):
        no adapter can be sure to read it as the venue that gets it. Answered as `answering` (else the first venue
        named) answers."""
        said = ", ".join(f"{where}={named or 'no venue'}" for where, named in names.items())
        violation = Violation.of(engine.RULE_VENUE, Reason.UNKNOWN_ENDPOINT, names=said)
        decision = Decision(Verdict.BLOCK, decision_id, self.policy.revision if self.policy else "none", (violation,))
        answering = answering or names.get("listener") or next(v for v in names.values() if v is not None)
        flow.response = _rejection(adapter_for(answering), decision)
        with contextlib.suppress(Exception):
            _log_decision(decision, None, answering, started, flow.request.method, flow.request.path)


def _event_loop_name() -> str | None:
    """The running loop's library, "uvloop" or "asyncio" (`--event-loop`); None outside a loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return type(loop).__module__.split(".", 1)[0]


async def _announce_store(store: StateStore) -> None:
    """Say what is true of a store just configured: that it answers, or that it does not (yet)."""
    url = without_password(store.url)
    try:
        await asyncio.wait_for(store.trading_states(), STORE_PROBE_S)
    except Exception as exc:
        log.warning("state_store_unreachable", url=url, error=type(exc).__name__,
                    detail="orders that could add risk are blocked until it answers; cancels and reductions pass")
        return
    log.info("state_store_opened", url=url)


# how long the state store's resolved addresses are trusted before they are looked up again (`_own_addresses`)
OWN_ADDRESSES_TTL_S = 60.0


def _own_host(address: str) -> bool:
    """An address that reaches the sidecar's own host: loopback, link-local (a cloud's metadata service too) or
    unspecified (which connects to loopback)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_link_local or ip.is_unspecified


def _store_endpoints(url: str) -> frozenset[tuple[str, int]]:
    """The (host, port) pairs a state store URL names (`redis://host:port/db`, a Sentinel's several), canonical."""
    try:
        parts = urlsplit(url)
        if not parts.scheme.startswith(("redis", "rediss")):
            return frozenset()
        found = set()
        for netloc in parts.netloc.rpartition("@")[2].split(","):
            host, port = split_host_port(netloc)
            if host:
                found.add((canonical_host(host), port or (26379 if "sentinel" in parts.scheme else 6379)))
        return frozenset(found)
    except (ValueError, TypeError):
        return frozenset()


def _parse_listeners(entries: Sequence[str]) -> dict[int, Venue]:
    listeners: dict[int, Venue] = {}
    for entry in entries:
        port, sep, venue = entry.partition("=")
        if not sep or not port.strip().isdigit():
            raise ValueError(f"{entry!r}: write PORT=VENUE")
        listeners[int(port)] = parse_venue(venue)
    return listeners


def to_http_request(request: http.Request) -> HttpRequest:
    """The venue-neutral request adapters read: the body exactly as sent (never decoded: a content-encoded body
    on a venue endpoint is refused, since the venue may not read what a decoder would)."""
    fields = request.headers.fields
    repeated = _repeated(fields)
    headers = _header_map(request.headers, fields, repeated)
    host, path = request.host, request.path
    return HttpRequest(
        method=request.method.upper(),
        host=host.lower(),
        port=request.port,
        path=path,
        query=_query(request, host, path),
        headers=headers,
        body=request.raw_content or b"",
        repeated_headers=repeated,
        # the header map folds a repeated header's values as mitmproxy's `headers.get` does
        content_encoding=headers.get("content-encoding", ""),
    )


# host names and IPv4 addresses: what the URL mitmproxy builds to read a query from holds before the path as given
_PLAIN_HOST = re.compile(r"[A-Za-z0-9._-]+")


def _query(request: http.Request, host: str, path: str) -> tuple[tuple[str, str], ...]:
    """The query as mitmproxy reads it (`request.query`: from the URL it builds of host and path, which it parses):
    none for a path that starts with "/" and holds no "?" after a plain host, read without building the URL, which
    cost more than the rest of `to_http_request`. Any other host or path is mitmproxy's to read, and its URL parser
    may refuse it (an IPv6 literal it cannot bracket, an HTTP/2 path that does not start with "/"): that refusal
    blocks the request as before, rather than an empty query letting it be read on."""
    if path.startswith("/") and "?" not in path and _PLAIN_HOST.fullmatch(host):
        return ()
    return tuple(request.query.items(multi=True))


def _header_map(headers: http.Headers, fields: tuple[tuple[bytes, bytes], ...],
                repeated: frozenset[str]) -> dict[str, str]:
    """`{name.lower(): value}` as mitmproxy's `Headers.items()` gives them (a repeated name's values folded with
    ", " under its first spelling): read straight from the fields when no name repeats (the usual request), so
    without a scan of every field per name."""
    if repeated:
        return {k.lower(): v for k, v in headers.items()}
    return {name.decode("utf-8", "surrogateescape").lower(): value.decode("utf-8", "surrogateescape")
            for name, value in fields}


def read_flow_file(path: Path) -> Iterator[CapturedExchange]:
    """Every HTTP flow of a mitmproxy flow file (`mitmdump -w`, or a HAR file), in the order it was written."""
    with capture.open_capture(path) as handle:
        try:
            for number, flow in enumerate(io.FlowReader(handle).stream(), start=1):
                if isinstance(flow, http.HTTPFlow):
                    yield _captured(flow, f"{path}#{number}")
        except exceptions.FlowReadException as exc:
            raise CaptureError(f"{path}: not a readable mitmproxy flow file: {exc}") from None


def _captured(flow: http.HTTPFlow, where: str) -> CapturedExchange:
    response = flow.response
    if response is None:
        return capture.exchange_from_flow(to_http_request(flow.request), flow.request.timestamp_start, where)
    return capture.exchange_from_flow(
        to_http_request(flow.request), flow.request.timestamp_start, where, status=response.status_code,
        response_body=response.get_content(strict=False) or b"", answered_s=response.timestamp_end,
        response_headers=response.headers.keys(),
    )


def _repeated(fields: tuple[tuple[bytes, bytes], ...]) -> frozenset[str]:
    names = [name.lower() for name, _ in fields]
    if len(set(names)) == len(names):
        return frozenset()
    return frozenset(name.decode("latin-1") for name in names if names.count(name) > 1)


def _policy_change(path: str, known_digest: str | None,
                   settled: str | None = None) -> tuple[str, Policy | PolicyError] | None:
    """The policy at `path` when its content differs from `known_digest`: (the digest of the bytes parsed, the
    policy or why it does not load); None when unchanged or unreadable, or when the bytes parsed are not the
    `settled` ones the watcher saw twice (the files changed again between: it waits for them to settle anew).
    Blocking (files, git): called off the event loop."""
    digest = content_digest(path)
    if digest is None or digest == known_digest:
        return None
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        # recorded as the bytes that failed, not the settled ones: a file caught mid-rewrite that then reads as
        # it settled is parsed again, not taken for the failure already logged
        return exc.digest or digest, exc
    if settled is not None and policy.digest != settled:
        return None
    return policy.digest, policy


def _touches_account(facts: ResponseFacts) -> bool:
    """Whether an answer teaches an account's state (orders, positions), not only prices."""
    return bool(facts.orders or facts.positions or facts.open_orders or facts.closed)


def _answer_on_socket(flow: http.HTTPFlow, reply: str, delay_s: float) -> None:
    """Send `reply` to the bot on the flow's WebSocket, now or after `delay_s` (the socket may close meanwhile:
    mitmproxy then drops the message)."""

    def inject() -> None:
        with contextlib.suppress(Exception):
            ctx.master.commands.call("inject.websocket", flow, True, reply.encode(), True)

    if delay_s > 0:
        asyncio.get_running_loop().call_later(delay_s, inject)
    else:
        inject()


def _rejection(adapter: VenueAdapter, decision: Decision, parsed: ParsedRequest | None = None) -> http.Response:
    rejection = adapter.rejection(decision, parsed)
    violation = decision.deciding
    headers = dict(rejection.headers)
    headers[RULE_HEADER] = violation.rule_id if violation else "riskwall"
    headers[REASON_HEADER] = violation.reason if violation else "BLOCKED"
    headers[DECISION_HEADER] = decision.decision_id
    return http.Response.make(rejection.status, rejection.body, headers)


def _log_decision(
    decision: Decision, parsed: ParsedRequest | None, venue: str, started_ns: int, method: str, path: str,
    **extra: Any,
) -> None:
    latency_us = (time.perf_counter_ns() - started_ns) // 1000
    deciding = decision.deciding
    shadow = decision.shadowed
    if decision.verdict is Verdict.BLOCK:
        verdict = "block"
    elif shadow:
        verdict = "would_block"
        deciding = shadow[0]
    else:
        verdict = "allow"
    leg_index = deciding.leg if deciding and deciding.leg is not None else 0
    intents = parsed.intents if parsed else ()
    leg = intents[leg_index] if leg_index < len(intents) else None
    fields: dict[str, Any] = {
        "decision_id": decision.decision_id,
        "verdict": verdict,
        "rule_id": deciding.rule_id if deciding else None,
        "reason": deciding.reason if deciding else None,
        "detail": deciding.detail if deciding else None,
        "context": dict(deciding.context) if deciding else {},
        "venue": venue,
        "action": parsed.action if parsed else None,
        "endpoint": parsed.endpoint if parsed else f"{method} {without_tokens(path.split('?', 1)[0])}",
        "account": parsed.account if parsed else None,
        "symbol": leg.symbol if leg else None,
        "side": leg.side if leg else None,
        "position_side": leg.position_side if leg else None,
        "qty": leg.quantity if leg else None,
        "price": leg.price if leg else None,
        "order_type": leg.order_type if leg else None,
        "reduce_only": leg.only_reduces if leg else None,
        "legs": len(intents),
        "policy_revision": decision.policy_revision,
        "latency_us": latency_us,
    }
    metrics.decision(venue, fields["action"], verdict, fields["rule_id"], fields["reason"], latency_us / 1e6)
    if decision.monitored:
        fields["monitor_mode"] = True
    if shadow:
        fields["shadowed"] = [{"rule_id": v.rule_id, "reason": v.reason, "detail": v.detail} for v in shadow]
    if len(decision.violations) > 1:
        fields["also_violated"] = [v.detail for v in decision.violations[1:]]
    fields.update(extra)
    logs.line("decision", fields)

