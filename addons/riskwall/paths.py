"""The one spelling of a request path, used wherever a path is compared (venue tables, policy endpoints).

Web servers read a path after percent-decoding it, dropping `;parameters` from its segments, and resolving
`.` and `..`; a firewall that compared the raw text would let `/v5/public/../trade` or `/%77s-fapi/v1` reach an
endpoint it never recognised. So every form that a server might read as a known path is turned into that path
here (decoded once, as servers do), and what is left over can only fail to match: an unknown path is refused
wherever it could add risk. Linear in the path's length.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_SLASHES = re.compile(r"/{2,}")
# a path segment that can only be a token: a listen key (`/ws/<key>`, 60 characters), an API key or a signature
# sent as a segment (64); no venue's own path has a segment near that long
_OPAQUE_SEGMENT = r"[A-Za-z0-9_-]{32,}"
_TOKEN_SEGMENT = re.compile(rf"(?<=/){_OPAQUE_SEGMENT}(?=/|$)")
_TOKEN_TEXT = re.compile(_OPAQUE_SEGMENT)
SEGMENT_HIDDEN = "*"


def is_token(text: str) -> bool:
    """Whether `text` can only be a token (a listen key, an API key, a signature): 32 characters and more of
    letters, digits, `-` and `_`, as no venue's own path segment or stream name is."""
    return _TOKEN_TEXT.fullmatch(text) is not None


# normalized paths by their raw text (query and fragment cut off): a bot sends the same few paths again and again.
# Paths come from the network, so the memory is bounded: full, it is emptied and fills again with what is sent now.
NORMALIZED_MEMORY_COUNT = 1024
NORMALIZED_MEMORY_LENGTH = 256  # a longer path is normalized every time, never kept
_normalized: dict[str, str] = {}


def normalize_path(path: str) -> str:
    """Lower case, no query or fragment, percent-decoded once, `\\` read as `/`, no `;` parameters, dot segments
    resolved, no repeated or trailing slashes: so `/fapi/v1//Order/` or `/ws/v5/./private;x` cannot dodge a table."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if len(path) > NORMALIZED_MEMORY_LENGTH:
        return _normalized_uncached(path)
    found = _normalized.get(path)
    if found is None:
        found = _normalized_uncached(path)
        if len(_normalized) >= NORMALIZED_MEMORY_COUNT:
            _normalized.clear()
        _normalized[path] = found
    return found


def _normalized_uncached(path: str) -> str:
    if "%" in path:
        path = unquote(path, errors="replace")
    path = path.replace("\\", "/").lower()
    segments: list[str] = []
    for segment in _SLASHES.sub("/", path).split("/"):
        segment = segment.split(";", 1)[0]
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    return "/" + "/".join(segments)


def endpoint_name(method: str, path: str) -> str:
    """`METHOD /normalized/path`: how decision lines and policies (`allow_endpoints`) name an endpoint."""
    return f"{method.upper()} {normalize_path(path)}"


def without_tokens(path: str) -> str:
    """`path` fit for a log line or capture: every segment that can only be a token (32 characters and more of
    letters, digits, `-` and `_`) shown as `*`, so a listen key or an API key sent in a path is never written."""
    return path if len(path) < 33 else _TOKEN_SEGMENT.sub(SEGMENT_HIDDEN, path)


# a segment a venue's own paths are made of (lower case after `normalize_path`): words and version numbers
_WORD_SEGMENT = re.compile(r"[a-z][a-z_-]{0,23}|v\d{1,2}")


def unknown_path_shown(path: str) -> str:
    """A normalized path that names no endpoint the firewall knows, fit for a log line or capture: every segment
    that is not a plain word or version number shown as `*`. What a bot sends to an unknown path is not the
    venue's vocabulary, and may be a key (a listen key split or dressed up: `k=<key>`, `<key>.x`, a key of 18
    characters)."""
    if path == "/":
        return path
    return "/" + "/".join(part if _WORD_SEGMENT.fullmatch(part) else SEGMENT_HIDDEN for part in path[1:].split("/"))
