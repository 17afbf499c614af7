"""Pages shared by the session objects of one client: memory held, and what it buys.

Writes many paged sessions through one client (SDK-like assistant messages of
about 5 KB, each session past the 24 KiB page threshold), one new session object
per append as a web server makes them, then prints:

1. what the client's shared memos hold: sessions, page JSON counted against
   `MEMO_BYTES`, and the Python memory they keep (tracemalloc: held before and
   after the client forgets them);
2. `get_items(limit=20)` latency by a new object for a session remembered and
   for one that is not (pushed out by the bound, or read first), median of 9,
   side by side.

Run from the repository root: ``python -m benchmarks.bench_memo [--sessions N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import tracemalloc
from typing import Any

from ._common import add_endpoint_option, dynamodb_endpoint, new_table, open_client


def answer(i: int) -> dict[str, Any]:
    """An assistant message of about 5 KB, shaped as the SDK stores one."""
    return {
        "id": f"msg_{i:024x}",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [
            {"type": "output_text", "annotations": [], "text": f"{i} " + "An answer. " * 450}
        ],
    }


async def run(url: str, sessions: int, appends: int) -> None:
    from openai_agents_session import DynamoDBSession
    from openai_agents_session._pagememo import _SHELVES, MEMO_BYTES, forget

    async with open_client(url) as client:
        table = await new_table(client, "memo")
        tracemalloc.start()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(sessions):
            for i in range(appends):
                await DynamoDBSession(f"s{n}", client, table).add_items([answer(i)])
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        shelf = _SHELVES[client]
        shared, weight = len(shelf.memos), shelf.weight

        forget(client)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()  # it slows every allocation: time the reads without it

        async def latency(session_id: str, *, first: bool) -> float:
            times = []
            for _ in range(9):
                if first:
                    forget(client)
                reader = DynamoDBSession(session_id, client, table)
                start = time.perf_counter()
                await reader.get_items(limit=20)
                times.append((time.perf_counter() - start) * 1000)
            return statistics.median(times)

        await DynamoDBSession(f"s{sessions - 1}", client, table).get_items(limit=20)
        remembered = await latency(f"s{sessions - 1}", first=False)
        first = await latency("s0", first=True)
        await client.delete_table(TableName=table)
    print(f"sessions written: {sessions} of {appends} appends of about 5 KB")
    print(f"shared by the client: {shared} sessions, {weight / 2**20:.2f} MiB of page JSON")
    print(f"  (bound: {MEMO_BYTES / 2**20:.0f} MiB)")
    print(
        f"Python memory the memos held: {(held - after) / 2**20:.1f} MiB "
        f"({(held - after) / max(weight, 1):.2f} bytes per byte of page JSON); "
        f"everything the run allocated: {(held - before) / 2**20:.1f} MiB"
    )
    print(
        f"get_items(limit=20) by a new object: remembered {remembered:.1f} ms, "
        f"not remembered (pushed out, or a first read) {first:.1f} ms "
        f"({first / remembered:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=120)
    parser.add_argument("--appends", type=int, default=28)
    add_endpoint_option(parser)
    args = parser.parse_args()
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        asyncio.run(run(url, args.sessions, args.appends))


if __name__ == "__main__":
    main()
