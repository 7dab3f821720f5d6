"""The test-file format: pydantic specs of a `*.test.yaml` file, and reading one with every error at once.

The format itself is documented in this package's docstring (`riskwall.policy.testing`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from riskwall.model import Action, MarginMode, PositionSide, Reason, Side, TradingState, Venue
from riskwall.policy.loader import KeyPath, PolicyError, nearest_line, read_yaml, render_path

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


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
    # the venue's id of the order, for a request that amends it (one order: count 1); else one is made up
    order_id: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _one_order_per_id(self) -> Self:
        if self.order_id is not None and self.count != 1:
            raise ValueError("order_id names one order: give it with count 1")
        return self


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
        param_pairs(self.query, "query")
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


# the specs' class names, which pydantic puts in an error's location for a union's member
_SPEC_NAMES = frozenset(cls.__name__ for cls in (
    PositionSpec, OpenOrderSpec, ScopeSpec, TradingStateSpec, RecentOrdersSpec, AllowedOrderSpec, EquitySpec,
    DailyNotionalSpec, StateSpec, LegSpec, OrderSpec,
    HttpSpec, RequestSpec, ViolationSpec, ExpectSpec, CaseSpec, TestFileSpec,
))


# ---- values as a request carries them (here, not in `requests`: HttpSpec validates its query with them)


def param_pairs(value: Any, name: str) -> list[tuple[str, str]]:
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
        pairs.append((str(item[0]), param_text(item[1])))
    return pairs


def param_text(value: Any) -> str:
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


# ---- reading a test file ---------------------------------------------------------------------------------


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
