"""The write path's pure pieces, without an endpoint: operations, planning, outcomes."""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from openai_agents_session import SessionTooLargeError
from openai_agents_session._plan import (
    MERGE_FANOUT,
    TOMBSTONE_SECONDS,
    Append,
    Change,
    Clear,
    Conflict,
    Failed,
    HeadFields,
    Layout,
    Lost,
    NeedMembers,
    Pop,
    Replace,
    check_growth,
    check_index_room,
    check_item_limit,
    classify,
    fold_run,
    head_fields,
    plan_write,
    release_and_restamp,
    seal_split,
    split_runs,
    write_runs,
)
from openai_agents_session.models.codec import StoredItem, decode_item, dumps_item, item_size
from openai_agents_session.models.pages import (
    COMPOSITE,
    decode_members,
    decode_page,
    page_key,
    part_keys,
)
from openai_agents_session.models.pairs import safe_cut
from openai_agents_session.models.schema import PageIndex, PageRef

NOW = 1_800_000_000.0


def msg(tag: str) -> dict[str, Any]:
    return {"role": "user", "content": tag}


def call(cid: str) -> dict[str, Any]:
    return {"type": "function_call", "call_id": cid, "name": "f", "arguments": "{}"}


def out(cid: str) -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": cid, "output": "ok"}


def state(items: list[Any], pages: PageIndex | None = None, ttl: int | None = None) -> StoredItem:
    version = Decimal("1700000000.000001000000")
    return StoredItem(
        session_id="s",
        conversation_json=dumps_item(items),
        count=len(items),
        updated_at=version,
        ttl=ttl,
        recent_writes=frozenset({version}),
        pages=pages,
    )


def plan(seen: StoredItem | None, change: Change, **layout: Any) -> Any:
    return plan_write(
        seen,
        change,
        expired=False,
        session_id="s",
        table_name="t",
        now=NOW,
        layout=Layout(**layout),
        operation="add_items",
    )


# ------------------------------------------------------------------ safe_cut


def test_safe_cut_drops_an_output_whose_call_is_gone() -> None:
    assert safe_cut([out("a"), msg("answer")]) == 1
    assert safe_cut([call("a"), out("a"), msg("answer")]) == 0
    # Parallel calls: out a's call is gone, so the cut passes it, which drops
    # call b too, and then out b: a kept history is a suffix.
    assert safe_cut([call("b"), out("a"), out("b")]) == 3
    assert safe_cut([call("a"), call("b"), out("a"), out("b")]) == 0


def test_safe_cut_knows_every_paired_type() -> None:
    approval = {"type": "mcp_approval_request", "id": "r1", "name": "x"}
    response = {"type": "mcp_approval_response", "approval_request_id": "r1", "approve": True}
    assert safe_cut([approval, response]) == 0
    assert safe_cut([response, msg("x")]) == 1
    shell = {"type": "local_shell_call", "id": "x1", "call_id": "c1", "action": {}}
    shell_out = {"type": "local_shell_call_output", "id": "c1", "output": "done"}
    assert safe_cut([shell, shell_out]) == 0
    assert safe_cut([{"type": "computer_call_output", "call_id": "z"}]) == 1


@given(st.lists(st.sampled_from(["m", "c1", "o1", "c2", "o2"]), max_size=12))
def test_safe_cut_leaves_no_orphan_and_drops_no_more_than_needed(kinds: list[str]) -> None:
    items = [msg(k) if k == "m" else call(k[1]) if k[0] == "c" else out(k[1]) for k in kinds]
    cut = safe_cut(items)
    kept = items[cut:]
    calls = {i["call_id"] for i in kept if i.get("type") == "function_call"}
    for index, item in enumerate(kept):
        if item.get("type") == "function_call_output":
            earlier = {i["call_id"] for i in kept[:index] if i.get("type") == "function_call"}
            assert item["call_id"] in earlier
    assert calls is not None
    if cut:  # one item less dropped would leave an orphan
        shorter = items[cut - 1 :]
        assert shorter[0].get("type") == "function_call_output" or safe_cut(shorter) > 0


# ----------------------------------------------------------------- operations


def test_append_splices_without_reencoding_the_history() -> None:
    base = state([msg("a")])
    change = Append([dumps_item(msg("b"))]).apply(base, {})
    assert json.loads(change.conversation_json) == [msg("a"), msg("b")]
    assert (change.count, change.grows, change.pages) == (2, True, ())


def test_bounded_append_never_keeps_an_output_without_its_call() -> None:
    base = state([msg("q"), call("a")])
    change = Append([dumps_item(out("a")), dumps_item(msg("answer"))], max_items=2).apply(base, {})
    # Strict: [out a, answer] would split the pair, so only the answer is kept.
    assert json.loads(change.conversation_json) == [msg("answer")]


def test_bounded_append_trims_into_pages_by_narrowing_their_view() -> None:
    page_items = [msg(f"p{i}") for i in range(5)]
    ref = PageRef("aa", 1, 0, 5, 100)
    base = state([msg("h")], PageIndex(pages=(ref,)))
    op = Append([dumps_item(msg("new"))], max_items=4)
    assert op.pages_needed(base) == [ref]
    change = op.apply(base, {"aa": page_items})
    assert change.pages == (PageRef("aa", 1, 3, 2, 100),)
    assert json.loads(change.conversation_json) == [msg("h"), msg("new")]


def test_pop_walks_into_the_newest_page_and_shrinks_its_view() -> None:
    older, newest = PageRef("o", 1, 0, 2, 10), PageRef("n", 1, 0, 2, 10)
    base = state([], PageIndex(pages=(older, newest)))
    assert Pop().pages_needed(base) == [newest]
    change = Pop().apply(base, {"n": [msg("x"), msg("y")]})
    assert change is not None and change.result == msg("y")
    assert change.pages == (older, newest._replace(length=1))
    emptied = state([], PageIndex(pages=(older, newest._replace(length=1))))
    last = Pop().apply(emptied, {"n": [msg("x"), msg("y")]})
    assert last is not None and last.result == msg("x") and last.pages == (older,)
    assert Pop().apply(state([]), {}) is None


# ------------------------------------------------------------------ planning


def test_a_head_under_the_threshold_is_the_spec_item() -> None:
    written = plan(None, Append([dumps_item(msg("a"))]).apply(None, {}))
    # The spec's item, plus the catalog's counters and creation time.
    assert set(written.item) == {
        "session_id",
        "conversation_data",
        "updated_at",
        "recent_writes",
        "created_at",
        "item_count",
        "history_size",
    }
    assert written.item["item_count"] == {"N": "1"}
    assert written.page_items == [] and written.released == []
    assert "attribute_not_exists" in written.condition["ConditionExpression"]


def test_past_the_threshold_older_items_are_sealed_into_pages() -> None:
    items = [msg("x" * 1000 + str(i)) for i in range(40)]
    change = Append([dumps_item(i) for i in items]).apply(None, {})
    written = plan(None, change, threshold=16 * 1024, ttl_seconds=60)
    assert written.page_items and item_size(written.item) <= 16 * 1024
    head = decode_item(written.item, table_name="t")
    assert head.pages is not None and head.ttl == int(NOW) + 60
    # Pages outlive their head by at least a day.
    assert head.pages.ttl is not None and head.pages.ttl >= head.ttl + 86400
    parts = {p["session_id"]["S"]: p for p in written.page_items}
    history: list[Any] = []
    for ref in head.pages.pages:
        history += decode_page(
            ref, [parts[k] for k in part_keys("s", ref)], session_id="s", table_name="t"
        )
    assert history + head.items() == items
    assert all(len(zlib.decompress(p["page_data"]["B"])) > 0 for p in written.page_items)


def test_a_big_item_spans_several_parts() -> None:
    huge = msg(random.Random(7).randbytes(750_000).hex())  # 1.5 MB, compresses to ~0.8 MB
    written = plan(None, Append([dumps_item(huge)]).apply(None, {}))
    assert len(written.page_items) >= 2
    assert all(item_size(p) < 400 * 1024 for p in written.page_items)


def test_releasing_pages_only_after_they_leave_the_index() -> None:
    ref = PageRef("gone", 2, 0, 1, 10)
    base = state([], PageIndex(pages=(ref,)))
    change = Pop().apply(base, {"gone": [msg("last")]})
    assert change is not None
    written = plan(base, change)
    assert written.released == part_keys("s", ref) and "pages" not in written.item


def test_clear_writes_a_tombstone_that_expires_and_releases_every_page() -> None:
    ref = PageRef("p", 1, 0, 3, 10)
    base = state([msg("a")], PageIndex(pages=(ref,)))
    written = plan(base, Clear().apply(base, {}))
    head = decode_item(written.item, table_name="t")
    assert head.conversation_json == "[]" and head.pages is None
    assert head.ttl == int(NOW) + TOMBSTONE_SECONDS
    assert written.released == part_keys("s", ref)
    assert written.items_written == 4


def test_page_ttls_are_extended_before_the_head_catches_up() -> None:
    ref = PageRef("p", 1, 0, 3, 10)
    soon = state([msg("a")], PageIndex(ttl=int(NOW) + 100, pages=(ref,)), ttl=int(NOW))
    written = plan(soon, Append([dumps_item(msg("b"))]).apply(soon, {}), ttl_seconds=60)
    assert written.restamp is not None and written.restamp.keys == part_keys("s", ref)
    assert written.restamp.ttl is not None and written.restamp.ttl > int(NOW) + 60
    # A head without expiry needs pages without expiry.
    forever = plan(soon, Append([dumps_item(msg("b"))]).apply(soon, {}))
    assert forever.restamp is not None and forever.restamp.ttl is None


def test_the_session_cap_is_checked_before_anything_is_planned() -> None:
    change = Append([dumps_item(msg("x" * 5000))]).apply(None, {})
    with pytest.raises(SessionTooLargeError, match="max_session_bytes"):
        plan(None, change, max_session_bytes=1000)


# ------------------------------------------------------------------- outcomes


def error(code: str, status: int, retries: int = 0, item: Any = None) -> ClientError:
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": retries},
    }
    if item is not None:
        response["Item"] = item
    return ClientError(response, "PutItem")  # type: ignore[arg-type]


def test_outcomes() -> None:
    conflict = classify(error("ConditionalCheckFailedException", 400, item={"x": 1}))
    assert conflict == Conflict({"x": 1}, maybe_applied=False)
    assert classify(error("ConditionalCheckFailedException", 400, retries=1)).maybe_applied
    # A server error does not prove the write failed, retried or not.
    assert isinstance(classify(error("InternalServerError", 500)), Lost)
    assert isinstance(classify(error("ServiceUnavailable", 503, retries=2)), Lost)
    refused = classify(error("ValidationException", 400))
    assert isinstance(refused, Failed) and not refused.maybe_applied


def test_a_seal_folds_the_oldest_segments_into_a_composite_and_rewrites_nothing() -> None:
    count = MERGE_FANOUT * 3 // 2
    tier = [PageRef(f"{n + 1:016x}", 1, 0, 2, 2_000) for n in range(count)]
    base = state([msg("h" * 1000 + str(i)) for i in range(30)], PageIndex(pages=tuple(tier)))
    change = Append([dumps_item(msg("new"))]).apply(base, {})
    # A fold needs no page read: it lists the segments as they are.
    written = plan(base, change)  # a paged head seals past 24 KiB
    head = decode_item(written.item, table_name="t")
    assert head.pages is not None and head.count == 0
    composite, *kept, segment = head.pages.pages
    assert composite.parts == COMPOSITE and composite.length == 2 * MERGE_FANOUT
    assert composite.size == MERGE_FANOUT * 2_000
    assert kept == tier[MERGE_FANOUT:]
    assert segment.length == 31  # the whole tail, sealed after the tier
    assert written.released == []  # the folded segments stay, listed by the composite
    assert written.fresh_members == {composite.id: tuple(tier[:MERGE_FANOUT])}
    # Two items: the segment's part and the composite's, which lists the members.
    keys = {item["session_id"]["S"] for item in written.page_items}
    assert keys == {page_key("s", segment.id, 0), page_key("s", composite.id, 0)}
    composite_item = next(
        i for i in written.page_items if i["session_id"]["S"] == page_key("s", composite.id, 0)
    )
    members = decode_members(composite, composite_item, session_id="s", table_name="t")
    assert members == tuple(tier[:MERGE_FANOUT])


def test_a_full_newest_page_is_left_alone() -> None:
    full = PageRef("f" * 16, 1, 0, 50, 500_000)
    base = state([msg("h" * 1000 + str(i)) for i in range(100)], PageIndex(pages=(full,)))
    written = plan(base, Append([dumps_item(msg("new"))]).apply(base, {}))
    head = decode_item(written.item, table_name="t")
    assert head.pages is not None and head.pages.pages[0] == full and len(head.pages.pages) == 2
    assert written.released == []


# ------------------------------------------------ the named pieces of plan_write


def test_check_growth_counts_pages_and_head_and_only_for_growing_changes() -> None:
    ref = PageRef("a" * 16, 1, 0, 1, 900)
    growing = Change("[" + "1" * 98 + "]", 1, (ref,), None, 1, grows=True)
    check_growth(
        growing, Layout(max_session_bytes=1_000), operation="o", session_id="s", table_name="t"
    )
    with pytest.raises(SessionTooLargeError) as caught:
        check_growth(
            growing, Layout(max_session_bytes=999), operation="o", session_id="s", table_name="t"
        )
    assert caught.value.size == 1_000 and "'s'" in str(caught.value) and "'t'" in str(caught.value)
    shrinking = Change(growing.conversation_json, 1, (ref,), None, 1)
    check_growth(
        shrinking, Layout(max_session_bytes=1), operation="o", session_id="s", table_name="t"
    )


def test_head_fields_of_a_tombstone_a_live_write_and_a_first_write() -> None:
    base = replace(state([msg("a")], ttl=int(NOW) + 10_000), created_at=Decimal("1700000000"))
    layout = Layout(ttl_seconds=60)
    tomb = head_fields(base, base, Clear().apply(base, {}), now=NOW, layout=layout)
    assert tomb.ttl == int(NOW) + TOMBSTONE_SECONDS and tomb.extra == {} and tomb.created_at is None
    live = head_fields(
        base, base, Append([dumps_item(msg("b"))]).apply(base, {}), now=NOW, layout=layout
    )
    # A writer's shorter TTL never shortens a live conversation's.
    assert live.ttl == int(NOW) + 10_000 and live.created_at == Decimal("1700000000")
    assert live.version > base.updated_at and base.updated_at in live.log
    first = head_fields(
        None, None, Append([dumps_item(msg("b"))]).apply(None, {}), now=NOW, layout=layout
    )
    assert first.ttl == int(NOW) + 60 and first.created_at == Decimal(int(NOW))


def test_seal_split_moves_the_whole_tail() -> None:
    items = [dumps_item(msg("x" * 1_000 + str(i))) for i in range(20)]
    assert seal_split(items, Layout(threshold=16 * 1024)) == 20


def test_fold_run_takes_the_oldest_segments_once_the_tier_is_full_and_a_half() -> None:
    big = PageRef("a" * 16, 1, 0, 3, 300 * 1024)
    tier = [PageRef(f"{n + 1:016x}", 1, 1, 1, 2_000) for n in range(MERGE_FANOUT * 3 // 2)]
    # One segment short: no fold. Composites end a tier like big pages do.
    assert fold_run([big, *tier[1:]]) is None
    assert fold_run([big, *tier]) == (1, MERGE_FANOUT)
    composite = PageRef("c" * 16, COMPOSITE, 0, 16, 32_000)
    assert fold_run([composite, *tier[1:]]) is None
    assert fold_run([big, composite, *tier]) == (2, MERGE_FANOUT)


def test_release_and_restamp_names_a_composites_members_and_asks_for_unread_ones() -> None:
    members = (PageRef("1" * 16, 1, 0, 2, 100), PageRef("2" * 16, 2, 1, 1, 400_000))
    composite = PageRef("c" * 16, COMPOSITE, 0, 3, 400_100)
    seen = state([], PageIndex(pages=(composite,)))
    fields = head_fields(seen, seen, Clear().apply(seen, {}), now=NOW, layout=Layout())
    with pytest.raises(NeedMembers) as need:
        release_and_restamp(seen, seen, [], fields, "s")
    assert need.value.refs == [composite]
    _, released = release_and_restamp(seen, seen, [], fields, "s", {composite.id: members})
    assert released == [
        page_key("s", composite.id, 0),
        *part_keys("s", members[0]),
        *part_keys("s", members[1]),
    ]
    # Kept, it releases nothing.
    assert release_and_restamp(seen, seen, [composite], fields, "s")[1] == []


def test_split_runs_keeps_order_and_size_and_puts_a_big_item_alone() -> None:
    items = [msg("a" * 200_000), msg("b" * 700_000), msg("c" * 200_000), msg("d" * 200_000)]
    runs = split_runs((items, [dumps_item(i) for i in items]))
    assert [len(r[0]) for r in runs] == [1, 1, 2]
    assert [i for r in runs for i in r[0]] == items
    assert all(sum(len(t) + 1 for t in r[1]) <= 512 * 1024 for r in runs if len(r[0]) > 1)


def test_write_runs_encodes_pages_that_decode_back() -> None:
    runs = [
        ([msg("a")], [dumps_item(msg("a"))]),
        ([msg("b"), msg("c")], [dumps_item(msg(t)) for t in "bc"]),
    ]
    refs, parts, fresh = write_runs(runs, session_id="s", page_ttl=None, now=NOW)
    assert [r.length for r in refs] == [1, 2] and len(parts) == 2
    for ref, part in zip(refs, parts, strict=True):
        assert decode_page(ref, [part], session_id="s", table_name="t") == fresh[ref.id]


def test_check_index_room_and_item_limit_refuse_past_their_limits() -> None:
    pages = [PageRef(f"{n:016x}", 1, 0, 1, 10) for n in range(300)]
    names = {"operation": "o", "session_id": "s", "table_name": "t"}
    check_index_room(pages, None, Layout(threshold=32 * 1024), **names)
    with pytest.raises(SessionTooLargeError, match="page_threshold"):
        check_index_room(pages, None, Layout(threshold=16 * 1024), **names)
    check_item_limit(400 * 1024, pages, **names)
    with pytest.raises(SessionTooLargeError, match="item limit"):
        check_item_limit(400 * 1024 + 1, pages, **names)


def test_release_and_restamp_releases_dropped_pages_and_restamps_kept_ones() -> None:
    kept, dropped = PageRef("c" * 16, 2, 0, 1, 10), PageRef("d" * 16, 1, 0, 1, 10)
    seen = state([], PageIndex(ttl=int(NOW), pages=(kept, dropped)))
    fields = HeadFields(Decimal(1), frozenset(), None, {}, None, int(NOW) + 99, True)
    restamp, released = release_and_restamp(seen, seen, [kept], fields, "s")
    assert released == part_keys("s", dropped)
    assert (
        restamp is not None
        and restamp.keys == part_keys("s", kept)
        and restamp.ttl == int(NOW) + 99
    )
    quiet = replace(fields, restamp=False)
    assert release_and_restamp(seen, seen, [kept, dropped], quiet, "s") == (None, [])


def test_replace_drops_every_old_page_and_seals_the_new_history() -> None:
    old = PageRef("e" * 16, 1, 0, 3, 100)
    base = state([msg("h")], PageIndex(pages=(old,)))
    new = [dumps_item(msg("n" * 3_000 + str(i))) for i in range(20)]
    written = plan(base, Replace(new).apply(base, {}), threshold=16 * 1024)
    assert written.released == part_keys("s", old)
    assert written.state.pages is not None and old not in written.state.pages.pages
    assert written.state.total_count == 20
