"""Full Billit orders -> warehouse rows (pure; no I/O).

One call turns a batch of full orders (as `GET /v1/orders/{id}` returns them, parsed with exact decimals) into
rows for `invoices`, `invoice_lines`, `invoice_vat_groups`, `invoice_messages`, `parties` and
`party_identifiers`, plus `quarantine` entries. Nothing is dropped silently:

* an order that cannot be loaded at all (no OrderID, no direction, an unreadable LastModified) goes to
  quarantine whole, with the reason;
* a line or VAT group whose ventilation code cannot be classified is loaded with an empty VAT category *and*
  quarantined with the reason, so totals stay complete and someone can fix the mapping;
* an invalid party identifier is kept with `is_valid = false` and the reason (never dropped).

Billit's `Overdue` / `DaysOverdue` change every day without touching `LastModified`; they are not stored —
overdue-ness is computed at query time from `expiry_date`, `paid` and `to_pay`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tasks.normalise.identifiers import PartyIdentifier, normalise_party_identifiers
from tasks.normalise.vat import classify_vat

Row = dict[str, Any]

_RESPONSE_CODE = re.compile(r"^\s*([A-Z]{2})\s*:")
# Preference for the counterparty's one canonical Peppol id: Billit routes a CBE (0208) before the VAT number.
_SCHEME_PREFERENCE = ("0208", "9925")


class UnloadableOrder(ValueError):
    """An order missing what the warehouse needs to key it."""


@dataclass
class NormalisedBatch:
    invoices: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)
    vat_groups: list[Row] = field(default_factory=list)
    messages: list[Row] = field(default_factory=list)
    parties: dict[int, Row] = field(default_factory=dict)
    identifiers: dict[int, list[Row]] = field(default_factory=dict)
    quarantine: list[Row] = field(default_factory=list)

    @property
    def order_ids(self) -> list[int]:
        return [row["order_id"] for row in self.invoices]


def normalise_orders(orders: Iterable[Mapping[str, Any]], *, stream: str, run_id: str) -> NormalisedBatch:
    """Rows for every table from a batch of full orders; the newest version of a party wins."""
    batch = NormalisedBatch()
    for order in orders:
        try:
            _normalise_order(order, batch, stream=stream, run_id=run_id)
        except UnloadableOrder as exc:
            batch.quarantine.append(
                quarantine_row(run_id, stream, order, entity="order", key=str(order.get("OrderID", "?")),
                               reason=str(exc), payload=order)
            )
    return batch


def quarantine_row(
    run_id: str, stream: str, order: Mapping[str, Any], *, entity: str, key: str, reason: str, payload: Any
) -> Row:
    order_id = order.get("OrderID")
    return {
        "run_id": run_id, "stream": stream, "order_id": order_id if isinstance(order_id, int) else None,
        "entity": entity, "entity_key": key, "source_version": str(order.get("LastModified", "")),
        "reason": reason, "payload": json.dumps(payload, default=str, ensure_ascii=False, sort_keys=True),
    }


def order_state(invoice: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a status-history row tracks: order status, delivery state, latest response, paid, deleted."""
    return (
        invoice.get("order_status"), invoice.get("delivery_status"), invoice.get("document_delivery_info"),
        invoice.get("last_response_code"), invoice.get("paid"), bool(invoice.get("is_deleted")),
    )


def _normalise_order(order: Mapping[str, Any], batch: NormalisedBatch, *, stream: str, run_id: str) -> None:
    order_id = order.get("OrderID")
    if not isinstance(order_id, int) or isinstance(order_id, bool):
        raise UnloadableOrder(f"OrderID missing or not an integer: {order_id!r}")
    direction = order.get("OrderDirection")
    if direction not in ("Income", "Cost"):
        raise UnloadableOrder(f"OrderDirection must be Income or Cost, not {direction!r}")
    last_modified_raw = order.get("LastModified")
    last_modified = _timestamp(last_modified_raw)
    if last_modified is None:
        raise UnloadableOrder(f"LastModified missing or unreadable: {last_modified_raw!r}")

    counterparty = _counterparty(order, direction)
    counterparty_ids = _party_identifiers(counterparty)
    preferred = _preferred_identifier(counterparty_ids)
    country = _text((counterparty or {}).get("CountryCode"))
    delivery = order.get("CurrentDocumentDeliveryDetails") or {}
    messages = [m for m in order.get("Messages") or [] if isinstance(m, Mapping)]
    order_type = _text(order.get("OrderType")) or "Invoice"

    invoice = {
        "order_id": order_id,
        "company_id": order.get("CompanyID"),
        "direction": direction,
        "order_type": order_type,
        "order_number": _text(order.get("OrderNumber")),
        "order_date": _date(order.get("OrderDate")),
        "expiry_date": _date(order.get("ExpiryDate")),
        "delivery_date": _date(order.get("DeliveryDate")),
        "period_from": _date(order.get("PeriodFrom")),
        "period_till": _date(order.get("PeriodTill")),
        "created_at": _timestamp(order.get("Created")),
        "last_modified": last_modified,
        "last_modified_raw": str(last_modified_raw),
        "currency": _text(order.get("Currency")) or "EUR",
        "fx_rate_to_foreign": _decimal(order.get("FXRateToForeign")),
        "total_excl": _decimal(order.get("TotalExcl")),
        "total_vat": _decimal(order.get("TotalVAT")),
        "total_incl": _decimal(order.get("TotalIncl")),
        "to_pay": _decimal(order.get("ToPay")),
        "paid": _bool(order.get("Paid")),
        "paid_date": _date(order.get("PaidDate")),
        "order_status": _text(order.get("OrderStatus")),
        "is_sent": _bool(order.get("IsSent")),
        "reference": _text(order.get("Reference")),
        "order_title": _text(order.get("OrderTitle")),
        "comments": _text(order.get("Comments")),
        "payment_reference": _text(order.get("PaymentReference")),
        "payment_method": _text(order.get("PaymentMethod")),
        "external_provider": _text(order.get("ExternalProvider")),
        "external_provider_id": _text(order.get("ExternalProviderID")),
        "about_invoice_number": _text(order.get("AboutInvoiceNumber")),
        "ventilation_code": _text(order.get("VentilationCode")),
        "approval_status": _text(order.get("ApprovalStatus")),
        "reminders_sent": order.get("RemindersSent"),
        "counterparty_party_id": (counterparty or {}).get("PartyID"),
        "counterparty_name": _text((counterparty or {}).get("DisplayName") or (counterparty or {}).get("Name")),
        "counterparty_vat_number": _text((counterparty or {}).get("VATNumber")),
        "counterparty_peppol_id": preferred.peppol_id if preferred else None,
        "counterparty_enterprise_number": next(
            (i.enterprise_number for i in counterparty_ids if i.enterprise_number), None
        ),
        "delivery_status": _text(delivery.get("DocumentDeliveryStatus")),
        "is_document_delivered": _bool(delivery.get("IsDocumentDelivered")),
        "document_delivery_date": _timestamp(delivery.get("DocumentDeliveryDate")),
        "document_delivery_info": _text(delivery.get("DocumentDeliveryInfo")),
        "document_refused_date": _timestamp(delivery.get("DocumentRefusedDate")),
        "document_refused_reason_code": _text(delivery.get("DocumentRefusedReasonTC")),
        "document_refused_info": _text(delivery.get("DocumentRefusedInfo")),
        "last_response_code": _last_response_code(messages),
        "is_deleted": False,
        "deleted_at": None,
        "first_run_id": run_id,
        "last_run_id": run_id,
    }
    batch.invoices.append(invoice)

    header_code = invoice["ventilation_code"]
    for number, line in enumerate(order.get("OrderLines") or [], start=1):
        vat = classify_vat(direction, _text(line.get("VentilationCode")) or header_code,
                           _decimal(line.get("VATPercentage")), order_type=order_type, counterparty_country=country)
        if not vat.is_known:
            batch.quarantine.append(quarantine_row(run_id, stream, order, entity="line", key=f"{order_id}/{number}",
                                                   reason=vat.reason or "unclassifiable VAT", payload=line))
        batch.lines.append({
            "order_id": order_id, "line_number": number, "order_line_id": line.get("OrderLineID"),
            "description": _text(line.get("Description")),
            "description_extended": _text(line.get("DescriptionExtended")),
            "reference": _text(line.get("Reference")), "unit": _text(line.get("Unit")),
            "quantity": _decimal(line.get("Quantity")), "unit_price_excl": _decimal(line.get("UnitPriceExcl")),
            "reduction_percentage": _decimal(line.get("ReductionPercentage")),
            "vat_percentage": _decimal(line.get("VATPercentage")),
            "ventilation_code": _text(line.get("VentilationCode")),
            **_vat_columns(vat),
            "total_excl": _decimal(line.get("TotalExcl")), "total_vat": _decimal(line.get("TotalVAT")),
            "total_incl": _decimal(line.get("TotalIncl")), "account_code": _text(line.get("AccountCode")),
        })

    for number, group in enumerate(order.get("VatGroups") or [], start=1):
        vat = classify_vat(direction, _text(group.get("VentilationCode")) or header_code,
                           _decimal(group.get("VATPercentage")), order_type=order_type, counterparty_country=country)
        if not vat.is_known:
            batch.quarantine.append(quarantine_row(run_id, stream, order, entity="vat_group",
                                                   key=f"{order_id}/{number}",
                                                   reason=vat.reason or "unclassifiable VAT", payload=group))
        batch.vat_groups.append({
            "order_id": order_id, "group_number": number, "ventilation_code": _text(group.get("VentilationCode")),
            "vat_percentage": _decimal(group.get("VATPercentage")), **_vat_columns(vat),
            "total_excl": _decimal(group.get("TotalExcl")), "total_vat": _decimal(group.get("TotalVAT")),
            "total_incl": _decimal(group.get("TotalIncl")), "taxable_base": _decimal(group.get("Mtvh")),
            "financial_reduction_amount": _decimal(group.get("FinancialReductionAmount")),
        })

    for number, message in enumerate(messages, start=1):
        batch.messages.append({
            "order_id": order_id, "message_number": number,
            "message_direction": _text(message.get("MessageDirection")),
            "transport_type": _text(message.get("TransportType")), "destination": _text(message.get("Destination")),
            "description": _text(message.get("Description")),
            "response_code": _response_code(message.get("Description")),
            "success": _bool(message.get("Success")), "trials": message.get("Trials"),
            "file_id": _text(message.get("FileID")), "created_at": _timestamp(message.get("CreationDate")),
        })

    for party in (order.get("Customer"), order.get("Supplier"), counterparty):
        _add_party(batch, party, run_id)


def _vat_columns(vat: Any) -> Row:
    return {
        "vat_category": vat.category, "vat_rate": vat.rate if vat.is_known else None,
        "exemption_reason": vat.exemption_reason, "vatex_code": vat.vatex_code,
        "base_grids": ",".join(vat.base_grids) or None, "vat_grids": ",".join(vat.vat_grids) or None,
    }


def _counterparty(order: Mapping[str, Any], direction: str) -> Mapping[str, Any] | None:
    # For sales the other party is the Customer, for purchases the Supplier (billit-api.md §4.2); the list
    # summary only carries CounterParty, so fall back to it.
    party = order.get("Customer") if direction == "Income" else order.get("Supplier")
    return party if isinstance(party, Mapping) else order.get("CounterParty")


def _party_identifiers(party: Mapping[str, Any] | None) -> list[PartyIdentifier]:
    return normalise_party_identifiers(party) if isinstance(party, Mapping) else []


def _preferred_identifier(identifiers: list[PartyIdentifier]) -> PartyIdentifier | None:
    valid = [identifier for identifier in identifiers if identifier.is_valid and identifier.peppol_id]
    for scheme in _SCHEME_PREFERENCE:
        for identifier in valid:
            if identifier.scheme == scheme:
                return identifier
    return valid[0] if valid else None


def _add_party(batch: NormalisedBatch, party: Any, run_id: str) -> None:
    if not isinstance(party, Mapping) or not isinstance(party.get("PartyID"), int):
        return
    party_id = party["PartyID"]
    last_modified = _timestamp(party.get("LastModified"))
    known = batch.parties.get(party_id)
    if known is not None and (last_modified is None or (known["last_modified"] or last_modified) > last_modified):
        return
    identifiers = normalise_party_identifiers(party)
    preferred = _preferred_identifier(identifiers)
    batch.parties[party_id] = {
        "party_id": party_id, "party_type": _text(party.get("PartyType")), "name": _text(party.get("Name")),
        "display_name": _text(party.get("DisplayName")), "vat_number_raw": _text(party.get("VATNumber")),
        "vat_liable": _bool(party.get("VATLiable")),
        "enterprise_number": next((i.enterprise_number for i in identifiers if i.enterprise_number), None),
        "peppol_id": preferred.peppol_id if preferred else None,
        "country_code": _text(party.get("CountryCode")), "street": _text(party.get("Street")),
        "street_number": _text(party.get("StreetNumber")), "box": _text(party.get("Box")),
        "zipcode": _text(party.get("Zipcode")), "city": _text(party.get("City")), "email": _text(party.get("Email")),
        "language": _text(party.get("Language")), "last_modified": last_modified, "last_run_id": run_id,
    }
    rows: dict[tuple[str, str], Row] = {}
    for identifier in identifiers:
        rows[(identifier.source, identifier.raw)] = {
            "party_id": party_id, "source": identifier.source, "raw": identifier.raw, "scheme": identifier.scheme,
            "value": identifier.value, "peppol_id": identifier.peppol_id, "is_valid": identifier.is_valid,
            "reason": identifier.reason,
        }
    batch.identifiers[party_id] = list(rows.values())


def _response_code(description: Any) -> str | None:
    match = _RESPONSE_CODE.match(description) if isinstance(description, str) else None
    return match.group(1) if match else None


def _last_response_code(messages: list[Mapping[str, Any]]) -> str | None:
    responses = [
        (str(message.get("CreationDate") or ""), number, code)
        for number, message in enumerate(messages)
        if message.get("MessageDirection") == "Incoming" and (code := _response_code(message.get("Description")))
    ]
    return max(responses)[2] if responses else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Billit writes naive local times; an offset on input (docs show one on POST) is dropped, keeping the
    # wall-clock time Billit itself would store.
    return parsed.replace(tzinfo=None)


def _date(value: Any) -> date | None:
    stamp = _timestamp(value)
    return stamp.date() if stamp else None
