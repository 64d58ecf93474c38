"""Billit API connector: settings, client, OData queries, paging and errors. Knows nothing of Prefect."""

from connectors.billit import _httpx_without_cli  # noqa: F401  (first: before anything imports httpx)
from connectors.billit.client import PATCHABLE_PROPERTIES, BillitClient, BillitFile
from connectors.billit.errors import (
    BillitAuthError,
    BillitConflictError,
    BillitError,
    BillitErrorDetail,
    BillitForbiddenIdError,
    BillitHTTPError,
    BillitNotFoundError,
    BillitPaginationError,
    BillitProtocolError,
    BillitRateLimitedError,
    BillitServerError,
    BillitTransportError,
    BillitUnknownHostError,
    BillitUnreachableError,
    BillitValidationError,
)
from connectors.billit.odata import FILTERABLE_PROPERTIES, PAGE_SIZE, ODataPropertyError, ODataQuery, all_of, prop
from connectors.billit.pagination import PagingStats
from connectors.billit.settings import BillitSettings, NoCompanyError, SettingsError, load_settings

__all__ = [
    "FILTERABLE_PROPERTIES",
    "PAGE_SIZE",
    "PATCHABLE_PROPERTIES",
    "BillitAuthError",
    "BillitClient",
    "BillitConflictError",
    "BillitError",
    "BillitErrorDetail",
    "BillitFile",
    "BillitForbiddenIdError",
    "BillitHTTPError",
    "BillitNotFoundError",
    "BillitPaginationError",
    "BillitProtocolError",
    "BillitRateLimitedError",
    "BillitServerError",
    "BillitSettings",
    "BillitTransportError",
    "BillitUnknownHostError",
    "BillitUnreachableError",
    "BillitValidationError",
    "NoCompanyError",
    "ODataPropertyError",
    "ODataQuery",
    "PagingStats",
    "SettingsError",
    "all_of",
    "load_settings",
    "prop",
]
