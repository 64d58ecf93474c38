"""``$orderby`` (with Web API's ``EnsureStableOrdering``), SQL Server-like sorting, and ``NextPageLink``
built exactly like System.Web.Http.OData does."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from sandbox.odata.filter import property_getter
from sandbox.odata.schema import (
    COLLECTION_PROPERTIES,
    COMPLEX_PROPERTIES,
    SCALAR_PROPERTIES,
    Getter,
    ODataError,
    Order,
)


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``$orderby`` item: a property path and its direction."""

    path: str
    descending: bool = False


def compile_orderby(text: str | None) -> list[OrderKey]:
    """Parse ``$orderby`` and apply Web API's ``EnsureStableOrdering`` (append ``OrderID asc``).

    Without ``$orderby`` the result is ``[OrderKey("OrderID")]``: stock Web API OData orders by the entity key
    when a page size is set (docs/reference/billit-api.md#paging [I]).
    """
    keys: list[OrderKey] = []
    if text is not None:
        if not text.strip():
            raise ODataError("The $orderby query option cannot be empty.")
        for item in text.split(","):
            parts = item.split()
            if not parts or len(parts) > 2:
                raise ODataError(f"Syntax error in $orderby at '{item.strip()}'.")
            path = parts[0]
            descending = False
            if len(parts) == 2:
                # ODataLib keywords are case-sensitive: 'asc' / 'desc' only.
                if parts[1] not in ("asc", "desc"):
                    raise ODataError(f"Syntax error in $orderby: '{parts[1]}' is not 'asc' or 'desc'.")
                descending = parts[1] == "desc"
            _check_orderable(path)
            keys.append(OrderKey(path, descending))
    if not any(key.path == "OrderID" for key in keys):
        keys.append(OrderKey("OrderID"))
    return keys


def _check_orderable(path: str) -> None:
    segments = path.split("/")
    head = segments[0]
    if head in SCALAR_PROPERTIES and len(segments) == 1:
        return
    if head in COMPLEX_PROPERTIES:
        if len(segments) == 2 and segments[1] in COMPLEX_PROPERTIES[head]:
            return
        if len(segments) == 1:
            raise ODataError("The $orderby expression must evaluate to a single value of primitive type.")
        raise ODataError(f"Could not find a property named '{segments[1]}' on type 'Domain.Order.{head}'.")
    if head in COLLECTION_PROPERTIES:
        raise ODataError("The $orderby expression must evaluate to a single value of primitive type.")
    raise ODataError(f"Could not find a property named '{head}' on type 'Domain.Order.Order'.")


def _sort_getter(path: str, today: date) -> Getter:
    if path == "DaysOverdue":
        return lambda order: _days_overdue(order, today)
    if path == "Overdue":

        def overdue(order: Order) -> bool | None:
            days = _days_overdue(order, today)
            return None if days is None else days > 0 and not order.get("Paid", False)

        return overdue
    return property_getter(path)


def _days_overdue(order: Order, today: date) -> int | None:
    expiry = order.get("ExpiryDate")
    return None if expiry is None else (today - expiry.date()).days


def sort_orders(orders: list[Order], keys: Sequence[OrderKey], today: date) -> list[Order]:
    """Sort in place by ``keys`` (SQL Server order: nulls first ascending, last descending) and return."""
    getters = [(_sort_getter(key.path, today), key.descending) for key in keys]
    if len(getters) == 1 or all(desc == getters[0][1] for _, desc in getters):
        descending = getters[0][1]
        funcs = [getter for getter, _ in getters]
        if len(funcs) == 1:
            only = funcs[0]
            orders.sort(key=lambda order: _null_key(only(order)), reverse=descending)
        else:
            orders.sort(key=lambda order: tuple(_null_key(f(order)) for f in funcs), reverse=descending)
        return orders
    # Mixed directions: stable passes from the least to the most significant key.
    for getter, descending in reversed(getters):
        orders.sort(key=lambda order, g=getter: _null_key(g(order)), reverse=descending)  # type: ignore[misc]
    return orders


def _null_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


# --------------------------------------------------------------------------------------------------------
# NextPageLink
# --------------------------------------------------------------------------------------------------------


def escape_data_string(text: str) -> str:
    """.NET ``Uri.EscapeDataString``: percent-encode UTF-8 except the RFC 3986 unreserved characters."""
    return quote(text, safe="")


def next_page_link(base_url: str, params: Sequence[tuple[str, str]], page_size: int, *, reduce_top: bool = True) -> str:
    """Build the next-page URL like System.Web.Http.OData's ``GetNextPageLink(requestUri, query, pageSize)``.

    Every query parameter except ``$skip`` is re-emitted as ``key=value&`` (EscapeDataString-encoded, a
    leading ``$`` kept), ``$top`` reduced by the page size, and ``$skip={skip + page_size}`` appended last.
    ``base_url`` is scheme://host[:port]/path as the request was addressed.
    """
    next_skip = page_size
    query: list[str] = []
    for key, value in params:
        if key == "$top" and reduce_top:
            top = _try_parse_int32(value)
            if top is not None:
                value = str(top - page_size)
        elif key == "$skip":
            skip = _try_parse_int32(value)
            if skip is not None:
                next_skip += skip
            continue
        escaped_key = "$" + escape_data_string(key[1:]) if key.startswith("$") else escape_data_string(key)
        query.append(f"{escaped_key}={escape_data_string(value)}&")
    query.append(f"$skip={next_skip}")
    return f"{base_url}?{''.join(query)}"


def _try_parse_int32(text: str) -> int | None:
    """C# ``Int32.TryParse`` with the default NumberStyles.Integer (surrounding whitespace, leading sign)."""
    stripped = text.strip()
    if not re.fullmatch(r"[+-]?\d+", stripped):
        return None
    value = int(stripped)
    return value if -(2**31) <= value < 2**31 else None
