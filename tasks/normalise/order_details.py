"""The rows under one order's header: its lines, its VAT groups and its e-invoice messages, and the quarantine row
of anything in them that cannot be classified (pure; tasks/normalise/orders.py calls these for every order).

A line or VAT group whose ventilation code cannot be classified is still loaded, with an empty VAT category, and
quarantined with the reason, so totals stay complete and someone can fix the mapping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from tasks.normalise.fields import BIGINT, INTEGER, MONEY, PERCENT, QUANTITY, Fields
from tasks.normalise.order_vat import group_amounts, net_amount, taxable_base, vat_amount, vat_columns
from tasks.normalise.vat import VatClassification
from tasks.normalise.vat_parts import Priced

Row = dict[str, Any]
Run = tuple[str, str]
"""The run's id and the stream, as the quarantine rows record them."""
Classify = Callable[[Fields], tuple[str | None, Decimal | None, VatClassification, str | None]]
"""A line's or group's ventilation code as written, its VAT percentage, its classification and why it is to review
(a forced VATEX code, tasks/normalise/vatex.py), if it is."""

_RESPONSE_CODE = re.compile(r"^\s*([A-Z]{2})\s*:")


class OrderRows(Protocol):
    lines: list[Row]
    vat_groups: list[Row]
    quarantine: list[Row]


def quarantine_row(
    run_id: str, stream: str, order: Mapping[str, Any], *, entity: str, key: str, reason: str, payload: Any
) -> Row:
    order_id = order.get("OrderID")
    version = order.get("LastModified")
    return {
        "run_id": run_id,
        "stream": stream,
        "order_id": order_id if isinstance(order_id, int) and not isinstance(order_id, bool) else None,
        "entity": entity,
        "entity_key": key,
        "source_version": _ascii(version)[:40] if version is not None else "",
        "reason": reason,
        # ASCII JSON: a NUL or a lone surrogate is escaped, so the payload is storable on both databases.
        "payload": json.dumps(payload, default=str, ensure_ascii=True, sort_keys=True),
    }


def _ascii(value: Any) -> str:
    return str(value).encode("ascii", "backslashreplace").decode("ascii")


def _quarantine_unknown_vat(
    rows: OrderRows, order: Mapping[str, Any], vat: VatClassification, item: Fields, *, entity: str, key: str, run: Run
) -> None:
    if not vat.is_known:
        reason = vat.reason or "unclassifiable VAT"
        rows.quarantine.append(quarantine_row(*run, order, entity=entity, key=key, reason=reason, payload=item.source))


def add_lines(
    rows: OrderRows,
    fields: Fields,
    order: Mapping[str, Any],
    classify: Classify,
    *,
    run_id: str,
    stream: str,
    header_code: str | None,
) -> list[Priced]:
    """The order's `invoice_lines` rows, added to `rows`; what the VAT return prices of each."""
    order_id = order["OrderID"]
    priced = []
    for number, line in enumerate(fields.objects("OrderLines"), start=1):
        code, percentage, vat, review = classify(line)
        _quarantine_unknown_vat(rows, order, vat, line, entity="line", key=f"{order_id}/{number}", run=(run_id, stream))
        net = net_amount(line)
        row = {
            "order_id": order_id,
            "line_number": number,
            "order_line_id": line.integer("OrderLineID", BIGINT),
            "description": line.text("Description"),
            "description_extended": line.text("DescriptionExtended"),
            "reference": line.text("Reference"),
            "unit": line.text("Unit"),
            "quantity": line.number("Quantity", QUANTITY),
            "unit_price_excl": line.number("UnitPriceExcl", QUANTITY),
            "reduction_percentage": line.number("ReductionPercentage", PERCENT),
            "vat_percentage": percentage,
            "ventilation_code": code,
            **vat_columns(vat),
            "total_excl": net,
            "total_vat": line.number("TotalVAT", MONEY),  # never reported: a group's VAT, or rate x net
            "total_incl": line.number("TotalIncl", MONEY),
            "account_code": line.text("AccountCode"),
        }
        rows.lines.append(row)
        priced.append(Priced(number, vat, row["total_excl"], row["total_vat"], code or header_code, review))
    return priced


def add_vat_groups(
    rows: OrderRows,
    fields: Fields,
    order: Mapping[str, Any],
    classify: Classify,
    *,
    run_id: str,
    stream: str,
    header_code: str | None,
) -> list[Priced]:
    """The order's `invoice_vat_groups` rows, added to `rows`; what the VAT return prices of each."""
    order_id = order["OrderID"]
    priced = []
    for number, group in enumerate(fields.objects("VatGroups"), start=1):
        code, percentage, vat, review = classify(group)
        key = f"{order_id}/{number}"
        _quarantine_unknown_vat(rows, order, vat, group, entity="vat_group", key=key, run=(run_id, stream))
        net, taxable, cash_discount = group_amounts(group)
        row = {
            "order_id": order_id,
            "group_number": number,
            "ventilation_code": code,
            "vat_percentage": percentage,
            **vat_columns(vat),
            "total_excl": net,
            "total_vat": vat_amount(group, percentage, taxable or net),
            "total_incl": group.number("TotalIncl", MONEY),
            "taxable_base": taxable,
            "financial_reduction_amount": cash_discount,
        }
        rows.vat_groups.append(row)
        priced.append(Priced(number, vat, taxable_base(row), row["total_vat"], code or header_code, review))
    return priced


def message_rows(order_id: int, messages: list[Fields]) -> list[Row]:
    """The order's `invoice_messages` rows."""
    return [
        {
            "order_id": order_id,
            "message_number": number,
            "message_direction": message.text("MessageDirection"),
            "transport_type": message.text("TransportType"),
            "destination": message.text("Destination"),
            "description": message.text("Description"),
            "response_code": _response_code(message.source.get("Description")),
            "success": message.flag("Success"),
            "trials": message.integer("Trials", INTEGER),
            "file_id": message.text("FileID"),
            "created_at": message.timestamp("CreationDate"),
        }
        for number, message in enumerate(messages, start=1)
    ]


def _response_code(description: Any) -> str | None:
    match = _RESPONSE_CODE.match(description) if isinstance(description, str) else None
    return match.group(1) if match else None


def last_response_code(messages: list[Fields]) -> str | None:
    """The code of the newest incoming response message (e.g. "AB" of "AB: accepted"), if any."""
    responses = [
        (str(message.source.get("CreationDate") or ""), number, code)
        for number, message in enumerate(messages)
        if message.source.get("MessageDirection") == "Incoming"
        and (code := _response_code(message.source.get("Description")))
    ]
    return max(responses)[2] if responses else None
