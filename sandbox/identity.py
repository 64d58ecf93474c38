"""Who the sandbox is, declared once: its credentials, its two own companies and how they number invoices.

Everything that talks to the bundled sandbox (its own modules, the tests, the benchmarks, the demo) takes the
API key, the party ids and the company facts from here instead of typing them out. A sandbox asked for more
companies (``Sandbox(companies=N)``) generates the others after these two, with PartyIDs counting on from
``SECOND_PARTY_ID`` (``sandbox.seed.companies.company_roster``).

The own companies are Belgian: the enterprise number is the VAT number without ``BE`` and is a valid
number (the last two digits are ``97 - first8 % 97``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "API_KEY",
    "BEARER_TOKEN",
    "COMPANIES",
    "PARTY_ID",
    "SECOND_PARTY_ID",
    "USER_EMAIL",
    "OwnCompany",
    "company",
    "order_number",
]

API_KEY = "sandbox-api-key"
"""The API key with access to both own companies (``ApiKey`` header)."""
BEARER_TOKEN = "sandbox-bearer-token"
"""The OAuth bearer token with access to both own companies (``Authorization: Bearer ...``)."""
USER_EMAIL = "api-user@demo.example"
"""The user the credentials belong to (``GET /v1/account/accountInformation``)."""


@dataclass(frozen=True)
class OwnCompany:
    """One company hosted by the sandbox, with what its seeded books and new sales documents show."""

    party_id: int
    name: str
    enterprise_number: str
    street: str
    street_number: str
    box: str | None
    zipcode: str
    city: str
    iban: str
    bic: str
    email: str
    language: str
    contact: tuple[str, str]
    created: datetime
    invoice_format: str  # OrderNumber of a sales invoice: ``format(y=year, n=sequence)``
    credit_note_format: str
    pdf_stem: str  # the company part of a seeded sales PDF's name

    @property
    def vat_number(self) -> str:
        """The VAT number as Billit stores it for the company (``BE`` + the enterprise number)."""
        return f"BE{self.enterprise_number}"

    def number(self, order_type: str, year: int, n: int) -> str:
        """The ``n``-th OrderNumber of ``year`` for a sales document of this company.

        Invoices and credit notes follow the company's formats; other order types (offers, delivery notes) get
        ``{first three letters}-{year}-{n:04d}``.
        """
        fmt = f"{order_type[:3].upper()}-{{y}}-{{n:04d}}"
        if order_type == "Invoice":
            fmt = self.invoice_format
        elif order_type == "CreditNote":
            fmt = self.credit_note_format
        return fmt.format(y=year, n=n)


# Billit writes naive local (Brussels) times, so ``created`` is naive on purpose.
COMPANIES: tuple[OwnCompany, ...] = (
    OwnCompany(
        574991, "Demo BV", "0765432146", "Veldstraat", "3", "2", "9000", "Gent", "BE94735001234514", "KREDBEBB",
        "finance@demo.example", "NL", ("An", "Peeters"), datetime(2024, 6, 3, 9, 11, 58, 27_000),  # noqa: DTZ001
        "INV-{y}-{n:04d}", "CN-{y}-{n:04d}", "DemoBV",
    ),
    OwnCompany(
        574992, "Atelier Zoë SRL", "0812345603", "Rue Saint-Gilles", "27", None, "4000", "Liège",
        "BE57063345678935", "GKCCBEBB", "compta@atelier-zoe.example", "FR", ("Zoë", "Lefèvre"),
        datetime(2024, 9, 16, 14, 2, 7, 130_000),  # noqa: DTZ001
        "F{y}/{n:05d}", "NC{y}/{n:04d}", "AtelierZoeSRL",
    ),
)  # fmt: skip
"""The companies in the order the sandbox lists them; the first one gets most of the seeded books."""

PARTY_ID = COMPANIES[0].party_id
"""The PartyID of the first own company (574991), the one the pipeline reads by default."""
SECOND_PARTY_ID = COMPANIES[1].party_id
"""The PartyID of the second own company (574992)."""

_BY_ID = {own.party_id: own for own in COMPANIES}


def company(party_id: int) -> OwnCompany:
    """The own company with this PartyID (``KeyError`` for any other id)."""
    return _BY_ID[party_id]


def order_number(party_id: int, order_type: str, year: int, n: int) -> str:
    """The ``n``-th OrderNumber of ``year`` for a sales document of a declared company (:meth:`OwnCompany.number`).

    Other companies get ``{first three letters}-{year}-{n:04d}``; a sandbox with generated companies numbers
    theirs with ``Sandbox.own_companies[party_id].number``.
    """
    own = _BY_ID.get(party_id)
    if own is None:
        return f"{order_type[:3].upper()}-{year}-{n:04d}"
    return own.number(order_type, year, n)
