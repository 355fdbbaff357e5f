"""deploy/compose.yaml, deploy/env.example and deploy/Dockerfile, checked without an
engine: the same processes as runplatform, only variables the code reads, health
checks, one beat, no secret values; and Compose's own `config` when it is here."""

import re
import secrets
import shutil
import subprocess

import pytest
import yaml

from tests.deploy import helpers

pytestmark = pytest.mark.engine_free

COMPOSE_FILE = helpers.DEPLOY / "compose.yaml"
ENV_EXAMPLE = helpers.DEPLOY / "env.example"
DOCKERFILE = helpers.DEPLOY / "Dockerfile"
SITE_SERVICES = ("migrate", "web", "worker", "beat")
# Variables only Compose itself reads (interpolation), never the site or the hub.
COMPOSE_ONLY = {
    "POSTGRES_PASSWORD",
    "SITE_HOST",
    "HUB_HOST",
    "WEB_REPLICAS",
    "WORKER_CONCURRENCY",
    "SITE_IMAGE",
}
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


def test_the_services_are_the_platforms_processes_and_their_backing_services(
    services,
):
    assert set(services) == {
        "postgres",
        "redis",
        "migrate",
        "web",
        "worker",
        "beat",
        "hub",
        "proxy",
    }


def test_each_process_runs_runplatforms_command(services):
    """web, worker, beat and hub run what `manage.py runplatform` runs (the worker
    with an explicit concurrency, the hub's proxy on every address)."""
    for name, expected in helpers.runplatform_commands().items():
        helpers.assert_same_process(name, services[name]["command"], expected)
        assert services[name]["image"] == services["web"]["image"]


def test_every_variable_given_to_the_site_is_one_its_settings_read(services):
    known = helpers.settings_names()
    for name in SITE_SERVICES:
        environment = services[name]["environment"]
        assert isinstance(environment, dict)
        assert set(environment) <= known, (name, set(environment) - known)
        assert "env_file" not in services[name]  # every name is listed here


def test_the_hub_gets_what_its_config_reads_and_nothing_else(services):
    environment = services["hub"]["environment"]
    assert set(environment) <= helpers.hub_config_names()
    assert helpers.hub_config_names(required_only=True) <= set(environment)
    assert environment["HUB_STATE_DIR"] == "/srv/hub"
    assert "/srv/hub" in {v.split(":")[1] for v in services["hub"]["volumes"]}
    assert not set(environment) & {"SECRET_KEY", "DATABASE_URL"}


def test_the_site_has_a_complete_production_environment(services):
    """DEBUG off, PostgreSQL and Redis, the public names, the hub elsewhere, the
    issuer key from a mounted secret; every secret setting is required."""
    for name in SITE_SERVICES:
        environment = services[name]["environment"]
        assert environment["DEBUG"] == "false"
        assert environment["HUB_ENABLED"] == "false"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:6379")
        for required in ("ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "SITE_URL"):
            assert environment[required].startswith(f"${{{required}:?")
        for secret in helpers.secret_settings():
            assert environment[secret].startswith(f"${{{secret}:?"), secret
        assert environment["CREDENTIALS_KEY_FILE"] == "/run/secrets/issuer_key"
    for name in ("web", "worker"):
        assert services[name]["secrets"] == ["issuer_key"]


def test_every_interpolated_variable_is_known_and_in_env_example(compose):
    """Each ${NAME} is read by the site, the hub or only by Compose, and
    deploy/env.example lists it, and lists nothing else."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    names = {match.group(1) for match in INTERPOLATION.finditer(text)}
    known = helpers.settings_names() | helpers.hub_config_names() | COMPOSE_ONLY
    assert names <= known, names - known
    assert set(_env_example()) == names


def test_env_example_has_no_secret_values():
    for name, value in _env_example().items():
        if helpers.is_secret_name(name):
            assert value == "", f"{name} has a value in env.example"


def test_compose_writes_no_secret_value(services):
    """Secrets are ${NAME:?...} from deploy/.env (an optional one, the SMTP
    password, may default to empty); the database password in DATABASE_URL too;
    the issuer key is a file secret."""
    for service in services.values():
        for name, value in (service.get("environment") or {}).items():
            if helpers.is_secret_name(name):
                assert str(value).startswith(f"${{{name}:?") or value == (
                    f"${{{name}:-}}"
                ), name
    for name in SITE_SERVICES:
        url = services[name]["environment"]["DATABASE_URL"]
        password = re.match(r"postgres://[^:]+:(.*)@", url).group(1)
        assert password.startswith("${POSTGRES_PASSWORD:?")


def test_every_long_running_service_has_a_health_check(services):
    for name, service in services.items():
        if name == "migrate":
            assert service["restart"] == "no"
            continue
        assert service.get("healthcheck", {}).get("test"), name
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    assert "/healthz" in services["web"]["healthcheck"]["test"][-1]
    assert "/healthz" in helpers.url_patterns()


def test_the_site_starts_after_a_healthy_database_and_redis_and_migrations(
    services,
):
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == (
        "service_healthy"
    )
    command = " ".join(services["migrate"]["command"])
    assert "manage.py migrate --noinput" in command
    assert "hub_oauth_client_ensure()" in command


def test_beat_runs_exactly_once_and_web_several_times(services):
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["web"]["deploy"]["replicas"] == "${WEB_REPLICAS:-3}"


def test_state_is_on_volumes(compose, services):
    def mounts(name):
        return {v.split(":")[1]: v.split(":")[0] for v in services[name]["volumes"]}

    for name in ("web", "worker"):
        assert mounts(name) == {"/srv/var": "var", "/srv/media": "media"}
    assert mounts("postgres")["/var/lib/postgresql/data"] == "postgres"
    assert {"postgres", "redis", "var", "media", "hub"} <= set(compose["volumes"])
    assert compose["secrets"]["issuer_key"]["file"].startswith("./secrets/")


def test_the_dockerfile_matches_the_image_paths_and_holds_no_secret():
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    assert "-r requirements.lock" in text
    assert "collectstatic --noinput" in text
    assert re.search(r"^USER app$", text, re.MULTILINE)
    for package in ("fonts-wqy-microhei", "util-linux"):
        assert package in text
    for setting, path in (("VAR_DIR", "/srv/var"), ("HUB_STATE_DIR", "/srv/hub")):
        assert f"{setting}={path}" in text
    assert "WORKDIR /app" in text
    # Any NAME=value of a secret name takes its value from a shell variable.
    for name, value in re.findall(r"\b([A-Z][A-Z0-9_]*)=(\S*)", text):
        if helpers.is_secret_name(name):
            assert value.startswith('"$'), f"{name}={value} in the Dockerfile"


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(  # noqa: S603
            [docker, "compose", "version"], capture_output=True, text=True, timeout=20
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone:
        probe = subprocess.run(  # noqa: S603
            [standalone, "version"], capture_output=True, text=True, timeout=20
        )
        if probe.returncode == 0 and "v2." in probe.stdout:
            return [standalone]
    return None


def _config(cli: list[str], env_file) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [*cli, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_config_accepts_the_file_with_filled_in_secrets(tmp_path):
    """`docker compose config` (no engine needed) with env.example whose secrets
    are filled in; and it refuses env.example as shipped (empty secrets)."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip(
            "no Docker Compose v2 here (`docker compose` plugin or a v2 "
            "`docker-compose`): the docker CLI has no compose plugin"
        )
    env = _env_example()
    for name in env:
        if helpers.is_secret_name(name):
            env[name] = secrets.token_hex(16)
    filled = tmp_path / "filled.env"
    filled.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    result = _config(cli, filled)
    # Some wrappers lose the exit status: an error on stderr counts too.
    assert result.returncode == 0 and "error" not in result.stderr.lower(), (
        result.stderr
    )

    refused = _config(cli, ENV_EXAMPLE)
    assert refused.returncode != 0 or "required variable" in refused.stderr
    assert "is missing a value" in refused.stderr
