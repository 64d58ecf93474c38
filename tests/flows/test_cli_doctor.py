"""`billit-etl doctor` as an operator and a CI script meet it, against the bundled sandbox over real HTTP.

Refused credentials, or a company they do not reach, are one red line naming the cause and exit 1, not a table of
checks that "could not tell"; a check Billit did not answer (a 5xx) stays in the table as "could not tell", and the
run exits 1 all the same, since a CI job must not pass on answers never given. Without a company the line names
only what doctor takes. Three companies, the last with API access off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from sandbox.identity import API_KEY, PARTY_ID, SECOND_PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tests.flows.cli_helpers import one_line, requests_sent
from tests.tasks.sync_helpers import SEED_START

runner = CliRunner()
API_OFF = SECOND_PARTY_ID + 1  # the last of three companies has its API access off
WRONG_KEY = "wrong-secret-key-XYZ123"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=21, companies=3, orders_per_company=150, seed_start=SEED_START)) as running:
        yield running


@pytest.fixture(autouse=True)
def operator(server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings that reach the sandbox's first company, no warehouse, no retries (a 5xx is final at once)."""
    monkeypatch.setenv("BILLIT_BASE_URL", server.base_url)
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.setenv("BILLIT_MAX_RETRIES", "0")
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    yield
    server.sandbox.injector.update({"rate_5xx": 0.0})
    server.sandbox.quirks.merge({"api_off_status": 401})
    runtime._engine_for.cache_clear()


def test_doctor_with_a_key_billit_refuses_is_one_line_naming_the_key_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLIT_API_KEY", WRONG_KEY)
    line = one_line(runner.invoke(app, ["doctor"]), exit_code=1)
    assert "BILLIT_API_KEY" in line and "refused" in line, line
    assert "could not tell" not in line and WRONG_KEY not in line


def test_doctor_for_a_company_the_key_does_not_reach_names_the_company_and_exits_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLIT_PARTY_ID", "999999")
    line = one_line(runner.invoke(app, ["doctor"]), exit_code=1)
    assert "does not reach Billit company 999999" in line and "BILLIT_PARTY_ID" in line, line
    assert f"it reaches {PARTY_ID}, {SECOND_PARTY_ID}, {API_OFF}" in line


@pytest.mark.parametrize("status", [401, 403])
def test_doctor_for_a_company_with_api_access_off_says_so_rather_than_blame_the_key(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    server.sandbox.quirks.merge({"api_off_status": status})
    monkeypatch.setenv("BILLIT_PARTY_ID", str(API_OFF))
    line = one_line(runner.invoke(app, ["doctor"]), exit_code=1)
    assert f"company {API_OFF}" in line and "API access is off" in line, line


def test_doctor_for_a_company_whose_api_flag_gates_nothing_runs_its_checks(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.sandbox.quirks.merge({"api_off_status": 200})  # APIAllowed false, yet Billit answers for the company
    monkeypatch.setenv("BILLIT_PARTY_ID", str(API_OFF))
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0 and f"company {API_OFF}" in result.output, result.output
    # Found by a newcomer: a check made on data with nothing to go by read "could not tell", as an unanswered one.
    assert "could not tell" not in result.output and "nothing to go by" in result.output


def test_doctor_answering_every_check_prints_the_table_and_exits_0() -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert f"company {PARTY_ID}" in result.output and "Count = 150" in result.output


def test_doctor_keeps_could_not_tell_for_a_5xx_and_exits_1_since_checks_were_not_made(
    server: SandboxServer,
) -> None:
    server.sandbox.injector.update({"rate_5xx": 1.0})
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    rows = [line for line in result.output.splitlines() if "could not tell: GET" in line]
    assert len(rows) == 6 and all("rerun when Billit answers" in row for row in rows), result.output
    assert result.output.strip().splitlines()[-1] == "6 of 7 checks could not be made: their rows say why"


def test_doctor_without_a_company_names_only_options_doctor_has_before_any_request_or_warehouse(
    server: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BILLIT_PARTY_ID")
    warehouse = tmp_path / "warehouse.sqlite"
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{warehouse}")
    before = requests_sent(server)
    line = one_line(runner.invoke(app, ["doctor"]), exit_code=2)
    assert "BILLIT_PARTY_ID" in line and requests_sent(server) == before and not warehouse.exists()
    help_text = runner.invoke(app, ["doctor", "--help"]).output
    named = re.findall(r"(?<![\w-])--[a-z][a-z-]*", line)
    assert all(option in help_text for option in named), (named, line)


def test_doctor_where_nothing_answers_is_one_line_naming_the_base_url_not_seven_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each check used to wait out its own twenty retries (100 s) to report the same refused connection.
    monkeypatch.setenv("BILLIT_BASE_URL", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.delenv("BILLIT_MAX_RETRIES")
    monkeypatch.setenv("BILLIT_BACKOFF_BASE_S", "0.01")
    monkeypatch.setenv("BILLIT_BACKOFF_MAX_S", "0.02")
    line = one_line(runner.invoke(app, ["doctor"]), exit_code=1)
    assert "nothing answers at 127.0.0.1:9; check BILLIT_BASE_URL" in line, line
    assert "could not tell" not in line
