"""`openai-agents-session local --log`: moto's server log, so a 500 can be diagnosed."""

from __future__ import annotations

import signal
import subprocess
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.test_cli_local_demo import SCRIPT, LineReader, clean_env
from tests.support.endpoints import free_port


@pytest.mark.parametrize("log", [True, False])
def test_local_log_shows_moto_requests_on_stderr(log: bool) -> None:
    port = free_port()
    table = f"local-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [str(SCRIPT), "local", "--port", str(port), "--table", table, *(["--log"] if log else [])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(COLUMNS="200"),
    )
    try:
        reader = LineReader(process.stderr)
        LineReader(process.stdout).wait_for(r"Ctrl-C", timeout=60)
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        if log:
            # Today: hidden. Each request moto served, with its status, is on stderr.
            reader.wait_for(r"^moto: .*\"POST / HTTP/1\.[01]\" 200", timeout=30)
            with pytest.raises(ClientError):
                dynamodb.describe_table(TableName="no-such-table")
            reader.wait_for(r"^moto: .*\"POST / HTTP/1\.[01]\" 400", timeout=10)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        if not log:
            assert process.stderr is not None
            assert "moto:" not in "".join(reader.seen) + process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
