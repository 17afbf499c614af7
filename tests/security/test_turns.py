"""`session.turn()` against hostile callers and hostile stored data.

Another owner, planted or malformed leases, hostile keys, a lost answer on the
acquisition, and a holder that stalled past its lease: each is refused with a
typed error or shrugged off, and nothing is stored from a refused call.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from openai_agents_session import (
    DynamoDBSession,
    OwnershipError,
    TurnAlreadyDoneError,
    TurnInProgressError,
    TurnLeaseLostError,
)
from tests.support.proxy import FaultProxy
from tests.support.sessions import (  # noqa: F401 (fixtures)
    ClientMaker,
    client_fixture,
    clients_fixture,
    message,
    module_table,
    raw_fixture,
    raw_get,
    raw_put,
    stored_items,
)


def sid() -> str:
    return f"hostile-turns-{uuid.uuid4().hex[:10]}"


async def test_another_owner_cannot_take_a_turn_and_nothing_is_written(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    mine = DynamoDBSession(session_id, await clients(), table, owner="alice")
    await mine.add_items([message("alice's")])
    before = await raw_get(raw, table, session_id)
    thief = DynamoDBSession(session_id, await clients(), table, owner="mallory")
    with pytest.raises(OwnershipError) as caught:
        async with thief.turn(key="k"):
            pytest.fail("entered another owner's conversation")
    assert "alice" not in str(caught.value)
    assert await raw_get(raw, table, session_id) == before
    async with mine.turn(key="k"):  # the key was not consumed either
        pass


@pytest.mark.parametrize(
    "planted",
    [
        "not json",
        "[1, 2]",
        '{"lease": "x", "keys": "y"}',
        '{"lease": {"holder": 5, "until": "soon"}, "keys": [1, null, {}]}',
        '{"lease": {"holder": "h", "until": 1e400}}',
        '{"lease": {"holder": "h", "until": true}}',
        "[" * 5000 + "]" * 5000,
        '{"keys": ["' + "x" * 10_000 + '"]}',
    ],
)
async def test_malformed_stored_turn_data_reads_as_no_lease(
    client: Any, table: str, raw: Any, planted: str
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("kept")])
    item = await raw_get(raw, table, session_id)
    assert item is not None
    item["turns"] = {"S": planted}
    await raw_put(raw, table, item)
    fresh = DynamoDBSession(session_id, client, table)
    async with fresh.turn(wait=0, key="k"):
        await fresh.add_items([message("added")])
    stored = await raw_get(raw, table, session_id)
    assert stored is not None
    record = json.loads(stored["turns"]["S"])
    assert "lease" not in record and len(record["keys"]) == 1
    assert [i["content"] for i in await stored_items(raw, table, session_id) or []] == [
        "kept",
        "added",
    ]


async def test_a_planted_endless_lease_does_not_hold_the_conversation_forever(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    await session.add_items([message("x")])
    item = await raw_get(raw, table, session_id)
    assert item is not None
    forever = {"lease": {"holder": "planted", "until": time.time() + 10 * 365 * 86400}}
    item["turns"] = {"S": json.dumps(forever)}
    await raw_put(raw, table, item)
    other = DynamoDBSession(session_id, client, table)
    async with other.turn(wait=0):
        await other.add_items([message("y")])
    # A plausible lease of another holder is honoured, though.
    item = await raw_get(raw, table, session_id)
    assert item is not None
    item["turns"] = {"S": json.dumps({"lease": {"holder": "other", "until": time.time() + 30}})}
    await raw_put(raw, table, item)
    with pytest.raises(TurnInProgressError):
        async with DynamoDBSession(session_id, client, table).turn(wait=0):
            pass


@pytest.mark.parametrize("key", ["k" * 1_000_000, "\ud800lone", "ключ 🔑", "a\x00b"])
async def test_hostile_keys_are_stored_as_short_digests(
    client: Any, table: str, raw: Any, key: str
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    async with session.turn(key=key):
        await session.add_items([message("once")])
    with pytest.raises(TurnAlreadyDoneError) as caught:
        async with DynamoDBSession(session_id, client, table).turn(key=key):
            pass
    assert key not in str(caught.value)
    item = await raw_get(raw, table, session_id)
    assert item is not None
    (digest,) = json.loads(item["turns"]["S"])["keys"]
    assert len(digest) == 16 and key not in item["turns"]["S"]


async def test_keys_belong_to_their_conversation_and_tenant(client: Any, table: str) -> None:
    first = DynamoDBSession(f"tenant-a#{uuid.uuid4().hex}", client, table, key_prefix="tenant-a#")
    second = DynamoDBSession(f"tenant-b#{uuid.uuid4().hex}", client, table, key_prefix="tenant-b#")
    async with first.turn(key="same-message-id"):
        await first.add_items([message("a")])
    async with second.turn(key="same-message-id"):  # another conversation: not a redelivery
        await second.add_items([message("b")])


async def test_a_lost_answer_on_the_acquisition_is_recognised_as_ours(
    endpoint: str, clients: ClientMaker, make_client: Any, table: str
) -> None:
    session_id = sid()
    async with FaultProxy(endpoint) as proxy:
        session = DynamoDBSession(session_id, await clients(), table)
        await session.add_items([message("before")])
        faulty = DynamoDBSession(session_id, await make_client(proxy.url), table)
        await faulty.get_items()
        proxy.add_rule(op="PutItem", fault="drop_response", times=1)
        async with faulty.turn(wait=0):  # the resend fails its condition: it was our own
            await faulty.add_items([message("inside")])
        assert proxy.faults[("PutItem", "drop_response")] == 1
    assert [i["content"] for i in await session.get_items()] == ["before", "inside"]


async def test_a_holder_stalled_past_its_lease_cannot_write_on_a_moved_history(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    holder = DynamoDBSession(session_id, await clients(), table)
    other = DynamoDBSession(session_id, await clients(), table)
    with pytest.raises(TurnLeaseLostError) as caught:
        async with holder.turn(lease_seconds=1) as turn:
            assert turn._renewer is not None
            turn._renewer.cancel()  # as if the process stalled: no renewal goes out
            async with other.turn(wait=10):  # enters once the lease ran out
                await other.add_items([message("other's turn")])
            await holder.add_items([message("stale")])
    assert session_id in str(caught.value) and table in str(caught.value)
    assert [i["content"] for i in await stored_items(raw, table, session_id) or []] == [
        "other's turn"
    ]
