"""The BI views: ``sql/views/bi_*.sql``, dropped and recreated together by :func:`apply_views` when they changed.

Files
    ``bi_name.sql`` holds one ``CREATE VIEW bi_name AS ...`` statement for every dialect;
    ``bi_name.sqlite.sql`` or ``bi_name.postgresql.sql`` replaces it on that dialect. The view is named after its
    file, and every name starts with ``bi_``. Only the small helper views hold dialect variants: the date
    arithmetic SQLite and PostgreSQL spell differently lives in ``bi___invoice_dates`` (month, quarter and ISO
    week of each invoice, "today" in Brussels, days overdue), so every BI view is one file for both dialects.

Layers
    ``bi_`` views (the contract, docs/bi.md) read tables and ``bi__`` views; ``bi__`` views read tables and
    ``bi___`` helpers; helpers read tables only. ``_`` sorts before any letter, so name order creates a view
    after the views it reads, and reverse name order drops the readers first.

Recreated, not migrated
    Views hold no data, so they are not versioned like migrations: :func:`~connectors.warehouse.upgrade` ends with
    :func:`apply_views`, which (when they or the migrations changed, below) drops every ``bi_`` view and creates the
    ones in ``sql/views`` again, in name order, in one transaction. An edited view file takes effect on the next
    upgrade, a removed one disappears, and a view that fails leaves the previous set in place. Views read tables
    only, never another view, so the order of the drops does not matter. Each new view is also queried once (``LIMIT
    0``): SQLite checks a view's columns only when it is used, so a typo would otherwise surface in a dashboard
    instead of here.

    Only when something changed: ``schema_views`` (created here, as the runner creates ``schema_migrations``)
    keeps the sha256 of the views as last created and of the migrations applied then; an upgrade that finds the
    same, with every ``bi_`` view in place, leaves the views alone. Every sync upgrades first, and
    recreating unchanged views each time made one view of a user's that reads a ``bi_`` view stop every sync on
    PostgreSQL.

    The ``bi_`` prefix is reserved for these files: a ``bi_`` view without a file is dropped. On PostgreSQL a
    view of your own that selects from a ``bi_`` view makes the drop fail (no ``CASCADE``, on purpose), when the
    views change: ``ViewBlocked`` names it.

Concurrency
    Same lock as the migration runner (:func:`~connectors.warehouse.sqlfiles.locked_transaction`), so two
    processes upgrading at once recreate the views one after the other.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from connectors.warehouse.engine import WarehouseError, is_warehouse_engine
from connectors.warehouse.sqlfiles import execute_statement, locked_transaction, read_sql_file, split_statements

__all__ = ["VIEWS_DIR", "View", "ViewBlocked", "ViewError", "apply_views", "discover_views"]

log = logging.getLogger(__name__)

VIEWS_DIR = Path(__file__).resolve().parents[2] / "sql" / "views"

_FILE_NAME = re.compile(r"(?P<name>bi_[a-z0-9_]+?)(?:\.(?P<dialect>[a-z0-9]+))?\.sql")
_VIEW_NAME = re.compile(r"bi_[a-z0-9_]+")
_CREATE_VIEW = re.compile(r"CREATE\s+VIEW\s+(?P<name>[A-Za-z0-9_]+)\s+AS\s", re.IGNORECASE)


class ViewError(RuntimeError):
    """A view file is misnamed, missing for a dialect, not one CREATE VIEW, or its view fails to build."""


class ViewBlocked(ViewError, WarehouseError):
    """A ``bi_`` view to recreate cannot be dropped: another object (a user's view) reads it. The operator's fix."""


@dataclass(frozen=True)
class View:
    """One view file as chosen for a dialect; ``sql`` is its single statement without the final ``;``."""

    name: str
    path: Path
    sql: str


def discover_views(dialect: str, directory: Path | None = None) -> list[View]:
    """The views for ``dialect`` ("sqlite", "postgresql") in name order, dialect variants preferred."""
    directory = directory or VIEWS_DIR
    if not directory.is_dir():
        raise ViewError(f"views directory {directory} does not exist")
    by_name: dict[str, dict[str | None, Path]] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise ViewError(f"{path.name}: view files are named bi_name.sql or bi_name.<dialect>.sql")
        by_name.setdefault(match["name"], {})[match["dialect"]] = path
    views = []
    for name in sorted(by_name):
        variants = by_name[name]
        chosen = variants.get(dialect) or variants.get(None)
        if chosen is None:
            raise ViewError(f"view {name} has no file for {dialect}: add {name}.sql or {name}.{dialect}.sql")
        views.append(View(name=name, path=chosen, sql=_view_statement(name, chosen)))
    return views


def apply_views(engine: sa.Engine, *, directory: Path | None = None) -> list[str]:
    """Drop every ``bi_`` view and create those of ``sql/views`` again, in one transaction; return their names.
    Views as last created, over the same applied migrations, are left alone (see the module).

    Raises :class:`ViewError` (and changes nothing) when a file is invalid or a view fails to build.
    """
    if not is_warehouse_engine(engine):
        raise ViewError("SQLite views need an engine from create_warehouse_engine (transactional DDL)")
    views = discover_views(engine.dialect.name, directory or VIEWS_DIR)
    names = [view.name for view in views]
    with locked_transaction(engine) as connection:
        inspector = sa.inspect(connection)
        existing = [name for name in inspector.get_view_names() if _VIEW_NAME.fullmatch(name)]
        if not inspector.has_table("schema_views"):  # asked first: IF NOT EXISTS still needs the right to create
            connection.execute(_CREATE_SCHEMA_VIEWS)
        # The views' text and the migrations under them: a migration applied by a process that stopped before its
        # views (killed, or a view of a user's in the way) still has them built again by the next upgrade.
        migrations = sorted(connection.execute(_APPLIED).scalars()) if inspector.has_table("schema_migrations") else []
        built = "\n".join([*migrations, *(f"{view.name}\n{view.sql}" for view in views)])
        checksum = hashlib.sha256(built.encode()).hexdigest()
        if sorted(existing) == names and connection.execute(_STORED).scalar() == checksum:
            log.info("the %d views are up to date", len(names))
            return names
        # A view that others read has one more _ after bi, so it sorts, and is created, before them; dropping in
        # reverse order removes the readers first (PostgreSQL refuses to drop a view that others depend on).
        for name in sorted(set(existing) | set(names), reverse=True):
            _drop(connection, name)
        for view in views:
            try:
                execute_statement(connection, view.sql)
                connection.exec_driver_sql(f"SELECT * FROM {view.name} LIMIT 0").close()
            except sa.exc.DBAPIError as exc:
                raise ViewError(f"{view.path.name}: view {view.name} failed: {exc.orig}") from exc
        connection.execute(sa.text("DELETE FROM schema_views"))
        now = datetime.now(UTC).replace(tzinfo=None)
        connection.execute(
            sa.text("INSERT INTO schema_views VALUES (:checksum, :now)"), {"checksum": checksum, "now": now}
        )
    log.info("recreated %d views: %s", len(names), ", ".join(names))
    return names


_CREATE_SCHEMA_VIEWS = sa.text("CREATE TABLE schema_views (checksum TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)")
_STORED = sa.text("SELECT checksum FROM schema_views")
_APPLIED = sa.text("SELECT version FROM schema_migrations")


def _drop(connection: sa.Connection, name: str) -> None:
    try:
        with connection.begin_nested():  # the transaction stays usable for the message (PostgreSQL)
            connection.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
    except sa.exc.DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != "2BP01":  # dependent_objects_still_exist
            raise
        detail = getattr(getattr(exc.orig, "diag", None), "message_detail", None) or str(exc.orig).strip()
        raise ViewBlocked(
            f"the BI views are to be built again and {name} cannot be dropped: {' '.join(detail.split())}. Drop "
            f"that view of yours (recreate it after the upgrade), or make it read the tables instead of {name} "
            "(docs/bi.md)"
        ) from exc


def _view_statement(name: str, path: Path) -> str:
    statements = split_statements(read_sql_file(path))
    match = _CREATE_VIEW.match(statements[0]) if len(statements) == 1 else None
    if match is None:
        raise ViewError(f"{path.name} must hold exactly one statement: CREATE VIEW {name} AS ...;")
    if match["name"] != name:
        raise ViewError(f"{path.name} creates view {match['name']}, but the file names {name}")
    return statements[0]
