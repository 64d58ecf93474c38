"""Invoices to push from any warehouse query: a .sql file of two named queries, taken into the outbound tables.

The file (docs/warehouse.md#pushing-invoices-from-your-own-tables; `samples/erp_source.sql` is an example) holds
two SELECT statements, each after a marker line; text before the first marker may only be comments::

    -- name: invoices
    SELECT i.doc_id AS external_id, i.doc_date AS order_date, ... FROM erp_sales_invoices i ...;

    -- name: lines
    SELECT l.doc_id AS external_id, l.seq AS line_number, ... FROM erp_invoice_lines l ...;

Their columns are input columns of `outbound_invoices` / `outbound_invoice_lines` (alias yours with AS);
`external_id` is the key, lines also need `line_number`. Both run in one read-only transaction (one snapshot),
wrapped as a subquery (so each is one SELECT and nothing else), and every row is read and checked before anything
is written. Then, in one write transaction, `outbound_invoices` stays the journal of what was pushed:

- a new `external_id` is inserted `pending`, with its lines;
- a row Billit has no order for yet (`pending`, `failed`, `rejected`) takes the source's values and lines; a
  `rejected` row whose values changed goes back to `pending` (the fix is pushed); a row a push run holds right
  now is left for the next take-in;
- a row Billit already has (`created`, `sent`) is never updated: when the source differs from what was pushed it
  is flagged `changed_after_create` with what differs, and the flag clears when they match again;
- a row the source no longer returns is left alone.

A file or query that cannot be taken in raises `OutboundSourceError`: one line naming the file and the problem.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connectors.warehouse import insert_ignoring_duplicates, reflect_tables, replace_children, write_transaction
from tasks.outbound_files import RESULT_COLUMNS
from tasks.warehouse import driver_message

logger = logging.getLogger("billit_pipelines.outbound_source")

QUERY_NAMES = ("invoices", "lines")
TABLES = {"invoices": "outbound_invoices", "lines": "outbound_invoice_lines"}
KEYS = {"invoices": ("external_id",), "lines": ("external_id", "line_number")}
#: Written by the push and by the take-in, never by a query.
JOURNAL_COLUMNS = RESULT_COLUMNS | {"changed_after_create", "change_noticed_at", "change_reason"}
#: NOT NULL columns with a default: a NULL from the query means the default, as in a CSV file.
DEFAULTS = {"order_type": "Invoice", "currency": "EUR", "customer_country_code": "BE"}
NOT_CREATED = ("pending", "failed", "rejected")
#: Rows newly flagged that the summary names (the others are counted).
FLAGGED_SHOWN = 200

_MARKER = re.compile(r"^[ \t]*--[ \t]*name[ \t]*:[ \t]*(?P<name>\S*)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_FINAL_SEMICOLON = re.compile(r";[ \t]*(?:--[^\n]*)?\s*\Z")
_STATEMENT_END = re.compile(r";[ \t]*(?:--[^\n]*)?$", re.MULTILINE)
_REPEATED = re.compile(r"(?P<name>.+):\d+")  # SQLite's name for a subquery's second column of the same name
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CHUNK = 500
_REASONS_SHOWN = 6


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


@dataclass
class TakeIn:
    """Counts of one take-in (of what it would do, in a dry run)."""

    source: str
    dry_run: bool = False
    invoices: int = 0
    lines: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    busy: int = 0
    still_changed_after_create: int = 0
    cleared: int = 0
    flagged: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "dry_run": self.dry_run, "invoices": self.invoices, "lines": self.lines,
            "inserted": self.inserted, "updated": self.updated, "unchanged": self.unchanged, "busy": self.busy,
            "changed_after_create": len(self.flagged),
            "still_changed_after_create": self.still_changed_after_create, "cleared": self.cleared,
            "changed_rows": self.flagged[:FLAGGED_SHOWN],
        }


def take_in_source(engine: sa.Engine, path: str | Path, *, dry_run: bool = False) -> dict[str, Any]:
    """Read the file's two queries, check every row, and take them into the outbound tables; the counts."""
    rows = query_source(engine, read_source_file(path))
    return take_in(engine, rows, dry_run=dry_run).as_dict()


# ---- the file ---------------------------------------------------------------------------------------------


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
        raise OutboundSourceError(f"{path}: no {expected} marker lines (docs/warehouse.md#pushing-invoices-from-"
                                  "your-own-tables)")
    if _code(text[:markers[0].start()]):
        raise OutboundSourceError(f"{path}: SQL before the first '-- name:' line (each query follows its marker)")
    queries: dict[str, str] = {}
    for marker, following in zip(markers, [*markers[1:], None], strict=True):
        name = marker["name"].lower()
        if name not in QUERY_NAMES:
            raise OutboundSourceError(f"{path}: unknown query name {marker['name']!r} (expected {expected})")
        if name in queries:
            raise OutboundSourceError(f"{path}: two queries named {name}")
        body = text[marker.end():following.start() if following is not None else len(text)]
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
    if _STATEMENT_END.search(statement):
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
    _refuse_repeated(path, "lines", [(row["external_id"], row["line_number"]) for row in line_rows],
                     "(external_id, line_number)")
    lines: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(line_rows, key=lambda row: (row["external_id"], row["line_number"])):
        lines.setdefault(row["external_id"], []).append(row)
    orphans = sorted(set(lines) - set(invoices))
    if orphans:
        raise OutboundSourceError(
            f"{path}: the lines query returns lines of {len(orphans)} invoice(s) the invoices query does not: "
            f"{', '.join(map(repr, orphans[:3]))} (filter both queries alike)")
    return SourceRows(path, tuple(invoice_columns), tuple(line_columns), invoices, lines)


def _run(connection: sa.Connection, queries: SourceQueries, name: str, table: sa.Table,
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
                raise OutboundSourceError(f"{path}: the {name} query, {_where(record, columns, number)}: {column}: "
                                          f"{exc}") from None
        missing = [key for key in KEYS[name] if row[key] is None]
        if missing:
            raise OutboundSourceError(f"{path}: the {name} query, {_where(record, columns, number)}: "
                                      f"{' and '.join(missing)} is empty (it is the key)")
        rows.append(row)
    return columns, rows


def _columns(path: Path, name: str, names: Sequence[str], table: sa.Table) -> list[str]:
    columns = [column.lower() for column in names]
    repeated = {column for column, count in Counter(columns).items() if count > 1}
    repeated |= {match["name"] for column in columns if (match := _REPEATED.fullmatch(column))
                 and match["name"] in columns}
    if repeated:
        raise OutboundSourceError(f"{path}: the {name} query returns the column(s) {', '.join(sorted(repeated))} "
                                  "twice")
    missing = [key for key in KEYS[name] if key not in columns]
    if missing:
        raise OutboundSourceError(f"{path}: the {name} query returns no {' and '.join(missing)} column (the key: "
                                  f"alias yours, e.g. doc_id AS {missing[0]})")
    results = sorted(JOURNAL_COLUMNS.intersection(columns))
    if results:
        raise OutboundSourceError(f"{path}: the {name} query returns {', '.join(results)}: the push's results, not "
                                  "input (leave them out)")
    unknown = [column for column in columns if column not in table.c]
    if unknown:
        raise OutboundSourceError(f"{path}: the {name} query returns {', '.join(unknown)}: not columns of "
                                  f"{table.name} (docs/warehouse.md lists them; alias yours with AS)")
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
        raise OutboundSourceError(f"{path}: the {name} query returns the same {what} more than once: "
                                  f"{', '.join(map(repr, repeated[:3]))} (it is the key: one row each)")


def _value(column: sa.Column[Any], value: Any) -> Any:
    """`value` as the column's type; ValueError says why it cannot be."""
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, sa.Date):
        return _date(value)
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return _decimal(value, kind)
    if isinstance(kind, sa.Integer):
        return _integer(value)
    return _text(value)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        if value.tzinfo is not None or value.time() != datetime.min.time():
            raise ValueError(f"{value.isoformat()} is a date-time (return a date: CAST(... AS DATE), or date(...) "
                             "on SQLite)")
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
            return _date(datetime.fromisoformat(text))
        except ValueError as exc:
            if "date-time" in str(exc):
                raise
    raise ValueError(f"cannot read {str(value)[:40]!r} as a date (return a DATE, or ISO text like 2026-11-02)")


def _decimal(value: Any, kind: sa.Numeric[Any]) -> Decimal:
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        # A float comes from SQLite's NUMERIC storage or a float column: its shortest text is the value written.
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"cannot read {str(value)[:40]!r} as a number") from None
    if not number.is_finite():
        raise ValueError(f"{number} is not a number")
    scale = kind.scale or 0
    if number != number.quantize(Decimal(1).scaleb(-scale)):
        raise ValueError(f"{number} has more than {scale} decimals (ROUND it in the query)")
    if kind.precision is not None and abs(number) >= Decimal(10) ** (kind.precision - scale):
        raise ValueError(f"{number} is out of range (NUMERIC({kind.precision}, {scale}))")
    return number


def _integer(value: Any) -> int:
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
    if _UNSTORABLE.search(text):
        raise ValueError("holds a NUL character or a lone surrogate")
    return text or None


# ---- into the journal -------------------------------------------------------------------------------------


def take_in(engine: sa.Engine, rows: SourceRows, *, dry_run: bool = False) -> TakeIn:
    """Write the checked rows into the outbound tables (or only count what that would do, in a dry run)."""
    tables = reflect_tables(engine)
    invoices, lines = tables["outbound_invoices"], tables["outbound_invoice_lines"]
    outcome = TakeIn(str(rows.path), dry_run=dry_run, invoices=len(rows.invoices), lines=rows.line_count)
    now = datetime.now(UTC).replace(tzinfo=None)
    context: AbstractContextManager[sa.Connection] = engine.connect() if dry_run else write_transaction(engine)
    with context as connection:
        for chunk in _chunks(list(rows.invoices)):
            stored = {row["external_id"]: dict(row) for row in connection.execute(
                sa.select(invoices).where(invoices.c.external_id.in_(chunk))).mappings()}
            stored_lines: dict[str, list[dict[str, Any]]] = {}
            for line in connection.execute(sa.select(lines).where(lines.c.external_id.in_(list(stored)))
                                           .order_by(lines.c.external_id, lines.c.line_number)).mappings():
                stored_lines.setdefault(line["external_id"], []).append(dict(line))
            new, update, flag, clear = [], [], [], []
            for external_id in chunk:
                journal = stored.get(external_id)
                if journal is None:
                    new.append(external_id)
                    continue
                differences = _differences(rows, external_id, journal, stored_lines.get(external_id, []))
                if journal["billit_order_id"] is not None or journal["status"] not in NOT_CREATED:
                    if differences:
                        flag.append((journal, _reason(differences)))
                    elif journal["changed_after_create"]:
                        clear.append(external_id)
                    else:
                        outcome.unchanged += 1
                elif not differences:
                    outcome.unchanged += 1
                elif journal["claimed_by"] is not None:
                    outcome.busy += 1  # a push run holds it: its values change at the next take-in
                else:
                    update.append(external_id)
            _flag(connection, invoices, flag, now, outcome, dry_run)
            outcome.cleared += len(clear)
            if dry_run:
                outcome.inserted += len(new)
                outcome.updated += len(update)
                continue
            outcome.inserted += _insert(connection, invoices, lines, rows, new)
            outcome.updated += _update(connection, invoices, lines, rows, update, outcome)
            if clear:
                connection.execute(invoices.update().where(invoices.c.external_id.in_(clear)).values(
                    changed_after_create=False, change_noticed_at=None, change_reason=None))
    if outcome.flagged:
        logger.warning("%s: %d row(s) already in Billit changed in the source since they were pushed (not pushed "
                       "again): %s", rows.path, len(outcome.flagged),
                       ", ".join(row["external_id"] for row in outcome.flagged[:10]))
    logger.info("%s: %d invoices, %d lines; %d new, %d updated, %d unchanged, %d held by a push run%s",
                rows.path, outcome.invoices, outcome.lines, outcome.inserted, outcome.updated, outcome.unchanged,
                outcome.busy, " (dry run: nothing written)" if dry_run else "")
    return outcome


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _differences(rows: SourceRows, external_id: str, journal: dict[str, Any],
                 journal_lines: list[dict[str, Any]]) -> list[str]:
    """What differs between the source and the journal (what was or will be pushed), in words."""
    source = rows.invoices[external_id]
    found = [f"{column}: {_shown(journal[column])} -> {_shown(source[column])}"
             for column in rows.invoice_columns if not _same(source[column], journal[column])]
    stored = {line["line_number"]: line for line in journal_lines}
    given = {line["line_number"]: line for line in rows.lines.get(external_id, [])}
    for number in sorted(stored.keys() | given.keys()):
        if number not in given:
            found.append(f"line {number} removed")
        elif number not in stored:
            found.append(f"line {number} added")
        else:
            found += [f"line {number} {column}: {_shown(stored[number][column])} -> {_shown(given[number][column])}"
                      for column in rows.line_columns if not _same(given[number][column], stored[number][column])]
    return found


def _same(source: Any, stored: Any) -> bool:
    if isinstance(stored, str):
        stored = stored.strip() or None
    return bool(source == stored)


def _shown(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...") if isinstance(value, str) else text


def _reason(differences: list[str]) -> str:
    shown = "; ".join(differences[:_REASONS_SHOWN])
    more = len(differences) - _REASONS_SHOWN
    return (shown + (f"; and {more} more" if more > 0 else ""))[:1000]


def _flag(connection: sa.Connection, invoices: sa.Table, flag: list[tuple[dict[str, Any], str]], now: datetime,
          outcome: TakeIn, dry_run: bool) -> None:
    """Flag rows already in Billit whose source changed; the first notice keeps its time."""
    for journal, reason in flag:
        if journal["changed_after_create"]:
            outcome.still_changed_after_create += 1
        else:
            outcome.flagged.append({"external_id": journal["external_id"], "reason": reason})
        if dry_run or (journal["changed_after_create"] and journal["change_reason"] == reason):
            continue
        connection.execute(invoices.update().where(invoices.c.external_id == journal["external_id"]).values(
            changed_after_create=True, change_reason=reason,
            change_noticed_at=sa.func.coalesce(invoices.c.change_noticed_at, now)))


def _insert(connection: sa.Connection, invoices: sa.Table, lines: sa.Table, rows: SourceRows,
            new: list[str]) -> int:
    if not new:
        return 0
    inserted = insert_ignoring_duplicates(connection, invoices, [rows.invoices[key] for key in new], ["external_id"])
    replace_children(connection, lines, "external_id", new,
                     [line for key in new for line in rows.lines.get(key, [])])
    return inserted


def _update(connection: sa.Connection, invoices: sa.Table, lines: sa.Table, rows: SourceRows,
            update: list[str], outcome: TakeIn) -> int:
    """The source's values on rows Billit has no order for; a rejected row goes back to pending."""
    rejected = invoices.c.status == "rejected"
    done = []
    for external_id in update:
        values = {column: value for column, value in rows.invoices[external_id].items() if column != "external_id"}
        statement = invoices.update().where(
            invoices.c.external_id == external_id, invoices.c.billit_order_id.is_(None),
            invoices.c.status.in_(NOT_CREATED), invoices.c.claimed_by.is_(None),
        ).values(
            **values, status=sa.case((rejected, "pending"), else_=invoices.c.status),
            last_error_code=sa.case((rejected, None), else_=invoices.c.last_error_code),
            last_error=sa.case((rejected, None), else_=invoices.c.last_error),
        )
        if connection.execute(statement).rowcount == 1:
            done.append(external_id)
        else:
            outcome.busy += 1  # claimed or created since it was read: compared again at the next take-in
    replace_children(connection, lines, "external_id", done,
                     [line for key in done for line in rows.lines.get(key, [])])
    return len(done)
