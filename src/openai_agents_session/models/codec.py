"""Codec between session records and DynamoDB attribute-value maps.

Encoding and decoding go through the PynamoDB model derived from
`SessionRecord` (`Model.serialize()` / `Model.from_raw_data()`), so the wire
format is the schema's. The hot path keeps `conversation_data` as the JSON string
it will send (`StoredItem`), so an append does not re-encode the whole history.
Item sizes are computed by DynamoDB's rule, before anything is sent.

`schema_version` is declared (and type-checked on read) but the session never
changes it: it belongs to backfills, so `StoredItem` keeps it raw in `extra`
and every session write puts it back as it was read.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

from pydantic import ValidationError

from ..errors import CorruptSessionError, describe
from .attrs import decode_value, encode_values, number_text
from .jsontext import loads_conversation
from .pages import DEFAULT_MAX_SESSION_BYTES, decode_index, encode_index
from .schema import SCHEMA, ConversationItem, PageIndex, PageRef, SessionRecord, schema_of
from .team import decode_declared, encode_declared

__all__ = [
    "AttributeMap",
    "StoredItem",
    "decode_item",
    "decode_record",
    "dumps_item",
    "encode_item",
    "encode_key",
    "encode_record",
    "item_size",
    "next_version",
    "number_size",
    "write_condition",
]

AttributeMap = dict[str, dict[str, Any]]

_REPAIR = "read it with `openai-agents-session sessions show`, then repair or delete the item"


MAX_VERSION = Decimal("1e26")
"""Versions at or above this are corrupt: the next one (12 more digits) would pass
DynamoDB's 38 significant digits."""


def dumps_item(item: Any) -> str:
    """Canonical compact JSON of one conversation item (NaN and Infinity refused)."""
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class StoredItem:
    """One session item as the hot path keeps it.

    Attributes:
        session_id: Partition key.
        conversation_json: `conversation_data` exactly as stored (a JSON list).
        count: Number of items in the list.
        updated_at: The version this state carries.
        ttl: Expiry in Unix seconds, or None.
        recent_writes: Versions of the last writes (see `SessionRecord`).
        extra: Every stored attribute a session write does not compute itself
            (`Schema.computed`), raw: undeclared ones (e.g. added by a team
            migration), a team's declared ones, and `schema_version`. Carried
            over unchanged by every write (a clear's tombstone keeps only the owner) unless the
            write sets them.
        pages: Index of the pages holding older items; None while the session
            fits in one item.
        created_at: When the session was created (None: a tombstone, or a head
            written before the catalog attributes existed).
    """

    session_id: str
    conversation_json: str
    count: int
    updated_at: Decimal
    ttl: int | None
    recent_writes: frozenset[Decimal]
    extra: Mapping[str, Any] = field(default_factory=dict)
    pages: PageIndex | None = None
    created_at: Decimal | None = None
    # The parse made while decoding, handed out once by `items()` so a read does not
    # parse the history twice; None once taken (or when not kept).
    _parsed: list[ConversationItem] | None = field(default=None, compare=False, repr=False)

    def is_expired(self, now: float) -> bool:
        """Whether the TTL has passed at Unix time `now`."""
        return self.ttl is not None and self.ttl <= now

    def items(self) -> list[ConversationItem]:
        """Parse the conversation; fresh objects on every call."""
        kept = self._parsed
        if kept is not None:
            object.__setattr__(self, "_parsed", None)
            return kept
        parsed: list[ConversationItem] = json.loads(self.conversation_json)
        return parsed

    @property
    def page_refs(self) -> tuple[PageRef, ...]:
        """The page index entries, oldest first (empty while unpaged)."""
        return () if self.pages is None else self.pages.pages

    @property
    def total_count(self) -> int:
        """Items in the whole history: pages plus head."""
        return self.count + (0 if self.pages is None else self.pages.count)

    @property
    def total_size(self) -> int:
        """Uncompressed JSON bytes of the whole history (pages counted whole)."""
        pages = 0 if self.pages is None else self.pages.size
        return pages + len(self.conversation_json.encode("utf-8", "surrogatepass"))

    def applied(self, version: Decimal) -> bool:
        """Whether the write that produced `version` is part of this state's history."""
        return version == self.updated_at or version in self.recent_writes


def encode_item(
    session_id: str,
    conversation_json: str,
    updated_at: Decimal,
    ttl: int | None,
    recent_writes: frozenset[Decimal],
    *,
    extra: Mapping[str, Any] | None = None,
    pages: PageIndex | None = None,
    created_at: Decimal | None = None,
    count: int | None = None,
) -> AttributeMap:
    """Encode one session head item to the attribute-value map aiobotocore sends.

    `extra` holds the raw attribute values a session write does not compute
    (carried over, or a team's attributes); they are written as given, so that
    a session write never erases them. Without pages and extra attributes the
    item is the spec's single-item layout plus the catalog's counters.

    `count` is the number of items in `conversation_json` (counted by parsing
    when not given); the stored ``item_count`` and ``history_size`` cover the
    pages too.
    """
    if count is None:
        try:
            parsed = json.loads(conversation_json)
            count = len(parsed) if isinstance(parsed, list) else None
        except ValueError:
            count = None  # raw text for a repair or a test: no counters to keep
    pages_count = 0 if pages is None else pages.count
    pages_size = 0 if pages is None else pages.size
    values: dict[str, Any] = {
        SCHEMA.partition_key: session_id,
        SCHEMA.payload: conversation_json,
        SCHEMA.version: updated_at,
        SCHEMA.ttl: ttl,
        SCHEMA.write_log: recent_writes,
        SCHEMA.pages: encode_index(pages),
        SCHEMA.created_at: created_at,
        SCHEMA.item_count: None if count is None else count + pages_count,
        SCHEMA.history_size: None
        if count is None
        else pages_size + len(conversation_json.encode("utf-8", "surrogatepass")),
    }
    encoded: AttributeMap = encode_values(SCHEMA.attributes, values)
    if extra:
        encoded.update(extra)
    return encoded


def encode_record(record: SessionRecord) -> AttributeMap:
    """Encode a validated `SessionRecord` or subclass (conversation encoded canonically).

    A subclass's own declared attributes are encoded as they are on the record
    (derived ones are not recomputed).
    """
    conversation = "[" + ",".join(dumps_item(i) for i in record.conversation_data) + "]"
    return encode_item(
        record.session_id,
        conversation,
        record.updated_at,
        record.ttl,
        record.recent_writes,
        extra=encode_declared(schema_of(type(record)), record),  # schema_version included
        pages=record.pages,
        created_at=record.created_at,
        count=len(record.conversation_data),
    )


def decode_item(
    raw: Mapping[str, Any],
    *,
    table_name: str | None,
    keep_items: bool = False,
    max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
) -> StoredItem:
    """Decode and check an attribute-value map read from DynamoDB.

    With `keep_items`, the first `StoredItem.items()` call returns the parse made
    here instead of parsing again. The page index is checked against
    `max_session_bytes` (`check_index`).

    Raises:
        CorruptSessionError: The item does not follow the schema: a missing or
            mistyped attribute, or a `conversation_data` that is not a JSON list
            of objects.
    """
    session_id = _plain_string(raw.get(SCHEMA.partition_key))
    where = describe(session_id, table_name)

    def corrupt(problem: str) -> CorruptSessionError:
        return CorruptSessionError(
            f"Stored {where} is corrupt: {problem}. Fix: {_REPAIR}.",
            session_id=session_id,
            table_name=table_name,
        )

    decoded: dict[str, Any] = {}
    for name, spec in SCHEMA.attributes.items():
        value = raw.get(name)
        if value is None:
            continue
        if not isinstance(value, Mapping) or spec.type not in value:
            # Name the types found, never the stored text: it may be a user's content.
            found = "/".join(sorted(value)) if isinstance(value, Mapping) else "not a map"
            raise corrupt(f"attribute {name!r} should be of type {spec.type}, found {found}")
        try:
            decoded[name] = decode_value(spec, value)
        except ValueError as exc:
            raise corrupt(f"attribute {name!r} is unreadable ({exc})") from None
    conversation_json = decoded.get(SCHEMA.payload)
    version = decoded.get(SCHEMA.version)
    if conversation_json is None:
        raise corrupt(f"attribute {SCHEMA.payload!r} is missing")
    if version is None or not version.is_finite():
        raise corrupt(f"attribute {SCHEMA.version!r} is missing or not a number")
    if not 0 <= version < MAX_VERSION:
        raise corrupt(f"attribute {SCHEMA.version!r} is out of range (0 to {MAX_VERSION:.0E})")
    try:
        parsed = loads_conversation(conversation_json)
    except ValueError as exc:
        raise corrupt(f"{SCHEMA.payload!r} is not valid JSON ({exc})") from exc
    except RecursionError:
        raise corrupt(f"{SCHEMA.payload!r} is nested too deeply to parse") from None
    if not isinstance(parsed, list):
        raise corrupt(f"{SCHEMA.payload!r} is a JSON {type(parsed).__name__}, not a list")
    for index, item in enumerate(parsed):
        if not isinstance(item, dict):
            raise corrupt(f"item {index} of {SCHEMA.payload!r} is not a JSON object")
    ttl = decoded.get(SCHEMA.ttl)
    if ttl is not None and not ttl.is_finite():
        raise corrupt(f"attribute {SCHEMA.ttl!r} is not a finite number")
    return StoredItem(
        session_id=session_id or "",
        conversation_json=conversation_json.strip(),
        count=len(parsed),
        updated_at=version,
        ttl=None if ttl is None else int(ttl),
        recent_writes=decoded.get(SCHEMA.write_log) or frozenset(),
        extra={k: v for k, v in raw.items() if k not in SCHEMA.computed},
        pages=decode_index(
            decoded.get(SCHEMA.pages),
            session_id=session_id,
            table_name=table_name,
            max_session_bytes=max_session_bytes,
        ),
        created_at=decoded.get(SCHEMA.created_at),
        _parsed=parsed if keep_items else None,
    )


def decode_record(
    raw: Mapping[str, Any],
    *,
    table_name: str | None,
    record: type[SessionRecord] = SessionRecord,
    max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
) -> SessionRecord:
    """Decode an attribute-value map into a validated `record` (a `SessionRecord` class).

    Raises:
        CorruptSessionError: The item does not follow the schema, or an attribute
            the record declares does not validate as its field's type.
    """
    stored = decode_item(raw, table_name=table_name, max_session_bytes=max_session_bytes)
    schema = schema_of(record)
    declared = decode_declared(schema, raw, session_id=stored.session_id, table_name=table_name)
    try:
        return record(
            session_id=stored.session_id,
            conversation_data=stored.items(),
            updated_at=stored.updated_at,
            ttl=stored.ttl,
            recent_writes=stored.recent_writes,
            pages=stored.pages,
            created_at=stored.created_at,
            item_count=stored.total_count,
            history_size=stored.total_size,
            **declared,  # schema_version, owner, title, metadata, usage, the team's
        )
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise CorruptSessionError(
            f"Stored {describe(stored.session_id, table_name)} is corrupt: attribute(s) "
            f"{fields} do not validate as {record.__name__} declares them. Fix: rewrite them "
            "with set_attributes (or a backfill), or read the session with the record it "
            "was written with.",
            session_id=stored.session_id,
            table_name=table_name,
        ) from None


def _plain_string(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


def number_size(text: str) -> int:
    """Bytes DynamoDB counts for a number: 1 per two significant digits, plus 1."""
    digits = text.lstrip("+-").replace(".", "").lstrip("0").rstrip("0")
    return math.ceil(len(digits) / 2) + 1 if digits else 2


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, body),) = value.items()
    if kind == "S":
        return len(body.encode("utf-8", "surrogatepass"))
    if kind == "N":
        return number_size(body)
    if kind == "B":
        return len(body)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8", "surrogatepass")) for s in body)
    if kind == "NS":
        return sum(number_size(n) for n in body)
    if kind == "BS":
        return sum(len(b) for b in body)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in body)
    # "M": each entry costs its name, its value and one byte of overhead.
    return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(v) for k, v in body.items())


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size by DynamoDB's rule: UTF-8 bytes of attribute names plus values."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def next_version(seen: Decimal | None, now: float) -> Decimal:
    """A new `updated_at`: greater than `seen`, and unique to the write that uses it.

    Microseconds of wall clock, never below the seen version (writers' clocks
    differ), then six random digits, so two writers in the same microsecond
    still produce different values.
    """
    micros = int(now * 1_000_000)
    # Exact arithmetic: the default 28-digit context would round a large stored
    # version back to itself, and two writers would then both win.
    with localcontext() as exact:
        exact.prec = 80
        if seen is not None:
            micros = max(micros, int(seen.scaleb(6).to_integral_value(ROUND_FLOOR)) + 1)
        return Decimal(micros * 1_000_000 + secrets.randbelow(1_000_000)).scaleb(-12)


def encode_key(session_id: str) -> AttributeMap:
    """The primary-key map of a session item."""
    return {SCHEMA.partition_key: {"S": session_id}}


def write_condition(seen: Decimal | None, *, allow_absent: bool = False) -> dict[str, Any]:
    """The optimistic-locking condition of a write, as request keyword arguments.

    Args:
        seen: The version the writer last saw; None when it saw no item.
        allow_absent: Also succeed when the item is gone. Only safe when the new
            state does not carry the seen state's items (replacing an expired item).

    Returns:
        ``ConditionExpression``, ``ExpressionAttributeNames`` and
        ``ExpressionAttributeValues`` for aiobotocore.
    """
    absent = "attribute_not_exists (#k)"
    if seen is None:
        return {
            "ConditionExpression": absent,
            "ExpressionAttributeNames": {"#k": SCHEMA.partition_key},
        }
    expression = "#v = :v"
    names = {"#v": SCHEMA.version}
    if allow_absent:
        expression = f"({expression} OR {absent})"
        names["#k"] = SCHEMA.partition_key
    return {
        "ConditionExpression": expression,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": {":v": {"N": number_text(seen)}},
    }
