"""Load outbound invoices from two CSV files (a spreadsheet export) into the outbound tables.

Columns are the table columns (docs/warehouse.md); empty cells are NULL, dates are ISO (`2026-11-02`), amounts
are read as exact decimals. Rows are upserted on their keys, so loading the same file twice changes nothing;
result columns of rows already pushed are left alone.
"""

from __future__ import annotations

import csv
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables, upsert_rows, write_transaction
from tasks.normalise.orders import PERCENT, QUANTITY

_DATES = {"order_date", "expiry_date", "delivery_date"}
# The columns' NUMERIC types, as the inbound orders check them (tasks/normalise/orders.py).
_DECIMALS = {"quantity": QUANTITY, "unit_price_excl": QUANTITY, "vat_percentage": PERCENT}
_INTEGERS = {"line_number"}
# What `billit-etl push` writes back: a file never sets them (a `status` column could reopen a pushed row).
RESULT_COLUMNS = frozenset({"status", "billit_order_id", "attempts", "idempotency_key", "last_error_code",
                            "last_error", "created_at", "sent_at", "claimed_by", "claimed_at", "updated_at"})
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class OutboundFileError(ValueError):
    """A cell that cannot be read; the message names the file, line and column."""


def _read(path: Path, table: sa.Table) -> list[dict[str, Any]]:
    rows = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or ())
            unknown = [str(column) for column in header if column not in table.c]
            if unknown:
                raise OutboundFileError(f"{path}: columns {', '.join(unknown)} are not columns of {table.name} "
                                        "(docs/warehouse.md lists them)")
            if len(set(header)) != len(header):
                raise OutboundFileError(f"{path}: the header names a column twice")
            results = sorted(RESULT_COLUMNS.intersection(header))
            if results:
                raise OutboundFileError(f"{path}: columns {', '.join(results)} are the push's results, not input "
                                        "(remove them from the file)")
            keys: dict[tuple[Any, ...], int] = {}
            for record in reader:
                line = reader.line_num
                if None in record:  # more cells than the header has columns
                    raise OutboundFileError(f"{path}:{line}: more cells than the header has columns")
                if None in record.values():  # DictReader fills missing cells with None, empty ones with ""
                    raise OutboundFileError(f"{path}:{line}: fewer cells than the header has columns")
                row = {column: _cell(path, line, column, text) for column, text in record.items()}
                key = tuple(row.get(column.name) for column in table.primary_key.columns)
                if None in key:
                    missing = [column.name for column in table.primary_key.columns if row.get(column.name) is None]
                    raise OutboundFileError(f"{path}:{line}: {', '.join(missing)} is empty")
                if key in keys:
                    raise OutboundFileError(f"{path}:{line}: the same key {key} as line {keys[key]}")
                keys[key] = line
                rows.append(row)
    except UnicodeDecodeError:
        raise OutboundFileError(f"{path}: not UTF-8 text (export the CSV as UTF-8)") from None
    except csv.Error as exc:
        raise OutboundFileError(f"{path}: not a readable CSV file ({exc})") from None
    return rows


def _cell(path: Path, line: int, column: str, text: str | None) -> Any:
    value = text.strip() if text else ""
    try:
        if not value:
            return None
        if column in _DATES:
            return date.fromisoformat(value)
        if column in _DECIMALS:
            number, kind = Decimal(value), _DECIMALS[column]
            if not number.is_finite() or abs(number) >= kind.below:
                raise InvalidOperation
            if number != number.quantize(Decimal(1).scaleb(-kind.decimals)):
                raise OutboundFileError(f"{path}:{line}: column {column}: more than {kind.decimals} decimals")
            return number
        if column in _INTEGERS:
            return int(value)
        if _UNSTORABLE.search(value):
            raise OutboundFileError(f"{path}:{line}: column {column}: holds a NUL character")
        return value
    except OutboundFileError:
        raise
    except (ValueError, InvalidOperation):
        raise OutboundFileError(f"{path}:{line}: column {column}: cannot read {value[:40]!r}") from None


def load_outbound_csv(engine: sa.Engine, invoices_csv: Path, lines_csv: Path) -> tuple[int, int]:
    """Upsert the invoices and their lines; returns how many of each were read."""
    tables = reflect_tables(engine)
    invoices = _read(Path(invoices_csv), tables["outbound_invoices"])
    lines = _read(Path(lines_csv), tables["outbound_invoice_lines"])
    with engine.connect() as connection:
        stored = set(connection.execute(sa.select(tables["outbound_invoices"].c.external_id)).scalars())
    known = stored | {row.get("external_id") for row in invoices}
    orphans = sorted({line.get("external_id") for line in lines} - known, key=str)
    if orphans:
        raise OutboundFileError(f"{lines_csv}: lines of invoices in neither {invoices_csv} nor the warehouse: "
                                f"{', '.join(map(str, orphans[:5]))}")
    for row in invoices:
        for column, default in (("order_type", "Invoice"), ("currency", "EUR"), ("customer_country_code", "BE")):
            row[column] = row.get(column) or default
    with write_transaction(engine) as connection:
        upsert_rows(connection, tables["outbound_invoices"], invoices, ["external_id"])
        upsert_rows(connection, tables["outbound_invoice_lines"], lines, ["external_id", "line_number"])
    return len(invoices), len(lines)
