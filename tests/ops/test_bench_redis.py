"""`make bench` (bench/bench_proxy.py) decides whether to run its Redis rows by asking the server at `--redis`: any
URL riskwall's store takes, `off` for none, and never a password in the reason it prints for skipping them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from state.conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, require_redis
from support.sidecar import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_proxy

PASSWORD = "s3cret-Pa55word"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param("off", "not asked for (--redis off)", id="off"),
        pytest.param("none", "not a Redis URL", id="no-url"),
        pytest.param("memory://", "not a Redis URL", id="not-redis"),
        pytest.param("redis://127.0.0.1:6379/db", "must be a database number", id="bad-database"),
        pytest.param(f"redis://:{PASSWORD}@127.0.0.1:{{port}}/0", "no Redis answers at redis://***@127.0.0.1:",
                     id="password-and-nothing-listening"),
        pytest.param(f"redis://user:{PASSWORD}@127.0.0.1:{{port}}/0?prefix=x", "no Redis answers at redis://***@",
                     id="user-password-and-options"),
    ],
)
def test_redis_answers_when_no_usable_redis_then_the_reason_without_its_password(url: str, reason: str) -> None:
    said = bench_proxy.redis_answers(url.replace("{port}", str(free_port())))

    assert said is not None and reason in said
    assert PASSWORD not in said


@pytest.mark.redis
@pytest.mark.parametrize("query", ["", "?prefix=bench-check", "?socket_timeout=2"])
def test_redis_answers_when_redis_answers_then_none(query: str) -> None:
    require_redis()

    assert bench_proxy.redis_answers(f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}{query}") is None
