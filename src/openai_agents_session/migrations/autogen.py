"""The team's schema drives its migrations: snapshots, offline drift and ``migrate new``.

A team declares its attributes and indexes on a `SessionRecord` subclass (see
docs/team-schema.md). Each team migration that changes them records the team
part of the schema it leaves the table in (`team_snapshot`). ``migrate check
--offline`` compares the declared record with the newest recorded snapshot,
like Django's ``makemigrations --check``; ``migrate new --autogenerate`` writes
the migration that closes the gap, like alembic's autogenerate: index creation
and deletion, and backfills of new derived or defaulted attributes.

The generated file imports the record by its dotted path, so its backfill
computes derived values with the same ``derive`` functions the sessions use.
"""

from __future__ import annotations

import importlib
import pprint
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..models.codec import decode_item
from ..models.schema import GlobalIndex, HistoryView, SessionRecord, schema_of
from ..models.team import TeamAttributes
from .backfill import BackfillFunction, BackfillItem
from .drift import schema_fingerprint
from .dynamo import from_attribute
from .errors import RevisionGraphError
from .loader import MigrationGraph, checksum

__all__ = [
    "defaults_backfill",
    "derived_backfill",
    "import_record",
    "new_migration",
    "record_path",
    "removal_backfill",
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


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    changes: list[str] = []
    old_attrs, new_attrs = before.get("attributes", {}), after.get("attributes", {})
    for name in sorted(set(new_attrs) - set(old_attrs)):
        changes.append(f"attribute {name!r} ({new_attrs[name]['role']}) is new")
    for name in sorted(set(old_attrs) - set(new_attrs)):
        changes.append(f"attribute {name!r} was removed")
    for name in sorted(set(old_attrs) & set(new_attrs)):
        if old_attrs[name] != new_attrs[name]:
            changes.append(f"attribute {name!r} changed: {old_attrs[name]} -> {new_attrs[name]}")
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
    """
    schema = schema_of(record)
    wanted = list(names) if names is not None else list(schema.derived)
    unknown = [n for n in wanted if n not in schema.derived]
    if unknown:
        raise RevisionGraphError(
            f"{record_path(record)} declares no derived attribute {', '.join(unknown)}. "
            "Fix: regenerate the migration (`migrate new --autogenerate`)."
        )
    team = TeamAttributes(schema)

    def decide(item: BackfillItem) -> dict[str, Any] | None:
        stored = decode_item(item.raw, table_name=None)
        if stored.total_count == 0:
            return None
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


# ---------------------------------------------------------------------- migrate new


def _index_call(record: type[SessionRecord], index: Mapping[str, Any]) -> str:
    schema = schema_of(record)
    part = f"({index['partition_key']!r}, {schema.attributes[index['partition_key']].type!r})"
    sort = (
        f"({index['sort_key']!r}, {schema.attributes[index['sort_key']].type!r})"
        if index["sort_key"]
        else "None"
    )
    projection = index["projection"]
    if isinstance(projection, list):
        shape = f'{{"ProjectionType": "INCLUDE", "NonKeyAttributes": {projection!r}}}'
    else:
        shape = f'{{"ProjectionType": {projection!r}}}'
    return (
        f"    await ctx.ensure_global_index(\n        {index['name']!r}, {part}, {sort}, "
        f"projection={shape}\n    )"
    )


def _render(
    *,
    revision: str,
    down_revision: str | None,
    description: str,
    parent_checksum: str | None,
    record: type[SessionRecord] | None,
    before: Mapping[str, Any] | None,
) -> str:
    lines = [
        f'"""{description}',
        "",
        "Written by `openai-agents-session migrate new"
        + (" --autogenerate`: review it before committing." if before is not None else "`."),
        "Frozen once applied anywhere: the ledger records its checksum, and the next",
        "migration records it too (`parent_checksum`), so `migrate check --offline` fails",
        'on an edit. Put a later change in a new migration.\n"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    upgrade: list[str] = []
    downgrade: list[str] = []
    uses: set[str] = set()
    snapshot: dict[str, Any] | None = None
    if before is not None:
        snapshot = team_snapshot(record)
        assert record is not None
        old_idx = {i["name"]: i for i in before.get("indexes", [])}
        new_idx = {i["name"]: i for i in snapshot["indexes"]}
        old_attrs, new_attrs = before.get("attributes", {}), snapshot["attributes"]
        for name in sorted(set(old_idx) - set(new_idx)) + sorted(
            n for n in set(old_idx) & set(new_idx) if old_idx[n] != new_idx[n]
        ):
            upgrade.append(f"    await ctx.drop_global_index({name!r})")
        for name in sorted(set(new_idx) - set(old_idx)) + sorted(
            n for n in set(old_idx) & set(new_idx) if old_idx[n] != new_idx[n]
        ):
            upgrade.append(_index_call(record, new_idx[name]))
            downgrade.insert(0, f"    await ctx.drop_global_index({name!r})")
        derived = sorted(
            n for n in set(new_attrs) - set(old_attrs) if new_attrs[n]["role"] == "derived"
        )
        defaults = {
            n: new_attrs[n]["default"]
            for n in sorted(set(new_attrs) - set(old_attrs))
            if new_attrs[n]["role"] == "attribute" and new_attrs[n]["default"] is not None
        }
        removed = sorted(set(old_attrs) - set(new_attrs))
        if derived:
            uses.add("derived_backfill")
            upgrade.append(
                f"    await ctx.backfill(derived_backfill(import_record(record), {derived!r}), "
                'name="derived")'
            )
        if defaults:
            uses.add("defaults_backfill")
            upgrade.append(
                f'    await ctx.backfill(defaults_backfill({defaults!r}), name="defaults")'
            )
        if derived or defaults:
            uses.add("removal_backfill")
            downgrade.insert(
                0,
                f"    await ctx.backfill(removal_backfill({sorted([*derived, *defaults])!r}), "
                'name="undo")',
            )
        if removed:
            uses.add("removal_backfill")
            upgrade.append(f'    await ctx.backfill(removal_backfill({removed!r}), name="removed")')
    if "derived_backfill" in uses:
        uses.add("import_record")
    if uses:
        imports = ", ".join(sorted(uses))
        lines.append(f"from openai_agents_session.migrations.autogen import {imports}")
    lines += [
        "from openai_agents_session.migrations.context import MigrationContext",
        "",
        f"revision = {revision!r}",
        f"down_revision = {down_revision!r}",
        f"description = {description!r}",
        f"parent_checksum = {parent_checksum!r}",
    ]
    if snapshot is not None:
        lines += [
            f"record = {snapshot['record']!r}",
            "",
            "# The team schema this migration leaves the table in (data, not code).",
            f"schema_snapshot = {pprint.pformat(snapshot, sort_dicts=True)}",
            f"schema_fingerprint = {schema_fingerprint(snapshot)!r}",
        ]
    body_up = upgrade or [
        "    pass  # write the change here (ctx.backfill, ctx.ensure_global_index)"
    ]
    lines += [
        "",
        "",
        "async def upgrade(ctx: MigrationContext) -> None:",
        '    """Apply the change."""',
        *body_up,
    ]
    if before is None or downgrade or not upgrade:
        body_down = downgrade or ["    pass  # undo the change, or delete this function"]
        lines += [
            "",
            "",
            "async def downgrade(ctx: MigrationContext) -> None:",
            '    """Undo the change."""',
            *body_down,
        ]
    return "\n".join(lines) + "\n"


def new_migration(
    folder: str | Path,
    slug: str,
    *,
    description: str | None = None,
    record: type[SessionRecord] | None = None,
    autogenerate: bool = False,
    graph: MigrationGraph | None = None,
) -> Path:
    """Write the next migration file of a team's folder and return its path.

    Args:
        folder: The team's migrations folder (created if missing).
        slug: Lower-case words joined by ``_``; the file is ``NNNN_<slug>.py``.
        description: Its one-line description (the slug in words by default).
        record: The team's declared record (needed with `autogenerate`).
        autogenerate: Fill in upgrade and downgrade from the difference between
            `record` and the newest team snapshot, and record the new snapshot.
        graph: The loaded migrations (loaded from `folder` by default).

    Raises:
        RevisionGraphError: A bad slug, no record to autogenerate from, nothing to
            generate, or migration files that do not load.
    """
    from .loader import load_migrations

    if not _SLUG.match(slug):
        raise RevisionGraphError(
            f"slug {slug!r} must be lower-case letters, digits and underscores, e.g. "
            "add_message_stats."
        )
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    graph = graph or load_migrations(path)
    head = graph.team_head
    number = 1 + max((int(m.revision.split("_", 1)[0]) for m in graph.team), default=0)
    revision = f"{number:04d}_{slug}"
    before: dict[str, Any] | None = None
    if autogenerate:
        if record is None:
            raise RevisionGraphError(
                "--autogenerate needs the team's record. Fix: pass --schema "
                "module:ClassName (or set OAS_SCHEMA)."
            )
        _, before = _recorded(graph)
        if not _changes(before, team_snapshot(record)):
            raise RevisionGraphError(
                f"{record_path(record)} has no change since the newest team migration: "
                "nothing to generate."
            )
    text = _render(
        revision=revision,
        down_revision=head.revision if head else None,
        description=description or slug.replace("_", " ").capitalize(),
        parent_checksum=checksum(head.path.read_bytes()) if head and head.path else None,
        record=record,
        before=before,
    )
    target = path / f"{revision}.py"
    target.write_text(text, encoding="utf-8")
    return target
