"""``GET /v1/orders`` and ``GET /v1/orders/deleted`` in the sandbox: query options, paging and the envelope.

Order of operations is stock ASP.NET Web API OData (``ODataQueryOptions.ApplyTo`` then ``LimitResults``,
docs/reference/billit-api.md#paging): ``$filter`` → ``$inlinecount`` (count of the filtered set) → ``$orderby`` (+
stable
``OrderID``) → ``$skip`` → ``$top`` → page limit of 120. A ``NextPageLink`` is only emitted when the page
limit truncated the result, so ``$top`` ≤ 120 never gets one even when more rows match — the documented
gotcha. ``Sandbox(stock_top_behaviour=False)`` instead treats such a ``$top`` as the page size and links to
``$skip + $top`` while rows remain.

Quirks (``quirks.py``) change four answers: ``refuse_or``/``refuse_gt`` narrow ``$filter``;
``ignore_inlinecount`` leaves ``Count`` out; on ``/v1/orders/deleted``, ``deleted_ignores_filter`` lists every
deleted order whatever the ``$filter`` and ``deleted_last_modified="order"`` shows (and filters and sorts on)
each order's last change before its deletion instead of the deletion time
(``docs/reference/billit-api.md#deletions``).

Filtered+sorted results are cached per (company, query) and reused while the company's data version is
unchanged, so walking many pages costs O(page) per request after the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sandbox.odata import (
    ODataError,
    OrderKey,
    Predicate,
    compile_filter,
    compile_orderby,
    next_page_link,
    sort_orders,
)
from sandbox.render import join_page, render_json, render_summary, summary_projection
from sandbox.store import Order, Sandbox

__all__ = ["ListQuery", "list_page", "modify_random_orders", "parse_list_query", "select_rows"]

_ODATA_OPTIONS = ("$filter", "$orderby", "$top", "$skip", "$inlinecount", "$select", "$expand", "$format")


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The parsed query options of one list request (``params`` keeps the raw pairs for the next link)."""

    params: tuple[tuple[str, str], ...]
    filter: str | None
    orderby: str | None
    top: int | None
    skip: int
    inlinecount: bool
    fulltext: str | None


def parse_list_query(params: Sequence[tuple[str, str]]) -> ListQuery:
    """Validate the query options like Web API OData; raises :class:`ODataError`."""
    seen: dict[str, str] = {}
    fulltext: str | None = None
    for key, value in params:
        if key in _ODATA_OPTIONS:
            if key in seen:
                raise ODataError(
                    f"Query option '{key}' was specified more than once, it must be specified at most once."
                )
            seen[key] = value
        elif key.lower() == "fulltextsearch":
            fulltext = value
    top = _non_negative(seen, "$top")
    skip = _non_negative(seen, "$skip") or 0
    inlinecount = seen.get("$inlinecount")
    if inlinecount is not None and inlinecount not in ("allpages", "none"):
        raise ODataError(f"'{inlinecount}' is not a valid value for $inlinecount. Use 'allpages' or 'none'.")
    return ListQuery(
        params=tuple(params),
        filter=seen.get("$filter"),
        orderby=seen.get("$orderby"),
        top=top,
        skip=skip,
        inlinecount=inlinecount == "allpages",
        fulltext=fulltext or None,
    )


def _non_negative(seen: dict[str, str], key: str) -> int | None:
    raw = seen.get(key)
    if raw is None:
        return None
    if not re.fullmatch(r"\s*\+?\d+\s*", raw) or int(raw) >= 2**31:
        raise ODataError(
            f"Invalid value '{raw}' for {key} query option found. "
            f"The {key} query option requires a non-negative integer value."
        )
    return int(raw)


@lru_cache(maxsize=256)
def _compiled_filter(text: str, refuse_or: bool, refuse_gt: bool) -> Predicate:
    return compile_filter(text, refuse_or=refuse_or, refuse_gt=refuse_gt)


@lru_cache(maxsize=256)
def _compiled_orderby(text: str | None) -> tuple[OrderKey, ...]:
    return tuple(compile_orderby(text))


def _fulltext_predicate(text: str) -> Predicate:
    # fullTextSearch is declared in Swagger but undocumented [S][T]: a case-insensitive "contains" over the
    # fields a person would search on.
    needle = text.lower()

    def matches(order: Order) -> bool:
        counter = order.get("CounterParty") or {}
        for value in (
            order.get("OrderNumber"),
            order.get("Reference"),
            order.get("ExternalProviderID"),
            order.get("PaymentReference"),
            order.get("OrderTitle"),
            counter.get("DisplayName"),
            counter.get("Name"),
            counter.get("VATNumber"),
        ):
            if value and needle in str(value).lower():
                return True
        return False

    return matches


def select_rows(sandbox: Sandbox, company_id: int, deleted: bool, query: ListQuery, today: date) -> list[Order]:
    """The filtered and sorted orders for ``query`` (cached while the company's data is unchanged)."""
    quirks = sandbox.quirks
    keys = _compiled_orderby(query.orderby)
    if deleted and quirks.deleted_refuses_filter and query.filter is not None:
        raise ODataError("The query specified in the URI is not valid. $filter is not allowed on this list.")
    text = None if deleted and quirks.deleted_ignores_filter else query.filter
    predicate = _compiled_filter(text, quirks.refuse_or, quirks.refuse_gt) if text is not None else None
    last_changed = deleted and quirks.deleted_last_modified == "order"
    cache_key = (company_id, deleted, text, query.orderby, query.fulltext, today, last_changed)
    version = sandbox.versions[company_id]
    hit = sandbox.list_cache.get(cache_key)
    if hit is not None and hit[0] == version:
        return hit[1]
    source: Iterable[Order]
    if last_changed:
        source = sandbox.deleted_as_last_changed(company_id)
    else:
        source = sandbox.company_orders(company_id, deleted=deleted).values()
    rows = [order for order in source if predicate(order)] if predicate is not None else list(source)
    if query.fulltext:
        fulltext = _fulltext_predicate(query.fulltext)
        rows = [order for order in rows if fulltext(order)]
    sort_orders(rows, keys, today)
    sandbox.cache_list(cache_key, version, rows)
    return rows


# What a deleted order's item holds under the quirk `deleted_items_bare`.
_BARE = ("OrderID", "LastModified")


def list_page(sandbox: Sandbox, company_id: int, deleted: bool, query: ListQuery, base_url: str, today: date) -> bytes:
    """The JSON body ``{"Items":[...], "NextPageLink": ..., "Count": n}`` of one list request."""
    rows = select_rows(sandbox, company_id, deleted, query, today)
    page_size = sandbox.page_size
    start = query.skip
    link: str | None = None
    if query.top is not None and query.top <= page_size and not sandbox.stock_top_behaviour:
        end = start + query.top
        page = rows[start:end]
        if len(rows) > end:
            link = next_page_link(base_url, query.params, query.top, reduce_top=False)
    else:
        limit = len(rows) if query.top is None else min(len(rows), start + query.top)
        end = min(limit, start + page_size)
        page = rows[start:end]
        # Stock LimitResults: a next link only when the page limit (not $top) cut the result short.
        if limit > end:
            link = next_page_link(base_url, query.params, page_size)
    if deleted and sandbox.quirks.deleted_page_without_link:
        link = None
    count = len(rows) if query.inlinecount and not sandbox.quirks.ignore_inlinecount else None
    extra: dict[str, Any] = {"NextPageLink": link, "Count": count}
    if deleted and sandbox.quirks.deleted_items_bare:
        return join_page(
            (render_json({key: summary_projection(order, today)[key] for key in _BARE}) for order in page), extra
        )
    if deleted and sandbox.quirks.deleted_last_modified == "order":
        # The rows are views with another LastModified than the stored order: not for the per-order cache.
        return join_page((render_summary(order, today) for order in page), extra)
    return join_page((sandbox.render_summary(order, today) for order in page), extra)


def modify_random_orders(sandbox: Sandbox, company_id: int, count: int) -> None:
    """Change ``count`` random orders of the company now (fault ``modify_during_paging``).

    Each gets a plausible change — an unpaid order is paid, a paid one flips its export flag — and a fresh
    ``LastModified``, so under ``$orderby=LastModified`` it jumps behind the pager and the rows after it shift
    left by one: exactly how ``$skip`` paging loses records on a live system.
    """
    orders = sandbox.company_orders(company_id)
    if not orders:
        return
    rng = sandbox.injector.rng
    chosen = rng.sample(sorted(orders), min(count, len(orders)))
    for order_id in chosen:
        order = orders[order_id]
        if not order.get("Paid"):
            now = sandbox.now()
            order["Paid"] = True
            order["PaidDate"] = now.replace(hour=0, minute=0, second=0, microsecond=0)
            order["ToPay"] = Decimal("0.00")
            order["OrderStatus"] = "Paid"
            sandbox.mark_modified(order, when=now)
        else:
            order["ExportedToConnector"] = not order.get("ExportedToConnector", False)
            sandbox.mark_modified(order)
    sandbox.injector.counters["paging_modifications"] += len(chosen)
