"""A real platform process and Debian's Chromium for the end-to-end tests.

The server is `manage.py runplatform` (private Redis + uvicorn) on a fresh SQLite
database under a temporary VAR_DIR, migrated and seeded as `make demo` does, so the
browser exercises exactly what a user of the demo gets. Mail goes to files that the
tests read. Without Chromium every browser test is skipped, never failed.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 90  # seconds for /healthz to answer
SHUTDOWN_TIMEOUT = 20
DEMO_PASSWORD = "browser-demo-password-31"

# Settings the server must not inherit from the test run: the platform under test
# uses its own database, files and hosts under the temporary VAR_DIR.
NOT_INHERITED = (
    "ALLOWED_HOSTS",
    "CACHE_KEY_PREFIX",
    "CELERY_BROKER_URL",
    "CHANNEL_PREFIX",
    "CSRF_TRUSTED_ORIGINS",
    "CURRICULUM_DIR",
    "DATABASE_URL",
    "DEMO_PASSWORD",
    "LMS_TEST_REDIS_SOCKET",
    "MEDIA_ROOT",
    "SECRET_KEY",
    "SECURE_SSL_REDIRECT",
    "SITE_URL",
    "STATIC_ROOT",
    "JUPYTERHUB_URL",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_API_TOKEN",
    "HUB_OAUTH_CLIENT_SECRET",
    "HUB_STATE_DIR",
    "LABS_SOURCE_DIR",
)


@dataclass(frozen=True)
class Platform:
    url: str
    var_dir: Path
    mail_dir: Path
    log: Path


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's Chromium; `playwright install` cannot download browsers here."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="lms.settings",
        DEBUG="true",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(var_dir / "mail"),
        # The platform's own hub, on free ports (a `make demo` may hold the defaults).
        JUPYTERHUB_URL=f"http://127.0.0.1:{_free_port()}",
        HUB_API_PORT=str(_free_port()),
        HUB_PROXY_API_PORT=str(_free_port()),
    )
    if env.get("REDIS_URL"):
        # A shared Redis: keep this server's keys and channels apart.
        env["CACHE_KEY_PREFIX"] = env["CHANNEL_PREFIX"] = f"browser-{var_dir.name}"
    else:
        env.pop("REDIS_URL", None)
    return env


def lab_releases_copy(var_dir: Path) -> None:
    """Give a new platform the lab releases the suite has already built (under its
    own VAR_DIR): seed_demo then reuses each one whose recorded source digest still
    matches the lab's files, as it would for a platform that published them before,
    instead of running the five self-checks again (a minute here). A release built
    from other files is not reused: its digest does not match."""
    from django.conf import settings

    built = Path(settings.VAR_DIR) / "labs"
    for release in built.glob("*/v*/.source-sha256"):
        folder = release.parent
        target = var_dir / "labs" / folder.relative_to(built)
        if not target.exists():
            shutil.copytree(folder, target)


def _manage(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"the platform did not answer {url}/healthz:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=SHUTDOWN_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def platform(chromium_executable) -> Iterator[Platform]:
    """Migrate, seed and run the whole platform; stop its process group at the end.

    The directory is short because the private Redis socket lives in it and Unix
    socket paths are limited to 107 bytes.
    """
    var_dir = Path(tempfile.mkdtemp(prefix="sr-", dir="/tmp"))  # noqa: S108
    env = _server_env(var_dir)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = var_dir / "server.log"
    process = None
    try:
        lab_releases_copy(var_dir)
        _manage("migrate", "--noinput", env=env)
        _manage("seed_demo", "--password", DEMO_PASSWORD, env=env)
        with log.open("w") as output:
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "manage.py", "runplatform", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        _wait_healthy(url, process, log)
        yield Platform(url=url, var_dir=var_dir, mail_dir=var_dir / "mail", log=log)
    finally:
        if process is not None:
            _stop(process)
        from labs.processes import hub_strays_stop

        hub_strays_stop(var_dir)  # lab servers live in their own sessions
        shutil.rmtree(var_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def base_url(platform: Platform) -> str:
    """pytest-playwright gives every browser context this base URL."""
    return platform.url
