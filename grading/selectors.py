"""Reads for the trainee's submission pages, the lab block, the dashboard and the API.

What leaves here for a trainee is only what ``grading.services`` already made safe
to show: per cell the points, the outcome code, the stored error summary (hidden
test source withheld) and the instructor's comment. Never the notebook itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Case, Q, Sum, Value, When, Window
from django.utils import timezone
from django.utils.translation import gettext as _

from courses.teaching import lab_taught
from grading import feedback
from grading.models import Submission
from grading.services import SubmissionError
from labs.models import Lab
from lms.accounts.models import Role, User
from lms.accounts.permissions import has_role

MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class LabSubmissionsSummary:
    """A trainee's standing on one lab: attempts, deadline, last submission."""

    lab: Lab
    used: int
    max_attempts: int
    last: Submission | None
    closes_at: datetime | None

    @property
    def left(self) -> int:
        return max(self.max_attempts - self.used, 0)

    @property
    def closed(self) -> bool:
        return self.closes_at is not None and timezone.now() > self.closes_at

    @property
    def can_submit(self) -> bool:
        published = self.lab.status == Lab.Status.PUBLISHED
        return published and self.left > 0 and not self.closed


@dataclass(frozen=True)
class CellFeedback:
    """One graded cell as the trainee sees it."""

    name: str
    points: Decimal | None
    max_points: Decimal
    outcome: str  # the code: passed, failed, failed_hidden, pending, graded...
    outcome_text: str
    error: str
    comment: str

    @property
    def passed(self) -> bool | None:
        if self.outcome == "passed":
            return True
        if self.outcome in ("failed", "failed_hidden", "timeout", "not_run"):
            return False
        return None


def lab_submissions_summary(*, user: User, lab: Lab) -> LabSubmissionsSummary:
    """One query: the last submission, with the attempts used (those that count,
    as ``attempts_used`` counts them) counted over all of them alongside."""
    last = None
    if user.is_authenticated:
        counts = Case(
            When(~Q(status=Submission.Status.ERROR), then=Value(1)), default=Value(0)
        )
        last = (
            Submission.objects.filter(user=user, lab=lab)
            .annotate(attempts_counted=Window(Sum(counts)))
            .order_by("-attempt")
            .first()
        )
    return LabSubmissionsSummary(
        lab=lab,
        used=last.attempts_counted if last is not None else 0,
        max_attempts=lab.max_attempts,
        last=last,
        closes_at=lab.closes_at,
    )


def submissions_for(*, user: User, lab: Lab) -> list[Submission]:
    """The trainee's submissions of ``lab``, newest first."""
    return list(Submission.objects.filter(user=user, lab=lab).order_by("-attempt"))


def recent_submissions_for(*, user: User, limit: int = 10) -> list[Submission]:
    """The trainee's latest submissions of any lab, newest first (dashboard)."""
    return list(
        Submission.objects.filter(user=user)
        .select_related("lab")
        .order_by("-created_at")[:limit]
    )


def submission_visible(*, user: User, submission_id: int) -> Submission | None:
    """The submission if ``user`` may see it: its owner, an instructor who teaches
    its lab (``courses.teaching``), a superuser."""
    if not user.is_authenticated:
        return None
    submissions = Submission.objects.select_related("lab", "user")
    submission = submissions.filter(pk=submission_id).first()
    if submission is None or submission.user_id == user.pk:
        return submission
    if has_role(user, Role.INSTRUCTOR) and lab_taught(user=user, lab=submission.lab):
        return submission
    return None


def submission_cells(*, submission: Submission) -> list[CellFeedback]:
    """The graded cells of ``submission`` in notebook order, safe for the trainee."""
    return [
        CellFeedback(
            name=cell.grade_id,
            points=cell.points,
            max_points=cell.max_points,
            outcome=cell.feedback.get("outcome", ""),
            outcome_text=feedback.cell_outcome_text(cell.feedback.get("outcome", "")),
            error=cell.feedback.get("error", ""),
            comment=cell.comment,
        )
        for cell in submission.cells.order_by("position")
    ]


def submission_notes(*, submission: Submission) -> list[str]:
    """The grading notes in the reader's language (unknown codes are skipped)."""
    return [text for note in submission.notes if (text := feedback.note_text(note))]


def submission_errors(*, submission: Submission) -> list[str]:
    """Why grading ended in ``error``: its first line, kept short.

    The stored reason may be the tail of a grading log; its first line says what
    happened and the rest is for instructors.
    """
    lines = [line.strip() for line in submission.error.splitlines() if line.strip()]
    if not lines:
        return []
    text = lines[0]
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return [text]


def upload_read(*, upload: UploadedFile) -> bytes:
    """The uploaded notebook's bytes; a file over the size limit is not read."""
    limit = settings.SUBMISSION_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise SubmissionError(
            _("The notebook is %(size).1f MB; the limit is %(limit).1f MB.")
            % {"size": upload.size / 2**20, "limit": limit / 2**20}
        )
    return upload.read()
