"""The normalised rows of a landed batch, beside its raw orders, so a replay need not normalise again.

`part-00001.parquet` keeps Billit's raw orders (the replay can always re-normalise from them); `rows-00001.arrow`
keeps the rows `load_orders` wrote from exactly those orders: an Arrow IPC file (lz4) of one row holding one
list-of-struct column per warehouse table (`invoices`, `invoice_lines`, ..., `parties`, `party_identifiers`,
`quarantine`, and the orders quarantined whole as `unloaded`), typed as the warehouse columns (NUMERIC as
decimal128, TIMESTAMP as timestamp[us], DATE as date32). Columns naming the run (`first_run_id`, `last_run_id`,
`run_id`) and the stream are left out: a replay fills in its own.

The file's metadata holds a fingerprint of the normaliser (its source, these columns and the VAT settings it
reads) and a digest of the raw part's bytes: a replay uses the rows only when its own fingerprint matches and the
part beside them is the one they were made from (a part copied or edited since, or a rows file paired with another
part of its name, is re-normalised: an outside test found the rows of another part loaded in its place when only
the count of orders was compared). Deleting the rows files forces that too. A batch whose rows these columns
cannot hold exactly is landed raw only.

Until 2026-12-06 the rows were landed as Parquet (`rows-00001.parquet`, the same table; they carry no digest, and
their parts are re-normalised). Arrow's own file format reads in a quarter of the time: opening a Parquet file
parses a footer describing 160 nested columns, and its pages are decoded; an IPC file's buffers are only
decompressed. Reading was a quarter of a replay's CPU time, for files a third larger (bench/README.md#replay).
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from tasks.inbound.arrow_arrays import (
    BOOL,
    DATE,
    I32,
    I64,
    MONEY,
    PERCENT,
    QUANTITY,
    TEXT,
    TIMESTAMP,
    NotExact,
    arrow_array,
    buffer_array,
)
from tasks.normalise.orders import NormalisedBatch, listed_version
from tasks.options import VatReturnSettings


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
PART_KEY = b"billit.part"
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


def part_digest(part: Path) -> str:
    """A digest of the raw part's bytes, which its rows file names (BLAKE2: 2-3 ms for a part of 1,000 orders)."""
    with part.open("rb") as source:
        return hashlib.file_digest(source, "blake2b").hexdigest()[:32]


def _parquet_rows_path(part: Path) -> Path:
    """Where the rows of `part` were landed until 2026-12-06 (Parquet)."""
    return part.with_name(part.name.replace("part-", "rows-", 1))


def forget_rows(part: Path) -> None:
    """Delete the rows landed beside `part`, in either format: rows never pair with another part of its name."""
    rows_path(part).unlink(missing_ok=True)
    _parquet_rows_path(part).unlink(missing_ok=True)


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
            {"order_id": order_id, "listed_last_modified": listed_version(orders, order_id), "reason": reason}
            for order_id, reason in batch.unloaded.items()
        ],
    }
    if set(batch.identifiers) != set(batch.parties):
        return None
    try:
        columns = [_table_column(name, rows[name]) for name in TABLES]
    except NotExact:
        return None
    metadata = {
        FINGERPRINT_KEY: normaliser_fingerprint().encode(),
        ORDERS_KEY: str(len(orders)).encode(),
        CHECKS_KEY: json.dumps(checks).encode(),
        PART_KEY: part_digest(part).encode(),
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
    return pa.ListArray.from_arrays(buffer_array(I32, 2, array("i", [0, len(rows)])), struct)


@dataclass
class LandedRows:
    """The normalised rows of one landed part, as Arrow tables (no run or stream columns)."""

    part: Path
    orders: int  # raw rows of the part
    checks: list[dict[str, Any]]  # each distinct (OrderDirection, CompanyID) of its orders
    tables: dict[str, pa.Table] = field(default_factory=dict)


def read_rows(part: Path, fingerprint: str) -> LandedRows | None:
    """The landed rows of raw part `part` when they were written by the normaliser of `fingerprint`
    (`normaliser_fingerprint()`) for exactly that part; else None: the replay re-normalises the raw orders. A file
    missing, of another normaliser or damaged is None too: the raw part is the record."""
    try:
        table = _rows_table(part, fingerprint)
        if table is None:
            return None
        # Neither format has checksums, and Arrow checks little of what it reads: a damaged file must fail here,
        # not halfway through a write (0.2 ms a part; tests/tasks/test_landing_rows.py flips its bytes).
        table.validate(full=True)
        metadata = table.schema.metadata
        checks = [{"OrderDirection": d, "CompanyID": c} for d, c in json.loads(metadata[CHECKS_KEY])]
        rows = LandedRows(part, int(metadata[ORDERS_KEY]), checks)
        for name, columns in TABLES.items():
            values = table.column(name).combine_chunks().values
            rows.tables[name] = pa.Table.from_arrays(values.flatten(), names=[column for column, _ in columns])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None
    return rows


def _rows_table(part: Path, fingerprint: str) -> pa.Table | None:
    """The rows file of `part` as one table, read only once its schema says that this normaliser wrote it for
    exactly that part (after a change to the normaliser no file is read whole)."""
    with pa.OSFile(str(rows_path(part))) as source:
        reader = ipc.open_file(source, options=_ONE_THREAD)
        return reader.read_all() if _written_for(reader.schema, part, fingerprint) else None


def _written_for(schema: pa.Schema, part: Path, fingerprint: str) -> bool:
    metadata = schema.metadata or {}
    return (
        metadata.get(FINGERPRINT_KEY, b"").decode() == fingerprint
        and schema.remove_metadata() == ROWS_SCHEMA
        and metadata.get(PART_KEY, b"").decode() == part_digest(part)
    )
