"""The sandbox's clocks and its 100-ns timestamps.

Billit writes naive local time, probably Europe/Brussels, with up to 7 fraction digits (.NET ``DateTime``
ticks of 100 ns, ``docs/reference/billit-api.md#timestamps``). Python's ``datetime`` stops at the microsecond,
so :class:`TickDateTime` carries the seventh digit beside it: a ``datetime`` subclass whose comparisons, hash
and text include the extra tick. A plain ``datetime`` counts as tick 0, so the two mix freely in filters and
sorts. Arithmetic on a :class:`TickDateTime` drops the tick (``datetime`` builds the result); use
:func:`add_ticks` to step by ticks.

Two clocks, both returning naive Brussels wall time:

* :class:`SandboxClock` — over an injectable time source, strictly increasing in local time (1 µs, or 1 tick
  with 7 fraction digits, after the previous value when the source has not moved). The default.
* :class:`SimulatedBrusselsClock` — a simulated UTC instant the test drives (start, speed, ``advance``,
  ``set_utc``), shown as local wall time. Only the UTC instant is kept increasing, so the local value goes back
  an hour at the October fall-back and jumps an hour in March, as a server writing local ``DateTime.Now`` does.
"""

from __future__ import annotations

import math
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "BRUSSELS",
    "Clock",
    "SandboxClock",
    "SimulatedBrusselsClock",
    "TickDateTime",
    "add_ticks",
    "brussels_now",
    "derived_tick",
    "retick",
    "retick_order",
    "floor_to_microsecond",
    "parse_tick_datetime",
    "parse_utc",
    "with_tick",
]

BRUSSELS = ZoneInfo("Europe/Brussels")
_EPOCH = datetime(1, 1, 1)  # noqa: DTZ001 - .NET's tick zero, used for UTC arithmetic only


def _tick_of(value: datetime) -> int:
    return getattr(value, "tick", 0)


class TickDateTime(datetime):
    """A naive ``datetime`` plus ``tick``, its seventh fraction digit (0–9, hundreds of nanoseconds).

    ``str``/``isoformat`` write 7 fraction digits when the tick is not 0. Compared with a plain ``datetime``,
    that one counts as tick 0 (``.123456`` < ``.1234567``).
    """

    tick: int = 0

    def __new__(cls, *args: Any, tick: int = 0, **kwargs: Any) -> TickDateTime:
        if not 0 <= tick <= 9:
            raise ValueError(f"tick must be 0-9, not {tick}")
        self = super().__new__(cls, *args, **kwargs)
        if tick:
            self.tick = tick
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, datetime):
            return NotImplemented
        return datetime.__eq__(self, other) and self.tick == _tick_of(other)

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, datetime):
            return NotImplemented
        return not self.__eq__(other)

    def __lt__(self, other: date) -> bool:
        if not isinstance(other, datetime):
            return NotImplemented
        return datetime.__lt__(self, other) or (datetime.__eq__(self, other) and self.tick < _tick_of(other))

    def __le__(self, other: date) -> bool:
        if not isinstance(other, datetime):
            return NotImplemented
        return datetime.__lt__(self, other) or (datetime.__eq__(self, other) and self.tick <= _tick_of(other))

    def __gt__(self, other: date) -> bool:
        if not isinstance(other, datetime):
            return NotImplemented
        return datetime.__gt__(self, other) or (datetime.__eq__(self, other) and self.tick > _tick_of(other))

    def __ge__(self, other: date) -> bool:
        if not isinstance(other, datetime):
            return NotImplemented
        return datetime.__gt__(self, other) or (datetime.__eq__(self, other) and self.tick >= _tick_of(other))

    __hash__ = datetime.__hash__  # equal values share the µs part, so the µs hash stays consistent

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        if self.tick and timespec == "auto":
            return datetime.isoformat(self, sep, "microseconds") + str(self.tick)
        return datetime.isoformat(self, sep, timespec)

    def __str__(self) -> str:
        return self.isoformat(" ")

    def __repr__(self) -> str:
        return f"TickDateTime({datetime.isoformat(self, 'T', 'microseconds')!r}, tick={self.tick})"

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # datetime's own reduce would rebuild the value without the tick (deepcopy, pickle).
        return (_rebuild, (floor_to_microsecond(self), self.tick))


def _rebuild(value: datetime, tick: int) -> datetime:
    return with_tick(value, tick)


def floor_to_microsecond(value: datetime) -> datetime:
    """The plain naive ``datetime`` of ``value`` (its tick dropped)."""
    return datetime(  # noqa: DTZ001 - naive local time by design (Billit has no zones)
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond
    )


def with_tick(value: datetime, tick: int) -> datetime:
    """``value`` at microsecond precision plus ``tick`` hundreds of ns (a plain ``datetime`` when tick is 0)."""
    base = floor_to_microsecond(value)
    if not tick:
        return base
    return TickDateTime(
        base.year, base.month, base.day, base.hour, base.minute, base.second, base.microsecond, tick=tick
    )


def add_ticks(value: datetime, ticks: int) -> datetime:
    """``value`` moved by ``ticks`` × 100 ns."""
    carry, tick = divmod(_tick_of(value) + ticks, 10)
    return with_tick(floor_to_microsecond(value) + timedelta(microseconds=carry), tick)


def derived_tick(value: datetime) -> int:
    """A seventh digit (1–9) derived from the value alone: equal values always get the same digit.

    Used to give microsecond timestamps (seeded books, a µs clock) Billit's 7 digits deterministically; never
    0, so the text really has 7 digits.
    """
    return 1 + zlib.crc32(floor_to_microsecond(value).isoformat().encode()) % 9


def brussels_now() -> datetime:
    """Naive Europe/Brussels wall-clock time, microsecond precision."""
    return datetime.now(BRUSSELS).replace(tzinfo=None)


def parse_tick_datetime(text: str) -> datetime:
    """A naive ISO timestamp with up to 7 fraction digits (``2025-04-07T13:30:32.1327398``), tick kept."""
    head, dot, fraction = text.strip().partition(".")
    if dot and not (fraction.isdigit() and len(fraction) <= 7):
        raise ValueError(f"not a naive timestamp with up to 7 fraction digits: {text!r}")
    value = datetime.fromisoformat(head)
    if value.tzinfo is not None:
        raise ValueError(f"expected a naive local timestamp, not {text!r}")
    digits = fraction.ljust(7, "0")
    return with_tick(value.replace(microsecond=int(digits[:6])), int(digits[6]))


def parse_utc(value: str | datetime) -> datetime:
    """A UTC instant as a naive UTC ``datetime``: naive input is UTC, an offset or ``Z`` is converted."""
    parsed = datetime.fromisoformat(value.strip()) if isinstance(value, str) else value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return floor_to_microsecond(parsed)


class Clock(ABC):
    """What the sandbox asks of a clock: fresh naive local timestamps and today's date."""

    @abstractmethod
    def now(self, fraction_digits: int = 6) -> datetime:
        """A fresh timestamp, naive Brussels time, at µs (6) or 100-ns (7) precision."""

    @abstractmethod
    def today(self) -> date:
        """Today's local date (for ``DaysOverdue``); does not consume a timestamp."""

    def describe(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_sandbox/clock``."""
        return {"clock": "system", "local": self._peek().isoformat()}

    def _peek(self) -> datetime:
        return datetime.combine(self.today(), datetime.min.time())


class SandboxClock(Clock):
    """A strictly increasing naive local clock over an injectable time source (default: the wall clock)."""

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or brussels_now
        self._last = datetime.min  # noqa: DTZ901 - naive local time by design (Billit has no zones)

    def _read(self) -> datetime:
        value = self._source()
        if value.tzinfo is not None:
            value = value.astimezone(BRUSSELS).replace(tzinfo=None)
        return value

    def now(self, fraction_digits: int = 6) -> datetime:
        """The next timestamp: the source's time, or 1 µs (1 tick with 7 digits) after the previous one."""
        value = self._read()
        if fraction_digits == 7:
            if not _tick_of(value):
                value = with_tick(value, derived_tick(value))
            if value <= self._last:
                value = add_ticks(self._last, 1)
        else:
            value = floor_to_microsecond(value)
            if value <= self._last:
                value = floor_to_microsecond(self._last) + timedelta(microseconds=1)
        self._last = value
        return value

    def today(self) -> date:
        """Today's date (for ``DaysOverdue``); does not consume a timestamp."""
        return max(self._read(), self._last).date()

    def _peek(self) -> datetime:
        return max(self._read(), self._last)


def _utc_ticks(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1) * 10


class SimulatedBrusselsClock(Clock):
    """A simulated UTC instant shown as naive Europe/Brussels wall time — daylight-saving changes included.

    The instant is ``utc_start`` (naive = UTC) plus the real time elapsed since, times ``speed`` (0 freezes
    it), plus every :meth:`advance`. Consecutive :meth:`now` calls at the same instant get distinct values
    (1 µs, or 1 tick, apart), but only the UTC instant is kept increasing: at the last Sunday of October the
    local value goes back from 02:59:59 to 02:00:00, in March it jumps from 02:00 to 03:00.
    """

    def __init__(
        self,
        utc_start: datetime | str,
        speed: float = 1.0,
        *,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._monotonic_ns = monotonic_ns
        self._speed = _check_speed(speed)
        self._anchor_ticks = _utc_ticks(parse_utc(utc_start))
        self._anchor_ns = monotonic_ns()
        self._last: int | None = None  # UTC ticks of the last value handed out

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    def _instant(self) -> int:
        elapsed_ns = self._monotonic_ns() - self._anchor_ns
        return self._anchor_ticks + int(elapsed_ns * self._speed) // 100

    def utc_now(self) -> datetime:
        """The simulated instant as a naive UTC ``datetime`` (µs precision); does not consume a timestamp."""
        return _EPOCH + timedelta(microseconds=self._instant() // 10)

    def set_speed(self, speed: float) -> None:
        """Change the speed from the current simulated instant on."""
        speed = _check_speed(speed)
        self._anchor_ticks, self._anchor_ns = self._instant(), self._monotonic_ns()
        self._speed = speed

    def set_utc(self, utc: datetime | str) -> None:
        """Jump to a UTC instant (naive = UTC). Values after the jump may be older than values before it."""
        self._anchor_ticks, self._anchor_ns = _utc_ticks(parse_utc(utc)), self._monotonic_ns()
        self._last = None

    def advance(self, delta: timedelta) -> None:
        """Move the simulated instant forward by ``delta`` (use :meth:`set_utc` to go back)."""
        if delta < timedelta(0):
            raise ValueError("advance() only moves forward; use set_utc() to go back")
        self._anchor_ticks += _utc_ticks(_EPOCH + delta)

    def now(self, fraction_digits: int = 6) -> datetime:
        """The local wall time of the simulated instant, 1 µs/tick after the previous value's instant if needed."""
        step = 1 if fraction_digits == 7 else 10
        raw = self._instant()
        raw -= raw % step
        if self._last is not None and raw <= self._last:
            raw = self._last - self._last % step + step
        self._last = raw
        return self._local(raw)

    def today(self) -> date:
        """The local date of the simulated instant."""
        return self._local(self._instant()).date()

    @staticmethod
    def _local(ticks: int) -> datetime:
        utc = (_EPOCH + timedelta(microseconds=ticks // 10)).replace(tzinfo=UTC)
        return with_tick(utc.astimezone(BRUSSELS).replace(tzinfo=None), ticks % 10)

    def describe(self) -> dict[str, Any]:
        return {
            "clock": "simulated",
            "utc": self.utc_now().isoformat(),
            "local": self._local(self._instant()).isoformat(),
            "speed": self._speed,
        }


def _check_speed(speed: float) -> float:
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed) or speed < 0:
        raise ValueError(f"speed must be a finite number >= 0, not {speed!r}")
    return float(speed)


_ORDER_TIMESTAMPS = ("LastModified", "Created")
_DELIVERY_TIMESTAMPS = ("DocumentDeliveryDate", "DocumentRefusedDate")


def retick(value: datetime, *, seven: bool) -> datetime:
    """``value`` with a seventh fraction digit derived from it (``seven``), or floored to microseconds."""
    if not seven:
        return floor_to_microsecond(value)
    if isinstance(value, TickDateTime) and value.tick:
        return value
    return with_tick(value, derived_tick(value))


def retick_order(order: dict[str, Any], *, seven: bool) -> None:
    """Give an order's own timestamps a seventh fraction digit (``seven``) or drop it."""
    for key in _ORDER_TIMESTAMPS:
        value = order.get(key)
        if isinstance(value, datetime):
            order[key] = retick(value, seven=seven)
    details = order.get("CurrentDocumentDeliveryDetails")
    if isinstance(details, dict):
        for key in _DELIVERY_TIMESTAMPS:
            value = details.get(key)
            if isinstance(value, datetime):
                details[key] = retick(value, seven=seven)
    for message in order.get("Messages", ()):
        value = message.get("CreationDate")
        if isinstance(value, datetime):
            message["CreationDate"] = retick(value, seven=seven)
