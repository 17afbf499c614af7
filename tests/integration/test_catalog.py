"""The session catalog against a real endpoint: attributes, listing by index, erase, prefixes.

Listing and erasing need the by-owner GSI, which moto and dynalite both create
and query; nothing here needs an API dynalite lacks.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from decimal import Decimal
from typing import Any

import pytest

from openai_agents_session import (
    DynamoDBSession,
    InvalidArgumentError,
    InvalidSessionIdError,
    delete_sessions,
    list_sessions,
)
from openai_agents_session.models.codec import encode_item
from openai_agents_session.models.schema import HistoryView
from openai_agents_session.models.team import first_user_text
from tests.conftest import count_calls
from tests.support.scan import raw_text, scan_all


def msg(text: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": text}


async def seed(client: Any, table: str, rows: list[tuple[str, str, Decimal, int | None]]) -> None:
    """Batch-write heads built by the codec: (session id, owner, updated_at, ttl)."""
    items = []
    for session_id, owner, version, ttl in rows:
        body = json.dumps([msg(f"hello from {session_id}")], separators=(",", ":"))
        extra = {"owner": {"S": owner}, "title": {"S": f"title {session_id}"}}
        items.append(
            encode_item(
                session_id, body, version, ttl, frozenset({version}), extra=extra,
                created_at=version, count=1,
            )
        )  # fmt: skip
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        pending: dict[str, Any] = {table: requests}
        while pending:
            response = await client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}


# ------------------------------------------------------------------ attributes


async def test_a_session_keeps_owner_title_metadata_created_at_and_counts(
    client: Any, table: str
) -> None:
    now = [1_800_000_000.0]
    session = DynamoDBSession(
        "chat-1",
        client,
        table,
        owner="user-1",
        title="Trip",
        metadata={"lang": "en"},
        time_source="host",
        clock=lambda: now[0],
    )
    await session.add_items([msg("hi"), msg("hello", "assistant")])
    record = await session.get_record()
    assert record is not None
    assert (record.owner, record.title, record.metadata) == ("user-1", "Trip", {"lang": "en"})
    assert record.created_at == Decimal("1800000000")
    stored = (await client.get_item(TableName=table, Key={"session_id": {"S": "chat-1"}}))["Item"]
    history = json.dumps([msg("hi"), msg("hello", "assistant")], separators=(",", ":"))
    assert stored["item_count"] == {"N": "2"}
    assert stored["history_size"] == {"N": str(len(history))}
    # Later writes keep created_at and move the counts; a pop too.
    now[0] += 60
    await session.add_items([msg("more")])
    await session.pop_item()
    await session.pop_item()
    record = await session.get_record()
    assert record is not None and record.created_at == Decimal("1800000000")
    assert record.item_count == 1
    # A clear keeps only the owner (no title, metadata, created_at); the next write
    # creates the session anew.
    await session.clear_session()
    raw = (await client.get_item(TableName=table, Key={"session_id": {"S": "chat-1"}}))["Item"]
    assert raw["owner"] == {"S": "user-1"} and raw["item_count"] == {"N": "0"}
    assert not {"created_at", "title", "metadata"} & set(raw)
    assert (await list_sessions(client, table, owner="user-1")).sessions == []
    now[0] += 60
    await session.add_items([msg("again")])
    record = await session.get_record()
    assert record is not None and record.created_at == Decimal("1800000120")
    assert record.owner == "user-1" and record.item_count == 1


async def test_another_writer_carries_the_catalog_attributes_over(client: Any, table: str) -> None:
    await DynamoDBSession("c", client, table, owner="u", title="T").add_items([msg("a")])
    other = DynamoDBSession("c", client, table)  # no options: carries over
    await other.add_items([msg("b")])
    record = await other.get_record()
    assert record is not None and (record.owner, record.title, record.item_count) == ("u", "T", 2)
    assert await other.set_attributes(title="Renamed", metadata={"pinned": True})
    page = await list_sessions(client, table, owner="u")
    assert [(s.session_id, s.title, s.item_count) for s in page.sessions] == [("c", "Renamed", 2)]


async def test_auto_title_takes_the_first_user_message_once(client: Any, table: str) -> None:
    long = "  Plan   a trip to " + "Kyoto " * 30
    session = DynamoDBSession("t", client, table, owner="u", auto_title=True)
    await session.add_items([msg("system says", "system"), msg(long), msg("ok", "assistant")])
    await session.add_items([msg("second question")])
    record = await session.get_record()
    assert record is not None and record.title is not None
    assert record.title == " ".join(long.split())[:80].rstrip() and len(record.title) <= 80
    # An explicit title wins, and is never replaced by the automatic one.
    named = DynamoDBSession("n", client, table, title="Mine", auto_title=True)
    await named.add_items([msg("question")])
    record = await named.get_record()
    assert record is not None and record.title == "Mine"
    # Content parts count too.
    assert (
        first_user_text(({"role": "user", "content": [{"type": "input_text", "text": "x y"}]},))
        == "x y"
    )


def test_history_view_parses_the_items_only_when_asked() -> None:
    view = HistoryView("s", items_json="not json, never parsed", count=3, size=10)
    assert (view.count, view.size) == (3, 10)  # no parse happened
    with pytest.raises(json.JSONDecodeError):
        _ = view.items


# ------------------------------------------------------------------ listing


async def test_list_sessions_pages_one_owner_in_order_by_query_only(
    client: Any, table: str
) -> None:
    base = Decimal("1800000000.000000000000")
    rows = []
    for n in range(1000):
        owner = f"owner-{n % 20:02d}"
        version = base + Decimal(n) + Decimal("0.000001")
        # Every 10th session of owner-07 has expired (TTL passed, not yet deleted).
        ttl = 1_700_000_000 if owner == "owner-07" and (n // 20) % 10 == 3 else None
        rows.append((f"s-{n:04d}", owner, version, ttl))
    await seed(client, table, rows)
    # A live session of the same owner, cleared: its tombstone must not be listed.
    cleared = DynamoDBSession("cleared-one", client, table, owner="owner-07")
    await cleared.add_items([msg("bye")])
    await cleared.clear_session()

    expected = [
        sid for sid, owner, _, ttl in sorted(rows, key=lambda r: r[2], reverse=True)
        if owner == "owner-07" and ttl is None
    ]  # fmt: skip
    assert len(expected) == 45
    calls = count_calls(client)
    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        page = await list_sessions(
            client, table, owner="owner-07", limit=7, cursor=cursor, clock=lambda: 1.8e9
        )
        sizes.append(len(page.sessions))
        seen.extend(s.session_id for s in page.sessions)
        cursor = page.cursor
        if cursor is None:
            break
    assert seen == expected
    # Every page is full but the last, although expired sessions were skipped.
    assert all(size == 7 for size in sizes[:-1]) and 0 <= sizes[-1] <= 7
    assert calls["Scan"] == 0 and calls["Query"] >= len(sizes)
    assert set(calls) == {"Query"}
    first = await list_sessions(client, table, owner="owner-07", limit=1, clock=lambda: 1.8e9)
    (summary,) = first.sessions
    assert summary.title == f"title {expected[0]}" and summary.item_count == 1
    assert summary.size == len(
        json.dumps([msg(f"hello from {expected[0]}")], separators=(",", ":"))
    )


async def test_paged_sessions_list_once_with_whole_history_counts(client: Any, table: str) -> None:
    session = DynamoDBSession("big", client, table, owner="u", page_threshold=16 * 1024)
    for n in range(40):
        await session.add_items([msg(f"{n:03d} " + "x" * 1000)])
    stored = await scan_all(client, table)
    assert any(i["session_id"]["S"].startswith("__oas__#page#") for i in stored)
    page = await list_sessions(client, table, owner="u")
    assert [s.session_id for s in page.sessions] == ["big"]
    assert page.sessions[0].item_count == 40
    assert page.cursor is None


async def test_bad_listing_arguments_are_typed_errors(client: Any, table: str) -> None:
    with pytest.raises(InvalidArgumentError, match="limit"):
        await list_sessions(client, table, owner="u", limit=0)
    with pytest.raises(InvalidArgumentError, match="cursor"):
        await list_sessions(client, table, owner="u", cursor="garbage")
    with pytest.raises(InvalidArgumentError, match="owner"):
        await list_sessions(client, table, owner="")


# ------------------------------------------------------------------ erase


async def test_delete_sessions_erases_every_session_of_an_owner_pages_included(
    client: Any, table: str
) -> None:
    for sid in ("a1", "a2"):
        await DynamoDBSession(sid, client, table, owner="alice").add_items([msg(f"secret-{sid}")])
    paged = DynamoDBSession("a3", client, table, owner="alice", page_threshold=16 * 1024)
    for n in range(40):
        await paged.add_items([msg(f"secret-a3-{n:03d} " + "y" * 1000)])
    await DynamoDBSession("b1", client, table, owner="bob").add_items([msg("bob-keeps")])
    before = raw_text(await scan_all(client, table))
    assert "secret-a3-000" in before  # in a page

    report = await delete_sessions(client, table, owner="alice")
    assert report.sessions == 3 and report.passes == 2
    left = raw_text(await scan_all(client, table))
    assert "secret-" not in left
    assert "bob-keeps" in left
    assert (await list_sessions(client, table, owner="alice")).sessions == []
    # Running it again finds nothing: resumable, idempotent.
    again = await delete_sessions(client, table, owner="alice")
    assert (again.sessions, again.passes) == (0, 1)


async def test_writes_racing_the_erase_are_erased_too(make_client: Any, table: str) -> None:
    """Deterministic interleaving: the owner writes right before each step of the erase."""
    eraser, writer = await make_client(), await make_client()
    racing = DynamoDBSession("r", writer, table, owner="carol", page_threshold=16 * 1024)
    for n in range(40):  # paged: the erase writes the tombstone, then deletes the pages
        await racing.add_items([msg(f"carol-old-{n:03d} " + "z" * 1000)])
    written: list[str] = []

    def write_once(step: str) -> Any:
        async def write(**_: Any) -> None:
            if step not in written:
                written.append(step)
                await racing.add_items([msg(f"carol-race-{step}")])

        return write

    # Before the erase reads the head and before its tombstone, the writes land on
    # the session being erased (the tombstone's condition then fails and it is
    # retried on what landed); right after the tombstone and before the page
    # deletes, they land on the tombstone, keep the owner, and the next pass erases.
    for step in (
        "before-call.dynamodb.GetItem",
        "before-call.dynamodb.PutItem",
        "after-call.dynamodb.PutItem",
        "before-call.dynamodb.BatchWriteItem",
    ):
        eraser.meta.events.register(step, write_once(step))  # fmt: skip
    report = await delete_sessions(eraser, table, owner="carol")
    assert len(written) == 4
    assert report.erased == ["r"] and report.sessions >= 2 and report.passes >= 3
    assert "carol-" not in raw_text(await scan_all(eraser, table))


async def test_erase_while_another_task_writes(make_client: Any, table: str) -> None:
    """Free-running: every write acknowledged before the erase's last pass is gone."""
    eraser, writer = await make_client(), await make_client()
    for sid in ("d1", "d2", "d3"):
        await DynamoDBSession(sid, writer, table, owner="dave").add_items([msg(f"dave-{sid}")])
    session = DynamoDBSession("d2", writer, table, owner="dave")
    acked: list[tuple[str, float]] = []
    started = asyncio.Event()
    last_query = [0.0]

    def on_query(**_: Any) -> None:
        last_query[0] = time.monotonic()
        started.set()

    eraser.meta.events.register("before-call.dynamodb.Query", on_query)

    async def write() -> None:
        await started.wait()
        for n in range(25):
            text = f"dave-live-{n}"
            await session.add_items([msg(text)])
            acked.append((text, time.monotonic()))

    task = asyncio.create_task(write())
    report = await delete_sessions(eraser, table, owner="dave")
    await task
    assert report.sessions >= 3 and len(acked) == 25
    left = raw_text(await scan_all(eraser, table))
    assert "dave-d1" not in left and "dave-d3" not in left
    # The rule: what landed before the pass that found nothing is erased; a write
    # after it is a session created after the erase, which the next erase removes.
    before_final = [text for text, at in acked if at < last_query[0]]
    assert before_final, "the writer wrote while the erase ran"
    assert not [t for t in before_final if re.search(re.escape(t) + r"(?!\d)", left)]
    await delete_sessions(eraser, table, owner="dave")
    assert "dave-" not in raw_text(await scan_all(eraser, table))


# ------------------------------------------------------------------ tenant prefixes


async def test_key_prefix_refuses_ids_and_owners_outside_it_before_any_call(
    client: Any, table: str
) -> None:
    calls = count_calls(client)
    with pytest.raises(InvalidSessionIdError, match="outside this tenant's key_prefix"):
        DynamoDBSession("tenant-b#chat", client, table, key_prefix="tenant-a#")
    with pytest.raises(InvalidSessionIdError, match="owner 'tenant-b#u'"):
        DynamoDBSession("tenant-a#chat", client, table, key_prefix="tenant-a#", owner="tenant-b#u")
    session = DynamoDBSession(
        "tenant-a#chat", client, table, key_prefix="tenant-a#", owner="tenant-a#u"
    )
    with pytest.raises(InvalidSessionIdError):
        await session.set_attributes(owner="tenant-b#u")
    with pytest.raises(InvalidSessionIdError):
        await list_sessions(client, table, owner="tenant-b#u", key_prefix="tenant-a#")
    with pytest.raises(InvalidSessionIdError):
        await delete_sessions(client, table, owner="tenant-b#u", key_prefix="tenant-a#")
    with pytest.raises(InvalidArgumentError, match="key_prefix"):
        DynamoDBSession("x-1", client, table, key_prefix="__oas__#")
    assert calls.total() == 0
    await session.add_items([msg("inside")])
    page = await list_sessions(client, table, owner="tenant-a#u", key_prefix="tenant-a#")
    assert [s.session_id for s in page.sessions] == ["tenant-a#chat"]


async def test_a_session_outside_the_prefix_claiming_the_owner_is_not_listed_nor_erased(
    client: Any, table: str
) -> None:
    await DynamoDBSession("tenant-a#1", client, table, owner="tenant-a#u").add_items([msg("a")])
    # Another tenant's writer sets tenant A's owner value on its own session.
    await DynamoDBSession("tenant-b#1", client, table, owner="tenant-a#u").add_items([msg("b")])
    page = await list_sessions(client, table, owner="tenant-a#u", key_prefix="tenant-a#")
    assert [s.session_id for s in page.sessions] == ["tenant-a#1"]
    report = await delete_sessions(client, table, owner="tenant-a#u", key_prefix="tenant-a#")
    assert (report.sessions, report.skipped) == (1, ["tenant-b#1"])
    assert "tenant-b#1" in raw_text(await scan_all(client, table))
