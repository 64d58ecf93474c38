"""SQL expressions that each database plans best its own way."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

#: Values of one `IN` list at most: SQLite binds at most 32,766 variables per statement by default.
IN_LIST_CHUNK = 5_000
_T = TypeVar("_T")


def is_among(
    connection: sa.Connection, column: sa.ColumnElement[Any], values: Collection[Any]
) -> sa.ColumnElement[bool]:
    """``column IN values``. On PostgreSQL, for an integer column, as ``column = ANY(array)``: one parameter instead
    of one per value, which the server parses and plans in a fifth of the time for 5,000 ids
    (bench/README.md#replay). Other types keep ``IN``: the array's cast would round a NUMERIC(18, 2) or cut a
    VARCHAR(3) value, and then match what ``IN`` does not."""
    if connection.dialect.name != "postgresql" or not isinstance(column.type, sa.Integer):
        return column.in_(list(values))
    from sqlalchemy.dialects import postgresql  # here: its 2 MiB are not a SQLite warehouse's

    return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))


def in_chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """`values` in slices of `IN_LIST_CHUNK`, each small enough for one `is_among` on either database."""
    for start in range(0, len(values), IN_LIST_CHUNK):
        yield values[start : start + IN_LIST_CHUNK]
