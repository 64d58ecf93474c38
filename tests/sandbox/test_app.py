"""Tests of the sandbox's Billit routes: auth, orders CRUD, idempotency, sending, Peppol lookups and files."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from sandbox.identity import BEARER_TOKEN, PARTY_ID, SECOND_PARTY_ID
from sandbox.render import SUMMARY_COUNTER_PARTY_KEYS, SUMMARY_KEYS
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import (
    API_KEY,
    FIXED_NOW,
    HEADERS,
    OTHER_COMPANY_HEADERS,
    asgi_client,
    fixed_clock,
    invoice_body,
    make_order,
)


@pytest.fixture
def sandbox() -> Sandbox:
    # Deliveries wait for flush_deliveries(): the tests decide when a sent invoice is delivered.
    sandbox = Sandbox(seed=3, orders=60, seed_start=FIXED_NOW, clock=fixed_clock(), hold_deliveries=True)
    sandbox.add_orders([make_order(2610451), make_order(3610451, company_id=SECOND_PARTY_ID)])
    return sandbox


def _errors(response: Any) -> list[dict[str, str]]:
    return response.json()["errors"]


# ------------------------------------------------------------------------------------------------------------
# Authentication and company selection


async def test_missing_or_unknown_api_key_answers_401(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox, headers={}) as client:
        missing = await client.get("/v1/orders/2610451", headers={"PartyID": str(PARTY_ID)})
        unknown = await client.get("/v1/orders/2610451", headers={"ApiKey": "nope", "PartyID": str(PARTY_ID)})
    assert missing.status_code == 401
    assert unknown.status_code == 401


async def test_api_key_header_name_is_case_insensitive(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox, headers={"apikey": API_KEY, "partyID": str(PARTY_ID)}) as client:
        response = await client.get("/v1/orders/2610451")
    assert response.status_code == 200


async def test_bearer_tokens_are_accepted_and_unknown_ones_get_invalid_access_token(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox, headers={"PartyID": str(PARTY_ID)}) as client:
        good = await client.get("/v1/orders/2610451", headers={"Authorization": f"Bearer {BEARER_TOKEN}"})
        bad = await client.get("/v1/orders/2610451", headers={"Authorization": "Bearer expired"})
    assert good.status_code == 200
    assert bad.status_code == 401
    assert bad.json() == {"errors": [{"Code": "InvalidAccessToken"}]}


async def test_a_party_id_the_key_may_not_access_answers_401() -> None:
    sandbox = Sandbox(api_keys={"one-company-key": [PARTY_ID]}, clock=fixed_clock(), seed_start=FIXED_NOW)
    async with asgi_client(sandbox, headers={"ApiKey": "one-company-key"}) as client:
        other = await client.get("/v1/orders", headers={"PartyID": str(SECOND_PARTY_ID)})
        garbage = await client.get("/v1/orders", headers={"PartyID": "abc"})
        implicit = await client.get("/v1/orders")
    assert other.status_code == 401
    assert garbage.status_code == 401
    assert implicit.status_code == 200  # a key with one company needs no PartyID


async def test_party_id_is_mandatory_when_the_key_sees_two_companies(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox, headers={"ApiKey": API_KEY}) as client:
        response = await client.get("/v1/orders")
    assert response.status_code == 400


async def test_an_order_of_another_company_answers_401_and_an_unknown_id_404(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        foreign = await client.get("/v1/orders/3610451")
        unknown = await client.get("/v1/orders/999")
        patch_foreign = await client.patch("/v1/orders/3610451", json={"IsSent": True})
        delete_foreign = await client.delete("/v1/orders/3610451")
    assert foreign.status_code == 401
    assert unknown.status_code == 404
    assert patch_foreign.status_code == 401
    assert delete_foreign.status_code == 401


async def test_context_party_id_header_is_accepted(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox, headers={**HEADERS, "ContextPartyID": str(SECOND_PARTY_ID)}) as client:
        response = await client.get("/v1/orders/2610451")
    assert response.status_code == 200


# ------------------------------------------------------------------------------------------------------------
# Reading orders


async def test_list_items_are_the_documented_summary_projection(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        body = (await client.get("/v1/orders", params={"$filter": "OrderID eq 2610451"})).json()
    (item,) = body["Items"]
    assert list(item) == list(SUMMARY_KEYS)
    assert set(item["CounterParty"]) <= set(SUMMARY_COUNTER_PARTY_KEYS)
    assert item["CounterParty"]["Addresses"] == []
    assert item["OrderPDF"] == {"FileID": "00000000-0000-4000-8000-000002610451"}
    assert item["CurrentDocumentDeliveryDetails"] == {"IsDocumentDelivered": False}
    for absent in ("OrderLines", "VatGroups", "Customer", "Supplier", "Messages", "Attachments"):
        assert absent not in item
    assert list(body) == ["Items"]


async def test_full_order_uses_billit_number_and_date_formats(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await client.get("/v1/orders/2610451")
    text = response.text
    assert response.headers["content-type"].startswith("application/json")
    assert '"Quantity":8.00000,"UnitPriceExcl":95.00000' in text
    assert '"TotalExcl":760.00,"TotalVAT":159.60,"VATPercentage":21.00' in text
    assert '"FXRateToForeign":1.00000' in text
    assert '"LastModified":"2026-03-02T10:21:45.6"' in text
    assert '"Created":"2026-03-02T10:14:07.183"' in text
    assert '"OrderDate":"2026-03-02T00:00:00"' in text
    # Overdue/DaysOverdue are computed at render time (clock: 2026-03-10) right after OrderStatus.
    assert '"OrderStatus":"ToSend","Overdue":false,"DaysOverdue":-22,' in text
    parsed = json.loads(text, parse_float=Decimal)
    assert parsed["TotalIncl"] == Decimal("919.60")
    assert "PaidDate" not in parsed


async def test_a_paid_order_past_its_expiry_date_is_not_overdue() -> None:
    sandbox = Sandbox(clock=lambda: datetime(2026, 5, 1, 9, 0), seed_start=datetime(2026, 5, 1, 9, 0))
    sandbox.add_orders([make_order(1, Paid=True), make_order(2)])
    async with asgi_client(sandbox) as client:
        paid = (await client.get("/v1/orders/1")).json()
        unpaid = (await client.get("/v1/orders/2")).json()
    assert (paid["Overdue"], paid["DaysOverdue"]) == (False, 30)
    assert (unpaid["Overdue"], unpaid["DaysOverdue"]) == (True, 30)


# ------------------------------------------------------------------------------------------------------------
# POST /v1/orders


async def test_posting_the_docs_totals_example_gives_155_77(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        created = await client.post("/v1/orders", json=invoice_body())
        assert created.status_code == 200
        order_id = json.loads(created.text)
        assert isinstance(order_id, int)
        order = (await client.get(f"/v1/orders/{order_id}")).json(parse_float=Decimal)
    assert order["TotalIncl"] == Decimal("155.77")
    assert order["TotalExcl"] == Decimal("134.93")
    assert [g["TotalIncl"] for g in order["VatGroups"]] == [Decimal("52.99"), Decimal("102.78")]
    assert order["OrderStatus"] == "ToSend"
    assert order["IsSent"] is False
    assert order["ExternalProvider"] == "APIFeed"
    assert order["CompanyID"] == PARTY_ID
    assert order["Currency"] == "EUR"
    assert order["FXRateToForeign"] == Decimal("1.00000")
    assert order["ToPay"] == Decimal("155.77")
    assert order["DeliveryDate"] == "2026-03-02T00:00:00"
    assert order["CurrentDocumentDeliveryDetails"] == {"IsDocumentDelivered": False}
    assert order["Messages"] == []
    assert order["PaymentReference"].startswith("+++") and order["PaymentReference"].endswith("+++")
    assert order["OrderNumber"].startswith("INV-2026-")
    assert order["Created"] == order["LastModified"]
    assert order["Supplier"]["PartyID"] == PARTY_ID
    assert order["CounterParty"]["Name"] == "Billit"
    assert order["OrderPDF"]["FileName"].endswith(".pdf")
    assert order["Attachments"][-1]["FileName"].endswith(".json")


async def test_post_binds_member_names_case_insensitively(sandbox: Sandbox) -> None:
    body = {
        "ordertype": "Invoice",
        "orderDirection": "Income",
        "orderdate": "2026-03-02T11:25:00.4667841+01:00",
        "EXPIRYDATE": "2026-04-01",
        "orderlines": [{"quantity": 2, "unitpriceexcl": "12.5", "vatpercentage": 21, "description": "x"}],
        "customer": {"name": "Klant", "VatNumber": "BE0412345614", "Streetnumber": "1", "box": "A"},
        "externalproviderid": "erp-42",
    }
    async with asgi_client(sandbox) as client:
        created = await client.post("/v1/orders", json=body)
        order = (await client.get(f"/v1/orders/{created.text}")).json()
    assert created.status_code == 200
    assert order["OrderDate"] == "2026-03-02T11:25:00.466784"
    assert order["TotalIncl"] == 30.25
    assert order["ExternalProviderID"] == "erp-42"
    assert order["Customer"]["StreetNumber"] == "1"
    assert order["Customer"]["Box"] == "A"


async def test_post_reports_every_missing_required_field(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await client.post("/v1/orders", json={"OrderDirection": "Income", "OrderLines": []})
    assert response.status_code == 400
    descriptions = [e["Description"] for e in _errors(response)]
    for field in ("OrderType", "OrderDate", "ExpiryDate", "OrderLines", "Customer"):
        assert any(field in d for d in descriptions), field


async def test_post_rejects_a_vat_rate_belgium_does_not_have(sandbox: Sandbox) -> None:
    body = invoice_body(OrderLines=[{"Quantity": 1, "UnitPriceExcl": 10, "VATPercentage": 7, "Description": "x"}])
    async with asgi_client(sandbox) as client:
        response = await client.post("/v1/orders", json=body)
    assert response.status_code == 400
    assert _errors(response) == [
        {"Code": "InvalidVAtPercentageForTaxCountry_0_", "Description": "Invalid VAT percentage for country code BE"}
    ]


async def test_post_rejects_unknown_ventilation_codes_and_unknown_credited_invoices(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        code = await client.post("/v1/orders", json=invoice_body(VentilationCode="99"))
        about = await client.post(
            "/v1/orders", json=invoice_body(OrderType="CreditNote", AboutInvoiceNumber="DOES-NOT-EXIST")
        )
        fine = await client.post(
            "/v1/orders", json=invoice_body(OrderType="CreditNote", AboutInvoiceNumber="INV-2610451")
        )
        credit = (await client.get(f"/v1/orders/{fine.text}")).json()
    assert code.status_code == 400 and _errors(code)[0]["Code"] == "GenericError"
    assert about.status_code == 400 and "DOES-NOT-EXIST" in _errors(about)[0]["Description"]
    assert fine.status_code == 200
    assert credit["ToPay"] == 0.0  # a credit note about a Billit invoice is fully prepaid
    assert credit["OrderNumber"].startswith("CN-")


async def test_post_matches_an_existing_customer_by_vat_number(sandbox: Sandbox) -> None:
    body = invoice_body(Customer={"Name": "Voorbeeld Klant", "VATNumber": "BE 0412.345.614"})
    async with asgi_client(sandbox) as client:
        order = (await client.get(f"/v1/orders/{(await client.post('/v1/orders', json=body)).text}")).json()
        by_id = await client.post("/v1/orders", json={**invoice_body(), "Customer": None, "CustomerID": 1088213})
        foreign_party = next(iter(sandbox.parties[SECOND_PARTY_ID]))
        foreign = await client.post(
            "/v1/orders", json={**invoice_body(), "Customer": None, "CustomerID": foreign_party}
        )
    assert order["Customer"]["PartyID"] == 1088213
    assert order["CounterParty"]["PartyID"] == 1088213
    assert by_id.status_code == 200
    assert foreign.status_code == 401


async def test_purchases_need_a_supplier_and_start_to_pay(sandbox: Sandbox) -> None:
    body = invoice_body(OrderDirection="Cost", OrderNumber="F2026-00317")
    async with asgi_client(sandbox) as client:
        missing = await client.post("/v1/orders", json=body)
        body["Supplier"] = body.pop("Customer")
        created = await client.post("/v1/orders", json=body)
        order = (await client.get(f"/v1/orders/{created.text}")).json()
    assert missing.status_code == 400
    assert order["OrderStatus"] == "ToPay"
    assert order["Customer"]["PartyID"] == PARTY_ID
    assert order["Supplier"]["PartyType"] == "Supplier"
    assert order["VentilationCode"] == "1"


# ------------------------------------------------------------------------------------------------------------
# Idempotency


@pytest.mark.parametrize("header", ["Idempotency-Key", "Idempotent-Key"])
async def test_replaying_a_successful_idempotency_key_answers_409_without_the_id(sandbox: Sandbox, header: str) -> None:
    async with asgi_client(sandbox) as client:
        first = await client.post("/v1/orders", json=invoice_body(), headers={header: "key-1"})
        replay = await client.post("/v1/orders", json=invoice_body(), headers={header: "key-1"})
        other_spelling = "Idempotent-Key" if header == "Idempotency-Key" else "Idempotency-Key"
        replay_other = await client.post("/v1/orders", json=invoice_body(), headers={other_spelling: "key-1"})
        other_company = await client.post(
            "/v1/orders", json=invoice_body(), headers={**OTHER_COMPANY_HEADERS, header: "key-1"}
        )
    assert first.status_code == 200
    assert replay.status_code == 409
    assert replay_other.status_code == 409
    assert replay.json()["errors"][0]["Code"] == "Idempotent token already exists"
    assert first.text not in replay.text
    assert other_company.status_code == 200  # keys are scoped per company
    assert sandbox.counters["orders_created"] == 2


async def test_an_idempotency_key_is_not_stored_after_a_failed_request(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        failed = await client.post("/v1/orders", json=invoice_body(OrderType=None), headers={"Idempotency-Key": "k"})
        retried = await client.post("/v1/orders", json=invoice_body(), headers={"Idempotency-Key": "k"})
    assert failed.status_code == 400
    assert retried.status_code == 200


async def test_external_provider_id_is_not_unique_but_filterable(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        for _ in range(2):
            assert (await client.post("/v1/orders", json=invoice_body(ExternalProviderID="erp-7"))).status_code == 200
        found = (await client.get("/v1/orders", params={"$filter": "ExternalProviderID eq 'erp-7'"})).json()
    assert len(found["Items"]) == 2


# ------------------------------------------------------------------------------------------------------------
# PATCH and DELETE


async def test_patch_changes_patchable_properties_and_bumps_last_modified(sandbox: Sandbox) -> None:
    before = sandbox.get_order(2610451)["LastModified"]
    async with asgi_client(sandbox) as client:
        response = await client.patch("/v1/orders/2610451", json={"paid": True, "InternalInfo": "checked"})
        order = (await client.get("/v1/orders/2610451")).json()
    assert response.status_code == 200
    assert response.content == b""
    assert order["Paid"] is True
    assert order["OrderStatus"] == "Paid"
    assert order["ToPay"] == 0
    assert order["PaidDate"] == "2026-03-10T00:00:00"
    assert order["InternalInfo"] == "checked"
    assert datetime.fromisoformat(order["LastModified"]) > before


async def test_patch_can_leave_last_modified_alone_when_configured() -> None:
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW, patch_bumps_last_modified=False)
    sandbox.add_orders([make_order(1)])
    async with asgi_client(sandbox) as client:
        await client.patch("/v1/orders/1", json={"IsSent": True})
        order = (await client.get("/v1/orders/1")).json()
    assert order["IsSent"] is True
    assert order["LastModified"] == "2026-03-02T10:21:45.6"


async def test_patch_rejects_properties_that_are_not_patchable(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await client.patch("/v1/orders/2610451", json={"IsSent": True, "Comments": "no"})
        order = (await client.get("/v1/orders/2610451")).json()
    assert response.status_code == 400
    assert _errors(response)[0]["Code"] == "GenericError"
    assert "'Comments'" in _errors(response)[0]["Description"]
    assert order["IsSent"] is False  # nothing applied


async def test_deleted_orders_move_to_the_deleted_list(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        deleted = await client.delete("/v1/orders/2610451")
        gone = await client.get("/v1/orders/2610451")
        listed = (await client.get("/v1/orders", params={"$filter": "OrderID eq 2610451"})).json()
        in_deleted = (await client.get("/v1/orders/deleted", params={"$filter": "OrderID eq 2610451"})).json()
    assert deleted.status_code == 200 and deleted.json() is True
    assert gone.status_code == 404
    assert listed["Items"] == []
    (item,) = in_deleted["Items"]
    assert item["LastModified"].startswith("2026-03-10T15:00:49.72")


# ------------------------------------------------------------------------------------------------------------
# Sending and delivery


async def _new_invoice(client: Any, **overrides: Any) -> int:
    response = await client.post("/v1/orders", json=invoice_body(**overrides))
    assert response.status_code == 200, response.text
    return int(response.text)


async def test_a_held_send_stays_pending_until_the_flush_route_delivers_it(sandbox: Sandbox) -> None:
    sandbox.register_participant("0208:0563846944")
    async with asgi_client(sandbox) as client:
        order_id = await _new_invoice(client)
        sent = await client.post("/v1/orders/commands/send", json={"Transporttype": "Peppol", "OrderIDs": [order_id]})
        pending = (await client.get(f"/v1/orders/{order_id}")).json()
        still_pending = (await client.get(f"/v1/orders/{order_id}")).json()
        flushed = await client.post("/_sandbox/deliveries/flush")
        delivered = (await client.get(f"/v1/orders/{order_id}")).json()
        flushed_again = await client.post("/_sandbox/deliveries/flush")
    assert sent.status_code == 200 and sent.content == b""
    assert still_pending == pending
    assert (flushed.json(), flushed_again.json()) == ({"applied": 1}, {"applied": 0})
    assert pending["IsSent"] is True
    assert pending["OrderStatus"] == "ToPay"
    assert pending["CurrentDocumentDeliveryDetails"] == {
        "IsDocumentDelivered": False,
        "DocumentDeliveryStatus": "Pending",
    }
    (outgoing,) = pending["Messages"]
    assert outgoing["MessageDirection"] == "Outgoing"
    assert outgoing["Destination"] == "0208:0563846944"
    details = delivered["CurrentDocumentDeliveryDetails"]
    assert details["DocumentDeliveryStatus"] == "Delivered"
    assert details["IsDocumentDelivered"] is True
    assert details["DocumentDeliveryInfo"] == "Received"
    assert delivered["Messages"][-1]["Description"] == "AB: The document has been successfully received."
    assert delivered["Messages"][-1]["MessageDirection"] == "Incoming"
    assert delivered["LastModified"] > pending["LastModified"]


async def test_without_hold_a_delivery_is_applied_by_the_first_request_after_it_is_due() -> None:
    # A zero delay makes it due at once: the lazy path runs without waiting on the wall clock.
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW, delivery_delay_s=0)
    sandbox.register_participant("0208:0563846944")
    async with asgi_client(sandbox) as client:
        order_id = await _new_invoice(client)
        await client.post("/v1/orders/commands/send", json={"Transporttype": "Peppol", "OrderIDs": [order_id]})
        order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert order["CurrentDocumentDeliveryDetails"]["DocumentDeliveryStatus"] == "Delivered"
    assert sandbox.stats()["pending_deliveries"] == 0


async def test_send_to_a_customer_not_on_peppol_fails_and_sends_nothing(sandbox: Sandbox) -> None:
    sandbox.register_participant("0208:0563846944")
    async with asgi_client(sandbox) as client:
        good = await _new_invoice(client)
        bad = await _new_invoice(client, Customer={"Name": "Nobody", "VATNumber": "BE0202239951"})
        response = await client.post(
            "/v1/orders/commands/send", json={"TransportType": "Peppol", "OrderIds": [good, bad]}
        )
        untouched = (await client.get(f"/v1/orders/{good}")).json()
    assert response.status_code == 400
    assert _errors(response) == [
        {"Code": "TheCustomerIsNotActiveOnPeppol", "Description": "The customer is not active on Peppol."}
    ]
    assert untouched["IsSent"] is False
    assert untouched["Messages"] == []


async def test_send_without_transport_falls_back_to_email_unless_strict(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        order_id = await _new_invoice(client)
        strict = await client.post(
            "/v1/orders/commands/send", json={"OrderIDs": [order_id]}, headers={"StrictTransportType": "true"}
        )
        lenient = await client.post("/v1/orders/commands/send", json={"OrderIDs": [order_id]})
        order = (await client.get(f"/v1/orders/{order_id}")).json()
    assert strict.status_code == 400
    assert lenient.status_code == 200
    assert order["Messages"][0]["TransportType"] == "SMTP"
    assert order["Messages"][0]["Destination"] == "ap@billit.example"


async def test_send_of_an_order_of_another_company_answers_401(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        response = await client.post("/v1/orders/commands/send", json={"OrderIDs": [3610451]})
    assert response.status_code == 401


async def test_delivery_errors_can_be_simulated() -> None:
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW, delivery_delay_s=0, delivery_error_rate=1.0)
    sandbox.register_participant("9925:BE0563846944")
    async with asgi_client(sandbox) as client:
        order_id = await _new_invoice(client)
        await client.post("/v1/orders/commands/send", json={"Transporttype": "Peppol", "OrderIDs": [order_id]})
        order = (await client.get(f"/v1/orders/{order_id}")).json()
    details = order["CurrentDocumentDeliveryDetails"]
    assert details["DocumentDeliveryStatus"] == "Error"
    assert details["DocumentRefusedReasonTC"] == "InvalidInvoice"
    assert "DocumentRefusedDate" in details


# ------------------------------------------------------------------------------------------------------------
# Peppol lookups, files, account


@pytest.mark.parametrize(
    ("raw", "identifier"),
    [
        ("BE0563846944", "9925:BE0563846944"),
        ("0563846944", "0208:0563846944"),
        ("0088:5430003799999", "0088:5430003799999"),
    ],
)
async def test_participant_lookup_infers_the_scheme(sandbox: Sandbox, raw: str, identifier: str) -> None:
    async with asgi_client(sandbox) as client:
        body = (await client.get(f"/v1/peppol/participantInformation/{raw}")).json()
    assert body == {"Registered": False, "Identifier": identifier, "DocumentTypes": [], "ServiceDetails": []}


async def test_participant_lookup_answers_registered_receivers(sandbox: Sandbox) -> None:
    registered = next(key for key, value in sandbox.registry.items() if value["Registered"])
    async with asgi_client(sandbox) as client:
        body = (await client.get(f"/v1/peppol/participantInformation/{registered}")).json()
    assert body["Registered"] is True
    assert body["Identifier"] == registered
    assert body["DocumentTypes"]


async def test_files_serve_base64_stub_pdfs_and_xml(sandbox: Sandbox) -> None:
    peppol_purchase = next(
        o for o in sandbox.orders.values() if o.get("ExternalProvider") == "Peppol" and o["CompanyID"] == PARTY_ID
    )
    async with asgi_client(sandbox) as client:
        pdf = (await client.get("/v1/files/00000000-0000-4000-8000-000002610451")).json()
        xml = (await client.get(f"/v1/files/{peppol_purchase['Attachments'][0]['FileID']}")).json()
        foreign = await client.get("/v1/files/00000000-0000-4000-8000-000003610451")
        unknown = await client.get("/v1/files/00000000-0000-4000-8000-999999999999")
    assert list(pdf) == ["FileID", "FileName", "MimeType", "FileContent"]
    assert pdf["MimeType"] == "application/pdf"
    assert base64.b64decode(pdf["FileContent"]).startswith(b"%PDF-1.4")
    assert xml["MimeType"] == "text/xml"
    assert b"<Invoice" in base64.b64decode(xml["FileContent"]) or b"<CreditNote" in base64.b64decode(xml["FileContent"])
    assert foreign.status_code == 401
    assert unknown.status_code == 404


async def test_posted_json_is_stored_as_an_attachment(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        order_id = await _new_invoice(client)
        order = (await client.get(f"/v1/orders/{order_id}")).json()
        stored = (await client.get(f"/v1/files/{order['Attachments'][-1]['FileID']}")).json()
    assert json.loads(base64.b64decode(stored["FileContent"])) == json.loads(json.dumps(invoice_body()))


async def test_account_information_lists_the_companies_of_the_key(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox, headers={"ApiKey": API_KEY}) as client:
        body = (await client.get("/v1/account/accountInformation")).json()
    assert [c["PartyID"] for c in body["Companies"]] == [PARTY_ID, SECOND_PARTY_ID]
    assert body["Email"]


# ------------------------------------------------------------------------------------------------------------
# Admin routes


async def test_admin_touch_bumps_last_modified_and_stats_count_requests(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        await client.get("/v1/orders/2610451")
        touched = (await client.post("/_sandbox/orders/2610451/touch", json={"Paid": True})).json()
        order = (await client.get("/v1/orders/2610451")).json()
        stats = (await client.get("/_sandbox/stats")).json()
    assert order["LastModified"] == touched["LastModified"]
    assert order["Paid"] is True
    assert stats["requests"]["GET /v1/orders/{id}"]["200"] == 2
    assert stats["orders_per_company"][str(PARTY_ID)] == 55


def test_the_clock_is_strictly_increasing_even_when_frozen() -> None:
    sandbox = Sandbox(clock=fixed_clock(), seed_start=FIXED_NOW)
    first, second = sandbox.now(), sandbox.now()
    assert second > first
    assert (second - first).microseconds == 1


async def test_peppol_inbox_serves_the_ten_oldest_items_until_confirmed(sandbox: Sandbox) -> None:
    async with asgi_client(sandbox) as client:
        first = (await client.get("/v1/peppol/inbox")).json()["InboxItems"]
        oldest = first[0]
        confirmed = await client.post(f"/v1/peppol/inbox/{oldest['InboxItemID']}/confirm")
        refused = await client.post(f"/v1/peppol/inbox/{first[1]['InboxItemID']}/refuse", json={"RefusalReason": "dup"})
        again = (await client.get("/v1/peppol/inbox")).json()["InboxItems"]
        unknown = await client.post("/v1/peppol/inbox/1/confirm")
        document = (await client.get(f"/v1/files/{oldest['PeppolFileID']}")).json()
    assert 0 < len(first) <= 10
    assert [item["CreationDate"] for item in first] == sorted(item["CreationDate"] for item in first)
    assert list(oldest) == [
        "InboxItemID",
        "SenderPeppolID",
        "PeppolDocumentType",
        "ReceiverPeppolID",
        "ReceiverCompanyID",
        "CreationDate",
        "PeppolFileID",
    ]
    assert confirmed.status_code == 200 and refused.status_code == 200
    assert oldest["InboxItemID"] not in [item["InboxItemID"] for item in again]
    assert unknown.status_code == 404
    assert document["MimeType"] == "text/xml"
