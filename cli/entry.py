"""The `billit-etl` executable: `cli.main` once imported, and an interruption while it is one line too.

Importing the commands takes a few tenths of a second; Ctrl-C (or SIGTERM from a scheduler) in that time printed
a Python traceback of wherever the import was (found by an operator's test). Nothing has started then.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)  # stops the import as Ctrl-C does; cli.main sets its own
    try:
        from cli.main import main as run_command
    except KeyboardInterrupt as stopped:
        sys.stderr.write("interrupted while starting: nothing was done\n")
        sys.exit(128 + signal.SIGTERM if isinstance(stopped, _Terminated) else 130)  # as shells, and cli.main, say
    run_command()


class _Terminated(KeyboardInterrupt):
    pass


def _terminated(_signum: int, _frame: object) -> None:
    raise _Terminated
