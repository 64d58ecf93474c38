"""Typed reads of a Billit order's JSON, and the limits of the warehouse's numeric columns (pure; no I/O).

`Fields` reads one JSON object of an order: absent or null is None, a value that is present but unreadable
raises `UnloadableOrder` naming the field (its path in the order), never quoting the value. `Numeric` says
what a NUMERIC column holds exactly on both databases; `tasks/normalise/orders.py` refuses anything beyond it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


class UnloadableOrder(ValueError):
    """An order missing what the warehouse needs to key it."""


@dataclass(frozen=True)
class Numeric:
    """What a NUMERIC column holds *exactly on both databases*: PostgreSQL's NUMERIC(p, s) is exact, but SQLite
    stores a REAL, exact to 15 significant digits (connectors/warehouse/load.py), and PostgreSQL rounds extra
    decimals where SQLite keeps them. A value beyond either limit is refused, never stored rounded on one
    database and exact (or different) on the other."""

    below: Decimal
    decimals: int
    # The smallest step the column keeps (0.01 for two decimals), made once: `Fields.number` runs ~50 times an order.
    step: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "step", Decimal(1).scaleb(-self.decimals))


MONEY = Numeric(Decimal("1e13"), 2)  # NUMERIC(18, 2): 13 integer digits + 2 decimals
QUANTITY = Numeric(Decimal("1e10"), 5)  # NUMERIC(18, 5): quantities, unit prices, FX rates
PERCENT = Numeric(Decimal("1e5"), 4)  # NUMERIC(9, 4)
BIGINT = 2**63
INTEGER = 2**31


class Fields:
    """Typed reads of one JSON object of an order. Absent or null is None; a value that is present but
    unreadable raises UnloadableOrder naming the field (its path in the order), never quoting the value."""

    def __init__(self, source: Mapping[str, Any], path: str = "") -> None:
        self.source = source
        self.path = path

    def _where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def unreadable(self, name: str, what: str) -> UnloadableOrder:
        return UnloadableOrder(f"{self._where(name)} is {what}")

    def text(self, name: str) -> str | None:
        value = self.source.get(name)
        if value is None:
            return None
        if type(value) is str:  # the usual case, first: this runs for every text of every order
            return value.strip() or None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self.unreadable(name, f"a JSON {json_type(value)}, not text")
        return str(value).strip() or None

    def number(self, name: str, column: Numeric) -> Decimal | None:
        value = self.source.get(name)
        if value is None:
            return None
        if type(value) is Decimal:  # what the wire gives a number with a fraction (Decimal is immutable)
            number = value
        else:
            try:
                if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
                    raise InvalidOperation
                number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
            except InvalidOperation:
                raise self.unreadable(name, "not a number") from None
        if not number.is_finite():
            raise self.unreadable(name, "not a finite number")
        if abs(number) >= column.below:
            raise self.unreadable(name, f"out of range (the warehouse holds up to {column.below:,.0f} exclusive)")
        if number != number.quantize(column.step):
            raise self.unreadable(name, f"more precise than the warehouse keeps ({column.decimals} decimals)")
        return number

    def integer(self, name: str, limit: int) -> int | None:
        value = self.source.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.unreadable(name, "not an integer")
        if not -limit <= value < limit:
            raise self.unreadable(name, "an integer out of range")
        return value

    def flag(self, name: str) -> bool | None:
        value = self.source.get(name)
        if value is None or isinstance(value, bool):
            return value
        raise self.unreadable(name, "not true or false")

    def timestamp(self, name: str) -> datetime | None:
        try:
            return as_timestamp(self.source.get(name))
        except ValueError:
            raise self.unreadable(name, "not an ISO 8601 date-time") from None

    def date(self, name: str) -> date | None:
        stamp = self.timestamp(name)
        return stamp.date() if stamp else None

    def object(self, name: str) -> Fields | None:
        value = self.source.get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.unreadable(name, f"a JSON {json_type(value)}, not an object")
        return Fields(value, self._where(name))

    def objects(self, name: str) -> list[Fields]:
        value = self.source.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.unreadable(name, f"a JSON {json_type(value)}, not a list")
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self.unreadable(f"{name}[{index}]", f"a JSON {json_type(item)}, not an object")
        return [Fields(item, f"{self._where(name)}[{index}]") for index, item in enumerate(value)]


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


#: Text no warehouse stores: PostgreSQL's holds no NUL, and neither database a lone surrogate.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def holds_unstorable_text(value: Any) -> bool:
    """Whether any text of a parsed JSON value (a property name or a string) holds a NUL or a lone surrogate: every
    text gathered and looked at once, twice as fast as encoding the value as JSON to look at that."""
    texts: list[str] = []
    _gather_texts(value, texts)
    try:
        joined = "".join(texts)
    except TypeError:  # a property name that is not text: not from JSON, let the walk judge
        return True
    return "\x00" in joined or holds_surrogate(joined)


def _gather_texts(value: Any, texts: list[str]) -> None:
    if isinstance(value, str):
        texts.append(value)
        return
    if isinstance(value, Mapping):
        texts.extend(value)  # the property names (one that is not text fails the join)
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return
    for item in items:  # the common types by identity first: this runs for every value of every order
        kind = type(item)
        if kind is str:
            texts.append(item)
        elif item is not None and kind not in _SCALARS:  # an object or a list
            _gather_texts(item, texts)


_SCALARS = frozenset({Decimal, int, bool, float})


def holds_surrogate(text: str) -> bool:
    """Whether `text` holds a lone surrogate: only text that is not ASCII can, and UTF-8 cannot encode one (both
    checks run in C, several times faster than a search for the range)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def refuse_unstorable_text(value: Any, path: str) -> None:
    """PostgreSQL text cannot hold NUL, and no database holds a lone surrogate (invalid UTF-16 escapes in JSON)."""
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            raise UnloadableOrder(f"{path or 'a value'} holds a NUL character or a lone surrogate")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and UNSTORABLE.search(key):
                raise UnloadableOrder(f"a property name under {path or 'the order'} holds a NUL or a lone surrogate")
            refuse_unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_unstorable_text(item, f"{path}[{index}]")


def as_timestamp(value: Any) -> datetime | None:
    """Billit's naive local timestamps; ValueError when present but unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    if not value.strip():
        return None
    # Billit writes naive local times; an offset on input (docs show one on POST) is dropped, keeping the
    # wall-clock time Billit itself would store.
    stamp = datetime.fromisoformat(value.strip())
    return stamp if stamp.tzinfo is None else stamp.replace(tzinfo=None)
