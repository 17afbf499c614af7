"""Loading migration files and checking that they form chains.

A migration is a module named ``NNNN_slug.py`` that defines ``revision`` (equal
to the file's stem), ``down_revision`` (its parent, None for the first of its
chain), ``description``, ``async def upgrade(ctx)`` and optionally
``async def downgrade(ctx)`` and ``async def verify(ctx) -> list[str]`` (the
differences between the live table and the migration's end state, used to adopt
a table that already has it).

Two independent chains: the library's built-in one ships in ``versions/``; a
team's folder holds its own, whose first migration has ``down_revision = None``.
A library release that adds a built-in migration therefore never collides with a
team's numbering. `up` applies the built-in chain first, then the team's.

In a team folder, any other ``.py`` file must start with ``_`` (a helper module,
imported with ``from ._helpers import x``); anything else is an error, so a
misnamed migration is never silently skipped. `build_graph` rejects duplicates,
gaps, two roots, two heads and cycles before anything touches DynamoDB.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import inspect
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from .errors import RevisionGraphError, UnknownRevisionError

if TYPE_CHECKING:
    from .context import MigrationContext
    from .ops import Operation

__all__ = [
    "BUILTIN_DIR",
    "FILE_PATTERN",
    "Migration",
    "MigrationGraph",
    "build_graph",
    "checksum",
    "load_file",
    "load_migrations",
    "migration_files",
]

BUILTIN_DIR = Path(__file__).resolve().parent / "versions"
"""Where the built-in migrations live."""

FILE_PATTERN = re.compile(r"^\d{4,}_[a-z0-9][a-z0-9_]*\.py$")
"""Names of migration files: four or more digits, an underscore, a lower-case slug."""

HELPER_PATTERN = re.compile(r"^_[A-Za-z0-9_]*\.py$")
"""Other modules allowed in a migrations folder: helpers (and ``__init__.py``)."""

Chain = Literal["builtin", "team"]

Step = Callable[["MigrationContext"], Awaitable[None]]
Verify = Callable[["MigrationContext"], Awaitable[list[str]]]


@dataclass(frozen=True)
class Migration:
    """One migration file, loaded.

    Attributes:
        revision: Its id, e.g. ``0004_add_tenant_index`` (the file's stem).
        down_revision: Its parent's id; None for the root.
        description: One line saying what it does.
        upgrade: ``async def upgrade(ctx)``.
        downgrade: ``async def downgrade(ctx)``, or None when irreversible.
        verify: ``async def verify(ctx) -> list[str]``, or None; lets a table
            that already has the migration's effect be adopted.
        checksum: SHA-256 of the file (line endings normalised to LF).
        path: The file.
        builtin: Shipped with the package rather than a team's folder.
        schema_snapshot: The schema this migration leaves the table in, when it
            records one (``migrate check`` compares it with `SessionRecord`).
        schema_fingerprint: SHA-256 of `schema_snapshot`, recorded alongside it.
        parent_checksum: The checksum its parent's file had when this one was
            written (``migrate new`` records it), so an edit of a migration that
            has a successor is caught offline.
        depends_on: The built-in revision a team chain's first migration was
            written after (a ``down_revision`` naming a built-in one, as before
            the chains were separate); None otherwise.
        operations: The `ops` operations a generated migration lists (its
            ``operations``), replayed in memory by ``check --offline``; None
            for a hand-written one.
    """

    revision: str
    down_revision: str | None
    description: str
    upgrade: Step
    downgrade: Step | None = None
    verify: Verify | None = None
    checksum: str = ""
    path: Path | None = None
    builtin: bool = False
    schema_snapshot: Mapping[str, Any] | None = field(default=None, compare=False)
    schema_fingerprint: str | None = None
    parent_checksum: str | None = None
    depends_on: str | None = None
    operations: tuple[Operation, ...] | None = field(default=None, compare=False)

    @property
    def chain(self) -> Chain:
        """Which chain the migration belongs to."""
        return "builtin" if self.builtin else "team"

    @property
    def reversible(self) -> bool:
        """Whether `downgrade` exists."""
        return self.downgrade is not None


@dataclass(frozen=True)
class MigrationGraph:
    """The migrations in order of application: the built-in chain, then the team's.

    Attributes:
        chain: Every migration in order of application.
    """

    chain: tuple[Migration, ...]

    @property
    def head(self) -> Migration:
        """The last migration."""
        return self.chain[-1]

    @property
    def builtin(self) -> tuple[Migration, ...]:
        """The library's chain."""
        return tuple(m for m in self.chain if m.builtin)

    @property
    def team(self) -> tuple[Migration, ...]:
        """The team's chain (empty without a migrations folder)."""
        return tuple(m for m in self.chain if not m.builtin)

    @property
    def builtin_head(self) -> Migration:
        """The last built-in migration."""
        return self.builtin[-1] if self.builtin else self.chain[-1]

    @property
    def team_head(self) -> Migration | None:
        """The last team migration, if any."""
        team = self.team
        return team[-1] if team else None

    def of_chain(self, chain: Chain) -> tuple[Migration, ...]:
        """The migrations of one chain, in order."""
        return self.builtin if chain == "builtin" else self.team

    @property
    def revisions(self) -> list[str]:
        """Every revision id, in order."""
        return [m.revision for m in self.chain]

    def get(self, revision: str) -> Migration:
        """The migration with this id.

        Raises:
            UnknownRevisionError: No such revision.
        """
        return self.chain[self.index(revision)]

    def index(self, revision: str) -> int:
        """Position of `revision` in the chain.

        Raises:
            UnknownRevisionError: No such revision.
        """
        if revision == "head":
            return len(self.chain) - 1
        for position, migration in enumerate(self.chain):
            if migration.revision == revision:
                return position
        known = ", ".join(self.revisions)
        raise UnknownRevisionError(
            f"unknown revision {revision!r}. Fix: use one of: {known} (or 'head')."
        )

    def upto(self, revision: str | None) -> tuple[Migration, ...]:
        """The chain from the root through `revision` (the whole chain for None)."""
        if revision is None:
            return self.chain
        return self.chain[: self.index(revision) + 1]


def checksum(data: bytes) -> str:
    """SHA-256 of a migration file's bytes, with CRLF normalised so checkouts agree."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def _problem(path: Path, message: str) -> RevisionGraphError:
    return RevisionGraphError(f"migration file {path}: {message}")


def _coroutine_function(module: ModuleType, name: str, path: Path, *, required: bool) -> Any:
    fn = getattr(module, name, None)
    if fn is None:
        if required:
            raise _problem(path, f"defines no `async def {name}(ctx)`.")
        return None
    if not inspect.iscoroutinefunction(fn):
        raise _problem(path, f"`{name}` must be an `async def` taking the migration context.")
    return fn


def _package_for(folder: Path) -> str:
    """A synthetic package for a team folder, so migrations can import ``._helpers``."""
    name = f"_oas_migrations_{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]}"
    if name not in sys.modules:
        init = folder / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            name, init if init.is_file() else None, submodule_search_locations=[str(folder)]
        )
        if spec is None:
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(folder)]
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        if spec.loader is not None:
            spec.loader.exec_module(package)
    return name


def load_file(path: Path, *, builtin: bool = False) -> Migration:
    """Import one migration file and check its module attributes.

    Raises:
        RevisionGraphError: The file is missing ``revision``, ``down_revision`` or
            ``upgrade``, or its ``revision`` does not equal its file name.
    """
    data = path.read_bytes()
    digest = checksum(data)
    package = _package_for(path.parent)
    name = f"{package}.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _problem(path, "cannot be imported.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise _problem(path, f"raised {type(exc).__name__} on import: {exc}") from exc
    revision = getattr(module, "revision", None)
    if revision != path.stem:
        raise _problem(path, f"`revision = {revision!r}` must equal the file name, {path.stem!r}.")
    if not hasattr(module, "down_revision"):
        raise _problem(path, "defines no `down_revision` (its parent's id, or None).")
    down_revision = module.down_revision
    if down_revision is not None and not isinstance(down_revision, str):
        raise _problem(path, f"`down_revision` must be a str or None, got {down_revision!r}.")
    description = getattr(module, "description", None) or (module.__doc__ or "").strip()
    snapshot = getattr(module, "schema_snapshot", None)
    fingerprint = getattr(module, "schema_fingerprint", None)
    parent_checksum = getattr(module, "parent_checksum", None)
    return Migration(
        operations=_operations(module, path),
        revision=revision,
        down_revision=down_revision,
        description=str(description).splitlines()[0] if description else "",
        upgrade=_coroutine_function(module, "upgrade", path, required=True),
        downgrade=_coroutine_function(module, "downgrade", path, required=False),
        verify=_coroutine_function(module, "verify", path, required=False),
        checksum=digest,
        path=path,
        builtin=builtin,
        schema_snapshot=snapshot,
        schema_fingerprint=fingerprint,
        parent_checksum=parent_checksum if isinstance(parent_checksum, str) else None,
    )


def _operations(module: ModuleType, path: Path) -> tuple[Operation, ...] | None:
    from .ops import Operation

    found = getattr(module, "operations", None)
    if found is None:
        return None
    if not isinstance(found, (list, tuple)) or not all(isinstance(o, Operation) for o in found):
        raise _problem(
            path,
            "`operations` must be a list of openai_agents_session.migrations.ops operations. "
            "Fix: regenerate it (`migrate rebase`), or rename the variable.",
        )
    return tuple(found)


def migration_files(folder: Path) -> list[Path]:
    """The migration files of `folder`, sorted, without importing them.

    Raises:
        RevisionGraphError: The folder is missing, or a ``.py`` file is named
            neither like a migration nor like a helper.
    """
    if not folder.is_dir():
        raise RevisionGraphError(
            f"migrations folder {folder} does not exist. Fix: pass --migrations-dir "
            "(or OAS_MIGRATIONS_DIR) pointing at your `versions/` folder."
        )
    found: list[Path] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix != ".py":
            continue
        if FILE_PATTERN.match(path.name):
            found.append(path)
        elif not HELPER_PATTERN.match(path.name):
            raise _problem(
                path,
                "is not named like a migration (NNNN_slug.py: four or more digits, an "
                "underscore, lower-case letters, digits and underscores) nor like a helper "
                "module (a name starting with `_`). Fix: rename it, e.g. "
                f"{_suggest(path.name)!r}.",
            )
    return found


def _suggest(name: str) -> str:
    stem = name[:-3]
    digits = re.match(r"^(\d+)", stem)
    number = int(digits.group(1)) if digits else 0
    rest = stem[digits.end() :] if digits else stem
    slug = re.sub(r"[^a-z0-9]+", "_", rest.lower()).strip("_") or "change"
    return f"{number:04d}_{slug}.py" if digits else f"_{slug}.py"


def load_migrations(migrations_dir: str | Path | None = None) -> MigrationGraph:
    """Load the built-in chain and a team's folder, and check each forms one chain.

    Args:
        migrations_dir: A folder of the team's own ``NNNN_slug.py`` migrations
            (an independent chain, applied after the built-in one); None for
            the built-in chain only.

    Raises:
        RevisionGraphError: A file is malformed or misnamed, or the files do not
            form chains.
    """
    migrations = [load_file(p, builtin=True) for p in migration_files(BUILTIN_DIR)]
    if migrations_dir is not None:
        migrations += [load_file(p) for p in migration_files(Path(migrations_dir))]
    return build_graph(migrations)


def _where(migration: Migration) -> str:
    return str(migration.path) if migration.path else migration.revision


def build_graph(migrations: Iterable[Migration]) -> MigrationGraph:
    """Order the built-in and the team migrations into their chains.

    A team migration whose ``down_revision`` names a built-in revision starts
    the team chain (files written when team chains followed the built-in head).

    Raises:
        RevisionGraphError: A duplicate id, a parent that does not exist (gap),
            more than one root, two migrations with the same parent (two heads),
            or a cycle.
    """
    by_id: dict[str, Migration] = {}
    for migration in migrations:
        if migration.revision in by_id:
            raise RevisionGraphError(
                f"revision {migration.revision!r} is defined twice: "
                f"{_where(by_id[migration.revision])} and {_where(migration)}. "
                "Fix: rename one of them (and its `revision`)."
            )
        by_id[migration.revision] = migration
    if not by_id:
        raise RevisionGraphError("no migrations found. Fix: reinstall openai-agents-session.")
    builtin_ids = {r for r, m in by_id.items() if m.builtin}
    for revision, migration in list(by_id.items()):
        parent = migration.down_revision
        if not migration.builtin and parent in builtin_ids:
            by_id[revision] = replace(migration, down_revision=None, depends_on=parent)
    chain = [
        *_order([m for m in by_id.values() if m.builtin], by_id),
        *_order([m for m in by_id.values() if not m.builtin], by_id),
    ]
    return MigrationGraph(chain=tuple(chain))


def _order(members: list[Migration], by_id: Mapping[str, Migration]) -> list[Migration]:
    if not members:
        return []
    ids = {m.revision for m in members}
    children: dict[str | None, list[Migration]] = {}
    for migration in members:
        parent = migration.down_revision
        if parent is not None and parent not in ids:
            where = "the built-in chain" if parent in by_id else "any chain"
            raise RevisionGraphError(
                f"gap: {migration.revision!r} follows {parent!r}, which is not in {where}. "
                "Fix: set its down_revision to the previous migration of its own folder "
                "(None for the first)."
            )
        children.setdefault(parent, []).append(migration)
    roots = children.get(None, [])
    if len(roots) > 1:
        names = ", ".join(sorted(m.revision for m in roots))
        raise RevisionGraphError(
            f"more than one first migration (down_revision = None): {names}. "
            "Fix: chain each after the one before it."
        )
    for parent, kids in children.items():
        if parent is not None and len(kids) > 1:
            first, second = sorted(m.revision for m in kids)[:2]
            folder = kids[0].path.parent if kids[0].path else "DIR"
            raise RevisionGraphError(
                f"two heads: {first} and {second} both follow {parent!r} (two branches "
                "merged). Fix: move the one no table has applied yet after the other: "
                f"`openai-agents-session migrate rebase {second} --migrations-dir {folder}`, "
                f"or `openai-agents-session migrate rebase {first} --migrations-dir {folder}` "
                f"if {second} is the one already applied; it rewrites its down_revision and "
                "parent_checksum and regenerates a generated one."
            )
    chain: list[Migration] = []
    current: Migration | None = roots[0] if roots else None
    while current is not None:
        chain.append(current)
        following = children.get(current.revision, [])
        current = following[0] if following else None
    if len(chain) != len(members):
        stranded = sorted(ids - {m.revision for m in chain})
        raise RevisionGraphError(
            f"cycle: {_cycle_text(by_id, stranded[0])} never reaches the first migration. "
            "Fix: correct the down_revision of one of them."
        )
    return chain


def _cycle_text(by_id: Mapping[str, Migration], start: str) -> str:
    seen: list[str] = []
    current: str | None = start
    while current is not None and current not in seen:
        seen.append(current)
        current = by_id[current].down_revision
    if current is not None:
        loop = [*seen[seen.index(current) :], current]
        return " -> ".join(loop)
    return " -> ".join(seen)
