"""The checks that make an unusable warehouse one :class:`WarehouseError` line before any work starts: a server
that cannot be reached, a file that cannot be written (or read), a role that may not write (or read) the tables,
and a PostgreSQL search_path with no schema that exists. Each message names the problem and the fix, and never
shows a password.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from connectors.warehouse.engine import SQLITE_BEGIN_OPTION, WAREHOUSE_URL_ENV, WarehouseError, in_wal_mode, shown_url

__all__ = ["check_warehouse", "require_schema"]

# psycopg repeats the host and port the URL already shows: 'connection failed: connection to server at "h", port 1
# failed: Connection refused'; the server adds a severity: 'FATAL:  database "x" does not exist'.
_PSYCOPG_PREFIX = re.compile(
    r'^(connection failed: )?(connection to server at "[^"]*"(, port \d+)? failed: )?'
    r"(FATAL: +)?"
)


def check_warehouse(engine: sa.Engine, *, writable: bool = True) -> None:
    """Connect once, so that an unusable warehouse is one :class:`WarehouseError` before any work starts.

    PostgreSQL must have a schema to work in (:func:`require_schema`) and let the role write. SQLite opens (or
    creates) the file, takes the write lock and writes a table that is rolled back at once: ``BEGIN IMMEDIATE``
    alone succeeds on a read-only database, a write does not. With ``writable=False`` (a command that only reads,
    e.g. on a read-only replica, or a SQLite file of another user) nothing is written, nor the write rights checked.
    The message carries the driver's first line, never SQL parameters or the password.
    """
    try:
        if engine.dialect.name == "sqlite" and writable:
            with engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}).connect() as connection:
                transaction = connection.begin()
                try:
                    connection.exec_driver_sql("CREATE TABLE _warehouse_write_check (x INTEGER)")
                finally:
                    transaction.rollback()
        elif engine.dialect.name == "sqlite":
            with engine.connect() as connection:
                connection.exec_driver_sql("select 1")
        else:
            with engine.connect() as connection:
                require_schema(connection)
                if writable:
                    _check_postgresql_writes(connection)
                else:
                    _check_postgresql_reads(connection)
    except sa.exc.DBAPIError as exc:
        raise WarehouseError(_unusable(engine.url, exc, writable=writable)) from None


def require_schema(connection: sa.Connection) -> None:
    """On PostgreSQL, a :class:`WarehouseError` when no schema of the ``search_path`` exists or may be used.

    Without one, queries find no table (the warehouse would look empty, not wrong) and ``CREATE TABLE`` fails with
    "no schema has been selected to create in". Nothing here creates the schema: a schema made from a mistyped URL
    would be migrated and filled while the real one falls behind, so choosing and creating it is the operator's
    act (docs/warehouse.md#where-the-warehouse-lives). SQLite has no schemas: nothing to check.
    """
    if connection.dialect.name != "postgresql":
        return
    current = connection.exec_driver_sql("select current_schema()").scalar()
    search_path = str(connection.exec_driver_sql("show search_path").scalar())
    entries = [name.strip() for name in search_path.split(",") if name.strip()]
    first = entries[0] if entries else ""
    # The first schema named is the one meant: with `billt,public`, a typo would otherwise fill public.
    if current is not None and (
        first == '"$user"' or current == (first[1:-1] if first.startswith('"') else first.lower())
    ):
        return
    shown = shown_url(connection.engine.url)
    named = [name for name in entries if name != '"$user"']
    if not named:
        raise WarehouseError(
            f"the search_path of {shown} ({search_path}) names no schema that exists: "
            f"name one in {WAREHOUSE_URL_ENV} (?options=-csearch_path%3Dname)"
        )
    schema = named[0]
    # PostgreSQL folds an unquoted name to lower case; current_schema() also skips a schema the role may not use.
    folded = schema[1:-1] if schema.startswith('"') else schema.lower()
    exists = connection.execute(
        sa.text("select exists (select 1 from pg_namespace where nspname = :name)"), {"name": folded}
    ).scalar()
    if exists:
        raise WarehouseError(
            f"the role of {shown} may not use the schema {schema} of its search_path: grant it USAGE on the schema "
            f"(and CREATE, to apply migrations), or use another role in {WAREHOUSE_URL_ENV}"
        )
    raise WarehouseError(
        f"the schema {schema} of the search_path in {shown} does not exist: create it (CREATE SCHEMA {schema}) or "
        f"correct the search_path in {WAREHOUSE_URL_ENV}"
    )


def _check_postgresql_writes(connection: sa.Connection) -> None:
    shown = shown_url(connection.engine.url)
    if connection.exec_driver_sql("show transaction_read_only").scalar() == "on":
        raise WarehouseError(
            f"the warehouse at {shown} only allows reading (a replica, or "
            "default_transaction_read_only): point WAREHOUSE_URL at the primary"
        )
    if not _role_may(connection, "INSERT", "invoices"):
        raise WarehouseError(
            f"the role of {shown} may not write the warehouse tables "
            "(INSERT on invoices): use a role that can, in WAREHOUSE_URL"
        )


def _check_postgresql_reads(connection: sa.Connection) -> None:
    # A role that may connect but not read got the driver's error and a --debug hint from `status` (found from the
    # outside). As in the writers' check, one table decides: the one every command reads first; other tables of a
    # shared schema, or one hidden from a BI role (docs/bi.md#postgresql), are not the commands' business.
    if not _role_may(connection, "SELECT", "schema_migrations"):
        raise WarehouseError(
            f"the role of {shown_url(connection.engine.url)} may not read the warehouse tables (SELECT on "
            "schema_migrations): grant it, or use a role that can, in WAREHOUSE_URL"
        )


def _role_may(connection: sa.Connection, privilege: str, table: str) -> bool:
    """Whether the role has `privilege` on the warehouse's `table` (true while the table does not exist yet: the
    migrations make it)."""
    query = sa.text("select coalesce(has_table_privilege(to_regclass(:table), :privilege), true)")
    return bool(connection.execute(query, {"table": table, "privilege": privilege}).scalar())


def _without_password(text: str, password: str | None) -> str:
    """`text` with the password masked where a driver would echo it: a DSN's `password=...` and a URL's `:...@`.
    Replaced anywhere else, a short password or a word (`o`, `database`) would garble the message and tell where
    it stood (found from the outside: password `o` made `c***nnecti***n`)."""
    text = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    return text.replace(f":{password}@", ":***@") if password else text


def _unusable(url: sa.URL, exc: sa.exc.DBAPIError, *, writable: bool) -> str:
    """One line for an error raised while connecting: the driver's first line, with the fix."""
    lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    reason = lines[0].strip() if lines else type(exc).__name__
    reason = _without_password(reason, None if url.password is None else str(url.password))
    if url.get_backend_name() == "sqlite":
        database = (url.database or ":memory:").removeprefix("file:")
        refused = str(getattr(exc.orig, "sqlite_errorname", "")).startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN"))
        if not writable and refused and in_wal_mode(database):
            # Readers of a WAL file share the -shm index with the writers, and SQLite creates it when it is missing
            # (the last connection to close deletes it): even a read needs the directory. Opening the file as
            # immutable would need neither, but reads torn pages while anyone writes it, so that is not offered.
            return (
                f"cannot read the warehouse file {database}: {reason} (a WAL database is read through "
                f"{database}-shm, which this user may neither open nor create: make its directory writable for this "
                f"user, or run as the user who writes the warehouse)"
            )
        if not writable and refused:
            return (
                f"cannot open the warehouse file {database}: {reason} (this user must be able to read it; "
                f"check {WAREHOUSE_URL_ENV})"
            )
        if str(getattr(exc.orig, "sqlite_errorname", "")) in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            return (
                f"the warehouse file {database} is not a SQLite database, or is damaged: {reason} (point "
                f"{WAREHOUSE_URL_ENV} at the warehouse, or restore it from a backup)"
            )
        if "readonly" in reason:
            return (
                f"the warehouse file {database} is read-only: {reason} (make it and its directory writable, "
                f"or point {WAREHOUSE_URL_ENV} at another file)"
            )
        return (
            f"cannot open the warehouse file {database}: {reason} (its directory must exist and be writable; "
            f"check {WAREHOUSE_URL_ENV})"
        )
    reason = _PSYCOPG_PREFIX.sub("", reason)
    if reason[1:2].islower():
        reason = reason[0].lower() + reason[1:]
    hint = "is PostgreSQL running? " if any(word in reason for word in ("refused", "timeout", "timed out")) else ""
    return f"cannot reach the warehouse at {shown_url(url)}: {reason} ({hint}check {WAREHOUSE_URL_ENV})"
