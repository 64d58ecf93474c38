"""VAT classification of a Billit line or VAT group: ventilation code + VAT % -> treatment, UBL category, VATEX and
Belgian VAT-return grids.

Billit's `VentilationCode` (header, line, VatGroup) names a VAT treatment, not a rate: codes 2/3/4 are rate
*tiers* (6/12/21 % in BE, 5.5/10/20 % on Billit's France page), so the rate always comes from the line's
`VATPercentage` (docs/reference/billit-api.md#vat). The tables are data, one per direction:

- `SALES_VENTILATION_CODES` (Income) and `COST_VENTILATION_CODES` (Cost and self-billing): code -> UBL category
  (UNCL5305), the exemption text Billit writes, a default VATEX code, and the *treatment* that picks the grids;
- `SALES_GRIDS` and `PURCHASE_GRIDS`: treatment -> grids for an invoice and for a credit note, the rules of
  docs/bi.md#vat-return, where each has its legal source.

The tables live in tasks/normalise/vat_codes.py and are importable from here too.

`base_grids` receive the taxable base, `vat_grids` the VAT: on sales the VAT on the invoice (54, or 64 on credit
notes); on purchases the deductible VAT (59; deduction limits are not on the invoice) and, for reverse charge,
the VAT the buyer self-assesses at `SELF_ASSESSED_RATE` (55/56/57) with its deduction (59). Credit-note grids hold
positive amounts (a credit note is not a negative invoice). `PURCHASE_GRID_SLOT` stands for 81/82/83, which
depends on what was bought; the caller passes it (`purchase_grid`, 82 by default).

A purchase line at 0 % under cost code "1" (every received Peppol invoice has it) gets an *inferred* treatment
where the supplier's VAT number or the exemption text says more (`_infer_received_zero_rate`).

Decisions where the sources are silent are marked [U] next to the data. An unknown code, an unknown direction,
a rate tier (2/3/4) with 0 %, a negative or non-numeric VAT % give `is_known=False` with a reason and
`category=None`: the caller quarantines the line. Nothing here raises on data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tasks.normalise.vat_codes import (
    BELGIAN_STANDARD_RATES,
    COST_VENTILATION_CODES,
    EU_MEMBER_STATES,
    PURCHASE_GRID_BY_COST_TYPE,
    PURCHASE_GRID_SLOT,
    PURCHASE_GRIDS,
    SALES_GRIDS,
    SALES_VENTILATION_CODES,
    SELF_ASSESSED_RATE,
    GridRule,
    VentilationCode,
)
from tasks.normalise.vat_texts import text_says

__all__ = [
    "BELGIAN_STANDARD_RATES",
    "COST_VENTILATION_CODES",
    "GridRule",
    "PURCHASE_GRIDS",
    "PURCHASE_GRID_BY_COST_TYPE",
    "PURCHASE_GRID_SLOT",
    "SELF_ASSESSED_RATE",
    "SALES_GRIDS",
    "SALES_VENTILATION_CODES",
    "VatClassification",
    "VentilationCode",
    "classify_vat",
]


@dataclass(frozen=True)
class VatClassification:
    """The VAT treatment of one line.

    `category` is the UNCL5305 code (S, Z, E, AE, K, G, O), None when `is_known` is False. `rate` is the line's
    VAT % as given. `base_grids` / `vat_grids` are the Belgian VAT-return grids for the taxable base and for the
    VAT (see the module docstring); empty when the line is not in the periodic return or the grid cannot be
    derived. `reason` explains an unknown or inconsistent line, or why a known line has no grid.
    """

    category: str | None
    rate: Decimal
    exemption_reason: str | None
    vatex_code: str | None
    base_grids: tuple[str, ...]
    vat_grids: tuple[str, ...]
    is_known: bool
    reason: str | None
    # The key into the direction's grid table (SALES_GRIDS / PURCHASE_GRIDS), None when unknown or not Belgian.
    treatment: str | None = None
    # "code": read from the ventilation code and rate; "inferred": decided from the counterparty's VAT number
    # and the exemption text because the code cannot say (received Peppol invoices, see `classify_vat`).
    treatment_source: str = "code"
    # True when the VAT grids receive VAT the buyer self-assesses (reverse charge), not VAT on the invoice.
    self_assessed: bool = False

    @property
    def grids(self) -> tuple[str, ...]:
        """The grids the base amount belongs to (alias of `base_grids`)."""
        return self.base_grids


_DIRECTIONS: Mapping[str, tuple[Mapping[str, VentilationCode], Mapping[str, GridRule]]] = {
    "Income": (SALES_VENTILATION_CODES, SALES_GRIDS),
    "Cost": (COST_VENTILATION_CODES, PURCHASE_GRIDS),
}
_ORDER_TYPES = {"invoice": "Invoice", "creditnote": "CreditNote"}
_PURCHASE_GRIDS = frozenset({"81", "82", "83"})


def _rate(value: object) -> Decimal | None:
    # An absent rate is 0 % here; whether a line may leave it out is the caller's check (orders.py quarantines a
    # line whose VAT % is missing unless its code names a 0 % category, docs/bi.md#vat-return).
    if value is None or (isinstance(value, str) and not value.strip()):
        return Decimal(0)
    try:
        rate = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return rate if rate.is_finite() else None


def _unknown(rate: Decimal, reason: str) -> VatClassification:
    return VatClassification(None, rate, None, None, (), (), False, reason)


def _category(row: VentilationCode | None, rate: Decimal) -> str:
    # A line with VAT is S whatever its code: Billit applies the 0 % category codes to 0 % lines only (the
    # docs example: header 55 with a 21 % line -> S). No code, or Cost code 1, at 0 % is Z ("no code
    # anywhere -> Z").
    if rate > 0:
        return "S"
    if row is None or row.category is None:
        return "Z"
    return row.category


_VAT_NUMBER_PREFIX = re.compile(r"^\s*([A-Za-z]{2})[\s.\-]*[0-9A-Za-z]")


def counterparty_region(vat_number: str | None, country: str | None, *, goods: bool = False) -> str | None:
    """ "BE", "EU" (another member state) or "non-EU", from the VAT number's prefix, else the country code. For
    `goods`, Northern Ireland (prefix XI) is another member state (docs/reference/identifiers.md#countries)."""
    match = _VAT_NUMBER_PREFIX.match(vat_number or "")
    code = match.group(1).upper() if match else (country or "").strip().upper()
    if not code:
        return None
    if code == "BE":
        return "BE"
    return "EU" if code in EU_MEMBER_STATES or (goods and code == "XI") else "non-EU"


# Codes 51/55 with a party outside the EU (art. 21 §2, 39 of the VAT Code): a sale is an operation abroad; a
# purchase is a service from abroad, reverse-charged, or goods that come in through customs.
_FROM_OUTSIDE_EU = {"ic_services": "reverse_charge_non_eu", "ic_goods": "import"}
_OUTSIDE_EU_NOTES = {
    "export": "an operation abroad (47), not intra-community",
    "reverse_charge_non_eu": "a service from abroad, VAT due by the buyer (87/56), not intra-community",
    "import": "an import, not an intra-community acquisition",
}


def _reverse_charge_treatment(region: str | None) -> str:
    if region in (None, "BE"):
        return "reverse_charge_domestic"
    return "reverse_charge_eu" if region == "EU" else "reverse_charge_non_eu"


def _infer_received_zero_rate(
    region: str | None, counterparty_vat_number: str | None, exemption_text: str | None, order_charges_vat: bool
) -> tuple[str, str] | None:
    """(treatment, reason) for a 0 % purchase line whose code is Cost "1" (or none), where the data says more.

    Billit gives every received Peppol invoice the cost code "1" whatever its treatment
    (docs/reference/billit-api.md#vat), so the code cannot tell an IC acquisition or a reverse-charge purchase
    from a 0 % domestic one. The supplier's VAT number (else its country) and the exemption text can:

    * another EU member state's VAT number: an IC acquisition, unless the text names a non-IC exemption, or the
      invoice charges VAT elsewhere (`order_charges_vat`: a supplier charging its own VAT is not reverse-charging,
      so its 0 % line, a levy or an exempt item, says nothing by the VAT number alone);
    * a supplier in another member state without a VAT number, or outside the EU, whose text names reverse
      charge or an IC supply: the buyer owes the VAT (art. 51 §2 1° of the VAT Code);
    * a Belgian supplier whose text names the co-contractor rule or reverse charge: co-contractor (87/56).
    """
    says = text_says(exemption_text or "")
    match = _VAT_NUMBER_PREFIX.match(counterparty_vat_number or "")
    prefix = match.group(1).upper() if match else None
    reverse_charge, intra_community = says.reverse_charge, says.intra_community
    exempt = says.exempt and not (reverse_charge or intra_community)
    eu_vat_number = prefix is not None and prefix != "BE" and prefix in EU_MEMBER_STATES and not order_charges_vat
    if region == "EU" and (eu_vat_number or reverse_charge or intra_community) and not exempt:
        who = f"a {prefix} VAT number" if eu_vat_number else "another member state (no VAT number)"
        goods, services = says.goods, says.services
        if goods and not services:
            return (
                "ic_goods",
                f"0 % from a supplier with {who} whose exemption text names goods: "
                "intra-community acquisition of goods (86)",
            )
        said = (
            ("names goods and services: assumed services" if goods else "names services")
            if services
            else "does not say goods or services: assumed services"
        )
        return (
            "ic_services",
            f"0 % from a supplier with {who} whose exemption text {said}: intra-community acquisition of services (88)",
        )
    if region == "non-EU" and reverse_charge:
        return (
            "reverse_charge_non_eu",
            "0 % from a supplier outside the EU whose exemption text names reverse "
            "charge: services, VAT due by the buyer (87/56)",
        )
    if region == "BE" and reverse_charge:
        return (
            "reverse_charge_domestic",
            "0 % from a Belgian supplier whose exemption text names the "
            "co-contractor rule (reverse charge): VAT due by the buyer (87/56)",
        )
    return None


@dataclass(frozen=True)
class Grids:
    """Where one treatment's amounts go on one kind of document."""

    base: tuple[str, ...]
    vat: tuple[str, ...]
    self_assessed: bool
    # Why the amounts are left out (no base grid) or what to check (`review`).
    note: str | None
    review: bool


def grids_for(direction: str, treatment: str, document: str, purchase_grid: str = "82") -> Grids:
    """The grids of `treatment` for an `Invoice` or a `CreditNote` of `direction` (Income or Cost)."""
    rule = _DIRECTIONS[direction][1][treatment]
    if document == "CreditNote":
        base, vat, self_assessed = rule.credit_note_base, rule.credit_note_vat, False
    else:
        base, vat, self_assessed = rule.invoice_base, rule.invoice_vat, rule.self_assessed
    base = tuple(purchase_grid if grid == PURCHASE_GRID_SLOT else grid for grid in base)
    note = rule.note if not base or rule.review else None
    return Grids(base, vat, self_assessed, note, rule.review and bool(base))


def classify_vat(
    direction: str,
    ventilation_code: str | None,
    vat_percentage: Decimal | None,
    *,
    order_type: str = "Invoice",
    counterparty_country: str | None = None,
    counterparty_vat_number: str | None = None,
    exemption_text: str | None = None,
    purchase_grid: str = "82",
    import_deferral_licence: bool = False,
    order_charges_vat: bool = False,
) -> VatClassification:
    """Classify one line (or VatGroup) of a Billit order.

    `direction` is `Income` or `Cost`; `ventilation_code` the line's code, else the header's (Billit: a line
    code overrides the header); `vat_percentage` the line's VAT %. `order_type` `CreditNote` selects the
    credit-note grids; other non-invoice types (Offer, ...) get no grids. The counterparty's VAT number (its
    prefix) or else `counterparty_country` tells Belgian, other-EU and non-EU parties apart (reverse charge:
    45/44/47 on sales, 87/88/87 on purchases); unknown counts as Belgian. `exemption_text` is what the order
    says about the exemption (see orders.py): on a Cost line with code "1" (or none) at 0 % it, and the supplier's
    VAT number, decide an inferred treatment; the VAT number alone does not when `order_charges_vat` (a VAT total,
    or a line or group above 0 %). `purchase_grid` (81, 82 or 83) is the purchase grid for Cost lines;
    `import_deferral_licence` sends imports (Cost code 70) to 87/57/59.
    """
    if purchase_grid not in _PURCHASE_GRIDS:
        raise ValueError(f"purchase_grid must be 81, 82 or 83, got {purchase_grid!r}")
    rate = _rate(vat_percentage)
    if rate is None:
        return _unknown(Decimal("NaN"), f"VAT percentage {vat_percentage!r} is not a number")

    direction_key = (direction or "").strip().capitalize()
    if direction_key not in _DIRECTIONS:
        return _unknown(rate, f"unknown order direction {direction!r}")
    codes, grid_table = _DIRECTIONS[direction_key]

    code = str(ventilation_code).strip() if ventilation_code is not None else ""
    row = codes.get(code) if code else None
    if code and row is None:
        return _unknown(rate, f"unknown ventilation code {code} for {direction_key}")
    if rate < 0:
        return _unknown(rate, f"negative VAT percentage {rate}")

    notes: list[str] = []
    if row is not None and row.tier_rate is not None:
        if rate == 0:
            # A rate tier says "standard rate" but the line has none: S with 0 % breaks BR-S-05. Quarantined.
            return _unknown(rate, f"code {code} (rate tier) with 0 % VAT")
        if rate in BELGIAN_STANDARD_RATES and rate != row.tier_rate:
            notes.append(
                f"code {code} is the {row.tier_rate} % tier in BE but the line has {rate} %; grid follows the rate"
            )

    region = counterparty_region(counterparty_vat_number, counterparty_country)
    category = _category(row, rate)
    source = "code"
    treatment: str | None
    if category == "S":
        treatment = BELGIAN_STANDARD_RATES.get(rate)
        if direction_key == "Cost" and region in ("EU", "non-EU"):
            # A supplier outside Belgium charging VAT charges its own country's (the Netherlands' 21 % too), or
            # Belgian VAT it should have left to us to self-assess: neither is deductible in 59 (art. 45 VAT Code).
            treatment = "foreign_vat"
            notes.append(f"{rate} % VAT charged by a supplier outside Belgium ({region})")
        elif treatment is None:
            if direction_key == "Cost":
                treatment = "foreign_vat"
                notes.append(f"{rate} % is not a Belgian VAT rate")
            else:
                notes.append(f"{rate} % is not a Belgian VAT rate: no Belgian grid")
    elif category == "Z":
        treatment = "zero_rated"
        inferred = (
            _infer_received_zero_rate(region, counterparty_vat_number, exemption_text, order_charges_vat)
            if direction_key == "Cost"
            else None
        )
        if inferred is not None:
            (treatment, reason), source = inferred, "inferred"
            notes.append(reason)
        elif direction_key == "Cost" and region in ("EU", "non-EU"):
            treatment = "zero_rated_foreign"
    else:
        assert row is not None and row.treatment is not None  # every non-S/Z row names its treatment
        treatment = row.treatment
        if treatment == "reverse_charge":
            treatment = _reverse_charge_treatment(region)
        elif treatment in ("ic_goods", "ic_services"):
            goods = treatment == "ic_goods"
            place = counterparty_region(counterparty_vat_number, counterparty_country, goods=True) if goods else region
            if place == "non-EU":  # 44/46/86/88 and the IC listing are for parties in another member state
                treatment = "export" if direction_key == "Income" else _FROM_OUTSIDE_EU[treatment]
                notes.append(f"code {code} with a party outside the EU: {_OUTSIDE_EU_NOTES[treatment]}")
        if treatment == "import" and import_deferral_licence:
            treatment = "import_deferred"

    base_grids: tuple[str, ...] = ()
    vat_grids: tuple[str, ...] = ()
    self_assessed = False
    if treatment is not None:
        document = _ORDER_TYPES.get((order_type or "").strip().lower())
        if document is None:
            notes.append(f"order type {order_type!r} is not reported in the VAT return")
        else:
            grids = grids_for(direction_key, treatment, document, purchase_grid)
            base_grids, vat_grids, self_assessed = grids.base, grids.vat, grids.self_assessed
            if grids.note:
                notes.append(f"no grid: {grids.note}" if not base_grids else grids.note)

    # Exemption text and VATEX belong to the code's own category only (BR-S-10 / BR-Z-10: none for S and Z).
    exempt_row = row if row is not None and row.category == category and category not in ("S", "Z") else None
    return VatClassification(
        category=category,
        rate=rate,
        exemption_reason=exempt_row.exemption_reason if exempt_row else None,
        vatex_code=exempt_row.vatex_code if exempt_row else None,
        base_grids=base_grids,
        vat_grids=vat_grids,
        is_known=True,
        reason="; ".join(notes) or None,
        treatment=treatment,
        treatment_source=source,
        self_assessed=self_assessed,
    )
