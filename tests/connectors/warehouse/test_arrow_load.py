"""The Arrow writers store exactly what the row writers store, on SQLite and PostgreSQL: decimals whose nearest
float Arrow's own cast gets wrong, timestamps to the microsecond, dates, booleans, texts that CSV must quote
(empty, quotes, commas, newlines, a lone `\\.`) and nulls; and an upsert keeps a stored row that is newer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from connectors.warehouse import (
    arrow_load,
    reflect_tables,
    replace_children,
    sqlite_staging,
    upsert_rows,
    write_transaction,
)
from connectors.warehouse.arrow_load import insert_arrow, upsert_arrow
from connectors.warehouse.sqlite_staging import SqliteStaging

LINE_TYPES = {
    "order_id": pa.int64(),
    "line_number": pa.int32(),
    "description": pa.string(),
    "quantity": pa.decimal128(18, 5),
    "vat_percentage": pa.decimal128(9, 4),
    "total_excl": pa.decimal128(18, 2),
}
TEXTS = ["", 'say "hi", twice', "two\nlines", "\\.", None, "back\\slash", "plain"]
AMOUNTS = ["5813753208314.60", "-3600721166289.26", "0.10", None, "12.3", "-0.01", "7237647836497.10"]


def lines() -> list[dict[str, Any]]:
    return [
        {
            "order_id": 1,
            "line_number": number,
            "description": text,
            "quantity": None if amount is None else Decimal("1827512145.01485") * (number % 2 or -1),
            "vat_percentage": Decimal("40276.0848") if number % 3 else None,
            "total_excl": None if amount is None else Decimal(amount),
        }
        for number, (text, amount) in enumerate(zip(TEXTS, AMOUNTS, strict=True), start=1)
    ]


def as_arrow(rows: list[dict[str, Any]], types: dict[str, pa.DataType]) -> pa.Table:
    return pa.table({name: pa.array([row[name] for row in rows], kind) for name, kind in types.items()})


def stored(engine: sa.Engine, table: str, order_by: str) -> list[tuple[Any, ...]]:
    """The rows as the driver returns them (on SQLite with each value's storage class)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            columns = [row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({table})")]
            listing = ", ".join(f"{name}, typeof({name})" for name in columns)
            return list(connection.exec_driver_sql(f"SELECT {listing} FROM {table} ORDER BY {order_by}"))
        return list(connection.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {order_by}"))


def one_chunk() -> pa.Table:
    return as_arrow(lines(), LINE_TYPES)


def many_chunks() -> pa.Table:
    # pyarrow's CSV writer (26.0) writes stale bytes for data after an empty chunk, as concatenated parts make:
    # PostgreSQL's COPY refused these (invalid byte sequence for encoding "UTF8": 0x00).
    empty = as_arrow([], LINE_TYPES)
    return pa.concat_tables([*[empty] * 90, as_arrow(lines(), LINE_TYPES), empty])


def lines_stored_by_rows(engine: sa.Engine) -> tuple[sa.Table, list[tuple[Any, ...]]]:
    """`lines()` of one invoice written by the row writers: the table, and the rows as stored."""
    tables = reflect_tables(engine)
    with write_transaction(engine) as connection:
        upsert_rows(
            connection, tables["invoices"], [invoice(1, datetime(2026, 3, 2, 10, 21, 45), "1.00")], ["order_id"]
        )
        replace_children(connection, tables["invoice_lines"], "order_id", [1], lines())
    return tables["invoice_lines"], stored(engine, "invoice_lines", "line_number")


@pytest.mark.parametrize("slice_rows", [None, 3], ids=["one slice", "slices of 3 rows"])
@pytest.mark.parametrize("data", [one_chunk, many_chunks])
def test_arrow_inserts_store_the_same_values_as_row_inserts(
    engine: sa.Engine, data: Callable[[], pa.Table], slice_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if slice_rows:  # SQLite's executemany takes the rows a slice at a time
        monkeypatch.setattr(arrow_load, "_SQLITE_SLICE_ROWS", slice_rows)
    table, by_rows = lines_stored_by_rows(engine)
    with write_transaction(engine) as connection:
        replace_children(connection, table, "order_id", [1], [])
        assert insert_arrow(connection, table, data()) == len(TEXTS)
    assert stored(engine, "invoice_lines", "line_number") == by_rows


@pytest.mark.parametrize("warehouse", ["sqlite"], indirect=True)
@pytest.mark.parametrize("staged", [True, False], ids=["staged", "too few values once null columns are dropped"])
def test_a_staged_insert_stores_the_same_values_as_row_inserts(
    engine: sa.Engine, staged: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's plain inserts through ADBC's staging (connectors/warehouse/sqlite_staging.py) store what
    executemany stores. Found by an outside tester: the threshold was checked on the data with its all-null columns
    and again, failing, on the data without them (`ValueError: invoice_lines: 193 rows cannot be staged now`)."""
    data = one_chunk().append_column("unit", pa.array([None] * len(TEXTS), pa.string()))
    monkeypatch.setattr(sqlite_staging, "MIN_STAGED_VALUES", data.num_rows * data.num_columns if not staged else 1)
    table, by_rows = lines_stored_by_rows(engine)
    staging = SqliteStaging(engine, ["invoice_lines"])
    with staging.transaction() as connection:
        replace_children(connection, table, "order_id", [1], [])
        assert insert_arrow(connection, table, data, staging=staging) == len(TEXTS)
        assert staging.takes("invoice_lines", data) is not staged  # staged once per transaction at most
    staging.close()
    assert stored(engine, "invoice_lines", "line_number") == by_rows


def test_a_column_null_in_every_row_is_stored_null_even_where_it_has_a_default(engine: sa.Engine) -> None:
    """SQLite's insert leaves out the columns null in every row (binding fewer values): one with a default is kept,
    or the default would be stored instead of the NULL given."""
    runs = pa.table(
        {
            "run_id": ["r1", "r2"],
            "stream": ["sales", "sales"],
            "mode": ["replay", "replay"],
            "status": ["running", "running"],
            "company_id": pa.array([574991, 574991], pa.int64()),
            "requests": pa.array([None, None], pa.int32()),  # DEFAULT 0
            "error": pa.array([None, None], pa.string()),  # no default
        }
    )
    with write_transaction(engine) as connection:
        assert insert_arrow(connection, reflect_tables(engine)["sync_runs"], runs) == 2
    with engine.connect() as connection:
        stored_runs = connection.exec_driver_sql("SELECT run_id, requests, error FROM sync_runs ORDER BY run_id")
        assert stored_runs.all() == [("r1", None, None), ("r2", None, None)]


def invoice(order_id: int, last_modified: datetime, total: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "direction": "Income",
        "order_date": date(2026, 3, 2),
        "last_modified": last_modified,
        "last_modified_raw": last_modified.isoformat(),
        "total_incl": Decimal(total),
        "paid": order_id % 2 == 0,
        "is_deleted": False,
        "last_run_id": "run-1",
    }


INVOICE_TYPES = {
    "order_id": pa.int64(),
    "direction": pa.string(),
    "order_date": pa.date32(),
    "last_modified": pa.timestamp("us"),
    "last_modified_raw": pa.string(),
    "total_incl": pa.decimal128(18, 2),
    "paid": pa.bool_(),
    "is_deleted": pa.bool_(),
    "last_run_id": pa.string(),
}


def test_an_arrow_upsert_updates_like_upsert_rows_and_keeps_a_stored_newer_row(engine: sa.Engine) -> None:
    table = reflect_tables(engine)["invoices"]
    older, newer = datetime(2026, 3, 2, 10, 21, 45, 600001), datetime(2026, 3, 3, 8, 0, 0, 1)
    first = [invoice(1, older, "10.00"), invoice(2, newer, "20.00")]
    second = [invoice(1, newer, "5813753208314.60"), invoice(2, older, "1.00"), invoice(3, older, "-0.10")]
    loaded_at = sa.select(table.c.order_id, table.c.loaded_at).order_by("order_id")
    results = []
    for write in (
        lambda connection, rows: upsert_rows(connection, table, rows, ["order_id"], unless_newer="last_modified"),
        lambda connection, rows: upsert_arrow(
            connection, table, as_arrow(rows, INVOICE_TYPES), ["order_id"], unless_newer="last_modified"
        ),
    ):
        with write_transaction(engine) as connection:
            connection.execute(table.delete())
            upsert_rows(connection, table, first, ["order_id"])
            written = write(connection, second)
        with engine.connect() as connection:
            kept = list(connection.execute(loaded_at))
        rows = [
            row[: len(row) - (4 if engine.dialect.name == "sqlite" else 2)]
            for row in stored(engine, "invoices", "order_id")
        ]
        results.append((written, rows, len(kept)))
    assert results[0] == results[1]
    assert [row[0] for row in results[1][1]] == [1, 2, 3]


class CommitRefused(Exception):
    pass


@pytest.mark.parametrize("warehouse", ["sqlite"], indirect=True)
def test_a_staging_transaction_that_fails_to_end_raises_its_error_and_pools_no_attached_connection(
    engine: sa.Engine,
) -> None:
    """Found by a reviewer: a COMMIT that failed left the transaction open, the DETACH after it failed ("database
    staging_0 is locked") in its place, and the connection went back to the pool with the staging databases attached,
    so every later staged transaction failed at ATTACH ("already in use")."""

    def refuse(_connection: sa.Connection) -> None:
        raise CommitRefused

    staging = SqliteStaging(engine, ["invoice_lines", "invoices"])
    sa.event.listen(engine, "commit", refuse)
    with pytest.raises(CommitRefused), staging.transaction() as connection:
        connection.exec_driver_sql("SELECT count(*) FROM staging_0.sqlite_master")
    sa.event.remove(engine, "commit", refuse)
    for _ in range(3):  # whichever pooled connection it gets
        with staging.transaction() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM invoices").scalar() == 0
    with engine.connect() as connection:
        attached = [row[1] for row in connection.exec_driver_sql("PRAGMA database_list")]
    assert attached == ["main"]
    staging.close()
