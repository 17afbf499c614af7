"""Token usage per user turn, as kept in a session head's ``usage`` attribute.

The attribute is one JSON object::

    {"turns": {"<turn>": {"requests": .., "input_tokens": .., "output_tokens": ..,
                          "total_tokens": .., "runs": ..,
                          "input_tokens_details": {..}, "output_tokens_details": {..},
                          "request_usage_entries": [..]}},
     "earlier": {...the same totals..., "turns": <how many turns were folded>},
     "page_counts": {"<page id>": [start, length, user messages in that view]}}

A turn is the number of user messages (``"role": "user"``) in the history when
the usage is stored. ``page_counts`` remembers, per immutable page, how many
user messages its view holds, so counting them reads a page only when it is
new or its view changed (a pop or a trim narrows a view). Records written by
earlier releases remember positions instead (``page_users``); they are read,
and replaced by counts on the next store.

The head must stay under DynamoDB's item limit, so the whole record, memo
included, is capped at `USAGE_MAX_BYTES`: past it the per-request entries of
the oldest turns go first, then the oldest turns are folded into ``earlier``
(totals stay exact, those turns' own figures are gone), then the memo's oldest
pages are forgotten (they are read again when next needed). Input is bounded
(`extract_usage`), and so is what is read back (`parse_usage`): a stored record
that is not of this shape is refused, never trusted. Nothing here touches the
network.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .jsontext import loads_bounded
from .schema import ITEM_SIZE_LIMIT, ConversationItem, PageRef

__all__ = [
    "MAX_DETAIL_FIELDS",
    "MAX_REQUEST_ENTRIES",
    "MAX_TOKENS",
    "USAGE_MAX_BYTES",
    "add_turn",
    "count_users",
    "extract_usage",
    "page_memo",
    "parse_usage",
    "session_totals",
    "turn_entries",
    "user_positions",
    "view_count",
]

USAGE_MAX_BYTES = 32 * 1024
"""Cap on the ``usage`` attribute's JSON, memo included, so it never crowds the head item."""

MAX_TOKENS = 10**15
"""Largest count one run may report for any counter (requests, tokens, details)."""

MAX_DETAIL_FIELDS = 32
"""Fields a token-details object may have; a stored details map keeps at most this many."""

MAX_REQUEST_ENTRIES = 1000
"""Per-request entries one run may report."""

_MAX_FIELD_CHARS = 64
# Sums of many runs: far beyond any real count, small enough to stay a short number.
_STORED_MAX = 10**30
# record > turns > turn > request entries > entry > details: six levels.
_MAX_DEPTH = 8
_MAX_TURN_DIGITS = 12
_COUNTERS = ("requests", "input_tokens", "output_tokens", "total_tokens")
_ENTRY_COUNTERS = ("input_tokens", "output_tokens", "total_tokens")
_DETAILS = ("input_tokens_details", "output_tokens_details")


def is_user_message(item: Any) -> bool:
    """Whether an item opens a user turn (as the SDK's AdvancedSQLiteSession counts them)."""
    return isinstance(item, Mapping) and item.get("role") == "user"


def user_positions(items: Sequence[ConversationItem]) -> list[int]:
    """Indexes of the user messages among `items`."""
    return [i for i, item in enumerate(items) if is_user_message(item)]


def view_count(ref: PageRef, page: Sequence[ConversationItem]) -> list[int]:
    """The memo entry of a page's view: ``[start, length, user messages in the view]``."""
    view = page[ref.start : ref.start + ref.length]
    return [ref.start, ref.length, sum(1 for item in view if is_user_message(item))]


def page_memo(
    record: Mapping[str, Any], refs: Sequence[PageRef]
) -> tuple[dict[str, list[int]], list[PageRef]]:
    """The memo entries the record answers for, by page id, and the pages still to read."""
    counts: Mapping[str, Sequence[int]] = record.get("page_counts") or {}
    legacy: Mapping[str, Sequence[int]] = record.get("page_users") or {}
    memo: dict[str, list[int]] = {}
    needed: list[PageRef] = []
    for ref in refs:
        known = counts.get(ref.id)
        if known is not None and (known[0], known[1]) == (ref.start, ref.length):
            memo[ref.id] = list(known)
        elif ref.id in legacy:
            end = ref.start + ref.length
            users = sum(1 for p in legacy[ref.id] if ref.start <= p < end)
            memo[ref.id] = [ref.start, ref.length, users]
        else:
            needed.append(ref)
    return memo, needed


def count_users(
    head: Iterable[ConversationItem],
    refs: Sequence[PageRef],
    memo: Mapping[str, Sequence[int]],
) -> int:
    """User messages in a history: its pages' views (by the memo) plus its head."""
    total = sum(1 for item in head if is_user_message(item))
    return total + sum(memo[ref.id][2] for ref in refs)


def _count(value: Any, what: str, limit: int = MAX_TOKENS) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative")
    if value > limit:
        # Never format the value: a huge int has no decimal text here.
        raise ValueError(f"{what} is larger than {limit:.0e}")
    return value


def _field_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_FIELD_CHARS:
        raise ValueError(f"{what} has a field name that is not 1 to {_MAX_FIELD_CHARS} characters")
    return name


def _details(value: Any, what: str) -> dict[str, int]:
    """The integer fields of a token-details object (pydantic model, dataclass or dict)."""
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif not isinstance(value, Mapping):
        value = getattr(value, "__dict__", None)
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} is not an object of token counts")
    if len(value) > MAX_DETAIL_FIELDS:
        raise ValueError(f"{what} has {len(value)} fields, more than {MAX_DETAIL_FIELDS}")
    return {
        _field_name(k, what): _count(v, f"each field of {what}")
        for k, v in value.items()
        if v is not None
    }


def extract_usage(usage: Any) -> dict[str, Any]:
    """The JSON record of an SDK ``Usage``, checked: every count a non-negative int of at
    most `MAX_TOKENS`, details of at most `MAX_DETAIL_FIELDS` fields, at most
    `MAX_REQUEST_ENTRIES` per-request entries.

    Raises:
        ValueError: It is not such a usage; the message says which rule it breaks
            and never repeats a value.
    """
    counters: dict[str, Any] = {
        name: _count(getattr(usage, name, None), name) for name in _COUNTERS
    }
    for name in _DETAILS:
        counters[name] = _details(getattr(usage, name, None), name)
    raw = getattr(usage, "request_usage_entries", None) or []
    if not isinstance(raw, (list, tuple)):
        raise ValueError("request_usage_entries is not a list")
    if len(raw) > MAX_REQUEST_ENTRIES:
        raise ValueError(
            f"request_usage_entries has {len(raw)} entries, more than {MAX_REQUEST_ENTRIES}"
        )
    entries = []
    for entry in raw:
        one: dict[str, Any] = {
            n: _count(getattr(entry, n, 0), f"request_usage_entries {n}") for n in _ENTRY_COUNTERS
        }
        for name in _DETAILS:
            one[name] = _details(getattr(entry, name, None), f"request_usage_entries {name}")
        entries.append(one)
    counters["request_usage_entries"] = entries
    return counters


# ------------------------------------------------------------------ stored records


def _stored_details(value: Any, what: str) -> None:
    if not isinstance(value, dict) or len(value) > MAX_DETAIL_FIELDS:
        raise ValueError(f"{what} is not a map of at most {MAX_DETAIL_FIELDS} counts")
    for name, count in value.items():
        _field_name(name, what)
        _count(count, what, _STORED_MAX)


def _stored_counts(entry: Any, what: str, names: Sequence[str]) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"{what} is not an object")
    for name in names:
        if name in entry:
            _count(entry[name], f"{what} {name}", _STORED_MAX)
    for name in _DETAILS:
        if entry.get(name) is not None:
            _stored_details(entry[name], f"{what} {name}")


def _stored_turn(entry: Any, what: str) -> None:
    _stored_counts(entry, what, (*_COUNTERS, "runs"))
    requests = entry.get("request_usage_entries")
    if requests is None:
        return
    if not isinstance(requests, list):
        raise ValueError(f"{what} request_usage_entries is not a list")
    for one in requests:
        _stored_counts(one, f"{what} request entry", _ENTRY_COUNTERS)


def _stored_memo(value: Any, entry_ok: Any) -> None:
    if not isinstance(value, dict):
        raise ValueError("the page memo is not an object")
    for page_id, entry in value.items():
        if not isinstance(page_id, str) or not 0 < len(page_id) <= _MAX_FIELD_CHARS:
            raise ValueError("the page memo has a page id that is not 1 to 64 characters")
        if not isinstance(entry, list) or not entry_ok(entry):
            raise ValueError("the page memo has an entry that is not a list of counts")
        for count in entry:
            _count(count, "a page memo entry", _STORED_MAX)


def parse_usage(text: str) -> dict[str, Any]:
    """Read a stored ``usage`` attribute, refusing anything not of the record's shape.

    Bounded in size (the item limit) and nesting before it is parsed, then
    checked field by field: counts are non-negative ints, turns are numbered,
    details and memo entries are what `add_turn` writes.

    Raises:
        ValueError: The text is not such a record; the message says what is
            wrong, never what the text holds.
    """
    record = loads_bounded(text, max_bytes=ITEM_SIZE_LIMIT, max_depth=_MAX_DEPTH)
    if not isinstance(record, dict):
        raise ValueError("the usage record is not a JSON object")
    turns = record.get("turns") or {}
    if not isinstance(turns, dict):
        raise ValueError("'turns' is not an object")
    for key, entry in turns.items():
        if not (key.isascii() and key.isdigit() and 0 < len(key) <= _MAX_TURN_DIGITS):
            raise ValueError("'turns' has a key that is not a turn number")
        _stored_turn(entry, "a turn")
    earlier = record.get("earlier")
    if earlier is not None:
        _stored_counts(earlier, "'earlier'", (*_COUNTERS, "turns"))
    if "page_counts" in record:
        _stored_memo(record["page_counts"], lambda e: len(e) == 3)
    if "page_users" in record:
        _stored_memo(record["page_users"], lambda e: True)
    return record


def _merge(into: dict[str, Any], add: Mapping[str, Any]) -> None:
    for name in _COUNTERS:
        into[name] = int(into.get(name, 0)) + int(add.get(name, 0))
    for name in _DETAILS:
        merged = dict(into.get(name) or {})
        for key, value in (add.get(name) or {}).items():
            # A details map keeps its first MAX_DETAIL_FIELDS fields: the record stays bounded.
            if key in merged or len(merged) < MAX_DETAIL_FIELDS:
                merged[key] = int(merged.get(key, 0)) + int(value)
        into[name] = merged


def _size(record: Mapping[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":")).encode("utf-8"))


def add_turn(
    record: Mapping[str, Any] | None,
    turn: int,
    usage: Mapping[str, Any],
    memo: Mapping[str, Sequence[int]],
) -> dict[str, Any]:
    """The usage record with `usage` added to `turn`, and `memo` as the page memo.

    Two runs stored for the same turn add up (a concurrent writer's run is never
    overwritten). The result, memo included, is kept under `USAGE_MAX_BYTES`
    (see the module).
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
        "page_counts": {k: list(v) for k, v in memo.items()},
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
            return result
        folded = result.setdefault("earlier", {"turns": 0})
        _merge(folded, result["turns"].pop(key))
        folded["turns"] = int(folded.get("turns", 0)) + 1
    # Then forget the oldest pages' counts: a later store reads those pages again.
    pages = result["page_counts"]
    for page_id in list(pages):
        if _size(result) <= USAGE_MAX_BYTES:
            break
        del pages[page_id]
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
