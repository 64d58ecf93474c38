"""OData v3 query builder for Billit list endpoints.

Filters are composed from typed values, never by pasting data into strings:

    query = ODataQuery(
        filter=prop("OrderDirection").eq("Cost") & prop("LastModified").ge(datetime(2026, 3, 1)),
        orderby=(("LastModified", "asc"),),
    )

Since 2026-03-17 Billit only accepts 28 properties in `$filter` (docs /docs/odata); naming any other one is a
programming error raised here, before a request is made, rather than a 400 from Billit at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Literal

FILTERABLE_PROPERTIES: frozenset[str] = frozenset(
    {
        "OrderID",
        "CounterParty/PartyID",
        "CompanyID",
        "OrderDirection",
        "OrderType",
        "OrderDate",
        "OrderNumber",
        "ExpiryDate",
        "ExportedToConnector",
        "AccountantVerificationNeeded",
        "TotalExcl",
        "TotalVAT",
        "TotalIncl",
        "FXRateToForeign",
        "Paid",
        "OrderStatus",
        "ExternalProviderID",
        "Currency",
        "PaymentReference",
        "LastModified",
        "Created",
        "ApprovalStatus",
        "PaidDate",
        "PaymentMethod",
        "Reference",
        "RemindersSent",
        "ExternalProvider",
        "IsSent",
    }
)

#: Billit's page size for OData lists; `$top` cannot exceed it without server paging kicking in.
PAGE_SIZE = 120

_BILLIT_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,7})?)?$")


class BillitTimestamp(str):
    """A timestamp exactly as Billit wrote it (`2025-04-07T13:30:32.1327398`), rendered verbatim.

    Billit keeps 7 fraction digits where Python keeps 6: a cursor built from a parsed datetime would not match
    the stored value with `eq`, so keyset paging compares with Billit's own text.
    """

    def __new__(cls, text: str) -> BillitTimestamp:
        if not _BILLIT_TIMESTAMP.match(text):
            raise ValueError(f"not a Billit timestamp: {text!r}")
        return super().__new__(cls, text)

    @property
    def sort_key(self) -> str:
        """The text with a time and a 7-digit fraction, so that text order is time order to the tick (100 ns)."""
        seconds, _, fraction = (self if "T" in self else f"{self}T00:00:00").partition(".")
        return f"{seconds}.{fraction:0<7}"

    def next_tick(self) -> BillitTimestamp:
        """The next instant Billit can write: this one plus 100 ns (`ge` on it means "after this one")."""
        seconds, _, fraction = self.sort_key.partition(".")
        ticks = int(fraction) + 1
        if ticks == 10**7:
            seconds, ticks = (datetime.fromisoformat(seconds) + timedelta(seconds=1)).isoformat(), 0
        return BillitTimestamp(f"{seconds}.{ticks:07d}")


Scalar = str | bool | int | Decimal | date | datetime | Enum | None
Direction = Literal["asc", "desc"]


class ODataPropertyError(ValueError):
    """A property Billit does not allow in `$filter` / `$orderby`."""


def literal(value: Scalar) -> str:
    """Render one Python value as an OData v3 literal."""
    if isinstance(value, Enum):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BillitTimestamp):
        return f"DateTime'{value}'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot filter on {value}")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            # Billit's timestamps are naive local times of undocumented zone; comparing them with an aware
            # value would silently shift the window, so make the caller decide.
            raise ValueError("Billit filters take naive datetimes (Billit's own local time), not aware ones")
        return f"DateTime'{format_datetime(value)}'"
    if isinstance(value, date):
        return f"DateTime'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no OData literal for {type(value).__name__} (use Decimal, not float, for amounts)")


def format_datetime(value: datetime) -> str:
    """Billit's own form: ISO without offset, fraction trimmed of trailing zeros."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text


def _checked(name: str) -> str:
    if name not in FILTERABLE_PROPERTIES:
        raise ODataPropertyError(
            f"Billit does not allow {name!r} in $filter/$orderby; allowed: {', '.join(sorted(FILTERABLE_PROPERTIES))}"
        )
    return name


class Expr:
    """A boolean filter expression."""

    def render(self) -> str:
        raise NotImplementedError

    def __and__(self, other: Expr) -> Expr:
        return _Junction("and", (self, other))

    def __or__(self, other: Expr) -> Expr:
        return _Junction("or", (self, other))

    def __invert__(self) -> Expr:
        return _Not(self)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class _Comparison(Expr):
    name: str
    operator: str
    value: Scalar

    def render(self) -> str:
        return f"{self.name} {self.operator} {literal(self.value)}"


@dataclass(frozen=True)
class _Junction(Expr):
    operator: str
    operands: tuple[Expr, ...]

    def render(self) -> str:
        return f" {self.operator} ".join(
            f"({operand.render()})"
            if isinstance(operand, _Junction) and operand.operator != self.operator
            else operand.render()
            for operand in self.operands
        )


@dataclass(frozen=True)
class _Not(Expr):
    operand: Expr

    def render(self) -> str:
        return f"not ({self.operand.render()})"


@dataclass(frozen=True)
class Property:
    """A filterable Order property; its methods build comparisons with typed values."""

    name: str

    def __post_init__(self) -> None:
        _checked(self.name)

    def eq(self, value: Scalar) -> Expr:
        return _Comparison(self.name, "eq", value)

    def ne(self, value: Scalar) -> Expr:
        return _Comparison(self.name, "ne", value)

    def gt(self, value: Scalar) -> Expr:
        return _Comparison(self.name, "gt", value)

    def ge(self, value: Scalar) -> Expr:
        return _Comparison(self.name, "ge", value)

    def lt(self, value: Scalar) -> Expr:
        return _Comparison(self.name, "lt", value)

    def le(self, value: Scalar) -> Expr:
        return _Comparison(self.name, "le", value)


def prop(name: str) -> Property:
    """The filterable property `name` (raises ODataPropertyError for any other)."""
    return Property(name)


def all_of(expressions: Iterable[Expr]) -> Expr | None:
    """`a and b and ...`, or None for no expressions."""
    parts = tuple(expressions)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else _Junction("and", parts)


@dataclass(frozen=True)
class ODataQuery:
    """`$filter`, `$orderby`, `$top` (a total limit), `$skip` and `$inlinecount` of one listing."""

    filter: Expr | None = None
    orderby: tuple[tuple[str, Direction], ...] = ()
    top: int | None = None
    skip: int | None = None
    inline_count: bool = False
    extra: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        for name, direction in self.orderby:
            _checked(name)
            if direction not in ("asc", "desc"):
                raise ValueError(f"order direction must be 'asc' or 'desc', not {direction!r}")
        if self.top is not None and self.top < 1:
            raise ValueError("$top must be positive")
        if self.skip is not None and self.skip < 0:
            raise ValueError("$skip cannot be negative")

    def stable_orderby(self) -> tuple[tuple[str, Direction], ...]:
        """The ordering with OrderID appended as the tie-breaker, so paging is deterministic."""
        if any(name == "OrderID" for name, _ in self.orderby):
            return self.orderby
        return (*self.orderby, ("OrderID", "asc"))

    def params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.filter is not None:
            params["$filter"] = self.filter.render()
        params["$orderby"] = ",".join(f"{name} {direction}" for name, direction in self.stable_orderby())
        if self.top is not None:
            params["$top"] = str(self.top)
        if self.skip:
            params["$skip"] = str(self.skip)
        if self.inline_count:
            params["$inlinecount"] = "allpages"
        params.update(self.extra)
        return params
