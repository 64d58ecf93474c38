"""End to end on a real Prefect server: deploy from prefect.yaml, a process worker, a fan-out backfill run by hand.

The test does what docs/operations.md tells an operator to do, with the same commands: `prefect server start`,
`prefect work-pool create billit-process --type process`, `prefect gcl create billit-api --limit 16`,
`prefect deploy --name ...` from the repository root, `prefect worker start --pool billit-process --limit 4` with
the Billit and warehouse settings in its environment, then `prefect deployment run 'billit-backfill/backfill'
--param ...`.
The Billit sandbox runs in this process; the warehouse is an SQLite file in tmp_path. The server keeps its state in
a PostgreSQL database of its own (`prefect_database`), as docs/operations.md advises with workers.

Only the two unscheduled deployments are deployed, so no scheduled run can interfere. `backfill-slice` is
deployed with `--param landing_dir=<tmp_path>/landing`: the flow runs work in the repository root (the
`set_working_directory` pull step `prefect deploy` records when prefect.yaml has none), and the default
`landing` directory would put Parquet files into the checkout.

A second test deploys the four scheduled deployments, without a worker, and checks that the server's scheduler
creates their runs at the cron times of prefect.yaml in Europe/Brussels; its server runs on SQLite, the default.

Every process started here runs in its own process group, and the whole group is stopped at teardown, also when
the test fails; their logs are printed then. A process worker starts each flow run in a session of its own, outside
its group: what is left of the test's processes after that, found by the PREFECT_HOME they were given, is stopped
too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
import yaml

from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.tasks.sync_helpers import SEED_START

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
POOL = "billit-process"
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
SERVER_START_TIMEOUT_S = 150  # ~8 s warm, ~18 s on the first start of a machine, more beside another server
CLI_TIMEOUT_S = 90
RUN_TIMEOUT_S = 240
SCHEDULER_TIMEOUT_S = 60
DEPLOYMENTS = {
    deployment["name"]: deployment for deployment in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
}
SCHEDULED = [name for name, deployment in DEPLOYMENTS.items() if deployment.get("schedules")]
# Prefect 3.8.8's scheduler service inserts its runs with an ORM bulk insert that SQLAlchemy 2.1 rejects
# ("Can't evaluate bulk DML statement; please supply a bulk_dml decorated function"): no scheduled run is ever
# created. With SQLAlchemy 2.0.x the same server schedules them.

# The tests that start their own `prefect server start` (these and tests/flows/test_companies_prefect.py) run one
# after the other on one pytest-xdist worker (`make test`: --dist loadgroup), and those using Prefect's temporary
# server (group "prefect") on another: together they were the suite's longest path (~15 min on a busy 2-core
# machine). Two of these servers starting at once on a loaded machine have taken over a minute.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect-servers")]


class SchedulerFailed(AssertionError):
    """The Prefect server's log shows its scheduler service failing."""


@dataclass
class Processes:
    """Background processes and CLI calls of one test, with their logs; `stop_all` ends every process group."""

    directory: Path
    background: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    homes: set[str] = field(default_factory=set)  # the PREFECT_HOME of each process started, to find their children

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
        if "PREFECT_HOME" in env:
            self.homes.add(env["PREFECT_HOME"])
        log = self.directory / f"{name}.log"
        self.logs.append(log)
        with log.open("wb") as output:
            process = subprocess.Popen(
                args,
                env=env,
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.background.append((name, process))
        return process

    def run(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
        log = self.directory / f"{name}.log"
        self.logs.append(log)
        result = subprocess.run(
            args, env=env, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
        log.write_text(f"$ {' '.join(args)}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def stop_all(self) -> None:
        for _, process in reversed(self.background):  # the worker before the server it talks to
            _stop_group(process)
        # A failed test's flow runs still running: each in a session of its own, perhaps orphaned by its worker.
        _stop_all(_processes_with(self.homes))

    def dump(self) -> None:
        for log in self.logs:
            text = log.read_text(errors="replace") if log.exists() else "(no output)"
            print(f"\n===== {log.name} (last 200 lines) =====\n" + "\n".join(text.splitlines()[-200:]))


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL what is left after 15 s (also the children of an exited leader)."""
    if _signal_group(process.pid, signal.SIGTERM):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _signal_group(process.pid, 0):
            process.poll()  # reap the leader, or the group never looks empty
            time.sleep(0.2)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait(timeout=15)


def _signal_group(pgid: int, signum: int) -> bool:
    """Send `signum` to the process group; False when no process of it is left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _processes_with(homes: set[str]) -> list[int]:
    """The processes whose environment holds one of these PREFECT_HOME values (this test's, and their children)."""
    wanted = {f"PREFECT_HOME={home}".encode() for home in homes}
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                environment = Path(entry.path, "environ").read_bytes().split(b"\0")
            except OSError:  # gone, or not ours
                continue
            if wanted.intersection(environment):
                found.append(int(entry.name))
    return found


def _stop_all(pids: list[int]) -> None:
    """SIGTERM these processes, SIGKILL those left after 15 s."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + 15
        while signum == signal.SIGTERM and time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def processes(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Processes]:
    failed_before = request.session.testsfailed
    running = Processes(tmp_path / "logs")
    running.directory.mkdir()
    try:
        yield running
    finally:
        running.stop_all()
        if request.session.testsfailed > failed_before:
            running.dump()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _base_env(prefect_home: Path) -> dict[str, str]:
    """The test's environment without anybody's Prefect, Billit or warehouse settings, plus an isolated home."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PREFECT_", "BILLIT_")) and name != "WAREHOUSE_URL"
    }
    env.update(
        PREFECT_HOME=str(prefect_home),
        DO_NOT_TRACK="1",  # client-side analytics
        PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS="false",
        COLUMNS="200",  # rich wraps CLI output to the terminal width
        PYTHONUNBUFFERED="1",  # logs reach their files as they are written
        # A test server on SQLite answers 503 while another writer holds it; a loaded CI machine can hold it past
        # the client's default 5 retries (a production server runs on PostgreSQL: `prefect_database`).
        PREFECT_CLIENT_MAX_RETRIES="12",
    )
    return env


class _AskAgainWhenBusy(httpx.HTTPTransport):
    """The test's own API calls (reads, and deletes of deployments) retry the SQLite-backed server's 503s, as
    Prefect's client does for the CLI, and a keep-alive connection the server closed as the request left (uvicorn
    closes one idle for 5 s; polled every second on a loaded machine, the two crossed in a CI run)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(12):
            try:
                response = super().handle_request(request)
            except httpx.RemoteProtocolError:  # "Server disconnected without sending a response."
                if attempt == 11:
                    raise
                continue
            if response.status_code != 503:
                return response
            response.close()
            time.sleep(min(0.2 * 2**attempt, 3.0))
        return response


def _api(api_url: str, timeout: float) -> httpx.Client:
    return httpx.Client(base_url=api_url, timeout=timeout, transport=_AskAgainWhenBusy())


def _start_server(
    processes: Processes, env: dict[str, str], tmp_path: Path, database_url: str | None = None
) -> tuple[str, Path]:
    """`prefect server start` on a free loopback port with its own database (`database_url`, else an SQLite file);
    the API URL and the log."""
    server_env = env | {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url or f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    for attempt in range(3):  # a free port can be taken between the probe and the server's bind
        port = _free_port()
        server = processes.start(
            f"server-{attempt}",
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
            server_env,
            tmp_path,
        )
        api_url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    return api_url, processes.logs[-1]
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        if server.poll() is None:
            pytest.fail(f"the Prefect server did not answer {api_url}/health within {SERVER_START_TIMEOUT_S} s")
    pytest.fail("the Prefect server exited during startup three times")


@pytest.fixture
def prefect_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for a Prefect server, as docs/operations.md advises with workers: on SQLite, a
    server busy with two workers' flow runs had a query wait a minute for the write lock, twice in one run of the
    fan-out over 20 companies."""
    name = f"prefect_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        yield sa.make_url(postgres_url).set(drivername="postgresql+asyncpg", database=name).render_as_string(False)
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        admin.dispose()


def _prefect(processes: Processes, name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = processes.run(name, [PREFECT, *args], env, ROOT)
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _deploy(processes: Processes, env: dict[str, str], name: str, *options: str) -> None:
    """`prefect deploy --name <name>` from the repository root, reading prefect.yaml."""
    _prefect(processes, f"deploy-{name}", env, "--no-prompt", "deploy", "--name", name, *options)


def _window(sandbox: Sandbox, orders: int) -> tuple[datetime, datetime]:
    """Whole-minute bounds around `orders` consecutive LastModified values of the company, a third of the way in."""
    stamps = sorted(order["LastModified"] for order in sandbox.company_orders(PARTY_ID).values())
    first = len(stamps) // 3
    since = stamps[first].replace(second=0, microsecond=0)
    until = stamps[first + orders].replace(second=0, microsecond=0) + timedelta(minutes=1)
    return since, until


def _worker_env(env: dict[str, str], billit: SandboxServer, warehouse: Path) -> dict[str, str]:
    """A worker's environment: the sandbox's Billit settings and the SQLite warehouse."""
    return env | {
        "BILLIT_BASE_URL": billit.base_url,
        "BILLIT_API_KEY": API_KEY,
        "BILLIT_PARTY_ID": str(PARTY_ID),
        "WAREHOUSE_URL": f"sqlite:///{warehouse}",
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # default 10 s: poll faster so the test is not mostly waiting
    }


def _wait_for_final(api: httpx.Client, flow_run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        flow_run = api.get(f"/flow_runs/{flow_run_id}").raise_for_status().json()
        if flow_run["state_type"] in FINAL_STATES:
            return dict(flow_run)
        if time.monotonic() > deadline:
            pytest.fail(f"flow run {flow_run_id} is still {flow_run['state_name']} after {RUN_TIMEOUT_S} s")
        time.sleep(1)


@pytest.mark.postgres
def _backfill_books(warehouse: Path) -> tuple[dict[int, str], list[Any], list[Any]]:
    """The warehouse's invoices (order id -> direction), watermarks set and sync runs."""
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    try:
        with engine.connect() as connection:
            loaded: dict[int, str] = dict(connection.execute(sa.text("select order_id, direction from invoices")).all())
            watermarks = connection.execute(
                sa.text(
                    "select stream, watermark_raw from sync_state where watermark_raw is not null"
                    " or watermark_last_modified is not null or watermark_order_id is not null"
                )
            ).all()
            sync_runs = connection.execute(sa.text("select stream, mode, status, flow_run_id from sync_runs")).all()
    finally:
        engine.dispose()
    return loaded, list(watermarks), list(sync_runs)


def test_a_backfill_run_by_hand_fans_out_on_a_prefect_server_and_loads_exactly_its_window(
    tmp_path: Path, prefect_database: str, processes: Processes
) -> None:
    env = _base_env(tmp_path / "prefect-home")
    api_url, _ = _start_server(processes, env, tmp_path, prefect_database)
    env["PREFECT_API_URL"] = api_url

    with SandboxServer(Sandbox(seed=11, orders=1500, seed_start=SEED_START)) as billit:
        since, until = _window(billit.sandbox, orders=300)
        expected = {
            order_id: order["OrderDirection"]
            for order_id, order in billit.sandbox.company_orders(PARTY_ID).items()
            if since <= order["LastModified"] < until
        }
        warehouse = tmp_path / "warehouse.sqlite"
        landing = tmp_path / "landing"

        _prefect(processes, "work-pool", env, "work-pool", "create", POOL, "--type", "process")
        _prefect(processes, "gcl", env, "gcl", "create", "billit-api", "--limit", "16")
        _deploy(processes, env, "backfill")
        _deploy(processes, env, "backfill-slice", "--param", f"landing_dir={landing}")

        worker_env = _worker_env(env, billit, warehouse)
        processes.start("worker", [PREFECT, "worker", "start", "--pool", POOL, "--limit", "4"], worker_env, tmp_path)

        started = _prefect(
            processes,
            "deployment-run",
            env,
            "deployment",
            "run",
            "billit-backfill/backfill",
            "--param",
            f"since={since.isoformat()}",
            "--param",
            f"until={until.isoformat()}",
            "--param",
            "slices=2",
        )
        match = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)
        assert match, started.stdout

        with _api(api_url, timeout=10) as api:
            slice_deployment = api.get("/deployments/name/billit-to-warehouse/backfill-slice").raise_for_status()
            assert slice_deployment.json()["global_concurrency_limit"]["limit"] == 4  # concurrency_limit: 4
            parent = _wait_for_final(api, match.group(1))
            runs = api.post("/flow_runs/filter", json={"limit": 50}).raise_for_status().json()
            gcl = api.get("/v2/concurrency_limits/billit-api").raise_for_status().json()
            snapshot = _backfill_books(warehouse)

            # A company the key does not reach (a typo, or access revoked since a deployment named it) gets no
            # slice, and the backfill fails naming it once the others' slices are done (a review found a slice run
            # started for it, only to fail without the reason).
            unreached = _prefect(
                processes,
                "deployment-run-unreached",
                env,
                *("deployment", "run", "billit-backfill/backfill"),
                *("--param", f"since={since.isoformat()}", "--param", f"until={until.isoformat()}"),
                *("--param", "slices=1", "--param", f"companies=[{PARTY_ID}, 999]"),
            )
            unreached_id = re.search(r"UUID: ([0-9a-f-]{36})", unreached.stdout)
            assert unreached_id, unreached.stdout
            second = _wait_for_final(api, unreached_id.group(1))
            after = api.post("/flow_runs/filter", json={"limit": 50}).raise_for_status().json()

    assert second["state_type"] == "FAILED"
    assert "999 (the API key does not reach this company" in second["state"]["message"]
    second_slices = [run for run in after if run["id"] not in {r["id"] for r in runs} | {second["id"]}]
    assert [run["parameters"]["companies"] for run in second_slices] == [[PARTY_ID]]
    assert parent["state_type"] == "COMPLETED", f"{parent['state_name']}: {parent['state']['message']}"
    assert parent["parameters"] == {"since": since.isoformat(), "until": until.isoformat(), "slices": 2}
    slices = sorted((run for run in runs if run["id"] != parent["id"]), key=lambda run: run["parameters"]["since"])
    assert len(runs) == 3 and len(slices) == 2, json.dumps(runs, indent=1)  # no scheduled run crept in
    assert all(run["deployment_id"] == slice_deployment.json()["id"] for run in slices)
    assert [run["state_type"] for run in slices] == ["COMPLETED", "COMPLETED"]
    assert [run["parameters"]["companies"] for run in slices] == [[PARTY_ID], [PARTY_ID]]  # default: the configured
    bounds = [
        (datetime.fromisoformat(run["parameters"]["since"]), datetime.fromisoformat(run["parameters"]["until"]))
        for run in slices
    ]
    assert bounds[0][0] == since and bounds[0][1] == bounds[1][0] and bounds[1][1] == until
    assert gcl["active_slots"] == 0  # every Billit-calling task gave its slots back

    loaded, watermarks, sync_runs = snapshot
    assert 150 <= len(expected) <= 450 and set(expected.values()) == {"Cost", "Income"}
    assert not set(expected) - set(loaded), f"orders of the window not loaded: {sorted(set(expected) - set(loaded))}"
    assert not set(loaded) - set(expected), f"orders outside the window loaded: {sorted(set(loaded) - set(expected))}"
    assert loaded == expected
    assert watermarks == []  # a backfill never moves a watermark
    assert sorted((run.stream, run.mode, run.status) for run in sync_runs) == [
        ("incoming", "backfill", "succeeded"),
        ("incoming", "backfill", "succeeded"),
        ("sales", "backfill", "succeeded"),
        ("sales", "backfill", "succeeded"),
    ]
    assert {run.flow_run_id for run in sync_runs} == {run["id"] for run in slices}
    assert any(landing.rglob("part-*.parquet"))


def _cron_matches(cron: str, moment: datetime) -> bool:
    """Whether `moment` (local time) is a firing time of a cron line whose day fields are all `*`."""
    minute, hour, *days = cron.split()
    assert days == ["*", "*", "*"], f"only minute and hour fields are checked here: {cron}"

    def matches(field: str, value: int) -> bool:
        if field == "*":
            return True
        if field.startswith("*/"):
            return value % int(field[2:]) == 0
        return value == int(field)

    return moment.second == 0 and matches(minute, moment.minute) and matches(hour, moment.hour)


def test_the_scheduled_deployments_get_runs_at_their_times_in_brussels(tmp_path: Path, processes: Processes) -> None:
    env = _base_env(tmp_path / "prefect-home")
    api_url, server_log = _start_server(processes, env, tmp_path)
    env["PREFECT_API_URL"] = api_url
    _prefect(processes, "work-pool", env, "work-pool", "create", POOL, "--type", "process")
    for name in SCHEDULED:  # no worker runs here: the scheduled runs stay scheduled
        _deploy(processes, env, name)

    with _api(api_url, timeout=10) as api:
        deployed = {
            deployment["name"]: deployment
            for deployment in api.post("/deployments/filter", json={"limit": 50}).raise_for_status().json()
        }
        assert sorted(deployed) == sorted(SCHEDULED)
        deadline = time.monotonic() + SCHEDULER_TIMEOUT_S
        while True:
            runs = (
                api.post(
                    "/flow_runs/filter",
                    json={
                        "limit": 200,
                        "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}},
                    },
                )
                .raise_for_status()
                .json()
            )
            scheduled = {
                deployment["name"]: [run for run in runs if run["deployment_id"] == deployment["id"]]
                for deployment in deployed.values()
            }
            if all(scheduled.values()):
                break
            log = server_log.read_text(errors="replace").splitlines()
            if any("ERROR" in line and "schedul" in line for line in log):
                raise SchedulerFailed("the Prefect scheduler failed:\n" + "\n".join(log[-25:]))
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no scheduled runs after {SCHEDULER_TIMEOUT_S} s for "
                    f"{[name for name, found in scheduled.items() if not found]}"
                )
            time.sleep(1)

    for name, deployment in deployed.items():
        declared = DEPLOYMENTS[name]
        [schedule] = declared["schedules"]
        assert [(item["schedule"]["cron"], item["schedule"]["timezone"]) for item in deployment["schedules"]] == [
            (schedule["cron"], "Europe/Brussels")
        ]
        assert deployment["global_concurrency_limit"]["limit"] == declared["concurrency_limit"] == 1
        assert deployment["parameters"] == declared["parameters"]
        brussels = ZoneInfo(schedule["timezone"])
        for run in scheduled[name]:
            local = datetime.fromisoformat(run["expected_start_time"]).astimezone(brussels)
            assert _cron_matches(schedule["cron"], local), f"{name}: {local} does not match {schedule['cron']}"


def _sync_runs(warehouse: Path) -> list[tuple[str, str, str | None]]:
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text("select stream, status, error from sync_runs"))]
    except sa.exc.OperationalError:  # not migrated yet
        return []
    finally:
        engine.dispose()


def _run_and_cancel(
    processes: Processes, env: dict[str, str], api_url: str, warehouse: Path, *run: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`prefect deployment run *run`, cancelled once two streams are loading; the run once final, and every flow run
    once no stream is left running."""
    started = _prefect(processes, "deployment-run", env, "deployment", "run", *run)
    match = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)
    assert match, started.stdout
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while sum(status == "running" for _, status, _ in _sync_runs(warehouse)) < 2:
        assert time.monotonic() < deadline, _sync_runs(warehouse)
        time.sleep(0.2)
    _prefect(processes, "cancel", env, "flow-run", "cancel", match.group(1))
    with _api(api_url, timeout=10) as api:
        cancelled = _wait_for_final(api, match.group(1))
        deadline = time.monotonic() + 120
        while any(status == "running" for _, status, _ in _sync_runs(warehouse)):  # the streams closing their runs
            assert time.monotonic() < deadline, _sync_runs(warehouse)
            time.sleep(0.5)
        return cancelled, api.post("/flow_runs/filter", json={"limit": 50}).raise_for_status().json()


def test_a_cancelled_sync_run_stops_its_streams_and_closes_their_runs(tmp_path: Path, processes: Processes) -> None:
    # Before: cancelling a flow run (`prefect flow-run cancel`, the UI's Cancel) raised in its main thread only; its
    # two streams, Prefect tasks in threads, loaded on to their end (or until the worker's SIGKILL), and their
    # sync_runs rows said succeeded, or stayed running for the next run to close as abandoned.
    env = _base_env(tmp_path / "prefect-home")
    api_url, _ = _start_server(processes, env, tmp_path)
    env["PREFECT_API_URL"] = api_url
    with SandboxServer(Sandbox(seed=11, orders=3000, seed_start=SEED_START)) as billit:
        billit.sandbox.injector.update({"latency_ms": 50})  # each stream lists and loads for ~10 s
        warehouse = tmp_path / "warehouse.sqlite"
        _prefect(processes, "work-pool", env, "work-pool", "create", POOL, "--type", "process")
        _deploy(processes, env, "backfill-slice", "--param", f"landing_dir={tmp_path / 'landing'}")
        worker_env = _worker_env(env, billit, warehouse)
        processes.start("worker", [PREFECT, "worker", "start", "--pool", POOL], worker_env, tmp_path)
        cancelled, _ = _run_and_cancel(processes, env, api_url, warehouse, "billit-to-warehouse/backfill-slice")
    assert cancelled["state_type"] == "CANCELLED"
    assert sorted(_sync_runs(warehouse)) == [
        ("incoming", "failed", "SyncStopped: stopped before its next batch: interrupted or cancelled"),
        ("sales", "failed", "SyncStopped: stopped before its next batch: interrupted or cancelled"),
    ]


@pytest.mark.parametrize(
    ("parent", "child"), [("companies", "company"), ("backfill", "backfill-slice")], ids=["fan-out", "backfill"]
)
def test_a_cancelled_parent_cancels_its_flow_runs_and_their_streams_stop(
    tmp_path: Path, processes: Processes, parent: str, child: str
) -> None:
    # Before: cancelling the fan-out over companies (or a backfill) left the flow runs it had started running to
    # their end, loading on (their sync_runs rows said succeeded): Prefect does not cancel the runs a parent started
    # with run_deployment when the parent is cancelled.
    env = _base_env(tmp_path / "prefect-home")
    api_url, _ = _start_server(processes, env, tmp_path)
    env["PREFECT_API_URL"] = api_url
    sandbox = Sandbox(seed=21, companies=3, orders_per_company=2000, seed_start=SEED_START)
    with SandboxServer(sandbox) as billit:
        # Each stream lists and loads for 10 s or more, so that none ends on its own before the cancel reaches it
        # (in CI, with 50 ms and two slices, a backfill's smallest stream did, and its run said succeeded).
        billit.sandbox.injector.update({"latency_ms": 100})
        warehouse = tmp_path / "warehouse.sqlite"
        _prefect(processes, "work-pool", env, "work-pool", "create", POOL, "--type", "process")
        _deploy(processes, env, parent)
        _deploy(processes, env, child, "--param", f"landing_dir={tmp_path / 'landing'}")
        worker_env = _worker_env(env, billit, warehouse)
        processes.start("worker", [PREFECT, "worker", "start", "--pool", POOL, "--limit", "4"], worker_env, tmp_path)
        if parent == "backfill":
            since, until = _window(sandbox, orders=1200)
            run = ["billit-backfill/backfill", "--param", f"since={since.isoformat()}"]
            run += ["--param", f"until={until.isoformat()}", "--param", "slices=1"]
        else:
            run = ["billit-companies/companies"]
        cancelled, runs = _run_and_cancel(processes, env, api_url, warehouse, *run)
    assert cancelled["state_type"] == "CANCELLED"
    children = [run for run in runs if run["id"] != cancelled["id"]]
    assert children and {run["state_type"] for run in children} <= {"CANCELLED", "CANCELLING"}, [
        (run["name"], run["state_name"]) for run in children
    ]
    assert {status for _, status, _ in _sync_runs(warehouse)} == {"failed"}, _sync_runs(warehouse)
