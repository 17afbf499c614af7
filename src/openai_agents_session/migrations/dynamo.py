"""Small DynamoDB plumbing shared by the runner: attribute values and error mapping.

Library-owned items (ledger, lock, checkpoints) and backfill updates are plain
Python values converted here to DynamoDB's typed maps, so the package needs no
untyped boto3 serializer. Every botocore failure becomes a library error with a
fix, so the CLI never prints a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from ..boundary import aws_errors as boundary_errors
from ..errors import (
    TableNotFoundError,
)

__all__ = [
    "aws_errors",
    "error_code",
    "from_attribute",
    "from_item",
    "returned_item",
    "to_attribute",
    "to_item",
]


def to_attribute(value: Any) -> dict[str, Any]:
    """Encode a Python value as a DynamoDB attribute value.

    Supports str, bool, int, float, Decimal, bytes, None, mappings, lists/tuples
    and non-empty sets of str, numbers or bytes.

    Raises:
        TypeError: The value has no DynamoDB representation.
    """
    if isinstance(value, bool):
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, Decimal, float)):
        return {"N": _number(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attribute(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [to_attribute(v) for v in value]}
    if isinstance(value, (set, frozenset)) and value:
        if all(isinstance(v, str) for v in value):
            return {"SS": sorted(value)}
        if all(isinstance(v, (int, Decimal, float)) and not isinstance(v, bool) for v in value):
            return {"NS": sorted(_number(v) for v in value)}
        if all(isinstance(v, (bytes, bytearray)) for v in value):
            return {"BS": sorted(bytes(v) for v in value)}
    raise TypeError(f"{value!r:.80} has no DynamoDB representation")


def _number(value: int | Decimal | float) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value!r} is not a finite number")
        return str(Decimal(repr(value)))
    if isinstance(value, Decimal) and not value.is_finite():
        raise TypeError(f"{value!r} is not a finite number")
    return str(value)


def from_attribute(attribute: Mapping[str, Any]) -> Any:
    """Decode a DynamoDB attribute value (numbers come back as `Decimal`)."""
    ((kind, body),) = attribute.items()
    if kind == "S" or kind == "B" or kind == "BOOL":
        return body
    if kind == "N":
        return Decimal(body)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attribute(v) for k, v in body.items()}
    if kind == "L":
        return [from_attribute(v) for v in body]
    if kind == "SS" or kind == "BS":
        return frozenset(body)
    if kind == "NS":
        return frozenset(Decimal(v) for v in body)
    raise TypeError(f"unknown DynamoDB type {kind!r}")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """Encode a mapping of attribute names to Python values; None values are left out."""
    return {k: to_attribute(v) for k, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """Decode a whole item."""
    return {k: from_attribute(v) for k, v in item.items()}


def error_code(exc: ClientError) -> str:
    """The DynamoDB wire error code of a botocore `ClientError`."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def returned_item(exc: ClientError) -> dict[str, Any] | None:
    """The item a failed condition handed back (``ReturnValuesOnConditionCheckFailure``), if any.

    dynalite never returns it; callers then read the item.
    """
    item: object = exc.response.get("Item")
    return item if isinstance(item, dict) and item else None


@contextmanager
def aws_errors(operation: str, table_name: str) -> Iterator[None]:
    """Turn botocore failures inside the block into library errors with a fix."""
    try:
        with boundary_errors(operation, table_name=table_name):
            yield
    except TableNotFoundError as exc:
        # The migration CLI's own fix for a missing table.
        raise TableNotFoundError(
            f"{operation}: table {table_name!r} does not exist on this endpoint/region. "
            "Fix: run `openai-agents-session migrate up`, and check --region and "
            "--endpoint-url.",
            code=exc.code,
            table_name=table_name,
        ) from exc.__cause__
