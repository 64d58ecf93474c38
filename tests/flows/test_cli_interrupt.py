"""Ctrl-C and SIGTERM (a scheduler's timeout, `systemctl stop`) stop `billit-etl sync` with one line, exit 130 or
143, and the run closed as failed with the reason and the requests it sent, not left `running` until a later run
finds it abandoned. The installed command runs in its own process against the sandbox over HTTP, slowed so that it
is stopped in the middle of its listing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.flows.cli_helpers import requests_sent
from tests.tasks.sync_helpers import SEED_START


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=5, orders=1500, seed_start=SEED_START)) as running:
        running.sandbox.injector.update({"latency_ms": 20})
        yield running


def runs(url: str) -> list[sa.Row]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text("select status, requests, error from sync_runs")).all()
    except sa.exc.OperationalError:  # not migrated yet
        return []
    finally:
        engine.dispose()


def start_sync(server: SandboxServer, tmp_path: Path, *args: str, **settings: str) -> tuple[subprocess.Popen[str], str]:
    """`billit-etl sync *args --no-prefect` (landing off) in its own process against the sandbox, with its key and
    `settings` (BILLIT_PARTY_ID, ...); the process and its warehouse's URL."""
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("BILLIT_", "PREFECT_"))}
    env.update(COLUMNS="200", BILLIT_BASE_URL=server.base_url, BILLIT_API_KEY=API_KEY, WAREHOUSE_URL=url, **settings)
    billit_etl = Path(sys.executable).parent / "billit-etl"
    process = subprocess.Popen(
        [str(billit_etl), "sync", *args, "--no-prefect", "--landing-dir", ""],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, url


@pytest.mark.parametrize(
    ("stop", "reason", "code"),
    [(signal.SIGINT, "KeyboardInterrupt", 130), (signal.SIGTERM, "Terminated: stopped by signal SIGTERM", 143)],
)
def test_a_stopped_sync_says_so_in_one_line_and_closes_its_run_with_the_reason(
    server: SandboxServer, tmp_path: Path, stop: signal.Signals, reason: str, code: int
) -> None:
    process, url = start_sync(server, tmp_path, "sales", BILLIT_PARTY_ID=str(PARTY_ID))
    before = requests_sent(server)
    try:
        deadline = time.monotonic() + 60
        while requests_sent(server) < before + 20:  # the run's requests are under way
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code, stderr  # 128 + the signal, as a shell reports it
    assert [line for line in stderr.splitlines() if line.strip()] == [
        "interrupted: what was committed stays; run the command again to go on"
    ]
    [(status, requests, error)] = runs(url)
    assert (status, error) == ("failed", reason) and requests > 0


def test_an_interrupted_sync_of_several_companies_stops_the_streams_running_side_by_side(
    server: SandboxServer, tmp_path: Path
) -> None:
    # Before: Ctrl-C waited for the streams running side by side in threads to run to their end (14 s with 8,000
    # orders a company at 20 ms a request; minutes for an accounting office's backfill), and closed them as
    # succeeded; only the streams not started yet were left out. They now stop before their next batch.
    process, url = start_sync(server, tmp_path, "all", "--companies", "all")
    try:
        deadline = time.monotonic() + 60
        while sum(1 for status, _, _ in runs(url) if status == "running") < 2:  # two streams side by side
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: what was committed stays; run the command again to go on"
    stopped = runs(url)
    assert len(stopped) == 2, stopped  # the streams not started are not started
    assert {(status, error) for status, _, error in stopped} == {
        ("failed", "SyncStopped: stopped before its next batch: interrupted or cancelled")
    }
