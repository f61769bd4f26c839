"""FleetTable's bulk operations show what DataTable's public calls show (tui/widgets/table.py).

Both tables get the same rows (Text cells of mixed widths, wide characters, an empty cell,
a multi-line cell, a number, a markup string), one through ``clear()`` + ``add_row()`` and
``update_cell_at()``, the other through ``replace_rows()`` and ``update_cells()``; after the idle
that measures columns, every rendered line, the column widths and the virtual size must match.
If a textual release renames what FleetTable reaches into, this fails.
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from fleetctl.tui.rows import display_cell
from fleetctl.tui.widgets.table import FleetTable, cell_width

COLUMNS = ("LEVEL", "NAME", "STAKE", "NOTE")


def rows(n: int, salt: str = "") -> list[tuple[str, tuple[Any, ...]]]:
    out: list[tuple[str, tuple[Any, ...]]] = []
    for i in range(n):
        note: Any = Text(f"reason {i} " + "x" * (i % 13) + salt)
        if i == 3:
            note = Text("two\nlines, the first one shorter")
        if i == 5:
            note = None
        if i == 7:
            note = 12345.678
        if i == 8:
            note = "[b]markup[/b] string"
        if i == 9:
            note = Text.assemble(("styled ", "bold"), ("spans", "underline blue"), " and a tab\there")
        stake = Text(f"{i * 1000} upokt", justify="right" if i % 2 else "left")
        if i == 10:
            stake = Text("a stake far wider than its fixed column", overflow="ellipsis")
        out.append((f"k{i}", (Text("OK" if i % 3 else "CRITICAL", style="bold red" if i % 3 == 0 else "green"),
                              Text(f"supplier-{i:04d}" + ("漢字" if i == 2 else "")), stake, note)))
    return out


class Pair(App[None]):
    CSS = "DataTable { height: 1fr; }"  # the same size each (a scrollbar in both or neither)
    def compose(self) -> ComposeResult:
        yield DataTable(id="plain", cursor_type="row", zebra_stripes=True)
        yield FleetTable(id="fleet", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for t in self.query(DataTable):
            for c in COLUMNS:
                t.add_column(c, key=c, width=12 if c == "STAKE" else None)  # a fixed width crops


def lines(t: DataTable[Any]) -> list[Any]:
    """Every line on screen as its segments: text and style (colours, the click metadata); then
    the scrollbars (shown or not, sizes, position, what they draw) and where the table is scrolled."""
    drawn = t.render_lines(Region(0, 0, t.size.width, t.size.height))  # as the compositor asks
    out: list[Any] = [[(seg.text, seg.style) for seg in strip] for strip in drawn]
    out.append((t.show_vertical_scrollbar, t.show_horizontal_scrollbar, t.scroll_offset, t.max_scroll_y,
                t.max_scroll_x))
    for bar in (t.vertical_scrollbar, t.horizontal_scrollbar):
        out.append(bar.display)
        if bar.display:  # (a hidden one keeps whatever it had)
            out.append((bar.window_virtual_size, bar.window_size, bar.position, bar.region.size))
            out.extend([(seg.text, seg.style and (seg.style.color, seg.style.bgcolor)) for seg in bar.render_line(y)]
                       for y in range(bar.region.height))
    return out


async def same(pilot: Any, a: DataTable[Any], b: DataTable[Any]) -> None:
    """Both tables show the same: unfocused, and each when it has the focus (the cursor's style)."""
    assert [c.content_width for c in a.ordered_columns] == [c.content_width for c in b.ordered_columns]
    assert a.virtual_size == b.virtual_size
    assert a.row_count == b.row_count
    assert a.cursor_coordinate == b.cursor_coordinate
    for y in range(a.row_count):
        assert a.get_row_at(y) == b.get_row_at(y)
    pilot.app.set_focus(None)
    await pilot.pause()
    assert lines(a) == lines(b)
    a.focus()
    await pilot.pause(0.5)  # after the focus transition
    focused_a = lines(a)
    b.focus()
    await pilot.pause(0.5)
    assert focused_a == lines(b)


@pytest.mark.asyncio
async def test_replace_and_update_show_what_the_public_calls_show() -> None:
    app = Pair()
    async with app.run_test(size=(120, 40)) as pilot:
        plain, fleet = app.query_one("#plain", DataTable), app.query_one("#fleet", FleetTable)
        for data in (rows(30), rows(12, "wider and wider"), rows(0), rows(25)):
            plain.clear()
            for key, cells in data:
                plain.add_row(*cells, key=key)
            fleet.replace_rows(data)
            await pilot.pause()
            await same(pilot, plain, fleet)
        # as the views call it: Text cells (display_cell) with their widths given
        for data in (rows(3), rows(40, "a longer note than any before")):
            shown = [(key, tuple(display_cell(c) for c in cells)) for key, cells in data]
            plain.clear()
            for key, cells in shown:
                plain.add_row(*cells, key=key)
            fleet.replace_rows(shown, [tuple(cell_width(c) or 0 for c in cells) for _, cells in shown])
            await pilot.pause()
            await same(pilot, plain, fleet)
        # a few cells changed: one wider (widens its column), one narrower (the column stays)
        changes = [(1, 1, Text("supplier-0001 renamed to something much longer")), (2, 3, Text("short")),
                   (4, 0, Text("WARNING", style="yellow"))]
        for i, j, v in changes:
            wider = (cell_width(v) or 0) > plain.ordered_columns[j].content_width
            plain.update_cell_at(Coordinate(i, j), v, update_width=wider)
        assert fleet.update_cells(changes) == 3
        await pilot.pause()
        await same(pilot, plain, fleet)
        plain.move_cursor(row=20)
        fleet.move_cursor(row=20)
        await pilot.pause()
        await same(pilot, plain, fleet)
        # scrolled down, then fewer rows (the scrollbar goes), more again, fewer with the scrollbar
        # still there (its thumb grows), at the top and scrolled
        for n, at in ((60, 58), (8, 6), (45, 43), (90, 0), (30, 0), (70, 50), (40, 10)):
            data = rows(n, f"n{n}")
            plain.clear()
            for key, cells in data:
                plain.add_row(*cells, key=key)
            fleet.replace_rows(data)
            for t in (plain, fleet):
                t.move_cursor(row=at)
            await pilot.pause()
            await same(pilot, plain, fleet)
        for t in (plain, fleet):  # hover and the cell cursor
            t.cursor_type = "cell"
            t.hover_coordinate = Coordinate(3, 2)
            t.move_cursor(row=9, column=3)
        await pilot.pause()
        await same(pilot, plain, fleet)


@pytest.mark.asyncio
async def test_lines_kept_by_what_they_show_stay_right() -> None:
    """FleetTable keeps each drawn line by its row's position, cells, cursor, hover, crop and styles
    (not by the table's update count): the same cell objects listed again at other positions (a
    filter typed and erased), the cursor and the hover moving over them, a changed cell, a
    horizontal scroll, a narrower terminal and another theme must still show what DataTable shows.
    The focus stays where it is between the steps (a focus change is a style update, which drops
    every kept line: see test_replace_and_update_show_what_the_public_calls_show for focus)."""
    app = Pair()
    async with app.run_test(size=(120, 40)) as pilot:
        plain, fleet = app.query_one("#plain", DataTable), app.query_one("#fleet", FleetTable)
        app.set_focus(None)
        await pilot.pause()

        async def step() -> None:
            await pilot.pause()
            assert lines(plain) == lines(fleet)

        data = rows(60, "kept")
        for shown in (data, data[::2], data[7:], data, data[::3], data):
            plain.clear()
            for key, cells in shown:
                plain.add_row(*cells, key=key)
            fleet.replace_rows(shown)
            await step()
        for row in (5, 6, 2):
            for t in (plain, fleet):
                t.move_cursor(row=row)
            await step()
        for row in (4, 5, 4):  # the hover follows the mouse over a row cursor
            for t in (plain, fleet):
                t._show_hover_cursor = True
                t.hover_coordinate = Coordinate(row, 1)
            await step()
        for setting in ("zebra_stripes", "show_cursor"):  # off and on again
            for value in (False, True):
                for t in (plain, fleet):
                    setattr(t, setting, value)
                await step()
        new = Text("a new name for the hovered row")
        plain.update_cell_at(Coordinate(4, 1), new, update_width=True)
        fleet.update_cells([(4, 1, new)])
        await step()
        await pilot.resize_terminal(50, 30)  # narrower than the columns: scrolled sideways
        await step()
        for x in (7, 3, 1000):
            for t in (plain, fleet):
                t.scroll_to(x=x, y=2, animate=False)
            await step()
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await step()
        assert fleet._row_lines  # (the lines above were FleetTable's own)


@pytest.mark.asyncio
async def test_bad_input_changes_nothing() -> None:
    app = Pair()
    async with app.run_test(size=(120, 40)) as pilot:
        fleet = app.query_one("#fleet", FleetTable)
        fleet.replace_rows(rows(5))
        await pilot.pause()
        with pytest.raises(ValueError):
            fleet.replace_rows([("a", (Text("x"),)), ("a", (Text("y"),))])
        with pytest.raises(ValueError):
            fleet.replace_rows([("a", tuple(Text("x") for _ in range(len(COLUMNS) + 1)))])
        with pytest.raises(ValueError):
            fleet.replace_rows([("a", (Text("x"),))], widths=[])
        assert fleet.row_count == 5
        with pytest.raises(CellDoesNotExist):
            fleet.update_cells([(99, 0, Text("x"))])
        with pytest.raises(CellDoesNotExist):
            fleet.update_cells([(0, 9, Text("x"))])


def test_cell_width_is_richs_measure() -> None:
    from rich.console import Console

    console = Console(width=200)
    for text in ("", "abc", "漢字 wide", "a\nlonger line\nb", "tab\there", "e\u0301 combining"):
        t = Text(text)
        assert cell_width(t) == t.__rich_measure__(console, console.options).maximum
    assert cell_width("a str is markup") is None and cell_width(None) is None and cell_width(3) is None
    assert display_cell(None).plain == "" and display_cell("[b]x[/b]").plain == "[b]x[/b]"  # never markup
