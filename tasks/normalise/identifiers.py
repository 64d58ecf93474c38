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
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import groupby
from types import ModuleType
from typing import Any, NamedTuple

from stdnum import ean, get_cc_module, iban, lei, numdb, vatin
from stdnum.au import abn as au_abn
from stdnum.be import vat as be_vat
from stdnum.br import cnpj as br_cnpj
from stdnum.ch import uid as ch_uid
from stdnum.de import leitweg as de_leitweg
from stdnum.dk import cvr as dk_cvr
from stdnum.ee import registrikood as ee_registrikood
from stdnum.es import cif as es_cif
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.es import nif as es_nif
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)
from stdnum.fi import ytunnus as fi_ytunnus
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.is_ import kennitala as is_kennitala
from stdnum.it import codicefiscale as it_codicefiscale
from stdnum.it import iva as it_iva
from stdnum.jp import cn as jp_cn
from stdnum.no import orgnr as no_orgnr
from stdnum.se import orgnr as se_orgnr
from stdnum.us import ein as us_ein

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


# --- scheme tables (data) -------------------------------------------------------------------------------------

# Marks a type whose scheme follows the VAT number's country prefix.
VAT_BY_COUNTRY = "VAT"

# VAT number country prefix -> current Peppol scheme (docs/reference/identifiers.md#vat-numbers): Billit's table
# with the schemes it lists that Peppol has removed mapped to their successor: IT 9906 -> 0211, SE 9955 -> 0007,
# FI 0213 -> 0216 [U whether Billit still emits the old ones]. NO is 0192 in Billit's own table. DK VAT has no
# scheme in Billit's table; the digits are the CVR number and Peppol rule R042 accepts `DK` + 8 digits for 0184, so
# DK VAT maps to 0184 [U]. JP and SG VAT numbers are left without a scheme: whether Billit's JP/SG `VAT` value is
# the 0221 / 0195 value is not documented [U]. Greece uses the VAT prefix EL (BR-CO-09).
VAT_COUNTRY_SCHEMES: Mapping[str, str] = {
    "AD": "9922", "AL": "9923", "AT": "9914", "BA": "9924", "BE": "9925", "BG": "9926", "CH": "9927",
    "CY": "9928", "CZ": "9929", "DE": "9930", "DK": "0184", "EE": "9931", "EL": "9933", "ES": "9920",
    "FI": "0216", "FR": "9957", "GB": "9932", "HR": "9934", "HU": "9910", "IE": "9935", "IT": "0211",
    "LI": "9936", "LT": "9937", "LU": "9938", "LV": "9939", "MC": "9940", "ME": "9941", "MK": "9942",
    "MT": "9943", "NL": "9944", "NO": "0192", "PL": "9945", "PT": "9946", "RO": "9947", "RS": "9948",
    "SE": "0007", "SI": "9949", "SK": "9950", "SM": "9951", "TR": "9952", "VA": "9953",
}  # fmt: skip

# Countries whose VAT number is converted to a non-VAT scheme (the value loses its VAT form).
_DERIVED_VAT_SCHEMES = frozenset({"0184", "0192", "0007", "0216", "0211"})

# 99xx schemes whose value is a country-prefixed VAT number -> that country.
_VAT_SCHEME_COUNTRIES: Mapping[str, str] = {
    scheme: country for country, scheme in VAT_COUNTRY_SCHEMES.items() if scheme not in _DERIVED_VAT_SCHEMES
}

# VAT prefixes with no stdnum module and no Peppol scheme that Billit still accepts
# (docs/reference/identifiers.md#billit-identifier-types); checked for format only.
_FORMAT_ONLY_VAT_COUNTRIES = frozenset({"AE", "BA", "CV", "LI", "VA"})

# Removed or deprecated Peppol schemes -> current scheme (docs/reference/identifiers.md#legacy-schemes).
# 9912 (generic EU VAT, deprecated) is re-dispatched on the number's own country prefix.
LEGACY_SCHEMES: Mapping[str, str] = {
    "9956": "0208",  # BE:CBE, removed 2023-12-31
    "9902": "0184",  # DK:CVR, removed; Billit still lists it for CVR
    "0037": "0216",  # FI:OVT, removed 2024-12-31
    "0212": "0216",  # FI:ORG, removed [U: value assumed to be the Y-tunnus]
    "0213": "0216",  # FI:VAT, removed; Billit still lists it for FI VAT
    "9906": "0211",  # IT:VAT, removed 2023-05-24
    "9907": "0210",  # IT:CF, removed 2023-05-24
    "9908": "0192",  # NO:ORGNR, removed 2023-05-24
    "9909": "0192",  # NO:VAT, deprecated; Billit maps NO VAT to 0192
    "9954": "0190",  # NL:OIN, removed 2026-03-31
    "9955": "0007",  # SE:VAT, removed 2023-07-31
    "9958": "0204",  # DE:LID, removed
    "9912": VAT_BY_COUNTRY,  # EU:VAT, deprecated
}

# Billit IdentifierType -> Peppol scheme (docs/reference/identifiers.md#billit-identifier-types), already mapped
# to current schemes. RPM (LU) is listed by Billit as 9938, which is the LU VAT scheme; we follow Billit, so an
# RCS number given as RPM fails the LU VAT check [U].
BILLIT_IDENTIFIER_SCHEMES: Mapping[str, str] = {
    "VAT": VAT_BY_COUNTRY,
    "VATNUMBER": VAT_BY_COUNTRY,
    "CBE": "0208",
    "GLN": "0088",
    "KVK": "0106",
    "OIN": "0190",
    "SIRET": "0009",
    "SIRENE": "0002",
    "DUNS": "0060",
    "LEI": "0199",
    "CVR": "0184",
    "DIGST": "0184",
    "ERST": "0198",
    "NOVT": "0216",
    "ORGNR": "0007",
    "ORG": "0192",
    "LEITWEGID": "0204",
    "FRCTC": "0225",
    "CTC": "0225",
    "OIB": "9934",
    "SDICODFIS": "0210",
    "SST": "0188",
    "LEC": "0200",
    "RPM": "9938",
    "EIF": "0230",
    "ABN": "0151",
    "EIN": "9959",
    "NAL": "0130",
}

# Billit identifier types that are not Peppol participant ids (SDI routing, Chorus service codes, national tax ids
# without a scheme; docs/reference/identifiers.md#billit-identifier-types). They keep scheme None; a stdnum check
# runs where one exists.
_NON_PEPPOL_CHECKS: Mapping[str, tuple[ModuleType, str] | None] = {
    "NIE": (es_nie, "ES NIE"),
    "DNI": (es_dni, "ES DNI"),
    "NIF": (es_nif, "ES NIF"),
    "CIF": (es_cif, "ES CIF"),
    "CNPJ": (br_cnpj, "BR CNPJ"),
    "SDICODDEST": None,
    "SDIPEC": None,
    "SDIB2G": None,
    "SERVICE CODE": None,
    "TIN": None,
    "MBR": None,
}

# EAS codes allowed on EndpointID in BIS v3.0.19 plus the newer PIS v9.7 codes
# (docs/reference/identifiers.md#schemes). The list changes with each Peppol release; an unlisted code is flagged,
# not dropped.
_KNOWN_SCHEMES = frozenset({
    "0002", "0007", "0009", "0037", "0060", "0088", "0096", "0097", "0106", "0130", "0135", "0142", "0147",
    "0151", "0154", "0158", "0170", "0177", "0183", "0184", "0188", "0190", "0191", "0192", "0193", "0194",
    "0195", "0196", "0198", "0199", "0200", "0201", "0202", "0203", "0204", "0205", "0208", "0209", "0210",
    "0211", "0212", "0213", "0215", "0216", "0217", "0218", "0221", "0225", "0230", "0235", "0240", "0244",
    "0245", "0246", "0248", "9910", "9913", "9914", "9915", "9918", "9919", "9920", "9957", "9959",
}) | {str(code) for code in range(9922, 9954)}  # fmt: skip

# A participant id value is at most 130 characters (docs/reference/identifiers.md#participant-id-values).
_MAX_VALUE_LENGTH = 130


# --- cleaning -------------------------------------------------------------------------------------------------


class _Check(NamedTuple):
    value: str | None
    reason: str | None  # None means valid


_TRANSPORT_PREFIX = re.compile(r"^iso6523-actorid-upis::", re.IGNORECASE)
_SCHEME_PREFIX = re.compile(r"^([0-9]{4})\s*:\s*")
_SEPARATORS = re.compile(r"[\s.\-/,()]+")
_WHITESPACE = re.compile(r"\s+")
_LABEL_WORDS = (
    "ONDERNEMINGSNUMMER", "ONDERNEMINGSNR", "UST-IDNR", "USTIDNR", "SIRENE", "SIRET", "SIREN", "ORGNR", "MWST",
    "IBAN", "DUNS", "BTW", "TVA", "VAT", "IVA", "KBO", "BCE", "CBE", "KVK", "GLN", "LEI", "OIN", "UID",
)  # fmt: skip
# A label word, optionally followed by "nr"/"number"/"n°", or "no"/"id" only when a `.`/`:` follows (so
# "VAT NO123456785MVA" keeps the Norwegian prefix).
_LABEL = re.compile(
    r"^(?:" + "|".join(re.escape(word) for word in _LABEL_WORDS) + r")(?![A-Z])"
    r"(?:[\s.-]*(?:NUMMER|NUMBER|NR|N°)(?![A-Z])|[\s.-]*(?:NO|ID)\s*[.:#])?"
    r"[\s.:#°-]*",
    re.IGNORECASE,
)
# "0123456749 BE": a country code written after the number (docs/reference/identifiers.md#cleaning).
_TRAILING_COUNTRY = re.compile(r"([0-9][0-9\s.\-/]*?)\s+([A-Za-z]{2})")
_ASCII_DIGITS = frozenset("0123456789")


def _is_foreign_digit(char: str) -> bool:
    """A digit other than ASCII 0-9: any Unicode digit (decimal, superscript, circled, ...) or a character that
    NFKC turns into an ASCII digit (such as the vulgar fraction 1/2)."""
    if char in _ASCII_DIGITS or char.isascii():
        return False
    return char.isdigit() or any(folded in _ASCII_DIGITS for folded in unicodedata.normalize("NFKC", char))


def _foreign_digits(text: str) -> str:
    """The digits of `text` other than ASCII 0-9, in order."""
    return "".join(char for char in text if _is_foreign_digit(char))


def _not_digits(number: str) -> str:
    """The characters of `number` that are not ASCII 0-9, each once, in order of appearance."""
    return "".join(dict.fromkeys(char for char in number if char not in _ASCII_DIGITS))


def _digit_kind(char: str) -> str:
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    return name.split(" DIGIT ")[0] if " DIGIT " in name else name.rsplit(" ", 1)[0]


def _foreign_digits_reason(found: str) -> str:
    kinds = ", ".join(dict.fromkeys(_digit_kind(char) for char in found))
    return f"format: digits must be ASCII 0-9, found {kinds} digits {found!r}"


def _fold(text: str) -> str:
    """NFKC (NBSP, full-width letters and signs become ASCII), except that digits other than 0-9 stay as written.

    Left as they are, those digits fail every check below and show up in the value, instead of being turned into
    an identifier the sender never wrote (docs/reference/identifiers.md#ascii-digits).
    """
    return "".join(
        "".join(run) if foreign else unicodedata.normalize("NFKC", "".join(run))
        for foreign, run in groupby(text, _is_foreign_digit)
    )


def _strip_labels(text: str) -> str:
    for _ in range(3):
        stripped = _LABEL.sub("", text, count=1).strip()
        if stripped == text:
            break
        text = stripped
    return text


def _unwrap(raw: str) -> tuple[str, str | None]:
    """NFKC (digits aside), trim, drop the transport prefix and labels, split a leading `dddd:` scheme."""
    text = _fold(raw).strip()
    text = _strip_labels(_TRANSPORT_PREFIX.sub("", text).strip())
    scheme = None
    match = _SCHEME_PREFIX.match(text)
    if match:
        scheme = match.group(1)
        text = _strip_labels(text[match.end() :])
    return text.strip(), scheme


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", text).upper()


def _is_digits(text: str) -> bool:
    return bool(text) and all(char in _ASCII_DIGITS for char in text)


def _strip_prefix(number: str, prefix: str) -> str:
    return number[len(prefix) :] if number.startswith(prefix) else number


def _country_code(code: str | None) -> str | None:
    if not code:
        return None
    code = unicodedata.normalize("NFKC", code).strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", code):
        return None
    # Greek VAT numbers use EL; addresses use GR (docs/reference/identifiers.md#vat-numbers).
    return "EL" if code == "GR" else code


def _current_scheme(code: str) -> str:
    return LEGACY_SCHEMES.get(code, code)


# --- checks ---------------------------------------------------------------------------------------------------


def _stdnum_reason(exc: ValidationError, label: str) -> str:
    # InvalidLength is a subclass of InvalidFormat (docs/reference/identifiers.md#stdnum), so it is tested first.
    if isinstance(exc, InvalidChecksum):
        return f"checksum: {label} check digits fail"
    if isinstance(exc, InvalidLength):
        return f"length: {label} has the wrong length"
    if isinstance(exc, InvalidComponent):
        return f"component: {label} has an invalid part"
    return f"format: {label} has an invalid format"


def _same(value: str) -> str:
    return value


def _stdnum_check(module: ModuleType, number: str, label: str, canonical: Callable[[str], str] = _same) -> _Check:
    found = _foreign_digits(number)
    if found:
        # stdnum's clean() turns full-width and mathematical digits into ASCII ones; we do not
        # (docs/reference/identifiers.md#ascii-digits).
        return _Check(canonical(number), _foreign_digits_reason(found))
    try:
        return _Check(canonical(module.validate(number)), None)
    except ValidationError as exc:
        # Our own compacted input, not module.compact(): some modules zero-pad (nl.btw turns 12345678 into
        # 000012345678), which would dress a bad number up as a plausible one.
        return _Check(canonical(number), _stdnum_reason(exc, label))


def _be_enterprise(text: str) -> _Check:
    """0208 / 9925 digits: 10 digits, first 0 or 1, mod 97 (docs/reference/identifiers.md#belgian-enterprise-number)."""
    number = _strip_prefix(_compact(text), "BE")
    found = _not_digits(number)
    if found:
        # Checked before stdnum, whose clean() would turn full-width digits into ASCII ones.
        return _Check(number, f"format: BE enterprise number must be 10 digits, found non-digits {found!r}")
    if len(number) == 9:
        # Pre-2003 VAT numbers had 9 digits; the leading 0 does not change the check
        # (docs/reference/identifiers.md#belgian-enterprise-number).
        number = "0" + number
    try:
        return _Check(be_vat.validate(number), None)
    except InvalidChecksum:
        return _Check(number, "checksum: BE enterprise number mod 97 fails")
    except InvalidLength:
        return _Check(number, f"length: BE enterprise number must be 10 digits, got {len(number)}")
    except InvalidComponent:
        # Establishment-unit numbers start with 2-8 and pass the same mod 97, but are not enterprise numbers
        # (docs/reference/identifiers.md#belgian-enterprise-number); stdnum raises InvalidComponent for any
        # first digit other than 0/1.
        if number[0] in "2345678" and be_vat.checksum(number) == 0:
            return _Check(number, f"establishment unit number (first digit {number[0]}), not a BE enterprise number")
        return _Check(number, f"component: BE enterprise number must start with 0 or 1, got {number[0]}")
    except ValidationError:
        return _Check(number, "format: BE enterprise number must be 10 digits")


def _gln(text: str) -> _Check:
    """0088: exactly 13 digits with a GS1 check digit (docs/reference/identifiers.md#gln: "GLN-13 only").

    The check digit is stdnum.ean's; the length is ours, because stdnum.ean also accepts 8/12/14-digit GTINs.
    """
    # A GS1-128 "(414)" application identifier prefix marks a GLN (docs/reference/identifiers.md#gln).
    number = _compact(re.sub(r"^\(\s*414\s*\)", "", text))
    if len(number) == 14 and number.startswith("0"):
        # GTIN-14 padding: a leading 0 adds nothing to the weighted sum, so the check digit is unchanged [U].
        number = number[1:]
    found = _not_digits(number)
    if found:
        return _Check(number, f"format: GLN must be 13 digits, found non-digits {found!r}")
    if len(number) != 13:
        return _Check(number, f"length: GLN must be 13 digits, got {len(number)}")
    try:
        return _Check(ean.validate(number), None)
    except InvalidChecksum:
        expected = ean.calc_check_digit(number[:12])
        return _Check(number, f"checksum: GLN check digit is {number[12]}, expected {expected}")
    except ValidationError as exc:
        return _Check(number, _stdnum_reason(exc, "GLN"))


def _fixed_digits(length: int, label: str, notes: Mapping[int, str] | None = None) -> Callable[[str], _Check]:
    """Format-only check for schemes without a usable check digit (KVK, DUNS, OIN)."""

    def check(text: str) -> _Check:
        number = _compact(text)
        found = _not_digits(number)
        if found:
            return _Check(number, f"format: {label} must be {length} digits, found non-digits {found!r}")
        if len(number) != length:
            note = (notes or {}).get(len(number), "")
            return _Check(number, f"length: {label} must be {length} digits, got {len(number)}{note}")
        return _Check(number, None)

    return check


def _iban_length(country: str) -> int | None:
    """How long an IBAN of `country` is, from stdnum's IBAN registry data (None for a country without IBANs)."""
    layout = numdb.get("iban").info(country)[0][1].get("bban")
    return 4 + sum(int(count) for count in re.findall(r"([0-9]+)!", layout)) if layout else None


def _iban_fault(exc: ValidationError, number: str) -> str:
    country = number[:2]
    if isinstance(exc, InvalidComponent):
        return f"component: {country} is not a country code with IBANs"
    expected = _iban_length(country)
    if isinstance(exc, InvalidFormat) and expected is not None and len(number) != expected:
        return f"length: a {country} IBAN has {expected} characters, got {len(number)}"
    if isinstance(exc, InvalidFormat):
        return (
            f"format: IBAN does not fit the {country} account layout (a letter where a digit belongs, or the other"
            " way round)"
        )
    return _stdnum_reason(exc, "IBAN")


def _iban(text: str) -> _Check:
    """9918: an IBAN, checked by stdnum.iban (docs/reference/identifiers.md#iban); canonical upper case, no spaces."""
    number = _compact(text)
    found = "".join(dict.fromkeys(char for char in number if not (char.isascii() and char.isalnum())))
    if found:
        return _Check(number, f"format: IBAN may only hold letters A-Z and digits 0-9, found {found!r}")
    if not re.match(r"[A-Z]{2}[0-9]{2}", number):
        return _Check(number, "format: IBAN must start with a 2-letter country code and 2 check digits")
    try:
        # The country-wide rules: mod 97-10, known country, account layout (length and character classes).
        value = iban.validate(number, check_country=False)
    except InvalidChecksum:
        # stdnum tests the check digits first, so a wrong length or layout lands here too: with the check digits
        # the rest of the number calls for, the real fault (if any) shows.
        expected = iban.calc_check_digits(number)
        try:
            iban.validate(number[:2] + expected + number[4:], check_country=False)
        except ValidationError as exc:
            return _Check(number, _iban_fault(exc, number))
        return _Check(number, f"checksum: IBAN check digits are {number[2:4]}, expected {expected}")
    except ValidationError as exc:
        return _Check(number, _iban_fault(exc, number))
    try:
        # The national account-number rules stdnum knows (BE, ES, ME, NO), e.g. the Belgian account's own mod 97.
        iban.validate(value)
    except InvalidComponent:
        # Belgian bank code missing from stdnum's bank list: a list that lags behind the banks is no proof of a
        # bad IBAN (docs/reference/identifiers.md#iban).
        pass
    except InvalidChecksum:
        return _Check(value, f"checksum: the {value[:2]} account number in the IBAN fails its national check digits")
    except ValidationError as exc:
        return _Check(value, _stdnum_reason(exc, f"{value[:2]} account number in the IBAN"))
    return _Check(value, None)


_LEI_FORMAT = re.compile(r"[A-Z0-9]{18}[0-9]{2}")


def _lei(text: str) -> _Check:
    """0199: 20 characters, 18 letters or digits and 2 check digits; stdnum.lei only runs the mod 97-10."""
    number = _compact(text)
    if len(number) != 20:
        return _Check(number, f"length: LEI must be 20 characters, got {len(number)}")
    if not _LEI_FORMAT.fullmatch(number):
        return _Check(number, "format: LEI must be 18 letters or digits followed by 2 check digits")
    return _stdnum_check(lei, number, "LEI")


def _jp_invoice_issuer(text: str) -> _Check:
    """0221: `T` + the 13-digit corporate number (docs/reference/identifiers.md#other-schemes)."""
    number = _strip_prefix(_compact(text), "T")
    return _stdnum_check(jp_cn, number, "JP corporate number", lambda value: "T" + value)


def _siren_or_siret(text: str) -> _Check:
    # 0002 FR:SIRENE takes a SIREN (9) or a SIRET (14) (code list regex `[0-9]{9}([0-9]{5})?`).
    number = _compact(text)
    if len(number) == 14:
        return _stdnum_check(fr_siret, number, "SIRET")
    return _stdnum_check(fr_siren, number, "SIREN")


def _dk_cvr(text: str) -> _Check:
    return _stdnum_check(dk_cvr, _strip_prefix(_compact(text), "DK"), "DK CVR number")


def _no_orgnr(text: str) -> _Check:
    # The NO VAT form is NO + orgnr + MVA (docs/reference/identifiers.md#vat-numbers); 0192 is the 9-digit orgnr.
    number = _strip_prefix(_compact(text), "NO")
    number = number[:-3] if number.endswith("MVA") else number
    return _stdnum_check(no_orgnr, number, "NO organisation number")


def _se_orgnr(text: str) -> _Check:
    # The SE VAT form is SE + orgnr + 01 (docs/reference/identifiers.md#vat-numbers); 0007 is the 10-digit orgnr.
    number = _strip_prefix(_compact(text), "SE")
    if len(number) == 12 and number.endswith("01"):
        number = number[:10]
    return _stdnum_check(se_orgnr, number, "SE organisation number")


def _fi_ovt(text: str) -> _Check:
    """0216: `0037` + 8-digit Y-tunnus (no hyphen) + up to 5 characters (docs/reference/identifiers.md#schemes)."""
    number = _compact(text)
    if number.startswith("FI"):  # FI VAT = FI + the 8 Y-tunnus digits (docs/reference/identifiers.md#vat-numbers)
        number = "0037" + number[2:]
    elif not re.fullmatch(r"0037[0-9]{8}[A-Z0-9]{0,5}", number) and re.fullmatch(r"[0-9]{8}[A-Z0-9]{0,5}", number):
        number = "0037" + number
    match = re.fullmatch(r"0037([0-9]{8})[A-Z0-9]{0,5}", number)
    if not match:
        return _Check(number, "format: FI OVT code must be 0037 + 8-digit Y-tunnus + up to 5 characters")
    return _Check(number, _stdnum_check(fi_ytunnus, match.group(1), "FI Y-tunnus").reason)


def _it_iva(text: str) -> _Check:
    # 0211 values carry the IT prefix (code list regex `IT[0-9]{11}`, docs/reference/identifiers.md#schemes).
    number = _strip_prefix(_compact(text), "IT")
    return _stdnum_check(it_iva, number, "IT partita IVA", lambda value: "IT" + value)


def _it_codice_fiscale(text: str) -> _Check:
    # 16 characters for a person, 11 digits (= the partita IVA) for a company (docs/reference/identifiers.md#schemes).
    number = _strip_prefix(_compact(text), "IT")
    if _is_digits(number):
        return _stdnum_check(it_iva, number, "IT codice fiscale")
    return _stdnum_check(it_codicefiscale, number, "IT codice fiscale")


def _leitweg(text: str) -> _Check:
    # The Leitweg-ID keeps its dashes (docs/reference/identifiers.md#schemes); only whitespace goes.
    return _stdnum_check(de_leitweg, _WHITESPACE.sub("", text).upper(), "Leitweg-ID")


def _ch_uid(text: str) -> _Check:
    # CHE + 9 digits; the MWST/TVA/IVA/TPV suffix of the VAT form only names the tax in a language, so it is
    # dropped and the UID is the canonical value for both 0183 and 9927 [U].
    number = re.sub(r"(MWST|TVA|IVA|TPV)$", "", _compact(text))
    return _stdnum_check(ch_uid, number, "CH UID")


def _generic(text: str) -> _Check:
    """Schemes without a check of their own: at most 130 characters, all ASCII (see
    docs/reference/identifiers.md#participant-id-values)."""
    value = _WHITESPACE.sub("", text).upper()
    if len(value) > _MAX_VALUE_LENGTH:
        return _Check(value, f"length: a Peppol identifier value is at most {_MAX_VALUE_LENGTH} characters")
    found = "".join(dict.fromkeys(char for char in value if not char.isascii()))
    if found:
        return _Check(value, f"format: a Peppol identifier value must be ASCII, found {found!r}")
    return _Check(value, None)


_SCHEME_CHECKS: Mapping[str, Callable[[str], _Check]] = {
    "0208": _be_enterprise,
    "0088": _gln,
    "0106": _fixed_digits(8, "KVK number", {12: " (12-digit numbers are branch numbers, scheme 0217)"}),
    "0190": _fixed_digits(20, "OIN"),
    "0060": _fixed_digits(9, "DUNS number"),
    "0009": lambda text: _stdnum_check(fr_siret, _compact(text), "SIRET"),
    "0002": _siren_or_siret,
    "0199": _lei,
    "0184": _dk_cvr,
    "0192": _no_orgnr,
    "0007": _se_orgnr,
    "0216": _fi_ovt,
    "0211": _it_iva,
    "0210": _it_codice_fiscale,
    "0204": _leitweg,
    "0151": lambda text: _stdnum_check(au_abn, _compact(text), "AU ABN"),
    "0183": _ch_uid,
    "0191": lambda text: _stdnum_check(ee_registrikood, _compact(text), "EE registrikood"),
    "9959": lambda text: _stdnum_check(us_ein, _strip_prefix(_compact(text), "US"), "US EIN"),
    "9918": _iban,
    "0188": lambda text: _stdnum_check(jp_cn, _compact(text), "JP corporate number"),
    "0221": _jp_invoice_issuer,
    "0196": lambda text: _stdnum_check(is_kennitala, _compact(text), "IS kennitala"),
}

# VAT numbers of these countries become the scheme's own value (see VAT_COUNTRY_SCHEMES).
_DERIVED_VAT_CHECKS: Mapping[str, Callable[[str], _Check]] = {
    "DK": _dk_cvr,
    "FI": _fi_ovt,
    "IT": _it_iva,
    "NO": _no_orgnr,
    "SE": _se_orgnr,
}


def _vat_check(text: str, country_hint: str | None, expected_country: str | None) -> tuple[str | None, _Check]:
    """A VAT number -> (scheme, check). The scheme follows the country prefix."""
    trailing = _TRAILING_COUNTRY.fullmatch(text)
    if trailing:
        text = trailing.group(2) + trailing.group(1)
    number = _compact(text)
    country: str | None
    if re.match(r"[A-Z]{2}", number):
        country, body = number[:2], number[2:]
        country = "EL" if country == "GR" else country
    else:
        body = number
        # Repair a missing prefix: the scheme's country, else the party's country, else BE for a 9/10-digit
        # number (the old 9-digit and the current 10-digit Belgian forms,
        # docs/reference/identifiers.md#belgian-enterprise-number).
        country = expected_country or _country_code(country_hint)
        if country is None and re.fullmatch(r"[0-9]{9,10}", number):
            country = "BE"
        if country is None:
            return None, _Check(number, "format: VAT number has no country prefix and no country hint")
    scheme = VAT_COUNTRY_SCHEMES.get(country)
    if expected_country is not None and country != expected_country:
        expected_scheme = VAT_COUNTRY_SCHEMES[expected_country]
        return expected_scheme, _Check(
            country + body, f"scheme: {expected_scheme} is for {expected_country} VAT numbers, got {country}"
        )
    if country == "BE":
        check = _be_enterprise(body)
        return scheme, _Check(f"BE{check.value}", check.reason)
    if country in _DERIVED_VAT_CHECKS:
        return scheme, _DERIVED_VAT_CHECKS[country](country + body)
    if country == "CH":
        return scheme, _ch_uid(country + body)
    label = f"{country} VAT number"
    if country.lower() in eu_vat.MEMBER_STATES or country in ("EL", "EU"):
        check = _stdnum_check(eu_vat, country + body, label)
        value = check.value or ""
        # eu.vat returns GR... when given GR...; we already rewrote the prefix, this keeps EL if it ever doesn't.
        return scheme, _Check("EL" + value[2:] if value.startswith("GR") else value, check.reason)
    if get_cc_module(country.lower(), "vat") is not None:
        return scheme, _stdnum_check(vatin, country + body, label)
    if country in _FORMAT_ONLY_VAT_COUNTRIES:
        if re.fullmatch(r"[A-Z0-9]{2,20}", body):
            return scheme, _Check(country + body, None)
        return scheme, _Check(country + body, f"format: {label} must be 2-20 letters or digits")
    return scheme, _Check(country + body, f"component: unknown VAT country prefix {country}")


def _scheme_check(scheme: str, text: str, country_hint: str | None) -> tuple[str | None, _Check]:
    if scheme == VAT_BY_COUNTRY:
        return _vat_check(text, country_hint, None)
    if scheme in _VAT_SCHEME_COUNTRIES:
        return _vat_check(text, country_hint, _VAT_SCHEME_COUNTRIES[scheme])
    if scheme in _SCHEME_CHECKS:
        return scheme, _SCHEME_CHECKS[scheme](text)
    return scheme, _generic(text)


def _scheme_problem(scheme: str) -> str | None:
    checked = scheme == VAT_BY_COUNTRY or scheme in _VAT_SCHEME_COUNTRIES or scheme in _SCHEME_CHECKS
    if checked or scheme in _KNOWN_SCHEMES:
        return None
    return f"scheme: {scheme} is not a known Peppol participant identifier scheme"


def _type_key(identifier_type: str | None) -> str:
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", identifier_type or "")).strip().upper()


def _join(*reasons: str | None) -> str | None:
    present = [reason for reason in reasons if reason]
    return "; ".join(present) if present else None


# VAT numbers may come with a 0208 / derived-scheme prefix without contradicting their type.
_VAT_COMPATIBLE_SCHEMES = frozenset(_VAT_SCHEME_COUNTRIES) | _DERIVED_VAT_SCHEMES | {"0208", VAT_BY_COUNTRY}


def _identifier(
    raw_text: str, source: str, text: str, scheme: str | None, check: _Check, problems: list[str]
) -> PartyIdentifier:
    # Digits other than 0-9 fail every check with some format reason; the reason that says so replaces it
    # (docs/reference/identifiers.md#ascii-digits). Scheme problems are kept.
    foreign = _foreign_digits(text)
    why = _join(*problems, _foreign_digits_reason(foreign) if foreign else check.reason)
    return PartyIdentifier(raw_text, source, scheme, check.value, why is None, why)


def _normalise(
    raw: object, source: str, type_key: str, scheme_hint: str | None, country_hint: str | None
) -> PartyIdentifier:
    raw_text = "" if raw is None else str(raw)
    text, prefix_scheme = _unwrap(raw_text)
    if not text:
        return PartyIdentifier(raw_text, source, None, None, False, "empty identifier")

    hint = (scheme_hint or "").strip()
    hint_scheme = _current_scheme(hint) if re.fullmatch(r"[0-9]{4}", hint) else None
    explicit = _current_scheme(prefix_scheme) if prefix_scheme else hint_scheme
    conflicts: list[str] = []
    if _foreign_digits(hint):
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
    elif type_key in _NON_PEPPOL_CHECKS:
        # Not a Peppol participant id: no scheme; checked with stdnum where a module exists.
        spec = _NON_PEPPOL_CHECKS[type_key]
        check = _Check(text, None) if spec is None else _stdnum_check(spec[0], text, spec[1])
        return _identifier(raw_text, source, text, None, check, conflicts)
    else:
        conflicts.append(
            f"scheme: unknown IdentifierType {source!r}" if type_key else "scheme: no IdentifierType or scheme"
        )
        return _identifier(raw_text, source, text, None, _generic(text), conflicts)

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
    """All identifiers of a Billit Party: `VATNumber` first, then every `Identifiers[]` entry.

    The party's `CountryCode` is the country hint. A missing or blank `VATNumber` is absent, not invalid; an
    `Identifiers[]` entry is always kept, even when empty or malformed. Identical (scheme, value) pairs are
    reported once, the first occurrence winning; empty entries (no value) are never merged.
    """
    country = party.get("CountryCode")
    country_hint = country if isinstance(country, str) else None
    found: list[PartyIdentifier] = []

    vat_number = party.get("VATNumber")
    if vat_number is not None and str(vat_number).strip():
        found.append(normalise_vat_number(str(vat_number), country_hint=country_hint))

    for entry in party.get("Identifiers") or []:
        if not isinstance(entry, Mapping):
            found.append(PartyIdentifier(str(entry), "unknown", None, None, False, "malformed Identifiers entry"))
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

    seen: set[tuple[str | None, str | None]] = set()
    unique: list[PartyIdentifier] = []
    for identifier in found:
        key = (identifier.scheme, identifier.value)
        if identifier.value is None or key not in seen:
            seen.add(key)
            unique.append(identifier)
    return unique
