"""Strict parsing of stored JSON, shared by the head and page codecs and the catalog's
JSON attributes (bounded in size and nesting, so stored data cannot exhaust the parser)."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["json_depth", "loads_bounded", "loads_conversation"]


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number too large for a double")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"the non-standard constant {name}")


def loads_conversation(text: str | bytes) -> Any:
    """Parse stored JSON strictly: NaN, Infinity and numbers past a double are refused.

    Such values cannot be written back as JSON, so a stored one is corruption
    (older encoders wrote them), reported instead of failing later on a write.

    Raises:
        ValueError: The text is not valid strict JSON.
        RecursionError: It is nested too deeply to parse.
    """
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite)


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), counted up to ``limit + 1`` at most."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            depth += 1
            deepest = max(deepest, depth)
            if depth > limit:
                return deepest
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth) for child in children)
    return deepest


def loads_bounded(text: str, *, max_bytes: int, max_depth: int) -> Any:
    """Parse stored JSON strictly, refusing text past `max_bytes` or nesting past `max_depth`.

    Raises:
        ValueError: Too large, too deep, or not valid strict JSON. The message
            says which, never what the text holds.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ValueError(f"{size} bytes of JSON, more than {max_bytes}")
    try:
        value = loads_conversation(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({type(exc).__name__})") from None
    if json_depth(value, max_depth) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return value
