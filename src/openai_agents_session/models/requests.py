"""The CreateTable and UpdateTimeToLive requests, derived from `SessionRecord`.

Kept apart from the PynamoDB models so that creating or checking a table does
not import PynamoDB; a test proves both derive the same key from the schema.
"""

from __future__ import annotations

from typing import Any

from .schema import SCHEMA

__all__ = ["create_table_request", "ttl_specification"]


def create_table_request(
    table_name: str,
    *,
    billing_mode: str = "PAY_PER_REQUEST",
    read_capacity: int | None = None,
    write_capacity: int | None = None,
) -> dict[str, Any]:
    """The CreateTable arguments for a session table, derived from the schema.

    Args:
        table_name: Name of the table.
        billing_mode: ``PAY_PER_REQUEST`` (default) or ``PROVISIONED``.
        read_capacity: Read capacity units; required with ``PROVISIONED``.
        write_capacity: Write capacity units; required with ``PROVISIONED``.

    Returns:
        Keyword arguments for aiobotocore's ``create_table``.
    """
    key = SCHEMA.partition_key
    request: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": key, "AttributeType": SCHEMA.attributes[key].type}
        ],
        "BillingMode": billing_mode,
    }
    if billing_mode == "PROVISIONED":
        request["ProvisionedThroughput"] = {
            "ReadCapacityUnits": read_capacity or 5,
            "WriteCapacityUnits": write_capacity or 5,
        }
    return request


def ttl_specification() -> dict[str, Any]:
    """The UpdateTimeToLive specification: TTL enabled on the schema's TTL attribute."""
    return {"Enabled": True, "AttributeName": SCHEMA.ttl}
