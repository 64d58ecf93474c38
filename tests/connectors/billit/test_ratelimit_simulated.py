"""The rate limiter's learning on a virtual clock, against the sandbox's server-side limit in each mode.

Over real HTTP (test_ratelimit.py) a run starts wherever the clock happens to be, so the cases that hang on where
a run starts within a server's second (a first burst straddling two fixed windows) come up only now and then.
Here the clock is virtual and the start is chosen: one client sends back to back at `SEND_RATE` (as a client
with several requests in flight does until it is paced) and every answer comes at once.
"""

from __future__ import annotations

import pytest

from connectors.billit import ratelimit
from connectors.billit.ratelimit import AdaptiveRateLimiter
from sandbox.rate_limits import RATE_LIMIT_MODES, ServerRateLimit

LIMIT = 60.0
SEND_RATE = 400.0  # requests a second an unpaced client gets through (8 in flight, 20 ms each)
REQUESTS = 3000  # accepted ones: 50 s at the limit


class VirtualClock:
    def __init__(self, start: float) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


async def run(clock: VirtualClock, mode: str) -> tuple[int, int, float, AdaptiveRateLimiter]:
    """REQUESTS accepted requests through a limiter told nothing; (accepted, refused, elapsed s, limiter)."""
    server = ServerRateLimit(LIMIT, mode, now=clock.now)
    limiter = AdaptiveRateLimiter()
    started, accepted, refused = clock.now, 0, 0
    while accepted < REQUESTS:
        ticket = await limiter.acquire()
        clock.now += 1.0 / SEND_RATE
        if server.admit(clock.now):
            accepted += 1
            limiter.answered(ticket, 200, None)
        else:
            refused += 1
            limiter.answered(ticket, 429, "1")
    return accepted, refused, clock.now - started, limiter


@pytest.mark.parametrize("mode", RATE_LIMIT_MODES)
@pytest.mark.parametrize("start_in_second", [0.0, 0.3, 0.6, 0.8, 0.9, 0.95])
async def test_the_limit_is_learnt_wherever_a_run_starts_in_the_servers_second(
    mode: str, start_in_second: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = VirtualClock(1000.0 + start_in_second)
    monkeypatch.setattr(ratelimit, "time", clock)
    monkeypatch.setattr(ratelimit.asyncio, "sleep", clock.sleep)
    accepted, refused, elapsed, limiter = await run(clock, mode)
    assert refused / (accepted + refused) < 0.01
    # A token bucket lets a pace a little over its rate through for as long as its reserve lasts.
    assert limiter.rate is not None and 0.9 * LIMIT < limiter.rate < 1.1 * LIMIT
    # The first refusal's pause (Retry-After: 1) and the margin under the limit are all it may cost.
    assert elapsed < 1.06 * accepted / LIMIT
