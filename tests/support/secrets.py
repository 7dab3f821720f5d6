"""The end-to-end suite's secret scan: every credential any fake exchange saw must be absent from every line
any sidecar wrote (Promise 4). Fakes are watched here; sidecars are listed by tests.support.sidecar."""

from __future__ import annotations

import json
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
        for frame in getattr(fake, "ws_frames", ()):
            seen |= _frame_credentials(frame.text)
        for path in getattr(fake, "ws_handshakes", ()):
            # a user-data stream's URL is its listen key: /ws/<key>, /stream?streams=<key>
            seen |= {part for part in path.replace("?", "/").replace("=", "/").split("/")
                     if len(part) >= 32 and part.isalnum()}
        for account in getattr(fake, "_accounts", {}).values():
            secret = getattr(account, "secret", None)
            if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH:
                seen.add(secret)
    return seen


def leaks(text: str, secrets: set[str]) -> list[str]:
    """The secrets found in `text`, shortened so the failure message does not leak them again."""
    return [f"{s[:4]}…({len(s)} chars)" for s in secrets if s in text]


def _frame_credentials(text: str) -> set[str]:
    """Credentials a client sent in a WebSocket message: values under secret names at any depth, and the key and
    signature among Bybit's positional `auth` arguments (key, expiry, signature). The expiry is a time in
    milliseconds, no secret: any millisecond time a sidecar logs (ccxt's OKX frame ids start with one) could
    equal it by chance."""
    try:
        message = json.loads(text)
    except ValueError:
        return set()
    found: set[str] = set()
    if isinstance(message, dict) and message.get("op") == "auth" and isinstance(message.get("args"), list):
        key_and_signature = [arg for number, arg in enumerate(message["args"]) if number != 1]
        found |= {a for a in key_and_signature if isinstance(a, str) and len(a) >= MIN_SECRET_LENGTH}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                if is_secret_key(str(name)) and isinstance(inner, str) and len(inner) >= MIN_SECRET_LENGTH:
                    found.add(inner)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(message)
    return found
