"""The one boundary between botocore and the library's error tree.

Every botocore failure, from a service error to a missing profile, becomes a
`SessionStoreError` here, with a fix a person can act on. The fixes are data:
`error_for_code` holds those of DynamoDB's wire codes, `_LOCAL_FIXES` those of
failures that never reached DynamoDB. The session, the table helpers, the admin
functions, the migrations and the CLI all go through `translate`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from .errors import (
    AccessDeniedError,
    DynamoDBError,
    DynamoDBUnavailableError,
    InvalidArgumentError,
    SessionStoreError,
    clause,
    describe,
    error_for_code,
)

__all__ = ["aws_errors", "mapped", "translate"]

_T = TypeVar("_T")

# Failures that never reached DynamoDB: class, then the fix. First match wins.
_LOCAL_FIXES: tuple[tuple[type[BaseException], type[SessionStoreError], str], ...] = (
    (
        ProfileNotFound,
        InvalidArgumentError,
        "name a profile that exists in ~/.aws/config or ~/.aws/credentials (--profile)",
    ),
    (
        InvalidRegionError,
        InvalidArgumentError,
        "pass a region name such as eu-west-1 (--region)",
    ),
    (
        NoRegionError,
        InvalidArgumentError,
        "set a region: --region, AWS_REGION, or a profile with a region",
    ),
    (
        NoCredentialsError,
        AccessDeniedError,
        "configure credentials (environment, profile or role); for a local endpoint "
        "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test",
    ),
    (
        PartialCredentialsError,
        AccessDeniedError,
        "complete the credentials: both an access key id and a secret key are needed",
    ),
    (
        ValueError,
        InvalidArgumentError,
        "pass an endpoint URL such as http://127.0.0.1:8000 (--endpoint-url)",
    ),
)

_UNREACHABLE_FIX = "check the endpoint URL, the region, the network and the client's timeouts"


def translate(
    exc: BaseException,
    *,
    operation: str,
    session_id: str | None = None,
    table_name: str | None = None,
    outcome_unknown: bool = False,
) -> SessionStoreError:
    """The library error for a botocore failure (or a bad client argument).

    Args:
        exc: What botocore (or client creation) raised.
        operation: What the library was doing, named in the message.
        session_id: The session involved, if any.
        table_name: The table involved, if any.
        outcome_unknown: The failure hit a write that may have been applied.

    Returns:
        The error to raise, with `exc` to chain as its cause.
    """
    if isinstance(exc, SessionStoreError):
        return exc
    where = describe(session_id, table_name) if session_id else f"table {table_name!r}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        mapped_error = error_for_code(
            str(error.get("Code", "Unknown")),
            str(error.get("Message", "")),
            operation=operation,
            session_id=session_id,
            table_name=table_name,
        )
        mapped_error.outcome_unknown = outcome_unknown
        return mapped_error
    if isinstance(exc, (HTTPClientError, ConnectionError)):
        unknown = (
            " The write may or may not have been applied: read before writing again."
            if outcome_unknown
            else ""
        )
        return DynamoDBUnavailableError(
            f"DynamoDB did not answer {operation} on {where}: {clause(exc)}.{unknown} "
            f"Fix: {_UNREACHABLE_FIX}.",
            outcome_unknown=outcome_unknown,
            session_id=session_id,
            table_name=table_name,
        )
    for cls, error_class, fix in _LOCAL_FIXES:
        if isinstance(exc, cls):
            return error_class(
                f"{operation} on {where} could not start: {clause(exc)}. Fix: {fix}.",
                session_id=session_id,
                table_name=table_name,
            )
    return DynamoDBError(
        f"{operation} on {where} failed: {type(exc).__name__}: {clause(exc)}. "
        f"Fix: {_UNREACHABLE_FIX}.",
        session_id=session_id,
        table_name=table_name,
    )


@contextmanager
def aws_errors(
    operation: str,
    *,
    session_id: str | None = None,
    table_name: str | None = None,
    outcome_unknown: bool = False,
    client_setup: bool = False,
) -> Iterator[None]:
    """Translate botocore failures raised inside the block (see `translate`).

    With `client_setup`, a `ValueError` (botocore's answer to a malformed
    endpoint URL) is translated too; elsewhere it would be a bug, and escapes.
    """
    caught: tuple[type[BaseException], ...] = (BotoCoreError, ClientError)
    if client_setup:
        caught = (*caught, ValueError)
    try:
        yield
    except SessionStoreError:
        raise
    except caught as exc:
        raise translate(
            exc,
            operation=operation,
            session_id=session_id,
            table_name=table_name,
            outcome_unknown=outcome_unknown,
        ) from exc


async def mapped(
    call: Awaitable[_T], operation: str, table_name: str, session_id: str | None = None
) -> _T:
    """Await a raw client call, translating its failures (see `translate`)."""
    with aws_errors(operation, session_id=session_id, table_name=table_name):
        return await call
