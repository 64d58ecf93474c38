"""Plain inserts of Arrow tables into SQLite without binding each value from Python.

sqlite3's executemany binds every value from Python: a replay of 100,000 lines binds ~2 million, and that costs
twice what SQLite's own inserting does (bench/README.md#replay). Here ADBC's SQLite driver, which binds Arrow
columns in C, writes the rows into a scratch database file; its image is loaded (`sqlite3.Connection.deserialize`)
into an in-memory database attached to the warehouse's connection, and the warehouse copies the rows with
`INSERT ... SELECT` inside its own transaction: the same values, the same column affinities, the same constraints
checked, all or nothing with the rest of the transaction.

SQLite refuses ATTACH inside a transaction, so `SqliteStaging.transaction` attaches an empty in-memory database
per target table before BEGIN, and detaches them after the end. SQLite documents that a database in a read
transaction cannot be deserialized into (SQLITE_BUSY), so each table is staged at most once per transaction (all
a replay's group needs); a second insert into it goes the ordinary way (`takes`). Staging is only ever faster: a
scratch directory that cannot be made, or rows ADBC cannot write, go the ordinary way too. ADBC bundles its own
SQLite library: it only ever writes the scratch file, which nothing else opens, so the two never share a file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from connectors.processes import process_alive
from connectors.warehouse.engine import SQLITE_BEGIN_OPTION

__all__ = ["SqliteStaging"]

#: Fewer values than this go by executemany. Measured on a replay's tables (median of 7, `insert_arrow` whole):
#: `invoice_lines` of 400 rows (10,400 values) 3.3 ms staged against 2.8 ms, of 800 rows (20,800) 4.1 against 4.5,
#: of 1,600 rows 6.5 against 7.4; `invoices`, wider, gains from ~5,000 values; a replay's groups hold ~250,000.
MIN_STAGED_VALUES = 20_000
#: Python builds whose SQLite lacks serialization have no `deserialize`: nothing is staged there.
_CAN_DESERIALIZE = hasattr(sqlite3.Connection, "deserialize")
_PREFIX = "billit-staging-"


class SqliteStaging:
    """Staged plain inserts into the SQLite warehouse `engine`'s `tables`; `close` removes the scratch files."""

    def __init__(self, engine: sa.Engine, tables: list[str]) -> None:
        self.engine = engine
        self._directory: Path | None = None  # made by the first staged insert, under the temporary directory
        self._aliases = {name: f"staging_{index}" for index, name in enumerate(tables)}
        self._staged: set[str] | None = None  # the tables staged in the transaction under way

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write transaction on the warehouse (`BEGIN IMMEDIATE`, as `write_transaction`) in which `insert` can
        stage."""
        with self.engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            try:
                for alias in self._aliases.values():  # on the driver: SQLAlchemy's own execute would BEGIN first
                    driver.execute(f"ATTACH DATABASE ':memory:' AS {alias}")
                self._staged = set()
                with connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}).begin():
                    yield connection
            finally:
                self._staged = None
                self._detach(connection, driver)

    def _detach(self, connection: sa.Connection, driver: sqlite3.Connection) -> None:
        """Detach every staging database. A connection that keeps one is invalidated, never pooled with it (the
        next ATTACH of the same name would fail), and the error that ended the transaction stays the one raised."""
        try:
            attached = {row[1] for row in driver.execute("PRAGMA database_list")}
            for alias in self._aliases.values():
                if alias in attached:
                    driver.execute(f"DETACH DATABASE {alias}")
        except sqlite3.Error:
            connection.invalidate()

    def takes(self, table: str, data: pa.Table) -> bool:
        """Whether `insert` may stage `data` for `table` now; if not, it goes the ordinary way."""
        staged = self._staged
        many = data.num_rows * data.num_columns >= MIN_STAGED_VALUES
        return _CAN_DESERIALIZE and staged is not None and table in self._aliases and table not in staged and many

    def insert(self, connection: sa.Connection, table: sa.Table, data: pa.Table) -> int | None:
        """Insert `data` into `table` in the transaction of `transaction`, once `takes` said so: its columns named
        as the table's, its values already as they are to be stored (`connectors.warehouse.arrow_load` makes them
        so); the rows inserted, or None when ADBC could not write them (then they go the ordinary way)."""
        if self._staged is None or table.name in self._staged:
            raise ValueError(f"{table.name}: staged already in this transaction, or not in one of `transaction`")
        import adbc_driver_sqlite.dbapi  # noqa: PLC0415 - the replay's dependency, not every command's

        self._staged.add(table.name)
        try:
            if self._directory is None:
                self._directory = _scratch_directory()
            scratch = self._directory / f"{table.name}.sqlite"
            scratch.unlink(missing_ok=True)
            with adbc_driver_sqlite.dbapi.connect(str(scratch), autocommit=True) as writer, writer.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode = OFF")  # scratch: nothing to roll back, nothing to keep
                cursor.execute("PRAGMA synchronous = OFF")
                cursor.adbc_ingest("rows", data, mode="create")
            image = scratch.read_bytes()
            scratch.unlink()
        except (adbc_driver_sqlite.dbapi.Error, OSError):  # no temporary directory, a full disk: executemany
            return None
        alias = self._aliases[table.name]
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        driver.deserialize(image, name=alias)
        preparer = connection.dialect.identifier_preparer
        columns = ", ".join(preparer.quote(name) for name in data.column_names)
        result = connection.exec_driver_sql(
            f"INSERT INTO {preparer.format_table(table)} ({columns}) SELECT {columns} FROM {alias}.rows ORDER BY rowid",
            execution_options={"preserve_rowcount": True},
        )
        return int(result.rowcount)

    def close(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


def _scratch_directory() -> Path:
    """A new scratch directory under the temporary directory, named after this process; those of processes that
    no longer run (killed before `close`) are removed on the way."""
    for stale in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        pid = stale.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
