"""Paging decisions that the stock sandbox never exercises: links to other hosts, repeated links, servers that
truncate at 120 without a link. Served through httpx's MockTransport seam, as httpx's own tests do."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from connectors.billit import BillitClient, BillitPaginationError, ODataQuery, PagingStats, load_settings


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> BillitClient:
    settings = load_settings(base_url="http://billit.test", api_key="k", party_id=1, max_retries=0)
    return BillitClient(settings, transport=httpx.MockTransport(handler))


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
            return _page(range(1, 4), "http://internal-node:8080/v1/orders?$orderby=OrderID%20asc&$skip=120")
        return _page(range(4, 6))

    async with _client(handler) as billit:
        ids = [item["OrderID"] async for item in billit.iter_orders()]
    assert ids == [1, 2, 3, 4, 5]
    assert {url.host for url in seen} == {"billit.test"}
    assert all("ApiKey" not in str(url) for url in seen)


async def test_a_repeated_next_link_raises_instead_of_looping_forever() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _page(range(1, 3), "http://billit.test/v1/orders?$skip=120")

    async with _client(handler) as billit:
        with pytest.raises(BillitPaginationError, match="loop detected"):
            [item async for item in billit.iter_orders()]


async def test_a_missing_or_null_next_link_ends_the_listing() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Items": [{"OrderID": 1}], "NextPageLink": None})

    async with _client(handler) as billit:
        assert [item["OrderID"] async for item in billit.iter_orders()] == [1]


async def test_a_full_page_truncated_by_top_without_a_link_continues_by_skip() -> None:
    requests: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        requests.append(params)
        skip, top = int(params.get("$skip", 0)), int(params["$top"])
        return _page(range(skip, min(skip + top, 250)))  # never a link, like $top <= 120 on Billit

    stats = PagingStats()
    async with _client(handler) as billit:
        ids = [item["OrderID"] async for item in billit.iter_orders(page_size=100, stats=stats)]
    assert ids == list(range(250))
    assert [(r["$skip"], r["$top"]) for r in requests[1:]] == [("100", "100"), ("200", "100")]
    assert stats.pages == 3 and stats.records == 250 and stats.skip_fallbacks == 2


async def test_top_is_a_total_limit_across_pages() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        skip, top = int(params.get("$skip", 0)), int(params["$top"])
        return _page(range(skip, skip + min(top, 120)))  # a server that truncates at 120 and never links

    async with _client(handler) as billit:
        ids = [item["OrderID"] async for item in billit.iter_orders(ODataQuery(top=300))]
    assert ids == list(range(300))


async def test_a_record_repeated_across_pages_is_returned_once_and_counted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "skip" not in str(request.url):
            return _page(range(1, 4), "http://billit.test/v1/orders?$skip=120")
        return _page(range(3, 5))

    stats = PagingStats()
    async with _client(handler) as billit:
        ids = [item["OrderID"] async for item in billit.iter_orders(stats=stats)]
    assert ids == [1, 2, 3, 4]
    assert stats.duplicates == 1
