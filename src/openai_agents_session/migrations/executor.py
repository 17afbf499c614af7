"""The one loop that runs migration steps and records each in the ledger.

`Run` holds the settings of one invocation and builds each step's
`MigrationContext`. `Executor` runs an upgrade or a downgrade between a begin
event and an end event (``applying``/``applied``, ``reverting``/``reverted``,
or ``failed``), and appends every event through `Executor.record`, the one
place the ledger is written, under the lock's fence.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import clause
from .context import MigrationContext
from .errors import LeaseLostError, MigrationError, MigrationFailedError
from .keys import checkpoint_id, key
from .ledger import Action, Ledger, LedgerEvent, LedgerRecord
from .loader import Migration, MigrationGraph
from .lock import DEFAULT_LEASE_SECONDS, MigrationLock, runner_identity
from .planning import BASE
from .progress import Reporter

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["Executor", "Run", "backfill_counts"]

_BATCH = 90  # deletes per fenced transaction (TransactWriteItems takes 100 entries)


def _cause(exc: BaseException) -> str:
    # The library's own errors say what happened; a team's exception needs its type.
    return (
        clause(exc) if isinstance(exc, MigrationError) else f"{type(exc).__name__}: {clause(exc)}"
    )


@dataclass
class Run:
    """Settings shared by the steps of one invocation."""

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
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    renew_interval: float | None = None

    def context(
        self, migration: Migration, *, attempt: str = "", fence: MigrationLock | None = None
    ) -> MigrationContext:
        return MigrationContext(
            client=self.client,
            table_name=self.table_name,
            revision=migration.revision,
            dry_run=self.dry_run or fence is None,
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

    def lock(self) -> MigrationLock:
        return MigrationLock(
            self.client,
            self.table_name,
            lease_seconds=self.lease_seconds,
            renew_interval=self.renew_interval,
        )

    async def verify(self, migrations: Sequence[Migration]) -> list[str]:
        """The differences between the live table and what `migrations` leave it in."""
        differences: list[str] = []
        for migration in migrations:
            if migration.verify is not None:
                found = await migration.verify(self.context(migration))
                differences += [f"{migration.revision}: {d}" for d in found]
        return differences

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

    async def ttl(self) -> dict[str, Any] | None:
        ctx = self.context(self.graph.chain[0])
        return await ctx.describe_ttl()


class Executor:
    """Runs steps and records each in the ledger, through the lock's fence."""

    def __init__(self, run: Run, lock: MigrationLock, ledger: Ledger) -> None:
        self.run = run
        self.lock = lock
        self.ledger = ledger
        self.identity = runner_identity()

    def event(
        self, migration: Migration, action: Action, attempt: str, **changes: Any
    ) -> LedgerEvent:
        return LedgerEvent.of(migration, action, by=self.identity, attempt=attempt, **changes)

    async def record(self, *events: LedgerEvent, billing_mode: str | None = None) -> None:
        """Append `events` to the ledger (the one place the ledger is written)."""
        await self.ledger.append(self.lock, events, billing_mode=billing_mode)

    async def mark(
        self, migrations: Sequence[Migration], action: Action, *, billing_mode: str | None = None
    ) -> None:
        """Record `migrations` as adopted or stamped, without running them."""
        events = [self.event(m, action, uuid.uuid4().hex) for m in migrations]
        await self.record(*events, billing_mode=billing_mode)

    async def step(
        self,
        migration: Migration,
        *,
        down: bool,
        attempt: str,
        begin: LedgerEvent,
        target: str | None = None,
    ) -> MigrationContext:
        """Record `begin`, run the upgrade or downgrade, record how it ended."""
        run = self.run
        await self.record(begin)
        ctx = run.context(migration, attempt=attempt, fence=self.lock)
        # A downgrade's backfills withdraw the upgrade's schema_version ids.
        ctx.reverting = down
        function = migration.downgrade if down else migration.upgrade
        assert function is not None
        started = time.monotonic()
        phase = {"phase": "down", "target": target or BASE} if down else {}
        try:
            await function(ctx)
            ctx.check_lease()
        except asyncio.CancelledError:
            again = f"`migrate down --to {target}`" if down else "`migrate up`"
            run.reporter.warning(
                f"{migration.revision} interrupted; {again} resumes it from its checkpoints"
            )
            raise
        except LeaseLostError:
            raise
        except Exception as exc:
            failed = self.event(
                migration,
                "failed",
                attempt,
                duration=time.monotonic() - started,
                error=f"{type(exc).__name__}: {exc}",
                details={**ctx.notes, **phase},
            )
            # Without the lease the begin event stands and the next run resumes it.
            with contextlib.suppress(LeaseLostError):
                await self.record(failed)
            # A backfill function's own failure arrives as MigrationFailedError without a
            # fix: it gets the same one as an upgrade that raises.
            if isinstance(exc, MigrationError) and not isinstance(exc, MigrationFailedError):
                raise
            verb = "downgrade" if down else "migration"
            fix = (
                "repair the table by hand, then rerun `migrate down`"
                if down
                else "correct the migration, then `openai-agents-session migrate stamp --force "
                f"--to {migration.down_revision or run.graph.builtin_head.revision}` and "
                "`migrate up` again"
            )
            # The team's own exception stays the cause (a backfill's error only wraps it).
            cause = exc.__cause__ if isinstance(exc, MigrationError) and exc.__cause__ else exc
            raise MigrationFailedError(
                f"{verb} {migration.revision} failed: {_cause(exc)}. "
                f"The ledger records it as failed. Fix: {fix}.",
                table_name=run.table_name,
                revision=migration.revision,
                session_id=getattr(exc, "session_id", None),
            ) from cause
        end: Action = "reverted" if down else "applied"
        await self.record(
            self.event(
                migration,
                end,
                attempt,
                duration=time.monotonic() - started,
                details={**ctx.notes, **phase},
            )
        )
        await self.clean_checkpoints(ctx)
        return ctx

    async def apply(self, migration: Migration, resume: LedgerRecord | None) -> MigrationContext:
        attempt = resume.attempt if resume else uuid.uuid4().hex
        verb = "resuming" if resume else "applying"
        self.run.reporter.info(f"{verb} {migration.revision}: {migration.description}")
        begin = self.event(migration, "applying", attempt)
        return await self.step(migration, down=False, attempt=attempt, begin=begin)

    async def revert(
        self, migration: Migration, target: str | None, resume: LedgerRecord | None
    ) -> MigrationContext:
        attempt = resume.attempt if resume else uuid.uuid4().hex
        self.run.reporter.info(f"reverting {migration.revision}")
        begin = self.event(migration, "reverting", attempt, details={"target": target or BASE})
        return await self.step(migration, down=True, attempt=attempt, begin=begin, target=target)

    async def clean_checkpoints(self, ctx: MigrationContext) -> None:
        deletes = [
            {"Delete": {"TableName": ctx.table_name, "Key": key(checkpoint_id(b.name, n))}}
            for b in ctx.backfills
            for n in range(b.segments)
        ]
        try:
            for start in range(0, len(deletes), _BATCH):
                await self.lock.write(deletes[start : start + _BATCH])
        except Exception as exc:  # stale checkpoints are ignored by the next attempt anyway
            ctx.reporter.warning(f"could not delete the checkpoints of {ctx.revision}: {exc}")


def backfill_counts(ctx: MigrationContext) -> list[dict[str, Any]]:
    """The counts of the backfills a step ran, JSON-able."""
    return [b.to_dict() for b in ctx.backfills]
