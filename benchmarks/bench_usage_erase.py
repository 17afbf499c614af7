"""Usage-record size against history size, and what erasing one owner costs.

Usage: a chat of short user messages (``m<batch>-<n>``, about 30 JSON bytes
each) grows by batches of 8,000 items, with one `store_run_usage` after each
batch: the shape that grew the old position memo without bound (311 KB of
``usage`` at 4.5 MB of history). After each store it prints the history size,
the ``usage`` attribute's bytes (capped at 32 KiB), the head item's bytes (by
DynamoDB's rule), and the pages the store read.

Erase: seeds ``--sessions`` one-message heads of one owner (codec-built,
BatchWriteItem) and times `delete_sessions`, printing its calls by operation.

Run from the repository root: ``python -m benchmarks.bench_usage_erase``
(``--mb 6``, ``--sessions 1000``). Results go to
``benchmarks/results/bench_usage_erase.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import types
from decimal import Decimal
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
from openai_agents_session import DynamoDBSession, delete_sessions
from openai_agents_session.models.codec import encode_item, item_size

BATCH = 8000


def _result() -> Any:
    usage = types.SimpleNamespace(
        requests=1, input_tokens=100, output_tokens=20, total_tokens=120,
        input_tokens_details=None, output_tokens_details=None, request_usage_entries=[],
    )  # fmt: skip
    return types.SimpleNamespace(context_wrapper=types.SimpleNamespace(usage=usage))


async def usage_growth(client: Any, table: str, megabytes: float) -> list[dict[str, Any]]:
    session = DynamoDBSession("usage-chat", client, table)
    rows: list[dict[str, Any]] = []
    batch = 0
    history = 0
    while history < megabytes * 1_000_000:
        await session.add_items(
            [{"role": "user", "content": f"m{batch}-{n}"} for n in range(BATCH)]
        )
        calls = count_calls(client)
        turn = await session.store_run_usage(_result())
        got = await client.get_item(
            TableName=table, Key={"session_id": {"S": "usage-chat"}}, ConsistentRead=True
        )
        head = got["Item"]
        history = int(head["history_size"]["N"])
        rows.append(
            {
                "items": int(head["item_count"]["N"]),
                "history_bytes": history,
                "usage_bytes": len(head["usage"]["S"].encode()),
                "head_bytes": item_size(head),
                "pages": len(json.loads(head["pages"]["S"])["pages"]) if "pages" in head else 0,
                "pages_read": calls["BatchGetItem"],
                "turn": turn,
            }
        )
        batch += 1
    return rows


async def erase_cost(client: Any, table: str, sessions: int) -> dict[str, Any]:
    version = Decimal("1800000000.000001000000")
    heads = [
        encode_item(f"e-{n:05d}", json.dumps([{"role": "user", "content": f"secret {n}"}]),
                    version, None, frozenset({version}), extra={"owner": {"S": "erased-user"}},
                    created_at=version, count=1)
        for n in range(sessions)
    ]  # fmt: skip

    async def put(chunk: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in chunk]}
        while pending:
            response = await client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}

    await asyncio.gather(*(put(heads[i : i + 25]) for i in range(0, len(heads), 25)))
    calls = count_calls(client)
    started = time.perf_counter()
    report = await delete_sessions(client, table, owner="erased-user")
    return {
        "sessions": sessions,
        "seconds": round(time.perf_counter() - started, 2),
        "passes": report.passes,
        "erased": report.sessions,
        "calls": dict(calls),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        async with open_client(url) as client:
            table = await new_table(client, "bench-usage")
            return {
                "environment": environment(),
                "usage": await usage_growth(client, table, args.mb),
                "erase": await erase_cost(client, table, args.sessions),
            }


def main() -> None:
    """Run both measurements and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_endpoint_option(parser)
    parser.add_argument("--mb", type=float, default=6.0, help="history to grow to, in MB")
    parser.add_argument("--sessions", type=int, default=1000, help="sessions of the erased owner")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"{'items':>7} | {'history':>9} | {'usage':>7} | {'head':>7} | pages | read")
    for row in results["usage"]:
        print(
            f"{row['items']:>7,} | {row['history_bytes'] / 1e6:>6.2f} MB | "
            f"{row['usage_bytes']:>7,} | {row['head_bytes']:>7,} | {row['pages']:>5} | "
            f"{row['pages_read']:>4}"
        )
    erase = results["erase"]
    print(
        f"erase of {erase['sessions']:,} sessions: {erase['seconds']} s, {erase['passes']} "
        f"passes, calls {erase['calls']}"
    )
    print(f"written: {write_json('bench_usage_erase.json', results)}")


if __name__ == "__main__":
    main()
