"""Folding: old segments listed by composite pages, never rewritten or deleted by a fold.

Every path that reads, narrows, releases, re-stamps or collects pages is run on a
history with composites, against the stored items read back independently of the
library (`stored_history`), and hostile composites end in a typed error within the
budget, with `clear_session` still the way out.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

import pytest

from openai_agents_session import CorruptSessionError, DynamoDBSession, RetryPolicy
from openai_agents_session.admin import read_session, verify_pages
from openai_agents_session.catalog import delete_sessions
from openai_agents_session.gc import collect_garbage
from tests.conftest import count_calls
from tests.support.sessions import (
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    is_cleared,
    module_table,  # noqa: F401
    raw_fixture,  # noqa: F401
    raw_get,
    raw_put,
    scan_pages,
    stored_history,
)

SMALL = 16 * 1024
BUDGET = RetryPolicy(max_attempts=5, max_elapsed=2)


def sid() -> str:
    return f"f-{uuid.uuid4().hex[:10]}"


def note(i: int, size: int = 1_500) -> dict[str, Any]:
    return {"role": "user", "content": f"{i}:" + "x" * size}


def opened(session_id: str, client: Any, table: str, **options: Any) -> DynamoDBSession:
    """A session with a 16 KiB threshold that folds two segments once three are listed."""
    options.setdefault("page_threshold", SMALL)
    options.setdefault("retry", BUDGET)
    session = DynamoDBSession(session_id, client, table, **options)
    # Not an option users set: the test's way to fold after a few seals.
    session._layout = replace(session._layout, merge_fanout=2)
    return session


async def head_of(raw: Any, table: str, session_id: str) -> dict[str, Any]:
    """The stored head, which must exist."""
    head = await raw_get(raw, table, session_id)
    assert head is not None, f"no head for {session_id}"
    return head


def index_of(head: dict[str, Any]) -> list[list[Any]]:
    pages: list[list[Any]] = json.loads(head["pages"]["S"])["pages"]
    return pages


async def folded(
    client: Any, table: str, raw: Any, n: int = 120, **options: Any
) -> tuple[str, list[dict[str, Any]], DynamoDBSession]:
    """A session of `n` notes whose index lists composites."""
    session_id = sid()
    session = opened(session_id, client, table, **options)
    history = [note(i) for i in range(n)]
    for item in history:
        await session.add_items([item])
    head = await head_of(raw, table, session_id)
    assert any(entry[1] == 0 for entry in index_of(head)), "no composites"
    return session_id, history, session


async def listed_keys(raw: Any, table: str, session_id: str) -> set[str]:
    """Every item key the stored head lists, a composite's members included."""
    head = await raw_get(raw, table, session_id)
    if head is None or "pages" not in head:
        return set()
    prefix = f"__oas__#page#{session_id}#"
    keys: set[str] = set()
    for page_id, parts, *_ in index_of(head):
        keys.update(f"{prefix}{page_id}#{p}" for p in range(max(parts, 1)))
        if parts == 0:
            composite = await raw_get(raw, table, f"{prefix}{page_id}#0")
            assert composite is not None
            for member in json.loads(composite["page_data"]["B"]):
                keys.update(f"{prefix}{member[0]}#{p}" for p in range(member[1]))
    return keys


async def stored_keys(raw: Any, table: str, session_id: str) -> set[str]:
    return {p["session_id"]["S"] for p in await scan_pages(raw, table, session_id)}


# ------------------------------------------------------------------ reading


async def test_a_folded_history_reads_back_whole_and_in_part(
    client: Any, table: str, raw: Any
) -> None:
    session_id, history, _ = await folded(client, table, raw)
    assert await stored_history(raw, table, session_id) == history
    fresh = opened(session_id, client, table)
    assert await fresh.get_items() == history
    for limit in (1, 7, 20, 60, 119, 500):
        assert await opened(session_id, client, table).get_items(limit) == history[-limit:]
    # A fold deletes nothing: every page item written is listed, and no more.
    assert await stored_keys(raw, table, session_id) == await listed_keys(raw, table, session_id)


async def test_folds_keep_the_newest_segments_one_request_away(
    client: Any, table: str, raw: Any
) -> None:
    # Written through `raw`: `client` stands for another process, which
    # remembers none of the session's pages.
    session_id, history, _ = await folded(raw, table, raw)
    head = await head_of(raw, table, session_id)
    newest = index_of(head)[-1]
    assert newest[1] > 0  # a plain segment, not a composite
    reader = opened(session_id, client, table)
    calls = count_calls(client)
    held = len(json.loads(head["conversation_data"]["S"]))
    assert await reader.get_items(held + newest[3]) == history[-(held + newest[3]) :]
    assert calls == {"GetItem": 1, "BatchGetItem": 1}
    # A new object on the same client finds the newest pages remembered.
    calls.clear()
    again = opened(session_id, client, table)
    assert await again.get_items(held + newest[3]) == history[-(held + newest[3]) :]
    assert calls == {"GetItem": 1}


# ------------------------------------------------------------------ writing


async def test_pops_walk_back_through_composites_and_leave_nothing(
    client: Any, table: str, raw: Any
) -> None:
    session_id, history, session = await folded(client, table, raw, 60)
    for expected in reversed(history):
        assert await session.pop_item() == expected
    assert await session.pop_item() is None
    assert await stored_keys(raw, table, session_id) == set()


async def test_pops_from_another_object_read_the_composite_they_narrow(
    client: Any, table: str, raw: Any
) -> None:
    session_id, history, _ = await folded(client, table, raw, 60)
    head = await head_of(raw, table, session_id)
    held = len(json.loads(head["conversation_data"]["S"]))
    # Pop the head and every plain segment after the last composite, from new objects.
    tail = 0
    for entry in reversed(index_of(head)):
        if entry[1] == 0:
            break
        tail += entry[3]
    for expected in reversed(history[-(held + tail + 3) :]):
        assert await opened(session_id, client, table).pop_item() == expected
    rest = history[: -(held + tail + 3)]
    assert await stored_history(raw, table, session_id) == rest
    assert await opened(session_id, client, table).get_items() == rest


async def test_a_trim_drops_whole_composites_with_their_members(
    client: Any, table: str, raw: Any
) -> None:
    session_id, history, _ = await folded(client, table, raw)
    trimmer = opened(session_id, client, table, max_items=5)
    await trimmer.add_items([note(1000)])
    expected = [*history, note(1000)][-5:]
    assert await opened(session_id, client, table).get_items() == expected
    assert await stored_history(raw, table, session_id) == expected
    assert await stored_keys(raw, table, session_id) == await listed_keys(raw, table, session_id)


async def test_clear_deletes_every_composite_and_member(client: Any, table: str, raw: Any) -> None:
    session_id, _, _ = await folded(client, table, raw)
    await opened(session_id, client, table).clear_session()
    assert is_cleared(await raw_get(raw, table, session_id))
    assert await stored_keys(raw, table, session_id) == set()


async def test_a_fork_of_a_folded_history_is_whole_and_owns_its_pages(
    client: Any, table: str, raw: Any
) -> None:
    _, history, session = await folded(client, table, raw)
    child = await session.fork(sid())
    assert await child.get_items() == history
    await session.clear_session()
    assert await opened(child.session_id, client, table).get_items() == history


async def test_gc_keeps_members_and_composites(client: Any, table: str, raw: Any) -> None:
    session_id, history, _ = await folded(client, table, raw)
    before = await stored_keys(raw, table, session_id)
    report = await collect_garbage(client, table, grace_seconds=0)
    assert not set(report.removed_keys) & before
    assert await stored_keys(raw, table, session_id) == before
    assert await opened(session_id, client, table).get_items() == history


async def test_page_ttls_move_with_their_composite_members_included(
    client: Any, table: str, raw: Any
) -> None:
    clock = [1_000_000.0]
    options = {"ttl_seconds": 3600, "clock": lambda: clock[0], "time_source": "host"}
    session_id, history, _ = await folded(client, table, raw, **options)
    # A day of writes every 50 minutes keeps the session alive, and brings the
    # head's TTL within an hour of the pages': a write then moves them all.
    writer = opened(session_id, client, table, **options)
    added = []
    for step in range(30):
        clock[0] += 3000
        added.append(note(1000 + step, 10))
        await writer.add_items(added[-1:])
    head = await head_of(raw, table, session_id)
    pages = await scan_pages(raw, table, session_id)
    assert {p["session_id"]["S"] for p in pages} == await listed_keys(raw, table, session_id)
    assert all(int(p["ttl"]["N"]) > int(head["ttl"]["N"]) for p in pages)
    assert await writer.get_items() == [*history, *added]
    restamped = [p for p in pages if int(p["ttl"]["N"]) > 1_000_000 + 86_400 + 3600]
    assert len(restamped) == len(pages)  # members too, not only the top-level pages


# ------------------------------------------------------- hostile composites


def composite_key(session_id: str, head: dict[str, Any]) -> str:
    page_id = next(entry[0] for entry in index_of(head) if entry[1] == 0)
    return f"__oas__#page#{session_id}#{page_id}#0"


def members_edit(edit: Any) -> Any:
    def apply(item: dict[str, Any]) -> dict[str, Any] | None:
        members = json.loads(item["page_data"]["B"])
        item["page_data"] = {"B": json.dumps(edit(members)).encode()}
        return item

    return apply


def foreign(item: dict[str, Any]) -> dict[str, Any]:
    item["page_of"] = {"S": "someone-else"}
    return item


HOSTILE = {
    "missing": lambda item: None,
    "another session's": foreign,
    "not JSON": lambda item: {**item, "page_data": {"B": b"\x00" * 100}},
    "deeply nested JSON": lambda item: {**item, "page_data": {"B": b"[" * 1500}},
    "a nested composite": members_edit(lambda ms: [[m[0], 0, *m[2:]] for m in ms]),
    "itself as a member": members_edit(lambda ms: ms),  # replaced below
    "sizes that do not add up": members_edit(lambda ms: [[*m[:4], m[4] + 1] for m in ms]),
    "fewer items than used": members_edit(lambda ms: [[*m[:3], 1, m[4]] for m in ms]),
    "too many members": members_edit(lambda ms: ms * 40),
    "a missing member": members_edit(lambda ms: [["f" * 16, *ms[0][1:]], *ms[1:]]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_hostile_composite_is_corrupt_within_the_budget_and_clear_still_works(
    client: Any, table: str, raw: Any, case: str
) -> None:
    # Written through `raw`, read through `client`: as from another process,
    # which remembers no member list and so reads the damaged one.
    session_id, _, _ = await folded(raw, table, raw, 60)
    head = await head_of(raw, table, session_id)
    key = composite_key(session_id, head)
    item = await raw_get(raw, table, key)
    assert item is not None
    if case == "itself as a member":
        members = json.loads(item["page_data"]["B"])
        members[0][0] = key.split("#")[-2]
        item["page_data"] = {"B": json.dumps(members).encode()}
        edited: dict[str, Any] | None = item
    else:
        edited = HOSTILE[case](item)
    if edited is None:
        await raw.delete_item(TableName=table, Key={"session_id": {"S": key}})
    else:
        await raw_put(raw, table, edited)
    session = opened(session_id, client, table)
    calls = count_calls(client)
    with pytest.raises(CorruptSessionError) as caught:
        await session.get_items()
    assert session_id in str(caught.value) and table in str(caught.value)
    assert calls.total() < 12
    await opened(session_id, client, table).clear_session()
    assert is_cleared(await raw_get(raw, table, session_id))


async def test_the_whole_history_reads_composites_with_the_pages_then_their_members(
    client: Any, table: str, raw: Any
) -> None:
    session_id, history, _ = await folded(raw, table, raw)  # `client` knows nothing of it
    reader = opened(session_id, client, table)
    calls = count_calls(client)
    assert await reader.get_items() == history
    # The head; one BatchGetItem for the composites and the plain pages it lists
    # (under 100 keys here); one for the composites' members (under 100 too).
    assert calls == {"GetItem": 1, "BatchGetItem": 2}
    calls.clear()
    assert await reader.get_items() == history  # member lists are kept: one request fewer
    assert calls == {"GetItem": 1, "BatchGetItem": 1}
    calls.clear()
    # So is every other object of the session on this client.
    assert await opened(session_id, client, table).get_items() == history
    assert calls == {"GetItem": 1, "BatchGetItem": 1}


async def test_gc_keeps_every_part_of_a_session_whose_composite_is_unreadable(
    client: Any, table: str, raw: Any
) -> None:
    session_id, _, _ = await folded(client, table, raw)
    head = await head_of(raw, table, session_id)
    item = await raw_get(raw, table, composite_key(session_id, head))
    assert item is not None
    await raw_put(raw, table, foreign(item))
    before = await stored_keys(raw, table, session_id)
    report = await collect_garbage(client, table, grace_seconds=0)
    assert session_id in report.skipped_sessions
    assert await stored_keys(raw, table, session_id) == before


@pytest.mark.parametrize("case", ["missing", "another session's"])
async def test_an_erase_leaves_nothing_of_a_session_whose_composite_is_unreadable(
    client: Any, table: str, raw: Any, case: str
) -> None:
    owner = f"o-{uuid.uuid4().hex[:8]}"
    session_id, _, _ = await folded(client, table, raw, owner=owner)
    head = await head_of(raw, table, session_id)
    key = composite_key(session_id, head)
    item = await raw_get(raw, table, key)
    assert item is not None
    if case == "missing":
        await raw.delete_item(TableName=table, Key={"session_id": {"S": key}})
    else:
        await raw_put(raw, table, foreign(item))
    report = await delete_sessions(client, table, owner=owner)
    assert report.erased == [session_id] and report.corrupt == [session_id]
    assert is_cleared(await raw_get(raw, table, session_id))
    # The members (and a damaged composite) named the session: all gone.
    assert await stored_keys(raw, table, session_id) == set()


@pytest.mark.parametrize("case", ["a member deleted", "a damaged composite", "intact"])
async def test_check_pages_looks_inside_composites(
    client: Any, table: str, raw: Any, case: str
) -> None:
    session_id, _, _ = await folded(client, table, raw)
    head = await head_of(raw, table, session_id)
    key = composite_key(session_id, head)
    item = await raw_get(raw, table, key)
    assert item is not None
    member = json.loads(item["page_data"]["B"])[0][0]
    if case == "a member deleted":
        gone = f"__oas__#page#{session_id}#{member}#0"
        await raw.delete_item(TableName=table, Key={"session_id": {"S": gone}})
    elif case == "a damaged composite":
        await raw_put(raw, table, foreign(item))
    entry = await read_session(client, table, session_id)
    assert entry is not None
    (checked,) = await verify_pages(client, table, [entry])
    if case == "intact":
        assert checked is entry and checked.error is None
    else:
        assert checked.error is not None and "corrupt" in checked.error
        assert (member if case == "a member deleted" else key.split("#")[-2]) in checked.error


async def delete_composites(raw: Any, table: str, session_id: str, head: dict[str, Any]) -> None:
    """Delete the composite items the head lists, as DynamoDB's TTL sweep may first."""
    for entry in index_of(head):
        if entry[1] == 0:
            key = f"__oas__#page#{session_id}#{entry[0]}#0"
            await raw.delete_item(TableName=table, Key={"session_id": {"S": key}})


async def test_an_expired_session_whose_composites_expired_first_is_replaced(
    client: Any, table: str, raw: Any
) -> None:
    clock = [1_000_000.0]
    options = {"ttl_seconds": 60, "clock": lambda: clock[0], "time_source": "host"}
    session_id, _, _ = await folded(client, table, raw, **options)
    head = await head_of(raw, table, session_id)
    # DynamoDB deletes expired items lazily and in any order: the composites are
    # gone, the head (expired) is not yet.
    await delete_composites(raw, table, session_id, head)
    clock[0] += 2 * 86_400
    fresh = opened(session_id, client, table, **options)
    assert await fresh.get_items() == []
    await fresh.add_items([note(1)])
    assert await opened(session_id, client, table, **options).get_items() == [note(1)]
    # What the old head listed and could still name is released; the members of
    # the vanished composites are left to expire (their TTL is the old index's).
    left = await scan_pages(raw, table, session_id)
    assert all(int(p["ttl"]["N"]) <= 1_000_000 + 86_400 + 3_600 for p in left)


async def test_an_erase_of_an_expired_session_whose_composites_expired_first_leaves_nothing(
    client: Any, table: str, raw: Any
) -> None:
    owner = f"o-{uuid.uuid4().hex[:8]}"
    session_id, _, _ = await folded(client, table, raw, owner=owner, ttl_seconds=60)
    head = await head_of(raw, table, session_id)
    await delete_composites(raw, table, session_id, head)
    head["ttl"] = {"N": "1000"}  # long expired, not yet deleted by DynamoDB
    await raw_put(raw, table, head)
    report = await delete_sessions(client, table, owner=owner)
    assert report.erased == [session_id]
    assert await stored_keys(raw, table, session_id) == set()
