"""Structured JSON logs: one line per event on stdout, rendered by orjson, with secrets redacted.

Event names are snake_case constants (`decision`, `policy_loaded`, ...), never f-strings, so a log stack can
key on them. The redaction processor is the last line of defence: code should never hand it a secret, and
if it does, the value is replaced before rendering.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from decimal import Decimal
from typing import Any, TextIO

import orjson
import structlog

REDACTED = "[redacted]"
# keys whose values are credentials on some venue; compared case-insensitively, ignoring - and _
_SECRET_KEYS = frozenset(
    k.replace("-", "").replace("_", "")
    for k in (
        "signature", "secret", "api_secret", "apikey", "api_key", "x-mbx-apikey", "passphrase", "listenkey",
        "authorization", "proxy-authorization", "x-bapi-api-key", "x-bapi-sign", "ok-access-key",
        "ok-access-sign", "ok-access-passphrase", "access-key", "access-sign", "access-passphrase",
        "x-bx-apikey", "api-key", "api-signature", "token", "password", "cookie",
    )
)
# a query string or form body that slipped into a message: keep the key, drop the value
_INLINE_SECRET = re.compile(r"(?i)([\w-]*(?:signature|apikey|api_key|listenkey|passphrase|secret))=([^&\s\"']+)")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


@functools.lru_cache(maxsize=4096)  # log field names repeat on every line
def is_secret_key(key: str) -> bool:
    return key.lower().replace("-", "").replace("_", "") in _SECRET_KEYS


def redact(value: Any) -> Any:
    # the common cases first: this runs over every field of every log line
    if isinstance(value, str):
        # a credential travels inline only as `name=value`: most strings cannot hold one
        return _INLINE_SECRET.sub(lambda m: f"{m[1]}={REDACTED}", value) if "=" in value else value
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # orjson would serialise a dataclass itself, past this processor
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping) or (hasattr(value, "items") and hasattr(value, "keys")):
        return {str(k): (REDACTED if is_secret_key(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    return value


def _redact_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    return redact(dict(event))  # type: ignore[no-any-return]


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    return orjson.dumps(event, default=_default).decode()


def configure(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            structlog.processors.format_exc_info,
            _redact_processor,
            _render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "riskwall") -> Any:
    return structlog.get_logger(name)
