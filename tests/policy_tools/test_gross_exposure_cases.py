"""`riskwall policy test` on a max_gross_exposure policy: positions, resting orders and mark prices given in a
case's state reach the rule, and every case of tests/fixtures/policy_tests/gross_exposure.test.yaml passes.

The shipped default policy has no such rule, so its tests (policies/tests/default.test.yaml) do not cover it;
this small policy and test file pair does.
"""

from __future__ import annotations

import io
from pathlib import Path

from riskwall.policy.testing import load_test_file, run_policy_tests

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "fixtures" / "policy_tests" / "gross_exposure.test.yaml"


def test_run_when_gross_exposure_cases_run_then_each_one_passes_and_exit_is_0() -> None:
    out = io.StringIO()

    code = run_policy_tests([CASES], out)

    names = [case.name for case in load_test_file(CASES).cases]
    lines = out.getvalue().splitlines()
    assert lines == [f"PASS {CASES}::{name}" for name in names] + [f"{len(names)} passed, 0 failed"]
    assert code == 0


def test_cases_when_read_then_one_is_allowed_and_one_blocked_by_the_gross_exposure_rule() -> None:
    expected = [(case.expect.verdict, case.expect.rule, case.expect.reason)
                for case in load_test_file(CASES).cases if case.state.positions and case.state.prices]

    assert ("allow", None, None) in expected
    assert ("block", "gross", "GROSS_EXPOSURE_EXCEEDS_MAX") in expected
