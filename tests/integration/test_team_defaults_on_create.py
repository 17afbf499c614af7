"""A plain attribute's declared default is on every session, old or new (issue 18, §5 minor).

`migrate new --autogenerate` backfills the default into the sessions that existed;
a session created afterwards writes it too, unless it sets the attribute (or None).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from openai_agents_session import DynamoAttribute, DynamoDBSession, GlobalIndex, SessionRecord
from tests.support.migrations import session_items


class TierRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = ()
    tier: Annotated[str | None, DynamoAttribute("S", "attribute")] = "free"
    seats: Annotated[int | None, DynamoAttribute("N", "attribute")] = None


async def test_a_new_session_writes_the_declared_default(client: Any, table: str) -> None:
    await DynamoDBSession("new", client, table, record=TierRecord).add_items(
        [{"role": "user", "content": "x"}]
    )
    chosen = DynamoDBSession("chosen", client, table, record=TierRecord, attributes={"tier": "pro"})
    await chosen.add_items([{"role": "user", "content": "x"}])
    left_out = DynamoDBSession("none", client, table, record=TierRecord, attributes={"tier": None})
    await left_out.add_items([{"role": "user", "content": "x"}])
    items = await session_items(client, table)
    assert items["new"].get("tier") == {"S": "free"}  # was missing
    assert "seats" not in items["new"]  # a None default stays out
    assert items["chosen"]["tier"] == {"S": "pro"}
    assert "tier" not in items["none"]


async def test_the_default_does_not_overwrite_a_stored_value(client: Any, table: str) -> None:
    first = DynamoDBSession("s", client, table, record=TierRecord, attributes={"tier": "pro"})
    await first.add_items([{"role": "user", "content": "x"}])
    await DynamoDBSession("s", client, table, record=TierRecord).add_items(
        [{"role": "user", "content": "y"}]
    )
    assert (await session_items(client, table))["s"]["tier"] == {"S": "pro"}
    await DynamoDBSession("s", client, table).clear_session()
    # After a clear the session starts again: it gets the default, as a new one does.
    await DynamoDBSession("s", client, table, record=TierRecord).add_items(
        [{"role": "user", "content": "z"}]
    )
    assert (await session_items(client, table))["s"]["tier"] == {"S": "free"}
