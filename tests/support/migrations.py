"""Helpers for migration tests: team migration files in temp folders, raw table reads."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from openai_agents_session.migrations import is_reserved
from openai_agents_session.models.schema import SCHEMA

BUILTIN_HEAD = "0007_turn_lease"
BUILTINS = [
    "0001_create_table",
    "0002_enable_ttl",
    "0003_history_pages",
    "0004_item_schema_version",
    "0005_session_catalog",
    "0006_fork_lineage",
    BUILTIN_HEAD,
]


def write_migration(
    folder: Path,
    revision: str,
    down_revision: str | None,
    body: str = "async def upgrade(ctx):\n    pass\n",
    *,
    description: str = "test migration",
) -> Path:
    """Write ``folder/<revision>.py`` with the module attributes and `body`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{revision}.py"
    header = (
        f"revision = {revision!r}\n"
        f"down_revision = {down_revision!r}\n"
        f"description = {description!r}\n\n"
    )
    path.write_text(header + textwrap.dedent(body), encoding="utf-8")
    return path


# Upgrade bodies used across the tests. Each reads what it needs from ctx.params.
GATE = """
async def upgrade(ctx):
    ctx.params["entered"].set()
    await ctx.params["gate"].wait()
"""

PARAM_BACKFILL = """
async def upgrade(ctx):
    await ctx.backfill(
        ctx.params["fn"],
        segments=ctx.params.get("segments", 2),
        page_size=ctx.params.get("page_size", 100),
        max_wcu=ctx.params.get("max_wcu"),
    )
"""

REVERSIBLE_FLAG = """
async def upgrade(ctx):
    await ctx.backfill(lambda item: {"flag": "on"})


async def downgrade(ctx):
    await ctx.backfill(lambda item: {"flag": None} if item.get("flag") else None)
"""


async def scan_all(client: Any, table: str) -> dict[str, dict[str, Any]]:
    """Every item of the table (strongly consistent), by partition key."""
    items: dict[str, dict[str, Any]] = {}
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = await client.scan(**request)
        for item in page["Items"]:
            items[item[SCHEMA.partition_key]["S"]] = item
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def session_items(client: Any, table: str) -> dict[str, dict[str, Any]]:
    """Every session item (reserved library items left out)."""
    return {k: v for k, v in (await scan_all(client, table)).items() if not is_reserved(k)}


async def reserved_items(client: Any, table: str) -> dict[str, dict[str, Any]]:
    """The library's own items: ledger, lock, checkpoints."""
    return {k: v for k, v in (await scan_all(client, table)).items() if is_reserved(k)}
