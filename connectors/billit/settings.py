"""Typed configuration of the Billit connector, read from `BILLIT_*` environment variables (or `.env`).

Every knob is listed in `.env.example`. `load_settings()` turns pydantic's validation errors into one
`SettingsError` that names the environment variable to fix and never echoes a secret back.

`BILLIT_PARTY_ID` is optional: an accountant's key reaches many companies and has no one of its own
(docs/reference/billit-api.md#companies). A call that acts for one company asks `require_party_id()`, which fails
with `NoCompanyError` (one line: what to set) before any request when none is configured or chosen.

Credentials often come from a file or a secret store with a trailing newline: surrounding whitespace is dropped,
an empty value counts as unset, and a value an HTTP header cannot carry is refused here, by name, instead of
failing later inside httpx with the key quoted in the error.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BILLIT_"
SANDBOX_BASE_URL = "https://api.sandbox.billit.be"
PRODUCTION_BASE_URL = "https://api.billit.be"

# What an HTTP header value may carry without escaping: printable ASCII (RFC 9110 field-vchar and inner spaces).
_HEADER_VALUE = re.compile(r"[\x20-\x7e]*")


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


#: What to do when a call acts for one company and none was configured or chosen.
NO_COMPANY = f"no Billit company to act for: set {ENV_PREFIX}PARTY_ID or pass --companies/--company"


class NoCompanyError(SettingsError):
    """A call that acts for one company, without one: the key may reach many, so none is guessed."""


class BillitSettings(BaseSettings):
    """How to reach Billit and how hard to push it."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,  # `BILLIT_PARTY_ID=`, as .env.example has it, is not set
        hide_input_in_errors=True,  # a ValidationError printed as is must not show a credential either
    )

    base_url: str = Field(SANDBOX_BASE_URL, description="API root, without /v1.")
    api_key: SecretStr | None = Field(None, description="Personal API key (header ApiKey).")
    bearer_token: SecretStr | None = Field(None, description="OAuth access token, instead of an API key.")
    # PartyIDs are 32-bit integers (docs/reference/billit-api.md#serialization): a larger one is a typo, caught here
    # rather than as a database's overflow.
    party_id: int | None = Field(
        None, gt=0, lt=2**31, description="Company the calls act on (header PartyID); unset: name them (--companies)."
    )
    context_party_id: int | None = Field(None, gt=0, lt=2**31, description="Accountant's own company (ContextPartyID).")
    timeout_s: float = Field(30.0, gt=0, description="Read/write/pool timeout per request attempt.")
    connect_timeout_s: float = Field(10.0, gt=0, description="TCP/TLS connect timeout.")
    max_concurrency: int = Field(8, ge=1, le=64, description="Requests in flight at once, per client.")
    # docs/reference/billit-api.md#order-lines: Billit keeps 2 decimals of a quantity, 5 when the company enables
    # it, and ignores the others: a push refuses a row it would change rather than let its totals move.
    quantity_decimals: int = Field(2, description="Decimals of a quantity the company's Billit keeps: 2 or 5.")
    # Many short steps rather than a few long ones: the other requests go on while one waits, so a long step
    # spares Billit nothing and only stretches the run's tail (a 429 pauses everyone through Retry-After
    # instead); 20 retries from 0.25 s, capped at 1 s, still ride out about 14 s of failures.
    max_retries: int = Field(20, ge=0, le=50, description="Retries of one request on 429, 5xx and I/O errors.")
    backoff_base_s: float = Field(0.25, gt=0, description="First backoff step; doubles each retry, full jitter.")
    backoff_max_s: float = Field(1.0, gt=0, description="Upper bound of one backoff step.")
    max_retry_after_s: float = Field(
        300.0, gt=0, description="Longest Retry-After honoured; a longer one fails the request instead."
    )
    # docs/reference/billit-api.md#rate-limits: Billit documents no limit, so by default the pace is learnt from
    # 429s; a rate set here is never exceeded by all the clients sharing the key (connectors.billit.ratelimit).
    max_requests_per_s: float | None = Field(
        None, gt=0, description="Requests a second, all clients of this API key together; unset: learnt from 429s."
    )

    @field_validator("api_key", "bearer_token", mode="before")
    @classmethod
    def _clean_credential(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        if not _HEADER_VALUE.fullmatch(value):
            raise ValueError("contains characters an HTTP header cannot carry (only printable ASCII)")
        return value

    @model_validator(mode="after")
    def _backoff_steps_in_order(self) -> BillitSettings:
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError(
                f"{ENV_PREFIX}BACKOFF_BASE_S ({self.backoff_base_s:g}) is above {ENV_PREFIX}BACKOFF_MAX_S "
                f"({self.backoff_max_s:g}), the longest step"
            )
        return self

    @field_validator("quantity_decimals")
    @classmethod
    def _two_or_five(cls, value: int) -> int:
        if value not in (2, 5):  # an int, not Literal[2, 5]: the environment and .env give text, which Literal refuses
            raise ValueError(f"{value} is not 2 or 5")
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _clean_base_url(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        value = value.strip()
        try:
            parts = urlsplit(value)
            _ = parts.port  # ValueError unless a number in 0-65535
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or not _HEADER_VALUE.fullmatch(value)
            or " " in value
        ):
            raise ValueError("must be an http:// or https:// URL such as https://api.billit.be")
        if parts.path.rstrip("/").lower().endswith("/v1"):
            raise ValueError("must be the API root without /v1, e.g. https://api.billit.be")
        return value

    def require_party_id(self) -> int:
        """The company the calls act for; NoCompanyError when none is configured (an accountant's key)."""
        if self.party_id is None:
            raise NoCompanyError(NO_COMPANY)
        return self.party_id

    def request_headers(self) -> dict[str, str]:
        """The headers of every request: the credential, and the company (PartyID) when one is configured.

        Without one, only `GET /v1/account/accountInformation` may be asked: it answers for the key's user
        (docs/reference/billit-api.md#companies); the client refuses any other call before sending it."""
        headers = {"Accept": "application/json"}
        if self.party_id is not None:
            headers["PartyID"] = str(self.party_id)
        if self.api_key is not None:
            headers["ApiKey"] = self.api_key.get_secret_value()
        elif self.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.bearer_token.get_secret_value()}"
        if self.context_party_id is not None:
            headers["ContextPartyID"] = str(self.context_party_id)
        return headers

    @model_validator(mode="after")
    def _exactly_one_credential(self) -> BillitSettings:
        if (self.api_key is None) == (self.bearer_token is None):
            raise ValueError(
                f"set exactly one of {ENV_PREFIX}API_KEY or {ENV_PREFIX}BEARER_TOKEN (an OAuth access token)"
            )
        return self


def load_settings(**overrides: object) -> BillitSettings:
    """Read the settings from the environment, failing with a message that names each bad variable."""
    try:
        return BillitSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = [str(part) for part in error["loc"] if part != "__root__"]
            variable = ENV_PREFIX + location[0].upper() if location else "settings"
            message = " ".join(error["msg"].removeprefix("Value error, ").split())
            problems.append(f"{variable}: {message}" if location else message)
        raise SettingsError("invalid Billit settings: " + "; ".join(problems)) from None
