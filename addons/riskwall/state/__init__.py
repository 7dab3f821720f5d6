"""State stores, chosen by URL: `memory://` (one sidecar) or `redis://host:6379/0` (a fleet)."""

from __future__ import annotations

from riskwall.state.base import StateStore, StateUnavailable


class UnsupportedStateUrl(ValueError):
    pass


# the URL schemes of a Redis store (riskwall.state.redis); anything else but memory:// is refused
REDIS_SCHEMES = frozenset({"redis", "rediss", "redis+sentinel", "unix"})


def open_store(url: str) -> StateStore:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "memory":
        from riskwall.state.memory import MemoryStore

        return MemoryStore(url=url)
    if scheme in REDIS_SCHEMES:
        from riskwall.state.redis import open_redis_store

        return open_redis_store(url)
    from riskwall.state.breaker import without_password

    raise UnsupportedStateUrl(f"state URL {without_password(url)!r}: use memory:// or redis://host:port/db")


__all__ = ["REDIS_SCHEMES", "StateStore", "StateUnavailable", "UnsupportedStateUrl", "open_store"]
