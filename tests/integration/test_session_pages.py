"""Histories past one item: pages, reads with and without limit, pops, clear, TTL.

Everything is judged by what the endpoint holds, decoded independently of the
library (`stored_history`), and through fresh session objects.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import uuid
from collections import Counter
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession, SessionTooLargeError
from openai_agents_session.models.codec import item_size
from tests.conftest import count_calls
from tests.support.sessions import (
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    is_cleared,
    module_table,  # noqa: F401
    raw_fixture,  # noqa: F401
    raw_get,
    scan_pages,
    stored_history,
)


def sid() -> str:
    return f"p-{uuid.uuid4().hex[:10]}"


def text(n: int, seed: int) -> str:
    """Realistic-ish text of about `n` characters: words, so it compresses like prose."""
    rng = random.Random(seed)
    words = ["agent", "tool", "weather", "Paris", "result", "the", "a", "call", "JSON", "user"]
    out: list[str] = []
    size = 0
    while size < n:
        word = rng.choice(words) + str(rng.randrange(1000))
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:n]


def turn(i: int, size: int) -> dict[str, Any]:
    return {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i}:{text(size, i)}"}


def image_item(megabytes: float) -> dict[str, Any]:
    data = base64.b64encode(os.urandom(int(megabytes * 1_000_000 * 3 / 4))).decode()
    return {
        "role": "user",
        "content": [{"type": "input_image", "image_url": f"data:image/png;base64,{data}"}],
    }


async def test_a_1_2_mb_history_round_trips_through_fresh_objects(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    history = [turn(i, 20_000) for i in range(60)]  # 60 items, about 1.2 MB
    writer = DynamoDBSession(session_id, client, table)
    for start in range(0, 60, 6):
        await writer.add_items(history[start : start + 6])
    head = await raw_get(raw, table, session_id)
    assert head is not None and "pages" in head and item_size(head) <= 384 * 1024
    assert await stored_history(raw, table, session_id) == history
    for limit in (None, 1, 5, 20, 59, 60, 61):
        reader = DynamoDBSession(session_id, client, table)
        expected = history if limit is None else history[-limit:]
        assert await reader.get_items(limit) == expected, limit


async def test_get_items_with_a_limit_reads_only_the_newest_pages(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    history = [turn(i, 4_000) for i in range(300)]  # 1.2 MB: three pages of 512 KB at most
    writer = DynamoDBSession(session_id, client, table, page_threshold=32 * 1024)
    for start in range(0, 300, 3):
        await writer.add_items(history[start : start + 3])
    reader = DynamoDBSession(session_id, client, table, page_threshold=32 * 1024)
    calls = count_calls(client)
    gets: list[int] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem",
        lambda params, **_: gets.append(len(params["RequestItems"][table]["Keys"])),
    )
    assert await reader.get_items(3) == history[-3:]
    assert calls == Counter({"GetItem": 1})  # the head holds the newest items
    calls.clear()
    assert await reader.get_items(20) == history[-20:]
    few = sum(gets)
    gets.clear()
    assert await reader.get_items() == history
    assert few < sum(gets)  # fewer page parts for the newest 20 than for all


async def test_a_1_5_mb_single_item_round_trips(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    image = image_item(1.5)
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([{"role": "user", "content": "look"}])
    await session.add_items([image])
    await session.add_items([{"role": "assistant", "content": "a cat"}])
    expected = [
        {"role": "user", "content": "look"},
        image,
        {"role": "assistant", "content": "a cat"},
    ]
    assert await stored_history(raw, table, session_id) == expected
    assert await DynamoDBSession(session_id, client, table).get_items() == expected
    parts = await scan_pages(raw, table, session_id)
    assert len(parts) >= 3  # about 1.1 MB compressed: split over several items
    assert all(item_size(part) < 400 * 1024 for part in parts)
    assert await DynamoDBSession(session_id, client, table).get_items(1) == expected[-1:]


async def test_pops_walk_back_through_750_kb_and_release_pages(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    history = [turn(i, 25_000) for i in range(30)]  # about 750 KB
    writer = DynamoDBSession(session_id, client, table, page_threshold=64 * 1024)
    for start in range(0, 30, 3):
        await writer.add_items(history[start : start + 3])
    assert len(await scan_pages(raw, table, session_id)) >= 2
    popper = DynamoDBSession(session_id, client, table, page_threshold=64 * 1024)
    for expected in reversed(history):
        assert await popper.pop_item() == expected
    assert await popper.pop_item() is None
    # Every page was emptied by the pops, and deleted.
    assert await scan_pages(raw, table, session_id) == []
    head = await raw_get(raw, table, session_id)
    assert head is not None and "pages" not in head and head["conversation_data"]["S"] == "[]"


async def test_six_writers_append_onto_a_600_kb_history_and_lose_nothing(
    clients: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    base = [turn(i, 20_000) for i in range(30)]  # about 600 KB
    seed = DynamoDBSession(session_id, await clients(), table, page_threshold=64 * 1024)
    await seed.add_items(base)

    async def writer(w: int) -> None:
        session = DynamoDBSession(session_id, await clients(), table, page_threshold=64 * 1024)
        for n in range(5):
            await session.add_items([{"role": "user", "content": f"w{w}-{n}:{text(3_000, w)}"}])

    await asyncio.gather(*(writer(w) for w in range(6)))
    stored = await stored_history(raw, table, session_id)
    assert stored is not None and stored[:30] == base
    added = [m["content"].split(":")[0] for m in stored[30:]]
    assert Counter(added) == Counter(f"w{w}-{n}" for w in range(6) for n in range(5))
    for w in range(6):  # each writer's own appends stay in order
        mine = [a for a in added if a.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{n}" for n in range(5)]


async def test_clear_removes_every_page(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, page_threshold=16 * 1024)
    await session.add_items([turn(i, 5_000) for i in range(40)])
    assert await scan_pages(raw, table, session_id)
    await DynamoDBSession(session_id, client, table).clear_session()
    assert await scan_pages(raw, table, session_id) == []
    assert is_cleared(await raw_get(raw, table, session_id))
    assert await session.get_items() == []
    await session.add_items([turn(99, 10)])
    assert await DynamoDBSession(session_id, client, table).get_items() == [turn(99, 10)]


async def test_an_expired_paged_session_reads_as_absent(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    clock = [1_000_000.0]
    session = DynamoDBSession(
        session_id,
        client,
        table,
        ttl_seconds=60,
        page_threshold=16 * 1024,
        clock=lambda: clock[0],
        time_source="host",
    )
    await session.add_items([turn(i, 5_000) for i in range(20)])
    pages = await scan_pages(raw, table, session_id)
    head = await raw_get(raw, table, session_id)
    assert pages and head is not None
    # Pages expire after their head, never before it.
    assert all(int(p["ttl"]["N"]) > int(head["ttl"]["N"]) for p in pages)
    clock[0] += 61
    fresh = DynamoDBSession(
        session_id,
        client,
        table,
        ttl_seconds=60,
        page_threshold=16 * 1024,
        clock=lambda: clock[0],
        time_source="host",
    )
    assert await fresh.get_items() == []
    assert await fresh.pop_item() is None
    await fresh.add_items([turn(1, 10)])
    assert await fresh.get_items() == [turn(1, 10)]
    # Replacing the expired conversation released its pages.
    assert await scan_pages(raw, table, session_id) == []


async def test_max_session_bytes_names_the_cap(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(
        session_id, client, table, page_threshold=16 * 1024, max_session_bytes=200_000
    )
    await session.add_items([turn(i, 5_000) for i in range(30)])
    before = await stored_history(raw, table, session_id)
    with pytest.raises(SessionTooLargeError, match="max_session_bytes") as caught:
        await session.add_items([turn(i, 5_000) for i in range(30, 40)])
    assert caught.value.limit == 200_000
    assert await stored_history(raw, table, session_id) == before
