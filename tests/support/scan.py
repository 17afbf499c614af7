"""Whole-table reads for tests that must prove what a table no longer holds."""

from __future__ import annotations

import json
import zlib
from typing import Any


async def scan_all(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of the table, by consistent Scan pages."""
    items: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None
    while True:
        kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = await client.scan(**kwargs)
        items.extend(response["Items"])
        start = response.get("LastEvaluatedKey")
        if not start:
            return items


def raw_text(items: list[dict[str, Any]]) -> str:
    """Every stored byte of the items as text: heads as they are, pages decompressed."""
    parts = []
    for item in items:
        for value in item.values():
            if "B" in value:
                try:
                    parts.append(zlib.decompress(value["B"]).decode("utf-8", "replace"))
                except zlib.error:
                    parts.append(value["B"].decode("utf-8", "replace"))
            else:
                parts.append(json.dumps(value))
    return "\n".join(parts)


async def table_text(client: Any, table: str) -> str:
    """The whole table as text (see `raw_text`)."""
    return raw_text(await scan_all(client, table))
