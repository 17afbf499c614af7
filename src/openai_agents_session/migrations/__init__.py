"""Versioned migrations of the session table, driven by the schema and run from CI.

The library API behind ``openai-agents-session migrate``; each verb is one
coroutine here::

    from openai_agents_session.migrations import up
    result = await up(client, "agent_sessions", lock_timeout=300)

- `up`: create the table if needed, adopt an unledgered table that matches the
  schema, apply pending migrations under the lock (``dry_run`` counts only).
- `plan`, `status`, `history`: read-only views of what would run and what ran.
- `check`: the declared schema against the head migration (offline), and the
  live table against the schema (with a client).
- `stamp`: record migrations as applied without running them (adopt, repair);
  refuses to unrecord applied ones without ``force``.
- `down`: revert reversible team migrations, recorded ``reverting`` first.
- `unlock`: delete a dead runner's lock.

The ledger (an append-only, hash-chained list of events), the lock and backfill
checkpoints live in the session table under session ids starting with
``__oas__#``, which `DynamoDBSession` refuses.
"""

from .autogen import (
    defaults_backfill,
    derived_backfill,
    import_record,
    new_migration,
    removal_backfill,
    team_snapshot,
)
from .backfill import (
    BackfillFunction,
    BackfillItem,
    BackfillLeaseLostError,
    BackfillResult,
    CapacityLimiter,
)
from .context import MigrationContext
from .drift import schema_fingerprint, schema_snapshot
from .errors import (
    DirtyLedgerError,
    DriftError,
    IrreversibleMigrationError,
    LeaseLostError,
    LockBusyError,
    MigrationError,
    MigrationFailedError,
    MigrationInterruptedError,
    RevisionGraphError,
    StampRefusedError,
    UnknownRevisionError,
)
from .keys import LEDGER_INDEX_ID, LOCK_ID, checkpoint_id, is_reserved, ledger_event_id
from .ledger import Ledger, LedgerEvent, LedgerRecord, load_ledger, read_ledger
from .loader import BUILTIN_DIR, Migration, MigrationGraph, build_graph, load_migrations
from .lock import DEFAULT_LEASE_SECONDS, LockInfo, MigrationLock, read_lock
from .ops import (
    AddAttribute,
    AddIndex,
    ChangeDerive,
    ChangeType,
    Operation,
    RemoveAttribute,
    RemoveIndex,
    RenameAttribute,
)
from .progress import LogReporter, PlainReporter, Reporter, RichReporter
from .rebase import RebaseResult, rebase_migration
from .runner import (
    CheckReport,
    DownResult,
    HistoryReport,
    Plan,
    PlanStep,
    StampResult,
    StatusEntry,
    StatusReport,
    UpResult,
    check,
    down,
    history,
    plan,
    stamp,
    status,
    unlock,
    up,
)

__all__ = [
    "BUILTIN_DIR",
    "DEFAULT_LEASE_SECONDS",
    "LEDGER_INDEX_ID",
    "LOCK_ID",
    "AddAttribute",
    "AddIndex",
    "BackfillFunction",
    "BackfillItem",
    "BackfillLeaseLostError",
    "BackfillResult",
    "CapacityLimiter",
    "ChangeDerive",
    "ChangeType",
    "CheckReport",
    "DirtyLedgerError",
    "DownResult",
    "DriftError",
    "HistoryReport",
    "IrreversibleMigrationError",
    "LeaseLostError",
    "Ledger",
    "LedgerEvent",
    "LedgerRecord",
    "LockBusyError",
    "LockInfo",
    "LogReporter",
    "Migration",
    "MigrationContext",
    "MigrationError",
    "MigrationFailedError",
    "MigrationGraph",
    "MigrationInterruptedError",
    "MigrationLock",
    "Operation",
    "PlainReporter",
    "Plan",
    "PlanStep",
    "RebaseResult",
    "RemoveAttribute",
    "RemoveIndex",
    "RenameAttribute",
    "Reporter",
    "RevisionGraphError",
    "RichReporter",
    "StampRefusedError",
    "StampResult",
    "StatusEntry",
    "StatusReport",
    "UnknownRevisionError",
    "UpResult",
    "build_graph",
    "check",
    "checkpoint_id",
    "defaults_backfill",
    "derived_backfill",
    "down",
    "history",
    "import_record",
    "is_reserved",
    "ledger_event_id",
    "load_ledger",
    "load_migrations",
    "new_migration",
    "plan",
    "read_ledger",
    "read_lock",
    "rebase_migration",
    "removal_backfill",
    "schema_fingerprint",
    "schema_snapshot",
    "stamp",
    "status",
    "team_snapshot",
    "unlock",
    "up",
]
