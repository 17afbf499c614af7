"""The shared clock's estimate from Date headers, on a fake monotonic clock."""

from __future__ import annotations

from email.utils import formatdate

from openai_agents_session.clock import ServerClock


def response(unix: float) -> dict[str, object]:
    return {"ResponseMetadata": {"HTTPHeaders": {"date": formatdate(unix, usegmt=True)}}}


def test_before_any_response_the_host_clock_is_used() -> None:
    clock = ServerClock(monotonic=lambda: 5.0)
    assert not clock.known
    assert clock.now(lambda: 123.0) == 123.0
    clock.observe({"ResponseMetadata": {"HTTPHeaders": {}}})
    clock.observe({"ResponseMetadata": {"HTTPHeaders": {"date": "not a date"}}})
    assert not clock.known


def test_the_estimate_follows_the_server_not_the_host() -> None:
    mono = [100.0]
    clock = ServerClock(monotonic=lambda: mono[0])
    clock.observe(response(1_800_000_000))
    assert clock.known
    # Half a second past the truncated header, then it moves with the monotonic clock.
    assert clock.now(lambda: 0.0) == 1_800_000_000.5
    mono[0] += 30
    assert clock.now(lambda: 0.0) == 1_800_000_030.5


def test_the_best_lower_bound_wins() -> None:
    mono = [0.0]
    clock = ServerClock(monotonic=lambda: mono[0])
    clock.observe(response(1_000))
    mono[0] = 0.9
    clock.observe(response(1_001))  # dated later than the first bound predicts
    assert clock.now(lambda: 0.0) == 1_001 - 0.9 + 0.9 + 0.5
    clock.observe(response(990))  # an older date (a delayed answer) changes nothing
    assert clock.now(lambda: 0.0) == 1_001.5
