r"""Party identifiers from Billit, normalised to Peppol participant ids (scheme + canonical value).

A Billit party carries its VAT number in `VATNumber` and everything else in
`Identifiers: [{IdentifierType, Identifier, SchemeID?}]` (docs/reference/identifiers.md#billit-identifier-types).
Each one becomes a `PartyIdentifier`: the raw text kept as given, the ISO 6523 / Peppol EAS scheme, the canonical
value, and whether it passed the check we have for that scheme. Nothing here raises on bad data and nothing is
dropped: an identifier that fails keeps its best-effort cleaned value with `is_valid=False` and a human-readable
`reason` (docs/reference/identifiers.md#cleaning).

Pipeline (docs/reference/identifiers.md#cleaning): NFKC and trim; drop `iso6523-actorid-upis::`; drop labels
(`BTW`, `TVA`, `VAT`, `KvK`, `IBAN`, ...); split a leading `dddd:` scheme; map removed Peppol schemes to their
successor; then dispatch on the scheme (or, for VAT numbers, on the country prefix) to a check.

Digits are ASCII 0-9 or the identifier is invalid (docs/reference/identifiers.md#ascii-digits). `str.isdigit()`
and `\d` also accept Arabic-Indic, full-width and every other Unicode digit, so the checks test for `[0-9]`
instead; NFKC would turn full-width digits into ASCII ones, so the NFKC step leaves every digit other than 0-9 as
written. Such an identifier keeps its scheme and those digits in its value, with a reason naming them.

Checks: python-stdnum wherever it has the scheme: be.vat, eu.vat, vatin, the nl/fr/de/dk/no/se/fi/it/au/ch/ee/es/
br/us modules, lei (after our own 20-character format check: stdnum only runs mod 97-10), de.leitweg, iban (9918),
ean for GLN (plus the 13-digit rule: stdnum.ean also accepts 8/12/14-digit GTINs), jp.cn (0188, 0221) and
is_.kennitala (0196). Our own code where stdnum has no module: KVK (8 digits), DUNS (9 digits), OIN (20 digits),
all format-only because those schemes have no usable check digit (docs/reference/identifiers.md#schemes). For
schemes with neither, a value is "valid" when it is non-empty, ASCII and at most 130 characters
(docs/reference/identifiers.md#participant-id-values).

Canonical forms (docs/reference/identifiers.md#schemes): upper case, no separators; BE VAT `BE` + 10 digits;
0208 ten digits; IBAN without spaces; other VAT numbers as `stdnum.eu.vat` returns them, with Greece as `EL`.

Here: `PartyIdentifier`, the dispatch and the public functions. The scheme tables are in
tasks/normalise/identifier_schemes.py, the cleaning in tasks/normalise/identifier_text.py and the checks per scheme
in tasks/normalise/identifier_checks.py.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stdnum import get_cc_module, vatin
from stdnum.eu import vat as eu_vat

from tasks.normalise.identifier_checks import (
    DERIVED_VAT_CHECKS,
    SCHEME_CHECKS,
    Check,
    be_enterprise,
    generic,
    stdnum_check,
    swiss_uid,
)
from tasks.normalise.identifier_schemes import (
    BILLIT_IDENTIFIER_SCHEMES,
    DERIVED_VAT_SCHEMES,
    FORMAT_ONLY_VAT_COUNTRIES,
    KNOWN_SCHEMES,
    LEGACY_SCHEMES,
    MAX_VALUE_LENGTH,
    NON_PEPPOL_CHECKS,
    VAT_BY_COUNTRY,
    VAT_COUNTRY_SCHEMES,
    VAT_SCHEME_COUNTRIES,
)
from tasks.normalise.identifier_text import (
    TRAILING_COUNTRY,
    WHITESPACE,
    compact,
    country_code,
    current_scheme,
    foreign_digits,
    foreign_digits_reason,
    unwrap,
)

__all__ = [
    "BILLIT_IDENTIFIER_SCHEMES",
    "LEGACY_SCHEMES",
    "PartyIdentifier",
    "VAT_BY_COUNTRY",
    "VAT_COUNTRY_SCHEMES",
    "normalise_identifier",
    "normalise_party_identifiers",
    "normalise_vat_number",
]


@dataclass(frozen=True)
class PartyIdentifier:
    """One party identifier as Billit gave it and as Peppol knows it.

    `raw` is exactly what Billit sent; `source` is `VATNumber` or the Billit `IdentifierType`. `scheme` is the
    ISO 6523 ICD / Peppol EAS code (None when it cannot be determined) and `value` the canonical value for that
    scheme (None only for an empty input). `reason` says why an identifier is invalid and is None when valid.
    """

    raw: str
    source: str
    scheme: str | None
    value: str | None
    is_valid: bool
    reason: str | None

    @property
    def peppol_id(self) -> str | None:
        """`scheme:value`, e.g. `9925:BE0123456749`; None when the scheme is unknown or the id is invalid.

        An id that fails its check is not a usable Peppol address, so it gets no peppol_id (raw and value stay).
        """
        if not self.is_valid or self.scheme is None or self.value is None:
            return None
        return f"{self.scheme}:{self.value}"

    @property
    def enterprise_number(self) -> str | None:
        """The 10-digit Belgian enterprise number, the cross-scheme join key for BE parties.

        `0208:X` and `9925:BEX` are the same company (docs/reference/identifiers.md#belgian-enterprise-number);
        legacy 9956 is already mapped to 0208. None for other schemes and for invalid identifiers.
        """
        if not self.is_valid or self.value is None:
            return None
        if self.scheme == "0208":
            return self.value
        if self.scheme == "9925":
            return self.value[2:]
        return None


def _vat_check(text: str, country_hint: str | None, expected_country: str | None) -> tuple[str | None, Check]:
    """A VAT number -> (scheme, check). The scheme follows the country prefix."""
    trailing = TRAILING_COUNTRY.fullmatch(text)
    if trailing:
        text = trailing.group(2) + trailing.group(1)
    number = compact(text)
    country: str | None
    if re.match(r"[A-Z]{2}", number):
        country, body = number[:2], number[2:]
        country = "EL" if country == "GR" else country
    else:
        body = number
        # Repair a missing prefix: the scheme's country, else the party's country, else BE for a 9/10-digit
        # number (the old 9-digit and the current 10-digit Belgian forms,
        # docs/reference/identifiers.md#belgian-enterprise-number).
        country = expected_country or country_code(country_hint)
        if country is None and re.fullmatch(r"[0-9]{9,10}", number):
            country = "BE"
        if country is None:
            return None, Check(number, "format: VAT number has no country prefix and no country hint")
    scheme = VAT_COUNTRY_SCHEMES.get(country)
    if expected_country is not None and country != expected_country:
        expected_scheme = VAT_COUNTRY_SCHEMES[expected_country]
        return expected_scheme, Check(
            country + body, f"scheme: {expected_scheme} is for {expected_country} VAT numbers, got {country}"
        )
    if country == "BE":
        check = be_enterprise(body)
        return scheme, Check(f"BE{check.value}", check.reason)
    if country in DERIVED_VAT_CHECKS:
        return scheme, DERIVED_VAT_CHECKS[country](country + body)
    if country == "CH":
        return scheme, swiss_uid(country + body)
    label = f"{country} VAT number"
    if country.lower() in eu_vat.MEMBER_STATES or country in ("EL", "EU"):
        check = stdnum_check(eu_vat, country + body, label)
        value = check.value or ""
        # eu.vat returns GR... when given GR...; we already rewrote the prefix, this keeps EL if it ever doesn't.
        return scheme, Check("EL" + value[2:] if value.startswith("GR") else value, check.reason)
    if get_cc_module(country.lower(), "vat") is not None:
        return scheme, stdnum_check(vatin, country + body, label)
    if country in FORMAT_ONLY_VAT_COUNTRIES:
        # Digits only: with letters allowed, a label ("VATnr ...", "BANK") read as a VA or BA prefix passed.
        if re.fullmatch(r"[0-9]{2,20}", body):
            return scheme, Check(country + body, None)
        return scheme, Check(country + body, f"format: {label} must be 2-20 digits")
    return scheme, Check(country + body, f"component: unknown VAT country prefix {country}")


def _too_long(text: str) -> Check | None:
    """No scheme's value is longer than a Peppol value may be; past it no check runs (stdnum reads digits as an
    int, which Python refuses past 4,300 digits)."""
    value = compact(text)
    if len(value) <= MAX_VALUE_LENGTH:
        return None
    return Check(value, f"length: a Peppol identifier value is at most {MAX_VALUE_LENGTH} characters, got {len(value)}")


def _scheme_check(scheme: str, text: str, country_hint: str | None) -> tuple[str | None, Check]:
    if (too_long := _too_long(text)) is not None:
        return (None if scheme == VAT_BY_COUNTRY else scheme), too_long
    if scheme == VAT_BY_COUNTRY:
        return _vat_check(text, country_hint, None)
    if scheme in VAT_SCHEME_COUNTRIES:
        return _vat_check(text, country_hint, VAT_SCHEME_COUNTRIES[scheme])
    if scheme in SCHEME_CHECKS:
        return scheme, SCHEME_CHECKS[scheme](text)
    return scheme, generic(text)


def _scheme_problem(scheme: str) -> str | None:
    checked = scheme == VAT_BY_COUNTRY or scheme in VAT_SCHEME_COUNTRIES or scheme in SCHEME_CHECKS
    if checked or scheme in KNOWN_SCHEMES:
        return None
    return f"scheme: {scheme} is not a known Peppol participant identifier scheme"


def _type_key(identifier_type: str | None) -> str:
    return WHITESPACE.sub(" ", unicodedata.normalize("NFKC", identifier_type or "")).strip().upper()


def _join(*reasons: str | None) -> str | None:
    present = [reason for reason in reasons if reason]
    return "; ".join(present) if present else None


# VAT numbers may come with a 0208 / derived-scheme prefix without contradicting their type.
_VAT_COMPATIBLE_SCHEMES = frozenset(VAT_SCHEME_COUNTRIES) | DERIVED_VAT_SCHEMES | {"0208", VAT_BY_COUNTRY}


def _identifier(
    raw_text: str, source: str, text: str, scheme: str | None, check: Check, problems: list[str]
) -> PartyIdentifier:
    # Digits other than 0-9 fail every check with some format reason; the reason that says so replaces it
    # (docs/reference/identifiers.md#ascii-digits). Scheme problems are kept.
    foreign = foreign_digits(text)
    why = _join(*problems, foreign_digits_reason(foreign) if foreign else check.reason)
    return PartyIdentifier(raw_text, source, scheme, check.value, why is None, why)


def _normalise(
    raw: object, source: str, type_key: str, scheme_hint: str | None, country_hint: str | None
) -> PartyIdentifier:
    raw_text = "" if raw is None else str(raw)
    text, prefix_scheme = unwrap(raw_text)
    if not text:
        return PartyIdentifier(raw_text, source, None, None, False, "format: empty identifier")

    hint = (scheme_hint or "").strip()
    hint_scheme = current_scheme(hint) if re.fullmatch(r"[0-9]{4}", hint) else None
    explicit = current_scheme(prefix_scheme) if prefix_scheme else hint_scheme
    conflicts: list[str] = []
    if foreign_digits(hint):
        conflicts.append(f"scheme: SchemeID {hint!r} is not written in ASCII digits")
    if prefix_scheme and hint_scheme and explicit != hint_scheme:
        conflicts.append(f"scheme: value says {prefix_scheme} but SchemeID says {hint}")

    type_scheme = BILLIT_IDENTIFIER_SCHEMES.get(type_key)
    if type_scheme is not None:
        if explicit is not None:
            compatible = (
                explicit in _VAT_COMPATIBLE_SCHEMES if type_scheme == VAT_BY_COUNTRY else explicit == type_scheme
            )
            if not compatible:
                conflicts.append(f"scheme: {explicit} contradicts IdentifierType {source} ({type_scheme})")
        scheme_to_check = explicit or type_scheme
    elif explicit is not None:
        scheme_to_check = explicit
    elif type_key in NON_PEPPOL_CHECKS:
        # Not a Peppol participant id: no scheme; checked with stdnum where a module exists.
        spec = NON_PEPPOL_CHECKS[type_key]
        check = Check(text, None) if spec is None else _too_long(text) or stdnum_check(spec[0], text, spec[1])
        return _identifier(raw_text, source, text, None, check, conflicts)
    else:
        conflicts.append(
            f"scheme: unknown IdentifierType {source!r}" if type_key else "scheme: no IdentifierType or scheme"
        )
        return _identifier(raw_text, source, text, None, generic(text), conflicts)

    problem = _scheme_problem(scheme_to_check)
    scheme, check = _scheme_check(scheme_to_check, text, country_hint)
    return _identifier(raw_text, source, text, scheme, check, [*conflicts, *filter(None, [problem])])


# --- public API -----------------------------------------------------------------------------------------------


def normalise_vat_number(raw: str, *, country_hint: str | None = None) -> PartyIdentifier:
    """Normalise a Billit `VATNumber`.

    Repairs lower case, separators, labels, a Peppol `dddd:` prefix, a missing country prefix (the
    `country_hint`, else BE for a 9- or 10-digit number) and old 9-digit Belgian numbers. The scheme follows the
    country prefix (BE 9925, NL 9944, FR 9957, DE 9930, EL 9933, ...).
    """
    return _normalise(raw, "VATNumber", "VAT", None, country_hint)


def normalise_identifier(
    identifier_type: str | None,
    raw: str | None,
    *,
    scheme_hint: str | None = None,
    country_hint: str | None = None,
) -> PartyIdentifier:
    """Normalise one Billit `Identifiers[]` entry (`IdentifierType`, `Identifier`, optional `SchemeID`).

    The scheme comes from a `dddd:` prefix in the value, else `scheme_hint` (Billit's `SchemeID`), else the
    IdentifierType; removed schemes map to their successor (9956 -> 0208, 9902 -> 0184, ...). A prefix or
    SchemeID that contradicts the IdentifierType makes the identifier invalid (it is still checked against the
    explicit scheme). `VAT` goes through `normalise_vat_number`'s rules.
    """
    source = (identifier_type or "").strip() or "unknown"
    return _normalise(raw, source, _type_key(identifier_type), scheme_hint, country_hint)


def normalise_party_identifiers(party: Mapping[str, Any]) -> list[PartyIdentifier]:
    """All identifiers of a Billit Party: `VATNumber` first, then every `Identifiers[]` entry, then its
    `PeppolIdentifier` (`scheme:value`; docs/reference/billit-api.md#party-identifiers).

    The party's `CountryCode` is the country hint. A missing or blank `VATNumber` or `PeppolIdentifier` is absent,
    not invalid; an `Identifiers[]` entry is always kept, even when empty or malformed. Identical (scheme, value,
    reason) triples are reported once, the first occurrence winning; empty entries (no value) are never merged.
    """
    country = party.get("CountryCode")
    country_hint = country if isinstance(country, str) else None
    found: list[PartyIdentifier] = []

    vat_number = party.get("VATNumber")
    if vat_number is not None and str(vat_number).strip():
        found.append(normalise_vat_number(str(vat_number), country_hint=country_hint))

    for entry in party.get("Identifiers") or []:
        if not isinstance(entry, Mapping):
            found.append(
                PartyIdentifier(str(entry), "unknown", None, None, False, "format: malformed Identifiers entry")
            )
            continue
        identifier_type = entry.get("IdentifierType")
        scheme_id = entry.get("SchemeID")
        found.append(
            normalise_identifier(
                identifier_type if isinstance(identifier_type, str) else None,
                entry.get("Identifier"),  # Any: _normalise tolerates None and numbers
                scheme_hint=str(scheme_id) if scheme_id is not None else None,
                country_hint=country_hint,
            )
        )

    peppol_identifier = party.get("PeppolIdentifier")
    if peppol_identifier is not None and str(peppol_identifier).strip():
        # No IdentifierType: the `dddd:` prefix names the scheme, and an id without one is invalid as a Peppol id.
        found.append(_normalise(peppol_identifier, "PeppolIdentifier", "", None, country_hint))

    # A flagged identifier is kept beside a valid one of the same (scheme, value): its reason is what it adds.
    seen: set[tuple[str | None, str | None, str | None]] = set()
    unique: list[PartyIdentifier] = []
    for identifier in found:
        key = (identifier.scheme, identifier.value, identifier.reason)
        if identifier.value is None or key not in seen:
            seen.add(key)
            unique.append(identifier)
    return unique
