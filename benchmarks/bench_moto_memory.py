"""Memory of the local moto server under TransactWriteItems, patched against as shipped.

Starts ``openai_agents_session.moto_server`` twice: as the library runs it (with
`moto_server.bound_memory`) and with ``--unbounded`` (moto as shipped). Each gets a
table of ``--items`` items, then ``--transactions`` two-action transactions (an
update of one item and a put of a fence record, as a fenced backfill writes), and
the server's resident memory is printed before and after.

Usage: ``python -m benchmarks.bench_moto_memory [--items 1000] [--transactions 300]``.
Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from botocore.session import get_session

from tests.support.endpoints import rss_bytes, running_moto

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--transactions", type=int, default=300)
    args = parser.parse_args()
    print(f"{args.transactions} two-action transactions on a {args.items}-item table")
    print(f"{'server':<12}{'RSS before':>12}{'RSS after':>12}{'seconds':>10}")
    for label, extra in (("patched", ()), ("unpatched", ("--unbounded",))):
        row = measure(extra, args.items, args.transactions)
        print(
            f"{label:<12}{row['before_mb']:>9.0f} MB{row['after_mb']:>9.0f} MB"
            f"{row['seconds']:>10.1f}"
        )


if __name__ == "__main__":
    main()
