"""The ``/`` line (tui/widgets/prompt.py) and the full-collection policy (tui/gc_policy.py):
plain Python, no app."""

from __future__ import annotations

from typing import Any

from fleetctl.tui.gc_policy import NEVER, IdleCollector
from fleetctl.tui.widgets.prompt import MAX_LENGTH, LinePrompt, Outcome


def typed(p: LinePrompt, *keys: str) -> list[Outcome | None]:
    return [p.feed(k, k if len(k) == 1 else None) for k in keys]


def test_editing_keys() -> None:
    p = LinePrompt("/", "filter")
    p.open("eth")
    assert (p.value, p.cursor, p.is_open) == ("eth", 3, True)
    assert typed(p, "-", "1") == [Outcome.CHANGED, Outcome.CHANGED] and p.value == "eth-1"
    assert typed(p, "left", "left", "x") == [Outcome.MOVED, Outcome.MOVED, Outcome.CHANGED]
    assert (p.value, p.cursor) == ("ethx-1", 4)
    assert typed(p, "backspace") == [Outcome.CHANGED] and (p.value, p.cursor) == ("eth-1", 3)
    assert typed(p, "delete") == [Outcome.CHANGED] and p.value == "eth1"
    assert typed(p, "home", "backspace") == [Outcome.MOVED, Outcome.MOVED] and p.value == "eth1"
    assert typed(p, "ctrl+e", "right") == [Outcome.MOVED, Outcome.MOVED] and p.cursor == 4
    assert typed(p, "ctrl+k") == [Outcome.MOVED]  # nothing after the cursor
    p.open("geth nethermind erigon")
    assert typed(p, "ctrl+w") == [Outcome.CHANGED] and p.value == "geth nethermind "
    assert typed(p, "ctrl+w") == [Outcome.CHANGED] and p.value == "geth "
    assert typed(p, "ctrl+a", "ctrl+k") == [Outcome.MOVED, Outcome.CHANGED] and p.value == ""
    p.open("abc")
    assert typed(p, "left", "ctrl+u") == [Outcome.MOVED, Outcome.CHANGED] and (p.value, p.cursor) == ("c", 0)
    # q, d, ':' and '/' are characters here; what is not the prompt's is left to the table and app
    assert typed(p, "q", ":", "/", "d") == [Outcome.CHANGED] * 4 and p.value == "q:/dc"
    assert typed(p, "up", "down", "pagedown", "ctrl+c", "tab", "f1") == [None] * 6
    assert typed(p, "enter") == [Outcome.SUBMITTED] and typed(p, "escape") == [Outcome.CANCELLED]
    assert p.feed("ctrl+@", "\x00") is None  # a control character is not text


def test_paste_takes_the_first_line_printable_and_bounded() -> None:
    p = LinePrompt()
    p.open("a")
    assert p.insert("b\x1b[31mc\nsecond line") is Outcome.CHANGED
    assert p.value == "ab[31mc"  # the escape character dropped, the rest of the paste too
    assert p.insert("") is Outcome.MOVED and p.insert("\n") is Outcome.MOVED
    p.insert("x" * (MAX_LENGTH * 2))
    assert len(p.value) == MAX_LENGTH
    assert p.insert("y") is Outcome.MOVED and typed(p, "z") == [Outcome.MOVED]
    p.open("z" * (MAX_LENGTH + 10))
    assert len(p.value) == MAX_LENGTH


def test_render_shows_the_cursor_and_scrolls_to_it() -> None:
    p = LinePrompt("/", "filter (regex)")
    p.open("")
    text = p.render(40)
    assert text.plain == "/  filter (regex)"
    assert any("reverse" in str(span.style) for span in text.spans)
    p.open("eth-ep")
    typed(p, "left", "left")
    text = p.render(40)
    assert text.plain == "/eth-ep"  # the cursor is on the 'e', drawn reversed
    reversed_at = [text.plain[s.start:s.end] for s in text.spans if "reverse" in str(s.style)]
    assert reversed_at == ["e"]
    p.open("0123456789" * 10)
    for width in (12, 30, 60):
        text = p.render(width)
        assert text.cell_len <= width
        assert text.plain.startswith("/…") and text.plain.rstrip().endswith("789")
        typed(p, "home")
        assert p.render(width).plain.startswith("/0123")
        typed(p, "end")


class FakeGC:
    def __init__(self) -> None:
        self.threshold: tuple[int, ...] = (700, 10, 10)
        self.count = [0, 0, 0]
        self.collected = 0

    def get_threshold(self) -> tuple[int, ...]:
        return self.threshold

    def set_threshold(self, *t: int) -> None:
        self.threshold = tuple(t)

    def get_count(self) -> tuple[int, ...]:
        return tuple(self.count)

    def collect(self) -> int:
        self.collected += 1
        self.count[2] = 0
        return 0


def test_full_collections_wait_for_a_pause_in_typing_but_not_forever() -> None:
    now = [100.0]
    fake: Any = FakeGC()
    c = IdleCollector(lambda: now[0], quiet_s=1.0, overdue=20, gc_module=fake)
    assert not c.tick()  # not started: CPython's as before
    c.start()
    assert fake.threshold == (700, 10, NEVER)
    c.input_seen()
    fake.count[2] = 9
    now[0] += 5
    assert not c.tick() and fake.collected == 0  # none due yet
    fake.count[2] = 10
    c.input_seen()
    now[0] += 0.5
    assert not c.tick()  # due, but the operator is typing
    now[0] += 0.6
    assert c.tick() and fake.collected == 1  # a pause: collected
    fake.count[2] = 150
    for _ in range(50):  # typing without a pause...
        c.input_seen()
        now[0] += 0.1
        assert not c.tick()
    fake.count[2] = 200  # ... until it is 20 times as late as CPython would be: collected anyway
    c.input_seen()
    assert c.tick() and fake.collected == 2
    c.stop()
    assert fake.threshold == (700, 10, 10)
    c.stop()  # twice is harmless


def test_collection_disabled_stays_disabled() -> None:
    fake: Any = FakeGC()
    fake.threshold = (0, 10, 10)
    c = IdleCollector(lambda: 0.0, gc_module=fake)
    c.start()
    assert fake.threshold == (0, 10, 10)
    c.stop()
    assert fake.threshold == (0, 10, 10)
