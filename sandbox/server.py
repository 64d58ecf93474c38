"""Serving the sandbox over real HTTP: :class:`SandboxServer` (tests, benchmarks) and :func:`serve` (CLI).

Tests that exercise HTTP-level failures (dropped connections, 429 with ``Retry-After``) need a real socket, so
:class:`SandboxServer` runs uvicorn in a daemon thread on a loopback socket it binds itself (port 0 → a free
port, no race between "find a port" and "bind it"). It is a plain context manager, usable from sync code
and pytest fixtures alike.

uvicorn settings: ``lifespan="off"`` (the app has no startup work), no access log, log level warning, and
``httptools`` when installed (faster HTTP parsing) else ``h11``. Simulated connection drops are raised as
:class:`~sandbox.faults.SimulatedConnectionDrop`; a logging filter keeps uvicorn from
printing a traceback for each of them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import signal
import socket
import threading
import time
from types import TracebackType

import uvicorn

from sandbox.app import create_app
from sandbox.faults import SimulatedConnectionDrop
from sandbox.store import Sandbox

__all__ = ["SandboxServer", "serve"]

_HTTP_IMPLEMENTATION = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


class _HideSimulatedDrops(logging.Filter):
    """Drop uvicorn's "Exception in ASGI application" records caused by deliberate connection drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SimulatedConnectionDrop)


def _install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideSimulatedDrops) for f in logger.filters):
        logger.addFilter(_HideSimulatedDrops())


def _config(sandbox: Sandbox, **overrides: object) -> uvicorn.Config:
    _install_log_filter()
    options: dict[str, object] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "http": _HTTP_IMPLEMENTATION,
        "loop": "asyncio",
    }
    options.update(overrides)
    return uvicorn.Config(create_app(sandbox), **options)  # type: ignore[arg-type]


class SandboxServer:
    """Run a :class:`Sandbox` with uvicorn on ``127.0.0.1`` in a background thread.

    >>> from sandbox.identity import API_KEY, PARTY_ID
    >>> with SandboxServer(Sandbox(orders=500)) as server:  # doctest: +SKIP
    ...     httpx.get(f"{server.base_url}/v1/orders", headers={"ApiKey": API_KEY, "PartyID": str(PARTY_ID)})
    """

    def __init__(self, sandbox: Sandbox | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox or Sandbox()
        self._host = host
        self._port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self, timeout_s: float = 10.0) -> SandboxServer:
        """Bind, start uvicorn and wait until it accepts connections."""
        # proto must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
        # IPPROTO_TCP, and with Nagle on, uvicorn's separate header/body writes meet the client's delayed ACK
        # (~40 ms per request).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        sock.listen(2048)
        sock.setblocking(False)
        self._socket = sock
        port = sock.getsockname()[1]
        self.base_url = f"http://{self._host}:{port}"
        self._server = uvicorn.Server(_config(self.sandbox))
        # uvicorn installs signal handlers only in the main thread; in a worker thread there is nothing to do.
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"billit-sandbox-{port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the sandbox server thread exited during startup")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the sandbox server did not start within {timeout_s} s")
            time.sleep(0.005)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread; closes the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._socket is not None:
            self._socket.close()
        self.sandbox.webhooks.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve(sandbox: Sandbox, listening: socket.socket) -> None:
    """Serve ``sandbox`` on the bound socket ``listening`` in the foreground until interrupted (the ``billit-etl
    sandbox serve`` command, which binds it first so that a port in use is its one red line); SIGTERM stops it
    gracefully and it then ends by that signal, as a stopped server does (not as an interrupted command)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn stopped gracefully, then raised it again
        uvicorn.Server(_config(sandbox)).run(sockets=[listening])
