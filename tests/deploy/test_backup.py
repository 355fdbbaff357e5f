"""Backup and restore as deploy/README.md tells it, for real on this machine's
PostgreSQL: a seeded database is dumped with ``pg_dump -Fc``, restored with
``pg_restore --clean --if-exists`` into another, and the platform's web process on
the restored copy is ready and verifies the graduate's certificates (one valid, one
revoked) with the same issuer keys (the same VAR_DIR).

Marked ``production``: it runs with ``pytest --production`` (.ci/run's third stage),
once, whatever the suite's own database; skipped, with the reason, when PostgreSQL at
127.0.0.1:5432 (user postgres, trust authentication) or its client programs are not
there.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lms.management.commands.runplatform import web_command
from tests.browser.conftest import NOT_INHERITED as BROWSER_NOT_INHERITED
from tests.browser.conftest import lab_releases_copy

pytestmark = pytest.mark.production

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
DEMO_PASSWORD = "backup-demo-password-42"
# What the suite's own environment must not pass on to a platform that runs on its
# own database and VAR_DIR (the browser tests' list), and the issuer key settings:
# the restored platform signs with the keys in its own VAR_DIR.
NOT_INHERITED = (
    *BROWSER_NOT_INHERITED,
    "CREDENTIALS_KEY",
    "CREDENTIALS_KEY_FILE",
    "CREDENTIALS_KEY_DIR",
)


def _postgres_or_skip() -> None:
    missing = [p for p in ("pg_dump", "pg_restore") if shutil.which(p) is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (apt-get install postgresql-client)"
        )
    import psycopg

    try:
        psycopg.connect(f"{PG_SERVER}/postgres", connect_timeout=3).close()
    except psycopg.Error as error:
        pytest.skip(
            f"PostgreSQL at 127.0.0.1:5432 (user postgres) not reachable: {error}"
        )


def _sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(statement)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(var_dir: Path, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        VAR_DIR=str(var_dir),
        DATABASE_URL=f"{PG_SERVER}/{database}",
        DJANGO_SETTINGS_MODULE="lms.settings",
        DEBUG="true",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        HUB_ENABLED="false",
        READYZ_CHECK_HUB="false",
    )
    if env.get("REDIS_URL"):  # a shared Redis: keep this platform's keys apart
        env["CACHE_KEY_PREFIX"] = env["CHANNEL_PREFIX"] = f"backup-{var_dir.name}"
    else:
        env.pop("REDIS_URL", None)
    return env


def _run(*command: str, env: dict[str, str], timeout: int = 300) -> str:
    result = subprocess.run(  # noqa: S603
        list(command),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(command[:3])} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def _manage(*args: str, env: dict[str, str]) -> str:
    return _run(sys.executable, "manage.py", *args, env=env)


def _private_redis(var_dir: Path) -> subprocess.Popen:
    """The Redis that runplatform would start, at VAR_DIR/run/redis.sock: /readyz
    asks the broker."""
    socket_path = var_dir / "run" / "redis.sock"
    socket_path.parent.mkdir(parents=True)
    server = shutil.which("redis-server", path=str(BIN)) or "redis-server"
    process = subprocess.Popen(  # noqa: S603
        [server, "--port", "0", "--unixsocket", str(socket_path)]
        + ["--save", "", "--appendonly", "no", "--dir", str(socket_path.parent)],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        if socket_path.exists():
            break
        time.sleep(0.05)
    return process


def _stop(process: subprocess.Popen) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def workspace() -> Iterator[tuple[Path, str, str]]:
    """A short VAR_DIR under /tmp (Unix socket paths are limited to 107 bytes) and
    two fresh database names, all removed afterwards."""
    _postgres_or_skip()
    var_dir = Path(tempfile.mkdtemp(prefix="bk-", dir="/tmp"))  # noqa: S108
    stem = f"backup_{uuid.uuid4().hex[:10]}"
    source, restored = f"{stem}_src", f"{stem}_dst"
    try:
        yield var_dir, source, restored
    finally:
        for name in (source, restored):
            _sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(var_dir, ignore_errors=True)


# seed_demo's report of the graduate's certificates.
CERTIFICATE_LINE = re.compile(
    r"Certificate ([0-9a-f-]{36}) \([^,]+, (valid|revoked)\) held by graduate"
)


def _verify(client: httpx.Client, certificate_id: str) -> dict:
    """The public API's verdict on the credential the site publishes."""
    token = client.get(
        f"/credentials/{certificate_id}", headers={"Accept": "application/vc+jwt"}
    )
    assert token.status_code == 200, token.text
    verdict = client.post(
        "/api/v1/verify",
        content=token.text,
        headers={"Content-Type": "application/vc+jwt"},
    )
    assert verdict.status_code == 200, verdict.text
    return verdict.json()


def test_a_dump_restored_into_a_new_database_serves_and_verifies(workspace):
    """migrate + seed_demo → pg_dump -Fc → pg_restore --clean --if-exists into a
    second database → the web process on it: /healthz and /readyz 200, the
    graduate's valid certificate verifies as valid and the revoked one as revoked."""
    var_dir, source, restored = workspace
    redis_server = None if os.environ.get("REDIS_URL") else _private_redis(var_dir)
    web = None
    try:
        _sql(f'CREATE DATABASE "{source}"')
        env = _env(var_dir, source)
        lab_releases_copy(var_dir)
        _manage("migrate", "--noinput", env=env)
        seeded = _manage("seed_demo", "--password", DEMO_PASSWORD, env=env)
        held = dict(CERTIFICATE_LINE.findall(seeded))  # id → "valid" | "revoked"
        assert sorted(held.values()) == ["revoked", "valid"], seeded

        dump = var_dir / "backup.dump"
        _run("pg_dump", "-Fc", "-d", f"{PG_SERVER}/{source}", "-f", str(dump), env=env)
        _sql(f'CREATE DATABASE "{restored}"')
        _run(
            *("pg_restore", "--clean", "--if-exists", "--no-owner"),
            *("-d", f"{PG_SERVER}/{restored}", str(dump)),
            env=env,
        )

        env = _env(var_dir, restored)
        port = _free_port()
        web = subprocess.Popen(  # noqa: S603
            web_command(BIN, "127.0.0.1", port),
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert web.poll() is None, web.stderr.read()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (
                    "the web process did not answer /healthz"
                )
                time.sleep(0.2)
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text

            # Served from the restored database, signed by the key in VAR_DIR.
            for certificate_id, state in held.items():
                verdict = _verify(client, certificate_id)
                if state == "revoked":
                    assert verdict["status"] == "revoked", verdict
                    assert verdict["verified"] is False
                else:
                    assert verdict["status"] == "valid", verdict
                    assert verdict["verified"] is True
    finally:
        if web is not None:
            _stop(web)
        if redis_server is not None:
            _stop(redis_server)
