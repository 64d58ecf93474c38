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
from tasks.normalise.vat import (
    COST_VENTILATION_CODES,
    PURCHASE_GRID_BY_COST_TYPE,
    SALES_VENTILATION_CODES,
    VatClassification,
    classify_vat,
)
from tasks.normalise.vat_return import Priced, vat_return_rows

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
    orders: Iterable[Mapping[str, Any]], *, stream: str, run_id: str, import_deferral_licence: bool = False
) -> NormalisedBatch:
    """Rows for every table from a batch of full orders; the newest version of an order and of a party wins.

    `import_deferral_licence`: the company imports under a deferral licence (ET 14.000), so imports go to
    87/57/59 (docs/bi.md#vat-return).
    """
    batch = NormalisedBatch()
    for order in newest_versions(orders):
        try:
            _normalise_order(order, batch, stream=stream, run_id=run_id,
                             import_deferral_licence=import_deferral_licence)
        except UnloadableOrder as exc:
            order_id = order.get("OrderID") if isinstance(order, Mapping) else None
            if isinstance(order_id, int) and not isinstance(order_id, bool):
                batch.unloaded[order_id] = str(exc)
            batch.quarantine.append(
                quarantine_row(run_id, stream, order if isinstance(order, Mapping) else {}, entity="order",
                               key=_order_key(order_id), reason=str(exc), payload=order)
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


def _version(order: Mapping[str, Any]) -> datetime:
    try:
        return _as_timestamp(order.get("LastModified")) or _OLDEST
    except ValueError:
        return _OLDEST


def _order_key(order_id: Any) -> str:
    return str(order_id) if isinstance(order_id, int) else "?"


def quarantine_row(
    run_id: str, stream: str, order: Mapping[str, Any], *, entity: str, key: str, reason: str, payload: Any
) -> Row:
    order_id = order.get("OrderID")
    version = order.get("LastModified")
    return {
        "run_id": run_id, "stream": stream,
        "order_id": order_id if isinstance(order_id, int) and not isinstance(order_id, bool) else None,
        "entity": entity, "entity_key": key, "source_version": _ascii(version)[:40] if version is not None else "",
        "reason": reason,
        # ASCII JSON: a NUL or a lone surrogate is escaped, so the payload is storable on both databases.
        "payload": json.dumps(payload, default=str, ensure_ascii=True, sort_keys=True),
    }


def _ascii(value: Any) -> str:
    return str(value).encode("ascii", "backslashreplace").decode("ascii")


def order_state(invoice: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a status-history row tracks: order status, delivery state, latest response, paid, deleted."""
    return (
        invoice.get("order_status"), invoice.get("delivery_status"), invoice.get("document_delivery_info"),
        invoice.get("last_response_code"), invoice.get("paid"), bool(invoice.get("is_deleted")),
    )


def _normalise_order(
    order: Any, batch: NormalisedBatch, *, stream: str, run_id: str, import_deferral_licence: bool
) -> None:
    """Add one order's rows to `batch`, all of them or (raising UnloadableOrder) none."""
    if not isinstance(order, Mapping):
        raise UnloadableOrder(f"the order is a JSON {type(order).__name__}, not an object")
    # The C encoder writes a NUL as an escape and a lone surrogate as itself: one fast look at the whole order,
    # and the walk that names the field only when something is there (rare).
    text = json.dumps(order, default=str, ensure_ascii=False)
    if "\\u0000" in text or _SURROGATE.search(text):
        _refuse_unstorable_text(order, "")
    fields = _Fields(order)
    order_id = fields.integer("OrderID", BIGINT)
    if order_id is None or order_id <= 0:
        raise UnloadableOrder("OrderID missing or not a positive integer")
    direction = order.get("OrderDirection")
    if direction not in ("Income", "Cost"):
        raise UnloadableOrder("OrderDirection missing or not Income / Cost")
    last_modified = fields.timestamp("LastModified")
    if last_modified is None:
        raise UnloadableOrder("LastModified missing")

    counterparty = _counterparty(order, direction)
    counterparty_fields = _Fields(counterparty, "Supplier" if direction == "Cost" else "Customer") \
        if counterparty is not None else None
    counterparty_ids = _party_identifiers(counterparty)
    preferred = _preferred_identifier(counterparty_ids)
    country = counterparty_fields.text("CountryCode") if counterparty_fields else None
    delivery = fields.object("CurrentDocumentDeliveryDetails") or _Fields({}, "CurrentDocumentDeliveryDetails")
    messages = fields.objects("Messages")
    order_type = fields.text("OrderType") or "Invoice"

    invoice = {
        "order_id": order_id,
        "company_id": fields.integer("CompanyID", BIGINT),
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
        if counterparty_fields else None,
        "counterparty_vat_number": counterparty_fields.text("VATNumber") if counterparty_fields else None,
        "counterparty_peppol_id": preferred.peppol_id if preferred else None,
        "counterparty_enterprise_number": next(
            (i.enterprise_number for i in counterparty_ids if i.enterprise_number), None
        ),
        "delivery_status": delivery.text("DocumentDeliveryStatus"),
        "is_document_delivered": delivery.flag("IsDocumentDelivered"),
        "document_delivery_date": delivery.timestamp("DocumentDeliveryDate"),
        "document_delivery_info": delivery.text("DocumentDeliveryInfo"),
        "document_refused_date": delivery.timestamp("DocumentRefusedDate"),
        "document_refused_reason_code": delivery.text("DocumentRefusedReasonTC"),
        "document_refused_info": delivery.text("DocumentRefusedInfo"),
        "last_response_code": _last_response_code(messages),
        "is_deleted": False,
        "deleted_at": None,
        "first_run_id": run_id,
        "last_run_id": run_id,
    }
    rows = NormalisedBatch(invoices=[invoice])

    header_code = invoice["ventilation_code"]
    order_text = _exemption_text(order)
    purchase_grid = PURCHASE_GRID_BY_COST_TYPE.get((fields.text("AccountingCostTypeTC") or "").lower(), "82")

    def classify(item: _Fields) -> tuple[str | None, Decimal | None, VatClassification]:
        code = item.text("VentilationCode")
        percentage = _vat_percentage(item, direction, code or header_code)
        vat = classify_vat(
            direction, code or header_code, percentage, order_type=order_type, counterparty_country=country,
            counterparty_vat_number=invoice["counterparty_vat_number"],
            exemption_text=" | ".join(filter(None, (_exemption_text(item.source), order_text))),
            purchase_grid=purchase_grid, import_deferral_licence=import_deferral_licence,
        )
        return code, percentage, vat

    priced_lines, priced_groups = [], []
    for number, line in enumerate(fields.objects("OrderLines"), start=1):
        code, percentage, vat = classify(line)
        if not vat.is_known:
            rows.quarantine.append(quarantine_row(run_id, stream, order, entity="line", key=f"{order_id}/{number}",
                                                  reason=vat.reason or "unclassifiable VAT", payload=line.source))
        rows.lines.append({
            "order_id": order_id, "line_number": number, "order_line_id": line.integer("OrderLineID", BIGINT),
            "description": line.text("Description"), "description_extended": line.text("DescriptionExtended"),
            "reference": line.text("Reference"), "unit": line.text("Unit"),
            "quantity": line.number("Quantity", QUANTITY), "unit_price_excl": line.number("UnitPriceExcl", QUANTITY),
            "reduction_percentage": line.number("ReductionPercentage", PERCENT),
            "vat_percentage": percentage, "ventilation_code": code, **_vat_columns(vat),
            "total_excl": line.number("TotalExcl", MONEY), "total_vat": line.number("TotalVAT", MONEY),
            "total_incl": line.number("TotalIncl", MONEY), "account_code": line.text("AccountCode"),
        })
        priced_lines.append(Priced(number, vat, rows.lines[-1]["total_excl"], rows.lines[-1]["total_vat"],
                                   code or header_code))

    for number, group in enumerate(fields.objects("VatGroups"), start=1):
        code, percentage, vat = classify(group)
        if not vat.is_known:
            rows.quarantine.append(quarantine_row(run_id, stream, order, entity="vat_group",
                                                  key=f"{order_id}/{number}",
                                                  reason=vat.reason or "unclassifiable VAT", payload=group.source))
        rows.vat_groups.append({
            "order_id": order_id, "group_number": number, "ventilation_code": code,
            "vat_percentage": percentage, **_vat_columns(vat),
            "total_excl": group.number("TotalExcl", MONEY), "total_vat": group.number("TotalVAT", MONEY),
            "total_incl": group.number("TotalIncl", MONEY), "taxable_base": group.number("Mtvh", MONEY),
            "financial_reduction_amount": group.number("FinancialReductionAmount", MONEY),
        })
        priced_groups.append(Priced(number, vat, _taxable_base(rows.vat_groups[-1]), rows.vat_groups[-1]["total_vat"],
                                    code or header_code))
    rows.vat_return_entries, rows.vat_return_exceptions = vat_return_rows(
        invoice, priced_lines, priced_groups, purchase_grid=purchase_grid
    )

    for number, message in enumerate(messages, start=1):
        rows.messages.append({
            "order_id": order_id, "message_number": number,
            "message_direction": message.text("MessageDirection"),
            "transport_type": message.text("TransportType"), "destination": message.text("Destination"),
            "description": message.text("Description"),
            "response_code": _response_code(message.source.get("Description")),
            "success": message.flag("Success"), "trials": message.integer("Trials", INTEGER),
            "file_id": message.text("FileID"), "created_at": message.timestamp("CreationDate"),
        })

    seen: set[int] = set()
    for party in (fields.object("Customer"), fields.object("Supplier"), counterparty_fields):
        if party is not None and id(party.source) not in seen:  # the counterparty is the Customer or Supplier
            seen.add(id(party.source))
            _add_party(rows, party, run_id, counterparty_ids if party.source is counterparty else None)

    # Every value read: the order is loadable, merge it.
    batch.invoices += rows.invoices
    batch.lines += rows.lines
    batch.vat_groups += rows.vat_groups
    batch.messages += rows.messages
    batch.vat_return_entries += rows.vat_return_entries
    batch.vat_return_exceptions += rows.vat_return_exceptions
    batch.quarantine += rows.quarantine
    for party_id, party_row in rows.parties.items():
        _keep_newest_party(batch, party_row, rows.identifiers[party_id])


def _vat_columns(vat: VatClassification) -> Row:
    return {
        "vat_category": vat.category, "vat_rate": vat.rate if vat.is_known else None,
        "exemption_reason": vat.exemption_reason, "vatex_code": vat.vatex_code,
        "base_grids": ",".join(vat.base_grids) or None, "vat_grids": ",".join(vat.vat_grids) or None,
        "treatment": vat.treatment, "treatment_source": vat.treatment_source if vat.is_known else None,
        "treatment_reason": vat.reason,
    }


# Codes whose category has no rate or 0 % by definition: a line with one of them may leave VATPercentage out
# (Billit writes "No VAT percentage" for code 22, and NULL defaults in its cost table).
_ZERO_RATE_CODES = {
    direction: frozenset(code for code, row in table.items() if row.category not in (None, "S"))
    for direction, table in (("Income", SALES_VENTILATION_CODES), ("Cost", COST_VENTILATION_CODES))
}


def _vat_percentage(item: _Fields, direction: str, code: str | None) -> Decimal | None:
    """The VAT % of a line or group. Missing (absent, null or blank) is allowed only under a code that names a
    0 % category; otherwise the rate is unknown and a line that may carry VAT would pass as zero-rated (issue
    10), so the order is quarantined whole."""
    value = item.source.get("VATPercentage")
    if value is None or (isinstance(value, str) and not value.strip()):
        if (code or "").strip() in _ZERO_RATE_CODES[direction]:
            return None
        raise item._unreadable("VATPercentage", "missing and no ventilation code says the line has no VAT")
    return item.number("VATPercentage", PERCENT)


def _taxable_base(group: Row) -> Decimal | None:
    """A VAT group's taxable base: `Mtvh`, which a cash discount makes smaller than `TotalExcl`. An `Mtvh` of 0
    on a group with a net and no cash discount says nothing (docs/reference/billit-api.md#cash-discount)."""
    taxable, net = group["taxable_base"], group["total_excl"]
    if taxable is None or (taxable == 0 and net and not group["financial_reduction_amount"]):
        return net
    return taxable


_EXEMPTION_KEYS = re.compile(r"exempt|note|comment|title", re.IGNORECASE)


def _exemption_text(source: Mapping[str, Any]) -> str:
    """The texts of an order, line or VAT group that may state a VAT exemption. Where Billit puts a received
    invoice's exemption reason is not documented (docs/bi.md#vat-return): any text under a key naming an
    exemption, a note, a comment or a title, and every text of its CustomFields."""
    texts = [value for key, value in source.items() if isinstance(value, str) and _EXEMPTION_KEYS.search(str(key))]
    custom = source.get("CustomFields")
    # CustomFields is an object of strings on orders and lines; parties show a list (of {Key, Value} objects).
    for holder in (custom,) if isinstance(custom, Mapping) else custom if isinstance(custom, list) else ():
        if isinstance(holder, Mapping):
            texts += [value for value in holder.values() if isinstance(value, str)]
    return " | ".join(text.strip() for text in texts if text.strip())


def _counterparty(order: Mapping[str, Any], direction: str) -> Mapping[str, Any] | None:
    # For sales the other party is the Customer, for purchases the Supplier (docs/reference/billit-api.md); the list
    # summary only carries CounterParty, so fall back to it.
    for name in ("Customer" if direction == "Income" else "Supplier", "CounterParty"):
        party = order.get(name)
        if isinstance(party, Mapping):
            return party
        if party is not None:
            raise UnloadableOrder(f"{name} is a JSON {_json_type(party)}, not an object")
    return None


def _party_identifiers(party: Mapping[str, Any] | None) -> list[PartyIdentifier]:
    return normalise_party_identifiers(party) if isinstance(party, Mapping) else []


def _preferred_identifier(identifiers: list[PartyIdentifier]) -> PartyIdentifier | None:
    valid = [identifier for identifier in identifiers if identifier.is_valid and identifier.peppol_id]
    for scheme in _SCHEME_PREFERENCE:
        for identifier in valid:
            if identifier.scheme == scheme:
                return identifier
    return valid[0] if valid else None


def _add_party(batch: NormalisedBatch, party: _Fields, run_id: str,
               identifiers: list[PartyIdentifier] | None = None) -> None:
    party_id = party.integer("PartyID", BIGINT)
    if party_id is None:
        return
    identifiers = identifiers if identifiers is not None else normalise_party_identifiers(party.source)
    preferred = _preferred_identifier(identifiers)
    row = {
        "party_id": party_id, "party_type": party.text("PartyType"), "name": party.text("Name"),
        "display_name": party.text("DisplayName"), "vat_number_raw": party.text("VATNumber"),
        "vat_liable": party.flag("VATLiable"),
        "enterprise_number": next((i.enterprise_number for i in identifiers if i.enterprise_number), None),
        "peppol_id": preferred.peppol_id if preferred else None,
        "country_code": party.text("CountryCode"), "street": party.text("Street"),
        "street_number": party.text("StreetNumber"), "box": party.text("Box"),
        "zipcode": party.text("Zipcode"), "city": party.text("City"), "email": party.text("Email"),
        "language": party.text("Language"), "last_modified": party.timestamp("LastModified"), "last_run_id": run_id,
    }
    rows: dict[tuple[str, str], Row] = {}
    for identifier in identifiers:
        rows[(identifier.source, identifier.raw)] = {
            "party_id": party_id, "source": identifier.source, "raw": identifier.raw, "scheme": identifier.scheme,
            "value": identifier.value, "peppol_id": identifier.peppol_id, "is_valid": identifier.is_valid,
            "reason": identifier.reason,
        }
    _keep_newest_party(batch, row, list(rows.values()))


def _keep_newest_party(batch: NormalisedBatch, row: Row, identifiers: list[Row]) -> None:
    known = batch.parties.get(row["party_id"])
    last_modified = row["last_modified"]
    if known is not None and (last_modified is None or (known["last_modified"] or last_modified) > last_modified):
        return
    batch.parties[row["party_id"]] = row
    batch.identifiers[row["party_id"]] = identifiers


def _response_code(description: Any) -> str | None:
    match = _RESPONSE_CODE.match(description) if isinstance(description, str) else None
    return match.group(1) if match else None


def _last_response_code(messages: list[_Fields]) -> str | None:
    responses = [
        (str(message.source.get("CreationDate") or ""), number, code)
        for number, message in enumerate(messages)
        if message.source.get("MessageDirection") == "Incoming"
        and (code := _response_code(message.source.get("Description")))
    ]
    return max(responses)[2] if responses else None


@dataclass(frozen=True)
class Numeric:
    """What a NUMERIC column holds *exactly on both databases*: PostgreSQL's NUMERIC(p, s) is exact, but SQLite
    stores a REAL, exact to 15 significant digits (connectors/warehouse/load.py), and PostgreSQL rounds extra
    decimals where SQLite keeps them. A value beyond either limit is refused, never stored rounded on one
    database and exact (or different) on the other."""

    below: Decimal
    decimals: int


MONEY = Numeric(Decimal("1e13"), 2)  # NUMERIC(18, 2): 13 integer digits + 2 decimals
QUANTITY = Numeric(Decimal("1e10"), 5)  # NUMERIC(18, 5): quantities, unit prices, FX rates
PERCENT = Numeric(Decimal("1e5"), 4)  # NUMERIC(9, 4)
BIGINT = 2**63
INTEGER = 2**31


class _Fields:
    """Typed reads of one JSON object of an order. Absent or null is None; a value that is present but
    unreadable raises UnloadableOrder naming the field (its path in the order), never quoting the value."""

    def __init__(self, source: Mapping[str, Any], path: str = "") -> None:
        self.source = source
        self.path = path

    def _where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _unreadable(self, name: str, what: str) -> UnloadableOrder:
        return UnloadableOrder(f"{self._where(name)} is {what}")

    def text(self, name: str) -> str | None:
        value = self.source.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self._unreadable(name, f"a JSON {_json_type(value)}, not text")
        return str(value).strip() or None

    def number(self, name: str, column: Numeric) -> Decimal | None:
        value = self.source.get(name)
        if value is None:
            return None
        try:
            if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
                raise InvalidOperation
            number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
        except InvalidOperation:
            raise self._unreadable(name, "not a number") from None
        if not number.is_finite():
            raise self._unreadable(name, "not a finite number")
        if abs(number) >= column.below:
            raise self._unreadable(name, f"out of range (the warehouse holds up to {column.below:,.0f} exclusive)")
        if number != number.quantize(Decimal(1).scaleb(-column.decimals)):
            raise self._unreadable(name, f"more precise than the warehouse keeps ({column.decimals} decimals)")
        return number

    def integer(self, name: str, limit: int) -> int | None:
        value = self.source.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._unreadable(name, "not an integer")
        if not -limit <= value < limit:
            raise self._unreadable(name, "an integer out of range")
        return value

    def flag(self, name: str) -> bool | None:
        value = self.source.get(name)
        if value is None or isinstance(value, bool):
            return value
        raise self._unreadable(name, "not true or false")

    def timestamp(self, name: str) -> datetime | None:
        try:
            return _as_timestamp(self.source.get(name))
        except ValueError:
            raise self._unreadable(name, "not an ISO 8601 date-time") from None

    def date(self, name: str) -> date | None:
        stamp = self.timestamp(name)
        return stamp.date() if stamp else None

    def object(self, name: str) -> _Fields | None:
        value = self.source.get(name)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self._unreadable(name, f"a JSON {_json_type(value)}, not an object")
        return _Fields(value, self._where(name))

    def objects(self, name: str) -> list[_Fields]:
        value = self.source.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._unreadable(name, f"a JSON {_json_type(value)}, not a list")
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise self._unreadable(f"{name}[{index}]", f"a JSON {_json_type(item)}, not an object")
        return [_Fields(item, f"{self._where(name)}[{index}]") for index, item in enumerate(value)]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_unstorable_text(value: Any, path: str) -> None:
    """PostgreSQL text cannot hold NUL, and no database holds a lone surrogate (invalid UTF-16 escapes in JSON)."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise UnloadableOrder(f"{path or 'a value'} holds a NUL character or a lone surrogate")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _UNSTORABLE.search(key):
                raise UnloadableOrder(f"a property name under {path or 'the order'} holds a NUL or a lone surrogate")
            _refuse_unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_unstorable_text(item, f"{path}[{index}]")


def _as_timestamp(value: Any) -> datetime | None:
    """Billit's naive local timestamps; ValueError when present but unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    if not value.strip():
        return None
    # Billit writes naive local times; an offset on input (docs show one on POST) is dropped, keeping the
    # wall-clock time Billit itself would store.
    return datetime.fromisoformat(value.strip()).replace(tzinfo=None)
