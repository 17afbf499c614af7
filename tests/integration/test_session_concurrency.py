"""Concurrent writers, concurrent pops, versions and cancellation, on a real endpoint.

The endpoint is the judge: after the dust settles the stored list must hold every
appended item exactly once, in each writer's order, and pops must remove distinct
items. Cancellation is timed by botocore events, not sleeps.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession
from tests.conftest import count_calls
from tests.support.sessions import (
    ClientMaker,
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    is_cleared,
    message,
    module_table,  # noqa: F401
    raw_fixture,  # noqa: F401
    raw_get,
    stored_items,
)

WRITERS = 16
PER_WRITER = 10


def sid() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def tagged(writer: int, index: int) -> dict[str, Any]:
    return {"role": "user", "content": f"w{writer:02d}-m{index:02d}", "writer": writer}


async def write_all(session: DynamoDBSession, writer: int, start: asyncio.Event) -> None:
    await start.wait()  # all writers begin together, so they really contend
    for index in range(PER_WRITER):
        await session.add_items([tagged(writer, index)])


async def run_together(*coroutines: Awaitable[Any]) -> list[Any]:
    """Run all to the end; fail with every error rather than leave tasks behind."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == [], f"{len(errors)} of {len(results)} failed, first: {errors[0]!r}"
    return results


def assert_every_message_once_in_writer_order(items: list[Any]) -> None:
    contents = [item["content"] for item in items]
    assert len(contents) == WRITERS * PER_WRITER
    duplicates = [c for c, n in Counter(contents).items() if n > 1]
    assert duplicates == []
    expected = {tagged(w, i)["content"] for w in range(WRITERS) for i in range(PER_WRITER)}
    assert set(contents) == expected
    for writer in range(WRITERS):
        own = [c for c in contents if c.startswith(f"w{writer:02d}-")]
        assert own == [tagged(writer, i)["content"] for i in range(PER_WRITER)]


async def test_concurrent_writers_on_one_client(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    start = asyncio.Event()
    sessions = [DynamoDBSession(session_id, client, table) for _ in range(WRITERS)]
    tasks = [asyncio.create_task(write_all(s, w, start)) for w, s in enumerate(sessions)]
    start.set()
    await run_together(*tasks)
    items = await stored_items(raw, table, session_id)
    assert items is not None
    assert_every_message_once_in_writer_order(items)
    assert await DynamoDBSession(session_id, raw, table).get_items() == items


async def test_concurrent_writers_on_separate_clients(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    start = asyncio.Event()
    sessions = [DynamoDBSession(session_id, await clients(), table) for _ in range(WRITERS)]
    tasks = [asyncio.create_task(write_all(s, w, start)) for w, s in enumerate(sessions)]
    start.set()
    await run_together(*tasks)
    items = await stored_items(raw, table, session_id)
    assert items is not None
    assert_every_message_once_in_writer_order(items)


async def test_concurrent_pops_take_distinct_items(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    original = [message(f"item-{i:02d}") for i in range(40)]
    await DynamoDBSession(session_id, raw, table).add_items(original)
    poppers = [DynamoDBSession(session_id, client, table) for _ in range(24)]
    popped = await run_together(*(p.pop_item() for p in poppers))
    assert None not in popped
    contents = [p["content"] for p in popped if p is not None]
    assert len(set(contents)) == len(contents) == 24
    remaining = await stored_items(raw, table, session_id)
    assert remaining == original[:16]  # pops always take from the newest end
    assert sorted(contents) == sorted(i["content"] for i in original[16:])


async def test_more_pops_than_items(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    original = [message(f"item-{i}") for i in range(10)]
    await DynamoDBSession(session_id, raw, table).add_items(original)
    poppers = [DynamoDBSession(session_id, client, table) for _ in range(16)]
    popped = await run_together(*(p.pop_item() for p in poppers))
    real = [p for p in popped if p is not None]
    assert len(real) == 10 and popped.count(None) == 6
    assert sorted(p["content"] for p in real) == sorted(i["content"] for i in original)
    assert await stored_items(raw, table, session_id) == []


async def test_concurrent_adds_and_pops_lose_and_duplicate_nothing(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    original = [message(f"seed-{i:02d}") for i in range(20)]
    await DynamoDBSession(session_id, raw, table).add_items(original)
    start = asyncio.Event()

    async def add(writer: int) -> None:
        session = DynamoDBSession(session_id, client, table)
        await start.wait()
        for index in range(5):
            await session.add_items([tagged(writer, index)])

    async def pop() -> list[Any]:
        session = DynamoDBSession(session_id, client, table)
        await start.wait()
        return [await session.pop_item() for _ in range(3)]

    adders = [asyncio.create_task(add(w)) for w in range(6)]
    poppers = [asyncio.create_task(pop()) for _ in range(6)]
    start.set()
    await run_together(*adders)
    popped = [item for batch in await run_together(*poppers) for item in batch]
    # 20 seeded items, and at most 30 added before a pop: nothing ever runs dry.
    assert None not in popped
    remaining = await stored_items(raw, table, session_id)
    assert remaining is not None
    everything = [*original, *(tagged(w, i) for w in range(6) for i in range(5))]
    out = [item["content"] for item in [*popped, *remaining]]
    assert Counter(out) == Counter(item["content"] for item in everything)
    for writer in range(6):
        own = [i["content"] for i in remaining if i.get("writer") == writer]
        assert own == sorted(own)


async def test_updated_at_increases_on_every_write(client: Any, table: str, raw: Any) -> None:
    session_id = sid()

    def shifted(offset: float) -> Callable[[], float]:
        return lambda: time.time() + offset

    # Writers whose clocks disagree by an hour either way still produce rising versions.
    writers = [
        DynamoDBSession(session_id, client, table),
        DynamoDBSession(session_id, client, table, clock=shifted(-3600), time_source="host"),
        DynamoDBSession(session_id, client, table, clock=shifted(+3600), time_source="host"),
    ]
    seen: list[Decimal] = []
    for step in range(12):
        writer = writers[step % 3]
        if step % 4 == 3:
            assert await writer.pop_item() is not None
        else:
            await writer.add_items([message(f"step-{step}")])
        stored = await raw_get(raw, table, session_id)
        assert stored is not None
        version = Decimal(stored["updated_at"]["N"])
        assert not seen or version > seen[-1], (step, version, seen[-1])
        assert version in {Decimal(v) for v in stored["recent_writes"]["NS"]}
        seen.append(version)
    assert len(set(seen)) == len(seen)


# -------------------------------------------------------------- cancellation


class InFlight:
    """Tells when a client sends an operation and when its answer has come back."""

    def __init__(self, client: Any, operation: str) -> None:
        self.sent = asyncio.Event()
        self.answered = False
        client.meta.events.register(f"before-send.dynamodb.{operation}", self._on_send)
        client.meta.events.register(f"after-call.dynamodb.{operation}", self._on_answer)

    def _on_send(self, **_: Any) -> None:
        self.sent.set()

    def _on_answer(self, **_: Any) -> None:
        self.answered = True


async def cancel_in_flight(flight: InFlight, task: asyncio.Task[Any]) -> None:
    """Cancel `task` while its request is on the wire; expect the cancellation back."""
    await asyncio.wait_for(flight.sent.wait(), timeout=10)
    # The task must wait for the endpoint's answer, so nothing has come back yet.
    assert not flight.answered
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    # The write settled before the cancellation was let through.
    assert flight.answered


async def test_cancelled_add_still_settles(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("a")])
    flight = InFlight(client, "PutItem")
    task = asyncio.create_task(session.add_items([message("b"), message("c")]))
    await cancel_in_flight(flight, task)
    assert await stored_items(raw, table, session_id) == [message(t) for t in "abc"]
    # The object knows its write landed: the next add is one call and exact.
    calls = count_calls(client)
    await session.add_items([message("d")])
    assert calls == Counter({"PutItem": 1})
    assert await stored_items(raw, table, session_id) == [message(t) for t in "abcd"]


async def test_cancelled_pop_still_settles(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("a"), message("b"), message("c")])
    flight = InFlight(client, "PutItem")
    task = asyncio.create_task(session.pop_item())
    await cancel_in_flight(flight, task)
    assert await stored_items(raw, table, session_id) == [message("a"), message("b")]
    calls = count_calls(client)
    await session.add_items([message("d")])
    assert calls == Counter({"PutItem": 1})
    assert await stored_items(raw, table, session_id) == [message(t) for t in "abd"]
    assert await session.pop_item() == message("d")


async def test_cancelled_clear_still_settles(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("a"), message("b")])
    flight = InFlight(client, "PutItem")
    task = asyncio.create_task(session.clear_session())
    await cancel_in_flight(flight, task)
    assert is_cleared(await raw_get(raw, table, session_id))
    calls = count_calls(client)
    await session.add_items([message("fresh")])
    assert calls == Counter({"PutItem": 1})  # it knows the item is gone
    assert await stored_items(raw, table, session_id) == [message("fresh")]


async def test_cancelled_add_during_a_conflict_retry(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("a")])
    await DynamoDBSession(session_id, raw, table).add_items([message("other")])
    # Let the first (stale) PutItem fail, then cancel while the retry is on the wire.
    puts = 0
    retry_sent = asyncio.Event()

    def on_send(**_: Any) -> None:
        nonlocal puts
        puts += 1
        if puts == 2:
            retry_sent.set()

    client.meta.events.register("before-send.dynamodb.PutItem", on_send)
    task = asyncio.create_task(session.add_items([message("b")]))
    await asyncio.wait_for(retry_sent.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    expected = [message("a"), message("other"), message("b")]
    assert await stored_items(raw, table, session_id) == expected
    await session.add_items([message("c")])
    assert await stored_items(raw, table, session_id) == [*expected, message("c")]
