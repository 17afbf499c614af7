"""`MigrationContext`: what a migration's ``upgrade(ctx)`` works with.

It carries the client, the table name and the dry-run flag, and offers the
idempotent building blocks a migration needs: describe the table, update it,
add a global secondary index and wait for it to finish backfilling, and run a
data backfill (`run_backfill`) that changes each item exactly once (it records
its id in the item's ``schema_version``), fenced by the run's lock and
checkpointed under the migration's attempt id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..errors import TableNotFoundError
from ..models.team import derivation_claim
from .backfill import (
    BackfillFunction,
    BackfillLeaseLostError,
    BackfillResult,
    backfill_id,
    lease_lost_error,
    run_backfill,
)
from .dynamo import aws_errors, error_code
from .errors import MigrationError
from .progress import Reporter, default_reporter

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from .lock import MigrationLock

__all__ = ["MigrationContext"]

logger = logging.getLogger("openai_agents_session.migrations")


@dataclass
class MigrationContext:
    """Everything a migration step gets.

    Attributes:
        client: The aiobotocore DynamoDB client.
        table_name: The session table.
        revision: The migration being run.
        dry_run: Count and describe, write nothing. Steps must honour it; the
            helpers below do.
        attempt: Id of this application of the migration (kept on resume).
        billing_mode: Billing mode for a table created by the run.
        max_rcu: Default read-capacity budget per second for backfills.
        max_wcu: Default write-capacity budget per second for backfills.
        poll_interval: Longest pause between polls while waiting for the table
            or an index.
        params: Free-form values passed to `up(..., params=...)`.
        reporter: Where step messages and progress go.
        logger: The ``openai_agents_session.migrations`` logger.
        notes: What the step recorded with `note`; stored in its ledger record.
        backfills: Results of the backfills this step ran.
        fence: The run's lock; backfill item writes and checkpoints are
            fenced by it (None in a dry run).
        clock: Unix time, used for new ``updated_at`` versions.
        reverting: The step is a ``downgrade``: backfills record the
            downgrade's id (``-<revision>``) and withdraw the upgrade's.
    """

    client: DynamoDBClient
    table_name: str
    revision: str
    dry_run: bool = False
    attempt: str = ""
    billing_mode: str = "PAY_PER_REQUEST"
    max_rcu: float | None = None
    max_wcu: float | None = None
    poll_interval: float = 5.0
    params: Mapping[str, Any] = field(default_factory=dict)
    reporter: Reporter = field(default_factory=default_reporter)
    logger: logging.Logger = logger
    notes: dict[str, Any] = field(default_factory=dict)
    backfills: list[BackfillResult] = field(default_factory=list)
    fence: MigrationLock | None = None
    clock: Callable[[], float] = time.time
    reverting: bool = False

    def info(self, message: str) -> None:
        """Report a step message (prefixed with the revision)."""
        self.reporter.info(f"{self.revision}: {message}")

    def note(self, name: str, value: Any) -> None:
        """Record a JSON-able fact in this migration's ledger record (``details``)."""
        self.notes[name] = value

    def check_lease(self) -> None:
        """Raise `LeaseLostError` if the run's lock was lost (call it in long loops)."""
        if self.fence is not None and self.fence.lost:
            raise self.fence.lost_error()

    async def table_exists(self) -> bool:
        """Whether the table exists (in any status)."""
        try:
            await self.describe_table()
        except TableNotFoundError:
            return False
        return True

    async def describe_table(self) -> dict[str, Any]:
        """DescribeTable's ``Table``."""
        with aws_errors("describe the table", self.table_name):
            response = await self.client.describe_table(TableName=self.table_name)
        return dict(response["Table"])

    async def describe_ttl(self) -> dict[str, Any] | None:
        """DescribeTimeToLive's ``TimeToLiveDescription``; None when the endpoint has no TTL API."""
        with aws_errors("describe time to live", self.table_name):
            try:
                response = await self.client.describe_time_to_live(TableName=self.table_name)
            except ClientError as exc:
                if error_code(exc) == "UnknownOperationException":
                    return None
                raise
        return dict(response.get("TimeToLiveDescription") or {})

    async def update_table(self, **request: Any) -> None:
        """UpdateTable on this table (skipped, and reported, in a dry run)."""
        if self.dry_run:
            self.info(f"would update the table: {sorted(request)}")
            return
        with aws_errors("update the table", self.table_name):
            await self.client.update_table(TableName=self.table_name, **request)

    async def ensure_global_index(
        self,
        name: str,
        partition_key: tuple[str, str],
        sort_key: tuple[str, str] | None = None,
        *,
        projection: Mapping[str, Any] | None = None,
        provisioned_throughput: Mapping[str, int] | None = None,
        wait: bool = True,
    ) -> bool:
        """Add a global secondary index unless it exists, then wait for it.

        Args:
            name: Index name.
            partition_key: ``(attribute, type)`` such as ``("tenant", "S")``.
            sort_key: Optional ``(attribute, type)``.
            projection: DynamoDB ``Projection``; ``{"ProjectionType": "ALL"}`` by default.
            provisioned_throughput: Needed only on a provisioned table.
            wait: Wait until the index is ACTIVE and done backfilling.

        Returns:
            True if this call created the index.
        """
        table = await self.describe_table()
        existing = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        created = False
        if name not in existing:
            keys = [(partition_key, "HASH")] + ([(sort_key, "RANGE")] if sort_key else [])
            create: dict[str, Any] = {
                "IndexName": name,
                "KeySchema": [{"AttributeName": a, "KeyType": kind} for (a, _), kind in keys],
                "Projection": dict(projection or {"ProjectionType": "ALL"}),
            }
            if provisioned_throughput:
                create["ProvisionedThroughput"] = dict(provisioned_throughput)
            await self.update_table(
                AttributeDefinitions=[
                    {"AttributeName": a, "AttributeType": t} for (a, t), _ in keys
                ],
                GlobalSecondaryIndexUpdates=[{"Create": create}],
            )
            created = not self.dry_run
            self.info(f"{'would create' if self.dry_run else 'creating'} index {name!r}")
        if wait:
            await self.wait_for_index(name)
        return created

    async def drop_global_index(self, name: str, *, wait: bool = True) -> bool:
        """Delete a global secondary index if it exists, then wait until it is gone.

        Returns:
            True if this call deleted it.
        """
        table = await self.describe_table()
        existing = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
        if name not in existing:
            return False
        self.info(f"{'would delete' if self.dry_run else 'deleting'} index {name!r}")
        await self.update_table(GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": name}}])
        if self.dry_run:
            return False
        deadline = time.monotonic() + 6 * 3600.0
        pause = min(0.2, self.poll_interval)
        while wait:
            self.check_lease()
            table = await self.describe_table()
            if name not in {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}:
                break
            if time.monotonic() > deadline:
                raise MigrationError(
                    f"{self.revision}: index {name!r} is still being deleted. Fix: rerun."
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.poll_interval)
        return True

    async def wait_for_index(self, name: str, *, timeout: float = 6 * 3600.0) -> None:
        """Wait until global secondary index `name` is ACTIVE and no longer backfilling.

        Renewal of the lock continues meanwhile. In a dry run an index that does
        not exist yet is not waited for.

        Raises:
            MigrationError: The index does not exist, or `timeout` passed.
        """
        deadline = time.monotonic() + timeout
        pause = min(0.2, self.poll_interval)
        while True:
            self.check_lease()
            table = await self.describe_table()
            index = next(
                (i for i in table.get("GlobalSecondaryIndexes", []) if i["IndexName"] == name),
                None,
            )
            if index is None:
                if self.dry_run:
                    return
                raise MigrationError(
                    f"{self.revision}: table {self.table_name!r} has no index {name!r} to wait "
                    "for. Fix: create it first (ctx.ensure_global_index)."
                )
            if index.get("IndexStatus") == "ACTIVE" and not index.get("Backfilling"):
                return
            if time.monotonic() > deadline:
                raise MigrationError(
                    f"{self.revision}: index {name!r} is still {index.get('IndexStatus')} after "
                    f"{timeout:.0f}s. Fix: rerun `migrate up`; it resumes waiting."
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.poll_interval)

    async def wait_for_table(self, *, timeout: float = 600.0) -> None:
        """Wait until the table is ACTIVE."""
        deadline = time.monotonic() + timeout
        pause = min(0.2, self.poll_interval)
        while True:
            table = await self.describe_table()
            if table.get("TableStatus") == "ACTIVE":
                return
            if time.monotonic() > deadline:
                raise MigrationError(
                    f"table {self.table_name!r} is still {table.get('TableStatus')} after "
                    f"{timeout:.0f}s. Fix: rerun `migrate up`."
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.poll_interval)

    def _claim(self, fn: BackfillFunction, name: str | None) -> str:
        claim = backfill_id(self.revision, name, downgrade=self.reverting)
        derives = getattr(fn, "derives", None)
        if derives and not self.reverting:
            # A function that derives attributes says which (`derived_backfill` does):
            # writers that cannot derive them withdraw the claim (rolling deploys).
            return derivation_claim(claim, derives)
        return claim

    async def backfill(
        self,
        fn: BackfillFunction,
        *,
        segments: int = 4,
        max_rcu: float | None = None,
        max_wcu: float | None = None,
        name: str | None = None,
        page_size: int = 100,
    ) -> BackfillResult:
        """Apply `fn` to every session item exactly once, safely alongside live traffic.

        Each change is one transaction with the lock's check and the segment's
        checkpoint, and adds the backfill's id (``"<revision>"``, or
        ``"<revision>:<name>"``) to the item's ``schema_version``; items that
        carry it are skipped without calling `fn`.

        Args:
            fn: Called with a `BackfillItem`; returns the attributes to set (a
                None value removes that attribute), or None to leave the item
                alone. It may be async. It is applied once per item, but may be
                asked again to decide (after a conflict, or for an item it left
                alone before a resume), so deciding must have no side effects.
            segments: Parallel scan segments.
            max_rcu: Read capacity per second (the run's ``--max-rcu`` by default).
            max_wcu: Write capacity per second (the run's ``--max-wcu`` by default).
            name: Needed only for a second backfill in one migration: its
                checkpoint name and the second part of its id.
            page_size: Items per Scan page.

        Returns:
            The counts; also stored in the migration's ledger record.

        Raises:
            BackfillLeaseLostError: The lock was lost; the message says what
                this runner changed, per backfill of this step.
            MigrationError: `fn` raised (the message names the session) or
                returned something unusable.
        """
        label = name or self.revision
        if any(b.name == label for b in self.backfills):
            raise MigrationError(
                f"{self.revision}: a second backfill needs its own name= (checkpoints are "
                "kept per name)."
            )
        try:
            result = await run_backfill(
                client=self.client,
                table_name=self.table_name,
                fn=fn,
                name=label,
                attempt=self.attempt,
                backfill_id=self._claim(fn, name),
                segments=segments,
                page_size=page_size,
                dry_run=self.dry_run,
                fence=self.fence,
                reporter=self.reporter,
                max_rcu=max_rcu if max_rcu is not None else self.max_rcu,
                max_wcu=max_wcu if max_wcu is not None else self.max_wcu,
                clock=self.clock,
            )
        except BackfillLeaseLostError as exc:
            if not self.backfills:
                raise
            # Say what every backfill of this step wrote, not only the interrupted one.
            written = {b.id: b.written for b in self.backfills} | exc.written
            last_keys = {b.id: b.last_written for b in self.backfills} | exc.last_keys
            raise lease_lost_error(self.table_name, written, last_keys) from exc
        self.backfills.append(result)
        self.note("backfills", [b.to_dict() for b in self.backfills])
        return result
