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
