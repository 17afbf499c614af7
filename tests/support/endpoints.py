"""Start a real DynamoDB implementation on loopback: moto's server or dynalite.

Both run as child processes so that the server does not share the test's GIL
and event loop; each is stopped by the PID we started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openai_agents_session import moto_server

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"endpoint process exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def dynalite_command(port: int) -> list[str]:
    script = ROOT / "node_modules" / "dynalite" / "cli.js"
    if not script.exists():
        raise RuntimeError("dynalite is not installed: run `npm install` in the project root")
    node = shutil.which("node") or "node"
    # Tables stay CREATING (and UPDATING, DELETING) for 20 ms instead of 500: the state
    # is still there to wait for, without half a second per test's table.
    timings = ["--createTableMs", "20", "--deleteTableMs", "20", "--updateTableMs", "20"]
    return [node, str(script), "--port", str(port), "--host", "127.0.0.1", *timings]


def moto_command(port: int) -> list[str]:
    return moto_server.command("127.0.0.1", port)


@contextmanager
def running_endpoint(kind: str) -> Iterator[str]:
    """Yield the URL of a fresh endpoint of `kind` ("moto" or "dynalite")."""
    port = free_port()
    command = dynalite_command(port) if kind == "dynalite" else moto_command(port)
    with running_process(command, port) as process:
        del process
        yield f"http://127.0.0.1:{port}"


@contextmanager
def running_moto(*extra_args: str) -> Iterator[tuple[str, int]]:
    """Yield the URL and PID of a fresh moto server started with `extra_args`."""
    port = free_port()
    with running_process([*moto_command(port), *extra_args], port) as process:
        yield f"http://127.0.0.1:{port}", process.pid


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid`, read from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@contextmanager
def running_process(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` until the block ends, once something listens on `port`."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        wait_listening(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def create_plain_table(client: Any, name: str) -> None:
    """Create `name` keyed on one string attribute ``pk`` (not the library's schema)."""
    await client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    await client.get_waiter("table_exists").wait(TableName=name)
