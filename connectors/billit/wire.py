"""Billit's wire format: tolerant JSON parsing with exact decimals, and JSON encoding of request bodies.

Billit sometimes serves JSON as `text/plain` and answers a create with a bare integer, so bodies are parsed from
their text whatever the Content-Type says (docs/reference/billit-api.md#errors, #creating-orders). Numbers with a
fraction become `Decimal`, never float: money stays exact from the wire to the warehouse.

A body that is not JSON is described (kind and size), never quoted: a BILLIT_BASE_URL pointing at a web site
answers a whole HTML page, and an error message must stay one line.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.billit.errors import BillitErrorDetail, BillitProtocolError
from connectors.billit.members import canonical_members

_DECIMAL_MARK = "\u0000dec:"
_DECIMAL_TOKEN = re.compile(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?(?:E[+-]?[0-9]+)?)"')
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,40}/[a-z0-9][a-z0-9.+-]{0,60}")
_TITLE = re.compile(r"<title[^>]*>([^<]*)</title>", re.IGNORECASE)
_NOT_AN_API = "not JSON: is BILLIT_BASE_URL a Billit API root?"
SNIPPET_CHARS = 200  # of a body that is not Billit's JSON
DESCRIPTION_CHARS = 500  # of one Billit error Code or Description
JSON_DECODER = json.JSONDecoder(parse_float=Decimal)  # fractions as exact Decimals; strict (see _UNSTORABLE_ESCAPE)


def one_line(text: str, limit: int = SNIPPET_CHARS) -> str:
    """`text` with its whitespace runs collapsed to one space, cut to `limit` characters (with an ellipsis)."""
    collapsed = " ".join(text.split())
    return collapsed if len(collapsed) <= limit else collapsed[: limit - 1] + "…"


def describe_body(text: str, content_type: str | None = None) -> str:
    """What a body is, without quoting it: `an HTML page of 1,234 bytes titled 'Not Found'`."""
    size = f"{len(text.encode('utf-8', 'replace')):,} bytes"
    media = (content_type or "").split(";", 1)[0].strip().lower()
    head = text.lstrip()[:14].lower()
    if media in ("text/html", "application/xhtml+xml") or head.startswith(("<!doctype html", "<html")):
        title = _TITLE.search(text)
        titled = f" titled {one_line(title[1], 80)!r}" if title and title[1].strip() else ""
        return f"an HTML page of {size}{titled}"
    if media.endswith("xml") or head.startswith("<?xml"):
        return f"an XML document of {size}"
    if _MEDIA_TYPE.fullmatch(media):
        return f"{'an' if media[0] in 'aeiou' else 'a'} {media} body of {size}"
    return f"a body of {size}"


def json_kind(value: Any) -> str:
    """What a parsed answer is, for a message that must not quote it: `an empty body or null`, `a JSON array`..."""
    if value is None:
        return "an empty body or null"
    if isinstance(value, dict | list):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    return "a JSON value"


def decode_body(content: bytes, charset: str | None = None) -> str:
    """A body's text. Strict: a byte that does not decode (a name sent in Latin-1, say) is a BillitProtocolError,
    never a silent replacement character in the warehouse (docs/reference/billit-api.md#encoding).

    JSON is UTF-8, with or without a byte-order mark (a UTF-16 or UTF-32 mark names that encoding); a declared
    charset is tried only for a body that is not UTF-8, and only a plain text encoding: decoding UTF-8 as the
    Latin-1 a server wrongly declares would turn `Société` into `SociÃ©tÃ©` without an error.
    """
    encoding = next((name for mark, name in _BYTE_ORDER_MARKS if content.startswith(mark)), "utf-8")
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        failure = exc
    declared = _declared_text_encoding(charset)
    if declared is not None and encoding == "utf-8":
        with contextlib.suppress(UnicodeDecodeError):
            return content.decode(declared)
    byte = content[failure.start : failure.start + 1].hex()
    raise BillitProtocolError(f"the answer is not {failure.encoding} text (byte 0x{byte} at offset {failure.start:,})")


# The UTF-32 marks first: the little-endian one begins with the UTF-16 one.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# What a server may declare besides UTF-8 and be believed: the encodings a Windows or Java stack falls back to,
# each to the codec that reads it. A declared ISO-8859-1 is read as Windows-1252, as browsers do (WHATWG
# Encoding): a Windows stack labels its 1252 text so, and 0x80 is then `€`, not an invisible control character;
# a byte 1252 leaves undefined still fails. Others (utf-7, unicode_escape, ...) can decode into lone surrogates,
# which no Parquet file or database can hold.
_DECLARABLE = {"iso8859-1": "cp1252", "iso8859-15": "iso8859-15", "cp1252": "cp1252"}


def _declared_text_encoding(charset: str | None) -> str | None:
    try:
        name = codecs.lookup(charset).name if charset else None
    except LookupError:  # a charset Python does not know
        return None
    return _DECLARABLE.get(name) if name else None


# A parsed JSON value can hold text no database stores (NUL, a lone surrogate) only through an escape of one in
# the JSON text: the decoder is strict (it refuses raw control characters in strings) and bodies are decoded
# strictly (no codec that `decode_body` uses yields a lone surrogate). Text with a byte-order mark of UTF-16 or
# UTF-32 is not searched as bytes, so it is never vouched for.
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_WIDE_MARKS = tuple(mark for mark, name in _BYTE_ORDER_MARKS if name != "utf-8-sig")
# Python's own scanner (where the C one is missing) reads `\u+000` or `\u0_00` as NUL: then nothing is vouched for.
_C_SCANNER = getattr(json.decoder, "c_scanstring", None) is not None


def may_hold_unstorable_text(content: bytes) -> bool:
    """Whether the value parsed from this body may hold a NUL or a lone surrogate; False is a promise (a byte
    search: ten times cheaper than walking the parsed value for them)."""
    return not _C_SCANNER or content.startswith(_WIDE_MARKS) or _UNSTORABLE_ESCAPE.search(content) is not None


def parse_json(text: str, *, content_type: str | None = None) -> Any:
    """Parse a response body; empty means None. Fractions become Decimal, member names Billit's in any case are
    spelt as this project reads them (`members.canonical_members`)."""
    if not text.strip():
        return None
    try:
        return canonical_members(JSON_DECODER.decode(text))
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python's stack
        described = describe_body(text, content_type)
        if isinstance(exc, json.JSONDecodeError) and text.lstrip()[:1] in ("{", "["):
            # JSON that breaks off (a connection cut mid-answer) or is malformed: the URL is right, the answer not.
            raise BillitProtocolError(
                f"the answer is JSON cut short or malformed ({described}; {exc.msg}: character {exc.pos:,})"
            ) from None
        raise BillitProtocolError(f"the answer is {described}, {_NOT_AN_API}") from None


def _encode_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} to Billit")
        return _DECIMAL_MARK + format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_json(payload: Any) -> bytes:
    """JSON for a request body; Decimals are written as exact JSON numbers (json has no Decimal support)."""
    text = json.dumps(payload, default=_encode_default, ensure_ascii=False, separators=(",", ":"))
    return _DECIMAL_TOKEN.sub(r"\1", text).encode("utf-8")


def parse_error_details(
    text: str, content_type: str | None = None, *, not_an_api_hint: bool = True
) -> tuple[BillitErrorDetail, ...]:
    """Billit's `{"errors": [{"Code", "Description"}]}`, the flat `{"Code", "Description"}`, or plain text.

    Plain text becomes one line of at most 200 characters; an HTML or XML page is described, not quoted (with a
    hint about BILLIT_BASE_URL, unless the page came with a 5xx: a proxy's error page in front of Billit).
    """
    try:
        body = parse_json(text)
    except BillitProtocolError:
        if text.lstrip().startswith("<"):
            hint = _NOT_AN_API if not_an_api_hint else "not JSON"
            return (BillitErrorDetail("UnparsedError", f"{describe_body(text, content_type)}, {hint}"),)
        return (BillitErrorDetail("UnparsedError", one_line(text)),)
    if isinstance(body, dict):
        lowered = {str(key).lower(): value for key, value in body.items()}
        entries = lowered.get("errors")
        if entries is None and ("code" in lowered or "message" in lowered):
            entries = [body]
    elif isinstance(body, list):
        entries = body
    elif body is None:
        return ()
    else:
        return (BillitErrorDetail("UnparsedError", one_line(str(body))),)
    details = []
    for entry in entries or []:
        if isinstance(entry, dict):
            fields = {str(key).lower(): value for key, value in entry.items()}
            code = fields.get("code") or "UnknownError"
            description = fields.get("description") or fields.get("message")
            details.append(
                BillitErrorDetail(
                    one_line(str(code), DESCRIPTION_CHARS),
                    one_line(str(description), DESCRIPTION_CHARS) if description else None,
                )
            )
        else:
            details.append(BillitErrorDetail("UnknownError", one_line(str(entry), DESCRIPTION_CHARS)))
    return tuple(details)


def parse_order_id(body: Any) -> int:
    """POST /v1/orders answers a bare integer; some answer `{"OrderID": n}` or the id as a string."""
    if isinstance(body, dict):
        lowered = {str(key).lower(): value for key, value in body.items()}
        body = lowered.get("orderid")
    if isinstance(body, bool):
        raise BillitProtocolError(f"expected an OrderID, got {body!r}")
    if isinstance(body, int):
        return body
    if isinstance(body, str) and body.strip().isdigit():
        return int(body.strip())
    if body is None:
        raise BillitProtocolError(f"expected an OrderID, got {json_kind(body)}")
    raise BillitProtocolError(f"expected an OrderID, got {str(body)[:200]!r}")


def parse_datetime(text: str) -> datetime:
    """Billit's naive local timestamps (`2024-03-10T15:00:49.72`, up to 7 fraction digits; µs kept)."""
    return datetime.fromisoformat(text)
