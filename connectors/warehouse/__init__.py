"""Warehouse connector: the Engine, the migration runner and bulk writers for SQLite and PostgreSQL.

Knows nothing of Prefect. Typical use, once per process::

    engine = create_warehouse_engine()          # $WAREHOUSE_URL or sqlite:///data/warehouse.sqlite
    check_warehouse(engine)                     # WarehouseError (one line): unreachable, read-only, no schema
    upgrade(engine)                             # apply sql/migrations
    tables = reflect_tables(engine)
    with engine.begin() as connection:
        upsert_rows(connection, tables["invoices"], rows, key=["order_id"])

The schema is documented in docs/warehouse.md.
"""

from connectors.warehouse.checks import check_warehouse
from connectors.warehouse.engine import WarehouseError, create_warehouse_engine, write_transaction
from connectors.warehouse.expressions import in_chunks, is_among
from connectors.warehouse.load import COPY_THRESHOLD, insert_ignoring_duplicates, replace_children, upsert_rows
from connectors.warehouse.migrations import (
    MIGRATIONS_DIR,
    MigrationChecksumError,
    MigrationError,
    WarehouseNewerThanCode,
    applied_migrations,
    pending_migrations,
    ready_for_work,
    require_up_to_date,
    upgrade,
)
from connectors.warehouse.reflect import forget_reflected_tables, reflect_tables

__all__ = [
    "COPY_THRESHOLD",
    "MIGRATIONS_DIR",
    "MigrationChecksumError",
    "MigrationError",
    "WarehouseError",
    "WarehouseNewerThanCode",
    "applied_migrations",
    "check_warehouse",
    "create_warehouse_engine",
    "forget_reflected_tables",
    "in_chunks",
    "insert_ignoring_duplicates",
    "is_among",
    "reflect_tables",
    "replace_children",
    "pending_migrations",
    "ready_for_work",
    "require_up_to_date",
    "upgrade",
    "upsert_rows",
    "write_transaction",
]
