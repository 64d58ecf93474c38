"""What every direction of the pipeline (tasks/inbound, tasks/outbound, tasks/vat) shares about working with the
warehouse, so that none of them imports another's internals (docs/architecture.md#which-way-imports-go): a driver
error told in one line, and whether the process that claimed some rows is still alive.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

__all__ = ["driver_message", "process_alive"]


def driver_message(exc: BaseException) -> str:
    """An error's first line; for a database error the driver's, without the statement or its parameters (they
    hold customer data)."""
    message = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc)
    return (message.strip().splitlines() or [""])[0][:200]


def process_alive(pid: int) -> bool:
    """Whether a process of this host with that id runs (a claim of a dead one may be taken over)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    return True
