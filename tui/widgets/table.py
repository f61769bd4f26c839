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
  cells; ``rich.cells.cell_len``) without building console options for each cell;
* a one-line ``Text`` cell is rendered through Rich once per content and width, then given its
  row's styles (cursor, zebra stripe, hover, the click metadata) as DataTable gives them;
* a new virtual size (rows added or filtered out) updates the scrollbars without a layout pass
  of the whole screen (18-20 ms at 160x48): the table's own region does not depend on it; when a
  scrollbar appears or goes, that (a reactive of its own) still asks for the layout;
* clearing its caches (every replacement of the rows) unlinks their entries first: Textual's
  LRUCache keeps them in a ring, which ``clear()`` left to the cyclic garbage collector with every
  line, strip and row list it held (700,000 objects after 60 filter letters on 1,500 rows, and
  full collections of 50-150 ms, then 600 ms); unlinked, reference counting frees them at once;
* a line of one-line ``Text`` cells under a row cursor (every view's table) is drawn by
  :meth:`FleetTable._render_line` and kept by what it shows (its row's position, the very cell
  objects, cursor and hover on it, the crop, the widths, the styles), not by the table's update
  count: DataTable drew every visible line again for any change (a filter letter, a refresh, a
  cursor move), reading the table's and each component's style through every ancestor per line
  (three walks a line: 0.2 ms) and making three Strips a line. A filter letter that re-lists
  1,500 rows went from 27 to 15 ms (median, 160x48; in-process, benchmarks/tui.py's key script),
  a cursor move from 3.3 to 2.6 ms (p99 16 -> 9).

What the table shows is the same as the public calls would give: tests/tui/test_table.py renders
both ways and compares every line. It reaches into DataTable's attributes (``_data``, ``rows``,
``_row_locations``, ``_new_rows``, ``_update_count``): textual is pinned below 9 in pyproject.toml,
and that test fails loudly if a release renames them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import zip_longest
from typing import Any

from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual._segment_tools import line_crop
from textual._types import SegmentLines
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.render import measure
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist
from textual.widgets._data_table import Row as RowMeta
from textual.widgets._data_table import RowKey, default_cell_formatter

from fleetctl.core.records import record
from fleetctl.tui.rows import cell_width

__all__ = ["FleetTable", "cell_width"]


def _measured(console: Any, value: Any) -> int:
    """A cell DataTable formats itself (markup in a str, a number): measured as DataTable does."""
    if value is None:
        return 0  # DataTable shows None as an empty cell
    return measure(console, default_cell_formatter(value, wrap=False, height=1), 1)


def unlink(cache: LRUCache[Any, Any]) -> None:
    """Break the ring of ``cache``'s entries (each ``[prev, next, key, value]``) so that clearing it
    frees them by reference counting, not at the next full collection."""
    entries: Any = getattr(cache, "_cache", None)
    if isinstance(entries, dict):
        for entry in entries.values():
            if isinstance(entry, list):
                entry.clear()
    head: Any = getattr(cache, "_head", None)
    if isinstance(head, list):
        head.clear()


@record(frozen=True, slots=True)
class _Frame:
    """What every line of one frame shares (FleetTable.render_lines)."""

    base_style: Style
    keys: tuple[Any, ...]  # the columns' keys, in order
    widths: tuple[int, ...]  # their widths, padding included
    table_width: int  # the columns' and the row labels' widths
    width: int  # the table's width on screen
    header_height: int  # 0 when the header is hidden
    style_key: tuple[Any, ...]  # everything the rows' styles depend on


class FleetTable(DataTable[Any]):
    """A DataTable with bulk replacement and bulk cell updates (see the module's text)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: a cell's padded rendering by its content and width (see _render_cell)
        self._padded_cache: dict[tuple[Any, ...], SegmentLines] = {}
        #: inside _update_dimensions: a layout asked for is the new virtual size's (see refresh)
        self._sizing = False
        #: what every line of the frame being drawn shares (see render_lines), else None
        self._frame: _Frame | None = None
        #: lines as drawn, by what they show (see _render_line): (the cells, the line)
        self._row_lines: dict[tuple[Any, ...], tuple[tuple[Any, ...], Strip]] = {}
        #: styles that depend only on the CSS and the widget's state (see _line_styles); cleared
        #: with every style update
        self._styles_memo: dict[tuple[Any, ...], Any] = {}

    def replace_rows(self, rows: Sequence[tuple[str, Sequence[Any]]],
                     widths: Sequence[Sequence[int]] | None = None) -> None:
        """Every row at once, in order: ``(key, cells)``; keys must be unique. ``widths``, when
        given, are the cells' widths as :func:`cell_width` measures them (a view keeps them with
        its rows: a filter typed letter by letter lists the same rows again).

        The same as ``clear()`` and ``add_row(*cells, key=key)`` for each row (one-line rows, no
        labels), with one cache invalidation instead of one per row."""
        if widths is not None and len(widths) != len(rows):
            raise ValueError("one widths entry per row")
        columns = [c.key for c in self.ordered_columns]
        if any(len(cells) > len(columns) for _, cells in rows):
            raise ValueError("More values provided than there are columns.")
        locations = {RowKey(key): index for index, (key, _) in enumerate(rows)}
        if len(locations) != len(rows):
            raise ValueError("duplicate row keys")  # before anything changed
        # the old rows go before clear(), which would list them all in order only to drop the list
        self._data.clear()
        self.rows.clear()
        self._row_locations = TwoWayDict({})
        self.clear()
        if not rows:
            return
        data = self._data
        metas = self.rows
        for row_key, (_, cells) in zip(locations, rows):
            data[row_key] = dict(zip_longest(columns, cells)) if len(cells) < len(columns) else dict(zip(columns, cells))
            metas[row_key] = RowMeta(row_key, 1, None, False)
        self._row_locations = TwoWayDict(locations)
        # the rows in order and each line's row, as DataTable would list them on first use (each
        # row's key looked up by its index again: 1-2 ms on 1,500 rows)
        ordered = list(metas.values())
        update_count = self._update_count + 1
        self._ordered_row_cache[(len(ordered), update_count)] = ordered
        self._offset_cache[update_count] = [(meta.key, 0) for meta in ordered]
        if widths is None:
            self._new_rows.update(locations)  # measured on the idle (_update_dimensions)
        else:
            for column, width in zip(self.ordered_columns, map(max, zip_longest(*widths, fillvalue=0))):
                column.content_width = max(column.content_width, width)
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

    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        """A one-line ``Text`` cell: its padded rendering kept by content and width (what it
        shows does not depend on where the row is), then the row's styles applied; DataTable
        renders every visible cell again through Rich after any change (a refresh, a filter
        letter, the focus moving to the filter input: 40-75 ms a frame on 1,000 rows)."""
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        meta = self.rows.get(row_key) if row_key is not None else None
        if meta is None or meta.height != 1 or meta.auto_height or row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._data[row_key].get(column_key)
        if not isinstance(cell, Text):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        # DataTable's own key for the cell's rendering (the same cache, the same invalidation)
        key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor, self._update_count,
               self._pseudo_class_state)
        cached = self._cell_render_cache.get(key)
        if cached is not None:
            return cached
        is_fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, is_fixed, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        lines = [list(Segment.apply_style(line, pre_style, post_style)) for line in self._padded(cell, width)]
        self._cell_render_cache[key] = lines
        return lines

    def notify_style_update(self) -> None:
        self._styles_memo.clear()
        self._row_lines.clear()
        super().notify_style_update()

    def render_lines(self, crop: Region) -> list[Strip]:
        """What every line of a frame shares (the table's rich style, a walk over every
        ancestor's styles; the columns' widths; the reactives the drawing reads) read once per
        frame, not once per line or per cell."""
        self._pseudo_class_state = self.get_pseudo_class_state()  # (DataTable's render_lines does it too, later)
        self._frame = self._frame_now(self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._frame = None

    def _frame_now(self, base_style: Style) -> _Frame | None:
        """The frame's shared state, or None when DataTable must draw every line (fixed rows or
        columns, row labels, a cell or column cursor)."""
        if (self.cursor_type != "row" or self.fixed_columns or self.fixed_rows
                or (self._labelled_row_exists and self.show_row_labels)):
            return None
        columns = self.ordered_columns
        widths = tuple(column.get_render_width(self) for column in columns)
        style_key = (base_style, self.zebra_stripes, self.show_cursor, self._show_hover_cursor,
                     self.cursor_foreground_priority, self.cursor_background_priority, self._pseudo_class_state,
                     self.cell_padding)
        return _Frame(base_style, tuple(column.key for column in columns), widths,
                      sum(widths) + self._row_label_column_width, self.size.width,
                      self.header_height if self.show_header else 0, style_key)

    def render_line(self, y: int) -> Strip:
        frame = self._frame
        if frame is None:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= frame.header_height:
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + frame.width, frame.base_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """A row of one-line ``Text`` cells under a row cursor, without fixed columns or labels
        (every view's table), is drawn here; anything else as DataTable draws it. The same
        segments, styles and click metadata (tests/tui/test_table.py compares every line).

        DataTable keys each line by its position and the table's update count, so a filter letter
        or a refresh draws every visible line again, and a cursor move every line too. Here a
        line is kept by what it shows: the row's position (the click metadata), its cells (the
        very objects: cells are never changed in place, a change puts a new one), the cursor and
        hover on it, the crop, the widths and the styles. A line whose row and cells are where
        they were is not drawn again."""
        frame = self._frame
        if frame is None or frame.base_style != base_style:
            frame = self._frame_now(base_style)
            if frame is None:
                return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row_index = self._row_locations.get(row_key)
        meta = self.rows.get(row_key)
        if line_no or row_index is None or meta is None or meta.height != 1 or meta.auto_height:
            return super()._render_line(y, x1, x2, base_style)
        cells = self._data[row_key]
        texts: tuple[Any, ...] = tuple(cells.get(key) for key in frame.keys)
        cursor = self.cursor_coordinate.row == row_index
        hover = self.hover_coordinate.row == row_index
        key = (row_index, tuple(map(id, texts)), cursor, hover, x1, x2, frame.width, frame.widths, frame.table_width,
               frame.style_key)
        kept = self._row_lines.get(key)
        if kept is not None:
            return kept[1]
        if not all(type(text) is Text for text in texts):
            return super()._render_line(y, x1, x2, base_style)
        segments = self._row_segments(frame, texts, row_index, cursor, hover)
        width = frame.width
        length = frame.table_width + max(0, width - frame.table_width)
        cropped = line_crop(segments, x1, x2, width)
        shown = max(0, length - x1) if x2 >= width else -1  # (DataTable crops to the end then)
        if shown == width:  # one Strip where DataTable's three calls make three
            strip = Strip(Segment.simplify(cropped), width)
        elif 0 <= shown < width:
            cropped.append(Segment(" " * (width - shown), base_style))
            strip = Strip(Segment.simplify(cropped), width)
        else:
            strip = Strip(cropped).adjust_cell_length(width, base_style).simplify()
        if len(self._row_lines) >= 1_000:  # a screenful is 20-100 lines
            self._row_lines.clear()
        self._row_lines[key] = (texts, strip)  # the cells kept alive with it: their ids stay theirs
        return strip

    def _line_styles(self, frame: _Frame, row_index: int, cursor: bool, hover: bool) -> tuple[Any, ...]:
        """(the row's style, the cells' component and post styles, the style of the space right of
        the last column) as DataTable's _render_line_in_row computes them for a row cursor."""
        key = (frame.style_key, row_index % 2, cursor, hover)
        found = self._styles_memo.get(key)
        if found is None:
            if self.zebra_stripes:
                row_style = self.get_component_styles(
                    "datatable--odd-row" if row_index % 2 else "datatable--even-row").rich_style
            else:
                row_style = frame.base_style
            component, post = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
                self.cursor_foreground_priority == "css", self.cursor_background_priority == "css")
            extend, _ = self._get_styles_to_render_cell(
                False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor, False, False)
            found = (row_style, component, post, row_style + extend)
            self._styles_memo[key] = found
        return found

    def _row_segments(self, frame: _Frame, texts: Sequence[Text], row_index: int, cursor: bool,
                      hover: bool) -> list[Segment]:
        """The whole line's segments before cropping: each cell's padded rendering under the row's
        styles and its click metadata, then the space right of the last column."""
        memo = self._styles_memo
        if len(memo) > 20_000:  # (a style per row position and column: bounded while scrolling)
            memo.clear()
        row_style, component, post, extend = self._line_styles(frame, row_index, cursor, hover)
        segments: list[Segment] = []
        for column_index, (width, text) in enumerate(zip(frame.widths, texts)):
            key = (row_style, row_index, column_index, component)
            pre = memo.get(key)
            if pre is None:
                pre = memo[key] = row_style + Style.from_meta({"row": row_index, "column": column_index}) + component
            segments.extend(Segment.apply_style(self._padded(text, width)[0], pre, post))
        outside = memo.get((extend, row_index))
        if outside is None:
            outside = memo[(extend, row_index)] = extend + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * max(0, frame.width - frame.table_width), outside))
        return segments

    def _clear_caches(self) -> None:
        for cache in (self._row_render_cache, self._cell_render_cache, self._row_renderable_cache,
                      self._line_cache, self._offset_cache, self._ordered_row_cache):
            unlink(cache)
        super()._clear_caches()

    def _padded(self, cell: Text, width: int) -> SegmentLines:
        """``cell`` rendered in a ``width``-wide one-line cell with its padding, unstyled by the row."""
        content = (cell.plain, cell.style, tuple(cell.spans), cell.justify, cell.overflow, cell.no_wrap,
                   cell.end, cell.tab_size, width, self.cell_padding)
        cache = self._padded_cache
        found = cache.get(content)
        if found is None:
            options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
            found = self.app.console.render_lines(Padding(cell, (0, self.cell_padding)), options)
            if len(cache) >= 20_000:
                cache.clear()
            cache[content] = found
        return found

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
        self._sizing = True
        try:
            super()._update_dimensions(slow)  # the rest (and the virtual size, always)
        finally:
            self._sizing = False

    def refresh(self, *regions: Any, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Any:
        if layout and self._sizing and not recompose and not regions and self.is_mounted and self.container_size:
            # the virtual size changed: the scrollbars follow it (their visibility is a reactive
            # with its own layout when it changes); the table's region stays where it is
            self._scroll_update(self.virtual_size)
            layout = False
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
