"""The sandbox's Belgian cash discount (docs/reference/billit-api.md#cash-discount).

A ``PaymentDiscountPercentage`` lowers each VAT group's taxable base (``Mtvh``) by its
``FinancialReductionAmount`` and the group's VAT is computed on that base; the lines keep their own amounts.
Every expected figure is worked out by hand in the test.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox.calc import compute_order_totals
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW, asgi_client, fixed_clock, invoice_body

D = Decimal


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed_start=FIXED_NOW, clock=fixed_clock())


def line(quantity: str, price: str, rate: str) -> dict[str, Any]:
    return {"Quantity": D(quantity), "UnitPriceExcl": D(price), "VATPercentage": D(rate)}


def group_figures(group: dict[str, Any]) -> tuple[Decimal, ...]:
    return (
        group["TotalExcl"],
        group["FinancialReductionAmount"],
        group["Mtvh"],
        group["TotalVAT"],
        group["TotalIncl"],
    )


async def post_and_get(sandbox: Sandbox, body: dict[str, Any]) -> dict[str, Any]:
    async with asgi_client(sandbox) as client:
        created = await client.post("/v1/orders", json=body)
        assert created.status_code == 200, created.text
        order: dict[str, Any] = (await client.get(f"/v1/orders/{created.json()}")).json(parse_float=Decimal)
    return order


# ------------------------------------------------------------------------------------------------------------
# Through the app: POST /v1/orders, then GET it back


async def test_the_docs_example_of_1_5_percent_on_449_95_gives_6_75_and_vat_on_443_20(sandbox: Sandbox) -> None:
    body = invoice_body(
        OrderNumber="QS-50001",
        OrderDate="2025-09-15",
        ExpiryDate="2025-10-30",
        PaymentDiscountPercentage=1.50,
        PaymentReductionDays=8,
        OrderLines=[{"Quantity": 1, "UnitPriceExcl": 449.95, "Description": "Box of cookies", "VATPercentage": 21}],
    )

    order = await post_and_get(sandbox, body)

    # Documented: 6.75 and OrderDate + 8 days.
    assert order["PaymentDiscountPercentage"] == D("1.50")
    assert order["PaymentReductionDays"] == 8
    assert order["PaymentDiscountAmount"] == D("6.75")
    assert order["PaymentDiscountDate"] == "2025-09-23T00:00:00"
    # Our rule: 449.95 x 1.5 % = 6.74925 -> 6.75; Mtvh 449.95 - 6.75 = 443.20; VAT 443.20 x 21 % = 93.072 -> 93.07.
    [group] = order["VatGroups"]
    assert group_figures(group) == (D("449.95"), D("6.75"), D("443.20"), D("93.07"), D("543.02"))
    assert (order["TotalExcl"], order["TotalVAT"], order["TotalIncl"]) == (D("449.95"), D("93.07"), D("543.02"))
    # Paid late the customer owes TotalIncl; paid by 2025-09-23, 543.02 - 6.75 = 536.27.
    assert order["ToPay"] == D("543.02")
    # The line keeps its VAT on its own net: 449.95 x 21 % = 94.4895 -> 94.49.
    [order_line] = order["OrderLines"]
    assert (order_line["TotalExcl"], order_line["TotalVAT"], order_line["TotalIncl"]) == (
        D("449.95"),
        D("94.49"),
        D("544.44"),
    )


async def test_a_two_rate_invoice_discounts_and_taxes_each_vat_group_on_its_own(sandbox: Sandbox) -> None:
    body = invoice_body(
        PaymentDiscountPercentage=2,
        PaymentReductionDays=14,
        OrderLines=[
            {"Quantity": 3, "UnitPriceExcl": 12.45, "Description": "Boek", "VATPercentage": 6},
            {"Quantity": 8, "UnitPriceExcl": 95.00, "Description": "Consultancy (uur)", "VATPercentage": 21},
            {"Quantity": 1, "UnitPriceExcl": 24.95, "Description": "Kabel", "VATPercentage": 21},
        ],
    )

    order = await post_and_get(sandbox, body)

    by_rate = {group["VATPercentage"]: group for group in order["VatGroups"]}
    # 6 %: net 37.35; 2 % = 0.747 -> 0.75; Mtvh 36.60; VAT 36.60 x 6 % = 2.196 -> 2.20; incl 37.35 + 2.20 = 39.55.
    assert group_figures(by_rate[D("6.00")]) == (D("37.35"), D("0.75"), D("36.60"), D("2.20"), D("39.55"))
    # 21 %: net 760.00 + 24.95 = 784.95; 2 % = 15.699 -> 15.70; Mtvh 769.25; VAT 769.25 x 21 % = 161.5425 -> 161.54;
    # incl 784.95 + 161.54 = 946.49.
    assert group_figures(by_rate[D("21.00")]) == (D("784.95"), D("15.70"), D("769.25"), D("161.54"), D("946.49"))
    # Order: 37.35 + 784.95 = 822.30; VAT 2.20 + 161.54 = 163.74; incl 986.04; discount 0.75 + 15.70 = 16.45.
    assert (order["TotalExcl"], order["TotalVAT"], order["TotalIncl"]) == (D("822.30"), D("163.74"), D("986.04"))
    assert order["PaymentDiscountAmount"] == D("16.45")
    assert order["PaymentDiscountDate"] == "2026-03-16T00:00:00"
    # Lines unchanged: 37.35 x 6 % = 2.241 -> 2.24; 760.00 x 21 % = 159.60; 24.95 x 21 % = 5.2395 -> 5.24.
    assert [ln["TotalVAT"] for ln in order["OrderLines"]] == [D("2.24"), D("159.60"), D("5.24")]


@pytest.mark.parametrize("discount", [None, 0])
async def test_without_a_discount_the_totals_are_the_docs_155_77_and_mtvh_is_the_net(
    sandbox: Sandbox, discount: int | None
) -> None:
    body = invoice_body() if discount is None else invoice_body(PaymentDiscountPercentage=discount)

    order = await post_and_get(sandbox, body)

    assert [group_figures(group) for group in order["VatGroups"]] == [
        (D("49.99"), D("0.00"), D("49.99"), D("3.00"), D("52.99")),
        (D("84.94"), D("0.00"), D("84.94"), D("17.84"), D("102.78")),
    ]
    assert (order["TotalExcl"], order["TotalVAT"], order["TotalIncl"]) == (D("134.93"), D("20.84"), D("155.77"))
    assert order["PaymentDiscountPercentage"] == D("0.00")
    assert order["PaymentDiscountAmount"] == D("0.00")
    assert "PaymentDiscountDate" not in order
    assert order["ToPay"] == D("155.77")


# ------------------------------------------------------------------------------------------------------------
# The arithmetic alone: compute_order_totals


def test_half_cents_round_up_in_the_reduction_and_in_the_vat() -> None:
    _, [group], totals = compute_order_totals(
        [line("1", "37.25", "21")],
        header_ventilation_code=None,
        direction="Income",
        payment_discount_percentage=D("2"),
    )

    # 37.25 x 2 % = 0.745 -> 0.75 (half-even would give 0.74); Mtvh 36.50;
    # 36.50 x 21 % = 7.665 -> 7.67 (half-even would give 7.66); incl 37.25 + 7.67 = 44.92.
    assert group_figures(group) == (D("37.25"), D("0.75"), D("36.50"), D("7.67"), D("44.92"))
    assert totals == {"TotalExcl": D("37.25"), "TotalVAT": D("7.67"), "TotalIncl": D("44.92")}


def test_the_reduction_is_rounded_per_vat_group_so_two_half_cents_make_0_42_not_0_41() -> None:
    _, groups, totals = compute_order_totals(
        [line("1", "10.25", "6"), line("1", "10.25", "21")],
        header_ventilation_code=None,
        direction="Income",
        payment_discount_percentage=D("2"),
    )

    # Each group: 10.25 x 2 % = 0.205 -> 0.21; Mtvh 10.04. VAT 10.04 x 6 % = 0.6024 -> 0.60 and
    # 10.04 x 21 % = 2.1084 -> 2.11. On the order's 20.50 at once the discount would be 0.41.
    assert [group_figures(group) for group in groups] == [
        (D("10.25"), D("0.21"), D("10.04"), D("0.60"), D("10.85")),
        (D("10.25"), D("0.21"), D("10.04"), D("2.11"), D("12.36")),
    ]
    assert sum(group["FinancialReductionAmount"] for group in groups) == D("0.42")
    assert totals == {"TotalExcl": D("20.50"), "TotalVAT": D("2.71"), "TotalIncl": D("23.21")}


def test_a_zero_percent_discount_gives_exactly_what_no_discount_gives() -> None:
    lines = [line("8", "95.00", "21"), line("3", "12.45", "6"), line("1", "-20.00", "21")]

    without = compute_order_totals(lines, header_ventilation_code=None, direction="Income")
    with_zero = compute_order_totals(
        lines, header_ventilation_code=None, direction="Income", payment_discount_percentage=D("0.00")
    )

    assert with_zero == without
    assert all(group["Mtvh"] == group["TotalExcl"] for group in without[1])
    assert all(group["FinancialReductionAmount"] == D("0.00") for group in without[1])
