"""The sandbox's error type and Billit's error body shape.

Billit answers business and validation errors with ``{"errors":[{"Code":"...","Description":"..."}]}``
(lower-case ``errors``, ``Description`` optional; docs/reference/billit-api.md#errors). Handlers raise :class:`ApiError`
and the app turns it into that body with the given status.
"""

from __future__ import annotations

import json

__all__ = ["ApiError", "error_body"]


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
