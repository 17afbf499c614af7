"""Random operation sequences over several session objects, checked against a model.

A hypothesis state machine drives add, get(limit), pop and clear on four
`DynamoDBSession` objects spread over two aiobotocore clients: three objects share
one session id (two on one client, which share the pages they remember, and one
on the other), the fourth has an id of its own. Each object draws
its own ``ttl_seconds``, ``max_items`` and ``page_threshold``, so writers with and
without expiry, and with small and default thresholds, meet on the same item. A
rule appends big items, so sessions with a small threshold really move their older
items into history pages. All objects read one clock the machine controls, which
lets a rule push a stored ttl into the past without waiting.

Every result is compared with an in-memory model (session id -> items), and after
every step the stored data itself, read raw with consistent reads, must equal the
model: the whole history (the head's items after those of the pages its index
lists, decoded here independently of the library) in the same order, the ttl the
writers set (none shortens a live conversation's), and an ``updated_at`` that moved
forward exactly when something was written. A clear leaves an empty head (a
tombstone expiring a day later). The pages must all exist and decode, outlive
their head, and be exactly the pages of the session in the table (none left
behind); the head stays within DynamoDB's item size limit.

``OAS_LONG_PROPERTY=1`` runs many more and longer examples than CI does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
import zlib
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from aiobotocore.session import get_session
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from openai_agents_session import DynamoDBSession, create_table_if_not_exists
from openai_agents_session._plan import MIN_PAGE_THRESHOLD, TOMBSTONE_SECONDS
from openai_agents_session.models.codec import decode_record, encode_key, item_size
from openai_agents_session.models.schema import ITEM_SIZE_LIMIT, PAGE_PREFIX, RECENT_WRITES_KEPT
from tests.conftest import client_config
from tests.support.proxy import FaultProxy

_T = TypeVar("_T")

LONG_RUN = os.environ.get("OAS_LONG_PROPERTY") == "1"
MACHINE_SETTINGS = settings(
    max_examples=500 if LONG_RUN else 25,
    stateful_step_count=60 if LONG_RUN else 20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

# (client index, session id index) of each session object: objects 0 and 1 are two
# writers of one session through different clients; object 2 shares client 0 with
# object 0 but has a session of its own; object 3 is a second object of session 0
# on client 0, sharing the pages object 0 remembers.
LAYOUT = ((0, 0), (1, 0), (0, 1), (0, 0))
OBJECTS = st.sampled_from(range(len(LAYOUT)))
# Ordered pairs for the concurrent rules: same session over two clients, two
# sessions over one client, two objects of one session on one client (sharing what
# they remember), and one object racing itself (its lock serialises).
PAIRS = st.sampled_from([(0, 1), (1, 0), (0, 2), (2, 1), (0, 0), (3, 0), (1, 3)])
PROBES = st.sampled_from(["get", "pop", "add", "idle"])
LIMITS = st.one_of(st.none(), st.integers(min_value=0, max_value=7))
TTLS = st.sampled_from([None, 30, 90])
MAX_ITEMS = st.sampled_from([None, None, 4])
# None keeps the default (24 KiB). The others page earlier still.
THRESHOLDS = st.sampled_from([None, MIN_PAGE_THRESHOLD, MIN_PAGE_THRESHOLD, 2 * MIN_PAGE_THRESHOLD])
# Big items: content lengths around and past the small thresholds' keep budget.
# Segments merged into one page: a small fanout makes merges frequent enough to race
# appends, pops and clears within a short example (1 rewrites the newest segment
# on every seal; None keeps the default, 16).
FANOUTS = st.sampled_from([None, 1, 2, 2])
BIG_SIZES = st.lists(st.integers(min_value=3_000, max_value=12_000), min_size=1, max_size=2)
# add_big is skipped once a session got this many characters of big items since its
# last clear, which bounds its history (so the run time, and the page index, whose
# size the library caps). The count depends on drawn steps only, not on the model:
# the order concurrent writes took varies between runs, and a precondition on
# what it decides could make an example play out differently when replayed.
BIG_BUDGET = 120_000
# A fixed, fractional start keeps examples reproducible and exercises int(now) + ttl.
CLOCK_START = 2_000_000_000.25

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
PAYLOADS = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system"]),
        "content": st.text(max_size=12),
    },
    optional={"meta": JSON_VALUES},
)
BATCHES = st.lists(PAYLOADS, min_size=0, max_size=3)

_BOTO = get_session()


@dataclass
class StoredModel:
    """What the table should hold for one session id.

    Attributes:
        items: The stored conversation; None when no write has happened yet (a
            clear leaves an empty head, a tombstone).
        expires: The stored ttl, or None.
        version: ``updated_at`` last seen in the table, to check it moves on writes.
        wrote: Whether a write happened since `version` was seen.
    """

    items: list[dict[str, Any]] | None = None
    expires: int | None = None
    version: Decimal | None = None
    wrote: bool = False

    def live(self, now: float) -> bool:
        return self.items is not None and (self.expires is None or self.expires > now)

    def visible(self, now: float) -> list[dict[str, Any]]:
        return list(self.items or []) if self.live(now) else []


@dataclass
class Snapshot:
    """One machine's items as stored: heads by session index, page parts by key."""

    heads: dict[int, dict[str, Any]]
    pages: dict[int, dict[str, dict[str, Any]]]


@dataclass
class ObjectSpec:
    client: int
    sid: int
    ttl: int | None
    max_items: int | None
    page_threshold: int | None = None
    merge_fanout: int | None = None


def big_content(seed: bytes, tag: str, length: int) -> str:
    """`length` characters of hex that compresses poorly, unique to seed and tag."""
    return hashlib.shake_256(seed + tag.encode()).hexdigest((length + 1) // 2)[:length]


class SessionMachine(RuleBasedStateMachine):
    """Sessions on a real endpoint against a dict of lists."""

    def __init__(self, endpoint: str, table: str) -> None:
        super().__init__()
        self.table = table
        self.loop = asyncio.new_event_loop()
        self._contexts: list[Any] = []
        self.id_prefix = f"sm-{uuid.uuid4().hex}-"
        self.session_ids = [f"{self.id_prefix}{n}" for n in range(2)]
        self.model = [StoredModel() for _ in self.session_ids]
        self.big_spent = [0 for _ in self.session_ids]  # see BIG_BUDGET
        self.endpoint = endpoint
        self._proxy: FaultProxy | None = None
        self._faulty_contexts: list[Any] = []
        self._faulty_client: Any = None
        try:
            self.clients = [self.run(self._open_client(endpoint)) for _ in range(2)]
        except BaseException:
            self._close()  # hypothesis only tears down a machine it got
            raise
        self.now = CLOCK_START
        self.next_id = 0
        self.specs: list[ObjectSpec] = []
        self.sessions: list[DynamoDBSession] = []

    # ----------------------------------------------------------------- plumbing

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return self.loop.run_until_complete(coro)

    async def _open_client(self, endpoint: str) -> Any:
        context = _BOTO.create_client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=client_config(),
        )
        client = await context.__aenter__()
        self._contexts.append(context)
        return client

    def teardown(self) -> None:
        try:
            if len(self._contexts) == len(self.clients):
                self.clean_up()
        finally:
            self._close()

    def _close(self) -> None:
        try:
            for context in reversed(self._contexts + self._faulty_contexts):
                self.run(context.__aexit__(None, None, None))
            if self._proxy is not None:
                self.run(self._proxy.close())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    def clock(self) -> float:
        return self.now

    def make_session(self, spec: ObjectSpec) -> DynamoDBSession:
        options: dict[str, Any] = {}
        if spec.page_threshold is not None:
            options["page_threshold"] = spec.page_threshold
        session = DynamoDBSession(
            self.session_ids[spec.sid],
            self.clients[spec.client],
            self.table,
            spec.ttl,
            max_items=spec.max_items,
            clock=self.clock,
            time_source="host",  # the machine's clock, not the endpoint's
            **options,
        )
        if spec.merge_fanout is not None:
            # Not an option users set: the test's way to merge after 2 or 3 segments.
            session._layout = replace(session._layout, merge_fanout=spec.merge_fanout)
        return session

    def stamp(self, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Give each item a unique id, so a lost or duplicated item shows."""
        items = []
        for payload in payloads:
            items.append({"id": f"i{self.next_id}", **payload})
            self.next_id += 1
        return items

    def snapshot(self) -> Snapshot:
        """Every item of this machine's sessions, heads and page parts, as stored.

        One consistent, filtered Scan reads them all (the session ids share the
        machine's prefix, and a page part names its session in ``page_of``), so a
        page the table holds but no head lists shows as well.
        """
        heads: dict[int, dict[str, Any]] = {}
        pages: dict[int, dict[str, dict[str, Any]]] = {sid: {} for sid in range(len(self.model))}
        owner = {session_id: sid for sid, session_id in enumerate(self.session_ids)}
        request: dict[str, Any] = {
            "TableName": self.table,
            "ConsistentRead": True,
            "FilterExpression": "begins_with(#k, :p) OR begins_with(#o, :p)",
            "ExpressionAttributeNames": {"#k": "session_id", "#o": "page_of"},
            "ExpressionAttributeValues": {":p": {"S": self.id_prefix}},
        }
        while True:
            response = self.run(self.clients[0].scan(**request))
            for item in response.get("Items", []):
                key = item["session_id"]["S"]
                if "page_of" in item:
                    assert key.startswith(PAGE_PREFIX), f"{key} has page_of but is no page"
                    pages[owner[item["page_of"]["S"]]][key] = item
                else:
                    heads[owner[key]] = item
            if "LastEvaluatedKey" not in response:
                return Snapshot(heads, pages)
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def clean_up(self) -> None:
        """Delete this machine's items, so that later examples scan a small table."""
        snap = self.snapshot()
        keys = list(snap.heads.values()) + [
            p for parts in snap.pages.values() for p in parts.values()
        ]
        requests = [{"DeleteRequest": {"Key": encode_key(i["session_id"]["S"])}} for i in keys]
        for begin in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[begin : begin + 25]}
            while pending:
                response = self.run(self.clients[0].batch_write_item(RequestItems=pending))
                pending = response.get("UnprocessedItems") or {}

    def listed_pages(self, head: dict[str, Any]) -> list[list[Any]]:
        """The head's page index entries ``[id, parts, start, length, size]``, oldest first."""
        if "pages" not in head:
            return []
        pages: list[list[Any]] = json.loads(head["pages"]["S"])["pages"]
        assert pages, "a head without pages must not carry a page index"
        return pages

    def page_part_keys(self, sid: int, page_id: str, parts: int) -> list[str]:
        # A composite (parts 0) is one item, listing its members.
        return [f"{PAGE_PREFIX}{self.session_ids[sid]}#{page_id}#{n}" for n in range(max(parts, 1))]

    def members(self, sid: int, snap: Snapshot, page_id: str) -> list[list[Any]]:
        """A composite's member entries, from its item as stored."""
        key = self.page_part_keys(sid, page_id, 0)[0]
        item = snap.pages[sid].get(key)
        assert item is not None, f"composite {key} is missing"
        members: list[list[Any]] = json.loads(item["page_data"]["B"])
        assert members and all(m[1] > 0 for m in members), "a composite lists a composite"
        return members

    def entries(self, sid: int, snap: Snapshot, head: dict[str, Any]) -> list[list[Any]]:
        """The head's entries with each composite replaced by its members."""
        plain: list[list[Any]] = []
        for entry in self.listed_pages(head):
            plain.extend(self.members(sid, snap, entry[0]) if entry[1] == 0 else [entry])
        return plain

    def page_items(
        self, sid: int, snap: Snapshot, page_id: str, parts: int, size: int
    ) -> list[dict[str, Any]]:
        """All the items of one plain page, decoded here."""
        blob = b""
        for key in self.page_part_keys(sid, page_id, parts):
            part = snap.pages[sid].get(key)
            assert part is not None, f"page part {key} is missing"
            blob += part["page_data"]["B"]
        body = zlib.decompress(blob)
        assert len(body) == size, "a page decompresses to another size than indexed"
        page: list[dict[str, Any]] = json.loads(body)
        assert isinstance(page, list)
        return page

    def stored_history(self, sid: int, snap: Snapshot | None = None) -> list[dict[str, Any]] | None:
        """The whole stored history, pages included, decoded here independently of the
        library (the head's index names the pages, each is zlib'd JSON); None: no item.

        Every page the head lists must exist (all its parts) and decode.
        """
        snap = snap or self.snapshot()
        head = snap.heads.get(sid)
        if head is None:
            return None
        history: list[dict[str, Any]] = []
        for page_id, parts, start, length, size in self.listed_pages(head):
            if parts == 0:
                page = [
                    item
                    for m_id, m_parts, m_start, m_length, m_size in self.members(sid, snap, page_id)
                    for item in self.page_items(sid, snap, m_id, m_parts, m_size)[
                        m_start : m_start + m_length
                    ]
                ]
            else:
                page = self.page_items(sid, snap, page_id, parts, size)
            assert start >= 0 and length > 0
            assert start + length <= len(page), "a page holds fewer items than its view"
            history.extend(page[start : start + length])
        items: list[dict[str, Any]] = json.loads(head["conversation_data"]["S"])
        return history + items

    # ------------------------------------------------------------------- model

    def expected_add(
        self, base: list[dict[str, Any]], obj: int, items: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        result = base + items
        cap = self.specs[obj].max_items
        return result[-cap:] if cap is not None else result

    def model_write(self, obj: int, items: list[dict[str, Any]], now: float | None = None) -> None:
        """A write by `obj` (not a clear): the items, and the writer's ttl.

        A writer with ``ttl_seconds`` never shortens the ttl of the live conversation
        it writes on; one without removes the ttl. An empty session (a tombstone's
        day, say) has nothing to keep alive: the write sets the writer's own ttl.
        """
        now = self.now if now is None else now
        stored = self.model[self.specs[obj].sid]
        ttl = self.specs[obj].ttl
        expires = int(now) + ttl if ttl is not None else None
        if expires is not None and stored.expires is not None and stored.live(now) and stored.items:
            expires = max(expires, stored.expires)
        stored.items = items
        stored.expires = expires
        stored.wrote = True

    def model_add(self, obj: int, items: list[dict[str, Any]], now: float | None = None) -> None:
        if not items:
            return  # an empty batch writes nothing
        now = self.now if now is None else now
        stored = self.model[self.specs[obj].sid]
        self.model_write(obj, self.expected_add(stored.visible(now), obj, items), now)

    def model_pop(self, obj: int) -> dict[str, Any] | None:
        visible = self.model[self.specs[obj].sid].visible(self.now)
        if not visible:
            return None
        popped = visible.pop()
        self.model_write(obj, visible)
        return popped

    # ------------------------------------------------------------------- rules

    @initialize(
        ttls=st.lists(TTLS, min_size=len(LAYOUT), max_size=len(LAYOUT)),
        caps=st.lists(MAX_ITEMS, min_size=len(LAYOUT), max_size=len(LAYOUT)),
        thresholds=st.lists(THRESHOLDS, min_size=len(LAYOUT), max_size=len(LAYOUT)),
        fanouts=st.lists(FANOUTS, min_size=len(LAYOUT), max_size=len(LAYOUT)),
    )
    def open_sessions(
        self,
        ttls: list[int | None],
        caps: list[int | None],
        thresholds: list[int | None],
        fanouts: list[int | None],
    ) -> None:
        self.specs = [
            ObjectSpec(client, sid, ttl, cap, threshold, fanout)
            for (client, sid), ttl, cap, threshold, fanout in zip(
                LAYOUT, ttls, caps, thresholds, fanouts, strict=True
            )
        ]
        self.sessions = [self.make_session(spec) for spec in self.specs]

    @rule(obj=OBJECTS, payloads=BATCHES)
    def add(self, obj: int, payloads: list[dict[str, Any]]) -> None:
        items = self.stamp(payloads)
        self.run(self.sessions[obj].add_items(items))  # type: ignore[arg-type]
        self.model_add(obj, items)

    def faulty_client(self) -> Any:
        """A client behind a fault proxy, with client retries off (opened on first use)."""
        if self._faulty_client is None:
            self._proxy = self.run(FaultProxy(self.endpoint).start())
            context = _BOTO.create_client(
                "dynamodb",
                region_name="us-east-1",
                endpoint_url=self._proxy.url,
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=client_config(retries={"mode": "standard", "total_max_attempts": 1}),
            )
            self._faulty_client = self.run(context.__aenter__())
            self._faulty_contexts.append(context)
        return self._faulty_client

    @rule(obj=OBJECTS, skew=st.sampled_from([-0.9, -0.4, 0.4, 0.9]), payloads=BATCHES)
    def add_with_a_skewed_clock(
        self, obj: int, skew: float, payloads: list[dict[str, Any]]
    ) -> None:
        """A writer whose clock is off by less than the shared clock's tolerance (1 s).

        It judges expiry by its own clock; whatever it decides, nothing live is lost,
        and it never shortens a live conversation's ttl.
        """
        items = self.stamp(payloads)
        now = self.now + skew
        session = self.make_session(self.specs[obj])
        session._clock = lambda: now
        self.run(session.add_items(items))  # type: ignore[arg-type]
        self.model_add(obj, items, now)

    @rule(obj=OBJECTS, payloads=BATCHES)
    def add_answered_by_a_server_error(self, obj: int, payloads: list[dict[str, Any]]) -> None:
        """The write lands, the answer is a 500: the session finds its write, stores it once."""
        self.add_through_a_server_error(obj, self.stamp(payloads))

    @precondition(lambda self: self.big_budget_left())
    @rule(obj=OBJECTS, seed=st.binary(min_size=8, max_size=8))
    def add_big_answered_by_a_server_error(self, obj: int, seed: bytes) -> None:
        """A large append (its seal one TransactWriteItems once paged) answered by a 500."""
        self.big_spent[self.specs[obj].sid] += 26_000
        content = big_content(seed, str(self.next_id), 26_000)
        self.add_through_a_server_error(obj, self.stamp([{"role": "user", "content": content}]))

    def add_through_a_server_error(self, obj: int, items: list[dict[str, Any]]) -> None:
        spec = self.specs[obj]
        session = self.make_session(spec)
        session._client = self.faulty_client()
        assert self._proxy is not None
        # The object reads first: a blind create answered by a 500 can be ambiguous
        # (see "Known limits" in docs/guarantees.md) and is tested on its own.
        self.run(session.get_items())
        # The head's commit: a PutItem, or the seal's TransactWriteItems.
        rules = [
            self._proxy.add_rule(op=op, fault="server_error", times=1)
            for op in ("PutItem", "TransactWriteItems")
        ]
        self.run(session.add_items(items))  # type: ignore[arg-type]
        self._proxy.clear_rules()
        if items:
            self.model_add(obj, items)
        assert all(rule.hits <= 1 for rule in rules)

    @rule(obj=OBJECTS, limit=LIMITS)
    def get(self, obj: int, limit: int | None) -> None:
        got = self.run(self.sessions[obj].get_items(limit))
        visible = self.model[self.specs[obj].sid].visible(self.now)
        expected = [] if limit == 0 else visible if limit is None else visible[-limit:]
        assert got == expected

    @rule(obj=OBJECTS)
    def pop(self, obj: int) -> None:
        got = self.run(self.sessions[obj].pop_item())
        assert got == self.model_pop(obj)

    def big_budget_left(self) -> bool:
        return all(spent < BIG_BUDGET for spent in self.big_spent)

    @precondition(lambda self: self.big_budget_left())
    @rule(
        obj=OBJECTS,
        partner=st.none() | OBJECTS,
        seed=st.binary(min_size=8, max_size=8),
        sizes=BIG_SIZES,
        small=BATCHES,
    )
    def add_big(
        self,
        obj: int,
        partner: int | None,
        seed: bytes,
        sizes: list[int],
        small: list[dict[str, Any]],
    ) -> None:
        """Append big items (with a few small ones), alone or racing another add."""
        payloads = [
            {"role": "user", "content": big_content(seed, f"{self.next_id}-{n}", size)}
            for n, size in enumerate(sizes)
        ]
        self.big_spent[self.specs[obj].sid] += sum(sizes)
        if partner is None:
            self.add(obj, payloads + small)
        else:
            self.add_pair(obj, partner, self.stamp(payloads), self.stamp(small))

    @precondition(lambda self: self.big_budget_left())
    @rule(
        pair=PAIRS,
        other=st.sampled_from(["pop", "clear"]),
        seed=st.binary(min_size=8, max_size=8),
        sizes=BIG_SIZES,
        warm=st.integers(min_value=0, max_value=2),
    )
    def add_big_racing(
        self, pair: tuple[int, int], other: str, seed: bytes, sizes: list[int], warm: int
    ) -> None:
        """A big append (a seal, often a fold of segments) racing a pop or a clear."""
        a, b = pair
        # Seal a segment or two first, so that the racing append has a tier to fold.
        for n in range(warm):
            self.add(
                a, [{"role": "user", "content": big_content(seed, f"w{self.next_id}-{n}", 17_000)}]
            )
            self.big_spent[self.specs[a].sid] += 17_000
        batch = self.stamp(
            [
                {"role": "user", "content": big_content(seed, f"{self.next_id}-{n}", size)}
                for n, size in enumerate(sizes)
            ]
        )
        self.big_spent[self.specs[a].sid] += sum(sizes)
        base = self.model[self.specs[a].sid].visible(self.now)
        other_base = self.model[self.specs[b].sid].visible(self.now)

        async def both() -> Any:
            racer = (
                self.sessions[b].pop_item() if other == "pop" else self.sessions[b].clear_session()
            )
            return (await asyncio.gather(self.sessions[a].add_items(batch), racer))[1]  # type: ignore[arg-type]

        got = self.run(both())
        if self.specs[b].sid != self.specs[a].sid:
            self.model_add(a, batch)
            self.model_racer(b, other, got, other_base)
            return
        stored = self.stored_history(self.specs[a].sid)
        if other == "pop":
            added = self.expected_add(base, a, batch)
            add_first = (added[:-1], added[-1])
            pop_first = (self.expected_add(base[:-1], a, batch), base[-1] if base else None)
            assert (stored, got) in (add_first, pop_first), "a pop and an append mixed up"
            if (stored, got) == add_first:
                self.model_write(a, added)
                self.model_write(b, stored)
            else:
                if base:
                    self.model_write(b, base[:-1])
                self.model_write(a, stored)
        else:
            assert got is None
            assert stored in ([], self.expected_add([], a, batch)), "a clear and an append mixed up"
            if stored:  # the clear first, then the append on its tombstone
                self.model_clear(b)
                self.model_write(a, stored)
            else:
                self.model_write(a, self.expected_add(base, a, batch))
                self.model_clear(b)

    def model_racer(self, obj: int, other: str, got: Any, base: list[dict[str, Any]]) -> None:
        if other == "pop":
            assert got == (base[-1] if base else None)
            if base:
                self.model_write(obj, base[:-1])
        else:
            self.model_clear(obj)

    def model_clear(self, obj: int) -> None:
        # A tombstone: an empty head that expires a day later, written like any write.
        stored = self.model[self.specs[obj].sid]
        stored.items = []
        stored.expires = int(self.now) + TOMBSTONE_SECONDS
        stored.wrote = True
        self.big_spent[self.specs[obj].sid] = 0

    @rule(obj=OBJECTS)
    def clear(self, obj: int) -> None:
        self.run(self.sessions[obj].clear_session())
        self.model_clear(obj)

    @rule(obj=OBJECTS)
    def renew(self, obj: int) -> None:
        """Replace an object by a fresh one that remembers nothing (a new process)."""
        self.sessions[obj] = self.make_session(self.specs[obj])

    @rule(seconds=st.sampled_from([0.5, 1.0, 29.0, 45.0]))
    def advance_clock(self, seconds: float) -> None:
        self.now += seconds

    @rule(
        sid=st.sampled_from(range(2)),
        past_by=st.sampled_from([0.0, 0.5, 7.0]),
        probes=st.lists(PROBES, min_size=len(LAYOUT), max_size=len(LAYOUT)),
        batch=BATCHES,
    )
    def expire(
        self, sid: int, past_by: float, probes: list[str], batch: list[dict[str, Any]]
    ) -> None:
        """Move the clock to (or past) a stored ttl: every object must see no session."""
        # What is drawn never depends on the model: the concurrent rules' outcomes
        # vary between runs, and hypothesis must draw the same to replay an example.
        stored = self.model[sid]
        if stored.live(self.now) and stored.expires is not None:
            self.now = stored.expires + past_by
            assert not stored.live(self.now)
        # Probe at once, before another rule moves on: each object of the session
        # reads, pops or appends (which must start a fresh history), or stays idle
        # with its now stale memory of the expired item.
        for obj, spec in enumerate(self.specs):
            if spec.sid != sid:
                continue
            if probes[obj] == "get":
                self.get(obj, None)
            elif probes[obj] == "pop":
                self.pop(obj)
            elif probes[obj] == "add":
                self.add(obj, batch)

    @rule(pair=PAIRS, first=BATCHES, second=BATCHES)
    def add_concurrently(
        self,
        pair: tuple[int, int],
        first: list[dict[str, Any]],
        second: list[dict[str, Any]],
    ) -> None:
        a, b = pair
        self.add_pair(a, b, self.stamp(first), self.stamp(second))

    def add_pair(
        self, a: int, b: int, batch_a: list[dict[str, Any]], batch_b: list[dict[str, Any]]
    ) -> None:
        """Run two objects' appends at once; the table tells which order happened."""

        async def both() -> None:
            await asyncio.gather(
                self.sessions[a].add_items(batch_a),  # type: ignore[arg-type]
                self.sessions[b].add_items(batch_b),  # type: ignore[arg-type]
            )

        self.run(both())
        sid = self.specs[a].sid
        if self.specs[b].sid != sid or not batch_a or not batch_b:
            self.model_add(a, batch_a)
            self.model_add(b, batch_b)
            return
        # Same session: either order is correct; the table says which happened.
        base = self.model[sid].visible(self.now)
        a_then_b = self.expected_add(self.expected_add(base, a, batch_a), b, batch_b)
        b_then_a = self.expected_add(self.expected_add(base, b, batch_b), a, batch_a)
        stored = self.stored_history(sid)
        assert stored in (a_then_b, b_then_a), "an item was lost or duplicated"
        # Each order ends with its second batch's items, so the two never coincide.
        # Both writes happened, in that order (the ttl may depend on both).
        first, second = (a, b) if stored == a_then_b else (b, a)
        batch_first = batch_a if first == a else batch_b
        self.model_write(first, self.expected_add(base, first, batch_first))
        self.model_write(second, stored)

    @rule(pair=PAIRS)
    def pop_concurrently(self, pair: tuple[int, int]) -> None:
        a, b = pair

        async def both() -> list[Any]:
            return list(
                await asyncio.gather(self.sessions[a].pop_item(), self.sessions[b].pop_item())
            )

        got_a, got_b = self.run(both())
        if self.specs[a].sid != self.specs[b].sid:
            assert got_a == self.model_pop(a)
            assert got_b == self.model_pop(b)
            return
        visible = self.model[self.specs[a].sid].visible(self.now)
        if not visible:
            assert got_a is None and got_b is None
            return
        if len(visible) == 1:
            # Exactly one pop gets the item; the other finds the session empty.
            assert [got_a, got_b].count(None) == 1
            assert (got_a or got_b) == visible[0]
            self.model_write(a if got_a is not None else b, [])
            return
        # Never the same item twice: the two newest, one each; the one that got
        # the newest wrote first.
        assert got_a is not None and got_b is not None
        assert sorted([got_a["id"], got_b["id"]]) == sorted([visible[-1]["id"], visible[-2]["id"]])
        first, second = (a, b) if got_a == visible[-1] else (b, a)
        self.model_write(first, visible[:-1])
        self.model_write(second, visible[:-2])

    # -------------------------------------------------------------- invariant

    @invariant()
    def table_matches_model(self) -> None:
        snap = self.snapshot()
        for sid, stored in enumerate(self.model):
            head = snap.heads.get(sid)
            if stored.items is None:
                # Only before the session's first write: a clear leaves a tombstone.
                assert head is None, "the item should not exist"
                assert not snap.pages[sid], "pages of a session never written"
                continue
            assert head is not None, "the item is missing"
            assert item_size(head) <= ITEM_SIZE_LIMIT, "the head passed DynamoDB's item limit"
            assert self.stored_history(sid, snap) == stored.items
            record = decode_record(head, table_name=self.table)
            assert record.ttl == stored.expires
            self.check_pages(sid, head, record.ttl, snap.pages[sid])
            assert record.updated_at in record.recent_writes
            assert len(record.recent_writes) <= RECENT_WRITES_KEPT
            if stored.version is not None:
                if stored.wrote:
                    assert record.updated_at > stored.version
                else:
                    assert record.updated_at == stored.version
            stored.version = record.updated_at
            stored.wrote = False

    def check_pages(
        self,
        sid: int,
        head: dict[str, Any],
        head_ttl: int | None,
        found: dict[str, dict[str, Any]],
    ) -> None:
        """The table holds exactly the session's listed pages, and they outlive the head.

        Each listed view holds an item, so an empty history (after a clear, or pops)
        lists no page, and then no page item of the session may remain.
        """
        listed = self.listed_pages(head)
        index_ttl = json.loads(head["pages"]["S"])["ttl"] if listed else None
        keys = {
            k for page_id, parts, *_ in listed for k in self.page_part_keys(sid, page_id, parts)
        }
        keys.update(
            k
            for page_id, parts, *_ in self.entries(
                sid, Snapshot(heads={}, pages={sid: found}), head
            )
            for k in self.page_part_keys(sid, page_id, parts)
        )
        assert set(found) == keys, "page items the head does not list were left behind"
        if head_ttl is None:
            assert index_ttl is None, "pages of a head that never expires must not expire"
        elif index_ttl is not None:
            assert index_ttl >= head_ttl, "pages must outlive their head"
        for key, part in found.items():
            if "ttl" in part:
                part_ttl = int(part["ttl"]["N"])
                assert index_ttl is not None and part_ttl >= index_ttl, f"{key} expires early"


@pytest.fixture(scope="module")
def machine_table(endpoint: str) -> str:
    """One table for all examples; each machine uses session ids of its own."""
    name = f"sm-{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        async with _BOTO.create_client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=client_config(),
        ) as client:
            await create_table_if_not_exists(client, name)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(create())
    finally:
        loop.close()
    return name


def test_random_operation_sequences_follow_the_model(endpoint: str, machine_table: str) -> None:
    run_state_machine_as_test(
        lambda: SessionMachine(endpoint, machine_table), settings=MACHINE_SETTINGS
    )
