"""How a fork's guarded transaction ended, from the cancellation reasons DynamoDB gives."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from openai_agents_session._fork_guard import SourceGuard, transaction_outcome
from openai_agents_session._plan import Conflict, Failed, Lost


def cancelled(*codes: str, resent: int = 0, item: Any = None) -> ClientError:
    reasons: list[dict[str, Any]] = [{"Code": code} for code in codes]
    if item is not None:
        reasons[0]["Item"] = item
    response: Any = {
        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
        "ResponseMetadata": {"HTTPStatusCode": 400, "RetryAttempts": resent},
        "CancellationReasons": reasons,
    }
    return ClientError(response, "TransactWriteItems")


def test_the_targets_failed_condition_is_a_conflict_with_its_item() -> None:
    item = {"session_id": {"S": "t"}}
    outcome = transaction_outcome(cancelled("ConditionalCheckFailed", "None", item=item))
    assert outcome == Conflict(item, False)
    # Both failed: the target's own resent write may be what failed it: recognise first.
    both = transaction_outcome(
        cancelled("ConditionalCheckFailed", "ConditionalCheckFailed", resent=1)
    )
    assert both == Conflict(None, True)


def test_only_the_sources_check_failed_means_nothing_landed() -> None:
    assert transaction_outcome(cancelled("None", "ConditionalCheckFailed", resent=1)) is None


def test_a_concurrent_transaction_is_retried_and_anything_else_fails() -> None:
    assert transaction_outcome(cancelled("TransactionConflict", "None")) == Conflict(None, False)
    error = cancelled("ValidationError", "None")
    assert transaction_outcome(error) == Failed(error, False)
    server: Any = {
        "Error": {"Code": "InternalServerError", "Message": "x"},
        "ResponseMetadata": {"HTTPStatusCode": 500},
    }
    assert isinstance(transaction_outcome(ClientError(server, "TransactWriteItems")), Lost)


def test_the_check_is_on_created_at_or_on_the_version_of_a_pre_catalog_head() -> None:
    check = SourceGuard("s", Decimal("5.5"), Decimal("1.25")).condition_check("t")
    assert check["ConditionExpression"] == "#c = :c"
    assert check["ExpressionAttributeValues"] == {":c": {"N": "1.25"}}
    legacy = SourceGuard("s", Decimal("5.5"), None).condition_check("t")
    assert legacy["ExpressionAttributeValues"] == {":v": {"N": "5.5"}}
    assert legacy["Key"] == {"session_id": {"S": "s"}} and legacy["TableName"] == "t"
