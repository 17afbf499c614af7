"""The session schema, declared once, and everything derived from it.

- `schema`: the Pydantic `SessionRecord` with per-field DynamoDB metadata.
- `table`: the PynamoDB model and the CreateTable / TTL requests.
- `codec`: attribute-value maps to and from records, and item sizes.
- `items`: validation of conversation items before they are written.
"""

from .codec import StoredItem, decode_item, decode_record, encode_item, encode_record, item_size
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
from .table import create_table_request, session_model, ttl_specification

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
    "session_model",
    "ttl_specification",
]
