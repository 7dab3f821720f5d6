"""`riskwall` command line: run the sidecar, check a policy, fingerprint a key.

Every `run` option has an environment variable (RISKWALL_POLICY, RISKWALL_LISTEN, ...) so a container can
be configured without a command line. A command-line value wins over the environment; repeatable options
(--venue-host, --reverse, --upstream) add to what the environment lists. The options are declared once, in
`riskwall.settings`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from riskwall import logfile, logs, replay, settings
from riskwall.model import TradingState, Venue, fingerprint
from riskwall.policy import PolicyError, load_policy
from riskwall.policy import bench as policy_bench
from riskwall.policy import schema as policy_schema
from riskwall.policy import testing as policy_testing
from riskwall.state import UnsupportedStateUrl, open_store
from riskwall.state.breaker import without_password
from riskwall.venues import listen_address, parse_venue, parse_venue_hosts, symbol_problem


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
    settings.add_run_arguments(run)
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

    try:
        config = settings.from_args(args)
    except ValueError as exc:
        print(f"riskwall: {exc}", file=sys.stderr)
        return 2
    stream = sys.stdout
    if config.log_file:
        try:
            sink = logfile.configure_file(config.log_file, config.log_max_bytes, config.log_backups)
            stream = logfile.tee(sys.stdout, sink)
        except (OSError, ValueError) as exc:
            print(f"riskwall: --log-file {config.log_file}: {exc}", file=sys.stderr)
            return 2
    logs.configure(stream)
    try:
        parse_venue_hosts(list(config.venue_hosts))
        if config.admin not in ("off", ""):
            listen_address(config.admin, "--admin")
        load_policy(config.policy)  # refuse to start on an invalid policy, listing every error
        open_store(config.state)
    except PolicyError as exc:
        print(f"riskwall: invalid policy {config.policy}:", file=sys.stderr)
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
    settings.add_argument(parser, "state", help="the sidecars' state store; memory:// goes through the running "
                                                "sidecar's admin endpoint")
    settings.add_argument(parser, "admin", help="the running sidecar's admin endpoint (memory:// state)")
    settings.add_argument(parser, "admin_token_file", help=f"admin bearer token ({settings.ADMIN_TOKEN_ENV} wins)")
    settings.add_argument(parser, "policy", help="policy, to resolve account labels and report its revision")


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
    if symbol is not None and venue is not None and (problem := symbol_problem(Venue(venue), symbol)) is not None:
        print(f"riskwall: --symbol: {problem}", file=sys.stderr)
        return 2
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
                return {"state_store": without_password(args.state), "policy_revision": _local_revision(args.policy),
                        "trading_states": [record_json(r) for r in records]}
            scope = StateScope(payload["venue"], payload["account"], payload["symbol"])
            await store.set_trading_state(scope, TradingState(payload["state"]), payload["reason"], payload["actor"])
            return {"scope": scope.text, "state": payload["state"]}
        finally:
            await store.close()

    try:
        return asyncio.run(call())
    except StateUnavailable as exc:
        raise RuntimeError(f"state store {without_password(args.state)} unavailable: {exc}") from None


def _admin_call(args: argparse.Namespace, what: str, payload: dict[str, Any]) -> dict[str, Any]:
    from riskwall.admin import read_token

    base = f"http://{args.admin}"
    if what == "status":
        request = urllib.request.Request(f"{base}/v1/status")  # noqa: S310 - http:// built here
    else:
        route = {"HALTED": "halt", "REDUCING": "reduce", "ACTIVE": "resume"}[str(payload["state"])]
        token = read_token(args.admin_token_file or None)
        if not token:
            raise RuntimeError(f"no admin token: set {settings.ADMIN_TOKEN_ENV} or --admin-token-file (as for the "
                               "sidecar)")
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


if __name__ == "__main__":
    sys.exit(main())
