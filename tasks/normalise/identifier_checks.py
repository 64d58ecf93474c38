"""The checks of party identifiers, one per scheme (docs/reference/identifiers.md#schemes): python-stdnum where it
has the scheme, our own format checks where it has none. Each returns a `Check`: the canonical value (best effort
when invalid) and the reason it fails, None when valid. tasks/normalise/identifiers.py dispatches to them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import NamedTuple

from stdnum import ean, iban, lei, numdb
from stdnum.au import abn as au_abn
from stdnum.be import vat as be_vat
from stdnum.ch import uid as ch_uid
from stdnum.de import leitweg as de_leitweg
from stdnum.dk import cvr as dk_cvr
from stdnum.ee import registrikood as ee_registrikood
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

from tasks.normalise.identifier_schemes import MAX_VALUE_LENGTH
from tasks.normalise.identifier_text import (
    WHITESPACE,
    compact,
    foreign_digits,
    foreign_digits_reason,
    is_digits,
    not_digits,
    strip_prefix,
    upper_ascii,
)


class Check(NamedTuple):
    """A check's outcome: the canonical value (best effort when invalid) and why it fails (None: valid)."""

    value: str | None
    reason: str | None


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


def stdnum_check(module: ModuleType, number: str, label: str, canonical: Callable[[str], str] = _same) -> Check:
    found = foreign_digits(number)
    if found:
        # stdnum's clean() turns full-width and mathematical digits into ASCII ones; we do not
        # (docs/reference/identifiers.md#ascii-digits).
        return Check(canonical(number), foreign_digits_reason(found))
    try:
        return Check(canonical(module.validate(number)), None)
    except ValidationError as exc:
        # Our own compacted input, not module.compact(): some modules zero-pad (nl.btw turns 12345678 into
        # 000012345678), which would dress a bad number up as a plausible one.
        return Check(canonical(number), _stdnum_reason(exc, label))


def be_enterprise(text: str) -> Check:
    """0208 / 9925 digits: 10 digits, first 0 or 1, mod 97 (docs/reference/identifiers.md#belgian-enterprise-number)."""
    number = strip_prefix(compact(text), "BE")
    found = not_digits(number)
    if found:
        # Checked before stdnum, whose clean() would turn full-width digits into ASCII ones.
        return Check(number, f"format: BE enterprise number must be 10 digits, found non-digits {found!r}")
    if len(number) == 9:
        # Pre-2003 VAT numbers had 9 digits; the leading 0 does not change the check
        # (docs/reference/identifiers.md#belgian-enterprise-number).
        number = "0" + number
    try:
        return Check(be_vat.validate(number), None)
    except InvalidChecksum:
        return Check(number, "checksum: BE enterprise number mod 97 fails")
    except InvalidLength:
        return Check(number, f"length: BE enterprise number must be 10 digits, got {len(number)}")
    except InvalidComponent:
        # Establishment-unit numbers start with 2-8 and pass the same mod 97, but are not enterprise numbers
        # (docs/reference/identifiers.md#belgian-enterprise-number); stdnum raises InvalidComponent for any
        # first digit other than 0/1.
        if number[0] in "2345678" and be_vat.checksum(number) == 0:
            reason = f"component: establishment unit number (first digit {number[0]}), not a BE enterprise number"
            return Check(number, reason)
        return Check(number, f"component: BE enterprise number must start with 0 or 1, got {number[0]}")
    except ValidationError:
        return Check(number, "format: BE enterprise number must be 10 digits")


def _gln(text: str) -> Check:
    """0088: exactly 13 digits with a GS1 check digit (docs/reference/identifiers.md#gln: "GLN-13 only").

    The check digit is stdnum.ean's; the length is ours, because stdnum.ean also accepts 8/12/14-digit GTINs.
    """
    # A GS1-128 "(414)" application identifier prefix marks a GLN (docs/reference/identifiers.md#gln).
    number = compact(re.sub(r"^\(\s*414\s*\)", "", text))
    if len(number) == 14 and number.startswith("0"):
        # GTIN-14 padding: a leading 0 adds nothing to the weighted sum, so the check digit is unchanged [U].
        number = number[1:]
    found = not_digits(number)
    if found:
        return Check(number, f"format: GLN must be 13 digits, found non-digits {found!r}")
    if len(number) != 13:
        return Check(number, f"length: GLN must be 13 digits, got {len(number)}")
    try:
        return Check(ean.validate(number), None)
    except InvalidChecksum:
        expected = ean.calc_check_digit(number[:12])
        return Check(number, f"checksum: GLN check digit is {number[12]}, expected {expected}")
    except ValidationError as exc:
        return Check(number, _stdnum_reason(exc, "GLN"))


def _fixed_digits(length: int, label: str, notes: Mapping[int, str] | None = None) -> Callable[[str], Check]:
    """Format-only check for schemes without a usable check digit (KVK, DUNS, OIN)."""

    def check(text: str) -> Check:
        number = compact(text)
        found = not_digits(number)
        if found:
            return Check(number, f"format: {label} must be {length} digits, found non-digits {found!r}")
        if len(number) != length:
            note = (notes or {}).get(len(number), "")
            return Check(number, f"length: {label} must be {length} digits, got {len(number)}{note}")
        return Check(number, None)

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


def _iban(text: str) -> Check:
    """9918: an IBAN, checked by stdnum.iban (docs/reference/identifiers.md#iban); canonical upper case, no spaces."""
    number = compact(text)
    found = "".join(dict.fromkeys(char for char in number if not (char.isascii() and char.isalnum())))
    if found:
        return Check(number, f"format: IBAN may only hold letters A-Z and digits 0-9, found {found!r}")
    if not re.match(r"[A-Z]{2}[0-9]{2}", number):
        return Check(number, "format: IBAN must start with a 2-letter country code and 2 check digits")
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
            return Check(number, _iban_fault(exc, number))
        return Check(number, f"checksum: IBAN check digits are {number[2:4]}, expected {expected}")
    except ValidationError as exc:
        return Check(number, _iban_fault(exc, number))
    try:
        # The national account-number rules stdnum knows (BE, ES, ME, NO), e.g. the Belgian account's own mod 97.
        iban.validate(value)
    except InvalidComponent:
        # Belgian bank code missing from stdnum's bank list: a list that lags behind the banks is no proof of a
        # bad IBAN (docs/reference/identifiers.md#iban).
        pass
    except InvalidChecksum:
        return Check(value, f"checksum: the {value[:2]} account number in the IBAN fails its national check digits")
    except ValidationError as exc:
        return Check(value, _stdnum_reason(exc, f"{value[:2]} account number in the IBAN"))
    return Check(value, None)


_LEI_FORMAT = re.compile(r"[A-Z0-9]{18}[0-9]{2}")


def _lei(text: str) -> Check:
    """0199: 20 characters, 18 letters or digits and 2 check digits; stdnum.lei only runs the mod 97-10."""
    number = compact(text)
    if len(number) != 20:
        return Check(number, f"length: LEI must be 20 characters, got {len(number)}")
    if not _LEI_FORMAT.fullmatch(number):
        return Check(number, "format: LEI must be 18 letters or digits followed by 2 check digits")
    return stdnum_check(lei, number, "LEI")


def _jp_invoice_issuer(text: str) -> Check:
    """0221: `T` + the 13-digit corporate number (docs/reference/identifiers.md#other-schemes)."""
    number = strip_prefix(compact(text), "T")
    return stdnum_check(jp_cn, number, "JP corporate number", lambda value: "T" + value)


def _siren_or_siret(text: str) -> Check:
    # 0002 FR:SIRENE takes a SIREN (9) or a SIRET (14) (code list regex `[0-9]{9}([0-9]{5})?`).
    number = compact(text)
    if len(number) == 14:
        return stdnum_check(fr_siret, number, "SIRET")
    return stdnum_check(fr_siren, number, "SIREN")


def _dk_cvr(text: str) -> Check:
    return stdnum_check(dk_cvr, strip_prefix(compact(text), "DK"), "DK CVR number")


def _no_orgnr(text: str) -> Check:
    # The NO VAT form is NO + orgnr + MVA (docs/reference/identifiers.md#vat-numbers); 0192 is the 9-digit orgnr.
    number = strip_prefix(compact(text), "NO")
    number = number[:-3] if number.endswith("MVA") else number
    return stdnum_check(no_orgnr, number, "NO organisation number")


def _se_orgnr(text: str) -> Check:
    # The SE VAT form is SE + orgnr + 01 (docs/reference/identifiers.md#vat-numbers); 0007 is the 10-digit orgnr.
    number = strip_prefix(compact(text), "SE")
    if len(number) == 12 and number.endswith("01"):
        number = number[:10]
    return stdnum_check(se_orgnr, number, "SE organisation number")


def _fi_ovt(text: str) -> Check:
    """0216: `0037` + 8-digit Y-tunnus (no hyphen) + up to 5 characters (docs/reference/identifiers.md#schemes)."""
    number = compact(text)
    if number.startswith("FI"):  # FI VAT = FI + the 8 Y-tunnus digits (docs/reference/identifiers.md#vat-numbers)
        number = "0037" + number[2:]
    elif not re.fullmatch(r"0037[0-9]{8}[A-Z0-9]{0,5}", number) and re.fullmatch(r"[0-9]{8}[A-Z0-9]{0,5}", number):
        number = "0037" + number
    match = re.fullmatch(r"0037([0-9]{8})[A-Z0-9]{0,5}", number)
    if not match:
        return Check(number, "format: FI OVT code must be 0037 + 8-digit Y-tunnus + up to 5 characters")
    return Check(number, stdnum_check(fi_ytunnus, match.group(1), "FI Y-tunnus").reason)


def _it_iva(text: str) -> Check:
    # 0211 values carry the IT prefix (code list regex `IT[0-9]{11}`, docs/reference/identifiers.md#schemes).
    number = strip_prefix(compact(text), "IT")
    return stdnum_check(it_iva, number, "IT partita IVA", lambda value: "IT" + value)


def _it_codice_fiscale(text: str) -> Check:
    # 16 characters for a person, 11 digits (= the partita IVA) for a company (docs/reference/identifiers.md#schemes).
    number = strip_prefix(compact(text), "IT")
    if is_digits(number):
        return stdnum_check(it_iva, number, "IT codice fiscale")
    return stdnum_check(it_codicefiscale, number, "IT codice fiscale")


def _leitweg(text: str) -> Check:
    # The Leitweg-ID keeps its dashes (docs/reference/identifiers.md#schemes); only whitespace goes.
    return stdnum_check(de_leitweg, upper_ascii(WHITESPACE.sub("", text)), "Leitweg-ID")


def swiss_uid(text: str) -> Check:
    # CHE + 9 digits; the MWST/TVA/IVA/TPV suffix of the VAT form only names the tax in a language, so it is
    # dropped and the UID is the canonical value for both 0183 and 9927 [U].
    number = re.sub(r"(MWST|TVA|IVA|TPV)$", "", compact(text))
    return stdnum_check(ch_uid, number, "CH UID")


def generic(text: str) -> Check:
    """Schemes without a check of their own: at most 130 characters, all printable ASCII (see
    docs/reference/identifiers.md#participant-id-values)."""
    value = upper_ascii(WHITESPACE.sub("", text))
    if len(value) > MAX_VALUE_LENGTH:
        return Check(value, f"length: a Peppol identifier value is at most {MAX_VALUE_LENGTH} characters")
    found = "".join(dict.fromkeys(char for char in value if not char.isascii()))
    if found:
        return Check(value, f"format: a Peppol identifier value must be ASCII, found {found!r}")
    if controls := "".join(dict.fromkeys(char for char in value if not char.isprintable())):
        return Check(value, f"format: a Peppol identifier value holds control characters {controls!r}")
    return Check(value, None)


SCHEME_CHECKS: Mapping[str, Callable[[str], Check]] = {
    "0208": be_enterprise,
    "0088": _gln,
    "0106": _fixed_digits(8, "KVK number", {12: " (12-digit numbers are branch numbers, scheme 0217)"}),
    "0190": _fixed_digits(20, "OIN"),
    "0060": _fixed_digits(9, "DUNS number"),
    "0009": lambda text: stdnum_check(fr_siret, compact(text), "SIRET"),
    "0002": _siren_or_siret,
    "0199": _lei,
    "0184": _dk_cvr,
    "0192": _no_orgnr,
    "0007": _se_orgnr,
    "0216": _fi_ovt,
    "0211": _it_iva,
    "0210": _it_codice_fiscale,
    "0204": _leitweg,
    "0151": lambda text: stdnum_check(au_abn, compact(text), "AU ABN"),
    "0183": swiss_uid,
    "0191": lambda text: stdnum_check(ee_registrikood, compact(text), "EE registrikood"),
    "9959": lambda text: stdnum_check(us_ein, strip_prefix(compact(text), "US"), "US EIN"),
    "9918": _iban,
    "0188": lambda text: stdnum_check(jp_cn, compact(text), "JP corporate number"),
    "0221": _jp_invoice_issuer,
    "0196": lambda text: stdnum_check(is_kennitala, compact(text), "IS kennitala"),
}

# VAT numbers of these countries become the scheme's own value (see VAT_COUNTRY_SCHEMES).
DERIVED_VAT_CHECKS: Mapping[str, Callable[[str], Check]] = {
    "DK": _dk_cvr,
    "FI": _fi_ovt,
    "IT": _it_iva,
    "NO": _no_orgnr,
    "SE": _se_orgnr,
}
