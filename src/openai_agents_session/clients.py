"""The clients the library opens: their defaults, the loop that owns them, and `ping`.

`CLIENT_DEFAULTS` bound every call of a client `DynamoDBSession.from_config`
opens, so that a request handler gets a typed error within seconds when
DynamoDB cannot be reached, instead of botocore's default of minutes.

An aiobotocore client belongs to the event loop it was opened in. Sync callers
(``Runner.run_sync`` in Flask or Django request threads, scripts that call
``asyncio.run``) run a loop per call or per thread, so a client per loop meant a
client opened on every call (tens of milliseconds, and a TLS handshake on AWS)
and one left behind by every closed loop. Here every such client lives in the
loop of one daemon thread, for the life of the process, shared by the sessions
opened with the same configuration. Each API call hops there
(``run_coroutine_threadsafe``) from whatever loop its caller runs; the session's
own logic (its lock, settling a write after a cancellation) stays in the
caller's loop, so its semantics do not change. The clients are closed at
interpreter exit, and a forked child starts a loop and clients of its own.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Hashable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from .errors import InvalidArgumentError, describe
from .models.codec import encode_key
from .models.schema import RESERVED_PREFIX

__all__ = [
    "CLIENT_DEFAULTS",
    "SharedClient",
    "client_config_with_defaults",
    "config_key",
    "environment_key",
    "ping",
]

logger = logging.getLogger("openai_agents_session")

CLIENT_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        # DynamoDB answers in milliseconds: a second to connect and 1.5 s between
        # bytes of an answer leave room, and two attempts give up on a dead
        # endpoint within 4 s (2 x 1.5 s plus botocore's backoff of at most 1 s).
        "connect_timeout": 1.0,
        "read_timeout": 1.5,
        "retries": {"mode": "standard", "total_max_attempts": 2},
        # Sessions in many threads share the client: room for their calls.
        "max_pool_connections": 32,
    }
)
"""The botocore ``Config`` options `from_config` starts from; `client_config` overrides."""

_T = TypeVar("_T")
# Distinct configurations kept open; past it the least recently used one is
# closed once its calls in flight have finished.
_MAX_CLIENTS = 8
# Seconds the exit handler waits for the clients to close.
_EXIT_TIMEOUT = 5.0


class _Entry:
    """One open client in the background loop, and the calls in flight on it."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        # The factory holds the caller's boto session and config, whose ids
        # may be part of the key: alive with the entry, those ids stay unique.
        self.factory = factory
        self.client: Any = None
        self.context: Any = None
        self.inflight = 0
        self.evicted = False
        self.closed = False
        self.remote: _Remote | None = None

    async def close(self) -> None:
        self.closed = True
        if self.context is not None:
            context, self.context = self.context, None
            await context.__aexit__(None, None, None)


class _Runtime:
    """The background loop's thread and the clients it owns."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.opening: dict[Hashable, asyncio.Task[_Entry]] = {}
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="openai-agents-session-clients", daemon=True
        )
        self.thread.start()

    async def run(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Await `work` in the background loop from the caller's loop.

        A cancelled caller cancels the work there too (``wrap_future`` forwards it).
        """
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always awaited inside a loop
            running = None
        if running is self.loop:
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))

    async def entry(self, key: Hashable, factory: Callable[[], Any]) -> _Entry:
        """The open client of `key`, opened with `factory` on first use (in this loop)."""
        found = self.entries.get(key)
        if found is not None and not found.closed:
            self.entries.move_to_end(key)
            return found
        opening = self.opening.get(key)
        if opening is None:
            # A task of its own: a caller cancelled meanwhile neither stops the
            # opening halfway (leaking a half-open client) nor fails the others.
            opening = self.opening[key] = self.loop.create_task(self._open(key, factory))
            opening.add_done_callback(lambda task: task.cancelled() or task.exception())
        return await asyncio.shield(opening)

    async def _open(self, key: Hashable, factory: Callable[[], Any]) -> _Entry:
        try:
            opened = _Entry(factory)
            opened.context = factory()
            opened.client = await opened.context.__aenter__()
            # One proxy per client, so state keyed by the client (DynamoDB's
            # clock) is shared by its sessions.
            opened.remote = _Remote(self, opened)
            self.entries[key] = opened
        finally:
            del self.opening[key]
        await self._evict()
        return opened

    async def _evict(self) -> None:
        while len(self.entries) > _MAX_CLIENTS:
            _, oldest = self.entries.popitem(last=False)
            oldest.evicted = True
            if oldest.inflight == 0:
                await oldest.close()

    async def call(self, entry: _Entry, method: str, kwargs: dict[str, Any]) -> Any:
        """Run one API call on `entry`'s client (in this loop)."""
        entry.inflight += 1
        try:
            return await getattr(entry.client, method)(**kwargs)
        finally:
            entry.inflight -= 1
            if entry.evicted and entry.inflight == 0 and not entry.closed:
                await entry.close()

    async def close_all(self) -> None:
        entries = list(self.entries.values())
        self.entries.clear()
        for entry in entries:
            # At exit there is no one left to report a failed close to.
            with contextlib.suppress(Exception):
                await entry.close()

    def shutdown(self) -> None:
        """Close every client and stop the loop (at interpreter exit)."""
        if not self.thread.is_alive():
            return
        # A slow or failed close must not hang the exit.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.close_all(), self.loop).result(_EXIT_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(_EXIT_TIMEOUT)
        if not self.thread.is_alive():
            self.loop.close()


class _Remote:
    """The caller's view of a shared client: API calls hop to the background loop.

    Anything else (``meta``, ``exceptions``) is the client's own attribute.
    """

    def __init__(self, runtime: _Runtime, entry: _Entry) -> None:
        self._runtime = runtime
        self._entry = entry

    @property
    def closed(self) -> bool:
        return self._entry.closed or self._entry.evicted

    def __getattr__(self, name: str) -> Any:
        client = self._entry.client
        if name not in client.meta.method_to_api_mapping:
            return getattr(client, name)

        async def call(**kwargs: Any) -> Any:
            runtime = self._runtime
            return await runtime.run(runtime.call(self._entry, name, kwargs))

        return call


_lock = threading.Lock()
_runtime: _Runtime | None = None
# Runtimes inherited through fork: their thread is gone, so they are kept, never closed.
_inherited: list[_Runtime] = []


def _current() -> _Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = _Runtime()
            atexit.register(_runtime.shutdown)
        return _runtime


def _after_fork() -> None:
    global _runtime, _lock
    if _runtime is not None:
        _inherited.append(_runtime)
    _runtime = None
    _lock = threading.Lock()  # it may have been held by another thread at the fork


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def client_config_with_defaults(
    client_config: Any = None, *, session_id: str | None = None, table_name: str | None = None
) -> Any:
    """An ``AioConfig`` of `CLIENT_DEFAULTS`, overridden by what `client_config` sets.

    Args:
        client_config: A botocore ``Config`` (or aiobotocore ``AioConfig``), or None.
        session_id: The session it is for, named in an error.
        table_name: The table it is for, named in an error.

    Raises:
        InvalidArgumentError: `client_config` is not a botocore ``Config``.
    """
    from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
    from botocore.config import Config

    if client_config is not None and not isinstance(client_config, Config):
        raise InvalidArgumentError(
            f"client_config must be a botocore Config, got {type(client_config).__name__} "
            f"({describe(session_id, table_name)}). Fix: pass "
            "botocore.config.Config(read_timeout=..., retries=...).",
            session_id=session_id,
            table_name=table_name,
        )

    given = getattr(client_config, "_user_provided_options", None) or {}
    extra: dict[str, Any] = {}
    for name in ("connector_args", "http_session_cls"):
        if getattr(client_config, name, None) is not None:
            extra[name] = getattr(client_config, name)
    return AioConfig(**extra, **{**CLIENT_DEFAULTS, **given})


async def ping(client: Any, table_name: str) -> bool:
    """Whether `table_name` can be reached through `client`: a health check.

    One small consistent GetItem of a reserved key; it needs no session object.

    Args:
        client: An aiobotocore DynamoDB client, in the running loop.
        table_name: The session table.

    Returns:
        True when DynamoDB answered; False (logged) when it did not or refused
        (unreachable, no such table, access denied, a client of another loop).

    Raises:
        InvalidArgumentError: `table_name` is not a valid table name.
    """
    from .store import validate_table_name  # store imports this module

    validate_table_name(table_name)
    try:
        await client.get_item(
            TableName=table_name, Key=encode_key(f"{RESERVED_PREFIX}ping"), ConsistentRead=True
        )
    except (BotoCoreError, ClientError, OSError, RuntimeError, asyncio.TimeoutError) as exc:
        logger.warning("ping of table %r failed: %s", table_name, type(exc).__name__)
        return False
    return True


# The environment botocore reads when it opens a client: a client opened under
# other values must not be handed out.
_ENVIRONMENT = (
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


def environment_key() -> Hashable:
    """The AWS environment variables a new client would read (no secrets among them)."""
    return tuple(os.environ.get(name) for name in _ENVIRONMENT)


def config_key(config: Any) -> Hashable:
    """A key equal for botocore ``Config`` objects that set the same options."""
    if config is None:
        return None
    options = getattr(config, "_user_provided_options", None)
    if not isinstance(options, dict):
        return ("id", id(config))
    extra = (getattr(config, "connector_args", None), getattr(config, "http_session_cls", None))
    return repr(sorted((str(k), repr(v)) for k, v in options.items())) + repr(extra)


class SharedClient:
    """How a `from_config` session reaches its client.

    Sessions made with equal `key` share one client in the background loop;
    `factory` returns the aiobotocore client context that opens it.
    """

    def __init__(self, key: Hashable, factory: Callable[[], Any]) -> None:
        self.key = key
        self.factory = factory
        self._remote: _Remote | None = None

    async def client(self) -> Any:
        """The client, opened in the background loop on first use."""
        remote = self._remote
        if remote is not None and not remote.closed and remote._runtime is _runtime:
            return remote
        runtime = _current()
        entry = await runtime.run(runtime.entry(self.key, self.factory))
        self._remote = entry.remote
        return entry.remote
