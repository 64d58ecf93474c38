"""SQL expressions that each database plans best its own way."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa


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
