"""`riskwall replay --policy PATH CAPTURE...`: what a policy would have done to captured traffic.

This is how a team tests a new limit against last week's real orders before merging it: every captured
request goes through the venue adapter and the real engine with an in-memory store, and the report counts
what the policy would have blocked, by rule and reason code, with the first examples of each.

Captures:

- **mitmproxy flow files** (`mitmdump -w FILE`, mitmweb "save") and HAR files: full requests and responses.
- **JSON lines** as riskwall's opt-in capture mode writes them (format: `riskwall.capture`).

Replay semantics: the store's clock follows the capture's timestamps (never backwards), so rate windows see
the orders as the sidecar saw them. The store learns from every captured response (positions, fills, open
orders, prices), whether or not the replayed policy would have blocked the request: the venue's answers are
what happened. Rate windows count only what the replayed policy admits. A request that breaks several rules
is counted under each; `block` rows are enforced violations, `would_block` rows shadow rules or monitor mode.

Exit code 0 whatever the policy would have blocked (replay reports, it does not judge); 2 when a capture or
the policy cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from riskwall import engine
from riskwall.capture import CapturedExchange, CaptureError, FlowReader, iso_ms, read_capture
from riskwall.decider import decide_request, learn_answer
from riskwall.model import Action, Decision, ParsedRequest, Reason, Verdict, Violation
from riskwall.policy import Policy, PolicyError, load_policy
from riskwall.policy.testing import attribute_account
from riskwall.state.memory import MemoryStore
from riskwall.venues import (
    ADAPTERS,
    HostMap,
    VenueAdapter,
    adapter_for,
    default_host_map,
    parse_venue_hosts,
    screen,
)

DEFAULT_EXAMPLES = 3


# ---- replaying ------------------------------------------------------------------------------------------


class ReplayClock:
    """The store's clock: follows the capture, never backwards (records written at response time may be
    slightly out of request order)."""

    def __init__(self) -> None:
        self.now_ms = 0

    def __call__(self) -> int:
        return self.now_ms

    def advance_to(self, ms: int) -> None:
        self.now_ms = max(self.now_ms, ms)


@dataclass(slots=True)
class RuleTally:
    verdict: str  # "block" or "would_block"
    rule_id: str
    reason: str
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ReplayReport:
    captures: list[str]
    policy: str
    policy_revision: str
    requests: int = 0
    skipped: int = 0  # not addressed to a venue riskwall has an adapter for
    reads: int = 0
    decisions: int = 0
    allowed: int = 0
    blocked: int = 0
    would_block: int = 0  # allowed, but a shadow rule or monitor mode would have blocked
    newly_blocked: int = 0  # blocked by this policy, forwarded when captured
    no_longer_blocked: int = 0  # allowed by this policy, blocked when captured
    rules: dict[tuple[str, str, str], RuleTally] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "captures": self.captures,
            "policy": self.policy,
            "policy_revision": self.policy_revision,
            "totals": {
                "requests": self.requests,
                "skipped": self.skipped,
                "reads": self.reads,
                "decisions": self.decisions,
                "allowed": self.allowed,
                "blocked": self.blocked,
                "would_block": self.would_block,
                "newly_blocked": self.newly_blocked,
                "no_longer_blocked": self.no_longer_blocked,
            },
            "rules": [
                {"verdict": t.verdict, "rule_id": t.rule_id, "reason": t.reason, "count": t.count,
                 "examples": t.examples}
                for t in self.sorted_rules()
            ],
        }

    def sorted_rules(self) -> list[RuleTally]:
        return sorted(self.rules.values(), key=lambda t: (t.verdict != "block", -t.count, t.rule_id, t.reason))


async def replay(
    exchanges: Iterator[CapturedExchange] | Sequence[CapturedExchange],
    policy: Policy,
    report: ReplayReport,
    *,
    hosts: HostMap | None = None,
    examples: int = DEFAULT_EXAMPLES,
) -> ReplayReport:
    """Run `exchanges` through adapter, engine and a fresh in-memory store; tally into `report`."""
    clock = ReplayClock()
    store = MemoryStore(clock=clock)
    host_map = hosts if hosts is not None else default_host_map()
    for exchange in exchanges:
        report.requests += 1
        venue = exchange.venue or host_map.venue(exchange.request.host, exchange.request.port)
        if venue is None or venue not in ADAPTERS:
            report.skipped += 1
            continue
        adapter = adapter_for(venue)
        clock.advance_to(exchange.ts_ms)
        decision_id = f"replay-{report.requests}"
        parsed: ParsedRequest | None = None
        reserved = False
        try:
            parsed = screen(adapter, exchange.request)
            if exchange.account_given:
                parsed = attribute_account(parsed, exchange.account)
            evaluation = await decide_request(parsed, policy, store, decision_id)
            decision, reserved = evaluation.decision, evaluation.reserved
            parsed = evaluation.parsed or parsed
        except Exception as exc:  # the sidecar blocks what it cannot decide; so does its replay
            violation = Violation.of(engine.RULE_INTERNAL, Reason.INTERNAL_ERROR, error=type(exc).__name__)
            decision = Decision(Verdict.BLOCK, decision_id, policy.revision, (violation,))
        if parsed is not None and parsed.action is Action.READ:
            report.reads += 1
        else:
            _tally(report, exchange, parsed, decision, examples)
        if parsed is not None:
            try:
                # a refusal counts for the candidate's reject storms only where it would have let the order go
                forwarded = policy if decision.verdict is not Verdict.BLOCK else None
                await _learn(store, clock, adapter, exchange, parsed, decision_id, reserved, forwarded)
            except Exception:  # noqa: S112 - as in the sidecar, an answer that cannot be learned teaches nothing
                continue
    return report


async def _learn(store: MemoryStore, clock: ReplayClock, adapter: VenueAdapter, exchange: CapturedExchange,
                 parsed: ParsedRequest, decision_id: str, reserved: bool, policy: Policy | None) -> None:
    if exchange.status is not None:
        clock.advance_to(exchange.response_ts_ms or exchange.ts_ms)
    await learn_answer(store, adapter, parsed, exchange.request, exchange.status, exchange.response_body or b"",
                       decision_id, reserved, policy, report=False)


def _tally(report: ReplayReport, exchange: CapturedExchange, parsed: ParsedRequest | None, decision: Decision,
           examples: int) -> None:
    report.decisions += 1
    if decision.verdict is Verdict.BLOCK:
        report.blocked += 1
        if exchange.captured_blocked is False:
            report.newly_blocked += 1
    else:
        if decision.shadowed:
            report.would_block += 1
        else:
            report.allowed += 1
        if exchange.captured_blocked is True:
            report.no_longer_blocked += 1
    counted: set[tuple[str, str, str]] = set()
    rows = [("block", v) for v in decision.violations] + [("would_block", v) for v in decision.shadowed]
    for verdict, violation in rows:
        key = (verdict, violation.rule_id, violation.reason.value)
        if key in counted:
            continue  # a batch with three bad legs is one request
        counted.add(key)
        tally = report.rules.setdefault(key, RuleTally(verdict, violation.rule_id, violation.reason.value))
        tally.count += 1
        if len(tally.examples) < examples:
            tally.examples.append(_example(exchange, parsed, violation))


def _example(exchange: CapturedExchange, parsed: ParsedRequest | None, violation: Violation) -> dict[str, Any]:
    intents = parsed.intents if parsed else ()
    leg = violation.leg or 0
    intent = intents[leg] if leg < len(intents) else None
    request = exchange.request
    return {
        "time": iso_ms(exchange.ts_ms),
        "endpoint": parsed.endpoint if parsed else f"{request.method} {request.path.split('?', 1)[0]}",
        "account": parsed.account if parsed else None,
        "symbol": intent.symbol if intent else None,
        "side": intent.side.value if intent and intent.side else None,
        "qty": _amount(intent.quantity) if intent else None,
        "price": _amount(intent.price) if intent else None,
        "leg": violation.leg,
        "detail": violation.detail,
        "captured": _captured(exchange),
        "where": exchange.where,
    }


def _amount(value: Any) -> str | None:
    return None if value is None else format(value, "f")


def _captured(exchange: CapturedExchange) -> str | None:
    if exchange.captured_blocked is True:
        return "blocked"
    if exchange.status is not None:
        return f"forwarded, venue answered {exchange.status}"
    return None


# ---- command line ---------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captures", nargs="+", metavar="CAPTURE",
                        help="mitmproxy flow files, HAR files, or JSON-lines captures (riskwall run --capture)")
    parser.add_argument("--policy", required=True, metavar="PATH", help="the policy file or folder to replay with")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON document")
    parser.add_argument("--venue-host", action="append", default=[], metavar="VENUE=HOST[:PORT]",
                        help="map another host (testnet, fake exchange) to a venue; repeatable")
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, metavar="N",
                        help=f"examples shown per rule (default {DEFAULT_EXAMPLES})")


def main(args: argparse.Namespace, read_flow_file: FlowReader | None = None) -> int:
    return run_replay(args.captures, args.policy, sys.stdout, as_json=args.json, venue_hosts=args.venue_host,
                      examples=args.examples, read_flow_file=read_flow_file)


def run_replay(captures: Sequence[str | Path], policy_path: str | Path, out: TextIO, *, as_json: bool = False,
               venue_hosts: Sequence[str] = (), examples: int = DEFAULT_EXAMPLES,
               read_flow_file: FlowReader | None = None) -> int:
    """Replay `captures` (JSON lines; flow and HAR files when given the mitmproxy glue's `read_flow_file`)."""
    try:
        policy = load_policy(policy_path)
    except PolicyError as exc:
        print(f"riskwall replay: invalid policy {policy_path}:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    try:
        hosts = default_host_map() | parse_venue_hosts(list(venue_hosts))
    except ValueError as exc:
        print(f"riskwall replay: {exc}", file=sys.stderr)
        return 2
    report = ReplayReport([str(c) for c in captures], str(policy_path), policy.revision)

    def exchanges() -> Iterator[CapturedExchange]:
        for capture in captures:
            yield from read_capture(Path(capture), read_flow_file)

    try:
        asyncio.run(replay(exchanges(), policy, report, hosts=hosts, examples=max(examples, 0)))
    except CaptureError as exc:
        print(f"riskwall replay: {exc}", file=sys.stderr)
        return 2
    if as_json:
        out.write(json.dumps(report.as_json(), indent=2) + "\n")
    else:
        write_text_report(report, out)
    return 0


def write_text_report(report: ReplayReport, out: TextIO) -> None:
    def line(text: str = "") -> None:
        out.write(text + "\n")

    line(f"replayed {_n(report.requests, 'request')} from {', '.join(report.captures)} "
         f"with policy {report.policy} (revision {report.policy_revision})")
    line(f"  {_n(report.decisions, 'order-related request')}: {report.allowed} allowed, {report.blocked} blocked, "
         f"{report.would_block} allowed with would_block")
    line(f"  {_n(report.reads, 'read')}, {report.skipped} skipped (no known venue)")
    line(f"  {report.newly_blocked} newly blocked (forwarded when captured), "
         f"{report.no_longer_blocked} no longer blocked")
    for tally in report.sorted_rules():
        line()
        line(f"{tally.verdict} {tally.rule_id} {tally.reason}: {_n(tally.count, 'request')}")
        for example in tally.examples:
            order = " ".join(str(example[k]) for k in ("symbol", "side", "qty") if example[k] is not None)
            price = f" @ {example['price']}" if example["price"] is not None else ""
            leg = f" leg {example['leg']}" if example["leg"] is not None else ""
            line(f"  {example['time']}  {example['endpoint']}  {order}{price}{leg}  {example['detail']}")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


__all__ = ["ReplayReport", "add_arguments", "main", "replay", "run_replay"]
