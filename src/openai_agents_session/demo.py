"""The demo conversation: the SDK's `Runner` over `DynamoDBSession`, measured.

`run_demo` plays a short multi-turn conversation with a function tool, counts
the DynamoDB calls each turn costs (through botocore's ``before-call`` event on
the client), reads the stored history back with a second session object after
every turn, and reports all of it as data. ``openai-agents-session demo`` only
formats the report.

Without an API key the agent runs on `scripted_demo_model`: the SDK's
`agents.testing.ScriptedModel`, scripted for the demo's fixed turns.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents import Agent, Runner, function_tool
from agents.items import TResponseOutputItem
from agents.models.interface import Model
from agents.testing import (
    ModelCall,
    ModelStep,
    ScriptedModel,
    assistant_message,
    function_call,
)

from .errors import InvalidArgumentError
from .session import DynamoDBSession, OperationMetrics

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "DEMO_PROMPTS",
    "DemoReport",
    "DemoTurn",
    "get_weather",
    "run_demo",
    "scripted_demo_model",
]

DEMO_PROMPTS: tuple[str, ...] = (
    "What's the weather in Paris?",
    "Thanks! How many messages of this conversation have you seen so far?",
    "What was the first thing I asked you?",
)
"""The user's messages, one per turn."""

_FORECASTS = ("Sunny, 21 °C", "Light rain, 14 °C", "Cloudy, 17 °C", "Clear skies, 24 °C")


@function_tool
def get_weather(city: str) -> str:
    """Return the current weather in a city (a stand-in: no network, same answer per city).

    Args:
        city: Name of the city, e.g. "Paris".
    """
    forecast = _FORECASTS[sum(map(ord, city.strip().lower())) % len(_FORECASTS)]
    return f"{forecast} in {city.strip()}"


def _kind(item: Any) -> str:
    kind = item.get("type") if isinstance(item, dict) else None
    if kind in (None, "message"):
        role = item.get("role") if isinstance(item, dict) else None
        return f"message:{role or 'unknown'}"
    return str(kind)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _items(call: ModelCall) -> list[Any]:
    return call.input if isinstance(call.input, list) else [{"role": "user", "content": call.input}]


def _quote_tool_output(call: ModelCall) -> list[TResponseOutputItem]:
    # The answer after the tool call: quote what the tool returned to the model.
    outputs = [i for i in _items(call) if _kind(i) == "function_call_output"]
    output = outputs[-1].get("output") if outputs else None
    text = output if isinstance(output, str) else _text(output)
    return [assistant_message(f"According to get_weather: {text}", item_id="msg_demo_weather")]


def _describe_history(call: ModelCall) -> list[TResponseOutputItem]:
    # An answer computed from the input the model received: the history the session loaded.
    items = _items(call)
    kinds = [_kind(i) for i in items]
    first = next((_text(i.get("content")) for i in items if _kind(i) == "message:user"), "")
    noun = "item" if len(items) == 1 else "items"
    text = (
        f"I have seen {len(items)} {noun} in this conversation: "
        f"{kinds.count('message:user')} from you, {kinds.count('message:assistant')} from me, "
        f"{kinds.count('function_call')} tool call(s) and "
        f"{kinds.count('function_call_output')} tool output(s). "
        f"Your first message was: {first!r}."
    )
    return [assistant_message(text, item_id=f"msg_demo_{len(items)}")]


def scripted_demo_model() -> ScriptedModel:
    """The offline model of the demo: the SDK's `ScriptedModel`, scripted for `DEMO_PROMPTS`.

    One step per model call the three turns make: turn 1 calls ``get_weather`` for
    Paris, then quotes the tool's output; turns 2 and 3 each answer with a description
    of the input the model received (items by kind, the first user message), so the
    answers show the history the session loaded from DynamoDB. It is not a language
    model: a model call past its four steps raises `agents.testing.UnexpectedModelCall`.

    Returns:
        A new model with four unconsumed steps.
    """
    return ScriptedModel(
        [
            [function_call("get_weather", {"city": "Paris"}, call_id="call_weather")],
            ModelStep.respond(_quote_tool_output),
            ModelStep.respond(_describe_history),
            ModelStep.respond(_describe_history),
        ]
    )


@dataclass
class DemoTurn:
    """One turn of the demo conversation and what it cost.

    Attributes:
        number: 1-based turn number.
        prompt: The user's message.
        final_output: The agent's answer.
        new_items: The items the turn stored (input, tool calls and outputs, answer).
        calls: DynamoDB API calls made during the turn, by operation (``GetItem``...).
        operations: Session operations the Runner made (``get_items``, ``add_items``...).
        stored_items: Items stored after the turn, read back by another session object.
        fresh_object: The turn ran on a new session object (as a new process would).
        seconds: Wall time of the turn.
    """

    number: int
    prompt: str
    final_output: str
    new_items: list[dict[str, Any]]
    calls: dict[str, int]
    operations: list[str]
    stored_items: int
    fresh_object: bool
    seconds: float

    @property
    def total_calls(self) -> int:
        """All DynamoDB calls of the turn."""
        return sum(self.calls.values())


@dataclass
class DemoReport:
    """The whole demo run.

    Attributes:
        session_id: The conversation's id.
        table_name: The table it is stored in.
        turns: The turns, in order.
        history: The stored history, read back by a second session object at the end.
        read_back_identical: That history equals what the first session object reads.
    """

    session_id: str
    table_name: str
    turns: list[DemoTurn] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    read_back_identical: bool = False


async def run_demo(
    client: DynamoDBClient,
    table_name: str,
    session_id: str,
    *,
    model: Model | None,
    prompts: Sequence[str] = DEMO_PROMPTS,
    on_turn: Callable[[DemoTurn], None] | None = None,
) -> DemoReport:
    """Run the demo conversation and measure it.

    The last turn runs on a fresh `DynamoDBSession` object, so its answer can only
    come from the history stored in DynamoDB.

    Args:
        client: An aiobotocore DynamoDB client; its calls are counted.
        table_name: An existing session table.
        session_id: The conversation's id; it must not hold items yet.
        model: The agent's model: `scripted_demo_model()` offline, None for the SDK's
            default (needs OPENAI_API_KEY).
        prompts: The user's messages, one per turn.
        on_turn: Called after each turn, e.g. to print it at once.

    Returns:
        The turns with their costs, and the history read back at the end.

    Raises:
        InvalidArgumentError: The session already holds items (the demo never
            deletes or appends to an existing conversation).
    """
    agent: Agent[Any] = Agent(
        name="Weather assistant",
        instructions=(
            "You are a brief assistant. Use get_weather for weather questions; answer "
            "questions about this conversation from its history."
        ),
        tools=[get_weather],
        model=model,
    )
    calls: Counter[str] = Counter()

    def count(event_name: str, **_: Any) -> None:
        calls[event_name.rsplit(".", 1)[-1]] += 1

    operations: list[str] = []

    def record(metrics: OperationMetrics) -> None:
        operations.append(metrics.operation)

    client.meta.events.register("before-call.dynamodb", count)
    try:
        report = DemoReport(session_id, table_name)
        reader = DynamoDBSession(session_id, client, table_name)
        existing = len(await reader.get_items())
        if existing:
            raise InvalidArgumentError(
                f"Session {session_id!r} in table {table_name!r} already holds {existing} "
                "items; the demo only writes to a new session. Fix: pass another "
                "--session-id, or delete it with `openai-agents-session sessions delete`.",
                session_id=session_id,
                table_name=table_name,
            )
        session = DynamoDBSession(session_id, client, table_name, on_operation=record)
        stored = 0
        for number, prompt in enumerate(prompts, 1):
            fresh = number == len(prompts) and number > 1
            if fresh:
                session = DynamoDBSession(session_id, client, table_name, on_operation=record)
            calls.clear()
            operations.clear()
            started = time.perf_counter()
            result = await Runner.run(agent, prompt, session=session)
            seconds = time.perf_counter() - started
            turn_calls = dict(sorted(calls.items()))
            turn_operations = list(operations)
            history: list[Any] = await reader.get_items()
            turn = DemoTurn(
                number=number,
                prompt=prompt,
                final_output=str(result.final_output),
                new_items=history[stored:],
                calls=turn_calls,
                operations=turn_operations,
                stored_items=len(history),
                fresh_object=fresh,
                seconds=seconds,
            )
            stored = len(history)
            report.turns.append(turn)
            if on_turn is not None:
                on_turn(turn)
        second: list[Any] = await DynamoDBSession(session_id, client, table_name).get_items()
        report.history = second
        report.read_back_identical = second == await session.get_items()
        return report
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
