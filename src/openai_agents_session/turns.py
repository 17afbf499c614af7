"""`session.turn()`: one turn at a time per conversation, and each keyed turn run once.

The lease lives on the session's head item, in its ``turns`` attribute (JSON)::

    {"lease": {"holder": "<token>", "until": <DynamoDB time>, "key": "<digest>",
               "wrote": false},
     "keys": ["<digest>", "<digest>!", ...]}

- Taking, renewing and releasing the lease are operations on the engine's write
  path (`SessionStore._mutate`): each is one conditional write on the version
  seen, so optimistic locking, lost-answer recognition (``recent_writes``),
  ownership and TTL hold for them as for any write.
- Every other write passes through `fence` just before it is sent. Inside the
  holder's turn it keeps the lease (and marks that the turn wrote); outside it,
  a live lease refuses the write (`TurnInProgressError`) and an expired one is
  dropped. A write is conditional on the very state the fence looked at, so
  nothing can slip between the check and the write.
- Lease time is DynamoDB's: ``until`` is computed and judged on the session's
  shared clock (`openai_agents_session.clock.ServerClock`), and a lease counts
  as live for one more second than it says, the precision of that clock.
- The keys of the last `RECENT_TURN_KEYS` turns are kept as digests: ``d`` for
  a turn that finished, ``d!`` for one that wrote and then failed.

Which task is inside a turn is told by a context variable, so the tasks a turn
starts (the Runner's tool calls, the renewal) are inside it, and other requests
sharing the same session object are not.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import random
import secrets
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from ._plan import Change, Loaded, Operation, Skip, WritePlan, holds_session
from .errors import (
    InvalidArgumentError,
    SessionStoreError,
    TurnAlreadyDoneError,
    TurnInProgressError,
    TurnLeaseLostError,
    describe,
)
from .models.codec import StoredItem, item_size
from .models.schema import SCHEMA, PageRef

if TYPE_CHECKING:
    from .store import _Engine

__all__ = [
    "CLOCK_MARGIN",
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_WAIT",
    "RECENT_TURN_KEYS",
    "Acquire",
    "Lease",
    "Release",
    "Renew",
    "Turn",
    "TurnRecord",
    "active_lease",
    "fence",
    "key_digest",
]

logger = logging.getLogger("openai_agents_session")

RECENT_TURN_KEYS = 32
"""Keys of this many recent turns are remembered per conversation (about 20 bytes each)."""

CLOCK_MARGIN = 1.0
"""Seconds a lease counts as live past its ``until``: DynamoDB's clock is known to
about a second (its ``Date`` header is truncated to the second)."""

DEFAULT_WAIT = 10.0
"""Seconds `SessionStore.turn` waits for another turn by default."""

DEFAULT_LEASE_SECONDS = 30.0
"""Default lease: a crashed holder blocks the conversation this long at most."""

_MIN_LEASE, _MAX_LEASE = 1.0, 3600.0
_MAX_WAIT = 900.0
# Polls while waiting start this far apart and double up to the ceiling (full
# jitter): a held conversation costs a waiter about one GetItem a second.
_FIRST_POLL, _MAX_POLL = 0.05, 1.0
_HOLDER_CHARS = 64
_DIGEST_CHARS = 16

_ACTIVE: ContextVar[Mapping[int, Lease]] = ContextVar(
    "openai_agents_session_turns", default=MappingProxyType({})
)


def key_digest(key: str) -> str:
    """The stored form of a turn key: 16 characters whatever the key (no user text stored)."""
    raw = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=12).digest()
    return base64.urlsafe_b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class Lease:
    """Who holds a conversation, until when (DynamoDB's Unix time), for which key.

    Attributes:
        holder: Random token of the turn that holds it.
        until: When the lease runs out unless renewed.
        key: Digest of the turn's key, or None.
        wrote: The turn has written to the conversation.
    """

    holder: str
    until: float
    key: str | None = None
    wrote: bool = False


@dataclass(frozen=True)
class TurnRecord:
    """The decoded ``turns`` attribute of a head: the lease, if any, and the recent keys."""

    lease: Lease | None = None
    keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, state: StoredItem | None) -> TurnRecord:
        """Read it off a head; anything malformed reads as absent, never as an error.

        A stored lease longer than the longest a turn may take is ignored, so a
        planted value cannot hold a conversation forever.
        """
        raw = None if state is None else state.extra.get(SCHEMA.turns)
        text = raw.get("S") if isinstance(raw, Mapping) else None
        if not isinstance(text, str):
            return cls()
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        found = data.get("keys")
        keys = tuple(
            k
            for k in (found if isinstance(found, list) else [])[-RECENT_TURN_KEYS:]
            if isinstance(k, str) and len(k) <= _DIGEST_CHARS + 1
        )
        return cls(_lease(data.get("lease"), state), keys)

    def encode(self) -> dict[str, str] | None:
        """The attribute value to store; None when there is nothing to keep."""
        if self.lease is None and not self.keys:
            return None
        data: dict[str, Any] = {"keys": list(self.keys)}
        if self.lease is not None:
            data["lease"] = {
                "holder": self.lease.holder,
                "until": round(self.lease.until, 3),
                "key": self.lease.key,
                "wrote": self.lease.wrote,
            }
        return {"S": json.dumps(data, separators=(",", ":"))}

    def live(self, now: float) -> Lease | None:
        """The lease, if it has not run out at `now` (with the clock's margin)."""
        if self.lease is not None and now < self.lease.until + CLOCK_MARGIN:
            return self.lease
        return None

    def done(self, digest: str) -> bool | None:
        """Whether the keyed turn finished (True), wrote then failed (False), or is unknown."""
        if digest in self.keys:
            return True
        if digest + "!" in self.keys:
            return False
        return None

    def with_key(self, digest: str, *, completed: bool) -> TurnRecord:
        """The record with `digest` remembered as the newest key (the oldest ones drop out)."""
        kept = [k for k in self.keys if k.rstrip("!") != digest]
        kept.append(digest if completed else digest + "!")
        return replace(self, keys=tuple(kept[-RECENT_TURN_KEYS:]))


def _lease(value: Any, state: StoredItem | None) -> Lease | None:
    if not isinstance(value, dict):
        return None
    holder, until, key = value.get("holder"), value.get("until"), value.get("key")
    if not isinstance(holder, str) or not 0 < len(holder) <= _HOLDER_CHARS:
        return None
    if isinstance(until, bool) or not isinstance(until, (int, float)) or not math.isfinite(until):
        return None
    if key is not None and (not isinstance(key, str) or len(key) > _DIGEST_CHARS):
        key = None
    # Bounded by the head's own write time, a lower bound of DynamoDB's time then.
    if state is not None and until > float(state.updated_at) + _MAX_LEASE + 60:
        return None
    return Lease(holder, float(until), key, value.get("wrote") is True)


def active_lease(session: _Engine) -> Lease | None:
    """The lease of the turn the current task is inside on `session`, if any."""
    return _ACTIVE.get().get(id(session))


# ------------------------------------------------------------------ operations


@dataclass(frozen=True)
class Granted:
    """The lease was taken or renewed until `until`; `record` is what the head stores."""

    until: float
    record: TurnRecord


@dataclass(frozen=True)
class Released:
    """The lease was released; `record` is what the head stores."""

    record: TurnRecord


@dataclass(frozen=True)
class Busy:
    """Another turn holds the conversation for about `retry_after` more seconds."""

    retry_after: float


@dataclass(frozen=True)
class Done:
    """The keyed turn already ran: `completed`, or wrote then failed."""

    completed: bool


def _rewrite(base: StoredItem | None, result: Granted | Released) -> Change:
    """The same history with a new ``turns`` record (put on by `fence`).

    Where no conversation is stored (absent, expired, cleared) the head stays a
    tombstone: taking the lease does not create the conversation, so a turn
    that fails before writing leaves nothing listed.
    """
    if not holds_session(base):
        return Change("[]", 0, (), result, 0, tombstone=True)
    assert base is not None
    return Change(base.conversation_json, base.count, base.page_refs, result, 0)


class _LeaseOperation:
    """What the lease's operations share: they read first and keep the history as it is."""

    needs_state = True
    tombstones = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """None: the history stays as it is."""
        return []


@dataclass(frozen=True)
class Acquire(_LeaseOperation):
    """Take the lease: `Busy` while another live turn holds it, `Done` for a known key."""

    holder: str
    key: str | None
    lease_seconds: float
    clock: Callable[[], float]
    name = "turn_acquire"

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | Skip:
        """The head with this turn's lease on it, or `Skip` with why not."""
        record = TurnRecord.of(base)
        if self.key is not None:
            done = record.done(self.key)
            if done is not None:
                return Skip(Done(done))
        now = self.clock()
        live = record.live(now)
        if live is not None and live.holder != self.holder:
            return Skip(Busy(live.until + CLOCK_MARGIN - now))
        until = now + self.lease_seconds
        granted = replace(record, lease=Lease(self.holder, until, self.key))
        return _rewrite(base, Granted(until, granted))


@dataclass(frozen=True)
class Renew(_LeaseOperation):
    """Move the lease's end to ``now + lease_seconds``; `Skip(None)` if it is not ours any more."""

    holder: str
    lease_seconds: float
    clock: Callable[[], float]
    name = "turn_renew"

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | Skip:
        """The head with the lease extended."""
        record = TurnRecord.of(base)
        lease = record.lease
        if lease is None or lease.holder != self.holder:
            return Skip(None)
        until = max(lease.until, self.clock() + self.lease_seconds)
        return _rewrite(base, Granted(until, replace(record, lease=replace(lease, until=until))))


@dataclass(frozen=True)
class Release(_LeaseOperation):
    """Drop the lease and remember the turn's key; `Skip(None)` if it is not ours any more.

    A turn that raised records its key only if it wrote (marked as failed):
    one that wrote nothing can run again with the same key.
    """

    holder: str
    key: str | None
    failed: bool
    name = "turn_release"

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | Skip:
        """The head without the lease, with the key remembered."""
        record = TurnRecord.of(base)
        lease = record.lease
        if lease is None or lease.holder != self.holder:
            return Skip(None)
        released = replace(record, lease=None)
        if self.key is not None and (lease.wrote or not self.failed):
            released = released.with_key(self.key, completed=not self.failed)
        return _rewrite(base, Released(released))


def fence(
    plan: WritePlan,
    base: StoredItem | None,
    operation: Operation,
    now: float,
    session: _Engine,
) -> WritePlan:
    """Put the right ``turns`` record on a planned write, or refuse it.

    `base` is the live state the write is conditional on (None: absent or
    expired). A turn operation carries its record in its result. Any other
    write keeps the current task's own lease (and notes that the turn wrote),
    is refused while another turn's lease is live, and drops an expired one.

    Raises:
        TurnInProgressError: A live turn holds the conversation, and this write
            is not part of it.
        TurnLeaseLostError: This task's turn no longer holds the lease.
    """
    stored = TurnRecord.of(base)
    if isinstance(operation, _LeaseOperation):
        assert isinstance(plan.result, (Granted, Released))
        record = plan.result.record
    else:
        mine = active_lease(session)
        name = operation.name
        where = describe(session.session_id, session.table_name)
        if mine is not None:
            lease = stored.lease
            if lease is None or lease.holder != mine.holder:
                raise TurnLeaseLostError(
                    f"{name} on {where}: this turn's lease ran out and the conversation "
                    "was written or taken over since, so the turn's history is stale. "
                    "Nothing was written. Fix: run the turn again from a fresh read; raise "
                    "lease_seconds if the process stalls longer than the lease.",
                    session_id=session.session_id,
                    table_name=session.table_name,
                )
            record = replace(stored, lease=replace(lease, wrote=True))
        else:
            live = stored.live(now)
            if live is not None:
                raise TurnInProgressError(
                    f"{name} on {where}: a turn (session.turn()) holds the conversation, "
                    "and this write is not part of it; nothing was written. Fix: write "
                    "inside the turn (async with session.turn(): ...), or retry once it "
                    f"ends (at most {max(0.0, live.until + CLOCK_MARGIN - now):.1f} s unless "
                    "it is renewed).",
                    retry_after=max(0.0, live.until + CLOCK_MARGIN - now),
                    session_id=session.session_id,
                    table_name=session.table_name,
                )
            record = replace(stored, lease=None)
    encoded = record.encode()
    if encoded is None and SCHEMA.turns not in plan.item:
        return plan
    item = {k: v for k, v in plan.item.items() if k != SCHEMA.turns}
    assert plan.state is not None
    extra = {k: v for k, v in plan.state.extra.items() if k != SCHEMA.turns}
    if encoded is not None:
        item[SCHEMA.turns] = encoded
        extra[SCHEMA.turns] = encoded
    return replace(plan, item=item, size=item_size(item), state=replace(plan.state, extra=extra))


def held_state(session: _Engine, state: StoredItem | None, now: float) -> bool:
    """Whether the current task's turn may read `state` from memory instead of DynamoDB.

    While its lease is live no one else can write, so the state the turn last
    wrote (the lease's own, at the least) is the stored one.
    """
    mine = active_lease(session)
    if mine is None or state is None:
        return False
    lease = TurnRecord.of(state).lease
    return lease is not None and lease.holder == mine.holder and now < lease.until - CLOCK_MARGIN


# ------------------------------------------------------------------ the context manager


def _number(session: _Engine, name: str, value: object, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise InvalidArgumentError(
            f"turn() on {describe(session.session_id, session.table_name)}: {name} must be a "
            f"number of seconds from {low:g} to {high:g}, got {type(value).__name__} {value!r}. "
            "Nothing was sent.",
            session_id=session.session_id,
            table_name=session.table_name,
        )
    return float(value)


class Turn:
    """What `SessionStore.turn` returns: an async context manager holding the conversation.

    Attributes:
        key: The turn's key, as given (None: an unkeyed turn).
        wait: Seconds it waits for another turn before `TurnInProgressError`.
        lease_seconds: How long the lease runs without a renewal.
    """

    def __init__(
        self, session: _Engine, *, key: str | None, wait: float, lease_seconds: float
    ) -> None:
        """Check the arguments; nothing is sent until the turn is entered."""
        if key is not None and (not isinstance(key, str) or not key):
            raise InvalidArgumentError(
                f"turn() on {describe(session.session_id, session.table_name)}: key must be "
                f"a non-empty string or None, got {type(key).__name__}. Nothing was sent. "
                "Fix: pass the id of the message that starts the turn (e.g. the SQS "
                "messageId).",
                session_id=session.session_id,
                table_name=session.table_name,
            )
        self._session = session
        self.key = key
        self.wait = _number(session, "wait", wait, 0.0, _MAX_WAIT)
        self.lease_seconds = _number(
            session, "lease_seconds", lease_seconds, _MIN_LEASE, _MAX_LEASE
        )
        self._digest = None if key is None else key_digest(key)
        self._lease: Lease | None = None
        self._token: Token[Mapping[int, Lease]] | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Turn:
        """Take the lease, waiting (polling with backoff) up to `wait` seconds.

        Raises:
            TurnInProgressError: Another turn held the conversation all along.
            TurnAlreadyDoneError: A turn with this key already ran.
        """
        session = self._session
        session._check_open()
        if self._lease is not None or active_lease(session) is not None:
            raise InvalidArgumentError(
                f"turn() on {describe(session.session_id, session.table_name)} was entered "
                "inside a turn this task already holds on the session object. Nothing was "
                "sent. Fix: run one turn at a time; the writes of the open turn are its own.",
                session_id=session.session_id,
                table_name=session.table_name,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        holder = secrets.token_urlsafe(12)
        acquire = Acquire(holder, self._digest, self.lease_seconds, session._now)
        ceiling = _FIRST_POLL
        # A refusal decided on what the object remembered is confirmed by a read.
        confirm = session._known
        while True:
            try:
                outcome = await session._operation(
                    acquire.name, lambda m: session._mutate(m, acquire), settle=True
                )
            except asyncio.CancelledError:
                # The write settled before the cancellation went on: if it took the
                # lease, give it back now rather than hold the conversation for
                # lease_seconds.
                await self._give_back(holder)
                raise
            if isinstance(outcome, Granted):
                break
            if isinstance(outcome, Done):
                raise self._done(outcome.completed)
            retry_after = outcome.retry_after if isinstance(outcome, Busy) else 0.0
            session._forget()
            if confirm:
                confirm = False
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._busy(retry_after)
            await asyncio.sleep(min(remaining, random.uniform(ceiling / 2, ceiling)))
            ceiling = min(ceiling * 2, _MAX_POLL)
        self._lease = Lease(holder, outcome.until, self._digest)
        self._token = _ACTIVE.set(MappingProxyType({**_ACTIVE.get(), id(session): self._lease}))
        self._renewer = asyncio.create_task(self._renew(holder))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop renewing and release the lease, remembering the key.

        A turn that ended by an exception (cancellation included) releases too;
        its key is remembered only if it wrote (as failed). If the release
        cannot be sent, the lease runs out by itself after `lease_seconds`.

        Raises:
            TurnLeaseLostError: The turn finished, but its lease had been lost,
                so its key could not be recorded.
        """
        session, lease = self._session, self._lease
        assert lease is not None
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        if self._token is not None:
            _ACTIVE.reset(self._token)
        self._lease = self._token = self._renewer = None
        release = Release(lease.holder, self._digest, failed=exc_type is not None)
        try:
            outcome = await session._operation(
                release.name, lambda m: session._mutate(m, release), settle=True
            )
        except SessionStoreError as error:
            if exc_type is None:
                raise
            logger.warning(
                "could not release the turn of session %r in table %r (its lease runs out "
                "by itself): %s",
                session.session_id,
                session.table_name,
                type(error).__name__,
            )
            return
        if outcome is None and exc_type is None:
            raise TurnLeaseLostError(
                f"The turn on {describe(session.session_id, session.table_name)} finished, "
                "but its lease had run out and was taken over; its key was not recorded. "
                "Fix: raise lease_seconds if the process stalls longer than the lease.",
                session_id=session.session_id,
                table_name=session.table_name,
            )

    async def _give_back(self, holder: str) -> None:
        """Release a lease taken by an acquisition whose caller was cancelled."""
        session = self._session
        lease = TurnRecord.of(session._state).lease if session._known else None
        if lease is None or lease.holder != holder:
            return
        release = Release(holder, None, failed=True)
        try:
            await session._operation(
                release.name, lambda m: session._mutate(m, release), settle=True
            )
        except (SessionStoreError, asyncio.CancelledError):
            logger.warning(
                "could not give back the turn lease of session %r in table %r; it runs out "
                "by itself",
                session.session_id,
                session.table_name,
            )

    async def _renew(self, holder: str) -> None:
        """Extend the lease every third of it while the turn runs."""
        session = self._session
        renew = Renew(holder, self.lease_seconds, session._now)
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                outcome = await session._operation(
                    renew.name, lambda m: session._mutate(m, renew), settle=True
                )
            except SessionStoreError as exc:
                # Try again at the next third; past the lease, the turn's writes fail.
                logger.warning(
                    "could not renew the turn lease of session %r in table %r: %s",
                    session.session_id,
                    session.table_name,
                    type(exc).__name__,
                )
                continue
            if outcome is None:
                logger.warning(
                    "the turn lease of session %r in table %r was lost",
                    session.session_id,
                    session.table_name,
                )
                return

    def _busy(self, retry_after: float) -> TurnInProgressError:
        session = self._session
        return TurnInProgressError(
            f"turn() on {describe(session.session_id, session.table_name)}: another turn "
            f"held the conversation for the whole wait ({self.wait:g} s); its lease runs "
            f"about {retry_after:.1f} s more unless renewed. Nothing was written. Fix: retry "
            "later (let the queue redeliver the message), or raise wait=.",
            retry_after=retry_after,
            session_id=session.session_id,
            table_name=session.table_name,
        )

    def _done(self, completed: bool) -> TurnAlreadyDoneError:
        session = self._session
        how = (
            "completed"
            if completed
            else "wrote to the history and then failed (see the Lambda docs to resume it)"
        )
        return TurnAlreadyDoneError(
            f"turn(key=...) on {describe(session.session_id, session.table_name)}: a turn "
            f"with this key already ran and {how}. Nothing was sent to the model. Fix: "
            "treat the message as handled (acknowledge it).",
            key=self.key or "",
            completed=completed,
            session_id=session.session_id,
            table_name=session.table_name,
        )
