"""`ScriptedModel`: an offline Agents SDK model that plays a fixed, predictable script.

It lets the demo, the docs and the tests run a real `Runner` conversation, with a
function tool call and a session, without an API key or any network. It is not a
language model: its answers follow three rules, applied to the input it is given.

1. The latest input item is a function call's output: answer with a message that
   quotes that output ("According to get_weather: ...").
2. The tool it was built for (``get_weather`` by default) is offered, and the input
   holds no call to it yet: call it once, with ``{"city": ...}`` taken from the
   latest user message ("... in Paris?") or `default_city`.
3. Otherwise: describe the history it received (how many items, by kind, and the
   first user message), which shows that the session's history reached the model.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from agents.items import ModelResponse, TResponseInputItem, TResponseOutputItem
from agents.models.interface import Model, ModelTracing
from agents.usage import Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
)

if TYPE_CHECKING:
    from agents.agent_output import AgentOutputSchemaBase
    from agents.handoffs import Handoff
    from agents.items import TResponseStreamEvent
    from agents.model_settings import ModelSettings
    from agents.tool import Tool
    from openai.types.responses.response_prompt_param import ResponsePromptParam

__all__ = ["SCRIPTED_MODEL_NAME", "ScriptedModel"]

SCRIPTED_MODEL_NAME = "scripted-offline"
"""The model name `ScriptedModel` reports in streamed responses."""

# "weather in Paris?", "in New York today" -> the capitalised words after "in".
_CITY = re.compile(r"\bin\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")


def _field(item: Any, name: str) -> Any:
    # History items are dicts; items built in memory by the SDK may be models.
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_field(part, "text") for part in content]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _kind(item: Any) -> str:
    kind = _field(item, "type")
    if kind in (None, "message"):
        return f"message:{_field(item, 'role') or 'unknown'}"
    return str(kind)


class ScriptedModel(Model):
    """A deterministic, offline `agents.models.interface.Model` for demos and tests.

    Example:
        ```python
        agent = Agent(name="Assistant", tools=[get_weather], model=ScriptedModel())
        result = await Runner.run(agent, "What's the weather in Paris?", session=session)
        ```

    Attributes:
        tool_name: Name of the function tool the script calls.
        default_city: City passed to the tool when the user message names none.
        requests: How many responses the model has produced (streamed or not).
    """

    def __init__(self, *, tool_name: str = "get_weather", default_city: str = "Paris") -> None:
        """Create the model.

        Args:
            tool_name: The function tool to call on the first request that offers it.
            default_city: The ``city`` argument when the latest user message has none.
        """
        self.tool_name = tool_name
        self.default_city = default_city
        self.requests = 0

    def respond(
        self, input: str | list[TResponseInputItem], tools: list[Tool]
    ) -> list[TResponseOutputItem]:
        """Apply the script to one request and return the output items.

        Args:
            input: The request's input: a string or the SDK's input items.
            tools: The tools the agent offers.

        Returns:
            One function call, or one assistant message.
        """
        self.requests += 1
        items: list[Any] = [{"role": "user", "content": input}] if isinstance(input, str) else input
        last = items[-1] if items else None
        if last is not None and _field(last, "type") == "function_call_output":
            return [self._message(self._quote_output(items, last))]
        offered = any(getattr(tool, "name", None) == self.tool_name for tool in tools)
        called = any(
            _field(i, "type") == "function_call" and _field(i, "name") == self.tool_name
            for i in items
        )
        if offered and not called:
            return [self._call({"city": self._city(items)})]
        return [self._message(self._describe_history(items))]

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        """Return the script's answer to `input` (see the module docstring)."""
        output = self.respond(input, tools)
        return ModelResponse(output=output, usage=Usage(requests=1), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """Stream the same answer as `get_response`, as Responses API events.

        Emits ``response.created``, then for each output item ``output_item.added``,
        one ``output_text.delta`` per message, ``output_item.done``, and finally
        ``response.completed`` carrying the whole response.
        """
        output = self.respond(input, tools)
        response = Response(
            id=f"resp_{uuid.uuid4().hex}",
            created_at=time.time(),
            model=SCRIPTED_MODEL_NAME,
            object="response",
            output=[],
            parallel_tool_calls=False,
            tool_choice="auto",
            tools=[],
        )
        sequence = 0
        yield ResponseCreatedEvent(
            type="response.created", response=response, sequence_number=sequence
        )
        for index, item in enumerate(output):
            sequence += 1
            yield ResponseOutputItemAddedEvent(
                type="response.output_item.added",
                item=item,
                output_index=index,
                sequence_number=sequence,
            )
            if isinstance(item, ResponseOutputMessage):
                for part_index, part in enumerate(item.content):
                    if isinstance(part, ResponseOutputText):
                        sequence += 1
                        yield ResponseTextDeltaEvent(
                            type="response.output_text.delta",
                            item_id=item.id,
                            output_index=index,
                            content_index=part_index,
                            delta=part.text,
                            logprobs=[],
                            sequence_number=sequence,
                        )
            sequence += 1
            yield ResponseOutputItemDoneEvent(
                type="response.output_item.done",
                item=item,
                output_index=index,
                sequence_number=sequence,
            )
        sequence += 1
        completed = response.model_copy(update={"output": output, "status": "completed"})
        yield ResponseCompletedEvent(
            type="response.completed", response=completed, sequence_number=sequence
        )

    # ----------------------------------------------------------------- script

    def _city(self, items: list[Any]) -> str:
        for item in reversed(items):
            if _field(item, "role") == "user":
                match = _CITY.search(_text_of(_field(item, "content")))
                return match.group(1) if match else self.default_city
        return self.default_city

    def _quote_output(self, items: list[Any], output_item: Any) -> str:
        call_id = _field(output_item, "call_id")
        name = next(
            (
                _field(i, "name")
                for i in items
                if _field(i, "type") == "function_call" and _field(i, "call_id") == call_id
            ),
            None,
        )
        output = _field(output_item, "output")
        text = output if isinstance(output, str) else _text_of(output) or json.dumps(output)
        return f"According to {name or 'the tool'}: {text}"

    @staticmethod
    def _describe_history(items: list[Any]) -> str:
        kinds = [_kind(i) for i in items]
        user = kinds.count("message:user")
        assistant = kinds.count("message:assistant")
        calls = kinds.count("function_call")
        outputs = kinds.count("function_call_output")
        first = next(
            (_text_of(_field(i, "content")) for i in items if _field(i, "role") == "user"), ""
        )
        noun = "item" if len(items) == 1 else "items"
        return (
            f"I have seen {len(items)} {noun} in this conversation: {user} from you, "
            f"{assistant} from me, {calls} tool call(s) and {outputs} tool output(s). "
            f"Your first message was: {first!r}."
        )

    @staticmethod
    def _message(text: str) -> ResponseOutputMessage:
        return ResponseOutputMessage(
            id=f"msg_{uuid.uuid4().hex}",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
        )

    def _call(self, arguments: dict[str, Any]) -> ResponseFunctionToolCall:
        return ResponseFunctionToolCall(
            id=f"fc_{uuid.uuid4().hex}",
            call_id=f"call_{uuid.uuid4().hex}",
            type="function_call",
            name=self.tool_name,
            arguments=json.dumps(arguments),
            status="completed",
        )
