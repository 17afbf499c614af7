"""What every CLI verb shares: the target table options, the client, output and exit codes.

Verbs stay thin: they parse options into a `Target`, call one library function
and print its result, as Rich text on a terminal or JSON with ``--json``.
Library errors print as one line with their fix, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.segment import Segment
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

from ..errors import (
    AccessDeniedError,
    DynamoDBUnavailableError,
    InvalidArgumentError,
    SessionStoreError,
    TableNotFoundError,
    ThrottledError,
)

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = [
    "DEFAULT_TABLE",
    "EXIT_CODES_HELP",
    "EndpointOption",
    "ExitCode",
    "JsonOption",
    "ProfileOption",
    "ReadableCommand",
    "ReadableGroup",
    "RegionOption",
    "TableOption",
    "Target",
    "console",
    "err_console",
    "exit_code_for",
    "fail",
    "labelled",
    "open_client",
    "plain",
    "print_json",
    "run",
    "story_console",
    "target_command",
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

    def __init__(self, *, wide: bool = True, **options: Any) -> None:
        super().__init__(markup=False, **options)
        self._trim = False
        if wide and not self.is_terminal and "COLUMNS" not in os.environ:
            # CI logs: never cut a checksum or a problem line at 80 columns. Rich
            # pads lines to the width, so the padding is trimmed (see render).
            self.width = 1000
            self._trim = True

    def render(self, renderable: Any, options: Any = None) -> Iterator[Segment]:
        """Render as Rich does, then show any control character in the text."""
        segments = super().render(renderable, options)
        for segment in _trimmed(segments) if self._trim else segments:
            if segment.control or not _CONTROL.search(segment.text):
                yield segment
            else:
                yield Segment(plain(segment.text), segment.style)


def _trimmed(segments: Iterable[Segment]) -> Iterator[Segment]:
    """`segments` with the spaces that end each line dropped (Rich pads to the width)."""
    line: list[Segment] = []
    for segment in segments:
        if segment.control:
            line.append(segment)
            continue
        for index, part in enumerate(segment.text.split("\n")):
            if index:
                yield from _rstrip(line)
                yield Segment.line()
                line = []
            if part:
                line.append(Segment(part, segment.style))
    yield from _rstrip(line)


def _rstrip(line: list[Segment]) -> list[Segment]:
    while line and not line[-1].control and not line[-1].text.rstrip(" "):
        line.pop()
    if line and not line[-1].control:
        last = line[-1]
        line[-1] = Segment(last.text.rstrip(" "), last.style)
    return line


def labelled(label: str, style: str, message: str) -> Text:
    """``label: message`` with the label styled and the message printed as written."""
    return Text.assemble((f"{label}:", style), " ", message)


console = _SafeConsole()
err_console = _SafeConsole(stderr=True)
story_console = _SafeConsole(wide=False)
"""For narrative output (the demo's panels and rules), which would fill a 1000-column
line when piped: it keeps Rich's own width (80 columns without a terminal)."""


class ExitCode(IntEnum):
    """The CLI's documented exit codes (listed in every ``--help`` and in the docs)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    PENDING = 3
    DRIFT = 4
    LOCK_BUSY = 5
    DIRTY_LEDGER = 6
    INTERRUPTED = 7
    LEASE_LOST = 8
    MIGRATION_FAILED = 9
    BAD_MIGRATIONS = 10
    AWS = 11


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 other error; 2 usage (bad option, unknown revision, stamp "
    "needs --force); 3 migrations pending (status --check); 4 drift; 5 lock busy; "
    "6 dirty ledger; 7 interrupted, resumable; 8 lease lost; 9 a migration failed; "
    "10 bad migration files; 11 AWS unreachable, denied or throttled."
)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The documented exit code of a library error."""
    from ..migrations import errors as m

    table: tuple[tuple[type[BaseException], ExitCode], ...] = (
        (m.UnknownRevisionError, ExitCode.USAGE),
        (m.StampRefusedError, ExitCode.USAGE),
        (InvalidArgumentError, ExitCode.USAGE),
        (m.DriftError, ExitCode.DRIFT),
        (m.LockBusyError, ExitCode.LOCK_BUSY),
        (m.DirtyLedgerError, ExitCode.DIRTY_LEDGER),
        (m.MigrationInterruptedError, ExitCode.INTERRUPTED),
        (m.LeaseLostError, ExitCode.LEASE_LOST),
        (m.MigrationFailedError, ExitCode.MIGRATION_FAILED),
        (m.IrreversibleMigrationError, ExitCode.MIGRATION_FAILED),
        (m.RevisionGraphError, ExitCode.BAD_MIGRATIONS),
        (DynamoDBUnavailableError, ExitCode.AWS),
        (AccessDeniedError, ExitCode.AWS),
        (ThrottledError, ExitCode.AWS),
        (TableNotFoundError, ExitCode.ERROR),
    )
    for cls, code in table:
        if isinstance(exc, cls):
            return code
    return ExitCode.ERROR


class ReadableCommand(TyperCommand):
    """A command whose help shows flags bare and option values by name, not ``<bool>``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        if self.epilog is None:
            self.epilog = EXIT_CODES_HELP

    def get_help_option(self, ctx: Any) -> Any:
        """``--help`` shown bare, like every other flag."""
        return bare_help(super().get_help_option(ctx))


class ReadableGroup(TyperGroup):
    """A command group whose ``--help`` flag is shown bare."""

    def get_help_option(self, ctx: Any) -> Any:
        """``--help`` shown bare, like every other flag."""
        return bare_help(super().get_help_option(ctx))


def bare_help(option: Any) -> Any:
    """The help option without a value type (Typer shows flags as ``<bool>``)."""
    if option is not None and option.metavar is None:
        option.metavar = ""
    return option


TableOption = Annotated[
    str,
    typer.Option("--table", envvar="OAS_TABLE", metavar="TABLE", help="DynamoDB table name."),
]
RegionOption = Annotated[
    str | None,
    typer.Option(
        "--region",
        envvar=["OAS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"],
        metavar="REGION",
        help="AWS region (default: the AWS configuration chain: environment, profile).",
        show_default=False,
    ),
]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="OAS_ENDPOINT_URL",
        metavar="URL",
        help="DynamoDB endpoint, e.g. the one `openai-agents-session local` prints.",
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", envvar=["OAS_PROFILE", "AWS_PROFILE"], metavar="PROFILE", help="AWS profile."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (errors too).")
]
ConnectTimeoutOption = Annotated[
    float,
    typer.Option(
        "--connect-timeout",
        envvar="OAS_CONNECT_TIMEOUT",
        min=0.1,
        metavar="SECONDS",
        help="Seconds to wait for a connection (an unreachable endpoint fails after 3 tries).",
    ),
]
ReadTimeoutOption = Annotated[
    float,
    typer.Option(
        "--read-timeout",
        envvar="OAS_READ_TIMEOUT",
        min=0.1,
        metavar="SECONDS",
        help="Seconds to wait for a response.",
    ),
]


@dataclass(frozen=True)
class Target:
    """Which table on which endpoint a verb acts on, and how patiently."""

    table: str = DEFAULT_TABLE
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0


_TARGET_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("table", TableOption, DEFAULT_TABLE),
    ("region", RegionOption, None),
    ("endpoint_url", EndpointOption, None),
    ("profile", ProfileOption, None),
    ("connect_timeout", ConnectTimeoutOption, 5.0),
    ("read_timeout", ReadTimeoutOption, 60.0),
)


def target_command(app: typer.Typer, name: str | None = None) -> Callable[[Any], Any]:
    """Register a verb that takes ``target: Target``: the target options are declared once.

    The verb's own parameters follow the shared ``--table``, ``--region``,
    ``--endpoint-url``, ``--profile``, ``--connect-timeout`` and ``--read-timeout``.
    """

    def decorate(fn: Callable[..., Any]) -> Any:
        own = inspect.signature(fn, eval_str=True)
        rest = [p for p in own.parameters.values() if p.name != "target"]
        shared = [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
            for n, a, d in _TARGET_OPTIONS
        ]
        params = [*shared, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in rest)]

        @functools.wraps(fn)
        def verb(**values: Any) -> Any:
            target = Target(**{n: values.pop(n) for n, _, _ in _TARGET_OPTIONS})
            return fn(target=target, **values)

        verb.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
        verb.__annotations__ = {p.name: p.annotation for p in params}
        del verb.__wrapped__  # Typer must read the new signature, not fn's
        return app.command(name, cls=ReadableCommand)(verb)

    return decorate


@asynccontextmanager
async def open_client(
    target: Target, *, warn_global: bool = False
) -> AsyncIterator[DynamoDBClient]:
    """Open an aiobotocore DynamoDB client for `target`; closed on exit.

    With `warn_global`, a table replicated to other regions (a global table) is
    reported on stderr first: locking holds per region only.
    """
    import aioboto3
    from aiobotocore.config import AioConfig  # type: ignore[import-untyped]

    from ..boundary import aws_errors

    config = AioConfig(
        connect_timeout=target.connect_timeout,
        read_timeout=target.read_timeout,
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    with aws_errors("opening the client", table_name=target.table, client_setup=True):
        session = aioboto3.Session(profile_name=target.profile, region_name=target.region)
        context = session.client("dynamodb", endpoint_url=target.endpoint_url, config=config)
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
    """Run a verb's coroutine; library errors become one line and their exit code."""
    try:
        return asyncio.run(coroutine_fn())
    except SessionStoreError as exc:
        code = exit_code_for(exc)
        for cls, mapped in (codes or {}).items():
            if isinstance(exc, cls):
                code = mapped
                break
        fail(str(exc), code, as_json=as_json)
