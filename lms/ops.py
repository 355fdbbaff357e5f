"""What operations staff look at when grading is slow: the Celery queues' backlog
on the broker, the workers that answer and what they run, and the submissions
waiting, being graded or failed.

A broker that cannot be reached is reported (``broker_error``), never raised: the
page that shows this must work best exactly when things are broken.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from celery import Celery
from django.db.models import Count, Min, Q
from django.utils import timezone

from grading.models import Submission

log = logging.getLogger(__name__)

ERROR_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class QueueDepth:
    name: str
    waiting: int | None  # None: the broker cannot count it (not Redis)


@dataclass(frozen=True)
class ActiveTask:
    name: str
    id: str
    runtime_seconds: int | None


@dataclass
class WorkerState:
    name: str
    active: list[ActiveTask] = field(default_factory=list)
    reserved: int = 0


@dataclass(frozen=True)
class SubmissionCounts:
    queued: int
    grading: int
    errors_recent: int  # in error, queued or started within ERROR_WINDOW
    oldest_queued_at: datetime | None

    @property
    def oldest_queued_seconds(self) -> int | None:
        if self.oldest_queued_at is None:
            return None
        return max(0, int((timezone.now() - self.oldest_queued_at).total_seconds()))


@dataclass
class OpsOverview:
    submissions: SubmissionCounts
    broker_error: str | None = None
    queues: list[QueueDepth] = field(default_factory=list)
    workers: list[WorkerState] = field(default_factory=list)


def submission_counts() -> SubmissionCounts:
    """Queued, grading, and failed in the last 24 hours, in one query. An error
    records no time of its own: it counts when its last queueing or grading
    started within the window."""
    since = timezone.now() - ERROR_WINDOW
    queued = Submission.Status.QUEUED
    row = Submission.objects.aggregate(
        queued=Count("pk", filter=Q(status=queued)),
        grading=Count("pk", filter=Q(status=Submission.Status.GRADING)),
        errors=Count(
            "pk",
            filter=Q(status=Submission.Status.ERROR)
            & (Q(grading_started_at__gte=since) | Q(queued_at__gte=since)),
        ),
        oldest=Min("queued_at", filter=Q(status=queued)),
    )
    return SubmissionCounts(
        queued=row["queued"],
        grading=row["grading"],
        errors_recent=row["errors"],
        oldest_queued_at=row["oldest"],
    )


def queue_names(app: Celery) -> list[str]:
    """The default queue and every queue the configuration names."""
    conf = app.conf
    names = {conf.task_default_queue}
    names.update(queue.name for queue in conf.task_queues or ())
    routes = conf.task_routes
    for route in routes.values() if isinstance(routes, dict) else ():
        if isinstance(route, dict) and route.get("queue"):
            names.add(str(route["queue"]))
    return sorted(names)


def _waiting(channel, name: str) -> int | None:
    """Messages in queue ``name``: on Redis, the list ``name`` plus kombu's
    per-priority lists beside it."""
    client = getattr(channel, "client", None)
    if client is None or not hasattr(channel, "_q_for_pri"):
        return None
    keys = {channel._q_for_pri(name, pri) for pri in channel.priority_steps}
    return sum(client.llen(key) for key in keys)


def _runtime(started: float | None) -> int | None:
    if not started:
        return None
    return max(0, int(time.time() - started))


def _workers(app: Celery, connection, timeout: float) -> list[WorkerState]:
    """Workers answering a ping within ``timeout``, with their tasks. The ping
    waits the whole timeout; the next two questions stop once all have answered."""
    pinged = app.control.inspect(timeout=timeout, connection=connection).ping() or {}
    if not pinged:
        return []
    names = sorted(pinged)
    inspect = app.control.inspect(
        destination=names, timeout=timeout, limit=len(names), connection=connection
    )
    active = inspect.active() or {}
    reserved = inspect.reserved() or {}
    return [
        WorkerState(
            name=name,
            active=[
                ActiveTask(
                    name=task.get("name") or "?",
                    id=task.get("id") or "?",
                    runtime_seconds=_runtime(task.get("time_start")),
                )
                for task in active.get(name) or []
            ],
            reserved=len(reserved.get(name) or []),
        )
        for name in names
    ]


def ops_overview(*, app: Celery | None = None, timeout: float = 1.0) -> OpsOverview:
    """Everything the queue page shows. Asking the workers takes about ``timeout``
    seconds (longer only while tasks are listed)."""
    if app is None:
        from celery import current_app as app  # the project's (lms.celery)

    overview = OpsOverview(submissions=submission_counts())
    try:
        with app.connection_for_read() as connection:
            # A dead broker: one quick attempt, not Celery's retries for minutes.
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=timeout + 1
            )
            channel = connection.default_channel
            overview.queues = [
                QueueDepth(name=name, waiting=_waiting(channel, name))
                for name in queue_names(app)
            ]
            overview.workers = _workers(app, connection, timeout)
    except Exception as error:  # noqa: BLE001 - any broker failure is reported
        log.warning("The Celery broker could not be asked: %s", error)
        overview.broker_error = str(error) or error.__class__.__name__
    return overview
