"""Every company a key reaches: `billit-etl companies`, `--companies all|ID,...` on sync and backfill (the plain
path), and the choice's parsing and checks, against a sandbox hosting four companies (the last with API access off).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from connectors.billit import BillitProtocolError
from connectors.billit.account import API_OFF_REASON, NOT_REACHED_REASON, BillitCompany, reachable_companies
from sandbox.identity import API_KEY, PARTY_ID, SECOND_PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks import runtime
from tasks.companies import (
    CompanyChoiceError,
    list_companies,
    parse_companies,
    select_companies,
    sync_companies,
    sync_company_streams,
)
from tests.tasks.sync_helpers import SEED_START

runner = CliRunner()
THIRD, API_OFF = SECOND_PARTY_ID + 1, SECOND_PARTY_ID + 2  # generated after the two declared companies


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=13, companies=4, orders_per_company=120, seed_start=SEED_START)) as running:
        yield running


@pytest.fixture
def billit_env(server: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    monkeypatch.setenv("BILLIT_BASE_URL", server.base_url)
    monkeypatch.setenv("BILLIT_API_KEY", API_KEY)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    return url


def truth(sandbox: Sandbox, company_id: int) -> dict[int, tuple[str, str, Decimal]]:
    return {
        order_id: (order["OrderDirection"], order["OrderNumber"], order["TotalIncl"])
        for order_id, order in sandbox.company_orders(company_id).items()
    }


def requests_since(server: SandboxServer, company: int, before: dict[int, int]) -> dict[int, int]:
    """The requests for `company` since `before` (its counts per status then), per status."""
    now = server.sandbox.requests_per_company.get(str(company), {})
    return {status: count - before.get(status, 0) for status, count in now.items() if count != before.get(status, 0)}


def loaded(url: str) -> dict[int, dict[int, tuple[str, str, Decimal]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("select company_id, order_id, direction, order_number, total_incl from invoices")
            ).all()
    finally:
        engine.dispose()
    books: dict[int, dict[int, tuple[str, str, Decimal]]] = {}
    for company_id, order_id, direction, number, total in rows:
        books.setdefault(company_id, {})[order_id] = (direction, number, Decimal(str(total)))
    return books


# ---- the choice -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "choice"),
    [
        (None, None),
        ("", None),
        ("all", "all"),
        (" ALL ", "all"),
        ("574991", [574991]),
        ("574991, 574992,574991", [574991, 574992]),
        ([574992, "574991"], [574992, 574991]),
    ],
)
def test_a_companies_choice_is_all_or_party_ids_in_the_order_given(value: object, choice: object) -> None:
    assert parse_companies(value) == choice  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["x", "574991,abc", "0", "-3", "all,574991", ",", []])
def test_a_malformed_companies_choice_is_refused_by_name(value: object) -> None:
    with pytest.raises(CompanyChoiceError, match="companies"):
        parse_companies(value)  # type: ignore[arg-type]


def test_all_skips_the_companies_with_api_access_off_and_named_ones_fail_by_name() -> None:
    on, off = BillitCompany(1, "On BV", "BE0000000097", True), BillitCompany(2, "Off BV", None, False)
    everything = select_companies("all", [on, off])
    assert everything.chosen == [on] and everything.skipped == [(off, API_OFF_REASON)]
    assert select_companies([2, 1], [on, off]).chosen == [off, on]  # named: run, and fail by name
    # Named but not reached (a typo, or access revoked since a deployment named it): chosen too, to fail alone.
    chosen = select_companies([1, 3], [on, off]).chosen
    assert chosen[0] == on and chosen[1].party_id == 3 and chosen[1].unavailable == NOT_REACHED_REASON


def test_account_information_is_read_as_typed_companies_and_a_body_without_them_is_refused() -> None:
    body = {
        "Companies": [
            {"PartyID": 7, "CommercialName": "Seven", "APIAllowed": False},
            {"PartyID": 5, "Name": "Five", "VATNumber": "BE0765432146"},
        ]
    }
    assert reachable_companies(body) == [
        BillitCompany(5, "Five", "BE0765432146", True),
        BillitCompany(7, "Seven", None, False),
    ]
    # The envelope's member is not written down anywhere: the list alone is read too (an outside simulator's).
    assert reachable_companies(body["Companies"]) == reachable_companies(body)
    for bad in ({}, {"Companies": {}}, {"Companies": [{"PartyID": "5"}]}, {"Companies": [{"PartyID": True}]}, None, 5):
        with pytest.raises(BillitProtocolError, match="accountInformation"):
            reachable_companies(bad)


def test_the_sandbox_companies_are_listed_with_name_vat_number_and_api_access(
    server: SandboxServer, billit_env: str
) -> None:
    companies = list_companies()
    assert [company.party_id for company in companies] == [PARTY_ID, SECOND_PARTY_ID, THIRD, API_OFF]
    assert [company.api_allowed for company in companies] == [True, True, True, False]
    for company in companies:
        own = server.sandbox.companies[company.party_id]
        assert (company.name, company.vat_number) == (own["Name"], own["VATNumber"])


def test_one_company_failing_keeps_its_error_and_the_others_run() -> None:
    companies = [BillitCompany(party_id, f"C{party_id}", None, True) for party_id in (1, 2, 3)]

    def sync(company: BillitCompany) -> list[dict[str, object]]:
        if company.party_id == 2:
            raise RuntimeError("persistent 503")
        return [{"stream": "incoming", "company": company.party_id}]

    outcomes = sync_companies(companies, sync)
    assert [(o.company.party_id, o.summaries, o.error) for o in outcomes] == [
        (1, [{"stream": "incoming", "company": 1}], None),
        (2, [], "RuntimeError: persistent 503"),
        (3, [{"stream": "incoming", "company": 3}], None),
    ]


def test_streams_of_companies_run_side_by_side_and_a_failing_stream_fails_its_company_alone() -> None:
    companies = [BillitCompany(party_id, f"C{party_id}", None, True) for party_id in (1, 2, 3)]
    together = threading.Barrier(2, timeout=10)  # passes only when company 1's two streams run at the same time

    def sync_stream(company: BillitCompany, stream: str, stop: threading.Event) -> dict[str, object]:
        if company.party_id == 1:
            together.wait()
        if (company.party_id, stream) == (2, "sales"):
            raise RuntimeError("persistent 503")
        return {"stream": stream, "company": company.party_id}

    outcomes = sync_company_streams(companies, ["incoming", "sales"], sync_stream, at_once=2)
    assert [(o.company.party_id, o.summaries, o.error) for o in outcomes] == [
        (1, [{"stream": "incoming", "company": 1}, {"stream": "sales", "company": 1}], None),
        # The failed stream has its row in the outcome table, beside the one that loaded.
        (
            2,
            [{"stream": "incoming", "company": 2}, {"stream": "sales", "status": "failed"}],
            "sales: RuntimeError: persistent 503",
        ),
        (3, [{"stream": "incoming", "company": 3}, {"stream": "sales", "company": 3}], None),
    ]


# ---- the command line -----------------------------------------------------------------------------------


def test_the_companies_command_lists_every_company_the_key_reaches(server: SandboxServer, billit_env: str) -> None:
    result = runner.invoke(app, ["companies"])
    assert result.exit_code == 0, result.output
    for party_id in (PARTY_ID, SECOND_PARTY_ID, THIRD, API_OFF):
        company = server.sandbox.companies[party_id]
        line = next(line for line in result.output.splitlines() if f" {party_id} " in line)
        assert company["Name"] in line and company["VATNumber"] in line
        assert line.split("│")[-2].strip() == ("no" if party_id == API_OFF else "yes")
    assert "4 companies, 1 with API access off" in result.output
    assert API_KEY not in result.output


def test_the_companies_command_with_a_wrong_key_is_one_line_without_the_key(
    billit_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLIT_API_KEY", "not-the-key-0123456789")
    result = runner.invoke(app, ["companies"])
    assert result.exit_code == 1
    assert result.output.startswith("Billit: GET /v1/account/accountInformation -> HTTP 401")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert "not-the-key-0123456789" not in result.output


def test_the_companies_command_when_billit_is_unreachable_is_one_line(
    billit_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLIT_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("BILLIT_MAX_RETRIES", "0")
    result = runner.invoke(app, ["companies"])
    assert result.exit_code == 1
    assert result.output.startswith("Billit: GET /v1/account/accountInformation: ConnectError")
    assert len(result.output.strip().splitlines()) == 1


def test_sync_companies_all_loads_every_company_with_api_access_and_reports_the_one_skipped(
    server: SandboxServer, billit_env: str
) -> None:
    result = runner.invoke(app, ["sync", "all", "--companies", "all", "--no-prefect", "--landing-dir", ""])
    assert result.exit_code == 0, result.output
    assert f"skipped company {API_OFF}" in result.output and "APIAllowed false" in result.output
    books = loaded(billit_env)
    assert sorted(books) == [PARTY_ID, SECOND_PARTY_ID, THIRD]
    for company_id, orders in books.items():
        assert orders == truth(server.sandbox, company_id), company_id
    assert len(books[THIRD]) == 120
    engine = sa.create_engine(billit_env)
    with engine.connect() as connection:
        recorded = connection.execute(
            sa.text("select company_id, name, vat_number, api_allowed from companies order by company_id")
        ).all()
    engine.dispose()
    assert [(row[0], row[1], row[2], bool(row[3])) for row in recorded] == [
        (party_id, own["Name"], own["VATNumber"], party_id != API_OFF)
        for party_id, own in sorted(server.sandbox.companies.items())
    ]


def test_a_company_whose_api_flag_gates_nothing_is_synced_by_all_and_by_name(
    server: SandboxServer, billit_env: str
) -> None:
    """What APIAllowed false gates is our inference; where Billit serves such a company all the same (the sandbox's
    `api_off_status=200`), `--companies all` skipped it for good and naming it failed it without a request: its
    books never loaded. Each such company is now asked for one order first."""
    server.sandbox.quirks.merge({"api_off_status": 200})
    try:
        listed = runner.invoke(app, ["companies"])
        assert listed.exit_code == 0 and "no, yet Billit answers" in listed.output, listed.output
        result = runner.invoke(app, ["sync", "all", "--companies", "all", "--no-prefect", "--landing-dir", ""])
        assert result.exit_code == 0, result.output
        assert "skipped company" not in result.output
        books = loaded(billit_env)
        assert sorted(books) == [PARTY_ID, SECOND_PARTY_ID, THIRD, API_OFF]
        assert books[API_OFF] == truth(server.sandbox, API_OFF) and len(books[API_OFF]) == 120
        named = runner.invoke(
            app, ["sync", "incoming", "--companies", str(API_OFF), "--no-prefect", "--landing-dir", ""]
        )
        assert named.exit_code == 0, named.output
    finally:
        server.sandbox.quirks.merge({"api_off_status": 401})


def test_a_company_named_with_api_access_off_fails_alone_after_the_others_are_loaded(
    server: SandboxServer, billit_env: str
) -> None:
    before = dict(server.sandbox.requests_per_company.get(str(API_OFF), {}))
    result = runner.invoke(app, ["sync", "--companies", f"{API_OFF},{THIRD}", "--no-prefect", "--landing-dir", ""])
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if "failed:" in line]
    assert len(failures) == 1 and failures[0].startswith(f"company {API_OFF} (")
    # The reason is its API access, which accountInformation told, not a 401 that reads as a wrong key.
    assert "APIAllowed false" in failures[0] and "401" not in failures[0] and API_KEY not in result.output
    # One request for it, refused: the question whether its flag gates the API (`connectors.billit.account`).
    assert requests_since(server, API_OFF, before) == {401: 1}
    assert loaded(billit_env) == {THIRD: truth(server.sandbox, THIRD)}


@pytest.mark.parametrize(
    ("company", "reason"),
    [(API_OFF, f"Billit company {API_OFF} ("), (999, "the API key does not reach Billit company 999")],
)
def test_a_configured_company_billit_refuses_fails_in_one_line_with_the_reason_not_the_key(
    billit_env: str, monkeypatch: pytest.MonkeyPatch, company: int, reason: str
) -> None:
    # Billit's empty 401 for the company reads as a wrong key; accountInformation, asked after it, says why.
    monkeypatch.setenv("BILLIT_PARTY_ID", str(company))
    result = runner.invoke(app, ["sync", "incoming", "--no-prefect", "--landing-dir", ""])
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("Billit: ") and "HTTP 401" in line and reason in line
    assert "check BILLIT_API_KEY" not in line and (company != API_OFF or "APIAllowed false" in line)
    engine = sa.create_engine(billit_env)
    with engine.connect() as connection:
        [(status, requests, error)] = connection.execute(sa.text("select status, requests, error from sync_runs"))
    engine.dispose()
    assert status == "failed" and requests >= 1 and reason in error  # the run is recorded with the reason


@pytest.mark.parametrize(
    ("company", "reason"),
    [(API_OFF, f"Billit company {API_OFF} ("), (999, "the API key does not reach Billit company 999")],
)
def test_a_prefect_sync_of_a_company_billit_refuses_is_one_line_before_its_flow_starts(
    server: SandboxServer, billit_env: str, monkeypatch: pytest.MonkeyPatch, company: int, reason: str
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # nobody: a flow started would fail on it
    monkeypatch.setenv("BILLIT_PARTY_ID", str(company))
    before = dict(server.sandbox.requests_per_company.get(str(company), {}))
    result = runner.invoke(app, ["sync", "all", "--prefect", "--landing-dir", ""])
    assert result.exit_code == 1, result.output  # as the plain path's refused run, and doctor
    [line] = result.output.strip().splitlines()
    assert line.startswith("Billit: ") and reason in line and (company != API_OFF or "APIAllowed false" in line)
    assert requests_since(server, company, before) == ({401: 1} if company == API_OFF else {}), (
        line
    )  # the refused probe


def test_a_wrong_key_stops_a_prefect_sync_before_its_flow_starts(
    billit_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Prefect server that is not there: a flow started at all would fail on it, not on the key.
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    monkeypatch.setenv("BILLIT_API_KEY", "not-the-key-0123456789")
    result = runner.invoke(app, ["backfill", "--since", "2026-01-01", "--prefect", "--landing-dir", ""])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Billit: GET /v1/account/accountInformation -> HTTP 401")
    assert len(result.output.strip().splitlines()) == 1 and "not-the-key-0123456789" not in result.output


def test_an_empty_companies_option_means_the_configured_company(
    billit_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLIT_PARTY_ID")
    result = runner.invoke(app, ["sync", "--companies", " ", "--no-prefect"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("no Billit company to act for: set BILLIT_PARTY_ID")


def test_a_named_company_the_key_does_not_reach_fails_alone_and_the_others_load(
    server: SandboxServer, billit_env: str
) -> None:
    # Found by an independent check: one id the key does not reach (a typo, or an accountant's access revoked since
    # a deployment named it) stopped the whole run, and the other companies were not loaded.
    before = dict(server.sandbox.requests_per_company.get("999", {}))
    result = runner.invoke(app, ["sync", "--companies", f"{THIRD},999", "--no-prefect", "--landing-dir", ""])
    assert result.exit_code == 1, result.output
    failures = [line for line in result.output.splitlines() if line.startswith("company ")]
    assert failures == [f"company 999 failed: {NOT_REACHED_REASON}"]
    assert loaded(billit_env) == {THIRD: truth(server.sandbox, THIRD)}
    assert server.sandbox.requests_per_company.get("999", {}) == before  # not one request for it


def test_a_malformed_companies_option_is_one_line(billit_env: str) -> None:
    result = runner.invoke(app, ["backfill", "--since", "2026-01-01", "--companies", "574991;574992"])
    assert result.exit_code == 2
    assert result.output.startswith("companies: '574991;574992' is not a PartyID")


def test_a_backfill_of_two_companies_loads_each_one_s_window(server: SandboxServer, billit_env: str) -> None:
    stamps = sorted(order["LastModified"] for order in server.sandbox.company_orders(THIRD).values())
    since = stamps[len(stamps) // 2].replace(second=0, microsecond=0)
    result = runner.invoke(
        app,
        [
            "backfill",
            "--since",
            since.isoformat(),
            "--companies",
            f"{SECOND_PARTY_ID},{THIRD}",
            "--no-prefect",
            "--landing-dir",
            "",
        ],
    )
    assert result.exit_code == 0, result.output
    books = loaded(billit_env)
    for company_id in (SECOND_PARTY_ID, THIRD):
        expected = {
            order_id: row
            for order_id, row in truth(server.sandbox, company_id).items()
            if server.sandbox.orders[order_id]["LastModified"] >= since
        }
        assert expected and books[company_id] == expected


@pytest.mark.parametrize("companies", [[], ["--companies", "all"]])
def test_a_prefect_server_that_does_not_answer_is_one_line_naming_prefect_api_url_not_one_per_company(
    billit_env: str, tmp_path: Path, companies: list[str]
) -> None:
    # The installed command in a process of its own: Prefect keeps the server of the first flow a process runs.
    env = os.environ | {"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_HOME": str(tmp_path / "prefect")}
    billit_etl = Path(sys.executable).parent / "billit-etl"
    done = subprocess.run(
        [str(billit_etl), "sync", "all", "--prefect", "--landing-dir", "", *companies],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    *skipped, line = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert (
        all(note.startswith(f"skipped company {API_OFF} ") for note in skipped) and len(skipped) == len(companies) // 2
    )
    assert line == (
        "Failed to reach API at http://127.0.0.1:9/api/: is the Prefect server running? Check PREFECT_API_URL, or "
        "run with --no-prefect"
    )
