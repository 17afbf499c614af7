"""The stored session record, declared once.

`SessionRecord` is the single source of truth for the DynamoDB item: attribute
names, DynamoDB types, the partition key, the TTL attribute and the optimistic
locking version. The PynamoDB model, the CreateTable request and the codec in
this package are all derived from the `DynamoAttribute` metadata on its fields;
nothing else in the library spells an attribute name.

A team extends the record by subclassing it: fields with the roles
``"attribute"`` (set per session by the application) and ``"derived"`` (computed
from the conversation on every write), and global secondary indexes over them
(`GlobalIndex`). `schema_of` resolves and checks any such subclass.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "BY_OWNER_INDEX",
    "BY_PARENT_INDEX",
    "CATALOG_ROLES",
    "ITEM_SIZE_LIMIT",
    "MAX_KEY_BYTES",
    "PAGE_PREFIX",
    "PAGE_SCHEMA",
    "RECENT_WRITES_KEPT",
    "RESERVED_PREFIX",
    "SCHEMA",
    "SESSION_ROLES",
    "TEAM_ROLES",
    "TITLE_CHARS",
    "TITLE_MAX_CHARS",
    "DynamoAttribute",
    "GlobalIndex",
    "HistoryView",
    "PageIndex",
    "PageRecord",
    "PageRef",
    "PageSchema",
    "Schema",
    "SessionRecord",
    "schema_of",
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
    "attribute",
    "derived",
    "schema_version",
    "owner",
    "title",
    "metadata",
    "item_count",
    "history_size",
    "usage",
    "parent_id",
    "fork_index",
    "fork_turn",
    "turns",
]

SESSION_ROLES: tuple[str, ...] = (
    "partition_key",
    "payload",
    "version",
    "ttl",
    "write_log",
    "pages",
    "created_at",
    "item_count",
    "history_size",
)
"""Roles whose attributes every session write computes itself. Every other
attribute of a stored head is carried over by a write unless the session sets it."""

CATALOG_ROLES: tuple[str, ...] = ("owner", "title", "metadata")
"""Core roles the application sets per session (``owner=``, ``title=``,
``metadata=``, `SessionStore.set_attributes` for title and metadata,
`SessionStore.transfer_owner` for the owner), like a team's plain attributes."""

TITLE_CHARS = 80
"""Characters of the first user message kept as an automatic title."""

TITLE_MAX_CHARS = 1024
"""Longest title a session may have."""

TEAM_ROLES: tuple[str, ...] = ("attribute", "derived")
"""Roles a team gives its own fields; unlike the others, several fields may have one."""

ConversationItem = dict[str, JsonValue]


class HistoryView:
    """What a ``derive`` function sees: the conversation as the write stores it.

    Attributes:
        session_id: The session.
        items: The newest conversation items, oldest first. While the session
            fits in one item that is the whole history; once it is paged, it is
            the items the head keeps, or, on a write that seals them into a page,
            the items it sealed (possibly none, e.g. after pops reached into the
            pages). Use `count` and `size` for the
            whole history. Parsed on first access only, so a write whose derive
            functions look at `count` and `size` alone never parses the history.
        count: Items in the whole history, pages included.
        size: Uncompressed JSON bytes of the whole history, pages included, as
            counted against ``max_session_bytes``.
        paged: Whether older items live in history pages.
    """

    __slots__ = ("_items", "_items_json", "count", "paged", "session_id", "size")

    def __init__(
        self,
        session_id: str,
        items: tuple[ConversationItem, ...] | None = None,
        count: int = 0,
        size: int = 0,
        paged: bool = False,
        *,
        items_json: str | None = None,
    ) -> None:
        self.session_id = session_id
        self._items = items
        self._items_json = items_json
        self.count = count
        self.size = size
        self.paged = paged

    @property
    def items(self) -> tuple[ConversationItem, ...]:
        """The head's items, parsed from the stored JSON on first access."""
        if self._items is None:
            self._items = tuple(json.loads(self._items_json or "[]"))
        return self._items

    def __repr__(self) -> str:
        return (
            f"HistoryView(session_id={self.session_id!r}, count={self.count}, "
            f"size={self.size}, paged={self.paged})"
        )


@dataclass(frozen=True)
class DynamoAttribute:
    """Field metadata: how one record field is stored in DynamoDB.

    Attributes:
        type: The DynamoDB attribute type.
        role: What the library uses the attribute for. A team's own fields use
            ``"attribute"`` (set per session by the application, through
            ``attributes=`` or `SessionStore.set_attributes`) or ``"derived"``
            (computed by `derive` on every write).
        json: The value is stored as a JSON-encoded string.
        derive: For role ``"derived"`` only (and required there): computes the
            value from the `HistoryView` of the state a write stores; None means
            the attribute is absent. It must be a pure function: it may run more
            than once per write (e.g. again after a conflict).

    Raises:
        TypeError: `derive` is missing for a derived field or given for another role.
    """

    type: DynamoType
    role: Role
    json: bool = False
    derive: Callable[[HistoryView], Any] | None = None

    def __post_init__(self) -> None:
        if self.role == "derived" and not callable(self.derive):
            raise TypeError(
                "a DynamoAttribute with role 'derived' needs derive=<a function of "
                f"HistoryView>, got {type(self.derive).__name__}. In a class body a field "
                "hides a function of the same name (last_role: ... derive=last_role): give "
                "the function another name, e.g. last_role_of."
            )
        if self.role != "derived" and self.derive is not None:
            raise TypeError(f"derive= is only for role 'derived', not {self.role!r}")
        if self.json and self.type != "S":
            raise TypeError(f"json=True needs type 'S', not {self.type!r}")


_INDEX_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


@dataclass(frozen=True)
class GlobalIndex:
    """A global secondary index a team declares on its `SessionRecord` subclass.

    Declared in the record's ``indexes`` class variable; the CreateTable request,
    `global_index_request` and the PynamoDB model include it.

    Attributes:
        name: The index name (3 to 255 of ``A-Z a-z 0-9 _ . -``).
        partition_key: A declared field of scalar type S, N or B.
        sort_key: A declared field of scalar type S, N or B, or None.
        projection: ``"ALL"``, ``"KEYS_ONLY"``, or a tuple of attribute names
            projected besides the keys (DynamoDB's ``INCLUDE``).
    """

    name: str
    partition_key: str
    sort_key: str | None = None
    projection: Literal["ALL", "KEYS_ONLY"] | tuple[str, ...] = "ALL"


BY_OWNER_INDEX = GlobalIndex(
    name="sessions_by_owner",
    partition_key="owner",
    sort_key="updated_at",
    projection=("title", "created_at", "item_count", "history_size", "ttl"),
)
"""The library's own index: an owner's sessions, newest write first (`list_sessions`).

Sparse: only heads with an ``owner`` are in it. A clear's tombstone keeps its
owner (and nothing else of the catalog: no ``created_at``, ``item_count`` 0), so
`list_sessions` leaves it out. It projects what a session summary shows, and
``ttl`` so expired heads are skipped."""


BY_PARENT_INDEX = GlobalIndex(
    name="sessions_by_parent",
    partition_key="parent_id",
    sort_key="created_at",
    projection=(
        "owner",
        "title",
        "updated_at",
        "item_count",
        "history_size",
        "ttl",
        "fork_index",
        "fork_turn",
    ),
)
"""The library's lineage index: a session's forks, oldest first (`list_forks`).

Sparse: only heads written by `fork` carry a ``parent_id``. It projects what a
fork summary shows, and ``ttl`` so expired forks are skipped."""

LIBRARY_INDEXES: tuple[GlobalIndex, ...] = (BY_OWNER_INDEX, BY_PARENT_INDEX)
"""The indexes every session table has, whatever record a team declares."""


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

    A team subclasses it to add its own attributes (roles ``"attribute"`` and
    ``"derived"``, each with a default such as None) and global secondary indexes
    (the ``indexes`` class variable); see `schema_of`.

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
        owner: The user or tenant the session belongs to (S); the partition key
            of `BY_OWNER_INDEX`. Set by the application (``owner=``), enforced
            on every read and write through an object built with another owner
            (`OwnershipError`), moved only by ``transfer_owner``. A clear's
            tombstone keeps it (and drops every other catalog attribute), so a
            write landing on the tombstone stays the owner's.
        title: A short title (S), set by the application or, with
            ``auto_title=True``, taken from the first user message.
        metadata: A small map of the application's own (S, JSON).
        created_at: Unix time of the write that created the session (N): set
            once, and again by the first write after a clear or an expiry.
        item_count: Items in the whole history, pages included (N); kept by
            every write.
        history_size: Uncompressed JSON bytes of the whole history, pages
            included (N); kept by every write.
        usage: Token usage recorded by `store_run_usage` (S, JSON): per user
            turn, and the user-message counts of the pages it has seen. Absent
            until usage is stored; every write but a clear carries it over.
        parent_id: The session this one was forked from (S); the partition key
            of `BY_PARENT_INDEX`. Absent on a session that is not a fork.
        fork_index: How many of the parent's items the fork copied (N): the
            item index in the parent's history where the fork branches off.
        fork_turn: The user turn the fork branches at (N): one more than the
            user messages it copied (``turn=`` when the fork was cut by turn).
        turns: The turn lease and the recent turn keys (S, JSON) that
            ``session.turn()`` keeps (see ``turns.py``). Absent until a turn
            runs; a write outside a turn drops an expired lease and keeps the keys.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    indexes: ClassVar[tuple[GlobalIndex, ...]] = LIBRARY_INDEXES
    """Global secondary indexes: the library's `LIBRARY_INDEXES`, plus those a
    subclass declares (a subclass's ``indexes`` add to the library's, they never
    replace it)."""

    session_id: Annotated[str, DynamoAttribute("S", "partition_key"), Field(min_length=1)]
    conversation_data: Annotated[
        list[ConversationItem], DynamoAttribute("S", "payload", json=True)
    ] = Field(default_factory=list)
    updated_at: Annotated[Decimal, DynamoAttribute("N", "version")]
    ttl: Annotated[int | None, DynamoAttribute("N", "ttl")] = None
    recent_writes: Annotated[frozenset[Decimal], DynamoAttribute("NS", "write_log")] = frozenset()
    pages: Annotated[PageIndex | None, DynamoAttribute("S", "pages", json=True)] = None
    schema_version: Annotated[frozenset[str], DynamoAttribute("SS", "schema_version")] = frozenset()
    owner: Annotated[str | None, DynamoAttribute("S", "owner")] = None
    title: Annotated[
        str | None, DynamoAttribute("S", "title"), Field(max_length=TITLE_MAX_CHARS)
    ] = None
    metadata: Annotated[
        dict[str, JsonValue] | None, DynamoAttribute("S", "metadata", json=True)
    ] = None
    created_at: Annotated[Decimal | None, DynamoAttribute("N", "created_at")] = None
    item_count: Annotated[int | None, DynamoAttribute("N", "item_count")] = None
    history_size: Annotated[int | None, DynamoAttribute("N", "history_size")] = None
    usage: Annotated[dict[str, Any] | None, DynamoAttribute("S", "usage", json=True)] = None
    parent_id: Annotated[str | None, DynamoAttribute("S", "parent_id")] = None
    fork_index: Annotated[int | None, DynamoAttribute("N", "fork_index"), Field(ge=0)] = None
    fork_turn: Annotated[int | None, DynamoAttribute("N", "fork_turn"), Field(ge=1)] = None
    turns: Annotated[dict[str, JsonValue] | None, DynamoAttribute("S", "turns", json=True)] = None

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
    if not getattr(model, "__pydantic_complete__", True):
        # Postponed annotations pydantic could not resolve yet carry no metadata.
        raise TypeError(
            f"{model.__name__} is not fully defined: pydantic could not resolve its "
            "annotations (a name it uses is not importable from its module). Fix: define "
            f"it at module level, or call {model.__name__}.model_rebuild() once every name exists"
        )
    attributes: dict[str, DynamoAttribute] = {}
    for name, info in model.model_fields.items():
        found = [m for m in info.metadata if isinstance(m, DynamoAttribute)]
        if len(found) != 1:
            raise TypeError(f"field {name!r} needs exactly one DynamoAttribute")
        attributes[name] = found[0]
    by_role: dict[str, str] = {}
    for name, attribute in attributes.items():
        if attribute.role in TEAM_ROLES:
            if model.model_fields[name].is_required():
                raise TypeError(
                    f"{model.__name__}.{name} needs a default (e.g. = None): items written "
                    "before it was declared, and cleared sessions, do not have it"
                )
            continue
        if attribute.role in by_role:
            raise TypeError(f"role {attribute.role!r} is declared twice")
        by_role[attribute.role] = name
    return attributes, by_role


def _check_indexes(
    model: type[BaseModel], attributes: dict[str, DynamoAttribute], indexes: Any
) -> tuple[GlobalIndex, ...]:
    owner = model.__name__
    if not isinstance(indexes, tuple) or not all(isinstance(i, GlobalIndex) for i in indexes):
        raise TypeError(f"{owner}.indexes must be a tuple of GlobalIndex")
    seen: set[str] = set()
    for index in indexes:
        where = f"index {index.name!r} of {owner}"
        if not isinstance(index.name, str) or not _INDEX_NAME.fullmatch(index.name):
            raise TypeError(f"{where}: a name needs 3 to 255 of A-Z a-z 0-9 _ . -")
        if index.name in seen:
            raise TypeError(f"{where} is declared twice")
        if index.name in attributes:
            raise TypeError(f"{where} has the name of a field")
        seen.add(index.name)
        keys = [("partition_key", index.partition_key)]
        if index.sort_key is not None:
            keys.append(("sort_key", index.sort_key))
        for kind, key in keys:
            spec = attributes.get(key)
            if spec is None:
                raise TypeError(f"{where}: {kind} {key!r} is not a declared field")
            if spec.type not in ("S", "N", "B"):
                raise TypeError(
                    f"{where}: {kind} {key!r} has type {spec.type!r}; index keys need S, N or B"
                )
        if index.sort_key == index.partition_key:
            raise TypeError(f"{where}: the sort key repeats the partition key")
        projection = index.projection
        if isinstance(projection, tuple):
            unknown = [n for n in projection if n not in attributes]
            if not projection or unknown:
                raise TypeError(
                    f"{where}: an INCLUDE projection names declared fields, got unknown {unknown}"
                )
        elif projection not in ("ALL", "KEYS_ONLY"):
            raise TypeError(f"{where}: projection must be 'ALL', 'KEYS_ONLY' or a tuple of names")
    return indexes


@dataclass(frozen=True)
class Schema:
    """Attribute names by role, read off a `SessionRecord` (sub)class's field metadata.

    Attributes:
        attributes: Every declared attribute, the team's included.
        partition_key: The key attribute.
        payload: The conversation items (JSON).
        version: The optimistic-locking version.
        ttl: The expiry.
        write_log: The versions of the last writes.
        pages: The page index (JSON).
        plain: The team's ``"attribute"`` fields: set per session by the application.
        derived: The team's ``"derived"`` fields: computed on every write.
        indexes: The global secondary indexes the record declares.
        record: The record class the schema was read from.
        computed: Names of the attributes every session write computes itself
            (the `SESSION_ROLES`); a write carries every other attribute of the
            stored head over unless it sets it.
    """

    attributes: dict[str, DynamoAttribute]
    partition_key: str
    payload: str
    version: str
    ttl: str
    write_log: str
    pages: str
    schema_version: str
    owner: str
    title: str
    metadata: str
    created_at: str
    item_count: str
    history_size: str
    usage: str
    parent_id: str
    fork_index: str
    fork_turn: str
    turns: str
    _: KW_ONLY
    plain: dict[str, DynamoAttribute] = field(default_factory=dict)
    derived: dict[str, DynamoAttribute] = field(default_factory=dict)
    indexes: tuple[GlobalIndex, ...] = ()
    record: type[SessionRecord] = field(default_factory=lambda: SessionRecord)
    computed: frozenset[str] = frozenset()

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> Schema:
        """Collect the `DynamoAttribute` metadata of every field of `model`.

        Raises:
            TypeError: A field lacks metadata, a core role is declared twice, a team
                field has no default, an index is malformed, or `model` is not a
                `SessionRecord` class.
        """
        attributes, by_role = _attributes_by_role(model)
        if not issubclass(model, SessionRecord):
            raise TypeError(f"{model.__name__} is not SessionRecord or a subclass of it")
        own = getattr(model, "indexes", ())
        if isinstance(own, tuple):
            # A subclass's indexes add to the library's: the catalog needs its own.
            own = LIBRARY_INDEXES + tuple(i for i in own if i not in LIBRARY_INDEXES)
        indexes = _check_indexes(model, attributes, own)
        return cls(
            attributes=attributes,
            **by_role,
            plain={n: a for n, a in attributes.items() if a.role == "attribute"},
            derived={n: a for n, a in attributes.items() if a.role == "derived"},
            indexes=indexes,
            record=model,
            computed=frozenset(by_role[role] for role in SESSION_ROLES if role in by_role),
        )

    @property
    def team_indexes(self) -> tuple[GlobalIndex, ...]:
        """The indexes the team's subclass declares (the library's left out)."""
        return tuple(i for i in self.indexes if i not in LIBRARY_INDEXES)

    @property
    def catalog(self) -> dict[str, DynamoAttribute]:
        """The core attributes the application sets: owner, title, metadata."""
        return {getattr(self, role): self.attributes[getattr(self, role)] for role in CATALOG_ROLES}

    @property
    def settable(self) -> dict[str, DynamoAttribute]:
        """Every attribute `set_attributes` accepts: the catalog's and the team's plain ones."""
        return {**self.catalog, **self.plain}

    @property
    def team(self) -> dict[str, DynamoAttribute]:
        """The team's attributes: plain and derived."""
        return {**self.plain, **self.derived}

    def index(self, name: str) -> GlobalIndex:
        """The declared index called `name`.

        Raises:
            KeyError: No such index.
        """
        for index in self.indexes:
            if index.name == name:
                return index
        raise KeyError(f"{name!r} is not an index of {self.record!r}")


@functools.cache
def schema_of(record: type[SessionRecord]) -> Schema:
    """The resolved, checked schema of `SessionRecord` or a subclass of it (cached).

    Raises:
        TypeError: `record` is not a `SessionRecord` class, or its declaration is
            malformed (see `Schema.from_model`).
    """
    if not isinstance(record, type) or not issubclass(record, SessionRecord):
        raise TypeError(f"{record!r} is not SessionRecord or a subclass of it")
    return Schema.from_model(record)


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


SCHEMA = schema_of(SessionRecord)
"""The schema of the base `SessionRecord`, resolved once at import."""

PAGE_SCHEMA = PageSchema.from_model(PageRecord)
"""The schema of `PageRecord`, resolved once at import."""

if (PAGE_SCHEMA.partition_key, PAGE_SCHEMA.ttl) != (SCHEMA.partition_key, SCHEMA.ttl):
    raise TypeError("pages must share the session table's key and TTL attributes")
