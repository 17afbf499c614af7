"""The memos that session objects of one client share: what they serve, and their bounds."""

from __future__ import annotations

import threading

from openai_agents_session import _pagememo
from openai_agents_session._pagememo import MAX_MEMOS, MEMO_BYTES, PageMemo, forget, shared_memo
from openai_agents_session.models.schema import PageRef


class Client:
    """Any object that can be weakly referenced stands for a client."""


def ref(page: str, size: int = 1000, *, parts: int = 1, start: int = 0, length: int = 2) -> PageRef:
    return PageRef(page, parts, start, length, size)


ITEMS = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]


def test_objects_of_one_session_on_one_client_share_what_either_remembers() -> None:
    client = Client()
    first = shared_memo(client, "t", "s", PageMemo())
    first.keep_pages([ref("p1")], {"p1": ITEMS})
    second = shared_memo(client, "t", "s", PageMemo())
    assert second is first and second.page(ref("p1")) == ITEMS


def test_nothing_is_shared_across_sessions_tables_or_clients() -> None:
    client = Client()
    shared_memo(client, "t", "s", PageMemo()).keep_pages([ref("p1")], {"p1": ITEMS})
    assert shared_memo(client, "t", "other", PageMemo()).page(ref("p1")) is None
    assert shared_memo(client, "other", "s", PageMemo()).page(ref("p1")) is None
    assert shared_memo(Client(), "t", "s", PageMemo()).page(ref("p1")) is None


def test_an_entry_that_claims_another_page_is_not_served() -> None:
    memo = shared_memo(Client(), "t", "s", PageMemo())
    memo.keep_pages([ref("p1")], {"p1": ITEMS})
    assert memo.page(ref("p1", size=999)) is None
    assert memo.page(ref("p1", parts=2)) is None
    assert memo.page(ref("p1", start=1, length=2)) is None  # a view past the items
    assert memo.page(ref("p1", start=1, length=1)) == ITEMS  # the caller slices the view


def test_keeping_drops_pages_the_head_no_longer_names() -> None:
    memo = shared_memo(Client(), "t", "s", PageMemo())
    memo.keep_pages([ref("p1"), ref("p2")], {"p1": ITEMS, "p2": ITEMS})
    memo.keep_pages([ref("p2")], {})  # still remembered: kept without a reload
    assert memo.page(ref("p1")) is None and memo.page(ref("p2")) == ITEMS
    memo.keep_pages([], {})  # a clear
    assert memo.page(ref("p2")) is None and memo.weight == 0


def test_one_clients_memos_stay_within_their_byte_bound() -> None:
    client = Client()
    big = MEMO_BYTES // 10
    for n in range(30):
        shared_memo(client, "t", f"s{n}", PageMemo()).keep_pages([ref("p", size=big)], {"p": ITEMS})
    shelf = _pagememo._SHELVES[client]
    assert shelf.weight <= MEMO_BYTES
    assert shelf.weight == sum(shelf.counted.values())
    assert shelf.weight == sum(m.weight for m in shelf.memos.values())
    # Least recently used first out: the newest sessions are the ones still shared.
    assert ("t", "s29") in shelf.memos and ("t", "s0") not in shelf.memos


def test_one_clients_memos_stay_within_their_count_bound() -> None:
    client = Client()
    for n in range(MAX_MEMOS + 50):
        memo = shared_memo(client, "t", f"s{n}", PageMemo())
        memo.add_members({"c": (ref("m"),)})
    assert len(_pagememo._SHELVES[client].memos) == MAX_MEMOS


def test_a_memo_with_nothing_in_it_takes_no_place() -> None:
    client = Client()
    for n in range(100):
        shared_memo(client, "t", f"s{n}", PageMemo())
    assert not _pagememo._SHELVES[client].memos


def test_forget_drops_what_new_objects_would_find() -> None:
    client = Client()
    held = shared_memo(client, "t", "s", PageMemo())  # an object keeps its memo
    held.keep_pages([ref("p1")], {"p1": ITEMS})
    shared_memo(client, "u", "s", PageMemo()).keep_pages([ref("p1")], {"p1": ITEMS})
    forget(client, "t")
    assert held.page(ref("p1")) is None  # gone from the objects that held it too
    assert shared_memo(client, "t", "s", PageMemo()).page(ref("p1")) is None
    assert shared_memo(client, "u", "s", PageMemo()).page(ref("p1")) == ITEMS
    forget(client)
    assert shared_memo(client, "u", "s", PageMemo()).page(ref("p1")) is None


def test_a_client_that_cannot_be_weakly_referenced_shares_nothing() -> None:
    own = PageMemo()
    assert shared_memo(object(), "t", "s", own) is own
    forget(object())


def test_threads_sharing_a_client_keep_the_count_exact() -> None:
    # Sync callers run session objects in several threads on one shared client.
    client = Client()
    big = MEMO_BYTES // 40

    def work(thread: int) -> None:
        for n in range(400):
            memo = shared_memo(client, "t", f"s{(n * 7 + thread) % 120}", PageMemo())
            memo.keep_pages([ref(f"p{n}", size=big)], {f"p{n}": ITEMS})
            memo.add_members({f"c{n}": (ref("m"),)})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shelf = _pagememo._SHELVES[client]
    assert shelf.weight == sum(shelf.counted.values()) <= MEMO_BYTES
    assert set(shelf.counted) == set(shelf.memos)
