"""What Intervat's schemas accept of one value (tasks/vat/intervat.py writes the drafts): amounts, Belgian and
foreign VAT numbers, texts, references, e-mail addresses and phone numbers, each checked against its schema type
(tests/fixtures/intervat/README.md) and refused with a one-line ValueError naming the field.
"""

from __future__ import annotations

import re
from decimal import Decimal

from stdnum.be import vat as be_vat

CENT = Decimal("0.01")
# PositiveAmount_Type and SignedAmount_Type in IntervatInputCommon_v0_9.xsd; the listings' sums are unlimited.
MAX_AMOUNT = Decimal("99999999999.99")
BELGIAN_VAT = re.compile(r"BE([0-9]{10})")
# EUVATNumber is a token of at most 12 characters; VAT numbers are digits and capitals (IE also uses + and *).
FOREIGN_VAT = re.compile(r"[0-9A-Z+*]{2,12}")
# The schemas' own patterns (EMail_Type in InputCommon, PhoneNumber_Type in commontypes_v1.xsd); XSD patterns
# match the whole value.
EMAIL = re.compile(r"([a-zA-Z0-9_\-.]+)@([a-zA-Z0-9_\-.]+)\.([a-zA-Z]{2,5})")
PHONE = re.compile(r"(\+)?[0-9 \-]{0,20}")
# DeclarantReference_Type: an xs:token of at most 14 characters, so no leading, trailing or doubled spaces.
REFERENCE = re.compile(r"\S+( \S+)*")
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def belgian_vat_digits(vat_number: str, what: str) -> str:
    """The 10 digits after BE, as BEVATNumber wants them, once the number has passed its mod-97 check."""
    match = BELGIAN_VAT.fullmatch(vat_number) if isinstance(vat_number, str) else None
    if match is None:
        raise ValueError(f"{what} {vat_number!r} must be BE followed by 10 digits, like BE0123456749")
    if not be_vat.is_valid(match.group(1)):
        raise ValueError(f"{what} {vat_number!r} fails the Belgian check digits")
    return match.group(1)


def checked_amount(value: Decimal, what: str, negative_hint: str = "", *, signed: bool = False) -> Decimal:
    """A checked amount, rounded to the cent it already is: Decimal or int, at most 2 decimals, positive unless
    `signed` (SignedAmount_Type)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValueError(f"{what} must be a Decimal, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"{what} is not an amount: {amount}")
    if amount < 0 and not signed:
        raise ValueError(f"{what} is negative ({amount}); Intervat takes positive amounts here{negative_hint}")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"{what} ({amount}) is more than Intervat takes (99999999999.99)")
    if amount.quantize(CENT) != amount:
        raise ValueError(f"{what} ({amount}) has more than 2 decimals")
    # A negative zero would be written "-0.00", which PositiveAmount_Type's pattern refuses.
    return amount.quantize(CENT) if amount else abs(amount.quantize(CENT))


def amount_text(amount: Decimal) -> str:
    """Always two decimals and never an exponent: the amount types' pattern is [0-9]+\\.[0-9]{2}."""
    return format(amount.quantize(CENT), "f")


def reference_text(reference: str) -> str:
    if not isinstance(reference, str) or not REFERENCE.fullmatch(reference) or len(reference) > 14:
        raise ValueError(
            f"reference {reference!r} must be 1 to 14 characters without leading, trailing or doubled spaces"
        )
    return checked_text(reference, "reference", 14)


def checked_text(value: str, what: str, longest: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is empty")
    if len(value) > longest:
        raise ValueError(f"{what} is longer than the {longest} characters Intervat takes")
    if NOT_XML.search(value):
        raise ValueError(f"{what} holds a control character XML cannot carry")
    return value


def refuse_duplicates(keys: list[tuple[str, ...]], listing: str) -> None:
    seen: set[tuple[str, ...]] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{' '.join(key)} appears twice in the {listing}: give one row with the total")
        seen.add(key)


def yes_no(flag: bool) -> str:
    return "YES" if flag else "NO"
