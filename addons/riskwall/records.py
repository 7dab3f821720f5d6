"""A cheaper `__init__` for the frozen, slotted dataclasses built on every order.

A frozen dataclass's generated `__init__` sets each field with `object.__setattr__(self, name, value)`, which looks
the name up through the class every time: for the dozen-field records a decision builds (the request, its legs,
the plan, the reservation and its checks, the outcome) that was about a sixth of the engine's time per order and
~4% of the sidecar's CPU. `quick_init` gives such a class an `__init__` with the very same signature that sets each
slot through the slot's own descriptor, found once when the class is built; everything else (immutability, `==`,
`hash`, `repr`, `dataclasses.replace`, pickling) stays the dataclass's. A class whose dataclass `__init__` takes
anything but its fields, in order (an `InitVar`, a keyword-only or `init=False` field), is refused when it is
decorated, never built differently.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any


class _Factory:
    """Stands for "not given" on a field with a default factory, as dataclasses' own sentinel does."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()

# each class given the cheaper __init__, with the dataclass's own: the tests build every one both ways and compare
REPLACED: dict[type, Any] = {}


def quick_init[T](cls: type[T]) -> type[T]:
    """`cls` (a `@dataclass(frozen=True, slots=True)`, decorated first) with the cheaper `__init__`."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in vars(cls):
        raise TypeError(f"quick_init: {cls.__name__} is not a frozen dataclass with slots")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    # the dataclass's own __init__ must take exactly the fields, in order and by position (no InitVar, no
    # keyword-only or init=False field): what it would do otherwise is not this function's to copy
    taken = [(p.name, p.kind) for p in inspect.signature(cls.__init__).parameters.values()][1:]
    if taken != [(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for f in fields]:
        raise TypeError(f"quick_init: {cls.__name__}'s __init__ does not take exactly its fields")
    env: dict[str, Any] = {"_FACTORY": _FACTORY}
    signature: list[str] = []
    body: list[str] = []
    for index, field in enumerate(fields):
        setter = f"_set{index}"
        env[setter] = vars(cls)[field.name].__set__  # the slot's member descriptor
        value = field.name
        if field.default is not dataclasses.MISSING:
            env[f"_default{index}"] = field.default
            signature.append(f"{field.name}=_default{index}")
        elif field.default_factory is not dataclasses.MISSING:
            env[f"_factory{index}"] = field.default_factory
            signature.append(f"{field.name}=_FACTORY")
            value = f"_factory{index}() if {field.name} is _FACTORY else {field.name}"
        else:
            signature.append(field.name)
        body.append(f"    {setter}(self, {value})")
    if {field.name for field in fields} & {*env, "self"}:
        raise TypeError(f"quick_init: a field of {cls.__name__} is named like one of the __init__'s own names")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(signature)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, env)  # noqa: S102 - the text is built above from the class's own field names, as dataclasses does
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)  # what introspection reads of the signature
    REPLACED[cls] = cls.__init__
    cls.__init__ = init  # type: ignore[method-assign]
    _REPLACERS[cls] = _replacer(cls, fields)
    return cls


# each quick_init class's `replace`, generated with its `__init__`
_REPLACERS: dict[type, Any] = {}


def replace[T](record: T, /, **changes: Any) -> T:
    """`dataclasses.replace(record, **changes)`: the same record, built without walking the class's fields on
    every call (dataclasses does) when its class has `quick_init`; dataclasses' own for any other class, and for
    a change that names no field (which it refuses as it does)."""
    replacer = _REPLACERS.get(type(record))
    if replacer is None:
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]
    return replacer(record, changes)  # type: ignore[no-any-return]


def _replacer(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Any:
    # the record's own value for each field not changed, passed by position to the class (its quick __init__)
    arguments = ", ".join(f"get({field.name!r}, record.{field.name})" for field in fields)
    source = ("def replace(record, changes):\n"
              "    if not changes.keys() <= _names:\n"
              "        return _dataclasses_replace(record, **changes)\n"
              "    get = changes.get\n"
              f"    return _cls({arguments})\n")
    env: dict[str, Any] = {"_cls": cls, "_names": frozenset(field.name for field in fields),
                           "_dataclasses_replace": dataclasses.replace}
    exec(source, env)  # noqa: S102 - built from the class's own field names, as its __init__ above
    return env["replace"]
