"""History pages: immutable items that hold a paged session's older items.

A page is a run of conversation items, encoded as a compact JSON list,
compressed with zlib and split into parts small enough for one DynamoDB item
each. Its parts live in the session table under `PAGE_PREFIX` keys; nothing
points at a page until a head item that lists it (`PageIndex`) is committed,
so writing a page is idempotent and a crash before the commit leaves only an
unreferenced page behind. The attribute names come from `PageRecord`.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from ..errors import CorruptSessionError, describe
from .attrs import encode_values
from .jsontext import loads_conversation
from .schema import (
    MAX_KEY_BYTES,
    PAGE_PREFIX,
    PAGE_SCHEMA,
    ConversationItem,
    PageIndex,
    PageRef,
)

__all__ = [
    "PART_BYTES",
    "decode_index",
    "decode_page",
    "encode_index",
    "encode_page",
    "new_page_id",
    "page_key",
    "part_keys",
]

PART_BYTES = 380_000
"""Compressed bytes per page part: one part plus its key and attributes stays
under DynamoDB's 400 KB item limit even with a 2 KB partition key."""

_ZLIB_LEVEL = 6
_REPAIR = "run `openai-agents-session sessions show` on it, then repair or delete the session"


def new_page_id() -> str:
    """A fresh random page id: 64 bits, so concurrent writers never share one."""
    return secrets.token_hex(8)


def page_key(session_id: str, page_id: str, part: int) -> str:
    """Partition key of one part of a page.

    The session id is part of the key, so an IAM ``dynamodb:LeadingKeys`` policy
    can confine a tenant to ``__oas__#page#<tenant prefix>*`` as well. A session
    id too long for that is replaced by its SHA-256.
    """
    key = f"{PAGE_PREFIX}{session_id}#{page_id}#{part}"
    if len(key.encode("utf-8", "surrogatepass")) <= MAX_KEY_BYTES:
        return key
    digest = hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{PAGE_PREFIX}~{digest}#{page_id}#{part}"


def part_keys(session_id: str, ref: PageRef) -> list[str]:
    """The keys of every part of the page `ref` points at, in order."""
    return [page_key(session_id, ref.id, part) for part in range(ref.parts)]


def encode_index(index: PageIndex | None) -> str | None:
    """The head's ``pages`` attribute value; None when there are no pages."""
    if index is None or not index.pages:
        return None
    return index.model_dump_json()


def decode_index(
    text: str | None, *, session_id: str | None, table_name: str | None
) -> PageIndex | None:
    """Parse a head's ``pages`` attribute.

    Raises:
        CorruptSessionError: It is not a valid page index.
    """
    if text is None:
        return None
    try:
        index = PageIndex.model_validate_json(text)
    except (ValidationError, ValueError, RecursionError) as exc:
        raise CorruptSessionError(
            f"Stored {describe(session_id, table_name)} is corrupt: its page index is "
            f"unreadable ({type(exc).__name__}). Fix: {_REPAIR}.",
            session_id=session_id,
            table_name=table_name,
        ) from None
    for ref in index.pages:
        if min(ref.parts, ref.length) < 1 or ref.start < 0 or ref.size < 0:
            raise CorruptSessionError(
                f"Stored {describe(session_id, table_name)} is corrupt: page {ref.id!r} "
                f"has an impossible entry in its index. Fix: {_REPAIR}.",
                session_id=session_id,
                table_name=table_name,
            )
    return index


def encode_page(
    session_id: str,
    page_id: str,
    items_json: Sequence[str],
    *,
    ttl: int | None,
    created_at: Decimal,
) -> tuple[PageRef, list[dict[str, Any]]]:
    """Compress a run of items (each already canonical JSON) into page parts.

    Returns:
        The index entry for the page and the attribute-value maps of its parts.
    """
    body = ("[" + ",".join(items_json) + "]").encode("utf-8", "surrogatepass")
    blob = zlib.compress(body, _ZLIB_LEVEL)
    chunks = [blob[i : i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)] or [b""]
    parts: list[dict[str, Any]] = []
    for number, chunk in enumerate(chunks):
        values: dict[str, Any] = {
            PAGE_SCHEMA.partition_key: page_key(session_id, page_id, number),
            PAGE_SCHEMA.page_of: session_id,
            PAGE_SCHEMA.page_data: chunk,
            PAGE_SCHEMA.ttl: ttl,
            PAGE_SCHEMA.created_at: created_at,
        }
        parts.append(encode_values(PAGE_SCHEMA.attributes, values))
    ref = PageRef(page_id, len(chunks), 0, len(items_json), len(body))
    return ref, parts


def decode_page(
    ref: PageRef,
    parts: Iterable[Mapping[str, Any]],
    *,
    session_id: str,
    table_name: str | None,
) -> list[ConversationItem]:
    """Join, decompress and parse the parts of one page (all of them, in order).

    Raises:
        CorruptSessionError: A part is malformed, or the page does not decode to
            the JSON list of objects its index entry describes.
    """

    def corrupt(problem: str) -> CorruptSessionError:
        return CorruptSessionError(
            f"Stored {describe(session_id, table_name)} is corrupt: page {ref.id!r} "
            f"{problem}. Fix: {_REPAIR}.",
            session_id=session_id,
            table_name=table_name,
        )

    chunks: list[bytes] = []
    for raw in parts:
        value = raw.get(PAGE_SCHEMA.page_data)
        data = value.get("B") if isinstance(value, Mapping) else None
        if not isinstance(data, (bytes, bytearray)):
            raise corrupt(f"has a part without binary {PAGE_SCHEMA.page_data!r}")
        chunks.append(bytes(data))
    inflater = zlib.decompressobj()
    try:
        # Bounded by the size the index records: a hostile page cannot inflate past it.
        body = inflater.decompress(b"".join(chunks), ref.size + 1)
    except zlib.error:
        raise corrupt("does not decompress") from None
    if len(body) != ref.size or not inflater.eof:
        raise corrupt(f"decompresses to a size other than the {ref.size} bytes indexed")
    try:
        items = loads_conversation(body)
    except (ValueError, RecursionError):
        raise corrupt("is not valid JSON") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise corrupt("is not a JSON list of objects")
    if ref.start + ref.length > len(items):
        raise corrupt(f"holds {len(items)} items, fewer than its index entry uses")
    return items
