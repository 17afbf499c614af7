"""The write path's pure pieces, kept apart from the retry loop that runs them.

- An operation (`Append`, `Pop`, `Clear`, `SetAttributes`, ...) says which
  pages it must see and what history it wants stored (`Change`), given the
  state it starts from.
- `plan_write` turns a change into the requests of one attempt (`WritePlan`):
  the page parts to write first, the head item and its condition to commit
  last, the page TTLs to extend, and the pages the commit releases. The head
  carries the team's attributes (`TeamAttributes`): derived ones are computed
  from the history the write stores. Each step is a named function of its own:
  `check_growth`, `head_fields`, then for a seal `seal_split`, `split_runs`
  (a fresh segment) and `fold_run` (the oldest segments of a full tier folded
  into one composite page that lists them), `write_runs`,
  `check_index_room`; then `check_item_limit`, `release_and_restamp` and
  `one_call_seal` (whether the seal's pages and head may go in one
  TransactWriteItems).
- `classify` tells how an attempt ended: written, conflict, lost or failed.

None of this touches the network, so each piece is unit-tested on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from .errors import CorruptSessionError, SessionTooLargeError, describe
from .models.codec import (
    AttributeMap,
    StoredItem,
    dumps_item,
    encode_item,
    item_size,
    next_version,
    write_condition,
)
from .models.pages import (
    DEFAULT_MAX_SESSION_BYTES,
    encode_composite,
    encode_index,
    encode_page,
    is_composite,
    new_page_id,
    page_key,
    part_keys,
)
from .models.pairs import safe_cut
from .models.schema import (
    ITEM_SIZE_LIMIT,
    RECENT_WRITES_KEPT,
    SCHEMA,
    ConversationItem,
    HistoryView,
    PageIndex,
    PageRef,
)
from .models.team import AttributeValue, TeamAttributes

if TYPE_CHECKING:
    from ._fork_guard import SourceGuard
from .models.usage import add_turn, count_users, page_memo, parse_usage, view_count

__all__ = [
    "DEFAULT_MAX_SESSION_BYTES",
    "DEFAULT_PAGE_THRESHOLD",
    "MERGE_FANOUT",
    "SPEC_PAGE_THRESHOLD",
    "TARGET_EXISTS",
    "TOMBSTONE_SECONDS",
    "Append",
    "Change",
    "Clear",
    "Conflict",
    "Failed",
    "ForkInto",
    "HeadFields",
    "Layout",
    "Lost",
    "Members",
    "NeedMembers",
    "Operation",
    "Pop",
    "Replace",
    "ReplaceSuffix",
    "Restamp",
    "SetAttributes",
    "Skip",
    "StoreUsage",
    "Touch",
    "WritePlan",
    "check_growth",
    "check_index_room",
    "check_item_limit",
    "classify",
    "entry_keys",
    "fold_run",
    "head_fields",
    "one_call_seal",
    "plan_write",
    "release_and_restamp",
    "seal_point",
    "seal_split",
    "segment_tier",
    "split_runs",
    "usage_record",
    "write_runs",
]

DEFAULT_PAGE_THRESHOLD = 24 * 1024
"""Default head size (DynamoDB's rule) past which older items move into pages.

Chosen for cost: an append rewrites the head, so a small head keeps every
append near the size of what it adds (see docs/history-pages.md, "Cost")."""

SPEC_PAGE_THRESHOLD = 384 * 1024
"""The threshold that keeps every session that fits DynamoDB's 400 KB limit (with
16 KB to spare) in the spec's single-item layout, for fleets that still run
0.1.0 readers. Appends to such a session cost up to about 384 write units."""

MIN_PAGE_THRESHOLD = 16 * 1024
"""Smallest page threshold accepted: below it the page index crowds out the items."""

TOMBSTONE_SECONDS = 24 * 3600
"""TTL of the empty head `clear_session` leaves, so late writes cannot land."""

# Once a session has pages, its head is sealed past this (or the threshold, if
# smaller): the one-item layout no longer applies to it, and every append
# rewrites the head, so the head's size is most of an append's bill. A seal
# moves the whole tail into one fresh segment: a 5 KB append then writes a head
# of 0 to 24 KB, and seals once in about five appends (1.2 calls per append).
_PAGED_HEAD = 24 * 1024
# A seal's fresh pages hold at most this many JSON bytes each.
_PAGE_TARGET = 512 * 1024
# Pages below this many JSON bytes are segments: fresh from one seal, or old
# pages of the earlier layout's newest merge.
_SEGMENT_BYTES = 64 * 1024
MERGE_FANOUT = 16
"""Segments at the end of the index that one composite page lists (`fold_run`):
a fold happens once half as many again are listed, so the index lists at most
``1.5 * MERGE_FANOUT`` segments besides its composites (about 2.5 entries per MB
of history at the default threshold), and each byte is written once."""
# Pages expire this long after the head's TTL at the earliest, and are
# re-stamped once the head's TTL comes within _PAGE_TTL_MARGIN of theirs.
_PAGE_TTL_EXTENSION = 24 * 3600
_PAGE_TTL_MARGIN = 3600
# A seal that goes as one TransactWriteItems stays far inside its limits (100
# actions, 4 MB of items): a bigger one takes the two calls.
_TRANSACTION_ACTIONS = 25
_TRANSACTION_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Layout:
    """The options that shape stored items.

    Attributes:
        threshold: Head size in bytes (DynamoDB's rule) past which older items
            are sealed into pages.
        max_session_bytes: Cap on the history's uncompressed JSON bytes.
        ttl_seconds: Sliding expiry of the head, or None.
        merge_fanout: Segments at the end of the index one composite page lists (`fold_run`).
    """

    threshold: int = DEFAULT_PAGE_THRESHOLD
    max_session_bytes: int = DEFAULT_MAX_SESSION_BYTES
    ttl_seconds: int | None = None
    merge_fanout: int = MERGE_FANOUT


def seal_point(layout: Layout, paged: bool) -> int:
    """Head size past which a write seals older items into pages.

    A head still past it after a write holds what pages cannot take (its index
    and attributes), so only that can make it outgrow DynamoDB's item limit.
    """
    return min(layout.threshold, _PAGED_HEAD) if paged else layout.threshold


@dataclass(frozen=True)
class Change:
    """The history an operation wants stored, and what the operation returns.

    Attributes:
        conversation_json: The head's items as a JSON list (newest items).
        count: Items in `conversation_json`.
        pages: The page views kept, oldest first (all older than the head's items).
        result: What the operation returns once the write lands.
        items_written: Items added or removed, for metrics.
        grows: The change adds items, so the session cap applies.
        tombstone: The change clears the session: an empty head, briefly kept,
            that keeps only the stored owner (no title, metadata, usage nor the
            team's attributes).
        attributes: Encoded plain team attributes this write sets, on top of the
            session's own (None values leave the attribute out).
        extra: Raw attributes the head carries instead of the stored head's
            (`StoredItem.extra`); None carries the stored ones over.
    """

    conversation_json: str
    count: int
    pages: tuple[PageRef, ...]
    result: Any
    items_written: int
    grows: bool = False
    tombstone: bool = False
    attributes: Mapping[str, AttributeValue | None] | None = None
    extra: Mapping[str, Any] | None = None


Loaded = Mapping[str, list[ConversationItem]]
"""Decoded pages by page id (every item of the page, not just its view)."""

Members = Mapping[str, tuple[PageRef, ...]]
"""Composite pages' member lists by composite id, as their items list them."""


class Operation(Protocol):
    """What `DynamoDBSession._mutate` runs: pure functions of the state it sees."""

    @property
    def name(self) -> str:
        """The operation's name in metrics and errors."""
        ...

    @property
    def needs_state(self) -> bool:
        """Whether it must read before its first write (a blind write cannot do)."""
        ...

    @property
    def tombstones(self) -> bool:
        """Whether it clears: releasing its pages must then succeed."""
        ...

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """Pages `apply` must see for this base state."""
        ...

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | Skip | None:
        """The change on top of `base` (None: absent or expired); None: nothing to do."""
        ...


def _view(ref: PageRef, loaded: Loaded) -> list[ConversationItem]:
    return loaded[ref.id][ref.start : ref.start + ref.length]


@dataclass(frozen=True)
class Append:
    """Append encoded items; with `max_items`, keep only a pair-safe suffix."""

    encoded: Sequence[str]
    max_items: int | None = None
    name: str = "add_items"
    needs_state: bool = False
    tombstones: bool = False

    def _cut(self, base: StoredItem | None) -> int:
        total = (0 if base is None else base.total_count) + len(self.encoded)
        return 0 if self.max_items is None else max(0, total - self.max_items)

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """The pages that hold items the bound would keep."""
        cut = self._cut(base)
        if base is None or cut == 0:
            return []
        needed, begin = [], 0
        for ref in base.page_refs:
            if begin + ref.length > cut:
                needed.append(ref)
            begin += ref.length
        return needed

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change:
        """Splice the items onto the head, trimming to the bound if needed."""
        added = len(self.encoded)
        if self._cut(base):
            return self._trimmed(base, loaded)
        pages = () if base is None else base.page_refs
        if base is None or base.count == 0:
            body = "[" + ",".join(self.encoded) + "]"
            return Change(body, added, pages, None, added, grows=True)
        # Splice into the stored JSON rather than re-encoding the whole history.
        body = base.conversation_json[:-1] + "," + ",".join(self.encoded) + "]"
        return Change(body, base.count + added, pages, None, added, grows=True)

    def _trimmed(self, base: StoredItem | None, loaded: Loaded) -> Change:
        cut = self._cut(base)
        refs = () if base is None else base.page_refs
        # The candidates to keep, oldest first, each tagged with where it lives.
        kept_refs: list[tuple[int, PageRef]] = []  # (offset into candidates, page)
        candidates: list[ConversationItem] = []
        begin = 0
        for ref in refs:
            end = begin + ref.length
            if end > cut:
                skip = max(0, cut - begin)
                view = ref._replace(start=ref.start + skip, length=ref.length - skip)
                kept_refs.append((len(candidates), view))
                candidates.extend(_view(ref, loaded)[skip:])
            begin = end
        head_items = [] if base is None else base.items()
        new_items = [json.loads(e) for e in self.encoded]
        tail = head_items + new_items
        tail_json = [dumps_item(i) for i in head_items] + list(self.encoded)
        skip_tail = max(0, cut - begin)
        head_offset = len(candidates)
        candidates.extend(tail[skip_tail:])
        drop = safe_cut(candidates)
        pages: list[PageRef] = []
        for offset, ref in kept_refs:
            gone = max(0, drop - offset)
            if gone < ref.length:
                pages.append(ref._replace(start=ref.start + gone, length=ref.length - gone))
        head_json = tail_json[skip_tail + max(0, drop - head_offset) :]
        body = "[" + ",".join(head_json) + "]"
        return Change(body, len(head_json), tuple(pages), None, len(self.encoded), grows=True)


@dataclass(frozen=True)
class Pop:
    """Remove the newest item and return it, walking back into pages."""

    name: str = "pop_item"
    needs_state: bool = True
    tombstones: bool = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """The newest page, once the head is empty."""
        if base is None or base.count or not base.page_refs:
            return []
        return [base.page_refs[-1]]

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | None:
        """The history without its newest item; None when it is empty."""
        if base is None or base.total_count == 0:
            return None
        if base.count:
            items = base.items()
            popped = items.pop()
            # One encoder pass over the list gives the same canonical JSON as
            # encoding item by item, about 3x faster at 1,000 items.
            return Change(dumps_item(items), len(items), base.page_refs, popped, 1)
        *older, newest = base.page_refs
        popped = _view(newest, loaded)[-1]
        # The page stays as written; its view shrinks, and goes once empty.
        if newest.length > 1:
            older.append(newest._replace(length=newest.length - 1))
        return Change("[]", 0, tuple(older), popped, 1)


@dataclass(frozen=True)
class Clear:
    """Replace the session with an empty head (a tombstone) and release its pages."""

    name: str = "clear_session"
    needs_state: bool = False
    tombstones: bool = True

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """None: clearing needs no item."""
        return []

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change:
        """The empty history."""
        removed = 0 if base is None else base.total_count
        return Change("[]", 0, (), None, removed, tombstone=True)


@dataclass(frozen=True)
class Skip:
    """The operation ends without a write, returning `result`."""

    result: Any


def _keep_prefix(base: StoredItem, cut: int, loaded: Loaded) -> tuple[list[PageRef], list[str]]:
    """The pages and head items (as JSON) of ``history[:cut]``, pages narrowed, not rewritten."""
    pages: list[PageRef] = []
    begin = 0
    for ref in base.page_refs:
        if begin >= cut:
            break
        take = min(ref.length, cut - begin)
        pages.append(ref if take == ref.length else ref._replace(length=take))
        begin += ref.length
    head: list[str] = []
    if cut > begin:
        head = [dumps_item(i) for i in base.items()[: cut - begin]]
    return pages, head


@dataclass(frozen=True)
class Touch:
    """Rewrite the head as it is, with a fresh TTL (after a write on a clock found behind)."""

    name: str = "touch"
    needs_state: bool = False
    tombstones: bool = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """None: the pages stay as they are."""
        return []

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | Skip:
        """The same history; `Skip` when there is no live session to touch."""
        if base is None:
            return Skip(None)
        return Change(base.conversation_json, base.count, base.page_refs, None, 0)


def holds_session(base: StoredItem | None) -> bool:
    """Whether a live head stands for a session: it has items, or was saved empty.

    A clear's tombstone has no items and no ``created_at``; a chat saved empty
    (`SessionStore.create`) or emptied by pops keeps its ``created_at``.
    """
    return base is not None and (base.total_count > 0 or base.created_at is not None)


@dataclass(frozen=True)
class SetAttributes:
    """Rewrite the head with the same history and new plain team attributes.

    Attributes:
        attributes: Encoded values by name; None removes the attribute.
    """

    attributes: Mapping[str, AttributeValue | None]
    name: str = "set_attributes"
    needs_state: bool = True
    tombstones: bool = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """None: the history stays as it is."""
        return []

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | None:
        """The same history with the attributes; None when there is no session.

        An absent, expired or cleared session is left alone: a tombstone must
        not reappear in a team's sparse index. An empty one that was saved
        (`holds_session`) is written: a new chat can be renamed.
        """
        if not holds_session(base):
            return None
        assert base is not None
        return Change(
            base.conversation_json,
            base.count,
            base.page_refs,
            True,
            0,
            attributes=self.attributes,
        )


def usage_record(base: StoredItem, table_name: str | None = None) -> dict[str, Any]:
    """The decoded ``usage`` attribute of a head ({} when absent).

    Raises:
        CorruptSessionError: It is stored, but not a usage record (see
            `models.usage.parse_usage`): too large, too deep, or of another shape.
    """
    raw = base.extra.get(SCHEMA.usage)
    if raw is None:
        return {}
    try:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("S"), str):
            raise ValueError("not a string attribute")
        return parse_usage(raw["S"])
    except ValueError as exc:
        raise CorruptSessionError(
            f"Stored {describe(base.session_id, table_name)} is corrupt: its {SCHEMA.usage!r} "
            f"attribute is unreadable ({exc}). Nothing was changed. Fix: remove that attribute "
            f"(an UpdateItem with REMOVE {SCHEMA.usage}; the history is not affected), or "
            "clear the session.",
            session_id=base.session_id,
            table_name=table_name,
        ) from None


@dataclass(frozen=True)
class StoreUsage:
    """Add one run's token usage to the session's current user turn (the head's ``usage``).

    The turn is the number of user messages in the history, pages included:
    the page memo in the usage record answers for pages seen before (whose
    view has not changed), so only the other pages are read.

    Attributes:
        usage: The run's usage record (`models.usage.extract_usage`).
        table_name: Named in errors about a stored record that does not read.
    """

    usage: Mapping[str, Any]
    table_name: str | None = None
    name: str = "store_run_usage"
    needs_state: bool = True
    tombstones: bool = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """The listed pages whose user messages the memo does not know for their view."""
        if base is None or not base.page_refs:
            return []
        return page_memo(usage_record(base, self.table_name), base.page_refs)[1]

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | None:
        """The same history, its usage record updated; None without a user turn."""
        if base is None or base.total_count == 0:
            return None
        record = usage_record(base, self.table_name)
        memo, unknown = page_memo(record, base.page_refs)
        for ref in unknown:
            memo[ref.id] = view_count(ref, loaded[ref.id])
        memo = {ref.id: memo[ref.id] for ref in base.page_refs}  # oldest page first
        turn = count_users(json.loads(base.conversation_json), base.page_refs, memo)
        if turn == 0:
            return None
        updated = add_turn(record, turn, self.usage, memo)
        text = json.dumps(updated, separators=(",", ":"))
        extra = {**base.extra, SCHEMA.usage: {"S": text}}
        return Change(base.conversation_json, base.count, base.page_refs, turn, 0, extra=extra)


TARGET_EXISTS = object()
"""What `ForkInto` returns, writing nothing, when the target holds a conversation."""


@dataclass(frozen=True)
class ForkInto:
    """Create a session from a copy of another's history (the target side of a fork).

    The target may be absent, expired, or hold no items (a cleared tombstone,
    or a session whose items were all popped) and no other owner; otherwise the
    operation ends with `TARGET_EXISTS` and writes nothing.

    Attributes:
        encoded: The copied items, as canonical JSON.
        extra: The raw attributes the new head starts with (the source's plain
            team attributes, ``schema_version``, title and metadata, the fork's
            owner and its lineage).
        guard: The source's head as copied: the head write lands only while
            the source is still there (see `_fork_guard`); None for a source
            that held nothing.
    """

    encoded: Sequence[str]
    extra: Mapping[str, Any]
    guard: SourceGuard | None = None
    name: str = "fork"
    needs_state: bool = True
    tombstones: bool = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """None: nothing of the target survives."""
        return []

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | Skip:
        """The copied history on a fresh head; `Skip` if the target is live or another's.

        A cleared target that still names an owner other than the fork's stays
        that owner's until it expires: a fork never writes over it.
        """
        if base is not None and base.total_count > 0:
            return Skip(TARGET_EXISTS)
        held = base.extra.get(SCHEMA.owner) if base is not None else None
        if held is not None and held != self.extra.get(SCHEMA.owner):
            return Skip(TARGET_EXISTS)
        body = "[" + ",".join(self.encoded) + "]"
        count = len(self.encoded)
        return Change(body, count, (), True, count, grows=True, extra=dict(self.extra))


@dataclass(frozen=True)
class Replace:
    """Replace the whole history with `encoded` items (compaction's atomic replace)."""

    encoded: Sequence[str]
    name: str = "replace_items"
    needs_state: bool = False
    tombstones: bool = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """None: the old history is dropped whole."""
        return []

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change:
        """The new history, with nothing of the old."""
        body = "[" + ",".join(self.encoded) + "]"
        removed = 0 if base is None else base.total_count
        return Change(body, len(self.encoded), (), True, removed + len(self.encoded), grows=True)


@dataclass(frozen=True)
class ReplaceSuffix:
    """Replace the newest items of a snapshot, if nothing changed since it was taken.

    Attributes:
        version: The version the snapshot was read at; any write since skips.
        start: Index into the snapshot's items where the replaced suffix starts.
        snapshot_length: How many items the snapshot held (the newest ones).
        encoded: The replacement items.
        prune_prefix: Drops the oldest items while it holds for each, before the suffix.
    """

    version: Any
    start: int
    snapshot_length: int
    encoded: Sequence[str]
    prune_prefix: Callable[[Any], bool] | None = None
    name: str = "replace_suffix"
    needs_state: bool = True
    tombstones: bool = False

    def pages_needed(self, base: StoredItem | None) -> list[PageRef]:
        """The pages holding the kept prefix's items: all, when pruning looks at them."""
        if base is None or base.updated_at != self.version:
            return []
        if self.prune_prefix is not None:
            return list(base.page_refs)
        return []

    def apply(self, base: StoredItem | None, loaded: Loaded) -> Change | Skip:
        """The history with its suffix replaced; `Skip(False)` when it changed."""
        if base is None or base.updated_at != self.version:
            return Skip(False)
        total = base.total_count
        cut = total - self.snapshot_length + self.start
        pages, head = _keep_prefix(base, cut, loaded)
        if self.prune_prefix is not None:
            history = [i for ref in pages for i in _view(ref, loaded)]
            history += [json.loads(h) for h in head]
            dropped = 0
            for item in history:
                if not self.prune_prefix(item):
                    break
                dropped += 1
            if dropped:
                pages, head = _drop_oldest(pages, head, dropped)
        head += list(self.encoded)
        body = "[" + ",".join(head) + "]"
        written = (total - cut) + len(self.encoded)
        return Change(body, len(head), tuple(pages), True, written, grows=True)


def _drop_oldest(
    pages: list[PageRef], head: list[str], count: int
) -> tuple[list[PageRef], list[str]]:
    kept: list[PageRef] = []
    for ref in pages:
        if count >= ref.length:
            count -= ref.length
            continue
        kept.append(
            ref._replace(start=ref.start + count, length=ref.length - count) if count else ref
        )
        count = 0
    return kept, head[count:]


@dataclass(frozen=True)
class Restamp:
    """Page TTLs to move before the commit, so that pages outlive their head.

    Attributes:
        keys: Page part keys.
        ttl: The new expiry, or None to remove the expiry.
    """

    keys: list[str]
    ttl: int | None


@dataclass(frozen=True)
class WritePlan:
    """Everything one attempt sends, and what the session knows if it lands.

    Attributes:
        item: The head item to put.
        condition: Its optimistic-locking condition (request keyword arguments).
        size: The head item's size by DynamoDB's rule.
        page_items: Page parts to write before the commit.
        restamp: Page TTLs to move before the commit, if any.
        released: Page part keys no longer referenced once the commit lands.
        state: The state the session holds after the commit.
        result: What the operation returns.
        items_written: Items added or removed.
        fresh_pages: The items of the pages this write adds, by page id.
        fresh_members: The member lists of the composites this write adds, by id.
        transact: The page parts and the head may go in one TransactWriteItems
            (`one_call_seal`) instead of a BatchWriteItem before the head's
            PutItem.
    """

    item: AttributeMap
    condition: dict[str, Any]
    size: int
    page_items: list[AttributeMap] = field(default_factory=list)
    restamp: Restamp | None = None
    released: list[str] = field(default_factory=list)
    state: StoredItem | None = None
    result: Any = None
    items_written: int = 0
    fresh_pages: dict[str, list[ConversationItem]] = field(default_factory=dict)
    fresh_members: dict[str, tuple[PageRef, ...]] = field(default_factory=dict)
    transact: bool = False

    @property
    def version(self) -> Decimal:
        """The version this write stores."""
        assert self.state is not None
        return self.state.updated_at


def _page_ttl(
    before: PageIndex | None, head_ttl: int | None, layout: Layout
) -> tuple[int | None, bool]:
    """The TTL the pages must carry under a head expiring at `head_ttl`.

    Returns:
        The TTL, and whether pages already listed must be re-stamped to it.
    """
    if head_ttl is None:
        # A head that never expires needs pages that never expire.
        return None, before is not None and before.ttl is not None
    target = head_ttl + max(layout.ttl_seconds or 0, _PAGE_TTL_EXTENSION)
    if before is None:
        return target, False
    if before.ttl is None:
        # Pages that never expire outlive any head; leaving them costs nothing.
        return None, False
    if before.ttl < head_ttl + _PAGE_TTL_MARGIN:
        return target, True
    return before.ttl, False


def _runs(items_json: Sequence[str], limit: int) -> list[list[str]]:
    """Group items, in order, into runs of at most `limit` bytes (a bigger item runs alone)."""
    runs: list[list[str]] = []
    size = limit + 1
    for text in items_json:
        length = _utf8_size(text) + 1
        if size + length > limit:
            runs.append([])
            size = 0
        runs[-1].append(text)
        size += length
    return runs


def _offsets(runs: list[list[str]]) -> list[tuple[int, list[str]]]:
    start, found = 0, []
    for run in runs:
        found.append((start, run))
        start += len(run)
    return found


class NeedMembers(Exception):
    """Planning needs these composites' member lists (not their items) first.

    (The items an operation keeps are loaded before planning: `pages_needed`.)
    """

    def __init__(self, refs: list[PageRef]) -> None:
        super().__init__(f"member lists needed: {[r.id for r in refs]}")
        self.refs = refs


def entry_keys(session_id: str, ref: PageRef, members: Members) -> list[str]:
    """Every item key behind an index entry: a page's parts, or a composite and its members'.

    Raises:
        NeedMembers: `ref` is a composite whose member list is not loaded.
    """
    if not is_composite(ref):
        return part_keys(session_id, ref)
    inner = members.get(ref.id)
    if inner is None:
        raise NeedMembers([ref])
    return [page_key(session_id, ref.id, 0), *(k for m in inner for k in part_keys(session_id, m))]


def _entries_keys(session_id: str, refs: Sequence[PageRef], members: Members) -> list[str]:
    missing = [r for r in refs if is_composite(r) and r.id not in members]
    if missing:
        raise NeedMembers(missing)  # all at once: one read, not one per composite
    return [k for ref in refs for k in entry_keys(session_id, ref, members)]


@dataclass(frozen=True)
class HeadFields:
    """What a write stores on the head besides its history and index.

    Attributes:
        version: The version this write stores (``updated_at``).
        log: ``recent_writes`` with this write's version.
        ttl: The head's expiry, or None.
        extra: The raw attributes carried on the head (before team attributes).
        created_at: When the session was created (None on a tombstone).
        page_ttl: The expiry the listed pages must carry.
        restamp: Whether pages already listed must be re-stamped to `page_ttl`.
        creating: This write creates the session (first, after a clear, after
            expiry): team defaults are written.
    """

    version: Decimal
    log: frozenset[Decimal]
    ttl: int | None
    extra: Mapping[str, Any]
    created_at: Decimal | None
    page_ttl: int | None
    restamp: bool
    creating: bool = False


def check_growth(
    change: Change, layout: Layout, *, operation: str, session_id: str, table_name: str
) -> None:
    """Refuse a change that adds items and would pass the session cap.

    Raises:
        SessionTooLargeError: Its pages and head would pass ``max_session_bytes``.
    """
    if not change.grows:
        return
    total = sum(ref.size for ref in change.pages) + _utf8_size(change.conversation_json)
    if total > layout.max_session_bytes:
        raise SessionTooLargeError(
            f"{operation} would make {describe(session_id, table_name)} {total:,} bytes of "
            f"history; the session cap (max_session_bytes) is {layout.max_session_bytes:,}. "
            "Nothing was written. Fix: raise max_session_bytes, pass max_items=N to keep "
            "only the newest N items, or clear_session().",
            size=total,
            limit=layout.max_session_bytes,
            session_id=session_id,
            table_name=table_name,
        )


def head_fields(
    seen: StoredItem | None, base: StoredItem | None, change: Change, *, now: float, layout: Layout
) -> HeadFields:
    """The version, log, TTLs, carried attributes and creation time of the next head."""
    version = next_version(seen.updated_at if seen else None, now)
    log = seen.recent_writes | {version} if seen else frozenset({version})
    if len(log) > RECENT_WRITES_KEPT:
        log = frozenset(sorted(log)[-RECENT_WRITES_KEPT:])
    if change.tombstone:
        ttl: int | None = int(now) + TOMBSTONE_SECONDS
        # Only the owner survives a clear: the id cannot be taken over by another
        # owner, and a write landing on the tombstone stays in the owner's index.
        owner = seen.extra.get(SCHEMA.owner) if seen is not None else None
        extra: Mapping[str, Any] = {} if owner is None else {SCHEMA.owner: owner}
    else:
        ttl = int(now) + layout.ttl_seconds if layout.ttl_seconds is not None else None
        if ttl is not None and base is not None and base.ttl is not None and base.total_count:
            # A writer whose clock is behind must not shorten a live conversation's
            # life. An empty one (a tombstone's day, say) has nothing to keep alive.
            ttl = max(ttl, base.ttl)
        extra = change.extra if change.extra is not None else (seen.extra if seen else {})
    if change.tombstone:
        created_at: Decimal | None = None
    elif base is not None and base.created_at is not None:
        created_at = base.created_at
    else:
        # The write that creates the session: first, after a clear, after expiry.
        created_at = Decimal(int(now * 1000)).scaleb(-3)
    page_ttl, restamp = _page_ttl(base.pages if base is not None else None, ttl, layout)
    creating = base is None or base.created_at is None
    return HeadFields(version, log, ttl, extra, created_at, page_ttl, restamp, creating)


Run = tuple[list[ConversationItem], list[str]]
"""Items sealed into one page: parsed, and as canonical JSON."""


def seal_split(items_json: Sequence[str], layout: Layout) -> int:
    """How many of the oldest head items a seal moves into pages: all of them.

    Every append rewrites the head, so the head after a seal is as small as it
    can be; ``get_items(limit=k)`` then reads the newest segments with one
    ``BatchGetItem`` next to the head.
    """
    return len(items_json)


def segment_tier(pages: Sequence[PageRef]) -> list[PageRef]:
    """The segments at the end of the index: the pages the next fold lists."""
    count = 0
    for ref in reversed(pages):
        if ref.size >= _SEGMENT_BYTES or is_composite(ref):
            break
        count += 1
    return list(pages[len(pages) - count :])


def fold_run(pages: Sequence[PageRef], fanout: int = MERGE_FANOUT) -> tuple[int, int] | None:
    """The oldest `fanout` segments of the tier, to fold into one composite page.

    Segments (plain pages under 64 KB of JSON) gather at the end of the index,
    one per seal. Once `fanout` of them plus half as many again are listed, the
    oldest `fanout` are listed by one composite page instead: nothing is
    rewritten or deleted, so each byte of history is written once, and the
    index stays small. The newest half-fanout stay in the head's index, so a
    short read (``limit=k``) finds the newest items one request away.

    Returns:
        Where the folded segments start in `pages` and how many there are; None
        while the tier is not full.
    """
    tier = segment_tier(pages)
    if len(tier) < fanout + max(1, fanout // 2):
        return None
    return len(pages) - len(tier), fanout


def split_runs(run: Run) -> list[Run]:
    """The sealed items as fresh pages of at most `_PAGE_TARGET` JSON bytes each."""
    items, items_json = run
    return [
        (items[start : start + len(chunk)], chunk)
        for start, chunk in _offsets(_runs(items_json, _PAGE_TARGET))
    ]


def write_runs(
    runs: list[Run], *, session_id: str, page_ttl: int | None, now: float
) -> tuple[list[PageRef], list[AttributeMap], dict[str, list[ConversationItem]]]:
    """Encode runs as new pages: their index entries, their parts and their items by id."""
    created = Decimal(int(now * 1000)).scaleb(-3)
    refs: list[PageRef] = []
    parts: list[AttributeMap] = []
    fresh: dict[str, list[ConversationItem]] = {}
    for run_items, run_json in runs:
        ref, page_parts = encode_page(
            session_id, new_page_id(), run_json, ttl=page_ttl, created_at=created
        )
        refs.append(ref)
        parts.extend(page_parts)
        fresh[ref.id] = run_items
    return refs, parts, fresh


def check_index_room(
    pages: Sequence[PageRef],
    page_ttl: int | None,
    layout: Layout,
    *,
    operation: str,
    session_id: str,
    table_name: str,
) -> None:
    """Refuse a seal whose index would fill half of the page threshold.

    Raises:
        SessionTooLargeError: The index would pass ``page_threshold // 2`` bytes.
    """
    index_size = len(encode_index(PageIndex(ttl=page_ttl, pages=tuple(pages))) or "")
    if index_size > layout.threshold // 2:
        raise SessionTooLargeError(
            f"{operation} would give {describe(session_id, table_name)} {len(pages)} pages, "
            f"whose index ({index_size:,} bytes) would fill half of its page_threshold "
            f"({layout.threshold:,} bytes). Nothing was written. Fix: raise "
            "page_threshold (fewer, larger pages), pass max_items=N, or clear_session().",
            size=index_size,
            limit=layout.threshold // 2,
            session_id=session_id,
            table_name=table_name,
        )


def check_item_limit(
    size: int, pages: Sequence[PageRef], *, operation: str, session_id: str, table_name: str
) -> None:
    """Refuse a head past DynamoDB's item limit even after sealing.

    Raises:
        SessionTooLargeError: The head item would pass 409,600 bytes.
    """
    if size > ITEM_SIZE_LIMIT:
        raise SessionTooLargeError(
            f"{operation} would make the head item of {describe(session_id, table_name)} "
            f"{size:,} bytes, past DynamoDB's {ITEM_SIZE_LIMIT:,}-byte item limit even with "
            f"its older items in {len(pages)} pages. Nothing was written. Fix: raise "
            "page_threshold (fewer, larger pages), shrink the attributes added to the "
            "session item, or clear_session().",
            size=size,
            limit=ITEM_SIZE_LIMIT,
            session_id=session_id,
            table_name=table_name,
        )


def release_and_restamp(
    seen: StoredItem | None,
    base: StoredItem | None,
    pages: Sequence[PageRef],
    fields: HeadFields,
    session_id: str,
    members: Members | None = None,
) -> tuple[Restamp | None, list[str]]:
    """Page TTLs to move before the commit, and item keys the commit stops listing.

    A composite's members move and go with it: its member list must be loaded.

    Raises:
        NeedMembers: A composite released or re-stamped is not loaded.
    """
    members = members or {}
    kept_ids = {ref.id for ref in pages}
    # Segments folded by this very write stay, listed by their new composite.
    kept_ids.update(m.id for ref in pages if ref.id in members for m in members[ref.id])
    before = base.pages if base is not None else None
    restamp = None
    if fields.restamp and before is not None:
        kept = [ref for ref in before.pages if ref.id in kept_ids]
        keys = _entries_keys(session_id, kept, members)
        restamp = Restamp(keys, fields.page_ttl) if keys else None
    gone = [r for r in (seen.page_refs if seen is not None else ()) if r.id not in kept_ids]
    return restamp, _entries_keys(session_id, gone, members)


def one_call_seal(
    layout: Layout,
    *,
    added: int,
    paged: bool,
    restamp: Restamp | None,
    page_items: Sequence[AttributeMap],
    head_size: int,
) -> bool:
    """Whether a seal's new page parts and its head may go in one TransactWriteItems.

    A transaction is one call instead of two, but DynamoDB bills each of its
    actions twice. It pays when seals come often: a write that adds at least a
    quarter of the paged head (`seal_point`) to a head that already has pages
    would otherwise seal more often than every fourth append of its size, past
    1.25 calls per append. Smaller appends (5 KB under the default 24 KiB) keep
    the two calls, which they need at most once in four appends.

    The transaction is kept for the plain case: the first seal of a one-item
    session (up to `page_threshold` of older items, once) and a write that must
    extend page TTLs first take the two calls, as does a seal past 25 actions
    or 2 MiB. A fold is one small composite item more in the transaction.

    Args:
        layout: Threshold and fanout.
        added: Bytes of JSON the write adds to the head's items.
        paged: The head had pages before this write.
        restamp: Page TTLs the write extends first, if any.
        page_items: The page parts the write adds.
        head_size: The head item's size (DynamoDB's rule).
    """
    if not page_items or not paged or restamp is not None:
        return False
    if 4 * added < seal_point(layout, paged=True):
        return False
    if len(page_items) + 1 > _TRANSACTION_ACTIONS:
        return False
    return head_size + sum(item_size(part) for part in page_items) <= _TRANSACTION_BYTES


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@dataclass
class _HeadDraft:
    """The head being planned: its history, and how it encodes with a given index."""

    fields: HeadFields
    change: Change
    session_id: str
    table_name: str
    team: TeamAttributes | None
    conversation_json: str
    count: int
    extra: Mapping[str, Any] = field(default_factory=dict)
    # The newest items derive functions see: the head's, or on a seal the items
    # sealed (a seal empties the head, yet "the newest item" must not go blank).
    newest_json: str | None = None

    def history_view(self, refs: Sequence[PageRef]) -> HistoryView:
        head_bytes = _utf8_size(self.conversation_json)
        return HistoryView(
            session_id=self.session_id,
            items_json=self.newest_json or self.conversation_json,
            count=self.count + sum(ref.length for ref in refs),
            size=head_bytes + sum(ref.size for ref in refs),
            paged=bool(refs),
        )

    def encode(self, refs: Sequence[PageRef]) -> AttributeMap:
        """The head item listing `refs`; team attributes derived from this history."""
        fields = self.fields
        index = PageIndex(ttl=fields.page_ttl, pages=tuple(refs)) if refs else None
        self.extra = fields.extra
        if self.team is not None and not self.change.tombstone:
            self.extra = self.team.head_attributes(
                fields.extra,
                lambda: self.history_view(refs),
                overrides=self.change.attributes,
                session_id=self.session_id,
                table_name=self.table_name,
                creating=fields.creating,
            )
        return encode_item(
            self.session_id,
            self.conversation_json,
            fields.version,
            fields.ttl,
            fields.log,
            extra=self.extra,
            pages=index,
            created_at=fields.created_at,
            count=self.count,
        )


def plan_write(
    seen: StoredItem | None,
    change: Change,
    *,
    expired: bool,
    session_id: str,
    table_name: str,
    now: float,
    layout: Layout,
    operation: str,
    loaded: Loaded | None = None,
    team: TeamAttributes | None = None,
    members: Members | None = None,
) -> WritePlan:
    """Plan one attempt: seal older items into pages if the head would pass the threshold.

    Args:
        seen: The state the write is conditional on (None: assumed absent).
        change: What the operation wants stored.
        expired: `seen` has expired; the write replaces it (and releases its pages).
        session_id: The session.
        table_name: The table, for error messages.
        now: Unix time.
        layout: Threshold, cap and TTL.
        operation: The operation's name, for error messages.
        loaded: Pages already read, by id.
        team: The session's team attributes: plain values to set and derived
            ones to compute from the stored history (None: carry over only).
        members: Member lists of composite pages already read, by id.

    Raises:
        SessionTooLargeError: The history would pass the session cap, or the head
            cannot be made to fit in one item.
        NeedMembers: A composite the write releases or re-stamps is not loaded.
        DerivedAttributeError: A team's derive function failed.
    """
    loaded = loaded or {}
    base = None if expired else seen
    names = {"operation": operation, "session_id": session_id, "table_name": table_name}
    check_growth(change, layout, **names)
    fields = head_fields(seen, base, change, now=now, layout=layout)
    pages = list(change.pages)
    draft = _HeadDraft(
        fields, change, session_id, table_name, team, change.conversation_json, change.count
    )
    item = draft.encode(pages)
    size = item_size(item)
    page_items: list[AttributeMap] = []
    fresh_pages: dict[str, list[ConversationItem]] = {}
    fresh_members: dict[str, tuple[PageRef, ...]] = {}
    paged = bool(pages)
    if size > seal_point(layout, paged) and draft.count:
        parsed: list[ConversationItem] = json.loads(draft.conversation_json)
        items_json = [dumps_item(i) for i in parsed]
        sealed = seal_split(items_json, layout)
        runs: list[Run] = []
        if sealed:
            runs = split_runs((parsed[:sealed], items_json[:sealed]))
        refs, page_items, fresh_pages = write_runs(
            runs, session_id=session_id, page_ttl=fields.page_ttl, now=now
        )
        folded = fold_run(pages, layout.merge_fanout) if sealed else None
        if folded is not None:
            # One composite lists the oldest segments of the tier, which stay as
            # they are: written once, never rewritten or deleted by the fold.
            at, count = folded
            members_list = pages[at : at + count]
            composite, composite_item = encode_composite(
                session_id,
                new_page_id(),
                members_list,
                ttl=fields.page_ttl,
                created_at=Decimal(int(now * 1000)).scaleb(-3),
            )
            pages[at : at + count] = [composite]
            page_items.append(composite_item)
            fresh_members[composite.id] = tuple(members_list)
            members = {**(members or {}), **fresh_members}
            if all(m.id in loaded for m in members_list):
                fresh_pages[composite.id] = [i for m in members_list for i in _view(m, loaded)]
        pages.extend(refs)
        remaining = items_json[sealed:]
        draft.newest_json = draft.conversation_json
        draft.conversation_json, draft.count = "[" + ",".join(remaining) + "]", len(remaining)
        item = draft.encode(pages)
        size = item_size(item)
        if change.grows:
            check_index_room(pages, fields.page_ttl, layout, **names)
    check_item_limit(size, pages, **names)
    restamp, released = release_and_restamp(seen, base, pages, fields, session_id, members or {})
    head_before = _utf8_size(base.conversation_json) if base is not None else 2
    transact = change.grows and one_call_seal(
        layout,
        added=_utf8_size(change.conversation_json) - head_before,
        paged=paged,
        restamp=restamp,
        page_items=page_items,
        head_size=size,
    )
    state = StoredItem(
        session_id=session_id,
        conversation_json=draft.conversation_json,
        count=draft.count,
        updated_at=fields.version,
        ttl=fields.ttl,
        recent_writes=fields.log,
        extra=draft.extra,
        pages=PageIndex(ttl=fields.page_ttl, pages=tuple(pages)) if pages else None,
        created_at=fields.created_at,
    )
    return WritePlan(
        item=item,
        condition=write_condition(seen.updated_at if seen else None, allow_absent=expired),
        size=size,
        page_items=page_items,
        restamp=restamp,
        released=released,
        state=state,
        result=change.result,
        items_written=change.items_written,
        fresh_pages=fresh_pages,
        fresh_members=fresh_members,
        transact=transact,
    )


# ------------------------------------------------------------------ outcomes


@dataclass(frozen=True)
class Conflict:
    """The condition failed: another writer got there first (or our own resend did).

    Attributes:
        item: The current item DynamoDB handed back, if it did.
        maybe_applied: The client resent the request, so an earlier copy may
            have landed.
    """

    item: Mapping[str, Any] | None
    maybe_applied: bool


@dataclass(frozen=True)
class Lost:
    """The answer does not tell whether the write landed (broken connection, 5xx)."""

    error: BaseException


@dataclass(frozen=True)
class Failed:
    """The write was refused for good (validation, access, table missing, throttling).

    Attributes:
        error: The service's error.
        maybe_applied: The client resent the request, so an earlier copy may
            have landed before this refusal.
    """

    error: ClientError
    maybe_applied: bool


Outcome = Conflict | Lost | Failed

# Server errors say nothing about whether the write was applied first.
_UNKNOWN_CODES = frozenset({"InternalServerError", "InternalFailure", "ServiceUnavailable"})


def classify(error: ClientError) -> Outcome:
    """How a conditional write that raised `error` ended.

    A write refused because a transaction holds the item (another writer's
    one-call seal, on DynamoDB) lost a race like a failed condition: read, then
    retry.
    """
    response: Mapping[str, Any] = error.response
    meta = response.get("ResponseMetadata") or {}
    resent = bool(int(meta.get("RetryAttempts") or 0))
    code = str((response.get("Error") or {}).get("Code", ""))
    if code == "ConditionalCheckFailedException":
        return Conflict(response.get("Item"), resent)
    if code == "TransactionConflictException":
        return Conflict(None, resent)
    status = int(meta.get("HTTPStatusCode") or 0)
    if status >= 500 or code in _UNKNOWN_CODES:
        return Lost(error)
    return Failed(error, resent)
