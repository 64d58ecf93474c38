"""The OData query builder: literals, the filterable-property whitelist, ordering."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from connectors.billit.odata import (
    FILTERABLE_PROPERTIES,
    BillitTimestamp,
    ODataPropertyError,
    ODataQuery,
    all_of,
    literal,
    prop,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Cost", "'Cost'"),
        ("O'Brien", "'O''Brien'"),
        ("''", "''''''"),
        ("2022/TEST06", "'2022/TEST06'"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (42, "42"),
        (Decimal("155.77"), "155.77"),
        (Decimal("1E+2"), "100"),
        (date(2022, 1, 1), "DateTime'2022-01-01'"),
        (datetime(2024, 3, 10, 15, 0, 49, 720000), "DateTime'2024-03-10T15:00:49.72'"),
        (datetime(2024, 1, 1), "DateTime'2024-01-01T00:00:00'"),
        (datetime(2025, 4, 7, 13, 30, 32, 132739), "DateTime'2025-04-07T13:30:32.132739'"),
        (BillitTimestamp("2025-04-07T13:30:32.1327398"), "DateTime'2025-04-07T13:30:32.1327398'"),
    ],
)
def test_literals_are_rendered_as_odata_v3(value: object, expected: str) -> None:
    assert literal(value) == expected  # type: ignore[arg-type]


def test_floats_are_refused_so_amounts_stay_exact() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        literal(0.1)  # type: ignore[arg-type]


def test_aware_datetimes_are_refused_because_billit_times_are_naive_local() -> None:
    with pytest.raises(ValueError, match="naive"):
        literal(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def test_there_are_exactly_the_28_documented_filterable_properties() -> None:
    assert len(FILTERABLE_PROPERTIES) == 28
    assert "CounterParty/PartyID" in FILTERABLE_PROPERTIES


def test_filtering_on_a_property_billit_does_not_allow_fails_before_any_request() -> None:
    with pytest.raises(ODataPropertyError, match="VATNumber"):
        prop("VATNumber")
    with pytest.raises(ODataPropertyError):
        ODataQuery(orderby=(("Customer/Name", "asc"),))


def test_filters_compose_with_and_or_not_and_parenthesise_mixed_junctions() -> None:
    last = datetime(2026, 3, 1, 12, 0)
    expression = prop("OrderDirection").eq("Cost") & (
        prop("LastModified").gt(last) | (prop("LastModified").eq(last) & prop("OrderID").gt(7))
    )
    assert expression.render() == (
        "OrderDirection eq 'Cost' and (LastModified gt DateTime'2026-03-01T12:00:00' or "
        "(LastModified eq DateTime'2026-03-01T12:00:00' and OrderID gt 7))"
    )
    assert (~prop("Paid").eq(True)).render() == "not (Paid eq true)"
    assert all_of([]) is None


def test_order_id_is_appended_as_tie_breaker_unless_already_ordered_on() -> None:
    assert ODataQuery(orderby=(("LastModified", "asc"),)).params()["$orderby"] == "LastModified asc,OrderID asc"
    assert ODataQuery(orderby=(("OrderID", "desc"),)).params()["$orderby"] == "OrderID desc"


def test_params_carry_top_skip_and_inline_count() -> None:
    params = ODataQuery(filter=prop("Paid").eq(False), top=50, skip=100, inline_count=True).params()
    assert params == {
        "$filter": "Paid eq false",
        "$orderby": "OrderID asc",
        "$top": "50",
        "$skip": "100",
        "$inlinecount": "allpages",
    }


@pytest.mark.parametrize("text", ["2025-04-07 13:30", "2025-04-07T13:30:32.12345678", "x' or 1 eq 1 or '"])
def test_a_billit_timestamp_must_look_like_one(text: str) -> None:
    with pytest.raises(ValueError):
        BillitTimestamp(text)
