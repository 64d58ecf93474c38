"""The outbound tables' rows in their columns' types, read cell by cell.

SQLite stores whatever is written into a column: '2026-13-45' in a DATE, 'three' in a NUMERIC, 'abc' in a BIGINT.
SQLAlchemy's conversion of one such cell failed the whole read, and with it every other row of the push. Here the
columns an operator writes are read as stored and converted as a source query's values are
(tasks/outbound/query.py); a cell that cannot be converted keeps what is stored, and its row carries the reason
and is rejected alone (`tasks.outbound.claims.take`). On PostgreSQL the column types have checked every value
already, and the conversion finds nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tasks.normalise.fields import UNSTORABLE
from tasks.outbound.query import JOURNAL_COLUMNS, UNSTORABLE_REASON, in_column_type

# Written by the push itself, as JOURNAL_COLUMNS are: read as SQLAlchemy converts them.
_PUSH_COLUMNS = JOURNAL_COLUMNS | {"attempted_company_id"}


@dataclass
class TableRows:
    """Rows of one outbound table, and for each external_id whose cells could not all be read, why."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    unreadable: dict[str, list[str]] = field(default_factory=dict)

    def grouped(self) -> dict[str, list[dict[str, Any]]]:
        """The rows by external_id (of a lines table), in the order read."""
        by_id: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows:
            by_id.setdefault(row["external_id"], []).append(row)
        return by_id


def select_as_stored(table: sa.Table) -> sa.Select[Any]:
    """SELECT every column of `table`, those an operator writes as stored (no conversion that could fail)."""
    return sa.select(
        *(
            column if column.name in _PUSH_COLUMNS else sa.type_coerce(column, sa.types.NullType()).label(column.name)
            for column in table.c
        )
    )


def in_column_types(connection: sa.Connection, table: sa.Table, query: sa.Select[Any]) -> TableRows:
    """The rows of `query` (a `select_as_stored(table)`), each cell an operator writes in its column's type where it
    can be."""
    converted = TableRows()
    lines = "line_number" in table.c
    for record in connection.execute(query).mappings():
        row = dict(record)
        problems = []
        for name, value in record.items():
            if name in _PUSH_COLUMNS or value is None:
                continue
            kind = table.c[name].type
            if isinstance(value, float) and isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
                # SQLite's REAL, rounded to the column's scale as SQLAlchemy read it before: a row's values, its
                # payload and its idempotency key stay what they were (a price computed as price / 1.21 included).
                value = Decimal(f"{value:.{kind.scale or 0}f}")
            try:
                row[name] = in_column_type(kind, value, _as_written)
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            where = f"line {row['line_number']}: " if lines else ""
            converted.unreadable.setdefault(str(row["external_id"]), []).extend(where + p for p in problems)
        converted.rows.append(row)
    return converted


def _as_written(value: Any) -> Any:
    """Text stays as written (its spaces too: a create's idempotency key is made of it); only what neither
    PostgreSQL nor the sync's reading of Billit's answers would take is refused, and bytes (a BLOB would be sent as
    the text of its repr)."""
    if isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"{len(value)} bytes, not text (a BLOB)")
    if isinstance(value, str) and UNSTORABLE.search(value):
        raise ValueError(UNSTORABLE_REASON)
    return value
