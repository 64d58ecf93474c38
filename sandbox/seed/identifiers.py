"""Identifiers for the seeded parties: enterprise, VAT, GLN, SIRET and bank numbers, messy as real data is.

Most numbers are valid (docs/reference/identifiers.md); about 2 % of Belgian parties and a few GLNs
and SIRETs get a broken check digit on purpose, and Belgian VAT numbers are written in every way people write
them (``BE 0123.456.789``, ``be0123456789``, the nine-digit form from before 2005, ...).
"""

from __future__ import annotations

import random

from sandbox.checkdigits import be_check, gs1_check, luhn_check, mod11_10_check

__all__ = [
    "break_check",
    "ch_uid_digits",
    "de_vat_digits",
    "enterprise_number",
    "gb_vat_digits",
    "gln",
    "messy_be_vat",
    "nl_vat_digits",
    "pl_nip",
    "rand_digits",
    "siren",
]


def rand_digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


def enterprise_number(rng: random.Random) -> str:
    # Since September 2023 new enterprise numbers start with 1
    # (docs/reference/identifiers.md#belgian-enterprise-number).
    first8 = f"100{rand_digits(rng, 5)}" if rng.random() < 0.05 else f"0{rng.randrange(2_000_000, 9_999_999)}"
    return first8 + be_check(first8)


def gln(rng: random.Random, prefix: str) -> str:
    body = prefix + rand_digits(rng, 12 - len(prefix))
    return body + gs1_check(body)


def siren(rng: random.Random) -> str:
    body = f"{rng.randrange(1, 10)}{rand_digits(rng, 7)}"
    return body + luhn_check(body)


def nl_vat_digits(rng: random.Random) -> str:
    while True:
        body = f"{rng.randrange(1, 10)}{rand_digits(rng, 7)}"
        check = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return body + str(check)


def de_vat_digits(rng: random.Random) -> str:
    body = f"{rng.randrange(1, 10)}{rand_digits(rng, 7)}"
    return body + mod11_10_check(body)


def pl_nip(rng: random.Random) -> str:
    while True:
        body = f"{rng.randrange(1, 10)}{rand_digits(rng, 8)}"
        check = sum(int(d) * w for d, w in zip(body, (6, 5, 7, 2, 3, 4, 5, 6, 7), strict=True)) % 11
        if check < 10:
            return body + str(check)


def gb_vat_digits(rng: random.Random) -> str:
    body = f"{rng.randrange(1, 10)}{rand_digits(rng, 6)}"
    total = sum(int(d) * w for d, w in zip(body, range(8, 1, -1), strict=True))
    return body + f"{-total % 97:02d}"


def ch_uid_digits(rng: random.Random) -> str:
    while True:
        body = f"{rng.randrange(1, 10)}{rand_digits(rng, 7)}"
        check = 11 - sum(int(d) * w for d, w in zip(body, (5, 4, 3, 2, 7, 6, 5, 4), strict=True)) % 11
        if check != 10:
            return body + str(check % 11)


def break_check(rng: random.Random, number: str) -> str:
    """``number`` with a wrong last (check) digit."""
    last = int(number[-1])
    return number[:-1] + str((last + rng.randrange(1, 10)) % 10)


def messy_be_vat(rng: random.Random, number: str) -> str:
    """A Belgian VAT number for enterprise ``number`` written the way a person typed it."""
    r = rng.random()
    dotted = f"{number[:4]}.{number[4:7]}.{number[7:]}"
    if r < 0.60:
        return f"BE{number}"
    if r < 0.68:
        return f"BE {dotted}"
    if r < 0.73:
        return f"be{number}"
    if r < 0.78 and number[0] == "0":
        return number[1:]  # the pre-2005 nine-digit form
    if r < 0.83:
        return f"BE{number[:4]} {number[4:7]} {number[7:]}"
    if r < 0.87:
        return dotted
    if r < 0.90:
        return f"BE-{number}"
    if r < 0.94:
        return f"BE {number}"
    if r < 0.97 and number[0] == "0":
        return f"Be {number[1:]}"
    return f"BE{number}"
