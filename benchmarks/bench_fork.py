"""Fork benchmark: what ``fork`` of a large paged history reads and writes.

Grows one session to ``--mb`` MB (default 10) of realistic conversation (the
`_common.message` text with random words, so pages compress as real text does),
then forks it whole and at half its turns, and prints for each fork: DynamoDB
calls by operation, bytes of items written by DynamoDB's size rule (the head's
Put in TransactWriteItems and page parts in BatchWriteItem), their write units
(1 KB rule; a transaction's writes count twice), page items written, and
seconds. Forks copy pages (they never share them), so the bytes
written are the compressed size of the copied history plus one head.

Run from the repository root: ``python -m benchmarks.bench_fork [--mb 10]``.
The results also go to ``benchmarks/results/bench_fork.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
import uuid
from collections import Counter
from typing import Any

from openai_agents_session import DynamoDBSession
from openai_agents_session.models.codec import dumps_item, item_size

from ._common import (
    add_endpoint_option,
    dynamodb_endpoint,
    message,
    new_table,
    open_client,
    write_json,
)

_WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "refund",
    "churn",
    "plan",
    "queue",
    "triage",
    "backlog",
    "summary",
    "meeting",
]


class Written:
    """Calls by operation and item bytes written, seen on botocore's parameter event."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.bytes = 0
        self.wcu = 0
        self.page_items = 0
        client.meta.events.register("provide-client-params.dynamodb", self._seen)

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        items: list[Any] = []
        billed = 1
        if model.name == "PutItem":
            items = [params["Item"]]
        elif model.name == "TransactWriteItems":
            # The fork's head and the check on its source: DynamoDB bills a
            # transaction's writes at twice the units (the check is not counted here).
            items = [a["Put"]["Item"] for a in params["TransactItems"] if "Put" in a]
            billed = 2
        elif model.name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                puts = [r["PutRequest"]["Item"] for r in requests if "PutRequest" in r]
                self.page_items += len(puts)
                items.extend(puts)
        for item in items:
            size = item_size(item)
            self.bytes += size
            self.wcu += billed * math.ceil(size / 1024)

    def reset(self) -> None:
        """Forget what was counted."""
        self.calls.clear()
        self.bytes = self.wcu = self.page_items = 0


def _turn(rng: random.Random, n: int) -> list[dict[str, Any]]:
    noise = " ".join(rng.choice(_WORDS) for _ in range(40))
    return [message(f"q{n} {noise}", "user", 700), message(f"a{n} {noise}", "assistant", 1500)]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Grow the source, fork it twice, return the figures."""
    rng = random.Random(args.seed)
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        async with open_client(url) as client:
            table = await new_table(client, "fork")
            source = DynamoDBSession(f"fork-src-{uuid.uuid4().hex[:8]}", client, table)
            size, turns, batch = 0, 0, []
            while size < args.mb * 1_000_000:
                items = _turn(rng, turns)
                turns += 1
                size += sum(len(dumps_item(i)) + 1 for i in items)
                batch.extend(items)
                if len(batch) >= 200:
                    await source.add_items(batch)
                    batch = []
            if batch:
                await source.add_items(batch)
            meter = Written(client)
            results: dict[str, Any] = {"history_bytes": size, "turns": turns}
            for name, kwargs in (("whole", {}), ("half", {"turn": turns // 2 + 1})):
                meter.reset()
                started = time.perf_counter()
                fork = await source.fork(f"fork-{name}-{uuid.uuid4().hex[:8]}", **kwargs)
                seconds = time.perf_counter() - started
                calls = dict(meter.calls)
                record = await fork.get_record()
                assert record is not None
                results[name] = {
                    "calls": calls,
                    "bytes_written": meter.bytes,
                    "wcu": meter.wcu,
                    "page_items_written": meter.page_items,
                    "pages": 0 if record.pages is None else len(record.pages.pages),
                    "seconds": round(seconds, 2),
                }
    return results


def main() -> None:
    """Parse the flags, run, print the figures and the JSON path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=10, help="source history size, in MB")
    parser.add_argument("--seed", type=int, default=7, help="seed of the conversation text")
    add_endpoint_option(parser)
    args = parser.parse_args()
    data = asyncio.run(run(args))
    print(f"source: {data['history_bytes']:,} bytes of history, {data['turns']} turns")
    for name in ("whole", "half"):
        row = data[name]
        print(
            f"fork {name}: {row['bytes_written']:,} bytes written ({row['wcu']:,} WCU) in "
            f"{row['page_items_written']} page items + 1 head; {row['pages']} pages; calls "
            f"{row['calls']}; {row['seconds']} s"
        )
    print(write_json("bench_fork.json", data))


if __name__ == "__main__":
    main()
