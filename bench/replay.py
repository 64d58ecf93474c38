"""Benchmark: replay landed Parquet (no network) into an empty SQLite and PostgreSQL warehouse.

The landing is made once by a real sync of both streams from the sandbox (no latency) with landing on, and kept
under `bench/results/landing-<orders>` for the next runs. The replay (`replay_landing`: read the parts, parse the
JSON with exact decimals, normalise, load in batches of 500 orders) is timed alone, into a fresh warehouse.

    .venv/bin/python bench/replay.py --orders 20000 --databases sqlite postgresql [--profile out.pstats]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.client_fetch import sandbox_process  # noqa: E402
from bench.extract import _fresh_engine  # noqa: E402
from connectors.warehouse import create_warehouse_engine, upgrade  # noqa: E402
from sandbox.identity import API_KEY, PARTY_ID
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000, help="orders of the landed company (~5 lines each)")
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--profile", type=Path, help="write a cProfile of the (last) replay here")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    work = ROOT / "bench" / "results"
    work.mkdir(parents=True, exist_ok=True)
    landing = work / f"landing-{args.orders}.tmp"  # ignored by git (bench/results/*.tmp)
    if not landing.exists():
        started = time.perf_counter()
        make_landing(args.orders, landing)
        print(f"landed {args.orders} orders in {time.perf_counter() - started:.1f}s under {landing}", flush=True)
    results: dict[str, Any] = {"orders": args.orders, "runs": {}}
    for database in args.databases:
        with _fresh_engine(database, work) as engine:
            profiler = cProfile.Profile() if args.profile else None
            cpu, started = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            summaries = replay_landing(landing, engine=engine)
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
        }
        results["runs"][database] = figures
        print(
            f"{database}: replayed {orders} orders, {lines} lines in {seconds:.1f}s (CPU {cpu:.1f}s): "
            f"{figures['lines_per_second']:,.0f} lines/s",
            flush=True,
        )
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
