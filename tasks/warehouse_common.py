"""What every direction of the pipeline (tasks/inbound, tasks/outbound, tasks/vat) shares about working with the
warehouse, so that none of them imports another's internals (docs/architecture.md#which-way-imports-go): a driver
error told in one line, and whether the process that claimed some rows is still alive (`dead_claimants`).
"""

from __future__ import annotations

import os
import socket
from typing import Any

import sqlalchemy as sa

from connectors.processes import process_alive

__all__ = ["dead_claimants", "driver_message", "process_alive", "shortened"]


def driver_message(exc: BaseException, limit: int | None = 300) -> str:
    """An error's first line (`shortened` to `limit`, unless None); for a database error the driver's, without the
    statement or its parameters (they hold customer data)."""
    message = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc)
    line = (message.strip().splitlines() or [""])[0]
    return line if limit is None else shortened(line, limit)


def shortened(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: a longer one loses words from its middle, not its end, where an
    error says what to do (a Billit error's long request URL sits in the middle, its hint at the end). Shorten
    after removing secrets: a secret cut in two is no longer found."""
    if len(text) <= limit or limit < 20:
        return text[:limit]
    head, tail = text[: limit // 2], text[-(limit - limit // 2 - 3) :]
    # At a space when one is near, so that words stay whole; a long URL is cut where it must be.
    if (space := head.rfind(" ")) > len(head) - 20:
        head = head[:space]
    if 0 <= (space := tail.find(" ")) < 20:
        tail = tail[space + 1 :]
    return f"{head} … {tail}"


def dead_claimants(connection: sa.Connection, claimed_by: sa.ColumnElement[Any], *where: Any) -> list[str]:
    """The claimants (`host/pid/...`, as the push and the webhook applier write them) found in `claimed_by` of the
    rows matching `where`, that are processes of this host which no longer run: their claims are free at once,
    without waiting for the lease."""
    host = socket.gethostname()
    claimants = connection.execute(
        sa.select(claimed_by).where(claimed_by.like(f"{host}/%"), *where).distinct()
    ).scalars()
    dead = []
    for claimant in claimants:
        pid = claimant.split("/")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            dead.append(claimant)
    return dead
