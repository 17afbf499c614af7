"""A team's record, as the docs show it: a tenant attribute, two derived ones, an index."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from openai_agents_session import DynamoAttribute, GlobalIndex, HistoryView, SessionRecord


def count_items(view: HistoryView) -> int:
    return view.count


def last_role_of(view: HistoryView) -> str | None:
    # The newest item is in the head unless pops reached into the pages.
    if not view.items:
        return None
    role = view.items[-1].get("role")
    return role if isinstance(role, str) else None


class ChatRecord(SessionRecord):
    indexes: ClassVar[tuple[GlobalIndex, ...]] = (
        GlobalIndex("by_tenant", partition_key="tenant_id", sort_key="updated_at"),
    )
    tenant_id: Annotated[str | None, DynamoAttribute("S", "attribute")] = None
    message_count: Annotated[int | None, DynamoAttribute("N", "derived", derive=count_items)] = None
    last_role: Annotated[str | None, DynamoAttribute("S", "derived", derive=last_role_of)] = None


TEAM_NAMES = ("tenant_id", "message_count", "last_role")


def team_values(item: dict[str, Any] | None) -> dict[str, Any]:
    """The team's attributes of a raw stored head, decoded here by hand."""
    assert item is not None
    found: dict[str, Any] = {}
    if "tenant_id" in item:
        found["tenant_id"] = item["tenant_id"]["S"]
    if "message_count" in item:
        found["message_count"] = int(item["message_count"]["N"])
    if "last_role" in item:
        found["last_role"] = item["last_role"]["S"]
    return found
