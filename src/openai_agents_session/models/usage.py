"""Token usage per user turn, as kept in a session head's ``usage`` attribute.

The attribute is one JSON object::

    {"turns": {"<turn>": {"requests": .., "input_tokens": .., "output_tokens": ..,
                          "total_tokens": .., "runs": ..,
                          "input_tokens_details": {..}, "output_tokens_details": {..},
                          "request_usage_entries": [..]}},
     "earlier": {...the same totals..., "turns": <how many turns were folded>},
     "page_users": {"<page id>": [positions of the page's user messages]}}

A turn is the number of user messages (``"role": "user"``) in the history when
the usage is stored. ``page_users`` remembers, per immutable page, where its
user messages are, so counting them reads each page at most once in the
page's life (a page's view only narrows, and the positions answer for any view).

The head must stay under DynamoDB's item limit, so the record is capped at
`USAGE_MAX_BYTES`: past it the per-request entries of the oldest turns go
first, then the oldest turns are folded into ``earlier`` (totals stay exact,
those turns' own figures are gone). Nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .schema import ConversationItem, PageRef

__all__ = [
    "USAGE_MAX_BYTES",
    "add_turn",
    "count_users",
    "extract_usage",
    "session_totals",
    "turn_entries",
    "user_positions",
]

USAGE_MAX_BYTES = 32 * 1024
"""Cap on the ``usage`` attribute's JSON, so it never crowds the head item."""

_COUNTERS = ("requests", "input_tokens", "output_tokens", "total_tokens")
_DETAILS = ("input_tokens_details", "output_tokens_details")


def is_user_message(item: Any) -> bool:
    """Whether an item opens a user turn (as the SDK's AdvancedSQLiteSession counts them)."""
    return isinstance(item, Mapping) and item.get("role") == "user"


def user_positions(items: Sequence[ConversationItem]) -> list[int]:
    """Indexes of the user messages among `items`."""
    return [i for i, item in enumerate(items) if is_user_message(item)]


def count_users(
    head: Iterable[ConversationItem],
    refs: Sequence[PageRef],
    positions: Mapping[str, Sequence[int]],
) -> int:
    """User messages in a history: its pages' views (by known positions) plus its head."""
    total = sum(1 for item in head if is_user_message(item))
    for ref in refs:
        total += sum(1 for p in positions[ref.id] if ref.start <= p < ref.start + ref.length)
    return total


def _details(value: Any) -> dict[str, int]:
    """The integer fields of a token-details object (pydantic model, dataclass or dict)."""
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif not isinstance(value, Mapping):
        value = getattr(value, "__dict__", {})
    return {
        str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)
    }


def extract_usage(usage: Any) -> dict[str, Any] | None:
    """The JSON record of an SDK ``Usage``; None when it does not look like one."""
    counters: dict[str, Any] = {}
    for name in _COUNTERS:
        value = getattr(usage, name, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return None
        counters[name] = value
    for name in _DETAILS:
        counters[name] = _details(getattr(usage, name, None))
    entries = []
    for entry in getattr(usage, "request_usage_entries", None) or []:
        one = {n: getattr(entry, n, 0) for n in ("input_tokens", "output_tokens", "total_tokens")}
        if not all(isinstance(v, int) for v in one.values()):
            return None
        for name in _DETAILS:
            one[name] = _details(getattr(entry, name, None))
        entries.append(one)
    counters["request_usage_entries"] = entries
    return counters


def _merge(into: dict[str, Any], add: Mapping[str, Any]) -> None:
    for name in _COUNTERS:
        into[name] = int(into.get(name, 0)) + int(add.get(name, 0))
    for name in _DETAILS:
        merged = dict(into.get(name) or {})
        for key, value in (add.get(name) or {}).items():
            merged[key] = int(merged.get(key, 0)) + int(value)
        into[name] = merged


def _size(record: Mapping[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":")).encode("utf-8"))


def add_turn(
    record: Mapping[str, Any] | None,
    turn: int,
    usage: Mapping[str, Any],
    page_users: Mapping[str, Sequence[int]],
) -> dict[str, Any]:
    """The usage record with `usage` added to `turn`, and `page_users` as the page memo.

    Two runs stored for the same turn add up (a concurrent writer's run is never
    overwritten). The result is kept under `USAGE_MAX_BYTES` (see the module).
    """
    turns: dict[str, dict[str, Any]] = {
        k: dict(v) for k, v in ((record or {}).get("turns") or {}).items()
    }
    entry = turns.setdefault(str(turn), {"runs": 0, "request_usage_entries": []})
    _merge(entry, usage)
    entry["runs"] = int(entry.get("runs", 0)) + 1
    entry["request_usage_entries"] = list(entry.get("request_usage_entries") or []) + list(
        usage.get("request_usage_entries") or []
    )
    result: dict[str, Any] = {
        "turns": dict(sorted(turns.items(), key=lambda kv: int(kv[0]))),
        "page_users": {k: list(v) for k, v in page_users.items()},
    }
    earlier = (record or {}).get("earlier")
    if earlier:
        result["earlier"] = dict(earlier)
    ordered = list(result["turns"])
    for key in ordered:  # oldest first: drop per-request detail
        if _size(result) <= USAGE_MAX_BYTES:
            return result
        result["turns"][key]["request_usage_entries"] = []
    for key in ordered[:-1]:  # then fold whole turns, always keeping the newest
        if _size(result) <= USAGE_MAX_BYTES:
            break
        folded = result.setdefault("earlier", {"turns": 0})
        _merge(folded, result["turns"].pop(key))
        folded["turns"] = int(folded.get("turns", 0)) + 1
    return result


def _public(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **{name: int(entry.get(name, 0)) for name in _COUNTERS},
        "input_tokens_details": dict(entry.get("input_tokens_details") or {}) or None,
        "output_tokens_details": dict(entry.get("output_tokens_details") or {}) or None,
        "request_usage_entries": list(entry.get("request_usage_entries") or []),
    }


def session_totals(record: Mapping[str, Any] | None) -> dict[str, int] | None:
    """Totals over every turn (folded ones included); None when nothing was stored."""
    turns = (record or {}).get("turns") or {}
    earlier = (record or {}).get("earlier") or {}
    if not turns and not earlier:
        return None
    totals = {name: int(earlier.get(name, 0)) for name in _COUNTERS}
    for entry in turns.values():
        for name in _COUNTERS:
            totals[name] += int(entry.get(name, 0))
    totals["total_turns"] = len(turns) + int(earlier.get("turns", 0))
    return totals


def turn_entries(record: Mapping[str, Any] | None, turn: int | None) -> list[dict[str, Any]]:
    """Every kept turn's usage, oldest first, or only `turn`'s (an empty list when not kept)."""
    turns = (record or {}).get("turns") or {}
    return [
        {"user_turn_number": int(key), **_public(entry)}
        for key, entry in sorted(turns.items(), key=lambda kv: int(kv[0]))
        if turn is None or int(key) == turn
    ]
