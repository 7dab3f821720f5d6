"""YAML files → one frozen `Policy`, or a `PolicyError` that lists every problem at once.

Numbers in YAML are read as `Decimal` straight from their text, so `0.1` is exactly 0.1.
Every error names its file, line and key path: `policies/main.yaml:12: rules[2].limits[0]: ...`.
"""

from __future__ import annotations

import difflib
import hashlib
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import ValidationError

from riskwall.model import Venue, live_holder
from riskwall.paths import endpoint_name
from riskwall.policy.index import RuleIndex
from riskwall.policy.model import (
    RULE_TYPES,
    AccountSpec,
    MaxDailyLoss,
    MaxGrossExposure,
    Mode,
    OnPriceUnknown,
    PolicyFile,
    PolicyMode,
    Rule,
)
from riskwall.state.base import holder_key

POLICY_SUFFIXES = (".yaml", ".yml")

type KeyPath = tuple[str | int, ...]


class PolicyError(Exception):
    """A policy that cannot be used. `errors` holds one line per problem, each with file and key path."""

    def __init__(self, errors: list[str], digest: str | None = None) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
        # `content_digest` of the bytes that did not load, where files were read (the reload watcher records it)
        self.digest = digest


@dataclass(frozen=True, slots=True)
class Policy:
    """A loaded policy: never changed once built. What the engine asks of it on every order (which rules apply
    where, which rule types are present, which labels a key has) is prepared when it is built, so a decision
    reads it and never writes into it."""

    rules: tuple[Rule, ...]
    accounts: dict[str, AccountSpec]
    mode: PolicyMode
    revision: str
    sources: tuple[str, ...]
    known_accounts_only: bool = False
    # forbidden endpoints the policy lets through by name, normalised like ParsedRequest.endpoint
    allowed_endpoints: frozenset[str] = frozenset()
    # `content_digest` of the very bytes this policy was parsed from: what the reload watcher records as loaded
    digest: str = ""
    # prepared in __post_init__ from the fields above
    rule_index: RuleIndex = field(init=False, compare=False, repr=False)
    rule_modes: Mapping[str, Mode] = field(init=False, compare=False, repr=False)
    # whether any rule measures account equity (answers' equity goes to the store only then)
    has_daily_losses: bool = field(init=False, compare=False, repr=False)
    # whether any rule counts the orders the venue refuses (answers are read for refusals only then)
    has_reject_storms: bool = field(init=False, compare=False, repr=False)
    # the ids of the daily-loss rules that wait for the day's first equity reading (`on_equity_unknown: block`)
    equity_waiting_rules: tuple[str, ...] = field(init=False, compare=False, repr=False)
    # whether any rule keeps a daily-notional budget (legs are then charged to it)
    has_daily_notional: bool = field(init=False, compare=False, repr=False)
    # whether any rule values every position of an account (orders then read the whole account)
    has_gross_exposure: bool = field(init=False, compare=False, repr=False)
    # whether a gross exposure rule `per: account` sums an account's positions on other venues too
    gross_spans_venues: bool = field(init=False, compare=False, repr=False)
    # whether any account binds its keys to proxy users
    binds_clients: bool = field(init=False, compare=False, repr=False)
    # the labels listing each key, with the venue each label is bound to (None: any)
    _key_labels: Mapping[str, tuple[tuple[str, Venue | None], ...]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        types = {rule.type for rule in self.rules}
        key_labels: dict[str, list[tuple[str, Venue | None]]] = {}
        for label, spec in self.accounts.items():
            for fingerprint in dict.fromkeys(spec.fingerprints):
                key_labels.setdefault(fingerprint, []).append((label, spec.venue))
        prepared: dict[str, object] = {
            "rule_index": RuleIndex(self.rules),
            # the first rule of an id: ids are unique in a loaded policy
            "rule_modes": MappingProxyType({rule.id: rule.mode for rule in reversed(self.rules)}),
            "has_daily_losses": "max_daily_loss" in types,
            "has_reject_storms": "reject_storm" in types,
            "equity_waiting_rules": tuple(rule.id for rule in self.rules if type(rule) is MaxDailyLoss
                                          and rule.on_equity_unknown is OnPriceUnknown.BLOCK),
            "has_daily_notional": "max_daily_notional" in types,
            "has_gross_exposure": "max_gross_exposure" in types,
            "gross_spans_venues": any(type(rule) is MaxGrossExposure and rule.per == "account" for rule in self.rules),
            "binds_clients": any(spec.proxy_users for spec in self.accounts.values()),
            "_key_labels": MappingProxyType({key: tuple(labels) for key, labels in key_labels.items()}),
        }
        for name, value in prepared.items():
            object.__setattr__(self, name, value)  # frozen: the only writes, while it is being built

    def knows(self, venue: str, account: str | None) -> bool:
        return bool(self.labels_for(venue, account))

    def rule_mode(self, rule_id: str) -> Mode | None:
        """The mode of the policy's rule `rule_id`; None for an id no rule of the policy has."""
        return self.rule_modes.get(rule_id)

    def gross_venues(self, venue: str, holder: str | None) -> tuple[Venue, ...]:
        """The venues other than `venue` whose positions of `holder` a gross exposure rule `per: account` sums: every
        other venue for an `accounts` label that names none (its keys may trade anywhere); none otherwise (a key of
        its own, or a label bound to one venue)."""
        if holder is None or not self.gross_spans_venues or not holder.startswith("label:"):
            return ()
        spec = self.accounts.get(live_holder(holder).removeprefix("label:"))
        if spec is None or spec.venue is not None:
            return ()
        return tuple(other for other in Venue if other != venue)

    def client_may_use(self, client: str, venue: str, account: str | None) -> bool:
        """Whether the bot authenticated as `client` may sign with `account`'s key."""
        return any(client in self.accounts[label].proxy_users for label in self.labels_for(venue, account))

    def holder(self, venue: str, account: str | None, environment: str = "") -> str | None:
        """The account a key's state is kept under: `label:<name>` of the label listing it (the first by name if
        several do), so positions, rates and states hold per account however many keys trade it; None (the
        key's own fingerprint) for a key no label lists. A venue's testnet or demo book is another account than
        its production one, whose keys a label may list beside the live ones: its state is `label:<name>@<env>`
        (a demo position read must not clear the live positions, nor a demo position mode read the live orders)."""
        labels = self.labels_for(venue, account)
        if not labels:
            return None
        return f"label:{min(labels)}@{environment}" if environment else f"label:{min(labels)}"

    def key_holders(self) -> dict[str, str]:
        """Where each key the policy lists keeps its state on each venue (`holder`), by `state.base.holder_key`:
        a label bound to one venue holds the key there only (one Binance key trades USDⓈ-M and COIN-M, each
        venue under its own label, say); elsewhere the key is its own account and is not named."""
        holders = {}
        for key in self._key_labels:
            for venue in Venue:
                holder = self.holder(venue, key)
                if holder is not None:
                    holders[holder_key(venue, key)] = holder
        return holders

    def labels_for(self, venue: str, account: str | None) -> frozenset[str]:
        listed = self._key_labels.get(account) if account is not None else None
        if not listed:
            return _NO_LABELS
        return frozenset(label for label, bound in listed if bound is None or bound == venue)


_NO_LABELS: frozenset[str] = frozenset()


def load_policy(path: str | Path) -> Policy:
    files = policy_files(Path(path))
    errors: list[str] = []
    parsed: list[tuple[str, PolicyFile, dict[KeyPath, int]]] = []
    digest = hashlib.sha256()
    for file in files:
        text = file.read_bytes()
        digest.update(file.name.encode() + b"\0" + text + b"\0")
        try:
            parsed.append((str(file), *_parse_file(file, text)))
        except PolicyError as exc:
            errors.extend(exc.errors)
    if not files:
        errors.append(f"{path}: no policy files (*.yaml, *.yml) found")
    policy = _merge(parsed, errors)
    if errors:
        raise PolicyError(errors, digest.hexdigest())
    return Policy(
        rules=policy[0],
        accounts=policy[1],
        mode=policy[2],
        revision=policy_revision(Path(path), files, digest.hexdigest()[:12]),
        sources=tuple(str(f) for f in files),
        # any file may switch it on; none can switch it off for the others
        known_accounts_only=any(doc.known_accounts_only for _, doc, _ in parsed),
        allowed_endpoints=frozenset(
            endpoint_name(*entry.split(" ", 1)) for _, doc, _ in parsed for entry in doc.allow_endpoints
        ),
        digest=digest.hexdigest(),
    )


def policy_revision(path: Path, files: list[Path], content_hash: str) -> str:
    """The git commit of the policy files when they are a clean git checkout, else their content hash.

    A checkout with local changes gives `<commit>+<content hash>`: the commit alone would claim a reviewed
    revision for files nobody reviewed.
    """
    folder = path if path.is_dir() else path.parent
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False)
        if head.returncode != 0:
            return content_hash
        paths = [str(f.resolve()) for f in files]
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", *paths],
                                capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return content_hash
    commit = head.stdout.strip()
    if status.returncode != 0 or status.stdout.strip():
        return f"{commit}+{content_hash}"
    return commit


def content_digest(path: str | Path) -> str | None:
    """A cheap identity of what is on disk now, for the reload watcher; None when nothing can be read."""
    try:
        files = policy_files(Path(path))
        digest = hashlib.sha256()
        for file in files:
            digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    except (PolicyError, OSError):
        return None
    return digest.hexdigest()


def policy_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in POLICY_SUFFIXES)
    if path.is_file():
        return [path]
    raise PolicyError([f"{path}: no such file or folder"])


def read_yaml(file: Path, text: bytes, expected: str, *,
              allow_empty: bool = True) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """A YAML mapping with Decimal numbers and the line of every key path; a PolicyError naming file and line
    for bad YAML, a duplicate key, a top level that is not a mapping (`expected` names what it should hold), or,
    unless `allow_empty`, a file with nothing in it. Shared by policy files and policy test files."""
    try:
        data, lines = _load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else str(file)
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError([f"{where}: invalid YAML: {problem}"]) from None
    except _DuplicateKey as exc:
        raise PolicyError([f"{file}:{exc.line}: {render_path(exc.path)}: duplicate key"]) from None
    if data is None:
        if not allow_empty:
            # a file being written in place (truncated, then filled) reads empty for a moment: loaded, it would be a
            # policy without a rule, so nothing but the built-in checks would hold
            raise PolicyError([f"{file}: the file holds nothing (half written?); a policy file needs `rules` or "
                               "settings"])
        data = {}
    if not isinstance(data, dict):
        raise PolicyError([f"{file}:1: the top level must be a mapping with {expected}"])
    return data, lines


def _parse_file(file: Path, text: bytes) -> tuple[PolicyFile, dict[KeyPath, int]]:
    data, lines = read_yaml(file, text, "`rules`", allow_empty=False)
    try:
        return PolicyFile.model_validate(data), lines
    except ValidationError as exc:
        raise PolicyError([_describe(file, lines, err) for err in exc.errors()]) from None


def _describe(file: Path, lines: dict[KeyPath, int], err: Any) -> str:
    # pydantic puts the discriminator's tag into the location (rules.2.max_leverage.default); drop it so the
    # path reads as the user wrote it
    loc: list[str | int] = []
    for part in err["loc"]:
        if isinstance(part, str) and loc and isinstance(loc[-1], int) and _is_rule_tag(part):
            continue
        if part == "[key]":  # pydantic's marker for "the key itself was invalid"
            continue
        loc.append(part)
    path = tuple(loc)
    line = nearest_line(lines, path)
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "union_tag_invalid":
        message = _unknown_rule_type(err["input"].get("type")) if isinstance(err["input"], dict) else message
    location = f"{file}:{line}" if line else str(file)
    return f"{location}: {render_path(path) or '(top level)'}: {message}"


def _is_rule_tag(part: str) -> bool:
    return part in RULE_TYPES


def _unknown_rule_type(given: object) -> str:
    """`unknown rule type 'allowed_symbol'; did you mean 'allowed_symbols'?`"""
    message = f"unknown rule type {given!r}"
    close = difflib.get_close_matches(str(given), RULE_TYPES, n=1, cutoff=0.6) if isinstance(given, str) else []
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; one of: {', '.join(RULE_TYPES)}"


def render_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def nearest_line(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get((), None)


def _merge(
    parsed: list[tuple[str, PolicyFile, dict[KeyPath, int]]], errors: list[str]
) -> tuple[tuple[Rule, ...], dict[str, AccountSpec], PolicyMode]:
    """Checks across files: rule ids unique everywhere, one mode, one meaning per account label."""
    rules: list[Rule] = []
    seen_ids: dict[str, str] = {}
    accounts: dict[str, AccountSpec] = {}
    account_files: dict[str, str] = {}
    mode: PolicyMode | None = None
    mode_file = ""

    def error(file: str, lines: dict[KeyPath, int], path: KeyPath, message: str) -> None:
        line = nearest_line(lines, path)
        where = f"{file}:{line}" if line else file
        errors.append(f"{where}: {render_path(path)}: {message}")

    for file, doc, lines in parsed:
        if doc.mode is not None:
            if mode is not None and doc.mode != mode:
                error(file, lines, ("mode",), f"{doc.mode} contradicts {mode} in {mode_file}")
            mode, mode_file = doc.mode, file
        for label, spec in doc.accounts.items():
            if label in accounts and accounts[label] != spec:
                error(file, lines, ("accounts", label), f"defined differently in {account_files[label]}")
            accounts[label], account_files[label] = spec, file
        for index, rule in enumerate(doc.rules):
            if rule.id in seen_ids:
                first = seen_ids[rule.id]
                error(file, lines, ("rules", index, "id"), f"duplicate rule id {rule.id!r} (first in {first})")
            seen_ids.setdefault(rule.id, file)
            rules.append(rule)
    for file, doc, lines in parsed:
        for index, rule in enumerate(doc.rules):
            for position, label in enumerate(rule.scope.accounts):
                if label not in accounts:
                    error(file, lines, ("rules", index, "scope", "accounts", position),
                          f"unknown account label {label!r}")
    return tuple(rules), accounts, mode or PolicyMode.ENFORCE


class _DuplicateKey(Exception):
    def __init__(self, path: KeyPath, line: int) -> None:
        self.path, self.line = path, line


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader whose floats are Decimals built from the scalar's own text."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = str(loader.construct_scalar(node)).replace("_", "")
    lowered = text.lower()
    if lowered in (".inf", "+.inf", "-.inf", ".nan"):
        return Decimal("NaN") if "nan" in lowered else Decimal(lowered.replace(".inf", "Infinity"))
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the resolver only hands over float-shaped text
        raise yaml.constructor.ConstructorError(None, None, f"not a number: {text}", node.start_mark) from None


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _load_yaml(text: bytes) -> tuple[Any, dict[KeyPath, int]]:
    loader = _DecimalLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[KeyPath, int] = {}
        _index_lines(node, (), lines)
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


def _index_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise _DuplicateKey((*path, key), key_node.start_mark.line + 1)
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines)
