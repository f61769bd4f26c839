"""``@record`` (fleetctl/core/records.py) behaves as the standard dataclass decorator would.

Every ``@record`` class of fleetctl and its TUI is compared with a twin the standard decorator
makes from the same fields: repr, equality (same values, one value changed, another class),
hash, and whether instances are hashable at all."""

from __future__ import annotations

import dataclasses
import importlib
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
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    specs = [(f.name, f.type, dataclasses.field(repr=f.repr, compare=f.compare, hash=f.hash))
             for f in dataclasses.fields(cls)]
    twin = dataclasses.make_dataclass(cls.__name__, specs, frozen=params.frozen)
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
