"""A tiny webhook receiver for the sandbox tests: a stdlib HTTP server on a loopback port, in a thread.

It records every request (path, headers, raw body) and answers each with the next status of ``statuses``
(200 once they run out), so a test can make a delivery fail a few times and see it retried; ``delay_s`` makes
it a slow receiver.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """``with WebhookReceiver() as receiver:`` → ``receiver.url``, ``receiver.received``, ``receiver.wait_for(n)``."""

    def __init__(self, statuses: Iterable[int] = (), *, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.delay_s = delay_s
        self.received: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                with receiver._cond:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
                """Quiet: the tests read ``received``."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/billit"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def payloads(self) -> list[Any]:
        with self._cond:
            return [item.payload for item in self.received]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """The requests so far once there are at least ``count`` (AssertionError after ``timeout_s``)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.received) >= count, timeout_s):
                raise AssertionError(f"expected {count} webhook calls, got {len(self.received)}")
            return list(self.received)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
