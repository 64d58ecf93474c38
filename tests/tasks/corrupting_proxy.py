"""A real HTTP proxy in front of the sandbox that corrupts single answers, as a flaky network box or a buggy
Billit release would: a detail answered 404, a field made unreadable, a listing item repeated.

Each rule matches one method and path (a regular expression), rewrites the upstream answer a given number of
times, then stops: the next run meets Billit's good answer again, which is what "no order lost after a later good
run" is about.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.billit.wire import encode_json, parse_json

#: Markers a rewrite may put in the body; they are replaced in the JSON text by what JSON values cannot carry
#: once parsed (a NUL, a lone surrogate, a number beyond any column).
RAW = {'"@NUL@"': '"a\\u0000b"', '"@SURROGATE@"': '"a\\ud800b"', '"@HUGE@"': "1e30"}
#: And one replaced in the body's bytes: a name in Latin-1, not UTF-8 as JSON must be.
RAW_BYTES = {b'"@LATIN1@"': b'"Soci\xe9t\xe9"'}


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    rewrite: Callable[[int, Any], tuple[int, Any]]
    times: int
    query: re.Pattern[str] | None = None


class CorruptingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.lock = threading.Lock()
        self.base_url = ""
        self.hits = 0
        self.queries: list[str] = []  # the query string of every request, as the client sent it
        self._client: httpx.AsyncClient | None = None
        # While `released` is clear, detail GETs wait at the proxy (`waiting` counts them): a run held mid-way.
        self.released = threading.Event()
        self.released.set()
        self.waiting = 0

    def corrupt(
        self,
        method: str,
        path: str,
        rewrite: Callable[[int, Any], tuple[int, Any]],
        times: int = 1,
        *,
        query: str | None = None,
    ) -> None:
        """Answers to `method` on a path (and a query string, when given) matching these patterns are rewritten."""
        with self.lock:
            self.rules.append(Rule(method, re.compile(path), rewrite, times, re.compile(query) if query else None))

    def corrupt_order(self, order_id: int, change: Callable[[dict[str, Any]], Any], times: int = 1) -> None:
        """The detail of `order_id` is answered as `change(order)` (a dict, or any JSON value)."""
        self.corrupt("GET", rf"/v1/orders/{order_id}$", lambda status, body: (status, change(body)), times)

    def not_found(self, order_id: int, times: int = 1) -> None:
        self.corrupt(
            "GET",
            rf"/v1/orders/{order_id}$",
            lambda status, body: (404, {"errors": [{"Code": "NotFound", "Description": "Not found"}]}),
            times,
        )

    def _rule_for(self, method: str, path: str, query: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.query is not None and not rule.query.search(query):
                    continue
                if rule.times > 0 and rule.method == method and rule.path.search(path):
                    rule.times -= 1
                    return rule
        return None

    async def _forward(self, request: Request) -> Response:
        self.queries.append(request.url.query)
        if re.fullmatch(r"/v1/orders/\d+", request.url.path) and not self.released.is_set():
            self.waiting += 1
            while not self.released.is_set():
                await asyncio.sleep(0.01)
        if self._client is None:  # made in the server's event loop, kept for its connection pool
            self._client = httpx.AsyncClient(base_url=self.upstream, timeout=30)
        upstream = await self._client.request(
            request.method,
            request.url.path,
            params=request.query_params,
            content=await request.body(),
            headers={k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")},
        )
        rule = self._rule_for(request.method, request.url.path, request.url.query)
        if rule is None:
            return Response(upstream.content, upstream.status_code, media_type=upstream.headers.get("content-type"))
        self.hits += 1
        status, body = rule.rewrite(upstream.status_code, parse_json(upstream.text))
        text = encode_json(body).decode("utf-8")
        for marker, raw in RAW.items():
            text = text.replace(marker, raw)
        content = text.encode("utf-8")
        for marker_bytes, raw_bytes in RAW_BYTES.items():
            content = content.replace(marker_bytes, raw_bytes)
        return Response(content, status, media_type="application/json")

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        yield
        if self._client is not None:  # its pooled connections to the sandbox (unclosed sockets otherwise)
            await self._client.aclose()

    def __enter__(self) -> CorruptingProxy:
        app = Starlette(
            routes=[Route("/{path:path}", self._forward, methods=["GET", "POST", "PATCH", "PUT"])],
            lifespan=self._lifespan,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._socket = sock
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the proxy did not start"
            time.sleep(0.005)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


def repeat_first_item(status: int, body: Any) -> tuple[int, Any]:
    """A listing page with its first item twice."""
    items = body.get("Items") if isinstance(body, dict) else None
    if items:
        items.insert(1, copy.deepcopy(items[0]))
    return status, body
