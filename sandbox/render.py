"""Billit JSON serialization for the sandbox: a small, fast writer for storage-form orders.

Billit's output conventions (docs/reference/billit-api.md#serialization) cannot be produced by ``json.dumps`` alone:

* money and percentages are JSON numbers with exactly 2 decimals (``24.00``, ``21.00``), while ``Quantity``,
  ``UnitPriceExcl``, ``UnitPriceIncl`` and ``FXRateToForeign`` carry 5 (``2.00000``) — the scale of a C#
  ``decimal``. The Decimal's text is written straight into the number so a client parsing with
  ``parse_float=Decimal`` gets the exact value back;
* datetimes are ``YYYY-MM-DDTHH:MM:SS[.fffffff]`` with no offset and trailing fraction zeros trimmed
  (``2024-03-10T15:00:49.72``, ``2024-01-01T00:00:00``);
* null members are omitted.

The writer is a recursive function over dicts/lists with an exact-type dispatch (about 50 µs for a full
seeded order on a dev box); the sandbox also caches each order's rendered JSON until the order changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # C-accelerated string quoting
from typing import Any

__all__ = [
    "FIVE_DECIMAL_KEYS",
    "SUMMARY_COUNTER_PARTY_KEYS",
    "SUMMARY_KEYS",
    "days_overdue",
    "format_datetime",
    "join_page",
    "render_json",
    "render_order",
    "render_summary",
    "summary_projection",
]

# Billit keeps the C# decimal scale: these carry 5 decimals, every other decimal 2
# (docs/reference/billit-api.md#serialization examples).
FIVE_DECIMAL_KEYS: frozenset[str] = frozenset({"Quantity", "UnitPriceExcl", "UnitPriceIncl", "FXRateToForeign"})

# The list endpoints return a summary projection (docs/reference/billit-api.md#list-items,
# /docs/retrieve-list-of-invoices), in this order.
SUMMARY_KEYS: tuple[str, ...] = (
    "OrderID",
    "CompanyID",
    "OrderPDF",
    "OrderNumber",
    "CounterParty",
    "OrderDate",
    "ExpiryDate",
    "OrderType",
    "LastModified",
    "Created",
    "OrderDirection",
    "TotalExcl",
    "TotalIncl",
    "TotalVAT",
    "PaymentReference",
    "Paid",
    "ExternalProvider",
    "Currency",
    "IsSent",
    "Invoiced",
    "RemindersSent",
    "ToPay",
    "OrderStatus",
    "Overdue",
    "DaysOverdue",
    "FXRateToForeign",
    "DeliveryDate",
    "ExportedToConnector",
    "CurrentDocumentDeliveryDetails",
)
SUMMARY_COUNTER_PARTY_KEYS: tuple[str, ...] = (
    "PartyID",
    "Addresses",
    "Street",
    "StreetNumber",
    "Box",
    "City",
    "CountryCode",
    "VATNumber",
    "PartyType",
    "VATLiable",
    "DisplayName",
    "VATDeductable",
    "Identifiers",
)


def format_datetime(value: datetime | date) -> str:
    """Billit's datetime text: ISO 8601 without offset, fraction trimmed of trailing zeros."""
    if not isinstance(value, datetime):
        return f"{value.isoformat()}T00:00:00"
    text = value.replace(tzinfo=None).isoformat() if value.tzinfo is not None else value.isoformat()
    # isoformat() omits the fraction when microsecond == 0, otherwise writes all 6 digits.
    return text.rstrip("0") if len(text) > 19 else text


def days_overdue(expiry: datetime | None, today: date) -> int | None:
    """``DaysOverdue`` = today − ExpiryDate in days (negative when not yet due),
    docs/reference/billit-api.md#calculations."""
    if expiry is None:
        return None
    return (today - expiry.date()).days if isinstance(expiry, datetime) else (today - expiry).days


def _write(value: Any, key: str, out: list[str]) -> None:
    """Append the JSON text of ``value`` (the member ``key`` decides the decimal scale) to ``out``."""
    kind = type(value)
    if kind is str:
        out.append(encode_basestring(value))
    elif kind is bool:
        out.append("true" if value else "false")
    elif kind is int:
        out.append(str(value))
    elif kind is Decimal:
        out.append(f"{value:.5f}" if key in FIVE_DECIMAL_KEYS else f"{value:.2f}")
    elif kind is dict:
        _write_object(value, out)
    elif kind is list or kind is tuple:
        out.append("[")
        first = True
        for item in value:
            if item is None:
                continue
            if not first:
                out.append(",")
            first = False
            _write(item, key, out)
        out.append("]")
    elif kind is datetime and value.tzinfo is None:
        text = value.isoformat()
        out.append('"' + (text.rstrip("0") if len(text) > 19 else text) + '"')
    elif value is None:
        out.append("null")
    elif isinstance(value, Mapping):
        _write_object(value, out)
    elif isinstance(value, datetime | date):
        out.append('"' + format_datetime(value) + '"')
    elif isinstance(value, float):
        out.append(repr(value))
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, str):
        out.append(encode_basestring(str(value)))
    elif isinstance(value, Iterable):
        _write(list(value), key, out)
    else:
        raise TypeError(f"cannot serialize {kind.__name__} for member {key!r}")


def _write_object(obj: Mapping[str, Any], out: list[str]) -> None:
    out.append("{")
    first = True
    for key, value in obj.items():
        if value is None:
            continue  # Billit omits null members (docs/reference/billit-api.md#serialization).
        if first:
            first = False
        else:
            out.append(",")
        out.append(encode_basestring(key))
        out.append(":")
        _write(value, key, out)
    out.append("}")


def render_json(value: Any) -> bytes:
    """Serialize any storage-form value (dicts, lists, Decimals, datetimes...) the way Billit does."""
    out: list[str] = []
    _write(value, "", out)
    return "".join(out).encode()


def _write_order(order: Mapping[str, Any], today: date, out: list[str]) -> None:
    out.append("{")
    first = True
    overdue_written = False
    for key, value in order.items():
        if value is None:
            continue
        if first:
            first = False
        else:
            out.append(",")
        out.append(encode_basestring(key))
        out.append(":")
        _write(value, key, out)
        if key == "OrderStatus":
            # Overdue/DaysOverdue depend on "today", so they are computed at render time and placed right
            # after OrderStatus as in Billit's GET examples (docs/reference/billit-api.md#sales-invoice-example).
            _write_overdue(order, today, out)
            overdue_written = True
    if not overdue_written and _write_overdue(order, today, out) and first:
        out[1] = out[1][1:]  # no member before the Overdue pair: drop its leading comma
    out.append("}")


def _write_overdue(order: Mapping[str, Any], today: date, out: list[str]) -> bool:
    days = days_overdue(order.get("ExpiryDate"), today)
    if days is None:
        return False
    overdue = "true" if days > 0 and not order.get("Paid", False) else "false"
    out.append(f',"Overdue":{overdue},"DaysOverdue":{days}')
    return True


def render_order(order: Mapping[str, Any], today: date) -> bytes:
    """The full ``GET /v1/orders/{id}`` body of a storage-form order
    (docs/reference/billit-api.md#sales-invoice-example, #received-invoice-example)."""
    out: list[str] = []
    _write_order(order, today, out)
    return "".join(out).encode()


def summary_projection(order: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The list-item summary of an order (docs/reference/billit-api.md#list-items): a fixed subset, ``OrderPDF`` reduced
    to ``FileID``."""
    result: dict[str, Any] = {}
    for key in SUMMARY_KEYS:
        if key == "Overdue":
            days = days_overdue(order.get("ExpiryDate"), today)
            if days is not None:
                result["Overdue"] = days > 0 and not order.get("Paid", False)
                result["DaysOverdue"] = days
            continue
        if key == "DaysOverdue":
            continue
        value = order.get(key)
        if value is None:
            continue
        if key == "OrderPDF":
            file_id = value.get("FileID")
            if file_id is None:
                continue
            value = {"FileID": file_id}
        elif key == "CounterParty":
            # The list projection does not load the party's addresses: Billit's list example shows
            # "Addresses": [] next to the flat address fields (docs/reference/billit-api.md#list-items).
            value = {
                k: ([] if k == "Addresses" else value[k])
                for k in SUMMARY_COUNTER_PARTY_KEYS
                if value.get(k) is not None
            }
        elif key == "CurrentDocumentDeliveryDetails":
            # Only IsDocumentDelivered appears in the docs' list example; whether Billit lists the other
            # delivery fields once delivered is [U] (docs/reference/billit-api.md#list-items) — we keep to the
            # documented subset.
            value = {"IsDocumentDelivered": bool(value.get("IsDocumentDelivered", False))}
        result[key] = value
    return result


def render_summary(order: Mapping[str, Any], today: date) -> bytes:
    """The JSON text of one list item (see :func:`summary_projection`)."""
    return render_json(summary_projection(order, today))


def join_page(items: Iterable[bytes], extra: Mapping[str, Any]) -> bytes:
    """Assemble ``{"Items":[...], "NextPageLink": ..., "Count": n}`` from pre-rendered items."""
    body = b'{"Items":[' + b",".join(items) + b"]"
    for key, value in extra.items():
        if value is None:
            continue
        body += b"," + encode_basestring(key).encode() + b":" + render_json(value)
    return body + b"}"


# In the compact JSON written here, a member name is the only string that follows `{` or `,` and is followed by `:`
# (a quote inside a string is escaped, so never follows either).
_MEMBER_NAME = re.compile(rb'(?<=[{,])"([A-Za-z][A-Za-z0-9_]*)":')


def recase_members(body: bytes, case: str) -> bytes:
    """``body`` (JSON written by ``render_json``) with its member names in ``case`` (``Quirks.member_case``)."""
    if case == "pascal":
        return body
    recase = _camel if case == "camel" else str.lower
    return _MEMBER_NAME.sub(lambda match: b'"%s":' % recase(match[1].decode()).encode(), body)


def _camel(name: str) -> str:
    """The name as System.Text.Json's camel case writes it: the leading capitals lowered, but the last of several
    when a lower-case letter follows it (``VATNumber`` -> ``vatNumber``, ``OrderID`` -> ``orderID``)."""
    chars = list(name)
    for index, char in enumerate(chars):
        if index == 1 and not char.isupper():
            break
        if index > 0 and index + 1 < len(chars) and not chars[index + 1].isupper():
            break
        chars[index] = char.lower()
    return "".join(chars)
