"""Credentials with stray whitespace or bad characters, and servers that are not Billit, never leak the key.

A key read from a file or a secret store often ends in a newline; a BILLIT_BASE_URL may point at a web site or
at a service that echoes our request headers back. Settings clean or refuse the key by name, and the client
redacts it from every text an error or a log line is built from.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import ValidationError

from connectors.billit import (
    BillitClient,
    BillitError,
    BillitNotFoundError,
    BillitProtocolError,
    BillitServerError,
    BillitTransportError,
    BillitValidationError,
    ODataQuery,
    SettingsError,
    load_settings,
)
from connectors.billit.settings import BillitSettings
from sandbox.identity import API_KEY, PARTY_ID
from sandbox.server import SandboxServer
from sandbox.store import Sandbox
from tests.sandbox.sandbox_helpers import FIXED_NOW

COMPANY = PARTY_ID
KEY = "sk-LEAKCHECK-7f3a9"  # distinctive, so a leak is easy to find
# Every character JSON or a bytes repr escapes: a leak in an escaped form must be caught too.
AWKWARD_KEY = "sk-LEAKCHECK/7f3a9\\\"x'y"
ECHO_KEYS = [pytest.param(KEY, id="plain-key"), pytest.param(AWKWARD_KEY, id="awkward-key")]
HTML_PAGE = "\n".join(
    [
        "<!DOCTYPE html>",
        "<html>",
        "<head>",
        '  <meta charset="utf-8">',
        "  <title>Welcome to nginx!</title>",
        "</head>",
        "<body>",
        "  <h1>Welcome to nginx!</h1>",
        "  <p>If you see this page, the nginx web server is",
        "  successfully installed and working.</p>",
        "  <p>For online documentation please refer to",
        '  <a href="http://nginx.org/">nginx.org</a>.</p>',
        "  <p><em>Thank you for using nginx.</em></p>",
        "</body>",
        "</html>",
        "",
    ]
)


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(seed=3, orders=20, seed_start=FIXED_NOW, api_keys=(API_KEY, KEY))) as running:
        yield running


class RecordingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, remembering the ApiKey header of every request sent."""

    def __init__(self) -> None:
        self._http = httpx.AsyncHTTPTransport()
        self.api_keys: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.api_keys.append(request.headers["ApiKey"])
        return await self._http.handle_async_request(request)

    async def aclose(self) -> None:
        await self._http.aclose()


def echo_client(key: str, respond: Callable[[httpx.Request, str], httpx.Response]) -> BillitClient:
    """A client whose server answers `respond(request, headers_text)`: a service that echoes our headers."""

    def handler(request: httpx.Request) -> httpx.Response:
        return respond(request, json.dumps(dict(request.headers)))

    settings = load_settings(
        base_url="http://echo.invalid", api_key=key, party_id=COMPANY, max_retries=2, backoff_base_s=0.01
    )
    return BillitClient(settings, transport=httpx.MockTransport(handler))


def error_texts(error: BaseException) -> list[str]:
    return [
        str(error),
        repr(error),
        repr(error.__cause__),
        repr(error.__context__),
        *(str(detail) for detail in getattr(error, "details", ())),
    ]


# ---- settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [f"{KEY}\n", f" {KEY} ", f"\t{KEY}", f"{KEY}\r\n"])
async def test_a_key_with_surrounding_whitespace_works_and_is_sent_stripped(server: SandboxServer, raw: str) -> None:
    settings = load_settings(base_url=server.base_url, api_key=raw, party_id=COMPANY)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == KEY
    transport = RecordingTransport()
    async with BillitClient(settings, transport=transport) as billit:
        account = await billit.account_information()
        page = await billit.list_page(ODataQuery(top=5))
    assert account and page.items
    assert transport.api_keys == [KEY, KEY]


def test_a_key_read_from_the_environment_with_a_trailing_newline_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLIT_API_KEY", f"{KEY}\n")
    monkeypatch.setenv("BILLIT_PARTY_ID", f"{COMPANY}")
    settings = load_settings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == KEY


def test_a_bearer_token_is_stripped_too() -> None:
    settings = load_settings(bearer_token=f" {KEY}\n", party_id=COMPANY)
    assert settings.bearer_token is not None and settings.bearer_token.get_secret_value() == KEY


@pytest.mark.parametrize("blank", [" ", "\n", "\t \r\n", ""])
def test_a_blank_key_counts_as_not_set(blank: str) -> None:
    with pytest.raises(SettingsError, match="set exactly one of BILLIT_API_KEY or BILLIT_BEARER_TOKEN") as failure:
        load_settings(api_key=blank, party_id=COMPANY)
    assert "\n" not in str(failure.value)
    settings = load_settings(api_key=blank, bearer_token=KEY, party_id=COMPANY)
    assert settings.api_key is None


@pytest.mark.parametrize("field", ["api_key", "bearer_token"])
@pytest.mark.parametrize("bad", ["ké y", "key\x00x", "a\nb", f"{KEY}\x7f", f"{KEY}\u00e9", f"{KEY}\tsecond"])
def test_a_key_no_http_header_can_carry_is_refused_in_one_line_naming_the_variable(field: str, bad: str) -> None:
    with pytest.raises(SettingsError) as failure:
        load_settings(**{field: bad}, party_id=COMPANY)
    message = str(failure.value)
    assert f"BILLIT_{field.upper()}: contains characters an HTTP header cannot carry (only printable ASCII)" in message
    assert "\n" not in message
    assert bad.strip() not in message and repr(bad)[1:-1] not in message
    assert KEY not in message and "LEAKCHECK" not in message


def test_a_validation_error_of_the_settings_object_itself_never_shows_the_key() -> None:
    with pytest.raises(ValidationError) as failure:
        BillitSettings.model_validate({"api_key": f"{KEY}\u00e9", "party_id": COMPANY})
    assert "LEAKCHECK" not in str(failure.value) and "LEAKCHECK" not in repr(failure.value)


def test_the_base_url_is_stripped(server: SandboxServer) -> None:
    settings = load_settings(base_url=f"  {server.base_url}\n", api_key=KEY, party_id=COMPANY)
    assert settings.base_url == server.base_url


@pytest.mark.parametrize(
    "bad",
    [
        "api.billit.be",
        "http://",
        "https://api.billit.be:99999",
        "http://api billit.be",
        "ftp://api.billit.be",
        "http://api.billit.be/\u00e9",
    ],
)
def test_a_malformed_base_url_is_one_line_naming_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError, match="BILLIT_BASE_URL: ") as failure:
        load_settings(base_url=bad, api_key=KEY, party_id=COMPANY)
    assert "\n" not in str(failure.value)
    assert "LEAKCHECK" not in str(failure.value)


# ---- servers that echo our headers -------------------------------------------------------------------------


def json_errors(status: int) -> Callable[[httpx.Request, str], httpx.Response]:
    def respond(request: httpx.Request, headers: str) -> httpx.Response:
        body = {"errors": [{"Code": "BadRequest", "Description": f"request headers were {headers}"}]}
        return httpx.Response(status, json=body)

    return respond


def plain_text(status: int) -> Callable[[httpx.Request, str], httpx.Response]:
    def respond(request: httpx.Request, headers: str) -> httpx.Response:
        text = f"Refused ApiKey {request.headers['ApiKey']}.\nHeaders:\n{headers}\n"
        return httpx.Response(status, text=text, headers={"Content-Type": "text/plain"})

    return respond


def html_page(status: int) -> Callable[[httpx.Request, str], httpx.Response]:
    def respond(request: httpx.Request, headers: str) -> httpx.Response:
        key = request.headers["ApiKey"]
        page = HTML_PAGE.replace("Welcome to nginx!</title>", f"echo {key}</title>").replace(
            "<body>", f"<body><pre>{headers}</pre>"
        )
        return httpx.Response(status, text=page, headers={"Content-Type": "text/html; charset=utf-8"})

    return respond


@pytest.mark.parametrize("key", ECHO_KEYS)
@pytest.mark.parametrize(
    ("respond", "expected"),
    [
        pytest.param(json_errors(400), BillitValidationError, id="json-400"),
        pytest.param(json_errors(500), BillitServerError, id="json-500"),
        pytest.param(plain_text(400), BillitValidationError, id="text-400"),
        pytest.param(plain_text(503), BillitServerError, id="text-503"),
        pytest.param(html_page(404), BillitNotFoundError, id="html-404"),
        pytest.param(html_page(502), BillitServerError, id="html-502"),
        pytest.param(html_page(200), BillitProtocolError, id="html-200"),
        pytest.param(plain_text(200), BillitProtocolError, id="text-200"),
    ],
)
async def test_a_server_echoing_our_headers_never_puts_the_key_in_errors_or_logs(
    key: str,
    respond: Callable[[httpx.Request, str], httpx.Response],
    expected: type[BillitError],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with echo_client(key, respond) as billit:
        with pytest.raises(expected) as failure:
            await billit.get_order(1)
    texts = [*error_texts(failure.value), caplog.text]
    assert all(key not in text and "LEAKCHECK" not in text for text in texts), texts
    assert "\n" not in str(failure.value)


async def test_billits_own_json_errors_are_kept_with_the_key_replaced() -> None:
    async with echo_client(KEY, json_errors(400)) as billit:
        with pytest.raises(BillitValidationError) as failure:
            await billit.get_order(1)
    assert failure.value.codes == ("BadRequest",)
    assert '"apikey": "***"' in str(failure.value)


@pytest.mark.parametrize("key", ECHO_KEYS)
async def test_a_transport_error_quoting_the_header_never_puts_the_key_in_errors_or_logs(
    key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """httpx (h11) quotes a header value it refuses: `Illegal header value b'...'`."""
    caplog.set_level(logging.DEBUG)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError(f"Illegal header value {request.headers['ApiKey'].encode()!r}")

    settings = load_settings(
        base_url="http://refusing.invalid", api_key=key, party_id=COMPANY, max_retries=2, backoff_base_s=0.01
    )
    async with BillitClient(settings, transport=httpx.MockTransport(refuse)) as billit:
        with pytest.raises(BillitTransportError) as failure:
            await billit.get_order(1)
        assert billit.retries == 2
    assert str(failure.value) == "GET /v1/orders/1: LocalProtocolError: Illegal header value b'***'"
    texts = [*error_texts(failure.value), caplog.text]
    assert "retry 2/2" in caplog.text
    assert all("LEAKCHECK" not in text for text in texts), texts


# ---- servers that are not Billit -------------------------------------------------------------------------


async def test_a_web_page_at_the_base_url_is_described_in_one_line_not_dumped() -> None:
    def web_site(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=HTML_PAGE, headers={"Content-Type": "text/html"})

    settings = load_settings(base_url="http://www.example.invalid", api_key=KEY, party_id=COMPANY)
    async with BillitClient(settings, transport=httpx.MockTransport(web_site)) as billit:
        with pytest.raises(BillitProtocolError) as failure:
            await billit.list_page(ODataQuery(top=5))
    size = len(HTML_PAGE.encode())
    assert str(failure.value) == (
        f"GET /v1/orders: the answer is an HTML page of {size:,} bytes titled 'Welcome to nginx!', not JSON: "
        "is BILLIT_BASE_URL a Billit API root?"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Found from the outside: a cut answer was blamed on BILLIT_BASE_URL ("a application/json body ... not
        # JSON: is BILLIT_BASE_URL a Billit API root?"), and an empty one was "got NoneType".
        (
            '{"OrderID": 1, "OrderNum',
            "the answer is JSON cut short or malformed (an application/json body of 24 bytes; Unterminated string "
            "starting at: character 15)",
        ),
        ("", "expected an order object, got an empty body or null"),
        ("null", "expected an order object, got an empty body or null"),
        ("[1]", "expected an order object, got a JSON array"),
        ("hello", "the answer is an application/json body of 5 bytes, not JSON: is BILLIT_BASE_URL a Billit API root?"),
    ],
)
async def test_an_order_answer_cut_short_or_empty_says_what_it_is(body: str, expected: str) -> None:
    failure = await order_failure(httpx.Response(200, text=body, headers={"Content-Type": "application/json"}))
    assert isinstance(failure, BillitProtocolError) and str(failure) == f"GET /v1/orders/1: {expected}"


async def order_failure(answer: httpx.Response) -> Exception:
    """What `get_order(1)` raises when Billit's base URL gives `answer`."""
    settings = load_settings(base_url="http://www.example.invalid", api_key=KEY, party_id=COMPANY)
    async with BillitClient(settings, transport=httpx.MockTransport(lambda request: answer)) as billit:
        with pytest.raises(Exception) as failure:
            await billit.get_order(1)
    return failure.value


async def test_a_not_found_web_page_is_described_in_one_line_not_dumped() -> None:
    failure = await order_failure(httpx.Response(404, text=HTML_PAGE, headers={"Content-Type": "text/html"}))
    assert isinstance(failure, BillitNotFoundError)
    message = str(failure)
    assert "\n" not in message and "<" not in message and len(message) < 250
    assert message.endswith(
        f"an HTML page of {len(HTML_PAGE.encode()):,} bytes titled 'Welcome to nginx!', not JSON: "
        "is BILLIT_BASE_URL a Billit API root?"
    )


async def test_a_long_plain_text_error_is_cut_to_one_short_line() -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, text="Bad request\r\n" + "because " * 200)

    settings = load_settings(base_url="http://gateway.invalid", api_key=KEY, party_id=COMPANY)
    async with BillitClient(settings, transport=httpx.MockTransport(gateway)) as billit:
        with pytest.raises(BillitValidationError) as failure:
            await billit.get_order(1)
    (detail,) = failure.value.details
    assert detail.code == "UnparsedError"
    assert detail.description is not None and detail.description.startswith("Bad request because because")
    assert len(detail.description) <= 200 and "\n" not in str(failure.value)


async def test_a_next_page_link_quoting_the_key_is_reported_without_it() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"Items": [{"OrderID": 1}], "NextPageLink": f"http://x/elsewhere?k={KEY}"})

    settings = load_settings(base_url="http://www.example.invalid", api_key=KEY, party_id=COMPANY)
    async with BillitClient(settings, transport=httpx.MockTransport(echo)) as billit:
        with pytest.raises(BillitProtocolError) as failure:
            async for _ in billit.iter_order_pages():
                pass
    assert "LEAKCHECK" not in str(failure.value) and "/v1" in str(failure.value)


@pytest.mark.parametrize("key", ["clé-1", "a\nb", " "])
async def test_an_idempotency_key_no_header_can_carry_is_refused_before_any_request(key: str) -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    settings = load_settings(base_url="http://www.example.invalid", api_key=KEY, party_id=COMPANY)
    async with BillitClient(settings, transport=httpx.MockTransport(never)) as billit:
        with pytest.raises(ValueError, match="printable ASCII"):
            await billit.create_order({"OrderType": "Invoice"}, idempotency_key=key)


@pytest.mark.parametrize(
    "echo",
    [
        lambda key: f"<html><title>Denied {__import__('html').escape(key)}</title></html>",
        lambda key: f'{{"Message": "key {key.upper()} / {key.lower()} refused"}}',
        lambda key: f'{{"Message": "see /login?k={__import__("urllib.parse").parse.quote(key, safe="")}"}}',
    ],
)
async def test_a_key_echoed_escaped_or_in_another_case_is_redacted(echo: Callable[[str], str]) -> None:
    special = "PRB'K3y&7q9zX/a+b"

    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=echo(special))

    settings = load_settings(base_url="http://www.example.invalid", api_key=special, party_id=COMPANY)
    async with BillitClient(settings, transport=httpx.MockTransport(server)) as billit:
        with pytest.raises(BillitError) as failure:
            await billit.list_page(ODataQuery(top=1))
    text = str(failure.value).lower()
    assert "k3y" not in text and "***" in text


@pytest.mark.parametrize("url", ["https://api.billit.be/v1", "http://127.0.0.1:8765/v1/"])
def test_a_base_url_ending_in_v1_is_refused_with_the_fix(url: str) -> None:
    with pytest.raises(SettingsError, match="BILLIT_BASE_URL: must be the API root without /v1"):
        load_settings(base_url=url, api_key=KEY, party_id=COMPANY)


@pytest.mark.parametrize(
    "escape",
    [
        lambda key: "".join(f"&#{ord(char)};" for char in key),  # all-numeric references
        lambda key: key.replace("'", "&#39;").replace("&", "&amp;"),  # ASP.NET's spelling of the quote
        lambda key: __import__("html").escape(__import__("html").escape(key)).upper(),  # escaped twice, upper case
    ],
)
async def test_a_key_echoed_in_any_html_spelling_is_redacted(escape: Callable[[str], str]) -> None:
    special = "Zq9<&>\"'SECRETcore7"

    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=f"<html><title>Invalid ApiKey {escape(special)}</title></html>")

    settings = load_settings(base_url="http://www.example.invalid", api_key=special, party_id=COMPANY)
    async with BillitClient(settings, transport=httpx.MockTransport(server)) as billit:
        with pytest.raises(BillitError) as failure:
            await billit.list_page(ODataQuery(top=1))
    assert "secretcore" not in str(failure.value).lower() and "***" in str(failure.value)
