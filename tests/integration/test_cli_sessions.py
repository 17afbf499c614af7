"""`openai-agents-session sessions list|show|export|delete`, through Typer's CliRunner.

(Paged sessions, `import` and `gc` are covered in test_admin_pages.py.)

The CLI runs its own event loop (``asyncio.run``), so these tests are synchronous;
the table is filled by an async fixture and checked with an independent sync boto3
client on the same endpoint.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from openai_agents_session import RESERVED_PREFIX, DynamoDBSession
from openai_agents_session.admin import ScanStats, iter_sessions, view_item
from openai_agents_session.cli import app
from openai_agents_session.models.codec import encode_item
from tests.conftest import count_calls
from tests.support.sessions import is_cleared

CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What's the weather in Paris? [bold]not markup[/bold]"},
    {
        "type": "function_call",
        "call_id": "call_weather_1",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    },
    {"type": "function_call_output", "call_id": "call_weather_1", "output": "Sunny, 21 C"},
    {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "status": "completed",
        "content": [{"type": "output_text", "text": "It is sunny in Paris.", "annotations": []}],
    },
]
RESERVED_ID = f"{RESERVED_PREFIX}ledger#0001"


def cli(endpoint: str, table: str, *args: str, input: str | None = None) -> Any:
    result = CliRunner().invoke(
        app, ["sessions", *args, "--endpoint-url", endpoint, "--table", table], input=input
    )
    return result


def stored_ids(endpoint: str, table: str) -> set[str]:
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return {item["session_id"]["S"] for item in items}


def live_ids(endpoint: str, table: str) -> set[str]:
    """Stored ids that are not cleared: `clear_session` leaves an empty tombstone head."""
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    ids = {item["session_id"]["S"]: item for item in items}
    return {
        sid for sid, item in ids.items() if sid.startswith(RESERVED_PREFIX) or not is_cleared(item)
    }


@pytest.fixture
async def filled(client: Any, table: str) -> str:
    """alpha (5 items, tools), beta (1 item), old (expired), broken (corrupt), one reserved item."""
    await DynamoDBSession("alpha", client, table, ttl_seconds=3600).add_items(CONVERSATION)
    await DynamoDBSession("beta", client, table).add_items([{"role": "user", "content": "hi"}])
    # A one-hour TTL that passed a day ago: expired, but DynamoDB has not deleted it.
    # (Moved back by hand: sessions compute TTLs on DynamoDB's clock, not the host's.)
    old = DynamoDBSession("old", client, table, ttl_seconds=3600)
    await old.add_items([{"role": "user", "content": "long ago"}])
    await client.update_item(
        TableName=table,
        Key={"session_id": {"S": "old"}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "ttl"},
        ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 86400 + 3600)}},
    )
    broken = encode_item("broken", "{not json", Decimal("1700000000.5"), None, frozenset())
    await client.put_item(TableName=table, Item=broken)
    reserved = encode_item(RESERVED_ID, "[]", Decimal(1), None, frozenset())
    await client.put_item(TableName=table, Item=reserved)
    return table


def test_list_skips_reserved_and_expired_and_flags_corrupt(endpoint: str, filled: str) -> None:
    result = cli(endpoint, filled, "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["session_id"]: row for row in json.loads(result.stdout)["sessions"]}
    assert set(rows) == {"alpha", "beta", "broken"}
    assert rows["alpha"]["item_count"] == 5
    assert rows["alpha"]["expires_at"] > rows["alpha"]["updated_at"]
    assert rows["alpha"]["expired"] is False
    assert rows["alpha"]["size"] > 200
    assert rows["alpha"]["updated_at"].startswith(time.strftime("%Y-", time.gmtime()))
    assert rows["beta"]["item_count"] == 1 and rows["beta"]["expires_at"] is None
    assert rows["broken"]["item_count"] is None
    assert "corrupt" in rows["broken"]["error"] and "not valid JSON" in rows["broken"]["error"]

    human = cli(endpoint, filled, "list")
    assert human.exit_code == 0, human.output
    assert "alpha" in human.stdout and "broken" in human.stdout and "corrupt" in human.stdout
    assert "'broken' in table" in human.stderr and "not valid JSON" in human.stderr
    assert RESERVED_PREFIX not in human.stdout and "old" not in human.stdout.split()
    assert "3 session(s), 1 corrupt" in human.stdout
    assert "skipped 1 reserved, 1 expired" in human.stdout


def test_list_include_expired_shows_the_expired_session(endpoint: str, filled: str) -> None:
    result = cli(endpoint, filled, "list", "--json", "--include-expired")
    assert result.exit_code == 0, result.output
    rows = {row["session_id"]: row for row in json.loads(result.stdout)["sessions"]}
    assert set(rows) == {"alpha", "beta", "broken", "old"}
    assert rows["old"]["expired"] is True
    assert datetime.fromisoformat(rows["old"]["expires_at"]).timestamp() < time.time()


@pytest.fixture
async def many(client: Any, table: str) -> str:
    for index in range(7):
        await DynamoDBSession(f"s-{index}", client, table).add_items([{"n": index}])
    reserved = encode_item(RESERVED_ID, "[]", Decimal(1), None, frozenset())
    await client.put_item(TableName=table, Item=reserved)
    return table


def test_list_follows_pages_and_honours_limit(endpoint: str, many: str) -> None:
    # 8 items (7 sessions + 1 reserved) at 2 per Scan page: 4 pages must be followed.
    result = cli(endpoint, many, "list", "--json", "--page-size", "2")
    assert result.exit_code == 0, result.output
    assert sorted(row["session_id"] for row in json.loads(result.stdout)["sessions"]) == [
        f"s-{i}" for i in range(7)
    ]
    limited = cli(endpoint, many, "list", "--json", "--page-size", "2", "--limit", "3")
    assert limited.exit_code == 0, limited.output
    assert len(json.loads(limited.stdout)["sessions"]) == 3
    human = cli(endpoint, many, "list", "--page-size", "3")
    assert all(f"s-{i}" in human.stdout for i in range(7)), human.stdout
    assert "7 session(s)" in human.stdout


async def test_iter_sessions_streams_one_page_at_a_time(client: Any, many: str) -> None:
    calls = count_calls(client)
    stats = ScanStats()
    entries = iter_sessions(client, many, page_size=2, stats=stats)
    first = await anext(entries)
    # Only the first page was read to produce the first session.
    assert calls["Scan"] == 1 and stats.pages == 1
    rest = [entry async for entry in entries]
    assert {first.session_id, *(e.session_id for e in rest)} == {f"s-{i}" for i in range(7)}
    # 8 items in pages of 2: DynamoDB (and dynalite) also hand back a LastEvaluatedKey
    # for a full last page, so a fifth, empty page may be read; moto stops at four.
    assert calls["Scan"] == stats.pages
    assert stats.pages in (4, 5)
    assert stats.scanned == 8 and stats.reserved == 1 and stats.yielded == 7

    calls.clear()
    limited = [e async for e in iter_sessions(client, many, page_size=2, limit=3)]
    assert len(limited) == 3
    assert calls["Scan"] == 2  # stops once the limit is reached, without a further page


def test_show_renders_roles_tool_calls_and_outputs(endpoint: str, filled: str) -> None:
    result = cli(endpoint, filled, "show", "alpha")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()

    def line_with(text: str) -> str:
        return next(line for line in lines if text in line)

    assert "system" in line_with("Be brief.")
    assert "user" in line_with("What's the weather in Paris?")
    # Stored text is printed as written, never interpreted as Rich markup.
    assert "[bold]not markup[/bold]" in result.stdout
    assert "tool call" in line_with('get_weather({"city": "Paris"})')
    assert "tool output" in line_with("Sunny, 21 C")
    assert "call_weather_1" in line_with("Sunny, 21 C")
    assert "assistant" in line_with("It is sunny in Paris.")
    assert "5 item(s)" in result.stdout

    as_json = cli(endpoint, filled, "show", "alpha", "--json")
    assert as_json.exit_code == 0, as_json.output
    shown = json.loads(as_json.stdout)
    assert shown["conversation_data"] == CONVERSATION
    assert shown["item_count"] == 5 and shown["session_id"] == "alpha"


def test_show_refuses_missing_expired_corrupt_and_reserved(endpoint: str, filled: str) -> None:
    missing = cli(endpoint, filled, "show", "nobody")
    assert missing.exit_code == 1 and "No session 'nobody'" in missing.output
    expired = cli(endpoint, filled, "show", "old")
    assert expired.exit_code == 1 and "--include-expired" in expired.output
    shown = cli(endpoint, filled, "show", "old", "--include-expired")
    assert shown.exit_code == 0 and "long ago" in shown.stdout
    corrupt = cli(endpoint, filled, "show", "broken", "--json")
    assert corrupt.exit_code == 1
    shown_corrupt = json.loads(corrupt.stdout)
    assert "corrupt" in shown_corrupt["error"]
    assert shown_corrupt["raw"]["conversation_data"] == {"S": "{not json"}
    # Without --json the stored attributes are printed, so a person can repair them.
    raw = cli(endpoint, filled, "show", "broken")
    assert raw.exit_code == 1 and "{not json" in raw.stdout and "corrupt" in raw.stderr
    reserved = cli(endpoint, filled, "show", RESERVED_ID)
    assert reserved.exit_code == 1 and "reserved" in reserved.output.lower()


def test_export_one_session_to_stdout(endpoint: str, filled: str) -> None:
    result = cli(endpoint, filled, "export", "alpha")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["session_id"] == "alpha"
    assert record["conversation_data"] == CONVERSATION
    assert record["ttl"] > time.time()


def test_export_all_streams_json_lines_and_reports_corrupt(
    endpoint: str, filled: str, tmp_path: Path
) -> None:
    target = tmp_path / "sessions.jsonl"
    result = cli(endpoint, filled, "export", "--all", "--output", str(target), "--page-size", "1")
    # The corrupt item is reported and skipped; the export goes on, then exits 1.
    assert result.exit_code == 1, result.output
    assert "broken" in result.stderr and "corrupt" in result.stderr
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert {r["session_id"]: len(r["conversation_data"]) for r in records} == {
        "alpha": 5,
        "beta": 1,
    }
    assert "Exported 2 session(s)" in result.stderr

    with_expired = cli(endpoint, filled, "export", "--all", "--include-expired", "--json")
    exported = [json.loads(line) for line in with_expired.stdout.splitlines()]
    assert {r["session_id"] for r in exported} == {"alpha", "beta", "old"}
    assert json.loads(with_expired.stderr.strip().splitlines()[-1])["exported"] == 3

    usage = cli(endpoint, filled, "export")
    assert usage.exit_code == 2 and "--all" in usage.output


def test_delete_asks_for_confirmation(endpoint: str, filled: str) -> None:
    declined = cli(endpoint, filled, "delete", "beta", input="n\n")
    assert declined.exit_code == 1
    assert "Delete session 'beta' (1 item(s)" in declined.output
    assert "beta" in stored_ids(endpoint, filled)

    accepted = cli(endpoint, filled, "delete", "beta", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "Deleted session 'beta'" in accepted.stdout
    assert "beta" not in live_ids(endpoint, filled)
    # Cleared: the tombstone is not listed, and deleting it again finds nothing.
    listed = cli(endpoint, filled, "list", "--json")
    assert "beta" not in {row["session_id"] for row in json.loads(listed.stdout)["sessions"]}
    again = cli(endpoint, filled, "delete", "beta", "--yes")
    assert again.exit_code == 1 and "already cleared" in again.output


def test_delete_with_yes_json_corrupt_and_missing(endpoint: str, filled: str) -> None:
    result = cli(endpoint, filled, "delete", "alpha", "broken", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"deleted": ["alpha", "broken"], "not_found": []}
    assert live_ids(endpoint, filled) == {"beta", "old", RESERVED_ID}
    assert stored_ids(endpoint, filled) >= {"alpha", "broken"}  # as tombstones

    missing = cli(endpoint, filled, "delete", "ghost", "--yes")
    assert missing.exit_code == 1 and "no session 'ghost'" in missing.output


def test_errors_are_one_line_without_traceback(endpoint: str) -> None:
    result = cli(endpoint, f"absent-{uuid.uuid4().hex[:6]}", "list")
    assert result.exit_code == 1
    assert "ResourceNotFoundException" in result.output and "Fix:" in result.output
    assert "Traceback" not in result.output


def test_view_item_kinds() -> None:
    kinds = [view_item(item).kind for item in CONVERSATION]
    assert kinds == ["message", "message", "tool_call", "tool_output", "message"]
    envelope = view_item({"__enc__": 1, "v": 1, "kid": "k", "payload": "x"})
    assert envelope.kind == "other" and '"payload":"x"' in envelope.text
    shell = view_item({"type": "web_search_call", "id": "ws_1", "status": "completed"})
    assert shell.kind == "tool_call"


# ------------------------------------------------------------------ by owner


@pytest.fixture
async def owned(client: Any, table: str) -> str:
    """Three sessions of erin (one titled), one of frank."""
    for sid in ("e1", "e2", "e3"):
        session = DynamoDBSession(sid, client, table, owner="erin", auto_title=True)
        await session.add_items([{"role": "user", "content": f"erin asks {sid}"}])
    await DynamoDBSession("f1", client, table, owner="frank").add_items(
        [{"role": "user", "content": "frank asks"}]
    )
    return table


def test_list_owner_pages_by_index_and_delete_owner_erases(endpoint: str, owned: str) -> None:
    first = cli(endpoint, owned, "list", "--owner", "erin", "--limit", "2", "--json")
    assert first.exit_code == 0, first.output
    page = json.loads(first.stdout)
    assert [s["session_id"] for s in page["sessions"]] == ["e3", "e2"]
    assert page["sessions"][0]["title"] == "erin asks e3" and page["cursor"]
    rest = cli(endpoint, owned, "list", "--owner", "erin", "--cursor", page["cursor"], "--json")
    assert [s["session_id"] for s in json.loads(rest.stdout)["sessions"]] == ["e1"]
    text = cli(endpoint, owned, "list", "--owner", "erin", "--limit", "2")
    assert "e3" in text.stdout and "Next page: --cursor" in text.stdout

    erased = cli(endpoint, owned, "delete", "--owner", "erin", "--yes")
    assert erased.exit_code == 0, erased.output
    assert "Erased 3 session(s) of owner 'erin'" in erased.stdout
    assert live_ids(endpoint, owned) == {"f1"}  # erin's are tombstones that keep the owner
    after = cli(endpoint, owned, "list", "--owner", "erin", "--json")
    assert json.loads(after.stdout)["sessions"] == []
    refused = cli(endpoint, owned, "delete", "--owner", "frank")  # no --yes, answers no
    assert refused.exit_code != 0 and live_ids(endpoint, owned) == {"f1"}
