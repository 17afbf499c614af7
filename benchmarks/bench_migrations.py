"""What the migration guarantees cost: exactly-once backfills and reading the ledger.

Prints, in one run on one local endpoint:

1. a backfill over N sessions: wall time per item and DynamoDB calls, for a
   change applied to every item (one fenced transaction each) and for a function
   that changes nothing (no item write; one checkpoint per page);
2. the ledger: `migrate status` (one GetItem for the index, one per event and one
   past the last) as the ledger grows, against the number of events.

Usage: ``python -m benchmarks.bench_migrations [--sessions 200] [--backend moto]``.
Numbers from a local endpoint compare the two modes with each other; they are not
DynamoDB latencies (moto copies the table on every transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from openai_agents_session import DynamoDBSession
from openai_agents_session.migrations import status, up

from ._common import add_endpoint_option, count_calls, dynamodb_endpoint, open_client

CHANGE_ALL = """
async def upgrade(ctx):
    await ctx.backfill(lambda item: {"tag": "v1"}, segments=2, page_size=50)
"""

CHANGE_NONE = """
async def upgrade(ctx):
    await ctx.backfill(lambda item: None, segments=2, page_size=50)
"""


def _write(folder: Path, revision: str, parent: str | None, body: str) -> None:
    header = f"revision = {revision!r}\ndown_revision = {parent!r}\ndescription = 'bench'\n"
    (folder / f"{revision}.py").write_text(header + textwrap.dedent(body))


async def _backfills(url: str, sessions: int) -> None:
    async with open_client(url) as client:
        table = f"bench-mig-{int(time.time() * 1000) % 10**9}"
        await up(client, table)
        for n in range(sessions):
            await DynamoDBSession(f"s-{n:05d}", client, table).add_items(
                [{"role": "user", "content": f"message {n}"}]
            )
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            print(f"1. Backfill over {sessions} sessions (2 segments, pages of 50)")
            for revision, parent, body, label in (
                ("0001_none", None, CHANGE_NONE, "function changes nothing"),
                ("0002_all", "0001_none", CHANGE_ALL, "function changes every item"),
            ):
                _write(folder, revision, parent, body)
                calls = count_calls(client)
                began = time.perf_counter()
                result = await up(client, table, migrations_dir=folder)
                elapsed = time.perf_counter() - began
                (counts,) = result.backfills[revision]
                per_item = elapsed / sessions * 1000
                print(
                    f"   {label:<28} {elapsed:6.2f} s  {per_item:5.1f} ms/item  "
                    f"changed {counts['changed']:>5}  calls: "
                    + ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
                )


async def _ledger(url: str) -> None:
    async with open_client(url) as client:
        table = f"bench-ledger-{int(time.time() * 1000) % 10**9}"
        await up(client, table)
        print("2. Reading the ledger (`migrate status`), median of 5")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            parent: str | None = None
            made = 0
            for target in (0, 10, 40):
                while made < target:
                    made += 1
                    revision = f"{made:04d}_step"
                    _write(folder, revision, parent, "async def upgrade(ctx):\n    pass\n")
                    parent = revision
                if made:
                    await up(client, table, migrations_dir=folder)
                timings: list[float] = []
                calls: Any = None
                for _ in range(5):
                    calls = count_calls(client)
                    began = time.perf_counter()
                    report = await status(client, table, migrations_dir=folder if made else None)
                    timings.append(time.perf_counter() - began)
                events = 4 + 2 * made  # built-ins are adopted or applied: see `history`
                print(
                    f"   {made:>3} team migrations ({len(report.migrations):>3} in all, about "
                    f"{events} events): {statistics.median(timings) * 1000:6.1f} ms, "
                    f"GetItem {calls['GetItem']}, BatchGetItem {calls['BatchGetItem']}"
                )


def main() -> None:
    """Run both parts on one endpoint and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    add_endpoint_option(parser)
    args = parser.parse_args()
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        asyncio.run(_backfills(url, args.sessions))
        asyncio.run(_ledger(url))


if __name__ == "__main__":
    main()
