"""`openai-agents-session migrate`: versioned migrations of the session table, from CI.

Each verb calls one coroutine of `openai_agents_session.migrations` and formats
its result: Rich text on a terminal, JSON with ``--json``. Library errors print
as one line with their fix and exit with the documented code (pending 3, drift
4, lock busy 5, dirty ledger 6).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from .. import migrations
from ..migrations import (
    CheckReport,
    DirtyLedgerError,
    DriftError,
    HistoryReport,
    LockBusyError,
    MigrationInterruptedError,
    PlainReporter,
    Plan,
    Reporter,
    RichReporter,
    StatusReport,
    UnknownRevisionError,
    UpResult,
)
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
    labelled,
    open_client,
    print_json,
    run,
)

__all__ = ["app"]

T = TypeVar("T")

app = typer.Typer(
    help="Versioned migrations of the session table: up, plan, status, check, stamp, down.",
    no_args_is_help=True,
)

_CODES: dict[type[BaseException], ExitCode] = {
    UnknownRevisionError: ExitCode.USAGE,
    DriftError: ExitCode.DRIFT,
    LockBusyError: ExitCode.LOCK_BUSY,
    DirtyLedgerError: ExitCode.DIRTY_LEDGER,
}

MigrationsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--migrations-dir",
        envvar="OAS_MIGRATIONS_DIR",
        help="Folder of your own NNNN_slug.py migrations, chained after the built-in head.",
        file_okay=False,
    ),
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="Target revision id (or 'head').", show_default=False)
]
LockTimeoutOption = Annotated[
    float,
    typer.Option(
        "--lock-timeout", min=0, help="Seconds to wait for another runner's lock (exit 5 after)."
    ),
]
BillingOption = Annotated[
    str,
    typer.Option("--billing-mode", help="PAY_PER_REQUEST (on-demand) or PROVISIONED."),
]


def _target(
    table: str, region: str | None, endpoint_url: str | None, profile: str | None
) -> Target:
    return Target(table=table, region=region, endpoint_url=endpoint_url, profile=profile)


def _billing(value: str, as_json: bool) -> str:
    mode = value.upper()
    if mode not in ("PAY_PER_REQUEST", "PROVISIONED"):
        fail(
            f"--billing-mode must be PAY_PER_REQUEST or PROVISIONED, got {value!r}.",
            ExitCode.USAGE,
            as_json=as_json,
        )
    return mode


def _reporter(as_json: bool) -> Reporter:
    # A live bar only for a person at a terminal; CI logs and --json get plain lines on stderr.
    if not as_json and console.is_terminal:
        return RichReporter(err_console)
    return PlainReporter(sys.stderr)


def _execute(
    target: Target,
    verb: Callable[[Any], Awaitable[T]],
    *,
    as_json: bool,
) -> T:
    """Open the client, run `verb(client)`, and turn SIGTERM / Ctrl-C into a resumable stop."""

    async def main() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        handled = False
        if task is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGTERM, task.cancel)
                handled = True
        try:
            async with open_client(target) as client:
                return await verb(client)
        except asyncio.CancelledError:
            raise MigrationInterruptedError(
                f"interrupted while migrating {target.table!r}; progress up to the last "
                "checkpoint is kept. Fix: run `openai-agents-session migrate up` again to resume.",
                table_name=target.table,
            ) from None
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGTERM)

    return run(main, as_json=as_json, codes=_CODES)


def _exit(code: ExitCode) -> NoReturn:
    raise typer.Exit(int(code))


def _problems(title: str, lines: list[str]) -> None:
    err_console.print(Text(f"{title}:", style="bold red"), highlight=False)
    for line in lines:
        err_console.print(f"  - {line}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------- up


def _describe_up(result: UpResult) -> str:
    would = "would " if result.dry_run else ""
    parts: list[str] = []
    if result.created_table:
        parts.append(f"{would}create the table")
    if result.adopted:
        parts.append(f"{would}adopt {', '.join(result.adopted)}")
    # When the run created the table, the first applied revision is that creation.
    applied = result.applied[1:] if result.created_table else result.applied
    if applied:
        parts.append(f"{would}apply {', '.join(applied)}")
    if result.resumed:
        parts.append(f"resumed {', '.join(result.resumed)}")
    if not parts:
        return f"{result.table}: up to date at {result.head}"
    head = "" if result.dry_run else f"; now at {result.head}"
    return f"{result.table}: {'; '.join(parts)}{head}"


@app.command()
def up(
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    to: ToOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would change; write nothing.")
    ] = False,
    lock_timeout: LockTimeoutOption = 60.0,
    max_rcu: Annotated[
        float | None, typer.Option("--max-rcu", min=0.1, help="Backfill read units per second.")
    ] = None,
    max_wcu: Annotated[
        float | None, typer.Option("--max-wcu", min=0.1, help="Backfill write units per second.")
    ] = None,
    billing_mode: BillingOption = "PAY_PER_REQUEST",
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or adopt the table and apply pending migrations, under the lock."""
    billing_mode = _billing(billing_mode, as_json)
    reporter = _reporter(as_json)
    result = _execute(
        _target(table, region, endpoint_url, profile),
        lambda client: migrations.up(
            client,
            table,
            to=to,
            dry_run=dry_run,
            lock_timeout=lock_timeout,
            migrations_dir=migrations_dir,
            max_rcu=max_rcu,
            max_wcu=max_wcu,
            billing_mode=billing_mode,
            reporter=reporter,
        ),
        as_json=as_json,
    )
    if as_json:
        print_json(result.to_dict())
        return
    console.print(_describe_up(result), highlight=False)
    for revision, backfills in result.backfills.items():
        for b in backfills:
            console.print(
                f"  {revision} backfill {b['name']}: scanned {b['scanned']}, changed "
                f"{b['changed']}, unchanged {b['unchanged']}, conflicts {b['conflicts']}, "
                f"gone {b['gone']}",
                highlight=False,
            )


# ---------------------------------------------------------------------- plan


@app.command()
def plan(
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    to: ToOption = None,
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what `up` would do, writing nothing."""
    result: Plan = _execute(
        _target(table, region, endpoint_url, profile),
        lambda client: migrations.plan(client, table, to=to, migrations_dir=migrations_dir),
        as_json=as_json,
    )
    if as_json:
        print_json(result.to_dict())
    elif not result.steps:
        console.print(f"{table}: nothing to do (at {result.head})", highlight=False)
    else:
        grid = Table(title=f"migrate up on {table} would:")
        grid.add_column("step")
        grid.add_column("revision", no_wrap=True)
        grid.add_column("description")
        for step in result.steps:
            grid.add_row(step.action, step.revision, step.description)
        console.print(grid)
    if result.problems:
        if not as_json:
            _problems("dirty ledger (up would refuse)", result.problems)
        _exit(ExitCode.DIRTY_LEDGER)
    if result.drift:
        if not as_json:
            _problems("the table cannot be adopted", result.drift)
        _exit(ExitCode.DRIFT)


# ---------------------------------------------------------------------- status / history


@app.command()
def status(
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 3 when migrations are pending (for CI gates).")
    ] = False,
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every migration's state, the lock and ledger problems."""
    report: StatusReport = _execute(
        _target(table, region, endpoint_url, profile),
        lambda client: migrations.status(client, table, migrations_dir=migrations_dir),
        as_json=as_json,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        _print_status(report)
    if report.problems:
        _exit(ExitCode.DIRTY_LEDGER)
    if check and report.pending:
        _exit(ExitCode.PENDING)


def _print_status(report: StatusReport) -> None:
    if not report.table_exists:
        console.print(f"table {report.table!r} does not exist yet", highlight=False)
    elif report.adoptable:
        console.print(
            f"table {report.table!r} has no ledger yet: `migrate up` adopts it after checking "
            "it matches the schema",
            highlight=False,
        )
    grid = Table(title=f"migrations of {report.table} (head {report.head})")
    grid.add_column("revision", no_wrap=True)
    for column in ("state", "applied at (UTC)", "by"):
        grid.add_column(column)
    for entry in report.entries:
        record = entry.record
        grid.add_row(
            entry.revision,
            entry.state,
            (record.applied_at or "")[:19].replace("T", " ") if record else "",
            record.applied_by if record else "",
        )
    console.print(grid)
    if report.lock is not None:
        state = "held" if report.lock_live else "expired"
        console.print(
            f"lock {state}: {report.lock.holder} (token {report.lock.token})", highlight=False
        )
    if report.problems:
        _problems("dirty ledger", report.problems)
    elif report.pending:
        console.print(f"pending: {', '.join(report.pending)}", highlight=False)


@app.command()
def history(
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the ledger: who applied what, when, how long it took."""
    report: HistoryReport = _execute(
        _target(table, region, endpoint_url, profile),
        lambda client: migrations.history(client, table),
        as_json=as_json,
    )
    if as_json:
        print_json(report.to_dict())
        return
    if not report.records:
        console.print(f"{table}: the ledger is empty", highlight=False)
        return
    grid = Table(title=f"ledger of {table}")
    grid.add_column("revision", no_wrap=True)
    for column in ("status", "started (UTC)", "duration", "by", "checksum"):
        grid.add_column(column)
    for record in report.records:
        grid.add_row(
            record.revision,
            record.status + (f" ({record.error})" if record.error else ""),
            record.started_at[:19].replace("T", " "),
            f"{record.duration:.2f}s",
            record.applied_by,
            record.checksum[:12],
        )
    console.print(grid)


# ---------------------------------------------------------------------- check


@app.command()
def check(
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    live: Annotated[
        bool | None,
        typer.Option(
            "--live/--offline",
            help="Also compare the live table (default: only when --endpoint-url is given).",
            show_default=False,
        ),
    ] = None,
    billing_mode: BillingOption = "PAY_PER_REQUEST",
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fail (exit 4) when the schema, the migrations and the live table disagree."""
    billing_mode = _billing(billing_mode, as_json)
    compare_live = endpoint_url is not None if live is None else live
    target = _target(table, region, endpoint_url, profile)
    if compare_live:
        report: CheckReport = _execute(
            target,
            lambda client: migrations.check(
                client, table, migrations_dir=migrations_dir, billing_mode=billing_mode
            ),
            as_json=as_json,
        )
    else:

        async def offline() -> CheckReport:
            return await migrations.check(None, table, migrations_dir=migrations_dir)

        report = run(offline, as_json=as_json, codes=_CODES)
    if as_json:
        print_json(report.to_dict())
    else:
        where = "schema and live table" if report.live_checked else "schema (offline)"
        for warning in report.warnings:
            err_console.print(labelled("warning", "yellow", warning), highlight=False)
        if report.drift:
            _problems(f"drift in the {where}", report.drift)
        if report.dirty:
            _problems("dirty ledger", report.dirty)
        if report.ok:
            pending = f"; pending: {', '.join(report.pending)}" if report.pending else ""
            console.print(f"{table}: no drift in the {where}{pending}", highlight=False)
    if report.drift:
        _exit(ExitCode.DRIFT)
    if report.dirty:
        _exit(ExitCode.DIRTY_LEDGER)


# ---------------------------------------------------------------------- stamp / down / unlock


@app.command()
def stamp(
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Revision the ledger should end at (default: built-in head)."),
    ] = None,
    lock_timeout: LockTimeoutOption = 60.0,
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record migrations as applied without running them, after verifying the table."""
    reporter = _reporter(as_json)
    result = _execute(
        _target(table, region, endpoint_url, profile),
        lambda client: migrations.stamp(
            client,
            table,
            to=to,
            migrations_dir=migrations_dir,
            lock_timeout=lock_timeout,
            reporter=reporter,
        ),
        as_json=as_json,
    )
    if as_json:
        print_json(result.to_dict())
        return
    parts = [f"ledger of {table} now ends at {result.target}"]
    if result.adopted:
        parts.append(f"adopted {', '.join(result.adopted)}")
    if result.removed:
        parts.append(f"removed {', '.join(result.removed)}")
    if not result.adopted and not result.removed:
        parts.append("nothing to change")
    console.print("; ".join(parts), highlight=False)


@app.command()
def down(
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Revision to go back to (default: one step)."),
    ] = None,
    lock_timeout: LockTimeoutOption = 60.0,
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revert reversible migrations, newest first; refuse if any is irreversible."""
    reporter = _reporter(as_json)
    result = _execute(
        _target(table, region, endpoint_url, profile),
        lambda client: migrations.down(
            client,
            table,
            to=to,
            migrations_dir=migrations_dir,
            lock_timeout=lock_timeout,
            reporter=reporter,
        ),
        as_json=as_json,
    )
    if as_json:
        print_json(result.to_dict())
    elif result.reverted:
        console.print(
            f"{table}: reverted {', '.join(result.reverted)}; now at {result.target}",
            highlight=False,
        )
    else:
        console.print(f"{table}: nothing to revert", highlight=False)


@app.command()
def unlock(
    table: TableOption = DEFAULT_TABLE,
    region: RegionOption = None,
    endpoint_url: EndpointOption = None,
    profile: ProfileOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Required: end the lease whoever holds it.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """End a dead runner's lease on the migration lock (needs --force)."""
    if not force:
        fail(
            "unlock ends another runner's lease even if it is still working. Fix: make sure "
            "no migration is running (`migrate status`), then add --force.",
            ExitCode.USAGE,
            as_json=as_json,
        )
    previous = _execute(
        _target(table, region, endpoint_url, profile),
        lambda client: migrations.unlock(client, table),
        as_json=as_json,
    )
    if as_json:
        print_json({"table": table, "released": previous.to_dict() if previous else None})
    elif previous is None:
        console.print(f"{table}: nobody held the migration lock", highlight=False)
    else:
        console.print(
            f"{table}: released the lock held by {previous.holder} (token {previous.token})",
            highlight=False,
        )
