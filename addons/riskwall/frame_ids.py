"""Message ids of WebSocket frames as JSON readers hold them, so a refusal echoes a bot's id exactly and an
answer is matched to the frame it answers whichever JSON reader (the sidecar's exact one, the venue's, the
client's) produced the id.

Ids are opaque tokens, never amounts: a whole number stays an int, any other number becomes the float a JSON
reader would make of it (`1.5` echoed as `1.5`). Amounts are read elsewhere, as Decimal, from their strings.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

_INT64 = 2**63
MAX_ID_DEPTH = 32


def json_value(value: Any, depth: int = 0) -> Any:
    """A JSON value with its numbers as int (a whole number written without a point or exponent, within 64
    bits: what orjson writes) or float (any other), the same whichever reader produced it. Ids are echoed and
    matched with it; nesting deeper than any id needs is cut off (None)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else _float(value)
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if exponent == 0 and -_INT64 <= value < _INT64:
            return int(value)
        return _float(value)
    if isinstance(value, float):
        return value
    if depth >= MAX_ID_DEPTH:
        return None
    if isinstance(value, list | tuple):
        return [json_value(item, depth + 1) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item, depth + 1) for key, item in value.items()}
    return str(value)


def _float(value: int | Decimal) -> float:
    try:
        return float(value)
    except OverflowError:  # an int past 1e308 (a Decimal becomes inf by itself)
        return float("inf") if value > 0 else float("-inf")
