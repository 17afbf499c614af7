"""The CreateTable, UpdateTable and UpdateTimeToLive requests, derived from `SessionRecord`.

Kept apart from the PynamoDB models so that creating or checking a table does
not import PynamoDB; a test proves both derive the same key from the schema. A
team's record (a `SessionRecord` subclass) adds its global secondary indexes to
the CreateTable request, and `global_index_request` adds one to a table that
already exists.
"""

from __future__ import annotations

from typing import Any

from .schema import SCHEMA, GlobalIndex, Schema, SessionRecord, schema_of

__all__ = ["create_table_request", "global_index_request", "ttl_specification"]

_DEFAULT_CAPACITY = 5


def _throughput(read_capacity: int | None, write_capacity: int | None) -> dict[str, int]:
    return {
        "ReadCapacityUnits": read_capacity or _DEFAULT_CAPACITY,
        "WriteCapacityUnits": write_capacity or _DEFAULT_CAPACITY,
    }


def _definition(schema: Schema, name: str) -> dict[str, str]:
    return {"AttributeName": name, "AttributeType": schema.attributes[name].type}


def _index_keys(index: GlobalIndex) -> list[str]:
    return [index.partition_key] + ([index.sort_key] if index.sort_key is not None else [])


def _index_spec(
    index: GlobalIndex,
    billing_mode: str,
    read_capacity: int | None,
    write_capacity: int | None,
) -> dict[str, Any]:
    key_schema = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
    if index.sort_key is not None:
        key_schema.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
    if isinstance(index.projection, tuple):
        projection: dict[str, Any] = {
            "ProjectionType": "INCLUDE",
            "NonKeyAttributes": list(index.projection),
        }
    else:
        projection = {"ProjectionType": index.projection}
    spec: dict[str, Any] = {
        "IndexName": index.name,
        "KeySchema": key_schema,
        "Projection": projection,
    }
    if billing_mode == "PROVISIONED":
        spec["ProvisionedThroughput"] = _throughput(read_capacity, write_capacity)
    return spec


def create_table_request(
    table_name: str,
    *,
    record: type[SessionRecord] = SessionRecord,
    billing_mode: str = "PAY_PER_REQUEST",
    read_capacity: int | None = None,
    write_capacity: int | None = None,
) -> dict[str, Any]:
    """The CreateTable arguments for a session table, derived from the schema.

    Args:
        table_name: Name of the table.
        record: `SessionRecord` or a team's subclass: its global secondary
            indexes (and their key attribute definitions) are included.
        billing_mode: ``PAY_PER_REQUEST`` (default) or ``PROVISIONED``.
        read_capacity: Read capacity units with ``PROVISIONED`` (default 5),
            for the table and for each index.
        write_capacity: Write capacity units with ``PROVISIONED`` (default 5),
            for the table and for each index.

    Returns:
        Keyword arguments for aiobotocore's ``create_table``.

    Raises:
        TypeError: `record` is not a well-formed `SessionRecord` class.
    """
    schema = schema_of(record)
    key = schema.partition_key
    definitions = [_definition(schema, key)]
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": definitions,
        "BillingMode": billing_mode,
    }
    if billing_mode == "PROVISIONED":
        request["ProvisionedThroughput"] = _throughput(read_capacity, write_capacity)
    if schema.indexes:
        for index in schema.indexes:
            for name in _index_keys(index):
                if all(d["AttributeName"] != name for d in definitions):
                    definitions.append(_definition(schema, name))
        request["GlobalSecondaryIndexes"] = [
            _index_spec(index, billing_mode, read_capacity, write_capacity)
            for index in schema.indexes
        ]
    return request


def global_index_request(
    schema: Schema,
    index: GlobalIndex | str,
    *,
    billing_mode: str = "PAY_PER_REQUEST",
    read_capacity: int | None = None,
    write_capacity: int | None = None,
) -> dict[str, Any]:
    """The UpdateTable arguments that add one declared index to an existing table.

    Pass them with the table name: ``await client.update_table(TableName=name,
    **global_index_request(schema_of(ChatRecord), "by_tenant"))``, then wait for
    the index to become ``ACTIVE`` (DynamoDB backfills it from the items first).

    Args:
        schema: The resolved schema of the record that declares the index.
        index: The index, or its name.
        billing_mode: The table's billing mode; ``PROVISIONED`` gives the index
            its own throughput.
        read_capacity: Read capacity units with ``PROVISIONED`` (default 5).
        write_capacity: Write capacity units with ``PROVISIONED`` (default 5).

    Returns:
        ``AttributeDefinitions`` (the index's key attributes) and
        ``GlobalSecondaryIndexUpdates`` (one ``Create`` entry).

    Raises:
        KeyError: `index` is not one of the schema's indexes.
    """
    found = schema.index(index if isinstance(index, str) else index.name)
    if not isinstance(index, str) and index != found:
        raise KeyError(f"index {index.name!r} differs from the one the schema declares")
    return {
        "AttributeDefinitions": [_definition(schema, name) for name in _index_keys(found)],
        "GlobalSecondaryIndexUpdates": [
            {"Create": _index_spec(found, billing_mode, read_capacity, write_capacity)}
        ],
    }


def ttl_specification() -> dict[str, Any]:
    """The UpdateTimeToLive specification: TTL enabled on the schema's TTL attribute."""
    return {"Enabled": True, "AttributeName": SCHEMA.ttl}
