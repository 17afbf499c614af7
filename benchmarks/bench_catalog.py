"""Catalog benchmark: one owner's newest 20 sessions by index Query against a Scan listing.

Prints, for tables of 1,000 and 10,000 sessions spread over 20 owners, the
latency of ``list_sessions(owner=..., limit=20)`` (a Query on the by-owner
index) next to a Scan-based listing of the same owner's sessions (the admin
``iter_sessions`` Scan, filtered to the owner and sorted newest first, which is
what a listing without the index has to do), and the ratio.

Seeding: heads are built with the library's codec (`encode_item`, with owner,
title and the counters the session keeps) and written with BatchWriteItem, 25
per request, eight requests in flight, so 10,000 sessions load in seconds even
on moto's one-request server. Each session holds one ~200-byte message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from decimal import Decimal
from typing import Any

from benchmarks._common import (
    add_endpoint_option,
    count_calls,
    dynamodb_endpoint,
    environment,
    message,
    new_table,
    open_client,
    write_json,
)
from openai_agents_session import list_sessions
from openai_agents_session.admin import iter_sessions
from openai_agents_session.models.codec import encode_item

OWNERS = 20
OWNER = "owner-07"


async def seed(client: Any, table: str, count: int) -> float:
    """Batch-write `count` heads over `OWNERS` owners; return the seconds it took."""
    started = time.perf_counter()
    base = Decimal("1800000000")
    items = []
    for n in range(count):
        version = base + Decimal(n) + Decimal("0.000001")
        body = json.dumps([message(f"s{n}")], separators=(",", ":"))
        extra = {"owner": {"S": f"owner-{n % OWNERS:02d}"}, "title": {"S": f"chat {n}"}}
        items.append(
            encode_item(
                f"s-{n:05d}", body, version, None, frozenset({version}), extra=extra,
                created_at=version, count=1,
            )
        )  # fmt: skip
    batches = [items[i : i + 25] for i in range(0, len(items), 25)]
    gate = asyncio.Semaphore(8)

    async def write(batch: list[Any]) -> None:
        async with gate:
            pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in batch]}
            while pending:
                response = await client.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}

    await asyncio.gather(*(write(b) for b in batches))
    return time.perf_counter() - started


async def by_index(client: Any, table: str) -> list[str]:
    page = await list_sessions(client, table, owner=OWNER, limit=20)
    return [s.session_id for s in page.sessions]


async def by_scan(client: Any, table: str) -> list[str]:
    found = []
    async for entry in iter_sessions(client, table):
        if entry.record is not None and entry.record.owner == OWNER:
            found.append((entry.record.updated_at, entry.session_id))
    found.sort(reverse=True)
    return [sid for _, sid in found[:20]]


async def timed(fn: Any, client: Any, table: str, repeat: int) -> tuple[list[float], list[str]]:
    result = await fn(client, table)  # warm-up, and the answer to compare
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn(client, table)
        times.append(time.perf_counter() - started)
    return times, result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"environment": environment(), "sizes": {}}
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        async with open_client(url) as client:
            for size in args.sizes:
                table = await new_table(client, "catalog")
                load = await seed(client, table, size)
                calls = count_calls(client)
                index_times, index_ids = await timed(by_index, client, table, args.repeat)
                index_calls = dict(calls)
                calls.clear()
                scan_times, scan_ids = await timed(by_scan, client, table, max(3, args.repeat // 5))
                scan_calls = dict(calls)
                assert index_ids == scan_ids, "the two listings disagree"
                index_ms = statistics.median(index_times) * 1000
                scan_ms = statistics.median(scan_times) * 1000
                results["sizes"][size] = {
                    "seed_seconds": round(load, 2),
                    "list_sessions_ms_median": round(index_ms, 2),
                    "scan_listing_ms_median": round(scan_ms, 2),
                    "ratio": round(scan_ms / index_ms, 1),
                    "list_sessions_calls": index_calls,
                    "scan_listing_calls": scan_calls,
                }
                await client.delete_table(TableName=table)
    return results


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_endpoint_option(parser)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=30, help="timed list_sessions calls")
    parser.add_argument("--quick", action="store_true", help="1,000 sessions only, 10 repeats")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeat = [1000], 10
    results = asyncio.run(run(args))
    print(f"{'sessions':>9} | {'list_sessions(limit=20)':>24} | {'Scan listing':>13} | ratio")
    for size, row in results["sizes"].items():
        print(
            f"{size:>9,} | {row['list_sessions_ms_median']:>21.1f} ms | "
            f"{row['scan_listing_ms_median']:>10.1f} ms | {row['ratio']:>5.1f}x"
        )
        print(
            f"{'':>9} | calls {row['list_sessions_calls']} | {row['scan_listing_calls']}"
            f" | seeded in {row['seed_seconds']} s"
        )
    path = write_json("bench_catalog_quick.json" if args.quick else "bench_catalog.json", results)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
