"""Record the turn lease: no change to the table, a new attribute on heads.

Session heads gain ``turns`` (a JSON string): the lease of the turn that holds
the conversation, if any, and the keys of its recent turns, written by
``session.turn()``. DynamoDB needs no declaration for a non-key attribute, so
an existing table needs nothing: this migration only records the schema, so
that ``migrate check`` knows the attribute. Its downgrade changes nothing
either, so the migrations below it stay reversible: an older library carries
the attribute over as an unknown one (and ignores the lease).

Frozen once released: every ledger records this file's checksum, so an edit
would make every adopted or migrated table report a dirty ledger.
"""

from __future__ import annotations

from openai_agents_session.migrations.context import MigrationContext

revision = "0007_turn_lease"
down_revision = "0006_fork_lineage"
description = "Record the turns attribute (turn lease and keys; no table change)"

# A frozen record of the schema as of this migration (data, not code: the names
# here are history and must not follow later renames).
schema_snapshot = {
    "create_table": {
        "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "session_id", "AttributeType": "S"},
            {"AttributeName": "owner", "AttributeType": "S"},
            {"AttributeName": "updated_at", "AttributeType": "N"},
            {"AttributeName": "parent_id", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "N"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "sessions_by_owner",
                "KeySchema": [
                    {"AttributeName": "owner", "KeyType": "HASH"},
                    {"AttributeName": "updated_at", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": [
                        "title",
                        "created_at",
                        "item_count",
                        "history_size",
                        "ttl",
                    ],
                },
            },
            {
                "IndexName": "sessions_by_parent",
                "KeySchema": [
                    {"AttributeName": "parent_id", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": [
                        "owner",
                        "title",
                        "updated_at",
                        "item_count",
                        "history_size",
                        "ttl",
                        "fork_index",
                        "fork_turn",
                    ],
                },
            },
        ],
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
        "owner": {"type": "S", "role": "owner"},
        "title": {"type": "S", "role": "title"},
        "metadata": {"type": "S", "role": "metadata"},
        "created_at": {"type": "N", "role": "created_at"},
        "item_count": {"type": "N", "role": "item_count"},
        "history_size": {"type": "N", "role": "history_size"},
        "usage": {"type": "S", "role": "usage"},
        "parent_id": {"type": "S", "role": "parent_id"},
        "fork_index": {"type": "N", "role": "fork_index"},
        "fork_turn": {"type": "N", "role": "fork_turn"},
        "turns": {"type": "S", "role": "turns"},
    },
    "page_attributes": {
        "session_id": {"type": "S", "role": "partition_key"},
        "page_of": {"type": "S", "role": "page_of"},
        "page_data": {"type": "B", "role": "page_data"},
        "ttl": {"type": "N", "role": "ttl"},
        "created_at": {"type": "N", "role": "created_at"},
    },
}
schema_fingerprint = "ca93a1848b95d7919c69d1bcfbc2d568b19b8fc7ee68321b273ea065feda4b6e"


async def upgrade(ctx: MigrationContext) -> None:
    """Nothing to change: a non-key attribute needs no table change."""
    ctx.info("turns is a non-key attribute: nothing to change")


async def downgrade(ctx: MigrationContext) -> None:
    """Nothing to change: the attribute stays on the items, an older library ignores it."""
    ctx.info("turns is a non-key attribute: nothing to change")


async def verify(ctx: MigrationContext) -> list[str]:
    """Nothing to compare: any table the earlier migrations accept can hold it."""
    return []
