"""The Celery app. Configuration is read from Django settings (``CELERY_*``)."""

import logging
import os

from celery import Celery, signals

from lms.logging import (
    task_headers_add_request_id,
    task_request_id_enter,
    task_request_id_leave,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lms.settings")

app = Celery("lms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task queued while a request is served logs under that request's id on the worker.
signals.before_task_publish.connect(task_headers_add_request_id, weak=False)
signals.task_prerun.connect(task_request_id_enter, weak=False)
signals.task_postrun.connect(task_request_id_leave, weak=False)


@signals.after_setup_task_logger.connect(weak=False)
def task_logger_through_django(logger: logging.Logger, **kwargs) -> None:
    """With ``LOG_FORMAT=json`` the worker's and beat's logs go through Django's
    LOGGING: Celery leaves the root logger alone (``worker_hijack_root_logger`` is
    off) but still gives task loggers a text handler of their own; drop it."""
    from django.conf import settings

    if settings.LOG_FORMAT == "json":
        logger.handlers.clear()
        logger.propagate = True


@signals.worker_ready.connect(weak=False)
def grading_recover(**kwargs) -> None:
    """A worker that starts queues again what a dead worker left behind: the
    submissions its graders had claimed (graders on this host that are dead) and
    those whose message the broker never took. The sweep is safe beside other
    sweepers (compare-and-set); it must not keep the worker from starting."""
    from django.db import connections

    from grading.services import submissions_requeue_stuck

    try:
        submissions_requeue_stuck()
    except Exception:
        logging.getLogger(__name__).exception("The start-up grading sweep failed.")
    finally:
        connections.close_all()  # the main process keeps no connection
