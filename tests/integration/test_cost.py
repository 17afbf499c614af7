"""What an append is billed: write units priced by DynamoDB's rule, per band of history.

Every write request the session sends is priced by `tests.support.billing.WriteBill`
(bytes of the items written or deleted, never time), so a regression in the
layout's cost shows here on every backend.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from decimal import Decimal
from typing import Any

from openai_agents_session import SPEC_PAGE_THRESHOLD, DynamoDBSession
from openai_agents_session._pagememo import forget
from openai_agents_session._plan import DEFAULT_PAGE_THRESHOLD
from openai_agents_session.models.codec import dumps_item, encode_item, item_size
from openai_agents_session.models.pages import encode_page
from openai_agents_session.models.schema import PageIndex
from tests.support.billing import WriteBill
from tests.support.sessions import raw_get, raw_put


def incompressible(size: int) -> dict[str, Any]:
    """A message of `size` bytes of compact JSON whose text zlib cannot shrink much."""
    text = base64.b64encode(os.urandom(size)).decode()
    item = {"type": "message", "role": "user", "content": text}
    excess = len(json.dumps(item, separators=(",", ":"))) - size
    item["content"] = text[: len(text) - excess]
    return item


async def grow(
    session: DynamoDBSession, bill: WriteBill, history: int, upto: int, size: int = 5_000
) -> tuple[int, float, float]:
    """Append `size`-byte items past `upto` bytes of history: (history, units, calls) per append."""
    units, calls, appends = bill.units, bill.total_calls, 0
    while history < upto:
        item = incompressible(size)
        await session.add_items([item])  # type: ignore[list-item]
        history += len(dumps_item(item)) + 1
        appends += 1
    return history, (bill.units - units) / appends, (bill.total_calls - calls) / appends


async def test_a_5kb_append_costs_at_most_20_units_and_1_25_calls_past_16kb(
    client: Any, table: str
) -> None:
    # Today (before issue 19): 62 units per append from 16 to 100 KB, 244 from 100 KB.
    # Past about 590 KB, segments fold into composites (merged into 512 KB pages
    # before folds: 24.7 units from 390 KB to 1 MB).
    session = DynamoDBSession(f"cost-{uuid.uuid4().hex[:8]}", client, table)
    bill = WriteBill(client)
    history, _, calls = await grow(session, bill, 0, 16_000)
    assert calls == 1.0  # below the first threshold: one PutItem per append
    for upto in (100_000, 250_000, 900_000):
        history, units, calls = await grow(session, bill, history, upto)
        assert units <= 20, f"{units:.1f} write units per 5 KB append up to {upto:,} bytes"
        assert calls <= 1.25, f"{calls:.2f} calls per append up to {upto:,} bytes"
    # Reads at 900 KB, composites included. A new object on the writer's client
    # shares the newest pages and the member lists: get_items(limit=20) is the
    # head's one request (two before pages were shared), the whole history one
    # BatchGetItem per 100 keys. A first read in a process pays one more of each.
    head = await raw_get(client, table, session.session_id)
    assert head is not None and any(e[1] == 0 for e in json.loads(head["pages"]["S"])["pages"])
    reads = WriteBill(client)
    assert len(await DynamoDBSession(session.session_id, client, table).get_items(20)) == 20
    assert reads.calls == {"GetItem": 1}
    reads.calls.clear()
    whole = await DynamoDBSession(session.session_id, client, table).get_items()
    assert reads.calls == {"GetItem": 1, "BatchGetItem": 1}
    forget(client)
    reads.calls.clear()
    assert await DynamoDBSession(session.session_id, client, table).get_items() == whole
    assert reads.calls == {"GetItem": 1, "BatchGetItem": 2}


async def test_a_50kb_append_is_about_one_call_and_within_4x_its_data(
    client: Any, table: str, backend: str
) -> None:
    # Today (before the one-call seal): 2.00 calls per 50 KB append, a BatchWriteItem
    # of its segment and then the head's PutItem.
    session = DynamoDBSession(f"cost50-{uuid.uuid4().hex[:8]}", client, table)
    bill = WriteBill(client)
    # The first append seals the one-item session by itself: two calls, once.
    history, _, _ = await grow(session, bill, 0, 1, size=50_000)
    # Past 16 segments of 50 KB: a merge (two calls, and its rewrite) is in the band.
    history, units, calls = await grow(session, bill, history, 1_000_000, size=50_000)
    data_units = 50_000 / 1024
    assert units <= 4 * data_units + 20, f"{units:.1f} write units per 50 KB append"
    if backend == "moto":
        assert calls <= 1.25, f"{calls:.2f} calls per 50 KB append"
    else:
        # No TransactWriteItems: learned on the first try, then the two calls.
        assert bill.calls["TransactWriteItems"] == 1
        assert calls <= 2.25
    assert len(await DynamoDBSession(session.session_id, client, table).get_items()) == 20


async def test_below_the_first_threshold_each_operation_is_one_call_on_one_item(
    client: Any, table: str
) -> None:
    raw = client  # plain requests, counted by no bill
    sid = f"small-{uuid.uuid4().hex[:8]}"
    session = DynamoDBSession(sid, client, table)
    bill = WriteBill(client)
    await session.add_items([incompressible(3_000), incompressible(3_000)])  # type: ignore[list-item]
    assert await session.pop_item() is not None
    assert len(await DynamoDBSession(sid, client, table).get_items(limit=20)) == 1
    await session.clear_session()
    assert bill.calls == {"PutItem": 3, "GetItem": 1}
    head = await raw_get(raw, table, sid)
    assert head is not None and "pages" not in head  # the spec's single item, always


async def test_a_head_in_the_earlier_layout_is_read_and_shrinks_on_its_own_next_write(
    client: Any, table: str
) -> None:
    raw = client  # plain requests, counted by no bill
    # The layout before issue 19: a 512 KB-ish page, and a paged head of about 60 KB
    # (heads were sealed past 96 KiB and kept 48 KiB).
    sid = f"old-{uuid.uuid4().hex[:8]}"
    older = [incompressible(5_000) for _ in range(12)]
    newer = [incompressible(5_000) for _ in range(12)]
    ref, parts = encode_page(
        sid, "00000000000000aa", [dumps_item(i) for i in older], ttl=None, created_at=Decimal(1)
    )
    for part in parts:
        await raw_put(raw, table, part)
    head = encode_item(
        sid,
        dumps_item(newer),
        Decimal("1700000000.5"),
        None,
        frozenset({Decimal("1700000000.5")}),
        pages=PageIndex(ttl=None, pages=(ref,)),
        count=len(newer),
    )
    await raw_put(raw, table, head)
    assert item_size(head) > DEFAULT_PAGE_THRESHOLD
    session = DynamoDBSession(sid, client, table)
    assert await session.get_items() == older + newer
    added = incompressible(1_000)
    await session.add_items([added])  # type: ignore[list-item]
    stored = await raw_get(raw, table, sid)
    assert stored is not None and item_size(stored) < DEFAULT_PAGE_THRESHOLD
    listed = json.loads(stored["pages"]["S"])["pages"]
    assert listed[0][0] == ref.id  # the old page stays as it is: no rewrite
    assert await DynamoDBSession(sid, client, table).get_items() == [*older, *newer, added]
    # From then on it is billed as a session in the new layout.
    _, units, _ = await grow(session, WriteBill(client), 0, 100_000)
    assert units <= 20


async def test_a_single_item_written_for_0_1_0_readers_pages_under_the_default(
    client: Any, table: str
) -> None:
    raw = client  # plain requests, counted by no bill
    sid = f"spec-{uuid.uuid4().hex[:8]}"
    spec = DynamoDBSession(sid, client, table, page_threshold=SPEC_PAGE_THRESHOLD)
    items = [incompressible(5_000) for _ in range(60)]
    await spec.add_items(items)  # type: ignore[arg-type]
    before = await raw_get(raw, table, sid)
    assert before is not None and "pages" not in before  # 300 KB, one item
    session = DynamoDBSession(sid, client, table)
    assert await session.get_items() == items
    await session.add_items([incompressible(100)])  # type: ignore[list-item]
    after = await raw_get(raw, table, sid)
    assert after is not None and item_size(after) < DEFAULT_PAGE_THRESHOLD
    assert (await DynamoDBSession(sid, client, table).get_items())[:-1] == items


async def test_the_whole_history_is_one_head_read_and_one_batch_per_100_keys(
    client: Any, table: str
) -> None:
    sid = f"whole-{uuid.uuid4().hex[:8]}"
    session = DynamoDBSession(sid, client, table)
    for _ in range(50):
        await session.add_items([incompressible(5_000)])  # type: ignore[list-item]
    reader = DynamoDBSession(sid, client, table)
    bill = WriteBill(client)
    assert len(await reader.get_items()) == 50
    assert bill.calls == {"GetItem": 1, "BatchGetItem": 1}
