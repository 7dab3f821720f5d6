"""Captured traffic, one module for all of it: the opt-in capture file the sidecar writes, with every credential
removed, and the reader `riskwall replay` uses. Flow files are read by the mitmproxy glue (`addon.read_flow_file`,
handed in), which opens them with `open_capture` and turns each flow into an exchange with `exchange_from_flow`.

JSON lines, one record per venue request:

      {"v": 1, "ts": "2026-01-01T00:00:00.123Z", "venue": "binanceusdm", "account": "0123456789ab",
       "method": "POST", "host": "fapi.binance.com", "port": 443, "path": "/fapi/v1/order",
       "query": [["symbol", "BTCUSDT"], ["signature", "[redacted]"]],
       "headers": {"content-type": "application/x-www-form-urlencoded"},
       "body": "side=BUY&type=MARKET&quantity=0.1&timestamp=1767225600123&signature=[redacted]",
       "response": {"status": 200, "body": "{\\"orderId\\": 1, ...}"},
       "riskwall": {"verdict": "allow", "rule_id": null, "reason": null}}

`ts` is ISO 8601 (UTC) or epoch milliseconds; `path` has no query string; `query` holds the decoded pairs in
order; `headers` keeps only `content-type`, `content-encoding` and `user-agent` (`repeated_headers` lists names
sent more than once). `response` and `riskwall` (the verdict at capture time) are optional. Lines whose `event`
is something other than `capture` (the decision log's own lines, when records share a file with them) are
skipped.

No credential is recorded: the API key appears only as its fingerprint under `account`; every credential-named
query or form parameter, JSON field and header (`signature`, `apiKey`, `listenKey`, `X-MBX-APIKEY`, ...) is
replaced by `[redacted]`; any other occurrence of the key or of a signature value is scrubbed, and so is any
`name=value` or `name: value` pair whose name is a credential's. Only bodies a venue reads are kept as text: a
form or JSON body (`body`). Any other body, and any body or query longer than the bounds below, is not stored:
`body_omitted` gives its size, and replay reads it as a body no venue endpoint accepts. A redacted signature
does not change how an adapter reads an order.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import unquote_plus

import orjson

from riskwall import logs
from riskwall.model import Action, Decision, ParsedRequest, Venue, Verdict
from riskwall.paths import without_tokens
from riskwall.venues import HttpRequest, VenueAdapter, screen

CAPTURE_VERSION = 1
CAPTURE_EVENT = "capture"
REDACTED = logs.REDACTED
# the header riskwall's own refusals carry (the rule that refused): how a flow file shows what was blocked
RULE_HEADER = "X-Riskwall-Rule"
# the only request headers a capture keeps: what adapters read besides credentials, and who sent it
KEPT_HEADERS = frozenset({"content-type", "content-encoding", "user-agent"})
# what one record holds at most: a venue reads no order body near this size (adapters refuse 1 MB), and an
# exchange-info answer (the largest a bot fetches) fits the response bound
MAX_BODY_CHARS = 64 * 1024
MAX_QUERY_CHARS = 64 * 1024
MAX_RESPONSE_CHARS = 4 * 1024 * 1024
MAX_HEADER_CHARS = 256
MAX_PATH_CHARS = 4096
MAX_QUERY_PAIRS_KEPT = 64
# what replay reads for a body that was not stored: no venue endpoint accepts it, so the request is refused as
# it would have been (a body of the wrong kind) rather than read as one without a body
OMITTED_BODY = b"\x00riskwall: body not captured"
JSONL_SUFFIXES = (".jsonl", ".ndjson")
FLOW_SUFFIXES = (".mitm", ".flow", ".flows", ".dump", ".har")
# secret values shorter than this are not scrubbed from free text (they would erase ordinary words)
_MIN_SCRUB = 6
# one pass over JSON text: a string (closed, or running to the end of the text) or a run of anything else.
# Every token starts where the last ended, so the pass is linear whatever the text holds.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\Z)|\\|[^"\\]++')
_KEY_SEPARATOR = re.compile(r"\s*+:\s*+")
_BARE_VALUE = re.compile(r"\s*+:\s*+([^\s,}\]{\[]++)")


class CaptureError(Exception):
    """A capture that cannot be read (not a flow file, a broken record); the message says where."""


@dataclass(frozen=True, slots=True)
class CapturedExchange:
    """One request as captured, and the venue's answer when the capture has it."""

    ts_ms: int
    request: HttpRequest
    status: int | None = None
    response_body: bytes | None = None
    response_ts_ms: int | None = None
    # the venue, when the capture names it (JSON lines); else it is found from the host
    venue: Venue | None = None
    # JSON-lines captures carry the account fingerprint instead of the API key the adapter would fingerprint
    account_given: bool = False
    account: str | None = None
    # True when riskwall blocked this request when it was captured, False when it was forwarded, None unknown
    captured_blocked: bool | None = None
    where: str = ""


# ---- writing ----------------------------------------------------------------------------------------------


class CaptureWriter:
    """The opt-in capture file: one redacted JSON line per venue request."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    @classmethod
    def open(cls, path: str) -> CaptureWriter:
        # created private: it holds order flow, if not credentials
        fd = os.open(os.path.expanduser(path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return cls(os.fdopen(fd, "a", encoding="utf-8", buffering=1))

    def write(self, adapter: VenueAdapter, request: HttpRequest, parsed: ParsedRequest | None, decision: Decision,
              started_s: float, status: int | None, body: bytes) -> None:
        try:
            record = capture_record(request, adapter.venue, adapter, parsed=parsed, ts_ms=int(started_s * 1000),
                                    status=status, response_body=body if status is not None else None,
                                    decision=decision)
            self._handle.write(orjson.dumps(record).decode() + "\n")
        except Exception as exc:  # a capture must never cost a decision
            with contextlib.suppress(Exception):
                logs.get_logger("riskwall.capture").warning("capture_failed", error=type(exc).__name__)


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
        parsed = screen(adapter, http_request)
    secrets = _SecretValues(adapter)
    for name, value in http_request.headers.items():
        secrets.add_if_credential(name, value)
    record: dict[str, Any] = {
        "v": CAPTURE_VERSION,
        "ts": iso_ms(ts_ms if ts_ms is not None else _now_ms()),
        "venue": venue.value,
        "account": parsed.account,
        "method": http_request.method.upper(),
        "host": http_request.host,
        "port": http_request.port,
        "path": logs.redact_text(without_tokens(http_request.path.split("?", 1)[0]), MAX_PATH_CHARS),
        "headers": {k: v[:MAX_HEADER_CHARS] for k, v in http_request.headers.items() if k.lower() in KEPT_HEADERS},
    }
    if parsed is not None and parsed.action is Action.UNKNOWN and http_request.upgrade is None:
        # no endpoint of the venue: named as the decision line names it, its query (maybe a key) left out
        record["path"] = parsed.endpoint.split(" ", 2)[1]
        record["query_omitted"] = {"pairs": len(http_request.query)}
    elif http_request.upgrade is not None:
        # a user-data stream's URL is its listen key (`/ws/<key>`, `?streams=<key>`): keep only what it opened
        record["path"] = logs.redact_text(parsed.endpoint.split(" ", 1)[-1], MAX_PATH_CHARS)
        record["query"] = [[key, "[redacted]"] for key, _ in http_request.query[:MAX_QUERY_PAIRS_KEPT]]
    elif sum(len(k) + len(v) for k, v in http_request.query) <= MAX_QUERY_CHARS:
        record["query"] = [[key, secrets.redact_param(key, value)] for key, value in http_request.query]
    else:
        record["query_omitted"] = {"pairs": len(http_request.query)}
    if http_request.repeated_headers:
        record["repeated_headers"] = sorted(http_request.repeated_headers)
    if http_request.body:
        record.update(_request_body(http_request, secrets))
    if status is not None:
        response: dict[str, Any] = {"status": status}
        if response_body:
            text = _text(response_body)
            if text is not None and len(text) <= MAX_RESPONSE_CHARS:
                response["body"] = _redact_json_text(text, secrets)
            else:
                response["body_omitted"] = {"bytes": len(response_body)}
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
    return secrets.scrub(record)  # type: ignore[no-any-return]


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
            return logs.redact_text(value, len(value))
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value


def _request_body(request: HttpRequest, secrets: _SecretValues) -> dict[str, Any]:
    """A form or JSON body as text, its credentials redacted; any other body only by its size."""
    body = request.body
    text = _text(body) if len(body) <= MAX_BODY_CHARS and not request.content_encoding else None
    if text is not None:
        if request.content_type == "application/x-www-form-urlencoded":
            return {"body": _redact_form_text(text, secrets)}
        if request.content_type == "application/json":
            return {"body": _redact_json_text(text, secrets)}
    return {"body_omitted": {"bytes": len(body)}}


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
    """Replace the values of credential-named JSON fields, leaving every other byte as sent.

    One linear pass over the text's tokens (a pattern that searched for `"key": "value"` pairs from every quote
    took quadratic time over a body of escaped quotes).
    """
    tokens = [(m[0], m[0].startswith('"')) for m in _JSON_TOKEN.finditer(text)]
    out: list[str] = []
    index = 0
    while index < len(tokens):
        token, is_string = tokens[index]
        out.append(token)
        index += 1
        if not is_string or index >= len(tokens) or not _names_secret(token, secrets):
            continue
        between, _ = tokens[index]
        if _KEY_SEPARATOR.fullmatch(between) and index + 1 < len(tokens) and tokens[index + 1][1]:
            # "name": "value"
            secrets.add_if_credential(_json_string(token) or "", _json_string(tokens[index + 1][0]) or "")
            out += (between, f'"{REDACTED}"')
            index += 2
            continue
        bare = _BARE_VALUE.match(between)
        if bare is not None:
            # "name": 123456 (a number or a literal where a credential should be)
            out.append(between[: bare.start(1)] + f'"{REDACTED}"' + between[bare.end(1):])
            index += 1
    return "".join(out)


def _names_secret(token: str, secrets: _SecretValues) -> bool:
    name = _json_string(token)
    return name is not None and _is_secret(name, secrets.adapter)


def _json_string(token: str) -> str | None:
    try:
        value = json.loads(token)
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ---- reading ----------------------------------------------------------------------------------------------

type FlowReader = Callable[[Path], Iterator[CapturedExchange]]


def read_capture(path: Path, read_flow_file: FlowReader | None = None) -> Iterator[CapturedExchange]:
    """A flow file, a HAR file or a JSON-lines capture, told apart by suffix, else by content (`.json` may be
    either a HAR file or JSON lines). Flow and HAR files are read by `read_flow_file` (the mitmproxy glue)."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES or (suffix not in FLOW_SUFFIXES and _looks_like_jsonl(path)):
        yield from read_jsonl(path)
        return
    if read_flow_file is None:
        raise CaptureError(f"{path}: flow files are read only where mitmproxy is loaded")
    yield from read_flow_file(path)


def open_capture(path: Path) -> BinaryIO:
    """A capture file opened for reading; CaptureError saying why it cannot be."""
    try:
        return path.open("rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be read: {exc.strerror}") from None


def _looks_like_jsonl(path: Path) -> bool:
    with open_capture(path) as handle:
        first = handle.readline(1_000_000).strip()
    if not first.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False  # a HAR file: one JSON document over many lines


def read_jsonl(path: Path) -> Iterator[CapturedExchange]:
    with open_capture(path) as handle:
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


def exchange_from_flow(request: HttpRequest, started_s: float | None, where: str, *, status: int | None = None,
                       response_body: bytes | None = None, answered_s: float | None = None,
                       response_headers: Iterable[str] | None = None) -> CapturedExchange:
    """A flow of a mitmproxy flow file (request and, when it was answered, the answer's status, body, time and
    header names; times in epoch seconds) → the exchange it describes. A riskwall refusal is known by its rule
    header; a flow without an answer is neither blocked nor forwarded as far as the file tells."""
    answered = status is not None
    return CapturedExchange(
        ts_ms=round(started_s * 1000) if started_s else 0,
        request=request,
        status=status,
        response_body=(response_body or b"") if answered else None,
        response_ts_ms=round(answered_s * 1000) if answered and answered_s else None,
        captured_blocked=_names_header(response_headers or (), RULE_HEADER) if answered else None,
        where=where,
    )


def _names_header(names: Iterable[str], wanted: str) -> bool:
    return any(name.lower() == wanted.lower() for name in names)


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
    if data.get("query_omitted"):
        # a query too long to keep: a pair no adapter reads stands in for it, so the request is not read as
        # one without parameters
        query = [*query, ["riskwall-query-omitted", "true"]]
    headers = data.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise CaptureError(f"{where}: headers must be an object")
    try:
        body = _record_body(data, where)
        header_map = {str(k).lower(): str(v) for k, v in headers.items()}
        request = HttpRequest(
            method=method,
            host=host,
            port=int(data.get("port") or 443),
            path=path,
            query=tuple((str(k), str(v)) for k, v in query),
            headers=header_map,
            body=body,
            repeated_headers=frozenset(str(h).lower() for h in data.get("repeated_headers") or ()),
            content_encoding=header_map.get("content-encoding", ""),
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
        response_body = None if response.get("body_omitted") else _record_body(response, where)
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
    if data.get("body_omitted"):
        return OMITTED_BODY
    if data.get("body_b64"):
        # written by earlier versions for bodies that were not UTF-8
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
