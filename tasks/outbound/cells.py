"""One cell of an outbound CSV or XLSX file -> the value of its column (docs/warehouse.md, "Pushing invoices").

Numbers follow the file's convention (a `;` file writes decimals with a comma, a `,` file with a point; an XLSX
text cell either, when only one reads it or both agree); an XLSX number cell is read as Excel shows it, to 15
significant digits. Every number is held to its column's decimals and limit (tasks/normalise/fields.py), as the
inbound orders are. Dates are ISO or day first with a four-digit year, never month first. A cell that cannot be
read raises `OutboundFileError` naming where it is; tasks/outbound/files.py reads the files around it.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Context, Decimal
from typing import Any

from openpyxl.cell.cell import ERROR_CODES

from tasks.normalise.fields import BIGINT, INTEGER, PERCENT, QUANTITY, UNSTORABLE

# What `billit-etl push` and the take-in write: a file never sets them (a `status` column could reopen a pushed row).
RESULT_COLUMNS = frozenset(
    {
        "status",
        "billit_order_id",
        "attempts",
        "idempotency_key",
        "last_error_code",
        "last_error",
        "created_at",
        "sent_at",
        "claimed_by",
        "claimed_at",
        "updated_at",
        "changed_after_create",
        "change_noticed_at",
        "change_reason",
    }
)
_DATES = {"order_date", "expiry_date", "delivery_date"}
# The columns' NUMERIC types, as the inbound orders check them (tasks/normalise/fields.py).
_DECIMALS = {"quantity": QUANTITY, "unit_price_excl": QUANTITY, "vat_percentage": PERCENT}
_INTEGERS = {"line_number": INTEGER - 1, "company_id": BIGINT - 1}  # as PostgreSQL's INTEGER and BIGINT hold them
_SPACES = " \u00a0\u202f"  # a space, a non-breaking one and a narrow one (French thousands)
_NUMBER = {
    decimal: re.compile(
        rf"(?P<sign>[+-]?)(?P<whole>[0-9]+(?:[{re.escape(other + _SPACES)}][0-9]+)*)"
        rf"(?:{re.escape(decimal)}(?P<fraction>[0-9]+))?"
    )
    for decimal, other in ((",", "."), (".", ","))
}
_NUMERIC_LOOKING = re.compile(rf"[0-9+\-.,{_SPACES}]+")
_ISO_DATE = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})")
_DAY_FIRST = re.compile(r"(?P<day>[0-9]{1,2})(?P<mark>[/.-])(?P<month>[0-9]{1,2})(?P=mark)(?P<year>[0-9]{4})")
_EXCEL_PRECISION = Context(prec=15)  # Excel keeps 15 significant digits of a number
_TEXT_DIGITS = Decimal("1e15")  # a whole number from a cell with more digits lost some in Excel


class OutboundFileError(ValueError):
    """A file that cannot be loaded; the message names the file (and the line and column) in one line."""


class _Unreadable(ValueError):
    """A cell that cannot be read; the message says why (the caller adds where)."""


class _Ambiguous(_Unreadable):
    """A number that reads differently in the two conventions."""


def read_cell(where: str, column: str, raw: Any, decimal: str | None) -> Any:
    try:
        if isinstance(raw, str) and raw.strip() in ERROR_CODES:
            raise _Unreadable(f"the error value {raw.strip()} (fix the formula)")
        if raw is None or isinstance(raw, str):
            return _from_text(column, (raw or "").strip(), decimal)
        return _from_cell(column, raw)
    except _Unreadable as exc:
        raise OutboundFileError(f"{where}: column {column}: {exc}") from None


def _from_text(column: str, text: str, decimal: str | None) -> Any:
    if not text:
        return None
    if column in _DATES:
        return _date(text)
    if column in _DECIMALS:
        return _held(column, _number(text, decimal) if decimal else _either(text))
    if column in _INTEGERS:
        if not re.fullmatch("[+-]?[0-9]+", text):
            raise _Unreadable(f"cannot read {text[:40]!r} (a whole number)")
        return _whole(column, Decimal(text))
    if UNSTORABLE.search(text):
        raise _Unreadable("holds a NUL character")
    return text


def _from_cell(column: str, value: Any) -> Any:
    """An XLSX cell that is not text: a number, a date or date-time, a time, TRUE/FALSE."""
    if isinstance(value, bool):
        raise _Unreadable(f"{str(value).upper()} is not a value of this column")
    if isinstance(value, (datetime, date)):
        day = value.date() if isinstance(value, datetime) else value
        if column not in _DATES:
            raise _Unreadable(
                f"a date ({day.isoformat()}): Excel turned the text into a date (format the column as "
                "text and type it again)"
            )
        if isinstance(value, datetime) and value.time() != time(0):
            raise _Unreadable(f"{value.isoformat(sep=' ')} has a time of day (a date is a whole day)")
        return day
    if isinstance(value, (time, timedelta)):
        raise _Unreadable(f"a time ({value}), not a {'date' if column in _DATES else 'value'}")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Unreadable(f"cannot read {value!r}")
        number = Decimal(value) if isinstance(value, int) else _EXCEL_PRECISION.create_decimal(repr(value))
        if column in _DATES:
            raise _Unreadable(
                f"a number ({_shown(number)}), not a date (format the cell as a date, or write 2026-11-02)"
            )
        if column in _DECIMALS:
            return _held(column, number)
        if column in _INTEGERS:
            return _whole(column, number)
        if abs(number) >= _TEXT_DIGITS:
            raise _Unreadable(
                f"a number of more than 15 digits ({_shown(number)}): Excel kept only 15 (format the "
                "column as text and type it again)"
            )
        return _shown(number)
    raise _Unreadable(f"cannot read a {type(value).__name__} cell")


def _held(column: str, number: Decimal) -> Decimal:
    """`number` within the column's limit and decimals (the warehouse holds it exactly on both dialects)."""
    kind = _DECIMALS[column]
    if abs(number) >= kind.below:
        raise _Unreadable(f"{_shown(number)} is out of range (below {kind.below:,.0f})")
    step = Decimal(1).scaleb(-kind.decimals)
    if number != number.quantize(step):
        raise _Unreadable(f"{_shown(number)} has more than {kind.decimals} decimals")
    return number.quantize(step)


def _whole(column: str, number: Decimal) -> int:
    if number != number.to_integral_value() or not 1 <= number <= _INTEGERS[column]:
        raise _Unreadable(f"{_shown(number)} is not a whole number from 1 to {_INTEGERS[column]}")
    return int(number)


def _number(text: str, decimal: str) -> Decimal:
    """`text` read in the convention whose decimal mark is `decimal`."""
    other = "." if decimal == "," else ","
    match = _NUMBER[decimal].fullmatch(text)
    groups = re.split(f"[{re.escape(other + _SPACES)}]", match["whole"]) if match else []
    marks = set(re.sub("[0-9]", "", match["whole"])) if match else set()
    if (
        match is None
        or len(groups) > 1
        and (len(marks) > 1 or len(groups[0]) > 3 or any(len(group) != 3 for group in groups[1:]))
    ):
        example = "1234,56 or 1.234,56" if decimal == "," else '1234.56 or "1,234.56"'
        hint = (
            f" (in a {';' if decimal == ',' else ','}-separated file a number is written {example})"
            if _NUMERIC_LOOKING.fullmatch(text)
            else ""
        )
        raise _Unreadable(f"cannot read {text[:40]!r}{hint}")
    if marks == {other} and len(groups) == 2 and match["fraction"] is None:
        raise _Ambiguous(
            f"{text!r} is ambiguous: {''.join(groups)} with a thousands separator, or "
            f"{groups[0]}.{groups[1]} written with a decimal {'point' if other == '.' else 'comma'} "
            f"(write {''.join(groups)} or {groups[0]}{decimal}{groups[1]})"
        )
    return Decimal(f"{match['sign']}{''.join(groups)}.{match['fraction'] or '0'}")


def _either(text: str) -> Decimal:
    """An XLSX text cell: no file convention, so both are tried; read only when they do not disagree."""
    readings, ambiguous = set(), False
    for decimal in (",", "."):
        try:
            readings.add(_number(text, decimal))
        except _Ambiguous:
            ambiguous = True
        except _Unreadable:
            pass
    if ambiguous or len(readings) > 1:
        raise _Ambiguous(
            f"{text!r} is ambiguous in a text cell (is the mark a decimal or a thousands separator?): "
            "enter it as a number"
        )
    if not readings:
        raise _Unreadable(f"cannot read {text[:40]!r}")
    return readings.pop()


def _date(text: str) -> date:
    match = _ISO_DATE.fullmatch(text) or _DAY_FIRST.fullmatch(text)
    if match is None:
        raise _Unreadable(f"cannot read {text[:40]!r} (a date is 2026-11-02, or day first: 02/11/2026)")
    try:
        return date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise _Unreadable(
            f"cannot read {text!r}: no such day (dates are 2026-11-02, or day first: 02/11/2026; never month first)"
        ) from None


def _shown(number: Decimal) -> str:
    return format(number.normalize(), "f") if number.is_finite() else str(number)
