"""The stored session record, declared once.

`SessionRecord` is the single source of truth for the DynamoDB item: attribute
names, DynamoDB types, the partition key, the TTL attribute and the optimistic
locking version. The PynamoDB model, the CreateTable request and the codec in
this package are all derived from the `DynamoAttribute` metadata on its fields;
nothing else in the library spells an attribute name.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "ITEM_SIZE_LIMIT",
    "MAX_KEY_BYTES",
    "PAGE_PREFIX",
    "PAGE_SCHEMA",
    "RECENT_WRITES_KEPT",
    "RESERVED_PREFIX",
    "SCHEMA",
    "DynamoAttribute",
    "PageIndex",
    "PageRecord",
    "PageRef",
    "PageSchema",
    "Schema",
    "SessionRecord",
]

ITEM_SIZE_LIMIT = 400 * 1024
"""DynamoDB's maximum item size in bytes (attribute names plus values)."""

MAX_KEY_BYTES = 2048
"""DynamoDB's maximum size of a partition key value, in UTF-8 bytes."""

RESERVED_PREFIX = "__oas__#"
"""Session ids starting with this are reserved for the library's own items
(migration ledger, lock, checkpoints) in the same table."""

PAGE_PREFIX = f"{RESERVED_PREFIX}page#"
"""Partition keys of history pages start with this (see `PageRecord`)."""

RECENT_WRITES_KEPT = 16
"""How many recent write versions an item remembers, to recognise a write whose
response was lost even after other writers wrote on top of it."""

DynamoType = Literal["S", "N", "NS", "SS", "B"]
Role = Literal[
    "partition_key",
    "payload",
    "version",
    "ttl",
    "write_log",
    "pages",
    "page_of",
    "page_data",
    "created_at",
    "schema_version",
]


@dataclass(frozen=True)
class DynamoAttribute:
    """Field metadata: how one record field is stored in DynamoDB.

    Attributes:
        type: The DynamoDB attribute type.
        role: What the library uses the attribute for.
        json: The value is stored as a JSON-encoded string.
    """

    type: DynamoType
    role: Role
    json: bool = False


ConversationItem = dict[str, JsonValue]


class PageRef(NamedTuple):
    """One entry of a head's page index: a view of one immutable page.

    A page holds a run of older conversation items as compressed JSON, split
    into `parts` DynamoDB items when it is larger than one item can be. The
    history uses ``items[start:start + length]`` of it: pops shrink `length` and
    trimming raises `start`, so neither ever rewrites a page.

    Attributes:
        id: Random id, fresh for every page written (the page's key derives from it).
        parts: Number of DynamoDB items the compressed page is split into.
        start: First item of the page that belongs to the history.
        length: Number of items of the page that belong to the history.
        size: Uncompressed JSON bytes of the whole page.
    """

    id: str
    parts: int
    start: int
    length: int
    size: int


class PageIndex(BaseModel):
    """The index of a paged session's older history, kept in its head item.

    Attributes:
        ttl: The expiry every listed page carries (None: the pages never expire).
            Always later than the head's own ``ttl``, so pages outlive their head.
        pages: The pages, oldest first.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ttl: int | None = None
    pages: tuple[PageRef, ...] = ()

    @property
    def count(self) -> int:
        """Conversation items held in pages."""
        return sum(ref.length for ref in self.pages)

    @property
    def size(self) -> int:
        """Uncompressed bytes of the listed pages."""
        return sum(ref.size for ref in self.pages)


class SessionRecord(BaseModel):
    """One session's head item, as stored: the spec's four attributes plus the library's own.

    A session that fits in one item is exactly this with `pages` absent. Past the
    page threshold, older items move into `PageRecord` items and `pages` indexes
    them; `conversation_data` then holds only the newest items.

    Attributes:
        session_id: Partition key (S).
        conversation_data: The items, oldest first; stored as a JSON string (S).
        updated_at: Unix timestamp of the last write (N), sub-second with a random
            tail so that each write's value is unique; the optimistic-locking version.
        ttl: Expiry as Unix seconds (N), the table's TTL attribute; absent when the
            session does not expire.
        recent_writes: `updated_at` values of the last writes (NS). Not in the
            user's spec: it lets a writer whose response was lost recognise its
            own write after others wrote on top of it.
        pages: Index of the pages holding older history (S, JSON); absent while
            the session fits in one item.
        schema_version: The backfills applied to this item (SS), each by its id:
            ``"<revision>"``, or ``"<revision>:<name>"`` for a named one. A set of
            ids rather than one number, because the library's migrations and a
            team's are independent chains. A backfill adds its id in the same
            write that changes the item and skips items that already carry it,
            which is what makes it apply exactly once. Absent (empty) until a
            backfill changes the item; session writes carry it over unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: Annotated[str, DynamoAttribute("S", "partition_key"), Field(min_length=1)]
    conversation_data: Annotated[
        list[ConversationItem], DynamoAttribute("S", "payload", json=True)
    ] = Field(default_factory=list)
    updated_at: Annotated[Decimal, DynamoAttribute("N", "version")]
    ttl: Annotated[int | None, DynamoAttribute("N", "ttl")] = None
    recent_writes: Annotated[frozenset[Decimal], DynamoAttribute("NS", "write_log")] = frozenset()
    pages: Annotated[PageIndex | None, DynamoAttribute("S", "pages", json=True)] = None
    schema_version: Annotated[frozenset[str], DynamoAttribute("SS", "schema_version")] = frozenset()

    @property
    def items(self) -> list[ConversationItem]:
        """The conversation items, oldest first."""
        return self.conversation_data

    def is_expired(self, now: float) -> bool:
        """Whether the TTL has passed at Unix time `now` (DynamoDB may not have deleted it yet)."""
        return self.ttl is not None and self.ttl <= now


class PageRecord(BaseModel):
    """One stored part of a history page: immutable once written.

    Pages share the session table and its key attribute; their keys start with
    `PAGE_PREFIX`, so no session id can collide with them.

    Attributes:
        session_id: Partition key: ``__oas__#page#<session id>#<page id>#<part>``
            (a hash replaces the session id when the key would pass 2048 bytes).
        page_of: The session whose history this page belongs to.
        page_data: This part of the zlib-compressed JSON list of the page's items (B).
        ttl: Expiry (N); at or after the head's, so a live head never points at
            an expired page. Absent when the session does not expire.
        created_at: Unix time the page was written (N); garbage collection
            leaves unreferenced pages younger than its grace period alone.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: Annotated[str, DynamoAttribute("S", "partition_key"), Field(min_length=1)]
    page_of: Annotated[str, DynamoAttribute("S", "page_of"), Field(min_length=1)]
    page_data: Annotated[bytes, DynamoAttribute("B", "page_data")]
    ttl: Annotated[int | None, DynamoAttribute("N", "ttl")] = None
    created_at: Annotated[Decimal, DynamoAttribute("N", "created_at")]


def _attributes_by_role(
    model: type[BaseModel],
) -> tuple[dict[str, DynamoAttribute], dict[str, str]]:
    attributes: dict[str, DynamoAttribute] = {}
    for name, info in model.model_fields.items():
        found = [m for m in info.metadata if isinstance(m, DynamoAttribute)]
        if len(found) != 1:
            raise TypeError(f"field {name!r} needs exactly one DynamoAttribute")
        attributes[name] = found[0]
    by_role: dict[str, str] = {}
    for name, attribute in attributes.items():
        if attribute.role in by_role:
            raise TypeError(f"role {attribute.role!r} is declared twice")
        by_role[attribute.role] = name
    return attributes, by_role


@dataclass(frozen=True)
class Schema:
    """Attribute names by role, read off `SessionRecord`'s field metadata."""

    attributes: dict[str, DynamoAttribute]
    partition_key: str
    payload: str
    version: str
    ttl: str
    write_log: str
    pages: str
    schema_version: str

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> Schema:
        """Collect the `DynamoAttribute` metadata of every field of `model`."""
        attributes, by_role = _attributes_by_role(model)
        return cls(attributes=attributes, **by_role)


@dataclass(frozen=True)
class PageSchema:
    """Attribute names by role, read off `PageRecord`'s field metadata."""

    attributes: dict[str, DynamoAttribute]
    partition_key: str
    page_of: str
    page_data: str
    ttl: str
    created_at: str

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> PageSchema:
        """Collect the `DynamoAttribute` metadata of every field of `model`."""
        attributes, by_role = _attributes_by_role(model)
        return cls(attributes=attributes, **by_role)


SCHEMA = Schema.from_model(SessionRecord)
"""The schema of `SessionRecord`, resolved once at import."""

PAGE_SCHEMA = PageSchema.from_model(PageRecord)
"""The schema of `PageRecord`, resolved once at import."""

if (PAGE_SCHEMA.partition_key, PAGE_SCHEMA.ttl) != (SCHEMA.partition_key, SCHEMA.ttl):
    raise TypeError("pages must share the session table's key and TTL attributes")
