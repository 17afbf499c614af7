"""Core benchmark: `DynamoDBSession` side by side with a naive read-modify-write session.

Prints, for both implementations, against moto's server:

- DynamoDB calls per operation (add, get, pop, clear);
- DynamoDB calls per agent turn through the SDK's real ``Runner.run`` (scripted model);
- median and p90 latency of add/get/pop at 10, 100 and 1,000 stored items, and
  the ratio ours/baseline;
- messages lost and duplicated when 16 writers append to one session at once.

Run from the repository root: ``python -m benchmarks.bench_core [--quick]``.
The results also go to ``benchmarks/results/bench_core.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import agents
from agents import Agent, Runner
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.memory import SessionSettings
from agents.models.interface import Model, ModelTracing
from agents.usage import Usage
from openai.types.responses import ResponseOutputMessage, ResponseOutputText
from rich.console import Console
from rich.table import Table

from openai_agents_session import DynamoDBSession

from ._common import (
    CallCounter,
    add_endpoint_option,
    count_calls,
    dynamodb_endpoint,
    environment,
    lost_and_duplicated,
    message,
    new_table,
    open_client,
    percentile,
    read_stored_items,
    write_json,
)

IMPLEMENTATIONS = ("ours", "baseline")
OPERATIONS = ("add_items", "get_items", "pop_item")

# Wide enough for the tables when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 140)


class NaiveSession:
    """The existing implementation's approach: read, change in memory, write back blindly.

    ``get_items`` is one GetItem; ``add_items`` and ``pop_item`` are a GetItem then
    an unconditional PutItem of the whole list; ``clear_session`` is a DeleteItem;
    ``updated_at`` is whole seconds. Reads are strongly consistent so that the only
    difference from ours that matters is the missing write condition.
    """

    def __init__(
        self, session_id: str, client: Any, table_name: str, ttl_seconds: int | None = None
    ) -> None:
        self.session_id = session_id
        self.session_settings = SessionSettings()
        self._client = client
        self._table = table_name
        self._ttl_seconds = ttl_seconds

    async def _load(self) -> list[Any]:
        response = await self._client.get_item(
            TableName=self._table, Key={"session_id": {"S": self.session_id}}, ConsistentRead=True
        )
        raw = response.get("Item")
        return json.loads(raw["conversation_data"]["S"]) if raw else []

    async def _store(self, items: list[Any]) -> None:
        now = int(time.time())
        item = {
            "session_id": {"S": self.session_id},
            "conversation_data": {"S": json.dumps(items)},
            "updated_at": {"N": str(now)},
        }
        if self._ttl_seconds is not None:
            item["ttl"] = {"N": str(now + self._ttl_seconds)}
        await self._client.put_item(TableName=self._table, Item=item)

    async def get_items(self, limit: int | None = None) -> list[Any]:
        """Whole history, or the newest `limit` items."""
        items = await self._load()
        return items[-limit:] if limit else items

    async def add_items(self, items: list[Any]) -> None:
        """Read the history, append, write it all back with no condition."""
        stored = await self._load()
        stored.extend(items)
        await self._store(stored)

    async def pop_item(self) -> Any | None:
        """Read the history, drop the newest item, write the rest back with no condition."""
        stored = await self._load()
        if not stored:
            return None
        popped = stored.pop()
        await self._store(stored)
        return popped

    async def clear_session(self) -> None:
        """Delete the item."""
        await self._client.delete_item(
            TableName=self._table, Key={"session_id": {"S": self.session_id}}
        )


SessionFactory = Callable[[str], Any]


def factory(kind: str, client: Any, table: str) -> SessionFactory:
    """Sessions of implementation `kind` ("ours" or "baseline") on `table`."""
    if kind == "ours":
        return lambda session_id: DynamoDBSession(session_id, client, table)
    return lambda session_id: NaiveSession(session_id, client, table)


class ScriptedModel(Model):
    """A model that answers every request with one short assistant message, offline."""

    def __init__(self) -> None:
        self.requests = 0

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        """One assistant message, numbered by request."""
        self.requests += 1
        text = message(f"reply-{self.requests}", "assistant")["content"][0]["text"]
        output = ResponseOutputMessage(
            id=f"msg_{uuid.uuid4().hex}",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )
        return ModelResponse(output=[output], usage=Usage(requests=1), response_id=None)

    def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: Any,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """Not used: the benchmark runs non-streamed turns."""
        raise NotImplementedError


async def calls_of(counter: CallCounter, action: Awaitable[Any]) -> int:
    """Calls made while awaiting `action` (the benchmark runs these one at a time)."""
    before = counter.total()
    await action
    return counter.total() - before


async def bench_calls(client: Any, table: str, counter: CallCounter) -> dict[str, dict[str, int]]:
    """DynamoDB calls per operation, steady state and on a fresh session object."""
    rows: dict[str, dict[str, int]] = {}
    for kind in IMPLEMENTATIONS:
        make = factory(kind, client, table)
        sid = f"calls-{kind}-{uuid.uuid4().hex[:8]}"
        session = make(sid)
        counts = {
            "add_items, new object, new session": await calls_of(
                counter, session.add_items([message("c-0", "user")])
            )
        }
        counts["add_items"] = await calls_of(counter, session.add_items([message("c-1")]))
        counts["get_items"] = await calls_of(counter, session.get_items())
        counts["pop_item"] = await calls_of(counter, session.pop_item())
        counts["clear_session"] = await calls_of(counter, session.clear_session())
        await make(sid).add_items([message("c-2"), message("c-3")])
        counts["add_items, new object, existing session"] = await calls_of(
            counter, make(sid).add_items([message("c-4")])
        )
        counts["pop_item, new object"] = await calls_of(counter, make(sid).pop_item())
        for name, value in counts.items():
            rows.setdefault(name, {})[kind] = value
    return rows


async def bench_runner(
    client: Any, table: str, counter: CallCounter, turns: int
) -> dict[str, dict[str, Any]]:
    """DynamoDB calls per ``Runner.run`` turn, with one session object and with one per turn."""
    agents.set_tracing_disabled(True)
    agent = Agent(name="bench", instructions="Answer briefly.", model=ScriptedModel())
    rows: dict[str, dict[str, Any]] = {}
    for kind in IMPLEMENTATIONS:
        make = factory(kind, client, table)
        for mode in ("same session object", "new session object per turn"):
            sid = f"runner-{kind}-{uuid.uuid4().hex[:8]}"
            session = make(sid)
            per_turn = []
            for turn in range(turns):
                if mode != "same session object":
                    session = make(sid)
                user = message(f"{sid}-t{turn}")["content"]
                per_turn.append(await calls_of(counter, Runner.run(agent, user, session=session)))
            stored = await read_stored_items(client, table, sid)
            if len(stored) != 2 * turns:
                raise AssertionError(f"{kind}: {len(stored)} items after {turns} turns")
            rows.setdefault(mode, {})[kind] = {
                "first_turn": per_turn[0],
                "later_turns_max": max(per_turn[1:], default=per_turn[0]),
                "per_turn": per_turn,
            }
    return rows


async def bench_latency(
    client: Any, table: str, sizes: list[int], repetitions: int
) -> dict[str, Any]:
    """Latency of add, get and pop at each stored-history size, ours and baseline interleaved.

    Each repetition adds one item, reads the history, then pops the item back, so
    the size stays put. The two implementations alternate which goes first so
    that drift in machine load hits both alike.
    """
    results: dict[str, Any] = {}
    for size in sizes:
        sessions = {}
        for kind in IMPLEMENTATIONS:
            sid = f"latency-{kind}-{size}-{uuid.uuid4().hex[:8]}"
            session = factory(kind, client, table)(sid)
            prefill = [message(f"{sid}-{i}", "assistant" if i % 2 else "user") for i in range(size)]
            await session.add_items(prefill)
            await session.get_items()  # both start from a state they have seen
            sessions[kind] = session
        samples: dict[str, dict[str, list[float]]] = {
            kind: {op: [] for op in OPERATIONS} for kind in IMPLEMENTATIONS
        }
        for rep in range(repetitions):
            order = IMPLEMENTATIONS if rep % 2 == 0 else IMPLEMENTATIONS[::-1]
            for kind in order:
                session = sessions[kind]
                extra = message(f"extra-{rep}", "assistant")
                for op, action in (
                    ("add_items", lambda s=session, e=extra: s.add_items([e])),
                    ("get_items", lambda s=session: s.get_items()),
                    ("pop_item", lambda s=session: s.pop_item()),
                ):
                    started = time.perf_counter()
                    await action()
                    samples[kind][op].append(time.perf_counter() - started)
        for kind in IMPLEMENTATIONS:
            stored = await read_stored_items(client, table, sessions[kind].session_id)
            if len(stored) != size:
                raise AssertionError(f"{kind}: {len(stored)} items, expected {size}")
        results[str(size)] = {
            kind: {
                op: {
                    "median_ms": 1000 * percentile(values, 0.5),
                    "p90_ms": 1000 * percentile(values, 0.9),
                    "samples": len(values),
                }
                for op, values in samples[kind].items()
            }
            for kind in IMPLEMENTATIONS
        }
        for op in OPERATIONS:
            ours = results[str(size)]["ours"][op]["median_ms"]
            baseline = results[str(size)]["baseline"][op]["median_ms"]
            results[str(size)].setdefault("ratio_median", {})[op] = ours / baseline
    return results


async def race(make: SessionFactory, sid: str, writers: int, messages_each: int) -> dict[str, Any]:
    """`writers` session objects from `make` append `messages_each` messages each to `sid`."""
    start = asyncio.Event()
    acknowledged: list[str] = []
    errors: Counter[str] = Counter()

    async def writer(number: int) -> None:
        session = make(sid)
        await start.wait()
        for index in range(messages_each):
            tag = f"w{number:02d}-m{index:02d}"
            try:
                await session.add_items([message(tag, "user")])
            except Exception as exc:  # counted and reported, not hidden
                errors[type(exc).__name__] += 1
            else:
                acknowledged.append(tag)

    tasks = [asyncio.create_task(writer(n)) for n in range(writers)]
    await asyncio.sleep(0)  # let every writer reach the start line
    started = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return {
        "acknowledged": acknowledged,
        "errors": dict(errors),
        "seconds": time.perf_counter() - started,
    }


async def bench_writers(
    client: Any, table: str, writers: int, messages_each: int
) -> dict[str, dict[str, Any]]:
    """Concurrent appends to one session, then a read-back of what was stored."""
    results: dict[str, dict[str, Any]] = {}
    for kind in IMPLEMENTATIONS:
        sid = f"writers-{kind}-{uuid.uuid4().hex[:8]}"
        outcome = await race(factory(kind, client, table), sid, writers, messages_each)
        stored = await read_stored_items(client, table, sid)
        results[kind] = {
            "writers": writers,
            "messages_each": messages_each,
            "sent": writers * messages_each,
            **lost_and_duplicated(outcome["acknowledged"], stored),
            "errors": outcome["errors"],
            "seconds": outcome["seconds"],
        }
    return results


def print_report(data: dict[str, Any]) -> None:
    """Render the results as terminal tables."""
    calls = Table(title="DynamoDB calls per operation")
    calls.add_column("operation")
    for kind in IMPLEMENTATIONS:
        calls.add_column(kind, justify="right")
    for name, row in data["calls_per_operation"].items():
        calls.add_row(name, *(str(row[kind]) for kind in IMPLEMENTATIONS))
    console.print(calls)

    runner = Table(title=f"DynamoDB calls per Runner.run turn ({data['config']['turns']} turns)")
    runner.add_column("session objects")
    for kind in IMPLEMENTATIONS:
        runner.add_column(f"{kind}: first/later", justify="right")
    for mode, row in data["calls_per_turn"].items():
        runner.add_row(
            mode,
            *(f"{row[k]['first_turn']} / {row[k]['later_turns_max']}" for k in IMPLEMENTATIONS),
        )
    console.print(runner)

    reps = data["config"]["repetitions"]
    latency = Table(title=f"Latency in ms, median (p90), {reps} repetitions, interleaved")
    for column in ("items", "op", "ours", "baseline", "ours/baseline"):
        latency.add_column(column, justify="right")
    for size, by_kind in data["latency"].items():
        for op in OPERATIONS:
            cells = [
                f"{by_kind[k][op]['median_ms']:.2f} ({by_kind[k][op]['p90_ms']:.2f})"
                for k in IMPLEMENTATIONS
            ]
            latency.add_row(size, op, *cells, f"{by_kind['ratio_median'][op]:.2f}x")
    console.print(latency)

    writers = Table(title="Concurrent writers on one session")
    for column in ("impl", "writers x msgs", "stored", "lost", "duplicated", "errors", "s"):
        writers.add_column(column, justify="right")
    for kind in IMPLEMENTATIONS:
        row = data["concurrent_writers"][kind]
        writers.add_row(
            kind,
            f"{row['writers']} x {row['messages_each']}",
            f"{row['stored']}/{row['sent']}",
            str(row["lost"]),
            str(row["duplicated"]),
            ", ".join(f"{n} {name}" for name, n in row["errors"].items()) or "0",
            f"{row['seconds']:.2f}",
        )
    console.print(writers)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every part of the benchmark and return the results."""
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    repetitions = 10 if args.quick else args.repetitions
    turns = 3 if args.quick else args.turns
    data: dict[str, Any] = {
        "environment": environment(),
        "config": {
            "sizes": sizes,
            "repetitions": repetitions,
            "turns": turns,
            "writers": args.writers,
            "messages_each": args.messages,
            "message_bytes": 200,
        },
    }
    with dynamodb_endpoint(args.endpoint, args.backend) as url:
        data["endpoint"] = args.endpoint or f"{args.backend} (child process)"
        async with open_client(url, pool=max(16, args.writers * 2)) as client:
            table = await new_table(client)
            counter = count_calls(client)
            console.print(f"[dim]endpoint {url}, table {table}[/dim]")
            data["calls_per_operation"] = await bench_calls(client, table, counter)
            data["calls_per_turn"] = await bench_runner(client, table, counter, turns)
            data["latency"] = await bench_latency(client, table, sizes, repetitions)
            data["concurrent_writers"] = await bench_writers(
                client, table, args.writers, args.messages
            )
    return data


def main() -> None:
    """Parse the flags, run, print the tables and the JSON path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: sizes 10 and 100, 10 reps")
    parser.add_argument("--repetitions", type=int, default=60, help="latency samples per op")
    parser.add_argument("--turns", type=int, default=5, help="Runner turns per session")
    parser.add_argument("--writers", type=int, default=16, help="concurrent writers")
    parser.add_argument("--messages", type=int, default=10, help="messages per writer")
    add_endpoint_option(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    data = asyncio.run(run(args))
    data["seconds"] = time.perf_counter() - started
    data["load_average_1m_end"] = os.getloadavg()[0]
    print_report(data)
    # A smoke run must not overwrite the figures of a full one.
    path = write_json("bench_core_quick.json" if args.quick else "bench_core.json", data)
    console.print(f"finished in {data['seconds']:.0f} s; results: {path}")


if __name__ == "__main__":
    main()
