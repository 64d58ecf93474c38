"""Warehouse connector tests, run against real databases: a SQLite file and a PostgreSQL schema.

:func:`fresh_warehouse` gives a test an empty database of either kind: a SQLite file under ``tmp_path``, or a new
PostgreSQL schema (named ``t_<random>``, dropped afterwards) that the engine's ``search_path`` points at. The test
modules wrap it in a fixture parametrised over :data:`DIALECTS`; :func:`postgres_schema` makes extra schemas.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.warehouse import create_warehouse_engine

DIALECTS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class Warehouse:
    """Where one test's database lives; ``engine()`` makes another Engine on it (one per simulated process)."""

    dialect: str
    url: str
    schema: str | None = None

    def engine(self) -> sa.Engine:
        return create_warehouse_engine(self.url, schema=self.schema)


def migrated_sqlite_file(path: Path) -> Path:
    """A SQLite warehouse file at `path` with every migration applied, and no engine left open on it."""
    from connectors.warehouse import upgrade

    engine = create_warehouse_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def permissions_bind(directory: Path) -> bool:
    """Whether file permissions bind this process in `directory`: not for root with CAP_DAC_OVERRIDE."""
    probe = directory / "probe"
    probe.write_text("")
    probe.chmod(0o444)
    try:
        probe.open("a").close()
    except PermissionError:
        return True
    finally:
        probe.unlink()
    return False


@contextmanager
def fresh_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse for the dialect in ``request.param``."""
    if request.param == "sqlite":
        yield Warehouse("sqlite", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
        return
    with postgres_schema(request.getfixturevalue("postgres_url")) as warehouse:
        yield warehouse


@contextmanager
def postgres_schema(postgres_url: str) -> Iterator[Warehouse]:
    """A new, empty PostgreSQL schema ``t_<random>``, dropped with everything in it on exit."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        yield Warehouse("postgresql", postgres_url, schema)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()
