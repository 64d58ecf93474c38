"""Server-side OData v3 subset of the sandbox: ``$filter`` parser/compiler, ``$orderby`` and ``NextPageLink``.

Billit runs ASP.NET Web API 2 with OData v3 query options (docs/reference/billit-api.md#framework, #filters). The
sandbox reproduces:

* ``$filter`` with ``eq ne gt ge lt le and or not``, parentheses, ``'string'``/``"string"`` literals with
  doubled-quote escaping, ``true``/``false``, ``null``, integers/decimals (optional ``L M D F`` suffixes),
  ``DateTime'...'``/``datetime'...'`` (date, or datetime with up to 7 fraction digits) and
  ``datetimeoffset'...'``; property paths such as ``CounterParty/PartyID``. Only the 28 "performance safe"
  properties of docs/reference/billit-api.md#filters may be filtered on, anything else fails like Billit does. Operand
  types are checked like ODataLib does (``LastModified ge '2024-01-01'`` is an error, not an empty result).
* ``$orderby`` on any order property (sub-properties ``a/b`` included), multi-key, ``asc``/``desc``, with
  Web API's ``EnsureStableOrdering``: ``OrderID asc`` is appended unless the key is already ordered on.
* ``GetNextPageLink``: the absolute next-page URL built exactly like System.Web.Http.OData does.

Two quirks (``quirks.py``) narrow the grammar to what Billit documents: ``refuse_or`` answers ``or`` and
parentheses, ``refuse_gt`` answers ``gt`` and ``lt``, with 400 ``InvalidFilter``
(``docs/reference/billit-api.md#filters``).

DateTime values compare at .NET tick precision (100 ns): a literal with 7 fraction digits becomes a
:class:`~sandbox.clock.TickDateTime`, and so are stored timestamps when the sandbox writes 7
digits, so a cursor built from Billit's text matches the stored value exactly.

A filter is compiled once into nested closures; evaluating it is a plain Python call per order.
Null semantics follow C# (LINQ to Entities with C# null semantics): ``null eq null`` is true, ``x ne 'a'`` is
true when ``x`` is absent, and ordering comparisons against null are false.
"""

from sandbox.odata.filter import compile_filter
from sandbox.odata.orderby import (
    OrderKey,
    compile_orderby,
    escape_data_string,
    next_page_link,
    sort_orders,
)
from sandbox.odata.schema import FILTERABLE, Getter, ODataError, Order, Predicate

__all__ = [
    "FILTERABLE",
    "Getter",
    "ODataError",
    "Order",
    "OrderKey",
    "Predicate",
    "compile_filter",
    "compile_orderby",
    "escape_data_string",
    "next_page_link",
    "sort_orders",
]
