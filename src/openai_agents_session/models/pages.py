"""History pages: immutable items that hold a paged session's older items.

A page is a run of conversation items, encoded as a compact JSON list,
compressed with zlib and split into parts small enough for one DynamoDB item
each. Its parts live in the session table under `PAGE_PREFIX` keys; nothing
points at a page until a head item that lists it (`PageIndex`) is committed,
so writing a page is idempotent and a crash before the commit leaves only an
unreferenced page behind. The attribute names come from `PageRecord`.

A **composite** page (an index entry with ``parts == 0``) holds no items of its
own: its one item lists other pages (its *members*, as index entries), and its
items are the members' views, in order. Older segments are folded into
composites instead of being rewritten, so that each byte of history is written
once (see docs/history-pages.md, "Folding").
"""

from __future__ import annotations

import hashlib
import json
import re
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
    ITEM_SIZE_LIMIT,
    MAX_KEY_BYTES,
    PAGE_PREFIX,
    PAGE_SCHEMA,
    ConversationItem,
    PageIndex,
    PageRef,
)

__all__ = [
    "COMPOSITE",
    "DEFAULT_MAX_SESSION_BYTES",
    "MAX_INDEX_BYTES",
    "MAX_MEMBERS",
    "MAX_PAGES",
    "PART_BYTES",
    "check_index",
    "decode_index",
    "decode_members",
    "decode_page",
    "encode_composite",
    "encode_index",
    "encode_page",
    "is_composite",
    "max_compressed",
    "max_parts",
    "new_page_id",
    "page_key",
    "part_keys",
]

PART_BYTES = 380_000
"""Compressed bytes per page part: one part plus its key and attributes stays
under DynamoDB's 400 KB item limit even with a 2 KB partition key."""

DEFAULT_MAX_SESSION_BYTES = 64 * 1024 * 1024
"""Default cap on a session's history: uncompressed JSON bytes, pages included."""

MAX_INDEX_BYTES = ITEM_SIZE_LIMIT // 2
"""The largest page index a write makes: a seal that would pass half of the page
threshold (itself at most DynamoDB's item limit) is refused."""

# The shortest index entry a write makes (a 16-hex-digit id, one part, one
# item), and the index around its entries.
_MIN_ENTRY = len('["0123456789abcdef",1,0,1,4],')
_ENVELOPE = len('{"ttl":null,"pages":[]}') - 1

MAX_PAGES = (MAX_INDEX_BYTES - _ENVELOPE) // _MIN_ENTRY
"""The most pages a head can list: only a seal adds pages, and it keeps the index
under `MAX_INDEX_BYTES`; pops and trims only remove entries."""

COMPOSITE = 0
"""The ``parts`` of an index entry that points at a composite page (a list of pages)."""

MAX_MEMBERS = 32
"""The most pages one composite lists (a fold takes `MERGE_FANOUT`, 16, at a time)."""

# A composite's member list: at most MAX_MEMBERS entries of at most this many
# characters each (a 16-digit id and four numbers below 2**31).
_MAX_MEMBER_TEXT = MAX_MEMBERS * len('["0123456789abcdef",999,2147483647,2147483647,2147483647],')

_ZLIB_LEVEL = 6
# Bytes inflated per step: the output grows in slices, never in one jump.
_SLICE = 1024 * 1024
_PAGE_ID = re.compile(r"[0-9a-f]{16}")
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


def max_parts(size: int) -> int:
    """The most parts a page of `size` uncompressed bytes can be split into.

    zlib never compresses `size` bytes into more than its ``compressBound``
    (deflate's stored blocks plus the wrapper), and parts are `PART_BYTES` each.
    """
    return max(1, -(-_compress_bound(size) // PART_BYTES))


def max_compressed(ref: PageRef) -> int:
    """The most compressed bytes the parts of the page `ref` points at can hold.

    A page whose parts hold more is refused as corrupt when it is decoded.
    """
    if is_composite(ref):
        return _MAX_MEMBER_TEXT
    return min(ref.parts * PART_BYTES, _compress_bound(ref.size))


def _compress_bound(size: int) -> int:
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 13


def is_composite(ref: PageRef) -> bool:
    """Whether `ref` points at a composite page (a list of other pages)."""
    return ref.parts == COMPOSITE


def part_keys(session_id: str, ref: PageRef) -> list[str]:
    """The keys of the items `ref` itself points at, in order.

    A composite's is its one item; its members' keys come from its member list.
    """
    return [page_key(session_id, ref.id, part) for part in range(max(ref.parts, 1))]


def encode_index(index: PageIndex | None) -> str | None:
    """The head's ``pages`` attribute value; None when there are no pages."""
    if index is None or not index.pages:
        return None
    return index.model_dump_json()


def decode_index(
    text: str | None,
    *,
    session_id: str | None,
    table_name: str | None,
    max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
) -> PageIndex | None:
    """Parse a head's ``pages`` attribute and check it (`check_index`).

    Raises:
        CorruptSessionError: It is not a valid page index, or not one that a
            session capped at `max_session_bytes` can have.
    """
    if text is None:
        return None
    if len(text) > MAX_INDEX_BYTES:
        raise _impossible(
            session_id,
            table_name,
            f"its page index is {len(text):,} characters; no write makes one past "
            f"{MAX_INDEX_BYTES:,}",
        )
    try:
        index = PageIndex.model_validate_json(text)
    except (ValidationError, ValueError, RecursionError) as exc:
        raise CorruptSessionError(
            f"Stored {describe(session_id, table_name)} is corrupt: its page index is "
            f"unreadable ({type(exc).__name__}). Fix: {_REPAIR}.",
            session_id=session_id,
            table_name=table_name,
        ) from None
    return check_index(
        index, session_id=session_id, table_name=table_name, max_session_bytes=max_session_bytes
    )


def check_index(
    index: PageIndex,
    *,
    session_id: str | None,
    table_name: str | None,
    max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
) -> PageIndex:
    """Check a page index against what a session capped at `max_session_bytes` can hold.

    Every reader of an index (the session, `sessions gc`, `sessions list
    --check-pages`, the erase) checks it here before it builds a key list or a
    buffer from it, so that no stored index, however hostile, costs more than
    the cap allows: at most `MAX_PAGES` pages, each a well-formed unique id
    with ``1 <= parts <= max_parts(size)``, a view (``start``, ``length``) that
    fits in the items `size` bytes can hold, and sizes that add up to at most
    `max_session_bytes`.

    Returns:
        The index, unchanged.

    Raises:
        CorruptSessionError: The index is impossible under those limits (the
            message names the first problem found, never stored content).
    """

    def impossible(problem: str) -> CorruptSessionError:
        return _impossible(session_id, table_name, problem)

    if len(index.pages) > MAX_PAGES:
        raise impossible(f"its index lists {len(index.pages):,} pages; at most {MAX_PAGES:,} fit")
    seen: set[str] = set()
    total = 0
    for number, ref in enumerate(index.pages):
        if not _PAGE_ID.fullmatch(ref.id):
            raise impossible(f"index entry {number} has a malformed page id")
        if ref.id in seen:
            raise impossible(f"page {ref.id!r} is listed twice")
        seen.add(ref.id)
        # Each item is at least "{}" and a comma, inside the list's brackets.
        if (
            ref.parts < COMPOSITE
            or ref.length < 1
            or ref.start < 0
            or 3 * (ref.start + ref.length) + 1 > ref.size
        ):
            raise impossible(f"page {ref.id!r} has an impossible entry in its index")
        if ref.size > max_session_bytes:
            raise impossible(
                f"page {ref.id!r} claims {ref.size:,} bytes, past max_session_bytes "
                f"({max_session_bytes:,})"
            )
        if not is_composite(ref) and ref.parts > max_parts(ref.size):
            raise impossible(
                f"page {ref.id!r} claims {ref.parts:,} parts; {ref.size:,} bytes never "
                f"need more than {max_parts(ref.size)}"
            )
        total += ref.size
    if total > max_session_bytes:
        raise impossible(
            f"its pages claim {total:,} bytes of history, past max_session_bytes "
            f"({max_session_bytes:,}); if it was written with a larger cap, open it with that"
        )
    return index


def encode_composite(
    session_id: str,
    page_id: str,
    members: Sequence[PageRef],
    *,
    ttl: int | None,
    created_at: Decimal,
) -> tuple[PageRef, dict[str, Any]]:
    """A composite page listing `members` (plain pages, as the index lists them).

    Its items are the members' views in order, and its size is theirs together,
    so the entry it gets behaves in the index like a page of those items.

    Returns:
        The index entry for the composite and the attribute-value map of its item.
    """
    body = json.dumps([list(m) for m in members], separators=(",", ":")).encode()
    values: dict[str, Any] = {
        PAGE_SCHEMA.partition_key: page_key(session_id, page_id, 0),
        PAGE_SCHEMA.page_of: session_id,
        PAGE_SCHEMA.page_data: body,
        PAGE_SCHEMA.ttl: ttl,
        PAGE_SCHEMA.created_at: created_at,
    }
    ref = PageRef(
        page_id, COMPOSITE, 0, sum(m.length for m in members), sum(m.size for m in members)
    )
    return ref, encode_values(PAGE_SCHEMA.attributes, values)


def decode_members(
    ref: PageRef,
    raw: Mapping[str, Any],
    *,
    session_id: str,
    table_name: str | None,
    max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
) -> tuple[PageRef, ...]:
    """The member list of the composite `ref` points at, checked before it is used.

    The members are checked like a head's index (`check_index`), and besides:
    at most `MAX_MEMBERS`, each a plain page (composites never nest), none the
    composite itself, with sizes that add up to the composite's and views that
    hold every item the composite's entry uses.

    Raises:
        CorruptSessionError: The item is not a composite of this session that
            the entry can point at.
    """

    def corrupt(problem: str) -> CorruptSessionError:
        return _impossible(session_id, table_name, f"composite page {ref.id!r} {problem}")

    if raw.get(PAGE_SCHEMA.page_of) != {"S": session_id}:
        raise corrupt("belongs to another session")
    value = raw.get(PAGE_SCHEMA.page_data)
    data = value.get("B") if isinstance(value, Mapping) else None
    if not isinstance(data, (bytes, bytearray)) or len(data) > _MAX_MEMBER_TEXT:
        raise corrupt(f"has no member list of at most {_MAX_MEMBER_TEXT:,} bytes")
    try:
        index = PageIndex.model_validate({"pages": json.loads(data)})
    except (ValidationError, ValueError, RecursionError, TypeError):
        raise corrupt("has an unreadable member list") from None
    members = index.pages
    if not 1 <= len(members) <= MAX_MEMBERS:
        raise corrupt(f"lists {len(members)} pages; it holds 1 to {MAX_MEMBERS}")
    check_index(
        index, session_id=session_id, table_name=table_name, max_session_bytes=max_session_bytes
    )
    if any(is_composite(m) or m.id == ref.id for m in members):
        raise corrupt("lists a composite page")
    if sum(m.size for m in members) != ref.size:
        raise corrupt(f"does not add up to the {ref.size} bytes its entry claims")
    if sum(m.length for m in members) < ref.start + ref.length:
        raise corrupt("holds fewer items than its entry uses")
    return members


def _impossible(
    session_id: str | None, table_name: str | None, problem: str
) -> CorruptSessionError:
    return CorruptSessionError(
        f"Stored {describe(session_id, table_name)} is corrupt: {problem}. Fix: {_REPAIR}; "
        "clear_session() removes it.",
        session_id=session_id,
        table_name=table_name,
    )


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


def _items(
    ref: PageRef, parts: Iterable[Mapping[str, Any]], session_id: str
) -> list[ConversationItem] | str:
    """The page's items, or what is wrong with it.

    Problems are returned, not raised: a raised error's traceback would keep
    this frame, and so its buffers of up to the session cap, alive for as long
    as the error is.
    """
    # Inflate part by part, a slice at a time, never past the size the index
    # records (which `check_index` has held to the session cap): a hostile page
    # cannot make this hold more than that, whatever its parts claim.
    inflater = zlib.decompressobj()
    body = bytearray()
    taken = 0
    for raw in parts:
        if raw.get(PAGE_SCHEMA.page_of) != {"S": session_id}:
            return "has a part that belongs to another session"
        value = raw.get(PAGE_SCHEMA.page_data)
        data = value.get("B") if isinstance(value, Mapping) else None
        if not isinstance(data, (bytes, bytearray)):
            return f"has a part without binary {PAGE_SCHEMA.page_data!r}"
        taken += len(data)
        if len(data) > PART_BYTES or taken > _compress_bound(ref.size):
            return f"holds more compressed bytes than {ref.size} bytes ever need"
        pending = bytes(data)
        while pending and len(body) <= ref.size:
            try:
                body += inflater.decompress(pending, min(_SLICE, ref.size + 1 - len(body)))
            except zlib.error:
                return "does not decompress"
            pending = inflater.unconsumed_tail
    if len(body) != ref.size or not inflater.eof or inflater.unused_data:
        return f"decompresses to a size other than the {ref.size} bytes indexed"
    # A page is written as a compact JSON list: anything else (a zero bomb,
    # say) is refused before the text is made from the bytes.
    if body[:1] != b"[" or body[-1:] != b"]":
        return "is not a JSON list"
    try:
        # Decode before parsing so that the bytes can go first: the text and
        # the items are then the most this holds at once.
        text = body.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return "is not valid JSON"
    del body
    try:
        items = loads_conversation(text)
    except (ValueError, RecursionError):
        return "is not valid JSON"
    del text
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return "is not a JSON list of objects"
    return items


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

    items = _items(ref, parts, session_id)
    if isinstance(items, str):
        raise corrupt(items)
    if ref.start + ref.length > len(items):
        raise corrupt(f"holds {len(items)} items, fewer than its index entry uses")
    return items
