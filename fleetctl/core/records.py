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

The two other methods the decorator compiled for each class (~0.1 ms each, ~25 ms of a cron
run's start-up for 135 classes, most of which a run never instantiates) are not compiled there:

* ``__init__`` is the standard one, written and compiled the first time the class is
  instantiated (or its signature asked for): the same parameters, defaults, default factories,
  keyword-only fields, ``field(init=False)`` and ``__post_init__`` call, from the same fields;
  the order of defaults is checked when the class is made, as the decorator does;
* a frozen class's ``__setattr__``/``__delattr__`` are two shared functions raising
  :class:`dataclasses.FrozenInstanceError` as the generated ones do (a frozen class with
  ``slots=True`` keeps the generated ones, which its pickling support relies on).

Methods the class body defines itself are kept, as the standard decorator keeps them; an
``order=True`` class is left to the standard decorator (ordering needs its ``__eq__``). Type
checkers read ``@record`` as a dataclass (PEP 681). ``tests/unit/test_records.py`` compares
every ``@record`` class of fleetctl with the standard decorator's methods, ``__init__`` included.
"""

from __future__ import annotations

import dataclasses
import reprlib
import sys
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["is_frozen", "record"]

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


#: frozen record classes (shared setters) -> the names of their fields
_FROZEN: dict[type, frozenset[str]] = {}
_FROZEN_SLOTTED: set[type] = set()


def is_frozen(cls: type) -> bool:
    """Whether ``cls`` was made with ``frozen=True`` (its ``__dataclass_params__`` says not, for
    a class with the shared setters: the decorator was asked for no frozen methods)."""
    return cls in _FROZEN or cls in _FROZEN_SLOTTED or bool(getattr(cls, "__dataclass_params__", None)
                                                            and cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]


def _frozen_owner(kind: type) -> type:
    for cls in kind.__mro__:
        if cls in _FROZEN:
            return cls
    raise TypeError(f"{kind.__qualname__} is not a frozen record")  # pragma: no cover (only set on them)


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    cls = _frozen_owner(type(self))
    if type(self) is cls or name in _FROZEN[cls]:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]


def _frozen_delattr(self: Any, name: str) -> None:
    cls = _frozen_owner(type(self))
    if type(self) is cls or name in _FROZEN[cls]:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
    super(cls, self).__delattr__(name)  # type: ignore[arg-type]


_MISSING = dataclasses.MISSING


class _HasDefaultFactory:
    def __repr__(self) -> str:
        return "<factory>"


_HAS_DEFAULT_FACTORY = _HasDefaultFactory()


def _init_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields ``__init__`` deals with (fields and InitVars, not ClassVars), in order."""
    kinds = (dataclasses._FIELD, dataclasses._FIELD_INITVAR)  # type: ignore[attr-defined]
    return [f for f in cls.__dataclass_fields__.values() if f._field_type in kinds]  # type: ignore[attr-defined]


def _check_defaults(cls: type) -> None:
    """The decorator's check, made when the class is (not at its first instance)."""
    seen_default = False
    for f in _init_fields(cls):
        if not f.init or f.kw_only:
            continue
        if f.default is not _MISSING or f.default_factory is not _MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")


def _build_init(cls: type, slots: bool, frozen: bool) -> Callable[..., None]:
    """The ``__init__`` :func:`dataclasses.dataclass` writes for ``cls``, written now."""
    fields = _init_fields(cls)
    initvar = dataclasses._FIELD_INITVAR  # type: ignore[attr-defined]
    self_name = "__dataclass_self__" if "self" in cls.__dataclass_fields__ else "self"  # type: ignore[attr-defined]
    names: dict[str, Any] = {"__dataclass_HAS_DEFAULT_FACTORY__": _HAS_DEFAULT_FACTORY,
                             "__dataclass_builtins_object__": object, "__dataclass_return_type__": None}
    params: list[str] = []
    kw_params: list[str] = []
    body: list[str] = []
    # A frozen record's fields go straight into the instance's __dict__ (what object.__setattr__
    # does for a name without a data descriptor, ~3x faster a field); not with slots, nor when a
    # class of the MRO has a descriptor that takes over the assignment of a field (a slot, a
    # property): then object.__setattr__ as the decorator writes it.
    direct = frozen and not slots and not any(
        hasattr(type(klass.__dict__.get(f.name)), "__set__") or hasattr(type(klass.__dict__.get(f.name)), "__delete__")
        for f in fields for klass in cls.__mro__ if f.name in klass.__dict__)
    if direct:
        body.append(f"__dataclass_dict__={self_name}.__dict__")
    for f in fields:
        default_name = f"__dataclass_dflt_{f.name}__"
        if f.init:
            names[f"__dataclass_type_{f.name}__"] = f.type
            param = f"{f.name}:__dataclass_type_{f.name}__"
            if f.default_factory is not _MISSING:
                param += "=__dataclass_HAS_DEFAULT_FACTORY__"
            elif f.default is not _MISSING:
                names[default_name] = f.default
                param += f"={default_name}"
            (kw_params if f.kw_only else params).append(param)
        if f._field_type is initvar:  # type: ignore[attr-defined]
            continue
        if f.default_factory is not _MISSING:
            names[default_name] = f.default_factory
            value = (f"{default_name}() if {f.name} is __dataclass_HAS_DEFAULT_FACTORY__ else {f.name}"
                     if f.init else f"{default_name}()")
        elif f.init:
            value = f.name
        elif slots and f.default is not _MISSING:
            names[default_name] = f.default
            value = default_name
        else:
            continue  # read from the class attribute holding the default
        if frozen and direct:
            body.append(f"__dataclass_dict__[{f.name!r}]={value}")
        elif frozen:
            body.append(f"__dataclass_builtins_object__.__setattr__({self_name},{f.name!r},{value})")
        else:
            body.append(f"{self_name}.{f.name}={value}")
    if hasattr(cls, "__post_init__"):
        body.append(f"{self_name}.__post_init__({','.join(f.name for f in fields if f._field_type is initvar)})")  # type: ignore[attr-defined]
    signature = ",".join([self_name, *params, *(["*", *kw_params] if kw_params else [])])
    inner = "\n".join(f"  {line}" for line in body or ["pass"])
    source = (f"def __create_fn__({', '.join(names)}):\n"
              f" def __init__({signature})->__dataclass_return_type__:\n{inner}\n"
              f" return __init__")
    module = sys.modules.get(cls.__module__)
    scope: dict[str, Any] = {}
    # compiled without this module's `from __future__ import annotations` (as dataclasses is)
    code = compile(source, "<string>", "exec", dont_inherit=True)
    exec(code, module.__dict__ if module is not None else {}, scope)  # noqa: S102 (as the decorator does)
    init: Callable[..., None] = scope["__create_fn__"](**names)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


class _LazyDoc:
    """The docstring the decorator gives a class without one (``Name(a: 'int', b: 'str' = 'x')``),
    written when read: the decorator asked :func:`inspect.signature` for it at once (~0.2 ms a
    class, and before ``__init__`` is written it would describe no parameters)."""

    __slots__ = ("lazy",)

    def __init__(self, lazy: _LazyInit) -> None:
        self.lazy = lazy

    def __get__(self, obj: Any, owner: type | None = None) -> str:
        import inspect

        cls = self.lazy.cls
        self.lazy.build()
        try:
            doc = cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
        except (TypeError, ValueError):  # as the decorator: some signatures cannot be read
            doc = ""
        type.__setattr__(cls, "__doc__", doc)
        return doc


class _LazyInit:
    """The class's ``__signature__`` slot: asked for (``inspect.signature``), it writes the real
    ``__init__`` first and lets inspect read that."""

    __slots__ = ("cls", "slots", "frozen", "stub")

    def __init__(self, cls: type, slots: bool, frozen: bool) -> None:
        self.cls, self.slots, self.frozen = cls, slots, frozen
        cls_ = cls
        lazy = self

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            lazy.build()(self, *args, **kwargs)

        __init__.__qualname__ = f"{cls_.__qualname__}.__init__"
        self.stub = __init__

    def build(self) -> Callable[..., None]:
        current = self.cls.__dict__.get("__init__")
        if current is not self.stub:
            return current  # type: ignore[return-value]
        init = _build_init(self.cls, self.slots, self.frozen)
        self.cls.__init__ = init  # type: ignore[misc]
        return init

    def __get__(self, obj: Any, owner: type | None = None) -> None:
        if obj is None:
            self.build()
        return None


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
        shared_setters = frozen and not slots
        if shared_setters:
            for name in ("__setattr__", "__delattr__"):
                if name in body:
                    raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
        bases: list[type] = [b for b in cls.__mro__[1:] if "__dataclass_fields__" in b.__dict__]
        if bases:  # the decorator's rules, which it cannot apply to classes it does not know frozen
            if any(is_frozen(b) for b in bases) and not frozen:
                raise TypeError("cannot inherit non-frozen dataclass from a frozen one")
            if frozen and not any(is_frozen(b) for b in bases):
                raise TypeError("cannot inherit frozen dataclass from a non-frozen one")
        lazy_doc = "__init__" not in body and not cls.__doc__
        if lazy_doc:
            cls.__doc__ = "(written when read)"  # the decorator's own would describe no __init__ yet
        made = dataclasses.dataclass(cls, init=False, repr=False, eq=False, frozen=frozen and not shared_setters,
                                     slots=slots)
        if "__init__" not in body:
            _check_defaults(made)
            lazy = _LazyInit(made, slots, frozen)
            made.__init__ = lazy.stub
            made.__signature__ = lazy
            if lazy_doc:
                made.__doc__ = _LazyDoc(lazy)
        if shared_setters:
            _FROZEN[made] = frozenset(f.name for f in dataclasses.fields(made))
            made.__setattr__ = _frozen_setattr
            made.__delattr__ = _frozen_delattr
        elif frozen:
            _FROZEN_SLOTTED.add(made)
        if "__repr__" not in body:
            made.__repr__ = _repr
        if "__eq__" not in body:
            made.__eq__ = _eq
        if not explicit_hash:
            made.__hash__ = _hash if frozen else None
        return made

    return wrap if cls is None else wrap(cls)
