"""The SDK's real `Runner` over `DynamoDBSession`, with a function tool, against moto.

The model is the SDK's `agents.testing.ScriptedModel`: each test scripts the model
calls its turns make, and checks the input each call received (`model.calls`).

Turn costs measured here (moto, one session object):
- turn 1, with a tool call: 1 GetItem + 3 PutItem = 4 calls, because the Runner
  saves three times (the user input, the tool call with its output, the answer);
- every later turn without a tool call: 1 GetItem + 2 PutItem = 3 calls, also for a
  fresh session object per turn (its read primes the version the writes check).
"""

from __future__ import annotations

import uuid
from typing import Any

from agents import Agent, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from openai_agents_session import DynamoDBSession, OperationMetrics
from tests.conftest import ClientFactory, count_calls

WEATHER = "Sunny and 21 °C"


@function_tool
def get_weather(city: str) -> str:
    """Return the current weather in a city.

    Args:
        city: Name of the city.
    """
    return f"{WEATHER} in {city}"


def weather_agent(model: ScriptedModel) -> Agent[Any]:
    return Agent(
        name="Weather assistant",
        instructions="Answer briefly.",
        tools=[get_weather],
        model=model,
    )


def weather_steps(city: str) -> list[Any]:
    """A turn with a tool call: two model calls, the call, then the answer."""
    return [
        [function_call("get_weather", f'{{"city": "{city}"}}', call_id=f"call_{city}")],
        [assistant_message(f"According to get_weather: {WEATHER} in {city}", item_id="msg_w")],
    ]


def answer(text: str, item_id: str) -> list[Any]:
    """A plain turn: one model call, one message."""
    return [assistant_message(text, item_id=item_id)]


def kinds(items: list[Any]) -> list[str]:
    return [str(i.get("type") or f"message:{i.get('role')}") for i in items]


async def test_two_turns_with_a_tool_call_persist_and_read_back(
    client: Any, table: str, make_client: ClientFactory
) -> None:
    model = ScriptedModel([*weather_steps("Lisbon"), answer("I remember it all.", "msg_r")])
    agent = weather_agent(model)
    operations: list[OperationMetrics] = []
    session = DynamoDBSession(
        f"runner-{uuid.uuid4().hex[:8]}", client, table, on_operation=operations.append
    )
    calls = count_calls(client)

    first = await Runner.run(agent, "What's the weather in Lisbon?", session=session)

    assert first.final_output == f"According to get_weather: {WEATHER} in Lisbon"
    # First turn, exact: one read, then one conditional write per save the Runner made.
    assert dict(calls) == {"GetItem": 1, "PutItem": 3}
    assert [op.operation for op in operations] == ["get_items"] + ["add_items"] * 3
    assert all(op.calls == 1 and op.conflicts == 0 for op in operations)
    after_first = await session.get_items()
    assert kinds(after_first) == [
        "message:user",
        "function_call",
        "function_call_output",
        "message",
    ]
    call, output = after_first[1], after_first[2]
    assert call["name"] == "get_weather"
    assert call["arguments"] == '{"city": "Lisbon"}'
    assert output["call_id"] == call["call_id"]
    assert output["output"] == f"{WEATHER} in Lisbon"
    # The second model call of the turn got the tool's output.
    assert model.calls[1].input[-1]["output"] == f"{WEATHER} in Lisbon"

    calls.clear()
    second = await Runner.run(agent, "How much do you remember?", session=session)

    assert second.final_output == "I remember it all."
    # The model got the four stored items plus the new message: the history was loaded.
    assert model.last_call is not None
    assert model.last_call.input == [
        *after_first,
        {"role": "user", "content": "How much do you remember?"},
    ]
    model.assert_complete()
    assert dict(calls) == {"GetItem": 1, "PutItem": 2}
    assert calls.total() <= 3

    # A second session object, on its own client, reads exactly the same items.
    other_client = await make_client()
    reader = DynamoDBSession(session.session_id, other_client, table)
    stored = await reader.get_items()
    assert stored == await session.get_items()
    assert kinds(stored) == [*kinds(after_first), "message:user", "message"]
    assert stored[:4] == after_first
    assert stored[4] == {"role": "user", "content": "How much do you remember?"}


async def test_steady_state_turn_costs_three_calls_even_with_a_new_session_object(
    client: Any, table: str
) -> None:
    model = ScriptedModel(
        [*weather_steps("Oslo"), answer("First.", "msg_1"), answer("Second.", "msg_2")]
    )
    agent = weather_agent(model)
    session_id = f"runner-{uuid.uuid4().hex[:8]}"
    await Runner.run(agent, "Weather in Oslo?", session=DynamoDBSession(session_id, client, table))
    calls = count_calls(client)
    for turn in range(2):
        calls.clear()
        # A web handler typically builds a new session object per request.
        fresh = DynamoDBSession(session_id, client, table)
        result = await Runner.run(agent, f"Turn {turn}?", session=fresh)
        assert dict(calls) == {"GetItem": 1, "PutItem": 2}, turn
        assert result.final_output == ("First.", "Second.")[turn]
        # The model got the whole stored history plus the new message.
        assert model.last_call is not None
        assert len(model.last_call.input) == 5 + 2 * turn, turn
        assert model.last_call.input[0] == {"role": "user", "content": "Weather in Oslo?"}
    model.assert_complete()
    assert len(await DynamoDBSession(session_id, client, table).get_items()) == 8


async def test_streamed_run_uses_the_same_session_history(client: Any, table: str) -> None:
    model = ScriptedModel(weather_steps("Rome"))
    agent = weather_agent(model)
    session = DynamoDBSession(f"runner-{uuid.uuid4().hex[:8]}", client, table)
    streamed = Runner.run_streamed(agent, "Weather in Rome?", session=session)
    deltas = [
        event.data.delta
        async for event in streamed.stream_events()
        if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"
    ]
    assert streamed.final_output == f"According to get_weather: {WEATHER} in Rome"
    assert deltas == [streamed.final_output]
    assert [call.streamed for call in model.calls] == [True, True]
    model.assert_complete()
    stored = await DynamoDBSession(session.session_id, client, table).get_items()
    assert kinds(stored) == ["message:user", "function_call", "function_call_output", "message"]
    assert stored[2]["output"] == f"{WEATHER} in Rome"
