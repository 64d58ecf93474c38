"""The pipeline's runtime: the warehouse Engine, the Billit settings and the global-limit slots, built in one place.

Everything in `tasks/` and `flows/` gets its Engine from `warehouse_engine()` and its Billit settings from
`billit_settings()`. Both read the typed settings (`WAREHOUSE_URL`, `BILLIT_*`, from the environment or `.env`);
a caller that knows better (the CLI's `--warehouse-url`, the demo's sandbox) says so with `configured(...)`, which
holds for the block it wraps, in this process only (threads of a Prefect flow run included), and writes nothing to
the environment.

What is heavy is imported here only when it is needed, so a command pays only for what it uses: the Billit
connector (httpx) when Billit settings are asked for (`billit-etl status` never does), and Prefect for the Secret
blocks, when the environment has no Billit credential (or no webhook secrets, `load_webhook_secrets`) and a Prefect
server is configured, and for the global-limit slots, which only the Prefect tasks take: the plain path never
imports Prefect.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from connectors.warehouse import WarehouseError, create_warehouse_engine
from connectors.warehouse.engine import WAREHOUSE_URL_ENV, WarehouseSettings

if TYPE_CHECKING:
    from connectors.billit import BillitSettings

#: Prefect Secret block holding the Billit API key, used when the environment has no credential.
API_KEY_BLOCK = "billit-api-key"

#: Global concurrency limit shared by every flow that calls Billit (create it once:
#: `prefect gcl create billit-api --limit 16`). Each task holds as many slots as its client may have requests
#: in flight, so all flows together never exceed the limit. Without the limit, tasks run unrestricted.
BILLIT_API_LIMIT = "billit-api"


class RuntimeSettings(BaseSettings):
    """How the pipeline finds what is not Billit's or the warehouse's own setting."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    # On a Prefect server, the Secret block holding the API key when BILLIT_API_KEY is not set.
    api_key_block: str = Field(default=API_KEY_BLOCK, validation_alias="BILLIT_API_KEY_BLOCK")
    # When set, CLI commands run as flows on this Prefect server (`--prefect/--no-prefect` overrides it).
    prefect_api_url: str | None = Field(default=None, validation_alias="PREFECT_API_URL")


class _CompanySetting(BaseSettings):
    """BILLIT_PARTY_ID read alone (environment, else .env), for commands that read one company's books from the
    warehouse: they need neither a credential nor the Billit connector."""

    model_config = SettingsConfigDict(
        env_prefix="BILLIT_", env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    party_id: int | None = Field(default=None, gt=0)


class _Configured:
    """What `configured(...)` said, for the process: a warehouse URL and Billit settings overrides."""

    warehouse_url: str | None = None
    billit: dict[str, Any] = {}  # replaced by configured(), never mutated


@contextmanager
def configured(*, warehouse_url: str | None = None, **billit: Any) -> Iterator[None]:
    """Use this warehouse URL (when given) and these Billit settings (e.g. base_url=, api_key=, party_id=) inside
    the block, wherever the pipeline asks for them; the previous configuration comes back after it."""
    before = _Configured.warehouse_url, _Configured.billit
    _Configured.warehouse_url = warehouse_url or before[0]
    _Configured.billit = before[1] | billit
    try:
        yield
    finally:
        _Configured.warehouse_url, _Configured.billit = before


def warehouse_url(url: str | None = None) -> str:
    """The warehouse URL in force: `url`, else the configured one, else WAREHOUSE_URL (environment or .env), else
    the SQLite file."""
    return url or _Configured.warehouse_url or WarehouseSettings().url


def configured_warehouse_url() -> str | None:
    """The warehouse URL when one is configured (`configured(...)`, or WAREHOUSE_URL in the environment or .env),
    else None: for commands where a warehouse is optional."""
    settings = WarehouseSettings()
    return _Configured.warehouse_url or (settings.url if "url" in settings.model_fields_set else None)


def require_warehouse_file(why: str = "", *, url: str | None = None) -> None:
    """Refuse a warehouse URL (default: `warehouse_url()`) naming an SQLite file that does not exist, rather than
    create it, for commands that read what is there: a mistyped path would be a new, empty warehouse. `why` it
    must exist goes into the message."""
    try:
        parsed = sa.make_url(warehouse_url(url))
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        return  # warehouse_engine says what is wrong with it
    if parsed.get_backend_name() == "sqlite":
        database = (parsed.database or "").removeprefix("file:")
        if database and ":memory:" not in database and not Path(database).exists():
            raise WarehouseError(f"no warehouse at {database}: check {WAREHOUSE_URL_ENV}{f' ({why})' if why else ''}")


def configured_party_id() -> int | None:
    """The company sync and push act for when none is named (BILLIT_PARTY_ID, or what `configured` says), or None."""
    if "party_id" in _Configured.billit:
        return _Configured.billit["party_id"]  # type: ignore[no-any-return]
    try:
        return _CompanySetting().party_id
    except ValidationError:
        from connectors.billit import SettingsError  # httpx: only when the setting is wrong

        raise SettingsError(
            "invalid Billit settings: BILLIT_PARTY_ID: must be a Billit PartyID, a whole number above 0"
        ) from None


def warehouse_engine(url: str | None = None) -> sa.Engine:
    """One Engine per process and URL (default: `warehouse_url()`)."""
    return _engine_for(warehouse_url(url))


@functools.cache
def _engine_for(url: str) -> sa.Engine:
    return create_warehouse_engine(url)


def runtime_settings() -> RuntimeSettings:
    return RuntimeSettings()


def billit_settings(**overrides: Any) -> BillitSettings:
    """Billit settings from the environment (and .env); on a Prefect server, a missing API key may come from the
    Secret block `billit-api-key` (`BILLIT_API_KEY_BLOCK` names another), never from prefect.yaml."""
    from connectors.billit import SettingsError, load_settings  # httpx: only for commands that call Billit

    overrides = _Configured.billit | overrides
    try:
        return load_settings(**overrides)
    except SettingsError as missing:
        runtime = runtime_settings()
        if (
            "api_key" in overrides
            or "bearer_token" in overrides
            or not _only_the_credential_missing(missing, overrides)
            or not _prefect_server_configured(runtime)
        ):
            raise
        from prefect.blocks.system import Secret  # only here: the plain path never imports Prefect

        try:
            secret = Secret.load(runtime.api_key_block)
        except ValueError:  # no such block: where else the key may come from is the news (found from the outside)
            raise SettingsError(
                f"{missing}; nor is there a Prefect Secret block {runtime.api_key_block!r} on PREFECT_API_URL "
                "(docs/operations.md#credentials)"
            ) from None
        except Exception as exc:  # noqa: BLE001 - the server down or refusing: the missing key stays the news
            reason = next(iter(str(exc).strip().splitlines()), "")[:200]
            raise SettingsError(
                f"{missing}; nor could the Prefect Secret block {runtime.api_key_block!r} be read from "
                f"PREFECT_API_URL ({type(exc).__name__}: {reason})"
            ) from None
        try:
            return load_settings(**overrides, api_key=secret.get())  # type: ignore[union-attr]  # sync context
        except SettingsError as bad:
            raise SettingsError(
                str(bad).replace("BILLIT_API_KEY", f"the API key in the Prefect Secret block {runtime.api_key_block!r}")
            ) from None


def load_webhook_secrets() -> dict[str, str]:
    """WebhookID -> signing secret of the webhooks the receiver accepts: `BILLIT_WEBHOOK_SECRETS` (environment, else
    .env), else, on a Prefect server, the JSON in the Secret block `billit-webhook-secrets`
    (`BILLIT_WEBHOOK_SECRETS_BLOCK` names another); empty when neither holds any. Read afresh on each call, so a
    `webhooks register` or `rotate` needs no restart of whoever calls it again."""
    from connectors.billit.webhook_settings import load_webhook_settings, parse_webhook_secrets

    settings = load_webhook_settings()
    secrets = settings.secrets()
    if secrets or not _prefect_server_configured(runtime_settings()):
        return secrets
    from prefect.blocks.system import Secret  # only here: the plain path never imports Prefect

    try:
        block = Secret.load(settings.webhook_secrets_block)
    except ValueError:  # no such block: no secrets yet
        return {}
    value = block.get()  # type: ignore[union-attr]  # sync context
    return parse_webhook_secrets(value, source=f"the Prefect Secret block {settings.webhook_secrets_block!r}")


def _only_the_credential_missing(error: Exception, overrides: dict[str, Any]) -> bool:
    """Whether no credential is set and the settings would be valid with one: only then may the Secret block supply
    the key (a bad BILLIT_BASE_URL is not mended by asking a Prefect server, which may not even be there, and a key
    that is set but malformed is the operator's to correct, not to be replaced silently)."""
    from connectors.billit import SettingsError, load_settings
    from connectors.billit.settings import ENV_PREFIX

    if any(f"{ENV_PREFIX}{name}:" in str(error) for name in ("API_KEY", "BEARER_TOKEN")):
        return False  # load_settings names each bad variable: the credential is there, and wrong
    try:
        load_settings(**overrides, api_key="a-key-to-check-the-other-settings")
    except SettingsError:
        return False
    return True


def _prefect_server_configured(runtime: RuntimeSettings) -> bool:
    """A Prefect server is configured: in the environment, or in Prefect's own settings (its profile, a test
    harness), which are read only when the environment does not say."""
    if runtime.prefect_api_url:
        return True
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def prefect_by_default() -> bool:
    """Whether CLI commands run as Prefect flows when `--prefect/--no-prefect` is not given."""
    return bool(runtime_settings().prefect_api_url)


def runs_as_prefect_flow(prefect: bool | None) -> bool:
    """Whether a CLI command runs as a Prefect flow: `--prefect/--no-prefect` when given (`prefect`), else
    `prefect_by_default`."""
    return prefect_by_default() if prefect is None else prefect


#: Seconds a Prefect task waits for `billit-api` slots before its log says so (the wait goes on): slots a killed
#: worker held come back only when their lease ends, and never after a server whose leases were in memory restarted
#: (found from the outside: runs waited for good, saying nothing; docs/operations.md#stuck-slots).
SLOT_WAIT_NOTICE_S = 60.0
#: Seconds the server keeps a task's `billit-api` slots without a renewal (Prefect renews at three quarters of it).
#: Prefect's default, 300 s, kept a cancelled or killed run's slots for five minutes, and the next runs waiting for
#: them (found from the outside: a fan-out run again after a cancel took 282 s for a 23 s floor).
BILLIT_SLOT_LEASE_S = 60.0


@contextmanager
def cancelled_with_parent(children: Iterable[UUID]) -> Iterator[None]:
    """Cancel the flow runs `children` (read when the block is stopped, so it may grow inside) if the block is stopped
    by a cancellation or an interrupt (a BaseException that is not an Exception): the runs a fan-out or a backfill
    started, which Prefect leaves running to their end when the parent is cancelled. An ordinary error leaves them
    be. A run final already refuses the new state, which is all it needs; a failure to ask is left to the
    cancellation under way (that child then runs to its end)."""
    try:
        yield
    except Exception:
        raise
    except BaseException:
        from prefect import get_client  # only the Prefect parents get here
        from prefect.client.schemas.objects import State, StateType

        with get_client(sync_client=True) as client:
            for flow_run_id in list(children):
                with contextlib.suppress(Exception):
                    client.set_flow_run_state(flow_run_id, State(type=StateType.CANCELLING))
        raise


@contextmanager
def billit_api_slots() -> Iterator[None]:
    """Slots of the `billit-api` global concurrency limit for one Prefect task: as many as its client may have
    requests in flight; and, with BILLIT_MAX_REQUESTS_PER_S, a slot of the `billit-api-rate` limit per request."""
    from prefect.concurrency.sync import concurrency  # only Prefect tasks take slots
    from prefect.logging import get_run_logger

    settings = billit_settings()
    logger = get_run_logger()
    notice = threading.Timer(
        SLOT_WAIT_NOTICE_S,
        lambda: logger.warning(
            "waited %.0f s for %d slots of the %s concurrency limit and still waiting: other runs hold them, or slots "
            "held by a killed worker were not given back (prefect gcl inspect %s; docs/operations.md#stuck-slots "
            "says how to free them)",
            SLOT_WAIT_NOTICE_S,
            settings.max_concurrency,
            BILLIT_API_LIMIT,
            BILLIT_API_LIMIT,
        ),
    )
    notice.start()
    try:
        with concurrency(
            BILLIT_API_LIMIT, occupy=settings.max_concurrency, strict=False, lease_duration=BILLIT_SLOT_LEASE_S
        ):
            notice.cancel()
            with prefect_rate_gate(settings):
                yield
    finally:
        notice.cancel()


# BILLIT_MAX_REQUESTS_PER_S across the workers of a Prefect server. On one machine the clients of a key already
# share one pace (connectors.billit.ratelimit); workers on several machines share only the server, so there the
# configured rate is also the global limit `billit-api-rate` in Prefect's `rate_limit` mode: its slots decay at the
# rate, so the slots all workers take in a second, and their requests, add up to it at most. A call to the server
# costs a round trip, so slots are taken a batch at a time and handed out one per request, after the local pace.

#: The global limit every worker's requests to Billit share, when BILLIT_MAX_REQUESTS_PER_S is set.
BILLIT_RATE_LIMIT = "billit-api-rate"


class PrefectRateGate:
    """One slot of the Prefect server's rate limit per request, taken from the server `batch` at a time."""

    def __init__(self, batch: int, name: str = BILLIT_RATE_LIMIT) -> None:
        self.batch = batch
        self.name = name
        self.calls = 0  # round trips to the server, for the bench
        self._prepaid = 0
        self._lock = threading.Lock()  # the tasks of a flow run in threads, each with its event loop

    async def __call__(self) -> None:
        with self._lock:
            if self._prepaid:
                self._prepaid -= 1
                return
        from prefect.concurrency.asyncio import rate_limit

        await rate_limit(self.name, occupy=self.batch, strict=True)
        with self._lock:
            self.calls += 1
            self._prepaid += self.batch - 1


def batch_for(per_s: float) -> int:
    """Slots taken per call: at most ten calls a second, and never more than a second's worth at once."""
    return max(1, math.ceil(per_s / 10))


def ensure_concurrency_limit(name: str, slots: int) -> None:
    """Create the global concurrency limit `name` with `slots` when the Prefect server has none of that name (one
    that exists keeps its settings)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=slots))


def ensure_rate_limit(per_s: float, name: str = BILLIT_RATE_LIMIT) -> int:
    """Create or update the global limit: slots decaying at `per_s`, as many at once as one batch. The batch."""
    from prefect.client.orchestration import get_client

    batch = batch_for(per_s)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=batch, slot_decay_per_second=per_s)
    return batch


_holders = 0
_holders_lock = threading.Lock()


@contextmanager
def prefect_rate_gate(settings: BillitSettings) -> Iterator[None]:
    """While it is held, this process's requests to Billit also take slots of the server's rate limit (when a rate is
    configured); the two streams of a flow hold it at once, and the last to leave takes the gate away."""
    global _holders
    per_s = settings.max_requests_per_s
    if per_s is None:
        yield
        return
    from connectors.billit.ratelimit import shared_limiter

    batch = ensure_rate_limit(per_s)
    limiter = shared_limiter(settings)
    with _holders_lock:
        _holders += 1
        if limiter.gate is None:
            limiter.gate = PrefectRateGate(batch)
    try:
        yield
    finally:
        with _holders_lock:
            _holders -= 1
            if not _holders:
                limiter.gate = None
