"""The VAT tables (data): Billit's ventilation codes per direction and the Belgian VAT-return grids per treatment.

`SALES_VENTILATION_CODES` (Income) and `COST_VENTILATION_CODES` (Cost and self-billing) map a code to its UBL
category (UNCL5305), the exemption text Billit writes, a default VATEX code and the *treatment* that picks the
grids (docs/reference/billit-api.md#vat); `SALES_GRIDS` and `PURCHASE_GRIDS` map a treatment to the grids of an
invoice and of a credit note, the rules of docs/bi.md#vat-return. tasks/normalise/vat.py classifies with them.
Decisions where the sources are silent are marked [U] next to the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "BELGIAN_STANDARD_RATES",
    "COST_VENTILATION_CODES",
    "EU_MEMBER_STATES",
    "GridRule",
    "PURCHASE_GRIDS",
    "PURCHASE_GRID_BY_COST_TYPE",
    "PURCHASE_GRID_SLOT",
    "SALES_GRIDS",
    "SALES_VENTILATION_CODES",
    "SELF_ASSESSED_RATE",
    "VentilationCode",
]


@dataclass(frozen=True)
class VentilationCode:
    """One row of Billit's ventilation-code table for a direction."""

    code: str
    description: str
    # None: decided by the line's rate, 0 % -> Z, > 0 -> S (Cost code 1).
    category: str | None
    exemption_reason: str | None
    vatex_code: str | None
    # Key into the direction's grid table; None for S/Z, whose treatment follows the rate.
    treatment: str | None
    # Codes 2/3/4 are rate tiers: S with the line's rate; the Belgian rate of the tier, for a consistency note.
    tier_rate: Decimal | None = None


@dataclass(frozen=True)
class GridRule:
    """Belgian VAT-return grids for one treatment, for an invoice and for a credit note."""

    invoice_base: tuple[str, ...]
    invoice_vat: tuple[str, ...]
    credit_note_base: tuple[str, ...]
    credit_note_vat: tuple[str, ...]
    note: str | None = None
    # The invoice's VAT grids hold VAT the buyer self-assesses at the Belgian rate (SELF_ASSESSED_RATE).
    self_assessed: bool = False
    # In the return, but the note says what the return may miss: listed in bi_vat_return_exceptions to review.
    review: bool = False


# Belgian rates (0, 6, 12, 21 %; 2026 changes not checked [U]) -> S treatment.
BELGIAN_STANDARD_RATES: Mapping[Decimal, str] = {
    Decimal("6"): "standard_6",
    Decimal("12"): "standard_12",
    Decimal("21"): "standard_21",
}

# EU member states by country code (Greece under both GR and EL): which reverse charge code 21 is.
EU_MEMBER_STATES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
    "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})  # fmt: skip

_IC_TEXT = "VAT exempt for EEA intra-community supply of goods and services"
_EXEMPT_TEXT = "Exempt from VAT"
_EXPORT_TEXT = "Free export item, VAT not charged"

# Sales / Income (docs/reference/billit-api.md#vat; Billit's table as of 2026-05-26).
# VATEX defaults [U]: Billit writes only the text (BT-120), never a VATEX code; AE/K/G/O have one
# obvious code, E does not (margin -> F/I/J depends on the goods, 101/102/104 have no clear fit) so E stays None.
# Older Billit versions mapped 22 to E "Exempt from VAT"; we follow the current table (22 -> O).
SALES_VENTILATION_CODES: Mapping[str, VentilationCode] = {
    row.code: row
    for row in (
        VentilationCode("1", "0 % (BE)", "Z", None, None, None),
        VentilationCode("2", "Low rate (6 % BE)", "S", None, None, None, Decimal("6")),
        VentilationCode("3", "Middle rate (12 % BE)", "S", None, None, None, Decimal("12")),
        VentilationCode("4", "High rate (21 % BE)", "S", None, None, None, Decimal("21")),
        VentilationCode(
            "21",
            "BTW verlegd: reverse charge / co-contractor (BE/NL)",
            "AE",
            "Reverse Charge",
            "VATEX-EU-AE",
            "reverse_charge",
        ),
        VentilationCode(
            "22",
            "Diverse buiten BTW: outside scope of VAT",
            "O",
            "Miscellaneous non-VAT",
            "VATEX-EU-O",
            "outside_scope",
        ),
        VentilationCode("24", "Marge: margin scheme", "E", _EXEMPT_TEXT, None, "margin_scheme"),
        VentilationCode("51", "IC goederen: intra-community goods", "K", _IC_TEXT, "VATEX-EU-IC", "ic_goods"),
        VentilationCode("55", "IC diensten: intra-community services", "K", _IC_TEXT, "VATEX-EU-IC", "ic_services"),
        VentilationCode("70", "Import / export", "G", _EXPORT_TEXT, "VATEX-EU-G", "export"),
        VentilationCode("101", "International transport of people", "E", _EXEMPT_TEXT, None, "passenger_transport"),
        VentilationCode("102", "Import via EU", "E", _EXEMPT_TEXT, None, "import_via_eu"),
        VentilationCode("104", "OSS", "E", _EXEMPT_TEXT, None, "oss"),
    )
}

# Purchases / Cost and self-billing. Received Peppol invoices carry "1" whatever the rate.
# Billit's cost table gives 51/55 only as "intra-community text"; we assume the sales text [U].
COST_VENTILATION_CODES: Mapping[str, VentilationCode] = {
    row.code: row
    for row in (
        VentilationCode("1", "Binnenland: domestic", None, None, None, None),
        VentilationCode("21", "BTW verlegd: reverse charge", "AE", "Reverse charge", "VATEX-EU-AE", "reverse_charge"),
        VentilationCode(
            "22", "Div. buiten BTW: outside scope", "O", "Not subject to VAT", "VATEX-EU-O", "outside_scope"
        ),
        VentilationCode("51", "IC goederen: intra-community goods", "K", _IC_TEXT, "VATEX-EU-IC", "ic_goods"),
        VentilationCode("55", "IC diensten: intra-community services", "K", _IC_TEXT, "VATEX-EU-IC", "ic_services"),
        VentilationCode("70", "Import / export", "G", _EXPORT_TEXT, "VATEX-EU-G", "import"),
        VentilationCode("102", "Import via EU", "E", _EXEMPT_TEXT, None, "import_via_eu"),
        VentilationCode("111", "Marge: margin scheme", "E", _EXEMPT_TEXT, None, "margin_scheme"),
    )
}

# Sales grids (docs/bi.md#vat-return): credit notes to 49/64 for 00-03, 45 and 47, to 48 for 44/46.
SALES_GRIDS: Mapping[str, GridRule] = {
    "standard_6": GridRule(("01",), ("54",), ("49",), ("64",)),
    "standard_12": GridRule(("02",), ("54",), ("49",), ("64",)),
    "standard_21": GridRule(("03",), ("54",), ("49",), ("64",)),
    "zero_rated": GridRule(("00",), (), ("49",), ()),
    "reverse_charge_domestic": GridRule(("45",), (), ("49",), ()),
    # Code 21 to a customer in another EU state is an IC service under the general B2B rule: 44 vs 45 from the
    # buyer's VAT number or country; without either, code 21 is domestic [U].
    "reverse_charge_eu": GridRule(("44",), (), ("48",), ()),
    "reverse_charge_non_eu": GridRule(
        ("47",), (), ("49",), (), note="[U] operation carried out abroad (grid 47 wording)"
    ),
    "outside_scope": GridRule(
        (),
        (),
        (),
        (),
        note="outside the scope of VAT: not in the periodic return (grid 47 if the operation takes place abroad) [U]",
    ),
    "margin_scheme": GridRule(
        (),
        (),
        (),
        (),
        note="margin scheme: the margin VAT (01-03) and the purchase value (00) cannot be derived from the invoice",
    ),
    "ic_goods": GridRule(("46",), (), ("48",), (), note="ABC triangular sales belong in 46T, not told apart here"),
    "ic_services": GridRule(("44",), (), ("48",), ()),
    "export": GridRule(("47",), (), ("49",), ()),
    "passenger_transport": GridRule(("47",), (), ("49",), (), note="[U] both grids"),
    "import_via_eu": GridRule((), (), (), (), note="code 102 (import via EU): its treatment is not documented [U]"),
    "oss": GridRule((), (), (), (), note="OSS: B2C distance sales go into the OSS return, not the periodic one [U]"),
}

PURCHASE_GRID_SLOT = "81/82/83"
_P = PURCHASE_GRID_SLOT

# Billit's AccountingCostTypeTC (docs/reference/billit-api.md#order-fields) names what was bought: the purchase grid.
PURCHASE_GRID_BY_COST_TYPE: Mapping[str, str] = {
    "goodsforresale": "81",
    "servicesandmiscellaneousgoods": "82",
    "investments": "83",
}

# The Belgian rate at which the buyer self-assesses VAT on a reverse-charge purchase. The invoice carries 0 %
# and Billit does not say which Belgian rate the goods or services would bear, so the standard rate applies
# (docs/bi.md#vat-return, "self-assessed VAT"); every such amount is marked self-assessed in the views.
SELF_ASSESSED_RATE = Decimal("21")

# Purchase grids (docs/bi.md#vat-return). Base in 81/82/83; VAT on the invoice is deductible (59). Reverse
# charge: the buyer owes the VAT (55 IC, 56 co-contractor and non-EU services, 57 imports under a deferral
# licence) and deducts it in 59, both computed at SELF_ASSESSED_RATE. Credit notes received: base 85 and VAT to
# repay 63, or 84 for those on IC acquisitions (86/88). A credit note on a reverse-charge purchase lowers the
# self-assessed VAT and its deduction alike, so it adds nothing to the VAT grids.
PURCHASE_GRIDS: Mapping[str, GridRule] = {
    "standard_6": GridRule((_P,), ("59",), ("85",), ("63",)),
    "standard_12": GridRule((_P,), ("59",), ("85",), ("63",)),
    "standard_21": GridRule((_P,), ("59",), ("85",), ("63",)),
    "zero_rated": GridRule((_P,), (), ("85",), ()),
    # 0 % from a supplier outside Belgium whose invoice says nothing of reverse charge: the buyer may owe the VAT.
    "zero_rated_foreign": GridRule(
        (_P,),
        (),
        ("85",),
        (),
        review=True,
        note="0 % from a supplier outside Belgium that names no reverse charge: check whether you owe the VAT (55/56)",
    ),
    "reverse_charge_domestic": GridRule((_P, "87"), ("56", "59"), ("85",), (), self_assessed=True),
    # Reverse charge from an EU supplier is a service: an IC supply of goods is exempt (K), not reverse-charged.
    "reverse_charge_eu": GridRule((_P, "88"), ("55", "59"), ("84",), (), self_assessed=True),
    "reverse_charge_non_eu": GridRule((_P, "87"), ("56", "59"), ("85",), (), self_assessed=True),
    "outside_scope": GridRule((_P,), (), ("85",), ()),
    "ic_goods": GridRule((_P, "86"), ("55", "59"), ("84",), (), self_assessed=True),
    "ic_services": GridRule((_P, "88"), ("55", "59"), ("84",), (), self_assessed=True),
    # An import's VAT is on the customs document, not on the supplier's invoice: only the base is certain.
    "import": GridRule(
        (_P,),
        (),
        ("85",),
        (),
        note="import VAT is on the customs document (or 87/57/59 under a deferral licence: "
        "BILLIT_VAT_IMPORT_DEFERRAL_LICENCE)",
        review=True,
    ),
    "import_deferred": GridRule((_P, "87"), ("57", "59"), ("85",), (), self_assessed=True),
    "import_via_eu": GridRule(
        (_P,), (), ("85",), (), note="code 102 (import via EU): its VAT treatment is not documented [U]", review=True
    ),
    "margin_scheme": GridRule((_P,), (), ("85",), ()),
    # Foreign VAT (another member state's rate) is not deductible in the Belgian return.
    "foreign_vat": GridRule(
        (_P,), (), ("85",), (), note="foreign VAT is not deductible in the Belgian return", review=True
    ),
}
