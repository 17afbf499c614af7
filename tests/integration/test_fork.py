"""DynamoDBSession.fork against a real endpoint: one version, pair-safe, conditional, paged."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from openai_agents_session import (
    DynamoDBSession,
    InvalidArgumentError,
    SessionExistsError,
    list_forks,
    list_sessions,
)
from openai_agents_session.models.schema import PAGE_PREFIX
from tests.conftest import ClientFactory, count_calls
from tests.support.proxy import FaultProxy

SMALL = 16 * 1024


def _sid(tag: str = "src") -> str:
    return f"fork-{tag}-{uuid.uuid4().hex[:10]}"


def _turn(n: int, pad: int = 0) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"q{n}" + "x" * pad},
        {"role": "assistant", "content": f"a{n}"},
    ]


async def test_fork_whole_and_by_item_and_turn(client: Any, table: str) -> None:
    source = DynamoDBSession(_sid(), client, table)
    history = [i for n in range(4) for i in _turn(n)]
    await source.add_items(history)

    whole = await source.fork(_sid("whole"))
    assert await whole.get_items() == history
    upto = await source.fork(_sid("upto"), upto=3)
    assert await upto.get_items() == history[:3]
    # As create_branch_from_turn: everything before the 3rd user message.
    turn = await source.fork(_sid("turn"), turn=3)
    assert await turn.get_items() == history[:4]
    assert await source.get_items() == history

    # Independent afterwards: writes to one never show in the other.
    await whole.add_items([{"role": "user", "content": "only in fork"}])
    await source.pop_item()
    assert await source.get_items() == history[:-1]
    assert await whole.get_items() == [*history, {"role": "user", "content": "only in fork"}]


async def test_fork_refuses_a_live_target_and_writes_nothing(client: Any, table: str) -> None:
    source = DynamoDBSession(_sid(), client, table)
    await source.add_items(_turn(0))
    target_id = _sid("taken")
    taken = DynamoDBSession(target_id, client, table)
    await taken.add_items(_turn(9))
    before = await taken.get_record()
    with pytest.raises(SessionExistsError) as caught:
        await source.fork(target_id)
    assert target_id in str(caught.value) and table in str(caught.value)
    after = await DynamoDBSession(target_id, client, table).get_record()
    assert after == before
    # A cleared target (a tombstone) may be replaced.
    await taken.clear_session()
    forked = await source.fork(target_id)
    assert await forked.get_items() == _turn(0)


async def test_fork_bad_arguments(client: Any, table: str) -> None:
    sid = _sid()
    source = DynamoDBSession(sid, client, table)
    await source.add_items(_turn(0))
    for kwargs in ({"upto": 5}, {"turn": 2}, {"upto": 1, "turn": 1}, {"upto": -1}, {"turn": 0}):
        with pytest.raises(InvalidArgumentError) as caught:
            await source.fork(_sid("bad"), **kwargs)
        assert sid in str(caught.value) and table in str(caught.value)
    with pytest.raises(InvalidArgumentError):
        await source.fork(sid)


async def test_fork_never_splits_a_call_from_its_output(client: Any, table: str) -> None:
    source = DynamoDBSession(_sid(), client, table)
    history = [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sun"},
        {"type": "function_call_output", "call_id": "c2", "output": "rain"},
        {"role": "assistant", "content": "mixed"},
        {"type": "function_call", "call_id": "c3", "name": "w", "arguments": "{}"},
    ]
    await source.add_items(history)
    # A cut after c1's call or between the calls and outputs moves back before them.
    for upto in (2, 3, 4):
        fork = await source.fork(_sid("pair"), upto=upto)
        assert await fork.get_items() == history[:1]
    fork = await source.fork(_sid("pair"), upto=5)
    assert await fork.get_items() == history[:5]
    # A call whose output the source does not have (pending) stays, as in the source.
    fork = await source.fork(_sid("pair"))
    assert await fork.get_items() == history


async def test_fork_of_a_paged_history_whole_and_partial(client: Any, table: str) -> None:
    source = DynamoDBSession(_sid(), client, table, page_threshold=SMALL)
    history = [i for n in range(40) for i in _turn(n, pad=2000)]
    for start in range(0, len(history), 8):
        await source.add_items(history[start : start + 8])
    record = await source.get_record()
    assert record is not None and record.pages is not None and len(record.pages.pages) >= 1

    whole = await source.fork(_sid("pw"))
    assert await whole.get_items() == history
    copied = await whole.get_record()
    assert copied is not None and copied.pages is not None
    # Pages are copied, not shared: the fork lists pages of its own.
    assert not {r.id for r in copied.pages.pages} & {r.id for r in record.pages.pages}
    part = await source.fork(_sid("pp"), turn=5)
    assert await part.get_items() == history[:8]

    # Clearing the source deletes only its pages: the fork still reads whole.
    await source.clear_session()
    assert await DynamoDBSession(whole.session_id, client, table).get_items() == history
    scan = await client.scan(TableName=table)
    owners = {
        i["page_of"]["S"] for i in scan["Items"] if i["session_id"]["S"].startswith(PAGE_PREFIX)
    }
    assert source.session_id not in owners and whole.session_id in owners


async def test_fork_under_concurrent_appends_is_a_prefix_at_one_version(
    make_client: ClientFactory, table: str
) -> None:
    sid = _sid()
    source = DynamoDBSession(sid, await make_client(), table, page_threshold=SMALL)
    await source.add_items([i for n in range(10) for i in _turn(n, pad=1500)])
    writer = DynamoDBSession(sid, await make_client(), table, page_threshold=SMALL)
    appended: list[dict[str, Any]] = []
    stop = asyncio.Event()
    landed = asyncio.Event()

    async def append() -> None:
        n = 100
        while not stop.is_set():
            batch = _turn(n, pad=1500)
            await writer.add_items(batch)
            appended.extend(batch)
            landed.set()
            n += 1

    task = asyncio.create_task(append())
    forks = []
    try:
        for k in range(5):
            forks.append(await source.fork(_sid(f"c{k}")))
            landed.clear()  # the next fork must see at least one more append
            await asyncio.wait_for(landed.wait(), 10)
    finally:
        stop.set()
        await task
    final = await DynamoDBSession(sid, await make_client(), table).get_items()
    initial = [i for n in range(10) for i in _turn(n, pad=1500)]
    assert final == initial + appended  # the source lost nothing
    lengths = []
    for fork in forks:
        items = await fork.get_items()
        assert items == final[: len(items)] and len(items) >= len(initial)
        lengths.append(len(items))
    assert lengths == sorted(lengths) and lengths[-1] > lengths[0]


async def test_fork_carries_plain_attributes_recomputes_derived_not_usage(
    client: Any, table: str
) -> None:
    from tests.support.team import ChatRecord

    team_table = table  # the record's index is not needed to store its attributes
    writer = DynamoDBSession(_sid(), client, team_table, record=ChatRecord)
    await writer.add_items(_turn(0) + _turn(1))
    await writer.set_attributes(tenant_id="t-42")
    reader = DynamoDBSession(writer.session_id, client, team_table, record=ChatRecord)
    forked = await reader.fork(_sid("team"), upto=3)
    record = await forked.get_record()
    assert isinstance(record, ChatRecord)
    assert record.tenant_id == "t-42"  # plain: copied as stored
    assert record.message_count == 3 and record.last_role == "user"  # derived: recomputed

    source = DynamoDBSession(_sid(), client, table)
    await source.add_items(_turn(0))

    class _R:
        context_wrapper = type("W", (), {"usage": None})()

    from agents.usage import Usage

    _R.context_wrapper.usage = Usage(requests=1, input_tokens=1, output_tokens=1, total_tokens=2)
    assert await source.store_run_usage(_R()) == 1
    fork = await source.fork(_sid("attrs"))
    assert await fork.get_session_usage() is None
    assert await source.get_session_usage() is not None


async def test_fork_whose_answer_is_lost_lands_once(
    endpoint: str, make_client: ClientFactory, client: Any, table: str, backend: str
) -> None:
    source_id, target_id = _sid(), _sid("lost")
    await DynamoDBSession(source_id, client, table).add_items(_turn(0) + _turn(1))
    # The fork's head commit: a transaction with a check on its source, or (on an
    # endpoint without transactions) the plain conditional put.
    commit = "TransactWriteItems" if backend == "moto" else "PutItem"
    async with FaultProxy(endpoint, seed=11) as proxy:
        faulty = await make_client(
            url=proxy.url, retries={"mode": "legacy", "max_attempts": 2}, read_timeout=2
        )
        source = DynamoDBSession(source_id, faulty, table)
        proxy.add_rule(op=commit, fault="drop_response", times=1)
        fork = await source.fork(target_id)  # the resend fails its condition: recognised
        assert proxy.faults[(commit, "drop_response")] == 1
        assert await fork.get_items() == _turn(0) + _turn(1)


# ------------------------------------------------------- owner, options, lineage


async def test_the_fork_keeps_every_option_of_its_source(client: Any, table: str) -> None:
    from tests.support.team import ChatRecord

    source = DynamoDBSession(
        _sid(),
        client,
        table,
        ttl_seconds=3600,
        record=ChatRecord,
        attributes={"tenant_id": "t-1"},
        auto_title=True,
        key_prefix="fork-",
        owner="fork-user",
        max_items=50,
        page_threshold=SMALL,
        strict_items=True,
    )
    await source.add_items(_turn(0))
    fork = await source.fork(_sid("opts"))
    options = (
        fork.ttl_seconds,
        fork.record,
        fork.auto_title,
        fork.key_prefix,
        fork.owner,
        fork.max_items,
        fork.page_threshold,
        fork.strict_items,
        dict(fork.attributes),
    )
    assert options == (
        3600,
        ChatRecord,
        True,
        "fork-",
        "fork-user",
        50,
        SMALL,
        True,
        {"tenant_id": "t-1", "owner": "fork-user"},
    )
    # The fork's own writes keep them: auto title, tenant, TTL.
    await fork.add_items(_turn(1))
    record = await fork.get_record()
    assert isinstance(record, ChatRecord)
    assert (record.title, record.tenant_id, record.owner) == ("q0", "t-1", "fork-user")
    assert record.ttl is not None


async def test_a_fork_with_owner_keeps_the_stored_title_and_metadata(
    client: Any, table: str
) -> None:
    source_id = _sid()
    await DynamoDBSession(
        source_id, client, table, owner="u", title="Trip", metadata={"pinned": True}
    ).add_items(_turn(0))
    for reader in (
        DynamoDBSession(source_id, client, table, owner="u"),
        DynamoDBSession(source_id, client, table),
    ):
        fork = await reader.fork(_sid("titled"))
        record = await fork.get_record()
        assert record is not None
        assert (record.owner, record.title, record.metadata) == ("u", "Trip", {"pinned": True})
        # Its next writes keep them too.
        await fork.add_items(_turn(1))
        again = await fork.get_record()
        assert again is not None and (again.title, again.metadata) == ("Trip", {"pinned": True})


async def test_a_fork_may_override_title_and_metadata(client: Any, table: str) -> None:
    source = DynamoDBSession(_sid(), client, table, owner="u", title="Trip")
    await source.add_items(_turn(0))
    fork = await source.fork(_sid("renamed"), title="Trip (branch)", metadata={"b": 1})
    await fork.add_items(_turn(1))
    record = await fork.get_record()
    assert record is not None
    assert (record.owner, record.title, record.metadata) == ("u", "Trip (branch)", {"b": 1})
    source_record = await source.get_record()
    assert source_record is not None and source_record.title == "Trip"


async def test_forks_record_their_lineage_and_are_listed_by_query(client: Any, table: str) -> None:
    source = DynamoDBSession(_sid(), client, table, owner="u", title="root")
    history = [i for n in range(3) for i in _turn(n)]
    await source.add_items(history)
    by_turn = await source.fork(_sid("t"), turn=2)
    by_item = await source.fork(_sid("i"), upto=5)
    whole = await source.fork(_sid("w"))
    expected = {
        by_turn.session_id: (2, 2),
        by_item.session_id: (5, 4),  # q0 a0 q1 a1 q2: three user turns copied
        whole.session_id: (6, 4),
    }
    for fork in (by_turn, by_item, whole):
        record = await fork.get_record()
        assert record is not None and record.parent_id == source.session_id
        assert (record.fork_index, record.fork_turn) == expected[fork.session_id]
    calls = count_calls(client)
    page = await source.list_forks(limit=2)
    rest = await source.list_forks(cursor=page.cursor)
    assert set(calls) == {"Query"}  # never a Scan, never a GetItem
    forks = page.forks + rest.forks
    assert [f.session_id for f in forks] == [
        by_turn.session_id,
        by_item.session_id,
        whole.session_id,
    ]
    assert rest.cursor is None
    first = forks[0]
    assert (first.parent_id, first.owner, first.title) == (source.session_id, "u", "root")
    assert (first.fork_index, first.fork_turn, first.item_count) == (2, 2, 2)
    assert first.created_at > 0 and first.size > 0
    # Writes to a fork keep its lineage; a clear removes it from the list.
    await whole.add_items(_turn(9))
    record = await whole.get_record()
    assert record is not None and record.parent_id == source.session_id
    await by_item.clear_session()
    listed = [f.session_id for f in (await list_forks(client, table, source.session_id)).forks]
    assert listed == [by_turn.session_id, whole.session_id]
    # An owner's branch picker lists only that owner's forks.
    await DynamoDBSession(source.session_id, client, table, owner="u").fork(_sid("gift"), owner="v")
    mine = await list_forks(client, table, source.session_id, owner="u")
    assert [f.owner for f in mine.forks] == ["u", "u"]
    theirs = await list_forks(client, table, source.session_id, owner="v")
    assert len(theirs.forks) == 1


async def test_forks_of_forks_keep_lineage_and_owner(client: Any, table: str) -> None:
    root = DynamoDBSession(_sid(), client, table, owner="u", title="root")
    await root.add_items(_turn(0) + _turn(1))
    child = await DynamoDBSession(root.session_id, client, table).fork(_sid("child"), turn=2)
    await child.add_items(_turn(5))
    grandchild = await child.fork(_sid("grandchild"), upto=1)
    records = [await s.get_record() for s in (child, grandchild)]
    assert [(r.parent_id, r.owner, r.title) for r in records if r is not None] == [
        (root.session_id, "u", "root"),
        (child.session_id, "u", "root"),
    ]
    assert [f.session_id for f in (await root.list_forks()).forks] == [child.session_id]
    assert [f.session_id for f in (await child.list_forks()).forks] == [grandchild.session_id]
    assert (await grandchild.list_forks()).forks == []
    assert await grandchild.get_items() == _turn(0)[:1]
    listed = {s.session_id for s in (await list_sessions(client, table, owner="u")).sessions}
    assert listed == {root.session_id, child.session_id, grandchild.session_id}


# dynalite wants ProvisionedThroughput on an index added to an on-demand table,
# which DynamoDB (and moto) refuse: the migration follows DynamoDB.
@pytest.mark.moto_only
async def test_migration_0006_adds_the_lineage_index_to_a_catalog_table_and_back(
    client: Any,
) -> None:
    from openai_agents_session.migrations import down, load_migrations, up

    name = f"sessions-{uuid.uuid4().hex[:12]}"
    # A table as 0005_session_catalog left it: the by-owner index only.
    before = load_migrations().get("0005_session_catalog").schema_snapshot
    assert before is not None
    await client.create_table(TableName=name, **before["create_table"])
    await client.get_waiter("table_exists").wait(TableName=name)
    source = DynamoDBSession(_sid(), client, name, owner="u")
    await source.add_items(_turn(0))
    fork = await source.fork(_sid("early"))  # lineage is written before the index exists
    result = await up(client, name)
    assert "0006_fork_lineage" in result.applied
    indexes = {
        i["IndexName"]
        for i in (await client.describe_table(TableName=name))["Table"]["GlobalSecondaryIndexes"]
    }
    assert indexes == {"sessions_by_owner", "sessions_by_parent"}
    # DynamoDB backfills a new index from the items already stored.
    assert [f.session_id for f in (await source.list_forks()).forks] == [fork.session_id]
    reverted = await down(client, name, to="0005_session_catalog")
    assert reverted.reverted == ["0007_turn_lease", "0006_fork_lineage"]
    described = (await client.describe_table(TableName=name))["Table"]
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["sessions_by_owner"]
    record = await fork.get_record()  # the attributes stay on the items
    assert record is not None and record.parent_id == source.session_id
