"""What each migration verb returns: plain dataclasses, JSON through `dataclasses.asdict`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import DirtyLedgerError, DriftError
from .ledger import LedgerEvent
from .lock import LockInfo
from .planning import PlanStep

__all__ = [
    "CheckReport",
    "DownResult",
    "HistoryReport",
    "Plan",
    "StampResult",
    "StatusEntry",
    "StatusReport",
    "UpResult",
    "dirty_error",
]


class _Report:
    """JSON form of a report: its fields, through `dataclasses.asdict`."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return asdict(self)  # type: ignore[call-overload,no-any-return]


@dataclass
class UpResult(_Report):
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
        repaired: Indexes ``repair=True`` created again (or would, in a dry run).
        reconciled: Counts of the derived backfills ``reconcile=True`` ran again,
            by revision.
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
    repaired: list[str] = field(default_factory=list)
    reconciled: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        """Whether the run applied, adopted or repaired anything."""
        return bool(self.adopted or self.applied or self.created_table or self.repaired)


@dataclass
class Plan(_Report):
    """What `up` would do, found without writing anything.

    Attributes:
        table: The table.
        table_exists: Whether it exists.
        target: The revision `up` would go to.
        head: The last applied revision now.
        steps: The steps, in order.
        problems: Why the ledger is dirty (`up` would refuse), if it is.
        drift: Why the live table differs from the ledger or the schema (`up`
            would refuse), if it does.
    """

    table: str
    table_exists: bool
    target: str
    head: str | None
    steps: list[PlanStep]
    problems: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StatusEntry:
    """One migration's state.

    Attributes:
        revision: The migration.
        description: What it does.
        state: ``applied``, ``adopted``, ``pending``, ``running`` (a live
            runner holds the lock), ``interrupted`` (resumed by the next
            ``up``), ``failed``, ``reverting`` (a rollback did not finish) or
            ``modified`` (edited after it was applied).
        chain: ``builtin`` or ``team``.
        applied_at: When its latest event ended, if it did.
        applied_by: Who ran it.
    """

    revision: str
    description: str
    state: str
    chain: str = "builtin"
    applied_at: str | None = None
    applied_by: str | None = None


@dataclass
class StatusReport(_Report):
    """The table's migration state.

    Attributes:
        table: The table.
        table_exists: Whether it exists.
        head: The last applied revision.
        target: The last migration on disk.
        migrations: Every migration on disk, in order of application.
        pending: Revisions not applied yet.
        problems: Why the ledger is dirty, if it is.
        dirty: Whether there are problems.
        lock: The lock item, if there is one.
        lock_live: Whether its lease is still valid.
        lease_expires_at: When the lease ends (ISO 8601 UTC), if held.
        adoptable: The table exists without a ledger (`up` or `stamp` adopts it).
        billing_mode: The billing mode the ledger recorded.
    """

    table: str
    table_exists: bool
    head: str | None
    target: str
    migrations: list[StatusEntry]
    pending: list[str]
    problems: list[str]
    dirty: bool = False
    lock: LockInfo | None = None
    lock_live: bool = False
    lease_expires_at: str | None = None
    adoptable: bool = False
    billing_mode: str | None = None

    @property
    def entries(self) -> list[StatusEntry]:
        """The migrations' states (alias of `migrations`)."""
        return self.migrations


@dataclass
class HistoryReport(_Report):
    """The ledger's every event, oldest first.

    Attributes:
        table: The table.
        events: Every event.
        problems: Inconsistencies found in the ledger, with their fixes.
    """

    table: str
    events: list[LedgerEvent]
    problems: list[str] = field(default_factory=list)


@dataclass
class CheckReport(_Report):
    """Drift between the schema, the migrations and (optionally) the live table.

    Attributes:
        table: The table.
        offline: The declared schema against the migrations' snapshots, and
            migration files edited after a successor was written.
        live: The live table against the schema and the ledger (empty when not checked).
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
            raise dirty_error(self.table, self.dirty)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, with ``ok``."""
        return {**super().to_dict(), "ok": self.ok}


@dataclass
class StampResult(_Report):
    """What `stamp` recorded (or, with ``dry_run``, would record).

    Attributes:
        table: The table.
        target: The revision the ledger ends at.
        dry_run: Nothing was written.
        stamped: Revisions recorded as applied without running.
        kept: Revisions whose records were already correct.
        unstamped: Revisions recorded as not applied (``--force``).
        unverified: Stamped revisions that have no ``verify`` to check them.
        repaired: Ledger problems accepted (``--force`` on a tampered ledger).
        not_run: Stamped revisions whose indexes the table lacks (``--force``);
            ``status`` shows them as "stamped, not run" until the table has them.
    """

    table: str
    target: str
    dry_run: bool = False
    stamped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    unstamped: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)


@dataclass
class DownResult(_Report):
    """What `down` reverted (or, with ``dry_run``, would revert).

    Attributes:
        table: The table.
        target: The revision the chain is back at (None: before its first).
        dry_run: Nothing was written.
        reverted: Revisions reverted, newest first.
        backfills: Backfill counts of each downgrade, by revision.
        duration: Seconds.
    """

    table: str
    target: str | None
    dry_run: bool = False
    reverted: list[str] = field(default_factory=list)
    backfills: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    duration: float = 0.0


def dirty_error(table_name: str, problems: Sequence[str]) -> DirtyLedgerError:
    """The error a dirty ledger raises: every problem, each with its fix."""
    return DirtyLedgerError(
        f"the migration ledger of {table_name!r} is dirty: " + " | ".join(problems),
        table_name=table_name,
        problems=problems,
    )
