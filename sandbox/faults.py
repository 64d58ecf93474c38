"""Fault injection for the sandbox: the ``Faults`` knobs and the ASGI middleware that applies them.

Billit documents no rate limits (docs/reference/billit-api.md#rate-limits) and clients must still survive 429 with
``Retry-After``, 5xx, dropped connections and lost POST responses (docs/reference/billit-api.md#sandbox-faults):
tests switch each failure mode on deliberately. Faults only touch ``/v1`` API routes, never the ``/_sandbox`` admin
routes, and can be changed at runtime (``PUT /_sandbox/faults``). The ``webhook_`` knobs act on the webhooks the
sandbox sends instead (``webhook_outbox.py``): a share lost for good, a share whose attempts fail as if the
receiver were down (retried), a share delivered twice, and a delay before each first attempt.

A dropped connection must look like a network failure to the client, not like a 500: the middleware starts
the response with a ``Content-Length`` larger than the bytes it sends and then raises, so uvicorn aborts the
connection and httpx raises ``RemoteProtocolError``. In-process (``httpx.ASGITransport``) the same exception
propagates to the caller; it subclasses ``httpx.RemoteProtocolError`` so client code sees the same type.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import httpx

from sandbox.rate_limits import RATE_LIMIT_MODES, ServerRateLimit

__all__ = [
    "FaultDecision",
    "FaultInjector",
    "FaultMiddleware",
    "Faults",
    "SimulatedConnectionDrop",
    "parse_script_token",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Faults:
    """Fault knobs; probabilities are per ``/v1`` request and drawn from a RNG seeded with ``seed``.

    ``script`` holds one-shot faults consumed in order by the next ``/v1`` requests, each one of
    ``"429"``, ``"429:<seconds>"``, ``"500"``, ``"502"``, ``"503"``, ``"drop"``, ``"post-commit-drop"``
    (process the request, then drop the connection: for ``POST /v1/orders`` the order is committed and the
    idempotency key stored, but the client never sees the id), ``"plain-text"``, ``"delay:<ms>"`` or ``"ok"``
    (no fault).
    """

    latency_ms: float = 0.0
    rate_429: float = 0.0
    retry_after_s: float = 1.0
    # A 429 opens a rate-limit window of Retry-After seconds during which EVERY request gets 429, like a
    # real limiter; switch off for independent one-shot 429s.
    rate_limit_window: bool = True
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    rate_post_commit_drop: float = 0.0
    modify_during_paging: int = 0
    plain_text_rate: float = 0.0
    # A server-side limit (``sandbox.rate_limits``): beyond ``rate_limit_per_s`` accepted requests a second,
    # counted ``fixed``, ``sliding`` or ``bucket``, a request gets 429 with ``Retry-After: 1``. 0 = no limit.
    rate_limit_per_s: float = 0.0
    rate_limit_mode: str = "fixed"
    seed: int = 0
    script: list[str] = field(default_factory=list)
    webhook_drop_rate: float = 0.0
    webhook_down_rate: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        self.rate_limit_mode = _coerce_setting("rate_limit_mode", self.rate_limit_mode)
        self.rate_limit_per_s = _coerce_setting("rate_limit_per_s", self.rate_limit_per_s)
        for name in ("webhook_drop_rate", "webhook_down_rate", "webhook_duplicate_rate", "webhook_delay_ms"):
            setattr(self, name, _coerce_setting(name, getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_sandbox/faults``."""
        return asdict(self)

    def merge(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (``PUT /_sandbox/faults``); raises ``ValueError`` on unknown keys/values."""
        known = {f.name: f for f in fields(self)}
        lowered = {name.lower(): name for name in known}
        validated: dict[str, Any] = {}
        for raw_key, value in changes.items():
            name = lowered.get(raw_key.lower())
            if name is None:
                raise ValueError(f"unknown fault setting {raw_key!r}")
            validated[name] = _coerce_setting(name, value)
        for name, value in validated.items():
            setattr(self, name, value)


def _coerce_setting(name: str, value: Any) -> Any:
    if name == "script":
        if not isinstance(value, list) or not all(isinstance(token, str) for token in value):
            raise ValueError("script must be a list of strings")
        for token in value:
            parse_script_token(token)
        return list(value)
    if name in ("seed", "modify_during_paging"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return value
    if name == "rate_limit_mode":
        if value not in RATE_LIMIT_MODES:
            raise ValueError(f"{name} must be one of {', '.join(RATE_LIMIT_MODES)}")
        return value
    if name == "rate_limit_per_s":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise ValueError(f"{name} must be a number of requests a second >= 0 (0 = no limit)")
        return float(value)
    if name == "rate_limit_window":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    number = float(value)
    if number < 0 or (name.startswith("rate_") or name.endswith("_rate")) and number > 1:
        raise ValueError(f"{name} out of range: {value!r}")
    return number


_SCRIPT_TOKEN = re.compile(
    r"(429)(?::(\d+(?:\.\d+)?))?|(500|502|503)|(drop)|(post-commit-drop)|(plain-text)"
    r"|delay:(\d+(?:\.\d+)?)|(ok)"
)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What the middleware does with one request."""

    status: int | None = None  # 429 or 5xx answered without processing
    retry_after_s: float | None = None
    drop: bool = False  # drop before processing
    drop_after_processing: bool = False
    plain_text: bool = False
    extra_delay_s: float = 0.0


def parse_script_token(token: str) -> FaultDecision:
    """Translate one ``Faults.script`` token into a decision; raises ``ValueError`` when unknown."""
    match = _SCRIPT_TOKEN.fullmatch(token.strip().lower())
    if match is None:
        raise ValueError(f"unknown fault script token {token!r}")
    status_429, after, status_5xx, drop, post_commit, plain, delay, _ok = match.groups()
    if status_429:
        return FaultDecision(status=429, retry_after_s=float(after) if after else None)
    if status_5xx:
        return FaultDecision(status=int(status_5xx))
    if drop:
        return FaultDecision(drop=True)
    if post_commit:
        return FaultDecision(drop_after_processing=True)
    if plain:
        return FaultDecision(plain_text=True)
    if delay:
        return FaultDecision(extra_delay_s=float(delay) / 1000)
    return FaultDecision()


class FaultInjector:
    """Runtime state of the faults: the RNG, the open rate-limit window and the counters."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._seed = self.faults.seed
        self._window_until = 0.0
        self._window_whole_seconds = True  # the window was opened with an integral Retry-After
        self._server_limit: ServerRateLimit | None = None
        self.counters: dict[str, int] = {
            "429": 0,
            "5xx": 0,
            "drops": 0,
            "post_commit_drops": 0,
            "plain_text": 0,
            "paging_modifications": 0,
            "rate_limited": 0,  # the 429s of the server-side limit (also counted in "429")
        }

    def update(self, changes: dict[str, Any]) -> None:
        """Merge new settings; a changed ``seed`` restarts the RNG so runs stay reproducible."""
        self.faults.merge(changes)
        if {key.lower() for key in changes} & {"rate_limit_per_s", "rate_limit_mode"}:
            self._server_limit = None  # a changed limit starts afresh
        if self.faults.seed != self._seed or "seed" in {key.lower() for key in changes}:
            self._seed = self.faults.seed
            self._rng = random.Random(self._seed)

    @property
    def rng(self) -> random.Random:
        """The fault RNG (also used to pick orders for ``modify_during_paging``)."""
        return self._rng

    def decide(self, method: str, path: str) -> FaultDecision:
        """Pick the fault for one ``/v1`` request (consumes a script token or draws probabilities)."""
        faults = self.faults
        now = time.monotonic()
        if now < self._window_until:
            return FaultDecision(status=429, retry_after_s=self._remaining(now))
        if faults.rate_limit_per_s > 0 and not self._admitted(now):
            self.counters["rate_limited"] += 1
            return FaultDecision(status=429, retry_after_s=1.0)
        decision = parse_script_token(faults.script.pop(0)) if faults.script else None
        if decision is None:
            decision = self._draw(method, path)
        if decision.status == 429:
            seconds = decision.retry_after_s if decision.retry_after_s is not None else faults.retry_after_s
            if faults.rate_limit_window:
                self._window_until = now + seconds
                self._window_whole_seconds = float(seconds).is_integer()
            decision = FaultDecision(status=429, retry_after_s=seconds, extra_delay_s=decision.extra_delay_s)
        return decision

    def _admitted(self, now: float) -> bool:
        limit = self._server_limit
        if limit is None or limit.per_s != self.faults.rate_limit_per_s or limit.mode != self.faults.rate_limit_mode:
            limit = self._server_limit = ServerRateLimit(self.faults.rate_limit_per_s, self.faults.rate_limit_mode)
        return limit.admit(now)

    def _draw(self, method: str, path: str) -> FaultDecision:
        faults = self.faults
        rng = self._rng
        if faults.rate_429 and rng.random() < faults.rate_429:
            return FaultDecision(status=429)
        if faults.rate_5xx and rng.random() < faults.rate_5xx:
            return FaultDecision(status=rng.choice((500, 502, 503)))
        if faults.rate_drop and rng.random() < faults.rate_drop:
            return FaultDecision(drop=True)
        is_create = method == "POST" and path.rstrip("/") == "/v1/orders"
        if is_create and faults.rate_post_commit_drop and rng.random() < faults.rate_post_commit_drop:
            return FaultDecision(drop_after_processing=True)
        if faults.plain_text_rate and rng.random() < faults.plain_text_rate:
            return FaultDecision(plain_text=True)
        return FaultDecision()

    def _remaining(self, now: float) -> float:
        remaining = self._window_until - now
        # Keep the header in whole seconds (the HTTP form) unless the window itself was fractional.
        if self._window_whole_seconds:
            return float(max(1, math.ceil(remaining)))
        return max(0.001, math.ceil(remaining * 1000) / 1000)


class SimulatedConnectionDrop(httpx.RemoteProtocolError):
    """Raised by the sandbox to abort a connection; also what an in-process (ASGITransport) client sees."""


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}".rstrip("0").rstrip(".")


_ERROR_BODIES: dict[int, tuple[bytes, bytes]] = {
    429: (
        b"application/json; charset=utf-8",
        b'{"errors":[{"Code":"TooManyRequests","Description":"Too many requests, retry after the delay '
        b'given in the Retry-After header."}]}',
    ),
    500: (
        b"application/json; charset=utf-8",
        b'{"errors":[{"Code":"GenericError","Description":"An unexpected error occurred (simulated)."}]}',
    ),
    502: (b"text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    503: (b"text/html", b"<html><body><h1>503 Service Unavailable</h1></body></html>"),
}


class FaultMiddleware:
    """Pure ASGI middleware: latency, 429/5xx, drops and plain-text bodies on ``/v1`` routes, plus stats.

    ``on_request`` is called with (method, path, status) for every finished ``/v1`` request so the sandbox
    can keep per-route counters.
    """

    def __init__(
        self,
        app: ASGIApp,
        injector: FaultInjector,
        on_request: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.app = app
        self.injector = injector
        self.on_request = on_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        injector = self.injector
        latency = injector.faults.latency_ms / 1000
        if latency > 0:
            await asyncio.sleep(latency)
        decision = injector.decide(method, path)
        if decision.extra_delay_s > 0:
            await asyncio.sleep(decision.extra_delay_s)

        async def record(message: Message) -> None:
            # Counted before the answer leaves, so a client that has its answer always finds it in the stats.
            if message["type"] == "http.response.start":
                self._record(method, path, message["status"])
            await send(message)

        if decision.status is not None:
            await self._send_error(decision, record)
        elif decision.drop:
            injector.counters["drops"] += 1
            self._record(method, path, 0)
            await self._drop(scope, send)
        elif decision.drop_after_processing:
            injector.counters["post_commit_drops"] += 1
            status_seen = 0

            async def swallow(message: Message) -> None:
                nonlocal status_seen
                if message["type"] == "http.response.start":
                    status_seen = message["status"]

            await self.app(scope, receive, swallow)
            self._record(method, path, status_seen)
            await self._drop(scope, send)
        elif decision.plain_text:
            injector.counters["plain_text"] += 1
            await self.app(scope, receive, _plain_text_send(record))
        else:
            await self.app(scope, receive, record)

    def _record(self, method: str, path: str, status: int) -> None:
        # status 0 stands for "connection dropped before any response".
        if self.on_request is not None:
            self.on_request(method, path, status)

    async def _send_error(self, decision: FaultDecision, send: Send) -> None:
        status = decision.status or 500
        if status == 429:
            self.injector.counters["429"] += 1
        else:
            self.injector.counters["5xx"] += 1
        content_type, body = _ERROR_BODIES[status]
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        if status == 429:
            headers.append((b"retry-after", _format_seconds(decision.retry_after_s or 1.0).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _drop(scope: Scope, send: Send) -> None:
        # Promise more bytes than we send, then abort: uvicorn closes the socket mid-body, which the client
        # sees as a protocol/read error rather than an HTTP status.
        partial = b'{"Items":['
        headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", b"4096")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": partial, "more_body": True})
        host, port = scope.get("server") or ("sandbox", None)
        url = f"{scope.get('scheme', 'http')}://{host}{':' + str(port) if port else ''}{scope.get('path', '')}"
        raise SimulatedConnectionDrop(
            "sandbox dropped the connection (simulated fault)", request=httpx.Request(scope["method"], url)
        )


def _plain_text_send(send: Send) -> Send:
    async def rewrite(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-type"]
            headers.append((b"content-type", b"text/plain; charset=utf-8"))
            message = {**message, "headers": headers}
        await send(message)

    return rewrite
