"""Benchmark: replay landed Parquet (no network) into an empty SQLite and PostgreSQL warehouse.

The landing is made once by a real sync of both streams from the sandbox (no latency) with landing on, and kept
under `bench/results/landing-<orders>.tmp` for the next runs (made again when its normalised rows are not this
normaliser's: a changed `tasks/normalise` makes the replay re-normalise). The replay (`replay_landing`) is timed
alone, into a fresh warehouse, by each path asked for: `fast` writes the rows landed beside each part
(`tasks/inbound/replay_load.py`); `raw` replays a copy without the rows files, as a landing of before them: read
the parts, parse the JSON with exact decimals, normalise, load.

    .venv/bin/python bench/replay.py --orders 20000 --databases sqlite postgresql --paths fast raw [--profile out]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.client_fetch import sandbox_process  # noqa: E402
from bench.extract import _fresh_engine  # noqa: E402
from connectors.warehouse import create_warehouse_engine, upgrade  # noqa: E402
from sandbox.identity import API_KEY, PARTY_ID
from tasks.inbound.landing_rows import normaliser_fingerprint, read_rows  # noqa: E402
from tasks.inbound.replay import replay_landing  # noqa: E402
from tasks.inbound.sync import run_stream  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def make_landing(orders: int, landing: Path) -> None:
    """Sync both streams once from a sandbox without latency, landing every batch under `landing`."""
    work = landing.parent / f"{landing.name}.sqlite"
    engine = create_warehouse_engine(f"sqlite:///{work}")
    upgrade(engine)
    credentials = {"api_key": API_KEY, "party_id": PARTY_ID}
    try:
        with sandbox_process(orders, 0.0) as base_url:
            for stream in ("incoming", "sales"):
                run_stream(stream, engine=engine, landing_dir=str(landing), base_url=base_url, **credentials)
    finally:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{work}{suffix}").unlink(missing_ok=True)


def parts_with_rows(landing: Path) -> tuple[int, int]:
    """How many of the landing's parts the fast path can load, of how many."""
    parts = sorted(landing.rglob("part-*.parquet"))
    fingerprint = normaliser_fingerprint()
    return sum(read_rows(part, fingerprint) is not None for part in parts), len(parts)


def raw_copy(landing: Path) -> Path:
    """The landing without its rows files (the parts hard-linked), as a landing of before them."""
    copy = landing.with_name(landing.name.replace(".tmp", "-raw.tmp"))
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(landing, copy, copy_function=os.link, ignore=shutil.ignore_patterns("rows-*"))
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000, help="orders of the landed company (~5 lines each)")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--paths", nargs="+", choices=["fast", "raw"], default=["fast", "raw"])
    parser.add_argument("--profile", type=Path, help="write a cProfile of the (last) replay here")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = ROOT / "bench" / "results"
    work.mkdir(parents=True, exist_ok=True)
    landing = work / f"landing-{args.orders}.tmp"  # ignored by git (bench/results/*.tmp)
    if landing.exists() and parts_with_rows(landing)[0] == 0:
        shutil.rmtree(landing)  # landed before the rows, or by another normaliser
    if not landing.exists():
        started = time.perf_counter()
        make_landing(args.orders, landing)
        print(f"landed {args.orders} orders in {time.perf_counter() - started:.1f}s under {landing}", flush=True)
    with_rows, parts = parts_with_rows(landing)
    print(f"{with_rows} of {parts} parts have this normaliser's rows", flush=True)
    sources = {"fast": landing, "raw": raw_copy(landing) if "raw" in args.paths else landing}
    results: dict[str, Any] = {"orders": args.orders, "parts": parts, "parts_with_rows": with_rows, "runs": {}}
    for path in args.paths:
        for database in args.databases:
            with _fresh_engine(database, work) as engine:
                profiler = cProfile.Profile() if args.profile else None
                cpu, started = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                summaries = replay_landing(sources[path], engine=engine)
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert all(summary["status"] == "succeeded" for summary in summaries), summaries
            lines = sum(summary["lines_loaded"] for summary in summaries)
            orders = sum(summary["orders_listed"] for summary in summaries)
            figures = {
                "orders": orders,
                "lines": lines,
                "seconds": seconds,
                "cpu_seconds": cpu,
                "lines_per_second": lines / seconds,
                "lines_per_cpu_second": lines / cpu,
            }
            results["runs"][f"{database}-{path}"] = figures
            print(
                f"{database} ({path}): replayed {orders} orders, {lines} lines in {seconds:.1f}s (CPU {cpu:.1f}s): "
                f"{figures['lines_per_second']:,.0f} lines/s, {figures['lines_per_cpu_second']:,.0f} per CPU second",
                flush=True,
            )
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
