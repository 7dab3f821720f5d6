"""Runs mitmproxy's Master with only the addons a risk firewall needs (no flow saving, no scripts, no UI).

Measured by the mitmproxy team's own numbers, mitmdump's full default addon set costs about 40% more CPU per
request; more importantly, no script loader means no hot-reload path that could leave traffic unfiltered.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import inspect
import ipaddress
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certifi
from mitmproxy import addonmanager, connection, exceptions, flow, hooks, http, options
from mitmproxy.addons import core, errorcheck, next_layer, proxyauth, proxyserver, termlog, tlsconfig
from mitmproxy.master import Master
from mitmproxy.proxy import mode_specs
from mitmproxy.proxy.context import Context

from riskwall import settings
from riskwall.addon import LISTENERS_OPTION, RiskFirewall
from riskwall.settings import ReverseListener as ReverseListener  # re-exported: a config's listeners
from riskwall.settings import RunSettings
from riskwall.venues import adapter_for

# what `riskwall run` runs with: the settings, each declared once (riskwall.settings)
ProxyConfig = RunSettings


class LeanAddonManager(addonmanager.AddonManager):
    """mitmproxy's addon manager, dispatching each event only to the addons that handle it.

    mitmproxy's own `trigger_event` walks the whole chain for every event and, for each addon, enters an error
    guard, starts a coroutine and looks the hook up by name, whether the addon has it or not; and every request and
    response hook is followed by an `update` event that none of riskwall's addons handles. This one finds each
    event's handlers once (per addon of the chain, its children included, as mitmproxy's `_iter_hooks` finds them)
    and calls only those, each addon's under the same error guard (`safecall`) and with the same `AddonHalt`
    behaviour; adding or removing an addon finds them again. An `update` event is built only when some addon
    handles it, and a hook's arguments are read by field names found once per hook type. Everything else is
    mitmproxy's.
    """

    def __init__(self, master: Master) -> None:
        super().__init__(master)  # type: ignore[no-untyped-call]  # mitmproxy leaves it untyped
        # event name -> per addon in the chain that handles it, its handlers (itself and its children, in order)
        self._handlers: dict[str, list[list[Callable[..., Any]]]] = {}

    def add(self, *addons: Any) -> None:
        super().add(*addons)  # type: ignore[no-untyped-call]
        self._handlers.clear()

    def remove(self, addon: Any) -> None:
        super().remove(addon)  # type: ignore[no-untyped-call]
        self._handlers.clear()

    def clear(self) -> None:
        super().clear()  # type: ignore[no-untyped-call]
        self._handlers.clear()

    def _handlers_of(self, event: hooks.Hook) -> list[list[Callable[..., Any]]]:
        handlers = self._handlers.get(event.name)
        if handlers is None:
            handlers = [found for addon in self.chain if (found := [f for _, f in self._iter_hooks(addon, event)])]
            self._handlers[event.name] = handlers
        return handlers

    async def handle_lifecycle(self, event: hooks.Hook) -> None:
        # mitmproxy's, but a flow's `update` event is built only when an addon handles `update` (none of riskwall's)
        await self.trigger_event(event)
        if self._handlers_of(_UPDATE):
            message = _hook_args(event)[0]
            if isinstance(message, flow.Flow):
                await self.trigger_event(hooks.UpdateHook([message]))

    async def trigger_event(self, event: hooks.Hook) -> None:
        chain = self._handlers_of(event)
        if not chain:
            return
        args = _hook_args(event)  # once an event, not per handler
        for handlers in chain:
            try:
                with addonmanager.safecall():
                    for handler in handlers:
                        result = handler(*args)
                        if result is not None and inspect.isawaitable(result):
                            await result
            except exceptions.AddonHalt:
                return


class StartupFrozen:
    """Once the sidecar runs, what it built while starting (mitmproxy, the imported modules, the policy: over
    100,000 objects) leaves the cyclic garbage collector's sight (`gc.freeze`). A full collection walks every object
    it tracks, which took ~50 ms with them here: as long as the store's call timeout (50 ms), so a collection
    failed the Redis calls in flight and three of them opened the breaker (orders refused as STATE_UNAVAILABLE for
    its cool-down), and it stalled every request the proxy held. Now it walks only what the sidecar made since.
    Added last: `running` reaches it after the firewall has loaded its policy and opened its store."""

    def running(self) -> None:
        gc.collect()
        gc.freeze()


_UPDATE = hooks.UpdateHook([])  # what `_handlers_of` looks `update` handlers up by
# a hook type's argument names in order: mitmproxy's `Hook.args` walks the dataclass's fields on every call
_HOOK_ARG_NAMES: dict[type[hooks.Hook], tuple[str, ...]] = {}


def _hook_args(event: hooks.Hook) -> list[Any]:
    """`event.args()`, its field names read once per hook type."""
    names = _HOOK_ARG_NAMES.get(type(event))
    if names is None:
        names = _HOOK_ARG_NAMES[type(event)] = tuple(f.name for f in dataclasses.fields(event))  # type: ignore[arg-type]
    return [getattr(event, name) for name in names]


class LeanMaster(Master):
    """mitmproxy's Master with `LeanAddonManager` in place of its own addon manager."""

    def __init__(self, opts: Any) -> None:
        super().__init__(opts)
        self.options.changed.disconnect(self.addons._configure_all)
        self.addons = LeanAddonManager(self)


def modes(config: ProxyConfig) -> list[str]:
    specs = []
    if config.listen is not None:
        specs.append(f"regular@{config.listen[0]}:{config.listen[1]}")
    for listener in config.reverse:
        target = listener.upstream or config.upstreams.get(listener.venue) or (
            f"https://{adapter_for(listener.venue).default_hosts[0]}")
        specs.append(f"reverse:{target}@{listener.host}:{listener.port}")
    return specs


def upstream_venue_hosts(config: ProxyConfig) -> list[str]:
    """An upstream URL's host belongs to its venue, so traffic sent there is checked like the real host's."""
    hosts = []
    targets = [*config.upstreams.items(), *((r.venue, r.upstream) for r in config.reverse if r.upstream)]
    for venue, url in targets:
        authority = url.split("://", 1)[-1].split("/", 1)[0]
        hosts.append(f"{venue}={authority}")
    return hosts


class ExplicitProxyAuth(proxyauth.ProxyAuth):
    """mitmproxy's proxy authentication, for the explicit proxy only.

    On a reverse listener mitmproxy would demand (and strip) the request's own `Authorization` header, which
    belongs to the bot and its venue; reverse listeners are guarded by --client-cidr instead.
    """

    def http_connect(self, f: http.HTTPFlow) -> None:
        if isinstance(f.client_conn.proxy_mode, mode_specs.RegularMode):
            super().http_connect(f)

    def requestheaders(self, f: http.HTTPFlow) -> None:
        if isinstance(f.client_conn.proxy_mode, mode_specs.RegularMode):
            super().requestheaders(f)


def exposure_problems(config: ProxyConfig) -> list[str]:
    """Listeners reachable from other machines must say who may use them."""
    problems = []
    if config.listen is not None and not _loopback(config.listen[0]):
        if not (config.proxy_auth or config.client_cidrs):
            problems.append(f"--listen {config.listen[0]} is not loopback: give --proxy-auth or --client-cidr")
    for listener in config.reverse:
        if not _loopback(listener.host) and not config.client_cidrs:
            problems.append(f"--reverse {listener.venue}@{listener.host} is not loopback: give --client-cidr")
    return problems


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def upstream_trust(config: ProxyConfig) -> str | None:
    """The system's CA bundle plus the extra one, written to the confdir: adding a testnet's private CA must
    not stop the real venues from verifying."""
    if not config.upstream_ca:
        return None
    confdir = Path(os.path.expanduser(config.confdir))
    confdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    bundle = confdir / "upstream-trust.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + Path(config.upstream_ca).read_bytes())
    return str(bundle)


def trust_message_types() -> None:
    """Stop mitmproxy re-checking the type of every field of every request and response it builds.

    mitmproxy checks them in a `__post_init__` it defines only `if __debug__` (`python -O` drops it): a development
    aid for code that builds messages by hand. In the sidecar every message is built by mitmproxy's own HTTP/1
    and HTTP/2 readers or by `Response.make` for a refusal, and the check cost about 5% of the sidecar's CPU per
    order (two messages, a dozen fields each, `dataclasses.fields` and a recursive type walk each time). Only the
    sidecar calls this: in-process tests keep the check, so a refusal built with a wrong type still fails there.
    Assertions elsewhere (mitmproxy's protocol invariants) stay on, which `python -O` would have dropped too.
    """
    if "__post_init__" in vars(http.MessageData):
        http.MessageData.__post_init__ = _no_type_check  # type: ignore[method-assign]


def _no_type_check(self: http.MessageData) -> None:
    return None


# what a proxy layer's Context holds, as mitmproxy 11 and 12 define it: lean_context_fork() relies on it
_CONTEXT_FIELDS = frozenset({"client", "options", "server", "layers"})


def lean_context_fork() -> None:
    """Stop mitmproxy building a server connection it throws away for every request.

    `Context.fork()`, which mitmproxy's HTTP layer calls once per request (each HTTP stream gets a copy of the
    connection's context), makes the copy with `Context(client, options)`, whose `__init__` builds a new
    `connection.Server` (a dataclass with a uuid4 id and a dozen fields), and then replaces it with the original's
    server. That discarded object cost about 2.5% of the sidecar's CPU per order. The fork here copies the same
    four fields (the layer list as a new list, as mitmproxy's does) without building it. Applied only while a
    Context holds exactly those fields: a mitmproxy that adds one keeps its own fork.
    """
    probe = Context(connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0), timestamp_start=0.0),
                    options.Options())
    if set(getattr(probe, "__dict__", ())) == _CONTEXT_FIELDS and not hasattr(probe, "__slots__"):
        Context.fork = _fork  # type: ignore[method-assign]


def _fork(self: Context) -> Context:
    copy = Context.__new__(Context)
    copy.client = self.client
    copy.options = self.options
    copy.server = self.server
    copy.layers = self.layers.copy()
    return copy


async def serve(config: ProxyConfig) -> None:
    trust_message_types()
    lean_context_fork()
    opts = options.Options()
    master = LeanMaster(opts)
    firewall = RiskFirewall()
    if config.proxy_auth:
        master.addons.add(ExplicitProxyAuth())
    master.addons.add(
        # mitmproxy's own messages go to stderr: stdout carries only riskwall's JSON lines
        termlog.TermLog(out=sys.stderr),
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        errorcheck.ErrorCheck(repeat_errors_on_stderr=True),
        firewall,
        StartupFrozen(),
    )
    Path(os.path.expanduser(config.confdir)).mkdir(mode=0o700, parents=True, exist_ok=True)
    update: dict[str, object] = {
        "mode": modes(config),
        "confdir": config.confdir,
        # every riskwall option, set explicitly: mitmproxy calls configure() only for options that are updated
        **settings.option_values(config),
        # an upstream's host is its venue's too
        "riskwall_venue_hosts": [*config.venue_hosts, *upstream_venue_hosts(config)],
        # a reverse listener is its venue, whatever host its upstream shares with another listener's
        LISTENERS_OPTION: [f"{listener.port}={listener.venue}" for listener in config.reverse],
    }
    trust = upstream_trust(config)
    if trust:
        update["ssl_verify_upstream_trusted_ca"] = trust
    if config.proxy_auth:
        update["proxyauth"] = config.proxy_auth
    opts.update(**update)
    # as PID 1 in a container a process gets no default SIGTERM action, and a job started in the background
    # by a script inherits SIGINT ignored: stop cleanly on either
    with contextlib.suppress(NotImplementedError, RuntimeError):
        for stop in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(stop, master.shutdown)
    await master.run()
    # what is left is connections being cancelled on the way out; Python 3.12's streams report each cancelled
    # connection task as an error (fixed in later releases): a clean stop prints nothing
    asyncio.get_running_loop().set_exception_handler(_quiet_cancellations)


def _quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What `asyncio.run` makes the proxy's loop with: uvloop's (the default: libuv's sockets and timers, a few
    percent less CPU per request, README "Performance") or, for "asyncio" or where uvloop is not installed, the
    standard library's (None). Only the loop changes: tasks, streams and mitmproxy's layers are asyncio's either way."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        print("riskwall: uvloop is not installed here: running on asyncio's own event loop", file=sys.stderr)
        return None
    return uvloop.new_event_loop


def run(config: ProxyConfig) -> int:
    try:
        asyncio.run(serve(config), loop_factory=event_loop_factory(config.event_loop))
    except KeyboardInterrupt:
        return 0
    return 0
