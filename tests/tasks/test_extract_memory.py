"""The allocator the sync's Parquet landing gets (tasks.inbound.extract): Arrow's system pool, unless set outside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_BACKEND = "import tasks.inbound.extract, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def _backend(environment: dict[str, str]) -> str:
    answer = subprocess.run(
        [sys.executable, "-c", _BACKEND],
        env={**environment, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    return answer.stdout.strip()


def test_the_landing_writes_parquet_with_the_system_allocator() -> None:
    environment = {key: value for key, value in os.environ.items() if key != "ARROW_DEFAULT_MEMORY_POOL"}
    assert _backend(environment) == "system"


@pytest.mark.parametrize("pool", ["mimalloc", "jemalloc"])
def test_an_arrow_pool_chosen_outside_is_kept(pool: str) -> None:
    assert _backend({**os.environ, "ARROW_DEFAULT_MEMORY_POOL": pool}) == pool
