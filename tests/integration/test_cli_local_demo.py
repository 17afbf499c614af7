"""`openai-agents-session local` and `demo`, the help texts, and `LocalDynamoDB`.

`demo` runs through CliRunner against the test endpoint; each of `local` and `demo`
also runs once as a real subprocess of the installed console script.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from openai_agents_session.cli import app
from openai_agents_session.local import LocalDynamoDB, LocalServerError, port_is_open
from tests.support.endpoints import free_port

SCRIPT = Path(sys.executable).parent / "openai-agents-session"
VERBS = [
    ["local"],
    ["demo"],
    ["sessions"],
    ["sessions", "list"],
    ["sessions", "show"],
    ["sessions", "export"],
    ["sessions", "delete"],
]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would redirect the CLI or enable a real model."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OAS_") and k not in ("OPENAI_API_KEY", "AWS_ENDPOINT_URL_DYNAMODB")
    }
    env.update(extra)
    return env


def test_help_lists_every_command_and_each_verb_documents_itself() -> None:
    runner = CliRunner()
    root = runner.invoke(app, ["--help"])
    assert root.exit_code == 0
    for command in ("local", "demo", "sessions", "migrate"):
        assert re.search(rf"^\W*{command}\s+\w", root.output, re.MULTILINE), root.output
    for verb in VERBS:
        result = runner.invoke(app, [*verb, "--help"], terminal_width=100)
        assert result.exit_code == 0, (verb, result.output)
        assert "Usage:" in result.output
        # Every verb has a one-line summary, not an empty or placeholder help.
        assert "to be built" not in result.output
    sessions_list = runner.invoke(app, ["sessions", "list", "--help"], terminal_width=100)
    for option in ("--limit", "--include-expired", "--table", "--endpoint-url", "--json"):
        assert option in sessions_list.output


def demo_cli(endpoint: str, table: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(
        app, ["demo", "--endpoint-url", endpoint, "--table", table, *args], env=env
    )


def test_demo_json_reports_calls_per_turn_and_read_back(
    endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = demo_cli(endpoint, table, "--session-id", "demo-json", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["scripted"] is True and "scripted model" in report["notice"]
    assert report["embedded"] is False and report["endpoint"] == endpoint
    turns = report["turns"]
    assert [t["dynamodb_calls"] for t in turns] == [
        {"GetItem": 1, "PutItem": 3},  # the Runner saved input, tool step, answer
        {"GetItem": 1, "PutItem": 2},
        {"GetItem": 1, "PutItem": 2},
    ]
    assert [t["session_operations"] for t in turns][1] == ["get_items", "add_items", "add_items"]
    assert [t["stored_items"] for t in turns] == [4, 6, 8]
    assert turns[2]["fresh_session_object"] is True
    assert turns[0]["output"].startswith("According to get_weather:")
    assert "in Paris" in turns[0]["output"]
    assert turns[1]["output"].startswith("I have seen 5 items")
    assert turns[2]["output"].startswith("I have seen 7 items")
    kinds = [item.get("type", "message") for item in report["history"]]
    assert kinds[:4] == ["message", "function_call", "function_call_output", "message"]
    assert report["read_back"] == {"items": 8, "identical": True}

    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    stored = dynamodb.get_item(TableName=table, Key={"session_id": {"S": "demo-json"}})["Item"]
    assert json.loads(stored["conversation_data"]["S"]) == report["history"]

    # A rerun on the same id refuses rather than appending to (or deleting) a conversation.
    again = demo_cli(endpoint, table, "--session-id", "demo-json", "--json")
    assert again.exit_code == 2  # usage: pick another --session-id
    assert "already holds 8 items" in json.loads(again.stdout)["error"]
    after = dynamodb.get_item(TableName=table, Key={"session_id": {"S": "demo-json"}})["Item"]
    assert after == stored


def test_demo_human_output_and_scripted_flag_with_an_api_key(endpoint: str, table: str) -> None:
    # --scripted wins over a key (which is never used, so a fake one is safe).
    result = demo_cli(endpoint, table, "--scripted", env={"OPENAI_API_KEY": "sk-not-used"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "scripted model" in out
    assert "Turn 1" in out and "Turn 3" in out
    assert "get_weather" in out and "tool output" in out
    assert "DynamoDB: 4 calls (GetItem 1, PutItem 3)" in out
    assert out.count("DynamoDB: 3 calls (GetItem 1, PutItem 2)") == 2
    assert "identical" in out
    assert "DynamoDB calls per turn" in out


def test_local_dynamodb_starts_and_stops_its_server() -> None:
    server = LocalDynamoDB(0)
    with server:
        assert server.running() and port_is_open(server.host, server.port)
        pid = server.pid
        assert pid is not None
        assert server.url == f"http://127.0.0.1:{server.port}"
    assert not server.running()
    assert not port_is_open("127.0.0.1", server.port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_local_dynamodb_refuses_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalDynamoDB(port)
        with pytest.raises(LocalServerError, match=f"Port {port} .* already in use"):
            server.start()
        assert server.pid is None


class LineReader:
    """Reads a process's stdout on a thread so the test can wait with a deadline."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s: {self.seen}")


def test_local_subprocess_serves_other_commands_and_stops_on_sigint() -> None:
    port = free_port()
    table = f"local-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [str(SCRIPT), "local", "--port", str(port), "--table", table],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(COLUMNS="200"),
    )
    try:
        reader = LineReader(process.stdout)
        url = reader.wait_for(r"export OAS_ENDPOINT_URL=(\S+)", timeout=30).group(1)
        assert url == f"http://127.0.0.1:{port}"
        reader.wait_for(r"Ctrl-C", timeout=10)
        assert any(f"table {table} migrated" in line for line in reader.seen), reader.seen
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        assert dynamodb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE"
        ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "ttl"

        # The other commands work against it.
        runner = CliRunner()
        demo = runner.invoke(app, ["demo", "--endpoint-url", url, "--table", table, "--json"])
        assert demo.exit_code == 0, demo.output
        session_id = json.loads(demo.stdout)["session_id"]
        listed = runner.invoke(
            app, ["sessions", "list", "--json"], env={"OAS_ENDPOINT_URL": url, "OAS_TABLE": table}
        )
        assert listed.exit_code == 0, listed.output
        assert [row["session_id"] for row in json.loads(listed.stdout)["sessions"]] == [session_id]

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        reader.wait_for(r"^Stopped\.", timeout=5)
        assert not port_is_open("127.0.0.1", port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_demo_subprocess_without_api_key_uses_the_scripted_model() -> None:
    completed = subprocess.run(
        [str(SCRIPT), "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(COLUMNS="120"),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    out = completed.stdout
    assert "No OPENAI_API_KEY: using the scripted model" in out
    assert "DynamoDB: 4 calls (GetItem 1, PutItem 3)" in out
    assert out.count("DynamoDB: 3 calls (GetItem 1, PutItem 2)") == 2
    assert "identical" in out
    # The embedded server it started is gone.
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    assert not port_is_open("127.0.0.1", port)
