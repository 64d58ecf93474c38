"""What `billit-etl status` and `db upgrade` say about a warehouse URL they cannot use as it is: one line, exit 2.

A PostgreSQL search_path naming a schema that does not exist is named with the fix (create it, or correct the URL)
by both commands, and `db upgrade` does not create it (docs/warehouse.md#where-the-warehouse-lives). `status` reads a
SQLite file that it may not write (SQLite's `?mode=ro&uri=true`, which binds root too).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from connectors.warehouse.engine import URL_FORMS
from tasks import runtime
from tests.connectors.warehouse import migrated_sqlite_file
from tests.flows.cli_helpers import one_line

runner = CliRunner()


@pytest.fixture(autouse=True)
def _operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No WAREHOUSE_URL of the developer's, a wide console and no engine left from another test."""
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    yield
    runtime._engine_for.cache_clear()


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["status"], ["db", "upgrade"]], ids=["status", "db-upgrade"])
@pytest.mark.parametrize("after", ["", "%2Cpublic"], ids=["alone", "before-public"])
def test_a_search_path_naming_a_missing_schema_is_one_line_naming_it_and_the_fix(
    postgres_url: str, command: list[str], after: str
) -> None:
    # Before public, the missing schema is a typo that would otherwise fill public.
    schema = f"billit_no_such_{uuid.uuid4().hex[:8]}"
    url = f"{postgres_url}?options=-csearch_path%3D{schema}{after}"
    line = one_line(runner.invoke(app, [*command, "--warehouse-url", url]))
    assert f"the schema {schema} of the search_path" in line and "does not exist" in line
    assert f"CREATE SCHEMA {schema}" in line


def test_status_names_a_port_that_is_not_a_number_as_a_malformed_url() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:notaport/test"
    assert one_line(runner.invoke(app, ["status", "--warehouse-url", url])) == (
        f"--warehouse-url is not a database URL: expected {URL_FORMS}"
    )


def test_db_upgrade_names_a_port_that_is_not_a_number_as_a_malformed_url() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:notaport/test"
    assert one_line(runner.invoke(app, ["db", "upgrade", "--warehouse-url", url])) == (
        f"--warehouse-url is not a database URL: expected {URL_FORMS}"
    )


def test_status_reads_a_sqlite_file_it_may_not_write(tmp_path: Path) -> None:
    database = migrated_sqlite_file(tmp_path / "warehouse.sqlite")
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode = DELETE")  # a copy made by VACUUM INTO, or by another tool
    connection.close()
    result = runner.invoke(app, ["status", "--warehouse-url", f"sqlite:///file:{database}?mode=ro&uri=true"])
    assert result.exit_code == 0, result.output
    assert "Watermarks" in result.output and "Last runs" in result.output


def test_with_debug_the_traceback_names_the_option_the_url_came_from(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"not a database" * 400)
    result = runner.invoke(app, ["--debug", "status", "--warehouse-url", f"sqlite:///{corrupt}"])
    assert result.exit_code == 1 and result.exception is not None
    # A file that is not a database names the option, with the fix for such a file (a63f64f).
    assert str(result.exception).endswith("(point --warehouse-url at the warehouse, or restore it from a backup)"), str(
        result.exception
    )
    assert "WAREHOUSE_URL" not in str(result.exception)
