"""Billit's webhook signature, `t=<unix>,s=<hex HMAC-SHA256(secret, "t.body")>` (docs/reference/billit-api.md)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from connectors.billit.webhook_signature import SignatureRejected, sign, verify

BODY = b'{"UpdatedEntityID":690998,"UpdatedEntityType":"Message","WebhookUpdateTypeTC":"I"}'
SECRETS = {"81001": "first secret", "81002": "second secret"}
NOW = 1_800_000_000


def test_the_mac_is_the_hmac_sha256_of_the_time_a_dot_and_the_raw_body_in_lowercase_hex() -> None:
    expected = hmac.new(b"second secret", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign("second secret", BODY, NOW) == f"t={NOW},s={expected}"


def test_a_call_signed_by_any_of_our_webhooks_is_theirs() -> None:
    signed = verify(sign("second secret", BODY, NOW), BODY, SECRETS, now=NOW + 10)
    assert (signed.webhook_id, signed.timestamp) == ("81002", NOW)


@pytest.mark.parametrize(
    "header",
    [
        lambda h: h.upper(),  # names and hex in upper case (.NET's Convert.ToHexString)
        lambda h: h.replace(",", " , "),  # spaces around the parts
        lambda h: f"{h},s={'0' * 64}",  # several macs: one of them is ours
    ],
)
def test_spellings_of_the_same_signature_verify(header: object) -> None:
    assert callable(header)
    assert verify(header(sign("first secret", BODY, NOW)), BODY, SECRETS, now=NOW).webhook_id == "81001"


@pytest.mark.parametrize(
    ("header", "now", "reason"),
    [
        (None, NOW, "no Billit-Signature header"),
        ("garbage", NOW, "not of the form"),
        (f"t={NOW},s=abc", NOW, "not of the form"),
        (sign("first secret", BODY, NOW), NOW + 301, "more than 300 s from now"),
        (sign("first secret", BODY, NOW + 301), NOW, "more than 300 s from now"),
        (sign("another secret", BODY, NOW), NOW, "matches no webhook secret"),
        (sign("first secret", BODY + b" ", NOW), NOW, "matches no webhook secret"),  # the body changed
    ],
)
def test_what_is_refused_says_why_in_one_line_without_a_secret(header: str | None, now: int, reason: str) -> None:
    with pytest.raises(SignatureRejected, match=reason) as refused:
        verify(header, BODY, SECRETS, now=now)
    assert "\n" not in str(refused.value)
    assert not any(secret in str(refused.value) for secret in SECRETS.values())


def test_without_a_secret_configured_nothing_verifies() -> None:
    with pytest.raises(SignatureRejected, match="BILLIT_WEBHOOK_SECRETS"):
        verify(sign("first secret", BODY, NOW), BODY, {}, now=NOW)
