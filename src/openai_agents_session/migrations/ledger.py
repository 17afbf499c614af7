"""The migration ledger: an append-only, hash-chained history of events in the table.

Every state change of a migration is one event item under
``__oas__#ledger#event#<seq>``: ``applying``, ``applied``, ``adopted`` (``up``
found the table already had it), ``stamped`` (recorded by ``stamp``),
``failed``, ``reverting``, ``reverted``, ``unstamped`` (``stamp --force``
moved the ledger back past it) and ``repaired`` (``stamp --force`` accepted a
tampered ledger). Nothing is ever rewritten or deleted, so ``history`` shows
every event.

The index item ``__oas__#ledger`` holds the last sequence number and the last
event's hash, plus the billing mode the table was created or adopted with. An
event is appended in the same fenced transaction that moves the index on,
conditional on the index's previous sequence number, so the two never disagree.
Each event's hash covers its content and the previous hash: a deleted event
(a hole), a deleted index, an event past the index, or an edited event is
found on every read, and the checks, ``up`` and ``down`` refuse to go on.

The current state of each migration (`LedgerRecord`) is folded from its
latest event; `analyse` compares it with the migration files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ..errors import clause
from ..models.schema import SCHEMA
from .dynamo import aws_errors, from_item, to_item
from .keys import LEDGER_INDEX_ID, key, ledger_event_id
from .loader import Chain, Migration, MigrationGraph

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from .lock import MigrationLock

__all__ = [
    "DONE",
    "Action",
    "Ledger",
    "LedgerEvent",
    "LedgerRecord",
    "LedgerState",
    "Status",
    "analyse",
    "load_ledger",
    "read_ledger",
    "utc_now",
]

Action = Literal[
    "applying",
    "applied",
    "adopted",
    "stamped",
    "failed",
    "reverting",
    "reverted",
    "unstamped",
    "repaired",
]
Status = Literal["applied", "adopted", "failed", "running", "reverting"]
DONE: frozenset[str] = frozenset({"applied", "adopted"})
"""Statuses of a migration whose effect is in the table."""

_BATCH = 90  # events per transaction (TransactWriteItems takes 100 entries)
_BATCH_READ = 100  # keys per BatchGetItem (its limit)


def utc_now() -> str:
    """The current time as ISO 8601 UTC, as the ledger stores it."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LedgerEvent:
    """One entry of the ledger's history.

    Attributes:
        action: What happened (see the module docstring).
        revision: The migration it happened to ("" for ``repaired``).
        chain: ``builtin`` or ``team``.
        checksum: SHA-256 of the migration file at the time.
        parent: The migration's down_revision at the time.
        description: The migration's description at the time.
        by: ``user@host pid N`` of the runner.
        at: ISO 8601 UTC time of the event.
        attempt: Id of the attempt (a resumed run keeps it).
        duration: Seconds the step took (end events).
        error: What went wrong (``failed``).
        details: What the step noted: backfill counts, the target of a
            rollback, the billing mode, acknowledged problems.
        seq: Position in the ledger, from 1 (0 until appended).
        hash: SHA-256 over the previous event's hash and this event's content.
    """

    action: Action
    revision: str
    chain: str
    checksum: str
    parent: str | None
    description: str
    by: str
    attempt: str
    at: str = field(default_factory=utc_now)
    duration: float = 0.0
    error: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0
    hash: str = ""

    @classmethod
    def of(
        cls, migration: Migration, action: Action, *, by: str, attempt: str, **changes: Any
    ) -> LedgerEvent:
        """An event about `migration` as it is on disk now."""
        values: dict[str, Any] = {
            "revision": migration.revision,
            "chain": migration.chain,
            "checksum": migration.checksum,
            "parent": migration.down_revision,
            "description": migration.description,
        }
        return cls(action=action, by=by, attempt=attempt, **{**values, **changes})

    def content(self) -> dict[str, Any]:
        """Everything but the hash, JSON-able: what the hash covers."""
        values = asdict(self)
        values.pop("hash")
        values["details"] = json.loads(json.dumps(dict(self.details), default=str))
        values["duration"] = round(float(self.duration), 3)
        return values

    def chained(self, seq: int, previous_hash: str) -> LedgerEvent:
        """This event placed at `seq` after an event hashed `previous_hash`."""
        placed = replace(self, seq=seq, duration=round(float(self.duration), 3))
        return replace(placed, hash=placed.digest(previous_hash))

    def digest(self, previous_hash: str) -> str:
        """The hash this event should carry after one hashed `previous_hash`."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256((previous_hash + canonical).encode()).hexdigest()

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item (keyed by the schema's partition key)."""
        values = self.content()
        values["details"] = json.dumps(values["details"], sort_keys=True)
        values["duration"] = Decimal(str(values["duration"]))
        values["hash"] = self.hash
        return {**key(ledger_event_id(self.seq)), **to_item(values)}

    @classmethod
    def from_item(cls, raw: Mapping[str, Any]) -> LedgerEvent:
        """Decode an event item.

        Raises:
            ValueError: The item is not an event (edited by hand).
        """
        values = from_item(raw)
        try:
            return cls(
                action=values["action"],
                revision=str(values["revision"]),
                chain=str(values["chain"]),
                checksum=str(values["checksum"]),
                parent=values.get("parent"),
                description=str(values.get("description", "")),
                by=str(values["by"]),
                attempt=str(values["attempt"]),
                at=str(values["at"]),
                duration=float(values.get("duration", 0)),
                error=values.get("error"),
                details=json.loads(values.get("details") or "{}"),
                seq=int(values["seq"]),
                hash=str(values["hash"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a ledger event ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class LedgerRecord:
    """A migration's current state, folded from its latest ledger events.

    Attributes:
        revision: The migration's id.
        chain: ``builtin`` or ``team``.
        parent: Its down_revision when it was recorded.
        description: Its description when it was recorded.
        checksum: SHA-256 of the file when it was recorded.
        status: ``applied``, ``adopted`` (recorded without running: the table
            already had its effect, or ``stamp`` said so), ``failed``,
            ``running`` (started, not ended: in progress, or interrupted) or
            ``reverting`` (a rollback started and did not end).
        applied_by: ``user@host pid N`` of the runner of the latest event.
        started_at: When the latest attempt started.
        attempt: Id of that attempt; a resumed run keeps it.
        applied_at: When it ended (None while running or reverting).
        duration: Seconds the step took.
        error: What went wrong, for ``failed``.
        details: What the step noted (backfill counts, a rollback's target).
        seq: The latest event's sequence number.
    """

    revision: str
    chain: str
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
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {**asdict(self), "details": dict(self.details)}


_STATUS: dict[str, Status | None] = {
    "applying": "running",
    "applied": "applied",
    "adopted": "adopted",
    "stamped": "adopted",
    "failed": "failed",
    "reverting": "reverting",
    "reverted": None,
    "unstamped": None,
}


def fold(events: Sequence[LedgerEvent]) -> dict[str, LedgerRecord]:
    """Each migration's current state: its latest event, with its attempt's start."""
    records: dict[str, LedgerRecord] = {}
    started: dict[tuple[str, str], str] = {}
    for event in sorted(events, key=lambda e: e.seq):
        if event.action == "repaired":
            continue
        if event.action in ("applying", "reverting"):
            started[(event.revision, event.attempt)] = event.at
        status = _STATUS[event.action]
        if status is None:
            records.pop(event.revision, None)
            continue
        ongoing = status in ("running", "reverting")
        records[event.revision] = LedgerRecord(
            revision=event.revision,
            chain=event.chain,
            parent=event.parent,
            description=event.description,
            checksum=event.checksum,
            status=status,
            applied_by=event.by,
            started_at=started.get((event.revision, event.attempt), event.at),
            attempt=event.attempt,
            applied_at=None if ongoing else event.at,
            duration=event.duration,
            error=event.error,
            details=event.details,
            seq=event.seq,
        )
    return records


@dataclass
class Ledger:
    """The ledger as read: its events, its index, and what is wrong with them.

    Attributes:
        table_name: The session table.
        events: Every event found, by sequence number.
        last_seq: The index's last sequence number (or the last event found,
            when the index is missing).
        last_hash: The hash the next event chains from.
        billing_mode: The billing mode recorded when the table was created or
            adopted, if any.
        index_found: Whether the index item exists.
        tampering: Inconsistencies between the index and the events, one line
            each with its fix; those acknowledged by a ``repaired`` event are left out.
    """

    table_name: str
    events: list[LedgerEvent] = field(default_factory=list)
    last_seq: int = 0
    last_hash: str = ""
    billing_mode: str | None = None
    index_found: bool = False
    tampering: list[str] = field(default_factory=list)

    def rebase(self) -> None:
        """Continue after the last event found, wherever the index says (for repairs)."""
        if self.events:
            last = max(self.events, key=lambda e: e.seq)
            if last.seq >= self.last_seq:
                self.last_seq, self.last_hash = last.seq, last.hash

    @property
    def empty(self) -> bool:
        """No event and no index: a table that was never migrated."""
        return not self.events and not self.index_found

    def records(self) -> dict[str, LedgerRecord]:
        """Each migration's current state."""
        return fold(self.events)

    async def append(
        self,
        lock: MigrationLock,
        events: Sequence[LedgerEvent],
        *,
        billing_mode: str | None = None,
        repair: bool = False,
    ) -> list[LedgerEvent]:
        """Append `events` through the lock's fence; return them as stored.

        Args:
            lock: The held migration lock; a lost lease writes nothing.
            events: Events to append, in order.
            billing_mode: Record this billing mode in the index.
            repair: Rewrite the index whatever it holds (``stamp --force`` on a
                tampered ledger); otherwise the index must still be at `last_seq`.

        Raises:
            LeaseLostError: The lease expired or was taken over.
        """
        stored: list[LedgerEvent] = []
        for start in range(0, len(events), _BATCH):
            chunk = events[start : start + _BATCH]
            placed: list[LedgerEvent] = []
            seq, previous = self.last_seq, self.last_hash
            for event in chunk:
                seq += 1
                event = event.chained(seq, previous)
                previous = event.hash
                placed.append(event)
            operations: list[dict[str, Any]] = [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": event.to_item(),
                        "ConditionExpression": "attribute_not_exists(#k)",
                        "ExpressionAttributeNames": {"#k": SCHEMA.partition_key},
                    }
                }
                for event in placed
            ]
            if repair:
                # The index is rebuilt from the events found; any earlier event item
                # at these positions would be refused by the Put conditions above.
                operations.append(self._index_put(seq, previous, billing_mode))
            else:
                operations.append(self._index_update(seq, previous, billing_mode))
            await lock.write(operations)
            self.events += placed
            self.last_seq, self.last_hash = seq, previous
            self.index_found = True
            if billing_mode is not None:
                self.billing_mode = billing_mode
            stored += placed
            repair = False
        return stored

    def _index_update(self, seq: int, last_hash: str, billing_mode: str | None) -> dict[str, Any]:
        names = {"#seq": "last_seq", "#hash": "last_hash"}
        values: dict[str, Any] = {
            ":seq": {"N": str(seq)},
            ":hash": {"S": last_hash},
        }
        sets = ["#seq = :seq", "#hash = :hash"]
        if billing_mode is not None:
            names["#billing"] = "billing_mode"
            values[":billing"] = {"S": billing_mode}
            sets.append("#billing = :billing")
        if self.index_found:
            condition = "#seq = :previous"
            values[":previous"] = {"N": str(self.last_seq)}
        else:
            condition = "attribute_not_exists(#seq)"
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": key(LEDGER_INDEX_ID),
                "UpdateExpression": "SET " + ", ".join(sets),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _index_put(self, seq: int, last_hash: str, billing_mode: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {"last_seq": seq, "last_hash": last_hash}
        mode = billing_mode or self.billing_mode
        if mode is not None:
            values["billing_mode"] = mode
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": {**key(LEDGER_INDEX_ID), **to_item(values)},
            }
        }


async def _get(client: DynamoDBClient, table_name: str, item_id: str) -> dict[str, Any] | None:
    response = await client.get_item(TableName=table_name, Key=key(item_id), ConsistentRead=True)
    item = response.get("Item")
    return dict(item) if item else None


async def _get_many(
    client: DynamoDBClient, table_name: str, seqs: Sequence[int]
) -> dict[int, dict[str, Any] | None]:
    """Events by sequence number (None: absent), in BatchGetItems of 100 consistent reads."""
    found: dict[int, dict[str, Any] | None] = dict.fromkeys(seqs)
    by_id = {ledger_event_id(seq): seq for seq in seqs}
    keys = [key(item_id) for item_id in by_id]
    for start in range(0, len(keys), _BATCH_READ):
        pending: list[dict[str, Any]] = keys[start : start + _BATCH_READ]
        while pending:
            response = await client.batch_get_item(
                RequestItems={table_name: {"Keys": pending, "ConsistentRead": True}}
            )
            for item in response.get("Responses", {}).get(table_name, []):
                found[by_id[item[SCHEMA.partition_key]["S"]]] = dict(item)
            unprocessed = response.get("UnprocessedKeys", {}).get(table_name)
            pending = list(unprocessed["Keys"]) if unprocessed else []
            if pending:
                await asyncio.sleep(0.05)  # throttled: DynamoDB hands the rest back
    return found


async def load_ledger(client: DynamoDBClient, table_name: str) -> Ledger:
    """Read the whole ledger with strongly consistent reads, and check it.

    One GetItem for the index, then BatchGetItems of 100 events (and the one past
    the last); no Scan.
    """
    ledger = Ledger(table_name=table_name)
    fix = (
        "Fix: restore the ledger items from a backup (point-in-time recovery), or accept "
        "the ledger as it is with `openai-agents-session migrate stamp --force --to "
        "<the revision the table really is at>`."
    )
    with aws_errors("read the migration ledger", table_name):
        index = await _get(client, table_name, LEDGER_INDEX_ID)
        raw: dict[int, dict[str, Any] | None] = {}
        if index is not None and "last_seq" in index:
            values = from_item(index)
            ledger.index_found = True
            ledger.last_seq = int(values.get("last_seq", 0))
            ledger.last_hash = str(values.get("last_hash", ""))
            ledger.billing_mode = values.get("billing_mode")
            raw.update(await _get_many(client, table_name, range(1, ledger.last_seq + 2)))
            seq = ledger.last_seq + 1
            while raw.get(seq) is not None:  # events past the index: keep walking
                seq += 1
                raw[seq] = await _get(client, table_name, ledger_event_id(seq))
        else:
            # No index: either a table never migrated, or a deleted index. Walk the
            # events from the first, to tell the two apart and to rebuild on repair.
            seq = 1
            while True:
                found = await _get(client, table_name, ledger_event_id(seq))
                if found is None:
                    break
                raw[seq] = found
                seq += 1
    problems: list[tuple[int, str]] = []
    if not ledger.index_found and raw:
        problems.append(
            (
                len(raw),
                f"the ledger's index item ({LEDGER_INDEX_ID}) is missing, but {len(raw)} "
                f"ledger event(s) exist. {fix}",
            )
        )
    previous_hash = ""
    previous_seq = 0
    for seq in sorted(raw):
        item = raw[seq]
        if item is None:
            if seq <= ledger.last_seq:
                problems.append((seq, f"ledger event {seq} of {ledger.last_seq} is missing. {fix}"))
            continue
        if ledger.index_found and seq > ledger.last_seq:
            problems.append(
                (
                    seq,
                    f"ledger event {seq} exists past the index's last event ({ledger.last_seq}): "
                    f"the index was rolled back or edited. {fix}",
                )
            )
        try:
            event = LedgerEvent.from_item(item)
        except ValueError as exc:
            problems.append((seq, f"ledger event {seq} is unreadable: {clause(exc)}. {fix}"))
            continue
        if event.seq != seq:
            problems.append((seq, f"ledger event {seq} says it is event {event.seq}. {fix}"))
        elif previous_seq == seq - 1 and event.digest(previous_hash) != event.hash:
            problems.append((seq, f"ledger event {seq} ({event.revision}) was modified. {fix}"))
        previous_hash, previous_seq = event.hash, seq
        ledger.events.append(event)
    at_end = ledger.index_found and previous_seq == ledger.last_seq and bool(ledger.events)
    if at_end and ledger.last_hash != previous_hash:
        problems.append((previous_seq, f"the ledger's index does not match its last event. {fix}"))
    if not ledger.index_found and ledger.events:
        ledger.last_seq = max(e.seq for e in ledger.events)
        ledger.last_hash = next(e.hash for e in ledger.events if e.seq == ledger.last_seq)
    repaired = max((e.seq for e in ledger.events if e.action == "repaired"), default=0)
    ledger.tampering = [text for seq, text in problems if seq > repaired or seq == 0]
    if not ledger.index_found and ledger.events and repaired >= ledger.last_seq:
        ledger.tampering = []
    return ledger


async def read_ledger(client: DynamoDBClient, table_name: str) -> dict[str, LedgerRecord]:
    """Every migration's current state, by revision (strongly consistent reads)."""
    return (await load_ledger(client, table_name)).records()


@dataclass(frozen=True)
class LedgerState:
    """The ledger read against the migration files.

    Attributes:
        applied: The migrations whose effect is recorded: a prefix of each chain.
        interrupted: Records left ``running`` right after those prefixes (a killed
            or cancelled run, or one in progress), by chain.
        reverting: A rollback that started and did not end, if any.
        pending: Migrations after the applied prefixes, in order of application.
        problems: What makes the ledger dirty, one line each with its fix.
    """

    applied: tuple[Migration, ...]
    interrupted: Mapping[str, LedgerRecord]
    reverting: LedgerRecord | None
    pending: tuple[Migration, ...]
    problems: tuple[str, ...]

    def head_of(self, chain: Chain) -> str | None:
        """The last applied revision of `chain`, or None."""
        done = [m for m in self.applied if m.chain == chain]
        return done[-1].revision if done else None

    @property
    def head(self) -> str | None:
        """The last applied revision (the team chain's, once it has one)."""
        return self.applied[-1].revision if self.applied else None


def _hole(migration: Migration, gap_at: str, records: Mapping[str, LedgerRecord]) -> str:
    if gap_at in records or migration.chain != "team":
        return (
            f"{migration.revision} is in the ledger but {gap_at}, before it, is not. "
            "Fix: `migrate stamp --force --to` the last migration the table really has."
        )
    # Never recorded at all: a migration from another branch was chained in before an
    # applied one. Stamping would skip it and unstamping would run the other twice.
    folder = migration.path.parent if migration.path else "DIR"
    return (
        f"{migration.revision} is applied but {gap_at}, before it in the files, never ran "
        "here: a migration from another branch was chained before an applied one. Fix: "
        f"restore {migration.revision} from version control if you edited it, then move "
        f"{gap_at} after it: `openai-agents-session migrate rebase {gap_at} "
        f"--migrations-dir {folder}`, and `migrate up`."
    )


def analyse(
    graph: MigrationGraph,
    records: Mapping[str, LedgerRecord],
    tampering: Sequence[str] = (),
) -> LedgerState:
    """Compare the ledger with the migration files, chain by chain.

    Dirty: tampering, a record whose file is gone, a ``failed`` record, a rollback
    that did not end, an applied file whose checksum changed, or a record after a
    migration that has none (a hole).
    """
    problems: list[str] = list(tampering)
    known = set(graph.revisions)
    for revision in sorted(set(records) - known):
        slug = revision.split("_", 1)[-1]
        moved = [r for r in graph.revisions if r not in records and r.split("_", 1)[-1] == slug]
        if moved:
            # `migrate rebase` renumbers what it moves: it was run on an applied migration.
            problems.append(
                f"{revision} is in the ledger ({records[revision].status}) but its file is now "
                f"{moved[0]} (renumbered, as `migrate rebase` does). Fix: restore the files "
                f"from version control, then rebase the migration this table has not "
                "applied instead."
            )
            continue
        problems.append(
            f"{revision} is in the ledger ({records[revision].status}) but its file is "
            "missing. Fix: restore the file, or point --migrations-dir at the folder "
            "that has it."
        )
    applied: list[Migration] = []
    interrupted: dict[str, LedgerRecord] = {}
    reverting: LedgerRecord | None = None
    pending: list[Migration] = []
    for chain in ("builtin", "team"):
        gap_at: str | None = None
        members = graph.of_chain(chain)
        done = 0
        for migration in members:
            record = records.get(migration.revision)
            if record is None:
                gap_at = gap_at or migration.revision
                continue
            if record.status == "failed":
                phase = record.details.get("phase", "up")
                if phase == "down":
                    fix = (
                        "repair the table by hand, then rerun `migrate down --to "
                        f"{record.details.get('target')}` (or `migrate stamp --to` the "
                        "revision the table is at)"
                    )
                else:
                    before = migration.down_revision or graph.builtin_head.revision
                    fix = (
                        f"repair the cause, then `migrate stamp --force --to {before}` and "
                        f"`migrate up` to run it again (or `migrate stamp --to "
                        f"{migration.revision}` if you completed it by hand)"
                    )
                problems.append(
                    f"{migration.revision} failed at {record.applied_at}: {clause(record.error)}. "
                    f"Fix: {fix}."
                )
            elif record.status == "reverting":
                reverting = record
                target = record.details.get("target") or "base"
                problems.append(
                    f"the rollback of {migration.revision} (to {target}) did not finish. "
                    f"Fix: rerun `openai-agents-session migrate down --to {target}`."
                )
            elif record.status in DONE and record.checksum != migration.checksum:
                # With a hole before it, stamping it would record the hole as applied.
                accept = (
                    ""
                    if gap_at is not None
                    else f" (or accept the edit with `migrate stamp --to {migration.revision}`)"
                )
                problems.append(
                    f"{migration.revision} was edited after it was {record.status} (checksum "
                    f"{record.checksum[:12]} in the ledger, {migration.checksum[:12]} on "
                    "disk). Fix: restore the file from version control and put the change "
                    f"in a new migration{accept}."
                )
            if gap_at is not None:
                problems.append(_hole(migration, gap_at, records))
                continue
            if record.status in DONE:
                done += 1
            elif record.status == "running":
                interrupted[chain] = record
                gap_at = migration.revision
            else:
                gap_at = migration.revision
        applied += members[:done]
        pending += members[done:]
    return LedgerState(
        applied=tuple(applied),
        interrupted=interrupted,
        reverting=reverting,
        pending=tuple(pending),
        problems=tuple(dict.fromkeys(problems)),
    )
