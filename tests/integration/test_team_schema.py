"""A team's record on a real endpoint: its attributes on every write, its index in DynamoDB.

`ChatRecord` (tests/support/team.py) adds a plain `tenant_id`, two derived attributes
(`message_count`, `last_role`) and the index `by_tenant`. The judge is what the table
holds, read with a second client and decoded by hand, and what a Query on the index
returns.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Annotated, Any

import pytest
from aiobotocore.session import get_session

from openai_agents_session import (
    DerivedAttributeError,
    DynamoAttribute,
    DynamoDBSession,
    HistoryView,
    InvalidAttributeError,
    OperationMetrics,
    SessionRecord,
    schema_of,
)
from openai_agents_session.models import global_index_request, session_model
from openai_agents_session.models.table import to_record
from tests.conftest import count_calls
from tests.support.sessions import (
    ClientMaker,
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    create_table_blocking,
    message,
    raw_fixture,  # noqa: F401
    raw_get,
    stored_history,
)
from tests.support.team import TEAM_NAMES, ChatRecord, team_values


@pytest.fixture(scope="module", name="table")
def chat_table(endpoint: str) -> str:
    """One table per module, created from ChatRecord's request (with its index)."""
    return create_table_blocking(endpoint, "chats", record=ChatRecord)


def sid() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def chat(session_id: str, client: Any, table: str, **options: Any) -> DynamoDBSession:
    options.setdefault("attributes", {"tenant_id": "t1"})
    return DynamoDBSession(session_id, client, table, record=ChatRecord, **options)


async def by_tenant(client: Any, table: str, tenant: str) -> list[str]:
    """Session ids the index holds for a tenant, newest write last."""
    response = await client.query(
        TableName=table,
        IndexName="by_tenant",
        KeyConditionExpression="tenant_id = :t",
        ExpressionAttributeValues={":t": {"S": tenant}},
    )
    return [item["session_id"]["S"] for item in response["Items"]]


async def test_the_table_has_the_declared_index(client: Any, table: str) -> None:
    described = (await client.describe_table(TableName=table))["Table"]
    by_name = {i["IndexName"]: i for i in described["GlobalSecondaryIndexes"]}
    assert set(by_name) == {"sessions_by_owner", "sessions_by_parent", "by_tenant"}
    index = by_name["by_tenant"]
    assert index["KeySchema"] == [
        {"AttributeName": "tenant_id", "KeyType": "HASH"},
        {"AttributeName": "updated_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    types = {d["AttributeName"]: d["AttributeType"] for d in described["AttributeDefinitions"]}
    assert types == {
        "session_id": "S",
        "owner": "S",
        "tenant_id": "S",
        "updated_at": "N",
        "parent_id": "S",
        "created_at": "N",
    }


async def test_every_write_carries_the_team_attributes(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = chat(session_id, client, table)
    await session.add_items([message("hi"), message("hello", "assistant")])
    assert team_values(await raw_get(raw, table, session_id)) == {
        "tenant_id": "t1",
        "message_count": 2,
        "last_role": "assistant",
    }
    assert await session.pop_item() == message("hello", "assistant")
    assert team_values(await raw_get(raw, table, session_id)) == {
        "tenant_id": "t1",
        "message_count": 1,
        "last_role": "user",
    }
    assert await session._atomic_replace_items([message("summary", "system")])
    assert team_values(await raw_get(raw, table, session_id)) == {
        "tenant_id": "t1",
        "message_count": 1,
        "last_role": "system",
    }
    await session.add_items([message("q"), message("a", "assistant"), message("q2")])
    snapshot = await session._get_compaction_snapshot(3)
    assert snapshot is not None
    assert await snapshot.replace_suffix(1, [message("compacted", "assistant")])
    assert await session.get_items() == [
        message("summary", "system"),
        message("q"),
        message("compacted", "assistant"),
    ]
    assert team_values(await raw_get(raw, table, session_id)) == {
        "tenant_id": "t1",
        "message_count": 3,
        "last_role": "assistant",
    }
    record = await session.get_record()
    assert isinstance(record, ChatRecord)
    assert (record.tenant_id, record.message_count, record.last_role) == ("t1", 3, "assistant")
    assert await by_tenant(raw, table, "t1") == [session_id]


async def test_a_paged_session_counts_its_whole_history(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = chat(session_id, client, table, page_threshold=16 * 1024)
    history = [message(f"{i}:" + "x" * 1_500, "user" if i % 2 else "assistant") for i in range(60)]
    for start in range(0, 60, 6):
        await session.add_items(history[start : start + 6])
        head = await raw_get(raw, table, session_id)
        stored = await stored_history(raw, table, session_id)
        assert stored == history[: start + 6]
        assert team_values(head)["message_count"] == start + 6
    assert head is not None and "pages" in head, "the session should be paged by now"
    assert team_values(head) == {"tenant_id": "t1", "message_count": 60, "last_role": "user"}
    # Pops walk back into the pages (the head runs out of items first); the count
    # follows the whole history, and last_role, a function of the head's items, goes.
    emptied = 0
    for popped in range(1, 13):
        await session.pop_item()
        head = await raw_get(raw, table, session_id)
        assert head is not None
        assert team_values(head)["message_count"] == 60 - popped
        if head["conversation_data"]["S"] == "[]":
            emptied += 1
            assert "pages" in head and "last_role" not in head
    assert emptied > 0, "the pops should have reached into the pages"
    assert len(await session.get_items()) == 48


async def test_clear_leaves_a_tombstone_without_them_and_the_next_write_restores_them(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    session = chat(session_id, client, table, attributes={"tenant_id": "t-clear"})
    await session.add_items([message("hi")])
    assert await by_tenant(raw, table, "t-clear") == [session_id]
    await session.clear_session()
    tombstone = await raw_get(raw, table, session_id)
    assert tombstone is not None and tombstone["conversation_data"]["S"] == "[]"
    assert not set(TEAM_NAMES) & set(tombstone)
    assert await by_tenant(raw, table, "t-clear") == []  # the sparse index dropped it
    # set_attributes does not bring a cleared session back into the index either.
    assert await session.set_attributes(tenant_id="t-clear") is False
    assert not set(TEAM_NAMES) & set(await raw_get(raw, table, session_id) or {})
    await DynamoDBSession(session_id, client, table).add_items([message("again")])
    # A base-record writer has no tenant to put back; this object's next write does.
    assert team_values(await raw_get(raw, table, session_id)) == {}
    await session.add_items([message("more")])
    assert team_values(await raw_get(raw, table, session_id)) == {
        "tenant_id": "t-clear",
        "message_count": 2,
        "last_role": "user",
    }
    assert await by_tenant(raw, table, "t-clear") == [session_id]


async def test_two_writers_keep_the_derived_values_current(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    conflicts: list[int] = []

    def count(metrics: OperationMetrics) -> None:
        conflicts.append(metrics.conflicts)

    first = chat(session_id, await clients(), table, on_operation=count)
    second = chat(session_id, await clients(), table, on_operation=count)

    async def write(session: DynamoDBSession, tag: str) -> None:
        for i in range(12):
            await session.add_items([message(f"{tag}{i}")])
            if i % 4 == 3:
                await session.pop_item()

    await asyncio.gather(write(first, "a"), write(second, "b"))
    # Interleaved rounds: each object's memory is stale after the other wrote.
    for i in range(3):
        await first.add_items([message(f"x{i}", "assistant")])
        await second.add_items([message(f"y{i}")])
    assert sum(conflicts) >= 3
    items = await DynamoDBSession(session_id, raw, table).get_items()
    assert len(items) == 2 * (12 - 3) + 6
    assert team_values(await raw_get(raw, table, session_id)) == {
        "tenant_id": "t1",
        "message_count": len(items),
        "last_role": "user",
    }


async def test_a_base_record_session_carries_a_team_item_over(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    await chat(session_id, client, table).add_items([message("hi"), message("yo", "assistant")])
    team = team_values(await raw_get(raw, table, session_id))
    plain = DynamoDBSession(session_id, client, table)
    await plain.add_items([message("more")])
    await plain.pop_item()
    await plain.add_items([message("again")])
    assert team_values(await raw_get(raw, table, session_id)) == team  # unchanged, even stale
    assert type(await plain.get_record()) is SessionRecord


async def test_bad_attributes_are_refused_before_any_call(client: Any, table: str) -> None:
    calls = count_calls(client)
    for attributes, name in (
        ({"tenant": "t1"}, "tenant"),
        ({"tenant_id": 7}, "tenant_id"),
        ({"message_count": 3}, "message_count"),
        ({"tenant_id": ""}, "tenant_id"),
    ):
        with pytest.raises(InvalidAttributeError) as caught:
            chat("s-bad", client, table, attributes=attributes)
        assert caught.value.attribute == name
        assert caught.value.session_id == "s-bad" and caught.value.table_name == table
        assert f"session 's-bad' in table '{table}'" in str(caught.value)
        assert "Fix:" in str(caught.value)
    session = chat("s-bad", client, table)
    with pytest.raises(InvalidAttributeError, match="string_type"):
        await session.set_attributes(tenant_id=5)
    assert calls.total() == 0


def fragile_count(view: HistoryView) -> int:
    if any(item.get("content") == "boom" for item in view.items):
        raise ValueError("refuses this history")
    if any(item.get("content") == "text" for item in view.items):
        return "many"  # type: ignore[return-value]
    return view.count


class Fragile(SessionRecord):
    tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
    message_count: Annotated[int | None, DynamoAttribute("N", "derived", derive=fragile_count)] = (
        None
    )


async def test_a_failing_derive_writes_nothing(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(
        session_id, client, table, record=Fragile, attributes={"tenant_id": "t1"}
    )
    await session.add_items([message("fine")])
    before = await raw_get(raw, table, session_id)
    for content, cause in (("boom", ValueError), ("text", None)):
        calls = count_calls(client)
        with pytest.raises(DerivedAttributeError) as caught:
            await session.add_items([message(content)])
        error = caught.value
        assert error.attribute == "message_count"
        assert (error.session_id, error.table_name) == (session_id, table)
        assert "Nothing was written" in str(error) and "Fix:" in str(error)
        assert "fragile_count" in str(error)
        assert cause is None or isinstance(error.__cause__, cause)
        assert calls["PutItem"] == 0
        assert await raw_get(raw, table, session_id) == before
    # The session carries on with histories its derive accepts.
    await session.add_items([message("fine again")])
    assert team_values(await raw_get(raw, table, session_id))["message_count"] == 2


async def test_set_attributes_changes_only_the_attribute(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = chat(session_id, client, table)
    await session.add_items([message("hi"), message("yo", "assistant")])
    before = await raw_get(raw, table, session_id)
    assert before is not None
    calls = count_calls(client)
    assert await session.set_attributes(tenant_id="t2") is True
    assert calls["PutItem"] == 1 and calls.total() == 1  # one conditional write, no read
    after = await raw_get(raw, table, session_id)
    assert after is not None
    assert team_values(after) == {"tenant_id": "t2", "message_count": 2, "last_role": "assistant"}
    assert after["conversation_data"] == before["conversation_data"]
    assert Decimal(after["updated_at"]["N"]) > Decimal(before["updated_at"]["N"])
    assert dict(session.attributes) == {"tenant_id": "t2"}
    assert await by_tenant(raw, table, "t2") == [session_id]
    assert session_id not in await by_tenant(raw, table, "t1")
    # The object's own writes now carry the new value.
    await session.add_items([message("more")])
    assert team_values(await raw_get(raw, table, session_id))["tenant_id"] == "t2"
    # None removes it; later writes carry over the absence.
    assert await session.set_attributes(tenant_id=None) is True
    assert "tenant_id" not in (await raw_get(raw, table, session_id) or {})
    assert dict(session.attributes) == {}
    await session.add_items([message("last")])
    head = await raw_get(raw, table, session_id)
    assert "tenant_id" not in (head or {}) and team_values(head)["message_count"] == 4
    # Nothing to write to: no session.
    assert await chat(sid(), client, table).set_attributes(tenant_id="t3") is False


async def test_set_attributes_retries_on_top_of_a_concurrent_writer(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    metrics: list[OperationMetrics] = []
    setter = chat(session_id, await clients(), table, on_operation=metrics.append)
    other = chat(session_id, await clients(), table)
    await setter.add_items([message("one")])
    await setter.get_items()  # setter now knows this version
    await other.add_items([message("two", "assistant")])  # and is stale from here on
    assert await setter.set_attributes(tenant_id="t-moved") is True
    (done,) = [m for m in metrics if m.operation == "set_attributes"]
    assert done.conflicts == 1 and done.attempts == 2
    assert await DynamoDBSession(session_id, raw, table).get_items() == [
        message("one"),
        message("two", "assistant"),
    ]
    assert team_values(await raw_get(raw, table, session_id)) == {
        "tenant_id": "t-moved",
        "message_count": 2,
        "last_role": "assistant",
    }
    # The other object still puts its own tenant on its writes: attributes are per object.
    await other.add_items([message("three")])
    assert team_values(await raw_get(raw, table, session_id))["tenant_id"] == "t1"


async def test_a_concurrent_set_attributes_and_append_lose_nothing(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    writer = DynamoDBSession(session_id, await clients(), table)  # carries the tenant over
    setter = chat(session_id, await clients(), table, attributes=None)
    await writer.add_items([message("seed")])

    async def appends() -> None:
        for i in range(10):
            await writer.add_items([message(f"w{i}")])

    async def sets() -> None:
        for i in range(10):
            await setter.set_attributes(tenant_id=f"t{i}")

    await asyncio.gather(appends(), sets())
    items = await DynamoDBSession(session_id, raw, table).get_items()
    assert [i["content"] for i in items] == ["seed"] + [f"w{i}" for i in range(10)]
    assert team_values(await raw_get(raw, table, session_id))["tenant_id"] == "t9"


def test_sync_pynamodb_queries_the_team_index(endpoint: str) -> None:
    table = create_table_blocking(endpoint, "chats", record=ChatRecord)
    sessions = {"t1": [sid(), sid()], "t2": [sid()]}

    async def write() -> None:
        async with get_session().create_client("dynamodb", endpoint_url=endpoint) as client:
            for tenant, ids in sessions.items():
                for session_id in ids:
                    await chat(
                        session_id, client, table, attributes={"tenant_id": tenant}
                    ).add_items([message("hi"), message("yo", "assistant")])

    asyncio.run(write())
    Chats = session_model(table, ChatRecord, host=endpoint)
    found = list(Chats.by_tenant.query("t1"))  # type: ignore[attr-defined]
    assert sorted(c.session_id for c in found) == sorted(sessions["t1"])
    records = [to_record(c) for c in found]
    assert all(isinstance(r, ChatRecord) for r in records)
    assert {(r.tenant_id, r.message_count, r.last_role) for r in records} == {
        ("t1", 2, "assistant")
    }
    # The index's sort key is the version: the newest write comes last.
    newest = list(Chats.by_tenant.query("t1", scan_index_forward=False, limit=1))  # type: ignore[attr-defined]
    assert newest[0].session_id == sessions["t1"][-1]


@pytest.mark.moto_only  # dynalite cannot add a GSI to an on-demand table
async def test_an_index_added_to_an_existing_table(client: Any, raw: Any, endpoint: str) -> None:
    # A table made from the base record gets the team's index through UpdateTable.
    table = create_table_blocking(endpoint, "plain")
    session_id = sid()
    await chat(session_id, client, table).add_items([message("hi")])
    await client.update_table(
        TableName=table, **global_index_request(schema_of(ChatRecord), "by_tenant")
    )
    described = (await client.describe_table(TableName=table))["Table"]
    indexes = {i["IndexName"] for i in described["GlobalSecondaryIndexes"]}
    assert indexes == {"sessions_by_owner", "sessions_by_parent", "by_tenant"}
    await chat(session_id, client, table).add_items([message("again")])
    assert await by_tenant(raw, table, "t1") == [session_id]


async def test_from_config_takes_the_record_and_attributes(
    endpoint: str, table: str, raw: Any
) -> None:
    session_id = sid()
    async with DynamoDBSession.from_config(
        session_id,
        table,
        endpoint_url=endpoint,
        region_name="us-east-1",
        record=ChatRecord,
        attributes={"tenant_id": "t-config"},
    ) as session:
        await session.add_items([message("hi")])
        record = await session.get_record()
    assert isinstance(record, ChatRecord) and record.tenant_id == "t-config"
    assert team_values(await raw_get(raw, table, session_id)) == {
        "tenant_id": "t-config",
        "message_count": 1,
        "last_role": "user",
    }


class TwoPlain(SessionRecord):
    tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
    region: Annotated[str | None, DynamoAttribute("S", "attribute")] = None


async def test_a_none_attribute_leaves_it_out_of_every_write(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    await chat(session_id, client, table).add_items([message("hi")])
    session = DynamoDBSession(
        session_id, client, table, record=TwoPlain, attributes={"tenant_id": None, "region": "eu"}
    )
    await session.add_items([message("more")])
    head = await raw_get(raw, table, session_id)
    assert head is not None and "tenant_id" not in head and head["region"] == {"S": "eu"}
    # Setting another attribute keeps the constructor's None in force.
    assert await session.set_attributes(region="us") is True
    assert dict(session.attributes) == {"tenant_id": None, "region": "us"}
    await raw_put_tenant(raw, table, session_id)
    await session.add_items([message("again")])  # conflicts, re-applies: still left out
    head = await raw_get(raw, table, session_id)
    assert head is not None and "tenant_id" not in head and head["region"] == {"S": "us"}
    # set_attributes(x=None) removes it and hands it back to carry-over.
    assert await session.set_attributes(region=None) is True
    assert dict(session.attributes) == {"tenant_id": None}
    await chat(session_id, client, table, attributes=None).set_attributes(tenant_id="t9")
    await raw_update_region(raw, table, session_id, "ap")
    await session.add_items([message("last")])
    head = await raw_get(raw, table, session_id)
    assert head is not None and "tenant_id" not in head and head["region"] == {"S": "ap"}


async def raw_put_tenant(client: Any, table: str, session_id: str) -> None:
    """Another program sets tenant_id (and moves the version on, as a backfill does)."""
    await client.update_item(
        TableName=table,
        Key={"session_id": {"S": session_id}},
        UpdateExpression="SET tenant_id = :t, updated_at = updated_at + :one",
        ExpressionAttributeValues={":t": {"S": "sneaky"}, ":one": {"N": "1"}},
    )


async def raw_update_region(client: Any, table: str, session_id: str, region: str) -> None:
    await client.update_item(
        TableName=table,
        Key={"session_id": {"S": session_id}},
        UpdateExpression="SET #r = :r, updated_at = updated_at + :one",
        ExpressionAttributeNames={"#r": "region"},
        ExpressionAttributeValues={":r": {"S": region}, ":one": {"N": "1"}},
    )
