"""One order's part in the Belgian periodic VAT return: rows of `vat_return_entries` and `vat_return_exceptions`.

The rules (docs/bi.md#vat-return):

* **VAT groups first.** Billit rounds VAT once per VAT group, not per line (docs/reference/billit-api.md
  #vat), so a grid's base is the group's taxable base (`Mtvh`, which a cash discount makes smaller than
  its net) and its VAT the group's `TotalVAT`: the VAT the invoice shows.
* **Lines where a group cannot say which grid**: when the lines a group adds up have more than one treatment
  (two 0 % codes under one rate, or an inferred treatment on some lines only), the group's base and VAT are
  shared out over the treatments in proportion to the lines' nets (so its rounding and cash discount stay). Lines
  at a rate no group has, and all lines of an order without groups, are added up per treatment and rate, with the
  VAT computed as Billit does for a group. An order with totals but neither lines nor groups is an exception.
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
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tasks.normalise.identifiers import normalise_vat_number
from tasks.normalise.vat import VatClassification, counterparty_region, grids_for
from tasks.normalise.vat_codes import SELF_ASSESSED_RATE

Row = dict[str, Any]

_CENT = Decimal("0.01")
_DOCUMENTS = {"invoice": "Invoice", "creditnote": "CreditNote"}
_OTHER_DOCUMENT = {"Invoice": "CreditNote", "CreditNote": "Invoice"}
# The VAT of a negative correction on an invoice (no credit note): the regularisation grids, not the credit notes'.
_CORRECTION_VAT_GRID = {"64": "62", "63": "61"}
# Order fields that say only part of a purchase's VAT is deductible (Swagger only: not applied, flagged).
DEDUCTION_LIMITS = ("VatDeduction", "MixedUseProfessionalPercentage")
# Treatments whose other party needs a VAT number of another member state (sales 44/46 and the IC listing;
# purchases 86/88).
IC_TREATMENTS = ("ic_goods", "ic_services", "reverse_charge_eu")


@dataclass(frozen=True)
class Priced:
    """A line or a VAT group: its number, classification and amounts (document currency)."""

    number: int
    vat: VatClassification
    base: Decimal | None
    vat_amount: Decimal | None
    # What decides which group a 0 % line belongs to: its ventilation code (line, else header).
    code: str | None = None
    # Why its classification needs a look (a forced VATEX code, tasks/normalise/vatex.py), or None.
    review: str | None = None


@dataclass(frozen=True)
class _Part:
    source: str  # "vat_group", "line" or "order"
    number: int
    vat: VatClassification
    base: Decimal
    vat_amount: Decimal
    note: str | None = None
    check: str | None = None  # why its amounts need a look (a VAT group whose VAT is not its rate of its base)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def _rate_key(item: Priced) -> Decimal | None:
    return item.vat.rate if item.vat.is_known else None


def _by_treatment(lines: Sequence[Priced]) -> dict[tuple[Any, ...], list[Priced]]:
    """Lines grouped by treatment and rate, in first-seen order."""
    grouped: dict[tuple[Any, ...], list[Priced]] = {}
    for line in lines:
        key = (line.vat.treatment, line.vat.rate, line.vat.is_known, line.vat.treatment_source)
        grouped.setdefault(key, []).append(line)
    return grouped


def _added_up(source_note: str, lines: Sequence[Priced]) -> list[_Part]:
    """Lines of an order without a VAT group for their rate, per treatment and rate. The VAT is computed as Billit
    does for a group (the rate once on the summed nets, rounded), not added up from the lines' rounded VATs."""
    parts = []
    for members in _by_treatment(lines).values():
        vat = members[0].vat
        base = sum((line.base or Decimal(0) for line in members), Decimal(0))
        tax = (
            _cents(base * vat.rate / 100)
            if vat.is_known
            else sum((line.vat_amount or Decimal(0) for line in members), Decimal(0))
        )
        parts.append(_Part("line", members[0].number, vat, base, tax, source_note))
    return parts


def _shared_out(group: Priced, members: Sequence[Priced]) -> list[_Part]:
    """A VAT group whose lines have several treatments: the group's base and VAT (its rounding, its cash discount)
    shared out over the treatments in proportion to the lines' nets; the last treatment takes the remainder so
    the parts add up to the group exactly."""
    note = f"VAT group {group.number} adds up lines of different treatments: shared out by the lines' nets"
    grouped = list(_by_treatment(members).values())
    nets = [sum((line.base or Decimal(0) for line in lines), Decimal(0)) for lines in grouped]
    total = sum(nets, Decimal(0))
    base, vat = group.base or Decimal(0), group.vat_amount or Decimal(0)
    parts, base_left, vat_left = [], base, vat
    for index, (lines, net) in enumerate(zip(grouped, nets, strict=True)):
        last = index == len(grouped) - 1
        part_base = base_left if last else (_cents(base * net / total) if total else Decimal(0))
        part_vat = vat_left if last else (_cents(vat * net / total) if total else Decimal(0))
        base_left, vat_left = base_left - part_base, vat_left - part_vat
        parts.append(_Part("line", lines[0].number, lines[0].vat, part_base, part_vat, note))
    return parts


def _vat_not_its_rate(group: Priced, lines: int) -> str | None:
    """Why a VAT group's VAT needs a look, or None: Billit computes it as the rate of the group's base, rounded
    once; a sender that rounds per line may be a cent off per line, never more."""
    if not group.vat.is_known or group.base is None or group.vat_amount is None:
        return None
    expected = _cents(group.base * group.vat.rate / 100)
    if abs(group.vat_amount - expected) <= _CENT * max(1, lines):
        return None
    return f"VAT group {group.number}: its VAT {group.vat_amount} is not {group.vat.rate} % of its base {group.base}"


def _parts(lines: Sequence[Priced], groups: Sequence[Priced]) -> list[_Part]:
    if not groups:
        return _added_up("the order has no VAT groups: its lines are used", lines)
    parts: list[_Part] = []
    for group in groups:
        same_rate = [line for line in lines if _rate_key(line) == _rate_key(group)]
        groups_at_rate = [other for other in groups if _rate_key(other) == _rate_key(group)]
        # One group per rate adds up all the rate's lines; several (one per 0 % code) split them by code. Lines
        # whose code no group has are in the groups' amounts all the same: the groups decide, never counted twice.
        members = same_rate if len(groups_at_rate) == 1 else [line for line in same_rate if line.code == group.code]
        if len({(line.vat.treatment, line.vat.is_known) for line in members}) > 1:
            parts += _shared_out(group, members)
            continue
        # The lines say more than the group where they carry their own code or an inferred treatment.
        vat = members[0].vat if members and members[0].vat.is_known else group.vat
        base, tax = group.base if group.base is not None else Decimal(0), group.vat_amount or Decimal(0)
        parts.append(_Part("vat_group", group.number, vat, base, tax, check=_vat_not_its_rate(group, len(members))))
    grouped_rates = {_rate_key(group) for group in groups}
    rest = [line for line in lines if _rate_key(line) not in grouped_rates]
    return parts + _added_up("no VAT group has the line's rate: the line is used", rest)


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
    invoice: Row, country: str | None, limits: Mapping[str, Decimal | None], part: _Part, vat_grids: tuple[str, ...]
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


def _order_part(invoice: Row, reason: str) -> _Part:
    """The order's own totals as a part no grid is known for (an exception's amounts)."""
    unclassified = VatClassification(None, Decimal(0), None, None, (), (), False, reason)
    return _Part(
        "order", 0, unclassified, invoice.get("total_excl") or Decimal(0), invoice.get("total_vat") or Decimal(0)
    )


def _header_vat_disagrees(invoice: Row, parts: Sequence[_Part], lines: Sequence[Priced]) -> str | None:
    """Why the order's own `TotalVAT` needs a look, or None: Billit makes it the sum of the VAT groups', which the
    return reports (docs/reference/billit-api.md#calculations); totals that disagree with them (found from the
    outside: 31.50 on an order whose one group says 21.00) leave reports on `invoices` and the return apart."""
    total_vat = invoice.get("total_vat")
    if total_vat is None or not parts or parts[0].source == "order":
        return None
    reported = sum((part.vat_amount for part in parts), Decimal(0))
    if abs(total_vat - reported) <= _CENT * max(1, len(lines)):
        return None
    of = "VAT groups" if any(part.source == "vat_group" for part in parts) else "lines"
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

    def exception(part: _Part, reason: str, *, reported: bool = False) -> None:
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

    parts = _parts(lines, groups)
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
        in_eur = (lambda amount: amount) if currency == "EUR" else (lambda amount: _cents(amount / fx_rate))
        base_eur = in_eur(base)
        vat_eur = _cents(base_eur * SELF_ASSESSED_RATE / 100) if grids.self_assessed else in_eur(vat_amount)
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
        part = _Part(source, item.number, item.vat, item.base or Decimal(0), item.vat_amount or Decimal(0))
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
