"""store_run_usage / get_session_usage / get_turn_usage against a real endpoint.

Usage is recorded per user turn in the head's ``usage`` attribute with the same
conditional write as the history: concurrent stores both count, a lost answer is
not counted twice, and bad input stores nothing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from agents import Agent, Runner
from agents.testing import ScriptedModel, assistant_message
from agents.usage import Usage

from openai_agents_session import DynamoDBSession, InvalidArgumentError
from openai_agents_session.models.usage import USAGE_MAX_BYTES
from tests.conftest import ClientFactory
from tests.support.proxy import FaultProxy


def _sid() -> str:
    return f"usage-{uuid.uuid4().hex[:10]}"


def _usage(requests: int, inp: int, out: int) -> Usage:
    return Usage(requests=requests, input_tokens=inp, output_tokens=out, total_tokens=inp + out)


class _Result:
    """The part of a RunResult store_run_usage reads."""

    def __init__(self, usage: Usage) -> None:
        self.context_wrapper = type("W", (), {"usage": usage})()


async def _raw_usage(client: Any, table: str, sid: str) -> dict[str, Any] | None:
    item = (
        await client.get_item(TableName=table, Key={"session_id": {"S": sid}}, ConsistentRead=True)
    ).get("Item")
    if item is None or "usage" not in item:
        return None
    loaded: dict[str, Any] = json.loads(item["usage"]["S"])
    return loaded


async def test_scripted_runs_record_per_turn_usage(client: Any, table: str) -> None:
    session = DynamoDBSession(_sid(), client, table)
    model = ScriptedModel(
        [[assistant_message("one")], [assistant_message("two")]],
        default_usage=_usage(1, 11, 5),
    )
    agent = Agent(name="a", model=model)
    first = await Runner.run(agent, "first question", session=session)
    assert await session.store_run_usage(first) == 1
    second = await Runner.run(agent, "second question", session=session)
    assert await session.store_run_usage(second) == 2

    for turn, result in ((1, first), (2, second)):
        usage = result.context_wrapper.usage
        [got] = await session.get_turn_usage(turn)
        assert got["user_turn_number"] == turn
        assert (got["requests"], got["input_tokens"], got["output_tokens"]) == (
            usage.requests,
            usage.input_tokens,
            usage.output_tokens,
        )
        assert got["total_tokens"] == usage.total_tokens
        assert len(got["request_usage_entries"]) == len(usage.request_usage_entries)
    runs = [first.context_wrapper.usage, second.context_wrapper.usage]
    totals = await session.get_session_usage()
    assert totals == {
        "requests": sum(u.requests for u in runs),
        "input_tokens": sum(u.input_tokens for u in runs),
        "output_tokens": sum(u.output_tokens for u in runs),
        "total_tokens": sum(u.total_tokens for u in runs),
        "total_turns": 2,
    }
    listed = await session.get_turn_usage()
    assert [t["user_turn_number"] for t in listed] == [1, 2]
    assert await session.get_turn_usage(3) == []
    # A write to the history carries the usage over unchanged; a clear drops it.
    await session.add_items([{"role": "assistant", "content": "more"}])
    assert await session.get_session_usage() == totals
    await session.clear_session()
    assert await session.get_session_usage() is None
    assert await session.get_turn_usage() == []


async def test_usage_turn_counts_user_messages_in_pages(client: Any, table: str) -> None:
    sid = _sid()
    session = DynamoDBSession(sid, client, table, page_threshold=16 * 1024)
    for turn in range(12):
        await session.add_items(
            [
                {"role": "user", "content": f"q{turn} " + "x" * 3000},
                {"role": "assistant", "content": "a"},
            ]
        )
    record = await session.get_record()
    assert record is not None and record.pages is not None  # older turns live in pages
    assert await session.store_run_usage(_Result(_usage(1, 3, 4))) == 12
    memo = await _raw_usage(client, table, sid)
    assert memo is not None
    assert set(memo["page_counts"]) == {ref.id for ref in record.pages.pages}
    # The memo answers for the pages: a second store reads no page.
    calls: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb", lambda event_name, **_: calls.append(event_name)
    )
    assert await session.store_run_usage(_Result(_usage(1, 1, 1))) == 12
    assert not [c for c in calls if c.endswith("BatchGetItem")]
    [got] = await session.get_turn_usage(12)
    assert got["input_tokens"] == 4 and got["requests"] == 2


async def test_concurrent_stores_both_count(make_client: ClientFactory, table: str) -> None:
    sid = _sid()
    first = DynamoDBSession(sid, await make_client(), table)
    await first.add_items([{"role": "user", "content": "hi"}])
    second = DynamoDBSession(sid, await make_client(), table)
    await second.get_items()  # both objects hold the same version: one must conflict
    writers = [first, second] * 4
    await asyncio.gather(
        *(w.store_run_usage(_Result(_usage(1, 10 + i, 1))) for i, w in enumerate(writers))
    )
    totals = await first.get_session_usage()
    assert totals is not None
    assert totals["requests"] == 8
    assert totals["input_tokens"] == sum(10 + i for i in range(8))
    assert totals["total_turns"] == 1


async def test_lost_answer_is_not_counted_twice(
    endpoint: str, make_client: ClientFactory, client: Any, table: str
) -> None:
    sid = _sid()
    async with FaultProxy(endpoint, seed=7) as proxy:
        faulty = await make_client(
            url=proxy.url, retries={"mode": "legacy", "max_attempts": 2}, read_timeout=2
        )
        session = DynamoDBSession(sid, faulty, table)
        await session.add_items([{"role": "user", "content": "hi"}])
        proxy.add_rule(op="PutItem", fault="drop_response", times=1)
        assert await session.store_run_usage(_Result(_usage(1, 100, 7))) == 1
        assert proxy.faults[("PutItem", "drop_response")] == 1
    reader = DynamoDBSession(sid, client, table)
    assert await reader.get_session_usage() == {
        "requests": 1,
        "input_tokens": 100,
        "output_tokens": 7,
        "total_tokens": 107,
        "total_turns": 1,
    }


@pytest.mark.parametrize("bad", [None, object(), {"usage": 1}, _Result(Usage(requests=-1))])
async def test_bad_input_is_refused_and_nothing_stored(client: Any, table: str, bad: Any) -> None:
    sid = _sid()
    session = DynamoDBSession(sid, client, table)
    await session.add_items([{"role": "user", "content": "hi"}])
    with pytest.raises(InvalidArgumentError) as caught:
        await session.store_run_usage(bad)
    message = str(caught.value)
    assert sid in message and table in message and "Fix:" in message
    assert await _raw_usage(client, table, sid) is None


async def test_no_user_turn_stores_nothing(client: Any, table: str) -> None:
    sid = _sid()
    session = DynamoDBSession(sid, client, table)
    assert await session.store_run_usage(_Result(_usage(1, 1, 1))) is None
    await session.add_items([{"role": "assistant", "content": "no user yet"}])
    assert await session.store_run_usage(_Result(_usage(1, 1, 1))) is None
    assert await session.get_session_usage() is None


async def test_usage_record_stays_under_its_cap(client: Any, table: str) -> None:
    sid = _sid()
    session = DynamoDBSession(sid, client, table)
    per_turn = 60
    for turn in range(per_turn):
        await session.add_items([{"role": "user", "content": f"q{turn}"}])
        usage = _usage(1, 1000, 10)
        usage.request_usage_entries = []
        for _ in range(3):
            usage.add(_usage(1, 100, 1))
        await session.store_run_usage(_Result(usage))
    raw = await _raw_usage(client, table, sid)
    assert raw is not None
    assert len(json.dumps(raw, separators=(",", ":"))) <= USAGE_MAX_BYTES
    totals = await session.get_session_usage()
    assert totals is not None
    assert totals["total_turns"] == per_turn  # folded turns still count
    assert totals["input_tokens"] == per_turn * 1300
