"""Reading an outbound source file and running its two queries
(docs/warehouse.md#pushing-invoices-from-your-own-tables).

`read_source_file` splits the file into its `invoices` and `lines` queries (each after a `-- name:` marker line,
one SELECT each); `query_source` runs both in one read-only snapshot, wrapped as subqueries, and checks and
converts every row to the type of its outbound column. Nothing is written here: tasks/outbound/journal.py takes
the rows in, tasks/outbound/source.py is the entry point. A file or query that cannot be taken in raises
`OutboundSourceError`: one line naming the file and the problem.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from connectors.warehouse.sqlfiles import STATEMENT_END
from tasks.normalise.fields import UNSTORABLE
from tasks.outbound.cells import RESULT_COLUMNS
from tasks.warehouse_common import driver_message

QUERY_NAMES = ("invoices", "lines")
TABLES = {"invoices": "outbound_invoices", "lines": "outbound_invoice_lines"}
KEYS = {"invoices": ("external_id",), "lines": ("external_id", "line_number")}
#: Written by the push and by the take-in, never by a query.
JOURNAL_COLUMNS = RESULT_COLUMNS | {"changed_after_create", "change_noticed_at", "change_reason"}
#: NOT NULL columns with a default: a NULL from the query means the default, as in a CSV file.
DEFAULTS = {"order_type": "Invoice", "currency": "EUR", "customer_country_code": "BE"}

_MARKER = re.compile(r"^[ \t]*--[ \t]*name[ \t]*:[ \t]*(?P<name>\S*)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_FINAL_SEMICOLON = re.compile(r";[ \t]*(?:--[^\n]*)?\s*\Z")
_REPEATED = re.compile(r"(?P<name>.+):\d+")  # SQLite's name for a subquery's second column of the same name
UNSTORABLE_REASON = "holds a NUL character or a lone surrogate"


class OutboundSourceError(ValueError):
    """A source file or query that cannot be taken in; the message names the file and the problem."""


@dataclass(frozen=True)
class SourceQueries:
    path: Path
    invoices: str
    lines: str


@dataclass
class SourceRows:
    """What the two queries returned, checked and converted to the outbound columns' types."""

    path: Path
    invoice_columns: tuple[str, ...]
    line_columns: tuple[str, ...]
    invoices: dict[str, dict[str, Any]]
    lines: dict[str, list[dict[str, Any]]]

    @property
    def line_count(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


def read_source_file(path: str | Path) -> SourceQueries:
    """The file's two queries; a file that does not hold exactly `invoices` and `lines` is refused."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise OutboundSourceError(f"{path}: no such file (relative paths start in {Path.cwd()})") from None
    except IsADirectoryError:
        raise OutboundSourceError(f"{path}: a directory, not a .sql file") from None
    except UnicodeDecodeError:
        raise OutboundSourceError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise OutboundSourceError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    markers = list(_MARKER.finditer(text))
    expected = "'-- name: invoices' and '-- name: lines'"
    if not markers:
        raise OutboundSourceError(
            f"{path}: no {expected} marker lines (docs/warehouse.md#pushing-invoices-from-your-own-tables)"
        )
    if _code(text[: markers[0].start()]):
        raise OutboundSourceError(f"{path}: SQL before the first '-- name:' line (each query follows its marker)")
    queries: dict[str, str] = {}
    for marker, following in zip(markers, [*markers[1:], None], strict=True):
        name = marker["name"].lower()
        if name not in QUERY_NAMES:
            raise OutboundSourceError(f"{path}: unknown query name {marker['name']!r} (expected {expected})")
        if name in queries:
            raise OutboundSourceError(f"{path}: two queries named {name}")
        body = text[marker.end() : following.start() if following is not None else len(text)]
        queries[name] = _statement(path, name, body)
    missing = [name for name in QUERY_NAMES if name not in queries]
    if missing:
        raise OutboundSourceError(f"{path}: no '-- name: {missing[0]}' query (the file holds two: {expected})")
    return SourceQueries(path, queries["invoices"], queries["lines"])


def _code(text: str) -> str:
    """`text` without blank lines and whole-line comments."""
    return "\n".join(line for line in text.splitlines() if line.strip() and not line.strip().startswith("--"))


def _statement(path: Path, name: str, body: str) -> str:
    if not _code(body):
        raise OutboundSourceError(f"{path}: the {name} query is empty")
    lines = body.strip().splitlines()
    while not lines[-1].strip() or lines[-1].strip().startswith("--"):
        lines.pop()
    statement = _FINAL_SEMICOLON.sub("", "\n".join(lines))
    if STATEMENT_END.search(statement):
        raise OutboundSourceError(f"{path}: the {name} query holds more than one statement (one SELECT per query)")
    return statement


# ---- the queries ------------------------------------------------------------------------------------------


def query_source(engine: sa.Engine, queries: SourceQueries) -> SourceRows:
    """Run both queries in one read-only snapshot and check every row; nothing is written."""
    tables = reflect_tables(engine)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Both queries see the same moment; a query that tries to write is refused by PostgreSQL.
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        invoice_columns, invoice_rows = _run(connection, queries, "invoices", tables["outbound_invoices"])
        line_columns, line_rows = _run(connection, queries, "lines", tables["outbound_invoice_lines"])
        connection.rollback()
    path = queries.path
    invoices: dict[str, dict[str, Any]] = {}
    for row in invoice_rows:
        for column, default in DEFAULTS.items():
            if column in row and row[column] is None:
                row[column] = default
        invoices.setdefault(row["external_id"], row)
    _refuse_repeated(path, "invoices", [row["external_id"] for row in invoice_rows], "external_id")
    _refuse_repeated(
        path, "lines", [(row["external_id"], row["line_number"]) for row in line_rows], "(external_id, line_number)"
    )
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(line_rows, key=lambda row: (row["external_id"], row["line_number"])):
        lines.setdefault(row["external_id"], []).append(row)
    orphans = sorted(set(lines) - set(invoices))
    if orphans:
        raise OutboundSourceError(
            f"{path}: the lines query returns lines of {len(orphans)} invoice(s) the invoices query does not: "
            f"{', '.join(map(repr, orphans[:3]))} (filter both queries alike)"
        )
    return SourceRows(path, tuple(invoice_columns), tuple(line_columns), invoices, lines)


def _run(
    connection: sa.Connection,
    queries: SourceQueries,
    name: str,
    table: sa.Table,
) -> tuple[list[str], list[dict[str, Any]]]:
    path = queries.path
    # As a subquery, the text can only be one SELECT (or WITH ... SELECT): no second statement, no write.
    wrapped = f"SELECT * FROM (\n{getattr(queries, name)}\n) AS source_query"
    if connection.dialect.name == "postgresql":
        wrapped = wrapped.replace("%", "%%")  # psycopg reads % as a placeholder
    try:
        result = connection.exec_driver_sql(wrapped)
        names = list(result.keys())
        records = result.fetchall()
    except sa.exc.DBAPIError as exc:
        raise OutboundSourceError(f"{path}: the {name} query fails: {driver_message(exc)}") from None
    columns = _columns(path, name, names, table)
    rows = []
    for number, record in enumerate(records, start=1):
        row = {}
        for column, value in zip(columns, record, strict=True):
            try:
                row[column] = _value(table.c[column], value)
            except ValueError as exc:
                raise OutboundSourceError(
                    f"{path}: the {name} query, {_where(record, columns, number)}: {column}: {exc}"
                ) from None
        missing = [key for key in KEYS[name] if row[key] is None]
        if missing:
            raise OutboundSourceError(
                f"{path}: the {name} query, {_where(record, columns, number)}: "
                f"{' and '.join(missing)} is empty (it is the key)"
            )
        rows.append(row)
    return columns, rows


def _columns(path: Path, name: str, names: Sequence[str], table: sa.Table) -> list[str]:
    columns = [column.lower() for column in names]
    repeated = {column for column, count in Counter(columns).items() if count > 1}
    repeated |= {
        match["name"] for column in columns if (match := _REPEATED.fullmatch(column)) and match["name"] in columns
    }
    if repeated:
        raise OutboundSourceError(f"{path}: the {name} query returns the column(s) {', '.join(sorted(repeated))} twice")
    missing = [key for key in KEYS[name] if key not in columns]
    if missing:
        raise OutboundSourceError(
            f"{path}: the {name} query returns no {' and '.join(missing)} column (the key: "
            f"alias yours, e.g. doc_id AS {missing[0]})"
        )
    results = sorted(JOURNAL_COLUMNS.intersection(columns))
    if results:
        raise OutboundSourceError(
            f"{path}: the {name} query returns {', '.join(results)}: the push's results, not input (leave them out)"
        )
    unknown = [column for column in columns if column not in table.c]
    if unknown:
        raise OutboundSourceError(
            f"{path}: the {name} query returns {', '.join(unknown)}: not columns of "
            f"{table.name} (docs/warehouse.md lists them; alias yours with AS)"
        )
    return columns


def _where(record: Sequence[Any], columns: Sequence[str], number: int) -> str:
    keys = dict(zip(columns, record, strict=True))
    if keys.get("external_id") is None:
        return f"row {number}"
    where = f"external_id {str(keys['external_id'])[:60]!r}"
    return where + (f" line {keys['line_number']}" if keys.get("line_number") is not None else "")


def _refuse_repeated(path: Path, name: str, keys: list[Any], what: str) -> None:
    repeated = [key for key, count in Counter(keys).items() if count > 1]
    if repeated:
        raise OutboundSourceError(
            f"{path}: the {name} query returns the same {what} more than once: "
            f"{', '.join(map(repr, repeated[:3]))} (it is the key: one row each)"
        )


def _value(column: sa.Column[Any], value: Any) -> Any:
    """`value` as the column's type; ValueError says why it cannot be."""
    return None if value is None else in_column_type(column.type, value, _text)


def in_column_type(kind: sa.types.TypeEngine[Any], value: Any, text: Callable[[Any], Any]) -> Any:
    """A value that is not None as a column of type `kind` holds it, text as `text` reads it; ValueError says why
    it cannot be."""
    if isinstance(kind, sa.Date):
        return read_date(value)
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return read_decimal(value, kind)
    if isinstance(kind, sa.Integer):
        return read_integer(value)
    return text(value)


def read_date(value: Any) -> date:
    if isinstance(value, datetime):
        if value.tzinfo is not None or value.time() != datetime.min.time():
            raise ValueError(
                f"{value.isoformat()} is a date-time (return a date: CAST(... AS DATE), or date(...) on SQLite)"
            )
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return read_date(datetime.fromisoformat(text))
        except ValueError as exc:
            if "date-time" in str(exc):
                raise
    raise ValueError(f"cannot read {str(value)[:40]!r} as a date (a DATE, or ISO text like 2026-11-02)")


def read_decimal(value: Any, kind: sa.Numeric[Any]) -> Decimal:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        # A float comes from SQLite's NUMERIC storage or a float column: its shortest text is the value written.
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"cannot read {str(value)[:40]!r} as a number") from None
    if not number.is_finite():
        raise ValueError(f"{number} is not a finite number")
    scale = kind.scale or 0
    if number != number.quantize(Decimal(1).scaleb(-scale)):
        raise ValueError(f"{number} has more than {scale} decimals (ROUND it in the query)")
    if kind.precision is not None and abs(number) >= Decimal(10) ** (kind.precision - scale):
        raise ValueError(f"{number} is out of range (NUMERIC({kind.precision}, {scale}))")
    return number


def read_integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (Decimal, float)):
        try:
            if value == int(value):
                return int(value)
        except (ValueError, OverflowError):  # NaN, infinity
            pass
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"cannot read {str(value)[:40]!r} as a whole number")


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise ValueError(f"a {type(value).__name__}, not text (CAST it AS TEXT in the query)")
    text = format(value, "f") if isinstance(value, Decimal) else str(value).strip()
    if UNSTORABLE.search(text):
        raise ValueError(UNSTORABLE_REASON)
    return text or None
