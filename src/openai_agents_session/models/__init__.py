"""The session schema, declared once, and everything derived from it.

- `schema`: the Pydantic `SessionRecord` with per-field DynamoDB metadata.
- `table`: the PynamoDB model and the CreateTable / TTL requests.
- `codec`: attribute-value maps to and from records, and item sizes.
- `items`: validation of conversation items before they are written.
"""

from .codec import StoredItem, decode_item, decode_record, encode_item, encode_record, item_size
from .requests import create_table_request, ttl_specification
from .schema import (
    ITEM_SIZE_LIMIT,
    MAX_KEY_BYTES,
    RECENT_WRITES_KEPT,
    RESERVED_PREFIX,
    SCHEMA,
    DynamoAttribute,
    Schema,
    SessionRecord,
)

__all__ = [
    "ITEM_SIZE_LIMIT",
    "MAX_KEY_BYTES",
    "RECENT_WRITES_KEPT",
    "RESERVED_PREFIX",
    "SCHEMA",
    "DynamoAttribute",
    "Schema",
    "SessionRecord",
    "StoredItem",
    "create_table_request",
    "decode_item",
    "decode_record",
    "encode_item",
    "encode_record",
    "item_size",
    "page_model",
    "session_model",
    "ttl_specification",
]


def __getattr__(name: str) -> object:
    # The PynamoDB models are for application code: imported on first use only,
    # so that the session itself never pays PynamoDB's import time.
    if name in ("session_model", "page_model"):
        from . import table

        return getattr(table, name)
    raise AttributeError(name)
