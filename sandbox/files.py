"""Files of the sandbox: the records behind ``GET /v1/files/{FileID}`` and deterministic stub contents.

Billit exposes an order's PDF, its attachments (the posted JSON for API sales, the received UBL for Peppol
purchases) and the UBL/IMR files of its ``Messages`` through ``GET /v1/files/{FileID}`` as
``{"FileID","FileName","MimeType","FileContent"(base64)}`` (docs/reference/billit-api.md#files). Seeded orders only
carry file ids, so their contents are generated on demand from the order: a tiny one-page PDF, a tiny UBL
invoice (wrapped in a minimal SBDH envelope for received documents), an IMR ``ApplicationResponse`` or the
JSON of the order as it could have been posted. Posted files keep the bytes that were sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from sandbox.render import format_datetime, render_json

__all__ = ["StoredFile", "message_description", "mime_type_for", "seeded_file_record", "stub_content", "stub_pdf"]


@dataclass(slots=True)
class StoredFile:
    """One file known to the sandbox; ``content`` is None until generated for seeded ids."""

    file_id: str
    company_id: int
    file_name: str
    mime_type: str
    order_id: int | None = None
    role: str = "pdf"  # "pdf", "attachment", "ubl", "imr", "json", "uploaded"
    content: bytes | None = None


def mime_type_for(file_name: str) -> str:
    """MimeType from the extension, using the values Billit is seen to return (docs/reference/billit-api.md#files)."""
    lowered = file_name.lower()
    if lowered.endswith(".pdf"):
        return "application/pdf"
    if lowered.endswith(".xml"):
        return "text/xml"
    if lowered.endswith(".json"):
        return "application/json"
    if lowered.endswith((".xls", ".xlsx", ".csv")):
        return "application/vnd.ms-excel"
    return "application/octet-stream"


def stub_pdf(title: str, lines: list[str] | None = None) -> bytes:
    """A minimal valid one-page PDF showing ``title`` (and a few text lines), with a correct xref table."""
    texts = [title, *(lines or [])]
    stream_lines = ["BT", "/F1 14 Tf", "50 780 Td"]
    for index, text in enumerate(texts):
        safe = text.encode("latin-1", "replace").decode("latin-1")
        safe = safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        if index:
            stream_lines.append("0 -20 Td")
        stream_lines.append(f"({safe}) Tj")
    stream_lines.append("ET")
    stream = "\n".join(stream_lines).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _party_xml(tag: str, party: Mapping[str, Any] | None) -> str:
    party = party or {}
    name = escape(str(party.get("Name", "")))
    vat = escape(str(party.get("VATNumber", "")))
    country = escape(str(party.get("CountryCode", "")))
    return (
        f"<cac:{tag}><cac:Party><cac:PartyName><cbc:Name>{name}</cbc:Name></cac:PartyName>"
        f"<cac:PostalAddress><cac:Country><cbc:IdentificationCode>{country}</cbc:IdentificationCode></cac:Country>"
        f"</cac:PostalAddress><cac:PartyTaxScheme><cbc:CompanyID>{vat}</cbc:CompanyID><cac:TaxScheme>"
        f"<cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme></cac:Party></cac:{tag}>"
    )


def _ubl(order: Mapping[str, Any], *, envelope: bool) -> bytes:
    is_credit = order.get("OrderType") == "CreditNote"
    root = "CreditNote" if is_credit else "Invoice"
    currency = escape(str(order.get("Currency", "EUR")))
    issue = order.get("OrderDate")
    due = order.get("ExpiryDate")
    lines = []
    for index, line in enumerate(order.get("OrderLines", []), start=1):
        qty_tag = "CreditedQuantity" if is_credit else "InvoicedQuantity"
        lines.append(
            f'<cac:{root}Line><cbc:ID>{index}</cbc:ID><cbc:{qty_tag} unitCode="C62">{line.get("Quantity")}'
            f'</cbc:{qty_tag}><cbc:LineExtensionAmount currencyID="{currency}">{line.get("TotalExcl")}'
            f"</cbc:LineExtensionAmount><cac:Item><cbc:Name>{escape(str(line.get('Description', '')))}"
            f'</cbc:Name></cac:Item><cac:Price><cbc:PriceAmount currencyID="{currency}">'
            f"{line.get('UnitPriceExcl')}</cbc:PriceAmount></cac:Price></cac:{root}Line>"
        )
    body = (
        f'<{root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:{root}-2" '
        'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "<cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
        "</cbc:CustomizationID><cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>"
        f"<cbc:ID>{escape(str(order.get('OrderNumber', '')))}</cbc:ID>"
        f"<cbc:IssueDate>{issue.date().isoformat() if isinstance(issue, datetime) else ''}</cbc:IssueDate>"
        + (
            ""
            if is_credit
            else f"<cbc:DueDate>{due.date().isoformat() if isinstance(due, datetime) else ''}</cbc:DueDate>"
        )
        + f"<cbc:DocumentCurrencyCode>{currency}</cbc:DocumentCurrencyCode>"
        + _party_xml("AccountingSupplierParty", order.get("Supplier"))
        + _party_xml("AccountingCustomerParty", order.get("Customer"))
        + f'<cac:TaxTotal><cbc:TaxAmount currencyID="{currency}">{order.get("TotalVAT")}</cbc:TaxAmount>'
        "</cac:TaxTotal><cac:LegalMonetaryTotal>"
        f'<cbc:TaxExclusiveAmount currencyID="{currency}">{order.get("TotalExcl")}</cbc:TaxExclusiveAmount>'
        f'<cbc:PayableAmount currencyID="{currency}">{order.get("ToPay", order.get("TotalIncl"))}'
        "</cbc:PayableAmount></cac:LegalMonetaryTotal>" + "".join(lines) + f"</{root}>"
    )
    if envelope:
        body = (
            '<StandardBusinessDocument xmlns="http://www.unece.org/cefact/namespaces/StandardBusinessDocumentHeader">'
            "<StandardBusinessDocumentHeader><HeaderVersion>1.0</HeaderVersion></StandardBusinessDocumentHeader>"
            + body
            + "</StandardBusinessDocument>"
        )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()


def _imr(order: Mapping[str, Any], description: str) -> bytes:
    code = description.split(":", 1)[0] if ":" in description else "AB"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ApplicationResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2" '
        'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "<cbc:CustomizationID>urn:fdc:peppol.eu:poacc:trns:invoice_response:3</cbc:CustomizationID>"
        "<cbc:ProfileID>urn:fdc:peppol.eu:poacc:bis:invoice_response:3</cbc:ProfileID>"
        f"<cac:DocumentResponse><cac:Response><cbc:ResponseCode>{escape(code)}</cbc:ResponseCode>"
        f"<cac:Status><cbc:StatusReason>{escape(description)}</cbc:StatusReason></cac:Status></cac:Response>"
        f"<cac:DocumentReference><cbc:ID>{escape(str(order.get('OrderNumber', '')))}</cbc:ID>"
        "<cbc:DocumentTypeCode>380</cbc:DocumentTypeCode></cac:DocumentReference></cac:DocumentResponse>"
        "</ApplicationResponse>"
    ).encode()


def _posted_json(order: Mapping[str, Any]) -> bytes:
    # What the integration could have posted (docs/reference/billit-api.md#creating-orders): Billit stores the request
    # JSON as an attachment.
    customer = order.get("Customer") or {}
    body = {
        "OrderType": order.get("OrderType"),
        "OrderDirection": order.get("OrderDirection"),
        "OrderNumber": order.get("OrderNumber"),
        "OrderDate": order.get("OrderDate"),
        "ExpiryDate": order.get("ExpiryDate"),
        "Customer": {k: customer.get(k) for k in ("Name", "VATNumber", "PartyType", "Email")},
        "OrderLines": [
            {k: line.get(k) for k in ("Quantity", "UnitPriceExcl", "Description", "VATPercentage")}
            for line in order.get("OrderLines", [])
        ],
    }
    return render_json(body)


def stub_content(record: StoredFile, order: Mapping[str, Any] | None, description: str = "") -> bytes:
    """Deterministic content for a seeded file id, derived from its order and role."""
    order = order or {}
    name = record.file_name.lower()
    if record.role == "imr":
        return _imr(order, description)
    if record.role == "ubl" or name.endswith(".xml"):
        return _ubl(order, envelope=order.get("ExternalProvider") == "Peppol" and record.role != "ubl")
    if name.endswith(".json"):
        return _posted_json(order)
    number = str(order.get("OrderNumber", record.file_name))
    counter = (order.get("CounterParty") or {}).get("DisplayName", "")
    total = order.get("TotalIncl")
    date_text = format_datetime(order["OrderDate"])[:10] if isinstance(order.get("OrderDate"), datetime) else ""
    return stub_pdf(
        f"{order.get('OrderType', 'Document')} {number}",
        [str(counter), f"Date: {date_text}", f"Total: {total} {order.get('Currency', 'EUR')}"],
    )


def message_description(order: dict[str, Any] | None, file_id: str) -> str:
    """The Description of the order's message with this FileID (the IMR text), else ""."""
    for message in (order or {}).get("Messages", []):
        if message.get("FileID") == file_id:
            return str(message.get("Description", ""))
    return ""


def seeded_file_record(order: dict[str, Any], file_id: str) -> StoredFile:
    """The file record of a file id that a seeded or added order mentions (content made on first download)."""
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
