"""The warehouse's tables as SQLAlchemy reflects them from the database, once per engine.

Tables are reflected rather than declared in Python, so the SQL files in ``sql/migrations`` stay the one source of
names and types; the migration runner forgets the reflection after it changed the schema.
"""

from __future__ import annotations

import threading
from typing import Any, TypeGuard
from weakref import WeakKeyDictionary

import sqlalchemy as sa

_reflected: WeakKeyDictionary[sa.Engine, dict[str, sa.Table]] = WeakKeyDictionary()
_reflect_lock = threading.Lock()


def reflect_tables(engine: sa.Engine) -> dict[str, sa.Table]:
    """The warehouse's tables by name, reflected once per engine (the migration runner resets the cache).

    NUMERIC columns return ``Decimal`` rounded to their declared scale on both dialects.
    """
    with _reflect_lock:
        tables = _reflected.get(engine)
        if tables is None:
            metadata = sa.MetaData()
            metadata.reflect(bind=engine)
            for table in metadata.tables.values():
                for column in table.columns:
                    column_type = column.type
                    if is_exact_numeric(column_type):
                        precision, scale = column_type.precision, column_type.scale
                        column.type = sa.Numeric(precision, scale, asdecimal=True, decimal_return_scale=scale)
            tables = dict(metadata.tables)
            _reflected[engine] = tables
    return dict(tables)


def forget_reflected_tables(engine: sa.Engine) -> None:
    """Drop the cached reflection of ``engine`` (after a migration changed the schema)."""
    with _reflect_lock:
        _reflected.pop(engine, None)


def is_exact_numeric(column_type: sa.types.TypeEngine[Any]) -> TypeGuard[sa.Numeric[Any]]:
    return isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float)
