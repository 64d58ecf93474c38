"""Check digits of the identifiers the sandbox makes and checks (docs/reference/identifiers.md).

Belgian enterprise numbers (mod 97), GS1 numbers such as GLNs, Luhn (SIREN/SIRET), ISO 7064 mod 11,10
(German VAT numbers) and IBANs (ISO 13616). The seed uses them to make valid numbers (and some broken ones on
purpose); the Peppol registry uses them to decide which participant ids are real.
"""

from __future__ import annotations

__all__ = ["be_check", "be_valid", "gs1_check", "iban", "luhn_check", "mod11_10_check"]


def be_check(first8: str) -> str:
    """The two check digits of a Belgian enterprise number: ``97 - first8 % 97``."""
    return f"{97 - int(first8) % 97:02d}"


def be_valid(number: str) -> bool:
    """Whether ``number`` is a valid 10-digit Belgian enterprise number (starting with 0 or 1)."""
    return len(number) == 10 and number.isdigit() and number[0] in "01" and be_check(number[:8]) == number[8:]


def gs1_check(digits: str) -> str:
    """The GS1 check digit (weights 3, 1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def luhn_check(digits: str) -> str:
    """The Luhn check digit."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        v = int(d)
        if i % 2 == 0:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return str((10 - total % 10) % 10)


def mod11_10_check(digits: str) -> str:
    """The ISO 7064 MOD 11,10 check digit."""
    product = 10
    for d in digits:
        s = (int(d) + product) % 10 or 10
        product = (2 * s) % 11
    return str((11 - product) % 10)


def iban(country: str, bban: str) -> str:
    """An IBAN from a country code and a BBAN, with its two check digits."""
    converted = "".join(str(int(c, 36)) for c in bban + country) + "00"
    return f"{country}{98 - int(converted) % 97:02d}{bban}"
