"""On PostgreSQL the web process shares a bounded pool of connections.

Under Django's ASGI handler each request ran its sync code in a thread of its own;
with persistent connections each such thread kept its own, and under load PostgreSQL
refused more ("too many clients", bench/load.py). The web entry point (lms/asgi.py)
takes connections from a pool of ``DATABASE_POOL_SIZE`` (``WEB_THREADS``, 8, unless
set; 0 turns it off),
through lms/postgresql, which answers at once while PostgreSQL is down instead of
waiting out the pool's timeout. Each check runs in a fresh
process, as the server does, with threads standing in for concurrent requests.
Only on PostgreSQL (the PostgreSQL run of .ci/run); SQLite has no pool.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="connection pooling is PostgreSQL's",
)

# Twelve "requests" at once, each holding its connection for a moment, then
# finishing as Django does at the end of a request (close: back to the pool).
REQUESTS = """
import json, threading
import lms.asgi  # the web server's entry point
from django.db import connection

pids, errors = [], []
barrier = threading.Barrier(12)

def request():
    barrier.wait()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), pg_sleep(0.3)")
            pids.append(cursor.fetchone()[0])
    except Exception as error:
        errors.append(repr(error))
    finally:
        connection.close()

threads = [threading.Thread(target=request) for _ in range(12)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
pool = connection.settings_dict["OPTIONS"].get("pool")
print(json.dumps({"pids": pids, "errors": errors, "pooled": bool(pool)}))
"""


def _requests(**env: str) -> dict:
    database = settings.DATABASES["default"]
    url = (
        f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:"
        f"{database['PORT'] or 5432}/postgres"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", REQUESTS],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "DATABASE_POOL_SIZE"},
            "DJANGO_SETTINGS_MODULE": "lms.settings",
            "DATABASE_URL": url,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_web_process_serves_concurrent_requests_from_a_bounded_pool():
    """Twelve concurrent requests in the web process all succeed on at most
    DATABASE_POOL_SIZE (3) server connections."""
    answer = _requests(DATABASE_POOL_SIZE="3")
    assert answer["pooled"] is True
    assert answer["errors"] == []
    assert len(answer["pids"]) == 12
    assert 1 <= len(set(answer["pids"])) <= 3


def test_without_the_pool_each_request_thread_opens_its_own_connection():
    """What the pool prevents, and its off switch: with DATABASE_POOL_SIZE=0 the
    same twelve requests hold twelve connections of their own."""
    answer = _requests(DATABASE_POOL_SIZE="0")
    assert answer["pooled"] is False
    assert answer["errors"] == []
    assert len(set(answer["pids"])) == 12


def test_the_pool_is_on_by_default():
    """DATABASE_POOL_SIZE unset: the web process pools, at most 8 connections."""
    answer = _requests()
    assert answer["pooled"] is True
    assert answer["errors"] == []
    assert len(answer["pids"]) == 12
    assert 1 <= len(set(answer["pids"])) <= 8


def test_workers_and_commands_keep_persistent_connections():
    """Outside the web server (a Celery process, a command) there is no pool: one
    thread, one persistent connection."""
    code = (
        "import django, json; django.setup(); from django.db import connection; "
        "print(json.dumps([bool(connection.settings_dict['OPTIONS'].get('pool')), "
        "connection.settings_dict['CONN_MAX_AGE']]))"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "WEB_PROCESS"},
            "DJANGO_SETTINGS_MODULE": "lms.settings",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    pooled, max_age = json.loads(result.stdout.strip().splitlines()[-1])
    assert pooled is False
    assert max_age > 0
