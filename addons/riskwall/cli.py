"""`riskwall` command line: run the sidecar, check a policy, fingerprint a key.

Every `run` option has an environment variable (RISKWALL_POLICY, RISKWALL_LISTEN, ...) so a container can
be configured without a command line. A command-line value wins over the environment; repeatable options
(--venue-host, --reverse, --upstream) add to what the environment lists.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from riskwall import logs
from riskwall.model import Venue, fingerprint
from riskwall.policy import PolicyError, load_policy
from riskwall.state import UnsupportedStateUrl, open_store
from riskwall.venues import parse_venue

ENV_LIST_SEPARATORS = (",", " ", "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    return int(args.handler(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskwall", description="Risk firewall sidecar for trading bots.")
    sub = parser.add_subparsers(metavar="COMMAND")

    run = sub.add_parser("run", help="run the sidecar proxy")
    run.add_argument("--policy", default=_env("RISKWALL_POLICY", "policies/"),
                     help="policy file or folder [RISKWALL_POLICY, default policies/]")
    run.add_argument("--listen", default=_env("RISKWALL_LISTEN", "127.0.0.1:8080"),
                     help="explicit-proxy listener HOST:PORT, or 'off' [RISKWALL_LISTEN, default 127.0.0.1:8080]")
    run.add_argument("--state", default=_env("RISKWALL_STATE", "memory://"),
                     help="state store URL: memory:// or redis://host:6379/0 [RISKWALL_STATE]")
    run.add_argument("--venue-host", action="append", default=_env_list("RISKWALL_VENUE_HOSTS"),
                     metavar="VENUE=HOST[:PORT]",
                     help="map another host (testnet, fake exchange) to a venue; repeatable [RISKWALL_VENUE_HOSTS]")
    run.add_argument("--reverse", action="append", default=_env_list("RISKWALL_REVERSE"), metavar="VENUE@HOST:PORT",
                     help="plain-HTTP listener forwarding to the venue (no CA needed); repeatable [RISKWALL_REVERSE]")
    run.add_argument("--upstream", action="append", default=_env_list("RISKWALL_UPSTREAMS"), metavar="VENUE=URL",
                     help="where a venue's reverse listener forwards instead of its real host [RISKWALL_UPSTREAMS]")
    run.add_argument("--confdir", default=_env("RISKWALL_CONFDIR", "~/.riskwall"),
                     help="where the proxy CA is created and kept [RISKWALL_CONFDIR, default ~/.riskwall]")
    run.add_argument("--upstream-ca", default=_env("RISKWALL_UPSTREAM_CA", None), metavar="PEM",
                     help="CA bundle to verify upstream TLS with instead of the system's (testnets, fakes) "
                          "[RISKWALL_UPSTREAM_CA]")
    run.set_defaults(handler=_cmd_run)

    policy = sub.add_parser("policy", help="work with policy files")
    policy_sub = policy.add_subparsers(metavar="SUBCOMMAND")
    check = policy_sub.add_parser("check", help="validate policy files and folders; exit 1 on any error")
    check.add_argument("paths", nargs="+")
    check.set_defaults(handler=_cmd_policy_check)

    fp = sub.add_parser("fingerprint", help="print the fingerprint of an API key read from stdin")
    fp.set_defaults(handler=_cmd_fingerprint)
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from riskwall import proxy  # imports mitmproxy: keep `riskwall policy check` light

    logs.configure()
    try:
        config = proxy.ProxyConfig(
            policy=args.policy,
            state=args.state,
            listen=None if args.listen in ("off", "", "none") else _host_port(args.listen, "--listen"),
            venue_hosts=tuple(args.venue_host),
            reverse=tuple(_reverse(spec) for spec in args.reverse),
            upstreams=dict(_upstream(spec) for spec in args.upstream),
            confdir=args.confdir,
            upstream_ca=args.upstream_ca,
        )
        load_policy(config.policy)  # refuse to start on an invalid policy, listing every error
        open_store(config.state)
    except PolicyError as exc:
        print(f"riskwall: invalid policy {args.policy}:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    except (ValueError, UnsupportedStateUrl) as exc:
        print(f"riskwall: {exc}", file=sys.stderr)
        return 2
    if config.listen is None and not config.reverse:
        print("riskwall: nothing to listen on: give --listen or --reverse", file=sys.stderr)
        return 2
    return proxy.run(config)


def _cmd_policy_check(args: argparse.Namespace) -> int:
    failed = False
    for path in args.paths:
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            failed = True
            for error in exc.errors:
                print(error)
            continue
        print(f"{path}: ok ({len(policy.rules)} rules, revision {policy.revision})")
    return 1 if failed else 0


def _cmd_fingerprint(args: argparse.Namespace) -> int:
    # read from stdin only: a key on the command line would land in shell history and `ps`
    key = sys.stdin.readline().strip()
    if not key:
        print("riskwall: give the API key on stdin", file=sys.stderr)
        return 2
    print(fingerprint(key))
    return 0


def _host_port(text: str, option: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) < 65536):
        raise ValueError(f"{option} {text!r}: write HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", int(port)


def _reverse(spec: str):  # type: ignore[no-untyped-def]
    from riskwall.proxy import ReverseListener

    venue, sep, address = spec.partition("@")
    if not sep:
        raise ValueError(f"--reverse {spec!r}: write VENUE@HOST:PORT, e.g. binanceusdm@127.0.0.1:8081")
    host, port = _host_port(address, "--reverse")
    return ReverseListener(parse_venue(venue), host, port)


def _upstream(spec: str) -> tuple[Venue, str]:
    venue, sep, url = spec.partition("=")
    if not sep or "://" not in url:
        raise ValueError(f"--upstream {spec!r}: write VENUE=URL, e.g. binanceusdm=https://testnet.binancefuture.com")
    return parse_venue(venue), url.rstrip("/")


def _env(name: str, default: str | None) -> str | None:
    value = os.environ.get(name)
    return value if value else default


def _env_list(name: str) -> list[str]:
    value = os.environ.get(name, "")
    for sep in ENV_LIST_SEPARATORS[1:]:
        value = value.replace(sep, ENV_LIST_SEPARATORS[0])
    return [item for item in value.split(ENV_LIST_SEPARATORS[0]) if item]


if __name__ == "__main__":
    sys.exit(main())
