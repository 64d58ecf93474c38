"""Errors raised by the Billit client. The tree decides what is retried:

    BillitError
    ├── BillitTransportError          network failure, timeout, dropped connection   (retryable)
    │   ├── BillitUnknownHostError    the base URL's host name does not exist (DNS)  (fatal)
    │   └── BillitUnreachableError    nothing ever answered at the base URL          (3 retries)
    ├── BillitProtocolError           a 2xx answer we cannot understand              (fatal)
    ├── BillitPaginationError         a listing repeats a request or stops advancing (fatal)
    └── BillitHTTPError               any non-2xx answer; carries Billit's errors[]
        ├── BillitRateLimitedError    429, with retry_after                          (retryable)
        ├── BillitServerError         5xx                                            (retryable)
        ├── BillitAuthError           401: bad or missing credentials
        │   └── BillitForbiddenIdError  401 on a request naming an id: Billit answers 401, not 404,
        │                               for an order, party or company you may not access
        ├── BillitValidationError     400, with errors[].Code / Description
        ├── BillitNotFoundError       404
        └── BillitConflictError       409: the idempotency key was already used successfully

Messages carry the method, the path and query (never headers), the status and Billit's codes; the API key and
bearer token never reach an exception. Text taken from the other side (an error body, a transport error) is
redacted by the client before an error is built from it, since a server may echo our headers back, and a body
that is not JSON is described (kind, size), never quoted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BillitErrorDetail:
    """One entry of Billit's `{"errors": [{"Code": ..., "Description": ...}]}` envelope."""

    code: str
    description: str | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.description}" if self.description else self.code


class BillitError(Exception):
    """Base of every error raised by the Billit connector."""

    retryable: bool = False
    retries_at_most: float = math.inf  # whatever BILLIT_MAX_RETRIES says


class BillitTransportError(BillitError):
    """The request failed on the network. `maybe_processed` is False only when it surely never left."""

    retryable = True

    def __init__(self, message: str, *, method: str, url: str, maybe_processed: bool) -> None:
        super().__init__(f"{method} {url}: {message}")
        self.method = method
        self.url = url
        self.maybe_processed = maybe_processed


class BillitUnknownHostError(BillitTransportError):
    """DNS answers that the base URL's host name does not exist: a mistyped BILLIT_BASE_URL, which no retry mends
    (a resolver that cannot answer for now is a plain transport error, retried)."""

    retryable = False


class BillitUnreachableError(BillitTransportError):
    """The base URL refused the connection, let it time out or failed its TLS handshake, and has not answered in
    this process before: most often a wrong BILLIT_BASE_URL, or a service that is down. Retried a few times, not
    the twenty a Billit that answered before gets for a blip: an operator waiting for a one-line error does not
    wait fifteen seconds for it."""

    retries_at_most = 3


class BillitProtocolError(BillitError):
    """Billit answered 2xx with a body we cannot interpret."""


class BillitPaginationError(BillitError):
    """Paging would loop forever (a repeated NextPageLink)."""


class BillitHTTPError(BillitError):
    """Billit answered with a non-2xx status."""

    def __init__(
        self,
        *,
        method: str,
        url: str,
        status: int,
        details: tuple[BillitErrorDetail, ...] = (),
        hint: str | None = None,
    ) -> None:
        summary = "; ".join(str(detail) for detail in details) or "no error details"
        message = f"{method} {url} -> HTTP {status}: {summary}"
        super().__init__(f"{message} ({hint})" if hint else message)
        self.method = method
        self.url = url
        self.status = status
        self.details = details
        self.hint = hint

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(detail.code for detail in self.details)


class BillitRateLimitedError(BillitHTTPError):
    retryable = True

    def __init__(self, *, retry_after: float | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class BillitServerError(BillitHTTPError):
    retryable = True


class BillitAuthError(BillitHTTPError):
    pass


class BillitForbiddenIdError(BillitAuthError):
    pass


class BillitValidationError(BillitHTTPError):
    pass


class BillitNotFoundError(BillitHTTPError):
    pass


class BillitConflictError(BillitHTTPError):
    pass
