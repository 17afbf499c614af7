"""The migration ledger: one record per migration, in the session table itself.

Each record sits under ``__oas__#ledger#<revision>``; the index item
``__oas__#ledger`` lists the revisions that have one, so reading the ledger is
one GetItem plus one per record, never a Scan. Records are written only through
the lock's fence (`MigrationLock.write`). `analyse` compares the ledger with the
migration files and finds what makes it dirty.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from .dynamo import aws_errors, from_item, to_item
from .keys import LEDGER_INDEX_ID, key, ledger_id
from .loader import Migration, MigrationGraph

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "DONE",
    "LedgerRecord",
    "LedgerState",
    "Status",
    "analyse",
    "read_ledger",
    "record_operations",
    "removal_operations",
    "revisions_of",
    "sorted_records",
    "utc_now",
]

Status = Literal["applied", "adopted", "failed", "running"]
DONE: frozenset[str] = frozenset({"applied", "adopted"})
"""Statuses of a migration whose effect is in the table."""

_REVISIONS = "revisions"


def utc_now() -> str:
    """The current time as ISO 8601 UTC, as the ledger stores it."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LedgerRecord:
    """What the ledger knows about one migration.

    Attributes:
        revision: The migration's id.
        parent: Its down_revision when it was recorded.
        description: Its description when it was recorded.
        checksum: SHA-256 of the file when it was recorded.
        status: ``applied``, ``adopted`` (recorded without running: the table
            already had its effect), ``failed`` or ``running``.
        applied_by: ``user@host pid N`` of the runner.
        started_at: ISO 8601 UTC start of the (last) attempt.
        applied_at: ISO 8601 UTC end, None while running.
        duration: Seconds the upgrade took.
        attempt: Id of the attempt; a resumed run keeps it, so its backfill
            checkpoints stay valid.
        error: What went wrong, for ``failed``.
        details: What the migration noted (`MigrationContext.note`), e.g.
            backfill counts.
    """

    revision: str
    parent: str | None
    description: str
    checksum: str
    status: Status
    applied_by: str
    started_at: str
    attempt: str
    applied_at: str | None = None
    duration: float = 0.0
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def for_migration(
        cls, migration: Migration, *, status: Status, applied_by: str, attempt: str
    ) -> LedgerRecord:
        """A record describing `migration` as it is on disk now."""
        return cls(
            revision=migration.revision,
            parent=migration.down_revision,
            description=migration.description,
            checksum=migration.checksum,
            status=status,
            applied_by=applied_by,
            started_at=utc_now(),
            attempt=attempt,
        )

    def finished(self, status: Status, *, duration: float, **changes: Any) -> LedgerRecord:
        """This record, ended with `status` now."""
        return replace(
            self, status=status, applied_at=utc_now(), duration=round(duration, 3), **changes
        )

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item (keyed by the schema's partition key)."""
        values: dict[str, Any] = {
            "revision": self.revision,
            "parent": self.parent,
            "description": self.description,
            "checksum": self.checksum,
            "status": self.status,
            "applied_by": self.applied_by,
            "started_at": self.started_at,
            "applied_at": self.applied_at,
            "duration": Decimal(str(self.duration)),
            "attempt": self.attempt,
            "error": self.error,
            "details": json.dumps(dict(self.details), default=str, sort_keys=True)
            if self.details
            else None,
        }
        return {**key(ledger_id(self.revision)), **to_item(values)}

    @classmethod
    def from_item(cls, raw: Mapping[str, Any]) -> LedgerRecord:
        """Decode a record item."""
        values = from_item(raw)
        details = values.get("details")
        return cls(
            revision=str(values["revision"]),
            parent=values.get("parent"),
            description=str(values.get("description", "")),
            checksum=str(values.get("checksum", "")),
            status=values.get("status", "failed"),
            applied_by=str(values.get("applied_by", "")),
            started_at=str(values.get("started_at", "")),
            attempt=str(values.get("attempt", "")),
            applied_at=values.get("applied_at"),
            duration=float(values.get("duration", 0)),
            error=values.get("error"),
            details=json.loads(details) if details else {},
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "revision": self.revision,
            "parent": self.parent,
            "description": self.description,
            "checksum": self.checksum,
            "status": self.status,
            "applied_by": self.applied_by,
            "started_at": self.started_at,
            "applied_at": self.applied_at,
            "duration": self.duration,
            "attempt": self.attempt,
            "error": self.error,
            "details": dict(self.details),
        }


async def read_ledger(client: DynamoDBClient, table_name: str) -> dict[str, LedgerRecord]:
    """Every ledger record, by revision (strongly consistent reads)."""
    with aws_errors("read the migration ledger", table_name):
        index = await client.get_item(
            TableName=table_name, Key=key(LEDGER_INDEX_ID), ConsistentRead=True
        )
        revisions = sorted(from_item(index.get("Item") or {}).get(_REVISIONS, frozenset()))
        responses = await asyncio.gather(
            *(
                client.get_item(TableName=table_name, Key=key(ledger_id(r)), ConsistentRead=True)
                for r in revisions
            )
        )
    records = [LedgerRecord.from_item(r["Item"]) for r in responses if r.get("Item")]
    return {r.revision: r for r in records}


def _index_update(table_name: str, revisions: Sequence[str], action: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table_name,
            "Key": key(LEDGER_INDEX_ID),
            "UpdateExpression": f"{action} #revisions :revisions",
            "ExpressionAttributeNames": {"#revisions": _REVISIONS},
            "ExpressionAttributeValues": {":revisions": {"SS": sorted(set(revisions))}},
        }
    }


def record_operations(table_name: str, records: Sequence[LedgerRecord]) -> list[dict[str, Any]]:
    """Fenced-write entries that store `records` and list them in the index.

    A transaction may touch an item once, so the index gets one update for all.
    """
    if not records:
        return []
    return [
        *({"Put": {"TableName": table_name, "Item": r.to_item()}} for r in records),
        _index_update(table_name, [r.revision for r in records], "ADD"),
    ]


def removal_operations(table_name: str, revisions: Sequence[str]) -> list[dict[str, Any]]:
    """Fenced-write entries that delete the records of `revisions` and unlist them."""
    if not revisions:
        return []
    return [
        *({"Delete": {"TableName": table_name, "Key": key(ledger_id(r))}} for r in revisions),
        _index_update(table_name, revisions, "DELETE"),
    ]


@dataclass(frozen=True)
class LedgerState:
    """The ledger read against the migration files.

    Attributes:
        applied: The migrations whose effect is recorded, a prefix of the chain.
        interrupted: The record left ``running`` right after that prefix (a
            killed or cancelled run, or one in progress), if any.
        pending: Migrations after the applied prefix (including the interrupted one).
        problems: What makes the ledger dirty, one line each with its fix.
    """

    applied: tuple[Migration, ...]
    interrupted: LedgerRecord | None
    pending: tuple[Migration, ...]
    problems: tuple[str, ...]

    @property
    def head(self) -> str | None:
        """The last applied revision, or None."""
        return self.applied[-1].revision if self.applied else None


def analyse(graph: MigrationGraph, records: Mapping[str, LedgerRecord]) -> LedgerState:
    """Compare the ledger with the migration files.

    Dirty: a record whose file is gone, a ``failed`` record, an applied file
    whose checksum changed, or a record after a migration that has none (a hole).
    """
    problems: list[str] = []
    known = set(graph.revisions)
    for revision in sorted(set(records) - known):
        problems.append(
            f"{revision} is in the ledger ({records[revision].status}) but its file is "
            "missing. Fix: restore the file, or point --migrations-dir at the folder "
            "that has it."
        )
    applied: list[Migration] = []
    interrupted: LedgerRecord | None = None
    gap_at: str | None = None
    for migration in graph.chain:
        record = records.get(migration.revision)
        if record is None:
            gap_at = gap_at or migration.revision
            continue
        if record.status == "failed":
            problems.append(
                f"{migration.revision} failed at {record.applied_at}: {record.error}. Fix: "
                "repair the cause, then `migrate stamp --to "
                f"{migration.down_revision}` and `migrate up` to run it again (or "
                f"`migrate stamp --to {migration.revision}` if you completed it by hand)."
            )
        elif record.status in DONE and record.checksum != migration.checksum:
            problems.append(
                f"{migration.revision} was edited after it was {record.status} (checksum "
                f"{record.checksum[:12]} in the ledger, {migration.checksum[:12]} on disk). "
                "Fix: restore the file from version control and put the change in a new "
                f"migration (or accept the edit with `migrate stamp --to {migration.revision}`)."
            )
        if gap_at is not None:
            problems.append(
                f"{migration.revision} is in the ledger but {gap_at}, before it, is not. "
                f"Fix: `migrate stamp --to` the last migration the table really has."
            )
            continue
        if record.status in DONE:
            applied.append(migration)
        elif record.status == "running":
            interrupted = record
            gap_at = migration.revision
        else:
            gap_at = migration.revision
    pending = graph.chain[len(applied) :]
    return LedgerState(
        applied=tuple(applied),
        interrupted=interrupted,
        pending=tuple(pending),
        problems=tuple(dict.fromkeys(problems)),
    )


def sorted_records(records: Mapping[str, LedgerRecord]) -> list[LedgerRecord]:
    """Records in the order they were started."""
    return sorted(records.values(), key=lambda r: (r.started_at, r.revision))


def revisions_of(migrations: Sequence[Migration]) -> list[str]:
    """The ids of `migrations`."""
    return [m.revision for m in migrations]
