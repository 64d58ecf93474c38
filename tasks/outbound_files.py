"""Load outbound invoices from two CSV files (a spreadsheet export) into the outbound tables.

Columns are the table columns (docs/warehouse.md); empty cells are NULL, dates are ISO (`2026-11-02`), amounts
are read as exact decimals. Rows are upserted on their keys, so loading the same file twice changes nothing;
result columns of rows already pushed are left alone.
"""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables, upsert_rows, write_transaction

_DATES = {"order_date", "expiry_date", "delivery_date"}
_DECIMALS = {"quantity", "unit_price_excl", "vat_percentage"}
_INTEGERS = {"line_number"}


class OutboundFileError(ValueError):
    """A cell that cannot be read; the message names the file, line and column."""


def _read(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for line, record in enumerate(csv.DictReader(handle), start=2):
            row: dict[str, Any] = {}
            for column, text in record.items():
                value = text.strip() if text else ""
                try:
                    if not value:
                        row[column] = None
                    elif column in _DATES:
                        row[column] = date.fromisoformat(value)
                    elif column in _DECIMALS:
                        row[column] = Decimal(value)
                    elif column in _INTEGERS:
                        row[column] = int(value)
                    else:
                        row[column] = value
                except (ValueError, InvalidOperation):
                    raise OutboundFileError(f"{path}:{line}: column {column}: cannot read {value!r}") from None
            rows.append(row)
    return rows


def load_outbound_csv(engine: sa.Engine, invoices_csv: Path, lines_csv: Path) -> tuple[int, int]:
    """Upsert the invoices and their lines; returns how many of each were read."""
    invoices, lines = _read(Path(invoices_csv)), _read(Path(lines_csv))
    for row in invoices:
        for column, default in (("order_type", "Invoice"), ("currency", "EUR"), ("customer_country_code", "BE")):
            row[column] = row.get(column) or default
    tables = reflect_tables(engine)
    with write_transaction(engine) as connection:
        upsert_rows(connection, tables["outbound_invoices"], invoices, ["external_id"])
        upsert_rows(connection, tables["outbound_invoice_lines"], lines, ["external_id", "line_number"])
    return len(invoices), len(lines)
