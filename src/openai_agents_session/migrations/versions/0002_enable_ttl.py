"""Enable TTL on the schema's TTL attribute, unless it already is.

Idempotent: it describes first, because real DynamoDB rejects a second
UpdateTimeToLive with a ValidationException. On an endpoint without the TTL
API (dynalite) it notes that in the ledger and warns instead of failing.

This is the head built-in migration, so it records the schema the chain
produces: ``migrate check`` fails when `SessionRecord` no longer matches it.

Frozen once released: every ledger records this file's checksum, so an edit
would make every adopted or migrated table report a dirty ledger.
"""

from __future__ import annotations

from openai_agents_session.migrations.context import MigrationContext
from openai_agents_session.migrations.drift import ttl_differences
from openai_agents_session.tables import ensure_ttl

revision = "0002_enable_ttl"
down_revision = "0001_create_table"
description = "Enable TTL on the ttl attribute"

NO_TTL_API = "the endpoint has no TTL API"

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
    },
}
schema_fingerprint = "639edc3c9d853c6711d7ec1d9cfc271fa42d06b6bcc8e905fd884523170ecee4"


async def upgrade(ctx: MigrationContext) -> None:
    """Enable TTL if it is not enabled."""
    if ctx.dry_run:
        problems = await verify(ctx)
        ctx.info("would enable TTL" if problems else "TTL already enabled")
        return
    if not await ensure_ttl(ctx.client, ctx.table_name):
        ctx.note("ttl", NO_TTL_API)
        ctx.reporter.warning(
            f"{NO_TTL_API}; table {ctx.table_name!r} will not delete expired sessions itself"
        )


async def verify(ctx: MigrationContext) -> list[str]:
    """Differences between the table's TTL and the schema's (none: adoptable)."""
    description = await ctx.describe_ttl()
    if description is None:
        return []
    return ttl_differences(description)
