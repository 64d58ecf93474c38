"""An httpx transport for HTTP/1.1 that parses answers in C (httptools) instead of pure Python (httpcore and h11).

Why: on these machines httpcore, h11 and anyio cost ~1.4 ms of CPU per request, more than the sync's own work on
the answer; this transport costs ~0.5 ms (bench/README.md#sync-all). A sync on a slow machine is bound by that CPU.

What it does, and what it leaves to httpx:
- HTTP/1.1 over TCP or TLS, keep-alive connections kept per origin, one request at a time on each. Before an idle
  connection is reused its socket is asked whether the server closed it meanwhile, as httpcore does.
- The whole body is read before the answer is returned: the client reads every Billit answer whole anyway. The
  connect timeout bounds the connection (TLS included), the read timeout each wait for more of the answer.
- A request body over 64 KiB (an invoice with its PDF) goes through httpx's own transport: how much of a request is
  still unsent, and so the write timeout and whether the server took it all, is not known here over TLS (asyncio's
  TLS layer hands everything to the socket at once and reports nothing). Billit's other requests are small.
- After an error answer to a request with a body the connection is closed: the server may have answered before
  reading the body (413, 401), and what is left of it must not reach the server as the next request.
- Failures are httpx's own exceptions, as httpcore raises them (`ConnectError` for a refused or unknown host, with
  the OS error as its cause; `ConnectTimeout`, `ReadTimeout`, `ReadError`, `RemoteProtocolError`), so the client's
  retry rules read them as before (`responses.transport_error`).
- Redirects, cookies, content decoding (gzip) and the headers stay httpx's: the answer's body is decoded when the
  client reads it. httpx reads the proxy settings only for its own transport: with a proxy set (`proxy_configured`)
  the client keeps httpx's transport, which honours it and NO_PROXY as before.
"""

from __future__ import annotations

import asyncio
import re
import select
import ssl
import urllib.request
from collections.abc import Callable

import httptools
import httpx

__all__ = ["Http11Transport", "proxy_configured"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LARGE_BODY = 64 * 1024  # bytes: larger request bodies go through httpx's own transport
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")  # RFC 9110, section 5.6.2
_FIELD_VALUE = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")  # no control character but the tab
_Origin = tuple[str, str, int]


def proxy_configured() -> bool:
    """Whether a proxy is set for HTTP, HTTPS or all schemes where httpx looks (`urllib.request.getproxies`: the
    variables, else the macOS or Windows system settings): httpx honours them with its own transport only."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class Http11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 for `httpx.AsyncClient(transport=...)`. `tls` gives the context of every HTTPS connection, asked
    for at the first one (a context costs ~50 ms and ~1.7 MiB, which a plain HTTP sandbox does not need)."""

    def __init__(self, tls: Callable[[], ssl.SSLContext]) -> None:
        self._tls = tls
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._for_large_bodies: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = _origin(request.url)
        timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        if len(body) > _LARGE_BODY:
            if self._for_large_bodies is None:
                self._for_large_bodies = httpx.AsyncHTTPTransport(verify=self._tls())
            return await self._for_large_bodies.handle_async_request(request)
        head = _request_head(request)
        if "transfer-encoding" in request.headers:  # httpx streams a body of unknown length in chunks
            body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
        connection = self._idle_connection(origin) or await _connect(origin, self._tls, timeouts.get("connect"))
        status, headers, content, reason = await connection.exchange(
            head + body, head_only=request.method == "HEAD", read_timeout=timeouts.get("read")
        )
        if body and status >= 300:  # the server may have answered before reading the body: see the module's doc
            connection.close()
        elif connection.reusable:
            self._idle.setdefault(origin, []).append(connection)
        else:
            connection.close()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.still_open():
                return connection
            connection.close()
        return None

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        if self._for_large_bodies is not None:
            await self._for_large_bodies.aclose()


def _origin(url: httpx.URL) -> _Origin:
    """Scheme, host and port to connect to. The host as the URL encodes it (IDNA 2008, as httpx does): asyncio and
    ssl would encode a non-ASCII name by the older rules, and for some names reach another host."""
    if url.scheme not in _DEFAULT_PORTS:
        raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
    return url.scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[url.scheme]


def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers. As h11 does, a name that is not a token or a value with a control character
    is refused: either could make a server read the head otherwise than it was meant (request smuggling)."""
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
    for name, value in request.headers.raw:
        if not (_TOKEN.fullmatch(name) and _FIELD_VALUE.fullmatch(value)):
            raise httpx.LocalProtocolError(f"Illegal header name or value for {name!r}")
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


async def _connect(origin: _Origin, tls: Callable[[], ssl.SSLContext], timeout: float | None) -> _Connection:
    scheme, host, port = origin
    secure = scheme == "https"
    context = tls() if secure else None  # outside the try: a CA file that cannot be read is no failure to connect
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            # Addresses raced 0.25 s apart, as anyio does under httpcore: a first address that drops packets (a broken
            # IPv6 route) would otherwise take the whole connect timeout of every connection.
            _, connection = await loop.create_connection(
                _Connection,
                host,
                port,
                ssl=context,
                server_hostname=host if secure else None,
                happy_eyeballs_delay=0.25,
                interleave=1,
            )
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s") from exc
    except OSError as exc:  # refused, unreachable, unknown host (socket.gaierror), a certificate refused (SSLError)
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
    return connection


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the parser of the answers it carries, one exchange at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._open = True
        self._answer: _Answer | None = None
        self._timeout: asyncio.Timeout | None = None
        self._read_timeout: float | None = None

    @property
    def reusable(self) -> bool:
        transport = self._transport
        return self._open and self._answer is None and transport is not None and not transport.is_closing()

    def still_open(self) -> bool:
        """Whether an idle connection can carry a request: asyncio reports a close only when its loop next polls,
        so the socket is asked now (as httpcore does); anything readable on an idle connection is its end (the
        caller closes a connection that is not open)."""
        if not self.reusable:
            return False
        assert self._transport is not None
        sock = self._transport.get_extra_info("socket")
        if sock is None:
            return True
        poll = select.poll()  # not select.select, which refuses descriptors from 1024 on
        poll.register(sock.fileno(), select.POLLIN)
        return not poll.poll(0)

    def close(self) -> None:
        """Close once what is unsent has left; but the rest of a body the server answered before reading belongs to
        nobody, and waiting for the server to read it would keep the socket open for as long as it holds its end."""
        self._open = False
        if self._transport is not None:
            if self._transport.get_write_buffer_size():
                self._transport.abort()
            else:
                self._transport.close()

    def _abort(self) -> None:
        """Close now, dropping what is still unsent: after a failure it belongs to nobody, and a server that reads
        nothing would otherwise keep the socket and those bytes open."""
        self._open = False
        if self._transport is not None:
            self._transport.abort()

    async def exchange(
        self, request: bytes, *, head_only: bool, read_timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bytes]:
        """Send `request` and wait for the whole answer: (status, headers, body, reason phrase)."""
        assert self._transport is not None and self._answer is None
        answer = self._answer = _Answer(asyncio.get_running_loop().create_future(), head_only)
        self._read_timeout = read_timeout
        self._transport.write(request)
        try:
            async with asyncio.timeout(read_timeout) as self._timeout:
                await answer.done
        except BaseException as exc:  # timed out or cancelled halfway: what is left on the wire belongs to nobody
            self._answer = None
            self._abort()
            if isinstance(exc, TimeoutError):
                raise httpx.ReadTimeout(f"no answer within {read_timeout} s") from exc
            raise
        finally:
            self._timeout = None
        if not answer.keep_alive or head_only:  # after HEAD the parser would wait for the body announced
            self.close()
        return answer.status, answer.headers, b"".join(answer.body), answer.reason

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        answer = self._answer
        if answer is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        answer.received = True
        if self._timeout is not None and self._read_timeout is not None:  # the read timeout is per wait
            self._timeout.reschedule(asyncio.get_running_loop().time() + self._read_timeout)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, KeyboardInterrupt | SystemExit):
                # Ctrl-C or SIGTERM landed in one of our parser callbacks, which httptools wraps: it is the
                # operator's, not a malformed answer to retry (the run went on, and the signal was lost).
                raise exc.__context__ from None
            self._fail(httpx.RemoteProtocolError(f"malformed answer: {exc}"))
        except httptools.HttpParserUpgrade:  # a protocol switch nobody asked for
            self._fail(httpx.RemoteProtocolError("the server switched protocols unasked"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._open = False
        answer = self._answer
        if answer is None:
            return
        if answer.headers_complete and answer.until_close and exc is None:  # such a body ends with a clean close
            self.on_message_complete()
        elif not answer.received:
            self._fail(httpx.RemoteProtocolError("Server disconnected without sending a response."))
        elif exc is not None:
            self._fail(httpx.ReadError(str(exc) or type(exc).__name__))
        else:
            self._fail(httpx.RemoteProtocolError("peer closed connection without sending complete message body"))

    def _fail(self, error: httpx.TransportError) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done.done():  # a cancellation may have come first
            answer.done.set_exception(error)
        self._abort()

    # httptools callbacks; an answer is detached from the connection once complete, so what follows it is ignored
    def on_message_begin(self) -> None:
        if self._answer is None:  # a second answer to one request: the connection is not to be trusted
            self._open = False

    def on_status(self, reason: bytes) -> None:
        if self._answer is not None:
            self._answer.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._answer is not None and not self._answer.headers_complete:  # trailers are dropped, as httpcore does
            self._answer.headers.append((name, value))

    def on_headers_complete(self) -> None:
        answer = self._answer
        if answer is None:
            return
        answer.status = self._parser.get_status_code()
        answer.headers_complete = True
        if answer.status == 101:  # a protocol switch nobody asked for
            self._fail(httpx.RemoteProtocolError("the server switched protocols unasked"))
            return
        names = {name.lower() for name, _ in answer.headers}
        # No length and not chunked: the body runs until the server closes (RFC 9112, section 6.3).
        answer.until_close = not ({b"content-length", b"transfer-encoding"} & names) and _has_body(answer.status)
        if answer.head_only and answer.status >= 200:
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self._answer is not None:
            self._answer.body.append(body)

    def on_message_complete(self) -> None:
        answer = self._answer
        if answer is None:
            return
        if answer.status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            answer.reset()
            return
        answer.keep_alive = self._open and self._parser.should_keep_alive() and not answer.until_close
        self._answer = None
        if not answer.done.done():  # a cancellation may have come first
            answer.done.set_result(None)


def _has_body(status: int) -> bool:
    return status >= 200 and status not in (204, 304)


class _Answer:
    """What one exchange has received so far."""

    __slots__ = (
        "body",
        "done",
        "head_only",
        "headers",
        "headers_complete",
        "keep_alive",
        "reason",
        "received",
        "status",
        "until_close",
    )

    def __init__(self, done: asyncio.Future[None], head_only: bool) -> None:
        self.done = done
        self.head_only = head_only
        self.received = False
        self.keep_alive = False
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.headers_complete = self.until_close = False
