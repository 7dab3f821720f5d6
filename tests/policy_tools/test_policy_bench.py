"""`riskwall policy bench`: every stage timed for the user's own policy, the verdicts counted, bad input refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis

from riskwall import cli
from riskwall.state.redis import RedisStore
from state.conftest import REDIS_DB, REDIS_HOST, REDIS_PORT, require_redis
from support.sidecar import free_port

OPEN_POLICY = """
version: 1
rules:
  - {id: symbols, type: allowed_symbols, allow: [BTCUSDT, BTC-USDT-SWAP]}
  - {id: order-qty, type: max_order_qty, default: 1}
  - {id: position, type: max_position, default: {qty: 1000}}
  - {id: order-rate, type: order_rate, limits: ["1000000/1s"]}
  - {id: duplicates, type: duplicate_orders, window: 1h}   # each bench order is re-quoted: none is a duplicate
"""
TIGHT_POLICY = OPEN_POLICY.replace("default: {qty: 1000}", "default: {qty: 0.005}")


def bench(tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    code = cli.main(["policy", "bench", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit", "okx"])
def test_policy_bench_when_every_order_passes_then_each_stage_is_timed_for_every_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], venue: str
) -> None:
    code, out, _ = bench(tmp_path, capsys, OPEN_POLICY, "--venue", venue, "--orders", "50", "--json")

    report = json.loads(out)
    assert code == 0
    assert report["verdicts"] == {"allow": 50}
    assert set(report["stages_us"]) == {"parse", "decide", "learn", "total"}
    for numbers in report["stages_us"].values():
        assert 0 < numbers["p50"] <= numbers["p99"]


def test_policy_bench_when_orders_accumulate_past_a_limit_then_blocks_are_counted_by_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = bench(tmp_path, capsys, TIGHT_POLICY, "--orders", "8")

    assert code == 0
    # 0.001 each, resting: the position limit of 0.005 admits five
    assert "       5 allow" in out and "       3 block position (POSITION_EXCEEDS_MAX)" in out
    assert "parse" in out and "decide" in out and "learn" in out


@pytest.mark.parametrize(("policy", "args", "message"), [
    ("rules: [{id: x, type: nonsense}]", (), "invalid policy"),
    (OPEN_POLICY, ("--orders", "0"), "--orders"),
    (OPEN_POLICY, ("--state", "bogus://somewhere"), "use memory:// or redis://host:port/db"),
    (OPEN_POLICY, ("--state", f"redis://127.0.0.1:{free_port()}/15?timeout_ms=500"), "did not answer"),
])
def test_policy_bench_when_input_is_bad_then_exit_2_with_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str, args: tuple[str, ...], message: str
) -> None:
    code, out, err = bench(tmp_path, capsys, policy, *args)

    assert (code, out) == (2, "")
    assert message in err


@pytest.mark.redis
def test_policy_bench_when_the_state_is_redis_then_each_stage_is_timed_there_and_its_keys_are_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    require_redis()
    server = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_DB, socket_timeout=5)
    # keys a run stopped before its clean-up left (a killed `make bench`) are not this run's to delete
    before = set(server.scan_iter(match="riskwall-throwaway-*"))
    keys_during_run: list[int] = []
    original = RedisStore.reserve_seen

    async def counted(self: RedisStore, *args: Any) -> Any:
        keys_during_run.append(len(set(server.scan_iter(match="riskwall-throwaway-*")) - before))
        return await original(self, *args)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(RedisStore, "reserve_seen", counted)
            code, out, _ = bench(tmp_path, capsys, TIGHT_POLICY, "--orders", "8", "--json",
                                 "--state", f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}?prefix=riskwall")
        left = set(server.scan_iter(match="riskwall-throwaway-*")) - before
    finally:
        server.close()

    report = json.loads(out)
    assert code == 0
    assert report["state"] == f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    # the position limit held on Redis, under the run's own prefix (the URL's is replaced), as in memory
    assert report["verdicts"] == {"allow": 5, "block position (POSITION_EXCEEDS_MAX)": 3}
    assert max(keys_during_run) > 0 and left == set()
