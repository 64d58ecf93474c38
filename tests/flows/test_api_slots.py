"""The `billit-api` slots a Prefect task takes: a wait that goes on says so in the run's log
(docs/operations.md#stuck-slots)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from prefect import flow, get_client, task
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler
from prefect.runtime import flow_run

from sandbox.identity import API_KEY, PARTY_ID
from tasks import runtime
from tests.flows.prefect_harness import prefect_harness

pytestmark = pytest.mark.xdist_group("prefect")


@pytest.fixture
def billit_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BILLIT_BASE_URL", "http://127.0.0.1:9")  # never called
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.delenv("BILLIT_MAX_REQUESTS_PER_S", raising=False)
    monkeypatch.setattr(runtime, "SLOT_WAIT_NOTICE_S", 1.0)
    yield


def test_a_task_waiting_for_billit_api_slots_says_so_then_runs_once_they_are_freed(billit_env: None) -> None:
    """Found from the outside: after a worker was killed and the server restarted, the slots it held were never
    given back, and every run waited for good without a word in its log."""

    @task
    def call_billit() -> str:
        with runtime.billit_api_slots():
            return "slots taken"

    @flow
    def waiting() -> tuple[str, str]:
        return str(flow_run.get_id()), call_billit()

    with prefect_harness(), get_client(sync_client=True) as client:
        held = runtime.billit_settings().max_concurrency
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=runtime.BILLIT_API_LIMIT, limit=held, active_slots=held)
        )
        # What `prefect gcl update billit-api --active-slots 0` does, a few seconds into the wait.
        freed = threading.Timer(
            4.0,
            lambda: client.update_global_concurrency_limit(
                runtime.BILLIT_API_LIMIT, GlobalConcurrencyLimitUpdate(active_slots=0)
            ),
        )
        freed.start()
        try:
            run_id, outcome = waiting()
        finally:
            freed.join()
        APILogHandler().flush()
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    assert outcome == "slots taken"
    notices = [log.message for log in logs if "concurrency limit and still waiting" in log.message]
    assert notices == [
        f"waited 1 s for {held} slots of the billit-api concurrency limit and still waiting: other runs hold them, "
        "or slots held by a killed worker were not given back (prefect gcl inspect billit-api; "
        "docs/operations.md#stuck-slots says how to free them)"
    ]
