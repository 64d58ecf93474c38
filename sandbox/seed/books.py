"""The seeded books: ``generate_orders`` for one own company (its customer and supplier pools, bulk updates), and
``generate_books`` for every company of a sandbox.

Everything comes from one ``random.Random(seed)``: the same arguments always give the same orders.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import accumulate

from sandbox.identity import COMPANIES, PARTY_ID, OwnCompany
from sandbox.seed.companies import own_company_party
from sandbox.seed.orders import build_order
from sandbox.seed.parties import copy_party, make_pool, pareto_weights
from sandbox.seed.state import DEFAULT_START, SPAN_DAYS, Order, SeedState, created_times

__all__ = ["generate_books", "generate_orders"]

_ORDER_ID_BASE = 2_600_000
_ORDER_LINE_ID_BASE = 20_500_000
_CUSTOMER_ID_BASE = 1_080_000
_SUPPLIER_ID_BASE = 1_090_000
_COMPANY_ID_STRIDE = 1_000_000  # OrderIDs/PartyIDs of each next own company start one stride higher
_CUSTOMER_POOL = 230
_SUPPLIER_POOL = 120


def generate_orders(
    *,
    seed: int,
    orders: int,
    company_id: int = PARTY_ID,
    start: datetime | None = None,
    tie_sizes: tuple[int, ...] | None = None,
    companies: Sequence[OwnCompany] = COMPANIES,
) -> list[Order]:
    """Generate ``orders`` full orders (storage form) for one own company, ascending by ``OrderID``.

    ``company_id`` is one of ``companies`` (the declared two by default, or a sandbox's
    :func:`~sandbox.seed.companies.company_roster`); its place in them sets the range of its ids.

    ``start`` is the "now" of the data set (default 2026-10-31 18:00): nothing happens after it and the books
    span the 18 months before it. ``tie_sizes`` are the sizes of the groups of orders that share one
    ``LastModified`` (default: 300 and 130 from 1,000 orders on, else one group of ``min(orders // 4, 150)``);
    pass ``()`` for none. The same arguments always return the same orders.
    """
    index = next((n for n, own in enumerate(companies) if own.party_id == company_id), None)
    if index is None:
        known = ", ".join(str(own.party_id) for own in companies)
        raise ValueError(f"unknown own company {company_id}; the sandbox knows {known}")
    if orders < 0:
        raise ValueError("orders must be >= 0")
    start = start or DEFAULT_START
    sizes = _default_tie_sizes(orders) if tie_sizes is None else tuple(tie_sizes)
    if sum(sizes) > orders:
        raise ValueError(f"tie_sizes {sizes} need more than {orders} orders")
    # Every order stays alive until the end, so cyclic GC passes over the growing heap only cost time
    # (about 40 % of the run at 20,000 orders).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(seed, orders, index, companies[index], start, sizes)
    finally:
        if gc_was_enabled:
            gc.enable()


def _generate(
    seed: int, orders: int, company_index: int, company: OwnCompany, start: datetime, sizes: tuple[int, ...]
) -> list[Order]:
    rng = random.Random(seed)
    own = own_company_party(company)
    offset = company_index * _COMPANY_ID_STRIDE

    customers = make_pool(rng, "Customer", _CUSTOMER_ID_BASE + offset // 10, _CUSTOMER_POOL, start)
    suppliers = make_pool(rng, "Supplier", _SUPPLIER_ID_BASE + offset // 10, _SUPPLIER_POOL, start)
    own_as_customer = copy_party(own)
    own_as_customer["PartyType"] = "Customer"
    state = SeedState(
        rng=rng,
        start=start,
        company_id=company.party_id,
        company_index=company_index,
        own=company,
        own_as_supplier=own,
        own_as_customer=own_as_customer,
        customers=customers,
        customer_weights=list(accumulate(pareto_weights(rng, len(customers)))),
        suppliers=suppliers,
        supplier_weights=list(accumulate(pareto_weights(rng, len(suppliers)))),
        next_line_id=_ORDER_LINE_ID_BASE + company_index * 10 * _COMPANY_ID_STRIDE,
    )
    result: list[Order] = []
    natural: list[datetime] = []
    for n, created in enumerate(created_times(rng, orders, start)):
        order, last = build_order(state, _ORDER_ID_BASE + offset + n, created)
        order["LastModified"] = last
        result.append(order)
        natural.append(last)
    _apply_ties(rng, result, natural, sizes, start)
    return result


def generate_books(
    companies: Sequence[OwnCompany],
    *,
    seed: int,
    orders: int = 0,
    orders_per_company: int | None = None,
    secondary_share: float = 0.1,
    start: datetime | None = None,
    tie_sizes: tuple[int, ...] | None = None,
) -> list[Order]:
    """The seeded books of every company in ``companies``, company after company.

    With ``orders_per_company`` each company gets that many orders (``orders`` must then be 0). Without it the
    first company gets ``orders`` less a ``secondary_share`` of them, and every other company that share (the
    second company's books, as before there could be more). Company ``n`` (from 0) is seeded with ``seed + n``;
    ``tie_sizes`` applies to the first company, the others get the default bulk updates for their size.
    """
    if orders_per_company is not None and orders:
        raise ValueError("pass orders (shared out) or orders_per_company, not both")
    if orders_per_company is not None and orders_per_company < 0:
        raise ValueError("orders_per_company must be >= 0")
    if orders_per_company is None:
        secondary = int(orders * secondary_share) if len(companies) > 1 else 0
        counts = [orders - secondary] + [secondary] * (len(companies) - 1)
    else:
        counts = [orders_per_company] * len(companies)
    books: list[Order] = []
    for n, (own, count) in enumerate(zip(companies, counts, strict=True)):
        if count:
            books += generate_orders(
                seed=seed + n,
                orders=count,
                company_id=own.party_id,
                start=start,
                tie_sizes=tie_sizes if n == 0 else None,
                companies=companies,
            )
    return books


def _default_tie_sizes(orders: int) -> tuple[int, ...]:
    if orders >= 1000:
        return (300, 130)
    size = min(orders // 4, 150)
    return (size,) if size > 1 else ()


def _apply_ties(
    rng: random.Random, orders: list[Order], natural: list[datetime], sizes: tuple[int, ...], start: datetime
) -> None:
    """Bulk updates (imports, mass status changes) give hundreds of orders one identical LastModified."""
    taken: set[int] = set()
    by_time = sorted(range(len(orders)), key=natural.__getitem__)
    fractions = [0.62, 0.86, 0.4, 0.75, 0.93, 0.5]
    first = start - timedelta(days=SPAN_DAYS)
    for n, size in enumerate(sorted(sizes, reverse=True)):
        if size <= 0:
            continue
        moment = first + (start - first) * fractions[n % len(fractions)]
        moment = moment.replace(microsecond=rng.randrange(1000, 10_000) * 100)
        free = [i for i in by_time if i not in taken]
        candidates = [i for i in free if natural[i] <= moment]
        if len(candidates) < size:
            # Too few orders existed by then: move the bulk update late enough to find them.
            moment = natural[free[size - 1]]
            candidates = [i for i in free if natural[i] <= moment]
        for i in rng.sample(candidates, size):
            taken.add(i)
            orders[i]["LastModified"] = moment
