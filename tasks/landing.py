"""Raw full orders as Parquet, so a load can be replayed from disk without calling Billit.

Layout: `<landing_dir>/<stream>/run=<run_id>/part-00001.parquet`, one file per loaded batch, written *before*
the batch is loaded. Each row is one order exactly as Billit returned it (JSON text, decimals kept exact), with
its key columns beside it for quick inspection in any Parquet reader.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.billit.wire import encode_json, parse_json

LANDING_SCHEMA = pa.schema([
    pa.field("order_id", pa.int64(), nullable=True),
    pa.field("order_direction", pa.string()),
    pa.field("last_modified", pa.string()),
    pa.field("fetched_at", pa.timestamp("us", tz="UTC")),
    pa.field("order_json", pa.large_string(), nullable=False),
])


class LandingWriter:
    """Writes the numbered part files of one run."""

    def __init__(self, landing_dir: Path | str, stream: str, run_id: str) -> None:
        self.directory = Path(landing_dir) / stream / f"run={run_id}"
        self.parts = 0

    def write(self, orders: Sequence[Mapping[str, Any]]) -> Path | None:
        if not orders:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        self.parts += 1
        fetched_at = datetime.now(UTC)
        table = pa.Table.from_pylist([
            {
                "order_id": order.get("OrderID") if isinstance(order.get("OrderID"), int) else None,
                "order_direction": order.get("OrderDirection"), "last_modified": order.get("LastModified"),
                "fetched_at": fetched_at, "order_json": encode_json(order).decode("utf-8"),
            }
            for order in orders
        ], schema=LANDING_SCHEMA)
        path = self.directory / f"part-{self.parts:05d}.parquet"
        temporary = path.with_suffix(".parquet.tmp")
        pq.write_table(table, temporary, compression="zstd")
        temporary.replace(path)  # a crash never leaves a half-written part behind
        return path


def landed_runs(path: Path | str) -> list[Path]:
    """Run directories under `path` (a landing dir, a stream dir or one run dir), oldest part first."""
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no landing data at {root}")
    if root.name.startswith("run="):
        return [root]
    runs = [candidate for candidate in root.rglob("run=*") if candidate.is_dir()]
    return sorted(runs, key=lambda run: min((p.stat().st_mtime for p in run.glob("part-*.parquet")), default=0))


def read_landed_orders(run_directory: Path, *, batch_size: int = 500) -> Iterator[list[dict[str, Any]]]:
    """The orders of one landed run, in the order they were written, in bounded batches."""
    for part in sorted(run_directory.glob("part-*.parquet")):
        parquet = pq.ParquetFile(part)
        for record_batch in parquet.iter_batches(batch_size=batch_size, columns=["order_json"]):
            yield [parse_json(text) for text in record_batch.column(0).to_pylist()]
