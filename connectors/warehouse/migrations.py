"""The migration runner: applies ``sql/migrations/NNNN_name.sql`` in order and records each one.

Files
    ``NNNN_name.sql`` runs on every dialect. ``NNNN_name.postgresql.sql`` or ``NNNN_name.sqlite.sql`` replaces
    it on that dialect (a version may also have only dialect variants). Versions are four digits and unique.

Statements
    Split by :func:`~connectors.warehouse.sqlfiles.split_statements`: a ``;`` at the end of a line ends one.

Bookkeeping
    ``schema_migrations(version, name, checksum, applied_at)`` holds one row per applied file: the sha256 of its
    text (line endings normalised to ``\\n``) and the naive-UTC time it was applied. Editing an applied file
    makes :func:`upgrade` raise :class:`MigrationChecksumError`; add a new migration instead.

Transactions and concurrency
    Each file runs in its own transaction together with its bookkeeping row, so a failure leaves nothing half
    applied. Every transaction first takes the schema lock and re-reads ``schema_migrations``
    (:func:`~connectors.warehouse.sqlfiles.locked_transaction`: ``pg_advisory_xact_lock`` on PostgreSQL,
    ``BEGIN IMMEDIATE`` on SQLite, where transactional DDL needs an engine from
    :func:`~connectors.warehouse.engine.create_warehouse_engine`). Two
    processes upgrading at once therefore apply each file once; the second one finds it recorded and skips it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from connectors.warehouse.checks import check_warehouse, require_schema
from connectors.warehouse.engine import WarehouseError, is_warehouse_engine
from connectors.warehouse.reflect import forget_reflected_tables
from connectors.warehouse.sqlfiles import execute_statement, locked_transaction, read_sql_file, split_statements
from connectors.warehouse.views import apply_views

__all__ = [
    "MIGRATIONS_DIR",
    "Migration",
    "MigrationChecksumError",
    "MigrationError",
    "applied_migrations",
    "discover_migrations",
    "split_statements",
    "upgrade",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "sql" / "migrations"

_FILE_NAME = re.compile(r"(?P<version>\d{4})_(?P<slug>[a-z0-9_]+?)(?:\.(?P<dialect>[a-z0-9]+))?\.sql")

_BOOKKEEPING_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL,
    CONSTRAINT pk_schema_migrations PRIMARY KEY (version)
)
"""
_schema_migrations = sa.table(
    "schema_migrations",
    sa.column("version", sa.Text()),
    sa.column("name", sa.Text()),
    sa.column("checksum", sa.Text()),
    sa.column("applied_at", sa.DateTime()),
)


#: The tables sql/migrations makes (besides their bookkeeping); tests/connectors/warehouse/test_migrations.py
#: checks the list against a new warehouse on both databases.
WAREHOUSE_TABLES = frozenset(
    {
        "companies",
        "invoice_lines",
        "invoice_messages",
        "invoice_status_history",
        "invoice_vat_groups",
        "invoices",
        "outbound_invoice_lines",
        "outbound_invoices",
        "parties",
        "party_identifiers",
        "pending_orders",
        "quarantine",
        "sync_runs",
        "sync_state",
        "vat_return_entries",
        "vat_return_exceptions",
        "webhook_events",
    }
)


class MigrationError(RuntimeError):
    """The migrations cannot be applied: a bad file name, a missing file, or a statement that failed."""


class MigrationChecksumError(MigrationError):
    """A migration file was edited after it had been applied."""


class WarehouseNewerThanCode(MigrationError, WarehouseError):
    """The warehouse holds a migration this code does not know: a newer billit-pipelines upgraded it (or this
    install lost the file). An operator's mistake, said in one line, not a bug."""


@dataclass(frozen=True)
class Migration:
    """One migration file as chosen for a dialect."""

    version: str
    name: str
    path: Path
    sql: str

    @property
    def checksum(self) -> str:
        """sha256 of the file's text with line endings normalised, so a CRLF checkout does not count as an edit."""
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()

    def statements(self) -> list[str]:
        """The file's statements, split by :func:`split_statements`."""
        return split_statements(self.sql)


@dataclass(frozen=True)
class AppliedMigration:
    """One row of ``schema_migrations``."""

    version: str
    name: str
    checksum: str
    applied_at: datetime


def discover_migrations(dialect: str, directory: Path | None = None) -> list[Migration]:
    """The migrations for ``dialect`` ("sqlite", "postgresql") in version order, dialect variants preferred."""
    directory = directory or MIGRATIONS_DIR
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    by_version: dict[str, dict[str | None, Path]] = {}
    names: dict[str, str] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql or NNNN_name.<dialect>.sql")
        version, variant = match["version"], match["dialect"]
        name = f"{version}_{match['slug']}"
        if names.setdefault(version, name) != name:
            raise MigrationError(f"version {version} is used by two migrations: {names[version]} and {name}")
        by_version.setdefault(version, {})[variant] = path
    migrations = []
    for version in sorted(by_version):
        variants = by_version[version]
        chosen = variants.get(dialect) or variants.get(None)
        if chosen is None:
            raise MigrationError(
                f"migration {names[version]} has no file for {dialect}: "
                f"add {names[version]}.sql or {names[version]}.{dialect}.sql"
            )
        migrations.append(Migration(version=version, name=names[version], path=chosen, sql=read_sql_file(chosen)))
    return migrations


def applied_migrations(connection: sa.Connection) -> dict[str, AppliedMigration]:
    """The rows of ``schema_migrations`` by version (the table must exist)."""
    rows = connection.execute(sa.select(_schema_migrations).order_by(_schema_migrations.c.version)).mappings()
    return {row["version"]: AppliedMigration(**row) for row in rows}


def pending_migrations(engine: sa.Engine, *, directory: Path | None = None) -> list[str]:
    """The names of the migrations not applied yet, without applying any (reads only)."""
    migrations = discover_migrations(engine.dialect.name, directory or MIGRATIONS_DIR)
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(_schema_migrations.name):
            return [migration.name for migration in migrations]
        recorded = applied_migrations(connection)
    return [migration.name for migration in migrations if migration.version not in recorded]


def require_up_to_date(engine: sa.Engine) -> None:
    """A :class:`WarehouseError` naming the migrations not applied yet, for work that must not change the schema:
    a command that only reads, a dry run (found from the outside: a dry push migrated a database that was not a
    warehouse); or the tables they made that are gone (`require_every_table`)."""
    if pending := pending_migrations(engine):
        raise WarehouseError(
            f"the warehouse is not up to date ({', '.join(pending)} not applied): run billit-etl db upgrade, "
            "or a sync, first"
        )
    require_every_table(engine)


def require_every_table(engine: sa.Engine) -> None:
    """A :class:`WarehouseError` naming the tables of `WAREHOUSE_TABLES` a migrated warehouse lacks: dropped by
    hand after the migration that made them was recorded, which no upgrade makes again (an operator's test saw a
    KeyError from the first command to use one)."""
    if missing := sorted(WAREHOUSE_TABLES - set(sa.inspect(engine).get_table_names())):
        raise WarehouseError(
            f"the warehouse has no table {', '.join(missing)}, though its migrations made it: dropped by hand? "
            "Restore the warehouse from a backup, or sync into a new one"
        )


def ready_for_work(engine: sa.Engine, *, migrate: bool = True) -> list[str]:
    """What every command and flow checks before its work: the warehouse usable (`check_warehouse`, writable unless
    it only reads) and migrated; without `migrate` (a dry run), up to date already and left as it is. The
    migrations this applied."""
    check_warehouse(engine, writable=migrate)
    if migrate:
        return upgrade(engine)
    require_up_to_date(engine)
    return []


def upgrade(engine: sa.Engine, *, directory: Path | None = None) -> list[str]:
    """Apply every migration not yet recorded, in order; return the names applied by this call.

    Idempotent and safe to run from several processes at once (see the module docstring). Raises
    :class:`MigrationChecksumError` when an applied file has been edited, :class:`MigrationError` when an
    applied migration has no file any more or a statement fails (that file's transaction is rolled back), and
    :class:`~connectors.warehouse.engine.WarehouseError` when no schema of PostgreSQL's ``search_path`` exists:
    a schema is never created here (:func:`~connectors.warehouse.engine.require_schema` says why).
    """
    if not is_warehouse_engine(engine):
        raise MigrationError("SQLite migrations need an engine from create_warehouse_engine (transactional DDL)")
    directory = directory or MIGRATIONS_DIR
    migrations = discover_migrations(engine.dialect.name, directory)
    with locked_transaction(engine) as connection:
        require_schema(connection)
        connection.exec_driver_sql(_BOOKKEEPING_DDL)
        recorded = applied_migrations(connection)
    _check_recorded(recorded, migrations, directory)

    applied_now: list[str] = []
    try:
        for migration in migrations:
            if migration.version in recorded:
                continue
            with locked_transaction(engine) as connection:
                # Another process may have applied it since we looked.
                row = applied_migrations(connection).get(migration.version)
                if row is not None:
                    _check_unchanged(row, migration)
                    continue
                _apply(connection, migration)
            applied_now.append(migration.name)
            log.info("applied migration %s (%s)", migration.name, migration.path.name)
    finally:
        if applied_now:
            forget_reflected_tables(engine)
    if directory == MIGRATIONS_DIR:  # tests run migrations of their own
        require_every_table(engine)
    apply_views(engine)  # views hold no data: built again from sql/views when they or the migrations changed
    return applied_now


def _check_recorded(recorded: dict[str, AppliedMigration], migrations: list[Migration], directory: Path) -> None:
    available = {migration.version: migration for migration in migrations}
    for version, row in recorded.items():
        migration = available.get(version)
        if migration is None:
            raise WarehouseNewerThanCode(
                f"the warehouse has migration {row.name}, which this billit-pipelines does not have ({directory}): a "
                "newer version upgraded it (use that version or a newer one), or this install lacks the file"
            )
        _check_unchanged(row, migration)


def _check_unchanged(row: AppliedMigration, migration: Migration) -> None:
    if migration.name != row.name:
        raise MigrationError(f"migration {row.version} was applied as {row.name} but the file is now {migration.name}")
    if migration.checksum != row.checksum:
        raise MigrationChecksumError(
            f"{migration.path.name} was edited after it was applied on {row.applied_at:%Y-%m-%d %H:%M} UTC "
            f"(recorded sha256 {row.checksum[:12]}…, file now {migration.checksum[:12]}…); "
            "restore it and put the change in a new migration"
        )


def _apply(connection: sa.Connection, migration: Migration) -> None:
    for number, statement in enumerate(migration.statements(), start=1):
        try:
            execute_statement(connection, statement)
        except sa.exc.DBAPIError as exc:
            first_line = statement.splitlines()[0]
            raise MigrationError(
                f"{migration.path.name}, statement {number} ({first_line!r}) failed: {exc.orig}"
            ) from exc
    connection.execute(
        sa.insert(_schema_migrations).values(
            version=migration.version,
            name=migration.name,
            checksum=migration.checksum,
            applied_at=datetime.now(UTC).replace(tzinfo=None),
        )
    )
