"""Webhook management through the client, against the bundled sandbox over real HTTP: list, create, delete, refresh
(and its method found on 405), the limit's refusal, retries, another company's webhook; answers of other shapes and
a secret that never shows in a repr or an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.billit import (
    BillitClient,
    BillitForbiddenIdError,
    BillitHTTPError,
    BillitNotFoundError,
    BillitProtocolError,
    BillitValidationError,
    load_settings,
)
from connectors.billit.webhooks import (
    Webhook,
    create_webhook,
    delete_webhook,
    list_webhooks,
    parse_webhook,
    refresh_webhook_secret,
)
from sandbox.faults import Faults
from sandbox.identity import API_KEY, PARTY_ID, SECOND_PARTY_ID
from sandbox.quirks import Quirks
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW

URL = "https://receiver.example.com/billit/webhooks"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=21, orders=20, seed_start=FIXED_NOW)) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean(server: SandboxServer) -> Iterator[None]:
    """Every test starts with no webhooks, no faults and the default quirks."""
    yield
    server.sandbox.injector.update({**Faults().to_dict(), "script": []})
    server.sandbox.quirks = Quirks()
    for company in (PARTY_ID, SECOND_PARTY_ID):
        for hook in server.sandbox.webhooks.registry.listing(company):
            server.sandbox.webhooks.registry.delete(company, hook.webhook_id)


def client(server: SandboxServer, company: int = PARTY_ID, **overrides: Any) -> BillitClient:
    options = {"base_url": server.base_url, "api_key": API_KEY, "party_id": company, "backoff_base_s": 0.01}
    return BillitClient(load_settings(**(options | overrides)))


def sandbox_secret(server: SandboxServer, company: int, webhook_id: str) -> str:
    return next(h.secret for h in server.sandbox.webhooks.registry.listing(company) if str(h.webhook_id) == webhook_id)


async def test_a_created_webhook_is_listed_without_its_secret_and_its_secret_never_shows_in_a_repr(
    server: SandboxServer,
) -> None:
    async with client(server) as billit:
        created = await create_webhook(billit, "Message", "U", URL)
        listed = await list_webhooks(billit)
    assert created.secret == sandbox_secret(server, PARTY_ID, created.webhook_id)
    assert created.secret not in repr(created) and created.secret not in str(created)
    assert listed == [Webhook(created.webhook_id, PARTY_ID, "Message", "U", URL)]
    assert listed[0].secret is None and created.event == ("Message", "U")


async def test_a_webhook_belongs_to_the_company_of_the_party_id(server: SandboxServer) -> None:
    async with client(server) as billit, client(server, SECOND_PARTY_ID) as other:
        ours = await create_webhook(billit, "Order", "U", URL)
        assert await list_webhooks(other) == []
        with pytest.raises(BillitForbiddenIdError):  # Billit answers 401 for another company's id
            await delete_webhook(other, ours.webhook_id)
        with pytest.raises(BillitForbiddenIdError):
            await refresh_webhook_secret(other, ours.webhook_id)
        assert [hook.webhook_id for hook in await list_webhooks(billit)] == [ours.webhook_id]


async def test_a_deleted_webhook_is_gone_and_deleting_it_again_is_not_found(server: SandboxServer) -> None:
    async with client(server) as billit:
        hook = await create_webhook(billit, "Order", "D", URL)
        await delete_webhook(billit, int(hook.webhook_id))  # an id as a number works as well as its text
        assert await list_webhooks(billit) == []
        with pytest.raises(BillitNotFoundError):
            await delete_webhook(billit, hook.webhook_id)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "GET"])
async def test_a_refresh_finds_the_method_billit_accepts_and_the_new_secret_replaces_the_old(
    server: SandboxServer, method: str
) -> None:
    server.sandbox.quirks.webhook_refresh_method = method
    async with client(server) as billit:
        hook = await create_webhook(billit, "Message", "I", URL)
        sent_before = billit.requests_sent
        secret = await refresh_webhook_secret(billit, hook.webhook_id)
        tried = billit.requests_sent - sent_before
    assert secret != hook.secret and secret == sandbox_secret(server, PARTY_ID, hook.webhook_id)
    assert tried == ("POST", "PUT", "PATCH", "GET").index(method) + 1  # one 405 per method before it


async def test_a_refresh_no_method_of_ours_reaches_is_one_error_naming_every_method_tried() -> None:
    methods: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        return httpx.Response(405)

    settings = load_settings(base_url="https://billit.invalid", api_key=API_KEY, party_id=PARTY_ID, max_retries=0)
    async with BillitClient(settings, transport=httpx.MockTransport(refuse)) as billit:
        with pytest.raises(BillitProtocolError, match="405 .* to POST, PUT, PATCH, GET"):
            await refresh_webhook_secret(billit, "81001")
    assert methods == ["POST", "PUT", "PATCH", "GET"]


async def test_the_limit_per_company_is_a_validation_error_with_billits_message(server: SandboxServer) -> None:
    async with client(server) as billit:
        for update in ("I", "U", "D"):
            await create_webhook(billit, "Order", update, URL)
        await create_webhook(billit, "Message", "I", URL)
        with pytest.raises(BillitValidationError, match="maximum number of 4 webhooks"):
            await create_webhook(billit, "Message", "U", URL)
        assert len(await list_webhooks(billit)) == 4


async def test_a_listing_is_retried_on_5xx_and_a_create_is_not_repeated_once_it_may_have_reached_billit(
    server: SandboxServer,
) -> None:
    server.sandbox.injector.update({"script": ["503", "503"]})
    async with client(server) as billit:
        assert await list_webhooks(billit) == []
        assert billit.retries == 2
        server.sandbox.injector.update({"script": ["500"]})
        with pytest.raises(BillitHTTPError) as failed:
            await create_webhook(billit, "Order", "U", URL)
        assert billit.retries == 2  # not repeated: the create may have happened
    assert failed.value.status == 500 and failed.value.retryable


# ---- answers of other shapes (a stand-in transport: the sandbox answers as documented) ------------------------


def stand_in(answer: httpx.Response) -> BillitClient:
    settings = load_settings(base_url="https://billit.invalid", api_key=API_KEY, party_id=PARTY_ID, max_retries=0)
    return BillitClient(settings, transport=httpx.MockTransport(lambda request: answer))


def test_webhook_objects_are_read_in_any_key_case_with_the_id_as_a_number_or_a_text() -> None:
    upper = {"WEBHOOKID": "81001", "companyid": "574991", "entitytype": "message", "ENTITYUPDATETYPE": "u"}
    assert parse_webhook(upper | {"WebhookUrl": URL}, where="test") == Webhook("81001", 574991, "Message", "U", URL)
    assert parse_webhook({"WebhookID": 81002.0}, where="test").webhook_id == "81002"
    with pytest.raises(BillitProtocolError, match="without a WebhookID"):
        parse_webhook({"WebhookID": True, "Secret": "s3cr3t-LEAK"}, where="test")


async def test_a_listing_wrapped_in_items_is_read_and_a_listing_of_another_kind_is_refused() -> None:
    wrapped = {"Items": [{"WebhookID": 5, "EntityType": "Order", "EntityUpdateType": "D", "Secret": "x"}]}
    async with stand_in(httpx.Response(200, json=wrapped)) as billit:
        assert [(h.webhook_id, h.event, h.secret) for h in await list_webhooks(billit)] == [("5", ("Order", "D"), None)]
    async with stand_in(httpx.Response(200, json="nope")) as billit:
        with pytest.raises(BillitProtocolError, match="expected a list of webhooks"):
            await list_webhooks(billit)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json="fresh-secret-LEAK"),
        httpx.Response(200, json={"secret": "fresh-secret-LEAK"}),
        httpx.Response(200, text="fresh-secret-LEAK\n", headers={"Content-Type": "text/plain"}),
    ],
)
async def test_a_refreshed_secret_is_read_from_a_json_string_an_object_or_plain_text(answer: httpx.Response) -> None:
    async with stand_in(answer) as billit:
        assert await refresh_webhook_secret(billit, 7) == "fresh-secret-LEAK"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>fresh-secret-LEAK</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, json={"NoSecret": "fresh-secret-LEAK"}),
        httpx.Response(200, json=["fresh-secret-LEAK"]),
    ],
)
async def test_an_answer_without_a_secret_is_an_error_that_never_quotes_it(answer: httpx.Response) -> None:
    async with stand_in(answer) as billit:
        with pytest.raises(BillitProtocolError, match="carries no secret") as error:
            await refresh_webhook_secret(billit, 7)
    assert "LEAK" not in str(error.value) and "LEAK" not in repr(error.value)


async def test_a_created_webhook_without_a_secret_in_the_answer_is_an_error() -> None:
    body = {"WebhookID": 9, "EntityType": "Order", "EntityUpdateType": "U", "WebhookURL": URL}
    async with stand_in(httpx.Response(200, content=json.dumps(body))) as billit:
        with pytest.raises(BillitProtocolError, match="no Secret in the answer for webhook 9"):
            await create_webhook(billit, "Order", "U", URL)
