"""A push that rejects or fails rows is an outcome, not a crash: on the CLI (with and without Prefect) and as a flow.

Rows rejected or failed end with the table, one summary line and exit 1 on the CLI, and with a Failed flow run
whose message is that line, whose artifact lists the rows, and whose logs hold no traceback. A bad --source is
one line and exit 2, before anything is pushed. The Prefect cases share one `prefect_test_harness` (about 13 s).
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from connectors.warehouse import create_warehouse_engine, upgrade
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tests.tasks.push_helpers import insert, orders_by_external_id, outbound, stored
from tests.tasks.sync_helpers import SEED_START
from tests.tasks.test_outbound_source import SAMPLE, erp
from tests.tasks.test_push_order import now

runner = CliRunner()
# The Prefect tests run one after the other on one pytest-xdist worker (`make test`: --dist loadgroup): two
# temporary Prefect servers at once on a 2-core machine time out starting.
pytestmark = pytest.mark.xdist_group("prefect")
SUMMARY_LINE = "push: 1 rejected (LocalValidation 1); see outbound_invoices.last_error_code / last_error"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=4, orders=0, seed_start=SEED_START)) as running:
        yield running


@pytest.fixture
def warehouse(server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """The Billit settings of the sandbox and a migrated SQLite warehouse in tmp_path (also the working directory)."""
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    monkeypatch.setenv("BILLIT_BASE_URL", server.base_url)
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 columns without a terminal
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    engine = create_warehouse_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def table(output: str) -> dict[str, str]:
    """The push table's rows: outcome -> rows."""
    return {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in output.splitlines() if line.count("│") == 3
    }


def test_the_cli_ends_a_push_with_rejected_rows_with_the_table_one_summary_line_and_exit_1(
    warehouse: sa.Engine,
) -> None:
    insert(warehouse, [outbound("cli-1"), outbound("cli-2"), outbound("cli-bad", customer_name=None)])
    result = runner.invoke(app, ["push", "--no-prefect"])
    assert result.exit_code == 1, result.output
    rows = table(result.output)
    assert (rows["considered"], rows["created"], rows["rejected"], rows["LocalValidation"]) == ("3", "2", "1", "1")
    assert lines_with(result.output, "push:") == [SUMMARY_LINE] and "Traceback" not in result.output
    assert stored(warehouse)["cli-bad"].status == "rejected"

    again = runner.invoke(app, ["push", "--no-prefect"])  # a rejected row is an outcome once, not every run
    assert again.exit_code == 0 and not lines_with(again.output, "push:"), again.output


def test_a_credit_note_left_waiting_for_a_rejected_invoice_is_reported_by_every_push(warehouse: sa.Engine) -> None:
    # Found from the outside: after the invoice was rejected, later pushes said "considered 0" and exit 0, and
    # nothing about the credit note that will wait until someone fixes that invoice.
    bad = outbound("inv-1", customer_name=None, order_number="INV-1")
    credit = outbound("credit-2", order_type="CreditNote", about_invoice_number="INV-1")
    insert(warehouse, [bad, credit])
    first = runner.invoke(app, ["push", "--no-prefect"])
    assert first.exit_code == 1 and table(first.output)["waiting for their invoice"] == "1", first.output
    again = runner.invoke(app, ["push", "--no-prefect"])
    assert again.exit_code == 0 and table(again.output)["waiting for their invoice"] == "1", again.output
    [line] = lines_with(again.output, "wait for the invoice they credit")
    assert line.startswith("1 credit note(s) wait") and "outbound_invoices.last_error" in line
    assert stored(warehouse)["credit-2"].status == "pending"


def test_a_pending_row_with_a_billit_order_id_is_counted_as_skipped_with_why_in_one_line_and_exit_1(
    warehouse: sa.Engine,
) -> None:
    # Found from the outside: such a row is never claimed (the id says Billit has it) nor sent (it is not created),
    # and every push said nothing about it, exit 0.
    insert(warehouse, [outbound("fine-1"), outbound("stuck-2", billit_order_id=424242)])
    for _ in range(2):  # every run, until a person decides
        result = runner.invoke(app, ["push", "--no-prefect"])
        assert result.exit_code == 1, result.output
        assert table(result.output)["skipped: pending with a billit_order_id"] == "1"
        [line] = lines_with(result.output, "push:")
        assert line.startswith("push: 1 pending or failed with a billit_order_id, skipped (neither created nor sent")
        assert "status 'created' if that order is the row's, else clear billit_order_id" in " ".join(
            result.output.split()
        )
    rows = stored(warehouse)
    assert (rows["fine-1"].status, rows["stuck-2"].status, rows["stuck-2"].attempts) == ("created", "pending", 0)


def test_a_dry_run_names_the_rows_it_would_reject_and_why(warehouse: sa.Engine) -> None:
    # Found from the outside: a dry run said "2 would be rejected (LocalValidation 2)" and nothing more, and writes
    # no outcome: which rows, and why, were nowhere.
    insert(warehouse, [outbound("dry-1"), outbound("dry-bad", customer_name=None)])
    result = runner.invoke(app, ["push", "--no-prefect", "--dry-run"])
    assert result.exit_code == 1, result.output
    [row] = lines_with(result.output, "dry-bad")
    assert "would be rejected" in row and "LocalValidation" in row and "customer_name" in row, result.output
    assert not lines_with(result.output, "dry-1 ")
    assert {row.status for row in stored(warehouse).values()} == {"pending"}  # a dry run writes nothing


def test_a_dry_runs_table_keeps_its_title_on_one_line(warehouse: sa.Engine) -> None:
    # Found from the outside: `push --dry-run | cat` wrapped the title over the narrow table's width.
    insert(warehouse, [outbound("dry-title")])
    result = runner.invoke(app, ["push", "--no-prefect", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert lines_with(result.output, "warehouse -> Billit (dry run: nothing sent)"), result.output


def test_the_rows_that_need_a_look_are_printed_as_they_are_not_as_markup(warehouse: sa.Engine) -> None:
    # Found by a review: `[b]` vanished from an id (naming another row) and a reason holding `[/]` ended the command
    # in "error: MarkupError" after the push had run.
    insert(warehouse, [outbound("[b]mark-1", customer_vat_number="BE[/]0412")])
    result = runner.invoke(app, ["push", "--no-prefect"])
    assert result.exit_code == 1 and "MarkupError" not in result.output, result.output
    [row] = lines_with(result.output, "[b]mark-1")
    assert "BE[/]0412" in row, result.output


def test_the_cli_takes_a_source_in_before_the_push_and_a_change_after_create_ends_with_exit_1(
    server: SandboxServer, warehouse: sa.Engine
) -> None:
    erp(warehouse)
    first = runner.invoke(app, ["push", "--no-prefect", "--source", str(SAMPLE)])
    assert first.exit_code == 0, first.output
    rows = table(first.output)
    assert (rows["source invoices"], rows["new"], rows["created"]) == ("2", "2", "2")
    assert {"SI-101", "SI-102"} <= set(orders_by_external_id(server))

    with warehouse.begin() as connection:
        connection.execute(sa.text("UPDATE erp_invoice_lines SET qty = 8 WHERE invoice_id = 101 AND seq = 1"))
    changed = runner.invoke(app, ["push", "--no-prefect", "--source", str(SAMPLE)])
    assert changed.exit_code == 1, changed.output
    assert lines_with(changed.output, "push:") == [
        "push: 1 changed in the source after they were created in Billit (not pushed again); see "
        "outbound_invoices.last_error_code / last_error and change_reason"
    ]
    assert len(orders_by_external_id(server)["SI-101"]) == 1

    still = runner.invoke(app, ["push", "--no-prefect", "--source", str(SAMPLE)])
    assert still.exit_code == 0, still.output  # noticed once; still shown, in yellow
    assert lines_with(still.output, "flagged changed_after_create earlier still differ")


def test_the_cli_refuses_a_bad_source_in_one_line_with_exit_2_and_pushes_nothing(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    insert(warehouse, [outbound("waiting-1")])
    erp(warehouse)
    source = tmp_path / "erp.sql"
    source.write_text(SAMPLE.read_text().replace("AS customer_name", "AS klant"))
    result = runner.invoke(app, ["push", "--no-prefect", "--source", str(source)])
    assert result.exit_code == 2, result.output
    assert lines_with(result.output, str(source)) == [
        f"{source}: the invoices query returns klant: not columns of outbound_invoices (docs/warehouse.md lists "
        "them; alias yours with AS)"
    ]
    assert "Traceback" not in result.output
    assert stored(warehouse)["waiting-1"].status == "pending"  # nothing pushed


def test_a_prefect_run_with_rejected_rows_fails_with_one_line_an_artifact_and_no_traceback(
    warehouse: sa.Engine, capfd: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        LogFilter,
        LogFilterFlowRunId,
        TaskRunFilter,
    )
    from prefect.client.schemas.sorting import ArtifactSort
    from prefect.logging.handlers import APILogHandler

    from flows.push import PushIncomplete, warehouse_invoices_to_billit
    from tests.flows.prefect_harness import prefect_harness

    insert(warehouse, [outbound("flow-1"), outbound("flow-bad", customer_name=None)])
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    with prefect_harness():
        state = warehouse_invoices_to_billit(return_state=True)
        assert state.is_failed() and state.message == SUMMARY_LINE
        result = state.result(raise_on_failure=False)
        assert isinstance(result, PushIncomplete) and result.summary["created"] == 1
        assert result.summary["problems"] == [
            {
                "external_id": "flow-bad",
                "outcome": "rejected",
                "code": "LocalValidation",
                "reason": "customer_name is required",
            }
        ]
        insert(warehouse, [outbound("flow-bad-2", customer_name=None)])
        with pytest.raises(PushIncomplete, match="1 rejected"):  # called plainly, the flow raises it
            warehouse_invoices_to_billit()

        APILogHandler().flush()
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["billit-push-problems"])),
                flow_run_filter=FlowRunFilter(),
                task_run_filter=TaskRunFilter(),
                sort=ArtifactSort.CREATED_DESC,
                limit=5,
                offset=0,
            )
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[state.state_details.flow_run_id]))
            )
        first_run = [artifact for artifact in artifacts if artifact.flow_run_id == state.state_details.flow_run_id]
        assert first_run and "| flow-bad | rejected | LocalValidation | customer_name is required |" in str(
            first_run[0].data
        )
        assert logs and any("Failed" in log.message for log in logs)
        assert not [log.message for log in logs if "Traceback" in log.message]

        # The CLI on the --prefect path: the same table and line, exit 1.
        insert(warehouse, [outbound("prefect-bad", customer_name=None)])
        cli = runner.invoke(app, ["push", "--prefect"])
        assert cli.exit_code == 1, cli.output
        assert lines_with(cli.output, "push:") == [SUMMARY_LINE] and table(cli.output)["rejected"] == "1"

        # A refused source ends the run Failed with its line before anything is pushed; the CLI exits 2.
        insert(warehouse, [outbound("after-bad-source")])
        source = tmp_path / "erp.sql"
        source.write_text(SAMPLE.read_text().replace("FROM erp_sales_invoices i", "FROM erp_sales i"))
        refused = warehouse_invoices_to_billit(source=str(source), return_state=True)
        assert refused.is_failed() and refused.message.startswith(f"{source}: the invoices query fails: ")
        assert stored(warehouse)["after-bad-source"].status == "pending"
        cli = runner.invoke(app, ["push", "--prefect", "--source", str(source)])
        assert cli.exit_code == 2 and lines_with(cli.output, f"{source}: the invoices query fails"), cli.output

        # A deployment's worker whose WAREHOUSE_URL names no file: Failed with one line, and nothing created.
        mistyped = tmp_path / "warehouse.sqlite3"
        monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{mistyped}")
        missing = warehouse_invoices_to_billit(return_state=True)
        assert missing.is_failed() and missing.message == (
            f"no warehouse at {mistyped}: check WAREHOUSE_URL (a push reads the invoices to create from it: "
            "load-outbound fills it)"
        )
        assert not mistyped.exists()
    assert not our_tracebacks(capfd.readouterr().err)


def our_tracebacks(output: str) -> list[str]:
    """Tracebacks printed for our flow and task runs (the temporary server's own services may log theirs, e.g.
    its telemetry finding its SQLite database locked on a busy machine)."""
    blocks = re.split(r"^(?=\d\d:\d\d:\d\d\.\d+ \|)", output, flags=re.MULTILINE)
    return [
        block
        for block in blocks
        if "Traceback" in block
        and any(part in block for part in ("flow_engine.py", "task_engine.py", "/flows/", "/tasks/"))
    ]


def test_a_push_whose_sends_billit_refuses_names_them_in_its_line_and_lists_the_rows(warehouse: sa.Engine) -> None:
    # Found by an outside tester: rows Billit refused to send ended the run with exit 1 and the line
    # "push: ; see outbound_invoices.last_error_code / last_error", naming nothing, and no row in the table below it.
    insert(warehouse, [outbound("send-1"), outbound("send-2")])
    assert runner.invoke(app, ["push", "--no-prefect"]).exit_code == 0
    result = runner.invoke(app, ["push", "--send", "--transport", "Letter", "--no-prefect"])  # the sandbox refuses
    assert result.exit_code == 1, result.output
    [line] = lines_with(result.output, "push:") or [result.output]
    assert line == (
        "push: 2 not sent (GenericError 2; a later push --send tries again); "
        "see outbound_invoices.last_error_code / last_error"
    ), line
    assert lines_with(result.output, "send-1") and lines_with(result.output, "send-2"), result.output
    assert {row.status for row in stored(warehouse).values()} == {"created"}


def test_rows_another_live_push_holds_are_counted_and_said_with_until_when(warehouse: sa.Engine) -> None:
    # Found by an outside tester: the push computed them, but the CLI said "considered 0", exit 0, and nothing more.
    claimant = f"{socket.gethostname()}/{os.getppid()}/{uuid.uuid4().hex}"  # a process of this host that runs
    insert(warehouse, [outbound("held-1", claimed_by=claimant, claimed_at=now()), outbound("free-2")])
    result = runner.invoke(app, ["push", "--no-prefect"])
    assert result.exit_code == 0, result.output
    assert table(result.output)["held by another push run"] == "1"
    [line] = lines_with(result.output, "held by another push run, which pushes them")
    assert re.fullmatch(
        r"1 row\(s\) held by another push run, which pushes them; if it is gone, its claims expire by "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(outbound_invoices.claimed_by names it\)",
        line,
    ), line
    assert stored(warehouse)["free-2"].status == "created" and stored(warehouse)["held-1"].status == "pending"
