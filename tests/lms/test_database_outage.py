"""The web process's pooled PostgreSQL backend (lms/postgresql) while PostgreSQL is
down: a request gets the database error at once, which the site answers with 503
(DatabaseUnavailableMiddleware), instead of waiting in the pool's queue for a
connection the pool cannot make. Nothing listens on the port used here, so the
check needs no PostgreSQL; the pool's timeout is set far beyond the subprocess's,
so a request that waited for the pool would fail this test by hanging."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.engine_free

REQUESTS = """
import json
import lms.asgi  # the web server's entry point: pooled
from django.db import connection

answers = []
for _ in range(3):  # the first meets the outage, the next find it known
    try:
        connection.ensure_connection()
        answers.append("connected")
    except Exception as error:
        answers.append(f"{type(error).__module__}.{type(error).__name__}: {error}")
    finally:
        connection.close()
print(json.dumps({"engine": connection.settings_dict["ENGINE"], "answers": answers}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_request_answers_at_once_while_postgres_is_down():
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", REQUESTS],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "lms.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{_free_port()}/silkroute",
            "DATABASE_POOL_SIZE": "4",
            "DATABASE_POOL_TIMEOUT": "600",
        },
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["engine"] == "lms.postgresql"
    assert len(answer["answers"]) == 3
    for text in answer["answers"]:
        # Django's OperationalError (what the 503 middleware catches), naming the
        # refusal, not the pool's "couldn't get a connection after 600 s".
        assert text.startswith("django.db.utils.OperationalError"), text
        assert "refused" in text or "unreachable" in text, text
        assert "couldn't get a connection" not in text
