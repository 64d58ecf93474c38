"""An ASGI app that reads the request, sleeps the latency and answers a constant: no work at all.

Timing a raw httpx loop against it shows what Python's HTTP stack allows on this machine, apart from the sandbox
and from the pipeline (bench/push.py reports it beside the push). Latency from `SLEEP_SERVER_LATENCY_MS`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

LATENCY_S = float(os.environ.get("SLEEP_SERVER_LATENCY_MS", "20")) / 1000


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await asyncio.sleep(LATENCY_S)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"1"})
