"""Operator mistakes around runs: replaying the wrong folder, a corrupt landing file, a second company in the same
warehouse, options out of range, runs that died. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.warehouse import reflect_tables, upgrade
from sandbox.identity import API_KEY, SECOND_PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound.replay import replay_landing
from tasks.inbound.sync import error_text, run_stream
from tasks.inbound.warehouse import start_run, warehouse_companies
from tasks.options import InvalidSyncOption
from tests.connectors.warehouse import Warehouse
from tests.tasks.sync_helpers import COMPANY, SEED_START, assert_warehouse_matches_billit, warehouse_views

OTHER_COMPANY = SECOND_PARTY_ID


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=5, orders=160, delivery_delay_s=0.05, seed_start=SEED_START)) as running:
        yield running


def sync(
    server: SandboxServer, engine: sa.Engine, stream: str, *, company: int = COMPANY, **options: Any
) -> dict[str, Any]:
    return run_stream(
        stream,
        engine=engine,
        base_url=server.base_url,
        api_key=API_KEY,
        party_id=company,
        backoff_base_s=0.01,
        **options,
    )


def run_rows(engine: sa.Engine) -> list[Any]:
    runs = reflect_tables(engine)["sync_runs"]
    with engine.connect() as connection:
        return connection.execute(sa.select(runs).order_by(runs.c.started_at)).all()


def replica(tmp_path: Path, name: str = "replica") -> sa.Engine:
    engine = Warehouse("sqlite", f"sqlite:///{tmp_path / name}.sqlite").engine()
    upgrade(engine)
    return engine


def test_replay_of_a_folder_with_two_companies_loads_each_run_into_the_company_its_files_name(
    server: SandboxServer, engine: sa.Engine, tmp_path: Path
) -> None:
    ours, theirs = tmp_path / "ours" / "landing", tmp_path / "theirs" / "landing"
    other = replica(tmp_path, "other-company")
    for stream in ("incoming", "sales"):
        sync(server, engine, stream, landing_dir=str(ours))
        sync(server, other, stream, company=OTHER_COMPANY, landing_dir=str(theirs))

    both = replica(tmp_path, "both")
    summaries = replay_landing(tmp_path, engine=both)  # a folder above both landing directories
    assert [summary["status"] for summary in summaries] == ["succeeded"] * 4
    assert sorted(summary["company_id"] for summary in summaries) == sorted([COMPANY, OTHER_COMPANY] * 2)
    assert warehouse_views(both, COMPANY) == warehouse_views(engine) and warehouse_views(both, COMPANY)[0]
    assert warehouse_views(both, OTHER_COMPANY) == warehouse_views(other) and warehouse_views(other)[0]
    assert warehouse_companies(both) == [COMPANY, OTHER_COMPANY]


def test_replay_of_one_run_folder_and_of_the_landing_root_both_load(
    server: SandboxServer, engine: sa.Engine, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    sales = sync(server, engine, "sales", landing_dir=str(landing))
    sync(server, engine, "incoming", landing_dir=str(landing))

    one = replica(tmp_path, "one")
    (summary,) = replay_landing(landing / "sales" / f"run={sales['run_id']}", engine=one)
    assert summary["status"] == "succeeded" and summary["orders_new"] == sales["orders_new"]
    everything = replica(tmp_path, "everything")
    assert [s["status"] for s in replay_landing(landing, engine=everything)] == ["succeeded", "succeeded"]
    assert warehouse_views(everything) == warehouse_views(engine)


def test_a_corrupt_or_foreign_parquet_file_is_reported_with_its_path_and_its_run_closed(
    server: SandboxServer, engine: sa.Engine, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    sales = sync(server, engine, "sales", landing_dir=str(landing))
    incoming = sync(server, engine, "incoming", landing_dir=str(landing))
    corrupt = landing / "sales" / f"run={sales['run_id']}" / "part-00001.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    foreign = landing / "incoming" / f"run={incoming['run_id']}" / "part-00001.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), foreign)

    summaries = replay_landing(landing, engine=engine)
    assert sorted(summary["status"] for summary in summaries) == ["refused", "refused"]
    assert {summary["error"].split(":")[0] for summary in summaries} == {str(corrupt), str(foreign)}
    assert "running" not in {row.status for row in run_rows(engine)}


def a_sales_run_moved_under_incoming(server: SandboxServer, engine: sa.Engine, landing: Path) -> Path:
    """A sales run landed under `landing`, its folder then moved under incoming/ (an operator's mistake)."""
    sales = sync(server, engine, "sales", landing_dir=str(landing))
    moved = landing / "incoming" / f"run={sales['run_id']}"
    moved.parent.mkdir(parents=True)
    shutil.move(landing / "sales" / f"run={sales['run_id']}", moved)
    return moved


def test_a_run_folder_moved_under_the_other_stream_is_refused(
    server: SandboxServer, engine: sa.Engine, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    a_sales_run_moved_under_incoming(server, engine, landing)
    (summary,) = replay_landing(landing, engine=engine)
    assert summary["status"] == "refused" and "'sales' stream, not 'incoming'" in summary["error"]


def test_a_second_company_synced_into_the_same_warehouse_loads_all_its_orders_under_its_own_watermark(
    server: SandboxServer, engine: sa.Engine
) -> None:
    """Issue 13: with watermarks per stream, the second company's sync "succeeded" and loaded none of its orders."""
    from tasks.inbound.warehouse import read_watermark

    first = [sync(server, engine, stream, landing_dir=None) for stream in ("incoming", "sales")]
    second = [sync(server, engine, stream, company=OTHER_COMPANY, landing_dir=None) for stream in ("incoming", "sales")]
    theirs = server.sandbox.company_orders(OTHER_COMPANY)
    assert sum(summary["orders_new"] for summary in second) == len(theirs) > 0
    assert_warehouse_matches_billit(server, engine, COMPANY)
    assert_warehouse_matches_billit(server, engine, OTHER_COMPANY)
    for stream, summary in zip(("incoming", "sales"), first, strict=True):
        assert summary["watermark_after"] == str(read_watermark(engine, stream, company_id=COMPANY))
        assert summary["company_id"] == COMPANY
    assert read_watermark(engine, "sales", company_id=OTHER_COMPANY) != read_watermark(
        engine, "sales", company_id=COMPANY
    )
    # Both carry on incrementally: a quiet run of each loads nothing.
    for company in (COMPANY, OTHER_COMPANY):
        again = sync(server, engine, "sales", company=company, landing_dir=None)
        assert again["quiet"] and again["orders_new"] == again["orders_changed"] == 0
    runs = reflect_tables(engine)["sync_runs"]
    with engine.connect() as connection:
        assert connection.execute(
            sa.select(runs.c.company_id, sa.func.count()).group_by(runs.c.company_id).order_by(runs.c.company_id)
        ).all() == [(COMPANY, 3), (OTHER_COMPANY, 3)]


@pytest.mark.parametrize("lookback", [-1, 1e12, math.nan, math.inf])
def test_a_look_back_out_of_range_is_refused_before_anything_runs(
    server: SandboxServer, engine: sa.Engine, lookback: float
) -> None:
    with pytest.raises(InvalidSyncOption, match="lookback_minutes must be between 0 and"):
        sync(server, engine, "sales", lookback_minutes=lookback, landing_dir=None)
    with pytest.raises(InvalidSyncOption, match="must be after"):
        sync(server, engine, "sales", since=datetime(2026, 2, 1), until=datetime(2026, 1, 1), landing_dir=None)
    assert run_rows(engine) == []


def test_a_run_whose_process_died_is_closed_as_abandoned_by_the_next_run(engine: sa.Engine) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    died = start_run(engine, "sales", "incremental", company_id=COMPANY)
    stale = start_run(engine, "incoming", "incremental", company_id=OTHER_COMPANY)
    runs = reflect_tables(engine)["sync_runs"]
    with engine.begin() as connection:
        connection.execute(runs.update().where(runs.c.run_id == died.run_id).values(pid=dead.pid))
        connection.execute(
            runs.update()
            .where(runs.c.run_id == stale.run_id)
            .values(host="another-machine", heartbeat_at=datetime.now() - timedelta(hours=3))  # noqa: DTZ005
        )
    alive = start_run(engine, "sales", "incremental", company_id=COMPANY)
    status = {row.run_id: (row.status, row.error) for row in run_rows(engine)}
    assert status[alive.run_id] == ("running", None)
    for run in (died, stale):
        assert status[run.run_id][0] == "failed" and "abandoned" in status[run.run_id][1]


def test_the_error_kept_for_a_failed_run_is_one_short_line_without_row_data_or_secrets(engine: sa.Engine) -> None:
    customer_data = "Klant NV, Kerkstraat 1 " * 1000
    runs = reflect_tables(engine)["sync_runs"]
    with pytest.raises(sa.exc.DBAPIError) as caught, engine.begin() as connection:
        connection.execute(runs.insert().values(run_id="r", stream=customer_data, mode="nonsense", status="x"))
    text = error_text(caught.value)
    assert "\n" not in text and len(text) <= 300 and "Kerkstraat" not in text

    from connectors.billit import load_settings

    settings = load_settings(api_key="sk-very-secret", party_id=1)
    assert "sk-very-secret" not in error_text(RuntimeError("header sk-very-secret refused"), settings)


def test_of_two_overlapping_runs_the_one_committing_last_with_an_older_key_never_moves_the_watermark_back(
    engine: sa.Engine,
) -> None:
    import threading
    import time

    from tasks.inbound.warehouse import read_watermark
    from tests.tasks.corrupting_proxy import CorruptingProxy

    with (
        SandboxServer(Sandbox(seed=12, orders=120, delivery_delay_s=0.05, seed_start=SEED_START)) as billit,
        CorruptingProxy(billit.base_url) as slow_path,
    ):
        sync(billit, engine, "incoming", landing_dir=None)
        cost = sorted(i for i, o in billit.sandbox.company_orders(COMPANY).items() if o["OrderDirection"] == "Cost")
        billit.sandbox.touch_order(cost[0], Comments="first change")

        slow_path.released.clear()  # the scheduled run stops at its detail fetches, its key already chosen
        older: dict[str, Any] = {}
        scheduled = threading.Thread(
            target=lambda: older.update(
                run_stream(
                    "incoming",
                    engine=engine,
                    base_url=slow_path.base_url,
                    api_key=API_KEY,
                    party_id=COMPANY,
                    landing_dir=None,
                )
            )
        )
        scheduled.start()
        deadline = time.monotonic() + 30
        while not slow_path.waiting:
            assert time.monotonic() < deadline
            time.sleep(0.01)

        billit.sandbox.touch_order(cost[1], Comments="second change")
        newer = sync(billit, engine, "incoming", landing_dir=None)  # the CLI run beside it, to the end
        slow_path.released.set()
        scheduled.join(30)

    assert older["status"] == newer["status"] == "succeeded"
    watermark = read_watermark(engine, "incoming", company_id=COMPANY)
    assert older["watermark_after"] == newer["watermark_after"] == str(watermark)
    assert str(watermark).endswith(f"#{cost[1]}")


def test_a_mistyped_party_id_that_billit_refuses_adds_no_company_to_the_warehouse(
    server: SandboxServer, engine: sa.Engine
) -> None:
    from connectors.billit import BillitAuthError

    with pytest.raises(BillitAuthError):
        sync(server, engine, "sales", company=574999, landing_dir=None)
    assert sync(server, engine, "sales", landing_dir=None)["status"] == "succeeded"
    assert warehouse_companies(engine) == [COMPANY]


def relabel(part: Path, **metadata: bytes) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(part)
    pq.write_table(
        table.replace_schema_metadata(
            {**(table.schema.metadata or {}), **{f"billit.{key}".encode(): value for key, value in metadata.items()}}
        ),
        part,
    )


def test_replay_refuses_files_whose_metadata_or_content_lie_and_names_them(
    server: SandboxServer, engine: sa.Engine, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ours = tmp_path / "ours"
    sync(server, engine, "sales", landing_dir=str(ours))
    theirs = tmp_path / "theirs"
    sync(server, replica(tmp_path, "theirs"), "sales", company=OTHER_COMPANY, landing_dir=str(theirs))
    (their_part,) = theirs.rglob("part-*.parquet")
    relabel(their_part, party_id=str(COMPANY).encode())  # another company's orders, labelled as ours
    (our_part,) = ours.rglob("part-*.parquet")
    garbled = our_part.parent.parent / "run=garbled" / "part-00001.parquet"
    garbled.parent.mkdir()
    pq.write_table(
        pa.table({"order_json": pa.array([1, 2], pa.int64())}).replace_schema_metadata(
            {b"billit.party_id": str(COMPANY).encode(), b"billit.stream": b"sales"}
        ),
        garbled,
    )
    nonsense = our_part.parent.parent / "run=nonsense" / "part-00001.parquet"
    nonsense.parent.mkdir()
    pq.write_table(
        pq.read_table(our_part).replace_schema_metadata({b"billit.party_id": b"abc", b"billit.stream": b"sales"}),
        nonsense,
    )

    refused = [s for s in replay_landing(tmp_path, engine=engine) if s["status"] != "succeeded"]
    reasons = {summary["error"] for summary in refused}
    assert any(str(their_part.parent) in reason and "CompanyID" in reason for reason in reasons)
    assert any(str(garbled) in reason and "order_json" in reason for reason in reasons)
    assert any(str(nonsense) in reason and "not a number" in reason for reason in reasons)
    company_ids = reflect_tables(engine)["invoices"].c.company_id
    with engine.connect() as connection:
        assert set(connection.execute(sa.select(company_ids).distinct()).scalars()) == {COMPANY}


def test_replay_of_a_single_file_or_of_a_folder_without_runs_says_what_it_takes(tmp_path: Path) -> None:
    from tasks.inbound.landing import LandingError

    (tmp_path / "part-00001.parquet").write_bytes(b"")
    with pytest.raises(LandingError, match="is a file: replay takes a landing directory"):
        replay_landing(tmp_path / "part-00001.parquet", engine=replica(tmp_path))
    with pytest.raises(LandingError, match="no landed runs"):
        replay_landing(tmp_path, engine=replica(tmp_path, "other"))


def test_replay_refuses_a_run_whose_orders_are_of_the_other_direction_even_into_an_empty_warehouse(
    server: SandboxServer, engine: sa.Engine, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    moved = a_sales_run_moved_under_incoming(server, engine, landing)
    for part in moved.glob("part-*.parquet"):
        relabel(part, stream=b"incoming")
    fresh = replica(tmp_path, "fresh")
    (summary,) = replay_landing(landing, engine=fresh)
    assert summary["status"] == "failed" and "['Income'] orders, not the incoming stream's Cost" in summary["error"]
    assert warehouse_views(fresh) == ({}, set())


def test_a_long_billit_error_keeps_its_hint_and_loses_words_from_the_middle_only() -> None:
    from connectors.billit import BillitAuthError

    query = "&".join(f"%24filter{n}=LastModified+ge+datetime%272026-12-0{n % 9 + 1}T00%3A00%3A00%27" for n in range(8))
    error = BillitAuthError(
        method="GET", url=f"/v1/orders?{query}", status=401, hint="check BILLIT_API_KEY and BILLIT_PARTY_ID"
    )
    text = error_text(error)
    assert len(text) <= 300 and " … " in text
    assert text.startswith("BillitAuthError: GET /v1/orders?") and text.endswith(
        "(check BILLIT_API_KEY and BILLIT_PARTY_ID)"
    )


def test_a_long_error_loses_its_secrets_before_it_is_shortened() -> None:
    from connectors.billit import load_settings

    key = "sk-SECRETKEYVALUE1234567890-abcdef"
    settings = load_settings(api_key=key, party_id=1)
    message = f"{'x ' * 220}{key} {'y ' * 61}"  # the last 147 characters kept begin inside the key
    text = error_text(RuntimeError(message), settings)
    assert len(text) <= 300 and " … " in text and "1234567890" not in text


def test_a_client_that_cannot_be_made_fails_its_run_rather_than_leave_it_running(
    server: SandboxServer, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.inbound.sync

    def no_client(settings: object) -> None:
        raise FileNotFoundError("SSL_CERT_FILE names no file")

    monkeypatch.setattr(tasks.inbound.sync, "BillitClient", no_client)
    with pytest.raises(FileNotFoundError):
        sync(server, engine, "incoming")
    [run] = run_rows(engine)
    assert (run.status, run.requests) == ("failed", 0) and "SSL_CERT_FILE" in run.error
