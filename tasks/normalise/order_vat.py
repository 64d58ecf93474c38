"""The VAT side of an order's lines and VAT groups (pure; no I/O): their VAT percentage, taxable base, the texts
that may state an exemption, and the VAT columns written from a classification (tasks/normalise/vat.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from tasks.normalise.fields import MONEY, PERCENT, QUANTITY, Fields
from tasks.normalise.vat import VatClassification, classify_vat
from tasks.normalise.vat_codes import COST_VENTILATION_CODES, SALES_VENTILATION_CODES

Row = dict[str, Any]


def vat_columns(vat: VatClassification) -> Row:
    """The VAT columns of a line or VAT group row, from its classification."""
    return {
        "vat_category": vat.category,
        "vat_rate": vat.rate if vat.is_known else None,
        "exemption_reason": vat.exemption_reason,
        "vatex_code": vat.vatex_code,
        "base_grids": ",".join(vat.base_grids) or None,
        "vat_grids": ",".join(vat.vat_grids) or None,
        "treatment": vat.treatment,
        "treatment_source": vat.treatment_source if vat.is_known else None,
        "treatment_reason": vat.reason,
    }


# Codes whose category has no rate or 0 % by definition: a line with one of them may leave VATPercentage out
# (Billit writes "No VAT percentage" for code 22, and NULL defaults in its cost table).
_ZERO_RATE_CODES = {
    direction: frozenset(code for code, row in table.items() if row.category not in (None, "S"))
    for direction, table in (("Income", SALES_VENTILATION_CODES), ("Cost", COST_VENTILATION_CODES))
}


def vat_percentage(item: Fields, direction: str, code: str | None) -> Decimal | None:
    """The VAT % of a line or group. Missing (absent, null or blank) is allowed only under a code that names a
    0 % category; otherwise the rate is unknown and a line that may carry VAT would pass as zero-rated (issue
    10), so the order is quarantined whole."""
    value = item.source.get("VATPercentage")
    if value is None or (isinstance(value, str) and not value.strip()):
        if (code or "").strip() in _ZERO_RATE_CODES[direction]:
            return None
        raise item.unreadable("VATPercentage", "missing and no ventilation code says the line has no VAT")
    return item.number("VATPercentage", PERCENT)


def net_amount(item: Fields) -> Decimal | None:
    """A line's net (`TotalExcl`). Billit leaves null members out, so an absent net is unknown: on a line with a
    price other than 0 it would pass as 0 in the VAT return's sums and shares, so the order is quarantined whole;
    a line without one (a text line, with a quantity of 1 or none; a free line) may leave it out."""
    net = item.number("TotalExcl", MONEY)
    if net is None and item.number("UnitPriceExcl", QUANTITY):
        raise item.unreadable("TotalExcl", "missing on a line with a price")
    return net


def vat_amount(item: Fields, percentage: Decimal | None, net: Decimal | None) -> Decimal | None:
    """A VAT group's VAT (`TotalVAT`), which the return reports. Absent under a VAT % above zero on a base other
    than zero, the VAT is unknown, and the return would count none (found from the outside: grid 59 short by the
    group's VAT, exit 0), so the order is quarantined whole. (A line's VAT is never reported: lines without a
    group are taxed at their rate, as Billit taxes a group.)"""
    amount = item.number("TotalVAT", MONEY)
    if amount is None and percentage and net:
        raise item.unreadable("TotalVAT", f"missing on a net of {net} at {percentage} %")
    return amount


def group_amounts(group: Fields) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """A VAT group's net, taxable base (`Mtvh`) and cash discount, one of the first two at least: a group without
    either has no base the VAT return could report."""
    net, taxable = group.number("TotalExcl", MONEY), group.number("Mtvh", MONEY)
    if net is None and not taxable:  # an Mtvh of 0 says nothing (`taxable_base`)
        raise group.unreadable("TotalExcl", "missing, and Mtvh is missing or 0: the group has no taxable base")
    return net, taxable, group.number("FinancialReductionAmount", MONEY)


def charges_vat(order: Mapping[str, Any], total_vat: Decimal | None) -> bool:
    """Whether the order charges VAT: a VAT total other than zero, or a line or VAT group with a VAT % above zero
    (an unreadable one counts as none here; reading it properly quarantines the order)."""
    if total_vat:
        return True
    for name in ("OrderLines", "VatGroups"):
        for item in order.get(name) or ():
            percentage = item.get("VATPercentage") if isinstance(item, Mapping) else None
            try:
                if percentage is not None and Decimal(str(percentage).strip() or "0") > 0:
                    return True
            except InvalidOperation:
                continue
    return False


def taxable_base(group: Row) -> Decimal | None:
    """A VAT group's taxable base: `Mtvh`, which a cash discount makes smaller than `TotalExcl`; without it, the
    net less the cash discount, as Billit computes `Mtvh` (docs/reference/billit-api.md#cash-discount). An `Mtvh`
    of 0 on a group with a net and no cash discount says nothing."""
    taxable, net, discount = group["taxable_base"], group["total_excl"], group["financial_reduction_amount"]
    if taxable is None:
        return None if net is None else net - (discount or 0)
    if taxable == 0 and net and not discount:
        return net
    return taxable


def classify_vat_cached(
    direction: str,
    code: str | None,
    percentage: Decimal | None,
    *,
    order_type: str,
    counterparty_country: str | None,
    counterparty_vat_number: str | None,
    exemption_text: str,
    purchase_grid: str,
    import_deferral_licence: bool,
    order_charges_vat: bool,
) -> VatClassification:
    """`classify_vat` of a line or VAT group, remembered: most lines of a batch share code, rate, counterparty and
    texts, and the classification is a pure function of them (a fifth of the normalising)."""
    return _classified(
        direction,
        code,
        # By its text: 21 and 21.00 are equal (and hash alike) but the classification quotes the rate as given.
        None if percentage is None else str(percentage),
        order_type,
        counterparty_country,
        counterparty_vat_number,
        exemption_text,
        purchase_grid,
        import_deferral_licence,
        order_charges_vat,
    )


@lru_cache(maxsize=1024)
def _classified(
    direction: str,
    code: str | None,
    percentage: str | None,
    order_type: str,
    counterparty_country: str | None,
    counterparty_vat_number: str | None,
    exemption_text: str,
    purchase_grid: str,
    import_deferral_licence: bool,
    order_charges_vat: bool,
) -> VatClassification:
    return classify_vat(
        direction,
        code,
        None if percentage is None else Decimal(percentage),
        order_type=order_type,
        counterparty_country=counterparty_country,
        counterparty_vat_number=counterparty_vat_number,
        exemption_text=exemption_text,
        purchase_grid=purchase_grid,
        import_deferral_licence=import_deferral_licence,
        order_charges_vat=order_charges_vat,
    )


_EXEMPTION_KEYS = re.compile(r"exempt|note|comment|title", re.IGNORECASE)


@lru_cache(maxsize=1024)
def _may_state_exemption(key: str) -> bool:
    """Whether a property name may hold an exemption text (an order has a few dozen names, read once each)."""
    return _EXEMPTION_KEYS.search(key) is not None


def exemption_text(source: Mapping[str, Any]) -> str:
    """The texts of an order, line or VAT group that may state a VAT exemption. Where Billit puts a received
    invoice's exemption reason is not documented (docs/bi.md#vat-return): any text under a key naming an
    exemption, a note, a comment or a title, and every text of its CustomFields."""
    texts = [value for key, value in source.items() if isinstance(value, str) and _may_state_exemption(str(key))]
    custom = source.get("CustomFields")
    # CustomFields is an object of strings on orders and lines; parties show a list (of {Key, Value} objects).
    for holder in (custom,) if isinstance(custom, Mapping) else custom if isinstance(custom, list) else ():
        if isinstance(holder, Mapping):
            texts += [value for value in holder.values() if isinstance(value, str)]
    return " | ".join(text.strip() for text in texts if text.strip())


def item_exemption_text(item: Mapping[str, Any], order_text: str, *, description: bool) -> str:
    """The texts that may state the exemption of one line or VAT group: its own (`exemption_text`), then its own
    `Description` where `description`, then the order's. A received co-contractor invoice may mix 21 % materials
    with a 0 % line "Werken - BTW verlegd": the line's name says it for that line only (docs/bi.md#vat-return).
    The caller asks for the Description only where a text can decide (a purchase line at 0 %, `classify_vat`):
    elsewhere it would change nothing but the classification cache's key."""
    description_text = item.get("Description") if description else None
    own = (exemption_text(item), description_text.strip() if isinstance(description_text, str) else "", order_text)
    return " | ".join(text for text in own if text)
