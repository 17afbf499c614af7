"""The session store: the SDK's Session protocol over DynamoDB, without the SDK.

`SessionStore` holds everything `DynamoDBSession` does except what needs the
Agents SDK at run time (its ``SessionABC`` base, ``SessionSettings`` and the
compaction hooks), so that the admin functions and the command line can use it
without importing the SDK.

Every mutation is a single conditional write on the version (`updated_at`) the
session object last saw, so concurrent writers never lose or duplicate an item.
The object remembers the state it last read or wrote; in steady state an append
or a pop is one `PutItem`, validated by its own condition. When the condition
fails, DynamoDB hands back the current item (``ReturnValuesOnConditionCheckFailure``)
and the change is re-applied on top of it, with bounded, jittered retries.

Each write carries a version unique to it, and the item remembers the last few
(`recent_writes`). A write whose response was lost (aiobotocore then resends it,
and the resent copy fails its condition) is therefore recognised as already
applied instead of being applied twice.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from ._fork_guard import SourceGuard, lacks_transactions, transaction_outcome
from ._ids import (
    check_key_prefix,
    validate_session_id,
    validate_table_name,
    within_prefix,
)
from ._options import check_options
from ._pagememo import PageMemo, shared_memo
from ._plan import (
    DEFAULT_MAX_SESSION_BYTES,
    DEFAULT_PAGE_THRESHOLD,
    Append,
    Clear,
    Conflict,
    Failed,
    ForkInto,
    Layout,
    Lost,
    NeedMembers,
    Operation,
    Outcome,
    Pop,
    Skip,
    Touch,
    WritePlan,
    classify,
    plan_write,
    seal_point,
    segment_tier,
)
from .boundary import aws_errors, translate
from .clients import (
    SharedClient,
    client_config_with_defaults,
    config_key,
    environment_key,
    ping,
)
from .clock import ServerClock
from .errors import (
    ConcurrentModificationError,
    CorruptSessionError,
    DynamoDBError,
    DynamoDBUnavailableError,
    InvalidArgumentError,
    OwnershipError,
    SessionClosedError,
    SessionStoreError,
    SessionTooLargeError,
    ThrottledError,
    TurnInProgressError,
    WriteOutcomeUnknownError,
    describe,
    error_for_code,
)
from .models.codec import (
    StoredItem,
    decode_item,
    decode_record,
    encode_key,
)
from .models.items import encode_batch
from .models.pages import (
    PART_BYTES,
    decode_members,
    decode_page,
    encode_index,
    is_composite,
    max_compressed,
    part_keys,
)
from .models.schema import (
    ITEM_SIZE_LIMIT,
    RECENT_WRITES_KEPT,
    SCHEMA,
    ConversationItem,
    PageRef,
    Schema,
    SessionRecord,
    schema_of,
)
from .models.team import TeamAttributes, validate_plain
from .turns import DEFAULT_LEASE_SECONDS, DEFAULT_WAIT, Turn, fence, held_state

if TYPE_CHECKING:
    from agents.items import TResponseInputItem
    from agents.memory.session_settings import SessionSettings
    from botocore.config import Config
    from types_aiobotocore_dynamodb import DynamoDBClient
    from typing_extensions import Self, Unpack


__all__ = [
    "OperationMetrics",
    "RetryPolicy",
    "SessionOptions",
    "SessionStore",
    "check_key_prefix",
    "validate_session_id",
    "validate_table_name",
    "within_prefix",
]

logger = logging.getLogger("openai_agents_session")

_T = TypeVar("_T")
# Each broken write already went through all of the client's own retries.
_BROKEN_WRITES_TRIED = 2
# DynamoDB's per-request limits: 25 writes per BatchWriteItem, 100 keys and 16 MB
# per BatchGetItem. A request asks for at most 100 keys whose parts can hold
# 40 full parts' worth of bytes (under 16 MB): 100 segments, or 40 parts of big pages.
_BATCH_WRITE = 25
# Newest segments a session object keeps the items of, for short reads and pops.
_CACHED_PAGES = 4
_BATCH_GET = 40
_BATCH_GET_KEYS = 100
_BATCH_GET_BYTES = _BATCH_GET * PART_BYTES
# Page reads in flight at once: each answer may hold up to 16 MB of parts, and
# they are decoded (and dropped) before the next ones are asked for.
_PAGE_BATCHES_IN_FLIGHT = 2
_UNPROCESSED_TRIES = 8
# Seconds a TTL written on the host clock may lag the shared clock before the
# session rewrites it (the Date header itself is only good to the second).
_TTL_TOLERANCE = 5
# Reads of a head whose pages vanished (a newer head released them) before the
# history is declared corrupt.
_PAGE_READ_TRIES = 3


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on optimistic-locking retries after a failed condition.

    Every way back to the top of an operation's attempt loop counts against
    the policy: a conditional write that lost, and a pass that had to read the
    state again before it could plan one (its pages were released by a newer
    head, or its memory was stale).

    Attributes:
        max_attempts: Conditional writes tried per operation before
            `ConcurrentModificationError`; also the passes allowed that end
            without a write.
        base_delay: Seconds; the backoff ceiling doubles from here per conflict.
        max_delay: Seconds; the largest backoff ceiling. The sleep is uniformly
            random below the ceiling ("full jitter").
        max_elapsed: Seconds an operation may spend retrying conflicts: no new
            attempt starts, and no backoff sleeps, past it. The default keeps an
            operation under API Gateway's 29 s and typical Lambda timeouts.
    """

    # Measured (benchmarks/load.py): with 64 writers appending to one hot session
    # the unluckiest append needed up to 64 attempts; 100 leaves headroom while
    # still giving up within about half a minute.
    max_attempts: int = 100
    base_delay: float = 0.01
    max_delay: float = 0.5
    max_elapsed: float = 10.0

    def delay(self, conflicts: int) -> float:
        """Seconds to sleep after the `conflicts`-th conflict of one operation."""
        if conflicts <= 1:
            # The first conflict usually means this object's memory was stale, not
            # contention: retry at once with the state the failure handed back.
            return 0.0
        ceiling = min(self.max_delay, self.base_delay * 2 ** (conflicts - 2))
        return random.uniform(0, ceiling)


@dataclass
class OperationMetrics:
    """What one session operation cost, handed to the ``on_operation`` hook.

    Attributes:
        operation: ``get_items``, ``add_items``, ``pop_item``, ``clear_session``
            or ``get_record``.
        session_id: The session.
        table_name: The table.
        calls: DynamoDB API calls made (each may include client-level retries).
        attempts: Conditional writes sent.
        conflicts: Conditional writes that failed because another writer won.
        client_retries: Retries the botocore client made inside those calls
            (throttling, dropped connections).
        item_size: Bytes of the item written (DynamoDB's rule), 0 when nothing was.
        items_written: Conversation items added or removed by the write.
        consumed_capacity: Capacity units DynamoDB reported.
        duration: Seconds the operation took.
        error: Class name of the error raised, or None.
    """

    operation: str
    session_id: str
    table_name: str
    calls: int = 0
    attempts: int = 0
    conflicts: int = 0
    client_retries: int = 0
    item_size: int = 0
    items_written: int = 0
    consumed_capacity: float = 0.0
    duration: float = 0.0
    error: str | None = None
    _started: float = field(default_factory=time.perf_counter, init=False, repr=False)

    @property
    def elapsed(self) -> float:
        """Seconds since the operation started."""
        return time.perf_counter() - self._started

    def _record(self, response: dict[str, Any]) -> None:
        meta = response.get("ResponseMetadata") or {}
        self.client_retries += int(meta.get("RetryAttempts") or 0)
        capacity = response.get("ConsumedCapacity") or {}
        # Batch operations report one entry per table.
        for entry in capacity if isinstance(capacity, list) else [capacity]:
            self.consumed_capacity += float(entry.get("CapacityUnits") or 0.0)


class _Transport(Exception):
    """A call failed below HTTP: the request may or may not have reached DynamoDB."""


class _Untransacted(enum.Enum):
    """A transaction that ended without an `Outcome` of the head's own."""

    UNSUPPORTED = "the endpoint has no TransactWriteItems: nothing was sent"
    OTHER_CHECK_FAILED = "another action's condition failed, the head's held: nothing landed"


async def _all(jobs: list[Awaitable[_T]]) -> list[_T]:
    """Run jobs concurrently; let all of them finish, then raise the first error."""
    results = await asyncio.gather(*jobs, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def _page_view(ref: PageRef, loaded: dict[str, list[ConversationItem]]) -> list[ConversationItem]:
    return loaded[ref.id][ref.start : ref.start + ref.length]


def _keys_of(items: list[dict[str, Any]]) -> list[str]:
    return [str(item[SCHEMA.partition_key]["S"]) for item in items]


def _loop_error(exc: BaseException) -> RuntimeError | None:
    """The RuntimeError about an event loop behind a botocore transport error, if any."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        if isinstance(seen, RuntimeError) and "loop" in str(seen).lower():
            return seen
        inner = getattr(seen, "kwargs", {}).get("error") if hasattr(seen, "kwargs") else None
        seen = inner if isinstance(inner, BaseException) else (seen.__cause__ or seen.__context__)
    return None


class SessionOptions(TypedDict, total=False):
    """The keyword options of `DynamoDBSession`, for `DynamoDBSession.from_config`."""

    session_settings: SessionSettings | dict[str, Any] | None
    consistent_read: bool
    max_items: int | None
    strict_items: bool
    retry: RetryPolicy | None
    on_operation: Callable[[OperationMetrics], None] | None
    size_warning_ratio: float
    clock: Callable[[], float]
    page_threshold: int
    max_session_bytes: int
    settle_timeout: float
    time_source: Literal["dynamodb", "host"]
    record: type[SessionRecord]
    attributes: Mapping[str, Any] | None
    owner: str | None
    title: str | None
    metadata: Mapping[str, Any] | None
    auto_title: bool
    key_prefix: str | None


class _Settled(Exception):
    """The operation is over: a write that may have landed is found to have."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


@dataclass
class _Run:
    """One operation's bookkeeping across its attempts.

    Attributes:
        operation: What is being done.
        maybe_applied: Plans of writes that may have landed although no success
            was seen (the client resent them, the connection broke, the server failed).
        fresh: The state in hand was read during this operation.
        broken_writes: Writes whose outcome stayed unknown after the client's retries.
        loaded: Pages read so far; pages never change, so they stay valid.
        replans: Passes that ended without a write (the state had to be read
            again first); bounded by `RetryPolicy.max_attempts` too.
        unanswered: The endpoint did not answer the last broken write at all
            (no response through the client's retries), so it may be down.
        expired_members: Composites of an expired head that are gone or
            unreadable, as listing nothing: the write replacing the head
            releases what it can name, and TTL takes the rest.
    """

    operation: Operation
    maybe_applied: list[WritePlan] = field(default_factory=list)
    fresh: bool = False
    broken_writes: int = 0
    loaded: dict[str, list[ConversationItem]] = field(default_factory=dict)
    clock_unknown: bool = False
    replans: int = 0
    unanswered: bool = False
    expired_members: dict[str, tuple[PageRef, ...]] = field(default_factory=dict)


class _Engine:
    """Conversation history of one session in DynamoDB: the engine of `DynamoDBSession`.

    It has the Session protocol's methods (`get_items`, `add_items`, `pop_item`,
    `clear_session`) and every guarantee of `DynamoDBSession`, without importing
    the Agents SDK; applications use `DynamoDBSession`.
    """

    session_settings: Any

    def __init__(
        self,
        session_id: str,
        dynamodb_client: DynamoDBClient,
        table_name: str,
        ttl_seconds: int | None = None,
        *,
        session_settings: SessionSettings | dict[str, Any] | None = None,
        consistent_read: bool = True,
        max_items: int | None = None,
        strict_items: bool = False,
        retry: RetryPolicy | None = None,
        on_operation: Callable[[OperationMetrics], None] | None = None,
        size_warning_ratio: float = 0.8,
        clock: Callable[[], float] = time.time,
        page_threshold: int = DEFAULT_PAGE_THRESHOLD,
        max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES,
        settle_timeout: float = 10.0,
        time_source: Literal["dynamodb", "host"] = "dynamodb",
        record: type[SessionRecord] = SessionRecord,
        attributes: Mapping[str, Any] | None = None,
        owner: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        auto_title: bool = False,
        key_prefix: str | None = None,
    ) -> None:
        """Create a session over an aiobotocore DynamoDB client the caller owns.

        Args:
            session_id: Unique id of the conversation; the partition key.
            dynamodb_client: An aiobotocore (or aioboto3) DynamoDB client. It stays
                the caller's: `close()` does not close it.
            table_name: The DynamoDB table.
            ttl_seconds: When set, every write sets ``ttl = now + ttl_seconds``
                (sliding expiry), and an item whose ttl has passed reads as absent.
            session_settings: SDK session settings (or a dict); ``limit`` is the
                default for `get_items`.
            consistent_read: Use strongly consistent reads (default True).
            max_items: Keep only the newest N items, trimming on write. The cut
                never separates a tool call from its output: it moves forward
                past any output whose call it would drop, so the kept history
                may hold fewer than N items.
            strict_items: Also validate each item against the SDK's
                ``TResponseInputItem`` union. Leave off for wrappers such as
                ``EncryptedSession`` whose items are envelopes.
            retry: Bounds on optimistic-locking retries.
            on_operation: Called with `OperationMetrics` after every operation;
                exceptions it raises are logged, never propagated.
            size_warning_ratio: Log a warning, once per session object and
                limit, when a write brings the history to this fraction of
                `max_session_bytes`, or a head that pages cannot shrink (its index
                and attributes) to this fraction of DynamoDB's 400 KB item limit,
                or the page index to this fraction of the half of
                `page_threshold` it may fill.
            clock: The host clock (Unix seconds); replaceable in tests. With
                ``time_source="dynamodb"`` it is only the fallback before the
                client's first response.
            time_source: ``"dynamodb"`` (default) judges expiry and computes TTLs
                on DynamoDB's clock, estimated from the ``Date`` header of the
                responses the client receives, so hosts whose clocks disagree
                agree on expiry. ``"host"`` trusts `clock` alone.
            page_threshold: Head item size in bytes (DynamoDB's rule) past which
                older items move into compressed page items (at least 16 KiB).
                The default (24 KiB) is chosen for cost: every append rewrites the
                head, and a paged head stays under 24 KiB. `SPEC_PAGE_THRESHOLD`
                (384 KiB) keeps every session that fits DynamoDB's 400 KB limit a
                single item, for fleets that still run 0.1.0 readers.
            max_session_bytes: Cap on the history's uncompressed JSON bytes,
                pages included (default 64 MiB); past it `add_items` raises
                `SessionTooLargeError`.
            settle_timeout: Seconds a write already sent may take to settle after
                its caller was cancelled; past them the session forgets its state
                and raises `WriteOutcomeUnknownError`. A write not yet sent when
                the caller is cancelled is never sent.
            record: The `SessionRecord` subclass that declares the team's own
                attributes and indexes (see `schema_of`). Every write puts its
                ``"derived"`` attributes on the head, computed from the history
                the write stores; `get_record` returns an instance of it.
            attributes: Values of the record's ``"attribute"`` fields that every
                write of this object puts on the head (None: leave it out).
                Attributes not named here are carried over as stored. Validated
                here, by each field's type, without a network call.
            owner: The user or tenant the session belongs to; every write puts
                it on the head, which lists the session in `list_sessions`. It is
                enforced: a stored session of another owner raises
                `OwnershipError` on every read and write through this object
                (authenticate the user before passing it); a session without an
                owner is claimed by this object's first write. None: the object
                is unconstrained and carries the stored owner over.
            title: The session's title; every write puts it on the head.
            metadata: A small JSON map of the application's own, put on every write.
            auto_title: When no title is stored or set, take the first user
                message's text (trimmed to 80 characters) as the title.
            key_prefix: A tenant's prefix (such as ``"tenant-a#"``): the session
                id, and the owner when given, must start with it; checked here,
                before any call, so an IAM policy on ``dynamodb:LeadingKeys``
                and the library agree.

        Raises:
            InvalidSessionIdError: The session id is empty, too long or reserved,
                or outside `key_prefix`.
            InvalidAttributeError: An `attributes` name is not an attribute field
                of `record`, or its value is not of the field's type.
            InvalidArgumentError: Another argument is out of range.
        """
        self.table_name = validate_table_name(table_name)
        self.session_id = validate_session_id(session_id, table_name=table_name)
        self.key_prefix = check_key_prefix(key_prefix, table_name=table_name)
        within_prefix(session_id, key_prefix, table_name=table_name)
        check_options(
            {
                "ttl_seconds": ttl_seconds,
                "max_items": max_items,
                "page_threshold": page_threshold,
                "max_session_bytes": max_session_bytes,
                "size_warning_ratio": size_warning_ratio,
                "settle_timeout": settle_timeout,
                "time_source": time_source,
            },
            session_id=session_id,
            table_name=table_name,
        )
        self.session_settings = self._coerce_settings(session_settings)
        self.ttl_seconds = ttl_seconds
        self.consistent_read = consistent_read
        self.max_items = max_items
        self.strict_items = strict_items
        self.retry = retry or RetryPolicy()
        self.on_operation = on_operation
        self.size_warning_ratio = size_warning_ratio
        self._clock = clock
        self.settle_timeout = float(settle_timeout)
        self.time_source = time_source
        try:
            schema = schema_of(record)
        except TypeError as exc:
            raise InvalidArgumentError(
                f"record must be SessionRecord or a well-formed subclass of it "
                f"({describe(session_id, table_name)}): {exc}. Fix: see the team schema "
                "docs for how to declare attributes and indexes.",
                session_id=session_id,
                table_name=table_name,
            ) from exc
        self.record = record
        self._schema: Schema = schema
        catalog: dict[str, Any] = {
            name: value
            for name, value in ((SCHEMA.owner, owner), (SCHEMA.title, title))
            if value is not None
        }
        if metadata is not None:
            catalog[SCHEMA.metadata] = dict(metadata)
        validated, encoded = validate_plain(
            schema,
            {**dict(attributes or {}), **catalog},
            session_id=session_id,
            table_name=table_name,
        )
        self._owner_within_prefix(validated)
        if SCHEMA.owner in validated and validated[SCHEMA.owner] is None:
            # It would strip the stored owner on every write: an ownership move
            # that only transfer_owner may make.
            raise InvalidArgumentError(
                f"attributes={{'owner': None}} for {describe(session_id, table_name)} would "
                "remove the stored owner on every write. Fix: leave owner out (the object "
                "then carries the stored owner over), or move the conversation with "
                "transfer_owner().",
                session_id=session_id,
                table_name=table_name,
            )
        self._attributes = validated
        self.auto_title = bool(auto_title)
        self._team = TeamAttributes(schema, encoded, auto_title=self.auto_title)
        self._server_time: ServerClock | None = None
        # Size warnings already logged by this object, by kind: each is logged once.
        self._warned: set[str] = set()
        # The newest pages' items and the composites' member lists this object,
        # or another of this session on the same client, read or wrote.
        self._memo = PageMemo()
        self._memo_shared = False
        # A clear replaced a corrupt head as found: what it listed is still stored.
        self._pages_left = False
        self.page_threshold = page_threshold
        self.max_session_bytes = max_session_bytes
        self._layout = Layout(page_threshold, max_session_bytes, ttl_seconds)
        self._client: DynamoDBClient | None = dynamodb_client
        # Set by from_config: the client shared in the background loop (_clients.py).
        self._open_client: SharedClient | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._closed = False
        # What this object last saw: `_known` False means nothing (assume absent
        # for a blind create; read before a pop); `_state` None means no item.
        self._known = False
        self._state: StoredItem | None = None

    def _coerce_settings(self, settings: Any) -> Any:
        """The settings as given; `DynamoDBSession` checks them against the SDK's type."""
        return settings

    def _resolve_limit(self, limit: int | None) -> Any:
        """The limit as given; `DynamoDBSession` falls back to ``session_settings.limit``."""
        return limit

    # ------------------------------------------------------------------ factory

    @classmethod
    def from_config(
        cls,
        session_id: str,
        table_name: str,
        ttl_seconds: int | None = None,
        *,
        region_name: str | None = None,
        profile_name: str | None = None,
        endpoint_url: str | None = None,
        client_config: Config | None = None,
        boto_session: Any = None,
        **options: Unpack[SessionOptions],
    ) -> Self:
        """Create a session whose client the library opens, shares and closes.

        Sessions made with the same configuration share one client. It lives in
        one background event-loop thread per process, and each DynamoDB call hops
        there from the caller's loop, so a session works from any loop or thread
        (``Runner.run_sync`` in request threads, repeated ``asyncio.run``) without
        opening a client per loop. The clients are closed at interpreter exit.

        Args:
            session_id: Unique id of the conversation.
            table_name: The DynamoDB table.
            ttl_seconds: Sliding expiry in seconds, or None.
            region_name: AWS region; defaults to the AWS configuration chain.
            profile_name: AWS profile from the shared config files.
            endpoint_url: A local endpoint such as ``http://127.0.0.1:8000``.
            client_config: A botocore ``Config``; the options it sets override
                `CLIENT_DEFAULTS` (1 s connect, 1.5 s read timeouts, 2 attempts).
            boto_session: An ``aioboto3.Session`` or a botocore session to take
                credentials and region from (instead of `profile_name`).
            **options: Keyword options of `DynamoDBSession.__init__`, type-checked.

        Raises:
            InvalidArgumentError: A bad option, profile, region or endpoint URL.
        """
        import aioboto3

        session = cls(session_id, None, table_name, ttl_seconds, **options)  # type: ignore[arg-type]
        config = client_config_with_defaults(
            client_config, session_id=session_id, table_name=table_name
        )
        origin: Any = ("profile", profile_name, region_name)
        if boto_session is not None:
            origin = ("boto_session", id(boto_session), region_name)

        def open_client() -> Any:
            # Called once per configuration, in the background loop: a new
            # aioboto3 session costs ~15 ms, so no from_config call makes one.
            chosen = boto_session
            if chosen is None:
                chosen = aioboto3.Session(profile_name=profile_name, region_name=region_name)
            elif not isinstance(chosen, aioboto3.Session):
                # A botocore (or aiobotocore) session: aioboto3 wraps it.
                chosen = aioboto3.Session(botocore_session=chosen, region_name=region_name)
            return chosen.client("dynamodb", endpoint_url=endpoint_url, config=config)

        key = (origin, endpoint_url, config_key(config), environment_key())
        session._open_client = SharedClient(key, open_client)
        return session

    async def _get_client(self) -> DynamoDBClient:
        self._check_open()
        if self._open_client is None:
            assert self._client is not None
            client = self._client
        else:
            with aws_errors(
                "opening the client",
                session_id=self.session_id,
                table_name=self.table_name,
                client_setup=True,
            ):
                client = await self._open_client.client()
        if not self._memo_shared:
            self._memo = shared_memo(client, self.table_name, self.session_id, self._memo)
            self._memo_shared = True
        return client

    def _read_storage_only(self) -> None:
        """Read every page and member list from the table: share nothing remembered."""
        self._memo = PageMemo()
        self._memo_shared = True

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(
                f"{describe(self.session_id, self.table_name)} was closed. Fix: create a new "
                "session object (closing is final, as for the SDK's own sessions).",
                session_id=self.session_id,
                table_name=self.table_name,
            )

    async def ping(self) -> bool:
        """Whether the table can be reached (see the module-level `ping`).

        Returns:
            True when DynamoDB answered; False (logged) when it did not, refused,
            or the session is closed.
        """
        try:
            client = await self._get_client()
        except SessionStoreError as exc:
            logger.warning("ping of table %r failed: %s", self.table_name, type(exc).__name__)
            return False
        return await ping(client, self.table_name)

    async def close(self) -> None:
        """Close this session object: every later operation raises `SessionClosedError`.

        An injected client is left open (it stays the caller's); a `from_config`
        client stays open for the other sessions that share it, and is closed
        at interpreter exit.
        """
        self._closed = True

    async def __aenter__(self) -> Self:
        """Open the owned client, if any; return the session."""
        await self._get_client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close what `close()` closes."""
        await self.close()

    # ------------------------------------------------------------ Session API

    async def get_items(
        self, limit: int | None = None, *, wrapper: Any = None
    ) -> list[TResponseInputItem]:
        """Retrieve the conversation history, oldest first.

        A paged session is read with one GetItem of its head plus, in parallel,
        consistent BatchGetItem reads of the pages that hold the items asked for:
        with `limit`, only the newest pages needed.

        Args:
            limit: Return only the newest `limit` items. None falls back to
                ``session_settings.limit``; 0 returns ``[]`` without a call.
            wrapper: The SDK's ``RunContextWrapper``, which the Runner passes to
                sessions whose four methods accept it; unused here (a subclass
                may read the turn's context from it).

        Returns:
            The items in chronological order; ``[]`` for an absent or expired session.

        Raises:
            OwnershipError: The stored session belongs to another owner than this
                object's ``owner=``; nothing was read or written.
            CorruptSessionError: The stored head or one of its pages is unreadable.
        """
        resolved = self._resolve_limit(limit)
        if resolved is not None and (
            isinstance(resolved, bool) or not isinstance(resolved, int) or resolved < 0
        ):
            raise InvalidArgumentError(
                f"limit must be None or a non-negative int, got {resolved!r} "
                f"({describe(self.session_id, self.table_name)}).",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        self._check_open()
        if resolved == 0:
            return []

        async def run(metrics: OperationMetrics) -> list[TResponseInputItem]:
            state = self._state
            if not (self._known and held_state(self, state, self._now())):
                # Inside a turn whose lease is live, what this object last wrote is
                # what is stored: no one else can write.
                state = await self._read(metrics, keep_items=True)
            items: list[Any] = await self._history(metrics, state, resolved)
            return items

        return await self._operation("get_items", run)

    async def add_items(self, items: list[TResponseInputItem], *, wrapper: Any = None) -> None:
        """Append items to the conversation, atomically and exactly once.

        Past `page_threshold`, older items move into pages in the same write.

        Args:
            items: The items, oldest first.
            wrapper: As for `get_items`.

        Raises:
            InvalidItemError: An item is not a JSON object of JSON values (or, with
                ``strict_items``, not an SDK input item). Nothing is stored.
            SessionTooLargeError: The history would pass `max_session_bytes`.
                Nothing is stored.
            OwnershipError: The stored session belongs to another owner than this
                object's ``owner=``; nothing was read or written.
            ConcurrentModificationError: Other writers kept winning past the retry bound.
            WriteOutcomeUnknownError: The answer was lost and whether the write
                landed can no longer be told.
        """
        self._check_open()
        encoded = encode_batch(
            items, strict=self.strict_items, session_id=self.session_id, table_name=self.table_name
        )
        if not encoded:
            return
        operation = Append(encoded, self.max_items)
        await self._operation("add_items", lambda m: self._mutate(m, operation), settle=True)

    async def pop_item(self, *, wrapper: Any = None) -> TResponseInputItem | None:
        """Remove and return the newest item, or None if the session is empty.

        Concurrent pops never return the same item twice. On a paged session the
        pop walks back into the pages; a page emptied by pops is deleted.

        Args:
            wrapper: As for `get_items`.

        Raises:
            CorruptSessionError: The stored head or its newest page is unreadable.
            OwnershipError: The stored session belongs to another owner than this
                object's ``owner=``; nothing was read or written.
            ConcurrentModificationError: Other writers kept winning past the retry bound.
            WriteOutcomeUnknownError: The answer was lost and whether the pop
                landed can no longer be told.
        """
        result: TResponseInputItem | None = await self._operation(
            "pop_item", lambda m: self._mutate(m, Pop()), settle=True
        )
        return result

    async def clear_session(self, *, wrapper: Any = None) -> None:
        """Delete the conversation: every item, pages included.

        The head is replaced by an empty one (a tombstone that expires after
        a day) with a write conditional on the version seen, like every other
        write; then the pages it listed are deleted. A late or resent write can
        therefore neither delete a conversation started after the clear nor
        bring the cleared one back.

        Args:
            wrapper: As for `get_items`.

        Raises:
            OwnershipError: The stored session belongs to another owner than this
                object's ``owner=``; nothing was read or written.
            ConcurrentModificationError: Other writers kept winning past the retry bound.
            DynamoDBError: The pages could not all be deleted; the conversation
                is cleared, and ``openai-agents-session sessions gc`` removes them.
        """

        async def run(metrics: OperationMetrics) -> None:
            try:
                await self._mutate(metrics, Clear())
            except CorruptSessionError:
                # Clearing is the way out of a corrupt item: replace it as found.
                await self._clear_corrupt(metrics)

        await self._operation("clear_session", run, settle=True)

    async def get_record(
        self, *, include_expired: bool = False, whole_history: bool = False
    ) -> SessionRecord | None:
        """Read the validated head record: its items, ``updated_at``, ``ttl``, ``pages``.

        For a paged session `conversation_data` holds the head's newest items only
        and `pages` indexes the rest, unless `whole_history` reads the pages too.

        Args:
            include_expired: Return a record whose ttl has passed (DynamoDB has not
                deleted it yet) instead of None.
            whole_history: Put the whole history, pages included, in
                `conversation_data` (`pages` still describes the layout).

        Returns:
            An instance of the session's `record` class (`SessionRecord` by
            default, with the team's attributes as stored), or None when there is
            no (live) item.

        Raises:
            CorruptSessionError: The head, or with `whole_history` a page, is
                unreadable, or a team attribute does not validate as declared.
            OwnershipError: The stored session belongs to another owner than this
                object's ``owner=``; nothing was read or written.
        """

        async def run(metrics: OperationMetrics) -> SessionRecord | None:
            for _ in range(_PAGE_READ_TRIES):
                raw = await self._get_raw(metrics, consistent=whole_history)
                if raw is None:
                    self._remember(None)
                    return None
                record = decode_record(
                    raw,
                    table_name=self.table_name,
                    record=self.record,
                    max_session_bytes=self.max_session_bytes,
                )
                state = self._decode(raw, keep_items=True)
                self._remember(state)
                if record.is_expired(self._now()) and not include_expired:
                    return None
                self._check_owner(state, include_expired=True)
                if not whole_history or record.pages is None:
                    return record
                loaded: dict[str, list[ConversationItem]] = {}
                missing = await self._load_pages(metrics, list(record.pages.pages), loaded)
                if not missing:
                    items = [i for ref in record.pages.pages for i in _page_view(ref, loaded)]
                    items.extend(state.items())
                    return record.model_copy(update={SCHEMA.payload: items})
                fresh = await self._get_raw(metrics, consistent=True)
                if fresh is not None and fresh.get(SCHEMA.version) == raw.get(SCHEMA.version):
                    raise self._missing_pages(missing)
            raise self._missing_pages(missing)

        return await self._operation("get_record", run)

    def _owner_within_prefix(self, values: Mapping[str, Any]) -> None:
        owner = values.get(SCHEMA.owner)
        if self.key_prefix is not None and owner is not None:
            within_prefix(
                owner, self.key_prefix, table_name=self.table_name, what="owner", of=self.session_id
            )

    @property
    def owner(self) -> str | None:
        """The owner this object was built with; None when it is unconstrained."""
        owner = self._attributes.get(SCHEMA.owner)
        return owner if isinstance(owner, str) else None

    def _check_owner(self, state: StoredItem | None, *, include_expired: bool = False) -> None:
        """Refuse a stored head that belongs to another owner than this object's.

        An expired head reads as absent, so it belongs to no one (unless the
        caller asked to see expired heads).
        """
        if state is None or (not include_expired and state.is_expired(self._now())):
            return
        self._check_stored_owner(state.extra.get(SCHEMA.owner))

    def _check_stored_owner(self, stored: Any) -> None:
        mine = self.owner
        if mine is None or stored is None:
            return  # unconstrained object, or an unowned session its first write claims
        if isinstance(stored, Mapping) and stored.get("S") == mine:
            return
        raise self._not_owner(mine)

    def _not_owner(self, mine: str) -> OwnershipError:
        # Neither the stored owner nor any stored text: the caller may be hostile.
        return OwnershipError(
            f"{describe(self.session_id, self.table_name)} belongs to another owner than "
            f"this session object's owner {mine!r}; nothing was read or written. Fix: build "
            "the session with the owner that was authenticated for it, or move the "
            "conversation with transfer_owner() through its owner's session object.",
            owner=mine,
            session_id=self.session_id,
            table_name=self.table_name,
        )

    # ------------------------------------------------------------------ turns

    def turn(
        self,
        *,
        key: str | None = None,
        wait: float = DEFAULT_WAIT,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> Turn:
        """Hold the conversation for one turn: ``async with session.turn(): await Runner.run(...)``.

        Entering takes a lease on the conversation, stored on its head (one
        conditional write, after one read on an object that has not read the
        session yet). While it is held, another `turn` on the conversation, from
        any object, process or host, waits, and every write from outside the turn
        raises `TurnInProgressError`, writing nothing. The turn's first
        `get_items` returns the history as it stands at the acquisition, from
        memory, so the model never starts from a stale one. The lease is renewed
        in the background every third of `lease_seconds` while the turn runs; a
        holder that dies blocks nobody past `lease_seconds`. Lease time is
        DynamoDB's clock (``time_source="dynamodb"``), so hosts whose clocks
        disagree agree on it. Leaving releases the lease (one write) and
        remembers `key`.

        The turn belongs to the task that entered it (and the tasks it starts):
        other tasks writing through the same object are outside it.

        Args:
            key: Names the turn (e.g. the SQS ``messageId``): once a turn with it
                finished, another raises `TurnAlreadyDoneError` without calling
                the model. The last 32 keys are remembered per conversation. A
                turn that raised before writing anything leaves its key free for
                a retry; one that wrote and then raised records it as failed
                (``TurnAlreadyDoneError.completed`` is False).
            wait: Seconds to wait for another turn (0 to 900), polling with
                backoff (about one read a second at most).
            lease_seconds: How long the lease holds without a renewal (1 to 3600).

        Returns:
            An async context manager (`openai_agents_session.turns.Turn`).

        Raises:
            InvalidArgumentError: A bad `key`, `wait` or `lease_seconds`.
        """
        return Turn(self, key=key, wait=wait, lease_seconds=lease_seconds)

    async def _snapshot(
        self, metrics: OperationMetrics
    ) -> tuple[StoredItem | None, list[ConversationItem]]:
        """The whole history at one version: a consistent head read, then its pages."""
        missing: set[str] = set()
        seen = None
        for _ in range(_PAGE_READ_TRIES):
            state = await self._read(metrics, keep_items=True, consistent=True)
            if state is None or state.is_expired(self._now()):
                return None, []
            if seen is not None and state.updated_at == seen:
                break  # the same head lists a page that is gone: corrupt
            loaded: dict[str, list[ConversationItem]] = {}
            missing = await self._load_pages(metrics, list(state.page_refs), loaded)
            if not missing:
                items = [i for ref in state.page_refs for i in _page_view(ref, loaded)]
                items.extend(state.items())
                return state, items
            # Pages go only after a head that no longer lists them landed: read again.
            seen = state.updated_at
        raise self._missing_pages(missing)

    # -------------------------------------------------------------- internals

    def _loop_lock(self) -> asyncio.Lock:
        """This object's lock in the running loop: operations in one loop take turns.

        Operations from different loops (threads) are not serialised here; every
        write is conditional, so they cannot lose or duplicate anything either.
        """
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    def _remember(self, state: StoredItem | None) -> None:
        self._known = True
        self._state = state

    def _forget(self) -> None:
        self._known = False
        self._state = None

    async def _operation(
        self,
        name: str,
        body: Callable[[OperationMetrics], Awaitable[_T]],
        *,
        settle: bool = False,
    ) -> _T:
        self._check_open()
        metrics = OperationMetrics(name, self.session_id, self.table_name)
        if settle:
            return await self._settled(metrics, self._run(metrics, body))
        return await self._run(metrics, body)

    async def _settled(self, metrics: OperationMetrics, work: Coroutine[Any, Any, _T]) -> _T:
        """Run a mutation so that a caller's cancellation never leaves it half known.

        Cancelled before any write was sent (queued behind another operation on
        this object, or still reading), the mutation stops and writes nothing.
        Cancelled after, the write settles first, for at most `settle_timeout`
        seconds; past that the session forgets what it knew and raises
        `WriteOutcomeUnknownError`. Either way the caller's cancellation is
        re-raised once the write has settled.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(work)
        cancelled: asyncio.CancelledError | None = None
        deadline: float | None = None
        while not task.done():
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                await asyncio.wait({task}, timeout=timeout)
            except asyncio.CancelledError as exc:
                cancelled = cancelled or exc
                if metrics.attempts == 0:
                    task.cancel()  # nothing sent yet: stopping is exact
                elif deadline is None:
                    deadline = loop.time() + self.settle_timeout
                continue
            if deadline is not None and loop.time() >= deadline and not task.done():
                task.cancel()
                await asyncio.wait({task})
                self._forget()
                raise WriteOutcomeUnknownError(
                    f"{metrics.operation} on {describe(self.session_id, self.table_name)} "
                    f"was cancelled with a write in flight that did not settle within "
                    f"settle_timeout ({self.settle_timeout:g} s): it may or may not have "
                    "landed. Fix: read the session before writing again; raise "
                    "settle_timeout, or lower the client's timeouts.",
                    outcome_unknown=True,
                    session_id=self.session_id,
                    table_name=self.table_name,
                ) from cancelled
        try:
            if cancelled is not None:
                if not task.cancelled() and task.exception() is not None:
                    logger.debug("mutation failed while its caller was cancelled", exc_info=True)
                raise cancelled
            return task.result()
        finally:
            # The error's traceback holds this frame: without the task in it there
            # is no cycle, so what the failed attempt read is freed with the error.
            del task

    async def _run(
        self, metrics: OperationMetrics, body: Callable[[OperationMetrics], Awaitable[_T]]
    ) -> _T:
        try:
            async with self._loop_lock():
                return await body(metrics)
        except BaseException as exc:
            metrics.error = type(exc).__name__
            raise
        finally:
            metrics.duration = time.perf_counter() - metrics._started
            self._emit(metrics)

    def _emit(self, metrics: OperationMetrics) -> None:
        logger.debug(
            "%s %s: %d call(s), %d conflict(s), %.1f capacity units",
            metrics.operation,
            metrics.session_id,
            metrics.calls,
            metrics.conflicts,
            metrics.consumed_capacity,
            extra={
                "session_id": metrics.session_id,
                "table_name": metrics.table_name,
                "operation": metrics.operation,
                "attempts": metrics.attempts,
                "conflicts": metrics.conflicts,
                "consumed_capacity": metrics.consumed_capacity,
                "calls": metrics.calls,
                "duration": metrics.duration,
                "error": metrics.error,
            },
        )
        if self.on_operation is not None:
            try:
                self.on_operation(metrics)
            except Exception:
                logger.exception("on_operation hook failed for session %r", self.session_id)

    def _now(self) -> float:
        """Unix time on the shared clock (DynamoDB's, once a response told it)."""
        if self.time_source == "host" or self._server_time is None:
            return self._clock()
        return self._server_time.now(self._clock)

    async def _call(self, metrics: OperationMetrics, method: str, **request: Any) -> Any:
        client = await self._get_client()
        if self._server_time is None:
            self._server_time = ServerClock.of(client)
        metrics.calls += 1
        try:
            try:
                response = await getattr(client, method)(**request)
            except (HTTPClientError, BotoConnectionError) as exc:
                foreign = _loop_error(exc)
                if foreign is None:
                    raise
                raise foreign from exc
        except RuntimeError as exc:
            if "loop" not in str(exc).lower():
                raise
            raise InvalidArgumentError(
                f"The DynamoDB client of {describe(self.session_id, self.table_name)} belongs "
                f"to another event loop ({exc}). Fix: create the client in the loop that "
                "uses the session, or use DynamoDBSession.from_config, whose client "
                "serves every loop and thread.",
                session_id=self.session_id,
                table_name=self.table_name,
            ) from exc
        except ClientError as exc:
            metrics._record(exc.response)  # type: ignore[arg-type]
            self._server_time.observe(exc.response)
            raise
        except (HTTPClientError, BotoConnectionError) as exc:
            raise _Transport(str(exc)) from exc
        except BotoCoreError as exc:
            raise translate(
                exc,
                operation=metrics.operation,
                session_id=self.session_id,
                table_name=self.table_name,
            ) from exc
        metrics._record(response)
        self._server_time.observe(response)
        return response

    def _service_error(
        self,
        exc: ClientError,
        operation: str,
        *,
        outcome_unknown: bool = False,
        size: int | None = None,
    ) -> SessionStoreError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        detail = str(error.get("Message", ""))
        if code == "ValidationException" and "size" in detail.lower():
            return SessionTooLargeError(
                f"DynamoDB refused the item of {describe(self.session_id, self.table_name)} "
                f"as too large: {detail}. Fix: set max_items, or clear old history.",
                # The endpoint counted more than DynamoDB's published rule gives;
                # report the rule's figure, which the caller can act on.
                size=ITEM_SIZE_LIMIT + 1 if size is None else size,
                limit=ITEM_SIZE_LIMIT,
                session_id=self.session_id,
                table_name=self.table_name,
            )
        mapped = error_for_code(
            code,
            detail,
            operation=operation,
            session_id=self.session_id,
            table_name=self.table_name,
        )
        mapped.outcome_unknown = outcome_unknown
        return mapped

    def _unavailable(
        self, exc: BaseException, *, outcome_unknown: bool
    ) -> DynamoDBUnavailableError:
        unknown = (
            " The last write may or may not have been applied: read the session "
            "before writing again."
            if outcome_unknown
            else ""
        )
        return DynamoDBUnavailableError(
            f"DynamoDB did not answer for {describe(self.session_id, self.table_name)} "
            f"after the client's retries: {exc}.{unknown} Fix: check the endpoint, "
            "network and the client's timeouts.",
            outcome_unknown=outcome_unknown,
            session_id=self.session_id,
            table_name=self.table_name,
        )

    def _unknown_outcome(self, exc: BaseException) -> DynamoDBUnavailableError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            return DynamoDBUnavailableError(
                f"DynamoDB answered {error.get('Code', 'a server error')} to a write of "
                f"{describe(self.session_id, self.table_name)}, and reading the session did "
                "not show whether the write landed. Fix: read the session before writing "
                "again.",
                outcome_unknown=True,
                session_id=self.session_id,
                table_name=self.table_name,
            )
        return self._unavailable(exc, outcome_unknown=True)

    def _forgotten(self, metrics: OperationMetrics) -> WriteOutcomeUnknownError:
        return WriteOutcomeUnknownError(
            f"{metrics.operation} on {describe(self.session_id, self.table_name)}: the "
            f"answer to a write was lost and {RECENT_WRITES_KEPT} or more other writes "
            "landed before the client resent it, so whether it was applied can no longer "
            "be told. Fix: read the session before writing again; fewer concurrent "
            "writers on one session, or a shorter client retry backoff, make this rarer.",
            outcome_unknown=True,
            session_id=self.session_id,
            table_name=self.table_name,
        )

    async def _get_raw(
        self, metrics: OperationMetrics, *, outcome_unknown: bool = False, consistent: bool = False
    ) -> dict[str, Any] | None:
        try:
            response = await self._call(
                metrics,
                "get_item",
                TableName=self.table_name,
                Key=encode_key(self.session_id),
                ConsistentRead=self.consistent_read or consistent,
                ReturnConsumedCapacity="TOTAL",
            )
        except ClientError as exc:
            raise self._service_error(
                exc, metrics.operation, outcome_unknown=outcome_unknown
            ) from exc
        except _Transport as exc:
            raise self._unavailable(exc, outcome_unknown=outcome_unknown) from exc
        item: dict[str, Any] | None = response.get("Item")
        return item

    async def _read(
        self,
        metrics: OperationMetrics,
        *,
        outcome_unknown: bool = False,
        keep_items: bool = False,
        consistent: bool = False,
    ) -> StoredItem | None:
        raw = await self._get_raw(metrics, outcome_unknown=outcome_unknown, consistent=consistent)
        state = None if raw is None else self._decode(raw, keep_items=keep_items)
        self._remember(state)
        self._check_owner(state)
        return state

    def _decode(self, raw: Mapping[str, Any], *, keep_items: bool = False) -> StoredItem:
        """Decode a head, its page index checked against this session's cap."""
        return decode_item(
            raw,
            table_name=self.table_name,
            keep_items=keep_items,
            max_session_bytes=self.max_session_bytes,
        )

    async def _history(
        self, metrics: OperationMetrics, state: StoredItem | None, limit: int | None
    ) -> list[ConversationItem]:
        """The newest `limit` items (all with None) of a state, reading its pages."""
        for _ in range(_PAGE_READ_TRIES):
            if state is None or state.is_expired(self._now()):
                return []
            head = state.items()
            if limit is not None and len(head) >= limit:
                return head[-limit:]
            needed: list[PageRef] = []
            want = None if limit is None else limit - len(head)
            for ref in reversed(state.page_refs):
                if want is not None and want <= 0:
                    break
                needed.append(ref)
                if want is not None:
                    want -= ref.length
            # Pages never change: one read or written before, by this object or
            # another of this session on the same client, is served from memory.
            loaded = {}
            for ref in needed:
                cached = self._memo.page(ref)
                if cached is not None:
                    loaded[ref.id] = cached
            missing = await self._load_pages(
                metrics, [r for r in needed if r.id not in loaded], loaded
            )
            if not missing:
                self._keep_pages(state.page_refs, loaded)
                items = [i for ref in reversed(needed) for i in _page_view(ref, loaded)]
                items.extend(head)
                return items if limit is None else items[-limit:]
            # Pages are deleted only after a head that no longer lists them is
            # committed: this head is stale. Read it again, consistently.
            seen = state.updated_at
            state = await self._read(metrics, keep_items=True, consistent=True)
            if state is not None and state.updated_at == seen:
                raise self._missing_pages(missing)
        raise self._missing_pages(missing)

    def _missing_pages(self, missing: set[str]) -> CorruptSessionError:
        return CorruptSessionError(
            f"Stored {describe(self.session_id, self.table_name)} is corrupt: its head "
            f"lists page(s) {sorted(missing)} that do not exist. Fix: export what is left "
            "with `openai-agents-session sessions export`, then clear the session.",
            session_id=self.session_id,
            table_name=self.table_name,
        )

    async def _mutate(self, metrics: OperationMetrics, operation: Operation) -> Any:
        """Run an operation to a landed write (or a typed error): plan, attempt, outcome."""
        run = _Run(operation)
        try:
            while True:
                plan = await self._plan(metrics, run)
                # Every way back to the top counts: a write sent, or a pass that had
                # to look at the state again first (pages gone, memory stale).
                if plan is None:
                    run.replans += 1
                if (
                    metrics.attempts >= self.retry.max_attempts
                    or run.replans > self.retry.max_attempts
                    or (
                        (metrics.attempts or run.replans)
                        and metrics.elapsed >= self.retry.max_elapsed
                    )
                ):
                    raise self._lost_the_race(metrics, run.replans)
                if plan is None:
                    continue
                metrics.attempts += 1
                outcome, plan = await self._send(metrics, run, plan)
                if outcome is None:
                    return await self._written(metrics, run, plan)
                await self._after(metrics, run, plan, outcome)
        except _Settled as settled:
            return settled.result

    async def _recognise(
        self, metrics: OperationMetrics, run: _Run, state: StoredItem | None
    ) -> None:
        """Raise `_Settled` if `state` holds one of the writes that may have landed."""
        if state is None:
            return
        for plan in run.maybe_applied:
            if state.applied(plan.version):
                await self._release(metrics, plan.released, strict=run.operation.tombstones)
                raise _Settled(plan.result)
        # Versions only grow along an item's history and recent_writes keeps the
        # newest ones, so it covers every write since its oldest entry. A write
        # older than that may have landed and been pushed out.
        oldest = min(state.recent_writes, default=state.updated_at)
        if any(plan.version < oldest for plan in run.maybe_applied):
            raise self._forgotten(metrics)

    async def _resolve(
        self, metrics: OperationMetrics, run: _Run, *, consistent: bool = False
    ) -> StoredItem | None:
        """Read the item, and settle if a write that may have landed did."""
        read = self._read(metrics, outcome_unknown=bool(run.maybe_applied), consistent=consistent)
        state = await (self._one_attempt(read) if run.unanswered else read)
        run.fresh = True
        await self._recognise(metrics, run, state)
        return state

    async def _one_attempt(self, read: Coroutine[Any, Any, _T]) -> _T:
        """Give `read` one attempt's time: the read that follows an unanswered write.

        The write already spent all of the client's attempts on an endpoint that
        did not answer. Its outcome read gets one more read timeout, not another
        full round of retries, so that a dead endpoint is a typed error within
        about 5 s at the default settings (2 x 1.5 s and botocore's backoff of
        up to 1 s for the write, 1.5 s here) rather than 7.4. A read cut short
        changes nothing stored.
        """
        client = await self._get_client()
        config = getattr(getattr(client, "meta", None), "config", None)
        timeout = getattr(config, "read_timeout", None)
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            return await read
        try:
            return await asyncio.wait_for(read, float(timeout))
        except asyncio.TimeoutError as exc:
            raise self._unavailable(
                TimeoutError(f"no answer within {timeout:g} s"), outcome_unknown=True
            ) from exc

    async def _plan(self, metrics: OperationMetrics, run: _Run) -> WritePlan | None:
        """The next attempt's plan; None when the state must be looked at again first."""
        if not self._known:
            if run.maybe_applied or run.operation.needs_state:
                # Unknown state: a pop must see the items; after a broken write,
                # find out what happened before anything else.
                await self._resolve(metrics, run)
            else:
                self._remember(None)  # blind create; the condition checks the guess
        state = self._state
        run.clock_unknown = self._clock_unknown()
        now = self._now()
        # A touch fixes the TTL this object just wrote on a clock found behind.
        expired = (
            state is not None and state.is_expired(now) and not isinstance(run.operation, Touch)
        )
        # The write is conditional on this very state: checking its owner here
        # is the whole check, with no extra call (a failed condition hands back,
        # or makes us read, the state that is then checked in turn).
        self._check_owner(None if expired else state)
        base = None if expired else state
        needed = []
        for ref in run.operation.pages_needed(base):
            if ref.id in run.loaded:
                continue
            cached = self._memo.page(ref)
            if cached is None:
                needed.append(ref)
            else:
                run.loaded[ref.id] = cached
        if needed and not await self._pages_loaded(metrics, run, state, needed):
            return None
        change = run.operation.apply(base, run.loaded)
        if isinstance(change, Skip):
            raise _Settled(change.result)
        if change is None:
            if run.fresh:
                raise _Settled(None)
            self._forget()  # an empty memory may be stale: confirm with a read
            return None
        while True:
            try:
                plan = plan_write(
                    state,
                    change,
                    expired=expired,
                    session_id=self.session_id,
                    table_name=self.table_name,
                    now=now,
                    layout=self._layout,
                    operation=metrics.operation,
                    loaded=run.loaded,
                    team=self._team,
                    members={**self._memo.members, **run.expired_members},
                )
                # The turn lease: kept by its holder, refused to others while live.
                return fence(plan, base, run.operation, now, self)
            except TurnInProgressError:
                if run.fresh:
                    raise
                await self._resolve(metrics, run)  # refuse on what is stored, not a memory
                return None
            except NeedMembers as need:
                # Each names a composite not loaded yet, and a composite is loaded
                # or the pass ends: this loop runs at most once per listed page.
                if expired:
                    # An expired head's pages expire after it, and DynamoDB may
                    # have deleted some already: release what can still be named.
                    await self._members_of_expired(metrics, run, need.refs)
                    continue
                missing = await self._load_members(metrics, need.refs)
                if missing and not await self._page_gone(metrics, run, state, missing):
                    return None

    async def _pages_loaded(
        self, metrics: OperationMetrics, run: _Run, state: StoredItem | None, refs: list[PageRef]
    ) -> bool:
        """Load `refs` into the run; False when one is gone and the head has changed.

        Pages are deleted only after a head that no longer lists them landed, so
        a missing page means the head in hand is stale: read it again,
        consistently. If it is the same version, the page is lost for good.

        Raises:
            CorruptSessionError: The head is unchanged, yet a page it lists is gone.
        """
        missing = await self._load_pages(metrics, refs, run.loaded)
        if not missing:
            return True
        return await self._page_gone(metrics, run, state, missing)

    async def _page_gone(
        self, metrics: OperationMetrics, run: _Run, state: StoredItem | None, missing: set[str]
    ) -> bool:
        """Read the head again after `missing` pages were not found; always False.

        Raises:
            CorruptSessionError: The head is unchanged, yet a page it lists is gone.
        """
        fresh = await self._resolve(metrics, run, consistent=True)
        if state is not None and fresh is not None and fresh.updated_at == state.updated_at:
            raise self._missing_pages(missing)
        return False

    def _ttl_behind(self, state: StoredItem | None) -> bool:
        if state is None or state.ttl is None or self.ttl_seconds is None:
            return False
        return state.ttl < int(self._now()) + self.ttl_seconds - _TTL_TOLERANCE

    def _clock_unknown(self) -> bool:
        return (
            self.ttl_seconds is not None
            and self.time_source == "dynamodb"
            and not (self._server_time is not None and self._server_time.known)
        )

    async def _written(self, metrics: OperationMetrics, run: _Run, plan: WritePlan) -> Any:
        metrics.item_size = plan.size
        metrics.items_written = plan.items_written
        self._warn_size(plan)
        self._remember(plan.state)
        self._memo.add_members(plan.fresh_members)
        refs = plan.state.page_refs if plan.state is not None else ()
        self._keep_pages(refs, {**run.loaded, **plan.fresh_pages})
        if run.clock_unknown and self._ttl_behind(plan.state):
            # The first response told the shared clock, and this host's is behind:
            # rewrite the TTL now rather than read before every first write. The
            # operation itself has landed, so a failure here must not report it failed.
            try:
                await self._mutate(metrics, Touch())
            except SessionStoreError as exc:
                logger.warning(
                    "could not rewrite the TTL of session %r in table %r: %s",
                    self.session_id,
                    self.table_name,
                    type(exc).__name__,
                )
        await self._release(metrics, plan.released, strict=run.operation.tombstones)
        return plan.result

    async def _after(
        self, metrics: OperationMetrics, run: _Run, plan: WritePlan, outcome: Outcome
    ) -> None:
        """Act on an attempt that did not land for sure; return to try again."""
        if isinstance(outcome, Lost):
            # Retrying is safe: the condition lets at most one of our copies land,
            # and the read before the next attempt recognises any copy that did.
            run.maybe_applied.append(plan)
            run.broken_writes += 1
            run.unanswered = isinstance(outcome.error, _Transport)
            self._forget()
            logger.info(
                "write outcome unknown for session %r (%s); reading to resolve",
                self.session_id,
                type(outcome.error).__name__,
            )
            if run.broken_writes >= _BROKEN_WRITES_TRIED:
                await self._resolve(metrics, run)
                raise self._unknown_outcome(outcome.error) from outcome.error
            return
        if outcome.maybe_applied:
            run.maybe_applied.append(plan)
        elif plan.page_items:
            # The write provably did not land: its pages will never be listed.
            await self._release(metrics, _keys_of(plan.page_items), strict=False)
        if isinstance(outcome, Failed):
            if run.maybe_applied:
                self._forget()
                await self._resolve(metrics, run)
            raise self._service_error(
                outcome.error, metrics.operation, size=plan.size
            ) from outcome.error
        metrics.conflicts += 1
        if outcome.item is not None:
            self._remember(self._decode(outcome.item))
            run.fresh = True
            await self._recognise(metrics, run, self._state)
        else:
            # Absent item, or an endpoint that does not return it (dynalite).
            await self._resolve(metrics, run)
        delay = min(self.retry.delay(metrics.conflicts), self.retry.max_elapsed - metrics.elapsed)
        if delay > 0:
            # Contention, not a stale memory: back off, and then re-read, because
            # the state handed back before the sleep is stale by now.
            await asyncio.sleep(delay)
            await self._resolve(metrics, run)

    def _lost_the_race(
        self, metrics: OperationMetrics, replans: int = 0
    ) -> ConcurrentModificationError:
        # Re-reads forced by pages that a newer head released count as lost races too.
        reread = f" (and {replans} re-reads of a head that kept changing)" if replans else ""
        return ConcurrentModificationError(
            f"{metrics.operation} on {describe(self.session_id, self.table_name)} "
            f"lost the race {metrics.conflicts} times in {metrics.attempts} "
            f"conditional writes{reread} and {metrics.elapsed:.1f} s. Nothing of it was stored. "
            "Fix: retry later, reduce concurrent writers on one session, or raise "
            "RetryPolicy.max_attempts or max_elapsed.",
            attempts=metrics.attempts,
            session_id=self.session_id,
            table_name=self.table_name,
        )

    async def _clear_corrupt(self, metrics: OperationMetrics) -> None:
        """Replace an item that does not decode with a tombstone, conditional on it as found."""
        for _ in range(self.retry.max_attempts):
            raw = await self._get_raw(metrics, consistent=True)
            if raw is None:
                self._remember(None)
                return
            self._check_stored_owner(raw.get(SCHEMA.owner))
            try:
                state = self._decode(raw)
            except CorruptSessionError:
                state = None
            if state is not None:
                try:
                    await self._mutate(metrics, Clear())
                    return
                except CorruptSessionError:
                    # The head decodes, but a composite page it lists is gone or
                    # damaged, so its members cannot be named: replace the head as
                    # found, and leave what it listed for `sessions gc`.
                    pass
            plan = plan_write(
                None,
                Clear().apply(None, {}),
                expired=False,
                session_id=self.session_id,
                table_name=self.table_name,
                now=self._now(),
                layout=self._layout,
                operation=metrics.operation,
            )
            # The version attribute may be missing or mistyped: match it exactly as stored.
            version = raw.get(SCHEMA.version)
            condition: dict[str, Any] = {
                "ExpressionAttributeNames": {"#v": SCHEMA.version},
                "ConditionExpression": "attribute_not_exists(#v)",
            }
            if version is not None:
                condition["ConditionExpression"] = "#v = :v"
                condition["ExpressionAttributeValues"] = {":v": version}
            owner = raw.get(SCHEMA.owner)
            if isinstance(owner, Mapping) and isinstance(owner.get("S"), str) and owner["S"]:
                # As every tombstone: the owner stays, so the id stays in the owner's index.
                kept = {SCHEMA.owner: {"S": owner["S"]}}
                assert plan.state is not None
                plan = replace(
                    plan, item={**plan.item, **kept}, state=replace(plan.state, extra=kept)
                )
            metrics.attempts += 1
            outcome = await self._commit(metrics, replace(plan, condition=condition))
            if outcome is None:
                self._remember(plan.state)
                # The erase, which must leave nothing, then deletes every page
                # that names the session (a Scan); a plain clear leaves them to gc.
                self._pages_left = True
                logger.warning(
                    "cleared corrupt session %r in table %r; any pages it listed are left "
                    "for `sessions gc`",
                    self.session_id,
                    self.table_name,
                )
                return
            if isinstance(outcome, Failed):
                raise self._service_error(outcome.error, metrics.operation) from outcome.error
            if isinstance(outcome, Lost):
                self._forget()
        raise ConcurrentModificationError(
            f"{metrics.operation} on {describe(self.session_id, self.table_name)} could not "
            f"replace the corrupt item in {self.retry.max_attempts} conditional writes. Fix: "
            "retry later.",
            attempts=metrics.attempts,
            session_id=self.session_id,
            table_name=self.table_name,
        )

    async def _send(
        self, metrics: OperationMetrics, run: _Run, plan: WritePlan
    ) -> tuple[Outcome | None, WritePlan]:
        """Send one attempt: how it ended (None: landed), and the plan as sent.

        A plan that may go as one transaction (`WritePlan.transact`) sends its
        page parts in the head's TransactWriteItems. The plan as sent then has
        no parts written before the commit: a cancelled transaction leaves
        none to release.
        """
        guard = run.operation.guard if isinstance(run.operation, ForkInto) else None
        if guard is None and plan.transact:
            outcome = await self._commit_sealed(metrics, plan)
            if outcome is not _Untransacted.UNSUPPORTED:
                return outcome, replace(plan, page_items=[])
        await self._prepare(metrics, plan)
        if guard is None:
            return await self._commit(metrics, plan), plan
        return await self._commit_fork(metrics, run, plan, guard), plan

    def _head_put(self, plan: WritePlan) -> dict[str, Any]:
        """The head's conditional Put, handing the current item back if it fails."""
        return {
            "TableName": self.table_name,
            "Item": plan.item,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **plan.condition,
        }

    async def _commit(self, metrics: OperationMetrics, plan: WritePlan) -> Outcome | None:
        """Send the head's conditional PutItem; None when it landed."""
        try:
            await self._call(
                metrics, "put_item", ReturnConsumedCapacity="TOTAL", **self._head_put(plan)
            )
        except _Transport as exc:
            return Lost(exc)
        except ClientError as exc:
            return classify(exc)
        return None

    async def _transact(
        self, metrics: OperationMetrics, actions: list[dict[str, Any]], *, head: int
    ) -> Outcome | _Untransacted | None:
        """Send a TransactWriteItems whose action `head` is the head's Put; None: landed.

        An endpoint without transactions is learned once per client, with one
        warning, and then `UNSUPPORTED` is returned at once.
        """
        client = await self._get_client()
        if lacks_transactions(client):
            return _Untransacted.UNSUPPORTED
        try:
            await self._call(
                metrics,
                "transact_write_items",
                TransactItems=actions,
                ReturnConsumedCapacity="TOTAL",
            )
        except _Transport as exc:
            return Lost(exc)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "UnknownOperationException":
                lacks_transactions(client, learned=True)
                logger.warning(
                    "the endpoint of table %r has no TransactWriteItems: a fork is checked "
                    "against its source after its write, not atomically, and an append "
                    "that seals a segment takes two calls",
                    self.table_name,
                )
                return _Untransacted.UNSUPPORTED
            outcome = transaction_outcome(exc, head=head)
            return _Untransacted.OTHER_CHECK_FAILED if outcome is None else outcome
        return None

    async def _commit_sealed(
        self, metrics: OperationMetrics, plan: WritePlan
    ) -> Outcome | Literal[_Untransacted.UNSUPPORTED] | None:
        """Put a seal's new page parts and the head in one TransactWriteItems.

        Each part is a fresh random key, put only if absent; the head's Put
        comes last, with its usual condition. Same guarantees as `_commit`:
        a failed head condition is a `Conflict` (nothing of it landed), a lost
        answer is `Lost` (`recent_writes` tells later whether it landed).
        """
        fresh = {
            "ConditionExpression": "attribute_not_exists(#k)",
            "ExpressionAttributeNames": {"#k": SCHEMA.partition_key},
        }
        parts = [
            {"Put": {"TableName": self.table_name, "Item": p, **fresh}} for p in plan.page_items
        ]
        ended = await self._transact(
            metrics, [*parts, {"Put": self._head_put(plan)}], head=len(parts)
        )
        if ended is _Untransacted.OTHER_CHECK_FAILED:
            # A part's key was taken (the head's condition held, so no copy of
            # this write landed): nothing landed; read, then seal under new keys.
            return Conflict(None, maybe_applied=False)
        return ended

    async def _commit_fork(
        self, metrics: OperationMetrics, run: _Run, plan: WritePlan, guard: SourceGuard
    ) -> Outcome | None:
        """Commit a fork's head only while its source still holds what was copied.

        One TransactWriteItems (the head's conditional Put and a ConditionCheck
        on the source); an endpoint without transactions gets the plain Put,
        and `fork` checks the source after it.

        Raises:
            ConcurrentModificationError: The source was cleared or erased since
                it was copied; no copy landed, and the pages written for it are
                deleted.
        """
        ended = await self._transact(
            metrics,
            [
                {"Put": self._head_put(plan)},
                {"ConditionCheck": guard.condition_check(self.table_name)},
            ],
            head=0,
        )
        if ended is _Untransacted.UNSUPPORTED:
            return await self._commit(metrics, plan)
        if ended is not _Untransacted.OTHER_CHECK_FAILED:
            return ended
        # The target's condition held, so none of this run's writes landed (a
        # landed one would have moved the target): every page written is unlisted.
        written = [plan, *run.maybe_applied]
        await self._release(
            metrics, [k for p in written for k in _keys_of(p.page_items)], strict=False
        )
        raise self._source_moved(guard, metrics.attempts)

    def _source_moved(self, guard: SourceGuard, attempts: int) -> ConcurrentModificationError:
        return ConcurrentModificationError(
            f"fork of {describe(guard.session_id, self.table_name)} into "
            f"{self.session_id!r}: the source was cleared or erased after it was copied, "
            "so the copy was not kept; nothing of it is stored. Fix: fork again from the "
            "source as it is now, if it still holds what you meant to copy.",
            attempts=attempts,
            session_id=guard.session_id,
            table_name=self.table_name,
        )

    # ------------------------------------------------------------------ pages

    async def _prepare(self, metrics: OperationMetrics, plan: WritePlan) -> None:
        """Write a plan's new pages and move page TTLs: everything before the commit."""
        jobs: list[Awaitable[None]] = []
        if plan.page_items:
            requests = [{"PutRequest": {"Item": item}} for item in plan.page_items]
            jobs.append(self._batch_write(metrics, requests))
        if plan.restamp is not None:
            jobs.extend(self._restamp(metrics, key, plan.restamp.ttl) for key in plan.restamp.keys)
        await _all(jobs)

    async def _restamp(self, metrics: OperationMetrics, key: str, ttl: int | None) -> None:
        # TTLs only ever move later (or go), so concurrent re-stamps cannot
        # shorten a page's life. A failed condition means the page is already
        # stamped later, or gone because the head changed, and then our commit
        # fails its own condition.
        names = {"#k": SCHEMA.partition_key, "#t": SCHEMA.ttl}
        if ttl is None:
            update: dict[str, Any] = {
                "UpdateExpression": "REMOVE #t",
                "ConditionExpression": "attribute_exists(#k)",
            }
        else:
            update = {
                "UpdateExpression": "SET #t = :t",
                "ConditionExpression": "attribute_exists(#k) AND #t < :t",
                "ExpressionAttributeValues": {":t": {"N": str(ttl)}},
            }
        try:
            await self._call(
                metrics,
                "update_item",
                TableName=self.table_name,
                Key=encode_key(key),
                ExpressionAttributeNames=names,
                ReturnConsumedCapacity="TOTAL",
                **update,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self._service_error(exc, metrics.operation) from exc
        except _Transport as exc:
            raise self._unavailable(exc, outcome_unknown=False) from exc

    async def _release(self, metrics: OperationMetrics, keys: list[str], *, strict: bool) -> None:
        """Delete pages no head lists any more (after the commit that dropped them)."""
        if not keys:
            return
        requests = [{"DeleteRequest": {"Key": encode_key(key)}} for key in keys]
        try:
            await self._batch_write(metrics, requests)
        except SessionStoreError as exc:
            if strict:
                raise DynamoDBError(
                    f"{metrics.operation} on {describe(self.session_id, self.table_name)} "
                    f"took effect, but {len(keys)} page item(s) could not be deleted: "
                    f"{exc}. Fix: run `openai-agents-session sessions gc --table "
                    f"{self.table_name}`, which removes unreferenced pages.",
                    session_id=self.session_id,
                    table_name=self.table_name,
                ) from exc
            logger.warning(
                "%d unreferenced page item(s) of session %r in table %r were left for gc: %s",
                len(keys),
                self.session_id,
                self.table_name,
                type(exc).__name__,
            )

    async def _batch_write(self, metrics: OperationMetrics, requests: list[Any]) -> None:
        chunks = [requests[i : i + _BATCH_WRITE] for i in range(0, len(requests), _BATCH_WRITE)]
        await _all([self._batch_write_chunk(metrics, chunk) for chunk in chunks])

    async def _batch_write_chunk(self, metrics: OperationMetrics, requests: list[Any]) -> None:
        await self._batched(
            metrics, "batch_write_item", {self.table_name: requests}, "UnprocessedItems"
        )

    async def _batched(
        self,
        metrics: OperationMetrics,
        method: str,
        pending: dict[str, Any],
        leftover: str,
        collect: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Send a batch request until DynamoDB has processed all of it (bounded, with backoff)."""
        for attempt in range(_UNPROCESSED_TRIES):
            try:
                response = await self._call(
                    metrics, method, RequestItems=pending, ReturnConsumedCapacity="TOTAL"
                )
            except ClientError as exc:
                raise self._service_error(exc, metrics.operation) from exc
            except _Transport as exc:
                raise self._unavailable(exc, outcome_unknown=False) from exc
            if collect is not None:
                collect(response)
            pending = response.get(leftover) or {}
            if not pending:
                return
            await asyncio.sleep(self.retry.delay(attempt + 2))
        raise self._unprocessed(method)

    def _keep_pages(
        self, refs: Sequence[PageRef], known: Mapping[str, list[ConversationItem]]
    ) -> None:
        """Remember the newest pages' items (at most _CACHED_PAGES segments of
        under 64 KB, or one page): the next pop or short read, by this object or
        a new one on the same client, then needs no page read."""
        keep = [*refs[-1:], *segment_tier(refs)[-_CACHED_PAGES:]]
        self._memo.keep_pages(list(dict.fromkeys(keep)), known)

    async def _load_pages(
        self,
        metrics: OperationMetrics,
        refs: list[PageRef],
        loaded: dict[str, list[ConversationItem]],
    ) -> set[str]:
        """Read and decode pages into `loaded`; return the ids of pages not found.

        A composite's items are its members' views, in order: its member list
        is read with the plain pages listed (in the same requests), then its
        members. A missing member counts as its composite missing.
        """
        composites = [r for r in refs if is_composite(r) and r.id not in loaded]
        unread = [r for r in composites if r.id not in self._memo.members]
        plain = [r for r in refs if not is_composite(r) and r.id not in loaded]
        if unread or not composites:
            missing = await self._load_plain(metrics, [*plain, *unread], loaded)
            if missing or not composites:
                return missing
            plain = []
        owner = {m.id: c.id for c in composites for m in self._memo.members[c.id]}
        members = [m for c in composites for m in self._memo.members[c.id] if m.id not in loaded]
        # Member lists known (read now, or before by this object): one more pass.
        missing = await self._load_plain(metrics, [*plain, *members], loaded)
        if missing:
            return {owner.get(page, page) for page in missing}
        for ref in composites:
            inner = self._memo.members[ref.id]
            # The member list was checked against the entry it was read for; an
            # entry of the same id that claims more is not the same composite.
            if sum(m.size for m in inner) != ref.size or (
                sum(m.length for m in inner) < ref.start + ref.length
            ):
                raise self._corrupt_composite(ref)
            loaded[ref.id] = [i for m in inner for i in _page_view(m, loaded)]
        return set()

    async def _members_of_expired(
        self, metrics: OperationMetrics, run: _Run, refs: list[PageRef]
    ) -> None:
        """Read the member lists of an expired head's composites, as far as they still exist.

        A composite already deleted by TTL, or unreadable, releases only itself:
        its members expire with it (page TTLs move together), so nothing is lost
        and the expired session is still replaced.
        """
        try:
            missing = await self._load_members(metrics, refs)
        except CorruptSessionError:
            missing = {r.id for r in refs if r.id not in self._memo.members}
        run.expired_members.update((page, ()) for page in missing)
        if missing:
            self._pages_left = True  # an erase finds the unnamed members by session

    def _corrupt_composite(self, ref: PageRef) -> CorruptSessionError:
        return CorruptSessionError(
            f"Stored {describe(self.session_id, self.table_name)} is corrupt: its index "
            f"entry for composite page {ref.id!r} does not match the page. Fix: run "
            "`openai-agents-session sessions show` on it, then repair or delete the session.",
            session_id=self.session_id,
            table_name=self.table_name,
        )

    async def _load_members(self, metrics: OperationMetrics, refs: list[PageRef]) -> set[str]:
        """Read the member lists of composites not read yet; return the ids not found."""
        wanted = [r for r in dict.fromkeys(refs) if r.id not in self._memo.members]
        return await self._load_plain(metrics, wanted, {})

    async def _load_plain(
        self,
        metrics: OperationMetrics,
        refs: list[PageRef],
        loaded: dict[str, list[ConversationItem]],
    ) -> set[str]:
        """Read and decode pages into `loaded` (a composite: its member list, into
        the session's); return the ids of pages not found.

        Pages are read a few BatchGetItems at a time and decoded as soon as their
        parts are in, so the compressed parts held at once stay a few requests'
        worth whatever the index lists. The first batch that misses a page ends
        the read: the caller reads the head again anyway.
        """
        batches: list[list[PageRef]] = []
        keys, size = _BATCH_GET_KEYS, _BATCH_GET_BYTES
        for ref in dict.fromkeys(refs):
            weight = max_compressed(ref)
            if keys + ref.parts > _BATCH_GET_KEYS or size + weight > _BATCH_GET_BYTES:
                batches.append([])
                keys, size = 0, 0
            batches[-1].append(ref)
            keys, size = keys + ref.parts, size + weight
        for wave in range(0, len(batches), _PAGE_BATCHES_IN_FLIGHT):
            group = batches[wave : wave + _PAGE_BATCHES_IN_FLIGHT]
            found = await _all([self._load_batch(metrics, batch, loaded) for batch in group])
            missing = set().union(*found)
            if missing:
                return missing
        return set()

    async def _load_batch(
        self,
        metrics: OperationMetrics,
        refs: list[PageRef],
        loaded: dict[str, list[ConversationItem]],
    ) -> set[str]:
        """Read one batch of pages (a page of many parts takes several requests)."""
        keys = [key for ref in refs for key in part_keys(self.session_id, ref)]
        # A batch is one request unless it is one page too big for one.
        step = _BATCH_GET if sum(map(max_compressed, refs)) > _BATCH_GET_BYTES else _BATCH_GET_KEYS
        found: dict[str, Any] = {}
        for start in range(0, len(keys), step):
            found.update(await self._batch_get_chunk(metrics, keys[start : start + step]))
        missing: set[str] = set()
        for ref in refs:
            page = part_keys(self.session_id, ref)
            if not all(k in found for k in page):
                missing.add(ref.id)
                continue
            if is_composite(ref):
                members = decode_members(
                    ref,
                    found.pop(page[0]),
                    session_id=self.session_id,
                    table_name=self.table_name,
                    max_session_bytes=self.max_session_bytes,
                )
                self._memo.add_members({ref.id: members})
                continue
            # Each part is dropped as soon as it is inflated.
            parts = (found.pop(k) for k in page)
            loaded[ref.id] = decode_page(
                ref, parts, session_id=self.session_id, table_name=self.table_name
            )
        return missing

    async def _batch_get_chunk(self, metrics: OperationMetrics, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def collect(response: dict[str, Any]) -> None:
            for raw in response.get("Responses", {}).get(self.table_name, []):
                found[str(raw[SCHEMA.partition_key]["S"])] = raw

        request = {"Keys": [encode_key(k) for k in keys], "ConsistentRead": True}
        await self._batched(
            metrics, "batch_get_item", {self.table_name: request}, "UnprocessedKeys", collect
        )
        return found

    def _unprocessed(self, operation: str) -> ThrottledError:
        return ThrottledError(
            f"{operation} for {describe(self.session_id, self.table_name)} left requests "
            f"unprocessed {_UNPROCESSED_TRIES} times. Fix: raise the table's capacity or "
            "retry later.",
            session_id=self.session_id,
            table_name=self.table_name,
        )

    def _warn_size(self, plan: WritePlan) -> None:
        """Warn, once per session object and kind, of a limit a later write may hit.

        Kinds: the history nears `max_session_bytes`; the head nears DynamoDB's
        item limit although pages took all they can (its index and attributes
        fill it); the page index nears the half of `page_threshold` a seal may
        use. A head near 400 KB that the next seal will page is no risk: no warning.
        """
        state = plan.state
        if state is None or not state.total_count:
            return
        ratio = self.size_warning_ratio
        paged = state.pages is not None
        index = len(encode_index(state.pages) or "") if paged else 0
        checks = (
            (
                "cap",
                state.total_size,
                self.max_session_bytes,
                "bytes of history, {pct}% of its max_session_bytes ({limit:,}); past it "
                "add_items raises SessionTooLargeError. Fix: pass max_items=N, clear or "
                "summarise old history, or raise max_session_bytes",
            ),
            (
                "item",
                plan.size if plan.size > seal_point(self._layout, paged) else 0,
                ITEM_SIZE_LIMIT,
                "bytes of head item after paging, {pct}% of DynamoDB's {limit:,}-byte item "
                "limit: its page index and attributes fill it. Fix: shrink the attributes "
                "put on the session, raise page_threshold (fewer, larger pages), or clear",
            ),
            (
                "index",
                index,
                self.page_threshold // 2,
                "bytes of page index, {pct}% of the {limit:,} bytes (half of page_threshold) "
                "a seal may fill; past it add_items raises SessionTooLargeError. Fix: raise "
                "page_threshold, pass max_items=N, or clear",
            ),
        )
        for kind, size, limit, text in checks:
            if size < ratio * limit or kind in self._warned:
                continue
            self._warned.add(kind)
            detail = text.format(pct=100 * size // limit, limit=limit)
            logger.warning(
                "%s holds %s %s",
                describe(self.session_id, self.table_name),
                f"{size:,}",
                detail,
                extra={"session_id": self.session_id, "item_size": plan.size, "size_kind": kind},
            )


# The catalog's operations build on the engine above, so they are imported after it.
from .catalog_session import CatalogOperations  # noqa: E402


class SessionStore(CatalogOperations, _Engine):
    """Conversation history of one session in DynamoDB: the engine of `DynamoDBSession`.

    It has the Session protocol's methods (`get_items`, `add_items`, `pop_item`,
    `clear_session`), the catalog's operations (attributes, `create`, usage,
    forks) and every guarantee of `DynamoDBSession`, without importing the
    Agents SDK; applications use `DynamoDBSession`.
    """
