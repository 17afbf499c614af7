"""``migrate rebase``: put an unapplied team migration after the chain's new head.

Two branches that each add a migration from the same head leave two heads
once both are merged. The team chain stays linear: the migration that no
table has applied yet is moved after the other one (renumbered, its
``down_revision`` and ``parent_checksum`` rewritten) and, when it was
generated, regenerated from the declared record on top of the new head, so
its operations and snapshot include what the other branch did. A migration
someone chained onto it by hand is put back on its original parent first.

Alembic answers the same situation with a merge revision (a migration with two
parents). Here the runner applies one chain in order and every file records
its parent's checksum; a merge node would let two orders of the same
migrations exist in two environments, which the hash-chained ledger and
``parent_checksum`` cannot tell apart. Rebasing keeps one order everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models.schema import SessionRecord
from .autogen import Hints, generate, import_record, next_revision
from .errors import RevisionGraphError, UnknownRevisionError
from .loader import (
    BUILTIN_DIR,
    Migration,
    MigrationGraph,
    build_graph,
    checksum,
    load_file,
    load_migrations,
    migration_files,
)
from .ops import ChangeType, RemoveAttribute, RenameAttribute

__all__ = ["RebaseResult", "rebase_migration"]


@dataclass(frozen=True)
class RebaseResult:
    """What ``migrate rebase`` wrote.

    Attributes:
        old: The revision as it was.
        revision: Its revision now (renumbered after the new head).
        path: Its file now.
        down_revision: Its parent now.
        regenerated: Its operations and snapshot were generated again.
        reattached: Migrations that had been chained onto it by hand and were
            put back on its former parent.
    """

    old: str
    revision: str
    path: Path
    down_revision: str | None
    regenerated: bool
    reattached: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "old": self.old,
            "revision": self.revision,
            "path": str(self.path),
            "down_revision": self.down_revision,
            "regenerated": self.regenerated,
            "reattached": self.reattached,
        }


def _set(text: str, name: str, value: str | None, after: str | None = None) -> str:
    line = f"{name} = {value!r}"
    pattern = re.compile(rf"^{name}\s*=.*$", re.MULTILINE)
    if pattern.search(text):
        return pattern.sub(lambda _: line, text, count=1)
    anchor = re.compile(rf"^{after}\s*=.*$", re.MULTILINE) if after else None
    found = anchor.search(text) if anchor else None
    if found is None:
        raise RevisionGraphError(f"no `{name} = ...` line to rewrite")
    return text[: found.end()] + "\n" + line + text[found.end() :]


def _hints(target: Migration, renames: Mapping[str, str], allow_drop: Sequence[str]) -> Hints:
    found_renames = dict(renames)
    found_drops = set(allow_drop)
    for operation in target.operations or ():
        if isinstance(operation, RenameAttribute):
            found_renames.setdefault(operation.old, operation.new)
        elif isinstance(operation, RemoveAttribute) and operation.allow_loss:
            found_drops.add(operation.name)
    return Hints(found_renames, frozenset(found_drops))


def _kept_functions(target: Migration) -> dict[str, Callable[..., Any]]:
    """The conversion functions of the target, which the team may have edited."""
    kept: dict[str, Callable[..., Any]] = {}
    for operation in target.operations or ():
        if isinstance(operation, ChangeType):
            for fn in (operation.convert, operation.revert):
                if fn is not None:
                    kept[fn.__name__] = fn
    return kept


def text_revision(text: str) -> str:
    """The ``revision = ...`` of a migration's source."""
    found = re.search(r"^revision\s*=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    assert found is not None
    return found.group(1)


def _rewritten(
    target: Migration,
    files: Mapping[str, Path],
    record: type[SessionRecord] | None,
    renames: Mapping[str, str],
    allow_drop: Sequence[str],
) -> tuple[str, MigrationGraph]:
    """The target's new source on top of the other migrations, and their graph."""
    builtin = [load_file(p, builtin=True) for p in migration_files(BUILTIN_DIR)]
    others = [load_file(p) for stem, p in files.items() if stem != target.revision]
    graph = build_graph([*builtin, *others])
    head = graph.team_head
    new_revision = next_revision(graph, target.revision.split("_", 1)[1])
    if target.operations is None:
        assert target.path is not None
        text = _set(target.path.read_text(encoding="utf-8"), "revision", new_revision)
        text = _set(text, "down_revision", head.revision if head else None)
        parent = checksum(head.path.read_bytes()) if head and head.path else None
        return _set(text, "parent_checksum", parent, after="down_revision"), graph
    snapshot = target.schema_snapshot or {}
    generated = generate(
        graph,
        record or import_record(str(snapshot.get("record"))),
        revision=new_revision,
        description=target.description,
        hints=_hints(target, renames, allow_drop),
        keep=_kept_functions(target),
    )
    if generated is None:
        raise RevisionGraphError(
            f"{target.revision}: nothing is left to generate on top of "
            f"{head.revision if head else 'the built-in chain'}; the other branch made the "
            f"same change. Nothing was written. Fix: delete {files[target.revision]}."
        )
    return generated, graph


def rebase_migration(
    folder: str | Path,
    revision: str,
    *,
    record: type[SessionRecord] | None = None,
    renames: Mapping[str, str] | None = None,
    allow_drop: Sequence[str] = (),
) -> RebaseResult:
    """Move team migration `revision` after the newest other migration of `folder`.

    Only for a migration no table has applied: its id and checksum change.

    Args:
        folder: The team's migrations folder.
        revision: The migration to move (yours, not applied anywhere yet).
        record: The declared record to regenerate it from (by default the one
            its snapshot names). Only used for generated migrations.
        renames: More ``--rename`` hints (those it had are kept).
        allow_drop: More ``--allow-drop`` hints (those it had are kept).

    Raises:
        UnknownRevisionError: No such migration in `folder`.
        RevisionGraphError: The other migrations do not form one chain, or
            regenerating it fails (see `new_migration`).
    """
    path = Path(folder)
    files = {p.stem: p for p in migration_files(path)}
    if revision not in files:
        known = ", ".join(sorted(files)) or "none"
        raise UnknownRevisionError(
            f"no migration {revision!r} in {path}. Fix: use one of: {known}."
        )
    team = [load_file(p) for p in files.values()]
    target = next(m for m in team if m.revision == revision)
    children = [m for m in team if m.down_revision == revision and m.path is not None]
    originals = {m.path: m.path.read_text(encoding="utf-8") for m in children if m.path}
    try:
        for child_path, original in originals.items():
            child_path.write_text(
                _set(original, "down_revision", target.down_revision), encoding="utf-8"
            )
        text, graph = _rewritten(target, files, record, renames or {}, allow_drop)
    except BaseException:
        # Nothing half-done: the files chained onto it keep their text.
        for child_path, original in originals.items():
            child_path.write_text(original, encoding="utf-8")
        raise
    head = graph.team_head
    new_revision = text_revision(text)
    new_path = path / f"{new_revision}.py"
    new_path.write_text(text, encoding="utf-8")
    if new_path != files[revision]:
        files[revision].unlink()
    load_migrations(path)  # the folder forms one chain again
    return RebaseResult(
        old=revision,
        revision=new_revision,
        path=new_path,
        down_revision=head.revision if head else None,
        regenerated=target.operations is not None,
        reattached=[m.revision for m in children],
    )
