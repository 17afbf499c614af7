"""`sessions import` goes on past bad lines; `sessions list` has one shape in both modes.

Through Typer's CliRunner, against a real endpoint (moto or dynalite).
"""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openai_agents_session import DynamoDBSession
from openai_agents_session.cli import app
from tests.support.sessions import raw_get


def cli(endpoint: str, table: str, *args: str, input: str | bytes | None = None) -> Any:
    return CliRunner().invoke(
        app, ["sessions", *args, "--endpoint-url", endpoint, "--table", table], input=input
    )


def line(session_id: str, text: str = "hi", **extra: Any) -> bytes:
    record = {"session_id": session_id, "conversation_data": [{"role": "user", "content": text}]}
    return (json.dumps({**record, **extra}) + "\n").encode()


def bad_file(tmp_path: Path) -> Path:
    """Line 1 good, 2 not UTF-8, 3 not JSON, 4 a ttl that overflows DynamoDB, 5 good,
    6 blank, 7 an empty session, 8 an id too long to store."""
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        line("first")
        + b'{"session_id": "latin", "conversation_data": [{"content": "caf\xe9"}]}\n'
        + b"{not json\n"
        + line("huge-ttl", ttl=1e300)
        + line("second")
        + b"\n"
        + b'{"session_id": "empty", "conversation_data": []}\n'
        + line("x" * 3000)
    )
    return path


def test_import_reports_each_bad_line_and_goes_on(
    endpoint: str, table: str, tmp_path: Path
) -> None:
    result = cli(endpoint, table, "import", str(bad_file(tmp_path)), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["lines"], report["imported"], report["skipped"], report["failed"]) == (
        7, 2, 1, 4,
    )  # fmt: skip
    assert report["skipped_empty"] == 1 and report["stopped"] is None
    errors = {e["line"]: e["error"] for e in report["errors"]}
    assert sorted(errors) == [2, 3, 4, 8]
    assert "not UTF-8: byte 0xe9" in errors[2]
    assert "not valid JSON" in errors[3]
    assert "year 9999" in errors[4] and "--ttl-seconds" in errors[4]
    assert "bytes" in errors[8] and table in errors[8]
    assert "caf" not in result.stdout  # no stored or offered content in errors
    for sid in ("first", "second"):
        assert (await_head := raw_get_sync(endpoint, table, sid)) is not None, await_head
    assert raw_get_sync(endpoint, table, "huge-ttl") is None

    text = cli(endpoint, "x" + table[1:], "import", str(bad_file(tmp_path)))
    assert text.exit_code == 1  # the table is missing: stopped, and said so
    assert "stopped at line 1" in text.stderr


def test_import_text_summary_counts_lines_and_stdin_is_read_as_bytes(
    endpoint: str, table: str, tmp_path: Path
) -> None:
    result = cli(endpoint, table, "import", input=bad_file(tmp_path).read_bytes())
    assert result.exit_code == 1, result.output
    assert "line 2: not an exported session: not UTF-8" in result.stderr
    assert "line 4:" in result.stderr and "Number overflow" not in result.output
    assert "Imported 2 session(s)" in result.stdout and "from 7 line(s)" in result.stdout
    assert "skipped 1 empty" in result.stdout and "4 failed" in result.stdout
    assert "Traceback" not in result.output

    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(line("third") + line("fourth"))
    ok = cli(endpoint, table, "import", str(clean), "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["imported"] == 2


def test_import_stopped_by_a_missing_table_keeps_its_counts_in_json(
    endpoint: str, tmp_path: Path
) -> None:
    result = cli(endpoint, "no-such-table", "import", str(bad_file(tmp_path)), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["stopped"].startswith("line 1:") and "no-such-table" in report["stopped"]
    assert report["lines"] == 1 and report["failed"] == 1


def raw_get_sync(endpoint: str, table: str, session_id: str) -> Any:
    import asyncio

    from tests.support.sessions import client_maker

    async def read() -> Any:
        async with client_maker(endpoint) as make:
            return await raw_get(await make(), table, session_id)

    return asyncio.run(read())


# ------------------------------------------------------------------ list


@pytest.fixture
async def chats(client: Any, table: str) -> str:
    """Two chats of ada (one pinned), one of bo."""
    pinned = DynamoDBSession("a-1", client, table, owner="ada", title="Trip", ttl_seconds=3600,
                             metadata={"pinned": True})  # fmt: skip
    await pinned.add_items([{"role": "user", "content": "plan a trip " + "x" * 500}])
    await DynamoDBSession("a-2", client, table, owner="ada").add_items([{"role": "user"}])
    await DynamoDBSession("b-1", client, table, owner="bo").add_items([{"role": "user"}])
    return table


KEYS = {
    "session_id", "owner", "title", "metadata", "item_count", "size", "pages", "head_size",
    "created_at", "updated_at", "expires_at", "expired", "error",
}  # fmt: skip


def test_scan_and_owner_listings_print_one_json_shape(endpoint: str, chats: str) -> None:
    scan = cli(endpoint, chats, "list", "--json")
    owned = cli(endpoint, chats, "list", "--owner", "ada", "--json")
    assert scan.exit_code == 0 and owned.exit_code == 0, scan.output + owned.output
    by_scan, by_owner = json.loads(scan.stdout), json.loads(owned.stdout)
    assert set(by_scan) == set(by_owner) == {"sessions", "cursor"}
    assert by_scan["cursor"] is None and by_owner["cursor"] is None
    scan_rows = {r["session_id"]: r for r in by_scan["sessions"]}
    owner_rows = {r["session_id"]: r for r in by_owner["sessions"]}
    assert set(owner_rows) == {"a-1", "a-2"} and set(scan_rows) == {"a-1", "a-2", "b-1"}
    for sid, row in owner_rows.items():
        other = scan_rows[sid]
        assert set(row) == set(other) == KEYS
        for key in ("owner", "title", "metadata", "item_count", "size", "created_at",
                    "updated_at", "expires_at"):  # fmt: skip
            assert row[key] == other[key], (sid, key)
    a1 = owner_rows["a-1"]
    assert a1["metadata"] == {"pinned": True} and a1["item_count"] == 1
    assert a1["size"] > 500  # history bytes in both modes, not the head item's size
    assert scan_rows["a-1"]["head_size"] > a1["size"]
    for key in ("created_at", "updated_at", "expires_at"):
        assert datetime.fromisoformat(a1[key]).utcoffset() is not None
    assert owner_rows["a-2"]["title"] is None and owner_rows["a-2"]["metadata"] is None


def test_an_empty_listing_is_the_same_object_in_both_modes(endpoint: str, table: str) -> None:
    for args in (["list", "--json"], ["list", "--owner", "nobody", "--json"]):
        result = cli(endpoint, table, *args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"sessions": [], "cursor": None}


def test_piped_listings_are_not_padded(endpoint: str, chats: str) -> None:
    for args in (["list"], ["list", "--owner", "ada"], ["show", "a-1"]):
        result = cli(endpoint, chats, *args)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines and not [x for x in lines if x != x.rstrip()], args
        if args[0] == "list":  # no stored text as long as the show's message
            assert max(len(x) for x in lines) < 200, (args, max(map(len, lines)))
    table = cli(endpoint, chats, "list").stdout.splitlines()
    header = next(x for x in table if x.startswith("SESSION"))
    assert "ITEMS" in header and header.index("ITEMS") < 40


def test_cursor_without_owner_is_a_usage_error(endpoint: str, chats: str) -> None:
    result = cli(endpoint, chats, "list", "--cursor", "abc")
    assert result.exit_code == 2
    assert "--cursor" in result.stderr and "--owner" in result.stderr
    as_json = cli(endpoint, chats, "list", "--cursor", "abc", "--json")
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["exit_code"] == 2
    for flag in (["--include-expired"], ["--page-size", "5"]):
        ignored = cli(endpoint, chats, "list", "--owner", "ada", *flag)
        assert ignored.exit_code == 2 and flag[0] in ignored.stderr
    forged = cli(endpoint, chats, "list", "--owner", "ada", "--cursor", "abc")
    assert forged.exit_code == 2 and "cursor" in forged.stderr and "Traceback" not in forged.output


def test_import_against_an_unreachable_endpoint_stops_with_exit_11_and_its_counts(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(
        app,
        ["sessions", "import", str(bad_file(tmp_path)), "--json", "--endpoint-url",
         f"http://127.0.0.1:{port}", "--table", "t-unreachable", "--connect-timeout", "0.5"],
    )  # fmt: skip
    assert result.exit_code == 11, result.output
    report = json.loads(result.stdout)
    assert report["lines"] == 1 and report["failed"] == 1 and report["imported"] == 0
    assert report["stopped"].startswith("line 1:")
