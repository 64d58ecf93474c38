"""`.env.example` is what an operator copies to `.env`: every setting it shows, as written and uncommented, reads
as the typed settings read it from a file and from the environment (both give text)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from connectors.billit.settings import BillitSettings
from connectors.billit.webhook_settings import WebhookSettings
from connectors.warehouse.engine import WarehouseSettings
from tasks.options import VatReturnSettings
from tasks.runtime import RuntimeSettings

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
SETTINGS: list[type[BaseSettings]] = [
    BillitSettings,
    WebhookSettings,
    WarehouseSettings,
    RuntimeSettings,
    VatReturnSettings,
]
_SETTING = re.compile(r"#? ?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)")


def shown_settings(*, commented: bool) -> dict[str, str]:
    """The settings the file sets (or, with `commented`, those it shows commented out, with their example)."""
    found = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if (match := _SETTING.fullmatch(line)) and line.startswith("#") == commented:
            found[match["name"]] = match["value"].strip("'")
    return found


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda kind: kind.__name__)
def test_the_example_file_copied_to_env_reads(settings: type[BaseSettings], tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    # The one value an operator must fill in.
    env_file.write_text(EXAMPLE.read_text(encoding="utf-8").replace("\nBILLIT_API_KEY=\n", "\nBILLIT_API_KEY=k\n"))
    read = settings(_env_file=env_file)  # type: ignore[call-arg]
    if isinstance(read, BillitSettings):  # the empty and the numeric settings as the file means them
        assert (read.party_id, read.quantity_decimals, read.max_requests_per_s) == (None, 2, None)


@pytest.mark.parametrize("commented", [False, True], ids=["set", "shown commented out"])
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda kind: kind.__name__)
def test_every_setting_the_example_shows_reads_from_the_environment(
    settings: type[BaseSettings], commented: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = shown_settings(commented=commented)
    values.pop("BILLIT_BEARER_TOKEN", None)  # one credential, as the file says
    values["BILLIT_API_KEY"] = "an-api-key"
    values = {name: value.replace("<secret>", "s3cret") for name, value in values.items()}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings(_env_file=None)  # type: ignore[call-arg]
