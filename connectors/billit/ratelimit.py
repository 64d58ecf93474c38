"""Pacing requests to Billit: one rate for every client, flow and worker that share a limiter.

Billit documents no rate limit (docs/reference/billit-api.md#rate-limits), so a client cannot wait to be told
one: `AdaptiveRateLimiter` paces requests at `BILLIT_MAX_REQUESTS_PER_S` when it is set, and learns the server's
rate from its 429s either way. Each client only pausing after a 429 is not enough: nothing then keeps the sum of
all clients under the limit, and every refusal costs the whole client a `Retry-After`.

How the rate is learnt, without knowing whether the server counts fixed 1-second windows, a sliding window or a
token bucket:

- Until the first 429 nothing is paced (unless a rate is configured). A refused request opens an *episode*; the
  429s of requests let through before it belong to the same episode and teach nothing new. A Retry-After under a
  second (not a per-second limit's) teaches nothing, nor does a refusal after fewer than `MIN_LEARN` accepted
  requests, except that a client not paced yet starts a pace then (`MIN_LEARN` a second, doubling every second
  without a refusal): a server admitting a few requests at a time would refuse every burst after a handful.
- When the episode's pause (`Retry-After`, honoured here for every request of every client) is over, the
  requests accepted in the second before the first refusal are counted. After a whole second of sending that
  count bounds the server's rate from above in all three modes: it becomes the `ceiling`. The pace becomes 96 %
  of the count, and of the refused pace if that was lower; never below 30 % of the lowest count learnt before
  the ceiling was firm, so refusals that come whatever the pace (faults, not a limit) cannot ratchet it down to
  nothing.
- The run's first refusal usually comes after a shorter burst. Everything accepted in that burst, up to the
  refusal's answer, is a `provisional` ceiling, which later short bursts can only lower: in a fixed or sliding
  window it is the limit (or more, when the burst straddled two windows), and creeping past it would cost a run a
  second refusal and its whole pause. Only a token bucket holding less than a second's worth is underestimated
  by it, until the ceiling relaxes.
- A burst that straddled two fixed windows counts up to twice the limit, and the pace then meets a refusal within
  2.5 s of the pause: a count at a pace above a fixed window's limit is the pace itself, so 4 % under it would
  take a refusal and a pause per 4 %. While the ceiling is still a burst's, a refusal that soon puts the pace half
  way to half the lowest count, from where it climbs fast to 4 % under the refused pace
  (`tests/connectors/billit/test_ratelimit_simulated.py` replays these cases with requests in flight).
- Requests that waited through the first pause, before any pace, take a paced slot when it ends, not all at once;
  and a pause voids every slot reserved before it, so the slots after it are counted afresh from its end (with
  many requests waiting, the old slots reached seconds ahead and went on top of the new ones).
- The pace creeps up while requests wait for it, up to 98 % of the ceiling: 1 % a second, 10 % a second while
  the ceiling is provisional or unknown. The ceiling itself creeps up after a minute without a refusal (a limit
  may be raised), a provisional one faster.
- Requests go at most one interval early (GCRA with a bucket of two): a request its event loop woke late costs no
  slot, and a stalled loop cannot release a burst that a sliding window would refuse.
- Until the first 429, and for the first second of sending without one, a process has at most `LEARNING_IN_FLIGHT`
  requests in flight, whatever its clients' lanes: the first burst's refusals are the requests in flight when the
  server's limit is reached, and two streams side by side had 16 (bench/README.md#rate-limit).

`shared_limiter(settings)` gives every client of the same API key and base URL one limiter: in the process (the
two streams of a flow, each in its own thread and event loop), and through a small state file under the
temporary directory across processes on the same machine (two `billit-etl sync` at once), so they pace as one
client and learn one rate (`connectors/billit/ratelimit_state.py`). Workers on several machines share the
Prefect server's global limit instead (`tasks/runtime.py`), which reaches the limiter as its `gate`.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from connectors.billit.ratelimit_state import SLICE_S, ProcessStore, SharedState, Store, store_for
from connectors.billit.settings import BillitSettings

__all__ = ["AdaptiveRateLimiter", "RequestLimiter", "forget_shared_limiters", "shared_limiter"]

#: A slot of the global limit, awaited before each request (the Prefect server's rate limit, when there is one).
Gate = Callable[[], Awaitable[None]]

MARGIN = 0.96  # of the rate learnt at a refusal (or of the refused pace, if lower): the new pace
CEILING_SHARE = 0.98  # of the learnt ceiling, the highest the pace creeps up to
STEP = 0.01  # a second: how fast the pace creeps up towards the ceiling while requests wait for it
FAST_STEP = 0.10  # a second, while the ceiling is provisional or unknown
WHOLE_SECOND = 0.9  # of sending before a refusal, for its count to bound the server's rate
FLOOR_SHARE = 0.3  # of the lowest count learnt before the ceiling was firm: no lower pace (see _learn)
SOON_S = 2.5  # of sending after a pause: a refusal sooner comes of a pace well over the limit (see _learn)
RELAX_AFTER_S = 60.0  # without a refusal, after which the ceiling itself creeps up (a limit may be raised)
LATE_SHARE = 0.5  # of the interval: a request woken later than this after its slot takes a new one
MIN_LEARN = 10  # accepted requests before a refusal, to learn from it
LEARNING_IN_FLIGHT = 8  # requests in flight in a process while nothing is known of the limit
LEARNING_S = 1.0  # of sending without a refusal, after which the limit is no longer looked for at that cost
FORGET_AFTER_S = 300.0  # idle seconds after which what was learnt no longer holds


class RequestLimiter(Protocol):
    """What `BillitClient` asks before each request and tells after each answer."""

    async def acquire(self) -> float:
        """Wait for this request's turn; returns its ticket, to be handed back to `answered`."""
        ...

    def answered(self, ticket: float, status: int, retry_after: str | None) -> None:
        """The request let through with `ticket` got an answer: its status and Retry-After header."""
        ...

    def release(self) -> None:
        """The request let through by `acquire` is over, answered or not."""
        ...


class AdaptiveRateLimiter:
    """Paces requests at a configured rate (`max_per_s`) or a learnt one, whichever is lower; see the module.

    Safe to share between threads and event loops: nothing in it belongs to a loop, and a request's slot is
    reserved under a lock before it sleeps.
    """

    def __init__(self, max_per_s: float | None = None, *, gate: Gate | None = None, store: Store | None = None):
        self.max_per_s = max_per_s
        self.gate = gate
        self._store: Store = store or ProcessStore()
        self._in_flight_lock = threading.Lock()  # the process's requests in flight, while learning (see the module)
        self._in_flight = 0
        self._learning_until: float | None = None if max_per_s is None else 0.0  # None: nothing sent yet

    @property
    def rate(self) -> float | None:
        """The pace in force (requests a second), None while unpaced."""
        with self._store.transaction() as state:
            return state.rate

    async def acquire(self) -> float:
        if self.gate is not None:
            await self.gate()
        await self._in_flight_slot()
        try:
            return await self._turn()
        except BaseException:  # cancelled while waiting: never sent
            self.release()
            raise

    async def _turn(self) -> float:
        while True:
            with self._store.transaction() as state:
                now = time.monotonic()
                start = self._reserve(state, now)
                paced = state.rate is not None
                pauses = state.pauses
            if paced:
                self._stop_learning()  # a pace is known (learnt here, or by another process): no cap
            if start <= now:
                return now
            await asyncio.sleep(start - now)
            with self._store.transaction() as state:
                now = time.monotonic()
                # Not if a 429 came meanwhile; nor late, when the requests of a stalled event loop would all
                # wake at once: the server counts what arrives, and a burst in a sliding window is a refusal.
                # Nor if the pause just ended is still to be learnt from, or a pace was learnt meanwhile: slots
                # taken through a pause go at the pace it teaches (`_learn` voids the others). Taken unpaced
                # through the run's first pause they would all go at its end, and a sliding window counts that burst
                # on top of the pace; taken through a later one, at the pace it refused.
                late = now - start > LATE_SHARE / state.rate if state.rate else False
                unlearnt = state.refused_ticket is not None or (not paced and state.rate is not None)
                # Nor if a pause came since the slot was reserved: the slots after a pause are counted afresh from
                # its end, at the pace it taught; slots reserved before it would go on top of them, twice the pace
                # for as long as the queue was (seconds, with many requests waiting), and be refused in turn.
                paused = state.pauses != pauses
                if now >= state.resume_at and not late and not unlearnt and not paused:
                    return now

    @property
    def capped(self) -> bool:
        """Whether the process's requests in flight are capped at LEARNING_IN_FLIGHT (the limit is looked for)."""
        with self._in_flight_lock:
            return self._learning_until is None or time.monotonic() < self._learning_until

    def release(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1

    async def _in_flight_slot(self) -> None:
        """Count this request in flight; while learning, wait until fewer than LEARNING_IN_FLIGHT are."""
        while True:
            with self._in_flight_lock:
                now = time.monotonic()
                if self._learning_until is None:
                    self._learning_until = now + LEARNING_S
                if now >= self._learning_until or self._in_flight < LEARNING_IN_FLIGHT:
                    self._in_flight += 1
                    return
            await asyncio.sleep(0.002)  # threads and event loops share the limiter: no loop's primitive will do

    def _stop_learning(self, *, again: bool = False) -> None:
        """No cap on the requests in flight any more; `again`: back to learning, from the next request."""
        with self._in_flight_lock:
            self._learning_until = None if again and self.max_per_s is None else 0.0

    def answered(self, ticket: float, status: int, retry_after: str | None) -> None:
        retry_after_s = _seconds(retry_after)
        # HTTP's Retry-After counts whole seconds, and so does a per-second limit: a refusal asking for less
        # is a blip (a gateway's hiccup, a test's fault), honoured but not learnt from.
        learn = retry_after_s is None or retry_after_s >= 1.0
        if status == 429 and learn:
            self._stop_learning()
        with self._store.transaction() as state:
            now = time.monotonic()
            if status != 429:
                state.count_accepted(ticket)
                return
            state.resume_at = max(state.resume_at, now + (retry_after_s if retry_after_s is not None else 1.0))
            state.next_at = state.resume_at
            state.pauses += 1
            if learn and ticket >= state.episode_at and state.refused_ticket is None:
                state.episode_at = now
                state.refused_ticket = ticket
                state.refused_active_since = state.active_since

    def _reserve(self, state: SharedState, now: float) -> float:
        if not state.used_at or now - state.used_at > FORGET_AFTER_S:
            if state.used_at:
                self._stop_learning(again=True)  # what was learnt no longer holds: the limit is looked for again
            state.__init__()  # type: ignore[misc]
            state.active_since = now
        state.used_at = now
        if state.rate is None and self.max_per_s is not None:
            state.rate = self.max_per_s
        if state.refused_ticket is not None and now >= state.resume_at:
            self._learn(state, now)
        elif state.rate is not None and now - state.probed_at >= 0.5:
            self._creep_up(state, now)
        start = max(now, state.resume_at)
        if state.rate is None:
            return start
        start = max(start, state.next_at)
        state.waited = state.waited or start > now
        state.next_at = start + 1.0 / state.rate
        return start

    def _learn(self, state: SharedState, now: float) -> None:
        refused = state.refused_ticket
        assert refused is not None
        sending = refused - state.refused_active_since
        span = min(1.0, sending)
        if span >= WHOLE_SECOND:
            seen = state.accepted_between(refused - span, refused)
        else:  # a burst: everything accepted until the refusal's answer, in whole slices (see below)
            seen = state.accepted_between(refused - span - SLICE_S, state.episode_at + SLICE_S)
        state.refused_ticket = None
        state.active_since = state.probed_at = now
        state.waited = False
        state.pauses += 1  # the slots taken through the pause, at the pace it refused, are void
        state.next_at = now
        if seen < MIN_LEARN:
            # A refusal after a handful of requests says nothing of a rate. Paced, the pause was all it asked. Not
            # paced yet, every burst after every pause would be refused after its handful again by a server that
            # admits a few at a time (a token bucket holding a few, or none: requests spaced strictly, as nginx's
            # limit_req without a burst): 30-40x the floor, more refusals than requests, in the simulation. So the
            # pace starts at MIN_LEARN a second and doubles every second without a refusal (`_creep_up`), until a
            # refusal is counted over a whole second.
            if state.rate is None:
                state.rate = self._capped(MIN_LEARN)
            return
        firm = state.ceiling is not None and not state.provisional
        if span >= WHOLE_SECOND and sending < SOON_S and state.provisional and state.rate and state.floor_basis:
            # Refused this soon after a pause under a ceiling counted in a burst, the pace was over the limit, by
            # how much unknown: a fixed window admits its limit and refuses, so the second before the refusal holds
            # the pace itself (the end of the window before counts too) and says only "below the pace". That
            # happens after a first burst across two fixed windows, which counts up to twice the limit. The limit
            # lies between half the lowest count learnt and the refused pace: the pace goes half way and climbs
            # back fast (the ceiling stays provisional) to 4 % under the refused pace, rather than take a refusal
            # and its pause per 4 %.
            upper = min(seen, state.rate)
            state.ceiling, state.ceiling_at, state.provisional = MARGIN * upper, now, True
            half_way = max(FLOOR_SHARE * state.floor_basis, (state.floor_basis / 2 + upper) / 2)
            state.rate = self._capped(min(MARGIN * upper, half_way))  # never above the pace refused
            return
        # Over a whole second of sending, the count bounds the server's rate from above in all three ways of
        # counting. Over a shorter burst (the run's start) everything accepted until the refusal's answer does
        # too, unless a token bucket holds less than a second's worth (then the provisional ceiling relaxes
        # fast): it counts the requests that overtook the refused one, which the count by ticket leaves out, and
        # its slices whole, which the count by ticket cuts pro rata: a burst to a server a millisecond away lasts a
        # few milliseconds, a tenth of a slice, and the tenth counted taught nothing
        # (tests/connectors/billit/test_ratelimit_simulated.py).
        if span >= WHOLE_SECOND:
            state.ceiling = min(seen, state.ceiling) if firm and state.ceiling is not None else seen
            state.ceiling_at, state.provisional = now, False
        elif not firm:
            state.ceiling = min(seen, state.ceiling) if state.ceiling is not None else seen
            state.ceiling_at, state.provisional = now, True
        # Refusals that keep coming whatever the pace (faults, not a limit) would otherwise ratchet it to nothing:
        # the pace never goes below 30 % of the lowest count learnt until the ceiling was firm. Not more: a burst
        # straddling two fixed windows counts up to twice the limit, and a floor above the limit would be refused
        # every second.
        if not firm:
            state.floor_basis = seen if state.floor_basis is None else min(seen, state.floor_basis)
        assert state.floor_basis is not None
        floor = FLOOR_SHARE * state.floor_basis
        if state.ceiling is not None:
            state.ceiling = max(state.ceiling, floor / MARGIN)
        state.rate = self._capped(max(floor, MARGIN * min(seen, state.rate or seen)))

    def _creep_up(self, state: SharedState, now: float) -> None:
        assert state.rate is not None
        elapsed = now - state.probed_at
        fast = state.ceiling is None or state.provisional
        if state.ceiling is not None and now - state.ceiling_at > RELAX_AFTER_S:
            state.ceiling *= 1 + (FAST_STEP if fast else STEP) * elapsed / 2
        if state.waited and now >= state.resume_at:
            if state.ceiling is None:  # paced with no count to go by (see _learn): doubling every second
                creep = state.rate * 2 ** min(elapsed, 1.0)  # at most once per look, after a quiet spell too
            else:
                creep = state.rate * (1 + (FAST_STEP if fast else STEP) * elapsed)
                creep = min(creep, max(state.rate, CEILING_SHARE * state.ceiling))
            state.rate = self._capped(creep)
        state.probed_at = now
        state.waited = False

    def _capped(self, rate: float) -> float:
        return max(0.5, rate if self.max_per_s is None else min(rate, self.max_per_s))


_SHARED: dict[tuple[str, float | None], AdaptiveRateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(settings: BillitSettings) -> AdaptiveRateLimiter:
    """The limiter every client of this API key and base URL shares: in the process, and across processes on this
    machine where files can be locked. A Prefect task sets its `gate` while it runs."""
    credential = settings.api_key or settings.bearer_token
    secret = credential.get_secret_value() if credential is not None else ""
    # A one-way digest names the state file: the key itself is never written anywhere.
    digest = hashlib.sha256(f"{settings.base_url.rstrip('/')}\n{secret}".encode()).hexdigest()[:24]
    key = (digest, settings.max_requests_per_s)
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = _SHARED[key] = AdaptiveRateLimiter(settings.max_requests_per_s, store=store_for(digest))
        return limiter


def _seconds(retry_after: str | None) -> float | None:
    """Retry-After in seconds; None when absent, 1 for the HTTP-date form (the client's own pause honours it)."""
    if retry_after is None:
        return None
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        return 1.0


def forget_shared_limiters() -> None:
    """Drop the process's shared limiters: the next client starts from what the state files hold (tests give each
    test its own temporary directory, so each starts with nothing learnt)."""
    with _SHARED_LOCK:
        _SHARED.clear()
