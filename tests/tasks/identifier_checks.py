"""An independent check of party identifiers, so the warehouse tests do not grade the normaliser with itself.

`expected_identifiers` gives, for a Billit party, what the warehouse's `party_identifiers` rows must hold:
`(source, raw, is_valid)` per identifier. The validity comes from the public check-digit rules written out here
from their specifications (mod 97 for Belgian numbers, GS1 mod 10, Luhn, ISO 7064 mod 11,10, the national VAT
rules), never from `tasks.normalise` or python-stdnum, which production uses. It covers only the kinds the
sandbox's books contain; anything else fails loudly, so a new kind gets its own check rather than a free pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Expected = tuple[str, str, bool]


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _be_number(digits: str) -> bool:
    """Belgian enterprise/VAT number: 10 digits starting 0 or 1, the last two = 97 - (first eight mod 97).

    The nine-digit numbers issued before 2005 are the same numbers without their leading 0.
    """
    if len(digits) == 9:
        digits = "0" + digits
    return len(digits) == 10 and digits[0] in "01" and 97 - int(digits[:8]) % 97 == int(digits[8:])


def _gln(digits: str) -> bool:
    """GS1 GLN: 13 digits, weights 1 and 3 from the left on the first 12, the last is the mod 10 complement."""
    if len(digits) != 13:
        return False
    weighted = sum(int(char) * (3 if index % 2 else 1) for index, char in enumerate(digits[:12]))
    return (10 - weighted % 10) % 10 == int(digits[12])


def _siret(digits: str) -> bool:
    """SIRET: 14 digits passing Luhn, whose first nine (the SIREN) pass Luhn too."""
    return len(digits) == 14 and _luhn(digits) and _luhn(digits[:9])


def _de_vat(digits: str) -> bool:
    """German USt-IdNr: 9 digits, ISO 7064 MOD 11,10 check digit."""
    if len(digits) != 9 or digits[0] == "0":
        return False
    product = 10
    for char in digits[:8]:
        total = (int(char) + product) % 10 or 10
        product = 2 * total % 11
    return (11 - product) % 10 == int(digits[8])


def _fr_vat(text: str) -> bool:
    """French TVA: a two-digit key then a SIREN (Luhn); key = (12 + 3 * (SIREN mod 97)) mod 97."""
    if not re.fullmatch(r"\d{11}", text):
        return False
    key, siren = int(text[:2]), text[2:]
    return _luhn(siren) and key == (12 + 3 * (int(siren) % 97)) % 97


def _gb_vat(digits: str) -> bool:
    """UK VAT: 9 digits; weights 8..2 on the first seven plus the last two, mod 97 is 0, or 42/55 (the newer series)."""
    if len(digits) != 9:
        return False
    total = sum(int(char) * weight for char, weight in zip(digits[:7], range(8, 1, -1), strict=True))
    return (total + int(digits[7:])) % 97 in ((0, 42, 55) if int(digits[:3]) >= 100 else (0,))


def _lu_vat(digits: str) -> bool:
    """Luxembourg TVA: 8 digits, the last two = the first six mod 89."""
    return len(digits) == 8 and int(digits[:6]) % 89 == int(digits[6:])


def _nl_vat(text: str) -> bool:
    """Dutch btw-id: 9 digits, B, 2 digits; mod 11 on the nine (weights 9..2, -1), or mod 97 on NL + all (2020 form)."""
    match = re.fullmatch(r"(\d{9})B(\d{2})", text)
    if match is None or match.group(2) == "00":
        return False
    nine = match.group(1)
    eleven = sum(int(char) * weight for char, weight in zip(nine, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    letters = "".join(str(ord(char) - 55) if char.isalpha() else char for char in "NL" + text)
    return eleven % 11 == 0 or int(letters) % 97 == 1


def _pl_vat(digits: str) -> bool:
    """Polish NIP: 10 digits, weights 6 5 7 2 3 4 5 6 7 on the first nine, mod 11 is the last."""
    if len(digits) != 10:
        return False
    total = sum(int(char) * weight for char, weight in zip(digits, (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=False))
    return total % 11 == int(digits[9])


def _ch_uid(digits: str) -> bool:
    """Swiss UID (CHE-...): 9 digits, weights 5 4 3 2 7 6 5 4 on the first eight, 11 minus mod 11 is the last."""
    if len(digits) != 9:
        return False
    check = 11 - sum(int(char) * weight for char, weight in zip(digits, (5, 4, 3, 2, 7, 6, 5, 4), strict=False)) % 11
    return check != 10 and check % 11 == int(digits[8])


def _digits_only(text: str) -> str:
    return re.sub(r"[\s.\-/]", "", text)


_VAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "BE": lambda rest: rest.isdigit() and _be_number(rest),
    "DE": lambda rest: rest.isdigit() and _de_vat(rest),
    "FR": _fr_vat,
    "GB": lambda rest: rest.isdigit() and _gb_vat(rest),
    "LU": lambda rest: rest.isdigit() and _lu_vat(rest),
    "NL": _nl_vat,
    "PL": lambda rest: rest.isdigit() and _pl_vat(rest),
}


def vat_number_is_valid(raw: str, country: str | None) -> bool:
    """A VAT number as typed (spaces, dots, a country prefix or not, a Swiss MWST/TVA/IVA suffix)."""
    text = _digits_only(raw.upper())
    if text.startswith("CHE"):
        suffix = re.fullmatch(r"CHE(\d{9})(MWST|TVA|IVA)?", text)
        return suffix is not None and _ch_uid(suffix.group(1))
    prefix = text[:2] if text[:2].isalpha() else None
    rest = text[2:] if prefix else text
    check = _VAT_CHECKS.get(prefix or country or "")
    if check is None:
        raise AssertionError(f"no independent check for the VAT number {raw!r} (country {country!r})")
    return check(rest)


# US EIN: the IRS assigns the two-digit prefixes by campus; these have never been assigned.
_EIN_UNASSIGNED_PREFIXES = frozenset(
    {"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89", "96", "97"}
)

_IDENTIFIER_CHECKS: dict[str, Callable[[str], bool]] = {
    "CBE": lambda text: text.isdigit() and _be_number(text),
    "GLN": lambda text: text.isdigit() and _gln(text),
    "KVK": lambda text: re.fullmatch(r"\d{8}", text) is not None,
    "SIRET": lambda text: text.isdigit() and _siret(text),
    "EIN": lambda text: re.fullmatch(r"\d{9}", text) is not None and text[:2] not in _EIN_UNASSIGNED_PREFIXES,
}


def identifier_is_valid(identifier_type: str, raw: str) -> bool:
    """An `Identifiers[]` value of one of the kinds the seeded books use."""
    check = _IDENTIFIER_CHECKS.get(identifier_type)
    if check is None:
        raise AssertionError(f"no independent check for the {identifier_type} identifier {raw!r}")
    return check(_digits_only(raw))


def expected_identifiers(party: Mapping[str, Any]) -> list[Expected]:
    """`(source, raw, is_valid)` for the party's VATNumber and each `Identifiers[]` entry, sorted."""
    country = party.get("CountryCode")
    found: dict[tuple[str, str], Expected] = {}
    vat_number = party.get("VATNumber")
    if isinstance(vat_number, str) and vat_number.strip():
        found[("VATNumber", _digits_only(vat_number.upper()))] = (
            "VATNumber",
            vat_number,
            vat_number_is_valid(vat_number, country),
        )
    for entry in party.get("Identifiers") or []:
        kind, raw = entry["IdentifierType"], entry["Identifier"]
        # The same number listed twice is one identifier (the warehouse keeps the first).
        found.setdefault((kind, _digits_only(raw)), (kind, raw, identifier_is_valid(kind, raw)))
    return sorted(found.values())
