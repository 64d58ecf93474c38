"""Billit's webhook signature: `Billit-Signature: t=<unix seconds>,s=<hex>`, the lowercase hex HMAC-SHA256 of
`"<t>.<raw body>"` keyed with the webhook's secret (docs/reference/billit-api.md#webhooks).

Each registered webhook has its own secret, so a receiver holds several (`WebhookID -> secret`) and accepts a call
signed by any of them. Every secret is tried, and compared in constant time, whatever matched first: how long a
refusal takes says nothing about which secret came close. A rejection's reason never quotes a secret or a mac.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

SIGNATURE_HEADER = "Billit-Signature"
#: How far the signed time may be from ours, either way, before a call is refused as stale (or from the future).
DEFAULT_TOLERANCE_S = 300

_HEX_MAC = re.compile(r"[0-9a-f]{64}")


class SignatureRejected(ValueError):
    """The call is not signed by a webhook of ours, or not recently; the message says which, in one line."""


@dataclass(frozen=True)
class Signed:
    """A verified call: the webhook whose secret signed it, the signed time, and the mac (to recognise a replay)."""

    webhook_id: str
    timestamp: int
    mac: str


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Billit-Signature` header value Billit sends with `body` at `timestamp`."""
    return f"t={timestamp},s={_mac(secret, body, timestamp)}"


def verify(
    header: str | None,
    body: bytes,
    secrets: Mapping[str, str],
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> Signed:
    """The webhook of `secrets` (WebhookID -> secret) that signed `body`; `SignatureRejected` if none did, or if
    the signed time is more than `tolerance_s` away from `now`."""
    if not header:
        raise SignatureRejected(f"no {SIGNATURE_HEADER} header")
    timestamp, macs = _parse(header)
    if abs(now - timestamp) > tolerance_s:
        raise SignatureRejected(f"signed at {timestamp}, more than {tolerance_s:g} s from now ({int(now)})")
    if not secrets:
        raise SignatureRejected("no webhook secret is configured (BILLIT_WEBHOOK_SECRETS)")
    matched: Signed | None = None
    for webhook_id, secret in secrets.items():
        expected = _mac(secret, body, timestamp)
        for mac in macs:
            if hmac.compare_digest(expected, mac) and matched is None:
                matched = Signed(webhook_id, timestamp, mac)
    if matched is None:
        raise SignatureRejected("the signature matches no webhook secret")
    return matched


def _parse(header: str) -> tuple[int, list[str]]:
    """`t=<digits>,s=<hex>` (split on commas, then on the first `=`; names and hex digits in either case, spaces
    around them ignored); several `s` are all tried."""
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        name, value = name.strip().lower(), value.strip()
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == "s" and _HEX_MAC.fullmatch(value.lower()):
            macs.append(value.lower())
    if timestamp is None or not macs:
        raise SignatureRejected(f"{SIGNATURE_HEADER} is not of the form t=<unix time>,s=<64 hex digits>")
    return timestamp, macs


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
