"""The team's schema drives its migrations: snapshots, offline drift and ``migrate new``.

A team declares its attributes and indexes on a `SessionRecord` subclass (see
docs/team-schema.md). Each team migration that changes them records the team
part of the schema it leaves the table in (`team_snapshot`), derive functions
included (as a hash of their normalized source). ``migrate check --offline``
compares the declared record with the newest recorded snapshot, like Django's
``makemigrations --check``, and replays the chain's operations in memory;
``migrate new --autogenerate`` writes the migration that closes the gap as a
list of `ops` operations (alembic's autogenerate), carrying every type, index
key and derive function it needs, so it never imports the team's record.

A removed attribute whose values would be lost is never dropped silently: a
likely rename is refused until ``--rename OLD=NEW`` or ``--allow-drop OLD``
says which. The pre-operations helpers (`derived_backfill` and friends) stay
for migrations written by earlier versions.
"""

from __future__ import annotations

import ast
import importlib
import pprint
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models.codec import decode_item
from ..models.schema import SCHEMA, GlobalIndex, HistoryView, SessionRecord, schema_of
from ..models.team import TeamAttributes
from .backfill import BackfillFunction, BackfillItem
from .copying import CopiedFunction, copy_function, function_digest
from .drift import schema_fingerprint
from .dynamo import from_attribute
from .errors import RevisionGraphError
from .loader import MigrationGraph, checksum
from .ops import (
    AddAttribute,
    AddIndex,
    ChangeDerive,
    ChangeType,
    Operation,
    RemoveAttribute,
    RemoveIndex,
    RenameAttribute,
    ReplayError,
    replay_operations,
)

__all__ = [
    "Hints",
    "defaults_backfill",
    "derived_backfill",
    "generate",
    "import_record",
    "new_migration",
    "plan_operations",
    "record_path",
    "removal_backfill",
    "replay_differences",
    "team_differences",
    "team_snapshot",
]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def record_path(record: type[SessionRecord]) -> str:
    """``module:QualifiedName`` of a record class, as migrations refer to it."""
    return f"{record.__module__}:{record.__qualname__}"


def import_record(path: str) -> type[SessionRecord]:
    """The record class at ``module:QualifiedName`` (the working directory is importable).

    Raises:
        RevisionGraphError: The path is malformed, cannot be imported, or is not
            a `SessionRecord` subclass.
    """
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise RevisionGraphError(
            f"schema {path!r} is not of the form module:ClassName. Fix: pass e.g. "
            "--schema myapp.records:ChatRecord (or set OAS_SCHEMA)."
        )
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        value: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = getattr(value, part)
    except Exception as exc:
        raise RevisionGraphError(
            f"schema {path!r} cannot be imported: {type(exc).__name__}: {exc}. Fix: run from "
            "the folder your application imports from, or correct --schema / OAS_SCHEMA."
        ) from exc
    if not (isinstance(value, type) and issubclass(value, SessionRecord)):
        raise RevisionGraphError(
            f"schema {path!r} is not a SessionRecord subclass. Fix: point --schema at the "
            "record class your sessions use (record=...)."
        )
    return value


def _index_entry(index: GlobalIndex) -> dict[str, Any]:
    projection = index.projection
    return {
        "name": index.name,
        "partition_key": index.partition_key,
        "sort_key": index.sort_key,
        "projection": list(projection) if isinstance(projection, tuple) else projection,
    }


def team_snapshot(record: type[SessionRecord] | None) -> dict[str, Any]:
    """The team part of a record's schema: its own attributes and its indexes, as data."""
    if record is None:
        return {"record": None, "attributes": {}, "indexes": []}
    schema = schema_of(record)
    attributes: dict[str, Any] = {}
    for name in sorted({*schema.plain, *schema.derived}):
        spec = schema.attributes[name]
        default = record.model_fields[name].default
        attributes[name] = {
            "type": spec.type,
            "role": spec.role,
            "json": spec.json,
            "default": default if isinstance(default, (str, int, float, bool)) else None,
        }
        if spec.derive is not None:
            attributes[name]["derive"] = function_digest(spec.derive)
    return {
        "record": record_path(record),
        "attributes": attributes,
        "indexes": sorted((_index_entry(i) for i in schema.team_indexes), key=lambda i: i["name"]),
    }


def _recorded(graph: MigrationGraph) -> tuple[str | None, dict[str, Any]]:
    """The newest team snapshot: (revision, snapshot); the empty one when none."""
    for migration in reversed(graph.team):
        snapshot = migration.schema_snapshot
        if snapshot is not None and "indexes" in snapshot and "record" in snapshot:
            return migration.revision, dict(snapshot)
    return None, team_snapshot(None)


def team_differences(graph: MigrationGraph, record: type[SessionRecord] | None) -> list[str]:
    """The declared team schema against the newest team migration's snapshot.

    Args:
        graph: The loaded migrations.
        record: The team's record; by default the one the newest snapshot names
            (none: the team declares nothing).

    Returns:
        One line per difference, and the fix; empty when nothing is missing.
    """
    revision, before = _recorded(graph)
    if record is None and before.get("record"):
        try:
            record = import_record(str(before["record"]))
        except RevisionGraphError as exc:
            return [str(exc)]
    after = team_snapshot(record)
    problems: list[str] = []
    for change in _changes(before, after):
        problems.append(f"team schema: {change}")
    if problems:
        where = f"migration {revision}" if revision else "no team migration"
        problems.append(
            f"the team schema changed since {where}. Fix: `openai-agents-session migrate new "
            "<slug> --autogenerate --schema " + record_path(record or SessionRecord) + "` writes "
            "the migration (review it, then commit it)."
        )
    return problems


def comparable(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """`new` without what `old` did not record (snapshots written before derive hashes)."""
    return {k: v for k, v in new.items() if k in old or k != "derive"}


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    changes: list[str] = []
    old_attrs, new_attrs = before.get("attributes", {}), after.get("attributes", {})
    for name in sorted(set(new_attrs) - set(old_attrs)):
        changes.append(f"attribute {name!r} ({new_attrs[name]['role']}) is new")
    for name in sorted(set(old_attrs) - set(new_attrs)):
        changes.append(f"attribute {name!r} was removed")
    for name in sorted(set(old_attrs) & set(new_attrs)):
        old, new = old_attrs[name], comparable(old_attrs[name], new_attrs[name])
        if old.get("derive") != new.get("derive"):
            changes.append(f"derived attribute {name!r}: its derive function changed")
        rest_old = {k: v for k, v in old.items() if k != "derive"}
        rest_new = {k: v for k, v in new.items() if k != "derive"}
        if rest_old != rest_new:
            changes.append(f"attribute {name!r} changed: {rest_old} -> {rest_new}")
    old_idx = {i["name"]: i for i in before.get("indexes", [])}
    new_idx = {i["name"]: i for i in after.get("indexes", [])}
    for name in sorted(set(new_idx) - set(old_idx)):
        changes.append(f"index {name!r} is new")
    for name in sorted(set(old_idx) - set(new_idx)):
        changes.append(f"index {name!r} was removed")
    for name in sorted(set(old_idx) & set(new_idx)):
        if old_idx[name] != new_idx[name]:
            changes.append(f"index {name!r} changed (an index is dropped and created again)")
    return changes


# ---------------------------------------------------------------------- backfill functions


def derived_backfill(
    record: type[SessionRecord], names: Sequence[str] | None = None
) -> BackfillFunction:
    """A backfill that sets derived attributes from each session's stored history.

    Computes exactly what a session write of `record` would: the same ``derive``
    functions over the same `HistoryView`. Sessions without history (cleared
    ones) are left alone, as their heads carry no team attributes.

    Kept for migrations written by earlier versions (generated files now copy
    their derive functions, see `ops`). The record is checked at the first
    session to change, not before, so such a migration still replays on an
    empty table after the record dropped the attribute.
    """
    schema = schema_of(record)
    wanted = list(names) if names is not None else list(schema.derived)
    unknown = [n for n in wanted if n not in schema.derived]
    team = TeamAttributes(schema)

    def decide(item: BackfillItem) -> dict[str, Any] | None:
        stored = decode_item(item.raw, table_name=None)
        if stored.total_count == 0:
            return None
        if unknown:
            raise RevisionGraphError(
                f"{record_path(record)} declares no derived attribute {', '.join(unknown)}, "
                "which this migration (written by an earlier autogenerate) computes with the "
                "current record. Fix: copy the old derive function into the migration, or "
                "apply it from the commit it was written in."
            )
        view = HistoryView(
            session_id=item.session_id,
            items=tuple(stored.items()),
            count=stored.total_count,
            size=stored.total_size,
            paged=stored.pages is not None,
        )
        updates: dict[str, Any] = {}
        for name in wanted:
            encoded = team._derive(name, schema.derived[name], view, item.session_id, "")
            if encoded != item.raw.get(name):
                updates[name] = None if encoded is None else from_attribute(encoded)
        return updates or None

    # The backfill's schema_version claim names them, so that a writer on an older
    # record (which cannot derive them) withdraws it (`models.team.vouched`).
    decide.derives = tuple(wanted)  # type: ignore[attr-defined]
    return decide


def defaults_backfill(values: Mapping[str, Any]) -> BackfillFunction:
    """A backfill that sets each attribute of `values` where a session lacks it."""

    def decide(item: BackfillItem) -> dict[str, Any] | None:
        if item.get("conversation_data") is None:
            return None
        missing = {k: v for k, v in values.items() if k not in item.raw}
        return missing or None

    return decide


def removal_backfill(names: Sequence[str]) -> BackfillFunction:
    """A backfill that removes attributes `names` from every session that has them."""

    def decide(item: BackfillItem) -> dict[str, Any] | None:
        present = {n: None for n in names if n in item.raw}
        return present or None

    return decide


# ---------------------------------------------------------------------- operations


_CONVERSIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("N", "S"): ("", "return str(value)"),
    ("S", "N"): ("from decimal import Decimal", "return Decimal(value)"),
}
"""Type changes autogenerate converts: (import, body of ``convert(value)``)."""


@dataclass
class _File:
    """What a generated file defines besides its operations: copied functions."""

    imports: list[str] = field(default_factory=list)
    helpers: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)

    def add(self, copied: CopiedFunction, comment: str) -> Callable[..., Any]:
        for line in copied.imports:
            if line not in self.imports:
                self.imports.append(line)
        for name, source in copied.helpers.items():
            if self.helpers.get(name, source) != source:
                raise RevisionGraphError(
                    f"two helpers named {name!r} with different code would be copied into "
                    "one migration. Fix: rename one of them."
                )
            self.helpers[name] = source
        self.functions[copied.name] = f"{comment}\n{copied.source}"
        assert copied.function is not None
        return copied.function

    def write(self, name: str, source: str, imports: Sequence[str] = ()) -> Callable[..., Any]:
        for line in imports:
            if line and line not in self.imports:
                self.imports.append(line)
        namespace: dict[str, Any] = {}
        exec(compile("\n".join([*imports, source]), f"<{name}>", "exec"), namespace)
        self.functions[name] = source
        function: Callable[..., Any] = namespace[name]
        return function


@dataclass(frozen=True)
class Hints:
    """What a person told autogenerate about removed attributes.

    Attributes:
        renames: ``old -> new`` (``--rename old=new``): copy the values.
        allow_drop: Removed attributes whose values may be deleted (``--allow-drop``).
    """

    renames: Mapping[str, str] = field(default_factory=dict)
    allow_drop: frozenset[str] = frozenset()


def _key(attribute: str, snapshot: Mapping[str, Any]) -> tuple[str, str]:
    team = snapshot.get("attributes", {})
    if attribute in team:
        return attribute, str(team[attribute]["type"])
    return attribute, SCHEMA.attributes[attribute].type


def _index_op(
    cls: type[AddIndex], entry: Mapping[str, Any], snapshot: Mapping[str, Any]
) -> AddIndex:
    projection = entry["projection"]
    return cls(
        str(entry["name"]),
        _key(entry["partition_key"], snapshot),
        _key(entry["sort_key"], snapshot) if entry["sort_key"] else None,
        tuple(projection) if isinstance(projection, list) else projection,
    )


def _copy_derive(file: _File, attribute: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    copied = copy_function(fn, f"derive_{attribute}_{function_digest(fn)[:8]}")
    comment = (
        f"# Copied from {copied.origin} when this migration was written: it keeps computing\n"
        "# what it computed then, whatever the record says later."
    )
    return file.add(copied, comment)


def _previous_derive(
    graph: MigrationGraph, attribute: str, digest: Any
) -> Callable[..., Any] | None:
    """The derive function an earlier migration carried for `attribute` with `digest`."""
    if not digest:
        return None
    for migration in reversed(graph.team):
        for operation in migration.operations or ():
            for fn, fn_digest in _derives(operation, attribute):
                if fn is not None and fn_digest == digest:
                    return fn
    return None


def _derives(
    operation: Operation, attribute: str
) -> list[tuple[Callable[..., Any] | None, str | None]]:
    if isinstance(operation, (AddAttribute, RemoveAttribute)) and operation.name == attribute:
        return [(operation.derive, operation.digest)]
    if isinstance(operation, ChangeDerive) and operation.name == attribute:
        return [
            (operation.derive, operation.digest),
            (operation.previous, operation.previous_digest),
        ]
    return []


def _convert(
    file: _File, attribute: str, old: str, new: str, keep: Mapping[str, Callable[..., Any]]
) -> Callable[..., Any]:
    name = f"convert_{attribute}_{old.lower()}_to_{new.lower()}"
    if name in keep:
        return file.add(copy_function(keep[name], name), "# Kept from the migration before rebase.")
    imports, body = _CONVERSIONS[(old, new)]
    source = (
        f"def {name}(value):\n"
        f'    """{old} -> {new} for {attribute!r}: one stored value in, the new one out.\n\n'
        "    Written by autogenerate for the common case (None leaves the attribute out):\n"
        '    replace the body if your values need another conversion."""\n'
        f"    {body}"
    )
    return file.write(name, source, [imports] if imports else [])


def _declared(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An attribute's snapshot entry as operation keywords (derive function aside)."""
    return {
        "role": str(entry["role"]),
        "json": bool(entry["json"]),
        "default": entry["default"],
        "digest": entry.get("derive"),
    }


@dataclass
class _AttributePlanner:
    """Turns the attribute part of two snapshots into operations, refusing data loss."""

    before: Mapping[str, Any]
    after: Mapping[str, Any]
    record: type[SessionRecord]
    hints: Hints
    file: _File
    graph: MigrationGraph
    keep: Mapping[str, Callable[..., Any]]

    def operations(self) -> list[Operation]:
        old, new = self.before.get("attributes", {}), self.after["attributes"]
        removed = sorted(set(old) - set(new))
        added = sorted(set(new) - set(old))
        changed = [n for n in set(old) & set(new) if old[n]["type"] != new[n]["type"]]
        stray = sorted(self.hints.allow_drop - set(removed) - set(changed))
        if stray:
            raise RevisionGraphError(
                f"--allow-drop {' '.join(stray)}: not removed from the record nor retyped, so "
                "there is nothing to drop. Nothing was written. Fix: remove the flag."
            )
        ops: list[Operation] = [self._rename(o, n, removed, added) for o, n in self._renames()]
        self._refuse_lost(removed, added)
        for name in sorted(set(old) & set(new)):
            ops += self._change(name, old[name], comparable(old[name], new[name]))
        ops += [self._remove(name, old[name]) for name in removed]
        ops += [self._add(name, new[name]) for name in added]
        return ops

    def _renames(self) -> list[tuple[str, str]]:
        return sorted(self.hints.renames.items())

    def _rename(self, old: str, new: str, removed: list[str], added: list[str]) -> Operation:
        if old not in removed or new not in added:
            raise RevisionGraphError(
                f"--rename {old}={new}: {old!r} must be removed from the record and {new!r} "
                f"added (removed: {', '.join(removed) or 'none'}; added: "
                f"{', '.join(added) or 'none'}). Fix: correct the flag."
            )
        before = self.before["attributes"][old]
        after = self.after["attributes"][new]
        if (before["type"], before["json"]) != (after["type"], after["json"]):
            raise RevisionGraphError(
                f"--rename {old}={new}: {old!r} is {before['type']} and {new!r} is "
                f"{after['type']}. Fix: rename in one migration and change the type in the next."
            )
        removed.remove(old)
        added.remove(new)
        return RenameAttribute(old, new, str(after["type"]))

    def _refuse_lost(self, removed: list[str], added: list[str]) -> None:
        old, new = self.before["attributes"], self.after["attributes"]
        for name in removed:
            if old[name]["role"] == "derived" or name in self.hints.allow_drop:
                continue
            shape = (old[name]["type"], old[name]["json"])
            twins = [
                n
                for n in added
                if new[n]["role"] != "derived" and (new[n]["type"], new[n]["json"]) == shape
            ]
            guess = (
                f"did you rename it to {twins[0]!r}? Fix: pass --rename {name}={twins[0]} to "
                f"copy each session's value (reversible), or --allow-drop {name} to delete the "
                "values."
                if twins
                else f"Fix: pass --rename {name}=NEW if it was renamed, or --allow-drop {name} "
                "to delete the values."
            )
            raise RevisionGraphError(
                f"attribute {name!r} was removed from {record_path(self.record)}: generating "
                f"the migration would delete its stored values. Nothing was written; {guess}"
            )

    def _change(self, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Operation]:
        if old == new:
            return []
        if (old["role"], old["json"]) != (new["role"], new["json"]):
            raise RevisionGraphError(
                f"attribute {name!r} changes role or JSON encoding ({old['role']} -> "
                f"{new['role']}). Nothing was written. Fix: remove it in one migration "
                "(--allow-drop) and add it back under the new declaration in the next."
            )
        kind, new_kind = str(old["type"]), str(new["type"])
        if new["role"] == "derived":
            if kind == new_kind and old.get("derive") == new.get("derive"):
                return []  # a default changed: nothing to write
            return [self._rederive(name, old, new)]
        if kind == new_kind:
            return []
        if name in self.hints.allow_drop:
            return [
                RemoveAttribute(name, kind, allow_loss=True),
                AddAttribute(name, new_kind, default=new["default"]),
            ]
        if (kind, new_kind) not in _CONVERSIONS:
            raise RevisionGraphError(
                f"attribute {name!r} changes type {kind} -> {new_kind}, which autogenerate "
                "does not convert. Nothing was written. Fix: write the migration by hand with "
                f"ops.ChangeType and your conversion function, or pass --allow-drop {name} to "
                "delete the stored values."
            )
        convert = _convert(self.file, name, kind, new_kind, self.keep)
        revert = _convert(self.file, name, new_kind, kind, self.keep)
        return [ChangeType(name, kind, new_kind, convert, revert)]

    def _rederive(self, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> Operation:
        derive = schema_of(self.record).derived[name].derive
        assert derive is not None
        previous = _previous_derive(self.graph, name, old.get("derive"))
        kind, new_kind = str(old["type"]), str(new["type"])
        return ChangeDerive(
            name,
            new_kind,
            _copy_derive(self.file, name, derive),
            str(new["derive"]),
            json=bool(new["json"]),
            previous=_copy_derive(self.file, name, previous) if previous else None,
            previous_digest=old.get("derive"),
            previous_type=kind if kind != new_kind else None,
        )

    def _remove(self, name: str, entry: Mapping[str, Any]) -> Operation:
        previous = _previous_derive(self.graph, name, entry.get("derive"))
        return RemoveAttribute(
            name,
            str(entry["type"]),
            **_declared(entry),
            derive=_copy_derive(self.file, name, previous) if previous else None,
            allow_loss=entry["role"] != "derived",
        )

    def _add(self, name: str, entry: Mapping[str, Any]) -> Operation:
        derived = schema_of(self.record).derived
        derive = derived[name].derive if name in derived else None
        return AddAttribute(
            name,
            str(entry["type"]),
            **_declared(entry),
            derive=_copy_derive(self.file, name, derive) if derive else None,
        )


def plan_operations(
    graph: MigrationGraph,
    before: Mapping[str, Any],
    record: type[SessionRecord],
    hints: Hints | None = None,
    *,
    keep: Mapping[str, Callable[..., Any]] | None = None,
) -> tuple[list[Operation], dict[str, Any], _File]:
    """The operations that take the table from snapshot `before` to `record`'s schema.

    Indexes that go away are dropped first (they may rest on a renamed
    attribute), then attributes change, then new indexes are created.

    Returns:
        The operations, the new snapshot and the functions the file must carry.

    Raises:
        RevisionGraphError: A removed attribute's values would be lost without a
            hint, a hint does not fit, or a change cannot be generated.
    """
    after = team_snapshot(record)
    file = _File()
    old_idx = {i["name"]: i for i in before.get("indexes", [])}
    new_idx = {i["name"]: i for i in after["indexes"]}
    changed = sorted(n for n in set(old_idx) & set(new_idx) if old_idx[n] != new_idx[n])
    ops: list[Operation] = [
        _index_op(RemoveIndex, old_idx[n], before)
        for n in [*sorted(set(old_idx) - set(new_idx)), *changed]
    ]
    planner = _AttributePlanner(before, after, record, hints or Hints(), file, graph, keep or {})
    ops += planner.operations()
    ops += [
        _index_op(AddIndex, new_idx[n], after)
        for n in [*sorted(set(new_idx) - set(old_idx)), *changed]
    ]
    return ops, after, file


# ---------------------------------------------------------------------- rendering


_FROZEN = [
    "Frozen once applied anywhere: the ledger records its checksum, and the next",
    "migration records it too (`parent_checksum`), so `migrate check --offline` fails",
    "on an edit. Put a later change in a new migration.",
]


def _header(description: str, generated: bool) -> list[str]:
    lines = [f'"""{description}', ""]
    if generated:
        lines += [
            "Written by `openai-agents-session migrate new --autogenerate`: review it before",
            "committing. It imports nothing of your application: the types, index keys and",
            "functions it needs are written here, so the chain replays on a fresh table",
            "whatever the record says later.",
        ]
    else:
        lines.append("Written by `openai-agents-session migrate new`.")
    return [*lines, *_FROZEN, '"""', "", "from __future__ import annotations", ""]


def _module_attributes(
    revision: str, down_revision: str | None, description: str, parent_checksum: str | None
) -> list[str]:
    return [
        f"revision = {revision!r}",
        f"down_revision = {down_revision!r}",
        f"description = {description!r}",
        f"parent_checksum = {parent_checksum!r}",
    ]


def _render_scaffold(
    revision: str, down_revision: str | None, description: str, parent_checksum: str | None
) -> str:
    lines = [
        *_header(description, generated=False),
        "from openai_agents_session.migrations.context import MigrationContext",
        "",
        *_module_attributes(revision, down_revision, description, parent_checksum),
        "",
        "",
        "async def upgrade(ctx: MigrationContext) -> None:",
        '    """Apply the change."""',
        "    pass  # write the change here (ctx.backfill, ctx.ensure_global_index)",
        "",
        "",
        "async def downgrade(ctx: MigrationContext) -> None:",
        '    """Undo the change."""',
        "    pass  # undo the change, or delete this function",
    ]
    return "\n".join(lines) + "\n"


def render_operations(
    *,
    revision: str,
    down_revision: str | None,
    description: str,
    parent_checksum: str | None,
    snapshot: Mapping[str, Any],
    operations: Sequence[Operation],
    file: _File,
) -> str:
    """The source of a generated migration: its snapshot, functions and operations."""
    classes = sorted({type(op).__name__ for op in operations})
    reversible = all(op.reverse() is not None for op in operations)
    names = [*classes, "upgrade_operations", *(["downgrade_operations"] if reversible else [])]
    imports = [line for line in file.imports if line.startswith(("import ", "from "))]
    constants = [line for line in file.imports if line not in imports]
    lines = [
        *_header(description, generated=True),
        *imports,
        *([""] if imports else []),
        "from openai_agents_session.migrations.context import MigrationContext",
        "from openai_agents_session.migrations.ops import (",
        *(f"    {name}," for name in names),
        ")",
        "",
        *_module_attributes(revision, down_revision, description, parent_checksum),
        f"record = {snapshot['record']!r}",
        "",
        "# The team schema this migration leaves the table in (data, not code).",
        f"schema_snapshot = {pprint.pformat(dict(snapshot), sort_dicts=True)}",
        f"schema_fingerprint = {schema_fingerprint(snapshot)!r}",
    ]
    if constants:
        lines += ["", "# Constants the copied functions use, as they were then.", *constants]
    for source in [*file.helpers.values(), *file.functions.values()]:
        lines += ["", "", source]
    lines += ["", "", "operations = ["]
    for op in operations:
        lines += [f"    # {op.describe()}", f"    {op.render()},"]
    lines += [
        "]",
        "",
        "",
        "async def upgrade(ctx: MigrationContext) -> None:",
        '    """Apply the operations in order."""',
        "    await upgrade_operations(ctx, operations)",
    ]
    if reversible:
        lines += [
            "",
            "",
            "async def downgrade(ctx: MigrationContext) -> None:",
            '    """Undo the operations, newest first."""',
            "    await downgrade_operations(ctx, operations)",
        ]
    else:
        lost = "; ".join(op.describe() for op in operations if op.reverse() is None)
        lines += ["", "", f"# No downgrade: {lost} cannot be undone (the values are gone)."]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- migrate new


def next_revision(graph: MigrationGraph, slug: str) -> str:
    """``NNNN_<slug>``, numbered after the team chain's highest number."""
    number = 1 + max((int(m.revision.split("_", 1)[0]) for m in graph.team), default=0)
    return f"{number:04d}_{slug}"


def generate(
    graph: MigrationGraph,
    record: type[SessionRecord],
    *,
    revision: str,
    description: str,
    hints: Hints | None = None,
    keep: Mapping[str, Callable[..., Any]] | None = None,
) -> str | None:
    """The source of the migration that follows `graph`'s team head; None if nothing changed.

    Raises:
        RevisionGraphError: See `plan_operations`.
    """
    _, before = _recorded(graph)
    if not _changes(before, team_snapshot(record)):
        return None
    operations, snapshot, file = plan_operations(graph, before, record, hints, keep=keep)
    head = graph.team_head
    return render_operations(
        revision=revision,
        down_revision=head.revision if head else None,
        description=description,
        parent_checksum=checksum(head.path.read_bytes()) if head and head.path else None,
        snapshot=snapshot,
        operations=operations,
        file=file,
    )


def check_slug(slug: str) -> None:
    """Refuse a slug that would not make a migration file name.

    Raises:
        RevisionGraphError: It is not lower-case letters, digits and underscores.
    """
    if not _SLUG.match(slug):
        raise RevisionGraphError(
            f"slug {slug!r} must be lower-case letters, digits and underscores, e.g. "
            "add_message_stats."
        )


def new_migration(
    folder: str | Path,
    slug: str,
    *,
    description: str | None = None,
    record: type[SessionRecord] | None = None,
    autogenerate: bool = False,
    graph: MigrationGraph | None = None,
    renames: Mapping[str, str] | None = None,
    allow_drop: Sequence[str] = (),
) -> Path:
    """Write the next migration file of a team's folder and return its path.

    Args:
        folder: The team's migrations folder (created if missing).
        slug: Lower-case words joined by ``_``; the file is ``NNNN_<slug>.py``.
        description: Its one-line description (the slug in words by default).
        record: The team's declared record (needed with `autogenerate`).
        autogenerate: Write the operations that take the newest team snapshot to
            `record`, and record the new snapshot.
        graph: The loaded migrations (loaded from `folder` by default).
        renames: ``{old: new}`` attributes renamed (their values are copied).
        allow_drop: Removed attributes whose stored values may be deleted.

    Raises:
        RevisionGraphError: A bad slug, no record to autogenerate from, nothing to
            generate, a removed attribute without a hint, or migration files that
            do not load.
    """
    from .loader import load_migrations

    check_slug(slug)
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    graph = graph or load_migrations(path)
    head = graph.team_head
    revision = next_revision(graph, slug)
    text_description = description or slug.replace("_", " ").capitalize()
    if autogenerate:
        if record is None:
            raise RevisionGraphError(
                "--autogenerate needs the team's record. Fix: pass --schema "
                "module:ClassName (or set OAS_SCHEMA)."
            )
        hints = Hints(dict(renames or {}), frozenset(allow_drop))
        text = generate(graph, record, revision=revision, description=text_description, hints=hints)
        if text is None:
            raise RevisionGraphError(
                f"{record_path(record)} has no change since the newest team migration: "
                "nothing to generate."
            )
    else:
        text = _render_scaffold(
            revision,
            head.revision if head else None,
            text_description,
            checksum(head.path.read_bytes()) if head and head.path else None,
        )
    target = path / f"{revision}.py"
    target.write_text(text, encoding="utf-8")
    return target


# ---------------------------------------------------------------------- offline replay


def _structure(
    snapshot: Mapping[str, Any], recorded: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Names, types, roles, derive hashes and indexes: what operations must agree on.

    Defaults are left out (changing one writes nothing), and so are derive
    hashes that `recorded` does not have.
    """
    known = (recorded or snapshot).get("attributes", {})
    attributes = {
        name: {
            k: v
            for k, v in entry.items()
            if k != "default" and (k != "derive" or "derive" in known.get(name, entry))
        }
        for name, entry in snapshot.get("attributes", {}).items()
    }
    return {"attributes": attributes, "indexes": list(snapshot.get("indexes", []))}


def replay_differences(graph: MigrationGraph) -> list[str]:
    """Replay the team chain's operations in memory, as a fresh table would run them.

    Each migration's operations must fit the schema the chain before it
    leaves, and leave the schema its snapshot records. Migrations without
    operations (hand-written, or generated by earlier versions) are taken at
    their recorded snapshot.

    Returns:
        One line per migration that would fail or disagree, with the fix.
    """
    problems: list[str] = []
    state: dict[str, Any] = team_snapshot(None)
    for migration in graph.team:
        snapshot = migration.schema_snapshot
        recorded = dict(snapshot) if snapshot is not None and "indexes" in snapshot else None
        if migration.operations is None:
            state = recorded or state
            continue
        try:
            replayed = replay_operations(state, migration.operations)
        except ReplayError as exc:
            problems.append(
                f"migration {migration.revision}: replaying the chain on a fresh table would "
                f"fail: {exc}. Fix: `openai-agents-session migrate rebase {migration.revision}` "
                "regenerates it from the migrations before it (if it is applied nowhere)."
            )
            state = recorded or state
            continue
        if recorded is not None and _structure(replayed, recorded) != _structure(recorded):
            problems.append(
                f"migration {migration.revision}: its operations leave another schema than "
                "its schema_snapshot records (edited by hand?). Fix: `openai-agents-session "
                f"migrate rebase {migration.revision}` regenerates it (if it is applied nowhere)."
            )
        state = recorded or replayed
    return problems


def _legacy_derived(path: Path) -> tuple[str | None, list[str]]:
    """The record path and names an earlier autogenerate's file computes with that record."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None, []
    record: str | None = None
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "record" for t in node.targets
        ):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                record = node.value.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "derived_backfill"
            and len(node.args) == 2
            and isinstance(node.args[1], (ast.List, ast.Tuple))
        ):
            names += [
                e.value
                for e in node.args[1].elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
    return record, names


def legacy_warnings(graph: MigrationGraph) -> list[str]:
    """Files of an earlier autogenerate that compute values with a record that changed since.

    Such a file replays on an empty table (its backfill checks the record at
    the first session it changes), so this is a warning: it would fail on a
    table with sessions that has not applied it yet.
    """
    warnings: list[str] = []
    for migration in graph.team:
        if migration.operations is not None or migration.path is None:
            continue
        path, names = _legacy_derived(migration.path)
        if path is None or not names:
            continue
        try:
            declared = set(schema_of(import_record(path)).derived)
        except RevisionGraphError:
            declared = set()
        missing = [n for n in names if n not in declared]
        if missing:
            warnings.append(
                f"migration {migration.revision} (written by an earlier autogenerate) computes "
                f"{', '.join(missing)} with {path}, which no longer declares it: it replays on "
                "an empty table, but fails on a table with sessions that has not applied it. "
                "Fix: before it runs on such a table, replace its derived_backfill(...) with "
                "ops.AddAttribute and a copy of the old derive function."
            )
    return warnings
