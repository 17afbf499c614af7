"""Record the per-item schema version: no change to the table, a new attribute on heads.

Session heads gain ``schema_version``, a string set naming the backfills applied
to the item (``"<revision>"``, or ``"<revision>:<name>"`` for a named one). A
backfill adds its id in the same write that changes the item, and skips items
that already carry it, so a backfill function is applied to each item exactly
once, even across a killed and resumed run. DynamoDB needs no declaration for a
non-key attribute, so an existing table needs nothing: this migration only
records the schema, so that ``migrate check`` knows the attribute. It has no
downgrade: an older library would simply carry the attribute as an unknown one.

Frozen once released: every ledger records this file's checksum, so an edit
would make every adopted or migrated table report a dirty ledger.
"""

from __future__ import annotations

from openai_agents_session.migrations.context import MigrationContext

revision = "0004_item_schema_version"
down_revision = "0003_history_pages"
description = "Record the per-item schema_version attribute (no table change)"

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
        "schema_version": {"type": "SS", "role": "schema_version"},
    },
    "page_attributes": {
        "session_id": {"type": "S", "role": "partition_key"},
        "page_of": {"type": "S", "role": "page_of"},
        "page_data": {"type": "B", "role": "page_data"},
        "ttl": {"type": "N", "role": "ttl"},
        "created_at": {"type": "N", "role": "created_at"},
    },
}
schema_fingerprint = "92fa8399864c47805f34587c8b56325922197faa9503871af22014fb352a9147"


async def upgrade(ctx: MigrationContext) -> None:
    """Nothing to change: a non-key attribute needs no table change."""
    ctx.info("schema_version is a non-key attribute: nothing to change")


async def verify(ctx: MigrationContext) -> list[str]:
    """Nothing to compare: any table the earlier migrations accept can hold it."""
    return []
