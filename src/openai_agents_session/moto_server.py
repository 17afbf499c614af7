"""Run moto's DynamoDB server on loopback, one request at a time.

``python -m moto.server`` serves requests on threads, and moto evaluates a
ConditionExpression and stores the item without a lock, so two conditional writes
on one key can both succeed (seen here about once in a hundred rounds of eight
simultaneous writers). Real DynamoDB never does that. Serving one request at a
time restores the atomicity that optimistic locking relies on, at the cost of
throughput a local endpoint does not need.

Usage: ``python -m openai_agents_session.moto_server --host 127.0.0.1 --port 8000``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

__all__ = ["command", "main"]


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


def _stop(signum: int, frame: Any) -> None:
    sys.exit(0)


def main(argv: list[str] | None = None) -> None:
    """Serve moto's backends on `--host`:`--port` until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

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
