"""When a failed request to Billit is sent again (`Repeat`, `retry_delay`), and holding back a client whose every
request fails (`OutageBreaker`), so that it does not spend the key's shared pace on errors.

Each request retries a 5xx answer or a transport error on its own, up to `BILLIT_MAX_RETRIES` (~19 s of backoff
by default). When Billit fails every request of a client at once (one company whose books it cannot serve, or an
outage), each of the hundreds of requests in flight or waiting spent its own retries at the pace the shared rate
limit allows, and took that pace from every other company of the key: an outside test counted 4,815 answers of
500 for one company in 114 s, and the healthy companies queued behind it finished three times later.

So after `STREAK` failures in a row, with no answer other than a 5xx in between, the client sends one request at a
time, its backoff included. Once the failures have lasted longer than one request's retries would, no request is
retried: each fails after one try with its error, the outcome its own retries would have reached, minutes and
thousands of requests sooner. Any answer other than a 5xx (a success, a 404, a 400) closes it again. A 429 says
nothing about the company and changes nothing here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum

from connectors.billit.errors import BillitError, BillitRateLimitedError, BillitTransportError
from connectors.billit.settings import BillitSettings

__all__ = ["STREAK", "OutageBreaker", "Repeat", "retries_last_s", "retry_delay"]

STREAK = 8  # failures in a row (one per lane of a default client) before one request at a time

logger = logging.getLogger("connectors.billit")


class Repeat(Enum):
    """When a failed request may be sent again."""

    ALWAYS = "always"  # safe to repeat: reads, PATCH
    IF_UNSENT = "if_unsent"  # only when Billit surely did not process it


def retry_delay(
    settings: BillitSettings, error: BillitError, attempt: int, repeat: Repeat, jitter: random.Random
) -> float | None:
    """Seconds to wait before the next attempt, or None when the error must be raised."""
    if not error.retryable or attempt >= min(settings.max_retries, error.retries_at_most):
        return None
    if repeat is Repeat.IF_UNSENT and not (
        isinstance(error, BillitRateLimitedError)
        or (isinstance(error, BillitTransportError) and not error.maybe_processed)
    ):
        return None
    if isinstance(error, BillitRateLimitedError) and error.retry_after is not None:
        if error.retry_after > settings.max_retry_after_s:
            return None
        # No jitter: once it has a pace the limiter spaces them out, and the largest jitter held them all back.
        return error.retry_after
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2**attempt)
    return jitter.uniform(ceiling / 2, ceiling)


def retries_last_s(settings: BillitSettings) -> float:
    """How long one request's retries of a 5xx last at most: its backoff steps, each at its ceiling."""
    steps = range(settings.max_retries)
    return sum(min(settings.backoff_max_s, settings.backoff_base_s * 2**step) for step in steps)


class OutageBreaker:
    """One per client. `turn()` around each attempt; `failed(error)` and `answered()` with its outcome."""

    def __init__(self, give_up_after_s: float) -> None:
        self._give_up_after_s = give_up_after_s
        self._failures = 0
        self._first_failure_at = 0.0  # time.monotonic() of the streak's first failure
        self._one_at_a_time = asyncio.Lock()

    @property
    def holding_back(self) -> bool:
        return self._failures >= STREAK

    def gives_up_on(self, error: BillitError) -> bool:
        """Whether a request that failed with `error` is not retried: failing for longer than one request's retries
        (a 429 is, as Billit asks)."""
        failing_s = time.monotonic() - self._first_failure_at
        return self.holding_back and failing_s > self._give_up_after_s and not isinstance(error, BillitRateLimitedError)

    def failed(self, error: BillitError) -> None:
        if self._failures == 0:
            self._first_failure_at = time.monotonic()
        self._failures += 1
        if self._failures == STREAK:
            logger.warning(
                "Billit failed %d requests in a row (%s): one request at a time until one is answered", STREAK, error
            )

    def answered(self) -> None:
        self._failures = 0

    @asynccontextmanager
    async def turn(self, retrying: BillitError | None) -> AsyncIterator[bool]:
        """Wait for this attempt's turn; True while requests go one at a time (the caller then backs off inside
        its turn). `retrying` is the request's own last error, None for its first attempt. Once the failures have
        lasted past a request's retries, a retry is not sent: it raises that error. A first attempt still is, one
        at a time, so a request asked after that (the company's listing, to tell one bad order from an outage)
        gets its own answer."""
        if not self.holding_back:
            yield False
            return
        async with self._one_at_a_time:
            if retrying is not None and self.gives_up_on(retrying):
                raise retrying
            yield self.holding_back
