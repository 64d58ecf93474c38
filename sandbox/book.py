"""The books of the sandbox's companies: every order (active and deleted), indexed, with cached JSON.

:class:`OrderBook` is the part of :class:`~sandbox.store.Sandbox` that keeps orders: by id
and per company, their OrderNumbers, the parties and file ids seen on them, the id counters for new orders,
lines and parties, and the per-order and per-list render caches. Every mutation goes through
:meth:`OrderBook.mark_modified`, which bumps ``LastModified`` from the clock, drops the order's cached JSON
and bumps the company's version so cached list results are recomputed.

Every change is also told to the book's ``observer`` (an :class:`OrderObserver`, the webhooks'
``webhook_events.WebhookHub``): an order inserted, updated or deleted, a message added to an order or updated.
This is the one place the webhooks hook into; seeded orders and :meth:`Sandbox.add_orders` are not changes.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Protocol

from sandbox.render import render_order, render_summary

__all__ = ["Order", "OrderBook", "OrderObserver"]

Order = dict[str, Any]


class OrderObserver(Protocol):
    """Told of every change the sandbox makes to its books (called under the sandbox lock, must not block)."""

    def order_changed(self, order: Order, change: str) -> None:
        """``change``: ``"I"`` inserted, ``"U"`` updated, ``"D"`` deleted (Billit's EntityUpdateType letters)."""

    def message_changed(self, order: Order, index: int, change: str) -> None:
        """``order["Messages"][index]`` was added (``"I"``) or updated (``"U"``)."""


_FULL_CACHE_LIMIT = 50_000
_LIST_CACHE_SIZE = 64


class OrderBook:
    """Orders of the own companies, indexed; the :class:`Sandbox` supplies the clock, lock and counters."""

    lock: threading.RLock
    counters: dict[str, int]
    delivery_tokens: dict[int, int]
    observer: OrderObserver | None = None

    def __init__(self, companies: dict[int, dict[str, Any]]) -> None:
        self.companies = companies
        self.orders: dict[int, Order] = {}
        self.deleted: dict[int, Order] = {}
        # LastModified of each deleted order just before its deletion (quirk deleted_last_modified="order").
        self.last_change_before_deletion: dict[int, datetime] = {}
        self._active_by_company: dict[int, dict[int, Order]] = {cid: {} for cid in self.companies}
        self._deleted_by_company: dict[int, dict[int, Order]] = {cid: {} for cid in self.companies}
        self.parties: dict[int, dict[int, dict[str, Any]]] = {cid: {} for cid in self.companies}
        self.party_company: dict[int, int] = {}
        self._file_orders: dict[str, int] = {}
        self._numbers: dict[int, dict[str, set[int]]] = {cid: {} for cid in self.companies}
        # Where the next automatic OrderNumber search starts, per (company, order type, year): numbering a new
        # order must not rescan the company's books (it made every POST cost O(orders)).
        self.next_numbers: dict[tuple[int, str, int], int] = {}
        self.versions: dict[int, int] = dict.fromkeys(self.companies, 0)
        self._full_cache: dict[int, tuple[date, bytes]] = {}
        self._summary_cache: dict[int, tuple[date, bytes]] = {}
        self.list_cache: OrderedDict[tuple[Any, ...], tuple[int, list[Order]]] = OrderedDict()
        self._next_order_id = 2_600_000
        self._next_line_id = 20_000_000
        self._next_party_id = 1_200_000

    def now(self) -> datetime:
        """A fresh timestamp for ``LastModified`` (the Sandbox's clock)."""
        raise NotImplementedError

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
        if self.observer is not None:
            self.observer.order_changed(order, "I")

    def add_message(self, order: Order, message: dict[str, Any]) -> int:
        """Append a message (a transmission or a receiver's response) to an order; returns its index."""
        messages = order.setdefault("Messages", [])
        messages.append(message)
        if self.observer is not None:
            self.observer.message_changed(order, len(messages) - 1, "I")
        return len(messages) - 1

    def message_updated(self, order: Order, index: int) -> None:
        """Tell the observer that ``order["Messages"][index]`` changed in place."""
        if self.observer is not None:
            self.observer.message_changed(order, index, "U")

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
        self._record_change(order, bump=bump, when=when)
        if self.observer is not None:
            self.observer.order_changed(order, "U")

    def _record_change(self, order: Order, *, bump: bool = True, when: datetime | None = None) -> None:
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
        self._record_change(order)
        if self.observer is not None:
            self.observer.order_changed(order, "D")

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
