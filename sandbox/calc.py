"""Billit's totals arithmetic for the sandbox: line amounts, VAT groups, order totals and OGM references.

Billit recomputes every total from quantities and prices (docs/reference/billit-api.md#calculations, docs
``/docs/calculations``): each line shows its own rounded amounts, but the VAT that counts is computed once per VAT group
on the sum of the line nets, less the group's cash discount if the order has one. Money is ``Decimal`` throughout and
rounded half-up to the cent.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["compute_order_totals", "ogm_reference", "round_money", "income_rate_code"]

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

# Income: a positive rate decides the code on output (docs/reference/vat.md#sales-codes); these are the Belgian rates.
_BE_RATE_CODES: dict[Decimal, str] = {Decimal(6): "2", Decimal(12): "3", Decimal(21): "4"}


def round_money(value: Decimal) -> Decimal:
    """Round to the cent, half-up (away from zero).

    Billit does not document its rounding mode; every documented example agrees with half-up
    (docs/reference/billit-api.md#calculations).
    """
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _dec(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, int | str):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    raise TypeError(f"expected a number, got {value!r}")


def income_rate_code(rate: Decimal) -> str:
    """The sales ventilation code Billit derives for a positive VAT rate (6 → "2", 12 → "3", 21 → "4")."""
    code = _BE_RATE_CODES.get(rate)
    if code is not None:
        return code
    # Non-Belgian rates fall into the low/middle/high tiers by size.
    if rate < 10:
        return "2"
    if rate < 17:
        return "3"
    return "4"


def _line_code(line: dict[str, Any], rate: Decimal, header_code: str | None, direction: str) -> str:
    line_code = line.get("VentilationCode") or None
    if direction == "Income":
        if rate > 0:
            return income_rate_code(rate)
        # docs/reference/vat.md#sales-codes: a line code overrides the header code, which applies to every 0 % line;
        # neither → "1" (Z).
        return line_code or header_code or "1"
    # Cost (docs/reference/vat.md#cost-codes): received documents get "1" (Binnenland) unless a code was given.
    return line_code or header_code or "1"


def _line_amounts(line: dict[str, Any], rate: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    if line.get("InclLeading") and line.get("TotalIncl") is not None:
        # InclLeading: the incl amount is authoritative and the excl amount is derived from it
        # (docs/reference/billit-api.md#calculations).
        incl = round_money(_dec(line["TotalIncl"]))
        net = round_money(incl * HUNDRED / (HUNDRED + rate))
        return net, incl - net, incl
    quantity = _dec(line.get("Quantity", 1))
    price = _dec(line.get("UnitPriceExcl", 0))
    reduction = _dec(line.get("ReductionPercentage") or 0)
    net = round_money(quantity * price * (HUNDRED - reduction) / HUNDRED)
    vat = round_money(net * rate / HUNDRED)
    return net, vat, net + vat


def _group_sort_key(key: tuple[str, Decimal]) -> tuple[Decimal, int, str]:
    code, rate = key
    return rate, int(code) if code.isdigit() else 10**6, code


def compute_order_totals(
    lines: list[dict[str, Any]],
    *,
    header_ventilation_code: str | None,
    direction: str,
    payment_discount_percentage: Decimal = ZERO,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Decimal]]:
    """Compute Billit's line amounts, VAT groups and order totals.

    ``lines`` are OrderLine dicts with ``Quantity``, ``UnitPriceExcl`` and ``VATPercentage`` (Decimal), and
    optionally ``ReductionPercentage``, ``VentilationCode`` and ``InclLeading`` + ``TotalIncl``.
    ``direction`` is ``"Income"`` or ``"Cost"``. ``payment_discount_percentage`` is the order's cash discount
    (``PaymentDiscountPercentage``); it lowers each group's taxable base ``Mtvh`` and so its VAT.

    Returns ``(lines_out, vat_groups, totals)``: copies of the lines with ``TotalExcl``, ``TotalVAT``,
    ``TotalIncl`` and ``VentilationCode`` filled in; one VatGroup per (VentilationCode, VATPercentage), sorted
    by rate; and ``{"TotalExcl", "TotalVAT", "TotalIncl"}`` summed over the groups. The order's cash-discount
    amount is the sum of the groups' ``FinancialReductionAmount``.
    """
    if direction not in ("Income", "Cost"):
        raise ValueError(f"direction must be 'Income' or 'Cost', not {direction!r}")
    header_code = header_ventilation_code or None
    lines_out: list[dict[str, Any]] = []
    group_nets: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        rate = _dec(line.get("VATPercentage") or 0)
        net, vat, incl = _line_amounts(line, rate)
        code = _line_code(line, rate, header_code, direction)
        out = dict(line)
        out["VentilationCode"] = code
        out["TotalExcl"] = net
        out["TotalVAT"] = vat
        out["TotalIncl"] = incl
        lines_out.append(out)
        key = (code, rate)
        group_nets[key] = group_nets.get(key, ZERO) + net

    vat_groups: list[dict[str, Any]] = []
    total_excl = total_vat = ZERO
    for key in sorted(group_nets, key=_group_sort_key):
        code, rate = key
        net = round_money(group_nets[key])
        # Belgian cash discount (docs/reference/billit-api.md#cash-discount; art. 28, 2° VAT Code): it leaves
        # the taxable base whether or not the customer takes it, so the group's VAT is on Mtvh = net - reduction.
        reduction = round_money(net * payment_discount_percentage / HUNDRED)
        taxable = net - reduction
        # The rate is applied once to the group's base and rounded at the end
        # (docs/reference/billit-api.md#calculations), so the group VAT may differ by a cent from the sum of the line
        # VATs (and by more under a cash discount).
        vat = round_money(taxable * rate / HUNDRED)
        vat_groups.append(
            {
                "VentilationCode": code,
                "VATPercentage": rate.quantize(CENT),
                "TotalExcl": net,
                "TotalVAT": vat,
                "TotalIncl": net + vat,
                "Mtvh": taxable,
                "FinancialReductionAmount": reduction,
            }
        )
        total_excl += net
        total_vat += vat

    totals = {"TotalExcl": total_excl, "TotalVAT": total_vat, "TotalIncl": total_excl + total_vat}
    return lines_out, vat_groups, totals


def ogm_reference(ten_digits: int) -> str:
    """Format a Belgian structured payment reference (OGM/VCS): ``+++ddd/dddd/dddcc+++``.

    The check digits are the 10-digit number mod 97, or 97 when that is 0.
    """
    if not 0 <= ten_digits < 10**10:
        raise ValueError(f"an OGM holds 10 digits, got {ten_digits}")
    check = ten_digits % 97 or 97
    digits = f"{ten_digits:010d}{check:02d}"
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"
