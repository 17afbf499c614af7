"""Run moto's DynamoDB server on loopback, one request at a time.

``python -m moto.server`` serves requests on threads, and moto evaluates a
ConditionExpression and stores the item without a lock, so two conditional writes
on one key can both succeed (seen here about once in a hundred rounds of eight
simultaneous writers). Real DynamoDB never does that. Serving one request at a
time restores the atomicity that optimistic locking relies on, at the cost of
throughput a local endpoint does not need.

moto also grows without bound under a transactional workload: every model instance
is appended to a class-level list, and ``TransactWriteItems`` deep-copies the whole
table once per action so that it can roll back. `bound_memory` turns both off at
server start (see docs/local-development.md for the numbers).

Usage: ``python -m openai_agents_session.moto_server --host 127.0.0.1 --port 8000``.
"""

from __future__ import annotations

import argparse
import copy
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["bound_memory", "command", "main"]


def command(host: str, port: int) -> list[str]:
    """The argv that starts this server as a child process of the current Python."""
    return [
        sys.executable,
        "-m",
        "openai_agents_session.moto_server",
        "--host",
        host,
        "--port",
        str(port),
    ]


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    # moto keeps every instance for its dashboard; nothing here reads that list, and
    # it holds every item version and every rollback copy ever made.
    return object.__new__(cls)


class _UndoLog:
    """The items one transaction may touch, as they were before it ran.

    Only these items can change, so restoring them is a full rollback, at the cost
    of one copy per touched item instead of one copy of the whole table per action.
    """

    def __init__(self, backend: Any, transact_items: list[dict[str, Any]]) -> None:
        self._saved: dict[tuple[str, Any, Any], Any] = {}
        self._streams: dict[str, tuple[Any, int]] = {}
        for action in transact_items:
            for op_type, op in action.items():
                self._remember(backend, op_type, op)

    def _remember(self, backend: Any, op_type: str, op: dict[str, Any]) -> None:
        name = op.get("TableName")
        table = backend.tables.get(name) if isinstance(name, str) else None
        if table is None or not isinstance(name, str):
            return  # moto reports the missing table; nothing of it can change
        keys = op.get("Item") if op_type == "Put" else op.get("Key")
        try:
            hash_key, range_key = backend.get_keys_value(table, keys or {})
        except Exception:  # moto rejects this action before it writes anything
            return
        slot = (name, hash_key, range_key)
        if slot not in self._saved:
            self._saved[slot] = copy.deepcopy(table.get_item(hash_key, range_key))
        shard = table.stream_shard
        if shard is not None and name not in self._streams:
            self._streams[name] = (shard, len(shard.items))

    def restore(self, backend: Any) -> None:
        """Put every remembered item back as it was (or remove it if it did not exist)."""
        for (name, hash_key, range_key), item in self._saved.items():
            table = backend.tables[name]
            if range_key is None:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item
                continue
            bucket = table.items[hash_key]
            if item is None:
                bucket.pop(range_key, None)
                if not bucket:
                    table.items.pop(hash_key, None)
            else:
                bucket[range_key] = item
        for shard, length in self._streams.values():
            del shard.items[length:]


@contextmanager
def _tables_not_copied(table_class: Any) -> Iterator[None]:
    # moto's own rollback copy becomes the table itself (so its restore is a no-op);
    # the undo log does the rollback instead. The server is single-threaded, so the
    # class attribute is never seen by another request.
    table_class.__deepcopy__ = lambda self, memo: self
    try:
        yield
    finally:
        del table_class.__deepcopy__


def _bounded_transact(original: Callable[..., None], table_class: Any) -> Callable[..., None]:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        undo = _UndoLog(self, transact_items)
        try:
            with _tables_not_copied(table_class):
                original(self, transact_items)
        except BaseException:
            undo.restore(self)
            raise

    transact_write_items.__wrapped__ = original  # type: ignore[attr-defined]
    return transact_write_items


def bound_memory() -> None:
    """Patch moto (in this process) so its memory stays bounded under transactions.

    Turns off `BaseModel` instance tracking and replaces the whole-table copy per
    `TransactWriteItems` action with an undo log of the touched items. A failed
    transaction still leaves every item as it was. Calling it twice is harmless.
    """
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    BaseModel.__new__ = staticmethod(_untracked_new)  # type: ignore[method-assign]
    current = DynamoDBBackend.transact_write_items
    if not hasattr(current, "__wrapped__"):
        DynamoDBBackend.transact_write_items = _bounded_transact(current, Table)  # type: ignore[method-assign]


def _stop(signum: int, frame: Any) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    """Serve moto's backends on `--host`:`--port` until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--unbounded",
        action="store_true",
        help="leave moto's memory behaviour as shipped (for benchmarks/bench_moto_memory.py)",
    )
    args = parser.parse_args(argv)
    if not args.unbounded:
        bound_memory()

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    signal.signal(signal.SIGTERM, _stop)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, app, threaded=False, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
