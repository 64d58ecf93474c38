"""Benchmark: `billit-etl sync all --no-prefect` against a sandbox that allows 60 requests a second (issue 13).

The sandbox runs in its own process with a server-side limit (`Faults.rate_limit_per_s`, counted in `fixed`
1-second windows, a `sliding` window or a token `bucket`; 429 with `Retry-After: 1` beyond it). For each mode,
the sync runs without `BILLIT_MAX_REQUESTS_PER_S` (the limit is learnt from the 429s alone) and with it, once and
as two concurrent processes (each with its own warehouse, both syncing the same company). Each case starts with
nothing learnt (its own temporary directory, where the limiter keeps the state processes share); the two
processes of a case share one, as on one machine.

Figures per case: requests and 429s counted by the sandbox, the wall time from the first start to the last exit
(imports included), the floor (= requests answered ÷ the limit) and their ratio; CPU and peak RSS per process.

    .venv/bin/python bench/rate_limit.py --orders 2000 --latency-ms 20 --modes fixed sliding bucket
"""

from __future__ import annotations

import argparse
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
from bench.sync_all import sync_command  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _stats(base_url: str) -> tuple[int, int]:
    stats = httpx.get(f"{base_url}/_sandbox/stats", timeout=10).json()
    requests = sum(sum(counts.values()) for counts in stats["requests"].values())
    return requests, stats["faults"]["rate_limited"]


def run_case(
    base_url: str, *, limit: float, mode: str, processes: int, configured: float | None, every_company: bool = False
) -> dict[str, Any]:
    """One case: `processes` concurrent syncs, each into its own empty warehouse, against a fresh server limit;
    `every_company`: each sync is `--companies all`, without BILLIT_PARTY_ID."""
    httpx.put(
        f"{base_url}/_sandbox/faults", json={"rate_limit_per_s": limit, "rate_limit_mode": mode}, timeout=10
    ).raise_for_status()
    state = Path(tempfile.mkdtemp(prefix="bench-rate-state-"))
    works = [Path(tempfile.mkdtemp(prefix="bench-rate-")) for _ in range(processes)]
    try:
        requests_before, refused_before = _stats(base_url)
        children = []
        started = time.perf_counter()
        for work in works:
            command, env = sync_command(base_url, work, plain=False)
            env = env | {"TMPDIR": str(state)}
            if every_company:
                command.extend(["--companies", "all"])
                env.pop("BILLIT_PARTY_ID")
            if configured is not None:
                env["BILLIT_MAX_REQUESTS_PER_S"] = str(configured)
            else:
                env.pop("BILLIT_MAX_REQUESTS_PER_S", None)
            children.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        usages = []
        for child in children:
            _, status, usage = os.wait4(child.pid, 0)
            if os.waitstatus_to_exitcode(status):
                error = (child.stderr.read() if child.stderr else b"").decode()
                raise RuntimeError(f"sync failed: {error[-2000:]}")
            usages.append(usage)
        wall = time.perf_counter() - started
        requests_after, refused_after = _stats(base_url)
    finally:
        for folder in (state, *works):
            shutil.rmtree(folder, ignore_errors=True)
    requests = requests_after - requests_before
    refused = refused_after - refused_before
    floor = (requests - refused) / limit
    return {
        "mode": mode,
        "companies": "all" if every_company else "one",
        "processes": processes,
        "configured_per_s": configured,
        "requests": requests,
        "refused_429": refused,
        "refused_pct": round(100 * refused / requests, 2),
        "wall_s": round(wall, 2),
        "floor_s": round(floor, 2),
        "ratio": round(wall / floor, 3),
        "cpu_s": [round(u.ru_utime + u.ru_stime, 2) for u in usages],
        "peak_rss_mb": [round(u.ru_maxrss / 1024) for u in usages],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=2000, help="orders of the first company (or of each company)")
    parser.add_argument(
        "--companies", type=int, help="host this many companies with --orders each, and sync them all at once"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--limit", type=float, default=60.0, help="requests a second the sandbox allows")
    parser.add_argument("--configured", type=float, default=57.0, help="BILLIT_MAX_REQUESTS_PER_S of the 'with' runs")
    parser.add_argument("--modes", nargs="+", default=["fixed", "sliding", "bucket"])
    parser.add_argument("--processes", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--without-only", action="store_true", help="skip the runs with BILLIT_MAX_REQUESTS_PER_S")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/rate_limit.json")
    args = parser.parse_args()

    results = []
    with sandbox_process(args.orders, args.latency_ms, companies=args.companies) as base_url:
        for mode in args.modes:
            for configured in (None,) if args.without_only else (None, args.configured):
                for processes in args.processes:
                    result = run_case(
                        base_url,
                        limit=args.limit,
                        mode=mode,
                        processes=processes,
                        configured=configured,
                        every_company=args.companies is not None,
                    )
                    results.append(result)
                    print(json.dumps(result), flush=True)
    print("\n| mode | companies | processes | BILLIT_MAX_REQUESTS_PER_S | requests | 429s | wall | floor | x floor |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['mode']} | {r['companies']} | {r['processes']} | {r['configured_per_s'] or '-'} | "
            f"{r['requests']:,} | "
            f"{r['refused_429']} ({r['refused_pct']} %) | {r['wall_s']} s | {r['floor_s']} s | {r['ratio']} |"
        )
    args.output.write_text(json.dumps({"limit_per_s": args.limit, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
