"""`session.turn()`: one turn at a time per conversation, each keyed turn run once.

Every test runs the SDK's real `Runner` against a real endpoint (moto's one-request
server, or dynalite), with the SDK's `ScriptedModel` answering from a responder
that reports how many items it was given: a turn that started from a stale
history says so in its answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from agents import Agent, Runner
from agents.testing import ModelStep, ScriptedModel, assistant_message

from openai_agents_session import (
    DynamoDBSession,
    InvalidArgumentError,
    TurnAlreadyDoneError,
    TurnInProgressError,
)
from tests.conftest import count_calls
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
    return f"turns-{uuid.uuid4().hex[:10]}"


def counting_model(
    turns: int, *, before: Callable[[], Awaitable[None]] | None = None
) -> ScriptedModel:
    """A model that answers "[N items seen] You said: <last message>" `turns` times."""

    async def respond(call: Any) -> Any:
        if before is not None:
            await before()
        items = list(call.input)
        said = items[-1].get("content") if items else None
        return [assistant_message(f"[{len(items)} items seen] You said: {said}")]

    return ScriptedModel([ModelStep.respond(respond) for _ in range(turns)])


def agent_of(model: ScriptedModel) -> Agent[Any]:
    return Agent(name="echo", instructions="Echo.", model=model)


def seen_counts(history: list[Any]) -> list[int]:
    """The item counts the answers in a stored history report, in order."""
    counts = []
    for item in history:
        if item.get("role") == "assistant":
            text = item["content"][0]["text"]
            counts.append(int(text.split(" ", 1)[0].strip("[")))
    return counts


def lease_of(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if item is None or "turns" not in item:
        return None
    lease: dict[str, Any] | None = json.loads(item["turns"]["S"]).get("lease")
    return lease


async def test_twenty_concurrent_turns_each_see_every_turn_before_them(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()

    async def one(index: int) -> str:
        # Separate clients and session objects: as separate processes would be.
        session = DynamoDBSession(session_id, await clients(), table)
        model = counting_model(1)
        async with session.turn(wait=60):
            result = await Runner.run(agent_of(model), f"msg {index}", session=session)
        model.assert_complete()
        return str(result.final_output)

    answers = await asyncio.gather(*(one(i) for i in range(20)))

    history = await stored_items(raw, table, session_id)
    assert history is not None and len(history) == 40
    # The k-th turn to run saw the 2(k-1) items before it plus its own message.
    assert seen_counts(history) == [2 * k + 1 for k in range(20)]
    assert sorted(int(a.split(" ", 1)[0].strip("[")) for a in answers) == [
        2 * k + 1 for k in range(20)
    ]
    users = [i["content"] for i in history if i.get("role") == "user"]
    assert sorted(users) == sorted(f"msg {i}" for i in range(20))
    assert lease_of(await raw_get(raw, table, session_id)) is None


async def test_a_plain_turn_costs_at_most_five_calls_two_more_than_without(
    client: Any, table: str
) -> None:
    session_id = sid()
    model = counting_model(4)
    agent = agent_of(model)
    await Runner.run(agent, "first", session=DynamoDBSession(session_id, client, table))

    calls = count_calls(client)
    await Runner.run(agent, "plain", session=DynamoDBSession(session_id, client, table))
    without = dict(calls)
    calls.clear()
    fresh = DynamoDBSession(session_id, client, table)
    async with fresh.turn():
        await Runner.run(agent, "in a turn", session=fresh)
    with_turn = dict(calls)
    calls.clear()
    async with fresh.turn():  # an object that knows the session skips the read
        await Runner.run(agent, "again", session=fresh)
    known = dict(calls)

    assert without == {"GetItem": 1, "PutItem": 2}
    # Acquire (read + write), the turn's get_items from memory, two saves, release.
    assert with_turn == {"GetItem": 1, "PutItem": 4}
    assert known == {"PutItem": 4}
    assert sum(with_turn.values()) - sum(without.values()) == 2
    assert seen_counts(await fresh.get_items()) == [1, 3, 5, 7]


async def test_writes_from_outside_a_turn_are_refused_and_store_nothing(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    holder = DynamoDBSession(session_id, await clients(), table)
    await holder.add_items([message("before")])
    stale = DynamoDBSession(session_id, await clients(), table)
    assert len(await stale.get_items()) == 1  # remembers the version before the turn
    fresh = DynamoDBSession(session_id, await clients(), table)

    async with holder.turn():
        held = await raw_get(raw, table, session_id)
        for outsider in (stale, fresh):
            with pytest.raises(TurnInProgressError) as caught:
                await outsider.add_items([message("interleaved")])
            assert session_id in str(caught.value) and table in str(caught.value)
            assert caught.value.retry_after > 0
            for write in (outsider.pop_item, outsider.clear_session):
                with pytest.raises(TurnInProgressError):
                    await write()
            with pytest.raises(TurnInProgressError):
                await outsider.set_attributes(title="x")
        # Reads are not refused.
        assert len(await fresh.get_items()) == 1
        assert await raw_get(raw, table, session_id) == held
        await holder.add_items([message("inside")])

    assert [i["content"] for i in await stored_items(raw, table, session_id) or []] == [
        "before",
        "inside",
    ]
    await stale.add_items([message("after")])  # the turn is over: writes go through again
    assert len(await fresh.get_items()) == 3


async def test_a_second_turn_waits_then_raises_turn_in_progress(
    clients: ClientMaker, table: str
) -> None:
    session_id = sid()
    holder = DynamoDBSession(session_id, await clients(), table)
    other = DynamoDBSession(session_id, await clients(), table)
    async with holder.turn():
        started = time.monotonic()
        with pytest.raises(TurnInProgressError) as caught:
            async with other.turn(wait=0.4):
                pytest.fail("entered a held conversation")
        assert time.monotonic() - started >= 0.4
        assert 0 < caught.value.retry_after <= 31
    async with other.turn(wait=0):
        await other.add_items([message("next")])
    assert len(await holder.get_items()) == 1


async def test_a_waiting_turn_enters_once_the_holder_leaves(
    clients: ClientMaker, table: str
) -> None:
    session_id = sid()
    holder = DynamoDBSession(session_id, await clients(), table)
    waiter = DynamoDBSession(session_id, await clients(), table)
    entered = asyncio.Event()

    async def wait_for_turn() -> list[Any]:
        async with waiter.turn(wait=20):
            entered.set()
            return await waiter.get_items()

    async with holder.turn():
        task = asyncio.create_task(wait_for_turn())
        await asyncio.sleep(0.2)  # the waiter polls meanwhile
        assert not entered.is_set()
        await holder.add_items([message("holder's")])
    seen = await asyncio.wait_for(task, 10)
    assert [i["content"] for i in seen] == ["holder's"]


async def test_a_redelivered_key_does_not_call_the_model_again(
    clients: ClientMaker, table: str
) -> None:
    session_id = sid()
    model = counting_model(1)
    first = DynamoDBSession(session_id, await clients(), table)
    async with first.turn(key="sqs-message-1"):
        await Runner.run(agent_of(model), "hello", session=first)

    redelivered = DynamoDBSession(session_id, await clients(), table)
    calls = count_calls(redelivered._client)
    with pytest.raises(TurnAlreadyDoneError) as caught:
        async with redelivered.turn(key="sqs-message-1"):
            await Runner.run(agent_of(model), "hello", session=redelivered)
    assert caught.value.completed is True and caught.value.key == "sqs-message-1"
    assert "sqs-message-1" not in str(caught.value)
    assert dict(calls) == {"GetItem": 1}  # one read; nothing written
    assert len(model.calls) == 1
    assert len(await first.get_items()) == 2
    # Another key runs.
    async with redelivered.turn(key="sqs-message-2"):
        await redelivered.add_items([message("second")])


async def test_a_key_whose_turn_failed_before_writing_can_run_again(
    clients: ClientMaker, table: str
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, await clients(), table)
    with pytest.raises(RuntimeError, match="model down"):
        async with session.turn(key="m"):
            await session.get_items()
            raise RuntimeError("model down")
    async with session.turn(key="m"):
        await session.add_items([message("retried")])
    with pytest.raises(TurnAlreadyDoneError):
        async with session.turn(key="m"):
            pass


async def test_a_key_whose_turn_wrote_then_failed_is_recorded_as_failed(
    clients: ClientMaker, table: str
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, await clients(), table)
    with pytest.raises(RuntimeError):
        async with session.turn(key="m"):
            await session.add_items([message("the user's message")])
            raise RuntimeError("model down after the input was saved")
    other = DynamoDBSession(session_id, await clients(), table)
    with pytest.raises(TurnAlreadyDoneError) as caught:
        async with other.turn(key="m"):
            pass
    assert caught.value.completed is False
    # The documented way on: an unkeyed turn that answers the saved message.
    model = counting_model(1)
    async with other.turn():
        await Runner.run(agent_of(model), [], session=other)
    assert seen_counts(await other.get_items()) == [1]


async def test_only_the_newest_keys_are_remembered(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    for index in range(34):
        async with session.turn(key=f"k{index}"):
            pass
    item = await raw_get(raw, table, session_id)
    assert item is not None
    stored = json.loads(item["turns"]["S"])
    assert len(stored["keys"]) == 32 and "lease" not in stored
    assert len(item["turns"]["S"]) < 800  # bounded, whatever the keys
    with pytest.raises(TurnAlreadyDoneError):
        async with session.turn(key="k2"):
            pass
    async with session.turn(key="k0"):  # forgotten: the bound is documented
        pass


async def test_a_turn_on_a_new_conversation_that_fails_leaves_no_session(
    client: Any, table: str
) -> None:
    session = DynamoDBSession(sid(), client, table, owner="user-1")
    with pytest.raises(RuntimeError):
        async with session.turn():
            raise RuntimeError("boom")
    assert await session.get_record() is not None
    assert (await session.get_record()).created_at is None  # type: ignore[union-attr]
    assert await session.get_items() == []
    # The next write creates the conversation as usual.
    async with session.turn():
        await session.add_items([message("hello")])
    record = await session.get_record()
    assert record is not None and record.created_at is not None and record.owner == "user-1"


async def test_the_lease_is_renewed_through_a_three_second_model_call(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    holder = DynamoDBSession(session_id, await clients(), table)
    other = DynamoDBSession(session_id, await clients(), table)
    calling = asyncio.Event()

    async def slow() -> None:
        calling.set()
        await asyncio.sleep(3.0)

    model = counting_model(1, before=slow)

    async def run() -> None:
        async with holder.turn(lease_seconds=1.0):
            await Runner.run(agent_of(model), "slow one", session=holder)

    task = asyncio.create_task(run())
    await asyncio.wait_for(calling.wait(), 10)
    first = lease_of(await raw_get(raw, table, session_id))
    assert first is not None
    # Wait until the lease has been renewed past twice its first length: without
    # renewals it would have run out by then.
    deadline = time.monotonic() + 10
    while True:
        lease = lease_of(await raw_get(raw, table, session_id))
        assert lease is not None and not task.done()
        if lease["until"] > first["until"] + 2.0:
            break
        assert time.monotonic() < deadline, "the lease was not renewed"
        await asyncio.sleep(0.05)
    with pytest.raises(TurnInProgressError):
        async with other.turn(wait=0):
            pass
    await asyncio.wait_for(task, 15)
    async with other.turn(wait=0):
        assert seen_counts(await other.get_items()) == [1]


async def test_a_cancelled_turn_releases_its_lease(clients: ClientMaker, table: str) -> None:
    session_id = sid()
    holder = DynamoDBSession(session_id, await clients(), table)
    inside = asyncio.Event()

    async def run() -> None:
        async with holder.turn(lease_seconds=60):
            await holder.add_items([message("saved")])
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(run())
    await asyncio.wait_for(inside.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    other = DynamoDBSession(session_id, await clients(), table)
    async with other.turn(wait=0):  # released at once, not after 60 s
        assert [i["content"] for i in await other.get_items()] == ["saved"]


async def test_lease_time_is_dynamodb_time_so_a_skewed_host_still_waits(
    clients: ClientMaker, table: str
) -> None:
    session_id = sid()
    behind = DynamoDBSession(session_id, await clients(), table, clock=lambda: time.time() - 3600)
    ahead = DynamoDBSession(session_id, await clients(), table, clock=lambda: time.time() + 3600)
    async with behind.turn(lease_seconds=30):
        # An hour ahead on its own clock, it would think the lease long gone.
        with pytest.raises(TurnInProgressError):
            async with ahead.turn(wait=0):
                pass
        with pytest.raises(TurnInProgressError):
            await ahead.add_items([message("x")])


async def test_bad_arguments_are_refused_before_any_call(client: Any, table: str) -> None:
    session = DynamoDBSession(sid(), client, table)
    calls = count_calls(client)
    for kwargs in (
        {"wait": -1},
        {"wait": float("nan")},
        {"wait": True},
        {"wait": "5"},
        {"lease_seconds": 0.5},
        {"lease_seconds": 10_000},
        {"key": ""},
        {"key": 5},
    ):
        with pytest.raises(InvalidArgumentError) as caught:
            session.turn(**kwargs)  # type: ignore[arg-type]
        assert session.session_id in str(caught.value) and table in str(caught.value)
    async with session.turn():
        with pytest.raises(InvalidArgumentError, match="inside a turn"):
            async with session.turn():
                pass
    assert "GetItem" in calls  # only the real turn called


async def test_a_holder_killed_inside_its_turn_blocks_nobody_past_its_lease(
    endpoint: str, clients: ClientMaker, table: str
) -> None:
    session_id = sid()
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from aiobotocore.session import get_session
        from openai_agents_session import DynamoDBSession

        async def main():
            async with get_session().create_client(
                "dynamodb", region_name="us-east-1", endpoint_url={endpoint!r},
                aws_access_key_id="test", aws_secret_access_key="test",
            ) as client:
                session = DynamoDBSession({session_id!r}, client, {table!r})
                async with session.turn(lease_seconds=2):
                    await session.add_items([{{"role": "user", "content": "from the killed"}}])
                    print("held", flush=True)
                    await asyncio.sleep(120)

        asyncio.run(main())
        """
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE, env=dict(os.environ)
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.strip() == b"held"
        os.kill(process.pid, signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
        assert process.returncode == -signal.SIGKILL
        other = DynamoDBSession(session_id, await clients(), table)
        started = time.monotonic()
        async with other.turn(wait=15):
            waited = time.monotonic() - started
            assert [i["content"] for i in await other.get_items()] == ["from the killed"]
            await other.add_items([message("next turn")])
        # The lease (2 s) plus the clock margin (1 s) plus polling, at most.
        assert waited < 2 + 1 + 1.5
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_the_turn_belongs_to_its_task_not_to_the_shared_object(
    client: Any, table: str
) -> None:
    session = DynamoDBSession(sid(), client, table)
    inside = asyncio.Event()
    done = asyncio.Event()

    async def holder() -> None:
        async with session.turn():
            await session.add_items([message("the turn's")])
            inside.set()
            await done.wait()

    task = asyncio.create_task(holder())
    await asyncio.wait_for(inside.wait(), 10)
    # Another request handler sharing the object is outside the turn.
    with pytest.raises(TurnInProgressError):
        await session.add_items([message("another request's")])
    with pytest.raises(TurnInProgressError):
        async with session.turn(wait=0):
            pass
    done.set()
    await asyncio.wait_for(task, 10)
    assert [i["content"] for i in await session.get_items()] == ["the turn's"]


async def test_a_turn_with_a_tool_call_saves_every_step_inside_the_turn(
    client: Any, table: str
) -> None:
    from agents import function_tool
    from agents.testing import function_call

    @function_tool
    def lookup(city: str) -> str:
        """Return the weather in a city.

        Args:
            city: The city.
        """
        return f"Sunny in {city}"

    model = ScriptedModel(
        [
            [function_call("lookup", '{"city": "Lisbon"}', call_id="call_1")],
            [assistant_message("Sunny in Lisbon.")],
        ]
    )
    agent = Agent(name="weather", instructions="Answer.", tools=[lookup], model=model)
    session = DynamoDBSession(sid(), client, table)
    async with session.turn(key="with-a-tool"):
        result = await Runner.run(agent, "Weather in Lisbon?", session=session)
    assert result.final_output == "Sunny in Lisbon."
    kinds = [i.get("type") or i.get("role") for i in await session.get_items()]
    assert kinds == ["user", "function_call", "function_call_output", "message"]


async def test_a_turn_on_an_expired_conversation_starts_from_an_empty_history(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    old = DynamoDBSession(session_id, client, table, ttl_seconds=3600)
    await old.add_items([message("long ago")])
    item = await raw_get(raw, table, session_id)
    assert item is not None
    item["ttl"] = {"N": str(int(time.time()) - 60)}  # expired, not yet deleted
    await raw_put(raw, table, item)
    session = DynamoDBSession(session_id, client, table, ttl_seconds=3600)
    async with session.turn():
        assert await session.get_items() == []
        await session.add_items([message("new")])
    stored = await raw_get(raw, table, session_id)
    assert stored is not None and int(stored["ttl"]["N"]) > time.time() + 3000
    assert [i["content"] for i in await session.get_items()] == ["new"]


async def test_a_waiter_cancelled_while_waiting_takes_nothing(
    clients: ClientMaker, table: str, raw: Any
) -> None:
    session_id = sid()
    holder = DynamoDBSession(session_id, await clients(), table)
    waiter = DynamoDBSession(session_id, await clients(), table)
    async with holder.turn():
        held = await raw_get(raw, table, session_id)
        task = asyncio.create_task(waiter.turn(wait=30).__aenter__())
        await asyncio.sleep(0.3)  # it polls meanwhile
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await raw_get(raw, table, session_id) == held
        await holder.add_items([message("still mine")])
    async with waiter.turn(wait=0):
        assert [i["content"] for i in await waiter.get_items()] == ["still mine"]


async def test_a_from_config_session_takes_turns_too(endpoint: str, table: str) -> None:
    session_id = sid()
    first = DynamoDBSession.from_config(session_id, table, endpoint_url=endpoint)
    second = DynamoDBSession.from_config(session_id, table, endpoint_url=endpoint)
    try:
        async with first.turn(key="a"):
            await first.add_items([message("first")])
            with pytest.raises(TurnInProgressError):
                async with second.turn(wait=0):
                    pass
        async with second.turn(key="b"):
            assert [i["content"] for i in await second.get_items()] == ["first"]
    finally:
        await first.close()
        await second.close()


async def test_a_turn_cancelled_while_its_lease_write_is_in_flight_gives_it_back(
    endpoint: str, make_client: Any, clients: ClientMaker, table: str
) -> None:
    from tests.support.proxy import FaultProxy

    session_id = sid()
    async with FaultProxy(endpoint) as proxy:
        session = DynamoDBSession(session_id, await make_client(proxy.url), table)
        await session.add_items([message("before")])
        gate = proxy.hold_next(op="PutItem")  # the lease write
        task = asyncio.create_task(session.turn(lease_seconds=60).__aenter__())
        await gate.wait_arrived()
        task.cancel()  # the write is sent: it settles first, then the turn gives it back
        gate.release()
        with pytest.raises(asyncio.CancelledError):
            await task
    other = DynamoDBSession(session_id, await clients(), table)
    async with other.turn(wait=0):  # not held for 60 s
        assert [i["content"] for i in await other.get_items()] == ["before"]
