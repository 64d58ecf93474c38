"""Bulk writers on SQLite and PostgreSQL: exact decimals, upserts, COPY vs executemany, child-set replacement,
insert-if-absent, and the throughput of a 100,000-row upsert (printed with ``-s``, never asserted)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pyarrow as pa
import pytest
import sqlalchemy as sa

from connectors.warehouse import (
    COPY_THRESHOLD,
    insert_ignoring_duplicates,
    reflect_tables,
    replace_children,
    upgrade,
    upsert_rows,
)
from connectors.warehouse.arrow_load import upsert_arrow
from connectors.warehouse.load import BulkMethod
from tests.connectors.warehouse import postgres_schema

LINE_KEY = ["order_id", "line_number"]
HISTORY_KEY = ["order_id", "observed_last_modified"]
QUARANTINE_KEY = ["company_id", "stream", "entity", "entity_key", "source_version", "reason"]
LOADED_AT = datetime.fromisoformat("2026-03-02 09:30:00.123456")  # naive: our *_at columns are naive UTC
BILLIT_LAST_MODIFIED = datetime.fromisoformat("2026-03-02 10:21:45.600000")  # naive local time, as Billit writes it


@pytest.fixture
def tables(engine: sa.Engine) -> dict[str, sa.Table]:
    return reflect_tables(engine)


def invoice(order_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id,
        "direction": "Income",
        "order_number": f"2026-{order_id:05d}",
        "order_date": date(2026, 3, 2),
        "last_modified": BILLIT_LAST_MODIFIED,
        "last_modified_raw": "2026-03-02T10:21:45.6",
        "currency": "EUR",
        "fx_rate_to_foreign": Decimal("1.00000"),
        "total_excl": Decimal("155.77"),
        "total_vat": Decimal("32.71"),
        "total_incl": Decimal("188.48"),
        "order_status": "ToSend",
        "paid": False,
        "last_run_id": "run-1",
        "loaded_at": LOADED_AT,
    }
    row.update(overrides)
    return row


def line(order_id: int, line_number: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order_id": order_id,
        "line_number": line_number,
        "order_line_id": order_id * 1000 + line_number,
        "description": f"Consulting day {line_number}",
        "description_extended": None,
        "reference": "CONS",
        "unit": "day",
        "quantity": Decimal("1.50000"),
        "unit_price_excl": Decimal("103.84667"),
        "reduction_percentage": Decimal("0.0000"),
        "vat_percentage": Decimal("21.0000"),
        "ventilation_code": "4",
        "vat_category": "S",
        "vat_rate": Decimal("21.0000"),
        "exemption_reason": None,
        "vatex_code": None,
        "base_grids": "03",
        "vat_grids": "54",
        "total_excl": Decimal("155.77"),
        "total_vat": Decimal("32.71"),
        "total_incl": Decimal("188.48"),
        "account_code": "700000",
    }
    row.update(overrides)
    return row


def history(order_id: int, minute: int, status: str = "ToSend") -> dict[str, Any]:
    return {
        "order_id": order_id,
        "observed_last_modified": BILLIT_LAST_MODIFIED.replace(minute=minute),
        "run_id": "run-1",
        "order_status": status,
        "paid": False,
        "is_deleted": False,
        "recorded_at": LOADED_AT,
    }


def read_all(connection: sa.Connection, table: sa.Table, *, without: Sequence[str] = ()) -> list[dict[str, Any]]:
    columns = [column for column in table.columns if column.name not in without]
    statement = sa.select(*columns).order_by(*table.primary_key.columns)
    return [dict(row) for row in connection.execute(statement).mappings()]


def test_decimals_dates_and_timestamps_round_trip_exactly(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    # SQLite keeps 15 significant digits, PostgreSQL's NUMERIC any number: test each at its documented limit.
    big = Decimal("12345678901234.56") if engine.dialect.name == "postgresql" else Decimal("9999999999999.99")
    row = invoice(
        1,
        total_excl=big,
        total_vat=Decimal("0.10"),
        total_incl=Decimal("-155.77"),
        fx_rate_to_foreign=Decimal("0.10000"),
        expiry_date=date(2026, 4, 1),
        is_sent=True,
    )
    with engine.begin() as connection:
        upsert_rows(connection, tables["invoices"], [row], ["order_id"])
        upsert_rows(connection, tables["invoice_lines"], [line(1, 1, quantity=Decimal("0.10000"))], LINE_KEY)
    with engine.connect() as connection:
        stored = connection.execute(sa.select(tables["invoices"])).mappings().one()
        stored_line = connection.execute(sa.select(tables["invoice_lines"])).mappings().one()
    for name in ("total_excl", "total_vat", "total_incl", "fx_rate_to_foreign"):
        assert type(stored[name]) is Decimal
        assert str(stored[name]) == str(row[name])
    assert str(stored_line["quantity"]) == "0.10000"
    assert str(stored_line["unit_price_excl"]) == "103.84667"
    assert str(stored_line["vat_percentage"]) == "21.0000"
    assert stored["order_date"] == date(2026, 3, 2) and stored["expiry_date"] == date(2026, 4, 1)
    assert stored["last_modified"] == BILLIT_LAST_MODIFIED
    assert stored["loaded_at"] == LOADED_AT
    assert stored["is_sent"] is True and stored["paid"] is False and stored["is_deleted"] is False


def test_defaulted_timestamps_come_back_as_naive_utc_datetimes(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    row = invoice(1)
    del row["loaded_at"]
    with engine.begin() as connection:
        upsert_rows(connection, tables["invoices"], [row], ["order_id"])
        loaded_at = connection.execute(sa.select(tables["invoices"].c.loaded_at)).scalar_one()
    assert isinstance(loaded_at, datetime) and loaded_at.tzinfo is None
    assert abs(loaded_at - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5)


def test_upsert_inserts_new_keys_then_updates_only_the_chosen_columns(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    invoices = tables["invoices"]
    with engine.begin() as connection:
        assert upsert_rows(connection, invoices, [invoice(1), invoice(2)], ["order_id"]) == 2
    changed = [
        invoice(2, order_status="Paid", paid=True, total_incl=Decimal("200.00"), last_run_id="run-2"),
        invoice(3, last_run_id="run-2"),
    ]
    with engine.begin() as connection:
        written = upsert_rows(
            connection, invoices, changed, ["order_id"], update_columns=["order_status", "paid", "last_run_id"]
        )
        stored = {row["order_id"]: row for row in read_all(connection, invoices)}
    assert written == 2
    assert sorted(stored) == [1, 2, 3]
    assert (stored[2]["order_status"], stored[2]["paid"], stored[2]["last_run_id"]) == ("Paid", True, "run-2")
    assert stored[2]["total_incl"] == Decimal("188.48")  # not among update_columns
    assert stored[1]["last_run_id"] == "run-1"


@pytest.mark.parametrize("method", ["auto", "executemany"])
def test_an_older_snapshot_never_overwrites_a_newer_row(
    engine: sa.Engine, tables: dict[str, sa.Table], method: BulkMethod
) -> None:
    newer = BILLIT_LAST_MODIFIED + timedelta(seconds=1)
    older = BILLIT_LAST_MODIFIED - timedelta(seconds=1)
    padding = [invoice(order_id) for order_id in range(10, 10 + COPY_THRESHOLD)]  # large enough for COPY on auto
    with engine.begin() as connection:
        first = invoice(1, order_status="Paid", last_modified=newer)
        upsert_rows(connection, tables["invoices"], [first], ["order_id"])
        upsert_rows(
            connection,
            tables["invoices"],
            [invoice(1, order_status="ToPay", last_modified=older), invoice(2, last_modified=older), *padding],
            ["order_id"],
            unless_newer="last_modified",
            method=method,
        )
        upsert_rows(
            connection,
            tables["invoices"],
            [invoice(2, order_status="Paid", last_modified=newer)],
            ["order_id"],
            unless_newer="last_modified",
            method=method,
        )
        stored = {row["order_id"]: row for row in read_all(connection, tables["invoices"])}
    assert (stored[1]["order_status"], stored[1]["last_modified"]) == ("Paid", newer)
    assert (stored[2]["order_status"], stored[2]["last_modified"]) == ("Paid", newer)


@pytest.mark.parametrize("method", ["auto", "executemany"])
def test_upsert_keeps_the_last_row_of_a_repeated_key(
    engine: sa.Engine, tables: dict[str, sa.Table], method: BulkMethod
) -> None:
    rows = [invoice(1, order_status="Draft"), invoice(2), invoice(1, order_status="ToSend")]
    rows += [invoice(order_id) for order_id in range(10, 10 + COPY_THRESHOLD)]  # large enough for COPY on auto
    with engine.begin() as connection:
        written = upsert_rows(connection, tables["invoices"], rows, ["order_id"], method=method)
        status = connection.execute(
            sa.select(tables["invoices"].c.order_status).where(tables["invoices"].c.order_id == 1)
        ).scalar_one()
    assert written == len(rows) - 1
    assert status == "ToSend"


def _upsert(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], method: str) -> None:
    if method == "arrow":  # the replay's path
        upsert_arrow(connection, table, pa.Table.from_pylist(rows), ["order_id"])
    else:
        upsert_rows(connection, table, rows, ["order_id"], method=cast(BulkMethod, method))


@pytest.mark.postgres
@pytest.mark.parametrize("method", ["executemany", "copy", "arrow"])
def test_two_transactions_upserting_overlapping_keys_in_different_orders_never_deadlock(
    postgres_url: str, method: str
) -> None:
    # Two streams of one company, loading side by side, upsert the parties they share (and a replay beside a
    # sync). Rows are written in key order, so both lock the shared keys in one order: one waits for the other,
    # never each for the other.
    with postgres_schema(postgres_url) as warehouse:
        engine = warehouse.engine()
        try:
            upgrade(engine)
            invoices = reflect_tables(engine)["invoices"]
            second_pid: list[int] = []
            second_errors: list[BaseException] = []

            def second_transaction() -> None:
                try:
                    with engine.begin() as second:
                        second_pid.append(second.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
                        _upsert(second, invoices, [invoice(2), invoice(1)], method)
                except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                    second_errors.append(exc)

            with engine.begin() as first:
                _upsert(first, invoices, [invoice(1)], method)
                second = threading.Thread(target=second_transaction)
                second.start()
                with engine.connect() as observer:  # until the second transaction waits on a lock
                    for _ in range(200):
                        if (
                            second_pid
                            and observer.exec_driver_sql(
                                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (second_pid[0],)
                            ).scalar()
                        ):
                            break
                        time.sleep(0.05)
                _upsert(first, invoices, [invoice(2, order_status="Paid")], method)
            second.join(timeout=30)
            assert not second_errors
        finally:
            engine.dispose()


@pytest.mark.postgres
def test_copy_and_executemany_write_identical_rows(postgres_url: str) -> None:
    awkward_text = "tab\there, newline\nthere, backslash \\N, quote ' and \" and ; and é€"
    invoices = [invoice(order_id, comments=awkward_text if order_id % 2 else None) for order_id in range(1, 41)]
    lines = [line(order_id, number) for order_id in range(1, 41) for number in range(1, 4)]
    updates = [line(order_id, 1, description="changed", total_excl=Decimal("0.01")) for order_id in range(1, 41)]
    replacement = [line(order_id, 1, description="only line") for order_id in range(1, 21)]
    observations = [history(order_id, minute) for order_id in range(1, 41) for minute in (1, 2)]
    # No created_at: the column default must apply on both paths (the COPY staging table has no defaults).
    problems = [
        {
            "company_id": 1,
            "run_id": "r",
            "stream": "s",
            "order_id": n,
            "entity": "order",
            "entity_key": str(n),
            "source_version": "",
            "reason": "bad",
        }
        for n in range(1, 41)
    ]

    def load(method: BulkMethod) -> tuple[list[int], dict[str, list[Any]]]:
        with postgres_schema(postgres_url) as warehouse:
            engine = warehouse.engine()
            try:
                return _load_everything(engine, method)
            finally:
                engine.dispose()

    def _load_everything(engine: sa.Engine, method: BulkMethod) -> tuple[list[int], dict[str, list[Any]]]:
        upgrade(engine)
        tables = reflect_tables(engine)
        with engine.begin() as connection:
            counts = [
                upsert_rows(connection, tables["invoices"], invoices, ["order_id"], method=method),
                upsert_rows(connection, tables["invoice_lines"], lines, LINE_KEY, method=method),
                upsert_rows(
                    connection,
                    tables["invoice_lines"],
                    updates,
                    LINE_KEY,
                    update_columns=["description", "total_excl"],
                    method=method,
                ),
                insert_ignoring_duplicates(
                    connection, tables["invoice_status_history"], observations, HISTORY_KEY, method=method
                ),
                insert_ignoring_duplicates(
                    connection, tables["invoice_status_history"], observations, HISTORY_KEY, method=method
                ),
                replace_children(
                    connection, tables["invoice_lines"], "order_id", list(range(1, 31)), replacement, method=method
                ),
                insert_ignoring_duplicates(connection, tables["quarantine"], problems, QUARANTINE_KEY, method=method),
            ]
        with engine.connect() as connection:
            snapshot = {
                "invoices": read_all(connection, tables["invoices"]),
                "invoice_lines": read_all(connection, tables["invoice_lines"]),
                "invoice_status_history": read_all(
                    connection, tables["invoice_status_history"], without=["history_id"]
                ),
                "quarantine": read_all(connection, tables["quarantine"], without=["quarantine_id", "created_at"]),
                "quarantine_created": [
                    row["created_at"] is not None for row in read_all(connection, tables["quarantine"])
                ],
            }
        return counts, snapshot

    copied = load("copy")
    executed = load("executemany")
    assert copied[0] == executed[0] == [40, 120, 40, 80, 0, 20, 40]
    assert copied[1] == executed[1]
    assert copied[1]["invoices"][0]["comments"] == awkward_text
    assert len(copied[1]["invoice_lines"]) == 20 + 10 * 3


def test_replace_children_swaps_the_whole_set_of_each_named_parent(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    invoice_lines = tables["invoice_lines"]
    with engine.begin() as connection:
        upsert_rows(connection, tables["invoices"], [invoice(1), invoice(2), invoice(3)], ["order_id"])
        replace_children(
            connection, invoice_lines, "order_id", [1, 2, 3], [line(1, n) for n in (1, 2, 3)] + [line(2, 1), line(3, 1)]
        )
    with engine.begin() as connection:
        inserted = replace_children(
            connection, invoice_lines, "order_id", [1, 2], [line(1, 1, description="rewritten")]
        )
        keys = [
            (row["order_id"], row["line_number"], row["description"]) for row in read_all(connection, invoice_lines)
        ]
    assert inserted == 1
    assert keys == [(1, 1, "rewritten"), (3, 1, "Consulting day 1")]


def test_replace_children_refuses_a_row_whose_parent_was_not_named(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    with engine.begin() as connection, pytest.raises(ValueError, match="parents not in parent_ids"):
        replace_children(connection, tables["invoice_lines"], "order_id", [1], [line(1, 1), line(2, 1)])


def test_insert_ignoring_duplicates_makes_a_replay_add_nothing(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    status_history, quarantine = tables["invoice_status_history"], tables["quarantine"]
    problems = [
        {
            "company_id": 1,
            "run_id": "run-1",
            "stream": "orders_income",
            "order_id": order_id,
            "entity": "line",
            "entity_key": f"{order_id}/1",
            "source_version": "2026-03-02T10:21:45.6",
            "reason": "unknown VAT category",
            "payload": '{"OrderLineID": 1}',
        }
        for order_id in (1, 2)
    ]
    with engine.begin() as connection:
        upsert_rows(connection, tables["invoices"], [invoice(1), invoice(2)], ["order_id"])
        first = insert_ignoring_duplicates(connection, status_history, [history(1, 1), history(2, 1)], HISTORY_KEY)
        quarantined = insert_ignoring_duplicates(connection, quarantine, problems, QUARANTINE_KEY)
    replayed_problems = [{**problem, "run_id": "run-2"} for problem in problems]
    newer_version = [{**problems[0], "run_id": "run-2", "source_version": "2026-03-03T08:00:00.1"}]
    with engine.begin() as connection:
        replay = insert_ignoring_duplicates(
            connection, status_history, [history(1, 1, "Sent"), history(1, 2, "Sent")], HISTORY_KEY
        )
        requarantined = insert_ignoring_duplicates(
            connection, quarantine, replayed_problems + newer_version, QUARANTINE_KEY
        )
        stored = read_all(connection, status_history)
        quarantine_rows = read_all(connection, quarantine)
    assert (first, replay) == (2, 1)
    assert [(row["order_id"], row["order_status"]) for row in stored] == [(1, "ToSend"), (2, "ToSend"), (1, "Sent")]
    assert (quarantined, requarantined) == (2, 1)
    assert [row["run_id"] for row in quarantine_rows] == ["run-1", "run-1", "run-2"]
    assert all(row["created_at"] is not None for row in quarantine_rows)


def test_foreign_keys_are_enforced_and_deleting_an_invoice_cascades_to_its_children(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        upsert_rows(connection, tables["invoice_lines"], [line(99, 1)], LINE_KEY)
    with engine.begin() as connection:
        upsert_rows(connection, tables["invoices"], [invoice(1)], ["order_id"])
        upsert_rows(connection, tables["invoice_lines"], [line(1, 1), line(1, 2)], LINE_KEY)
        connection.execute(sa.delete(tables["invoices"]))
        assert read_all(connection, tables["invoice_lines"]) == []


def test_writers_refuse_unknown_columns_ragged_rows_floats_and_aware_timestamps(
    engine: sa.Engine, tables: dict[str, sa.Table]
) -> None:
    invoices = tables["invoices"]
    aware = invoice(1, last_modified=datetime.fromisoformat("2026-03-02T10:21:45+01:00"))
    with engine.begin() as connection:
        with pytest.raises(ValueError, match="no columns"):
            upsert_rows(connection, invoices, [invoice(1, overdue=True)], ["order_id"])
        with pytest.raises(ValueError, match="row 1"):
            upsert_rows(connection, invoices, [invoice(1), {"order_id": 2, "direction": "Cost"}], ["order_id"])
        with pytest.raises(ValueError, match="naive"):
            upsert_rows(connection, invoices, [aware], ["order_id"])
        with pytest.raises(ValueError, match="pass Decimal, not float"):
            upsert_rows(connection, invoices, [invoice(1, total_excl=155.77)], ["order_id"])
        with pytest.raises(ValueError, match="key columns"):
            upsert_rows(connection, invoices, [{"direction": "Cost"}], ["order_id"])
        assert upsert_rows(connection, invoices, [], ["order_id"]) == 0


def test_reflection_is_cached_per_engine(engine: sa.Engine) -> None:
    first, second = reflect_tables(engine), reflect_tables(engine)
    assert first["invoices"] is second["invoices"]
    assert first is not second  # callers get their own dict


@pytest.mark.slow
def test_upserting_100000_line_rows_reports_throughput(engine: sa.Engine, tables: dict[str, sa.Table]) -> None:
    orders, per_order = 10_000, 10
    rows = [line(order_id, number) for order_id in range(orders) for number in range(1, per_order + 1)]
    with engine.begin() as connection:
        upsert_rows(connection, tables["invoices"], [invoice(order_id) for order_id in range(orders)], ["order_id"])
    for phase in ("insert", "update"):
        started = time.perf_counter()
        with engine.begin() as connection:
            written = upsert_rows(connection, tables["invoice_lines"], rows, LINE_KEY)
        elapsed = time.perf_counter() - started
        print(f"\n{engine.dialect.name} upsert ({phase}) of {written:,} line rows: {written / elapsed:,.0f} rows/s")
        assert written == len(rows)
