"""Strict parsing of stored JSON, shared by the head and page codecs."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["loads_conversation"]


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
