"""What every CLI verb shares: the target table options, the client, output and exit codes.

Verbs stay thin: they parse options into a `Target`, call one library function
and print its result, as Rich text on a terminal or JSON with ``--json``.
Library errors print as one line with their fix, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.segment import Segment
from rich.text import Text

from ..errors import SessionStoreError

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "DEFAULT_TABLE",
    "EndpointOption",
    "ExitCode",
    "JsonOption",
    "ProfileOption",
    "RegionOption",
    "TableOption",
    "Target",
    "console",
    "err_console",
    "fail",
    "labelled",
    "open_client",
    "plain",
    "print_json",
    "run",
]

T = TypeVar("T")

DEFAULT_TABLE = "agent_sessions"

# C0 controls but newline and tab, DEL, and C1 controls (ESC is 0x1b, CSI 0x9b).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def plain(text: str) -> str:
    """`text` with every control character shown as ``\\xNN``: stored text cannot
    move the cursor, clear the screen, set the clipboard (OSC 52) or plant links (OSC 8)."""
    return _CONTROL.sub(_visible, text)


class _SafeConsole(Console):
    """A Rich console for text that may come from a table: markup off, controls shown.

    Rich's own styling is applied after rendering, so cleaning the rendered text
    keeps colours while no stored character reaches the terminal as a control.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(markup=False, **options)

    def render(self, renderable: Any, options: Any = None) -> Iterator[Segment]:
        """Render as Rich does, then show any control character in the text."""
        for segment in super().render(renderable, options):
            if segment.control or not _CONTROL.search(segment.text):
                yield segment
            else:
                yield Segment(plain(segment.text), segment.style)


def labelled(label: str, style: str, message: str) -> Text:
    """``label: message`` with the label styled and the message printed as written."""
    return Text.assemble((f"{label}:", style), " ", message)


console = _SafeConsole()
err_console = _SafeConsole(stderr=True)


class ExitCode(IntEnum):
    """The CLI's documented exit codes."""

    OK = 0
    ERROR = 1
    USAGE = 2
    PENDING = 3
    DRIFT = 4
    LOCK_BUSY = 5
    DIRTY_LEDGER = 6


TableOption = Annotated[
    str, typer.Option("--table", envvar="OAS_TABLE", help="DynamoDB table name.")
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        envvar=["OAS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
        help="AWS region (default: the AWS configuration chain: environment, profile).",
        show_default=False,
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="OAS_ENDPOINT_URL",
        help="DynamoDB endpoint, e.g. the one `openai-agents-session local` prints.",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option("--profile", envvar=["OAS_PROFILE", "AWS_PROFILE"], help="AWS profile."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@dataclass(frozen=True)
class Target:
    """Which table on which endpoint a verb acts on."""

    table: str = DEFAULT_TABLE
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None


@asynccontextmanager
async def open_client(
    target: Target, *, warn_global: bool = False
) -> AsyncIterator[DynamoDBClient]:
    """Open an aiobotocore DynamoDB client for `target`; closed on exit.

    With `warn_global`, a table replicated to other regions (a global table) is
    reported on stderr first: locking holds per region only.
    """
    import aioboto3

    from ..boundary import aws_errors

    with aws_errors("opening the client", table_name=target.table, client_setup=True):
        session = aioboto3.Session(profile_name=target.profile, region_name=target.region)
        context = session.client("dynamodb", endpoint_url=target.endpoint_url)
        client = await context.__aenter__()
    try:
        if warn_global:
            from ..tables import global_table_warning

            warning = await global_table_warning(client, target.table)
            if warning:
                err_console.print(labelled("warning", "yellow", warning), soft_wrap=True)
        yield client
    finally:
        await context.__aexit__(None, None, None)


def print_json(value: Any) -> None:
    """Print `value` as JSON on stdout (plain, so it pipes cleanly)."""
    sys.stdout.write(json.dumps(value, default=str, indent=2) + "\n")


def fail(message: str, code: ExitCode = ExitCode.ERROR, *, as_json: bool = False) -> NoReturn:
    """Print one error line (or a JSON error object) and exit with `code`."""
    if as_json:
        print_json({"error": message, "exit_code": int(code)})
    else:
        err_console.print(labelled("error", "bold red", message), highlight=False, soft_wrap=True)
    raise typer.Exit(int(code))


def run(
    coroutine_fn: Callable[[], Coroutine[Any, Any, T]],
    *,
    as_json: bool = False,
    codes: dict[type[BaseException], ExitCode] | None = None,
) -> T:
    """Run a verb's coroutine; library errors become one line and an exit code."""
    try:
        return asyncio.run(coroutine_fn())
    except SessionStoreError as exc:
        code = ExitCode.ERROR
        for cls, mapped in (codes or {}).items():
            if isinstance(exc, cls):
                code = mapped
                break
        fail(str(exc), code, as_json=as_json)
