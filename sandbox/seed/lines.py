"""Order lines and their VAT: quantities, unit prices, rates and ventilation codes of sales and purchases.

Sales lines come from the own company's catalogue (a generated company sells from the declared company that
speaks its language); foreign, co-contractor and exempt sales get a 0 % rate
and the header ventilation code that says why (docs/reference/billit-api.md, docs/reference/vat.md#sales-codes).
Purchase lines come from what the supplier sells, with the category's rate and code (docs/reference/vat.md#cost-codes).
Totals are left to ``calc``.
"""

from __future__ import annotations

import random
from decimal import Decimal
from itertools import accumulate
from typing import Any

from sandbox.seed.catalogue import CATALOGUE_BY_LANGUAGE, SALES_CATALOGUE, SUPPLIER_CATEGORIES
from sandbox.seed.parties import Counterparty
from sandbox.seed.state import ONE5, Q2, Q5, SeedState

__all__ = ["LINE_KEYS", "cost_lines", "finish_lines", "income_lines"]

Lines = tuple[list[dict[str, Any]], str | None, str]  # lines, header code passed to calc, header code shown


def _money_cents(rng: random.Random, low: int, high: int) -> int:
    return low if low == high else rng.randrange(low, high + 1)


def _quantity(rng: random.Random, kind: str) -> Decimal:
    if kind == "hours":
        value = Decimal(rng.randrange(1, 80)) / 4 if rng.random() < 0.8 else Decimal(rng.randrange(25, 4000)) / 100
    elif kind == "km":
        value = Decimal(rng.randrange(8, 420))
    elif kind in ("kg", "litres"):
        value = Decimal(rng.randrange(100, 90000)) / 100
    elif kind == "days":
        value = Decimal(rng.randrange(1, 6))
    elif kind == "months":
        value = Decimal(1) if rng.random() < 0.85 else Decimal(rng.randrange(2, 13))
    else:
        value = Decimal(rng.randrange(1, 25)) if rng.random() < 0.8 else Decimal(rng.randrange(25, 5001))
    if rng.random() < 0.01:
        # Some companies enable 5-decimal quantities (docs/reference/billit-api.md#order-lines).
        value += Decimal(rng.randrange(1, 1000)) / 100_000
    return value.quantize(Q5)


def _unit_price(rng: random.Random, low: int, high: int) -> Decimal:
    cents = _money_cents(rng, low, high)
    if low != high and rng.random() < 0.5:
        cents = max(1, cents // 100 * 100 + rng.choice([0, 0, 50, 95, 99]))
    price = Decimal(cents) / 100
    if rng.random() < 0.03:
        price += Decimal(rng.randrange(1, 1000)) / 100_000  # unit prices carry up to 5 decimals
    return price.quantize(Q5)


_LINE_COUNT_WEIGHTS = list(accumulate([6, 9, 11, 13, 14, 13, 12, 11, 11]))  # 1..9 lines, mean about 5.2
_RATE = {rate: Decimal(rate).quantize(Q2) for rate in (0, 6, 12, 21)}


def income_lines(state: SeedState, cp: Counterparty) -> Lines:
    """Sales lines plus (header code passed to the calculation, header VentilationCode shown)."""
    rng = state.rng
    catalogue = SALES_CATALOGUE.get(state.company_id) or SALES_CATALOGUE[CATALOGUE_BY_LANGUAGE[state.own.language]]
    count = rng.choices(range(1, 10), cum_weights=_LINE_COUNT_WEIGHTS)[0]
    zero_code: str | None = None
    if cp.country in ("US", "GB", "CH"):
        zero_code = "70"
    elif cp.country != "BE" and not cp.private:
        zero_code = "51" if rng.random() < 0.35 else "55"
    elif cp.cocontractor and rng.random() < 0.7:
        zero_code = "21"
    elif rng.random() < 0.006:
        zero_code = "24"
    lines: list[dict[str, Any]] = []
    for _ in range(count):
        desc, ref, low, high, rate, kind = rng.choice(catalogue)
        line: dict[str, Any] = {"Quantity": _quantity(rng, kind), "UnitPriceExcl": _unit_price(rng, low, high)}
        if ref and rng.random() < 0.8:
            line["Reference"] = ref
        line["Description"] = desc
        if rng.random() < 0.15:
            line["DescriptionExtended"] = (
                f"{desc} — {rng.choice(['periode', 'période', 'project', 'dossier'])} {rng.randrange(1, 999):03d}"
            )
        if rng.random() < 0.05:
            line["ReductionPercentage"] = Decimal(rng.choice([5, 10, 15, 20, 25])).quantize(Q2)
        line["VATPercentage"] = _RATE[0 if zero_code else rate]
        lines.append(line)
    if zero_code is None and rng.random() < 0.04:
        # Disbursements passed on outside the scope of VAT need a line-level 0 % code
        # (docs/reference/vat.md#sales-codes).
        lines.append({"Quantity": ONE5, "UnitPriceExcl": _unit_price(rng, 1500, 25000),
                      "Description": "Doorgerekende kosten (buiten btw)", "VATPercentage": _RATE[0],
                      "VentilationCode": "22"})  # fmt: skip
    if rng.random() < 0.05:
        rate_of_first = lines[0]["VATPercentage"]
        lines.append({"Quantity": ONE5, "UnitPriceExcl": -_unit_price(rng, 500, 5000),
                      "Description": rng.choice(["Korting vaste klant", "Remise fidélité", "Discount"]),
                      "VATPercentage": rate_of_first})  # fmt: skip
    shown = zero_code or "4"
    return lines, zero_code, shown


def cost_lines(state: SeedState, cp: Counterparty, via_peppol: bool) -> Lines:
    rng = state.rng
    rate, code, items = SUPPLIER_CATEGORIES[cp.category]
    count = min(rng.choices(range(1, 10), cum_weights=_LINE_COUNT_WEIGHTS)[0], 2 * len(items) + 1)
    lines: list[dict[str, Any]] = []
    for n in range(1, count + 1):
        desc, low, high, kind = rng.choice(items)
        line_rate = rate
        if code == "1" and rng.random() < 0.05:
            line_rate = rng.choice([0, 6, 12])
        line = {
            "Quantity": _quantity(rng, kind),
            "UnitPriceExcl": _unit_price(rng, low, high),
            "Description": desc,
            "VATPercentage": _RATE[line_rate],
            "InclLeading": False,
        }
        if via_peppol:
            # Received UBL lines keep their InvoiceLine/ID and name in CustomFields
            # (docs/reference/billit-api.md#received-invoice-example).
            line["CustomFields"] = {"Name": desc, "PeppolLineID": str(n)}
        lines.append(line)
    header = None if code == "1" else code
    return lines, header, code


LINE_KEYS = (
    "OrderLineID", "Quantity", "UnitPriceExcl", "Reference", "Description", "DescriptionExtended",
    "ReductionPercentage", "TotalExcl", "TotalVAT", "VATPercentage", "VentilationCode", "CustomFields",
    "InclLeading", "TotalIncl",
)  # fmt: skip


def finish_lines(state: SeedState, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        ordered: dict[str, Any] = {"OrderLineID": state.next_line_id}
        state.next_line_id += 1
        ordered.update(line)
        ordered.setdefault("CustomFields", {})
        ordered.setdefault("InclLeading", False)
        out.append(ordered)
    return out
