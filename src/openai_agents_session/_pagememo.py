"""What the session objects of one client remember of a session's pages.

Pages never change once written: every page gets a fresh random id, and its
parts are written before any head lists it. So the items of a page, decoded
once, serve every later read of a head that lists the same id, and the member
list of a composite page serves every later read of that composite. A session
object that reads or writes a paged session keeps its newest pages and the
member lists it saw in a `PageMemo`; every object of the same session, table
and client shares that memo, so that a new object (one per request, as web
servers and Runner callers make them) finds the newest items one request away,
in the head's own read.

Nothing here decides what a read returns: a memo is only asked for pages that
a head read in the same operation lists, under the same session's keys, so a
session that was cleared, trimmed or erased is never served from it. The memos
of one client are bounded together (`MEMO_BYTES`), least recently used first
out; a memo on its own stays bounded by the keep rule of its users (the newest
pages only) and by the index its member lists come from.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from .models.schema import ConversationItem, PageRef

__all__ = ["MAX_MEMOS", "MEMO_BYTES", "PageMemo", "forget", "shared_memo"]

MEMO_BYTES = 8 * 1024 * 1024
"""The most page bytes (uncompressed JSON, as the index counts them) and member
entries the memos of one client hold together. Decoded, JSON takes 1.2 to 2.5 times
its size in memory for SDK messages of 5 KB to 0.5 KB, up to 8 times for tiny
ones: 10 to 20 MB, at most 64 MB, per client. Enough for the newest 20 items of 5 KB of about
80 sessions; the least recently used go first."""

MAX_MEMOS = 1024
"""The most sessions whose memos one client shares."""

# Member entries are charged at about their size in memory.
_MEMBER_BYTES = 128


class PageMemo:
    """One session's remembered pages: decoded items and composite member lists, by page id."""

    __slots__ = ("__weakref__", "_home", "_members", "_page_bytes", "_pages", "weight")

    def __init__(self) -> None:
        # By page id: the parts and size of the index entry the items were read
        # or written for, and the page's items.
        self._pages: dict[str, tuple[int, int, list[ConversationItem]]] = {}
        self._members: dict[str, tuple[PageRef, ...]] = {}
        self._page_bytes = 0
        # Where the memo is shared once it holds anything: its client's shelf and key.
        self._home: tuple[_Shelf, tuple[str, str]] | None = None
        self.weight = 0

    def page(self, ref: PageRef) -> list[ConversationItem] | None:
        """The items of the page `ref` points at, if remembered for an entry like it.

        An entry of the same id that claims other parts or size, or a view past
        the items, is not the page remembered: None, and the page is read.
        """
        found = self._pages.get(ref.id)
        if found is None:
            return None
        parts, size, items = found
        if parts != ref.parts or size != ref.size or ref.start + ref.length > len(items):
            return None
        return items

    @property
    def members(self) -> Mapping[str, tuple[PageRef, ...]]:
        """Member lists of the remembered composites, by page id."""
        return self._members

    def pages_held(self) -> int:
        """How many pages' items are remembered."""
        return len(self._pages)

    def keep_pages(
        self, refs: Sequence[PageRef], loaded: Mapping[str, list[ConversationItem]]
    ) -> None:
        """Remember exactly the pages of `refs` whose items are in `loaded` or remembered."""
        kept: dict[str, tuple[int, int, list[ConversationItem]]] = {}
        for ref in refs:
            items = loaded.get(ref.id)
            if items is None:
                items = self.page(ref)
            if items is not None:
                kept[ref.id] = (ref.parts, ref.size, items)
        self._pages = kept
        self._page_bytes = sum(size for _, size, _ in kept.values())
        self._reweigh()

    def add_members(self, lists: Mapping[str, tuple[PageRef, ...]]) -> None:
        """Remember composites' member lists (immutable, like the pages they list)."""
        if lists:
            # Copied, never changed in place: another thread may be reading it.
            self._members = {**self._members, **lists}
            self._reweigh()

    def _reweigh(self) -> None:
        members = sum(len(m) for m in self._members.values())
        self.weight = self._page_bytes + members * _MEMBER_BYTES
        if self._home is not None:
            shelf, key = self._home
            shelf.changed(key, self)


class _Shelf:
    """The shared memos of one client, by (table, session id), least recently used first.

    Sync callers run session objects in several threads on one shared client,
    so every change of the shelf holds its lock.
    """

    def __init__(self) -> None:
        self.memos: OrderedDict[tuple[str, str], PageMemo] = OrderedDict()
        # What each shared memo weighed when last counted, and their sum.
        self.counted: dict[tuple[str, str], int] = {}
        self.weight = 0
        self.lock = threading.Lock()

    def changed(self, key: tuple[str, str], memo: PageMemo) -> None:
        """Count `memo`'s new weight; share it if it holds anything and is not shared yet."""
        with self.lock:
            current = self.memos.get(key)
            if current is not memo:
                if not memo.weight:
                    return
                # Another object's memo of this session, or none: the newer one serves.
                self.memos[key] = memo
            self.weight += memo.weight - self.counted.get(key, 0)
            self.counted[key] = memo.weight
            self.memos.move_to_end(key)
            while self.memos and (self.weight > MEMO_BYTES or len(self.memos) > MAX_MEMOS):
                oldest, _ = self.memos.popitem(last=False)
                self.weight -= self.counted.pop(oldest)

    def take(self, key: tuple[str, str], own: PageMemo) -> PageMemo:
        """The memo shared under `key`, or `own`, to be shared once it holds anything."""
        with self.lock:
            memo = self.memos.get(key)
            if memo is not None:
                self.memos.move_to_end(key)
        if memo is None or memo is own:
            own._home = (self, key)
            own._reweigh()
            return own
        memo.add_members(own.members)
        return memo

    def drop(self, table_name: str | None, session_id: str | None) -> None:
        """Stop sharing the memos of `table_name` and `session_id` (None: any), and
        empty their pages for every object that holds them."""
        with self.lock:
            dropped = [
                k for k in self.memos if table_name in (None, k[0]) and session_id in (None, k[1])
            ]
            memos = [self.memos.pop(key) for key in dropped]
            for key in dropped:
                self.weight -= self.counted.pop(key)
        for memo in memos:
            memo._home = None
            memo.keep_pages((), {})


_SHELVES: weakref.WeakKeyDictionary[Any, _Shelf] = weakref.WeakKeyDictionary()
_SHELVES_LOCK = threading.Lock()


def _shelf(client: Any, *, create: bool) -> _Shelf | None:
    with _SHELVES_LOCK:
        shelf = _SHELVES.get(client)
        if shelf is None and create:
            shelf = _SHELVES[client] = _Shelf()
        return shelf


def shared_memo(client: Any, table_name: str, session_id: str, own: PageMemo) -> PageMemo:
    """The memo this session's objects on `client` share, or `own` to share from now on.

    `own` is what the object remembered before it knew its client; it is shared
    as soon as it holds anything. A client that cannot be weakly referenced
    shares nothing: `own` is returned and stays the object's alone.
    """
    try:
        shelf = _shelf(client, create=True)
    except TypeError:
        return own
    assert shelf is not None
    return shelf.take((table_name, session_id), own)


def forget(client: Any, table_name: str | None = None, session_id: str | None = None) -> None:
    """Drop what the objects on `client` share: of `table_name` and `session_id`
    only, when given.

    The pages' items go from every object that holds them (an erase must leave
    nothing of the session in memory either); new objects start from nothing.
    """
    try:
        shelf = _shelf(client, create=False)
    except TypeError:
        return
    if shelf is not None:
        shelf.drop(table_name, session_id)
