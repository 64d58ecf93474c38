"""In-memory state of the sandbox: the :class:`Sandbox` object and its clock.

One :class:`Sandbox` holds everything a Billit account would: the two own companies, their orders (active and
deleted) keyed by ``OrderID``, the parties seen on them, idempotency keys, files, the Peppol participant
registry, pending delivery events and request statistics. The HTTP layer (``app.py``) and the behaviour
modules (``orders.py``, ``delivery.py``, ``listing.py``) work on it; tests mutate it directly through
:meth:`Sandbox.add_orders` and :meth:`Sandbox.touch_order`.

Orders are kept in the storage form agreed with ``seed.py`` (Billit's PascalCase keys, ``Decimal`` amounts,
naive datetimes, no null members). Every mutation goes through :meth:`Sandbox.mark_modified`, which bumps
``LastModified`` from the clock, drops the order's cached JSON and bumps the company's version so cached list
results are recomputed.

The clock returns naive Europe/Brussels local time (Billit's timestamps carry no zone,
``docs/reference/billit-api.md#timestamps``). The default :class:`SandboxClock` is strictly increasing: two
modifications never share a ``LastModified`` unless the data was seeded that way; a
:class:`~connectors.billit.sandbox.clock.SimulatedBrusselsClock` instead follows daylight-saving changes.

``sandbox.quirks`` (:class:`~connectors.billit.sandbox.quirks.Quirks`) holds the switches for the answers Billit
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
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from connectors.billit.sandbox.clock import (
    BRUSSELS,
    Clock,
    SandboxClock,
    TickDateTime,
    brussels_now,
    derived_tick,
    floor_to_microsecond,
    with_tick,
)
from connectors.billit.sandbox.delivery import apply_due_events
from connectors.billit.sandbox.faults import FaultInjector, Faults
from connectors.billit.sandbox.files import StoredFile, mime_type_for
from connectors.billit.sandbox.identity import API_KEY, BEARER_TOKEN, PARTY_ID, SECOND_PARTY_ID, USER_EMAIL
from connectors.billit.sandbox.inbox import seed_inbox
from connectors.billit.sandbox.peppol import canonical_participant_id, unknown_participant
from connectors.billit.sandbox.quirks import Quirks
from connectors.billit.sandbox.render import render_order, render_summary
from connectors.billit.sandbox.seed import OWN_COMPANIES, generate_orders, participant_registry

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

Order = dict[str, Any]

DEFAULT_API_KEY = API_KEY
DEFAULT_BEARER_TOKEN = BEARER_TOKEN
_FULL_CACHE_LIMIT = 50_000
_LIST_CACHE_SIZE = 64


class Sandbox:
    """The state of one simulated Billit account (two companies) plus the sandbox's behaviour switches.

    ``seed``/``orders`` generate deterministic books with ``seed.generate_orders``: ``orders`` in total, a
    ``secondary_share`` of them (default 10 %) for company 574992 and the rest for 574991. ``api_keys`` is a
    collection of keys with access to both companies, or a mapping key → accessible PartyIDs; likewise
    ``bearer_tokens``. ``clock`` is a :class:`~connectors.billit.sandbox.clock.Clock` (e.g. a
    ``SimulatedBrusselsClock``) or a callable returning naive Brussels time, wrapped in a strictly increasing
    :class:`SandboxClock` (default: the wall clock); ``seed_start`` is the "now" of the seeded books (default:
    the clock's now, so seeded changes lie in the past).

    Behaviour switches: ``page_size`` (120, §3.3), ``stock_top_behaviour`` (``$top`` ≤ page size → no
    NextPageLink, as stock Web API OData), ``patch_bumps_last_modified``, ``delivery_delay_s`` and
    ``delivery_error_rate`` for the asynchronous send simulation; ``hold_deliveries`` keeps every sent
    document ``Pending`` until :meth:`flush_deliveries` (or ``POST /_sandbox/deliveries/flush``), so a test
    decides when delivery happens instead of racing a delay; ``quirks`` for the undocumented answers
    (:class:`~connectors.billit.sandbox.quirks.Quirks`).
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

        self.companies: dict[int, dict[str, Any]] = {c["PartyID"]: copy.deepcopy(c) for c in OWN_COMPANIES}
        all_companies = frozenset(self.companies)
        self.api_keys = _access_table(api_keys, all_companies)
        self.bearer_tokens = _access_table(bearer_tokens, all_companies)

        self.orders: dict[int, Order] = {}
        self.deleted: dict[int, Order] = {}
        # LastModified of each deleted order just before its deletion (quirk deleted_last_modified="order").
        self.last_change_before_deletion: dict[int, datetime] = {}
        self._active_by_company: dict[int, dict[int, Order]] = {cid: {} for cid in self.companies}
        self._deleted_by_company: dict[int, dict[int, Order]] = {cid: {} for cid in self.companies}
        self.parties: dict[int, dict[int, dict[str, Any]]] = {cid: {} for cid in self.companies}
        self.party_company: dict[int, int] = {}
        self.idempotency_keys: dict[int, set[str]] = {cid: set() for cid in self.companies}
        self.files: dict[str, StoredFile] = {}
        self._file_orders: dict[str, int] = {}
        self.registry: dict[str, dict[str, Any]] = {}
        self._numbers: dict[int, dict[str, set[int]]] = {cid: {} for cid in self.companies}
        # Where the next automatic OrderNumber search starts, per (company, order type, year): numbering a new
        # order must not rescan the company's books (it made every POST cost O(orders)).
        self.next_numbers: dict[tuple[int, str, int], int] = {}
        self.versions: dict[int, int] = dict.fromkeys(self.companies, 0)
        self.inbox: dict[int, dict[int, dict[str, Any]]] = {cid: {} for cid in self.companies}

        self._full_cache: dict[int, tuple[date, bytes]] = {}
        self._summary_cache: dict[int, tuple[date, bytes]] = {}
        self.list_cache: OrderedDict[tuple[Any, ...], tuple[int, list[Order]]] = OrderedDict()

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

        self._next_order_id = 2_600_000
        self._next_line_id = 20_000_000
        self._next_party_id = 1_200_000

        if orders:
            start = seed_start or self.clock.now()
            secondary = int(orders * secondary_share)
            primary = orders - secondary
            seeded = generate_orders(seed=seed, orders=primary, company_id=PARTY_ID, start=start, tie_sizes=tie_sizes)
            if secondary:
                seeded += generate_orders(seed=seed + 1, orders=secondary, company_id=SECOND_PARTY_ID, start=start)
            self._index_orders(seeded)
            self.registry.update(participant_registry(seeded))
        else:
            self.registry.update(participant_registry([]))
        seed_inbox(self)
        # The own companies are Peppol receivers themselves (seed registers them when they appear on orders).
        for company in self.companies.values():
            for key, value in participant_registry([{"Customer": company}]).items():
                self.registry.setdefault(key, value)
        self.apply_quirks()

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

    def next_order_id(self) -> int:
        """Allocate an OrderID above every id seen so far."""
        self._next_order_id += 1
        return self._next_order_id

    def next_line_id(self) -> int:
        """Allocate an OrderLineID."""
        self._next_line_id += 1
        return self._next_line_id

    def next_party_id(self) -> int:
        """Allocate a PartyID for a party created by ``POST /v1/orders``."""
        self._next_party_id += 1
        return self._next_party_id

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
                    _retick_order(order, seven=True)
            self._index_orders(copies)
            for key, value in participant_registry(copies).items():
                self.registry.setdefault(key, value)
        return [order["OrderID"] for order in copies]

    def _index_orders(self, orders: Iterable[Order]) -> None:
        for order in orders:
            order_id = order["OrderID"]
            company_id = order["CompanyID"]
            if company_id not in self.companies:
                raise ValueError(f"order {order_id}: unknown company {company_id}")
            if order_id in self.orders or order_id in self.deleted:
                raise ValueError(f"order {order_id} already exists")
            self.orders[order_id] = order
            self._active_by_company[company_id][order_id] = order
            self._index_number(order)
            self._index_parties(order)
            self._index_files(order)
            self._next_order_id = max(self._next_order_id, order_id)
            for line in order.get("OrderLines", []):
                self._next_line_id = max(self._next_line_id, line.get("OrderLineID", 0))
            self.versions[company_id] += 1

    def _index_number(self, order: Order, *, remove: bool = False) -> None:
        number = order.get("OrderNumber")
        if number is None:
            return
        ids = self._numbers[order["CompanyID"]].setdefault(number, set())
        if remove:
            ids.discard(order["OrderID"])
        else:
            ids.add(order["OrderID"])

    def _index_parties(self, order: Order) -> None:
        company_id = order["CompanyID"]
        role = "Customer" if order.get("OrderDirection") == "Income" else "Supplier"
        party = order.get(role)
        if party is None or "PartyID" not in party:
            return
        party_id = party["PartyID"]
        if party_id in self.companies:
            return
        known = self.parties[company_id]
        if party_id not in known:
            known[party_id] = copy.deepcopy(party)
            self.party_company.setdefault(party_id, company_id)
        self._next_party_id = max(self._next_party_id, party_id)

    def _index_files(self, order: Order) -> None:
        order_id = order["OrderID"]
        pdf = order.get("OrderPDF")
        if pdf and "FileID" in pdf:
            self._file_orders[pdf["FileID"]] = order_id
        for item in order.get("Attachments", []):
            if "FileID" in item:
                self._file_orders[item["FileID"]] = order_id
        for message in order.get("Messages", []):
            if "FileID" in message:
                self._file_orders[message["FileID"]] = order_id

    def find_order(self, order_id: int) -> Order | None:
        """An active order by id (the live storage dict; mutate only through :meth:`mark_modified`)."""
        return self.orders.get(order_id)

    def get_order(self, order_id: int) -> Order:
        """A deep copy of an active or deleted order, for inspection in tests."""
        with self.lock:
            order = self.orders.get(order_id) or self.deleted.get(order_id)
            if order is None:
                raise KeyError(order_id)
            return copy.deepcopy(order)

    def insert_order(self, order: Order) -> None:
        """Store a new order built by ``POST /v1/orders``."""
        self._index_orders([order])

    def company_orders(self, company_id: int, *, deleted: bool = False) -> dict[int, Order]:
        """The active (or deleted) orders of one company, by id."""
        return (self._deleted_by_company if deleted else self._active_by_company)[company_id]

    def invoice_numbers(self, company_id: int, number: str) -> list[Order]:
        """Active orders of the company carrying ``OrderNumber == number``."""
        return [self.orders[i] for i in self._numbers[company_id].get(number, ()) if i in self.orders]

    def number_in_use(self, company_id: int, number: str) -> bool:
        """Whether an active order of the company already uses this OrderNumber."""
        return bool(self._numbers[company_id].get(number))

    def mark_modified(self, order: Order, *, bump: bool = True, when: datetime | None = None) -> None:
        """Record a change to ``order``: new ``LastModified`` (unless ``bump`` is False), caches dropped."""
        if bump:
            order["LastModified"] = when or self.now()
        order_id = order["OrderID"]
        self._full_cache.pop(order_id, None)
        self._summary_cache.pop(order_id, None)
        self.versions[order["CompanyID"]] += 1

    def touch_order(self, order_id: int, **changes: Any) -> datetime:
        """Apply ``changes`` (storage-form values) to an order and bump its ``LastModified``; returns it.

        Pass ``LastModified=...`` to set an explicit timestamp instead of the clock's now.
        """
        with self.lock:
            order = self.orders.get(order_id) or self.deleted.get(order_id)
            if order is None:
                raise KeyError(order_id)
            explicit = changes.pop("LastModified", None)
            for key, value in changes.items():
                if value is None:
                    order.pop(key, None)
                else:
                    order[key] = value
            self.mark_modified(order, when=explicit)
            return order["LastModified"]

    def delete_order(self, order: Order) -> None:
        """Soft-delete: the order leaves ``/v1/orders`` and shows in ``/v1/orders/deleted``."""
        order_id = order["OrderID"]
        company_id = order["CompanyID"]
        del self.orders[order_id]
        del self._active_by_company[company_id][order_id]
        self._index_number(order, remove=True)
        self.deleted[order_id] = order
        self._deleted_by_company[company_id][order_id] = order
        self.delivery_tokens.pop(order_id, None)
        self.counters["orders_deleted"] += 1
        if "LastModified" in order:
            self.last_change_before_deletion[order_id] = order["LastModified"]
        self.mark_modified(order)

    def deleted_as_last_changed(self, company_id: int) -> list[Order]:
        """The company's deleted orders with ``LastModified`` = their last change before the deletion.

        Shallow copies, for ``/v1/orders/deleted`` under the quirk ``deleted_last_modified="order"``.
        """
        views = []
        for order_id, order in self._deleted_by_company[company_id].items():
            before = self.last_change_before_deletion.get(order_id)
            views.append(order if before is None else {**order, "LastModified": before})
        return views

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
                _retick_order(order, seven=seven)
            for order_id, value in self.last_change_before_deletion.items():
                self.last_change_before_deletion[order_id] = _retick(value, seven=seven)
            for items in self.inbox.values():
                for item in items.values():
                    if isinstance(item.get("CreationDate"), datetime):
                        item["CreationDate"] = _retick(item["CreationDate"], seven=seven)
            self._full_cache.clear()
            self._summary_cache.clear()
            self.list_cache.clear()
            for company_id in self.versions:
                self.versions[company_id] += 1
            self._fraction_digits = digits

    # ---------------------------------------------------------------------------------------------------
    # Rendering with per-order caches (the JSON only changes when the order or the date does)

    def render_full(self, order: Order, today: date) -> bytes:
        """The cached ``GET /v1/orders/{id}`` body."""
        order_id = order["OrderID"]
        hit = self._full_cache.get(order_id)
        if hit is not None and hit[0] == today:
            return hit[1]
        body = render_order(order, today)
        if len(self._full_cache) >= _FULL_CACHE_LIMIT:
            self._full_cache.clear()
        self._full_cache[order_id] = (today, body)
        return body

    def render_summary(self, order: Order, today: date) -> bytes:
        """The cached list-item JSON of an order."""
        order_id = order["OrderID"]
        hit = self._summary_cache.get(order_id)
        if hit is not None and hit[0] == today:
            return hit[1]
        body = render_summary(order, today)
        self._summary_cache[order_id] = (today, body)
        return body

    def cache_list(self, key: tuple[Any, ...], version: int, rows: list[Order]) -> None:
        """Remember a filtered+sorted list result (valid while the company's version is unchanged)."""
        self.list_cache[key] = (version, rows)
        self.list_cache.move_to_end(key)
        while len(self.list_cache) > _LIST_CACHE_SIZE:
            self.list_cache.popitem(last=False)

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
            return record, order, self._message_description(order, file_id)
        order_id = self._file_orders.get(file_id)
        if order_id is None:
            return None
        order = self._any_order(order_id)
        if order is None:
            return None
        record = self._seeded_file_record(order, file_id)
        self.files[file_id] = record
        return record, order, self._message_description(order, file_id)

    def _any_order(self, order_id: int | None) -> Order | None:
        if order_id is None:
            return None
        return self.orders.get(order_id) or self.deleted.get(order_id)

    @staticmethod
    def _message_description(order: Order | None, file_id: str) -> str:
        for message in (order or {}).get("Messages", []):
            if message.get("FileID") == file_id:
                return str(message.get("Description", ""))
        return ""

    def _seeded_file_record(self, order: Order, file_id: str) -> StoredFile:
        company_id = order["CompanyID"]
        number = str(order.get("OrderNumber", order["OrderID"])).replace("/", "-")
        pdf = order.get("OrderPDF") or {}
        if pdf.get("FileID") == file_id:
            name = pdf.get("FileName", f"Invoice_{number}.pdf")
            return StoredFile(file_id, company_id, name, mime_type_for(name), order["OrderID"], "pdf")
        for item in order.get("Attachments", []):
            if item.get("FileID") == file_id:
                name = item.get("FileName", f"{number}.pdf")
                return StoredFile(file_id, company_id, name, mime_type_for(name), order["OrderID"], "attachment")
        for message in order.get("Messages", []):
            if message.get("FileID") == file_id:
                incoming = message.get("MessageDirection") == "Incoming"
                name = f"{'IMR' if incoming else 'UBL'}_{number}_{file_id[:8]}.xml"
                role = "imr" if incoming else "ubl"
                return StoredFile(file_id, company_id, name, "text/xml", order["OrderID"], role)
        return StoredFile(file_id, company_id, f"{number}.pdf", "application/pdf", order["OrderID"], "pdf")

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

    def record_request(self, method: str, path: str, status: int) -> None:
        """Count one ``/v1`` request per route template and status (0 = connection dropped)."""
        route = f"{method} {_route_template(path)}"
        with self.lock:
            per_status = self.request_counts.setdefault(route, {})
            per_status[status] = per_status.get(status, 0) + 1

    def stats(self) -> dict[str, Any]:
        """Counters for the test harness and benchmarks (``GET /_sandbox/stats``)."""
        with self.lock:
            return {
                "requests": {
                    route: {str(k): v for k, v in counts.items()}
                    for route, counts in sorted(self.request_counts.items())
                },  # fmt: skip
                "orders_per_company": {str(cid): len(orders) for cid, orders in self._active_by_company.items()},
                "deleted_per_company": {str(cid): len(orders) for cid, orders in self._deleted_by_company.items()},
                "pending_deliveries": len(self.events),
                **self.counters,
                "faults": dict(self.injector.counters),
            }


_ORDER_TIMESTAMPS = ("LastModified", "Created")
_DELIVERY_TIMESTAMPS = ("DocumentDeliveryDate", "DocumentRefusedDate")


def _retick(value: datetime, *, seven: bool) -> datetime:
    if not seven:
        return floor_to_microsecond(value)
    if isinstance(value, TickDateTime) and value.tick:
        return value
    return with_tick(value, derived_tick(value))


def _retick_order(order: Order, *, seven: bool) -> None:
    """Give an order's own timestamps a seventh fraction digit (``seven``) or drop it."""
    for key in _ORDER_TIMESTAMPS:
        value = order.get(key)
        if isinstance(value, datetime):
            order[key] = _retick(value, seven=seven)
    details = order.get("CurrentDocumentDeliveryDetails")
    if isinstance(details, dict):
        for key in _DELIVERY_TIMESTAMPS:
            value = details.get(key)
            if isinstance(value, datetime):
                details[key] = _retick(value, seven=seven)
    for message in order.get("Messages", ()):
        value = message.get("CreationDate")
        if isinstance(value, datetime):
            message["CreationDate"] = _retick(value, seven=seven)


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
