"""The migration lock: a lease item, and the fence every ledger write passes through.

The lease lives in the session table under `LOCK_ID`. A runner takes it with a
conditional UpdateItem (the item is absent, or its lease has expired), which
also bumps a fencing token; it renews the lease from a background task while it
runs. Every write the runner makes to the ledger or to a checkpoint is a
TransactWriteItems whose first entry is a ConditionCheck on the lock item (same
owner, same token, lease not expired by the writer's clock), so a runner that
lost its lease cannot write: the transaction is cancelled and `LeaseLostError`
raised. Backfills put their item writes in the same kind of transaction
(`MigrationLock.transact`). Endpoints without transactions (dynalite) get a
read-then-write fence for the ledger and a warning; backfills there check the
lease's expiry by this runner's clock instead (`MigrationLock.ensure_lease`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .dynamo import aws_errors, error_code, from_item, returned_item
from .errors import LeaseLostError, LockBusyError, MigrationError
from .keys import LOCK_ID, key

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "LockInfo",
    "MigrationLock",
    "TransactOutcome",
    "force_unlock",
    "read_lock",
    "runner_identity",
]

logger = logging.getLogger("openai_agents_session.migrations")

DEFAULT_LEASE_SECONDS = 30.0
"""How long a lease lasts without renewal; it is renewed every third of that."""

_NAMES = {
    "#owner": "lock_owner",
    "#holder": "lock_holder",
    "#token": "fencing_token",
    "#expires": "lease_expires_at",
    "#acquired": "acquired_at",
}


def runner_identity() -> str:
    """``user@host pid N``: who is running, as recorded in the lock and the ledger."""
    try:
        user = getpass.getuser()
    except Exception:  # getuser raises when no user name is configured (containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


@dataclass(frozen=True)
class LockInfo:
    """The lock item as stored.

    Attributes:
        owner: Random id of the runner holding it.
        holder: ``user@host pid N`` of that runner.
        token: Fencing token, increased by every acquisition.
        expires_at: Unix time the lease ends unless renewed.
        acquired_at: Unix time it was acquired.
    """

    owner: str
    holder: str
    token: int
    expires_at: float
    acquired_at: float

    def live(self, now: float) -> bool:
        """Whether the lease is still valid at Unix time `now`."""
        return self.expires_at > now

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "owner": self.owner,
            "holder": self.holder,
            "token": self.token,
            "expires_at": self.expires_at,
            "acquired_at": self.acquired_at,
        }

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> LockInfo:
        """Decode the lock item."""
        values = from_item(raw)
        return cls(
            owner=str(values.get(_NAMES["#owner"], "")),
            holder=str(values.get(_NAMES["#holder"], "unknown")),
            token=int(values.get(_NAMES["#token"], 0)),
            expires_at=float(values.get(_NAMES["#expires"], 0)),
            acquired_at=float(values.get(_NAMES["#acquired"], 0)),
        )


async def read_lock(client: DynamoDBClient, table_name: str) -> LockInfo | None:
    """The current lease (live or expired), or None when nobody holds the lock."""
    with aws_errors("read the migration lock", table_name):
        response = await client.get_item(
            TableName=table_name, Key=key(LOCK_ID), ConsistentRead=True
        )
    item = response.get("Item")
    return LockInfo.from_raw(item) if item and _NAMES["#owner"] in item else None


@dataclass(frozen=True)
class TransactOutcome:
    """What one fenced TransactWriteItems did (the lease held, or it would have raised).

    Attributes:
        committed: Every operation was written.
        codes: When cancelled, one code per operation (the fence's own check left
            out): ``"None"`` where that operation's condition held, else
            DynamoDB's reason, e.g. ``"ConditionalCheckFailed"`` or
            ``"TransactionConflict"``.
        items: When cancelled, the current item DynamoDB returned for each
            operation whose condition failed (when asked for with
            ``ReturnValuesOnConditionCheckFailure``), else None.
        units: Write capacity DynamoDB reported, or None when it reported none.
    """

    committed: bool
    codes: tuple[str, ...] = ()
    items: tuple[Mapping[str, Any] | None, ...] = ()
    units: float | None = None


def _released(raw: Mapping[str, Any] | None) -> LockInfo | None:
    return LockInfo.from_raw(raw) if raw and _NAMES["#owner"] in raw else None


async def force_unlock(client: DynamoDBClient, table_name: str) -> LockInfo | None:
    """End the lease whoever holds it; return what it was (None if nobody held it).

    The escape hatch after a runner died holding a long lease. The item keeps
    its fencing token, so tokens stay monotonic; the runner that held the lease,
    if still alive, fails its next fenced write.
    """
    with aws_errors("release the migration lock", table_name):
        response = await client.update_item(
            TableName=table_name,
            Key=key(LOCK_ID),
            UpdateExpression="REMOVE #owner, #holder, #acquired SET #expires = :zero",
            ExpressionAttributeNames={
                k: _NAMES[k] for k in ("#owner", "#holder", "#acquired", "#expires")
            },
            ExpressionAttributeValues={":zero": {"N": "0"}},
            ReturnValues="ALL_OLD",
        )
    return _released(response.get("Attributes"))


class MigrationLock:
    """A lease on the migration lock of one table, and the fence for ledger writes.

    Use ``async with lock.held(timeout)`` or `acquire` / `release`. While held, a
    background task renews the lease every ``renew_interval`` seconds.

    Attributes:
        owner: Random id of this runner.
        holder: ``user@host pid N``.
        token: Fencing token of the current lease (None until acquired).
        lost: The lease was lost; every fenced write now raises `LeaseLostError`.
    """

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        renew_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        holder: str | None = None,
    ) -> None:
        """Prepare a lock; nothing is written until `acquire`.

        Args:
            client: aiobotocore DynamoDB client.
            table_name: The session table (the lock item lives in it).
            lease_seconds: Lease length; must exceed the clock skew between runners.
            renew_interval: Seconds between renewals (a third of the lease by
                default); 0 disables renewal.
            clock: Unix time in seconds.
            holder: Identity recorded in the lock (``user@host pid N`` by default).
        """
        if lease_seconds <= 0:
            raise MigrationError(f"lease_seconds must be positive, got {lease_seconds!r}")
        self.client = client
        self.table_name = table_name
        self.lease_seconds = lease_seconds
        self.renew_interval = lease_seconds / 3 if renew_interval is None else renew_interval
        self.owner = uuid.uuid4().hex
        self.holder = holder or runner_identity()
        self.token: int | None = None
        self.lost = False
        self._clock = clock
        self._renewer: asyncio.Task[None] | None = None
        self._transactions = True
        # The lease's end as this runner last wrote it (its own clock): the
        # stored value, whatever the request's latency.
        self._expires_at = 0.0

    # ------------------------------------------------------------------ acquire

    async def acquire(self, timeout: float) -> None:
        """Take the lease, waiting up to `timeout` seconds for another runner's to end.

        Polls with jittered exponential backoff, waking early when the holder's
        lease is due to expire.

        Raises:
            LockBusyError: Another runner still held it when the timeout passed.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = 0.05
        while True:
            holder = await self._try_acquire()
            if holder is None:
                self._start_renewal()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockBusyError(
                    f"table {self.table_name!r} is being migrated by {holder.holder} "
                    f"(lease until {_clock_text(holder.expires_at)}, token {holder.token}). "
                    "Fix: wait and retry with a longer --lock-timeout; if that runner is "
                    "dead, run `openai-agents-session migrate unlock --force`.",
                    table_name=self.table_name,
                    holder=holder.holder,
                    expires_at=holder.expires_at,
                )
            pause = min(delay * random.uniform(0.5, 1.0), remaining)
            until_expiry = holder.expires_at - self._clock()
            if 0 < until_expiry < pause:
                pause = until_expiry + 0.005
            await asyncio.sleep(max(pause, 0.005))
            delay = min(delay * 2, 2.0)

    async def _try_acquire(self) -> LockInfo | None:
        """One attempt: None when acquired, else the current holder."""
        now = self._clock()
        with aws_errors("acquire the migration lock", self.table_name):
            try:
                response = await self.client.update_item(
                    TableName=self.table_name,
                    Key=key(LOCK_ID),
                    UpdateExpression=(
                        "SET #owner = :owner, #holder = :holder, #expires = :expires, "
                        "#acquired = :now ADD #token :one"
                    ),
                    ConditionExpression="attribute_not_exists(#owner) OR #expires < :now",
                    ExpressionAttributeNames=_NAMES,
                    ExpressionAttributeValues={
                        ":owner": {"S": self.owner},
                        ":holder": {"S": self.holder},
                        ":expires": {"N": _number(now + self.lease_seconds)},
                        ":now": {"N": _number(now)},
                        ":one": {"N": "1"},
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                current = returned_item(exc)
                if not current:
                    # dynalite does not return the item: read it.
                    info = await read_lock(self.client, self.table_name)
                else:
                    info = LockInfo.from_raw(current)
                if info is None or info.owner != self.owner:
                    return info or LockInfo("", "nobody", 0, 0.0, 0.0)
                # Our own acquisition landed and a resent copy (lost response) failed.
                self.token = info.token
                self.lost = False
                self._expires_at = info.expires_at
                return None
        info = LockInfo.from_raw(response["Attributes"])
        self.token = info.token
        self.lost = False
        self._expires_at = info.expires_at
        logger.info("migration lock on %r acquired (token %d)", self.table_name, info.token)
        return None

    # ------------------------------------------------------------------ renew / release

    def _start_renewal(self) -> None:
        if self.renew_interval > 0:
            self._renewer = asyncio.create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.renew_interval)
            try:
                await self.renew()
            except LeaseLostError:
                logger.error("migration lock on %r lost; stopping", self.table_name)
                return
            except Exception:  # a transient failure: the next renewal may succeed
                logger.warning("renewing the migration lock failed", exc_info=True)

    async def renew(self) -> None:
        """Extend the lease by `lease_seconds` from now.

        Raises:
            LeaseLostError: Another runner took the lock, or it was force-unlocked.
        """
        if self.token is None:
            raise LeaseLostError(
                "the migration lock was never acquired", table_name=self.table_name
            )
        expires = float(_number(self._clock() + self.lease_seconds))
        with aws_errors("renew the migration lock", self.table_name):
            try:
                await self.client.update_item(
                    TableName=self.table_name,
                    Key=key(LOCK_ID),
                    UpdateExpression="SET #expires = :expires",
                    ConditionExpression="#owner = :owner AND #token = :token",
                    ExpressionAttributeNames={
                        k: _NAMES[k] for k in ("#expires", "#owner", "#token")
                    },
                    ExpressionAttributeValues={
                        ":expires": {"N": _number(expires)},
                        ":owner": {"S": self.owner},
                        ":token": {"N": str(self.token)},
                    },
                )
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    self.lost = True
                    raise self.lost_error() from exc
                raise
        self._expires_at = max(self._expires_at, expires)

    async def release(self) -> None:
        """Stop renewing and end the lease if this runner still holds it."""
        await self._stop_renewal()
        if self.token is None:
            return
        token, self.token = self.token, None
        try:
            # Clear the lease but keep the item, so the next token is higher.
            await self.client.update_item(
                TableName=self.table_name,
                Key=key(LOCK_ID),
                UpdateExpression="REMOVE #owner, #holder, #acquired SET #expires = :zero",
                ConditionExpression="#owner = :owner AND #token = :token",
                ExpressionAttributeNames=dict(_NAMES),
                ExpressionAttributeValues={
                    ":owner": {"S": self.owner},
                    ":token": {"N": str(token)},
                    ":zero": {"N": "0"},
                },
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                logger.warning("releasing the migration lock failed: %s", exc)
        except Exception as exc:  # the lease expires by itself; do not mask the real outcome
            logger.warning("releasing the migration lock failed: %s", exc)

    async def _stop_renewal(self) -> None:
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    @contextlib.asynccontextmanager
    async def held(self, timeout: float) -> Any:
        """``async with lock.held(timeout):`` acquire, then release on exit."""
        await self.acquire(timeout)
        try:
            yield self
        finally:
            await asyncio.shield(self.release())

    # ------------------------------------------------------------------ fenced writes

    @property
    def transactions(self) -> bool:
        """Whether fenced writes are atomic (False once the endpoint refused TransactWriteItems)."""
        return self._transactions

    def lease_remaining(self) -> float:
        """Seconds left on the lease by this runner's clock, as of its last renewal."""
        return self._expires_at - self._clock()

    async def ensure_lease(self, margin: float) -> None:
        """Return only while the lease has more than `margin` seconds left by this runner's clock.

        The fence of writes that cannot be transactions (see `transact`). When
        less is left (renewals were missed), the lease is renewed first; that
        conditional write fails if another runner took the lock over.

        Raises:
            LeaseLostError: The lease was lost, or could not be renewed with
                more than `margin` seconds to spare.
        """
        if self.token is None or self.lost:
            raise self.lost_error()
        if self.lease_remaining() > margin:
            return
        await self.renew()
        if self.lease_remaining() <= margin:
            # The renewal itself took most of the lease: too slow to write safely.
            self.lost = True
            raise self.lost_error()

    def lost_error(self) -> LeaseLostError:
        return LeaseLostError(
            f"this runner's lease on the migration lock of {self.table_name!r} expired or was "
            "taken over (token "
            f"{self.token}); it wrote nothing more. Fix: check who holds it with "
            "`openai-agents-session migrate status`, then rerun `migrate up` (use a longer "
            "lease if renewals are being starved).",
            table_name=self.table_name,
        )

    def _fence_condition(self) -> dict[str, Any]:
        return {
            "TableName": self.table_name,
            "Key": key(LOCK_ID),
            "ConditionExpression": "#owner = :owner AND #token = :token AND #expires > :now",
            "ExpressionAttributeNames": {k: _NAMES[k] for k in ("#owner", "#token", "#expires")},
            "ExpressionAttributeValues": {
                ":owner": {"S": self.owner},
                ":token": {"N": str(self.token)},
                ":now": {"N": _number(self._clock())},
            },
        }

    async def write(self, operations: Sequence[Mapping[str, Any]]) -> float:
        """Apply `operations` (TransactWriteItems entries) only while holding the lease.

        Args:
            operations: At most 99 ``{"Put": ...}``, ``{"Update": ...}`` or
                ``{"Delete": ...}`` entries on this table.

        Returns:
            Write capacity units consumed.

        Raises:
            LeaseLostError: The lease expired or was taken over; nothing was written.
        """
        if self.token is None or self.lost:
            raise self.lost_error()
        if not operations:
            return 0.0
        outcome = await self.transact(operations)
        if outcome is None:
            return await self._write_degraded(operations)
        if not outcome.committed:
            raise MigrationError(
                f"a fenced write to {self.table_name!r} was cancelled "
                f"({', '.join(outcome.codes)}); nothing was written. Fix: rerun "
                "`openai-agents-session migrate up`.",
                table_name=self.table_name,
            )
        return outcome.units or 0.0

    async def transact(self, operations: Sequence[Mapping[str, Any]]) -> TransactOutcome | None:
        """One TransactWriteItems: the lease's ConditionCheck first, then `operations`.

        Args:
            operations: At most 99 ``{"Put": ...}``, ``{"Update": ...}``,
                ``{"Delete": ...}`` or ``{"ConditionCheck": ...}`` entries.

        Returns:
            The outcome; a cancellation by another entry's condition is an
            outcome, not an error. None when the endpoint has no
            TransactWriteItems (`transactions` is then False; nothing was written).

        Raises:
            LeaseLostError: The lease expired or was taken over; nothing was written.
        """
        if self.token is None or self.lost:
            raise self.lost_error()
        if not self._transactions:
            return None
        items = [{"ConditionCheck": self._fence_condition()}, *operations]
        with aws_errors("fenced write", self.table_name):
            try:
                response = await self.client.transact_write_items(
                    TransactItems=items,  # type: ignore[arg-type]
                    ReturnConsumedCapacity="TOTAL",
                )
            except ClientError as exc:
                code = error_code(exc)
                if code == "UnknownOperationException":
                    self._transactions = False
                    logger.warning(
                        "the endpoint has no TransactWriteItems: migration writes on %r are "
                        "checked against the lock first, not atomically",
                        self.table_name,
                    )
                    return None
                reasons: list[Any] = list(exc.response.get("CancellationReasons") or [])
                if code != "TransactionCanceledException" or len(reasons) != len(items):
                    raise
                if reasons[0].get("Code") == "ConditionalCheckFailed":
                    self.lost = True
                    raise self.lost_error() from exc
                return TransactOutcome(
                    committed=False,
                    codes=tuple(str(r.get("Code") or "None") for r in reasons[1:]),
                    items=tuple(r.get("Item") or None for r in reasons[1:]),
                )
        reported = response.get("ConsumedCapacity")
        units = sum(float(c.get("CapacityUnits") or 0) for c in reported) if reported else None
        return TransactOutcome(committed=True, units=units)

    async def _write_degraded(self, operations: Sequence[Mapping[str, Any]]) -> float:
        current = await read_lock(self.client, self.table_name)
        if (
            current is None
            or current.owner != self.owner
            or current.token != self.token
            or not current.live(self._clock())
        ):
            self.lost = True
            raise self.lost_error()
        consumed = 0.0
        with aws_errors("write the migration ledger", self.table_name):
            for operation in operations:
                ((kind, request),) = operation.items()
                response: Mapping[str, Any]
                if kind == "Put":
                    response = await self.client.put_item(**request, ReturnConsumedCapacity="TOTAL")
                elif kind == "Update":
                    response = await self.client.update_item(
                        **request, ReturnConsumedCapacity="TOTAL"
                    )
                elif kind == "Delete":
                    response = await self.client.delete_item(
                        **request, ReturnConsumedCapacity="TOTAL"
                    )
                else:
                    raise MigrationError(f"unsupported fenced operation {kind!r}")
                consumed += float(
                    (response.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0
                )
        return consumed


def _number(value: float) -> str:
    return str(Decimal(repr(round(value, 6))))


def _clock_text(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
