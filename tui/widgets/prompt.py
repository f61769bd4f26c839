"""LinePrompt: the ``/`` filter and search line, edited in the status line while the focus stays
on the table (k9s' way).

A Textual ``Input`` would take the focus: every ``/`` and ``esc`` then re-listed the footer's keys
(a recompose: new widgets mounted and laid out) and every letter typed re-laid out the screen
(the input's width follows its text): 30-100 ms a key at 160x48 with 1,500 rows on this machine
(benchmarks/tui.py). Here the screen feeds keys to a plain line editor while it is open and draws
it at the left of the status line, one line repainted, no layout.

It edits one line: printable characters (and a paste's first line) insert at the cursor;
``backspace``/``delete``, ``left``/``right``, ``home``/``end`` (``ctrl+a``/``ctrl+e``),
``ctrl+u`` (to the start), ``ctrl+k`` (to the end) and ``ctrl+w`` (the word before the cursor);
``enter`` submits, ``escape`` cancels. Every other key (cursor up/down, page keys, ``ctrl+c``)
is left to the table and the app.
"""

from __future__ import annotations

from enum import Enum

from rich.text import Text

__all__ = ["LinePrompt", "Outcome"]

#: the longest value kept (a filter is a short regex; a paste of a whole file is not one)
MAX_LENGTH = 256


class Outcome(Enum):
    CHANGED = "changed"  # the value changed
    MOVED = "moved"  # only the cursor moved
    SUBMITTED = "submitted"  # enter
    CANCELLED = "cancelled"  # escape


class LinePrompt:
    """A one-line editor. ``sigil`` is drawn before the value (``/``); ``placeholder`` when empty."""

    def __init__(self, sigil: str = "/", placeholder: str = "") -> None:
        self.sigil = sigil
        self.placeholder = placeholder
        self.value = ""
        self.cursor = 0
        self.is_open = False

    def open(self, value: str = "") -> None:
        self.value = value[:MAX_LENGTH]
        self.cursor = len(self.value)
        self.is_open = True

    def close(self) -> None:
        self.is_open = False

    # ------------------------------------------------------------------ editing
    def feed(self, key: str, character: str | None) -> Outcome | None:
        """One key; None when it is not the prompt's (the caller lets it through)."""
        value, at = self.value, self.cursor
        if key == "enter":
            return Outcome.SUBMITTED
        if key == "escape":
            return Outcome.CANCELLED
        if key in ("backspace", "ctrl+h"):
            if at:
                self.value, self.cursor = value[:at - 1] + value[at:], at - 1
            return Outcome.CHANGED if self.value != value else Outcome.MOVED
        if key in ("delete", "ctrl+d"):
            self.value = value[:at] + value[at + 1:]
            return Outcome.CHANGED if self.value != value else Outcome.MOVED
        if key == "ctrl+u":
            self.value, self.cursor = value[at:], 0
            return Outcome.CHANGED if self.value != value else Outcome.MOVED
        if key == "ctrl+k":
            self.value = value[:at]
            return Outcome.CHANGED if self.value != value else Outcome.MOVED
        if key == "ctrl+w":
            start = len(value[:at].rstrip())
            while start and not value[start - 1].isspace():
                start -= 1
            self.value, self.cursor = value[:start] + value[at:], start
            return Outcome.CHANGED if self.value != value else Outcome.MOVED
        moves = {"left": max(0, at - 1), "right": min(len(value), at + 1), "home": 0, "ctrl+a": 0,
                 "end": len(value), "ctrl+e": len(value)}
        if key in moves:
            self.cursor = moves[key]
            return Outcome.MOVED
        if character is not None and len(character) == 1 and character.isprintable():
            return self.insert(character)
        return None

    def insert(self, text: str) -> Outcome:
        """``text`` at the cursor: its first line, printable characters only, up to MAX_LENGTH."""
        line = "".join(ch for ch in text.splitlines()[0] if ch.isprintable()) if text else ""
        room = MAX_LENGTH - len(self.value)
        line = line[:max(0, room)]
        if not line:
            return Outcome.MOVED
        at = self.cursor
        self.value = self.value[:at] + line + self.value[at:]
        self.cursor = at + len(line)
        return Outcome.CHANGED

    # ------------------------------------------------------------------ drawing
    def render(self, width: int = 60, style: str = "bold") -> Text:
        """The sigil, the value around the cursor (at most ``width`` cells: the part the cursor
        is in), the cursor as a reversed cell, the placeholder dimmed when the value is empty."""
        out = Text(self.sigil, style=style)
        room = max(4, width - len(self.sigil) - 1)
        value, at = self.value, self.cursor
        start = 0
        if len(value) + 1 > room:  # scroll so that the cursor shows, an ellipsis for what is cut
            start = max(0, min(at - room + 2, len(value) + 1 - room))
        end = start + room
        shown = value[start:end]
        if start:
            shown = "…" + shown[1:]
        cut = at - start
        out.append(shown[:cut], style=style)
        under = value[at] if at < len(value) else " "
        out.append(under, style="reverse")
        out.append(shown[cut + 1:] if at < len(value) else "", style=style)
        if not value and self.placeholder:
            out.append(" " + self.placeholder, style="dim")
        return out
