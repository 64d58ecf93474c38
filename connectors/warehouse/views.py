"""The BI views: ``sql/views/bi_*.sql``, dropped and recreated together by :func:`apply_views`.

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
    Views hold no data, so they are not versioned like migrations: :func:`~connectors.warehouse.upgrade` ends
    with :func:`apply_views`, which drops every ``bi_`` view and creates the ones in ``sql/views`` again, in name
    order, in one transaction. An edited view file takes effect on the next upgrade, a removed one disappears, and
    a view that fails leaves the previous set in place. Views read tables only, never another view, so the order
    of the drops does not matter. Each new view is also queried once (``LIMIT 0``): SQLite checks a view's
    columns only when it is used, so a typo would otherwise surface in a dashboard instead of here.

    The ``bi_`` prefix is reserved for these files: a ``bi_`` view without a file is dropped. On PostgreSQL a
    view of your own that selects from a ``bi_`` view makes the drop fail (no ``CASCADE``, on purpose).

Concurrency
    Same lock as the migration runner (:func:`~connectors.warehouse.sqlfiles.locked_transaction`), so two
    processes upgrading at once recreate the views one after the other.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from connectors.warehouse.engine import is_warehouse_engine
from connectors.warehouse.sqlfiles import execute_statement, locked_transaction, read_sql_file, split_statements

__all__ = ["VIEWS_DIR", "View", "ViewError", "apply_views", "discover_views"]

log = logging.getLogger(__name__)

VIEWS_DIR = Path(__file__).resolve().parents[2] / "sql" / "views"

_FILE_NAME = re.compile(r"(?P<name>bi_[a-z0-9_]+?)(?:\.(?P<dialect>[a-z0-9]+))?\.sql")
_VIEW_NAME = re.compile(r"bi_[a-z0-9_]+")
_CREATE_VIEW = re.compile(r"CREATE\s+VIEW\s+(?P<name>[A-Za-z0-9_]+)\s+AS\s", re.IGNORECASE)


class ViewError(RuntimeError):
    """A view file is misnamed, missing for a dialect, not one CREATE VIEW, or its view fails to build."""


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

    Raises :class:`ViewError` (and changes nothing) when a file is invalid or a view fails to build.
    """
    if not is_warehouse_engine(engine):
        raise ViewError("SQLite views need an engine from create_warehouse_engine (transactional DDL)")
    views = discover_views(engine.dialect.name, directory or VIEWS_DIR)
    with locked_transaction(engine) as connection:
        existing = [name for name in sa.inspect(connection).get_view_names() if _VIEW_NAME.fullmatch(name)]
        # A view that others read has one more _ after bi, so it sorts, and is created, before them; dropping in
        # reverse order removes the readers first (PostgreSQL refuses to drop a view that others depend on).
        for name in sorted(set(existing) | {view.name for view in views}, reverse=True):
            connection.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
        for view in views:
            try:
                execute_statement(connection, view.sql)
                connection.exec_driver_sql(f"SELECT * FROM {view.name} LIMIT 0").close()
            except sa.exc.DBAPIError as exc:
                raise ViewError(f"{view.path.name}: view {view.name} failed: {exc.orig}") from exc
    names = [view.name for view in views]
    log.info("recreated %d views: %s", len(names), ", ".join(names))
    return names


def _view_statement(name: str, path: Path) -> str:
    statements = split_statements(read_sql_file(path))
    match = _CREATE_VIEW.match(statements[0]) if len(statements) == 1 else None
    if match is None:
        raise ViewError(f"{path.name} must hold exactly one statement: CREATE VIEW {name} AS ...;")
    if match["name"] != name:
        raise ViewError(f"{path.name} creates view {match['name']}, but the file names {name}")
    return statements[0]
