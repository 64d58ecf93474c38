"""The normalised rows of a landed batch, beside its raw orders, so a replay need not normalise again.

`part-00001.parquet` keeps Billit's raw orders (the replay can always re-normalise from them); `rows-00001.arrow`
keeps the rows `load_orders` wrote from exactly those orders: an Arrow IPC file (lz4) of one row holding one
list-of-struct column per warehouse table (`invoices`, `invoice_lines`, ..., `parties`, `party_identifiers`,
`quarantine`, and the orders quarantined whole as `unloaded`), typed as the warehouse columns (NUMERIC as
decimal128, TIMESTAMP as timestamp[us], DATE as date32). Columns naming the run (`first_run_id`, `last_run_id`,
`run_id`) and the stream are left out: a replay fills in its own.

The file's metadata holds a fingerprint of the normaliser (its source, these columns and the VAT settings it
reads): a replay uses the rows only when its own fingerprint matches, and otherwise re-normalises the raw orders.
Deleting the rows files forces that too. A batch whose rows these columns cannot hold exactly is landed raw only.

Until stop 34 the rows were landed as Parquet (`rows-00001.parquet`, the same table), and they are still read.
Arrow's own file format reads in a quarter of the time: opening a Parquet file parses a footer describing 160
nested columns, and its pages are decoded; an IPC file's buffers are only decompressed. Reading was a third of a
replay's CPU time, for files a third larger (bench/README.md#replay).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from tasks.normalise.orders import NormalisedBatch
from tasks.options import VatReturnSettings

I64, I32, TEXT, BOOL, DATE, TIMESTAMP = pa.int64(), pa.int32(), pa.string(), pa.bool_(), pa.date32(), pa.timestamp("us")
MONEY, QUANTITY, PERCENT = pa.decimal128(18, 2), pa.decimal128(18, 5), pa.decimal128(9, 4)


def _all(kind: pa.DataType, names: str) -> list[tuple[str, pa.DataType]]:
    return [(name, kind) for name in names.split()]


# The landed columns of each table, in the warehouse's types (sql/migrations); the run and stream columns are
# the replay's own. A normaliser that writes other columns fails the landing, so the two never drift apart.
TABLES: dict[str, list[tuple[str, pa.DataType]]] = {
    "invoices": [
        ("order_id", I64),
        ("company_id", I64),
        *_all(TEXT, "direction order_type order_number"),
        *_all(DATE, "order_date expiry_date delivery_date period_from period_till"),
        *_all(TIMESTAMP, "created_at last_modified"),
        *_all(TEXT, "last_modified_raw currency"),
        ("fx_rate_to_foreign", QUANTITY),
        *_all(MONEY, "total_excl total_vat total_incl to_pay"),
        ("paid", BOOL),
        ("paid_date", DATE),
        ("order_status", TEXT),
        ("is_sent", BOOL),
        *_all(
            TEXT,
            "reference order_title comments payment_reference payment_method external_provider external_provider_id "
            "about_invoice_number ventilation_code approval_status",
        ),
        ("reminders_sent", I32),
        ("counterparty_party_id", I64),
        *_all(
            TEXT,
            "counterparty_name counterparty_vat_number counterparty_peppol_id counterparty_enterprise_number "
            "delivery_status",
        ),
        ("is_document_delivered", BOOL),
        ("document_delivery_date", TIMESTAMP),
        ("document_delivery_info", TEXT),
        ("document_refused_date", TIMESTAMP),
        *_all(TEXT, "document_refused_reason_code document_refused_info last_response_code"),
        ("is_deleted", BOOL),
        ("deleted_at", TIMESTAMP),
    ],
    "invoice_lines": [
        ("order_id", I64),
        ("line_number", I32),
        ("order_line_id", I64),
        *_all(TEXT, "description description_extended reference unit"),
        ("quantity", QUANTITY),
        ("unit_price_excl", QUANTITY),
        ("reduction_percentage", PERCENT),
        ("vat_percentage", PERCENT),
        ("ventilation_code", TEXT),
        ("vat_category", TEXT),
        ("vat_rate", PERCENT),
        *_all(TEXT, "exemption_reason vatex_code base_grids vat_grids treatment treatment_source treatment_reason"),
        *_all(MONEY, "total_excl total_vat total_incl"),
        ("account_code", TEXT),
    ],
    "invoice_vat_groups": [
        ("order_id", I64),
        ("group_number", I32),
        ("ventilation_code", TEXT),
        ("vat_percentage", PERCENT),
        ("vat_category", TEXT),
        ("vat_rate", PERCENT),
        *_all(TEXT, "exemption_reason vatex_code base_grids vat_grids treatment treatment_source treatment_reason"),
        *_all(MONEY, "total_excl total_vat total_incl"),
        ("taxable_base", MONEY),
        ("financial_reduction_amount", MONEY),
    ],
    "invoice_messages": [
        ("order_id", I64),
        ("message_number", I32),
        *_all(TEXT, "message_direction transport_type destination description"),
        ("response_code", TEXT),
        ("success", BOOL),
        ("trials", I32),
        ("file_id", TEXT),
        ("created_at", TIMESTAMP),
    ],
    "vat_return_entries": [
        ("order_id", I64),
        ("entry_number", I32),
        ("source", TEXT),
        ("source_number", I32),
        *_all(TEXT, "treatment treatment_source grid amount_type"),
        ("is_self_assessed", BOOL),
        ("amount", MONEY),
        ("currency", TEXT),
        ("amount_in_currency", MONEY),
        ("note", TEXT),
    ],
    "vat_return_exceptions": [
        ("order_id", I64),
        ("exception_number", I32),
        ("source", TEXT),
        ("source_number", I32),
        ("treatment", TEXT),
        ("is_reported", BOOL),
        ("reason", TEXT),
        ("currency", TEXT),
        ("base", MONEY),
        ("vat", MONEY),
    ],
    "parties": [
        ("party_id", I64),
        *_all(TEXT, "party_type name display_name vat_number_raw"),
        ("vat_liable", BOOL),
        *_all(TEXT, "enterprise_number peppol_id country_code street street_number box zipcode city email language"),
        ("last_modified", TIMESTAMP),
    ],
    "party_identifiers": [
        ("party_id", I64),
        *_all(TEXT, "source raw scheme value peppol_id"),
        ("is_valid", BOOL),
        ("reason", TEXT),
    ],
    "quarantine": [
        ("order_id", I64),
        *_all(TEXT, "entity entity_key source_version reason payload"),
    ],
    # Orders quarantined whole: pending with the LastModified Billit listed them at.
    "unloaded": [("order_id", I64), ("listed_last_modified", TEXT), ("reason", TEXT)],
}
_DROPPED = {"quarantine": {"run_id", "stream"}, "invoices": {"first_run_id", "last_run_id"}, "parties": {"last_run_id"}}
ROWS_SCHEMA = pa.schema([pa.field(name, pa.list_(pa.struct(columns))) for name, columns in TABLES.items()])
FINGERPRINT_KEY, ORDERS_KEY, CHECKS_KEY = b"billit.normaliser", b"billit.orders", b"billit.checks"
_NORMALISE = Path(__file__).resolve().parents[1] / "normalise"


@cache
def _source_digest() -> str:
    digest = hashlib.sha256(repr(ROWS_SCHEMA).encode())
    for source in sorted(_NORMALISE.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def normaliser_fingerprint() -> str:
    """What the landed rows depend on: the normaliser's source, the landed columns and the settings it reads
    (a replay after changing the import deferral licence must normalise again, docs/bi.md#vat-return)."""
    return f"{_source_digest()[:32]}-licence={int(VatReturnSettings().import_deferral_licence)}"


def rows_path(part: Path) -> Path:
    """`rows-00001.arrow` beside `part-00001.parquet` (not `part-*`: older readers glob those)."""
    return part.with_name(part.name.replace("part-", "rows-", 1)).with_suffix(".arrow")


def _parquet_rows_path(part: Path) -> Path:
    """Where the rows of `part` were landed until stop 34."""
    return part.with_name(part.name.replace("part-", "rows-", 1))


def forget_rows(part: Path) -> None:
    """Delete the rows landed beside `part`, in either format: rows never pair with another part of its name."""
    rows_path(part).unlink(missing_ok=True)
    _parquet_rows_path(part).unlink(missing_ok=True)


class _NotExact(ValueError):
    """A value the landed columns cannot hold exactly: that batch is landed raw only."""


def write_rows(part: Path, orders: Sequence[Any], batch: NormalisedBatch) -> Path | None:
    """Land `batch`, the normalised rows of exactly `orders` (the rows of the raw part `part`), beside it.

    Returns None, landing nothing, when a value does not fit its column exactly or the orders' direction and
    company cannot be recorded (the replay then re-normalises that part)."""
    checks = sorted(
        {(order.get("OrderDirection"), order.get("CompanyID")) for order in orders if isinstance(order, dict)},
        key=repr,
    )
    if any(not isinstance(value, str | int | None) for check in checks for value in check):
        return None
    rows: dict[str, Sequence[Mapping[str, Any]]] = {
        "invoices": batch.invoices,
        "invoice_lines": batch.lines,
        "invoice_vat_groups": batch.vat_groups,
        "invoice_messages": batch.messages,
        "vat_return_entries": batch.vat_return_entries,
        "vat_return_exceptions": batch.vat_return_exceptions,
        "parties": list(batch.parties.values()),
        "party_identifiers": [row for party in batch.parties for row in batch.identifiers.get(party, ())],
        "quarantine": batch.quarantine,
        "unloaded": [
            {"order_id": order_id, "listed_last_modified": _listed_version(orders, order_id), "reason": reason}
            for order_id, reason in batch.unloaded.items()
        ],
    }
    if set(batch.identifiers) != set(batch.parties):
        return None
    try:
        columns = [_table_column(name, rows[name]) for name in TABLES]
    except _NotExact:
        return None
    metadata = {
        FINGERPRINT_KEY: normaliser_fingerprint().encode(),
        ORDERS_KEY: str(len(orders)).encode(),
        CHECKS_KEY: json.dumps(checks).encode(),
    }
    table = pa.Table.from_arrays(columns, schema=ROWS_SCHEMA.with_metadata(metadata))
    path = rows_path(part)
    temporary = path.with_suffix(".arrow.tmp")
    with ipc.new_file(str(temporary), table.schema, options=_LZ4) as writer:
        writer.write_table(table)
    temporary.replace(path)
    return path


_LZ4 = ipc.IpcWriteOptions(compression="lz4")
# One thread: the replay reads in a thread of its own while the writer works, and Arrow's pool took its core.
_ONE_THREAD = ipc.IpcReadOptions(use_threads=False)


def _listed_version(orders: Sequence[Any], order_id: int) -> str:
    # As tasks.inbound.warehouse lists the version of an order quarantined whole.
    return next(
        (
            str(order.get("LastModified") or "")[:40]
            for order in orders
            if isinstance(order, Mapping) and order.get("OrderID") == order_id
        ),
        "",
    )


def _table_column(name: str, rows: Sequence[Mapping[str, Any]]) -> pa.Array:
    columns = TABLES[name]
    expected = {column for column, _ in columns}
    for row in rows[:1]:
        if set(row) - _DROPPED.get(name, set()) != expected:
            raise RuntimeError(f"the normaliser's {name} rows have columns {sorted(row)}: update TABLES in {__name__}")
    names = [column for column, _ in columns]
    values = list(zip(*map(itemgetter(*names), rows), strict=True)) if rows else [()] * len(names)
    arrays = [arrow_array(column_values, kind) for column_values, (_, kind) in zip(values, columns, strict=True)]
    struct = pa.StructArray.from_arrays(arrays, fields=list(ROWS_SCHEMA.field(name).type.value_type))
    return pa.ListArray.from_arrays(_buffer_array(I32, 2, array("i", [0, len(rows)])), struct)


# Arrays are built from their buffers, texts aside (see arrow_array).
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - the warehouse's timestamps are naive
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_MICROSECOND = timedelta(microseconds=1)


def arrow_array(values: Sequence[Any], kind: pa.DataType) -> pa.Array:
    """An Arrow array of `kind` (one of the landed types) from Python values, None for null."""
    count = len(values)
    if pa.types.is_decimal(kind):
        words, validity = _decimal_words(values, kind)
        return _buffer_array(kind, count, words, validity)
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
    return _buffer_array(kind, count, data, validity)


# Scaling never rounds quietly: a value of more digits than this is not exact in any landed column anyway.
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation])


def _decimal_words(values: Sequence[Any], kind: pa.Decimal128Type) -> tuple[array[int], pa.Buffer | None]:
    """The 128-bit little-endian unscaled integers of `values` at `kind`'s scale, as pairs of 64-bit words (every
    landed precision is at most 18 digits, so the high word is the sign). `pyarrow.compute`'s cast would do it, but
    importing it costs the sync ~45 ms and memory per process; a value with more decimals or digits than the
    column holds raises _NotExact (PostgreSQL would round it, SQLite would not). With the validity bitmap, None
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
            raise _NotExact(kind)  # a float (money is never float), a bool, anything else
        try:
            scaled = (value if kind_of_value is Decimal else Decimal(value)).scaleb(scale, _EXACT)
            unscaled = int(scaled)
        except (Inexact, InvalidOperation, OverflowError, ValueError):
            raise _NotExact(kind) from None
        if unscaled != scaled or not -limit < unscaled < limit:
            raise _NotExact(kind)
        append(unscaled)
    words = array("q", bytes(16 * len(values)))
    words[0::2] = array("q", unscaled_values)
    words[1::2] = array("q", [-1 if unscaled < 0 else 0 for unscaled in unscaled_values])
    return words, _bits((value is not None for value in values), len(values)) if nulls else None


def _bits(flags: Any, count: int) -> pa.Buffer:
    bits = int("".join("1" if flag else "0" for flag in flags)[::-1] or "0", 2)
    return pa.py_buffer(bits.to_bytes((count + 7) // 8 or 1, "little"))


def _buffer_array(kind: pa.DataType, count: int, data: Any, validity: pa.Buffer | None = None) -> pa.Array:
    buffer = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    return pa.Array.from_buffers(kind, count, [validity, buffer])


@dataclass
class LandedRows:
    """The normalised rows of one landed part, as Arrow tables (no run or stream columns)."""

    part: Path
    orders: int  # raw rows of the part
    checks: list[dict[str, Any]]  # each distinct (OrderDirection, CompanyID) of its orders
    tables: dict[str, pa.Table] = field(default_factory=dict)


def read_rows(part: Path, fingerprint: str) -> LandedRows | None:
    """The landed rows of raw part `part` when they were written by the normaliser of `fingerprint`
    (`normaliser_fingerprint()`); else None: the replay re-normalises the raw orders."""
    try:
        try:
            with pa.OSFile(str(rows_path(part))) as source:
                table = ipc.open_file(source, options=_ONE_THREAD).read_all()
        except FileNotFoundError:  # landed before stop 34
            table = pq.read_table(_parquet_rows_path(part), use_threads=False)
        metadata = table.schema.metadata or {}
        if (
            metadata.get(FINGERPRINT_KEY, b"").decode() != fingerprint
            or table.schema.remove_metadata() != ROWS_SCHEMA
            or int(metadata[ORDERS_KEY]) != pq.ParquetFile(part).metadata.num_rows
        ):
            return None
        checks = [{"OrderDirection": d, "CompanyID": c} for d, c in json.loads(metadata[CHECKS_KEY])]
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None  # missing or unreadable: the raw part is the record
    rows = LandedRows(part, int(metadata[ORDERS_KEY]), checks)
    for name, columns in TABLES.items():
        values = table.column(name).combine_chunks().values
        rows.tables[name] = pa.Table.from_arrays(values.flatten(), names=[column for column, _ in columns])
    return rows
