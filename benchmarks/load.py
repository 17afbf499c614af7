"""Load benchmark: many sessions, hot sessions, and latency against stored-history size.

Three workloads against moto's server, all through one aiobotocore client:

1. ``sessions``: N sessions x T agent turns (a turn is what ``Runner.run`` does to
   a session: ``get_items`` then ``add_items`` of the user message then
   ``add_items`` of the assistant message), a new session object per turn as a
   stateless web server would, at most C turns in flight (``asyncio.Semaphore``).
2. ``hot``: 16 and 64 writers, each with its own session object, appending to one
   session at the same moment.
3. ``size``: add/get/pop latency on one session as its stored history grows from
   10 to 2,000 items (about 400 KB), plotted to ``latency_vs_size.png``.

Every session is read back at the end: each acknowledged message must be stored
exactly once, in its writer's order. Per-operation figures (latency, conflicts,
attempts, client retries) come from the session's ``on_operation`` hook.

Run from the repository root: ``python -m benchmarks.load [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from itertools import pairwise
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from openai_agents_session import DynamoDBSession, OperationMetrics, RetryPolicy

from ._common import (
    RESULTS_DIR,
    add_endpoint_option,
    dynamodb_endpoint,
    environment,
    lost_and_duplicated,
    message,
    new_table,
    open_client,
    percentile,
    read_stored_items,
    tag_of,
    write_json,
)

# Wide enough for the tables when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 140)
WORKLOADS = ("sessions", "hot", "size")

FULL_SIZES = [10, 25, 50, 100, 250, 500, 750, 1000, 1250, 1500, 1750, 2000]
QUICK_SIZES = [10, 100, 500, 1000]


class WarningCounter(logging.Handler):
    """Counts the library's warnings (the size workload passes 80% of 400 KB on purpose)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record by its message template."""
        self.messages[str(record.msg)] += 1


class Recorder:
    """Collects the `OperationMetrics` of every session operation of one workload."""

    def __init__(self) -> None:
        self.metrics: list[OperationMetrics] = []

    def __call__(self, metrics: OperationMetrics) -> None:
        """The ``on_operation`` hook."""
        self.metrics.append(metrics)

    def summary(self, seconds: float) -> dict[str, Any]:
        """Throughput, latency percentiles and per-write conflict figures."""
        by_op: dict[str, list[OperationMetrics]] = {}
        for item in self.metrics:
            by_op.setdefault(item.operation, []).append(item)
        operations = {}
        for name, items in sorted(by_op.items()):
            durations = [m.duration for m in items]
            count = len(items)
            operations[name] = {
                "count": count,
                "p50_ms": 1000 * percentile(durations, 0.5),
                "p99_ms": 1000 * percentile(durations, 0.99),
                "max_ms": 1000 * max(durations),
                "calls_per_op": sum(m.calls for m in items) / count,
                "attempts_per_op": sum(m.attempts for m in items) / count,
                "conflicts_per_op": sum(m.conflicts for m in items) / count,
                "client_retries_per_op": sum(m.client_retries for m in items) / count,
                "max_conflicts": max(m.conflicts for m in items),
                "errors": dict(Counter(m.error for m in items if m.error)),
            }
        writes = [m for m in self.metrics if m.operation in ("add_items", "pop_item")]
        total = len(self.metrics)
        return {
            "operations_total": total,
            "seconds": seconds,
            "ops_per_second": total / seconds if seconds else 0.0,
            "calls_total": sum(m.calls for m in self.metrics),
            "writes": len(writes),
            "conflicts_per_write": sum(m.conflicts for m in writes) / max(len(writes), 1),
            "attempts_per_write": sum(m.attempts for m in writes) / max(len(writes), 1),
            "client_retries_per_write": sum(m.client_retries for m in writes) / max(len(writes), 1),
            "by_operation": operations,
        }


def session_maker(
    client: Any, table: str, retry: RetryPolicy, recorder: Recorder
) -> Callable[[str], DynamoDBSession]:
    """New session objects that share the client, the retry policy and the recorder."""
    return lambda sid: DynamoDBSession(sid, client, table, retry=retry, on_operation=recorder)


def check_order(acknowledged: list[str], stored: list[Any]) -> int:
    """How many stored items of one writer are out of that writer's order (should be 0)."""
    position = {tag: index for index, tag in enumerate(acknowledged)}
    seen = [position[tag] for item in stored if (tag := tag_of(item)) in position]
    return sum(1 for a, b in pairwise(seen) if b < a)


async def verify(
    client: Any, table: str, acknowledged: dict[str, list[str]], concurrency: int
) -> dict[str, int]:
    """Read back every session and count lost, duplicated and reordered items."""
    gate = asyncio.Semaphore(concurrency)
    totals: Counter[str] = Counter()

    async def one(sid: str, tags: list[str]) -> None:
        async with gate:
            stored = await read_stored_items(client, table, sid)
        totals.update(lost_and_duplicated(tags, stored))
        totals["out_of_order"] += check_order(tags, stored)

    await asyncio.gather(*(one(sid, tags) for sid, tags in acknowledged.items()))
    totals["sessions_checked"] = len(acknowledged)
    return dict(totals)


async def sessions_workload(
    client: Any, table: str, sessions: int, turns: int, concurrency: int, retry: RetryPolicy
) -> dict[str, Any]:
    """`sessions` conversations of `turns` turns each, at most `concurrency` turns at once."""
    recorder = Recorder()
    make = session_maker(client, table, retry, recorder)
    gate = asyncio.Semaphore(concurrency)
    prefix = uuid.uuid4().hex[:6]
    acknowledged: dict[str, list[str]] = {}
    errors: Counter[str] = Counter()

    async def conversation(number: int) -> None:
        sid = f"load-{prefix}-{number:05d}"
        tags = acknowledged.setdefault(sid, [])
        for turn in range(turns):
            async with gate:
                session = make(sid)  # a stateless server builds one per request
                try:
                    await session.get_items()
                    for role in ("user", "assistant"):
                        tag = f"{sid}-t{turn:02d}-{role[0]}"
                        await session.add_items([message(tag, role)])
                        tags.append(tag)
                except Exception as exc:  # counted and reported
                    errors[type(exc).__name__] += 1

    started = time.perf_counter()
    await asyncio.gather(*(conversation(n) for n in range(sessions)))
    seconds = time.perf_counter() - started
    result = recorder.summary(seconds)
    result.update(
        sessions=sessions,
        turns=turns,
        sent=sessions * turns * 2,
        concurrency=concurrency,
        turns_per_second=sessions * turns / seconds,
        errors=dict(errors),
        integrity=await verify(client, table, acknowledged, concurrency),
    )
    return result


async def hot_workload(
    client: Any, table: str, writers: int, messages_each: int, retry: RetryPolicy
) -> dict[str, Any]:
    """`writers` session objects append `messages_each` messages each to one session at once."""
    recorder = Recorder()
    make = session_maker(client, table, retry, recorder)
    sid = f"hot-{writers}-{uuid.uuid4().hex[:8]}"
    start = asyncio.Event()
    acknowledged: list[str] = []
    per_writer: dict[str, list[str]] = {}
    errors: Counter[str] = Counter()

    async def writer(number: int) -> None:
        session = make(sid)
        mine = per_writer.setdefault(f"w{number}", [])
        await start.wait()
        for index in range(messages_each):
            tag = f"w{number:02d}-m{index:03d}"
            try:
                await session.add_items([message(tag, "user")])
            except Exception as exc:  # counted and reported
                errors[type(exc).__name__] += 1
            else:
                acknowledged.append(tag)
                mine.append(tag)

    tasks = [asyncio.create_task(writer(n)) for n in range(writers)]
    await asyncio.sleep(0)  # every writer waits at the start line
    started = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    seconds = time.perf_counter() - started
    stored = await read_stored_items(client, table, sid)
    result = recorder.summary(seconds)
    result.update(
        writers=writers,
        messages_each=messages_each,
        sent=writers * messages_each,
        errors=dict(errors),
        integrity={
            **lost_and_duplicated(acknowledged, stored),
            "out_of_order": sum(check_order(tags, stored) for tags in per_writer.values()),
            "sessions_checked": 1,
        },
    )
    return result


async def size_workload(
    client: Any, table: str, sizes: list[int], repetitions: int
) -> dict[str, Any]:
    """Median and p10/p90 latency of add, get and pop at each stored-history size.

    One session per size, prefilled in one write. Each repetition visits every
    size in turn (add one item, read, pop it back), so a change in machine load
    during the run spreads over all sizes instead of bending the curve.
    """
    recorder = Recorder()
    prefix = uuid.uuid4().hex[:8]
    sessions = {}
    for size in sizes:
        session = DynamoDBSession(f"size-{prefix}-{size}", client, table, on_operation=recorder)
        await session.add_items(
            [message(f"g-{i}", "assistant" if i % 2 else "user") for i in range(size)]
        )
        sessions[size] = session
    ops = ("add_items", "get_items", "pop_item")
    samples = {size: {op: [] for op in ops} for size in sizes}
    item_bytes = dict.fromkeys(sizes, 0)
    for rep in range(repetitions):
        for size, session in sessions.items():
            for op in ops:
                started = time.perf_counter()
                if op == "add_items":
                    await session.add_items([message(f"extra-{rep}", "assistant")])
                    item_bytes[size] = recorder.metrics[-1].item_size
                elif op == "get_items":
                    await session.get_items()
                else:
                    await session.pop_item()
                samples[size][op].append(time.perf_counter() - started)
    buckets = [
        {
            "items": size,
            "item_kb": item_bytes[size] / 1024,
            **{
                op: {
                    "median_ms": 1000 * percentile(values, 0.5),
                    "p10_ms": 1000 * percentile(values, 0.1),
                    "p90_ms": 1000 * percentile(values, 0.9),
                }
                for op, values in samples[size].items()
            },
        }
        for size in sizes
    ]
    return {"repetitions": repetitions, "buckets": buckets}


def plot(size_result: dict[str, Any], path: Path) -> None:
    """Latency against stored-history size: one line per operation, p10-p90 shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buckets = size_result["buckets"]
    sizes = [b["items"] for b in buckets]
    figure, axes = plt.subplots(figsize=(8, 5))
    for op, color in (
        ("add_items", "tab:blue"),
        ("get_items", "tab:green"),
        ("pop_item", "tab:red"),
    ):
        axes.plot(sizes, [b[op]["median_ms"] for b in buckets], marker="o", color=color, label=op)
        axes.fill_between(
            sizes,
            [b[op]["p10_ms"] for b in buckets],
            [b[op]["p90_ms"] for b in buckets],
            color=color,
            alpha=0.15,
        )
    axes.set_xlabel("items stored in the session (~200 B each)")
    axes.set_ylabel("latency, ms (median; band p10-p90)")
    axes.set_title("One item per session: every call carries the whole history")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    top = axes.secondary_xaxis(
        "top",
        functions=(
            lambda n: n * buckets[-1]["item_kb"] / max(sizes[-1], 1),
            lambda kb: kb * max(sizes[-1], 1) / max(buckets[-1]["item_kb"], 1e-9),
        ),
    )
    top.set_xlabel("item size, KB (DynamoDB limit 400 KB)")
    figure.text(
        0.99,
        0.01,
        f"moto server on loopback, {size_result['repetitions']} reps per size; compare shapes",
        ha="right",
        fontsize=7,
        color="gray",
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def print_report(data: dict[str, Any]) -> None:
    """Render the workloads as terminal tables."""
    summary = Table(title="Load: throughput and integrity (every session read back)")
    columns = (
        "workload",
        "ops",
        "s",
        "ops/s",
        "confl/write",
        "att/write",
        "retries/write",
        "CME",
        "stored/sent",
        "lost",
        "dup",
        "reordered",
    )
    for column in columns:
        summary.add_column(column, justify="right")
    details = Table(title="Load: latency per operation (from the on_operation hook)")
    for column in (
        "workload",
        "op",
        "count",
        "p50 ms",
        "p99 ms",
        "max ms",
        "calls/op",
        "confl/op",
        "max confl",
    ):
        details.add_column(column, justify="right")
    for name, result in data["workloads"].items():
        integrity = result["integrity"]
        summary.add_row(
            name,
            str(result["operations_total"]),
            f"{result['seconds']:.1f}",
            f"{result['ops_per_second']:.0f}",
            f"{result['conflicts_per_write']:.2f}",
            f"{result['attempts_per_write']:.2f}",
            f"{result['client_retries_per_write']:.3f}",
            str(result["errors"].get("ConcurrentModificationError", 0)),
            f"{integrity['stored']}/{result['sent']}",
            str(integrity["lost"]),
            str(integrity["duplicated"]),
            str(integrity["out_of_order"]),
        )
        for op, figures in result["by_operation"].items():
            details.add_row(
                name,
                op,
                str(figures["count"]),
                f"{figures['p50_ms']:.1f}",
                f"{figures['p99_ms']:.1f}",
                f"{figures['max_ms']:.1f}",
                f"{figures['calls_per_op']:.2f}",
                f"{figures['conflicts_per_op']:.2f}",
                str(figures["max_conflicts"]),
            )
    console.print(summary)
    console.print(details)
    if "size" not in data:
        return
    size = Table(title="Latency against stored-history size, one session (median ms)")
    for column in ("items", "item KB", "add", "get", "pop"):
        size.add_column(column, justify="right")
    for bucket in data["size"]["buckets"]:
        size.add_row(
            str(bucket["items"]),
            f"{bucket['item_kb']:.0f}",
            *(f"{bucket[op]['median_ms']:.1f}" for op in ("add_items", "get_items", "pop_item")),
        )
    console.print(size)
    for template, count in data.get("library_warnings", {}).items():
        console.print(f"[dim]library warning x{count}: {template}[/dim]")
    other_errors = {
        name: {k: v for k, v in r["errors"].items() if k != "ConcurrentModificationError"}
        for name, r in data["workloads"].items()
    }
    if any(other_errors.values()):
        console.print(f"[red]other errors:[/red] {other_errors}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the three workloads and return the results."""
    retry = RetryPolicy(
        max_attempts=args.max_attempts,
        base_delay=args.base_delay,
        max_delay=args.max_delay,
        max_elapsed=args.max_elapsed,
    )
    hot_writers = [int(n) for n in args.hot_writers.split(",") if n]
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    data: dict[str, Any] = {
        "environment": environment(),
        "config": {
            "sessions": args.sessions,
            "turns": args.turns,
            "concurrency": args.concurrency,
            "hot_writers": hot_writers,
            "hot_messages": args.hot_messages,
            "retry": asdict(retry),
            "sizes": sizes,
            "size_repetitions": args.size_repetitions,
            "message_bytes": 200,
            "workloads": args.workloads,
        },
        "workloads": {},
    }
    pool = max([args.concurrency, *hot_writers]) + 4
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        data["endpoint"] = args.endpoint or f"{args.backend} (child process)"
        async with open_client(url, pool=pool) as client:
            table = await new_table(client, "load")
            console.print(f"[dim]endpoint {url}, table {table}, retry {retry}[/dim]")
            if "sessions" in args.workloads:
                name = f"sessions {args.sessions}x{args.turns} c{args.concurrency}"
                console.print(f"[dim]running {name}[/dim]")
                data["workloads"][name] = await sessions_workload(
                    client, table, args.sessions, args.turns, args.concurrency, retry
                )
            for writers in hot_writers if "hot" in args.workloads else []:
                name = f"hot {writers}w x{args.hot_messages}"
                console.print(f"[dim]running {name}[/dim]")
                data["workloads"][name] = await hot_workload(
                    client, table, writers, args.hot_messages, retry
                )
            if "size" in args.workloads:
                console.print("[dim]running latency against size[/dim]")
                data["size"] = await size_workload(client, table, sizes, args.size_repetitions)
    return data


def main() -> None:
    """Parse the flags, run, print the tables, write the JSON and the plot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, about 30 s")
    parser.add_argument("--sessions", type=int, default=None, help="sessions (default 1000)")
    parser.add_argument("--turns", type=int, default=None, help="turns per session (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="turns in flight")
    parser.add_argument(
        "--hot-writers", default="16,64", help="comma-separated writer counts for the hot session"
    )
    parser.add_argument("--hot-messages", type=int, default=None, help="messages per hot writer")
    parser.add_argument("--size-repetitions", type=int, default=None, help="samples per size")
    defaults = RetryPolicy()
    parser.add_argument("--max-attempts", type=int, default=defaults.max_attempts)
    parser.add_argument("--base-delay", type=float, default=defaults.base_delay)
    parser.add_argument("--max-delay", type=float, default=defaults.max_delay)
    parser.add_argument("--max-elapsed", type=float, default=defaults.max_elapsed)
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"comma-separated subset of {','.join(WORKLOADS)} (default: all)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="JSON file name under benchmarks/results/ (default load.json, or "
        "load_quick.json with --quick)",
    )
    add_endpoint_option(parser)
    args = parser.parse_args()
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {sorted(unknown)}")
    quick = args.quick
    args.sessions = args.sessions or (50 if quick else 1000)
    args.turns = args.turns or (3 if quick else 10)
    args.hot_messages = args.hot_messages or (3 if quick else 10)
    args.size_repetitions = args.size_repetitions or (5 if quick else 25)

    library_log = logging.getLogger("openai_agents_session")
    warnings = WarningCounter()
    library_log.addHandler(warnings)
    library_log.propagate = False
    started = time.perf_counter()
    data = asyncio.run(run(args))
    data["library_warnings"] = dict(warnings.messages)
    data["seconds"] = time.perf_counter() - started
    data["load_average_1m_end"] = os.getloadavg()[0]
    print_report(data)
    outputs = []
    if "size" in data:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        png = RESULTS_DIR / ("latency_vs_size_quick.png" if args.quick else "latency_vs_size.png")
        plot(data["size"], png)
        data["plot"] = png.name
        outputs.append(f"plot: {png}")
    # A smoke run must not overwrite the figures of a full one.
    output = args.output or ("load_quick.json" if args.quick else "load.json")
    path = write_json(output, data)
    console.print(f"finished in {data['seconds']:.0f} s; results: {path}", *outputs, sep="; ")


if __name__ == "__main__":
    main()
