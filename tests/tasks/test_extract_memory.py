"""What a sync process loads, for its memory: Arrow's system pool unless one is set outside, no cloud filesystems
(tasks/inbound/_arrow_defaults.py), no PostgreSQL dialect for a SQLite warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_BACKEND = "import tasks.inbound.extract, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def _python(code: str, *args: str, environment: dict[str, str] | None = None) -> str:
    """What `code` prints, run in a fresh interpreter with the repo importable."""
    answer = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**(os.environ if environment is None else environment), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    return answer.stdout.strip()


def _backend(environment: dict[str, str]) -> str:
    return _python(_BACKEND, environment=environment)


def test_the_landing_writes_parquet_with_the_system_allocator() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "ARROW_DEFAULT_MEMORY_POOL"}
    assert _backend(environment) == "system"


@pytest.mark.parametrize("pool", ["mimalloc", "jemalloc"])
def test_an_arrow_pool_chosen_outside_is_kept(pool: str) -> None:
    assert _backend({**os.environ, "ARROW_DEFAULT_MEMORY_POOL": pool}) == pool


def test_the_sync_does_not_load_pyarrows_cloud_filesystems(tmp_path: Path) -> None:
    # The S3 one alone loads the AWS SDK (8 MiB of RSS); the landing writes local files and still reads them back.
    probe = (
        "import sys, tasks.inbound.extract, pyarrow, pyarrow.parquet as pq\n"
        "path = sys.argv[1]; pq.write_table(pyarrow.table({'a': [1]}), path)\n"
        "print(pq.read_table(path).num_rows, sorted(name for name in ('pyarrow._s3fs', 'pyarrow._gcsfs', "
        "'pyarrow._azurefs', 'pyarrow._hdfs') if sys.modules.get(name) is not None))"
    )
    assert _python(probe, str(tmp_path / "part.parquet")).split() == ["1", "[]"]


def test_a_sqlite_warehouse_does_not_load_postgresqls_dialect(tmp_path: Path) -> None:
    # 2 MiB of RSS and 23 ms of import a SQLite sync never uses.
    probe = (
        "import sys, tasks.inbound.sync, cli.main, cli.sync\n"
        "from connectors.warehouse import create_warehouse_engine, upgrade, reflect_tables, upsert_rows\n"
        "engine = create_warehouse_engine('sqlite:///' + sys.argv[1]); upgrade(engine)\n"
        "with engine.begin() as connection:\n"
        "    rows = [{'company_id': 1, 'name': 'A'}]\n"
        "    assert upsert_rows(connection, reflect_tables(engine)['companies'], rows, ['company_id']) == 1\n"
        "print(sorted(name for name in sys.modules if name.startswith('sqlalchemy.dialects.postgresql')))"
    )
    assert _python(probe, str(tmp_path / "warehouse.sqlite")) == "[]"
