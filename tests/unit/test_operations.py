"""Operations and copied functions, offline: what a generated migration carries, how the
chain replays in memory, and what ``check --offline`` fails on."""

from __future__ import annotations

import enum
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openai_agents_session.cli import app
from openai_agents_session.migrations import (
    AddAttribute,
    AddIndex,
    RemoveAttribute,
    RenameAttribute,
    RevisionGraphError,
)
from openai_agents_session.migrations.copying import copy_function, function_digest
from openai_agents_session.migrations.ops import ReplayError, encode_typed, replay_operations
from openai_agents_session.models.schema import HistoryView

LIMIT = 3
TABLE = {"a": 1}


def _capped(n: int) -> int:
    return min(n, LIMIT)


def capped_count(view: HistoryView) -> int:
    """Docstrings do not count."""
    return _capped(view.count)


def capped_count_reformatted(view: HistoryView) -> int:
    return _capped(
        view.count  # comments and layout do not count either
    )


def reads_attributes_named_like_globals(view: HistoryView) -> int:
    # `TABLE` here is an attribute name, not the module's dict: nothing to copy.
    return len(view.TABLE) + view.count  # type: ignore[attr-defined]


def uses_a_dict(view: HistoryView) -> int:
    return TABLE["a"] + view.count


def test_copy_carries_helpers_and_constants_and_computes_the_same() -> None:
    copied = copy_function(capped_count, "derive_x")
    assert "def derive_x(view: HistoryView) -> int:" in copied.source
    assert (
        copied.imports == ["LIMIT = 3"]
        and "def _capped(n: int) -> int:" in copied.helpers["_capped"]
    )
    assert copied.function is not None
    view = HistoryView("s", (), count=7)
    assert copied.function(view) == capped_count(view) == 3


def test_only_globals_the_function_reads_are_copied() -> None:
    class View:
        TABLE = (1, 2)
        count = 1

    copied = copy_function(reads_attributes_named_like_globals, "derive_w")
    assert copied.imports == [] and copied.helpers == {}
    assert copied.function is not None and copied.function(View()) == 3


def test_digest_ignores_form_and_sees_code() -> None:
    assert function_digest(capped_count) == function_digest(capped_count_reformatted)
    assert function_digest(capped_count) != function_digest(uses_a_dict)


def test_what_cannot_be_copied_is_refused_with_the_fix() -> None:
    with pytest.raises(RevisionGraphError, match=r"uses TABLE.*Fix: make it a plain `def`"):
        copy_function(uses_a_dict, "derive_y")
    with pytest.raises(RevisionGraphError, match=r"lambda.*Fix:"):
        copy_function(lambda view: view.count, "derive_z")


def test_values_are_encoded_as_a_session_write_stores_them() -> None:
    class Role(str, enum.Enum):
        USER = "user"

    assert encode_typed("S", Role.USER) == {"S": "user"}
    assert encode_typed("N", 3) == {"N": "3"} and encode_typed("S", None) is None
    assert encode_typed("S", {"a": "é"}, as_json=True) == {"S": '{"a":"é"}'}
    with pytest.raises(TypeError):
        encode_typed("S", 3)
    with pytest.raises(TypeError):
        encode_typed("N", True)


def test_replay_refuses_operations_that_do_not_fit() -> None:
    empty: dict[str, Any] = {"attributes": {}, "indexes": []}
    state = replay_operations(
        empty, [AddAttribute("tenant_id", "S"), AddIndex("by_t", ("tenant_id", "S"))]
    )
    assert state["indexes"][0]["partition_key"] == "tenant_id"
    renamed = replay_operations(state, [RenameAttribute("tenant_id", "tenant", "S")])
    assert set(renamed["attributes"]) == {"tenant"}
    with pytest.raises(ReplayError, match="no attribute 'nope'"):
        replay_operations(state, [RenameAttribute("nope", "tenant", "S")])
    with pytest.raises(ReplayError, match="without allow_loss=True"):
        replay_operations(state, [RemoveAttribute("tenant_id", "S")])
    assert AddAttribute("x", "S").reverse() is not None
    assert RemoveAttribute("x", "S", allow_loss=True).reverse() is None  # the values are gone


RECORD = """
from typing import Annotated, ClassVar

from openai_agents_session import DynamoAttribute, GlobalIndex, SessionRecord


class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = ()
    tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
"""


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["migrate", *args])


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    module = f"ops_records_{tmp_path.name[-8:].replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(RECORD))
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = tmp_path / "migrations"
    schema = f"{module}:ChatRecord"
    written = _cli(
        "new", "tenant", "--autogenerate", "--schema", schema, "--migrations-dir", str(folder)
    )
    assert written.exit_code == 0, written.output
    return folder, schema


def test_check_offline_replays_the_chain_and_fails_when_a_fresh_table_would(
    generated: tuple[Path, str],
) -> None:
    folder, schema = generated
    path = folder / "0001_tenant.py"
    clean = path.read_text()
    assert (
        _cli("check", "--offline", "--schema", schema, "--migrations-dir", str(folder)).exit_code
        == 0
    )
    # An operation that does not fit what the chain before it leaves.
    path.write_text(
        clean.replace(
            "AddAttribute('tenant_id', 'S')", "RenameAttribute('x', 'tenant_id', 'S')"
        ).replace("import (\n", "import (\n    RenameAttribute,\n")
    )
    broken = _cli(
        "check", "--offline", "--schema", schema, "--migrations-dir", str(folder), "--json"
    )
    assert broken.exit_code == 4, broken.output
    drift = json.loads(broken.stdout)["offline"]
    assert any(
        "replaying the chain on a fresh table would fail" in d and "Fix:" in d for d in drift
    )
    # Operations that leave another schema than the file's snapshot says.
    path.write_text(clean.replace("AddAttribute('tenant_id', 'S')", "AddAttribute('tenant', 'S')"))
    disagree = _cli("check", "--offline", "--schema", schema, "--migrations-dir", str(folder))
    assert disagree.exit_code == 4 and "another schema than its schema_snapshot" in disagree.output


def test_bad_hints_and_bad_operations_are_refused(generated: tuple[Path, str]) -> None:
    folder, schema = generated
    bad_flag = _cli(
        "new",
        "x",
        "--autogenerate",
        "--schema",
        schema,
        "--migrations-dir",
        str(folder),
        "--rename",
        "oops",
    )
    assert bad_flag.exit_code == 2 and "OLD=NEW" in bad_flag.output
    module = schema.split(":")[0]
    source = Path(sys.modules[module].__file__ or "")
    source.write_text(source.read_text().replace("tenant_id:", "tenant:"))
    sys.modules.pop(module)
    no_such = _cli(
        "new", "x", "--autogenerate", "--schema", schema, "--migrations-dir", str(folder),
        "--rename", "ghost=tenant",
    )  # fmt: skip
    assert no_such.exit_code == 10 and "--rename ghost=tenant" in no_such.output
    stray = _cli(
        "new", "x", "--autogenerate", "--schema", schema, "--migrations-dir", str(folder),
        "--rename", "tenant_id=tenant", "--allow-drop", "nothing_like_it",
    )  # fmt: skip
    assert stray.exit_code == 10 and "--allow-drop nothing_like_it" in stray.output
    no_autogenerate = _cli("new", "x", "--migrations-dir", str(folder), "--allow-drop", "a")
    assert no_autogenerate.exit_code == 2 and "add --autogenerate" in no_autogenerate.output
    assert sorted(p.name for p in folder.glob("0*.py")) == ["0001_tenant.py"]
    # A hostile or mistaken `operations` that is not a list of operations never loads.
    path = folder / "0001_tenant.py"
    path.write_text(path.read_text() + "\noperations = 'drop everything'\n")
    loaded = _cli("check", "--offline", "--migrations-dir", str(folder))
    assert loaded.exit_code == 10 and "`operations` must be a list" in loaded.output
    unknown = _cli("rebase", "0009_nope", "--migrations-dir", str(folder))
    assert unknown.exit_code != 0 and "Fix: use one of: 0001_tenant" in unknown.output
