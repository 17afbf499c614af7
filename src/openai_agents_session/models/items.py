"""Validation of conversation items before anything is sent.

By default an item is any JSON object of JSON values: the store treats items as
opaque, so wrappers such as the SDK's `EncryptedSession` keep working. Strict
mode additionally checks each item against the SDK's own input-item union.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from pydantic import JsonValue, TypeAdapter, ValidationError

from ..errors import InvalidItemError, describe
from .codec import dumps_item

__all__ = ["encode_batch"]

# strict=True so that a set or tuple is refused instead of quietly becoming a list.
_JSON_OBJECT: TypeAdapter[dict[str, JsonValue]] = TypeAdapter(dict[str, JsonValue])


@cache
def _sdk_item_adapter() -> TypeAdapter[Any]:
    # Built lazily: the SDK's union takes a while to compile and only strict mode needs it.
    from agents.items import TResponseInputItem

    return TypeAdapter(TResponseInputItem)


_JSON_FIX = (
    "pass JSON objects of str, int, float, bool, None, list and dict only "
    "(convert sets, tuples, bytes and objects first)"
)
# Strict failures are valid JSON: point at the SDK's types, not at JSON conversion.
_SDK_FIX = "pass SDK input items, or strict_items=False"


def _location(loc: tuple[int | str, ...]) -> str:
    path = "".join(f"[{part!r}]" for part in loc if part != "[key]")
    return path or "the item itself"


def _sdk_summary(error: ValidationError) -> str:
    # The union reports one error per branch (over 100); name the closest branch only.
    by_branch: dict[str, list[Any]] = {}
    for detail in error.errors():
        branch = str(detail["loc"][0]) if detail["loc"] else "item"
        by_branch.setdefault(branch, []).append(detail)
    branch, details = min(by_branch.items(), key=lambda entry: len(entry[1]))
    first = details[0]
    where = _location(tuple(first["loc"][1:])) if first["loc"] else "the item itself"
    return f"is not an SDK input item (closest: {branch}, {first['msg']} at {where})"


def encode_batch(
    items: Sequence[Any],
    *,
    strict: bool,
    session_id: str,
    table_name: str,
) -> list[str]:
    """Validate a batch and return each item's canonical JSON.

    Args:
        items: The batch handed to `add_items`.
        strict: Also validate against `agents.items.TResponseInputItem`.
        session_id: Named in error messages.
        table_name: Named in error messages.

    Raises:
        InvalidItemError: For the first bad item, naming its index. Nothing of the
            batch may be stored when this is raised.
    """
    where = describe(session_id, table_name)

    def invalid(index: int, problem: str, fix: str = _JSON_FIX) -> InvalidItemError:
        return InvalidItemError(
            f"Item {index} of the batch for {where} {problem}; nothing was stored. Fix: {fix}.",
            index=index,
            session_id=session_id,
            table_name=table_name,
        )

    if isinstance(items, (str, bytes, dict)) or not isinstance(items, Sequence):
        raise InvalidItemError(
            f"add_items for {where} needs a list of items, got {type(items).__name__}. "
            "Fix: wrap a single item in a list.",
            session_id=session_id,
            table_name=table_name,
        )
    encoded: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(index, f"is a {type(item).__name__}, not a JSON object (dict)")
        try:
            _JSON_OBJECT.validate_python(item, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise invalid(
                index, f"is not JSON: {first['msg']} at {_location(tuple(first['loc']))}"
            ) from None
        if strict:
            try:
                _sdk_item_adapter().validate_python(item)
            except ValidationError as exc:
                raise invalid(index, _sdk_summary(exc), _SDK_FIX) from None
        try:
            text = dumps_item(item)
            text.encode("utf-8")
        except ValueError as exc:
            # NaN/Infinity (allow_nan=False) and lone surrogates (not UTF-8) land here.
            raise invalid(index, f"is not valid JSON ({exc})") from None
        encoded.append(text)
    return encoded
