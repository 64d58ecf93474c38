"""Tests for tasks.normalise.vat, table by table.

Every row of Billit's sales (docs/reference/vat.md#sales-codes) and cost (docs/reference/vat.md#cost-codes) ventilation
tables, with the UBL category, exemption text and the Belgian VAT-return grids of
docs/reference/vat.md#grids, #grid-rules (invoices and credit notes), plus rate tiers, unknown codes and the docs
example of a header code with a 21 % line.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import pytest

from tasks.normalise.order_vat import classify_vat_cached
from tasks.normalise.vat import VatClassification, classify_vat
from tasks.normalise.vat_codes import (
    COST_VENTILATION_CODES,
    PURCHASE_GRIDS,
    SALES_GRIDS,
    SALES_VENTILATION_CODES,
    GridRule,
    VentilationCode,
)

IC_TEXT = "VAT exempt for EEA intra-community supply of goods and services"
D = Decimal


# --- sales (Income) -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "rate", "category", "exemption", "vatex", "base", "vat"),
    [
        ("1", D("0"), "Z", None, None, ("00",), ()),
        ("2", D("6"), "S", None, None, ("01",), ("54",)),
        ("3", D("12"), "S", None, None, ("02",), ("54",)),
        ("4", D("21"), "S", None, None, ("03",), ("54",)),
        ("21", D("0"), "AE", "Reverse Charge", "VATEX-EU-AE", ("45",), ()),
        ("22", D("0"), "O", "Miscellaneous non-VAT", "VATEX-EU-O", (), ()),
        ("24", D("0"), "E", "Exempt from VAT", None, (), ()),
        ("51", D("0"), "K", IC_TEXT, "VATEX-EU-IC", ("46",), ()),
        ("55", D("0"), "K", IC_TEXT, "VATEX-EU-IC", ("44",), ()),
        ("70", D("0"), "G", "Free export item, VAT not charged", "VATEX-EU-G", ("47",), ()),
        ("101", D("0"), "E", "Exempt from VAT", None, ("47",), ()),
        ("102", D("0"), "E", "Exempt from VAT", None, (), ()),
        ("104", D("0"), "E", "Exempt from VAT", None, (), ()),
    ],
)
def test_every_sales_ventilation_code_maps_to_its_category_text_and_grids(
    code: str,
    rate: Decimal,
    category: str,
    exemption: str | None,
    vatex: str | None,
    base: tuple[str, ...],
    vat: tuple[str, ...],
) -> None:
    result = classify_vat("Income", code, rate)
    assert (result.category, result.rate, result.exemption_reason, result.vatex_code) == (
        category,
        rate,
        exemption,
        vatex,
    )
    assert (result.base_grids, result.vat_grids, result.is_known) == (base, vat, True)
    assert result.grids == base


@pytest.mark.parametrize(
    ("code", "rate", "base", "vat"),
    [
        # docs/reference/vat.md#grid-rules: credit notes for 00-03, 45, 47 go to 49 with VAT in 64; for 44 and 46 to 48.
        ("1", D("0"), ("49",), ()),
        ("2", D("6"), ("49",), ("64",)),
        ("3", D("12"), ("49",), ("64",)),
        ("4", D("21"), ("49",), ("64",)),
        ("21", D("0"), ("49",), ()),
        ("51", D("0"), ("48",), ()),
        ("55", D("0"), ("48",), ()),
        ("70", D("0"), ("49",), ()),
        ("101", D("0"), ("49",), ()),
        (None, D("21"), ("49",), ("64",)),
    ],
)
def test_sales_credit_notes_go_to_grids_48_and_49_with_vat_in_64(
    code: str | None, rate: Decimal, base: tuple[str, ...], vat: tuple[str, ...]
) -> None:
    result = classify_vat("Income", code, rate, order_type="CreditNote")
    assert (result.base_grids, result.vat_grids, result.is_known) == (base, vat, True)


@pytest.mark.parametrize(
    ("code", "rate", "category", "base", "vat"),
    [
        # docs/reference/vat.md#sales-codes: a 0 % line without any code is Z; a VAT % above 0 is S.
        (None, D("0"), "Z", ("00",), ()),
        ("", D("0"), "Z", ("00",), ()),
        (None, D("6"), "S", ("01",), ("54",)),
        (None, D("12.00"), "S", ("02",), ("54",)),
        (None, D("21"), "S", ("03",), ("54",)),
    ],
)
def test_a_missing_code_is_z_at_zero_and_s_otherwise(
    code: str | None, rate: Decimal, category: str, base: tuple[str, ...], vat: tuple[str, ...]
) -> None:
    result = classify_vat("Income", code, rate)
    assert (result.category, result.base_grids, result.vat_grids, result.is_known, result.reason) == (
        category,
        base,
        vat,
        True,
        None,
    )


def test_the_docs_example_header_code_55_makes_zero_lines_k_and_the_21_percent_line_s() -> None:
    # docs/reference/vat.md#sales-codes: header 55, two 0 % lines and one 21 % line -> subtotals K and S.
    zero_line = classify_vat("Income", "55", D("0"))
    vat_line = classify_vat("Income", "55", D("21"))
    assert (zero_line.category, zero_line.base_grids) == ("K", ("44",))
    assert (vat_line.category, vat_line.base_grids, vat_line.vat_grids) == ("S", ("03",), ("54",))
    assert (vat_line.exemption_reason, vat_line.vatex_code) == (None, None)


def test_code_22_without_a_vat_percentage_is_outside_scope() -> None:
    # docs/reference/vat.md#sales-codes: Billit's JSON has "No VAT percentage" for code 22.
    result = classify_vat("Income", "22", None)
    assert (result.category, result.rate, result.is_known) == ("O", D("0"), True)


# --- rate tiers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["2", "3", "4"])
def test_a_rate_tier_code_with_zero_percent_is_quarantined(code: str) -> None:
    result = classify_vat("Income", code, D("0"))
    assert result == VatClassification(None, D("0"), None, None, (), (), False, f"code {code} (rate tier) with 0 % VAT")


def test_the_grid_follows_the_rate_not_the_tier_code() -> None:
    result = classify_vat("Income", "4", D("6"))
    assert (result.category, result.rate, result.base_grids, result.is_known) == ("S", D("6"), ("01",), True)
    assert result.reason == "code 4 is the 21 % tier in BE but the line has 6 %; grid follows the rate"


@pytest.mark.parametrize(("code", "rate"), [("4", D("20")), ("3", D("10")), ("2", D("5.5"))])
def test_french_rates_on_tier_codes_are_s_with_the_line_rate_and_no_belgian_grid(code: str, rate: Decimal) -> None:
    # docs/reference/vat.md#sales-codes: on Billit's France page 20 % -> 4, 10 % -> 3, 5.5 % -> 2.
    result = classify_vat("Income", code, rate)
    assert (result.category, result.rate, result.base_grids, result.vat_grids, result.is_known) == (
        "S",
        rate,
        (),
        (),
        True,
    )
    assert result.reason == f"{rate} % is not a Belgian VAT rate: no Belgian grid"


def test_the_rate_is_kept_exactly_as_given() -> None:
    assert classify_vat("Income", "4", D("21.00")).rate == D("21.00")
    assert classify_vat("Income", "4", 21).rate == D("21")  # type: ignore[arg-type]  # Billit JSON ints


# --- purchases (Cost) -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "rate", "category", "exemption", "vatex", "base", "vat"),
    [
        # docs/reference/vat.md#cost-codes with the docs/reference/vat.md#grid-rules purchase grids; 81/82/83 defaults
        # to 82.
        ("1", D("0"), "Z", None, None, ("82",), ()),
        ("1", D("6"), "S", None, None, ("82",), ("59",)),
        ("1", D("12"), "S", None, None, ("82",), ("59",)),
        ("1", D("21"), "S", None, None, ("82",), ("59",)),
        ("21", D("0"), "AE", "Reverse charge", "VATEX-EU-AE", ("82", "87"), ("56", "59")),
        ("22", D("0"), "O", "Not subject to VAT", "VATEX-EU-O", ("82",), ()),
        ("51", D("0"), "K", IC_TEXT, "VATEX-EU-IC", ("82", "86"), ("55", "59")),
        ("55", D("0"), "K", IC_TEXT, "VATEX-EU-IC", ("82", "88"), ("55", "59")),
        ("70", D("0"), "G", "Free export item, VAT not charged", "VATEX-EU-G", ("82",), ()),
        ("102", D("0"), "E", "Exempt from VAT", None, ("82",), ()),
        ("111", D("0"), "E", "Exempt from VAT", None, ("82",), ()),
    ],
)
def test_every_cost_ventilation_code_maps_to_its_category_text_and_grids(
    code: str,
    rate: Decimal,
    category: str,
    exemption: str | None,
    vatex: str | None,
    base: tuple[str, ...],
    vat: tuple[str, ...],
) -> None:
    result = classify_vat("Cost", code, rate)
    assert (result.category, result.exemption_reason, result.vatex_code) == (category, exemption, vatex)
    assert (result.base_grids, result.vat_grids, result.is_known) == (base, vat, True)


@pytest.mark.parametrize(
    ("code", "rate", "base", "vat"),
    [
        # docs/reference/vat.md#grid-rules: credit notes received go to 85 (VAT to repay in 63), or 84 for IC
        # acquisitions (86/88).
        ("1", D("21"), ("85",), ("63",)),
        ("1", D("6"), ("85",), ("63",)),
        ("1", D("0"), ("85",), ()),
        ("21", D("0"), ("85",), ()),
        ("22", D("0"), ("85",), ()),
        ("51", D("0"), ("84",), ()),
        ("55", D("0"), ("84",), ()),
        ("70", D("0"), ("85",), ()),
        ("111", D("0"), ("85",), ()),
    ],
)
def test_purchase_credit_notes_go_to_grids_84_and_85_with_vat_in_63(
    code: str, rate: Decimal, base: tuple[str, ...], vat: tuple[str, ...]
) -> None:
    result = classify_vat("Cost", code, rate, order_type="CreditNote")
    assert (result.base_grids, result.vat_grids, result.is_known) == (base, vat, True)


def test_a_received_peppol_invoice_with_code_1_at_21_percent_is_s() -> None:
    # docs/reference/billit-api.md#received-invoice-example, docs/reference/vat.md#cost-codes: received invoices carry
    # "1" whatever the rate.
    result = classify_vat("Cost", "1", D("21.00"))
    assert (result.category, result.rate, result.exemption_reason) == ("S", D("21.00"), None)


@pytest.mark.parametrize("purchase_grid", ["81", "82", "83"])
def test_the_caller_chooses_the_purchase_grid(purchase_grid: str) -> None:
    result = classify_vat("Cost", "51", D("0"), purchase_grid=purchase_grid)
    assert result.base_grids == (purchase_grid, "86")


def test_a_purchase_grid_outside_81_to_83_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="purchase_grid"):
        classify_vat("Cost", "1", D("21"), purchase_grid="85")


# --- counterparty country -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "invoice_base", "credit_note_base"),
    [
        (None, ("45",), ("49",)),
        ("BE", ("45",), ("49",)),
        ("NL", ("44",), ("48",)),
        ("GR", ("44",), ("48",)),
        ("US", ("47",), ("49",)),
    ],
)
def test_sales_reverse_charge_goes_to_45_at_home_and_44_for_eu_customers(
    country: str | None, invoice_base: tuple[str, ...], credit_note_base: tuple[str, ...]
) -> None:
    # docs/reference/vat.md#grid-rules: 44 or 45 follows the buyer's country, not the category alone.
    invoice = classify_vat("Income", "21", D("0"), counterparty_country=country)
    credit_note = classify_vat("Income", "21", D("0"), order_type="CreditNote", counterparty_country=country)
    assert (invoice.category, invoice.base_grids, credit_note.base_grids) == ("AE", invoice_base, credit_note_base)


def test_purchase_reverse_charge_from_an_eu_supplier_is_an_ic_service_with_self_assessed_vat() -> None:
    # Issue 10: code 21 from an EU supplier had no grid, so the purchase was missing from the return. Reverse
    # charge from another member state is a service (an IC supply of goods is exempt, K): 88, VAT 55 + 59.
    result = classify_vat("Cost", "21", D("0"), counterparty_country="DE")
    assert (result.category, result.base_grids, result.vat_grids, result.self_assessed) == (
        "AE",
        ("82", "88"),
        ("55", "59"),
        True,
    )
    by_vat_number = classify_vat("Cost", "21", D("0"), counterparty_vat_number="NL859145938B01")
    assert by_vat_number.treatment == "reverse_charge_eu"


@pytest.mark.parametrize(
    ("vat_number", "country", "rate", "region"),
    [
        ("NL751149378B01", None, D("21"), "EU"),  # the Netherlands' standard rate is Belgium's too
        (None, "FR", D("6"), "EU"),
        ("GB123456789", None, D("21"), "non-EU"),
        (None, "US", D("12"), "non-EU"),
    ],
)
def test_vat_a_supplier_outside_belgium_charges_at_a_belgian_rate_is_foreign_not_deducted_in_59(
    vat_number: str | None, country: str | None, rate: Decimal, region: str
) -> None:
    # Found by hand-computing a quarter's return: 21 % from a Dutch supplier went to 59 as Belgian VAT. Only the
    # rates told foreign VAT apart (19 %, 20 %); the supplier's country was never asked.
    result = classify_vat("Cost", "1", rate, counterparty_vat_number=vat_number, counterparty_country=country)
    assert (result.category, result.treatment, result.base_grids, result.vat_grids) == ("S", "foreign_vat", ("82",), ())
    assert result.reason == (
        f"{rate} % VAT charged by a supplier outside Belgium ({region}); "
        "foreign VAT is not deductible in the Belgian return"
    )
    credit_note = classify_vat("Cost", "1", rate, order_type="CreditNote", counterparty_country=country or "NL")
    assert (credit_note.base_grids, credit_note.vat_grids) == (("85",), ())


@pytest.mark.parametrize(("vat_number", "country"), [("BE0477472701", None), (None, "BE"), (None, None)])
def test_vat_of_a_belgian_or_unknown_supplier_is_deducted_in_59(vat_number: str | None, country: str | None) -> None:
    result = classify_vat("Cost", "1", D("21"), counterparty_vat_number=vat_number, counterparty_country=country)
    assert (result.treatment, result.base_grids, result.vat_grids, result.reason) == (
        "standard_21",
        ("82",),
        ("59",),
        None,
    )


def test_belgian_vat_on_a_sale_to_a_customer_abroad_stays_in_the_return() -> None:
    result = classify_vat("Income", "4", D("21"), counterparty_vat_number="NL751149378B01")
    assert (result.base_grids, result.vat_grids) == (("03",), ("54",))


# --- unknown and inconsistent input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "code", "reason"),
    [
        ("Income", "99", "unknown ventilation code 99 for Income"),
        ("Income", "111", "unknown ventilation code 111 for Income"),  # cost-only code
        ("Cost", "4", "unknown ventilation code 4 for Cost"),  # sales-only code
        ("Cost", "24", "unknown ventilation code 24 for Cost"),
        ("Sideways", "4", "unknown order direction 'Sideways'"),
    ],
)
def test_unknown_codes_and_directions_are_quarantined_not_raised(direction: str, code: str, reason: str) -> None:
    assert classify_vat(direction, code, D("21")) == VatClassification(None, D("21"), None, None, (), (), False, reason)


def test_a_negative_vat_percentage_is_quarantined() -> None:
    result = classify_vat("Income", "4", D("-21"))
    assert (result.is_known, result.reason) == (False, "negative VAT percentage -21")


def test_a_vat_percentage_that_is_not_a_number_is_quarantined() -> None:
    result = classify_vat("Income", "4", "abc")  # type: ignore[arg-type]
    assert (result.is_known, result.category, result.rate.is_nan()) == (False, None, True)


def test_an_offer_is_classified_but_not_put_in_a_grid() -> None:
    result = classify_vat("Income", "4", D("21"), order_type="Offer")
    assert (result.category, result.base_grids, result.vat_grids, result.is_known) == ("S", (), (), True)
    assert result.reason == "order type 'Offer' is not reported in the VAT return"


def test_codes_are_read_as_trimmed_strings() -> None:
    assert classify_vat("Income", " 55 ", D("0")).category == "K"
    assert classify_vat("Income", 55, D("0")).category == "K"  # type: ignore[arg-type]


# --- the tables as data ---------------------------------------------------------------------------------------


def test_the_tables_hold_exactly_the_documented_codes() -> None:
    assert set(SALES_VENTILATION_CODES) == {"1", "2", "3", "4", "21", "22", "24", "51", "55", "70", "101", "102", "104"}
    assert set(COST_VENTILATION_CODES) == {"1", "21", "22", "51", "55", "70", "102", "111"}


@pytest.mark.parametrize(
    ("codes", "grids"), [(SALES_VENTILATION_CODES, SALES_GRIDS), (COST_VENTILATION_CODES, PURCHASE_GRIDS)]
)
def test_every_code_uses_a_known_category_and_every_treatment_has_grids(
    codes: Mapping[str, VentilationCode], grids: Mapping[str, GridRule]
) -> None:
    for row in codes.values():
        assert row.category in {None, "S", "Z", "E", "AE", "K", "G", "O"}
        if row.treatment is not None and row.treatment != "reverse_charge":
            assert row.treatment in grids
    for suffix in ("domestic", "eu", "non_eu"):
        assert f"reverse_charge_{suffix}" in grids


# --- the remembered classification the normaliser uses ----------------------------------------------------------


@pytest.mark.parametrize("code", [None, "1", "3"])
def test_remembered_classification_keeps_the_rate_as_written_when_equal_rates_are_spelt_differently(
    code: str | None,
) -> None:
    context = {
        "order_type": "Invoice",
        "counterparty_country": "BE",
        "counterparty_vat_number": None,
        "exemption_text": "",
        "purchase_grid": "82",
        "import_deferral_licence": False,
        "order_charges_vat": False,
    }
    for rate in (D("7"), D("7.00"), D("7.0"), D("21"), D("21.00"), None):
        remembered = classify_vat_cached("Income", code, rate, **context)
        direct = classify_vat("Income", code, rate, **context)
        assert remembered == direct
        assert str(remembered.rate) == str(direct.rate)
        assert remembered.reason == direct.reason
