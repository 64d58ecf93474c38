"""In-memory state of the sandbox: the :class:`Sandbox` object and its clock.

One :class:`Sandbox` holds everything a Billit account would: its own companies (``account.py``), their orders
(active and deleted) keyed by ``OrderID``, the parties seen on them, idempotency keys, files, the Peppol participant
registry, pending delivery events and request statistics. The HTTP layer (``app.py``) and the behaviour
modules (``orders.py``, ``delivery.py``, ``listing.py``) work on it; tests mutate it directly through
:meth:`Sandbox.add_orders` and :meth:`Sandbox.touch_order`.

Orders are kept in the storage form agreed with the ``seed`` package (Billit's PascalCase keys, ``Decimal``
amounts, naive datetimes, no null members), indexed by the :class:`~sandbox.book.OrderBook`
the Sandbox extends; every mutation goes through :meth:`~sandbox.book.OrderBook.mark_modified`.

The clock returns naive Europe/Brussels local time (Billit's timestamps carry no zone,
``docs/reference/billit-api.md#timestamps``). The default :class:`SandboxClock` is strictly increasing: two
modifications never share a ``LastModified`` unless the data was seeded that way; a
:class:`~sandbox.clock.SimulatedBrusselsClock` instead follows daylight-saving changes.

``sandbox.quirks`` (:class:`~sandbox.quirks.Quirks`) holds the switches for the answers Billit
does not document. Most are read per request; ``fraction_digits`` also rewrites the stored timestamps (7 digits:
each gets a seventh digit derived from its value, 6: the digit is dropped), which :meth:`Sandbox.apply_quirks`
does at the next request after a change.
"""

from __future__ import annotations

import copy
import heapq
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sandbox.account import api_off_companies
from sandbox.book import Order, OrderBook
from sandbox.clock import (
    BRUSSELS,
    Clock,
    SandboxClock,
    brussels_now,
    retick,
    retick_order,
)
from sandbox.delivery import apply_due_events
from sandbox.faults import FaultInjector, Faults
from sandbox.files import StoredFile, message_description, mime_type_for, seeded_file_record
from sandbox.identity import API_KEY, BEARER_TOKEN, USER_EMAIL
from sandbox.inbox import seed_inbox
from sandbox.peppol import canonical_participant_id, unknown_participant
from sandbox.quirks import Quirks
from sandbox.seed import company_roster, generate_books, own_company_party, participant_registry
from sandbox.webhook_events import WebhookHub

__all__ = [
    "BRUSSELS",
    "DEFAULT_API_KEY",
    "DEFAULT_BEARER_TOKEN",
    "Order",
    "Quirks",
    "Sandbox",
    "SandboxClock",
    "brussels_now",
]


DEFAULT_API_KEY = API_KEY
DEFAULT_BEARER_TOKEN = BEARER_TOKEN


class Sandbox(OrderBook):
    """The state of one simulated Billit account (two companies, or ``companies``) plus its behaviour switches.

    ``seed``/``orders`` generate deterministic books with ``seed.generate_books``: ``orders`` in total, a
    ``secondary_share`` of them (default 10 %) for the second own company and the rest for the first
    (``identity.SECOND_PARTY_ID``, ``identity.PARTY_ID``). ``companies`` beyond the two are generated
    (``seed.company_roster``) and each gets a ``secondary_share`` of ``orders`` too, or pass
    ``orders_per_company`` (and no ``orders``) to give every company that many. ``api_off`` lists the companies
    with API access switched off (default: the last one of three or more, ``account.api_off_companies``).
    ``api_keys`` is a collection of keys with access to every company, or a mapping key → accessible PartyIDs;
    likewise ``bearer_tokens``. ``clock`` is a :class:`~sandbox.clock.Clock` (e.g. a
    ``SimulatedBrusselsClock``) or a callable returning naive Brussels time, wrapped in a strictly increasing
    :class:`SandboxClock` (default: the wall clock); ``seed_start`` is the "now" of the seeded books (default:
    the clock's now, so seeded changes lie in the past).

    Behaviour switches: ``page_size`` (120, docs/reference/billit-api.md#paging), ``stock_top_behaviour`` (``$top`` ≤
    page size → no NextPageLink, as stock Web API OData), ``patch_bumps_last_modified``, ``delivery_delay_s`` and
    ``delivery_error_rate`` for the asynchronous send simulation; ``hold_deliveries`` keeps every sent
    document ``Pending`` until :meth:`flush_deliveries` (or ``POST /_sandbox/deliveries/flush``), so a test
    decides when delivery happens instead of racing a delay; ``quirks`` for the undocumented answers
    (:class:`~sandbox.quirks.Quirks`).
    """

    def __init__(
        self,
        seed: int = 1,
        orders: int = 0,
        *,
        api_keys: Collection[str] | Mapping[str, Collection[int]] = (DEFAULT_API_KEY,),
        bearer_tokens: Collection[str] | Mapping[str, Collection[int]] = (DEFAULT_BEARER_TOKEN,),
        faults: Faults | None = None,
        clock: Clock | Callable[[], datetime] | None = None,
        quirks: Quirks | None = None,
        seed_start: datetime | None = None,
        secondary_share: float = 0.1,
        tie_sizes: tuple[int, ...] | None = None,
        page_size: int = 120,
        stock_top_behaviour: bool = True,
        patch_bumps_last_modified: bool = True,
        delivery_delay_s: float = 0.5,
        delivery_error_rate: float = 0.0,
        hold_deliveries: bool = False,
        user_email: str = USER_EMAIL,
        companies: int = 2,
        orders_per_company: int | None = None,
        api_off: Collection[int] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.clock: Clock = clock if isinstance(clock, Clock) else SandboxClock(clock)
        self.quirks = quirks or Quirks()
        self._fraction_digits = 6  # what the stored timestamps currently carry (see apply_quirks)
        self.injector = FaultInjector(faults)
        self.rng = random.Random(seed)
        self.page_size = page_size
        self.stock_top_behaviour = stock_top_behaviour
        self.patch_bumps_last_modified = patch_bumps_last_modified
        self.delivery_delay_s = delivery_delay_s
        self.delivery_error_rate = delivery_error_rate
        self.hold_deliveries = hold_deliveries
        self.user_email = user_email

        roster = company_roster(companies, seed)
        self.own_companies = {own.party_id: own for own in roster}
        self.api_off = api_off_companies(list(self.own_companies), api_off)
        super().__init__({own.party_id: own_company_party(own) for own in roster})
        all_companies = frozenset(self.companies)
        self.api_keys = _access_table(api_keys, all_companies)
        self.bearer_tokens = _access_table(bearer_tokens, all_companies)

        self.idempotency_keys: dict[int, set[str]] = {cid: set() for cid in self.companies}
        self.files: dict[str, StoredFile] = {}
        self.registry: dict[str, dict[str, Any]] = {}
        self.inbox: dict[int, dict[int, dict[str, Any]]] = {cid: {} for cid in self.companies}

        # Pending delivery transitions: (due monotonic time, sequence, order id, delivery token).
        self.events: list[tuple[float, int, int, int]] = []
        self.delivery_tokens: dict[int, int] = {}
        self._event_sequence = 0

        self.counters: dict[str, int] = {
            "orders_created": 0,
            "orders_deleted": 0,
            "orders_patched": 0,
            "orders_sent": 0,
            "deliveries_delivered": 0,
            "deliveries_failed": 0,
            "idempotent_replays": 0,
        }
        self.request_counts: dict[str, dict[int, int]] = {}
        self.requests_per_company: dict[str, dict[int, int]] = {}

        seeded: list[Order] = []
        if orders or orders_per_company:  # only then read the clock: reading it moves a strictly increasing one on
            seeded = generate_books(
                roster, seed=seed, orders=orders, orders_per_company=orders_per_company,
                secondary_share=secondary_share, start=seed_start or self.clock.now(), tie_sizes=tie_sizes,
            )  # fmt: skip
        self._index_orders(seeded)
        self.registry.update(participant_registry(seeded, own_ids=self.companies))
        seed_inbox(self)
        # The own companies are Peppol receivers themselves (seed registers them when they appear on orders).
        for company in self.companies.values():
            for key, value in participant_registry([{"Customer": company}], own_ids=self.companies).items():
                self.registry.setdefault(key, value)
        self.apply_quirks()
        # Webhooks (webhook_events.py): told of every change from now on; the seeded books are not changes.
        self.webhooks = self.observer = WebhookHub(lambda: self.quirks, lambda: self.injector.faults)

    # ---------------------------------------------------------------------------------------------------
    # Time and ids

    def now(self) -> datetime:
        """A fresh sandbox timestamp with ``quirks.fraction_digits`` digits (strictly increasing by default)."""
        return self.clock.now(self.quirks.fraction_digits)

    def set_clock(self, clock: Clock | Callable[[], datetime] | None) -> None:
        """Replace the clock (``PUT /_sandbox/clock``); None goes back to the wall clock."""
        with self.lock:
            self.clock = clock if isinstance(clock, Clock) else SandboxClock(clock)

    def today(self) -> date:
        """The sandbox's current date."""
        return self.clock.today()

    def new_uuid(self) -> str:
        """A deterministic GUID string for FileIDs."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    # ---------------------------------------------------------------------------------------------------
    # Orders

    def add_orders(self, orders: Iterable[Order]) -> list[int]:
        """Add storage-form orders (deep-copied) as if they existed in Billit; returns their OrderIDs.

        Their parties join the company's party list, their file ids become downloadable, and participant
        registry entries are derived for their parties (existing entries win).
        """
        copies = [copy.deepcopy(order) for order in orders]
        with self.lock:
            if self._fraction_digits == 7:
                for order in copies:
                    retick_order(order, seven=True)
            self._index_orders(copies)
            for key, value in participant_registry(copies).items():
                self.registry.setdefault(key, value)
        return [order["OrderID"] for order in copies]

    # ---------------------------------------------------------------------------------------------------
    # Quirks

    def update_quirks(self, changes: Mapping[str, Any]) -> None:
        """Merge a partial quirks update (``PUT /_sandbox/quirks``) and apply it; ``ValueError`` when invalid."""
        with self.lock:
            self.quirks.merge(dict(changes))
            self.apply_quirks()

    def apply_quirks(self) -> None:
        """Bring the stored state in line with ``quirks`` (called before every request; cheap when unchanged).

        Today only ``fraction_digits`` needs it: going to 7 gives every stored order timestamp (LastModified,
        Created, message CreationDate, delivery dates, inbox CreationDate) a seventh digit derived from its
        value — equal values keep sharing one — and going back to 6 drops it.
        """
        digits = self.quirks.fraction_digits
        if digits == self._fraction_digits:
            return
        with self.lock:
            seven = digits == 7
            for order in (*self.orders.values(), *self.deleted.values()):
                retick_order(order, seven=seven)
            for order_id, value in self.last_change_before_deletion.items():
                self.last_change_before_deletion[order_id] = retick(value, seven=seven)
            for items in self.inbox.values():
                for item in items.values():
                    if isinstance(item.get("CreationDate"), datetime):
                        item["CreationDate"] = retick(item["CreationDate"], seven=seven)
            self._full_cache.clear()
            self._summary_cache.clear()
            self.list_cache.clear()
            for company_id in self.versions:
                self.versions[company_id] += 1
            self._fraction_digits = digits

    # ---------------------------------------------------------------------------------------------------
    # Files

    def add_file(
        self,
        company_id: int,
        file_name: str,
        content: bytes | None,
        *,
        order_id: int | None = None,
        role: str = "uploaded",
        file_id: str | None = None,
    ) -> StoredFile:
        """Register a file (``content`` None = generate a stub from the order on first download)."""
        record = StoredFile(
            file_id=file_id or self.new_uuid(),
            company_id=company_id,
            file_name=file_name,
            mime_type=mime_type_for(file_name),
            order_id=order_id,
            role=role,
            content=content,
        )
        self.files[record.file_id] = record
        return record

    def find_file(self, file_id: str) -> tuple[StoredFile, Order | None, str] | None:
        """A file record, the order it belongs to and (for IMR messages) the message description."""
        record = self.files.get(file_id)
        if record is not None:
            order = self._any_order(record.order_id)
            return record, order, message_description(order, file_id)
        order_id = self._file_orders.get(file_id)
        if order_id is None:
            return None
        order = self._any_order(order_id)
        if order is None:
            return None
        record = seeded_file_record(order, file_id)
        self.files[file_id] = record
        return record, order, message_description(order, file_id)

    def _any_order(self, order_id: int | None) -> Order | None:
        if order_id is None:
            return None
        return self.orders.get(order_id) or self.deleted.get(order_id)

    def index_file(self, file_id: str, order_id: int) -> None:
        """Make a file id of an order downloadable (content generated on demand)."""
        self._file_orders[file_id] = order_id

    # ---------------------------------------------------------------------------------------------------
    # Peppol registry, delivery events, statistics

    def register_participant(
        self, participant_id: str, *, document_types: list[str] | None = None, registered: bool = True
    ) -> None:
        """Add or replace a Peppol participant (``scheme:value``, canonical form) in the registry."""
        key = canonical_participant_id(participant_id)
        with self.lock:
            if not registered:
                self.registry[key] = unknown_participant(key)
                return
            self.registry[key] = {
                "Registered": True,
                "Identifier": key,
                "DocumentTypes": document_types or ["BISv3Invoice", "IMR", "MLR", "BISv3CreditNote"],
                "ServiceDetails": [],
            }

    def flush_deliveries(self) -> int:
        """Apply every pending delivery transition now, due or not (tests); returns how many were applied."""
        with self.lock:
            return apply_due_events(self, force=True)

    def schedule(self, delay_s: float, order_id: int, token: int) -> None:
        """Queue a delivery transition for ``order_id`` after ``delay_s`` seconds (applied lazily).

        With ``hold_deliveries`` it is never due: only :meth:`flush_deliveries` applies it.
        """
        self._event_sequence += 1
        due = math.inf if self.hold_deliveries else time.monotonic() + delay_s
        heapq.heappush(self.events, (due, self._event_sequence, order_id, token))
        if self.webhooks.registry and not self.hold_deliveries:  # a step fires calls: apply it when due, unasked
            self.webhooks.outbox.call_later(delay_s, self._apply_due_deliveries)

    def _apply_due_deliveries(self) -> None:
        with self.lock:
            apply_due_events(self)

    def record_request(self, method: str, path: str, status: int) -> None:
        """Count one ``/v1`` request per route template and status (0 = connection dropped)."""
        route = f"{method} {_route_template(path)}"
        with self.lock:
            per_status = self.request_counts.setdefault(route, {})
            per_status[status] = per_status.get(status, 0) + 1

    def record_company_request(self, party: str, status: int) -> None:
        """Count one ``/v1`` request per ``PartyID`` header and status (``account.CompanyRequestCounter``)."""
        with self.lock:
            per_status = self.requests_per_company.setdefault(party, {})
            per_status[status] = per_status.get(status, 0) + 1

    def stats(self) -> dict[str, Any]:
        """Counters for the test harness and benchmarks (``GET /_sandbox/stats``)."""
        with self.lock:
            return {
                "requests": {
                    route: {str(k): v for k, v in counts.items()}
                    for route, counts in sorted(self.request_counts.items())
                },  # fmt: skip
                "requests_per_company": {
                    party: {str(k): v for k, v in counts.items()} for party, counts in self.requests_per_company.items()
                },
                "orders_per_company": {str(cid): len(orders) for cid, orders in self._active_by_company.items()},
                "deleted_per_company": {str(cid): len(orders) for cid, orders in self._deleted_by_company.items()},
                "pending_deliveries": len(self.events),
                **self.counters,
                "faults": dict(self.injector.counters),
            }


def _access_table(
    credentials: Collection[str] | Mapping[str, Collection[int]], all_companies: frozenset[int]
) -> dict[str, frozenset[int]]:
    if isinstance(credentials, Mapping):
        return {key: frozenset(companies) for key, companies in credentials.items()}
    if isinstance(credentials, str):
        return {credentials: all_companies}
    return dict.fromkeys(credentials, all_companies)


def _route_template(path: str) -> str:
    parts = []
    for segment in path.rstrip("/").split("/"):
        if segment.isdigit() or (len(segment) == 36 and segment.count("-") == 4):
            parts.append("{id}")
        else:
            parts.append(segment)
    return "/".join(parts) or "/"
