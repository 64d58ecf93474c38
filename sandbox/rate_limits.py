"""A server-side request rate limit for the sandbox, counted the three ways real APIs count.

Billit documents no limit (docs/reference/billit-api.md#rate-limits), so a client must not depend on how one is
counted: tests and benches switch the limit on (``Faults.rate_limit_per_s``) in each mode.

- ``fixed``: at most ``per_s`` accepted requests per clock second (windows start on whole seconds), so a
  client may get up to twice the rate across a window boundary.
- ``sliding``: at most ``per_s`` accepted requests in any trailing second (a log of accept times).
- ``bucket``: a token bucket of ``per_s`` tokens, refilled at ``per_s`` a second (a full second's burst), or of
  ``burst`` tokens: 1 spaces requests strictly, as nginx's ``limit_req`` without a burst.

Only accepted requests count; a refused one (429, ``Retry-After: 1``) costs the client nothing but its turn.
"""

from __future__ import annotations

import math
import time
from collections import deque

__all__ = ["RATE_LIMIT_MODES", "ServerRateLimit"]

RATE_LIMIT_MODES = ("fixed", "sliding", "bucket")


class ServerRateLimit:
    """Decides, request by request, whether the limit still admits one more (``admit``)."""

    def __init__(self, per_s: float, mode: str, *, now: float | None = None, burst: float | None = None) -> None:
        if mode not in RATE_LIMIT_MODES:
            raise ValueError(f"rate_limit_mode must be one of {', '.join(RATE_LIMIT_MODES)}, not {mode!r}")
        self.per_s = per_s
        self.mode = mode
        self._window = -1  # the whole second of the fixed window, and the requests it admitted
        self._window_count = 0
        self._accepted: deque[float] = deque()
        self._capacity = per_s if burst is None else burst
        self._tokens = self._capacity
        self._refilled_at = time.monotonic() if now is None else now

    def admit(self, now: float | None = None) -> bool:
        """Whether a request arriving now is accepted (and counted)."""
        now = time.monotonic() if now is None else now
        if self.mode == "fixed":
            window = math.floor(now)
            if window != self._window:
                self._window, self._window_count = window, 0
            if self._window_count >= self.per_s:
                return False
            self._window_count += 1
            return True
        if self.mode == "sliding":
            while self._accepted and self._accepted[0] <= now - 1.0:
                self._accepted.popleft()
            if len(self._accepted) >= self.per_s:
                return False
            self._accepted.append(now)
            return True
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled_at) * self.per_s)
        self._refilled_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
