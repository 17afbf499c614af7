"""DynamoDB session storage for the OpenAI Agents SDK that never loses a message.

The public API is flat: import everything from ``openai_agents_session``.
Every name is imported on first access (PEP 562), so ``import
openai_agents_session`` costs nothing until it is used: the command line's
``--help`` and ``--version`` never load pydantic, and `DynamoDBSession` alone
brings in the Agents SDK it derives from.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._plan import DEFAULT_MAX_SESSION_BYTES, DEFAULT_PAGE_THRESHOLD, SPEC_PAGE_THRESHOLD
    from .catalog import EraseReport, SessionPage, SessionSummary, delete_sessions, list_sessions
    from .clients import CLIENT_DEFAULTS, ping
    from .errors import (
        AccessDeniedError,
        ConcurrentModificationError,
        CorruptSessionError,
        DerivedAttributeError,
        DynamoDBError,
        DynamoDBUnavailableError,
        InvalidArgumentError,
        InvalidAttributeError,
        InvalidItemError,
        InvalidSessionIdError,
        OwnershipError,
        SessionClosedError,
        SessionExistsError,
        SessionStoreError,
        SessionTooLargeError,
        TableNotFoundError,
        ThrottledError,
        TurnAlreadyDoneError,
        TurnInProgressError,
        TurnLeaseLostError,
        UnknownSettingError,
        WriteOutcomeUnknownError,
    )
    from .forks import ForkPage, ForkSummary, list_forks
    from .models.schema import (
        ITEM_SIZE_LIMIT,
        RESERVED_PREFIX,
        DynamoAttribute,
        GlobalIndex,
        HistoryView,
        PageIndex,
        PageRecord,
        SessionRecord,
        schema_of,
    )
    from .session import DynamoDBSession
    from .store import OperationMetrics, RetryPolicy, SessionOptions, SessionStore
    from .tables import create_table_if_not_exists

__version__ = "0.2.0"

# Where each public name lives; read by __getattr__ below.
_HOMES: dict[str, str] = {
    "DEFAULT_MAX_SESSION_BYTES": "._plan",
    "DEFAULT_PAGE_THRESHOLD": "._plan",
    "SPEC_PAGE_THRESHOLD": "._plan",
    "ITEM_SIZE_LIMIT": ".models.schema",
    "RESERVED_PREFIX": ".models.schema",
    "DynamoAttribute": ".models.schema",
    "GlobalIndex": ".models.schema",
    "HistoryView": ".models.schema",
    "PageIndex": ".models.schema",
    "PageRecord": ".models.schema",
    "SessionRecord": ".models.schema",
    "schema_of": ".models.schema",
    "DynamoDBSession": ".session",
    "EraseReport": ".catalog",
    "SessionPage": ".catalog",
    "SessionSummary": ".catalog",
    "delete_sessions": ".catalog",
    "ForkPage": ".forks",
    "ForkSummary": ".forks",
    "list_forks": ".forks",
    "list_sessions": ".catalog",
    "OperationMetrics": ".store",
    "RetryPolicy": ".store",
    "SessionOptions": ".store",
    "SessionStore": ".store",
    "create_table_if_not_exists": ".tables",
    "CLIENT_DEFAULTS": ".clients",
    "ping": ".clients",
    **{
        name: ".errors"
        for name in (
            "AccessDeniedError",
            "ConcurrentModificationError",
            "CorruptSessionError",
            "DerivedAttributeError",
            "DynamoDBError",
            "DynamoDBUnavailableError",
            "InvalidArgumentError",
            "InvalidAttributeError",
            "InvalidItemError",
            "InvalidSessionIdError",
            "OwnershipError",
            "SessionClosedError",
            "SessionExistsError",
            "SessionStoreError",
            "SessionTooLargeError",
            "TableNotFoundError",
            "ThrottledError",
            "TurnAlreadyDoneError",
            "TurnInProgressError",
            "TurnLeaseLostError",
            "UnknownSettingError",
            "WriteOutcomeUnknownError",
        )
    },
}

__all__ = [
    "CLIENT_DEFAULTS",
    "DEFAULT_MAX_SESSION_BYTES",
    "DEFAULT_PAGE_THRESHOLD",
    "ITEM_SIZE_LIMIT",
    "RESERVED_PREFIX",
    "SPEC_PAGE_THRESHOLD",
    "AccessDeniedError",
    "ConcurrentModificationError",
    "CorruptSessionError",
    "DerivedAttributeError",
    "DynamoAttribute",
    "DynamoDBError",
    "DynamoDBSession",
    "DynamoDBUnavailableError",
    "EraseReport",
    "ForkPage",
    "ForkSummary",
    "GlobalIndex",
    "HistoryView",
    "InvalidArgumentError",
    "InvalidAttributeError",
    "InvalidItemError",
    "InvalidSessionIdError",
    "OperationMetrics",
    "OwnershipError",
    "PageIndex",
    "PageRecord",
    "RetryPolicy",
    "SessionClosedError",
    "SessionExistsError",
    "SessionOptions",
    "SessionPage",
    "SessionRecord",
    "SessionStore",
    "SessionStoreError",
    "SessionSummary",
    "SessionTooLargeError",
    "TableNotFoundError",
    "ThrottledError",
    "TurnAlreadyDoneError",
    "TurnInProgressError",
    "TurnLeaseLostError",
    "UnknownSettingError",
    "WriteOutcomeUnknownError",
    "__version__",
    "create_table_if_not_exists",
    "delete_sessions",
    "list_forks",
    "list_sessions",
    "ping",
    "schema_of",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
