"""Deterministic seed data for the Billit sandbox: orders that look like a real Belgian company's books.

``generate_orders`` returns full orders in the sandbox's storage form (``generate_books`` those of every company
of a sandbox, ``company_roster`` its companies): Billit's PascalCase keys
(docs/reference/billit-api.md#sales-invoice-example, #received-invoice-example), ``Decimal`` money (0.01), quantities,
unit prices and FX rates (0.00001) and VAT rates (0.01), naive
``datetime`` timestamps (dates at midnight), and null members simply absent. ``Overdue``/``DaysOverdue`` are left
out: the sandbox derives them from ``ExpiryDate`` when it renders an order.

The books cover about 18 months of sales (``Income``) and purchases (``Cost``) with the mess real data has:
messy and occasionally invalid VAT numbers and identifiers, accented names, foreign currencies, credit notes,
every e-invoice delivery state (docs/reference/billit-api.md#delivery-status), and bulk updates that give hundreds of
orders one shared ``LastModified``.
``participant_registry`` answers the Peppol participant lookups (docs/reference/billit-api.md#peppol-lookup) for the
parties those orders mention.

Everything comes from one ``random.Random(seed)``: the same arguments always give the same orders.

The package is split by what it makes: ``companies`` (the own companies, from ``identity``, and the generated
ones of a sandbox with more), ``parties`` (customers and suppliers, with ``identifiers`` for their numbers and
``catalogue`` for names and places), ``lines`` (order lines and VAT), ``events`` (sending, delivery, responses,
payment), ``orders`` (one order), ``books`` (all of a company's orders, and every company's) and ``registry``
(the Peppol participants); ``state`` holds the run's state and its timestamps.
"""

from sandbox.seed.books import generate_books, generate_orders
from sandbox.seed.companies import OWN_COMPANIES, company_roster, own_company_party
from sandbox.seed.registry import participant_registry
from sandbox.seed.state import DEFAULT_START

__all__ = [
    "DEFAULT_START",
    "OWN_COMPANIES",
    "company_roster",
    "generate_books",
    "generate_orders",
    "own_company_party",
    "participant_registry",
]
