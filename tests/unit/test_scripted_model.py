"""`ScriptedModel`: the script's three rules, and streaming that matches the plain response."""

from __future__ import annotations

import json
from typing import Any

from agents import ModelSettings, function_tool
from agents.models.interface import ModelTracing
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage

from openai_agents_session.scripted_model import ScriptedModel


@function_tool
def get_weather(city: str) -> str:
    """Weather in a city."""
    return f"Sunny in {city}"


def text_of(output: list[Any]) -> str:
    (message,) = output
    assert isinstance(message, ResponseOutputMessage)
    return "".join(part.text for part in message.content)


def test_calls_the_offered_tool_with_the_city_of_the_latest_user_message() -> None:
    model = ScriptedModel()
    (call,) = model.respond("What's the weather in New York today?", [get_weather])
    assert isinstance(call, ResponseFunctionToolCall)
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "New York"}
    assert call.call_id.startswith("call_")
    (default,) = ScriptedModel(default_city="Oslo").respond("weather?", [get_weather])
    assert isinstance(default, ResponseFunctionToolCall)
    assert json.loads(default.arguments) == {"city": "Oslo"}


def test_quotes_the_tool_output_then_answers_from_history() -> None:
    model = ScriptedModel()
    history: list[Any] = [
        {"role": "user", "content": "Weather in Rome?"},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "Hot, 30 °C"},
    ]
    assert text_of(model.respond(history, [get_weather])) == "According to get_weather: Hot, 30 °C"
    history.append({"role": "assistant", "content": "Hot."})
    history.append({"role": "user", "content": [{"type": "input_text", "text": "More?"}]})
    # The tool was already called: no second call, an answer about the history instead.
    answer = text_of(model.respond(history, [get_weather]))
    assert answer.startswith("I have seen 5 items in this conversation: 2 from you, 1 from me")
    assert "1 tool call(s) and 1 tool output(s)" in answer
    assert "'Weather in Rome?'" in answer
    assert model.requests == 2


def test_without_tools_it_never_calls_one() -> None:
    answer = text_of(ScriptedModel().respond("What's the weather in Paris?", []))
    assert answer.startswith("I have seen 1 item in this conversation")


async def test_stream_response_ends_with_the_same_output_as_get_response() -> None:
    model = ScriptedModel()
    arguments: dict[str, Any] = {
        "system_instructions": None,
        "input": [{"role": "user", "content": "Hello"}],
        "model_settings": ModelSettings(),
        "tools": [],
        "output_schema": None,
        "handoffs": [],
        "tracing": ModelTracing.DISABLED,
        "previous_response_id": None,
        "conversation_id": None,
        "prompt": None,
    }
    events = [event async for event in model.stream_response(**arguments)]
    assert [e.type for e in events] == [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(5))
    completed = events[-1]
    assert completed.type == "response.completed"
    plain = await model.get_response(**arguments)
    assert text_of(completed.response.output) == text_of(plain.output)
    assert events[2].delta == text_of(plain.output)  # type: ignore[union-attr]
