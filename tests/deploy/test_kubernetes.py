"""deploy/kubernetes/site/, checked without a cluster: the same processes as
runplatform, only settings the site reads, probes on routes that exist, one beat,
Secrets referenced and never written, a deny-by-default policy for the grading
workers, and agreement with the Zero to JupyterHub values beside them."""

import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy import helpers

pytestmark = pytest.mark.engine_free

SITE_DIR = helpers.DEPLOY / "kubernetes" / "site"
HUB_VALUES = helpers.DEPLOY / "kubernetes" / "jupyterhub-values.yaml"
NAMESPACE = "silkroute"
# The Secrets the README tells the operator to create, and their keys.
SECRETS = {
    "silkroute-site": {
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "EMAIL_HOST_PASSWORD",
    },
    "silkroute-labs": {
        "hub.services.silkroute-site.apiToken",
        "hub-oauth-client-secret",
    },
    "silkroute-issuer-key": {"key.pem"},
}


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    found = []
    for path in sorted(SITE_DIR.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc]
    return found


def _one(documents, kind: str, name: str) -> dict:
    (found,) = [
        d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name
    ]
    return found


@pytest.fixture(scope="module")
def config(documents) -> dict:
    return _one(documents, "ConfigMap", "silkroute-site")["data"]


@pytest.fixture(scope="module")
def hub_values() -> dict:
    return yaml.safe_load(HUB_VALUES.read_text(encoding="utf-8"))


def _pod(documents, kind: str, name: str) -> dict:
    return _one(documents, kind, name)["spec"]["template"]["spec"]


def _container(documents, kind: str, name: str) -> dict:
    (container,) = _pod(documents, kind, name)["containers"]
    return container


WORKLOADS = [("Deployment", "web"), ("Deployment", "worker"), ("Deployment", "beat")]
ALL_PODS = [*WORKLOADS, ("Job", "migrate")]


def test_the_site_has_its_workloads_in_one_namespace(documents):
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {
        *WORKLOADS,
        ("Job", "migrate"),
        ("Service", "web"),
        ("PodDisruptionBudget", "web"),
        ("NetworkPolicy", "worker"),
        ("ConfigMap", "silkroute-site"),
    } <= kinds
    for document in documents:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == NAMESPACE
    assert not [d for d in documents if d["kind"] == "Secret"]  # referenced only


def test_each_workload_runs_runplatforms_command(documents):
    expected = helpers.runplatform_commands()
    for kind, name in WORKLOADS:
        command = _container(documents, kind, name)["command"]
        helpers.assert_same_process(name, command, expected[name])
    migrate = " ".join(_container(documents, "Job", "migrate")["command"])
    assert "manage.py migrate --noinput" in migrate
    assert "hub_oauth_client_ensure()" in migrate


def test_every_variable_is_one_the_settings_read(documents, config):
    known = helpers.settings_names()
    assert set(config) <= known, set(config) - known
    for kind, name in ALL_PODS:
        container = _container(documents, kind, name)
        names = {variable["name"] for variable in container.get("env", [])}
        assert names <= known, (name, names - known)
        assert container["envFrom"] == [{"configMapRef": {"name": "silkroute-site"}}]


def test_secrets_come_from_secret_references_never_values(documents, config):
    """Every secret setting (and the URLs that carry passwords) is a secretKeyRef
    to a Secret and key the README has the operator create; the ConfigMap holds
    none; no variable of any pod has a literal secret value."""
    for name in config:
        assert not helpers.is_secret_name(name), name
    assert "DATABASE_URL" not in config and "REDIS_URL" not in config
    required = helpers.secret_settings() | {"DATABASE_URL", "REDIS_URL"}
    for kind, name in ALL_PODS:
        container = _container(documents, kind, name)
        env = {variable["name"]: variable for variable in container["env"]}
        assert required <= set(env), (name, required - set(env))
        for variable_name, variable in env.items():
            if helpers.is_secret_name(variable_name) or variable_name in required:
                assert "value" not in variable, variable_name
                ref = variable["valueFrom"]["secretKeyRef"]
                assert ref["key"] in SECRETS[ref["name"]], ref
    for kind, name in WORKLOADS:
        for volume in _pod(documents, kind, name).get("volumes", []):
            if "secret" in volume:
                secret = volume["secret"]
                keys = {item["key"] for item in secret["items"]}
                assert keys <= SECRETS[secret["secretName"]]


def test_the_labs_secret_keys_are_the_ones_the_hub_values_use(hub_values):
    """One Secret for both sides: the hub's values read the same two keys."""
    hub = hub_values["hub"]
    assert hub["existingSecret"] == "silkroute-labs"
    ref = hub["extraEnv"]["OAUTH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("silkroute-labs", "hub-oauth-client-secret")
    for service in hub["services"]:
        assert f"hub.services.{service}.apiToken" in SECRETS["silkroute-labs"]


def test_web_probes_are_readyz_and_healthz_and_reach_the_site(documents, config):
    """Readiness /readyz, liveness /healthz (both routes of lms/urls.py), sent with
    a Host the site allows and X-Forwarded-Proto, since a plain-HTTP probe would
    otherwise get 400 (unknown host) or a redirect to HTTPS."""
    container = _container(documents, "Deployment", "web")
    routes = helpers.url_patterns()
    allowed = config["ALLOWED_HOSTS"].split(",")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path and path in routes
        headers = {h["name"]: h["value"] for h in get["httpHeaders"]}
        assert headers["Host"] in allowed
        assert headers["X-Forwarded-Proto"] == "https"
        assert get["port"] in {p["name"] for p in container["ports"]}
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_web_is_replicated_behind_a_service_and_a_disruption_budget(documents):
    web = _one(documents, "Deployment", "web")
    labels = web["spec"]["selector"]["matchLabels"]
    assert web["spec"]["replicas"] >= 2
    assert _one(documents, "Service", "web")["spec"]["selector"] == labels
    budget = _one(documents, "PodDisruptionBudget", "web")["spec"]
    assert budget["selector"]["matchLabels"] == labels
    assert budget.get("maxUnavailable", 0) < web["spec"]["replicas"]


def test_beat_is_exactly_one_and_never_two_during_a_rollout(documents):
    beat = _one(documents, "Deployment", "beat")["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"]["type"] == "Recreate"
    assert "autoscaling" not in str(documents)  # nothing scales it


def test_the_worker_grades_in_rlimits_mode_without_privileges(documents):
    pod = _pod(documents, "Deployment", "worker")
    container = _container(documents, "Deployment", "worker")
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["GRADING_SANDBOX"]["value"] == "rlimits"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    limits = container["resources"]["limits"]
    assert limits["memory"] and limits["cpu"]
    concurrency = container["command"][container["command"].index("--concurrency") + 1]
    assert int(concurrency) == int(limits["cpu"])


def test_the_worker_network_policy_denies_by_default(documents):
    """Selects the worker pods, governs both directions, admits no ingress, and
    allows egress only to PostgreSQL, Redis and DNS, each rule with a peer and a
    port (an empty `to` or no `ports` would allow everything)."""
    policy = _one(documents, "NetworkPolicy", "worker")["spec"]
    worker = _one(documents, "Deployment", "worker")["spec"]["template"]
    assert policy["podSelector"]["matchLabels"].items() <= (
        worker["metadata"]["labels"].items()
    )
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert not policy.get("ingress")
    ports = set()
    for rule in policy["egress"]:
        assert rule.get("to") and rule.get("ports"), rule
        for peer in rule["to"]:
            assert "ipBlock" not in peer or peer["ipBlock"]["cidr"] != "0.0.0.0/0"
        ports |= {(p["protocol"], p["port"]) for p in rule["ports"]}
    assert ports == {("TCP", 5432), ("TCP", 6379), ("UDP", 53), ("TCP", 53)}


def test_the_site_settings_match_the_hub_values(config, hub_values):
    """The ConfigMap and ../jupyterhub-values.yaml describe the same hub."""
    oauth = hub_values["hub"]["config"]["GenericOAuthenticator"]
    assert urlsplit(config["JUPYTERHUB_URL"]).hostname in hub_values["ingress"]["hosts"]
    assert oauth["oauth_callback_url"] == (
        config["JUPYTERHUB_URL"] + "/hub/oauth_callback"
    )
    site_host = urlsplit(config["SITE_URL"]).hostname
    assert urlsplit(oauth["authorize_url"]).hostname == site_host
    assert site_host in config["ALLOWED_HOSTS"].split(",")
    assert oauth["client_id"] == config["HUB_OAUTH_CLIENT_ID"]
    assert int(config["HUB_SPAWN_TIMEOUT"]) == hub_values["singleuser"]["startTimeout"]
    assert int(config["HUB_IDLE_TIMEOUT"]) == hub_values["cull"]["timeout"]
    assert (
        int(config["HUB_CONCURRENT_SPAWN_LIMIT"])
        == (hub_values["hub"]["concurrentSpawnLimit"])
    )
    assert config["HUB_ENABLED"] == "false" and config["DEBUG"] == "false"


def test_shared_state_is_on_read_write_many_volumes(documents):
    for claim in ("silkroute-var", "silkroute-media"):
        spec = _one(documents, "PersistentVolumeClaim", claim)["spec"]
        assert spec["accessModes"] == ["ReadWriteMany"]
    for name in ("web", "worker"):
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in _pod(documents, "Deployment", name)["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims == {"silkroute-var", "silkroute-media"}


def test_the_manifests_pass_the_kubernetes_schemas(documents):
    """Offline schema validation, when the kubernetes-validate package is here."""
    validate = pytest.importorskip(
        "kubernetes_validate",
        reason="kubernetes-validate is not installed (not in requirements.lock)",
    )
    for document in documents:
        validate.validate(document, "1.30.0", strict=True)


def test_kubectl_client_dry_run_accepts_the_manifests():
    """`kubectl apply --dry-run=client`: needs the API server's discovery, so it is
    skipped (with kubectl's reason) when no cluster answers."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    result = subprocess.run(  # noqa: S603
        [
            kubectl,
            "apply",
            "--dry-run=client",
            "--validate=false",
            "--request-timeout=5s",
            "-f",
            str(SITE_DIR),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    unreachable = ("couldn't get current server API group list", "connection refused")
    if result.returncode != 0 and any(s in result.stderr for s in unreachable):
        pytest.skip(
            "kubectl's client dry-run needs a reachable API server: "
            + result.stderr.strip().splitlines()[-1]
        )
    assert result.returncode == 0, result.stderr
