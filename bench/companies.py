"""Benchmark: the fan-out over companies (`billit-companies/companies`) with 1 and with 2 process workers.

A sandbox hosting `--companies` companies of `--orders-per-company` orders each (the last with API access off, so
one fewer is synced) is served in its own process with injected latency; a Prefect server is started with a
database of its own (a new PostgreSQL database, as docs/operations.md advises with workers; `--prefect-database
sqlite` for Prefect's default), the `companies` and `company` deployments are deployed from prefect.yaml,
`--workers` process workers are started, and the parent run is started by hand. The wall time is from the
parent's creation to its final state; the warehouse (SQLite, new for each run) is then checked to hold every
company's orders.

CPU seconds are those of the workers and their flow-run processes (reaped, so counted in this process's
RUSAGE_CHILDREN once the workers are stopped), the Prefect server apart; peak RSS is the largest single process
among them (`ru_maxrss` of the children), and the peak total the sum of the resident set sizes of the workers
and their flow-run processes, sampled every 0.5 s (pages they share count once per process). The machine may be
shared: wall times are noisy.

    .venv/bin/python bench/companies.py --companies 20 --orders-per-company 300 --workers 1 2 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.identity import API_KEY, PARTY_ID  # noqa: E402

BIN = Path(sys.executable).parent
PREFECT = str(BIN / "prefect")
POOL = "billit-process"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
POSTGRES_URL = os.environ.get("BILLIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL what is left after 20 s, and reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def family_rss_mib(parents: set[int]) -> float:
    """Resident memory of these processes (the workers) and of their children (the flow-run processes a process
    worker starts, each in a session of its own), MiB."""
    total = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:  # after "pid (name)": state, ppid, ... rss (in pages) is the 22nd
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry.name) in parents or int(fields[1]) in parents:
                total += int(fields[21]) * PAGE_BYTES
    return total / 2**20


def sandbox_requests(base_url: str) -> tuple[int, int]:
    """Requests to /v1 the sandbox has answered so far, and how many of them with 429."""
    stats = httpx.get(f"{base_url}/_sandbox/stats", timeout=30).raise_for_status().json()
    counts = [
        (int(status), n) for route, per in stats["requests"].items() if "/v1" in route for status, n in per.items()
    ]
    return sum(n for _, n in counts), sum(n for status, n in counts if status == 429)


def flow_run_timeline(api: httpx.Client, started_at: float) -> dict[str, Any]:
    """Seconds from the parent's creation: when the parent ran, when the company runs were made, and when they
    started running (their processes up) and ended, first and last."""
    runs = api.post("/flow_runs/filter", json={"limit": 200}).raise_for_status().json()

    def seconds(stamp: str | None) -> float | None:
        return None if stamp is None else round(datetime.fromisoformat(stamp).timestamp() - started_at, 1)

    parent = [
        run for run in runs if run["parent_task_run_id"] is None and run["name"] and "company " not in run["name"]
    ]
    children = [run for run in runs if run["name"].startswith("company ")]
    spans = {
        "made": [seconds(run["created"]) for run in children],
        "running": [seconds(run["start_time"]) for run in children],
        "ended": [seconds(run["end_time"]) for run in children],
    }
    timeline = {
        f"children_{key}_s": [min(filter(None, values), default=None), max(filter(None, values), default=None)]
        for key, values in spans.items()
    }
    if parent:
        timeline["parent_running_s"] = seconds(parent[0]["start_time"])
    return timeline


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextlib.contextmanager
def sandbox(
    companies: int, orders_per_company: int, latency_ms: float, logs: Path, rate_limit: float, rate_mode: str
) -> Iterator[str]:
    port = free_port()
    command = [str(BIN / "billit-etl"), "sandbox", "serve", "--port", str(port), "--seed", "7"]
    command += ["--companies", str(companies), "--orders-per-company", str(orders_per_company)]
    command += ["--latency-ms", str(latency_ms), "--rate-limit", str(rate_limit), "--rate-limit-mode", rate_mode]
    process = start(command, os.environ.copy(), logs / "sandbox.log")
    try:
        wait_for(f"http://127.0.0.1:{port}/_sandbox/stats", process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@contextlib.contextmanager
def prefect_database(kind: str, work: Path) -> Iterator[str]:
    """The URL of a new database for the Prefect server: a PostgreSQL database made for the run (and dropped
    after it), or an SQLite file in `work`."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{work / 'prefect.db'}"
        return
    name = f"prefect_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield sa.make_url(POSTGRES_URL).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        admin.dispose()


def run_once(base_url: str, workers: int, work: Path, database_url: str, worker_limit: int | None) -> dict[str, Any]:
    """One fan-out run with `workers` workers on a fresh Prefect server (on `database_url`) and warehouse."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BILLIT_")) and k != "WAREHOUSE_URL"}
    env |= {"PREFECT_HOME": str(work / "prefect-home"), "DO_NOT_TRACK": "1", "COLUMNS": "200"}
    port = free_port()
    server_env = env | {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    server = start([PREFECT, "server", "start", "--port", str(port), "--no-ui"], server_env, work / "server.log")
    api_url = f"http://127.0.0.1:{port}/api"
    env["PREFECT_API_URL"] = api_url
    warehouse = work / "warehouse.sqlite"
    running: list[subprocess.Popen[bytes]] = []
    try:
        wait_for(f"{api_url}/health", server)

        def prefect(*args: str) -> str:
            done = subprocess.run([PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
            return done.stdout

        prefect("work-pool", "create", POOL, "--type", "process")
        for name in ("companies", "company"):
            prefect("--no-prompt", "deploy", "--name", name)
        worker_env = env | {
            "BILLIT_BASE_URL": base_url,
            "BILLIT_API_KEY": API_KEY,
            "BILLIT_PARTY_ID": str(PARTY_ID),
            "WAREHOUSE_URL": f"sqlite:///{warehouse}",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        for number in range(workers):
            command = [PREFECT, "worker", "start", "--pool", POOL, "--name", f"worker-{number}"]
            command += ["--limit", str(worker_limit)] if worker_limit else []
            running.append(start(command, worker_env, work / f"worker-{number}.log"))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        requests_before = sandbox_requests(base_url)
        peak_total_mib = 0.0
        started, started_at = time.perf_counter(), time.time()
        output = prefect(
            "deployment", "run", "billit-companies/companies", "--param", f"landing_dir={work / 'landing'}"
        )
        match = re.search(r"UUID: ([0-9a-f-]{36})", output)
        assert match, output
        with httpx.Client(base_url=api_url, timeout=60) as api:
            while True:
                try:  # a Prefect server busy with 20 runs on 2 cores (on SQLite above all) can be slow to answer
                    run = api.get(f"/flow_runs/{match.group(1)}").raise_for_status().json()
                except httpx.TimeoutException:
                    continue
                if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    break
                peak_total_mib = max(peak_total_mib, family_rss_mib({process.pid for process in running}))
                time.sleep(0.5)
            wall = time.perf_counter() - started
            timeline = flow_run_timeline(api, started_at)
        requests_after = sandbox_requests(base_url)
        sent, refused = requests_after[0] - requests_before[0], requests_after[1] - requests_before[1]
    finally:
        for process in running:
            stop(process)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        stop(server)
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    with engine.connect() as connection:
        per_company = dict(
            connection.execute(sa.text("select company_id, count(*) from invoices group by company_id")).all()
        )
        first, last = connection.execute(sa.text("select min(started_at), max(finished_at) from sync_runs")).one()
    engine.dispose()
    # The company runs' own span, from the first stream's start to the last one's end (UTC, like sync_runs).
    first_s, last_s = (
        datetime.fromisoformat(str(t)).replace(tzinfo=UTC).timestamp() - started_at for t in (first, last)
    )
    return {
        "workers": workers,
        "state": run["state_name"],
        "wall_s": round(wall, 1),
        "workers_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "peak_rss_mib": round(after.ru_maxrss / 1024),
        "peak_workers_total_mib": round(peak_total_mib),
        "requests": sent,
        "refused": refused,
        "refused_pct": round(100 * refused / sent, 2) if sent else None,
        "first_company_run_s": round(first_s, 1),
        "last_company_run_end_s": round(last_s, 1),
        **timeline,
        "companies_loaded": len(per_company),
        "orders_loaded": sum(per_company.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--orders-per-company", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--prefect-database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--worker-limit", type=int, help="flow runs a worker runs at once (default: no limit)")
    parser.add_argument("--rate-limit", type=float, default=0, help="requests a second the sandbox accepts (0: none)")
    parser.add_argument("--rate-limit-mode", choices=["fixed", "sliding", "bucket"], default="sliding")
    parser.add_argument("--json", type=Path)
    options = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        logs = Path(scratch)
        served = sandbox(
            options.companies,
            options.orders_per_company,
            options.latency_ms,
            logs,
            options.rate_limit,
            options.rate_limit_mode,
        )
        with served as base_url:
            for workers in options.workers:
                work = logs / f"workers-{workers}"
                work.mkdir()
                with prefect_database(options.prefect_database, work) as database_url:
                    result = run_once(base_url, workers, work, database_url, options.worker_limit)
                result |= {"prefect_database": options.prefect_database, "worker_limit": options.worker_limit}
                if options.rate_limit:  # the least time the limit allows for the requests answered
                    floor = (result["requests"] - result["refused"]) / options.rate_limit
                    result |= {"floor_s": round(floor, 1), "wall_over_floor": round(result["wall_s"] / floor, 3)}
                print(json.dumps(result), flush=True)
                results.append(result)
                shutil.rmtree(work / "landing", ignore_errors=True)
    summary = {"companies": options.companies, "orders_per_company": options.orders_per_company, "runs": results}
    summary["latency_ms"] = options.latency_ms
    if options.json:
        options.json.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
