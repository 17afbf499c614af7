"""Backfills: change items of a live table without ever overwriting an application write.

The table is scanned in parallel segments; the library's reserved items are
skipped. For each session item the migration's function decides the attribute
updates; each change is one UpdateItem conditional on the ``updated_at`` the
scan saw, which also gives the item a fresh ``updated_at``, so a session object
holding the old state conflicts, re-reads and carries the new attribute over.
When the condition fails the item is re-read (consistently) and the function
decides again. Each segment checkpoints its position and counts in a reserved
item, fenced by the lock like the ledger, so a run that is stopped resumes
where it stopped. Consumed capacity is metered against ``max_rcu``/``max_wcu``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from ..models.codec import decode_record, next_version
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
from .errors import MigrationError
from .keys import checkpoint_id, is_reserved, key
from .progress import Reporter

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from .lock import MigrationLock

__all__ = [
    "BackfillFunction",
    "BackfillItem",
    "BackfillResult",
    "CapacityLimiter",
    "run_backfill",
]

logger = logging.getLogger("openai_agents_session.migrations")

_T = TypeVar("_T")
_MAX_CONFLICTS = 25
_CHECKPOINT_DAYS = 30
_PROTECTED = frozenset({SCHEMA.partition_key, SCHEMA.version, SCHEMA.write_log})
_COUNTS = ("scanned", "changed", "unchanged", "conflicts", "gone", "skipped")


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

    Attributes:
        name: The backfill's checkpoint name.
        segments: Parallel scan segments.
        scanned: Session items examined (reserved items excluded).
        changed: Items updated (would be updated, in a dry run).
        unchanged: Items the function left alone.
        conflicts: Conditional updates that lost to a concurrent write and were
            decided again on the re-read item.
        gone: Items deleted between the scan and the update.
        skipped: The library's reserved items passed over.
        resumed: Segments that continued from a checkpoint.
        read_units: Read capacity consumed by the scan.
        write_units: Write capacity consumed by updates and checkpoints.
        duration: Seconds.
        dry_run: Nothing was written.
    """

    name: str
    segments: int
    scanned: int = 0
    changed: int = 0
    unchanged: int = 0
    conflicts: int = 0
    gone: int = 0
    skipped: int = 0
    resumed: int = 0
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
            "segments": self.segments,
            **self.counts(),
            "resumed": self.resumed,
            "read_units": round(self.read_units, 3),
            "write_units": round(self.write_units, 3),
            "duration": round(self.duration, 3),
            "dry_run": self.dry_run,
        }


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


def _units(response: Mapping[str, Any]) -> float:
    capacity = response.get("ConsumedCapacity") or {}
    return float(capacity.get("CapacityUnits") or 0.0)


@dataclass
class _Segment:
    number: int
    last_key: dict[str, Any] | None = None
    done: bool = False
    resumed: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))


class _Backfill:
    def __init__(
        self,
        *,
        client: DynamoDBClient,
        table_name: str,
        fn: BackfillFunction,
        name: str,
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
            counts={c: int(values.get(c, 0)) for c in _COUNTS},
        )
        return state, int(values.get("total_segments", self.segments))

    async def _checkpoint(self, state: _Segment) -> None:
        if self.dry_run or self.fence is None:
            return
        values: dict[str, Any] = {
            "attempt": self.attempt,
            "backfill": self.name,
            "total_segments": self.segments,
            "last_key": json.dumps(state.last_key) if state.last_key else None,
            "done": state.done,
            "saved_at": Decimal(str(round(self.clock(), 3))),
            # Stale checkpoints delete themselves through the table's TTL.
            SCHEMA.ttl: int(self.clock()) + _CHECKPOINT_DAYS * 86400,
            **state.counts,
        }
        item = {**key(checkpoint_id(self.name, state.number)), **to_item(values)}
        await self.write_limit.wait()
        units = await self.fence.write([{"Put": {"TableName": self.table_name, "Item": item}}])
        self.write_limit.spend(units)

    # -------------------------------------------------------------- items

    async def _decide(self, item: BackfillItem) -> Mapping[str, Any] | None:
        decided = self.fn(item)
        if inspect.isawaitable(decided):
            decided = await decided
        if decided is None:
            return None
        if not isinstance(decided, Mapping):
            raise MigrationError(
                f"backfill {self.name}: the function returned {decided!r:.60} for "
                f"{item.session_id!r}; it must return a dict of attribute updates or None."
            )
        touched = _PROTECTED.intersection(decided)
        if touched:
            raise MigrationError(
                f"backfill {self.name}: the function may not set {sorted(touched)}: the "
                "library owns the key and the optimistic-locking attributes."
            )
        return decided

    async def _process(self, raw: Mapping[str, Any]) -> tuple[str, int]:
        """Decide and apply one item: (outcome, conflicts)."""
        item = BackfillItem(str(from_attribute(raw[SCHEMA.partition_key])), raw)
        conflicts = 0
        while True:
            updates = await self._decide(item)
            if not updates:
                return "unchanged", conflicts
            if self.dry_run:
                return "changed", conflicts
            seen = item.version
            fresh = next_version(seen, self.clock())
            request = self._update_request(item, updates, seen, fresh)
            await self.write_limit.wait()
            with aws_errors("backfill update", self.table_name):
                try:
                    response = await self.client.update_item(**request)
                    self.write_limit.spend(_units(response))
                    return "changed", conflicts
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise
                    current: Mapping[str, Any] | None = returned_item(exc)
            conflicts += 1
            if not current:
                # The endpoint did not hand the item back (dynalite): read it.
                await self.read_limit.wait()
                with aws_errors("backfill re-read", self.table_name):
                    again = await self.client.get_item(
                        TableName=self.table_name,
                        Key=key(item.session_id),
                        ConsistentRead=True,
                        ReturnConsumedCapacity="TOTAL",
                    )
                self.read_limit.spend(_units(again))
                current = again.get("Item")
            if not current:
                return "gone", conflicts
            item = BackfillItem(item.session_id, current)
            if item.version == fresh:
                # Our own write landed; a resent copy after a lost response failed.
                return "changed", conflicts
            if conflicts >= _MAX_CONFLICTS:
                raise MigrationError(
                    f"backfill {self.name}: item {item.session_id!r} kept changing "
                    f"({conflicts} conflicts). Fix: rerun `migrate up` when the table is quieter."
                )

    def _update_request(
        self,
        item: BackfillItem,
        updates: Mapping[str, Any],
        seen: Decimal | None,
        fresh: Decimal,
    ) -> dict[str, Any]:
        names: dict[str, str] = {"#v": SCHEMA.version}
        values: dict[str, Any] = {}
        sets: list[str] = []
        removes: list[str] = []
        for position, (name, value) in enumerate(updates.items()):
            names[f"#a{position}"] = name
            if value is None:
                removes.append(f"#a{position}")
            else:
                try:
                    values[f":a{position}"] = to_attribute(value)
                except TypeError as exc:
                    raise MigrationError(
                        f"backfill {self.name}: attribute {name!r} of {item.session_id!r}: {exc}"
                    ) from exc
                sets.append(f"#a{position} = :a{position}")
        if seen is None:
            # Not a valid session (no version): change it only if it is still so.
            condition = "attribute_exists(#k) AND attribute_not_exists(#v)"
            names["#k"] = SCHEMA.partition_key
        else:
            condition = "#v = :seen"
            values[":seen"] = {"N": str(seen)}
            values[":fresh"] = {"N": str(fresh)}
            sets.append("#v = :fresh")
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(sets)}" if sets else "",
                f"REMOVE {', '.join(removes)}" if removes else "",
            )
            if part
        )
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key(item.session_id),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "ReturnConsumedCapacity": "TOTAL",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        return request

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
                self.read_limit.spend(_units(page))
                for raw in page.get("Items", []):
                    item_id = raw.get(SCHEMA.partition_key, {}).get("S")
                    if item_id is None or is_reserved(item_id):
                        state.counts["skipped"] += 1
                    else:
                        (outcome, conflicts), interrupted = await _finish(self._process(raw))
                        state.counts["scanned"] += 1
                        state.counts[outcome] += 1
                        state.counts["conflicts"] += conflicts
                        if interrupted:
                            state.last_key = {SCHEMA.partition_key: raw[SCHEMA.partition_key]}
                            raise asyncio.CancelledError
                    state.last_key = {SCHEMA.partition_key: raw[SCHEMA.partition_key]}
                    self._report()
                state.last_key = page.get("LastEvaluatedKey")
                state.done = state.last_key is None
                await self._checkpoint(state)
        except asyncio.CancelledError:
            # Record exactly how far this segment got before stopping.
            await _finish(self._checkpoint(state))
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


async def run_backfill(
    *,
    client: DynamoDBClient,
    table_name: str,
    fn: BackfillFunction,
    name: str,
    attempt: str,
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

    Normally called through `MigrationContext.backfill`, which supplies the
    fence, the attempt id and the run's capacity limits.

    Raises:
        LeaseLostError: The lock was lost; the last checkpoint stands.
        MigrationError: The function returned something unusable, or an item
            kept changing.
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
    await job.run()
    job._report(done=True)
    result = BackfillResult(
        name=name,
        segments=job.segments,
        resumed=sum(1 for s in job.states if s.resumed),
        read_units=job.read_limit.spent,
        write_units=job.write_limit.spent,
        duration=time.monotonic() - started,
        dry_run=dry_run,
    )
    for state in job.states:
        for count, value in state.counts.items():
            setattr(result, count, getattr(result, count) + value)
    return result
