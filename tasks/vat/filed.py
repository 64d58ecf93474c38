"""A periodic VAT return as it was filed, read back from its Intervat XML (the draft `vat-return --xml` writes, or
one made elsewhere in the same schema), to set beside what the warehouse says now.

Orders change after their period is filed: a purchase invoice reaches Billit late, an invoice is corrected, or one
is deleted. A filed return is not filed again; the difference goes into the current period's return
(docs/bi.md#vat-return). Without the filed figures nothing tells that a period moved: its return, asked again,
simply gives the new ones. `grid_changes` gives each grid whose amount is not the filed one, and by how much.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tasks.vat.filing import VatPeriod
from tasks.vat.intervat import COMMON_NS, VAT_NS

__all__ = ["FiledReturn", "GridChange", "grid_changes", "read_filed_return"]


@dataclass(frozen=True)
class FiledReturn:
    period: VatPeriod
    vat_number: str | None  # the declarant's ten digits, as the XML holds them
    grids: dict[str, Decimal]  # "54" -> amount


@dataclass(frozen=True)
class GridChange:
    grid: str
    filed: Decimal
    now: Decimal

    @property
    def difference(self) -> Decimal:
        return self.now - self.filed


def read_filed_return(document: bytes) -> FiledReturn:
    """The period, declarant and grids of an Intervat VAT return; ValueError with a one-line reason otherwise."""
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise ValueError(f"not an XML document ({exc})") from None
    declarations = root.findall(f"{{{VAT_NS}}}VATDeclaration")
    if root.tag != f"{{{VAT_NS}}}VATConsignment" or len(declarations) != 1:
        raise ValueError("not an Intervat VAT return: one VATDeclaration in a VATConsignment is expected")
    declaration = declarations[0]
    return FiledReturn(
        _period(declaration), _text(declaration, f"{{{VAT_NS}}}Declarant/{{{COMMON_NS}}}VATNumber"), _grids(declaration)
    )


def grid_changes(filed: dict[str, Decimal], now: dict[str, Decimal]) -> list[GridChange]:
    """Each grid, in either return, whose amount now is not the filed one (a grid left out is 0.00)."""
    zero = Decimal("0.00")
    grids = sorted(set(filed) | set(now), key=int)
    changes = [GridChange(grid, filed.get(grid, zero), now.get(grid, zero)) for grid in grids]
    return [change for change in changes if change.difference]


def _text(parent: ET.Element, path: str) -> str | None:
    found = parent.find(path)
    return found.text.strip() if found is not None and found.text and found.text.strip() else None


def _period(declaration: ET.Element) -> VatPeriod:
    year, month, quarter = (
        _text(declaration, f"{{{VAT_NS}}}Period/{{{VAT_NS}}}{name}") for name in ("Year", "Month", "Quarter")
    )
    try:
        return VatPeriod(
            int(year or ""), month=int(month) if month else None, quarter=int(quarter) if quarter else None
        )
    except ValueError:
        raise ValueError(f"its Period is not a month or a quarter of a year ({year}, {month or quarter})") from None


def _grids(declaration: ET.Element) -> dict[str, Decimal]:
    grids: dict[str, Decimal] = {}
    for amount in declaration.iterfind(f"{{{VAT_NS}}}Data/{{{VAT_NS}}}Amount"):
        number, text = amount.get("GridNumber", ""), (amount.text or "").strip()
        try:
            grid, value = f"{int(number):02d}", Decimal(text)
        except (ValueError, InvalidOperation):
            raise ValueError(f"grid {number or '?'} holds {text!r}, not an amount") from None
        if grid in grids or not value.is_finite():
            raise ValueError(f"grid {grid} is written twice or is not a number")
        grids[grid] = value
    return grids
