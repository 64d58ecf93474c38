"""Companies as a dimension of the warehouse (issue 13): two companies in one warehouse, synced one after the
other or at the same time in two processes, each equal to the sandbox's truth; an existing single-company warehouse
upgraded without a resync; outbound rows pushed with their own company's PartyID. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.warehouse import reflect_tables, upgrade
from connectors.warehouse import views as views_module
from connectors.warehouse.migrations import MIGRATIONS_DIR
from sandbox.identity import API_KEY, PARTY_ID, SECOND_PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound.warehouse import read_watermark, record_companies, warehouse_companies
from tasks.status import warehouse_status
from tests.connectors.warehouse import Warehouse
from tests.tasks.push_helpers import insert, outbound, push, stored
from tests.tasks.sync_helpers import SEED_START, assert_warehouse_matches_billit, sync

STREAMS = ("incoming", "sales")
# Every table that holds a company's data carries company_id (docs/warehouse.md#companies).
COMPANY_TABLES = (
    "invoices",
    "invoice_lines",
    "invoice_vat_groups",
    "invoice_messages",
    "invoice_status_history",
    "vat_return_entries",
    "vat_return_exceptions",
    "parties",
    "party_identifiers",
    "quarantine",
    "pending_orders",
    "sync_state",
    "sync_runs",
)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=13, orders=150, delivery_delay_s=0.05, seed_start=SEED_START)) as running:
        yield running


def companies_of(engine: sa.Engine, table: str) -> set[int | None]:
    column = reflect_tables(engine)[table].c.company_id
    with engine.connect() as connection:
        return set(connection.execute(sa.select(column).distinct()).scalars())


def test_two_companies_synced_one_after_the_other_each_hold_their_own_books(
    server: SandboxServer, engine: sa.Engine
) -> None:
    for company in (PARTY_ID, SECOND_PARTY_ID):
        for stream in STREAMS:
            assert sync(server, engine, stream, company=company)["status"] == "succeeded"
    for company in (PARTY_ID, SECOND_PARTY_ID):
        assert_warehouse_matches_billit(server, engine, company)
        assert {read_watermark(engine, stream, company_id=company) is not None for stream in STREAMS} == {True}
    for table in ("invoices", "invoice_lines", "parties", "party_identifiers", "sync_state", "sync_runs"):
        assert companies_of(engine, table) == {PARTY_ID, SECOND_PARTY_ID}, table
    # Each company is a party of its own books; in a group the other may be one too, as that company's record.
    parties = reflect_tables(engine)["parties"]
    with engine.connect() as connection:
        own = connection.execute(
            sa.select(parties.c.company_id, parties.c.party_id).where(parties.c.party_id == parties.c.company_id)
        ).all()
    assert sorted(own) == [(PARTY_ID, PARTY_ID), (SECOND_PARTY_ID, SECOND_PARTY_ID)]
    assert warehouse_companies(engine) == [PARTY_ID, SECOND_PARTY_ID]
    # `billit-etl status` tells the companies apart: one watermark per (company, stream), runs by company.
    report = warehouse_status(engine)
    assert [(row["company"], row["stream"]) for row in report["Watermarks"]] == [
        (company, stream) for company in (PARTY_ID, SECOND_PARTY_ID) for stream in STREAMS
    ]
    assert {row["company"] for row in report["Last runs"]} == {PARTY_ID, SECOND_PARTY_ID}


def test_two_companies_synced_at_the_same_time_in_two_processes_each_hold_their_own_books(
    server: SandboxServer, engine: sa.Engine, warehouse: Warehouse
) -> None:
    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys; from connectors.warehouse import create_warehouse_engine\n"
        "from tasks.inbound.sync import run_stream\n"
        "engine = create_warehouse_engine(sys.argv[1], schema=sys.argv[2] or None)\n"
        "for stream in ('incoming', 'sales'):\n"
        "    run_stream(stream, engine=engine, landing_dir=None, base_url=sys.argv[3], "
        f"api_key={API_KEY!r}, party_id=int(sys.argv[4]), max_concurrency=4)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, warehouse.url, warehouse.schema or "", server.base_url, str(company)],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        for company in (PARTY_ID, SECOND_PARTY_ID)
    ]
    assert [process.wait(timeout=300) for process in processes] == [0, 0]
    for company in (PARTY_ID, SECOND_PARTY_ID):
        assert_warehouse_matches_billit(server, engine, company)
    runs = reflect_tables(engine)["sync_runs"]
    with engine.connect() as connection:
        assert connection.execute(
            sa.select(runs.c.company_id, runs.c.status, sa.func.count())
            .group_by(runs.c.company_id, runs.c.status)
            .order_by(runs.c.company_id)
        ).all() == [(PARTY_ID, "succeeded", 2), (SECOND_PARTY_ID, "succeeded", 2)]


def test_record_companies_names_them_and_keeps_one_no_longer_listed(engine: sa.Engine) -> None:
    listed = [
        {"PartyID": PARTY_ID, "Name": "Demo BV", "VATNumber": "BE0765432146", "APIAllowed": True},
        {"PartyID": SECOND_PARTY_ID, "Name": "Atelier Zoë SRL", "VATNumber": "BE0812345603", "APIAllowed": False},
    ]
    assert record_companies(engine, listed) == 2
    assert record_companies(engine, [{**listed[0], "Name": "Demo BV (renamed)"}]) == 1
    companies = reflect_tables(engine)["companies"]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(companies.c.company_id, companies.c.name, companies.c.api_allowed).order_by("company_id")
        ).all()
    assert [tuple(row) for row in rows] == [
        (PARTY_ID, "Demo BV (renamed)", True),
        (SECOND_PARTY_ID, "Atelier Zoë SRL", False),
    ]


def test_an_existing_single_company_warehouse_upgrades_and_carries_on_incrementally(
    server: SandboxServer, warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse at migration 0006 (one company, per-stream watermarks) holding a full sync of company PARTY_ID:
    the upgrade gives every row its company, and the next incremental sync makes only its quiet requests."""
    previous = tmp_path / "migrations_0006"
    previous.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if path.name[:4] <= "0006":
            (previous / path.name).write_text(path.read_text())
    synced = Warehouse("sqlite", f"sqlite:///{tmp_path / 'synced.sqlite'}").engine()
    # The views of a warehouse at 0006 read the tables 0007 rebuilds on SQLite (a rename rewrites them).
    old_views = tmp_path / "views_0006"
    old_views.mkdir()
    (old_views / "bi_old_overview.sql").write_text(
        "CREATE VIEW bi_old_overview AS SELECT q.stream, count(*) AS n FROM quarantine AS q "
        "JOIN sync_state AS s ON s.stream = q.stream JOIN pending_orders AS o ON o.stream = q.stream "
        "JOIN parties AS p ON p.party_id = q.order_id JOIN party_identifiers AS i ON i.party_id = p.party_id "
        "GROUP BY q.stream;\n"
    )
    engine = warehouse.engine()
    try:
        upgrade(synced)
        for stream in STREAMS:
            sync(server, synced, stream)
        monkeypatch.setattr(views_module, "VIEWS_DIR", old_views)
        upgrade(engine, directory=previous)
        monkeypatch.undo()
        _copy_back_to_0006(synced, engine)
        with engine.connect() as connection:
            assert "company_id" not in {column["name"] for column in sa.inspect(connection).get_columns("sync_state")}

        upgrade(engine)  # 0007
        for table in COMPANY_TABLES:
            assert companies_of(engine, table) <= {PARTY_ID}, table
        for table in ("invoices", "invoice_lines", "parties", "party_identifiers", "sync_state", "sync_runs"):
            assert companies_of(engine, table) == {PARTY_ID}, table
        assert warehouse_companies(engine) == [PARTY_ID]
        for stream in STREAMS:
            assert read_watermark(engine, stream, company_id=PARTY_ID) == read_watermark(
                synced, stream, company_id=PARTY_ID
            )
        before = server.sandbox.stats()["requests"]
        for stream in STREAMS:
            again = sync(server, engine, stream)
            assert again["quiet"] and again["orders_new"] == again["orders_changed"] == 0, again
        after = server.sandbox.stats()["requests"]
        assert {route for route in after if after[route] != before.get(route)} <= {
            "GET /v1/orders",
            "GET /v1/orders/deleted",
        }
        assert_warehouse_matches_billit(server, engine, PARTY_ID)
    finally:
        synced.dispose()
        engine.dispose()


def _copy_back_to_0006(synced: sa.Engine, old: sa.Engine) -> None:
    """The synced rows in the 0006 tables, as the single-company code left them: no company_id but the orders'
    own (NULL on some, as before migration 0004), sync_runs.party_id, the company in warehouse_companies."""
    source = reflect_tables(synced)
    target = sa.MetaData()
    target.reflect(bind=old)
    with synced.connect() as reading, old.begin() as writing:
        for table in target.sorted_tables:
            if table.name == "warehouse_companies":
                writing.execute(table.insert().values(party_id=PARTY_ID))
                continue
            if table.name not in source or table.name == "schema_migrations":
                continue
            renamed = {"party_id": "company_id"} if table.name == "sync_runs" else {}
            columns = [source[table.name].c[renamed.get(c.name, c.name)].label(c.name) for c in table.columns]
            rows = [dict(row._mapping) for row in reading.execute(sa.select(*columns))]
            if table.name == "invoices":
                for row in rows[::2]:
                    row["company_id"] = None
            if rows:
                writing.execute(table.insert(), rows)


def test_each_outbound_row_is_created_in_the_books_of_its_own_company(server: SandboxServer, engine: sa.Engine) -> None:
    tag = engine.dialect.name  # the sandbox is shared by both dialects' runs
    server.sandbox.register_participant("9925:BE0412345614")  # the customer of every row below (number % 4 == 0)
    insert(
        engine,
        [
            outbound(f"CO-{tag}-OURS-0"),  # no company: the configured one
            outbound(f"CO-{tag}-THEIRS-4", company_id=SECOND_PARTY_ID),
            outbound(f"CO-{tag}-OURS-8", company_id=PARTY_ID),
            outbound(f"CO-{tag}-THEIRS-12", company_id=SECOND_PARTY_ID),
        ],
    )
    summary = push(server, engine, send=True, check_participants=False)
    assert (summary.created, summary.sent) == (4, 4), summary
    rows = stored(engine)
    with server.sandbox.lock:
        books = {
            company: {
                order["ExternalProviderID"]: order_id
                for order_id, order in server.sandbox.company_orders(company).items()
                if "ExternalProviderID" in order
            }
            for company in (PARTY_ID, SECOND_PARTY_ID)
        }
    ours = {key for key in books[PARTY_ID] if key.startswith(f"CO-{tag}-")}
    theirs = {key for key in books[SECOND_PARTY_ID] if key.startswith(f"CO-{tag}-")}
    assert ours == {f"CO-{tag}-OURS-0", f"CO-{tag}-OURS-8"}
    assert theirs == {f"CO-{tag}-THEIRS-4", f"CO-{tag}-THEIRS-12"}
    for external_id, row in rows.items():
        company = SECOND_PARTY_ID if "THEIRS" in external_id else PARTY_ID
        assert row.company_id == company and row.status == "sent", (external_id, row.status, row.last_error)
        assert row.billit_order_id == books[company][external_id]
