"""Paging decisions that the stock sandbox never exercises: links to other hosts, repeated links, servers that
truncate at 120 without a link, servers that answer the same page whatever the cursor. Served through httpx's
MockTransport seam, as httpx's own tests do.

Paging by position is what the deletions list uses (`iter_order_pages(path=DELETED_ORDERS_PATH)`); orders are
paged by key (`iter_order_pages_by_key`), see docs/reference/billit-api.md#paging."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from connectors.billit import BillitClient, BillitPaginationError, ODataQuery, PagingStats, load_settings
from connectors.billit.client import DELETED_ORDERS_PATH


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> BillitClient:
    settings = load_settings(base_url="http://billit.test", api_key="k", party_id=1, max_retries=0)
    return BillitClient(settings, transport=httpx.MockTransport(handler))


async def _deleted(billit: BillitClient, query: ODataQuery | None = None, **options: Any) -> AsyncIterator[Any]:
    """Every item of the deletions list, paged by position as `list_deletions` pages it."""
    async for page in billit.iter_order_pages(query, path=DELETED_ORDERS_PATH, **options):
        for item in page:
            yield item


def _page(ids: range, next_link: str | None = None) -> httpx.Response:
    body: dict[str, object] = {"Items": [{"OrderID": i} for i in ids]}
    if next_link is not None:
        body["NextPageLink"] = next_link
    return httpx.Response(200, text=json.dumps(body), headers={"Content-Type": "text/plain"})


async def test_a_next_link_to_another_host_is_followed_on_our_own_base_url() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        if "skip" not in str(request.url):
            return _page(range(1, 4), "http://internal-node:8080/v1/orders/deleted?$orderby=OrderID%20asc&$skip=120")
        return _page(range(4, 6))

    async with _client(handler) as billit:
        ids = [item["OrderID"] async for item in _deleted(billit)]
    assert ids == [1, 2, 3, 4, 5]
    assert {url.host for url in seen} == {"billit.test"}
    assert all("ApiKey" not in str(url) for url in seen)


async def test_a_repeated_next_link_raises_instead_of_looping_forever() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _page(range(1, 3), "http://billit.test/v1/orders/deleted?$skip=120")

    async with _client(handler) as billit:
        with pytest.raises(BillitPaginationError, match="loop detected"):
            [item async for item in _deleted(billit)]


async def test_a_missing_or_null_next_link_ends_the_listing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Items": [{"OrderID": 1}], "NextPageLink": None})

    async with _client(handler) as billit:
        assert [item["OrderID"] async for item in _deleted(billit)] == [1]


async def test_a_full_page_truncated_by_top_without_a_link_continues_by_skip() -> None:
    requests: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        requests.append(params)
        skip, top = int(params.get("$skip", 0)), int(params["$top"])
        return _page(range(skip, min(skip + top, 250)))  # never a link, like $top <= 120 on Billit

    stats = PagingStats()
    async with _client(handler) as billit:
        ids = [item["OrderID"] async for item in _deleted(billit, page_size=100, stats=stats)]
    assert ids == list(range(250))
    assert [(r["$skip"], r["$top"]) for r in requests[1:]] == [("100", "100"), ("200", "100")]
    assert stats.pages == 3 and stats.records == 250 and stats.skip_fallbacks == 2


async def test_top_is_a_total_limit_across_pages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        skip, top = int(params.get("$skip", 0)), int(params["$top"])
        return _page(range(skip, skip + min(top, 120)))  # a server that truncates at 120 and never links

    async with _client(handler) as billit:
        ids = [item["OrderID"] async for item in _deleted(billit, ODataQuery(top=300))]
    assert ids == list(range(300))


async def test_a_record_repeated_across_pages_is_returned_once_and_counted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "skip" not in str(request.url):
            return _page(range(1, 4), "http://billit.test/v1/orders/deleted?$skip=120")
        return _page(range(3, 5))

    stats = PagingStats()
    async with _client(handler) as billit:
        ids = [item["OrderID"] async for item in _deleted(billit, stats=stats)]
    assert ids == [1, 2, 3, 4]
    assert stats.duplicates == 1


# ---- by key: how the pipeline lists orders -----------------------------------------------------------


def _listed(*keys: tuple[str, int]) -> httpx.Response:
    return httpx.Response(200, json={"Items": [{"OrderID": i, "LastModified": t} for t, i in keys]})


async def _by_key(billit: BillitClient, **options: Any) -> list[int]:
    return [item["OrderID"] async for page in billit.iter_order_pages_by_key(None, **options) for item in page]


async def test_a_server_answering_the_same_misordered_page_whatever_the_cursor_is_stopped_not_followed() -> None:
    # Its last item sorts first, so the cursor never passes the newer ones: the same request would repeat forever.
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.params.get("$filter", ""))
        return _listed(
            ("2026-01-02T00:00:00.0000000", 2), ("2026-01-03T00:00:00.0000000", 3), ("2026-01-01T00:00:00.0000000", 1)
        )

    async with _client(handler) as billit:
        with pytest.raises(BillitPaginationError, match="not in the .LastModified, OrderID. order it shows"):
            await _by_key(billit, page_size=3)
    assert len(requests) == 1  # a page out of order is refused as it comes: its cursor would skip orders


async def test_a_server_ignoring_the_tie_filter_raises_instead_of_draining_forever() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _listed(*[("2026-01-01T00:00:00.0000000", i) for i in range(1, 4)])

    async with _client(handler) as billit:
        with pytest.raises(BillitPaginationError, match="did not advance"):
            await _by_key(billit, page_size=3)


async def test_each_listing_by_key_starts_afresh() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _listed(("2026-01-01T00:00:00.0000000", 1), ("2026-01-02T00:00:00.0000000", 2))

    async with _client(handler) as billit:
        first, second = await _by_key(billit), await _by_key(billit)  # the same first request, sent again
    assert first == second == [1, 2]


@pytest.mark.parametrize("page_size", [0, 121])
async def test_a_key_page_size_billit_cannot_serve_is_refused_before_any_request(page_size: int) -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    async with _client(never) as billit:
        with pytest.raises(ValueError, match="page_size"):
            await _by_key(billit, page_size=page_size)


class _HiddenClockBillit:
    """A Billit whose `$filter` and `$orderby` compare another LastModified than the one it shows: `hidden(shown,
    order_id)` is the stored value, e.g. finer than shown, or the shown one read in another zone."""

    def __init__(self, shown: dict[int, str], hidden: Callable[[str, int], str]) -> None:
        self.shown = shown
        self.hidden = hidden

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/orders/"):
            order_id = int(request.url.path.rsplit("/", 1)[1])
            return httpx.Response(200, json={"OrderID": order_id, "LastModified": self.shown[order_id]})
        stored = {order_id: self.hidden(shown, order_id) for order_id, shown in self.shown.items()}
        where = request.url.params.get("$filter", "")
        since = re.search(r"LastModified ge DateTime'([^']+)'", where)
        at = re.search(r"LastModified eq DateTime'([^']+)'", where)
        after = re.search(r"OrderID ge (\d+)", where)

        def matches(order_id: int) -> bool:
            value = stored[order_id]
            return (
                (since is None or value >= since.group(1).ljust(27, "0"))
                and (at is None or value == at.group(1).ljust(27, "0"))
                and (after is None or order_id >= int(after.group(1)))
            )

        rows = sorted(filter(matches, self.shown), key=lambda order_id: (stored[order_id], order_id))
        top = int(request.url.params["$top"])
        return _listed(*[(self.shown[order_id], order_id) for order_id in rows[:top]])


async def test_a_filter_comparing_finer_timestamps_than_billit_shows_fails_the_listing() -> None:
    # Found by an outside review: 60 orders shown at one millisecond but stored finer, straddling a page, lost 40
    # orders and the run succeeded. Here the hidden part sorts a tie against its OrderIDs.
    shown = {order_id: "2026-01-01T10:00:00.1230000" for order_id in range(1, 61)}
    billit = _HiddenClockBillit(shown, lambda text, order_id: text[:-4] + f"{(61 - order_id):04d}")
    async with _client(billit.handler) as client:
        with pytest.raises(BillitPaginationError, match="not in the .LastModified, OrderID. order it shows"):
            await _by_key(client, page_size=50)


async def test_a_filter_reading_the_literal_in_another_zone_fails_the_listing() -> None:
    # The literal read an hour later than written: `ge T` leaves out the orders of the hour after T.
    shown = {
        order_id: f"2026-01-01T{10 + order_id // 30:02d}:{order_id % 30 * 2:02d}:00.0000000" for order_id in range(90)
    }
    billit = _HiddenClockBillit(shown, lambda text, order_id: text)

    def an_hour_later(request: httpx.Request) -> httpx.Response:
        literal = re.search(r"DateTime'(\d\d\d\d-\d\d-\d\dT)(\d\d)", request.url.params.get("$filter", ""))
        if literal is not None:
            later = f"DateTime'{literal.group(1)}{int(literal.group(2)) + 1:02d}"
            request.url = request.url.copy_set_param(
                "$filter", request.url.params["$filter"].replace(literal.group(0), later)
            )
        return billit.handler(request)

    async with _client(an_hour_later) as client:
        with pytest.raises(BillitPaginationError, match="left out order 49, which Billit still shows at that time"):
            await _by_key(client, page_size=50)


async def test_an_order_changed_between_two_pages_is_not_taken_for_a_filter_that_cannot_be_trusted() -> None:
    shown = {order_id: f"2026-01-01T10:{order_id:02d}:00.0000000" for order_id in range(1, 11)}
    billit = _HiddenClockBillit(shown, lambda text, order_id: text)
    requests: list[str] = []

    def changing(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        if len(requests) == 2:  # the last order of the first page changes before the second page is asked
            shown[5] = "2026-01-01T11:00:00.0000000"
        return billit.handler(request)

    async with _client(changing) as client:
        assert await _by_key(client, page_size=5) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 5]
    assert requests.count("/v1/orders/5") == 1  # asked once, to tell a change from a filter that cannot be trusted


async def test_a_tie_stored_finer_than_shown_fails_the_listing_instead_of_walking_a_tick_at_a_time() -> None:
    # Found by a review: 120 orders shown at .123 but stored at .1239999, in OrderID order: `eq T` found none of the
    # tie, and `ge T + 100 ns` answered the same orders again, 20,004 requests for 140 orders (the run succeeded).
    shown = {order_id: "2026-01-01T10:00:00.1230000" for order_id in range(1, 121)}
    billit = _HiddenClockBillit(shown, lambda text, order_id: text[:-4] + "9999")
    requests: list[str] = []

    def counted(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        return billit.handler(request)

    async with _client(counted) as client:
        with pytest.raises(BillitPaginationError, match="answered orders it shows at other times"):
            await _by_key(client, page_size=50)
    assert len(requests) <= 5


async def test_a_deletions_list_ignoring_skip_is_stopped_not_asked_forever() -> None:
    # Found by a review: since the deletions list is asked with $top=120, one that honours $top but ignores $skip
    # (and gives no link) was asked for the same page forever.
    requests: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(str(request.url))
        return _page(range(1, 121))

    async with _client(handler) as billit:
        with pytest.raises(BillitPaginationError, match="a full page by .skip brought no new order"):
            [item async for item in _deleted(billit, page_size=120)]
    assert len(requests) == 2


@pytest.mark.parametrize("page_cap", [10, 120])
async def test_a_server_sending_a_next_link_on_every_page_even_the_last_lists_every_order_once(page_cap: int) -> None:
    # A short page with a NextPageLink is a server paging by less than asked, not the end; but a server sending
    # the link on every page, the last and empty ones included, must still end. The review of that change found an
    # empty page of a tie's drain read as "did not advance": every sync failed at its end.
    shown = {order_id: f"2026-01-01T10:{order_id // 4:02d}:00.0000000" for order_id in range(1, 31)}
    billit = _HiddenClockBillit(shown, lambda text, order_id: text)

    def always_a_link(request: httpx.Request) -> httpx.Response:
        items = json.loads(billit.handler(request).content)["Items"][:page_cap]
        return httpx.Response(200, json={"Items": items, "NextPageLink": "http://billit.test/v1/orders?$skip=999"})

    async with _client(always_a_link) as client:
        assert await _by_key(client, page_size=10) == list(range(1, 31))
