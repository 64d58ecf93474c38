"""Bad outbound CSV files end in one line naming the file (and line and column), and load nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.warehouse import reflect_tables
from tasks.outbound_files import OutboundFileError, load_outbound_csv

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def copy_with(tmp_path: Path, name: str, edit: object) -> Path:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    path = tmp_path / name
    if isinstance(edit, bytes):
        path.write_bytes(edit)
    else:
        path.write_text(edit(text) if callable(edit) else text, encoding="utf-8")  # type: ignore[operator]
    return path


def first_line_cell(text: str, column: str, value: str) -> str:
    header, first, *rest = text.splitlines()
    cells = first.split(",")
    cells[header.split(",").index(column)] = value
    return "\n".join([header, ",".join(cells), *rest]) + "\n"


@pytest.mark.parametrize(("file", "edit", "message"), [
    ("outbound_invoice_lines.csv", lambda t: first_line_cell(t, "unit_price_excl", "Infinity"),
     ":2: column unit_price_excl: cannot read 'Infinity'"),
    ("outbound_invoice_lines.csv", lambda t: first_line_cell(t, "quantity", '"1,5"'), "column quantity"),
    ("outbound_invoices.csv", lambda t: t.replace("external_id", "externalid", 1), "externalid are not columns"),
    ("outbound_invoices.csv", "é".encode("latin-1") * 10, "not UTF-8"),
    ("outbound_invoices.csv", lambda t: t.splitlines()[0] + "\n" + t.splitlines()[1] + ",extra,cells\n",
     ":2: more cells than the header"),
])
def test_a_bad_file_is_refused_in_one_line_and_nothing_is_loaded(
    engine: sa.Engine, tmp_path: Path, file: str, edit: object, message: str
) -> None:
    invoices = copy_with(tmp_path, "outbound_invoices.csv", edit if file == "outbound_invoices.csv" else None)
    lines = copy_with(tmp_path, "outbound_invoice_lines.csv", edit if file != "outbound_invoices.csv" else None)
    with pytest.raises(OutboundFileError) as refused:
        load_outbound_csv(engine, invoices, lines)
    assert message in str(refused.value) and "\n" not in str(refused.value)
    with engine.connect() as connection:
        table = reflect_tables(engine)["outbound_invoices"]
        assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0


@pytest.mark.parametrize(("file", "edit", "message"), [
    ("outbound_invoice_lines.csv", lambda t: t.rstrip("\n").rsplit(",", 1)[0] + "\n", "fewer cells than the header"),
    ("outbound_invoices.csv", lambda t: t.replace("order_type", "external_id", 1), "names a column twice"),
    ("outbound_invoices.csv", lambda t: t + t.splitlines()[1] + "\n", "the same key ('demo-2026-0001',) as line 2"),
    ("outbound_invoice_lines.csv", lambda t: first_line_cell(t, "unit_price_excl", "1e30"), "column unit_price_excl"),
    ("outbound_invoice_lines.csv", lambda t: first_line_cell(t, "unit_price_excl", "95.123456"),
     "more than 5 decimals"),
    ("outbound_invoice_lines.csv", lambda t: first_line_cell(t, "description", "a\x00b"), "NUL"),
    ("outbound_invoice_lines.csv", lambda t: t + "nobody-0001,1,x,,1,1.00,21,,\n", "in neither"),
])
def test_a_file_that_would_load_wrong_or_differ_between_databases_is_refused(
    engine: sa.Engine, tmp_path: Path, file: str, edit: object, message: str
) -> None:
    test_a_bad_file_is_refused_in_one_line_and_nothing_is_loaded(engine, tmp_path, file, edit, message)


@pytest.mark.parametrize(("file", "edit", "message"), [
    ("outbound_invoices.csv", lambda t: "\n".join(line + (",status" if n == 0 else ",pending")
                                                  for n, line in enumerate(t.splitlines())) + "\n",
     "columns status are the push's results"),
    ("outbound_invoice_lines.csv", lambda t: first_line_cell(t, "line_number", ""), ":2: line_number is empty"),
    ("outbound_invoices.csv", lambda t: first_line_cell(t, "external_id", ""), ":2: external_id is empty"),
])
def test_a_file_setting_results_or_leaving_a_key_empty_is_refused(
    engine: sa.Engine, tmp_path: Path, file: str, edit: object, message: str
) -> None:
    test_a_bad_file_is_refused_in_one_line_and_nothing_is_loaded(engine, tmp_path, file, edit, message)
