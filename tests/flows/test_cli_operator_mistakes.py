"""Every operator mistake ends with one line naming the problem and the fix, a non-zero exit and no traceback.

Options typer checks at the edge end in typer's usage panel (one `Invalid value` line in a box); everything else
ends in our one red line. The commands run in-process (CliRunner) with `--no-prefect`, except one run of the
installed `billit-etl` (nothing reaches stderr but the line) and one `--prefect` run whose settings mistake is
caught before a flow, and so the temporary Prefect server, could start.

Read-only cases hold for root too (tests often run as root, which writes through `chmod`): the read-only database
is opened with SQLite's `?mode=ro&uri=true`, and the unwritable directories lie under a regular *file*.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from cli.main import app
from cli.sync import print_summaries as _print_summaries
from connectors.warehouse import create_warehouse_engine
from connectors.warehouse.engine import URL_FORMS
from sandbox.identity import API_KEY, PARTY_ID
from tasks import runtime
from tasks.inbound.landing import LandingWriter
from tests.connectors.warehouse import migrated_sqlite_file
from tests.flows.cli_helpers import one_line
from tests.tasks.test_landing_rows import documented_orders, json_text

runner = CliRunner()
PASSWORD = "s3cret-pw"


@pytest.fixture(autouse=True)
def operator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Valid Billit settings (never called: each mistake stops the command first) and an SQLite warehouse."""
    monkeypatch.setenv("BILLIT_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.setenv("BILLIT_MAX_RETRIES", "0")
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    yield tmp_path
    runtime._engine_for.cache_clear()


def usage_error(result: Result) -> str:
    """Typer's usage panel: exit 2 and the one `Invalid value` line."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    [line] = [line for line in result.output.splitlines() if "Invalid value" in line]
    return line


@pytest.mark.parametrize("minutes", ["-1", "1e12", "nan"])
def test_a_negative_or_absurd_lookback_is_refused_at_the_edge(minutes: str) -> None:
    line = usage_error(runner.invoke(app, ["sync", "--lookback-minutes", minutes, "--no-prefect"]))
    assert "--lookback-minutes" in line


@pytest.mark.parametrize("limit", ["0", "-5"])
def test_push_refuses_a_limit_below_one(limit: str) -> None:
    assert "--limit" in usage_error(runner.invoke(app, ["push", "--limit", limit, "--no-prefect"]))


@pytest.mark.parametrize(("transport", "hint"), [("Email", "(e-mail is SMTP)"), ("Fax", "one of Peppol, SMTP")])
def test_push_refuses_a_transport_billit_does_not_send_by_before_creating_anything(transport: str, hint: str) -> None:
    # Found against an independent simulator: every row was created, then every send refused, run after run.
    line = one_line(runner.invoke(app, ["push", "--send", "--transport", transport, "--no-prefect"]))
    assert line.startswith(f"--transport {transport!r} is not one Billit sends by") and hint in line
    # Without --send the transport is not used, so it is not judged.
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["push", "--transport", transport, "--dry-run", "--no-prefect"]).exit_code == 0


@pytest.mark.parametrize("options", [[], ["--dry-run"], ["--send"]])
def test_a_push_from_a_warehouse_that_does_not_exist_is_refused_and_creates_nothing(
    operator: Path, options: list[str]
) -> None:
    """Found from the outside: a mistyped path made a new, empty warehouse, and the push said `considered 0`, exit
    0, run after run, while nothing went out."""
    mistyped = operator / "warehouse.sqlite3"
    line = one_line(runner.invoke(app, ["push", "--no-prefect", "--warehouse-url", f"sqlite:///{mistyped}", *options]))
    assert line == (
        f"no warehouse at {mistyped}: check --warehouse-url (a push reads the invoices to create from it: "
        "load-outbound fills it)"
    )
    assert not mistyped.exists()


def test_a_dry_push_on_a_database_that_is_not_an_up_to_date_warehouse_writes_nothing(operator: Path) -> None:
    """Found from the outside: `push --dry-run` ("send and write nothing") applied every migration to a database
    that was not a warehouse. A dry run now reads only, and asks for the upgrade as `status` does."""
    other = operator / "erp.sqlite"
    engine = create_warehouse_engine(f"sqlite:///{other}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE customers (id INTEGER)")
    line = one_line(runner.invoke(app, ["push", "--dry-run", "--no-prefect", "--warehouse-url", f"sqlite:///{other}"]))
    assert "not up to date" in line and "billit-etl db upgrade" in line
    assert sa.inspect(engine).get_table_names() == ["customers"]
    engine.dispose()


def test_a_sync_where_nothing_answers_stops_at_its_first_stream_in_one_line(operator: Path) -> None:
    """Found by a newcomer: every stream of `sync all` tried the address nothing answers at in turn, each with its
    own retry lines and red line; the next stream would get the same answer."""
    line = one_line(runner.invoke(app, ["sync", "all", "--no-prefect"]), exit_code=1)
    assert line.startswith("Billit: GET /v1/orders?") and "nothing answers at 127.0.0.1:1" in line


def test_billit_still_failing_after_the_retries_ends_with_what_to_do() -> None:
    from cli.app import _one_line
    from connectors.billit.errors import BillitServerError, BillitValidationError

    failing = BillitServerError(method="GET", url="/v1/orders", status=503)
    assert _one_line(failing)[0].endswith("run the command again later)") and _one_line(failing)[1] == 1
    refused = BillitValidationError(method="POST", url="/v1/orders", status=400)
    assert "again later" not in _one_line(refused)[0]


def test_a_transport_is_taken_in_billits_spelling() -> None:
    from tasks.outbound.run import PushOptions

    spelled = [PushOptions(send=True, transport=name).transport for name in ("smtp", " peppol ", "KSEF")]
    assert spelled == ["SMTP", "Peppol", "KSeF"]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (["--since", "1999-12-31"], "on or after 2000-01-01"),
        (["--since", "2999-01-01"], "in the future"),
    ],
)
def test_backfill_refuses_a_since_before_2000_or_in_the_future(window: list[str], expected: str) -> None:
    line = usage_error(runner.invoke(app, ["backfill", *window, "--no-prefect"]))
    assert expected in line


@pytest.mark.parametrize(
    "command",
    [
        ["sync", "--no-prefect"],
        ["backfill", "--since", "2026-01-01", "--no-prefect"],
        ["replay", "landing"],
        ["push", "--no-prefect"],
        ["load-outbound", "invoices.csv", "lines.csv"],
        ["status"],
        ["db", "upgrade"],
    ],
    ids=lambda command: command[0],
)
@pytest.mark.parametrize(
    "url",
    [
        "sqlite//x",
        "foo",
        f"postgres://admin:{PASSWORD}@db.example/x",
        f"postgresql+psycopg2://admin:{PASSWORD}@db.example/x",
    ],
)
def test_every_command_reports_a_malformed_warehouse_url_in_one_line_without_the_password(
    command: list[str], url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", url)
    line = one_line(runner.invoke(app, command))
    assert "WAREHOUSE_URL" in line and ("postgresql+psycopg://" in line)
    assert PASSWORD not in line


def test_the_demo_reports_a_malformed_warehouse_url_in_one_line() -> None:
    line = one_line(runner.invoke(app, ["demo", "--orders", "10", "--warehouse-url", "foo", "--no-prefect"]))
    assert line == f"--warehouse-url is not a database URL: expected {URL_FORMS}"


@pytest.mark.parametrize("command", [["status"], ["sync", "--no-prefect"], ["doctor"]])
def test_a_bad_warehouse_url_given_as_an_option_is_named_as_the_option_not_the_environment_variable(
    command: list[str],
) -> None:
    line = one_line(runner.invoke(app, [*command, "--warehouse-url", f"postgres://admin:{PASSWORD}@db.example/x"]))
    assert line.startswith("--warehouse-url postgres://admin:***@db.example/x names an unsupported database"), line
    assert "WAREHOUSE_URL" not in line and PASSWORD not in line


def test_an_empty_warehouse_url_option_falls_back_to_the_environment_and_the_error_names_that(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", "foo")
    line = one_line(runner.invoke(app, ["status", "--warehouse-url", ""]))
    assert line == f"WAREHOUSE_URL is not a database URL: expected {URL_FORMS}"


def test_an_unreachable_postgresql_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", f"postgresql+psycopg://postgres:{PASSWORD}@127.0.0.1:1/test")
    line = one_line(runner.invoke(app, ["sync", "--no-prefect"]))
    assert line == (
        "cannot reach the warehouse at postgresql+psycopg://postgres:***@127.0.0.1:1/test: "
        "connection refused (is PostgreSQL running? check WAREHOUSE_URL)"
    )


def test_a_read_only_sqlite_warehouse_is_reported_before_any_work(
    operator: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = migrated_sqlite_file(operator / "readonly.sqlite")
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///file:{database}?mode=ro&uri=true")
    line = one_line(runner.invoke(app, ["sync", "--no-prefect"]))
    assert line.startswith(f"the warehouse file {database} is read-only: ")
    engine = create_warehouse_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.execute(sa.text("select count(*) from sync_runs")).scalar_one() == 0
    engine.dispose()


def test_a_warehouse_file_whose_directory_cannot_be_created_is_one_line(
    operator: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (operator / "afile").write_text("a file where a directory should be")
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{operator / 'afile' / 'warehouse.sqlite'}")
    line = one_line(runner.invoke(app, ["db", "upgrade"]))
    assert line.startswith(f"cannot create the directory {operator / 'afile'}") and "WAREHOUSE_URL" in line


def test_a_landing_directory_that_cannot_be_written_names_it_and_landing_dir(operator: Path) -> None:
    (operator / "afile").write_text("a file where a directory should be")
    landing = operator / "afile" / "landing"
    line = one_line(runner.invoke(app, ["sync", "--landing-dir", str(landing), "--no-prefect"]))
    assert line.startswith(f"cannot write the landing directory {landing}: ") and "--landing-dir" in line


@pytest.mark.parametrize("path", ["", "  "])
def test_a_replay_of_an_empty_path_is_refused_not_taken_for_the_current_directory(operator: Path, path: str) -> None:
    """Found from the outside: `replay ''` (a script's unset variable) replayed every run landed under the current
    directory."""
    line = one_line(runner.invoke(app, ["replay", path]))
    assert line == "replay: the path is empty; give the landing directory (or `.` for this one)"
    assert not list(operator.glob("*.sqlite*"))


def test_a_replay_of_a_run_folder_that_does_not_exist_names_those_that_do(operator: Path) -> None:
    """Found by a newcomer: `replay 'landing/incoming/run=<run_id>'` said only that there was no such folder."""
    for run in ("run=20261201T0800Z-1", "run=20261202T0800Z-2"):
        (operator / "landing" / "incoming" / run).mkdir(parents=True)
    line = one_line(runner.invoke(app, ["replay", "landing/incoming/run=<run_id>"]))
    assert line == (
        "no landing data at landing/incoming/run=<run_id> (under landing/incoming: run=20261201T0800Z-1, "
        "run=20261202T0800Z-2)"
    )


def test_a_replay_that_refuses_a_run_ends_with_its_reason_in_red_and_exit_1(operator: Path) -> None:
    (operator / "landing" / "not-a-stream" / "run=20260101T000000").mkdir(parents=True)
    result = runner.invoke(app, ["replay", "landing"])
    assert result.exit_code == 1, result.output
    last = [line for line in result.output.splitlines() if line.strip()][-1]
    assert last.startswith("not-a-stream refused: ") and "not under a stream folder" in last


def test_a_replay_that_refuses_one_run_among_others_names_it_without_a_traceback(operator: Path) -> None:
    # Found from the outside: the refused run named no company while the other did, and the summary's company
    # column raised a KeyError (a traceback) before the reason was printed.
    [sale] = documented_orders()[:1]
    landing = operator / "landing"
    LandingWriter(landing, "sales", "r1", party_id=sale["CompanyID"]).write([sale], [json_text(sale)], None)
    (landing / "sales" / "run=broken").mkdir()
    (landing / "sales" / "run=broken" / "part-00001.parquet").write_text("not Parquet")
    result = runner.invoke(app, ["replay", "landing"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit | None), result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("sales refused: ") and "run=broken" in lines[-1] and "Parquet" in lines[-1]
    assert any(line.strip().startswith("sales: watermark") for line in lines), result.output  # the run loaded


def _tamper_with_an_applied_migration(database: Path) -> None:
    engine = create_warehouse_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(sa.text("update schema_migrations set checksum = 'edited' where version = '0001'"))
    engine.dispose()


def test_an_unexpected_error_is_one_line_with_its_type_and_the_debug_hint(operator: Path) -> None:
    _tamper_with_an_applied_migration(migrated_sqlite_file(operator / "warehouse.sqlite"))
    line = one_line(runner.invoke(app, ["db", "upgrade"]), exit_code=1)
    assert line.startswith("error: MigrationChecksumError: ")
    assert line.endswith("(run with --debug for the traceback)")
    assert len(line) <= len("error: MigrationChecksumError: ") + 300 + len(" (run with --debug for the traceback)")


@pytest.mark.parametrize("command", [["db", "upgrade"], ["sync", "--no-prefect"], ["replay", "landing"]])
def test_a_warehouse_upgraded_by_a_newer_version_is_said_in_one_line_exit_2(operator: Path, command: list[str]) -> None:
    # Found from the outside: "error: MigrationError: ... (run with --debug for the traceback)", exit 1, as for a bug.
    engine = create_warehouse_engine(f"sqlite:///{migrated_sqlite_file(operator / 'warehouse.sqlite')}")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "insert into schema_migrations (version, name, checksum, applied_at) "
                "values ('9999', '9999_future', 'x', '2026-12-06 00:00:00')"
            )
        )
    engine.dispose()
    (operator / "landing").mkdir()
    line = one_line(runner.invoke(app, command), exit_code=2)
    assert line.startswith("the warehouse has migration 9999_future, which this billit-pipelines does not have")
    assert line.endswith(
        "a newer version upgraded it (use that version or a newer one), or this install lacks the file"
    )


def test_debug_lets_the_traceback_through(operator: Path) -> None:
    from connectors.warehouse import MigrationChecksumError

    _tamper_with_an_applied_migration(migrated_sqlite_file(operator / "warehouse.sqlite"))
    result = runner.invoke(app, ["--debug", "db", "upgrade"])
    assert result.exit_code == 1 and isinstance(result.exception, MigrationChecksumError)
    assert result.exc_info is not None
    assert "Traceback" in "".join(traceback.format_exception(*result.exc_info))


def test_a_settings_mistake_with_prefect_is_caught_before_a_flow_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings

    monkeypatch.delenv("BILLIT_PARTY_ID")
    # No Prefect server, and a temporary one would fail to start in time: only a preflight in the CLI, before the
    # flow, can give the settings line and exit 2.
    with temporary_settings({PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 1}, restore_defaults={PREFECT_API_URL}):
        result = runner.invoke(app, ["sync", "--prefect"])
    line = one_line(result)
    assert "BILLIT_PARTY_ID" in line and line.endswith("(see .env.example)")


def test_the_summary_table_shows_pending_orders_and_zero_when_the_summary_has_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _print_summaries([{"stream": "sales", "orders_pending": 7}, {"stream": "incoming"}])
    lines = capsys.readouterr().out.splitlines()
    [header] = [line.split("┃") for line in lines if "┃" in line]
    column = [cell.strip() for cell in header].index("pending")
    assert [line.split("│")[column].strip() for line in lines if line.count("│") > 3] == ["7", "0"]


def test_the_installed_command_prints_no_traceback_on_stderr(operator: Path) -> None:
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("BILLIT_", "PREFECT_", "WAREHOUSE_"))
    }
    env.update(
        COLUMNS="200",
        BILLIT_API_KEY=API_KEY,
        BILLIT_PARTY_ID=str(PARTY_ID),
        WAREHOUSE_URL=f"postgres://admin:{PASSWORD}@db.example/x",
    )
    billit_etl = Path(sys.executable).parent / "billit-etl"
    done = subprocess.run(
        [str(billit_etl), "sync", "--no-prefect"], env=env, cwd=operator, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr + done.stdout
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        "WAREHOUSE_URL postgres://admin:***@db.example/x names an unsupported database 'postgres': "
        "write postgresql+psycopg:// instead of postgres://"
    ]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["sync", "--lookback-minutes", "-1"], "--lookback-minutes"),
        (["backfill", "--since", "31/12/2026"], "--since"),
        (["push", "--limit", "0"], "--limit"),
        (["sync", "nonsense"], "STREAM"),
    ],
)
def test_the_installed_command_reports_a_bad_option_in_one_line(
    operator: Path, arguments: list[str], words: str
) -> None:
    billit_etl = Path(sys.executable).parent / "billit-etl"
    done = subprocess.run(
        [str(billit_etl), *arguments, "--no-prefect"],
        cwd=operator,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and words in lines[0], done.stderr


def test_status_reads_a_read_only_warehouse_and_asks_for_an_upgrade_instead_of_migrating(operator: Path) -> None:
    database = migrated_sqlite_file(operator / "warehouse.sqlite")
    read_only = f"sqlite:///file:{database}?mode=ro&uri=true"
    result = runner.invoke(app, ["status", "--warehouse-url", read_only])
    assert result.exit_code == 0, result.output
    assert "Watermarks" in result.output and "Pending" in result.output

    fresh = operator / "fresh.sqlite"
    fresh.touch()  # an empty database: no tables yet
    line = one_line(runner.invoke(app, ["status", "--warehouse-url", f"sqlite:///{fresh}"]), exit_code=2)
    assert "not up to date" in line and "billit-etl db upgrade" in line
    engine = create_warehouse_engine(f"sqlite:///{fresh}")
    assert sa.inspect(engine).get_table_names() == []  # status created no table
    engine.dispose()


@pytest.mark.parametrize("since", ["2026-01-01T00:00:00+02:00", "2026-01-01T00:00:00Z"])
def test_a_backfill_window_with_an_offset_is_taken_in_billits_local_time(since: str) -> None:
    from tasks.options import billit_local

    result = runner.invoke(app, ["backfill", "--since", since, "--until", "2025-01-01", "--no-prefect"])
    assert result.exit_code == 2 and "Traceback" not in result.output and "--until" in result.output
    assert billit_local(datetime.fromisoformat(since.replace("Z", "+00:00"))).tzinfo is None


@pytest.mark.parametrize("command", [["status"], ["doctor"]])
def test_a_command_that_only_reads_never_creates_a_warehouse_at_a_mistyped_path(
    operator: Path, command: list[str]
) -> None:
    missing = operator / "typo" / "warehuose.sqlite"
    line = one_line(runner.invoke(app, [*command, "--warehouse-url", f"sqlite:///{missing}"]), exit_code=2)
    assert line == f"no warehouse at {missing}: check --warehouse-url (a sync, or billit-etl db upgrade, creates it)"
    assert not missing.exists() and not missing.parent.exists()


def test_a_missing_key_with_a_prefect_server_that_is_not_there_says_the_key_is_missing(operator: Path) -> None:
    # On a Prefect server a missing key may come from a Secret block; a server that does not answer must not turn
    # the missing key into what reads as Billit being down.
    # A process of its own: Prefect, once imported by another test of this process, keeps the server it was given.
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("BILLIT_", "PREFECT_", "WAREHOUSE_"))
    }
    env.update(
        COLUMNS="200",
        BILLIT_PARTY_ID=str(PARTY_ID),
        PREFECT_API_URL="http://127.0.0.1:9/api",
        PREFECT_HOME=str(operator / "prefect-home"),  # not the developer's ~/.prefect
    )
    billit_etl = Path(sys.executable).parent / "billit-etl"
    done = subprocess.run(
        [str(billit_etl), "sync", "all", "--no-prefect"],
        env=env,
        cwd=operator,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert "BILLIT_API_KEY" in line and "Secret block 'billit-api-key'" in line and "PREFECT_API_URL" in line


def test_a_prefect_api_url_without_its_scheme_is_named_as_such(operator: Path) -> None:
    """Found by a newcomer: PREFECT_API_URL=localhost:4200 read "Failed to reach API ... is the server running?"."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("BILLIT_", "PREFECT_", "WAREHOUSE_"))
    }
    env.update(
        COLUMNS="200",
        BILLIT_BASE_URL="http://127.0.0.1:1",
        BILLIT_API_KEY=API_KEY,
        BILLIT_PARTY_ID=str(PARTY_ID),
        BILLIT_MAX_RETRIES="0",
        PREFECT_API_URL="localhost:4200",
        PREFECT_HOME=str(operator / "prefect-home"),
    )
    billit_etl = Path(sys.executable).parent / "billit-etl"
    done = subprocess.run(
        [str(billit_etl), "sync", "incoming"], env=env, cwd=operator, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "PREFECT_API_URL 'localhost:4200' is not an http:// or https:// URL: e.g. http://127.0.0.1:4200/api"
    )


def test_a_settings_mistake_other_than_the_key_is_not_taken_to_the_prefect_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BILLIT_API_KEY")
    monkeypatch.setenv("BILLIT_BASE_URL", "not a url")
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    line = one_line(runner.invoke(app, ["sync", "all", "--no-prefect"]))
    assert line.startswith("invalid Billit settings: BILLIT_BASE_URL") and "Prefect" not in line


def test_a_malformed_key_is_refused_as_such_not_replaced_from_a_prefect_secret_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLIT_API_KEY", "abc\u20acdef")  # a character no HTTP header can carry
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    line = one_line(runner.invoke(app, ["sync", "all", "--no-prefect"]))
    assert "BILLIT_API_KEY: contains characters an HTTP header cannot carry" in line and "Prefect" not in line


@pytest.mark.postgres
def test_a_role_that_may_not_read_a_table_a_command_reads_is_one_line(operator: Path, postgres_url: str) -> None:
    """From the re-check: a role with SELECT on schema_migrations (the readers' check) but not on invoices got the
    driver's line and a --debug hint from vat-return."""
    import uuid

    from connectors.warehouse import create_warehouse_engine, upgrade
    from tests.connectors.warehouse import postgres_schema

    role = f"billit_partial_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with postgres_schema(postgres_url) as existing, admin.connect() as connection:
        url = f"{postgres_url}?options=-csearch_path%3D{existing.schema}"
        upgrade(create_warehouse_engine(url))
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        try:
            connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA {existing.schema} TO {role}")
            connection.exec_driver_sql(f"GRANT SELECT ON {existing.schema}.schema_migrations TO {role}")
            role_url = sa.make_url(url).set(username=role).render_as_string(hide_password=False)
            runtime._engine_for.cache_clear()
            line = one_line(runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--warehouse-url", role_url]))
        finally:
            connection.exec_driver_sql(f"DROP OWNED BY {role}")
            connection.exec_driver_sql(f"DROP ROLE {role}")
    admin.dispose()
    assert line.startswith("the warehouse refused this role: permission denied for ")
    assert line.endswith("(grant it, or use a role that can, in WAREHOUSE_URL)")


class _InterruptedImport:
    """A finder that raises Ctrl-C's KeyboardInterrupt when `cli.main` is imported, as a Ctrl-C landing then does."""

    def find_spec(self, name: str, *_: object) -> None:
        if name == "cli.main":
            raise KeyboardInterrupt
        return None


def test_ctrl_c_while_the_command_starts_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found by an operator's test: Ctrl-C in the first few tenths of a second printed ~35 lines of an import's
    # traceback. The executable is cli.entry's, which imports the commands inside its own handling.
    import tomllib

    from cli import entry

    scripts = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["billit-etl"] == "cli.entry:main"
    monkeypatch.delitem(sys.modules, "cli.main")
    monkeypatch.setattr(sys, "meta_path", [_InterruptedImport(), *sys.meta_path])
    monkeypatch.setattr(entry.signal, "signal", lambda *_: None)  # the test's own process keeps its handlers
    with pytest.raises(SystemExit) as exit_:
        entry.main()
    assert exit_.value.code == 130
    assert capsys.readouterr().err == "interrupted while starting: nothing was done\n"


def test_a_misspelt_name_in_dot_env_is_said_rather_than_ignored(operator: Path) -> None:
    # Found by an operator's test: BILIT_TIMEOUT_S=5 in .env left the timeout at its default without a word.
    (operator / ".env").write_text("BILIT_TIMEOUT_S=5\nbillit_max_retries=0\nBILLIT_TIMOUT=3\nPATH_EXTRA=x\n")
    result = runner.invoke(app, ["replay", str(operator / "no-landing")])
    said = [line for line in result.output.splitlines() if "is not a setting" in line]
    assert said == [
        ".env: BILIT_TIMEOUT_S is not a setting, and is ignored (did you mean BILLIT_TIMEOUT_S?) (see .env.example)",
        ".env: BILLIT_TIMOUT is not a setting, and is ignored (did you mean BILLIT_TIMEOUT_S?) (see .env.example)",
    ]
