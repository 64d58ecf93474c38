"""Python values to Arrow arrays of the landed rows' types, exactly, built from their buffers (texts aside).

`tasks.inbound.landing_rows` lands a batch's normalised rows with these; `tasks.inbound.replay_load` builds its
constant columns with them. A value its column cannot hold exactly (a decimal with more places or digits, a float
where money goes) raises `NotExact`: such a batch is landed raw only.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any

import pyarrow as pa

I64, I32, TEXT, BOOL, DATE, TIMESTAMP = pa.int64(), pa.int32(), pa.string(), pa.bool_(), pa.date32(), pa.timestamp("us")
MONEY, QUANTITY, PERCENT = pa.decimal128(18, 2), pa.decimal128(18, 5), pa.decimal128(9, 4)


class NotExact(ValueError):
    """A value the landed columns cannot hold exactly: that batch is landed raw only."""


# Arrays are built from their buffers, texts aside (see arrow_array).
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - the warehouse's timestamps are naive
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_MICROSECOND = timedelta(microseconds=1)


def arrow_array(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """An Arrow array of `kind` (one of the landed types) from Python values, None for null."""
    count = len(values)
    if pa.types.is_decimal(kind):
        words, validity = _decimal_words(values, kind)
        return buffer_array(kind, count, words, validity)
    if kind == TEXT:
        # In C, 1.5 times faster; only for texts, which it takes as they are. For the other types it is looser or
        # unsafe: it truncates 1.5 into an integer column, shifts an aware datetime to UTC, rounds a decimal 39
        # places finer than its column to zero, and crashes on 0E-10000000. It looks for pandas objects only where
        # numpy is installed, and this project installs neither (tests/tasks/test_landing_rows.py).
        return pa.array(values, type=TEXT)
    validity = _bits((value is not None for value in values), count) if None in values else None
    if kind == BOOL:
        data: Any = _bits((value is True for value in values), count)
    elif kind in (I64, I32):
        data = array("q" if kind == I64 else "i", [value or 0 for value in values])
    elif kind == TIMESTAMP:
        data = array("q", [0 if value is None else (value - _EPOCH) // _MICROSECOND for value in values])
    else:
        data = array("i", [0 if value is None else value.toordinal() - _EPOCH_DAY for value in values])
    return buffer_array(kind, count, data, validity)


# Scaling never rounds quietly: a value of more digits than this is not exact in any landed column anyway.
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation])


def _decimal_words(values: Sequence[Any], kind: pa.Decimal128Type) -> tuple[array[int], pa.Buffer | None]:
    """The 128-bit little-endian unscaled integers of `values` at `kind`'s scale, as pairs of 64-bit words (every
    landed precision is at most 18 digits, so the high word is the sign). `pyarrow.compute`'s cast would do it, but
    importing it costs the sync ~45 ms and memory per process; a value with more decimals or digits than the
    column holds raises NotExact (PostgreSQL would round it, SQLite would not). With the validity bitmap, None
    when no value is null (found here: `None in values` would compare every Decimal with None through the numbers
    ABCs)."""
    scale, limit = kind.scale, 10**kind.precision
    nulls = False
    unscaled_values: list[int] = []
    append = unscaled_values.append
    for value in values:
        if value is None:
            append(0)
            nulls = True
            continue
        kind_of_value = type(value)
        if kind_of_value is not Decimal and kind_of_value is not int:
            raise NotExact(kind)  # a float (money is never float), a bool, anything else
        try:
            scaled = (value if kind_of_value is Decimal else Decimal(value)).scaleb(scale, _EXACT)
            unscaled = int(scaled)
        except (Inexact, InvalidOperation, OverflowError, ValueError):
            raise NotExact(kind) from None
        if unscaled != scaled or not -limit < unscaled < limit:
            raise NotExact(kind)
        append(unscaled)
    words = array("q", bytes(16 * len(values)))
    words[0::2] = array("q", unscaled_values)
    words[1::2] = array("q", [-1 if unscaled < 0 else 0 for unscaled in unscaled_values])
    return words, _bits((value is not None for value in values), len(values)) if nulls else None


def _bits(flags: Any, count: int) -> pa.Buffer:
    bits = int("".join("1" if flag else "0" for flag in flags)[::-1] or "0", 2)
    return pa.py_buffer(bits.to_bytes((count + 7) // 8 or 1, "little"))


def buffer_array(kind: pa.DataType, count: int, data: Any, validity: pa.Buffer | None = None) -> pa.Array:
    buffer = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    return pa.Array.from_buffers(kind, count, [validity, buffer])
