"""`billit-etl sandbox serve` from the operator's side: its mistakes are one red line and exit 2, before the banner."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _serve(*options: str, columns: str | None = "200") -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"} | {"NO_COLOR": "1"}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run(
        [sys.executable, "-c", "from cli.main import app; app()", "sandbox", "serve", "--orders", "10", *options],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


@pytest.fixture
def taken_port() -> Iterator[str]:
    """A port something else listens on: a command that wrongly went on to serve fails at once, not at a timeout."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield str(taken.getsockname()[1])


def _red_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "", result.stdout  # no banner: nothing listens
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_serve_on_a_port_in_use_is_one_red_line_without_the_banner() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _red_line(_serve("--port", str(port)))
    assert line == f"cannot listen on 127.0.0.1:{port}: the port is in use (choose another with --port)"


def test_serve_on_a_host_that_is_not_of_this_machine_is_one_red_line() -> None:
    line = _red_line(_serve("--host", "10.9.9.9", "--port", "19750"))
    assert line == "cannot listen on 10.9.9.9:19750: not an address of this machine (choose another with --host)"


def test_serve_on_a_host_name_that_does_not_resolve_is_one_red_line() -> None:
    line = _red_line(_serve("--host", "no-such-host.invalid", "--port", "19750"))
    assert (
        line
        == "cannot listen on no-such-host.invalid:19750: the host name does not resolve (choose another with --host)"
    )


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_serve_refuses_a_port_out_of_range_as_a_usage_error(port: str) -> None:
    result = _serve("--port", port)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert "Invalid value for '--port'" in result.stderr


def test_an_api_off_company_that_is_not_hosted_is_refused_naming_api_off_companies(taken_port: str) -> None:
    result = _serve("--port", taken_port, "--api-off-companies", "123")
    assert result.returncode == 2 and result.stdout == "", (result.stdout, result.stderr)
    assert "--api-off-companies: API access can only be switched off for a hosted company, not [123]" in result.stderr
    assert "--companies:" not in result.stderr


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--fault-429", "2"),
        ("--fault-429", "-1"),
        ("--fault-5xx", "7"),
        ("--fault-drop", "1.5"),
        ("--fault-post-commit-drop", "-0.1"),
        ("--webhook-drop-rate", "2"),
        ("--webhook-down-rate", "-1"),
        ("--webhook-duplicate-rate", "3"),
        ("--latency-ms", "-5"),
        ("--webhook-delay-ms", "-1"),
        ("--retry-after-s", "-1"),
        ("--delivery-delay-s", "-1"),
        ("--webhook-backoff-s", "-1"),
        ("--webhook-timeout-s", "-1"),
        ("--webhook-retries", "-1"),
        ("--modify-during-paging", "-1"),
    ],
)
def test_shares_outside_0_to_1_and_negative_delays_are_refused_before_serving(
    option: str, value: str, taken_port: str
) -> None:
    result = _serve("--port", taken_port, option, value)
    assert result.returncode == 2 and result.stdout == "", (result.stdout, result.stderr)
    assert f"Invalid value for '{option}'" in result.stderr and "Traceback" not in result.stderr


def test_the_orders_help_says_how_they_are_shared_out_as_the_sandbox_does() -> None:
    from typer.testing import CliRunner

    from cli.main import app
    from sandbox.store import Sandbox
    from tests.tasks.sync_helpers import SEED_START

    text = " ".join(CliRunner().invoke(app, ["sandbox", "serve", "--help"]).output.split())
    assert "most for the first company, a tenth for each other" not in text
    assert (
        "nine tenths for the first company (all, when it is the only one) and a tenth for every other, so each "
        "company past the second adds a tenth more" in text
    )
    per_company = {}
    for companies in (1, 2, 5):
        sandbox = Sandbox(orders=100, companies=companies, seed_start=SEED_START)
        per_company[companies] = [len(sandbox.company_orders(party)) for party in sorted(sandbox.own_companies)]
    assert per_company == {1: [100], 2: [90, 10], 5: [90, 10, 10, 10, 10]}  # what the help says


def _free_port() -> int:
    """A free port of 19751-19799 (a fixed range, away from the ephemeral ports other tests bind)."""
    for port in range(19751, 19800):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 19751-19799")


def test_the_banner_written_to_a_log_file_is_one_line_with_its_urls_whole(tmp_path: Path) -> None:
    # Found from the outside: `sandbox serve > log` wrapped the banner mid-URL at 160 columns.
    port = _free_port()
    log = tmp_path / "log"
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"} | {"NO_COLOR": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from cli.main import app; app()", "sandbox", "serve", "--orders", "10",
             "--port", str(port)],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while "deliveries" not in log.read_text():
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "no banner"
                time.sleep(0.1)
        finally:
            process.terminate()
            process.wait(10)
    [banner] = log.read_text().splitlines()
    assert banner.startswith(f"Billit sandbox on http://127.0.0.1:{port} — 10 orders"), banner
    assert banner.endswith(f"webhook deliveries: GET http://127.0.0.1:{port}/_sandbox/webhooks/deliveries"), banner


def test_the_listening_socket_says_it_is_tcp_so_its_connections_answer_without_nagles_delay() -> None:
    # Found by bench/sync_all.py: binding the socket ourselves (for one red line on a port in use) made every
    # sandbox answer ~40 ms late (63 ms a request at 20 ms of latency): asyncio sets TCP_NODELAY only on the
    # connections of a socket whose protocol is IPPROTO_TCP, and a plain socket() says 0.
    from cli.app import listen

    listening = listen("127.0.0.1", 0)
    try:
        listening.listen()
        with socket.create_connection(listening.getsockname()[:2]):
            accepted, _ = listening.accept()
            with accepted:
                assert accepted.proto == socket.IPPROTO_TCP
    finally:
        listening.close()
