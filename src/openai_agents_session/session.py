"""`DynamoDBSession`: the SDK's Session protocol over DynamoDB, with optimistic locking.

How writes stay exact (conditional writes, `recent_writes`, pages) is told in
``store.py``. The engine is `SessionStore` (``store.py``), which does not import the SDK; this
class adds what does: the ``SessionABC`` base, ``SessionSettings`` and the SDK's
compaction hooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agents.memory.session import SessionABC, _CompactionSnapshot
from agents.memory.session_settings import (
    SessionSettings,
    coerce_session_settings,
    resolve_session_limit,
)
from pydantic import ValidationError

from ._plan import Replace, ReplaceSuffix
from .errors import InvalidArgumentError, UnknownSettingError, describe
from .models.codec import StoredItem
from .models.items import encode_batch
from .store import (
    OperationMetrics,
    RetryPolicy,
    SessionOptions,
    SessionStore,
    validate_session_id,
    validate_table_name,
)

if TYPE_CHECKING:
    from agents.items import TResponseInputItem

__all__ = [
    "DynamoDBSession",
    "OperationMetrics",
    "RetryPolicy",
    "SessionOptions",
    "validate_session_id",
    "validate_table_name",
]


class DynamoDBSession(SessionStore, SessionABC):
    """Conversation history of one agent session, stored in DynamoDB.

    Implements the Agents SDK's `Session` protocol (`get_items`, `add_items`,
    `pop_item`, `clear_session`) and is a ``SessionABC``. Every write is
    conditional on the version this object last saw, so concurrent writers
    (other objects, processes or hosts) never lose or duplicate items. See
    `SessionStore.__init__` for the options.

    Example:
        ```python
        session = DynamoDBSession("user-123", client, "agent_sessions", ttl_seconds=3600)
        await session.add_items([{"role": "user", "content": "Hello"}])
        ```
    """

    session_settings: SessionSettings | None

    def _coerce_settings(self, settings: Any) -> SessionSettings:
        if isinstance(settings, dict):
            known = {f.name for f in dataclasses.fields(SessionSettings)}
            unknown = sorted(str(name)[:64] for name in settings if name not in known)
            if unknown:
                raise UnknownSettingError(
                    f"Unknown session settings: {', '.join(unknown[:10])} "
                    f"({describe(self.session_id, self.table_name)}). Fix: session_settings "
                    f"takes {', '.join(sorted(known))}.",
                    session_id=self.session_id,
                    table_name=self.table_name,
                )
        try:
            return coerce_session_settings(settings) if settings is not None else SessionSettings()
        except (ValidationError, TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"session_settings must be a SessionSettings or a dict of its fields "
                f"(limit: a non-negative int or None), got {settings!r} "
                f"({describe(self.session_id, self.table_name)}): {type(exc).__name__}.",
                session_id=self.session_id,
                table_name=self.table_name,
            ) from None

    def _resolve_limit(self, limit: int | None) -> Any:
        return resolve_session_limit(limit, self.session_settings)

    async def _get_compaction_snapshot(
        self,
        limit: int,
        *,
        prune_prefix: Callable[[TResponseInputItem], bool] | None = None,
    ) -> _CompactionSnapshot | None:
        """The SDK's compaction hook: the newest `limit` items, read at one version.

        ``replace_suffix(start, output)`` replaces ``items[start:]`` with `output` in
        one conditional write on that version, and returns False, writing nothing,
        if anything was written since. With `prune_prefix`, the oldest items for
        which it holds (before the replaced suffix) are dropped in the same write.
        Subclasses that transform items get None, as the SDK's backends do.
        """
        if type(self) is not DynamoDBSession:
            return None

        async def run(metrics: OperationMetrics) -> tuple[StoredItem | None, list[Any]]:
            state = await self._read(metrics, keep_items=True, consistent=True)
            if state is None or state.is_expired(self._now()):
                return None, []
            items: list[Any] = await self._history(metrics, state, limit)
            return state, items

        state, items = await self._operation("get_compaction_snapshot", run)
        version = None if state is None else state.updated_at
        complete = state is None or state.total_count <= len(items)

        async def replace_suffix(start: int, output: list[TResponseInputItem]) -> bool:
            if version is None or not 0 <= start < len(items):
                return False
            encoded = encode_batch(
                output,
                strict=self.strict_items,
                session_id=self.session_id,
                table_name=self.table_name,
            )
            operation = ReplaceSuffix(version, start, len(items), encoded, prune_prefix)
            replaced: bool = await self._operation(
                "replace_suffix", lambda m: self._mutate(m, operation), settle=True
            )
            return replaced

        return _CompactionSnapshot(list(items), complete, replace_suffix)

    async def _atomic_replace_items(self, items: list[TResponseInputItem]) -> bool:
        """The SDK's atomic-replace hook: the whole history becomes `items` in one write.

        Like the SDK's Redis backend, it does not check whether the caller's view is
        stale; the write is conditional on the version it replaces, so it never
        interleaves with another writer. Subclasses that transform items get False.
        """
        if type(self) is not DynamoDBSession:
            return False
        encoded = encode_batch(
            items, strict=self.strict_items, session_id=self.session_id, table_name=self.table_name
        )
        operation = Replace(encoded)
        replaced: bool = await self._operation(
            "replace_items", lambda m: self._mutate(m, operation), settle=True
        )
        return replaced
