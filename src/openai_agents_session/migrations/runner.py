"""The migration verbs: plan, up, status, history, check, stamp, down and unlock.

Each public coroutine is what one CLI verb calls (its result type is in
`reports`), and each has the same shape:
read the table and the ledger, let a pure function of `planning` decide the
steps, then run them through `executor.Executor`, which records every step in
the ledger through one function (`Executor.record`) under the lock's fence.

``up`` runs the first built-in migration (create the table) before taking the
lock, because the lock and the ledger live in the table; it is idempotent.
Every verb that writes refuses a dirty ledger, and ``up`` refuses drift (the
live table no longer has what the ledger says was applied), so nothing is
recorded that the table does not have.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TableNotFoundError, clause
from ..models.schema import SessionRecord
from ..store import validate_table_name
from ..tables import replica_warning
from .autogen import import_record, legacy_warnings, replay_differences, team_differences
from .drift import (
    billing_differences,
    key_differences,
    offline_differences,
    ttl_conflicts,
    ttl_differences,
)
from .dynamo import aws_errors
from .errors import (
    DriftError,
)
from .executor import Executor, Run, backfill_counts
from .indexes import (
    IndexSpec,
    drifted_revisions,
    expected_indexes,
    index_differences,
    repair_indexes,
)
from .ledger import (
    DONE,
    Ledger,
    LedgerEvent,
    LedgerState,
    analyse,
    load_ledger,
)
from .loader import Migration, MigrationGraph, load_migrations
from .lock import (
    DEFAULT_LEASE_SECONDS,
    LockInfo,
    force_unlock,
    read_lock,
)
from .planning import PlanStep, StampPlan, plan_down, plan_stamp, plan_up, selected
from .progress import Reporter, default_reporter
from .reconcile import applied_claims, reconcile, stale_line, stale_sample, team_record
from .reports import (
    CheckReport,
    DownResult,
    HistoryReport,
    Plan,
    StampResult,
    StatusEntry,
    StatusReport,
    UpResult,
    dirty_error,
)

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

NO_TTL_API = "the endpoint has no TTL API"


# ---------------------------------------------------------------------- helpers


def _drift(table_name: str, differences: Sequence[str], *, adopting: bool) -> DriftError:
    if adopting:
        text = (
            f"table {table_name!r} exists without a migration ledger and does not match the "
            f"schema, so it was not adopted: {_joined(differences)}. Nothing was recorded. "
            "Fix: correct the table (or use another table name)."
        )
    else:
        text = (
            f"table {table_name!r} has drifted from its migrations: {_joined(differences)}. "
            "Nothing was run or recorded. Fix: correct the table as each line says, then "
            "rerun."
        )
    return DriftError(text, table_name=table_name, differences=differences)


def _joined(lines: Sequence[str]) -> str:
    return "; ".join(clause(line) for line in lines)


async def _describe(client: DynamoDBClient, table_name: str) -> dict[str, Any] | None:
    try:
        with aws_errors("describe the table", table_name):
            response = await client.describe_table(TableName=table_name)
    except TableNotFoundError:
        return None
    return dict(response["Table"])


def _load(migrations_dir: str | Path | None, table_name: str) -> MigrationGraph:
    validate_table_name(table_name)
    return load_migrations(migrations_dir)


def _billing_of(table: Mapping[str, Any]) -> str:
    return str((table.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED")


@dataclass
class _Survey:
    """The table, its ledger and what `up` would do, read without writing."""

    table: dict[str, Any] | None
    ledger: Ledger
    state: LedgerState
    adopt: list[Migration]
    drift: list[str]
    steps: list[PlanStep]

    @property
    def exists(self) -> bool:
        return self.table is not None

    @property
    def adopting(self) -> bool:
        return self.exists and self.ledger.empty


async def _live_drift(
    run: Run, table: Mapping[str, Any], ledger: Ledger, state: LedgerState
) -> list[str]:
    """What the live table lacks of what the ledger says, and what no migration can fix."""
    differences = key_differences(table)
    if differences:
        return differences
    ttl = await run.ttl()
    conflicts = ttl_conflicts(ttl) if ttl is not None else []
    differences += conflicts
    if ledger.empty:
        return differences
    if ledger.billing_mode is not None:
        differences += billing_differences(table, ledger.billing_mode)
    applied = list(state.applied)
    no_api = any(r.details.get("ttl") == NO_TTL_API for r in ledger.records().values())
    if ttl is None or no_api or conflicts:
        # No TTL API (dynalite): nothing to compare; a conflict is already reported.
        applied = [m for m in applied if m.revision != "0002_enable_ttl"]
    return differences + await _index_and_verify_drift(run, table, applied)


async def _index_and_verify_drift(
    run: Run,
    table: Mapping[str, Any],
    applied: Sequence[Migration],
    *,
    declared: Sequence[str] | None = None,
) -> list[str]:
    """Index drift (with the `--repair` fix) and the `verify` of each applied migration.

    A migration whose index drifted is not verified as well: its own `verify` would
    report the same index with older advice (the built-ins are frozen files).
    """
    expected = expected_indexes(applied)
    drifted = drifted_revisions(table, expected)
    differences = index_differences(table, expected, declared=declared)
    return differences + await run.verify([m for m in applied if m.revision not in drifted])


async def _survey(run: Run, to: str | None) -> _Survey:
    """Read-only: the table, the ledger, the drift, and the steps `up` would take."""
    graph = run.graph
    table = await _describe(run.client, run.table_name)
    if table is not None and key_differences(table):
        # Another key: the ledger cannot even be read, and `up` refuses the table.
        ledger = Ledger(table_name=run.table_name)
        return _Survey(table, ledger, analyse(graph, {}), [], key_differences(table), [])
    ledger = await load_ledger(run.client, run.table_name) if table else Ledger(run.table_name)
    state = analyse(graph, ledger.records(), ledger.tampering)
    adopt: list[Migration] = []
    drift: list[str] = []
    if table is not None:
        drift = await _live_drift(run, table, ledger, state)
        if ledger.empty and not drift:
            adopt, drift = await run.adoptable(selected(graph, to))
    steps = plan_up(graph, state, to=to, table_exists=table is not None, adopt=adopt)
    return _Survey(table, ledger, state, adopt, drift, steps)


# ---------------------------------------------------------------------- plan


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
    target = selected(graph, to)[-1].revision
    run = Run(client, table_name, graph, default_reporter(), dry_run=True)
    survey = await _survey(run, to)
    return Plan(
        table=table_name,
        table_exists=survey.exists,
        target=target,
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
    repair: bool = False,
    reconcile: bool = False,
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
        migrations_dir: The team's migrations folder (its own chain, applied
            after the built-in one).
        max_rcu: Read capacity per second for backfills.
        max_wcu: Write capacity per second for backfills.
        billing_mode: Billing mode of a table this run creates (recorded in the ledger).
        lease_seconds: Lease length of the lock.
        renew_interval: Seconds between lease renewals (a third of the lease by default).
        reporter: Receives step messages and progress (logging by default).
        params: Values handed to migrations as ``ctx.params``.
        poll_interval: Longest pause while waiting for the table or an index.
        repair: First make every index the ledger says was applied exist as its
            migration declares it (create a missing one; delete and create one
            with another key or projection). Without it, such drift is refused.
        reconcile: Last, run every applied derived backfill again: it brings back
            the items a writer on an older record changed (rolling deploys) and
            skips the others.

    Returns:
        What was created, adopted, repaired and applied.

    Raises:
        RevisionGraphError: The migration files do not form chains.
        LockBusyError: Another runner held the lock past `lock_timeout`.
        DirtyLedgerError: The ledger is tampered with, or a migration changed,
            failed, went missing or was left reverting.
        DriftError: The table lacks what the ledger records, or an unledgered
            table does not match the schema; nothing is recorded.
        MigrationFailedError: A migration raised; the ledger records it as failed.
        LeaseLostError: The lock was lost mid-run; nothing more was written.
    """
    started = time.monotonic()
    graph = _load(migrations_dir, table_name)
    run = Run(
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
        lease_seconds=lease_seconds,
        renew_interval=renew_interval,
    )
    result = UpResult(table=table_name, target=selected(graph, to)[-1].revision, dry_run=dry_run)
    try:
        if dry_run:
            await _up_dry(run, to, result, repair=repair)
        else:
            await _up(run, to, result, lock_timeout, repair=repair, reconcile=reconcile)
    finally:
        run.reporter.close()
    result.duration = round(time.monotonic() - started, 3)
    return result


def _refuse(run: Run, survey: _Survey) -> None:
    if survey.state.problems:
        raise dirty_error(run.table_name, survey.state.problems)
    if survey.drift:
        raise _drift(run.table_name, survey.drift, adopting=survey.adopting)


def _repairable(survey: _Survey) -> tuple[dict[str, IndexSpec], list[str]]:
    """The applied indexes `--repair` would recreate, and the drift lines it resolves."""
    if survey.table is None or survey.ledger.empty or survey.state.problems:
        return {}, []
    expected = expected_indexes(survey.state.applied)
    drifted = drifted_revisions(survey.table, expected)
    specs = {n: s for n, s in expected.items() if s.revision in drifted}
    return specs, index_differences(survey.table, specs)


async def _up_dry(run: Run, to: str | None, result: UpResult, *, repair: bool) -> None:
    survey = await _survey(run, to)
    if repair:
        specs, resolved = _repairable(survey)
        result.repaired = sorted(specs)
        survey.drift = [d for d in survey.drift if d not in resolved]
    _refuse(run, survey)
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
                result.backfills[step.revision] = backfill_counts(ctx)
        else:
            run.reporter.info(f"{step.revision}: would apply (the table does not exist yet)")


async def _up(
    run: Run,
    to: str | None,
    result: UpResult,
    lock_timeout: float,
    *,
    repair: bool,
    reconcile: bool = False,
) -> None:
    graph = run.graph
    root = graph.builtin[0]
    # The lock and the ledger live in the table, so the first migration runs before
    # the lock: it creates a missing table and refuses one whose key differs from
    # the schema (the lock item could not even be written there). It is idempotent.
    ctx = run.context(root, fence=None)
    ctx.dry_run = False
    began = time.monotonic()
    await root.upgrade(ctx)
    created = bool(ctx.notes.get("created"))
    result.created_table = created
    lock = run.lock()
    async with lock.held(lock_timeout):
        survey = await _survey(run, to)
        executor = Executor(run, lock, survey.ledger)
        records = survey.ledger.records()
        first = records.get(root.revision)
        if created and (survey.ledger.empty or (first is not None and first.status == "adopted")):
            # This run made the table: the ledger says so, even if a racing runner took
            # the lock first and recorded the table as adopted.
            await executor.record(
                executor.event(
                    root,
                    "applied",
                    ctx.attempt,
                    duration=time.monotonic() - began,
                    details=ctx.notes,
                ),
                billing_mode=run.billing_mode,
            )
            result.applied.append(root.revision)
            run.reporter.info(f"applied {root.revision}: {root.description}")
            survey = await _survey(run, to)
            executor.ledger = survey.ledger
        specs, _ = _repairable(survey) if repair else ({}, [])
        if specs:
            # Under the lock, before anything else: the ledger already says these exist.
            ctx = run.context(graph.builtin[-1], fence=lock)
            result.repaired = await repair_indexes(ctx, specs)
            run.reporter.info(f"repaired index {', '.join(result.repaired)}")
            survey = await _survey(run, to)
            executor.ledger = survey.ledger
        _refuse(run, survey)
        if survey.adopt:
            await executor.mark(
                survey.adopt, "adopted", billing_mode=_billing_of(survey.table or {})
            )
            result.adopted = [m.revision for m in survey.adopt]
            run.reporter.info(
                f"adopted {', '.join(result.adopted)}: the table already matches them"
            )
        for step in survey.steps:
            if step.action not in ("apply", "resume"):
                continue
            migration = graph.get(step.revision)
            resume = survey.state.interrupted.get(migration.chain)
            if resume is not None and resume.revision != migration.revision:
                resume = None
            done = await executor.apply(migration, resume)
            result.applied.append(migration.revision)
            if resume is not None:
                result.resumed.append(migration.revision)
            if done.backfills:
                result.backfills[migration.revision] = backfill_counts(done)
            run.reporter.info(f"applied {migration.revision}")
        state = analyse(graph, executor.ledger.records())
        result.head = state.head
        if reconcile:
            result.reconciled = await _reconcile(run, executor, state)


async def _reconcile(
    run: Run, executor: Executor, state: LedgerState
) -> dict[str, list[dict[str, Any]]]:
    claims = applied_claims(executor.ledger.records())
    record = team_record(state.applied) if claims else None
    if record is None:
        return {}
    contexts = {
        c.revision: run.context(run.graph.get(c.revision), fence=executor.lock) for c in claims
    }
    done = await reconcile(contexts, record, claims)
    for ctx in contexts.values():
        await executor.clean_checkpoints(ctx)
    run.reporter.info(f"reconciled {', '.join(done) or 'nothing'}")
    return done


# ---------------------------------------------------------------------- status / history


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


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
    table = await _describe(client, table_name)
    exists = table is not None
    ledger = await load_ledger(client, table_name) if exists else Ledger(table_name)
    records = ledger.records()
    lock = await read_lock(client, table_name) if exists else None
    live = lock is not None and lock.live(clock())
    state = analyse(graph, records, ledger.tampering)
    drifted = drifted_revisions(table, expected_indexes(state.applied)) if table else set()
    entries: list[StatusEntry] = []
    for migration in graph.chain:
        record = records.get(migration.revision)
        if record is None:
            label = "pending"
        elif record.status == "running":
            label = "running" if live else "interrupted"
        elif record.status in DONE and record.checksum != migration.checksum:
            label = "modified"
        elif migration.revision in drifted:
            # The ledger says done; the table says otherwise (until a check sees the effect).
            label = "stamped, not run" if record.details.get(NOT_RUN) else "drifted"
        else:
            label = record.status
        entries.append(
            StatusEntry(
                migration.revision,
                migration.description,
                label,
                migration.chain,
                record.applied_at if record else None,
                record.applied_by if record else None,
            )
        )
    return StatusReport(
        table=table_name,
        table_exists=exists,
        head=state.head,
        target=graph.head.revision,
        migrations=entries,
        pending=[m.revision for m in state.pending],
        problems=list(state.problems),
        dirty=bool(state.problems),
        lock=lock,
        lock_live=live,
        lease_expires_at=_iso(lock.expires_at) if lock is not None and live else None,
        adoptable=exists and ledger.empty,
        billing_mode=ledger.billing_mode,
    )


async def history(client: DynamoDBClient, table_name: str) -> HistoryReport:
    """Every ledger event, oldest first, and any inconsistency found in the ledger."""
    validate_table_name(table_name)
    ledger = await load_ledger(client, table_name)
    events = sorted(ledger.events, key=lambda e: e.seq)
    return HistoryReport(table=table_name, events=events, problems=list(ledger.tampering))


# ---------------------------------------------------------------------- check


async def check(
    client: DynamoDBClient | None,
    table_name: str,
    *,
    migrations_dir: str | Path | None = None,
    billing_mode: str | None = None,
    record: type[SessionRecord] | str | None = None,
) -> CheckReport:
    """Compare the declared schema with the migrations and, given a client, the live table.

    Offline (``client=None``, no AWS needed) it checks that `SessionRecord` still
    matches the schema snapshot recorded by the newest migration, and that no
    migration file changed after a later one was written. With a client it also
    compares the live table with the schema and the ledger: key, TTL, billing
    mode (as recorded when the table was created or adopted) and what each
    applied migration's ``verify`` expects; and it reads the ledger (dirty, pending).

    Args:
        client: aiobotocore DynamoDB client, or None for the offline check only.
        table_name: The session table.
        migrations_dir: The team's migrations folder, if any.
        billing_mode: The billing mode the table should have; by default the one
            the ledger recorded (PAY_PER_REQUEST when it recorded none).
        record: The team's record (or its ``module:Class`` path), compared with the
            newest team migration's snapshot; by default the one that snapshot names.

    Returns:
        The report; `CheckReport.raise_for_problems` turns it into an error.
    """
    graph = _load(migrations_dir, table_name)
    team = import_record(record) if isinstance(record, str) else record
    offline = [
        *offline_differences(graph),
        *replay_differences(graph),
        *team_differences(graph, team),
    ]
    report = CheckReport(table=table_name, offline=offline)
    report.warnings += legacy_warnings(graph)
    if client is None:
        return report
    report.live_checked = True
    table = await _describe(client, table_name)
    if table is None:
        report.live.append(
            f"table {table_name!r} does not exist. Fix: run `openai-agents-session migrate up`."
        )
        return report
    replicated = replica_warning(table)
    if replicated:
        report.warnings.append(replicated)
    if key_differences(table):
        report.live += key_differences(table)
        # With another key the ledger items cannot even be addressed.
        report.warnings.append("ledger and TTL not read: the table's key differs")
        return report
    run = Run(client, table_name, graph, default_reporter(), dry_run=True)
    ledger = await load_ledger(client, table_name)
    state = analyse(graph, ledger.records(), ledger.tampering)
    report.dirty = list(state.problems)
    report.pending = [m.revision for m in state.pending]
    expected_billing = billing_mode or ledger.billing_mode or "PAY_PER_REQUEST"
    report.live += billing_differences(table, expected_billing)
    ttl = await run.ttl()
    noted = any(r.details.get("ttl") == NO_TTL_API for r in ledger.records().values())
    if ttl is None or noted:
        report.warnings.append(f"TTL not compared: {NO_TTL_API}")
    else:
        report.live += ttl_differences(ttl, table_name)
    applied = [m for m in state.applied if m.revision != "0002_enable_ttl"]
    declared = list(expected_indexes(graph.chain))
    for difference in await _index_and_verify_drift(run, table, applied, declared=declared):
        if difference not in report.live:
            report.live.append(difference)
    claims = applied_claims(ledger.records())
    derives_with = (team or team_record(state.applied)) if claims else None
    if derives_with is not None:
        compared, stale = await stale_sample(client, table_name, derives_with, claims)
        if stale:
            report.live.append(stale_line(compared, stale))
    return report


# ---------------------------------------------------------------------- stamp / down / unlock

NOT_RUN = "not_run"
"""Ledger detail of a ``stamped`` event: the indexes the table lacked when it was forced."""


def _absent_effects(
    graph: MigrationGraph,
    ledger: Ledger,
    stamping: Sequence[Migration],
    table: Mapping[str, Any],
) -> dict[str, list[str]]:
    """Of the migrations about to be stamped, those whose declared indexes the table lacks.

    Returns:
        Revision -> lines saying what is absent (missing or differently shaped indexes).
    """
    revisions = {m.revision for m in stamping}
    state = analyse(graph, ledger.records(), ledger.tampering)
    done = {m.revision for m in state.applied} | revisions
    expected = expected_indexes(m for m in graph.chain if m.revision in done)
    drifted = drifted_revisions(table, expected) & revisions
    absent: dict[str, list[str]] = {}
    for name, spec in expected.items():
        if spec.revision in drifted:
            absent.setdefault(spec.revision, []).extend(index_differences(table, {name: spec}))
    return absent


def _absent_lines(absent: Mapping[str, Sequence[str]]) -> list[str]:
    """The lines of `_absent_effects`, flattened."""
    return [line for lines in absent.values() for line in lines]


async def _described_with_our_key(client: DynamoDBClient, table_name: str) -> dict[str, Any]:
    """DescribeTable, refusing a table keyed otherwise (not even the lock item fits it)."""
    with aws_errors("describe the table", table_name):
        described = dict((await client.describe_table(TableName=table_name))["Table"])
    differences = key_differences(described)
    if differences:
        raise DriftError(
            f"table {table_name!r} has another key than the schema: {'; '.join(differences)}. "
            "Nothing was recorded. Fix: use a table made by `openai-agents-session migrate up`.",
            table_name=table_name,
            differences=differences,
        )
    return described


async def _decide_stamp(
    run: Run,
    ledger: Ledger,
    described: Mapping[str, Any],
    *,
    to: str | None,
    force: bool,
    dry_run: bool,
) -> tuple[StampResult, StampPlan]:
    """What a stamp records, after every check that can refuse it (nothing written)."""
    table_name, graph = run.table_name, run.graph
    if ledger.tampering and not force:
        raise dirty_error(table_name, ledger.tampering)
    decided = plan_stamp(graph, ledger.records(), to=to, force=force)
    result = StampResult(
        table=table_name,
        target=decided.target,
        dry_run=dry_run,
        stamped=[m.revision for m in decided.stamp],
        kept=decided.kept,
        unstamped=decided.unstamp,
        unverified=[m.revision for m in decided.stamp if m.verify is None],
        repaired=list(ledger.tampering),
    )
    drift = await run.verify(decided.stamp)
    if drift:
        raise DriftError(
            f"table {table_name!r} does not match the migrations up to {decided.target}: "
            f"{_joined(drift)}. Nothing was recorded. Fix: stamp an earlier revision "
            "and let `migrate up` apply the rest.",
            table_name=table_name,
            differences=drift,
        )
    absent = _absent_effects(graph, ledger, decided.stamp, described)
    if absent and not force:
        raise DriftError(
            f"table {table_name!r} lacks what {', '.join(sorted(absent))} would have made: "
            f"{_joined(_absent_lines(absent))}. Nothing was recorded. Fix: run "
            "`openai-agents-session migrate up` to apply it instead; or, if it is really "
            "done elsewhere, add --force (`migrate status` then shows it as 'stamped, not "
            "run' until the table has its effect).",
            table_name=table_name,
            differences=_absent_lines(absent),
        )
    result.not_run = sorted(absent)
    return result, decided


def _stamp_events(
    executor: Executor, ledger: Ledger, decided: StampPlan, not_run: list[str]
) -> list[LedgerEvent]:
    """The ``stamped`` and ``unstamped`` events a stamp appends, in order."""
    graph, records = executor.run.graph, ledger.records()
    events = [
        executor.event(
            m, "stamped", uuid.uuid4().hex, details={NOT_RUN: True} if m.revision in not_run else {}
        )
        for m in decided.stamp
    ]
    for revision in decided.unstamp:
        if revision in graph.revisions:
            events.append(executor.event(graph.get(revision), "unstamped", uuid.uuid4().hex))
            continue
        # Recorded, but its file is gone: the event repeats what the ledger knows of it.
        gone = records[revision]
        events.append(
            LedgerEvent(
                action="unstamped",
                revision=revision,
                chain=gone.chain,
                checksum=gone.checksum,
                parent=gone.parent,
                description=gone.description,
                by=executor.identity,
                attempt=uuid.uuid4().hex,
            )
        )
    return events


async def _accept_tampering(executor: Executor, ledger: Ledger, lock: Any) -> None:
    """Record a ``repaired`` event that acknowledges a tampered ledger as found."""
    ledger.rebase()
    repair = LedgerEvent(
        action="repaired",
        revision="",
        chain="",
        checksum="",
        parent=None,
        description="ledger accepted as found (stamp --force)",
        by=executor.identity,
        attempt=uuid.uuid4().hex,
        details={"acknowledged": list(ledger.tampering)},
    )
    await ledger.append(lock, [repair], repair=True)


async def stamp(
    client: DynamoDBClient,
    table_name: str,
    *,
    to: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    migrations_dir: str | Path | None = None,
    lock_timeout: float = 60.0,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    renew_interval: float | None = None,
    reporter: Reporter | None = None,
) -> StampResult:
    """Make the ledger end at `to` without running anything: adopt, or repair.

    Every migration to be recorded that defines ``verify`` (the built-ins do)
    is checked against the live table first; any difference raises `DriftError`
    and nothing is recorded. Records that are correct are kept. Records past `to`
    in its chain (or without a file) are refused unless `force`, because the next
    ``up`` would run them again; with `force` they are recorded as unstamped.
    With `force`, a tampered ledger is also accepted as it is (a ``repaired``
    event lists what was wrong). Nothing is ever deleted from the ledger.

    Args:
        client: aiobotocore DynamoDB client.
        table_name: The session table.
        to: The revision the ledger should end at; by default the built-in head
            (the team chain is left alone).
        force: Unrecord migrations past `to`, accept a tampered ledger, and record
            migrations whose declared indexes the table lacks (`StampResult.not_run`).
        dry_run: Say what would be recorded; take no lock, write nothing.
        migrations_dir: The team's migrations folder, if any.
        lock_timeout: Seconds to wait for another runner's lock.
        lease_seconds: Lease length of the lock.
        renew_interval: Seconds between lease renewals.
        reporter: Receives step messages.

    Raises:
        StampRefusedError: Records past `to` and no `force`.
        DirtyLedgerError: The ledger is tampered with and no `force`.
        DriftError: The table does not have a migration's effect (its ``verify``
            fails, or, without `force`, an index it declares is absent).
        TableNotFoundError: The table does not exist.
    """
    graph = _load(migrations_dir, table_name)
    run = Run(
        client,
        table_name,
        graph,
        reporter or default_reporter(),
        dry_run=True,
        lease_seconds=lease_seconds,
        renew_interval=renew_interval,
    )
    described = await _described_with_our_key(client, table_name)

    async def decide(ledger: Ledger) -> tuple[StampResult, StampPlan]:
        return await _decide_stamp(run, ledger, described, to=to, force=force, dry_run=dry_run)

    if dry_run:
        result, _ = await decide(await load_ledger(client, table_name))
        return result
    lock = run.lock()
    async with lock.held(lock_timeout):
        ledger = await load_ledger(client, table_name)
        result, decided = await decide(ledger)
        executor = Executor(run, lock, ledger)
        if ledger.tampering:
            await _accept_tampering(executor, ledger, lock)
        events = _stamp_events(executor, ledger, decided, result.not_run)
        billing = None if ledger.billing_mode else _billing_of(described)
        if events or billing:
            await executor.record(*events, billing_mode=billing)
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
    dry_run: bool = False,
    migrations_dir: str | Path | None = None,
    lock_timeout: float = 60.0,
    max_rcu: float | None = None,
    max_wcu: float | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    renew_interval: float | None = None,
    reporter: Reporter | None = None,
    params: Mapping[str, Any] | None = None,
) -> DownResult:
    """Revert the team chain's migrations newer than `to` (one step by default), newest first.

    Each migration is recorded ``reverting`` (with the target) before its
    downgrade runs, and ``reverted`` after; an interrupted rollback keeps the
    ledger dirty until ``down`` is run again, which continues it. Refuses,
    reverting nothing, when any of them has no ``downgrade`` (the built-ins have
    none: they would drop the sessions or, for TTL, hit DynamoDB's one-hour rule).

    Raises:
        IrreversibleMigrationError: A migration on the way has no ``downgrade``.
        DirtyLedgerError: The ledger is dirty, or a run was interrupted.
    """
    started = time.monotonic()
    graph = _load(migrations_dir, table_name)
    run = Run(
        client,
        table_name,
        graph,
        reporter or default_reporter(),
        dry_run=dry_run,
        max_rcu=max_rcu,
        max_wcu=max_wcu,
        params=dict(params or {}),
        lease_seconds=lease_seconds,
        renew_interval=renew_interval,
    )

    def decide(ledger: Ledger) -> tuple[LedgerState, Any]:
        state = analyse(graph, ledger.records(), ledger.tampering)
        reverting = state.reverting.revision if state.reverting else None
        blocking = [p for p in state.problems if not (reverting and reverting in p)]
        if blocking:
            raise dirty_error(table_name, blocking)
        if state.interrupted:
            names = ", ".join(r.revision for r in state.interrupted.values())
            raise dirty_error(
                table_name, [f"{names} was interrupted. Fix: finish it with `migrate up`"]
            )
        return state, plan_down(graph, state, to=to)

    try:
        if dry_run:
            state, decided = decide(await load_ledger(client, table_name))
            result = DownResult(table=table_name, target=decided.target, dry_run=True)
            for step in decided.steps:
                migration = graph.get(step.revision)
                assert migration.downgrade is not None
                ctx = run.context(migration)
                ctx.reverting = True  # its backfills withdraw the upgrade's schema_version ids
                await migration.downgrade(ctx)
                result.reverted.append(step.revision)
                if ctx.backfills:
                    result.backfills[step.revision] = backfill_counts(ctx)
        else:
            lock = run.lock()
            async with lock.held(lock_timeout):
                ledger = await load_ledger(client, table_name)
                state, decided = decide(ledger)
                result = DownResult(table=table_name, target=decided.target)
                executor = Executor(run, lock, ledger)
                for step in decided.steps:
                    migration = graph.get(step.revision)
                    resume = state.reverting
                    if resume is not None and resume.revision != migration.revision:
                        resume = None
                    ctx = await executor.revert(migration, decided.target, resume)
                    result.reverted.append(migration.revision)
                    if ctx.backfills:
                        result.backfills[migration.revision] = backfill_counts(ctx)
    finally:
        run.reporter.close()
    result.duration = round(time.monotonic() - started, 3)
    return result


async def unlock(client: DynamoDBClient, table_name: str) -> LockInfo | None:
    """Delete the migration lock whoever holds it; return what it was.

    For a runner that died holding a long lease. A runner that is still alive
    loses its fence and stops at its next fenced write.
    """
    validate_table_name(table_name)
    return await force_unlock(client, table_name)
