"""Rows, filters and cells: what every table view shares. No textual here (unit-testable).

A view turns a workflow's result into :class:`Row` values: a stable ``key`` (so a refresh keeps
the cursor on the same supplier, backend or host), the cells shown, a :class:`Level` when the row
has one, and ``data``: every field the library has for it (``d`` shows it, JSON-like).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import field
from functools import cached_property
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from fleetctl.core.records import record
from fleetctl.core.levels import Level
from fleetctl.core.redact import scrub

__all__ = ["Filter", "LazyData", "Row", "bar", "describe_text", "level_style", "parse_filter"]

LEVEL_STYLES = {Level.OK: "green", Level.WARNING: "yellow", Level.CRITICAL: "bold red", Level.UNKNOWN: "magenta"}


class LazyData(Mapping[str, Any]):
    """A row's ``data`` built on first read (``d``, a drill-down, an action), not on every
    refresh: a thousand suppliers' ``as_dict()`` was most of what a Stakes refresh allocated."""

    __slots__ = ("_make", "_value")

    def __init__(self, make: Callable[[], Mapping[str, Any]]) -> None:
        self._make: Callable[[], Mapping[str, Any]] | None = make
        self._value: Mapping[str, Any] | None = None

    def _data(self) -> Mapping[str, Any]:
        if self._value is None:
            make, self._make = self._make, None
            self._value = make() if make is not None else {}
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return "LazyData(" + ("…" if self._value is None else repr(self._value)) + ")"


def cell_width(value: Any) -> int | None:
    """The width Rich measures for a ``Text`` cell (its widest line), else None (a str is markup
    to DataTable, a number or another renderable is formatted first: measured the slow way)."""
    if not isinstance(value, Text):
        return None
    plain = value.plain
    if "\n" in plain or "\r" in plain:
        return max((cell_len(line) for line in plain.splitlines()), default=0)
    return cell_len(plain)


def display_cell(value: Any) -> Text:
    """A cell as Rich text: data from a chain or an engine is never read as markup."""
    if isinstance(value, Text):
        return value
    return Text("" if value is None else str(value))


@record(frozen=True)
class Row:
    key: str
    cells: tuple[Any, ...]
    level: Level | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        """What a filter matches: every cell's text, tab-separated (once per row: a filter
        typed letter by letter matches the same rows again and again)."""
        return self._text

    @cached_property
    def shown(self) -> tuple[Text, ...]:
        """The cells as the table shows them (built once per row, not per filter letter)."""
        return tuple(display_cell(c) for c in self.cells)

    @cached_property
    def widths(self) -> tuple[int, ...]:
        """Each shown cell's width in terminal cells."""
        return tuple(cell_width(c) or 0 for c in self.shown)

    @cached_property
    def _text(self) -> str:
        return "\t".join("" if c is None else str(c) for c in self.cells)


@record(frozen=True)
class Filter:
    """``/text`` (a regex, case-insensitive; text that is not a valid regex is matched literally)
    and ``/!text`` (the rows that do not match)."""

    text: str = ""
    pattern: re.Pattern[str] | None = None
    invert: bool = False
    literal: bool = False  # the text was not a valid regex

    def __bool__(self) -> bool:
        return bool(self.text)

    def keep(self, row: Row) -> bool:
        if self.pattern is None:
            return True
        found = self.pattern.search(row.text()) is not None
        return found != self.invert

    def apply(self, rows: Iterable[Row]) -> list[Row]:
        return [r for r in rows if self.keep(r)]


def parse_filter(text: str) -> Filter:
    raw = text
    invert = text.startswith("!")
    if invert:
        text = text[1:]
    if not text:
        return Filter(raw, None, invert)
    try:
        return Filter(raw, re.compile(text, re.IGNORECASE), invert)
    except re.error:
        return Filter(raw, re.compile(re.escape(text), re.IGNORECASE), invert, literal=True)


def level_style(level: Level | None) -> str:
    return LEVEL_STYLES.get(level, "") if level is not None else ""


def bar(fraction: float | None, width: int = 10, *, mark: float | None = None) -> str:
    """A text bar ``███▌      `` of ``fraction`` (0..1, clipped) ``width`` cells wide; ``mark``
    (0..1) draws a ``│`` where a quota line is. Unknown: ``?`` padded."""
    if fraction is None or fraction != fraction:  # None or NaN
        return "?".ljust(width)
    f = min(max(fraction, 0.0), 1.0)
    eighths = round(f * width * 8)
    full, part = divmod(eighths, 8)
    cells = ["█"] * full + ([" ▏▎▍▌▋▊▉"[part]] if part else [])
    cells += [" "] * (width - len(cells))
    if mark is not None and 0 <= mark <= 1:
        at = min(int(mark * width), width - 1)
        cells[at] = "│" if cells[at] == " " else "┃"
    return "".join(cells[:width])


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Level):
        return value.name
    if value is None or isinstance(value, bool | int | float | str):
        return value
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return _jsonable(as_dict())
    return str(value)


def describe_text(data: Mapping[str, Any] | Sequence[Any]) -> str:
    """Every field, JSON-like and indented; secrets scrubbed (a URL's credentials, tokens)."""
    text = json.dumps(_jsonable(data), indent=2, ensure_ascii=False, sort_keys=False)
    lines = []
    for line in text.splitlines():
        body = line.lstrip(" ")
        lines.append(line[: len(line) - len(body)] + scrub(body, sink_style=False, limit=4000))
    return "\n".join(lines)
