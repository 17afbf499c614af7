"""The session catalog: an owner's sessions, listed and erased through the by-owner index.

`list_sessions` pages through one owner's sessions, newest write first, with
Query calls on `BY_OWNER_INDEX` (never a Scan): each summary comes from the
index's projection alone, so listing reads no conversation. `delete_sessions`
erases every session of an owner, pages included, by clearing each one on the
session's own conditional write path and then deleting the empty head.

The index is sparse: only heads that carry an ``owner`` are in it. History
pages, the migration ledger and a clear's tombstone carry none, so they are
never listed. Expired heads are still in the index until DynamoDB's TTL removes
them (typically within days), so `list_sessions` drops them itself while it
fills a page, which keeps ``limit`` and the cursor exact.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .boundary import mapped
from .errors import (
    ConcurrentModificationError,
    CorruptSessionError,
    InvalidArgumentError,
    ThrottledError,
)
from .models.attrs import number_text
from .models.codec import encode_key
from .models.pages import decode_index, part_keys
from .models.schema import BY_OWNER_INDEX, RESERVED_PREFIX, SCHEMA
from .store import check_key_prefix, validate_table_name, within_prefix

logger = logging.getLogger("openai_agents_session")

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["EraseReport", "SessionPage", "SessionSummary", "delete_sessions", "list_sessions"]

_MAX_LIMIT = 1000
_BATCH_WRITE = 25
_UNPROCESSED_TRIES = 8
# Passes of an erase before it gives up on an owner who keeps creating sessions.
_MAX_PASSES = 50


@dataclass(frozen=True)
class SessionSummary:
    """One session as the catalog shows it (read from the by-owner index alone).

    Attributes:
        session_id: The session.
        owner: Its owner.
        title: Its title, or None.
        created_at: Unix time of the write that created it (None: written before
            the catalog existed and not written since).
        updated_at: Unix time of its last write.
        item_count: Items in its whole history, pages included.
        size: Uncompressed JSON bytes of its whole history, pages included.
    """

    session_id: str
    owner: str
    title: str | None
    created_at: float | None
    updated_at: float
    item_count: int
    size: int


@dataclass(frozen=True)
class SessionPage:
    """One page of `list_sessions`.

    Attributes:
        sessions: Summaries, newest write first.
        cursor: Pass it back as ``cursor=`` for the next page; None when this is
            the last one. Opaque: its content may change between releases.
    """

    sessions: list[SessionSummary]
    cursor: str | None


@dataclass
class EraseReport:
    """What `delete_sessions` did.

    Attributes:
        owner: The owner erased.
        sessions: Sessions erased (head and pages deleted). A session
            the owner recreated during the erase and erased again counts again.
        passes: Index passes made; the last one found nothing left to erase.
        skipped: Ids outside `key_prefix` that the index listed under the owner
            (another tenant's sessions claiming this owner); left alone.
    """

    owner: str
    sessions: int = 0
    passes: int = 0
    skipped: list[str] = field(default_factory=list)


def _number(raw: Mapping[str, Any], name: str) -> Decimal | None:
    value = raw.get(name)
    if not isinstance(value, Mapping) or "N" not in value:
        return None
    return Decimal(str(value["N"]))


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


def _summary(raw: Mapping[str, Any]) -> SessionSummary:
    created = _number(raw, SCHEMA.created_at)
    return SessionSummary(
        session_id=_text(raw, SCHEMA.partition_key) or "",
        owner=_text(raw, SCHEMA.owner) or "",
        title=_text(raw, SCHEMA.title),
        created_at=None if created is None else float(created),
        updated_at=float(_number(raw, SCHEMA.version) or 0),
        item_count=int(_number(raw, SCHEMA.item_count) or 0),
        size=int(_number(raw, SCHEMA.history_size) or 0),
    )


def _encode_cursor(raw: Mapping[str, Any]) -> str:
    key = {
        "s": _text(raw, SCHEMA.partition_key),
        "o": _text(raw, SCHEMA.owner),
        "v": str(_number(raw, SCHEMA.version)),
    }
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, owner: str, table_name: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        session_id, version = str(key["s"]), Decimal(str(key["v"]))
        same_owner = key["o"] == owner
    except (ValueError, KeyError, TypeError, binascii.Error, ArithmeticError):
        same_owner, session_id, version = False, "", Decimal(0)
    if not same_owner or not session_id:
        raise InvalidArgumentError(
            f"cursor {cursor[:40]!r} is not one list_sessions returned for owner {owner!r} "
            f"(table {table_name!r}). Fix: pass the cursor of the previous page unchanged, "
            "with the same owner, or None for the first page.",
            table_name=table_name,
        )
    return {
        SCHEMA.partition_key: {"S": session_id},
        SCHEMA.owner: {"S": owner},
        SCHEMA.version: {"N": number_text(version)},
    }


def _check_owner(owner: object, key_prefix: str | None, table_name: str) -> str:
    if not isinstance(owner, str) or not owner:
        raise InvalidArgumentError(
            f"owner must be a non-empty string, got {owner!r} (table {table_name!r}). Fix: "
            "pass the user or tenant id the sessions were written with (owner=).",
            table_name=table_name,
        )
    return within_prefix(owner, key_prefix, table_name=table_name, what="owner")


def _listed(raw: Mapping[str, Any], key_prefix: str | None) -> bool:
    session_id = _text(raw, SCHEMA.partition_key) or ""
    if session_id.startswith(RESERVED_PREFIX):
        return False
    return key_prefix is None or session_id.startswith(key_prefix)


async def list_sessions(
    client: DynamoDBClient,
    table_name: str,
    *,
    owner: str,
    limit: int = 20,
    cursor: str | None = None,
    key_prefix: str | None = None,
    clock: Callable[[], float] = time.time,
) -> SessionPage:
    """One page of an owner's sessions, newest write first, by Query on the by-owner index.

    Never scans the table. Expired sessions (their TTL passed, not yet deleted
    by DynamoDB) are skipped while the page is filled, so a page holds `limit`
    sessions unless it is the last. Cleared sessions, history pages and the
    migration ledger carry no owner and are never in the index. The index is
    eventually consistent on DynamoDB: a session written a moment ago may show
    its previous position (or not show yet) for about a second.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table (migrated to ``0005_session_catalog``).
        owner: The owner whose sessions to list.
        limit: Sessions per page (1 to 1000).
        cursor: The previous page's `SessionPage.cursor`; None for the first page.
        key_prefix: A tenant's prefix: `owner` must start with it, and sessions
            whose id does not are left out.
        clock: Unix time that decides expiry.

    Returns:
        The page and the cursor of the next one.

    Raises:
        InvalidArgumentError: A bad owner, limit or cursor.
        InvalidSessionIdError: `owner` is outside `key_prefix`.
        TableNotFoundError: The table (or its index: run ``migrate up``) is missing.
    """
    validate_table_name(table_name)
    key_prefix = check_key_prefix(key_prefix, table_name=table_name)
    owner = _check_owner(owner, key_prefix, table_name)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= _MAX_LIMIT:
        raise InvalidArgumentError(
            f"limit must be an int from 1 to {_MAX_LIMIT}, got {limit!r} (table "
            f"{table_name!r}). Fix: page with the cursor instead of a larger limit.",
            table_name=table_name,
        )
    start = None if cursor is None else _decode_cursor(cursor, owner, table_name)
    now = clock()
    found: list[SessionSummary] = []
    last: Mapping[str, Any] | None = None
    more = True
    while more and len(found) < limit:
        request: dict[str, Any] = {
            "TableName": table_name,
            "IndexName": BY_OWNER_INDEX.name,
            "KeyConditionExpression": "#o = :o",
            "ExpressionAttributeNames": {"#o": SCHEMA.owner},
            "ExpressionAttributeValues": {":o": {"S": owner}},
            "ScanIndexForward": False,
            "Limit": limit - len(found),
        }
        if start is not None:
            request["ExclusiveStartKey"] = start
        response = await mapped(client.query(**request), "list_sessions", table_name)
        for raw in response.get("Items", []):
            last = raw
            ttl = _number(raw, SCHEMA.ttl)
            if (ttl is not None and ttl <= Decimal(str(now))) or not _listed(raw, key_prefix):
                continue
            found.append(_summary(raw))
        start = response.get("LastEvaluatedKey")
        more = start is not None
    # Resume after the last item looked at, listed or skipped: the next page then
    # never repeats a session nor misses one.
    next_cursor = _encode_cursor(last) if more and last is not None else None
    return SessionPage(found, next_cursor)


async def _owned_ids(client: DynamoDBClient, table_name: str, owner: str) -> list[str]:
    """Every session id the index lists under `owner`, expired ones included."""
    ids: list[str] = []
    start: dict[str, Any] | None = None
    while True:
        request: dict[str, Any] = {
            "TableName": table_name,
            "IndexName": BY_OWNER_INDEX.name,
            "KeyConditionExpression": "#o = :o",
            "ExpressionAttributeNames": {"#o": SCHEMA.owner},
            "ExpressionAttributeValues": {":o": {"S": owner}},
            "ProjectionExpression": "#k",
        }
        request["ExpressionAttributeNames"]["#k"] = SCHEMA.partition_key
        if start is not None:
            request["ExclusiveStartKey"] = start
        response = await mapped(client.query(**request), "delete_sessions", table_name)
        ids.extend(_text(raw, SCHEMA.partition_key) or "" for raw in response.get("Items", []))
        start = response.get("LastEvaluatedKey")
        if start is None:
            return [i for i in ids if i]


async def _delete_pages(
    client: DynamoDBClient,
    table_name: str,
    session_id: str,
    head: Mapping[str, Any] | None,
    done: set[str],
) -> None:
    """Delete every page part the head's index lists (skipping those in `done`).

    An index that `check_index` refuses names no part this erase can trust, and
    no bounded key list: its head is still deleted, and its pages (which carry
    the session in ``page_of``) are left for ``sessions gc``.
    """
    text = _text(head or {}, SCHEMA.pages)
    try:
        index = decode_index(text, session_id=session_id, table_name=table_name)
    except CorruptSessionError as exc:
        logger.warning(
            "delete_sessions: session %r in table %r has an unusable page index (%s); its "
            "head is deleted and its pages are left for `sessions gc`",
            session_id,
            table_name,
            exc,
        )
        return
    keys = [
        key
        for ref in (() if index is None else index.pages)
        for key in part_keys(session_id, ref)
        if key not in done
    ]
    for start in range(0, len(keys), _BATCH_WRITE):
        chunk = keys[start : start + _BATCH_WRITE]
        pending: dict[str, Any] = {
            table_name: [{"DeleteRequest": {"Key": encode_key(k)}} for k in chunk]
        }
        for _ in range(_UNPROCESSED_TRIES):
            response = await mapped(
                client.batch_write_item(RequestItems=pending), "delete_sessions", table_name
            )
            pending = dict(response.get("UnprocessedItems") or {})
            if not pending:
                break
            await asyncio.sleep(0.05)
        else:
            raise ThrottledError(
                f"delete_sessions: DynamoDB left page deletes of session {session_id!r} in "
                f"table {table_name!r} unprocessed {_UNPROCESSED_TRIES} times. Fix: run it "
                "again; it resumes where it stopped.",
                session_id=session_id,
                table_name=table_name,
            )
        done.update(chunk)


async def _erase_one(client: DynamoDBClient, table_name: str, session_id: str) -> None:
    """Delete the session's pages, then its head, then any page a racing write added.

    Pages go first, so an erase interrupted at any point leaves the head (still
    in the index) for the next run. The head's delete is unconditional and
    returns the head it removed, so it never loses a race with the owner's own
    writes: the pages that head listed are deleted right after, and a write
    landing later finds no session and creates a new one, which the next pass
    of `delete_sessions` finds.
    """
    key = encode_key(session_id)
    where = "delete_sessions"
    read = await mapped(
        client.get_item(
            TableName=table_name,
            Key=key,
            ConsistentRead=True,
            ProjectionExpression="#p",
            ExpressionAttributeNames={"#p": SCHEMA.pages},
        ),
        where,
        table_name,
    )
    done: set[str] = set()
    await _delete_pages(client, table_name, session_id, read.get("Item"), done)
    removed = await mapped(
        client.delete_item(TableName=table_name, Key=key, ReturnValues="ALL_OLD"),
        where,
        table_name,
    )
    await _delete_pages(client, table_name, session_id, removed.get("Attributes"), done)


async def delete_sessions(
    client: DynamoDBClient,
    table_name: str,
    *,
    owner: str,
    key_prefix: str | None = None,
    max_passes: int = _MAX_PASSES,
    on_session: Callable[[str], None] | None = None,
) -> EraseReport:
    """Erase every session of `owner`, history pages included; repeat until none is left.

    Each pass queries the by-owner index for the owner's sessions (expired ones
    too: they still hold content until DynamoDB deletes them) and erases each:
    its pages, then its head (an unconditional delete that returns the head it
    removed), then any page that head listed which a racing write had added.
    Passes repeat until the index returns nothing. So:

    - a write the owner makes to one of their sessions while the erase runs
      either lands before the head's delete and is erased with it, or lands
      after, finds no session and creates a new one with the owner, which the
      next pass erases; the erase returns only after a pass found no session
      of the owner;
    - a session created after `delete_sessions` returned is a new session: it
      is not erased (revoke the user's access first to make the erase final).

    Interrupted, it is safe to run again: what was cleared is gone, and what
    remains is still in the index. On DynamoDB the index is eventually
    consistent, so a pass may see a session already erased; erasing it again
    changes nothing.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table (migrated to ``0005_session_catalog``).
        owner: The owner to erase.
        key_prefix: A tenant's prefix: `owner` must start with it, and sessions
            whose id does not are left alone (reported in `EraseReport.skipped`).
        max_passes: Give up after this many passes (an owner who keeps writing).
        on_session: Called with each session id once it is erased.

    Returns:
        The count of sessions erased and of passes made.

    Raises:
        InvalidArgumentError: A bad owner or `max_passes`.
        InvalidSessionIdError: `owner` is outside `key_prefix`.
        ConcurrentModificationError: The owner still had sessions after
            `max_passes` passes; run it again once their writes stop.
        TableNotFoundError: The table (or its index: run ``migrate up``) is missing.
    """
    validate_table_name(table_name)
    key_prefix = check_key_prefix(key_prefix, table_name=table_name)
    owner = _check_owner(owner, key_prefix, table_name)
    if isinstance(max_passes, bool) or not isinstance(max_passes, int) or max_passes < 1:
        raise InvalidArgumentError(
            f"max_passes must be a positive int, got {max_passes!r} (table {table_name!r}).",
            table_name=table_name,
        )
    report = EraseReport(owner)
    skipped: set[str] = set()
    while report.passes < max_passes:
        report.passes += 1
        ids = await _owned_ids(client, table_name, owner)
        todo = []
        for session_id in ids:
            if session_id.startswith(RESERVED_PREFIX) or session_id in skipped:
                continue
            if key_prefix is not None and not session_id.startswith(key_prefix):
                skipped.add(session_id)
                continue
            todo.append(session_id)
        if not todo:
            report.skipped = sorted(skipped)
            return report
        for session_id in todo:
            await _erase_one(client, table_name, session_id)
            report.sessions += 1
            if on_session is not None:
                on_session(session_id)
    raise ConcurrentModificationError(
        f"owner {owner!r} still had sessions in table {table_name!r} after {max_passes} "
        f"erase passes ({report.sessions} sessions erased so far): something keeps writing "
        "them. Fix: stop the owner's writers (revoke access), then run delete_sessions again; "
        "it resumes where it stopped.",
        attempts=max_passes,
        table_name=table_name,
    )
