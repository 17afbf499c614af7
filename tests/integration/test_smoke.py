from __future__ import annotations

from typing import Any

from openai_agents_session import DynamoDBSession
from tests.conftest import count_calls


async def test_spec_usage_round_trip(client: Any, table: str) -> None:
    session = DynamoDBSession(
        session_id="user-123", dynamodb_client=client, table_name=table, ttl_seconds=3600
    )
    calls = count_calls(client)
    await session.add_items(
        [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}]
    )
    assert calls.total() == 1
    items = await session.get_items()
    assert items == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there!"},
    ]
    assert await session.pop_item() == {"role": "assistant", "content": "Hi there!"}
    assert await session.get_items() == [{"role": "user", "content": "Hello"}]
    await session.clear_session()
    assert await session.get_items() == []
    assert calls.total() == 6
