"""A VATEX code forced through `CustomFields` (`TaxExemptionReasonCode`) on a line or an order (pure; no I/O).

Billit writes the exemption *text* of a ventilation code, never a VATEX code; a code can be forced through the
custom field `TaxExemptionReasonCode` of the line, else of the order (docs/reference/vat.md#ventilation-codes).
A valid code is the line's VATEX code, and its category the one the code list pins it to
(docs/reference/vat.md#vatex). The grids keep following the ventilation code and the rate: where the code's
category is not the one they give, the line is to review (the VAT return lists it), never moved on a guess. An
unknown code, or one on a line with VAT (S takes none, BR-S-10), is not recorded and is to review too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from tasks.normalise.vat import VatClassification

FIELD = "TaxExemptionReasonCode"

# The VATEX code list (Peppol BIS Billing 3.0, v3.0.19) as data: code -> the UNCL5305 category its rules pin it to.
_CATEGORY_OF = {"VATEX-EU-AE": "AE", "VATEX-EU-IC": "K", "VATEX-EU-G": "G", "VATEX-EU-O": "O"}
# Every other code is an exemption (E): the margin schemes, art. 79 (c), the articles of Directive 2006/112/EC
# by section, and the French national ones (a family Peppol grows; docs/reference/vat.md#vatex).
_EXEMPT_CODE = re.compile(
    r"VATEX-EU-(?:[DFIJ]|79-C|132(?:-1[A-Q])?|143(?:-1(?:[A-EG-L]|FA?))?|144|146-1E|148(?:-[A-G])?"
    r"|151(?:-1(?:AA?|[B-E]))?|153|159|309)|VATEX-FR-[A-Z0-9]+(?:-[A-Z0-9]+)*"
)


def vatex_category(code: str) -> str | None:
    """The category the code list pins a VATEX code to, or None for a code not on the list."""
    if code in _CATEGORY_OF:
        return _CATEGORY_OF[code]
    return "E" if _EXEMPT_CODE.fullmatch(code) else None


def _custom_field(source: Mapping[str, Any]) -> str | None:
    """`TaxExemptionReasonCode` of a line's or order's CustomFields (an object, or a list of {Key, Value})."""
    custom = source.get("CustomFields")
    pairs: list[tuple[Any, Any]] = []
    if isinstance(custom, Mapping):
        pairs = list(custom.items())
    elif isinstance(custom, list):
        pairs = [(item.get("Key"), item.get("Value")) for item in custom if isinstance(item, Mapping)]
    for key, value in pairs:
        if str(key).strip().lower() == FIELD.lower() and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def forced_vatex(
    vat: VatClassification, item: Mapping[str, Any], order: Mapping[str, Any]
) -> tuple[VatClassification, str | None]:
    """(`vat` with the forced VATEX code and its category, why the line is to review or None). The line's own
    code wins over the order's, which applies to 0 % lines only (as the header's ventilation code does)."""
    own = _custom_field(item)
    code = own or _custom_field(order)
    if code is None or not vat.is_known or (own is None and vat.rate > 0):
        return vat, None
    category = vatex_category(code.upper())
    where = "the line's" if own else "the order's"
    if category is None:
        return vat, f"{where} {FIELD} {code} is not a VATEX code: not recorded; check"
    if vat.rate > 0:
        return vat, f"{where} {FIELD} {code} on a line with {vat.rate} % VAT (S takes no VATEX): not recorded; check"
    forced = dataclasses.replace(vat, category=category, vatex_code=code.upper())
    if category == vat.category:
        return forced, None
    return forced, (
        f"{where} {FIELD} {code} makes the line {category}, its ventilation code {vat.category}: the grids follow "
        f"the code ({', '.join(vat.base_grids) or 'none'}); check"
    )
