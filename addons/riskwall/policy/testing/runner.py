"""Finding test files, running their cases through the real engine and printing one line per case with a
summary: the `riskwall policy test` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from riskwall.decider import decide_request
from riskwall.model import Decision
from riskwall.policy.loader import Policy, PolicyError, load_policy
from riskwall.policy.testing.context import START_MS, CaseContext, CaseError, ManualClock
from riskwall.policy.testing.report import compare, describe_decision, describe_expectation
from riskwall.policy.testing.requests import build_request
from riskwall.policy.testing.seeding import seed_state
from riskwall.policy.testing.spec import CaseSpec, TestFileSpec, load_test_file
from riskwall.state.memory import MemoryStore

TEST_FILE_SUFFIXES = (".test.yaml", ".test.yml")


@dataclass(slots=True)
class _Counts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    lines: list[str] = field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="test files (*.test.yaml), or folders searched recursively for them")
    parser.add_argument("--policy", metavar="PATH", default=None,
                        help="test this policy file or folder instead of the one each test file names "
                             "(e.g. a candidate policy against the shipped tests)")


def main(args: argparse.Namespace) -> int:
    return run_policy_tests(args.paths, sys.stdout, policy=args.policy)


def run_policy_tests(paths: Sequence[str | Path], out: TextIO, *, policy: str | Path | None = None) -> int:
    """Run every case of the test files under `paths`, print one line per case and a summary; 0 if all pass."""
    counts = _Counts()
    files: list[Path] = []
    for path in paths:
        found, problem = discover(Path(path))
        if problem:
            counts.errors += 1
            _emit(out, f"ERROR {path}: {problem}")
        files.extend(found)
    override = Path(policy) if policy is not None else None
    for file in files:
        asyncio.run(_run_file(file, override, out, counts))
    summary = f"{counts.passed} passed, {counts.failed} failed"
    if counts.errors:
        summary += f", {counts.errors} error{'s' if counts.errors != 1 else ''}"
    _emit(out, summary)
    return 0 if counts.failed == 0 and counts.errors == 0 and counts.passed > 0 else 1


def discover(path: Path) -> tuple[list[Path], str | None]:
    if path.is_file():
        return [path], None
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(TEST_FILE_SUFFIXES))
        return found, None if found else "no *.test.yaml files found"
    return [], "no such file or folder"


def _emit(out: TextIO, line: str) -> None:
    out.write(line + "\n")


def _file_error(out: TextIO, counts: _Counts, headline: str, exc: PolicyError) -> None:
    counts.errors += 1
    _emit(out, headline)
    for error in exc.errors:
        _emit(out, f"  {error}")


async def _run_file(file: Path, override: Path | None, out: TextIO, counts: _Counts) -> None:
    try:
        spec = load_test_file(file)
    except PolicyError as exc:
        _file_error(out, counts, f"ERROR {file}: not a usable test file", exc)
        return
    policy_path = override or (file.parent / spec.policy)
    try:
        policy = load_policy(policy_path)
    except PolicyError as exc:
        _file_error(out, counts, f"ERROR {file}: policy {policy_path} is invalid", exc)
        return
    for index, case in enumerate(spec.cases):
        label = f"{file}::{case.name}"
        try:
            decision = await run_case(case, spec, policy, index)
        except CaseError as exc:
            counts.errors += 1
            _emit(out, f"ERROR {label}")
            _emit(out, f"  {exc}")
            continue
        problems = compare(case.expect, decision)
        if not problems:
            counts.passed += 1
            _emit(out, f"PASS {label}")
            continue
        counts.failed += 1
        _emit(out, f"FAIL {label}")
        _emit(out, f"  expected: {describe_expectation(case.expect)}")
        _emit(out, f"  actual:   {describe_decision(decision)}")
        for problem in problems:
            _emit(out, f"  - {problem}")


async def run_case(case: CaseSpec, spec: TestFileSpec, policy: Policy, index: int = 0) -> Decision:
    """One case: a fresh store seeded from `state`, the request built and parsed, the real engine's decision."""
    clock = ManualClock(START_MS)
    store = MemoryStore(clock=clock)
    context = CaseContext(spec, policy)
    parsed = build_request(case.request, context)
    await seed_state(store, case.state, context, clock, parsed)
    clock.now_ms = START_MS
    return (await decide_request(parsed, policy, store, f"policy-test-{index}")).decision

