"""Price every write request a client sends by DynamoDB's billing rule.

One write unit per KB (rounded up, at least one) of each item written:

- ``PutItem`` and a ``BatchWriteItem`` put: the item written;
- a ``BatchWriteItem`` delete (and ``DeleteItem``): the item deleted;
- ``UpdateItem``: the larger of the item before and after (its size is
  unchanged by the TTL updates the session sends);
- ``TransactWriteItems``: each action twice.

Reads are priced too (``read_units``): a strongly consistent read costs one read
unit per 4 KB of each item returned.

``strict`` also prices a ``PutItem`` that replaces an item at the larger of the
two, as DynamoDB's provisioned-capacity documentation does. Sizes of items
already stored are those this meter saw written, so a workload whose writes all
go through the one client is priced exactly. The meter hooks botocore's
``provide-client-params`` event: it counts bytes, never time.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from openai_agents_session.models.codec import item_size
from openai_agents_session.models.schema import SCHEMA

_KEY = SCHEMA.partition_key


def units(size: int) -> int:
    """Write units of one item of `size` bytes (DynamoDB's size rule)."""
    return max(1, -(-size // 1024))


class WriteBill:
    """Write units and calls of every request a client sends from now on."""

    def __init__(self, client: Any) -> None:
        self.units = 0
        self.strict = 0
        self.calls: Counter[str] = Counter()
        self.read_units = 0
        self._sizes: dict[str, int] = {}
        client.meta.events.register("provide-client-params.dynamodb", self._on_params)
        client.meta.events.register("after-call.dynamodb", self._on_answer)

    @property
    def total_calls(self) -> int:
        """All calls counted so far."""
        return sum(self.calls.values())

    def _on_answer(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        # Strongly consistent reads: one read unit per 4 KB of each item returned.
        if model.name == "GetItem" and parsed.get("Item"):
            self.read_units += max(1, -(-item_size(parsed["Item"]) // 4096))
        elif model.name == "BatchGetItem":
            for found in (parsed.get("Responses") or {}).values():
                for item in found:
                    self.read_units += max(1, -(-item_size(item) // 4096))

    def _put(self, item: dict[str, Any], factor: int = 1) -> None:
        size = item_size(item)
        key = item[_KEY]["S"]
        before = self._sizes.get(key, 0)
        self.units += factor * units(size)
        self.strict += factor * units(max(size, before))
        self._sizes[key] = size

    def _delete(self, key: dict[str, Any], factor: int = 1) -> None:
        size = self._sizes.pop(key[_KEY]["S"], 0)
        self.units += factor * units(size)
        self.strict += factor * units(size)

    def _on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        self.calls[name] += 1
        if name == "PutItem":
            self._put(params["Item"])
        elif name == "DeleteItem":
            self._delete(params["Key"])
        elif name == "UpdateItem":
            size = self._sizes.get(params["Key"][_KEY]["S"], 0)
            self.units += units(size)
            self.strict += units(size)
        elif name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    if "PutRequest" in request:
                        self._put(request["PutRequest"]["Item"])
                    else:
                        self._delete(request["DeleteRequest"]["Key"])
        elif name == "TransactWriteItems":
            for action in params["TransactItems"]:
                if "Put" in action:
                    self._put(action["Put"]["Item"], 2)
                elif "Delete" in action:
                    self._delete(action["Delete"]["Key"], 2)
                elif "Update" in action:
                    size = self._sizes.get(action["Update"]["Key"][_KEY]["S"], 0)
                    self.units += 2 * units(size)
                    self.strict += 2 * units(size)
