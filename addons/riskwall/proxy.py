"""Runs mitmproxy's Master with only the addons a risk firewall needs (no flow saving, no scripts, no UI).

Measured by the mitmproxy team's own numbers, mitmdump's full default addon set costs about 40% more CPU per
request; more importantly, no script loader means no hot-reload path that could leave traffic unfiltered.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field

from mitmproxy import options
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver, termlog, tlsconfig
from mitmproxy.master import Master

from riskwall.addon import RiskFirewall
from riskwall.model import Venue
from riskwall.venues import adapter_for


@dataclass(frozen=True, slots=True)
class ReverseListener:
    venue: Venue
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    policy: str
    state: str = "memory://"
    listen: tuple[str, int] | None = ("127.0.0.1", 8080)
    venue_hosts: tuple[str, ...] = ()
    reverse: tuple[ReverseListener, ...] = ()
    upstreams: dict[Venue, str] = field(default_factory=dict)
    confdir: str = "~/.riskwall"
    # extra CA bundle trusted for upstream TLS (testnets behind a private CA, the test suite's fakes)
    upstream_ca: str | None = None
    admin: str = "127.0.0.1:9090"
    policy_poll_s: float = 1.0
    admin_token_file: str = ""


def modes(config: ProxyConfig) -> list[str]:
    specs = []
    if config.listen is not None:
        specs.append(f"regular@{config.listen[0]}:{config.listen[1]}")
    for listener in config.reverse:
        target = config.upstreams.get(listener.venue) or f"https://{adapter_for(listener.venue).default_hosts[0]}"
        specs.append(f"reverse:{target}@{listener.host}:{listener.port}")
    return specs


def upstream_venue_hosts(config: ProxyConfig) -> list[str]:
    """An upstream URL's host belongs to its venue, so traffic sent there is checked like the real host's."""
    hosts = []
    for venue, url in config.upstreams.items():
        authority = url.split("://", 1)[-1].split("/", 1)[0]
        hosts.append(f"{venue}={authority}")
    return hosts


async def serve(config: ProxyConfig) -> None:
    opts = options.Options()
    master = Master(opts)
    firewall = RiskFirewall()
    master.addons.add(
        # mitmproxy's own messages go to stderr: stdout carries only riskwall's JSON lines
        termlog.TermLog(out=sys.stderr),
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        tlsconfig.TlsConfig(),
        errorcheck.ErrorCheck(repeat_errors_on_stderr=True),
        firewall,
    )
    update: dict[str, object] = {
        "mode": modes(config),
        "confdir": config.confdir,
        # set explicitly: mitmproxy calls configure() only for options that are updated
        "riskwall_policy": config.policy,
        "riskwall_state": config.state,
        "riskwall_venue_hosts": [*config.venue_hosts, *upstream_venue_hosts(config)],
        "riskwall_admin": config.admin,
        "riskwall_policy_poll": config.policy_poll_s,
        "riskwall_admin_token_file": config.admin_token_file,
    }
    if config.upstream_ca:
        update["ssl_verify_upstream_trusted_ca"] = config.upstream_ca
    opts.update(**update)
    await master.run()


def run(config: ProxyConfig) -> int:
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        return 0
    return 0
