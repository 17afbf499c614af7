"""Administration of a session table: list, read, export and delete sessions.

The ``openai-agents-session sessions`` commands are thin shells over this
module. Listing and exporting stream the table: `iter_sessions` follows Scan's
``LastEvaluatedKey`` one page at a time and yields each session as it is decoded,
so memory stays bounded by one page whatever the table's size. The library's own
items (ids starting with `RESERVED_PREFIX`, e.g. the migration ledger) are never
shown, and expired sessions (``ttl`` passed, not yet deleted by DynamoDB) only on
request. A corrupt item is reported as an entry carrying its error, never as an
exception that ends the listing.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from .errors import (
    AccessDeniedError,
    CorruptSessionError,
    DynamoDBError,
    DynamoDBUnavailableError,
    InvalidArgumentError,
    error_for_code,
)
from .models.codec import decode_record, encode_key, item_size
from .models.schema import RESERVED_PREFIX, SCHEMA, SessionRecord
from .session import DynamoDBSession, validate_session_id, validate_table_name

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "ItemView",
    "ScanStats",
    "SessionEntry",
    "delete_session",
    "iter_sessions",
    "read_session",
    "view_item",
]

DEFAULT_PAGE_SIZE = 100
"""Items asked of each Scan request."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class SessionEntry:
    """One stored session as the admin commands see it.

    Attributes:
        session_id: The partition key.
        size: Size of the stored item in bytes, by DynamoDB's rule.
        record: The decoded record; None when the item is corrupt.
        error: Why the item could not be decoded; None when it could.
        expired: Its ``ttl`` has passed (DynamoDB deletes such items lazily).
        raw: The item as stored (attribute-value map), kept for corrupt items only,
            so that a person can see what to repair.
    """

    session_id: str
    size: int
    record: SessionRecord | None
    error: str | None = None
    expired: bool = False
    raw: Mapping[str, Any] | None = None

    @property
    def item_count(self) -> int | None:
        """Number of conversation items; None when the item is corrupt."""
        return None if self.record is None else len(self.record.conversation_data)

    @property
    def updated(self) -> datetime | None:
        """When the session was last written, in UTC."""
        if self.record is None:
            return None
        return datetime.fromtimestamp(float(self.record.updated_at), tz=timezone.utc)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (no conversation items), as ``sessions list --json`` prints."""
        record = self.record
        return {
            SCHEMA.partition_key: self.session_id,
            "items": self.item_count,
            "size": self.size,
            SCHEMA.version: self.updated.isoformat() if self.updated else None,
            SCHEMA.ttl: record.ttl if record else None,
            "expired": self.expired,
            "error": self.error,
        }

    def export(self) -> dict[str, Any]:
        """The session as one JSON Lines record: the stored attributes, items decoded.

        Raises:
            CorruptSessionError: The entry has no decodable record.
        """
        if self.record is None:
            raise CorruptSessionError(self.error or "corrupt item", session_id=self.session_id)
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
        reserved: Library items skipped (ids starting with `RESERVED_PREFIX`).
        expired: Expired sessions skipped.
        corrupt: Corrupt items yielded with an error.
    """

    pages: int = 0
    scanned: int = 0
    yielded: int = 0
    reserved: int = 0
    expired: int = 0
    corrupt: int = 0


async def _mapped(call: Awaitable[_T], operation: str, table_name: str) -> _T:
    # The raw calls of this module fail with the same typed errors as DynamoDBSession's.
    try:
        return await call
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise error_for_code(
            str(error.get("Code", "Unknown")),
            str(error.get("Message", "")),
            operation=operation,
            session_id=None,
            table_name=table_name,
        ) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise AccessDeniedError(
            f"No usable AWS credentials for table {table_name!r}: {exc}. Fix: configure "
            "credentials (environment, --profile or role); for a local endpoint export "
            "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test.",
            table_name=table_name,
        ) from exc
    except (HTTPClientError, BotoConnectionError) as exc:
        raise DynamoDBUnavailableError(
            f"DynamoDB did not answer {operation} on table {table_name!r}: {exc}. Fix: check "
            "--endpoint-url and --region, and that the endpoint is running.",
            table_name=table_name,
        ) from exc
    except BotoCoreError as exc:
        raise DynamoDBError(
            f"{operation} on table {table_name!r} failed: {exc}.", table_name=table_name
        ) from exc


def _entry(raw: Mapping[str, Any], table_name: str, now: float) -> SessionEntry:
    session_id = str(raw.get(SCHEMA.partition_key, {}).get("S", ""))
    size = item_size(raw)
    try:
        record = decode_record(raw, table_name=table_name)
    except CorruptSessionError as exc:
        return SessionEntry(session_id, size, None, error=str(exc), raw=dict(raw))
    return SessionEntry(session_id, size, record, expired=record.is_expired(now))


async def iter_sessions(
    client: DynamoDBClient,
    table_name: str,
    *,
    include_expired: bool = False,
    limit: int | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    consistent_read: bool = False,
    now: float | None = None,
    stats: ScanStats | None = None,
) -> AsyncIterator[SessionEntry]:
    """Yield the sessions of a table, one Scan page at a time, in table order.

    Only one page is held in memory. Reserved library items are skipped, and so
    are expired sessions unless `include_expired`. Corrupt items are yielded with
    `SessionEntry.error` set, so one bad item does not end the listing.

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: The session table.
        include_expired: Also yield sessions whose ``ttl`` has passed.
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
    while True:
        page = await _mapped(client.scan(**request), "scan", table_name)
        stats.pages += 1
        checked_at = time.time() if now is None else now
        for raw in page.get("Items", []):
            stats.scanned += 1
            session_id = raw.get(SCHEMA.partition_key, {}).get("S", "")
            if str(session_id).startswith(RESERVED_PREFIX):
                stats.reserved += 1
                continue
            entry = _entry(raw, table_name, checked_at)
            if entry.expired and not include_expired:
                stats.expired += 1
                continue
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


async def delete_session(client: DynamoDBClient, table_name: str, session_id: str) -> None:
    """Delete one session's item (`DynamoDBSession.clear_session`); absent is fine.

    Raises:
        InvalidSessionIdError: The id is empty, too long or reserved.
        TableNotFoundError: The table does not exist.
    """
    await DynamoDBSession(session_id, client, table_name).clear_session()


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
