"""``@record`` (fleetctl/core/records.py) behaves as the standard dataclass decorator would.

Every ``@record`` class of fleetctl and its TUI is compared with a twin the standard decorator
makes from the same fields: repr, equality (same values, one value changed, another class),
hash, and whether instances are hashable at all."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from typing import Any

import pytest

import fleetctl
from fleetctl.core import records
from fleetctl.core.records import record


def _all_record_classes() -> list[type]:
    for info in pkgutil.walk_packages(fleetctl.__path__, "fleetctl."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional extra not installed here
            continue
    found: dict[str, type] = {}
    for module in list(importlib.sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("fleetctl"):
            continue
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value) \
                    and (value.__dict__.get("__eq__") is records._eq or value.__dict__.get("__repr__") is records._repr):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


CLASSES = _all_record_classes()


def _twin(cls: type) -> type:
    """What the standard decorator makes of the same fields (and the same ``__post_init__``)."""
    specs = [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory,
                                                init=f.init, repr=f.repr, compare=f.compare, hash=f.hash,
                                                kw_only=f.kw_only))
             for f in dataclasses.fields(cls)]
    namespace = {"__post_init__": cls.__post_init__} if hasattr(cls, "__post_init__") else None
    twin = dataclasses.make_dataclass(cls.__name__, specs, frozen=records.is_frozen(cls), namespace=namespace)
    twin.__qualname__ = cls.__qualname__
    return twin


def _make(cls: type, values: dict[str, Any]) -> Any:
    obj = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(obj, name, value)
    return obj


def test_the_codebase_uses_it():
    assert len(CLASSES) >= 80, [c.__qualname__ for c in CLASSES]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_a_record_class_behaves_as_its_dataclass_twin(cls: type) -> None:
    twin = _twin(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {n: (i, f"v{i}") for i, n in enumerate(names)}
    ours, theirs = _make(cls, values), _make(twin, values)
    if cls.__dict__.get("__repr__") is records._repr:  # else the class's own (kept, as dataclass keeps it)
        assert repr(ours) == repr(theirs)
    if cls.__dict__.get("__eq__") is not records._eq:
        return
    same, same_twin = _make(cls, dict(values)), _make(twin, dict(values))
    assert (ours == same) is (theirs == same_twin) is True
    assert (ours != same) is (theirs != same_twin) is False
    assert ours.__eq__(object()) is NotImplemented and ours != (1, 2)
    own_hash = "__hash__" in cls.__dict__ and cls.__dict__["__hash__"] not in (None, records._hash)
    if not own_hash:
        assert (cls.__hash__ is None) is (twin.__hash__ is None)
        if twin.__hash__ is not None:
            assert hash(ours) == hash(theirs) == hash(same)
    for name in names:
        changed = dict(values, **{name: "other"})
        field = next(f for f in dataclasses.fields(cls) if f.name == name)
        assert (ours == _make(cls, changed)) is (theirs == _make(twin, changed)) is (not field.compare)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_a_record_class_is_built_as_its_dataclass_twin(cls: type) -> None:
    """The ``__init__`` written at the first instance: the twin's signature; given the same
    arguments, the same values, or the same error (a ``__post_init__`` refusing them); frozen
    as the twin is."""
    twin = _twin(cls)
    if "__init__" in vars(cls) and vars(cls)["__init__"].__qualname__ != f"{cls.__qualname__}.__init__":
        return  # the class's own
    if isinstance(vars(cls).get("__doc__"), records._LazyDoc):  # no docstring of its own: the decorator's
        assert cls.__doc__ == twin.__doc__ and vars(cls)["__doc__"] == twin.__doc__
    assert str(inspect.signature(cls)) == str(inspect.signature(twin))
    args = {p.name: (i, f"v{i}") for i, p in enumerate(inspect.signature(twin).parameters.values())
            if p.default is inspect.Parameter.empty}
    outcomes = []
    for kind in (cls, twin):
        try:
            obj = kind(**args)
        except Exception as exc:  # noqa: BLE001 (the same refusal is what is compared)
            outcomes.append((type(exc), str(exc)))
            continue
        outcomes.append(tuple(getattr(obj, f.name, "<unset>") if f.default_factory is dataclasses.MISSING
                              else type(getattr(obj, f.name, None))  # a new object each time: its kind
                              for f in dataclasses.fields(kind)))
        if records.is_frozen(kind) and dataclasses.fields(kind):
            name = dataclasses.fields(kind)[0].name
            with pytest.raises(dataclasses.FrozenInstanceError, match=f"cannot assign to field {name!r}"):
                setattr(obj, name, 1)
            with pytest.raises(dataclasses.FrozenInstanceError, match=f"cannot delete field {name!r}"):
                delattr(obj, name)
    assert outcomes[0] == outcomes[1]


def test_init_written_at_first_use_behaves_as_the_decorator_s() -> None:
    """Defaults, factories, keyword-only and init=False fields, InitVar and __post_init__, a
    field named self, the order of defaults checked at once, frozen subclassing rules."""
    @record(frozen=True)
    class Full:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)
        c: str = "c"
        d: int = dataclasses.field(default=4, init=False)
        e: list[int] = dataclasses.field(default_factory=lambda: [5], init=False)
        f: dataclasses.InitVar[int] = 0
        g: int = dataclasses.field(default=7, kw_only=True)
        h: int = dataclasses.field(init=False, default=0)

        def __post_init__(self, f: int) -> None:
            object.__setattr__(self, "h", self.a + f)

    one = Full(1, f=2, g=8)
    assert (one.a, one.b, one.c, one.d, one.e, one.g, one.h) == (1, [], "c", 4, [5], 8, 3)
    assert Full(1).b is not Full(1).b and "f" not in vars(one)
    assert str(inspect.signature(Full)).startswith("(a: 'int', b: 'list[int]' = <factory>, c: 'str' = 'c', f:")
    with pytest.raises(TypeError, match="positional argument"):
        Full(1, [], "c", 0, 9)  # type: ignore[misc]  # g is keyword-only
    with pytest.raises(TypeError, match=r"Full.__init__\(\) missing 1 required positional argument: 'a'"):
        Full()  # type: ignore[call-arg]

    @record
    class Selfish:
        self: int
        other: int = 2

    assert (Selfish(1).self, Selfish(1, 3).other) == (1, 3)
    assert Selfish.__doc__ == "Selfish(self: 'int', other: 'int' = 2)" and Selfish(1).__doc__ == Selfish.__doc__
    assert Full.__doc__.startswith("Full(a: 'int', b: 'list[int]' = <factory>, c: 'str' = 'c', f: ")
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        @record
        class Bad:
            a: int = 1
            b: int  # type: ignore[misc]
    with pytest.raises(TypeError, match="cannot inherit non-frozen dataclass from a frozen one"):
        @record
        class Thawed(Full):
            pass

    @record(frozen=True)
    class Child(Full):
        z: int = 26

    child = Child(1, z=3)
    assert (child.a, child.z, child.h) == (1, 3, 1) and dataclasses.replace(child, a=5).h == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.z = 4  # type: ignore[misc]

    class Plain(Full):  # not a dataclass: its own attributes may be set, the fields may not
        pass

    plain = Plain(1)
    plain.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plain.a = 2  # type: ignore[misc]
    import copy

    assert copy.deepcopy(child) == child and copy.copy(child) == child  # as pickling does: no __setattr__


def test_methods_of_the_body_and_recursion_and_slots() -> None:
    @record(frozen=True)
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:
            return True

    assert repr(Own(1)) == "own" and Own(1) == 5 and hash(Own(1)) == hash((1,))

    @record
    class Node:
        value: int
        nxt: Any = None
        note: str = dataclasses.field(default="", repr=False, compare=False)

    node = Node(1)
    node.nxt = node
    assert repr(node) == f"{Node.__qualname__}(value=1, nxt=...)"
    assert Node(1, note="a") == Node(1, note="b") and Node.__hash__ is None

    @record(frozen=True, slots=True)
    class Slotted:
        a: int
        b: str = "x"

    assert Slotted(1) == Slotted(1, "x") and hash(Slotted(1)) == hash((1, "x")) and not hasattr(Slotted(1), "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        Slotted(1).a = 2  # type: ignore[misc]

    @record(frozen=True, order=True)
    class Ordered:
        a: int

    assert Ordered(1) < Ordered(2) and Ordered(1) == Ordered(1)


def test_frozen_fields_go_where_the_decorator_puts_them() -> None:
    """A frozen record without slots stores its fields straight in the instance's __dict__, unless
    a class of its MRO has a descriptor for a field (here a property with a setter): then
    object.__setattr__ runs that descriptor, as the decorator's __init__ does."""

    class Base:
        @property
        def x(self) -> int:
            return self._x  # type: ignore[no-any-return, attr-defined]

        @x.setter
        def x(self, value: int) -> None:
            object.__setattr__(self, "_x", value * 2)

    def make(decorate: Any) -> type:
        class R(Base):
            x: int  # type: ignore[assignment]
            y: str = "y"
        return decorate(frozen=True)(R)  # type: ignore[no-any-return]

    ours, theirs = make(record)(3), make(dataclasses.dataclass)(3)  # type: ignore[call-arg]
    assert (ours.x, ours.y, vars(ours)) == (theirs.x, theirs.y, vars(theirs)) == (6, "y", {"_x": 6, "y": "y"})

    @record(frozen=True)
    class Plain:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    plain = Plain(1)
    assert vars(plain) == {"a": 1, "b": []} and "__dataclass_dict__" in records._build_init(Plain, False, True).__code__.co_varnames
