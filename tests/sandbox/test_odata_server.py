"""Tests of the sandbox's server-side OData: $filter, $orderby, paging, NextPageLink and the $top gotcha."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sandbox.odata import (
    ODataError,
    compile_filter,
    compile_orderby,
    escape_data_string,
    next_page_link,
    sort_orders,
)
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW, asgi_client, fixed_clock, make_order


def _matches(text: str, order: dict[str, Any]) -> bool:
    return compile_filter(text)(order)


def test_string_literals_unescape_doubled_quotes_and_keep_slashes() -> None:
    order = make_order(1, OrderNumber="O'Brien/1")
    assert _matches("OrderNumber eq 'O''Brien/1'", order)
    assert _matches('OrderNumber eq "O\'Brien/1"', order)
    assert not _matches("OrderNumber eq 'O''Brien/2'", order)


def test_datetime_literals_accept_dates_and_seven_fraction_digits() -> None:
    order = make_order(1, LastModified=datetime(2024, 3, 10, 15, 0, 49, 123456))
    assert _matches("LastModified ge DateTime'2024-03-10'", order)
    assert _matches("LastModified eq datetime'2024-03-10T15:00:49.123456'", order)
    assert _matches("LastModified eq DateTime'2024-03-10T15:00:49.1234560'", order)
    # .1234567 lies after .123456 at .NET tick precision: the order is strictly before it.
    assert not _matches("LastModified ge DateTime'2024-03-10T15:00:49.1234567'", order)
    assert _matches("LastModified lt DateTime'2024-03-10T15:00:49.1234567'", order)
    assert _matches("LastModified gt DateTime'2024-03-10T15:00:49.1234559'", order)
    assert not _matches("LastModified eq DateTime'2024-03-10T15:00:49.1234561'", order)


def test_boolean_logic_supports_not_or_and_parentheses() -> None:
    order = make_order(1, Paid=False, IsSent=True, OrderDirection="Income")
    assert _matches("(Paid eq true or IsSent eq true) and OrderDirection eq 'Income'", order)
    assert _matches("not (Paid eq true)", order)
    assert _matches("not Paid", order)
    assert not _matches("Paid and IsSent", order)
    assert _matches("Paid eq false and not (OrderDirection ne 'Income')", order)


def test_numbers_compare_with_decimal_money_and_integer_ids() -> None:
    order = make_order(2610451)
    assert _matches("TotalIncl eq 919.60", order)
    assert _matches("TotalIncl gt 919.5M and TotalIncl lt 920", order)
    assert _matches("OrderID ge 2610451 and CounterParty/PartyID eq 1088213", order)
    assert _matches("RemindersSent eq 0L", order)


def test_null_follows_csharp_semantics_for_absent_members() -> None:
    order = make_order(1)  # no ExternalProviderID, no PaidDate
    assert _matches("ExternalProviderID eq null", order)
    assert _matches("ExternalProviderID ne 'erp-1'", order)
    assert not _matches("PaidDate ge DateTime'2000-01-01'", order)
    assert not _matches("PaidDate lt DateTime'2100-01-01'", order)
    assert _matches("null eq ExternalProviderID", order)


def test_filtering_on_a_non_whitelisted_property_fails_like_billit() -> None:
    with pytest.raises(ODataError) as info:
        compile_filter("VATNumber eq 'BE0412345614'")
    assert str(info.value) == (
        "Could not find a property named 'VATNumber' on type 'Domain.Order.OrderPartyPerformanceSafeColumns'."
    )
    with pytest.raises(ODataError, match="'DisplayName'"):
        compile_filter("CounterParty/DisplayName eq 'x'")


@pytest.mark.parametrize(
    "text",
    [
        "OrderID eq",
        "OrderID eq 1 and",
        "(OrderID eq 1",
        "OrderID eq 1)",
        "OrderID EQ 1",
        "OrderID eq 'unterminated",
        "LastModified ge DateTime'2024-13-01'",
        "substringof('a', OrderNumber)",
        "OrderID add 1 eq 2",
        "OrderID",
        "",
    ],
)
def test_malformed_filters_are_rejected(text: str) -> None:
    with pytest.raises(ODataError):
        compile_filter(text)


def test_comparing_incompatible_types_is_an_error_not_an_empty_result() -> None:
    with pytest.raises(ODataError, match="incompatible types.*'Edm.DateTime' and 'Edm.String'"):
        compile_filter("LastModified ge '2024-01-01'")
    with pytest.raises(ODataError, match="Edm.Boolean"):
        compile_filter("IsSent eq 'false'")


def test_orderby_appends_order_id_for_stable_ordering() -> None:
    assert [(k.path, k.descending) for k in compile_orderby("LastModified asc")] == [
        ("LastModified", False),
        ("OrderID", False),
    ]
    assert [(k.path, k.descending) for k in compile_orderby("OrderID desc,LastModified")] == [
        ("OrderID", True),
        ("LastModified", False),
    ]
    assert [k.path for k in compile_orderby(None)] == ["OrderID"]


def test_orderby_sorts_multi_key_with_mixed_directions_and_nulls_first() -> None:
    base = datetime(2026, 1, 1)
    orders = [
        make_order(3, LastModified=base, Reference="b"),
        make_order(1, LastModified=base + timedelta(1), Reference="a"),
        make_order(2, LastModified=base),
        make_order(4, LastModified=base, Reference="b"),
    ]
    keys = compile_orderby("LastModified asc,Reference desc,CounterParty/PartyID")
    ordered = sort_orders(orders, keys, base.date())
    assert [o["OrderID"] for o in ordered] == [3, 4, 2, 1]


def test_orderby_rejects_unknown_properties_and_collections() -> None:
    with pytest.raises(ODataError, match="Could not find a property named 'Nope'"):
        compile_orderby("Nope asc")
    with pytest.raises(ODataError):
        compile_orderby("OrderLines")
    with pytest.raises(ODataError):
        compile_orderby("LastModified up")


def test_escape_data_string_keeps_only_unreserved_characters() -> None:
    assert escape_data_string("OrderNumber eq 'O''Brien/1' ~-_.") == (
        "OrderNumber%20eq%20%27O%27%27Brien%2F1%27%20~-_."
    )
    assert escape_data_string("Zoë") == "Zo%C3%AB"


def test_next_page_link_reemits_parameters_reduces_top_and_appends_skip_last() -> None:
    params = [
        ("$filter", "OrderDirection eq 'Cost'"),
        ("$skip", "240"),
        ("$top", "500"),
        ("$orderby", "LastModified asc"),
    ]
    link = next_page_link("https://api.billit.be/v1/orders", params, 120)
    assert link == (
        "https://api.billit.be/v1/orders?$filter=OrderDirection%20eq%20%27Cost%27&$top=380"
        "&$orderby=LastModified%20asc&$skip=360"
    )


# ------------------------------------------------------------------------------------------------------------
# Over HTTP


def _bulk(count: int, *, start_id: int = 1000) -> list[dict[str, Any]]:
    base = datetime(2026, 1, 1, 8, 0)
    return [
        make_order(
            start_id + n, LastModified=base + timedelta(minutes=n // 3), OrderDirection="Cost" if n % 2 else "Income"
        )
        for n in range(count)
    ]


@pytest.fixture
def paging_sandbox() -> Sandbox:
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW)
    sandbox.add_orders(_bulk(300))
    return sandbox


async def test_next_page_link_has_the_exact_web_api_format(paging_sandbox: Sandbox) -> None:
    async with asgi_client(paging_sandbox) as client:
        response = await client.get("/v1/orders?$filter=OrderDirection+eq+'Cost'&$orderby=LastModified+asc")
    body = response.json()
    assert response.status_code == 200
    assert len(body["Items"]) == 120
    assert body["NextPageLink"] == (
        "https://api.sandbox.test/v1/orders?$filter=OrderDirection%20eq%20%27Cost%27"
        "&$orderby=LastModified%20asc&$skip=120"
    )
    assert "Count" not in body


async def test_following_next_page_links_returns_every_order_once(paging_sandbox: Sandbox) -> None:
    seen: list[int] = []
    async with asgi_client(paging_sandbox) as client:
        url: str | None = "/v1/orders?$orderby=LastModified asc&$inlinecount=allpages"
        pages = 0
        while url:
            body = (await client.get(url)).json()
            assert body["Count"] == 300
            seen += [item["OrderID"] for item in body["Items"]]
            url = body.get("NextPageLink")
            pages += 1
    assert pages == 3
    assert sorted(seen) == list(range(1000, 1300))
    assert len(set(seen)) == 300


async def test_top_above_page_size_is_reduced_in_the_next_page_link(paging_sandbox: Sandbox) -> None:
    async with asgi_client(paging_sandbox) as client:
        first = (await client.get("/v1/orders", params={"$top": "200", "$skip": "10"})).json()
        assert len(first["Items"]) == 120
        assert first["NextPageLink"].endswith("/v1/orders?$top=80&$skip=130")
        second = (await client.get(first["NextPageLink"])).json()
    assert len(second["Items"]) == 80
    assert "NextPageLink" not in second
    assert second["Items"][0]["OrderID"] == first["Items"][-1]["OrderID"] + 1


@pytest.mark.parametrize("top", ["120", "50"])
async def test_next_page_link_is_absent_when_top_is_at_most_120(paging_sandbox: Sandbox, top: str) -> None:
    async with asgi_client(paging_sandbox) as client:
        body = (await client.get("/v1/orders", params={"$top": top})).json()
    assert len(body["Items"]) == int(top)
    assert "NextPageLink" not in body


async def test_non_stock_top_behaviour_pages_by_top() -> None:
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW, stock_top_behaviour=False)
    sandbox.add_orders(_bulk(130))
    async with asgi_client(sandbox) as client:
        body = (await client.get("/v1/orders", params={"$top": "100"})).json()
        assert body["NextPageLink"].endswith("?$top=100&$skip=100")
        last = (await client.get(body["NextPageLink"])).json()
    assert len(last["Items"]) == 30
    assert "NextPageLink" not in last


async def test_exactly_one_full_page_has_no_next_page_link() -> None:
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW)
    sandbox.add_orders(_bulk(120))
    async with asgi_client(sandbox) as client:
        body = (await client.get("/v1/orders")).json()
    assert len(body["Items"]) == 120
    assert "NextPageLink" not in body


async def test_filter_errors_answer_400_generic_error(paging_sandbox: Sandbox) -> None:
    async with asgi_client(paging_sandbox) as client:
        unknown = await client.get("/v1/orders", params={"$filter": "VATNumber eq 'x'"})
        malformed = await client.get("/v1/orders", params={"$filter": "OrderID eq eq"})
        bad_top = await client.get("/v1/orders", params={"$top": "-1"})
        twice = await client.get("/v1/orders?$top=1&$top=2")
    assert unknown.status_code == 400
    assert unknown.json() == {
        "errors": [
            {
                "Code": "GenericError",
                "Description": "Could not find a property named 'VATNumber' on type "
                "'Domain.Order.OrderPartyPerformanceSafeColumns'.",
            }
        ]
    }
    for response in (malformed, bad_top, twice):
        assert response.status_code == 400
        assert response.json()["errors"][0]["Code"] == "GenericError"


async def test_filters_on_counterparty_external_provider_id_and_dates_over_http() -> None:
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW)
    sandbox.add_orders(
        [
            make_order(1, ExternalProviderID="erp-1", LastModified=datetime(2026, 3, 1, 12, 0, 0, 500000)),
            make_order(2, ExternalProviderID="erp-2", LastModified=datetime(2026, 3, 1, 12, 0, 0, 600000)),
        ]
    )
    async with asgi_client(sandbox) as client:
        by_external = (await client.get("/v1/orders", params={"$filter": "ExternalProviderID eq 'erp-2'"})).json()
        by_time = (
            await client.get("/v1/orders", params={"$filter": "LastModified gt DateTime'2026-03-01T12:00:00.5000001'"})
        ).json()
        by_party = (await client.get("/v1/orders", params={"$filter": "CounterParty/PartyID eq 1088213"})).json()
    assert [i["OrderID"] for i in by_external["Items"]] == [2]
    assert [i["OrderID"] for i in by_time["Items"]] == [2]
    assert len(by_party["Items"]) == 2


async def test_full_text_search_matches_order_numbers_and_counterparties() -> None:
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW)
    sandbox.add_orders([make_order(1, OrderNumber="INV-A"), make_order(2, OrderNumber="INV-B")])
    async with asgi_client(sandbox) as client:
        number = (await client.get("/v1/orders", params={"fullTextSearch": "inv-b"})).json()
        party = (await client.get("/v1/orders", params={"fullTextSearch": "voorbeeld"})).json()
    assert [i["OrderID"] for i in number["Items"]] == [2]
    assert len(party["Items"]) == 2


async def test_list_results_reflect_changes_made_between_requests(paging_sandbox: Sandbox) -> None:
    query = {"$filter": "Paid eq true"}
    async with asgi_client(paging_sandbox) as client:
        before = (await client.get("/v1/orders", params=query)).json()
        paging_sandbox.touch_order(1005, Paid=True, ToPay=Decimal("0.00"))
        after = (await client.get("/v1/orders", params=query)).json()
    assert before["Items"] == []
    assert [i["OrderID"] for i in after["Items"]] == [1005]
