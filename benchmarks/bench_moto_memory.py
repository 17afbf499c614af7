"""Memory of the local moto server under TransactWriteItems, patched against as shipped.

Starts ``openai_agents_session.moto_server`` twice: as the library runs it (with
`moto_server.bound_memory`) and with ``--unbounded`` (moto as shipped). Each gets a
table of ``--items`` items, then ``--transactions`` two-action transactions (an
update of one item and a put of a fence record, as a fenced backfill writes), and
the server's resident memory is printed before and after. Then, on the patched
server only (the unpatched one needed 19 GB and 381 s for it), a fenced backfill
over ``--backfill-sessions`` sessions through `migrations.up`: RSS before and after.

Usage: ``python -m benchmarks.bench_moto_memory [--items 1000] [--transactions 300]
[--backfill-sessions 2000]`` (``--backfill-sessions 0`` skips the backfill).
Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from botocore.session import get_session

from openai_agents_session import DynamoDBSession
from openai_agents_session.migrations import up
from tests.support.endpoints import rss_bytes, running_moto

from ._common import open_client

FENCED_BACKFILL = """revision = '0001_tag'
down_revision = None
description = 'tag every session'


async def upgrade(ctx):
    await ctx.backfill(lambda item: {"tag": "v1"})
"""

PADDING = "x" * 200


def _client(url: str) -> Any:
    return get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _fill(client: Any, table: str, items: int) -> None:
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for start in range(0, items, 25):
        requests = [
            {"PutRequest": {"Item": {"pk": {"S": f"s{i}"}, "n": {"N": "0"}, "p": {"S": PADDING}}}}
            for i in range(start, min(start + 25, items))
        ]
        client.batch_write_item(RequestItems={table: requests})


def _transact(client: Any, table: str, items: int, transactions: int) -> None:
    for i in range(transactions):
        client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": f"s{i % items}"}},
                        "UpdateExpression": "SET n = n + :one",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {"pk": {"S": "fence"}, "n": {"N": str(i)}}}},
            ]
        )


def measure(extra_args: tuple[str, ...], items: int, transactions: int) -> dict[str, float]:
    """RSS (MB) after filling and after the transactions, and the transactions' seconds."""
    with running_moto(*extra_args) as (url, pid):
        client = _client(url)
        _fill(client, "bench-memory", items)
        before = rss_bytes(pid)
        started = time.perf_counter()
        _transact(client, "bench-memory", items, transactions)
        seconds = time.perf_counter() - started
        after = rss_bytes(pid)
    return {"before_mb": before / 2**20, "after_mb": after / 2**20, "seconds": seconds}


async def _backfill(url: str, pid: int, sessions: int) -> dict[str, float]:
    async with open_client(url) as client:
        await up(client, "bench-backfill")
        for n in range(sessions):
            await DynamoDBSession(f"s-{n:05d}", client, "bench-backfill").add_items(
                [{"role": "user", "content": f"message {n}"}]
            )
        before = rss_bytes(pid)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "0001_tag.py").write_text(FENCED_BACKFILL)
            started = time.perf_counter()
            result = await up(client, "bench-backfill", migrations_dir=tmp)
            seconds = time.perf_counter() - started
        [counts] = result.backfills["0001_tag"]
        after = rss_bytes(pid)
    return {
        "before_mb": before / 2**20,
        "after_mb": after / 2**20,
        "seconds": seconds,
        "changed": counts["changed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--backfill-sessions", type=int, default=2000)
    args = parser.parse_args()
    print(f"{args.transactions} two-action transactions on a {args.items}-item table")
    print(f"{'server':<12}{'RSS before':>12}{'RSS after':>12}{'seconds':>10}")
    for label, extra in (("patched", ()), ("unpatched", ("--unbounded",))):
        row = measure(extra, args.items, args.transactions)
        print(
            f"{label:<12}{row['before_mb']:>9.0f} MB{row['after_mb']:>9.0f} MB"
            f"{row['seconds']:>10.1f}"
        )
    if args.backfill_sessions:
        with running_moto() as (url, pid):
            row = asyncio.run(_backfill(url, pid, args.backfill_sessions))
        print(
            f"fenced backfill over {args.backfill_sessions} sessions (patched server): "
            f"{row['changed']:.0f} changed in {row['seconds']:.1f} s, RSS "
            f"{row['before_mb']:.0f} MB -> {row['after_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
