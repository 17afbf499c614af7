"""Drift: the declared schema against the head migration, and the live table against both.

Offline (no AWS), `offline_differences` compares the schema derived from
`SessionRecord` (CreateTable request without the name, TTL specification and the
declared attributes) with the snapshot the newest migration recorded, so a schema
change without a migration fails CI. With a client, `live_differences` compares
the real table: key schema, key attribute types, TTL and billing mode. Every
difference is one line saying what was expected and what was found.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..models.requests import create_table_request, ttl_specification
from ..models.schema import PAGE_SCHEMA, SCHEMA
from .loader import MigrationGraph

__all__ = [
    "billing_differences",
    "edited_differences",
    "key_differences",
    "offline_differences",
    "schema_fingerprint",
    "schema_snapshot",
    "ttl_conflicts",
    "ttl_differences",
]


def schema_snapshot() -> dict[str, Any]:
    """The table-shaping part of the declared schema, as plain JSON-able data.

    The CreateTable request without its table name, the TTL specification, and
    every declared attribute of the head and page records with its DynamoDB
    type and role.
    """
    request = create_table_request("snapshot")
    request.pop("TableName")
    attributes = {
        name: {"type": spec.type, "role": spec.role} for name, spec in SCHEMA.attributes.items()
    }
    pages = {
        name: {"type": spec.type, "role": spec.role}
        for name, spec in PAGE_SCHEMA.attributes.items()
    }
    return {
        "create_table": request,
        "ttl": ttl_specification(),
        "attributes": attributes,
        "page_attributes": pages,
    }


def schema_fingerprint(snapshot: Mapping[str, Any] | None = None) -> str:
    """SHA-256 of a snapshot's canonical JSON (of the current schema by default)."""
    data = schema_snapshot() if snapshot is None else snapshot
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        flat: dict[str, Any] = {}
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    if isinstance(value, list):
        # Key schema and attribute definitions are lists of named dicts: index by name.
        if all(isinstance(v, Mapping) and "AttributeName" in v for v in value):
            flat = {}
            for v in value:
                rest = {k: w for k, w in v.items() if k != "AttributeName"}
                flat.update(_flatten(rest, f"{prefix}[{v['AttributeName']}]"))
            return flat
        return {prefix: value}
    return {prefix: value}


def offline_differences(
    graph: MigrationGraph, current: Mapping[str, Any] | None = None
) -> list[str]:
    """Compare the declared schema with the snapshot recorded by the newest migration.

    Args:
        graph: The loaded migrations.
        current: The snapshot to check; the current `schema_snapshot()` by default.

    Returns:
        One line per difference; empty when the schema matches.
    """
    problems = edited_differences(graph)
    for migration in graph.chain:
        snapshot, fingerprint = migration.schema_snapshot, migration.schema_fingerprint
        if snapshot is not None and fingerprint is not None:
            if schema_fingerprint(snapshot) != fingerprint:
                problems.append(
                    f"migration {migration.revision}: schema_fingerprint does not match its "
                    "own schema_snapshot (the file was edited by hand)."
                )
        elif snapshot is not None or fingerprint is not None:
            problems.append(
                f"migration {migration.revision} records only half of "
                "schema_snapshot/schema_fingerprint."
            )
    recorded = [m for m in graph.builtin if m.schema_fingerprint and m.schema_snapshot]
    if not recorded:
        return [
            *problems,
            "no migration records a schema snapshot. Fix: reinstall openai-agents-session.",
        ]
    head = recorded[-1]
    where = f"migration {head.revision}"
    assert head.schema_snapshot is not None
    now = schema_snapshot() if current is None else current
    if schema_fingerprint(now) == schema_fingerprint(head.schema_snapshot):
        return problems
    before, after = _flatten(head.schema_snapshot), _flatten(now)
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            problems.append(
                f"schema field {name}: {where} recorded {before.get(name)!r}, "
                f"the schema now declares {after.get(name)!r}"
            )
    problems.append(
        f"the schema changed since {where}. Fix: add a migration that changes the "
        "table and records the new schema_snapshot/schema_fingerprint."
    )
    return problems


def edited_differences(graph: MigrationGraph) -> list[str]:
    """Migration files edited after a later migration recorded their checksum.

    ``migrate new`` writes each new file with its parent's checksum
    (``parent_checksum``). A file with a successor is one that may have been
    applied somewhere, so editing it fails the offline check; the newest file
    stays editable until the next one is written.
    """
    problems: list[str] = []
    for chain in (graph.builtin, graph.team):
        by_checksum = {m.checksum: m.revision for m in chain}
        for parent, child in itertools.pairwise(chain):
            if child.parent_checksum is None or child.parent_checksum == parent.checksum:
                continue
            former = by_checksum.get(child.parent_checksum)
            if former is not None and former != parent.revision:
                # Not an edit: its down_revision was moved by hand from `former` to `parent`.
                folder = child.path.parent if child.path else "DIR"
                problems.append(
                    f"{child.revision} was written on top of {former} and chained after "
                    f"{parent.revision} by hand; its parent_checksum is still {former}'s. "
                    f"Fix: `openai-agents-session migrate rebase {child.revision} "
                    f"--migrations-dir {folder}` (it regenerates it on top of the new parent); "
                    f"if a table has applied {child.revision} already, `openai-agents-session "
                    f"migrate rebase {parent.revision} --migrations-dir {folder}` instead (it "
                    f"puts {child.revision} back and moves {parent.revision} after it)."
                )
            else:
                problems.append(
                    f"{parent.revision} was edited after {child.revision} was written on top "
                    f"of it (checksum {parent.checksum[:12]}, {child.revision} recorded "
                    f"{child.parent_checksum[:12]}). Fix: restore {parent.revision} from "
                    "version control and put the change in a new migration."
                )
    return problems


def _pairs(entries: Sequence[Mapping[str, Any]], value: str) -> dict[str, str]:
    return {str(e["AttributeName"]): str(e[value]) for e in entries}


def key_differences(table: Mapping[str, Any]) -> list[str]:
    """Key schema and key attribute types of a DescribeTable ``Table`` against the schema."""
    expected = create_table_request(str(table.get("TableName", "x")))
    problems: list[str] = []
    want_keys = _pairs(expected["KeySchema"], "KeyType")
    have_keys = _pairs(table.get("KeySchema", []), "KeyType")
    if want_keys != have_keys:
        problems.append(
            f"key schema: expected {_describe(want_keys)}, found {_describe(have_keys)}"
        )
    want_types = _pairs(expected["AttributeDefinitions"], "AttributeType")
    have_types = _pairs(table.get("AttributeDefinitions", []), "AttributeType")
    for name, kind in want_types.items():
        if have_types.get(name, kind) != kind:
            problems.append(
                f"attribute definition {name}: expected type {kind}, found {have_types[name]}"
            )
    return problems


def _ttl_command(table_name: str, attribute: str, enabled: bool) -> str:
    flag = "true" if enabled else "false"
    return (
        f"aws dynamodb update-time-to-live --table-name {table_name} "
        f"--time-to-live-specification Enabled={flag},AttributeName={attribute}"
    )


def ttl_differences(description: Mapping[str, Any], table_name: str = "<table>") -> list[str]:
    """A DescribeTimeToLive ``TimeToLiveDescription`` against TTL on the schema's attribute."""
    want = ttl_specification()["AttributeName"]
    status = description.get("TimeToLiveStatus", "DISABLED")
    attribute = description.get("AttributeName")
    if status in ("ENABLED", "ENABLING"):
        if attribute != want:
            return ttl_conflicts(description, table_name)
        return []
    return [
        f"TTL: expected ENABLED on attribute {want!r}, found {status}. Fix: enable it again "
        f"with `{_ttl_command(table_name, want, True)}` (DynamoDB allows one TTL change per "
        "hour)."
    ]


def ttl_conflicts(description: Mapping[str, Any], table_name: str = "<table>") -> list[str]:
    """TTL enabled on another attribute than the schema's: no migration can fix that."""
    want = ttl_specification()["AttributeName"]
    status = description.get("TimeToLiveStatus", "DISABLED")
    attribute = description.get("AttributeName")
    if status in ("ENABLED", "ENABLING") and attribute != want:
        return [
            f"TTL: expected on attribute {want!r}, found {status} on {attribute!r}; a table "
            "has one TTL attribute, so enabling it on the schema's would fail. Fix: disable "
            f"it with `{_ttl_command(table_name, str(attribute), False)}`, wait for DISABLED "
            "(up to an hour), then rerun; or use another table."
        ]
    return []


def billing_differences(table: Mapping[str, Any], billing_mode: str) -> list[str]:
    """The table's billing mode against `billing_mode`."""
    found = (table.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
    if found != billing_mode:
        return [f"billing mode: expected {billing_mode}, found {found}"]
    return []


def _describe(keys: Mapping[str, str]) -> str:
    if not keys:
        return "no key"
    return ", ".join(f"{name} ({kind})" for name, kind in keys.items())
