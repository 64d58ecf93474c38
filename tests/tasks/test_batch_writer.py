"""The batch writer keeps the event loop responsive: short GIL slices while any writer lives, restored after."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tasks.inbound.batches import WRITER_SWITCH_INTERVAL_S, BatchWriter
from tasks.inbound.state import RunRecord


@pytest.fixture
def default_slices() -> Iterator[float]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


def _writer() -> BatchWriter:
    run = RunRecord(run_id="r", stream="sales", mode="incremental", company_id=1)
    return BatchWriter(sa.create_engine("sqlite://"), "sales", run, company_id=1, landing_dir=None)


def test_writers_shorten_the_gil_slice_until_the_last_one_closes(default_slices: float) -> None:
    first = _writer()
    assert sys.getswitchinterval() == pytest.approx(WRITER_SWITCH_INTERVAL_S)
    second = _writer()
    first.close()
    first.close()  # closing twice leaves the count alone
    assert sys.getswitchinterval() == pytest.approx(WRITER_SWITCH_INTERVAL_S)
    second.close()
    assert sys.getswitchinterval() == pytest.approx(default_slices)
