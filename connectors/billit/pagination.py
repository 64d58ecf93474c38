"""Paging over Billit's OData lists: one generator over a small paginator object, a fresh paginator per listing.

Billit (ASP.NET Web API OData) pages at 120 records and adds `NextPageLink` only when that limit truncated the
result (docs/reference/billit-api.md#paging). Two ways of paging live here, and only two:

* **By key** (`KeysetPaginator`, `iter_keyset_pages`): what every sync and backfill lists `/v1/orders` with.
  Orders sorted by (LastModified, OrderID), each request asking for what sorts *after the last key seen*.
  Paging by position cannot do this safely: with `$skip`, an order modified mid-listing moves to the end and
  shifts every later row left by one, so an unmodified order is skipped, and its old LastModified lies below
  any later watermark: lost for good.
* **By position** (`LinkPaginator`, `iter_linked_pages`): `NextPageLink`, or `$skip` where Billit gives no link.
  Safe only for a list no row leaves while it is read: the deletions list, which only grows (a row inserted
  mid-listing shifts later rows right, so one is listed twice and dropped by OrderID; none is skipped), or a
  filter on properties that cannot change. Never for orders that may be modified during the listing.

Either paginator raises `BillitPaginationError` ("loop detected in pagination") rather than send a request it
already sent in the same state: a server answering the same page cannot make a listing loop forever.

Two quirks shape the link paging (docs/reference/billit-api.md#paging):

* `$top` is applied before the page limit, so a request with `$top` <= 120 gets at most that many records and
  *no* `NextPageLink` even when more match. When we sent such a `$top` and got a full page without a link, we
  continue with `$skip` ourselves.
* `NextPageLink` may be missing or null on the last page, and its host is whatever the server saw (possibly an
  internal host behind a proxy). We only take its `/v1/...` path and query and send it to our own base URL, so
  credentials never go to a host we were not configured for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.billit.errors import BillitPaginationError, BillitProtocolError
from connectors.billit.odata import PAGE_SIZE, BillitTimestamp, Direction, Expr, ODataQuery, all_of, prop
from connectors.billit.wire import json_kind

MAX_EMPTY_LINKED_PAGES = 3

#: The order keyset listings sort by; the filter of each request continues from the last key of this order.
KEYSET_ORDER: tuple[tuple[str, Direction], ...] = (("LastModified", "asc"), ("OrderID", "asc"))


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
    An object without `Items` is refused, not read as an empty page (a server that is not Billit, at a wrong
    BILLIT_BASE_URL, would look like a company with no orders); an unreadable Count is read as none."""
    if isinstance(body, list):  # the older published spec declares a bare Order[]
        return Page(items=body, next_link=None, count=None)
    if not isinstance(body, dict) or not isinstance(body.get("Items"), list):
        raise BillitProtocolError(
            f"expected an OData page with an Items list, got {json_kind(body)} without one: is BILLIT_BASE_URL a "
            "Billit API root?"
        )
    next_link = body.get("NextPageLink") or None
    count = body.get("Count")
    readable = isinstance(count, int | str) and not isinstance(count, bool) and str(count).strip().isdigit()
    return Page(
        items=body["Items"],
        next_link=next_link if isinstance(next_link, str) else None,
        count=int(str(count)) if readable else None,
    )


# ---- by key: how the pipeline lists orders ------------------------------------------------------------


def listed_order_id(item: Any) -> int | None:
    """The OrderID of a listed (or fetched) order, when it is an integer."""
    order_id = item.get("OrderID") if isinstance(item, dict) else None
    return order_id if isinstance(order_id, int) and not isinstance(order_id, bool) else None


def last_listed_key(page: list[dict[str, Any]]) -> tuple[BillitTimestamp, int] | None:
    """The key of the page's last well-formed item: a corrupted one is listed again rather than break the cursor."""
    return next((key for item in reversed(page) if (key := listed_key(item)) is not None), None)


def listed_key(item: Any) -> tuple[BillitTimestamp, int] | None:
    """The (LastModified, OrderID) of a listed order, None when either is unreadable."""
    order_id = listed_order_id(item)
    if order_id is None:
        return None
    try:
        return BillitTimestamp(str(item.get("LastModified"))), order_id
    except ValueError:
        return None


def _tick_key(key: tuple[BillitTimestamp, int]) -> tuple[str, int]:
    return key[0].sort_key, key[1]


@dataclass
class KeysetPaginator:
    """Decides the next request of one listing by (LastModified, OrderID) from the page just received.

    Only operators Billit documents are used, `eq`, `ge` and `and` (docs/reference/billit-api.md#filters): each
    request asks for `LastModified ge T`, T being the last timestamp returned, and drops the head it already
    yielded (the orders at T up to the last OrderID). When a whole page is that head (more orders share T than a
    page holds), the tie is drained by OrderID with `LastModified eq T and OrderID ge K`, and the listing goes on
    from the next tick, `LastModified ge T + 100 ns`. Cursors are Billit's own timestamp text (7 fraction
    digits), so `eq` matches the stored value exactly (docs/reference/billit-api.md#timestamps).

    That is a guess, and a wrong one would lose orders without a word: a server storing finer timestamps than it
    shows sorts a tie by the hidden part (and answers `ge T + 100 ns` with orders shown at T), and one reading the
    literal in another zone skips an hour. So the listing fails on a page out of the order it shows, on an order
    shown before `ge T` (or not at T, for `eq T`), and on `LastModified ge T` leaving out the order it was asked
    from while Billit still shows it at T (`missing_anchor`, checked by `iter_keyset_pages`).
    """

    base_filter: Expr | None
    page_size: int = PAGE_SIZE
    stats: PagingStats = field(default_factory=PagingStats)
    _last: tuple[str, int] | None = None  # sort key of the last order yielded
    _since: BillitTimestamp | None = None
    _tie: BillitTimestamp | None = None  # while draining: the timestamp more orders share than a page holds
    _after: int = 0  # while draining: the last OrderID yielded at `_tie`
    _page: list[dict[str, Any]] | None = None  # the page just received, until the next request is decided
    _more: bool = False  # it came with a NextPageLink: short or not, it is not the last (see `receive`)
    _drained: set[int] = field(default_factory=set)
    _fresh: bool = False
    _unkeyed: set[int] = field(default_factory=set)  # OrderIDs listed without a readable LastModified
    _sent: set[tuple[Any, ...]] = field(default_factory=set)
    missing_anchor: int | None = None  # the last order yielded, when `LastModified ge` its own time left it out

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= PAGE_SIZE:  # a larger page would end the listing at Billit's first 120
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}")

    def next_query(self) -> ODataQuery | None:
        """The next request, or None when the listing is complete."""
        if self._page is not None and not self._advance(self._page):
            return None
        self._page = None
        if self._tie is None:
            since = prop("LastModified").ge(self._since) if self._since else None
            query = ODataQuery(
                filter=all_of(c for c in (self.base_filter, since) if c is not None),
                orderby=KEYSET_ORDER,
                top=self.page_size,
            )
        else:
            clauses = (self.base_filter, prop("LastModified").eq(self._tie), prop("OrderID").ge(self._after + 1))
            query = ODataQuery(
                filter=all_of(c for c in clauses if c is not None), orderby=(("OrderID", "asc"),), top=self.page_size
            )
        state = (tuple(sorted(query.params().items())), self._last)
        if state in self._sent:
            raise BillitPaginationError(f"loop detected in pagination: the same keyset request twice {query.params()}")
        self._sent.add(state)
        return query

    def receive(self, items: list[dict[str, Any]], *, more: bool = False) -> list[dict[str, Any]]:
        """The orders of a page not yielded before; the page decides the next request. `more`: it came with a
        NextPageLink, so a page shorter than asked is a server's smaller page, not the listing's end."""
        self.stats.pages += 1
        self.stats.records += len(items)
        self._page, self._more = items, more
        item_keys = [(item, _tick_key(found) if (found := listed_key(item)) is not None else None) for item in items]
        keys = [key for _, key in item_keys if key is not None]
        self._trust(keys)
        if self._tie is not None:
            self._drained = {listed for item in items if (listed := listed_order_id(item) or 0) > self._after}
            fresh = [item for item in items if (listed_order_id(item) or 0) in self._drained]
        else:
            fresh = []
            for item, key in item_keys:
                if key is None:
                    order_id = listed_order_id(item)
                    if order_id is None or order_id not in self._unkeyed:
                        self._unkeyed.add(order_id or 0)
                        fresh.append(item)
                elif self._last is None or key > self._last:
                    fresh.append(item)
        self._fresh = bool(fresh)
        return fresh

    def _trust(self, keys: list[tuple[str, int]]) -> None:
        """Refuse a page a filter comparing what Billit shows could not have answered (see the class docstring)."""
        if any(later < earlier for earlier, later in zip(keys, keys[1:], strict=False)):
            raise BillitPaginationError(f"{_UNTRUSTED}: a page is not in the (LastModified, OrderID) order it shows")
        cursor = self._tie or self._since
        asked = cursor.sort_key if cursor is not None else None
        if asked is not None and any(shown < asked if self._tie is None else shown != asked for shown, _ in keys):
            condition = f"eq {self._tie}" if self._tie is not None else f"ge {self._since}"
            raise BillitPaginationError(
                f"{_UNTRUSTED}: `LastModified {condition}` answered orders it shows at other times"
            )
        # Asked from the last order's own time (not after a drained tie), the answer must hold that order again.
        if self._tie is None and self._last is not None and self._since and self._since.sort_key == self._last[0]:
            self.missing_anchor = None if self._last in keys else self._last[1]

    def _advance(self, page: list[dict[str, Any]]) -> bool:
        """Move the cursor past `page`; False when it was the last page."""
        last = not page or (len(page) < self.page_size and not self._more)  # an empty page ends, link or not
        if self._tie is not None:
            if last:  # the tie is drained: go on from the next tick
                self._last, self._since, self._tie = (self._tie.sort_key, self._after), self._tie.next_tick(), None
                return True
            if not self._drained:
                raise BillitPaginationError(f"draining the orders at {self._tie} did not advance past {self._after}")
            self._after = max(self._drained)
            return True
        if last:
            return False
        tail = last_listed_key(page)
        if tail is None:
            raise BillitPaginationError("a full listing page without one readable (LastModified, OrderID)")
        if self._fresh:
            self._last, self._since = _tick_key(tail), tail[0]
            return True
        if self._last is None or self._since is None:
            raise BillitPaginationError("keyset paging did not advance")
        self._tie, self._after = self._since, self._last[1]
        return True

    def check_anchor(self, shown_now: str | None) -> None:
        """The missing anchor's LastModified as Billit shows it now (None: deleted, or not readable). Still the
        time the listing was asked from, the order was left out by a filter that does not compare what Billit shows:
        finer stored timestamps, or the literal read in another time zone. Keyset paging would lose orders then."""
        anchor, self.missing_anchor = self.missing_anchor, None
        if anchor is None or shown_now is None or self._last is None:
            return
        try:
            unchanged = BillitTimestamp(shown_now).sort_key == self._last[0]
        except ValueError:
            return
        if unchanged:
            raise BillitPaginationError(
                f"{_UNTRUSTED}: `LastModified ge {self._since}` left out order {anchor}, which Billit still shows at "
                "that time (docs/reference/billit-api.md#timestamps)"
            )


_UNTRUSTED = "Billit's listing cannot be paged by key, or orders would be lost"


async def iter_keyset_pages(
    fetch: Callable[[ODataQuery], Awaitable[Page]],
    paginator: KeysetPaginator,
    shown_last_modified: Callable[[int], Awaitable[str | None]] | None = None,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Each order of the listing once, page by page, each page requested after the last key seen.

    Each request after a page asks `LastModified ge T` of that page's last order, so the answer must hold that order
    again. When it does not, `shown_last_modified` asks Billit for the order's LastModified: moved on (changed
    meanwhile) or gone is fine; still T, and the filter does not compare what Billit shows (KeysetPaginator)."""
    while (query := paginator.next_query()) is not None:
        page = await fetch(query)
        fresh = paginator.receive(page.items, more=page.next_link is not None)
        if paginator.missing_anchor is not None and shown_last_modified is not None:
            paginator.check_anchor(await shown_last_modified(paginator.missing_anchor))
        if fresh:
            yield fresh


# ---- by position: only for a list no row leaves while it is read -------------------------------------


def link_to_request(link: str) -> PageRequest:
    """Keep only the `/v1/...` path and encoded query of a NextPageLink (see module docstring)."""
    raw = httpx.URL(link).raw_path.decode("ascii")
    start = raw.find("/v1/")
    if start < 0:
        raise BillitProtocolError(f"NextPageLink does not point at the /v1 API: {raw[:200]}")
    return PageRequest(path=raw[start:])


@dataclass
class LinkPaginator:
    """Decides the next request of one listing by position (NextPageLink, else `$skip`) from the page just
    received, and drops an OrderID listed before.

    Safe only where no row leaves the list while it is read (the deletions list, which only grows: see the
    module docstring); orders are listed by `KeysetPaginator`.
    """

    path: str
    query: ODataQuery
    page_size: int | None = None
    stats: PagingStats = field(default_factory=PagingStats)
    _fetched: int = 0
    _offset: int = 0
    _sent_top: int | None = None
    _seen_links: set[str] = field(default_factory=set)
    _seen_ids: set[Any] = field(default_factory=set)
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
        # A full page that $top truncated without a NextPageLink: continue by $skip, unless the list ignores it.
        if all(item.get("OrderID") in self._seen_ids for item in page.items):
            raise BillitPaginationError("loop detected in pagination: a full page by $skip brought no new order")
        self.stats.skip_fallbacks += 1
        self._offset += len(page.items)
        return self._skip_request(remaining)

    def fresh(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items of a page whose OrderID this listing has not returned yet."""
        fresh = []
        for item in items:
            key = item.get("OrderID")
            if key is not None and key in self._seen_ids:
                self.stats.duplicates += 1
                continue
            self._seen_ids.add(key)
            fresh.append(item)
        self.stats.records += len(fresh)
        return fresh

    def _skip_request(self, remaining: int | None) -> PageRequest:
        top = self.page_size
        if remaining is not None:
            top = remaining if top is None else min(top, remaining)
        self._sent_top = top
        params = ODataQuery(
            filter=self.query.filter,
            orderby=self.query.orderby,
            top=top,
            skip=self._offset,
            inline_count=self.query.inline_count,
            extra=self.query.extra,
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


async def iter_linked_pages(
    fetch: Callable[[PageRequest], Awaitable[Page]], paginator: LinkPaginator, redact: Callable[[str], str]
) -> AsyncIterator[list[dict[str, Any]]]:
    """Each page of a listing by position, without the OrderIDs it returned before. `redact` cleans the text of
    a protocol error, which quotes the NextPageLink: a wrong server may fill it with our key."""
    request: PageRequest | None = paginator.first_request()
    while request is not None:
        page = await fetch(request)
        problem = None
        try:
            request = paginator.next_request(page)
        except BillitProtocolError as exc:
            problem = str(exc)
        if problem is not None:  # raised outside the except block: the unredacted error is not kept as context
            raise BillitProtocolError(redact(problem))
        yield paginator.fresh(page.items)
