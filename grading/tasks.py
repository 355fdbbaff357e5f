"""Grading tasks: thin, idempotent, named after the services they call."""

from celery import shared_task
from django.utils.translation import gettext as _

from grading import services


@shared_task(
    name="grading.submission_autograde",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=660,
)
def submission_autograde(self, submission_id: int) -> None:
    """Grade one submission. Safe to receive twice: the service claims it first.

    ``acks_late`` + ``reject_on_worker_lost``: a worker that dies mid-grading hands
    the message back; the service counts deliveries and gives up after
    ``GRADING_MAX_DELIVERIES``. Only infrastructure errors are retried.
    """
    try:
        services.submission_autograde(submission_id=submission_id)
    except services.GradingInfraError as error:
        if self.request.retries >= self.max_retries:
            services.submission_fail(
                submission_id=submission_id,
                reason=_(
                    "Grading could not run because of a problem on our side "
                    "(%(reason)s). Your attempt does not count; an instructor can "
                    "grade it again."
                )
                % {"reason": error},
            )
            return
        raise self.retry(exc=error, countdown=5 * 2**self.request.retries) from error


@shared_task(name="grading.submissions_requeue_stuck", ignore_result=True)
def submissions_requeue_stuck() -> int:
    return services.submissions_requeue_stuck()
