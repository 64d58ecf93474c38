"""Bulk writes of Arrow tables: the same upserts and inserts as ``connectors.warehouse.load``, fed by columns.

For rows that are already typed columns (a replay of landed Parquet), building one Python dict per row only to
take it apart again costs more than the database's own work. These writers take a ``pyarrow.Table`` whose
columns are named and typed like the target table's (decimal128 for NUMERIC, timestamp[us] for TIMESTAMP,
date32 for DATE) and store exactly what the row writers store for the same values:

SQLite
    The statement of ``load._insert_statement``, run by sqlite3's executemany over tuples made column by column,
    each value as the column type's bind processor would give it: NUMERIC as the float nearest the decimal
    (``unscaled / 10**scale`` is correctly rounded, as ``float(Decimal)`` is; Arrow's own cast is not), DATE and
    TIMESTAMP as the same ISO text, BOOLEAN as 0/1.
PostgreSQL
    ``COPY ... FROM STDIN (FORMAT csv)`` of Arrow's CSV writer (no Python per value; every text is quoted, so an
    empty text stays empty and a null is NULL), straight into the target, or into a temporary staging table
    followed by the same ``INSERT ... SELECT ... ON CONFLICT`` as ``load._copy_write``, in key order as there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from connectors.warehouse.load import _Conflict, _on_conflict, sqlite_statement
from connectors.warehouse.pgcopy import copy_from_stdin
from connectors.warehouse.sqlite_staging import SqliteStaging

__all__ = ["insert_arrow", "upsert_arrow"]

# SQLAlchemy 2 reports rowcount for INSERT (and executemany) only when asked.
_ROWCOUNT = {"preserve_rowcount": True}
_CSV = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
#: Rows made Python tuples for one executemany on SQLite (a replay's group of parts holds ~10,000 lines).
_SQLITE_SLICE_ROWS = 5_000


def upsert_arrow(
    connection: sa.Connection,
    table: sa.Table,
    data: pa.Table,
    key: Sequence[str],
    *,
    update_columns: Sequence[str] | None = None,
    unless_newer: str | None = None,
) -> int:
    """``load.upsert_rows`` for an Arrow table whose ``key`` values are unique; return the rows written."""
    columns = _check(table, data, key)
    updates = [name for name in columns if name not in key] if update_columns is None else list(update_columns)
    return _write(connection, table, data, key=key, updates=updates, conflict="update", unless_newer=unless_newer)


def insert_arrow(
    connection: sa.Connection,
    table: sa.Table,
    data: pa.Table,
    *,
    ignoring_duplicates_of: Sequence[str] = (),
    staging: SqliteStaging | None = None,
) -> int:
    """Insert every row (``load.replace_children``'s insert), or with ``ignoring_duplicates_of`` those whose key is
    not stored yet (``load.insert_ignoring_duplicates``); return the rows inserted. On SQLite, a plain insert goes
    through `staging` when it takes it (``connectors.warehouse.sqlite_staging``)."""
    _check(table, data, ignoring_duplicates_of)
    conflict: _Conflict = "ignore" if ignoring_duplicates_of else "fail"
    if staging is not None and conflict == "fail":
        stored = _without_null_columns(table, data)
        staged = staging.insert(connection, table, _sqlite_table(stored)) if staging.takes(table.name, stored) else None
        if staged is not None:
            return staged
    return _write(connection, table, data, key=ignoring_duplicates_of, updates=[], conflict=conflict)


def _check(table: sa.Table, data: pa.Table, key: Sequence[str]) -> list[str]:
    unknown = [name for name in data.column_names if name not in table.c]
    missing_key = [name for name in key if name not in data.column_names]
    if unknown or missing_key:
        raise ValueError(f"{table.name}: no columns {unknown}, or the data lacks key columns {missing_key}")
    return list(data.column_names)


def _write(
    connection: sa.Connection,
    table: sa.Table,
    data: pa.Table,
    *,
    key: Sequence[str],
    updates: list[str],
    conflict: _Conflict,
    unless_newer: str | None = None,
) -> int:
    if data.num_rows == 0:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        if conflict != "fail":  # in key order, as load._write does: two writers of shared keys never deadlock
            data = data.sort_by([(name, "ascending") for name in key])
        return _copy_write(
            connection, table, data, key=key, updates=updates, conflict=conflict, unless_newer=unless_newer
        )
    if conflict != "update":  # an update must set a stored value to NULL
        data = _without_null_columns(table, data)
    sql, order = sqlite_statement(
        connection.dialect, table, tuple(data.column_names), tuple(key), tuple(updates), conflict, unless_newer
    )
    if sql is None:
        raise ValueError(f"{table.name}: the statement binds {order}, not the data's columns")
    written = 0
    for start in range(0, data.num_rows, _SQLITE_SLICE_ROWS):  # a slice's rows as Python tuples at a time
        rows = data.slice(start, _SQLITE_SLICE_ROWS)
        values = [_sqlite_values(rows.column(name)) for name in order]
        result = connection.exec_driver_sql(sql, list(zip(*values, strict=True)), execution_options=_ROWCOUNT)
        written += result.rowcount
    return written


def _without_null_columns(table: sa.Table, data: pa.Table) -> pa.Table:
    """`data` without its columns that are null in every row and have no default: an insert that leaves them out
    stores the same NULL, without binding one per row (a replay's groups have several: 5 % of its time)."""
    empty = [
        name
        for name, column in zip(data.column_names, data.columns, strict=True)
        if column.null_count == len(column) and table.c[name].default is None and table.c[name].server_default is None
    ]
    return data.drop_columns(empty) if empty and len(empty) < data.num_columns else data


def _sqlite_table(data: pa.Table) -> pa.Table:
    """`data` with each column as `_sqlite_column` gives it (ADBC stores Arrow's booleans and integers as
    sqlite3 binds Python's: INTEGER)."""
    return pa.table([_sqlite_column(column) for column in data.columns], names=data.column_names)


def _sqlite_values(column: pa.ChunkedArray) -> list[Any]:
    """One column's values as SQLAlchemy's SQLite bind processors give them."""
    return _sqlite_column(column).to_pylist()  # type: ignore[no-any-return]


def _sqlite_column(column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """One column as SQLAlchemy's SQLite bind processors give its values: NUMERIC the float nearest the decimal,
    DATE and TIMESTAMP their ISO text, the others as they are."""
    kind = column.type
    if pa.types.is_decimal(kind):
        return pa.array(_exact_floats(column.combine_chunks()), pa.float64())
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        # Arrow writes `YYYY-MM-DD HH:MM:SS.ffffff` and `YYYY-MM-DD`, the text of SQLAlchemy's SQLite types.
        return pc.cast(column, pa.string())
    return column


def _exact_floats(array: pa.Array) -> list[float | None]:
    """The float nearest each decimal, as ``float(Decimal)`` gives it: the unscaled integer (the low 64-bit word
    of each 128-bit value, exact up to 18 digits) divided by 10**scale, which Python rounds correctly."""
    if array.type.precision > 18:
        return [None if value is None else float(value) for value in array.to_pylist()]
    start = 2 * array.offset
    words = memoryview(array.buffers()[1]).cast("q")[start : start + 2 * len(array) : 2]
    scale = 10**array.type.scale
    floats: list[float | None] = [word / scale for word in words]
    if array.null_count:
        floats = [value if valid else None for value, valid in zip(floats, array.is_valid().to_pylist(), strict=True)]
    return floats


def _copy_write(
    connection: sa.Connection,
    table: sa.Table,
    data: pa.Table,
    *,
    key: Sequence[str],
    updates: list[str],
    conflict: _Conflict,
    unless_newer: str | None,
) -> int:
    preparer = connection.dialect.identifier_preparer
    columns = data.column_names
    column_list = ", ".join(preparer.quote(name) for name in columns)
    target = preparer.format_table(table)
    if conflict == "fail":
        _copy_csv(connection, target, column_list, data)
        return data.num_rows
    staging_name = f"_staging_{table.name}"[:63]
    staging = preparer.quote(staging_name)
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {column_list} FROM {target} WITH NO DATA"
    )
    _copy_csv(connection, staging, column_list, data)
    source = sa.table(staging_name, *(sa.column(name) for name in columns))
    insert = postgresql.insert(table).from_select(columns, sa.select(*(source.c[name] for name in columns)))
    statement = _on_conflict(insert, table, key=key, updates=updates, conflict=conflict, unless_newer=unless_newer)
    written = connection.execute(statement, execution_options=_ROWCOUNT).rowcount
    connection.exec_driver_sql(f"DROP TABLE {staging}")
    return int(written)


def _copy_csv(connection: sa.Connection, target: str, column_list: str, data: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    # One chunk per column: pyarrow's CSV writer (26.0) writes stale bytes for data after an empty chunk
    # (apache/arrow#36889); COPY refused the NULs among them, but other bytes would have been stored.
    chunked = any(column.num_chunks > 1 for column in data.columns)
    pa_csv.write_csv(data.combine_chunks() if chunked else data, sink, _CSV)
    with copy_from_stdin(connection, f"COPY {target} ({column_list}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(sink.getvalue())
