"""Structured JSON logs: one line per event on stdout, rendered by orjson, with secrets redacted.

Event names are snake_case constants (`decision`, `policy_loaded`, ...), never f-strings, so a log stack can
key on them. The redaction processor is the last line of defence: code should never hand it a secret, and
if it does, the value is replaced before rendering.

Logged text is bounded (`MAX_TEXT` characters a string) and redaction is linear in it: much of what a decision
line carries (paths, field names in parse errors) is chosen by whoever sent the request, and a log line must
never cost more than the request that caused it.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
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
        "x-bx-apikey", "api-key", "api-signature", "token", "password", "cookie", "sign",
        # what venues answer when a key is made (Binance `secretKey`, CoinEx `secret_key`), and private keys
        "secret-key", "api-secret-key", "private-key", "access-token", "refresh-token",
    )
)
# the names a credential travels under inline (`signature=...`, `X-MBX-APIKEY: ...`, `"apiKey": "..."`):
# a name ending in one of these
_INLINE_NAMES = ("signature", "apikey", "api_key", "listenkey", "passphrase", "secret", "secretkey", "secret_key",
                 "privatekey", "private_key", "sign", "token")
# `name=`, `name: ` or `"name": "` (quotes escaped too: JSON inside a string) in a string, then the value.
# Linear time: a name starts only where no name character precedes it and is taken whole (possessive), so no
# position is scanned twice; whether it names a credential is judged in Python, not by alternation inside the
# pattern (that backtracked quadratically over long words). Values are not consumed for ordinary names, so
# `q=signature=...` is seen.
_NAME_SEPARATOR = re.compile(r"""(?<![\w-])([\w-]++)(?:\\?")?[ \t]*+[=:][ \t]*+(?:\\?")?""")
_VALUE = re.compile(r"""[^&\s"',;}\\]++""")
# longest string kept in a log line; longer ones keep their head and say how much was cut
MAX_TEXT = 2048
# tracebacks are ours, not the sender's, and need room
MAX_EXCEPTION_TEXT = 16_384


# the types `redact` passes through unchanged, tested by exact type (subclasses take the general path)
_PLAIN = frozenset({type(None), bool, int, float, Decimal})


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


@functools.lru_cache(maxsize=4096)  # log field names repeat on every line
def is_secret_key(key: str) -> bool:
    return key.lower().replace("-", "").replace("_", "") in _SECRET_KEYS


def redact_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` cut to `limit` characters, with the value of every inline credential replaced."""
    if len(text) > limit:
        return f"{_redact_inline(text[:limit])}...[{len(text) - limit} more characters]"
    return _redact_inline(text)


def _redact_inline(text: str) -> str:
    # a credential travels inline only after `=` or `:`: most strings cannot hold one
    if "=" not in text and ":" not in text:
        return text
    kept: list[str] = []
    done = 0
    for match in _NAME_SEPARATOR.finditer(text):
        if match.start() < done or not match[1].lower().endswith(_INLINE_NAMES):
            continue
        value = _VALUE.match(text, match.end())
        if value is not None:
            kept += (text[done:match.end()], REDACTED)
            done = value.end()
    if not kept:
        return text
    kept.append(text[done:])
    return "".join(kept)


def redact(value: Any) -> Any:
    # the common cases first, by exact type (no subclass or ABC checks): this runs over every field of every
    # log line. Each returns what the general path below would
    kind = type(value)
    if kind is str:
        if len(value) <= MAX_TEXT and "=" not in value and ":" not in value:
            return value  # nothing to cut, and no credential can travel inline (redact_text)
        return redact_text(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(k): (REDACTED if is_secret_key(str(k)) else redact(v)) for k, v in value.items()}
    if isinstance(value, str):
        return redact_text(value)
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


def _redact_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    traceback = event.pop("exception", None)
    redacted: dict[str, Any] = redact(dict(event))
    if isinstance(traceback, str):
        redacted["exception"] = redact_text(traceback, MAX_EXCEPTION_TEXT)
    return redacted


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    try:
        return orjson.dumps(event, default=_default).decode()
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate (a request's `\udcff`) is no UTF-8
        # the line is written all the same (one per decision), the character escaped as JSON allows
        return json.dumps(event, default=_default, separators=(",", ":"))


# where `line` writes, and the least level written, as `configure` last set them
_printer: structlog.PrintLogger | None = None
_level = logging.INFO


def configure(stream: TextIO | None = None, level: int = logging.INFO) -> None:
    global _printer, _level
    # structlog's own printer: it shares the per-stream lock of the loggers configured below, so a line from
    # another thread never lands inside one of `line`'s
    _printer, _level = structlog.PrintLogger(stream or sys.stdout), level
    structlog.configure(
        # no contextvars are bound anywhere, so none are merged; the time stamp is added after redaction: it is
        # ours, and its colons would send every line's stamp through the inline-credential scan
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            _redact_processor,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            _render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "riskwall") -> Any:
    return structlog.get_logger(name)


def line(event: str, fields: dict[str, Any]) -> None:
    """What `get_logger().info(event, **fields)` writes, key for key, without going through structlog's chain.

    For the line written once per order (`decision`): structlog's dispatch, its level and traceback processors
    and the copies of the event between them cost as much as rendering it. The redaction and rendering are the
    chain's own (`_redact_processor`, the stamp, `_render`); `fields` is not modified.
    """
    if _printer is None or "event" in fields or "exc_info" in fields:
        # never configured: structlog's defaults, as for every other line; a field structlog itself reads (it
        # refuses a second `event`, and renders `exc_info` as a traceback): its own chain, as before
        get_logger().info(event, **fields)
        return
    if _level > logging.INFO:
        return
    event_dict = {**fields, "event": event, "level": "info"}
    rendered = _redact_processor(None, "info", event_dict)
    rendered["ts"] = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
    _printer.msg(_render(None, "info", rendered))
