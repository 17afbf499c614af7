"""What a session offers besides its history: attributes, a new chat, usage, forks.

The engine (`store._Engine`) owns one session's history: reads, the attempt loop
and its outcomes, pages. The catalog's own operations are built on it here, each
as one engine operation (`_mutate` with a planned change), so they share every
guarantee of the history's writes: the condition on the version seen, exactly
once under lost answers, the owner check, cancellation that settles.
`SessionStore` is the two together.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._create import Create
from ._fork_guard import SourceGuard, lacks_transactions
from ._plan import (
    TARGET_EXISTS,
    Clear,
    ForkInto,
    SetAttributes,
    StoreUsage,
    usage_record,
)
from .errors import (
    CorruptSessionError,
    InvalidArgumentError,
    OwnershipError,
    SessionExistsError,
    describe,
)
from .models.codec import (
    dumps_item,
)
from .models.pairs import safe_prefix
from .models.schema import (
    SCHEMA,
    ConversationItem,
)
from .models.team import TeamAttributes, validate_plain
from .models.usage import (
    MAX_DETAIL_FIELDS,
    MAX_REQUEST_ENTRIES,
    MAX_TOKENS,
    extract_usage,
    session_totals,
    turn_entries,
    user_positions,
)

if TYPE_CHECKING:
    from typing_extensions import Self

    from .forks import ForkPage
    from .store import OperationMetrics, _Engine


from ._ids import stored_text, validate_session_id, within_prefix

__all__ = ["CatalogOperations"]

if TYPE_CHECKING:
    _Base = _Engine
else:
    _Base = object


class CatalogOperations(_Base):
    """Attributes, `create`, token usage and forks, over the engine of one session."""

    @property
    def attributes(self) -> Mapping[str, Any]:
        """The plain team attributes this object puts on every write (read-only)."""
        return MappingProxyType(self._attributes)

    async def set_attributes(self, **values: Any) -> bool:
        """Change plain team attributes of the stored session and of this object.

        One conditional write, on the same optimistic-locking and retry path as
        every other write: the history is rewritten as it is (derived attributes
        recomputed), with the new values. A None value removes the attribute from
        the stored head and from this object's `attributes`; later writes then
        carry over whatever is stored. Without a live conversation (absent,
        expired, cleared or empty) nothing is written, so a cleared session stays
        out of sparse indexes; this object's next write puts the values on.

        Args:
            **values: Attribute field name to value (None: remove it).

        Returns:
            True when the stored session was rewritten; False when there was no
            conversation to write to (or no values).

        Raises:
            InvalidAttributeError: A name is not an attribute field of the record,
                or a value is not of the field's type. Nothing is written.
            InvalidArgumentError: `owner` was given: ownership moves only with
                `transfer_owner`. Nothing is written.
            OwnershipError: The stored session belongs to another owner than
                this object's ``owner=``. Nothing is written.
            DerivedAttributeError: A derived attribute could not be computed.
                Nothing is written.
            ConcurrentModificationError: Other writers kept winning past the retry bound.
            WriteOutcomeUnknownError: The answer was lost and whether the write
                landed can no longer be told.
        """
        self._check_open()
        validated, encoded = validate_plain(
            self._schema, values, session_id=self.session_id, table_name=self.table_name
        )
        self._owner_within_prefix(validated)
        if SCHEMA.owner in validated:
            raise InvalidArgumentError(
                f"set_attributes on {describe(self.session_id, self.table_name)} cannot change "
                "the owner; nothing was written. Fix: call transfer_owner(new_owner), which "
                "moves the conversation explicitly (the owner= of a session object only "
                "claims a session that has none).",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        if not validated:
            return False
        written = await self._set_plain("set_attributes", encoded)
        self._adopt(validated, encoded)
        return written

    async def transfer_owner(self, new_owner: str) -> bool:
        """Move the conversation to another owner: the one explicit way ownership changes.

        One conditional write on the version seen, like every write: the history
        stays as it is and the head's ``owner`` becomes `new_owner`, so the
        session leaves the old owner's `list_sessions` and erase and joins the
        new owner's. It goes through this object's ownership check: the object
        must be built with the stored owner, or without ``owner=`` (a trusted,
        unconstrained object). An object built with ``owner=`` takes
        `new_owner` as its own afterwards, so it can go on using the session.

        Args:
            new_owner: The new owner: a non-empty string, within `key_prefix`.

        Returns:
            True when the stored session was rewritten; False when there was no
            conversation (absent, expired, cleared or empty), and nothing was written.

        Raises:
            InvalidArgumentError: `new_owner` is not a non-empty string.
            InvalidSessionIdError: `new_owner` is outside `key_prefix`. Nothing is sent.
            OwnershipError: The stored session belongs to another owner than this
                object's ``owner=``. Nothing is written.
            ConcurrentModificationError: Other writers kept winning past the retry bound.
            WriteOutcomeUnknownError: The answer was lost and whether the write
                landed can no longer be told.
        """
        self._check_open()
        if not isinstance(new_owner, str) or not new_owner:
            raise InvalidArgumentError(
                f"transfer_owner on {describe(self.session_id, self.table_name)}: new_owner "
                f"must be a non-empty string, got {type(new_owner).__name__}. Nothing was "
                "sent. Fix: pass the user or tenant id that is to own the conversation.",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        validated, encoded = validate_plain(
            self._schema,
            {SCHEMA.owner: new_owner},
            session_id=self.session_id,
            table_name=self.table_name,
        )
        self._owner_within_prefix(validated)
        written = await self._set_plain("transfer_owner", encoded)
        if written and self.owner is not None:
            self._adopt(validated, encoded)
        return written

    async def _set_plain(self, name: str, encoded: dict[str, Any]) -> bool:
        """Rewrite the head's history as it is, with these plain values on it."""
        operation = SetAttributes(encoded)
        written = await self._operation(name, lambda m: self._mutate(m, operation), settle=True)
        return bool(written)

    def _adopt(self, validated: dict[str, Any], encoded: dict[str, Any]) -> None:
        """Make plain values this object's own, for its later writes."""
        # Only the names set to None here stop being this object's: a None given
        # to the constructor keeps meaning "always leave it out".
        removed = {key for key, value in validated.items() if value is None}
        self._attributes = {
            k: v for k, v in {**self._attributes, **validated}.items() if k not in removed
        }
        plain = {**self._team.plain, **encoded}
        self._team = TeamAttributes(
            self._schema,
            {k: v for k, v in plain.items() if k not in removed},
            auto_title=self.auto_title,
        )

    async def create(self, *, exist_ok: bool = False) -> bool:
        """Save this session empty: a chat that has a title before its first message.

        One conditional write (a put that expects no session, on a fresh
        object) of an empty head carrying this object's ``owner``, ``title``,
        ``metadata`` and team attributes, and ``created_at``; `list_sessions`
        then lists it with ``item_count`` 0. An absent, expired or cleared
        session counts as no session. A session with items, or one saved empty
        before, is left exactly as it is.

        Args:
            exist_ok: When the session exists, return False instead of raising.

        Returns:
            True when this call saved the session; False when it existed and
            `exist_ok` is set (nothing was written).

        Raises:
            SessionExistsError: The session exists and `exist_ok` is False.
                Nothing was written.
            ConcurrentModificationError: Other writers kept winning past the retry bound.
            WriteOutcomeUnknownError: The answer was lost and whether the write
                landed can no longer be told.
        """
        if not isinstance(exist_ok, bool):
            raise InvalidArgumentError(
                f"exist_ok must be a bool, got a {type(exist_ok).__name__} "
                f"({describe(self.session_id, self.table_name)}). Fix: pass True or False.",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        self._check_open()
        created: bool = await self._operation(
            "create", lambda m: self._mutate(m, Create()), settle=True
        )
        if not created and not exist_ok:
            raise SessionExistsError(
                f"create on {describe(self.session_id, self.table_name)}: the session "
                "already exists. Nothing was written. Fix: pass exist_ok=True to reuse it, "
                "or choose a new session id.",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        return created

    # ------------------------------------------------------------------ usage

    async def store_run_usage(self, result: Any) -> int | None:
        """Record a run's token usage against the session's current user turn.

        The usage (requests, input, output and total tokens, their details, and
        the per-request entries) is added to the head's ``usage`` record in one
        conditional write on the version seen, retried on conflict like every
        write: two runs stored concurrently both count, and a write whose answer
        was lost is recognised, not counted twice. The turn is the number of user
        messages in the history, pages included (see the forks-and-usage docs for
        how that is counted without reading every page each time).

        Args:
            result: What ``Runner.run`` returned (``RunResult``, or a finished
                ``RunResultStreaming``).

        Returns:
            The turn the usage was added to; None when the session holds no user
            message (absent, expired, cleared or without one), and nothing was stored.

        Raises:
            InvalidArgumentError: `result` has no ``context_wrapper.usage`` of
                non-negative int counts (at most ``MAX_TOKENS``), details of at
                most ``MAX_DETAIL_FIELDS`` fields and at most
                ``MAX_REQUEST_ENTRIES`` request entries. Checked before any call;
                nothing is stored.
            CorruptSessionError: The stored usage record is not one (see
                `get_session_usage`).
            OwnershipError: The stored session belongs to another owner than this
                object's ``owner=``; nothing was read or written.
            ConcurrentModificationError: Other writers kept winning past the retry bound.
            WriteOutcomeUnknownError: The answer was lost and whether the write
                landed can no longer be told.
        """
        self._check_open()
        usage = getattr(getattr(result, "context_wrapper", None), "usage", None)
        try:
            if usage is None:
                raise ValueError(f"{type(result).__name__} has no context_wrapper.usage")
            record = extract_usage(usage)
        except ValueError as exc:
            raise InvalidArgumentError(
                f"store_run_usage on {describe(self.session_id, self.table_name)} needs the "
                "result of Runner.run: an object whose context_wrapper.usage has non-negative "
                f"int counts of at most {MAX_TOKENS:.0e}, details of at most "
                f"{MAX_DETAIL_FIELDS} fields and at most {MAX_REQUEST_ENTRIES} request "
                f"entries; here {exc}. Nothing was stored. Fix: pass the value Runner.run "
                "returned (a streamed result once its stream is done).",
                session_id=self.session_id,
                table_name=self.table_name,
            ) from None
        operation = StoreUsage(record, self.table_name)
        turn: int | None = await self._operation(
            "store_run_usage", lambda m: self._mutate(m, operation), settle=True
        )
        return turn

    async def _usage(self, name: str) -> dict[str, Any] | None:
        async def run(metrics: OperationMetrics) -> dict[str, Any] | None:
            state = await self._read(metrics)
            if state is None or state.is_expired(self._now()):
                return None
            return usage_record(state, self.table_name)

        return await self._operation(name, run)

    async def get_session_usage(self) -> dict[str, int] | None:
        """Usage totals over every recorded turn: one read of the head.

        Returns:
            ``requests``, ``input_tokens``, ``output_tokens``, ``total_tokens``
            and ``total_turns``; None when no usage was stored (as
            ``AdvancedSQLiteSession.get_session_usage``).

        Raises:
            CorruptSessionError: The stored ``usage`` attribute is not a usage
                record (too large, nested too deeply, or of another shape): it is
                never trusted. `get_turn_usage` and `store_run_usage` raise it too.
        """
        return session_totals(await self._usage("get_session_usage"))

    async def get_turn_usage(self, user_turn_number: int | None = None) -> list[dict[str, Any]]:
        """Usage per user turn, oldest first: one read of the head. Always a list.

        Unlike ``AdvancedSQLiteSession.get_turn_usage``, which returns a dict for
        one turn and a list for all, the shape never depends on the argument:
        one turn's usage is ``(await session.get_turn_usage(n))[0]`` when the
        list is not empty.

        Args:
            user_turn_number: Only this turn (1 for the first user message): a
                list of one entry, or empty when none is kept; None for every
                kept turn.

        Returns:
            Dicts of ``user_turn_number``, ``requests``, ``input_tokens``,
            ``output_tokens``, ``total_tokens``, ``input_tokens_details``,
            ``output_tokens_details`` and ``request_usage_entries``.

        Raises:
            InvalidArgumentError: `user_turn_number` is not a positive int or None.
        """
        if user_turn_number is not None and (
            isinstance(user_turn_number, bool)
            or not isinstance(user_turn_number, int)
            or user_turn_number < 1
        ):
            raise InvalidArgumentError(
                f"user_turn_number must be a positive int or None, got {user_turn_number!r} "
                f"({describe(self.session_id, self.table_name)}). Fix: pass 1 for the first "
                "user turn, or None for all.",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        return turn_entries(await self._usage("get_turn_usage"), user_turn_number)

    # ------------------------------------------------------------------- fork

    async def fork(
        self,
        new_session_id: str,
        *,
        upto: int | None = None,
        turn: int | None = None,
        owner: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Self:
        """Copy this session's history, whole or a prefix of it, into a new session.

        The source is read at one version (a consistent read of its head, then
        its pages as that head lists them), through this object's ownership
        check. The target id is checked against `key_prefix` before any call,
        like every id. The target is written with the same conditional write as
        every other write, conditional on what it holds: it may be absent,
        expired, or hold no items (cleared) of the fork's owner; a target holding
        a conversation raises `SessionExistsError` and nothing is written. Pages
        are copied, not shared: the new session owns its own page items. The
        head lands only while the source still holds what was copied (one
        TransactWriteItems with a check on the source; without transactions, a
        re-read after the write undoes the copy), so an erase or a clear of the
        source racing the fork never leaves the copy; appends do not matter.

        The fork belongs to the source's stored owner and carries its stored
        title and metadata, unless `owner`, `title` or `metadata` override them
        (a source without an owner gives the fork this object's owner, if any).
        It starts with the source's plain team attributes and ``schema_version``
        as stored (this object's ``attributes`` on top, as on every write);
        derived attributes are computed from the copied history; usage is not
        copied. It records its lineage: ``parent_id`` (this session),
        ``fork_index`` (items copied) and ``fork_turn`` (the user turn it
        branches at), listed by `list_forks`.

        Args:
            new_session_id: The new session's id (within `key_prefix`).
            upto: Copy ``items[:upto]`` (item index; at most the history's length).
            turn: Copy everything before the `turn`-th user message (1-based),
                as ``AdvancedSQLiteSession.create_branch_from_turn`` branches.
                With neither, the whole history is copied. Either cut moves back
                so that no tool call is copied without an output the source has.
            owner: Give the copy to another owner (within `key_prefix`). Only the
                stored owner's own object (built with that ``owner=``) may, or
                any object when the source has no owner: a copy never leaves
                its owner's hands through an unconstrained object.
            title: The fork's title instead of the source's.
            metadata: The fork's metadata instead of the source's.

        Returns:
            A session object for the new session with this object's options
            (``key_prefix``, ``auto_title``, TTL, ``record``, team
            ``attributes``, ...), and the fork's owner as its ``owner=``. Its
            title and metadata are the fork's, carried over as stored.

        Raises:
            InvalidArgumentError: Both `upto` and `turn`, an out-of-range value,
                or the source's own id.
            InvalidSessionIdError: `new_session_id` is not a valid id, or it or
                `owner` is outside `key_prefix`. Nothing was sent.
            InvalidAttributeError: `owner`, `title` or `metadata` is not of its
                field's type. Nothing was sent.
            OwnershipError: The source belongs to another owner than this
                object's ``owner=``, or `owner` would take the copy out of the
                source owner's hands; nothing was written.
            SessionExistsError: The target holds a conversation, or a cleared
                session of another owner; nothing was written.
            SessionTooLargeError: The copy would pass the session cap.
            ConcurrentModificationError: The source was cleared or erased
                after it was copied, so the copy was not kept: nothing of it is
                stored.
        """
        validate_session_id(new_session_id, table_name=self.table_name)
        within_prefix(new_session_id, self.key_prefix, table_name=self.table_name)
        where = describe(self.session_id, self.table_name)
        if new_session_id == self.session_id:
            raise InvalidArgumentError(
                f"fork of {where} into itself. Fix: pass another new_session_id.",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        for name, value, low in (("upto", upto, 0), ("turn", turn, 1)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < low
            ):
                raise InvalidArgumentError(
                    f"fork of {where}: {name} must be an int of at least {low} or None, got "
                    f"{value!r}.",
                    session_id=self.session_id,
                    table_name=self.table_name,
                )
        if upto is not None and turn is not None:
            raise InvalidArgumentError(
                f"fork of {where}: pass upto= or turn=, not both.",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        overrides, _ = validate_plain(
            self._schema,
            {
                name: value
                for name, value in (
                    (SCHEMA.owner, owner),
                    (SCHEMA.title, title),
                    (SCHEMA.metadata, metadata),
                )
                if value is not None
            },
            session_id=new_session_id,
            table_name=self.table_name,
        )
        self._owner_within_prefix(overrides)
        self._check_open()
        state, items = await self._operation("fork_read", self._snapshot)
        cut = self._fork_cut(items, upto, turn)
        stored = state.extra if state is not None else {}
        fork_owner = self._fork_owner(stored_text(stored.get(SCHEMA.owner)), owner)
        kept = (*self._schema.plain, SCHEMA.schema_version, SCHEMA.title, SCHEMA.metadata)
        extra = {name: stored[name] for name in kept if name in stored}
        if fork_owner is not None:
            extra[SCHEMA.owner] = {"S": fork_owner}
        extra.update(self._lineage(items[:cut]))
        # What was copied must still be the source's when the copy lands: an
        # erase between the read and the write must not leave the copy behind.
        guard = (
            None
            if state is None
            else SourceGuard(self.session_id, state.updated_at, state.created_at)
        )
        operation = ForkInto([dumps_item(item) for item in items[:cut]], extra, guard)
        target = self._sibling(
            new_session_id,
            {SCHEMA.owner: fork_owner, SCHEMA.title: title, SCHEMA.metadata: metadata},
        )
        outcome = await target._operation(
            "fork", lambda m: target._mutate(m, operation), settle=True
        )
        if outcome is TARGET_EXISTS:
            raise SessionExistsError(
                f"fork of {where} into {new_session_id!r}: that session already holds a "
                "conversation (or another owner's cleared one). Nothing was written. Fix: "
                "choose another new_session_id, or clear the target first.",
                session_id=new_session_id,
                table_name=self.table_name,
            )
        if guard is not None and lacks_transactions(await target._get_client()):
            await self._keep_or_undo(target, guard)
        return target

    async def _keep_or_undo(self, target: Self, guard: SourceGuard) -> None:
        """Without transactions: undo a landed copy whose source was erased meanwhile.

        The copy is written first, then the source read consistently. If the
        source was cleared, erased or expired since it was copied, the copy is
        cleared (conditional on the version just written; its pages deleted).
        An erase whose last listing came after the copy landed erases the copy
        itself, so together the two leave nothing; but a crash between the
        write and this check leaves the copy, which is why only the
        transactional path is atomic.

        Raises:
            ConcurrentModificationError: The source was erased; the copy is gone.
        """

        async def erased(metrics: OperationMetrics) -> bool:
            raw = await self._get_raw(metrics, consistent=True)
            try:
                state = None if raw is None else self._decode(raw)
            except CorruptSessionError:
                return True  # not what was copied any more
            return guard.erased_since(state, self._now())

        if not await self._operation("fork_check", erased):
            return
        await target._operation("fork_undo", lambda m: target._mutate(m, Clear()), settle=True)
        raise target._source_moved(guard, 1)

    async def list_forks(self, *, limit: int = 20, cursor: str | None = None) -> ForkPage:
        """This session's forks, oldest first, by Query on the by-parent index.

        As `openai_agents_session.list_forks`, with this object's client and
        `key_prefix`; an object built with ``owner=`` lists only that owner's forks.

        Args:
            limit: Forks per page (1 to 1000).
            cursor: The previous page's ``cursor``; None for the first page.

        Returns:
            The page and the cursor of the next one.
        """
        from .forks import list_forks

        self._check_open()
        return await list_forks(
            await self._get_client(),
            self.table_name,
            self.session_id,
            owner=self.owner,
            limit=limit,
            cursor=cursor,
            key_prefix=self.key_prefix,
            clock=self._now,
        )

    def _fork_cut(self, items: list[ConversationItem], upto: int | None, turn: int | None) -> int:
        """Where a fork cuts the history: `upto`, before the `turn`-th user message, or all."""
        where = describe(self.session_id, self.table_name)
        cut = len(items)
        if upto is not None:
            if upto > len(items):
                raise InvalidArgumentError(
                    f"fork of {where}: upto={upto} is past the history's {len(items)} items. "
                    "Fix: pass at most len(await session.get_items()).",
                    session_id=self.session_id,
                    table_name=self.table_name,
                )
            cut = upto
        elif turn is not None:
            users = user_positions(items)
            if turn > len(users):
                raise InvalidArgumentError(
                    f"fork of {where}: turn={turn} does not exist; the history has "
                    f"{len(users)} user turn(s). Fix: pass a turn from 1 to {len(users)}.",
                    session_id=self.session_id,
                    table_name=self.table_name,
                )
            cut = users[turn - 1]
        return safe_prefix(items, cut)

    def _fork_owner(self, stored: str | None, override: str | None) -> str | None:
        """The fork's owner: the source's stored one, unless its owner gives it away."""
        if override is None or override == stored:
            return stored if stored is not None else self.owner
        if stored is not None and self.owner != stored:
            # Only the owner's own object may hand a copy to someone else; an
            # unconstrained object must not take a conversation out of its
            # owner's list and erase.
            raise OwnershipError(
                f"fork of {describe(self.session_id, self.table_name)} with owner= "
                f"{override!r}: only a session object built with the source's own owner "
                "may give a copy to another owner; nothing was written. Fix: fork without "
                "owner= (the copy stays with the source's owner), or fork through the "
                "owner's session object.",
                owner=self.owner or "",
                session_id=self.session_id,
                table_name=self.table_name,
            )
        return override

    def _lineage(self, copied: list[ConversationItem]) -> dict[str, Any]:
        """The lineage attributes of a fork holding `copied` (this session's prefix)."""
        return {
            SCHEMA.parent_id: {"S": self.session_id},
            SCHEMA.fork_index: {"N": str(len(copied))},
            SCHEMA.fork_turn: {"N": str(len(user_positions(copied)) + 1)},
        }

    def _sibling(self, session_id: str, catalog: Mapping[str, Any]) -> Self:
        """A session object for another id with every option of this one and its client.

        `catalog` gives the new object's owner, title and metadata (None: carry
        over what is stored) instead of this object's.
        """
        attributes = {k: v for k, v in self._attributes.items() if k not in catalog}
        other = type(self)(
            session_id,
            self._client,  # type: ignore[arg-type]
            self.table_name,
            self.ttl_seconds,
            session_settings=self.session_settings,
            consistent_read=self.consistent_read,
            max_items=self.max_items,
            strict_items=self.strict_items,
            retry=self.retry,
            on_operation=self.on_operation,
            size_warning_ratio=self.size_warning_ratio,
            clock=self._clock,
            page_threshold=self.page_threshold,
            max_session_bytes=self.max_session_bytes,
            settle_timeout=self.settle_timeout,
            time_source=self.time_source,
            record=self.record,
            attributes={**attributes, **{k: v for k, v in catalog.items() if v is not None}},
            auto_title=self.auto_title,
            key_prefix=self.key_prefix,
        )
        other._open_client = self._open_client
        return other
