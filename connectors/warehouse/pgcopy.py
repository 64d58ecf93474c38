"""PostgreSQL's ``COPY ... FROM STDIN`` inside the caller's SQLAlchemy transaction, its errors SQLAlchemy's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

__all__ = ["copy_from_stdin"]


@contextmanager
def copy_from_stdin(connection: sa.Connection, statement: str) -> Iterator[Any]:
    """psycopg's COPY object for `statement` (a ``COPY ... FROM STDIN``), on the SQLAlchemy connection's own psycopg
    connection so that it runs inside the caller's transaction. Its errors are raised as SQLAlchemy raises those of
    the statements it runs (``sa.exc.DBAPIError``): a row the database refuses is then told from a database that
    is down, and isolated, like any other refused row."""
    driver_connection = connection.connection.driver_connection
    if driver_connection is None:
        raise RuntimeError("the connection has no DBAPI connection")
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            yield copy
    except dbapi_error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi_error, dialect=connection.dialect) from exc
