"""The companies an API key reaches, typed: what `GET /v1/account/accountInformation` lists of each.

One key (or OAuth token) belongs to a user, who sees every company they may act for, an accountant's clients
included; each listed company says whether its API access is on (`APIAllowed`, docs/reference/billit-api.md#companies).
`BillitClient.account_information` returns the body as parsed; `reachable_companies` reads the companies from it,
`company_problem` says why the credentials cannot act for a company, and `with_company_reason` puts that reason
on Billit's empty 401 for the company's requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from connectors.billit.client import BillitClient, logger
from connectors.billit.errors import (
    BillitAuthError,
    BillitError,
    BillitForbiddenIdError,
    BillitProtocolError,
    BillitValidationError,
)
from connectors.billit.odata import ODataQuery
from connectors.billit.settings import ENV_PREFIX, BillitSettings, NoCompanyError

API_OFF_REASON = "API access is off for this company (APIAllowed false in accountInformation)"
NOT_REACHED_REASON = "the API key does not reach this company (`billit-etl companies` lists those it does)"
PARTY_ID_TO_LIST = (
    "Billit wants a PartyID even to list the companies (accountInformation answered 400 without one): "
    f"set {ENV_PREFIX}PARTY_ID to any one of them with API access on"
)


class CompanyUnavailable(BillitError):
    """accountInformation says the credentials cannot act for the company: it is not among theirs, or its API
    access is off."""


class CompanyRefused(CompanyUnavailable):
    """accountInformation, which Billit answers here only for a PartyID, refused the one it was asked for."""

    def __init__(self, party_id: int | None, status: int) -> None:
        super().__init__(
            f"accountInformation wants a PartyID, and refused {party_id} ({ENV_PREFIX}PARTY_ID, HTTP {status}): "
            "the key does not reach that company or its API access is off; set another one"
        )
        self.party_id, self.status = party_id, status


@dataclass(frozen=True)
class BillitCompany:
    """One company the credentials reach: its `PartyID`, name, VAT number and whether the API may act for it; or
    (`reached` false) one a run names that they do not reach."""

    party_id: int
    name: str
    vat_number: str | None
    api_allowed: bool
    reached: bool = True
    #: APIAllowed false, yet Billit answered a request for the company: the flag gates nothing (`answering`).
    answers_anyway: bool = False
    #: APIAllowed false, and that request failed otherwise than refused (a 5xx, a timeout): whether Billit serves
    #: it is unknown.
    unanswered: str | None = None

    @property
    def unavailable(self) -> str | None:
        """Why the credentials cannot act for this company, or None when they can."""
        if not self.reached:
            return NOT_REACHED_REASON
        if self.api_allowed or self.answers_anyway:
            return None
        return (
            f"{API_OFF_REASON}; asking it for one order failed ({self.unanswered})"
            if self.unanswered
            else API_OFF_REASON
        )

    def as_row(self) -> dict[str, Any]:
        """The company as accountInformation spells it (what the warehouse's `companies` dimension records)."""
        return {
            "PartyID": self.party_id,
            "Name": self.name,
            "VATNumber": self.vat_number,
            "APIAllowed": self.api_allowed,
        }


class CompanyList(list[BillitCompany]):
    """Companies accountInformation listed. `asked_for`: the PartyID it had to be asked with (it answered 400
    without one); whether such a list holds every company the key reaches, or that company's alone, is not
    documented, so a company missing from it is not taken as one the key does not reach (`company_problem`): its
    own requests tell (an outside simulator listed only the company asked for)."""

    asked_for: int | None = None

    def like(self, companies: Sequence[BillitCompany]) -> CompanyList:
        """`companies` as a list of the same listing."""
        listing = CompanyList(companies)
        listing.asked_for = self.asked_for
        return listing


def may_be_partial(companies: Sequence[BillitCompany]) -> bool:
    """Whether a list of companies may leave out some the key reaches (`CompanyList.asked_for`)."""
    return isinstance(companies, CompanyList) and companies.asked_for is not None


def reachable_companies(account_information: Any) -> list[BillitCompany]:
    """The companies of an accountInformation body, in PartyID order.

    The body is the account with its `Companies` list, as documented, or (the envelope's member is not written
    down anywhere, docs/reference/billit-api.md#companies) the list itself. A company without `APIAllowed` counts as
    allowed (the field is in Billit's example, not promised); one without a name shows its `CommercialName`, else
    its `TabNameAlias`. A body with no such list, or a company without an integer `PartyID`, is a
    BillitProtocolError: the companies a run acts for cannot be guessed.
    """
    companies = account_information
    if isinstance(account_information, Mapping):
        companies = account_information.get("Companies")
    if not isinstance(companies, list):
        raise BillitProtocolError("GET /v1/account/accountInformation: no Companies list in the answer")
    reachable = []
    for company in companies:
        party_id = company.get("PartyID") if isinstance(company, Mapping) else None
        if not isinstance(party_id, int) or isinstance(party_id, bool) or party_id <= 0:
            raise BillitProtocolError("GET /v1/account/accountInformation: a company without an integer PartyID")
        name = company.get("Name") or company.get("CommercialName") or company.get("TabNameAlias") or ""
        vat_number = company.get("VATNumber")
        reachable.append(
            BillitCompany(
                party_id=party_id,
                name=str(name),
                vat_number=str(vat_number) if vat_number else None,
                api_allowed=company.get("APIAllowed") is not False,
            )
        )
    return sorted(reachable, key=lambda company: company.party_id)


def company_problem(reachable: Sequence[BillitCompany], party_id: int) -> str | None:
    """Why credentials that reach `reachable` cannot act for company `party_id`, or None when they can (or when a
    list that may be partial leaves it out: `CompanyList`)."""
    company = next((company for company in reachable if company.party_id == party_id), None)
    if company is None and may_be_partial(reachable):
        return None
    if company is None:
        reached = ", ".join(str(company.party_id) for company in reachable) or "none"
        return (
            f"the API key does not reach Billit company {party_id} (it reaches {reached}; "
            "`billit-etl companies` lists them)"
        )
    if company.unavailable:
        return f"Billit company {party_id} ({company.name}): {company.unavailable}"
    return None


_WARNED_PARTIAL: set[int | None] = set()


async def companies_reached(settings: BillitSettings) -> list[BillitCompany]:
    """The companies accountInformation lists for these credentials (`_companies_reached`). Billit refusing the
    question asked with a ContextPartyID may be refusing that company, not the key: asked again without it, a
    company the key does not reach, or whose API access is off, is a CompanyUnavailable naming the setting."""
    try:
        return await _companies_reached(settings)
    except BillitAuthError as refused:
        if settings.context_party_id is None or isinstance(refused, BillitForbiddenIdError):
            raise
        try:
            reachable = await _companies_reached(settings.model_copy(update={"context_party_id": None}))
        except BillitError:
            raise refused from None
        if (reason := company_problem(reachable, settings.context_party_id)) is None:
            raise
        raise CompanyUnavailable(
            f"{reason}; it is {ENV_PREFIX}CONTEXT_PARTY_ID, your own company as an accountant: fix or unset it"
        ) from None


async def _companies_reached(settings: BillitSettings) -> list[BillitCompany]:
    """The companies accountInformation lists for these credentials.

    Asked without the PartyID first: asked for a company the credentials may not use (API access off, not theirs),
    Billit may refuse the question itself. Whether it answers without one a user who sees several companies is not
    documented (docs/reference/billit-api.md#companies): a 400 there (Billit's answer to any other call without
    the PartyID it needs) asks again with the configured one, and with none configured is a NoCompanyError. Billit
    refusing that one (401, 403) is a CompanyUnavailable: it took the key (a 400, not a 401, our guess too) but not
    the company, so the key is not to blame.
    """
    try:
        return await _listed(settings.model_copy(update={"party_id": None}))
    except BillitValidationError:
        if settings.party_id is None:
            raise NoCompanyError(PARTY_ID_TO_LIST) from None
    try:
        listed = CompanyList(await _listed(settings))
        listed.asked_for = settings.party_id
    except BillitAuthError as exc:
        raise CompanyRefused(settings.party_id, exc.status) from None
    if settings.party_id not in _WARNED_PARTIAL:  # once a process: the flows list the companies more than once
        _WARNED_PARTIAL.add(settings.party_id)
        logger.warning(
            "accountInformation answers only for a PartyID here: asked for company %s (%sPARTY_ID), it listed %d "
            "compan%s; whether that is every company the key reaches is not documented "
            "(docs/reference/billit-api.md#companies): name any other with --companies ID,ID",
            settings.party_id,
            ENV_PREFIX,
            len(listed),
            "y" if len(listed) == 1 else "ies",
        )
    return listed


async def _listed(settings: BillitSettings) -> list[BillitCompany]:
    async with BillitClient(settings) as billit:
        return reachable_companies(await billit.account_information())


async def answering(
    settings: BillitSettings, reachable: list[BillitCompany], among: Collection[int] | None = None
) -> list[BillitCompany]:
    """`reachable`, each company whose APIAllowed is false (of those `among`, when given: the ones a run would act
    for; asking the others costs a request for nothing) asked for one order: Billit documents the flag only by
    its example, and what it gates is our inference (docs/reference/billit-api.md#companies). One answered is
    acted for as any other (`answers_anyway`), so a flag that gates nothing loses no company; one refused (the
    sandbox's empty 401, or a 403), or not answered, stays off, and no run blames the key for it. Asked briefly
    (one retry, a short timeout): the answer decides only whether to try the company at all."""
    asking = settings.model_copy(update={"max_retries": 1, "timeout_s": min(settings.timeout_s, 10.0)})

    async def asked(company: BillitCompany) -> BillitCompany:
        try:
            async with BillitClient(asking.model_copy(update={"party_id": company.party_id})) as billit:
                await billit.list_page(ODataQuery(top=1))
        except BillitAuthError:  # refused: off, as the flag says
            return company
        except BillitError as exc:  # found from the re-check: a 500 here read as "API access is off", and no more
            return replace(company, unanswered=str(exc)[:200])
        return replace(company, answers_anyway=True)

    to_ask = [c for c in reachable if not c.api_allowed and (among is None or c.party_id in among)]
    asked_ones = {company.party_id: company for company in await asyncio.gather(*map(asked, to_ask))}
    answered = [asked_ones.get(company.party_id, company) for company in reachable]
    return reachable.like(answered) if isinstance(reachable, CompanyList) else answered


async def with_company_reason(exc: BaseException, settings: BillitSettings) -> BaseException:
    """Billit's empty 401 (or 403) for the company's requests blames the key; when accountInformation says why the
    company is refused (API access off, not reached by the key), the same error with that reason as its hint.
    Otherwise `exc` itself."""
    if not isinstance(exc, BillitAuthError) or isinstance(exc, BillitForbiddenIdError) or exc.status not in (401, 403):
        return exc
    if settings.party_id is None:
        return exc
    # Asked once and briefly: a run waits for the answer before it is recorded as failed.
    asking = settings.model_copy(update={"max_retries": 0, "timeout_s": min(settings.timeout_s, 10.0)})
    try:
        reason = company_problem(await companies_reached(asking), settings.party_id)
    except CompanyRefused as refused:  # asked for this company, which need not be the setting's (--companies)
        reason = (
            f"the API key does not reach Billit company {refused.party_id}, or its API access is off "
            f"(accountInformation refused it too, HTTP {refused.status})"
        )
    except CompanyUnavailable as unavailable:  # Billit would not even list the companies for it
        reason = str(unavailable)
    except Exception:  # noqa: BLE001 - refused credentials, no answer: Billit's 401 is all there is to say
        return exc
    if reason is None:
        return exc
    return BillitAuthError(method=exc.method, url=exc.url, status=exc.status, details=exc.details, hint=reason)
