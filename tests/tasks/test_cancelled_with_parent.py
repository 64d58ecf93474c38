"""A parent flow run stopped by a cancellation cancels the runs it started; an ordinary error leaves them be (a
reviewer found every error cancelling them). The Prefect client is a stand-in here; tests/flows/test_e2e_prefect.py
cancels real runs on a real server."""

from __future__ import annotations

import uuid
from typing import Any

import prefect
import pytest
from prefect.exceptions import TerminationSignal

from tasks.runtime import cancelled_with_parent


class _Client:
    def __init__(self) -> None:
        self.cancelled: list[uuid.UUID] = []

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *_: Any) -> None:
        pass

    def set_flow_run_state(self, flow_run_id: uuid.UUID, state: Any) -> None:
        if flow_run_id == FINAL:
            raise RuntimeError("a final run refuses")  # suppressed: the others are still asked
        assert state.type.value == "CANCELLING"
        self.cancelled.append(flow_run_id)


FINAL = uuid.uuid4()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> _Client:
    stand_in = _Client()
    monkeypatch.setattr(prefect, "get_client", lambda **_: stand_in)
    return stand_in


def test_a_cancellation_cancels_the_children_made_so_far(client: _Client) -> None:
    children: list[uuid.UUID] = []
    later = uuid.uuid4()
    with pytest.raises(TerminationSignal), cancelled_with_parent(children):
        children.extend([FINAL, later])
        raise TerminationSignal(15)
    assert client.cancelled == [later]


def test_an_ordinary_error_leaves_the_children_be(client: _Client) -> None:
    with pytest.raises(RuntimeError), cancelled_with_parent([uuid.uuid4()]):
        raise RuntimeError("the server answered 500 to a poll")
    assert client.cancelled == []
