"""One order's part in the Belgian periodic VAT return: rows of `vat_return_entries` and `vat_return_exceptions`.

The rules (docs/bi.md#vat-return):

* **VAT groups first.** Billit rounds VAT once per VAT group, not per line (docs/reference/billit-api.md
  #vat), so a grid's base is the group's taxable base (`Mtvh`, which a cash discount makes smaller than
  its net) and its VAT the group's `TotalVAT`: the VAT the invoice shows.
* **Lines where a group cannot say which grid**: when the lines a group adds up have more than one treatment
  (two 0 % codes under one rate, or an inferred treatment on some lines only), the group's base and VAT are
  shared out over the treatments in proportion to the lines' nets (so its rounding and cash discount stay). Lines
  at a rate no group has, and all lines of an order without groups, are added up per treatment and rate, with the
  VAT computed as Billit does for a group; but an order without groups at one rate (and treatment) above 0 % that
  states its `TotalVAT` reports it as stated (VAT on an invoice is due as stated), and with several rates any
  difference from its `TotalVAT` is to review. An order with totals but neither lines nor groups is an exception.
* **Self-assessed VAT** (reverse charge, IC acquisitions, imports under a deferral licence) is the base times the
  Belgian rate (`SELF_ASSESSED_RATE`), rounded half-up to the cent once per group, and marked
  `is_self_assessed`.
* **Sign.** Billit stores credit notes with positive amounts: they go to their own grids (48/49/64, 84/85/63).
  A negative group on an invoice is a negative correction without a credit note: its base goes there too, as a
  positive amount, and its VAT to the regularisation grid, 62 on a sale and 61 on a purchase (64 and 63 are the
  VAT of credit notes); grids never hold negative amounts. A negative group on a credit note goes to the invoice
  grids as a charge, and is an exception to review: it may be a sign error.
* **Not issued.** A draft (`OrderStatus` `Draft`) is no VAT document yet: its amounts are exceptions, in no
  return until it is issued and synced again. A `Canceled` invoice stays in the return, to review: Billit's docs
  do not say what cancelling an invoice does, and only a credit note undoes an issued one.
* **Currency.** Grid amounts are EUR. A non-EUR order is converted with its `FXRateToForeign` (foreign units per
  EUR, as the name and the rate's size say; docs/bi.md#currencies), rounded per group, and is an exception to
  review (once per order) naming the rate and that reading; without a usable rate its amounts are an exception,
  never left out silently.
* **Exceptions**: a group or line whose amounts are not in the return (unknown treatment, no Belgian grid, no
  exchange rate, no order date, a draft) or are in it but need a look (an import's VAT is on the customs
  document; an intra-community supply to a customer without a valid VAT number of another member state, whose
  exemption does not hold without one; a co-contractor sale to a customer without a valid Belgian VAT number;
  a purchase whose `VatDeduction` says only part of its VAT is deductible; a purchase the company rejected).

Offers, delivery notes and order forms are not VAT documents: no rows at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from tasks.normalise.identifiers import normalise_vat_number
from tasks.normalise.vat import VatClassification, counterparty_region, grids_for
from tasks.normalise.vat_codes import SELF_ASSESSED_RATE
from tasks.normalise.vat_parts import CENT, Part, Priced, cents, order_parts

Row = dict[str, Any]

_DOCUMENTS = {"invoice": "Invoice", "creditnote": "CreditNote"}
_OTHER_DOCUMENT = {"Invoice": "CreditNote", "CreditNote": "Invoice"}
# The VAT of a negative correction on an invoice (no credit note): the regularisation grids, not the credit notes'.
_CORRECTION_VAT_GRID = {"64": "62", "63": "61"}
# Order fields that say only part of a purchase's VAT is deductible (Swagger only: not applied, flagged).
DEDUCTION_LIMITS = ("VatDeduction", "MixedUseProfessionalPercentage")
# Treatments whose other party needs a VAT number of another member state (sales 44/46 and the IC listing;
# purchases 86/88).
IC_TREATMENTS = ("ic_goods", "ic_services", "reverse_charge_eu")


def _ic_party_problem(vat_number: str | None, country: str | None, *, goods: bool) -> str | None:
    """What is wrong with the other party of an intra-community operation, or None: it needs a valid VAT number of
    another member state (Northern Ireland's XI for goods, docs/reference/identifiers.md#countries)."""
    if not (vat_number or "").strip():
        return "no VAT number"
    identifier = normalise_vat_number(vat_number or "", country_hint=country)
    prefix = (identifier.value or "")[:2].upper()
    if prefix == "BE":
        return f"a Belgian VAT number ({vat_number})"
    if not identifier.is_valid or counterparty_region(identifier.value, None, goods=goods) != "EU":
        return f"VAT number {vat_number}, not a valid one of another member state"
    return None


def _co_contractor_customer_problem(vat_number: str | None, country: str | None) -> str | None:
    """What is wrong with the customer of a co-contractor sale (art. 20 of Royal Decree no. 1), or None: the rule
    only applies to a customer filing periodic VAT returns, which a valid Belgian VAT number at least suggests."""
    if not (vat_number or "").strip():
        return "no VAT number"
    identifier = normalise_vat_number(vat_number or "", country_hint=country)
    if (identifier.value or "")[:2].upper() != "BE" or not identifier.is_valid:
        return f"VAT number {vat_number}, not a valid Belgian one"
    return None


def _status(invoice: Row) -> str:
    """The order's `OrderStatus`, in lower case ("" when it has none)."""
    return str(invoice.get("order_status") or "").strip().lower()


def _to_review(
    invoice: Row, country: str | None, limits: Mapping[str, Decimal | None], part: Part, vat_grids: tuple[str, ...]
) -> Iterator[str]:
    """Why a part of the order, in the return, needs a look (docs/bi.md#vat-return)."""
    treatment, direction = part.vat.treatment, invoice["direction"]
    vat_number = invoice.get("counterparty_vat_number")
    if part.check:
        yield part.check
    if part.base < 0 and str(invoice.get("order_type") or "").strip().lower() == "creditnote":
        yield (
            f"a CreditNote with a negative base {part.base}: reported as a charge in the invoice grids; Billit keeps "
            "credit notes positive, so if the sign is an error every figure is off by twice the amount: check"
        )
    if _status(invoice) in ("canceled", "cancelled"):
        yield "OrderStatus Canceled: only a credit note undoes an issued invoice; check"
    if direction == "Cost" and str(invoice.get("approval_status") or "").strip().lower() == "rejected":
        # In the grids as received (a rejected invoice is not undone until the supplier credits it), never silently.
        yield "ApprovalStatus Rejected: the company rejected this purchase; check before deducting its VAT"
    region = counterparty_region(vat_number, country)
    if treatment in IC_TREATMENTS and direction == "Income":
        if problem := _ic_party_problem(vat_number, country, goods=treatment == "ic_goods"):
            yield f"an exempt intra-community supply, but the customer has {problem}: check the exemption"
    elif treatment == "reverse_charge_domestic" and direction == "Income":
        # Without it the tool cannot know the rate that is due (a private person owes the VAT on the invoice).
        if problem := _co_contractor_customer_problem(vat_number, country):
            yield (
                f"a co-contractor sale at 0 %, kept in grid 45 (49 on a credit note) as invoiced, but the customer "
                f"has {problem}: the co-contractor rule only applies to a customer filing periodic VAT returns; "
                "check the VAT due"
            )
    elif treatment in IC_TREATMENTS and region in ("BE", None):  # abroad without a VAT number: the buyer owes it
        where = "in Belgium" if region == "BE" else "with neither a VAT number nor a country"
        yield f"an intra-community acquisition from a supplier {where}: check who owes the VAT"
    if direction == "Cost" and treatment == "outside_scope" and region not in ("BE", None):
        yield "outside the scope of VAT, from a supplier outside Belgium: check whether you owe the VAT"
    for name, value in limits.items():  # a self-assessed deduction is limited alike
        if "59" not in vat_grids or value is None or value >= 100:
            continue
        if value == 0:
            # Billit does not say whether 0 means "nothing deductible" or "not set": never deducted in full silently.
            yield (
                f"{name} 0 (nothing deductible, or not set: Billit does not say): grid 59 holds all of this VAT; check"
            )
        else:
            yield f"{name} {value}: grid 59 holds all of this VAT; check"


def _order_part(invoice: Row, reason: str) -> Part:
    """The order's own totals as a part no grid is known for (an exception's amounts)."""
    unclassified = VatClassification(None, Decimal(0), None, None, (), (), False, reason)
    return Part(
        "order", 0, unclassified, invoice.get("total_excl") or Decimal(0), invoice.get("total_vat") or Decimal(0)
    )


def _header_vat_disagrees(invoice: Row, parts: Sequence[Part], lines: Sequence[Priced]) -> str | None:
    """Why the order's own `TotalVAT` needs a look, or None: Billit makes it the sum of the VAT groups', which the
    return reports (docs/reference/billit-api.md#calculations); totals that disagree with them (found from the
    outside: 31.50 on an order whose one group says 21.00) leave reports on `invoices` and the return apart."""
    total_vat = invoice.get("total_vat")
    if total_vat is None or not parts or parts[0].source == "order":
        return None
    reported = sum((part.vat_amount for part in parts), Decimal(0))
    grouped = any(part.source == "vat_group" for part in parts)
    # Without groups, one rate takes the TotalVAT as stated (`order_parts`); several are computed per rate, so any
    # difference is VAT the invoice states and the return does not report, or the other way round.
    if abs(total_vat - reported) <= (CENT * max(1, len(lines)) if grouped else Decimal(0)):
        return None
    of = "VAT groups" if grouped else "lines (no VAT groups: computed per rate)"
    return f"the order's TotalVAT {total_vat} is not the {reported} of its {of}, which the return reports: check"


def vat_return_rows(
    invoice: Row,
    lines: Sequence[Priced],
    groups: Sequence[Priced],
    *,
    purchase_grid: str = "82",
    counterparty_country: str | None = None,
    deduction_limits: Mapping[str, Decimal | None] | None = None,
) -> tuple[list[Row], list[Row]]:
    """(`vat_return_entries` rows, `vat_return_exceptions` rows) of one order (`invoice` as normalised; the
    counterparty's country, and the order's fields that limit a deduction, `VatDeduction` and
    `MixedUseProfessionalPercentage`, as Billit gives them)."""
    document = _DOCUMENTS.get(str(invoice.get("order_type") or "").strip().lower())
    if document is None:
        return [], []
    order_id, direction, draft = invoice["order_id"], invoice["direction"], _status(invoice) == "draft"
    currency = (invoice.get("currency") or "EUR").upper()
    fx_rate = invoice.get("fx_rate_to_foreign")
    usable_rate = currency == "EUR" or (fx_rate is not None and fx_rate > 0 and fx_rate != 1)
    entries: list[Row] = []
    exceptions: list[Row] = []

    def exception(part: Part, reason: str, *, reported: bool = False) -> None:
        exceptions.append(
            {
                "order_id": order_id,
                "exception_number": len(exceptions) + 1,
                "source": part.source,
                "source_number": part.number,
                "treatment": part.vat.treatment,
                "is_reported": reported,
                "reason": reason[:500],
                "currency": currency,
                "base": part.base,
                "vat": part.vat_amount,
            }
        )

    parts = order_parts(lines, groups, stated_vat=invoice.get("total_vat"))
    if not parts and (invoice.get("total_excl") or invoice.get("total_vat")):
        # Totals without lines or VAT groups: nothing says which grid. Listed, never dropped.
        parts = [_order_part(invoice, "the order has totals but no lines or VAT groups")]
    for part in parts:
        if part.base == 0 and part.vat_amount == 0:
            continue
        if not part.vat.is_known or part.vat.treatment is None:
            exception(part, part.vat.reason or "no Belgian VAT-return grid")
            continue
        if draft:
            exception(part, "a draft (OrderStatus Draft), not issued: in no return until it is")
            continue
        if invoice.get("order_date") is None:
            exception(part, "the order has no OrderDate: no period to report it in")
            continue
        if not usable_rate:
            exception(
                part,
                f"amounts in {currency} and no exchange rate to EUR (FXRateToForeign "
                f"{'missing' if fx_rate is None else fx_rate})",
            )
            continue
        kind, base, vat_amount = document, part.base, part.vat_amount
        if base < 0:  # a negative correction: the credit-note grids, as positive amounts
            kind, base, vat_amount = _OTHER_DOCUMENT[document], -base, -vat_amount
        grids = grids_for(direction, part.vat.treatment, kind, purchase_grid)
        vat_grids = grids.vat
        if kind != document and document == "Invoice":
            vat_grids = tuple(_CORRECTION_VAT_GRID.get(grid, grid) for grid in vat_grids)
        if not grids.base:
            exception(part, grids.note or f"{part.vat.treatment}: not in the periodic return")
            continue
        if grids.review:
            exception(part, grids.note or "to review", reported=True)
        for reason in _to_review(invoice, counterparty_country, deduction_limits or {}, part, vat_grids):
            exception(part, reason, reported=True)
        in_eur = (lambda amount: amount) if currency == "EUR" else (lambda amount: cents(amount / fx_rate))
        base_eur = in_eur(base)
        vat_eur = cents(base_eur * SELF_ASSESSED_RATE / 100) if grids.self_assessed else in_eur(vat_amount)
        common = {
            "order_id": order_id,
            "source": part.source,
            "source_number": part.number,
            "treatment": part.vat.treatment,
            "treatment_source": part.vat.treatment_source,
            "currency": currency,
            "note": part.note,
        }
        for grid in grids.base:
            entries.append(
                {
                    **common,
                    "entry_number": len(entries) + 1,
                    "grid": grid,
                    "amount_type": "base",
                    "is_self_assessed": False,
                    "amount": base_eur,
                    "amount_in_currency": base,
                }
            )
        for grid in vat_grids:
            entries.append(
                {
                    **common,
                    "entry_number": len(entries) + 1,
                    "grid": grid,
                    "amount_type": "vat",
                    "is_self_assessed": grids.self_assessed,
                    "amount": vat_eur,
                    "amount_in_currency": None if grids.self_assessed else vat_amount,
                }
            )
    # A forced VATEX code to review: once per line, or per group where no line says it (in the return if its order is).
    reviewed = [("line", line) for line in lines if line.review] or [("vat_group", g) for g in groups if g.review]
    for source, item in reviewed:
        part = Part(source, item.number, item.vat, item.base or Decimal(0), item.vat_amount or Decimal(0))
        exception(part, item.review or "", reported=bool(entries))
    if currency != "EUR" and entries:
        # The rate's direction is only inferred (docs/bi.md#currencies): read the other way, every figure is wrong.
        read_as = (
            f"amounts in {currency} converted to EUR by dividing by FXRateToForeign {fx_rate}, read as {currency} "
            "per EUR (Billit does not document its direction): check the EUR figures against the invoice"
        )
        exception(_order_part(invoice, read_as), read_as, reported=True)
    if (disagreement := _header_vat_disagrees(invoice, parts, lines)) is not None:
        # In the return where its parts are: a draft's, say, are not.
        exception(_order_part(invoice, disagreement), disagreement, reported=bool(entries))
    return entries, exceptions
