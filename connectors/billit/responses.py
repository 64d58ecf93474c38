"""From a Billit answer to what the caller gets: the error of the tree in `connectors.billit.errors` for an answer
that is not a success, an `OrderAnswer` for a full order read later, and a `BillitFile` for a file.

The status decides the class, and so whether the client retries (docs/reference/billit-api.md#errors). Every text
taken from the answer passes through the client's redactor before an error is built from it.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, unquote_plus

import httpx

from connectors.billit.errors import (
    BillitAuthError,
    BillitConflictError,
    BillitErrorDetail,
    BillitForbiddenIdError,
    BillitHTTPError,
    BillitNotFoundError,
    BillitProtocolError,
    BillitRateLimitedError,
    BillitServerError,
    BillitTransportError,
    BillitUnknownHostError,
    BillitUnreachableError,
    BillitValidationError,
)
from connectors.billit.wire import (
    decode_body,
    json_kind,
    may_hold_unstorable_text,
    parse_error_details,
    parse_json,
)


@dataclass(frozen=True)
class BillitFile:
    """One file (PDF, UBL, IMR) as `BillitClient.get_file` returns it, its content decoded from base64."""

    file_id: str
    file_name: str
    mime_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class OrderAnswer:
    """A full order's answer as Billit sent it, not decoded or parsed yet.

    A sync lands the answer's text as it is and reads it in its writer thread: the event loop that sends the
    requests does not decode or parse, and orders waiting for the writer are held as bytes, a fifth of their
    parsed size (bench/README.md#sync-all).
    """

    order_id: int
    content: bytes
    charset: str | None  # of the Content-Type
    content_type: str | None
    request: str  # "GET /v1/orders/123", for the error
    redact: Callable[[str], str]

    @classmethod
    def of(cls, order_id: int, response: httpx.Response, redact: Callable[[str], str]) -> OrderAnswer:
        request = f"{response.request.method} {response.request.url.path}"
        return cls(
            order_id, response.content, response.charset_encoding, response.headers.get("Content-Type"), request, redact
        )

    def may_hold_unstorable_text(self) -> bool:
        """Whether the order may hold a NUL or a lone surrogate (`wire.may_hold_unstorable_text`)."""
        return may_hold_unstorable_text(self.content)

    def read_order(self, *, replace_bad_bytes: bool = False) -> tuple[str, dict[str, Any]]:
        """The answer's text and the order object it holds (decimals exact). A body that is not text, not JSON or
        not an object is a one-line, redacted BillitProtocolError.

        `replace_bad_bytes` is for a caller that reads only flags and ids (is it sent?) and stores nothing: a body
        the strict decoding refuses is read as UTF-8 with replacement characters for the stray bytes, instead of an
        error (docs/reference/billit-api.md#encoding).
        """
        try:
            try:
                text = decode_body(self.content, self.charset)
            except BillitProtocolError:
                if not replace_bad_bytes:
                    raise
                text = self.content.decode("utf-8-sig", "replace")
            order = parse_json(text, content_type=self.content_type)
            if not isinstance(order, dict):
                raise BillitProtocolError(f"expected an order object, got {json_kind(order)}")
            return text, order
        except BillitProtocolError as exc:
            problem = str(exc)
        raise BillitProtocolError(self.redact(f"{self.request}: {problem}"))


# httpx errors raised before a single byte of the request could have reached Billit.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def transport_error(
    exc: httpx.TransportError | httpx.DecodingError,
    method: str,
    url: str,
    base_url: httpx.URL,
    redact: Callable[[str], str],
    answered_before: bool,
) -> BillitTransportError:
    """The error for a request that got no answer. Unless the base URL has answered before, a host DNS says does not
    exist is not retried (macOS and Windows say the same of any host while the machine is offline), and a connection
    refused, timed out or failing its TLS handshake only a few times: all most often mean a wrong BILLIT_BASE_URL."""
    message = redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    maybe_processed = not isinstance(exc, _NEVER_SENT)
    if answered_before:
        return BillitTransportError(message, method=method, url=url, maybe_processed=maybe_processed)
    if _unknown_host(exc):
        message += f" (no host {base_url.host!r}: check BILLIT_BASE_URL)"
        return BillitUnknownHostError(message, method=method, url=url, maybe_processed=maybe_processed)
    where = f"{base_url.host}:{base_url.port or (443 if base_url.scheme == 'https' else 80)}"
    if isinstance(exc, httpx.ConnectTimeout) or _refused(exc):
        message += f" (nothing answers at {where}; check BILLIT_BASE_URL, or whether the service is up)"
    elif any(isinstance(cause, ssl.SSLError) for cause in _chain(exc)):  # plain HTTP there, or an unknown certificate
        message += f" (no TLS handshake with {where}; check BILLIT_BASE_URL, and SSL_CERT_FILE behind a proxy)"
    else:
        return BillitTransportError(message, method=method, url=url, maybe_processed=maybe_processed)
    return BillitUnreachableError(message, method=method, url=url, maybe_processed=maybe_processed)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what caused it, and so on: where a transport error says what the network answered."""
    cause: BaseException | None = exc
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__


def _unknown_host(exc: BaseException) -> bool:
    """Whether a connect failed because DNS says the host name does not exist (EAI_NONAME), not that it could not
    answer for now (EAI_AGAIN)."""
    return next(
        (cause.errno == socket.EAI_NONAME for cause in _chain(exc) if isinstance(cause, socket.gaierror)), False
    )


def _refused(exc: BaseException) -> bool:
    """Whether every address of the host refused the connection. When several did, anyio (httpx's transport) raises
    an OSError of its own caused by a group of theirs, and asyncio (ours, Python 3.11) one whose text lists theirs."""
    for cause in _chain(exc):
        if isinstance(cause, ConnectionRefusedError):
            return True
        if isinstance(cause, BaseExceptionGroup):
            return all(_refused(inner) for inner in cause.exceptions)
        if isinstance(cause, OSError) and str(cause).startswith("Multiple exceptions: "):
            return str(cause).count("[Errno ") == str(cause).count(f"[Errno {errno.ECONNREFUSED}] ")
    return False


def http_error(response: httpx.Response, method: str, names_id: bool, redact: Callable[[str], str]) -> BillitHTTPError:
    """The error for a non-2xx `response`; `names_id` when the request named an order, file or party id."""
    status = response.status_code
    url = readable_url(response.request.url.raw_path.decode("ascii", "replace"))
    # Redacted before parsing (a key cut in two by the length limit) and after (a key escaped twice in the body).
    details = tuple(
        BillitErrorDetail(redact(detail.code), redact(detail.description) if detail.description else None)
        for detail in parse_error_details(
            redact(response.text), response.headers.get("Content-Type"), not_an_api_hint=status < 500
        )
    )
    fields: dict[str, Any] = {"method": method, "url": url, "status": status, "details": details}
    if status == 429:
        return BillitRateLimitedError(retry_after=retry_after(response.headers.get("Retry-After")), **fields)
    if status >= 500:
        return BillitServerError(**fields)
    if status in (401, 403):
        if names_id:
            return BillitForbiddenIdError(
                hint="Billit answers 401 for an id of another company, as for bad credentials", **fields
            )
        # The company is the request's PartyID: BILLIT_PARTY_ID, or one of a --companies run, which may be the
        # only one of the key's companies it cannot act for.
        party = response.request.headers.get("PartyID")
        company = f", and that they may act for company {party}" if party else ""
        if context := response.request.headers.get("ContextPartyID"):  # a wrong one is refused the same way
            company += f"{' as' if party else ', and'} accountant company {context} (BILLIT_CONTEXT_PARTY_ID)"
        return BillitAuthError(hint=f"check BILLIT_API_KEY / BILLIT_BEARER_TOKEN{company}", **fields)
    if status in (400, 422):
        return BillitValidationError(**fields)
    if status == 404:
        return BillitNotFoundError(**fields)
    if status == 409:
        return BillitConflictError(**fields)
    if 300 <= status < 400 and (location := response.headers.get("Location")):
        # Redirects are not followed: a POST would be replayed as a GET, and credentials sent where they were not
        # meant to go. The operator is told where, once (an operator's test: "HTTP 301: no error details").
        moved = redact(readable_url(location))[:200]
        return BillitHTTPError(hint=f"redirected to {moved}: check BILLIT_BASE_URL (https://?)", **fields)
    return BillitHTTPError(**fields)


def readable_url(url: str) -> str:
    """A request's path and query as a person reads them in an error (`$filter=LastModified ge DateTime'...'`, not
    `%24filter=LastModified%20ge...`); a character that does not print shows as `?`."""
    path, mark, query = url.partition("?")
    return "".join(char if char.isprintable() else "?" for char in unquote(path) + mark + unquote_plus(query))


def retry_after(value: str | None) -> float | None:
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
