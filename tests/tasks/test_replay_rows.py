"""The replay's fast path (the normalised rows landed beside each part) writes exactly what the replay of the raw
orders writes: the same landing replayed both ways into two warehouses, every table compared, on SQLite and
PostgreSQL. A part the database refuses falls back to the raw path; a landing of before the rows still replays."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import adbc_driver_sqlite.dbapi
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from adbc_driver_manager import AdbcStatusCode
from typer.testing import CliRunner

from cli.main import app
from connectors.warehouse import reflect_tables, sqlite_staging, upgrade, write_transaction
from connectors.warehouse.sqlite_staging import SqliteStaging
from sandbox.identity import API_KEY
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound import replay as replay_module
from tasks.inbound.deletions import mark_deleted
from tasks.inbound.extract import SyncOptions
from tasks.inbound.landing import LandingWriter, landed_parts
from tasks.inbound.landing_rows import rows_path
from tasks.inbound.parties import parties_to_write
from tasks.inbound.replay import replay_landing
from tasks.inbound.state import forget_pending
from tasks.inbound.sync import run_stream
from tasks.inbound.warehouse import normalise_batch, write_orders
from tests.connectors.warehouse import Warehouse, postgres_schema
from tests.tasks.sync_helpers import COMPANY, SEED_START
from tests.tasks.test_landing_rows import documented_orders, json_text

DOCS_COMPANY = 574991  # the CompanyID of the documented orders
# Columns that say when a row was written, or number rows in insertion order: compared as "set or not".
WHEN = {
    "loaded_at",
    "recorded_at",
    "first_seen_at",
    "last_seen_at",
    "last_synced_at",
    "last_attempt_at",
    "resolved_at",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "updated_at",
    "applied_at",
    "history_id",
    "quarantine_id",
    "host",
    "pid",
}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landing of a real sync of both streams, and two runs of the documented orders: one with a quarantined
    line, an order quarantined whole (pending) and every kind of row; a later one where that order loads (it leaves
    pending) and another comes back at an older version (left alone)."""
    root = tmp_path_factory.mktemp("landing")
    scratch = Warehouse("sqlite", f"sqlite:///{root / 'scratch.sqlite'}").engine()
    upgrade(scratch)
    # Batches of 60 orders: each stream lands in several parts, which the replay writes as one group.
    with (
        SandboxServer(Sandbox(seed=11, orders=300, seed_start=SEED_START)) as server,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr("tasks.inbound.sync.SyncOptions", functools.partial(SyncOptions, batch_size=60))
        for stream in ("incoming", "sales"):
            run_stream(
                stream,
                engine=scratch,
                base_url=server.base_url,
                api_key=API_KEY,
                party_id=COMPANY,
                landing_dir=str(root / "landing"),
                backoff_base_s=0.01,
            )
    scratch.dispose()

    sale, cost, unknown_code, no_direction = documented_orders()
    fixed = {**copy.deepcopy(no_direction), "OrderDirection": "Cost"}
    older_cost = {**copy.deepcopy(cost), "LastModified": _earlier(cost["LastModified"])}
    _land(root / "landing", "sales", "docs-1", [sale, unknown_code])
    _land(root / "landing", "incoming", "docs-1", [cost, no_direction])
    _land(root / "landing", "incoming", "docs-2", [fixed, older_cost])
    return root / "landing"


def _earlier(last_modified: str) -> str:
    return (datetime.fromisoformat(last_modified) - timedelta(days=1)).isoformat(timespec="milliseconds")


def _land(landing: Path, stream: str, run_id: str, orders: list[dict[str, Any]]) -> None:
    """Land `orders` as the sync does (normalised once, the rows beside the raw part), written after the rest."""
    batch = normalise_batch(orders, stream=stream, run_id=run_id, company_id=DOCS_COMPANY)
    part = LandingWriter(landing, stream, run_id, party_id=DOCS_COMPANY).write(
        orders, [json_text(order) for order in orders], batch
    )
    assert part is not None and rows_path(part).exists()
    later = max(path.stat().st_mtime for path in landing.rglob("*.parquet")) + 1
    os.utime(part, (later, later))


@pytest.fixture(autouse=True)
def one_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests compare the replay's paths, each loading its runs in turn; on PostgreSQL runs of two streams load
    side by side otherwise (tests/tasks/test_replay_lanes.py)."""
    monkeypatch.setattr(replay_module, "POSTGRESQL_LANES", 1)


def raw_only(landing: Path, destination: Path) -> Path:
    """A copy of `landing` without its rows files: a landing of before them."""
    shutil.copytree(landing, destination)
    for rows in destination.rglob("rows-*"):
        rows.unlink()
    return destination


def without_raw_orders(landing: Path, destination: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of `landing` whose raw orders the replay may not read: a replay that succeeds took the fast path for
    every part. (The raw parts cannot be damaged instead: the rows name the digest of their part's bytes.)"""

    def no_raw_path(part: Path) -> list[Any]:
        raise AssertionError(f"{part}: replayed from its raw orders")

    monkeypatch.setattr(replay_module, "read_part_orders", no_raw_path)
    return Path(shutil.copytree(landing, destination))


@pytest.fixture
def second_engine(warehouse: Warehouse, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    """Another empty warehouse of the same kind as `engine`."""
    with ExitStack() as stack:
        if warehouse.dialect == "sqlite":
            other = Warehouse("sqlite", f"sqlite:///{tmp_path / 'second.sqlite'}")
        else:
            other = stack.enter_context(postgres_schema(request.getfixturevalue("postgres_url")))
        engine = other.engine()
        upgrade(engine)
        yield engine
        engine.dispose()


def every_table(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, sorted; run ids as the rank of their run among the runs of its stream and company
    (those of different ones replay side by side), write times as whether they are set."""
    tables = reflect_tables(engine)
    with engine.connect() as connection:
        runs = tables["sync_runs"]
        by_lane = (runs.c.stream, runs.c.company_id, runs.c.started_at)
        order = connection.execute(sa.select(runs.c.run_id).order_by(*by_lane)).scalars()
        rank = {run_id: index for index, run_id in enumerate(order)}
        contents = {}
        for name, table in tables.items():
            if name == "schema_migrations":
                continue
            rows = []
            for row in connection.execute(sa.select(table)).mappings():
                rows.append(
                    tuple(
                        (column, rank.get(value, value) if column.endswith("run_id") else value)
                        if column not in WHEN and not (name == "quarantine" and column == "created_at")
                        else (column, value is not None)
                        for column, value in row.items()
                    )
                )
            contents[name] = sorted(rows, key=repr)
    return contents


def counts(summary: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in summary.items() if name.startswith(("orders_", "lines_", "quarantined"))}


def replay_twice(landing: Path, engine: sa.Engine) -> list[dict[str, Any]]:
    """Replay `landing`, then again: the second time every order is already stored."""
    summaries = replay_landing(landing, engine=engine) + replay_landing(landing, engine=engine)
    assert [summary["status"] for summary in summaries] == ["succeeded"] * len(summaries), summaries
    return summaries


def test_the_landed_rows_replay_into_every_table_what_the_raw_orders_replay(
    landing: Path, engine: sa.Engine, second_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = replay_twice(raw_only(landing, tmp_path / "raw"), second_engine)
    fast = replay_twice(without_raw_orders(landing, tmp_path / "fast", monkeypatch), engine)

    assert [counts(summary) for summary in fast] == [counts(summary) for summary in slow]
    fast_tables, slow_tables = every_table(engine), every_table(second_engine)
    assert fast_tables.keys() == slow_tables.keys()
    for name in fast_tables:
        assert fast_tables[name] == slow_tables[name], name
    # Every path of the load was taken: new, unchanged, older, quarantined, pending, recovered (once per replay:
    # docs-1 leaves the order pending again), history.
    for name in ("invoices", "invoice_lines", "invoice_vat_groups", "vat_return_entries", "parties"):
        assert fast_tables[name], name
    for name in ("party_identifiers", "quarantine", "invoice_status_history", "invoice_messages"):
        assert fast_tables[name], name
    assert sum(s["orders_unchanged"] for s in fast) >= sum(s["orders_new"] for s in fast) > 0
    assert sum(s["orders_recovered"] for s in fast) == 2 and sum(s["quarantined"] for s in fast) > 0


sqlite_only = pytest.mark.parametrize("warehouse", ["sqlite"], indirect=True)


@pytest.fixture
def staged_tables(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every plain insert of the fast path on SQLite staged through ADBC, however few its rows (a replay stages
    only the large ones); the tables it staged, one entry per staged insert."""
    monkeypatch.setattr(sqlite_staging, "MIN_STAGED_VALUES", 1)
    staged: list[str] = []
    stage = SqliteStaging.insert

    def recorded(self: SqliteStaging, connection: sa.Connection, table: sa.Table, data: Any) -> int | None:
        inserted = stage(self, connection, table, data)
        if inserted is not None:
            staged.append(table.name)
        return inserted

    monkeypatch.setattr(SqliteStaging, "insert", recorded)
    return staged


def assert_fast_and_raw_replays_alike(landing: Path, engine: sa.Engine, raw_engine: sa.Engine, tmp_path: Path) -> None:
    """`landing` replayed into `engine` leaves what its raw orders replayed into `raw_engine` leave."""
    raw = replay_landing(raw_only(landing, tmp_path / "raw"), engine=raw_engine)
    fast = replay_landing(landing, engine=engine)
    assert every_table(engine) == every_table(raw_engine)
    assert [counts(summary) for summary in fast] == [counts(summary) for summary in raw]


@sqlite_only
def test_inserts_staged_through_adbc_store_what_the_raw_orders_replay(
    landing: Path,
    engine: sa.Engine,
    second_engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    staged_tables: list[str],
) -> None:
    slow = replay_twice(raw_only(landing, tmp_path / "raw"), second_engine)
    fast = replay_twice(without_raw_orders(landing, tmp_path / "fast", monkeypatch), engine)

    assert [counts(summary) for summary in fast] == [counts(summary) for summary in slow]
    assert every_table(engine) == every_table(second_engine)
    # New orders, stored orders (their children): every table a replay stages, and no scratch file left.
    assert set(staged_tables) == set(replay_module.STAGED_TABLES)
    assert not list(Path(tempfile.gettempdir()).glob("billit-staging-*"))


@sqlite_only
def test_scratch_files_of_a_replay_killed_before_its_end_are_removed_by_the_next_one(
    landing: Path, engine: sa.Engine, staged_tables: list[str]
) -> None:
    # Found by a reviewer: a replay killed with SIGKILL left its scratch directory (2.9 MB) for good.
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    temporary = Path(tempfile.gettempdir())
    killed = temporary / f"billit-staging-{ended.stdout.strip()}-x1"
    running = temporary / f"billit-staging-{os.getppid()}-x2"  # a process still running: its replay goes on
    for directory in (killed, running):
        directory.mkdir()
        (directory / "invoices.sqlite").write_bytes(b"scratch")
    replay_landing(landing, engine=engine)
    assert staged_tables and not killed.exists() and running.exists()


@sqlite_only
def test_a_staged_insert_the_database_refuses_falls_back_as_an_ordinary_one_does(
    landing: Path, engine: sa.Engine, second_engine: sa.Engine, tmp_path: Path, staged_tables: list[str]
) -> None:
    refused = min(landed_order_ids(landing))
    for target in (engine, second_engine):
        refuse_order(target, refused, "invoice_lines")
    assert_fast_and_raw_replays_alike(landing, engine, second_engine, tmp_path)
    assert "invoice_lines" in staged_tables


@sqlite_only
@pytest.mark.parametrize("failure", ["ADBC fails", "no temporary directory"])
def test_rows_that_cannot_be_staged_go_the_ordinary_way(
    landing: Path,
    engine: sa.Engine,
    second_engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    staged_tables: list[str],
    failure: str,
) -> None:
    def full_disk(*_args: Any, **_kwargs: Any) -> None:
        raise adbc_driver_sqlite.dbapi.OperationalError("disk I/O error", status_code=AdbcStatusCode.IO)

    if failure == "ADBC fails":
        monkeypatch.setattr(adbc_driver_sqlite.dbapi, "connect", full_disk)
    else:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    assert_fast_and_raw_replays_alike(landing, engine, second_engine, tmp_path)
    assert staged_tables == []


@pytest.mark.parametrize("path", ["fast", "raw"])
def test_a_replay_never_brings_back_an_order_deleted_after_its_landed_version(
    landing: Path, engine: sa.Engine, tmp_path: Path, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found from the outside: a landing holds the orders a sync fetched, not the deletions it listed, and replaying
    # it over the warehouse set is_deleted back to false (the next sync deleted them again).
    if path == "fast":
        source = without_raw_orders(landing, tmp_path / "fast", monkeypatch)
    else:
        source = raw_only(landing, tmp_path / "raw")
    replay_landing(source, engine=engine)
    invoices = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        gone, kept_back, stamp = connection.execute(
            sa.select(invoices.c.order_id, invoices.c.company_id, invoices.c.last_modified)
            .where(invoices.c.company_id == COMPANY)
            .order_by(invoices.c.order_id)
            .limit(1)
        ).one()
    deleted_at = stamp + timedelta(days=1)
    mark_deleted(engine, [{"OrderID": gone, "LastModified": deleted_at.isoformat()}], run_id="d", company_id=kept_back)

    replay_landing(source, engine=engine)
    with engine.connect() as connection:
        row = connection.execute(sa.select(invoices).where(invoices.c.order_id == gone)).one()
    assert row.is_deleted and row.deleted_at == deleted_at

    # A landed version later than the deletion is a change Billit made after it: that one is loaded.
    with write_transaction(engine) as connection:
        connection.execute(invoices.update().where(invoices.c.order_id == gone).values(deleted_at=stamp - timedelta(1)))
    replay_landing(source, engine=engine)
    with engine.connect() as connection:
        assert not connection.execute(sa.select(invoices.c.is_deleted).where(invoices.c.order_id == gone)).scalar()


@pytest.mark.parametrize("table", ["invoices", "invoice_lines"])  # PostgreSQL: a COPY, as a statement, refused
def test_a_part_the_database_refuses_falls_back_to_the_raw_orders_and_only_the_refused_order_stays_pending(
    landing: Path, engine: sa.Engine, second_engine: sa.Engine, tmp_path: Path, table: str
) -> None:
    refused = min(landed_order_ids(landing))
    # Its part is one of a group the fast path writes in one transaction: refused whole, then part by part.
    assert len(landed_parts(synced_sales_run(landing))) > 1
    for target in (engine, second_engine):
        refuse_order(target, refused, table)
    fast = replay_landing(landing, engine=engine)
    slow = replay_landing(raw_only(landing, tmp_path / "raw"), engine=second_engine)

    assert every_table(engine) == every_table(second_engine)
    assert [counts(summary) for summary in fast] == [counts(summary) for summary in slow]
    pending = reflect_tables(engine)["pending_orders"]
    with engine.connect() as connection:
        reasons = connection.execute(sa.select(pending.c.order_id, pending.c.reason)).all()
    assert [order_id for order_id, reason in reasons if "refused" in reason] == [refused]


def synced_sales_run(landing: Path) -> Path:
    """The landed run of the sync's sales stream (the run with the most parts)."""
    return max((landing / "sales").glob("run=*"), key=lambda run: len(landed_parts(run)))


def landed_order_ids(landing: Path) -> list[int]:
    return [
        order_id
        for part in landed_parts(synced_sales_run(landing))
        for order_id in pq.read_table(part, columns=["order_id"]).column(0).to_pylist()
    ]


def refuse_order(engine: sa.Engine, order_id: int, table: str = "invoices") -> None:
    """A warehouse that refuses to store one order's rows of `table` (as a constraint would)."""
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_one BEFORE INSERT ON {table} WHEN NEW.order_id = {order_id} "
                "BEGIN SELECT RAISE(ABORT, 'this order is refused'); END"
            )
        else:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.order_id = {order_id} THEN RAISE EXCEPTION 'this order is refused'; END IF; "
                "RETURN NEW; END $$"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_one BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_one()"
            )


def test_a_landing_of_before_the_rows_still_replays_from_the_cli(landing: Path, tmp_path: Path) -> None:
    old = raw_only(landing, tmp_path / "old")
    assert not list(old.rglob("rows-*"))
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    upgrade(Warehouse("sqlite", url).engine())
    result = CliRunner().invoke(app, ["replay", str(old), "--warehouse-url", url])
    assert result.exit_code == 0, result.output

    fast = Warehouse("sqlite", f"sqlite:///{tmp_path / 'fast.sqlite'}").engine()
    upgrade(fast)
    replay_landing(landing, engine=fast)
    cli = Warehouse("sqlite", url).engine()
    assert every_table(cli) == every_table(fast) and every_table(cli)["invoices"]


def test_a_sync_told_not_to_land_rows_lands_the_raw_orders_only(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(seed=4, orders=30, seed_start=SEED_START)) as server:
        for landing_rows in (False, True):
            engine = Warehouse("sqlite", f"sqlite:///{tmp_path / f'{landing_rows}.sqlite'}").engine()
            upgrade(engine)
            run_stream(
                "sales",
                engine=engine,
                base_url=server.base_url,
                api_key=API_KEY,
                party_id=COMPANY,
                landing_dir=str(tmp_path / f"landing-{landing_rows}"),
                landing_rows=landing_rows,
            )
    assert not list((tmp_path / "landing-False").rglob("rows-*"))
    assert list((tmp_path / "landing-False").rglob("part-*.parquet"))
    assert list((tmp_path / "landing-True").rglob("rows-*"))


def _with_supplier(order: dict[str, Any], order_id: int, **supplier: Any) -> dict[str, Any]:
    """The documented cost order as order `order_id`, its supplier (party 1090044) changed as `supplier` says."""
    changed = copy.deepcopy(order)
    changed["OrderID"] = order_id
    changed["Supplier"].update(supplier)
    return changed


def test_parts_written_as_one_group_leave_what_the_parts_written_in_turn_leave(
    engine: sa.Engine, second_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path writes a group's parts as one (`replay_load.merge_parts`): a party named by several parts keeps
    the row the upserts in turn keep (newest version; an older or unversioned one does not replace it) with that
    row's identifiers; an order landed twice in a run splits the group there."""
    cost = documented_orders()[1]
    version = cost["Supplier"]["LastModified"]
    parts = [
        [_with_supplier(cost, 1, Name="first")],
        [_with_supplier(cost, 2, Name="older", LastModified=_earlier(version), VATNumber="BE0202239951")],
        [_with_supplier(cost, 3, Name="unversioned", LastModified=None, Identifiers=[])],
        [_with_supplier(cost, 1, Name="first, again", LastModified=_earlier(_earlier(version)))],
        [_with_supplier(cost, 4, Name="newest", LastModified=cost["LastModified"], VATNumber="BE0417497106")],
        [_with_supplier(cost, 5, Name="older again", LastModified=_earlier(version), VATNumber="BE0403019261")],
    ]
    writer = LandingWriter(tmp_path / "landing", "incoming", "merged", party_id=DOCS_COMPANY)
    for orders in parts:
        batch = normalise_batch(orders, stream="incoming", run_id="merged", company_id=DOCS_COMPANY)
        writer.write(orders, [json_text(order) for order in orders], batch)
    grouped: list[int] = []
    merge = replay_module.merge_parts
    monkeypatch.setattr(replay_module, "merge_parts", lambda group: grouped.append(len(group)) or merge(group))

    slow = replay_twice(raw_only(tmp_path / "landing", tmp_path / "raw"), second_engine)
    fast = replay_twice(without_raw_orders(tmp_path / "landing", tmp_path / "fast", monkeypatch), engine)

    assert grouped == [3, 3] * 2  # split where order 1 comes again, in each replay
    assert [counts(summary) for summary in fast] == [counts(summary) for summary in slow]
    assert every_table(engine) == every_table(second_engine)
    parties, identifiers = reflect_tables(engine)["parties"], reflect_tables(engine)["party_identifiers"]
    with engine.connect() as connection:
        names = connection.execute(sa.select(parties.c.name).where(parties.c.party_id == 1090044)).scalars()
        assert names.all() == ["newest"]
        raw = connection.execute(sa.select(identifiers.c.raw).where(identifiers.c.party_id == 1090044)).scalars()
        # The identifiers of the newest version, though a later part named the party at an older one.
        assert set(raw) == {"BE0417497106", "0555000148"}


@pytest.mark.parametrize("path", ["sync", "replay"])
def test_an_older_party_leaves_the_identifiers_of_the_newer_one_it_did_not_replace(
    engine: sa.Engine, tmp_path: Path, path: str
) -> None:
    """A party's identifiers go with its row: a batch (or a replayed landing) holding an older version of a party
    the warehouse has leaves its row and its identifiers as they are, so `parties.peppol_id` and
    `party_identifiers` never tell two versions apart."""
    cost = documented_orders()[1]
    version = cost["Supplier"]["LastModified"]
    newer = [_with_supplier(cost, 1, Name="newer", VATNumber="BE0403019261")]
    older = [_with_supplier(cost, 2, Name="older", LastModified=_earlier(version), VATNumber="BE0202239951")]
    for run_id, orders in (("newer", newer), ("older", older)):
        batch = normalise_batch(orders, stream="incoming", run_id=run_id, company_id=DOCS_COMPANY)
        if path == "sync" or run_id == "newer":
            write_orders(engine, orders, batch, stream="incoming", run_id=run_id, company_id=DOCS_COMPANY)
        else:
            writer = LandingWriter(tmp_path / "landing", "incoming", run_id, party_id=DOCS_COMPANY)
            writer.write(orders, [json_text(order) for order in orders], batch)
            assert replay_landing(tmp_path / "landing", engine=engine)[0]["status"] == "succeeded"

    parties, identifiers = reflect_tables(engine)["parties"], reflect_tables(engine)["party_identifiers"]
    with engine.connect() as connection:
        row = connection.execute(sa.select(parties).where(parties.c.party_id == 1090044)).one()
        raw = connection.execute(sa.select(identifiers.c.raw).where(identifiers.c.party_id == 1090044)).scalars()
        assert (row.name, row.vat_number_raw) == ("newer", "BE0403019261")
        assert "BE0403019261" in set(raw)


def test_an_order_that_loads_resolves_more_quarantine_rows_than_sqlite_binds_in_one_statement(
    engine: sa.Engine,
) -> None:
    """A replay's group resolves the open quarantine rows of all its orders at once: more than SQLite's 32,766
    variables in one statement once a group's orders have many (here one order with 33,000)."""
    quarantine = reflect_tables(engine)["quarantine"]
    rows = [
        {"run_id": "old", "stream": "incoming", "order_id": 7, "entity": "line", "entity_key": f"7/{number}"}
        | {"source_version": "v1", "reason": "unknown code", "company_id": DOCS_COMPANY}
        for number in range(33_000)
    ]
    with engine.begin() as connection:
        connection.execute(quarantine.insert(), rows)
    with write_transaction(engine) as connection:
        if engine.dialect.name == "sqlite":  # SQLite's own default; Debian's build allows 250,000
            connection.connection.driver_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
        assert forget_pending(connection, reflect_tables(engine), {7: "v2"}, "new", company_id=DOCS_COMPANY) == 0
    with engine.connect() as connection:
        still_open = connection.execute(sa.select(sa.func.count()).where(quarantine.c.resolved_at.is_(None)))
        assert still_open.scalar_one() == 0


def test_the_company_s_party_writes_wait_for_each_other_on_postgresql(engine: sa.Engine) -> None:
    """Between asking which parties to write and writing them, no other transaction of the company can commit a
    party (on SQLite a write transaction holds the whole database)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's BEGIN IMMEDIATE already serialises write transactions")
    parties = reflect_tables(engine)["parties"]
    with engine.begin() as first, engine.connect() as second:
        assert parties_to_write(first, parties, DOCS_COMPANY, {1090044: None}) == [1090044]
        second.exec_driver_sql("SET lock_timeout = '200ms'")
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            parties_to_write(second, parties, DOCS_COMPANY, {1090044: None})
        second.rollback()
        assert parties_to_write(second, parties, DOCS_COMPANY + 1, {1090044: None}) == [1090044]  # another company
        second.rollback()
