"""Administration of a session table: list, read, export, import and delete sessions.

The ``openai-agents-session sessions`` commands are thin shells over this
module. Listing and exporting stream the table: `iter_sessions` follows Scan's
``LastEvaluatedKey`` one page at a time and yields each session as it is decoded,
so memory stays bounded by one page whatever the table's size. The library's own
items (ids starting with `RESERVED_PREFIX`: the migration ledger, history pages)
are never shown; expired sessions (``ttl`` passed, not yet deleted by DynamoDB)
and cleared ones (the empty tombstone `DynamoDBSession.clear_session` leaves for
a day) only on request. A corrupt item is reported as an entry carrying its
error, never as an exception that ends the listing.

Entries are read from the head item alone, which is cheap: for a paged session
the counts and sizes cover the whole history (the head's page index records
them), but `SessionRecord.conversation_data` holds only the newest items.
`load_history` reads the pages and returns an entry with the whole history.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ._plan import DEFAULT_MAX_SESSION_BYTES, DEFAULT_PAGE_THRESHOLD
from .boundary import mapped
from .errors import (
    AccessDeniedError,
    CorruptSessionError,
    DynamoDBUnavailableError,
    InvalidArgumentError,
    SessionStoreError,
    TableNotFoundError,
    ThrottledError,
    clause,
    describe,
)
from .models.codec import decode_record, dumps_item, encode_key, item_size
from .models.pages import decode_members, is_composite, page_key, part_keys
from .models.schema import RESERVED_PREFIX, SCHEMA, PageRef, SessionRecord
from .store import SessionStore, validate_session_id, validate_table_name

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from .catalog import SessionSummary

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_IMPORT_TTL",
    "ImportReport",
    "ItemView",
    "ScanStats",
    "SessionEntry",
    "delete_session",
    "import_sessions",
    "iso_time",
    "iter_sessions",
    "load_history",
    "parse_export_line",
    "read_session",
    "summary_row",
    "verify_pages",
    "view_item",
]

DEFAULT_PAGE_SIZE = 100
"""Items asked of each Scan request."""

# BatchGetItem takes at most 100 keys and answers at most 16 MB: 40 page parts of
# under 400 KB each. Retries of unprocessed keys; reads of a head whose pages are
# missing (a newer head may have released them) before it is declared corrupt.
_BATCH_GET_KEYS = 100
_BATCH_GET_PARTS = 40
_UNPROCESSED_TRIES = 8
_PAGE_READ_TRIES = 3

_T = TypeVar("_T")


def iso_time(seconds: float | Decimal | None) -> str | None:
    """Unix seconds as ISO 8601 UTC (``2026-11-05T14:03:07.250000+00:00``); None for None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(float(seconds), tz=timezone.utc).isoformat()


def summary_row(summary: SessionSummary) -> dict[str, Any]:
    """A by-owner listing's summary in the shape of `SessionEntry.summary`.

    What the index does not hold (pages, the head's own size) is None.
    """
    return {
        SCHEMA.partition_key: summary.session_id,
        "owner": summary.owner,
        "title": summary.title,
        "metadata": None if summary.metadata is None else dict(summary.metadata),
        "item_count": summary.item_count,
        "size": summary.size,
        "pages": None,
        "head_size": None,
        "created_at": iso_time(summary.created_at),
        "updated_at": iso_time(summary.updated_at),
        "expires_at": iso_time(summary.ttl),
        "expired": False,
        "error": None,
    }


@dataclass(frozen=True)
class SessionEntry:
    """One stored session as the admin commands see it.

    Attributes:
        session_id: The partition key.
        size: Size of the stored head item in bytes, by DynamoDB's rule (pages
            are separate items and not counted).
        record: The decoded head record; None when the head item is corrupt. For
            a paged session its `conversation_data` holds only the head's newest
            items, unless `history_loaded`.
        error: Why the session could not be read: its head does not decode, or
            a page it lists is missing or unreadable. None when it could.
        expired: Its ``ttl`` has passed (DynamoDB deletes such items lazily).
        raw: The item as stored (attribute-value map), kept for corrupt head items
            only, so that a person can see what to repair.
        head_bytes: UTF-8 bytes of the head's ``conversation_data`` JSON as stored;
            None when unknown (then the canonical encoding of its items is counted).
        history_loaded: `record.conversation_data` is the whole history, pages
            included (an entry returned by `load_history`).
    """

    session_id: str
    size: int
    record: SessionRecord | None
    error: str | None = None
    expired: bool = False
    raw: Mapping[str, Any] | None = None
    head_bytes: int | None = None
    history_loaded: bool = False

    @property
    def item_count(self) -> int | None:
        """Items in the whole history, pages included; None when the head is corrupt."""
        record = self.record
        if record is None:
            return None
        paged = 0 if self.history_loaded or record.pages is None else record.pages.count
        return len(record.conversation_data) + paged

    @property
    def pages(self) -> int | None:
        """Pages holding older history (0 while unpaged); None when the head is corrupt."""
        record = self.record
        if record is None:
            return None
        return 0 if record.pages is None else len(record.pages.pages)

    @property
    def history_bytes(self) -> int | None:
        """Uncompressed JSON bytes of the whole history: the head's items plus its
        pages (each page counted whole); None when the head is corrupt."""
        record = self.record
        if record is None:
            return None
        head = self.head_bytes
        if head is None:
            head = len(dumps_item(record.conversation_data).encode("utf-8", "surrogatepass"))
        return head + (0 if record.pages is None else record.pages.size)

    @property
    def cleared(self) -> bool:
        """Whether this is a clear's tombstone: no items, no pages, no ``created_at``, a ttl.

        `DynamoDBSession.clear_session` leaves such an empty head for a day; it
        reads as an absent session. A chat saved empty (`SessionStore.create`)
        or emptied by pops keeps its ``created_at`` and is a session.
        """
        record = self.record
        return (
            record is not None
            and not record.conversation_data
            and record.pages is None
            and record.ttl is not None
            and record.created_at is None
        )

    @property
    def updated(self) -> datetime | None:
        """When the session was last written, in UTC."""
        if self.record is None:
            return None
        return datetime.fromtimestamp(float(self.record.updated_at), tz=timezone.utc)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (no conversation items), as ``sessions list --json`` prints.

        The same keys as `summary_row` gives a by-owner listing: ``item_count``
        counts the whole history, ``size`` is its uncompressed JSON bytes (pages
        included), ``pages`` the pages holding its older part, ``head_size`` the
        head item's size by DynamoDB's rule (its 400 KB limit applies to it);
        ``created_at``, ``updated_at`` and ``expires_at`` are ISO 8601 UTC.
        """
        record = self.record
        return {
            SCHEMA.partition_key: self.session_id,
            "owner": record.owner if record else None,
            "title": record.title if record else None,
            "metadata": record.metadata if record else None,
            "item_count": self.item_count,
            "size": self.history_bytes,
            "pages": self.pages,
            "head_size": self.size,
            "created_at": iso_time(record.created_at if record else None),
            "updated_at": iso_time(record.updated_at if record else None),
            "expires_at": iso_time(record.ttl if record else None),
            "expired": self.expired,
            "error": self.error,
        }

    def export(self) -> dict[str, Any]:
        """The session as one JSON Lines record: the stored attributes, items decoded.

        ``conversation_data`` is the whole history, oldest first: a paged session
        must have been through `load_history` first.

        Raises:
            CorruptSessionError: The entry carries an error.
            InvalidArgumentError: A paged session whose pages were not loaded.
        """
        if self.record is None or self.error is not None:
            raise CorruptSessionError(self.error or "corrupt item", session_id=self.session_id)
        if self.record.pages is not None and not self.history_loaded:
            raise InvalidArgumentError(
                f"Session {self.session_id!r} is paged: this entry holds only the newest "
                f"{len(self.record.conversation_data)} of its {self.item_count} items. "
                "Fix: pass the entry through load_history() before exporting it.",
                session_id=self.session_id,
            )
        return {
            SCHEMA.partition_key: self.session_id,
            SCHEMA.version: float(self.record.updated_at),
            SCHEMA.ttl: self.record.ttl,
            SCHEMA.payload: self.record.conversation_data,
        }


@dataclass
class ScanStats:
    """What a scan did so far; filled in while `iter_sessions` runs.

    Attributes:
        pages: Scan requests made.
        scanned: Items DynamoDB returned.
        yielded: Sessions yielded (including corrupt ones).
        reserved: Library items skipped (ids starting with `RESERVED_PREFIX`,
            history pages among them).
        expired: Expired sessions skipped.
        cleared: Cleared sessions skipped (see `SessionEntry.cleared`).
        corrupt: Corrupt sessions yielded with an error.
    """

    pages: int = 0
    scanned: int = 0
    yielded: int = 0
    reserved: int = 0
    expired: int = 0
    cleared: int = 0
    corrupt: int = 0


async def _mapped(call: Awaitable[_T], operation: str, table_name: str) -> _T:
    # The raw calls of this module fail with the same typed errors as DynamoDBSession's.
    return await mapped(call, operation, table_name)


def _entry(raw: Mapping[str, Any], table_name: str, now: float) -> SessionEntry:
    session_id = str(raw.get(SCHEMA.partition_key, {}).get("S", ""))
    size = item_size(raw)
    try:
        record = decode_record(raw, table_name=table_name)
    except CorruptSessionError as exc:
        return SessionEntry(session_id, size, None, error=str(exc), raw=dict(raw))
    # Decoding succeeded, so the payload is a string holding a JSON list.
    stored = str(raw[SCHEMA.payload]["S"]).strip()
    return SessionEntry(
        session_id,
        size,
        record,
        expired=record.is_expired(now),
        head_bytes=len(stored.encode("utf-8", "surrogatepass")),
    )


def _skip_reason(
    entry: SessionEntry, *, include_expired: bool, include_cleared: bool
) -> Literal["expired", "cleared"] | None:
    if entry.expired and not include_expired:
        return "expired"
    if entry.cleared and not include_cleared:
        return "cleared"
    return None


async def iter_sessions(
    client: DynamoDBClient,
    table_name: str,
    *,
    include_expired: bool = False,
    include_cleared: bool = False,
    check_pages: bool = False,
    limit: int | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    consistent_read: bool = False,
    now: float | None = None,
    stats: ScanStats | None = None,
) -> AsyncIterator[SessionEntry]:
    """Yield the sessions of a table, one Scan page at a time, in table order.

    Only one page is held in memory. Reserved library items (history pages
    among them) are skipped, and so are expired sessions unless `include_expired`
    and cleared ones (`SessionEntry.cleared`) unless `include_cleared`. Corrupt
    items are yielded with `SessionEntry.error` set, so one bad item does not end
    the listing.

    Entries are read from the head items alone: a paged session's counts and
    sizes cover its whole history, but its record holds only the newest items
    (`load_history` reads the rest).

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table.
        include_expired: Also yield sessions whose ``ttl`` has passed.
        include_cleared: Also yield cleared sessions (empty, no pages, with a ttl).
        check_pages: Confirm that the pages of each paged session exist (see
            `verify_pages`); a session missing one is yielded with an error.
        limit: Stop after this many sessions (no further page is read).
        page_size: Items asked of each Scan request (its ``Limit``).
        consistent_read: Use strongly consistent Scan reads.
        now: Unix time that decides expiry; the current time by default.
        stats: Filled in with counts while the scan runs.

    Raises:
        TableNotFoundError: The table does not exist.
        InvalidArgumentError: `limit` or `page_size` is not a positive int.
    """
    validate_table_name(table_name)
    for name, value in (("limit", limit), ("page_size", page_size)):
        if value is not None and (isinstance(value, bool) or value <= 0):
            raise InvalidArgumentError(f"{name} must be a positive int, got {value!r}.")
    stats = stats if stats is not None else ScanStats()
    request: dict[str, Any] = {
        "TableName": table_name,
        "Limit": page_size,
        "ConsistentRead": consistent_read,
    }

    def kept(entry: SessionEntry) -> bool:
        reason = _skip_reason(
            entry, include_expired=include_expired, include_cleared=include_cleared
        )
        if reason == "expired":
            stats.expired += 1
        elif reason == "cleared":
            stats.cleared += 1
        return reason is None

    while True:
        page = await _mapped(client.scan(**request), "scan", table_name)
        stats.pages += 1
        checked_at = time.time() if now is None else now
        entries: list[SessionEntry] = []
        for raw in page.get("Items", []):
            stats.scanned += 1
            session_id = raw.get(SCHEMA.partition_key, {}).get("S", "")
            if str(session_id).startswith(RESERVED_PREFIX):
                stats.reserved += 1
                continue
            entry = _entry(raw, table_name, checked_at)
            if kept(entry):
                entries.append(entry)
        if limit is not None:
            # Decode and check no more sessions than can still be yielded.
            entries = entries[: limit - stats.yielded]
        if check_pages:
            seen = {id(e) for e in entries}
            checked = await verify_pages(client, table_name, entries, now=checked_at)
            # A session re-read during the check may have expired or been cleared since.
            entries = [e for e in checked if id(e) in seen or kept(e)]
        for entry in entries:
            if entry.error is not None:
                stats.corrupt += 1
            stats.yielded += 1
            yield entry
            if limit is not None and stats.yielded >= limit:
                return
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return
        request["ExclusiveStartKey"] = last_key


async def _batch_get(
    client: DynamoDBClient, table_name: str, keys: list[str], *, keys_only: bool = False
) -> dict[str, dict[str, Any]]:
    """The items of `keys` that exist, by key: consistent BatchGetItem requests.

    With `keys_only`, only the key attribute is fetched (the read costs the same
    capacity, but nothing else crosses the network).
    """
    found: dict[str, dict[str, Any]] = {}
    step = _BATCH_GET_KEYS if keys_only else _BATCH_GET_PARTS
    for start in range(0, len(keys), step):
        request: dict[str, Any] = {
            "Keys": [encode_key(k) for k in keys[start : start + step]],
            "ConsistentRead": True,
        }
        if keys_only:
            request["ProjectionExpression"] = "#k"
            request["ExpressionAttributeNames"] = {"#k": SCHEMA.partition_key}
        pending: dict[str, Any] = {table_name: request}
        for attempt in range(_UNPROCESSED_TRIES):
            response = await _mapped(
                client.batch_get_item(RequestItems=pending), "batch_get_item", table_name
            )
            for raw in response.get("Responses", {}).get(table_name, []):
                found[str(raw[SCHEMA.partition_key]["S"])] = dict(raw)
            pending = dict(response.get("UnprocessedKeys") or {})
            if not pending:
                break
            await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise ThrottledError(
                f"BatchGetItem on table {table_name!r} left keys unprocessed "
                f"{_UNPROCESSED_TRIES} times. Fix: raise the table's capacity or retry later.",
                table_name=table_name,
            )
    return found


def _missing(session_id: str, refs: Sequence[PageRef], found: Mapping[str, Any]) -> list[str]:
    """Ids of the pages in `refs` with a part not in `found`."""
    return sorted(
        {ref.id for ref in refs if any(k not in found for k in part_keys(session_id, ref))}
    )


def _refs(entry: SessionEntry) -> tuple[PageRef, ...]:
    index = entry.record.pages if entry.record is not None else None
    return () if index is None else index.pages


async def verify_pages(
    client: DynamoDBClient,
    table_name: str,
    entries: Sequence[SessionEntry],
    *,
    now: float | None = None,
) -> list[SessionEntry]:
    """Confirm that the pages the paged `entries` list exist.

    One consistent, key-only BatchGetItem per 100 page parts: it shows a page
    deleted by hand or lost, not a page whose content is damaged (`load_history`
    decodes the pages and shows that). Composite pages are read whole first
    (their member lists, checked), and their members are checked with the rest.
    A session whose head lists a missing part is read again first (consistent
    GetItem), since a newer head may have released the page: if it changed, the
    fresh entry replaces the old one and is checked in turn; if not, the entry
    comes back with an error.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table.
        entries: Entries as `iter_sessions` or `read_session` return them.
        now: Unix time that decides expiry of re-read entries.

    Returns:
        The entries in order: unchanged ones as given (the same objects), checked
        ones re-read or flagged, sessions deleted in the meantime left out.

    Raises:
        TableNotFoundError: The table does not exist.
    """
    result: list[SessionEntry | None] = list(entries)
    todo = [(i, e) for i, e in enumerate(entries) if e.error is None and _refs(e)]
    for attempt in range(_PAGE_READ_TRIES):
        if not todo:
            break
        listed, broken = await _with_members(client, table_name, [e for _, e in todo])
        wanted = dict.fromkeys(
            key for refs in listed.values() for ref in refs for key in part_keys(*ref)
        )
        found = await _batch_get(client, table_name, list(wanted), keys_only=True)
        again: list[tuple[int, SessionEntry]] = []
        for index, entry in todo:
            if entry.session_id in broken:
                result[index] = replace(entry, error=broken[entry.session_id])
                continue
            refs = [ref for _, ref in listed[entry.session_id]]
            missing = _missing(entry.session_id, refs, found)
            if not missing:
                continue
            fresh = await read_session(client, table_name, entry.session_id, now=now)
            if fresh is None or fresh.record is None:
                result[index] = fresh  # deleted meanwhile, or its head is now corrupt
            elif (
                entry.record is not None and fresh.record.updated_at == entry.record.updated_at
            ) or attempt == _PAGE_READ_TRIES - 1:
                result[index] = _missing_pages(entry, table_name, missing)
            else:
                result[index] = fresh
                if _refs(fresh):
                    again.append((index, fresh))
        todo = again
    return [e for e in result if e is not None]


async def _with_members(
    client: DynamoDBClient, table_name: str, entries: Sequence[SessionEntry]
) -> tuple[dict[str, list[tuple[str, PageRef]]], dict[str, str]]:
    """Each entry's pages with its composites' members, and the entries whose
    composite is damaged (an error each). A missing composite is left to the
    key check, which reports it missing."""
    composites = {
        (e.session_id, ref.id): ref for e in entries for ref in _refs(e) if is_composite(ref)
    }
    keys = {pair: page_key(pair[0], pair[1], 0) for pair in composites}
    items = await _batch_get(client, table_name, list(keys.values())) if keys else {}
    members: dict[tuple[str, str], tuple[PageRef, ...]] = {}
    broken: dict[str, str] = {}
    for (session_id, page_id), ref in composites.items():
        raw = items.get(keys[(session_id, page_id)])
        if raw is None:
            continue
        try:
            members[(session_id, page_id)] = decode_members(
                ref, raw, session_id=session_id, table_name=table_name
            )
        except CorruptSessionError as exc:
            broken[session_id] = str(exc)
    listed = {
        e.session_id: [
            (e.session_id, m)
            for ref in _refs(e)
            for m in (ref, *members.get((e.session_id, ref.id), ()))
        ]
        for e in entries
    }
    return listed, broken


def _missing_pages(entry: SessionEntry, table_name: str, missing: list[str]) -> SessionEntry:
    where = describe(entry.session_id, table_name)
    return replace(
        entry,
        error=(
            f"Stored {where} is corrupt: its head lists page(s) {missing} that do not "
            "exist. Fix: `openai-agents-session sessions show` prints the items its head "
            "still holds; then restore the pages from a backup or delete the session."
        ),
    )


async def read_session(
    client: DynamoDBClient,
    table_name: str,
    session_id: str,
    *,
    now: float | None = None,
) -> SessionEntry | None:
    """Read one session with a consistent GetItem, tolerating a corrupt item.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table.
        session_id: The session to read.
        now: Unix time that decides expiry; the current time by default.

    Returns:
        The entry (expired or corrupt ones included, flagged), or None if absent.

    Raises:
        InvalidSessionIdError: The id is empty, too long or reserved.
        TableNotFoundError: The table does not exist.
    """
    validate_table_name(table_name)
    validate_session_id(session_id, table_name=table_name)
    response = await _mapped(
        client.get_item(TableName=table_name, Key=encode_key(session_id), ConsistentRead=True),
        "get_item",
        table_name,
    )
    raw = response.get("Item")
    if raw is None:
        return None
    return _entry(raw, table_name, time.time() if now is None else now)


async def load_history(
    client: DynamoDBClient, table_name: str, entry: SessionEntry, *, now: float | None = None
) -> SessionEntry | None:
    """The entry with its whole history, pages included, in `record.conversation_data`.

    An unpaged entry (or one carrying an error) is returned as it is, without a
    call. A paged session is read the way `DynamoDBSession.get_items` reads it: a
    consistent GetItem of its head, then consistent BatchGetItem reads of every
    page it lists, decoded and checked against the index. A page found missing
    sends it back to the head (a newer head may have released the page); the
    same head twice means the page is lost. Unlike `get_items`, expiry is not
    applied: the caller already chose whether to include an expired entry.

    The entry returned describes the head that read saw, which may be newer
    than the one `entry` was made from.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table.
        entry: An entry from `iter_sessions` or `read_session`.
        now: Unix time that decides the returned entry's expiry; the current
            time by default.

    Returns:
        An entry with `history_loaded` set; an entry with `error` set when a page
        is missing or unreadable (its record is the head's, with the items the
        head holds) or the head became corrupt; None when the session was
        deleted in the meantime.

    Raises:
        TableNotFoundError: The table does not exist.
    """
    record = entry.record
    if record is None or entry.error is not None or record.pages is None:
        return entry
    if entry.history_loaded:
        return entry
    session = SessionStore(entry.session_id, client, table_name)
    try:
        whole = await session.get_record(include_expired=True, whole_history=True)
    except CorruptSessionError as exc:
        return replace(entry, error=str(exc))
    if whole is None:
        return None
    moment = time.time() if now is None else now
    return replace(
        entry,
        record=whole,
        expired=whole.is_expired(moment),
        history_loaded=True,
    )


async def delete_session(client: DynamoDBClient, table_name: str, session_id: str) -> None:
    """Clear one session with `DynamoDBSession.clear_session`; absent is fine.

    The head is replaced by an empty one that expires after a day (a tombstone:
    `iter_sessions` skips it as cleared), and the pages are deleted.

    Raises:
        InvalidSessionIdError: The id is empty, too long or reserved.
        TableNotFoundError: The table does not exist.
    """
    await SessionStore(session_id, client, table_name).clear_session()


# ------------------------------------------------------------------ import

# The latest ttl an exported line may carry: the end of year 9999 (DynamoDB's
# numbers go further, but nothing that far is a real expiry).
MAX_IMPORT_TTL = 253_402_300_799

ImportOutcome = Literal["imported", "replaced", "existing"]

# Errors after which no later line can fare better: the import stops.
_STOPPERS: tuple[type[SessionStoreError], ...] = (
    TableNotFoundError,
    AccessDeniedError,
    ThrottledError,
    DynamoDBUnavailableError,
)


@dataclass
class ImportReport:
    """What `import_sessions` did, line by line; filled in while it runs.

    ``lines == imported + replaced + skipped + failed``, unless `stopped`.

    Attributes:
        lines: Non-blank lines read.
        imported: Sessions stored onto an absent or empty session.
        replaced: Sessions stored after clearing one (``replace=True``).
        items: Items stored, over both.
        skipped: Lines skipped on purpose: the sum of the three below.
        skipped_existing: The session already had items (or a corrupt head) and
            `replace` was off; refused.
        skipped_expired: The line's ttl had passed.
        skipped_empty: The line held no items.
        failed: Lines that could not be read or stored, each in `errors`.
        errors: ``{"line", "session_id", "error"}`` per failed or refused line.
        stopped: Why the import stopped before the end (table missing, access
            denied, DynamoDB unreachable or throttling); None when it read
            every line.
    """

    lines: int = 0
    imported: int = 0
    replaced: int = 0
    items: int = 0
    skipped: int = 0
    skipped_existing: int = 0
    skipped_expired: int = 0
    skipped_empty: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None


def parse_export_line(raw: bytes) -> tuple[str, list[Any], int | None]:
    """One line of `sessions export`: the session id, its items and its ttl.

    Raises:
        ValueError: Why the line is not an exported session (no content quoted).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start}"
        ) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise ValueError("not valid JSON (nested too deep, or a number out of range)") from None
    if not isinstance(record, dict):
        raise ValueError(f"a JSON {type(record).__name__}, not an object")
    session_id = record.get(SCHEMA.partition_key)
    if not isinstance(session_id, str) or not session_id:
        raise ValueError(f"no {SCHEMA.partition_key!r} string")
    items = record.get(SCHEMA.payload)
    if not isinstance(items, list):
        raise ValueError(f"{SCHEMA.payload!r} of session {session_id!r} is not a list")
    ttl = record.get(SCHEMA.ttl)
    if ttl is None:
        return session_id, items, None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl):
        raise ValueError(f"{SCHEMA.ttl!r} of session {session_id!r} is not a number")
    if ttl > MAX_IMPORT_TTL:
        raise ValueError(
            f"{SCHEMA.ttl!r} of session {session_id!r} is past the year 9999 (Unix "
            f"seconds up to {MAX_IMPORT_TTL}); fix the line's ttl, or pass --ttl-seconds"
        )
    return session_id, items, math.ceil(ttl)


async def _import_one(
    session: SessionStore, items: list[Any], *, replace: bool
) -> tuple[ImportOutcome, int]:
    """Store one session's items onto an absent or empty session (or, with `replace`,
    any); the outcome and the items the session held (-1: its head is corrupt)."""
    try:
        current = await session.get_record()
        held = (
            0
            if current is None
            else len(current.conversation_data) + (current.pages.count if current.pages else 0)
        )
    except CorruptSessionError:
        held = -1  # a corrupt head: never imported onto, replaced on request
    replaced = False
    if held:
        if not replace:
            return "existing", held
        await session.clear_session()
        replaced = True
    # Conditional on the state just read (or the tombstone just written).
    await session.add_items(items)
    return ("replaced" if replaced else "imported"), held


async def import_sessions(
    client: DynamoDBClient,
    table_name: str,
    lines: Iterable[bytes],
    *,
    replace: bool = False,
    ttl_seconds: int | None = None,
    page_threshold: int = DEFAULT_PAGE_THRESHOLD,
    max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
    report: ImportReport | None = None,
    on_problem: Callable[[dict[str, Any]], None] | None = None,
    now: float | None = None,
) -> ImportReport:
    """Store the sessions of `sessions export` JSON Lines, going on past bad lines.

    Each session's whole history is stored with one `SessionStore.add_items`
    (paged as the library pages it) onto a session that is absent or empty. A
    line that is not UTF-8, not JSON, not an exported session, whose ttl is out
    of range, or whose session cannot be stored (a bad id or item, too large)
    is counted in `ImportReport.failed` with its line number and why, and the
    import goes on with the next line. Only errors no later line can escape
    (the table is missing, access denied, DynamoDB unreachable or throttling
    past retries) stop it: `ImportReport.stopped` says why, and the error is
    raised with the report filled up to there.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table.
        lines: The JSON Lines as bytes (a binary file iterates so).
        replace: Clear a session that already has items (or a corrupt head)
            first; without it such a session is refused (`skipped_existing`).
        ttl_seconds: Give every session a ttl this far ahead; None keeps the
            exported ttl (one already passed is skipped) or none.
        page_threshold: As `SessionStore`'s.
        max_session_bytes: As `SessionStore`'s.
        report: Filled in as lines are read (pass one to keep the counts when
            the import stops with an error).
        on_problem: Called with each entry added to `ImportReport.errors`.
        now: Unix time that decides which ttls have passed.

    Returns:
        The report.

    Raises:
        TableNotFoundError: The table is missing.
        AccessDeniedError: Access was denied.
        ThrottledError: DynamoDB kept throttling past retries.
        DynamoDBUnavailableError: DynamoDB could not be reached.
    """
    report = report if report is not None else ImportReport()
    moment = time.time() if now is None else now

    def problem(number: int, session_id: str | None, message: str) -> None:
        entry = {"line": number, SCHEMA.partition_key: session_id, "error": message}
        report.errors.append(entry)
        if on_problem is not None:
            on_problem(entry)

    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        report.lines += 1
        try:
            session_id, items, ttl = parse_export_line(raw)
        except ValueError as exc:
            report.failed += 1
            problem(number, None, f"not an exported session: {clause(exc)}.")
            continue
        if not items:
            report.skipped += 1
            report.skipped_empty += 1
            continue
        seconds = ttl_seconds
        if seconds is None and ttl is not None:
            seconds = math.ceil(ttl - moment)
            if seconds <= 0:
                report.skipped += 1
                report.skipped_expired += 1
                continue
        try:
            session = SessionStore(
                session_id,
                client,
                table_name,
                seconds,
                page_threshold=page_threshold,
                max_session_bytes=max_session_bytes,
            )
            outcome, held = await _import_one(session, items, replace=replace)
        except _STOPPERS as exc:
            report.failed += 1
            report.stopped = f"line {number}: {exc}"
            problem(number, session_id, str(exc))
            raise
        except SessionStoreError as exc:
            report.failed += 1
            problem(number, session_id, str(exc))
            continue
        if outcome == "existing":
            report.skipped += 1
            report.skipped_existing += 1
            what = "is corrupt" if held < 0 else f"already has {held} item(s)"
            problem(
                number,
                session_id,
                f"session {session_id!r} in table {table_name!r} {what}; skipped. Fix: "
                "pass --replace (replace=True) to clear it and import the exported history.",
            )
            continue
        if outcome == "replaced":
            report.replaced += 1
        else:
            report.imported += 1
        report.items += len(items)
    return report


ItemKind = Literal["message", "tool_call", "tool_output", "reasoning", "other"]


@dataclass(frozen=True)
class ItemView:
    """How one conversation item reads to a person.

    Attributes:
        kind: ``message``, ``tool_call``, ``tool_output``, ``reasoning`` or ``other``.
        role: The message role (``user``, ``assistant``, ``system``, ``developer``);
            for other kinds, the item's ``type``.
        text: The readable content: message text, ``name(arguments)`` of a call,
            a tool's output, or compact JSON for items of unknown shape.
        call_id: Links a tool call to its output, when the item has one.
    """

    kind: ItemKind
    role: str
    text: str
    call_id: str | None = None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return "" if content is None else json.dumps(content, ensure_ascii=False)
    parts: list[str] = []
    for part in content:
        if not isinstance(part, Mapping):
            parts.append(str(part))
        elif isinstance(part.get("text"), str):
            parts.append(part["text"])
        elif isinstance(part.get("refusal"), str):
            parts.append(f"[refusal] {part['refusal']}")
        else:
            kind = str(part.get("type", "part")).removeprefix("input_")
            name = part.get("filename") or part.get("file_id") or part.get("image_url") or ""
            parts.append(f"[{kind}{' ' + str(name) if name else ''}]")
    return "\n".join(parts)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def view_item(item: Mapping[str, Any]) -> ItemView:
    """Describe a stored conversation item for display.

    Understands the SDK's item shapes: messages by role, function calls and their
    outputs, the other tool calls (``*_call`` / ``*_call_output``) and reasoning.
    Anything else (e.g. an `EncryptedSession` envelope) is shown as compact JSON.
    """
    kind = item.get("type")
    call_id = item.get("call_id") if isinstance(item.get("call_id"), str) else None
    role = item.get("role")
    if isinstance(role, str) and kind in (None, "message"):
        return ItemView("message", role, _content_text(item.get("content")))
    if kind == "function_call":
        arguments = item.get("arguments", "")
        return ItemView("tool_call", str(kind), f"{item.get('name', '?')}({arguments})", call_id)
    if isinstance(kind, str) and kind.endswith("_call_output"):
        output = item.get("output")
        text = output if isinstance(output, str) else _content_text(output)
        return ItemView("tool_output", kind, text, call_id)
    if isinstance(kind, str) and kind.endswith("_call"):
        rest = {k: v for k, v in item.items() if k not in ("type", "id", "call_id", "status")}
        name = item.get("name") or kind.removesuffix("_call")
        return ItemView("tool_call", kind, f"{name} {_compact(rest)}", call_id)
    if kind == "reasoning":
        summary = item.get("summary")
        text = _content_text(summary) if summary else "(reasoning, no summary)"
        return ItemView("reasoning", kind, text)
    return ItemView("other", str(kind or "item"), _compact(dict(item)))
