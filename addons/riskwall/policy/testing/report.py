"""A case's expectation compared with the engine's decision, and both described for the report."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from riskwall.model import Decision, Violation
from riskwall.policy.testing.spec import ExpectSpec, ViolationSpec, param_text


def compare(expect: ExpectSpec, decision: Decision) -> list[str]:
    """What differs between the expectation and the decision; empty when the case passes."""
    problems: list[str] = []
    verdict = decision.verdict.value
    if verdict != expect.verdict:
        problems.append(f"verdict is {verdict}, not {expect.verdict}")
    elif expect.verdict == "block":
        problems += _compare_violation(expect, decision.deciding, "the deciding violation")
    if expect.would_block is False:
        if decision.shadowed:
            problems.append(f"something would block: {_violation_text(decision.shadowed[0])}")
    elif expect.would_block is not None:
        first = decision.shadowed[0] if decision.shadowed else None
        if first is None:
            problems.append("nothing would block")
        else:
            problems += _compare_violation(expect.would_block, first, "the first would_block")
    return problems


def _compare_violation(expect: ViolationSpec, actual: Violation | None, what: str) -> list[str]:
    if actual is None:
        return [f"{what} is missing"]
    problems = []
    if expect.rule is not None and actual.rule_id != expect.rule:
        problems.append(f"{what} is rule {actual.rule_id}, not {expect.rule}")
    if expect.reason is not None and actual.reason is not expect.reason:
        problems.append(f"{what} has reason {actual.reason}, not {expect.reason}")
    if expect.leg is not None and actual.leg != expect.leg:
        where = f"on leg {actual.leg}" if actual.leg is not None else "not on a leg of a batch"
        problems.append(f"{what} is {where}, not on leg {expect.leg}")
    for key, value in expect.context.items():
        observed = actual.get(key)
        if observed is None:
            problems.append(f"{what} has no {key} in its context")
        elif not _same(observed, value):
            problems.append(f"{what} has {key}={observed}, not {param_text(value)}")
    return problems


def _same(observed: str, expected: Any) -> bool:
    text = param_text(expected) if not isinstance(expected, bool) else str(expected)
    try:
        return Decimal(observed) == Decimal(text)
    except InvalidOperation:
        return observed == text


def describe_expectation(expect: ExpectSpec) -> str:
    text: str = expect.verdict
    if expect.verdict == "block":
        text += _violation_pattern(expect)
    if expect.would_block is False:
        text += "; nothing would block"
    elif expect.would_block is not None:
        text += "; would_block" + _violation_pattern(expect.would_block)
    return text


def _violation_pattern(spec: ViolationSpec) -> str:
    text = "".join(f" {part}" for part in (spec.rule, spec.reason.value if spec.reason else None) if part)
    if spec.context:
        text += " with " + ", ".join(f"{k}={param_text(v)}" for k, v in spec.context.items())
    if spec.leg is not None:
        text += f" on leg {spec.leg}"
    return text


def describe_decision(decision: Decision) -> str:
    text = decision.verdict.value
    if decision.deciding is not None:
        text += f" {_violation_text(decision.deciding)}"
    if decision.shadowed:
        text += f"; would_block {_violation_text(decision.shadowed[0])}"
    return text


def _violation_text(violation: Violation) -> str:
    leg = f" (leg {violation.leg})" if violation.leg is not None else ""
    return f"{violation.rule_id} {violation.detail}{leg}"

