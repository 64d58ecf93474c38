"""An unusable warehouse is one `WarehouseError` line that names the problem and the fix, never the password.

Read-only cases: these tests often run as root, which writes through `chmod 444` files and read-only directories.
The read-only database is therefore opened with SQLite's own read-only mode (`?mode=ro&uri=true`), which holds for
every user, and a directory that cannot be created lies under a regular *file*, which fails for root too. The
chmod case runs only where permissions bind (an ordinary user, or root without CAP_DAC_OVERRIDE).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.warehouse import WarehouseError, check_warehouse, create_warehouse_engine
from connectors.warehouse.engine import URL_FORMS
from tests.connectors.warehouse import Warehouse, migrated_sqlite_file, permissions_bind

PASSWORD = "s3cret-pw"


@pytest.mark.parametrize("url", ["sqlite//x", "foo", f"postgresql+psycopg://admin:{PASSWORD}@db:notaport/x"])
def test_a_url_that_does_not_parse_names_warehouse_url_and_the_expected_forms_but_not_the_url(url: str) -> None:
    with pytest.raises(WarehouseError) as raised:
        create_warehouse_engine(url)
    message = str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert "WAREHOUSE_URL" in message and URL_FORMS in message and "\n" not in message
    assert url not in message and PASSWORD not in message


@pytest.mark.postgres
@pytest.mark.parametrize("password", ["o", "1", "no_such", "database", "exist"])
def test_a_short_password_is_masked_as_a_whole_token_only(postgres_url: str, password: str) -> None:
    """Found from the outside: the password `o` was masked inside every word of the driver's message (`c***nnecti***n
    ... database "billit_n***_such_database"`), which garbled it and told the password's character."""
    url = sa.make_url(postgres_url).set(database="billit_no_such_database", password=password)
    engine = create_warehouse_engine(url.render_as_string(hide_password=False))
    with pytest.raises(WarehouseError) as raised:
        check_warehouse(engine)
    engine.dispose()
    assert str(raised.value) == (
        f"cannot reach the warehouse at {url.render_as_string(hide_password=True)}: database "
        '"billit_no_such_database" does not exist (check WAREHOUSE_URL)'
    )


def test_the_password_is_masked_where_a_driver_would_echo_it_and_nowhere_else() -> None:
    from connectors.warehouse.checks import _without_password

    dsn = "invalid dsn: host=db password=o user=postgres port=1"
    assert _without_password(dsn, "o") == "invalid dsn: host=db password=*** user=postgres port=1"
    assert _without_password("password = 'a b\\' c' host=x", None) == "password = *** host=x"
    assert _without_password("at postgresql://u:p@ss!@db/x", "p@ss!") == "at postgresql://u:***@db/x"
    # From the re-check: a password that is a word of the message, masked there, told where it stood.
    message = 'database "hrc_nope" does not exist'
    assert _without_password(message, "database") == _without_password(message, "exist") == message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgres://admin:{PASSWORD}@db.example/x", "'postgres': write postgresql+psycopg:// instead of postgres://"),
        (f"mysql://admin:{PASSWORD}@db.example/x", "unsupported database 'mysql'"),
        (f"postgresql+psycopg2://admin:{PASSWORD}@db.example/x", "use postgresql+psycopg://"),
        ("sqlite+pysqlcipher:///x.sqlite", "use sqlite:///path"),
        # libpq would take the database named after the user, `postgres` here (an operator's test).
        (f"postgresql+psycopg://admin:{PASSWORD}@db.example:5432/", "names no database: end it with /database"),
        (f"postgresql://admin:{PASSWORD}@db.example", "names no database"),
    ],
)
def test_another_database_or_driver_is_named_with_the_password_hidden(
    url: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGDATABASE", raising=False)
    with pytest.raises(WarehouseError, match="WAREHOUSE_URL") as raised:
        create_warehouse_engine(url)
    message = str(raised.value)
    assert expected in message and PASSWORD not in message
    assert "admin:***@" in message or "@" not in url


def test_a_usable_warehouse_passes_the_check_which_connects_and_keeps_nothing(warehouse: Warehouse) -> None:
    engine = warehouse.engine()
    check_warehouse(engine)
    assert engine.pool.checkedin() == 1  # type: ignore[attr-defined]  # QueuePool on both dialects
    assert "_warehouse_write_check" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_the_check_creates_a_new_sqlite_file_and_its_directory(tmp_path: Path) -> None:
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'new' / 'warehouse.sqlite'}")
    check_warehouse(engine)
    engine.dispose()
    assert (tmp_path / "new" / "warehouse.sqlite").is_file()


def test_a_read_only_sqlite_file_is_reported_by_the_check_before_any_write(tmp_path: Path) -> None:
    database = migrated_sqlite_file(tmp_path / "warehouse.sqlite")
    engine = create_warehouse_engine(f"sqlite:///file:{database}?mode=ro&uri=true")
    with pytest.raises(WarehouseError) as raised:
        check_warehouse(engine)
    engine.dispose()
    message = str(raised.value)
    assert message.startswith(f"the warehouse file {database} is read-only: ")
    assert "WAREHOUSE_URL" in message and "\n" not in message


def test_a_sqlite_file_without_write_permission_is_reported_by_the_check(tmp_path: Path) -> None:
    if not permissions_bind(tmp_path):
        pytest.skip("this user writes through chmod 444 (root): the mode=ro test covers the case")
    database = migrated_sqlite_file(tmp_path / "warehouse.sqlite")
    for path in (database, tmp_path / "warehouse.sqlite-wal", tmp_path / "warehouse.sqlite-shm"):
        if path.exists():
            path.chmod(0o444)
    engine = create_warehouse_engine(f"sqlite:///{database}")
    try:
        with pytest.raises(WarehouseError, match=f"warehouse file {database}"):
            check_warehouse(engine)
    finally:
        engine.dispose()
        for path in tmp_path.iterdir():
            path.chmod(0o644)


@pytest.mark.parametrize("damage", ["not a database", "truncated"])
@pytest.mark.parametrize("writable", [True, False])
def test_a_file_that_is_not_a_sqlite_database_or_is_damaged_is_said_so(
    tmp_path: Path, damage: str, writable: bool
) -> None:
    """Found from the outside: such a file was reported with the hint for a directory that cannot be written."""
    database = tmp_path / "warehouse.sqlite"
    if damage == "truncated":
        migrated_sqlite_file(database)
        with database.open("r+b") as file:
            file.truncate(database.stat().st_size // 2)
    else:
        database.write_text("hello\n")
    engine = create_warehouse_engine(f"sqlite:///{database}")
    with pytest.raises(WarehouseError) as raised:
        check_warehouse(engine, writable=writable)
    engine.dispose()
    message = str(raised.value)
    assert message.startswith(f"the warehouse file {database} is not a SQLite database, or is damaged: "), message
    assert "restore it from a backup" in message and "directory" not in message


@pytest.mark.parametrize("name", ["new/", "existing"])
def test_a_sqlite_url_naming_a_directory_is_refused_and_creates_nothing(tmp_path: Path, name: str) -> None:
    """Found by a newcomer: `sqlite:////path/zz/` made a database file named zz."""
    (tmp_path / "existing").mkdir()
    with pytest.raises(WarehouseError) as raised:
        create_warehouse_engine(f"sqlite:///{tmp_path / name}{'/' if name.endswith('/') else ''}")
    assert "names the directory" in str(raised.value) and "not a file" in str(raised.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["existing"]


def test_a_sqlite_file_whose_directory_cannot_be_created_is_named(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("a file where the directory should be")
    with pytest.raises(WarehouseError) as raised:
        create_warehouse_engine(f"sqlite:///{tmp_path / 'afile' / 'warehouse.sqlite'}")
    assert str(raised.value).startswith(f"cannot create the directory {tmp_path / 'afile'} of the warehouse file")
    assert "WAREHOUSE_URL" in str(raised.value)


def test_an_unreachable_postgresql_is_one_line_with_the_fix_and_the_password_hidden() -> None:
    engine = create_warehouse_engine(f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/test")
    with pytest.raises(WarehouseError) as raised:
        check_warehouse(engine)
    engine.dispose()
    message = str(raised.value)
    assert message == (
        "cannot reach the warehouse at postgresql+psycopg://postgres:***@127.0.0.1:1/test: "
        "connection refused (is PostgreSQL running? check WAREHOUSE_URL)"
    )


@pytest.mark.postgres
def test_a_missing_postgresql_database_is_named_by_the_check(postgres_url: str) -> None:
    url = sa.make_url(postgres_url).set(database="billit_no_such_database", password=PASSWORD)
    engine = create_warehouse_engine(url.render_as_string(hide_password=False))
    with pytest.raises(WarehouseError) as raised:
        check_warehouse(engine)
    engine.dispose()
    message = str(raised.value)
    assert 'database "billit_no_such_database" does not exist' in message
    assert PASSWORD not in message and "\n" not in message


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite:///file:w?mode=memory&uri=true", "sqlite:///file::memory:?uri=true"],
)
def test_an_in_memory_sqlite_warehouse_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(WarehouseError, match="in-memory SQLite warehouse keeps nothing.*sqlite:///data"):
        create_warehouse_engine(url)


@pytest.mark.postgres
def test_a_postgresql_warehouse_that_only_allows_reading_is_refused_before_any_work(postgres_url: str) -> None:
    read_only = create_warehouse_engine(f"{postgres_url}?options=-c%20default_transaction_read_only%3Don")
    with pytest.raises(WarehouseError, match="only allows reading.*point WAREHOUSE_URL at the primary"):
        check_warehouse(read_only)
    check_warehouse(read_only, writable=False)  # status and doctor only read
    read_only.dispose()


def test_a_password_given_in_the_urls_query_is_hidden_too() -> None:
    """Found from the outside: libpq takes `?password=`, and the message printed it as given."""
    engine = create_warehouse_engine(f"postgresql+psycopg://postgres@127.0.0.1:1/test?password={PASSWORD}")
    with pytest.raises(WarehouseError) as raised:
        check_warehouse(engine)
    engine.dispose()
    assert str(raised.value).startswith(
        "cannot reach the warehouse at postgresql+psycopg://postgres@127.0.0.1:1/test?password=***: connection refused"
    )
    assert PASSWORD not in str(raised.value)


def test_a_url_without_a_database_is_taken_when_libpq_is_told_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGDATABASE", "test")
    create_warehouse_engine("postgresql+psycopg://postgres@127.0.0.1:5432/").dispose()
    monkeypatch.delenv("PGDATABASE")
    create_warehouse_engine("postgresql+psycopg://postgres@127.0.0.1:5432/?dbname=test").dispose()
