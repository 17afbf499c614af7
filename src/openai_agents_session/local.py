"""A local DynamoDB for development and demos: moto's server on loopback.

`LocalDynamoDB` runs moto (``openai_agents_session.moto_server``) as a child process bound to
127.0.0.1 (its own process, so it shares neither the caller's GIL nor its event
loop), waits until the port accepts connections, and stops the process it
started. `prepare_table` migrates the session table on it (``migrations.up``). The
``openai-agents-session local`` and ``demo`` commands are thin shells over both.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from . import moto_server
from ._extras import require
from .errors import SessionStoreError
from .migrations import Reporter, UpResult, up

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "LOCAL_CREDENTIALS",
    "LOCAL_REGION",
    "LocalDynamoDB",
    "LocalServerError",
    "local_client",
    "local_environment",
    "port_is_open",
    "prepare_table",
]

LOCAL_REGION = "us-east-1"
"""Region the local server is used with (moto accepts any)."""

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
"""Dummy credentials: moto checks none, but botocore refuses to sign without some."""


class LocalServerError(SessionStoreError):
    """The local DynamoDB server could not be started (port taken, crashed, too slow)."""


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on `host`:`port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _check_bindable(host: str, port: int) -> None:
    # Without this, polling could find another program on the port and mistake it for ours.
    with socket.socket() as sock:
        # As the server will (werkzeug sets it): a TIME_WAIT left by a previous run is
        # no conflict, while a listening socket still is.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LocalServerError(
                f"Port {port} on {host} is already in use ({exc.strerror}). Fix: pass "
                "another --port, or --port 0 to pick a free one."
            ) from exc


def local_environment(endpoint_url: str, table_name: str) -> dict[str, str]:
    """The environment variables that point the CLI and botocore at a local endpoint.

    Args:
        endpoint_url: The local server's URL.
        table_name: The session table on it.

    Returns:
        ``OAS_ENDPOINT_URL``, ``OAS_TABLE``, dummy AWS credentials and the region.
    """
    return {
        "OAS_ENDPOINT_URL": endpoint_url,
        "OAS_TABLE": table_name,
        **LOCAL_CREDENTIALS,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
    }


class LocalDynamoDB:
    """moto's DynamoDB server in a child process on loopback.

    Example:
        ```python
        with LocalDynamoDB(port=0) as server:
            print(server.url)  # http://127.0.0.1:<free port>
        ```

    Attributes:
        host: The address the server binds (loopback).
        port: The port; chosen when started if 0 was asked for.
    """

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 30.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        """Describe the server; nothing starts until `start()` or ``with``.

        Args:
            port: TCP port, or 0 for a free one.
            host: Address to bind. Keep it on loopback: moto checks no credentials.
            startup_timeout: Seconds to wait for the port to accept connections.
            log: Called with each line moto's server writes (one per request, and
                its tracebacks), from a background thread; None keeps them quiet.
        """
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=40)
        self._drain: threading.Thread | None = None
        self._exit_code: int | None = None
        self._log = log

    @property
    def url(self) -> str:
        """The endpoint URL, e.g. ``http://127.0.0.1:8000``."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the server process while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def exit_code(self) -> int | None:
        """Exit code of the last server process once it stopped; None before."""
        if self._process is not None:
            return self._process.poll()
        return self._exit_code

    def running(self) -> bool:
        """Whether the server process started by this object is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> str:
        require("moto", feature="The embedded local DynamoDB (moto's server)", extra="local")
        """Start the server and wait until it accepts connections.

        Returns:
            The endpoint URL.

        Raises:
            LocalServerError: The port is taken, or the server exited or did not
                listen within `startup_timeout` (its output is in the message).
        """
        if self._process is not None:
            raise LocalServerError(f"The local DynamoDB at {self.url} is already started.")
        if self.port == 0:
            self.port = _free_port(self.host)
        else:
            _check_bindable(self.host, self.port)
        env = {**os.environ, **LOCAL_CREDENTIALS}
        self._tail.clear()
        self._process = subprocess.Popen(
            moto_server.command(self.host, self.port),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        # moto logs every request: drain the pipe so it never fills up and blocks the
        # server, keeping only the last lines to explain a failed start.
        self._drain = threading.Thread(
            target=self._read_output, args=(self._process,), name="moto-output", daemon=True
        )
        self._drain.start()
        deadline = time.monotonic() + self.startup_timeout
        while not port_is_open(self.host, self.port):
            if self._process.poll() is not None:
                self.stop()
                raise LocalServerError(
                    f"moto's server exited with code {self._exit_code} before listening on "
                    f"{self.url}. Its output:\n{self._output()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LocalServerError(
                    f"moto's server did not listen on {self.url} within "
                    f"{self.startup_timeout:g}s. Fix: retry, or pass a longer timeout."
                )
            time.sleep(0.05)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server this object started (terminate, then kill past `timeout`).

        Idempotent; does nothing if the server was never started.
        """
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self._exit_code = process.returncode
        drain, self._drain = self._drain, None
        if drain is not None:
            drain.join(timeout=timeout)

    def _read_output(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                text = line.decode("utf-8", "replace").rstrip()
                self._tail.append(text)
                if self._log is not None:
                    self._log(text)

    def _output(self) -> str:
        return "\n".join(self._tail)

    def __enter__(self) -> LocalDynamoDB:
        """Start the server; see `start()`."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server; see `stop()`."""
        self.stop()


@asynccontextmanager
async def local_client(endpoint_url: str) -> AsyncIterator[DynamoDBClient]:
    """An aiobotocore DynamoDB client for a local endpoint, with the dummy credentials.

    Args:
        endpoint_url: The local server's URL.
    """
    import aioboto3

    session = aioboto3.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=LOCAL_REGION,
    )
    async with session.client("dynamodb", endpoint_url=endpoint_url) as client:
        yield client


async def prepare_table(
    client: DynamoDBClient, table_name: str, *, reporter: Reporter | None = None
) -> UpResult:
    """Make the session table ready on an endpoint: ``migrations.up`` to the head.

    Creates the table from the schema if needed (or adopts one that matches it),
    then applies the pending migrations, e.g. TTL on ``ttl``. A second call is a
    no-op.

    Args:
        client: An aiobotocore DynamoDB client on the endpoint.
        table_name: The session table.
        reporter: Receives the migration runner's messages (logging by default).

    Returns:
        What the migration run created, adopted and applied.
    """
    return await up(client, table_name, reporter=reporter)
