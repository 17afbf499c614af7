"""The migration runner: plan, up, status, history, check, stamp, down and unlock.

Each public coroutine is what one CLI verb calls. Order of work in `up`: load
and check the migration files; create the table if it is missing (the first
built-in migration, idempotent, before any lock, because the lock and the ledger
live in the table); take the lock; read the ledger and refuse a dirty one; adopt
a table that existed without a ledger after verifying it matches the schema;
then apply each pending migration, recording it ``running`` and then ``applied``
(or ``failed``) through the lock's fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TableNotFoundError
from ..store import validate_table_name
from ..tables import replica_warning
from .context import MigrationContext
from .drift import billing_differences, key_differences, offline_differences, ttl_differences
from .dynamo import aws_errors
from .errors import (
    DirtyLedgerError,
    DriftError,
    IrreversibleMigrationError,
    LeaseLostError,
    MigrationError,
    MigrationFailedError,
)
from .keys import checkpoint_id, key
from .ledger import (
    DONE,
    LedgerRecord,
    LedgerState,
    analyse,
    read_ledger,
    record_operations,
    removal_operations,
    sorted_records,
)
from .loader import Migration, MigrationGraph, load_migrations
from .lock import (
    DEFAULT_LEASE_SECONDS,
    LockInfo,
    MigrationLock,
    force_unlock,
    read_lock,
    runner_identity,
)
from .progress import Reporter, default_reporter

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "CheckReport",
    "DownResult",
    "HistoryReport",
    "Plan",
    "PlanStep",
    "StampResult",
    "StatusEntry",
    "StatusReport",
    "UpResult",
    "check",
    "down",
    "history",
    "plan",
    "stamp",
    "status",
    "unlock",
    "up",
]

_BATCH = 90  # ledger records per transaction (TransactWriteItems takes 100 entries)
NO_TTL_API = "the endpoint has no TTL API"


# ---------------------------------------------------------------------- results


@dataclass
class UpResult:
    """What `up` did (or, with ``dry_run``, would do).

    Attributes:
        table: The table.
        target: The revision the run went to.
        dry_run: Nothing was written.
        created_table: This run created the table.
        adopted: Revisions recorded as ``adopted`` (the table already had them).
        applied: Revisions applied (including resumed ones).
        resumed: Revisions that continued an interrupted run.
        head: The last applied revision afterwards.
        backfills: Backfill counts by revision.
        duration: Seconds.
    """

    table: str
    target: str
    dry_run: bool = False
    created_table: bool = False
    adopted: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    head: str | None = None
    backfills: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def changed(self) -> bool:
        """Whether the run applied or adopted anything."""
        return bool(self.adopted or self.applied or self.created_table)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "table": self.table,
            "target": self.target,
            "dry_run": self.dry_run,
            "created_table": self.created_table,
            "adopted": self.adopted,
            "applied": self.applied,
            "resumed": self.resumed,
            "head": self.head,
            "backfills": self.backfills,
            "duration": round(self.duration, 3),
        }


@dataclass(frozen=True)
class PlanStep:
    """One step `up` would take.

    Attributes:
        revision: The migration.
        description: What it does.
        action: ``create`` (make the table), ``adopt`` (record without running:
            the table already has it), ``apply`` or ``resume`` (continue an
            interrupted run).
    """

    revision: str
    description: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"revision": self.revision, "description": self.description, "action": self.action}


@dataclass
class Plan:
    """What `up` would do, found without writing anything.

    Attributes:
        table: The table.
        table_exists: Whether it exists.
        target: The revision `up` would go to.
        head: The last applied revision now.
        steps: The steps, in order.
        problems: Why the ledger is dirty (`up` would refuse), if it is.
        drift: Why an unledgered table cannot be adopted (`up` would refuse), if so.
    """

    table: str
    table_exists: bool
    target: str
    head: str | None
    steps: list[PlanStep]
    problems: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "table": self.table,
            "table_exists": self.table_exists,
            "target": self.target,
            "head": self.head,
            "steps": [s.to_dict() for s in self.steps],
            "problems": self.problems,
            "drift": self.drift,
        }


@dataclass(frozen=True)
class StatusEntry:
    """One migration's state.

    Attributes:
        revision: The migration.
        description: What it does.
        state: ``applied``, ``adopted``, ``pending``, ``running`` (a live
            runner holds the lock), ``interrupted`` (resumed by the next
            ``up``), ``failed`` or ``modified`` (edited after it was applied).
        record: Its ledger record, if any.
    """

    revision: str
    description: str
    state: str
    record: LedgerRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "revision": self.revision,
            "description": self.description,
            "state": self.state,
            "applied_at": self.record.applied_at if self.record else None,
            "applied_by": self.record.applied_by if self.record else None,
        }


@dataclass
class StatusReport:
    """The table's migration state.

    Attributes:
        table: The table.
        table_exists: Whether it exists.
        head: The last applied revision.
        target: The last migration on disk.
        entries: Every migration on disk, in order.
        pending: Revisions not applied yet.
        problems: Why the ledger is dirty, if it is.
        lock: The lock item, if there is one.
        lock_live: Whether its lease is still valid.
        adoptable: The table exists without a ledger (`up` or `stamp` adopts it).
    """

    table: str
    table_exists: bool
    head: str | None
    target: str
    entries: list[StatusEntry]
    pending: list[str]
    problems: list[str]
    lock: LockInfo | None = None
    lock_live: bool = False
    adoptable: bool = False

    @property
    def dirty(self) -> bool:
        """Whether the ledger disagrees with the files."""
        return bool(self.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "table": self.table,
            "table_exists": self.table_exists,
            "head": self.head,
            "target": self.target,
            "migrations": [e.to_dict() for e in self.entries],
            "pending": self.pending,
            "dirty": self.dirty,
            "problems": self.problems,
            "lock": self.lock.to_dict() if self.lock else None,
            "lock_live": self.lock_live,
            "adoptable": self.adoptable,
        }


@dataclass
class HistoryReport:
    """The ledger in the order migrations were started.

    Attributes:
        table: The table.
        records: Every ledger record.
    """

    table: str
    records: list[LedgerRecord]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"table": self.table, "records": [r.to_dict() for r in self.records]}


@dataclass
class CheckReport:
    """Drift between the schema, the migrations and (optionally) the live table.

    Attributes:
        table: The table.
        offline: The declared schema against the head migration's snapshot.
        live: The live table against the schema (empty when not checked).
        live_checked: Whether a live table was compared.
        dirty: Why the ledger is dirty (live check only).
        pending: Migrations not applied yet (live check only; not drift).
        warnings: Things not compared, and why.
    """

    table: str
    offline: list[str]
    live: list[str] = field(default_factory=list)
    live_checked: bool = False
    dirty: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def drift(self) -> list[str]:
        """Every difference, offline then live."""
        return [*self.offline, *self.live]

    @property
    def ok(self) -> bool:
        """No drift and a clean ledger."""
        return not self.drift and not self.dirty

    def raise_for_problems(self) -> None:
        """Raise `DriftError` on drift, else `DirtyLedgerError` on a dirty ledger."""
        if self.drift:
            raise DriftError(
                f"drift in {self.table!r}: " + "; ".join(self.drift),
                table_name=self.table,
                differences=self.drift,
            )
        if self.dirty:
            raise _dirty(self.table, self.dirty)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "table": self.table,
            "ok": self.ok,
            "offline": self.offline,
            "live": self.live,
            "live_checked": self.live_checked,
            "dirty": self.dirty,
            "pending": self.pending,
            "warnings": self.warnings,
        }


@dataclass
class StampResult:
    """What `stamp` recorded.

    Attributes:
        table: The table.
        target: The revision the ledger now ends at.
        adopted: Revisions newly recorded (or re-recorded) as ``adopted``.
        kept: Revisions whose records were already correct.
        removed: Records deleted (after the target, or with no file).
        unverified: Adopted revisions that have no ``verify`` to check them.
    """

    table: str
    target: str
    adopted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "table": self.table,
            "target": self.target,
            "adopted": self.adopted,
            "kept": self.kept,
            "removed": self.removed,
            "unverified": self.unverified,
        }


@dataclass
class DownResult:
    """What `down` reverted.

    Attributes:
        table: The table.
        target: The revision the table is back at.
        reverted: Revisions reverted, newest first.
    """

    table: str
    target: str | None
    reverted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"table": self.table, "target": self.target, "reverted": self.reverted}


# ---------------------------------------------------------------------- helpers


def _text(exc: BaseException) -> str:
    return str(exc).rstrip(". ")


def _dirty(table_name: str, problems: Sequence[str]) -> DirtyLedgerError:
    return DirtyLedgerError(
        f"the migration ledger of {table_name!r} is dirty: " + " | ".join(problems),
        table_name=table_name,
        problems=problems,
    )


async def _describe(client: DynamoDBClient, table_name: str) -> dict[str, Any] | None:
    try:
        with aws_errors("describe the table", table_name):
            response = await client.describe_table(TableName=table_name)
    except TableNotFoundError:
        return None
    return dict(response["Table"])


async def _table_exists(client: DynamoDBClient, table_name: str) -> bool:
    return await _describe(client, table_name) is not None


@dataclass
class _Run:
    """Settings shared by the coroutines of one invocation."""

    client: DynamoDBClient
    table_name: str
    graph: MigrationGraph
    reporter: Reporter
    dry_run: bool = False
    billing_mode: str = "PAY_PER_REQUEST"
    max_rcu: float | None = None
    max_wcu: float | None = None
    poll_interval: float = 5.0
    params: Mapping[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time

    def context(
        self, migration: Migration, *, attempt: str = "", fence: MigrationLock | None = None
    ) -> MigrationContext:
        return MigrationContext(
            client=self.client,
            table_name=self.table_name,
            revision=migration.revision,
            dry_run=self.dry_run,
            attempt=attempt or uuid.uuid4().hex,
            billing_mode=self.billing_mode,
            max_rcu=self.max_rcu,
            max_wcu=self.max_wcu,
            poll_interval=self.poll_interval,
            params=self.params,
            reporter=self.reporter,
            fence=fence,
            clock=self.clock,
        )

    async def adoptable(self, chain: Sequence[Migration]) -> tuple[list[Migration], list[str]]:
        """The leading migrations the live table already has, or the drift that forbids it."""
        adopted: list[Migration] = []
        for migration in chain:
            if migration.verify is None:
                break
            differences = await migration.verify(self.context(migration))
            if differences:
                if not adopted:
                    return [], differences
                break
            adopted.append(migration)
        if not adopted:
            return [], [f"{chain[0].revision} has no verify step; the table cannot be adopted"]
        return adopted, []


async def _write_records(lock: MigrationLock, table_name: str, records: list[LedgerRecord]) -> None:
    for start in range(0, len(records), _BATCH):
        await lock.write(record_operations(table_name, records[start : start + _BATCH]))


async def _clean_checkpoints(lock: MigrationLock, ctx: MigrationContext) -> None:
    deletes = [
        {"Delete": {"TableName": ctx.table_name, "Key": key(checkpoint_id(b.name, n))}}
        for b in ctx.backfills
        for n in range(b.segments)
    ]
    try:
        for start in range(0, len(deletes), _BATCH):
            await lock.write(deletes[start : start + _BATCH])
    except Exception as exc:  # stale checkpoints are ignored by the next attempt anyway
        ctx.reporter.warning(f"could not delete the checkpoints of {ctx.revision}: {exc}")


def _target_index(graph: MigrationGraph, to: str | None) -> int:
    return len(graph.chain) - 1 if to is None else graph.index(to)


# ---------------------------------------------------------------------- survey / plan


@dataclass
class _Survey:
    exists: bool
    records: dict[str, LedgerRecord]
    state: LedgerState
    adopt: list[Migration]
    drift: list[str]
    steps: list[PlanStep]


async def _survey(run: _Run, target: int) -> _Survey:
    """Read-only: what `up` would do now."""
    graph = run.graph
    table = await _describe(run.client, run.table_name)
    exists = table is not None
    if table is not None and key_differences(table):
        # Another key: the ledger cannot even be read, and `up` would refuse it.
        return _Survey(True, {}, analyse(graph, {}), [], key_differences(table), [])
    records = await read_ledger(run.client, run.table_name) if exists else {}
    state = analyse(graph, records)
    adopt: list[Migration] = []
    drift: list[str] = []
    steps: list[PlanStep] = []
    if not exists:
        root = graph.chain[0]
        steps.append(PlanStep(root.revision, root.description, "create"))
        todo = list(graph.chain[1 : target + 1])
    else:
        if not records:
            adopt, drift = await run.adoptable(graph.chain[: target + 1])
            steps += [PlanStep(m.revision, m.description, "adopt") for m in adopt]
        todo = [m for m in state.pending[len(adopt) :] if graph.index(m.revision) <= target]
    interrupted = state.interrupted.revision if state.interrupted else None
    for migration in todo:
        action = "resume" if migration.revision == interrupted else "apply"
        steps.append(PlanStep(migration.revision, migration.description, action))
    return _Survey(exists, records, state, adopt, drift, steps)


def _load(migrations_dir: str | Path | None, table_name: str) -> MigrationGraph:
    validate_table_name(table_name)
    return load_migrations(migrations_dir)


async def plan(
    client: DynamoDBClient,
    table_name: str,
    *,
    to: str | None = None,
    migrations_dir: str | Path | None = None,
) -> Plan:
    """What `up` would do, without writing anything (not even the lock).

    Args:
        client: aiobotocore DynamoDB client.
        table_name: The session table.
        to: Target revision (the last one by default).
        migrations_dir: The team's migrations folder, if any.
    """
    graph = _load(migrations_dir, table_name)
    target = _target_index(graph, to)
    run = _Run(client, table_name, graph, default_reporter(), dry_run=True)
    survey = await _survey(run, target)
    return Plan(
        table=table_name,
        table_exists=survey.exists,
        target=graph.chain[target].revision,
        head=survey.state.head,
        steps=survey.steps,
        problems=list(survey.state.problems),
        drift=survey.drift,
    )


# ---------------------------------------------------------------------- up


async def up(
    client: DynamoDBClient,
    table_name: str,
    *,
    to: str | None = None,
    dry_run: bool = False,
    lock_timeout: float = 60.0,
    migrations_dir: str | Path | None = None,
    max_rcu: float | None = None,
    max_wcu: float | None = None,
    billing_mode: str = "PAY_PER_REQUEST",
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    renew_interval: float | None = None,
    reporter: Reporter | None = None,
    params: Mapping[str, Any] | None = None,
    poll_interval: float = 5.0,
) -> UpResult:
    """Bring the table to `to` (the head by default): create, adopt, apply.

    Safe to run from several places at once: the table creation is idempotent
    and everything after it happens under the lock. A second run is a no-op.

    Args:
        client: aiobotocore DynamoDB client.
        table_name: The session table.
        to: Target revision (``head`` or None for the last one).
        dry_run: Take no lock and write nothing; run each pending step in
            counting mode (backfills report how many items would change).
        lock_timeout: Seconds to wait for another runner's lock.
        migrations_dir: The team's migrations folder, chained after the built-ins.
        max_rcu: Read capacity per second for backfills.
        max_wcu: Write capacity per second for backfills.
        billing_mode: Billing mode of a table this run creates.
        lease_seconds: Lease length of the lock.
        renew_interval: Seconds between lease renewals (a third of the lease by default).
        reporter: Receives step messages and progress (logging by default).
        params: Values handed to migrations as ``ctx.params``.
        poll_interval: Longest pause while waiting for the table or an index.

    Returns:
        What was created, adopted and applied.

    Raises:
        RevisionGraphError: The migration files do not form one chain.
        LockBusyError: Another runner held the lock past `lock_timeout`.
        DirtyLedgerError: An applied migration changed, failed or is missing.
        DriftError: An existing table without a ledger does not match the schema.
        MigrationFailedError: A migration raised; its record says ``failed``.
        LeaseLostError: The lock was lost mid-run; nothing more was written.
    """
    started = time.monotonic()
    graph = _load(migrations_dir, table_name)
    target = _target_index(graph, to)
    run = _Run(
        client,
        table_name,
        graph,
        reporter or default_reporter(),
        dry_run=dry_run,
        billing_mode=billing_mode,
        max_rcu=max_rcu,
        max_wcu=max_wcu,
        poll_interval=poll_interval,
        params=dict(params or {}),
    )
    result = UpResult(table=table_name, target=graph.chain[target].revision, dry_run=dry_run)
    try:
        if dry_run:
            await _up_dry(run, target, result)
        else:
            await _up(run, target, result, lock_timeout, lease_seconds, renew_interval)
    finally:
        run.reporter.close()
    result.duration = time.monotonic() - started
    return result


async def _up_dry(run: _Run, target: int, result: UpResult) -> None:
    survey = await _survey(run, target)
    if survey.state.problems:
        raise _dirty(run.table_name, survey.state.problems)
    if survey.drift:
        raise _drift_for_adoption(run.table_name, survey.drift)
    result.head = survey.state.head
    for step in survey.steps:
        migration = run.graph.get(step.revision)
        if step.action == "adopt":
            result.adopted.append(step.revision)
            continue
        result.applied.append(step.revision)
        if step.action == "create":
            result.created_table = True
        if survey.exists or step.action == "create":
            ctx = run.context(migration)
            await migration.upgrade(ctx)
            if ctx.backfills:
                result.backfills[step.revision] = [b.to_dict() for b in ctx.backfills]
        else:
            run.reporter.info(f"{step.revision}: would apply (the table does not exist yet)")


def _drift_for_adoption(table_name: str, differences: Sequence[str]) -> DriftError:
    return DriftError(
        f"table {table_name!r} exists without a migration ledger and does not match the "
        f"schema, so it was not adopted: {'; '.join(differences)}. Fix: correct the table "
        "(or use another table name); nothing was recorded.",
        table_name=table_name,
        differences=differences,
    )


async def _up(
    run: _Run,
    target: int,
    result: UpResult,
    lock_timeout: float,
    lease_seconds: float,
    renew_interval: float | None,
) -> None:
    graph, table_name = run.graph, run.table_name
    identity = runner_identity()
    root = graph.chain[0]
    created: tuple[MigrationContext, float, str] | None = None
    # The lock and the ledger live in the table, so the first migration runs before
    # the lock: it creates a missing table and refuses one whose key differs from
    # the schema (the lock item could not even be written there). It is idempotent.
    ctx = run.context(root)
    clock_started = time.monotonic()
    record_start = LedgerRecord.for_migration(
        root, status="running", applied_by=identity, attempt=ctx.attempt
    ).started_at
    await root.upgrade(ctx)
    if ctx.notes.get("created"):
        created = (ctx, time.monotonic() - clock_started, record_start)
        result.created_table = True
    lock = MigrationLock(
        run.client, table_name, lease_seconds=lease_seconds, renew_interval=renew_interval
    )
    async with lock.held(lock_timeout):
        records = await read_ledger(run.client, table_name)
        state = analyse(graph, records)
        if state.problems:
            raise _dirty(table_name, state.problems)
        first = records.get(root.revision)
        if created is not None and first is not None and first.status == "adopted":
            # A racing runner took the lock first and adopted the table this run
            # created: the ledger must say what happened, so this run records it.
            ctx, duration, started_at = created
            record = LedgerRecord.for_migration(
                root, status="applied", applied_by=identity, attempt=ctx.attempt
            )
            record = record.finished("applied", duration=duration, details=ctx.notes)
            await _write_records(lock, table_name, [_restart(record, started_at)])
            result.applied.append(root.revision)
            run.reporter.info(
                f"applied {root.revision}: {root.description} (a racing runner had "
                "recorded it as adopted)"
            )
            records = await read_ledger(run.client, table_name)
            state = analyse(graph, records)
        if not records:
            if created is not None:
                ctx, duration, started_at = created
                record = LedgerRecord.for_migration(
                    root, status="applied", applied_by=identity, attempt=ctx.attempt
                )
                record = record.finished("applied", duration=duration, details=ctx.notes)
                await _write_records(lock, table_name, [_restart(record, started_at)])
                result.applied.append(root.revision)
                run.reporter.info(f"applied {root.revision}: {root.description}")
            else:
                adopt, drift = await run.adoptable(graph.chain[: target + 1])
                if drift:
                    raise _drift_for_adoption(table_name, drift)
                adopted = [
                    LedgerRecord.for_migration(
                        m, status="adopted", applied_by=identity, attempt=uuid.uuid4().hex
                    ).finished("adopted", duration=0.0)
                    for m in adopt
                ]
                await _write_records(lock, table_name, adopted)
                result.adopted = [m.revision for m in adopt]
                run.reporter.info(
                    f"adopted {', '.join(result.adopted)}: the table already matches them"
                )
            state = analyse(graph, await read_ledger(run.client, table_name))
        interrupted = state.interrupted
        for migration in state.pending:
            if graph.index(migration.revision) > target:
                break
            resume = (
                interrupted if interrupted and interrupted.revision == migration.revision else None
            )
            await _apply(run, lock, migration, identity, resume, result)
        result.head = analyse(graph, await read_ledger(run.client, table_name)).head
    if not result.changed:
        run.reporter.info(f"{table_name}: up to date at {result.head}")


def _restart(record: LedgerRecord, started_at: str) -> LedgerRecord:
    return LedgerRecord(**{**record.__dict__, "started_at": started_at})


async def _apply(
    run: _Run,
    lock: MigrationLock,
    migration: Migration,
    identity: str,
    resume: LedgerRecord | None,
    result: UpResult,
) -> None:
    table_name = run.table_name
    attempt = resume.attempt if resume else uuid.uuid4().hex
    running = LedgerRecord.for_migration(
        migration, status="running", applied_by=identity, attempt=attempt
    )
    await lock.write(record_operations(table_name, [running]))
    ctx = run.context(migration, attempt=attempt, fence=lock)
    verb = "resuming" if resume else "applying"
    run.reporter.info(f"{verb} {migration.revision}: {migration.description}")
    began = time.monotonic()
    try:
        await migration.upgrade(ctx)
        ctx.check_lease()
    except asyncio.CancelledError:
        run.reporter.warning(
            f"{migration.revision} interrupted; `migrate up` resumes it from its checkpoints"
        )
        raise
    except LeaseLostError:
        raise
    except Exception as exc:
        failed = running.finished(
            "failed",
            duration=time.monotonic() - began,
            error=f"{type(exc).__name__}: {exc}",
            details=ctx.notes,
        )
        # Without the lease the record stays "running" and the next run resumes it.
        with contextlib.suppress(LeaseLostError):
            await lock.write(record_operations(table_name, [failed]))
        if isinstance(exc, MigrationError):
            raise
        raise MigrationFailedError(
            f"migration {migration.revision} failed: {type(exc).__name__}: {_text(exc)}. "
            "The ledger records it as failed. Fix: correct the migration, then "
            f"`openai-agents-session migrate stamp --to {migration.down_revision}` and "
            "`migrate up` again.",
            table_name=table_name,
            revision=migration.revision,
        ) from exc
    done = running.finished("applied", duration=time.monotonic() - began, details=ctx.notes)
    await lock.write(record_operations(table_name, [done]))
    await _clean_checkpoints(lock, ctx)
    result.applied.append(migration.revision)
    if resume:
        result.resumed.append(migration.revision)
    if ctx.backfills:
        result.backfills[migration.revision] = [b.to_dict() for b in ctx.backfills]
    run.reporter.info(f"applied {migration.revision} in {done.duration:.2f}s")


# ---------------------------------------------------------------------- status / history


async def status(
    client: DynamoDBClient,
    table_name: str,
    *,
    migrations_dir: str | Path | None = None,
    clock: Callable[[], float] = time.time,
) -> StatusReport:
    """The state of every migration, the lock, and whether the ledger is dirty.

    Args:
        client: aiobotocore DynamoDB client.
        table_name: The session table.
        migrations_dir: The team's migrations folder, if any.
        clock: Unix time, to tell a live lease from an expired one.
    """
    graph = _load(migrations_dir, table_name)
    exists = await _table_exists(client, table_name)
    records = await read_ledger(client, table_name) if exists else {}
    lock = await read_lock(client, table_name) if exists else None
    live = lock is not None and lock.live(clock())
    state = analyse(graph, records)
    entries: list[StatusEntry] = []
    for migration in graph.chain:
        record = records.get(migration.revision)
        if record is None:
            label = "pending"
        elif record.status == "running":
            label = "running" if live else "interrupted"
        elif record.status in DONE and record.checksum != migration.checksum:
            label = "modified"
        else:
            label = record.status
        entries.append(StatusEntry(migration.revision, migration.description, label, record))
    return StatusReport(
        table=table_name,
        table_exists=exists,
        head=state.head,
        target=graph.head.revision,
        entries=entries,
        pending=[m.revision for m in state.pending],
        problems=list(state.problems),
        lock=lock,
        lock_live=live,
        adoptable=exists and not records,
    )


async def history(client: DynamoDBClient, table_name: str) -> HistoryReport:
    """Every ledger record, oldest first."""
    validate_table_name(table_name)
    records = await read_ledger(client, table_name)
    return HistoryReport(table=table_name, records=sorted_records(records))


# ---------------------------------------------------------------------- check


async def check(
    client: DynamoDBClient | None,
    table_name: str,
    *,
    migrations_dir: str | Path | None = None,
    billing_mode: str = "PAY_PER_REQUEST",
) -> CheckReport:
    """Compare the declared schema with the migrations and, given a client, the live table.

    Offline (``client=None``, no AWS needed) it checks that `SessionRecord` still
    matches the schema snapshot recorded by the newest migration. With a client
    it also compares the live table's key schema, key attribute types, TTL and
    billing mode with the schema, and reads the ledger (dirty, pending).

    Args:
        client: aiobotocore DynamoDB client, or None for the offline check only.
        table_name: The session table.
        migrations_dir: The team's migrations folder, if any.
        billing_mode: The billing mode the table should have.

    Returns:
        The report; `CheckReport.raise_for_problems` turns it into an error.
    """
    graph = _load(migrations_dir, table_name)
    report = CheckReport(table=table_name, offline=offline_differences(graph))
    if client is None:
        return report
    report.live_checked = True
    if not await _table_exists(client, table_name):
        report.live.append(
            f"table {table_name!r} does not exist. Fix: run `openai-agents-session migrate up`."
        )
        return report
    run = _Run(client, table_name, graph, default_reporter(), dry_run=True)
    ctx = run.context(graph.chain[0])
    table = await ctx.describe_table()
    report.live += key_differences(table)
    report.live += billing_differences(table, billing_mode)
    replicated = replica_warning(table)
    if replicated:
        report.warnings.append(replicated)
    if report.live and key_differences(table):
        # With another key the ledger items cannot even be addressed.
        report.warnings.append("ledger and TTL not read: the table's key differs")
        return report
    records = await read_ledger(client, table_name)
    state = analyse(graph, records)
    report.dirty = list(state.problems)
    report.pending = [m.revision for m in state.pending]
    ttl = await ctx.describe_ttl()
    ttl_problems = ttl_differences(ttl) if ttl is not None else []
    noted = any(r.details.get("ttl") == NO_TTL_API for r in records.values())
    if ttl is None or (ttl_problems and noted):
        report.warnings.append(f"TTL not compared: {NO_TTL_API}")
    else:
        report.live += ttl_problems
    return report


# ---------------------------------------------------------------------- stamp / down / unlock


async def stamp(
    client: DynamoDBClient,
    table_name: str,
    *,
    to: str | None = None,
    migrations_dir: str | Path | None = None,
    lock_timeout: float = 60.0,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    reporter: Reporter | None = None,
) -> StampResult:
    """Set the ledger to end at `to` without running anything: adopt, or repair.

    Every migration up to `to` that defines ``verify`` (the built-ins do) is
    checked against the live table first; any difference raises `DriftError`
    and nothing is recorded. Records that are correct are kept; missing,
    failed, interrupted or checksum-mismatched ones are re-recorded as
    ``adopted``; records after `to` (or without a file) are deleted. No session
    item is read or written.

    Args:
        client: aiobotocore DynamoDB client.
        table_name: The session table.
        to: The revision the ledger should end at; the built-in head by default.
        migrations_dir: The team's migrations folder, if any.
        lock_timeout: Seconds to wait for another runner's lock.
        lease_seconds: Lease length of the lock.
        reporter: Receives step messages.

    Raises:
        DriftError: The table does not have a migration's effect.
        TableNotFoundError: The table does not exist.
    """
    graph = _load(migrations_dir, table_name)
    target = graph.index(to) if to is not None else graph.index(graph.builtin_head.revision)
    chain = graph.chain[: target + 1]
    run = _Run(client, table_name, graph, reporter or default_reporter(), dry_run=True)
    result = StampResult(table=table_name, target=chain[-1].revision)
    with aws_errors("describe the table", table_name):
        described = await client.describe_table(TableName=table_name)
    differences = key_differences(described["Table"])
    if differences:
        # Checked before the lock: with another key, not even the lock item fits.
        raise DriftError(
            f"table {table_name!r} has another key than the schema: {'; '.join(differences)}. "
            "Nothing was recorded. Fix: use a table made by `openai-agents-session migrate up`.",
            table_name=table_name,
            differences=differences,
        )
    lock = MigrationLock(client, table_name, lease_seconds=lease_seconds)
    async with lock.held(lock_timeout):
        records = await read_ledger(client, table_name)
        keep: list[Migration] = []
        record: list[Migration] = []
        for migration in chain:
            existing = records.get(migration.revision)
            if existing and existing.status in DONE and existing.checksum == migration.checksum:
                keep.append(migration)
            else:
                record.append(migration)
        # Only what is about to be recorded is verified; the rest the ledger vouches for.
        for migration in record:
            if migration.verify is None:
                result.unverified.append(migration.revision)
            else:
                differences += await migration.verify(run.context(migration))
        if differences:
            raise DriftError(
                f"table {table_name!r} does not match the migrations up to "
                f"{result.target}: {'; '.join(differences)}. Nothing was recorded. Fix: "
                "stamp an earlier revision and let `migrate up` apply the rest.",
                table_name=table_name,
                differences=differences,
            )
        identity = runner_identity()
        fresh = [
            LedgerRecord.for_migration(
                m, status="adopted", applied_by=identity, attempt=uuid.uuid4().hex
            ).finished("adopted", duration=0.0)
            for m in record
        ]
        result.kept = [m.revision for m in keep]
        result.adopted = [m.revision for m in record]
        wanted = {m.revision for m in chain}
        result.removed = sorted(r for r in records if r not in wanted)
        await _write_records(lock, table_name, fresh)
        for start in range(0, len(result.removed), _BATCH):
            await lock.write(removal_operations(table_name, result.removed[start : start + _BATCH]))
    if result.unverified:
        run.reporter.warning(
            f"recorded without verification (no verify step): {', '.join(result.unverified)}"
        )
    return result


async def down(
    client: DynamoDBClient,
    table_name: str,
    *,
    to: str | None = None,
    migrations_dir: str | Path | None = None,
    lock_timeout: float = 60.0,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    reporter: Reporter | None = None,
    params: Mapping[str, Any] | None = None,
) -> DownResult:
    """Revert applied migrations newer than `to` (one step by default), newest first.

    Refuses, reverting nothing, when any of them has no ``downgrade`` (the
    built-ins have none: they would drop the sessions or, for TTL, hit
    DynamoDB's one-hour rule).

    Raises:
        IrreversibleMigrationError: A migration on the way has no ``downgrade``.
        DirtyLedgerError: The ledger is dirty or a run was interrupted.
    """
    graph = _load(migrations_dir, table_name)
    run = _Run(client, table_name, graph, reporter or default_reporter(), params=dict(params or {}))
    lock = MigrationLock(client, table_name, lease_seconds=lease_seconds)
    async with lock.held(lock_timeout):
        state = analyse(graph, await read_ledger(client, table_name))
        if state.problems:
            raise _dirty(table_name, state.problems)
        if state.interrupted is not None:
            raise _dirty(
                table_name,
                [f"{state.interrupted.revision} was interrupted. Fix: finish it with `migrate up`"],
            )
        applied = list(state.applied)
        if not applied:
            return DownResult(table=table_name, target=None)
        if to is None:
            stop = len(applied) - 2
        else:
            stop = graph.index(to)
            if stop >= len(applied):
                raise MigrationError(
                    f"{to} is not applied (head is {applied[-1].revision}); nothing to revert. "
                    "Fix: pass an applied revision to --to.",
                    table_name=table_name,
                )
        revert = list(reversed(applied[stop + 1 :]))
        blocked = [m.revision for m in revert if not m.reversible]
        if blocked:
            raise IrreversibleMigrationError(
                f"cannot go down past {', '.join(blocked)}: no downgrade. Nothing was "
                "reverted. Fix: write a new migration that undoes the change instead.",
                table_name=table_name,
            )
        result = DownResult(table=table_name, target=applied[stop].revision if stop >= 0 else None)
        for migration in revert:
            assert migration.downgrade is not None
            ctx = run.context(migration, fence=lock)
            ctx.reverting = True  # its backfills withdraw the upgrade's schema_version ids
            run.reporter.info(f"reverting {migration.revision}")
            try:
                await migration.downgrade(ctx)
            except Exception as exc:
                record = LedgerRecord.for_migration(
                    migration, status="failed", applied_by=runner_identity(), attempt=ctx.attempt
                ).finished("failed", duration=0.0, error=f"downgrade: {type(exc).__name__}: {exc}")
                await lock.write(record_operations(table_name, [record]))
                raise MigrationFailedError(
                    f"downgrade of {migration.revision} failed: "
                    f"{type(exc).__name__}: {_text(exc)}. The ledger records it as failed. "
                    "Fix: repair the table by hand, then `migrate stamp --to` the revision "
                    "it is at.",
                    table_name=table_name,
                    revision=migration.revision,
                ) from exc
            await lock.write(removal_operations(table_name, [migration.revision]))
            await _clean_checkpoints(lock, ctx)
            result.reverted.append(migration.revision)
    return result


async def unlock(client: DynamoDBClient, table_name: str) -> LockInfo | None:
    """Delete the migration lock whoever holds it; return what it was.

    For a runner that died holding a long lease. A runner that is still alive
    loses its fence and stops at its next ledger write.
    """
    validate_table_name(table_name)
    return await force_unlock(client, table_name)
