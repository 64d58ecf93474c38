"""`BillitClient`: the one way this project talks to Billit.

One `httpx.AsyncClient` with pooled connections and timeouts, at most `max_concurrency` requests in flight,
retries with exponential backoff and full jitter on 429, 5xx, resets and timeouts, and a shared pause: when
Billit answers 429 every request of this client waits for `Retry-After`, not only the one that got it.

What is retried depends on whether a repeat is harmless. GET and PATCH always are; a create carrying an
idempotency key is too (a repeat of a create that did commit gets 409, which the caller resolves by looking
the order up by ExternalProviderID); `commands/send` and a create without a key are only repeated when the
request surely never reached Billit (429, or a connection that could not be opened).

Credentials live only in the default headers of the httpx client; no log line, exception or repr shows them.
Every text an error is built from (a transport error, an error body, a body we cannot parse) passes through
`_redact` first, so even a server that echoes our request headers back cannot put the key into a log.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import httpx

from connectors.aio import first_error
from connectors.billit.errors import (
    BillitAuthError,
    BillitConflictError,
    BillitError,
    BillitErrorDetail,
    BillitForbiddenIdError,
    BillitHTTPError,
    BillitNotFoundError,
    BillitPaginationError,
    BillitProtocolError,
    BillitRateLimitedError,
    BillitServerError,
    BillitTransportError,
    BillitValidationError,
)
from connectors.billit.odata import PAGE_SIZE, BillitTimestamp, Direction, Expr, ODataQuery, all_of, prop
from connectors.billit.pagination import ODataPaginator, Page, PageRequest, PagingStats, parse_page
from connectors.billit.settings import BillitSettings
from connectors.billit.wire import encode_json, parse_error_details, parse_json, parse_order_id

_T = TypeVar("_T")

logger = logging.getLogger("connectors.billit")

ORDERS_PATH = "/v1/orders"
DELETED_ORDERS_PATH = "/v1/orders/deleted"

#: billit-api.md §6.7: anything else cannot change after creation.
PATCHABLE_PROPERTIES = frozenset({
    "Paid", "PaidDate", "IsSent", "ApprovalStatus", "AccountCode", "InternalInfo", "Invoiced",
    "AccountantVerificationNeeded", "PaymentMethod",
})

REDACTED = "***"

# httpx errors raised before a single byte of the request could have reached Billit.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Repeat(Enum):
    """When a failed request may be sent again."""

    ALWAYS = "always"  # safe to repeat: reads, PATCH, idempotent creates
    IF_UNSENT = "if_unsent"  # only when Billit surely did not process it


@dataclass(frozen=True)
class BillitFile:
    file_id: str
    file_name: str
    mime_type: str
    content: bytes


class BillitClient:
    """Async client for the Billit v1 API. Use as `async with BillitClient(settings) as billit: ...`."""

    def __init__(self, settings: BillitSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers=self._default_headers(settings),
            timeout=httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s),
            limits=httpx.Limits(
                max_connections=settings.max_concurrency, max_keepalive_connections=settings.max_concurrency
            ),
            transport=transport,
        )
        self._secrets = _secret_forms(settings)
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._resume_at = 0.0  # time.monotonic() before which nobody sends (the shared 429 pause)
        self._random = random.Random()
        self.requests_sent = 0
        self.retries = 0

    @staticmethod
    def _default_headers(settings: BillitSettings) -> dict[str, str]:
        headers = {"Accept": "application/json", "PartyID": str(settings.party_id)}
        if settings.api_key is not None:
            headers["ApiKey"] = settings.api_key.get_secret_value()
        elif settings.bearer_token is not None:
            headers["Authorization"] = f"Bearer {settings.bearer_token.get_secret_value()}"
        if settings.context_party_id is not None:
            headers["ContextPartyID"] = str(settings.context_party_id)
        return headers

    def _redact(self, text: str) -> str:
        """`text` with every credential of this client replaced by `***`, in any letter case. HTML character
        references are decoded first (a server may write `'` as `&#39;`, `&#x27;` or escape it twice)."""
        if self._secrets is None:
            return text
        for _ in range(3):
            decoded = html.unescape(text)
            if decoded == text:
                break
            text = decoded
        return self._secrets.sub(REDACTED, text)

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
        await self._http.aclose()

    # ---- orders -------------------------------------------------------------------------------------

    async def iter_order_pages(
        self, query: ODataQuery | None = None, *, page_size: int | None = None,
        stats: PagingStats | None = None, path: str = ORDERS_PATH,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield each page of summary records once; an OrderID seen earlier in this listing is dropped.

        Follows NextPageLink; with `page_size` (or a `$top` <= 120) pages by `$skip` where Billit gives no link.
        """
        paginator = ODataPaginator(path, query or ODataQuery(), page_size, stats or PagingStats())
        seen: set[Any] = set()
        request: PageRequest | None = paginator.first_request()
        while request is not None:
            response = await self._request("GET", request.path, params=request.params, repeat=Repeat.ALWAYS)
            page = self._read(response, parse_page)
            try:
                request = paginator.next_request(page)
            except BillitProtocolError as exc:  # it quotes the NextPageLink, which a wrong server may fill with our key
                problem = str(exc)
                raise BillitProtocolError(self._redact(problem)) from None
            fresh = []
            for item in page.items:
                key = item.get("OrderID")
                if key is not None and key in seen:
                    paginator.stats.duplicates += 1
                    continue
                seen.add(key)
                fresh.append(item)
            paginator.stats.records += len(fresh)
            yield fresh

    async def list_page(self, query: ODataQuery, *, path: str = ORDERS_PATH) -> Page:
        """One request of a listing, without following NextPageLink."""
        response = await self._request("GET", path, params=query.params(), repeat=Repeat.ALWAYS)
        return self._read(response, parse_page)

    async def iter_order_pages_by_key(
        self, base_filter: Expr | None, *, page_size: int = PAGE_SIZE, stats: PagingStats | None = None,
        path: str = ORDERS_PATH,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages ordered by (LastModified, OrderID), each requested *after the last key seen*, not by position.

        With `$skip` an order modified mid-listing moves to the end and shifts every later row left by one, so an
        unmodified order is skipped, and its old LastModified lies below any later watermark: lost for good. Paging
        by key cannot skip: every request asks for what sorts after what was already returned.

        Only operators Billit documents are used, `eq`, `ge` and `and` (docs/reference/billit-api.md#filters): each
        request asks for `LastModified ge T`, T being the last timestamp returned, and drops the head it already
        yielded (the orders at T up to the last OrderID). When a whole page is that head (more orders share T than
        a page holds), the tie is drained by OrderID with `LastModified eq T and OrderID ge K`, and the listing
        goes on from the next tick, `LastModified ge T + 100 ns`. Cursors are Billit's own timestamp text (7
        fraction digits), so `eq` matches the stored value exactly.
        """
        stats = stats if stats is not None else PagingStats()
        last: tuple[str, int] | None = None  # sort key of the last order yielded
        since: BillitTimestamp | None = None
        unkeyed: set[int] = set()  # OrderIDs listed without a readable LastModified, yielded once
        while True:
            page = await self._keyset_page(
                path, [base_filter, prop("LastModified").ge(since) if since else None],
                (("LastModified", "asc"), ("OrderID", "asc")), page_size, stats,
            )
            fresh = []
            for item in page:
                key = _sort_key(item)
                if key is None:
                    order_id = listed_order_id(item)
                    if order_id is None or order_id not in unkeyed:
                        unkeyed.add(order_id or 0)
                        fresh.append(item)
                elif last is None or key > last:
                    fresh.append(item)
            if fresh:
                yield fresh
            if len(page) < page_size:
                return
            tail = last_listed_key(page)
            if tail is None:
                raise BillitPaginationError("a full listing page without one readable (LastModified, OrderID)")
            if fresh:
                last, since = _tick_key(tail), tail[0]
                continue
            if last is None or since is None:
                raise BillitPaginationError("keyset paging did not advance")
            tie, after = since, last[1]
            while True:  # more orders share `tie` than a page holds: drain them by OrderID
                page = await self._keyset_page(
                    path, [base_filter, prop("LastModified").eq(tie), prop("OrderID").ge(after + 1)],
                    (("OrderID", "asc"),), page_size, stats,
                )
                ids = {order_id for item in page if (order_id := listed_order_id(item) or 0) > after}
                if ids:
                    yield [item for item in page if (listed_order_id(item) or 0) in ids]
                if len(page) < page_size:
                    break
                if not ids:
                    raise BillitPaginationError(f"draining the orders at {tie} did not advance past {after}")
                after = max(ids)
            last, since = (tie.sort_key, after), tie.next_tick()

    async def _keyset_page(
        self, path: str, clauses: list[Expr | None], orderby: tuple[tuple[str, Direction], ...], page_size: int,
        stats: PagingStats,
    ) -> list[dict[str, Any]]:
        query = ODataQuery(filter=all_of(clause for clause in clauses if clause is not None), orderby=orderby,
                           top=page_size)
        page = (await self.list_page(query, path=path)).items
        stats.pages += 1
        stats.records += len(page)
        return page

    async def iter_orders(
        self, query: ODataQuery | None = None, *, page_size: int | None = None, stats: PagingStats | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every order matching `query` once (list items are Billit's summary projection, not full orders)."""
        async for page in self.iter_order_pages(query, page_size=page_size, stats=stats):
            for item in page:
                yield item

    async def iter_deleted_orders(
        self, query: ODataQuery | None = None, *, stats: PagingStats | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Orders deleted in Billit (`GET /v1/orders/deleted`)."""
        async for page in self.iter_order_pages(query, stats=stats, path=DELETED_ORDERS_PATH):
            for item in page:
                yield item

    async def get_order(self, order_id: int) -> dict[str, Any]:
        """The full order: lines, VAT groups, parties, messages, delivery details."""
        response = await self._request("GET", f"{ORDERS_PATH}/{int(order_id)}", repeat=Repeat.ALWAYS, names_id=True)
        body = self._read(response, _as_is)
        if not isinstance(body, dict):
            raise BillitProtocolError(f"expected an order object for {order_id}, got {type(body).__name__}")
        return body

    async def get_orders(self, order_ids: Iterable[int]) -> list[dict[str, Any]]:
        """Full orders, fetched concurrently (bounded by `max_concurrency`), in the order of `order_ids`."""
        with first_error():
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self.get_order(order_id)) for order_id in order_ids]
        return [task.result() for task in tasks]

    async def create_order(self, order: Mapping[str, Any], *, idempotency_key: str | None) -> int:
        """POST an order; returns Billit's OrderID.

        With an idempotency key a lost answer is retried safely: if the first attempt committed, Billit answers
        409 (`BillitConflictError`) without the id, and the caller looks the order up by ExternalProviderID.
        """
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            if not idempotency_key.strip() or not idempotency_key.isascii() or not idempotency_key.isprintable():
                raise ValueError("an idempotency key must be printable ASCII and not blank")
            # Billit documents both Idempotency-Key and Idempotent-Key (billit-api.md §6.6); we send the
            # spelling of the page dedicated to the feature.
            headers["Idempotency-Key"] = idempotency_key
        response = await self._request(
            "POST", ORDERS_PATH, content=encode_json(dict(order)), headers=headers,
            repeat=Repeat.ALWAYS if idempotency_key is not None else Repeat.IF_UNSENT,
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
            "POST", f"{ORDERS_PATH}/commands/send", content=encode_json(body), headers=headers,
            repeat=Repeat.IF_UNSENT, names_id=True,
        )

    async def patch_order(self, order_id: int, changes: Mapping[str, Any]) -> None:
        """Change patchable properties (Paid, PaidDate, IsSent, ...); others are refused before any request."""
        refused = set(changes) - PATCHABLE_PROPERTIES
        if refused:
            raise ValueError(f"Billit cannot patch {sorted(refused)}; patchable: {sorted(PATCHABLE_PROPERTIES)}")
        await self._request(
            "PATCH", f"{ORDERS_PATH}/{int(order_id)}", content=encode_json(dict(changes)),
            headers={"Content-Type": "application/json"}, repeat=Repeat.ALWAYS, names_id=True,
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
        response = await self._request("GET", f"/v1/files/{quote(file_id, safe='')}", repeat=Repeat.ALWAYS,
                                       names_id=True)
        body = self._read(response, _as_is)
        if not isinstance(body, dict) or "FileContent" not in body:
            raise BillitProtocolError(f"expected a file object for {file_id}")
        return BillitFile(
            file_id=str(body.get("FileID", file_id)), file_name=str(body.get("FileName", "")),
            mime_type=str(body.get("MimeType", "")), content=base64.b64decode(body["FileContent"]),
        )

    async def account_information(self) -> dict[str, Any]:
        """The user's account and the companies it can act for; a cheap credentials check."""
        response = await self._request("GET", "/v1/account/accountInformation", repeat=Repeat.ALWAYS)
        body = self._read(response, _as_is)
        return body if isinstance(body, dict) else {}

    # ---- the request loop ---------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None, content: bytes | None = None,
        headers: Mapping[str, str] | None = None, repeat: Repeat, names_id: bool = False,
    ) -> httpx.Response:
        attempt = 0
        while True:
            error: BillitError
            async with self._slots:
                await self._wait_for_pause()
                self.requests_sent += 1
                try:
                    response = await self._http.request(method, path, params=params, content=content, headers=headers)
                except (httpx.TransportError, httpx.DecodingError) as exc:  # a garbled compressed body counts too
                    error = BillitTransportError(
                        self._redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__),
                        method=method, url=_display_url(path, params), maybe_processed=not isinstance(exc, _NEVER_SENT),
                    )
                else:
                    if response.status_code < 300:
                        return response
                    error = _http_error(response, method, names_id, self._redact)
            delay = self._retry_delay(error, attempt, repeat)
            if delay is None:
                raise error
            attempt += 1
            self.retries += 1
            logger.warning("Billit %s %s failed (%s); retry %d/%d in %.2fs", method, path, _short(error),
                           attempt, self.settings.max_retries, delay)
            if isinstance(error, BillitRateLimitedError):
                self._resume_at = max(self._resume_at, time.monotonic() + delay)
            else:
                await asyncio.sleep(delay)

    def _retry_delay(self, error: BillitError, attempt: int, repeat: Repeat) -> float | None:
        """Seconds to wait before the next attempt, or None when the error must be raised."""
        if not error.retryable or attempt >= self.settings.max_retries:
            return None
        if repeat is Repeat.IF_UNSENT and not (
            isinstance(error, BillitRateLimitedError)
            or (isinstance(error, BillitTransportError) and not error.maybe_processed)
        ):
            return None
        if isinstance(error, BillitRateLimitedError) and error.retry_after is not None:
            if error.retry_after > self.settings.max_retry_after_s:
                return None
            # A little jitter so the paused requests do not all hit Billit in the same millisecond.
            return error.retry_after + self._random.uniform(0, min(0.25, error.retry_after / 10))
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2**attempt)
        return self._random.uniform(ceiling / 2, ceiling)

    async def _wait_for_pause(self) -> None:
        while (wait := self._resume_at - time.monotonic()) > 0:
            await asyncio.sleep(wait)


def _secret_forms(settings: BillitSettings) -> re.Pattern[str] | None:
    """Each credential as an error text may carry it: as is, inside a bytes repr (h11's "Illegal header value
    b'...'"), JSON-, HTML- or URL-escaped (a server echoing our headers), matched in any letter case; longest
    first."""
    forms: set[str] = set()
    for secret in (settings.api_key, settings.bearer_token):
        value = secret.get_secret_value() if secret is not None else ""
        if value:
            escaped = json.dumps(value)[1:-1]
            forms |= {value, repr(value.encode())[2:-1], escaped, escaped.replace("/", "\\/"),
                      html.escape(value), html.escape(value, quote=False), quote(value, safe=""), quote_plus(value)}
    if not forms:
        return None
    return re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True))), re.IGNORECASE)


def _as_is(body: Any) -> Any:
    return body


def listed_order_id(item: Any) -> int | None:
    """The OrderID of a listed (or fetched) order, when it is an integer."""
    order_id = item.get("OrderID") if isinstance(item, dict) else None
    return order_id if isinstance(order_id, int) and not isinstance(order_id, bool) else None


def _key(item: Any) -> tuple[BillitTimestamp, int] | None:
    order_id = listed_order_id(item)
    if order_id is None:
        return None
    try:
        return BillitTimestamp(str(item.get("LastModified"))), order_id
    except ValueError:
        return None


def _sort_key(item: Any) -> tuple[str, int] | None:
    key = _key(item)
    return _tick_key(key) if key else None


def _tick_key(key: tuple[BillitTimestamp, int]) -> tuple[str, int]:
    return key[0].sort_key, key[1]


def last_listed_key(page: list[dict[str, Any]]) -> tuple[BillitTimestamp, int] | None:
    """The (LastModified, OrderID) of the page's last well-formed item: a corrupted item is listed again by the
    next page rather than breaking the cursor."""
    return next((key for item in reversed(page) if (key := _key(item)) is not None), None)


def _display_url(path: str, params: Mapping[str, str] | None) -> str:
    return str(httpx.URL(path, params=params)) if params else path


def _short(error: BillitError) -> str:
    if isinstance(error, BillitHTTPError):
        return f"HTTP {error.status}"
    return str(error).rsplit(": ", 1)[-1]


def _http_error(
    response: httpx.Response, method: str, names_id: bool, redact: Callable[[str], str]
) -> BillitHTTPError:
    status = response.status_code
    url = response.request.url.raw_path.decode("ascii", "replace")
    # Redacted before parsing (a key cut in two by the length limit) and after (a key escaped twice in the body).
    details = tuple(
        BillitErrorDetail(redact(detail.code), redact(detail.description) if detail.description else None)
        for detail in parse_error_details(redact(response.text), response.headers.get("Content-Type"),
                                          not_an_api_hint=status < 500)
    )
    fields: dict[str, Any] = {"method": method, "url": url, "status": status, "details": details}
    if status == 429:
        return BillitRateLimitedError(retry_after=_retry_after(response.headers.get("Retry-After")), **fields)
    if status >= 500:
        return BillitServerError(**fields)
    if status in (401, 403):
        if names_id:
            return BillitForbiddenIdError(
                hint="Billit answers 401 for an id of another company, as for bad credentials", **fields
            )
        return BillitAuthError(hint="check BILLIT_API_KEY / BILLIT_BEARER_TOKEN and BILLIT_PARTY_ID", **fields)
    if status in (400, 422):
        return BillitValidationError(**fields)
    if status == 404:
        return BillitNotFoundError(**fields)
    if status == 409:
        return BillitConflictError(**fields)
    return BillitHTTPError(**fields)


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
