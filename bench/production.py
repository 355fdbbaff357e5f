"""The production-shaped environment of ``deploy/prod-local.sh``, for benchmarks.

``production_env(name)`` is a context manager that sets, in ``os.environ`` (so the
site in this process and every process started from it see them), what
prod-local.sh sets: PostgreSQL (a throw-away database on this machine's server,
dropped at exit), Redis on this machine (database 13, with key prefixes of this
run for the cache and the channel layer; this run's keys are deleted at exit),
``DEBUG=false`` with generated secrets, ``SECURE_SSL_REDIRECT=false`` (plain HTTP
on loopback), ``ALLOWED_HOSTS``, mail to files and JSON logs. The web command is
``runplatform.web_command`` with ``WEB_WORKERS`` processes (2 unless set). The
hub is not started (``HUB_ENABLED=false``): grading and verification do not use it.

Celery's broker keys in Redis carry no prefix (the settings have no option for
one), so the run's queue is in database 13 as such: the number of keys already
there is reported, and should be 0.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/13"
WEB_WORKERS = "2"


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


def redis_keys_delete(prefix: str, *, broker: bool) -> int:
    """This run's cache and channel keys; with ``broker``, Celery's too (only when
    the database was empty before the run, so no one else's queue is there)."""
    import redis

    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if broker:
        for pattern in BROKER_KEYS:
            keys += client.scan_iter(match=pattern, count=1000)
    if keys:
        client.delete(*keys)
    return len(keys)


@contextlib.contextmanager
def production_env(name: str, *, var_dir: Path) -> Iterator[dict[str, str]]:
    """Set the production-shaped environment for this run; undo what it created."""
    import redis

    run = f"bench_{name}_{os.getpid()}"
    prefix = run.replace("_", "-")
    client = redis.Redis.from_url(REDIS, socket_connect_timeout=5)
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
        "REDIS_URL": REDIS,
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
            redis_keys_delete(prefix, broker=keys_before == 0)


def environment_summary(env: dict[str, str]) -> str:
    """One line for the report: what was production-shaped in the run."""
    database = env["DATABASE_URL"].rsplit("/", 1)[0]
    return (
        f"PostgreSQL ({database}, a throw-away database), Redis {REDIS} (keys "
        f"before: {env['redis_keys_before']}), DEBUG=false, LOG_FORMAT=json, "
        f"WEB_WORKERS={env['WEB_WORKERS']}"
    )
