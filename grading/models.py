"""Submissions of lab notebooks and their grades: our gradebook.

nbgrader's own gradebook only lives for one grading (``grading.nbgrader``); what it
finds is copied here, per graded cell.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from labs.models import Lab


class Submission(models.Model):
    """One notebook a trainee handed in for a lab: stored once, never changed.

    The file, its sha256 and the attempt number are written before anything is
    queued; grading only ever adds the outcome.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        GRADING = "grading", _("Grading")
        GRADED = "graded", _("Graded")
        ERROR = "error", _("Error")

    class Source(models.TextChoices):
        LAB = "lab", _("From the running lab")
        UPLOAD = "upload", _("Uploaded file")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions"
    )
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="submissions")
    attempt = models.PositiveSmallIntegerField(_("attempt"))
    notebook = models.FileField(_("notebook"), upload_to="submissions/%Y/%m/")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    source = models.CharField(max_length=8, choices=Source.choices)
    lab_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(
        _("submitted at"), auto_now_add=True, db_index=True
    )

    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    score = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    max_score = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True
    )
    passed = models.BooleanField(null=True)
    needs_manual_grade = models.BooleanField(default=False)
    error = models.TextField(_("error"), blank=True)
    notes = models.JSONField(default=list, blank=True)  # grading notes for the trainee
    deliveries = models.PositiveSmallIntegerField(default=0)
    queued_at = models.DateTimeField(default=timezone.now)
    grading_started_at = models.DateTimeField(null=True, blank=True)
    graded_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True)
    # "host:pid:start time/task id" while grading: who holds it, and whether alive
    grader = models.CharField(max_length=200, blank=True)
    # Stored, but the broker did not take its grading message: the sweeper sends it.
    unsent = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "lab", "attempt"], name="submission_user_lab_attempt"
            )
        ]
        indexes = [
            # Every column the gradebook's per-lab counts and trainee lists read,
            # so that they are index-only scans of one lab's entries rather than
            # reads of the whole table; its (lab, status) prefix serves the
            # services' filters.
            models.Index(
                fields=["lab", "status", "user", "needs_manual_grade", "created_at"],
                name="submission_gradebook",
            ),
            models.Index(fields=["status", "queued_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.lab} #{self.attempt}"

    @property
    def percent(self) -> float | None:
        if self.score is None or not self.max_score:
            return None
        return float(self.score) * 100 / float(self.max_score)


class LabTrainee(models.Model):
    """One trainee's line in one lab's gradebook: their latest submission and the
    counts of all their attempts.

    Derived from ``Submission`` alone and rewritten by ``grading.tallies`` in the
    transaction that writes one of the trainee's submissions of the lab, so the
    gradebook reads, sorts and pages one indexed row per trainee instead of
    choosing each trainee's latest attempt among all of them.
    """

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lab_lines"
    )
    latest = models.ForeignKey(
        Submission, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The user's display name (else username) in lower case, as the gradebook sorts.
    sort_name = models.CharField(max_length=150)
    # Of the latest submission: its state, the gradebook's rank of that state (the
    # work still to do first), its score as a percentage and when it came.
    status = models.CharField(max_length=8)
    status_rank = models.PositiveSmallIntegerField()
    percent = models.DecimalField(max_digits=9, decimal_places=4, null=True)
    submitted_at = models.DateTimeField()
    best_score = models.DecimalField(max_digits=7, decimal_places=2, null=True)
    # All attempts, by state (``awaiting``: graded, needing a manual grade).
    attempts = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    grading = models.PositiveIntegerField(default=0)
    graded = models.PositiveIntegerField(default=0)
    error = models.PositiveIntegerField(default=0)
    awaiting = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lab", "user"], name="lab_trainee_unique")
        ]
        # One per ordering the gradebook pages by, so that a page is the first
        # rows of an index scan, whatever the number of trainees. Migration 0006
        # adds one more on PostgreSQL, for the score descending with trainees
        # without a score last (SQLite takes no NULLS LAST in an index).
        indexes = [
            models.Index(fields=["lab", "sort_name", "user"], name="lab_trainee_name"),
            models.Index(
                fields=["lab", "status", "sort_name", "user"],
                name="lab_trainee_status",
            ),
            models.Index(
                fields=["lab", "status_rank", "sort_name", "user"],
                name="lab_trainee_rank",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} · {self.lab_id}"


class LabTally(models.Model):
    """One lab's submissions counted by state (all attempts) and its trainees, kept
    by ``grading.tallies`` with each ``LabTrainee`` change."""

    lab = models.OneToOneField(
        Lab, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    trainees = models.IntegerField(default=0)
    queued = models.IntegerField(default=0)
    grading = models.IntegerField(default=0)
    graded = models.IntegerField(default=0)
    error = models.IntegerField(default=0)
    awaiting = models.IntegerField(default=0)
    last_submitted_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.lab_id}: {self.trainees}"


class CellGrade(models.Model):
    """The points one graded cell of a submission earned."""

    class Kind(models.TextChoices):
        AUTO = "auto", _("Autograded test")
        MANUAL = "manual", _("Graded by an instructor")

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="cells"
    )
    grade_id = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    points = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    max_points = models.DecimalField(max_digits=6, decimal_places=2)
    hidden = models.BooleanField(default=False)  # holds hidden tests
    # {"outcome": passed|failed|pending|not_run, "error": "Name: value"}, already
    # stripped of anything from a hidden test: safe for the trainee to read.
    feedback = models.JSONField(default=dict, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    graded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["submission", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "grade_id"], name="cell_grade_submission_cell"
            )
        ]

    def __str__(self) -> str:
        return f"{self.submission} · {self.grade_id}"


# Certificates live in their own package; imported here so the grading app owns them.
from grading.credentials.models import Certificate, StatusList  # noqa: E402
from grading.credentials.rules import CertificateRule  # noqa: E402

__all__ = [
    "CellGrade",
    "Certificate",
    "CertificateRule",
    "LabTally",
    "LabTrainee",
    "StatusList",
    "Submission",
]
