"""Fleet: the whole fleet as a tree (what k9s calls xray), from :mod:`fleetctl.workflows.fleet`.

host → node pairs (execution and consensus client) → containers (client, version, chain, role,
status, uptime); host → RelayMiner → its suppliers → the balancer → the full nodes behind it;
adopted endpoints under their host. A balancer serves many suppliers: the library shares its node
between them, and this view lists it under each, with row ids made from the path (parent id +
"/" + key), so the same balancer under two suppliers is two rows.

Children are added when a node is expanded (a RelayMiner of 1,000 suppliers costs nothing until
it is opened). A refresh (the app's interval, ``ctrl+r``) rebuilds what is shown: the nodes the
operator opened stay open (by path id), the cursor stays on the same node (else its nearest
ancestor still there). ``/`` filters (regex; ``/!text`` inverts; ``esc`` clears): the nodes whose
line matches, with their ancestors, opened down to them (up to :data:`AUTO_OPEN` lines). ``d``
describes a node (every field the library has), ``enter`` opens and closes, ``l`` streams the
log of a container (a node pair's, a RelayMiner, a balancer, a backend that is a container).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode as TNode

from fleetctl.core.events import CancelToken, Event, Progress
from fleetctl.core.levels import Level, worst
from fleetctl.tui.rows import Filter, describe_text, level_style, parse_filter
from fleetctl.tui.screens.base import FILTER_PLACEHOLDER, Refreshed, RefreshingView, error_line
from fleetctl.tui.widgets.prompt import LinePrompt

__all__ = ["AUTO_OPEN", "FleetView", "human_s", "node_line"]

#: Most rows a filter opens by itself (ancestors of matches, breadth first); past it, rows with
#: matches below stay closed (``enter`` opens them, filtered). Rows the operator opened count too.
AUTO_OPEN = 1000
#: Seconds after the last keystroke in the filter before the tree is filtered (enter: at once).
FILTER_DELAY_S = 0.15

#: the word each kind of node starts with
KIND_WORD = {"host": "host", "pair": "pair", "container": "ctr", "relayminer": "relayminer",
             "supplier": "supplier", "balancer": "balancer", "backend": "backend", "endpoint": "endpoint"}
KIND_STYLE = {"host": "bold cyan", "pair": "cyan", "container": "blue", "relayminer": "magenta",
              "supplier": "yellow", "balancer": "green", "backend": "blue", "endpoint": "dim cyan"}
#: what a plan's action says beside a container it would change
ACTION_WORD = {"create": "to create", "recreate": "to recreate", "remove": "to remove"}
_LINE_BREAKS = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def human_s(seconds: int | None) -> str:
    """A duration as an operator reads it: 45s, 12m, 2h5m, 3d4h ('' when unknown)."""
    if seconds is None or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        h, m = divmod(seconds // 60, 60)
        return f"{h}h{m}m" if m else f"{h}h"
    d, h = divmod(seconds // 3600, 24)
    return f"{d}d{h}h" if h else f"{d}d"


def _s(value: Any) -> str:
    """A value from the library as one line of text ('' for None)."""
    if value is None:
        return ""
    text = str(value)
    return text if text.isprintable() else _LINE_BREAKS.sub(" ", text)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _image_name(image: Any) -> str:
    """What a container without a client runs (a balancer, a RelayMiner): its image's name."""
    if not isinstance(image, str) or not image:
        return ""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return _s(last.split(":", 1)[0])


def _container_bits(d: dict[str, Any]) -> list[str]:
    """client version · chain · role · status · up 3d4h · restarts · plan's action."""
    bits = []
    name = _s(d.get("client")) or _image_name(d.get("image"))
    client = " ".join(x for x in (name, _s(d.get("version"))) if x)
    if client:
        bits.append(client)
    for k in ("chain",):
        if d.get(k):
            bits.append(_s(d[k]))
    role = d.get("layer") or d.get("role")
    if role:
        bits.append(_s(role))
    if d.get("status"):
        bits.append(_clip(_s(d["status"]), 40))
    up = human_s(d.get("uptime_s")) if isinstance(d.get("uptime_s"), int) else ""
    if up:
        bits.append(f"up {up}")
    restarts = d.get("restart_count")
    if isinstance(restarts, int) and restarts > 0:
        bits.append(f"{restarts} restart(s)")
    if d.get("stale_namespace"):
        bits.append("stale network namespace")
    if d.get("action") in ACTION_WORD:
        bits.append(ACTION_WORD[d["action"]])
    return bits


def _details(kind: str, d: dict[str, Any]) -> list[str]:
    if kind == "host":
        bits = [_s(d.get("address"))]
        if d.get("reachable") is False:
            bits.append("unreachable: " + _clip(_s(d.get("error") or "?"), 80))
        elif isinstance(d.get("containers"), int):
            bits.append(f"{d['containers']} container(s)")
        if isinstance(d.get("changes"), int) and d["changes"]:
            bits.append(f"{d['changes']} change(s) pending")
        return bits
    if kind == "pair":
        return [x for x in (_s(d.get("chain")), _s(d.get("mode")), "" if d.get("slot") is None else f"slot {d['slot']}")
                if x]
    if kind == "container":
        return _container_bits(d)
    if kind == "relayminer":
        return _container_bits({k: v for k, v in d.items() if k not in ("role", "layer")})
    if kind == "balancer":
        bits = _container_bits({k: v for k, v in d.items() if k not in ("role", "layer")})
        extra = [f"{len(d.get('backends') or [])} backend(s)"]
        if d.get("port"):
            extra.insert(0, f":{d['port']}")
        return bits[:2] + extra + bits[2:]
    if kind == "supplier":
        bits = [", ".join(_s(x) for x in d.get("services") or [])]
        if d.get("operator_address"):
            bits.append(_s(d["operator_address"]))
        if d.get("planned"):
            bits.append("to be created")
        return [b for b in bits if b]
    if kind == "backend":
        if d.get("adopted"):
            return [x for x in ("adopted", _s(d.get("client")), _s(d.get("url"))) if x]
        bits = _container_bits({k: v for k, v in d.items() if k != "chain"})
        if d.get("host"):
            bits.insert(1 if bits else 0, f"on {_s(d['host'])}")
        return bits
    if kind == "endpoint":
        return [x for x in ("adopted", _s(d.get("client")), _s(d.get("chain")), _s(d.get("layer")),
                            f"pair {_s(d['pair'])}" if d.get("pair") else "", _s(d.get("url"))) if x]
    return []


def node_line(node: Any, below: Level | None = None) -> Text:
    """One node's line: its kind, its name, its level in colour (and the worst level under it when
    worse), then what it is (for a container: client version, chain, role, status, uptime)."""
    line = Text(no_wrap=True)
    line.append(KIND_WORD.get(node.kind, _s(node.kind)) + " ", style=KIND_STYLE.get(node.kind, ""))
    line.append(_s(node.label), style="bold")
    if node.level is not None:
        line.append("  ")
        line.append(node.level.name, style=level_style(node.level))
    if below is not None and below != Level.OK and (node.level is None or below.severity > node.level.severity):
        line.append("  ")
        line.append(f"▲ {below.name} below", style=level_style(below))
    bits = [b for b in _details(node.kind, node.data) if b]
    if bits:
        line.append("  ")
        line.append(" · ".join(bits), style="dim" if node.level is None else "")
    return line


def container_of(node: Any) -> tuple[str, str] | None:
    """(host, container) of a node that is a container, else None (a pair, a supplier, an
    adopted endpoint or backend, a host)."""
    d = node.data
    if node.kind in ("container", "relayminer", "balancer") or (node.kind == "backend" and not d.get("adopted")):
        host, name = d.get("host"), d.get("name")
        if isinstance(host, str) and host and isinstance(name, str) and name:
            return host, name
    return None


class _Tree(Tree["_Entry"]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "open/close")]

    def process_label(self, label: str | Text) -> Text:
        # The view's lines are Text of one line already: no markup parsed, no copy split off.
        return label if isinstance(label, Text) else Text(label)


class _Entry:
    """What a row of the tree holds: its path id, the library's node, the parent row's id."""

    __slots__ = ("filled", "id", "node", "parent")

    def __init__(self, id: str, node: Any, parent: str | None) -> None:  # noqa: A002 - the path id
        self.id, self.node, self.parent, self.filled = id, node, parent, False


class _Observed(Message):
    """Hosts observed so far during a refresh (execute's Progress events)."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total


class FleetView(RefreshingView):
    VIEW = "fleet"
    CSS_PATH = "../styles/fleet.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "filter", key_display="/", priority=True),  # see the app's ':'
        Binding("enter", "open_close", "open/close"),
        Binding("d", "describe", "describe"),
        Binding("l", "logs", "logs"),
        Binding("ctrl+r", "refresh_now", "refresh"),
        Binding("escape", "back", "back"),
    ]

    def __init__(self, crumb: str | None = None) -> None:
        super().__init__(crumb)
        self.result: Any = None
        self.filter = Filter()
        self.prompt = LinePrompt("/", FILTER_PLACEHOLDER)
        #: path ids the operator opened (hosts at first) and closed: kept across refreshes
        self.expanded: set[str] = set()
        self.collapsed: set[str] = set()
        #: the rows on screen by path id
        self.rows_by_id: dict[str, TNode[_Entry]] = {}
        self._roots_seen: set[str] = set()
        self._progress = ""
        self._filter_timer: Timer | None = None
        self._clear_memos()

    # ------------------------------------------------------------------ what the view says
    def fetch(self, source: Any, cancel: CancelToken) -> Any:
        from fleetctl.tui import fetch

        return fetch.fleet(source, cancel, self.workflow_event)

    def workflow_event(self, event: Event) -> None:  # a worker thread
        if isinstance(event, Progress):
            self.post_message(_Observed(event.done, event.total))

    def summary(self, result: Any) -> Text:
        nodes = list(result.walk())
        hosts = [n for n in nodes if n.kind == "host"]
        down = [n for n in hosts if n.data.get("reachable") is False]
        containers = [n for n in nodes if n.kind in ("container", "relayminer", "balancer")]
        stopped = [n for n in containers if n.data.get("running") is False]
        count = {k: sum(1 for n in nodes if n.kind == k) for k in ("supplier", "endpoint")}
        line = Text(no_wrap=False)
        level = result.level
        if level is not None:
            line.append(level.name, style=level_style(level))
            line.append(" · ")
        line.append(f"{len(hosts)} host(s)" + (f" ({len(down)} unreachable)" if down else ""))
        line.append(f" · {len(containers)} container(s)")
        if stopped:
            line.append(f" ({len(stopped)} not running)", style=level_style(Level.CRITICAL))
        line.append(f" · {count['supplier']} supplier(s) · {count['endpoint']} adopted endpoint(s)")
        if result.observed_at is not None:
            line.append(" · observed " + datetime.fromtimestamp(result.observed_at).strftime("%H:%M:%S"))
        else:
            line.append(" · not observed (the plan only)")
        if result.errors:
            shown = "; ".join(_clip(_s(e), 160) for e in result.errors[:2])
            more = f" (+{len(result.errors) - 2} more: d on a host)" if len(result.errors) > 2 else ""
            line.append("\n" + shown + more, style="bold red")
        return line

    # ------------------------------------------------------------------ chrome
    def compose_body(self) -> ComposeResult:
        yield Static(id="summary", classes="summary")
        tree: Tree[_Entry] = _Tree("fleet", id="tree")
        tree.show_root = False
        tree.auto_expand = False  # enter is the view's: it fills a node's children first
        tree.guide_depth = 3
        yield tree

    def on_mount(self) -> None:
        self.query_one("#tree", Tree).focus()
        self.set_status(f"{self.crumb} · loading…")
        self.start_refresh()
        self.start_timer()

    @on(_Observed)
    def _observed(self, message: _Observed) -> None:
        self._progress = f"observing: {message.done}/{message.total} host(s)"
        if message.done >= message.total:
            self._progress = ""
        self.set_status(self._status(), self.error)

    @on(Refreshed)
    def _refreshed(self, message: Refreshed) -> None:
        if message.error is None and self.held_back(message, self._refreshed):
            return
        self._inflight = False
        self._progress = ""
        if message.error is None:
            try:
                summary = self.summary(message.result)
                old = self.result, self._memos()
                self.result = message.result
                self._clear_memos()
                try:
                    self.render_tree()
                except Exception:
                    self.result = old[0]
                    self._restore_memos(old[1])
                    self.render_tree()
                    raise
            except Exception as exc:  # noqa: BLE001 - a result the view cannot show is an error, not a crash
                message.error = error_line(exc)
            else:
                self.refreshed_at, self.refresh_duration = message.at, message.duration
                self.query_one("#summary", Static).update(summary)
        self.refresh_ended(message)

    def _status(self) -> str:
        parts = [self.crumb]
        if self.refreshed_at is not None:
            parts.append(f"{self.query_one('#tree', Tree).last_line + 1} row(s) shown")
            parts.append(f"refreshed {datetime.fromtimestamp(self.refreshed_at).strftime('%H:%M:%S')} "
                         f"({self.refresh_duration:.1f} s)")
        else:
            parts.append("loading…")
        if self._progress:
            parts.append(self._progress)
        if self.filter:
            matches = self._match_count()
            parts.append(f"filter /{self.filter.text}" + (" (literal)" if self.filter.literal else "")
                         + f": {matches} match(es)")
        every = self.app.options.refresh_s  # type: ignore[attr-defined]
        parts.append(f"every {every:g} s" if every else "refresh: ctrl+r")
        return " · ".join(parts)

    # ------------------------------------------------------------------ what is shown of the library's tree
    def _clear_memos(self) -> None:
        self._line: dict[int, Text] = {}
        self._worst: dict[int, Level | None] = {}
        self._match: dict[int, bool] = {}
        self._below: dict[int, bool] = {}
        self._count: dict[int, int] = {}

    def _memos(self) -> tuple[Any, ...]:
        return self._line, self._worst, self._match, self._below, self._count

    def _restore_memos(self, memos: tuple[Any, ...]) -> None:
        self._line, self._worst, self._match, self._below, self._count = memos

    def worst_of(self, node: Any) -> Level | None:
        """The worst level of a node and all under it (memoised: a shared balancer once)."""
        key = id(node)
        if key in self._worst:
            return self._worst[key]
        levels = [lv for lv in [node.level, *(self.worst_of(c) for c in node.children)] if lv is not None]
        out = worst(levels) if levels else None
        self._worst[key] = out
        return out

    def line_of(self, node: Any) -> Text:
        key = id(node)
        text = self._line.get(key)
        if text is None:
            text = self._line[key] = node_line(node, self.worst_of(node) if node.children else None)
        return text

    def _matches(self, node: Any) -> bool:
        """The filter keeps this node's own line (True without a filter)."""
        pattern = self.filter.pattern
        if pattern is None:
            return True
        key = id(node)
        if key not in self._match:
            self._match[key] = (pattern.search(self.line_of(node).plain) is not None) != self.filter.invert
        return self._match[key]

    def _has_below(self, node: Any) -> bool:
        """A node under this one is kept by the filter."""
        key = id(node)
        if key not in self._below:
            self._below[key] = any(self._keep(c) for c in node.children)
        return self._below[key]

    def _keep(self, node: Any) -> bool:
        return self.filter.pattern is None or self._matches(node) or self._has_below(node)

    def _kept_count(self, node: Any) -> int:
        """How many of a node's children the filter keeps (memoised: a shared balancer once)."""
        key = id(node)
        if key not in self._count:
            self._count[key] = sum(1 for c in node.children if self._keep(c))
        return self._count[key]

    def _kept(self, nodes: Iterable[Any]) -> list[Any]:
        return [n for n in nodes if self._keep(n)]

    def _match_count(self) -> int:
        if self.result is None or self.filter.pattern is None:
            return 0
        return sum(1 for n in self.result.walk() if self._matches(n))

    def _open(self, entry: _Entry, children: int, budget: list[int]) -> bool:
        """Whether a row is shown open: the operator's choice, else (filtering) opened down to a
        match while the budget lasts (its children are reserved from it)."""
        if entry.id in self.collapsed:
            opened = False
        elif entry.id in self.expanded:
            opened = True
        else:
            opened = self.filter.pattern is not None and budget[0] >= children and self._has_below(entry.node)
        if opened:
            budget[0] -= children
        return opened

    def _add(self, parent: TNode[_Entry], node: Any, pid: str | None, budget: list[int]) -> TNode[_Entry]:
        rid = node.key if pid is None else f"{pid}/{node.key}"
        entry = _Entry(rid, node, pid)
        children = self._kept_count(node)
        opened = children > 0 and self._open(entry, children, budget)
        row = parent.add(self.line_of(node), entry, expand=opened, allow_expand=children > 0)
        self.rows_by_id[rid] = row
        return row

    def _fill(self, row: TNode[_Entry], budget: list[int] | None = None) -> None:
        """Add a row's children, and theirs when they are shown open (breadth first)."""
        budget = budget if budget is not None else [AUTO_OPEN]
        todo: deque[TNode[_Entry]] = deque([row])
        while todo:
            current = todo.popleft()
            entry = current.data
            if entry is None or entry.filled:
                continue
            entry.filled = True
            for child in self._kept(entry.node.children):
                added = self._add(current, child, entry.id, budget)
                if added.is_expanded:
                    todo.append(added)

    def render_tree(self) -> None:
        """Show the result (filtered): the opened rows open, the cursor on the same row id (else
        its nearest ancestor still shown, else the same line)."""
        tree: Tree[_Entry] = self.query_one("#tree", Tree)
        cursor = tree.cursor_node
        chain: list[str] = []
        while cursor is not None and cursor.data is not None:
            chain.append(cursor.data.id)
            cursor = cursor.parent
        line = tree.cursor_line
        tree.clear()
        self.rows_by_id = {}
        if self.result is None:
            return
        for root in self.result.roots:  # hosts open the first time they are seen
            if root.key not in self._roots_seen:
                self._roots_seen.add(root.key)
                if root.kind == "host":
                    self.expanded.add(root.key)
        budget = [AUTO_OPEN]
        for root in self._kept(self.result.roots):
            row = self._add(tree.root, root, None, budget)
            if row.is_expanded:
                self._fill(row, budget)
        if not self.rows_by_id:
            return
        last = tree.last_line  # lays the lines out: each row knows its line
        target = next((self.rows_by_id[rid] for rid in chain if rid in self.rows_by_id), None)
        if target is not None:
            tree.move_cursor(target)
        else:
            tree.move_cursor_to_line(max(0, min(line, last)))

    # ------------------------------------------------------------------ rows opened and closed
    def cursor_entry(self) -> _Entry | None:
        node = self.query_one("#tree", Tree).cursor_node
        return node.data if node is not None else None

    @on(Tree.NodeExpanded, "#tree")
    def _expanded(self, event: Tree.NodeExpanded[_Entry]) -> None:
        entry = event.node.data
        if entry is None:
            return
        self.expanded.add(entry.id)
        self.collapsed.discard(entry.id)
        if not entry.filled and self.rows_by_id.get(entry.id) is event.node:
            self._fill(event.node)
        self.set_status(self._status(), self.error)

    @on(Tree.NodeCollapsed, "#tree")
    def _collapsed(self, event: Tree.NodeCollapsed[_Entry]) -> None:
        entry = event.node.data
        if entry is None:
            return
        self.expanded.discard(entry.id)
        self.collapsed.add(entry.id)
        self.set_status(self._status(), self.error)

    @on(Tree.NodeSelected, "#tree")
    def _selected(self, event: Tree.NodeSelected[_Entry]) -> None:
        event.stop()  # the tree took enter: open or close the row
        self._toggle(event.node)

    def _toggle(self, row: TNode[_Entry]) -> None:
        if not row.allow_expand:
            return
        if row.is_expanded:
            row.collapse()
        else:
            self._fill(row)  # before expanding: the children are there when it is drawn
            row.expand()

    def action_open_close(self) -> None:
        row = self.query_one("#tree", Tree).cursor_node
        if row is not None:
            self._toggle(row)

    # ------------------------------------------------------------------ keys
    def _set_filter(self, text: str) -> None:
        self.filter = parse_filter(text)
        self._match, self._below, self._count = {}, {}, {}
        self.collapsed.clear()  # a new filter opens down to its matches again
        self.render_tree()
        self.set_status(self._status(), self.error)

    def _stop_filter_timer(self) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None

    def filter_typed(self, text: str) -> None:
        # Applied once typing pauses: a keystroke never waits for a rebuild of a large tree.
        self._stop_filter_timer()
        if text != self.filter.text:
            self._filter_timer = self.set_timer(FILTER_DELAY_S, self._apply_filter)

    def filter_kept(self) -> None:
        self._apply_filter()

    def _apply_filter(self) -> None:
        self._stop_filter_timer()
        assert self.prompt is not None
        if self.prompt.value != self.filter.text:
            self._set_filter(self.prompt.value)

    def clear_filter(self) -> None:
        self._stop_filter_timer()
        assert self.prompt is not None
        self.prompt.value = ""
        self.prompt.close()
        if self.filter:
            self._set_filter("")
        else:
            self.set_status(self._status(), self.error)

    def action_describe(self) -> None:
        entry = self.cursor_entry()
        if entry is None:
            self.app.notify("nothing selected", severity="warning")
            return
        from fleetctl.tui.widgets.describe import DescribeScreen

        n = entry.node
        below = self.worst_of(n)
        doc = {"kind": n.kind, "key": n.key, "label": n.label, "level": n.level,
               "worst_below": below if n.children else None, "children": len(n.children), "data": n.data}
        self.app.push_screen(DescribeScreen(n.key, describe_text(doc)))

    def action_logs(self) -> None:
        entry = self.cursor_entry()
        where = container_of(entry.node) if entry is not None else None
        if entry is None or where is None:
            self.app.notify("no logs here: l reads a container's log (a pair's, a RelayMiner, a balancer, "
                            "a backend that is a container)", severity="warning")
            return
        if entry.node.data.get("exists") is False:
            self.app.notify(f"{where[1]} does not exist on {where[0]} (not created): no log", severity="warning")
            return
        from fleetctl.tui.screens.logs import LogsView

        self.app.push_screen(LogsView(*where))
