"""`openai-agents-session demo`: a real agent conversation stored in DynamoDB, measured.

Starts the embedded local DynamoDB (unless given an endpoint), prepares the
table, runs `openai_agents_session.demo.run_demo` and prints what each turn
stored and cost. Without ``OPENAI_API_KEY`` the agent runs on the SDK's
`agents.testing.ScriptedModel`, scripted for the demo's turns
(`openai_agents_session.demo.scripted_demo_model`), and the output says so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlparse

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..errors import SessionStoreError
from ..local import LocalDynamoDB, local_client, prepare_table
from ._common import (
    DEFAULT_TABLE,
    EndpointOption,
    JsonOption,
    TableOption,
    Target,
    fail,
    open_client,
    print_json,
    run,
    story_console,
)
from ._render import conversation

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from ..demo import DemoReport, DemoTurn

__all__ = ["app"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SCRIPTED_NOTICE = (
    "No OPENAI_API_KEY: using the scripted model (the SDK's agents.testing.ScriptedModel), "
    "a fixed offline script of the demo's answers, not a language model. Set "
    "OPENAI_API_KEY to talk to a real model."
)


@dataclass
class _Setup:
    endpoint: str
    embedded: bool
    table: str
    session_id: str
    scripted: bool
    migrated: str = ""


@asynccontextmanager
async def _client(endpoint: str) -> AsyncIterator[DynamoDBClient]:
    # A loopback endpoint is a local server: dummy credentials, whatever the environment says.
    if urlparse(endpoint).hostname in _LOOPBACK:
        async with local_client(endpoint) as client:
            yield client
    else:
        async with open_client(Target(endpoint_url=endpoint)) as client:
            yield client


def _model_line(setup: _Setup) -> Text:
    if setup.scripted:
        return Text("agents.testing.ScriptedModel (offline, scripted)", style="bold yellow")
    return Text("the SDK's default model (OPENAI_API_KEY is set)", style="bold green")


def _print_intro(setup: _Setup) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    where = "embedded moto server, stopped on exit" if setup.embedded else "existing endpoint"
    grid.add_row("DynamoDB", Text.assemble((setup.endpoint, "cyan"), f"  ({where})"))
    grid.add_row("Table", Text.assemble(setup.table, (f"  ({setup.migrated})", "dim")))
    grid.add_row("Session", setup.session_id)
    grid.add_row("Model", _model_line(setup))
    story_console.print(Panel(grid, title="openai-agents-session demo", title_align="left"))
    if setup.scripted:
        story_console.print(Panel(Text(_SCRIPTED_NOTICE), border_style="yellow", title="Note"))


def _calls(turn: DemoTurn) -> str:
    detail = ", ".join(f"{name} {count}" for name, count in turn.calls.items())
    return f"{turn.total_calls} calls ({detail})"


def _why(turn: DemoTurn) -> str:
    saves = turn.operations.count("add_items")
    return f"1 read + {saves} writes, one per save the Runner made"


def _print_turn(turn: DemoTurn) -> None:
    title = f"Turn {turn.number}"
    if turn.fresh_object:
        title += ": on a new session object, so the history comes from DynamoDB"
    story_console.rule(Text(title, style="bold"), align="left")
    story_console.print(conversation(turn.new_items, start=turn.stored_items - len(turn.new_items)))
    story_console.print(
        Text.assemble(
            ("DynamoDB: ", "bold"),
            (_calls(turn), "bold cyan"),
            (f"  ·  {turn.stored_items} items stored", "dim"),
        )
    )


def _print_summary(setup: _Setup, report: DemoReport) -> None:
    story_console.rule(Text("Read back by a second session object", style="bold"), align="left")
    verdict = (
        ("identical", "bold green") if report.read_back_identical else ("DIFFERENT", "bold red")
    )
    story_console.print(
        Text.assemble(
            f"{len(report.history)} items, ", verdict, " to what the agent's session reads."
        )
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("Turn", justify="right")
    names = sorted({name for turn in report.turns for name in turn.calls})
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("Total", justify="right", style="bold cyan")
    table.add_column("Why", style="dim")
    for turn in report.turns:
        table.add_row(
            str(turn.number),
            *(str(turn.calls.get(name, 0)) for name in names),
            str(turn.total_calls),
            _why(turn),
        )
    story_console.rule(Text("DynamoDB calls per turn", style="bold"), align="left")
    story_console.print(table)
    if setup.embedded:
        hint = (
            "The embedded server is stopped and its data gone. To keep the data, run "
            "`openai-agents-session local` and pass its endpoint: "
            "`openai-agents-session demo --endpoint-url http://127.0.0.1:8000`."
        )
    else:
        hint = (
            f"Inspect it: openai-agents-session sessions show {report.session_id} "
            f"--table {report.table_name} --endpoint-url {setup.endpoint}"
        )
    story_console.print(hint, style="dim", markup=False, highlight=False)


def _report_json(setup: _Setup, report: DemoReport) -> dict[str, Any]:
    return {
        "endpoint": setup.endpoint,
        "embedded": setup.embedded,
        "table": setup.table,
        "session_id": setup.session_id,
        "scripted": setup.scripted,
        "model": "ScriptedModel" if setup.scripted else "default",
        "notice": _SCRIPTED_NOTICE if setup.scripted else None,
        "turns": [
            {
                "turn": turn.number,
                "input": turn.prompt,
                "output": turn.final_output,
                "new_items": turn.new_items,
                "dynamodb_calls": turn.calls,
                "total_calls": turn.total_calls,
                "session_operations": turn.operations,
                "stored_items": turn.stored_items,
                "fresh_session_object": turn.fresh_object,
            }
            for turn in report.turns
        ],
        "read_back": {
            "items": len(report.history),
            "identical": report.read_back_identical,
        },
        "history": report.history,
    }


def demo(
    endpoint_url: EndpointOption = None,
    table: TableOption = DEFAULT_TABLE,
    session_id: Annotated[
        str | None,
        typer.Option(
            "--session-id",
            help="Conversation id (default: a new demo-<random> id).",
            show_default=False,
        ),
    ] = None,
    scripted: Annotated[
        bool,
        typer.Option("--scripted", help="Use the scripted model even if OPENAI_API_KEY is set."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a short agent conversation (with a tool call) stored in DynamoDB.

    With no options it starts an embedded local DynamoDB, migrates the table,
    runs three turns through the SDK's Runner with DynamoDBSession, reads the
    history back with a second session object and prints the DynamoDB calls
    each turn cost. Without OPENAI_API_KEY it uses a scripted offline model.
    """
    import agents

    from ..demo import run_demo, scripted_demo_model

    use_scripted = scripted or not os.environ.get("OPENAI_API_KEY")
    if use_scripted:
        # Nothing would receive the traces offline; the SDK would warn on every turn.
        agents.set_tracing_disabled(True)
    sid = session_id or f"demo-{uuid.uuid4().hex[:8]}"
    server = None if endpoint_url else LocalDynamoDB(0)

    async def body() -> tuple[_Setup, DemoReport]:
        async with AsyncExitStack() as stack:
            if server is not None:
                stack.callback(server.stop)
                endpoint = server.start()
            else:
                assert endpoint_url is not None
                endpoint = endpoint_url
            setup = _Setup(endpoint, server is not None, table, sid, use_scripted)
            client = await stack.enter_async_context(_client(endpoint))
            migration = await prepare_table(client, table)
            setup.migrated = (
                f"migrated: {', '.join(migration.applied + migration.adopted)}"
                if migration.changed
                else f"up to date at {migration.head}"
            )
            if not as_json:
                _print_intro(setup)
            try:
                report = await run_demo(
                    client,
                    table,
                    sid,
                    model=scripted_demo_model() if use_scripted else None,
                    on_turn=None if as_json else _print_turn,
                )
            except SessionStoreError:
                raise
            except Exception as exc:
                if use_scripted:
                    raise
                fail(
                    f"The real model failed: {type(exc).__name__}: {str(exc).rstrip('.')}. "
                    "Fix: check OPENAI_API_KEY and the network, or pass --scripted.",
                    as_json=as_json,
                )
            return setup, report

    try:
        setup, report = run(body, as_json=as_json)
    finally:
        if server is not None:
            server.stop()
    if as_json:
        print_json(_report_json(setup, report))
    else:
        _print_summary(setup, report)


# One command; the root group (cli/__init__.py) imports this module to run it.
app = typer.Typer(add_completion=False)
app.command("demo")(demo)
