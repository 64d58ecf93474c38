"""The migration runner and the engine it relies on, on SQLite and PostgreSQL: idempotence, concurrent
upgrades, edited files, transactional DDL, the contract tables and their named constraints."""

from __future__ import annotations

import logging
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.warehouse import (
    MIGRATIONS_DIR,
    MigrationChecksumError,
    MigrationError,
    WarehouseError,
    applied_migrations,
    create_warehouse_engine,
    require_up_to_date,
    upgrade,
)
from connectors.warehouse.migrations import (
    WAREHOUSE_TABLES,
    WarehouseNewerThanCode,
    discover_migrations,
    split_statements,
)
from connectors.warehouse.sqlfiles import locked_transaction
from connectors.warehouse.views import apply_views
from tests.connectors.warehouse import Warehouse

ALL_MIGRATIONS = sorted({path.name.split(".")[0] for path in MIGRATIONS_DIR.glob("*.sql")})
ALL_VERSIONS = [name.split("_")[0] for name in ALL_MIGRATIONS]
CONTRACT_TABLES = {
    "invoices": ["order_id"],
    "invoice_lines": ["order_id", "line_number"],
    "invoice_vat_groups": ["order_id", "group_number"],
    "invoice_messages": ["order_id", "message_number"],
    "invoice_status_history": ["history_id"],
    "parties": ["company_id", "party_id"],
    "party_identifiers": ["company_id", "party_id", "source", "raw"],
    "sync_state": ["company_id", "stream"],
    "pending_orders": ["company_id", "stream", "order_id"],
    "companies": ["company_id"],
    "sync_runs": ["run_id"],
    "quarantine": ["quarantine_id"],
    "schema_migrations": ["version"],
}
FOREIGN_KEYS = {
    "invoice_lines": "fk_invoice_lines_invoices",
    "invoice_vat_groups": "fk_invoice_vat_groups_invoices",
    "invoice_messages": "fk_invoice_messages_invoices",
    "invoice_status_history": "fk_invoice_status_history_invoices",
    "party_identifiers": "fk_party_identifiers_parties",
}


@pytest.fixture
def engine(warehouse: Warehouse) -> Iterator[sa.Engine]:
    """Unlike the shared fixture, an Engine on an *empty* warehouse: these tests run the migrations themselves."""
    engine = warehouse.engine()
    yield engine
    engine.dispose()


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    """A private copy of sql/migrations that a test may add to or edit."""
    return Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations"))


def _table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_twice_applies_each_migration_once(engine: sa.Engine) -> None:
    assert upgrade(engine) == ALL_MIGRATIONS
    assert upgrade(engine) == []
    with engine.connect() as connection:
        recorded = applied_migrations(connection)
    assert [row.name for row in recorded.values()] == ALL_MIGRATIONS
    assert all(len(row.checksum) == 64 for row in recorded.values())


def test_the_tables_a_new_warehouse_has_are_the_ones_every_command_requires(engine: sa.Engine) -> None:
    upgrade(engine)
    assert _table_names(engine) - {"schema_migrations", "schema_views", "sqlite_sequence"} == WAREHOUSE_TABLES


def test_a_table_dropped_by_hand_is_named_by_upgrade_and_by_the_commands_that_only_read(engine: sa.Engine) -> None:
    # Found by an operator's test: db upgrade said "up to date", and status and sync failed with KeyError.
    upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE pending_orders")
    message = "the warehouse has no table pending_orders, though its migrations made it: dropped by hand?"
    with pytest.raises(WarehouseError, match=re.escape(message)):
        upgrade(engine)
    with pytest.raises(WarehouseError, match=re.escape(message)):
        require_up_to_date(engine)


def test_upgrade_creates_the_contract_tables_with_named_primary_and_foreign_keys(engine: sa.Engine) -> None:
    upgrade(engine)
    inspector = sa.inspect(engine)
    assert set(CONTRACT_TABLES) <= set(inspector.get_table_names())
    for table, columns in CONTRACT_TABLES.items():
        primary_key = inspector.get_pk_constraint(table)
        assert primary_key["name"] == f"pk_{table}"
        assert primary_key["constrained_columns"] == columns
    for table, name in FOREIGN_KEYS.items():
        assert [fk["name"] for fk in inspector.get_foreign_keys(table)] == [name]
    indexes = {index["name"] for index in inspector.get_indexes("invoices")}
    assert {"ix_invoices_direction_last_modified", "ix_invoices_external_provider_id", "ix_invoices_order_number"} <= (
        indexes
    )


def test_the_catalog_holds_the_named_constraints(engine: sa.Engine) -> None:
    upgrade(engine)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            constraints = dict(
                connection.execute(
                    sa.text(
                        "SELECT c.conname, c.contype FROM pg_constraint c "
                        "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema()"
                    )
                ).all()
            )
        else:
            # SQLite's catalog is the DDL text it stores in sqlite_master.
            ddl = " ".join(connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table'").scalars())
            kinds = {"PRIMARY KEY": "p", "FOREIGN KEY": "f", "UNIQUE": "u", "CHECK": "c"}
            constraints = {
                name: kind
                for name in (
                    "pk_invoices",
                    "fk_invoice_lines_invoices",
                    "uq_invoice_status_history_observation",
                    "ck_invoices_direction",
                )
                for words, kind in kinds.items()
                if f"CONSTRAINT {name} {words}" in ddl
            }
    assert constraints["pk_invoices"] == "p"
    assert constraints["fk_invoice_lines_invoices"] == "f"
    assert constraints["uq_invoice_status_history_observation"] == "u"
    assert constraints["ck_invoices_direction"] == "c"


def test_two_upgrades_at_once_apply_each_migration_once(warehouse: Warehouse, migrations_copy: Path) -> None:
    # A slow third migration keeps the first upgrader inside its transaction while the second one arrives.
    slow = {
        "postgresql": "SELECT pg_sleep(0.5);\nCREATE TABLE slow_marker (id INTEGER);\n",
        "sqlite": (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c;\n"
            "CREATE TABLE slow_marker (id INTEGER);\n"
        ),
    }
    for dialect, sql in slow.items():
        (migrations_copy / f"9001_slow.{dialect}.sql").write_text(sql)
    engines = [warehouse.engine(), warehouse.engine()]
    barrier = threading.Barrier(len(engines))
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run(engine: sa.Engine) -> None:
        barrier.wait()
        try:
            results.append(upgrade(engine, directory=migrations_copy))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert errors == []
        assert sorted(name for applied in results for name in applied) == [*ALL_MIGRATIONS, "9001_slow"]
        with engines[0].connect() as connection:
            assert list(applied_migrations(connection)) == [*ALL_VERSIONS, "9001"]
    finally:
        for engine in engines:
            engine.dispose()


def test_the_views_wait_while_another_process_holds_the_migration_lock(warehouse: Warehouse) -> None:
    engines = [warehouse.engine(), warehouse.engine()]
    upgrade(engines[0])
    events: list[str] = []

    def recreate_views() -> None:
        apply_views(engines[1])
        events.append("views recreated")

    thread = threading.Thread(target=recreate_views)
    try:
        with locked_transaction(engines[0]):
            thread.start()
            thread.join(timeout=0.5)
            events.append("lock released")
        thread.join(timeout=30)
        assert events == ["lock released", "views recreated"]
    finally:
        for engine in engines:
            engine.dispose()


def test_an_applied_file_that_was_edited_makes_upgrade_fail(engine: sa.Engine, migrations_copy: Path) -> None:
    upgrade(engine, directory=migrations_copy)
    core = migrations_copy / "0001_core.sql"
    core.write_text(core.read_text() + "-- an innocent-looking edit\n")
    with pytest.raises(MigrationChecksumError, match=r"0001_core\.sql was edited after it was applied"):
        upgrade(engine, directory=migrations_copy)


def test_crlf_line_endings_do_not_count_as_an_edit(engine: sa.Engine, migrations_copy: Path) -> None:
    upgrade(engine, directory=migrations_copy)
    core = migrations_copy / "0001_core.sql"
    core.write_bytes(core.read_bytes().replace(b"\n", b"\r\n"))
    assert upgrade(engine, directory=migrations_copy) == []


def test_an_applied_migration_without_its_file_makes_upgrade_fail(engine: sa.Engine, migrations_copy: Path) -> None:
    (migrations_copy / "9002_extra.sql").write_text("CREATE TABLE extra (id INTEGER);\n")
    upgrade(engine, directory=migrations_copy)
    (migrations_copy / "9002_extra.sql").unlink()
    with pytest.raises(WarehouseNewerThanCode, match="9002_extra, which this billit-pipelines does not have"):
        upgrade(engine, directory=migrations_copy)


def test_a_failing_migration_is_rolled_back_whole_including_its_ddl(engine: sa.Engine, migrations_copy: Path) -> None:
    (migrations_copy / "9003_broken.sql").write_text(
        "CREATE TABLE half_done (id INTEGER);\nCREATE TABLE invoices (id INTEGER);\n"
    )
    with pytest.raises(MigrationError, match=r"9003_broken\.sql, statement 2"):
        upgrade(engine, directory=migrations_copy)
    assert "half_done" not in _table_names(engine)
    assert "invoices" in _table_names(engine)
    with engine.connect() as connection:
        assert list(applied_migrations(connection)) == ALL_VERSIONS


def test_upgrade_refuses_a_sqlite_engine_without_the_warehouse_begin_hook(tmp_path: Path) -> None:
    plain = sa.create_engine(f"sqlite:///{tmp_path / 'plain.sqlite'}")
    with pytest.raises(MigrationError, match="create_warehouse_engine"):
        upgrade(plain)
    plain.dispose()


def test_statements_end_at_a_semicolon_at_a_line_end_and_comment_lines_are_dropped() -> None:
    sql = (
        "-- header comment ending in a semicolon;\n"
        "CREATE TABLE a (\n    note TEXT DEFAULT 'x; y'\n);\n\n"
        "CREATE INDEX ix_a ON a (note); -- trailing comment\n"
        "SELECT 1"
    )
    assert split_statements(sql) == [
        "CREATE TABLE a (\n    note TEXT DEFAULT 'x; y'\n)",
        "CREATE INDEX ix_a ON a (note)",
        "SELECT 1",
    ]


def test_a_dialect_variant_replaces_the_generic_file_on_its_dialect_only(tmp_path: Path) -> None:
    (tmp_path / "0001_base.sql").write_text("SELECT 'generic';\n")
    (tmp_path / "0001_base.postgresql.sql").write_text("SELECT 'postgresql';\n")
    (tmp_path / "0002_only_sqlite.sqlite.sql").write_text("SELECT 'sqlite';\n")
    sqlite_files = [m.path.name for m in discover_migrations("sqlite", tmp_path)]
    assert sqlite_files == ["0001_base.sql", "0002_only_sqlite.sqlite.sql"]
    with pytest.raises(MigrationError, match="0002_only_sqlite has no file for postgresql"):
        discover_migrations("postgresql", tmp_path)
    (tmp_path / "0002_only_sqlite.sqlite.sql").unlink()
    assert [m.path.name for m in discover_migrations("postgresql", tmp_path)] == ["0001_base.postgresql.sql"]


def test_two_migrations_sharing_a_version_or_a_badly_named_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;\n")
    (tmp_path / "0001_b.sql").write_text("SELECT 2;\n")
    with pytest.raises(MigrationError, match="version 0001 is used by two migrations"):
        discover_migrations("sqlite", tmp_path)
    (tmp_path / "0001_b.sql").unlink()
    (tmp_path / "2-views.sql").write_text("SELECT 3;\n")
    with pytest.raises(MigrationError, match="2-views.sql"):
        discover_migrations("sqlite", tmp_path)


# The engine the runner relies on.


def test_the_default_engine_is_a_sqlite_file_under_data_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    engine = create_warehouse_engine()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    engine.dispose()
    assert (tmp_path / "data" / "warehouse.sqlite").is_file()


def test_warehouse_url_comes_from_the_environment_and_the_log_hides_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'env' / 'from_env.sqlite'}")
    engine = create_warehouse_engine()
    assert engine.url.database == str(tmp_path / "env" / "from_env.sqlite")
    engine.dispose()
    with caplog.at_level(logging.INFO, logger="connectors.warehouse.engine"):
        create_warehouse_engine("postgresql+psycopg://etl:s3cret-pw@db.invalid:5432/warehouse").dispose()
    assert "s3cret-pw" not in caplog.text
    assert "etl:***@db.invalid" in caplog.text


def test_a_schema_is_refused_on_sqlite_and_must_be_a_plain_identifier_on_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL-only"):
        create_warehouse_engine(f"sqlite:///{tmp_path / 'w.sqlite'}", schema="x")
    with pytest.raises(ValueError, match="plain identifier"):
        create_warehouse_engine("postgresql+psycopg://u@h/db", schema="x; DROP TABLE invoices")


def test_a_bare_postgresql_url_uses_psycopg_3_and_psycopg2_is_refused() -> None:
    engine = create_warehouse_engine("postgresql://u@db.invalid/warehouse")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()
    with pytest.raises(ValueError, match=r"postgresql\+psycopg://"):
        create_warehouse_engine("postgresql+psycopg2://u@db.invalid/warehouse")


def test_0009_takes_the_company_of_rows_attempted_before_as_their_attempts_company(
    engine: sa.Engine, migrations_copy: Path
) -> None:
    attempted = migrations_copy / "0009_outbound_attempted_company.sql"
    body = attempted.read_text()
    attempted.unlink()
    upgrade(engine, directory=migrations_copy)
    rows = [("created", 574991, 1), ("lost-answer", 574992, 2), ("never-tried", 574991, 0), ("configured", None, 1)]
    with engine.begin() as connection:
        for external_id, company, attempts in rows:
            connection.execute(
                sa.text(
                    "INSERT INTO outbound_invoices (external_id, company_id, attempts) VALUES (:id, :co, :attempts)"
                ),
                {"id": external_id, "co": company, "attempts": attempts},
            )
    attempted.write_text(body)
    assert upgrade(engine, directory=migrations_copy) == ["0009_outbound_attempted_company"]
    with engine.connect() as connection:
        found = dict(
            connection.execute(sa.text("SELECT external_id, attempted_company_id FROM outbound_invoices")).all()
        )
    # A row attempted without a company_id went to the configured company of its time, which nobody recorded.
    assert found == {"created": 574991, "lost-answer": 574992, "never-tried": None, "configured": None}
