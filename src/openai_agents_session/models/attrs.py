"""DynamoDB attribute values for the schema's types, without PynamoDB on the hot path.

The session's codec builds and reads attribute-value maps straight from the
`DynamoAttribute` metadata of `SessionRecord` and `PageRecord`. Importing
PynamoDB costs about 100 ms (it pulls in botocore's client machinery), which a
Lambda cold start should not pay for every session; the PynamoDB models in
`models.table` are built from the same metadata, for application code, and a
test proves the two encodings agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .schema import DynamoAttribute

__all__ = ["decode_value", "encode_value", "encode_values", "number_text"]


def number_text(value: Any) -> str:
    """DynamoDB's number string for an int or Decimal (floats go through their text)."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number attribute")
    return str(value if isinstance(value, (int, Decimal)) else Decimal(str(value)))


def encode_value(kind: str, value: Any) -> dict[str, Any] | None:
    """The attribute value of `value` as DynamoDB type `kind`; None for an empty set.

    Raises:
        TypeError: A bool as a number, or a value that is not of the type.
    """
    if kind == "S":
        return {"S": str(value)}
    if kind == "N":
        return {"N": number_text(value)}
    if kind == "B":
        return {"B": bytes(value)}
    # Sets: DynamoDB cannot store an empty one, so an empty one is left out.
    if not value:
        return None
    if kind == "SS":
        return {"SS": sorted(str(v) for v in value)}
    return {"NS": [number_text(v) for v in sorted(value)]}


def encode_values(
    attributes: Mapping[str, DynamoAttribute], values: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The attribute-value map of `values`; a None value is left out of the item."""
    item: dict[str, dict[str, Any]] = {}
    for name, spec in attributes.items():
        value = values.get(name)
        if value is None:
            continue
        encoded = encode_value(spec.type, value)
        if encoded is not None:
            item[name] = encoded
    return item


def decode_value(spec: DynamoAttribute, raw: Mapping[str, Any]) -> Any:
    """The Python value of one stored attribute of the declared type.

    Raises:
        ValueError: The stored value is not of the declared type, or unreadable.
    """
    body = raw.get(spec.type)
    try:
        if spec.type == "S" and isinstance(body, str):
            return body
        if spec.type == "N" and isinstance(body, str):
            return Decimal(body)
        if spec.type == "B" and isinstance(body, (bytes, bytearray)):
            return bytes(body)
        if spec.type == "NS" and isinstance(body, list):
            return frozenset(Decimal(v) for v in body)
        if spec.type == "SS" and isinstance(body, list) and all(isinstance(v, str) for v in body):
            return frozenset(body)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"unreadable {spec.type} value") from exc
    raise ValueError(f"not a {spec.type} value")
