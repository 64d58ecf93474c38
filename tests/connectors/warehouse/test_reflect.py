"""`reflect_tables` reads each table's columns and primary key alone: they must be what SQLAlchemy's whole
reflection makes of them, on both dialects."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from connectors.warehouse import reflect_tables


def _described(table: sa.Table, dialect: sa.Dialect) -> list[tuple[Any, ...]]:
    return [
        (
            column.name,
            column.type.compile(dialect=dialect),
            column.nullable,
            column.primary_key,
            column.autoincrement,
            _default(column.server_default),
            None if column.identity is None else (column.identity.always, column.identity.start),
        )
        for column in table.columns
    ]


def _default(default: sa.schema.FetchedValue | None) -> str | None:
    """The SQL text of a DEFAULT, the kind of any other value the database makes (an identity)."""
    if isinstance(default, sa.DefaultClause):
        return str(default.arg)
    return None if default is None else type(default).__name__


def test_each_table_has_the_columns_and_primary_key_sqlalchemy_reflects(engine: sa.Engine) -> None:
    tables = reflect_tables(engine)
    whole = sa.MetaData()
    whole.reflect(bind=engine)
    assert sorted(tables) == sorted(whole.tables) and len(tables) > 10
    for name, table in whole.tables.items():
        assert _described(tables[name], engine.dialect) == _described(table, engine.dialect), name
        assert [column.name for column in tables[name].primary_key] == [column.name for column in table.primary_key]
    # Identity columns on PostgreSQL, AUTOINCREMENT ones on SQLite: the database numbers the rows.
    assert tables["quarantine"].c.quarantine_id.primary_key


def test_numeric_columns_read_as_decimals_at_their_scale(engine: sa.Engine) -> None:
    amount = reflect_tables(engine)["invoices"].c.total_excl
    assert isinstance(amount.type, sa.Numeric) and amount.type.asdecimal
    assert amount.type._effective_decimal_return_scale == amount.type.scale
