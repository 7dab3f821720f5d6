"""riskwall.policy.schema: the policy JSON Schema, generated from the loader's own model.

The shipped file must equal the generated schema (so it cannot drift from the model), the schema must
accept every shipped policy and reject what the loader rejects where JSON Schema can say so, and its decimal
and rate patterns must never accept what the loader refuses.
"""

from __future__ import annotations

import argparse
import json
import re
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from riskwall.policy.loader import policy_files
from riskwall.policy.model import PolicyFile, PositiveDecimal, Rule, parse_rate, parse_window
from riskwall.policy.schema import (
    POSITIVE_DECIMAL_TEXT,
    RATE_TEXT,
    SCHEMA_DIALECT,
    WINDOW_TEXT,
    add_arguments,
    main,
    policy_json_schema,
    schema_text,
    shipped_schema_path,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_POLICIES = ROOT / "policies"
INVALID = ROOT / "tests" / "fixtures" / "policies" / "invalid"
SCHEMA_FILE = ROOT / "addons" / "riskwall" / "policy" / "riskwall-policy.schema.json"
JSONSCHEMA_MISSING = (
    "jsonschema is not installed in this venv: add `jsonschema>=4.18` to pyproject's [project.optional-dependencies] "
    "test extras to validate policies against the shipped schema"
)
POSITIVE = TypeAdapter(PositiveDecimal)


@pytest.fixture(scope="module")
def validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema", reason=JSONSCHEMA_MISSING)
    schema = policy_json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def loader_accepts_decimal(text: str) -> bool:
    try:
        POSITIVE.validate_python(text)
    except ValidationError:
        return False
    return True


def loader_accepts_rate(text: str) -> bool:
    try:
        parse_rate(text)
    except ValueError:
        return False
    return True


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found += walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += walk(value, f"{path}/{index}")
    return found


# ---- the shipped file -----------------------------------------------------------------------------------


def test_shipped_schema_when_compared_with_the_model_then_it_is_identical() -> None:
    shipped = SCHEMA_FILE.read_text(encoding="utf-8")

    assert shipped == schema_text(), (
        "riskwall-policy.schema.json is out of date with policy/model.py: "
        "run `python -m riskwall.policy.schema --write`"
    )


def test_shipped_schema_path_when_resolved_then_it_is_the_package_file() -> None:
    assert shipped_schema_path().resolve() == SCHEMA_FILE.resolve()


def test_main_when_run_without_options_then_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)

    assert main(parser.parse_args([])) == 0
    assert capsys.readouterr().out == schema_text()


def test_main_when_given_an_output_path_then_writes_the_schema_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    target = tmp_path / "schema.json"

    assert main(parser.parse_args(["--output", str(target)])) == 0
    assert target.read_text(encoding="utf-8") == schema_text()
    assert capsys.readouterr().out == ""


# ---- structure for editors ------------------------------------------------------------------------------


def test_schema_when_generated_then_it_is_draft_7_with_identity_and_no_pydantic_leftovers() -> None:
    schema = policy_json_schema()
    text = json.dumps(schema)

    assert schema["$schema"] == SCHEMA_DIALECT == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] and schema["title"] == "riskwall policy" and schema["description"]
    assert "$defs" not in text and "discriminator" not in text
    assert all(ref.startswith("#/definitions/") for ref in re.findall(r'"\$ref": "([^"]+)"', text))


def test_rule_items_when_generated_then_each_model_rule_type_has_an_if_then_branch_and_a_snippet() -> None:
    items = policy_json_schema()["properties"]["rules"]["items"]
    rule_classes = typing.get_args(typing.get_args(Rule)[0])
    model_types = {typing.get_args(cls.model_fields["type"].annotation)[0]: cls.__name__ for cls in rule_classes}

    branches = {b["if"]["properties"]["type"]["const"]: b["then"]["$ref"] for b in items["allOf"]}

    assert len(model_types) == 16
    assert set(items["properties"]["type"]["enum"]) == set(branches) == set(model_types)
    assert branches == {t: f"#/definitions/{name}" for t, name in model_types.items()}
    assert len(items["properties"]["type"]["enumDescriptions"]) == len(branches)
    assert {s["body"]["type"] for s in items["defaultSnippets"]} == set(branches)


def test_snippets_when_placeholders_are_filled_then_the_loader_accepts_each_rule() -> None:
    snippets = policy_json_schema()["properties"]["rules"]["items"]["defaultSnippets"]
    filled = json.loads(re.sub(r"\$\{\d+:([^}]*)\}", r"\1", json.dumps([s["body"] for s in snippets])))

    policy = PolicyFile.model_validate({"rules": filled})

    assert [rule.type for rule in policy.rules] == [s["body"]["type"] for s in snippets]


def test_properties_when_generated_then_every_one_has_a_description_for_hover() -> None:
    schema = policy_json_schema()
    missing = [
        f"{path}/{name}"
        for path, node in walk(schema)
        if isinstance(node.get("properties"), dict) and not path.endswith("/if")
        for name, prop in node["properties"].items()
        if "/if/" not in path and "description" not in prop
    ]

    assert missing == []


def test_tables_when_generated_then_keys_outside_the_pattern_are_refused() -> None:
    tables = [node for _, node in walk(policy_json_schema()) if "patternProperties" in node]

    assert len(tables) >= 5  # accounts and the four `symbols` tables
    assert all(node["additionalProperties"] is False for node in tables)


def test_decimals_when_generated_then_number_or_positive_decimal_text() -> None:
    schema = policy_json_schema()
    decimals = [node for _, node in walk(schema) if node.get("anyOf") and {"type": "number", "exclusiveMinimum": 0}
                in node["anyOf"]]

    # max_leverage, max_order_qty, max_order_notional: default + symbols; max_position: qty and notional;
    # price_collar: max_deviation_pct + symbols
    assert len(decimals) == 13
    assert all(node["anyOf"][1] == {"type": "string", "pattern": POSITIVE_DECIMAL_TEXT} for node in decimals)


# ---- the patterns match the loader ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("0.5", True), ("5", True), ("+5", True), ("1e3", True), ("1E-3", True), ("1.5e+2", True), (".5", True),
        ("5.", True), ("00.1", True), ("1_000", True), ("1_000.000_1", True), (" 7 ", True),
        ("-5", False), ("0", False), ("0.0", False), ("0e5", False), ("-0.1", False), ("ten", False), ("", False),
        ("1e", False), ("Infinity", False), ("NaN", False), ("0x10", False), ("1,5", False), ("١", False),
        ("1__0", False), ("_1", False),
    ],
)
def test_positive_decimal_pattern_when_matched_then_agrees_with_intent(text: str, accepted: bool) -> None:
    assert (re.fullmatch(POSITIVE_DECIMAL_TEXT, text) is not None) is accepted
    if accepted:
        assert loader_accepts_decimal(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789._eE+- ", max_size=9))
def test_positive_decimal_pattern_when_it_accepts_text_then_the_loader_does_too(text: str) -> None:
    if re.fullmatch(POSITIVE_DECIMAL_TEXT, text):
        assert loader_accepts_decimal(text)
        assert Decimal(text.replace("_", "")) > 0


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789/ msh", max_size=8))
def test_rate_pattern_when_matched_then_agrees_with_parse_rate(text: str) -> None:
    assert (re.fullmatch(RATE_TEXT, text) is not None) is loader_accepts_rate(text)


@pytest.mark.parametrize("text", ["10/1s", "300/10s", "1200/1m", "5/500ms", "10/s", " 1 / 1 h ", "010/01s"])
def test_rate_pattern_when_written_as_documented_then_matches(text: str) -> None:
    assert re.fullmatch(RATE_TEXT, text)
    assert loader_accepts_rate(text)


def loader_accepts_window(text: str) -> bool:
    try:
        parse_window(text)
    except ValueError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(alphabet="0123456789 msh", max_size=9),
                 st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 4_000_000),
                           st.sampled_from(["ms", "s", "m", "h"]))))
def test_window_pattern_when_matched_then_agrees_with_parse_window(text: str) -> None:
    assert (re.fullmatch(WINDOW_TEXT, text) is not None) is loader_accepts_window(text)


@pytest.mark.parametrize(("text", "accepted"), [
    ("1s", True), ("500ms", True), (" 2 s ", True), ("3600000ms", True), ("3600s", True), ("60m", True),
    ("1h", True), ("3600001ms", False), ("3601s", False), ("61m", False), ("2h", False), ("0s", False), ("2", False),
])
def test_window_pattern_when_at_the_bounds_then_agrees_with_the_loader(text: str, accepted: bool) -> None:
    assert (re.fullmatch(WINDOW_TEXT, text) is not None) is accepted is loader_accepts_window(text)


# ---- validating policies (needs jsonschema) -------------------------------------------------------------


def test_shipped_policies_when_validated_against_the_schema_then_valid(validator: Any) -> None:
    files = policy_files(SHIPPED_POLICIES)  # what the loader reads; policies/tests/ holds test files
    assert files

    for file in files:
        document = yaml.safe_load(file.read_text())
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == [], file


@pytest.mark.parametrize(
    "fixture",
    [
        "allowed_symbols_without_allow_or_deny.yaml",  # the loader's cross-field check: not expressed
        "bad_symbol_pattern.yaml",
        "bad_symbol_pattern_as_key.yaml",
        "max_daily_notional_bad_values.yaml",
        "max_gross_exposure_bad_values.yaml",
        "max_position_without_qty_or_notional.yaml",  # cross-field: not expressed
        "non_positive_limit.yaml",
        "rate_does_not_parse.yaml",
        "unknown_rule_key.yaml",
        "unknown_rule_type.yaml",
        "unknown_top_level_key.yaml",
        "unknown_venue_in_scope.yaml",
        "wrong_type_string_for_number.yaml",
    ],
)
def test_invalid_policy_when_validated_against_the_schema_then_refused_where_json_schema_can_say_so(
    validator: Any, fixture: str
) -> None:
    document = yaml.safe_load((INVALID / fixture).read_text())
    cross_field = {"allowed_symbols_without_allow_or_deny.yaml", "max_position_without_qty_or_notional.yaml"}

    errors = list(validator.iter_errors(document))

    assert (errors == []) is (fixture in cross_field)
