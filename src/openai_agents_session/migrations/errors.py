"""The migration errors: one family under `MigrationError`, each with its exit code.

::

    SessionStoreError
    └── MigrationError                 base of everything the migration runner raises
        ├── RevisionGraphError         bad migration files: gap, two heads, cycle, duplicate id
        │   └── UnknownRevisionError   ``--to`` names a revision that does not exist
        ├── LockBusyError              another runner held the lock past ``--lock-timeout``
        ├── LeaseLostError             this runner's lease expired or was taken over
        ├── DirtyLedgerError           an applied migration changed, failed, or went missing
        ├── DriftError                 the live table (or the schema) differs from the migrations
        ├── StampRefusedError          ``stamp`` would unrecord migrations; needs ``--force``
        ├── IrreversibleMigrationError ``down`` through a migration without ``downgrade``
        ├── MigrationFailedError       a migration's ``upgrade``/``downgrade`` raised
        └── MigrationInterruptedError  the run was cancelled (Ctrl-C, SIGTERM); resumable

The CLI maps each to its documented exit code (see `EXIT_CODES` in
``cli/_common.py`` and docs/migrations.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import SessionStoreError

__all__ = [
    "DirtyLedgerError",
    "DriftError",
    "IrreversibleMigrationError",
    "LeaseLostError",
    "LockBusyError",
    "MigrationError",
    "MigrationFailedError",
    "MigrationInterruptedError",
    "RevisionGraphError",
    "StampRefusedError",
    "UnknownRevisionError",
]


class MigrationError(SessionStoreError):
    """Base class of the errors raised by the migration runner."""


class RevisionGraphError(MigrationError):
    """The migration files do not form one chain: a gap, two heads, a cycle or a duplicate."""


class UnknownRevisionError(RevisionGraphError):
    """A revision id given by the caller (``--to``) is not in the chain."""


class LockBusyError(MigrationError):
    """Another runner held the migration lock for longer than the lock timeout.

    Attributes:
        holder: Who holds the lock (``user@host pid N``), if known.
        expires_at: When the holder's lease expires (Unix seconds), if known.
    """

    def __init__(
        self,
        message: str,
        *,
        table_name: str | None = None,
        holder: str | None = None,
        expires_at: float | None = None,
    ) -> None:
        super().__init__(message, table_name=table_name)
        self.holder = holder
        self.expires_at = expires_at


class LeaseLostError(MigrationError):
    """This runner's lease expired or another runner took it over; it wrote nothing more."""


class DirtyLedgerError(MigrationError):
    """The ledger disagrees with the migration files; nothing runs until it is repaired.

    Attributes:
        problems: One line per problem, each with its fix.
    """

    def __init__(
        self, message: str, *, table_name: str | None = None, problems: Sequence[str] = ()
    ) -> None:
        super().__init__(message, table_name=table_name)
        self.problems = list(problems)


class DriftError(MigrationError):
    """The live table or the declared schema differs from what the migrations produce.

    Attributes:
        differences: One line per difference, saying what was expected and found.
    """

    def __init__(
        self, message: str, *, table_name: str | None = None, differences: Sequence[str] = ()
    ) -> None:
        super().__init__(message, table_name=table_name)
        self.differences = list(differences)


class StampRefusedError(MigrationError):
    """``stamp`` would unrecord applied migrations (or records without a file); needs ``force``."""


class IrreversibleMigrationError(MigrationError):
    """``down`` would pass a migration that has no ``downgrade``; nothing was reverted."""


class MigrationFailedError(MigrationError):
    """A migration's ``upgrade`` or ``downgrade`` raised; the ledger records it as failed.

    Attributes:
        revision: The migration that failed.
    """

    def __init__(
        self,
        message: str,
        *,
        table_name: str | None = None,
        revision: str,
        session_id: str | None = None,
    ) -> None:
        super().__init__(message, table_name=table_name, session_id=session_id)
        self.revision = revision


class MigrationInterruptedError(MigrationError):
    """The run was cancelled; ``migrate up`` resumes where it stopped."""
