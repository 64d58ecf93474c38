"""Benchmark: push N outbound invoices into the sandbox (own process, injected latency), clean and under faults.

Reports wall time against the floor (requests the push made x latency / concurrency, / runs at once) for one run
and for `--parallel` runs at once (separate processes, as N Prefect workers: they must share the rows), and, under
the fault mix of the reverse-flow tests (10 % of POSTs commit but lose their answer, 10 % 5xx, 10 % dropped
connections), the number of duplicate orders, which must be 0. Beside them, in the same run, two baselines: a bare
loop (the same `create_order` calls at the same concurrency, no warehouse at all: what the sandbox and the client
allow), and a raw httpx loop against a server that only sleeps the latency (what the HTTP stack allows).

    .venv/bin/python bench/push.py --invoices 2000 --latency-ms 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.client_fetch import free_port, sandbox_process  # noqa: E402
from connectors.billit import BillitClient, load_settings  # noqa: E402
from connectors.warehouse import create_warehouse_engine, reflect_tables, upgrade, upsert_rows  # noqa: E402
from sandbox.identity import API_KEY, PARTY_ID
from tasks.outbound.payload import idempotency_key, order_payload  # noqa: E402
from tasks.outbound.push import PushOptions, run_push  # noqa: E402
from tests.tasks.test_push import outbound  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = 8
FAULTS = {"rate_post_commit_drop": 0.1, "rate_5xx": 0.1, "rate_drop": 0.1, "seed": 4}


def _items(invoices: int) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    return [outbound(f"bench-{n:06d}", lines=1 + n % 3) for n in range(invoices)]


def bare(invoices: int, latency_ms: float) -> dict[str, Any]:
    """The same creates, straight from a list: no claims, no validation, no outcomes written."""
    payloads = [order_payload(row, lines) for row, lines in _items(invoices)]

    async def create_all(base_url: str) -> float:
        settings = load_settings(base_url=base_url, api_key=API_KEY, party_id=PARTY_ID, max_concurrency=CONCURRENCY)
        async with BillitClient(settings) as billit:
            started = time.perf_counter()
            await asyncio.gather(
                *(billit.create_order(payload, idempotency_key=idempotency_key(payload)) for payload in payloads)
            )
            return time.perf_counter() - started

    with sandbox_process(0, latency_ms) as base_url:
        elapsed = asyncio.run(create_all(base_url))
    floor = invoices * latency_ms / 1000 / CONCURRENCY
    return {
        "invoices": invoices,
        "seconds": elapsed,
        "requests": invoices,
        "floor_seconds": floor,
        "ratio_to_floor": elapsed / floor,
    }


def http_floor(invoices: int, latency_ms: float) -> dict[str, Any]:
    """A raw httpx loop posting the same bodies to a server that only sleeps (bench/sleep_server.py)."""
    bodies = [json.dumps(order_payload(row, lines), default=str).encode() for row, lines in _items(invoices)]
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(ROOT / "bench"),
            "sleep_server:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env={**os.environ, "SLEEP_SERVER_LATENCY_MS": str(latency_ms)},
    )

    async def post_all() -> float:
        slots = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_connections=CONCURRENCY)
        ) as client:

            async def post(body: bytes) -> None:
                async with slots:
                    (await client.post("/v1/orders", content=body)).raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(post(body) for body in bodies))
            return time.perf_counter() - started

    try:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            time.sleep(0.1)
        elapsed = asyncio.run(post_all())
    finally:
        server.terminate()
        server.wait(timeout=10)
    floor = invoices * latency_ms / 1000 / CONCURRENCY
    return {"invoices": invoices, "seconds": elapsed, "floor_seconds": floor, "ratio_to_floor": elapsed / floor}


def _push_process(url: str, base_url: str, batch_size: int, go: Any, results: Any) -> None:
    engine = create_warehouse_engine(url)
    go.wait()
    summary = run_push(
        PushOptions(batch_size=batch_size),
        engine=engine,
        base_url=base_url,
        api_key=API_KEY,
        party_id=PARTY_ID,
        max_concurrency=CONCURRENCY,
    )
    results.put(summary)


def _push_runs(url: str, base_url: str, batch_size: int, parallel: int) -> list[dict[str, Any]]:
    """`parallel` pushes at once, each its own process (forked once the imports are done), timed from their start."""
    context = multiprocessing.get_context("fork")
    go, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=_push_process, args=(url, base_url, batch_size, go, results)) for _ in range(parallel)
    ]
    for process in processes:
        process.start()
    go.set()
    summaries = [results.get() for _ in processes]
    for process in processes:
        process.join()
    return summaries


def bench(
    invoices: int, latency_ms: float, faults: dict[str, Any] | None, batch_size: int, parallel: int = 1
) -> dict[str, Any]:
    path = ROOT / "bench" / "results" / f"push-{uuid.uuid4().hex[:6]}.sqlite"
    url = f"sqlite:///{path}"
    engine = create_warehouse_engine(url)
    upgrade(engine)
    items = _items(invoices)
    tables = reflect_tables(engine)
    with engine.begin() as connection:
        upsert_rows(connection, tables["outbound_invoices"], [row for row, _ in items], ["external_id"])
        upsert_rows(
            connection,
            tables["outbound_invoice_lines"],
            [line for _, lines in items for line in lines],
            ["external_id", "line_number"],
        )
    try:
        with sandbox_process(0, latency_ms) as base_url:
            if faults:
                httpx.put(f"{base_url}/_sandbox/faults", json=faults).raise_for_status()
            started = time.perf_counter()
            runs = 0
            considered: list[int] = []
            while True:  # rows whose retries ran out are the next run's
                runs += 1
                summaries = _push_runs(url, base_url, batch_size, parallel)
                considered += [summary["considered"] for summary in summaries]
                if not any(summary["failed"] for summary in summaries):
                    break
            elapsed = time.perf_counter() - started
            stats = httpx.get(f"{base_url}/_sandbox/stats").json()
        requests = sum(sum(counts.values()) for counts in stats["requests"].values())
        with engine.connect() as connection:
            outbound_table = tables["outbound_invoices"]
            linked = connection.execute(
                sa.select(sa.func.count(sa.distinct(outbound_table.c.billit_order_id)))
            ).scalar_one()
        orders = int(stats["orders_per_company"][str(PARTY_ID)])
        floor = requests * latency_ms / 1000 / CONCURRENCY / parallel
        return {
            "invoices": invoices,
            "faults": faults or {},
            "parallel": parallel,
            "considered": considered,
            "runs": runs,
            "seconds": elapsed,
            "requests": requests,
            "floor_seconds": floor,
            "ratio_to_floor": elapsed / floor,
            "orders_in_billit": orders,
            "rows_linked": linked,
            "duplicates": orders - linked,
            "fault_counts": stats["faults"],
        }
    finally:
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=PushOptions.batch_size)
    parser.add_argument("--clean-only", action="store_true")
    parser.add_argument("--parallel", type=int, default=2, help="Also run this many pushes at once, clean.")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    stack = http_floor(args.invoices, args.latency_ms)
    print(
        f"raw httpx loop against a server that only sleeps: {args.invoices} POSTs in {stack['seconds']:.1f}s "
        f"(floor {stack['floor_seconds']:.1f}s, {stack['ratio_to_floor']:.2f}x)",
        flush=True,
    )
    baseline = bare(args.invoices, args.latency_ms)
    print(
        f"bare loop: {args.invoices} creates in {baseline['seconds']:.1f}s (floor {baseline['floor_seconds']:.1f}s, "
        f"{baseline['ratio_to_floor']:.2f}x)",
        flush=True,
    )
    results: list[dict[str, Any]] = [{"raw_httpx_sleep_only_server": stack}, {"bare_loop": baseline}]
    cases = [(None, 1), (None, args.parallel)] + ([] if args.clean_only else [(FAULTS, 1)])
    for faults, parallel in cases:
        figures = bench(args.invoices, args.latency_ms, faults, args.batch_size, parallel)
        # What the bare loop would take for the same requests with the same number of clients.
        figures["ratio_to_bare_loop"] = figures["seconds"] / (
            baseline["seconds"] / baseline["requests"] * figures["requests"] / parallel
        )
        results.append(figures)
        print(
            f"{'faults' if faults else 'clean'}, {parallel} run(s) at once (rows each: {figures['considered']}): "
            f"{figures['invoices']} invoices in {figures['seconds']:.1f}s "
            f"over {figures['runs']} run(s), {figures['requests']} requests (floor {figures['floor_seconds']:.1f}s, "
            f"{figures['ratio_to_floor']:.2f}x, {figures['ratio_to_bare_loop']:.2f}x the bare loop); "
            f"{figures['orders_in_billit']} orders in Billit, "
            f"{figures['duplicates']} duplicates; faults {figures['fault_counts']}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
