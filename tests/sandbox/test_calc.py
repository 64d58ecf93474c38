"""Tests for the sandbox's copy of Billit's totals arithmetic (docs/reference/vat.md#sales-codes,
docs/reference/billit-api.md#calculations)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox.calc import compute_order_totals, ogm_reference, round_money

D = Decimal


def line(quantity: str, price: str, rate: str, **extra: Any) -> dict[str, Any]:
    return {"Quantity": D(quantity), "UnitPriceExcl": D(price), "VATPercentage": D(rate), **extra}


def groups_by_code(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {g["VentilationCode"]: g for g in groups}


def test_docs_example_totals_155_77_from_groups_52_99_and_102_78() -> None:
    lines = [line("1", "49.99", "6"), line("1", "24.95", "21"), line("1", "59.99", "21")]

    lines_out, groups, totals = compute_order_totals(lines, header_ventilation_code=None, direction="Income")

    by_code = groups_by_code(groups)
    assert by_code["2"]["TotalIncl"] == D("52.99")
    assert by_code["4"]["TotalExcl"] == D("84.94")
    assert by_code["4"]["TotalVAT"] == D("17.84")
    assert by_code["4"]["TotalIncl"] == D("102.78")
    assert totals == {"TotalExcl": D("134.93"), "TotalVAT": D("20.84"), "TotalIncl": D("155.77")}
    assert [ln["VentilationCode"] for ln in lines_out] == ["2", "4", "4"]


def test_a_line_of_7_50_at_21_percent_shows_1_58_vat() -> None:
    lines_out, groups, _ = compute_order_totals(
        [line("1", "7.50", "21")], header_ventilation_code=None, direction="Income"
    )

    assert lines_out[0]["TotalVAT"] == D("1.58")
    assert lines_out[0]["TotalIncl"] == D("9.08")
    assert groups == [
        {
            "VentilationCode": "4",
            "VATPercentage": D("21.00"),
            "TotalExcl": D("7.50"),
            "TotalVAT": D("1.58"),
            "TotalIncl": D("9.08"),
            "Mtvh": D("7.50"),
            "FinancialReductionAmount": D("0.00"),
        }
    ]


def test_group_vat_of_0_525_rounds_half_up_to_0_53_while_each_line_shows_0_26() -> None:
    lines = [line("1", "1.25", "21"), line("1", "1.25", "21")]

    lines_out, groups, totals = compute_order_totals(lines, header_ventilation_code=None, direction="Income")

    assert [ln["TotalVAT"] for ln in lines_out] == [D("0.26"), D("0.26")]
    assert groups[0]["TotalVAT"] == D("0.53")
    assert totals["TotalVAT"] == D("0.53")
    assert totals["TotalIncl"] == D("3.03")


def test_round_money_rounds_half_away_from_zero() -> None:
    assert round_money(D("0.525")) == D("0.53")
    assert round_money(D("-0.525")) == D("-0.53")
    assert round_money(D("0.5249")) == D("0.52")


def test_reduction_percentage_reduces_the_line_net_before_rounding() -> None:
    lines = [line("3", "19.99", "21", ReductionPercentage=D("10"))]

    lines_out, _, totals = compute_order_totals(lines, header_ventilation_code=None, direction="Income")

    # 3 x 19.99 = 59.97, minus 10 % = 53.973 -> 53.97
    assert lines_out[0]["TotalExcl"] == D("53.97")
    assert lines_out[0]["TotalVAT"] == D("11.33")
    assert totals["TotalIncl"] == D("65.30")


def test_a_negative_discount_line_reduces_its_vat_group() -> None:
    lines = [
        line("8", "95.00", "21"),
        line("3", "12.45", "6"),
        line("1", "-20.00", "21"),
    ]

    lines_out, groups, totals = compute_order_totals(lines, header_ventilation_code=None, direction="Income")

    assert lines_out[2]["TotalExcl"] == D("-20.00")
    assert lines_out[2]["TotalVAT"] == D("-4.20")
    by_code = groups_by_code(groups)
    assert (by_code["2"]["TotalExcl"], by_code["2"]["TotalVAT"]) == (D("37.35"), D("2.24"))
    assert (by_code["4"]["TotalExcl"], by_code["4"]["TotalVAT"]) == (D("740.00"), D("155.40"))
    assert totals == {"TotalExcl": D("777.35"), "TotalVAT": D("157.64"), "TotalIncl": D("934.99")}


def test_header_code_55_applies_to_zero_rate_lines_and_the_21_percent_line_keeps_code_4() -> None:
    lines = [line("1", "50", "0"), line("1", "50", "0"), line("2", "4.00", "21")]

    lines_out, groups, totals = compute_order_totals(lines, header_ventilation_code="55", direction="Income")

    assert [ln["VentilationCode"] for ln in lines_out] == ["55", "55", "4"]
    by_code = groups_by_code(groups)
    assert (by_code["55"]["TotalExcl"], by_code["55"]["TotalVAT"]) == (D("100.00"), D("0.00"))
    assert (by_code["4"]["TotalExcl"], by_code["4"]["TotalVAT"]) == (D("8.00"), D("1.68"))
    assert totals["TotalIncl"] == D("109.68")


def test_a_line_code_overrides_the_header_code_on_zero_rate_lines() -> None:
    lines = [line("1", "10", "0", VentilationCode="21"), line("1", "10", "0")]

    lines_out, groups, _ = compute_order_totals(lines, header_ventilation_code="70", direction="Income")

    assert [ln["VentilationCode"] for ln in lines_out] == ["21", "70"]
    assert sorted(g["VentilationCode"] for g in groups) == ["21", "70"]


def test_zero_rate_income_line_without_any_code_gets_code_1() -> None:
    lines_out, groups, _ = compute_order_totals(
        [line("1", "10", "0")], header_ventilation_code=None, direction="Income"
    )

    assert lines_out[0]["VentilationCode"] == "1"
    assert groups[0]["VentilationCode"] == "1"


def test_cost_lines_get_code_1_per_rate_like_a_received_peppol_invoice() -> None:
    lines = [line("2", "149.90", "21"), line("1", "35.00", "21"), line("4", "2.75", "6")]

    lines_out, groups, totals = compute_order_totals(lines, header_ventilation_code=None, direction="Cost")

    assert {ln["VentilationCode"] for ln in lines_out} == {"1"}
    assert [(g["VentilationCode"], g["VATPercentage"], g["TotalVAT"]) for g in groups] == [
        ("1", D("6.00"), D("0.66")),
        ("1", D("21.00"), D("70.31")),
    ]
    assert totals == {"TotalExcl": D("345.80"), "TotalVAT": D("70.97"), "TotalIncl": D("416.77")}


def test_cost_lines_keep_a_given_line_or_header_code() -> None:
    lines = [line("1", "100", "0", VentilationCode="51"), line("1", "100", "0")]

    lines_out, _, _ = compute_order_totals(lines, header_ventilation_code="21", direction="Cost")

    assert [ln["VentilationCode"] for ln in lines_out] == ["51", "21"]


def test_incl_leading_lines_derive_the_excl_amount_from_total_incl() -> None:
    lines = [line("1", "0", "21", InclLeading=True, TotalIncl=D("121.00"))]

    lines_out, _, totals = compute_order_totals(lines, header_ventilation_code=None, direction="Income")

    assert lines_out[0]["TotalExcl"] == D("100.00")
    assert lines_out[0]["TotalVAT"] == D("21.00")
    assert totals["TotalIncl"] == D("121.00")


def test_input_lines_are_not_modified() -> None:
    original = line("1", "7.50", "21")
    snapshot = dict(original)

    compute_order_totals([original], header_ventilation_code=None, direction="Income")

    assert original == snapshot


def test_an_unknown_direction_is_rejected() -> None:
    with pytest.raises(ValueError):
        compute_order_totals([line("1", "1", "21")], header_ventilation_code=None, direction="Sales")


@pytest.mark.parametrize(
    "reference",
    ["+++001/1800/63503+++", "+++012/3623/61525+++", "+++090/9337/55493+++", "+++000/0863/65968+++"],
)
def test_ogm_reference_reproduces_the_documented_examples(reference: str) -> None:
    ten_digits = int(reference.strip("+").replace("/", "")[:10])

    assert ogm_reference(ten_digits) == reference


def test_ogm_check_digits_are_97_when_the_remainder_is_zero() -> None:
    assert ogm_reference(97 * 12345) == "+++000/1197/46597+++"
    assert ogm_reference(0) == "+++000/0000/00097+++"


def test_ogm_reference_rejects_more_than_ten_digits() -> None:
    with pytest.raises(ValueError):
        ogm_reference(10**10)
