"""examples/grafana/riskwall.json, checked offline: no Grafana and no Prometheus needed.

- structure: the JSON Grafana imports (unique panel ids, gridPos inside the 24-column grid and not
  overlapping, targets with refId and expr, a current schemaVersion);
- data source: every reference is the `${datasource}` variable, none is a hard-coded uid;
- variables: `datasource`, `job`, `instance`, `venue`, `account` from label values; every variable an
  expression uses is defined, multi-valued ones are matched with `=~`, and every selector of a metric that
  has a `venue`/`account` label filters on it;
- metrics: every PromQL expression is parsed (a small PromQL parser below) and every metric name, every label
  in a selector, `by`/`without`/`on` and `histogram_quantile` must exist on what riskwall exports, as
  read from `riskwall.metrics`' own registry after calling every metric function; label values of closed
  sets (verdict, reason, action, venue, kind, state, result) must be ones the code can emit;
- coverage: every riskwall_* metric family in that registry has a panel;
- promtool (when installed): every expression, written as a recording rule, passes `promtool check rules`.

The checks are functions returning the problems they find; the tests at the end feed each one a broken copy
of the dashboard and assert that it notices.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from riskwall import metrics
from riskwall.model import Action, Reason, Venue

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "examples" / "grafana" / "riskwall.json"
VENV_BIN = Path(sys.executable).parent

DS_REF = {"type": "prometheus", "uid": "${datasource}"}
BUILTIN_ANNOTATION_DS = {"type": "grafana", "uid": "-- Grafana --"}
MIN_SCHEMA_VERSION = 39  # Grafana 11.0; 42 is the last version of the classic JSON model
GRID_COLUMNS = 24
# labels Prometheus attaches to every scraped series (scrape job and target), not riskwall's own
TARGET_LABELS = frozenset({"job", "instance"})
# series Prometheus itself writes per scrape target: the dashboard may show whether a sidecar answers
PROMETHEUS_SERIES = {"up": frozenset[str]()}
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__range": "1h", "__interval": "1m"}
REQUIRED_VARIABLES = ("datasource", "job", "instance", "venue", "account")
VARIABLE_REF = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(VENV_BIN))


def load_dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


# ---- what riskwall exports, read from its code ------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    labels: dict[str, frozenset[str]]  # sample name (riskwall_decisions_total, ..._bucket) → its label names
    family_of: dict[str, str]  # sample name → family name in the registry
    families: frozenset[str]  # every family the registry holds, sampled or not
    closed_values: dict[str, frozenset[str]]  # label name → every value the code can give it


def exercise_every_metric() -> None:
    metrics.policy_loaded("5f7d0969a702", ["order-qty", "order-rate"])
    metrics.policy_reload(False, "5f7d0969a702")
    metrics.proxied("binanceusdm")
    metrics.egress_refused()
    metrics.decision("binanceusdm", "new", "allow", None, None, 0.0004)
    metrics.decision("binanceusdm", "new", "block", "order-qty", "ORDER_QTY_EXCEEDS_MAX", 0.0007)
    metrics.store_error("timeout")
    metrics.breaker_state(True)
    metrics.limit_usage("order-rate", "binanceusdm", "0123456789ab", 0.85)
    metrics.trading_states([("global", "HALTED"), ("venue=binanceusdm,account=0123456789ab", "REDUCING")])
    metrics.reject_storm("order-qty", "binanceusdm", "REDUCING", True)
    metrics.daily_loss("order-qty", "binanceusdm", "REDUCING", True)


@cache
def exported() -> Exported:
    try:
        fresh = metrics.reset(process_collectors=True)
        families = frozenset(f.name for f in fresh.registry.collect())
        initialised: dict[str, set[str]] = {}
        for family in fresh.registry.collect():
            for sample in family.samples:
                for label, value in sample.labels.items():
                    initialised.setdefault(f"{sample.name}/{label}", set()).add(value)
        exercise_every_metric()
        labels: dict[str, set[str]] = {}
        family_of: dict[str, str] = {}
        for family in metrics.current().registry.collect():
            for sample in family.samples:
                labels.setdefault(sample.name, set()).update(sample.labels)
                family_of[sample.name] = family.name
    finally:
        metrics.reset()
    closed = {
        "venue": frozenset(v.value for v in Venue) | {metrics.NONE, metrics.OTHER},
        "action": frozenset(a.value for a in Action) | {metrics.NONE, metrics.OTHER},
        "verdict": metrics.VERDICTS | {metrics.OTHER},
        "reason": frozenset(r.value for r in Reason) | {metrics.NONE, metrics.OTHER},
        "kind": frozenset(metrics.STORE_ERROR_KINDS),
        "state": frozenset(metrics._STATES) | {metrics.OTHER},
        # the counter is created with every result it can count
        "result": frozenset(initialised["riskwall_policy_reloads_total/result"]),
    }
    return Exported({k: frozenset(v) for k, v in labels.items()}, family_of, families, closed)


# ---- a small PromQL parser: enough to know which metric and label each part of an expression uses ---------

TOKEN = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![\w.]))
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^=<>(){}\[\],:@])
""", re.VERBOSE)
PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3,
              "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5, "^": 6}
SET_OPS = {"and", "or", "unless"}
AGGREGATIONS = {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
                "count_values", "limitk", "limit_ratio"}
AGGREGATIONS_WITH_PARAM = {"topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"}
RANGE_FUNCTIONS = {"rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets", "avg_over_time",
                   "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "last_over_time",
                   "present_over_time", "stddev_over_time", "stdvar_over_time"}
ELEMENTWISE_FUNCTIONS = {"abs", "ceil", "floor", "round", "sqrt", "exp", "ln", "log2", "log10", "clamp",
                         "clamp_min", "clamp_max", "sort", "sort_desc", "timestamp"}


class PromQLSyntaxError(ValueError):
    pass


@dataclass
class Selector:
    name: str | None
    matchers: list[tuple[str, str, str]]  # (label, op, value without quotes)
    range: str | None = None


@dataclass
class Call:
    func: str
    args: list[Node]


@dataclass
class Aggregation:
    op: str
    grouping: list[str] | None  # None: no by/without clause
    without: bool
    param: Node | None
    expr: Node


@dataclass
class Binary:
    op: str
    lhs: Node
    rhs: Node
    on: list[str] | None = None
    ignoring: list[str] | None = None
    group: tuple[str, list[str]] | None = None  # ("left" | "right", extra labels)


@dataclass
class Literal:
    kind: str  # "scalar" | "string"
    value: str


@dataclass
class Subquery:
    expr: Node
    range: str


Node = Selector | Call | Aggregation | Binary | Literal | Subquery


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = TOKEN.match(text, pos)
            if m is None:
                raise PromQLSyntaxError(f"unexpected character {text[pos]!r} at {pos}")
            pos = m.end()
            kind = m.lastgroup or ""
            if kind != "ws":
                self.tokens.append((kind, m.group()))
        self.i = 0

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        tok_kind, tok = self.peek()
        if (value is not None and tok != value) or (kind is not None and tok_kind != kind) or tok_kind == "eof":
            raise PromQLSyntaxError(f"expected {value or kind}, found {tok or 'end of expression'!r}")
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.expr(1)
        if self.peek()[0] != "eof":
            raise PromQLSyntaxError(f"unexpected {self.peek()[1]!r} after a complete expression")
        return node

    def binary_op(self) -> str | None:
        kind, tok = self.peek()
        if (kind == "op" or kind == "ident") and tok in PRECEDENCE:
            return tok
        return None

    def expr(self, min_prec: int) -> Node:
        lhs = self.unary()
        while (op := self.binary_op()) is not None and PRECEDENCE[op] >= min_prec:
            self.take()
            node = Binary(op, lhs, lhs)
            if self.peek()[1] == "bool":
                self.take()
            if self.peek()[1] in ("on", "ignoring"):
                keyword = self.take()
                labels = self.label_list()
                if keyword == "on":
                    node.on = labels
                else:
                    node.ignoring = labels
            if self.peek()[1] in ("group_left", "group_right"):
                side = self.take().removeprefix("group_")
                node.group = (side, self.label_list() if self.peek()[1] == "(" else [])
            node.rhs = self.expr(PRECEDENCE[op] if op == "^" else PRECEDENCE[op] + 1)  # ^ is right-associative
            lhs = node
        return lhs

    def label_list(self) -> list[str]:
        self.take("(")
        labels: list[str] = []
        while self.peek()[1] != ")":
            labels.append(self.take(kind="ident"))
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return labels

    def unary(self) -> Node:
        if self.peek()[1] in ("-", "+"):
            op = self.take()
            return Binary("*", Literal("scalar", f"{op}1"), self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()[1]
            if tok == "[":
                self.take("[")
                duration = self.take(kind="duration")
                if self.peek()[1] == ":":
                    self.take(":")
                    if self.peek()[0] == "duration":
                        self.take()
                    self.take("]")
                    node = Subquery(node, duration)
                else:
                    self.take("]")
                    if not isinstance(node, Selector) or node.range is not None:
                        raise PromQLSyntaxError("a range [d] applies to a plain selector only")
                    node.range = duration
            elif tok == "offset":
                self.take()
                if self.peek()[1] == "-":
                    self.take()
                self.take(kind="duration")
            elif tok == "@":
                self.take()
                if self.peek()[0] == "number":
                    self.take()
                else:
                    self.take(kind="ident")
                    self.take("(")
                    self.take(")")
            else:
                return node

    def primary(self) -> Node:
        kind, tok = self.peek()
        if kind == "number":
            return Literal("scalar", self.take())
        if kind == "string":
            return Literal("string", self.take()[1:-1])
        if tok == "(":
            self.take("(")
            inner = self.expr(1)
            self.take(")")
            return inner
        if tok == "{":
            return Selector(None, self.matchers())
        if kind != "ident":
            raise PromQLSyntaxError(f"unexpected {tok or 'end of expression'!r}")
        name = self.take()
        if name in AGGREGATIONS and self.peek()[1] in ("by", "without", "("):
            return self.aggregation(name)
        if self.peek()[1] == "(":
            self.take("(")
            args: list[Node] = []
            while self.peek()[1] != ")":
                args.append(self.expr(1))
                if self.peek()[1] != ")":
                    self.take(",")
            self.take(")")
            return Call(name, args)
        return Selector(name, self.matchers() if self.peek()[1] == "{" else [])

    def aggregation(self, op: str) -> Aggregation:
        grouping, without = None, False
        if self.peek()[1] in ("by", "without"):
            without = self.take() == "without"
            grouping = self.label_list()
        self.take("(")
        param = None
        if op in AGGREGATIONS_WITH_PARAM:
            param = self.expr(1)
            self.take(",")
        inner = self.expr(1)
        self.take(")")
        if grouping is None and self.peek()[1] in ("by", "without"):
            without = self.take() == "without"
            grouping = self.label_list()
        return Aggregation(op, grouping, without, param, inner)

    def matchers(self) -> list[tuple[str, str, str]]:
        self.take("{")
        found = []
        while self.peek()[1] != "}":
            label = self.take(kind="ident")
            op = self.take(kind="op")
            if op not in ("=", "!=", "=~", "!~"):
                raise PromQLSyntaxError(f"{op!r} is no label matcher")
            found.append((label, op, self.take(kind="string")[1:-1]))
            if self.peek()[1] != "}":
                self.take(",")
        self.take("}")
        return found


def parse_promql(text: str) -> Node:
    return Parser(text).parse()


# ---- what each part of an expression yields, and what it needs ------------------------------------------


@dataclass(frozen=True)
class Value:
    kind: str  # "scalar" | "string" | "vector" | "matrix"
    labels: frozenset[str] = frozenset()


@dataclass
class Analysis:
    schema: Exported
    where: str
    problems: list[str] = field(default_factory=list)
    selectors: list[Selector] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def series_labels(self, name: str) -> frozenset[str] | None:
        if name in PROMETHEUS_SERIES:
            return PROMETHEUS_SERIES[name] | TARGET_LABELS
        if name in self.schema.labels:
            return self.schema.labels[name] | TARGET_LABELS
        return None

    def vector(self, node: Node, what: str) -> frozenset[str]:
        value = self.value(node)
        if value.kind != "vector":
            self.problem(f"{what} needs an instant vector, got a {value.kind}")
        return value.labels

    def value(self, node: Node) -> Value:
        match node:
            case Literal(kind=kind):
                return Value(kind)
            case Selector():
                return self.selector(node)
            case Subquery(expr=inner):
                return Value("matrix", self.vector(inner, "a subquery"))
            case Call():
                return self.call(node)
            case Aggregation():
                return self.aggregation(node)
            case Binary():
                return self.binary(node)
        raise AssertionError(node)

    def selector(self, node: Selector) -> Value:
        self.selectors.append(node)
        if node.name is None:
            self.problem("a selector without a metric name")
            return Value("matrix" if node.range else "vector", TARGET_LABELS)
        labels = self.series_labels(node.name)
        if labels is None:
            self.problem(f"{node.name} is not a series riskwall exports")
            labels = TARGET_LABELS | {label for label, _, _ in node.matchers}
        for label, op, value in node.matchers:
            if label not in labels:
                self.problem(f"{node.name} has no label {label!r} (it has {sorted(labels)})")
            allowed = self.schema.closed_values.get(label)
            if allowed is None or "$" in value or op in ("!=", "!~"):
                continue
            words = value.split("|") if op == "=~" else [value]
            if op == "=~" and not all(re.fullmatch(r"[A-Za-z0-9_.:-]+", w) for w in words):
                continue  # a real regular expression: not checked against the closed set
            for word in words:
                if word not in allowed:
                    self.problem(f"{node.name}{{{label}{op}{value!r}}}: riskwall never sets {label}={word!r}")
        return Value("matrix" if node.range else "vector", labels)

    def call(self, node: Call) -> Value:
        func, args = node.func, node.args
        kinds = [self.value(a) for a in args]

        def want(*expected: str) -> bool:
            if [k.kind for k in kinds] != list(expected):
                self.problem(f"{func}() takes ({', '.join(expected)}), got ({', '.join(k.kind for k in kinds)})")
                return False
            return True

        if func in RANGE_FUNCTIONS:
            return Value("vector", kinds[0].labels) if want("matrix") else Value("vector")
        if func == "quantile_over_time":
            return Value("vector", kinds[1].labels) if want("scalar", "matrix") else Value("vector")
        if func == "histogram_quantile":
            if not want("scalar", "vector"):
                return Value("vector")
            if "le" not in kinds[1].labels:
                self.problem("histogram_quantile() over series without an `le` label (use *_bucket and keep le "
                             "in by (...))")
            return Value("vector", kinds[1].labels - {"le"})
        if func in ELEMENTWISE_FUNCTIONS:
            if not kinds or kinds[0].kind != "vector" or any(k.kind != "scalar" for k in kinds[1:]):
                self.problem(f"{func}() takes an instant vector (and scalars)")
            return Value("vector", kinds[0].labels if kinds else frozenset())
        if func == "time":
            want()
            return Value("scalar")
        if func == "vector":
            want("scalar")
            return Value("vector")
        if func == "scalar":
            want("vector")
            return Value("scalar")
        if func == "absent":
            want("vector")
            return Value("vector")
        if func == "label_replace":
            if want("vector", "string", "string", "string", "string"):
                dst, src = (a.value for a in args[1:4:2] if isinstance(a, Literal))
                if src and src not in kinds[0].labels:
                    self.problem(f"label_replace() reads {src!r}, which the series do not have")
                return Value("vector", kinds[0].labels | {dst})
            return Value("vector")
        self.problem(f"function {func}() is not known to this check: teach Analysis.call what it yields")
        return Value("vector")

    def aggregation(self, node: Aggregation) -> Value:
        inner = self.vector(node.expr, f"{node.op}()")
        if node.param is not None:
            self.value(node.param)
        grouping = set(node.grouping or ())
        missing = grouping - inner
        if missing and not node.without:
            self.problem(f"{node.op} by ({', '.join(sorted(missing))}): the series have no such label "
                         f"(they have {sorted(inner)})")
        if node.op in ("topk", "bottomk", "limitk", "limit_ratio"):
            return Value("vector", inner)
        if node.grouping is None:
            result = frozenset[str]()
        elif node.without:
            result = inner - grouping
        else:
            result = frozenset(grouping)
        if node.op == "count_values" and isinstance(node.param, Literal):
            result |= {node.param.value}
        return Value("vector", result)

    def binary(self, node: Binary) -> Value:
        lhs, rhs = self.value(node.lhs), self.value(node.rhs)
        if "matrix" in (lhs.kind, rhs.kind) or "string" in (lhs.kind, rhs.kind):
            self.problem(f"operator {node.op} between a {lhs.kind} and a {rhs.kind}")
            return Value("vector")
        if node.op in SET_OPS and (lhs.kind, rhs.kind) != ("vector", "vector"):
            self.problem(f"{node.op} needs vectors on both sides")
        if lhs.kind == "scalar" and rhs.kind == "scalar":
            return Value("scalar")
        if lhs.kind == "scalar" or rhs.kind == "scalar":
            return rhs if lhs.kind == "scalar" else lhs
        if node.op == "or":
            return Value("vector", lhs.labels | rhs.labels)
        if node.on is not None:
            for side, labels in (("left", lhs.labels), ("right", rhs.labels)):
                if set(node.on) - labels:
                    self.problem(f"on ({', '.join(node.on)}): the {side} side has no {sorted(set(node.on) - labels)}")
            matched_left = matched_right = frozenset(node.on)
        else:
            ignored = frozenset(node.ignoring or ())
            matched_left, matched_right = lhs.labels - ignored, rhs.labels - ignored
        if node.group is None and matched_left != matched_right:
            self.problem(f"{node.op}: the two sides carry different labels ({sorted(matched_left)} vs "
                         f"{sorted(matched_right)}), so no series match: aggregate both the same way or use on(...)")
        if node.group is not None:
            side, extra = node.group
            one, many = (rhs, lhs) if side == "left" else (lhs, rhs)
            if set(extra) - one.labels:
                self.problem(f"group_{side}({', '.join(extra)}): the other side has no "
                             f"{sorted(set(extra) - one.labels)}")
            return Value("vector", many.labels | frozenset(extra))
        if node.op in SET_OPS or node.on is None:
            return Value("vector", lhs.labels - frozenset(node.ignoring or ()))
        return Value("vector", frozenset(node.on))


# ---- the dashboard's parts --------------------------------------------------------------------------------


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside it


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}


def variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query")
    return str(query.get("query", "") if isinstance(query, dict) else query or "")


LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)$", re.DOTALL)


@dataclass(frozen=True)
class Expression:
    where: str
    key: str  # panel_<id>_<refId> or variable_<name>: names its recording rule for promtool
    promql: str
    label: str | None = None  # for label_values(selector, label): the label asked for


def expressions(dashboard: dict[str, Any]) -> list[Expression]:
    found = []
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            found.append(Expression(f"panel {panel.get('id')} {panel.get('title')!r} {target.get('refId')}",
                                    f"panel_{panel.get('id')}_{target.get('refId')}", str(target.get("expr", ""))))
    for name, variable in variables(dashboard).items():
        if variable.get("type") != "query":
            continue
        query = variable_query(variable)
        m = LABEL_VALUES.match(query.strip())
        if m is None:
            found.append(Expression(f"variable {name}", f"variable_{name}", query))  # fails unless plain PromQL
        else:
            found.append(Expression(f"variable {name}", f"variable_{name}", m["selector"], m["label"]))
    return found


def with_builtins(promql: str) -> str:
    """Grafana's interval variables replaced by durations, as Grafana does before it sends a query."""
    return re.sub(r"\$\{?(__rate_interval|__range|__interval)\}?", lambda m: GRAFANA_BUILTINS[m[1]], promql)


def as_prometheus_sees_it(promql: str) -> str:
    """Every variable replaced: builtins by durations, the dashboard's own (all in regex matchers) by `.*`."""
    return VARIABLE_REF.sub(".*", with_builtins(promql))


def analyse(expression: Expression, schema: Exported) -> Analysis:
    analysis = Analysis(schema, expression.where)
    try:
        tree = parse_promql(with_builtins(expression.promql))
    except PromQLSyntaxError as exc:
        analysis.problem(f"does not parse ({exc}): {expression.promql!r}")
        return analysis
    value = analysis.value(tree)
    if expression.label is not None and expression.label not in value.labels:
        analysis.problem(f"label_values(..., {expression.label}): the series have no label {expression.label!r}")
    return analysis


# ---- the checks -------------------------------------------------------------------------------------------


def structure_problems(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < MIN_SCHEMA_VERSION:
        problems.append(f"schemaVersion {dashboard.get('schemaVersion')!r} is older than Grafana 11's")
    for key in ("title", "uid"):
        if not isinstance(dashboard.get(key), str) or not dashboard[key]:
            problems.append(f"no {key}")
    if len(str(dashboard.get("uid", ""))) > 40:
        problems.append("uid longer than Grafana's 40 characters")
    if dashboard.get("id") is not None:
        problems.append("id must be null so that an import creates the dashboard")
    panels = list(all_panels(dashboard))
    if not any(p.get("type") != "row" for p in panels):
        problems.append("no panels")
    ids = [p.get("id") for p in panels]
    for panel_id in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        problems.append(f"panel id {panel_id} is used more than once")
    boxes: list[tuple[str, int, int, int, int]] = []
    for panel in panels:
        name = f"panel {panel.get('id')} {panel.get('title')!r}"
        if not isinstance(panel.get("id"), int):
            problems.append(f"{name}: id is not an integer")
        if not panel.get("type") or not panel.get("title"):
            problems.append(f"{name}: no type or title")
        pos = panel.get("gridPos")
        if not isinstance(pos, dict) or not all(isinstance(pos.get(k), int) for k in "hwxy"):
            problems.append(f"{name}: no gridPos with integer h, w, x, y")
        else:
            if pos["w"] < 1 or pos["h"] < 1 or pos["x"] < 0 or pos["y"] < 0 or pos["x"] + pos["w"] > GRID_COLUMNS:
                problems.append(f"{name}: gridPos {pos} is outside the {GRID_COLUMNS}-column grid")
            for other, x, y, w, h in boxes:
                if x < pos["x"] + pos["w"] and pos["x"] < x + w and y < pos["y"] + pos["h"] and pos["y"] < y + h:
                    problems.append(f"{name}: overlaps {other}")
            boxes.append((name, pos["x"], pos["y"], pos["w"], pos["h"]))
        if panel.get("type") == "row":
            if not panel.get("collapsed") and panel.get("panels"):
                problems.append(f"{name}: an expanded row keeps its panels at the top level, not inside it")
            continue
        targets = panel.get("targets")
        if not targets:
            problems.append(f"{name}: no targets")
            continue
        ref_ids = [t.get("refId") for t in targets]
        if len(set(ref_ids)) != len(ref_ids) or not all(ref_ids):
            problems.append(f"{name}: refIds {ref_ids} are missing or repeated")
        for target in targets:
            if not isinstance(target.get("expr"), str) or not target["expr"].strip():
                problems.append(f"{name} {target.get('refId')}: no expr")
    return problems


def datasource_problems(dashboard: dict[str, Any]) -> list[str]:
    problems = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasource" and value not in (DS_REF, BUILTIN_ANNOTATION_DS):
                    problems.append(f"{path}.datasource is {value!r}, not the ${{datasource}} variable")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")
        elif isinstance(node, str) and re.search(r"\$\{?DS_", node):
            problems.append(f"{path}: {node!r} names an import-time input, not the datasource variable")

    walk(dashboard, "$")
    if "__inputs" in dashboard:
        problems.append("__inputs: the data source is chosen through the datasource variable, not at import")
    for panel in all_panels(dashboard):
        if panel.get("type") != "row" and panel.get("datasource") != DS_REF:
            problems.append(f"panel {panel.get('id')} {panel.get('title')!r}: no datasource")
    return problems


def variable_problems(dashboard: dict[str, Any]) -> list[str]:
    problems = []
    declared = variables(dashboard)
    for name in REQUIRED_VARIABLES:
        if name not in declared:
            problems.append(f"variable {name} is missing")
    ds = declared.get("datasource", {})
    if ds and (ds.get("type"), ds.get("query")) != ("datasource", "prometheus"):
        problems.append("variable datasource is not a Prometheus data source variable")
    for name in REQUIRED_VARIABLES[1:]:
        variable = declared.get(name)
        if variable is None:
            continue
        m = LABEL_VALUES.match(variable_query(variable).strip())
        if variable.get("type") != "query" or m is None or m["label"] != name:
            problems.append(f"variable {name} is not label_values(<riskwall series>, {name})")
        if variable.get("datasource") != DS_REF:
            problems.append(f"variable {name} does not query the ${{datasource}} variable")
    multi = {n for n, v in declared.items() if v.get("multi") or v.get("includeAll")}
    for expression in expressions(dashboard):
        for m in VARIABLE_REF.finditer(expression.promql):
            name = next(g for g in m.groups() if g)
            if name not in declared and name not in GRAFANA_BUILTINS:
                problems.append(f"{expression.where}: uses ${name}, which no variable defines")
        try:
            tree = parse_promql(with_builtins(expression.promql))
        except PromQLSyntaxError:
            continue  # metric_problems reports it
        analysis = Analysis(exported(), expression.where)
        analysis.value(tree)
        for selector in analysis.selectors:
            for label, op, value in selector.matchers:
                for m in VARIABLE_REF.finditer(value):
                    name = next(g for g in m.groups() if g)
                    if name in multi and op not in ("=~", "!~"):
                        problems.append(f"{expression.where}: {label}{op}\"{value}\" compares a multi-value "
                                        f"variable with {op}; use =~")
            if expression.where.startswith("variable ") or selector.name is None:
                continue
            labels = analysis.series_labels(selector.name) or frozenset()
            filtered = {label for label, op, value in selector.matchers if op == "=~" and f"${label}" in value}
            for name in ("job", "instance", "venue", "account"):
                if name in labels and name not in filtered:
                    problems.append(f"{expression.where}: {selector.name} ignores the ${name} variable")
    return problems


def metric_problems(dashboard: dict[str, Any], schema: Exported) -> list[str]:
    problems = []
    for expression in expressions(dashboard):
        problems += analyse(expression, schema).problems
    return problems


def used_series(dashboard: dict[str, Any]) -> set[str]:
    names = set()
    for expression in expressions(dashboard):
        analysis = Analysis(exported(), expression.where)
        try:
            analysis.value(parse_promql(with_builtins(expression.promql)))
        except PromQLSyntaxError:
            continue
        names |= {s.name for s in analysis.selectors if s.name}
    return names


def coverage_problems(dashboard: dict[str, Any], schema: Exported) -> list[str]:
    sampled = set(schema.family_of.values())
    problems = [f"family {f} gave no sample after calling every metric function: extend exercise_every_metric()"
                for f in sorted(schema.families - sampled)]
    shown = {schema.family_of[name] for name in used_series(dashboard) if name in schema.family_of}
    for family in sorted(f for f in schema.families if f.startswith("riskwall_")):
        if family not in shown:
            problems.append(f"no panel shows riskwall's metric family {family}")
    return problems


def promtool_problems(dashboard: dict[str, Any], promtool: str, workdir: Path) -> str:
    rules = [{"record": f"riskwall_dashboard:{re.sub(r'[^a-zA-Z0-9_]', '_', e.key)}",
              "expr": as_prometheus_sees_it(e.promql)} for e in expressions(dashboard)]
    path = workdir / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "riskwall-dashboard", "rules": rules}]}, sort_keys=False))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    return "" if result.returncode == 0 else result.stdout + result.stderr


# ---- the shipped dashboard passes ------------------------------------------------------------------------


def test_dashboard_when_parsed_then_has_the_structure_grafana_imports() -> None:
    dashboard = load_dashboard()

    assert structure_problems(dashboard) == []
    assert {p["type"] for p in all_panels(dashboard)} >= {"row", "timeseries", "stat"}


def test_dashboard_when_walked_then_every_datasource_is_the_datasource_variable() -> None:
    assert datasource_problems(load_dashboard()) == []


def test_variables_when_declared_then_label_values_wired_into_every_selector() -> None:
    dashboard = load_dashboard()

    assert variable_problems(dashboard) == []
    assert [v["name"] for v in dashboard["templating"]["list"]][:1] == ["datasource"]


def test_expressions_when_analysed_then_every_metric_and_label_is_one_riskwall_exports() -> None:
    dashboard = load_dashboard()

    assert len(expressions(dashboard)) > 20
    assert metric_problems(dashboard, exported()) == []


def test_dashboard_when_compared_with_registry_then_every_riskwall_family_has_a_panel() -> None:
    dashboard = load_dashboard()
    schema = exported()

    assert {f for f in schema.families if f.startswith("riskwall_")} >= {"riskwall_decisions",
                                                                           "riskwall_decision_latency_seconds"}
    assert coverage_problems(dashboard, schema) == []
    assert "riskwall_decision_latency_seconds_bucket" in used_series(dashboard)


def test_promtool_when_checking_every_expression_as_a_rule_then_all_parse(tmp_path: Path) -> None:
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus); the Python PromQL checks still ran")

    assert promtool_problems(load_dashboard(), promtool, tmp_path) == ""


# ---- each check notices a broken dashboard ---------------------------------------------------------------


def first_panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in all_panels(dashboard) if p.get("title") == title)


def first_target(dashboard: dict[str, Any], metric: str) -> dict[str, Any]:
    return next(t for p in all_panels(dashboard) for t in p.get("targets", []) if metric in t["expr"])


def set_expr(metric: str, expr: str) -> Callable[[dict[str, Any]], None]:
    def mutate(dashboard: dict[str, Any]) -> None:
        first_target(dashboard, metric)["expr"] = expr
    return mutate


def duplicate_id(d: dict[str, Any]) -> None:
    d["panels"][2]["id"] = d["panels"][1]["id"]


def drop_gridpos(d: dict[str, Any]) -> None:
    del d["panels"][1]["gridPos"]


def overlap(d: dict[str, Any]) -> None:
    d["panels"][2]["gridPos"] = dict(d["panels"][1]["gridPos"], x=d["panels"][1]["gridPos"]["x"] + 1)


def blank_expr(d: dict[str, Any]) -> None:
    d["panels"][1]["targets"][0]["expr"] = ""


def old_schema(d: dict[str, Any]) -> None:
    d["schemaVersion"] = 27


def hardcoded_uid(d: dict[str, Any]) -> None:
    d["panels"][1]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}


def import_input(d: dict[str, Any]) -> None:
    d["panels"][1]["datasource"] = "${DS_PROMETHEUS}"


def drop_account_variable(d: dict[str, Any]) -> None:
    d["templating"]["list"] = [v for v in d["templating"]["list"] if v["name"] != "account"]


def drop_venue_filter(d: dict[str, Any]) -> None:
    target = first_target(d, "riskwall_proxied_requests_total{")
    target["expr"] = target["expr"].replace(', venue=~"$venue"', "")


def drop_egress_panels(d: dict[str, Any]) -> None:
    d["panels"] = [p for p in d["panels"] if "riskwall_egress_refused_total" not in json.dumps(p.get("targets"))]


MUTANTS: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # (id, mutation, check, what the problem says)
    ("duplicate-panel-id", duplicate_id, "structure", "used more than once"),
    ("no-gridpos", drop_gridpos, "structure", "no gridPos"),
    ("overlapping-panels", overlap, "structure", "overlaps"),
    ("empty-expr", blank_expr, "structure", "no expr"),
    ("old-schema", old_schema, "structure", "schemaVersion"),
    ("hard-coded-uid", hardcoded_uid, "datasource", "P1809F7CD0C75ACF3"),
    ("import-input", import_input, "datasource", "DS_PROMETHEUS"),
    ("no-account-variable", drop_account_variable, "variables", "variable account is missing"),
    ("undefined-variable", set_expr("riskwall_egress_refused_total",
                                    'sum(increase(riskwall_egress_refused_total{job=~"$job", instance=~"$instance", '
                                    'pod=~"$pod"}[5m]))'), "variables", "$pod"),
    ("multi-value-with-equals", set_expr("riskwall_state_store_errors_total",
                                         'sum(rate(riskwall_state_store_errors_total{job="$job", '
                                         'instance=~"$instance"}[5m]))'), "variables", "use =~"),
    ("venue-variable-ignored", drop_venue_filter, "variables", "ignores the $venue variable"),
    ("unknown-metric", set_expr("riskwall_egress_refused_total", "sum(rate(riskwall_egress_refusals_total[5m]))"),
     "metrics", "riskwall_egress_refusals_total is not a series"),
    ("counter-without-total", set_expr("riskwall_proxied_requests_total",
                                       "sum by (venue) (rate(riskwall_proxied_requests[5m]))"),
     "metrics", "riskwall_proxied_requests is not a series"),
    ("histogram-without-bucket", set_expr("riskwall_decision_latency_seconds_bucket",
                                          "histogram_quantile(0.99, sum by (le) "
                                          "(rate(riskwall_decision_latency_seconds[5m])))"),
     "metrics", "riskwall_decision_latency_seconds is not a series"),
    ("label-not-on-metric", set_expr("riskwall_egress_refused_total",
                                     'sum(rate(riskwall_egress_refused_total{venue=~"$venue"}[5m]))'),
     "metrics", "has no label 'venue'"),
    ("by-label-not-on-metric", set_expr("riskwall_decisions_total",
                                        "sum by (account) (rate(riskwall_decisions_total[5m]))"),
     "metrics", "sum by (account)"),
    ("quantile-without-le", set_expr("riskwall_decision_latency_seconds_bucket",
                                     "histogram_quantile(0.99, sum by (venue) "
                                     "(rate(riskwall_decision_latency_seconds_bucket[5m])))"),
     "metrics", "without an `le` label"),
    ("value-never-set", set_expr("riskwall_decisions_total",
                                 'sum(rate(riskwall_decisions_total{verdict="blocked"}[5m]))'),
     "metrics", "never sets verdict='blocked'"),
    ("reason-never-set", set_expr("riskwall_decisions_total",
                                  'sum(rate(riskwall_decisions_total{reason=~"TRADING_HALTED|HALTED"}[5m]))'),
     "metrics", "never sets reason='HALTED'"),
    ("sides-never-match", set_expr("riskwall_decisions_total",
                                   "sum by (venue) (rate(riskwall_decisions_total[5m])) / "
                                   "sum(rate(riskwall_decisions_total[5m]))"), "metrics", "no series match"),
    ("rate-of-instant-vector", set_expr("riskwall_decisions_total", "sum(rate(riskwall_decisions_total))"),
     "metrics", "rate() takes (matrix)"),
    ("syntax-error", set_expr("riskwall_decisions_total", "sum by (venue (rate(riskwall_decisions_total[5m]))"),
     "metrics", "does not parse"),
    ("variable-label-missing", lambda d: variables(d)["account"].update(
        definition="label_values(riskwall_decisions_total, account)",
        query={"qryType": 1, "query": "label_values(riskwall_decisions_total, account)", "refId": "A"}),
     "metrics", "label_values(..., account)"),
    ("family-without-panel", drop_egress_panels, "coverage", "riskwall_egress_refused"),
]


def run_check(check: str, dashboard: dict[str, Any]) -> list[str]:
    match check:
        case "structure":
            return structure_problems(dashboard)
        case "datasource":
            return datasource_problems(dashboard)
        case "variables":
            return variable_problems(dashboard)
        case "metrics":
            return metric_problems(dashboard, exported())
        case "coverage":
            return coverage_problems(dashboard, exported())
    raise AssertionError(check)


@pytest.mark.parametrize(("mutate", "check", "expected"), [m[1:] for m in MUTANTS], ids=[m[0] for m in MUTANTS])
def test_check_when_dashboard_broken_then_reports_the_problem(
    mutate: Callable[[dict[str, Any]], None], check: str, expected: str,
) -> None:
    dashboard = load_dashboard()
    broken = copy.deepcopy(dashboard)
    mutate(broken)

    problems = run_check(check, broken)

    assert broken != dashboard
    assert any(expected in p for p in problems), problems


def test_coverage_when_a_metric_function_is_not_exercised_then_reports_the_unsampled_family() -> None:
    schema = exported()
    partial = Exported({k: v for k, v in schema.labels.items() if not k.startswith("riskwall_trading_state")},
                       {k: v for k, v in schema.family_of.items() if not k.startswith("riskwall_trading_state")},
                       schema.families, schema.closed_values)

    problems = coverage_problems(load_dashboard(), partial)

    assert any("riskwall_trading_state gave no sample" in p for p in problems), problems


def test_promtool_when_an_expression_is_invalid_then_check_rules_fails(tmp_path: Path) -> None:
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    broken = load_dashboard()
    panel = first_panel(broken, "Decisions by verdict")
    panel["targets"][0]["expr"] = "sum by (verdict) (rate(riskwall_decisions_total))"  # rate() of an instant vector

    output = promtool_problems(broken, promtool, tmp_path)

    assert f"riskwall_dashboard:panel_{panel['id']}_A" in output, output
    assert "range vector" in output, output
