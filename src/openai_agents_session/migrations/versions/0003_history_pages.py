"""Record the history-page layout: no change to the table, a new record type in it.

Past ``page_threshold`` a session keeps its older items in page items
(``PageRecord``) under ``__oas__#page#`` keys of the same table, and its head
gains a ``pages`` attribute. Pages use the table's own key and its TTL attribute,
so an existing table needs nothing: this migration only records the schema, so
that ``migrate check`` knows both record types. It has no downgrade: an older
version of the library cannot read a paged session, whatever the ledger says.

Frozen once released: every ledger records this file's checksum, so an edit
would make every adopted or migrated table report a dirty ledger.
"""

from __future__ import annotations

from openai_agents_session.migrations.context import MigrationContext

revision = "0003_history_pages"
down_revision = "0002_enable_ttl"
description = "Record the history-page layout (no table change)"

# A frozen record of the schema as of this migration (data, not code: the names
# here are history and must not follow later renames).
schema_snapshot = {
    "create_table": {
        "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "session_id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    },
    "ttl": {"Enabled": True, "AttributeName": "ttl"},
    "attributes": {
        "session_id": {"type": "S", "role": "partition_key"},
        "conversation_data": {"type": "S", "role": "payload"},
        "updated_at": {"type": "N", "role": "version"},
        "ttl": {"type": "N", "role": "ttl"},
        "recent_writes": {"type": "NS", "role": "write_log"},
        "pages": {"type": "S", "role": "pages"},
    },
    "page_attributes": {
        "session_id": {"type": "S", "role": "partition_key"},
        "page_of": {"type": "S", "role": "page_of"},
        "page_data": {"type": "B", "role": "page_data"},
        "ttl": {"type": "N", "role": "ttl"},
        "created_at": {"type": "N", "role": "created_at"},
    },
}
schema_fingerprint = "10dc9eee8e41d1c5c177bea11da887ebe2cdd79b0d43231228a93da69f06f8d3"


async def upgrade(ctx: MigrationContext) -> None:
    """Nothing to change: pages share the table's key and TTL attribute."""
    ctx.info("pages use the table's key and TTL attribute: nothing to change")


async def verify(ctx: MigrationContext) -> list[str]:
    """Nothing to compare: any table the earlier migrations accept holds pages."""
    return []
