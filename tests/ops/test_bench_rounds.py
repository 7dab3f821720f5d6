"""`make bench` (bench/bench_proxy.py) measures a cell's targets taking turns: each row's --requests are split into
--rounds rounds, every target takes a turn in each, the order reversed every other round, and a row adds its turns
up, within its --time-limit in all."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_proxy

TARGETS = [bench_proxy.Target(name, port, None) for name, port in (("direct", 1), ("mitmdump", 2), ("riskwall", 3))]


def run_cell(monkeypatch: pytest.MonkeyPatch, argv: list[str], seconds_per_order: float = 0.001) -> tuple[
        list[tuple[str, int]], list[bench_proxy.Result]]:
    """measure_cell over TARGETS with `drive` replaced by a recorder: the measured turns (target, orders) in the
    order taken, and the rows."""
    turns: list[tuple[str, int]] = []
    names = {target.rest_port: target.name for target in TARGETS}

    def drive(port: int, requests: int, connections: int, time_limit_s: float, regime: str) -> bench_proxy.Load:
        answered = min(requests, int(time_limit_s / seconds_per_order + 1e-9))
        if requests != args.warmup:  # the warm-up (a count no turn has here) is not a turn
            turns.append((names[port], requests))
        return bench_proxy.Load(latencies_s=[0.002] * answered, statuses={200: answered},
                                elapsed_s=answered * seconds_per_order)

    def no_book(*_: Any) -> None:
        return None

    args = bench_proxy.parse_args(["--skip-ws", *argv])
    monkeypatch.setattr(bench_proxy, "drive", drive)
    monkeypatch.setattr(bench_proxy, "read_book", no_book)
    return turns, bench_proxy.measure_cell(TARGETS, 1, bench_proxy.STEADY, args)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["--requests", "10", "--rounds", "3", "--warmup", "7"],
                     [("direct", 4), ("mitmdump", 4), ("riskwall", 4), ("riskwall", 3), ("mitmdump", 3),
                      ("direct", 3), ("direct", 3), ("mitmdump", 3), ("riskwall", 3)], id="3-rounds-uneven"),
        pytest.param(["--requests", "6", "--rounds", "1", "--warmup", "7"],
                     [("direct", 6), ("mitmdump", 6), ("riskwall", 6)], id="1-round-one-after-the-other"),
        pytest.param(["--requests", "2", "--rounds", "4", "--warmup", "7"],
                     [("direct", 1), ("mitmdump", 1), ("riskwall", 1), ("riskwall", 1), ("mitmdump", 1),
                      ("direct", 1)], id="more-rounds-than-orders"),
    ],
)
def test_measure_cell_when_rounds_then_targets_take_turns_reversed_every_other_round_and_rows_add_up(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], expected: list[tuple[str, int]]
) -> None:
    turns, rows = run_cell(monkeypatch, argv)

    assert turns == expected
    requests = int(argv[argv.index("--requests") + 1])
    assert [(row.target, row.requests, row.statuses, row.note) for row in rows] == [
        (target.name, requests, {200: requests}, "") for target in TARGETS]
    assert all(row.rps == pytest.approx(1000) for row in rows)


def test_measure_cell_when_a_row_reaches_its_time_limit_then_it_takes_no_more_turns_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 1 s per order and a 5 s limit: each row answers 5 of its 8 orders (4 in the first turn, 1 in the second)
    turns, rows = run_cell(monkeypatch, ["--requests", "8", "--rounds", "4", "--warmup", "7", "--time-limit", "5"],
                           seconds_per_order=1.0)

    assert turns == [(name, 2) for name in ("direct", "mitmdump", "riskwall")] + [
        (name, 2) for name in ("riskwall", "mitmdump", "direct")] + [
        (name, 2) for name in ("direct", "mitmdump", "riskwall")]
    assert [(row.requests, row.note) for row in rows] == [(5, "stopped at the 5 s limit")] * 3
