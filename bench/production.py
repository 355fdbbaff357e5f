"""The production-shaped environment of ``deploy/prod-local.sh``, for benchmarks.

``production_env(name)`` is a context manager that sets, in ``os.environ`` (so the
site in this process and every process started from it see them), what
prod-local.sh sets: PostgreSQL (a throw-away database on this machine's server,
dropped at exit), Redis on this machine (database 13, with key prefixes of this
run for the cache and the channel layer; this run's keys are deleted at exit),
``DEBUG=false`` with generated secrets, ``SECURE_SSL_REDIRECT=false`` (plain HTTP
on loopback), ``ALLOWED_HOSTS``, mail to files and JSON logs. The web command is
``runplatform.web_command`` with ``WEB_WORKERS`` processes (2 unless set). The
hub is not started (``HUB_ENABLED=false``) unless ``hub=True``: grading and
verification do not use it.

``platform_start`` runs ``deploy/prod-local.sh`` itself in that environment (migrate,
collectstatic, seed_demo, then ``runplatform``: uvicorn, a Celery worker and beat,
and the hub when enabled) and returns once ``/readyz`` answers; ``platform_stop``
stops its whole process group and any lab server left behind.

Celery's broker keys in Redis carry no prefix (the settings have no option for
one), so the run's queue is in database 13 as such: the number of keys already
there is reported, and should be 0.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS_SERVER = "redis://127.0.0.1:6379"
REDIS_DB = 13
REDIS = f"{REDIS_SERVER}/{REDIS_DB}"
WEB_WORKERS = "2"
STARTUP_TIMEOUT = 900  # seconds: migrations, static files, the labs' self-checks


def _admin():
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=5432,
        user="postgres",
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


def database_create(name: str) -> None:
    from psycopg import sql

    with _admin() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop(name: str) -> None:
    from psycopg import sql

    with _admin() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


BROKER_KEYS = ("celery", "unacked", "unacked_index", "unacked_mutex", "_kombu.*")


def redis_keys_delete(prefix: str, *, broker: bool, url: str = REDIS) -> int:
    """This run's cache and channel keys; with ``broker``, Celery's too (only when
    the database was empty before the run, so no one else's queue is there)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if broker:
        for pattern in BROKER_KEYS:
            keys += client.scan_iter(match=pattern, count=1000)
    if keys:
        client.delete(*keys)
    return len(keys)


@contextlib.contextmanager
def production_env(
    name: str, *, var_dir: Path, hub: bool = False, redis_db: int = REDIS_DB
) -> Iterator[dict[str, str]]:
    """Set the production-shaped environment for this run; undo what it created.

    ``hub``: the platform starts its JupyterHub too, on free ports, and /readyz
    checks it. ``redis_db``: the Redis database (Celery's queue in it is shared by
    whoever else uses that database at the same time)."""
    import redis

    run = f"bench_{name}_{os.getpid()}"
    prefix = run.replace("_", "-")
    redis_url = f"{REDIS_SERVER}/{redis_db}"
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5)
    client.ping()  # Redis must be up: fail before creating anything
    keys_before = client.dbsize()
    database_create(run)
    for key in ("CELERY_BROKER_URL", "PAGE_CACHE_SECONDS", "CONN_MAX_AGE"):
        os.environ.pop(key, None)
    env = {
        "DJANGO_SETTINGS_MODULE": "lms.settings",
        "DEBUG": "false",
        "VAR_DIR": str(var_dir),
        "DATABASE_URL": f"{POSTGRES}/{run}",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "CHANNEL_PREFIX": prefix,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JUPYTERHUB_API_TOKEN": secrets.token_urlsafe(48),
        "HUB_OAUTH_CLIENT_SECRET": secrets.token_urlsafe(48),
        "DEMO_PASSWORD": secrets.token_urlsafe(12),
        "SITE_URL": "http://localhost:8000",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(var_dir / "mail"),
        "WEB_WORKERS": os.environ.get("WEB_WORKERS", WEB_WORKERS),
        "LOG_FORMAT": "json",
        "HUB_ENABLED": "false",
        "READYZ_CHECK_HUB": "false",
    }
    if hub:
        env.update(
            {
                "HUB_ENABLED": "true",
                "READYZ_CHECK_HUB": "true",
                "JUPYTERHUB_URL": f"http://localhost:{free_port()}",
                "HUB_API_PORT": str(free_port()),
                "HUB_PROXY_API_PORT": str(free_port()),
            }
        )
    else:
        for key in ("JUPYTERHUB_URL", "JUPYTERHUB_API_URL", "HUB_STATE_DIR"):
            os.environ.pop(key, None)
    os.environ.update(env)
    try:
        yield {**env, "redis_keys_before": str(keys_before)}
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        with contextlib.suppress(Exception):
            database_drop(run)
        with contextlib.suppress(Exception):
            redis_keys_delete(prefix, broker=keys_before == 0, url=redis_url)


def environment_summary(env: dict[str, str]) -> str:
    """One line for the report: what was production-shaped in the run."""
    database = env["DATABASE_URL"].rsplit("/", 1)[0]
    return (
        f"PostgreSQL ({database}, a throw-away database), Redis {env['REDIS_URL']} "
        f"(keys before: {env['redis_keys_before']}), DEBUG=false, LOG_FORMAT=json, "
        f"WEB_WORKERS={env['WEB_WORKERS']}"
        + (", the hub" if env["HUB_ENABLED"] == "true" else "")
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- The whole platform, as deploy/prod-local.sh runs it -----------------------------

SECRETS = ("SECRET_KEY", "JUPYTERHUB_API_TOKEN", "HUB_OAUTH_CLIENT_SECRET")


def lab_releases_copy(var_dir: Path, *, back: bool = False) -> None:
    """Lab releases already built under the checkout's var/ (as the browser tests
    do): seed_demo reuses each one whose source digest still matches instead of
    running its self-check again. ``back``: keep this run's new releases there for
    the next run."""
    built = ROOT / "var" / "labs"
    source, target = (var_dir / "labs", built) if back else (built, var_dir / "labs")
    for marker in source.glob("*/v*/.source-sha256"):
        destination = target / marker.parent.relative_to(source)
        if not destination.exists():
            shutil.copytree(marker.parent, destination)


def platform_start(
    var_dir: Path, port: int, *, extra: dict[str, str] | None = None
) -> subprocess.Popen:
    """``deploy/prod-local.sh`` on what ``production_env`` has set (plus ``extra``),
    serving on ``port``; returns once ``/readyz`` answers 200. Its output goes to
    ``var_dir/platform.log``."""
    # The run's secrets where prod-local.sh looks for them (it would make new ones).
    secrets_file = var_dir / "prod.env"
    secrets_file.write_text(
        "".join(f"{name}={os.environ[name]}\n" for name in (*SECRETS, "DEMO_PASSWORD"))
    )
    secrets_file.chmod(0o600)
    lab_releases_copy(var_dir)
    env = {
        **os.environ,
        **(extra or {}),
        "PORT": str(port),
        "SITE_URL": f"http://localhost:{port}",
    }
    log = var_dir / "platform.log"
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603
            [str(ROOT / "deploy" / "prod-local.sh")],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(  # noqa: S310
                f"http://127.0.0.1:{port}/readyz", timeout=5
            ) as response:
                if response.status == 200:
                    with contextlib.suppress(OSError):
                        lab_releases_copy(var_dir, back=True)
                    return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    tail = log.read_text(errors="replace")[-4000:]
    platform_stop(process, var_dir)
    raise RuntimeError(f"the platform was not ready on port {port}:\n{tail}")


def platform_stop(process: subprocess.Popen, var_dir: Path) -> None:
    """Stop every process of the run (honcho passes SIGINT on and gives the hub
    30 s to stop the lab servers), then any lab process left in its state folder."""
    for sig, grace in ((signal.SIGINT, 60), (signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):  # anything of the group still left
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        from labs.processes import hub_strays_stop

        hub_strays_stop(var_dir)
