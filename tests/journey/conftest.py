"""The production-shaped run (deploy/prod-local.sh) and Chromium for the journey.

The platform runs as `make prod-local` runs it, on this machine's PostgreSQL and
Redis with DEBUG off, in a database of its own that is dropped afterwards, with its
state under a temporary VAR_DIR and every port free. The journey runs only with
``pytest --production`` (as .ci/run does): it needs PostgreSQL, Redis and Chromium,
which a fresh machine's `make test` does not have.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NOT_INHERITED,
    _free_port,
    _stop,
    lab_releases_copy,
)

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = os.environ.get("JOURNEY_POSTGRES", "postgres://postgres@127.0.0.1:5432")
STARTUP_TIMEOUT = 600  # seconds: migrations, static files and the labs' self-checks
SCREENSHOTS = Path(os.environ.get("JOURNEY_SCREENSHOTS", ROOT / "var" / "journey"))

# The rule an instructor would set for a short programme: the first course's
# quiz lesson and its lab (the demo's own rule asks for every course and lab).
RULE_SETUP = """
import os

from allauth.account.models import EmailAddress
from courses.models import LessonPage, ProgrammePage
from grading.credentials.rules import CertificateRule
from labs.models import Lab
from lms.accounts.models import User

english = {"locale__language_code": "en"}
programme = ProgrammePage.objects.get(slug="digital-commerce-smes", **english)
lesson = LessonPage.objects.get(slug="order-fulfilment-returns-and-service", **english)
rule, _ = CertificateRule.objects.get_or_create(programme=programme)
rule.courses.set([])
rule.quiz_lessons.set([lesson])
rule.labs.set([Lab.objects.get(slug="fulfilment")])
rule.quiz_pass_mark = rule.lab_pass_mark = None
rule.save()

password = os.environ["JOURNEY_ADMIN_PASSWORD"]
admin = User.objects.create_superuser("admin", "admin@example.org", password)
EmailAddress.objects.create(user=admin, email=admin.email, verified=True, primary=True)
"""


@dataclass(frozen=True)
class ProductionRun:
    url: str
    var_dir: Path
    mail_dir: Path
    log: Path
    password: str  # the demo users' and the admin's
    screenshots: Path


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_executable):
    return {
        **browser_type_launch_args,
        "executable_path": chromium_executable,
        "args": CHROMIUM_ARGS,
    }


def _database(name: str, *, drop: bool) -> None:
    with psycopg.connect(
        f"{POSTGRES}/postgres", autocommit=True, connect_timeout=5
    ) as admin:
        statement = (
            "DROP DATABASE IF EXISTS {} WITH (FORCE)" if drop else "CREATE DATABASE {}"
        )
        admin.execute(sql.SQL(statement).format(sql.Identifier(name)))


def _environment(var_dir: Path, database: str, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in NOT_INHERITED and k not in {"DJANGO_SETTINGS_MODULE", "DEBUG"}
    }
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    env.update(
        DJANGO_SETTINGS_MODULE="lms.settings",
        VAR_DIR=str(var_dir),
        DATABASE_URL=f"{POSTGRES}/{database}",
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX=f"journey-{var_dir.name}",
        CHANNEL_PREFIX=f"journey-{var_dir.name}",
        PORT=str(port),
        SITE_URL=f"http://localhost:{port}",
        JUPYTERHUB_URL=f"http://localhost:{_free_port()}",
        HUB_API_PORT=str(_free_port()),
        HUB_PROXY_API_PORT=str(_free_port()),
        WEB_WORKERS="2",
    )
    return env


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(
        f"the production-shaped run was not ready at {url}/readyz:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def production(chromium_executable) -> Iterator[ProductionRun]:
    """deploy/prod-local.sh on a database of its own; stopped and dropped after."""
    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError as error:
        pytest.fail(f"the journey needs PostgreSQL at {POSTGRES}: {error}")
    var_dir = Path(tempfile.mkdtemp(prefix="srj-", dir="/tmp"))  # noqa: S108
    database = f"silkroute_journey_{os.getpid()}"
    port = _free_port()
    password = secrets.token_urlsafe(12)
    # The run's secrets, as prod-local.sh would generate them, known to the test.
    (var_dir / "prod.env").write_text(
        "".join(
            f"{name}={secrets.token_urlsafe(48)}\n"
            for name in (
                "SECRET_KEY",
                "JUPYTERHUB_API_TOKEN",
                "HUB_OAUTH_CLIENT_SECRET",
            )
        )
        + f"DEMO_PASSWORD={password}\n"
    )
    lab_releases_copy(var_dir)
    env = _environment(var_dir, database, port)
    url = f"http://localhost:{port}"
    log = var_dir / "platform.log"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    process = None
    _database(database, drop=True)
    try:
        with log.open("w") as output:
            process = subprocess.Popen(  # noqa: S603
                [str(ROOT / "deploy" / "prod-local.sh")],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_ready(url, process, log)
        setup = subprocess.run(  # noqa: S603
            [
                str(ROOT / ".venv" / "bin" / "python"),
                "manage.py",
                "shell",
                "-c",
                RULE_SETUP,
            ],
            cwd=ROOT,
            env={
                **env,
                **_secrets(var_dir),
                "DEBUG": "false",
                "JOURNEY_ADMIN_PASSWORD": password,
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert setup.returncode == 0, setup.stdout + setup.stderr
        yield ProductionRun(
            url=url,
            var_dir=var_dir,
            mail_dir=var_dir / "mail",
            log=log,
            password=password,
            screenshots=SCREENSHOTS,
        )
    finally:
        if process is not None:
            _stop(process)
        from labs.processes import hub_strays_stop

        hub_strays_stop(var_dir)
        if log.exists():  # kept beside the screenshots for CI's record
            shutil.copy(log, SCREENSHOTS / "platform.log")
        shutil.rmtree(var_dir, ignore_errors=True)
        _database(database, drop=True)


def _secrets(var_dir: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (var_dir / "prod.env").read_text().split())
    return dict(pairs)


@pytest.fixture(scope="session")
def base_url(production: ProductionRun) -> str:
    return production.url
