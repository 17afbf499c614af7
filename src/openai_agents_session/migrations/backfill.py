"""Backfills: apply a function to every item of a live table exactly once, fenced by the lock.

The table is scanned in parallel segments; the library's reserved items are
skipped. Each item records, in its ``schema_version`` string set, the ids of the
backfills applied to it (`backfill_id`). An item that already carries this
backfill's id is skipped without calling the function (counted ``already``).
Otherwise the function decides the attribute updates, and a change is **one
TransactWriteItems** of three entries:

1. the migration lock's ConditionCheck (same owner, same fencing token, lease
   not expired), so a runner that lost its lease cannot change a single item;
2. the item's Update, conditional on the ``updated_at`` the scan saw and on the
   item not carrying the id yet; it sets the function's attributes, a fresh
   ``updated_at`` (a session holding the old state conflicts, re-reads and
   carries the new attribute over) and adds the id to ``schema_version``;
3. the Update of the segment's checkpoint: its position (this item's key) and
   the segment's cumulative counts, conditional on the checkpoint being the one
   this runner last wrote.

The checkpoint therefore never lags a write: a run stopped at any point (even
``kill -9``) resumes right after the last committed change, and every item is
counted exactly once. Items the function leaves alone get no write; they are
counted in the next checkpoint (at the next change or the end of the page), and
a resumed run simply decides them again. When the transaction is cancelled, its
reasons say why: the lock's check failed (`LeaseLostError`: the lock is marked
lost and nothing more is written), the item's condition failed (a concurrent
write: the item is re-read consistently and the function decides again; a
deleted item is counted ``gone`` and never recreated), or the checkpoint's
failed too (the checkpoint is read: if it holds what this runner was writing,
its own copy of the transaction committed and only the answer was lost). The
cost: a transaction writes each item twice, so a change
costs twice the item's write units, plus two for the small checkpoint and about
two for the lock's check. Consumed capacity is metered against
``max_rcu``/``max_wcu`` (estimated by DynamoDB's rules when an endpoint reports
none).

Endpoints without TransactWriteItems (dynalite) fall back to three separate
steps: a check that the lease has more than a third of its length left by this
runner's clock (`MigrationLock.ensure_lease`, which renews it first when less is
left), the conditional UpdateItem, then the checkpoint. A third, because the
lease is renewed every third of its length: a healthy runner always has more
than two thirds left, so a third left means two renewals were missed, and what
remains (10 s of the default 30 s lease) still covers a write's round trip and
the clock skew between runners that the lease already assumes. The item's
``schema_version`` condition still applies each backfill to an item at most
once. What may differ: a runner killed between an item's write and its
checkpoint leaves that item counted ``already`` instead of ``changed`` on the
resumed run (the sum still covers every item), and a runner whose lock was
force-unlocked learns it at its next renewal, so it may write items meanwhile
(each still at most once).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from ..models.codec import decode_record, item_size, next_version
from ..models.schema import SCHEMA, SessionRecord
from .dynamo import (
    aws_errors,
    error_code,
    from_attribute,
    from_item,
    returned_item,
    to_attribute,
    to_item,
)
from .errors import LeaseLostError, MigrationError, MigrationFailedError
from .keys import checkpoint_id, is_reserved, key
from .lock import read_lock
from .progress import Reporter

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from .lock import MigrationLock

__all__ = [
    "BackfillFunction",
    "BackfillItem",
    "BackfillLeaseLostError",
    "BackfillResult",
    "CapacityLimiter",
    "backfill_id",
    "run_backfill",
]

logger = logging.getLogger("openai_agents_session.migrations")

_T = TypeVar("_T")
_MAX_CONFLICTS = 25
_CHECKPOINT_DAYS = 30
_PROTECTED = frozenset(
    {SCHEMA.partition_key, SCHEMA.version, SCHEMA.write_log, SCHEMA.schema_version}
)
_COUNTS = ("scanned", "changed", "unchanged", "already", "conflicts", "gone", "skipped")
# Cancellation reasons of an item update that another attempt may get past.
_RETRIED = frozenset({"TransactionConflict"})
# The lock's ConditionCheck, when the endpoint reports no capacity: a small item,
# read for a transactional write.
_FENCE_UNITS = 2.0


def backfill_id(revision: str, name: str | None = None, *, downgrade: bool = False) -> str:
    """The id a backfill records in each item's ``schema_version``.

    ``"<revision>"``, or ``"<revision>:<name>"`` for a named backfill (a
    migration that runs more than one). A downgrade's backfill gets the same id
    prefixed with ``-``; revisions start with a digit, so the two never collide.
    An upgrade's write withdraws the downgrade ids of its revision from the item,
    and a downgrade's write the upgrade ids, so after ``down`` and ``up`` again
    the item is changed again.
    """
    base = revision if name is None or name == revision else f"{revision}:{name}"
    return f"-{base}" if downgrade else base


def _revision_of(applied: str) -> str:
    return applied.lstrip("-").split(":", 1)[0]


def _withdrawn_by(backfill: str, applied: str) -> bool:
    """Whether a write of `backfill` withdraws `applied`: the other direction, same revision."""
    return backfill.startswith("-") != applied.startswith("-") and _revision_of(
        backfill
    ) == _revision_of(applied)


@dataclass(frozen=True)
class BackfillItem:
    """One session item as the scan (or a re-read after a conflict) returned it.

    Attributes:
        session_id: The partition key.
        raw: The DynamoDB attribute-value map, every attribute included.
    """

    session_id: str
    raw: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        """The Python value of attribute `name` (numbers as `Decimal`), or `default`."""
        value = self.raw.get(name)
        return default if value is None else from_attribute(value)

    @property
    def attributes(self) -> dict[str, Any]:
        """Every attribute as Python values."""
        return from_item(self.raw)

    @property
    def version(self) -> Decimal | None:
        """The item's ``updated_at``; the backfill's write is conditional on it."""
        value = self.get(SCHEMA.version)
        return value if isinstance(value, Decimal) else None

    @property
    def extra(self) -> dict[str, Any]:
        """Attributes the schema does not declare (e.g. added by earlier backfills)."""
        return {k: from_attribute(v) for k, v in self.raw.items() if k not in SCHEMA.attributes}

    @property
    def schema_version(self) -> frozenset[str]:
        """The ids of the backfills applied to the item (its ``schema_version``)."""
        value = self.raw.get(SCHEMA.schema_version)
        body = value.get("SS") if isinstance(value, Mapping) else None
        return frozenset(body) if isinstance(body, list) else frozenset()

    def record(self, *, table_name: str | None = None) -> SessionRecord:
        """The item validated as a `SessionRecord`.

        Raises:
            CorruptSessionError: The item does not follow the schema.
        """
        return decode_record(self.raw, table_name=table_name)

    def expired(self, now: float | None = None) -> bool:
        """Whether the item's TTL has passed (DynamoDB may not have deleted it yet)."""
        ttl = self.get(SCHEMA.ttl)
        return ttl is not None and ttl <= (time.time() if now is None else now)


BackfillFunction = Callable[
    [BackfillItem], "Mapping[str, Any] | Awaitable[Mapping[str, Any] | None] | None"
]
"""Decides one item: the attributes to set (a None value removes one), or None/{} to skip."""


@dataclass
class BackfillResult:
    """What a backfill did (or, with ``dry_run``, would do).

    The counts include those of earlier runs of the same attempt that this run
    resumed from their checkpoints; ``written`` is this run's own.

    Attributes:
        name: The backfill's checkpoint name.
        segments: Parallel scan segments.
        id: The id recorded in each changed item's ``schema_version``.
        scanned: Session items examined (reserved items excluded).
        changed: Items updated (would be updated, in a dry run).
        unchanged: Items the function left alone.
        already: Items that already carried the id; skipped without calling
            the function.
        conflicts: Conditional updates that lost to a concurrent write and were
            decided again on the re-read item.
        gone: Items deleted between the scan and the update.
        skipped: The library's reserved items passed over.
        resumed: Segments that continued from a checkpoint.
        written: Items this run changed (not those of resumed runs).
        last_written: Session id of the last item this run changed.
        read_units: Read capacity consumed by the scan.
        write_units: Write capacity consumed by updates and checkpoints.
        duration: Seconds.
        dry_run: Nothing was written.
    """

    name: str
    segments: int
    id: str = ""
    scanned: int = 0
    changed: int = 0
    unchanged: int = 0
    already: int = 0
    conflicts: int = 0
    gone: int = 0
    skipped: int = 0
    resumed: int = 0
    written: int = 0
    last_written: str | None = None
    read_units: float = 0.0
    write_units: float = 0.0
    duration: float = 0.0
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        """The item counts by outcome."""
        return {c: int(getattr(self, c)) for c in _COUNTS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "name": self.name,
            "id": self.id or self.name,
            "segments": self.segments,
            **self.counts(),
            "resumed": self.resumed,
            "written": self.written,
            "last_written": self.last_written,
            "read_units": round(self.read_units, 3),
            "write_units": round(self.write_units, 3),
            "duration": round(self.duration, 3),
            "dry_run": self.dry_run,
        }


class BackfillLeaseLostError(LeaseLostError):
    """The lease was lost during a backfill; the message says exactly what this runner wrote.

    No item write of this runner lands after the loss (on endpoints with
    transactions; see the module docstring for those without).

    Attributes:
        written: Items this runner changed before the loss, by backfill id.
        last_keys: Session id of the last item this runner changed, by backfill id.
    """

    def __init__(
        self,
        message: str,
        *,
        table_name: str | None = None,
        written: Mapping[str, int],
        last_keys: Mapping[str, str | None],
    ) -> None:
        super().__init__(message, table_name=table_name)
        self.written = dict(written)
        self.last_keys = dict(last_keys)


def lease_lost_error(
    table_name: str, written: Mapping[str, int], last_keys: Mapping[str, str | None]
) -> BackfillLeaseLostError:
    """The `BackfillLeaseLostError` naming, per backfill, what this runner changed."""
    parts = []
    for name, count in written.items():
        last = last_keys.get(name)
        parts.append(
            f"{count} item{'' if count == 1 else 's'} for backfill {name!r}"
            + (f" (the last: session {last!r})" if last is not None else "")
        )
    done = "; ".join(parts) if parts else "no item"
    return BackfillLeaseLostError(
        f"this runner's lease on the migration lock of {table_name!r} expired or was taken "
        f"over during a backfill. Before that it changed {done}, and it wrote nothing after. "
        "The items it changed carry their backfill id in schema_version, so whoever runs "
        "the migration next skips them. Fix: check who holds the lock with "
        "`openai-agents-session migrate status`, then rerun `migrate up` (it resumes from "
        "the checkpoints; use a longer lease if renewals are being starved).",
        table_name=table_name,
        written=written,
        last_keys=last_keys,
    )


class CapacityLimiter:
    """Keeps consumed capacity under `per_second` units, with at most one second of burst.

    Callers `wait` before a request and `spend` what DynamoDB reports it consumed
    (``ReturnConsumedCapacity=TOTAL``); an overdraft is paid back by waiting.
    """

    def __init__(
        self,
        per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """No limit when `per_second` is None."""
        if per_second is not None and per_second <= 0:
            raise MigrationError(f"capacity limits must be positive, got {per_second!r}")
        self.per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._available = per_second or 0.0
        self._updated = clock()
        self.spent = 0.0

    def _refill(self) -> None:
        now = self._clock()
        if self.per_second is not None:
            self._available = min(
                self.per_second, self._available + (now - self._updated) * self.per_second
            )
        self._updated = now

    async def wait(self) -> None:
        """Return once the budget is not overdrawn."""
        if self.per_second is None:
            return
        self._refill()
        if self._available < 0:
            await self._sleep(-self._available / self.per_second)
            self._refill()
            # The debt is paid by that wait; rounding must not make it loop.
            self._available = max(self._available, 0.0)

    def spend(self, units: float) -> None:
        """Record `units` consumed."""
        self.spent += units
        if self.per_second is not None:
            self._refill()
            self._available -= units


async def _finish(awaitable: Coroutine[Any, Any, _T]) -> tuple[_T, bool]:
    """Run to completion even if the caller is cancelled; say whether it was."""
    task = asyncio.ensure_future(awaitable)
    interrupted = False
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            interrupted = True
    return task.result(), interrupted


def _units(response: Mapping[str, Any]) -> float | None:
    capacity = response.get("ConsumedCapacity")
    if not capacity:
        return None
    return float(capacity.get("CapacityUnits") or 0.0)


def _write_units(size: int) -> float:
    """Write units of writing an item of `size` bytes (DynamoDB: one per KB, rounded up)."""
    return float(max(1, math.ceil(size / 1024)))


@dataclass
class _Segment:
    number: int
    last_key: dict[str, Any] | None = None
    done: bool = False
    resumed: bool = False
    # Checkpoint writes of this attempt so far: the next one is conditional on it.
    seq: int = 0
    # Counts or position moved past the stored checkpoint.
    dirty: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))


@dataclass(frozen=True)
class _Write:
    """An Update request and the write units it costs outside a transaction."""

    request: dict[str, Any]
    units: float


@dataclass(frozen=True)
class _Conflict:
    """The item's condition failed: decide again on `current` (None: it is gone)."""

    current: Mapping[str, Any] | None


class _Backfill:
    def __init__(
        self,
        *,
        client: DynamoDBClient,
        table_name: str,
        fn: BackfillFunction,
        name: str,
        backfill_id: str,
        attempt: str,
        segments: int,
        page_size: int,
        dry_run: bool,
        fence: MigrationLock | None,
        reporter: Reporter,
        read_limit: CapacityLimiter,
        write_limit: CapacityLimiter,
        clock: Callable[[], float],
        total_estimate: int | None,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.fn = fn
        self.name = name
        self.id = backfill_id
        self.attempt = attempt
        self.segments = segments
        self.page_size = page_size
        self.dry_run = dry_run
        self.fence = fence
        self.reporter = reporter
        self.read_limit = read_limit
        self.write_limit = write_limit
        self.clock = clock
        self.total_estimate = total_estimate
        self.states: list[_Segment] = []
        # Without transactions, write only with more than this much lease left
        # (see the module docstring for why a third).
        self.margin = fence.lease_seconds / 3 if fence is not None else 0.0
        self.written = 0
        self.last_written: str | None = None

    # -------------------------------------------------------------- checkpoints

    async def load_checkpoints(self) -> None:
        if self.dry_run:
            self.states = [_Segment(n) for n in range(self.segments)]
            return
        first = await self._read_checkpoint(0)
        if first is not None and first[1] != self.segments:
            self.reporter.warning(
                f"backfill {self.name}: resuming with {first[1]} segments, as checkpointed "
                f"(asked for {self.segments})"
            )
            self.segments = first[1]
        rest = await asyncio.gather(*(self._read_checkpoint(n) for n in range(1, self.segments)))
        loaded = [first, *rest]
        self.states = [
            found[0] if found is not None else _Segment(n) for n, found in enumerate(loaded)
        ]

    async def _read_checkpoint(self, segment: int) -> tuple[_Segment, int] | None:
        with aws_errors("read a backfill checkpoint", self.table_name):
            response = await self.client.get_item(
                TableName=self.table_name,
                Key=key(checkpoint_id(self.name, segment)),
                ConsistentRead=True,
            )
        values = from_item(response.get("Item") or {})
        if not values or values.get("attempt") != self.attempt:
            return None  # none, or left by an earlier application of this migration
        last_key = values.get("last_key")
        state = _Segment(
            segment,
            last_key=json.loads(last_key) if last_key else None,
            done=bool(values.get("done")),
            resumed=True,
            seq=int(values.get("seq", 0)),
            counts={c: int(values.get(c, 0)) for c in _COUNTS},
        )
        return state, int(values.get("total_segments", self.segments))

    def _checkpoint_write(
        self,
        state: _Segment,
        counts: Mapping[str, int],
        last_key: Mapping[str, Any] | None,
        done: bool,
    ) -> _Write:
        """The Update storing a segment's position and counts, after the one this runner read."""
        values: dict[str, Any] = {
            "backfill": self.name,
            "backfill_id": self.id,
            "total_segments": self.segments,
            "last_key": json.dumps(last_key) if last_key else None,
            "done": done,
            "saved_at": Decimal(str(round(self.clock(), 3))),
            # Stale checkpoints delete themselves through the table's TTL.
            SCHEMA.ttl: int(self.clock()) + _CHECKPOINT_DAYS * 86400,
            **counts,
        }
        names = {"#seq": "seq", "#attempt": "attempt"}
        attribute_values: dict[str, Any] = {
            ":seq": {"N": str(state.seq + 1)},
            ":prev": {"N": str(state.seq)},
            ":attempt": {"S": self.attempt},
        }
        sets = ["#seq = :seq", "#attempt = :attempt"]
        removes: list[str] = []
        for position, (name, value) in enumerate(values.items()):
            names[f"#c{position}"] = name
            if value is None:
                removes.append(f"#c{position}")
            else:
                attribute_values[f":c{position}"] = to_attribute(value)
                sets.append(f"#c{position} = :c{position}")
        expression = f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else "")
        item_key = key(checkpoint_id(self.name, state.number))
        stored = {**item_key, **to_item({**values, "seq": state.seq + 1, "attempt": self.attempt})}
        return _Write(
            {
                "TableName": self.table_name,
                "Key": item_key,
                "UpdateExpression": expression,
                # Another attempt's checkpoint is stale and overwritten; this attempt's
                # must be the one this runner last wrote or read.
                "ConditionExpression": (
                    "attribute_not_exists(#seq) OR #attempt <> :attempt OR #seq = :prev"
                ),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": attribute_values,
            },
            _write_units(item_size(stored)),
        )

    def _stored(
        self,
        state: _Segment,
        counts: Mapping[str, int],
        last_key: Mapping[str, Any] | None,
        done: bool,
    ) -> None:
        state.counts = dict(counts)
        state.last_key = dict(last_key) if last_key else None
        state.done = done
        state.dirty = False
        if not self.dry_run and self.fence is not None:
            state.seq += 1

    async def _checkpoint_landed(self, state: _Segment) -> bool:
        """Whether the checkpoint this runner was writing is stored (its answer was lost)."""
        await self.read_limit.wait()
        with aws_errors("read a backfill checkpoint", self.table_name):
            response = await self.client.get_item(
                TableName=self.table_name,
                Key=key(checkpoint_id(self.name, state.number)),
                ConsistentRead=True,
                ReturnConsumedCapacity="TOTAL",
            )
        self.read_limit.spend(_units(response) or 1.0)
        values = from_item(response.get("Item") or {})
        return values.get("attempt") == self.attempt and values.get("seq") == state.seq + 1

    def _checkpoint_error(self, state: _Segment, code: str) -> MigrationError:
        return MigrationError(
            f"backfill {self.id}: the checkpoint of scan segment {state.number} in table "
            f"{self.table_name!r} changed under this runner ({code}); nothing more was "
            "written. Fix: check `openai-agents-session migrate status` for another runner, "
            "then rerun `migrate up`.",
            table_name=self.table_name,
        )

    async def _save(
        self,
        state: _Segment,
        counts: Mapping[str, int],
        last_key: Mapping[str, Any] | None,
        done: bool,
    ) -> None:
        """Store a segment's checkpoint on its own (no item write comes with it)."""
        if self.dry_run or self.fence is None:
            self._stored(state, counts, last_key, done)
            return
        write = self._checkpoint_write(state, counts, last_key, done)
        await self.write_limit.wait()
        outcome = await self.fence.transact([{"Update": write.request}])
        if outcome is not None:
            self._spend(outcome.units, 2 * write.units + _FENCE_UNITS)
            # A resent copy of a transaction that committed fails on what it wrote.
            if not outcome.committed and not await self._checkpoint_landed(state):
                raise self._checkpoint_error(state, outcome.codes[0])
            self._stored(state, counts, last_key, done)
            return
        await self._put_checkpoint(state, write)
        self._stored(state, counts, last_key, done)

    async def _put_checkpoint(self, state: _Segment, write: _Write) -> None:
        """Without transactions: the checkpoint as a conditional UpdateItem."""
        assert self.fence is not None
        await self.fence.ensure_lease(self.margin)
        await self.write_limit.wait()
        with aws_errors("write a backfill checkpoint", self.table_name):
            try:
                response = await self.client.update_item(
                    **write.request, ReturnConsumedCapacity="TOTAL"
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                if await self._checkpoint_landed(state):
                    return  # our own write landed; a resent copy after a lost answer failed
                holder = await read_lock(self.client, self.table_name)
                if holder is None or holder.owner != self.fence.owner:
                    # Another runner resumed this attempt: the lease was lost.
                    self.fence.lost = True
                    raise self.fence.lost_error() from exc
                raise self._checkpoint_error(state, "ConditionalCheckFailed") from exc
        self._spend(_units(response), write.units)

    def _spend(self, reported: float | None, estimate: float) -> None:
        self.write_limit.spend(estimate if reported is None else reported)

    # -------------------------------------------------------------- items

    async def _decide(self, item: BackfillItem) -> Mapping[str, Any] | None:
        try:
            decided = self.fn(item)
            if inspect.isawaitable(decided):
                decided = await decided
        except Exception as exc:
            # The exception's text may quote the item: it stays chained, not in the message.
            raise self._function_error(
                item,
                f"the function raised {type(exc).__name__} on session {item.session_id!r} in "
                f"table {self.table_name!r}. That item was not changed; the items changed "
                f"before it carry {self.id!r} in schema_version, so a rerun skips them",
            ) from exc
        if decided is None:
            return None
        if not isinstance(decided, Mapping):
            raise self._function_error(
                item,
                f"the function returned a {type(decided).__name__} for session "
                f"{item.session_id!r} in table {self.table_name!r}; it must return a dict of "
                "attribute updates or None",
            )
        touched = _PROTECTED.intersection(decided)
        if touched:
            raise self._function_error(
                item,
                f"the function may not set {sorted(touched)} (session {item.session_id!r}, "
                f"table {self.table_name!r}): the library owns the key, the optimistic-locking "
                "attributes and schema_version",
            )
        return decided

    def _function_error(self, item: BackfillItem, what: str) -> MigrationFailedError:
        # A bug in the team's function is a failed migration (exit 9), like an upgrade
        # that raises: the executor records it as failed and adds the fix.
        return MigrationFailedError(
            f"backfill {self.id}: {what}",
            session_id=item.session_id,
            table_name=self.table_name,
            revision=_revision_of(self.id),
        )

    async def _process(self, state: _Segment, raw: Mapping[str, Any]) -> None:
        """Decide and apply one item; count it, in a committed checkpoint or in memory."""
        item_key = {SCHEMA.partition_key: raw[SCHEMA.partition_key]}
        item = BackfillItem(str(from_attribute(raw[SCHEMA.partition_key])), raw)
        conflicts = 0
        while True:
            if self.id in item.schema_version:
                outcome = "already"
                break
            updates = await self._decide(item)
            if not updates:
                outcome = "unchanged"
                break
            if self.dry_run:
                outcome = "changed"
                break
            counts = _counted(state.counts, "changed", conflicts)
            conflict = await self._change(state, item, updates, item_key, counts)
            if conflict is None:
                return
            conflicts += 1
            if conflict.current is None:
                outcome = "gone"
                break
            item = BackfillItem(item.session_id, conflict.current)
            if conflicts >= _MAX_CONFLICTS:
                raise MigrationError(
                    f"backfill {self.id}: session {item.session_id!r} in table "
                    f"{self.table_name!r} kept changing ({conflicts} conflicts). Fix: rerun "
                    "`migrate up` when the table is quieter.",
                    session_id=item.session_id,
                    table_name=self.table_name,
                )
        state.counts = _counted(state.counts, outcome, conflicts)
        state.last_key = item_key
        state.dirty = True

    async def _change(
        self,
        state: _Segment,
        item: BackfillItem,
        updates: Mapping[str, Any],
        item_key: dict[str, Any],
        counts: Mapping[str, int],
    ) -> _Conflict | None:
        """Write one change with its checkpoint; None once committed."""
        seen = item.version
        fresh = next_version(seen, self.clock())
        update = self._item_write(item, updates, seen, fresh)
        if self.fence is None:
            conflict = await self._update_item(item, update, fresh)
            if conflict is None:
                self._wrote(item)
                self._stored(state, counts, item_key, False)
            return conflict
        if self.fence.transactions:
            checkpoint = self._checkpoint_write(state, counts, item_key, False)
            await self.write_limit.wait()
            outcome = await self.fence.transact(
                [{"Update": update.request}, {"Update": checkpoint.request}]
            )
            if outcome is not None:
                estimate = 2 * (update.units + checkpoint.units) + _FENCE_UNITS
                self._spend(outcome.units, estimate)
                item_code, checkpoint_code = outcome.codes or ("None", "None")
                if outcome.committed or (
                    checkpoint_code == "ConditionalCheckFailed"
                    and await self._checkpoint_landed(state)
                ):
                    # The second case: this runner's own copy of the transaction committed,
                    # its answer was lost and the client resent it; nobody else writes
                    # this attempt's checkpoint while the lease holds.
                    self._wrote(item)
                    self._stored(state, counts, item_key, False)
                    return None
                if checkpoint_code != "None":
                    raise self._checkpoint_error(state, checkpoint_code)
                if item_code == "ConditionalCheckFailed":
                    return _Conflict(await self._current(item, outcome.items[0]))
                if item_code in _RETRIED:
                    await asyncio.sleep(random.uniform(0.01, 0.05))
                    return _Conflict(await self._current(item, None))
                raise MigrationError(
                    f"backfill {self.id}: DynamoDB refused the update of session "
                    f"{item.session_id!r} in table {self.table_name!r} ({item_code}). Fix: "
                    "check what the function sets (an item is at most 400 KB); rerun "
                    "`migrate up` to resume.",
                    session_id=item.session_id,
                    table_name=self.table_name,
                )
        # No transactions: the lease's expiry is checked, then the item, then the checkpoint.
        await self.fence.ensure_lease(self.margin)
        conflict = await self._update_item(item, update, fresh)
        if conflict is not None:
            return conflict
        self._wrote(item)
        await self._put_checkpoint(state, self._checkpoint_write(state, counts, item_key, False))
        self._stored(state, counts, item_key, False)
        return None

    def _wrote(self, item: BackfillItem) -> None:
        self.written += 1
        self.last_written = item.session_id

    async def _update_item(
        self, item: BackfillItem, update: _Write, fresh: Decimal
    ) -> _Conflict | None:
        """The item's change as a plain conditional UpdateItem; None once it landed."""
        await self.write_limit.wait()
        with aws_errors("backfill update", self.table_name):
            try:
                response = await self.client.update_item(
                    **update.request, ReturnConsumedCapacity="TOTAL"
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                current = await self._current(item, returned_item(exc))
                if current is not None and BackfillItem(item.session_id, current).version == fresh:
                    # Our own write landed; a resent copy after a lost response failed.
                    return None
                return _Conflict(current)
        self._spend(_units(response), update.units)
        return None

    async def _current(
        self, item: BackfillItem, returned: Mapping[str, Any] | None
    ) -> Mapping[str, Any] | None:
        """The item now: as the failed condition returned it, else read consistently."""
        if returned:
            return returned
        await self.read_limit.wait()
        with aws_errors("backfill re-read", self.table_name):
            again = await self.client.get_item(
                TableName=self.table_name,
                Key=key(item.session_id),
                ConsistentRead=True,
                ReturnConsumedCapacity="TOTAL",
            )
        self.read_limit.spend(_units(again) or 1.0)
        current: Mapping[str, Any] | None = again.get("Item")
        return current

    def _item_write(
        self,
        item: BackfillItem,
        updates: Mapping[str, Any],
        seen: Decimal | None,
        fresh: Decimal,
    ) -> _Write:
        names: dict[str, str] = {"#v": SCHEMA.version, "#sv": SCHEMA.schema_version}
        values: dict[str, Any] = {":id": {"S": self.id}}
        after = dict(item.raw)
        sets: list[str] = []
        removes: list[str] = []
        for position, (name, value) in enumerate(updates.items()):
            names[f"#a{position}"] = name
            if value is None:
                removes.append(f"#a{position}")
                after.pop(name, None)
            else:
                try:
                    values[f":a{position}"] = after[name] = to_attribute(value)
                except TypeError as exc:
                    raise MigrationError(
                        f"backfill {self.id}: attribute {name!r} of session "
                        f"{item.session_id!r} in table {self.table_name!r}: {exc}",
                        session_id=item.session_id,
                        table_name=self.table_name,
                    ) from exc
                sets.append(f"#a{position} = :a{position}")
        # Absent means no backfill yet; contains() on a missing attribute is false anyway,
        # but say so rather than rely on it.
        fresh_only = "(attribute_not_exists(#sv) OR NOT contains(#sv, :id))"
        withdrawn: frozenset[str] = frozenset()
        if seen is None:
            # Not a valid session (no version): change it only if it is still so.
            condition = f"attribute_exists(#k) AND attribute_not_exists(#v) AND {fresh_only}"
            names["#k"] = SCHEMA.partition_key
        else:
            condition = f"#v = :seen AND {fresh_only}"
            values[":seen"] = {"N": str(seen)}
            values[":fresh"] = {"N": str(fresh)}
            sets.append("#v = :fresh")
            after[SCHEMA.version] = values[":fresh"]
            # The version condition pins the whole item, so its set can be rewritten.
            withdrawn = frozenset(a for a in item.schema_version if _withdrawn_by(self.id, a))
        applied = sorted((item.schema_version - withdrawn) | {self.id})
        after[SCHEMA.schema_version] = {"SS": applied}
        adds = ""
        if withdrawn:
            values[":applied"] = {"SS": applied}
            sets.append("#sv = :applied")
        else:
            values[":ids"] = {"SS": [self.id]}
            adds = "ADD #sv :ids"
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
                adds,
            )
            if part
        )
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key(item.session_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        return _Write(request, _write_units(max(item_size(item.raw), item_size(after))))

    # -------------------------------------------------------------- segments

    def _report(self, done: bool = False) -> None:
        totals = dict.fromkeys(_COUNTS, 0)
        for state in self.states:
            for name, value in state.counts.items():
                totals[name] += value
        self.reporter.progress(
            self.name,
            completed=totals["scanned"] + totals["skipped"],
            total=self.total_estimate,
            counts=totals,
            done=done,
        )

    async def run_segment(self, state: _Segment) -> None:
        try:
            while not state.done:
                if self.fence is not None and self.fence.lost:
                    raise self.fence.lost_error()
                request: dict[str, Any] = {
                    "TableName": self.table_name,
                    "Segment": state.number,
                    "TotalSegments": self.segments,
                    "Limit": self.page_size,
                    "ReturnConsumedCapacity": "TOTAL",
                }
                if state.last_key:
                    request["ExclusiveStartKey"] = state.last_key
                await self.read_limit.wait()
                with aws_errors("backfill scan", self.table_name):
                    page = await self.client.scan(**request)
                self.read_limit.spend(_units(page) or 0.0)
                for raw in page.get("Items", []):
                    item_id = raw.get(SCHEMA.partition_key, {}).get("S")
                    if item_id is None or is_reserved(item_id):
                        state.counts = _counted(state.counts, "skipped", 0)
                        state.last_key = {SCHEMA.partition_key: raw[SCHEMA.partition_key]}
                        state.dirty = True
                    else:
                        _, interrupted = await _finish(self._process(state, raw))
                        if interrupted:
                            raise asyncio.CancelledError
                    self._report()
                end = page.get("LastEvaluatedKey")
                if state.dirty or end is None:
                    await self._save(state, state.counts, end, end is None)
                else:
                    # The page ended on a committed change, whose checkpoint holds this spot.
                    state.last_key = end
        except asyncio.CancelledError:
            if state.dirty and not state.done:
                # Record the items decided since the last change, so they are not re-decided.
                try:
                    await _finish(self._save(state, state.counts, state.last_key, False))
                except Exception:  # the next run re-decides them: exact either way
                    logger.warning("backfill %s: could not checkpoint on stop", self.id)
            raise

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.run_segment(s)) for s in self.states if not s.done]
        if not tasks:
            return
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error


def _counted(counts: Mapping[str, int], outcome: str, conflicts: int) -> dict[str, int]:
    """`counts` with one more item of `outcome` (reserved items are not scanned)."""
    updated = dict(counts)
    updated[outcome] += 1
    if outcome != "skipped":
        updated["scanned"] += 1
    updated["conflicts"] += conflicts
    return updated


async def run_backfill(
    *,
    client: DynamoDBClient,
    table_name: str,
    fn: BackfillFunction,
    name: str,
    attempt: str,
    backfill_id: str | None = None,
    segments: int = 4,
    page_size: int = 100,
    dry_run: bool = False,
    fence: MigrationLock | None = None,
    reporter: Reporter,
    max_rcu: float | None = None,
    max_wcu: float | None = None,
    clock: Callable[[], float] = time.time,
) -> BackfillResult:
    """Run one backfill over the whole table (see the module docstring).

    Normally called through `MigrationContext.backfill`, which supplies the id,
    the fence, the attempt id and the run's capacity limits.

    Args:
        client: aiobotocore DynamoDB client.
        table_name: The session table.
        fn: Decides each item.
        name: Checkpoint name.
        attempt: Id of this application of the migration; checkpoints of other
            attempts are ignored.
        backfill_id: Recorded in each changed item's ``schema_version`` (`name`
            by default); items that carry it are skipped.
        segments: Parallel scan segments.
        page_size: Items per Scan page.
        dry_run: Count only; write nothing.
        fence: The run's lock; without one, item writes are not fenced and no
            checkpoint is written.
        reporter: Receives progress.
        max_rcu: Read capacity per second.
        max_wcu: Write capacity per second.
        clock: Unix time, for new ``updated_at`` versions.

    Raises:
        BackfillLeaseLostError: The lock was lost; the message says what this
            runner changed, and the checkpoints hold it.
        MigrationError: The function raised or returned something unusable, an
            item kept changing, or a checkpoint changed under this runner.
    """
    if not 1 <= segments <= 1000000:
        raise MigrationError(f"segments must be between 1 and 1000000, got {segments}")
    if page_size < 1:
        raise MigrationError(f"page_size must be positive, got {page_size}")
    if max_rcu is not None:
        # Small pages keep each Scan's cost near the per-second budget.
        page_size = max(1, min(page_size, int(max_rcu * 8)))
    started = time.monotonic()
    with aws_errors("describe the table", table_name):
        described = await client.describe_table(TableName=table_name)
    estimate = int(described["Table"].get("ItemCount") or 0) or None
    job = _Backfill(
        client=client,
        table_name=table_name,
        fn=fn,
        name=name,
        backfill_id=backfill_id or name,
        attempt=attempt,
        segments=segments,
        page_size=page_size,
        dry_run=dry_run,
        fence=fence,
        reporter=reporter,
        read_limit=CapacityLimiter(max_rcu),
        write_limit=CapacityLimiter(max_wcu),
        clock=clock,
        total_estimate=estimate,
    )
    await job.load_checkpoints()
    try:
        await job.run()
    except LeaseLostError as exc:
        job._report()
        error = lease_lost_error(table_name, {job.id: job.written}, {job.id: job.last_written})
        reporter.warning(f"backfill {job.id}: {error}")
        raise error from exc
    job._report(done=True)
    result = BackfillResult(
        name=name,
        segments=job.segments,
        id=job.id,
        resumed=sum(1 for s in job.states if s.resumed),
        written=job.written,
        last_written=job.last_written,
        read_units=job.read_limit.spent,
        write_units=job.write_limit.spent,
        duration=time.monotonic() - started,
        dry_run=dry_run,
    )
    for state in job.states:
        for count, value in state.counts.items():
            setattr(result, count, getattr(result, count) + value)
    return result
