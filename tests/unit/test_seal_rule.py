"""Which seals go as one TransactWriteItems, and how such a transaction ended."""

from __future__ import annotations

import random
from typing import Any

from botocore.exceptions import ClientError

from openai_agents_session._fork_guard import transaction_outcome
from openai_agents_session._plan import (
    Append,
    Conflict,
    Failed,
    Layout,
    Lost,
    classify,
    one_call_seal,
    plan_write,
)
from openai_agents_session.models.codec import dumps_item
from openai_agents_session.models.schema import PageIndex, PageRef
from tests.unit.test_fork_guard import cancelled
from tests.unit.test_plan import NOW, msg, plan, state

OLD = PageRef("a" * 16, 1, 0, 3, 70_000)  # a big page: no tier to fold


def text(size: int, seed: int = 1) -> dict[str, Any]:
    """A message of about `size` JSON bytes that zlib cannot shrink much."""
    return msg(random.Random(seed).randbytes(size // 2).hex()[: size - 30])


def append(items: list[Any], size: int, **layout: Any) -> Any:
    base = state(items, PageIndex(pages=(OLD,)))
    return plan(base, Append([dumps_item(text(size))]).apply(base, {}), **layout)


def test_an_append_of_a_quarter_of_the_paged_head_seals_in_one_transaction() -> None:
    big = append([], 30_000)
    assert big.page_items and big.transact
    # 6.5 KB onto a head of 20 KB seals a 26 KB segment: still one call.
    quarter = append([text(5_000, n) for n in range(4)], 6_500)
    assert quarter.page_items and quarter.transact


def test_a_5kb_append_that_seals_keeps_the_two_calls() -> None:
    # Its seal comes once in about five appends: the transaction's double
    # billing would buy 0.2 calls per append.
    written = append([text(5_000, n) for n in range(4)], 5_000)
    assert written.page_items and not written.transact


def test_the_threshold_sets_the_quarter() -> None:
    assert append([text(5_000, n) for n in range(4)], 5_000, threshold=16 * 1024).transact


def test_a_write_that_does_not_seal_is_a_plain_put() -> None:
    written = append([], 10_000)
    assert not written.page_items and not written.transact


def test_the_first_seal_of_a_one_item_session_keeps_the_two_calls() -> None:
    # It moves up to page_threshold of older items, once: not worth billing twice.
    change = Append([dumps_item(text(30_000))]).apply(None, {})
    written = plan(None, change)
    assert written.page_items and not written.transact


def test_a_ttl_restamp_or_a_large_seal_keeps_the_two_calls_and_a_fold_does_not() -> None:
    tier = tuple(PageRef(f"{n + 1:016x}", 1, 0, 1, 2_000) for n in range(3))
    base = state([], PageIndex(pages=tier))
    folding = plan_write(
        base,
        Append([dumps_item(text(30_000))]).apply(base, {}),
        expired=False,
        session_id="s",
        table_name="t",
        now=NOW,
        layout=Layout(merge_fanout=2),
        operation="add_items",
    )
    # The segment and the composite listing two old segments: one call.
    assert folding.fresh_members and len(folding.page_items) == 2 and folding.transact
    assert folding.released == []
    soon = state([], PageIndex(ttl=int(NOW) + 100, pages=(OLD,)), ttl=int(NOW))
    stamped = plan(soon, Append([dumps_item(text(30_000))]).apply(soon, {}), ttl_seconds=60)
    assert stamped.restamp is not None and stamped.page_items and not stamped.transact
    huge = append([], 5_000_000)  # hex: about 2.5 MB of parts, past 2 MiB
    assert len(huge.page_items) > 1 and not huge.transact


def test_the_rule_on_its_own() -> None:
    parts = [{"session_id": {"S": "k"}, "page_data": {"B": b"x" * 1000}}]
    rule: dict[str, Any] = {
        "added": 6_144,
        "paged": True,
        "restamp": None,
        "page_items": parts,
        "head_size": 500,
    }
    assert one_call_seal(Layout(), **rule)
    assert not one_call_seal(Layout(), **{**rule, "added": 6_143})
    assert not one_call_seal(Layout(), **{**rule, "page_items": []})
    assert not one_call_seal(Layout(), **{**rule, "page_items": parts * 25})
    assert one_call_seal(Layout(), **{**rule, "page_items": parts * 24})


def test_the_head_may_be_any_action_of_the_transaction() -> None:
    item = {"session_id": {"S": "s"}}
    # A seal: two page parts, then the head.
    error = cancelled("None", "None", "ConditionalCheckFailed")
    error.response["CancellationReasons"][2]["Item"] = item
    assert transaction_outcome(error, head=2) == Conflict(item, False)
    # A resend of a landed seal: the parts exist, and the head moved on.
    resent = cancelled("ConditionalCheckFailed", "ConditionalCheckFailed", resent=1)
    assert transaction_outcome(resent, head=1) == Conflict(None, True)
    # Only a part's key was taken: nothing landed.
    assert transaction_outcome(cancelled("ConditionalCheckFailed", "None"), head=1) is None
    conflict = cancelled("None", "TransactionConflict")
    assert transaction_outcome(conflict, head=1) == Conflict(None, False)
    invalid = cancelled("ValidationError", "None")
    assert transaction_outcome(invalid, head=1) == Failed(invalid, False)
    # Fewer reasons than actions: not a shape to read reasons from.
    assert isinstance(transaction_outcome(cancelled("None"), head=1), Failed)


def test_an_earlier_copy_still_in_progress_may_land() -> None:
    response: Any = {
        "Error": {"Code": "TransactionInProgressException", "Message": "x"},
        "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 1},
    }
    assert isinstance(
        transaction_outcome(ClientError(response, "TransactWriteItems"), head=1), Lost
    )


def test_a_put_refused_while_another_writers_seal_holds_the_head_is_a_conflict() -> None:
    # Today (before): DynamoDBError reached the caller of add_items or pop_item.
    response: Any = {
        "Error": {"Code": "TransactionConflictException", "Message": "ongoing transaction"},
        "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": 0},
    }
    assert classify(ClientError(response, "PutItem")) == Conflict(None, False)
