"""Rich renderings shared by the ``sessions`` and ``demo`` commands.

Stored text is shown as `rich.text.Text`, never parsed as markup, so a message
containing ``[bold]`` prints as written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from rich.table import Table
from rich.text import Text

from ..admin import ItemView, SessionEntry, view_item
from ._common import plain

__all__ = ["conversation", "expiry", "human_size", "session_rows_table", "timestamp"]

_ROLE_STYLES = {
    "user": "bold green",
    "assistant": "bold cyan",
    "system": "bold magenta",
    "developer": "bold magenta",
}
_KIND_LABELS = {"tool_call": "tool call", "tool_output": "tool output", "reasoning": "reasoning"}
_KIND_STYLES = {"tool_call": "bold yellow", "tool_output": "yellow", "reasoning": "dim italic"}


def _label(view: ItemView) -> Text:
    if view.kind == "message":
        return Text(plain(view.role), style=_ROLE_STYLES.get(view.role, "bold"))
    return Text(_KIND_LABELS.get(view.kind, view.role), style=_KIND_STYLES.get(view.kind, "dim"))


def _short_call_id(call_id: str) -> str:
    return call_id if len(call_id) <= 14 else call_id[:14] + "…"


def conversation(items: Iterable[Mapping[str, Any]], *, start: int = 0) -> Table:
    """A conversation as a grid: index, who (role or tool), what was said or done.

    Args:
        items: The stored conversation items, oldest first.
        start: Index shown for the first item.
    """
    grid = Table.grid(padding=(0, 2))
    grid.add_column(justify="right", style="dim", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold", ratio=1)
    for index, item in enumerate(items, start):
        view = view_item(item)
        # Controls are made visible before Rich measures and folds the text: Rich drops
        # some of them while wrapping, and with them the text that follows.
        body = Text(plain(view.text), style="dim" if view.kind == "other" else "")
        if view.kind == "tool_call":
            body.stylize("yellow")
        if view.call_id:
            body.append(f"  ({_short_call_id(view.call_id)})", style="dim")
        grid.add_row(str(index), _label(view), body)
    return grid


def human_size(size: int | None) -> str:
    """Bytes as ``812 B`` / ``4.2 KB`` / ``3.1 MB`` (KB = 1024 bytes, as DynamoDB's
    400 KB limit); ``-`` for None."""
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KB" if size < 1024 * 1024 else f"{size / 1024**2:.1f} MB"


def timestamp(value: datetime | int | None) -> str:
    """A UTC time as ``2026-11-05 14:03Z``; ``-`` for None."""
    if value is None:
        return "-"
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, tz=timezone.utc)
    return value.strftime("%Y-%m-%d %H:%MZ")


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def expiry(ttl: int | None, now: float) -> str:
    """A TTL relative to `now`: ``in 59m``, ``3h ago`` or ``never``."""
    if ttl is None:
        return "never"
    return f"in {_span(ttl - now)}" if ttl > now else f"{_span(now - ttl)} ago"


def session_rows_table(
    entries: Iterable[SessionEntry], *, header: bool, now: float, expand: bool = True
) -> Table:
    """Sessions as table rows. Every column but the id has a fixed width, and with
    `expand` the table spans the console, so successive chunks of a streamed
    listing line up (without it, the id column is as wide as the longest id).

    ITEMS counts the whole history, PAGES the pages holding its older part and
    TOTAL is its uncompressed JSON size (the head item's own size, which DynamoDB's
    400 KB limit applies to, is in ``sessions list --json`` and ``sessions show``)."""
    table = Table(box=None, show_header=header, header_style="bold", pad_edge=False, expand=expand)
    table.add_column("SESSION", overflow="fold", ratio=1, min_width=12)
    table.add_column("ITEMS", justify="right", width=6, no_wrap=True)
    table.add_column("PAGES", justify="right", width=5, no_wrap=True)
    table.add_column("TOTAL", justify="right", width=8, no_wrap=True)
    table.add_column("UPDATED (UTC)", width=17, no_wrap=True)
    table.add_column("EXPIRES", width=10, no_wrap=True)
    table.add_column("STATUS", width=7, no_wrap=True)
    for entry in entries:
        record = entry.record
        if entry.error is not None:
            status = Text("corrupt", style="bold red")
        elif entry.expired:
            status = Text("expired", style="yellow")
        elif entry.cleared:
            status = Text("cleared", style="dim")
        else:
            status = Text("ok", style="green")
        table.add_row(
            Text(plain(entry.session_id)),
            "-" if entry.item_count is None else str(entry.item_count),
            "-" if entry.pages is None else str(entry.pages),
            human_size(entry.history_bytes),
            timestamp(entry.updated),
            "-" if record is None else expiry(record.ttl, now),
            status,
        )
    return table
