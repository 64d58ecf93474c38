"""The fan-out's wait for its company runs (`tasks.fanout.await_final`), on a fake clock and fake states: no Prefect
server. Found from the outside: with a worker and its flow-run processes killed, a company run stayed Running (and
one stayed Pending, its worker dead while starting it) for good, and the parent waited for good, saying nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

import pytest
from prefect.states import Completed, Failed, Pending, Running, State

from tasks import fanout
from tasks.fanout import STILL_WAITING_EVERY_S, CompanyRun, await_final


class FakeServer:
    """Each run's state as the server would answer it; the clock moves by each sleep."""

    def __init__(self, states: dict[UUID, State[Any]]) -> None:
        self.states = states
        self.now = 0.0
        self.reads: list[list[UUID]] = []
        self.on_read: list[tuple[float, UUID, State[Any]]] = []  # (from when, run, state) changes

    def read_states(self, ids: list[UUID]) -> Mapping[UUID, State[Any] | None]:
        self.reads.append(list(ids))
        for at, run_id, state in self.on_read:
            if self.now >= at:
                self.states[run_id] = state
        return {run_id: self.states.get(run_id) for run_id in ids}

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def company_runs(count: int) -> list[CompanyRun]:
    return [CompanyRun(party_id=574991 + i, name=f"company {i}", flow_run_id=uuid4()) for i in range(count)]


def wait(server: FakeServer, runs: list[CompanyRun], give_up_after_s: float | None) -> list[CompanyRun]:
    return await_final(
        runs,
        server.read_states,
        poll_seconds=1.0,
        give_up_after_s=give_up_after_s,
        clock=lambda: server.now,
        sleep=server.sleep,
    )


def test_the_wait_ends_with_each_runs_final_state_and_asks_only_for_those_not_final_yet() -> None:
    runs = company_runs(3)
    server = FakeServer({run.flow_run_id: Running() for run in runs})
    server.on_read = [
        (2.0, runs[0].flow_run_id, Completed()),
        (5.0, runs[1].flow_run_id, Failed(message="persistent  5xx")),
        (7.0, runs[2].flow_run_id, Completed()),
    ]
    outcomes = wait(server, runs, give_up_after_s=None)
    assert [(run.state, run.message) for run in outcomes] == [
        ("Completed", None),
        ("Failed", "persistent 5xx"),
        ("Completed", None),
    ]
    assert all(runs[0].flow_run_id not in ids for ids in server.reads[3:])  # final at t=2: not asked again
    assert server.now == 7.0


def test_a_run_that_never_ends_is_named_every_interval_and_reported_failed_when_the_wait_gives_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="billit_pipelines.companies")
    runs = company_runs(3)
    server = FakeServer({runs[0].flow_run_id: Completed(), runs[1].flow_run_id: Running()})
    server.states[runs[2].flow_run_id] = Pending()  # its worker died while starting it
    outcomes = wait(server, runs, give_up_after_s=3 * STILL_WAITING_EVERY_S + 1)
    assert [run.state for run in outcomes] == ["Completed", "Running", "Pending"]
    assert not outcomes[1].completed and not outcomes[2].completed
    assert outcomes[1].message is not None and "stopped waiting after 15 min (give_up_after_minutes)" in (
        outcomes[1].message
    )
    notices = [record.getMessage() for record in caplog.records]
    assert len(notices) == 3, notices
    assert notices[0].startswith(f"still waiting after 5 min for 2 of 3 company runs: {runs[1].party_id} (Running), ")
    assert f"{runs[2].party_id} (Pending)" in notices[0] and "docs/operations.md#a-worker-that-died" in notices[0]


def test_without_a_limit_the_wait_goes_on_saying_so(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = company_runs(1)
    server = FakeServer({runs[0].flow_run_id: Running()})
    server.on_read = [(10 * STILL_WAITING_EVERY_S, runs[0].flow_run_id, Completed())]
    said: list[str] = []
    monkeypatch.setattr(fanout, "_logger", lambda: _Recorder(said))
    assert [run.state for run in wait(server, runs, give_up_after_s=None)] == ["Completed"]
    assert len(said) == 9  # every five minutes of the fifty


class _Recorder:
    def __init__(self, said: list[str]) -> None:
        self.said = said

    def warning(self, message: str, *args: object) -> None:
        self.said.append(message % args)
