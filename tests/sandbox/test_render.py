"""Tests of the sandbox's Billit JSON serialization (docs/reference/billit-api.md#serialization)."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from decimal import Decimal

from sandbox.render import format_datetime, render_json, render_order, summary_projection
from sandbox.seed import generate_orders
from tests.sandbox.sandbox_helpers import make_order


def test_datetimes_have_no_offset_and_trimmed_fractions() -> None:
    assert format_datetime(datetime(2024, 3, 10, 15, 0, 49, 720000)) == "2024-03-10T15:00:49.72"
    assert format_datetime(datetime(2024, 1, 1)) == "2024-01-01T00:00:00"
    assert format_datetime(datetime(2025, 4, 7, 13, 30, 32, 132739)) == "2025-04-07T13:30:32.132739"
    assert format_datetime(datetime(2025, 4, 7, 13, 30, 32, 1)) == "2025-04-07T13:30:32.000001"
    assert format_datetime(date(2025, 4, 7)) == "2025-04-07T00:00:00"


def test_decimals_keep_billit_scales_and_parse_back_exactly() -> None:
    text = render_json(
        {
            "Quantity": Decimal("2"),
            "UnitPriceExcl": Decimal("12.45"),
            "UnitPriceIncl": Decimal("15.0645"),
            "FXRateToForeign": Decimal("1"),
            "TotalExcl": Decimal("24"),
            "VATPercentage": Decimal("21"),
            "ToPay": Decimal("-0.5"),
        }
    ).decode()
    assert text == (
        '{"Quantity":2.00000,"UnitPriceExcl":12.45000,"UnitPriceIncl":15.06450,"FXRateToForeign":1.00000,'
        '"TotalExcl":24.00,"VATPercentage":21.00,"ToPay":-0.50}'
    )
    parsed = json.loads(text, parse_float=Decimal)
    assert parsed["UnitPriceIncl"] == Decimal("15.06450")
    assert str(parsed["TotalExcl"]) == "24.00"


def test_null_members_are_omitted_and_text_is_utf8() -> None:
    text = render_json({"Name": 'Zoë "Lefèvre"', "Comments": None, "Tags": [], "Paid": False, "Nested": {"X": None}})
    assert text == '{"Name":"Zoë \\"Lefèvre\\"","Tags":[],"Paid":false,"Nested":{}}'.encode()


def test_overdue_fields_follow_order_status_in_the_full_order() -> None:
    text = render_order(make_order(1), date(2026, 4, 3)).decode()
    assert '"OrderStatus":"ToSend","Overdue":true,"DaysOverdue":2,"FXRateToForeign":1.00000' in text
    assert json.loads(text)["DaysOverdue"] == 2


def test_summary_projection_reduces_order_pdf_and_delivery_details() -> None:
    order = make_order(
        1,
        CurrentDocumentDeliveryDetails={
            "DocumentDeliveryDate": datetime(2026, 3, 2, 10, 15),
            "IsDocumentDelivered": True,
            "DocumentDeliveryStatus": "Delivered",
        },
    )
    item = summary_projection(order, date(2026, 3, 10))
    assert item["OrderPDF"] == {"FileID": order["OrderPDF"]["FileID"]}
    assert item["CurrentDocumentDeliveryDetails"] == {"IsDocumentDelivered": True}
    assert item["DaysOverdue"] == -22


def test_rendering_a_generated_order_takes_well_under_a_millisecond() -> None:
    orders = generate_orders(seed=5, orders=200, tie_sizes=())
    started = time.perf_counter()
    for order in orders:
        render_order(order, date(2026, 11, 1))
    per_order = (time.perf_counter() - started) / len(orders)
    assert per_order < 0.001
    for order in orders[:20]:
        parsed = json.loads(render_order(order, date(2026, 11, 1)), parse_float=Decimal)
        assert parsed["TotalIncl"] == order["TotalIncl"]
        assert parsed["LastModified"] == format_datetime(order["LastModified"])
