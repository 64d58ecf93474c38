"""The flows and the CLI, end to end against the sandbox and an SQLite warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tests.flows.prefect_harness import prefect_harness
from tests.tasks.sync_helpers import SEED_START

runner = CliRunner()
# The Prefect tests run one after the other on one pytest-xdist worker (`make test`: --dist loadgroup): two
# temporary Prefect servers at once on a 2-core machine time out starting.
pytestmark = pytest.mark.xdist_group("prefect")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=8, orders=600, seed_start=SEED_START)) as running:
        yield running


@pytest.fixture
def billit_env(server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    monkeypatch.setenv("BILLIT_BASE_URL", server.base_url)
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps tables to the terminal width
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    return url


def _orders(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        count = connection.execute(sa.text("select count(*) from invoices")).scalar_one()
    engine.dispose()
    return int(count)


def test_the_flow_that_runs_both_streams_loads_the_warehouse_and_reports(
    server: SandboxServer, billit_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import get_client
    from prefect.blocks.system import Secret
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, TaskRunFilter
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.sync import billit_to_warehouse

    with prefect_harness():
        summaries = billit_to_warehouse()
        assert [summary["stream"] for summary in summaries] == ["incoming", "sales"]
        assert all(summary["status"] == "succeeded" for summary in summaries)
        assert _orders(billit_env) == len(server.sandbox.company_orders(PARTY_ID))
        assert any(Path("landing").rglob("part-*.parquet"))
        with get_client(sync_client=True) as client:
            # Every filter spelled out: this server refuses explicit nulls for them.
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["billit-sync-summary"])),
                flow_run_filter=FlowRunFilter(),
                task_run_filter=TaskRunFilter(),
                sort=ArtifactSort.CREATED_DESC,
                limit=5,
                offset=0,
            )
        assert artifacts and "orders_new" in str(artifacts[0].data)
        assert API_KEY not in str([artifact.data for artifact in artifacts])

        # On a Prefect server the API key may live in a Secret block instead of the environment.
        from connectors.billit import SettingsError
        from tasks.runtime import billit_settings

        monkeypatch.delenv("BILLIT_API_KEY")
        # Found from the outside: without either, the message named only the environment variables.
        with pytest.raises(SettingsError, match="nor is there a Prefect Secret block 'billit-api-key' on PREFECT_API"):
            billit_settings()
        Secret(value=f"{API_KEY}\n").save("billit-api-key")  # a secret store's trailing newline
        quiet = billit_to_warehouse()
        assert [summary["requests"] for summary in quiet] == [2, 2]

        Secret(value="sandbox-clé").save("billit-api-key", overwrite=True)
        with pytest.raises(SettingsError, match="the API key in the Prefect Secret block 'billit-api-key'") as bad:
            billit_settings()
        assert "clé" not in str(bad.value)


def test_the_cli_syncs_without_prefect_and_shows_the_status(server: SandboxServer, billit_env: str) -> None:
    result = runner.invoke(app, ["sync", "all", "--no-prefect"])
    assert result.exit_code == 0, result.output
    assert _orders(billit_env) == len(server.sandbox.company_orders(PARTY_ID))

    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0 and "Watermarks" in result.output and "sales" in result.output

    result = runner.invoke(app, ["replay", "landing"])
    assert result.exit_code == 0, result.output

    # Found by a newcomer: the replay's runs, with 0 requests and 0 new orders, read like quiet scheduled runs.
    from tasks.runtime import warehouse_engine
    from tasks.status import warehouse_status

    modes = [run["mode"] for run in warehouse_status(warehouse_engine())["Last runs"]]
    assert modes[:2] == ["replay", "replay"] and modes[2:4] == ["incremental", "incremental"]


def test_the_cli_names_the_missing_setting_and_exits_non_zero(billit_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLIT_PARTY_ID")
    result = runner.invoke(app, ["sync", "incoming", "--no-prefect"])
    assert result.exit_code == 2 and "BILLIT_PARTY_ID" in result.output


def test_the_cli_rejects_an_empty_backfill_window(billit_env: str) -> None:
    result = runner.invoke(app, ["backfill", "--since", "2026-02-01", "--until", "2026-01-01", "--no-prefect"])
    assert result.exit_code != 0 and "--until" in result.output


def test_a_wrong_api_key_is_a_clear_error_with_a_non_zero_exit(
    billit_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLIT_API_KEY", "not-the-key")
    result = runner.invoke(app, ["sync", "sales", "--no-prefect"])
    assert result.exit_code == 1 and "Billit:" in result.output and "401" in result.output
    assert "not-the-key" not in result.output and "Traceback" not in result.output


def test_the_cli_push_dry_run_reports_and_the_real_push_creates(server: SandboxServer, billit_env: str) -> None:
    from connectors.warehouse import create_warehouse_engine, reflect_tables, upgrade, upsert_rows
    from tests.tasks.test_push import outbound

    engine = create_warehouse_engine(billit_env)
    upgrade(engine)
    items = [outbound(f"cli-{n}") for n in range(3)] + [outbound("cli-bad", customer_name=None)]
    tables = reflect_tables(engine)
    with engine.begin() as connection:
        upsert_rows(connection, tables["outbound_invoices"], [row for row, _ in items], ["external_id"])
        upsert_rows(
            connection,
            tables["outbound_invoice_lines"],
            [line for _, lines in items for line in lines],
            ["external_id", "line_number"],
        )
    engine.dispose()

    dry = runner.invoke(app, ["push", "--dry-run", "--no-prefect"])
    assert dry.exit_code == 1 and "nothing sent" in dry.output and "LocalValidation" in dry.output

    real = runner.invoke(app, ["push", "--no-prefect"])
    assert real.exit_code == 1, real.output  # one row is rejected: non-zero exit, the others are created
    assert "created" in real.output and "LocalValidation" in real.output

    again = runner.invoke(app, ["push", "--no-prefect"])
    assert again.exit_code == 0, again.output


def test_the_sample_csv_files_load_and_a_dry_run_finds_the_row_with_a_bad_vat_number(billit_env: str) -> None:
    samples = Path(__file__).resolve().parents[2] / "samples"
    result = runner.invoke(
        app, ["load-outbound", str(samples / "outbound_invoices.csv"), str(samples / "outbound_invoice_lines.csv")]
    )
    assert result.exit_code == 0 and "5 invoices and 8 lines" in result.output
    again = runner.invoke(
        app, ["load-outbound", str(samples / "outbound_invoices.csv"), str(samples / "outbound_invoice_lines.csv")]
    )
    assert again.exit_code == 0

    dry = runner.invoke(app, ["push", "--dry-run", "--no-prefect"])
    assert dry.exit_code == 1 and "considered" in dry.output
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in dry.output.splitlines()
        if line.count("│") == 3
    }
    assert (rows["considered"], rows["would be created"], rows["rejected"]) == ("5", "4", "1")
    assert "created" not in rows  # nothing was: a dry run says what a push would do


@pytest.mark.parametrize(
    ("order_date", "said"),
    [
        ("11/31/2026", "invoices.csv:2: column order_date"),
        # Found by a newcomer: rich turned a bad cell `:x:` into an emoji in the message that quotes it.
        (":x:", "cannot read ':x:'"),
    ],
)
def test_a_csv_cell_that_cannot_be_read_is_quoted_as_written_with_its_file_line_and_column(
    billit_env: str, tmp_path: Path, order_date: str, said: str
) -> None:
    invoices = tmp_path / "invoices.csv"
    invoices.write_text(f"external_id,order_date\nx-1,{order_date}\n")
    lines = tmp_path / "lines.csv"
    lines.write_text("external_id,line_number\n")
    result = runner.invoke(app, ["load-outbound", str(invoices), str(lines)])
    assert result.exit_code == 2 and said in result.output.replace("\n", ""), result.output
