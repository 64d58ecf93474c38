"""A Billit order's parties -> `parties` and `party_identifiers` rows (pure; no I/O).

Which party is the counterparty (the Customer of a sale, the Supplier of a purchase), its one canonical Peppol
id, and the rows of a party and its identifiers. Of one party seen twice, the newest version (by LastModified)
is kept. An invalid identifier is kept with `is_valid = false` and the reason, never dropped
(docs/warehouse.md#quarantine).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasks.normalise.fields import BIGINT, Fields, UnloadableOrder, json_type
from tasks.normalise.identifiers import PartyIdentifier, normalise_party_identifiers

Row = dict[str, Any]

# Preference for the counterparty's one canonical Peppol id: Billit routes a CBE (0208) before the VAT number.
_SCHEME_PREFERENCE = ("0208", "9925")


def counterparty_of(order: Mapping[str, Any], direction: str) -> Mapping[str, Any] | None:
    """The other party of an order: the Customer of a sale, the Supplier of a purchase, else CounterParty."""
    # For sales the other party is the Customer, for purchases the Supplier (docs/reference/billit-api.md); the list
    # summary only carries CounterParty, so fall back to it.
    for name in ("Customer" if direction == "Income" else "Supplier", "CounterParty"):
        party = order.get(name)
        if isinstance(party, Mapping):
            return party
        if party is not None:
            raise UnloadableOrder(f"{name} is a JSON {json_type(party)}, not an object")
    return None


def party_identifiers(party: Mapping[str, Any] | None) -> list[PartyIdentifier]:
    return normalise_party_identifiers(party) if isinstance(party, Mapping) else []


def preferred_identifier(identifiers: list[PartyIdentifier]) -> PartyIdentifier | None:
    """The party's canonical Peppol id among its valid identifiers: a CBE number first, then the VAT number."""
    valid = [identifier for identifier in identifiers if identifier.is_valid and identifier.peppol_id]
    for scheme in _SCHEME_PREFERENCE:
        for identifier in valid:
            if identifier.scheme == scheme:
                return identifier
    return valid[0] if valid else None


def add_party(
    parties: dict[int, Row],
    identifiers_by_party: dict[int, list[Row]],
    party: Fields,
    run_id: str,
    identifiers: list[PartyIdentifier] | None = None,
) -> None:
    """Add one party's row and its identifier rows, unless a newer version of the party is already there."""
    party_id = party.integer("PartyID", BIGINT)
    if party_id is None:
        return
    identifiers = identifiers if identifiers is not None else normalise_party_identifiers(party.source)
    preferred = preferred_identifier(identifiers)
    row = {
        "party_id": party_id,
        "party_type": party.text("PartyType"),
        "name": party.text("Name"),
        "display_name": party.text("DisplayName"),
        "vat_number_raw": party.text("VATNumber"),
        "vat_liable": party.flag("VATLiable"),
        "enterprise_number": next((i.enterprise_number for i in identifiers if i.enterprise_number), None),
        "peppol_id": preferred.peppol_id if preferred else None,
        "country_code": party.text("CountryCode"),
        "street": party.text("Street"),
        "street_number": party.text("StreetNumber"),
        "box": party.text("Box"),
        "zipcode": party.text("Zipcode"),
        "city": party.text("City"),
        "email": party.text("Email"),
        "language": party.text("Language"),
        "last_modified": party.timestamp("LastModified"),
        "last_run_id": run_id,
    }
    rows: dict[tuple[str, str], Row] = {}
    for identifier in identifiers:
        rows[(identifier.source, identifier.raw)] = {
            "party_id": party_id,
            "source": identifier.source,
            "raw": identifier.raw,
            "scheme": identifier.scheme,
            "value": identifier.value,
            "peppol_id": identifier.peppol_id,
            "is_valid": identifier.is_valid,
            "reason": identifier.reason,
        }
    keep_newest_party(parties, identifiers_by_party, row, list(rows.values()))


def keep_newest_party(
    parties: dict[int, Row], identifiers_by_party: dict[int, list[Row]], row: Row, identifiers: list[Row]
) -> None:
    """Keep `row` (and its identifier rows) unless the party already held is newer."""
    known = parties.get(row["party_id"])
    last_modified = row["last_modified"]
    if known is not None and (last_modified is None or (known["last_modified"] or last_modified) > last_modified):
        return
    parties[row["party_id"]] = row
    identifiers_by_party[row["party_id"]] = identifiers
