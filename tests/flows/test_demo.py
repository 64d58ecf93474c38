"""`billit-etl demo` (`--no-prefect`, a few orders): self-contained whatever BILLIT_* the operator has, true about
what it syncs, and its tables and closing hint readable and copyable at 80 columns."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.app import console
from cli.demo import DEMO_QUERY
from cli.main import app
from connectors.billit.ratelimit import forget_shared_limiters
from connectors.warehouse import create_warehouse_engine
from sandbox.identity import PARTY_ID, SECOND_PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tests.tasks.sync_helpers import SEED_START

runner = CliRunner()
OPERATOR_KEY = "operator-real-key"
OPERATOR_TOKEN = "operator-real-token"


@dataclass
class DemoRun:
    output: str
    exit_code: int
    directory: Path
    #: Requests the operator's "real Billit" received during the demo, per route.
    real_billit_requests: dict[str, dict[str, int]]


def _run_demo(directory: Path, *, operator_settings: bool) -> DemoRun:
    """The demo in `directory` at 80 columns; with `operator_settings`, BILLIT_* in the environment and in `.env`
    name the operator's own Billit (a stand-in that knows only their key and token)."""
    real_billit = Sandbox(api_keys=[OPERATOR_KEY], bearer_tokens=[OPERATOR_TOKEN], seed_start=SEED_START)
    with pytest.MonkeyPatch.context() as mp, SandboxServer(real_billit) as server:
        for name in list(os.environ):
            if name.startswith("BILLIT_") or name == "PREFECT_API_URL":
                mp.delenv(name)
        if operator_settings:
            mp.setenv("BILLIT_API_KEY", OPERATOR_KEY)
            mp.setenv("BILLIT_BASE_URL", server.base_url)
            mp.setenv("BILLIT_PARTY_ID", str(SECOND_PARTY_ID))
            (directory / ".env").write_text(
                f"BILLIT_BEARER_TOKEN={OPERATOR_TOKEN}\nBILLIT_CONTEXT_PARTY_ID=999999\nBILLIT_MAX_REQUESTS_PER_S=0.5\n"
            )
        mp.chdir(directory)
        mp.setattr(console, "width", 80)
        mp.setattr(tempfile, "tempdir", str(directory))  # the Billit rate limiters' shared state
        forget_shared_limiters()
        runtime._engine_for.cache_clear()  # the demo's SQLite URL is relative to the working directory
        try:
            result = runner.invoke(app, ["demo", "--orders", "40", "--no-prefect"])
        finally:
            runtime._engine_for.cache_clear()
            forget_shared_limiters()
        requests = server.sandbox.stats()["requests"]
    return DemoRun(result.output, result.exit_code, directory, requests)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    yield _run_demo(tmp_path_factory.mktemp("demo"), operator_settings=False)


def test_the_demo_uses_the_sandboxs_credentials_whatever_billit_settings_the_environment_and_env_hold(
    tmp_path: Path,
) -> None:
    # An API key and a company in the environment, a bearer token, a ContextPartyID and a rate in .env: none of
    # them reaches the demo's sandbox (it knows only its own key: the demo would fail), and nothing reaches the
    # operator's Billit.
    run = _run_demo(tmp_path, operator_settings=True)
    assert run.exit_code == 0, run.output
    assert "invalid Billit settings" not in run.output
    assert run.real_billit_requests == {}
    assert os.environ.get("BILLIT_API_KEY") is None  # nothing written to the environment


def test_the_demo_says_which_company_it_syncs_and_syncs_only_that_one(demo_run: DemoRun) -> None:
    assert demo_run.exit_code == 0, demo_run.output
    assert "two companies" not in demo_run.output
    text = " ".join(demo_run.output.split())
    assert f"the demo syncs company {PARTY_ID} (36 orders), not company {SECOND_PARTY_ID} (4 orders)" in text
    engine = create_warehouse_engine(f"sqlite:///{demo_run.directory / 'data' / 'demo.sqlite'}")
    try:
        with engine.connect() as connection:
            companies = connection.execute(sa.text("select distinct company_id from invoices")).scalars().all()
    finally:
        engine.dispose()
    assert companies == [PARTY_ID]


def test_the_demos_closing_hint_prints_each_command_whole_on_its_own_line_at_80_columns(demo_run: DemoRun) -> None:
    lines = [line.strip() for line in demo_run.output.splitlines()]
    assert f"sqlite3 data/demo.sqlite '{DEMO_QUERY}'" in lines
    [serve] = [line for line in lines if line.endswith(" server start")]
    [demo] = [line for line in lines if line.startswith("PREFECT_API_URL=http://127.0.0.1:4200/api ")]
    # Found by a newcomer's walk-through: `prefect` and `billit-etl` were printed bare, and the shell of someone who
    # ran `make demo` has no .venv/bin on its PATH. Each command now runs as printed from where the demo ran.
    for command, name in ((serve.split()[0], "prefect"), (demo.split()[1], "billit-etl")):
        assert Path(command).name == name and demo.endswith(" demo")
        runs = shutil.which(command) if "/" not in command else str(demo_run.directory / command)
        assert runs is not None and os.access(runs, os.X_OK), command


def test_the_demos_pushed_invoices_table_cuts_nothing_at_80_columns(demo_run: DemoRun) -> None:
    lines = demo_run.output.splitlines()
    start = next(i for i, line in enumerate(lines) if "outbound_invoices joined to invoices" in line)
    table = lines[start : start + 12]
    assert not any("…" in line for line in table), "\n".join(table)
    for expected in ("demo-2026-0001", "demo-2026-0005", "TheCustomerIsNotActiveOnPeppol", "LocalValidation"):
        assert any(expected in line for line in table), "\n".join(table)


def test_the_demos_prefect_option_says_what_the_demo_does_by_default() -> None:
    result = runner.invoke(app, ["demo", "--help"])
    text = " ".join(result.output.split())  # help wraps at any width
    assert result.exit_code == 0, result.output
    assert "when PREFECT_API_URL is set" not in text  # the shared option's default, not the demo's (True)
    assert "else on a temporary one the demo starts (--no-prefect: plain Python, no Prefect server)" in text
    assert "[default: prefect]" in text
