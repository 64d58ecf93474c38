"""Benchmark: `billit-etl sync all --no-prefect` beside a bare httpx loop making the same requests, same run.

Both are whole processes timed from start to exit, imports included, against one sandbox served in its own
process with injected latency (20 ms, 8 requests in flight a stream):

* the sync: `billit-etl sync all --no-prefect` into an empty SQLite file, landing on; its two streams side by side;
* the bare loop: `bench/bare_loop.py`, which imports only httpx and replays the sync's requests (the probe, the
  keyset listing pages in order, one detail GET per listed order as soon as its page arrived, the deletions
  list), recorded beforehand through `BillitClient`. No types, no database, no landing. Twice: the streams side by
  side as the sync runs them, and one after the other, 8 in flight in all, the loop issue 12 measured.

They alternate (`--repeat`); requests are counted by the sandbox. Peak RSS is the child's own (`wait4`).
With `--memory-orders`, the sync runs against a sandbox without latency at each size, as the CLI process and as
a plain worker (`--plain-worker`: `tasks.inbound.extract.sync_stream` with landing, no CLI and no Prefect imported).

    .venv/bin/python bench/sync_all.py --orders 5000 --latency-ms 20 --repeat 2 --memory-orders 5000 50000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.client_fetch import sandbox_process  # noqa: E402
from sandbox.identity import API_KEY, PARTY_ID

ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS = {"BILLIT_API_KEY": API_KEY, "BILLIT_PARTY_ID": str(PARTY_ID)}


class _Recording(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(request.url.raw_path.decode())
        return await super().handle_async_request(request)


async def make_plan(base_url: str) -> dict[str, Any]:
    """The requests an incremental sync of both streams makes on an empty warehouse, in order."""
    from connectors.billit import BillitClient, ODataQuery, all_of, load_settings, prop
    from connectors.billit.client import DELETED_ORDERS_PATH
    from connectors.billit.odata import PAGE_SIZE, BillitTimestamp

    settings = load_settings(
        base_url=base_url, api_key=CREDENTIALS["BILLIT_API_KEY"], party_id=int(CREDENTIALS["BILLIT_PARTY_ID"])
    )
    streams = []
    for direction in ("Cost", "Income"):
        recording = _Recording()
        async with BillitClient(settings, transport=recording) as billit:
            window = prop("OrderDirection").eq(direction)
            probe = await billit.list_page(
                ODataQuery(filter=window, orderby=(("LastModified", "desc"), ("OrderID", "desc")), top=PAGE_SIZE)
            )
            upper = BillitTimestamp(probe.items[0]["LastModified"])
            pages = []
            async for items in billit.iter_order_pages_by_key(all_of([window, prop("LastModified").le(upper)])):
                pages.append({"url": recording.urls[-1], "order_ids": [item["OrderID"] for item in items]})
            async for _ in billit.iter_order_pages(
                ODataQuery(filter=window, orderby=(("OrderID", "asc"),)), path=DELETED_ORDERS_PATH
            ):
                pass
        streams.append({"probe": recording.urls[0], "pages": pages, "deleted": recording.urls[-1]})
    return {"streams": streams}


def _requests(base_url: str) -> int:
    stats = httpx.get(f"{base_url}/_sandbox/stats", timeout=10).json()
    return sum(sum(counts.values()) for counts in stats["requests"].values())


def counted(base_url: str, command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """`timed`, with the requests the sandbox answered meanwhile."""
    before = _requests(base_url)
    return timed(command, env) | {"requests": _requests(base_url) - before}


def bare_loop(plan: Path, base_url: str, *options: str) -> dict[str, Any]:
    return counted(base_url, [sys.executable, str(ROOT / "bench/bare_loop.py"), str(plan), base_url, *options])


def timed(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a child process; its wall time (start to exit), CPU time and peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = (process.stdout.read() if process.stdout else b"").decode()
    error = (process.stderr.read() if process.stderr else b"").decode()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"{command[:3]} failed ({process.returncode}): {error[-2000:]}")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "output": output,
    }


def sync_command(base_url: str, work: Path, *, plain: bool) -> tuple[list[str], dict[str, str]]:
    url = f"sqlite:///{work / 'warehouse.sqlite'}"
    env = {**os.environ, **CREDENTIALS, "BILLIT_BASE_URL": base_url, "WAREHOUSE_URL": url}
    env.pop("PREFECT_API_URL", None)
    if plain:
        return [sys.executable, __file__, "--plain-worker", str(work / "landing")], env
    return [
        str(ROOT / ".venv/bin/billit-etl"),
        "sync",
        "all",
        "--no-prefect",
        "--landing-dir",
        str(work / "landing"),
        "--warehouse-url",
        url,
    ], env


def run_sync(base_url: str, *, plain: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        return counted(base_url, *sync_command(base_url, work, plain=plain))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def plain_worker(landing_dir: str) -> None:
    """The plain path of one sync (both streams, landing on) without the CLI: what a worker process needs."""
    from connectors.billit import BillitClient, load_settings
    from connectors.warehouse import create_warehouse_engine, upgrade
    from tasks.inbound.extract import STREAMS, SyncOptions, sync_stream
    from tasks.inbound.warehouse import finish_run, start_run

    engine = create_warehouse_engine(os.environ["WAREHOUSE_URL"])
    upgrade(engine)
    settings = load_settings()
    options = SyncOptions(landing_dir=Path(landing_dir) if landing_dir != "-" else None)
    for stream in STREAMS.values():
        run = start_run(engine, stream.name, "incremental", company_id=settings.require_party_id())

        async def extract(stream: Any = stream, run: Any = run) -> Any:
            async with BillitClient(settings) as billit:
                return await sync_stream(billit, engine, stream, run, options)

        stats = asyncio.run(extract())
        finish_run(engine, run, requests=stats.requests, pages=stats.paging.pages, orders_listed=stats.orders_listed)
    print(json.dumps({"prefect_imported": "prefect" in sys.modules}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--memory-orders", type=int, nargs="*", default=[])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plain-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain_worker:
        plain_worker(args.plain_worker)
        return

    results: dict[str, Any] = {"orders": args.orders, "latency_ms": args.latency_ms, "runs": [], "memory": {}}
    if args.repeat:
        with sandbox_process(args.orders, args.latency_ms) as base_url, tempfile.TemporaryDirectory() as scratch:
            plan = Path(scratch) / "plan.json"
            plan.write_text(json.dumps(asyncio.run(make_plan(base_url))))
            for _ in range(args.repeat):
                bare, one_by_one = (bare_loop(plan, base_url, *shape) for shape in ([], ["--one-by-one"]))
                sync = run_sync(base_url)
                ratio = sync["seconds"] / bare["seconds"]
                results["runs"].append({"bare": bare, "bare_one_by_one": one_by_one, "sync": sync, "ratio": ratio})
                print(
                    f"bare loop {bare['seconds']:.1f}s ({bare['requests']} requests, CPU {bare['cpu_seconds']:.1f}s, "
                    f"{bare['peak_rss_mb']:.0f} MiB), one stream after the other {one_by_one['seconds']:.1f}s; "
                    f"sync all {sync['seconds']:.1f}s ({sync['requests']} requests, CPU {sync['cpu_seconds']:.1f}s, "
                    f"{sync['peak_rss_mb']:.0f} MiB) -> {ratio:.2f}x, {sync['seconds'] / one_by_one['seconds']:.2f}x",
                    flush=True,
                )
    for orders in args.memory_orders:
        with sandbox_process(orders, 0.0) as base_url:
            cli, plain = run_sync(base_url), run_sync(base_url, plain=True)
        results["memory"][orders] = {"cli": cli, "plain": plain}
        print(
            f"memory at {orders} orders, landing on: `sync all --no-prefect` peak RSS {cli['peak_rss_mb']:.0f} MiB "
            f"({cli['seconds']:.0f}s); plain worker {plain['peak_rss_mb']:.0f} MiB ({plain['seconds']:.0f}s, "
            f"{plain['output'].strip()})",
            flush=True,
        )
    if args.json:  # without the children's output (the CLI's tables)
        for figures in [
            *(run[kind] for run in results["runs"] for kind in ("bare", "bare_one_by_one", "sync")),
            *(entry[kind] for entry in results["memory"].values() for kind in ("cli", "plain")),
        ]:
            figures.pop("output", None)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
