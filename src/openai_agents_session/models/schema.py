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
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "ITEM_SIZE_LIMIT",
    "MAX_KEY_BYTES",
    "RECENT_WRITES_KEPT",
    "RESERVED_PREFIX",
    "SCHEMA",
    "DynamoAttribute",
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

RECENT_WRITES_KEPT = 16
"""How many recent write versions an item remembers, to recognise a write whose
response was lost even after other writers wrote on top of it."""

DynamoType = Literal["S", "N", "NS"]
Role = Literal["partition_key", "payload", "version", "ttl", "write_log"]


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


class SessionRecord(BaseModel):
    """One session, as stored: the spec's four attributes plus the write log.

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
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: Annotated[str, DynamoAttribute("S", "partition_key"), Field(min_length=1)]
    conversation_data: Annotated[
        list[ConversationItem], DynamoAttribute("S", "payload", json=True)
    ] = Field(default_factory=list)
    updated_at: Annotated[Decimal, DynamoAttribute("N", "version")]
    ttl: Annotated[int | None, DynamoAttribute("N", "ttl")] = None
    recent_writes: Annotated[frozenset[Decimal], DynamoAttribute("NS", "write_log")] = frozenset()

    @property
    def items(self) -> list[ConversationItem]:
        """The conversation items, oldest first."""
        return self.conversation_data

    def is_expired(self, now: float) -> bool:
        """Whether the TTL has passed at Unix time `now` (DynamoDB may not have deleted it yet)."""
        return self.ttl is not None and self.ttl <= now


@dataclass(frozen=True)
class Schema:
    """Attribute names by role, read off `SessionRecord`'s field metadata."""

    attributes: dict[str, DynamoAttribute]
    partition_key: str
    payload: str
    version: str
    ttl: str
    write_log: str

    @classmethod
    def from_model(cls, model: type[BaseModel]) -> Schema:
        """Collect the `DynamoAttribute` metadata of every field of `model`."""
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
        return cls(attributes=attributes, **by_role)


SCHEMA = Schema.from_model(SessionRecord)
"""The schema of `SessionRecord`, resolved once at import."""
