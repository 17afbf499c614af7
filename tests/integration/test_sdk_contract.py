"""What the Agents SDK's own session tests and Runner expect of a session.

The SDK's backends raise ``TypeError("Unknown session settings: ...")`` for an
unknown ``session_settings`` key, and its Runner passes its ``RunContextWrapper``
to sessions whose four methods accept ``wrapper=``.
"""

from __future__ import annotations

import uuid
from typing import Any

import agents
import pytest
from agents import Agent, RunContextWrapper, Runner
from agents.memory.session import _session_accepts_wrapper
from agents.testing import ScriptedModel, assistant_message

from openai_agents_session import (
    DynamoDBSession,
    InvalidArgumentError,
    SessionStoreError,
    UnknownSettingError,
)
from tests.support.sessions import message, stored_items

agents.set_tracing_disabled(True)


def sid() -> str:
    return f"sdk-{uuid.uuid4().hex[:10]}"


# Today: InvalidArgumentError, a ValueError, which the SDK's tests do not catch.
@pytest.mark.parametrize("factory", ["init", "from_config"])
async def test_an_unknown_setting_is_our_error_and_a_type_error(
    client: Any, table: str, endpoint: str, factory: str
) -> None:
    session_id = sid()
    with pytest.raises(TypeError, match=r"^Unknown session settings: limitt") as caught:
        if factory == "init":
            DynamoDBSession(session_id, client, table, session_settings={"limitt": 3})
        else:
            DynamoDBSession.from_config(
                session_id, table, endpoint_url=endpoint, session_settings={"limitt": 3}
            )
    error = caught.value
    assert isinstance(error, UnknownSettingError)
    assert isinstance(error, InvalidArgumentError) and isinstance(error, SessionStoreError)
    assert error.session_id == session_id and error.table_name == table
    assert table in str(error) and "Fix: session_settings takes limit" in str(error)
    assert await stored_items(client, table, session_id) is None


async def test_hostile_setting_names_give_a_bounded_message(client: Any, table: str) -> None:
    hostile: dict[Any, int] = {f"k{n}" * 500: n for n in range(1000)}
    hostile[7] = 1  # not even a string
    with pytest.raises(UnknownSettingError) as caught:
        DynamoDBSession(sid(), client, table, session_settings={"limit": 1, **hostile})
    assert len(str(caught.value)) < 1200
    # A known key of a bad type stays an InvalidArgumentError, not a TypeError.
    with pytest.raises(InvalidArgumentError) as bad:
        DynamoDBSession(sid(), client, table, session_settings={"limit": "many"})
    assert not isinstance(bad.value, TypeError)


class ContextAware(DynamoDBSession):
    """Records the run context each method receives, as an application's subclass would."""

    seen: list[tuple[str, Any]]

    async def get_items(self, limit: int | None = None, *, wrapper: Any = None) -> list[Any]:
        self.seen.append(("get_items", wrapper))
        return await super().get_items(limit, wrapper=wrapper)

    async def add_items(self, items: list[Any], *, wrapper: Any = None) -> None:
        self.seen.append(("add_items", wrapper))
        await super().add_items(items, wrapper=wrapper)


# Today: the methods take no `wrapper`, so the Runner never passes its context.
async def test_the_runner_passes_its_run_context(client: Any, table: str) -> None:
    session_id = sid()
    plain = DynamoDBSession(session_id, client, table)
    assert _session_accepts_wrapper(plain)
    session = ContextAware(session_id, client, table)
    session.seen = []
    model = ScriptedModel([[assistant_message("hi")]])
    context = {"tenant": "acme", "user": "u-1"}
    await Runner.run(Agent(name="a", model=model), "hello", session=session, context=context)
    assert [name for name, _ in session.seen] == ["get_items", "add_items", "add_items"]
    for _, wrapper in session.seen:
        assert isinstance(wrapper, RunContextWrapper) and wrapper.context is context
    stored = await stored_items(client, table, session_id)
    assert stored is not None and [item.get("role") for item in stored] == ["user", "assistant"]


async def test_every_method_accepts_a_wrapper(client: Any, table: str) -> None:
    session_id = sid()
    session = DynamoDBSession(session_id, client, table)
    wrapper = RunContextWrapper(context={"tenant": "acme"})
    await session.add_items([message("a"), message("b")], wrapper=wrapper)
    assert await session.get_items(wrapper=wrapper) == [message("a"), message("b")]
    assert await session.pop_item(wrapper=wrapper) == message("b")
    await session.clear_session(wrapper=wrapper)
    assert await session.get_items(1, wrapper=None) == []
