"""Captured traffic for `riskwall replay`: the neutral record of one exchange, and mitmproxy's flow files.

`read_flow_file` reads what `mitmdump -w FILE` (or mitmweb's "save") wrote, and HAR files, which mitmproxy's
reader understands too. mitmproxy is imported inside the function only, so `riskwall replay` on a JSON-lines
capture, and every other command, starts without loading it (this module is listed beside addon.py and
proxy.py in pyproject's banned-api exemptions).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskwall.model import Venue
from riskwall.venues import HttpRequest


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


RULE_HEADER = "x-riskwall-rule"


def read_flow_file(path: Path) -> Iterator[CapturedExchange]:
    """Every HTTP flow of a mitmproxy flow file (or HAR file), in the order it was written."""
    from mitmproxy import exceptions, http, io

    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CaptureError(f"{path}: cannot be read: {exc.strerror}") from None
    with handle:
        try:
            for number, flow in enumerate(io.FlowReader(handle).stream(), start=1):
                if isinstance(flow, http.HTTPFlow):
                    yield _exchange(flow, f"{path}#{number}")
        except exceptions.FlowReadException as exc:
            raise CaptureError(f"{path}: not a readable mitmproxy flow file: {exc}") from None


def _exchange(flow: Any, where: str) -> CapturedExchange:
    request = flow.request
    headers = request.headers
    http_request = HttpRequest(
        method=request.method.upper(),
        host=request.host.lower(),
        port=request.port,
        path=request.path,
        query=tuple(request.query.items(multi=True)),
        headers={k.lower(): v for k, v in headers.items()},
        body=request.get_content(strict=False) or b"",
        repeated_headers=frozenset(name.lower() for name in headers.keys() if len(headers.get_all(name)) > 1),
    )
    response = flow.response
    status = response.status_code if response is not None else None
    body = (response.get_content(strict=False) or b"") if response is not None else None
    ts = request.timestamp_start
    answered = response.timestamp_end if response is not None and response.timestamp_end else None
    return CapturedExchange(
        ts_ms=round(ts * 1000) if ts else 0,
        request=http_request,
        status=status,
        response_body=body,
        response_ts_ms=round(answered * 1000) if answered else None,
        captured_blocked=(RULE_HEADER in response.headers) if response is not None else None,
        where=where,
    )
