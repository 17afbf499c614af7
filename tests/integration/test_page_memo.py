"""Pages remembered across session objects of one client: one request, never a stale answer.

A new session object on a client that already read or wrote the session finds
its newest pages in memory, so `get_items(limit=k)` is the head's one request.
Every test here checks what the memo must never do: serve a page the head no
longer lists (cleared, trimmed, erased, expired, by this process or another),
serve another session's or another table's pages, or take an entry that claims
another page for the one remembered.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from openai_agents_session import (
    CorruptSessionError,
    DynamoDBSession,
    OwnershipError,
    RetryPolicy,
)
from openai_agents_session._pagememo import PageMemo, shared_memo
from openai_agents_session.catalog import delete_sessions
from tests.conftest import count_calls
from tests.support.scan import table_text
from tests.support.sessions import (
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    create_table_blocking,
    is_cleared,
    module_table,  # noqa: F401
    now,
    raw_fixture,  # noqa: F401
    raw_get,
    raw_put,
    stored_history,
)

SMALL = 16 * 1024
BUDGET = RetryPolicy(max_attempts=5, max_elapsed=2)


def sid() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def note(i: int, tag: str = "x", size: int = 1_500) -> dict[str, Any]:
    return {"role": "user", "content": f"{i}:{tag}:" + "x" * size}


def opened(session_id: str, client: Any, table: str, **options: Any) -> DynamoDBSession:
    options.setdefault("page_threshold", SMALL)
    options.setdefault("retry", BUDGET)
    return DynamoDBSession(session_id, client, table, **options)


async def written(
    client: Any, table: str, n: int = 40, **options: Any
) -> tuple[str, list[dict[str, Any]]]:
    """A paged session of `n` notes, written one add at a time through `client`."""
    session_id = sid()
    session = opened(session_id, client, table, **options)
    history = [note(i, session_id) for i in range(n)]
    for item in history:
        await session.add_items([item])
    return session_id, history


def index_of(head: dict[str, Any]) -> list[list[Any]]:
    pages: list[list[Any]] = json.loads(head["pages"]["S"])["pages"]
    return pages


async def test_a_new_object_on_the_writers_client_reads_the_newest_items_in_one_request(
    client: Any, table: str, raw: Any
) -> None:
    session_id, history = await written(client, table)
    assert "pages" in (await raw_get(raw, table, session_id) or {})
    calls = count_calls(client)
    for limit in (1, 5, 12):
        assert await opened(session_id, client, table).get_items(limit) == history[-limit:]
    assert calls == {"GetItem": 3}
    assert await stored_history(raw, table, session_id) == history


async def test_a_runner_like_turn_on_new_objects_reads_in_one_request_after_the_first(
    clients: Any, table: str, raw: Any
) -> None:
    """One object per request, as web servers make them; the first read of the
    session in this process is the only one that reads pages."""
    client = await clients()
    session_id, history = await written(raw, table)
    calls = count_calls(client)
    assert await opened(session_id, client, table).get_items(10) == history[-10:]
    assert calls == {"GetItem": 1, "BatchGetItem": 1}
    for turn in range(6):
        calls.clear()
        session = opened(session_id, client, table)
        assert await session.get_items(10) == history[-10:]
        assert calls == {"GetItem": 1}, turn
        added = [note(100 + turn, "turn")]
        await session.add_items(added)
        history += added
    assert await stored_history(raw, table, session_id) == history


async def test_another_client_never_shares_what_this_one_remembers(
    clients: Any, table: str
) -> None:
    writer, other = await clients(), await clients()
    session_id, history = await written(writer, table)
    calls = count_calls(other)
    assert await opened(session_id, other, table).get_items(10) == history[-10:]
    assert calls["BatchGetItem"] == 1


@pytest.mark.parametrize("by", ["this client", "another client"])
async def test_a_cleared_session_is_never_served_from_memory(
    clients: Any, table: str, raw: Any, by: str
) -> None:
    client = await clients()
    session_id, _ = await written(client, table)
    clearer = client if by == "this client" else await clients()
    await opened(session_id, clearer, table).clear_session()
    assert await opened(session_id, client, table).get_items() == []
    assert await opened(session_id, client, table).get_items(5) == []
    assert await opened(session_id, client, table).pop_item() is None
    after = [note(1, "after")]
    await opened(session_id, client, table).add_items(after)
    assert await opened(session_id, client, table).get_items() == after
    if by == "this client":
        # The clear kept no page items in what the client's objects share.
        memo = shared_memo(client, table, session_id, PageMemo())
        assert not memo.pages_held()


async def test_pages_trimmed_by_another_process_are_not_served(
    clients: Any, table: str, raw: Any
) -> None:
    client, other = await clients(), await clients()
    session_id, history = await written(client, table)
    assert await opened(session_id, client, table).get_items(20) == history[-20:]
    # Another process trims the history to its newest 3 items.
    await opened(session_id, other, table, max_items=3).add_items([note(99, "trim")])
    expected = await stored_history(raw, table, session_id)
    assert expected is not None and len(expected) == 3
    assert await opened(session_id, client, table).get_items() == expected
    assert await opened(session_id, client, table).get_items(20) == expected


@pytest.mark.parametrize("by", ["this client", "another client"])
async def test_an_erased_session_is_never_served_and_leaves_nothing_remembered(
    clients: Any, table: str, raw: Any, by: str
) -> None:
    client = await clients()
    owner = f"o-{uuid.uuid4().hex[:8]}"
    session_id, history = await written(client, table, owner=owner)
    kept = opened(session_id, client, table, owner=owner)  # a long-lived object
    assert await kept.get_items(8) == history[-8:]
    eraser = client if by == "this client" else await clients()
    report = await delete_sessions(eraser, table, owner=owner)
    assert report.erased == [session_id]
    assert await opened(session_id, client, table, owner=owner).get_items() == []
    assert await opened(session_id, client, table, owner=owner).get_items(8) == []
    if by == "this client":
        # Nothing of it is left in what the client's objects share, nor in the
        # long-lived object that read it before the erase.
        assert not shared_memo(client, table, session_id, PageMemo()).pages_held()
        assert not kept._memo.pages_held()
    assert await kept.get_items() == []
    assert f":{session_id}:" not in await table_text(raw, table)


async def test_an_expired_head_is_not_served_from_memory(client: Any, table: str, raw: Any) -> None:
    session_id, history = await written(client, table, ttl_seconds=3600)
    assert await opened(session_id, client, table).get_items(8) == history[-8:]
    head = await raw_get(raw, table, session_id)
    assert head is not None
    head["ttl"] = {"N": str(now() - 60)}  # expired, not yet swept by DynamoDB
    await raw_put(raw, table, head)
    assert await opened(session_id, client, table).get_items(8) == []
    assert await opened(session_id, client, table).get_items() == []


async def test_a_head_listing_another_sessions_pages_is_not_served_them(
    client: Any, table: str, raw: Any
) -> None:
    """A hostile head copies a session's index: its keys are its own session's,
    and nothing remembered of the other session is served for it."""
    victim, history = await written(client, table)
    assert await opened(victim, client, table).get_items(8) == history[-8:]
    head = await raw_get(raw, table, victim)
    assert head is not None
    thief = sid()
    await raw_put(raw, table, {**head, "session_id": {"S": thief}})
    with pytest.raises(CorruptSessionError) as caught:
        await opened(thief, client, table).get_items(8)
    assert thief in str(caught.value) and table in str(caught.value)
    assert f":{victim}:" not in str(caught.value)


async def test_another_table_on_the_same_client_is_not_served_this_ones_pages(
    client: Any, table: str, raw: Any, endpoint: str
) -> None:
    session_id, history = await written(client, table)
    assert await opened(session_id, client, table).get_items(8) == history[-8:]
    other = create_table_blocking(endpoint)
    head = await raw_get(raw, table, session_id)
    assert head is not None
    await raw_put(raw, other, head)  # the head alone: its pages are not in this table
    with pytest.raises(CorruptSessionError):
        await opened(session_id, client, other).get_items(8)


@pytest.mark.parametrize("claim", ["a longer view", "another size", "more parts"])
async def test_an_entry_claiming_another_page_under_a_remembered_id_is_read_and_checked(
    client: Any, table: str, raw: Any, claim: str
) -> None:
    session_id, history = await written(client, table)
    assert await opened(session_id, client, table).get_items(8) == history[-8:]
    head = await raw_get(raw, table, session_id)
    assert head is not None
    index = json.loads(head["pages"]["S"])
    entry = index["pages"][-1]
    if claim == "a longer view":
        entry[3] += 5
    elif claim == "another size":
        entry[4] += 1
    else:
        entry[1] += 1
    head["pages"] = {"S": json.dumps(index)}
    head["conversation_data"] = {"S": "[]"}
    await raw_put(raw, table, head)
    calls = count_calls(client)
    with pytest.raises(CorruptSessionError) as caught:
        await opened(session_id, client, table).get_items(8)
    assert session_id in str(caught.value) and table in str(caught.value)
    # Read from the table and checked there; a parts count the size cannot
    # need is refused with the head itself.
    assert calls["BatchGetItem"] == (0 if claim == "more parts" else 1)
    await opened(session_id, client, table).clear_session()
    assert is_cleared(await raw_get(raw, table, session_id))


async def test_another_owner_on_the_same_client_is_refused_before_anything_is_served(
    client: Any, table: str
) -> None:
    owner = f"o-{uuid.uuid4().hex[:8]}"
    session_id, history = await written(client, table, owner=owner)
    assert await opened(session_id, client, table, owner=owner).get_items(8) == history[-8:]
    intruder = opened(session_id, client, table, owner="intruder")
    for read in (intruder.get_items(8), intruder.get_items(), intruder.pop_item()):
        with pytest.raises(OwnershipError) as caught:
            await read
        assert f":{session_id}:" not in str(caught.value)
