"""The windows and keys of a listing: where an incremental run starts, a backfill cut into slices, the key a page
ends at, and the watermark that never goes back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connectors.billit.errors import BillitPaginationError
from connectors.billit.odata import BillitTimestamp
from connectors.billit.pagination import last_listed_key, listed_key
from tasks.inbound.state import Watermark
from tasks.options import BILLIT_TIME_ZONE


def window_start(watermark: Watermark, lookback: timedelta) -> datetime:
    """Where an incremental run starts listing: the look-back below the watermark, one hour further when the
    watermark lies in the hour Brussels repeats on the last Sunday of October.

    Billit writes naive local time (docs/reference/billit-api.md#timestamps). A watermark taken in the first pass
    of that hour is above the LastModified of every order changed in the second pass, which a look-back of
    minutes would never reach again.
    """
    start = watermark.last_modified - lookback
    wall = watermark.last_modified
    if (
        wall.replace(tzinfo=BILLIT_TIME_ZONE, fold=0).utcoffset()
        != wall.replace(tzinfo=BILLIT_TIME_ZONE, fold=1).utcoffset()
    ):
        start -= timedelta(hours=1)
    return start


def tick_before(moment: datetime) -> BillitTimestamp:
    """The last instant Billit can write before `moment` (100 ns before it)."""
    return BillitTimestamp((moment - timedelta(microseconds=1)).isoformat(timespec="microseconds") + "9")


def split_window(since: datetime, until: datetime, slices: int) -> list[tuple[datetime, datetime]]:
    """[since, until) cut into `slices` contiguous, non-overlapping windows of equal length."""
    if until <= since or slices < 1:
        raise ValueError("a window needs since < until and at least one slice")
    step = (until - since) / slices
    bounds = [since + step * index for index in range(slices)] + [until]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def page_key(page: list[dict[str, Any]]) -> Watermark | None:
    """The key of a page's last well-formed item: a corrupted item must never become a watermark, which every
    later run would have to parse."""
    key = last_listed_key(page)
    return Watermark(*key) if key else None


def later(floor: Watermark | None, key: Watermark | None) -> Watermark | None:
    """The watermark never goes back: the look-back overlap lists keys below it."""
    if key is None or floor is None:
        return key or floor
    return max(floor, key)


def _keys(page: list[dict[str, Any]]) -> list[tuple[BillitTimestamp, int]]:
    """The keys of a page's well-formed items, in the page's order."""
    return [key for item in page if (key := listed_key(item)) is not None]


def newest_key(page: list[dict[str, Any]]) -> Watermark | None:
    """The newest well-formed key of a page, in whatever order the page came."""
    return max((Watermark(*key) for key in _keys(page)), default=None)


def check_newest_first(page: list[dict[str, Any]]) -> None:
    """Refuse a page asked newest first that is not: a server ignoring `desc` (which Billit documents) would give
    the oldest orders, and their first as the run's upper bound would leave every later order out of this run
    and, its watermark frozen, of every later one."""
    # Times only: the run's bound is the first order's LastModified, so a tie in another OrderID order is no harm.
    times = [listed.sort_key for listed, _ in _keys(page)]
    if any(newer > older for older, newer in zip(times, times[1:], strict=False)):
        raise BillitPaginationError(
            "Billit did not list the newest orders first (`$orderby=LastModified desc,OrderID desc`): the run's upper "
            "bound cannot be read from its first page, and paging by key would lose orders"
        )
