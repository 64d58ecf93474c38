"""The companies of the sandbox's account: which of them may use the API, and the requests counted per company.

Billit's ``accountInformation`` lists every company the caller's user can see, each with ``APIAllowed``
(docs/reference/billit-api.md#companies). A company whose API access is switched off stays listed, with
``"APIAllowed": false``, and the sandbox refuses every ``/v1`` request that names it in ``PartyID`` or
``ContextPartyID``. What Billit answers then is not documented, so the answer is a quirk
(``Quirks.api_off_status``): an empty 401 by default, the answer Billit gives for any company the caller may not
use, or 403 with Billit's error body (:data:`API_OFF_ERROR`, a code we made up).

:class:`CompanyRequestCounter` counts ``/v1`` requests per ``PartyID`` header and status, faults included, for
the benchmarks that check how a run spread its requests over the companies (``GET /_sandbox/stats``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.errors import ApiError

__all__ = ["API_OFF_ERROR", "CompanyRequestCounter", "api_off_companies", "api_off_error"]

API_OFF_ERROR = ("APIAccessNotAllowed", "API access is not enabled for this company.")
"""The ``(Code, Description)`` of a 403 for a company with API access off: invented, Billit documents none."""

NO_PARTY = "none"
"""The key :class:`CompanyRequestCounter` counts a request without a ``PartyID`` header under."""


def api_off_companies(party_ids: Sequence[int], requested: Collection[int] | None) -> set[int]:
    """The companies with API access off: ``requested``, or by default the last one when there are three or more.

    The default keeps the two-company sandbox as it always was, and gives a sandbox of many companies the one
    failing company a run over all of them must survive. ``ValueError`` for a PartyID the sandbox does not host.
    """
    if requested is None:
        return {party_ids[-1]} if len(party_ids) >= 3 else set()
    unknown = sorted(set(requested) - set(party_ids))
    if unknown:
        raise ValueError(f"API access can only be switched off for a hosted company, not {unknown}")
    return set(requested)


def api_off_error(status: int) -> ApiError:
    """The refusal of a request for a company with API access off (``Quirks.api_off_status``: 401 or 403)."""
    if status == 403:
        return ApiError(403, [API_OFF_ERROR])
    return ApiError(401)


class CompanyRequestCounter:
    """Pure ASGI middleware: ``on_request(party, status)`` once per finished ``/v1`` request.

    ``party`` is the ``PartyID`` header as sent (:data:`NO_PARTY` without one); ``status`` is 0 when the
    connection was dropped (the fault middleware inside raises after starting a 200). Placed outside the fault
    middleware, so injected 429s and 5xx count too.
    """

    def __init__(self, app: ASGIApp, on_request: Callable[[str, int], None]) -> None:
        self.app = app
        self.on_request = on_request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        party = next((value.decode("latin-1").strip() for name, value in scope["headers"] if name == b"partyid"), "")
        status, counted = 0, False

        async def record(message: Message) -> None:
            nonlocal status, counted
            # Counted before the message that makes the answer whole goes out: a client holding its answer finds it
            # counted (after it, the server's thread may not have run yet when the client reads the counts). The
            # server writes the head at once, so an answer without a body (an empty 401, a 204, a HEAD's) is whole
            # with its head; any other with its last body message.
            if message["type"] == "http.response.start":
                status = message["status"]
                whole = scope.get("method") == "HEAD" or status in (204, 304) or _empty(message.get("headers", []))
            else:
                whole = message["type"] == "http.response.body" and not message.get("more_body", False)
            if whole and not counted:
                counted = True
                self.on_request(party or NO_PARTY, status)
            await send(message)

        try:
            await self.app(scope, receive, record)
        except BaseException:
            status = 0
            raise
        finally:
            if not counted:  # no complete answer: dropped, or failed before its last body message
                self.on_request(party or NO_PARTY, status)


def _empty(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether response headers announce an empty body (`Content-Length: 0`)."""
    return any(name.lower() == b"content-length" and value.strip() == b"0" for name, value in headers)
