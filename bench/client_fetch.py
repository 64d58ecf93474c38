"""Benchmark: fetch the full details of N orders from the sandbox served with injected latency.

The sandbox runs in its own process (`billit-etl sandbox serve`), so client and server do not share a GIL.
For each concurrency the script lists every order id (paging), then fetches every order by id, and reports wall
time against the floor (requests x latency / concurrency), requests per second and peak memory.

    .venv/bin/python bench/client_fetch.py --orders 5000 --latency-ms 20 --concurrency 1 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx

from connectors.billit import BillitClient, ODataQuery, load_settings
from sandbox.identity import API_KEY, PARTY_ID

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def sandbox_process(orders: int, latency_ms: float, *, companies: int | None = None) -> Iterator[str]:
    """A sandbox in its own process: `orders` for the first company, or, with `companies`, that many companies
    with `orders` each."""
    port = free_port()
    # The sandbox gives 10 % of its orders to the second company: generate enough for `orders` in the first.
    total = -(-orders * 10 // 9)
    size = (
        ["--orders", str(total)]
        if companies is None
        else ["--companies", str(companies), "--orders-per-company", str(orders)]
    )
    command = [
        str(ROOT / ".venv/bin/billit-etl"),
        "sandbox",
        "serve",
        "--port",
        str(port),
        *size,
        "--seed",
        "7",
        "--latency-ms",
        str(latency_ms),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base_url}/_sandbox/stats", timeout=1).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError(f"sandbox exited: {process.stderr.read().decode() if process.stderr else ''}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def fetch_all(base_url: str, concurrency: int, orders: int) -> dict[str, float]:
    settings = load_settings(base_url=base_url, api_key=API_KEY, party_id=PARTY_ID, max_concurrency=concurrency)
    async with BillitClient(settings) as billit:
        started = time.perf_counter()
        order_ids = [item["OrderID"] async for page in billit.iter_order_pages(ODataQuery(top=orders)) for item in page]
        listed = time.perf_counter()
        list_requests = billit.requests_sent
        tracemalloc.start()
        orders = await billit.get_orders(order_ids)
        _, peak_python = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        finished = time.perf_counter()
        assert len(orders) == len(order_ids) == len({order["OrderID"] for order in orders})
        return {
            "orders": len(orders),
            "list_requests": list_requests,
            "list_s": listed - started,
            "detail_requests": billit.requests_sent - list_requests,
            "detail_s": finished - listed,
            "retries": billit.retries,
            "peak_python_mb": peak_python / 2**20,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results = []
    with sandbox_process(args.orders, args.latency_ms) as base_url:
        for concurrency in args.concurrency:
            figures = asyncio.run(fetch_all(base_url, concurrency, args.orders))
            floor = figures["detail_requests"] * args.latency_ms / 1000 / concurrency
            figures |= {
                "concurrency": concurrency,
                "floor_s": floor,
                "ratio_to_floor": figures["detail_s"] / floor,
                "requests_per_s": figures["detail_requests"] / figures["detail_s"],
            }
            results.append(figures)
            print(
                f"concurrency {concurrency}: {figures['orders']} orders in {figures['detail_s']:.2f}s "
                f"(floor {floor:.2f}s, {figures['ratio_to_floor']:.2f}x), {figures['requests_per_s']:.0f} req/s, "
                f"listing {figures['list_requests']} pages in {figures['list_s']:.2f}s, "
                f"peak Python heap {figures['peak_python_mb']:.1f} MiB, retries {figures['retries']}",
                flush=True,
            )
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS of the client process: {peak_rss_mb:.0f} MiB (python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cores)"
    )
    if args.json:
        args.json.write_text(json.dumps({"results": results, "peak_rss_mb": peak_rss_mb}, indent=2))


if __name__ == "__main__":
    main()
