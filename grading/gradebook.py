"""Reads for the instructor's gradebook: every lab at a glance, the grading queue,
one lab's trainees and one submission.

A lab's gradebook has one row per trainee showing their *latest* submission (the
one whose state changes live), with their number of attempts and best graded
score beside it, read from the trainee's ``LabTrainee`` line (``grading.tallies``)
so that filtering, sorting, pagination and the CSV export all read the same
queryset, and a page costs the same with 100 trainees or 10,000.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, FilteredRelation, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from courses.models import ProgrammePage
from courses.selectors import cohort_enrolments
from courses.teaching import lab_taught
from grading.models import CellGrade, LabTally, Submission
from grading.tallies import RANK_MANUAL, RANK_NOT_SUBMITTED, sort_name
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
    """``labs`` (one page of them) with their submission counts: one row per lab
    from ``LabTally``, kept with every submission written (``grading.tallies``),
    so a lab with 50,000 submissions costs what one with 5 does."""
    states = Submission.Status.values
    by_lab = {
        tally.lab_id: tally
        for tally in LabTally.objects.filter(lab__in=[lab.pk for lab in labs])
    }
    summaries = []
    for lab in labs:
        tally = by_lab.get(lab.pk)
        if tally is None:
            summaries.append(LabSummary(lab=lab, counts=dict.fromkeys(states, 0)))
            continue
        summaries.append(
            LabSummary(
                lab=lab,
                counts={state: getattr(tally, state) for state in states},
                awaiting_manual=tally.awaiting,
                trainees=tally.trainees,
                last_submitted_at=tally.last_submitted_at,
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
    """Counts of the submissions that are not graded. The sweeper
    (``submissions_requeue_stuck``) re-queues the stuck ones.

    Only the waiting rows are read (through the ``status, queued_at`` index);
    errors, which stay, are summed from the labs' tallies."""
    stale = timezone.now() - timedelta(seconds=settings.GRADING_STUCK_AFTER)
    queued, grading = Submission.Status.QUEUED, Submission.Status.GRADING
    row = Submission.objects.filter(status__in=[queued, grading]).aggregate(
        queued=Count("pk", filter=Q(status=queued)),
        grading=Count("pk", filter=Q(status=grading)),
        stuck=Count(
            "pk",
            filter=Q(status=queued, queued_at__lt=stale)
            | Q(status=grading, grading_started_at__lt=stale),
        ),
        oldest=Min("queued_at", filter=Q(status=queued)),
    )
    errors = LabTally.objects.aggregate(n=Sum("error"))["n"] or 0
    return QueueState(
        queued=row["queued"],
        grading=row["grading"],
        stuck=row["stuck"],
        errors=errors,
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


def _ordering(sort: str) -> list:
    """``name``, ``score``, ``submitted`` or ``status``; ``-`` first for descending.
    Trainees without a submission come last either way; ties go by name. The
    orders match ``LabTrainee``'s indexes where one exists (by name either way,
    by status, by score descending), so that a page is read from an index."""
    descending = sort.startswith("-")
    column = {
        "score": "latest_percent",
        "submitted": "latest_at",
        "status": "status_rank",
    }.get(sort.removeprefix("-"))
    if column is None:
        if descending:
            return [F("sort_name").desc(), F("pk").desc()]
        return [F("sort_name").asc(), "pk"]
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

    Each trainee's columns come from their ``LabTrainee`` line (``grading.tallies``)
    and its latest submission: one join per row, not a choice among attempts.
    """
    users = User.objects.annotate(
        line=FilteredRelation("lab_lines", condition=Q(lab_lines__lab=lab))
    )
    # Rows that must have a line are sorted by its copy of the name, indexed
    # with the lab; a cohort's rows, some without a line, by the user's own.
    needs_line = programme is None or status in (
        AWAITING_MANUAL,
        *Submission.Status.values,
    )
    if programme is not None:
        users = users.filter(
            pk__in=cohort_enrolments(programme=programme).values("user_id")
        )
    if needs_line:
        users = users.filter(line__isnull=False)
    users = users.annotate(
        sort_name=F("line__sort_name") if needs_line else sort_name(),
        latest_id=F("line__latest_id"),
        latest_attempt=F("line__latest__attempt"),
        latest_status=F("line__status"),
        latest_score=F("line__latest__score"),
        latest_max_score=F("line__latest__max_score"),
        latest_passed=F("line__latest__passed"),
        latest_manual=F("line__latest__needs_manual_grade"),
        latest_at=F("line__submitted_at"),
        attempts=Coalesce(F("line__attempts"), 0),
        best_score=F("line__best_score"),
        latest_percent=F("line__percent"),
        status_rank=Coalesce(F("line__status_rank"), RANK_NOT_SUBMITTED),
    )
    if query:
        users = users.filter(
            Q(username__icontains=query)
            | Q(display_name__icontains=query)
            | Q(email__icontains=query)
        )
    if status == NOT_SUBMITTED:
        users = users.filter(line__isnull=True)
    elif status == AWAITING_MANUAL:
        users = users.filter(line__status_rank=RANK_MANUAL)
    elif status in Submission.Status.values:
        users = users.filter(line__status=status)
    return users.order_by(*_ordering(sort))


def gradebook_trainees(*, lab: Lab) -> int:
    """How many trainees submitted ``lab`` (its unfiltered gradebook's rows)."""
    return (
        LabTally.objects.filter(lab=lab).values_list("trainees", flat=True).first() or 0
    )


class _CountedPaginator(Paginator):
    """A paginator told its count (known without counting the rows)."""

    def __init__(self, object_list, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._count = count

    @property
    def count(self) -> int:
        return self._count


def gradebook_page(
    rows: QuerySet[User],
    *,
    number: str | int | None,
    per_page: int,
    count: int | None = None,
) -> tuple[Page, list[GradebookRow]]:
    """One page of ``gradebook_rows`` in two queries (and the count, unless given:
    ``gradebook_trainees`` for an unfiltered gradebook).

    The page's trainees are chosen by the filters and sort keys alone, from an
    index of ``LabTrainee``; only they then get their submission columns."""
    ids_query = rows.values_list("pk", flat=True)
    if count is None:
        paginator = Paginator(ids_query, per_page)
    else:
        paginator = _CountedPaginator(ids_query, per_page, count=count)
    page = paginator.get_page(number)
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
    """How many submissions "Regrade all" would queue (those not already waiting),
    from the lab's tally."""
    tally = LabTally.objects.filter(lab=lab).first()
    return tally.graded + tally.error if tally else 0


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
