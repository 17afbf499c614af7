"""PynamoDB model and CreateTable request, derived from `SessionRecord`.

`session_model()` builds a PynamoDB `Model` class for a table name at runtime
(a PynamoDB table name is class-level, hence the factory). For a team's record
(a `SessionRecord` subclass) the model has the team's attributes too, and each
declared `GlobalIndex` as a PynamoDB `GlobalSecondaryIndex` named after it
(``Model.by_tenant.query(...)``). `create_table_request()` and
`ttl_specification()` derive from the same metadata, so the table DynamoDB
creates is the one the schema declares.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.attributes import Attribute, BinaryAttribute, UnicodeAttribute
from pynamodb.constants import NUMBER, NUMBER_SET, STRING_SET
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
    Projection,
)
from pynamodb.models import Model

from .schema import PAGE_SCHEMA, SCHEMA, DynamoAttribute, GlobalIndex, SessionRecord, schema_of

__all__ = [
    "ExactNumberAttribute",
    "ExactNumberSetAttribute",
    "StringSetAttribute",
    "create_table_request",
    "page_model",
    "session_model",
    "to_record",
    "ttl_specification",
]


class ExactNumberAttribute(Attribute[Decimal]):
    """A number kept as `Decimal`, so sub-second versions survive exactly.

    PynamoDB's `NumberAttribute` goes through `json`, i.e. float, which would
    round the random tail of `updated_at` away.
    """

    attr_type = NUMBER

    def serialize(self, value: Any) -> str:
        """Encode an int or Decimal as DynamoDB's number string."""
        return str(value if isinstance(value, (int, Decimal)) else Decimal(str(value)))

    def deserialize(self, value: str) -> Decimal:
        """Decode DynamoDB's number string exactly."""
        return Decimal(value)


class ExactNumberSetAttribute(Attribute[frozenset[Decimal]]):
    """A number set of `Decimal`; an empty set is left out of the item."""

    attr_type = NUMBER_SET
    null = True

    def serialize(self, value: Any) -> list[str] | None:
        """Encode the set; `None` for an empty one, which DynamoDB cannot store."""
        if not value:
            return None
        return [str(v) for v in sorted(value)]

    def deserialize(self, value: list[str]) -> frozenset[Decimal]:
        """Decode the set exactly."""
        return frozenset(Decimal(v) for v in value)


class StringSetAttribute(Attribute[frozenset[str]]):
    """A string set; sorted on the wire, like the codec's, and empty sets left out.

    PynamoDB's `UnicodeSetAttribute` keeps Python's set order, so the same set
    could be sent in two orders.
    """

    attr_type = STRING_SET
    null = True

    def serialize(self, value: Any) -> list[str] | None:
        """Encode the set; `None` for an empty one, which DynamoDB cannot store."""
        if not value:
            return None
        return sorted(str(v) for v in value)

    def deserialize(self, value: list[str]) -> frozenset[str]:
        """Decode the set."""
        return frozenset(value)


def _pynamodb_attribute(
    spec: DynamoAttribute,
    *,
    required: bool,
    hash_key: bool = False,
    range_key: bool = False,
) -> Attribute[Any]:
    null = not required
    if spec.type == "S":
        return UnicodeAttribute(hash_key=hash_key, range_key=range_key, null=null)
    if spec.type == "N":
        return ExactNumberAttribute(hash_key=hash_key, range_key=range_key, null=null)
    if spec.type == "B":
        return BinaryAttribute(
            legacy_encoding=False, hash_key=hash_key, range_key=range_key, null=null
        )
    if spec.type == "SS":
        return StringSetAttribute(null=True)
    return ExactNumberSetAttribute(null=True)


def _projection(index: GlobalIndex) -> Projection:
    if isinstance(index.projection, tuple):
        return IncludeProjection(list(index.projection))
    return AllProjection() if index.projection == "ALL" else KeysOnlyProjection()


def _index_class(index: GlobalIndex, attributes: dict[str, DynamoAttribute]) -> type[Any]:
    meta = {"index_name": index.name, "projection": _projection(index)}
    namespace: dict[str, Any] = {"Meta": type("Meta", (), meta)}
    namespace[index.partition_key] = _pynamodb_attribute(
        attributes[index.partition_key], required=True, hash_key=True
    )
    if index.sort_key is not None:
        namespace[index.sort_key] = _pynamodb_attribute(
            attributes[index.sort_key], required=True, range_key=True
        )
    return type(f"{index.name}_index", (GlobalSecondaryIndex,), namespace)


def _model(
    class_name: str,
    attributes: dict[str, DynamoAttribute],
    required: tuple[str, ...],
    table_name: str,
    host: str | None,
    region: str | None,
    extra: dict[str, Any] | None = None,
) -> type[Model]:
    meta: dict[str, Any] = {"table_name": table_name, "billing_mode": "PAY_PER_REQUEST"}
    if host is not None:
        meta["host"] = host
    if region is not None:
        meta["region"] = region
    namespace: dict[str, Any] = {"Meta": type("Meta", (), meta), **(extra or {})}
    for name, spec in attributes.items():
        namespace[name] = _pynamodb_attribute(
            spec, required=name in required, hash_key=spec.role == "partition_key"
        )
    return type(class_name, (Model,), namespace)


def session_model(
    table_name: str,
    record: type[SessionRecord] = SessionRecord,
    *,
    host: str | None = None,
    region: str | None = None,
) -> type[Model]:
    """Build the PynamoDB model of a session table (the head items).

    Args:
        table_name: DynamoDB table name.
        record: `SessionRecord` or a team's subclass: the model then has the
            team's attributes, and each declared index as a class attribute of
            the index's name (a PynamoDB `GlobalSecondaryIndex`).
        host: Endpoint URL for a local DynamoDB (PynamoDB's ``Meta.host``).
        region: AWS region.

    Returns:
        A `Model` subclass whose attributes are derived from `record`.

    Raises:
        TypeError: `record` is malformed, or an index name is taken by the model.
    """
    schema = schema_of(record)
    indexes: dict[str, Any] = {"session_record": record}
    for index in schema.indexes:
        if hasattr(Model, index.name) or not index.name.isidentifier():
            raise TypeError(
                f"index {index.name!r} of {record.__name__} cannot be a PynamoDB model "
                "attribute (a Model member, or not an identifier). Fix: rename the index."
            )
        indexes[index.name] = _index_class(index, schema.attributes)()
    required = (schema.partition_key, schema.version)
    return _model(
        f"{record.__name__}Model" if record is not SessionRecord else "SessionModel",
        schema.attributes,
        required,
        table_name,
        host,
        region,
        indexes,
    )


def page_model(
    table_name: str,
    *,
    host: str | None = None,
    region: str | None = None,
) -> type[Model]:
    """Build the PynamoDB model of the history pages stored in a session table.

    Args:
        table_name: DynamoDB table name.
        host: Endpoint URL for a local DynamoDB (PynamoDB's ``Meta.host``).
        region: AWS region.

    Returns:
        A `Model` subclass whose attributes are derived from `PageRecord`.
    """
    required = tuple(n for n in PAGE_SCHEMA.attributes if n != PAGE_SCHEMA.ttl)
    return _model("PageModel", PAGE_SCHEMA.attributes, required, table_name, host, region)


def to_record(instance: Model) -> SessionRecord:
    """The validated record of a `session_model` instance (a head item).

    An instance of the record class the model was built from (`SessionRecord`
    or a team's subclass, with its attributes). For a paged session its
    `conversation_data` is the head's newest items and `pages` indexes the
    rest; read the whole history with `DynamoDBSession`.

    Raises:
        CorruptSessionError: The item does not follow the schema.
    """
    from .codec import decode_record

    record: type[SessionRecord] = getattr(type(instance), "session_record", SessionRecord)
    raw = instance.serialize() | _key_of(instance)
    return decode_record(raw, table_name=None, record=record)


def _key_of(instance: Model) -> dict[str, Any]:
    # serialize() leaves out nothing of a loaded item; the key is added for safety.
    return {SCHEMA.partition_key: {"S": getattr(instance, SCHEMA.partition_key)}}


# The requests are derived from the same metadata; kept here for the old import path.
from .requests import create_table_request, ttl_specification  # noqa: E402
