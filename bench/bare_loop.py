"""The floor of `bench/sync_all.py`: the sync's HTTP requests replayed by a bare httpx loop in its own process.

Reads a plan (JSON: per stream the probe URL, the listing page URLs in order with the OrderIDs each page
listed, and the deletions URL), then issues exactly those requests with plain httpx: the streams side by side as
the sync runs them, each on its own client with 8 in flight (`--one-by-one`: one after the other); a stream's
pages one after the other (keyset paging cannot run ahead), every listed order's detail GET as soon as its page
arrived, each answer parsed as JSON. No parsing into types, no database, no landing. Only httpx is imported, so
the process's time from start to exit is what Python and httpx need for these requests.

    .venv/bin/python bench/bare_loop.py PLAN.json BASE_URL [--one-by-one]
"""

import asyncio
import json
import sys
import time
from typing import Any

import httpx

from sandbox.identity import API_KEY, PARTY_ID

HEADERS = {"ApiKey": API_KEY, "PartyID": str(PARTY_ID), "Accept": "application/json"}
CONCURRENCY = 8


async def replay(plan: dict[str, Any], base_url: str, *, side_by_side: bool) -> int:
    """The streams side by side, as the sync runs them, each on its own client with CONCURRENCY in flight; or one
    after the other (issue 12's loop: CONCURRENCY in flight in all)."""
    if side_by_side:
        return sum(await asyncio.gather(*(replay_stream(stream, base_url) for stream in plan["streams"])))
    return sum([await replay_stream(stream, base_url) for stream in plan["streams"]])


async def replay_stream(stream: dict[str, Any], base_url: str) -> int:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    slots = asyncio.Semaphore(CONCURRENCY)
    requests = 0
    async with httpx.AsyncClient(base_url=base_url, headers=HEADERS, limits=limits, timeout=60) as client:

        async def get(url: str) -> None:
            nonlocal requests
            async with slots:
                requests += 1
                response = await client.get(url)
                response.raise_for_status()
                response.json()

        await get(stream["probe"])
        details: list[asyncio.Task[None]] = []
        for page in stream["pages"]:
            await get(page["url"])
            details += [asyncio.create_task(get(f"/v1/orders/{order_id}")) for order_id in page["order_ids"]]
        await asyncio.gather(*details)
        await get(stream["deleted"])
    return requests


def main() -> None:
    started = time.perf_counter()
    with open(sys.argv[1]) as plan_file:
        plan = json.load(plan_file)
    requests = asyncio.run(replay(plan, sys.argv[2], side_by_side="--one-by-one" not in sys.argv[3:]))
    print(json.dumps({"requests": requests, "seconds_in_process": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
