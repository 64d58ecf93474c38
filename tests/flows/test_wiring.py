"""Every entrypoint in prefect.yaml imports and is a Prefect flow."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect import Flow

from sandbox.identity import API_KEY

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def flow_of(deployment: dict) -> Any:
    """The object a deployment's entrypoint names, imported from its file as Prefect does."""
    path, _, name = deployment["entrypoint"].partition(":")
    spec = importlib.util.spec_from_file_location(f"entrypoint_{deployment['name']}", ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_every_deployment_entrypoint_imports_and_is_a_flow(deployment: dict) -> None:
    flow = flow_of(deployment)
    assert isinstance(flow, Flow)
    assert set(deployment.get("parameters", {})) <= set(flow.parameters.properties)
    # A URL with a password as a parameter would show in the Prefect UI (found from the outside: webhook-events
    # took warehouse_url); the warehouse is the worker's WAREHOUSE_URL.
    assert not [name for name in flow.parameters.properties if "url" in name or "password" in name]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_one_company_given_as_prefect_reads_it_a_number_is_a_valid_companies_parameter(deployment: dict) -> None:
    """Found from the outside: `prefect deployment run ... --param companies=574991` (the docs' example) gives a
    number, which the schema refused, so no run was made."""
    from prefect.utilities.schema_tools.validation import validate

    schema = flow_of(deployment).parameters.model_dump(mode="json")
    if "companies" not in schema["properties"]:
        pytest.skip("no companies parameter")
    errors = validate({"companies": 574991}, schema, raise_on_error=False)
    assert not [error for error in errors if "companies" in str(error.path) or "574991" in error.message]


def test_no_secret_or_credential_is_written_in_prefect_yaml() -> None:
    text = (ROOT / "prefect.yaml").read_text().lower()
    assert "api_key:" not in text and API_KEY not in text and "password" not in text


def test_the_companies_fan_out_submits_to_a_declared_deployment_that_takes_the_company() -> None:
    from flows.companies import COMPANY_DEPLOYMENT, billit_companies
    from flows.sync import billit_to_warehouse

    flow_name, _, deployment_name = COMPANY_DEPLOYMENT.partition("/")
    [company] = [d for d in DEPLOYMENTS if d["name"] == deployment_name]
    assert company["entrypoint"] == "flows/sync.py:billit_to_warehouse" and billit_to_warehouse.name == flow_name
    assert "companies" in billit_to_warehouse.parameters.properties and "companies" not in company["parameters"]
    [parent] = [d for d in DEPLOYMENTS if d["entrypoint"] == "flows/companies.py:billit_companies"]
    assert parent["parameters"]["companies"] == "all" and billit_companies.name == "billit-companies"
    assert all(d["work_pool"]["name"] == "billit-process" for d in (company, parent))


def test_the_sync_flows_do_not_import_the_push_or_its_spreadsheet_reader() -> None:
    # Each company of a fan-out is a process of its own that imports its flow's module: the push tasks and openpyxl
    # were ~0.3 s of CPU and 6 MB of each (bench/README.md#fan-out).
    probe = "import sys, flows.sync, flows.companies; print(sorted(m for m in sys.modules if m.startswith(HEAVY)))"
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = ('openpyxl', 'tasks.outbound', 'xmlschema'); {probe}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout
