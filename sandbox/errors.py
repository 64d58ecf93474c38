"""The sandbox's error type and Billit's error body shape, and what becomes of a request whose client went away.

Billit answers business and validation errors with ``{"errors":[{"Code":"...","Description":"..."}]}``
(lower-case ``errors``, ``Description`` optional; docs/reference/billit-api.md#errors). Handlers raise :class:`ApiError`
and the app turns it into that body with the given status.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

__all__ = ["ApiError", "error_body", "survives_disconnects"]

Endpoint = Callable[[Request], Awaitable[Response]]


def error_body(errors: list[tuple[str, str | None]]) -> bytes:
    """Serialize ``[(Code, Description)]`` into Billit's error envelope (Description omitted when None)."""
    items = [{"Code": code} if description is None else {"Code": code, "Description": description}
             for code, description in errors]  # fmt: skip
    return json.dumps({"errors": items}, ensure_ascii=False, separators=(",", ":")).encode()


class ApiError(Exception):
    """An HTTP error answer: ``status`` plus Billit errors, or an explicit (possibly empty) body."""

    def __init__(
        self,
        status: int,
        errors: list[tuple[str, str | None]] | None = None,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.errors = errors or []
        self.body = body if body is not None else (error_body(self.errors) if self.errors else b"")
        self.headers = headers or {}
        super().__init__(f"{status}: {self.errors or self.body!r}")

    @classmethod
    def generic(cls, description: str, status: int = 400) -> ApiError:
        """A 400 ``GenericError`` (Billit's catch-all code, also used for OData errors,
        docs/reference/billit-api.md#error-codes)."""
        return cls(status, [("GenericError", description)])


def survives_disconnects(endpoint: Endpoint) -> Endpoint:
    """``endpoint``, answering nobody when its client disconnects before the request's body has arrived (reading it
    raises ``ClientDisconnect``: a Ctrl-C during a push, a client's timeout).

    Every endpoint reads the body before it acts, so nothing of such a request is done, and that is one line in
    the log: uncaught, the exception was uvicorn's "Exception in ASGI application" with a traceback of some 45
    lines, for what is routine in a sandbox.
    """

    @functools.wraps(endpoint)
    async def answered(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ClientDisconnect:
            logging.getLogger("uvicorn.error").warning(
                "%s %s: the client disconnected before sending the whole request; nothing done",
                request.method,
                request.url.path,
            )
            return Response(status_code=499)  # nginx's "client closed request"; nobody reads it

    return answered
