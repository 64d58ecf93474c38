"""What a flow started by a deployment checks first, in one line, as the CLI's preflight does: the backfill's
parameters before any slice is submitted, and the warehouse before any work."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from connectors.warehouse import WarehouseError
from flows.backfill import billit_backfill
from tasks.options import InvalidSyncOption
from tasks.prefect_tasks import prepare_warehouse

SINCE, UNTIL = datetime(2026, 1, 1), datetime(2026, 5, 1)


@pytest.mark.parametrize(
    ("parameters", "line"),
    [
        # Found from the outside: every slice was submitted and failed, and the parent said only "2 of 2 slices did
        # not complete", with no reason; a reversed window said "a window needs since < until", naming neither.
        ({"streams": ["bogus"]}, "unknown stream 'bogus': choose among incoming, sales"),
        ({"until": datetime(2025, 1, 1)}, "until (2025-01-01 00:00) must be after since (2026-01-01 00:00)"),
        ({"slices": 0}, "slices must be at least 1, not 0"),
    ],
)
def test_bad_backfill_parameters_are_refused_before_any_slice(parameters: dict, line: str) -> None:
    # The flow's own function: were the check not first, it would need a Prefect server and a warehouse.
    with pytest.raises(InvalidSyncOption) as refused:
        billit_backfill.fn(**{"since": SINCE, "until": UNTIL, **parameters})
    assert str(refused.value) == line


def test_an_unreachable_warehouse_fails_the_flows_first_task_in_the_clis_one_line() -> None:
    """Found from the outside: a worker's WAREHOUSE_URL naming a port nothing listens on failed the flow with the
    driver's OperationalError and a pointer to sqlalche.me."""
    with pytest.raises(WarehouseError) as refused:
        prepare_warehouse.fn("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/test")
    assert str(refused.value) == (
        "cannot reach the warehouse at postgresql+psycopg://postgres:***@127.0.0.1:1/test: connection refused (is "
        "PostgreSQL running? check WAREHOUSE_URL)"
    )


def test_a_landing_directory_that_cannot_be_written_is_one_line_for_a_flows_run_too(tmp_path: Path) -> None:
    """Found from the outside: `--param landing_dir=...` that cannot be made failed a deployment's run with the
    driver's FileNotFoundError (the CLI's preflight checked it, the flow did not)."""
    from tasks.inbound.sync import run_stream

    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with pytest.raises(InvalidSyncOption) as refused:
        run_stream("incoming", landing_dir=str(blocked / "landing"), warehouse_url=f"sqlite:///{tmp_path / 'w.sqlite'}")
    assert str(refused.value).startswith(f"cannot write the landing directory {blocked / 'landing'}: Not a directory")
    assert not (tmp_path / "w.sqlite").exists()  # refused before any work


@pytest.mark.parametrize(
    ("flow_name", "companies", "environment", "line"),
    [
        ("companies", "abc", {"BILLIT_API_KEY": "k"}, "not a PartyID"),
        ("companies", "all", {}, "BILLIT_API_KEY"),
        ("sync", None, {"BILLIT_API_KEY": "k"}, "BILLIT_PARTY_ID"),
        ("sync", "574991,x", {"BILLIT_API_KEY": "k"}, "not a PartyID"),
    ],
)
def test_an_operators_mistake_in_a_deployment_run_is_its_failed_state_before_any_task(
    monkeypatch: pytest.MonkeyPatch, flow_name: str, companies: str | None, environment: dict[str, str], line: str
) -> None:
    """Found from the outside: `companies=abc`, or a worker without a key, failed a task whose traceback the run's
    log showed twice. Now the flow's first act says it in one line: its Failed state (no task, no server needed)."""
    from flows.companies import billit_companies
    from flows.sync import billit_to_warehouse

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BILLIT_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    flow = billit_companies if flow_name == "companies" else billit_to_warehouse
    state = flow.fn(companies=companies)
    assert state.is_failed() and line in (state.message or ""), state
    assert "\n" not in (state.message or "")
