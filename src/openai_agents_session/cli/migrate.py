"""`openai-agents-session migrate`: versioned migrations of the session table, from CI.

Each verb is one library coroutine of `openai_agents_session.migrations` plus a
renderer: Rich text for people, JSON with ``--json`` (errors included). The
target options are declared once (`target_command`); library errors print as
one line with their fix and exit with their documented code (`ExitCode`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Concatenate, NoReturn, ParamSpec, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from .. import migrations
from ..migrations import (
    CheckReport,
    DownResult,
    HistoryReport,
    MigrationInterruptedError,
    PlainReporter,
    Plan,
    Reporter,
    RichReporter,
    StampResult,
    StatusReport,
    UpResult,
)
from ._common import (
    EXIT_CODES_HELP,
    ExitCode,
    JsonOption,
    ReadableCommand,
    ReadableGroup,
    Target,
    console,
    err_console,
    fail,
    labelled,
    open_client,
    print_json,
    run,
    target_command,
)

__all__ = ["app"]

T = TypeVar("T")
P = ParamSpec("P")

app = typer.Typer(
    help="Versioned migrations of the session table: up, plan, status, check, stamp, down, new.",
    epilog=EXIT_CODES_HELP,
    cls=ReadableGroup,
    no_args_is_help=True,
    add_completion=False,
)

MigrationsDirOption = Annotated[
    Path | None,
    typer.Option(
        "--migrations-dir",
        envvar="OAS_MIGRATIONS_DIR",
        metavar="DIR",
        help="Folder of your own NNNN_slug.py migrations (a chain of its own).",
        file_okay=False,
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option(
        "--to", metavar="REVISION", help="Target revision id (or 'head').", show_default=False
    ),
]
LockTimeoutOption = Annotated[
    float,
    typer.Option(
        "--lock-timeout",
        min=0,
        metavar="SECONDS",
        help="Seconds to wait for another runner's lock (exit 5 after).",
    ),
]
LeaseOption = Annotated[
    float,
    typer.Option(
        "--lease-seconds",
        min=1,
        metavar="SECONDS",
        help="How long the lock's lease lasts without renewal; longer than any clock skew.",
    ),
]
RenewOption = Annotated[
    float | None,
    typer.Option(
        "--renew-interval",
        min=0.5,
        metavar="SECONDS",
        help="Seconds between lease renewals (a third of the lease by default); each renewal "
        "is one write to the lock item, seen by DynamoDB Streams consumers.",
        show_default=False,
    ),
]
SchemaOption = Annotated[
    str | None,
    typer.Option(
        "--schema",
        envvar="OAS_SCHEMA",
        metavar="MODULE:CLASS",
        help="Your SessionRecord subclass, e.g. myapp.records:ChatRecord (default: the one "
        "the newest team migration names).",
        show_default=False,
    ),
]
BillingOption = Annotated[
    str,
    typer.Option(
        "--billing-mode", metavar="MODE", help="PAY_PER_REQUEST (on-demand) or PROVISIONED."
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Say what would change; take no lock, write nothing.")
]
MaxRcuOption = Annotated[
    float | None,
    typer.Option("--max-rcu", min=0.1, metavar="UNITS", help="Backfill read units per second."),
]
MaxWcuOption = Annotated[
    float | None,
    typer.Option("--max-wcu", min=0.1, metavar="UNITS", help="Backfill write units per second."),
]


TeamFolderOption = Annotated[
    Path,
    typer.Option(
        "--migrations-dir",
        envvar="OAS_MIGRATIONS_DIR",
        metavar="DIR",
        help="Your migrations folder (`new` creates it if missing).",
        file_okay=False,
    ),
]
RenameOption = Annotated[
    list[str] | None,
    typer.Option(
        "--rename",
        metavar="OLD=NEW",
        help="With --autogenerate: attribute OLD was renamed NEW; each session's value is "
        "copied (reversible). Repeatable.",
        show_default=False,
    ),
]
AllowDropOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-drop",
        metavar="ATTRIBUTE",
        help="With --autogenerate: delete the stored values of this removed attribute. Repeatable.",
        show_default=False,
    ),
]


def _renames(values: list[str] | None, as_json: bool) -> dict[str, str]:
    renames: dict[str, str] = {}
    for value in values or ():
        old, _, new = value.partition("=")
        if not old or not new:
            fail(
                f"--rename takes OLD=NEW, got {value!r}. Fix: e.g. --rename tenant_id=tenant.",
                ExitCode.USAGE,
                as_json=as_json,
            )
        renames[old.strip()] = new.strip()
    return renames


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
    as_json: bool,
    verb: Callable[Concatenate[Any, str, P], Awaitable[T]],
    *args: P.args,
    **options: P.kwargs,
) -> T:
    """Run the library's `verb(client, table, **options)` on the target's table.

    One place opens the client, and turns SIGTERM / Ctrl-C into a resumable stop.
    """

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
                return await verb(client, target.table, *args, **options)
        except asyncio.CancelledError:
            raise MigrationInterruptedError(
                f"interrupted while migrating {target.table!r}; progress up to the last "
                "checkpoint is kept and the ledger says where it stopped. Fix: run the same "
                "command again to resume (`migrate status` shows what is left).",
                table_name=target.table,
            ) from None
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGTERM)

    return run(main, as_json=as_json)


def _exit(code: ExitCode) -> NoReturn:
    raise typer.Exit(int(code))


def _say(text: str) -> None:
    console.print(text, highlight=False, soft_wrap=True)


def _problems(title: str, lines: list[str]) -> None:
    err_console.print(Text(f"{title}:", style="bold red"), highlight=False)
    for line in lines:
        err_console.print(f"  - {line}", highlight=False, soft_wrap=True)


def _backfill_lines(backfills: dict[str, list[dict[str, Any]]]) -> None:
    for revision, results in backfills.items():
        for b in results:
            counts = ", ".join(
                f"{name} {b[name]}"
                for name in ("scanned", "changed", "unchanged", "already", "conflicts", "gone")
                if name in b
            )
            _say(f"  {revision} backfill {b['name']}: {counts}")


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
    if result.repaired:
        parts.append(f"{would}recreate index {', '.join(result.repaired)}")
    if not parts:
        return f"{result.table}: up to date at {result.head}"
    head = "" if result.dry_run else f"; now at {result.head}"
    return f"{result.table}: {'; '.join(parts)}{head}"


@target_command(app)
def up(
    target: Target,
    to: ToOption = None,
    dry_run: DryRunOption = False,
    lock_timeout: LockTimeoutOption = 60.0,
    lease_seconds: LeaseOption = migrations.DEFAULT_LEASE_SECONDS,
    renew_interval: RenewOption = None,
    max_rcu: MaxRcuOption = None,
    max_wcu: MaxWcuOption = None,
    billing_mode: BillingOption = "PAY_PER_REQUEST",
    migrations_dir: MigrationsDirOption = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="First recreate every index the ledger says was applied that is missing or "
            "has another key or projection (deleted or changed by hand).",
        ),
    ] = False,
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="Last, run every applied derived backfill again for the sessions that "
            "instances on an older record wrote during a rolling deploy.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create or adopt the table and apply pending migrations, under the lock."""
    billing_mode = _billing(billing_mode, as_json)
    reporter = _reporter(as_json)
    result = _execute(
        target,
        as_json,
        migrations.up,
        to=to,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
        lease_seconds=lease_seconds,
        renew_interval=renew_interval,
        migrations_dir=migrations_dir,
        max_rcu=max_rcu,
        max_wcu=max_wcu,
        billing_mode=billing_mode,
        reporter=reporter,
        repair=repair,
        reconcile=reconcile,
    )
    if as_json:
        print_json(result.to_dict())
        return
    _say(_describe_up(result))
    _backfill_lines(result.backfills)
    _backfill_lines({f"{r} (reconcile)": b for r, b in result.reconciled.items()})


# ---------------------------------------------------------------------- plan


@target_command(app)
def plan(
    target: Target,
    to: ToOption = None,
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what `up` would do, writing nothing (exit 6: dirty ledger; 4: drift)."""
    result: Plan = _execute(
        target,
        as_json,
        migrations.plan,
        to=to,
        migrations_dir=migrations_dir,
    )
    if as_json:
        print_json(result.to_dict())
    elif not result.steps:
        _say(f"{target.table}: nothing to do (at {result.head})")
    else:
        grid = Table(title=f"migrate up on {target.table} would:")
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
            _problems("drift (up would refuse)", result.drift)
        _exit(ExitCode.DRIFT)


# ---------------------------------------------------------------------- status / history


@target_command(app)
def status(
    target: Target,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 3 when migrations are pending (for CI gates).")
    ] = False,
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every migration's state, the lock and its lease, and ledger problems."""
    report: StatusReport = _execute(
        target,
        as_json,
        migrations.status,
        migrations_dir=migrations_dir,
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
        _say(f"table {report.table!r} does not exist yet")
    elif report.adoptable:
        _say(
            f"table {report.table!r} has no ledger yet: `migrate up` adopts it after checking "
            "it matches the schema"
        )
    grid = Table(title=f"migrations of {report.table} (head {report.head})")
    grid.add_column("revision", no_wrap=True)
    for column in ("chain", "state", "applied at (UTC)", "by"):
        grid.add_column(column)
    for entry in report.migrations:
        grid.add_row(
            entry.revision,
            entry.chain,
            entry.state,
            (entry.applied_at or "")[:19].replace("T", " "),
            entry.applied_by or "",
        )
    console.print(grid)
    if report.lock is not None:
        if report.lock_live:
            _say(
                f"lock held by {report.lock.holder} (token {report.lock.token}); lease "
                f"expires at {report.lease_expires_at}"
            )
        elif report.lock.owner:
            _say(f"lock expired: last held by {report.lock.holder} (token {report.lock.token})")
    if report.problems:
        _problems("dirty ledger", report.problems)
    elif report.pending:
        _say(f"pending: {', '.join(report.pending)}")


@target_command(app)
def history(target: Target, as_json: JsonOption = False) -> None:
    """Show the ledger's every event: who did what, when, how long it took (exit 6 if tampered)."""
    report: HistoryReport = _execute(target, as_json, migrations.history)
    if as_json:
        print_json(report.to_dict())
    elif not report.events and not report.problems:
        _say(f"{target.table}: the ledger is empty")
    else:
        grid = Table(title=f"ledger of {target.table}")
        grid.add_column("#", justify="right")
        grid.add_column("revision", no_wrap=True)
        for column in ("event", "at (UTC)", "duration", "by", "checksum"):
            grid.add_column(column)
        for event in report.events:
            grid.add_row(
                str(event.seq),
                event.revision,
                event.action + (f" ({event.error})" if event.error else ""),
                event.at[:19].replace("T", " "),
                f"{event.duration:.2f}s",
                event.by,
                event.checksum[:12],
            )
        console.print(grid)
    if report.problems:
        if not as_json:
            _problems("the ledger is inconsistent", report.problems)
        _exit(ExitCode.DIRTY_LEDGER)


# ---------------------------------------------------------------------- check


@target_command(app)
def check(
    target: Target,
    live: Annotated[
        bool | None,
        typer.Option(
            "--live/--offline",
            help="Also compare the live table (default: only when --endpoint-url is given).",
            show_default=False,
        ),
    ] = None,
    billing_mode: Annotated[
        str | None,
        typer.Option(
            "--billing-mode",
            metavar="MODE",
            help="Expected billing mode (default: the one recorded when the table was "
            "created or adopted).",
            show_default=False,
        ),
    ] = None,
    migrations_dir: MigrationsDirOption = None,
    schema: SchemaOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fail (exit 4) when the schema, the migrations and the live table disagree."""
    expected = _billing(billing_mode, as_json) if billing_mode else None
    compare_live = target.endpoint_url is not None if live is None else live
    if compare_live:
        report: CheckReport = _execute(
            target,
            as_json,
            migrations.check,
            migrations_dir=migrations_dir,
            billing_mode=expected,
            record=schema,
        )
    else:

        async def offline() -> CheckReport:
            return await migrations.check(
                None, target.table, migrations_dir=migrations_dir, record=schema
            )

        report = run(offline, as_json=as_json)
    if as_json:
        print_json(report.to_dict())
    else:
        where = "schema and live table" if report.live_checked else "schema (offline)"
        for warning in report.warnings:
            err_console.print(
                labelled("warning", "yellow", warning), highlight=False, soft_wrap=True
            )
        if report.drift:
            _problems(f"drift in the {where}", report.drift)
        if report.dirty:
            _problems("dirty ledger", report.dirty)
        if report.ok and report.live_checked:
            pending = f"; pending: {', '.join(report.pending)}" if report.pending else ""
            _say(f"{target.table}: no drift in the {where}{pending}")
        elif report.ok:
            # Offline, no table was read: naming one (the default) would claim otherwise.
            _say(f"no drift in the {where}; no table was compared (--live compares one)")
    if report.drift:
        _exit(ExitCode.DRIFT)
    if report.dirty:
        _exit(ExitCode.DIRTY_LEDGER)


# ---------------------------------------------------------------------- stamp / down / unlock


@target_command(app)
def stamp(
    target: Target,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="REVISION",
            help="Revision the ledger should end at (default: the built-in head; the team "
            "chain is left alone).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Unrecord migrations past --to (the next up runs them again), accept a "
            "tampered ledger as it is, and record migrations whose indexes the table lacks "
            "(shown as 'stamped, not run').",
        ),
    ] = False,
    dry_run: DryRunOption = False,
    lock_timeout: LockTimeoutOption = 60.0,
    lease_seconds: LeaseOption = migrations.DEFAULT_LEASE_SECONDS,
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record migrations as applied without running them, after verifying the table."""
    reporter = _reporter(as_json)
    result: StampResult = _execute(
        target,
        as_json,
        migrations.stamp,
        to=to,
        force=force,
        dry_run=dry_run,
        migrations_dir=migrations_dir,
        lock_timeout=lock_timeout,
        lease_seconds=lease_seconds,
        reporter=reporter,
    )
    if as_json:
        print_json(result.to_dict())
        return
    would = "would " if dry_run else ""
    parts = [f"ledger of {target.table} {would}end{'' if dry_run else 's'} at {result.target}"]
    if result.repaired:
        parts.append(f"{would}accept {len(result.repaired)} ledger problem(s)")
    if result.stamped:
        parts.append(f"{would}stamp {', '.join(result.stamped)}")
    if result.unstamped:
        parts.append(f"{would}unstamp {', '.join(result.unstamped)}")
    if result.not_run:
        parts.append(
            f"the table lacks the indexes of {', '.join(result.not_run)}: `status` shows them "
            "'stamped, not run' (`migrate up --repair` creates them)"
        )
    if not result.stamped and not result.unstamped and not result.repaired:
        parts.append("nothing to change")
    _say("; ".join(parts))


@target_command(app)
def down(
    target: Target,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="REVISION",
            help="Revision to go back to, or 'base' for before the team chain's first "
            "(default: one step; an unfinished rollback continues to its recorded target).",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    lock_timeout: LockTimeoutOption = 60.0,
    lease_seconds: LeaseOption = migrations.DEFAULT_LEASE_SECONDS,
    renew_interval: RenewOption = None,
    max_rcu: MaxRcuOption = None,
    max_wcu: MaxWcuOption = None,
    migrations_dir: MigrationsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revert reversible team migrations, newest first; refuse if any is irreversible."""
    reporter = _reporter(as_json)
    result: DownResult = _execute(
        target,
        as_json,
        migrations.down,
        to=to,
        dry_run=dry_run,
        migrations_dir=migrations_dir,
        lock_timeout=lock_timeout,
        lease_seconds=lease_seconds,
        renew_interval=renew_interval,
        max_rcu=max_rcu,
        max_wcu=max_wcu,
        reporter=reporter,
    )
    if as_json:
        print_json(result.to_dict())
        return
    would = "would revert" if result.dry_run else "reverted"
    if result.reverted:
        _say(f"{target.table}: {would} {', '.join(result.reverted)}; back at {result.target}")
    else:
        _say(f"{target.table}: nothing to revert")
    _backfill_lines(result.backfills)


@target_command(app)
def unlock(
    target: Target,
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
    previous = _execute(target, as_json, migrations.unlock)
    if as_json:
        print_json({"table": target.table, "released": previous.to_dict() if previous else None})
    elif previous is None:
        _say(f"{target.table}: nobody held the migration lock")
    else:
        _say(
            f"{target.table}: released the lock held by {previous.holder} (token {previous.token})"
        )


# ---------------------------------------------------------------------- new


@app.command(cls=ReadableCommand)
def new(
    slug: Annotated[
        str, typer.Argument(metavar="SLUG", help="What it does, e.g. add_message_stats.")
    ],
    migrations_dir: TeamFolderOption,
    autogenerate: Annotated[
        bool,
        typer.Option(
            "--autogenerate",
            help="Compare --schema with the newest team migration's snapshot and write the "
            "indexes and backfills that close the gap.",
        ),
    ] = False,
    schema: SchemaOption = None,
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", metavar="TEXT", help="One-line description."),
    ] = None,
    rename: RenameOption = None,
    allow_drop: AllowDropOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the next migration file of your folder (offline: no AWS needed)."""
    renames = _renames(rename, as_json)
    if (renames or allow_drop) and not autogenerate:
        fail(
            "--rename and --allow-drop tell --autogenerate what to write. Fix: add "
            "--autogenerate (and --schema), or write the operations by hand.",
            ExitCode.USAGE,
            as_json=as_json,
        )

    async def write() -> Path:
        record = migrations.import_record(schema) if schema else None
        return migrations.new_migration(
            migrations_dir,
            slug,
            description=message,
            record=record,
            autogenerate=autogenerate,
            renames=renames,
            allow_drop=allow_drop or (),
        )

    path = run(write, as_json=as_json)
    if as_json:
        print_json({"path": str(path), "revision": path.stem})
    else:
        _say(f"wrote {path}")


# ---------------------------------------------------------------------- rebase


@app.command(cls=ReadableCommand)
def rebase(
    revision: Annotated[
        str,
        typer.Argument(metavar="REVISION", help="Your migration that no table has applied yet."),
    ],
    migrations_dir: TeamFolderOption,
    schema: SchemaOption = None,
    rename: RenameOption = None,
    allow_drop: AllowDropOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move your unapplied migration after the chain's new head (offline: no AWS needed)."""
    renames = _renames(rename, as_json)

    async def move() -> migrations.RebaseResult:
        record = migrations.import_record(schema) if schema else None
        return migrations.rebase_migration(
            migrations_dir,
            revision,
            record=record,
            renames=renames,
            allow_drop=allow_drop or (),
        )

    result = run(move, as_json=as_json)
    if as_json:
        print_json(result.to_dict())
        return
    how = "regenerated" if result.regenerated else "re-chained"
    _say(f"{how} {result.old} as {result.revision} after {result.down_revision}: {result.path}")
    for child in result.reattached:
        _say(f"  {child} is back on its original parent")
