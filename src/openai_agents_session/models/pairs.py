"""Tool calls and their outputs: where a history may be cut without splitting a pair.

The Responses API rejects an input that holds a tool output whose call is not
in it. When a bounded history (``max_items``) drops its oldest items, the cut
moves forward until no kept output lacks its call ("strict": the kept history
may be shorter than the bound, never longer). A fork's prefix is cut the other
way: its end moves back until no kept call lacks an output that the source has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["OUTPUT_OF", "safe_cut", "safe_prefix"]

OUTPUT_OF: dict[str, str] = {
    "function_call_output": "function_call",
    "computer_call_output": "computer_call",
    "custom_tool_call_output": "custom_tool_call",
    "local_shell_call_output": "local_shell_call",
    "shell_call_output": "shell_call",
    "apply_patch_call_output": "apply_patch_call",
    "mcp_approval_response": "mcp_approval_request",
}
"""Each paired output item type of the SDK, mapped to the type of its call."""

_CALL_TYPES = frozenset(OUTPUT_OF.values())


def _call_keys(item: Mapping[str, Any]) -> list[tuple[str, Any]]:
    kind = item.get("type")
    # A call is found by its call_id; an MCP approval request by its id. Local
    # shell outputs refer to their call by `id`, so both are indexed.
    return [(str(kind), item[k]) for k in ("call_id", "id") if item.get(k) is not None]


def _output_key(item: Mapping[str, Any]) -> tuple[str, Any] | None:
    call_type = OUTPUT_OF.get(str(item.get("type")))
    if call_type is None:
        return None
    for field in ("call_id", "approval_request_id", "id"):
        if item.get(field) is not None:
            return (call_type, item[field])
    return (call_type, None)


def safe_cut(items: Sequence[Mapping[str, Any]]) -> int:
    """The smallest `i` such that ``items[i:]`` holds no output without its call.

    Args:
        items: Conversation items, oldest first: the candidates to keep.

    Returns:
        How many of the oldest `items` to drop as well (0 when none need to go).
    """
    position: dict[tuple[str, Any], int] = {}
    # For every output, where its call is (-1 when it is nowhere in `items`).
    call_at: list[tuple[int, int]] = []
    for index, item in enumerate(items):
        if item.get("type") in _CALL_TYPES:
            for key in _call_keys(item):
                position.setdefault(key, index)
            continue
        wanted = _output_key(item)
        if wanted is not None:
            call_at.append((index, position.get(wanted, -1)))
    cut = 0
    # Dropping an orphan's call makes it an orphan too, so repeat until stable;
    # each pass only moves the cut forward.
    moved = True
    while moved:
        moved = False
        for output, call in call_at:
            if output >= cut and call < cut:
                cut = output + 1
                moved = True
    return cut


def safe_prefix(items: Sequence[Mapping[str, Any]], cut: int) -> int:
    """The largest `i` at most `cut` such that no call in ``items[:i]`` has its output after.

    A call whose output is nowhere in `items` (still pending in the source) does
    not move the cut: the prefix keeps it as the source does.

    Args:
        items: The whole history, oldest first.
        cut: The prefix length asked for.

    Returns:
        The prefix length to keep.
    """
    outputs: dict[tuple[str, Any], list[int]] = {}
    for index, item in enumerate(items):
        key = _output_key(item)
        if key is not None:
            outputs.setdefault(key, []).append(index)
    calls = [
        (index, _call_keys(item))
        for index, item in enumerate(items)
        if item.get("type") in _CALL_TYPES
    ]
    # Moving the end back past a call can split an earlier pair: repeat until stable.
    moved = True
    while moved:
        moved = False
        for index, keys in calls:
            if index < cut and any(o >= cut for k in keys for o in outputs.get(k, ())):
                cut = index
                moved = True
    return cut
