"""infra/jupyterhub: the production values satisfy the enclave's schema, and the schema bites."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from sdwh.enclave.hub.k8s import extract_volume

INFRA = Path(__file__).resolve().parents[2] / "infra" / "jupyterhub"


@pytest.fixture(scope="module")
def schema():
    return json.loads((INFRA / "values.schema.json").read_text())


@pytest.fixture
def values():
    return yaml.safe_load((INFRA / "values.yaml").read_text())


def errors(schema, values):
    validator = jsonschema.Draft202012Validator(schema)
    return [".".join(map(str, e.absolute_path)) or e.message for e in
            validator.iter_errors(values)]


def test_production_values_pass_the_enclave_schema(schema, values):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert errors(schema, values) == []


@pytest.mark.parametrize("change", [
    lambda v: v["singleuser"]["networkPolicy"]["egressAllowRules"].update(nonPrivateIPs=True),
    lambda v: v["singleuser"]["networkPolicy"]["egressAllowRules"].update(
        dnsPortsKubeSystemNamespace=True),
    lambda v: v["singleuser"]["networkPolicy"]["egressAllowRules"].pop("privateIPs"),
    lambda v: v["singleuser"]["networkPolicy"].update(egress=[{"to": [{"ipBlock": {
        "cidr": "0.0.0.0/0"}}]}]),
    lambda v: v["singleuser"]["networkPolicy"].update(enabled=False),
    lambda v: v["cull"].update(maxAge=0),
    lambda v: v["cull"].update(enabled=False),
    lambda v: v["hub"].update(allowNamedServers=False),
    lambda v: v["hub"]["config"]["GenericOAuthenticator"].update(enable_pkce=False),
    lambda v: v["hub"]["config"]["GenericOAuthenticator"].update(client_secret="in-git"),
    lambda v: v["hub"]["config"]["GenericOAuthenticator"].update(
        token_url="http://idp/token"),
    lambda v: v["singleuser"].update(networkpolicy={}),  # a typo is not silently ignored
    lambda v: v["singleuser"]["storage"].update(capacity="lots"),
    lambda v: v["proxy"]["https"].update(enabled=False),
], ids=["internet", "dns", "rule-missing", "egress-rule", "policy-off", "no-max-age",
        "no-culling", "no-named-servers", "no-pkce", "secret-in-values", "plain-http-idp",
        "typo", "storage", "no-https"])
def test_weakened_values_fail_the_schema(schema, values, change):
    weakened = copy.deepcopy(values)
    change(weakened)
    assert errors(schema, weakened)


def test_culling_and_budget_defaults_match_the_local_hub(values):
    from sdwh.config import Settings

    defaults = Settings()
    assert values["cull"]["timeout"] == defaults.hub_idle_timeout
    assert values["cull"]["every"] == defaults.hub_cull_every
    assert values["cull"]["maxAge"] == defaults.hub_max_age


def test_kubernetes_servers_mount_only_their_project_extract_read_only():
    volume, mount = extract_volume("census-2025", "e0003")
    assert volume["persistentVolumeClaim"]["readOnly"] is True
    assert mount["readOnly"] is True
    assert mount["subPath"] == "projects/census-2025/extracts/e0003"
