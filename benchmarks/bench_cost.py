"""Cost benchmark: billed write units and calls per append, by history band.

Prints, in one run against moto's server:

1. billed write units per append (every write request priced by DynamoDB's rule,
   `tests/support/billing.py`: PutItem and BatchWriteItem per KB of each item
   written or deleted, UpdateItem at the stored item's size, transaction actions
   twice; "strict" also prices a PutItem that replaces an item at the larger of
   the two) and calls per append, for 1 KB, 5 KB and 50 KB incompressible
   appends (base64 of random bytes), through history bands up to 10 MB (1 MB
   for 1 KB appends);
2. the same for a baseline implementation (by default the layout before this
   one, commit ``0933ee3``), run in a child process from ``git archive`` of that
   commit, for as far as it goes;
3. ``get_items(limit=20)`` and whole-history read latency at the end of each
   band (median of 5): by a new session object on the client that wrote the
   session (it shares the newest pages and member lists the writer kept), and
   by a new object after the client forgot them (the first read of the session
   in a process), with the 4 MB over 16 KB ratios of both;
4. the dollar cost per 1,000 Runner turns (a 1 KB user message and a 4 KB
   answer, each its own ``add_items``, plus ``get_items(limit=20)``) at
   on-demand prices, for a 100 KB and a 2 MB conversation.

Run from the repository root: ``python -m benchmarks.bench_cost [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BANDS = (16_000, 100_000, 390_000, 1_000_000, 4_000_000, 10_000_000)
SIZES = (1_000, 5_000, 50_000)
# On-demand prices, us-east-1, standard table class (USD per million request units).
WRITE_PRICE = 0.625
READ_PRICE = 0.125


def item_of(size: int, role: str = "user") -> dict[str, Any]:
    """A message of about `size` bytes of compact JSON whose text does not compress."""
    text = base64.b64encode(os.urandom(size * 3 // 4)).decode()
    item = {"type": "message", "role": role, "content": text}
    excess = len(json.dumps(item, separators=(",", ":"))) - size
    item["content"] = text[: len(text) - max(0, excess)]
    return item


def band_name(low: int, high: int) -> str:
    def short(n: int) -> str:
        return f"{n / 1e6:g} MB" if n >= 1_000_000 else f"{n // 1000} KB"

    return f"{short(low)}-{short(high)}"


def _forget(client: Any) -> None:
    """Forget what the client's session objects share: as in a process that has
    not read the session yet. (The baseline shares nothing: a no-op there.)"""
    try:
        from openai_agents_session._pagememo import forget
    except ImportError:
        return
    forget(client)


async def _reads(session_cls: Any, sid: str, client: Any, table: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, limit, cold in (
        ("limit20_ms", 20, False),
        ("limit20_cold_ms", 20, True),
        ("whole_ms", None, False),
        ("whole_cold_ms", None, True),
    ):
        times = []
        for _ in range(5):
            if cold:
                _forget(client)
            fresh = session_cls(sid, client, table)
            start = time.perf_counter()
            await fresh.get_items(limit=limit)
            times.append((time.perf_counter() - start) * 1000)
        out[label] = statistics.median(times)
    return out


async def append_run(url: str, size: int, top: int) -> list[dict[str, Any]]:
    """Grow one session with `size`-byte appends to `top` bytes; one row per band."""
    from benchmarks._common import new_table, open_client
    from openai_agents_session import DynamoDBSession
    from tests.support.billing import WriteBill

    async with open_client(url) as client:
        table = await new_table(client, "cost")
        bill = WriteBill(client)
        sid = "cost"
        session = DynamoDBSession(sid, client, table)
        rows: list[dict[str, Any]] = []
        history, low = 0, 0
        for high in (b for b in BANDS if b <= top):
            units, strict, calls, appends = bill.units, bill.strict, bill.total_calls, 0
            stopped = None
            while history < high:
                item = item_of(size)
                try:
                    await session.add_items([item])
                except Exception as exc:  # the baseline refuses to grow past its limit
                    stopped = type(exc).__name__
                    break
                history += len(json.dumps(item, separators=(",", ":"))) + 1
                appends += 1
            row: dict[str, Any] = {"band": band_name(low, high), "appends": appends}
            if appends:
                row |= {
                    "units": (bill.units - units) / appends,
                    "strict": (bill.strict - strict) / appends,
                    "calls": (bill.total_calls - calls) / appends,
                }
                row |= await _reads(DynamoDBSession, sid, client, table)
            if stopped:
                row["stopped"] = stopped
            rows.append(row)
            if stopped:
                break
            low = high
        await client.delete_table(TableName=table)
        return rows


async def turn_cost(url: str, conversation: int, turns: int) -> dict[str, float]:
    """Dollars per 1,000 Runner turns on a conversation of `conversation` bytes."""
    from benchmarks._common import new_table, open_client
    from openai_agents_session import DynamoDBSession
    from tests.support.billing import WriteBill

    async with open_client(url) as client:
        table = await new_table(client, "cost")
        session = DynamoDBSession("turns", client, table)
        history = 0
        try:
            while history < conversation:
                await session.add_items([item_of(20_000)])
                history += 20_001
        except Exception as exc:
            return {"stopped": type(exc).__name__}  # type: ignore[dict-item]
        bill = WriteBill(client)
        for _ in range(turns):
            await session.get_items(limit=20)
            await session.add_items([item_of(1_000)])
            await session.add_items([item_of(4_000, "assistant")])
        await client.delete_table(TableName=table)
        per_turn_w = bill.units / turns
        per_turn_r = bill.read_units / turns
        return {
            "write_units": per_turn_w,
            "read_units": per_turn_r,
            "calls": bill.total_calls / turns,
            "usd_per_1000": 1000 * (per_turn_w * WRITE_PRICE + per_turn_r * READ_PRICE) / 1e6,
        }


async def worker(url: str, top: int, turns: int) -> dict[str, Any]:
    """Every measurement with whichever `openai_agents_session` is importable."""
    result: dict[str, Any] = {"appends": {}, "turns": {}}
    for size in SIZES:
        # 1 KB appends stop at 1 MB: ten thousand appends per implementation is enough.
        upto = min(top, 1_000_000) if size == 1_000 else top
        result["appends"][str(size)] = await append_run(url, size, upto)
    for conversation in (100_000, 2_000_000):
        if conversation <= top:
            result["turns"][str(conversation)] = await turn_cost(url, conversation, turns)
    return result


def baseline_source(ref: str, into: Path) -> Path:
    """The baseline's ``src`` directory, extracted from `ref` with ``git archive``."""
    blob = subprocess.run(
        ["git", "archive", ref, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as archive:
        archive.extractall(into, filter="data")
    return into / "src"


def run_child(url: str, src: Path, top: int, turns: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}
    command = [sys.executable, "-m", "benchmarks.bench_cost", "--worker", url]
    command += ["--top", str(top), "--turns", str(turns)]
    out = subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def show(new: dict[str, Any], old: dict[str, Any] | None) -> None:
    print(
        "| append | band | units/append | strict | calls/append | limit=20 ms "
        "| limit=20, first read ms | whole ms | whole, first read ms "
        "| baseline units | baseline calls |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size in SIZES:
        base = {r["band"]: r for r in (old or {}).get("appends", {}).get(str(size), [])}
        for row in new["appends"][str(size)]:
            b = base.get(row["band"], {})
            before = f"{b['units']:.1f}" if "units" in b else b.get("stopped", "-")
            calls = f"{b['calls']:.2f}" if "calls" in b else "-"
            print(
                f"| {size // 1000} KB | {row['band']} | {row['units']:.1f} | {row['strict']:.1f} "
                f"| {row['calls']:.2f} | {row['limit20_ms']:.1f} "
                f"| {row['limit20_cold_ms']:.1f} | {row['whole_ms']:.1f} "
                f"| {row['whole_cold_ms']:.1f} | {before} | {calls} |"
            )
    rows = {r["band"]: r for r in new["appends"]["5000"]}
    small, big = rows.get(band_name(0, 16_000)), rows.get(band_name(1_000_000, 4_000_000))
    if small and big:
        for label, key in (("a new object", "limit20_ms"), ("a first read", "limit20_cold_ms")):
            print(
                f"get_items(limit=20) at 4 MB over 16 KB, {label}: "
                f"{big[key]:.1f} / {small[key]:.1f} ms = {big[key] / small[key]:.2f}x"
            )
    print()
    print(
        "| conversation | write units/turn | read units/turn | calls/turn | $ per 1,000 turns "
        "| baseline $ per 1,000 turns |"
    )
    print("|---|---|---|---|---|---|")
    for conversation, row in new["turns"].items():
        b = (old or {}).get("turns", {}).get(conversation, {})
        before = f"{b['usd_per_1000']:.4f}" if "usd_per_1000" in b else b.get("stopped", "-")
        print(
            f"| {int(conversation) // 1000} KB | {row['write_units']:.1f} "
            f"| {row['read_units']:.1f} | {row['calls']:.2f} | {row['usd_per_1000']:.4f} "
            f"| {before} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="bands up to 1 MB only")
    parser.add_argument("--baseline-ref", default="0933ee3", help="git ref of the baseline")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--top", type=int, default=BANDS[-1], help=argparse.SUPPRESS)
    parser.add_argument("--turns", type=int, default=50, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(asyncio.run(worker(args.worker, args.top, args.turns))))
        return
    from benchmarks._common import dynamodb_endpoint

    top = 2_000_000 if args.quick else BANDS[-1]
    with dynamodb_endpoint() as url:
        new = asyncio.run(worker(url, top, args.turns))
        old = None
        if not args.no_baseline:
            with tempfile.TemporaryDirectory() as tmp:
                src = baseline_source(args.baseline_ref, Path(tmp))
                old = run_child(url, src, top, args.turns)
    show(new, old)


if __name__ == "__main__":
    main()
