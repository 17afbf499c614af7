"""Fork lineage: a fork's parent and fork point, and the by-parent index.

Session heads written by ``fork`` gain ``parent_id`` (the session forked from),
``fork_index`` (the parent's items copied) and ``fork_turn`` (the user turn the
fork branches at). Non-key attributes need no table change; the one change is
the global secondary index ``sessions_by_parent`` on (``parent_id``,
``created_at``) that `list_forks` queries. It is sparse: only forks carry a
parent, so ordinary sessions, pages and ledger items never are in it. A new
table gets it at creation (0001 creates the table from the current schema); an
existing one gets it here, and DynamoDB backfills it from the items already
stored before it turns ACTIVE. Forks made before this release carry no lineage
and are not listed.

The downgrade drops the index; the attributes stay on the items (an older
library carries them as unknown ones).

Frozen once released: every ledger records this file's checksum, so an edit
would make every adopted or migrated table report a dirty ledger.
"""

from __future__ import annotations

from typing import Any

from openai_agents_session.migrations.context import MigrationContext

revision = "0006_fork_lineage"
down_revision = "0005_session_catalog"
description = "Add the sessions_by_parent index (parent_id, created_at) for list_forks"

# The index as of this migration (data, not code: later renames must not change it).
_INDEX = "sessions_by_parent"
_KEYS: list[dict[str, str]] = [
    {"AttributeName": "parent_id", "KeyType": "HASH"},
    {"AttributeName": "created_at", "KeyType": "RANGE"},
]
_PROJECTION: dict[str, Any] = {
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
}

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
    },
    "page_attributes": {
        "session_id": {"type": "S", "role": "partition_key"},
        "page_of": {"type": "S", "role": "page_of"},
        "page_data": {"type": "B", "role": "page_data"},
        "ttl": {"type": "N", "role": "ttl"},
        "created_at": {"type": "N", "role": "created_at"},
    },
}
schema_fingerprint = "24510e16558c2acdb6923f2c5dc60e740de2926dc44d6bc97ce328c9cb750482"


def _throughput(table: dict[str, Any]) -> dict[str, int] | None:
    """A provisioned table's own capacity, for the index (None on on-demand)."""
    mode = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    capacity = table.get("ProvisionedThroughput") or {}
    if mode == "PAY_PER_REQUEST" or not capacity.get("ReadCapacityUnits"):
        return None
    return {
        "ReadCapacityUnits": int(capacity["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(capacity["WriteCapacityUnits"]),
    }


async def upgrade(ctx: MigrationContext) -> None:
    """Add the by-parent index unless the table has it, then wait until it is ACTIVE."""
    table = await ctx.describe_table()
    await ctx.ensure_global_index(
        _INDEX,
        ("parent_id", "S"),
        ("created_at", "N"),
        projection=_PROJECTION,
        provisioned_throughput=_throughput(table),
    )


async def downgrade(ctx: MigrationContext) -> None:
    """Drop the by-parent index (the attributes stay on the items)."""
    await ctx.drop_global_index(_INDEX)


async def verify(ctx: MigrationContext) -> list[str]:
    """Differences between the table's by-parent index and this migration's."""
    table = await ctx.describe_table()
    found = next(
        (i for i in table.get("GlobalSecondaryIndexes", []) if i.get("IndexName") == _INDEX),
        None,
    )
    if found is None:
        return [f"index {_INDEX!r} is missing. Fix: `openai-agents-session migrate up`."]
    problems = []
    if found.get("KeySchema") != _KEYS:
        problems.append(f"index {_INDEX!r} has key {found.get('KeySchema')}, expected {_KEYS}")
    projection = found.get("Projection") or {}
    if projection.get("ProjectionType") not in ("INCLUDE", "ALL") or (
        projection.get("ProjectionType") == "INCLUDE"
        and not set(_PROJECTION["NonKeyAttributes"]) <= set(projection.get("NonKeyAttributes", []))
    ):
        problems.append(
            f"index {_INDEX!r} projects {projection}, which lacks what fork summaries need "
            f"({_PROJECTION['NonKeyAttributes']})"
        )
    return problems
