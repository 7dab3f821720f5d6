"""The end-to-end suite's secret scan: every credential any fake exchange saw must be absent from every line
any sidecar wrote (Promise 4). Fakes are watched here; sidecars are listed by tests.support.sidecar."""

from __future__ import annotations

from typing import Any

from riskwall.logs import is_secret_key

WATCHED_FAKES: list[Any] = []
# shorter values (a "1" flag, an empty header) would match by accident, not by leaking
MIN_SECRET_LENGTH = 8


def watch(fake: Any) -> Any:
    """Register a fake exchange whose recorded requests carry credentials (headers and parameters)."""
    WATCHED_FAKES.append(fake)
    return fake


def credentials_seen() -> set[str]:
    seen: set[str] = set()
    for fake in WATCHED_FAKES:
        for request in fake.requests:
            pairs = [*request.headers.items(), *getattr(request, "params", {}).items()]
            for name, value in pairs:
                if is_secret_key(str(name)) and isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
                    seen.add(value)
        for account in getattr(fake, "_accounts", {}).values():
            secret = getattr(account, "secret", None)
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                seen.add(secret)
    return seen


def leaks(text: str, secrets: set[str]) -> list[str]:
    """The secrets found in `text`, shortened so the failure message does not leak them again."""
    return [f"{s[:4]}…({len(s)} chars)" for s in secrets if s in text]
