"""Benchmark: from a change in the sandbox to the warehouse row showing it, through Billit's webhooks (issue 14).

Three processes, as in production: the sandbox (`billit-etl sandbox serve`, which signs and sends its webhooks from
background threads), the receiver (`billit-etl webhooks serve`: verify, store, answer, apply) and this script,
which changes orders and watches the warehouse. The warehouse is synced once first, so every change is an update
of a row already there, as in a running system.

For each rate (changes a second), for `--seconds`: each change flips the paid flag of a different order of the
company (`POST /_sandbox/orders/{id}/touch {"Paid": ...}`: an Order U event); the latency of a change is the time
from just before that request to the first poll (every 20 ms) that sees the new `invoices.paid` for the order. Figures:
p50, p95 and max latency, changes made, seen, and lost (never seen within `--drain-s` after the last change), the
events the receiver stored by status, and the GETs of orders the receiver sent (one per order refreshed).

    .venv/bin/python bench/webhooks.py --rates 1 50 --seconds 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.client_fetch import free_port, sandbox_process  # noqa: E402
from connectors.warehouse import create_warehouse_engine, reflect_tables, upgrade  # noqa: E402
from sandbox.identity import API_KEY, PARTY_ID  # noqa: E402
from tasks.inbound.sync import run_stream  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.02


def register(base_url: str, receiver_url: str) -> dict[str, str]:
    """The receiver's Order U webhook, registered through the sandbox's API: WebhookID -> secret."""
    answer = httpx.post(
        f"{base_url}/v1/webhooks",
        json={"EntityType": "Order", "EntityUpdateType": "U", "WebhookURL": receiver_url},
        headers={"ApiKey": API_KEY, "PartyID": str(PARTY_ID)},
        timeout=10,
    ).raise_for_status()
    return {str(answer.json()["WebhookID"]): answer.json()["Secret"]}


@contextlib.contextmanager
def receiver_process(base_url: str, warehouse_url: str, secrets: dict[str, str], port: int) -> Any:
    env = {
        **os.environ,
        "BILLIT_BASE_URL": base_url,
        "BILLIT_API_KEY": API_KEY,
        "BILLIT_PARTY_ID": str(PARTY_ID),
        "BILLIT_WEBHOOK_SECRETS": json.dumps(secrets),
        "WAREHOUSE_URL": warehouse_url,
    }
    command = [str(ROOT / ".venv/bin/billit-etl"), "webhooks", "serve", "--port", str(port)]
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log, cwd=tempfile.gettempdir())
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the receiver did not start: {log.read()[-2000:]}")
                time.sleep(0.1)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


def company_orders(engine: sa.Engine) -> dict[int, bool]:
    """The company's orders in the warehouse and whether each is paid."""
    invoices = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(invoices.c.order_id, invoices.c.paid)
            .where(invoices.c.company_id == PARTY_ID)
            .order_by(invoices.c.order_id)
        ).all()
    return {int(order_id): bool(paid) for order_id, paid in rows}


def showing(engine: sa.Engine, targets: dict[int, bool]) -> set[int]:
    """The orders of `targets` whose warehouse row shows the paid flag they were changed to."""
    if not targets:
        return set()
    invoices = reflect_tables(engine)["invoices"]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(invoices.c.order_id, invoices.c.paid).where(invoices.c.order_id.in_(list(targets)))
        ).all()
    return {int(order_id) for order_id, paid in rows if bool(paid) == targets[int(order_id)]}


def event_counts(engine: sa.Engine) -> dict[str, int]:
    table = reflect_tables(engine)["webhook_events"]
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.status, sa.func.count()).group_by(table.c.status)).all()
    return {status: int(count) for status, count in rows}


def last_event_id(engine: sa.Engine) -> int:
    table = reflect_tables(engine)["webhook_events"]
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.event_id), 0))).scalar_one())


def stored_to_applied(engine: sa.Engine, after_event_id: int) -> dict[str, float | None]:
    """The receiver's own share of the latency: from an event stored to its outcome recorded (p50, p95)."""
    table = reflect_tables(engine)["webhook_events"]
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.received_at, table.c.applied_at).where(
                table.c.event_id > after_event_id, table.c.applied_at.is_not(None)
            )
        ).all()
    spans = sorted((applied - received).total_seconds() for received, applied in rows)
    if not spans:
        return {"p50_s": None, "p95_s": None}
    return {"p50_s": round(statistics.median(spans), 3), "p95_s": round(_percentile(spans, 0.95), 3)}


def order_gets(base_url: str) -> int:
    stats = httpx.get(f"{base_url}/_sandbox/stats", timeout=10).json()
    return sum(stats["requests"].get("GET /v1/orders/{id}", {}).values())


def run_rate(
    base_url: str, engine: sa.Engine, orders: dict[int, bool], *, rate: float, seconds: float, drain_s: float
) -> dict[str, Any]:
    """Change `rate` orders a second for `seconds` (each flips its paid flag), and time each until the warehouse
    shows it."""
    count = int(rate * seconds)
    if count > len(orders):
        raise SystemExit(f"only {len(orders)} orders left for {count} changes: raise --orders")
    chosen = list(orders)[:count]
    targets = {order_id: not orders.pop(order_id) for order_id in chosen}
    events_before, gets_before = event_counts(engine), order_gets(base_url)
    first_event = last_event_id(engine)
    changed_at: dict[int, float] = {}
    seen_at: dict[int, float] = {}
    started = time.monotonic()
    next_poll = started
    with httpx.Client(base_url=base_url, timeout=10) as sandbox:
        for index, order_id in enumerate(chosen):
            due = started + index / rate
            while (now := time.monotonic()) < due:
                if now >= next_poll:
                    _poll(engine, targets, changed_at, seen_at)
                    next_poll = time.monotonic() + POLL_S
                time.sleep(max(0.0, min(due, next_poll) - time.monotonic()))
            changed_at[order_id] = time.monotonic()
            sandbox.post(f"/_sandbox/orders/{order_id}/touch", json={"Paid": targets[order_id]}).raise_for_status()
        last_change = time.monotonic()
        while len(seen_at) < len(changed_at) and time.monotonic() < last_change + drain_s:
            _poll(engine, targets, changed_at, seen_at)
            time.sleep(POLL_S)
    latencies = sorted(seen_at[order_id] - changed_at[order_id] for order_id in seen_at)
    after = event_counts(engine)
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "changes": len(changed_at),
        "seen": len(seen_at),
        "lost": len(changed_at) - len(seen_at),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(_percentile(latencies, 0.95), 3) if latencies else None,
        "max_s": round(latencies[-1], 3) if latencies else None,
        "events_by_status": {status: after.get(status, 0) - events_before.get(status, 0) for status in after},
        "stored_to_applied": stored_to_applied(engine, first_event),
        "order_gets": order_gets(base_url) - gets_before,
        "achieved_rate_per_s": round(len(changed_at) / max(last_change - started, 1e-9), 2),
    }


def _poll(engine: sa.Engine, targets: dict[int, bool], changed_at: dict[int, float], seen_at: dict[int, float]) -> None:
    waiting = {order_id: targets[order_id] for order_id in changed_at if order_id not in seen_at}
    now = time.monotonic()
    for order_id in showing(engine, waiting):
        seen_at[order_id] = now


def _percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, max(0, round(share * len(values)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 50.0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--orders", type=int, default=4000, help="Orders the sandbox generates.")
    parser.add_argument("--drain-s", type=float, default=30.0, help="How long a change may take before it is lost.")
    parser.add_argument("--warehouse-url", default=None, help="Default: a new SQLite file.")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/webhooks.json")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    warehouse_url = options.warehouse_url or f"sqlite:///{work / 'warehouse.sqlite'}"
    engine = create_warehouse_engine(warehouse_url)
    upgrade(engine)
    results: dict[str, Any] = {"warehouse": engine.dialect.name, "orders": options.orders, "runs": []}
    with sandbox_process(options.orders, 0.0) as base_url:
        for stream in ("incoming", "sales"):
            run_stream(stream, engine=engine, landing_dir=None, base_url=base_url, api_key=API_KEY, party_id=PARTY_ID)
        orders = company_orders(engine)
        port = free_port()
        secrets = register(base_url, f"http://127.0.0.1:{port}/webhooks/billit")
        with receiver_process(base_url, warehouse_url, secrets, port):
            for rate in options.rates:
                run = run_rate(base_url, engine, orders, rate=rate, seconds=options.seconds, drain_s=options.drain_s)
                print(json.dumps(run), flush=True)
                results["runs"].append(run)
    # One entry per warehouse dialect: a run on the other keeps its figures.
    options.output.parent.mkdir(parents=True, exist_ok=True)
    kept = json.loads(options.output.read_text()) if options.output.exists() else {}
    kept = kept if isinstance(kept, dict) and "runs" not in kept else {}
    kept[engine.dialect.name] = results
    options.output.write_text(json.dumps(kept, indent=2) + "\n")


if __name__ == "__main__":
    main()
