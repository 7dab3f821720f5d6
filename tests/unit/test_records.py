"""`riskwall.records.quick_init`: every record given the cheaper `__init__` is built exactly as its dataclass
`__init__` would build it, stays frozen, and a class it cannot copy faithfully is refused."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from dataclasses import InitVar, dataclass, field
from typing import Any

import pytest

import riskwall
from riskwall.records import REPLACED, quick_init, replace

# every module imported, so every decorated class is registered
for _module in pkgutil.walk_packages(riskwall.__path__, "riskwall."):
    importlib.import_module(_module.name)

RECORDS = sorted(REPLACED, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


class Given:
    """A value no default equals: which field holds it shows where each argument went."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Given({self.name})"


def built_both_ways(cls: type, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    quick = cls(*args, **kwargs)
    reference = object.__new__(cls)
    REPLACED[cls](reference, *args, **kwargs)
    return quick, reference


def values(record: Any) -> list[Any]:
    return [getattr(record, f.name) for f in dataclasses.fields(record)]


def test_records_when_the_sidecar_is_imported_then_the_hot_ones_have_the_quick_init() -> None:
    names = {cls.__qualname__ for cls in RECORDS}
    assert {"OrderIntent", "ParsedRequest", "Reservation", "Plan", "HttpRequest", "Evaluation"} <= names


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
@pytest.mark.parametrize("how", ["positional", "keyword", "defaults"])
def test_build_record_when_quick_then_the_same_as_the_dataclass_would(cls: type, how: str) -> None:
    fields = dataclasses.fields(cls)
    required = [f for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    given = {f.name: Given(f.name) for f in (required if how == "defaults" else fields)}
    if how == "positional":
        quick, reference = built_both_ways(cls, *given.values())
    else:
        quick, reference = built_both_ways(cls, **given)

    for f, mine, theirs in zip(fields, values(quick), values(reference), strict=True):
        assert mine == theirs, f.name
        if f.name in given and not hasattr(cls, "__post_init__"):  # which a __post_init__ may rewrite
            assert mine is given[f.name], f.name
    assert str(inspect.signature(cls.__init__)) == str(inspect.signature(REPLACED[cls]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(quick, fields[0].name, None)


def test_build_record_when_a_field_has_a_default_factory_then_each_record_gets_its_own() -> None:
    @quick_init
    @dataclass(frozen=True, slots=True)
    class Book:
        name: str
        orders: dict[str, int] = field(default_factory=dict)
        limit: int = 5

    first, second = Book("a"), Book("b", limit=7)

    assert first.orders == {} and first.orders is not second.orders
    assert (first.limit, second.limit) == (5, 7)
    assert Book("c", {"x": 1}).orders == {"x": 1}


def test_build_record_when_it_has_a_post_init_then_it_runs() -> None:
    @quick_init
    @dataclass(frozen=True, slots=True)
    class Positive:
        amount: int

        def __post_init__(self) -> None:
            if self.amount <= 0:
                raise ValueError("amount must be positive")

    assert Positive(3).amount == 3
    with pytest.raises(ValueError, match="positive"):
        Positive(0)


# classes quick_init must refuse: their dataclass __init__ does something it does not copy, or they are no record
@dataclass(frozen=True, slots=True)
class KwOnly:
    a: int
    b: int = field(kw_only=True, default=0)


@dataclass(frozen=True, slots=True)
class Hidden:
    a: int
    b: int = field(init=False, default=0)


@dataclass(frozen=True, slots=True)
class WithInitVar:
    a: int
    scale: InitVar[int] = 1


@dataclass(slots=True)
class Mutable:
    a: int


@dataclass(frozen=True)
class Plain:
    a: int


@dataclass(frozen=True, slots=True)
class Clash:
    _set0: int  # the name of the generated __init__'s first setter


@pytest.mark.parametrize("cls", [KwOnly, Hidden, WithInitVar, Mutable, Plain, Clash],
                         ids=["keyword-only", "init-false", "init-var", "not-frozen", "no-slots", "clashing-name"])
def test_quick_init_when_the_class_is_not_a_plain_frozen_slotted_record_then_refused(cls: type) -> None:
    with pytest.raises(TypeError, match="quick_init"):
        quick_init(cls)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__qualname__)
def test_replace_record_when_quick_then_the_same_as_dataclasses_replace(cls: type) -> None:
    fields = dataclasses.fields(cls)
    record = cls(**{f.name: Given(f.name) for f in fields})
    for changed in ([], fields[:1], fields[-1:], fields):
        changes = {f.name: Given(f"new {f.name}") for f in changed}

        mine, theirs = replace(record, **changes), dataclasses.replace(record, **changes)

        assert type(mine) is cls and mine is not record
        for f, value, expected in zip(fields, values(mine), values(theirs), strict=True):
            assert value == expected, f.name
            if not hasattr(cls, "__post_init__"):  # which a __post_init__ may rewrite
                assert value is (changes[f.name] if f.name in changes else getattr(record, f.name)), f.name


def test_replace_record_when_a_change_names_no_field_then_refused_as_dataclasses_refuses() -> None:
    record = RECORDS[0](**{f.name: Given(f.name) for f in dataclasses.fields(RECORDS[0])})

    with pytest.raises(TypeError) as mine:
        replace(record, no_such_field=1)
    with pytest.raises(TypeError) as theirs:
        dataclasses.replace(record, no_such_field=1)
    assert str(mine.value) == str(theirs.value)


def test_replace_record_when_the_class_has_no_quick_init_then_dataclasses_replace_does_it() -> None:
    assert replace(Plain(1), a=2) == Plain(2)
    with pytest.raises(TypeError):
        replace(Plain(1), b=2)
