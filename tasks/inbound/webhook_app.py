"""The webhook receiver: a small Starlette app that verifies Billit's calls, stores them, answers, and wakes the
applier running beside it (docs/reference/billit-api.md#webhooks, docs/operations.md#webhooks).

`POST /` (or `/webhooks/billit`), in this order:

1. the client address's budget of refused calls: a token bucket charged by every call refused below; once it is
   empty, such a call is answered 429 with `Retry-After` instead, and not logged. A verified event, new or a
   replay, is never charged nor refused for rate: Billit may send hundreds at once (a bulk send) and call again
   those whose answer it lost (its retry policy is unknown), and a forger sharing its address (a proxy) must not
   spend its budget: a 429 to a real event could lose it until the next scheduled sync;
2. the body, read up to `max_body_bytes` (413 beyond it, from `Content-Length` or while reading, never read whole);
3. the signature (`connectors.billit.webhook_signature.verify`: every secret compared in constant time, a signed
   time more than `tolerance_s` away refused): 401 with one log line saying why, never a secret. When a
   call comes `SECRETS_REREAD_S` after the last reading, the secrets are read again, so a new or rotated webhook
   needs no restart, and a secret rotated away or deleted stops verifying within seconds;
4. the JSON (400 when it is none, or not an object, or the URL's `company` parameter is not a PartyID); the
   company is the one the body names, else the one that parameter names (`webhooks register` adds it), else the
   configured BILLIT_PARTY_ID;
5. stored in `webhook_events` and committed (`store_event`), then 200 `{"stored": true}`. A database that fails
   answers 503, so Billit calls again later: nothing that got a 200 is lost.

A replay (the same webhook and mac again) is answered 200 `{"stored": false, "replay": true}` and changes nothing.
Not 409: Billit's own retry of a call whose answer it lost is signed the same way, and its retry policy is unknown;
an error would make it retry a call we already hold, perhaps for ever, and count our endpoint as failing.

The applier (`apply_due()` applies what is due, `aclose()` ends it) runs as a task of the app's lifespan: woken
after every stored event, and every `poll_s` for the events waiting for a retry. `GET /healthz` answers 200 while
the app runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.billit.webhook_signature import DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, SignatureRejected, verify
from tasks.inbound.webhook_events import store_event
from tasks.inbound.webhook_payloads import COMPANY_PARAMETER, company_of_url
from tasks.warehouse_common import driver_message

logger = logging.getLogger("billit.webhooks")

#: The shortest time between two readings of the secrets when a signature matches none.
SECRETS_REREAD_S = 5.0
DEFAULT_MAX_BODY_BYTES = 256 * 1024
DEFAULT_MAX_REQUESTS_PER_S = 50.0
DEFAULT_POLL_S = 2.0
#: Client addresses the rate limiter remembers; beyond it, the full buckets are forgotten.
_MAX_BUCKETS = 10_000

SecretsProvider = Callable[[], Mapping[str, str]]


class Applier(Protocol):
    """What the receiver runs in the background (tasks.inbound.webhook_apply.EventApplier is one)."""

    async def apply_due(self) -> Any: ...

    async def aclose(self) -> None: ...


class SecretCache:
    """The secrets the receiver verifies with, read again when a call comes `min_interval_s` or more after the last
    reading: a new secret verifies, and one rotated away or deleted stops verifying, within that time, and no flood
    of calls (forged or not) makes it read the store more often."""

    def __init__(self, provider: SecretsProvider, clock: Callable[[], float], min_interval_s: float) -> None:
        self._provider = provider
        self._clock = clock
        self._min_interval_s = min_interval_s
        self._secrets: Mapping[str, str] = {}
        self._read_at: float | None = None

    def current(self) -> Mapping[str, str]:
        """The secrets, read again first when the last reading is `min_interval_s` old."""
        if self._read_at is None or self._clock() - self._read_at >= self._min_interval_s:
            self._read()
        return self._secrets

    def _read(self) -> None:
        self._read_at = self._clock()
        try:
            self._secrets = dict(self._provider())
        except Exception as exc:  # noqa: BLE001 - a bad setting must not stop the receiver: it keeps the last good
            # The type only: a provider's message could quote the value it could not read.
            logger.error(
                "cannot read the webhook secrets (%s); keeping the %d known", type(exc).__name__, len(self._secrets)
            )


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per client address: `per_s` calls a second, bursts of `per_s` (at least 1)."""

    def __init__(self, per_s: float, clock: Callable[[], float]) -> None:
        self.per_s = per_s
        self.burst = max(1.0, per_s)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def wait(self, address: str) -> float:
        """0 while the address has budget left, else the seconds until it has."""
        bucket = self._refill(address)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.per_s

    def charge(self, address: str) -> None:
        """The address spent one call of its budget."""
        bucket = self._refill(address)
        bucket.tokens = max(0.0, bucket.tokens - 1)

    def _refill(self, address: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[address] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_s)
        bucket.at = now
        return bucket

    def _forget_full(self, now: float) -> None:
        for address, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.at) * self.per_s >= self.burst:
                del self._buckets[address]


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing one over `limit` bytes as soon as its length says so or the bytes read exceed it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    engine: sa.Engine,
    secrets_provider: SecretsProvider,
    *,
    applier: Applier | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_requests_per_s: float = DEFAULT_MAX_REQUESTS_PER_S,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    clock: Callable[[], float] = time.time,
    poll_s: float = DEFAULT_POLL_S,
) -> Starlette:
    """The receiver over `engine`'s `webhook_events`, verifying with `secrets_provider()` (WebhookID -> secret);
    `applier`, when given, runs in the background and is woken after each stored event."""
    secrets = SecretCache(secrets_provider, clock, SECRETS_REREAD_S)
    limiter = RateLimiter(max_requests_per_s, clock)
    wake = asyncio.Event()

    def refusal(request: Request) -> Callable[[int, str, str], Response]:
        """The refusals of one call: a log line each, until its address spent its budget (then a short 429)."""
        address = request.client.host if request.client else "unknown"

        def refuse(status: int, error: str, reason: str) -> Response:
            if wait := limiter.wait(address):  # the address spent its budget: a short answer, no log line
                return JSONResponse(
                    {"error": "too many refused calls"}, status_code=429, headers={"Retry-After": str(math.ceil(wait))}
                )
            limiter.charge(address)
            logger.warning("refused a webhook call from %s: %s", address, reason)
            return JSONResponse({"error": error}, status_code=status)

        return refuse

    async def not_found(request: Request, exc: Exception) -> Response:
        # A webhook registered with another path (or a proxy passing it on unchanged) is a 404 on every call.
        return refusal(request)(
            404,
            "not found",
            f"{request.method} {request.url.path[:100]} is not a receiving path: this receiver answers POST / and "
            "POST /webhooks/billit (point the webhook's URL, or the proxy, at one of them)",
        )

    async def receive(request: Request) -> Response:
        refuse = refusal(request)

        try:
            body = await read_body(request, max_body_bytes)
        except BodyTooLarge:
            return refuse(413, f"body over {max_body_bytes} bytes", f"body over {max_body_bytes} bytes")
        header = request.headers.get(SIGNATURE_HEADER)
        try:
            signed = _verify(header, body, secrets, clock(), tolerance_s)
        except SignatureRejected as exc:
            return refuse(401, "signature refused", str(exc))
        try:
            parsed = json.loads(body, parse_constant=_not_json)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
            return refuse(400, "the body is not JSON", f"the body is not JSON ({len(body)} bytes)")
        # Billit calls with one object; a signed array or scalar (a batch?) would be stored and applied as nothing.
        if not isinstance(parsed, dict):
            return refuse(400, "the body is not a JSON object", f"the body is a JSON {type(parsed).__name__}")
        asked = request.query_params.get(COMPANY_PARAMETER)
        company = company_of_url(asked)
        if asked is not None and company is None:
            return refuse(400, f"{COMPANY_PARAMETER} is not a PartyID", f"{COMPANY_PARAMETER}={asked[:40]!r}")
        try:
            stored = await asyncio.to_thread(store_event, engine, signed, parsed, company_id=company)
        except sa.exc.SQLAlchemyError as exc:
            logger.error("could not store a webhook call (answered 503): %s", driver_message(exc))
            return JSONResponse({"error": "could not store the event; call again later"}, status_code=503)
        if stored.replay:
            logger.info(
                "a replay of webhook %s's call signed at %d: nothing changed", signed.webhook_id, signed.timestamp
            )
            return JSONResponse({"stored": False, "replay": True})
        if stored.status == "received":
            wake.set()
        return JSONResponse({"stored": True, "event_id": stored.event_id})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_apply_loop(applier, wake, poll_s)) if applier is not None else None
        wake.set()  # whatever was stored before this process started is applied first
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if applier is not None:
                await applier.aclose()
            logger.info("the webhook receiver stopped")

    app = Starlette(
        routes=[
            Route("/", receive, methods=["POST"]),
            Route("/webhooks/billit", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={404: not_found},
    )
    app.router.redirect_slashes = False  # a 307 would name the internal address: another path is a 404
    return app


def _verify(header: str | None, body: bytes, secrets: SecretCache, now: float, tolerance_s: float) -> Any:
    return verify(header, body, secrets.current(), now=now, tolerance_s=tolerance_s)


async def _apply_loop(applier: Applier, wake: asyncio.Event, poll_s: float) -> None:
    """Apply on every wake-up and every `poll_s`; an error is logged and the loop goes on (the events stay)."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=poll_s)
        wake.clear()
        try:
            await applier.apply_due()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the events stay stored; the next round tries again
            logger.error("applying webhook events failed (tried again in %g s): %s", poll_s, _first_line(exc))
            await asyncio.sleep(poll_s)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN and Infinity; no other parser does


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
