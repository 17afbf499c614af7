"""DynamoDB session storage for the OpenAI Agents SDK that never loses a message.

The public API is flat: import everything from ``openai_agents_session``.
`DynamoDBSession` is imported on first access, with the Agents SDK it derives
from; everything else (the errors, the schema, `SessionStore`, the table helpers)
does not need the SDK, so the command line starts without it.
"""

from typing import TYPE_CHECKING

from ._plan import DEFAULT_MAX_SESSION_BYTES, DEFAULT_PAGE_THRESHOLD
from .errors import (
    AccessDeniedError,
    ConcurrentModificationError,
    CorruptSessionError,
    DynamoDBError,
    DynamoDBUnavailableError,
    InvalidArgumentError,
    InvalidItemError,
    InvalidSessionIdError,
    SessionClosedError,
    SessionStoreError,
    SessionTooLargeError,
    TableNotFoundError,
    ThrottledError,
    WriteOutcomeUnknownError,
)
from .models.schema import ITEM_SIZE_LIMIT, RESERVED_PREFIX, PageIndex, PageRecord, SessionRecord
from .store import OperationMetrics, RetryPolicy, SessionOptions, SessionStore
from .tables import create_table_if_not_exists

if TYPE_CHECKING:
    from .session import DynamoDBSession

__version__ = "0.2.0"

__all__ = [
    "DEFAULT_MAX_SESSION_BYTES",
    "DEFAULT_PAGE_THRESHOLD",
    "ITEM_SIZE_LIMIT",
    "RESERVED_PREFIX",
    "AccessDeniedError",
    "ConcurrentModificationError",
    "CorruptSessionError",
    "DynamoDBError",
    "DynamoDBSession",
    "DynamoDBUnavailableError",
    "InvalidArgumentError",
    "InvalidItemError",
    "InvalidSessionIdError",
    "OperationMetrics",
    "PageIndex",
    "PageRecord",
    "RetryPolicy",
    "SessionClosedError",
    "SessionOptions",
    "SessionRecord",
    "SessionStore",
    "SessionStoreError",
    "SessionTooLargeError",
    "TableNotFoundError",
    "ThrottledError",
    "WriteOutcomeUnknownError",
    "__version__",
    "create_table_if_not_exists",
]


def __getattr__(name: str) -> object:
    if name == "DynamoDBSession":
        from .session import DynamoDBSession

        return DynamoDBSession
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
