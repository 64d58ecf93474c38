"""`billit-etl doctor`: ask the live Billit API, read-only, the questions its docs leave open.

Each check sends one or two GET requests and reports what Billit answered, beside what the sync does about it
(docs/reference/billit-api.md#to-confirm). Nothing is written, in Billit or in the warehouse: the first run
against a real account tells the team which guesses held.

The first refusal (401/403) is explained by accountInformation: credentials Billit refuses, or a company they do
not reach or whose API access is off, stop the doctor with that cause (`RefusedCredentials`), since no check can
be made; a refusal before any check was answered stops it too, as it came, and so does a base URL where nothing
answers (`BillitUnreachableError`): every check would wait for it in turn. Any other failed request is its check's
row: "could not tell" when a rerun may get an answer (429, 5xx, the network), "failed" otherwise; either way the
check was not made (`Finding.made`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from urllib.parse import urlsplit

import sqlalchemy as sa

from connectors.billit import (
    BillitAuthError,
    BillitClient,
    BillitError,
    BillitSettings,
    BillitUnreachableError,
    BillitValidationError,
    ODataQuery,
    prop,
)
from connectors.billit.account import CompanyUnavailable, companies_reached, company_problem
from connectors.billit.client import DELETED_ORDERS_PATH
from connectors.billit.odata import PAGE_SIZE
from connectors.billit.settings import ENV_PREFIX
from connectors.warehouse import reflect_tables
from tasks.inbound.warehouse import stored_versions

FAR_FUTURE = datetime(2999, 1, 1)  # noqa: DTZ001 - Billit's timestamps are naive
LONG_AGO = datetime(2000, 1, 1)  # noqa: DTZ001


class RefusedCredentials(BillitError):
    """Billit refuses the credentials, or the company they act for: no check can be made."""


@dataclass(frozen=True)
class Finding:
    check: str
    answer: str
    consequence: str
    made: bool = True  # False: the check's request failed, so Billit's answer is still unknown


def run_doctor(settings: BillitSettings, engine: sa.Engine | None = None) -> list[Finding]:
    """`examine` with a client of its own (the CLI's entry point)."""

    async def ask() -> list[Finding]:
        async with BillitClient(settings) as billit:
            return await examine(billit, engine)

    return asyncio.run(ask())


def has_orders(engine: sa.Engine) -> bool:
    """The warehouse holds the pipeline's tables (a warehouse never synced has nothing to compare with)."""
    return "invoices" in reflect_tables(engine)


async def examine(billit: BillitClient, engine: sa.Engine | None = None) -> list[Finding]:
    """Every check, in order; a check whose request fails reports the error instead of stopping the others, unless
    Billit refuses the credentials or their company (RefusedCredentials), or nothing answers at the base URL (see
    the module docstring).

    With the warehouse's `engine`, the deleted orders it holds tell what `/v1/orders/deleted`'s LastModified is.
    """
    checks: list[tuple[str, Callable[[BillitClient], Awaitable[tuple[str, str]]]]] = [
        ("filter with `or` and parentheses", _accepts_or),
        ("filter with `gt` / `lt`", _accepts_gt),
        ("$inlinecount=allpages (Count)", _returns_count),
        ("timestamp precision", _fraction_digits),
        ("NextPageLink host", _next_link_host),
        ("/v1/orders/deleted honours $filter", _deleted_honours_filter),
        ("/v1/orders/deleted LastModified", partial(_deleted_last_modified, engine=engine)),
    ]
    findings: list[Finding] = []
    refusal_asked = False
    for name, check in checks:
        try:
            findings.append(Finding(name, *await check(billit)))
        except BillitAuthError as exc:
            if not refusal_asked:
                refusal_asked = True
                if cause := await _refusal_cause(billit.settings):
                    raise cause from None
            if not any(finding.made for finding in findings):
                raise  # refused before any answer: every check would be, for a cause accountInformation hides
            findings.append(_not_made(name, exc))
        except BillitUnreachableError:
            raise
        except BillitError as exc:
            findings.append(_not_made(name, exc))
    return findings


def _not_made(check: str, error: BillitError) -> Finding:
    if error.retryable:
        return Finding(check, f"could not tell: {error}", "rerun when Billit answers", made=False)
    return Finding(check, f"failed: {error}", "a rerun will not change it: see the error", made=False)


async def _refusal_cause(settings: BillitSettings) -> RefusedCredentials | None:
    """Why Billit refused a request, as accountInformation tells: the credentials, or the company (not reached, or
    API access off); None when they reach the company with API access on, or when accountInformation fails too.

    Asked without the PartyID (`companies_reached`): Billit may refuse accountInformation itself for a company the
    key may not use.
    """
    party_id = settings.require_party_id()
    credential, variable = (
        ("the API key", f"{ENV_PREFIX}API_KEY")
        if settings.api_key is not None
        else ("the bearer token", f"{ENV_PREFIX}BEARER_TOKEN")
    )
    if settings.context_party_id is not None:
        variable += f" and {ENV_PREFIX}CONTEXT_PARTY_ID"
    try:
        reachable = await companies_reached(settings)
    except CompanyUnavailable as exc:
        return RefusedCredentials(str(exc))
    except BillitAuthError as exc:
        return RefusedCredentials(
            f"{credential} was refused: check {variable} ({exc.method} {exc.url} -> HTTP {exc.status})"
        )
    except BillitError:
        return None
    problem = company_problem(reachable, party_id)
    return RefusedCredentials(f"{problem} ({ENV_PREFIX}PARTY_ID)") if problem else None


async def _refused(billit: BillitClient, query: ODataQuery, path: str = "/v1/orders") -> bool:
    try:
        await billit.list_page(query, path=path)
    except BillitValidationError:
        return True
    return False


async def _accepts_or(billit: BillitClient) -> tuple[str, str]:
    either = prop("OrderDirection").eq("Income") | prop("OrderDirection").eq("Cost")
    refused = await _refused(billit, ODataQuery(filter=either & prop("LastModified").ge(LONG_AGO), top=1))
    return ("refused (400)" if refused else "accepted", "not used: keyset paging needs only eq, ge and `and`")


async def _accepts_gt(billit: BillitClient) -> tuple[str, str]:
    refused = [
        await _refused(billit, ODataQuery(filter=condition, top=1))
        for condition in (prop("LastModified").gt(LONG_AGO), prop("LastModified").lt(FAR_FUTURE))
    ]
    answer = "refused (400)" if all(refused) else "accepted" if not any(refused) else "gt or lt refused"
    return answer, "not used: windows are closed with ge / le and the next tick"


async def _returns_count(billit: BillitClient) -> tuple[str, str]:
    page = await billit.list_page(ODataQuery(top=1, inline_count=True))
    return (
        f"Count = {page.count}" if page.count is not None else "ignored (no Count)",
        "not used: a quiet run compares the probe page's versions",
    )


async def _fraction_digits(billit: BillitClient) -> tuple[str, str]:
    page = await billit.list_page(ODataQuery(orderby=(("LastModified", "desc"),), top=PAGE_SIZE))
    digits = [len(str(item.get("LastModified", "")).partition(".")[2]) for item in page.items]
    if not digits:
        return "nothing to go by: no orders", "cursors use Billit's own text, any precision"
    return (
        f"up to {max(digits)} fraction digits (newest {page.items[0].get('LastModified')})",
        "cursors use Billit's own text, so `eq` matches to the tick",
    )


async def _next_link_host(billit: BillitClient) -> tuple[str, str]:
    page = await billit.list_page(ODataQuery(orderby=(("OrderID", "asc"),)))
    if not page.next_link:
        return "nothing to go by: no NextPageLink (fewer than a page of orders?)", "keyset paging never follows it"
    host, ours = urlsplit(page.next_link).netloc, urlsplit(billit.settings.base_url).netloc
    return (
        f"{host}" + ("" if host == ours else f" (not {ours})"),
        "only its /v1 path and query are followed (the deletions list)",
    )


async def _deleted_honours_filter(billit: BillitClient) -> tuple[str, str]:
    nothing = ODataQuery(filter=prop("LastModified").ge(FAR_FUTURE), top=1)
    try:
        page = await billit.list_page(nothing, path=DELETED_ORDERS_PATH)
    except BillitValidationError:
        return "refused the filter (400)", "not used: deletions are read whole, every run"
    if page.items:
        return "ignored (a filter matching nothing returned orders)", "not used: deletions are read whole"
    everything = await billit.list_page(ODataQuery(top=1), path=DELETED_ORDERS_PATH)
    if not everything.items:
        return "nothing to go by: no deleted orders", "not used: deletions are read whole, every run"
    return "honoured", "not used: deletions are read whole (its LastModified may not be the deletion time)"


async def _deleted_last_modified(billit: BillitClient, *, engine: sa.Engine | None) -> tuple[str, str]:
    consequence = "not used: deletions are read whole; deleted_at holds it as Billit gives it"
    if engine is None:
        return "not checked: needs the warehouse (--warehouse-url)", consequence
    same = later = 0
    async for page in billit.iter_order_pages(ODataQuery(orderby=(("OrderID", "asc"),)), path=DELETED_ORDERS_PATH):
        listed = {
            item["OrderID"]: str(item.get("LastModified")) for item in page if isinstance(item.get("OrderID"), int)
        }
        stored = stored_versions(
            engine, list(listed), company_id=billit.settings.require_party_id(), include_deleted=True
        )
        same += sum(1 for order_id, version in stored.items() if listed[order_id] == version)
        later += sum(1 for order_id, version in stored.items() if listed[order_id] != version)
    if not same + later:
        return "nothing to go by: the warehouse holds none of the deleted orders", consequence
    if same:  # a deletion time can never equal the version we loaded before it
        return (
            f"the order's last change ({same} of {same + later} deleted orders we hold carry the version we loaded)",
            consequence,
        )
    return (
        f"later than the version we loaded for all {later} deleted orders we hold: probably the deletion time "
        "(or each was changed again before its deletion)",
        consequence,
    )
