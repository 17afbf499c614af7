"""`sessions list|show|export|import|delete|gc` and the admin API on paged sessions.

A paged session keeps its newest items in its head and older ones in compressed
page items. The admin commands must count, show and export the whole history,
`import` must read an export back, and a lost page must show as a corrupt
session without stopping a listing or an export. Like test_cli_sessions.py, the
CLI runs its own event loop, so the CLI tests are synchronous: tables are filled
by async fixtures and checked through `blocking`, which runs a coroutine on a
client of its own.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from openai_agents_session import DynamoDBSession, create_table_if_not_exists
from openai_agents_session.admin import (
    ScanStats,
    iter_sessions,
    load_history,
    read_session,
    verify_pages,
)
from openai_agents_session.cli import app
from openai_agents_session.errors import InvalidArgumentError
from openai_agents_session.models.codec import dumps_item
from openai_agents_session.models.pages import encode_page, new_page_id
from tests.conftest import count_calls
from tests.support.sessions import (
    client_maker,
    create_table_blocking,
    is_cleared,
    raw_get,
    scan_pages,
)

T = TypeVar("T")

THRESHOLD = 16 * 1024
BIG = "big"  # paged: 40 items of about 16 KB, more than one 512 KB page
SMALL = "small"  # one item, never paged


def turn(i: int) -> dict[str, Any]:
    """About 16 KB of words, tagged with its index so the oldest item is recognisable."""
    rng = random.Random(i)
    words = " ".join(
        f"{rng.choice(['agent', 'tool', 'Paris', 'call'])}{rng.randrange(999)}" for _ in range(2300)
    )
    return {
        "role": "user" if i % 2 == 0 else "assistant",
        "content": f"turn-{i:03d} {words}"[:16000],
    }


HISTORY = [turn(i) for i in range(40)]
SMALL_HISTORY = [{"role": "user", "content": "just one"}]


def cli(endpoint: str, table: str, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(
        app, ["sessions", *args, "--endpoint-url", endpoint, "--table", table], input=input
    )


def blocking(endpoint: str, body: Callable[[Any], Awaitable[T]]) -> T:
    """Run `body(client)` from a synchronous test, on a client of its own."""

    async def main() -> T:
        async with client_maker(endpoint) as make:
            return await body(await make())

    return asyncio.run(main())


def history_of(endpoint: str, table: str, session_id: str) -> list[Any]:
    async def read(client: Any) -> list[Any]:
        return list(await DynamoDBSession(session_id, client, table).get_items())

    return blocking(endpoint, read)


def expected_figures(head: dict[str, Any]) -> tuple[int, int, int]:
    """(items, pages, history bytes) of a stored head, computed from its raw attributes."""
    conversation = head["conversation_data"]["S"]
    index = json.loads(head["pages"]["S"])["pages"] if "pages" in head else []
    items = len(json.loads(conversation)) + sum(length for _, _, _, length, _ in index)
    size = len(conversation.encode("utf-8")) + sum(size for *_, size in index)
    return items, len(index), size


async def write_paged(client: Any, table: str, session_id: str = BIG, **options: Any) -> None:
    session = DynamoDBSession(session_id, client, table, page_threshold=THRESHOLD, **options)
    for start in range(0, len(HISTORY), 4):
        await session.add_items(HISTORY[start : start + 4])


@pytest.fixture
async def paged(client: Any, table: str) -> str:
    """`big` (paged, no ttl) and `small` (one item) in a fresh table."""
    await write_paged(client, table)
    await DynamoDBSession(SMALL, client, table).add_items(SMALL_HISTORY)
    head = await raw_get(client, table, BIG)
    assert head is not None and len(json.loads(head["pages"]["S"])["pages"]) >= 2
    return table


@pytest.fixture
async def other_table(client: Any) -> str:
    name = f"sessions-{uuid.uuid4().hex[:12]}"
    await create_table_if_not_exists(client, name)
    return name


async def delete_one_page(client: Any, table: str, session_id: str) -> None:
    parts = await scan_pages(client, table, session_id)
    await client.delete_item(TableName=table, Key={"session_id": parts[0]["session_id"]})


def test_list_counts_the_whole_history(endpoint: str, paged: str) -> None:
    head = blocking(endpoint, lambda c: raw_get(c, paged, BIG))
    assert head is not None
    items, pages, history_bytes = expected_figures(head)
    assert items == 40 and pages >= 2

    result = cli(endpoint, paged, "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["session_id"]: row for row in json.loads(result.stdout)["sessions"]}
    assert rows[BIG]["item_count"] == 40
    assert rows[BIG]["pages"] == pages
    assert rows[BIG]["size"] == history_bytes
    assert history_bytes > 40 * 16000
    assert rows[BIG]["head_size"] < THRESHOLD  # the head item alone
    assert rows[BIG]["error"] is None
    assert rows[SMALL]["item_count"] == 1 and rows[SMALL]["pages"] == 0
    assert rows[SMALL]["size"] == len(dumps_item(SMALL_HISTORY).encode())

    human = cli(endpoint, paged, "list")
    assert human.exit_code == 0, human.output
    assert "PAGES" in human.stdout and "TOTAL" in human.stdout
    row = next(line for line in human.stdout.splitlines() if line.startswith(BIG))
    assert row.split()[1:3] == ["40", str(pages)]
    assert f"{history_bytes / 1024:.1f} KB" in row
    assert "2 session(s)" in human.stdout


def test_show_prints_the_whole_history(endpoint: str, paged: str) -> None:
    result = cli(endpoint, paged, "show", BIG)
    assert result.exit_code == 0, result.output
    assert "turn-000" in result.stdout and "turn-039" in result.stdout
    assert "40 item(s), " in result.stdout and " page(s)" in result.stdout

    as_json = cli(endpoint, paged, "show", BIG, "--json")
    assert as_json.exit_code == 0, as_json.output
    shown = json.loads(as_json.stdout)
    assert shown["conversation_data"] == HISTORY
    assert shown["item_count"] == 40 and shown["pages"] >= 2


def test_export_then_import_into_another_table_round_trips(
    endpoint: str, paged: str, other_table: str, tmp_path: Path
) -> None:
    dump = tmp_path / "sessions.jsonl"
    exported = cli(endpoint, paged, "export", "--all", "--output", str(dump))
    assert exported.exit_code == 0, exported.output
    records = {r["session_id"]: r for r in map(json.loads, dump.read_text().splitlines())}
    assert records[BIG]["conversation_data"] == HISTORY

    imported = cli(
        endpoint, other_table, "import", str(dump), "--page-threshold", str(THRESHOLD), "--json"
    )
    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.stdout)
    assert report["imported"] == 2 and report["items"] == 41 and report["errors"] == []
    for session_id in (BIG, SMALL):
        assert history_of(endpoint, other_table, session_id) == history_of(
            endpoint, paged, session_id
        )
    head = blocking(endpoint, lambda c: raw_get(c, other_table, BIG))
    assert head is not None and "pages" in head  # stored paged, as the library pages

    # Importing again is refused: the sessions have items. --replace clears them first.
    again = cli(endpoint, other_table, "import", str(dump))
    assert again.exit_code == 1
    assert "already has 40 item(s)" in again.stderr and "--replace" in again.stderr
    assert "skipped 2 with items already" in again.stdout
    assert history_of(endpoint, other_table, BIG) == HISTORY  # not appended twice
    before = {
        p["session_id"]["S"] for p in blocking(endpoint, lambda c: scan_pages(c, other_table, BIG))
    }
    replaced = cli(endpoint, other_table, "import", str(dump), "--replace", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.stdout)["replaced"] == 2
    assert history_of(endpoint, other_table, BIG) == HISTORY
    # The replaced session's old pages went with the clear; only new ones are left.
    after = {
        p["session_id"]["S"] for p in blocking(endpoint, lambda c: scan_pages(c, other_table, BIG))
    }
    assert before and after and before.isdisjoint(after)


def test_export_one_session_then_import_after_delete(endpoint: str, paged: str) -> None:
    exported = cli(endpoint, paged, "export", BIG)
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["conversation_data"] == HISTORY

    deleted = cli(endpoint, paged, "delete", BIG, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert history_of(endpoint, paged, BIG) == []
    # From stdin, onto the cleared session (its empty head is no obstacle).
    imported = cli(endpoint, paged, "import", input=exported.stdout)
    assert imported.exit_code == 0, imported.output
    assert "Imported 1 session(s) (0 replaced, 40 item(s))" in imported.stdout
    assert history_of(endpoint, paged, BIG) == HISTORY


def test_a_lost_page_shows_as_corrupt_without_stopping_list_or_export(
    endpoint: str, paged: str, tmp_path: Path
) -> None:
    blocking(endpoint, lambda c: delete_one_page(c, paged, BIG))

    listed = cli(endpoint, paged, "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = {row["session_id"]: row for row in json.loads(listed.stdout)["sessions"]}
    assert "do not exist" in rows[BIG]["error"] and rows[BIG]["item_count"] == 40
    assert rows[SMALL]["error"] is None
    human = cli(endpoint, paged, "list")
    assert human.exit_code == 0, human.output
    assert "corrupt" in human.stdout and "2 session(s), 1 corrupt" in human.stdout
    assert "'big' in table" in human.stderr
    # Without the check, the listing reads heads only.
    unchecked = cli(endpoint, paged, "list", "--json", "--no-check-pages")
    assert all(row["error"] is None for row in json.loads(unchecked.stdout)["sessions"])

    dump = tmp_path / "sessions.jsonl"
    exported = cli(endpoint, paged, "export", "--all", "--output", str(dump))
    assert exported.exit_code == 1
    assert "'big'" in exported.stderr and "corrupt" in exported.stderr
    assert "Exported 1 session(s)" in exported.stderr and "skipped 1 corrupt" in exported.stderr
    assert [json.loads(line)["session_id"] for line in dump.read_text().splitlines()] == [SMALL]
    single = cli(endpoint, paged, "export", BIG)
    assert single.exit_code == 1 and single.stdout == "" and "corrupt" in single.stderr

    # `show` prints what the head still holds (here nothing: 5 KB items do not fit
    # in the quarter of the threshold a head keeps), then the error.
    shown = cli(endpoint, paged, "show", BIG)
    assert shown.exit_code == 1
    assert "40 item(s), " in shown.stdout and "none is readable" in shown.stdout
    assert "turn-000" not in shown.stdout and "do not exist" in shown.stderr
    as_json = cli(endpoint, paged, "show", BIG, "--json")
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["head_only"] is True and body["conversation_data"] == []
    assert "do not exist" in body["error"]

    # Deleting is the way out.
    assert cli(endpoint, paged, "delete", BIG, "--yes").exit_code == 0
    assert cli(endpoint, paged, "export", "--all").exit_code == 0


def test_delete_removes_the_pages_and_list_hides_the_cleared_session(
    endpoint: str, paged: str
) -> None:
    declined = cli(endpoint, paged, "delete", BIG, input="n\n")
    assert declined.exit_code == 1
    assert "(40 item(s), " in declined.output
    result = cli(endpoint, paged, "delete", BIG, "--yes")
    assert result.exit_code == 0, result.output

    assert blocking(endpoint, lambda c: scan_pages(c, paged)) == []
    assert is_cleared(blocking(endpoint, lambda c: raw_get(c, paged, BIG)))
    listed = cli(endpoint, paged, "list", "--json")
    assert [row["session_id"] for row in json.loads(listed.stdout)["sessions"]] == [SMALL]
    human = cli(endpoint, paged, "list")
    assert "skipped 1 cleared (--include-expired shows them)" in human.stdout
    shown = cli(endpoint, paged, "list", "--json", "--include-expired")
    rows = {row["session_id"]: row for row in json.loads(shown.stdout)["sessions"]}
    assert rows[BIG]["item_count"] == 0 and rows[BIG]["pages"] == 0
    assert "cleared" in cli(endpoint, paged, "list", "--include-expired").stdout
    # show and export treat it as gone; export --all leaves it out.
    assert cli(endpoint, paged, "show", BIG).exit_code == 1
    exported = cli(endpoint, paged, "export", "--all")
    assert [json.loads(line)["session_id"] for line in exported.stdout.splitlines()] == [SMALL]


@pytest.fixture
async def expired_paged(client: Any, table: str) -> str:
    """`big` with a ttl an hour past: expired, not yet deleted by DynamoDB.

    The ttl is moved back by hand, so the pages keep their own (later) ttl, as
    they would have.
    """
    await write_paged(client, table, ttl_seconds=3600)
    await client.update_item(
        TableName=table,
        Key={"session_id": {"S": BIG}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "ttl"},
        ExpressionAttributeValues={":t": {"N": str(int(time.time()) - 3600)}},
    )
    return table


def test_an_expired_paged_session_exports_whole_and_is_not_imported(
    endpoint: str, expired_paged: str, other_table: str
) -> None:
    assert cli(endpoint, expired_paged, "export", "--all").stdout == ""
    exported = cli(endpoint, expired_paged, "export", "--all", "--include-expired")
    assert exported.exit_code == 0, exported.output
    record = json.loads(exported.stdout)
    assert record["conversation_data"] == HISTORY and record["ttl"] < time.time()

    imported = cli(endpoint, other_table, "import", "--json", input=exported.stdout)
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["skipped_expired"] == 1
    # --ttl-seconds gives it a fresh expiry instead.
    revived = cli(endpoint, other_table, "import", "--ttl-seconds", "600", input=exported.stdout)
    assert revived.exit_code == 0, revived.output
    assert history_of(endpoint, other_table, BIG) == HISTORY
    head = blocking(endpoint, lambda c: raw_get(c, other_table, BIG))
    assert head is not None and 0 < int(head["ttl"]["N"]) - time.time() <= 602


def test_import_reports_malformed_lines_and_goes_on(endpoint: str, table: str) -> None:
    lines = [
        "{not json",
        json.dumps({"session_id": "ok", "conversation_data": [{"role": "user", "content": "x"}]}),
        json.dumps({"session_id": "bad-items", "conversation_data": [1, 2]}),
        json.dumps({"conversation_data": []}),
        json.dumps({"session_id": "empty", "conversation_data": []}),
        "",
        json.dumps({"session_id": "__oas__#x", "conversation_data": [{"role": "user"}]}),
        json.dumps({"session_id": "t", "conversation_data": [{}], "ttl": "soon"}),
    ]
    result = cli(endpoint, table, "import", "--json", input="\n".join(lines) + "\n")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["imported"] == 1 and report["failed"] == 5 and report["skipped_empty"] == 1
    assert [e["line"] for e in report["errors"]] == [1, 3, 4, 7, 8]
    assert "reserved" in report["errors"][3]["error"]
    assert report["errors"][1]["session_id"] == "bad-items"
    assert history_of(endpoint, table, "ok") == [{"role": "user", "content": "x"}]
    missing = cli(endpoint, table, "import", "/nonexistent/sessions.jsonl")
    assert missing.exit_code == 2 and "Cannot read" in missing.output


async def put_orphan(client: Any, table: str, session_id: str, created_at: float) -> str:
    """A page part no head lists, as a crashed writer leaves it."""
    _, parts = encode_page(
        session_id,
        new_page_id(),
        [dumps_item({"role": "user", "content": "orphan"})],
        ttl=None,
        created_at=Decimal(int(created_at)),
    )
    for part in parts:
        await client.put_item(TableName=table, Item=part)
    return str(parts[0]["session_id"]["S"])


def test_gc_removes_only_old_unreferenced_pages(endpoint: str, paged: str) -> None:
    old = blocking(endpoint, lambda c: put_orphan(c, paged, SMALL, time.time() - 7200))
    blocking(endpoint, lambda c: put_orphan(c, paged, SMALL, time.time()))
    listed = len(blocking(endpoint, lambda c: scan_pages(c, paged, BIG)))

    dry = cli(endpoint, paged, "gc", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True and report["removed_keys"] == [old]
    assert report["removed"] == 1 and report["young"] == 1 and report["referenced"] == listed
    assert len(blocking(endpoint, lambda c: scan_pages(c, paged, SMALL))) == 2

    done = cli(endpoint, paged, "gc")
    assert done.exit_code == 0, done.output
    assert "Removed 1 unreferenced page part(s)" in done.stdout
    assert f"kept {listed} referenced and 1 younger than 3600s" in done.stdout
    assert len(blocking(endpoint, lambda c: scan_pages(c, paged, SMALL))) == 1
    assert history_of(endpoint, paged, BIG) == HISTORY

    # With no grace period, the young orphan goes too.
    now = cli(endpoint, paged, "gc", "--grace", "0", "--json")
    assert json.loads(now.stdout)["removed"] == 1
    assert blocking(endpoint, lambda c: scan_pages(c, paged, SMALL)) == []


async def test_load_history_reads_pages_only_for_paged_entries(client: Any, paged: str) -> None:
    small = await read_session(client, paged, SMALL)
    assert small is not None
    calls = count_calls(client)
    assert await load_history(client, paged, small) is small
    assert calls.total() == 0

    big = await read_session(client, paged, BIG)
    assert big is not None and big.record is not None
    assert big.item_count == 40 and len(big.record.conversation_data) < 40
    with pytest.raises(InvalidArgumentError, match="load_history"):
        big.export()
    full = await load_history(client, paged, big)
    assert full is not None and full.history_loaded and full.error is None
    assert full.item_count == 40 and full.pages == big.pages
    assert full.history_bytes == big.history_bytes and full.size == big.size
    assert full.export()["conversation_data"] == HISTORY


async def test_iter_sessions_page_check_and_cleared_counter(client: Any, paged: str) -> None:
    await delete_one_page(client, paged, BIG)
    await DynamoDBSession("gone", client, paged).add_items(SMALL_HISTORY)
    await DynamoDBSession("gone", client, paged).clear_session()

    stats = ScanStats()
    entries = {
        e.session_id: e async for e in iter_sessions(client, paged, check_pages=True, stats=stats)
    }
    assert set(entries) == {BIG, SMALL}
    assert entries[BIG].error is not None and entries[BIG].record is not None
    assert stats.cleared == 1 and stats.corrupt == 1 and stats.yielded == 2

    with_cleared = [e.session_id async for e in iter_sessions(client, paged, include_cleared=True)]
    assert sorted(with_cleared) == [BIG, "gone", SMALL]
    # A corrupt entry is never loaded: load_history hands it back.
    assert await load_history(client, paged, entries[BIG]) is entries[BIG]
    # Checking entries that are fine returns the very same objects.
    fine = [e async for e in iter_sessions(client, paged) if e.session_id == SMALL]
    assert (await verify_pages(client, paged, fine))[0] is fine[0]


def test_show_prints_the_head_items_when_a_page_is_lost(endpoint: str, paged: str) -> None:
    async def write(client: Any) -> None:
        session = DynamoDBSession("tail", client, paged, page_threshold=THRESHOLD)
        await session.add_items(HISTORY[:8])
        await session.add_items([{"role": "user", "content": f"short-{i}"} for i in range(3)])
        await delete_one_page(client, paged, "tail")

    blocking(endpoint, write)
    shown = cli(endpoint, paged, "show", "tail")
    assert shown.exit_code == 1
    assert "Only the newest 3 item(s)" in shown.stdout
    line = next(line for line in shown.stdout.splitlines() if "short-0" in line)
    assert line.split()[0] == "8"  # numbered in the whole history
    assert "short-2" in shown.stdout and "turn-000" not in shown.stdout


async def test_load_history_matches_get_items_after_trims_and_pops(client: Any, table: str) -> None:
    # max_items trims pages from the front (raising their start), pops shrink the
    # newest page's view (lowering its length): the views must be honoured.
    session = DynamoDBSession("trimmed", client, table, page_threshold=THRESHOLD, max_items=25)
    for start in range(0, len(HISTORY), 4):
        await session.add_items(HISTORY[start : start + 4])
    for _ in range(3):
        await session.pop_item()
    expected = await DynamoDBSession("trimmed", client, table).get_items()
    assert expected == HISTORY[15:37]

    entry = await read_session(client, table, "trimmed")
    assert entry is not None and entry.pages and entry.item_count == len(expected)
    full = await load_history(client, table, entry)
    assert full is not None and full.error is None
    assert full.record is not None and full.record.conversation_data == expected


def test_hostile_stored_json_is_reported_and_the_others_carry_on(endpoint: str) -> None:
    # NaN and JSON nested 5,000 deep used to abort `list` and `export --all` with a
    # traceback; now each is one corrupt entry and the good session still comes out.
    table = create_table_blocking(endpoint)
    good = [{"role": "user", "content": "fine"}]

    async def store(client: Any) -> None:
        await DynamoDBSession("good", client, table).add_items(good)
        for session_id, body in (
            ("deep", '[{"a":' + "[" * 5000 + "]" * 5000 + "}]"),
            ("nan", '[{"role":"user","content":NaN}]'),
        ):
            await client.put_item(
                TableName=table,
                Item={
                    "session_id": {"S": session_id},
                    "conversation_data": {"S": body},
                    "updated_at": {"N": "1700000000"},
                },
            )

    blocking(endpoint, store)
    listed = cli(endpoint, table, "list", "--json")
    rows = {row["session_id"]: row for row in json.loads(listed.stdout)["sessions"]}
    assert set(rows) == {"good", "deep", "nan"}
    assert rows["good"]["error"] is None
    assert "nested too deeply" in rows["deep"]["error"] and "NaN" in rows["nan"]["error"]
    exported = cli(endpoint, table, "export", "--all")
    lines = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    assert [line["session_id"] for line in lines] == ["good"]
    assert "Traceback" not in exported.output
