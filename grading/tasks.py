"""Grading tasks: thin, idempotent, named after the services they call."""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _

from grading import services

log = logging.getLogger(__name__)

# Retries of a grading that met a database error: 5, 10, 20, 40, 60, 60, 60, 60 s.
DATABASE_RETRIES = 8


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
    ``GRADING_MAX_DELIVERIES``. Only infrastructure errors are retried, and
    database errors (PostgreSQL restarting or failing over): with backoff, for
    about five minutes; after that the sweeper queues the submission again.
    """
    try:
        services.submission_autograde(
            submission_id=submission_id, task_id=self.request.id
        )
    except (OperationalError, InterfaceError) as error:
        retries = self.request.retries
        log.warning(
            "Submission %s: the database failed (%s); retry %s of %s.",
            submission_id,
            error,
            retries + 1,
            DATABASE_RETRIES,
        )
        raise self.retry(
            exc=error,
            countdown=min(5 * 2**retries, 60),
            max_retries=DATABASE_RETRIES,
        ) from error
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


@shared_task(
    name="grading.certificate_issue",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def certificate_issue(self, user_id: int, programme_id: int) -> str | None:
    """Issue a trainee's certificate if the programme's rule is met. Safe to run
    twice: the service checks again and returns the certificate already held.
    Only infrastructure errors (database, key file) are retried."""
    from courses.models import ProgrammePage
    from grading.credentials.issuing import certificate_rule_issue
    from lms.accounts.models import User

    user = User.objects.filter(pk=user_id).first()
    programme = ProgrammePage.objects.filter(pk=programme_id).first()
    if user is None or programme is None:
        return None
    try:
        certificate = certificate_rule_issue(user=user, programme=programme)
    except (OperationalError, InterfaceError, OSError) as error:
        raise self.retry(exc=error, countdown=5 * 2**self.request.retries) from error
    return str(certificate.pk) if certificate else None
