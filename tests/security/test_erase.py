"""`delete_sessions` leaves nothing of the user's text, whatever races it.

Every test ends by scanning the whole table (pages decompressed) for the
user's marker strings. Races are interleaved deterministically: a botocore
event hook on the eraser's (or the racer's) client runs the other party at an
exact step, or events pause one party until the other reached a step.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession, delete_sessions, list_sessions
from openai_agents_session.models.codec import encode_item
from tests.support.proxy import FaultProxy
from tests.support.scan import scan_all, table_text


def msg(text: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": text}


async def paged(client: Any, table: str, session_id: str, marker: str, **options: Any) -> Any:
    """A session of 40 ~1 KB messages with a 16 KiB threshold: most of it in pages."""
    session = DynamoDBSession(
        session_id, client, table, page_threshold=16 * 1024, title=f"{marker}-title",
        metadata={"note": f"{marker}-meta"}, **options,
    )  # fmt: skip
    for n in range(40):
        await session.add_items([msg(f"{marker}-{n:03d} " + "x" * 1000)])
    return session


def once(action: Any) -> Any:
    """An event handler that runs `action()` the first time only."""
    fired: list[bool] = []

    async def handler(**_: Any) -> None:
        if not fired:
            fired.append(True)
            await action()

    return handler


# ------------------------------------------------------------------ racing writers


@pytest.mark.parametrize("writer_owner", [None, "alice"], ids=["carry-over", "with-owner"])
async def test_a_write_racing_the_erase_is_erased(
    make_client: Any, table: str, writer_owner: str | None
) -> None:
    """Today: a writer without owner= appending right after the erase's head delete
    recreated the session with no owner, which the erase never found."""
    eraser, other = await make_client(), await make_client()
    await paged(other, table, "chat", "alice-old", owner="alice")
    writer = DynamoDBSession("chat", other, table, owner=writer_owner)
    await writer.get_items()  # it knows the session as it was before the erase

    async def race() -> None:
        await writer.add_items([msg("alice-racing-message")])

    # Right after the erase's head write (old code: its head delete), the writer appends.
    eraser.meta.events.register("after-call.dynamodb.PutItem", once(race))
    eraser.meta.events.register("after-call.dynamodb.DeleteItem", once(race))
    report = await delete_sessions(eraser, table, owner="alice")
    text = await table_text(eraser, table)
    assert "alice-racing-message" not in text and "alice-old" not in text
    assert report.erased == ["chat"] and report.sessions == 2 and report.passes == 3
    assert await writer.get_items() == []


async def test_a_writer_pushed_past_every_pass_gives_up_typed(make_client: Any, table: str) -> None:
    """A writer that lands after every tombstone keeps the erase going until max_passes."""
    from openai_agents_session import ConcurrentModificationError

    eraser, other = await make_client(), await make_client()
    writer = DynamoDBSession("w", other, table)
    await DynamoDBSession("w", other, table, owner="erin").add_items([msg("erin-0")])

    async def write(**_: Any) -> None:
        await writer.add_items([msg("erin-again")])

    eraser.meta.events.register("after-call.dynamodb.PutItem", write)
    with pytest.raises(ConcurrentModificationError, match="after 3 erase passes"):
        await delete_sessions(eraser, table, owner="erin", max_passes=3)
    eraser.meta.events.unregister("after-call.dynamodb.PutItem", write)
    await delete_sessions(eraser, table, owner="erin")
    assert "erin-" not in await table_text(eraser, table)


# ------------------------------------------------------------------ racing readers


async def test_a_reader_between_the_erase_steps_sees_the_history_or_nothing(
    make_client: Any, table: str
) -> None:
    """Today: get_items and pop_item between the page deletes and the head delete raised
    CorruptSessionError ("head lists page(s) ... that do not exist")."""
    eraser, other = await make_client(), await make_client()
    await paged(other, table, "chat", "bob-text", owner="bob")
    history = await DynamoDBSession("chat", other, table).get_items()
    seen: list[Any] = []

    async def read() -> None:
        seen.append(await DynamoDBSession("chat", other, table).get_items())
        seen.append(await DynamoDBSession("chat", other, table).pop_item())

    # Page deletes are BatchWriteItem calls: read right after the first one.
    eraser.meta.events.register("after-call.dynamodb.BatchWriteItem", once(read))
    await delete_sessions(eraser, table, owner="bob")
    assert len(seen) == 2
    assert seen[0] in (history, [])
    assert seen[1] in (history[-1], None)
    assert "bob-text" not in await table_text(eraser, table)


async def test_a_reader_whose_head_read_precedes_the_whole_erase(
    make_client: Any, table: str
) -> None:
    """The reader has the old head (listing pages) when the erase runs to its end."""
    eraser, other = await make_client(), await make_client()
    await paged(other, table, "chat", "bea-text", owner="bea")
    history = await DynamoDBSession("chat", other, table).get_items()

    async def erase() -> None:
        await delete_sessions(eraser, table, owner="bea")

    other.meta.events.register("after-call.dynamodb.GetItem", once(erase))
    assert await DynamoDBSession("chat", other, table).get_items() in (history, [])
    assert "bea-text" not in await table_text(eraser, table)


# ------------------------------------------------------------------ corrupt sessions


async def test_a_corrupt_session_is_erased_reported_and_the_others_too(
    make_client: Any, table: str
) -> None:
    """Today: one session with an unreadable page index made delete_sessions raise
    CorruptSessionError on every run, and the sessions listed after it stayed."""
    client = await make_client()
    for sid in ("a", "c"):
        await DynamoDBSession(sid, client, table, owner="cat").add_items([msg(f"cat-{sid}-text")])
    await paged(client, table, "b", "cat-b-text", owner="cat")
    # Its page index becomes unreadable; its pages still hold the text.
    await client.update_item(
        TableName=table, Key={"session_id": {"S": "b"}},
        UpdateExpression="SET pages = :p", ExpressionAttributeValues={":p": {"S": "{not json"}},
    )  # fmt: skip
    # A head that does not decode at all, of the same owner.
    await client.put_item(
        TableName=table,
        Item={"session_id": {"S": "d"}, "owner": {"S": "cat"}, "updated_at": {"N": "1"},
              "conversation_data": {"S": "cat-d-text"}, "item_count": {"N": "1"}},
    )  # fmt: skip
    report = await delete_sessions(client, table, owner="cat")
    assert sorted(report.erased) == ["a", "b", "c", "d"]
    assert sorted(report.corrupt) == ["b", "d"]
    assert "cat-" not in await table_text(client, table)
    # What is left is tombstones that keep the owner and nothing else.
    heads = [i for i in await scan_all(client, table) if not i["session_id"]["S"].startswith("__")]
    assert {h["session_id"]["S"] for h in heads} == {"a", "b", "c", "d"}
    tombstone = {"session_id", "conversation_data", "updated_at", "ttl", "recent_writes",
                 "owner", "item_count", "history_size"}  # fmt: skip
    assert all(set(h) <= tombstone for h in heads)
    assert (await list_sessions(client, table, owner="cat")).sessions == []
    again = await delete_sessions(client, table, owner="cat")
    assert (again.sessions, again.passes, again.corrupt) == (0, 1, [])


async def test_a_head_without_counts_is_not_taken_for_a_tombstone(
    make_client: Any, table: str
) -> None:
    """Written by another program: an owner, items, but no created_at nor item_count."""
    client = await make_client()
    await client.put_item(
        TableName=table,
        Item={"session_id": {"S": "raw"}, "owner": {"S": "ola"}, "updated_at": {"N": "5"},
              "conversation_data": {"S": json.dumps([msg("ola-text")])}},
    )  # fmt: skip
    report = await delete_sessions(client, table, owner="ola")
    assert report.erased == ["raw"] and report.corrupt == []
    assert "ola-text" not in await table_text(client, table)


async def test_page_deletes_that_fail_are_redone_before_the_erase_returns(
    make_client: Any, table: str, endpoint: str
) -> None:
    """The tombstone lands, DynamoDB refuses the page deletes: the erase finds the
    pages by the session they name, and deletes them."""
    async with FaultProxy(endpoint) as proxy:
        eraser = await make_client(url=proxy.url, retries={"mode": "standard", "max_attempts": 1})
        await paged(await make_client(), table, "chat", "dan-text", owner="dan")
        rule = proxy.add_rule(op="BatchWriteItem", fault="throttle", times=1)
        report = await delete_sessions(eraser, table, owner="dan")
        assert report.erased == ["chat"] and rule.hits == 1
    assert "dan-text" not in await table_text(await make_client(), table)


async def test_a_resent_tombstone_is_recognised(
    make_client: Any, table: str, endpoint: str
) -> None:
    """The tombstone's answer is lost and the client resends it: the resent copy fails
    its condition, and the erase recognises its own write instead of failing."""
    async with FaultProxy(endpoint) as proxy:
        eraser = await make_client(url=proxy.url, retries={"mode": "legacy", "max_attempts": 2})
        await paged(await make_client(), table, "chat", "rex-text", owner="rex")
        proxy.add_rule(op="PutItem", fault="drop_response", times=1)
        report = await delete_sessions(eraser, table, owner="rex")
        assert report.erased == ["chat"]
        assert proxy.faults[("PutItem", "drop_response")] == 1
    assert "rex-text" not in await table_text(await make_client(), table)


async def test_an_interrupted_erase_resumes_and_finishes(
    make_client: Any, table: str, endpoint: str
) -> None:
    """DynamoDB stops answering mid-erase: the erase fails typed after its pass, and
    running it again erases what is left."""
    from openai_agents_session import DynamoDBError

    writer = await make_client()
    for sid in ("s1", "s2", "s3"):
        await DynamoDBSession(sid, writer, table, owner="una").add_items([msg(f"una-{sid}")])
    async with FaultProxy(endpoint) as proxy:
        eraser = await make_client(url=proxy.url, retries={"mode": "standard", "max_attempts": 1})
        proxy.add_rule(op="PutItem", fault="reset_before", times=None, after=1)
        with pytest.raises(DynamoDBError):
            await delete_sessions(eraser, table, owner="una")
    assert "una-" in await table_text(writer, table)  # not all of it went
    report = await delete_sessions(writer, table, owner="una")
    assert len(report.erased) == 2
    assert "una-" not in await table_text(writer, table)


# ------------------------------------------------------------------ forks


async def test_erase_during_a_fork_that_lands_before_the_erase_lists(
    make_client: Any, table: str
) -> None:
    eraser, other = await make_client(), await make_client()
    source = await paged(other, table, "src", "fay-text", owner="fay")

    async def fork() -> None:
        await source.fork("copy")

    eraser.meta.events.register("before-call.dynamodb.Query", once(fork))
    report = await delete_sessions(eraser, table, owner="fay")
    assert sorted(report.erased) == ["copy", "src"]
    assert "fay-text" not in await table_text(eraser, table)


# A fork whose copy is written after the source's tombstone, or after the erase
# returned, is refused: see test_fork_erase.py.


# ------------------------------------------------------------------ scale


async def test_erase_of_a_user_with_1000_sessions(make_client: Any, table: str) -> None:
    client = await make_client()
    version = Decimal("1800000000.000001000000")
    heads = []
    for n in range(1000):
        body = json.dumps([msg(f"hugo-secret-{n:04d}")], separators=(",", ":"))
        extra = {"owner": {"S": "hugo"}, "title": {"S": f"hugo-title-{n:04d}"}}
        heads.append(
            encode_item(f"h-{n:04d}", body, version, None, frozenset({version}), extra=extra,
                        created_at=version, count=1)
        )  # fmt: skip
    # Another user's sessions stay.
    await DynamoDBSession("other", client, table, owner="ivy").add_items([msg("ivy-keeps")])

    async def put(chunk: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in chunk]}
        while pending:
            pending = (await client.batch_write_item(RequestItems=pending)).get(
                "UnprocessedItems"
            ) or {}

    await asyncio.gather(*(put(heads[i : i + 25]) for i in range(0, len(heads), 25)))
    report = await delete_sessions(client, table, owner="hugo")
    assert report.sessions == 1000 and len(report.erased) == 1000 and report.passes == 2
    text = await table_text(client, table)
    assert "hugo-secret" not in text and "hugo-title" not in text
    assert "ivy-keeps" in text
    assert (await list_sessions(client, table, owner="hugo")).sessions == []
