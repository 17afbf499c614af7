"""Forks and creates against the erase and the owner rule: the last gaps of issue 16.

A fork reads its source, then writes its copy. An erase that runs to completion
in between must not leave the copy behind: the copy's head lands only while the
source is at the version copied (one TransactWriteItems on DynamoDB; on an
endpoint without transactions, a check after the write that undoes the copy).
Races are interleaved deterministically with botocore event hooks that hold the
fork's commit until the other party is done. Every test ends by reading what
the table holds, pages decompressed.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from openai_agents_session import (
    ConcurrentModificationError,
    DynamoDBSession,
    InvalidArgumentError,
    InvalidSessionIdError,
    OwnershipError,
    delete_sessions,
    list_forks,
    list_sessions,
)
from tests.conftest import ClientFactory, count_calls
from tests.security.test_erase import msg, paged
from tests.support.proxy import FaultProxy
from tests.support.scan import table_text
from tests.support.sessions import is_cleared, legacy_item, raw_get, raw_put, scan_pages

COMMITS = ("TransactWriteItems", "PutItem")


class HeldCommit:
    """Holds a client's first head commit (TransactWriteItems or PutItem) until released."""

    def __init__(self, client: Any) -> None:
        self.arrived, self.released = asyncio.Event(), asyncio.Event()
        client.meta.events.register("before-call.dynamodb", self._hold)

    async def _hold(self, event_name: str, **_: Any) -> None:
        if event_name.rsplit(".", 1)[-1] in COMMITS and not self.arrived.is_set():
            self.arrived.set()
            await asyncio.wait_for(self.released.wait(), 15)


async def nothing_of_the_copy(client: Any, table: str, copy: str) -> None:
    """No head content and no page of `copy` is stored (a tombstone at most)."""
    assert is_cleared(await raw_get(client, table, copy))
    assert await scan_pages(client, table, copy) == []


# ------------------------------------------------------------- a fork in flight


async def test_a_fork_in_flight_when_the_erase_returns_leaves_nothing(
    make_client: ClientFactory, table: str
) -> None:
    """Today: a fork that read its source before `delete_sessions(owner=U)` and wrote
    its copy after the erase returned left a copy of U's text, in U's list."""
    eraser, forker = await make_client(), await make_client()
    source = await paged(forker, table, "src", "kim-text", owner="kim")
    held = HeldCommit(forker)
    forking = asyncio.create_task(source.fork("copy"))
    await asyncio.wait_for(held.arrived.wait(), 10)  # copied, pages written, head not yet
    report = await delete_sessions(eraser, table, owner="kim")
    assert report.erased == ["src"]
    held.released.set()
    with pytest.raises(ConcurrentModificationError, match="cleared or erased") as caught:
        await forking
    assert "kim-text" not in str(caught.value)
    assert "kim-text" not in await table_text(eraser, table)
    await nothing_of_the_copy(eraser, table, "copy")
    assert (await list_sessions(eraser, table, owner="kim")).sessions == []
    assert (await list_forks(eraser, table, "src")).forks == []


async def test_a_fork_written_after_the_sources_tombstone_inside_the_erase_is_refused(
    make_client: ClientFactory, table: str
) -> None:
    """The copy's write comes after the erase's tombstone but before its last pass:
    refused (or, without transactions, undone) and not left for the erase."""
    eraser, forker = await make_client(), await make_client()
    await DynamoDBSession("src", forker, table, owner="gus").add_items(
        [msg("gus-text-1"), msg("gus-text-2", "assistant")]
    )
    source = DynamoDBSession("src", forker, table, owner="gus")
    held, tombstoned, fork_done = HeldCommit(forker), asyncio.Event(), asyncio.Event()
    fired: list[bool] = []

    async def after_tombstone(**_: Any) -> None:
        if not fired:
            fired.append(True)
            tombstoned.set()
            await asyncio.wait_for(fork_done.wait(), 10)

    eraser.meta.events.register("after-call.dynamodb.PutItem", after_tombstone)

    async def fork() -> None:
        try:
            await source.fork("copy")
        finally:
            fork_done.set()

    forking = asyncio.create_task(fork())
    await asyncio.wait_for(held.arrived.wait(), 10)

    async def release_after_tombstone() -> None:
        await asyncio.wait_for(tombstoned.wait(), 10)
        held.released.set()

    releasing = asyncio.create_task(release_after_tombstone())
    report = await asyncio.wait_for(delete_sessions(eraser, table, owner="gus"), 30)
    await releasing
    with pytest.raises(ConcurrentModificationError):
        await forking
    assert report.erased == ["src"] and report.passes == 2
    assert "gus-text" not in await table_text(eraser, table)
    await nothing_of_the_copy(eraser, table, "copy")


async def test_a_fork_whose_source_got_an_append_meanwhile_lands(
    make_client: ClientFactory, table: str, backend: str
) -> None:
    """An append is no erase: the copy of the version read lands, in one commit (a
    check on the version would refuse every fork of a busy session)."""
    writer, forker = await make_client(), await make_client()
    source = await paged(forker, table, "src", "lia-text", owner="lia")
    held = HeldCommit(forker)
    calls = count_calls(forker)
    forking = asyncio.create_task(source.fork("copy"))
    await asyncio.wait_for(held.arrived.wait(), 10)
    await DynamoDBSession("src", writer, table, owner="lia").add_items([msg("lia-later")])
    held.released.set()
    copy = await forking
    assert len(await copy.get_items()) == 40
    if backend == "moto":
        assert calls["TransactWriteItems"] == 1


async def test_a_fork_of_a_source_cleared_and_written_again_meanwhile_is_refused(
    make_client: ClientFactory, table: str
) -> None:
    """Cleared, then written again: the source holds a new conversation (a new
    created_at), not what was copied, so the copy of the old one is refused."""
    writer, forker = await make_client(), await make_client()
    source = await paged(forker, table, "src", "mia-text", owner="mia")
    held = HeldCommit(forker)
    forking = asyncio.create_task(source.fork("copy"))
    await asyncio.wait_for(held.arrived.wait(), 10)
    again = DynamoDBSession("src", writer, table, owner="mia")
    await again.clear_session()
    await again.add_items([msg("mia-new")])
    held.released.set()
    with pytest.raises(ConcurrentModificationError, match="cleared or erased"):
        await forking
    assert "mia-text" not in await table_text(writer, table)
    await nothing_of_the_copy(writer, table, "copy")


async def test_a_fork_of_a_pre_catalog_source_cleared_meanwhile_is_refused(
    make_client: ClientFactory, table: str
) -> None:
    """A head written before the catalog has no created_at: the copy is checked on
    the source's version instead, so a clear in between still refuses it."""
    writer, forker = await make_client(), await make_client()
    await raw_put(forker, table, legacy_item("old", [msg("old-text"), msg("ok", "assistant")]))
    source = DynamoDBSession("old", forker, table)
    held = HeldCommit(forker)
    forking = asyncio.create_task(source.fork("copy"))
    await asyncio.wait_for(held.arrived.wait(), 10)
    await DynamoDBSession("old", writer, table).clear_session()
    held.released.set()
    with pytest.raises(ConcurrentModificationError, match="cleared or erased"):
        await forking
    assert "old-text" not in await table_text(writer, table)
    await nothing_of_the_copy(writer, table, "copy")


async def test_a_resent_fork_commit_is_recognised_not_refused(
    endpoint: str, make_client: ClientFactory, table: str, backend: str
) -> None:
    """The commit landed but its answer was lost: the client's resend fails the
    target's condition on the fork's own write, which is recognised as landed."""
    op = "TransactWriteItems" if backend == "moto" else "PutItem"
    async with FaultProxy(endpoint) as proxy:
        client = await make_client(url=proxy.url)
        source = await paged(client, table, "src", "max-text", owner="max")
        proxy.add_rule(op=op, fault="drop_response", times=1)
        before = proxy.forwarded[op]
        copy = await source.fork("copy")
        assert proxy.forwarded[op] == before + 2
        assert len(await copy.get_items()) == 40
        page = await list_forks(client, table, "src")
        assert [f.session_id for f in page.forks] == ["copy"]


async def test_a_fork_costs_one_commit_on_a_transactional_endpoint(
    client: Any, table: str, backend: str
) -> None:
    source = DynamoDBSession("src", client, table, owner="ned")
    await source.add_items([msg("ned-text")])
    await source.fork("warm")  # without transactions, the first fork learns it
    calls = count_calls(client)
    await source.fork("copy")
    if backend == "moto":
        assert dict(calls) == {"GetItem": 2, "TransactWriteItems": 1}
    else:  # the write, then the consistent re-read of the source
        assert dict(calls) == {"GetItem": 3, "PutItem": 1}


# ------------------------------------------------------------- create on tombstones


async def test_create_over_another_owners_tombstone(client: Any, table: str) -> None:
    """The tombstone keeps its owner for a day: another owner's create() is refused
    with OwnershipError, as a fork onto it is, and nothing changes."""
    await DynamoDBSession("chat", client, table, owner="olga").add_items([msg("olga-text")])
    await delete_sessions(client, table, owner="olga")
    tombstone = await raw_get(client, table, "chat")
    assert tombstone is not None and tombstone["owner"] == {"S": "olga"}
    bob = DynamoDBSession("chat", client, table, owner="bob", title="bob-title")
    with pytest.raises(OwnershipError) as caught:
        await bob.create()
    with pytest.raises(OwnershipError):
        await bob.create(exist_ok=True)
    assert "olga" not in str(caught.value)
    other = DynamoDBSession("src", client, table, owner="bob")
    await other.add_items([msg("bob-text")])
    with pytest.raises(OwnershipError):
        await other.fork("chat")
    assert await raw_get(client, table, "chat") == tombstone
    # The owner's own create() reuses it, carrying nothing of what was erased.
    olga = DynamoDBSession("chat", client, table, owner="olga", title="new chat")
    assert await olga.create() is True
    record = await olga.get_record()
    assert record is not None and (record.owner, record.title, record.item_count) == (
        "olga",
        "new chat",
        0,
    )
    assert "olga-text" not in await table_text(client, table)


async def test_an_unconstrained_create_on_a_tombstone_stays_the_owners(
    client: Any, table: str
) -> None:
    """An object built without owner= carries the stored owner over, create() too:
    the new chat is in the owner's list and goes with the owner's next erase."""
    await DynamoDBSession("chat", client, table, owner="pia").add_items([msg("pia-text")])
    await delete_sessions(client, table, owner="pia")
    chat = DynamoDBSession("chat", client, table, title="pia-new-title")
    assert await chat.create() is True
    assert [s.session_id for s in (await list_sessions(client, table, owner="pia")).sessions] == [
        "chat"
    ]
    report = await delete_sessions(client, table, owner="pia")
    assert report.erased == ["chat"]
    assert "pia-new-title" not in await table_text(client, table)


# ------------------------------------------------------------- lineage and the erase


async def test_after_the_erase_list_forks_lists_nothing_and_tombstones_carry_no_lineage(
    client: Any, table: str
) -> None:
    source = DynamoDBSession("src", client, table, owner="quin")
    await source.add_items([msg("quin-1"), msg("ok", "assistant"), msg("quin-2")])
    fork = await source.fork("f1", turn=2)
    await fork.fork("f2")
    await source.fork("f3")
    assert len((await list_forks(client, table, "src")).forks) == 2
    report = await delete_sessions(client, table, owner="quin")
    assert sorted(report.erased) == ["f1", "f2", "f3", "src"]
    for parent in ("src", "f1"):
        assert (await list_forks(client, table, parent)).forks == []
        assert (await source.list_forks()).forks == []
    for key in ("src", "f1", "f2", "f3"):
        item = await raw_get(client, table, key)
        assert item is not None and set(item) & {"parent_id", "fork_index", "fork_turn"} == set()
    # A tombstone has no created_at, the index's sort key, so it cannot be in the
    # by-parent index at all; even one planted with a parent_id is not listed.
    await client.update_item(
        TableName=table,
        Key={"session_id": {"S": "f1"}},
        UpdateExpression="SET parent_id = :p",
        ExpressionAttributeValues={":p": {"S": "src"}},
    )
    assert (await list_forks(client, table, "src")).forks == []


# ------------------------------------------------------------- forks of forks


async def test_forks_of_forks_keep_the_prefix_the_stored_owner_and_lineage(
    client: Any, table: str
) -> None:
    tenant = {"key_prefix": "tenant-a#"}
    source = DynamoDBSession("tenant-a#s", client, table, owner="tenant-a#u", **tenant)
    await source.add_items([msg("a"), msg("b", "assistant"), msg("c")])
    # Forked through an unconstrained object of the tenant: the stored owner stays.
    worker = DynamoDBSession("tenant-a#s", client, table, **tenant)
    first = await worker.fork("tenant-a#f1")
    second = await first.fork("tenant-a#f2", upto=2)
    assert (second.key_prefix, second.owner) == ("tenant-a#", "tenant-a#u")
    with pytest.raises(InvalidSessionIdError):
        await second.fork("tenant-b#f3")
    with pytest.raises(InvalidSessionIdError):
        await second.fork("tenant-a#f3", owner="tenant-b#u")
    record = await second.get_record()
    assert record is not None and record.owner == "tenant-a#u"
    (summary,) = (await first.list_forks()).forks
    assert (summary.session_id, summary.parent_id, summary.owner) == (
        "tenant-a#f2",
        "tenant-a#f1",
        "tenant-a#u",
    )
    assert (summary.fork_index, summary.fork_turn) == (2, 2)
    listed = await list_sessions(client, table, owner="tenant-a#u", key_prefix="tenant-a#")
    assert sorted(s.session_id for s in listed.sessions) == [
        "tenant-a#f1",
        "tenant-a#f2",
        "tenant-a#s",
    ]
    assert await raw_get(client, table, "tenant-b#f3") is None


async def test_a_list_forks_cursor_forged_for_another_prefix_is_refused(
    client: Any, table: str
) -> None:
    source = DynamoDBSession("tenant-a#s", client, table, key_prefix="tenant-a#")
    await source.add_items([msg("x")])
    for n in range(2):
        await source.fork(f"tenant-a#f{n}")
    page = await list_forks(client, table, "tenant-a#s", key_prefix="tenant-a#", limit=1)
    assert page.cursor is not None
    key = json.loads(base64.urlsafe_b64decode(page.cursor))
    calls = count_calls(client)
    for forged_id in ("tenant-b#f0", "__oas__#ledger", ""):
        forged = base64.urlsafe_b64encode(json.dumps({**key, "s": forged_id}).encode()).decode()
        with pytest.raises(InvalidArgumentError, match="cursor") as caught:
            await list_forks(client, table, "tenant-a#s", key_prefix="tenant-a#", cursor=forged)
        assert forged not in str(caught.value) and forged[:20] not in str(caught.value)
    assert calls.total() == 0
