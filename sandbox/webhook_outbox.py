"""Sending the sandbox's webhooks: a queue, a few sender threads, signatures, retries and the delivery log.

An event is queued by the code that changed an order (under the sandbox lock, which only appends to a heap) and
sent later by one of ``workers`` daemon threads, started at the first event: the API call that caused it never
waits for a receiver. Each attempt is a ``POST`` of the JSON body with ``Content-Type: application/json`` and
``Billit-Signature: t=<unix seconds>,s=<hex HMAC-SHA256(secret, f"{t}." + body)>``
(docs/reference/billit-api.md#webhooks). ``t`` is the real wall clock at the attempt, never the sandbox's
simulated clock: a receiver compares it with its own time. The secret is read at each attempt, so after a
refresh the next attempt is signed with the new one; a deleted webhook's queued deliveries are cancelled.

Billit does not document its retry policy: an attempt that answers anything but 2xx, times out or cannot connect
is retried ``quirks.webhook_retries`` times, ``quirks.webhook_backoff_s`` after the first failure and twice as
long after each next one, each attempt with ``quirks.webhook_timeout_s``. The fault knobs (``faults.py``) lose a
share of deliveries for good (``webhook_drop_rate``: never sent, never retried), fail a share of attempts as if
the receiver were down (``webhook_down_rate``: retried as above), deliver a share twice
(``webhook_duplicate_rate``: the same body once more, signed at its own time) and hold every first attempt back
(``webhook_delay_ms``). Their draws use their own RNG seeded with ``faults.seed``. The same threads run the
sandbox's timed work (:meth:`WebhookOutbox.call_later`): with webhooks registered, a delivery step is applied
when due instead of at the next request, since it fires calls of its own.

Every delivery stays in a log (the last 100,000) with its attempts, for tests and benchmarks:
``GET /_sandbox/webhooks/deliveries``; :meth:`WebhookOutbox.wait_idle` (``POST /_sandbox/webhooks/wait``) waits
until nothing is queued or in flight.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from sandbox.faults import Faults
from sandbox.quirks import Quirks
from sandbox.webhooks import Webhook

__all__ = ["Delivery", "WebhookOutbox", "signature_header"]

_LOG_SIZE = 100_000
_log = logging.getLogger(__name__)
_USER_AGENT = "billit-sandbox-webhooks/1"


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """``t=<timestamp>,s=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>`` (docs/reference/billit-api.md#webhooks)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},s={digest}"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Delivery:
    """One event on its way to one webhook, and what happened to it."""

    delivery_id: int
    hook: Webhook
    entity_type: str
    update_type: str
    entity_id: int
    order_id: int
    body: bytes
    duplicate: bool = False
    status: str = "pending"  # pending, delivered, failed (retries exhausted), dropped (fault), cancelled (deleted)
    created_at: str = field(default_factory=_utc_now)
    created_monotonic: float = field(default_factory=time.monotonic)
    finished_at: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int]:
        """What is sent one at a time: the events of one order to one receiver."""
        return self.hook.url, self.order_id

    def describe(self) -> dict[str, Any]:
        """The log form (no secret, ever)."""
        last = self.attempts[-1] if self.attempts else {}
        return {
            "DeliveryID": self.delivery_id,
            "WebhookID": self.hook.webhook_id,
            "CompanyID": self.hook.company_id,
            "WebhookURL": self.hook.url,
            "EntityType": self.entity_type,
            "EntityUpdateType": self.update_type,
            "UpdatedEntityID": self.entity_id,
            "OrderID": self.order_id,
            "Duplicate": self.duplicate,
            "Status": self.status,
            "Attempts": len(self.attempts),
            "LastStatusCode": last.get("StatusCode"),
            "LastError": last.get("Error"),
            "CreatedAt": self.created_at,
            "FinishedAt": self.finished_at,
            "AttemptLog": list(self.attempts),
            "Payload": json.loads(self.body),
        }


@dataclass
class _Task:
    """Work the sandbox asks to be done later on the sender threads (a delivery step that fires calls)."""

    run: Callable[[], None]
    key: None = None


class WebhookOutbox:
    """The queue of deliveries, its sender threads and the delivery log (see the module docstring)."""

    def __init__(self, faults: Callable[[], Faults], quirks: Callable[[], Quirks], *, workers: int = 4) -> None:
        self._faults = faults
        self._quirks = quirks
        self._workers = workers
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Delivery | _Task]] = []
        self._sequence = 0
        self._in_flight = 0
        self._busy: set[tuple[str, int]] = set()  # (receiver URL, order) of the deliveries being sent
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._log: deque[Delivery] = deque(maxlen=_LOG_SIZE)
        self._rng: random.Random | None = None
        self._rng_seed: int | None = None

    # ---------------------------------------------------------------------------------------------------
    # Queueing (called under the sandbox lock: must not block)

    def enqueue(
        self, hook: Webhook, entity_type: str, update_type: str, entity_id: int, order_id: int, body: bytes
    ) -> None:
        """Queue one event for one webhook, applying the drop, duplicate and delay faults."""
        faults = self._faults()
        with self._cond:
            rng = self._fault_rng(faults)
            delivery = self._new(hook, entity_type, update_type, entity_id, order_id, body, duplicate=False)
            if faults.webhook_drop_rate and rng.random() < faults.webhook_drop_rate:
                delivery.status = "dropped"
                delivery.finished_at = delivery.created_at
                return
            delay = faults.webhook_delay_ms / 1000
            self._push(delivery, delay)
            if faults.webhook_duplicate_rate and rng.random() < faults.webhook_duplicate_rate:
                twin = self._new(hook, entity_type, update_type, entity_id, order_id, body, duplicate=True)
                self._push(twin, delay + rng.uniform(0.05, 0.5))
            self._start_workers()
            self._cond.notify_all()

    def call_later(self, delay_s: float, run: Callable[[], None]) -> None:
        """Run ``run`` on a sender thread after ``delay_s`` (it counts as pending for :meth:`wait_idle`)."""
        with self._cond:
            self._sequence += 1
            heapq.heappush(self._queue, (time.monotonic() + delay_s, self._sequence, _Task(run)))
            self._start_workers()
            self._cond.notify_all()

    def _fault_rng(self, faults: Faults) -> random.Random:
        if self._rng is None or self._rng_seed != faults.seed:
            self._rng = random.Random(f"webhooks-{faults.seed}")
            self._rng_seed = faults.seed
        return self._rng

    def _new(
        self, hook: Webhook, entity_type: str, update_type: str, entity_id: int, order_id: int, body: bytes, *,
        duplicate: bool,
    ) -> Delivery:  # fmt: skip
        self._sequence += 1
        delivery = Delivery(self._sequence, hook, entity_type, update_type, entity_id, order_id, body, duplicate)
        self._log.append(delivery)
        return delivery

    def _push(self, delivery: Delivery | _Task, delay_s: float) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (time.monotonic() + delay_s, self._sequence, delivery))

    def _start_workers(self) -> None:
        if self._threads or self._closed:
            return
        for number in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"billit-sandbox-webhooks-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    # ---------------------------------------------------------------------------------------------------
    # Sending (the worker threads)

    def _work(self) -> None:
        with httpx.Client(trust_env=False, headers={"User-Agent": _USER_AGENT}) as client:
            while True:
                delivery = self._next()
                if delivery is None:
                    return
                try:
                    if isinstance(delivery, _Task):
                        delivery.run()
                    else:
                        self._attempt(client, delivery)
                except Exception:  # a bug must not stop a sender thread; the delivery ends failed, the trace logged
                    _log.exception("the sandbox's webhook sender failed on %r", delivery.key)
                    if isinstance(delivery, Delivery):
                        self._finish(delivery, "failed")
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        if delivery.key is not None:
                            self._busy.discard(delivery.key)
                        self._cond.notify_all()

    def _next(self) -> Delivery | _Task | None:
        with self._cond:
            while True:
                if self._closed:
                    return None
                delivery, wait = self._take_due()
                if delivery is not None:
                    return delivery
                self._cond.wait(wait)

    def _take_due(self) -> tuple[Delivery | _Task | None, float | None]:
        """The first due delivery whose receiver is not busy with the same order (one event of an order at a time
        per receiver, in the order they happened: only a retry lets a later event overtake), or how long to wait."""
        now = time.monotonic()
        skipped: list[tuple[float, int, Delivery | _Task]] = []
        found: Delivery | _Task | None = None
        while self._queue and self._queue[0][0] <= now:
            item = heapq.heappop(self._queue)
            if item[2].key is not None and item[2].key in self._busy:
                skipped.append(item)
                continue
            found = item[2]
            break
        for item in skipped:
            heapq.heappush(self._queue, item)
        if found is not None:
            if found.key is not None:
                self._busy.add(found.key)
            self._in_flight += 1
            return found, None
        if self._queue and self._queue[0][0] > now:
            return None, self._queue[0][0] - now
        return None, None  # nothing due that may go: wait for a notification

    def _attempt(self, client: httpx.Client, delivery: Delivery) -> None:
        hook = delivery.hook
        if not hook.active:
            self._finish(delivery, "cancelled")
            return
        faults, quirks = self._faults(), self._quirks()
        started = time.monotonic()
        attempt: dict[str, Any] = {"At": _utc_now()}
        with self._cond:
            down = bool(faults.webhook_down_rate) and self._fault_rng(faults).random() < faults.webhook_down_rate
        if down:
            attempt["Error"] = "receiver down (simulated)"
        else:
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "Billit-Signature": signature_header(hook.secret, delivery.body, timestamp),
            }
            try:
                response = client.post(
                    hook.url, content=delivery.body, headers=headers, timeout=quirks.webhook_timeout_s
                )
                attempt["StatusCode"] = response.status_code
            except httpx.HTTPError as exc:
                attempt["Error"] = type(exc).__name__  # the class only: a message may quote the URL's query
        attempt["DurationMs"] = round((time.monotonic() - started) * 1000, 1)
        with self._cond:
            delivery.attempts.append(attempt)
        if 200 <= attempt.get("StatusCode", 0) < 300:
            self._finish(delivery, "delivered")
        elif len(delivery.attempts) <= quirks.webhook_retries:
            backoff = quirks.webhook_backoff_s * 2 ** (len(delivery.attempts) - 1)
            with self._cond:
                self._push(delivery, backoff)
                self._cond.notify_all()
        else:
            self._finish(delivery, "failed")

    def _finish(self, delivery: Delivery, status: str) -> None:
        with self._cond:
            delivery.status = status
            delivery.finished_at = _utc_now()

    # ---------------------------------------------------------------------------------------------------
    # Inspection and shutdown

    def deliveries(
        self, *, order_id: int | None = None, webhook_id: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """The log, oldest first, optionally only one order's, one webhook's or one status's deliveries."""
        with self._cond:
            return [
                delivery.describe()
                for delivery in self._log
                if (order_id is None or delivery.order_id == order_id)
                and (webhook_id is None or delivery.hook.webhook_id == webhook_id)
                and (status is None or delivery.status == status)
            ]

    def pending(self) -> int:
        """Deliveries queued (waiting for their first attempt, a retry or a delay) or being sent."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until nothing is queued or in flight (retries included); False when ``timeout_s`` ran out."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the sender threads (queued deliveries stay queued and unsent)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout_s)
