"""FleetTable: Textual's DataTable, with the two operations a refreshing view needs made cheap.

DataTable does per row what a refresh does for a thousand: ``add_row`` re-validates the cursor
(a reactive) and re-lists the columns for every row, ``update_cell`` invalidates every cache for
every cell, and on the next idle every new row's cells are measured with Rich's full measure
(the word split a wrapping cell needs). On 1,000 rows that was 65 ms to add them and 90-165 ms
to measure them, all on the UI thread (benchmarks/tui.py). Here:

* :meth:`FleetTable.replace_rows` puts every row in at once (one cache invalidation, one cursor
  validation), as ``clear()`` then ``add_row()`` for each would;
* :meth:`FleetTable.update_cells` changes many cells at once (one invalidation, one refresh),
  widening a column only for a wider cell, as ``update_cell(..., update_width=True)`` would
  for a wider one (a narrower one never re-measures the column: see base.render_rows);
* column widths of single-line rows are measured as Rich measures a ``Text`` (the widest line's
  cells; ``rich.cells.cell_len``) without building console options for each cell.

What the table shows is the same as the public calls would give: tests/tui/test_table.py renders
both ways and compares every line. It reaches into DataTable's attributes (``_data``, ``rows``,
``_row_locations``, ``_new_rows``, ``_update_count``): textual is pinned below 9 in pyproject.toml,
and that test fails loudly if a release renames them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import zip_longest
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.coordinate import Coordinate
from textual.render import measure
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist
from textual.widgets._data_table import Row as RowMeta
from textual.widgets._data_table import RowKey, default_cell_formatter

__all__ = ["FleetTable", "cell_width"]


def cell_width(value: Any) -> int | None:
    """The width Rich measures for a ``Text`` or plain string cell (its widest line), else None."""
    if isinstance(value, Text):
        plain = value.plain
    elif isinstance(value, str):
        return None  # DataTable reads a str as markup: measured the slow, exact way
    else:
        return None  # None, numbers, renderables: DataTable formats them (see _measured)
    if "\n" in plain or "\r" in plain:
        return max((cell_len(line) for line in plain.splitlines()), default=0)
    return cell_len(plain)


def _measured(console: Any, value: Any) -> int:
    """A cell DataTable formats itself (markup in a str, a number): measured as DataTable does."""
    if value is None:
        return 0  # DataTable shows None as an empty cell
    return measure(console, default_cell_formatter(value, wrap=False, height=1), 1)


class FleetTable(DataTable[Any]):
    """A DataTable with bulk replacement and bulk cell updates (see the module's text)."""

    def replace_rows(self, rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Every row at once, in order: ``(key, cells)``; keys must be unique.

        The same as ``clear()`` and ``add_row(*cells, key=key)`` for each row (one-line rows, no
        labels), with one cache invalidation instead of one per row."""
        columns = [c.key for c in self.ordered_columns]
        if any(len(cells) > len(columns) for _, cells in rows):
            raise ValueError("More values provided than there are columns.")
        locations = {RowKey(key): index for index, (key, _) in enumerate(rows)}
        if len(locations) != len(rows):
            raise ValueError("duplicate row keys")  # before anything changed
        self.clear()
        if not rows:
            return
        data = self._data
        metas = self.rows
        for row_key, (_, cells) in zip(locations, rows):
            data[row_key] = dict(zip_longest(columns, cells)) if len(cells) < len(columns) else dict(zip(columns, cells))
            metas[row_key] = RowMeta(row_key, 1, None, False)
        self._row_locations = TwoWayDict(locations)
        self._new_rows.update(locations)
        self._require_update_dimensions = True
        self._update_count += 1
        self.cursor_coordinate = self.cursor_coordinate  # validated once, as add_row does per row
        if self.show_cursor and self.cursor_type != "none" and self.columns:
            self._highlight_cursor()
        self.check_idle()
        self.refresh()

    def update_cells(self, changes: Iterable[tuple[int, int, Any]]) -> int:
        """Set ``(row index, column index, value)`` cells; a wider value widens its column.

        Returns how many cells changed. Invalid coordinates raise, as ``update_cell_at`` does."""
        columns = self.ordered_columns
        count = 0
        wider = False
        todo = list(changes)
        for row_index, column_index, _ in todo:  # all checked before any changes
            if not self.is_valid_coordinate(Coordinate(row_index, column_index)):
                raise CellDoesNotExist(f"Coordinate {(row_index, column_index)!r} is invalid.")
        for row_index, column_index, value in todo:
            row_key = self._row_locations.get_key(row_index)
            assert row_key is not None  # a valid coordinate
            column = columns[column_index]
            self._data[row_key][column.key] = value
            count += 1
            width = cell_width(value)
            if width is None:
                width = _measured(self.app.console, value)
            if width > column.content_width:
                column.content_width = width
                wider = True
        if count:
            self._update_count += 1
            if wider:
                self._require_update_dimensions = True  # the virtual size (the table got wider)
                self.check_idle()
            self.refresh()
        return count

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Widths of new one-line, unlabelled rows measured cheaply; anything else as DataTable does."""
        new = list(new_rows)
        slow: list[RowKey] = []
        columns = self.ordered_columns
        console = None
        for row_key in new:
            meta = self.rows.get(row_key)
            if meta is None or row_key not in self._row_locations:
                continue  # removed before the idle came
            if meta.label is not None or meta.auto_height or meta.height != 1:
                slow.append(row_key)
                continue
            cells = self._data[row_key]
            for column in columns:
                value = cells.get(column.key)
                width = cell_width(value)
                if width is None:
                    console = console or self.app.console
                    width = _measured(console, value)
                if width > column.content_width:
                    column.content_width = width
        super()._update_dimensions(slow)  # the rest (and the virtual size, always)
