"""Shared fixtures: settings for the bundled sandbox, and real database URLs.

Tests marked `postgres` need a real server at BILLIT_TEST_POSTGRES_URL (default: the local one). Locally they
are skipped when it is unreachable; under CI (CI set to 1, true, yes or on, in any case: what CI services set)
they fail instead, so a broken database never passes silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.warehouse import upgrade
from sandbox.identity import API_KEY, PARTY_ID
from tests.connectors.warehouse import DIALECTS, Warehouse, fresh_warehouse

POSTGRES_URL = os.environ.get("BILLIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SANDBOX_API_KEY = API_KEY
DEMO_COMPANY = PARTY_ID
TRUTHY = frozenset({"1", "true", "yes", "on"})
# Importing readline (pytest does) makes GNU readline export COLUMNS=80 and LINES=24 into the process's C
# environment when no terminal is attached. os.environ does not show them, but child processes inherit them, and
# with them every pytest-xdist worker: cli/app.py sizes its console from COLUMNS when it is imported, so in a worker
# the CLI would wrap at 80 columns where a plain run prints at LOG_WIDTH. Each worker takes the controller's
# os.environ values instead (`pytest_configure_node` below).
TERMINAL_SIZE = ("COLUMNS", "LINES")


def running_in_ci() -> bool:
    """Whether the CI variable is set to a truthy value (`CI=1` counts as much as `CI=true`)."""
    return os.environ.get("CI", "").strip().lower() in TRUTHY


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, in the controller: hand each worker the controller's COLUMNS and LINES (None: unset)."""
    node.workerinput["billit_terminal_size"] = {name: os.environ.get(name) for name in TERMINAL_SIZE}


def pytest_configure(config: pytest.Config) -> None:
    """In a pytest-xdist worker, before any test module (and so cli/app.py) is imported: the controller's sizes."""
    controller = getattr(config, "workerinput", {}).get("billit_terminal_size")
    for name, value in (controller or {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _no_ambient_billit_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own BILLIT_* variables or .env must not leak into tests."""
    for name in list(os.environ):
        if name.startswith("BILLIT_") and name != "BILLIT_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def _nothing_learnt_about_billit_rates(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each test starts with no learnt Billit rate: the limiters' shared state lives in a temporary directory of
    its own (connectors.billit.ratelimit), not in one a test before it taught with its 429s."""
    import tempfile

    from connectors.billit.ratelimit import forget_shared_limiters

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("billit-rates")))
    forget_shared_limiters()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
        if running_in_ci():
            pytest.fail(f"PostgreSQL unreachable at {POSTGRES_URL} under CI={os.environ['CI']}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}")
    return POSTGRES_URL


@pytest.fixture(params=DIALECTS)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse: a SQLite file, then a fresh PostgreSQL schema (tests run once on each)."""
    with fresh_warehouse(request, tmp_path) as fresh:
        yield fresh


@pytest.fixture
def engine(warehouse: Warehouse) -> Iterator[sa.Engine]:
    """An Engine on `warehouse` with every migration applied."""
    engine = warehouse.engine()
    upgrade(engine)
    yield engine
    engine.dispose()
