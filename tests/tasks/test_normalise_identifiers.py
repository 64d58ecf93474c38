"""Tests for tasks.normalise.identifiers, table by table.

Expected values are written by hand: the facts and examples of docs/reference/identifiers.md (Belgian messy
inputs, python-stdnum results, Peppol code-list examples), examples from Billit's documentation, or numbers
computed here by the independent check-digit helpers below (written from the published rules, not from the code
under test or from python-stdnum).
"""

from __future__ import annotations

import pytest

from tasks.normalise.identifiers import (
    PartyIdentifier,
    normalise_identifier,
    normalise_party_identifiers,
    normalise_vat_number,
)

# --- independent check-digit helpers (from the published rules) -----------------------------------------------


def be_enterprise_ok(n10: str) -> bool:
    return len(n10) == 10 and n10.isdigit() and n10[0] in "01" and (int(n10[:8]) + int(n10[8:])) % 97 == 0


def be_mod97_ok(n10: str) -> bool:
    return (int(n10[:8]) + int(n10[8:])) % 97 == 0


def gs1_check_digit(body: str) -> str:
    s = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - s % 10) % 10)


def luhn_ok(num: str) -> bool:
    s = 0
    for i, d in enumerate(reversed(num)):
        v = int(d) * (2 if i % 2 else 1)
        s += v - 9 if v > 9 else v
    return s % 10 == 0


def iso7064_mod97_10_ok(text: str) -> bool:
    # Leitweg-ID / LEI: letters A=10..Z=35, the whole number mod 97 == 1.
    return int("".join(str(int(c, 36)) for c in text.replace("-", ""))) % 97 == 1


def iban_ok(iban: str) -> bool:
    # ISO 13616: the first 4 characters moved to the end, letters A=10..Z=35, the number mod 97 == 1.
    return iso7064_mod97_10_ok(iban[4:] + iban[:4])


def iban_check_digits(iban: str) -> str:
    return f"{98 - int(''.join(str(int(c, 36)) for c in iban[4:] + iban[:2] + '00')) % 97:02d}"


def be_account_ok(iban: str) -> bool:
    # A Belgian BBAN ends with the first 10 of its digits mod 97 (97 for 0).
    bban = iban[4:]
    return int(bban[10:]) == (int(bban[:10]) % 97 or 97)


def jp_corporate_check_digit(body: str) -> str:
    # 9 - (sum of the 12 digits, weighted 1, 2, 1, ... from the last, mod 9); the check digit comes first.
    return str(9 - sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(body))) % 9)


def kennitala_ok(number: str) -> bool:
    # The 9th digit is 11 - (weighted sum of the first 8, weights 3,2,7,6,5,4,3,2, mod 11).
    check = 11 - sum(w * int(d) for w, d in zip((3, 2, 7, 6, 5, 4, 3, 2), number, strict=False)) % 11
    return check != 10 and number[8] == str(check % 11)


def fr_vat_key(siren: str) -> str:
    return f"{(12 + 3 * (int(siren) % 97)) % 97:02d}"


def wrong_last_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


# --- VAT numbers ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "BE 0123.456.749",
        "be0123456749",
        "Be 123456749",
        "BE0123 456 749",
        "0123-456-749",
        "BE-0123456749",
        "B E0123456749",
        "BE(0)123456749",
        "\xa0BE\xa00123.456.749 ",
        "123456749",
        "123.456.749",
        "0123.456.749",
        "BE\t0123.456.749",
        "BTW BE0123456749",
        "TVA: BE 0123.456.749",
        "VAT BE0123456749",
        "0123456749 BE",
        "9925:be0123456749",
        "9925:BE0123456749",
        "9925:0123456749",
        "iso6523-actorid-upis::9925:be0123456749",
    ],
)
def test_messy_belgian_vat_numbers_become_be_plus_ten_digits_on_scheme_9925(raw: str) -> None:
    # Messy inputs (docs/reference/identifiers.md#cleaning); prefix-less 9925 values occur in the wild.
    assert be_enterprise_ok("0123456749")
    result = normalise_vat_number(raw)
    assert result == PartyIdentifier(raw, "VATNumber", "9925", "BE0123456749", True, None)
    assert result.peppol_id == "9925:BE0123456749"
    assert result.enterprise_number == "0123456749"


@pytest.mark.parametrize("digits", ["1000000021", "0403019261", "0899965307", "0353456320", "0437295202"])
def test_documented_valid_belgian_numbers_pass_including_the_1_series(digits: str) -> None:
    # Valid per docs/reference/identifiers.md#belgian-enterprise-number (1000000021 is the 1-series);
    # 0437295202 is the VAT in Billit's UBL example.
    assert be_enterprise_ok(digits)
    result = normalise_vat_number(digits)
    assert (result.scheme, result.value, result.is_valid, result.reason) == ("9925", f"BE{digits}", True, None)


@pytest.mark.parametrize(
    ("raw", "value", "reason"),
    [
        ("BE0123456789", "BE0123456789", "checksum: BE enterprise number mod 97 fails"),
        ("0123456748", "BE0123456748", "checksum: BE enterprise number mod 97 fails"),
        # Billit's own sample VATNumber (9 digits, fails the checksum): kept with the 0 repaired.
        ("BE043729999", "BE0043729999", "checksum: BE enterprise number mod 97 fails"),
        ("BE01234567490", "BE01234567490", "length: BE enterprise number must be 10 digits, got 11"),
        (
            "2147812701",
            "BE2147812701",
            "component: establishment unit number (first digit 2), not a BE enterprise number",
        ),
    ],
)
def test_invalid_belgian_vat_numbers_are_kept_with_value_and_reason(raw: str, value: str, reason: str) -> None:
    assert not be_enterprise_ok(value[2:])
    result = normalise_vat_number(raw)
    assert result == PartyIdentifier(raw, "VATNumber", "9925", value, False, reason)
    assert result.peppol_id is None
    assert result.enterprise_number is None


def test_an_establishment_unit_number_passes_mod_97_but_is_rejected() -> None:
    # FPS Economy example 2.147.812.701: mod 97 holds, first digit 2 marks an establishment unit
    # (docs/reference/identifiers.md#belgian-enterprise-number).
    assert be_mod97_ok("2147812701")
    result = normalise_identifier("CBE", "2.147.812.701")
    assert (result.scheme, result.value, result.is_valid) == ("0208", "2147812701", False)
    assert result.reason is not None and result.reason.startswith("component: establishment unit")


def test_a_number_starting_with_2_that_fails_mod_97_is_not_called_an_establishment_unit() -> None:
    assert not be_mod97_ok("2123456749")
    result = normalise_identifier("CBE", "2123456749")
    assert not result.is_valid
    assert result.reason == "component: BE enterprise number must start with 0 or 1, got 2"


@pytest.mark.parametrize(
    ("raw", "scheme", "value"),
    [
        # stdnum results and examples (docs/reference/identifiers.md#vat-numbers); the scheme follows Billit's table.
        ("nl 1234.56.782.b01", "9944", "NL123456782B01"),
        ("NL001234527B01", "9944", "NL001234527B01"),
        ("FR 11 123 456 782", "9957", "FR11123456782"),
        ("fr11123456782", "9957", "FR11123456782"),
        ("DE 123 456 788", "9930", "DE123456788"),
        ("DE123,456,788", "9930", "DE123456788"),
        ("ATU 1234 5675", "9914", "ATU12345675"),
        ("LU 123 456 13", "9938", "LU12345613"),
        ("EL094259216", "9933", "EL094259216"),
        # Greek VAT uses EL (BR-CO-09); eu.vat would keep GR, so we rewrite it.
        ("GR094259216", "9933", "EL094259216"),
        ("9944:123456782B01", "9944", "NL123456782B01"),
    ],
)
def test_eu_vat_numbers_get_their_country_scheme_and_canonical_form(raw: str, scheme: str, value: str) -> None:
    result = normalise_vat_number(raw)
    assert (result.scheme, result.value, result.is_valid, result.reason) == (scheme, value, True, None)
    assert result.enterprise_number is None


def test_the_french_vat_key_of_the_example_is_computed_independently() -> None:
    assert fr_vat_key("123456782") == "11"
    assert normalise_vat_number("FR12123456782").reason == "checksum: FR VAT number check digits fail"


@pytest.mark.parametrize(
    ("raw", "scheme", "value"),
    [
        # Billit maps NO VAT to 0192; removed SE 9955 -> 0007, FI 0213 -> 0216, IT 9906 -> 0211
        # (docs/reference/identifiers.md#legacy-schemes); DK VAT digits are the CVR number (0184 accepts DK + 8
        # digits, R042).
        ("NO 123 456 785 MVA", "0192", "123456785"),
        ("SE556123456701", "0007", "5561234567"),
        ("DK 12 34 56 74", "0184", "12345674"),
        ("FI12345671", "0216", "003712345671"),
        ("IT 12345670124", "0211", "IT12345670124"),
        ("CHE-123.456.788 MWST", "9927", "CHE123456788"),
        ("VAT no. NO123456785MVA", "0192", "123456785"),
    ],
)
def test_vat_numbers_of_countries_without_a_live_vat_scheme_map_to_the_current_scheme(
    raw: str, scheme: str, value: str
) -> None:
    result = normalise_vat_number(raw)
    assert (result.scheme, result.value, result.is_valid) == (scheme, value, True)


@pytest.mark.parametrize(
    ("raw", "value", "reason"),
    [
        # These fail their stdnum check.
        ("NL123456783B01", "NL123456783B01", "checksum: NL VAT number check digits fail"),
        ("DE123456789", "DE123456789", "checksum: DE VAT number check digits fail"),
        ("DK12345675", "12345675", "checksum: DK CVR number check digits fail"),
    ],
)
def test_foreign_vat_numbers_with_bad_check_digits_are_invalid(raw: str, value: str, reason: str) -> None:
    result = normalise_vat_number(raw)
    assert (result.value, result.is_valid, result.reason) == (value, False, reason)


def test_a_vat_number_without_prefix_takes_the_country_hint() -> None:
    result = normalise_vat_number("123456782B01", country_hint="NL")
    assert (result.scheme, result.value, result.is_valid) == ("9944", "NL123456782B01", True)


def test_a_greek_country_hint_becomes_the_el_vat_prefix() -> None:
    result = normalise_vat_number("094259216", country_hint="GR")
    assert (result.scheme, result.value, result.is_valid) == ("9933", "EL094259216", True)


def test_a_prefix_in_the_number_wins_over_the_country_hint() -> None:
    result = normalise_vat_number("BE0123456749", country_hint="NL")
    assert (result.scheme, result.value) == ("9925", "BE0123456749")


@pytest.mark.parametrize(
    ("raw", "value", "reason"),
    [
        ("12345678", "12345678", "format: VAT number has no country prefix and no country hint"),
        ("ZZ123", "ZZ123", "component: unknown VAT country prefix ZZ"),
        ("", None, "format: empty identifier"),
        ("   ", None, "format: empty identifier"),
    ],
)
def test_vat_numbers_that_cannot_be_placed_are_kept_invalid(raw: str, value: str | None, reason: str) -> None:
    assert normalise_vat_number(raw) == PartyIdentifier(raw, "VATNumber", None, value, False, reason)


def test_a_scheme_prefix_that_contradicts_the_vat_country_is_invalid() -> None:
    result = normalise_vat_number("9925:NL123456782B01")
    assert (result.scheme, result.value, result.is_valid) == ("9925", "NL123456782B01", False)
    assert result.reason == "scheme: 9925 is for BE VAT numbers, got NL"


# --- other identifiers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier_type", "raw", "scheme_hint", "scheme", "value"),
    [
        ("CBE", "0123.456.749", None, "0208", "0123456749"),
        ("CBE", "BE 0123.456.749", None, "0208", "0123456749"),
        ("CBE", "123456749", None, "0208", "0123456749"),
        ("CBE", "0563846944", "0208", "0208", "0563846944"),  # Billit documentation example
        ("cbe", "1000000021", None, "0208", "1000000021"),
        (None, "iso6523-actorid-upis::0208:0123456749", None, "0208", "0123456749"),
        (None, "0208:0123456749", None, "0208", "0123456749"),
        (None, "9956:0899965307", None, "0208", "0899965307"),  # removed 9956 -> 0208
        ("VAT", "9925:be0123456749", None, "9925", "BE0123456749"),
        ("VAT", "NL123456782B01", "9944", "9944", "NL123456782B01"),
    ],
)
def test_belgian_and_prefixed_identifiers_normalise_to_their_scheme(
    identifier_type: str | None, raw: str, scheme_hint: str | None, scheme: str, value: str
) -> None:
    result = normalise_identifier(identifier_type, raw, scheme_hint=scheme_hint)
    assert (result.scheme, result.value, result.is_valid, result.reason) == (scheme, value, True, None)
    assert result.peppol_id == f"{scheme}:{value}"


def test_cbe_and_belgian_vat_share_the_enterprise_number_join_key() -> None:
    cbe = normalise_identifier("CBE", "0123.456.749")
    vat = normalise_vat_number("BE 0123.456.749")
    assert cbe.enterprise_number == vat.enterprise_number == "0123456749"


def test_billits_failing_ubl_example_enterprise_number_is_invalid() -> None:
    # Billit's UBL example carries 0208 0759529999, which fails the checksum.
    assert not be_enterprise_ok("0759529999")
    result = normalise_identifier("CBE", "0759529999", scheme_hint="0208")
    assert (result.value, result.is_valid, result.reason) == (
        "0759529999",
        False,
        "checksum: BE enterprise number mod 97 fails",
    )


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("5430003732007", "5430003732007"),  # Billit documentation example
        ("541 2345 00001 3", "5412345000013"),  # docs/reference/identifiers.md#gln
        ("5400000000003", "5400000000003"),
        ("1548079098355", "1548079098355"),  # Peppol code-list example
        ("(414)5412345000013", "5412345000013"),  # GS1-128 AI prefix
        ("05412345000013", "5412345000013"),  # GTIN-14 with a padding zero
    ],
)
def test_valid_glns_are_13_digits_with_a_gs1_check_digit(raw: str, value: str) -> None:
    assert gs1_check_digit(value[:12]) == value[12]
    result = normalise_identifier("GLN", raw)
    assert (result.scheme, result.value, result.is_valid, result.reason) == ("0088", value, True, None)


@pytest.mark.parametrize(
    ("raw", "value", "reason"),
    [
        # The reason says what is wrong: which check digit came and which one the other 12 digits call for.
        ("5430003732008", "5430003732008", "checksum: GLN check digit is 8, expected 7"),
        ("5412345000012", "5412345000012", "checksum: GLN check digit is 2, expected 3"),
        ("1548079098356", "1548079098356", "checksum: GLN check digit is 6, expected 5"),
        ("(414)5412345000019", "5412345000019", "checksum: GLN check digit is 9, expected 3"),
        # Which characters are not digits.
        ("54123450000AB", "54123450000AB", "format: GLN must be 13 digits, found non-digits 'AB'"),
        ("5412345-00001-x", "541234500001X", "format: GLN must be 13 digits, found non-digits 'X'"),
        ("GLN: 541_2345_00001_3", "541_2345_00001_3", "format: GLN must be 13 digits, found non-digits '_'"),
        # Lengths stdnum.ean would accept (8, 12, 14 digits) and others.
        ("541234500001", "541234500001", "length: GLN must be 13 digits, got 12"),
        ("54123453", "54123453", "length: GLN must be 13 digits, got 8"),
        ("14145412345000013", "14145412345000013", "length: GLN must be 13 digits, got 17"),
    ],
)
def test_an_invalid_gln_says_what_is_wrong_with_it(raw: str, value: str, reason: str) -> None:
    if reason.startswith("checksum"):
        came, expected = reason.removeprefix("checksum: GLN check digit is ").split(", expected ")
        assert (value[12], gs1_check_digit(value[:12])) == (came, expected)
    result = normalise_identifier("GLN", raw, scheme_hint="0088")
    assert result == PartyIdentifier(raw, "GLN", "0088", value, False, reason)
    assert result.peppol_id is None


@pytest.mark.parametrize(
    ("identifier_type", "raw", "scheme", "value", "reason"),
    [
        # Format-only schemes (docs/reference/identifiers.md#schemes): KVK 8 digits, DUNS 9, OIN 20.
        ("KVK", "KvK 1234 5678", "0106", "12345678", None),
        ("KVK", "01234567", "0106", "01234567", None),
        ("KVK", "1234567", "0106", "1234567", "length: KVK number must be 8 digits, got 7"),
        (
            "KVK",
            "123456780000",
            "0106",
            "123456780000",
            "length: KVK number must be 8 digits, got 12 (12-digit numbers are branch numbers, scheme 0217)",
        ),
        ("DUNS", "81-281-0734", "0060", "812810734", None),
        ("DUNS", "81281073", "0060", "81281073", "length: DUNS number must be 9 digits, got 8"),
        ("OIN", "00000001820029336000", "0190", "00000001820029336000", None),
        ("OIN", "0000000182002933600", "0190", "0000000182002933600", "length: OIN must be 20 digits, got 19"),
    ],
)
def test_format_only_schemes_check_their_length(
    identifier_type: str, raw: str, scheme: str, value: str, reason: str | None
) -> None:
    result = normalise_identifier(identifier_type, raw)
    assert (result.scheme, result.value, result.is_valid, result.reason) == (scheme, value, reason is None, reason)


@pytest.mark.parametrize(
    ("identifier_type", "raw", "scheme", "value"),
    [
        ("SIRET", "84249114400015", "0009", "84249114400015"),  # Billit's Chorus Pro example
        ("SIRET", "78430177200025", "0009", "78430177200025"),  # Peppol code-list example
        ("SIRET", "123 456 782 00010", "0009", "12345678200010"),
        ("SIRENE", "784301772", "0002", "784301772"),
        ("SIRENE", "570501916", "0002", "570501916"),  # Billit documentation example (IdentifierAddress)
        ("SIRENE", "78430177200025", "0002", "78430177200025"),  # 0002 also takes a SIRET
    ],
)
def test_french_siren_and_siret_are_luhn_checked(identifier_type: str, raw: str, scheme: str, value: str) -> None:
    assert luhn_ok(value)
    result = normalise_identifier(identifier_type, raw)
    assert (result.scheme, result.value, result.is_valid) == (scheme, value, True)


def test_a_siret_with_a_wrong_luhn_digit_is_invalid() -> None:
    bad = wrong_last_digit("84249114400015")
    assert not luhn_ok(bad)
    result = normalise_identifier("SIRET", bad)
    assert (result.is_valid, result.reason) == (False, "checksum: SIRET check digits fail")


@pytest.mark.parametrize(
    ("identifier_type", "raw", "scheme_hint", "scheme", "value"),
    [
        ("LEI", "5493001kjtiigc8y1r12", None, "0199", "5493001KJTIIGC8Y1R12"),
        # Billit lists CVR as 9902, removed in Peppol: mapped to 0184 (docs/reference/identifiers.md#legacy-schemes).
        ("CVR", "12345674", "9902", "0184", "12345674"),
        ("DIGST", "24681017", None, "0184", "24681017"),
        ("NOVT", "1234567-1", None, "0216", "003712345671"),
        ("NOVT", "003704944842TST01", None, "0216", "003704944842TST01"),  # code-list example
        (None, "0037:0737546-2", None, "0216", "003707375462"),  # removed 0037 -> 0216
        ("ORGNR", "5564326808", None, "0007", "5564326808"),  # Billit's example
        ("ORGNR", "556123-4567", None, "0007", "5561234567"),
        ("ORG", "745707327", None, "0192", "745707327"),  # code-list example
        ("LEITWEGID", "04011000-1234512345-06", None, "0204", "04011000-1234512345-06"),
        ("LEITWEGID", "991-12345ab-41", None, "0204", "991-12345AB-41"),
        ("ERST", "12345678", None, "0198", "12345678"),  # no check known: kept as given
    ],
)
def test_other_identifier_types_map_to_their_peppol_scheme(
    identifier_type: str | None, raw: str, scheme_hint: str | None, scheme: str, value: str
) -> None:
    result = normalise_identifier(identifier_type, raw, scheme_hint=scheme_hint)
    assert (result.scheme, result.value, result.is_valid, result.reason) == (scheme, value, True, None)


@pytest.mark.parametrize("leitweg", ["04011000-1234512345-06", "991-12345AB-41"])
def test_the_leitweg_examples_pass_an_independent_mod_97_10(leitweg: str) -> None:
    assert iso7064_mod97_10_ok(leitweg)
    assert normalise_identifier("LEITWEGID", leitweg).is_valid


def test_billits_leitweg_example_fails_its_check_digits_and_is_kept() -> None:
    # Billit's documentation gives 13074099-k000-99; its mod 97-10 does not hold.
    assert not iso7064_mod97_10_ok("13074099-K000-99")
    result = normalise_identifier("LEITWEGID", "13074099-k000-99")
    assert result == PartyIdentifier(
        "13074099-k000-99", "LEITWEGID", "0204", "13074099-K000-99", False, "checksum: Leitweg-ID check digits fail"
    )


@pytest.mark.parametrize(
    ("identifier_type", "raw", "scheme_hint", "scheme", "reason"),
    [
        ("GLN", "0208:0123456749", None, "0208", "scheme: 0208 contradicts IdentifierType GLN (0088)"),
        ("CBE", "0123456749", "0088", "0088", "scheme: 0088 contradicts IdentifierType CBE (0208)"),
        (None, "0999:ABC", None, "0999", "scheme: 0999 is not a known Peppol participant identifier scheme"),
        ("FOO", "x", None, None, "scheme: unknown IdentifierType 'FOO'"),
        (None, "abc", None, None, "scheme: no IdentifierType or scheme"),
    ],
)
def test_contradictory_or_unknown_schemes_are_flagged_not_dropped(
    identifier_type: str | None, raw: str, scheme_hint: str | None, scheme: str | None, reason: str
) -> None:
    result = normalise_identifier(identifier_type, raw, scheme_hint=scheme_hint)
    assert (result.raw, result.scheme, result.is_valid) == (raw, scheme, False)
    assert result.reason is not None and result.reason.startswith(reason)
    assert result.value is not None


def test_non_peppol_billit_types_keep_no_scheme() -> None:
    result = normalise_identifier("SDIPEC", " fatture@pec.example.it ")
    assert result == PartyIdentifier(" fatture@pec.example.it ", "SDIPEC", None, "fatture@pec.example.it", True, None)


@pytest.mark.parametrize("raw", ["\x00", "::::", "0208:", "iso6523-actorid-upis::", "-", "BE", "9" * 300])
def test_odd_input_never_raises(raw: str) -> None:
    for identifier_type in (None, "VAT", "CBE", "GLN", "LEITWEGID", "SIRET"):
        assert isinstance(normalise_identifier(identifier_type, raw), PartyIdentifier)
    assert isinstance(normalise_vat_number(raw), PartyIdentifier)


# --- ASCII digits (docs/reference/identifiers.md#ascii-digits) -----------------------------------------------


@pytest.mark.parametrize(
    ("identifier_type", "raw", "scheme", "value", "found"),
    [
        # Arabic-Indic digits: str.isdigit() is true for them, so the format-only schemes and the unchecked ones
        # took them as valid, and stdnum.lei (mod 97-10 through int(c, 36)) did too.
        ("KVK", "١٢٣٤٥٦٧٨", "0106", "١٢٣٤٥٦٧٨", "ARABIC-INDIC digits '١٢٣٤٥٦٧٨'"),
        ("OIN", "٠٠٠٠٠٠٠١٨٢٠٠٢٩٣٣٦٠٠٠", "0190", "٠٠٠٠٠٠٠١٨٢٠٠٢٩٣٣٦٠٠٠", "ARABIC-INDIC digits '٠٠٠٠٠٠٠١٨٢٠٠٢٩٣٣٦٠٠٠'"),
        ("DUNS", "٨١-٢٨١-٠٧٣٤", "0060", "٨١٢٨١٠٧٣٤", "ARABIC-INDIC digits '٨١٢٨١٠٧٣٤'"),
        ("ERST", "١٢٣٤٥٦٧٨", "0198", "١٢٣٤٥٦٧٨", "ARABIC-INDIC digits '١٢٣٤٥٦٧٨'"),
        ("LEI", "٥٤٩٣٠٠١KJTIIGC٨Y١R١٢", "0199", "٥٤٩٣٠٠١KJTIIGC٨Y١R١٢", "ARABIC-INDIC digits '٥٤٩٣٠٠١٨١١٢'"),
        ("GLN", "٥٤٣٠٠٠٣٧٣٢٠٠٧", "0088", "٥٤٣٠٠٠٣٧٣٢٠٠٧", "ARABIC-INDIC digits '٥٤٣٠٠٠٣٧٣٢٠٠٧'"),
        ("VAT", "BE٠١٢٣٤٥٦٧٤٩", "9925", "BE٠١٢٣٤٥٦٧٤٩", "ARABIC-INDIC digits '٠١٢٣٤٥٦٧٤٩'"),
        # Full-width digits: NFKC, and stdnum's own clean step, turned them into ASCII ones.
        ("KVK", "１２３４５６７８", "0106", "１２３４５６７８", "FULLWIDTH digits '１２３４５６７８'"),
        ("CBE", "０１２３.４５６.７４９", "0208", "０１２３４５６７４９", "FULLWIDTH digits '０１２３４５６７４９'"),
        (
            "VAT",
            "be ０１２３ ４５６ ７４９",
            "9925",
            "BE０１２３４５６７４９",
            "FULLWIDTH digits '０１２３４５６７４９'",
        ),
        (
            "VAT",
            "NL１２３４５６７８２B０１",
            "9944",
            "NL１２３４５６７８２B０１",
            "FULLWIDTH digits '１２３４５６７８２０１'",
        ),
        (
            "GLN",
            "５４３０００３７３２００７",
            "0088",
            "５４３０００３７３２００７",
            "FULLWIDTH digits '５４３０００３７３２００７'",
        ),
        (
            "SIRET",
            "８４２４９１１４４０００１５",
            "0009",
            "８４２４９１１４４０００１５",
            "FULLWIDTH digits '８４２４９１１４４０００１５'",
        ),
        (
            "LEITWEGID",
            "０４０１１０００-1234512345-06",
            "0204",
            "０４０１１０００-1234512345-06",
            "FULLWIDTH digits '０４０１１０００'",
        ),
        (None, "9918:BE４８ 0011 2345 6727", "9918", "BE４８001123456727", "FULLWIDTH digits '４８'"),
        # Other scripts and forms, and a single stray digit among ASCII ones.
        ("ORG", "७४५७०७३२७", "0192", "७४५७०७३२७", "DEVANAGARI digits '७४५७०७३२७'"),
        ("DUNS", "𝟖𝟏𝟐𝟖𝟏𝟎𝟕𝟑𝟒", "0060", "𝟖𝟏𝟐𝟖𝟏𝟎𝟕𝟑𝟒", "MATHEMATICAL BOLD digits '𝟖𝟏𝟐𝟖𝟏𝟎𝟕𝟑𝟒'"),
        ("KVK", "1234567⁸", "0106", "1234567⁸", "SUPERSCRIPT digits '⁸'"),
        ("OIN", "0000000182002933600٠", "0190", "0000000182002933600٠", "ARABIC-INDIC digits '٠'"),
        # Not a Peppol id, same rule.
        ("SDICODDEST", "١٢٣٤٥٦٧", None, "١٢٣٤٥٦٧", "ARABIC-INDIC digits '١٢٣٤٥٦٧'"),
    ],
)
def test_identifiers_with_digits_other_than_ascii_0_to_9_are_invalid_with_a_reason_naming_them(
    identifier_type: str | None, raw: str, scheme: str | None, value: str, found: str
) -> None:
    result = normalise_identifier(identifier_type, raw)
    reason = f"format: digits must be ASCII 0-9, found {found}"
    assert result == PartyIdentifier(raw, identifier_type or "unknown", scheme, value, False, reason)
    assert result.peppol_id is None


@pytest.mark.parametrize(
    ("raw", "country_hint", "scheme", "value", "found"),
    [
        ("BE٠١٢٣٤٥٦٧٤٩", None, "9925", "BE٠١٢٣٤٥٦٧٤٩", "ARABIC-INDIC digits '٠١٢٣٤٥٦٧٤٩'"),
        # Without a prefix, a number of 9 or 10 ASCII digits would be taken as Belgian; these are not.
        ("٠١٢٣٤٥٦٧٤٩", None, None, "٠١٢٣٤٥٦٧٤٩", "ARABIC-INDIC digits '٠١٢٣٤٥٦٧٤٩'"),
        (
            "１２３４５６７８２B０１",
            "NL",
            "9944",
            "NL１２３４５６７８２B０１",
            "FULLWIDTH digits '１２３４５６７８２０１'",
        ),
    ],
)
def test_a_vat_number_with_non_ascii_digits_is_invalid(
    raw: str, country_hint: str | None, scheme: str | None, value: str, found: str
) -> None:
    reason = f"format: digits must be ASCII 0-9, found {found}"
    assert normalise_vat_number(raw, country_hint=country_hint) == PartyIdentifier(
        raw, "VATNumber", scheme, value, False, reason
    )


@pytest.mark.parametrize(
    ("identifier_type", "raw", "scheme_hint", "scheme", "reason"),
    [
        ("GLN", "5430003732007", "٠٠٨٨", "0088", "scheme: SchemeID '٠٠٨٨' is not written in ASCII digits"),
        (
            None,
            "٠٢٠٨:0123456749",
            None,
            None,
            "scheme: no IdentifierType or scheme; format: digits must be ASCII 0-9, found ARABIC-INDIC digits '٠٢٠٨'",
        ),
    ],
)
def test_a_scheme_written_in_non_ascii_digits_is_not_taken_as_a_scheme(
    identifier_type: str | None, raw: str, scheme_hint: str | None, scheme: str | None, reason: str
) -> None:
    result = normalise_identifier(identifier_type, raw, scheme_hint=scheme_hint)
    assert (result.scheme, result.is_valid, result.reason) == (scheme, False, reason)


@pytest.mark.parametrize(
    ("identifier_type", "raw", "value", "reason"),
    [
        (None, "0209:414541000099999325412345678901234567890", "414541000099999325412345678901234567890", None),
        # A Cyrillic Ka (U+041A) that looks like K, and a letter with an accent: not US-ASCII, not a Peppol value.
        (
            "ERST",
            "D\u041a12345678",
            "D\u041a12345678",
            "format: a Peppol identifier value must be ASCII, found '\u041a'",
        ),
        ("FRCTC", "école-123", "éCOLE-123", "format: a Peppol identifier value must be ASCII, found 'é'"),
    ],
)
def test_a_value_of_an_unchecked_scheme_must_be_ascii(
    identifier_type: str | None, raw: str, value: str, reason: str | None
) -> None:
    result = normalise_identifier(identifier_type, raw)
    assert (result.value, result.is_valid, result.reason) == (value, reason is None, reason)


# --- IBAN, scheme 9918 (docs/reference/identifiers.md#iban) ---------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "scheme_hint", "value"),
    [
        ("9918:BE48 0011 2345 6727", None, "BE48001123456727"),
        ("IBAN BE71 0961 2345 6769", "9918", "BE71096123456769"),
        ("iso6523-actorid-upis::9918:be48-0011-2345-6727", None, "BE48001123456727"),
        # Valid by every published rule; stdnum's Belgian bank list lacks bank code 539 (our decision: still valid).
        ("9918:BE68 5390 0754 7034", None, "BE68539007547034"),
        ("9918:nl91 abna 0417 1643 00", None, "NL91ABNA0417164300"),
        ("9918:DE89 3704 0044 0532 0130 00", None, "DE89370400440532013000"),
        ("9918:GB82 WEST 1234 5698 7654 32", None, "GB82WEST12345698765432"),
    ],
)
def test_ibans_on_scheme_9918_are_checked_and_compacted(raw: str, scheme_hint: str | None, value: str) -> None:
    assert iban_ok(value)
    result = normalise_identifier(None, raw, scheme_hint=scheme_hint)
    assert (result.scheme, result.value, result.is_valid, result.reason) == ("9918", value, True, None)
    assert result.peppol_id == f"9918:{value}"


@pytest.mark.parametrize(
    ("raw", "value", "reason"),
    [
        # InvalidChecksum: Billit's own sample IBAN, and the textbook one with its last digit changed.
        ("BE13523081289999", "BE13523081289999", "checksum: IBAN check digits are 13, expected 78"),
        ("BE68 5390 0754 7035", "BE68539007547035", "checksum: IBAN check digits are 68, expected 41"),
        # stdnum reports these as checksum failures too, since it tests the check digits first.
        ("BE4800112345672", "BE4800112345672", "length: a BE IBAN has 16 characters, got 15"),
        ("NL91ABNA041716430", "NL91ABNA041716430", "length: a NL IBAN has 18 characters, got 17"),
        ("XX48001123456727", "XX48001123456727", "component: XX is not a country code with IBANs"),
        (
            "BE48A01123456727",
            "BE48A01123456727",
            "format: IBAN does not fit the BE account layout (a letter where a digit belongs, or the other way round)",
        ),
        ("BE48 0011 2345 67#7", "BE480011234567#7", "format: IBAN may only hold letters A-Z and digits 0-9, found '#'"),
        (
            "4800112345672BE",
            "4800112345672BE",
            "format: IBAN must start with a 2-letter country code and 2 check digits",
        ),
        # The IBAN check digits fit, but the Belgian account's own mod 97 (last 2 digits) does not.
        (
            "BE21 0011 2345 6728",
            "BE21001123456728",
            "checksum: the BE account number in the IBAN fails its national check digits",
        ),
    ],
)
def test_an_invalid_iban_is_kept_with_the_reason_stdnum_gives_in_plain_words(raw: str, value: str, reason: str) -> None:
    if reason.startswith("checksum: IBAN"):
        assert not iban_ok(value) and reason.endswith(f"expected {iban_check_digits(value)}")
    if reason.startswith("checksum: the BE account"):
        assert iban_ok(value) and not be_account_ok(value)
    result = normalise_identifier(None, raw, scheme_hint="9918")
    assert result == PartyIdentifier(raw, "unknown", "9918", value, False, reason)


# --- other schemes python-stdnum has a module for ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier_type", "raw", "scheme", "value", "reason"),
    [
        ("LEI", "5493001KJTIIGC8Y1R12", "0199", "5493001KJTIIGC8Y1R12", None),
        # Passes mod 97-10 (all stdnum.lei checks), but an LEI has 20 characters.
        ("LEI", "5493001KJTIIGC8Y164", "0199", "5493001KJTIIGC8Y164", "length: LEI must be 20 characters, got 19"),
        (
            "LEI",
            "5493001KJTIIGC8Y1R1A",
            "0199",
            "5493001KJTIIGC8Y1R1A",
            "format: LEI must be 18 letters or digits followed by 2 check digits",
        ),
        # 0188: the Japanese corporate number, check digit first (Billit type SST).
        ("SST", "5835678256246", "0188", "5835678256246", None),
        ("SST", "5-8356-7825-6246", "0188", "5835678256246", None),
        ("SST", "2835678256246", "0188", "2835678256246", "checksum: JP corporate number check digits fail"),
        # 0221: T + the corporate number.
        (None, "0221:T5835678256246", "0221", "T5835678256246", None),
        (None, "0221:t 5835678256246", "0221", "T5835678256246", None),
        (None, "0221:T2835678256246", "0221", "T2835678256246", "checksum: JP corporate number check digits fail"),
        # 0196: the Icelandic kennitala.
        (None, "0196:450401-3150", "0196", "4504013150", None),
        (None, "0196:4504013140", "0196", "4504013140", "checksum: IS kennitala check digits fail"),
    ],
)
def test_schemes_python_stdnum_knows_are_checked_with_it(
    identifier_type: str | None, raw: str, scheme: str, value: str, reason: str | None
) -> None:
    if identifier_type == "LEI":
        assert iso7064_mod97_10_ok(value) == (reason is None or reason.startswith("length"))
    if scheme in ("0188", "0221"):
        digits = value.removeprefix("T")
        assert (jp_corporate_check_digit(digits[1:]) == digits[0]) == (reason is None)
    if scheme == "0196":
        assert kennitala_ok(value) == (reason is None)
    result = normalise_identifier(identifier_type, raw)
    assert (result.scheme, result.value, result.is_valid, result.reason) == (scheme, value, reason is None, reason)


# --- whole parties --------------------------------------------------------------------------------------------


def test_a_party_yields_its_vat_number_then_its_identifiers() -> None:
    # The supplier of Billit's cost-invoice example.
    supplier = {
        "CountryCode": "BE",
        "VATNumber": "BE0555000148",
        "Identifiers": [{"IdentifierType": "CBE", "Identifier": "0555000148", "SchemeID": "0208", "Preferred": False}],
    }
    assert be_enterprise_ok("0555000148")
    assert normalise_party_identifiers(supplier) == [
        PartyIdentifier("BE0555000148", "VATNumber", "9925", "BE0555000148", True, None),
        PartyIdentifier("0555000148", "CBE", "0208", "0555000148", True, None),
    ]


def test_identical_scheme_and_value_pairs_are_reported_once() -> None:
    party = {
        "VATNumber": "BE 0123.456.749",
        "Identifiers": [
            {"IdentifierType": "VAT", "Identifier": "be0123456749"},
            {"IdentifierType": "CBE", "Identifier": "0123456749"},
            {"IdentifierType": "CBE", "Identifier": "0123.456.749", "SchemeID": "0208"},
            {"IdentifierType": "GLN", "Identifier": "5430003732007", "SchemeID": "0088"},
        ],
    }
    result = normalise_party_identifiers(party)
    assert [(i.source, i.peppol_id) for i in result] == [
        ("VATNumber", "9925:BE0123456749"),
        ("CBE", "0208:0123456749"),
        ("GLN", "0088:5430003732007"),
    ]


def test_the_party_country_is_the_vat_country_hint() -> None:
    result = normalise_party_identifiers({"VATNumber": "123456782B01", "CountryCode": "NL"})
    assert [(i.scheme, i.value) for i in result] == [("9944", "NL123456782B01")]


def test_a_missing_vat_number_is_absent_but_bad_identifiers_are_kept() -> None:
    party = {
        "VATNumber": "",
        "Identifiers": [
            {"IdentifierType": "CBE", "Identifier": "0759529999"},
            {"IdentifierType": "GLN", "Identifier": None},
            "not-a-dict",
        ],
    }
    result = normalise_party_identifiers(party)
    assert [(i.source, i.is_valid, i.reason) for i in result] == [
        ("CBE", False, "checksum: BE enterprise number mod 97 fails"),
        ("GLN", False, "format: empty identifier"),
        ("unknown", False, "format: malformed Identifiers entry"),
    ]


def test_an_invalid_vat_number_on_a_party_is_kept() -> None:
    result = normalise_party_identifiers({"VATNumber": "BE043729999", "Identifiers": None})
    assert [(i.raw, i.value, i.is_valid) for i in result] == [("BE043729999", "BE0043729999", False)]


def test_a_party_without_identifier_fields_yields_nothing() -> None:
    assert normalise_party_identifiers({"Name": "Private person"}) == []


def test_a_partys_peppol_identifier_is_checked_and_kept_an_invalid_one_flagged() -> None:
    # Found against an independent simulator: the documented Party.PeppolIdentifier was never read, so a wrong one
    # was neither flagged nor stored.
    def found(peppol_identifier: str) -> list[tuple[str, str | None, bool, str | None]]:
        party = {"VATNumber": "BE0719645869", "PeppolIdentifier": peppol_identifier}
        return [(i.source, i.peppol_id, i.is_valid, i.reason) for i in normalise_party_identifiers(party)]

    vat = ("VATNumber", "9925:BE0719645869", True, None)
    assert found("9925:BE0719645870") == [
        vat,
        ("PeppolIdentifier", None, False, "checksum: BE enterprise number mod 97 fails"),
    ]
    assert found("9925:be 0719.645.869") == [vat]  # the VAT number's own id, reported once
    assert found("iso6523-actorid-upis::0208:0719645869") == [vat, ("PeppolIdentifier", "0208:0719645869", True, None)]
    assert found("0719645869") == [vat, ("PeppolIdentifier", None, False, "scheme: no IdentifierType or scheme")]
    assert found("  ") == [vat]


# Found by an outside tester (2026-12-07): each of these either stopped every later sync (a traceback), stored an
# invalid id as a valid Peppol id, or rejected a valid one.


@pytest.mark.parametrize("raw", ["BE" + "9" * 5000, "NL" + "9" * 5000, "x" * 12000])
def test_an_overlong_vat_number_is_flagged_not_a_crash(raw: str) -> None:
    # stdnum read the digits as an int, which Python refuses past 4,300 digits: a ValueError stopped the sync.
    result = normalise_vat_number(raw)
    assert (result.is_valid, result.peppol_id) == (False, None)
    assert result.reason == f"length: a Peppol identifier value is at most 130 characters, got {len(raw)}"


def test_an_overlong_identifier_of_a_checked_scheme_is_flagged() -> None:
    result = normalise_identifier("CBE", "1" * 5000)
    assert (result.scheme, result.is_valid) == ("0208", False)
    assert result.reason is not None and result.reason.startswith("length:")


@pytest.mark.parametrize(
    ("raw", "country", "peppol_id", "reason"),
    [
        # A label written on the word ("VATnr") was read as the VA prefix and passed as a Vatican VAT number.
        ("VATnr BE0403019261", None, "9925:BE0403019261", None),
        ("vatnr BE 0123.456.789", None, None, "checksum: BE enterprise number mod 97 fails"),
        ("BTWnr. BE0403019261", None, "9925:BE0403019261", None),
        ("BANK", None, None, "format: BA VAT number must be 2-20 digits"),
        ("Lidnr 123", None, None, "format: LI VAT number must be 2-20 digits"),
        ("CVR-nr. 12345674", "DK", "0184:12345674", None),
        ("BA123456789012", None, "9924:BA123456789012", None),
        # "no"/"id" before a spaced country prefix is a label too (an outside re-check); not before digits.
        ("VATno BE0403019261", "BE", "9925:BE0403019261", None),
        ("VAT-No BE0403019261", "BE", "9925:BE0403019261", None),
        ("VAT NO 123456785 MVA", None, "0192:123456785", None),
    ],
)
def test_a_label_is_not_read_as_a_country_prefix(
    raw: str, country: str | None, peppol_id: str | None, reason: str | None
) -> None:
    result = normalise_vat_number(raw, country_hint=country)
    assert (result.peppol_id, result.reason) == (peppol_id, reason)


@pytest.mark.parametrize(
    "raw",
    [
        "BE 0123\u2013456\u2013749",  # en dash
        "BE 0123\u2011456\u2011749",  # non-breaking hyphen (NFKC makes it U+2010)
        "BE0123\u200b456749",  # zero-width space
        "BE0123\u00ad456749",  # soft hyphen
        "BE0123\u2060456749",  # word joiner
        "\ufeffBE0123456749",  # byte order mark
    ],
)
def test_unicode_dashes_and_invisible_characters_are_separators(raw: str) -> None:
    result = normalise_vat_number(raw)
    assert (result.peppol_id, result.reason) == ("9925:BE0123456749", None)


@pytest.mark.parametrize(
    ("identifier_type", "raw"),
    [("VAT", "\u0131t12345670124"), ("ERST", "0198:STRA\u00dfE"), ("ERST", "0198:\u0131d12")],
)
def test_upper_case_does_not_turn_other_letters_into_ascii(identifier_type: str, raw: str) -> None:
    # str.upper() turns the dotless ı into I and ß into SS: "ıt12345670124" passed as 0211:IT12345670124.
    result = normalise_identifier(identifier_type, raw)
    assert (result.is_valid, result.peppol_id) == (False, None)


def test_a_control_character_fails_an_unchecked_scheme() -> None:
    result = normalise_identifier("ERST", "0198:A\x01B")
    assert (result.is_valid, result.reason) == (
        False,
        "format: a Peppol identifier value holds control characters '\\x01'",
    )


def test_a_flagged_identifier_is_kept_beside_a_valid_one_of_the_same_value() -> None:
    party = {"VATNumber": "BE0353456320", "Identifiers": [{"IdentifierType": "CBE", "Identifier": "9925:BE0353456320"}]}
    result = normalise_party_identifiers(party)
    assert [(i.source, i.peppol_id, i.is_valid) for i in result] == [
        ("VATNumber", "9925:BE0353456320", True),
        ("CBE", None, False),
    ]
