"""Safe YAML reading that keeps positions, for one-line ``FILE:LINE:COL`` errors.

Only the YAML core schema is accepted (``yaml.safe_load`` semantics): no custom tags, no
object construction.  Hostile input is refused before it can eat memory or time:

* only regular files are read (a FIFO or a device is refused without blocking), and files
  larger than :data:`MAX_BYTES` are refused from their size, before reading;
* nesting deeper than :data:`MAX_DEPTH` is refused by a first pass over the parser's events
  (libyaml's parser is iterative; its composer, like PyYAML's, recurses and would overflow);
* aliases are shared while composing (linear); expanding them is charged to a budget
  (:data:`MAX_ALIAS_NODES`), so a "billion laughs" document stops after a few thousand steps.

The result is a tree of :class:`Y` nodes: the Python value plus the line and column of each
node and of each mapping key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from fleetctl.spec import files
from fleetctl.spec.errors import SpecError, quote

MAX_BYTES = files.MAX_BYTES
#: Nodes that may be reached a second time through aliases or merge keys, in one file.
MAX_ALIAS_NODES = 20_000
MAX_DEPTH = 64

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp")}
# Ansible inventories may carry vaulted or unsafe strings; fleetctl keeps them opaque.
_ANSIBLE_TAGS = {"!vault", "!unsafe"}

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_constructor = yaml.constructor.SafeConstructor()


@dataclass(eq=False)
class Y:
    """A YAML node: ``kind`` is "map", "seq" or "scalar"; lines and columns are 1-based."""

    kind: str
    value: Any
    line: int
    col: int
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)
    tag: str = ""

    def plain(self) -> Any:
        """The plain Python value (dicts, lists, scalars) without positions."""
        if self.kind == "map":
            return {k: v.plain() for k, v in self.value.items()}
        if self.kind == "seq":
            return [v.plain() for v in self.value]
        return self.value


class Opaque(str):
    """A string from an Ansible ``!vault`` or ``!unsafe`` tag; never shown."""

    def __repr__(self) -> str:
        return "<opaque>"


class _Budget:
    """Charges every node reached more than once (through an alias or a merge key)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.left = MAX_ALIAS_NODES

    def visit(self, node: yaml.Node, line: int, col: int, cost: int = 1) -> None:
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return
        self.left -= cost
        if self.left < 0:
            raise _Refused(line, col, f"aliases expand to more than {MAX_ALIAS_NODES} nodes (alias bomb?)")


class _Refused(Exception):
    def __init__(self, line: int, col: int, message: str):
        self.line, self.col, self.message = line, col, message


def load_file(path: str, display: str | None = None, *, ansible: bool = False) -> tuple[Y | None, list[SpecError]]:
    """Read one YAML file.  Returns (tree, errors); tree is None when the file is unusable.

    Only a regular file of at most :data:`MAX_BYTES` is read (see :mod:`fleetctl.spec.files`):
    a FIFO, a device or a folder is refused without blocking, a large file from its size."""
    name = display or path
    try:
        data = files.read_regular(path, MAX_BYTES)
    except files.Refused as exc:
        return None, [SpecError(name, 0, 0, "", exc.message)]
    return load_text(data, name, ansible=ansible)


def load_text(data: bytes | str, name: str, *, ansible: bool = False) -> tuple[Y | None, list[SpecError]]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [SpecError(name, 1, 1, "", f"not UTF-8 text (byte {exc.start})")]
    if len(data) > MAX_BYTES:
        return None, [SpecError(name, 1, 1, "", f"more than the {MAX_BYTES}-byte limit for an inventory file")]
    try:
        depth = 0
        for event in yaml.parse(data, Loader=_Loader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    m = event.start_mark
                    line, col = (m.line + 1, m.column + 1) if m is not None else (0, 0)
                    return None, [SpecError(name, line, col, "", f"nesting deeper than {MAX_DEPTH} levels")]
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
        node = yaml.compose(data, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if "nesting depth" in problem:
            # PyYAML 6.0.4's scanner has a nesting limit of its own (far above ours), hit while
            # it reads ahead of the event that our own check would stop at.
            return None, [SpecError(name, line, col, "", f"nesting deeper than {MAX_DEPTH} levels")]
        return None, [SpecError(name, line, col, "", f"invalid YAML: {problem}")]
    except yaml.YAMLError as exc:
        return None, [SpecError(name, 1, 1, "", f"invalid YAML: {exc}")]
    except RecursionError:
        return None, [SpecError(name, 1, 1, "", f"nesting deeper than {MAX_DEPTH} levels")]
    if node is None:
        return None, []
    budget = _Budget()
    try:
        return _convert(node, 0, budget, ansible), []
    except _Refused as exc:
        return None, [SpecError(name, exc.line, exc.col, "", exc.message)]


def _convert(node: yaml.Node, depth: int, budget: _Budget, ansible: bool) -> Y:
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    budget.visit(node, line, col)
    if depth > MAX_DEPTH:
        raise _Refused(line, col, f"nesting deeper than {MAX_DEPTH} levels")
    tag = node.tag or ""
    if isinstance(node, yaml.ScalarNode):
        if tag in _SCALAR_TAGS:
            value = _scalar(node, line, col)
            if tag == _CORE + "timestamp":
                value = str(node.value)
            return Y("scalar", value, line, col)
        if ansible and tag in _ANSIBLE_TAGS:
            return Y("scalar", Opaque(node.value), line, col, tag=tag)
        raise _Refused(line, col, f"tag {quote(tag)} is not allowed (plain YAML only)")
    if isinstance(node, yaml.SequenceNode):
        if tag != _CORE + "seq":
            raise _Refused(line, col, f"tag {quote(tag)} is not allowed (plain YAML only)")
        return Y("seq", [_convert(n, depth + 1, budget, ansible) for n in node.value], line, col)
    if isinstance(node, yaml.MappingNode):
        if tag != _CORE + "map":
            raise _Refused(line, col, f"tag {quote(tag)} is not allowed (plain YAML only)")
        out: dict[str, Y] = {}
        keys: dict[str, tuple[int, int]] = {}
        for knode, vnode in _merged(node, line, col, budget):
            kline, kcol = knode.start_mark.line + 1, knode.start_mark.column + 1
            if not isinstance(knode, yaml.ScalarNode) or knode.tag not in _SCALAR_TAGS:
                raise _Refused(kline, kcol, "mapping keys must be plain scalars")
            key = str(_scalar(knode, kline, kcol))
            if key in out and (kline, kcol) != keys[key]:
                raise _Refused(kline, kcol, f"duplicate key {quote(key)} (first at line {keys[key][0]})")
            out[key] = _convert(vnode, depth + 1, budget, ansible)
            keys[key] = (kline, kcol)
        return Y("map", out, line, col, keys)
    raise _Refused(line, col, "unsupported YAML node")


class HugeNumber(float):
    """An integer too long for Python to convert (more than 4300 digits): kept as ±infinity, so
    every bound refuses it with its field and position instead of a ValueError escaping."""

    digits: int = 0

    def __new__(cls, negative: bool, digits: int) -> "HugeNumber":
        self = super().__new__(cls, -math.inf if negative else math.inf)
        self.digits = digits
        return self

    def __str__(self) -> str:
        return f"<a number of {self.digits} digits>"

    __repr__ = __str__


def _scalar(node: yaml.ScalarNode, line: int, col: int) -> Any:
    """A core-schema scalar (a too long integer as :class:`HugeNumber`)."""
    try:
        return _constructor.construct_object(node, deep=True)
    except (ValueError, OverflowError):
        if node.tag == _CORE + "int":
            return HugeNumber(str(node.value).lstrip().startswith("-"), len(str(node.value)))
        raise _Refused(line, col, f"a value of {len(node.value)} characters that cannot be read") from None


def _merged(node: yaml.MappingNode, line: int, col: int, budget: _Budget) -> list[tuple[yaml.Node, yaml.Node]]:
    """Key/value pairs with YAML merge keys (``<<: *base``) resolved; explicit keys win.

    Every pair copied in by a merge is charged to the alias budget, so nested merges cannot explode."""
    pairs: list[tuple[yaml.Node, yaml.Node]] = []
    merged: list[tuple[yaml.Node, yaml.Node]] = []
    for knode, vnode in node.value:
        if knode.tag == _CORE + "merge":
            sources = vnode.value if isinstance(vnode, yaml.SequenceNode) else [vnode]
            for src in sources:
                if not isinstance(src, yaml.MappingNode):
                    raise _Refused(line, col, "a merge key (<<) must refer to a mapping")
                budget.left -= max(1, len(src.value))
                if budget.left < 0:
                    raise _Refused(line, col, f"aliases expand to more than {MAX_ALIAS_NODES} nodes (alias bomb?)")
                merged.extend(_merged(src, line, col, budget))
        else:
            pairs.append((knode, vnode))
    explicit = {k.value for k, _ in pairs if isinstance(k, yaml.ScalarNode)}
    seen: set[str] = set()
    result = []
    for k, v in merged:
        if k.value not in explicit and k.value not in seen:
            seen.add(k.value)
            result.append((k, v))
    return result + pairs
