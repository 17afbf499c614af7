"""The one exception tree of openai-agents-session.

Every error the library raises on purpose derives from `SessionStoreError`, so
``except SessionStoreError`` catches all of them and nothing from botocore leaks
through:

```text
SessionStoreError
├── InvalidArgumentError          an argument is out of range (also ValueError)
│   ├── InvalidAttributeError     a team attribute name or value the record refuses
│   └── UnknownSettingError       an unknown session_settings key (also TypeError)
├── InvalidSessionIdError         empty, too long or reserved session id (also ValueError)
├── InvalidItemError              an item is not a JSON object of JSON values (also ValueError)
├── SessionTooLargeError          the history would pass max_session_bytes
├── CorruptSessionError           the stored item is not what the schema says
├── DerivedAttributeError         a team's derive function failed; nothing written
├── SessionClosedError            the session object was closed
├── SessionExistsError            a fork's target already holds a conversation
├── OwnershipError                the session belongs to another owner than the object's
├── TurnInProgressError           another turn holds the conversation (``session.turn()``)
├── TurnLeaseLostError            this turn's lease expired and another writer went on
├── TurnAlreadyDoneError          a turn with this key already ran
├── ConcurrentModificationError   optimistic-locking retries exhausted
└── DynamoDBError                 the service said no, mapped from its wire code
    ├── TableNotFoundError
    ├── AccessDeniedError
    ├── ThrottledError
    └── DynamoDBUnavailableError  endpoint unreachable or timing out past retries
        └── WriteOutcomeUnknownError  whether a write landed cannot be told
```

The migration errors (``MigrationError`` and its subclasses: lock busy, lease
lost, dirty ledger, drift, revision graph) derive from `SessionStoreError` too and
live in `openai_agents_session.migrations.errors`.

Messages name the session, the table and the fix. The originating botocore
exception, when there is one, is chained as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
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
    "clause",
    "error_for_code",
]


class SessionStoreError(Exception):
    """Base class of every error raised by openai-agents-session.

    Attributes:
        session_id: The session the operation was about, if any.
        table_name: The DynamoDB table involved, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.session_id = session_id
        self.table_name = table_name


class InvalidArgumentError(SessionStoreError, ValueError):
    """An argument (constructor option, limit, table name) is out of range."""


class InvalidAttributeError(InvalidArgumentError):
    """A team attribute passed to a session cannot be stored; nothing was written.

    The name is not one of the record's ``"attribute"`` fields (a derived field
    cannot be set), or the field's type rejects the value, or the value cannot be
    an index key (empty, or longer than DynamoDB allows).

    Attributes:
        attribute: The attribute's name.
    """

    def __init__(
        self,
        message: str,
        *,
        attribute: str,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.attribute = attribute


class UnknownSettingError(InvalidArgumentError, TypeError):
    """`session_settings` names a setting the SDK's ``SessionSettings`` does not have.

    Also a ``TypeError`` whose message starts as the SDK's own backends' does
    (``Unknown session settings: limitt``), so code and tests written for them
    catch it unchanged.
    """


class InvalidSessionIdError(SessionStoreError, ValueError):
    """The session id is empty, too long for a key, reserved, or outside a tenant's key prefix."""


class InvalidItemError(SessionStoreError, ValueError):
    """An item handed to `add_items` cannot be stored; nothing of its batch was written.

    Attributes:
        index: Position of the first offending item in the batch.
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.index = index


class SessionTooLargeError(SessionStoreError):
    """The session would pass a size limit; nothing was written.

    The history would pass ``max_session_bytes`` (64 MiB by default), its page
    index would fill half of ``page_threshold``, or an endpoint refused an item
    as larger than DynamoDB's 409,600 bytes. The message names which.

    Attributes:
        size: Size in bytes it would have had.
        limit: The limit in bytes that it would have passed.
    """

    def __init__(
        self,
        message: str,
        *,
        size: int,
        limit: int,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.size = size
        self.limit = limit


class CorruptSessionError(SessionStoreError):
    """The stored item does not match the schema (e.g. `conversation_data` is not a JSON list)."""


class DerivedAttributeError(SessionStoreError):
    """A derived attribute could not be computed; the write was not sent.

    The field's ``derive`` function raised (chained as ``__cause__``), or it
    returned a value the field's type rejects or DynamoDB cannot store.

    Attributes:
        attribute: The derived attribute's name.
    """

    def __init__(
        self,
        message: str,
        *,
        attribute: str,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.attribute = attribute


class SessionClosedError(SessionStoreError):
    """The session object was closed; every operation after `close()` raises this."""


class SessionExistsError(SessionStoreError):
    """A fork's target session already holds a conversation; nothing was written."""


class OwnershipError(SessionStoreError):
    """The stored session belongs to another owner than the one the session object was built with.

    Raised by every read and write through that object, before anything is
    returned or stored. The message names the session, the table and the
    object's own owner, never the stored owner nor any stored text.

    Attributes:
        owner: The owner the session object was built with.
    """

    def __init__(
        self,
        message: str,
        *,
        owner: str,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.owner = owner


class TurnInProgressError(SessionStoreError):
    """Another turn holds the conversation; nothing was written.

    Raised by `DynamoDBSession.turn` when the conversation stayed held for its
    whole ``wait``, and by any write made outside that turn while its lease is
    live (from any object, process or host), so a stale turn cannot interleave.

    Attributes:
        retry_after: Seconds, on DynamoDB's clock, until the holder's lease runs
            out unless it is renewed (0 when unknown).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float = 0.0,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.retry_after = retry_after


class TurnLeaseLostError(SessionStoreError):
    """This turn's lease ran out and the conversation moved on without it; nothing was written.

    The holder was stalled past ``lease_seconds`` (renewals could not be sent),
    and another turn or writer has written since. The turn's view of the
    history is stale, so its writes are refused.
    """


class TurnAlreadyDoneError(SessionStoreError):
    """A turn with this ``key`` already ran on the conversation; the model was not called.

    Attributes:
        key: The turn's key, as the caller passed it.
        completed: True when that turn finished; False when it wrote to the
            history and then failed (see the Lambda docs for what to do).
    """

    def __init__(
        self,
        message: str,
        *,
        key: str,
        completed: bool,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.key = key
        self.completed = completed


class ConcurrentModificationError(SessionStoreError):
    """Other writers kept winning; the bounded optimistic-locking retries ran out.

    Attributes:
        attempts: How many conditional writes were tried.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.attempts = attempts


class DynamoDBError(SessionStoreError):
    """DynamoDB refused a request. Subclasses name the cases callers handle.

    Attributes:
        code: The DynamoDB error code (e.g. ``ValidationException``), if any.
        outcome_unknown: True when a write was sent and the library could not find
            out whether DynamoDB applied it. Read the session before writing again.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        outcome_unknown: bool = False,
        session_id: str | None = None,
        table_name: str | None = None,
    ) -> None:
        super().__init__(message, session_id=session_id, table_name=table_name)
        self.code = code
        self.outcome_unknown = outcome_unknown


class TableNotFoundError(DynamoDBError):
    """The table does not exist (or is not ACTIVE yet) in this region/endpoint."""


class AccessDeniedError(DynamoDBError):
    """The credentials lack permission for the call, or are not recognised."""


class ThrottledError(DynamoDBError):
    """DynamoDB kept throttling after the client's retry policy was exhausted."""


class DynamoDBUnavailableError(DynamoDBError):
    """The endpoint could not be reached, or kept timing out, after the client's retries."""


class WriteOutcomeUnknownError(DynamoDBUnavailableError):
    """Whether a write landed can no longer be told.

    Either its answer was lost and so many other writes landed before the client
    resent it that the item no longer shows it (16 or more), or its caller was
    cancelled and the write did not settle within ``settle_timeout``. The session
    refuses to guess (re-applying could duplicate): read the session before
    writing again. `outcome_unknown` is always True.
    """


# Wire code -> (error class, the fix a person should try). One table, as aiodynamo does.
_ERRORS: dict[str, tuple[type[DynamoDBError], str]] = {
    "ResourceNotFoundException": (
        TableNotFoundError,
        "create it with `await create_table_if_not_exists(client, table_name)` or "
        "`openai-agents-session migrate up`, and check the region and endpoint_url",
    ),
    "AccessDeniedException": (
        AccessDeniedError,
        "grant dynamodb:GetItem, PutItem, UpdateItem, BatchGetItem and BatchWriteItem on "
        "the table (IAM policy in the docs)",
    ),
    "UnrecognizedClientException": (
        AccessDeniedError,
        "check the AWS credentials and region the client was created with",
    ),
    "ProvisionedThroughputExceededException": (
        ThrottledError,
        "raise the table's capacity, switch it to on-demand, or configure more client retries",
    ),
    "ThrottlingException": (
        ThrottledError,
        "slow down control-plane calls or configure more client retries",
    ),
    "RequestLimitExceeded": (
        ThrottledError,
        "raise the account's throughput quota or configure more client retries",
    ),
    "ValidationException": (
        DynamoDBError,
        "check the table matches the schema (`openai-agents-session migrate check`)",
    ),
}


def error_for_code(
    code: str,
    detail: str,
    *,
    operation: str,
    session_id: str | None,
    table_name: str | None,
) -> DynamoDBError:
    """Build the typed error for a DynamoDB wire error code.

    Args:
        code: The ``Error.Code`` DynamoDB returned.
        detail: The service's own message.
        operation: What the library was doing, e.g. ``"add_items"``.
        session_id: Session involved, named in the message.
        table_name: Table involved, named in the message.

    Returns:
        An instance of the matching `DynamoDBError` subclass (the base class for
        codes that have no subclass).
    """
    cls, fix = _ERRORS.get(code, (DynamoDBError, "see the DynamoDB error code above"))
    where = describe(session_id, table_name) if session_id else f"table {table_name!r}"
    message = f"{operation} on {where} failed: {code}: {clause(detail)}. Fix: {fix}."
    return cls(message, code=code, session_id=session_id, table_name=table_name)


def clause(text: object) -> str:
    """`text` without its closing period, to be followed by ``". Fix: ..."`` in a message.

    Botocore's and the ledger's own texts often end with a period; joining them
    as they are gives "region.. Fix".
    """
    return str(text).rstrip(". ")


def describe(session_id: str | None, table_name: str | None) -> str:
    """Return the ``session 'x' in table 'y'`` phrase used across messages."""
    return f"session {session_id!r} in table {table_name!r}"
