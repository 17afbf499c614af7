"""`openai-agents-session local`: a local DynamoDB on loopback until Ctrl-C.

A thin shell over `openai_agents_session.local`: start moto's server, prepare the
table, print how to point everything else at it, then wait for SIGINT/SIGTERM
and stop the server it started.
"""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType
from typing import Annotated

import typer
from rich.text import Text

from ..errors import SessionStoreError
from ..local import LocalDynamoDB, local_client, local_environment, prepare_table
from ..migrations import UpResult
from ._common import DEFAULT_TABLE, console, fail, run

__all__ = ["app"]

DEFAULT_PORT = 8000


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM takes the same clean way out as Ctrl-C, so the server is always stopped.
    raise KeyboardInterrupt


def _to_stderr(line: str) -> None:
    print(f"moto: {line}", file=sys.stderr, flush=True)


def local(
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one."
        ),
    ] = DEFAULT_PORT,
    table: Annotated[
        str, typer.Option("--table", help="Session table to migrate on the server.")
    ] = DEFAULT_TABLE,
    log: Annotated[
        bool,
        typer.Option(
            "--log", help="Show moto's server log (each request, and its errors) on stderr."
        ),
    ] = False,
) -> None:
    """Run a local DynamoDB (moto's server) on 127.0.0.1 until Ctrl-C.

    Migrates the session table on it (`migrate up`), then prints the endpoint
    and the environment variables that point the other commands (and botocore)
    at it.
    No AWS account or Docker needed; data lives in memory and is gone on exit.
    With --log, moto's own log (a line per request, tracebacks behind a 500)
    goes to stderr.
    """
    # Set SIGINT explicitly too: a shell script's background job inherits it ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = LocalDynamoDB(port, log=_to_stderr if log else None)
    try:
        url = server.start()

        async def prepare() -> UpResult:
            async with local_client(url) as client:
                return await prepare_table(client, table)

        migrated = run(prepare)
        console.print(
            Text.assemble(
                ("DynamoDB (moto) listening on ", "bold"),
                (url, "bold cyan"),
                (f", table {table} migrated", "bold"),
                (f" (at {migrated.head})", "dim"),
            ),
            soft_wrap=True,
        )
        console.print("Point the CLI and botocore at it:", style="dim")
        environment = local_environment(url, table)
        environment["AWS_ENDPOINT_URL_DYNAMODB"] = url
        for name, value in environment.items():
            console.print(f"export {name}={value}", markup=False, highlight=False, soft_wrap=True)
        console.print("Press Ctrl-C to stop.", style="dim")
        sys.stdout.flush()
        while server.running():
            time.sleep(0.5)
        fail(f"moto's server stopped unexpectedly (exit code {server.exit_code}).")
    except SessionStoreError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        console.print("Stopping…", style="dim")
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("Stopped.")


# One command; the root group (cli/__init__.py) imports this module to run it.
app = typer.Typer(add_completion=False)
app.command("local")(local)
