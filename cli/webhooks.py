"""`billit-etl webhooks register|list|delete|rotate`: the company's Billit webhooks, and where their secrets are kept.

Each webhook has its own signing secret, which Billit shows only when it makes one
(docs/reference/billit-api.md#webhooks). `register` and `rotate` write it at once to the secret store: the Prefect
Secret block given by `--secret-block` (or `billit-webhook-secrets` when a Prefect server is configured), else the
`BILLIT_WEBHOOK_SECRETS` line of the env file (`--env-file`, default `.env`), where the receiver
(`billit-etl webhooks serve`) reads them. No command prints a secret; the tables say where each one is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from cli.app import OperatorMistake, clear_errors, console, error_console, webhooks_app
from cli.tables import titled_table

if TYPE_CHECKING:
    from tasks.webhook_registration import Outcome
    from tasks.webhook_secrets import SecretStore

CompanyOption = Annotated[
    int | None,
    typer.Option(
        "--company",
        min=1,
        help="PartyID of the company the webhooks belong to (default: BILLIT_PARTY_ID); another company the API key "
        "reaches (`billit-etl companies` lists them).",
    ),
]
EnvFileOption = Annotated[
    str | None,
    typer.Option(
        "--env-file",
        help="Keep the secrets in this env file's BILLIT_WEBHOOK_SECRETS line (default: .env, unless a Prefect "
        "server is configured).",
    ),
]
SecretBlockOption = Annotated[
    str | None,
    typer.Option(
        "--secret-block",
        help="Keep the secrets in this Prefect Secret block (default when PREFECT_API_URL is set: "
        "BILLIT_WEBHOOK_SECRETS_BLOCK, else billit-webhook-secrets).",
    ),
]
IdsArgument = Annotated[list[str] | None, typer.Argument(help="WebhookIDs (`billit-etl webhooks list` shows them).")]

SECRET_STATE = {"kept": "held in", "created": "new, stored in", "refreshed": "refreshed, stored in"}


@webhooks_app.command()
def register(
    url: Annotated[str, typer.Option("--url", help="The receiver's public https URL (billit-etl webhooks serve).")],
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="ENTITY:TYPE pairs separated by commas (default: Message:I,Message:U,Order:U,Order:D, the "
            "receiver's needs within Billit's 4 webhooks per company).",
        ),
    ] = None,
    company: CompanyOption = None,
    env_file: EnvFileOption = None,
    secret_block: SecretBlockOption = None,
) -> None:
    """Register the webhooks the receiver needs (kept when already there); their secrets go to the store."""
    with clear_errors():
        from tasks.webhook_registration import check_url, parse_events, register_webhooks  # httpx: only here

        wanted = parse_events(events)
        warning = check_url(url)
        store = _store(env_file, secret_block)
        if warning:
            error_console.print(f"[yellow]{escape(warning)}[/]")
        outcome = register_webhooks(url, wanted, store, company=company)
        _print_changes(outcome, store, "Webhooks registered")
        _finish(outcome, store)


@webhooks_app.command("list")
def list_(
    company: CompanyOption = None, env_file: EnvFileOption = None, secret_block: SecretBlockOption = None
) -> None:
    """List the company's webhooks and whether the secret store holds each one's secret."""
    with clear_errors():
        from tasks.webhook_registration import list_registered

        store = _store(env_file, secret_block)
        webhooks, held = list_registered(store, company=company)
    table = titled_table(f"Webhooks of the company (secrets in {escape(store.where)})")
    for label in ("id", "entity", "update type", "URL", "secret held"):
        table.add_column(label, justify="right" if label == "id" else "left", no_wrap=label != "URL")
    for hook in webhooks:
        secret = "yes" if hook.webhook_id in held else "[yellow]no[/] (webhooks rotate)"
        table.add_row(hook.webhook_id, hook.entity_type, hook.update_type, escape(hook.url), secret)
    console.print(table)
    console.print(f"{len(webhooks)} webhook{'' if len(webhooks) == 1 else 's'}")


@webhooks_app.command()
def delete(
    ids: IdsArgument = None,
    url: Annotated[str | None, typer.Option("--url", help="Delete every webhook calling this URL.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Delete every webhook of the company.")] = False,
    company: CompanyOption = None,
    env_file: EnvFileOption = None,
    secret_block: SecretBlockOption = None,
) -> None:
    """Delete webhooks (by id, by --url, or --all) and drop their secrets from the store."""
    with clear_errors():
        from tasks.webhook_registration import delete_webhooks

        if sum((bool(ids), url is not None, everything)) != 1:
            raise OperatorMistake("webhooks delete: give WebhookIDs, or --url URL, or --all (one of them)")
        store = _store(env_file, secret_block)
        outcome = delete_webhooks(store, ids=ids or [], url=url, everything=everything, company=company)
        _print_changes(outcome, store, "Webhooks deleted")
        _finish(outcome, store)


@webhooks_app.command()
def rotate(
    ids: IdsArgument = None,
    company: CompanyOption = None,
    env_file: EnvFileOption = None,
    secret_block: SecretBlockOption = None,
) -> None:
    """New secrets for webhooks (default: those whose secret the store holds), stored; the old ones stop verifying."""
    with clear_errors():
        from tasks.webhook_registration import rotate_secrets

        store = _store(env_file, secret_block)
        outcome = rotate_secrets(store, ids=ids or [], company=company)
        _print_changes(outcome, store, "Webhook secrets rotated")
        if not outcome.changes and outcome.error is None:
            console.print("[yellow]no webhook of this company has its secret in the store: nothing rotated[/]")
        _finish(outcome, store)


def _store(env_file: str | None, secret_block: str | None) -> SecretStore:
    from tasks.webhook_secrets import choose_store

    if env_file is not None and secret_block is not None:
        raise OperatorMistake("give --env-file or --secret-block, not both: the secrets are kept in one place")
    if env_file is not None and not env_file.strip():
        raise OperatorMistake("--env-file: give a file name, e.g. .env")
    if secret_block is not None and not secret_block.strip():
        raise OperatorMistake("--secret-block: give a Prefect Secret block name, e.g. billit-webhook-secrets")
    return choose_store(env_file=env_file, secret_block=secret_block)


def _print_changes(outcome: Outcome, store: SecretStore, title: str) -> None:
    """One row per webhook the command touched: never its secret, only where it is."""
    if not outcome.changes:
        if outcome.error is None:
            console.print(f"{title}: none (company {outcome.company_id})")
        return
    table = titled_table(f"{title} (company {outcome.company_id})")
    for label in ("id", "entity", "update type", "URL", "secret"):
        table.add_column(label, justify="right" if label == "id" else "left", no_wrap=label != "URL")
    for change in outcome.changes:
        hook = change.webhook
        if change.action in SECRET_STATE:
            secret = f"{SECRET_STATE[change.action]} {escape(store.where)}"
        elif change.action == "rotated":
            secret = f"new, stored in {escape(store.where)}"
        else:
            secret = f"{'deleted; ' if change.action == 'deleted' else 'not registered; '}dropped from the store"
        table.add_row(hook.webhook_id, hook.entity_type, hook.update_type, escape(hook.url), secret)
    console.print(table)


def _finish(outcome: Outcome, store: SecretStore) -> None:
    """The shadowing warning when a receiver would not read the store, then the error that stopped the command."""
    from tasks.webhook_secrets import shadowing_note

    if outcome.secrets:
        note = shadowing_note(store)
        if note:
            console.print(f"[yellow]{escape(note)}[/]")
    if outcome.error is not None:
        raise outcome.error
