"""The reserved keys of the library's own items in the session table.

The ledger's events and index, the lock and backfill checkpoints live in the same table as the
sessions (single-table design), under partition keys that start with
`RESERVED_PREFIX` (``__oas__#``). `DynamoDBSession` refuses such ids, and the
admin commands and backfills skip them, so no session can collide with them.
"""

from __future__ import annotations

from typing import Any

from ..models.schema import RESERVED_PREFIX, SCHEMA

__all__ = [
    "LEDGER_INDEX_ID",
    "LOCK_ID",
    "checkpoint_id",
    "is_reserved",
    "key",
    "ledger_event_id",
]

LOCK_ID = f"{RESERVED_PREFIX}lock"
"""The lease item that serialises migration runners."""

LEDGER_INDEX_ID = f"{RESERVED_PREFIX}ledger"
"""The ledger's index item: the last event's sequence number and hash."""


def ledger_event_id(seq: int) -> str:
    """Partition key of the ledger event at position `seq` (from 1)."""
    return f"{RESERVED_PREFIX}ledger#event#{seq:08d}"


def checkpoint_id(name: str, segment: int) -> str:
    """Partition key of the checkpoint of backfill `name`, scan segment `segment`."""
    return f"{RESERVED_PREFIX}checkpoint#{name}#{segment}"


def is_reserved(session_id: str | None) -> bool:
    """Whether a partition key belongs to the library rather than to a session."""
    return session_id is not None and session_id.startswith(RESERVED_PREFIX)


def key(item_id: str) -> dict[str, Any]:
    """The primary-key map of an item, keyed by the schema's partition key."""
    return {SCHEMA.partition_key: {"S": item_id}}
