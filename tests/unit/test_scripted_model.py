"""The demo's offline model: the SDK's `ScriptedModel`, scripted for `DEMO_PROMPTS`.

The script runs here through the SDK's `Runner` on an in-memory SQLite session, so
a change in the demo's turns or in the SDK's scripting shows up without DynamoDB.
"""

from __future__ import annotations

from typing import Any

import pytest
from agents import Agent, Runner, SQLiteSession
from agents.testing import UnexpectedModelCall

from openai_agents_session.demo import DEMO_PROMPTS, get_weather, scripted_demo_model


async def test_the_script_plays_the_demo_turns_and_answers_from_the_history() -> None:
    model = scripted_demo_model()
    agent: Agent[None] = Agent(name="Weather assistant", tools=[get_weather], model=model)
    session = SQLiteSession("demo")
    outputs = [
        str((await Runner.run(agent, prompt, session=session)).final_output)
        for prompt in DEMO_PROMPTS
    ]
    model.assert_complete()

    history: list[Any] = await session.get_items()
    assert len(history) == 8
    # Turn 1: a tool call for Paris, then an answer quoting the tool's real output.
    call, output = history[1], history[2]
    assert (call["name"], call["arguments"]) == ("get_weather", '{"city":"Paris"}')
    weather = output["output"]
    assert isinstance(weather, str) and weather.endswith(" in Paris")
    assert outputs[0] == f"According to get_weather: {weather}"
    assert model.calls[0].input == [{"role": "user", "content": DEMO_PROMPTS[0]}]
    # Turns 2 and 3: answers computed from the history the session gave the model.
    assert outputs[1] == (
        "I have seen 5 items in this conversation: 2 from you, 1 from me, 1 tool call(s) "
        f"and 1 tool output(s). Your first message was: {DEMO_PROMPTS[0]!r}."
    )
    assert outputs[2].startswith("I have seen 7 items in this conversation: 3 from you, 2 from me")
    assert [len(call.input) for call in model.calls] == [1, 3, 5, 7]


async def test_the_script_has_no_answer_past_the_demo_turns() -> None:
    model = scripted_demo_model()
    agent: Agent[None] = Agent(name="Weather assistant", tools=[get_weather], model=model)
    session = SQLiteSession("demo-extra")
    for prompt in DEMO_PROMPTS:
        await Runner.run(agent, prompt, session=session)
    with pytest.raises(UnexpectedModelCall):
        await Runner.run(agent, "One more?", session=session)
