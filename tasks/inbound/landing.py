"""Raw full orders as Parquet, so a load can be replayed from disk without calling Billit.

Layout: `<landing_dir>/<stream>/run=<run_id>/part-00001.parquet`, one file per loaded batch, written *before*
the batch is loaded. Each row is one order's answer exactly as Billit sent it (its JSON text, untouched: decimals
as written, a NUL or a lone surrogate still the escape Billit wrote), with its key columns beside it for quick
inspection in any Parquet reader. Each file's metadata names the Billit company and the stream, so a replay
refuses files of another company or stream. Beside each part, `rows-00001.arrow` holds the
normalised rows the batch was loaded with (`tasks.inbound.landing_rows`): a replay by the same normaliser loads
them without parsing and normalising again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from connectors.billit.errors import BillitProtocolError
from connectors.billit.wire import parse_json
from tasks.inbound.landing_rows import forget_rows, write_rows
from tasks.normalise.orders import NormalisedBatch

LANDING_SCHEMA = pa.schema(
    [
        pa.field("order_id", pa.int64(), nullable=True),
        pa.field("order_direction", pa.string()),
        pa.field("last_modified", pa.string()),
        pa.field("fetched_at", pa.timestamp("us", tz="UTC")),
        pa.field("order_json", pa.large_string(), nullable=False),
    ]
)


PARTY_ID_KEY, STREAM_KEY, RUN_ID_KEY = b"billit.party_id", b"billit.stream", b"billit.run_id"


class LandingError(ValueError):
    """A landing file that cannot be replayed here: unreadable, of another schema, company or stream."""


class LandingWriter:
    """Writes the numbered part files of one run."""

    def __init__(self, landing_dir: Path | str, stream: str, run_id: str, *, party_id: int) -> None:
        self.directory = Path(landing_dir) / stream / f"run={run_id}"
        self.parts = 0
        self.schema = LANDING_SCHEMA.with_metadata(
            {
                PARTY_ID_KEY: str(party_id).encode(),
                STREAM_KEY: stream.encode(),
                RUN_ID_KEY: run_id.encode(),
            }
        )

    def write(
        self, orders: Sequence[Any], texts: Sequence[str], normalised: NormalisedBatch | None = None
    ) -> Path | None:
        """Land `orders` as the next part, each as `texts` has it (the JSON text Billit sent); with
        `normalised` (the rows normalised from exactly these orders), land those rows beside it. Returns the
        part's path, None when there is nothing to land."""
        if len(texts) != len(orders):
            raise ValueError(f"{len(orders)} orders but {len(texts)} texts to land")
        if not orders:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        self.parts += 1
        fetched_at = datetime.now(UTC)
        # pa.array converts in C; it looks for pandas objects only where numpy is installed, and this project
        # installs neither (tasks/inbound/arrow_arrays.py: arrow_array).
        columns = [
            [_key(order, "OrderID", int) for order in orders],
            [_key(order, "OrderDirection", str) for order in orders],
            [_key(order, "LastModified", str) for order in orders],
            [fetched_at] * len(orders),
            texts,
        ]
        table = pa.Table.from_arrays(
            [pa.array(values, type=column.type) for values, column in zip(columns, self.schema, strict=True)],
            schema=self.schema,
        )
        path = self.directory / f"part-{self.parts:05d}.parquet"
        temporary = path.with_suffix(".parquet.tmp")
        pq.write_table(table, temporary, compression="zstd")
        forget_rows(path)
        temporary.replace(path)  # a crash never leaves a half-written part behind
        if normalised is not None:
            write_rows(path, orders, normalised)
        return path


def _key(order: Any, name: str, kind: type) -> Any:
    """A key column's value when it has the expected type (as ASCII text), else None: the JSON keeps it."""
    value = order.get(name) if isinstance(order, Mapping) else None
    if isinstance(value, str) and kind is str:
        return value.encode("ascii", "backslashreplace").decode()
    if isinstance(value, int) and not isinstance(value, bool) and kind is int and -(2**63) <= value < 2**63:
        return value
    return None


def landed_runs(path: Path | str) -> list[Path]:
    """Run directories under `path` (a landing dir, a stream dir or one run dir), oldest part first."""
    root = Path(path)
    if not root.exists():
        # Found by a newcomer: a mistyped run=... folder was only said not to exist; the runs that do are named.
        siblings = sorted(p.name for p in root.parent.glob("run=*")) if root.name.startswith("run=") else []
        there = f" (under {root.parent}: {', '.join(siblings[-5:])}{' and more' if len(siblings) > 5 else ''})"
        raise FileNotFoundError(f"no landing data at {root}{there if siblings else ''}")
    if not root.is_dir():
        raise LandingError(f"{root} is a file: replay takes a landing directory, a stream folder or a run=... folder")
    if root.name.startswith("run="):
        return [root]
    runs = [candidate for candidate in root.rglob("run=*") if candidate.is_dir()]
    if not runs:
        raise LandingError(f"no landed runs (run=... folders) under {root}")
    return sorted(runs, key=lambda run: min((p.stat().st_mtime for p in run.glob("part-*.parquet")), default=0))


def check_landed_run(run_directory: Path, *, stream: str) -> int:
    """The Billit company of a landed run, after checking that every part is readable and says `stream` and one
    company. Raises LandingError naming the file otherwise."""
    companies = set()
    for part in sorted(run_directory.glob("part-*.parquet")):
        try:
            schema = pq.read_schema(part)
        except (OSError, pa.ArrowException) as exc:
            raise LandingError(f"{part}: not a readable Parquet file ({_first_line(exc)})") from None
        metadata = schema.metadata or {}
        if PARTY_ID_KEY not in metadata or STREAM_KEY not in metadata:
            raise LandingError(f"{part}: names no Billit company or stream (not written by billit-etl sync)")
        if metadata[STREAM_KEY].decode(errors="replace") != stream:
            raise LandingError(
                f"{part}: holds the {metadata[STREAM_KEY].decode(errors='replace')!r} stream, not {stream!r}"
            )
        if "order_json" not in schema.names or not pa.types.is_large_string(schema.field("order_json").type):
            raise LandingError(f"{part}: its order_json column is missing or not text (not a landing file)")
        if not metadata[PARTY_ID_KEY].isdigit():
            raise LandingError(f"{part}: its Billit company is not a number")
        companies.add(int(metadata[PARTY_ID_KEY]))
    if not companies:
        raise LandingError(f"{run_directory}: no part-*.parquet files")
    if len(companies) > 1:
        raise LandingError(f"{run_directory}: parts of several Billit companies {sorted(companies)}")
    return companies.pop()


def landed_parts(run_directory: Path) -> list[Path]:
    """The raw parts of one landed run, in the order they were written."""
    return sorted(run_directory.glob("part-*.parquet"))


def read_landed_orders(run_directory: Path) -> Iterator[list[dict[str, Any]]]:
    """The orders of one landed run, one part (one batch of the sync) at a time, in the order they were written."""
    for part in landed_parts(run_directory):
        yield read_part_orders(part)


def read_part_orders(part: Path) -> list[Any]:
    """The orders of one landed part; LandingError naming the file when it cannot be read."""
    try:
        return [parse_json(text) for text in pq.read_table(part, columns=["order_json"]).column(0).to_pylist()]
    except (OSError, pa.ArrowException) as exc:
        raise LandingError(f"{part}: unreadable ({_first_line(exc)})") from None
    except BillitProtocolError:
        raise LandingError(f"{part}: a row's order_json is not JSON (the file is damaged)") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
