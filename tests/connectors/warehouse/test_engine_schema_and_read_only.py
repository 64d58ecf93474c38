"""The warehouse's PostgreSQL schema and a SQLite file read by a user who may not write it.

A PostgreSQL schema is chosen in the URL (`?options=-csearch_path%3Dname`, docs/warehouse.md#where-the-warehouse-lives);
when no schema of the search_path exists, the check and the migration runner refuse in one line that names the
schema and the fix, and nothing creates it. A SQLite file that this process may not write is still read by commands
that only read, whatever its journal mode; a WAL file whose `-shm` cannot be created is refused with what it needs.

Read-only files are opened with SQLite's `?mode=ro&uri=true` (tests often run as root, which writes through chmod);
the case of a directory that may not be written runs only where permissions bind.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.warehouse import WarehouseError, check_warehouse, create_warehouse_engine, upgrade
from tests.connectors.warehouse import migrated_sqlite_file, permissions_bind, postgres_schema


def _missing_schema() -> str:
    return f"billit_no_such_{uuid.uuid4().hex[:8]}"


def _search_path_url(postgres_url: str, schema: str) -> str:
    return f"{postgres_url}?options=-csearch_path%3D{schema}"


@pytest.mark.postgres
@pytest.mark.parametrize("writable", [True, False], ids=["writing", "reading"])
def test_a_search_path_naming_a_missing_schema_is_refused_by_the_check_with_the_schema_and_the_fix(
    postgres_url: str, writable: bool
) -> None:
    schema = _missing_schema()
    engine = create_warehouse_engine(_search_path_url(postgres_url, schema))
    with pytest.raises(WarehouseError) as raised:
        check_warehouse(engine, writable=writable)
    engine.dispose()
    message = str(raised.value)
    assert f"the schema {schema} of the search_path" in message and "does not exist" in message
    assert f"CREATE SCHEMA {schema}" in message and "WAREHOUSE_URL" in message and "\n" not in message


@pytest.mark.postgres
def test_upgrade_refuses_a_missing_schema_in_one_line_and_creates_nothing(postgres_url: str) -> None:
    schema = _missing_schema()
    engine = create_warehouse_engine(postgres_url, schema=schema)
    with pytest.raises(WarehouseError, match=f"the schema {schema} of the search_path .* does not exist"):
        upgrade(engine)
    engine.dispose()
    admin = sa.create_engine(postgres_url)
    with admin.connect() as connection:
        found = connection.execute(sa.text("select count(*) from pg_namespace where nspname = :s"), {"s": schema})
        assert found.scalar_one() == 0
    admin.dispose()


@pytest.mark.postgres
def test_a_schema_chosen_in_the_url_holds_the_warehouse_tables(postgres_url: str) -> None:
    with postgres_schema(postgres_url) as existing:
        engine = create_warehouse_engine(_search_path_url(postgres_url, str(existing.schema)))
        check_warehouse(engine)
        upgrade(engine)
        engine.dispose()
        admin = sa.create_engine(postgres_url)
        assert "invoices" in sa.inspect(admin).get_table_names(schema=existing.schema)
        admin.dispose()


def _in_rollback_journal_mode(database: Path) -> Path:
    """The file switched back from WAL to a rollback journal, as `VACUUM INTO` or another tool leaves a copy."""
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode = DELETE")
    connection.close()
    return database


def test_a_sqlite_file_that_may_not_be_written_is_read_in_its_own_journal_mode(tmp_path: Path) -> None:
    database = _in_rollback_journal_mode(migrated_sqlite_file(tmp_path / "warehouse.sqlite"))
    engine = create_warehouse_engine(f"sqlite:///file:{database}?mode=ro&uri=true")
    check_warehouse(engine, writable=False)
    with engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from schema_migrations")).scalar_one() > 0
    with pytest.raises(WarehouseError, match=f"the warehouse file {database} is read-only"):
        check_warehouse(engine)  # a command that writes is still refused before any work
    engine.dispose()


def test_a_wal_file_in_a_directory_that_may_not_be_written_names_the_shm_file_it_needs(tmp_path: Path) -> None:
    if not permissions_bind(tmp_path):
        pytest.skip("this user writes through chmod (root): run it without CAP_DAC_OVERRIDE to see it")
    directory = tmp_path / "readonly"
    directory.mkdir()
    database = migrated_sqlite_file(directory / "warehouse.sqlite")
    directory.chmod(0o555)
    try:
        engine = create_warehouse_engine(f"sqlite:///{database}")
        with pytest.raises(WarehouseError) as raised:
            check_warehouse(engine, writable=False)
        engine.dispose()
    finally:
        directory.chmod(0o755)
    message = str(raised.value)
    assert message.startswith(f"cannot read the warehouse file {database}: ")
    assert f"{database}-shm" in message and "directory writable" in message and "\n" not in message


@pytest.mark.postgres
def test_a_role_that_may_not_read_the_tables_is_named_by_the_readers_check(postgres_url: str) -> None:
    """Found from the outside: `status` as a role that may connect but not read gave the driver's error and a
    --debug hint; the writers' check named the role, the readers' did not."""
    role = f"billit_reader_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with postgres_schema(postgres_url) as existing, admin.connect() as connection:
        upgrade(create_warehouse_engine(_search_path_url(postgres_url, str(existing.schema))))
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        try:
            connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {existing.schema} TO {role}")
            url = sa.make_url(_search_path_url(postgres_url, str(existing.schema))).set(username=role)
            engine = create_warehouse_engine(url.render_as_string(hide_password=False))
            with pytest.raises(WarehouseError) as raised:
                check_warehouse(engine, writable=False)
            assert str(raised.value) == (
                f"the role of {url.render_as_string(hide_password=True)} may not read the warehouse tables (SELECT "
                "on schema_migrations): grant it, or use a role that can, in WAREHOUSE_URL"
            )
            connection.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA {existing.schema} TO {role}")
            # A table it may not read, as a BI role's hidden one or another application's in a shared schema.
            connection.exec_driver_sql(f"REVOKE SELECT ON {existing.schema}.outbound_invoices FROM {role}")
            check_warehouse(engine, writable=False)
            engine.dispose()
        finally:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
    admin.dispose()
