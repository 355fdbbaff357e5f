"""Structured logs and request ids.

Every log record made while a request is served, or while a task that request
queued runs on a worker, carries that request's id (``record.request_id``), so one
upload can be followed from the web process into its grading. ``LOG_FORMAT=json``
(lms/settings.py) writes one JSON object per line for log collectors.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request (or of the request that queued the running task); None
# outside both. A ContextVar follows the request across Django's async and sync
# parts under ASGI, and never leaks from one asyncio task (request) to another.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
TASK_HEADER = "request_id"
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_clean(value: object) -> str | None:
    """``value`` when it is safe to log and echo (at most 64 of ``A-Za-z0-9._-``:
    no newline or quote can forge a log line or a header), else None."""
    if isinstance(value, str) and _SAFE_ID.fullmatch(value):
        return value
    return None


def request_id_new() -> str:
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (None when unknown); never drops a record.

    Django logs a request's 4xx/5xx after the middleware chain has returned, when
    the context no longer holds the id: such records carry the request itself,
    which the middleware stamped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current is None:
            current = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = current
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, then ``request_id`` when known and ``exception`` (the traceback
    text) when there is one. Newlines inside values are escaped by JSON, so a
    message can never split its line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# --- Celery: the id travels in the task message's headers ----------------------------
# Connected in lms/celery.py. Tasks published outside a request (beat, shell) carry
# no id.


def task_headers_add_request_id(headers: dict | None = None, **kwargs: Any) -> None:
    """``before_task_publish``: put the current request id into the message."""
    current = request_id.get()
    if current and headers is not None:
        headers.setdefault(TASK_HEADER, current)


def task_request_id_enter(task: Any = None, **kwargs: Any) -> None:
    """``task_prerun``: the worker logs the task under its sender's request id."""
    request = getattr(task, "request", None)
    value = getattr(request, TASK_HEADER, None)
    if value is None:  # some paths keep custom headers apart
        value = (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    request_id.set(request_id_clean(value))


def task_request_id_leave(**kwargs: Any) -> None:
    """``task_postrun``: the next task in this worker process starts without one."""
    request_id.set(None)
