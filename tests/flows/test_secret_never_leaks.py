"""The real `billit-etl sync` command never prints or stores the API key, on success and on each operator mistake.

Each case runs the installed CLI in a subprocess, in its own temporary directory holding the SQLite warehouse,
the landing Parquet files and PREFECT_HOME (with `--prefect`, the temporary Prefect server's database lives
there). Afterwards stdout, stderr and every byte of every file under that directory are searched for the key.
The key comes with a trailing newline, as it does when read from a file or a secret store.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from sandbox.identity import PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.tasks.sync_helpers import SEED_START

# The Prefect tests run one after the other on one pytest-xdist worker (`make test`: --dist loadgroup): two
# temporary Prefect servers at once on a 2-core machine time out starting.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect")]

BILLIT_ETL = str(Path(sys.executable).with_name("billit-etl"))
COMPANY = PARTY_ID
KEY = "sk-LEAKCHECK-7f3a9"
WRONG_KEY = "sk-LEAKCHECK-wrong-0b1d4"
MARKER = b"LEAKCHECK"  # in every key used here, and in nothing else
CLI_TIMEOUT_S = 180  # `--prefect` starts a temporary Prefect server: ~15 s, more on a cold machine


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    directory: Path

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    sandbox = Sandbox(seed=5, orders=80, api_keys=(KEY,), delivery_delay_s=0.1, seed_start=SEED_START)
    with SandboxServer(sandbox) as running:
        yield running


class _EchoPage(BaseHTTPRequestHandler):
    """A web site that is not Billit, echoing the request headers into its HTML page (16 lines)."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        key = self.headers.get("ApiKey", "")
        lines = [
            "<!DOCTYPE html>",
            "<html>",
            "<head>",
            f"<title>Hello {key}</title>",
            "</head>",
            "<body>",
            "<h1>It works!</h1>",
            "<p>This is not the API you are looking for.</p>",
            "<pre>",
            *str(self.headers).strip().splitlines()[:6],
            "</pre>",
            "</body>",
            "</html>",
        ]
        page = "\n".join(lines[:16]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the signature of http.server
        pass


@pytest.fixture(scope="module")
def web_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def sync(directory: Path, *, base_url: str, api_key: str, prefect: bool = False) -> Run:
    directory.mkdir()
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("BILLIT_", "PREFECT_", "WAREHOUSE_"))
    }
    env |= {
        "BILLIT_BASE_URL": base_url,
        "BILLIT_PARTY_ID": str(COMPANY),
        "BILLIT_API_KEY": api_key,
        "BILLIT_MAX_RETRIES": "1",
        "BILLIT_BACKOFF_BASE_S": "0.01",
        "PREFECT_HOME": str(directory / "prefect_home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # `--prefect` starts a temporary server: a CI machine running the rest of the suite needed over 20 s.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "COLUMNS": "400",  # rich wraps at 80 columns without a terminal; one message must stay one line
    }
    args = [
        BILLIT_ETL,
        "sync",
        "all",
        "--warehouse-url",
        f"sqlite:///{directory / 'w.sqlite'}",
        "--landing-dir",
        str(directory / "landing"),
        "--prefect" if prefect else "--no-prefect",
    ]
    done = subprocess.run(args, env=env, cwd=directory, capture_output=True, timeout=CLI_TIMEOUT_S, check=False)
    return Run(
        done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"), directory
    )


def assert_no_key_anywhere(run: Run) -> None:
    """Not in the output, not in any file the run left behind (read as bytes), not in a decoded Parquet file."""
    assert MARKER.decode() not in run.output, run.output
    for path in (path for path in run.directory.rglob("*") if path.is_file()):
        assert MARKER not in path.read_bytes(), f"the key is in {path.relative_to(run.directory)}"
        if path.suffix == ".parquet":  # compressed pages would hide it from the byte search
            assert MARKER.decode() not in str(pq.read_table(path).to_pylist())


def sync_run_errors(run: Run) -> list[str | None]:
    engine = sa.create_engine(f"sqlite:///{run.directory / 'w.sqlite'}")
    with engine.connect() as connection:
        errors = connection.execute(sa.text("select error from sync_runs")).scalars().all()
    engine.dispose()
    return list(errors)


def one_line_with(run: Run, *phrases: str) -> str:
    """The single output line that carries the whole message."""
    lines = [line for line in run.output.splitlines() if all(phrase in line for phrase in phrases)]
    assert lines, run.output
    return lines[0]


def test_a_successful_sync_with_a_key_ending_in_a_newline_stores_and_prints_no_key(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = sync(tmp_path / "run", base_url=sandbox.base_url, api_key=f"{KEY}\n")
    assert run.returncode == 0, run.output
    assert sync_run_errors(run) == [None, None]
    assert list((run.directory / "landing").rglob("*.parquet"))
    assert_no_key_anywhere(run)


def test_a_wrong_key_is_one_line_about_the_401_and_stored_nowhere(sandbox: SandboxServer, tmp_path: Path) -> None:
    run = sync(tmp_path / "run", base_url=sandbox.base_url, api_key=f"{WRONG_KEY}\n")
    assert run.returncode != 0
    one_line_with(run, "HTTP 401", "check BILLIT_API_KEY")
    assert "Traceback" not in run.output
    errors = sync_run_errors(run)
    assert errors and all(error and "HTTP 401" in error for error in errors)
    assert_no_key_anywhere(run)


@pytest.mark.parametrize(
    "api_key",
    [f"{KEY}\u00e9\n", f"{KEY}\nsecond-line", f"{KEY}\x01"],
    ids=["non-ascii", "inner-newline", "control-character"],
)
def test_a_key_no_http_header_can_carry_is_refused_by_name_before_any_request(
    sandbox: SandboxServer, tmp_path: Path, api_key: str
) -> None:
    run = sync(tmp_path / "run", base_url=sandbox.base_url, api_key=api_key)
    assert run.returncode != 0
    one_line_with(run, "BILLIT_API_KEY: contains characters an HTTP header cannot carry")
    assert "Traceback" not in run.output
    assert_no_key_anywhere(run)


def test_a_web_site_at_the_base_url_echoing_the_key_is_described_in_one_line(web_site: str, tmp_path: Path) -> None:
    run = sync(tmp_path / "run", base_url=web_site, api_key=f"{KEY}\n")
    assert run.returncode != 0
    one_line_with(run, "an HTML page of", "not JSON: is BILLIT_BASE_URL a Billit API root?")
    assert "<pre>" not in run.output and "It works!" not in run.output
    assert "Traceback" not in run.output
    errors = sync_run_errors(run)
    assert errors and all(error and "not JSON" in error for error in errors)
    assert_no_key_anywhere(run)


def test_an_unreachable_base_url_is_one_line_and_stores_no_key(tmp_path: Path) -> None:
    run = sync(tmp_path / "run", base_url=closed_port_url(), api_key=f"{KEY}\n")
    assert run.returncode != 0
    one_line_with(run, "GET /v1/orders", "ConnectError")
    assert "Traceback" not in run.output
    errors = sync_run_errors(run)
    assert errors and all(error and "ConnectError" in error for error in errors)
    assert_no_key_anywhere(run)


def test_a_sync_run_as_a_prefect_flow_stores_no_key_in_prefects_database(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    run = sync(tmp_path / "run", base_url=sandbox.base_url, api_key=f"{KEY}\n", prefect=True)
    assert run.returncode == 0, run.output
    assert sync_run_errors(run) == [None, None]
    assert list((run.directory / "prefect_home").rglob("*.db")), "the temporary Prefect server kept no database"
    assert_no_key_anywhere(run)
