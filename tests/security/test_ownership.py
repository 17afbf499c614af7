"""Hostile users against the catalog's boundaries: tenant prefixes, owners, forks.

Every test plays the attacker (another tenant, another user, a trusted but
careless unconstrained writer) against a real endpoint, and checks that the
attack gets a typed error of the library's tree, that nothing is stored, and
that the error carries none of the victim's stored text.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from agents.usage import Usage

from openai_agents_session import (
    CorruptSessionError,
    DynamoDBSession,
    InvalidArgumentError,
    InvalidSessionIdError,
    OwnershipError,
    SessionExistsError,
    delete_sessions,
    list_forks,
    list_sessions,
)
from tests.conftest import ClientFactory, count_calls
from tests.support.sessions import raw_get

SECRET = "alice's secret plan"
TITLE = "alice's private title"


def msg(text: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": text}


def sid(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


class _Result:
    """The part of a RunResult that store_run_usage reads."""

    def __init__(self) -> None:
        usage = Usage(requests=1, input_tokens=3, output_tokens=2, total_tokens=5)
        self.context_wrapper = type("W", (), {"usage": usage})()


async def alice_chat(client: Any, table: str, session_id: str, **options: Any) -> None:
    alice = DynamoDBSession(
        session_id, client, table, owner="alice", title=TITLE, metadata={"k": "v"}, **options
    )
    await alice.add_items([msg(SECRET), msg("noted", "assistant")])


# ------------------------------------------------------------ tenant prefixes


async def test_a_fork_outside_the_tenant_prefix_is_refused_before_any_call(
    client: Any, table: str
) -> None:
    source = DynamoDBSession(
        "tenant-a#src", client, table, key_prefix="tenant-a#", owner="tenant-a#u"
    )
    await source.add_items([msg("tenant a text")])
    # Tenant b's cleared session and live session, and a key nobody holds.
    cleared = DynamoDBSession("tenant-b#cleared", client, table, owner="tenant-b#v")
    await cleared.add_items([msg("b")])
    await cleared.clear_session()
    live = DynamoDBSession("tenant-b#live", client, table, owner="tenant-b#v")
    await live.add_items([msg("b live")])
    before = {k: await raw_get(client, table, k) for k in ("tenant-b#cleared", "tenant-b#live")}
    calls = count_calls(client)
    for target in ("tenant-b#planted", "tenant-b#cleared", "tenant-b#live", "tenant-a"):
        with pytest.raises(InvalidSessionIdError, match="outside this tenant's key_prefix"):
            await source.fork(target)
    # Not even a GetItem on tenant b's keys: nothing tells tenant a they exist.
    assert calls.total() == 0
    assert await raw_get(client, table, "tenant-b#planted") is None
    after = {k: await raw_get(client, table, k) for k in ("tenant-b#cleared", "tenant-b#live")}
    assert after == before


async def test_the_fork_keeps_the_prefix_and_cannot_write_outside_it(
    client: Any, table: str
) -> None:
    source = DynamoDBSession(
        "tenant-a#src", client, table, key_prefix="tenant-a#", owner="tenant-a#u", auto_title=True
    )
    await source.add_items([msg("first words here")])
    fork = await source.fork("tenant-a#fork")
    assert (fork.key_prefix, fork.auto_title, fork.owner) == ("tenant-a#", True, "tenant-a#u")
    with pytest.raises(InvalidSessionIdError):
        await fork.fork("tenant-b#planted")
    with pytest.raises(InvalidSessionIdError):
        await fork.transfer_owner("tenant-b#u")
    assert await raw_get(client, table, "tenant-b#planted") is None
    # Both copies are the owner's: listed, and erased with the owner.
    page = await list_sessions(client, table, owner="tenant-a#u", key_prefix="tenant-a#")
    assert sorted(s.session_id for s in page.sessions) == ["tenant-a#fork", "tenant-a#src"]
    report = await delete_sessions(client, table, owner="tenant-a#u", key_prefix="tenant-a#")
    assert report.sessions == 2 and report.skipped == []
    for key in ("tenant-a#src", "tenant-a#fork"):
        item = await raw_get(client, table, key)
        assert item is None or "first words" not in json.dumps(item)


async def test_a_fork_owner_outside_the_prefix_is_refused_before_any_call(
    client: Any, table: str
) -> None:
    source = DynamoDBSession(
        "tenant-a#s", client, table, key_prefix="tenant-a#", owner="tenant-a#u"
    )
    await source.add_items([msg("x")])
    calls = count_calls(client)
    with pytest.raises(InvalidSessionIdError, match="owner 'tenant-b#u'"):
        await source.fork("tenant-a#f", owner="tenant-b#u")
    assert calls.total() == 0


async def test_list_forks_ids_owners_and_cursors_at_the_prefix_boundary(
    client: Any, table: str
) -> None:
    source = DynamoDBSession(
        "tenant-a#s", client, table, key_prefix="tenant-a#", owner="tenant-a#u"
    )
    await source.add_items([msg("x")])
    for n in range(3):
        await source.fork(f"tenant-a#f{n}")
    page = await list_forks(client, table, "tenant-a#s", key_prefix="tenant-a#", limit=2)
    assert page.cursor is not None
    calls = count_calls(client)
    with pytest.raises(InvalidSessionIdError):
        await list_forks(client, table, "tenant-b#s", key_prefix="tenant-a#")
    with pytest.raises(InvalidSessionIdError):
        await list_forks(client, table, "tenant-a#s", key_prefix="tenant-a#", owner="tenant-b#u")
    # A cursor of one parent does not page another; nor does anything not a cursor.
    for cursor in (page.cursor[:-4], 123, b"x", ["a"], "x" * 100_000, "e30="):
        with pytest.raises(InvalidArgumentError, match="cursor"):
            await list_forks(client, table, "tenant-a#other", cursor=cursor)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="cursor"):
        await list_forks(client, table, "tenant-a#f0", cursor=page.cursor)
    assert calls.total() == 0
    rest = await list_forks(client, table, "tenant-a#s", key_prefix="tenant-a#", cursor=page.cursor)
    listed = [f.session_id for f in page.forks + rest.forks]
    assert listed == ["tenant-a#f0", "tenant-a#f1", "tenant-a#f2"] and rest.cursor is None


# ------------------------------------------------------------------ owners


async def _attempts(session: DynamoDBSession) -> dict[str, Any]:
    """Every read and write of the session API, each on a fresh object's first call."""
    return {
        "get_items": session.get_items(),
        "add_items": session.add_items([msg("bob writes")]),
        "pop_item": session.pop_item(),
        "clear_session": session.clear_session(),
        "set_attributes": session.set_attributes(title="bob's title"),
        "store_run_usage": session.store_run_usage(_Result()),
        "get_record": session.get_record(),
        "get_session_usage": session.get_session_usage(),
        "get_turn_usage": session.get_turn_usage(),
        "fork": session.fork(f"{session.session_id}-bob-fork"),
        "transfer_owner": session.transfer_owner("bob"),
        "compaction": session._get_compaction_snapshot(10),
        "replace": session._atomic_replace_items([msg("replaced")]),
    }


@pytest.mark.parametrize(
    "operation",
    [
        "get_items",
        "add_items",
        "pop_item",
        "clear_session",
        "set_attributes",
        "store_run_usage",
        "get_record",
        "get_session_usage",
        "get_turn_usage",
        "fork",
        "transfer_owner",
        "compaction",
        "replace",
    ],
)
async def test_another_owner_can_neither_read_nor_write(
    client: Any, table: str, operation: str
) -> None:
    session_id = sid("chat")
    await alice_chat(client, table, session_id)
    await DynamoDBSession(session_id, client, table, owner="alice").store_run_usage(_Result())
    before = await raw_get(client, table, session_id)
    bob = DynamoDBSession(session_id, client, table, owner="bob")
    attempts = await _attempts(bob)
    chosen = attempts.pop(operation)
    for other in attempts.values():
        other.close()  # only one operation per fresh object: each starts blind
    with pytest.raises(OwnershipError) as raised:
        await chosen
    text = str(raised.value)
    assert session_id in text and "'bob'" in text and "transfer_owner" in text
    for stored in (SECRET, TITLE, "alice", "noted"):
        assert stored not in text
    assert raised.value.owner == "bob" and raised.value.session_id == session_id
    assert await raw_get(client, table, session_id) == before
    assert await raw_get(client, table, f"{session_id}-bob-fork") is None
    page = await list_sessions(client, table, owner="bob")
    assert page.sessions == []


async def test_a_warm_object_is_checked_too_when_the_owner_changes_under_it(
    client: Any, table: str
) -> None:
    # Bob's object knew the session while it was unowned: its memory must not
    # let a write through once alice claimed it (the condition hands the new
    # state back, or the object reads it, and that state is checked).
    session_id = sid("warm")
    await DynamoDBSession(session_id, client, table).add_items([msg("unowned")])
    bob = DynamoDBSession(session_id, client, table, owner="bob")
    assert await bob.get_items() == [msg("unowned")]
    alice = DynamoDBSession(session_id, client, table, owner="alice")
    await alice.add_items([msg(SECRET)])
    before = await raw_get(client, table, session_id)
    for attempt in (
        lambda: bob.add_items([msg("bob")]),
        bob.pop_item,
        bob.clear_session,
        lambda: bob.set_attributes(title="t"),
        bob.get_items,
    ):
        with pytest.raises(OwnershipError):
            await attempt()
    assert await raw_get(client, table, session_id) == before


# DynamoDB and dynalite refuse an N owner (it keys the by-owner index); moto
# stores it, as would a table created before that index existed.
@pytest.mark.moto_only
async def test_a_stored_owner_of_the_wrong_type_is_not_a_match(client: Any, table: str) -> None:
    session_id = sid("odd-owner")
    await DynamoDBSession(session_id, client, table).add_items([msg(SECRET)])
    await client.update_item(
        TableName=table,
        Key={"session_id": {"S": session_id}},
        UpdateExpression="SET #o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"N": "1"}},
    )
    before = await raw_get(client, table, session_id)
    bob = DynamoDBSession(session_id, client, table, owner="1")
    with pytest.raises(CorruptSessionError, match="'owner'"):
        await bob.get_items()
    with pytest.raises(CorruptSessionError, match="'owner'"):
        await DynamoDBSession(session_id, client, table, owner="1").add_items([msg("x")])
    # Clearing is the way out of a corrupt head, but not for another owner.
    with pytest.raises(OwnershipError):
        await DynamoDBSession(session_id, client, table, owner="1").clear_session()
    assert await raw_get(client, table, session_id) == before


async def test_objects_racing_to_claim_an_unowned_session_one_wins(
    make_client: ClientFactory, table: str
) -> None:
    session_id = sid("unowned")
    first = await make_client()
    await DynamoDBSession(session_id, first, table).add_items([msg("before the catalog")])
    claimants = [
        DynamoDBSession(session_id, await make_client(), table, owner=f"user-{n}") for n in range(6)
    ]
    results = await asyncio.gather(
        *(c.add_items([msg(f"claim by {c.owner}")]) for c in claimants), return_exceptions=True
    )
    winners = [c.owner for c, r in zip(claimants, results, strict=True) if r is None]
    losers = [r for r in results if r is not None]
    assert len(winners) == 1 and all(isinstance(r, OwnershipError) for r in losers)
    item = await raw_get(first, table, session_id)
    assert item is not None and item["owner"] == {"S": winners[0]}
    history = json.loads(item["conversation_data"]["S"])
    assert history == [msg("before the catalog"), msg(f"claim by {winners[0]}")]


async def test_set_attributes_never_moves_ownership(client: Any, table: str) -> None:
    session_id = sid("set-owner")
    await alice_chat(client, table, session_id)
    before = await raw_get(client, table, session_id)
    for session in (
        DynamoDBSession(session_id, client, table, owner="alice"),
        DynamoDBSession(session_id, client, table),
    ):
        calls = count_calls(client)
        with pytest.raises(InvalidArgumentError, match="transfer_owner"):
            await session.set_attributes(owner="mallory")
        assert calls.total() == 0
    assert await raw_get(client, table, session_id) == before


async def test_no_option_strips_the_stored_owner(client: Any, table: str) -> None:
    session_id = sid("strip")
    await alice_chat(client, table, session_id)
    calls = count_calls(client)
    with pytest.raises(InvalidArgumentError, match="transfer_owner"):
        DynamoDBSession(session_id, client, table, attributes={"owner": None})
    assert calls.total() == 0
    # A fork never drops it either (its catalog options are the fork's own).
    worker = DynamoDBSession(session_id, client, table, title="worker's title")
    fork = await worker.fork(f"{session_id}-f")
    await fork.add_items([msg("more")])
    record = await fork.get_record()
    assert record is not None and (record.owner, record.title) == ("alice", TITLE)


async def test_transfer_owner_is_the_explicit_move(client: Any, table: str) -> None:
    session_id = sid("moved")
    await alice_chat(client, table, session_id)
    alice = DynamoDBSession(session_id, client, table, owner="alice")
    assert await alice.transfer_owner("bob")
    # The object that moved it follows it; alice's other objects are now refused.
    assert alice.owner == "bob" and len(await alice.get_items()) == 2
    with pytest.raises(OwnershipError):
        await DynamoDBSession(session_id, client, table, owner="alice").get_items()
    bob = DynamoDBSession(session_id, client, table, owner="bob")
    assert len(await bob.get_items()) == 2
    assert [s.session_id for s in (await list_sessions(client, table, owner="bob")).sessions] == [
        session_id
    ]
    assert (await list_sessions(client, table, owner="alice")).sessions == []
    # Title and history are untouched by the move.
    record = await bob.get_record()
    assert record is not None and record.title == TITLE and record.owner == "bob"
    # An unconstrained (trusted) object may move it too, and stays unconstrained.
    admin = DynamoDBSession(session_id, client, table)
    assert await admin.transfer_owner("carol") and admin.owner is None
    # Nothing to move: False, nothing written.
    assert not await DynamoDBSession(sid("none"), client, table).transfer_owner("x")
    with pytest.raises(InvalidArgumentError):
        await admin.transfer_owner("")


# ------------------------------------------------------------------ forks


async def test_a_fork_through_an_unconstrained_object_stays_with_the_owner(
    client: Any, table: str
) -> None:
    session_id = sid("src")
    await alice_chat(client, table, session_id)
    worker = DynamoDBSession(session_id, client, table)  # no owner=: a background worker
    fork = await worker.fork(f"{session_id}-f")
    assert fork.owner == "alice"
    record = await fork.get_record()
    assert record is not None
    assert (record.owner, record.title, record.metadata) == ("alice", TITLE, {"k": "v"})
    listed = {s.session_id for s in (await list_sessions(client, table, owner="alice")).sessions}
    assert listed == {session_id, f"{session_id}-f"}
    await delete_sessions(client, table, owner="alice")
    assert SECRET not in json.dumps(await raw_get(client, table, f"{session_id}-f"))
    # Nor can it give the copy away to someone else.
    await alice_chat(client, table, session_id)
    with pytest.raises(OwnershipError):
        await worker.fork(f"{session_id}-stolen", owner="mallory")
    assert await raw_get(client, table, f"{session_id}-stolen") is None


async def test_the_owner_may_give_a_copy_away_explicitly(client: Any, table: str) -> None:
    session_id = sid("gift")
    await alice_chat(client, table, session_id)
    alice = DynamoDBSession(session_id, client, table, owner="alice")
    gift = await alice.fork(f"{session_id}-gift", owner="bob", title="for bob")
    assert gift.owner == "bob"
    record = await gift.get_record()
    assert record is not None and (record.owner, record.title) == ("bob", "for bob")
    assert (await list_sessions(client, table, owner="alice")).sessions[0].session_id == session_id


async def test_a_fork_never_lands_on_another_owners_session_or_tombstone(
    client: Any, table: str
) -> None:
    session_id = sid("src")
    await alice_chat(client, table, session_id)
    theirs = sid("bobs")
    await DynamoDBSession(theirs, client, table, owner="bob").add_items([msg("bob's")])
    alice = DynamoDBSession(session_id, client, table, owner="alice")
    with pytest.raises(OwnershipError):
        await alice.fork(theirs)
    # A cleared session that still names its owner (the tombstone keeps it until
    # it expires) is not writable by a fork of someone else's, nor of nobody's.
    bob = DynamoDBSession(theirs, client, table, owner="bob")
    await bob.clear_session()
    await client.update_item(
        TableName=table,
        Key={"session_id": {"S": theirs}},
        UpdateExpression="SET #o = :o",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"S": "bob"}},
    )
    tombstone = await raw_get(client, table, theirs)
    with pytest.raises(OwnershipError):
        await alice.fork(theirs)
    unowned = sid("unowned")
    await DynamoDBSession(unowned, client, table).add_items([msg("nobody's")])
    with pytest.raises(SessionExistsError):
        await DynamoDBSession(unowned, client, table).fork(theirs)
    assert await raw_get(client, table, theirs) == tombstone
    # Bob's own fork may reuse his tombstone.
    await DynamoDBSession(sid("b2"), client, table, owner="bob").add_items([msg("b2")])


async def test_planted_and_hostile_lineage_is_not_trusted(client: Any, table: str) -> None:
    source = DynamoDBSession(
        "tenant-a#s", client, table, key_prefix="tenant-a#", owner="tenant-a#u"
    )
    await source.add_items([msg("x")])
    fork = await source.fork("tenant-a#f")
    # Another tenant, with raw access to its own keys, plants a "fork" of tenant
    # a's session claiming tenant a's owner; and another user of tenant a plants one.
    planted = await raw_get(client, table, "tenant-a#f")
    assert planted is not None
    for key, owner in (("tenant-b#planted", "tenant-a#u"), ("tenant-a#mallory", "tenant-a#m")):
        await client.put_item(
            TableName=table,
            Item={**planted, "session_id": {"S": key}, "owner": {"S": owner}},
        )
    page = await source.list_forks()
    assert [f.session_id for f in page.forks] == ["tenant-a#f"]
    everyone = await list_forks(client, table, "tenant-a#s", key_prefix="tenant-a#")
    # (The plant copied created_at, the sort key: the order of the two is not set.)
    assert {f.session_id for f in everyone.forks} == {"tenant-a#f", "tenant-a#mallory"}
    # A lineage number that is not a count reads as 0 in a listing and as
    # corrupt in the record, never as an untyped error.
    await client.update_item(
        TableName=table,
        Key={"session_id": {"S": "tenant-a#f"}},
        UpdateExpression="SET fork_index = :v",
        ExpressionAttributeValues={":v": {"N": "-5"}},
    )
    (summary,) = (await source.list_forks()).forks
    assert summary.fork_index == 0
    with pytest.raises(CorruptSessionError, match="fork_index"):
        await fork.get_record()


async def test_the_check_costs_no_extra_call(client: Any, table: str, backend: str) -> None:
    session_id = sid("calls")
    await alice_chat(client, table, session_id)
    alice = DynamoDBSession(session_id, client, table, owner="alice")
    await alice.get_items()
    calls = count_calls(client)
    await alice.add_items([msg("steady state")])
    assert dict(calls) == {"PutItem": 1}  # the owner's append: one conditional write
    calls.clear()
    with pytest.raises(OwnershipError):
        await DynamoDBSession(session_id, client, table, owner="bob").get_items()
    assert dict(calls) == {"GetItem": 1}  # checked on the head it read anyway
    calls.clear()
    with pytest.raises(OwnershipError):
        await DynamoDBSession(session_id, client, table, owner="bob").add_items([msg("b")])
    # A blind create: the failed condition hands the head back (moto); dynalite
    # does not return it, so it is read once.
    expected = {"PutItem": 1} if backend == "moto" else {"PutItem": 1, "GetItem": 1}
    assert dict(calls) == expected


async def test_forks_of_two_owners_racing_for_one_id_land_once(
    make_client: ClientFactory, table: str
) -> None:
    target = sid("contested")
    sources = []
    for user in ("alice", "bob", "carol", "dave"):
        session = DynamoDBSession(sid(user), await make_client(), table, owner=user)
        await session.add_items([msg(f"{user}'s words")])
        sources.append(session)
    results = await asyncio.gather(*(s.fork(target) for s in sources), return_exceptions=True)
    landed = [
        s.owner for s, r in zip(sources, results, strict=True) if isinstance(r, DynamoDBSession)
    ]
    assert len(landed) == 1
    assert all(
        isinstance(r, (OwnershipError, SessionExistsError))
        for r in results
        if r is not None and not isinstance(r, DynamoDBSession)
    )
    item = await raw_get(await make_client(), table, target)
    assert item is not None and item["owner"] == {"S": landed[0]}
    assert json.loads(item["conversation_data"]["S"]) == [msg(f"{landed[0]}'s words")]
