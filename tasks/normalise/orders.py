"""Full Billit orders -> warehouse rows (pure; no I/O).

One call turns a batch of full orders (as `GET /v1/orders/{id}` returns them, parsed with exact decimals) into
rows for `invoices`, `invoice_lines`, `invoice_vat_groups`, `invoice_messages`, `parties` and
`party_identifiers`, plus `quarantine` entries. Nothing is dropped silently:

* an order that cannot be loaded as Billit meant it goes to quarantine whole, with a short reason naming the
  field (never its value): no OrderID, no direction, and any value that is present but unreadable (an amount
  that is not a number or lies outside what the column holds exactly, a date that is not ISO 8601, a boolean
  that is not true/false, a list that is not a list, text with a NUL or a lone surrogate). A partial row would
  look complete to a report, so an order is loaded whole or not at all (docs/warehouse.md#quarantine);
* of one OrderID twice in a batch, the newest version (by LastModified) is kept;
* a line or VAT group whose ventilation code cannot be classified is loaded with an empty VAT category *and*
  quarantined with the reason, so totals stay complete and someone can fix the mapping;
* an invalid party identifier is kept with `is_valid = false` and the reason (never dropped).

Billit's `Overdue` / `DaysOverdue` change every day without touching `LastModified`; they are not stored —
overdue-ness is computed at query time from `expiry_date`, `paid` and `to_pay`.

The typed field reads live in tasks/normalise/fields.py, the parties in tasks/normalise/parties.py, the rows of
lines, VAT groups and messages in tasks/normalise/order_details.py and their VAT columns in
tasks/normalise/order_vat.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tasks.normalise.fields import (
    BIGINT,
    INTEGER,
    MONEY,
    QUANTITY,
    Fields,
    UnloadableOrder,
    as_timestamp,
    holds_unstorable_text,
    refuse_unstorable_text,
)
from tasks.normalise.identifiers import PartyIdentifier
from tasks.normalise.order_details import add_lines, add_vat_groups, last_response_code, message_rows, quarantine_row
from tasks.normalise.order_vat import (
    charges_vat,
    classify_vat_cached,
    exemption_text,
    item_exemption_text,
    vat_percentage,
)
from tasks.normalise.parties import (
    add_party,
    counterparty_of,
    keep_newest_party,
    party_identifiers,
    preferred_identifier,
)
from tasks.normalise.vat import VatClassification
from tasks.normalise.vat_codes import PURCHASE_GRID_BY_COST_TYPE
from tasks.normalise.vat_return import DEDUCTION_LIMITS, vat_return_rows
from tasks.normalise.vatex import forced_vatex

Row = dict[str, Any]


@dataclass
class NormalisedBatch:
    invoices: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    vat_groups: list[Row] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)
    vat_return_entries: list[Row] = field(default_factory=list)
    vat_return_exceptions: list[Row] = field(default_factory=list)
    parties: dict[int, Row] = field(default_factory=dict)
    identifiers: dict[int, list[Row]] = field(default_factory=dict)
    quarantine: list[Row] = field(default_factory=list)
    # Orders quarantined whole, by OrderID, with the reason: not loaded, so the extraction keeps them pending.
    unloaded: dict[int, str] = field(default_factory=dict)

    @property
    def order_ids(self) -> list[int]:
        return [row["order_id"] for row in self.invoices]


def normalise_orders(
    orders: Iterable[Mapping[str, Any]],
    *,
    stream: str,
    run_id: str,
    company_id: int | None = None,
    import_deferral_licence: bool = False,
    one_per_order: bool = False,
    storable_text: bool = False,
) -> NormalisedBatch:
    """Rows for every table from a batch of full orders; the newest version of an order and of a party wins.

    `one_per_order`: the caller vouches that no two orders share an OrderID, so each is normalised as it comes
    and none is held (`orders` may be an iterator that parses them one at a time); otherwise they are all read
    first to keep the newest version of each.

    `company_id`: the company (PartyID) the orders were read with, written as each invoice's company_id; an order
    whose CompanyID names another company is quarantined whole. Without it, the order's own CompanyID is kept.

    `storable_text`: the caller vouches that no text of the orders holds a NUL or a lone surrogate (they were
    parsed from JSON without an escape of either: `connectors.billit.wire.may_hold_unstorable_text`), so the look
    for them, a tenth of the normalising, is skipped; otherwise an order holding one is quarantined whole.

    `import_deferral_licence`: the company imports under a deferral licence (ET 14.000), so imports go to
    87/57/59 (docs/bi.md#vat-return).
    """
    batch = NormalisedBatch()
    identifiers: dict[str, list[PartyIdentifier]] = {}
    for order in orders if one_per_order else newest_versions(orders):
        try:
            _normalise_order(
                order,
                batch,
                stream=stream,
                run_id=run_id,
                company_id=company_id,
                import_deferral_licence=import_deferral_licence,
                identifiers=identifiers,
                storable_text=storable_text,
            )
        except UnloadableOrder as exc:
            order_id = order.get("OrderID") if isinstance(order, Mapping) else None
            if isinstance(order_id, int) and not isinstance(order_id, bool):
                batch.unloaded[order_id] = str(exc)
            batch.quarantine.append(
                quarantine_row(
                    run_id,
                    stream,
                    order if isinstance(order, Mapping) else {},
                    entity="order",
                    key=_order_key(order_id),
                    reason=str(exc),
                    payload=order,
                )
            )
    return batch


def newest_versions(orders: Iterable[Any]) -> list[Any]:
    """One order per OrderID, the newest by LastModified (the later one on a tie), in first-seen order."""
    kept: dict[Any, Any] = {}
    unkeyed = []
    for order in orders:
        order_id = order.get("OrderID") if isinstance(order, Mapping) else None
        if not isinstance(order_id, int) or isinstance(order_id, bool):
            unkeyed.append(order)
            continue
        known = kept.get(order_id)
        if known is None or _version(known) <= _version(order):
            kept[order_id] = order
    return [*kept.values(), *unkeyed]


_OLDEST = datetime.min  # noqa: DTZ901 - Billit's timestamps are naive local times


def listed_version(orders: Sequence[Any], order_id: int) -> str:
    """The LastModified text (up to 40 characters) of order `order_id` among raw `orders`, "" when none has it: the
    version a quarantined order is kept pending at."""
    return next(
        (
            str(order.get("LastModified") or "")[:40]
            for order in orders
            if isinstance(order, Mapping) and order.get("OrderID") == order_id
        ),
        "",
    )


def _version(order: Mapping[str, Any]) -> datetime:
    try:
        return as_timestamp(order.get("LastModified")) or _OLDEST
    except ValueError:
        return _OLDEST


def _order_key(order_id: Any) -> str:
    return str(order_id) if isinstance(order_id, int) else "?"


def order_state(invoice: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a status-history row tracks: order status, delivery state, latest response, paid, deleted."""
    return (
        invoice.get("order_status"),
        invoice.get("delivery_status"),
        invoice.get("document_delivery_info"),
        invoice.get("last_response_code"),
        invoice.get("paid"),
        bool(invoice.get("is_deleted")),
    )


def _normalise_order(
    order: Any,
    batch: NormalisedBatch,
    *,
    stream: str,
    run_id: str,
    company_id: int | None,
    import_deferral_licence: bool,
    identifiers: dict[str, list[PartyIdentifier]],
    storable_text: bool,
) -> None:
    """Add one order's rows to `batch`, all of them or (raising UnloadableOrder) none."""
    if not isinstance(order, Mapping):
        raise UnloadableOrder(f"the order is a JSON {type(order).__name__}, not an object")
    # One fast look at every text of the order, and the walk that names the field only when something is there (rare).
    if not storable_text and holds_unstorable_text(order):
        refuse_unstorable_text(order, "")
    fields = Fields(order)
    order_id = fields.integer("OrderID", BIGINT)
    if order_id is None or order_id <= 0:
        raise UnloadableOrder("OrderID missing or not a positive integer")
    direction = order.get("OrderDirection")
    if direction not in ("Income", "Cost"):
        raise UnloadableOrder("OrderDirection missing or not Income / Cost")
    last_modified = fields.timestamp("LastModified")
    if last_modified is None:
        raise UnloadableOrder("LastModified missing")
    own_company = fields.integer("CompanyID", BIGINT)
    if company_id is not None and own_company is not None and own_company != company_id:
        # Billit answers an order of another company with 401 (docs/reference/billit-api.md#errors): such an
        # order is a wrong answer, or a landing file relabelled, and must not enter this company's books.
        raise UnloadableOrder("CompanyID is not the company the order was read with")

    counterparty = counterparty_of(order, direction)
    counterparty_fields = (
        Fields(counterparty, "Supplier" if direction == "Cost" else "Customer") if counterparty is not None else None
    )
    counterparty_ids = _party_identifiers(counterparty, identifiers)
    preferred = preferred_identifier(counterparty_ids)
    country = counterparty_fields.text("CountryCode") if counterparty_fields else None
    delivery = fields.object("CurrentDocumentDeliveryDetails") or Fields({}, "CurrentDocumentDeliveryDetails")
    messages = fields.objects("Messages")
    order_type = fields.text("OrderType") or "Invoice"

    invoice = {
        "order_id": order_id,
        "company_id": own_company if company_id is None else company_id,
        "direction": direction,
        "order_type": order_type,
        "order_number": fields.text("OrderNumber"),
        "order_date": fields.date("OrderDate"),
        "expiry_date": fields.date("ExpiryDate"),
        "delivery_date": fields.date("DeliveryDate"),
        "period_from": fields.date("PeriodFrom"),
        "period_till": fields.date("PeriodTill"),
        "created_at": fields.timestamp("Created"),
        "last_modified": last_modified,
        "last_modified_raw": str(order["LastModified"]),
        "currency": fields.text("Currency") or "EUR",
        "fx_rate_to_foreign": fields.number("FXRateToForeign", QUANTITY),
        "total_excl": fields.number("TotalExcl", MONEY),
        "total_vat": fields.number("TotalVAT", MONEY),
        "total_incl": fields.number("TotalIncl", MONEY),
        "to_pay": fields.number("ToPay", MONEY),
        "paid": fields.flag("Paid"),
        "paid_date": fields.date("PaidDate"),
        "order_status": fields.text("OrderStatus"),
        "is_sent": fields.flag("IsSent"),
        "reference": fields.text("Reference"),
        "order_title": fields.text("OrderTitle"),
        "comments": fields.text("Comments"),
        "payment_reference": fields.text("PaymentReference"),
        "payment_method": fields.text("PaymentMethod"),
        "external_provider": fields.text("ExternalProvider"),
        "external_provider_id": fields.text("ExternalProviderID"),
        "about_invoice_number": fields.text("AboutInvoiceNumber"),
        "ventilation_code": fields.text("VentilationCode"),
        "approval_status": fields.text("ApprovalStatus"),
        "reminders_sent": fields.integer("RemindersSent", INTEGER),
        "counterparty_party_id": counterparty_fields.integer("PartyID", BIGINT) if counterparty_fields else None,
        "counterparty_name": (counterparty_fields.text("DisplayName") or counterparty_fields.text("Name"))
        if counterparty_fields
        else None,
        "counterparty_vat_number": counterparty_fields.text("VATNumber") if counterparty_fields else None,
        "counterparty_peppol_id": preferred.peppol_id if preferred else None,
        "counterparty_enterprise_number": preferred.enterprise_number if preferred else None,
        "delivery_status": delivery.text("DocumentDeliveryStatus"),
        "is_document_delivered": delivery.flag("IsDocumentDelivered"),
        "document_delivery_date": delivery.timestamp("DocumentDeliveryDate"),
        "document_delivery_info": delivery.text("DocumentDeliveryInfo"),
        "document_refused_date": delivery.timestamp("DocumentRefusedDate"),
        "document_refused_reason_code": delivery.text("DocumentRefusedReasonTC"),
        "document_refused_info": delivery.text("DocumentRefusedInfo"),
        "last_response_code": last_response_code(messages),
        "is_deleted": False,
        "deleted_at": None,
        "first_run_id": run_id,
        "last_run_id": run_id,
    }
    rows = NormalisedBatch(invoices=[invoice])

    header_code = invoice["ventilation_code"]
    order_text = exemption_text(order)
    purchase_grid = PURCHASE_GRID_BY_COST_TYPE.get((fields.text("AccountingCostTypeTC") or "").lower(), "82")
    order_charges_vat = charges_vat(order, invoice["total_vat"])

    def classify(item: Fields) -> tuple[str | None, Decimal | None, VatClassification, str | None]:
        code = item.text("VentilationCode")
        percentage = vat_percentage(item, direction, code or header_code)
        vat = classify_vat_cached(
            direction,
            code or header_code,
            percentage,
            order_type=order_type,
            counterparty_country=country,
            counterparty_vat_number=invoice["counterparty_vat_number"],
            exemption_text=item_exemption_text(
                item.source, order_text, description=direction == "Cost" and not percentage
            ),
            purchase_grid=purchase_grid,
            import_deferral_licence=import_deferral_licence,
            order_charges_vat=order_charges_vat,
        )
        return code, percentage, *forced_vatex(vat, item.source, order)

    priced_lines = add_lines(rows, fields, order, classify, run_id=run_id, stream=stream, header_code=header_code)
    priced_groups = add_vat_groups(rows, fields, order, classify, run_id=run_id, stream=stream, header_code=header_code)
    rows.vat_return_entries, rows.vat_return_exceptions = vat_return_rows(
        invoice,
        priced_lines,
        priced_groups,
        purchase_grid=purchase_grid,
        counterparty_country=country,
        deduction_limits={name: fields.number(name, QUANTITY) for name in DEDUCTION_LIMITS},
    )

    rows.messages += message_rows(order_id, messages)

    seen: set[int] = set()
    for party in (fields.object("Customer"), fields.object("Supplier"), counterparty_fields):
        if party is not None and id(party.source) not in seen:  # the counterparty is the Customer or Supplier
            seen.add(id(party.source))
            add_party(rows.parties, rows.identifiers, party, run_id, _party_identifiers(party.source, identifiers))

    # Every value read: the order is loadable, merge it.
    batch.invoices += rows.invoices
    batch.lines += rows.lines
    batch.vat_groups += rows.vat_groups
    batch.messages += rows.messages
    batch.vat_return_entries += rows.vat_return_entries
    batch.vat_return_exceptions += rows.vat_return_exceptions
    batch.quarantine += rows.quarantine
    for party_id, party_row in rows.parties.items():
        keep_newest_party(batch.parties, batch.identifiers, party_row, rows.identifiers[party_id])


def _party_identifiers(party: Any, known: dict[str, list[PartyIdentifier]]) -> list[PartyIdentifier]:
    """A party's identifiers, normalised once per batch for each (CountryCode, VATNumber, Identifiers,
    PeppolIdentifier) seen: the company itself is a party of every order, and customers and suppliers recur (a
    fifth of the normalising)."""
    if not isinstance(party, Mapping):
        return []
    key = repr(tuple(party.get(name) for name in ("CountryCode", "VATNumber", "Identifiers", "PeppolIdentifier")))
    found = known.get(key)
    if found is None:
        found = known[key] = party_identifiers(party)
    return found
