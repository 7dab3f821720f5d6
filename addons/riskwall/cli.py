"""`riskwall` command line: run the sidecar, check a policy, fingerprint a key.

Every `run` option has an environment variable (RISKWALL_POLICY, RISKWALL_LISTEN, ...) so a container can
be configured without a command line. A command-line value wins over the environment; repeatable options
(--venue-host, --reverse, --upstream) add to what the environment lists.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from riskwall import logfile, logs, replay
from riskwall.model import TradingState, Venue, fingerprint
from riskwall.policy import PolicyError, load_policy
from riskwall.policy import bench as policy_bench
from riskwall.policy import schema as policy_schema
from riskwall.policy import testing as policy_testing
from riskwall.state import UnsupportedStateUrl, open_store
from riskwall.venues import listen_address, parse_venue, parse_venue_hosts

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
    run.add_argument("--policy-poll", type=float, default=float(_env("RISKWALL_POLICY_POLL", "1") or 1),
                     metavar="SECONDS", help="how often to check the policy files for changes; 0 turns hot reload "
                                              "off [RISKWALL_POLICY_POLL, default 1]")
    run.add_argument("--listen", default=_env("RISKWALL_LISTEN", "127.0.0.1:8080"),
                     help="explicit-proxy listener HOST:PORT, or 'off' [RISKWALL_LISTEN, default 127.0.0.1:8080]")
    run.add_argument("--state", default=_env("RISKWALL_STATE", "memory://"),
                     help="state store URL: memory:// or redis://host:6379/0 [RISKWALL_STATE]")
    run.add_argument("--venue-host", action="append", default=_env_list("RISKWALL_VENUE_HOSTS"),
                     metavar="VENUE=HOST[:PORT]",
                     help="map another host (testnet, fake exchange) to a venue; repeatable [RISKWALL_VENUE_HOSTS]")
    run.add_argument("--reverse", action="append", default=_env_list("RISKWALL_REVERSE"),
                     metavar="VENUE@HOST:PORT[=URL]",
                     help="plain-HTTP listener forwarding to the venue (no CA needed), to URL when given (a venue's "
                          "WebSocket host, say); repeatable [RISKWALL_REVERSE]")
    run.add_argument("--upstream", action="append", default=_env_list("RISKWALL_UPSTREAMS"), metavar="VENUE=URL",
                     help="where a venue's reverse listener forwards instead of its real host [RISKWALL_UPSTREAMS]")
    run.add_argument("--confdir", default=_env("RISKWALL_CONFDIR", "~/.riskwall"),
                     help="where the proxy CA is created and kept [RISKWALL_CONFDIR, default ~/.riskwall]")
    run.add_argument("--upstream-ca", default=_env("RISKWALL_UPSTREAM_CA", None), metavar="PEM",
                     help="an extra CA bundle trusted for upstream TLS, added to the system's (testnets or "
                          "private exchanges behind a private CA) [RISKWALL_UPSTREAM_CA]")
    run.add_argument("--admin", default=_env("RISKWALL_ADMIN", "127.0.0.1:9090"), metavar="HOST:PORT",
                     help="local admin endpoint, or 'off' [RISKWALL_ADMIN, default 127.0.0.1:9090]")
    run.add_argument("--log-file", default=_env("RISKWALL_LOG_FILE", ""), metavar="PATH",
                     help="also write the JSON log lines to PATH, rotated by size [RISKWALL_LOG_FILE]")
    run.add_argument("--log-max-bytes", type=logfile.parse_size, default=_env("RISKWALL_LOG_MAX_BYTES", "50M"),
                     metavar="SIZE", help="rotate the log file at this size, e.g. 50M [RISKWALL_LOG_MAX_BYTES]")
    run.add_argument("--log-backups", type=int, default=int(_env("RISKWALL_LOG_BACKUPS", "5") or 5), metavar="N",
                     help="rotated log files to keep [RISKWALL_LOG_BACKUPS, default 5]")
    run.add_argument("--capture", default=_env("RISKWALL_CAPTURE", ""), metavar="FILE",
                     help="append every venue request, credentials redacted, to FILE for `riskwall replay` "
                          "[RISKWALL_CAPTURE]")
    run.add_argument("--egress", choices=("open", "allowlist"), default=_env("RISKWALL_EGRESS", "open"),
                     help="allowlist: refuse requests and tunnels to hosts that are no venue [RISKWALL_EGRESS]")
    run.add_argument("--egress-allow", action="append", default=_env_list("RISKWALL_EGRESS_ALLOW"), metavar="HOST",
                     help="another host bots may reach under the allowlist; repeatable [RISKWALL_EGRESS_ALLOW]")
    run.add_argument("--client-cidr", action="append", default=_env_list("RISKWALL_CLIENT_CIDRS"), metavar="CIDR",
                     help="client networks allowed to connect (loopback always is); repeatable "
                          "[RISKWALL_CLIENT_CIDRS]")
    run.add_argument("--proxy-auth", default=_env("RISKWALL_PROXY_AUTH", None), metavar="USER:PASS|@HTPASSWD",
                     help="require proxy authentication on the explicit proxy [RISKWALL_PROXY_AUTH]")
    run.add_argument("--ws-order-entry", default=_env("RISKWALL_WS_ORDER_ENTRY", "on"), metavar="on|off",
                     help="on: orders over the venues' WebSocket APIs are checked frame by frame; off: their "
                          "handshakes are refused [RISKWALL_WS_ORDER_ENTRY, default on]")
    run.add_argument("--ws-deadline-ms", default=_env("RISKWALL_WS_DEADLINE_MS", "250"),
                     metavar="MS", help="longest a WebSocket order frame waits for its decision (the connection "
                                        "waits with it); past it the order is refused [RISKWALL_WS_DEADLINE_MS, "
                                        "default 250]")
    run.add_argument("--admin-token-file", default=_env("RISKWALL_ADMIN_TOKEN_FILE", ""), metavar="PATH",
                     help="bearer token for the admin switches (RISKWALL_ADMIN_TOKEN wins) [RISKWALL_ADMIN_TOKEN_FILE]")
    run.set_defaults(handler=_cmd_run)

    for name, state, text in (
        ("halt", TradingState.HALTED, "stop all trading but cancels"),
        ("reduce", TradingState.REDUCING, "admit only orders that shrink a position"),
        ("resume", TradingState.ACTIVE, "lift a halt or reduce at this scope"),
    ):
        switch = sub.add_parser(name, help=f"{text} (globally, or for a venue, account or symbol)")
        _add_store_arguments(switch)
        switch.add_argument("--venue", help="venue id, e.g. binanceusdm")
        switch.add_argument("--account", help="account label from the policy, or a 12-hex-digit fingerprint")
        switch.add_argument("--symbol", help="venue symbol, e.g. BTCUSDT")
        switch.add_argument("--reason", required=True, help="why: recorded with who and when")
        switch.add_argument("--actor", default=_default_actor(), help="who: recorded (default user@host)")
        switch.set_defaults(handler=_cmd_switch, target_state=state)

    status = sub.add_parser("status", help="trading states and policy revision, from the store or the sidecar")
    _add_store_arguments(status)
    status.set_defaults(handler=_cmd_status)

    policy = sub.add_parser("policy", help="work with policy files")
    policy_sub = policy.add_subparsers(metavar="SUBCOMMAND")
    check = policy_sub.add_parser("check", help="validate policy files and folders; exit 1 on any error")
    check.add_argument("paths", nargs="+")
    check.set_defaults(handler=_cmd_policy_check)
    test = policy_sub.add_parser("test", help="run policy test cases (*.test.yaml); exit 1 on any failure")
    policy_testing.add_arguments(test)
    test.set_defaults(handler=policy_testing.main)
    bench = policy_sub.add_parser("bench", help="microseconds per order a policy costs on the embedded engine "
                                                "(parse, decide, learn)")
    policy_bench.add_arguments(bench)
    bench.set_defaults(handler=policy_bench.main)
    schema = policy_sub.add_parser("schema", help="print the JSON Schema of policy files (for editors)")
    policy_schema.add_arguments(schema)
    schema.set_defaults(handler=policy_schema.main)

    replay_cmd = sub.add_parser("replay", help="what a policy would have blocked in captured traffic")
    replay.add_arguments(replay_cmd)
    replay_cmd.set_defaults(handler=_cmd_replay)

    fp = sub.add_parser("fingerprint", help="print the fingerprint of an API key read from stdin")
    fp.set_defaults(handler=_cmd_fingerprint)
    return parser


def _cmd_replay(args: argparse.Namespace) -> int:
    from riskwall.addon import read_flow_file  # the mitmproxy glue reads flow files; replay itself stays light

    return replay.main(args, read_flow_file)


def _cmd_run(args: argparse.Namespace) -> int:
    from riskwall import proxy  # imports mitmproxy: keep `riskwall policy check` light

    stream = sys.stdout
    if args.log_file:
        try:
            sink = logfile.configure_file(args.log_file, args.log_max_bytes, args.log_backups)
            stream = logfile.tee(sys.stdout, sink)
        except (OSError, ValueError) as exc:
            print(f"riskwall: --log-file {args.log_file}: {exc}", file=sys.stderr)
            return 2
    logs.configure(stream)
    try:
        config = proxy.ProxyConfig(
            policy=args.policy,
            state=args.state,
            listen=None if args.listen in ("off", "", "none") else listen_address(args.listen, "--listen"),
            venue_hosts=tuple(args.venue_host),
            reverse=tuple(_reverse(spec) for spec in args.reverse),
            upstreams=dict(_upstream(spec) for spec in args.upstream),
            confdir=args.confdir,
            upstream_ca=args.upstream_ca,
            admin=args.admin,
            admin_token_file=args.admin_token_file,
            policy_poll_s=args.policy_poll,
            capture=args.capture,
            egress=args.egress,
            egress_allow=tuple(args.egress_allow),
            client_cidrs=tuple(args.client_cidr),
            proxy_auth=args.proxy_auth,
            ws_order_entry=_on_off(args.ws_order_entry, "--ws-order-entry"),
            ws_deadline_ms=_milliseconds(args.ws_deadline_ms, "--ws-deadline-ms"),
        )
        parse_venue_hosts(list(config.venue_hosts))
        if config.admin not in ("off", ""):
            listen_address(config.admin, "--admin")
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
    problems = proxy.exposure_problems(config)
    if problems:
        for problem in problems:
            print(f"riskwall: {problem}", file=sys.stderr)
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


def _add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", default=_env("RISKWALL_STATE", "memory://"),
                        help="the sidecars' state store; memory:// goes through the running sidecar's admin endpoint")
    parser.add_argument("--admin", default=_env("RISKWALL_ADMIN", "127.0.0.1:9090"), metavar="HOST:PORT",
                        help="the running sidecar's admin endpoint (memory:// state) [RISKWALL_ADMIN]")
    parser.add_argument("--admin-token-file", default=_env("RISKWALL_ADMIN_TOKEN_FILE", ""), metavar="PATH",
                        help="admin bearer token (RISKWALL_ADMIN_TOKEN wins)")
    parser.add_argument("--policy", default=_env("RISKWALL_POLICY", "policies/"),
                        help="policy, to resolve account labels and report its revision [RISKWALL_POLICY]")


def _cmd_switch(args: argparse.Namespace) -> int:
    try:
        venue = parse_venue(args.venue).value if args.venue else None
    except ValueError as exc:
        print(f"riskwall: --venue: {exc}", file=sys.stderr)
        return 2
    if (args.account or args.symbol) and venue is None:
        print("riskwall: --account and --symbol need --venue", file=sys.stderr)
        return 2
    try:
        accounts = _resolve_accounts(args.account, args.policy, venue) if args.account else [None]
    except (ValueError, PolicyError) as exc:
        print(f"riskwall: {exc}", file=sys.stderr)
        return 2
    symbol = args.symbol.upper() if args.symbol else None
    for account in accounts:
        payload = {"venue": venue, "account": account, "symbol": symbol, "reason": args.reason, "actor": args.actor}
        try:
            answer = _store_call(args, "switch", {**payload, "state": args.target_state})
        except UnsupportedStateUrl as exc:
            print(f"riskwall: --state: {exc}", file=sys.stderr)
            return 2
        except RuntimeError as exc:
            print(f"riskwall: {exc}", file=sys.stderr)
            return 1
        print(f"{answer['scope']}: {answer['state']}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    try:
        answer = _store_call(args, "status", {})
    except UnsupportedStateUrl as exc:
        print(f"riskwall: --state: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"riskwall: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2, sort_keys=True))
    return 0


def _store_call(args: argparse.Namespace, what: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Operate on a shared store directly; on memory:// ask the one sidecar that holds the state."""
    if args.state.startswith("memory://") or not args.state:
        return _admin_call(args, what, payload)
    from riskwall.admin import record_json
    from riskwall.state import StateUnavailable, open_store
    from riskwall.state.base import StateScope

    async def call() -> dict[str, Any]:
        store = open_store(args.state)
        try:
            if what == "status":
                records = await store.trading_states()
                return {"state_store": args.state.split("@")[-1], "policy_revision": _local_revision(args.policy),
                        "trading_states": [record_json(r) for r in records]}
            scope = StateScope(payload["venue"], payload["account"], payload["symbol"])
            await store.set_trading_state(scope, TradingState(payload["state"]), payload["reason"], payload["actor"])
            return {"scope": scope.text, "state": payload["state"]}
        finally:
            await store.close()

    try:
        return asyncio.run(call())
    except StateUnavailable as exc:
        raise RuntimeError(f"state store {args.state.split('@')[-1]} unavailable: {exc}") from None


def _admin_call(args: argparse.Namespace, what: str, payload: dict[str, Any]) -> dict[str, Any]:
    from riskwall.admin import read_token

    base = f"http://{args.admin}"
    if what == "status":
        request = urllib.request.Request(f"{base}/v1/status")  # noqa: S310 - http:// built here
    else:
        route = {"HALTED": "halt", "REDUCING": "reduce", "ACTIVE": "resume"}[str(payload["state"])]
        token = read_token(args.admin_token_file or None)
        if not token:
            raise RuntimeError("no admin token: set RISKWALL_ADMIN_TOKEN or --admin-token-file (as for the sidecar)")
        body = json.dumps({k: v for k, v in payload.items() if k != "state"}).encode()
        request = urllib.request.Request(f"{base}/v1/{route}", data=body, method="POST",  # noqa: S310
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - http:// built above
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise RuntimeError(f"sidecar admin at {args.admin} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeError(f"no sidecar admin endpoint at {args.admin}: {exc}") from None


def _resolve_accounts(account: str, policy_path: str, venue: str | None) -> list[str]:
    """A fingerprint as given; a label as the account it names (`label:<name>`), so the state holds for every key
    the label lists, those added to it later too."""
    if len(account) == 12 and all(c in "0123456789abcdef" for c in account):
        return [account]
    policy = load_policy(policy_path)
    if account.removeprefix("label:") not in policy.accounts:
        raise ValueError(f"account label {account!r} is not in the policy at {policy_path}")
    return [f"label:{account.removeprefix('label:')}"]


def _local_revision(policy_path: str) -> str | None:
    try:
        return load_policy(policy_path).revision
    except PolicyError:
        return None


def _default_actor() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (OSError, KeyError):
        return "unknown"


def _reverse(spec: str):  # type: ignore[no-untyped-def]
    """`VENUE@HOST:PORT[=URL]`: a listener of its own upstream (say the venue's WebSocket host) when URL is given."""
    from riskwall.proxy import ReverseListener

    venue, sep, rest = spec.partition("@")
    address, has_url, url = rest.partition("=")
    if not sep or (has_url and "://" not in url):
        raise ValueError(f"--reverse {spec!r}: write VENUE@HOST:PORT[=URL], e.g. binanceusdm@127.0.0.1:8081 or "
                         "binanceusdm@127.0.0.1:8091=https://ws-fapi.binance.com")
    host, port = listen_address(address, "--reverse")
    try:
        return ReverseListener(parse_venue(venue), host, port, url.rstrip("/") if has_url else None)
    except ValueError as exc:
        raise ValueError(f"--reverse {spec!r}: {exc}") from None


def _upstream(spec: str) -> tuple[Venue, str]:
    venue, sep, url = spec.partition("=")
    if not sep or "://" not in url:
        raise ValueError(f"--upstream {spec!r}: write VENUE=URL, e.g. binanceusdm=https://testnet.binancefuture.com")
    try:
        return parse_venue(venue), url.rstrip("/")
    except ValueError as exc:
        raise ValueError(f"--upstream {spec!r}: {exc}") from None


def _milliseconds(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{option} {text!r}: not a whole number of milliseconds") from None
    if not 1 <= value <= 60_000:
        raise ValueError(f"{option} {text!r}: between 1 and 60000 milliseconds")
    return value


def _on_off(text: str, option: str) -> bool:
    if text.strip().lower() not in ("on", "off"):
        raise ValueError(f"{option} {text!r}: write on or off")
    return text.strip().lower() == "on"


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
