"""The replay's lanes: on PostgreSQL the runs of different streams load side by side and leave what loading them one
at a time leaves; a run that fails stops the others at their next write and its error is raised; and an order
another writer stores between the replay's look-up and its insert is upserted, not lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from tasks.inbound import replay as replay_module
from tasks.inbound import replay_load
from tasks.inbound.replay import replay_landing
from tests.tasks.test_replay_rows import every_table, landing, replay_twice, second_engine

__all__ = ["landing", "second_engine"]  # fixtures


def _watching_writes(monkeypatch: pytest.MonkeyPatch, *, delay_s: float = 0.0) -> dict[str, Any]:
    """Wrap the fast path's group write: note how many run at once, and in which streams; slow each by `delay_s`."""
    seen: dict[str, Any] = {"at_once": 0, "most_at_once": 0, "streams": []}
    lock = threading.Lock()
    write = replay_module.write_landed_rows

    def watched(*args: Any, **kwargs: Any) -> Any:
        with lock:
            seen["at_once"] += 1
            seen["most_at_once"] = max(seen["most_at_once"], seen["at_once"])
            seen["streams"].append(kwargs["stream"])
        try:
            time.sleep(delay_s)
            return write(*args, **kwargs)
        finally:
            with lock:
                seen["at_once"] -= 1

    monkeypatch.setattr(replay_module, "write_landed_rows", watched)
    return seen


def _break_the_sales_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sales stream's group writes fail; the others go through."""
    write = replay_module.write_landed_rows

    def failing_sales(*args: Any, **kwargs: Any) -> Any:
        if kwargs["stream"] == "sales":
            raise RuntimeError("the sales stream broke")
        return write(*args, **kwargs)

    monkeypatch.setattr(replay_module, "write_landed_rows", failing_sales)


def _runs(engine: sa.Engine, column: str) -> list[tuple[Any, ...]]:
    """Each run's stream, status and `column`."""
    runs = reflect_tables(engine)["sync_runs"]
    with engine.connect() as connection:
        return list(connection.execute(sa.select(runs.c.stream, runs.c.status, runs.c[column])).all())


def without_roles(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """`every_table` without the parties' role and last run: a party both streams name at one version (the company
    itself, supplier on its sales and customer on its purchases) keeps the role of the stream written last, which
    side by side is either (docs/warehouse.md#parties)."""
    parties = [tuple(cell for cell in row if cell[0] not in ("party_type", "last_run_id")) for row in tables["parties"]]
    return tables | {"parties": sorted(parties, key=repr)}


def test_two_streams_replay_side_by_side_on_postgresql_and_leave_what_one_at_a_time_leaves(
    landing: Path, engine: sa.Engine, second_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _watching_writes(monkeypatch, delay_s=0.05)  # long enough for the lanes to meet
    side_by_side = replay_landing(landing, engine=engine)
    monkeypatch.setattr(replay_module, "POSTGRESQL_LANES", 1)
    in_turn = replay_landing(landing, engine=second_engine)

    assert [s["status"] for s in side_by_side] == ["succeeded"] * len(side_by_side)
    assert [(s["stream"], s["lines_loaded"]) for s in side_by_side] == [
        (s["stream"], s["lines_loaded"]) for s in in_turn
    ]
    side_by_side_tables, in_turn_tables = every_table(engine), every_table(second_engine)
    assert without_roles(side_by_side_tables) == without_roles(in_turn_tables)
    if engine.dialect.name == "sqlite":
        assert side_by_side_tables == in_turn_tables
    # SQLite takes one writer at a time: one lane there.
    assert seen["most_at_once"] == (2 if engine.dialect.name == "postgresql" else 1)


def test_a_run_that_fails_stops_the_other_runs_before_their_next_write_and_its_error_is_raised(
    landing: Path, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_module, "GROUP_ORDERS", 20)  # a group per part: five in each synced run
    seen = _watching_writes(monkeypatch, delay_s=0.1)
    _break_the_sales_stream(monkeypatch)

    with pytest.raises(RuntimeError, match="the sales stream broke"):
        replay_landing(landing, engine=engine)

    finished = _runs(engine, "error")
    assert ("sales", "failed", "RuntimeError: the sales stream broke") in finished
    assert all(status != "running" for _, status, _ in finished), finished
    if engine.dialect.name == "postgresql":  # side by side, the incoming run stopped after a group of its five
        assert seen["streams"].count("incoming") <= 2, seen["streams"]
        stopped = "Stopped: another run of the replay failed, or it was interrupted"
        assert ("incoming", "failed", stopped) in finished, finished


def test_a_run_of_one_group_stops_too_before_its_write(
    landing: Path, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run smaller than a group writes once, after its last part is read: that write is stopped as well."""
    if engine.dialect.name != "postgresql":
        pytest.skip("one lane on SQLite: the runs load in turn")
    seen = _watching_writes(monkeypatch)
    _break_the_sales_stream(monkeypatch)
    read = replay_module.read_rows

    def slow_incoming(part: Path, fingerprint: str) -> Any:
        time.sleep(0.3 if "incoming" in part.parts else 0)
        return read(part, fingerprint)

    monkeypatch.setattr(replay_module, "read_rows", slow_incoming)

    with pytest.raises(RuntimeError, match="the sales stream broke"):
        replay_landing(landing, engine=engine)

    finished = _runs(engine, "lines_loaded")
    assert ("incoming", "failed", 0) in finished and "incoming" not in seen["streams"], (finished, seen)


def test_an_order_another_writer_stores_after_the_look_up_is_upserted_not_lost(
    landing: Path, engine: sa.Engine, second_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into a warehouse where none of a group's orders is stored, the fast path inserts them without an upsert;
    one stored meanwhile makes the insert fail, and the group is written again part by part."""
    monkeypatch.setattr(replay_module, "POSTGRESQL_LANES", 1)  # runs in turn: one first look-up, both warehouses
    replay_twice(landing, second_engine)
    replay_landing(landing, engine=engine)
    look_ups = []
    stored = replay_load.stored_invoices

    def stale_once(*args: Any, **kwargs: Any) -> Any:
        look_ups.append(args[2])
        return {} if len(look_ups) == 1 else stored(*args, **kwargs)  # the first look-up is already out of date

    monkeypatch.setattr(replay_load, "stored_invoices", stale_once)

    summaries = replay_landing(landing, engine=engine)

    assert [s["status"] for s in summaries] == ["succeeded"] * len(summaries)
    assert len(look_ups) > len(summaries)  # the stale group, then its parts
    assert every_table(engine) == every_table(second_engine)
