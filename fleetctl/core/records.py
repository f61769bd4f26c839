"""``@record``: a dataclass whose ``__repr__``, ``__eq__`` and ``__hash__`` are written once for
every class, not generated for each.

The standard decorator writes each method of each class as source text and compiles it: about
0.15 ms a method. fleetctl's cron commands define ~80 dataclasses on their way to work, and
their ``__repr__``, ``__eq__`` and ``__hash__`` alone were ~15 ms of every ``fleetctl health``'s
start (of ~50 ms spent in the decorator). ``@record`` asks :func:`dataclasses.dataclass` for the
rest (``__init__``, the frozen ``__setattr__``/``__delattr__``, ``__match_args__``, slots) and
puts in three shared functions that behave as the generated ones do:

* ``__repr__``: ``Name(a=1, b='x')`` over the fields with ``repr=True``, ``...`` on recursion;
* ``__eq__``: ``NotImplemented`` unless ``other.__class__ is self.__class__``, then the tuples of
  the ``compare=True`` fields compared;
* ``__hash__``: a frozen class hashes the tuple of its hashed fields (``hash=None`` follows
  ``compare``); a mutable one is unhashable (``None``), as with ``eq=True``.

Methods the class body defines itself are kept, as the standard decorator keeps them; an
``order=True`` class is left to the standard decorator (ordering needs its ``__eq__``). Type
checkers read ``@record`` as a dataclass (PEP 681). ``tests/unit/test_records.py`` compares
every ``@record`` class of fleetctl with the standard decorator's methods.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record"]

T = TypeVar("T")

#: per class: (repr names, getter of the compared fields, getter of the hashed fields)
_PLANS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]], Callable[[Any], tuple[Any, ...]]]] = {}


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) >= 2:
        return attrgetter(*names)
    if len(names) == 1:
        name = names[0]
        return lambda obj: (getattr(obj, name),)
    return lambda obj: ()


def _plan(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]], Callable[[Any], tuple[Any, ...]]]:
    plan = _PLANS.get(cls)
    if plan is None:
        fields = dataclasses.fields(cls)
        plan = (tuple(f.name for f in fields if f.repr),
                _getter(tuple(f.name for f in fields if f.compare)),
                _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))))
        _PLANS[cls] = plan
    return plan


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    names = _plan(self.__class__)[0]
    return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        compared = _plan(self.__class__)[1]
        return compared(self) == compared(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_plan(self.__class__)[2](self))


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = False, order: bool = False, slots: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: Any = None, /, *, frozen: bool = False, order: bool = False, slots: bool = False) -> Any:
    """:func:`dataclasses.dataclass` (``frozen``, ``order``, ``slots``), with the shared methods."""

    def wrap(cls: Any) -> Any:
        if order:
            return dataclasses.dataclass(cls, order=True, frozen=frozen, slots=slots)
        body = dict(cls.__dict__)
        own_hash = body.get("__hash__", dataclasses.MISSING)
        explicit_hash = not (own_hash is dataclasses.MISSING or (own_hash is None and "__eq__" in body))
        made = dataclasses.dataclass(cls, repr=False, eq=False, frozen=frozen, slots=slots)
        if "__repr__" not in body:
            made.__repr__ = _repr
        if "__eq__" not in body:
            made.__eq__ = _eq
        if not explicit_hash:
            made.__hash__ = _hash if frozen else None
        return made

    return wrap if cls is None else wrap(cls)
