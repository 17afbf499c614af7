"""The session schema, declared once, and everything derived from it.

- `schema`: the Pydantic `SessionRecord` with per-field DynamoDB metadata, and
  `schema_of` for a team's subclass (its attributes and indexes).
- `table`: the PynamoDB model and the CreateTable / TTL requests.
- `requests`: the CreateTable, UpdateTable (index) and TTL requests.
- `team`: a team's attributes, validated, encoded and derived on each write.
- `codec`: attribute-value maps to and from records, and item sizes.
- `items`: validation of conversation items before they are written.
"""

from .codec import StoredItem, decode_item, decode_record, encode_item, encode_record, item_size
from .requests import create_table_request, global_index_request, ttl_specification
from .schema import (
    ITEM_SIZE_LIMIT,
    MAX_KEY_BYTES,
    RECENT_WRITES_KEPT,
    RESERVED_PREFIX,
    SCHEMA,
    DynamoAttribute,
    GlobalIndex,
    HistoryView,
    Schema,
    SessionRecord,
    schema_of,
)

__all__ = [
    "ITEM_SIZE_LIMIT",
    "MAX_KEY_BYTES",
    "RECENT_WRITES_KEPT",
    "RESERVED_PREFIX",
    "SCHEMA",
    "DynamoAttribute",
    "GlobalIndex",
    "HistoryView",
    "Schema",
    "SessionRecord",
    "StoredItem",
    "create_table_request",
    "decode_item",
    "decode_record",
    "encode_item",
    "encode_record",
    "global_index_request",
    "item_size",
    "page_model",
    "schema_of",
    "session_model",
    "to_record",
    "ttl_specification",
]


def __getattr__(name: str) -> object:
    # The PynamoDB models are for application code: imported on first use only,
    # so that the session itself never pays PynamoDB's import time.
    if name in ("session_model", "page_model", "to_record"):
        from . import table

        return getattr(table, name)
    raise AttributeError(name)
