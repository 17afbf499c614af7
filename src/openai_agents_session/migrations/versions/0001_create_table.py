"""Create the session table from the schema (on-demand by default) and wait for ACTIVE.

Idempotent: it describes first, tolerates a concurrent creator, and on an
existing table only checks that the key matches the schema. It runs before the
lock is taken, because the lock and the ledger live in this table.

Frozen once released: every ledger records this file's checksum, so an edit
would make every adopted or migrated table report a dirty ledger.
"""

from __future__ import annotations

from openai_agents_session.errors import TableNotFoundError
from openai_agents_session.migrations.context import MigrationContext
from openai_agents_session.migrations.drift import key_differences
from openai_agents_session.migrations.errors import DriftError
from openai_agents_session.tables import create_table_if_not_exists

revision = "0001_create_table"
down_revision = None
description = "Create the session table from SessionRecord and wait for ACTIVE"


async def upgrade(ctx: MigrationContext) -> None:
    """Create the table unless it exists; refuse an existing table with another key."""
    try:
        table = await ctx.describe_table()
    except TableNotFoundError:
        table = None
    if table is not None:
        problems = key_differences(table)
        if problems:
            raise DriftError(
                f"table {ctx.table_name!r} exists with a different key: {'; '.join(problems)}. "
                "Fix: use another table name, or migrate the data to a table made by "
                "`openai-agents-session migrate up`.",
                table_name=ctx.table_name,
                differences=problems,
            )
        if table.get("TableStatus") != "ACTIVE":
            await ctx.wait_for_table()
        return
    if ctx.dry_run:
        ctx.info(f"would create table {ctx.table_name!r} ({ctx.billing_mode})")
        return
    ctx.info(f"creating table {ctx.table_name!r} ({ctx.billing_mode})")
    created = await create_table_if_not_exists(
        ctx.client, ctx.table_name, enable_ttl=False, billing_mode=ctx.billing_mode
    )
    # False when a concurrent runner created it first; the runner adopts it then.
    ctx.note("created", created)


async def verify(ctx: MigrationContext) -> list[str]:
    """Differences between the table's key and the schema's (none: adoptable)."""
    return key_differences(await ctx.describe_table())
