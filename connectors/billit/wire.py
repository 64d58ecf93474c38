"""Billit's wire format: tolerant JSON parsing with exact decimals, and JSON encoding of request bodies.

Billit sometimes serves JSON as `text/plain` and answers a create with a bare integer, so bodies are parsed from
their text whatever the Content-Type says (billit-api.md §7.1, §6.1). Numbers with a fraction become `Decimal`,
never float: money stays exact from the wire to the warehouse.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.billit.errors import BillitErrorDetail, BillitProtocolError

_DECIMAL_MARK = "\u0000dec:"
_DECIMAL_TOKEN = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?(?:E[+-]?[0-9]+)?)"')


def parse_json(text: str) -> Any:
    """Parse a response body; empty means None. Fractions become Decimal."""
    if not text.strip():
        return None
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError:
        raise BillitProtocolError(f"Billit answered a body that is not JSON: {text[:200]!r}") from None


def _encode_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} to Billit")
        return _DECIMAL_MARK + format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_json(payload: Any) -> bytes:
    """JSON for a request body; Decimals are written as exact JSON numbers (json has no Decimal support)."""
    text = json.dumps(payload, default=_encode_default, ensure_ascii=False, separators=(",", ":"))
    return _DECIMAL_TOKEN.sub(r"\1", text).encode("utf-8")


def parse_error_details(text: str) -> tuple[BillitErrorDetail, ...]:
    """Billit's `{"errors": [{"Code", "Description"}]}`, the flat `{"Code", "Description"}`, or plain text."""
    try:
        body = parse_json(text)
    except BillitProtocolError:
        return (BillitErrorDetail("UnparsedError", text.strip()[:500]),) if text.strip() else ()
    if isinstance(body, dict):
        lowered = {str(key).lower(): value for key, value in body.items()}
        entries = lowered.get("errors")
        if entries is None and ("code" in lowered or "message" in lowered):
            entries = [body]
    elif isinstance(body, list):
        entries = body
    elif body is None:
        return ()
    else:
        return (BillitErrorDetail("UnparsedError", str(body)[:500]),)
    details = []
    for entry in entries or []:
        if isinstance(entry, dict):
            fields = {str(key).lower(): value for key, value in entry.items()}
            code = fields.get("code") or "UnknownError"
            description = fields.get("description") or fields.get("message")
            details.append(BillitErrorDetail(str(code), str(description) if description else None))
        else:
            details.append(BillitErrorDetail("UnknownError", str(entry)))
    return tuple(details)


def parse_order_id(body: Any) -> int:
    """POST /v1/orders answers a bare integer; some answer `{"OrderID": n}` or the id as a string."""
    if isinstance(body, dict):
        lowered = {str(key).lower(): value for key, value in body.items()}
        body = lowered.get("orderid")
    if isinstance(body, bool):
        raise BillitProtocolError(f"expected an OrderID, got {body!r}")
    if isinstance(body, int):
        return body
    if isinstance(body, str) and body.strip().isdigit():
        return int(body.strip())
    raise BillitProtocolError(f"expected an OrderID, got {str(body)[:200]!r}")


def parse_datetime(text: str) -> datetime:
    """Billit's naive local timestamps (`2024-03-10T15:00:49.72`, up to 7 fraction digits; µs kept)."""
    return datetime.fromisoformat(text)
