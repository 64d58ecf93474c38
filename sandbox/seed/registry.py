"""The Peppol participant registry of the seeded parties (docs/reference/billit-api.md,
docs/reference/billit-api.md#peppol-lookup).

Derived from the party data only, so the registry agrees with the orders: a party's participant ids are the
ones :func:`~sandbox.peppol.party_peppol_ids` gives (the same the sandbox routes deliveries
on), each checked with its check digits. Most parties are registered for invoices, some only for IMR/MLR
responses and some not at all; an id with a wrong check digit is never registered.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection
from typing import Any

from sandbox.checkdigits import be_valid, gs1_check, luhn_check
from sandbox.peppol import party_peppol_ids, unknown_participant
from sandbox.seed.companies import OWN_BY_ID
from sandbox.seed.state import Order

__all__ = ["participant_registry", "peppol_ids", "peppol_status"]

PEPPOL_DOCUMENT_TYPES = ["BISv3Invoice", "IMR", "MLR", "BISv3CreditNote"]
SERVICE_DETAILS: list[dict[str, Any]] = [
    {
        "DocumentIdentifier": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931"
        ":2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1",
        "DocumentIdentifierScheme": "busdox-docid-qns",
        "Processes": [
            {
                "ProcessIdentifier": "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
                "ProcessIdentifierScheme": "cenbii-procid-ubl",
            }
        ],
    },
    {
        "DocumentIdentifier": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote##urn:cen.eu:"
        "en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1",
        "DocumentIdentifierScheme": "busdox-docid-qns",
        "Processes": [
            {
                "ProcessIdentifier": "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0",
                "ProcessIdentifierScheme": "cenbii-procid-ubl",
            }
        ],
    },
]
IMR_SERVICE_DETAILS: list[dict[str, Any]] = [
    {
        "DocumentIdentifier": "urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2::Application"
        "Response##urn:fdc:peppol.eu:poacc:trns:invoice_response:3::2.1",
        "DocumentIdentifierScheme": "busdox-docid-qns",
        "Processes": [
            {
                "ProcessIdentifier": "urn:fdc:peppol.eu:poacc:bis:invoice_response:3",
                "ProcessIdentifierScheme": "cenbii-procid-ubl",
            }
        ],
    }
]


def _id_valid(participant_id: str) -> bool:
    scheme, value = participant_id.split(":", 1)
    if scheme == "0208":
        return be_valid(value)
    if scheme == "9925":
        return be_valid(value[2:])
    if scheme == "0088":
        return len(value) == 13 and gs1_check(value[:12]) == value[12]
    if scheme == "0009":
        return len(value) == 14 and luhn_check(value[:13]) == value[13]
    return True


def peppol_ids(party: dict[str, Any]) -> list[tuple[str, bool]]:
    """The participant ids a party can be reached on, in routing preference, each with "is the number valid"."""
    return [(pid, _id_valid(pid)) for pid in party_peppol_ids(party)]


def peppol_status(party: dict[str, Any], ids: list[tuple[str, bool]]) -> str:
    """ "invoice" (can receive invoices), "imr_only" (registered for responses only) or "none"."""
    if not ids or party.get("CountryCode") in ("US", "CH"):
        return "none"
    if party.get("CountryCode") == "BE" and not ids[0][1]:
        return "none"  # a wrong enterprise number is not registered anywhere
    identity = party.get("PartyID", party.get("VATNumber", party.get("Name", "")))
    bucket = zlib.crc32(f"peppol:{identity}".encode()) % 100
    if bucket < 13:
        return "none"
    if bucket < 16:
        return "imr_only"
    return "invoice"


def participant_registry(orders: list[Order], own_ids: Collection[int] = OWN_BY_ID) -> dict[str, dict[str, Any]]:
    """Peppol participant lookups for every party in ``orders``: ``"scheme:value"`` -> response body
    (docs/reference/billit-api.md#peppol-lookup).

    Keys are canonical (upper-case VAT numbers, digits only for 0208/0088/0106/0009); most customers are
    registered for invoices, some only for IMR/MLR (``Registered`` true but no invoice document types) and
    some not at all (``{"Registered": false, ...}``). The own companies (the PartyIDs ``own_ids``, the declared
    ones by default) are registered.
    """
    parties: dict[Any, dict[str, Any]] = {}
    for order in orders:
        for role in ("Customer", "Supplier"):
            party = order.get(role)
            if party is not None:
                parties.setdefault(party.get("PartyID", id(party)), party)
    registry: dict[str, dict[str, Any]] = {}
    for party_id, party in parties.items():
        ids = peppol_ids(party)
        status = "invoice" if party_id in own_ids else peppol_status(party, ids)
        for pid, ok in ids:
            registry[pid] = _entry(pid, "none" if not ok else status, party.get("CountryCode", ""))
    return registry


def _entry(pid: str, status: str, country: str) -> dict[str, Any]:
    if status == "none":
        return unknown_participant(pid)
    if status == "imr_only":
        doc_types, details = ["IMR", "MLR"], IMR_SERVICE_DETAILS
    else:
        doc_types = list(PEPPOL_DOCUMENT_TYPES)
        if country == "NL":
            doc_types += ["SIInvoice", "SICreditNote"]
        details = SERVICE_DETAILS
    return {
        "Registered": True,
        "Identifier": pid,
        "DocumentTypes": doc_types,
        "ServiceDetails": [{**detail, "Processes": [dict(p) for p in detail["Processes"]]} for detail in details],
        "ServiceProviderID": f"P{country or 'BE'}{zlib.crc32(pid.encode()) % 1000:06d}",
    }
