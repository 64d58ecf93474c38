"""What an Intervat draft is filed for (tasks/vat/intervat.py writes the drafts): the declarant, the period (a month
or a quarter), and the rows of the intra-community listing and of the annual client listing. A period that
cannot be is refused with a one-line ValueError.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

__all__ = ["PERIOD_FORMAT", "Declarant", "IntraClient", "ListedClient", "VatPeriod"]

PERIOD_FORMAT = "--period must look like 2026-Q3 or 2026-07"
_PERIOD_TEXT = re.compile(r"([0-9]{4})-(?:[Qq]([1-4])|(0[1-9]|1[0-2]))")


@dataclass(frozen=True)
class Declarant:
    """The Belgian taxable person a document is filed for.

    Only the VAT number is required by the schemas; name and address are written when given. The email address
    must match Intervat's pattern (letters, digits, `_ - .` before the @, a top-level domain of 2 to 5 letters)
    and the phone number digits, spaces and dashes with an optional leading `+`.
    """

    vat_number: str  # "BE0123456749": BE + 10 digits
    name: str
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str = "BE"
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class VatPeriod:
    """A month or a quarter of a year: what a periodic return or an intra-community listing covers."""

    year: int
    month: int | None = None  # exactly one of month / quarter is set
    quarter: int | None = None

    def __post_init__(self) -> None:
        # Belgium's VAT began in 1971; 9999 would also end past the last date Python holds (the period's end + 1 day).
        if not 1971 <= self.year <= 2999:
            raise ValueError(f"a VAT period's year is 1971 to 2999, not {self.year}")
        if (self.month is None) == (self.quarter is None):
            raise ValueError("a VAT period is a month or a quarter: set exactly one of month and quarter")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError(f"a VAT period's month is 1 to 12, not {self.month}")
        if self.quarter is not None and not 1 <= self.quarter <= 4:
            raise ValueError(f"a VAT period's quarter is 1 to 4, not {self.quarter}")

    @classmethod
    def parse(cls, text: str) -> VatPeriod:
        """Read "2026-Q3" (a quarter) or "2026-07" (a month)."""
        match = _PERIOD_TEXT.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{PERIOD_FORMAT} (got {text!r})")
        year, quarter, month = match.groups()
        if quarter is not None:
            return cls(int(year), quarter=int(quarter))
        return cls(int(year), month=int(month))

    @property
    def first_day(self) -> date:
        return date(self.year, self._first_month, 1)

    @property
    def last_day(self) -> date:
        last_month = self._first_month if self.quarter is None else self._first_month + 2
        return date(self.year, last_month, calendar.monthrange(self.year, last_month)[1])

    @property
    def _first_month(self) -> int:
        if self.month is not None:
            return self.month
        assert self.quarter is not None  # __post_init__ sets exactly one of them
        return 3 * self.quarter - 2

    def __str__(self) -> str:
        return f"{self.year}-{self.month:02d}" if self.month is not None else f"{self.year}-Q{self.quarter}"


@dataclass(frozen=True)
class IntraClient:
    """One row of the intra-community listing: what one EU customer was invoiced under one code in the period."""

    country: str  # "DE", "EL", ...
    vat_number: str  # without the country prefix
    code: str  # "L" (goods), "T" (triangular) or "S" (services)
    amount: Decimal


@dataclass(frozen=True)
class ListedClient:
    """One row of the annual client listing: a Belgian customer's turnover (excluding VAT) and VAT for the year."""

    vat_number: str  # "BE0123456749"
    turnover: Decimal
    vat_amount: Decimal
