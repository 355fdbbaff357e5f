"""Reads for the instructor's gradebook: every lab at a glance, the grading queue,
one lab's trainees and one submission.

A lab's gradebook has one row per trainee showing their *latest* submission (the
one whose state changes live), with their number of attempts and best graded
score beside it. Rows are built in SQL (subqueries per trainee) so that filtering,
sorting, pagination and the CSV export all read the same queryset.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower, NullIf
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from courses.models import ProgrammePage
from courses.selectors import cohort_enrolments
from courses.teaching import lab_taught
from grading.models import CellGrade, Submission
from labs.models import Lab
from lms.accounts.models import User

log = logging.getLogger(__name__)

# Row filters beyond the four submission states.
AWAITING_MANUAL = "manual"
NOT_SUBMITTED = "none"
STATUS_FILTERS = [
    (Submission.Status.QUEUED.value, Submission.Status.QUEUED.label),
    (Submission.Status.GRADING.value, Submission.Status.GRADING.label),
    (Submission.Status.GRADED.value, Submission.Status.GRADED.label),
    (AWAITING_MANUAL, _("Awaiting manual grading")),
    (Submission.Status.ERROR.value, Submission.Status.ERROR.label),
    (NOT_SUBMITTED, _("Not submitted (cohort only)")),
]
SORTS = {
    "name": _("Name"),
    "score": _("Score"),
    "submitted": _("Submitted at"),
    "status": _("Status"),
}


# --- Labs at a glance -----------------------------------------------------------------


@dataclass
class LabSummary:
    """One lab's submissions counted by state (all attempts)."""

    lab: Lab
    counts: dict[str, int] = field(default_factory=dict)
    awaiting_manual: int = 0
    trainees: int = 0
    last_submitted_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def lab_summaries(*, labs: Sequence[Lab]) -> list[LabSummary]:
    """``labs`` (one page of them) with their submission counts, in one query that
    reads only those labs' submissions, not every lab's."""
    states = Submission.Status.values
    rows = (
        Submission.objects.filter(lab__in=[lab.pk for lab in labs])
        .order_by()
        .values("lab_id")
        .annotate(
            **{state: Count("pk", filter=Q(status=state)) for state in states},
            awaiting=Count(
                "pk",
                filter=Q(status=Submission.Status.GRADED, needs_manual_grade=True),
            ),
            trainees=Count("user", distinct=True),
            last=Max("created_at"),
        )
    )
    by_lab = {row["lab_id"]: row for row in rows}
    summaries = []
    for lab in labs:
        row = by_lab.get(lab.pk)
        if row is None:
            summaries.append(LabSummary(lab=lab, counts=dict.fromkeys(states, 0)))
            continue
        summaries.append(
            LabSummary(
                lab=lab,
                counts={state: row[state] for state in states},
                awaiting_manual=row["awaiting"],
                trainees=row["trainees"],
                last_submitted_at=row["last"],
            )
        )
    return summaries


# --- The grading queue ----------------------------------------------------------------


@dataclass
class QueueState:
    """What waits for the workers, what they hold, and what went wrong."""

    queued: int
    grading: int
    stuck: int  # queued or grading for longer than GRADING_STUCK_AFTER
    errors: int
    oldest_queued_at: datetime | None
    stuck_after: int  # seconds
    workers: list[str] | None = None  # None: not asked (or the broker did not answer)

    @property
    def oldest_queued_seconds(self) -> int | None:
        if self.oldest_queued_at is None:
            return None
        return max(0, int((timezone.now() - self.oldest_queued_at).total_seconds()))


def queue_state() -> QueueState:
    """Counts of the submissions that are not graded, in one query. The sweeper
    (``submissions_requeue_stuck``) re-queues the stuck ones.

    Only those rows are read (through the ``status, queued_at`` index): graded
    submissions, nearly all of them, are never scanned."""
    stale = timezone.now() - timedelta(seconds=settings.GRADING_STUCK_AFTER)
    queued, grading = Submission.Status.QUEUED, Submission.Status.GRADING
    error = Submission.Status.ERROR
    row = Submission.objects.filter(status__in=[queued, grading, error]).aggregate(
        queued=Count("pk", filter=Q(status=queued)),
        grading=Count("pk", filter=Q(status=grading)),
        stuck=Count(
            "pk",
            filter=Q(status=queued, queued_at__lt=stale)
            | Q(status=grading, grading_started_at__lt=stale),
        ),
        errors=Count("pk", filter=Q(status=error)),
        oldest=Min("queued_at", filter=Q(status=queued)),
    )
    return QueueState(
        queued=row["queued"],
        grading=row["grading"],
        stuck=row["stuck"],
        errors=row["errors"],
        oldest_queued_at=row["oldest"],
        stuck_after=settings.GRADING_STUCK_AFTER,
    )


def workers_ping(*, timeout: float = 1.0) -> list[str] | None:
    """Names of the Celery workers that answer a ping within ``timeout`` seconds;
    None when the broker cannot be asked. Waits the whole timeout (replies are
    collected until then), so pages ask only on request."""
    from celery import current_app  # the project's app (lms.celery), set as current

    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)  # a dead broker: fail fast
            replies = current_app.control.ping(timeout=timeout, connection=connection)
    except Exception:  # noqa: BLE001 - any broker failure means "unknown"
        log.warning("Could not ping the Celery workers.", exc_info=True)
        return None
    return sorted(name for reply in replies for name in reply)


# --- One lab's gradebook --------------------------------------------------------------


@dataclass(frozen=True)
class GradebookRow:
    """A trainee and their latest submission of the lab (None: not submitted)."""

    user: User
    submission_id: int | None
    attempt: int | None
    attempts: int
    status: str
    score: Decimal | None
    max_score: Decimal | None
    passed: bool | None
    needs_manual_grade: bool
    submitted_at: datetime | None
    best_score: Decimal | None

    @property
    def status_label(self) -> str:
        if not self.status:
            return str(_("Not submitted"))
        return str(Submission.Status(self.status).label)

    @property
    def percent(self) -> int | None:
        if self.score is None or not self.max_score:
            return None
        return round(self.score * 100 / self.max_score)


# Status sort order: the work still to do first; a submission's own rank, so that
# sorting or filtering by it costs one subquery per trainee, not one per state.
_STATUS_RANK = Case(
    When(status=Submission.Status.ERROR, then=Value(0)),
    When(status=Submission.Status.QUEUED, then=Value(1)),
    When(status=Submission.Status.GRADING, then=Value(2)),
    When(status=Submission.Status.GRADED, needs_manual_grade=True, then=Value(3)),
    When(status=Submission.Status.GRADED, then=Value(4)),
    default=Value(5),
    output_field=IntegerField(),
)
_NOT_SUBMITTED_RANK = 5
_AWAITING_MANUAL_RANK = 3
# Likewise the score as a percentage, computed on the submission.
_PERCENT = Case(
    When(max_score__gt=0, then=F("score") * 100 / F("max_score")),
    default=None,
    output_field=DecimalField(max_digits=9, decimal_places=4),
)


def _ordering(sort: str) -> list:
    """``name``, ``score``, ``submitted`` or ``status``; ``-`` first for descending.
    Trainees without a submission come last either way; ties go by name."""
    descending = sort.startswith("-")
    column = {
        "score": "latest_percent",
        "submitted": "latest_at",
        "status": "status_rank",
    }.get(sort.removeprefix("-"))
    if column is None:
        return [F("sort_name").desc() if descending else F("sort_name").asc(), "pk"]
    if descending:
        return [F(column).desc(nulls_last=True), "sort_name", "pk"]
    return [F(column).asc(nulls_last=True), "sort_name", "pk"]


def gradebook_rows(
    *,
    lab: Lab,
    programme: ProgrammePage | None = None,
    status: str = "",
    query: str = "",
    sort: str = "name",
) -> QuerySet[User]:
    """The trainees of one lab's gradebook, annotated with their latest submission.

    Without ``programme``: everyone who submitted the lab. With it: that cohort's
    active enrolments, including those who have not submitted (status ``none``).
    Turn each user into a row with ``gradebook_row``.
    """
    of_user = Submission.objects.filter(lab=lab, user=OuterRef("pk"))
    latest = of_user.order_by("-attempt")
    if programme is not None:
        users = User.objects.filter(
            pk__in=cohort_enrolments(programme=programme).values("user_id")
        )
    else:
        users = User.objects.filter(
            pk__in=Submission.objects.filter(lab=lab).values("user_id")
        )
    users = users.annotate(
        sort_name=Lower(Coalesce(NullIf("display_name", Value("")), "username")),
        latest_id=Subquery(latest.values("pk")[:1]),
        latest_attempt=Subquery(latest.values("attempt")[:1]),
        latest_status=Subquery(latest.values("status")[:1]),
        latest_score=Subquery(latest.values("score")[:1]),
        latest_max_score=Subquery(latest.values("max_score")[:1]),
        latest_passed=Subquery(latest.values("passed")[:1]),
        latest_manual=Subquery(latest.values("needs_manual_grade")[:1]),
        latest_at=Subquery(latest.values("created_at")[:1]),
        attempts=Coalesce(
            Subquery(
                of_user.order_by()
                .values("user")
                .annotate(n=Count("pk"))
                .values("n")[:1]
            ),
            0,
        ),
        best_score=Subquery(
            of_user.filter(status=Submission.Status.GRADED)
            .order_by(F("score").desc(nulls_last=True))
            .values("score")[:1]
        ),
        latest_percent=Subquery(latest.annotate(p=_PERCENT).values("p")[:1]),
        status_rank=Coalesce(
            Subquery(latest.annotate(rank=_STATUS_RANK).values("rank")[:1]),
            _NOT_SUBMITTED_RANK,
        ),
    )
    if query:
        users = users.filter(
            Q(username__icontains=query)
            | Q(display_name__icontains=query)
            | Q(email__icontains=query)
        )
    if status == NOT_SUBMITTED:
        users = users.filter(latest_id__isnull=True)
    elif status == AWAITING_MANUAL:
        users = users.filter(status_rank=_AWAITING_MANUAL_RANK)
    elif status in Submission.Status.values:
        users = users.filter(latest_status=status)
    return users.order_by(*_ordering(sort))


def gradebook_page(
    rows: QuerySet[User], *, number: str | int | None, per_page: int
) -> tuple[Page, list[GradebookRow]]:
    """One page of ``gradebook_rows`` in two queries (and the count).

    The page's trainees are chosen by the filters and sort keys alone; only they
    then get their submission columns. Read in one query with an OFFSET, every
    trainee before the page would get them too: ten subqueries each, 5,000
    trainees' worth on page 100."""
    page = Paginator(rows.values_list("pk", flat=True), per_page).get_page(number)
    ids = list(page.object_list)
    users = {user.pk: user for user in rows.filter(pk__in=ids)}
    return page, [gradebook_row(users[pk]) for pk in ids]


def gradebook_row(user: User) -> GradebookRow:
    """The row of one user from ``gradebook_rows``."""
    return GradebookRow(
        user=user,
        submission_id=user.latest_id,
        attempt=user.latest_attempt,
        attempts=user.attempts,
        status=user.latest_status or "",
        score=user.latest_score,
        max_score=user.latest_max_score,
        passed=user.latest_passed,
        needs_manual_grade=bool(user.latest_manual),
        submitted_at=user.latest_at,
        best_score=user.best_score,
    )


def lab_regradable_count(*, lab: Lab) -> int:
    """How many submissions "Regrade all" would queue (those not already waiting)."""
    return (
        Submission.objects.filter(lab=lab)
        .exclude(status__in=[Submission.Status.QUEUED, Submission.Status.GRADING])
        .count()
    )


# --- One submission -------------------------------------------------------------------


def submission_for_instructor(*, pk: int, user: User) -> Submission | None:
    """The submission, if ``user`` teaches its lab (``courses.teaching``)."""
    submission = Submission.objects.select_related("user", "lab").filter(pk=pk).first()
    if submission is None or not lab_taught(user=user, lab=submission.lab):
        return None
    return submission


def submission_cells(*, submission: Submission) -> list[CellGrade]:
    return list(submission.cells.select_related("graded_by").order_by("position"))


def submission_attempts(*, submission: Submission) -> list[Submission]:
    """All of this trainee's submissions of the same lab, newest first."""
    return list(
        Submission.objects.filter(user=submission.user_id, lab=submission.lab_id)
        .only("pk", "attempt", "status", "score", "max_score", "created_at")
        .order_by("-attempt")
    )
