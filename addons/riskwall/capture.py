"""Captured traffic for `riskwall replay`: the neutral record of one request and the venue's answer.

JSON-lines captures are read by riskwall.replay; mitmproxy flow files by riskwall.addon.read_flow_file (the
mitmproxy glue), both into `CapturedExchange`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
