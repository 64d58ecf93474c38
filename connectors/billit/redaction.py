"""Keeping Billit credentials out of every text an error or a log line is built from.

The client redacts each text it takes from the other side (a transport error, an error body, a body it cannot
parse, a NextPageLink) before building an error from it, so even a server that echoes our request headers back,
escaped in any way, cannot put the key into a log.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote, quote_plus

from connectors.billit.settings import BillitSettings

REDACTED = "***"


class Redactor:
    """Replaces every credential of one `BillitSettings` in a text by `***`."""

    def __init__(self, settings: BillitSettings) -> None:
        self._secrets = _secret_forms(settings)

    def __call__(self, text: str) -> str:
        """`text` with every credential replaced by `***`, in any letter case. HTML character references are
        decoded first (a server may write `'` as `&#39;`, `&#x27;` or escape it twice)."""
        if self._secrets is None:
            return text
        for _ in range(3):
            decoded = html.unescape(text)
            if decoded == text:
                break
            text = decoded
        return self._secrets.sub(REDACTED, text)

    def __repr__(self) -> str:
        return "Redactor()"


def _secret_forms(settings: BillitSettings) -> re.Pattern[str] | None:
    """Each credential as an error text may carry it: as is, inside a bytes repr (h11's "Illegal header value
    b'...'"), JSON-, HTML- or URL-escaped (a server echoing our headers), matched in any letter case; longest
    first."""
    forms: set[str] = set()
    for secret in (settings.api_key, settings.bearer_token):
        value = secret.get_secret_value() if secret is not None else ""
        if value:
            escaped = json.dumps(value)[1:-1]
            forms |= {
                value,
                repr(value.encode())[2:-1],
                escaped,
                escaped.replace("/", "\\/"),
                html.escape(value),
                html.escape(value, quote=False),
                quote(value, safe=""),
                quote_plus(value),
            }
    if not forms:
        return None
    return re.compile("|".join(map(re.escape, sorted(forms, key=len, reverse=True))), re.IGNORECASE)
