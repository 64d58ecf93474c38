"""The plain path imports no Prefect: `sync --no-prefect`, `status`, `replay`, `db upgrade` and `sandbox serve`.

Each command runs in a fresh interpreter that reports, once the command is done, whether any `prefect` module was
loaded; the sync's output must not carry Prefect's telemetry banner either.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.tasks.sync_helpers import SEED_START

REPO_ROOT = Path(__file__).resolve().parents[2]
# Runs the CLI in this interpreter, then says which Prefect modules the command loaded.
PROBE = """
import sys
from cli.main import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
finally:
    print("prefect modules:", sorted(name for name in sys.modules if name.split(".")[0] == "prefect"))
    heavy = ("pyarrow", "xmlschema", "openpyxl", "httpx")
    print("heavy modules:", sorted(name for name in heavy if name in sys.modules))
"""


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=8, orders=200, seed_start=SEED_START)) as running:
        yield running


def billit_etl(directory: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("BILLIT_", "PREFECT_")) and name != "WAREHOUSE_URL"
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=base | {"PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200", "NO_COLOR": "1"} | env,
    )


def test_the_plain_commands_never_import_prefect(server: SandboxServer, tmp_path: Path) -> None:
    env = {
        "BILLIT_BASE_URL": server.base_url,
        "BILLIT_API_KEY": API_KEY,
        "BILLIT_PARTY_ID": str(PARTY_ID),
        "WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
    }
    with socket.socket() as taken:  # `sandbox serve` on a port in use stops after loading all it serves with
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        commands = [
            ("db", "upgrade"),
            ("sync", "all", "--no-prefect"),
            ("status",),
            ("replay", "landing"),
            ("sandbox", "serve", "--port", str(taken.getsockname()[1]), "--orders", "10"),
        ]
        for command in commands:
            done = billit_etl(tmp_path, *command, env=env)
            assert "prefect modules: []" in done.stdout, (command, done.stdout[-2000:], done.stderr[-2000:])
            assert "anonymous usage" not in done.stdout + done.stderr, command
            if command[0] != "sandbox":
                assert done.returncode == 0, (command, done.stderr[-2000:])
            if command[0] in ("db", "status"):  # nothing to ask Billit: no HTTP client, no Arrow (bench/README.md)
                assert "heavy modules: []" in done.stdout, (command, done.stdout[-2000:])
    assert "Watermarks" in billit_etl(tmp_path, "status", env=env).stdout


def test_a_missing_warehouse_is_said_without_the_pipeline_s_imports(tmp_path: Path) -> None:
    # The red line for the commonest mistakes needs none of the pipeline's error classes: before, naming a missing
    # warehouse imported pyarrow, openpyxl and the XML schema library to find its exit code (0.3 s, 60 MB more),
    # and until stop 34 httpx too, through the doctor's module (0.06 s of `status`'s 0.5).
    missing = tmp_path / "typo.sqlite"
    done = billit_etl(tmp_path, "status", env={"WAREHOUSE_URL": f"sqlite:///{missing}"})
    assert f"no warehouse at {missing}" in " ".join(done.stderr.split())
    assert "heavy modules: []" in done.stdout and not missing.exists()
