"""What a chat application needs from the catalog: a new empty chat, sidebar
metadata, one usage shape. Against a real endpoint (moto or dynalite)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from openai_agents_session import (
    DynamoDBSession,
    SessionExistsError,
    list_sessions,
)
from openai_agents_session.models.usage import turn_entries
from tests.conftest import ClientFactory, count_calls
from tests.support.sessions import raw_get


def _sid() -> str:
    return f"chat-{uuid.uuid4().hex[:10]}"


async def test_a_new_titled_chat_is_saved_empty_in_one_write_and_listed(
    client: Any, table: str
) -> None:
    sid = _sid()
    calls = count_calls(client)
    chat = DynamoDBSession(
        sid, client, table, owner="ada", title="New chat", metadata={"pinned": True}
    )
    assert await chat.create() is True
    assert dict(calls) == {"PutItem": 1}  # one conditional write, no read first

    head = await raw_get(client, table, sid)
    assert head is not None
    assert head["owner"] == {"S": "ada"} and head["title"] == {"S": "New chat"}
    assert head["item_count"] == {"N": "0"} and "created_at" in head
    assert await chat.get_items() == []

    page = await list_sessions(client, table, owner="ada", include_metadata=True)
    [summary] = page.sessions
    assert (summary.session_id, summary.title, summary.item_count) == (sid, "New chat", 0)
    assert summary.created_at is not None and summary.metadata == {"pinned": True}

    # The first message keeps the chat's created_at and title.
    await DynamoDBSession(sid, client, table).add_items([{"role": "user", "content": "hi"}])
    [after] = (await list_sessions(client, table, owner="ada")).sessions
    assert after.created_at == summary.created_at and after.title == "New chat"
    assert after.item_count == 1


async def test_create_on_an_existing_chat_raises_or_returns_false_and_writes_nothing(
    client: Any, table: str
) -> None:
    sid = _sid()
    first = DynamoDBSession(sid, client, table, owner="ada", title="Mine")
    await first.add_items([{"role": "user", "content": "hello"}])
    before = await raw_get(client, table, sid)

    other = DynamoDBSession(sid, client, table, owner="ada", title="Replaced?")
    with pytest.raises(SessionExistsError) as caught:
        await other.create()
    assert (
        sid in str(caught.value) and table in str(caught.value) and "exist_ok" in str(caught.value)
    )
    assert await other.create(exist_ok=True) is False
    assert await raw_get(client, table, sid) == before

    # A chat saved empty exists too: a second "New chat" with its id changes nothing.
    empty = _sid()
    assert await DynamoDBSession(empty, client, table, owner="ada", title="A").create()
    saved = await raw_get(client, table, empty)
    again = DynamoDBSession(empty, client, table, owner="ada", title="B")
    assert await again.create(exist_ok=True) is False
    assert await raw_get(client, table, empty) == saved


async def test_create_over_a_cleared_or_expired_session_saves_a_fresh_chat(
    client: Any, table: str
) -> None:
    sid = _sid()
    old = DynamoDBSession(sid, client, table, owner="ada", metadata={"pinned": True})
    await old.add_items([{"role": "user", "content": "secret"}])
    await old.clear_session()
    fresh = DynamoDBSession(sid, client, table, owner="ada", title="Again")
    assert await fresh.create() is True
    head = await raw_get(client, table, sid)
    assert head is not None and "metadata" not in head and head["title"] == {"S": "Again"}
    assert await fresh.get_items() == []

    # Expired (ttl passed, DynamoDB has not deleted it yet): no session.
    gone = _sid()
    clock = [time.time()]
    ttl = DynamoDBSession(gone, client, table, ttl_seconds=60, time_source="host",
                          clock=lambda: clock[0])  # fmt: skip
    await ttl.add_items([{"role": "user", "content": "old"}])
    clock[0] += 3600
    later = DynamoDBSession(gone, client, table, owner="ada", time_source="host",
                            clock=lambda: clock[0])  # fmt: skip
    assert await later.create() is True
    assert await later.get_items() == []


async def test_a_new_empty_chat_can_be_renamed(client: Any, table: str) -> None:
    sid = _sid()
    chat = DynamoDBSession(sid, client, table, owner="ada", title="New chat")
    await chat.create()
    assert await chat.set_attributes(title="Trip to Rome") is True
    [summary] = (await list_sessions(client, table, owner="ada")).sessions
    assert summary.title == "Trip to Rome" and summary.item_count == 0
    # A cleared chat is not brought back by a rename.
    await chat.clear_session()
    assert await chat.set_attributes(title="Back?") is False
    assert (await list_sessions(client, table, owner="ada")).sessions == []


async def test_racing_creates_save_one_chat(make_client: ClientFactory, table: str) -> None:
    sid = _sid()
    clients = [await make_client() for _ in range(4)]
    chats = [
        DynamoDBSession(sid, c, table, owner="ada", title=f"title {i}")
        for i, c in enumerate(clients)
    ]
    results = await asyncio.gather(*(chat.create(exist_ok=True) for chat in chats))
    assert sorted(results) == [False, False, False, True]
    winner = results.index(True)
    head = await raw_get(clients[0], table, sid)
    assert head is not None and head["title"] == {"S": f"title {winner}"}


async def test_sidebar_metadata_costs_one_batch_get_per_page(client: Any, table: str) -> None:
    for index in range(5):
        meta = {"pinned": index % 2 == 0}
        chat = DynamoDBSession(f"side-{index}", client, table, owner="bo", metadata=meta)
        await chat.add_items([{"role": "user", "content": f"q{index}"}])
    await DynamoDBSession("side-bare", client, table, owner="bo").create()
    calls = count_calls(client)
    page = await list_sessions(client, table, owner="bo", limit=10, include_metadata=True)
    assert dict(calls) == {"Query": 1, "BatchGetItem": 1}
    pinned = {s.session_id: (s.metadata or {}).get("pinned") for s in page.sessions}
    assert pinned == {
        "side-0": True, "side-1": False, "side-2": True, "side-3": False, "side-4": True,
        "side-bare": None,
    }  # fmt: skip
    calls.clear()
    plain = await list_sessions(client, table, owner="bo", limit=10)
    assert dict(calls) == {"Query": 1}
    assert all(s.metadata is None for s in plain.sessions)


async def test_turn_usage_has_one_shape_whatever_the_argument(client: Any, table: str) -> None:
    chat = DynamoDBSession(_sid(), client, table)
    assert await chat.get_turn_usage() == []
    assert await chat.get_turn_usage(1) == []
    record = {"turns": {"1": {"requests": 1, "input_tokens": 3}, "2": {"requests": 2}}}
    assert [e["user_turn_number"] for e in turn_entries(record, None)] == [1, 2]
    [second] = turn_entries(record, 2)
    assert second["requests"] == 2 and second["user_turn_number"] == 2
    assert turn_entries(record, 3) == []


@pytest.mark.parametrize("fault", ["drop_response", "server_error"])
async def test_a_create_whose_answer_is_lost_is_recognised_not_refused(
    endpoint: str, make_client: ClientFactory, table: str, fault: str
) -> None:
    """The put landed, its answer was lost and the client resent it: the resend's
    condition fails on the chat the first copy saved, which is this call's own."""
    from tests.support.proxy import FaultProxy

    sid = _sid()
    async with FaultProxy(endpoint) as proxy:
        proxy.add_rule(op="PutItem", fault=fault, times=1)
        client = await make_client(url=proxy.url, retries={"mode": "legacy", "max_attempts": 3})
        chat = DynamoDBSession(sid, client, table, owner="ada", title="New chat")
        assert await chat.create() is True
        assert proxy.faults[("PutItem", fault)] == 1
        assert proxy.forwarded["PutItem"] >= 2
    head = await raw_get(await make_client(), table, sid)
    assert head is not None and head["title"] == {"S": "New chat"}


async def test_create_refuses_bad_arguments_and_a_closed_session(client: Any, table: str) -> None:
    from openai_agents_session import InvalidArgumentError, SessionClosedError

    chat = DynamoDBSession(_sid(), client, table, owner="ada")
    calls = count_calls(client)
    with pytest.raises(InvalidArgumentError, match="exist_ok"):
        await chat.create(exist_ok="yes")  # type: ignore[arg-type]
    await chat.close()
    with pytest.raises(SessionClosedError):
        await chat.create()
    assert calls.total() == 0
