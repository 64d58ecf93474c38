"""asyncio helpers shared by the connectors and the tasks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def first_error() -> Iterator[None]:
    """Around an `asyncio.TaskGroup`: re-raise the first real error instead of the ExceptionGroup wrapping it.

    Callers (and Prefect's retry decision) then see the BillitError or SettingsError itself; the group stays
    attached as `__cause__` for the traceback.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        raise _leaves(group)[0] from group


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    leaves: list[BaseException] = []
    for error in group.exceptions:
        leaves += _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return leaves
