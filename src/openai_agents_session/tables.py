"""Creating the session table from the schema, idempotently.

`create_table_if_not_exists` describes before it acts, so it is safe to run on
every start: it never sends a second UpdateTimeToLive (real DynamoDB refuses one
with a ValidationException) and tolerates a concurrent creator.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .boundary import aws_errors, translate
from .errors import DynamoDBError, SessionStoreError
from .models.requests import create_table_request, ttl_specification
from .models.schema import SessionRecord
from .store import validate_table_name

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "create_table_if_not_exists",
    "ensure_ttl",
    "global_table_warning",
    "replica_warning",
]

logger = logging.getLogger("openai_agents_session")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _mapped(exc: ClientError, operation: str, table_name: str) -> SessionStoreError:
    return translate(exc, operation=operation, table_name=table_name)


def _no_ttl_api(table_name: str) -> bool:
    # dynalite has no UpdateTimeToLive: degrade with a warning, not a crash.
    logger.warning(
        "the endpoint has no TTL API; table %r will not delete expired sessions by "
        "itself (the library still treats them as absent)",
        table_name,
    )
    return False


async def ensure_ttl(client: DynamoDBClient, table_name: str) -> bool:
    """Enable TTL on the schema's TTL attribute unless it already is.

    Returns:
        True when TTL is enabled (or being enabled) on the right attribute; False
        when the endpoint has no TTL API (dynalite), which is logged as a warning.
    """
    with aws_errors("ensure_ttl", table_name=table_name):
        return await _ensure_ttl(client, table_name)


async def _ensure_ttl(client: DynamoDBClient, table_name: str) -> bool:
    spec = ttl_specification()
    try:
        described = await client.describe_time_to_live(TableName=table_name)
    except ClientError as exc:
        if _code(exc) == "UnknownOperationException":
            return _no_ttl_api(table_name)
        raise _mapped(exc, "describe_time_to_live", table_name) from exc
    current = described.get("TimeToLiveDescription", {})
    status = current.get("TimeToLiveStatus")
    if status in ("ENABLED", "ENABLING"):
        if current.get("AttributeName") != spec["AttributeName"]:
            raise DynamoDBError(
                f"Table {table_name!r} has TTL on attribute {current.get('AttributeName')!r}, "
                f"but sessions expire through {spec['AttributeName']!r}. Fix: disable TTL, "
                "wait an hour (DynamoDB's rule), then run `openai-agents-session migrate up`.",
                table_name=table_name,
            )
        return True
    try:
        await client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["AttributeName"]},
        )
    except ClientError as exc:
        # A concurrent runner may have enabled it between describe and update.
        if _code(exc) == "ValidationException" and "already enabled" in str(exc).lower():
            return True
        if _code(exc) == "UnknownOperationException":
            return _no_ttl_api(table_name)
        raise _mapped(exc, "update_time_to_live", table_name) from exc
    return True


async def create_table_if_not_exists(
    client: DynamoDBClient,
    table_name: str,
    *,
    enable_ttl: bool = True,
    billing_mode: str = "PAY_PER_REQUEST",
    record: type[SessionRecord] = SessionRecord,
) -> bool:
    """Create the session table from the schema if it does not exist, and wait for ACTIVE.

    Idempotent and safe to run concurrently. It does not write to the migration
    ledger; adopt a table made this way with `openai-agents-session migrate stamp`
    or let `migrate up` adopt it. An existing table is left as it is: add a
    team's index to it with `global_index_request` (or a migration).

    Args:
        client: An aiobotocore DynamoDB client.
        table_name: Name of the table.
        enable_ttl: Also enable TTL on the ``ttl`` attribute (skipped when it is
            already enabled).
        billing_mode: ``PAY_PER_REQUEST`` (default) or ``PROVISIONED``.
        record: `SessionRecord` or a team's subclass, whose global secondary
            indexes the new table gets.

    Returns:
        True if this call created the table, False if it already existed.

    Raises:
        SessionStoreError: A typed error (no botocore exception escapes), e.g.
            `AccessDeniedError` without credentials, `DynamoDBUnavailableError`
            when the endpoint cannot be reached.
    """
    validate_table_name(table_name)
    request = create_table_request(table_name, record=record, billing_mode=billing_mode)
    with aws_errors("create_table_if_not_exists", table_name=table_name):
        return await _create_table(client, table_name, enable_ttl, request)


async def _create_table(
    client: DynamoDBClient, table_name: str, enable_ttl: bool, request: dict[str, Any]
) -> bool:
    created = False
    try:
        await client.describe_table(TableName=table_name)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise _mapped(exc, "describe_table", table_name) from exc
        try:
            await client.create_table(**request)
            created = True
        except ClientError as create_exc:
            if _code(create_exc) != "ResourceInUseException":
                raise _mapped(create_exc, "create_table", table_name) from create_exc
    waiter = client.get_waiter("table_exists")
    await waiter.wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    if enable_ttl:
        await _ensure_ttl(client, table_name)
    return created


def replica_warning(table: Mapping[str, Any]) -> str | None:
    """The warning for a DescribeTable ``Table`` that has replicas in other regions.

    Conditional writes are checked only against a region's own copy, and the
    replicas settle on the last writer, so optimistic locking holds per region.
    """
    regions = [str(r.get("RegionName", "?")) for r in table.get("Replicas") or []]
    if not regions:
        return None
    return (
        f"table {table.get('TableName')!r} is a global table (replicas: "
        f"{', '.join(regions)}). Conditional writes are not serialised across regions: "
        "two regions writing one session can lose messages (the last writer wins). Fix: "
        "write each session from one region only."
    )


async def global_table_warning(client: DynamoDBClient, table_name: str) -> str | None:
    """`replica_warning` for a live table; None when it has no replicas or cannot be described."""
    try:
        described = await client.describe_table(TableName=table_name)
    except (ClientError, BotoCoreError):
        return None  # the verb itself reports a missing table or permission
    return replica_warning(described.get("Table", {}))
