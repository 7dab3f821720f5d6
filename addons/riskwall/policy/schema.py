"""JSON Schema for policy files, generated from the model the loader validates with (`policy.model.PolicyFile`).

The schema is never written by hand: `policy_json_schema()` asks pydantic for `PolicyFile`'s schema and then
adjusts it for editors, so a key the loader learns appears here the moment the model has it. The generated
schema ships in the package as `riskwall-policy.schema.json` (a test fails when the shipped file and the model
drift apart; regenerate with `python -m riskwall.policy.schema --write`) and `riskwall policy schema` prints it.

Editors: yaml-language-server (VS Code's YAML extension, Neovim, Helix, JetBrains via LSP) picks it up from a
modeline on the first line of a policy file, or from the `yaml.schemas` setting:

    # yaml-language-server: $schema=../riskwall-policy.schema.json
    version: 1
    rules: ...

What the post-processing does, and why:

- **Draft 7.** yaml-language-server validates with JSON Schema draft 7 and warns on 2020-12 schemas, so the
  schema declares draft 7 and keeps its definitions under `definitions` (pydantic writes `$defs`). Every
  keyword used (`const`, `if`/`then`, `patternProperties`, numeric `exclusiveMinimum`) is draft 7.
- **Exact decimals.** The loader reads a limit from a YAML number or from a string such as `"0.5"` or `"1e3"`
  (pydantic's lax `Decimal`); pydantic's own schema would accept *any* string. Here a decimal field is
  `number > 0` or a string matching `POSITIVE_DECIMAL_TEXT` (plain or exponent notation, `_` digit grouping),
  so `default: ten` and `default: "-1"` are flagged in the editor exactly as the loader refuses them. The
  pattern is ASCII-only and allows `_` only between digits: a little stricter than Python's `Decimal()`,
  never looser.
- **Rule types.** pydantic writes the rule union as `oneOf` with an OpenAPI `discriminator`, which
  yaml-language-server ignores: it then reports "matches no schema" for a typo in any rule and completes the
  keys of all eight rule types at once. Here a rule is an object whose `type` is an enum (completed with a
  description of each type) and an `if type == X then <X's definition>` per type, so completion offers the
  keys of the chosen type only and an error names the offending key. `defaultSnippets` (a VS Code extension
  keyword yaml-language-server honours) offer a skeleton per rule type.
- **Rates and windows.** `order_rate` limits and the `duplicate_orders` window carry patterns that accept
  exactly what the loader parses (`RATE_TEXT`, `WINDOW_TEXT`: a window from 1ms to 1h).
- **Tables.** `accounts` and `symbols` tables reject keys that do not match their pattern
  (`additionalProperties: false`), as the loader does.
- **Descriptions.** Every property has one (hover text); those the model does not carry come from
  `_DESCRIPTIONS` below, and generation fails if that table names a property the model no longer has.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from riskwall.model import MarginMode, TradingState, Venue
from riskwall.policy.model import Mode, OnPriceUnknown, PolicyFile, PolicyMode, RateKey

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
SCHEMA_ID = "urn:riskwall:policy:v1"
SCHEMA_FILE = "riskwall-policy.schema.json"

# ASCII digits with optional single `_` between them (PEP 515 grouping)
_DIGITS = r"[0-9](?:_?[0-9])*"
_MANTISSA = rf"(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})"
_EXPONENT = rf"(?:[eE][+-]?{_DIGITS})?"
# a decimal > 0 written as text: the look-ahead demands a non-zero digit before any exponent
POSITIVE_DECIMAL_TEXT = rf"^\s*\+?(?=[0-9_.]*[1-9]){_MANTISSA}{_EXPONENT}\s*$"
DECIMAL_TEXT = rf"^\s*[+-]?{_MANTISSA}{_EXPONENT}\s*$"
# what policy.model.parse_rate accepts: COUNT/WINDOW with a count and a window of at least 1 (`10/s` = 10/1s)
RATE_TEXT = r"^\s*0*[1-9][0-9]*\s*/\s*(?:0*[1-9][0-9]*)?\s*(?:ms|s|m|h)\s*$"
# what policy.model.parse_window accepts: an amount and a unit from 1ms to 1h
WINDOW_TEXT = (r"^\s*0*(?:(?:[1-9][0-9]{0,5}|[1-2][0-9]{6}|3[0-5][0-9]{5}|3600000)\s*ms"
               r"|(?:[1-9][0-9]{0,2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|3600)\s*s|(?:[1-9]|[1-5][0-9]|60)\s*m|1\s*h)\s*$")

# what policy.model.parse_cool_down accepts: an amount and a unit from 1s to 24h
COOL_DOWN_TEXT = (r"^\s*0*(?:(?:[1-9][0-9]{3,6}|[1-7][0-9]{7}|8[0-5][0-9]{6}|86[0-3][0-9]{5}|86400000)\s*ms"
                  r"|(?:[1-9][0-9]{0,3}|[1-7][0-9]{4}|8[0-5][0-9]{3}|86[0-3][0-9]{2}|86400)\s*s"
                  r"|(?:[1-9][0-9]{0,2}|1[0-3][0-9]{2}|14[0-3][0-9]|1440)\s*m|(?:[1-9]|1[0-9]|2[0-4])\s*h)\s*$")

_RULE_DESCRIPTIONS: dict[str, str] = {
    "allowed_symbols": "Which symbols may be traded (SYMBOL_NOT_ALLOWED).",
    "order_types": "Which order types may be sent (ORDER_TYPE_NOT_ALLOWED).",
    "max_leverage": "Highest leverage a set-leverage request may ask for (LEVERAGE_EXCEEDS_MAX).",
    "max_order_qty": "Largest single order in base units (ORDER_QTY_EXCEEDS_MAX).",
    "max_order_notional": "Largest single order in the quote currency (ORDER_NOTIONAL_EXCEEDS_MAX, PRICE_UNKNOWN).",
    "max_position": "Largest worst-case position per symbol and side (POSITION_EXCEEDS_MAX, PRICE_UNKNOWN).",
    "order_rate": "Sliding-window budget of admitted orders (ORDER_RATE_EXCEEDED).",
    "trading_state": "A standing trading state: REDUCING or HALTED (TRADING_REDUCING, TRADING_HALTED).",
    "price_collar": "How far a limit or trigger price may lie through the mark price (PRICE_OUTSIDE_COLLAR, "
                    "PRICE_UNKNOWN).",
    "margin_mode": "Which margin modes and position modes may be switched to (MARGIN_MODE_NOT_ALLOWED).",
    "duplicate_orders": "A new order identical to one admitted within the window: a bot in a loop (DUPLICATE_ORDER).",
    "max_open_orders": "Most open (resting) orders per symbol and per account, orders admitted but not yet answered "
                       "included, fleet-wide (OPEN_ORDERS_EXCEED_MAX).",
    "reject_storm": "After the venue refused N of an account's orders in a window, the account goes REDUCING or "
                    "HALTED for a cool-down, fleet-wide (TRADING_REDUCING, TRADING_HALTED).",
    "max_daily_loss": "Once the account's equity fell more than N below the day's first (UTC), the account goes "
                      "REDUCING or HALTED until the next UTC day, fleet-wide (TRADING_REDUCING, TRADING_HALTED).",
    "max_gross_exposure": "The account's gross exposure: Σ |worst-case position| × mark price over every symbol, "
                          "fleet-wide (GROSS_EXPOSURE_EXCEEDS_MAX, PRICE_UNKNOWN).",
    "max_daily_notional": "Notional an account (or each symbol) may trade in a UTC day, orders filled plus still "
                          "open, fleet-wide (DAILY_NOTIONAL_EXCEEDS_MAX, PRICE_UNKNOWN).",
}

# a skeleton per rule type, offered as a completion snippet; every one is a valid rule once filled in
_RULE_SNIPPETS: dict[str, dict[str, Any]] = {
    "allowed_symbols": {"id": "${1:symbols}", "type": "allowed_symbols", "allow": ["${2:BTCUSDT}"]},
    "order_types": {"id": "${1:order-types}", "type": "order_types", "allow": ["${2:LIMIT}"]},
    "max_leverage": {"id": "${1:leverage}", "type": "max_leverage", "default": "${2:5}"},
    "max_order_qty": {"id": "${1:order-qty}", "type": "max_order_qty", "default": "${2:1}"},
    "max_order_notional": {"id": "${1:order-notional}", "type": "max_order_notional", "default": "${2:25000}"},
    "max_position": {"id": "${1:position}", "type": "max_position", "default": {"notional": "${2:50000}"}},
    "order_rate": {"id": "${1:order-rate}", "type": "order_rate", "limits": ["${2:10/1s}"]},
    "trading_state": {"id": "${1:standing-state}", "type": "trading_state", "state": "${2:REDUCING}"},
    "price_collar": {"id": "${1:price-collar}", "type": "price_collar", "max_deviation_pct": "${2:5}"},
    "margin_mode": {"id": "${1:margin-mode}", "type": "margin_mode", "allow": ["${2:ISOLATED}"],
                    "allow_hedge": False},
    "duplicate_orders": {"id": "${1:duplicates}", "type": "duplicate_orders", "window": "${2:2s}"},
    "max_open_orders": {"id": "${1:open-orders}", "type": "max_open_orders", "per_symbol": 50, "per_account": 200},
    "reject_storm": {"id": "${1:reject-storm}", "type": "reject_storm", "limit": "${2:20/1m}",
                     "cool_down": "${3:5m}", "state": "${4:REDUCING}"},
    "max_daily_loss": {"id": "${1:daily-loss}", "type": "max_daily_loss", "quote": "${2:5000}",
                       "state": "${3:REDUCING}"},
    "max_gross_exposure": {"id": "${1:gross-exposure}", "type": "max_gross_exposure", "notional": "${2:250000}"},
    "max_daily_notional": {"id": "${1:daily-notional}", "type": "max_daily_notional", "notional": "${2:1000000}",
                           "per": "${3:account}"},
}

_ENUM_DESCRIPTIONS: dict[type[StrEnum], dict[str, str]] = {
    PolicyMode: {
        "enforce": "Block what the rules forbid.",
        "monitor": "Log would_block and forward everything: the way to roll out a new policy.",
    },
    Mode: {
        "enforce": "This rule blocks (unless the policy is in monitor mode).",
        "shadow": "Evaluate and log would_block, never block: the way to try a new limit.",
    },
    OnPriceUnknown: {
        "block": "Block with PRICE_UNKNOWN when no price is known for the symbol.",
        "allow": "Skip the check when no price is known.",
    },
    RateKey: {
        "account": "One budget per account.",
        "symbol": "One budget per account and symbol.",
    },
    TradingState: {
        "ACTIVE": "Trade freely.",
        "REDUCING": "Admit only orders that shrink an existing position; no leverage or margin changes.",
        "HALTED": "Admit only cancels.",
    },
    Venue: {venue.value: f"ccxt exchange id {venue.value}" for venue in Venue},
    MarginMode: {
        "ISOLATED": "Isolated margin: each position has its own margin.",
        "CROSSED": "Cross margin: positions share the account's margin (OKX cross, Bybit REGULAR_MARGIN).",
        "PORTFOLIO": "Portfolio margin (Bybit PORTFOLIO_MARGIN): cross margin over the whole portfolio.",
    },
}

# hover text for properties the model itself does not describe: definition name → property → text
_RULE_COMMON = {
    "id": "Unique rule id across all policy files; logged and sent back in the X-Riskwall-Rule header.",
    "type": "The rule type.",
    "mode": "enforce (default) or shadow: a shadow rule logs would_block and never blocks.",
    "scope": "Where the rule applies; an empty or missing list means everywhere.",
    "description": "Free text for people reading the policy.",
}
_SYMBOL_LIMITS = "Per-symbol limits: an exact symbol beats a glob, and the first matching glob wins."
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "PolicyFile": {
        "version": "Policy format version; always 1.",
        "mode": "enforce (default) or monitor; every file of a folder must agree.",
        "accounts": "Labels for API keys, by fingerprint (riskwall fingerprint < keyfile).",
        "rules": "The rules; every rule whose scope matches applies.",
    },
    "AccountSpec": {
        "fingerprints": "12-hex-digit API-key fingerprints (riskwall fingerprint < keyfile).",
        "venue": "Restrict the label to one venue (ccxt id).",
    },
    "Scope": {"venues": "Venue ids (ccxt), e.g. binanceusdm."},
    "AllowedSymbols": {
        **_RULE_COMMON,
        "allow": "Symbols (globs) that may be traded; omitted means any.",
        "deny": "Symbols (globs) that may never be traded; deny wins over allow.",
    },
    "OrderTypes": {**_RULE_COMMON, "allow": "Venue order types that may be sent (LIMIT, MARKET, STOP_MARKET, ...)."},
    "MaxLeverage": {
        **_RULE_COMMON,
        "default": "Highest leverage where no symbol entry matches.",
        "symbols": _SYMBOL_LIMITS,
    },
    "MaxOrderQty": {
        **_RULE_COMMON,
        "default": "Largest order in base units where no symbol entry matches.",
        "symbols": _SYMBOL_LIMITS,
    },
    "MaxOrderNotional": {
        **_RULE_COMMON,
        "default": "Largest order notional (quote currency) where no symbol entry matches.",
        "symbols": _SYMBOL_LIMITS,
        "on_price_unknown": "block (default): PRICE_UNKNOWN when no price is known; allow: skip the check.",
    },
    "MaxPosition": {
        **_RULE_COMMON,
        "default": "Position limit where no symbol entry matches: qty (base units), notional (quote), or both.",
        "symbols": _SYMBOL_LIMITS,
        "on_price_unknown": "block (default): PRICE_UNKNOWN when a notional limit has no price; allow: skip it.",
    },
    "OrderRate": {
        **_RULE_COMMON,
        "limits": "Windows as COUNT/WINDOW, e.g. 10/1s, 300/10s, 1200/1m; every window must hold.",
        "per": "account (default): one budget per account; symbol: one per account and symbol.",
    },
    "TradingStateRule": {**_RULE_COMMON, "state": "ACTIVE, REDUCING (only shrink positions) or HALTED (only cancels)."},
    "PriceCollar": {
        **_RULE_COMMON,
        "symbols": "Per-symbol percentages: an exact symbol beats a glob, and the first matching glob wins.",
        "on_price_unknown": "block (default): PRICE_UNKNOWN when no mark or last price is known; allow: skip it.",
    },
    "MarginModeRule": {**_RULE_COMMON},
    "RejectStorm": {
        **_RULE_COMMON,
        "scope": "Where the rule applies: venues and accounts only (a storm is an account's).",
    },
    "MaxDailyLoss": {
        **_RULE_COMMON,
        "scope": "Where the rule applies: venues and accounts only (a daily loss is an account's).",
        "quote": "The loss below the first equity seen this UTC day that trips the rule, in the equity's currency "
                 "(USD or USDT): Binance the settlement assets' marginBalance summed, Bybit totalEquity, OKX totalEq.",
        "on_equity_unknown": "No equity seen yet this UTC day: block (default) orders that add risk with "
                             "EQUITY_UNKNOWN until the bot reads its balance through the sidecar, or allow them.",
    },
    "MaxGrossExposure": {
        **_RULE_COMMON,
        "scope": "Where the rule applies: venues and accounts only (gross exposure is an account's).",
        "notional": "The most the account's positions may be worth together, each at its worst case (pending "
                    "orders filled) × the mark price, in the quote currency.",
        "per": "account (default): the account's positions on every venue it trades (a label without a venue "
               "spans them all); venue: only on the order's venue.",
        "on_price_unknown": "A position in a symbol with no price seen: block (default) or skip the check.",
    },
    "MaxDailyNotional": {
        **_RULE_COMMON,
        "notional": "The quote-currency notional a UTC day may hold: every admitted order's quantity × price, filled "
                    "or still open; what an order leaves unfilled when it ends is given back.",
        "per": "account (default): one budget for the account's symbols together; symbol: one budget per symbol.",
        "on_price_unknown": "A market order with no mark price seen: block (default) or allow uncharged.",
    },
    "MaxOpenOrders": {
        **_RULE_COMMON,
        "per_symbol": "Most open orders on one symbol (resting, conditional and not yet answered ones; a batch "
                      "counts each leg).",
        "per_account": "Most open orders on the account, every symbol together.",
    },
    "DuplicateOrders": {
        **_RULE_COMMON,
        "window": "How long an admitted order blocks an identical one (same symbol, side, position side, type, "
                  "quantity, limit and trigger price): 500ms, 2s, 1m; at most 1h.",
    },
}
# the venues' order type names, offered as completions for order_types.allow (any name is accepted)
_ORDER_TYPE_EXAMPLES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                        "TRAILING_STOP_MARKET"]


class SchemaDrift(RuntimeError):
    """The post-processing no longer fits the model (a described property or a rule type disappeared)."""


class _PolicySchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, with decimals as `number > 0 | positive decimal text` instead of `number | string`."""

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        number: dict[str, Any] = {"type": "number"}
        text = DECIMAL_TEXT
        gt, ge = schema.get("gt"), schema.get("ge")
        if gt is not None:
            number["exclusiveMinimum"] = _json_number(gt)
            if Decimal(str(gt)) == 0:
                text = POSITIVE_DECIMAL_TEXT
        if ge is not None:
            number["minimum"] = _json_number(ge)
        if schema.get("lt") is not None or schema.get("le") is not None or schema.get("multiple_of") is not None:
            raise SchemaDrift("a decimal field gained an upper bound or step: teach policy.schema to express it")
        if ge is not None or (gt is not None and Decimal(str(gt)) != 0):
            raise SchemaDrift("a decimal field has a lower bound other than > 0: teach policy.schema to express it")
        return {"anyOf": [number, {"type": "string", "pattern": text}]}


def policy_json_schema() -> dict[str, Any]:
    """The policy file's JSON Schema (draft 7), ready for yaml-language-server and any JSON Schema validator."""
    raw = PolicyFile.model_json_schema(ref_template="#/definitions/{model}", schema_generator=_PolicySchemaGenerator)
    definitions: dict[str, Any] = raw.pop("$defs")
    root: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        "title": "riskwall policy",
        "description": (
            "A riskwall policy file. A folder of policy files is merged: rules concatenate, rule ids are unique "
            "across files, and mode and account labels must agree. Numbers are exact decimals; quantities are "
            "in base units, notionals in the quote currency. Reference: README.md, 'Policy reference'."
        ),
    }
    for key, value in raw.items():
        if key not in ("title", "description"):
            root[key] = value
    root["definitions"] = definitions

    _rules_as_if_then(root, definitions)
    _walk(root, _close_pattern_tables)
    _walk(root, _drop_property_titles)
    _rate_patterns(definitions)
    _window_pattern(definitions)
    _storm_patterns(definitions)
    _order_type_examples(definitions)
    _enum_descriptions(definitions)
    _describe(root, definitions)
    return root


def schema_text() -> str:
    """The schema as shipped: stable key order, two-space indent, trailing newline."""
    return json.dumps(policy_json_schema(), indent=2, ensure_ascii=False) + "\n"


def shipped_schema_path() -> Path:
    """The schema file in the installed package (package data; see pyproject's [tool.setuptools.package-data])."""
    return Path(str(resources.files("riskwall.policy").joinpath(SCHEMA_FILE)))


def write_schema(path: Path | None = None) -> Path:
    target = path or shipped_schema_path()
    target.write_text(schema_text(), encoding="utf-8")
    return target


# ---- post-processing ------------------------------------------------------------------------------------


def _rules_as_if_then(root: dict[str, Any], definitions: dict[str, Any]) -> None:
    items = root["properties"]["rules"]["items"]
    mapping: dict[str, str] = items.get("discriminator", {}).get("mapping", {})
    if not mapping or set(mapping) != set(_RULE_DESCRIPTIONS) or set(mapping) != set(_RULE_SNIPPETS):
        raise SchemaDrift(f"rule types changed: model has {sorted(mapping)}; update policy/schema.py's tables")
    types = sorted(mapping)
    root["properties"]["rules"]["items"] = {
        "type": "object",
        "title": "Rule",
        "description": "A rule: an id, a type and that type's keys; an optional mode and scope.",
        "required": ["id", "type"],
        "properties": {
            "type": {
                "description": "The rule type; it decides which other keys the rule takes.",
                "enum": types,
                "enumDescriptions": [_RULE_DESCRIPTIONS[t] for t in types],
                "markdownEnumDescriptions": [_RULE_DESCRIPTIONS[t] for t in types],
            },
        },
        "allOf": [
            {"if": {"properties": {"type": {"const": t}}, "required": ["type"]}, "then": {"$ref": mapping[t]}}
            for t in types
        ],
        "defaultSnippets": [
            {"label": f"rule: {t}", "description": _RULE_DESCRIPTIONS[t], "body": _RULE_SNIPPETS[t]} for t in types
        ],
    }
    for ref in mapping.values():
        name = ref.rsplit("/", 1)[1]
        rule_type = definitions[name]["properties"]["type"]
        rule_type.pop("title", None)


def _close_pattern_tables(node: dict[str, Any]) -> None:
    if "patternProperties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False


def _drop_property_titles(node: dict[str, Any]) -> None:
    # pydantic titles every property with its capitalised name ("Fingerprints"); hovers show the key already
    properties = node.get("properties")
    if isinstance(properties, dict):
        for value in properties.values():
            if isinstance(value, dict):
                value.pop("title", None)


def _rate_patterns(definitions: dict[str, Any]) -> None:
    items = _property(definitions, "OrderRate", "limits")["items"]
    items["pattern"] = RATE_TEXT
    items["examples"] = ["10/1s", "300/10s", "1200/1m"]


def _window_pattern(definitions: dict[str, Any]) -> None:
    window = _property(definitions, "DuplicateOrders", "window")
    window["pattern"] = WINDOW_TEXT
    window["examples"] = ["1s", "2s", "500ms"]


def _storm_patterns(definitions: dict[str, Any]) -> None:
    limit = _property(definitions, "RejectStorm", "limit")
    limit["pattern"] = RATE_TEXT
    limit["examples"] = ["20/1m", "50/5m"]
    cool_down = _property(definitions, "RejectStorm", "cool_down")
    cool_down["pattern"] = COOL_DOWN_TEXT
    cool_down["examples"] = ["5m", "30s", "1h"]


def _order_type_examples(definitions: dict[str, Any]) -> None:
    _property(definitions, "OrderTypes", "allow")["items"]["examples"] = _ORDER_TYPE_EXAMPLES


def _enum_descriptions(definitions: dict[str, Any]) -> None:
    for enum, texts in _ENUM_DESCRIPTIONS.items():
        node = definitions.get(enum.__name__)
        if node is None:
            continue  # the model stopped using this enum; nothing to describe
        values = [member.value for member in enum]
        if node.get("enum") != values or set(texts) != set(values):
            raise SchemaDrift(f"{enum.__name__}: members changed; update policy/schema.py's enum descriptions")
        node["enumDescriptions"] = [texts[v] for v in values]


def _describe(root: dict[str, Any], definitions: dict[str, Any]) -> None:
    # the top level is PolicyFile itself, not one of its definitions
    scopes = {**definitions, PolicyFile.__name__: root}
    for name, texts in _DESCRIPTIONS.items():
        for key, text in texts.items():
            _property(scopes, name, key).setdefault("description", text)


def _property(definitions: dict[str, Any], name: str, key: str) -> dict[str, Any]:
    try:
        node: dict[str, Any] = definitions[name]["properties"][key]
    except KeyError:
        raise SchemaDrift(f"{name}.{key} is not in the model any more; update policy/schema.py") from None
    return node


def _walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _json_number(value: object) -> int | float:
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else float(number)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`riskwall policy schema [--output PATH]`."""
    parser.add_argument("--output", metavar="PATH", default=None,
                        help="write the schema to PATH instead of printing it")


def main(args: argparse.Namespace) -> int:
    if args.output:
        write_schema(Path(args.output))
    else:
        sys.stdout.write(schema_text())
    return 0


def _module_main(argv: list[str] | None = None) -> int:
    """`python -m riskwall.policy.schema [--output PATH | --write]`; --write regenerates the shipped file."""
    parser = argparse.ArgumentParser(prog="python -m riskwall.policy.schema",
                                     description="Print the policy JSON Schema, or write it to a file.")
    add_arguments(parser)
    parser.add_argument("--write", action="store_true", help=f"rewrite the packaged {SCHEMA_FILE}")
    args = parser.parse_args(argv)
    if args.write:
        print(f"wrote {write_schema()}", file=sys.stderr)
        return 0
    return main(args)


if __name__ == "__main__":
    sys.exit(_module_main())
