"""Processes of this host, shared by the connectors and the tasks: whether one still runs."""

from __future__ import annotations

import os
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Whether a process of this host with that id runs (a claim, a run or a scratch directory of a dead one may be
    taken over or removed).

    A process killed whose parent has not reaped it yet is a zombie: `kill(pid, 0)` still succeeds, though it runs no
    more (found by an outside tester: a push killed with SIGKILL, its parent an init that reaps late, held its claims
    and the next push left every row pending). On Linux its state in /proc says so; elsewhere it counts as running.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: alive
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # pid (comm) state ...: comm may hold spaces and parentheses, the state follows the last ")".
    return stat.rpartition(")")[2].split()[:1] not in (["Z"], ["X"])
