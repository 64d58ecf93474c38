"""Benchmark: incremental extraction of both streams from the sandbox into SQLite and PostgreSQL.

For each warehouse the script (1) runs the real pipeline (`run_stream` for purchases and sales) against the
sandbox served in its own process with injected latency, (2) measures the floor: the same HTTP requests (the
keyset listing pages and one detail GET per changed order) issued by a bare concurrent loop with plain httpx
and no parsing or database, in the same run, and (3) runs a quiet incremental pass and counts its requests.
Peak memory is measured in separate worker processes at two sizes, to show it stays flat.

    .venv/bin/python bench/extract.py --orders 20000 --latency-ms 20 --memory-orders 5000 50000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.client_fetch import sandbox_process  # noqa: E402
from connectors.billit import BillitClient, load_settings  # noqa: E402
from connectors.billit.odata import ODataQuery, prop  # noqa: E402
from connectors.warehouse import create_warehouse_engine, upgrade  # noqa: E402
from sandbox.identity import API_KEY, PARTY_ID
from tasks.inbound.sync import run_stream  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("BILLIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HEADERS = {"ApiKey": API_KEY, "PartyID": str(PARTY_ID), "Accept": "application/json"}
CONCURRENCY = 8


def pipeline(base_url: str, engine: sa.Engine) -> dict[str, Any]:
    credentials = {"base_url": base_url, "api_key": API_KEY, "party_id": PARTY_ID}
    started = time.perf_counter()
    runs = [run_stream(stream, engine=engine, landing_dir=None, **credentials) for stream in ("incoming", "sales")]
    elapsed = time.perf_counter() - started
    quiet = [run_stream(stream, engine=engine, landing_dir=None, **credentials) for stream in ("incoming", "sales")]
    return {
        "seconds": elapsed,
        "requests": sum(run["requests"] for run in runs),
        "orders": sum(run["orders_new"] for run in runs),
        "lines": sum(run["lines_loaded"] for run in runs),
        "quiet_requests_per_stream": [run["requests"] for run in quiet],
    }


async def bare_floor(base_url: str) -> dict[str, Any]:
    """The same requests with nothing else: keyset pages in sequence (the client's own paging, so the requests are
    the pipeline's, tie drains included), every order's detail GET, 8 in flight."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    slots = asyncio.Semaphore(CONCURRENCY)
    requests = 0
    async with httpx.AsyncClient(base_url=base_url, headers=HEADERS, limits=limits, timeout=60) as client:

        async def get(path: str, params: dict[str, str] | None = None) -> Any:
            nonlocal requests
            async with slots:
                requests += 1
                response = await client.get(path, params=params)
                response.raise_for_status()
                return response.json()

        async def stream(direction: str) -> None:
            nonlocal requests
            details: list[asyncio.Task[Any]] = []
            await get(
                "/v1/orders",
                ODataQuery(
                    filter=prop("OrderDirection").eq(direction),
                    top=120,
                    orderby=(("LastModified", "desc"), ("OrderID", "desc")),
                ).params(),
            )
            settings = load_settings(base_url=base_url, api_key=HEADERS["ApiKey"], party_id=int(HEADERS["PartyID"]))
            async with BillitClient(settings) as billit:
                async for items in billit.iter_order_pages_by_key(prop("OrderDirection").eq(direction)):
                    details += [asyncio.create_task(get(f"/v1/orders/{item['OrderID']}")) for item in items]
                requests += billit.requests_sent
            await asyncio.gather(*details)
            await get(
                "/v1/orders/deleted",
                ODataQuery(filter=prop("OrderDirection").eq(direction), orderby=(("OrderID", "asc"),)).params(),
            )

        started = time.perf_counter()
        for direction in ("Cost", "Income"):
            await stream(direction)
        return {"seconds": time.perf_counter() - started, "requests": requests}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def worker(orders: int, url: str, result_file: Path) -> None:
    """One pipeline run in this process, sampling its resident memory (for the memory figures)."""
    engine = create_warehouse_engine(url)
    upgrade(engine)
    with sandbox_process(orders, 0.0) as base_url:
        baseline = _rss_mb()
        peak = baseline
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(0.05):
                peak = max(peak, _rss_mb())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        figures = pipeline(base_url, engine)
        done.set()
        sampler.join()
    figures |= {
        "rss_before_mb": baseline,
        "peak_rss_mb": peak,
        "peak_growth_mb": peak - baseline,
        "max_rss_of_process_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    result_file.write_text(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=20000, help="orders of the benchmarked company")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--memory-orders", type=int, nargs="*", default=[5000, 50000])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--memory-only", action="store_true", help="skip the timed runs")
    parser.add_argument("--worker", nargs=3, metavar=("ORDERS", "URL", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(int(args.worker[0]), args.worker[1], Path(args.worker[2]))
        return

    work = ROOT / "bench" / "results"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"orders": args.orders, "latency_ms": args.latency_ms, "runs": {}, "memory": {}}
    for database in [] if args.memory_only else args.databases:
        with sandbox_process(args.orders, args.latency_ms) as base_url, _fresh_engine(database, work) as engine:
            figures = pipeline(base_url, engine)
            floor = asyncio.run(bare_floor(base_url))
        figures |= {
            "floor_seconds": floor["seconds"],
            "floor_requests": floor["requests"],
            "ratio_to_floor": figures["seconds"] / floor["seconds"],
            "lines_per_second": figures["lines"] / figures["seconds"],
        }
        results["runs"][database] = figures
        print(
            f"{database}: {figures['orders']} orders, {figures['lines']} lines in {figures['seconds']:.1f}s "
            f"({figures['requests']} requests); bare loop {floor['seconds']:.1f}s ({floor['requests']} requests) "
            f"-> {figures['ratio_to_floor']:.2f}x the floor; {figures['lines_per_second']:.0f} lines/s; "
            f"quiet rerun: {figures['quiet_requests_per_stream']} requests per stream",
            flush=True,
        )
    for orders in args.memory_orders:
        result_file = work / f"memory-{orders}.json.tmp"
        url = f"sqlite:///{work / f'memory-{orders}-{uuid.uuid4().hex[:6]}.sqlite'}"
        subprocess.run([sys.executable, __file__, "--worker", str(orders), url, str(result_file)], check=True)
        figures = json.loads(result_file.read_text())
        result_file.unlink()
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        results["memory"][orders] = figures
        print(
            f"memory: {figures['orders']} orders ({figures['lines']} lines) into SQLite, RSS "
            f"{figures['rss_before_mb']:.0f} MiB before, peak {figures['peak_rss_mb']:.0f} MiB during the run "
            f"(+{figures['peak_growth_mb']:.0f} MiB)",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


@contextlib.contextmanager
def _fresh_engine(database: str, work: Path) -> Iterator[sa.Engine]:
    """An empty, migrated warehouse, removed afterwards."""
    if database == "sqlite":
        path = work / f"bench-{uuid.uuid4().hex[:6]}.sqlite"
        engine = create_warehouse_engine(f"sqlite:///{path}")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = create_warehouse_engine(POSTGRES_URL, schema=schema)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
