"""The warehouse Engine: one per process, configured for SQLite or PostgreSQL.

SQLite gets foreign keys, WAL, ``synchronous=NORMAL`` and a busy timeout on every connection, and SQLAlchemy
(not the ``sqlite3`` module) emits ``BEGIN`` so that DDL is transactional: the Python 3.11 driver's legacy mode
would otherwise autocommit each ``CREATE TABLE`` (see SQLAlchemy's "Transactions with SQLite and the sqlite3
driver"). PostgreSQL gets ``pool_pre_ping``, the session time zone UTC (so ``DEFAULT CURRENT_TIMESTAMP`` writes
naive UTC on both dialects), a connect timeout and, optionally, a ``search_path`` that isolates one schema (tests
use that).

A SQLite file this process may not write keeps its journal mode (WAL cannot be switched on without writing), so a
command that only reads can read it; a WAL file still needs its ``-shm`` file, which SQLite creates beside it.

Operator mistakes become a :class:`WarehouseError` with a one-line message that names the problem and the fix and
never shows a password: a URL that does not parse or names another database (:func:`create_warehouse_engine`),
a server that cannot be reached, a file that cannot be written and a PostgreSQL search_path with no schema that
exists (`connectors.warehouse.checks`).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_WAREHOUSE_URL",
    "SQLITE_BEGIN_OPTION",
    "SQLITE_BUSY_TIMEOUT_MS",
    "WAREHOUSE_URL_ENV",
    "WarehouseError",
    "WarehouseSettings",
    "create_warehouse_engine",
    "in_wal_mode",
    "is_warehouse_engine",
    "shown_url",
    "write_transaction",
]

log = logging.getLogger(__name__)

WAREHOUSE_URL_ENV = "WAREHOUSE_URL"
DEFAULT_WAREHOUSE_URL = "sqlite:///data/warehouse.sqlite"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 512
# Execution option read by our SQLite BEGIN hook: "DEFERRED" (default), "IMMEDIATE" or "EXCLUSIVE".
SQLITE_BEGIN_OPTION = "warehouse_sqlite_begin"
_SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
URL_FORMS = "sqlite:///path/to/warehouse.sqlite or postgresql+psycopg://user:password@host:5432/database"
POSTGRESQL_CONNECT_TIMEOUT_S = 10


class WarehouseSettings(BaseSettings):
    """Where the warehouse is: ``WAREHOUSE_URL``, from the environment or ``.env`` (an empty value counts as unset),
    like the ``BILLIT_*`` settings; every knob is listed in ``.env.example``."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    url: str = Field(
        default=DEFAULT_WAREHOUSE_URL, validation_alias=WAREHOUSE_URL_ENV, description=f"SQLAlchemy URL: {URL_FORMS}."
    )


class WarehouseError(ValueError):
    """The warehouse cannot be used as configured; the message is one line naming the problem and the fix."""


def shown_url(url: sa.URL) -> str:
    """The URL as messages and logs show it: its password hidden, in the user part and in a `password=` query
    parameter, which libpq takes too (found from the outside: `?password=...` was printed as given)."""
    query = {name: "***" if name.lower() == "password" else value for name, value in url.query.items()}
    return url.set(query=query).render_as_string(hide_password=True).replace("=%2A%2A%2A", "=***")


def create_warehouse_engine(url: str | None = None, *, schema: str | None = None) -> sa.Engine:
    """Create the process's warehouse Engine.

    ``url`` defaults to :class:`WarehouseSettings` (``WAREHOUSE_URL`` in the environment or ``.env``), else
    ``sqlite:///data/warehouse.sqlite`` (relative to the working directory; the parent directory is created).
    ``schema`` (PostgreSQL only) becomes the connections' ``search_path``, so unqualified names in migrations and
    queries live in that schema; it must exist.

    Raises :class:`WarehouseError` when the URL does not parse (the message then leaves the URL out: it may hold
    a password) or names another database or driver. Nothing is connected yet: :func:`check_warehouse` does that.
    """
    raw_url = url or WarehouseSettings().url
    try:
        parsed = sa.make_url(raw_url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise WarehouseError(f"{WAREHOUSE_URL_ENV} is not a database URL: expected {URL_FORMS}") from None
    backend = parsed.get_backend_name()
    shown = shown_url(parsed)
    if backend == "sqlite":
        if schema is not None:
            raise WarehouseError("schema= is PostgreSQL-only; use a separate SQLite file instead")
        # The connect hook below drives the standard library's sqlite3 module (pysqlite).
        if parsed.get_driver_name() != "pysqlite":
            raise WarehouseError(
                f"{WAREHOUSE_URL_ENV} {shown}: use sqlite:///path (the built-in driver), not {parsed.drivername}://"
            )
        engine = _sqlite_engine(parsed)
    elif backend == "postgresql":
        # The bulk loader uses psycopg 3's COPY API; a bare postgresql:// would pick psycopg2.
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.get_driver_name() != "psycopg":
            raise WarehouseError(
                f"{WAREHOUSE_URL_ENV} {shown}: use postgresql+psycopg:// (psycopg 3), not {parsed.drivername}://"
            )
        named_elsewhere = (
            {"dbname", "service"} & set(parsed.query) or os.environ.get("PGDATABASE") or os.environ.get("PGSERVICE")
        )
        if not parsed.database and not named_elsewhere:
            # libpq would take the database named after the user (`postgres`, often): an operator's test saw
            # `db upgrade` offered to build the warehouse there.
            raise WarehouseError(f"{WAREHOUSE_URL_ENV} {shown} names no database: end it with /database ({URL_FORMS})")
        engine = _postgresql_engine(parsed, schema)
    elif backend == "postgres":  # the spelling of Heroku-style DATABASE_URLs, which SQLAlchemy no longer takes
        raise WarehouseError(
            f"{WAREHOUSE_URL_ENV} {shown} names an unsupported database 'postgres': write postgresql+psycopg:// "
            "instead of postgres://"
        )
    else:
        raise WarehouseError(
            f"{WAREHOUSE_URL_ENV} {shown} names an unsupported database {backend!r}: expected {URL_FORMS}"
        )
    log.info(
        "warehouse engine for %s%s",
        shown_url(parsed),
        f" (schema {schema})" if schema else "",
    )
    return engine


def is_warehouse_engine(engine: sa.Engine) -> bool:
    """True when ``engine`` was made by :func:`create_warehouse_engine` (SQLite needs its BEGIN hook)."""
    if engine.dialect.name != "sqlite":
        return True
    return sa.event.contains(engine, "begin", _sqlite_begin)


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """Like ``engine.begin()``, but on SQLite the write lock is taken at BEGIN (``BEGIN IMMEDIATE``).

    Use it for units of work that read and then write under concurrency (the migration runner does): a
    deferred SQLite transaction that reads first can fail with "database is locked" when it later tries to
    write, and the busy timeout does not help in that case. On PostgreSQL it is plain ``engine.begin()``.
    """
    with engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}).begin() as connection:
        yield connection


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database
    if not database or ":memory:" in database or url.query.get("mode") == "memory":
        raise WarehouseError(
            f"an in-memory SQLite warehouse keeps nothing once the command ends: set "
            f"{WAREHOUSE_URL_ENV} to a file, e.g. sqlite:///data/warehouse.sqlite"
        )
    if database.endswith(("/", "\\")) or Path(database).is_dir():  # found by a newcomer: `.../zz/` made a file zz
        raise WarehouseError(
            f"{WAREHOUSE_URL_ENV} names the directory {database}, not a file: e.g. sqlite:///data/warehouse.sqlite"
        )
    if database and database != ":memory:" and url.query.get("mode") != "memory" and not database.startswith("file:"):
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(
                f"cannot create the directory {Path(database).parent} of the warehouse file: "
                f"{exc.strerror or exc} (check {WAREHOUSE_URL_ENV})"
            ) from None
    engine = sa.create_engine(url)
    _bind_none_directly()
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _bind_none_directly() -> None:
    """Let Python 3.11's sqlite3 bind None without looking for an adapter first.

    sqlite3 binds int, float, str and bytes as they are, but asks every other value, None included, for an
    adapter: a registry lookup and two attribute lookups per value, three times the cost of binding an int. A
    third of the warehouse's values are NULL, so that was a fifth of a bulk write's time (bench/README.md#replay).
    With an adapter registered for None, the lookup finds it at once and it hands None back: NULL as before. The
    registry is the process's; the adapter changes nothing any other user of sqlite3 binds.
    """
    sqlite3.register_adapter(type(None), _none)


def _none(value: None) -> None:
    return value


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # Hand BEGIN over to SQLAlchemy (see _sqlite_begin); the driver still issues COMMIT and ROLLBACK.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        # 512 KiB of page cache per connection instead of SQLite's 2 MiB: each connection of a sync (its writer, its
        # look-ups of stored versions) fills its cache, and a page not cached comes back from the operating
        # system's (bench/README.md#memory-with-landing-on).
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    # WAL is a property of the file, so only the first connections to a new file switch it. The switch needs an
    # exclusive lock and SQLite answers "database is locked" at once instead of using the busy timeout when
    # another connection is writing, so retry it for as long as the busy timeout would have waited.
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] in ("wal", "memory"):
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            # A file this process may not write (a copy made by VACUUM INTO, another user's, ?mode=ro) is read in
            # the journal mode it has; a command that writes is refused by check_warehouse's write before any work.
            if exc.sqlite_errorname.startswith("SQLITE_READONLY"):
                return
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def in_wal_mode(database: str) -> bool:
    # Bytes 18 and 19 of a SQLite file's header are its read and write format versions: 2 for WAL, 1 for a
    # rollback journal. Read from the file, so that telling the two apart needs no connection that could fail.
    try:
        with Path(database).open("rb") as file:
            return file.read(20)[18:20] == b"\x02\x02"
    except OSError:
        return False


def _sqlite_begin(connection: sa.Connection) -> None:
    mode = str(connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")).upper()
    if mode not in _SQLITE_BEGIN_MODES:
        raise ValueError(f"{SQLITE_BEGIN_OPTION} must be one of {sorted(_SQLITE_BEGIN_MODES)}, not {mode!r}")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _postgresql_engine(url: sa.URL, schema: str | None) -> sa.Engine:
    options = ["-c TimeZone=UTC"]
    if schema is not None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise WarehouseError(f"schema must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*), not {schema!r}")
        options.append(f"-c search_path={schema}")
    existing = url.query.get("options")
    if isinstance(existing, str) and existing:
        options.insert(0, existing)
    connect_args: dict[str, Any] = {"options": " ".join(options)}
    # Without a timeout, a host that drops packets keeps a connection attempt waiting for minutes.
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRESQL_CONNECT_TIMEOUT_S
    return sa.create_engine(url, pool_pre_ping=True, connect_args=connect_args)
