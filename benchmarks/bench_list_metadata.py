"""What ``list_sessions(include_metadata=True)`` adds to a sidebar page: calls, latency, read units.

The by-owner index does not project ``metadata`` (an index's projection cannot
change without recreating it), so the metadata of a listed page is read from the
heads with one BatchGetItem per 100 sessions, projected to id and metadata.
DynamoDB bills reads by the size of the whole item read, not of the projection:
a Query on the index sums the small projected index items and rounds up to 4 KB
once, while BatchGetItem rounds each head up to 4 KB. So the extra cost grows
with the size of the heads, which is the size of the recent history they hold
(up to ``page_threshold``; a paged head stays under 96 KiB).

For heads of about 2 KB, 40 KB and 96 KB, one owner with 20 sessions: the
median latency of a 20-session page with and without metadata on the local
endpoint, the calls made, and the read units each page costs on DynamoDB
(eventually consistent reads: half a unit per 4 KB), computed from the stored
items' sizes by DynamoDB's rule. (moto counts the whole heads, not the projected
index items, against a Query's 1 MB page, so with large heads it answers a page
in two Query calls where DynamoDB needs one.)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import time
from typing import Any

from benchmarks._common import (
    add_endpoint_option,
    count_calls,
    dynamodb_endpoint,
    environment,
    new_table,
    open_client,
    write_json,
)
from openai_agents_session import DynamoDBSession, list_sessions
from openai_agents_session.models.codec import item_size
from openai_agents_session.models.schema import BY_OWNER_INDEX, SCHEMA

SESSIONS = 20
HEAD_SIZES = (2_000, 40_000, 96_000)


async def seed(client: Any, table: str, owner: str, head_bytes: int) -> list[dict[str, Any]]:
    """`SESSIONS` sessions of `owner`, each one message of about `head_bytes`; their heads."""
    heads = []
    for n in range(SESSIONS):
        chat = DynamoDBSession(
            f"{owner}-{n:02d}", client, table, owner=owner, title=f"chat {n}",
            metadata={"pinned": n % 3 == 0},
        )  # fmt: skip
        await chat.add_items([{"role": "user", "content": "x" * head_bytes}])
        raw = await client.get_item(
            TableName=table, Key={SCHEMA.partition_key: {"S": chat.session_id}}
        )
        heads.append(raw["Item"])
    return heads


def read_units(heads: list[dict[str, Any]]) -> tuple[float, float]:
    """(Query on the index, BatchGetItem of the heads) read units, eventually consistent."""
    kept = {SCHEMA.partition_key, SCHEMA.owner, SCHEMA.version, *BY_OWNER_INDEX.projection}
    projected = sum(item_size({k: v for k, v in h.items() if k in kept}) for h in heads)
    query = math.ceil(projected / 4096) * 0.5
    batch = sum(math.ceil(item_size(h) / 4096) for h in heads) * 0.5
    return query, batch


async def timed(client: Any, table: str, owner: str, metadata: bool, repeat: int) -> float:
    await list_sessions(client, table, owner=owner, limit=SESSIONS, include_metadata=metadata)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await list_sessions(client, table, owner=owner, limit=SESSIONS, include_metadata=metadata)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"environment": environment(), "heads": {}}
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        async with open_client(url) as client:
            table = await new_table(client, "sidebar")
            calls = count_calls(client)
            for size in HEAD_SIZES:
                owner = f"user-{size}"
                heads = await seed(client, table, owner, size)
                plain_ms = await timed(client, table, owner, False, args.repeat)
                meta_ms = await timed(client, table, owner, True, args.repeat)
                calls.clear()
                await list_sessions(client, table, owner=owner, limit=SESSIONS)
                plain_calls = dict(calls)
                calls.clear()
                await list_sessions(
                    client, table, owner=owner, limit=SESSIONS, include_metadata=True
                )
                meta_calls = dict(calls)
                query_units, batch_units = read_units(heads)
                results["heads"][size] = {
                    "head_bytes_median": statistics.median(item_size(h) for h in heads),
                    "plain_ms_median": round(plain_ms, 2),
                    "with_metadata_ms_median": round(meta_ms, 2),
                    "plain_calls_per_page": plain_calls,
                    "with_metadata_calls_per_page": meta_calls,
                    "query_read_units": query_units,
                    "batch_get_read_units": batch_units,
                }
            await client.delete_table(TableName=table)
    return results


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_endpoint_option(parser)
    parser.add_argument("--repeat", type=int, default=20, help="timed pages per mode")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(
        f"{'head':>8} | {'page, no metadata':>18} | {'page + metadata':>16} | "
        f"{'read units: Query':>17} | {'+ BatchGetItem':>14}"
    )
    for row in results["heads"].values():
        print(
            f"{row['head_bytes_median'] / 1024:>5.1f} KB | {row['plain_ms_median']:>15.1f} ms | "
            f"{row['with_metadata_ms_median']:>13.1f} ms | {row['query_read_units']:>17.1f} | "
            f"{row['batch_get_read_units']:>14.1f}"
        )
        print(
            f"{'':>8} | calls {row['plain_calls_per_page']} -> "
            f"{row['with_metadata_calls_per_page']}"
        )
    print(f"written: {write_json('bench_list_metadata.json', results)}")


if __name__ == "__main__":
    main()
