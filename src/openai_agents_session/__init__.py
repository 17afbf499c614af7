"""DynamoDB session storage for the OpenAI Agents SDK that never loses a message.

The public API is flat: import everything from ``openai_agents_session``.
"""

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
from .session import DynamoDBSession, OperationMetrics, RetryPolicy, SessionOptions
from .tables import create_table_if_not_exists

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
    "SessionStoreError",
    "SessionTooLargeError",
    "TableNotFoundError",
    "ThrottledError",
    "WriteOutcomeUnknownError",
    "__version__",
    "create_table_if_not_exists",
]
