"""Structured logs and request ids: JSON lines, the X-Request-ID middleware (sync and
async), and the id carried in Celery task messages to the worker's logs."""

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse
from django.test import AsyncClient, RequestFactory

from lms.celery import app
from lms.logging import (
    JsonFormatter,
    RequestIdFilter,
    request_id,
    task_request_id_enter,
    task_request_id_leave,
)
from lms.middleware import RequestIdMiddleware

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log():
    """The root logger also writes JSON lines, as LOG_FORMAT=json does, into a
    buffer; the lines are returned parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


# --- The JSON format ------------------------------------------------------------------


def test_json_lines_carry_time_level_logger_message_and_request_id(json_log):
    """One object per line, the message's newline escaped, the time in UTC."""
    token = request_id.set("req-42")
    try:
        logging.getLogger("lms.test").warning("two\nlines %s", "here")
    finally:
        request_id.reset(token)
    logging.getLogger("lms.test").info("outside")
    first, second = json_log()
    assert first["level"] == "WARNING"
    assert first["logger"] == "lms.test"
    assert first["message"] == "two\nlines here"
    assert first["request_id"] == "req-42"
    assert first["time"].endswith("+00:00")
    assert "request_id" not in second
    assert "exception" not in second


def test_json_lines_carry_the_exception_text(json_log):
    """A logged exception's traceback is in ``exception``, inside the one line."""
    try:
        raise ValueError("broken grading")
    except ValueError:
        logging.getLogger("lms.test").exception("it failed")
    (entry,) = json_log()
    assert entry["message"] == "it failed"
    assert "Traceback" in entry["exception"]
    assert "ValueError: broken grading" in entry["exception"]


def _python_logs(**env: str) -> subprocess.CompletedProcess:
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('lms.check').warning('hello %s', 'there')"
    )
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "lms.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.engine_free  # a fresh process reading settings: no database
def test_log_format_setting_chooses_json_or_text():
    """LOG_FORMAT=json makes Django's console handler write JSON; text (the
    default) writes the message alone; anything else refuses to start."""
    as_json = _python_logs(LOG_FORMAT="json")
    assert json.loads(as_json.stderr.strip().splitlines()[-1]) | {"time": 0} == {
        "time": 0,
        "level": "WARNING",
        "logger": "lms.check",
        "message": "hello there",
    }
    as_text = _python_logs(LOG_FORMAT="text")
    assert as_text.stderr.strip().splitlines()[-1] == "hello there"
    wrong = _python_logs(LOG_FORMAT="xml")
    assert wrong.returncode != 0
    assert "LOG_FORMAT must be text or json" in wrong.stderr


# --- The middleware -------------------------------------------------------------------


def test_a_safe_incoming_request_id_is_echoed(client):
    """A proxy's X-Request-ID (letters, digits, . _ -) is kept and returned."""
    response = client.get("/healthz", headers={"X-Request-ID": "lb.7f3a_9-Q"})
    assert response.status_code == 200
    assert response["X-Request-ID"] == "lb.7f3a_9-Q"


@pytest.mark.parametrize(
    "hostile",
    ["a" * 200, "abc\ninjected", 'quote"d', "spa ce", "", "é"],
)
def test_a_hostile_request_id_is_replaced(client, hostile):
    """Too long, a newline, a quote, a space, empty, non-ASCII: a new uuid4 hex."""
    response = client.get("/healthz", headers={"X-Request-ID": hostile})
    value = response["X-Request-ID"]
    assert value != hostile
    assert uuid.UUID(hex=value).version == 4


def test_without_a_header_each_request_gets_its_own_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first != second
    assert len(first) == 32


def test_sync_middleware_logs_under_the_id_and_then_forgets_it(json_log):
    """Log lines made inside the request carry its id; after it, none."""

    def view(request):
        logging.getLogger("lms.view").info("inside")
        return HttpResponse("ok")

    middleware = RequestIdMiddleware(view)
    request = RequestFactory().get("/", headers={"X-Request-ID": "sync-1"})
    response = middleware(request)
    assert response["X-Request-ID"] == "sync-1"
    assert request_id.get() is None
    (entry,) = json_log()
    assert entry["request_id"] == "sync-1"


def test_async_middleware_carries_the_id_into_sync_code(json_log):
    """Under ASGI the middleware stays async, and a sync part of the request
    (sync_to_async, as Django runs sync views and middleware) sees the id."""

    def sync_part():
        logging.getLogger("lms.view").info("in a thread")
        return request_id.get()

    seen = {}

    async def view(request):
        seen["id"] = await sync_to_async(sync_part)()
        return HttpResponse("ok")

    middleware = RequestIdMiddleware(view)
    assert asyncio.iscoroutinefunction(middleware)
    request = RequestFactory().get("/", headers={"X-Request-ID": "async-1"})
    response = asyncio.run(middleware(request))
    assert response["X-Request-ID"] == "async-1"
    assert seen["id"] == "async-1"
    (entry,) = json_log()
    assert entry["request_id"] == "async-1"


@pytest.mark.django_db
def test_django_request_log_after_the_chain_still_carries_the_id(json_log):
    """Django logs a 404 after the middleware returned; the record's request
    holds the id."""
    response = asyncio.run(
        AsyncClient().get("/api/v1/no-such-thing", headers={"X-Request-ID": "nf-1"})
    )
    assert response.status_code == 404
    assert response["X-Request-ID"] == "nf-1"
    entries = [e for e in json_log() if e["logger"] == "django.request"]
    assert entries
    assert entries[0]["request_id"] == "nf-1"


# --- Celery ---------------------------------------------------------------------------


def _broker() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _published(queue: str) -> dict:
    client = _broker()
    try:
        raw = client.lpop(queue)
        assert raw is not None, f"nothing published to {queue}"
        return json.loads(raw)
    finally:
        client.delete(queue, f"_kombu.binding.{queue}")


def test_a_task_sent_during_a_request_carries_its_id_in_the_message():
    """A real publish to the broker: the message's headers hold request_id."""
    queue = f"test-request-id-{uuid.uuid4().hex[:8]}"
    token = request_id.set("upload-77")
    try:
        app.send_task("lms.test.nothing", queue=queue)
    finally:
        request_id.reset(token)
    assert _published(queue)["headers"]["request_id"] == "upload-77"


def test_a_task_sent_outside_a_request_carries_no_id():
    queue = f"test-request-id-{uuid.uuid4().hex[:8]}"
    app.send_task("lms.test.nothing", queue=queue)
    assert "request_id" not in _published(queue)["headers"]


def test_task_prerun_and_postrun_set_and_clear_the_id():
    """The worker side: the task's request (built from the message headers) gives
    the id for the task's run; a hostile value is dropped; postrun clears it."""
    task = app.tasks["celery.accumulate"]
    task.push_request(id="t1", request_id="upload-77")
    try:
        task_request_id_enter(task_id="t1", task=task)
        assert request_id.get() == "upload-77"
        task_request_id_leave(task_id="t1", task=task)
        assert request_id.get() is None
    finally:
        task.pop_request()
    task.push_request(id="t2", request_id="bad\nid")
    try:
        task_request_id_enter(task_id="t2", task=task)
        assert request_id.get() is None
    finally:
        task.pop_request()
        task_request_id_leave()


def test_the_worker_logs_json_under_the_uploads_request_id():
    """A real worker with LOG_FORMAT=json runs a task sent during a request: its
    log line about the task is JSON and carries that request's id."""
    queue = f"test-json-worker-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lms.settings_test",
        "LOG_FORMAT": "json",
    }
    worker = subprocess.Popen(  # noqa: S603
        [
            *(sys.executable, "-m", "celery", "-A", "lms", "worker"),
            *("--pool", "solo", "--without-gossip", "--without-mingle"),
            *("-n", f"{queue}@test", "-Q", queue, "--loglevel", "INFO"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        token = request_id.set("upload-json-1")
        try:
            app.send_task("celery.accumulate", args=[1], queue=queue)
        finally:
            request_id.reset(token)
        deadline = time.monotonic() + 60
        lines: list[str] = []
        found = None
        while found is None and time.monotonic() < deadline:
            line = worker.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "celery.accumulate" in line and "succeeded" in line:
                found = line
        assert found is not None, "".join(lines)
        entry = json.loads(found)
        assert entry["request_id"] == "upload-json-1"
        assert entry["level"] == "INFO"
        assert entry["logger"].startswith("celery")
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        _broker().delete(queue, f"_kombu.binding.{queue}")
