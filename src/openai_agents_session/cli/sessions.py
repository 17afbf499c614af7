"""`openai-agents-session sessions`: list, show, export, import, delete and gc.

Each verb calls one function of `openai_agents_session.admin` (or
`openai_agents_session.gc`) and formats its result. ``list`` and ``export --all``
stream the table page by page; ``show`` and ``export`` read a paged session's
pages, so they hold its whole history; ``import`` reads back what ``export``
wrote.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, TextIO

import typer
from rich.text import Text

from .._plan import DEFAULT_MAX_SESSION_BYTES, DEFAULT_PAGE_THRESHOLD, MIN_PAGE_THRESHOLD
from ..admin import (
    DEFAULT_PAGE_SIZE,
    ImportReport,
    ScanStats,
    SessionEntry,
    delete_session,
    iter_sessions,
    load_history,
    read_session,
    summary_row,
)
from ..admin import import_sessions as import_lines
from ..errors import SessionStoreError
from ..models.schema import SCHEMA
from ._common import (
    ExitCode,
    JsonOption,
    ReadableGroup,
    Target,
    console,
    err_console,
    exit_code_for,
    fail,
    labelled,
    open_client,
    print_json,
    run,
    target_command,
)
from ._render import conversation, expiry, human_size, session_rows_table, timestamp

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from ..gc import GcReport

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Inspect stored sessions: list, show, export and import (JSON Lines), delete, "
        "and gc (remove orphaned history pages)."
    ),
    cls=ReadableGroup,
    no_args_is_help=True,
    add_completion=False,
)

# --ttl-seconds beyond a century is a typo, and past DynamoDB's numbers an overflow.
_MAX_TTL_SECONDS = 100 * 366 * 86400

# Rows printed per Rich table while streaming, so output starts before the scan ends.
_CHUNK = 50

OwnerOption = Annotated[
    str | None,
    typer.Option("--owner", help="The owner (user or tenant id) the sessions belong to."),
]
KeyPrefixOption = Annotated[
    str | None,
    typer.Option("--key-prefix", help="A tenant's session-id prefix; ids outside it are refused."),
]

IncludeExpiredOption = Annotated[
    bool,
    typer.Option(
        "--include-expired",
        help=(
            "Include sessions whose ttl has passed (DynamoDB deletes them lazily) and "
            "cleared ones: the empty head `delete` leaves for a day (any empty session "
            "with a ttl looks the same)."
        ),
    ),
]
PageSizeOption = Annotated[
    int,
    typer.Option("--page-size", min=1, help="Items asked of each Scan request."),
]
SessionIdArgument = Annotated[
    str, typer.Argument(help="The session id.", metavar="SESSION_ID", show_default=False)
]


def _skipped(stats: ScanStats) -> str:
    parts: list[str] = []
    if stats.reserved:
        parts.append(f"{stats.reserved} reserved")
    if stats.expired:
        parts.append(f"{stats.expired} expired")
    if stats.cleared:
        parts.append(f"{stats.cleared} cleared")
    hint = " (--include-expired shows them)" if stats.expired or stats.cleared else ""
    return f"; skipped {', '.join(parts)}{hint}" if parts else ""


def _items_phrase(entry: SessionEntry) -> str:
    if entry.pages:
        return f"{entry.item_count} item(s), {entry.pages} page(s)"
    return f"{entry.item_count} item(s)"


@target_command(app, "list")
def list_sessions(
    target: Target,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Show at most this many sessions.", show_default=False),
    ] = None,
    include_expired: IncludeExpiredOption = False,
    check_pages: Annotated[
        bool,
        typer.Option(
            "--check-pages/--no-check-pages",
            help=(
                "Confirm that each paged session's pages exist (consistent, key-only "
                "BatchGetItem reads), so a lost page shows as corrupt."
            ),
        ),
    ] = True,
    page_size: PageSizeOption = DEFAULT_PAGE_SIZE,
    owner: OwnerOption = None,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor", help="With --owner: the cursor a previous page printed.", show_default=False
        ),
    ] = None,
    key_prefix: KeyPrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """List sessions: id, items, pages, total size, last update and expiry.

    With --owner, lists that owner's sessions newest first from the by-owner
    index (a Query, never a Scan): --limit sessions per page (default 20), and
    the cursor of the next page, if any, to pass back with --cursor (which
    needs --owner: without it the exit code is 2).

    Without --owner, scans the table page by page (never all of it in memory),
    skipping the library's reserved items (history pages among them) and, unless
    --include-expired, expired and cleared sessions. Corrupt sessions are listed
    with their error on stderr; the exit code stays 0. ITEMS counts the whole
    history and TOTAL is its uncompressed JSON size, pages included.

    With --json, both modes print one object: "sessions", a list of summaries
    with the same keys (session_id, owner, title, metadata, item_count, size
    (history bytes, pages included), pages, head_size (the head item's size by
    DynamoDB's rule), created_at, updated_at and expires_at (ISO 8601 UTC),
    expired, error; null where the mode does not know), and "cursor" (the
    next page's, or null).
    """
    if cursor is not None and owner is None:
        fail(
            "--cursor pages a by-owner listing: pass --owner too (a table scan has no cursor).",
            ExitCode.USAGE,
            as_json=as_json,
        )
    scan_only = [
        flag
        for flag, given in (
            ("--include-expired", include_expired),
            ("--page-size", page_size != DEFAULT_PAGE_SIZE),
        )
        if given
    ]
    if owner is not None and scan_only:
        fail(
            f"{' and '.join(scan_only)} shape a table scan; with --owner the index lists "
            "live sessions only. Fix: drop them, or drop --owner.",
            ExitCode.USAGE,
            as_json=as_json,
        )
    if owner is not None:
        _list_owner(target, owner, limit or 20, cursor, key_prefix, as_json=as_json)
        return
    stats = ScanStats()

    def rows(chunk: list[SessionEntry], header: bool) -> Any:
        # Spanning a terminal keeps streamed chunks aligned; piped, the table is
        # as wide as its cells, not the 1,000 columns the console allows.
        return session_rows_table(chunk, header=header, now=time.time(), expand=console.is_terminal)

    async def body() -> None:
        async with open_client(target, warn_global=True) as client:
            entries = iter_sessions(
                client,
                target.table,
                include_expired=include_expired,
                include_cleared=include_expired,
                check_pages=check_pages,
                limit=limit,
                page_size=page_size,
                stats=stats,
            )
            if as_json:
                # Streamed, so a large table prints as it is read; the same shape
                # as the by-owner listing's.
                separator = '{"sessions": [\n  '
                async for entry in entries:
                    sys.stdout.write(separator + json.dumps(entry.summary(), ensure_ascii=False))
                    separator = ",\n  "
                opened = separator.startswith("{")
                sys.stdout.write(('{"sessions": []' if opened else "\n]") + ', "cursor": null}\n')
                return
            chunk: list[SessionEntry] = []
            first = True
            async for entry in entries:
                chunk.append(entry)
                if entry.error is not None:
                    err_console.print(
                        labelled("error", "bold red", entry.error),
                        highlight=False,
                        soft_wrap=True,
                    )
                if len(chunk) == _CHUNK:
                    console.print(rows(chunk, first))
                    chunk, first = [], False
            if chunk:
                console.print(rows(chunk, first))

    run(body, as_json=as_json)
    if not as_json:
        if stats.yielded == 0:
            console.print(
                f"No sessions in table {target.table!r}{_skipped(stats)}.",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
        else:
            corrupt = f", {stats.corrupt} corrupt" if stats.corrupt else ""
            console.print(
                Text(
                    f"{stats.yielded} session(s){corrupt} in table {target.table!r}"
                    f"{_skipped(stats)}.",
                    style="dim",
                ),
                soft_wrap=True,
            )


def _header(entry: SessionEntry) -> Text:
    record = entry.record
    text = Text()
    text.append(entry.session_id, style="bold")
    if entry.pages:
        sizes = f"{human_size(entry.history_bytes)} of history  ·  head {human_size(entry.size)}"
    else:
        sizes = human_size(entry.size)
    text.append(
        f"  ·  {_items_phrase(entry)}  ·  {sizes}  ·  updated {timestamp(entry.updated)}",
        style="dim",
    )
    if record is not None and record.ttl is not None:
        label = "expired" if entry.expired else "expires"
        text.append(
            f"  ·  {label} {timestamp(record.ttl)} ({expiry(record.ttl, time.time())})",
            style="yellow" if entry.expired else "dim",
        )
    return text


def _readable(
    entry: SessionEntry | None,
    session_id: str,
    target: Target,
    *,
    as_json: bool,
    include_expired: bool,
) -> SessionEntry:
    if entry is None:
        fail(f"No session {session_id!r} in table {target.table!r}.", as_json=as_json)
    if entry.error is not None:
        fail(entry.error, as_json=as_json)
    ttl = entry.record.ttl if entry.record else None
    if entry.expired and not include_expired:
        fail(
            f"Session {session_id!r} expired at {timestamp(ttl)} (DynamoDB has not deleted "
            "it yet). Pass --include-expired to see it.",
            as_json=as_json,
        )
    if entry.cleared and not include_expired:
        fail(
            f"No session {session_id!r} in table {target.table!r}: it was cleared, and its "
            f"empty head remains until {timestamp(ttl)}. Pass --include-expired to see it.",
            as_json=as_json,
        )
    return entry


async def _with_history(
    client: DynamoDBClient,
    target: Target,
    found: SessionEntry | None,
    session_id: str,
    *,
    as_json: bool,
    include_expired: bool,
) -> SessionEntry:
    """Read the pages of a session `read_session` found; exit unless it is there to read."""
    entry = _readable(found, session_id, target, as_json=as_json, include_expired=include_expired)
    loaded = await load_history(client, target.table, entry)
    if loaded is None:
        fail(f"No session {session_id!r} in table {target.table!r}.", as_json=as_json)
    return loaded


@target_command(app, "show")
def show(
    target: Target,
    session_id: SessionIdArgument,
    include_expired: IncludeExpiredOption = False,
    as_json: JsonOption = False,
) -> None:
    """Show one conversation, item by item: messages by role, tool calls and their outputs.

    The whole history is shown: a paged session's pages are read too. When a
    page is missing or unreadable, the items the head still holds are shown and
    the exit code is 1.
    """

    async def body() -> SessionEntry | None:
        async with open_client(target, warn_global=True) as client:
            found = await read_session(client, target.table, session_id)
            if found is None or found.record is None:
                return found
            return await _with_history(
                client, target, found, session_id, as_json=as_json, include_expired=include_expired
            )

    entry = run(body, as_json=as_json)
    if entry is None:
        fail(f"No session {session_id!r} in table {target.table!r}.", as_json=as_json)
    record = entry.record
    if record is None:
        # A corrupt item: show it as stored, so a person can see what to repair.
        error = entry.error or "corrupt item"
        if as_json:
            print_json({SCHEMA.partition_key: session_id, "error": error, "raw": entry.raw})
            raise typer.Exit(int(ExitCode.ERROR))
        console.print(Text(f"{session_id} as stored (raw DynamoDB attributes):", style="bold"))
        console.print_json(json.dumps(entry.raw, ensure_ascii=False, default=str))
        fail(error)
    if entry.error is not None:
        # A page is missing or unreadable: show what the head still holds.
        head = record.conversation_data
        if as_json:
            print_json({**entry.summary(), "head_only": True, SCHEMA.payload: head})
            raise typer.Exit(int(ExitCode.ERROR))
        console.print(_header(entry))
        if head:
            console.print(
                Text(f"Only the newest {len(head)} item(s), held in the head, are readable:"),
                style="bold yellow",
            )
            console.print(conversation(head, start=(entry.item_count or 0) - len(head)))
        else:
            console.print(Text("The head holds no items: none is readable."), style="bold yellow")
        fail(entry.error)
    if as_json:
        print_json({**entry.summary(), SCHEMA.payload: record.conversation_data})
        return
    console.print(_header(entry))
    console.print(conversation(record.conversation_data))


@contextmanager
def _output_stream(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8") as handle:
        yield handle


@target_command(app, "export")
def export(
    target: Target,
    session_id: Annotated[
        str | None,
        typer.Argument(
            help="The session to export (or use --all).",
            metavar="SESSION_ID",
            show_default=False,
        ),
    ] = None,
    all_sessions: Annotated[
        bool, typer.Option("--all", help="Export every session, streaming the table.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file instead of stdout.", dir_okay=False
        ),
    ] = None,
    include_expired: IncludeExpiredOption = False,
    page_size: PageSizeOption = DEFAULT_PAGE_SIZE,
    as_json: JsonOption = False,
) -> None:
    """Export sessions as JSON Lines: one object per session with its whole history.

    Each line holds the stored attributes (session_id, updated_at, ttl) and
    conversation_data decoded into a list, oldest first; a paged session's
    pages are read and joined in. `sessions import` reads the file back.
    Cleared sessions are left out unless --include-expired. Corrupt sessions
    (an unreadable head, or a page missing or unreadable) are reported on
    stderr and skipped; the exit code is then 1. With --json the closing
    summary is a JSON object (on stdout with --output, else on stderr).
    """
    if (session_id is None) == (not all_sessions):
        fail("Give a SESSION_ID or --all (not both).", ExitCode.USAGE, as_json=as_json)
    stats = ScanStats()
    exported = 0
    corrupt = 0

    def report_corrupt(entry: SessionEntry) -> None:
        if as_json:
            sys.stderr.write(
                json.dumps({SCHEMA.partition_key: entry.session_id, "error": entry.error}) + "\n"
            )
        else:
            err_console.print(
                labelled("error", "bold red", entry.error or ""), highlight=False, soft_wrap=True
            )

    async def body() -> None:
        nonlocal exported, corrupt
        async with open_client(target, warn_global=True) as client:
            with _output_stream(output) as stream:
                if session_id is not None:
                    entry = await _with_history(
                        client,
                        target,
                        await read_session(client, target.table, session_id),
                        session_id,
                        as_json=as_json,
                        include_expired=include_expired,
                    )
                    if entry.error is not None:
                        fail(entry.error, as_json=as_json)
                    stream.write(json.dumps(entry.export(), ensure_ascii=False) + "\n")
                    exported = 1
                    return
                async for found in iter_sessions(
                    client,
                    target.table,
                    include_expired=include_expired,
                    include_cleared=include_expired,
                    page_size=page_size,
                    stats=stats,
                ):
                    loaded = await load_history(client, target.table, found)
                    if loaded is None:
                        continue  # deleted since the scan saw it
                    if loaded.error is not None:
                        report_corrupt(loaded)
                        corrupt += 1
                        continue
                    stream.write(json.dumps(loaded.export(), ensure_ascii=False) + "\n")
                    exported += 1

    run(body, as_json=as_json)
    summary: dict[str, Any] = {
        "exported": exported,
        "corrupt": corrupt,
        "output": str(output) if output else None,
    }
    if as_json:
        if output is not None:
            print_json(summary)
        else:
            sys.stderr.write(json.dumps(summary) + "\n")
    else:
        where = str(output) if output else "stdout"
        skipped = f"; skipped {corrupt} corrupt (see errors above)" if corrupt else ""
        err_console.print(f"Exported {exported} session(s) to {where}{skipped}.", highlight=False)
    if corrupt:
        raise typer.Exit(int(ExitCode.ERROR))


# ------------------------------------------------------------------ import


@contextmanager
def _input_stream(path: Path | None, *, as_json: bool) -> Iterator[BinaryIO]:
    # Bytes, not text: a line that is not UTF-8 is one failed line, not the end.
    if path is None or str(path) == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = path.open("rb")
    except OSError as exc:
        fail(f"Cannot read {str(path)!r}: {exc.strerror}.", ExitCode.USAGE, as_json=as_json)
    with handle:
        yield handle


@target_command(app, "import")
def import_sessions(
    target: Target,
    source: Annotated[
        Path | None,
        typer.Argument(
            help="JSON Lines as `sessions export` writes them; omit (or -) to read stdin.",
            metavar="FILE",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help=(
                "Clear a session that already has items (or a corrupt one), then import "
                "it. Without it such a session is refused and skipped."
            ),
        ),
    ] = False,
    ttl_seconds: Annotated[
        int | None,
        typer.Option(
            "--ttl-seconds",
            min=1,
            max=_MAX_TTL_SECONDS,
            help=(
                "Give every imported session a ttl this many seconds ahead. By default "
                "each keeps the ttl it was exported with (one already passed is skipped) "
                "and a session exported without one never expires."
            ),
            show_default=False,
        ),
    ] = None,
    page_threshold: Annotated[
        int,
        typer.Option(
            "--page-threshold",
            min=MIN_PAGE_THRESHOLD,
            help="Head size in bytes past which older items go into pages (as the library).",
        ),
    ] = DEFAULT_PAGE_THRESHOLD,
    max_session_bytes: Annotated[
        int,
        typer.Option(
            "--max-session-bytes", min=1, help="Cap on a session's history bytes (as the library)."
        ),
    ] = DEFAULT_MAX_SESSION_BYTES,
    as_json: JsonOption = False,
) -> None:
    """Import sessions from JSON Lines that `sessions export` wrote.

    Each session's whole history is stored with one add_items (paged as the
    library pages it), onto a session that is absent or empty. A session that
    already has items is refused and skipped unless --replace, which clears it
    first. Sessions with no items are skipped; updated_at is not restored (each
    import is a new write). A bad line (not UTF-8, not JSON, not an exported
    session, a ttl out of range, a session that cannot be stored) is reported
    with its line number and why, and the import goes on.

    The summary counts the lines read, imported, skipped and failed (with
    --json, an object with those counts and the errors). Exit code: 0 when no
    line failed or was refused; 1 when any did; 2 when FILE cannot be read;
    11 when DynamoDB is unreachable, denied or throttling (the import stops; the
    summary counts what was done).
    """
    report = ImportReport()
    stopped: SessionStoreError | None = None

    def problem(entry: dict[str, Any]) -> None:
        if not as_json:
            err_console.print(
                labelled("error", "bold red", f"line {entry['line']}: {entry['error']}"),
                highlight=False,
                soft_wrap=True,
            )

    async def body() -> None:
        nonlocal stopped
        async with open_client(target, warn_global=True) as client:
            with _input_stream(source, as_json=as_json) as stream:
                try:
                    await import_lines(
                        client,
                        target.table,
                        stream,
                        replace=replace,
                        ttl_seconds=ttl_seconds,
                        page_threshold=page_threshold,
                        max_session_bytes=max_session_bytes,
                        report=report,
                        on_problem=problem,
                    )
                except SessionStoreError as exc:
                    stopped = exc

    run(body, as_json=as_json)
    if as_json:
        print_json(dataclasses.asdict(report))
    else:
        skipped = [
            f"{count} {label}"
            for count, label in (
                (report.skipped_existing, "with items already (--replace overwrites them)"),
                (report.skipped_expired, "expired"),
                (report.skipped_empty, "empty"),
            )
            if count
        ]
        console.print(
            f"Imported {report.imported + report.replaced} session(s) ({report.replaced} "
            f"replaced, {report.items} item(s)) into table {target.table!r} from "
            f"{report.lines} line(s)"
            + (f"; skipped {', '.join(skipped)}" if skipped else "")
            + (f"; {report.failed} failed (see errors above)" if report.failed else "")
            + ".",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if stopped is not None:
        if not as_json:
            err_console.print(
                labelled("error", "bold red", f"stopped at {report.stopped}"),
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(int(exit_code_for(stopped)))
    if report.skipped_existing or report.failed:
        raise typer.Exit(int(ExitCode.ERROR))


def _list_owner(
    target: Target,
    owner: str,
    limit: int,
    cursor: str | None,
    key_prefix: str | None,
    *,
    as_json: bool,
) -> None:
    from ..catalog import SessionPage
    from ..catalog import list_sessions as list_owned

    async def body() -> SessionPage:
        async with open_client(target, warn_global=True) as client:
            return await list_owned(
                client, target.table, owner=owner, limit=min(limit, 1000), cursor=cursor,
                key_prefix=key_prefix, include_metadata=True,
            )  # fmt: skip

    page = run(body, as_json=as_json)
    if as_json:
        print_json({"sessions": [summary_row(s) for s in page.sessions], "cursor": page.cursor})
        return
    if not page.sessions:
        console.print(
            f"No sessions of owner {owner!r} in table {target.table!r}.",
            highlight=False,
            markup=False,
        )
    for summary in page.sessions:
        created = "-" if summary.created_at is None else timestamp(int(summary.created_at))
        console.print(
            Text.assemble(
                (summary.session_id, "bold"),
                f"  {summary.title or '(untitled)'}  {summary.item_count} items, "
                f"{human_size(summary.size)}, created {created}, "
                f"updated {timestamp(int(summary.updated_at))}",
            ),
            soft_wrap=True,
        )
        if summary.error is not None:
            err_console.print(
                labelled("error", "bold red", summary.error), highlight=False, soft_wrap=True
            )
    if page.cursor is not None:
        console.print(f"Next page: --cursor {page.cursor}", highlight=False, markup=False)


def _delete_owner(
    target: Target, owner: str, key_prefix: str | None, *, yes: bool, as_json: bool
) -> None:
    from ..catalog import EraseReport, delete_sessions

    if not yes and not typer.confirm(
        f"Erase every session of owner {owner!r} from table {target.table!r}?", err=as_json
    ):
        fail("Aborted: nothing deleted.", as_json=as_json)

    async def body() -> EraseReport:
        async with open_client(target, warn_global=True) as client:
            return await delete_sessions(client, target.table, owner=owner, key_prefix=key_prefix)

    report = run(body, as_json=as_json)
    if as_json:
        print_json(dataclasses.asdict(report))
        return
    console.print(
        f"Erased {report.sessions} session(s) of owner {owner!r} from table "
        f"{target.table!r} in {report.passes} pass(es).",
        highlight=False,
        markup=False,
    )
    for session_id in report.corrupt:
        err_console.print(
            labelled("warning", "yellow", f"{session_id!r} was corrupt; erased as found."),
            highlight=False,
        )
    for session_id in report.skipped:
        err_console.print(
            labelled("warning", "yellow", f"left {session_id!r}: outside --key-prefix."),
            highlight=False,
        )


@target_command(app, "delete")
def delete(
    target: Target,
    session_ids: Annotated[
        list[str] | None,
        typer.Argument(
            help="The session id(s) to delete.", metavar="SESSION_ID", show_default=False
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking for confirmation.")
    ] = False,
    owner: OwnerOption = None,
    key_prefix: KeyPrefixOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete sessions, after showing what each holds and asking (unless --yes).

    With --owner instead of ids, erases every session of that owner, history
    pages included, and prints the count: it repeats passes over the by-owner
    index until one finds nothing, so writes racing it are erased too; run it
    again if it was interrupted.

    Uses clear_session: the session's pages are deleted and its head is replaced
    by an empty one that expires after a day (so a late write cannot bring the
    conversation back); `list` no longer shows it. A session already cleared
    counts as not found. Corrupt items can be deleted too (that is how to get rid
    of one).
    """

    if owner is not None:
        if session_ids:
            fail("Pass session ids or --owner, not both.", as_json=as_json)
        _delete_owner(target, owner, key_prefix, yes=yes, as_json=as_json)
        return
    if not session_ids:
        fail("Pass the session id(s) to delete, or --owner OWNER.", as_json=as_json)
    session_ids = list(session_ids)

    async def read_all() -> list[SessionEntry | None]:
        async with open_client(target, warn_global=True) as client:
            return [await read_session(client, target.table, sid) for sid in session_ids]

    found: list[str] = []
    missing: list[str] = []
    for session_id, entry in zip(session_ids, run(read_all, as_json=as_json), strict=True):
        if entry is None or entry.cleared:
            missing.append(session_id)
            if not as_json:
                cleared = " (it is already cleared)" if entry is not None else ""
                err_console.print(
                    labelled(
                        "error",
                        "bold red",
                        f"no session {session_id!r} in table {target.table!r}{cleared}.",
                    ),
                    highlight=False,
                    soft_wrap=True,
                )
            continue
        if not yes:
            what = (
                "corrupt item"
                if entry.error is not None
                else f"{_items_phrase(entry)}, updated {timestamp(entry.updated)}"
            )
            prompt = f"Delete session {session_id!r} ({what}) from table {target.table!r}?"
            if not typer.confirm(prompt, err=as_json):
                fail("Aborted: nothing deleted.", as_json=as_json)
        found.append(session_id)

    async def delete_found() -> None:
        async with open_client(target, warn_global=True) as client:
            for session_id in found:
                await delete_session(client, target.table, session_id)

    run(delete_found, as_json=as_json)
    if as_json:
        print_json({"deleted": found, "not_found": missing})
    else:
        for session_id in found:
            console.print(
                f"Deleted session {session_id!r} from table {target.table!r}.", highlight=False
            )
    if missing:
        raise typer.Exit(int(ExitCode.ERROR))


# ------------------------------------------------------------------ gc


@target_command(app, "gc")
def collect_garbage_command(
    target: Target,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would be removed; delete nothing.")
    ] = False,
    grace: Annotated[
        float,
        typer.Option(
            "--grace",
            min=0,
            metavar="SECONDS",
            help=(
                "Leave unreferenced pages younger than this alone: the write that lists "
                "them may still be in flight."
            ),
        ),
    ] = 3600.0,
    as_json: JsonOption = False,
) -> None:
    """Remove history pages that no session lists.

    Such pages are left by a writer that crashed between writing its pages and
    its head, by a clean-up that failed after a pop or a clear, or by a head that
    expired before its pages. Pages a session's head lists (read consistently
    after the scan) are kept, and so are pages younger than --grace. The pages of
    a session whose head is corrupt are kept, and the exit code is then 1. With
    --json, prints the report (counts and the removed keys).
    """
    from ..gc import collect_garbage

    async def body() -> GcReport:
        async with open_client(target, warn_global=True) as client:
            return await collect_garbage(client, target.table, dry_run=dry_run, grace_seconds=grace)

    report = run(body, as_json=as_json)
    skipped: list[str] = list(getattr(report, "skipped_sessions", []) or [])
    if as_json:
        print_json(dataclasses.asdict(report))
    else:
        verb = "Would remove" if report.dry_run else "Removed"
        console.print(
            f"{verb} {report.removed} unreferenced page part(s) from table {target.table!r}; "
            f"kept {report.referenced} referenced and {report.young} younger than {grace:g}s "
            f"({report.parts_scanned} part(s) of {report.sessions} session(s) scanned).",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for session_id in skipped:
            err_console.print(
                labelled(
                    "error",
                    "bold red",
                    f"kept the pages of session {session_id!r}: its head is corrupt. Fix: "
                    "`openai-agents-session sessions show` it, then repair or delete it.",
                ),
                highlight=False,
                soft_wrap=True,
            )
    if skipped:
        raise typer.Exit(int(ExitCode.ERROR))
