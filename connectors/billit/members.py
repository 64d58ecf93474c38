"""Billit's member names as this project reads them, whatever their case in an answer.

Billit documents PascalCase member names, but not their exact spelling: its docs write `VatNumber` where Swagger
writes `VATNumber`, and the framework behind it reads names in any case (docs/reference/billit-api.md#serialization).
An answer that spelt a member another way would have been read as without it: an order's lines without their VAT
rate are quarantined, a party without its VAT number is loaded without it. So every answer is read with its member
names in the case written here (`canonical_members`, called by `wire.parse_json` on every answer and landed
order); tests/connectors/billit/test_members.py checks that every name the code reads is listed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MEMBER_NAMES", "canonical_members"]

MEMBER_NAMES = frozenset(
    [
        "APIAllowed",
        "AboutInvoiceNumber",
        "AccountCode",
        "AccountingCostTypeTC",
        "Addresses",
        "ApprovalStatus",
        "Box",
        "City",
        "Comments",
        "CommercialName",
        "Companies",
        "CompanyID",
        "ContextPartyID",
        "Count",
        "CounterParty",
        "CountryCode",
        "Created",
        "CreationDate",
        "Currency",
        "CurrentDocumentDeliveryDetails",
        "CustomFields",
        "Customer",
        "DeliveryDate",
        "Description",
        "DescriptionExtended",
        "Destination",
        "DisplayName",
        "DocumentDeliveryDate",
        "DocumentDeliveryInfo",
        "DocumentDeliveryStatus",
        "DocumentRefusedDate",
        "DocumentRefusedInfo",
        "DocumentRefusedReasonTC",
        "DocumentTypes",
        "Email",
        "ExpiryDate",
        "ExternalProvider",
        "ExternalProviderID",
        "FXRateToForeign",
        "FileContent",
        "FileID",
        "FileName",
        "FinancialReductionAmount",
        "Identifier",
        "IdentifierType",
        "Identifiers",
        "IsDocumentDelivered",
        "IsSent",
        "Items",
        "Key",
        "Language",
        "LastModified",
        "MessageDirection",
        "Messages",
        "MimeType",
        "Mtvh",
        "Name",
        "NextPageLink",
        "Order",
        "OrderDate",
        "OrderDirection",
        "OrderID",
        "OrderLineID",
        "OrderLines",
        "OrderNumber",
        "OrderStatus",
        "OrderTitle",
        "OrderType",
        "Paid",
        "PaidDate",
        "PartyID",
        "PartyType",
        "PaymentMethod",
        "PaymentReference",
        "PeppolIdentifier",
        "PeriodFrom",
        "PeriodTill",
        "Quantity",
        "ReductionPercentage",
        "Reference",
        "Registered",
        "RemindersSent",
        "SchemeID",
        "Street",
        "StreetNumber",
        "Success",
        "Supplier",
        "TabNameAlias",
        "ToPay",
        "TotalExcl",
        "TotalIncl",
        "TotalVAT",
        "TransportType",
        "Trials",
        "Unit",
        "UnitPriceExcl",
        "VATLiable",
        "VATNumber",
        "VATPercentage",
        "Value",
        "VatGroups",
        "VentilationCode",
        "Zipcode",
    ]
)
_BY_FOLDED = {name.casefold(): name for name in MEMBER_NAMES}


def canonical_members(value: Any) -> Any:
    """`value` (parsed JSON) with every member name that differs from one of MEMBER_NAMES only in case renamed to
    it, in place; a member already spelt as listed is kept over another spelling of it. Returns `value`."""
    if type(value) is dict:
        for name in value.keys() - MEMBER_NAMES:  # as documented, nothing: one set difference in C
            listed = _BY_FOLDED.get(name.casefold()) if isinstance(name, str) else None
            if listed is not None and listed not in value:
                value[listed] = value.pop(name)
        items: Any = value.values()
    elif type(value) is list:
        items = value
    else:
        return value
    for item in items:
        if type(item) is dict or type(item) is list:
            canonical_members(item)
    return value
