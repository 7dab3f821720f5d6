"""`riskwall policy test PATH...`: unit tests for policies, written in YAML and run through the real engine.

A test file is named `*.test.yaml` (or `*.test.yml`) and conventionally lives in a `tests/` folder beside the
policy (`policies/tests/default.test.yaml` tests `policies/default.yaml`). The policy loader reads only the
files directly inside a policy folder, so a `tests/` folder inside it is never mistaken for policy. PATH is a
test file, or a folder searched recursively for `*.test.yaml`.

    policy: ../default.yaml          # the policy under test: a file or a folder, relative to this file
    venue: binanceusdm               # default venue of every case (default binanceusdm)
    account: main                    # default account: a label from the policy's `accounts` or a
                                     # 12-hex-digit fingerprint (default 000000000000, a key no label names)
    cases:
      - name: BTC above its own max qty is blocked       # unique in the file
        state:                                           # optional; every case starts from an empty store
          prices: {BTCUSDT: 60000}                       # mark prices riskwall has seen
          positions:                                     # signed base units; position_side both|long|short
            - {symbol: BTCUSDT, qty: 0.5}
            - {symbol: ETHUSDT, qty: -2, position_side: short, account: hedge-bot}
          open_orders:                                   # orders resting at the venue (pending exposure;
            - {symbol: BTCUSDT, side: buy, qty: 0.2}     # counted by max_open_orders)
            - {symbol: ETHUSDT, count: 40}               # 40 resting orders that only count (no qty: no
                                                         # exposure; side defaults to buy)
          trading_states:                                # the kill switch; scope: global (default) or a map
            - {scope: {symbol: ETHUSDT}, state: HALTED, reason: exchange incident}
            - {scope: {account: hedge-bot}, state: REDUCING}  # venue defaults to the file's venue
          recent_orders:                                 # orders admitted before this one, for rate windows
            - {count: 10, ago: 500ms}                    # ago: 250ms, 2s, 1m, 1h or milliseconds
          allowed_orders:                                # orders the firewall allowed before this one, for the
            - {ago: 300ms}                               # duplicate rule: each key defaults to the request's
            - {qty: 0.2, price: 59000, ago: 1s}          # (first leg's): symbol, side, qty, price, type,
                                                         # trigger_price, position_side, account, venue
          rejected_orders:                               # orders the venue refused before this one, counted by
            - {count: 3, ago: 30s}                       # the reject_storm rules (one that reaches its limit
                                                         # trips: the account's state holds its cool-down);
                                                         # also account, venue
          equity_reports:                                # the account's equity as the venue reported it today,
            - {equity: 10000}                            # in order (the first is the day's baseline), measured
            - {equity: 9400}                             # by the max_daily_loss rules; also account, venue
          daily_notional:                                # notional already traded today under a
            - {rule: daily-notional, notional: 4000000}  # max_daily_notional rule (by id); symbol (a per-symbol
                                                         # rule's budget; default: the request's first symbol),
                                                         # account, venue
        request:                                         # exactly one of `order:` and `http:`
          order:                                         # exchange-neutral
            action: new                                  # new (default), amend, cancel, cancel_all,
                                                         # set_leverage, set_margin_mode, ...
            symbol: BTCUSDT
            side: buy
            qty: 1
            price: 60000                                 # type defaults to LIMIT with a price, else MARKET
            # also: type, trigger_price, time_in_force, reduce_only, close_position, position_side,
            # leverage, margin_mode (ISOLATED|CROSSED|PORTFOLIO), hedge_mode (true|false, for
            # set_position_mode), order_id, client_order_id, venue, account,
            # legs: [{...}, {...}]  a batch; each leg takes the order keys above and inherits unset ones
        expect:
          verdict: block                                 # or just `expect: allow` / `expect: block`
          rule: order-qty                                # the deciding rule id (optional)
          reason: ORDER_QTY_EXCEEDS_MAX                  # its reason code (optional)
          context: {max_qty: 0.5}                        # keys of the violation's context (optional)
          # leg: 1                             for a batch: the offending leg (optional)
          # would_block: {rule: x, reason: Y}  the first would_block of a shadow rule or of monitor mode
          # would_block: false                 assert that nothing would block

      - name: a raw Binance request is parsed by the real adapter
        request:
          http:
            method: POST
            path: /fapi/v1/order                         # may carry ?query; host defaults to the venue's
            query: {symbol: BTCUSDT}                     # a map, or [[key, value], ...] to repeat a key
            form: {side: BUY, type: MARKET, quantity: 1} # a form body (lists/maps become JSON, for
                                                         # batchOrders); or `body:` as raw text
            headers: {X-MBX-APIKEY: any-test-key}
        expect: {verdict: block, rule: order-qty}

The account of an `http:` request is its `account:` key when given, else the fingerprint of the API key in
its headers, else the file's `account`. `account: null` sends a request with no account at all.

Every case gets a fresh in-memory store on a fixed clock (2026-01-01T00:00:00Z), seeded through the store's
public methods (`learn`, `set_trading_state`, `reserve`), and is decided by the real `engine.plan` and
`engine.conclude`, exactly as the sidecar decides. `recent_orders` are planned by the engine as orders of the
given account and symbol (default: the request's first symbol), so they land in every rate window that
order would count in. `allowed_orders` are planned by the engine too, and recorded only where the duplicate
rules would record them (not in rate windows, not as exposure: `recent_orders` and `open_orders` say those).
`rejected_orders` are counted by the policy's reject_storm rules exactly as refusals the sidecar read in the
venue's answers: a rule whose window reaches its limit trips, and the account's trading state is the storm's
until its cool-down ends (a case decided within it sees that state, under the rule's id).
`equity_reports` are measured by the policy's max_daily_loss rules, in the order written, at the case's time
(the start of a UTC day), exactly as equity the sidecar read in account answers: the first is the day's
baseline, and a later one more than a rule's `quote` below it trips the rule (the account's state is the rule's
until the next UTC midnight, under the rule's id).
`daily_notional` is charged to the named max_daily_notional rule's budget for the case's UTC day (the account's,
or with `per: symbol` the symbol's) exactly as the sidecar charges an order it admitted: through the store, as a
synthetic order of one unit at price `notional` that the venue filled at once (its position is then reported
flat again, so the seeded notional moves no position). Entries for one budget add up.

Output: one line per case, `PASS file::name` or `FAIL file::name` followed by the expected and the actual
outcome (with the violation's detail), `ERROR` for a test file or policy that cannot be used, then
`N passed, M failed` (and `, K errors`). The exit code is 0 only when every case passed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO
from urllib.parse import parse_qsl, urlencode

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from riskwall import engine
from riskwall.decider import Evaluation, decide_request, held_by, with_holder
from riskwall.instruments import CATALOG
from riskwall.model import (
    Action,
    Decision,
    EquityUpdate,
    MarginMode,
    OrderIntent,
    OrderUpdate,
    ParsedRequest,
    PositionSide,
    PositionsReport,
    PriceUpdate,
    Reason,
    ResponseFacts,
    Side,
    TradingState,
    Venue,
    Violation,
)
from riskwall.policy.loader import KeyPath, Policy, PolicyError, load_policy, nearest_line, read_yaml, render_path
from riskwall.policy.model import MaxDailyNotional, RateKey
from riskwall.state.base import PendingEntry, PositionKey, Reservation, StateScope, StateStore
from riskwall.state.memory import MemoryStore
from riskwall.venues import HttpRequest, adapter_for, default_host_map, screen

TEST_FILE_SUFFIXES = (".test.yaml", ".test.yml")
# 2026-01-01T00:00:00Z: every case starts on this clock, so a test never depends on the day it runs
START_MS = 1_767_225_600_000
DEFAULT_ACCOUNT = "000000000000"
FINGERPRINT = re.compile(r"^[0-9a-f]{12}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
_ORDER_ACTIONS = (Action.NEW, Action.AMEND)


# ---- evaluation shared with `riskwall replay` -----------------------------------------------------------


def attribute_account(parsed: ParsedRequest, account: str | None) -> ParsedRequest:
    """The same request, attributed to `account` (a fingerprint): for tests and for redacted captures, which
    carry the account but not the API key the adapter would fingerprint."""
    intents = tuple(dataclasses.replace(intent, account=account) for intent in parsed.intents)
    return dataclasses.replace(parsed, account=account, intents=intents)


class ManualClock:
    """Milliseconds that move only when told (the store's injected clock)."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


# ---- the test-file format -------------------------------------------------------------------------------


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


def _duration_ms(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of milliseconds or text such as 250ms, 2s, 1m")
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match[1]) * _UNIT_MS[match[2]]
    raise ValueError("a duration is a number of milliseconds or text such as 250ms, 2s, 1m")


Amount = Annotated[Decimal, Field(allow_inf_nan=False)]
PositiveAmount = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
Symbol = Annotated[str, BeforeValidator(_upper), Field(pattern=r"^[A-Z0-9/:_.-]{1,64}$")]
SideName = Annotated[Side, BeforeValidator(_lower)]
PositionSideName = Annotated[PositionSide, BeforeValidator(_lower)]
ActionName = Annotated[Action, BeforeValidator(_lower)]
StateName = Annotated[TradingState, BeforeValidator(_upper)]
ReasonName = Annotated[Reason, BeforeValidator(_upper)]
Millis = Annotated[int, BeforeValidator(_duration_ms), Field(ge=0)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class PositionSpec(_Spec):
    symbol: Symbol
    qty: Amount
    position_side: PositionSideName = PositionSide.BOTH
    account: str | None = None
    venue: Venue | None = None


class OpenOrderSpec(_Spec):
    symbol: Symbol
    side: SideName = Side.BUY
    # omitted: orders that only count (for max_open_orders), with no pending exposure
    qty: PositiveAmount | None = None
    # that many such orders rest (max_open_orders counts them)
    count: int = Field(default=1, ge=1, le=100_000)
    position_side: PositionSideName = PositionSide.BOTH
    reduce_only: bool = False
    account: str | None = None
    venue: Venue | None = None


class ScopeSpec(_Spec):
    venue: Venue | None = None
    account: str | None = None
    symbol: Symbol | None = None


def _global_scope(value: object) -> object:
    if value == "global":
        return None
    return value


class TradingStateSpec(_Spec):
    scope: Annotated[ScopeSpec | None, BeforeValidator(_global_scope)] = None
    state: StateName
    reason: str = "set by the policy test"


class RecentOrdersSpec(_Spec):
    count: int = Field(ge=1, le=100_000)
    ago: Millis = 0
    symbol: Symbol | None = None
    account: str | None = None
    venue: Venue | None = None


class AllowedOrderSpec(_Spec):
    """An order the firewall allowed `ago` before the case's request; unset keys are the request's."""

    symbol: Symbol | None = None
    side: SideName | None = None
    qty: PositiveAmount | None = None
    price: PositiveAmount | None = None
    trigger_price: PositiveAmount | None = None
    type: Annotated[str, BeforeValidator(_upper)] | None = None
    position_side: PositionSideName | None = None
    ago: Millis = 0
    account: str | None = None
    venue: Venue | None = None


class RejectedOrdersSpec(_Spec):
    """Orders of an account the venue refused `ago` before the case's request (for reject_storm rules)."""

    count: int = Field(ge=1, le=10_000)
    ago: Millis = 0
    account: str | None = None
    venue: Venue | None = None


class EquitySpec(_Spec):
    """An account's equity as the venue reported it earlier the same UTC day (for max_daily_loss rules)."""

    equity: Amount
    account: str | None = None
    venue: Venue | None = None


class DailyNotionalSpec(_Spec):
    """Notional already charged today to a max_daily_notional rule's budget (for the account, or the symbol)."""

    rule: str = Field(min_length=1)
    notional: PositiveAmount
    symbol: Symbol | None = None
    account: str | None = None
    venue: Venue | None = None


class StateSpec(_Spec):
    prices: dict[Symbol, PositiveAmount] = {}
    positions: tuple[PositionSpec, ...] = ()
    open_orders: tuple[OpenOrderSpec, ...] = ()
    trading_states: tuple[TradingStateSpec, ...] = ()
    recent_orders: tuple[RecentOrdersSpec, ...] = ()
    allowed_orders: tuple[AllowedOrderSpec, ...] = ()
    rejected_orders: tuple[RejectedOrdersSpec, ...] = ()
    equity_reports: tuple[EquitySpec, ...] = ()
    daily_notional: tuple[DailyNotionalSpec, ...] = ()


class LegSpec(_Spec):
    symbol: Symbol | None = None
    side: SideName | None = None
    qty: PositiveAmount | None = None
    price: PositiveAmount | None = None
    trigger_price: PositiveAmount | None = None
    type: Annotated[str, BeforeValidator(_upper)] | None = None
    time_in_force: Annotated[str, BeforeValidator(_upper)] | None = None
    reduce_only: bool = False
    close_position: bool = False
    position_side: PositionSideName = PositionSide.BOTH
    leverage: PositiveAmount | None = None
    margin_mode: Annotated[MarginMode, BeforeValidator(_upper)] | None = None
    hedge_mode: bool | None = None
    order_id: str | None = None
    client_order_id: str | None = None


class OrderSpec(LegSpec):
    venue: Venue | None = None
    account: str | None = None
    action: ActionName = Action.NEW
    legs: tuple[LegSpec, ...] | None = None

    @model_validator(mode="after")
    def _some_legs(self) -> OrderSpec:
        if self.legs is not None and not self.legs:
            raise ValueError("`legs` needs at least one leg")
        return self


class HttpSpec(_Spec):
    method: Annotated[str, BeforeValidator(_upper)]
    path: str = Field(pattern=r"^/")
    host: str | None = None
    port: int = Field(default=443, ge=1, le=65535)
    query: Any = ()
    headers: dict[str, str] = {}
    body: str | None = None
    form: dict[str, Any] | None = None
    venue: Venue | None = None
    account: str | None = None

    @model_validator(mode="after")
    def _one_body(self) -> HttpSpec:
        if self.body is not None and self.form is not None:
            raise ValueError("give `body` or `form`, not both")
        _pairs(self.query, "query")
        return self


class RequestSpec(_Spec):
    order: OrderSpec | None = None
    http: HttpSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RequestSpec:
        if (self.order is None) == (self.http is None):
            raise ValueError("give exactly one of `order` and `http`")
        return self


class ViolationSpec(_Spec):
    rule: str | None = None
    reason: ReasonName | None = None
    context: dict[str, Any] = {}
    leg: int | None = Field(default=None, ge=0)


def _verdict_only(value: object) -> object:
    return {"verdict": value} if isinstance(value, str) else value


class ExpectSpec(ViolationSpec):
    verdict: Literal["allow", "block"]
    would_block: ViolationSpec | Literal[False] | None = None

    @model_validator(mode="after")
    def _block_details(self) -> ExpectSpec:
        if self.verdict == "allow" and (self.rule or self.reason or self.context or self.leg is not None):
            raise ValueError("rule, reason, context and leg describe a block; for a shadow rule use would_block")
        return self


class CaseSpec(_Spec):
    name: str = Field(min_length=1)
    description: str | None = None
    state: StateSpec = StateSpec()
    request: RequestSpec
    expect: Annotated[ExpectSpec, BeforeValidator(_verdict_only)]


class TestFileSpec(_Spec):
    policy: str = Field(min_length=1)
    venue: Venue = Venue.BINANCEUSDM
    account: str | None = None
    cases: tuple[CaseSpec, ...]

    @field_validator("cases")
    @classmethod
    def _some_cases(cls, cases: tuple[CaseSpec, ...]) -> tuple[CaseSpec, ...]:
        # checked here, not with min_length: pydantic would also report "0 items" when every case is invalid
        if not cases:
            raise ValueError("a test file needs at least one case")
        return cases


# ---- running --------------------------------------------------------------------------------------------


_SPEC_NAMES = frozenset(cls.__name__ for cls in (
    PositionSpec, OpenOrderSpec, ScopeSpec, TradingStateSpec, RecentOrdersSpec, AllowedOrderSpec, EquitySpec,
    DailyNotionalSpec, StateSpec, LegSpec, OrderSpec,
    HttpSpec, RequestSpec, ViolationSpec, ExpectSpec, CaseSpec, TestFileSpec,
))


class CaseError(Exception):
    """A case that cannot be run as written (an unknown account label, an order without a side, ...)."""


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


async def _run_file(file: Path, override: Path | None, out: TextIO, counts: _Counts) -> None:
    try:
        spec = load_test_file(file)
    except PolicyError as exc:
        counts.errors += 1
        _emit(out, f"ERROR {file}: not a usable test file")
        for error in exc.errors:
            _emit(out, f"  {error}")
        return
    policy_path = override or (file.parent / spec.policy)
    try:
        policy = load_policy(policy_path)
    except PolicyError as exc:
        counts.errors += 1
        _emit(out, f"ERROR {file}: policy {policy_path} is invalid")
        for error in exc.errors:
            _emit(out, f"  {error}")
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
    context = _Context(spec, policy)
    parsed = build_request(case.request, context)
    await seed_state(store, case.state, context, clock, parsed)
    clock.now_ms = START_MS
    return (await decide_request(parsed, policy, store, f"policy-test-{index}")).decision


@dataclass(frozen=True, slots=True)
class _Context:
    spec: TestFileSpec
    policy: Policy

    @property
    def venue(self) -> Venue:
        return self.spec.venue

    def account(self, text: str | None, venue: Venue) -> str:
        """A label or a fingerprint → a fingerprint; None → the file's default account."""
        if text is None:
            return self.account(self.spec.account, venue) if self.spec.account is not None else DEFAULT_ACCOUNT
        if FINGERPRINT.match(text):
            return text
        account = self.policy.accounts.get(text)
        if account is None:
            known = ", ".join(sorted(self.policy.accounts)) or "none"
            raise CaseError(f"account {text!r} is neither a 12-hex-digit fingerprint nor a label of the policy "
                            f"(labels: {known})")
        if account.venue is not None and account.venue != venue:
            raise CaseError(f"account label {text!r} belongs to venue {account.venue}, not {venue}")
        return account.fingerprints[0]

    def holder(self, text: str | None, venue: Venue) -> str:
        """The account a case's state is kept under: the key's label where the policy names one (as in the
        sidecar, so a position seeded for one key of an account counts for all of them)."""
        fingerprint = self.account(text, venue)
        return self.policy.holder(venue, fingerprint) or fingerprint


# ---- requests -------------------------------------------------------------------------------------------


def build_request(request: RequestSpec, context: _Context) -> ParsedRequest:
    if request.order is not None:
        return _order_request(request.order, context)
    assert request.http is not None  # guaranteed by RequestSpec
    return _http_request(request.http, context)


def _order_request(order: OrderSpec, context: _Context) -> ParsedRequest:
    venue = order.venue or context.venue
    explicit_none = "account" in order.model_fields_set and order.account is None
    account = None if explicit_none else context.account(order.account, venue)
    endpoint = f"policy-test {order.action}"
    base = {name: getattr(order, name) for name in LegSpec.model_fields}
    legs = order.legs or (LegSpec(),)
    intents = []
    for number, leg in enumerate(legs):
        fields = base | {name: getattr(leg, name) for name in leg.model_fields_set}
        where = f"legs[{number}]" if order.legs else "order"
        intents.append(_intent(fields, order.action, venue, account, endpoint, where))
    return ParsedRequest(venue, order.action, endpoint, account, tuple(intents))


def _intent(fields: dict[str, Any], action: Action, venue: Venue, account: str | None, endpoint: str,
            where: str) -> OrderIntent:
    symbol: str | None = fields["symbol"]
    if action in _ORDER_ACTIONS:
        missing = [name for name in ("symbol", "side") if fields[name] is None]
        if fields["qty"] is None and not fields["close_position"]:
            missing.append("qty")
        if missing:
            raise CaseError(f"{where}: an order of action {action} needs {', '.join(missing)}")
    if action is Action.SET_LEVERAGE and (symbol is None or fields["leverage"] is None):
        raise CaseError(f"{where}: a set_leverage request needs symbol and leverage")
    order_type = fields["type"]
    if order_type is None and action in _ORDER_ACTIONS:
        order_type = "LIMIT" if fields["price"] is not None else "MARKET"
    return OrderIntent(
        venue=venue,
        action=action,
        endpoint=endpoint,
        account=account,
        symbol=symbol,
        unified_symbol=CATALOG.unified(venue, symbol) if symbol else None,
        side=fields["side"],
        position_side=fields["position_side"],
        quantity=fields["qty"],
        price=fields["price"],
        trigger_price=fields["trigger_price"],
        order_type=order_type,
        time_in_force=fields["time_in_force"],
        reduce_only=fields["reduce_only"],
        close_position=fields["close_position"],
        leverage=fields["leverage"],
        margin_mode=fields["margin_mode"],
        hedge_mode=fields["hedge_mode"],
        client_order_id=fields["client_order_id"],
        order_id=fields["order_id"],
    )


def _http_request(spec: HttpSpec, context: _Context) -> ParsedRequest:
    venue = spec.venue or (default_host_map().venue(spec.host) if spec.host else None) or context.venue
    try:
        adapter = adapter_for(venue)
    except KeyError:
        raise CaseError(f"venue {venue} has no adapter yet") from None
    host = (spec.host or adapter.default_hosts[0]).lower()
    path, _, inline_query = spec.path.partition("?")
    query = parse_qsl(inline_query, keep_blank_values=True) + _pairs(spec.query, "query")
    headers = {name.lower(): value for name, value in spec.headers.items()}
    body = b""
    if spec.form is not None:
        body = urlencode(_pairs(spec.form, "form")).encode()
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    elif spec.body is not None:
        body = spec.body.encode()
    request = HttpRequest(spec.method, host, spec.port, path, tuple(query), headers, body)
    parsed = screen(adapter, request)
    if "account" in spec.model_fields_set:
        return attribute_account(parsed, None if spec.account is None else context.account(spec.account, venue))
    if parsed.account is None:
        return attribute_account(parsed, context.account(None, venue))
    return parsed


def _pairs(value: Any, name: str) -> list[tuple[str, str]]:
    """A map or a list of [key, value] pairs → (key, text) pairs; nested lists and maps become JSON."""
    if isinstance(value, dict):
        items: Iterable[Any] = value.items()
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ValueError(f"{name} must be a map or a list of [key, value] pairs")
    pairs = []
    for item in items:
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ValueError(f"{name} must be a map or a list of [key, value] pairs")
        pairs.append((str(item[0]), _param_text(item[1])))
    return pairs


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"), default=_json_default)
    return "" if value is None else str(value)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value, "f")  # venues take amounts as strings inside JSON (Binance's batchOrders)
    raise TypeError(f"{type(value).__name__} cannot be sent in a request")


# ---- state ----------------------------------------------------------------------------------------------


async def seed_state(store: MemoryStore, state: StateSpec, context: _Context, clock: ManualClock,
                     parsed: ParsedRequest) -> None:
    """Put `state` into a fresh store through its public methods, as responses and operators would."""
    venue = context.venue
    default_symbol = next((i.symbol for i in parsed.intents if i.symbol), None)
    for number, spent in enumerate(state.daily_notional):  # before the positions: its fill is reported flat
        await _charge_daily_notional(store, context, spent, default_symbol, f"policy-test-notional-{number}")
    prices = tuple(PriceUpdate(venue, symbol, price, "mark") for symbol, price in state.prices.items())
    positions = tuple(
        PositionsReport(
            p.venue or venue, context.holder(p.account, p.venue or venue), p.symbol,
            ((p.symbol, p.position_side, p.qty),),
        )
        for p in state.positions
    )
    orders = tuple(
        OrderUpdate(
            venue=o.venue or venue,
            account=context.holder(o.account, o.venue or venue),
            symbol=o.symbol,
            order_id=f"policy-test-open-{number}-{copy}",
            side=o.side,
            position_side=o.position_side,
            original=o.qty or Decimal(0),
            executed=Decimal(0),
            final=False,
            reduce_only=o.reduce_only or _closes(o.side, o.position_side),
        )
        for number, o in enumerate(state.open_orders)
        for copy in range(o.count)
    )
    await store.learn(ResponseFacts(prices=prices, orders=orders, positions=positions))
    for entry in state.trading_states:
        await store.set_trading_state(_scope(entry.scope, context), entry.state, entry.reason, "policy-test")
    for number, recent in enumerate(sorted(state.recent_orders, key=lambda r: -r.ago)):  # oldest first
        recent_venue = recent.venue or venue
        account = context.account(recent.account, recent_venue)
        clock.now_ms = START_MS - recent.ago
        await _prefill_rate(store, context.policy, recent_venue, account, recent.symbol or default_symbol,
                            recent.count, f"policy-test-recent-{number}")
    template = next((i for i in parsed.intents if i.action in _ORDER_ACTIONS), None)
    for number, allowed in enumerate(sorted(state.allowed_orders, key=lambda a: -a.ago)):  # oldest first
        clock.now_ms = START_MS - allowed.ago
        await _record_allowed(store, context, allowed, template, f"policy-test-allowed-{number}")
    for number, rejected in enumerate(sorted(state.rejected_orders, key=lambda r: -r.ago)):  # oldest first
        clock.now_ms = START_MS - rejected.ago
        rejected_venue = rejected.venue or venue
        await _count_rejected(store, context.policy, rejected_venue, context.account(rejected.account, rejected_venue),
                              rejected.count, f"policy-test-rejected-{number}")
    clock.now_ms = START_MS
    for report in state.equity_reports:  # in the order written: the first is the day's baseline
        report_venue = report.venue or venue
        await _report_equity(store, context.policy, report_venue, context.account(report.account, report_venue),
                             report.equity)


def _closes(side: Side, position_side: PositionSide) -> bool:
    return (position_side is PositionSide.LONG and side is Side.SELL) or (
        position_side is PositionSide.SHORT and side is Side.BUY
    )


def _scope(scope: ScopeSpec | None, context: _Context) -> StateScope:
    if scope is None:
        return StateScope()
    venue = scope.venue or context.venue
    account = context.account(scope.account, venue) if scope.account is not None else None
    return StateScope(venue, account, scope.symbol)


async def _prefill_rate(store: StateStore, policy: Policy, venue: Venue, account: str, symbol: str | None,
                        count: int, decision_id: str) -> None:
    """Count `count` orders as admitted now, in every rate window the engine would count such an order in."""
    intent = OrderIntent(venue, Action.NEW, "policy-test recent", account, symbol,
                         CATALOG.unified(venue, symbol) if symbol else None, Side.BUY)
    request = with_holder(ParsedRequest(venue, Action.NEW, intent.endpoint, account, (intent,)), policy)
    plan = engine.plan(request, policy, await store.view(engine.view_query(request, policy)), decision_id)
    if plan.reservation is None or not plan.reservation.rate:
        return
    # not enforced, so the store commits them even past a limit: the state says they were admitted
    rate = tuple(dataclasses.replace(check, cost=count, enforced=False) for check in plan.reservation.rate)
    await store.reserve(Reservation(decision_id, rate))


async def _count_rejected(store: StateStore, policy: Policy, venue: Venue, account: str, count: int,
                          decision_id: str) -> None:
    """Count `count` orders of `account` as refused by the venue now, under every reject-storm rule that counts
    them: a storm that reaches its limit trips and sets the account's state, as in the sidecar."""
    intent = OrderIntent(venue, Action.NEW, "policy-test rejected", account)
    request = with_holder(ParsedRequest(venue, Action.NEW, intent.endpoint, account, (intent,)), policy)
    counts = engine.reject_counts(request, policy, tuple(range(count)), decision_id)
    if counts:
        await store.count_rejections(counts)


async def _report_equity(store: StateStore, policy: Policy, venue: Venue, account: str, equity: Decimal) -> None:
    """Measure `equity` of `account` under every daily-loss rule, as the sidecar measures an account answer's:
    the first of the day is the baseline, a loss beyond a rule's limit trips it and sets the account's state."""
    parsed = with_holder(ParsedRequest(venue, Action.READ, "policy-test equity", account), policy)
    facts = held_by(ResponseFacts(equity=(EquityUpdate(venue, account, equity, "USD"),)), parsed)
    checks = engine.loss_checks(policy, venue, account, facts.equity)
    if checks:
        await store.measure_losses(checks)


async def _charge_daily_notional(store: StateStore, context: _Context, spent: DailyNotionalSpec,
                                 default_symbol: str | None, decision_id: str) -> None:
    """Charge `spent.notional` to the budget of the daily-notional rule `spent.rule` as the sidecar charges an
    order it admitted: a leg of one unit at price `notional`, which the venue answers filled; the position the
    fill opened is then reported flat, so only the day's notional is left behind."""
    rule = next((r for r in context.policy.rules if r.id == spent.rule), None)
    if type(rule) is not MaxDailyNotional:
        known = ", ".join(r.id for r in context.policy.rules if type(r) is MaxDailyNotional) or "none"
        raise CaseError(f"state.daily_notional: {spent.rule!r} is not a max_daily_notional rule of the policy "
                        f"(those: {known})")
    venue = spent.venue or context.venue
    holder = context.holder(spent.account, venue)
    symbol = spent.symbol or default_symbol
    if symbol is None:
        raise CaseError("state.daily_notional: give `symbol` (the request has none to lend it)")
    budget = f"{rule.id}|{venue}|{holder}" + (f"|{symbol}" if rule.per is RateKey.SYMBOL else "")
    position = PositionKey(venue, holder, symbol, PositionSide.BOTH)
    unit = Decimal(1)
    leg = PendingEntry(f"{decision_id}:0", position, Side.BUY, unit, opens=True, budgets=(budget,),
                       price=spent.notional)
    await store.reserve(Reservation(decision_id, pending=(leg,)))
    filled = OrderUpdate(venue, holder, symbol, decision_id, Side.BUY, PositionSide.BOTH, unit, unit, True,
                         reservation_id=leg.leg_id)
    await store.settle(ResponseFacts(orders=(filled,)), decision_id)
    await store.learn(ResponseFacts(positions=(PositionsReport(venue, holder, symbol,
                                                               ((symbol, PositionSide.BOTH, Decimal(0)),)),)))


async def _record_allowed(store: StateStore, context: _Context, allowed: AllowedOrderSpec,
                          template: OrderIntent | None, decision_id: str) -> None:
    """Record `allowed` as admitted now, under every duplicate rule the engine would check such an order with."""
    given = allowed.model_fields_set
    venue = allowed.venue or (template.venue if template else context.venue)
    if allowed.account is not None or template is None or template.account is None:
        account = context.account(allowed.account, venue)
    else:
        account = template.account
    fields: dict[str, Any] = {
        "symbol": template.symbol if template else None, "side": template.side if template else None,
        "qty": template.quantity if template else None, "price": template.price if template else None,
        "trigger_price": template.trigger_price if template else None,
        "type": template.order_type if template else None,
        "position_side": template.position_side if template else PositionSide.BOTH,
    }
    fields |= {name: getattr(allowed, name) for name in given if name in fields}
    if "type" not in given and (fields["type"] is None or ("price" in given and fields["type"] == "MARKET")):
        fields["type"] = "LIMIT" if fields["price"] is not None else "MARKET"  # as a request's order defaults
    missing = [name for name in ("symbol", "side", "qty") if fields[name] is None]
    if missing:
        raise CaseError(f"state.allowed_orders: an allowed order needs {', '.join(missing)} (the request has none "
                        "to lend it)")
    symbol = fields["symbol"]
    intent = OrderIntent(venue, Action.NEW, "policy-test allowed", account, symbol, CATALOG.unified(venue, symbol),
                         fields["side"], fields["position_side"], fields["qty"], fields["price"],
                         fields["trigger_price"], fields["type"])
    request = with_holder(ParsedRequest(venue, Action.NEW, intent.endpoint, account, (intent,)), context.policy)
    view = await store.view(engine.view_query(request, context.policy))
    plan = engine.plan(request, context.policy, view, decision_id)
    if plan.reservation is None or not plan.reservation.duplicates:
        return
    # not enforced, so the store records them even where one repeats another: the state says they were admitted
    duplicates = tuple(dataclasses.replace(check, enforced=False) for check in plan.reservation.duplicates)
    await store.reserve(Reservation(decision_id, duplicates=duplicates))


# ---- expectations ---------------------------------------------------------------------------------------


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
            problems.append(f"{what} has {key}={observed}, not {_param_text(value)}")
    return problems


def _same(observed: str, expected: Any) -> bool:
    text = _param_text(expected) if not isinstance(expected, bool) else str(expected)
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
        text += " with " + ", ".join(f"{k}={_param_text(v)}" for k, v in spec.context.items())
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


# ---- reading test files ---------------------------------------------------------------------------------



def load_test_file(file: Path) -> TestFileSpec:
    """Parse and validate one test file; every problem is reported at once, with line and key path."""
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise PolicyError([f"{file}: cannot be read: {exc.strerror}"]) from None
    data, lines = read_yaml(file, text, "`policy` and `cases`")
    try:
        spec = TestFileSpec.model_validate(data)
    except ValidationError as exc:
        raise PolicyError([_describe_error(file, lines, error) for error in exc.errors()]) from None
    first: dict[str, int] = {}
    errors = []
    for index, case in enumerate(spec.cases):
        if case.name in first:
            errors.append(f"{file}:{lines.get(('cases', index, 'name'))}: cases[{index}].name: {case.name!r} is "
                          f"also the name of cases[{first[case.name]}]; names must be unique in a file")
        first.setdefault(case.name, index)
    if errors:
        raise PolicyError(errors)
    return spec


def _describe_error(file: Path, lines: dict[KeyPath, int], error: Any) -> str:
    # drop pydantic's union markers (`literal[False]`, `ViolationSpec`) so the path reads as the file is written
    path: KeyPath = tuple(
        part for part in error["loc"] if not (isinstance(part, str) and ("[" in part or part in _SPEC_NAMES))
    )
    line = nearest_line(lines, path)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{file}:{line}: {render_path(path) or '(top level)'}: {message}" if line else f"{file}: {message}"


__all__ = [
    "DEFAULT_ACCOUNT",
    "START_MS",
    "TEST_FILE_SUFFIXES",
    "CaseError",
    "Evaluation",
    "ManualClock",
    "TestFileSpec",
    "add_arguments",
    "attribute_account",
    "decide_request",
    "discover",
    "load_test_file",
    "main",
    "run_policy_tests",
]
