"""A Billit order's parties -> `parties` and `party_identifiers` rows (pure; no I/O).

Which party is the counterparty (the Customer of a sale, the Supplier of a purchase), its one canonical Peppol
id, and the rows of a party and its identifiers. Of one party seen twice, the newest version (by LastModified)
is kept. An invalid identifier is kept with `is_valid = false` and the reason, never dropped
(docs/warehouse.md#quarantine).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tasks.normalise.fields import BIGINT, Fields, UnloadableOrder, json_type
from tasks.normalise.identifiers import PartyIdentifier, normalise_party_identifiers

Row = dict[str, Any]

KEPT_CHARACTERS = 200  # of an identifier's raw text or type, in the warehouse (see stored_text)
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
    """A party's identifiers as the warehouse keeps them: one per stored (type, raw text), the first valid one
    winning (the same text twice under one type, with two SchemeIDs), and those naming another enterprise noted."""
    if not isinstance(party, Mapping):
        return []
    by_key: dict[tuple[str, str], PartyIdentifier] = {}
    for identifier in normalise_party_identifiers(party):
        key = (stored_text(identifier.source), stored_text(identifier.raw))
        if key not in by_key or (identifier.is_valid and not by_key[key].is_valid):  # a valid one wins
            by_key[key] = identifier
    return flag_other_enterprises(list(by_key.values()))


def stored_text(text: str) -> str:
    """An identifier's raw text or type as the warehouse keys it: as given up to `KEPT_CHARACTERS`, beyond that
    its start, its length and a digest (PostgreSQL indexes at most ~2,700 bytes of a key, and the raw text is
    part of `party_identifiers`' key; docs/warehouse.md#party_identifiers)."""
    if len(text) <= KEPT_CHARACTERS:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{text[: KEPT_CHARACTERS - 60]}… ({len(text)} characters, sha256 {digest})"


def flag_other_enterprises(identifiers: list[PartyIdentifier]) -> list[PartyIdentifier]:
    """A valid identifier naming another Belgian enterprise than the party's preferred id keeps its validity (the
    members of a VAT unit each keep their own enterprise number beside the unit's VAT number) but says so in its
    reason; `parties.enterprise_number` follows the preferred id, as `parties.peppol_id` does."""
    preferred = preferred_identifier(identifiers)
    if preferred is None or preferred.enterprise_number is None:
        return identifiers
    own = preferred.enterprise_number
    return [
        replace(
            identifier,
            reason=f"conflict: names enterprise number {identifier.enterprise_number}, the party's {preferred.source} "
            f"names {own} (a VAT unit and its member, or a mistake: check)",
        )
        if identifier.enterprise_number not in (None, own)
        else identifier
        for identifier in identifiers
    ]


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
    identifiers = identifiers if identifiers is not None else party_identifiers(party.source)
    preferred = preferred_identifier(identifiers)
    row = {
        "party_id": party_id,
        "party_type": party.text("PartyType"),
        "name": party.text("Name"),
        "display_name": party.text("DisplayName"),
        "vat_number_raw": party.text("VATNumber"),
        "vat_liable": party.flag("VATLiable"),
        # The preferred id's, so that it names the company peppol_id does (a valid Belgian id is always preferred).
        "enterprise_number": preferred.enterprise_number if preferred else None,
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
    rows = [
        {
            "party_id": party_id,
            "source": stored_text(identifier.source),
            "raw": stored_text(identifier.raw),
            "scheme": identifier.scheme,
            "value": identifier.value,
            "peppol_id": identifier.peppol_id,
            "is_valid": identifier.is_valid,
            "reason": identifier.reason,
        }
        for identifier in identifiers
    ]
    keep_newest_party(parties, identifiers_by_party, row, rows)


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
