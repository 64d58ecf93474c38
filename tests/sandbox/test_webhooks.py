"""The sandbox's webhook management API over real HTTP: register, list, delete, refresh, the limit and the URL rule
(docs/reference/billit-api.md#webhooks)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from sandbox.identity import API_KEY, PARTY_ID, SECOND_PARTY_ID
from sandbox.quirks import Quirks
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW, HEADERS, OTHER_COMPANY_HEADERS, fixed_clock

RECEIVER = "https://hooks.example.com/billit"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed_start=FIXED_NOW, clock=fixed_clock(), companies=3)) as running:
        yield running


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=HEADERS) as http:
        yield http


def _register(client: httpx.Client, entity: str = "Message", update: str = "U", url: str = RECEIVER) -> httpx.Response:
    return client.post("/v1/webhooks", json={"EntityType": entity, "EntityUpdateType": update, "WebhookURL": url})


def _error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["Code"] == "GenericError"
    return str(error["Description"])


def test_registering_answers_the_webhook_with_a_long_random_secret_that_the_listing_never_shows(
    client: httpx.Client,
) -> None:
    first = _register(client)
    second = _register(client, "Order", "I")
    listed = client.get("/v1/webhooks")
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"WebhookID", "CompanyID", "UserID", "EntityType", "EntityUpdateType", "WebhookURL", "Secret"}
    assert (body["CompanyID"], body["EntityType"], body["EntityUpdateType"], body["WebhookURL"]) == (
        PARTY_ID, "Message", "U", RECEIVER,
    )  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{64}", body["Secret"])
    assert second.json()["Secret"] != body["Secret"]
    assert listed.status_code == 200
    assert [hook["WebhookID"] for hook in listed.json()] == [body["WebhookID"], second.json()["WebhookID"]]
    assert all("Secret" not in hook for hook in listed.json())
    assert body["Secret"] not in listed.text


def test_input_keys_and_values_are_case_insensitive(client: httpx.Client) -> None:
    response = client.post(
        "/v1/webhooks", json={"entitytype": "order", "ENTITYUPDATETYPE": "d", "webhookurl": RECEIVER}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["EntityType"], response.json()["EntityUpdateType"]) == ("Order", "D")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"EntityUpdateType": "U", "WebhookURL": RECEIVER}, "EntityType"),
        ({"EntityType": "Invoice", "EntityUpdateType": "U", "WebhookURL": RECEIVER}, "EntityType"),
        ({"EntityType": "Order", "EntityUpdateType": "X", "WebhookURL": RECEIVER}, "EntityUpdateType"),
        ({"EntityType": "Order", "EntityUpdateType": "U"}, "WebhookURL"),
    ],
)
def test_an_incomplete_or_unknown_registration_answers_400_naming_the_field(
    client: httpx.Client, body: dict[str, str], named: str
) -> None:
    assert named in _error(client.post("/v1/webhooks", json=body))
    assert client.get("/v1/webhooks").json() == []


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]:8/h"]
)
def test_https_targets_and_plain_http_to_a_loopback_host_are_accepted(client: httpx.Client, url: str) -> None:
    response = _register(client, url=url)
    assert response.status_code == 200, response.text
    assert response.json()["WebhookURL"] == url


@pytest.mark.parametrize("url", ["http://hooks.example.com/x", "http://10.0.0.5/hook", "ftp://127.0.0.1/x", "hooks"])
def test_other_targets_are_refused(client: httpx.Client, url: str) -> None:
    _error(_register(client, url=url))
    assert client.get("/v1/webhooks").json() == []


def test_a_fifth_webhook_of_a_company_is_refused_in_billits_error_body(client: httpx.Client) -> None:
    for update in ("I", "U", "D", "I"):
        assert _register(client, "Order", update).status_code == 200
    refused = _register(client, "Message", "U")
    other_company = client.post(
        "/v1/webhooks",
        json={"EntityType": "Message", "EntityUpdateType": "U", "WebhookURL": RECEIVER},
        headers=OTHER_COMPANY_HEADERS,
    )
    assert "4" in _error(refused)
    assert len(client.get("/v1/webhooks").json()) == 4
    assert other_company.status_code == 200  # the limit is per company


def test_the_limit_quirk_allows_twenty() -> None:
    sandbox = Sandbox(seed_start=FIXED_NOW, quirks=Quirks(webhook_limit=20))
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        statuses = [_register(client).status_code for _ in range(21)]
    assert statuses == [200] * 20 + [400]


def test_webhooks_belong_to_the_partyid_company(client: httpx.Client) -> None:
    hook = _register(client).json()
    other = httpx.Headers(OTHER_COMPANY_HEADERS)
    assert client.get("/v1/webhooks", headers=other).json() == []
    assert client.delete(f"/v1/webhooks/{hook['WebhookID']}", headers=other).status_code == 401
    assert client.post(f"/v1/webhooks/refresh/{hook['WebhookID']}", headers=other).status_code == 401
    assert [h["WebhookID"] for h in client.get("/v1/webhooks").json()] == [hook["WebhookID"]]


def test_credentials_context_and_api_off_companies_are_checked_as_on_every_call(
    client: httpx.Client, server: SandboxServer
) -> None:
    api_off = max(server.sandbox.api_off)
    assert client.get("/v1/webhooks", headers={"ApiKey": "wrong"}).status_code == 401
    assert client.get("/v1/webhooks", headers={"ApiKey": API_KEY, "PartyID": str(api_off)}).status_code == 401
    assert client.get("/v1/webhooks", headers={"ContextPartyID": "999"}).status_code == 401
    with_context = client.get("/v1/webhooks", headers={"ContextPartyID": str(SECOND_PARTY_ID)})
    assert with_context.status_code == 200


def test_delete_answers_true_and_the_webhook_is_gone(client: httpx.Client) -> None:
    kept, deleted = _register(client, "Order", "U").json(), _register(client, "Order", "D").json()
    response = client.delete(f"/v1/webhooks/{deleted['WebhookID']}")
    again = client.delete(f"/v1/webhooks/{deleted['WebhookID']}")
    assert (response.status_code, response.json()) == (200, True)
    assert [h["WebhookID"] for h in client.get("/v1/webhooks").json()] == [kept["WebhookID"]]
    assert again.status_code == 404
    assert _register(client).status_code == 200  # a deleted webhook no longer counts toward the limit


def test_refresh_by_post_answers_a_new_secret_and_other_methods_405(client: httpx.Client) -> None:
    hook = _register(client).json()
    refreshed = client.post(f"/v1/webhooks/refresh/{hook['WebhookID']}")
    put, get = (client.request(m, f"/v1/webhooks/refresh/{hook['WebhookID']}") for m in ("PUT", "GET"))
    unknown = client.post("/v1/webhooks/refresh/1")
    assert refreshed.status_code == 200, refreshed.text
    secret = refreshed.json()
    assert isinstance(secret, str) and re.fullmatch(r"[0-9a-f]{64}", secret) and secret != hook["Secret"]
    assert (put.status_code, put.headers["allow"], get.status_code) == (405, "POST", 405)
    assert unknown.status_code == 404


def test_the_refresh_method_quirk_moves_refresh_to_put() -> None:
    sandbox = Sandbox(seed_start=FIXED_NOW, quirks=Quirks(webhook_refresh_method="put"))
    with SandboxServer(sandbox) as server, httpx.Client(base_url=server.base_url, headers=HEADERS) as client:
        hook = _register(client).json()
        by_post = client.post(f"/v1/webhooks/refresh/{hook['WebhookID']}")
        by_put = client.put(f"/v1/webhooks/refresh/{hook['WebhookID']}")
    assert by_post.status_code == 405
    assert by_put.status_code == 200 and by_put.json() != hook["Secret"]


def test_the_refresh_method_can_be_switched_at_runtime(client: httpx.Client) -> None:
    hook = _register(client).json()
    assert client.put("/_sandbox/quirks", json={"Webhook_Refresh_Method": "PATCH"}).status_code == 200
    assert client.patch(f"/v1/webhooks/refresh/{hook['WebhookID']}").status_code == 200
    assert client.post(f"/v1/webhooks/refresh/{hook['WebhookID']}").status_code == 405
    assert client.put("/_sandbox/quirks", json={"webhook_refresh_method": "DELETE"}).status_code == 400
