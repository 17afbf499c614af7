"""The SDK's compaction hooks over DynamoDB: one conditional write, never clear-then-add.

`OpenAIResponsesCompactionSession` wraps a `DynamoDBSession`; a fake compaction
client returns a fixed summary, so no network beyond the local endpoint is used.
"""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

from agents import Agent, Runner
from agents.extensions.memory import EncryptedSession
from agents.memory import OpenAIResponsesCompactionSession
from agents.memory.session import SessionABC
from agents.testing import ScriptedModel, assistant_message

from openai_agents_session import DynamoDBSession
from tests.conftest import count_calls
from tests.support.sessions import (
    client_fixture,  # noqa: F401
    clients_fixture,  # noqa: F401
    message,
    module_table,  # noqa: F401
    raw_fixture,  # noqa: F401
    stored_history,
)

SUMMARY = {"type": "message", "role": "assistant", "content": "summary of the chat"}


class FakeCompactionClient:
    """Stands in for AsyncOpenAI: ``responses.compact`` returns one summary item."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.entered = asyncio.Event()
        self.gate: asyncio.Event | None = None
        self.responses = SimpleNamespace(compact=self._compact)

    async def _compact(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return SimpleNamespace(output=[dict(SUMMARY)], usage=None)


def sid() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def test_the_session_is_a_session_abc() -> None:
    assert issubclass(DynamoDBSession, SessionABC)


async def test_snapshot_and_suffix_replacement(client: Any, table: str, raw: Any) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    history = [message(f"m{i}") for i in range(6)]
    await session.add_items(history)
    snapshot = await session._get_compaction_snapshot(3)
    assert snapshot is not None and snapshot.items == history[-3:] and not snapshot.complete
    calls = count_calls(client)
    assert await snapshot.replace_suffix(1, [SUMMARY])
    assert calls == {"PutItem": 1}
    assert await stored_history(raw, table, session_id) == [*history[:4], SUMMARY]
    # Stale now: the stored tail changed, so nothing is written.
    calls.clear()
    assert not await snapshot.replace_suffix(0, [SUMMARY])
    assert calls.get("PutItem", 0) == 0
    assert await stored_history(raw, table, session_id) == [*history[:4], SUMMARY]
    whole = await session._get_compaction_snapshot(100)
    assert whole is not None and whole.complete and whole.items == [*history[:4], SUMMARY]


async def test_an_append_racing_a_snapshot_is_never_lost(
    clients: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    compacting = DynamoDBSession(session_id, await clients(), table)
    await compacting.add_items([message("a"), message("b")])
    snapshot = await compacting._get_compaction_snapshot(10)
    assert snapshot is not None
    await DynamoDBSession(session_id, await clients(), table).add_items([message("late")])
    assert not await snapshot.replace_suffix(0, [SUMMARY])  # skipped, not clobbered
    assert await stored_history(raw, table, session_id) == [
        message("a"),
        message("b"),
        message("late"),
    ]


async def test_prune_prefix_drops_the_oldest_matching_items_in_the_same_write(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table, page_threshold=16 * 1024)
    old = [message(f"old-{i}-" + "x" * 2_000) for i in range(20)]  # paged
    recent = [message("keep"), message("r1"), message("r2")]
    await session.add_items(old + recent)
    snapshot = await session._get_compaction_snapshot(
        2, prune_prefix=lambda item: str(item.get("content", "")).startswith("old-")
    )
    assert snapshot is not None and snapshot.items == recent[-2:]
    assert await snapshot.replace_suffix(0, [SUMMARY])
    assert await stored_history(raw, table, session_id) == [message("keep"), SUMMARY]


async def test_manual_compaction_replaces_in_one_write_without_a_delete(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    underlying = DynamoDBSession(session_id, client, table)
    await underlying.add_items([message(f"m{i}") for i in range(12)])
    fake = FakeCompactionClient()
    compaction = OpenAIResponsesCompactionSession(
        session_id,
        underlying,
        client=fake,
        compaction_mode="input",  # type: ignore[arg-type]
    )
    calls = count_calls(client)
    await compaction.run_compaction({"force": True})
    assert fake.calls, "the compaction client was asked"
    assert "DeleteItem" not in calls and calls["PutItem"] == 1
    assert await stored_history(raw, table, session_id) == [SUMMARY]


async def test_runner_compacts_automatically_through_the_snapshot(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    underlying = DynamoDBSession(session_id, client, table)
    await underlying.add_items([message(f"earlier {i}") for i in range(12)])
    fake = FakeCompactionClient()
    compaction = OpenAIResponsesCompactionSession(
        session_id,
        underlying,
        client=fake,  # type: ignore[arg-type]
        should_trigger_compaction=lambda context: True,
    )
    snapshots: list[int] = []
    original = underlying._get_compaction_snapshot

    async def spy(limit: int, **kwargs: Any) -> Any:
        snapshots.append(limit)
        return await original(limit, **kwargs)

    underlying._get_compaction_snapshot = spy  # type: ignore[method-assign]
    agent = Agent(name="a", model=ScriptedModel([[assistant_message("hello")]]))
    calls = count_calls(client)
    await Runner.run(agent, "hi", session=compaction)
    assert fake.calls and snapshots, (fake.calls, snapshots)
    assert "DeleteItem" not in calls
    stored = await stored_history(raw, table, session_id)
    assert stored is not None and SUMMARY in stored


async def test_encrypted_session_passes_the_snapshot_through(
    client: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    inner = DynamoDBSession(session_id, client, table)
    encrypted = EncryptedSession(
        session_id, underlying_session=inner, encryption_key="k" * 32, ttl=3600
    )
    await encrypted.add_items([message(f"secret {i}") for i in range(4)])
    snapshot = await encrypted._get_compaction_snapshot(2)  # type: ignore[attr-defined]
    assert snapshot is not None and snapshot.items == [message("secret 2"), message("secret 3")]
    assert await snapshot.replace_suffix(0, [SUMMARY])
    assert await encrypted.get_items() == [message("secret 0"), message("secret 1"), SUMMARY]
    stored = await stored_history(raw, table, session_id)
    assert stored is not None and all("__enc__" in item for item in stored)


async def test_an_append_racing_an_automatic_compaction_survives(
    clients: Any, table: str, raw: Any
) -> None:
    session_id = sid()
    underlying = DynamoDBSession(session_id, await clients(), table)
    await underlying.add_items([message(f"earlier {i}") for i in range(12)])
    fake = FakeCompactionClient()
    fake.gate = asyncio.Event()
    compaction = OpenAIResponsesCompactionSession(
        session_id,
        underlying,
        client=fake,  # type: ignore[arg-type]
        should_trigger_compaction=lambda context: True,
    )
    agent = Agent(name="a", model=ScriptedModel([[assistant_message("hello")]]))
    running = asyncio.create_task(Runner.run(agent, "hi", session=compaction))
    await asyncio.wait_for(fake.entered.wait(), 10)
    # While the compaction request is out, another process appends.
    await DynamoDBSession(session_id, await clients(), table).add_items([message("late")])
    fake.gate.set()
    await asyncio.wait_for(running, 10)
    stored = await stored_history(raw, table, session_id)
    assert stored is not None and stored[-1] == message("late")
    assert SUMMARY not in stored  # the compaction skipped: its snapshot was stale
