"""The Kubernetes hub values agree with labs/jupyterhub_config.py and the site."""

import ast
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

pytestmark = pytest.mark.engine_free

ROOT = Path(__file__).resolve().parents[2]
VALUES_FILE = ROOT / "deploy" / "kubernetes" / "jupyterhub-values.yaml"
HUB_CONFIG_FILE = ROOT / "labs" / "jupyterhub_config.py"
SITE_SERVICE = "silkroute-site"


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def oauth(values) -> dict:
    return values["hub"]["config"]["GenericOAuthenticator"]


def _local_load_roles() -> list[dict]:
    """``c.JupyterHub.load_roles`` of the local hub config, read without running it
    (the file needs JupyterHub's ``get_config`` and the hub's environment)."""
    tree = ast.parse(HUB_CONFIG_FILE.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and ast.unparse(node.targets[0]) == "c.JupyterHub.load_roles"
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("labs/jupyterhub_config.py sets no c.JupyterHub.load_roles")


def _bytes(quantity: str | int) -> float:
    """A KubeSpawner memory quantity (512M, 1G, 1Gi, or bytes) in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i?)?", str(quantity))
    assert match, f"not a memory quantity: {quantity!r}"
    number, unit = float(match.group(1)), match.group(2) or ""
    power = "KMGT".index(unit[0]) + 1 if unit else 0
    return number * (1024 if unit.endswith("i") else 1000) ** power


def test_the_oauth_urls_point_at_the_sites_provider_and_identity_endpoint(oauth):
    """The hub signs trainees in at the site's /o/authorize/, exchanges the code at
    /o/token/ and reads who they are from /labs/hub-identity/, as the local hub does."""
    assert oauth["authorize_url"].endswith("/o/authorize/")
    assert oauth["token_url"].endswith("/o/token/")
    assert oauth["userdata_url"].endswith("/labs/hub-identity/")
    assert oauth["oauth_callback_url"].endswith("/hub/oauth_callback")


def test_the_oauth_client_matches_the_sites_identity_answer_and_scopes(values, oauth):
    """Usernames come from the "name" the identity endpoint returns, the one scope
    asked for is one the site's provider grants, and every site user may sign in."""
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == (
        "generic-oauth"
    )
    assert oauth["username_claim"] == "name"
    assert oauth["scope"] == ["identity"]
    assert set(oauth["scope"]) <= set(settings.OAUTH2_PROVIDER["SCOPES"])
    assert oauth["allow_all"] is True
    assert oauth["auto_login"] is True
    assert oauth["enable_pkce"] is True  # the site's provider requires PKCE


def test_the_callback_url_is_on_the_host_the_ingress_serves(values, oauth):
    """The redirect URI the site registers lives on the hub's public host."""
    host = oauth["oauth_callback_url"].split("/")[2]
    assert host in values["ingress"]["hosts"]


def test_the_site_service_has_exactly_the_scopes_of_the_local_hub_config(values):
    """One role, for the silkroute-site service only, with the same scopes as the
    "silkroute-site" role in labs/jupyterhub_config.py: no more, no fewer."""
    (local,) = [role for role in _local_load_roles() if role["name"] == SITE_SERVICE]
    assert SITE_SERVICE in values["hub"]["services"]
    roles = [
        role
        for role in values["hub"]["loadRoles"].values()
        if SITE_SERVICE in role.get("services", [])
    ]
    assert len(roles) == 1
    assert sorted(roles[0]["scopes"]) == sorted(local["scopes"])
    assert roles[0]["services"] == [SITE_SERVICE]


def test_no_secret_is_written_in_the_values(values, oauth):
    """The client secret and the service token come from Kubernetes Secrets, never
    from the values file (the chart copies its values into a readable Secret)."""
    assert "client_secret" not in oauth
    for service in values["hub"]["services"].values():
        assert "apiToken" not in service and "api_token" not in service
    env = values["hub"]["extraEnv"]["OAUTH_CLIENT_SECRET"]
    assert env["valueFrom"]["secretKeyRef"]["name"] == values["hub"]["existingSecret"]


def test_idle_lab_servers_are_culled(values):
    """The idle culler is on and stops a server after an hour without activity."""
    assert values["cull"]["enabled"] is True
    assert values["cull"]["timeout"] == 3600
    assert values["cull"]["every"] == 300


def test_trainee_servers_have_memory_limits_above_their_guarantee(values):
    """Each trainee pod is guaranteed memory and capped, the cap at least the
    guarantee and roomy enough for a lab server (~155 MB idle) doing pandas work."""
    memory = values["singleuser"]["memory"]
    assert memory.get("limit") and memory.get("guarantee")
    assert _bytes(memory["guarantee"]) <= _bytes(memory["limit"])
    assert _bytes(memory["limit"]) >= 512 * 1000**2
    assert values["singleuser"]["cpu"]["limit"]


def test_trainee_servers_get_no_network_beyond_dns_and_the_hub(values):
    """User pods may resolve names (and reach the hub, which the chart always allows),
    but not the internet, the cluster's private addresses or the cloud metadata."""
    policy = values["singleuser"]["networkPolicy"]
    rules = policy["egressAllowRules"]
    assert policy["enabled"] is True
    assert rules["nonPrivateIPs"] is False
    assert rules["privateIPs"] is False
    assert rules["cloudMetadataServer"] is False
    assert rules["dnsPortsKubeSystemNamespace"] is True
    assert not policy.get("egress")


def test_each_trainee_has_one_persistent_home(values):
    """Homes are dynamically provisioned volumes of 1Gi, kept when a server stops."""
    storage = values["singleuser"]["storage"]
    assert storage["type"] == "dynamic"
    assert storage["capacity"] == "1Gi"
    assert values["scheduling"]["userScheduler"]["enabled"] is True
