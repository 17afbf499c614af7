"""`openai-agents-session sessions`: list, show, export and delete stored sessions.

Each verb calls one function of `openai_agents_session.admin` and formats its
result. ``list`` and ``export --all`` stream the table page by page.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.markup import escape
from rich.text import Text

from ..admin import (
    DEFAULT_PAGE_SIZE,
    ScanStats,
    SessionEntry,
    delete_session,
    iter_sessions,
    read_session,
)
from ..models.schema import SCHEMA
from ._common import (
    DEFAULT_TABLE,
    EndpointOption,
    ExitCode,
    JsonOption,
    ProfileOption,
    RegionOption,
    TableOption,
    Target,
    console,
    err_console,
    fail,
    open_client,
    print_json,
    run,
)
from ._render import conversation, expiry, human_size, session_rows_table, timestamp

__all__ = ["app"]

app = typer.Typer(
    help="Inspect stored sessions: list, show, export (JSON Lines) and delete.",
    no_args_is_help=True,
)

# Rows printed per Rich table while streaming, so output starts before the scan ends.
_CHUNK = 50

IncludeExpiredOption = Annotated[
    bool,
    typer.Option(
        "--include-expired",
        help="Include sessions whose ttl has passed (DynamoDB deletes them lazily).",
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
        parts.append(f"{stats.expired} expired (--include-expired shows them)")
    return f"; skipped {', '.join(parts)}" if parts else ""


@app.command("list")
def list_sessions(
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Show at most this many sessions.", show_default=False),
    ] = None,
    include_expired: IncludeExpiredOption = False,
    page_size: PageSizeOption = DEFAULT_PAGE_SIZE,
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = "us-east-1",
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """List sessions: id, items, size, last update and expiry.

    Scans the table page by page (never all of it in memory), skipping the
    library's reserved items and, unless --include-expired, expired sessions.
    With --json, prints a JSON array of session summaries.
    """
    target = Target(table, region, endpoint_url, profile)
    stats = ScanStats()

    async def body() -> None:
        async with open_client(target) as client:
            entries = iter_sessions(
                client,
                target.table,
                include_expired=include_expired,
                limit=limit,
                page_size=page_size,
                stats=stats,
            )
            if as_json:
                separator = "[\n  "
                async for entry in entries:
                    sys.stdout.write(separator + json.dumps(entry.summary(), ensure_ascii=False))
                    separator = ",\n  "
                sys.stdout.write("[]\n" if separator.startswith("[") else "\n]\n")
                return
            chunk: list[SessionEntry] = []
            first = True
            async for entry in entries:
                chunk.append(entry)
                if entry.error is not None:
                    err_console.print(
                        f"[bold red]error:[/] {escape(entry.error)}",
                        highlight=False,
                        soft_wrap=True,
                    )
                if len(chunk) == _CHUNK:
                    console.print(session_rows_table(chunk, header=first, now=time.time()))
                    chunk, first = [], False
            if chunk:
                console.print(session_rows_table(chunk, header=first, now=time.time()))

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
    text.append(
        f"  ·  {entry.item_count} item(s)  ·  {human_size(entry.size)}"
        f"  ·  updated {timestamp(entry.updated)}",
        style="dim",
    )
    if record is not None and record.ttl is not None:
        label = "expired" if entry.expired else "expires"
        text.append(
            f"  ·  {label} {timestamp(record.ttl)} ({expiry(record.ttl, time.time())})",
            style="yellow" if entry.expired else "dim",
        )
    return text


async def _read(target: Target, session_id: str) -> SessionEntry | None:
    async with open_client(target) as client:
        return await read_session(client, target.table, session_id)


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
    if entry.expired and not include_expired:
        ttl = entry.record.ttl if entry.record else None
        fail(
            f"Session {session_id!r} expired at {timestamp(ttl)} (DynamoDB has not deleted "
            "it yet). Pass --include-expired to see it.",
            as_json=as_json,
        )
    return entry


@app.command("show")
def show(
    session_id: SessionIdArgument,
    include_expired: IncludeExpiredOption = False,
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = "us-east-1",
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one conversation, item by item: messages by role, tool calls and their outputs."""
    target = Target(table, region, endpoint_url, profile)
    found = run(lambda: _read(target, session_id), as_json=as_json)
    if found is not None and found.raw is not None and found.error is not None:
        # A corrupt item: show it as stored, so a person can see what to repair.
        if as_json:
            print_json({SCHEMA.partition_key: session_id, "error": found.error, "raw": found.raw})
            raise typer.Exit(int(ExitCode.ERROR))
        console.print(Text(f"{session_id} as stored (raw DynamoDB attributes):", style="bold"))
        console.print_json(json.dumps(found.raw, ensure_ascii=False, default=str))
        fail(found.error)
    entry = _readable(found, session_id, target, as_json=as_json, include_expired=include_expired)
    assert entry.record is not None
    if as_json:
        print_json({**entry.summary(), SCHEMA.payload: entry.record.conversation_data})
        return
    console.print(_header(entry))
    console.print(conversation(entry.record.conversation_data))


@contextmanager
def _output_stream(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8") as handle:
        yield handle


@app.command("export")
def export(
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
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = "us-east-1",
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export sessions as JSON Lines: one object per session with its items.

    Each line holds the stored attributes (session_id, updated_at, ttl) and
    conversation_data decoded into a list. Corrupt items are reported on stderr
    and skipped; the exit code is then 1. With --json the closing summary is a
    JSON object (on stdout with --output, else on stderr).
    """
    if (session_id is None) == (not all_sessions):
        fail("Give a SESSION_ID or --all (not both).", ExitCode.USAGE, as_json=as_json)
    target = Target(table, region, endpoint_url, profile)
    stats = ScanStats()
    exported = 0

    def report_corrupt(entry: SessionEntry) -> None:
        if as_json:
            sys.stderr.write(
                json.dumps({SCHEMA.partition_key: entry.session_id, "error": entry.error}) + "\n"
            )
        else:
            err_console.print(
                f"[bold red]error:[/] {escape(entry.error or '')}", highlight=False, soft_wrap=True
            )

    async def body() -> None:
        nonlocal exported
        async with open_client(target) as client:
            with _output_stream(output) as stream:
                if session_id is not None:
                    entry = _readable(
                        await read_session(client, target.table, session_id),
                        session_id,
                        target,
                        as_json=as_json,
                        include_expired=include_expired,
                    )
                    stream.write(json.dumps(entry.export(), ensure_ascii=False) + "\n")
                    exported = 1
                    return
                async for entry in iter_sessions(
                    client,
                    target.table,
                    include_expired=include_expired,
                    page_size=page_size,
                    stats=stats,
                ):
                    if entry.error is not None:
                        report_corrupt(entry)
                        continue
                    stream.write(json.dumps(entry.export(), ensure_ascii=False) + "\n")
                    exported += 1

    run(body, as_json=as_json)
    summary: dict[str, Any] = {
        "exported": exported,
        "corrupt": stats.corrupt,
        "output": str(output) if output else None,
    }
    if as_json:
        if output is not None:
            print_json(summary)
        else:
            sys.stderr.write(json.dumps(summary) + "\n")
    else:
        where = str(output) if output else "stdout"
        corrupt = f"; skipped {stats.corrupt} corrupt (see errors above)" if stats.corrupt else ""
        err_console.print(f"Exported {exported} session(s) to {where}{corrupt}.", highlight=False)
    if stats.corrupt:
        raise typer.Exit(int(ExitCode.ERROR))


@app.command("delete")
def delete(
    session_ids: Annotated[
        list[str],
        typer.Argument(
            help="The session id(s) to delete.", metavar="SESSION_ID", show_default=False
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking for confirmation.")
    ] = False,
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = "us-east-1",
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete sessions, after showing what each holds and asking (unless --yes).

    Corrupt items can be deleted too (that is how to get rid of one).
    """
    target = Target(table, region, endpoint_url, profile)

    async def read_all() -> list[SessionEntry | None]:
        async with open_client(target) as client:
            return [await read_session(client, target.table, sid) for sid in session_ids]

    found: list[str] = []
    missing: list[str] = []
    for session_id, entry in zip(session_ids, run(read_all, as_json=as_json), strict=True):
        if entry is None:
            missing.append(session_id)
            if not as_json:
                err_console.print(
                    f"[bold red]error:[/] no session {session_id!r} in table {target.table!r}.",
                    highlight=False,
                )
            continue
        if not yes:
            what = (
                "corrupt item"
                if entry.error is not None
                else f"{entry.item_count} item(s), updated {timestamp(entry.updated)}"
            )
            prompt = f"Delete session {session_id!r} ({what}) from table {target.table!r}?"
            if not typer.confirm(prompt, err=as_json):
                fail("Aborted: nothing deleted.", as_json=as_json)
        found.append(session_id)

    async def delete_found() -> None:
        async with open_client(target) as client:
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
