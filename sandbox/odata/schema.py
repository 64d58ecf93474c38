"""What may be filtered and ordered on: the EDM types of the order properties, and the error a bad query
gets (docs/reference/billit-api.md#filters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

Order = dict[str, Any]
Predicate = Callable[[Order], bool]
Getter = Callable[[Order], Any]

BRUSSELS = ZoneInfo("Europe/Brussels")

# The 28 properties Billit accepts in $filter since 2026-03-17 (docs/reference/billit-api.md#filters), with their EDM
# types.
FILTERABLE: dict[str, str] = {
    "OrderID": "Edm.Int32",
    "CounterParty/PartyID": "Edm.Int32",
    "CompanyID": "Edm.Int32",
    "OrderDirection": "Edm.String",
    "OrderType": "Edm.String",
    "OrderDate": "Edm.DateTime",
    "OrderNumber": "Edm.String",
    "ExpiryDate": "Edm.DateTime",
    "ExportedToConnector": "Edm.Boolean",
    "AccountantVerificationNeeded": "Edm.Boolean",
    "TotalExcl": "Edm.Decimal",
    "TotalVAT": "Edm.Decimal",
    "TotalIncl": "Edm.Decimal",
    "FXRateToForeign": "Edm.Decimal",
    "Paid": "Edm.Boolean",
    "OrderStatus": "Edm.String",
    "ExternalProviderID": "Edm.String",
    "Currency": "Edm.String",
    "PaymentReference": "Edm.String",
    "LastModified": "Edm.DateTime",
    "Created": "Edm.DateTime",
    "ApprovalStatus": "Edm.String",
    "PaidDate": "Edm.DateTime",
    "PaymentMethod": "Edm.String",
    "Reference": "Edm.String",
    "RemindersSent": "Edm.Int32",
    "ExternalProvider": "Edm.String",
    "IsSent": "Edm.Boolean",
}
SAFE_TYPE = "Domain.Order.OrderPartyPerformanceSafeColumns"

# Properties of the full Order type (docs/reference/billit-api.md#order-fields) usable in $orderby. Complex members map
# to their own properties; collections cannot be ordered on.
PARTY_PROPERTIES = frozenset(
    [
        "PartyID", "Nr", "Name", "CommercialName", "DisplayName", "Street", "StreetNumber", "Box", "Zipcode", "City",
        "CountryCode", "IBAN", "BIC", "Mobile", "Phone", "Fax", "Email", "Website", "Contact", "ContactFirstName",
        "ContactLastName", "VATNumber", "PeppolIdentifier", "RPR", "LastModified", "Created", "PartyType",
        "VATLiable", "VATDeductable", "AccountantCode", "GLAccountCode", "Language", "VentilationCode",
        "ExternalProviderID", "ExternalProviderTC", "DefaultPaymentMethodTC", "DomiciliationMandateID",
        "DomiciliationMandateSigningDate", "DefaultPaid", "DefaultTransportTypeTC",
        "FinancialReductionPercentageDefault", "FinancialReductionDaysDefault", "DefaultExpiryOffset",
        "GLDefaultExpiryOffset", "Role", "InternalInfo", "DefaultReductionPercentage", "BookCategoryTC",
        "SmallEnterprise", "AutoSendInvoiceReminders", "DefaultCurrencyTC", "Regime", "SubRegime", "IsHighRisk",
        "SendUBL", "SendPDF", "CostCategoryCode", "AccountingCostTypeName",
    ]
)  # fmt: skip
COMPLEX_PROPERTIES: dict[str, frozenset[str]] = {
    "CounterParty": PARTY_PROPERTIES,
    "Customer": PARTY_PROPERTIES,
    "Supplier": PARTY_PROPERTIES,
    "OrderPDF": frozenset({"FileID", "FileName"}),
    "CurrentDocumentDeliveryDetails": frozenset(
        {
            "DocumentRefusedDate",
            "DocumentDeliveryDate",
            "DocumentDeliveryInfo",
            "DocumentRefusedReasonTC",
            "DocumentRefusedInfo",
            "IsDocumentDelivered",
            "DocumentDeliveryStatus",
        }
    ),
    "Signature": frozenset(),
}
COLLECTION_PROPERTIES = frozenset(
    [
        "Attachments", "OrderLines", "BookingEntries", "VatGroups", "Tags", "ExternalProviderReferences",
        "PaymentLinks", "Messages", "AdditionalDocumentReference", "ContractDocumentReference", "CategoryFieldItems",
        "CustomFields", "OCRMetaPages",
    ]
)  # fmt: skip
SCALAR_PROPERTIES = frozenset(
    [
        "OrderID", "CompanyID", "OrderNumber", "CustomerID", "SupplierID", "CounterPartyID", "OrderDate",
        "ExpiryDate", "OrderType", "OrderSubType", "OrderDirection", "LastModified", "Created", "Journal",
        "OrderTitle", "PaymentDiscountPercentage", "PaymentReductionDays", "PaymentDiscountAmount",
        "PaymentDiscountDate", "VentilationCode", "TotalExcl", "TotalVAT", "TotalIncl", "Reference", "DepartmentID",
        "PaymentReference", "AboutInvoiceNumber", "OCRRawText", "Paid", "PaidDate", "ExternalProviderID",
        "ExternalProvider", "ProjectID", "ProjectName", "Comments", "Currency", "VatDeduction",
        "MixedUseProfessionalPercentage", "InternalInfo", "IsSent", "Invoiced", "PeriodFrom", "PeriodTill",
        "CostCategoryCode", "AccountCode", "AccountingCostTypeTC", "LastReminder", "RemindersSent", "ToPay",
        "OrderStatus", "ApprovalStatus", "Overdue", "DaysOverdue", "FXRateToForeign", "PaymentMethod", "DeliveryDate",
        "ExportedToConnector", "TemplateID", "MessageTemplateID", "AnalyticCostBearer", "AnalyticCostCenter",
        "AccountantVerificationNeeded", "PaymentTerms", "TaxPointDate", "IBAN", "BIC", "TaxReportingStatusTC",
    ]
)  # fmt: skip


class ODataError(ValueError):
    """A query option Billit would reject with 400; ``str(err)`` is the Description, ``code`` the error Code."""

    def __init__(self, message: str, code: str = "GenericError") -> None:
        super().__init__(message)
        self.code = code


def refused(message: str) -> ODataError:
    return ODataError(message, "InvalidFilter")
