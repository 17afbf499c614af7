"""A loopback TCP proxy in front of a DynamoDB endpoint that injects network faults.

Fault tests need the failures that make optimistic locking hard: a write that
landed but whose answer was lost, a request that never arrived, an answer slower
than the client's read timeout, throttling, a server error after the write landed,
a request that lands late (after the client resent it), a request never answered.
The proxy speaks just enough HTTP/1.1 (headers, ``Content-Length``, chunked
bodies, keep-alive) to find each request's DynamoDB operation in ``X-Amz-Target``
and to read exactly one response per request, so it works with moto
(``Connection: close``) and dynalite (keep-alive) alike. Every request goes
upstream on a fresh connection, so a fault on one request never leaves half a
response in a shared connection.

Example:
    ```python
    async with FaultProxy(endpoint) as proxy:
        proxy.add_rule(op="PutItem", fault="drop_response", times=1)
        client = await make_client(url=proxy.url)
        ...
        assert proxy.forwarded["PutItem"] == 2
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["FAULTS", "Fault", "FaultProxy", "Gate", "Rule"]

Fault = Literal[
    "drop_response",
    "reset_before",
    "delay_response",
    "throttle",
    "hold",
    "server_error",
    "delay_deliver",
    "never_answer",
]
FAULTS: tuple[Fault, ...] = (
    "drop_response",
    "reset_before",
    "delay_response",
    "throttle",
    "hold",
    "server_error",
    "delay_deliver",
    "never_answer",
)
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")

# Bounds so that a forgotten gate or a long delay can never hang a test run.
_HOLD_LIMIT = 15.0
_HEADER_LIMIT = 64 * 1024


class Gate:
    """Where a held request waits: the test sees it arrive, then lets it through."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self._released = asyncio.Event()

    async def wait_arrived(self, timeout: float = 10.0) -> None:
        """Wait until a request is held here; fail the test after `timeout` seconds."""
        await asyncio.wait_for(self.arrived.wait(), timeout)

    def release(self) -> None:
        """Let the held request (and any later one this gate holds) go upstream."""
        self._released.set()

    @property
    def released(self) -> bool:
        """Whether `release` was called."""
        return self._released.is_set()

    async def _wait_released(self) -> None:
        await self._released.wait()


@dataclass
class Rule:
    """One fault: which requests it hits and how many times.

    Attributes:
        op: DynamoDB operation (``"PutItem"``) or None for every request.
        fault: What to do to a matching request.
        times: How many matching requests to hit; None for every one from now on.
        delay: For ``delay_response``: the longest time the answer is held; for
            ``delay_deliver`` (without a gate): the longest time the request is
            held before it goes upstream; for ``never_answer``: the longest time
            the connection is kept open.
        error_code: For ``throttle``: the DynamoDB error code answered.
        probability: Hit a matching request only with this probability
            (drawn from the proxy's seeded random generator).
        after: Let this many matching requests through before hitting any.
        gate: For ``hold``: where the request waits. For ``delay_deliver``
            (optional): the held request goes upstream when the gate opens rather
            than when the client gives up.
        hits: How many requests this rule has hit so far.
        passed: How many matching requests it let through because of `after`.
        delivered: For ``delay_deliver``: set once a held request has been
            forwarded and its upstream answer read (the first time, if
            `times` > 1); never set if the proxy closes first or the upstream
            cannot be reached.
    """

    op: str | None
    fault: Fault
    times: int | None = 1
    delay: float = 5.0
    error_code: str = THROTTLE_CODES[0]
    probability: float = 1.0
    after: int = 0
    gate: Gate | None = None
    hits: int = 0
    passed: int = 0
    delivered: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def exhausted(self) -> bool:
        """Whether the rule has hit all the requests it was meant to."""
        return self.times is not None and self.hits >= self.times

    def matches(self, op: str) -> bool:
        """Whether the rule still applies to a request for `op`."""
        return not self.exhausted and (self.op is None or self.op == op)


@dataclass
class _Message:
    """One HTTP/1.1 message as raw bytes, with what the proxy needs to know of it."""

    head: bytes
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def raw(self) -> bytes:
        return self.head + self.body

    @property
    def wants_close(self) -> bool:
        return "close" in self.headers.get("connection", "").lower()


class FaultProxy:
    """Asyncio TCP proxy on ``127.0.0.1`` (a free port) forwarding to `upstream`.

    Rules are tried in the order they were added; the first one that matches a
    request (and is not exhausted) applies to it. Requests no rule matches are
    forwarded unchanged.

    Attributes:
        seen: Requests received, by operation.
        forwarded: Requests sent to the upstream endpoint, by operation.
        faults: Faults applied, by ``(operation, fault)``.
        log: ``(monotonic time, operation, fault or "forward")`` of every request,
            for the failure messages of tests.
    """

    def __init__(self, upstream: str, *, seed: int = 0, latency: float = 0.0) -> None:
        """Create a proxy for the endpoint URL `upstream` (``http://host:port``).

        Args:
            upstream: The real endpoint.
            seed: Seed of the generator behind probabilistic rules.
            latency: Seconds added to every answer passed on: an emulated round
                trip to a remote region (benchmarks use 6 ms).
        """
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self._upstream = (parts.hostname, parts.port)
        self._random = random.Random(seed)
        self._latency = latency
        self._rules: list[Rule] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._closing = asyncio.Event()
        self.seen: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.faults: Counter[tuple[str, str]] = Counter()
        self.log: list[tuple[float, str, str]] = []
        self.port = 0

    # ---------------------------------------------------------------- control

    @property
    def url(self) -> str:
        """The endpoint URL clients should use."""
        return f"http://127.0.0.1:{self.port}"

    def add_rule(
        self,
        *,
        op: str | None = None,
        fault: Fault,
        times: int | None = 1,
        delay: float = 5.0,
        error_code: str = THROTTLE_CODES[0],
        probability: float = 1.0,
        after: int = 0,
    ) -> Rule:
        """Inject `fault` into the next `times` requests for `op` (None: all of them).

        Args:
            op: DynamoDB operation name, e.g. ``"PutItem"``; None matches every request.
            fault: ``drop_response`` (forward, read the answer, close without
                sending it), ``reset_before`` (reset the connection, forward nothing),
                ``delay_response`` (forward, then hold the answer until the client
                gives up or `delay` passes, and drop it), ``throttle`` (answer 400
                with `error_code` without forwarding), ``hold`` (see `hold_next`),
                ``server_error`` (forward, read the answer, then answer 500
                ``InternalServerError`` instead: the write landed but the client
                is told it failed), ``delay_deliver`` (hold the request until the
                client gives up on it or `delay` passes, then forward it, so it
                lands after the client has given up (and is resending it), and
                drop the answer; the rule's ``delivered`` event is set once it
                landed; see
                `delay_deliver_next`) or ``never_answer`` (forward nothing, answer
                nothing; keep the connection open until the client closes it or
                `delay` passes).
            times: Number of requests to hit; None for every matching request.
            delay: Upper bound on how long ``delay_response`` holds an answer,
                ``delay_deliver`` holds a request (without a gate) and
                ``never_answer`` keeps a connection open.
            error_code: DynamoDB code a ``throttle`` answers with.
            probability: Hit each matching request with this probability only.
            after: Let the first `after` matching requests through untouched.

        Returns:
            The rule, whose ``hits`` tell how often it applied.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
        rule = Rule(op, fault, times, delay, error_code, probability, after)
        if fault == "hold":
            rule.gate = Gate()
        self._rules.append(rule)
        return rule

    def hold_next(self, op: str | None = None, *, times: int | None = 1) -> Gate:
        """Hold the next request for `op` (after earlier rules) until the gate opens.

        Because rules apply in order, ``add_rule(op="PutItem",
        fault="drop_response")`` followed by ``hold_next(op="PutItem")`` holds the
        client's resend of the dropped request.
        """
        gate = self.add_rule(op=op, fault="hold", times=times).gate
        assert gate is not None
        return gate

    def delay_deliver_next(
        self, op: str | None = None, *, times: int | None = 1, gated: bool = False
    ) -> Rule:
        """Deliver the next request for `op` late, after the client gave up on it.

        The request is held until the client gives up on it (it closes the
        connection after its read timeout; at most the rule's ``delay``), then
        forwarded, and its answer dropped. With `gated`, the rule gets a
        ``gate`` instead: ``gate.arrived`` is set when a request is held, and it
        goes upstream only when the test calls ``gate.release()`` (or after
        15 s). Await ``rule.delivered`` to know the late request has landed.
        """
        rule = self.add_rule(op=op, fault="delay_deliver", times=times)
        if gated:
            rule.gate = Gate()
        return rule

    def clear_rules(self) -> None:
        """Remove every rule and open every gate: from now on, forward everything."""
        for rule in self._rules:
            if rule.gate is not None:
                rule.gate.release()
        self._rules.clear()

    # -------------------------------------------------------------- lifecycle

    async def start(self) -> FaultProxy:
        """Start listening; returns the proxy."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def resume_listening(self) -> None:
        """Listen again on the same port after `stop_listening`: the endpoint is back."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop_listening(self) -> None:
        """Close the listening socket and every open connection: the endpoint is down."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self._drop_connections()

    async def close(self) -> None:
        """Stop everything, cutting held and delayed requests short."""
        self._closing.set()
        self.clear_rules()
        if self._server is not None:
            self._server.close()
        await self._drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---------------------------------------------------------------- serving

    def _pick(self, op: str) -> Rule | None:
        for rule in self._rules:
            if rule.matches(op):
                if rule.passed < rule.after:
                    rule.passed += 1
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.hits += 1
                self.faults[(op, rule.fault)] += 1
                return rule
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away mid-request; nothing to answer
        except asyncio.CancelledError:
            pass  # the proxy is closing
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One client connection may carry several requests (keep-alive).
        while not reader.at_eof():
            request = await _read_message(reader, is_response=False)
            if request is None:
                return
            op = request.headers.get("x-amz-target", "").rpartition(".")[2] or "?"
            self.seen[op] += 1
            rule = self._pick(op)
            fault = rule.fault if rule else None
            self.log.append((time.monotonic(), op, fault or "forward"))
            if rule is not None and fault == "hold":
                assert rule.gate is not None
                rule.gate.arrived.set()
                await self._bounded(rule.gate._wait_released(), _HOLD_LIMIT)
            if fault == "reset_before":
                _reset(writer)
                return
            if rule is not None and fault == "throttle":
                writer.write(_error_response("400 Bad Request", rule.error_code, _THROTTLED))
                await writer.drain()
                continue
            if rule is not None and fault == "never_answer":
                # Swallow the request; hold the connection until the client closes it.
                await self._bounded(reader.read(1), rule.delay)
                return
            if rule is not None and fault == "delay_deliver":
                await self._deliver_late(rule, op, request, reader)
                return
            response = await self._forward(op, request)
            if response is None:
                _reset(writer)
                return
            if fault == "drop_response":
                return  # the write landed upstream; the client never hears of it
            if rule is not None and fault == "delay_response":
                # Hold the answer until the client gives up on it (it closes the
                # connection after its read timeout), then drop it.
                await self._bounded(reader.read(1), rule.delay)
                return
            if fault == "server_error":
                # The write landed upstream; the client is told it failed.
                writer.write(
                    _error_response("500 Internal Server Error", "InternalServerError", _FAILED)
                )
                await writer.drain()
                if request.wants_close:
                    return
                continue
            if self._latency:
                await asyncio.sleep(self._latency)
            writer.write(response.raw)
            await writer.drain()
            if response.wants_close or request.wants_close:
                return

    async def _deliver_late(
        self, rule: Rule, op: str, request: _Message, reader: asyncio.StreamReader
    ) -> None:
        """Hold `request` (until its gate opens, or the client gives up), then forward it."""
        if rule.gate is not None:
            rule.gate.arrived.set()
            await self._bounded(rule.gate._wait_released(), _HOLD_LIMIT)
        else:
            await self._bounded(reader.read(1), rule.delay)
        if self._closing.is_set():
            return  # the proxy is closing: deliver nothing
        if await self._forward(op, request) is not None:
            rule.delivered.set()

    async def _bounded(self, awaitable: Awaitable[Any], timeout: float) -> None:
        """Wait for `awaitable`, at most `timeout` seconds, and never past `close()`."""
        waiter = asyncio.ensure_future(awaitable)
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({waiter, closing}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            for task in (waiter, closing):
                task.cancel()
            await asyncio.gather(waiter, closing, return_exceptions=True)

    async def _forward(self, op: str, request: _Message) -> _Message | None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            return None
        try:
            self.forwarded[op] += 1
            up_writer.write(request.raw)
            await up_writer.drain()
            return await _read_message(up_reader, is_response=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            return None
        finally:
            up_writer.transport.abort()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a TCP RST rather than an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


_THROTTLED = "Rate of requests exceeds the allowed throughput (fault proxy)."
_FAILED = "Internal server error (fault proxy)."


def _error_response(status: str, code: str, message: str) -> bytes:
    """A DynamoDB JSON error answer, e.g. ``_error_response("400 Bad Request", ...)``."""
    body = json.dumps(
        {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}
    ).encode()
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        f"x-amzn-RequestId: {uuid.uuid4()}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode()
    return head + body


async def _read_message(reader: asyncio.StreamReader, *, is_response: bool) -> _Message | None:
    """Read one HTTP/1.1 message; None on a clean EOF before its first byte."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise
    if len(head) > _HEADER_LIMIT:
        raise ConnectionError("HTTP header too large")
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    status = lines[0].split(" ", 2)
    no_body = is_response and len(status) > 1 and status[1] in ("204", "304")
    if no_body:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif is_response:
        body = await reader.read()  # framed by the server closing the connection
    else:
        body = b""
    return _Message(head, body, headers)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Read a chunked body, returned still chunk-encoded so it can be relayed verbatim."""
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        parts.append(size_line)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers (usually none) end with an empty line.
            while True:
                line = await reader.readuntil(b"\r\n")
                parts.append(line)
                if line == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))
