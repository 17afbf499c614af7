"""Garbage collection of history pages that no head lists.

Pages become unreferenced in three ways: a writer crashed (or lost a race)
between writing its pages and committing its head; a release after a pop or a
clear failed; or a head expired and DynamoDB deleted it before its pages. Pages
of sessions with a TTL expire by themselves (a page's ttl is always later than
its head's); `collect_garbage` finds the rest.

Safety against live writers rests on one rule: a page is referenced, if ever,
by the commit that follows its write within one attempt, so a page younger
than the grace period (default one hour, far beyond any client timeout) is
never removed, referenced or not. Older pages are removed only when the
session's head, read consistently after the scan, does not list them.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .admin import _batch_get, _mapped
from .errors import CorruptSessionError, InvalidArgumentError
from .models.codec import decode_item, encode_key
from .models.pages import decode_members, is_composite, page_key, part_keys
from .models.schema import PAGE_PREFIX, PAGE_SCHEMA, RESERVED_PREFIX
from .store import validate_table_name

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["DEFAULT_GRACE_SECONDS", "GcReport", "collect_garbage"]

DEFAULT_GRACE_SECONDS = 3600.0
"""Unreferenced pages younger than this are left alone: their commit may be in flight."""

_BATCH_WRITE = 25


@dataclass
class GcReport:
    """What a garbage collection found and did.

    Attributes:
        parts_scanned: Page parts found in the table.
        sessions: Sessions those parts belong to.
        referenced: Parts a live head lists (kept).
        removed: Unreferenced parts deleted (or, with `dry_run`, that would be).
        young: Unreferenced parts younger than the grace period (kept).
        dry_run: Nothing was deleted.
        removed_keys: Keys of the removed parts.
        skipped_sessions: Sessions whose head could not be read as a session
            (corrupt): their pages are kept for a person to look at.
    """

    parts_scanned: int = 0
    sessions: int = 0
    referenced: int = 0
    removed: int = 0
    young: int = 0
    dry_run: bool = False
    removed_keys: list[str] = field(default_factory=list)
    skipped_sessions: list[str] = field(default_factory=list)


@dataclass
class _Part:
    key: str
    created_at: float


async def _scan_parts(client: DynamoDBClient, table_name: str) -> dict[str, list[_Part]]:
    """Every page part's key and age, by the session it belongs to (page data not fetched)."""
    by_session: dict[str, list[_Part]] = defaultdict(list)
    request: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": "begins_with(#k, :p)",
        "ProjectionExpression": "#k, #o, #c",
        "ExpressionAttributeNames": {
            "#k": PAGE_SCHEMA.partition_key,
            "#o": PAGE_SCHEMA.page_of,
            "#c": PAGE_SCHEMA.created_at,
        },
        "ExpressionAttributeValues": {":p": {"S": PAGE_PREFIX}},
        "ConsistentRead": True,
    }
    while True:
        response = await _mapped(client.scan(**request), "scan", table_name)
        for raw in response.get("Items", []):
            key = str(raw[PAGE_SCHEMA.partition_key]["S"])
            owner = raw.get(PAGE_SCHEMA.page_of, {}).get("S")
            try:
                created = float(Decimal(raw[PAGE_SCHEMA.created_at]["N"]))
            except (KeyError, TypeError, InvalidOperation):
                created = 0.0  # unknown age: treated as old
            # A part that names no session cannot be listed by any head.
            by_session[str(owner) if owner else ""].append(_Part(key, created))
        last = response.get("LastEvaluatedKey")
        if not last:
            return by_session
        request["ExclusiveStartKey"] = last


async def _listed(
    client: DynamoDBClient, table_name: str, session_id: str, now: float, grace: float
) -> set[str] | None:
    """Part keys the session's head lists; None when the head is unreadable."""
    response = await _mapped(
        client.get_item(TableName=table_name, Key=encode_key(session_id), ConsistentRead=True),
        "get_item",
        table_name,
    )
    raw = response.get("Item")
    if raw is None:
        return set()
    try:
        head = decode_item(raw, table_name=table_name)
    except CorruptSessionError:
        return None
    # An expired head is absent to every reader, and the next write replaces it;
    # wait out the grace period too, so clocks that disagree cannot matter.
    if head.ttl is not None and head.ttl < now - grace:
        return set()
    listed = {key for ref in head.page_refs for key in part_keys(session_id, ref)}
    # A composite's members are listed through it: read the member lists, 100 a
    # request. One that cannot be read keeps every part of the session (None).
    composites = [ref for ref in head.page_refs if is_composite(ref)]
    found = await _batch_get(
        client, table_name, [page_key(session_id, r.id, 0) for r in composites]
    )
    for ref in composites:
        raw = found.get(page_key(session_id, ref.id, 0))
        if raw is None:
            return None
        try:
            members = decode_members(ref, raw, session_id=session_id, table_name=table_name)
        except CorruptSessionError:
            return None
        listed.update(key for m in members for key in part_keys(session_id, m))
    return listed


async def _delete(client: DynamoDBClient, table_name: str, keys: list[str]) -> None:
    for start in range(0, len(keys), _BATCH_WRITE):
        chunk = keys[start : start + _BATCH_WRITE]
        pending: dict[str, Any] = {
            table_name: [{"DeleteRequest": {"Key": encode_key(k)}} for k in chunk]
        }
        for attempt in range(8):
            response = await _mapped(
                client.batch_write_item(RequestItems=pending), "batch_write_item", table_name
            )
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
            await asyncio.sleep(min(1.0, 0.05 * 2**attempt))


async def collect_garbage(
    client: DynamoDBClient,
    table_name: str,
    *,
    dry_run: bool = False,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    now: float | None = None,
) -> GcReport:
    """Remove page parts that no live head lists and that are older than the grace period.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table.
        dry_run: Report what would be removed; delete nothing.
        grace_seconds: Leave unreferenced pages younger than this alone.
        now: Unix time that decides ages; the current time by default.

    Returns:
        A `GcReport`.

    Raises:
        InvalidArgumentError: A bad table name or grace period.
        TableNotFoundError: The table does not exist.
    """
    validate_table_name(table_name)
    if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, (int, float)):
        raise InvalidArgumentError(
            f"grace_seconds must be a number of seconds, got {grace_seconds!r} (table "
            f"{table_name!r})."
        )
    if grace_seconds < 0:
        raise InvalidArgumentError(
            f"grace_seconds must not be negative, got {grace_seconds!r} (table {table_name!r})."
        )
    moment = time.time() if now is None else now
    report = GcReport(dry_run=dry_run)
    by_session = await _scan_parts(client, table_name)
    doomed: list[str] = []
    for session_id, parts in sorted(by_session.items()):
        report.parts_scanned += len(parts)
        report.sessions += 1
        # The head is read after the scan: a page listed by then is kept, and a
        # page written after the scan is not in it.
        listed = (
            await _listed(client, table_name, session_id, moment, grace_seconds)
            # A page naming no session, or a reserved id, belongs to no head.
            if session_id and not session_id.startswith(RESERVED_PREFIX)
            else set()
        )
        if listed is None:
            report.skipped_sessions.append(session_id)
            continue
        for part in parts:
            if part.key in listed:
                report.referenced += 1
            elif part.created_at > moment - grace_seconds:
                report.young += 1
            else:
                doomed.append(part.key)
    report.removed = len(doomed)
    report.removed_keys = doomed
    if doomed and not dry_run:
        await _delete(client, table_name, doomed)
    return report
