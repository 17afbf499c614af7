"""Checks of the ids a session is named by: session ids, table names, tenant prefixes.

They run before any call, in the constructor and wherever an id arrives (a fork's
target, a new owner, a cursor), so a bad id never reaches DynamoDB.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidArgumentError, InvalidSessionIdError
from .models.schema import MAX_KEY_BYTES, RESERVED_PREFIX

__all__ = [
    "check_key_prefix",
    "stored_text",
    "validate_session_id",
    "validate_table_name",
    "within_prefix",
]

_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


def validate_session_id(session_id: object, *, table_name: str | None = None) -> str:
    """Check a session id and return it.

    Raises:
        InvalidSessionIdError: Not a non-empty string, longer than 2048 UTF-8
            bytes, or starting with the reserved prefix.
    """
    if not isinstance(session_id, str) or not session_id:
        raise InvalidSessionIdError(
            f"session_id must be a non-empty string, got {session_id!r} (table "
            f"{table_name!r}). Fix: pass a stable id such as a user or thread id.",
            table_name=table_name,
        )
    try:
        size = len(session_id.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidSessionIdError(
            f"session_id {session_id!r} holds a lone surrogate, which is not valid "
            f"UTF-8 and cannot be stored (table {table_name!r}). Fix: decode the id "
            "from its source with errors='replace', or hash it.",
            table_name=table_name,
        ) from None
    if size > MAX_KEY_BYTES:
        raise InvalidSessionIdError(
            f"session_id {session_id[:40]!r}... is {size} UTF-8 bytes; DynamoDB keys "
            f"allow {MAX_KEY_BYTES} (table {table_name!r}). Fix: hash long ids.",
            session_id=session_id,
            table_name=table_name,
        )
    if session_id.startswith(RESERVED_PREFIX):
        raise InvalidSessionIdError(
            f"session_id {session_id!r} starts with {RESERVED_PREFIX!r}, which is "
            f"reserved for the migration ledger in table {table_name!r}. Fix: choose "
            "an id without that prefix.",
            session_id=session_id,
            table_name=table_name,
        )
    return session_id


def check_key_prefix(key_prefix: object, *, table_name: str | None = None) -> str | None:
    """Check a tenant key prefix (None, or a non-empty string outside the reserved prefix)."""
    if key_prefix is None:
        return None
    if (
        not isinstance(key_prefix, str)
        or not key_prefix
        or key_prefix.startswith(RESERVED_PREFIX)
        or RESERVED_PREFIX.startswith(key_prefix)
    ):
        raise InvalidArgumentError(
            f"key_prefix must be a non-empty string that does not overlap "
            f"{RESERVED_PREFIX!r}, got {key_prefix!r} (table {table_name!r}). Fix: use a "
            "tenant prefix such as 'tenant-a#'.",
            table_name=table_name,
        )
    return key_prefix


def within_prefix(
    value: str,
    key_prefix: str | None,
    *,
    table_name: str | None = None,
    what: str = "session_id",
    of: str | None = None,
) -> str:
    """Return `value` if it starts with `key_prefix` (or there is none).

    Raises:
        InvalidSessionIdError: `value` (a session id, or an owner) is outside the prefix.
    """
    if key_prefix is None or value.startswith(key_prefix):
        return value
    session_id = value if what == "session_id" else of
    raise InvalidSessionIdError(
        f"{what} {value!r} is outside this tenant's key_prefix {key_prefix!r} (table "
        f"{table_name!r}); nothing was sent. Fix: use ids and owners that start with "
        f"{key_prefix!r}, or the key_prefix of the tenant that owns them.",
        session_id=session_id,
        table_name=table_name,
    )


def validate_table_name(table_name: object) -> str:
    """Check a DynamoDB table name (3-255 of ``A-Z a-z 0-9 _ . -``) and return it."""
    if not isinstance(table_name, str) or not _TABLE_NAME.fullmatch(table_name):
        raise InvalidArgumentError(
            f"table_name {table_name!r} is not a valid DynamoDB table name. Fix: use "
            "3 to 255 characters from A-Z, a-z, 0-9, '_', '.' and '-'."
        )
    return table_name


def stored_text(value: Any) -> str | None:
    """The text of a raw ``{"S": ...}`` attribute value; None for anything else."""
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None
