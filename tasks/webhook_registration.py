"""Registering the receiver's webhooks with Billit, listing, deleting and rotating them: the work of
`billit-etl webhooks register|list|delete|rotate`, as plain functions.

A webhook belongs to one company (the `PartyID` of the calls, docs/reference/billit-api.md#webhooks) and is one
(entity, update type, URL). Registration is idempotent: a webhook already there for the same event and URL is kept,
and only when we do not hold its secret is the secret refreshed; a new one is created otherwise. Every secret
Billit hands out is written to the store (`tasks.webhook_secrets`) before an error that followed is raised, so a
registration that stopped half-way leaves no webhook whose secret we lost. The store is read and written outside
the event loop (a Prefect block's sync calls must not run inside one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.billit import (
    BillitClient,
    BillitError,
    BillitNotFoundError,
    BillitTransportError,
    BillitValidationError,
    NoCompanyError,
)
from connectors.billit.account import company_problem
from connectors.billit.errors import BillitServerError
from connectors.billit.settings import ENV_PREFIX, BillitSettings
from connectors.billit.webhooks import (
    ENTITY_TYPES,
    UPDATE_TYPES,
    Webhook,
    create_webhook,
    delete_webhook,
    list_webhooks,
    refresh_webhook_secret,
    webhook_id_text,
)
from tasks.companies import CompanyChoiceError, list_companies
from tasks.inbound.webhook_payloads import COMPANY_PARAMETER
from tasks.options import InvalidSyncOption
from tasks.runtime import billit_settings
from tasks.webhook_secrets import SecretStore, update_secrets

_T = TypeVar("_T")

Event = tuple[str, str]  # (entity type, update type)

#: What the receiver needs, within the 4 webhooks a company may have (docs/reference/billit-api.md#webhooks):
#: Message I and U (e-invoice sends, deliveries, IMRs, refusals), Order U (payments and other changes) and Order D
#: (deletions). New invoices are the scheduled sync's.
DEFAULT_EVENTS: tuple[Event, ...] = (("Message", "I"), ("Message", "U"), ("Order", "U"), ("Order", "D"))
#: The lower of the two limits Billit documents; a refusal says how many the company has.
DOCUMENTED_LIMIT = 4

Action = Literal["kept", "created", "refreshed", "deleted", "rotated", "dropped"]


class WebhookOptionError(InvalidSyncOption):
    """A webhooks command's option is malformed (`--url`, `--events`, an id); the message names it."""


class WebhookRefused(BillitError):
    """Billit refused a registration; the message says how many webhooks the company has and what to do."""


class WebhookSecretUnknown(BillitError):
    """A refresh may have happened without its answer reaching us: the webhook's secret is unknown until the next."""


@dataclass(frozen=True)
class WebhookChange:
    """What a command did to one webhook (never its secret)."""

    webhook: Webhook
    action: Action


@dataclass
class Outcome:
    """The changes of one command and the error that stopped it, if any: the secrets Billit handed out before it
    are stored all the same, and the caller shows the changes, then raises `error`."""

    company_id: int | None
    changes: list[WebhookChange] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)
    error: Exception | None = None


def parse_events(text: str | None) -> list[Event]:
    """`Message:I,Order:U,...` (case-insensitive, `/` also separates) as events; the default events when empty."""
    if text is None or not text.strip():
        return list(DEFAULT_EVENTS)
    events: list[Event] = []
    for part in (piece.strip() for piece in text.split(",")):
        entity, _, update = part.replace("/", ":").partition(":")
        canonical = (
            next((name for name in ENTITY_TYPES if name.lower() == entity.strip().lower()), None),
            next((name for name in UPDATE_TYPES if name.lower() == update.strip().lower()), None),
        )
        if canonical[0] is None or canonical[1] is None:
            raise WebhookOptionError(
                f"--events: {part!r} is not an event; give ENTITY:TYPE pairs separated by commas, ENTITY one of "
                f"{', '.join(ENTITY_TYPES)} and TYPE one of {', '.join(UPDATE_TYPES)} (I insert, U update, D delete)"
            )
        event: Event = (canonical[0], canonical[1])
        if event not in events:
            events.append(event)
    return events


def check_url(url: str) -> str | None:
    """`url` stripped must be an http(s) URL with a host; WebhookOptionError otherwise. A warning for http://,
    which Billit refuses (it wants https with a valid certificate), else None."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname or not text.isprintable():
        raise WebhookOptionError(f"--url: {text!r} is not an http(s) URL such as https://billit.example.com/webhooks")
    if " " in text:
        raise WebhookOptionError("--url: a URL has no spaces")
    if parts.scheme.lower() == "http":
        return "Billit only calls https:// URLs (with a valid certificate); http:// suits a local simulator only"
    return None


def company_settings(company: int | None) -> BillitSettings:
    """The Billit settings acting for `company` (default: BILLIT_PARTY_ID). Another company must be one the key
    reaches with API access on (ContextPartyID, when set, stays the accountant's own company); CompanyChoiceError
    otherwise."""
    settings = billit_settings()
    if company is None and settings.party_id is None:  # the settings' own hint names options these commands lack
        raise NoCompanyError(f"no Billit company whose webhooks to manage: set {ENV_PREFIX}PARTY_ID or pass --company")
    if company is None or company == settings.party_id:
        return settings
    if problem := company_problem(list_companies(among=[company]), company):
        raise CompanyChoiceError(f"--company: {problem}")
    return billit_settings(party_id=company)


def register_webhooks(url: str, events: Sequence[Event], store: SecretStore, *, company: int | None = None) -> Outcome:
    """Register `events` to `url` for the company, keeping what is there; the secrets go to `store`."""
    settings = company_settings(company)
    held = store.read()

    target = company_url(url, settings.require_party_id())

    async def register(billit: BillitClient, outcome: Outcome) -> None:
        existing = await list_webhooks(billit)
        for entity, update in events:
            hook = next((h for h in existing if h.event == (entity, update) and same_url(h.url, target)), None)
            if hook is not None and hook.webhook_id in held:
                outcome.changes.append(WebhookChange(hook, "kept"))
                continue
            if hook is None:
                hook = await _create(billit, entity, update, target, outcome)
                if hook.secret is not None:
                    outcome.secrets[hook.webhook_id] = hook.secret
                    outcome.changes.append(WebhookChange(hook.without_secret(), "created"))
                    continue
            outcome.secrets[hook.webhook_id] = await _refresh(billit, hook.webhook_id)
            outcome.changes.append(WebhookChange(hook, "refreshed"))

    return _run(settings, store, register)


async def _create(billit: BillitClient, entity: str, update: str, url: str, outcome: Outcome) -> Webhook:
    """Create the webhook. When the answer may have been lost after Billit made it, the listing tells: a webhook
    found there comes back without its secret (the caller refreshes it). A refusal says how many exist."""
    try:
        return await create_webhook(billit, entity, update, url)
    except BillitValidationError as refused:
        count = len(await list_webhooks(billit))
        reason = "; ".join(str(detail).rstrip(".") for detail in refused.details) or f"HTTP {refused.status}"
        raise WebhookRefused(
            f"registering {entity} {update} for company {outcome.company_id} was refused ({reason}). "
            f"The company has {count} webhook{'' if count == 1 else 's'} (Billit documents at most "
            f"{DOCUMENTED_LIMIT}): `billit-etl webhooks list` shows them, `billit-etl webhooks delete` removes some"
        ) from None
    except (BillitTransportError, BillitServerError):
        found = [h for h in await list_webhooks(billit) if h.event == (entity, update) and same_url(h.url, url)]
        if not found:
            raise
        return found[-1]


async def _refresh(billit: BillitClient, webhook_id: str) -> str:
    """The webhook's new secret. A refresh whose answer was lost is not repeated (a repeat would not tell us the
    secret the first one made either): the error says how to get a secret we know."""
    try:
        return await refresh_webhook_secret(billit, webhook_id)
    except BillitTransportError as lost:
        if not lost.maybe_processed:
            raise
        raise WebhookSecretUnknown(
            f"{lost}; Billit may have given webhook {webhook_id} a new secret that never reached us: "
            f"run `billit-etl webhooks rotate {webhook_id}`"
        ) from None


def list_registered(store: SecretStore, *, company: int | None = None) -> tuple[list[Webhook], dict[str, str]]:
    """The company's webhooks and the secrets `store` holds (WebhookID -> secret; the caller shows only which)."""
    settings = company_settings(company)
    held = store.read()
    return asyncio.run(_with_client(settings, list_webhooks)), held


def delete_webhooks(
    store: SecretStore,
    *,
    ids: Sequence[str] = (),
    url: str | None = None,
    everything: bool = False,
    company: int | None = None,
) -> Outcome:
    """Delete the webhooks named by id, by URL, or all of the company's, and drop their secrets from `store`. An id
    Billit does not list but whose secret `store` holds is only dropped from it; one neither knows is refused."""
    wanted = [_id_option(value) for value in ids]
    settings = company_settings(company)
    company_id = settings.require_party_id()
    held = store.read()

    async def delete(billit: BillitClient, outcome: Outcome) -> None:
        existing = await list_webhooks(billit)
        by_id = {hook.webhook_id: hook for hook in existing}
        unknown = [webhook_id for webhook_id in wanted if webhook_id not in by_id and webhook_id not in held]
        if unknown:
            raise WebhookOptionError(
                f"company {outcome.company_id} has no webhook {', '.join(unknown)} "
                "(`billit-etl webhooks list` shows its webhooks)"
            )
        targets = [
            hook
            for hook in existing
            if everything
            or hook.webhook_id in wanted
            or (url is not None and any(same_url(hook.url, form) for form in (url, company_url(url, company_id))))
        ]
        for webhook_id in wanted:
            if webhook_id not in by_id:
                outcome.dropped.add(webhook_id)
                outcome.changes.append(WebhookChange(Webhook(webhook_id, None, "", "", ""), "dropped"))
        for hook in targets:
            # Listed a moment ago, so a 404 means gone since: a repeat of our own delete whose answer was lost.
            with contextlib.suppress(BillitNotFoundError):
                await delete_webhook(billit, hook.webhook_id)
            outcome.dropped.add(hook.webhook_id)
            outcome.changes.append(WebhookChange(hook, "deleted"))

    return _run(settings, store, delete)


def rotate_secrets(store: SecretStore, *, ids: Sequence[str] = (), company: int | None = None) -> Outcome:
    """A new secret for each webhook named (default: every webhook of the company whose secret `store` holds),
    stored in `store`; from then on only the new secret verifies."""
    wanted = [_id_option(value) for value in ids]
    settings = company_settings(company)
    held = store.read()

    async def rotate(billit: BillitClient, outcome: Outcome) -> None:
        existing = await list_webhooks(billit)
        by_id = {hook.webhook_id: hook for hook in existing}
        unknown = [webhook_id for webhook_id in wanted if webhook_id not in by_id]
        if unknown:
            raise WebhookOptionError(
                f"company {outcome.company_id} has no webhook {', '.join(unknown)} "
                "(`billit-etl webhooks list` shows its webhooks)"
            )
        targets = [by_id[webhook_id] for webhook_id in wanted] or [h for h in existing if h.webhook_id in held]
        for hook in targets:
            outcome.secrets[hook.webhook_id] = await _refresh(billit, hook.webhook_id)
            outcome.changes.append(WebhookChange(hook, "rotated"))

    return _run(settings, store, rotate)


def company_url(url: str, company_id: int) -> str:
    """The receiver's URL as registered for `company_id`: with `?company=<PartyID>` (any earlier one replaced), so
    the receiver knows whose order a call names (Billit's bodies do not say)."""
    parts = urlsplit(url.strip())
    query = [
        (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name != COMPANY_PARAMETER
    ]
    return urlunsplit(parts._replace(query=urlencode([*query, (COMPANY_PARAMETER, str(company_id))])))


def same_url(first: str, second: str) -> bool:
    """The same target: scheme and host in any case, a path's trailing slash ignored."""

    def key(url: str) -> tuple[str, str, str, str]:
        parts = urlsplit(url.strip())
        return (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/") or "/", parts.query)

    return key(first) == key(second)


def _id_option(value: str) -> str:
    webhook_id = webhook_id_text(value)
    if webhook_id is None or not webhook_id.isdigit():
        raise WebhookOptionError(f"{value!r} is not a WebhookID (`billit-etl webhooks list` shows them)")
    return webhook_id


def _run(
    settings: BillitSettings, store: SecretStore, work: Callable[[BillitClient, Outcome], Awaitable[None]]
) -> Outcome:
    """`work` with a client for the company; then whatever secrets it got are stored and those it dropped removed,
    even when it stopped on an error (kept in the outcome for the caller to raise after showing the changes)."""
    outcome = Outcome(company_id=settings.party_id)
    store.check_writable()  # before Billit hands out a secret that could then not be kept

    async def run(billit: BillitClient) -> None:
        try:
            await work(billit, outcome)
        except Exception as exc:  # noqa: BLE001 - kept until the secrets Billit already handed out are stored
            outcome.error = exc

    asyncio.run(_with_client(settings, run))
    if outcome.secrets or outcome.dropped:
        update_secrets(store, put=outcome.secrets, drop=outcome.dropped)
    return outcome


async def _with_client(settings: BillitSettings, call: Callable[[BillitClient], Awaitable[_T]]) -> _T:
    async with BillitClient(settings) as billit:
        return await call(billit)
