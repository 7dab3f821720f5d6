"""Which rules decide where: worked out once, when a policy is built, so choosing the rules for an order leg reads
a prepared index and writes nothing (`engine.applicable_rules` asks it for every leg).

Selection (as `engine.applicable_rules` documents it): of the enforced rules of one kind whose scope matches, the
most specific scope wins (symbol > account > position side > venue > everywhere) and among equally specific ones
the later; a kind is the rule type and, for rules that have one, its `per`; every matching shadow rule runs.

Rules are bucketed by the venue (a finite set) and, within it, by how they are scoped: a rule scoped by nothing
narrower than the venue always applies there, so the winners among those are chosen at load; a rule scoped by
literal symbols is found by the symbol's name; only the rest (glob patterns, accounts, position sides) is matched
per leg. A policy whose rules are scoped by venue at most answers every leg with a prepared `RuleSet`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from riskwall.model import PositionSide, Venue
from riskwall.policy.model import Mode, RuleBase

# (rule type, its `per` or ""): rules of one kind override each other, rules of different kinds all apply
type RuleKind = tuple[str, str]

_GLOB = frozenset("*?[")


def rule_kind(rule: RuleBase) -> RuleKind:
    return rule.type, str(getattr(rule, "per", ""))


class RuleSet(tuple[RuleBase, ...]):
    """The rules that decide a leg, in policy order, with those of each rule type at hand (`of`): the engine checks
    one type at a time, and reads just those rules instead of testing every rule's type for each of a dozen
    checks per order."""

    _by_type: Mapping[type[RuleBase], tuple[RuleBase, ...]]

    def __new__(cls, rules: Iterable[RuleBase] = ()) -> RuleSet:
        self = super().__new__(cls, rules)
        by_type: dict[type[RuleBase], list[RuleBase]] = {}
        for rule in self:
            by_type.setdefault(type(rule), []).append(rule)
        self._by_type = {kind: tuple(found) for kind, found in by_type.items()}
        return self

    def of[R: RuleBase](self, kind: type[R]) -> tuple[R, ...]:
        """The rules of exactly the type `kind` (rule types are never subclassed), in policy order."""
        return self._by_type.get(kind, ())  # type: ignore[return-value]


@dataclass(frozen=True, slots=True, eq=False)  # one entry per rule: compared and hashed by identity
class _Entry:
    """A rule with its scope prepared for matching: upper-cased patterns, sets for the memberships."""

    order: int  # position in the policy (files in name order, rules in written order): later wins a tie
    rule: RuleBase
    kind: RuleKind
    specificity: int
    shadow: bool
    accounts: frozenset[str]
    position_sides: frozenset[PositionSide]
    patterns: tuple[str, ...]  # upper-cased; empty: every symbol

    @classmethod
    def of(cls, order: int, rule: RuleBase) -> _Entry:
        scope = rule.scope
        return cls(order, rule, rule_kind(rule), scope.specificity, rule.mode is Mode.SHADOW, frozenset(scope.accounts),
                   frozenset(scope.position_sides), tuple(p.upper() for p in scope.symbols))

    @property
    def unscoped(self) -> bool:
        """Applies to every leg on the venues it names (or on every venue)."""
        return not self.accounts and not self.position_sides and not self.patterns

    @property
    def literal_symbols(self) -> bool:
        """Scoped by symbol names without wildcards: found by name, never by pattern matching."""
        return bool(self.patterns) and not any(_GLOB.intersection(p) for p in self.patterns)

    def matches(self, labels: frozenset[str], names: tuple[str, ...], position_side: PositionSide | None) -> bool:
        """`names` upper-cased; as `Scope.matches` past the venue: an instruction that names no instrument touches
        every one, so symbol-scoped rules apply to it."""
        if self.accounts and self.accounts.isdisjoint(labels):
            return False
        if self.position_sides and position_side not in self.position_sides:
            return False
        if self.patterns and names:
            return any(fnmatchcase(name, pattern) for pattern in self.patterns for name in names)
        return True

    def beats(self, other: _Entry) -> bool:
        return (self.specificity, self.order) > (other.specificity, other.order)


@dataclass(frozen=True, slots=True)
class _VenueRules:
    """One venue's rules, prepared."""

    # the answer for a leg no scoped rule matches: the unscoped winners and shadows, in policy order
    fixed: RuleSet
    winners: Mapping[RuleKind, _Entry]  # the enforced unscoped winner of each kind
    shadows: tuple[_Entry, ...]  # the unscoped shadow rules
    by_symbol: Mapping[str, tuple[_Entry, ...]]  # rules scoped by literal symbols, by each upper-cased name
    named: tuple[_Entry, ...]  # every rule in by_symbol once, for a leg that names no instrument
    matched: tuple[_Entry, ...]  # the other scoped rules, matched on every leg

    @classmethod
    def of(cls, entries: Iterable[_Entry]) -> _VenueRules:
        winners: dict[RuleKind, _Entry] = {}
        shadows: list[_Entry] = []
        by_symbol: dict[str, list[_Entry]] = {}
        named: list[_Entry] = []
        matched: list[_Entry] = []
        for entry in entries:
            if not entry.unscoped:
                if entry.literal_symbols:
                    named.append(entry)
                    for name in dict.fromkeys(entry.patterns):
                        by_symbol.setdefault(name, []).append(entry)
                else:
                    matched.append(entry)
            elif entry.shadow:
                shadows.append(entry)
            elif (best := winners.get(entry.kind)) is None or entry.beats(best):
                winners[entry.kind] = entry
        fixed = RuleSet(e.rule for e in sorted((*winners.values(), *shadows), key=_by_order))
        return cls(fixed, winners, tuple(shadows), {k: tuple(v) for k, v in by_symbol.items()}, tuple(named),
                   tuple(matched))

    def select(self, labels: frozenset[str], names: Sequence[str],
               position_side: PositionSide | None) -> RuleSet:
        if not self.named and not self.matched:
            return self.fixed
        upper = tuple(name.upper() for name in names if name)
        hits = [e for e in self.matched if e.matches(labels, upper, position_side)]
        if upper:
            for name in upper:
                hits.extend(e for e in self.by_symbol.get(name, ()) if e.matches(labels, (), position_side))
        else:
            hits.extend(e for e in self.named if e.matches(labels, (), position_side))
        if not hits:
            return self.fixed
        winners = dict(self.winners)
        chosen = list(self.shadows)
        for entry in dict.fromkeys(hits):  # a rule naming both of an instrument's names is found twice
            if entry.shadow:
                chosen.append(entry)
            elif (best := winners.get(entry.kind)) is None or entry.beats(best):
                winners[entry.kind] = entry
        chosen.extend(winners.values())
        return RuleSet(e.rule for e in sorted(chosen, key=_by_order))


def _by_order(entry: _Entry) -> int:
    return entry.order


class RuleIndex:
    """A policy's rules, prepared for `select`. Built once; never written after."""

    __slots__ = ("_entries", "_fixed", "_venues")

    def __init__(self, rules: Sequence[RuleBase]) -> None:
        self._entries = tuple(_Entry.of(order, rule) for order, rule in enumerate(rules))
        self._venues: Mapping[str, _VenueRules] = {venue: self._bucket(venue) for venue in Venue}
        # the venues whose every rule applies to every leg: answered without looking further
        self._fixed: Mapping[str, RuleSet] = {
            venue: bucket.fixed for venue, bucket in self._venues.items() if not bucket.named and not bucket.matched}

    def _bucket(self, venue: str) -> _VenueRules:
        return _VenueRules.of(e for e in self._entries if not e.rule.scope.venues or venue in e.rule.scope.venues)

    def select(self, venue: str, labels: frozenset[str], names: Sequence[str],
               position_side: PositionSide | None) -> RuleSet:
        """The rules that decide a leg on `venue`, of an account with `labels`, naming `names` (its instrument's
        names: none for an instruction that names no instrument), on `position_side`; in policy order."""
        fixed = self._fixed.get(venue)
        if fixed is not None:
            return fixed
        bucket = self._venues.get(venue)
        if bucket is None:  # not a venue riskwall knows: no policy names it, so only unscoped-by-venue rules apply
            bucket = self._bucket(venue)
        return bucket.select(labels, names, position_side)
