"""Every ```python block in the README and docs/ runs, against moto's server.

Blocks of one page run in order in one namespace, like a notebook, with top-level
``await`` allowed. Clients created without ``endpoint_url`` reach the test endpoint
through botocore's ``AWS_ENDPOINT_URL_DYNAMODB``; the page's table is made fresh.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

from openai_agents_session import DynamoDBSession, create_table_if_not_exists

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
TABLE = "agent_sessions"


def python_blocks(page: Path) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(page.read_text(encoding="utf-8"))]


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p)]


async def _fresh_table(client: Any) -> None:
    try:
        await client.delete_table(TableName=TABLE)
        await client.get_waiter("table_not_exists").wait(TableName=TABLE)
    except client.exceptions.ResourceNotFoundException:
        pass
    await create_table_if_not_exists(client, TABLE)


SIGNATURE = re.compile(r"^(async\s+)?def\s+(\w+)\(.*\)\s*(->.*)?$", re.DOTALL)


def check_signature(source: str) -> bool:
    """A block that is only a method signature (as in the spec's layout) must match the code.

    Returns:
        True if the block was a signature and it matches `DynamoDBSession`.
    """
    text = source.strip()
    match = SIGNATURE.match(text)
    if not match or text.endswith(":"):
        return False
    tree = ast.parse(text + ": ...")
    documented = tree.body[0]
    assert isinstance(documented, (ast.FunctionDef, ast.AsyncFunctionDef))
    actual = getattr(DynamoDBSession, documented.name)
    assert inspect.iscoroutinefunction(actual) == isinstance(documented, ast.AsyncFunctionDef)
    real = inspect.signature(actual)
    assert [a.arg for a in documented.args.args] == list(real.parameters)
    defaults = [ast.literal_eval(d) for d in documented.args.defaults]
    real_defaults = [p.default for p in real.parameters.values() if p.default is not p.empty]
    assert defaults == real_defaults
    return True


def test_docs_have_python_snippets() -> None:
    assert len(PAGES_WITH_CODE) >= 3, [p.name for p in PAGES_WITH_CODE]


@pytest.mark.parametrize(
    "page", PAGES_WITH_CODE, ids=[str(p.relative_to(ROOT)) for p in PAGES_WITH_CODE]
)
async def test_snippets_run(
    page: Path, endpoint: str, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    monkeypatch.setenv("OAS_ENDPOINT_URL", endpoint)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    await _fresh_table(client)
    namespace: dict[str, Any] = {"__name__": f"snippets_{page.stem}"}
    for number, source in enumerate(python_blocks(page), start=1):
        if check_signature(source):
            continue
        code = compile(
            source,
            f"{page.name}#block{number}",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            # Run blocks as a reader would, not under this module's `from __future__`
            # (postponed annotations would hide a snippet's pydantic field metadata).
            dont_inherit=True,
        )
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            await result
