"""The parts of one order that the VAT return reports: its VAT groups, else its lines added up per treatment and
rate, each with its base and VAT in the document's currency. `vat_return_rows` (tasks/normalise/vat_return.py,
whose docstring has the rules; docs/bi.md#vat-return) turns each part into grid entries or exceptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tasks.normalise.vat import VatClassification

CENT = Decimal("0.01")


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
class Part:
    source: str  # "vat_group", "line" or "order"
    number: int
    vat: VatClassification
    base: Decimal
    vat_amount: Decimal
    note: str | None = None
    check: str | None = None  # why its amounts need a look (a VAT group whose VAT is not its rate of its base)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _rate_key(item: Priced) -> Decimal | None:
    return item.vat.rate if item.vat.is_known else None


def _by_treatment(lines: Sequence[Priced]) -> dict[tuple[Any, ...], list[Priced]]:
    """Lines grouped by treatment and rate, in first-seen order."""
    grouped: dict[tuple[Any, ...], list[Priced]] = {}
    for line in lines:
        key = (line.vat.treatment, line.vat.rate, line.vat.is_known, line.vat.treatment_source)
        grouped.setdefault(key, []).append(line)
    return grouped


def _added_up(source_note: str, lines: Sequence[Priced]) -> list[Part]:
    """Lines of an order without a VAT group for their rate, per treatment and rate. The VAT is computed as Billit
    does for a group (the rate once on the summed nets, rounded), not added up from the lines' rounded VATs."""
    parts = []
    for members in _by_treatment(lines).values():
        vat = members[0].vat
        base = sum((line.base or Decimal(0) for line in members), Decimal(0))
        tax = (
            cents(base * vat.rate / 100)
            if vat.is_known
            else sum((line.vat_amount or Decimal(0) for line in members), Decimal(0))
        )
        parts.append(Part("line", members[0].number, vat, base, tax, source_note))
    return parts


def _shared_out(group: Priced, members: Sequence[Priced]) -> list[Part]:
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
        part_base = base_left if last else (cents(base * net / total) if total else Decimal(0))
        part_vat = vat_left if last else (cents(vat * net / total) if total else Decimal(0))
        base_left, vat_left = base_left - part_base, vat_left - part_vat
        parts.append(Part("line", lines[0].number, lines[0].vat, part_base, part_vat, note))
    return parts


def _vat_not_its_rate(group: Priced, lines: int, name: str = "") -> str | None:
    """Why a VAT group's VAT needs a look, or None: Billit computes it as the rate of the group's base, rounded
    once; a sender that rounds per line may be a cent off per line, never more."""
    if not group.vat.is_known or group.base is None or group.vat_amount is None:
        return None
    expected = cents(group.base * group.vat.rate / 100)
    if abs(group.vat_amount - expected) <= CENT * max(1, lines):
        return None
    name = name or f"VAT group {group.number}"
    return f"{name}: its VAT {group.vat_amount} is not {group.vat.rate} % of its base {group.base}"


def _at_stated_vat(lines: Sequence[Priced], stated_vat: Decimal | None) -> list[Part]:
    """An order without VAT groups whose lines all have one treatment at one known rate above 0 %: its VAT is the
    order's own `TotalVAT`, as the invoice states it and so as it is due (a sender that rounds per line states
    3 x 1.05 = 3.15 where the rate once on the summed nets gives 3.14). More than a cent per line off that rate is
    to review. [] when the order does not qualify: its lines are added up as Billit would (`_added_up`)."""
    treatments = list(_by_treatment(lines).values())
    if stated_vat is None or len(treatments) != 1 or _rate_key(lines[0]) is None or lines[0].vat.rate <= 0:
        return []
    net = sum((line.base or Decimal(0) for line in lines), Decimal(0))
    order = Priced(0, lines[0].vat, net, stated_vat)
    note = "the order has no VAT groups and one rate: its lines' nets are used, with the order's TotalVAT"
    check = _vat_not_its_rate(order, len(lines), "the order's TotalVAT (no VAT groups)")
    return [Part("line", lines[0].number, lines[0].vat, net, stated_vat, note, check)]


def order_parts(lines: Sequence[Priced], groups: Sequence[Priced], stated_vat: Decimal | None = None) -> list[Part]:
    """The order's parts: its VAT groups, and lines at a rate no group has; without groups, its lines (`stated_vat`
    is the order's `TotalVAT`, used for the VAT of a single rate)."""
    if not groups:
        return _at_stated_vat(lines, stated_vat) or _added_up("the order has no VAT groups: its lines are used", lines)
    parts: list[Part] = []
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
        parts.append(Part("vat_group", group.number, vat, base, tax, check=_vat_not_its_rate(group, len(members))))
    grouped_rates = {_rate_key(group) for group in groups}
    rest = [line for line in lines if _rate_key(line) not in grouped_rates]
    return parts + _added_up("no VAT group has the line's rate: the line is used", rest)
