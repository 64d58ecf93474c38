"""Load outbound invoices from the two files a finance team has (CSV or XLSX) into the outbound tables.

The csv module and openpyxl, not pandas: every cell reaches the rules below as the file holds it (the CSV text,
or the XLSX cell's own type) with its file, line and column at hand for the message. pandas guesses first: amounts
become floats, and `dayfirst` is only a hint it drops for a date that does not fit (`11/31/2026` becomes 31 November
read month first).

Reading (docs/warehouse.md, "Pushing invoices", shows the same rules to finance teams):

- The header row names table columns (spaces around a name are ignored); result columns are refused. An empty
  header cell is allowed over empty cells only (a spreadsheet's stray column); a row of empty cells is skipped.
- CSV bytes are UTF-8 (a BOM is allowed) when they are valid UTF-8, else Windows-1252 (Latin-1 with €, „ and
  the like); the load says which it used. UTF-16, and bytes Windows-1252 does not define, are refused.
- The CSV delimiter is `;` or `,`: whichever the header line holds (a header holding both is refused).
- Numbers follow the file's convention. A `;` file writes decimals with a comma and may group thousands with a
  point: `1234,56`, `1.234,56`. A `,` file writes decimals with a point and may group with a comma (in quotes):
  `1234.56`, `"1,234.56"`. Either may group with a space (also a non-breaking one); a group is three digits. A
  number whose only separator is one of the other convention's decimal mark (`1.234` in a `;` file, `"1,234"` in
  a `,` file) is refused: its writer may have meant 1.234. No exponents, NaN or Infinity; at most the column's
  decimals and below its limit (tasks/normalise/fields.py), as the inbound orders are held.
- Dates are ISO (`2026-11-02`) or day first with a four-digit year (`02/11/2026`, `2-11-2026`, `02.11.2026`),
  never month first: `11/31/2026` is refused and `11/02/2026` is 11 February.
- XLSX: the first sheet, its first row the header. A number cell is a binary float: it is read as
  `Decimal(repr(x))` rounded to 15 significant digits (what Excel keeps and shows, so `=0.1+0.2` is 0.3), then
  held to the column's rules like any number. A date cell must be a whole day. Refused: a date in a text or number
  column (Excel turned the text into a date), a number in a date column, TRUE/FALSE, an error value (`#N/A`, also
  in a CSV), and a formula without a computed value (a file a script wrote and no spreadsheet saved). A text cell
  is read like a CSV cell, a number in it by either convention when only one reads it or both agree.

Reading one cell is tasks/outbound/cells.py; this module reads the files and takes their rows in.

A file is refused as a whole (`OutboundFileError`: one line naming the file, the line or sheet row, and the
reason) before anything is written: any cell above, a key left empty, a key twice (also two `external_id`s equal
once case and surrounding spaces are ignored, in the file or against a stored row: Billit matches
ExternalProviderID that way, so it would take them for one invoice), and a line of an invoice in neither the
invoices file nor the warehouse.

Loading: every invoice named in either file is taken in whole, its header from the invoices file (as stored when
only lines name it) and its lines from the lines file, which replace the stored ones (an invoice in the invoices
file without lines there ends up without lines, and the push rejects it). The take-in is the one of query
sources (tasks/outbound/journal.py), so both behave alike: a new row is inserted `pending`; a row Billit has no
order for takes the file's values (a changed `rejected` row goes back to `pending`; a row a push run holds right
now is left as it is and counted busy); a row Billit has (`created`, `sent`, or a `billit_order_id`) is never
changed, nor are its lines: when the files differ from it, it is flagged `changed_after_create` with what differs,
and the load reports it (create a credit note in Billit instead).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from openpyxl import load_workbook

from connectors.warehouse import reflect_tables
from tasks.outbound.cells import RESULT_COLUMNS, OutboundFileError, read_cell
from tasks.outbound.journal import TakeIn, take_in
from tasks.outbound.query import DEFAULTS, SourceRows

__all__ = ["RESULT_COLUMNS", "OutboundFileError", "OutboundLoad", "load_outbound_csv", "load_outbound_files"]

_KEYS = {"outbound_invoices": ("external_id",), "outbound_invoice_lines": ("external_id", "line_number")}
_SHOWN = 5


@dataclass(frozen=True)
class _Sheet:
    """The raw cells of one file: CSV text, or XLSX cell values."""

    how: str  # how it was read, for the summary
    unit: str  # "line" (CSV) or "row" (XLSX)
    header: list[str]
    records: Sequence[tuple[int, str, Sequence[Any]]]  # (line or row number, where, cells)
    decimal: str | None  # the CSV convention's decimal mark; None for XLSX text cells (either convention)


@dataclass(frozen=True)
class _Rows:
    how: str
    columns: list[str]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class OutboundLoad:
    """What one load read and did; `attention` holds what the operator must act on (one line each)."""

    read: tuple[str, str]
    invoices: int
    lines: int
    taken: TakeIn

    @property
    def attention(self) -> list[str]:
        """Rows the files could not change: newly flagged ones (Billit has them) and ones a push run holds."""
        notes = []
        flagged = self.taken.flagged
        if flagged:
            shown = ", ".join(f"{row['external_id']} ({row['reason']})" for row in flagged[:_SHOWN])
            more = f" and {len(flagged) - _SHOWN} more" if len(flagged) > _SHOWN else ""
            notes.append(
                f"{len(flagged)} invoice(s) already in Billit changed after it was created: not changed in "
                f"Billit (create a credit note); the warehouse keeps what was pushed: {shown}{more} "
                "(outbound_invoices.changed_after_create, change_reason)"
            )
        if moved := self.taken.company_changed:
            shown = ", ".join(f"{row['external_id']} ({row['reason']})" for row in moved[:_SHOWN])
            more = f" and {len(moved) - _SHOWN} more" if len(moved) > _SHOWN else ""
            notes.append(
                f"{len(moved)} invoice(s) attempted before were not moved to another company_id, and are rejected "
                f"until a person checks the old company: {shown}{more} (outbound_invoices.last_error)"
            )
        if self.taken.busy:
            notes.append(
                f"{self.taken.busy} invoice(s) held by a push run right now were not changed: load the "
                "files again when it has finished"
            )
        return notes

    @property
    def reminder(self) -> str | None:
        """Rows flagged by an earlier load that still differ: said again, not an error (as `push --source`)."""
        still = self.taken.still_changed_after_create
        return (
            (
                f"{still} row(s) flagged changed_after_create earlier still differ from the files: see "
                "outbound_invoices.change_reason"
            )
            if still
            else None
        )


def load_outbound_files(engine: sa.Engine, invoices_file: str | Path, lines_file: str | Path) -> OutboundLoad:
    """Read both files (CSV or XLSX), refuse them whole if any cell or key is wrong, and take the invoices in."""
    tables = reflect_tables(engine)
    table = tables["outbound_invoices"]
    invoices = _read(Path(invoices_file), table)
    lines = _read(Path(lines_file), tables["outbound_invoice_lines"])
    by_id = {row["external_id"]: row for row in invoices.rows}
    for row in invoices.rows:
        for column, default in DEFAULTS.items():
            if column in row and row[column] is None:
                row[column] = default
    with engine.connect() as connection:
        stored = list(connection.execute(sa.select(table.c.external_id)).scalars())
        _refuse_stored_twins(invoices_file, invoices.rows, stored)
        only_lines = sorted({line["external_id"] for line in lines.rows} - set(by_id))
        orphans = sorted(set(only_lines) - set(stored))
        if orphans:
            raise OutboundFileError(
                f"{lines_file}: lines of invoices in neither {invoices_file} nor the warehouse: "
                f"{', '.join(map(str, orphans[:5]))}"
            )
        columns = [table.c[column] for column in invoices.columns]
        for external_id in only_lines:  # taken in with the header as stored
            query = sa.select(*columns).where(table.c.external_id == external_id)
            by_id[external_id] = dict(connection.execute(query).mappings().one())
    grouped: dict[str, list[dict[str, Any]]] = {}
    for line in sorted(lines.rows, key=lambda line: (line["external_id"], line["line_number"])):
        grouped.setdefault(line["external_id"], []).append(line)
    source = SourceRows(Path(invoices_file), tuple(invoices.columns), tuple(lines.columns), by_id, grouped)
    taken = take_in(engine, source)
    return OutboundLoad((invoices.how, lines.how), len(invoices.rows), len(lines.rows), taken)


def load_outbound_csv(engine: sa.Engine, invoices_csv: Path, lines_csv: Path) -> tuple[int, int]:
    """The invoices and lines read by `load_outbound_files` (the demo's call; it loads into a fresh warehouse)."""
    loaded = load_outbound_files(engine, invoices_csv, lines_csv)
    return loaded.invoices, loaded.lines


def _fold(external_id: str) -> str:
    return external_id.strip().casefold()


def _refuse_stored_twins(path: str | Path, rows: list[dict[str, Any]], stored: list[str]) -> None:
    folded: dict[str, list[str]] = {}
    for external_id in stored:
        folded.setdefault(_fold(external_id), []).append(external_id)
    for row in rows:
        twins = [other for other in folded.get(_fold(row["external_id"]), []) if other != row["external_id"]]
        if twins:
            raise OutboundFileError(
                f"{path}: external_id {row['external_id']!r} and {twins[0]!r}, already in outbound_invoices, are one "
                "invoice for Billit (it matches ExternalProviderID ignoring case and spaces): use the stored id"
            )


# ---- the files -------------------------------------------------------------------------------------------


def _read(path: Path, table: sa.Table) -> _Rows:
    sheet = _sheet(path)
    header = sheet.header
    named = [(index, name) for index, name in enumerate(header) if name]
    names = [name for _, name in named]
    unknown = [name for name in names if name not in table.c]
    if unknown:
        raise OutboundFileError(
            f"{path}: columns {', '.join(unknown)} are not columns of {table.name} (docs/warehouse.md lists them)"
        )
    if len(set(names)) != len(names):
        raise OutboundFileError(f"{path}: the header names a column twice")
    results = sorted(RESULT_COLUMNS.intersection(names))
    if results:
        raise OutboundFileError(
            f"{path}: columns {', '.join(results)} are the push's results, not input (remove them from the file)"
        )
    key = _KEYS[table.name]
    missing = [column for column in key if column not in names]
    if missing:
        raise OutboundFileError(f"{path}: no {' and '.join(missing)} column in the header (the key)")
    rows = []
    keys: dict[tuple[Any, ...], int] = {}
    folded: dict[str, tuple[str, int]] = {}
    for number, where, cells in sheet.records:
        if not any(_filled(cell) for cell in cells):
            continue  # an empty line or row
        if len(cells) > len(header) and any(_filled(cell) for cell in cells[len(header) :]):
            raise OutboundFileError(f"{where}: more cells than the header has columns")
        if len(cells) < len(header):
            raise OutboundFileError(f"{where}: fewer cells than the header has columns")
        for index, name in enumerate(header):
            if not name and _filled(cells[index]):
                raise OutboundFileError(f"{where}: a value under a column without a name (column {index + 1})")
        row = {name: read_cell(where, name, cells[index], sheet.decimal) for index, name in named}
        values = tuple(row[column] for column in key)
        if None in values:
            empty = [column for column in key if row[column] is None]
            raise OutboundFileError(f"{where}: {', '.join(empty)} is empty")
        if values in keys:
            raise OutboundFileError(f"{where}: the same key {values} as {sheet.unit} {keys[values]}")
        keys[values] = number
        if table.name == "outbound_invoices":
            external_id = row["external_id"]
            twin = folded.setdefault(_fold(external_id), (external_id, number))
            if twin[0] != external_id:
                raise OutboundFileError(
                    f"{where}: external_id {external_id!r} and {twin[0]!r} on {sheet.unit} {twin[1]} are one invoice "
                    "for Billit (it matches ExternalProviderID ignoring case and spaces)"
                )
        rows.append(row)
    return _Rows(sheet.how, names, rows)


def _filled(cell: Any) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _sheet(path: Path) -> _Sheet:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise OutboundFileError(f"{path}: no such file (relative paths start in {Path.cwd()})") from None
    except IsADirectoryError:
        raise OutboundFileError(f"{path}: a directory, not a CSV or XLSX file") from None
    except OSError as exc:
        raise OutboundFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if data.startswith(b"PK\x03\x04"):
        return _xlsx_sheet(path, data)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise OutboundFileError(f"{path}: an Excel 97-2003 workbook (.xls): save it as .xlsx or as CSV")
    if path.suffix.lower() in (".xlsx", ".xlsm"):  # read as CSV, its first line would be reported as bad columns
        raise OutboundFileError(
            f"{path}: not an XLSX workbook (damaged, or another kind of file): save it again as .xlsx or as CSV"
        )
    return _csv_sheet(path, data)


def _csv_sheet(path: Path, data: bytes) -> _Sheet:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise OutboundFileError(f"{path}: UTF-16 text: save it as CSV (UTF-8, or your system's CSV)")
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        text, encoding = data[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8"), "UTF-8"
    except UnicodeDecodeError as exc:
        if bom:
            raise OutboundFileError(
                f"{path}: starts as UTF-8 but byte {exc.object[exc.start]:#04x} at offset "
                f"{exc.start + 3} is not UTF-8: save it as CSV UTF-8 again"
            ) from None
        try:
            text, encoding = data.decode("cp1252"), "Windows-1252 (not UTF-8)"
        except UnicodeDecodeError as exc:
            raise OutboundFileError(
                f"{path}: neither UTF-8 nor Windows-1252 text (byte {exc.object[exc.start]:#04x} "
                f"at offset {exc.start}): save it as CSV UTF-8"
            ) from None
    if not text.strip():
        raise OutboundFileError(f"{path}: an empty file (the first line is the header)")
    first = text.splitlines()[0]
    delimiters = [mark for mark in ";," if mark in first]
    if len(delimiters) > 1:
        raise OutboundFileError(f"{path}:1: the header holds both ; and , so the delimiter is unclear")
    delimiter = delimiters[0] if delimiters else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records = []
    try:
        header = [name.strip() for name in next(reader)]
        while True:
            start = reader.line_num + 1  # a quoted cell may span lines: name the first
            cells = next(reader, None)
            if cells is None:
                break
            records.append((start, f"{path}:{start}", cells))
    except csv.Error as exc:
        raise OutboundFileError(f"{path}:{reader.line_num}: not readable as CSV ({exc})") from None
    decimal = "," if delimiter == ";" else "."
    return _Sheet(
        f"{path.name}: CSV, delimiter {delimiter!r}, decimal mark {decimal!r}, {encoding}",
        "line",
        header,
        records,
        decimal,
    )


def _xlsx_sheet(path: Path, data: bytes) -> _Sheet:
    try:
        # From bytes: openpyxl refuses a path whose suffix is not .xlsx. The second pass tells a formula Excel never
        # computed (no value) from an empty cell.
        values = load_workbook(io.BytesIO(data), data_only=True).worksheets[0]
        formulas = load_workbook(io.BytesIO(data), data_only=False).worksheets[0]
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a file it cannot read
        raise OutboundFileError(
            f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        ) from None
    bounds = {"min_row": 1, "min_col": 1, "max_col": max(values.max_column, 1)}
    rows = zip(
        values.iter_rows(values_only=True, **bounds), formulas.iter_rows(values_only=True, **bounds), strict=True
    )
    header: list[str] = []
    records = []
    for number, (cells, written) in enumerate(rows, start=1):
        where = f"{path}, sheet {values.title!r}, row {number}"
        for index, (cell, formula) in enumerate(zip(cells, written, strict=True)):
            if cell is None and formula is not None:
                named = header[index] if index < len(header) and header[index] else f"{index + 1}"
                raise OutboundFileError(
                    f"{where}: column {named}: a formula without a computed value (open "
                    "and save the file in a spreadsheet, or write values)"
                )
        if number == 1:
            header = ["" if cell is None else str(cell).strip() for cell in cells]
        else:
            records.append((number, where, cells))
    return _Sheet(f"{path.name}: XLSX, sheet {values.title!r}", "row", header, records, None)
