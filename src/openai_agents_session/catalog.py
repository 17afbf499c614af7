"""The session catalog: an owner's sessions, listed and erased through the by-owner index.

`list_sessions` pages through one owner's sessions, newest write first, with
Query calls on `BY_OWNER_INDEX` (never a Scan): each summary comes from the
index's projection alone, so listing reads no conversation. `delete_sessions`
erases every session of an owner, pages included, by clearing each one on the
session's own conditional write path, pass after pass, until the index lists
only tombstones.

The index is sparse: only heads that carry an ``owner`` are in it. History
pages and the migration ledger carry none. A clear's tombstone keeps its owner
(so a write landing on it stays the owner's), but no ``created_at`` and no
items, and `list_sessions` leaves it out. Expired heads are still in the index
until DynamoDB's TTL removes them (typically within days), so `list_sessions`
drops them itself while it fills a page, which keeps ``limit`` and the cursor
exact.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._pagememo import forget
from .admin import _batch_get
from .boundary import mapped
from .errors import (
    ConcurrentModificationError,
    CorruptSessionError,
    DynamoDBError,
    InvalidArgumentError,
    ThrottledError,
    describe,
)
from .models.attrs import number_text
from .models.codec import MAX_VERSION, StoredItem, decode_item, encode_key
from .models.schema import (
    BY_OWNER_INDEX,
    MAX_KEY_BYTES,
    PAGE_PREFIX,
    PAGE_SCHEMA,
    RESERVED_PREFIX,
    SCHEMA,
    TITLE_MAX_CHARS,
)
from .store import SessionStore, check_key_prefix, validate_table_name, within_prefix

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["EraseReport", "SessionPage", "SessionSummary", "delete_sessions", "list_sessions"]

_MAX_LIMIT = 1000
_BATCH_WRITE = 25
_BATCH_GET = 100
# Stored metadata is data: a sidebar shows it only when it is a small, shallow object.
_MAX_METADATA_CHARS = 64 * 1024
_MAX_METADATA_DEPTH = 32
_UNPROCESSED_TRIES = 8
# Passes of an erase before it gives up on an owner who keeps creating sessions.
_MAX_PASSES = 50
# Sessions cleared at once by one pass of an erase.
_ERASE_CONCURRENCY = 16


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
        item_count: Items in its whole history, pages included (0 for a chat
            `SessionStore.create` saved empty).
        size: Uncompressed JSON bytes of its whole history, pages included.
        ttl: Unix time it expires at, or None.
        metadata: The application's metadata map, read only with
            ``list_sessions(..., include_metadata=True)``; None otherwise, when
            the session has none, or when the stored value is not a JSON object
            of bounded depth (such a session is still listed).
        error: Why the stored summary is unreadable (an attribute of the wrong
            type, out of range, or too long), or None. The other fields then
            hold what could be read (counts 0), and the listing goes on.
    """

    session_id: str
    owner: str
    title: str | None
    created_at: float | None
    updated_at: float
    item_count: int
    size: int
    ttl: int | None = None
    metadata: Mapping[str, Any] | None = None
    error: str | None = None


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
        sessions: Erasures made (head replaced by a tombstone, pages deleted).
            A session the owner wrote again during the erase, and that was
            erased again, counts again.
        passes: Index passes made; the last one found nothing left to erase.
        skipped: Ids outside `key_prefix` that the index listed under the owner
            (another tenant's sessions claiming this owner); left alone.
        erased: The ids erased, each once, in the order first erased.
        corrupt: The ids among `erased` whose head did not decode (or whose page
            index was unreadable): erased by replacing the head as found and
            deleting every page that names the session.
    """

    owner: str
    sessions: int = 0
    passes: int = 0
    skipped: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)


def _number(raw: Mapping[str, Any], name: str) -> Decimal | None:
    """A stored number; None when absent, or not a finite number."""
    value = raw.get(name)
    if not isinstance(value, Mapping) or not isinstance(value.get("N"), str):
        return None
    try:
        number = Decimal(value["N"])
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


# Bounds of what a summary may hold: beyond them the stored value is not one a
# session write produces, so it is reported, not shown.
_MAX_COUNT = 10**15
_MAX_TIME = Decimal(10**11)


def _summary(raw: Mapping[str, Any], table_name: str) -> SessionSummary:
    session_id = _text(raw, SCHEMA.partition_key) or ""
    problems: list[str] = []

    def number(name: str, limit: Decimal | int, *, integral: bool = False) -> Decimal | None:
        if name not in raw:
            return None
        value = _number(raw, name)
        if value is None or not 0 <= value <= limit or (integral and value != int(value)):
            kind = "an integer" if integral else "a number"
            problems.append(f"{name!r} is not {kind} from 0 to {limit:.0e}")
            return None
        return value

    title = _text(raw, SCHEMA.title)
    if SCHEMA.title in raw and (title is None or len(title) > TITLE_MAX_CHARS):
        problems.append(f"{SCHEMA.title!r} is not a string of at most {TITLE_MAX_CHARS} characters")
        title = None
    created = number(SCHEMA.created_at, _MAX_TIME)
    updated = number(SCHEMA.version, MAX_VERSION)
    ttl = number(SCHEMA.ttl, _MAX_TIME, integral=True)
    count = number(SCHEMA.item_count, _MAX_COUNT, integral=True)
    size = number(SCHEMA.history_size, _MAX_COUNT, integral=True)
    error = None
    if problems:
        error = (
            f"Stored {describe(session_id, table_name)} is corrupt: {'; '.join(problems)}. "
            "Fix: rewrite the session with any write (it recomputes the counts), or "
            "set_attributes(title=...)."
        )
    return SessionSummary(
        session_id=session_id,
        owner=_text(raw, SCHEMA.owner) or "",
        title=title,
        created_at=None if created is None else float(created),
        updated_at=float(updated or 0),
        item_count=int(count or 0),
        size=int(size or 0),
        ttl=None if ttl is None else int(ttl),
        error=error,
    )


def _depth(value: Any, limit: int) -> bool:
    """Whether `value` nests at most `limit` containers deep (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            if level > limit:
                return False
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, level + 1) for child in children)
    return True


def _metadata(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored metadata map, or None when absent or not a bounded JSON object."""
    text = _text(raw or {}, SCHEMA.metadata)
    if text is None or len(text) > _MAX_METADATA_CHARS:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) and _depth(value, _MAX_METADATA_DEPTH) else None


async def _with_metadata(
    client: DynamoDBClient, table_name: str, found: list[SessionSummary]
) -> list[SessionSummary]:
    """`found` with each session's metadata, read by BatchGetItem (100 keys per call).

    The index does not project ``metadata`` (a projection cannot change without
    recreating the index), so the heads are read, projected to id and metadata.
    DynamoDB bills such a read by the whole head's size, not the projection's.
    """
    read: dict[str, dict[str, Any] | None] = {}
    ids = [summary.session_id for summary in found]
    for start in range(0, len(ids), _BATCH_GET):
        pending: dict[str, Any] = {
            table_name: {
                "Keys": [encode_key(i) for i in ids[start : start + _BATCH_GET]],
                "ProjectionExpression": "#k, #m",
                "ExpressionAttributeNames": {
                    "#k": SCHEMA.partition_key,
                    "#m": SCHEMA.metadata,
                },
            }
        }
        for _ in range(_UNPROCESSED_TRIES):
            response = await mapped(
                client.batch_get_item(RequestItems=pending), "list_sessions", table_name
            )
            for raw in response.get("Responses", {}).get(table_name, []):
                read[_text(raw, SCHEMA.partition_key) or ""] = _metadata(raw)
            pending = dict(response.get("UnprocessedKeys") or {})
            if not pending:
                break
            await asyncio.sleep(0.05)
        else:
            raise ThrottledError(
                f"list_sessions: DynamoDB left metadata reads in table {table_name!r} "
                f"unprocessed {_UNPROCESSED_TRIES} times. Fix: retry the page with the same "
                "cursor, or list without include_metadata.",
                table_name=table_name,
            )
    return [replace(summary, metadata=read.get(summary.session_id)) for summary in found]


def _encode_cursor(raw: Mapping[str, Any]) -> str:
    key = {
        "s": _text(raw, SCHEMA.partition_key),
        "o": _text(raw, SCHEMA.owner),
        "v": str(_number(raw, SCHEMA.version)),
    }
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


# A cursor holds a session id (at most 2048 bytes), the owner and a version; a
# longer string was not made by list_sessions and is not decoded at all.
_MAX_CURSOR_CHARS = 8192
# Versions are Unix times in seconds; anything past year 33658 was forged.
_MAX_VERSION = Decimal(10**12)


def _decode_cursor(
    cursor: object, owner: str, key_prefix: str | None, table_name: str
) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor stands for, once it is proven to be this listing's.

    A cursor is data from the caller: it is refused unless it names this owner
    and a session id inside `key_prefix`, so it can never start a Query at a
    position in another owner's or another tenant's part of the index.
    """
    session_id, version, size = "", Decimal(0), 0
    if isinstance(cursor, str) and len(cursor) <= _MAX_CURSOR_CHARS:
        try:
            key = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
            if isinstance(key, dict) and key.get("o") == owner and isinstance(key["s"], str):
                session_id, version = key["s"], Decimal(str(key["v"]))
                size = len(session_id.encode("utf-8"))  # a lone surrogate: ValueError
        except (
            ValueError,
            KeyError,
            TypeError,
            binascii.Error,
            ArithmeticError,
            RecursionError,
        ):
            session_id = ""
    valid = (
        bool(session_id)
        and version.is_finite()
        and 0 <= version <= _MAX_VERSION
        and not session_id.startswith(RESERVED_PREFIX)
        and size <= MAX_KEY_BYTES
        and (key_prefix is None or session_id.startswith(key_prefix))
    )
    if not valid:
        what = (
            f"a {type(cursor).__name__}"
            if not isinstance(cursor, str)
            else f"a string of {len(cursor)} characters"
        )
        raise InvalidArgumentError(
            f"cursor ({what}) is not one list_sessions returned for owner {owner!r}"
            + (f" within key_prefix {key_prefix!r}" if key_prefix is not None else "")
            + f" (table {table_name!r}). Fix: pass the cursor of the previous page "
            "unchanged, with the same owner and key_prefix, or None for the first page.",
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
    include_metadata: bool = False,
    clock: Callable[[], float] = time.time,
) -> SessionPage:
    """One page of an owner's sessions, newest write first, by Query on the by-owner index.

    Never scans the table. Expired sessions (their TTL passed, not yet deleted
    by DynamoDB) are skipped while the page is filled, so a page holds `limit`
    sessions unless it is the last. History pages and the migration ledger
    carry no owner and are never in the index; cleared sessions (tombstones)
    are left out. The index is
    eventually consistent on DynamoDB: a session written a moment ago may show
    its previous position (or not show yet) for about a second.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table (migrated to ``0005_session_catalog``).
        owner: The owner whose sessions to list.
        limit: Sessions per page (1 to 1000).
        cursor: The previous page's `SessionPage.cursor`; None for the first page.
        key_prefix: A tenant's prefix: `owner` must start with it, and sessions
            whose id does not are left out. A cursor must name a session inside it.
        include_metadata: Also read each listed session's ``metadata`` (a
            sidebar's "pinned" flag, say) with one BatchGetItem per page (per
            100 sessions). The index does not hold it; the extra read is billed
            by each head's whole size (see the chat-app docs for the cost).
        clock: Unix time that decides expiry.

    Returns:
        The page and the cursor of the next one.

    Raises:
        InvalidArgumentError: A bad owner, limit, include_metadata or cursor
            (a cursor is refused unless `list_sessions` returned it for this
            owner and key_prefix).
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
    if not isinstance(include_metadata, bool):
        raise InvalidArgumentError(
            f"include_metadata must be a bool, got a {type(include_metadata).__name__} "
            f"(table {table_name!r}). Fix: pass True or False.",
            table_name=table_name,
        )
    start = None if cursor is None else _decode_cursor(cursor, owner, key_prefix, table_name)
    now = clock()
    request: dict[str, Any] = {
        "TableName": table_name,
        "IndexName": BY_OWNER_INDEX.name,
        "KeyConditionExpression": "#o = :o",
        "ExpressionAttributeNames": {"#o": SCHEMA.owner},
        "ExpressionAttributeValues": {":o": {"S": owner}},
        "ScanIndexForward": False,
    }

    def pick(raw: Mapping[str, Any]) -> SessionSummary | None:
        ttl = _number(raw, SCHEMA.ttl)
        expired = ttl is not None and ttl <= Decimal(str(now))
        if expired or _is_tombstone(raw) or not _listed(raw, key_prefix):
            return None
        return _summary(raw, table_name)

    found, last = await fill_page(client, "list_sessions", request, limit, start, pick)
    next_cursor = None if last is None else _encode_cursor(last)
    if include_metadata and found:
        found = await _with_metadata(client, table_name, found)
    return SessionPage(found, next_cursor)


_Picked = TypeVar("_Picked")


async def fill_page(
    client: DynamoDBClient,
    operation: str,
    request: Mapping[str, Any],
    limit: int,
    start: Mapping[str, Any] | None,
    pick: Callable[[Mapping[str, Any]], _Picked | None],
) -> tuple[list[_Picked], Mapping[str, Any] | None]:
    """Query an index until `limit` entries are picked or it ends (list_sessions, list_forks).

    Args:
        client: An aiobotocore DynamoDB client.
        operation: The public call, for error messages.
        request: The Query's request, without ``Limit`` and ``ExclusiveStartKey``.
        limit: How many picked entries make a page.
        start: The index key to resume after (from a checked cursor), or None.
        pick: The entry to list for a raw index item, or None to skip it
            (expired, a tombstone, outside the tenant).

    Returns:
        The picked entries, and the raw item to resume after when the index goes
        on (None when this was the last page). It is the last item looked at,
        listed or skipped, so the next page never repeats an entry nor misses one.
    """
    table_name = str(request["TableName"])
    found: list[_Picked] = []
    last: Mapping[str, Any] | None = None
    more = True
    while more and len(found) < limit:
        query = {**request, "Limit": limit - len(found)}
        if start is not None:
            query["ExclusiveStartKey"] = start
        response = await mapped(client.query(**query), operation, table_name)
        for raw in response.get("Items", []):
            last = raw
            picked = pick(raw)
            if picked is not None:
                found.append(picked)
        start = response.get("LastEvaluatedKey")
        more = start is not None
    return found, (last if more else None)


def _is_tombstone(raw: Mapping[str, Any]) -> bool:
    """Whether an index entry is a clear's tombstone: no ``created_at``, no items.

    A tombstone keeps only its owner, so it stays in the index; every other
    write sets ``created_at`` and the counts. An entry without counts is not
    taken for one: the erase reads it to know.
    """
    return SCHEMA.created_at not in raw and raw.get(SCHEMA.item_count) == {"N": "0"}


async def _owned(client: DynamoDBClient, table_name: str, owner: str) -> dict[str, bool]:
    """Every session id the index lists under `owner` (expired ones included), each
    with whether the index shows it as a tombstone."""
    found: dict[str, bool] = {}
    start: dict[str, Any] | None = None
    while True:
        request: dict[str, Any] = {
            "TableName": table_name,
            "IndexName": BY_OWNER_INDEX.name,
            "KeyConditionExpression": "#o = :o",
            "ExpressionAttributeNames": {
                "#o": SCHEMA.owner,
                "#k": SCHEMA.partition_key,
                "#c": SCHEMA.created_at,
                "#n": SCHEMA.item_count,
            },
            "ExpressionAttributeValues": {":o": {"S": owner}},
            "ProjectionExpression": "#k, #c, #n",
        }
        if start is not None:
            request["ExclusiveStartKey"] = start
        response = await mapped(client.query(**request), "delete_sessions", table_name)
        for raw in response.get("Items", []):
            session_id = _text(raw, SCHEMA.partition_key)
            if session_id:
                found[session_id] = _is_tombstone(raw)
        start = response.get("LastEvaluatedKey")
        if start is None:
            return found


async def _delete_keys(
    client: DynamoDBClient, table_name: str, session_id: str, keys: list[str]
) -> None:
    """Delete items by key, retrying what DynamoDB leaves unprocessed (bounded)."""
    for start in range(0, len(keys), _BATCH_WRITE):
        chunk = keys[start : start + _BATCH_WRITE]
        pending: dict[str, Any] = {
            table_name: [{"DeleteRequest": {"Key": encode_key(k)}} for k in chunk]
        }
        for attempt in range(_UNPROCESSED_TRIES):
            response = await mapped(
                client.batch_write_item(RequestItems=pending), "delete_sessions", table_name
            )
            pending = dict(response.get("UnprocessedItems") or {})
            if not pending:
                break
            await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise ThrottledError(
                f"delete_sessions: DynamoDB left page deletes of session {session_id!r} in "
                f"table {table_name!r} unprocessed {_UNPROCESSED_TRIES} times. Fix: run it "
                "again; it resumes where it stopped.",
                session_id=session_id,
                table_name=table_name,
            )


async def _attributed_pages(client: DynamoDBClient, table_name: str, session_id: str) -> list[str]:
    """Keys of every page part that names `session_id` as its session: a paginated Scan.

    Only for a session whose own index cannot be trusted (corrupt, or a clear
    whose page deletes failed): a healthy erase deletes the pages its head lists.
    """
    keys: list[str] = []
    request: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": "begins_with(#k, :p) AND #o = :s",
        "ProjectionExpression": "#k",
        "ExpressionAttributeNames": {"#k": PAGE_SCHEMA.partition_key, "#o": PAGE_SCHEMA.page_of},
        "ExpressionAttributeValues": {":p": {"S": PAGE_PREFIX}, ":s": {"S": session_id}},
        "ConsistentRead": True,
    }
    while True:
        response = await mapped(client.scan(**request), "delete_sessions", table_name)
        keys.extend(
            k for k in (_text(r, PAGE_SCHEMA.partition_key) for r in response["Items"]) if k
        )
        last = response.get("LastEvaluatedKey")
        if not last:
            return keys
        request["ExclusiveStartKey"] = last


def _clean(state: StoredItem) -> bool:
    """A tombstone that holds nothing but its owner: no items, pages or other attributes."""
    return state.total_count == 0 and state.pages is None and set(state.extra) <= {SCHEMA.owner}


async def _head(client: DynamoDBClient, table_name: str, session_id: str) -> StoredItem | None:
    """The session's head, read consistently; raises CorruptSessionError when it does not decode."""
    response = await mapped(
        client.get_item(TableName=table_name, Key=encode_key(session_id), ConsistentRead=True),
        "delete_sessions",
        table_name,
    )
    raw = response.get("Item")
    return None if raw is None else decode_item(raw, table_name=table_name)


_Erased = Literal["erased", "corrupt", "clean"]


async def _erase_one(
    client: DynamoDBClient, table_name: str, session_id: str, raw: Mapping[str, Any] | None
) -> _Erased:
    """Clear one session (its head `raw` as just read) on the engine's own path.

    The head is replaced by a tombstone, with a write conditional on the version
    read as every write is, and keeps only the owner; the pages it listed are
    deleted after it, and a failed delete fails the erase. So a reader sees the
    history or nothing, and a write racing the erase lands before it (and is
    erased with it) or on the tombstone, where it keeps the owner and the next
    pass finds it.

    A head that does not decode is replaced as found (see
    `SessionStore.clear_session`), and every page naming the session is deleted.
    """
    store = SessionStore(session_id, client, table_name)
    # The erase names the pages the table lists, not those other objects remember,
    # and leaves nothing of the session in what they share either.
    store._read_storage_only()
    try:
        return await _erase_checked(store, client, table_name, session_id, raw)
    finally:
        forget(client, table_name, session_id)


async def _erase_checked(
    store: SessionStore,
    client: DynamoDBClient,
    table_name: str,
    session_id: str,
    raw: Mapping[str, Any] | None,
) -> _Erased:
    try:
        state = None if raw is None else decode_item(raw, table_name=table_name)
    except CorruptSessionError:
        await store.clear_session()
        await _delete_attributed(client, table_name, session_id)
        return "corrupt"
    if state is None or _clean(state):
        return "clean"
    store._remember(state)  # the clear is then one conditional write on what was read
    try:
        await store.clear_session()
        if store._pages_left:
            # A composite page it lists was gone or damaged, so the clear replaced
            # the head as found without naming every page: find them by session.
            await _delete_attributed(client, table_name, session_id)
            return "corrupt"
    except DynamoDBError:
        after = await _head(client, table_name, session_id)
        if after is None or not _clean(after):
            raise
        # The tombstone landed but page deletes failed: the head no longer says
        # which pages were its, so delete every page that names the session.
        await _delete_attributed(client, table_name, session_id)
    return "erased"


async def _delete_attributed(client: DynamoDBClient, table_name: str, session_id: str) -> None:
    keys = await _attributed_pages(client, table_name, session_id)
    await _delete_keys(client, table_name, session_id, keys)


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
    too: they still hold content until DynamoDB deletes them) and clears each
    one on the session's own write path: its head is replaced by a tombstone,
    with a write conditional on the version read, then the pages that head
    listed are deleted (a failed delete fails the erase). The tombstone keeps
    only the owner. Passes repeat until the index lists only tombstones. So:

    - a write racing the erase, from an object built with or without
      ``owner=``, either lands before the tombstone and is erased with it, or
      lands on the tombstone, keeps the owner, and the next pass erases it;
      the erase returns only after a pass found nothing left to erase;
    - a reader racing the erase sees the history or nothing, never a
      half-erased session;
    - a corrupt session of the owner (a head that does not decode, or an
      unreadable page index) is erased too: its head replaced as found, and
      every page that names it deleted (a Scan, for such sessions only). It is
      reported in `EraseReport.corrupt`, and the erase goes on with the others;
    - a session created after `delete_sessions` returned is a new session: it
      is not erased (revoke the user's access first to make the erase final).

    Interrupted, it is safe to run again: what was cleared is gone, and what
    remains is still in the index. On DynamoDB the index is eventually
    consistent; each session is read consistently before it is cleared, so a
    stale entry costs a read and nothing else.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table (migrated to ``0005_session_catalog``).
        owner: The owner to erase.
        key_prefix: A tenant's prefix: `owner` must start with it, and sessions
            whose id does not are left alone (reported in `EraseReport.skipped`).
        max_passes: Give up after this many passes (an owner who keeps writing).
        on_session: Called with each session id once it is erased.

    Returns:
        What was erased, what was corrupt, what was skipped, and the passes made.

    Raises:
        InvalidArgumentError: A bad owner or `max_passes`.
        InvalidSessionIdError: `owner` is outside `key_prefix`.
        ConcurrentModificationError: The owner still had sessions after
            `max_passes` passes; run it again once their writes stop.
        TableNotFoundError: The table (or its index: run ``migrate up``) is missing.
        DynamoDBError: DynamoDB kept failing a call (after the erase finished
            the pass it was in); run it again: it resumes where it stopped.
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
    limit = asyncio.Semaphore(_ERASE_CONCURRENCY)

    async def erase(session_id: str, heads: Mapping[str, dict[str, Any]]) -> _Erased:
        async with limit:
            return await _erase_one(client, table_name, session_id, heads.get(session_id))

    while report.passes < max_passes:
        report.passes += 1
        todo = []
        for session_id, tombstone in (await _owned(client, table_name, owner)).items():
            if session_id.startswith(RESERVED_PREFIX) or session_id in skipped:
                continue
            if key_prefix is not None and not session_id.startswith(key_prefix):
                skipped.add(session_id)
            elif not tombstone:
                todo.append(session_id)
        report.skipped = sorted(skipped)
        heads = await _batch_get(client, table_name, todo)
        results = await asyncio.gather(*(erase(i, heads) for i in todo), return_exceptions=True)
        done = 0
        for session_id, result in zip(todo, results, strict=True):
            if isinstance(result, BaseException) or result == "clean":
                continue
            done += 1
            report.sessions += 1
            if session_id not in report.erased:
                report.erased.append(session_id)
            if result == "corrupt" and session_id not in report.corrupt:
                report.corrupt.append(session_id)
            if on_session is not None:
                on_session(session_id)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if not done:
            return report
    raise ConcurrentModificationError(
        f"owner {owner!r} still had sessions in table {table_name!r} after {max_passes} "
        f"erase passes ({report.sessions} sessions erased so far): something keeps writing "
        "them. Fix: stop the owner's writers (revoke access), then run delete_sessions again; "
        "it resumes where it stopped.",
        attempts=max_passes,
        table_name=table_name,
    )
