"""`billit-etl vat-return` and `billit-etl vat-listing`: hand-computed grids, the 71/72 balance, the checks, XML
drafts valid against the official Intervat schemas (tests/fixtures/intervat), and one red line, never a traceback,
for every mistake and every period, empty or not. The warehouse is filled with `load_orders`, as a sync does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import sqlalchemy as sa
import xmlschema
from typer.testing import CliRunner

from cli.main import app
from connectors.warehouse import create_warehouse_engine, upgrade
from sandbox.identity import PARTY_ID, SECOND_PARTY_ID, company
from tasks import runtime
from tasks.inbound.deletions import mark_deleted
from tasks.inbound.state import NotLoaded
from tasks.inbound.warehouse import load_orders
from tests.tasks.test_vat_return import BE_PARTY, DE_PARTY, FR_PARTY, purchase, sale

SCHEMAS = Path(__file__).resolve().parents[1] / "fixtures" / "intervat"
OWN = company(PARTY_ID)
COMPANY = {
    "PartyID": PARTY_ID,
    "Name": OWN.name,
    "VATNumber": OWN.vat_number,
    "CountryCode": "BE",
    "Street": "Veldstraat",
    "StreetNumber": "3",
    "Zipcode": "9000",
    "City": "Gent",
}
runner = CliRunner()


def dated(order: dict[str, Any], day: str) -> dict[str, Any]:
    party = "Supplier" if order["OrderDirection"] == "Income" else "Customer"
    return {**order, "OrderDate": f"{day}T00:00:00", party: COMPANY}


# 2026-Q3, by hand:
#   sales 21 % 1,000.00 / 210.00 to a Belgian customer -> 03 1,000.00, 54 210.00
#   IC goods 500.00 to FR -> 46; IC services 300.00 to DE -> 44; a 40.00 credit note on IC goods to FR -> 48
#   purchase IC service 1,000.00 from DE -> 82 + 88, 55 = 59 = 210.00 (self-assessed)
#   co-contractor purchase 500.00 -> 82 + 87, 56 = 59 = 105.00 (self-assessed); purchase 100.00 / 21.00 -> 82, 59
#   owed 54 + 55 + 56 = 525.00, deductible 59 = 336.00: 71 = 189.00
Q3_ORDERS = [
    dated(sale([("4", "21", "1000.00", None)], party=BE_PARTY), "2026-07-03"),
    dated(sale([("51", "0", "500.00", None)], party=FR_PARTY), "2026-08-10"),
    dated(sale([("55", "0", "300.00", None)], party=DE_PARTY), "2026-09-30"),
    dated(sale([("51", "0", "40.00", None)], party=FR_PARTY, order_type="CreditNote"), "2026-09-01"),
    dated(purchase([("55", "0", "1000.00", None)], party=DE_PARTY), "2026-07-15"),
    dated(purchase([("21", "0", "500.00", None)], party=BE_PARTY), "2026-08-15"),
    dated(purchase([("1", "21", "100.00", None)], party=BE_PARTY), "2026-09-15"),
]
# Outside Q3: a Belgian customer whose VAT number has no BE prefix (May), and an invoice without a date.
OTHER_ORDERS = [
    dated(
        sale(
            [("4", "21", "300.00", None)],
            party={"PartyID": 9010, "Name": "Bakkerij", "VATNumber": "0417497106", "CountryCode": "BE"},
        ),
        "2026-05-10",
    ),
    {**sale([("4", "21", "50.00", None)]), "Supplier": COMPANY},
]
Q3_GRIDS = {
    "03": "1,000.00",
    "54": "210.00",
    "46": "500.00",
    "44": "300.00",
    "48": "40.00",
    "82": "1,600.00",
    "88": "1,000.00",
    "87": "500.00",
    "55": "210.00",
    "56": "105.00",
    "59": "336.00",
    "71": "189.00",
}


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    runtime._engine_for.cache_clear()
    engine = create_warehouse_engine(url)
    upgrade(engine)
    load_orders(engine, Q3_ORDERS + OTHER_ORDERS, stream="orders_test", run_id="r1", company_id=PARTY_ID)
    yield engine
    engine.dispose()
    runtime._engine_for.cache_clear()


def grid_rows(output: str) -> dict[str, str]:
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) >= 2 and cells[0].isdigit() and len(cells[0]) == 2:
            rows[cells[0]] = cells[1]
    return rows


def valid(path: Path, schema: str) -> None:
    xmlschema.XMLSchema(str(SCHEMAS / schema)).validate(str(path))


def test_the_quarter_has_the_hand_computed_grids_and_a_valid_xml_draft(warehouse: sa.Engine, tmp_path: Path) -> None:
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(tmp_path / "q3.xml")])
    assert result.exit_code == 0, result.output
    assert grid_rows(result.output) == Q3_GRIDS
    assert "CHECK" not in result.output and result.output.count(" ok ") == 7  # every check passes
    assert "1 amount(s) of orders without an invoice date, in no return" in result.output
    valid(tmp_path / "q3.xml", "NewTVA-in_v0_9.xsd")
    xml = (tmp_path / "q3.xml").read_text()
    assert '<vat:Amount GridNumber="71">189.00</vat:Amount>' in xml and "<vat:Quarter>3</vat:Quarter>" in xml


def test_a_month_holds_only_its_own_invoices(warehouse: sa.Engine) -> None:
    result = runner.invoke(app, ["vat-return", "--period", "2026-07"])
    assert result.exit_code == 0, result.output
    # 03 1,000 / 54 210; IC service purchase 1,000: 82 + 88, 55 = 59 = 210. Owed 420, deductible 210: 71 = 210.
    assert grid_rows(result.output) == {
        "03": "1,000.00",
        "54": "210.00",
        "82": "1,000.00",
        "88": "1,000.00",
        "55": "210.00",
        "59": "210.00",
        "71": "210.00",
    }


@pytest.mark.parametrize("period", ["2026-01", "2026-Q1", "1999-Q4"])
def test_an_empty_period_files_a_zero_balance(warehouse: sa.Engine, tmp_path: Path, period: str) -> None:
    result = runner.invoke(app, ["vat-return", "--period", period, "--xml", str(tmp_path / "empty.xml")])
    assert result.exit_code == 0, result.output
    assert grid_rows(result.output) == {"71": "0.00"}
    valid(tmp_path / "empty.xml", "NewTVA-in_v0_9.xsd")


def test_the_intra_community_listing_nets_credit_notes_per_customer_and_code(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["vat-listing", "ic", "--period", "2026-Q3", "--xml", str(tmp_path / "ic.xml")])
    assert result.exit_code == 0, result.output
    assert "DE      │ 129273398" in result.output and "FR      │ 40303265045" in result.output
    valid(tmp_path / "ic.xml", "NewICO-in_v0_9.xsd")
    xml = (tmp_path / "ic.xml").read_text()
    assert 'AmountSum="760.00"' in xml  # FR L 500 - 40 = 460, DE S 300


def test_an_empty_intra_community_listing_writes_no_file(warehouse: sa.Engine, tmp_path: Path) -> None:
    result = runner.invoke(app, ["vat-listing", "ic", "--period", "2026-Q1", "--xml", str(tmp_path / "ic.xml")])
    assert result.exit_code == 0, result.output
    assert "nothing to list" in result.output and not (tmp_path / "ic.xml").exists()


def test_the_annual_client_listing_holds_belgian_customers_only(warehouse: sa.Engine, tmp_path: Path) -> None:
    result = runner.invoke(app, ["vat-listing", "clients", "--year", "2026", "--xml", str(tmp_path / "lk.xml")])
    assert result.exit_code == 0, result.output
    assert "BE0477472701 │ 1,000.00 │ 210.00" in result.output
    assert "BE0417497106 │   300.00 │  63.00" in result.output  # its VAT number came without the BE prefix
    valid(tmp_path / "lk.xml", "NewLK-in_v0_9.xsd")
    empty = runner.invoke(app, ["vat-listing", "clients", "--year", "2025", "--xml", str(tmp_path / "nil.xml")])
    assert empty.exit_code == 0 and "nil listing" in empty.output
    valid(tmp_path / "nil.xml", "NewLK-in_v0_9.xsd")


def test_the_notes_are_one_line_each_when_not_a_terminal_however_narrow(
    warehouse: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.app import console

    monkeypatch.setattr(console, "width", 30)  # the CliRunner's output is no terminal: a log keeps each note whole
    result = runner.invoke(app, ["vat-return", "--period", "2030-Q1"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "no invoices dated in 2030-Q1: a nil return" in lines, result.output
    assert "2030-Q1 has not ended yet: its figures can still change" in lines, result.output


def test_a_listing_of_a_period_without_invoices_calls_itself_an_empty_listing_not_a_nil_return(
    warehouse: sa.Engine,
) -> None:
    for command in (["vat-listing", "clients", "--year", "2020"], ["vat-listing", "ic", "--period", "2020-Q1"]):
        result = runner.invoke(app, command)
        text = " ".join(result.output.split())
        assert result.exit_code == 0, result.output
        assert "no invoices dated in 2020" in text and "an empty listing" in text, result.output
        assert "nil return" not in text, result.output


@pytest.mark.parametrize("period", ["2026-13", "2026-Q5", "Q3", "2026", "last quarter", ""])
def test_a_bad_period_is_one_line(warehouse: sa.Engine, period: str) -> None:
    for command in (["vat-return"], ["vat-listing", "ic"]):
        result = runner.invoke(app, [*command, "--period", period])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2, result.output
        assert len(lines) == 1 and "--period" in lines[0] and "Traceback" not in result.output


def test_invoices_loaded_before_the_vat_return_rows_are_refused(warehouse: sa.Engine) -> None:
    with warehouse.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM vat_return_entries WHERE order_id = :id"), {"id": Q3_ORDERS[0]["OrderID"]}
        )
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "1 invoice(s) of 2026-Q3 were loaded before the warehouse kept VAT-return rows: run `billit-etl replay` "
        "of the landing first (a sync or backfill skips orders already stored)"
    ]


def test_a_failing_check_is_shown_and_fails_the_command(warehouse: sa.Engine) -> None:
    with warehouse.begin() as connection:
        connection.execute(sa.text("UPDATE vat_return_entries SET amount = 200.00 WHERE grid = '54'"))
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3"])
    assert result.exit_code == 1
    assert "CHECK" in result.output and "54 = 6 % × 01 + 12 % × 02 + 21 % × 03" in result.output


def test_a_company_without_a_belgian_vat_number_gets_no_xml(warehouse: sa.Engine, tmp_path: Path) -> None:
    with warehouse.begin() as connection:
        connection.execute(sa.text(f"UPDATE parties SET vat_number_raw = 'NL859145938B01' WHERE party_id = {PARTY_ID}"))
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(tmp_path / "q3.xml")])
    assert result.exit_code == 2
    assert "has no Belgian VAT number" in result.output and not (tmp_path / "q3.xml").exists()


def test_the_listings_refuse_a_period_loaded_before_the_vat_return_rows(warehouse: sa.Engine) -> None:
    # A warehouse upgraded from before migration 0005 would otherwise give confident nil listings.
    with warehouse.begin() as connection:
        connection.execute(sa.text("DELETE FROM vat_return_entries"))
    for command in (["vat-listing", "ic", "--period", "2026-Q3"], ["vat-listing", "clients", "--year", "2026"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "loaded before the warehouse kept VAT-return rows: run `billit-etl replay`" in result.output


def test_a_never_synced_warehouse_is_refused_not_reported_as_a_nil_return(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    engine = create_warehouse_engine(url)
    upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("WAREHOUSE_URL", url)
    runtime._engine_for.cache_clear()
    for command in (["vat-return", "--period", "2026-Q3"], ["vat-listing", "clients", "--year", "2026"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and "no company yet: run `billit-etl sync` first" in result.output


def test_an_empty_or_unfinished_period_says_so(warehouse: sa.Engine) -> None:
    result = runner.invoke(app, ["vat-return", "--period", "2030-Q1"])
    assert result.exit_code == 0
    assert "no invoices dated in 2030-Q1: a nil return" in result.output
    assert "2030-Q1 has not ended yet" in result.output


def test_the_xml_draft_is_not_written_over_a_file_unless_forced_and_keeps_its_mode(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    draft = tmp_path / "q3.xml"
    draft.write_text("previous")
    draft.chmod(0o600)
    refused = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(draft)])
    assert refused.exit_code == 2 and "exists: add --force to replace it" in refused.output
    assert draft.read_text() == "previous"
    forced = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(draft), "--force"])
    assert forced.exit_code == 0, forced.output
    valid(draft, "NewTVA-in_v0_9.xsd")
    assert draft.stat().st_mode & 0o777 == 0o600


def test_the_xml_draft_goes_through_a_symlink_and_to_stdout(warehouse: sa.Engine, tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    link = tmp_path / "link.xml"
    link.symlink_to(tmp_path / "shared" / "real.xml")
    assert runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(link)]).exit_code == 0
    assert link.is_symlink()
    valid(tmp_path / "shared" / "real.xml", "NewTVA-in_v0_9.xsd")
    to_stdout = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", "-"])
    assert to_stdout.exit_code == 0 and "<vat:VATConsignment" in to_stdout.stdout


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("nodir/x.xml", "does not exist (create it, or choose another --xml)"),
        (".", "not a regular file"),
    ],
)
def test_an_unwritable_xml_path_is_one_line(warehouse: sa.Engine, where: str, message: str) -> None:
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", where])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0]


def test_no_draft_is_written_when_a_check_fails(warehouse: sa.Engine, tmp_path: Path) -> None:
    with warehouse.begin() as connection:
        connection.execute(sa.text("UPDATE vat_return_entries SET amount = 200.00 WHERE grid = '54'"))
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(tmp_path / "q3.xml")])
    assert result.exit_code == 1
    assert "not fit for filing, so no XML draft was written" in result.output
    assert not (tmp_path / "q3.xml").exists()


def test_a_warehouse_of_two_companies_needs_company_and_gives_each_its_own_return(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    # The second company's books: the same orders under other OrderIDs, so its return has the same grids.
    theirs = [
        {**order, "OrderID": order["OrderID"] + 1_000_000, "CompanyID": SECOND_PARTY_ID}
        for order in Q3_ORDERS
        if isinstance(order.get("OrderID"), int)
    ]
    load_orders(warehouse, theirs, stream="orders_test", run_id="r2", company_id=SECOND_PARTY_ID)
    for command in (["vat-return", "--period", "2026-Q3"], ["vat-listing", "ic", "--period", "2026-Q3"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
        assert f"2 companies ({PARTY_ID}, {SECOND_PARTY_ID}): choose one with --company" in result.output
    ours = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--company", str(PARTY_ID)])
    assert ours.exit_code == 0, ours.output
    assert grid_rows(ours.output) == Q3_GRIDS
    other = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--company", str(SECOND_PARTY_ID)])
    assert other.exit_code == 0, other.output
    assert grid_rows(other.output) == Q3_GRIDS
    unknown = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--company", "574999"])
    assert unknown.exit_code == 2 and "no books of Billit company 574999" in unknown.output


def test_the_books_read_by_default_are_those_of_billit_party_id_as_for_sync_and_push(
    warehouse: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a newcomer: with BILLIT_PARTY_ID set, a warehouse of two companies still asked for --company."""
    theirs = [
        {**order, "OrderID": order["OrderID"] + 1_000_000, "CompanyID": SECOND_PARTY_ID}
        for order in Q3_ORDERS[:1]
        if isinstance(order.get("OrderID"), int)
    ]
    load_orders(warehouse, theirs, stream="orders_test", run_id="r2", company_id=SECOND_PARTY_ID)
    monkeypatch.setenv("BILLIT_PARTY_ID", str(PARTY_ID))
    ours = runner.invoke(app, ["vat-return", "--period", "2026-Q3"])
    assert ours.exit_code == 0, ours.output
    assert f"of company {PARTY_ID}" in ours.output and grid_rows(ours.output) == Q3_GRIDS
    monkeypatch.setenv("BILLIT_PARTY_ID", "574999")
    unknown = runner.invoke(app, ["vat-return", "--period", "2026-Q3"])
    assert unknown.exit_code == 2 and "no books of Billit company 574999" in unknown.output
    monkeypatch.setenv("BILLIT_PARTY_ID", "abc")
    bad = runner.invoke(app, ["vat-return", "--period", "2026-Q3"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1, bad.output
    assert "BILLIT_PARTY_ID" in bad.output and "Traceback" not in bad.output


def test_dutch_vat_stays_out_of_59_and_a_refused_sale_is_flagged(warehouse: sa.Engine) -> None:
    # 2026-04, by hand: a Dutch supplier's hosting 1,000.00 with 21 % Dutch VAT -> 82 only, its 210.00 not
    # deductible here (found by hand-computing a sandbox quarter: it went to 59); a 200.00 / 42.00 sale its
    # recipient refused -> 03 and 54 until a credit note, and said so. 71 = 42.00.
    dutch = {"PartyID": 9020, "Name": "Hosting B.V.", "VATNumber": "NL859145938B01", "CountryCode": "NL"}
    april = [
        dated(purchase([("1", "21", "1000.00", None)], party=dutch), "2026-04-08"),
        dated(sale([("4", "21", "200.00", None)], party=BE_PARTY, OrderStatus="Refused"), "2026-04-20"),
    ]
    load_orders(warehouse, april, stream="orders_test", run_id="r2", company_id=PARTY_ID)
    result = runner.invoke(app, ["vat-return", "--period", "2026-04"])
    assert result.exit_code == 0, result.output
    assert grid_rows(result.output) == {"03": "200.00", "54": "42.00", "82": "1,000.00", "71": "42.00"}
    assert "1 amount(s) in the return to review: see bi_vat_return_exceptions" in result.output
    assert "1 sales invoice(s) dated in the period were refused by their recipient" in result.output


def test_a_customer_credited_more_than_billed_is_listed_with_a_negative_turnover(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    # Found by an accountant's independent check: customers whose credit notes of the year outweigh their
    # invoices (by 250 EUR or more) were left out without a word. The listing's amounts are signed
    # (NewLK-in_v0_9.xsd, SignedAmount_Type), and Belgian practice lists them: 2025, by hand, -400.00 / -84.00.
    credited = {"PartyID": 9030, "Name": "Drukkerij", "VATNumber": "BE0203430576", "CountryCode": "BE"}
    small = {"PartyID": 9031, "Name": "Kleine", "VATNumber": "BE0403019261", "CountryCode": "BE"}
    year_2025 = [
        dated(sale([("4", "21", "100.00", None)], party=credited), "2025-02-01"),
        dated(sale([("4", "21", "500.00", None)], party=credited, order_type="CreditNote"), "2025-03-01"),
        dated(sale([("4", "21", "249.99", None)], party=small, order_type="CreditNote"), "2025-03-02"),
    ]
    load_orders(warehouse, year_2025, stream="orders_test", run_id="r3", company_id=PARTY_ID)
    result = runner.invoke(app, ["vat-listing", "clients", "--year", "2025", "--xml", str(tmp_path / "lk.xml")])
    assert result.exit_code == 0, result.output
    assert "BE0203430576 │  -400.00 │ -84.00" in result.output and "BE0403019261" not in result.output
    valid(tmp_path / "lk.xml", "NewLK-in_v0_9.xsd")
    xml = (tmp_path / "lk.xml").read_text()
    assert "TurnOver>-400.00</" in xml and "VATAmount>-84.00</" in xml
    assert 'TurnOverSum="-400.00"' in xml and 'VATAmountSum="-84.00"' in xml


def test_a_sale_made_in_billit_after_its_period_ended_is_counted(warehouse: sa.Engine) -> None:
    # Found by an accountant's independent check: a backdated sale changed a period that may be filed already,
    # without a word (purchases received late had their note).
    backdated = {**dated(sale([("4", "21", "80.00", None)], party=BE_PARTY), "2026-04-10"), "Created": "2026-06-02"}
    on_time = {**dated(sale([("4", "21", "20.00", None)], party=BE_PARTY), "2026-04-11"), "Created": "2026-04-11"}
    load_orders(warehouse, [backdated, on_time], stream="orders_test", run_id="r4", company_id=PARTY_ID)
    result = runner.invoke(app, ["vat-return", "--period", "2026-04"])
    assert result.exit_code == 0, result.output
    assert grid_rows(result.output)["03"] == "100.00"
    assert "1 sales document(s) dated in the period were made in Billit after it ended" in result.output
    assert "purchase invoice(s)" not in result.output


def test_documents_dated_before_the_period_that_reached_billit_in_it_are_counted(warehouse: sa.Engine) -> None:
    # Found by an accountant's independent check: the return of the period a late purchase invoice reaches Billit
    # in said nothing (its deduction belongs there if the earlier return was filed); nor did it of a sale
    # backdated into a filed period. 2024-01, by hand: a purchase 100.00 / 21.00 and a sale 50.00 / 10.50, both
    # made in Billit on 2024-02-05 (a draft sale alike is no document); they stay in January's grids.
    late = {"Created": "2024-02-05T09:00:00"}
    january = [
        {**dated(purchase([("1", "21", "100.00", None)], party=BE_PARTY), "2024-01-20"), **late},
        {**dated(sale([("4", "21", "50.00", None)], party=BE_PARTY), "2024-01-31"), **late},
        {**dated(sale([("4", "21", "7.00", None)], party=BE_PARTY), "2024-01-30"), **late, "OrderStatus": "Draft"},
        {**dated(sale([("4", "21", "9.00", None)], party=BE_PARTY), "2024-02-05"), **late},  # dated in February
    ]
    load_orders(warehouse, january, stream="orders_test", run_id="r8", company_id=PARTY_ID)
    february = runner.invoke(app, ["vat-return", "--period", "2024-02"])
    assert february.exit_code == 0, february.output
    assert grid_rows(february.output) == {"03": "9.00", "54": "1.89", "71": "1.89"}
    assert (
        "1 purchase invoice(s) dated before the period reached Billit in it: they are in their own period's grids; "
        "if that period is already filed, deduct them here"
    ) in february.output
    assert "1 sales document(s) dated before the period were made in Billit in it" in february.output
    january_return = runner.invoke(app, ["vat-return", "--period", "2024-01"])
    assert january_return.exit_code == 0, january_return.output
    january_grids = {"03": "50.00", "54": "10.50", "82": "100.00", "59": "21.00", "72": "10.50"}
    assert grid_rows(january_return.output) == january_grids
    assert "1 purchase invoice(s) dated in the period reached Billit after it ended" in january_return.output
    assert "dated before the period" not in january_return.output


def test_a_deleted_invoice_of_the_period_is_counted(warehouse: sa.Engine) -> None:
    # Found by an accountant's independent check: deleted issued documents left a period without a word. 2024-03, by
    # hand: of two sales of 100.00 / 21.00 one is deleted in Billit -> 03 100.00, 54 21.00, and a notice; a deleted
    # draft is no VAT document and is not counted.
    kept = dated(sale([("4", "21", "100.00", None)], party=BE_PARTY), "2024-03-04")
    gone = dated(sale([("4", "21", "100.00", None)], party=BE_PARTY), "2024-03-05")
    draft = {**dated(sale([("4", "21", "5.00", None)], party=BE_PARTY), "2024-03-06"), "OrderStatus": "Draft"}
    load_orders(warehouse, [kept, gone, draft], stream="orders_test", run_id="r9", company_id=PARTY_ID)
    deletions = [{"OrderID": order["OrderID"], "LastModified": "2024-04-02T10:00:00"} for order in (gone, draft)]
    assert mark_deleted(warehouse, deletions, run_id="d1", company_id=PARTY_ID) == 2
    result = runner.invoke(app, ["vat-return", "--period", "2024-03"])
    assert result.exit_code == 0, result.output
    assert grid_rows(result.output) == {"03": "100.00", "54": "21.00", "71": "21.00"}
    assert (
        "1 invoice(s) or credit note(s) dated in the period are deleted in Billit: not in the grids above; "
        "if the period was filed with them, correct it in the current return"
    ) in " ".join(result.output.split())


def test_ask_restitution_writes_yes_for_a_refund_and_is_refused_without_one(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    # Found by an accountant's independent check: the draft always said Ask Restitution="NO", even for a refund in
    # 72. 2024-05, by hand: a purchase of 1,000.00 / 210.00 -> 82, 59 210.00: 72 = 210.00.
    may = [dated(purchase([("1", "21", "1000.00", None)], party=BE_PARTY), "2024-05-06")]
    load_orders(warehouse, may, stream="orders_test", run_id="r10", company_id=PARTY_ID)
    asked = runner.invoke(
        app, ["vat-return", "--period", "2024-05", "--xml", str(tmp_path / "may.xml"), "--ask-restitution"]
    )
    assert asked.exit_code == 0, asked.output
    assert grid_rows(asked.output) == {"82": "1,000.00", "59": "210.00", "72": "210.00"}
    valid(tmp_path / "may.xml", "NewTVA-in_v0_9.xsd")
    assert 'Restitution="YES"' in (tmp_path / "may.xml").read_text()
    not_asked = runner.invoke(app, ["vat-return", "--period", "2024-05", "--xml", str(tmp_path / "may-no.xml")])
    assert not_asked.exit_code == 0, not_asked.output
    assert 'Restitution="NO"' in (tmp_path / "may-no.xml").read_text()  # the default
    for command in (
        ["vat-return", "--period", "2026-Q3", "--xml", str(tmp_path / "q3.xml"), "--ask-restitution"],  # 71 189.00
        ["vat-return", "--period", "2024-05", "--ask-restitution"],  # no draft to ask it in
    ):
        refused = runner.invoke(app, command)
        assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, refused.output
        assert "--ask-restitution" in refused.output
    assert not (tmp_path / "q3.xml").exists()


def test_a_sale_refused_by_its_recipients_response_is_counted_unless_credited(warehouse: sa.Engine) -> None:
    # The review asked for the response path (RE, as bi_delivery_refusals reads it) and for credited ones left out.
    refusal = [{"MessageDirection": "Incoming", "Description": "RE: rejected", "CreationDate": "2026-04-21T09:00:00"}]
    refused = {**dated(sale([("4", "21", "10.00", None)], party=BE_PARTY), "2026-04-20"), "Messages": refusal}
    credited = {**refused, "OrderID": refused["OrderID"] + 100_000, "OrderStatus": "Credited"}
    load_orders(warehouse, [refused, credited], stream="orders_test", run_id="r5", company_id=PARTY_ID)
    result = runner.invoke(app, ["vat-return", "--period", "2026-04"])
    assert result.exit_code == 0, result.output
    assert "1 sales invoice(s) dated in the period were refused by their recipient" in result.output


def test_a_draft_is_in_no_return_and_a_sale_without_exchange_rate_is_named_by_the_listings(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    # Found by an accountant's independent check. 2026-10, by hand: a draft of 777.00 / 163.17 is not issued, in no
    # grid; a 100.00 / 21.00 sale is (03, 54); a negative invoice of -50.00 / -10.50 is a correction without credit
    # note (49, 62); 71 = 21.00 - 10.50. Sales in CHF whose FXRateToForeign is 1 (no rate) are in no return: the IC
    # one (to AT) and the Belgian one were in no listing either, without a word. The client listing's 2026 for
    # BE0477472701: 1,000.00 / 210.00 (Q3) + 100.00 / 21.00 - 50.00 / 10.50 = 1,050.00 / 220.50.
    austrian = {"PartyID": 9040, "Name": "Handel GmbH", "VATNumber": "ATU12345675", "CountryCode": "AT"}
    belgian = {"PartyID": 9041, "Name": "Epsilon", "VATNumber": "BE0403019261", "CountryCode": "BE"}
    # A review found a draft counted among backdated sales (made after the period) and undated amounts.
    draft = {**dated(sale([("4", "21", "777.00", None)], party=BE_PARTY), "2026-10-05"), "Created": "2026-12-01"}
    undated_draft = {**sale([("4", "21", "5.00", None)]), "Supplier": COMPANY, "OrderStatus": "draft"}
    october = [
        {**draft, "OrderStatus": "Draft"},
        undated_draft,
        dated(sale([("4", "21", "100.00", None)], party=BE_PARTY), "2026-10-06"),
        dated(sale([("4", "21", "-50.00", None)], party=BE_PARTY), "2026-10-09"),
        dated(sale([("51", "0", "900.00", None)], party=austrian, currency="CHF", OrderNumber="V-60"), "2026-10-07"),
        dated(sale([("4", "21", "300.00", None)], party=belgian, currency="CHF", OrderNumber="V-64"), "2026-10-08"),
    ]
    load_orders(warehouse, october, stream="orders_test", run_id="r6", company_id=PARTY_ID)
    result = runner.invoke(app, ["vat-return", "--period", "2026-10"])
    assert result.exit_code == 0, result.output
    assert grid_rows(result.output) == {"03": "100.00", "54": "21.00", "49": "50.00", "62": "10.50", "71": "10.50"}
    assert "CHECK" not in result.output
    assert "3 amount(s) not in the return" in result.output  # the draft and the two CHF sales
    assert "made in Billit after it ended" not in result.output  # the draft is no backdated sale
    assert "1 amount(s) of orders without an invoice date" in result.output  # the fixture's, not the undated draft
    ic = runner.invoke(app, ["vat-listing", "ic", "--period", "2026-10"])
    assert ic.exit_code == 0, ic.output
    assert "Handel GmbH (ATU12345675), order V-60: amounts in CHF and no exchange rate" in " ".join(ic.output.split())
    clients = runner.invoke(app, ["vat-listing", "clients", "--year", "2026"])
    assert clients.exit_code == 0, clients.output
    assert "Epsilon (BE0403019261), order V-64: amounts in CHF" in " ".join(clients.output.split())
    assert "BE0477472701 │ 1,050.00 │ 220.50" in clients.output
    assert "draft" not in clients.output.lower()  # not a sale yet: nothing left out of a listing


def test_more_vat_deducted_than_21_percent_of_the_purchases_fails_a_check_and_xi_is_named_by_the_ic_listing(
    warehouse: sa.Engine,
) -> None:
    # Found by a second accountant's independent check. 2026-11, by hand: a purchase of 1,000.00 whose VAT group
    # says 2,100.00 -> 82 1,000.00, 59 2,100.00: more than 21 % of 81-83 (210.00), so the check fails (exit 1). Goods
    # sold to Northern Ireland (XI) are IC supplies (46), but the listing's schema has no XI: named, left out.
    northern_ireland = {"PartyID": 9050, "Name": "Belfast Ltd", "VATNumber": "XI980780684", "CountryCode": "GB"}
    wrong_vat = {"VentilationCode": "1", "VATPercentage": "21", "TotalVAT": "2100.00", "Mtvh": "1000.00"}
    november = [
        dated(purchase([("1", "21", "1000.00", "2100.00")], party=BE_PARTY, groups=[wrong_vat]), "2026-11-03"),
        dated(sale([("51", "0", "1400.00", None)], party=northern_ireland), "2026-11-04"),
    ]
    load_orders(warehouse, november, stream="orders_test", run_id="r7", company_id=PARTY_ID)
    result = runner.invoke(app, ["vat-return", "--period", "2026-11"])
    assert result.exit_code == 1, result.output
    assert grid_rows(result.output) == {"46": "1,400.00", "82": "1,000.00", "59": "2,100.00", "72": "2,100.00"}
    assert "59 <= 21 % × (81 + 82 + 83)" in result.output and "CHECK" in result.output
    ic = runner.invoke(app, ["vat-listing", "ic", "--period", "2026-11"])
    assert ic.exit_code == 0, ic.output
    left_out = " ".join(ic.output.split())
    assert "Belfast Ltd (XI980780684): the schema of these drafts (NewICO v0.9) has no XI" in left_out


def test_a_filed_return_shows_each_grid_that_changed_since_to_correct_in_the_current_one(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    # Found by an accountant's independent check: orders changed after their period was filed (a late purchase, a
    # deletion) changed that period's return when asked again, and nothing said so. By hand: a purchase of
    # 100.00 / 21.00 dated in Q3 loaded after Q3 was filed -> 82 1,600.00 -> 1,700.00, 59 336.00 -> 357.00, 71
    # 189.00 -> 168.00.
    filed = tmp_path / "q3.xml"
    assert runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(filed)]).exit_code == 0
    unchanged = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--filed", str(filed)])
    assert unchanged.exit_code == 0, unchanged.output
    assert f"the warehouse still gives the figures of the return filed in {filed}" in " ".join(unchanged.output.split())
    late = dated(purchase([("1", "21", "100.00", None)], party=BE_PARTY), "2026-09-20")
    load_orders(warehouse, [late], stream="orders_test", run_id="r10", company_id=PARTY_ID)
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--filed", str(filed)])
    assert result.exit_code == 0, result.output
    changes = {
        cells[0]: cells[1:]
        for line in result.output.split("Changed since")[1].splitlines()
        if len(cells := [cell.strip() for cell in line.strip("│ ").split("│")]) == 4 and cells[0].isdigit()
    }
    assert changes == {
        "59": ["336.00", "357.00", "+21.00"],
        "71": ["189.00", "168.00", "-21.00"],
        "82": ["1,600.00", "1,700.00", "+100.00"],
    }
    assert "3 grid(s) changed since the return filed in" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read --filed"),
        (b"not xml", "not an XML document"),
        (b"<a/>", "not an Intervat VAT return"),
    ],
)
def test_a_filed_return_that_cannot_be_read_is_one_line(
    warehouse: sa.Engine, tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "filed.xml"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--filed", str(path)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_the_filed_return_of_another_period_is_refused(warehouse: sa.Engine, tmp_path: Path) -> None:
    filed = tmp_path / "q2.xml"
    assert runner.invoke(app, ["vat-return", "--period", "2026-Q2", "--xml", str(filed)]).exit_code == 0
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--filed", str(filed)])
    assert result.exit_code == 2 and "is the return of 2026-Q2, not of 2026-Q3" in " ".join(result.output.split())


def test_an_order_of_the_period_that_is_not_loaded_makes_the_return_unfit_for_filing(
    warehouse: sa.Engine, tmp_path: Path
) -> None:
    # From an outside accountant: a sale of the period the sync quarantined ("21,00") was missing from the return,
    # which said only that some order of "any period" was not loaded, exited 0 and wrote its draft.
    unreadable = dated(sale([("4", "21", "250.00", None)], party=BE_PARTY), "2026-08-07")
    unreadable["OrderLines"][0]["VATPercentage"] = unreadable["VatGroups"][0]["VATPercentage"] = "21,00"
    load_orders(warehouse, [unreadable], stream="orders_test", run_id="r2", company_id=PARTY_ID)
    draft = tmp_path / "q3.xml"
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(draft)])
    assert result.exit_code == 1 and not draft.exists()
    assert grid_rows(result.output) == Q3_GRIDS  # the figures without it, and said so
    text = " ".join(result.output.split())
    assert "1 invoice(s) or credit note(s) dated in 2026-Q3 are listed by Billit but not loaded" in text
    assert "1 invoice(s) or credit note(s) dated in 2026-Q3 are not loaded: the return is not fit for filing" in text
    assert "so no XML draft was written" in text
    forced = runner.invoke(app, ["vat-return", "--period", "2026-Q3", "--xml", str(draft), "--force"])
    assert forced.exit_code == 1 and draft.exists()
    # Another period's return is complete: a note only.
    other = runner.invoke(app, ["vat-return", "--period", "2026-05"])
    assert other.exit_code == 0, other.output
    assert "1 order(s) dated in other periods than 2026-05 are listed by Billit but not loaded" in " ".join(
        other.output.split()
    )


def test_a_listed_order_of_unknown_date_that_is_not_loaded_is_a_note_in_every_return(warehouse: sa.Engine) -> None:
    # Nothing of a detail that answered 404 is kept, so its date is unknown. Made unfit for filing, every period's
    # return would stay so for good (a review of the first rule): a note in each says it may be that period's.
    gone = NotLoaded(990_002, "2026-09-01T10:00:00", "the order's detail answered 404")
    load_orders(warehouse, [], stream="orders_test", run_id="r2", company_id=PARTY_ID, not_loaded=[gone])
    for period in ("2026-Q3", "2026-05"):
        result = runner.invoke(app, ["vat-return", "--period", period])
        text = " ".join(result.output.split())
        assert result.exit_code == 0, result.output
        assert "1 order(s) listed by Billit are not loaded and their date is unknown" in text
        assert f"they may be {period}'s" in text
    listing = runner.invoke(app, ["vat-listing", "ic", "--period", "2026-Q3"])
    assert listing.exit_code == 0 and "their date is unknown" in " ".join(listing.output.split())


def test_an_offer_that_is_not_loaded_is_in_no_count_of_the_return(warehouse: sa.Engine) -> None:
    # A review found every pending order counted, offers too, which are in no return: an offer of the period
    # quarantined whole made the return unfit for filing.
    offer = {**dated(sale([("4", "21", "250.00", None)], party=BE_PARTY), "2026-08-07"), "OrderType": "Offer"}
    offer["OrderLines"][0]["VATPercentage"] = offer["VatGroups"][0]["VATPercentage"] = "21,00"
    load_orders(warehouse, [offer], stream="orders_test", run_id="r2", company_id=PARTY_ID)
    result = runner.invoke(app, ["vat-return", "--period", "2026-Q3"])
    assert result.exit_code == 0, result.output
    assert "not loaded" not in result.output


def test_an_xml_draft_on_stdout_is_the_whole_of_stdout_notes_included(warehouse: sa.Engine) -> None:
    # Found from the outside: the notes under the tables ("a nil return", "has not ended yet", counts to review)
    # went to stdout after the draft, so `--xml - > return.xml` was not XML ("junk after document element").
    for command, label in (
        (["vat-return", "--period", "2026-12"], "2026-12"),
        (["vat-listing", "clients", "--year", "2025"], "2025"),
    ):
        result = runner.invoke(app, [*command, "--xml", "-"])
        assert result.exit_code == 0, result.output
        assert f"no invoices dated in {label}" in result.stderr  # a note was printed, on stderr
        ElementTree.fromstring(result.stdout)  # noqa: S314 - our own draft
