"""Transactions around the head's write: the fork's guard, and how a transaction ended.

A fork reads its source, then writes the copy's head. An erase (or a clear) of
the source in between must not leave the copy behind. On DynamoDB the copy's
conditional Put goes out in one TransactWriteItems with a ConditionCheck on
the source, so the copy lands only if the source still holds what was copied
(see `SourceGuard.condition_check`). An endpoint without transactions
(dynalite) answers ``UnknownOperationException``: that is remembered once per
client, and the fork falls back to a check after its write (`SessionStore.fork`
undoes a copy whose source was cleared or erased meanwhile). Only the
transaction is atomic.

A large append that seals a segment puts the segment's parts and the head in
one TransactWriteItems too (`_plan.one_call_seal`), and falls back to two calls
on the same endpoints. `transaction_outcome` reads either transaction's end
from the position of the head's Put among its actions.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from ._plan import Conflict, Failed, Lost, Outcome, classify, holds_session
from .models.attrs import number_text
from .models.codec import StoredItem, encode_key, write_condition
from .models.schema import SCHEMA

__all__ = ["SourceGuard", "lacks_transactions", "transaction_outcome"]

# Clients whose endpoint answered that it has no TransactWriteItems. Weak, so a
# closed client is forgotten with it.
_WITHOUT_TRANSACTIONS: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass(frozen=True)
class SourceGuard:
    """The source's head as the fork copied it.

    Attributes:
        session_id: The source session.
        version: Its ``updated_at`` when it was copied.
        created_at: Its ``created_at`` then; a clear or an erase drops it, and
            a write after them sets a new one.
    """

    session_id: str
    version: Decimal
    created_at: Decimal | None

    def condition_check(self, table_name: str) -> dict[str, Any]:
        """The TransactWriteItems ConditionCheck: the source still holds what was copied.

        That is its ``created_at`` as copied: appends keep it, a clear or an
        erase drops it (the tombstone has none), and a write after them sets a
        new one. Checking the version instead would refuse a fork of a busy
        session for every append, and a fork that keeps losing to appends
        starves. A source without ``created_at`` (written before the catalog)
        is checked on its version.
        """
        if self.created_at is None:
            condition = write_condition(self.version)
        else:
            condition = {
                "ConditionExpression": "#c = :c",
                "ExpressionAttributeNames": {"#c": SCHEMA.created_at},
                "ExpressionAttributeValues": {":c": {"N": number_text(self.created_at)}},
            }
        return {"TableName": table_name, "Key": encode_key(self.session_id), **condition}

    def erased_since(self, state: StoredItem | None, now: float) -> bool:
        """Whether the source was cleared, erased or expired since it was copied.

        The fallback's check, made after the copy landed, and the same rule as
        `condition_check`: appends to the source are fine, the loss of what was
        copied is not.
        """
        if state is None or state.is_expired(now):
            return True
        if state.updated_at == self.version:
            return False
        return not holds_session(state) or state.created_at != self.created_at


def lacks_transactions(client: Any, *, learned: bool = False) -> bool:
    """Whether `client`'s endpoint has no TransactWriteItems (`learned`: it just said so)."""
    if learned:
        _WITHOUT_TRANSACTIONS.add(client)
    return client in _WITHOUT_TRANSACTIONS


def transaction_outcome(error: ClientError, *, head: int = 0) -> Outcome | None:
    """How a transaction whose action `head` is the session head's conditional Put ended.

    A fork sends ``[Put target, ConditionCheck source]`` (the head is action 0);
    a sealing append sends its page parts' Puts, then the head's (the last).

    Returns:
        `Conflict` when the head's condition failed (its item, if handed back);
        None when only another action's condition failed (nothing landed); a
        `Conflict` with no item when another transaction touched one of its
        items (read, then retry); `Lost` when an earlier copy of the same
        transaction is still in progress (it may land); otherwise what
        `classify` says of the error.
    """
    response: Any = error.response
    code = (response.get("Error") or {}).get("Code")
    resent = bool(int((response.get("ResponseMetadata") or {}).get("RetryAttempts") or 0))
    if code == "TransactionInProgressException":
        return Lost(error)
    reasons = [str(r.get("Code") or "None") for r in response.get("CancellationReasons") or []]
    if code != "TransactionCanceledException" or not 0 <= head < len(reasons):
        return classify(error)
    if reasons[head] == "ConditionalCheckFailed":
        return Conflict(response["CancellationReasons"][head].get("Item"), resent)
    if "ConditionalCheckFailed" in reasons:
        return None
    if "TransactionConflict" in reasons:
        return Conflict(None, resent)
    return Failed(error, resent)
