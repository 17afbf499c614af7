"""Fork lineage: a session's forks, listed through the by-parent index.

Every head written by `SessionStore.fork` records its parent session id and its
fork point (``fork_index``, ``fork_turn``). `list_forks` pages through one
session's forks, oldest first, with Query calls on `BY_PARENT_INDEX` (never a
Scan): each summary comes from the index's projection alone, so listing reads
no conversation. This is what an application's branch picker needs.

The index is sparse: only forks carry a ``parent_id``. A cleared fork's
tombstone carries none, so it leaves the list. Expired forks stay in the index
until DynamoDB's TTL removes them, so `list_forks` drops them itself while it
fills a page, which keeps ``limit`` and the cursor exact.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .catalog import _number, _text, fill_page
from .errors import InvalidArgumentError
from .models.attrs import number_text
from .models.schema import BY_PARENT_INDEX, RESERVED_PREFIX, SCHEMA
from .store import check_key_prefix, validate_session_id, validate_table_name, within_prefix

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["ForkPage", "ForkSummary", "list_forks"]

_MAX_LIMIT = 1000
# Cursor fields bounded before decoding: a cursor is an opaque string the
# caller hands back, so a hostile one must cost nothing to refuse.
_MAX_CURSOR = 8192


@dataclass(frozen=True)
class ForkSummary:
    """One fork as the lineage index shows it.

    Attributes:
        session_id: The fork.
        parent_id: The session it was forked from.
        owner: Its owner, or None.
        title: Its title, or None.
        fork_index: How many of the parent's items it copied.
        fork_turn: The user turn it branches at (one more than the user
            messages it copied).
        created_at: Unix time of the fork.
        updated_at: Unix time of its last write.
        item_count: Items in its whole history, pages included.
        size: Uncompressed JSON bytes of its whole history, pages included.
    """

    session_id: str
    parent_id: str
    owner: str | None
    title: str | None
    fork_index: int
    fork_turn: int
    created_at: float
    updated_at: float
    item_count: int
    size: int


@dataclass(frozen=True)
class ForkPage:
    """One page of `list_forks`.

    Attributes:
        forks: Summaries, oldest fork first.
        cursor: Pass it back as ``cursor=`` for the next page; None when this is
            the last one. Opaque: its content may change between releases.
    """

    forks: list[ForkSummary]
    cursor: str | None


def _int(raw: Mapping[str, Any], name: str) -> int:
    # Stored numbers are data, not trust: anything but a count reads as 0.
    number = _number(raw, name)
    return int(number) if number is not None and 0 <= number < 2**63 else 0


def _summary(raw: Mapping[str, Any]) -> ForkSummary:
    return ForkSummary(
        session_id=_text(raw, SCHEMA.partition_key) or "",
        parent_id=_text(raw, SCHEMA.parent_id) or "",
        owner=_text(raw, SCHEMA.owner),
        title=_text(raw, SCHEMA.title),
        fork_index=_int(raw, SCHEMA.fork_index),
        fork_turn=_int(raw, SCHEMA.fork_turn),
        created_at=float(_number(raw, SCHEMA.created_at) or 0),
        updated_at=float(_number(raw, SCHEMA.version) or 0),
        item_count=_int(raw, SCHEMA.item_count),
        size=_int(raw, SCHEMA.history_size),
    )


def _encode_cursor(raw: Mapping[str, Any]) -> str:
    key = {
        "s": _text(raw, SCHEMA.partition_key),
        "p": _text(raw, SCHEMA.parent_id),
        "c": str(_number(raw, SCHEMA.created_at)),
    }
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode_cursor(
    cursor: object, parent_id: str, table_name: str, key_prefix: str | None
) -> dict[str, Any]:
    """The index key a cursor resumes after; only one `list_forks` gave for this parent.

    The fork it names must be one this call could have listed: not a reserved
    key, and inside `key_prefix`.
    """
    session_id, created = "", Decimal(0)
    if isinstance(cursor, str) and len(cursor) <= _MAX_CURSOR:
        try:
            key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            if isinstance(key, dict) and key.get("p") == parent_id:
                session_id, created = str(key["s"]), Decimal(str(key["c"]))
        except (ValueError, KeyError, TypeError, binascii.Error, ArithmeticError):
            session_id = ""
    outside = session_id.startswith(RESERVED_PREFIX) or (
        key_prefix is not None and not session_id.startswith(key_prefix)
    )
    if not session_id or outside or not created.is_finite():
        # Never echo the cursor: it is the caller's data, as list_sessions treats it.
        shown = f"a {type(cursor).__name__}" + (
            f" of {len(cursor)} characters" if isinstance(cursor, str) else ""
        )
        raise InvalidArgumentError(
            f"cursor ({shown}) is not one list_forks returned for session {parent_id!r} "
            f"(table {table_name!r}). Fix: pass the cursor of the previous page unchanged, "
            "for the same session, or None for the first page.",
            session_id=parent_id,
            table_name=table_name,
        )
    return {
        SCHEMA.partition_key: {"S": session_id},
        SCHEMA.parent_id: {"S": parent_id},
        SCHEMA.created_at: {"N": number_text(created)},
    }


def _listed(raw: Mapping[str, Any], key_prefix: str | None, owner: str | None, now: float) -> bool:
    session_id = _text(raw, SCHEMA.partition_key) or ""
    ttl = _number(raw, SCHEMA.ttl)
    if not session_id or session_id.startswith(RESERVED_PREFIX):
        return False
    if ttl is not None and ttl <= Decimal(str(now)):
        return False
    if key_prefix is not None and not session_id.startswith(key_prefix):
        return False
    return owner is None or _text(raw, SCHEMA.owner) == owner


async def list_forks(
    client: DynamoDBClient,
    table_name: str,
    session_id: str,
    *,
    owner: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    key_prefix: str | None = None,
    clock: Callable[[], float] = time.time,
) -> ForkPage:
    """One page of a session's forks, oldest first, by Query on the by-parent index.

    Never scans the table. Forks of forks are listed under their own parent:
    list a fork's forks by its id. Expired forks are skipped while the page is
    filled, so a page holds `limit` forks unless it is the last. The index is
    eventually consistent on DynamoDB: a fork made a moment ago may not show
    for about a second.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table (migrated to ``0006_fork_lineage``).
        session_id: The parent session.
        owner: List only forks of this owner (what a user's branch picker
            shows); None lists every fork.
        limit: Forks per page (1 to 1000).
        cursor: The previous page's `ForkPage.cursor`; None for the first page.
        key_prefix: A tenant's prefix: `session_id` (and `owner`) must start
            with it, and forks whose id does not are left out.
        clock: Unix time that decides expiry.

    Returns:
        The page and the cursor of the next one.

    Raises:
        InvalidArgumentError: A bad owner, limit or cursor.
        InvalidSessionIdError: `session_id` is not a valid id, or it or `owner`
            is outside `key_prefix`. Nothing was sent.
        TableNotFoundError: The table (or its index: run ``migrate up``) is missing.
    """
    validate_table_name(table_name)
    key_prefix = check_key_prefix(key_prefix, table_name=table_name)
    validate_session_id(session_id, table_name=table_name)
    within_prefix(session_id, key_prefix, table_name=table_name)
    if owner is not None:
        if not isinstance(owner, str) or not owner:
            raise InvalidArgumentError(
                f"owner must be a non-empty string or None, got {type(owner).__name__} "
                f"(session {session_id!r}, table {table_name!r}). Fix: pass the user the "
                "forks belong to, or None for every fork.",
                session_id=session_id,
                table_name=table_name,
            )
        within_prefix(owner, key_prefix, table_name=table_name, what="owner", of=session_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= _MAX_LIMIT:
        raise InvalidArgumentError(
            f"limit must be an int from 1 to {_MAX_LIMIT}, got {limit!r} (session "
            f"{session_id!r}, table {table_name!r}). Fix: page with the cursor instead.",
            session_id=session_id,
            table_name=table_name,
        )
    start = None if cursor is None else _decode_cursor(cursor, session_id, table_name, key_prefix)
    now = clock()
    request: dict[str, Any] = {
        "TableName": table_name,
        "IndexName": BY_PARENT_INDEX.name,
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": SCHEMA.parent_id},
        "ExpressionAttributeValues": {":p": {"S": session_id}},
        "ScanIndexForward": True,
    }

    def pick(raw: Mapping[str, Any]) -> ForkSummary | None:
        return _summary(raw) if _listed(raw, key_prefix, owner, now) else None

    found, last = await fill_page(client, "list_forks", request, limit, start, pick)
    next_cursor = None if last is None else _encode_cursor(last)
    return ForkPage(found, next_cursor)
