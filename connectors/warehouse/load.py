"""Writing rows into the warehouse's tables (as `reflect_tables` gives them): upserts, child-set replacement and
insert-if-absent. All writers take a ``Connection`` inside the caller's ``engine.begin()`` block and never commit.

Rows
    Every row of a call has the same keys, all of them columns of the table; columns a row leaves out get the
    table default on insert and are left alone on update. Pass ``Decimal`` (or ``int``) for NUMERIC, ``date``
    for DATE and naive ``datetime`` for TIMESTAMP. A ``float`` for NUMERIC is refused (money is never float), and
    so is an aware datetime (PostgreSQL would shift it to UTC on one bulk path and drop the offset on the other).
    Values should already be at the column's scale.

Bulk paths (both give the same rows; the tests check that)
    SQLite: one ``INSERT ... ON CONFLICT`` statement, compiled once and executed by sqlite3's executemany over
    plain tuples (the column types' bind processors applied), ``SQLITE_CHUNK_ROWS`` rows per call. executemany
    binds one row per statement, so SQLite's 32,766-variable limit never applies to these inserts; the
    ``IN (...)`` lists of :func:`replace_children` are chunked under it.
    PostgreSQL: up to ``COPY_THRESHOLD`` rows by executemany; above it, psycopg's ``COPY ... FROM STDIN`` into
    a temporary staging table and one ``INSERT ... SELECT ... ON CONFLICT``. The staging table is created with
    ``CREATE TEMP TABLE ... AS SELECT <the rows' columns> FROM target WITH NO DATA`` rather than ``LIKE target``:
    LIKE would copy NOT NULL onto identity and defaulted columns the rows do not carry, and the final INSERT
    enforces every constraint anyway. Plain inserts (:func:`replace_children`) COPY straight into the target.

Duplicates within one call
    :func:`upsert_rows` keeps the last row per key (PostgreSQL refuses to update one row twice in a statement);
    :func:`insert_ignoring_duplicates` keeps the first, like the rows already stored.

Numbers on SQLite
    SQLite has no decimal type: NUMERIC columns have NUMERIC affinity and store a REAL (or an INTEGER), which is
    exact to 15 significant digits. Reflected NUMERIC(p, s) columns convert back to ``Decimal`` rounded to
    ``s`` places, so money up to 9,999,999,999,999.99 (and rates with 5 decimals up to 9,999,999,999.99999)
    round-trips exactly; PostgreSQL's NUMERIC is exact at any size. DATE and TIMESTAMP are ISO text on SQLite
    (``YYYY-MM-DD`` and ``YYYY-MM-DD HH:MM:SS.ffffff``), converted to ``date`` and ``datetime`` on the way out.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from connectors.warehouse.expressions import in_chunks, is_among
from connectors.warehouse.pgcopy import copy_from_stdin
from connectors.warehouse.reflect import is_exact_numeric

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql

__all__ = [
    "COPY_THRESHOLD",
    "SQLITE_CHUNK_ROWS",
    "BulkMethod",
    "Row",
    "insert_ignoring_duplicates",
    "replace_children",
    "upsert_rows",
]

Row = Mapping[str, Any]
BulkMethod = Literal["auto", "executemany", "copy"]
_Conflict = Literal["update", "ignore", "fail"]

COPY_THRESHOLD = 100  # COPY costs 2-4 round trips; executemany one per row (pipelined)
SQLITE_CHUNK_ROWS = 10_000
_EXECUTEMANY_CHUNK_ROWS = 10_000
# SQLAlchemy 2 reports rowcount for INSERT (and executemany) only when asked.
_ROWCOUNT = {"preserve_rowcount": True}


def upsert_rows(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Row],
    key: Sequence[str],
    *,
    update_columns: Sequence[str] | None = None,
    unless_newer: str | None = None,
    method: BulkMethod = "auto",
) -> int:
    """Insert ``rows``, updating the stored row where ``key`` already exists; return the rows written.

    With ``unless_newer`` (a column such as ``last_modified``) a stored row whose value is greater is kept as is:
    an older snapshot (a replay, an overlapping backfill slice) never overwrites a newer one.

    ``update_columns`` (default: every column of the rows except the key) are overwritten on conflict; an empty
    list turns the upsert into insert-if-absent. ``key`` must match a primary key or unique constraint. Of rows
    repeating a key, the last one wins. ``method`` forces a bulk path (tests use it); "auto" picks by size.
    """
    if not rows:
        return 0
    columns = _check_rows(table, rows, key)
    updates = [name for name in columns if name not in key] if update_columns is None else list(update_columns)
    unknown = [name for name in updates if name not in columns or name in key]
    if unknown:
        raise ValueError(f"update_columns {unknown} must be non-key columns present in the rows")
    getter = _key_getter(key)
    unique = list({getter(row): row for row in rows}.values())
    return _write(
        connection,
        table,
        columns,
        unique,
        key=key,
        updates=updates,
        conflict="update",
        method=method,
        unless_newer=unless_newer,
    )


def replace_children(
    connection: sa.Connection,
    table: sa.Table,
    parent_key: str,
    parent_ids: Sequence[Any],
    rows: Sequence[Row],
    *,
    method: BulkMethod = "auto",
) -> int:
    """Make ``rows`` the complete set of children of ``parent_ids``; return the rows inserted.

    Deletes every row of ``table`` whose ``parent_key`` is in ``parent_ids`` (a parent with no rows ends up with
    no children), then bulk-inserts ``rows``. Each row's ``parent_key`` must be one of ``parent_ids``.
    """
    if parent_key not in table.c:
        raise ValueError(f"{table.name} has no column {parent_key!r}")
    parents = list(dict.fromkeys(parent_ids))
    columns = _check_rows(table, rows, [parent_key]) if rows else []
    wanted = set(parents)
    strays = {row[parent_key] for row in rows if row[parent_key] not in wanted}
    if strays:
        raise ValueError(f"rows for {table.name} name parents not in parent_ids: {sorted(strays, key=str)[:10]}")
    column = table.c[parent_key]
    for chunk in in_chunks(parents):
        connection.execute(sa.delete(table).where(is_among(connection, column, chunk)))
    if not rows:
        return 0
    return _write(connection, table, columns, rows, key=(), updates=[], conflict="fail", method=method)


def insert_ignoring_duplicates(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Row],
    key: Sequence[str],
    *,
    method: BulkMethod = "auto",
) -> int:
    """Insert the ``rows`` whose ``key`` is not stored yet (``ON CONFLICT (key) DO NOTHING``); return how many.

    For append-only tables whose key makes a replay harmless: status history, quarantine.
    """
    if not rows:
        return 0
    columns = _check_rows(table, rows, key)
    return _write(connection, table, columns, rows, key=key, updates=[], conflict="ignore", method=method)


def _check_rows(table: sa.Table, rows: Sequence[Row], key: Sequence[str]) -> list[str]:
    columns = list(rows[0].keys())
    unknown = [name for name in columns if name not in table.c]
    if unknown:
        raise ValueError(f"{table.name} has no columns {unknown}")
    missing_key = [name for name in key if name not in columns]
    if missing_key:
        raise ValueError(f"rows for {table.name} lack key columns {missing_key}")
    expected = rows[0].keys()
    timestamps = [name for name in columns if _is_naive_timestamp(table.c[name].type)]
    numerics = [name for name in columns if is_exact_numeric(table.c[name].type)]
    for number, row in enumerate(rows):
        if row.keys() != expected:
            raise ValueError(f"row {number} for {table.name} has columns {sorted(row)}, row 0 has {sorted(expected)}")
        for name in timestamps:
            value = row[name]
            if isinstance(value, datetime) and value.tzinfo is not None:
                raise ValueError(f"row {number}: {table.name}.{name} is a naive TIMESTAMP, got {value!r}")
        for name in numerics:
            if isinstance(row[name], float):
                raise ValueError(f"row {number}: {table.name}.{name} is NUMERIC, pass Decimal, not float {row[name]!r}")
    return columns


def _is_naive_timestamp(column_type: sa.types.TypeEngine[Any]) -> bool:
    return isinstance(column_type, sa.DateTime) and not column_type.timezone


def _write(
    connection: sa.Connection,
    table: sa.Table,
    columns: list[str],
    rows: Sequence[Row],
    *,
    key: Sequence[str],
    updates: list[str],
    conflict: _Conflict,
    method: BulkMethod,
    unless_newer: str | None = None,
) -> int:
    dialect = connection.dialect.name
    if method == "copy" and dialect != "postgresql":
        raise ValueError("method='copy' needs PostgreSQL")
    if dialect == "postgresql" and conflict != "fail":
        # In key order: two transactions writing keys they share (two streams of one company loading side by side
        # share parties) lock them in one order, so one waits for the other, never each for the other (a deadlock).
        rows = _in_key_order(rows, key)
    if dialect == "postgresql" and (method == "copy" or (method == "auto" and len(rows) > COPY_THRESHOLD)):
        return _copy_write(
            connection, table, columns, rows, key=key, updates=updates, conflict=conflict, unless_newer=unless_newer
        )
    if dialect == "sqlite":
        sql, order = sqlite_statement(
            connection.dialect, table, tuple(columns), tuple(key), tuple(updates), conflict, unless_newer
        )
        if sql is not None:
            return _sqlite_executemany(connection, table, sql, order, rows)
    statement = _insert_statement(
        dialect, table, key=key, updates=updates, conflict=conflict, unless_newer=unless_newer
    )
    written = 0
    for chunk in _chunks(rows, _EXECUTEMANY_CHUNK_ROWS):
        written += connection.execute(statement, list(chunk), execution_options=_ROWCOUNT).rowcount
    return written


def _sqlite_executemany(
    connection: sa.Connection, table: sa.Table, sql: str, order: list[str], rows: Sequence[Row]
) -> int:
    """`sql` (of `sqlite_statement`) run by sqlite3's own executemany over plain tuples of the `order` columns.

    The values go through the same bind processors (the column types') as ``connection.execute`` would apply,
    but without SQLAlchemy's per-row parameter handling, which cost three times the database's own work.
    """
    values = _row_getter(order)
    convert = _bind_processors(connection.dialect, table, tuple(order))

    def chunk_values(chunk: Sequence[Row]) -> list[tuple[Any, ...]]:
        tuples = list(map(values, chunk))
        if not convert or not tuples:
            return tuples
        # Converted a column at a time (map, zip: loops in C), not a value at a time: half the cost per row.
        columns = list(zip(*tuples, strict=True))
        for index, process in convert:
            columns[index] = tuple(map(process, columns[index]))
        return list(zip(*columns, strict=True))

    written = 0
    for chunk in _chunks(rows, SQLITE_CHUNK_ROWS):
        result = connection.exec_driver_sql(sql, chunk_values(chunk), execution_options=_ROWCOUNT)
        written += result.rowcount
    return written


@lru_cache(maxsize=256)
def sqlite_statement(
    dialect: sa.Dialect,
    table: sa.Table,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    updates: tuple[str, ...],
    conflict: _Conflict,
    unless_newer: str | None,
) -> tuple[str | None, list[str]]:
    """The text of the insert `_insert_statement` makes for SQLite and the columns it binds, in order (None when
    it binds values of its own: the general path then): compiled once per table and shape, as a sync and a
    replay write the same few shapes a hundred times and compiling them was a tenth of a replay's time."""
    statement = _insert_statement(
        dialect.name, table, key=key, updates=list(updates), conflict=conflict, unless_newer=unless_newer
    )
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    order = list(compiled.positiontup or ())
    return (str(compiled) if sorted(order) == sorted(columns) else None), order


@lru_cache(maxsize=256)
def _bind_processors(dialect: sa.Dialect, table: sa.Table, order: tuple[str, ...]) -> list[tuple[int, Any]]:
    """The bind processor of each column that has one, by its place in `order`."""
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order]
    return [(index, process) for index, process in enumerate(processors) if process is not None]


def _on_conflict(
    statement: postgresql.Insert | sqlite.Insert,
    table: sa.Table,
    *,
    key: Sequence[str],
    updates: list[str],
    conflict: _Conflict,
    unless_newer: str | None,
) -> sa.Insert:
    """DO UPDATE of `updates` (keeping a stored row newer than the incoming one), or DO NOTHING."""
    if conflict == "update" and updates:
        keep_newer = None
        if unless_newer is not None:
            stored = table.c[unless_newer]
            keep_newer = sa.or_(stored.is_(None), stored <= statement.excluded[unless_newer])
        return statement.on_conflict_do_update(
            index_elements=list(key),
            set_={name: statement.excluded[name] for name in updates},
            where=keep_newer,
        )
    return statement.on_conflict_do_nothing(index_elements=list(key))


def _insert_statement(
    dialect: str,
    table: sa.Table,
    *,
    key: Sequence[str],
    updates: list[str],
    conflict: _Conflict,
    unless_newer: str | None = None,
) -> sa.Insert:
    if conflict == "fail":
        return sa.insert(table)
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # here: its 2 MiB are not a SQLite warehouse's

        statement: postgresql.Insert | sqlite.Insert = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise ValueError(f"upserts support sqlite and postgresql, not {dialect}")
    return _on_conflict(statement, table, key=key, updates=updates, conflict=conflict, unless_newer=unless_newer)


def _copy_write(
    connection: sa.Connection,
    table: sa.Table,
    columns: list[str],
    rows: Sequence[Row],
    *,
    key: Sequence[str],
    updates: list[str],
    conflict: _Conflict,
    unless_newer: str | None = None,
) -> int:
    preparer = connection.dialect.identifier_preparer
    column_list = ", ".join(preparer.quote(name) for name in columns)
    target = preparer.format_table(table)
    if conflict == "fail":
        _copy(connection, target, column_list, columns, rows)
        return len(rows)
    staging_name = f"_staging_{table.name}"[:63]
    staging = preparer.quote(staging_name)
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {column_list} FROM {target} WITH NO DATA"
    )
    _copy(connection, staging, column_list, columns, rows)
    from sqlalchemy.dialects import postgresql  # here: its 2 MiB are not a SQLite warehouse's

    source = sa.table(staging_name, *(sa.column(name) for name in columns))
    insert = postgresql.insert(table).from_select(columns, sa.select(*(source.c[name] for name in columns)))
    statement = _on_conflict(insert, table, key=key, updates=updates, conflict=conflict, unless_newer=unless_newer)
    written = connection.execute(statement, execution_options=_ROWCOUNT).rowcount
    # Dropped now rather than at commit, so the same transaction can bulk-write this table again.
    connection.exec_driver_sql(f"DROP TABLE {staging}")
    return written


def _copy(connection: sa.Connection, target: str, column_list: str, columns: list[str], rows: Sequence[Row]) -> None:
    values = _row_getter(columns)
    with copy_from_stdin(connection, f"COPY {target} ({column_list}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(values(row))


def _row_getter(columns: Sequence[str]) -> Callable[[Row], tuple[Any, ...]]:
    if len(columns) == 1:
        only = columns[0]
        return lambda row: (row[only],)
    return operator.itemgetter(*columns)


def _key_getter(key: Sequence[str]) -> Callable[[Row], Any]:
    return operator.itemgetter(*key)  # one name: the value itself; several: their tuple


def _in_key_order(rows: Sequence[Row], key: Sequence[str]) -> list[Row]:
    """`rows` sorted by `key`, stably (of repeated keys, the first stays first); a NULL in a unique key sorts last."""
    try:
        return sorted(rows, key=_key_getter(key))
    except TypeError:  # None beside values
        return sorted(rows, key=lambda row: [(row[name] is None, row[name]) for name in key])


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
