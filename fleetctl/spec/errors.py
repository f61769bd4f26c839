"""Validation errors that point at a file, a line, a column and a field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: A value quoted in an error line is cut to this many characters (an inventory may hold 100 KB
#: in one scalar; an error line is for a terminal and a log).
QUOTE_LIMIT = 60
FIELD_LIMIT = 80
MESSAGE_LIMIT = 240


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split()) if ("\n" in text or "\r" in text) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: Any, limit: int = QUOTE_LIMIT, *, bare: bool = False) -> str:
    """``value`` as an error line may quote it: ``repr`` of at most ``limit`` characters (an
    ellipsis says it goes on), URLs in it without their secrets (:func:`fleetctl.core.redact.safe_url`).
    ``bare``: a string without quotes (``120% is out of range``), still cut and one line."""
    if isinstance(value, str):
        text = str.__str__(value)
    else:
        try:
            text = str(value)
        except ValueError:  # an integer beyond Python's 4300-digit conversion limit
            return "<a number of more than 4300 digits>"
    if "://" in text or "@" in text:
        from fleetctl.core.redact import scrub

        text = scrub(text, sink_style=False, limit=10 * limit)
    cut = len(text) > limit
    if isinstance(value, str) and bare:
        shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    else:
        shown = repr(text[:limit]) if isinstance(value, str) else text[:limit]
    if len(shown) > limit + 12:  # escapes made it longer
        shown, cut = shown[: limit + 1], True
    return shown + "…" if cut else shown


@dataclass(frozen=True, order=True)
class SpecError:
    """One problem in an inventory: ``FILE:LINE:COL: field: message`` (line and column 1-based).

    The field and the message are cut to a bounded length (a field path holds keys from the file)."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __post_init__(self) -> None:
        fld = self.field
        if "://" in fld or "@" in fld:  # a field path holds keys from the file: no secret in them
            from fleetctl.core.redact import scrub

            fld = scrub(fld, sink_style=False, limit=FIELD_LIMIT)
        object.__setattr__(self, "field", _cut(fld, FIELD_LIMIT))
        object.__setattr__(self, "message", _cut(self.message, MESSAGE_LIMIT))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


class InventoryError(Exception):
    """Raised by the loader with every problem found, sorted by file and position.

    With ``ordered`` the given order is kept (the loader puts a root cause first)."""

    def __init__(self, errors: list[SpecError], *, ordered: bool = False):
        if ordered:
            self.errors = list(dict.fromkeys(errors))
        else:
            self.errors = sorted(set(errors))
        super().__init__("\n".join(str(e) for e in self.errors))
