"""The normalised rows landed beside a batch read back exactly as the normaliser gave them, only for the same
normaliser, and a batch whose values the landed columns cannot hold exactly is landed raw only. Landing them
keeps pandas and pyarrow.compute out of the sync."""

from __future__ import annotations

import copy
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.billit.wire import encode_json, parse_json
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tasks.inbound.arrow_arrays import MONEY, PERCENT, QUANTITY, arrow_array
from tasks.inbound.landing import LandingWriter, landed_parts, read_part_orders
from tasks.inbound.landing_rows import PART_KEY, TABLES, normaliser_fingerprint, read_rows, rows_path
from tasks.normalise.orders import NormalisedBatch, normalise_orders
from tests.tasks.sync_helpers import SEED_START

FIXTURES = Path(__file__).parent / "fixtures"
RUN_AND_STREAM = {"first_run_id", "last_run_id", "run_id", "stream"}


def documented_orders() -> list[dict[str, Any]]:
    sale, cost = (parse_json((FIXTURES / f"docs_{name}_order.json").read_text()) for name in ("sales", "cost"))
    unknown_code = copy.deepcopy(sale)
    unknown_code["OrderID"] += 1
    unknown_code["OrderLines"][0]["VentilationCode"] = "no such code"  # a line quarantined with its reason
    no_direction = {**copy.deepcopy(cost), "OrderID": cost["OrderID"] + 1, "OrderDirection": None}  # unloaded
    return [sale, cost, unknown_code, no_direction]


def rows_by_table(batch: NormalisedBatch) -> dict[str, list[dict[str, Any]]]:
    tables = {
        "invoices": batch.invoices,
        "invoice_lines": batch.lines,
        "invoice_vat_groups": batch.vat_groups,
        "invoice_messages": batch.messages,
        "vat_return_entries": batch.vat_return_entries,
        "vat_return_exceptions": batch.vat_return_exceptions,
        "parties": list(batch.parties.values()),
        "party_identifiers": [row for rows in batch.identifiers.values() for row in rows],
        "quarantine": batch.quarantine,
    }
    return {
        name: [{k: v for k, v in row.items() if k not in RUN_AND_STREAM} for row in rows]
        for name, rows in tables.items()
    }


def json_text(order: Any) -> str:
    """An order's JSON as Billit would send it (exact decimals), for orders made here."""
    return encode_json(order).decode()


def land(tmp_path: Path, orders: list[dict[str, Any]], batch: NormalisedBatch | None) -> Path:
    part = LandingWriter(tmp_path, "sales", "r1", party_id=1).write(orders, [json_text(o) for o in orders], batch)
    assert part is not None
    return part


def test_landed_rows_read_back_exactly_as_the_normaliser_gave_them(tmp_path: Path) -> None:
    orders = documented_orders()
    batch = normalise_orders(orders, stream="sales", run_id="r1")
    assert batch.lines and batch.quarantine and batch.unloaded and batch.identifiers  # every kind of row is there
    part = land(tmp_path, orders, batch)

    rows = read_rows(part, normaliser_fingerprint())
    assert rows is not None and rows.orders == len(orders)
    for name, expected in rows_by_table(batch).items():
        assert rows.tables[name].to_pylist() == expected, name
    unloaded = rows.tables["unloaded"].to_pylist()
    assert [(row["order_id"], row["reason"]) for row in unloaded] == list(batch.unloaded.items())
    assert unloaded[0]["listed_last_modified"] == orders[3]["LastModified"]
    assert {(c["OrderDirection"], c["CompanyID"]) for c in rows.checks} == {
        (order["OrderDirection"], order["CompanyID"]) for order in orders
    }
    assert read_part_orders(landed_parts(part.parent)[0]) == orders  # the raw part is unchanged


def test_rows_landed_as_parquet_before_stop_34_name_no_part_and_are_not_used(tmp_path: Path) -> None:
    # They were read until the rows named the digest of their part: without it, nothing ties them to its bytes.
    orders = documented_orders()
    batch = normalise_orders(orders, stream="sales", run_id="r1")
    part = land(tmp_path, orders, batch)
    with pa.OSFile(str(rows_path(part))) as source:  # the same table, written as those sessions wrote it
        table = pa.ipc.open_file(source).read_all()
    older = part.with_name(part.name.replace("part-", "rows-"))
    metadata = {key: value for key, value in table.schema.metadata.items() if key != PART_KEY}
    pq.write_table(table.replace_schema_metadata(metadata), older, compression="lz4", use_dictionary=False)
    rows_path(part).unlink()
    assert read_rows(part, normaliser_fingerprint()) is None
    # A part written again under the same name drops the rows of its predecessor, in either format.
    with pa.ipc.new_file(str(rows_path(part)), table.schema) as writer:
        writer.write_table(table)
    assert older.exists() and rows_path(part).exists()
    land(tmp_path, orders[:1], None)
    assert not older.exists() and not rows_path(part).exists()


def test_rows_are_used_only_beside_the_very_part_they_were_made_from(tmp_path: Path) -> None:
    # Found by an outside test: rows paired with another part of as many orders (a part copied over, or one
    # edited) were loaded in its place, since only the count of orders was compared.
    orders = documented_orders()
    first = land(tmp_path / "a", orders, normalise_orders(orders, stream="sales", run_id="r1"))
    assert read_rows(first, normaliser_fingerprint()) is not None
    edited = [dict(order) for order in orders]
    edited[0]["Reference"] = "edited by hand"
    other = land(tmp_path / "b", edited, None)
    first.write_bytes(other.read_bytes())  # the same name and number of orders, other bytes
    assert read_rows(first, normaliser_fingerprint()) is None


def test_a_damaged_rows_file_is_read_as_none_never_as_an_error(tmp_path: Path) -> None:
    # Found by a review: Arrow checks little of an IPC file it reads, and bytes flipped in one escaped `read_rows`
    # (or made arrays that failed later, mid-write), stopping the whole replay instead of falling back to the raw
    # part. Every 29th byte of a real rows file flipped in turn: each read is None, or rows whose arrays are whole
    # (a flipped value in them stays possible, as in Parquet: neither format has checksums).
    orders = documented_orders()
    part = land(tmp_path, orders, normalise_orders(orders, stream="sales", run_id="r1"))
    original = rows_path(part).read_bytes()
    for position in range(0, len(original), 29):
        damaged = bytearray(original)
        damaged[position] ^= 0xFF
        rows_path(part).write_bytes(damaged)
        rows = read_rows(part, normaliser_fingerprint())
        for table in rows.tables.values() if rows is not None else ():
            table.validate(full=True)


def test_rows_of_another_normaliser_or_without_their_raw_part_are_not_used(tmp_path: Path) -> None:
    orders = documented_orders()
    part = land(tmp_path, orders, normalise_orders(orders, stream="sales", run_id="r1"))
    assert read_rows(part, normaliser_fingerprint() + "-changed") is None
    assert read_rows(part, normaliser_fingerprint().replace("licence=0", "licence=1")) is None
    rows_path(part).write_bytes(b"PAR1 damaged")
    assert read_rows(part, normaliser_fingerprint()) is None
    older = land(tmp_path, orders, None)  # a landing of before the rows, or of a batch with unusable answers
    assert not rows_path(older).exists() and read_rows(older, normaliser_fingerprint()) is None


def test_a_batch_with_a_value_its_column_cannot_hold_exactly_is_landed_raw_only(tmp_path: Path) -> None:
    orders = documented_orders()
    batch = normalise_orders(orders, stream="sales", run_id="r1")
    batch.lines[0]["quantity"] = Decimal("1.123456")  # NUMERIC(18, 5): PostgreSQL would round, SQLite would not
    part = land(tmp_path, orders, batch)
    assert part.exists() and not rows_path(part).exists()


def test_landing_rows_imports_no_pandas() -> None:
    script = (
        "import sys; from pathlib import Path; import tempfile\n"
        "from tests.tasks.test_landing_rows import documented_orders, land\n"
        "from tasks.normalise.orders import normalise_orders\n"
        "orders = documented_orders()\n"
        "land(Path(tempfile.mkdtemp()), orders, normalise_orders(orders, stream='sales', run_id='r1'))\n"
        "print('pandas' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_every_landed_table_declares_its_columns() -> None:
    assert set(TABLES) == {*rows_by_table(NormalisedBatch()), "unloaded"}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (Decimal("1.001"), MONEY),  # a third decimal
        (Decimal("1" + "0" * 16), MONEY),  # 19 digits at scale 2
        (Decimal("1.0000000000000000000000000001"), MONEY),  # rounds to 1.00 in Python's default context
        (Decimal("NaN"), MONEY),
        (Decimal("Infinity"), QUANTITY),
        (1.5, MONEY),  # money is never float
        (Decimal("12345.123456"), PERCENT),
        (Decimal("1E-41"), MONEY),  # pyarrow 26's own conversion rounds this to 0.00
    ],
)
def test_a_decimal_its_column_cannot_hold_exactly_is_refused(value: Any, kind: Any) -> None:
    with pytest.raises(ValueError):
        arrow_array([value], kind)


def test_zeros_of_any_exponent_land_as_zero() -> None:
    # pyarrow 26's own conversion crashed the process (SIGSEGV) on the first and refused the second.
    assert arrow_array([Decimal("0E-10000000"), Decimal("0E+17"), None], MONEY).to_pylist() == [0, 0, None]


def test_decimals_land_exactly_at_their_column_scale() -> None:
    values = [Decimal("1.10000"), None, Decimal("-12345.67"), Decimal("-0.01"), 5, Decimal("1E+3")]
    values.append(Decimal("9999999999999999.99"))
    assert arrow_array(values, MONEY).to_pylist() == values
    assert arrow_array([Decimal("-1.12345"), Decimal("0")], QUANTITY).to_pylist() == [Decimal("-1.12345"), 0]


def test_a_sync_that_lands_rows_imports_neither_pyarrow_compute_nor_pandas(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from tasks.inbound.sync import run_stream\n"
        "from connectors.warehouse import create_warehouse_engine, upgrade\n"
        f"engine = create_warehouse_engine('sqlite:///{tmp_path / 'w.sqlite'}'); upgrade(engine)\n"
        f"run_stream('sales', engine=engine, landing_dir='{tmp_path / 'landing'}', base_url=sys.argv[1],\n"
        f"           api_key='{API_KEY}', party_id={PARTY_ID})\n"
        "print(sorted(name for name in ('pyarrow.compute', 'pandas') if name in sys.modules))\n"
    )
    root = Path(__file__).resolve().parents[2]
    with SandboxServer(Sandbox(seed=3, orders=40, seed_start=SEED_START)) as server:
        result = subprocess.run(
            [sys.executable, "-c", script, server.base_url], cwd=root, capture_output=True, text=True, check=False
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert list((tmp_path / "landing").rglob("rows-*"))  # the rows were landed
