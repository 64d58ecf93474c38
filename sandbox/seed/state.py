"""The seed's shared state and its sense of time: constants, the state of one run, Billit-like timestamps.

Billit writes naive local (Brussels) times (docs/reference/billit-api.md, docs/reference/billit-api.md#serialization),
so the seed data is naive on purpose. Every random draw of a run comes from the one ``random.Random``
in :class:`SeedState`, in a fixed order: that order is what makes a seed give the same books every time.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.identity import OwnCompany

__all__ = [
    "Counterparty",
    "DEFAULT_START",
    "ONE5",
    "Q2",
    "Q5",
    "SPAN_DAYS",
    "ZERO",
    "Order",
    "SeedState",
    "business_moment",
    "created_times",
    "file_stamp",
    "midnight",
    "stamp",
]

DEFAULT_START = datetime(2026, 10, 31, 18, 0)  # noqa: DTZ001
SPAN_DAYS = 548  # about 18 months of books end at ``start``

Q2 = Decimal("0.01")
Q5 = Decimal("0.00001")
ZERO = Decimal("0.00")
ONE5 = Decimal("1.00000")

Order = dict[str, Any]


# A seeded customer or supplier: its Party forms and what the order generator needs to know about it.
@dataclass
class Counterparty:
    party: dict[str, Any]  # full Customer/Supplier form
    summary: dict[str, Any]  # CounterParty form
    country: str
    language: str
    category: str = ""
    cocontractor: bool = False
    private: bool = False
    number_format: str = ""
    next_number: int = 1
    terms: int = 30
    email: str = ""
    peppol_destination: str | None = None
    peppol_status: str = "none"


@dataclass
class SeedState:
    """Everything one ``generate_orders`` run carries from order to order."""

    rng: random.Random
    start: datetime
    company_id: int
    company_index: int
    own: OwnCompany  # the company whose books these are: its language, numbering and PDF names
    own_as_supplier: dict[str, Any]
    own_as_customer: dict[str, Any]
    customers: list[Counterparty]
    customer_weights: list[float]
    suppliers: list[Counterparty]
    supplier_weights: list[float]
    next_line_id: int
    sequences: dict[tuple[str, int], int] = field(default_factory=dict)
    income_invoice_numbers: list[str] = field(default_factory=list)
    inbox_sequence: int = 301_554

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def next_number(self, kind: str, year: int) -> int:
        """The next sequence number of ``kind`` (Invoice, CreditNote) in ``year``."""
        key = (kind, year)
        self.sequences[key] = self.sequences.get(key, 0) + 1
        return self.sequences[key]


_FRACTION_DIGITS = (0, 0, 1, 2, 2, 3, 3, 3, 4, 5, 6, 6)


def stamp(rng: random.Random, moment: datetime) -> datetime:
    """Billit's timestamps: .NET ticks written without trailing zeros, so the precision varies per value."""
    digits = rng.choice(_FRACTION_DIGITS)
    micro = rng.randrange(10**digits) * 10 ** (6 - digits) if digits else 0
    return moment.replace(microsecond=micro)


def midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def created_times(rng: random.Random, count: int, start: datetime) -> list[datetime]:
    """``count`` creation moments over the books' span, mostly on weekdays in office hours, ascending."""
    first_day = midnight(start) - timedelta(days=SPAN_DAYS)
    out: list[datetime] = []
    for _ in range(count):
        while True:
            day = first_day + timedelta(days=rng.randrange(SPAN_DAYS + 1))
            if day.weekday() < 5 or rng.random() < 0.15:
                break
        # Mostly office hours; Peppol documents also arrive at night.
        office = rng.random() < 0.85
        seconds = rng.randrange(7 * 3600 + 1800, 18 * 3600 + 1800) if office else rng.randrange(86400)
        moment = day + timedelta(seconds=seconds)
        if moment > start:
            moment = start - timedelta(seconds=rng.randrange(60, 8 * 3600))
        out.append(stamp(rng, moment))
    out.sort()
    return out


def business_moment(rng: random.Random, day: datetime) -> datetime:
    return midnight(day) + timedelta(seconds=rng.randrange(8 * 3600, 18 * 3600))


def file_stamp(moment: datetime) -> str:
    return f"{moment.day}_{moment.month:02d}_{moment.year} {moment:%H_%M_%S}"
