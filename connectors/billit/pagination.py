"""Paging over Billit's OData lists: one small paginator object per listing.

Billit (ASP.NET Web API OData) pages at 120 records and adds `NextPageLink` only when that limit truncated the
result. Two quirks shape this module (billit-api.md §3.3):

* `$top` is applied before the page limit, so a request with `$top` <= 120 gets at most that many records and
  *no* `NextPageLink` even when more match. When we sent such a `$top` and got a full page without a link, we
  continue with `$skip` ourselves.
* `NextPageLink` may be missing or null on the last page, and its host is whatever the server saw (possibly an
  internal host behind a proxy). We only take its `/v1/...` path and query and send it to our own base URL, so
  credentials never go to a host we were not configured for.

A link we already followed raises `BillitPaginationError` instead of looping forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.billit.errors import BillitPaginationError, BillitProtocolError
from connectors.billit.odata import PAGE_SIZE, ODataQuery

MAX_EMPTY_LINKED_PAGES = 3


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_link: str | None
    count: int | None


@dataclass(frozen=True)
class PageRequest:
    """Either a path with params, or a link path with its query already encoded."""

    path: str
    params: dict[str, str] | None = None


@dataclass
class PagingStats:
    """Counters of one listing, for run summaries."""

    pages: int = 0
    records: int = 0
    duplicates: int = 0
    skip_fallbacks: int = 0


def parse_page(body: Any) -> Page:
    """Read the `{"Items": [...], "NextPageLink": ..., "Count": n}` envelope (NextPageLink and Count may be absent).

    An object without `Items` is refused rather than read as an empty page: a server that is not Billit (an echo
    service at a wrong BILLIT_BASE_URL) would otherwise look like a company with no orders. An unreadable Count is
    read as no count (the caller then lists instead of trusting it).
    """
    if isinstance(body, list):  # the older published spec declares a bare Order[]
        return Page(items=body, next_link=None, count=None)
    if not isinstance(body, dict) or not isinstance(body.get("Items"), list):
        raise BillitProtocolError(
            f"expected an OData page with an Items list, got a JSON {type(body).__name__} without one: "
            "is BILLIT_BASE_URL a Billit API root?"
        )
    next_link = body.get("NextPageLink") or None
    count = body.get("Count")
    readable = isinstance(count, int | str) and not isinstance(count, bool) and str(count).strip().isdigit()
    return Page(items=body["Items"], next_link=next_link if isinstance(next_link, str) else None,
                count=int(str(count)) if readable else None)


def link_to_request(link: str) -> PageRequest:
    """Keep only the `/v1/...` path and encoded query of a NextPageLink (see module docstring)."""
    raw = httpx.URL(link).raw_path.decode("ascii")
    start = raw.find("/v1/")
    if start < 0:
        raise BillitProtocolError(f"NextPageLink does not point at the /v1 API: {raw[:200]}")
    return PageRequest(path=raw[start:])


@dataclass
class ODataPaginator:
    """Decides the next request of one listing from the page just received."""

    path: str
    query: ODataQuery
    page_size: int | None = None
    stats: PagingStats = field(default_factory=PagingStats)
    _fetched: int = 0
    _offset: int = 0
    _sent_top: int | None = None
    _seen_links: set[str] = field(default_factory=set)
    _empty_linked_pages: int = 0

    def __post_init__(self) -> None:
        if self.page_size is not None and not 1 <= self.page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}")
        self._offset = self.query.skip or 0

    def first_request(self) -> PageRequest:
        return self._skip_request(self.query.top)

    def next_request(self, page: Page) -> PageRequest | None:
        self.stats.pages += 1
        self._fetched += len(page.items)
        remaining = None if self.query.top is None else self.query.top - self._fetched
        if remaining is not None and remaining <= 0:
            return None
        if page.next_link:
            return self._follow(page)
        if self._sent_top is None or len(page.items) < min(self._sent_top, PAGE_SIZE):
            return None  # a short page, or the server's own paging ended: that was the last page
        # A full page that $top truncated without a NextPageLink: continue by $skip.
        self.stats.skip_fallbacks += 1
        self._offset += len(page.items)
        return self._skip_request(remaining)

    def _skip_request(self, remaining: int | None) -> PageRequest:
        top = self.page_size
        if remaining is not None:
            top = remaining if top is None else min(top, remaining)
        self._sent_top = top
        params = ODataQuery(
            filter=self.query.filter, orderby=self.query.orderby, top=top, skip=self._offset,
            inline_count=self.query.inline_count, extra=self.query.extra,
        ).params()
        return PageRequest(path=self.path, params=params)

    def _follow(self, page: Page) -> PageRequest:
        assert page.next_link is not None
        request = link_to_request(page.next_link)
        if request.path in self._seen_links:
            raise BillitPaginationError(f"loop detected in pagination: NextPageLink repeated ({request.path[:200]})")
        self._seen_links.add(request.path)
        self._empty_linked_pages = self._empty_linked_pages + 1 if not page.items else 0
        if self._empty_linked_pages > MAX_EMPTY_LINKED_PAGES:
            raise BillitPaginationError("loop detected in pagination: empty pages that keep linking onwards")
        # The link carries its own $top/$skip; after it only the server's paging counts.
        self._sent_top = None
        return request
