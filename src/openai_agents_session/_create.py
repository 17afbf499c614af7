"""The write that saves a new, empty session: a chat's "New chat" before its first message.

One conditional put of an empty head carrying the object's owner, title,
metadata and team attributes, and ``created_at``. It runs on the engine's
write path (`SessionStore._mutate`) like every other operation, so a lost
answer is recognised and never written twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._plan import Change, Loaded, Skip, holds_session
from .models.codec import StoredItem
from .models.schema import SCHEMA, PageRef

__all__ = ["Create"]


@dataclass(frozen=True)
class Create:
    """Save an empty session unless one is there (`Skip(False)` then).

    The target may be absent, expired or a clear's tombstone; a session with
    items, or one saved empty before, is left as it is. Nothing stored on a
    tombstone is carried over but its owner: the head starts from this object's
    attributes. A tombstone keeps its owner so that a write landing on it stays
    the owner's (and goes with the owner's erase); an object built with another
    ``owner=`` is refused before this runs, and one built without keeps it.
    """

    name: str = "create"
    needs_state: bool = False  # a blind put; its condition checks the guess "absent"
    tombstones: bool = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """None: nothing of what is stored survives."""
        return []

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | Skip:
        """An empty head, or `Skip(False)` when a session is there."""
        if holds_session(base):
            return Skip(False)
        owner = base.extra.get(SCHEMA.owner) if base is not None else None
        return Change("[]", 0, (), True, 0, extra={} if owner is None else {SCHEMA.owner: owner})
