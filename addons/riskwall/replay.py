"""`riskwall replay --policy PATH CAPTURE...`: what a policy would have done to captured traffic.

This is how a team tests a new limit against last week's real orders before merging it: every captured
request goes through the venue adapter and the real engine with an in-memory store, and the report counts
what the policy would have blocked, by rule and reason code, with the first examples of each.

Captures:

- **mitmproxy flow files** (`mitmdump -w FILE`, mitmweb "save") and HAR files: full requests and responses.
- **JSON lines** as riskwall's opt-in capture mode writes them, one record per request (`capture_record`):

      {"v": 1, "ts": "2026-01-01T00:00:00.123Z", "venue": "binanceusdm", "account": "0123456789ab",
       "method": "POST", "host": "fapi.binance.com", "port": 443, "path": "/fapi/v1/order",
       "query": [["symbol", "BTCUSDT"], ["signature", "[redacted]"]],
       "headers": {"content-type": "application/x-www-form-urlencoded"},
       "body": "side=BUY&type=MARKET&quantity=0.1&timestamp=1767225600123&signature=[redacted]",
       "response": {"status": 200, "body": "{\\"orderId\\": 1, ...}"},
       "riskwall": {"verdict": "allow", "rule_id": null, "reason": null}}

  `ts` is ISO 8601 (UTC) or epoch milliseconds; `path` has no query string; `query` holds the decoded pairs in
  order; `body` is the request body as text (`body_b64` instead when it is not UTF-8); `headers` keeps only
  `content-type` and `user-agent` (`repeated_headers` lists names sent more than once). No credential is
  recorded: the API key appears only as its fingerprint under `account`, and every credential-named query or
  form parameter, JSON field and header (`signature`, `apiKey`, `listenKey`, `X-MBX-APIKEY`, ...) is removed
  or replaced by `[redacted]`; any remaining occurrence of the key or of a signature value is scrubbed too.
  A redacted signature does not change how the adapter reads an order. `response` and `riskwall` (the verdict
  at capture time) are optional. Lines whose `event` is something other than `capture` (the decision log's
  own lines, when capture records share a file with them) are skipped.

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
import base64
import binascii
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote_plus

from riskwall import engine, logs
from riskwall.capture import CapturedExchange, CaptureError
from riskwall.decider import decide_request, learn_answer
from riskwall.model import Action, Decision, ParsedRequest, Reason, Venue, Verdict, Violation
from riskwall.policy import Policy, PolicyError, load_policy
from riskwall.policy.testing import attribute_account
from riskwall.state.memory import MemoryStore
from riskwall.venues import (
    ADAPTERS,
    HttpRequest,
    VenueAdapter,
    adapter_for,
    default_host_map,
    host_key,
    parse_venue_hosts,
)

CAPTURE_VERSION = 1
CAPTURE_EVENT = "capture"
REDACTED = logs.REDACTED
# the only request headers a capture keeps: what adapters read besides credentials, and who sent it
KEPT_HEADERS = frozenset({"content-type", "user-agent"})
# as in addon.py: a request that got no answer may still have reached the venue; hold its exposure this long
DEFAULT_EXAMPLES = 3
JSONL_SUFFIXES = (".jsonl", ".ndjson")
FLOW_SUFFIXES = (".mitm", ".flow", ".flows", ".dump", ".har")
# secret values shorter than this are not scrubbed from free text (they would erase ordinary words)
_MIN_SCRUB = 6
_JSON_STRING_PAIR = re.compile(r'("(?:[^"\\]|\\.)*")(\s*:\s*)("(?:[^"\\]|\\.)*")')


# ---- capture records ------------------------------------------------------------------------------------


def capture_record(
    http_request: HttpRequest,
    venue: Venue,
    adapter: VenueAdapter,
    *,
    parsed: ParsedRequest | None = None,
    ts_ms: int | None = None,
    status: int | None = None,
    response_body: bytes | None = None,
    decision: Decision | None = None,
) -> dict[str, Any]:
    """One JSON-lines capture record for `http_request`, with every credential removed (format: module doc).

    `parsed` is the adapter's reading of the request (parsed again when not given) and gives the account
    fingerprint; `status` and `response_body` add the venue's answer, `decision` the verdict riskwall gave.
    """
    if parsed is None:
        parsed = adapter.parse_request(http_request)
    secrets = _SecretValues(adapter)
    for name, value in http_request.headers.items():
        secrets.add_if_credential(name, value)
    query = [[key, secrets.redact_param(key, value)] for key, value in http_request.query]
    record: dict[str, Any] = {
        "v": CAPTURE_VERSION,
        "ts": iso_ms(ts_ms if ts_ms is not None else _now_ms()),
        "venue": venue.value,
        "account": parsed.account,
        "method": http_request.method.upper(),
        "host": http_request.host,
        "port": http_request.port,
        "path": logs.redact(http_request.path.split("?", 1)[0]),
        "query": query,
        "headers": {k: v for k, v in http_request.headers.items() if k.lower() in KEPT_HEADERS},
    }
    if http_request.repeated_headers:
        record["repeated_headers"] = sorted(http_request.repeated_headers)
    body = _redact_body(http_request.body, http_request.content_type, secrets)
    if body is not None:
        record.update(body)
    if status is not None:
        response: dict[str, Any] = {"status": status}
        if response_body:
            text = _text(response_body)
            if text is not None:
                response["body"] = _redact_json_text(text, secrets)
        record["response"] = response
    if decision is not None:
        deciding = decision.deciding or (decision.shadowed[0] if decision.shadowed else None)
        shadow_only = decision.verdict is Verdict.ALLOW and bool(decision.shadowed)
        verdict = "would_block" if shadow_only else decision.verdict.value
        record["riskwall"] = {
            "verdict": verdict,
            "rule_id": deciding.rule_id if deciding else None,
            "reason": deciding.reason.value if deciding else None,
        }
    return secrets.scrub(record)


def iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def _is_secret(name: str, adapter: VenueAdapter) -> bool:
    return logs.is_secret_key(name) or name.lower() in adapter.secret_fields


class _SecretValues:
    """Credential values met while building a record, scrubbed from every string of it at the end."""

    def __init__(self, adapter: VenueAdapter) -> None:
        self.adapter = adapter
        self.values: set[str] = set()

    def add_if_credential(self, name: str, value: str) -> None:
        if _is_secret(name, self.adapter) and len(value) >= _MIN_SCRUB:
            self.values.add(value)

    def redact_param(self, name: str, value: str) -> str:
        if _is_secret(name, self.adapter):
            self.add_if_credential(name, value)
            return REDACTED
        return value

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in sorted(self.values, key=len, reverse=True):
                value = value.replace(secret, REDACTED)
            return logs.redact(value)
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value


def _redact_body(body: bytes, content_type: str, secrets: _SecretValues) -> dict[str, str] | None:
    if not body:
        return None
    text = _text(body)
    if text is None:
        raw = body
        for secret in secrets.values:
            raw = raw.replace(secret.encode(), REDACTED.encode())
        return {"body_b64": base64.b64encode(raw).decode()}
    stripped = text.lstrip()
    if "json" in content_type or stripped.startswith(("{", "[")):
        return {"body": _redact_json_text(text, secrets)}
    return {"body": _redact_form_text(text, secrets)}


def _redact_form_text(text: str, secrets: _SecretValues) -> str:
    """Replace the values of credential-named form fields, leaving every other byte as sent."""
    segments = []
    for segment in text.split("&"):
        key, sep, value = segment.partition("=")
        name = unquote_plus(key)
        if sep and _is_secret(name, secrets.adapter):
            secrets.add_if_credential(name, unquote_plus(value))
            segment = f"{key}={REDACTED}"
        segments.append(segment)
    return "&".join(segments)


def _redact_json_text(text: str, secrets: _SecretValues) -> str:
    """Replace the string values of credential-named JSON fields, leaving every other byte as sent."""

    def replace(match: re.Match[str]) -> str:
        try:
            name = json.loads(match[1])
            value = json.loads(match[3])
        except ValueError:
            return match[0]
        if not _is_secret(str(name), secrets.adapter):
            return match[0]
        secrets.add_if_credential(str(name), str(value))
        return f'{match[1]}{match[2]}"{REDACTED}"'

    return _JSON_STRING_PAIR.sub(replace, text)


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ---- reading captures -----------------------------------------------------------------------------------


def read_capture(path: Path) -> Iterator[CapturedExchange]:
    """A flow file, a HAR file or a JSON-lines capture, told apart by suffix, else by content (`.json` may be
    either a HAR file or JSON lines)."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES or (suffix not in FLOW_SUFFIXES and _looks_like_jsonl(path)):
        yield from read_jsonl(path)
        return
    from riskwall.addon import read_flow_file  # the mitmproxy glue, loaded only for flow files

    yield from read_flow_file(path)


def _looks_like_jsonl(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(1_000_000).strip()
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be read: {exc.strerror}") from None
    if not first.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False  # a HAR file: one JSON document over many lines


def read_jsonl(path: Path) -> Iterator[CapturedExchange]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be read: {exc.strerror}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                continue
            where = f"{path}:{number}"
            try:
                data = json.loads(line)
            except ValueError:
                if not raw.endswith(b"\n"):
                    # a last line cut short (the sidecar stopped mid-write): everything before it stands
                    print(f"riskwall replay: {where}: incomplete last line skipped", file=sys.stderr)
                    return
                raise CaptureError(f"{where}: not a JSON object") from None
            if not isinstance(data, dict):
                raise CaptureError(f"{where}: not a JSON object")
            if data.get("event", CAPTURE_EVENT) != CAPTURE_EVENT:
                continue
            yield exchange_from_record(data, where)


def exchange_from_record(data: Mapping[str, Any], where: str = "record") -> CapturedExchange:
    """A capture record (module doc) → the exchange it describes."""
    version = data.get("v", CAPTURE_VERSION)
    if version != CAPTURE_VERSION:
        raise CaptureError(f"{where}: capture format v{version}; this riskwall reads v{CAPTURE_VERSION}")
    try:
        method, host, path = str(data["method"]).upper(), str(data["host"]).lower(), str(data["path"])
    except KeyError as exc:
        raise CaptureError(f"{where}: a capture record needs method, host and path; {exc} is missing") from None
    query = data.get("query") or []
    if isinstance(query, Mapping):
        query = list(query.items())
    if not isinstance(query, list) or not all(isinstance(p, list | tuple) and len(p) == 2 for p in query):
        raise CaptureError(f"{where}: query must be a list of [key, value] pairs")
    headers = data.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise CaptureError(f"{where}: headers must be an object")
    try:
        body = _record_body(data, where)
        request = HttpRequest(
            method=method,
            host=host,
            port=int(data.get("port") or 443),
            path=path,
            query=tuple((str(k), str(v)) for k, v in query),
            headers={str(k).lower(): str(v) for k, v in headers.items()},
            body=body,
            repeated_headers=frozenset(str(h).lower() for h in data.get("repeated_headers") or ()),
        )
        venue = Venue(data["venue"]) if data.get("venue") else None
        ts_ms = _record_ms(data.get("ts"), where)
    except (TypeError, ValueError) as exc:
        raise CaptureError(f"{where}: {exc}") from None
    response = data.get("response")
    status: int | None = None
    response_body: bytes | None = None
    if isinstance(response, Mapping) and response.get("status") is not None:
        status = int(response["status"])
        response_body = _record_body(response, where)
    captured = data.get("riskwall")
    captured_blocked: bool | None = None
    if isinstance(captured, Mapping) and captured.get("verdict"):
        captured_blocked = captured["verdict"] == "block"
    elif status is not None:
        captured_blocked = False
    return CapturedExchange(
        ts_ms=ts_ms,
        request=request,
        status=status,
        response_body=response_body,
        venue=venue,
        account_given="account" in data,
        account=str(data["account"]) if data.get("account") else None,
        captured_blocked=captured_blocked,
        where=where,
    )


def _record_body(data: Mapping[str, Any], where: str) -> bytes:
    if data.get("body_b64"):
        try:
            return base64.b64decode(str(data["body_b64"]), validate=True)
        except (binascii.Error, ValueError):
            raise CaptureError(f"{where}: body_b64 is not base64") from None
    body = data.get("body")
    return str(body).encode() if body else b""


def _record_ms(value: Any, where: str) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError("ts is missing")
    if isinstance(value, int | float):
        return int(value)
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


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
    hosts: Mapping[str, Venue] | None = None,
    examples: int = DEFAULT_EXAMPLES,
) -> ReplayReport:
    """Run `exchanges` through adapter, engine and a fresh in-memory store; tally into `report`."""
    clock = ReplayClock()
    store = MemoryStore(clock=clock)
    host_map = dict(hosts) if hosts is not None else default_host_map()
    for exchange in exchanges:
        report.requests += 1
        venue = exchange.venue or _venue_of(host_map, exchange.request)
        if venue is None or venue not in ADAPTERS:
            report.skipped += 1
            continue
        adapter = adapter_for(venue)
        clock.advance_to(exchange.ts_ms)
        decision_id = f"replay-{report.requests}"
        parsed: ParsedRequest | None = None
        reserved = False
        try:
            parsed = adapter.parse_request(exchange.request)
            if exchange.account_given:
                parsed = attribute_account(parsed, exchange.account)
            evaluation = await decide_request(parsed, policy, store, decision_id)
            decision, reserved = evaluation.decision, evaluation.reserved
        except Exception as exc:  # the sidecar blocks what it cannot decide; so does its replay
            violation = Violation.of(engine.RULE_INTERNAL, Reason.INTERNAL_ERROR, error=type(exc).__name__)
            decision = Decision(Verdict.BLOCK, decision_id, policy.revision, (violation,))
        if parsed is not None and parsed.action is Action.READ:
            report.reads += 1
        else:
            _tally(report, exchange, parsed, decision, examples)
        if parsed is not None:
            try:
                await _learn(store, clock, adapter, exchange, parsed, decision_id, reserved)
            except Exception:  # noqa: S112 - as in the sidecar, an answer that cannot be learned teaches nothing
                continue
    return report


def _venue_of(hosts: Mapping[str, Venue], request: HttpRequest) -> Venue | None:
    return hosts.get(host_key(request.host, request.port)) or hosts.get(host_key(request.host))


async def _learn(store: MemoryStore, clock: ReplayClock, adapter: VenueAdapter, exchange: CapturedExchange,
                 parsed: ParsedRequest, decision_id: str, reserved: bool) -> None:
    if exchange.status is not None:
        clock.advance_to(exchange.response_ts_ms or exchange.ts_ms)
    await learn_answer(store, adapter, parsed, exchange.request, exchange.status, exchange.response_body or b"",
                       decision_id, reserved)


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


def main(args: argparse.Namespace) -> int:
    return run_replay(args.captures, args.policy, sys.stdout, as_json=args.json, venue_hosts=args.venue_host,
                      examples=args.examples)


def run_replay(captures: Sequence[str | Path], policy_path: str | Path, out: TextIO, *, as_json: bool = False,
               venue_hosts: Sequence[str] = (), examples: int = DEFAULT_EXAMPLES) -> int:
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
            yield from read_capture(Path(capture))

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


__all__ = [
    "CAPTURE_EVENT",
    "CAPTURE_VERSION",
    "CapturedExchange",
    "ReplayReport",
    "add_arguments",
    "capture_record",
    "exchange_from_record",
    "main",
    "read_capture",
    "replay",
    "run_replay",
]
