"""Cleaning the text of a party identifier before its check (docs/reference/identifiers.md#cleaning): NFKC with
every digit other than ASCII 0-9 left as written (docs/reference/identifiers.md#ascii-digits), the transport
prefix and labels dropped, a leading `dddd:` scheme split off, separators removed.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import groupby

from tasks.normalise.identifier_schemes import LEGACY_SCHEMES

_TRANSPORT_PREFIX = re.compile(r"^iso6523-actorid-upis::", re.IGNORECASE)
_SCHEME_PREFIX = re.compile(r"^([0-9]{4})\s*:\s*")
_SEPARATORS = re.compile(r"[\s.\-/,()]+")
WHITESPACE = re.compile(r"\s+")
# NFKC keeps Unicode dashes apart from the ASCII one (U+2011 even becomes U+2010) and keeps the invisible
# characters a copy from a PDF or a web page carries along: dashes become `-`, the invisible ones go.
_DASHES_AND_INVISIBLES = str.maketrans(
    {**dict.fromkeys(map(chr, (*range(0x2010, 0x2016), 0x2212, 0xFE58, 0xFE63, 0xFF0D)), "-"),
     **dict.fromkeys(map(chr, (0x00AD, *range(0x200B, 0x2010), 0x2060, 0xFEFF)), None)}
)  # fmt: skip
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LABEL_WORDS = (
    "ONDERNEMINGSNUMMER", "ONDERNEMINGSNR", "UST-IDNR", "USTIDNR", "SIRENE", "SIRET", "SIREN", "ORGNR", "MWST",
    "IBAN", "DUNS", "BTW", "TVA", "VAT", "IVA", "KBO", "BCE", "CBE", "CVR", "KVK", "GLN", "LEI", "OIN", "UID",
)  # fmt: skip
# A label word followed by a non-letter or by "nr"/"number"/"n°" (written on or apart: "VATnr", "BTW-nr."), or
# by "no"/"id" only when a `.`/`:` or a spaced country prefix follows ("VAT-No BE0123..."; so "VAT NO123456785MVA"
# keeps the Norwegian prefix).
_LABEL = re.compile(
    r"^(?:" + "|".join(re.escape(word) for word in _LABEL_WORDS) + r")"
    r"(?:[\s.-]*(?:NUMMER|NUMBER|NR|N°)(?![A-Z])|[\s.-]*(?:NO|ID)(?:\s*[.:#]|(?=\s+[A-Z]{2}\s*[0-9]))|(?![A-Z]))"
    r"[\s.:#°-]*",
    re.IGNORECASE,
)
# "0123456749 BE": a country code written after the number (docs/reference/identifiers.md#cleaning).
TRAILING_COUNTRY = re.compile(r"([0-9][0-9\s.\-/]*?)\s+([A-Za-z]{2})")
_ASCII_DIGITS = frozenset("0123456789")


def _is_foreign_digit(char: str) -> bool:
    """A digit other than ASCII 0-9: any Unicode digit (decimal, superscript, circled, ...) or a character that
    NFKC turns into an ASCII digit (such as the vulgar fraction 1/2)."""
    if char in _ASCII_DIGITS or char.isascii():
        return False
    return char.isdigit() or any(folded in _ASCII_DIGITS for folded in unicodedata.normalize("NFKC", char))


def foreign_digits(text: str) -> str:
    """The digits of `text` other than ASCII 0-9, in order."""
    return "".join(char for char in text if _is_foreign_digit(char))


def not_digits(number: str) -> str:
    """The characters of `number` that are not ASCII 0-9, each once, in order of appearance."""
    return "".join(dict.fromkeys(char for char in number if char not in _ASCII_DIGITS))


def _digit_kind(char: str) -> str:
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    return name.split(" DIGIT ")[0] if " DIGIT " in name else name.rsplit(" ", 1)[0]


def foreign_digits_reason(found: str) -> str:
    kinds = ", ".join(dict.fromkeys(_digit_kind(char) for char in found))
    return f"format: digits must be ASCII 0-9, found {kinds} digits {found!r}"


def _fold(text: str) -> str:
    """NFKC (NBSP, full-width letters and signs become ASCII), except that digits other than 0-9 stay as written.

    Left as they are, those digits fail every check below and show up in the value, instead of being turned into
    an identifier the sender never wrote (docs/reference/identifiers.md#ascii-digits).
    """
    folded = "".join(
        "".join(run) if foreign else unicodedata.normalize("NFKC", "".join(run))
        for foreign, run in groupby(text, _is_foreign_digit)
    )
    return folded.translate(_DASHES_AND_INVISIBLES)


def _strip_labels(text: str) -> str:
    for _ in range(3):
        stripped = _LABEL.sub("", text, count=1).strip()
        if stripped == text:
            break
        text = stripped
    return text


def unwrap(raw: str) -> tuple[str, str | None]:
    """NFKC (digits aside), trim, drop the transport prefix and labels, split a leading `dddd:` scheme."""
    text = _fold(raw).strip()
    text = _strip_labels(_TRANSPORT_PREFIX.sub("", text).strip())
    scheme = None
    match = _SCHEME_PREFIX.match(text)
    if match:
        scheme = match.group(1)
        text = _strip_labels(text[match.end() :])
    return text.strip(), scheme


def upper_ascii(text: str) -> str:
    """Upper case for a-z only: `str.upper()` turns the dotless ı into I and ß into SS, which would make a value
    the sender never wrote pass as ASCII."""
    return text.translate(_ASCII_UPPER)


def compact(text: str) -> str:
    return upper_ascii(_SEPARATORS.sub("", text))


def is_digits(text: str) -> bool:
    return bool(text) and all(char in _ASCII_DIGITS for char in text)


def strip_prefix(number: str, prefix: str) -> str:
    return number[len(prefix) :] if number.startswith(prefix) else number


def country_code(code: str | None) -> str | None:
    if not code:
        return None
    code = upper_ascii(unicodedata.normalize("NFKC", code).strip())
    if not re.fullmatch(r"[A-Z]{2}", code):
        return None
    # Greek VAT numbers use EL; addresses use GR (docs/reference/identifiers.md#vat-numbers).
    return "EL" if code == "GR" else code


def current_scheme(code: str) -> str:
    return LEGACY_SCHEMES.get(code, code)
