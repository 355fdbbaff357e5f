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


def _redis_restore_unacked_tolerant() -> None:
    """Keep a worker alive when Redis goes away while it holds unacknowledged
    messages (a grading in flight: ``acks_late``).

    On a lost connection kombu (5.7) closes the channel, whose QoS then tries to put
    those messages back on the broker it just lost: an AttributeError that Celery
    counts as unrecoverable, and the worker exits once its tasks end. Not restoring
    them then is safe: Redis keeps them in its "unacked" hash and restores them after
    the visibility timeout, the claim makes a redelivery a no-op, and the sweeper
    requeues a dead grader's submissions sooner (tests/faults/test_redis_restart.py).
    """
    from kombu.transport import redis as kombu_redis

    restore = kombu_redis.QoS.restore_unacked
    if getattr(restore, "tolerant", False):
        return

    def restore_unacked(self, client=None):
        try:
            return restore(self, client)
        except Exception as error:  # noqa: BLE001 - kombu raises AttributeError here
            logging.getLogger(__name__).warning(
                "Unacknowledged messages not restored now (broker unreachable: %r); "
                "Redis restores them after the visibility timeout.",
                error,
            )
            return None

    restore_unacked.tolerant = True
    kombu_redis.QoS.restore_unacked = restore_unacked


_redis_restore_unacked_tolerant()

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
