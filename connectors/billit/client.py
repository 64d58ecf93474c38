"""`BillitClient`: the one way this project talks to Billit.

At most `max_concurrency` requests in flight, each on an `httpx.AsyncClient` of its own (a lane) with timeouts,
retries with exponential backoff and full jitter (5xx, resets, timeouts, a 429 without Retry-After), a shared
pause (on a 429 every request of this client waits for `Retry-After`), and one request at a time while every
request fails (`connectors.billit.retries`). What is retried depends on whether a repeat is harmless: GET and PATCH
always are; a create and `commands/send` only when the request surely never reached Billit (429, or a connection
that could not be opened): whether Billit honours a create's idempotency key is unknown
(docs/reference/billit-api.md#idempotency), so after a lost answer or a 5xx the caller looks the order up by
ExternalProviderID before it POSTs again (`tasks.outbound.push`), waiting `repeat_delay` between rounds.
Listings page in `connectors.billit.pagination`: orders by key (what every sync runs), deletions by position.

Credentials live only in the httpx client's default headers. Every text an error is built from (a transport error,
an error body, a body we cannot parse) passes through the client's `Redactor` (`connectors.billit.redaction`), so
no log line, exception or repr shows them, even from a server that echoes our request headers back.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from connectors.aio import first_error
from connectors.billit.errors import (
    BillitError,
    BillitForbiddenIdError,
    BillitHTTPError,
    BillitNotFoundError,
    BillitProtocolError,
    BillitRateLimitedError,
)
from connectors.billit.odata import PAGE_SIZE, Expr, ODataQuery
from connectors.billit.pagination import (
    KeysetPaginator,
    LinkPaginator,
    Page,
    PageRequest,
    PagingStats,
    iter_keyset_pages,
    iter_linked_pages,
    parse_page,
)
from connectors.billit.ratelimit import RequestLimiter, shared_limiter
from connectors.billit.redaction import Redactor
from connectors.billit.responses import BillitFile, OrderAnswer, http_error, readable_url, transport_error
from connectors.billit.retries import OutageBreaker, Repeat, retries_last_s, retry_delay
from connectors.billit.settings import BillitSettings
from connectors.billit.tls import shared_tls_context
from connectors.billit.transport import Http11Transport, proxy_configured
from connectors.billit.wire import encode_json, parse_json, parse_order_id

_T = TypeVar("_T")

logger = logging.getLogger("connectors.billit")
_ANSWERED: set[str] = set()  # base URLs that answered in this process: they exist and listen, whatever comes later

ORDERS_PATH = "/v1/orders"
DELETED_ORDERS_PATH = "/v1/orders/deleted"
ACCOUNT_PATH = "/v1/account/accountInformation"

#: docs/reference/billit-api.md#patch: anything else cannot change after creation.
PATCHABLE_PROPERTIES = frozenset(
    {"Paid", "PaidDate", "IsSent", "ApprovalStatus", "AccountCode", "InternalInfo", "Invoiced", "PaymentMethod"}
    | {"AccountantVerificationNeeded"}
)


class BillitClient:
    """Async client for the Billit v1 API. Use as `async with BillitClient(settings) as billit: ...`."""

    def __init__(
        self,
        settings: BillitSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        self.settings = settings
        self._limiter = limiter if limiter is not None else shared_limiter(settings)
        # A client of one connection per request in flight (a lane), each with its own HTTP/1.1 transport: httpcore
        # and h11 cost more CPU per request than the sync's own work (bench/README.md#sync-all). Behind a proxy,
        # httpx's own transport, which alone reads the proxy variables. One cookie jar; a given transport, one client.
        lanes = 1 if transport is not None else settings.max_concurrency
        own_transport = transport is None and not proxy_configured()
        self._clients = [
            httpx.AsyncClient(
                base_url=settings.base_url.rstrip("/"),
                headers=settings.request_headers(),
                timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                transport=Http11Transport(shared_tls_context) if own_transport else transport,
                # httpx's own transport (behind a proxy) verifies with the shared context; any other has its own
                verify=shared_tls_context() if transport is None and not own_transport else True,
            )
            for _ in range(lanes)
        ]
        for client in self._clients[1:]:
            client.cookies.jar = self._clients[0].cookies.jar
        self._lanes: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()  # last used: its connection is warm
        for index in range(settings.max_concurrency):
            self._lanes.put_nowait(self._clients[index % lanes])
        self._redact = Redactor(settings)
        self._resume_at = 0.0  # time.monotonic() before which nobody sends (the shared 429 pause)
        self._random = random.Random()
        self._outage = OutageBreaker(give_up_after_s=retries_last_s(settings))
        self.requests_sent = self.retries = 0

    def _read(self, response: httpx.Response, read: Callable[[Any], _T]) -> _T:
        """`read` applied to the JSON body; a body we cannot interpret is a one-line, redacted protocol error."""
        try:
            return read(parse_json(response.text, content_type=response.headers.get("Content-Type")))
        except BillitProtocolError as exc:
            problem = str(exc)
        # Raised outside the except block, so the unredacted error is not kept as __context__ either.
        raise BillitProtocolError(self._redact(f"{response.request.method} {response.request.url.path}: {problem}"))

    def __repr__(self) -> str:
        return f"BillitClient(base_url={self.settings.base_url!r}, party_id={self.settings.party_id})"

    async def __aenter__(self) -> BillitClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        async with AsyncExitStack() as clients:  # each closed, even after another's failure
            for client in self._clients:
                clients.push_async_callback(client.aclose)

    # ---- orders -------------------------------------------------------------------------------------

    async def iter_order_pages_by_key(
        self,
        base_filter: Expr | None,
        *,
        page_size: int = PAGE_SIZE,
        stats: PagingStats | None = None,
        path: str = ORDERS_PATH,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each order matching `base_filter` once, page by page, ordered by (LastModified, OrderID): the listing
        every sync and backfill runs. Each page is requested *after the last key seen*, not by position, so an
        order modified while the listing runs cannot shift another out of it (`KeysetPaginator`)."""
        paginator = KeysetPaginator(base_filter, page_size, stats if stats is not None else PagingStats())
        async for page in iter_keyset_pages(
            lambda query: self.list_page(query, path=path), paginator, self._shown_last_modified
        ):
            yield page

    async def _shown_last_modified(self, order_id: int) -> str | None:
        """An order's LastModified as Billit shows it now; None when it is deleted or not ours to read."""
        try:
            value = (await self.get_order(order_id)).get("LastModified")
        except (BillitNotFoundError, BillitForbiddenIdError):
            return None
        return value if isinstance(value, str) else None

    async def iter_order_pages(
        self,
        query: ODataQuery | None = None,
        *,
        page_size: int | None = None,
        stats: PagingStats | None = None,
        path: str = ORDERS_PATH,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of a listing by position; an OrderID seen earlier in this listing is dropped.

        Follows NextPageLink; with `page_size` (or a `$top` <= 120) pages by `$skip` where Billit gives no link.
        Safe only for a list no row leaves while it is read: the deletions list (`path=DELETED_ORDERS_PATH`), which
        only grows, or a filter on properties that cannot change. Orders that may be modified during the listing
        are listed with `iter_order_pages_by_key` (docs/reference/billit-api.md#paging).
        """
        paginator = LinkPaginator(path, query or ODataQuery(), page_size, stats or PagingStats())
        async for page in iter_linked_pages(self._list_linked, paginator, self._redact):
            yield page

    async def list_page(self, query: ODataQuery, *, path: str = ORDERS_PATH) -> Page:
        """One request of a listing, without following NextPageLink."""
        response = await self._request("GET", path, params=query.params(), repeat=Repeat.ALWAYS)
        return self._read(response, parse_page)

    async def _list_linked(self, request: PageRequest) -> Page:
        response = await self._request("GET", request.path, params=request.params, repeat=Repeat.ALWAYS)
        return self._read(response, parse_page)

    async def get_order(self, order_id: int, *, replace_bad_bytes: bool = False) -> dict[str, Any]:
        """The full order: lines, VAT groups, parties, messages, delivery details (`OrderAnswer.read_order`)."""
        return (await self.get_order_answer(order_id)).read_order(replace_bad_bytes=replace_bad_bytes)[1]

    async def get_order_answer(self, order_id: int) -> OrderAnswer:
        """The full order's answer, not decoded or parsed yet (`OrderAnswer.read`)."""
        response = await self._request("GET", f"{ORDERS_PATH}/{int(order_id)}", repeat=Repeat.ALWAYS, names_id=True)
        return OrderAnswer.of(int(order_id), response, self._redact)

    async def get_orders(self, order_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Full orders, fetched concurrently (bounded by `max_concurrency`), in the order of `order_ids`."""
        with first_error():
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.get_order(order_id)) for order_id in order_ids]
        return [task.result() for task in tasks]

    async def create_order(self, order: Mapping[str, Any], *, idempotency_key: str | None) -> int:
        """POST an order; returns Billit's OrderID.

        Repeated only when it surely never reached Billit: whether Billit honours the key (both spellings sent) is
        unknown, so after a lost answer or a 5xx the caller looks the order up by ExternalProviderID before it
        POSTs again with the same key (a repeat Billit recognises answers 409 without the id: looked up too).
        """
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            if not idempotency_key.strip() or not idempotency_key.isascii() or not idempotency_key.isprintable():
                raise ValueError("an idempotency key must be printable ASCII and not blank")
            # Billit's docs spell it Idempotency-Key and Idempotent-Key (docs/reference/billit-api.md#idempotency):
            # both go, so a retry after a lost answer is safe whichever one Billit reads.
            headers["Idempotency-Key"] = headers["Idempotent-Key"] = idempotency_key
        response = await self._request(
            "POST",
            ORDERS_PATH,
            content=encode_json(dict(order)),
            headers=headers,
            repeat=Repeat.IF_UNSENT,
        )
        return self._read(response, parse_order_id)

    async def send_orders(
        self, order_ids: Sequence[int], *, transport_type: str | None = "Peppol", strict_transport: bool = False
    ) -> None:
        """`commands/send`. Delivery is asynchronous: poll the orders' CurrentDocumentDeliveryDetails after."""
        if not order_ids:
            return
        body: dict[str, Any] = {"OrderIDs": [int(order_id) for order_id in order_ids]}
        if transport_type is not None:
            body["Transporttype"] = transport_type
        headers = {"Content-Type": "application/json"}
        if strict_transport:
            headers["StrictTransportType"] = "true"
        await self._request(
            "POST",
            f"{ORDERS_PATH}/commands/send",
            content=encode_json(body),
            headers=headers,
            repeat=Repeat.IF_UNSENT,
            names_id=True,
        )

    async def patch_order(self, order_id: int, changes: Mapping[str, Any]) -> None:
        """Change patchable properties (Paid, PaidDate, IsSent, ...); others are refused before any request."""
        refused = set(changes) - PATCHABLE_PROPERTIES
        if refused:
            raise ValueError(f"Billit cannot patch {sorted(refused)}; patchable: {sorted(PATCHABLE_PROPERTIES)}")
        await self._request(
            "PATCH",
            f"{ORDERS_PATH}/{int(order_id)}",
            content=encode_json(dict(changes)),
            headers={"Content-Type": "application/json"},
            repeat=Repeat.ALWAYS,
            names_id=True,
        )

    # ---- other resources ----------------------------------------------------------------------------

    async def participant_information(self, identifier: str) -> dict[str, Any]:
        """Peppol registration of a VAT number, enterprise number or `scheme:value` id."""
        path = f"/v1/peppol/participantInformation/{quote(identifier.strip(), safe=':')}"
        body = self._read(await self._request("GET", path, repeat=Repeat.ALWAYS), _as_is)
        if not isinstance(body, dict):
            raise BillitProtocolError("expected a participant information object")
        return body

    async def get_file(self, file_id: str) -> BillitFile:
        """One file (PDF, UBL, IMR) with its content decoded from base64."""
        response = await self._request(
            "GET", f"/v1/files/{quote(file_id, safe='')}", repeat=Repeat.ALWAYS, names_id=True
        )
        body = self._read(response, _as_is)
        if not isinstance(body, dict) or "FileContent" not in body:
            raise BillitProtocolError(f"expected a file object for {file_id}")
        return BillitFile(
            file_id=str(body.get("FileID", file_id)),
            file_name=str(body.get("FileName", "")),
            mime_type=str(body.get("MimeType", "")),
            content=base64.b64decode(body["FileContent"]),
        )

    async def account_information(self) -> Any:
        """The user's account and the companies it can act for (the parsed body, as Billit shapes it); a cheap
        credentials check, the one call that needs no company (docs/reference/billit-api.md#companies)."""
        response = await self._request("GET", ACCOUNT_PATH, repeat=Repeat.ALWAYS, for_company=False)
        return self._read(response, _as_is)

    # ---- the request loop ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        repeat: Repeat,
        names_id: bool = False,
        for_company: bool = True,
    ) -> httpx.Response:
        if for_company:  # without a company (an accountant's key) only accountInformation may be asked
            self.settings.require_party_id()
        attempt, retrying = 0, None
        while True:
            error: BillitError
            lane = await self._lanes.get()
            try:
                # After the lane: a request waiting for one waits for its turn too.
                async with self._outage.turn(retrying) as one_at_a_time:
                    await self._wait_for_pause()
                    ticket = await self._limiter.acquire()
                    self.requests_sent += 1
                    try:
                        response = await lane.request(method, path, params=params, content=content, headers=headers)
                    except (httpx.TransportError, httpx.DecodingError) as exc:  # a garbled compressed body too
                        url = _display_url(path, params)
                        known = self.settings.base_url in _ANSWERED
                        error = transport_error(exc, method, url, lane.base_url, self._redact, known)
                    else:
                        _ANSWERED.add(self.settings.base_url)
                        self._limiter.answered(ticket, response.status_code, response.headers.get("Retry-After"))
                        if response.status_code < 500 and response.status_code != 429:
                            self._outage.answered()
                        if response.status_code < 300:
                            return response
                        error = http_error(response, method, names_id, self._redact)
                    finally:
                        self._limiter.release()
                    if error.retryable and not isinstance(error, BillitRateLimitedError):
                        self._outage.failed(error)
                    delay = retry_delay(self.settings, error, attempt, repeat, self._random)
                    if delay is None or self._outage.gives_up_on(error):
                        raise error  # given up: not even a backoff in the one turn every request waits for
                    attempt, retrying = attempt + 1, error
                    self.retries += 1
                    # A request's first retry says that it is retried; the next ones are debug lines: while Billit
                    # was down, every retry of every request was a line (65 for one sync, found by a newcomer), and
                    # the outage breaker already says, once, when the client holds back.
                    logger.log(
                        logging.WARNING if attempt == 1 else logging.DEBUG,
                        "Billit %s %s failed (%s); retry %d/%d in %.2fs",
                        method,
                        path,
                        _short(error),
                        attempt,
                        min(self.settings.max_retries, error.retries_at_most),
                        delay,
                    )
                    if isinstance(error, BillitRateLimitedError):  # every request waits, in _wait_for_pause
                        self._resume_at, delay = max(self._resume_at, time.monotonic() + delay), 0.0
                    if one_at_a_time:  # the backoff is part of the turn: the next request waits for it too
                        await asyncio.sleep(delay)
            finally:
                self._lanes.put_nowait(lane)
            if not one_at_a_time:
                await asyncio.sleep(delay)

    def repeat_delay(self, error: BillitError, attempt: int) -> float | None:
        """Seconds before the caller repeats a request the client would not (a create its look-up did not find), as
        a retry would wait; None when `error` is not worth it or `attempt` (0 first) has used up max_retries."""
        return retry_delay(self.settings, error, attempt, Repeat.ALWAYS, self._random)

    async def _wait_for_pause(self) -> None:
        while (wait := self._resume_at - time.monotonic()) > 0:
            await asyncio.sleep(wait)


def _as_is(body: Any) -> Any:
    return body


def _display_url(path: str, params: Mapping[str, str] | None) -> str:
    return readable_url(str(httpx.URL(path, params=params)) if params else path)


def _short(error: BillitError) -> str:
    if isinstance(error, BillitHTTPError):
        return f"HTTP {error.status}"
    return str(error).rsplit(": ", 1)[-1]
