"""What the migration runner and the views share: reading ``sql/`` files, splitting them, running them, the lock.

Statements
    A ``;`` at the end of a line (optionally followed by a ``--`` comment) ends a statement; whole-line ``--``
    comments are dropped. That is all the parsing there is, so our SQL never ends a line inside a string literal
    with ``;`` (and uses no ``$$`` bodies).

The lock
    :func:`locked_transaction` is a write transaction that first takes the warehouse's schema lock:
    ``BEGIN IMMEDIATE`` on SQLite (through :func:`~connectors.warehouse.engine.write_transaction`),
    ``pg_advisory_xact_lock`` on PostgreSQL, keyed on "bill" in ASCII and a hash of the current schema. Migrations
    and views take the same lock, so two processes upgrading at once run one after the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from connectors.warehouse.engine import write_transaction

__all__ = ["STATEMENT_END", "execute_statement", "locked_transaction", "read_sql_file", "split_statements"]

STATEMENT_END = re.compile(r";[ \t]*(?:--[^\n]*)?$", re.MULTILINE)
# First key of pg_advisory_xact_lock(int4, int4): "bill" in ASCII; the second is a hash of the current schema.
_PG_LOCK_NAMESPACE = 0x62696C6C
_PG_LOCK = sa.text("SELECT pg_advisory_xact_lock(:namespace, hashtext(coalesce(current_schema(), '')))")


def read_sql_file(path: Path) -> str:
    """A SQL file's text as UTF-8 with line endings normalised to ``\\n`` (a CRLF checkout reads the same)."""
    return path.read_bytes().decode("utf-8").replace("\r\n", "\n")


def split_statements(sql: str) -> list[str]:
    """Split SQL into statements: a ``;`` at a line end ends one; whole-line comments are dropped."""
    kept = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in STATEMENT_END.split(kept) if part.strip()]


def execute_statement(connection: sa.Connection, statement: str) -> None:
    """Run one statement of a SQL file as written, parameters and all."""
    # psycopg reads `%` as a placeholder even without parameters ('a%b' becomes 'a$1'): a literal `%` is doubled.
    if connection.dialect.paramstyle in ("format", "pyformat"):
        statement = statement.replace("%", "%%")
    connection.exec_driver_sql(statement)


@contextmanager
def locked_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction holding the schema lock (see the module docstring) until it ends."""
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(_PG_LOCK, {"namespace": _PG_LOCK_NAMESPACE})
        yield connection
