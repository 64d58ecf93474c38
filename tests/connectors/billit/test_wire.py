"""Tolerant parsing of Billit's bodies and exact encoding of ours."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from connectors.billit.errors import BillitErrorDetail, BillitProtocolError
from connectors.billit.responses import OrderAnswer, http_error
from connectors.billit.settings import SettingsError, load_settings
from connectors.billit.wire import (
    decode_body,
    encode_json,
    may_hold_unstorable_text,
    parse_error_details,
    parse_json,
    parse_order_id,
)
from tasks.normalise.fields import holds_unstorable_text


def test_fractions_are_parsed_as_exact_decimals() -> None:
    body = parse_json('{"TotalIncl": 155.77, "Quantity": 2.00000, "OrderID": 7}')
    assert body == {"TotalIncl": Decimal("155.77"), "Quantity": Decimal("2.00000"), "OrderID": 7}
    assert isinstance(body["OrderID"], int)


@pytest.mark.parametrize(
    ("body", "may_hold"),
    [
        (b'{"Name": "Soci\\u00e9t\\u00e9", "Total": 1.5}', False),
        ('{"Name": "Société"}'.encode(), False),
        (b'{"Name": "a\\u0000b"}', True),
        (b'{"a\\u0000": 1}', True),  # a property name
        (b'{"Name": "a\\ud800b"}', True),
        (b'{"Name": "a\\uDFFFb"}', True),
        (b'{"Name": "\\uD83D\\uDE00"}', True),  # a pair is storable, but the byte search cannot tell: the walk will
        (b'{"Name": "a\\\\u0000"}', True),  # an escaped backslash before u0000: the same
        ("\ufeff{}".encode("utf-16"), True),  # UTF-16 is not searched as bytes
    ],
)
def test_only_a_body_with_an_escape_of_a_nul_or_a_surrogate_may_hold_unstorable_text(
    body: bytes, may_hold: bool
) -> None:
    assert may_hold_unstorable_text(body) is may_hold


def test_a_body_the_byte_search_vouches_for_never_parses_to_unstorable_text() -> None:
    # Every character a JSON text can hold, escaped or raw: when the search says no, the walk agrees.
    characters = ["\x00", "\x01", "a", "é", "\ud800", "\udbff", "\udc00", "\udfff", "\ud83d\ude00", "\uffff", "\\"]
    for first in characters:
        for second in characters:
            value = {first: [first + second, {"k": second}]}
            bodies = [json.dumps(value).encode()]
            if not any("\ud800" <= c <= "\udfff" for c in first + second):
                bodies.append(json.dumps(value, ensure_ascii=False).encode())
            for body in bodies:
                if not may_hold_unstorable_text(body):
                    assert not holds_unstorable_text(parse_json(decode_body(body))), body


def test_an_empty_body_is_none_and_a_non_json_body_is_a_protocol_error() -> None:
    assert parse_json("  ") is None
    with pytest.raises(BillitProtocolError):
        parse_json("<html>gateway</html>")


def test_a_body_is_utf8_first_then_a_declared_plain_charset_and_a_stray_byte_is_an_error_not_a_replacement() -> None:
    text = '{"Name": "Société"}'
    assert decode_body(text.encode()) == text
    assert decode_body(text.encode("utf-8-sig")) == text  # a byte-order mark is not part of the text
    assert decode_body(text.encode("utf-16")) == text  # nor a UTF-16 one, which names the encoding
    assert decode_body(text.encode(), "iso-8859-1") == text  # UTF-8 wrongly declared Latin-1: not SociÃ©tÃ©
    assert decode_body(text.encode("latin-1"), "iso-8859-1") == text
    assert decode_body(text.encode("cp1252"), "windows-1252") == text
    # A Windows stack labels its 1252 text ISO-8859-1: 0x80 is the euro sign, not a C1 control (WHATWG).
    assert decode_body('{"Price": "5 €"}'.encode("cp1252"), "iso-8859-1") == '{"Price": "5 €"}'
    with pytest.raises(BillitProtocolError, match=r"not utf-8 text \(byte 0x81"):
        decode_body(b'{"Name": "\x81"}', "iso-8859-1")  # undefined in 1252: no guess
    assert decode_body(b'{"Name": "x"}', "no-such-charset") == '{"Name": "x"}'
    with pytest.raises(BillitProtocolError, match=r"^the answer is not utf-8 text \(byte 0xe9 at offset 14\)$"):
        decode_body(text.encode("latin-1"))
    # A codec that is not plain text is not believed: unicode_escape would turn "\\ud800" into a lone surrogate.
    with pytest.raises(BillitProtocolError, match=r"not utf-8 text \(byte 0xe9"):
        decode_body(b'{"Name": "Soci\xe9t\xe9 \\ud800"}', "unicode_escape")


def answer(content: bytes, charset: str | None = None) -> OrderAnswer:
    return OrderAnswer(7, content, charset, "application/json", "GET /v1/orders/7", lambda text: text)


def test_a_lenient_read_decodes_what_a_strict_one_can_and_replaces_only_the_bytes_it_cannot() -> None:
    text = '{"OrderID": 7, "IsSent": true, "Name": "Société"}'
    for content, charset in ((text.encode("utf-16"), None), (text.encode("cp1252"), "iso-8859-1")):
        assert answer(content, charset).read_order(replace_bad_bytes=True) == (text, json.loads(text))
    _, order = answer(text.encode("latin-1")).read_order(replace_bad_bytes=True)
    assert order["IsSent"] is True and order["Name"] == "Soci\ufffdt\ufffd"
    with pytest.raises(BillitProtocolError, match=r"^GET /v1/orders/7: the answer is not utf-8 text \(byte 0xe9"):
        answer(text.encode("latin-1")).read_order()


def test_a_body_nested_deeper_than_the_stack_is_a_protocol_error() -> None:
    with pytest.raises(BillitProtocolError, match="not JSON"):
        parse_json("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize(
    ("body", "expected"),
    [("1684998", 1684998), ('{"OrderID": 12}', 12), ('{"orderId": 13}', 13), ('"14"', 14)],
)
def test_a_create_answer_may_be_a_bare_integer_or_an_object(body: str, expected: int) -> None:
    assert parse_order_id(parse_json(body)) == expected


@pytest.mark.parametrize("body", ["true", '{"Id": 1}', '"abc"', "null"])
def test_a_create_answer_without_an_id_is_a_protocol_error(body: str) -> None:
    with pytest.raises(BillitProtocolError):
        parse_order_id(parse_json(body))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{"errors":[{"Code":"InvalidVAtPercentageForTaxCountry_0_","Description":"Invalid VAT percentage"}]}',
            (BillitErrorDetail("InvalidVAtPercentageForTaxCountry_0_", "Invalid VAT percentage"),),
        ),
        (
            '{"Code":"InvalidVatPercentage","Description":"The supplied VAT percentage is invalid."}',
            (BillitErrorDetail("InvalidVatPercentage", "The supplied VAT percentage is invalid."),),
        ),
        ('{"errors":[{"Code":"InvalidAccessToken"}]}', (BillitErrorDetail("InvalidAccessToken"),)),
        ("", ()),
        ("Service Unavailable", (BillitErrorDetail("UnparsedError", "Service Unavailable"),)),
    ],
)
def test_error_bodies_are_read_in_every_documented_shape(text: str, expected: tuple[BillitErrorDetail, ...]) -> None:
    assert parse_error_details(text) == expected


def test_request_bodies_write_decimals_as_exact_json_numbers() -> None:
    payload = {"UnitPriceExcl": Decimal("0.10000"), "Note": 'quote " and \u0000dec:1', "Lines": [Decimal("-20")]}
    encoded = encode_json(payload)
    assert b'"UnitPriceExcl":0.10000' in encoded
    assert json.loads(encoded, parse_float=Decimal) == payload


def test_missing_settings_name_the_environment_variable() -> None:
    without_company = load_settings(api_key="k")  # an accountant's key acts for no one company until asked
    with pytest.raises(SettingsError, match="BILLIT_PARTY_ID"):
        without_company.require_party_id()
    with pytest.raises(SettingsError, match="BILLIT_API_KEY or BILLIT_BEARER_TOKEN"):
        load_settings(party_id=1)
    with pytest.raises(SettingsError, match="BILLIT_MAX_CONCURRENCY"):
        load_settings(party_id=1, api_key="k", max_concurrency=0)


def test_a_party_id_past_32_bits_or_backoff_steps_out_of_order_are_settings_mistakes() -> None:
    # Found by an operator's test: such a PartyID reached the database as an overflow (a raw error, exit 1).
    with pytest.raises(SettingsError, match="BILLIT_PARTY_ID: Input should be less than 2147483648"):
        load_settings(party_id=99999999999999999999999, api_key="k")
    with pytest.raises(SettingsError, match="BILLIT_CONTEXT_PARTY_ID"):
        load_settings(party_id=1, context_party_id=2**31, api_key="k")
    with pytest.raises(SettingsError, match=r"BILLIT_BACKOFF_BASE_S \(5\) is above BILLIT_BACKOFF_MAX_S \(1\)"):
        load_settings(party_id=1, api_key="k", backoff_base_s=5, backoff_max_s=1)
    assert load_settings(party_id=2**31 - 1, api_key="k").party_id == 2**31 - 1


def test_settings_never_show_the_secret() -> None:
    settings = load_settings(party_id=1, api_key="super-secret-key")
    assert "super-secret-key" not in repr(settings) and "super-secret-key" not in str(settings)
    with pytest.raises(SettingsError) as failure:
        load_settings(party_id="x", api_key="super-secret-key")
    assert "super-secret-key" not in str(failure.value)


def test_a_redirect_says_where_it_leads_and_which_setting_to_check() -> None:
    # Found by an operator's test: a base URL answering 301 (http:// where https:// is served) was "HTTP 301: no
    # error details". Redirects are not followed (a POST would come back a GET, the key go elsewhere).
    request = httpx.Request("GET", "http://api.example/v1/orders", headers={"ApiKey": "secret-key"})
    moved = httpx.Response(301, headers={"Location": "https://api.example/v1/orders?key=secret-key"}, request=request)
    error = http_error(moved, "GET", False, lambda text: text.replace("secret-key", "***"))
    assert str(error) == (
        "GET /v1/orders -> HTTP 301: no error details "
        "(redirected to https://api.example/v1/orders?key=***: check BILLIT_BASE_URL (https://?))"
    )
