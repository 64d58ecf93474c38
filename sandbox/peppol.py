"""Peppol participant ids for the sandbox: which ``scheme:value`` ids a party is reachable on, and lookups.

Billit maps a party's VAT number and identifiers to Peppol EAS schemes (docs/reference/billit-api.md#party-identifiers):
a Belgian VAT number gives ``9925:BE0…`` and its enterprise number ``0208:0…``, a ``CBE`` identifier ``0208``, a ``GLN``
``0088`` and so on. ``GET /v1/peppol/participantInformation/{id}`` infers the scheme from the id's shape
(docs/reference/billit-api.md#peppol-lookup): ``BE0…`` → 9925, a bare 10-digit number → 0208, ``scheme:value`` as given.

Ids are canonical the way ``seed.participant_registry`` keys them: VAT numbers upper-case without
separators, digits only for numeric schemes.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "ID_SCHEMES",
    "VAT_SCHEMES",
    "canonical_participant_id",
    "party_peppol_ids",
    "supports_document",
    "unknown_participant",
]

# VAT number country prefix → Peppol scheme (docs/reference/billit-api.md#party-identifiers, "VAT" row). Greece's VAT
# prefix is EL.
VAT_SCHEMES: dict[str, str] = {
    "AD": "9922", "AL": "9923", "AT": "9914", "BA": "9924", "BE": "9925", "BG": "9926", "CH": "9927",
    "CY": "9928", "CZ": "9929", "DE": "9930", "EE": "9931", "EL": "9933", "ES": "9920", "FI": "0213",
    "FR": "9957", "GB": "9932", "GR": "9933", "HR": "9934", "HU": "9910", "IE": "9935", "IT": "9906",
    "JP": "0221", "LI": "9936", "LT": "9937", "LU": "9938", "LV": "9939", "MC": "9940", "ME": "9941",
    "MK": "9942", "MT": "9943", "NL": "9944", "NO": "0192", "PL": "9945", "PT": "9946", "RO": "9947",
    "RS": "9948", "SE": "9955", "SG": "0195", "SI": "9949", "SK": "9950", "SM": "9951", "TR": "9952",
}  # fmt: skip
# IdentifierType → Peppol scheme (docs/reference/billit-api.md#party-identifiers).
ID_SCHEMES: dict[str, str] = {
    "CBE": "0208", "GLN": "0088", "KVK": "0106", "OIN": "0190", "SIRET": "0009", "SIRENE": "0002",
    "DUNS": "0060", "LEI": "0199", "EIN": "9959", "LEITWEGID": "0204", "ERST": "0198", "DIGST": "0184",
    "CVR": "9902", "NOVT": "0216", "FRCTC": "0225", "OIB": "9934", "SST": "0188", "LEC": "0200",
    "RPM": "9938", "EIF": "0230", "ORG": "0192", "ABN": "0151", "ORGNR": "0007", "NAL": "0130",
}  # fmt: skip
_NUMERIC_SCHEMES = frozenset({"0208", "0088", "0106", "0009", "0002", "0060", "0190", "0007", "0192"})

_INVOICE_TYPES = frozenset({"BISv3Invoice", "SIInvoice", "UBLBEInvoice", "XRechnung3Invoice", "PintInvoiceWildCard"})
_CREDIT_NOTE_TYPES = frozenset(
    {"BISv3CreditNote", "SICreditNote", "UBLBECreditNote", "XRechnung3CreditNote", "PintCreditNoteWildCard"}
)


def _alnum_upper(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value).upper()


def _canonical_value(scheme: str, value: str) -> str:
    if scheme in _NUMERIC_SCHEMES:
        return re.sub(r"[^0-9]", "", value)
    return _alnum_upper(value)


def party_peppol_ids(party: dict[str, Any]) -> list[str]:
    """The participant ids a party may be reachable on, in Billit's routing preference.

    A ``CBE`` identifier gets preference over the VAT number when both are registered
    (docs/reference/billit-api.md#party-identifiers), so the enterprise number (``0208``) comes first, then the VAT
    number, then other identifiers (GLN, KVK, ...).
    """
    ids: list[str] = []
    vat = _alnum_upper(party.get("VATNumber") or "")
    country = (party.get("CountryCode") or vat[:2]).upper()
    if vat:
        if country == "BE" or vat.startswith("BE"):
            digits = vat[2:] if vat.startswith("BE") else vat
            if digits.isdigit():
                enterprise = digits.zfill(10)
                ids += [f"0208:{enterprise}", f"9925:BE{enterprise}"]
        else:
            prefix = vat[:2] if vat[:2].isalpha() else country
            scheme = VAT_SCHEMES.get(prefix)
            if scheme is not None:
                ids.append(f"{scheme}:{vat if vat[:2].isalpha() else prefix + vat}")
    for entry in party.get("Identifiers") or []:
        scheme = entry.get("SchemeID") or ID_SCHEMES.get(str(entry.get("IdentifierType", "")).upper())
        value = entry.get("Identifier")
        if scheme and value:
            ids.append(f"{scheme}:{_canonical_value(scheme, str(value))}")
    peppol_identifier = party.get("PeppolIdentifier")
    if peppol_identifier and ":" in peppol_identifier:
        ids.append(canonical_participant_id(peppol_identifier))
    # CBE first (routing preference), then the rest in the order found, without duplicates.
    ordered = sorted(dict.fromkeys(ids), key=lambda pid: 0 if pid.startswith("0208:") else 1)
    return ordered


def canonical_participant_id(raw: str) -> str:
    """Infer ``scheme:value`` from a lookup id (docs/reference/billit-api.md#peppol-lookup): VAT → country scheme, 10
    digits → 0208."""
    text = raw.strip()
    if ":" in text:
        scheme, value = text.split(":", 1)
        scheme = scheme.strip()
        if scheme.lower().startswith("iso6523-actorid-upis::"):
            scheme = scheme.split("::", 1)[1]
        return f"{scheme}:{_canonical_value(scheme, value)}"
    compact = _alnum_upper(text)
    if compact.isdigit():
        # A bare Belgian company number (the pre-2005 9-digit form gets its leading zero back).
        return f"0208:{compact.zfill(10)}" if len(compact) <= 10 else f"0208:{compact}"
    prefix = compact[:2]
    vat_scheme = VAT_SCHEMES.get(prefix)
    if vat_scheme is None:
        return f"9925:{compact}"
    if prefix == "BE":
        digits = compact[2:]
        if digits.isdigit():
            return f"9925:BE{digits.zfill(10)}"
    return f"{vat_scheme}:{compact}"


def unknown_participant(identifier: str) -> dict[str, Any]:
    """The lookup answer for an id that is not on Peppol (docs/reference/billit-api.md#peppol-lookup)."""
    return {"Registered": False, "Identifier": identifier, "DocumentTypes": [], "ServiceDetails": []}


def supports_document(info: dict[str, Any] | None, order_type: str) -> bool:
    """Whether a registry entry can receive ``order_type`` (``Registered`` alone is not enough,
    docs/reference/billit-api.md#peppol-lookup)."""
    if not info or not info.get("Registered"):
        return False
    wanted = _CREDIT_NOTE_TYPES if order_type == "CreditNote" else _INVOICE_TYPES
    return any(doc_type in wanted for doc_type in info.get("DocumentTypes", []))
