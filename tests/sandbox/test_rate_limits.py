"""The sandbox's server-side rate limit: each way of counting admits what it promises, and no more."""

from __future__ import annotations

import pytest

from sandbox.faults import FaultInjector, Faults
from sandbox.rate_limits import ServerRateLimit


def admitted(limit: ServerRateLimit, times: list[float]) -> int:
    return sum(limit.admit(now) for now in times)


def test_a_fixed_window_admits_the_rate_per_whole_second_and_starts_afresh_on_the_next() -> None:
    limit = ServerRateLimit(10, "fixed")
    assert admitted(limit, [100.0 + i / 100 for i in range(15)]) == 10
    assert admitted(limit, [100.9 + i / 1000 for i in range(5)]) == 0
    assert admitted(limit, [101.0 + i / 100 for i in range(15)]) == 10


def test_a_sliding_window_admits_the_rate_in_any_trailing_second() -> None:
    limit = ServerRateLimit(10, "sliding")
    assert admitted(limit, [100.5 + i / 100 for i in range(10)]) == 10
    assert not limit.admit(101.2)  # a fixed window would have started afresh at 101.0
    assert limit.admit(101.5)  # the first admitted one has left the trailing second


def test_a_token_bucket_admits_a_second_s_burst_then_its_refill_rate() -> None:
    limit = ServerRateLimit(10, "bucket")
    start = limit._refilled_at
    assert admitted(limit, [start] * 15) == 10
    assert admitted(limit, [start + 0.5] * 10) == 5


def test_the_fault_injector_answers_429_with_retry_after_1_beyond_the_limit_and_counts_it() -> None:
    injector = FaultInjector(Faults(rate_limit_per_s=3, rate_limit_mode="sliding"))
    decisions = [injector.decide("GET", "/v1/orders") for _ in range(5)]
    assert [d.status for d in decisions] == [None, None, None, 429, 429]
    assert decisions[-1].retry_after_s == 1.0
    assert injector.counters["rate_limited"] == 2


def test_an_unknown_mode_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="rate_limit_mode"):
        Faults(rate_limit_mode="leaky")
    with pytest.raises(ValueError, match="rate_limit_per_s"):
        FaultInjector().update({"rate_limit_per_s": -1})
