"""`is_among` selects what `IN` selects, on SQLite and PostgreSQL, for ids and texts, with or without a match; on
PostgreSQL, for integers, as one array parameter, whatever the number of values."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connectors.warehouse import is_among, reflect_tables

IDS = list(range(1, 12_001, 3))


@pytest.mark.parametrize(
    ("column", "values"),
    [("order_id", IDS), ("order_id", [10**12]), ("order_id", []), ("order_number", ["F-7", "F-8", "nope"])],
)
def test_is_among_selects_what_in_selects(engine: sa.Engine, column: str, values: list[object]) -> None:
    invoices = reflect_tables(engine)["invoices"]
    with engine.begin() as connection:
        connection.execute(
            invoices.insert(),
            [
                {"company_id": 1, "order_id": order_id, "direction": "Cost", "order_number": f"F-{order_id}"}
                for order_id in range(1, 6_001)
            ],
        )
        among = is_among(connection, invoices.c[column], values)
        found = connection.execute(sa.select(invoices.c.order_id).where(among).order_by("order_id")).scalars().all()
        expected = connection.execute(
            sa.select(invoices.c.order_id).where(invoices.c[column].in_(values)).order_by("order_id")
        ).scalars()
        assert found == expected.all()
        sql = str(sa.select(invoices.c.order_id).where(among).compile(connection))
        as_array = engine.dialect.name == "postgresql" and column == "order_id"  # integers only: a cast cuts texts
        assert ("= ANY (" in sql) == as_array and ("IN (" in sql) != as_array
    assert (found != []) == (values != [10**12] and values != [])
