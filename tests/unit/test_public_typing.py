"""Every public name type-checks in application code under ``mypy --strict``.

The package is a lazy PEP 562 namespace: its ``__getattr__`` returns ``object``
to a type checker, so a public name missing from the ``TYPE_CHECKING`` imports
of ``__init__.py`` reads as ``object`` in the user's code (``"object" not
callable``). One mypy run checks a small chat program that uses the catalog the
way an application does, plus a generated use of every name in ``__all__`` that
fails on ``object``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

import openai_agents_session as oas

APP = """
from __future__ import annotations

from typing import Any

from openai_agents_session import (
    DynamoDBSession,
    EraseReport,
    InvalidArgumentError,
    SessionPage,
    SessionSummary,
    delete_sessions,
    list_sessions,
)


async def sidebar(client: Any, user: str, cursor: str | None) -> list[tuple[str, bool]]:
    page: SessionPage = await list_sessions(
        client, "chats", owner=user, cursor=cursor, include_metadata=True
    )
    rows: list[tuple[str, bool]] = []
    for summary in page.sessions:
        one: SessionSummary = summary
        pinned = bool((one.metadata or {}).get("pinned"))
        rows.append((one.title or one.session_id, pinned))
    return rows


async def new_chat(client: Any, user: str, chat_id: str) -> bool:
    session = DynamoDBSession(chat_id, client, "chats", owner=user, title="New chat")
    created: bool = await session.create(exist_ok=True)
    turns: list[dict[str, Any]] = await session.get_turn_usage()
    one_turn: list[dict[str, Any]] = await session.get_turn_usage(1)
    return created and not turns and not one_turn


async def forget(client: Any, user: str) -> int:
    try:
        report: EraseReport = await delete_sessions(client, "chats", owner=user)
    except InvalidArgumentError as exc:
        return len(str(exc))
    return report.sessions
"""


def _uses_of_every_public_name() -> str:
    """One line per public name that mypy refuses when the name reads as ``object``."""
    lines = [
        "from collections.abc import Callable, Mapping",
        "import openai_agents_session as oas",
        "",
    ]
    for name in sorted(set(oas.__all__) - {"__version__"}):
        value = getattr(oas, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            lines += ["try:", "    pass", f"except oas.{name}:", "    pass"]
        elif isinstance(value, type):
            lines.append(f"def use_{name}(value: oas.{name}) -> oas.{name}: return value")
        elif callable(value):
            lines.append(f"use_{name}: Callable[..., object] = oas.{name}")
        elif isinstance(value, Mapping):
            lines.append(f"use_{name}: Mapping[str, object] = oas.{name}")
        else:
            lines.append(f"use_{name}: {type(value).__name__} = oas.{name}")
    lines.append("version: str = oas.__version__")
    return "\n".join(lines) + "\n"


def test_an_application_using_every_public_name_passes_mypy_strict(tmp_path: Path) -> None:
    (tmp_path / "chat_app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "every_name.py").write_text(_uses_of_every_public_name())
    # Installed, the library's own modules are not reported on in the user's run;
    # from a source tree they would be, so they are told apart as installed. The SDK,
    # openai and the botocore stubs are skipped (read as Any) to keep the run short:
    # what is checked is how the library's own public names type.
    (tmp_path / "mypy.ini").write_text(
        "[mypy]\nstrict = True\n\n[mypy-openai_agents_session.*]\nignore_errors = True\n"
        + "".join(
            f"\n[mypy-{module}.*]\nfollow_imports = skip\n"
            for module in ("agents", "openai", "types_aiobotocore_dynamodb", "botocore", "aioboto3")
        )
    )
    src = Path(oas.__file__).resolve().parent.parent  # the checkout under test, not main's
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--python-version",
            "3.10",
            "chat_app.py",
            "every_name.py",
        ],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_public_name_is_imported_for_type_checkers() -> None:
    import ast

    tree = ast.parse(Path(oas.__file__).read_text())
    checked: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    checked.update(alias.asname or alias.name for alias in stmt.names)
    assert set(oas.__all__) - {"__version__"} <= checked
